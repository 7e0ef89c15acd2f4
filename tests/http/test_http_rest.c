/* tests/http/test_http_rest.c - the REST core over real HTTP: create,
 * read, vread, update, delete, history, versions and If-* headers,
 * Prefer, formats, the CapabilityStatement, and concurrency.
 *
 * One server (in-process, ephemeral loopback port, temporary database)
 * serves every case; cases create their own resources so their order
 * does not matter.
 */
#include "tests/http/harness.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static th_server *srv;

#define TASK_BODY                                                              \
    "{\"resourceType\":\"Task\",\"status\":\"requested\","                     \
    "\"intent\":\"order\",\"description\":\"call the patient back\"}"

static char *
task_with_id(const char *id, const char *status)
{
    char *b = malloc(512);
    snprintf(b, 512,
             "{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":\"%s\","
             "\"intent\":\"order\"}",
             id, status);
    return b;
}

static th_resp *
get(const char *url)
{
    return th_req(srv, "GET", url, NULL, NULL);
}

static th_resp *
put(const char *url, const char *body, const char *hdr)
{
    const char *h[] = {hdr, NULL};
    return th_req(srv, "PUT", url, body, hdr ? h : NULL);
}

/* Number of entries of a Bundle body. */
static int
entries(const th_resp *r)
{
    return cJSON_GetArraySize(cJSON_GetObjectItem(r->json, "entry"));
}

/* ---- create and read ------------------------------------------------ */

static void
rest_create__201_location_etag(void **state)
{
    (void)state;
    const char *body = "{\"resourceType\":\"Task\",\"id\":\"client-id\","
                       "\"status\":\"ready\",\"intent\":\"order\"}";
    th_resp *r = th_req(srv, "POST", "Task", body, NULL);
    assert_int_equal(r->status, 201);
    const char *id = th_str(r->json, "id");
    assert_non_null(id);
    assert_string_not_equal(id, "client-id"); /* a body id is ignored */
    assert_int_equal(strlen(id), 36);
    char want[256];
    snprintf(want, sizeof(want), "%s/Task/%s/_history/1", srv->base, id);
    assert_string_equal(th_header(r, "Location"), want);
    assert_string_equal(th_header(r, "ETag"), "W/\"1\"");
    assert_non_null(th_header(r, "Last-Modified"));
    assert_non_null(
        strstr(th_header(r, "Content-Type"), "application/fhir+json"));
    assert_string_equal(th_str(r->json, "meta.versionId"), "1");
    assert_non_null(th_str(r->json, "meta.lastUpdated"));
    th_free(r);
}

static void
rest_create__ids_are_random(void **state)
{
    (void)state;
    char *a = th_create(srv, "Task", TASK_BODY);
    char *b = th_create(srv, "Task", TASK_BODY);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void
rest_read__200_404_head(void **state)
{
    (void)state;
    char *id = th_create(srv, "Patient",
                         "{\"resourceType\":\"Patient\",\"gender\":\"female\","
                         "\"name\":[{\"family\":\"Müller\"}]}");
    char url[128];
    snprintf(url, sizeof(url), "Patient/%s", id);
    th_resp *r = get(url);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "id"), id);
    assert_string_equal(th_str(r->json, "name.0.family"), "Müller");
    assert_string_equal(th_header(r, "ETag"), "W/\"1\"");
    th_free(r);
    r = th_req(srv, "HEAD", url, NULL, NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->len, 0);
    assert_string_equal(th_header(r, "ETag"), "W/\"1\"");
    th_free(r);
    r = get("Patient/does-not-exist");
    assert_int_equal(r->status, 404);
    assert_string_equal(th_str(r->json, "resourceType"), "OperationOutcome");
    assert_string_equal(th_issue(r), "not-found");
    th_free(r);
    free(id);
}

