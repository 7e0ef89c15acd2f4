/* tests/http/test_http_exchange.c - EHR exchange over real HTTP:
 * transaction and batch Bundles, conditional create, update, patch and
 * delete (at the REST endpoints and inside Bundles), JSON Patch and
 * FHIRPath Patch, claiming a task with If-Match, idempotent retries by
 * Bundle.identifier, and the limits on Bundles.
 *
 * Each case marks what it creates with its own identifier value so cases
 * do not see each other's resources; a second server with tight limits
 * serves the limit cases.
 */
#include "tests/http/harness.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_server *srv;
static th_server *tight; /* --max-bundle-entries 3, --cond-delete-max 5 */

#define SYS "urn:test:exchange"

static th_resp *
post_bundle(th_server *s, const char *json, const char *prefer)
{
    const char *h[] = {"Content-Type: application/fhir+json", prefer, NULL};
    return th_req(s, "POST", "", json, h);
}

/* The number of resources a search finds (_summary=count). */
static int
count(th_server *s, const char *query)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s_summary=count", query,
             strchr(query, '?') ? "&" : "?");
    th_resp *r = th_req(s, "GET", url, NULL, NULL);
    assert_int_equal(r->status, 200);
    int n = cJSON_GetObjectItem(r->json, "total")->valueint;
    th_free(r);
    return n;
}

/* entry[i] of a Bundle body. */
static cJSON *
entry(const th_resp *r, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "entry"), i);
}

/* "Type/id" from an entry's response.location ("Type/id/_history/n"). */
static char *
ref_of(const th_resp *r, int i)
{
    const char *loc = th_str(entry(r, i), "response.location");
    assert_non_null(loc);
    const char *h = strstr(loc, "/_history/");
    assert_non_null(h);
    return strndup(loc, (size_t)(h - loc));
}

static th_resp *
get(th_server *s, const char *url)
{
    return th_req(s, "GET", url, NULL, NULL);
}

static char *
printf_alloc(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    char *out = malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}

/* ---- transaction ------------------------------------------------------ */

/* urn:uuid: fullUrls become Type/id in every Reference: nested elements,
 * extensions, arrays. */
static void
tx__urn_uuid_references_resolved_everywhere(void **state)
{
    (void)state;
    const char *b =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"fullUrl\":\"urn:uuid:0f6e1a2b-0000-4000-8000-000000000001\","
        "\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{"
        "\"system\":\"" SYS "\",\"value\":\"urn1\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"fullUrl\":\"urn:uuid:0f6e1a2b-0000-4000-8000-000000000002\","
        "\"resource\":{\"resourceType\":\"ServiceRequest\",\"status\":"
        "\"active\",\"intent\":\"order\",\"subject\":{\"reference\":"
        "\"urn:uuid:0f6e1a2b-0000-4000-8000-000000000001\"}},"
        "\"request\":{\"method\":\"POST\",\"url\":\"ServiceRequest\"}},"
        "{\"fullUrl\":\"urn:uuid:0f6e1a2b-0000-4000-8000-000000000003\","
        "\"resource\":{\"resourceType\":\"Task\",\"status\":\"requested\","
        "\"intent\":\"order\",\"identifier\":[{\"system\":\"" SYS "\","
        "\"value\":\"urn1\"}],"
        "\"focus\":{\"reference\":"
        "\"urn:uuid:0f6e1a2b-0000-4000-8000-000000000002\"},"
        "\"for\":{\"reference\":"
        "\"urn:uuid:0f6e1a2b-0000-4000-8000-000000000001\"},"
        "\"extension\":[{\"url\":\"http://example.org/x\",\"valueReference\":"
        "{\"reference\":\"urn:uuid:0f6e1a2b-0000-4000-8000-000000000002\"}}],"
        "\"input\":[{\"type\":{\"text\":\"who\"},\"valueReference\":{"
        "\"reference\":\"urn:uuid:0f6e1a2b-0000-4000-8000-000000000001\"}}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}";
    th_resp *r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "type"), "transaction-response");
    for (int i = 0; i < 3; i++) {
        assert_string_equal(th_str(entry(r, i), "response.status"),
                            "201 Created");
        assert_string_equal(th_str(entry(r, i), "response.etag"), "W/\"1\"");
        assert_non_null(th_str(entry(r, i), "response.lastModified"));
    }
    char *pat = ref_of(r, 0), *sr = ref_of(r, 1), *task = ref_of(r, 2);
    th_resp *t = get(srv, task);
    assert_int_equal(t->status, 200);
    assert_string_equal(th_str(t->json, "focus.reference"), sr);
    assert_string_equal(th_str(t->json, "for.reference"), pat);
    assert_string_equal(th_str(t->json, "extension.0.valueReference.reference"),
                        sr);
    assert_string_equal(th_str(t->json, "input.0.valueReference.reference"),
                        pat);
    th_free(t);
    t = get(srv, sr);
    assert_string_equal(th_str(t->json, "subject.reference"), pat);
    th_free(t);
    /* Indexed as a single POST would be: searchable by the new refs. */
    char q[256];
    snprintf(q, sizeof(q), "Task?focus=%s&patient=%s", sr, pat);
    assert_int_equal(count(srv, q), 1);
    /* And history says it was a create. */
    snprintf(q, sizeof(q), "%s/_history", task);
    t = get(srv, q);
    assert_string_equal(th_str(entry(t, 0), "request.method"), "POST");
    th_free(t);
    free(pat);
    free(sr);
    free(task);
    th_free(r);
}

/* urn:oid: fullUrls, and an absolute fullUrl of another server with a
 * relative reference resolved against the referring entry's base. */
static void
tx__urn_oid_and_absolute_full_urls(void **state)
{
    (void)state;
    const char *b =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"fullUrl\":\"urn:oid:1.2.840.10008.999.1\","
        "\"resource\":{\"resourceType\":\"Practitioner\",\"name\":[{"
        "\"family\":\"Oid\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Practitioner\"}},"
        "{\"fullUrl\":\"http://other.example/fhir/Patient/p9\","
        "\"resource\":{\"resourceType\":\"Patient\",\"name\":[{"
        "\"family\":\"Abs\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"fullUrl\":\"http://other.example/fhir/Task/t9\","
        "\"resource\":{\"resourceType\":\"Task\",\"status\":\"ready\","
        "\"intent\":\"order\",\"for\":{\"reference\":\"Patient/p9\"},"
        "\"owner\":{\"reference\":\"urn:oid:1.2.840.10008.999.1\"}},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}";
    th_resp *r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 200);
    char *prac = ref_of(r, 0), *pat = ref_of(r, 1), *task = ref_of(r, 2);
    assert_string_not_equal(pat, "Patient/p9"); /* a POST gets a new id */
    th_resp *t = get(srv, task);
    assert_string_equal(th_str(t->json, "owner.reference"), prac);
    assert_string_equal(th_str(t->json, "for.reference"), pat);
    th_free(t);
    free(prac);
    free(pat);
    free(task);
    th_free(r);
}

/* A urn:uuid that no entry has fails the transaction. */
static void
tx__unknown_urn_fails(void **state)
{
    (void)state;
    const char *b =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"fullUrl\":\"urn:uuid:0f6e1a2b-0000-4000-8000-0000000000a1\","
        "\"resource\":{\"resourceType\":\"Task\",\"status\":\"ready\","
        "\"intent\":\"order\",\"identifier\":[{\"system\":\"" SYS "\","
        "\"value\":\"nourn\"}],\"for\":{\"reference\":"
        "\"urn:uuid:0f6e1a2b-0000-4000-8000-0000000000ff\"}},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}";
    th_resp *r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 404);
    assert_non_null(
        strstr(th_str(r->json, "issue.0.diagnostics"), "Bundle.entry[0]"));
    th_free(r);
    assert_int_equal(count(srv, "Task?identifier=" SYS "|nourn"), 0);
}

/* Entries run DELETE, POST, PUT, GET whatever their order in the Bundle:
 * the GET listed first sees what the POST listed later created, and the
 * DELETE listed last runs before the rest. */
