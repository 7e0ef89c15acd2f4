/* tests/http/test_http_include.c - _include and _revinclude (with
 * :iterate) over real HTTP: task trees by partOf, owners and patients,
 * the tasks acting on a service request; each resource once, never in
 * the total, only from the page's matches; the cap and its warning.
 *
 * The data is built by the setup: a five-level task tree (1 root, 2
 * children each, 31 tasks), a cycle of two tasks, practitioners, patients
 * and a service request.
 */
#include "tests/http/harness.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_server *srv;
static th_server *capped; /* --max-include 3 */

static void
put(th_server *s, const char *type, const char *id, const char *fmt, ...)
{
    char body[2048], url[128];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(body, sizeof(body),
                     "{\"resourceType\":\"%s\",\"id\":\"%s\"", type, id);
    n += vsnprintf(body + n, sizeof(body) - (size_t)n, fmt, ap);
    va_end(ap);
    snprintf(body + n, sizeof(body) - (size_t)n, "}");
    snprintf(url, sizeof(url), "%s/%s", type, id);
    th_resp *r = th_req(s, "PUT", url, body, NULL);
    if (r->status != 201 && r->status != 200) {
        fprintf(stderr, "PUT %s: %ld %s\n", url, r->status, r->body);
    }
    assert_true(r->status == 201 || r->status == 200);
    th_free(r);
}

static void
task(th_server *s, const char *id, const char *parent, const char *owner,
     const char *patient)
{
    char extra[512] = "";
    size_t n = 0;
    if (parent != NULL) {
        n += (size_t)snprintf(extra + n, sizeof(extra) - n,
                              ",\"partOf\":[{\"reference\":\"Task/%s\"}]",
                              parent);
    }
    if (owner != NULL) {
        n += (size_t)snprintf(extra + n, sizeof(extra) - n,
                              ",\"owner\":{\"reference\":\"%s\"}", owner);
    }
    if (patient != NULL) {
        snprintf(extra + n, sizeof(extra) - n,
                 ",\"for\":{\"reference\":\"Patient/%s\"}", patient);
    }
    /* Only the tree acts on the service request. */
    put(s, "Task", id, ",\"status\":\"requested\",\"intent\":\"order\"%s%s",
        strncmp(id, "inc-t", 5) == 0
            ? ",\"focus\":{\"reference\":\"ServiceRequest/inc-sr\"}"
            : "",
        extra);
}

/* "Type/id:mode" of every entry, in order, joined by spaces. */
static char *
entries(const th_resp *r)
{
    static char out[16384];
    size_t n = 0;
    out[0] = '\0';
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->json, "entry"))
    {
        const char *mode = th_str(e, "search.mode");
        n += (size_t)snprintf(
            out + n, sizeof(out) - n, "%s%s/%s:%s", n ? " " : "",
            th_str(e, "resource.resourceType"),
            th_str(e, "resource.id") ? th_str(e, "resource.id") : "-",
            mode ? mode : "?");
    }
    return out;
}

static int
count_mode(const th_resp *r, const char *mode)
{
    int n = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->json, "entry"))
    {
        n += strcmp(th_str(e, "search.mode"), mode) == 0;
    }
    return n;
}

static int
total(const th_resp *r)
{
    cJSON *t = cJSON_GetObjectItem(r->json, "total");
    return t ? t->valueint : -1;
}

static th_resp *
search(th_server *s, const char *q)
{
    th_resp *r = th_req(s, "GET", q, NULL, NULL);
    if (r->status != 200) {
        fprintf(stderr, "GET %s: %ld %s\n", q, r->status, r->body);
    }
    return r;
}

/* ---- :iterate over task trees ------------------------------------------ */

static void
revinclude_iterate__whole_tree_at_depth_5(void **state)
{
    (void)state;
    th_resp *r =
        search(srv, "Task?_id=inc-t1&_revinclude:iterate=Task:part-of");
    assert_int_equal(r->status, 200);
    assert_int_equal(total(r), 1);
    assert_int_equal(count_mode(r, "match"), 1);
    assert_int_equal(count_mode(r, "include"), 30); /* 2+4+8+16 */
    /* The deepest level is there, each node once. */
    assert_non_null(strstr(entries(r), "Task/inc-t31:include"));
    assert_non_null(strstr(entries(r), "Task/inc-t16:include"));
    th_free(r);
    /* Without :iterate, one level only. */
    r = search(srv, "Task?_id=inc-t1&_revinclude=Task:part-of");
    assert_int_equal(count_mode(r, "include"), 2);
    th_free(r);
}

