/* fhir/build.c - builders for the resources the server itself writes:
 * OperationOutcome, Bundle, and the server-owned parts of every stored
 * resource (id, meta.versionId, meta.lastUpdated).
 *
 * Keeping them here means every module reports errors and wraps results
 * the same way; server/ only decides what goes into them.
 */
#include "fhir/fhir.h"

#include <stdio.h>
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

/* Puts `item` (named `key`) at the front of obj's member list. */
static void
push_front(cJSON *obj, const char *key, cJSON *item)
{
    /* cJSON_InsertItemInArray() links object members too but leaves the
     * name alone, so name the item first; with no members it appends. */
    if (!(item->type & cJSON_StringIsConst)) {
        cJSON_free(item->string);
    }
    item->string = fhir_xstrdup(key);
    item->type &= ~cJSON_StringIsConst;
    cJSON_InsertItemInArray(obj, 0, item);
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
    push_front(meta, "lastUpdated", lu);
    push_front(meta, "versionId", vi);

    cJSON_Delete(detach(res, "id"));
    cJSON *rt = detach(res, "resourceType");
    push_front(res, "meta", meta);
    push_front(res, "id", cJSON_CreateString(id));
    if (rt != NULL) {
        push_front(res, "resourceType", rt);
    }
}
