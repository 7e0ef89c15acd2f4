/* server/load.c - loading a Bundle file into an empty database (--load),
 * so `make run` starts with the example clinic.
 *
 * Every resource passes the same checks as a create or update over HTTP,
 * and the whole file is one transaction: a bad entry loads nothing.
 * Entries with an id keep it (update-as-create), so the example's
 * references between resources hold.
 */
#include "server/server.h"
#include "server/server_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks one resource as a create or update is checked and writes it with
 * its index rows in tx; its id is kept when it has one. */
static int
put_one(srv_server *s, store_tx *tx, cJSON *res, fhir_err *err)
{
    const char *type_name = fhir_json_str(res, "resourceType");
    const char *given = fhir_json_str(res, "id");
    int type = type_name ? fhir_type_find(type_name) : -1;
    char fresh[37];
    store_put_result out;
    if (type < 0) {
        return fhir_err_set_at(err, FHIR_ISSUE_NOT_SUPPORTED, "resourceType",
                               "resourceType '%.64s' is not served here",
                               type_name ? type_name : "");
    }
    if (given != NULL && !fhir_id_valid(given)) {
        return fhir_err_set_at(err, FHIR_ISSUE_INVALID, "id",
                               "'%.64s' is not a valid id", given);
    }
    if (given == NULL) {
        fhir_id_new(fresh);
    }
    char *id = fhir_xstrdup(given ? given : fresh);
    fhir_arena *a = fhir_arena_new();
    srv_prep p;
    srv__prepare(&p, s, res, type, id, given, 1, a);
    int rc = -1;
    if (p.rc != 0) {
        *err = p.err;
    } else {
        store_put in = {.type = type,
                        .id = id,
                        .resource = res,
                        .method = given ? STORE_METHOD_PUT : STORE_METHOD_POST,
                        .rows = &p.rows,
                        .body = p.body,
                        .body_len = p.body_len};
        memset(&out, 0, sizeof(out));
        rc = store_tx_put(&out, tx, &in, err);
    }
    srv__prepare_clear(&p);
    fhir_arena_free(a);
    free(id);
    free(out.body);
    return rc;
}

int
srv__load_bundle(srv_server *s, const char *path, int *count, fhir_err *err)
{
    fhir_buf text = FHIR_BUF_INIT;
    cJSON *bundle = NULL;
    store_tx *tx = NULL;
    fhir_json_opts jo = FHIR_JSON_OPTS_INIT;
    int rc = -1, i = 0;
    *count = 0;

    if (fhir_file_read(&text, path, SIZE_MAX, err) != 0 ||
        fhir_json_parse(&bundle, text.data, text.len, &jo, err) != 0) {
        goto done;
    }
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(bundle, "entry");
    const char *rt = fhir_json_str(bundle, "resourceType");
    if (rt == NULL || strcmp(rt, "Bundle") != 0 || !cJSON_IsArray(entries)) {
        fhir_err_set(err, FHIR_ISSUE_STRUCTURE, "%s: not a Bundle with entries",
                     path);
        goto done;
    }
    /* One transaction: a bad entry loads nothing. */
    if (store_tx_begin(&tx, s->env, err) != 0) {
        goto done;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, entries)
    {
        cJSON *res = cJSON_GetObjectItemCaseSensitive(e, "resource");
        if (put_one(s, tx, res, err) != 0) {
            fhir_err inner = *err;
            fhir_err_clear(err);
            fhir_err_set_at(err, inner.issue, inner.expr, "%s: entry %d: %s",
                            path, i, inner.diag);
            goto done;
        }
        (*count)++;
        i++;
    }
    rc = store_tx_commit(tx, err);
    tx = NULL;
done:
    store_tx_rollback(tx);
    cJSON_Delete(bundle);
    fhir_buf_clear(&text);
    return rc;
}

/* ---- bulk loading ---------------------------------------------------- */

struct srv_bulk {
    srv_server *s;
    store_tx *tx;
    int batch, pending;
};

int
srv_bulk_open(srv_bulk **out, const srv_config *cfg, int batch, fhir_err *err)
{
    srv_bulk *b = fhir_xcalloc(1, sizeof(*b));
    *out = NULL;
    b->batch = batch > 0 ? batch : 1000;
    if (srv__open_offline(&b->s, cfg, 0, err) != 0) {
        free(b);
        return -1;
    }
    *out = b;
    return 0;
}

int
srv_bulk_put(srv_bulk *b, cJSON *res, fhir_err *err)
{
    if (b->tx == NULL && store_tx_begin(&b->tx, b->s->env, err) != 0) {
        return -1;
    }
    if (put_one(b->s, b->tx, res, err) != 0) {
        store_tx_rollback(b->tx);
        b->tx = NULL;
        b->pending = 0;
        return -1;
    }
    if (++b->pending >= b->batch) {
        b->pending = 0;
        store_tx *tx = b->tx;
        b->tx = NULL;
        return store_tx_commit(tx, err);
    }
    return 0;
}

int
srv_bulk_close(srv_bulk *b, fhir_err *err)
{
    int rc = 0;
    if (b == NULL) {
        return 0;
    }
    if (b->tx != NULL) {
        rc = store_tx_commit(b->tx, err);
    }
    srv_stop(b->s);
    free(b);
    return rc;
}