static void
include_iterate__ancestors_and_cycles(void **state)
{
    (void)state;
    /* Up from a leaf: parent, grandparent, ... the root. */
    th_resp *r = search(srv, "Task?_id=inc-t31&_include:iterate=Task:part-of");
    assert_int_equal(count_mode(r, "include"), 4); /* t15 t7 t3 t1 */
    assert_non_null(strstr(entries(r), "Task/inc-t1:include"));
    th_free(r);
    /* A cycle ends: each of the two once. */
    r = search(srv, "Task?_id=inc-cyc-a&_include:iterate=Task:part-of"
                    "&_revinclude:iterate=Task:part-of");
    assert_int_equal(r->status, 200);
    assert_string_equal(entries(r),
                        "Task/inc-cyc-a:match Task/inc-cyc-b:include");
    th_free(r);
}

/* Without _pretty the entries are written into the reply as stored
 * (server/search.c); with it, through the JSON tree. Both say the same,
 * and the plain one keeps R4's member order: total and link, then entry. */
static void
bundle__written_entries_equal_the_tree(void **state)
{
    (void)state;
    const char *q = "Task?_id=inc-t1&_revinclude:iterate=Task:part-of"
                    "&_include=Task:owner&_count=5";
    char pretty[256];
    snprintf(pretty, sizeof(pretty), "%s&_pretty=true", q);
    th_resp *a = search(srv, q);
    th_resp *b = search(srv, pretty);
    assert_int_equal(a->status, 200);
    assert_int_equal(b->status, 200);
    assert_non_null(a->json);
    assert_non_null(b->json);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(a->json, "entry")),
                     32); /* the root, 30 below it, its owner */
    assert_true(cJSON_Compare(cJSON_GetObjectItem(a->json, "entry"),
                              cJSON_GetObjectItem(b->json, "entry"), 1));
    assert_int_equal(total(a), total(b));
    const char *t = strstr(a->body, "\"total\":");
    const char *l = strstr(a->body, "\"link\":");
    const char *e = strstr(a->body, "\"entry\":");
    assert_non_null(t);
    assert_non_null(l);
    assert_non_null(e);
    assert_true(t < e && l < e);
    assert_string_equal(strrchr(a->body, ']'), "]}");
    th_free(a);
    th_free(b);
    /* Nothing found: no entry member at all. */
    a = search(srv, "Task?_id=inc-none&_revinclude:iterate=Task:part-of");
    assert_int_equal(a->status, 200);
    assert_null(cJSON_GetObjectItem(a->json, "entry"));
    assert_int_equal(total(a), 0);
    th_free(a);
}

/* ---- _include -------------------------------------------------------- */

static void
include__owner_and_patient_once_not_counted(void **state)
{
    (void)state;
    /* Level-2 tasks: inc-t2 (nurse-a, patient p1), inc-t3 (nurse-b, p1). */
    th_resp *r = search(srv, "Task?_id=inc-t2,inc-t3&_include=Task:owner"
                             "&_include=Task:patient&_sort=_id");
    assert_int_equal(total(r), 2);
    assert_int_equal(count_mode(r, "match"), 2);
    assert_string_equal(entries(r), "Task/inc-t2:match Task/inc-t3:match "
                                    "Practitioner/inc-nurse-a:include "
                                    "Practitioner/inc-nurse-b:include "
                                    "Patient/inc-p1:include");
    th_free(r);
    /* Only from the page: page 1 of 1 shows inc-t2 and its owner. */
    r = search(srv, "Task?_id=inc-t2,inc-t3&_include=Task:owner&_sort=_id"
                    "&_count=1");
    assert_string_equal(entries(r),
                        "Task/inc-t2:match Practitioner/inc-nurse-a:include");
    th_free(r);
    /* A target type narrows: owners that are Patients -> none. */
    r = search(srv, "Task?_id=inc-t2&_include=Task:owner:Patient");
    assert_int_equal(count_mode(r, "include"), 0);
    th_free(r);
    r = search(srv, "Task?_id=inc-t2&_include=*");
    /* owner, patient (also subject: once), focus, part-of */
    assert_int_equal(count_mode(r, "include"), 4);
    th_free(r);
}

static void
include__deleted_targets_are_left_out(void **state)
{
    (void)state;
    put(srv, "Practitioner", "inc-gone", ",\"name\":[{\"family\":\"Gone\"}]");
    task(srv, "inc-orphan", NULL, "Practitioner/inc-gone", NULL);
    th_resp *d = th_req(srv, "DELETE", "Practitioner/inc-gone", NULL, NULL);
    assert_int_equal(d->status, 200);
    th_free(d);
    th_resp *r = search(srv, "Task?_id=inc-orphan&_include=Task:owner");
    assert_string_equal(entries(r), "Task/inc-orphan:match");
    th_free(r);
}

/* ---- _revinclude ------------------------------------------------------ */

static void
revinclude__tasks_of_a_request_and_a_patient(void **state)
{
    (void)state;
    th_resp *r =
        search(srv, "ServiceRequest?_id=inc-sr&_revinclude=Task:focus");
    assert_int_equal(total(r), 1);
    assert_int_equal(count_mode(r, "include"), 31);
    th_free(r);
    r = search(srv, "Patient?_id=inc-p2&_revinclude=Task:patient");
    /* inc-t4..inc-t7 are for p2 */
    assert_int_equal(count_mode(r, "include"), 4);
    th_free(r);
}