static void
rest_read__unknown_type_and_paths(void **state)
{
    (void)state;
    th_resp *r = get("Observation/1");
    assert_int_equal(r->status, 404);
    assert_string_equal(th_issue(r), "not-found");
    th_free(r);
    r = get("Task/1/foo");
    assert_int_equal(r->status, 404);
    th_free(r);
    char url[256];
    snprintf(url, sizeof(url), "%.*s/index.html", (int)(strlen(srv->base) - 5),
             srv->base);
    r = get(url);
    assert_int_equal(r->status, 404);
    assert_string_equal(th_str(r->json, "resourceType"), "OperationOutcome");
    th_free(r);
    r = th_req(srv, "POST", "Task/123", TASK_BODY, NULL);
    assert_int_equal(r->status, 405);
    assert_non_null(th_header(r, "Allow"));
    assert_string_equal(th_issue(r), "not-supported");
    th_free(r);
}

static void
rest_read__invalid_id_400(void **state)
{
    (void)state;
    th_resp *r = get("Task/bad_id!");
    assert_int_equal(r->status, 400);
    th_free(r);
    char url[128];
    memset(url, 0, sizeof(url));
    strcpy(url, "Task/");
    memset(url + 5, 'a', 65);
    r = get(url);
    assert_int_equal(r->status, 400);
    th_free(r);
}

/* ---- update, versions ----------------------------------------------- */

static void
rest_update__versions_and_server_meta(void **state)
{
    (void)state;
    char *id = th_create(srv, "Task", TASK_BODY);
    char url[128], body[512];
    snprintf(url, sizeof(url), "Task/%s", id);
    snprintf(body, sizeof(body),
             "{\"resourceType\":\"Task\",\"id\":\"%s\",\"meta\":{"
             "\"versionId\":\"99\",\"lastUpdated\":\"2000-01-01T00:00:00Z\","
             "\"tag\":[{\"code\":\"x\"}]},\"status\":\"in-progress\","
             "\"intent\":\"order\"}",
             id);
    th_resp *r = put(url, body, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_header(r, "ETag"), "W/\"2\"");
    assert_string_equal(th_str(r->json, "meta.versionId"), "2");
    assert_string_not_equal(th_str(r->json, "meta.lastUpdated"),
                            "2000-01-01T00:00:00Z");
    assert_string_equal(th_str(r->json, "meta.tag.0.code"), "x");
    assert_string_equal(th_str(r->json, "status"), "in-progress");
    th_free(r);
    /* vread both versions */
    snprintf(url, sizeof(url), "Task/%s/_history/1", id);
    r = get(url);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "status"), "requested");
    th_free(r);
    snprintf(url, sizeof(url), "Task/%s/_history/2", id);
    r = get(url);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "status"), "in-progress");
    th_free(r);
    snprintf(url, sizeof(url), "Task/%s/_history/3", id);
    r = get(url);
    assert_int_equal(r->status, 404);
    th_free(r);
    snprintf(url, sizeof(url), "Task/%s/_history/x", id);
    r = get(url);
    assert_int_equal(r->status, 404);
    th_free(r);
    free(id);
}

static void
rest_update__create_with_client_id(void **state)
{
    (void)state;
    char *body = task_with_id("client-chosen-1", "ready");
    th_resp *r = put("Task/client-chosen-1", body, NULL);
    assert_int_equal(r->status, 201);
    char want[256];
    snprintf(want, sizeof(want), "%s/Task/client-chosen-1/_history/1",
             srv->base);
    assert_string_equal(th_header(r, "Location"), want);
    th_free(r);
    r = put("Task/client-chosen-1", body, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_header(r, "ETag"), "W/\"2\"");
    th_free(r);
    free(body);
}

static void
rest_update__id_rules(void **state)
{
    (void)state;
    char *body = task_with_id("other", "ready");
    th_resp *r = put("Task/upd-id-1", body, NULL);
    assert_int_equal(r->status, 400);
    th_free(r);
    r = put("Task/upd-id-1", TASK_BODY, NULL); /* no id in body */
    assert_int_equal(r->status, 400);
    th_free(r);
    r = put("Task/bad_id", body, NULL);
    assert_int_equal(r->status, 400);
    th_free(r);
    r = get("Task/upd-id-1");
    assert_int_equal(r->status, 404); /* nothing was written */
    th_free(r);
    free(body);
}

