/* tests/fuzz/fuzz_resource.c - fuzz target for what a create or update does
 * with a request body before anything is written: the strict JSON reader
 * (fhir/json.c), the endpoint and profile checks (srv__check_resource,
 * server/rest.c, and prof_validate, profiles/profiles.c), stamping, and
 * the index rows of every search parameter (search/index.c).
 *
 * The input is the body. Beyond memory safety and leaks it asserts: a
 * refused body is refused as structure or too-long; what the writer writes
 * the reader reads back to the same bytes (compact and pretty); a check
 * that fails says why (an issue, a status) and one that passes says
 * nothing; a resource that passed still passes once stamped, written and
 * read back as the store would keep it; index rows are well formed; and
 * the _summary / _elements subsets of it can be written and read again.
 */
#include "tests/fuzz/fuzz.h"
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

/* srv__check_resource() with its contract checked: -1 with an issue and
 * a status, or 0 with neither. */
static int
check(srv_server *srv, cJSON *res, int type, const char *url_id)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *oo = NULL;
    int rc = srv__check_resource(srv, res, type, url_id, &oo, &err);
    if (rc != 0 && (err.issue == FHIR_ISSUE_NONE || err.status < 400)) {
        fuzz_fail("a refused resource has no issue (%d, %d)", (int)err.issue,
                  err.status);
    }
    if (rc == 0 && err.issue != FHIR_ISSUE_NONE) {
        fuzz_fail("an accepted resource has an issue: %s", err.diag);
    }
    if (oo != NULL) {
        fuzz_round_trip(oo, 1, "OperationOutcome");
    }
    cJSON_Delete(oo);
    return rc;
}

static void
check_rows(const fhir_rows *rows)
{
    for (size_t i = 0; i < rows->n; i++) {
        const fhir_row *r = &rows->rows[i];
        int ok = r->param >= 0;
        switch (r->kind) {
        case FHIR_ROW_TOKEN:
            ok = ok && r->sys != NULL && r->code != NULL;
            break;
        case FHIR_ROW_STRING:
            ok = ok && r->code != NULL && r->text != NULL;
            break;
        case FHIR_ROW_DATE:
            /* lo > hi is possible: a Period whose start follows its end
             * is accepted (invariant per-1 is not enforced yet). */
            break;
        case FHIR_ROW_REF:
        case FHIR_ROW_URI:
            ok = ok && r->code != NULL;
            break;
        default:
            ok = 0;
        }
        if (!ok) {
            fuzz_fail("index row %zu (kind %d, param %d) is malformed", i,
                      (int)r->kind, r->param);
        }
    }
}

/* What a search answer does to a stored resource. */
static void
subsets(srv_server *srv, const cJSON *res)
{
    static const prof_subset_mode modes[] = {PROF_SUBSET_SUMMARY,
                                             PROF_SUBSET_TEXT, PROF_SUBSET_DATA,
                                             PROF_SUBSET_ELEMENTS};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        cJSON *copy = cJSON_Duplicate(res, 1);
        prof_subset(srv->prof, copy, modes[i], "status,name,code,owner");
        fuzz_round_trip(copy, 0, "subset");
        cJSON_Delete(copy);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    srv_server *srv = fuzz_server();
    fhir_json_opts jo = FHIR_JSON_OPTS_INIT;
    fhir_err err = FHIR_ERR_INIT;
    cJSON *res = NULL;
    fhir_arena *a = NULL;
    if (size > 1024 * 1024) {
        return 0;
    }
    if (fhir_json_parse(&res, (const char *)data, size, &jo, &err) != 0) {
        if (res != NULL || (err.issue != FHIR_ISSUE_STRUCTURE &&
                            err.issue != FHIR_ISSUE_TOO_LONG)) {
            fuzz_fail("JSON refused with issue %d: %s", (int)err.issue,
                      err.diag);
        }
        return 0;
    }
    fuzz_round_trip(res, 1, "body");
    if (!cJSON_IsObject(res)) {
        goto done;
    }
    const char *rt = fhir_json_str(res, "resourceType");
    int type = rt ? fhir_type_find(rt) : -1;
    if (type < 0) {
        /* Not a served type: the endpoint check refuses it before the
         * profiles see it, so ask the profiles directly. */
        fuzz_validate(res);
        (void)check(srv, res, 0, NULL);
        goto done;
    }
    /* An update names the body's id in its URL. */
    const char *id = fhir_json_str(res, "id");
    if (id != NULL && fhir_id_valid(id)) {
        (void)check(srv, res, type, id);
    }
    /* A create: the id is the server's. */
    cJSON_DeleteItemFromObjectCaseSensitive(res, "id");
    if (check(srv, res, type, NULL) != 0) {
        goto done;
    }
    fhir_resource_stamp(res, "fuzz-1", 1, 1767225600000000LL);
    a = fhir_arena_new();
    fhir_rows rows = {NULL, 0, 0};
    srv__index(srv, type, res, &rows, a);
    check_rows(&rows);
    /* As the store keeps it: written, read back, still valid. */
    fhir_buf body = FHIR_BUF_INIT;
    fhir_json_write(&body, res, 0);
    cJSON *back = NULL;
    if (fhir_json_parse(&back, body.data, body.len, &jo, &err) != 0) {
        fuzz_fail("a stamped resource does not read back: %s", err.diag);
    }
    fhir_buf_clear(&body);
    if (check(srv, back, type, "fuzz-1") != 0) {
        fuzz_fail("a valid resource is invalid once stamped and stored");
    }
    subsets(srv, back);
    cJSON_Delete(back);
done:
    fhir_arena_free(a);
    cJSON_Delete(res);
    return 0;
}