/* ---- errors and the cap -------------------------------------------- */

static void
include__bad_parameters_are_400(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Task?_include=Task:status",    "Task?_include=Foo:owner",
        "Task?_include=Task",           "Task?_include:deep=Task:owner",
        "Task?_include=Task:owner:Foo", "Task?_revinclude=*"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        th_resp *r = th_req(srv, "GET", bad[i], NULL, NULL);
        if (r->status != 400) {
            fprintf(stderr, "%s: %ld\n", bad[i], r->status);
        }
        assert_int_equal(r->status, 400);
        assert_string_equal(th_str(r->json, "resourceType"),
                            "OperationOutcome");
        th_free(r);
    }
}

static void
include__cap_warns(void **state)
{
    (void)state;
    th_resp *r =
        search(capped, "Task?_id=inc-t1&_revinclude:iterate=Task:part-of");
    assert_int_equal(count_mode(r, "include"), 3);
    assert_int_equal(count_mode(r, "outcome"), 1);
    assert_non_null(strstr(r->body, "incomplete"));
    th_free(r);
    /* Exactly at the cap is not cut: two children and an owner. */
    r = search(capped, "Task?_id=inc-t15&_revinclude:iterate=Task:part-of"
                       "&_include=Task:owner");
    assert_int_equal(count_mode(r, "include"), 3);
    assert_int_equal(count_mode(r, "outcome"), 0);
    th_free(r);
}

static void
capability__lists_includes(void **state)
{
    (void)state;
    th_resp *r = th_req(srv, "GET", "metadata", NULL, NULL);
    cJSON *rest = cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "rest"), 0);
    cJSON *res;
    int seen = 0;
    cJSON_ArrayForEach(res, cJSON_GetObjectItem(rest, "resource"))
    {
        if (strcmp(th_str(res, "type"), "Task") != 0) {
            continue;
        }
        seen = 1;
        char *inc =
            cJSON_PrintUnformatted(cJSON_GetObjectItem(res, "searchInclude"));
        char *rev = cJSON_PrintUnformatted(
            cJSON_GetObjectItem(res, "searchRevInclude"));
        int ok = strstr(inc, "\"Task:owner\"") != NULL &&
                 strstr(rev, "\"Task:part-of\"") != NULL;
        free(inc);
        free(rev);
        assert_true(ok);
    }
    assert_true(seen);
    th_free(r);
}

/* ---- data ---------------------------------------------------------- */

static void
load(th_server *s)
{
    put(s, "Practitioner", "inc-nurse-a", ",\"name\":[{\"family\":\"A\"}]");
    put(s, "Practitioner", "inc-nurse-b", ",\"name\":[{\"family\":\"B\"}]");
    put(s, "Patient", "inc-p1", ",\"name\":[{\"family\":\"One\"}]");
    put(s, "Patient", "inc-p2", ",\"name\":[{\"family\":\"Two\"}]");
    put(s, "ServiceRequest", "inc-sr",
        ",\"status\":\"active\",\"intent\":\"order\","
        "\"subject\":{\"reference\":\"Patient/inc-p1\"}");
    /* Heap numbering: node k has children 2k and 2k+1; 31 nodes, 5
     * levels. Owners alternate, patients by subtree. */
    for (int k = 1; k <= 31; k++) {
        char id[32], parent[32], owner[64];
        snprintf(id, sizeof(id), "inc-t%d", k);
        snprintf(parent, sizeof(parent), "inc-t%d", k / 2);
        snprintf(owner, sizeof(owner), "Practitioner/inc-nurse-%c",
                 k % 2 ? 'b' : 'a');
        const char *patient = k >= 4 && k <= 7 ? "inc-p2" : "inc-p1";
        task(s, id, k > 1 ? parent : NULL, owner, patient);
    }
    task(s, "inc-cyc-a", "inc-cyc-b", NULL, NULL);
    task(s, "inc-cyc-b", "inc-cyc-a", NULL, NULL);
}

static int
setup(void **state)
{
    (void)state;
    static const char *const flags[] = {"--max-include", "3", NULL};
    srv = th_start(NULL);
    capped = th_start_flags(flags);
    load(srv);
    load(capped);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    th_stop(srv);
    th_stop(capped);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(revinclude_iterate__whole_tree_at_depth_5),
        cmocka_unit_test(include_iterate__ancestors_and_cycles),
        cmocka_unit_test(bundle__written_entries_equal_the_tree),
        cmocka_unit_test(include__owner_and_patient_once_not_counted),
        cmocka_unit_test(include__deleted_targets_are_left_out),
        cmocka_unit_test(revinclude__tasks_of_a_request_and_a_patient),
        cmocka_unit_test(include__bad_parameters_are_400),
        cmocka_unit_test(include__cap_warns),
        cmocka_unit_test(capability__lists_includes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
