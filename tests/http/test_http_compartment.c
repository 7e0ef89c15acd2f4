/* tests/http/test_http_compartment.c - the Patient compartment over real
 * HTTP: GET /fhir/Patient/{id}/{type}, /fhir/Patient/{id}/[*] and
 * /fhir/Patient/{id}/$everything (with _since, _type, _count and
 * paging), following the R4 compartment definition: a Task is in it by
 * `patient` or `focus`, a ServiceRequest by `subject` or `performer`, a
 * Patient by `link` (and the patient itself); a Practitioner never.
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
#include <time.h>
#include <unistd.h>

static th_server *srv;
static char since[64]; /* a moment between the first and second writes */

static void
put(const char *type, const char *id, const char *fields)
{
    char body[1024], url[128];
    snprintf(body, sizeof(body), "{\"resourceType\":\"%s\",\"id\":\"%s\"%s}",
             type, id, fields);
    snprintf(url, sizeof(url), "%s/%s", type, id);
    th_resp *r = th_req(srv, "PUT", url, body, NULL);
    if (r->status != 201 && r->status != 200) {
        fprintf(stderr, "PUT %s: %ld %s\n", url, r->status, r->body);
    }
    assert_true(r->status == 201 || r->status == 200);
    th_free(r);
}

/* The sorted "Type/id" list of a Bundle's match entries. */
static char *
ids(const th_resp *r)
{
    static char out[4096];
    char *v[128];
    int n = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->json, "entry"))
    {
        if (strcmp(th_str(e, "search.mode"), "match") != 0 || n == 128) {
            continue;
        }
        char buf[128];
        snprintf(buf, sizeof(buf), "%s/%s", th_str(e, "resource.resourceType"),
                 th_str(e, "resource.id"));
        v[n++] = strdup(buf);
    }
    for (int i = 0; i < n; i++) {
        for (int k = i + 1; k < n; k++) {
            if (strcmp(v[k], v[i]) < 0) {
                char *t = v[i];
                v[i] = v[k];
                v[k] = t;
            }
        }
    }
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s",
                                i ? " " : "", v[i]);
        free(v[i]);
    }
    return out;
}

static th_resp *
get(const char *url)
{
    th_resp *r = th_req(srv, "GET", url, NULL, NULL);
    if (r->status != 200) {
        fprintf(stderr, "GET %s: %ld %s\n", url, r->status, r->body);
    }
    return r;
}

static void
compartment__tasks_by_patient_or_focus(void **state)
{
    (void)state;
    th_resp *r = get("Patient/cmp-p1/Task");
    assert_int_equal(r->status, 200);
    assert_string_equal(ids(r), "Task/cmp-t1 Task/cmp-t2 Task/cmp-t4");
    assert_int_equal(cJSON_GetObjectItem(r->json, "total")->valueint, 3);
    /* Links stay inside the compartment. */
    assert_non_null(
        strstr(th_str(r->json, "link.0.url"), "/Patient/cmp-p1/Task"));
    th_free(r);
    r = get("Patient/cmp-p1/Task?status=ready");
    assert_string_equal(ids(r), "Task/cmp-t2");
    th_free(r);
    r = get("Patient/cmp-p2/Task");
    assert_string_equal(ids(r), "Task/cmp-t3");
    th_free(r);
}

static void
compartment__other_types(void **state)
{
    (void)state;
    th_resp *r = get("Patient/cmp-p1/ServiceRequest");
    assert_string_equal(ids(r),
                        "ServiceRequest/cmp-sr1 ServiceRequest/cmp-sr2");
    th_free(r);
    r = get("Patient/cmp-p1/Practitioner");
    assert_string_equal(ids(r), "");
    assert_int_equal(cJSON_GetObjectItem(r->json, "total")->valueint, 0);
    th_free(r);
    r = get("Patient/cmp-p1/Patient");
    assert_string_equal(ids(r), "Patient/cmp-p1 Patient/cmp-p3");
    th_free(r);
    r = get("Patient/cmp-p1/*");
    assert_string_equal(ids(r), "Patient/cmp-p1 Patient/cmp-p3 "
                                "ServiceRequest/cmp-sr1 "
                                "ServiceRequest/cmp-sr2 Task/cmp-t1 "
                                "Task/cmp-t2 Task/cmp-t4");
    th_free(r);
}

static void
compartment__errors(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        long status;
    } bad[] = {{"Patient/cmp-nobody/Task", 404},
               {"Task/cmp-t1/Task", 404},
               {"Patient/cmp-p1/Unknown", 404},
               {"Patient/cmp-p1/$nothing", 404},
               {"Patient/cmp-nobody/$everything", 404},
               {"Patient/cmp-p1/$everything?status=ready", 400}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        th_resp *r = th_req(srv, "GET", bad[i].url, NULL, NULL);
        if (r->status != bad[i].status) {
            fprintf(stderr, "%s: %ld %s\n", bad[i].url, r->status, r->body);
        }
        assert_int_equal(r->status, bad[i].status);
        assert_string_equal(th_str(r->json, "resourceType"),
                            "OperationOutcome");
        th_free(r);
    }
}