static void
tx__entries_run_in_spec_order(void **state)
{
    (void)state;
    char *old = th_create(srv, "Task",
                          "{\"resourceType\":\"Task\",\"status\":\"ready\","
                          "\"intent\":\"order\",\"identifier\":[{\"system\":"
                          "\"" SYS "\",\"value\":\"order-old\"}]}");
    char *b = printf_alloc(
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"request\":{\"method\":\"GET\",\"url\":\"Task?identifier=" SYS
        "|order-new\"}},"
        "{\"resource\":{\"resourceType\":\"Task\",\"id\":\"order-put\","
        "\"status\":\"ready\",\"intent\":\"order\",\"identifier\":[{"
        "\"system\":\"" SYS "\",\"value\":\"order-new\"}]},"
        "\"request\":{\"method\":\"PUT\",\"url\":\"Task/order-put\"}},"
        "{\"resource\":{\"resourceType\":\"Task\",\"status\":\"ready\","
        "\"intent\":\"order\",\"identifier\":[{\"system\":\"" SYS "\","
        "\"value\":\"order-new\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}},"
        "{\"request\":{\"method\":\"DELETE\",\"url\":\"Task/%s\"}}]}",
        old);
    th_resp *r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 200);
    /* Responses stay in the Bundle's order. */
    assert_string_equal(th_str(entry(r, 0), "response.status"), "200 OK");
    assert_string_equal(th_str(entry(r, 1), "response.status"), "201 Created");
    assert_string_equal(th_str(entry(r, 2), "response.status"), "201 Created");
    assert_string_equal(th_str(entry(r, 3), "response.status"), "200 OK");
    cJSON *found = cJSON_GetObjectItem(entry(r, 0), "resource");
    assert_int_equal(cJSON_GetObjectItem(found, "total")->valueint, 2);
    char url[128];
    snprintf(url, sizeof(url), "Task/%s", old);
    th_resp *g = get(srv, url);
    assert_int_equal(g->status, 410);
    th_free(g);
    th_free(r);
    free(b);
    free(old);
}

/* Any failing entry rolls back everything; the OperationOutcome names
 * the entry by index and fullUrl. */
static void
tx__failure_rolls_back_and_names_entry(void **state)
{
    (void)state;
    const char *b =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"fullUrl\":\"urn:uuid:0f6e1a2b-0000-4000-8000-0000000000b1\","
        "\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{"
        "\"system\":\"" SYS "\",\"value\":\"rollback\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"resource\":{\"resourceType\":\"Task\",\"id\":\"rb-put\","
        "\"status\":\"ready\",\"intent\":\"order\",\"identifier\":[{"
        "\"system\":\"" SYS "\",\"value\":\"rollback\"}]},"
        "\"request\":{\"method\":\"PUT\",\"url\":\"Task/rb-put\"}},"
        "{\"fullUrl\":\"urn:uuid:0f6e1a2b-0000-4000-8000-0000000000b3\","
        "\"resource\":{\"resourceType\":\"Task\",\"status\":\"no-such\","
        "\"intent\":\"order\"},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}";
    th_resp *r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 400);
    assert_string_equal(th_str(r->json, "resourceType"), "OperationOutcome");
    const char *d = th_str(r->json, "issue.0.diagnostics");
    assert_non_null(strstr(d, "Bundle.entry[2]"));
    assert_non_null(strstr(d, "urn:uuid:0f6e1a2b-0000-4000-8000-0000000000b3"));
    th_free(r);
    assert_int_equal(count(srv, "Patient?identifier=" SYS "|rollback"), 0);
    assert_int_equal(count(srv, "Task?identifier=" SYS "|rollback"), 0);
    th_resp *g = get(srv, "Task/rb-put");
    assert_int_equal(g->status, 404);
    th_free(g);
    g = get(srv, "Task/_history?_count=1000");
    assert_null(strstr(g->body, "rb-put"));
    th_free(g);
}

/* Two entries with one fullUrl make the references ambiguous: 400, the
 * first of them named, nothing written. */
static void
tx__duplicate_full_url_is_error(void **state)
{
    (void)state;
    const char *b =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"fullUrl\":\"urn:uuid:0f6e1a2b-0000-4000-8000-0000000000d0\","
        "\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{"
        "\"system\":\"" SYS "\",\"value\":\"dupurl\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"fullUrl\":\"urn:uuid:0f6e1a2b-0000-4000-8000-0000000000d1\","
        "\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{"
        "\"system\":\"" SYS "\",\"value\":\"dupurl\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"fullUrl\":\"urn:uuid:0f6e1a2b-0000-4000-8000-0000000000d1\","
        "\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{"
        "\"system\":\"" SYS "\",\"value\":\"dupurl\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}}]}";
    th_resp *r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 400);
    const char *d = th_str(r->json, "issue.0.diagnostics");
    assert_non_null(strstr(d, "Two entries have the fullUrl"));
    assert_non_null(strstr(d, "Bundle.entry[1]"));
    th_free(r);
    assert_int_equal(count(srv, "Patient?identifier=" SYS "|dupurl"), 0);
}

/* A Bundle of POSTs and PUTs of its own: enough entries that they are
 * checked and indexed on the preparing thread (server/bundle.c) while
 * the request thread writes. Every entry of kind k at index i: k 0 a
 * Patient POST carrying an id of its own (ignored), k 1 a Task PUT (the
 * last one with no id in its body), k 2 a Task POST referring to a
 * Patient by urn:uuid. `bad` >= 0 makes that entry's Task status
 * invalid. */
static char *
big_bundle(const char *tag, int n, int bad)
{
    size_t cap = (size_t)n * 600 + 256, len = 0;
    char *b = malloc(cap);
    len += (size_t)snprintf(b + len, cap - len,
                            "{\"resourceType\":\"Bundle\",\"type\":"
                            "\"transaction\",\"entry\":[");
    for (int i = 0; i < n; i++) {
        const char *status = i == bad ? "no-such" : "requested";
        const char *sep = i ? "," : "";
        switch (i % 3) {
        case 0:
            len += (size_t)snprintf(
                b + len, cap - len,
                "%s{\"fullUrl\":\"urn:uuid:%s-0000-4000-8000-%012d\","
                "\"resource\":{\"resourceType\":\"Patient\",\"id\":"
                "\"ignored-%d\",\"identifier\":[{\"system\":\"" SYS
                "\",\"value\":\"%s\"}]},\"request\":{\"method\":"
                "\"POST\",\"url\":\"Patient\"}}",
                sep, tag, i, i, tag);
            break;
        case 1: {
            char id[64] = "";
            if (i + 3 < n) {
                snprintf(id, sizeof(id), "\"id\":\"%s-put-%d\",", tag, i);
            }
            len += (size_t)snprintf(
                b + len, cap - len,
                "%s{\"resource\":{\"resourceType\":\"Task\",%s"
                "\"status\":\"%s\",\"intent\":\"order\","
                "\"identifier\":[{\"system\":\"" SYS "\",\"value\":"
                "\"%s\"}]},\"request\":{\"method\":\"PUT\",\"url\":"
                "\"Task/%s-put-%d\"}}",
                sep, id, status, tag, tag, i);
            break;
        }
        default:
            len += (size_t)snprintf(
                b + len, cap - len,
                "%s{\"fullUrl\":\"urn:uuid:%s-0000-4000-8000-%012d\","
                "\"resource\":{\"resourceType\":\"Task\",\"status\":"
                "\"%s\",\"intent\":\"order\",\"identifier\":[{"
                "\"system\":\"" SYS "\",\"value\":\"%s\"}],\"for\":{"
                "\"reference\":\"urn:uuid:%s-0000-4000-8000-%012d\"}},"
                "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}",
                sep, tag, i, status, tag, tag, i - 2);
            break;
        }
    }
    snprintf(b + len, cap - len, "]}");
    return b;
}

/* Entries prepared ahead of the writes end as the same resources, rows
 * and answers as entries prepared one by one. */