static void
rest_if_match__412_and_success(void **state)
{
    (void)state;
    char *body = task_with_id("ifm-1", "ready");
    th_resp *r = put("Task/ifm-1", body, NULL);
    assert_int_equal(r->status, 201);
    th_free(r);
    r = put("Task/ifm-1", body, "If-Match: W/\"2\"");
    assert_int_equal(r->status, 412);
    assert_string_equal(th_str(r->json, "resourceType"), "OperationOutcome");
    th_free(r);
    r = put("Task/ifm-1", body, "If-Match: W/\"1\"");
    assert_int_equal(r->status, 200);
    th_free(r);
    r = put("Task/ifm-1", body, "If-Match: \"2\"");
    assert_int_equal(r->status, 200);
    th_free(r);
    r = put("Task/ifm-1", body, "If-Match: banana");
    assert_int_equal(r->status, 400);
    th_free(r);
    const char *h[] = {"If-Match: W/\"1\"", NULL};
    r = th_req(srv, "DELETE", "Task/ifm-1", NULL, h);
    assert_int_equal(r->status, 412);
    th_free(r);
    char *missing = task_with_id("ifm-missing", "ready");
    r = put("Task/ifm-missing", missing, "If-Match: W/\"1\"");
    assert_int_equal(r->status, 412);
    th_free(r);
    free(missing);
    r = get("Task/ifm-1");
    assert_string_equal(th_str(r->json, "meta.versionId"), "3");
    th_free(r);
    free(body);
}

static void
rest_read__conditional_304(void **state)
{
    (void)state;
    char *body = task_with_id("cond-1", "ready");
    th_resp *r = put("Task/cond-1", body, NULL);
    th_free(r);
    const char *h1[] = {"If-None-Match: W/\"1\"", NULL};
    r = th_req(srv, "GET", "Task/cond-1", NULL, h1);
    assert_int_equal(r->status, 304);
    assert_int_equal(r->len, 0);
    th_free(r);
    const char *h2[] = {"If-None-Match: W/\"7\"", NULL};
    r = th_req(srv, "GET", "Task/cond-1", NULL, h2);
    assert_int_equal(r->status, 200);
    th_free(r);
    const char *h3[] = {"If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT",
                        NULL};
    r = th_req(srv, "GET", "Task/cond-1", NULL, h3);
    assert_int_equal(r->status, 304);
    th_free(r);
    const char *h4[] = {"If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT",
                        NULL};
    r = th_req(srv, "GET", "Task/cond-1", NULL, h4);
    assert_int_equal(r->status, 200);
    th_free(r);
    free(body);
}

/* ---- delete ---------------------------------------------------------- */

static void
rest_delete__gone_again_and_back(void **state)
{
    (void)state;
    char *body = task_with_id("del-1", "ready");
    th_resp *r = put("Task/del-1", body, NULL);
    th_free(r);
    r = th_req(srv, "DELETE", "Task/del-1", NULL, NULL);
    assert_true(r->status == 200 || r->status == 204);
    th_free(r);
    r = get("Task/del-1");
    assert_int_equal(r->status, 410);
    assert_string_equal(th_issue(r), "deleted");
    th_free(r);
    r = th_req(srv, "DELETE", "Task/del-1", NULL, NULL);
    assert_true(r->status == 200 || r->status == 204);
    th_free(r);
    r = get("Task/del-1/_history/2");
    assert_int_equal(r->status, 410);
    th_free(r);
    r = get("Task/del-1/_history/1");
    assert_int_equal(r->status, 200);
    th_free(r);
    r = th_req(srv, "DELETE", "Task/never-was", NULL, NULL);
    assert_int_equal(r->status, 404);
    th_free(r);
    r = put("Task/del-1", body, NULL);
    assert_int_equal(r->status, 201);
    assert_string_equal(th_str(r->json, "meta.versionId"), "3");
    th_free(r);
    free(body);
}

/* ---- history --------------------------------------------------------- */