static void
everything__whole_record_paged(void **state)
{
    (void)state;
    th_resp *r = get("Patient/cmp-p1/$everything");
    assert_string_equal(ids(r), "Patient/cmp-p1 Patient/cmp-p3 "
                                "ServiceRequest/cmp-sr1 "
                                "ServiceRequest/cmp-sr2 Task/cmp-t1 "
                                "Task/cmp-t2 Task/cmp-t4");
    th_free(r);
    /* _type narrows; _count pages, and the next links walk the rest. */
    r = get("Patient/cmp-p1/$everything?_type=Task,ServiceRequest");
    assert_string_equal(ids(r), "ServiceRequest/cmp-sr1 "
                                "ServiceRequest/cmp-sr2 Task/cmp-t1 "
                                "Task/cmp-t2 Task/cmp-t4");
    th_free(r);
    char url[1024] = "Patient/cmp-p1/$everything?_count=2";
    int pages = 0, seen = 0;
    while (url[0] != '\0' && pages < 10) {
        r = get(url);
        assert_int_equal(r->status, 200);
        seen += cJSON_GetArraySize(cJSON_GetObjectItem(r->json, "entry"));
        url[0] = '\0';
        cJSON *l;
        cJSON_ArrayForEach(l, cJSON_GetObjectItem(r->json, "link"))
        {
            if (strcmp(th_str(l, "relation"), "next") == 0) {
                assert_non_null(strstr(th_str(l, "url"), "$everything"));
                snprintf(url, sizeof(url), "%s", th_str(l, "url"));
            }
        }
        th_free(r);
        pages++;
    }
    assert_int_equal(seen, 7);
    assert_int_equal(pages, 4);
    /* _since: only what changed after the moment. */
    snprintf(url, sizeof(url), "Patient/cmp-p1/$everything?_since=%s", since);
    r = get(url);
    assert_string_equal(ids(r), "Task/cmp-t4");
    th_free(r);
}

static void
capability__compartment_and_everything(void **state)
{
    (void)state;
    th_resp *r = get("metadata");
    assert_non_null(strstr(
        r->body, "\"http://hl7.org/fhir/CompartmentDefinition/patient\""));
    assert_non_null(strstr(r->body, "Patient-everything"));
    th_free(r);
}

static int
setup(void **state)
{
    (void)state;
    srv = th_start(NULL);
    put("Patient", "cmp-p1", ",\"name\":[{\"family\":\"One\"}]");
    put("Patient", "cmp-p2", ",\"name\":[{\"family\":\"Two\"}]");
    put("Patient", "cmp-p3",
        ",\"link\":[{\"other\":{\"reference\":\"Patient/cmp-p1\"},"
        "\"type\":\"seealso\"}]");
    put("Practitioner", "cmp-doc", ",\"name\":[{\"family\":\"Doc\"}]");
    put("ServiceRequest", "cmp-sr1",
        ",\"status\":\"active\",\"intent\":\"order\","
        "\"subject\":{\"reference\":\"Patient/cmp-p1\"}");
    put("ServiceRequest", "cmp-sr2",
        ",\"status\":\"active\",\"intent\":\"order\","
        "\"subject\":{\"reference\":\"Patient/cmp-p2\"},"
        "\"performer\":[{\"reference\":\"Patient/cmp-p1\"}]");
    put("ServiceRequest", "cmp-sr3",
        ",\"status\":\"active\",\"intent\":\"order\","
        "\"subject\":{\"reference\":\"Patient/cmp-p2\"}");
    put("Task", "cmp-t1",
        ",\"status\":\"requested\",\"intent\":\"order\","
        "\"for\":{\"reference\":\"Patient/cmp-p1\"},"
        "\"owner\":{\"reference\":\"Practitioner/cmp-doc\"}");
    put("Task", "cmp-t2",
        ",\"status\":\"ready\",\"intent\":\"order\","
        "\"focus\":{\"reference\":\"Patient/cmp-p1\"}");
    put("Task", "cmp-t3",
        ",\"status\":\"ready\",\"intent\":\"order\","
        "\"for\":{\"reference\":\"Patient/cmp-p2\"},"
        "\"focus\":{\"reference\":\"ServiceRequest/cmp-sr1\"}");
    /* A moment after every write so far (to the second, so wait past
     * it), then one more write in p1's compartment. */
    usleep(1100000);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
    usleep(1100000);
    put("Task", "cmp-t4",
        ",\"status\":\"requested\",\"intent\":\"order\","
        "\"for\":{\"reference\":\"Patient/cmp-p1\"}");
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
        cmocka_unit_test(compartment__tasks_by_patient_or_focus),
        cmocka_unit_test(compartment__other_types),
        cmocka_unit_test(compartment__errors),
        cmocka_unit_test(everything__whole_record_paged),
        cmocka_unit_test(capability__compartment_and_everything),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