static void
tx__many_entries_prepared_ahead(void **state)
{
    (void)state;
    enum { N = 60 }; /* above bundle.c's PREPARE_MIN_ENTRIES */
    char *b = big_bundle("0f6e1a2c", N, -1);
    th_resp *r = post_bundle(srv, b, NULL);
    free(b);
    assert_int_equal(r->status, 200);
    for (int i = 0; i < N; i++) {
        assert_string_equal(th_str(entry(r, i), "response.status"),
                            "201 Created");
    }
    /* 20 Patients, 40 Tasks, found through their index rows. */
    assert_int_equal(count(srv, "Patient?identifier=" SYS "|0f6e1a2c"), 20);
    assert_int_equal(count(srv, "Task?identifier=" SYS "|0f6e1a2c"), 40);
    for (int i = 2; i < N; i += 3) {
        char *task = ref_of(r, i), *pat = ref_of(r, i - 2);
        th_resp *t = get(srv, task);
        assert_int_equal(t->status, 200);
        assert_string_equal(th_str(t->json, "for.reference"), pat);
        th_free(t);
        char q[256];
        snprintf(q, sizeof(q), "Task?patient=%s&identifier=" SYS "|0f6e1a2c",
                 pat);
        assert_int_equal(count(srv, q), 1);
        /* A create's own id in the body is not kept. */
        t = get(srv, pat);
        assert_int_equal(strncmp(th_str(t->json, "id"), "ignored-", 8) != 0, 1);
        th_free(t);
        free(task);
        free(pat);
    }
    /* The last PUT had no id in its body: it got its URL's. */
    th_resp *t = get(srv, "Task/0f6e1a2c-put-58");
    assert_int_equal(t->status, 200);
    assert_string_equal(th_str(t->json, "id"), "0f6e1a2c-put-58");
    th_free(t);
    th_free(r);
}

/* A prepared entry that fails its checks fails the transaction as an
 * inline one does: named, and nothing written. */
static void
tx__prepared_entry_failure_rolls_back(void **state)
{
    (void)state;
    enum { N = 60, BAD = 47 };
    char *b = big_bundle("0f6e1a2d", N, BAD);
    th_resp *r = post_bundle(srv, b, NULL);
    free(b);
    assert_int_equal(r->status, 400);
    assert_string_equal(th_str(r->json, "resourceType"), "OperationOutcome");
    assert_non_null(
        strstr(th_str(r->json, "issue.0.diagnostics"), "Bundle.entry[47]"));
    th_free(r);
    assert_int_equal(count(srv, "Patient?identifier=" SYS "|0f6e1a2d"), 0);
    assert_int_equal(count(srv, "Task?identifier=" SYS "|0f6e1a2d"), 0);
    th_resp *g = get(srv, "Task/0f6e1a2d-put-1");
    assert_int_equal(g->status, 404);
    th_free(g);
}

/* Transactions prepared ahead, several at once (each with its preparing
 * thread, all waiting for the one writer), half of them failing at an
 * entry of their own: every Bundle is all or nothing. */
struct prepper {
    int who;
    int status[4];
};

static void *
prep_many(void *arg)
{
    struct prepper *pp = arg;
    for (int k = 0; k < 4; k++) {
        char tag[32];
        snprintf(tag, sizeof(tag), "0f6e3%d%d0", pp->who, k);
        /* a Task entry (index 2 mod 3), past the first writes */
        int bad = k % 2 ? 17 + 9 * pp->who : -1;
        char *b = big_bundle(tag, 48, bad);
        th_resp *r = post_bundle(srv, b, NULL);
        free(b);
        pp->status[k] = r->status;
        th_free(r);
    }
    return NULL;
}

static void
tx__prepared_bundles_at_once(void **state)
{
    (void)state;
    struct prepper pp[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        memset(&pp[i], 0, sizeof(pp[i]));
        pp[i].who = i;
        assert_int_equal(pthread_create(&t[i], NULL, prep_many, &pp[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
    }
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 4; k++) {
            char q[128];
            snprintf(q, sizeof(q), "Task?identifier=" SYS "|0f6e3%d%d0", i, k);
            assert_int_equal(pp[i].status[k], k % 2 ? 400 : 200);
            assert_int_equal(count(srv, q), k % 2 ? 0 : 32);
            snprintf(q, sizeof(q), "Patient?identifier=" SYS "|0f6e3%d%d0", i,
                     k);
            assert_int_equal(count(srv, q), k % 2 ? 0 : 16);
        }
    }
}

/* ifMatch inside a transaction: a stale version fails it all (412). */
static void
tx__if_match_conflict_rolls_back(void **state)
{
    (void)state;
    th_resp *r = th_req(srv, "PUT", "Task/tx-ifmatch",
                        "{\"resourceType\":\"Task\",\"id\":\"tx-ifmatch\","
                        "\"status\":\"ready\",\"intent\":\"order\"}",
                        NULL);
    assert_int_equal(r->status, 201);
    th_free(r);
    const char *b =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{"
        "\"system\":\"" SYS "\",\"value\":\"ifmatch\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"resource\":{\"resourceType\":\"Task\",\"id\":\"tx-ifmatch\","
        "\"status\":\"completed\",\"intent\":\"order\"},"
        "\"request\":{\"method\":\"PUT\",\"url\":\"Task/tx-ifmatch\","
        "\"ifMatch\":\"W/\\\"7\\\"\"}}]}";
    r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 412);
    assert_non_null(
        strstr(th_str(r->json, "issue.0.diagnostics"), "Bundle.entry[1]"));
    th_free(r);
    assert_int_equal(count(srv, "Patient?identifier=" SYS "|ifmatch"), 0);
    r = get(srv, "Task/tx-ifmatch");
    assert_string_equal(th_str(r->json, "status"), "ready");
    th_free(r);
}

/* Two entries for the same resource are an error; so are two entries
 * with one fullUrl. */
static void
tx__same_resource_twice_is_error(void **state)
{
    (void)state;
    const char *b =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Task\",\"id\":\"twice\","
        "\"status\":\"ready\",\"intent\":\"order\"},"
        "\"request\":{\"method\":\"PUT\",\"url\":\"Task/twice\"}},"
        "{\"request\":{\"method\":\"DELETE\",\"url\":\"Task/twice\"}}]}";
    th_resp *r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 400);
    assert_string_equal(th_issue(r), "duplicate");
    th_free(r);
    r = get(srv, "Task/twice");
    assert_int_equal(r->status, 404);
    th_free(r);
    const char *c =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"fullUrl\":\"urn:uuid:0f6e1a2b-0000-4000-8000-0000000000c1\","
        "\"resource\":{\"resourceType\":\"Patient\"},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"fullUrl\":\"urn:uuid:0f6e1a2b-0000-4000-8000-0000000000c1\","
        "\"resource\":{\"resourceType\":\"Patient\"},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}}]}";
    r = post_bundle(srv, c, NULL);
    assert_int_equal(r->status, 400);
    assert_string_equal(th_issue(r), "duplicate");
    th_free(r);
}

/* "Patient?identifier=sys|v" as a reference: exactly one match. */
static void
tx__conditional_reference(void **state)
{
    (void)state;
    char *p = th_create(srv, "Patient",
                        "{\"resourceType\":\"Patient\",\"identifier\":[{"
                        "\"system\":\"" SYS "\",\"value\":\"cref-1\"}]}");
    for (int i = 0; i < 2; i++) {
        free(th_create(srv, "Patient",
                       "{\"resourceType\":\"Patient\",\"identifier\":[{"
                       "\"system\":\"" SYS "\",\"value\":\"cref-2\"}]}"));
    }
    static const char *const fmt =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Task\",\"status\":\"ready\","
        "\"intent\":\"order\",\"identifier\":[{\"system\":\"" SYS "\","
        "\"value\":\"cref-task-%s\"}],\"for\":{\"reference\":"
        "\"Patient?identifier=" SYS "|%s\"}},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}";
    char *b = printf_alloc(fmt, "cref-1", "cref-1");
    th_resp *r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 200);
    char *task = ref_of(r, 0);
    th_resp *t = get(srv, task);
    char want[128];
    snprintf(want, sizeof(want), "Patient/%s", p);
    assert_string_equal(th_str(t->json, "for.reference"), want);
    th_free(t);
    th_free(r);
    free(b);
    free(task);
    /* No match, several matches: the transaction fails. */
    b = printf_alloc(fmt, "cref-0", "cref-0");
    r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 404);
    th_free(r);
    free(b);
    b = printf_alloc(fmt, "cref-2", "cref-2");
    r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 412);
    assert_string_equal(th_issue(r), "multiple-matches");
    th_free(r);
    free(b);
    assert_int_equal(count(srv, "Task?identifier=" SYS "|cref-task-cref-0"), 0);
    free(p);
}