static void
rest_history__instance_newest_first_with_delete(void **state)
{
    (void)state;
    char *body = task_with_id("hist-1", "ready");
    th_free(put("Task/hist-1", body, NULL));
    th_free(put("Task/hist-1", body, NULL));
    th_free(th_req(srv, "DELETE", "Task/hist-1", NULL, NULL));
    th_resp *r = get("Task/hist-1/_history");
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "type"), "history");
    assert_int_equal(entries(r), 3);
    assert_string_equal(th_str(r->json, "entry.0.request.method"), "DELETE");
    assert_null(cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "entry"), 0),
        "resource"));
    assert_string_equal(th_str(r->json, "entry.0.response.etag"), "W/\"3\"");
    assert_string_equal(th_str(r->json, "entry.1.request.method"), "PUT");
    assert_string_equal(th_str(r->json, "entry.1.resource.meta.versionId"),
                        "2");
    assert_string_equal(th_str(r->json, "entry.2.response.status"),
                        "201 Created");
    assert_string_equal(th_str(r->json, "entry.2.request.url"), "Task/hist-1");
    assert_non_null(th_str(r->json, "entry.2.fullUrl"));
    assert_non_null(th_str(r->json, "entry.2.response.lastModified"));
    th_free(r);
    r = get("Task/never-existed/_history");
    assert_int_equal(r->status, 404);
    th_free(r);
    free(body);
}

static void
rest_history__paging_and_since(void **state)
{
    (void)state;
    char *body = task_with_id("hist-page", "ready");
    for (int i = 0; i < 5; i++) {
        th_free(put("Task/hist-page", body, NULL));
    }
    th_resp *r = get("Task/hist-page/_history?_count=2");
    assert_int_equal(entries(r), 2);
    assert_string_equal(th_str(r->json, "entry.0.resource.meta.versionId"),
                        "5");
    /* follow next links to the end: 5, 4 | 3, 2 | 1 */
    const char *want[] = {"3", "2", "1"};
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        const char *next = NULL;
        cJSON *l;
        cJSON_ArrayForEach(l, cJSON_GetObjectItem(r->json, "link"))
        {
            if (strcmp(th_str(l, "relation"), "next") == 0) {
                next = th_str(l, "url");
            }
        }
        if (next == NULL) {
            break;
        }
        th_resp *n = get(next);
        assert_int_equal(n->status, 200);
        cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(n->json, "entry"))
        {
            assert_string_equal(th_str(e, "resource.meta.versionId"),
                                want[seen]);
            seen++;
        }
        th_free(r);
        r = n;
    }
    assert_int_equal(seen, 3);
    th_free(r);
    /* _since: only versions at or after the third one */
    r = get("Task/hist-page/_history/3");
    char url[256];
    char *since = strdup(th_str(r->json, "meta.lastUpdated"));
    th_free(r);
    snprintf(url, sizeof(url), "Task/hist-page/_history?_since=%s", since);
    r = get(url);
    assert_int_equal(r->status, 200);
    assert_int_equal(entries(r), 3);
    th_free(r);
    r = get("Task/hist-page/_history?_since=yesterday");
    assert_int_equal(r->status, 400);
    th_free(r);
    r = get("Task/hist-page/_history?_count=abc");
    assert_int_equal(r->status, 400);
    th_free(r);
    free(since);
    free(body);
}

static void
rest_history__type_and_system(void **state)
{
    (void)state;
    char *t = th_create(srv, "Task", TASK_BODY);
    char *p = th_create(srv, "Practitioner",
                        "{\"resourceType\":\"Practitioner\","
                        "\"name\":[{\"family\":\"Nguyen\"}]}");
    th_resp *r = get("Practitioner/_history");
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "entry.0.resource.id"), p);
    assert_string_equal(th_str(r->json, "entry.0.request.method"), "POST");
    assert_string_equal(th_str(r->json, "entry.0.request.url"), "Practitioner");
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->json, "entry"))
    {
        assert_string_equal(th_str(e, "resource.resourceType"), "Practitioner");
    }
    th_free(r);
    r = get("_history?_count=2");
    assert_int_equal(r->status, 200);
    assert_int_equal(entries(r), 2);
    assert_string_equal(th_str(r->json, "entry.0.resource.id"), p);
    assert_string_equal(th_str(r->json, "entry.1.resource.id"), t);
    th_free(r);
    free(t);
    free(p);
}

