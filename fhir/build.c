/* fhir/build.c - builders for the resources the server itself writes:
 * OperationOutcome, Bundle, and the server-owned parts of every stored
 * resource (id, meta.versionId, meta.lastUpdated).
 *
 * Keeping them here means every module reports errors and wraps results
 * the same way; server/ only decides what goes into them.
 */
#include "fhir/fhir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
fhir_oo_add(cJSON *oo, const char *severity, fhir_issue issue, const char *diag,
            const char *expr)
{
    cJSON *list = cJSON_GetObjectItemCaseSensitive(oo, "issue");
    if (list == NULL) {
        list = cJSON_AddArrayToObject(oo, "issue");
    }
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "severity", severity);
    cJSON_AddStringToObject(it, "code", fhir_issue_code(issue));
    if (diag != NULL && diag[0] != '\0') {
        cJSON_AddStringToObject(it, "diagnostics", diag);
    }
    if (expr != NULL && expr[0] != '\0') {
        cJSON *e = cJSON_AddArrayToObject(it, "expression");
        cJSON_AddItemToArray(e, cJSON_CreateString(expr));
    }
    cJSON_AddItemToArray(list, it);
}

cJSON *
fhir_oo_new(const char *severity, fhir_issue issue, const char *diag,
            const char *expr)
{
    cJSON *oo = cJSON_CreateObject();
    cJSON_AddStringToObject(oo, "resourceType", "OperationOutcome");
    fhir_oo_add(oo, severity, issue, diag, expr);
    return oo;
}

cJSON *
fhir_oo_from_err(const fhir_err *err)
{
    fhir_issue issue =
        err->issue == FHIR_ISSUE_NONE ? FHIR_ISSUE_EXCEPTION : err->issue;
    return fhir_oo_new("error", issue, err->diag, err->expr);
}

cJSON *
fhir_bundle_new(const char *type)
{
    char id[37], now[40];
    cJSON *b = cJSON_CreateObject();
    fhir_id_new(id);
    fhir_instant_format(now, sizeof(now), fhir_now_us());
    cJSON_AddStringToObject(b, "resourceType", "Bundle");
    cJSON_AddStringToObject(b, "id", id);
    cJSON *meta = cJSON_AddObjectToObject(b, "meta");
    cJSON_AddStringToObject(meta, "lastUpdated", now);
    cJSON_AddStringToObject(b, "type", type);
    return b;
}

void
fhir_bundle_add_link(cJSON *bundle, const char *relation, const char *url)
{
    cJSON *links = cJSON_GetObjectItemCaseSensitive(bundle, "link");
    if (links == NULL) {
        links = cJSON_AddArrayToObject(bundle, "link");
    }
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "relation", relation);
    cJSON_AddStringToObject(l, "url", url);
    cJSON_AddItemToArray(links, l);
}

cJSON *
fhir_bundle_add_entry(cJSON *bundle)
{
    cJSON *entries = cJSON_GetObjectItemCaseSensitive(bundle, "entry");
    if (entries == NULL) {
        entries = cJSON_AddArrayToObject(bundle, "entry");
    }
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToArray(entries, e);
    return e;
}

cJSON *
fhir_json_raw(const char *text, size_t len)
{
    cJSON *raw = cJSON_CreateRaw("");
    cJSON_free(raw->valuestring);
    raw->valuestring = fhir_xstrndup(text, len);
    return raw;
}

/* Unlinks member `key` of `obj` and returns it, or NULL. */
static cJSON *
detach(cJSON *obj, const char *key)
{
    return cJSON_DetachItemFromObjectCaseSensitive(obj, key);
}

void
fhir_json_insert(cJSON *obj, int at, const char *key, cJSON *item)
{
    /* cJSON_InsertItemInArray() links object members too, but leaves the
     * name alone (and refuses an unnamed item), so name it first. */
    if (!(item->type & cJSON_StringIsConst)) {
        cJSON_free(item->string);
    }
    item->string = fhir_xstrdup(key);
    item->type &= ~cJSON_StringIsConst;
    if (!cJSON_InsertItemInArray(obj, at, item)) {
        cJSON_AddItemToObject(obj, key, item);
    }
}

void
fhir_resource_stamp(cJSON *res, const char *id, int64_t version,
                    int64_t updated_us)
{
    char vbuf[24], when[40];
    snprintf(vbuf, sizeof(vbuf), "%lld", (long long)version);
    fhir_instant_format(when, sizeof(when), updated_us);

    cJSON *meta = detach(res, "meta");
    if (!cJSON_IsObject(meta)) {
        cJSON_Delete(meta);
        meta = cJSON_CreateObject();
    }
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "versionId");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "lastUpdated");
    cJSON *lu = cJSON_CreateString(when);
    cJSON *vi = cJSON_CreateString(vbuf);
    fhir_json_insert(meta, 0, "lastUpdated", lu);
    fhir_json_insert(meta, 0, "versionId", vi);

    cJSON_Delete(detach(res, "id"));
    cJSON *rt = detach(res, "resourceType");
    fhir_json_insert(res, 0, "meta", meta);
    fhir_json_insert(res, 0, "id", cJSON_CreateString(id));
    if (rt != NULL) {
        fhir_json_insert(res, 0, "resourceType", rt);
    }
}

/* ---- SQL with bound values ------------------------------------------ */

void
fhir_sql_add(fhir_sql *q, const char *fragment)
{
    fhir_buf_puts(&q->text, fragment);
}

static fhir_sqlval *
sql_push(fhir_sql *q)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 16;
        q->vals = fhir_xrealloc(q->vals, q->cap * sizeof(*q->vals));
    }
    fhir_buf_putc(&q->text, '?');
    fhir_sqlval *v = &q->vals[q->n++];
    memset(v, 0, sizeof(*v));
    return v;
}

void
fhir_sql_int(fhir_sql *q, int64_t v)
{
    sql_push(q)->i = v;
}

void
fhir_sql_text(fhir_sql *q, const char *s, size_t len)
{
    fhir_sqlval *v = sql_push(q);
    v->is_text = 1;
    v->s = s;
    v->len = len;
}

void
fhir_sql_clear(fhir_sql *q)
{
    fhir_buf_clear(&q->text);
    free(q->vals);
    q->vals = NULL;
    q->n = q->cap = 0;
}