/* ifNoneExist in a transaction: a match is answered 200 and references
 * to the entry's fullUrl point at the existing resource. */
static void
tx__conditional_create(void **state)
{
    (void)state;
    char *p = th_create(srv, "Patient",
                        "{\"resourceType\":\"Patient\",\"identifier\":[{"
                        "\"system\":\"" SYS "\",\"value\":\"ccreate\"}]}");
    const char *b =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"fullUrl\":\"urn:uuid:0f6e1a2b-0000-4000-8000-0000000000d1\","
        "\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{"
        "\"system\":\"" SYS "\",\"value\":\"ccreate\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\","
        "\"ifNoneExist\":\"identifier=" SYS "|ccreate\"}},"
        "{\"fullUrl\":\"urn:uuid:0f6e1a2b-0000-4000-8000-0000000000d2\","
        "\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{"
        "\"system\":\"" SYS "\",\"value\":\"ccreate-new\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\","
        "\"ifNoneExist\":\"identifier=" SYS "|ccreate-new\"}},"
        "{\"resource\":{\"resourceType\":\"Task\",\"status\":\"ready\","
        "\"intent\":\"order\",\"for\":{\"reference\":"
        "\"urn:uuid:0f6e1a2b-0000-4000-8000-0000000000d1\"}},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}";
    th_resp *r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(entry(r, 0), "response.status"), "200 OK");
    assert_string_equal(th_str(entry(r, 1), "response.status"), "201 Created");
    char want[128];
    snprintf(want, sizeof(want), "Patient/%s", p);
    char *got = ref_of(r, 0);
    assert_string_equal(got, want);
    char *task = ref_of(r, 2);
    th_resp *t = get(srv, task);
    assert_string_equal(th_str(t->json, "for.reference"), want);
    th_free(t);
    assert_int_equal(count(srv, "Patient?identifier=" SYS "|ccreate"), 1);
    assert_int_equal(count(srv, "Patient?identifier=" SYS "|ccreate-new"), 1);
    free(got);
    free(task);
    free(p);
    th_free(r);
}

/* Conditional update and delete by criteria inside a transaction, with a
 * fullUrl in the criteria. */
static void
tx__conditional_update_and_delete(void **state)
{
    (void)state;
    char *p = th_create(srv, "Patient",
                        "{\"resourceType\":\"Patient\",\"identifier\":[{"
                        "\"system\":\"" SYS "\",\"value\":\"cupd\"}],"
                        "\"gender\":\"male\"}");
    char *body = printf_alloc("{\"resourceType\":\"Task\",\"status\":"
                              "\"ready\",\"intent\":\"order\",\"for\":{"
                              "\"reference\":\"Patient/%s\"}}",
                              p);
    char *t = th_create(srv, "Task", body);
    free(body);
    char *b = printf_alloc(
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"fullUrl\":\"urn:uuid:0f6e1a2b-0000-4000-8000-0000000000e1\","
        "\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{"
        "\"system\":\"" SYS "\",\"value\":\"cupd\"}],\"gender\":\"female\"},"
        "\"request\":{\"method\":\"PUT\",\"url\":\"Patient?identifier=" SYS
        "|cupd\"}},"
        "{\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{"
        "\"system\":\"" SYS "\",\"value\":\"cupd-new\"}]},"
        "\"request\":{\"method\":\"PUT\",\"url\":\"Patient?identifier=" SYS
        "|cupd-new\"}},"
        "{\"request\":{\"method\":\"DELETE\",\"url\":"
        "\"Task?subject=urn:uuid:0f6e1a2b-0000-4000-8000-0000000000e1\"}}"
        "]}");
    th_resp *r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(entry(r, 0), "response.status"), "200 OK");
    assert_string_equal(th_str(entry(r, 0), "response.etag"), "W/\"2\"");
    assert_string_equal(th_str(entry(r, 1), "response.status"), "201 Created");
    char url[128];
    snprintf(url, sizeof(url), "Patient/%s", p);
    th_resp *g = get(srv, url);
    assert_string_equal(th_str(g->json, "gender"), "female");
    th_free(g);
    snprintf(url, sizeof(url), "Task/%s", t);
    g = get(srv, url);
    assert_int_equal(g->status, 410);
    th_free(g);
    assert_int_equal(count(srv, "Patient?identifier=" SYS "|cupd-new"), 1);
    th_free(r);
    free(b);
    free(p);
    free(t);
}

/* Prefer: return=representation puts each written resource in its
 * response entry. */
static void
tx__prefer_representation(void **state)
{
    (void)state;
    const char *b =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Practitioner\",\"name\":[{"
        "\"family\":\"Repr\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Practitioner\"}}]}";
    th_resp *r = post_bundle(srv, b, "Prefer: return=representation");
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(entry(r, 0), "resource.resourceType"),
                        "Practitioner");
    assert_string_equal(th_str(entry(r, 0), "resource.meta.versionId"), "1");
    th_free(r);
    r = post_bundle(srv, b, NULL);
    assert_null(cJSON_GetObjectItem(entry(r, 0), "resource"));
    th_free(r);
}

/* ---- idempotent retries ------------------------------------------------- */

static void
tx__retry_with_same_identifier_is_replayed(void **state)
{
    (void)state;
    static const char *const fmt =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\","
        "\"identifier\":{\"system\":\"" SYS "\",\"value\":\"retry-1\"},"
        "\"entry\":[{\"resource\":{\"resourceType\":\"Task\",\"status\":"
        "\"ready\",\"intent\":\"order\",\"identifier\":[{\"system\":\"" SYS
        "\",\"value\":\"%s\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}";
    char *b = printf_alloc(fmt, "retry");
    th_resp *first = post_bundle(srv, b, NULL);
    assert_int_equal(first->status, 200);
    th_resp *again = post_bundle(srv, b, NULL);
    assert_int_equal(again->status, 200);
    /* The same answer, byte for byte, and nothing run twice. */
    assert_string_equal(first->body, again->body);
    assert_int_equal(count(srv, "Task?identifier=" SYS "|retry"), 1);
    th_free(again);
    free(b);
    /* The identifier reused for another transaction is refused. */
    b = printf_alloc(fmt, "retry-other");
    again = post_bundle(srv, b, NULL);
    assert_int_equal(again->status, 409);
    assert_int_equal(count(srv, "Task?identifier=" SYS "|retry-other"), 0);
    th_free(again);
    free(b);
    th_free(first);
}

/* A failed transaction is not kept: its retry runs again. */
static void
tx__failed_transaction_is_not_replayed(void **state)
{
    (void)state;
    static const char *const fmt =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\","
        "\"identifier\":{\"system\":\"" SYS "\",\"value\":\"retry-2\"},"
        "\"entry\":[{\"resource\":{\"resourceType\":\"Task\",\"status\":"
        "\"ready\",\"intent\":\"order\",\"identifier\":[{\"system\":\"" SYS
        "\",\"value\":\"retry-2\"}],\"for\":{\"reference\":"
        "\"Patient?identifier=" SYS "|retry-2-patient\"}},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}";
    th_resp *r = post_bundle(srv, fmt, NULL);
    assert_int_equal(r->status, 404);
    th_free(r);
    free(th_create(srv, "Patient",
                   "{\"resourceType\":\"Patient\",\"identifier\":[{"
                   "\"system\":\"" SYS "\",\"value\":\"retry-2-patient\"}]}"));
    r = post_bundle(srv, fmt, NULL);
    assert_int_equal(r->status, 200);
    th_free(r);
    assert_int_equal(count(srv, "Task?identifier=" SYS "|retry-2"), 1);
}