/* ---- Prefer, formats -------------------------------------------------- */

static void
rest_prefer__minimal_outcome_representation(void **state)
{
    (void)state;
    const char *m[] = {"Prefer: return=minimal", NULL};
    th_resp *r = th_req(srv, "POST", "Task", TASK_BODY, m);
    assert_int_equal(r->status, 201);
    assert_int_equal(r->len, 0);
    assert_non_null(th_header(r, "Location"));
    th_free(r);
    const char *o[] = {"Prefer: return=OperationOutcome", NULL};
    r = th_req(srv, "POST", "Task", TASK_BODY, o);
    assert_int_equal(r->status, 201);
    assert_string_equal(th_str(r->json, "resourceType"), "OperationOutcome");
    th_free(r);
    const char *p[] = {"Prefer: return=representation", NULL};
    r = th_req(srv, "POST", "Task", TASK_BODY, p);
    assert_int_equal(r->status, 201);
    assert_string_equal(th_str(r->json, "resourceType"), "Task");
    th_free(r);
    char *body = task_with_id("prefer-upd", "ready");
    r = put("Task/prefer-upd", body, "Prefer: return=minimal");
    assert_int_equal(r->status, 201);
    assert_int_equal(r->len, 0);
    th_free(r);
    free(body);
}

static void
rest_format__json_only(void **state)
{
    (void)state;
    char *id = th_create(srv, "Task", TASK_BODY);
    char url[160];
    snprintf(url, sizeof(url), "Task/%s", id);
    const char *xml[] = {"Accept: application/fhir+xml", NULL};
    th_resp *r = th_req(srv, "GET", url, NULL, xml);
    assert_int_equal(r->status, 406);
    assert_string_equal(th_str(r->json, "resourceType"), "OperationOutcome");
    th_free(r);
    const char *json[] = {"Accept: application/json", NULL};
    r = th_req(srv, "GET", url, NULL, json);
    assert_int_equal(r->status, 200);
    th_free(r);
    const char *mixed[] = {"Accept: application/fhir+xml;q=0.9, */*;q=0.1",
                           NULL};
    r = th_req(srv, "GET", url, NULL, mixed);
    assert_int_equal(r->status, 200);
    th_free(r);
    snprintf(url, sizeof(url), "Task/%s?_format=xml", id);
    r = get(url);
    assert_int_equal(r->status, 406);
    th_free(r);
    snprintf(url, sizeof(url), "Task/%s?_format=json", id);
    r = get(url);
    assert_int_equal(r->status, 200);
    assert_null(strchr(r->body, '\n'));
    th_free(r);
    snprintf(url, sizeof(url), "Task/%s?_format=application/fhir%%2Bjson", id);
    r = get(url);
    assert_int_equal(r->status, 200);
    th_free(r);
    snprintf(url, sizeof(url), "Task/%s?_pretty=true", id);
    r = get(url);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "\n  \"resourceType\": \"Task\""));
    th_free(r);
    const char *xmlbody[] = {"Content-Type: application/fhir+xml", NULL};
    r = th_req(srv, "POST", "Task", "<Task xmlns=\"http://hl7.org/fhir\"/>",
               xmlbody);
    assert_int_equal(r->status, 415);
    assert_string_equal(th_str(r->json, "resourceType"), "OperationOutcome");
    th_free(r);
    const char *plain[] = {"Content-Type: application/json", NULL};
    r = th_req(srv, "POST", "Task", TASK_BODY, plain);
    assert_int_equal(r->status, 201);
    th_free(r);
    free(id);
}

/* ---- CapabilityStatement ------------------------------------------- */

