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
    /* Check everything before taking the write lock. */
    const cJSON *e;
    cJSON_ArrayForEach(e, entries)
    {
        cJSON *res = cJSON_GetObjectItemCaseSensitive(e, "resource");
        const char *type = fhir_json_str(res, "resourceType");
        const char *id = fhir_json_str(res, "id");
        cJSON *oo = NULL;
        int t = type ? fhir_type_find(type) : -1;
        if (t < 0 || (id != NULL && !fhir_id_valid(id)) ||
            srv__check_resource(s, res, t, id, &oo, err) != 0) {
            fhir_err_set(err, FHIR_ISSUE_INVALID,
                         "entry %d: not a valid resource of a served type", i);
            fhir_err inner = *err;
            cJSON_Delete(oo);
            fhir_err_clear(err);
            fhir_err_set_at(err, inner.issue, inner.expr, "%s: entry %d: %s",
                            path, i, inner.diag);
            goto done;
        }
        cJSON_Delete(oo);
        i++;
    }
    if (store_tx_begin(&tx, s->env, err) != 0) {
        goto done;
    }
    cJSON_ArrayForEach(e, entries)
    {
        cJSON *res = cJSON_GetObjectItemCaseSensitive(e, "resource");
        const char *given = fhir_json_str(res, "id");
        char fresh[37];
        store_put_result out;
        if (given == NULL) {
            fhir_id_new(fresh);
        }
        char *id = fhir_xstrdup(given ? given : fresh);
        int type = fhir_type_find(fhir_json_str(res, "resourceType"));
        fhir_rows rows = {NULL, 0, 0};
        fhir_arena *a = fhir_arena_new();
        srv__index(s, type, res, &rows, a);
        store_put in = {.type = type,
                        .id = id,
                        .resource = res,
                        .method = given ? STORE_METHOD_PUT : STORE_METHOD_POST,
                        .rows = &rows};
        int w = store_tx_put(&out, tx, &in, err);
        fhir_arena_free(a);
        free(id);
        if (w != 0) {
            goto done;
        }
        free(out.body);
        (*count)++;
    }
    rc = store_tx_commit(tx, err);
    tx = NULL;
done:
    store_tx_rollback(tx);
    cJSON_Delete(bundle);
    fhir_buf_clear(&text);
    return rc;
}