/* ---- batch -------------------------------------------------------------- */

static void
batch__entries_are_independent(void **state)
{
    (void)state;
    const char *b =
        "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Task\",\"status\":\"ready\","
        "\"intent\":\"order\",\"identifier\":[{\"system\":\"" SYS "\","
        "\"value\":\"batch-ok\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}},"
        "{\"resource\":{\"resourceType\":\"Task\",\"status\":\"bad\","
        "\"intent\":\"order\",\"identifier\":[{\"system\":\"" SYS "\","
        "\"value\":\"batch-bad\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}},"
        "{\"request\":{\"method\":\"GET\",\"url\":\"Task/no-such-task\"}},"
        "{\"request\":{\"method\":\"GET\",\"url\":\"Task?identifier=" SYS
        "|batch-ok\"}},"
        "{\"request\":{\"method\":\"BREW\",\"url\":\"Task\"}},"
        "{\"resource\":{\"resourceType\":\"Task\",\"status\":\"ready\","
        "\"intent\":\"order\",\"identifier\":[{\"system\":\"" SYS "\","
        "\"value\":\"batch-ok\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\",\"ifNoneExist\":"
        "\"identifier=" SYS "|batch-ok\"}}]}";
    th_resp *r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "type"), "batch-response");
    assert_string_equal(th_str(entry(r, 0), "response.status"), "201 Created");
    assert_string_equal(th_str(entry(r, 1), "response.status"),
                        "400 Bad Request");
    assert_string_equal(th_str(entry(r, 1), "response.outcome.resourceType"),
                        "OperationOutcome");
    assert_string_equal(th_str(entry(r, 2), "response.status"),
                        "404 Not Found");
    assert_string_equal(th_str(entry(r, 3), "response.status"), "200 OK");
    cJSON *found = cJSON_GetObjectItem(entry(r, 3), "resource");
    assert_int_equal(cJSON_GetObjectItem(found, "total")->valueint, 1);
    assert_string_equal(th_str(entry(r, 4), "response.status"),
                        "400 Bad Request");
    /* Conditional create inside a batch sees the first entry's create. */
    assert_string_equal(th_str(entry(r, 5), "response.status"), "200 OK");
    th_free(r);
    assert_int_equal(count(srv, "Task?identifier=" SYS "|batch-ok"), 1);
    assert_int_equal(count(srv, "Task?identifier=" SYS "|batch-bad"), 0);
}

static void
bundle__wrong_type_or_resource(void **state)
{
    (void)state;
    th_resp *r = post_bundle(
        srv, "{\"resourceType\":\"Bundle\",\"type\":\"collection\"}", NULL);
    assert_int_equal(r->status, 400);
    th_free(r);
    r = post_bundle(srv, "{\"resourceType\":\"Task\",\"status\":\"ready\"}",
                    NULL);
    assert_int_equal(r->status, 400);
    th_free(r);
    r = post_bundle(srv,
                    "{\"resourceType\":\"Bundle\",\"type\":\"transaction\","
                    "\"entry\":[{\"resource\":{\"resourceType\":\"Task\"}}]}",
                    NULL);
    assert_int_equal(r->status, 400);
    assert_non_null(
        strstr(th_str(r->json, "issue.0.diagnostics"), "Bundle.entry[0]"));
    th_free(r);
    /* No Bundle inside a Bundle. */
    r = post_bundle(srv,
                    "{\"resourceType\":\"Bundle\",\"type\":\"transaction\","
                    "\"entry\":[{\"resource\":{\"resourceType\":\"Bundle\","
                    "\"type\":\"transaction\"},\"request\":{\"method\":"
                    "\"POST\",\"url\":\"\"}}]}",
                    NULL);
    assert_int_equal(r->status, 400);
    th_free(r);
    /* An empty transaction is a transaction that does nothing. */
    r = post_bundle(
        srv, "{\"resourceType\":\"Bundle\",\"type\":\"transaction\"}", NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "type"), "transaction-response");
    th_free(r);
}

/* ---- limits --------------------------------------------------------- */

static void
limits__too_many_entries_is_413(void **state)
{
    (void)state;
    char b[4096];
    size_t n = (size_t)snprintf(b, sizeof(b),
                                "{\"resourceType\":\"Bundle\",\"type\":"
                                "\"transaction\",\"entry\":[");
    for (int i = 0; i < 4; i++) {
        n += (size_t)snprintf(
            b + n, sizeof(b) - n,
            "%s{\"resource\":{\"resourceType\":\"Task\",\"status\":\"ready\","
            "\"intent\":\"order\",\"identifier\":[{\"system\":\"" SYS "\","
            "\"value\":\"limit\"}]},\"request\":{\"method\":\"POST\","
            "\"url\":\"Task\"}}",
            i ? "," : "");
    }
    snprintf(b + n, sizeof(b) - n, "]}");
    th_resp *r = post_bundle(tight, b, NULL);
    assert_int_equal(r->status, 413);
    assert_string_equal(th_issue(r), "too-long");
    th_free(r);
    assert_int_equal(count(tight, "Task?identifier=" SYS "|limit"), 0);
    /* Over the body size (--max-body 16384). */
    char *big = malloc(40000);
    n = (size_t)snprintf(big, 40000,
                         "{\"resourceType\":\"Bundle\",\"type\":\"batch\","
                         "\"entry\":[{\"resource\":{\"resourceType\":"
                         "\"Task\",\"status\":\"ready\",\"intent\":"
                         "\"order\",\"description\":\"");
    memset(big + n, 'x', 30000);
    snprintf(big + n + 30000, 40000 - n - 30000,
             "\"},\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}");
    r = post_bundle(tight, big, NULL);
    assert_int_equal(r->status, 413);
    th_free(r);
    free(big);
    assert_int_equal(count(tight, "Task"), 0);
}

/* ---- conditional operations at the REST endpoints ------------------- */

static th_resp *
post_if_none_exist(th_server *s, const char *value)
{
    char hdr[256], body[512];
    snprintf(hdr, sizeof(hdr), "If-None-Exist: identifier=" SYS "|%s", value);
    snprintf(body, sizeof(body),
             "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":"
             "\"" SYS "\",\"value\":\"%s\"}]}",
             value);
    const char *h[] = {hdr, NULL};
    return th_req(s, "POST", "Patient", body, h);
}

static void
rest__conditional_create(void **state)
{
    (void)state;
    th_resp *a = post_if_none_exist(srv, "rest-cc");
    assert_int_equal(a->status, 201);
    th_resp *b = post_if_none_exist(srv, "rest-cc");
    assert_int_equal(b->status, 200);
    assert_string_equal(th_str(a->json, "id"), th_str(b->json, "id"));
    assert_string_equal(th_header(b, "ETag"), "W/\"1\"");
    th_free(a);
    th_free(b);
    free(th_create(srv, "Patient",
                   "{\"resourceType\":\"Patient\",\"identifier\":[{"
                   "\"system\":\"" SYS "\",\"value\":\"rest-cc\"}]}"));
    a = post_if_none_exist(srv, "rest-cc");
    assert_int_equal(a->status, 412);
    assert_string_equal(th_issue(a), "multiple-matches");
    th_free(a);
    /* Criteria must be known parameters: never silently ignored. */
    const char *h[] = {"If-None-Exist: no-such-param=1", NULL};
    a = th_req(srv, "POST", "Patient", "{\"resourceType\":\"Patient\"}", h);
    assert_int_equal(a->status, 400);
    th_free(a);
}