static void
rest_metadata__lists_what_works(void **state)
{
    (void)state;
    th_resp *r = get("metadata");
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "resourceType"), "CapabilityStatement");
    assert_string_equal(th_str(r->json, "status"), "active");
    assert_string_equal(th_str(r->json, "kind"), "instance");
    assert_string_equal(th_str(r->json, "fhirVersion"), "4.0.1");
    assert_string_equal(th_str(r->json, "format.0"), "json");
    cJSON *res = cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "rest"), 0),
        "resource");
    assert_int_equal(cJSON_GetArraySize(res), 4);
    cJSON *t;
    cJSON_ArrayForEach(t, res)
    {
        const char *type = th_str(t, "type");
        char *id = NULL;
        char body[256];
        snprintf(body, sizeof(body), "{\"resourceType\":\"%s\"%s}", type,
                 strcmp(type, "Task") == 0
                     ? ",\"status\":\"ready\",\"intent\":\"order\""
                 : strcmp(type, "ServiceRequest") == 0
                     ? ",\"status\":\"active\",\"intent\":\"order\","
                       "\"subject\":{\"reference\":\"Patient/x\"}"
                     : "");
        id = th_create(srv, type, body);
        assert_non_null(id);
        /* every listed interaction is served (not 404/405) */
        cJSON *i;
        cJSON_ArrayForEach(i, cJSON_GetObjectItem(t, "interaction"))
        {
            const char *code = th_str(i, "code");
            char url[256];
            th_resp *x = NULL;
            if (strcmp(code, "read") == 0) {
                snprintf(url, sizeof(url), "%s/%s", type, id);
                x = get(url);
            } else if (strcmp(code, "vread") == 0) {
                snprintf(url, sizeof(url), "%s/%s/_history/1", type, id);
                x = get(url);
            } else if (strcmp(code, "history-instance") == 0) {
                snprintf(url, sizeof(url), "%s/%s/_history", type, id);
                x = get(url);
            } else if (strcmp(code, "history-type") == 0) {
                snprintf(url, sizeof(url), "%s/_history", type);
                x = get(url);
            } else if (strcmp(code, "search-type") == 0) {
                snprintf(url, sizeof(url), "%s?_id=%s", type, id);
                x = get(url);
            } else if (strcmp(code, "create") == 0) {
                x = th_req(srv, "POST", type, body, NULL);
            } else if (strcmp(code, "patch") == 0) {
                const char *h[] = {"Content-Type: application/json-patch+json",
                                   NULL};
                snprintf(url, sizeof(url), "%s/%s", type, id);
                x = th_req(srv, "PATCH", url, "[]", h);
            } else if (strcmp(code, "update") == 0 ||
                       strcmp(code, "delete") == 0) {
                continue; /* exercised below on their own resources */
            } else {
                fail_msg("unexpected interaction %s", code);
            }
            assert_true(x->status == 200 || x->status == 201);
            th_free(x);
        }
        free(id);
    }
    /* system level: history and search, both served */
    cJSON *sys = cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "rest"), 0),
        "interaction");
    int hist = 0, search = 0;
    cJSON *si;
    cJSON_ArrayForEach(si, sys)
    {
        hist |= strcmp(th_str(si, "code"), "history-system") == 0;
        search |= strcmp(th_str(si, "code"), "search-system") == 0;
    }
    assert_true(hist && search);
    th_resp *sx = get("?_type=Task&_count=1");
    assert_int_equal(sx->status, 200);
    th_free(sx);
    /* what is not listed is not served */
    assert_null(strstr(r->body, "\"_compartment\""));
    th_resp *x = th_req(srv, "POST", "Task/x", "{}", NULL);
    assert_int_equal(x->status, 405);
    th_free(x);
    th_free(r);
}

/* ---- concurrency ----------------------------------------------------- */

struct racer {
    pthread_barrier_t *bar;
    CURL *curl;
    const char *etag;
    long status;
};

static void *
race_one(void *arg)
{
    struct racer *rc = arg;
    char hdr[64];
    snprintf(hdr, sizeof(hdr), "If-Match: %s", rc->etag);
    const char *h[] = {hdr, NULL};
    const char *body = "{\"resourceType\":\"Task\",\"id\":\"race-1\","
                       "\"status\":\"in-progress\",\"intent\":\"order\"}";
    pthread_barrier_wait(rc->bar);
    th_resp *r =
        th_req_on(rc->curl, srv, "PUT", "Task/race-1", body, strlen(body), h);
    rc->status = r->status;
    th_free(r);
    return NULL;
}

