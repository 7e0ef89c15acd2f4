/* tests/fuzz/fuzz_bundle.c - fuzz target for POST /fhir with a Bundle
 * (server/bundle.c): the body is read as the HTTP path reads it and routed
 * as a request without a connection (srv_sub, as bundle.c runs its own
 * entries), so every entry goes through the real handlers: validation,
 * conditional URLs, reference rewriting, searches, patches, the store.
 *
 * One database serves every run (fuzz_server). A transaction runs inside
 * a write transaction the harness opens and rolls back afterwards (the
 * request joins it as a transaction Bundle's entries do), so runs do not
 * see each other and the database does not grow; the price is that the
 * final commit is not exercised here. A batch commits entry by entry as
 * it would in production; the database then grows by at most 64 entries a
 * run, and is thrown away and made again every 2000 batches.
 *
 * Beyond memory safety and leaks it asserts that every answer has a
 * status, is JSON, and is either a transaction-response or
 * batch-response Bundle with one entry (each with a response.status) per
 * entry sent, or an OperationOutcome.
 */
#include "tests/fuzz/fuzz.h"
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

static srv_worker worker;
static unsigned batches;

static void
check_reply(const srv_sub *sub, int nentries)
{
    fhir_json_opts jo = {512, 0};
    fhir_err err = FHIR_ERR_INIT;
    cJSON *out = NULL;
    if (sub->status < 200 || sub->status > 599 || sub->reply == NULL) {
        fuzz_fail("no status or no reply (%d)", sub->status);
    }
    if (fhir_json_parse(&out, sub->reply, sub->reply_len, &jo, &err) != 0) {
        fuzz_fail("the reply is not JSON (%s): %s", err.diag, sub->reply);
    }
    const char *rt = fhir_json_str(out, "resourceType");
    const char *type = fhir_json_str(out, "type");
    if (rt != NULL && strcmp(rt, "OperationOutcome") == 0 &&
        sub->status >= 400) {
        cJSON_Delete(out);
        return;
    }
    if (sub->status != 200 || rt == NULL || strcmp(rt, "Bundle") != 0 ||
        type == NULL ||
        (strcmp(type, "transaction-response") != 0 &&
         strcmp(type, "batch-response") != 0)) {
        fuzz_fail("status %d with %s", sub->status, sub->reply);
    }
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(out, "entry");
    if (cJSON_GetArraySize(entries) != nentries) {
        fuzz_fail("%d entries answered for %d sent",
                  cJSON_GetArraySize(entries), nentries);
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, entries)
    {
        const cJSON *resp = cJSON_GetObjectItemCaseSensitive(e, "response");
        if (fhir_json_str(resp, "status") == NULL) {
            fuzz_fail("an entry without response.status: %s", sub->reply);
        }
    }
    cJSON_Delete(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    srv_server *srv = fuzz_server();
    fhir_json_opts jo = FHIR_JSON_OPTS_INIT;
    fhir_err err = FHIR_ERR_INIT;
    cJSON *in = NULL;
    store_tx *tx = NULL;
    if (size > 256 * 1024) {
        return 0;
    }
    jo.max_depth = srv->cfg.max_depth;
    if (fhir_json_parse(&in, (const char *)data, size, &jo, &err) != 0) {
        return 0; /* the HTTP path answers 400 before any handler runs */
    }
    if (!cJSON_IsObject(in)) {
        cJSON_Delete(in);
        return 0;
    }
    const char *type = fhir_json_str(in, "type");
    int transaction = type != NULL && strcmp(type, "transaction") == 0;
    int nentries =
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(in, "entry"));

    srv_req r;
    srv_sub sub;
    struct mg_request_info ri;
    memset(&r, 0, sizeof(r));
    memset(&sub, 0, sizeof(sub));
    memset(&ri, 0, sizeof(ri));
    ri.request_method = "POST";
    ri.local_uri = SRV_BASE_PATH;
    ri.query_string = "";
    sub.body = in;
    sub.content_type = "application/fhir+json";
    r.srv = srv;
    r.worker = &worker;
    r.ri = &ri;
    r.a = fhir_arena_new();
    r.type = -1;
    r.method = SRV_POST;
    r.base = FUZZ_BASE;
    r.sub = &sub;
    if (transaction) {
        if (store_tx_begin(&tx, srv->env, &err) != 0) {
            fuzz_fail("store_tx_begin: %s", err.diag);
        }
        r.tx = tx; /* joined, never committed by the request */
    }
    srv__route(&r);
    if (tx != NULL) {
        store_tx_rollback(tx);
    }
    check_reply(&sub, nentries);
    cJSON_Delete(sub.body); /* NULL once a handler took it */
    free(sub.reply);
    fhir_arena_free(r.a);
    if (!transaction && ++batches % 2000 == 0) {
        store_db_release(worker.db);
        worker.db = NULL;
        fuzz_server_reset();
    }
    return 0;
}