static void
rest__conditional_update(void **state)
{
    (void)state;
    const char *body = "{\"resourceType\":\"Patient\",\"identifier\":[{"
                       "\"system\":\"" SYS "\",\"value\":\"rest-cu\"}],"
                       "\"gender\":\"%s\"}";
    char b[512];
    snprintf(b, sizeof(b), body, "male");
    th_resp *r =
        th_req(srv, "PUT", "Patient?identifier=" SYS "|rest-cu", b, NULL);
    assert_int_equal(r->status, 201);
    char *id = strdup(th_str(r->json, "id"));
    th_free(r);
    snprintf(b, sizeof(b), body, "female");
    r = th_req(srv, "PUT", "Patient?identifier=" SYS "|rest-cu", b, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "id"), id);
    assert_string_equal(th_str(r->json, "meta.versionId"), "2");
    assert_string_equal(th_str(r->json, "gender"), "female");
    th_free(r);
    /* A body id that is not the match's is refused. */
    r = th_req(srv, "PUT", "Patient?identifier=" SYS "|rest-cu",
               "{\"resourceType\":\"Patient\",\"id\":\"other\"}", NULL);
    assert_int_equal(r->status, 400);
    th_free(r);
    /* If-Match applies to the match. */
    const char *h[] = {"If-Match: W/\"1\"", NULL};
    r = th_req(srv, "PUT", "Patient?identifier=" SYS "|rest-cu", b, h);
    assert_int_equal(r->status, 412);
    th_free(r);
    free(th_create(srv, "Patient", b));
    r = th_req(srv, "PUT", "Patient?identifier=" SYS "|rest-cu", b, NULL);
    assert_int_equal(r->status, 412);
    th_free(r);
    r = th_req(srv, "PUT", "Patient", b, NULL);
    assert_int_equal(r->status, 400); /* no criteria */
    th_free(r);
    free(id);
}

static void
rest__conditional_delete(void **state)
{
    (void)state;
    const char *body = "{\"resourceType\":\"Task\",\"status\":\"ready\","
                       "\"intent\":\"order\",\"identifier\":[{\"system\":"
                       "\"" SYS "\",\"value\":\"rest-cd\"}]}";
    free(th_create(srv, "Task", body));
    th_resp *r =
        th_req(srv, "DELETE", "Task?identifier=" SYS "|rest-cd", NULL, NULL);
    assert_int_equal(r->status, 200);
    th_free(r);
    assert_int_equal(count(srv, "Task?identifier=" SYS "|rest-cd"), 0);
    /* No match: nothing to do, still fine. */
    r = th_req(srv, "DELETE", "Task?identifier=" SYS "|rest-cd", NULL, NULL);
    assert_int_equal(r->status, 200);
    th_free(r);
    /* Several: refused by default ... */
    free(th_create(srv, "Task", body));
    free(th_create(srv, "Task", body));
    r = th_req(srv, "DELETE", "Task?identifier=" SYS "|rest-cd", NULL, NULL);
    assert_int_equal(r->status, 412);
    th_free(r);
    assert_int_equal(count(srv, "Task?identifier=" SYS "|rest-cd"), 2);
    /* ... allowed up to the limit where the server opts in. */
    for (int i = 0; i < 3; i++) {
        free(th_create(tight, "Task", body));
    }
    r = th_req(tight, "DELETE", "Task?identifier=" SYS "|rest-cd", NULL, NULL);
    assert_int_equal(r->status, 200);
    th_free(r);
    assert_int_equal(count(tight, "Task?identifier=" SYS "|rest-cd"), 0);
    for (int i = 0; i < 6; i++) {
        free(th_create(tight, "Task", body));
    }
    r = th_req(tight, "DELETE", "Task?identifier=" SYS "|rest-cd", NULL, NULL);
    assert_int_equal(r->status, 412);
    th_free(r);
    assert_int_equal(count(tight, "Task?identifier=" SYS "|rest-cd"), 6);
}

/* Eight clients send the same conditional create at once, by REST and
 * by transaction: exactly one resource exists each time. */
struct racer {
    pthread_barrier_t *bar;
    const char *value;
    int bundle;
    long status;
};

static void *
race(void *arg)
{
    struct racer *rc = arg;
    char b[1024];
    pthread_barrier_wait(rc->bar);
    th_resp *r;
    if (rc->bundle) {
        snprintf(b, sizeof(b),
                 "{\"resourceType\":\"Bundle\",\"type\":\"transaction\","
                 "\"entry\":[{\"resource\":{\"resourceType\":\"Patient\","
                 "\"identifier\":[{\"system\":\"" SYS "\",\"value\":\"%s\"}]},"
                 "\"request\":{\"method\":\"POST\",\"url\":\"Patient\","
                 "\"ifNoneExist\":\"identifier=" SYS "|%s\"}}]}",
                 rc->value, rc->value);
        r = post_bundle(srv, b, NULL);
        rc->status = r->status == 200
                         ? atol(th_str(entry(r, 0), "response.status"))
                         : r->status;
    } else {
        r = post_if_none_exist(srv, rc->value);
        rc->status = r->status;
    }
    th_free(r);
    return NULL;
}

static void
race_round(const char *value, int bundle)
{
    enum { N = 8 };
    pthread_barrier_t bar;
    pthread_t t[N];
    struct racer rc[N];
    pthread_barrier_init(&bar, NULL, N);
    for (int i = 0; i < N; i++) {
        rc[i] = (struct racer){&bar, value, bundle, 0};
        pthread_create(&t[i], NULL, race, &rc[i]);
    }
    int created = 0, found = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        created += rc[i].status == 201;
        found += rc[i].status == 200;
    }
    pthread_barrier_destroy(&bar);
    assert_int_equal(created, 1);
    assert_int_equal(found, N - 1);
    char q[128];
    snprintf(q, sizeof(q), "Patient?identifier=" SYS "|%s", value);
    assert_int_equal(count(srv, q), 1);
}

static void
rest__concurrent_conditional_create_makes_one(void **state)
{
    (void)state;
    char v[32];
    for (int round = 0; round < 5; round++) {
        snprintf(v, sizeof(v), "race-rest-%d", round);
        race_round(v, 0);
        snprintf(v, sizeof(v), "race-tx-%d", round);
        race_round(v, 1);
    }
}

/* ---- PATCH ------------------------------------------------------------ */

static th_resp *
patch(th_server *s, const char *url, const char *ctype, const char *body,
      const char *if_match)
{
    char ct[96], im[64];
    snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
    snprintf(im, sizeof(im), "If-Match: %s", if_match ? if_match : "");
    const char *h[] = {ct, if_match ? im : NULL, NULL};
    return th_req(s, "PATCH", url, body, h);
}

#define JSON_PATCH "application/json-patch+json"
#define FHIR_JSON "application/fhir+json"

static void
put_task(const char *id, const char *extra)
{
    char b[1024];
    char url[128];
    snprintf(b, sizeof(b),
             "{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":\"ready\","
             "\"intent\":\"order\"%s}",
             id, extra ? extra : "");
    snprintf(url, sizeof(url), "Task/%s", id);
    th_resp *r = th_req(srv, "PUT", url, b, NULL);
    assert_true(r->status == 200 || r->status == 201);
    th_free(r);
}

/* RFC 6902: all six operations, applied in order, as one new version that
 * is indexed and kept in history like an update. */