static void
rest_concurrency__if_match_race_one_wins(void **state)
{
    (void)state;
    char *body = task_with_id("race-1", "ready");
    th_free(put("Task/race-1", body, NULL));
    free(body);
    pthread_barrier_t bar;
    struct racer a = {&bar, curl_easy_init(), NULL, 0};
    struct racer b = {&bar, curl_easy_init(), NULL, 0};
    const int rounds = 150;
    for (int v = 1; v <= rounds; v++) {
        char etag[32];
        snprintf(etag, sizeof(etag), "W/\"%d\"", v);
        a.etag = b.etag = etag;
        pthread_barrier_init(&bar, NULL, 2);
        pthread_t ta, tb;
        pthread_create(&ta, NULL, race_one, &a);
        pthread_create(&tb, NULL, race_one, &b);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&bar);
        int ok = (a.status == 200) + (b.status == 200);
        int lost = (a.status == 412) + (b.status == 412);
        if (ok != 1 || lost != 1) {
            fail_msg("round %d: statuses %ld and %ld", v, a.status, b.status);
        }
    }
    curl_easy_cleanup(a.curl);
    curl_easy_cleanup(b.curl);
    /* every version exactly once, none lost */
    char url[64];
    snprintf(url, sizeof(url), "Task/race-1/_history?_count=1000");
    th_resp *r = get(url);
    assert_int_equal(entries(r), rounds + 1);
    int want = rounds + 1;
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->json, "entry"))
    {
        char v[16];
        snprintf(v, sizeof(v), "%d", want--);
        assert_string_equal(th_str(e, "resource.meta.versionId"), v);
    }
    th_free(r);
}

#define MIX_CLIENTS 8
#define MIX_SECONDS 3
#define MIX_MAX_OPS 4000

struct mixer {
    int n;
    int errors;
    int conflicts;
    int writes[4]; /* successful writes per own resource */
    char msg[256];
};

static void *
mix_one(void *arg)
{
    struct mixer *m = arg;
    CURL *c = curl_easy_init();
    char ids[4][64], url[128], body[256];
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int k = 0; k < 4; k++) {
        snprintf(ids[k], sizeof(ids[k]), "mix-%d-%d", m->n, k);
    }
    for (int op = 0; op < MIX_MAX_OPS; op++) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec >= MIX_SECONDS) {
            break;
        }
        int k = op % 4;
        snprintf(url, sizeof(url), "Task/%s", ids[k]);
        th_resp *r;
        if (op % 3 == 2 && m->writes[k] > 0) {
            r = th_req_on(c, srv, "GET", url, NULL, 0, NULL);
            if (r->status != 200) {
                m->errors++;
                snprintf(m->msg, sizeof(m->msg), "GET %s: %ld", url, r->status);
            }
        } else {
            /* A stale If-Match every 5th write: an intended 412. */
            char hdr[64];
            int stale = m->writes[k] > 0 && op % 5 == 0;
            snprintf(hdr, sizeof(hdr), "If-Match: W/\"%d\"",
                     stale ? m->writes[k] - 0 + 7 : m->writes[k]);
            const char *h[] = {hdr, NULL};
            snprintf(body, sizeof(body),
                     "{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":"
                     "\"ready\",\"intent\":\"order\"}",
                     ids[k]);
            r = th_req_on(c, srv, "PUT", url, body, strlen(body),
                          m->writes[k] > 0 ? h : NULL);
            if (r->status == 200 || r->status == 201) {
                m->writes[k]++;
            } else if (r->status == 412 && stale) {
                m->conflicts++;
            } else {
                m->errors++;
                snprintf(m->msg, sizeof(m->msg), "PUT %s: %ld %s", url,
                         r->status, r->body);
            }
        }
        th_free(r);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void