static void
patch__json_patch_six_ops(void **state)
{
    (void)state;
    put_task("jp-1", ",\"description\":\"old\",\"note\":[{\"text\":\"a\"},"
                     "{\"text\":\"b\"}],\"priority\":\"routine\"");
    th_resp *r = patch(
        srv, "Task/jp-1", JSON_PATCH,
        "[{\"op\":\"test\",\"path\":\"/status\",\"value\":\"ready\"},"
        "{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"in-progress\"},"
        "{\"op\":\"add\",\"path\":\"/owner\",\"value\":{\"reference\":"
        "\"Practitioner/jp-nurse\"}},"
        "{\"op\":\"remove\",\"path\":\"/priority\"},"
        "{\"op\":\"move\",\"from\":\"/note/0\",\"path\":\"/note/-\"},"
        "{\"op\":\"copy\",\"from\":\"/description\",\"path\":"
        "\"/businessStatus\"}]",
        NULL);
    assert_int_equal(r->status, 422); /* businessStatus is not a string */
    th_free(r);
    r = patch(srv, "Task/jp-1", JSON_PATCH,
              "[{\"op\":\"test\",\"path\":\"/status\",\"value\":\"ready\"},"
              "{\"op\":\"replace\",\"path\":\"/status\",\"value\":"
              "\"in-progress\"},"
              "{\"op\":\"add\",\"path\":\"/owner\",\"value\":{\"reference\":"
              "\"Practitioner/jp-nurse\"}},"
              "{\"op\":\"remove\",\"path\":\"/priority\"},"
              "{\"op\":\"move\",\"from\":\"/note/0\",\"path\":\"/note/-\"},"
              "{\"op\":\"copy\",\"from\":\"/note/0\",\"path\":\"/note/-\"}]",
              "W/\"1\"");
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "meta.versionId"), "2");
    assert_string_equal(th_str(r->json, "status"), "in-progress");
    assert_string_equal(th_str(r->json, "owner.reference"),
                        "Practitioner/jp-nurse");
    assert_null(cJSON_GetObjectItem(r->json, "priority"));
    assert_string_equal(th_str(r->json, "note.0.text"), "b");
    assert_string_equal(th_str(r->json, "note.1.text"), "a");
    assert_string_equal(th_str(r->json, "note.2.text"), "b");
    assert_string_equal(th_header(r, "ETag"), "W/\"2\"");
    th_free(r);
    assert_int_equal(
        count(srv, "Task?_id=jp-1&status=in-progress&owner=Practitioner/"
                   "jp-nurse"),
        1);
    assert_int_equal(count(srv, "Task?_id=jp-1&status=ready"), 0);
    r = get(srv, "Task/jp-1/_history");
    assert_string_equal(th_str(entry(r, 0), "request.method"), "PATCH");
    th_free(r);
}

/* A failed `test`, a path that is not there, a malformed document, the
 * wrong media type: nothing changes. */
static void
patch__errors_change_nothing(void **state)
{
    (void)state;
    put_task("jp-2", NULL);
    static const struct {
        const char *ct, *body;
        long status;
    } bad[] = {
        {JSON_PATCH,
         "[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"on-hold\"},"
         "{\"op\":\"test\",\"path\":\"/intent\",\"value\":\"plan\"}]",
         422},
        {JSON_PATCH, "[{\"op\":\"remove\",\"path\":\"/owner\"}]", 422},
        {JSON_PATCH, "[{\"op\":\"jump\",\"path\":\"/status\"}]", 400},
        {JSON_PATCH, "{\"op\":\"remove\"}", 400},
        {JSON_PATCH, "[{\"op\":\"replace\",\"path\":\"/id\",\"value\":\"x\"}]",
         422},
        {JSON_PATCH, "[{\"op\":\"remove\",\"path\":\"/intent\"}]", 422},
        {"text/plain", "status=done", 415},
        {FHIR_JSON,
         "{\"resourceType\":\"Parameters\",\"parameter\":[{"
         "\"name\":\"operation\",\"part\":[{\"name\":\"type\","
         "\"valueCode\":\"replace\"},{\"name\":\"path\","
         "\"valueString\":\"Task.status\"},{\"name\":\"value\","
         "\"valueCode\":\"bogus\"}]}]}",
         422},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        th_resp *r = patch(srv, "Task/jp-2", bad[i].ct, bad[i].body, NULL);
        if (r->status != bad[i].status) {
            fprintf(stderr, "case %zu: %ld %s\n", i, r->status, r->body);
        }
        assert_int_equal(r->status, bad[i].status);
        assert_string_equal(th_str(r->json, "resourceType"),
                            "OperationOutcome");
        th_free(r);
    }
    th_resp *r = get(srv, "Task/jp-2");
    assert_string_equal(th_str(r->json, "meta.versionId"), "1");
    assert_string_equal(th_str(r->json, "status"), "ready");
    th_free(r);
    r = patch(srv, "Task/jp-missing", JSON_PATCH, "[]", NULL);
    assert_int_equal(r->status, 404);
    th_free(r);
}

/* FHIRPath Patch: add, insert, delete, replace, move. */
static void
patch__fhirpath_patch(void **state)
{
    (void)state;
    put_task("fp-1", ",\"owner\":{\"reference\":\"Practitioner/x\"},"
                     "\"input\":[{\"type\":{\"text\":\"a\"},\"valueString\":"
                     "\"1\"},{\"type\":{\"text\":\"b\"},\"valueString\":"
                     "\"2\"}]");
#define OP(type, rest)                                                         \
    "{\"name\":\"operation\",\"part\":[{\"name\":\"type\",\"valueCode\":"      \
    "\"" type "\"}," rest "]}"
    const char *body = "{\"resourceType\":\"Parameters\",\"parameter\":[" OP(
        "add",
        "{\"name\":\"path\",\"valueString\":\"Task\"},"
        "{\"name\":\"name\",\"valueString\":\"note\"},"
        "{\"name\":\"value\",\"valueAnnotation\":{\"text\":"
        "\"called\"}}") "," OP("insert",
                               "{\"name\":\"path\","
                               "\"valueString\":\"Task.input\"},"
                               "{\"name\":\"index\","
                               "\"valueInteger\":0},"
                               "{\"name\":\"value\",\"part\":[{"
                               "\"name\":\"type\","
                               "\"valueCodeableConcept\":{"
                               "\"text\":\"z\"}},{\"name\":"
                               "\"value\",\"valueString\":\"0\"}]"
                               "}") "," OP("delete",
                                           "{\"name\":\"path\","
                                           "\"valueString\":"
                                           "\"Task.owner\"}") "," OP("replace",
                                                                     "{\"name\""
                                                                     ":\"path\""
                                                                     ",\"valueS"
                                                                     "tring\":"
                                                                     "\"Task."
                                                                     "status\"}"
                                                                     ","
                                                                     "{\"name\""
                                                                     ":\"value"
                                                                     "\","
                                                                     "\"valueCo"
                                                                     "de\":"
                                                                     "\"on-"
                                                                     "hold\"}") "," OP("move",
                                                                                       "{\"name\":\"path\",\"valueString\":\"Task.input\"},"
                                                                                       "{\"name\":\"source\",\"valueInteger\":2},"
                                                                                       "{\"name\":\"destination\",\"valueInteger\":0}") "]}";
#undef OP
    th_resp *r = patch(srv, "Task/fp-1", FHIR_JSON, body, NULL);
    if (r->status != 200) {
        fprintf(stderr, "%s\n", r->body);
    }
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "note.0.text"), "called");
    assert_null(cJSON_GetObjectItem(r->json, "owner"));
    assert_string_equal(th_str(r->json, "status"), "on-hold");
    assert_string_equal(th_str(r->json, "input.0.valueString"), "2");
    assert_string_equal(th_str(r->json, "input.1.valueString"), "0");
    assert_string_equal(th_str(r->json, "input.2.valueString"), "1");
    th_free(r);
    assert_int_equal(count(srv, "Task?_id=fp-1&owner:missing=true"), 1);
}

/* PATCH by criteria: exactly one match. */
static void
patch__conditional(void **state)
{
    (void)state;
    put_task("cp-1", ",\"identifier\":[{\"system\":\"" SYS "\",\"value\":"
                     "\"cpatch\"}]");
    const char *doc =
        "[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"cancelled\"}]";
    th_resp *r =
        patch(srv, "Task?identifier=" SYS "|cpatch", JSON_PATCH, doc, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "id"), "cp-1");
    th_free(r);
    r = patch(srv, "Task?identifier=" SYS "|cpatch-none", JSON_PATCH, doc,
              NULL);
    assert_int_equal(r->status, 404);
    th_free(r);
    put_task("cp-2", ",\"identifier\":[{\"system\":\"" SYS "\",\"value\":"
                     "\"cpatch\"}]");
    r = patch(srv, "Task?identifier=" SYS "|cpatch", JSON_PATCH, doc, NULL);
    assert_int_equal(r->status, 412);
    th_free(r);
}

/* PATCH entries in a transaction: a JSON Patch as a Binary, a FHIRPath
 * Patch as Parameters; one failing rolls all back. */
static void
patch__in_transaction(void **state)
{
    (void)state;
    put_task("tp-1", NULL);
    put_task("tp-2", NULL);
    /* [{"op":"replace","path":"/status","value":"completed"}] */
    const char *b64 = "W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9zdGF0dXMiLCJ2YWx1ZSI6"
                      "ImNvbXBsZXRlZCJ9XQ==";
    char *b = printf_alloc(
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Binary\",\"contentType\":"
        "\"application/json-patch+json\",\"data\":\"%s\"},"
        "\"request\":{\"method\":\"PATCH\",\"url\":\"Task/tp-1\"}},"
        "{\"resource\":{\"resourceType\":\"Parameters\",\"parameter\":[{"
        "\"name\":\"operation\",\"part\":[{\"name\":\"type\",\"valueCode\":"
        "\"replace\"},{\"name\":\"path\",\"valueString\":\"Task.status\"},"
        "{\"name\":\"value\",\"valueCode\":\"%s\"}]}]},"
        "\"request\":{\"method\":\"PATCH\",\"url\":\"Task/tp-2\"}}]}",
        b64, "bogus");
    th_resp *r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 422);
    assert_non_null(
        strstr(th_str(r->json, "issue.0.diagnostics"), "Bundle.entry[1]"));
    th_free(r);
    r = get(srv, "Task/tp-1");
    assert_string_equal(th_str(r->json, "status"), "ready");
    th_free(r);
    free(b);
    b = printf_alloc(
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Binary\",\"contentType\":"
        "\"application/json-patch+json\",\"data\":\"%s\"},"
        "\"request\":{\"method\":\"PATCH\",\"url\":\"Task/tp-1\"}},"
        "{\"resource\":{\"resourceType\":\"Parameters\",\"parameter\":[{"
        "\"name\":\"operation\",\"part\":[{\"name\":\"type\",\"valueCode\":"
        "\"replace\"},{\"name\":\"path\",\"valueString\":\"Task.status\"},"
        "{\"name\":\"value\",\"valueCode\":\"%s\"}]}]},"
        "\"request\":{\"method\":\"PATCH\",\"url\":\"Task/tp-2\"}}]}",
        b64, "on-hold");
    r = post_bundle(srv, b, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(entry(r, 0), "response.status"), "200 OK");
    assert_string_equal(th_str(entry(r, 1), "response.etag"), "W/\"2\"");
    th_free(r);
    free(b);
    r = get(srv, "Task/tp-1");
    assert_string_equal(th_str(r->json, "status"), "completed");
    th_free(r);
    r = get(srv, "Task/tp-2");
    assert_string_equal(th_str(r->json, "status"), "on-hold");
    th_free(r);
}

/* ---- claiming a task ------------------------------------------------------
 */

/* Two workers PATCH the same ready Task with If-Match of the version they
 * saw, setting themselves as owner: exactly one wins, the other gets 412
 * and, reading again, sees the winner. */
struct claimer {
    pthread_barrier_t *bar;
    const char *url, *who;
    long status;
};

static void *
claim(void *arg)
{
    struct claimer *c = arg;
    char doc[512];
    snprintf(doc, sizeof(doc),
             "[{\"op\":\"test\",\"path\":\"/status\",\"value\":\"ready\"},"
             "{\"op\":\"replace\",\"path\":\"/status\",\"value\":"
             "\"in-progress\"},"
             "{\"op\":\"add\",\"path\":\"/owner\",\"value\":{\"reference\":"
             "\"Practitioner/%s\"}}]",
             c->who);
    pthread_barrier_wait(c->bar);
    th_resp *r = patch(srv, c->url, JSON_PATCH, doc, "W/\"1\"");
    c->status = r->status;
    th_free(r);
    return NULL;
}

static void
claim__exactly_one_worker_wins(void **state)
{
    (void)state;
    for (int round = 0; round < 20; round++) {
        char id[32], url[64];
        snprintf(id, sizeof(id), "claim-%d", round);
        snprintf(url, sizeof(url), "Task/%s", id);
        put_task(id, NULL);
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, 2);
        struct claimer a = {&bar, url, "worker-a", 0};
        struct claimer b = {&bar, url, "worker-b", 0};
        pthread_t ta, tb;
        pthread_create(&ta, NULL, claim, &a);
        pthread_create(&tb, NULL, claim, &b);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&bar);
        assert_true((a.status == 200 && b.status == 412) ||
                    (a.status == 412 && b.status == 200));
        const char *winner =
            a.status == 200 ? "Practitioner/worker-a" : "Practitioner/worker-b";
        th_resp *r = get(srv, url);
        assert_string_equal(th_str(r->json, "owner.reference"), winner);
        assert_string_equal(th_str(r->json, "status"), "in-progress");
        assert_string_equal(th_str(r->json, "meta.versionId"), "2");
        th_free(r);
    }
}

/* ---- the CapabilityStatement ------------------------------------------ */

static void
capability__announces_exchange(void **state)
{
    (void)state;
    th_resp *r = get(srv, "metadata");
    cJSON *rest = cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "rest"), 0);
    int tx = 0, batch = 0, patches = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(rest, "interaction"))
    {
        const char *code = th_str(it, "code");
        tx += strcmp(code, "transaction") == 0;
        batch += strcmp(code, "batch") == 0;
    }
    assert_int_equal(tx, 1);
    assert_int_equal(batch, 1);
    cJSON *task = cJSON_GetArrayItem(cJSON_GetObjectItem(rest, "resource"), 0);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(task, "interaction"))
    {
        patches += strcmp(th_str(it, "code"), "patch") == 0;
    }
    assert_int_equal(patches, 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(task, "conditionalCreate")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(task, "conditionalUpdate")));
    assert_string_equal(th_str(task, "conditionalDelete"), "single");
    th_free(r);
    r = get(tight, "metadata");
    rest = cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "rest"), 0);
    task = cJSON_GetArrayItem(cJSON_GetObjectItem(rest, "resource"), 0);
    assert_string_equal(th_str(task, "conditionalDelete"), "multiple");
    th_free(r);
}

static int
setup(void **state)
{
    (void)state;
    static const char *const flags[] = {"--max-bundle-entries",
                                        "3",
                                        "--cond-delete-max",
                                        "5",
                                        "--max-body",
                                        "16384",
                                        NULL};
    srv = th_start(NULL);
    tight = th_start_flags(flags);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    th_stop(srv);
    th_stop(tight);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tx__urn_uuid_references_resolved_everywhere),
        cmocka_unit_test(tx__urn_oid_and_absolute_full_urls),
        cmocka_unit_test(tx__unknown_urn_fails),
        cmocka_unit_test(tx__entries_run_in_spec_order),
        cmocka_unit_test(tx__failure_rolls_back_and_names_entry),
        cmocka_unit_test(tx__duplicate_full_url_is_error),
        cmocka_unit_test(tx__many_entries_prepared_ahead),
        cmocka_unit_test(tx__prepared_entry_failure_rolls_back),
        cmocka_unit_test(tx__prepared_bundles_at_once),
        cmocka_unit_test(tx__if_match_conflict_rolls_back),
        cmocka_unit_test(tx__same_resource_twice_is_error),
        cmocka_unit_test(tx__conditional_reference),
        cmocka_unit_test(tx__conditional_create),
        cmocka_unit_test(tx__conditional_update_and_delete),
        cmocka_unit_test(tx__prefer_representation),
        cmocka_unit_test(tx__retry_with_same_identifier_is_replayed),
        cmocka_unit_test(tx__failed_transaction_is_not_replayed),
        cmocka_unit_test(batch__entries_are_independent),
        cmocka_unit_test(bundle__wrong_type_or_resource),
        cmocka_unit_test(limits__too_many_entries_is_413),
        cmocka_unit_test(rest__conditional_create),
        cmocka_unit_test(rest__conditional_update),
        cmocka_unit_test(rest__conditional_delete),
        cmocka_unit_test(rest__concurrent_conditional_create_makes_one),
        cmocka_unit_test(patch__json_patch_six_ops),
        cmocka_unit_test(patch__errors_change_nothing),
        cmocka_unit_test(patch__fhirpath_patch),
        cmocka_unit_test(patch__conditional),
        cmocka_unit_test(patch__in_transaction),
        cmocka_unit_test(claim__exactly_one_worker_wins),
        cmocka_unit_test(capability__announces_exchange),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