rest_concurrency__eight_clients_gap_free(void **state)
{
    (void)state;
    struct mixer m[MIX_CLIENTS];
    pthread_t th[MIX_CLIENTS];
    memset(m, 0, sizeof(m));
    for (int i = 0; i < MIX_CLIENTS; i++) {
        m[i].n = i;
        pthread_create(&th[i], NULL, mix_one, &m[i]);
    }
    for (int i = 0; i < MIX_CLIENTS; i++) {
        pthread_join(th[i], NULL);
    }
    int total = 0;
    for (int i = 0; i < MIX_CLIENTS; i++) {
        if (m[i].errors != 0) {
            fail_msg("client %d: %d errors, last: %s", i, m[i].errors,
                     m[i].msg);
        }
        assert_true(m[i].conflicts > 0);
        for (int k = 0; k < 4; k++) {
            char url[128];
            snprintf(url, sizeof(url), "Task/mix-%d-%d/_history?_count=1000", i,
                     k);
            th_resp *r = get(url);
            assert_int_equal(entries(r), m[i].writes[k]);
            int want = m[i].writes[k];
            cJSON *e;
            cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->json, "entry"))
            {
                char v[16];
                snprintf(v, sizeof(v), "%d", want--);
                assert_string_equal(th_str(e, "resource.meta.versionId"), v);
            }
            total += m[i].writes[k];
            th_free(r);
        }
    }
    print_message("mixed load: %d successful writes by %d clients\n", total,
                  MIX_CLIENTS);
}

#define KEEPALIVE_CLIENTS 64

struct holder {
    pthread_barrier_t *bar;
    long statuses[3];
};

static void *
hold_one(void *arg)
{
    struct holder *h = arg;
    CURL *c = curl_easy_init();
    for (int i = 0; i < 3; i++) {
        th_resp *r = th_req_on(c, srv, "GET", "metadata", NULL, 0, NULL);
        h->statuses[i] = r->status;
        th_free(r);
        if (i == 0) {
            /* all 64 connections are open and kept alive at once */
            pthread_barrier_wait(h->bar);
        }
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void
rest_concurrency__64_keepalive_clients(void **state)
{
    (void)state;
    pthread_barrier_t bar;
    struct holder h[KEEPALIVE_CLIENTS];
    pthread_t th[KEEPALIVE_CLIENTS];
    pthread_barrier_init(&bar, NULL, KEEPALIVE_CLIENTS);
    for (int i = 0; i < KEEPALIVE_CLIENTS; i++) {
        h[i].bar = &bar;
        pthread_create(&th[i], NULL, hold_one, &h[i]);
    }
    for (int i = 0; i < KEEPALIVE_CLIENTS; i++) {
        pthread_join(th[i], NULL);
        for (int k = 0; k < 3; k++) {
            assert_int_equal(h[i].statuses[k], 200);
        }
    }
    pthread_barrier_destroy(&bar);
}

static int
setup(void **state)
{
    (void)state;
    srv = th_start(NULL);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    th_stop(srv);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rest_create__201_location_etag),
        cmocka_unit_test(rest_create__ids_are_random),
        cmocka_unit_test(rest_read__200_404_head),
        cmocka_unit_test(rest_read__unknown_type_and_paths),
        cmocka_unit_test(rest_read__invalid_id_400),
        cmocka_unit_test(rest_update__versions_and_server_meta),
        cmocka_unit_test(rest_update__create_with_client_id),
        cmocka_unit_test(rest_update__id_rules),
        cmocka_unit_test(rest_if_match__412_and_success),
        cmocka_unit_test(rest_read__conditional_304),
        cmocka_unit_test(rest_delete__gone_again_and_back),
        cmocka_unit_test(rest_history__instance_newest_first_with_delete),
        cmocka_unit_test(rest_history__paging_and_since),
        cmocka_unit_test(rest_history__type_and_system),
        cmocka_unit_test(rest_prefer__minimal_outcome_representation),
        cmocka_unit_test(rest_format__json_only),
        cmocka_unit_test(rest_metadata__lists_what_works),
        cmocka_unit_test(rest_concurrency__if_match_race_one_wins),
        cmocka_unit_test(rest_concurrency__eight_clients_gap_free),
        cmocka_unit_test(rest_concurrency__64_keepalive_clients),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
