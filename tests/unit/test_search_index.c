/* tests/unit/test_search_index.c - the search registry (loaded from the
 * R4 SearchParameter definitions) and the index rows of resources, and
 * their life in the store: written with each version, replaced on update,
 * removed on delete, counted, rebuilt by reindex. References to this
 * server's own bases are checked against search plans too, matched in
 * memory (search_plan_match), so rows and search values agree.
 */
#include "search/search.h"
#include "store/store.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static search_registry *reg;

static const char *
root(void)
{
    const char *r = getenv("FHIR_TEST_ROOT");
    return r ? r : ".";
}

static cJSON *
parse(const char *text)
{
    cJSON *j = NULL;
    fhir_err err = FHIR_ERR_INIT;
    fhir_json_opts jo = {256, 0};
    assert_int_equal(fhir_json_parse(&j, text, strlen(text), &jo, &err), 0);
    return j;
}

static cJSON *
fixture(const char *rel)
{
    char path[1024];
    fhir_buf b = FHIR_BUF_INIT;
    fhir_err err = FHIR_ERR_INIT;
    snprintf(path, sizeof(path), "%s/%s", root(), rel);
    assert_int_equal(fhir_file_read(&b, path, 1 << 24, &err), 0);
    cJSON *j = parse(b.data);
    fhir_buf_clear(&b);
    return j;
}

static const search_param *
param(const char *type, const char *code)
{
    int unsupported = 0;
    const search_param *p =
        search_param_find(reg, fhir_type_find(type), code, &unsupported);
    assert_non_null(p);
    assert_int_equal(unsupported, 0);
    return p;
}

/* 1 when rows hold a row of `kind` for param with (sys, code) or lo. */
static int
has_row(const fhir_rows *rows, fhir_row_kind kind, const search_param *p,
        const char *sys, const char *code)
{
    for (size_t i = 0; i < rows->n; i++) {
        const fhir_row *r = &rows->rows[i];
        if (r->kind != kind || r->param != search_param_num(p)) {
            continue;
        }
        if (sys != NULL && strcmp(r->sys ? r->sys : "", sys) != 0) {
            continue;
        }
        if (code != NULL && strcmp(r->code ? r->code : "", code) != 0) {
            continue;
        }
        return 1;
    }
    return 0;
}

static void
index_of(fhir_rows *rows, const char *type, const cJSON *res, fhir_arena *a)
{
    rows->rows = NULL;
    rows->n = rows->cap = 0;
    search_index(rows, reg, fhir_type_find(type), res, a);
}

/* ---- registry ------------------------------------------------------- */

/* The Patient compartment comes from its definition file. */
static void
search_registry__patient_compartment(void **state)
{
    (void)state;
    const search_param *const *ps = NULL;
    assert_int_equal(search_compartment_type(reg), fhir_type_find("Patient"));
    assert_int_equal(
        search_compartment_params(reg, fhir_type_find("Task"), &ps), 2);
    assert_string_equal(search_param_code(ps[0]), "patient");
    assert_string_equal(search_param_code(ps[1]), "focus");
    assert_int_equal(
        search_compartment_params(reg, fhir_type_find("ServiceRequest"), &ps),
        2);
    assert_string_equal(search_param_code(ps[0]), "subject");
    assert_string_equal(search_param_code(ps[1]), "performer");
    assert_int_equal(
        search_compartment_params(reg, fhir_type_find("Patient"), &ps), 1);
    assert_string_equal(search_param_code(ps[0]), "link");
    assert_int_equal(
        search_compartment_params(reg, fhir_type_find("Practitioner"), &ps), 0);
}

static void
search_registry__loads_and_finds(void **state)
{
    (void)state;
    assert_true(search_registry_count(reg) > 60);
    const search_param *p = param("Task", "status");
    assert_int_equal(search_param_type(p), SEARCH_TYPE_TOKEN);
    assert_string_equal(search_param_expression(p), "Task.status");
    assert_true(search_param_indexed(p));
    p = param("Task", "performer");
    assert_string_equal(search_param_expression(p), "Task.performerType");
    p = param("Patient", "family");
    assert_int_equal(search_param_type(p), SEARCH_TYPE_STRING);
    assert_true(search_param_applies(p, fhir_type_find("Practitioner")));
    assert_false(search_param_applies(p, fhir_type_find("Task")));
    p = param("Task", "_id");
    assert_false(search_param_indexed(p)); /* answered by the store */
    p = param("ServiceRequest", "_tag");
    assert_true(search_param_indexed(p));
    int unsupported = 0;
    assert_null(search_param_find(reg, fhir_type_find("Task"), "nonsense",
                                  &unsupported));
    assert_int_equal(unsupported, 0);
}

static void
search_registry__unsupported_are_reported(void **state)
{
    (void)state;
    const char *codes[] = {"_text", "_content", "_query"};
    int unsupported = 0;
    const char *why = NULL;
    for (size_t i = 0; i < 3; i++) {
        const search_param *p = search_param_find(reg, fhir_type_find("Task"),
                                                  codes[i], &unsupported);
        assert_non_null(p);
        assert_int_equal(unsupported, 1);
        assert_true(search_param_unsupported(p, &why));
        assert_non_null(why);
    }
    const search_param *p = search_param_find(reg, fhir_type_find("Patient"),
                                              "phonetic", &unsupported);
    assert_non_null(p);
    assert_int_equal(unsupported, 1);
}

static void
search_registry__every_standard_parameter_compiles(void **state)
{
    (void)state;
    /* Apart from the known-unsearchable ones, every parameter of the four
     * types is supported: its expression is inside the FHIRPath subset. */
    const char *allowed[] = {"_text", "_content", "_query", "phonetic"};
    for (size_t i = 0; i < search_registry_count(reg); i++) {
        const search_param *p = search_registry_at(reg, i);
        const char *why = NULL;
        if (!search_param_unsupported(p, &why)) {
            continue;
        }
        int ok = 0;
        for (size_t k = 0; k < 4; k++) {
            ok |= strcmp(search_param_code(p), allowed[k]) == 0;
        }
        if (!ok) {
            fail_msg("%s (%s) unsupported: %s", search_param_key(p),
                     search_param_expression(p), why);
        }
    }
}

/* ---- rows ----------------------------------------------------------- */

static void
search_index__clinic_task(void **state)
{
    (void)state;
    fhir_arena *a = fhir_arena_new();
    cJSON *bundle = fixture("examples/clinic.json");
    cJSON *task = NULL, *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(bundle, "entry"))
    {
        cJSON *r = cJSON_GetObjectItem(e, "resource");
        if (strcmp(fhir_json_str(r, "id"), "task-callback-muller") == 0) {
            task = r;
        }
    }
    assert_non_null(task);
    fhir_rows rows;
    index_of(&rows, "Task", task, a);
    assert_true(has_row(&rows, FHIR_ROW_TOKEN, param("Task", "status"), "",
                        "requested"));
    assert_true(
        has_row(&rows, FHIR_ROW_TOKEN, param("Task", "business-status"),
                "http://clinic.example.org/CodeSystem/task-business-status",
                "awaiting-callback"));
    assert_true(has_row(&rows, FHIR_ROW_STRING,
                        param("Task", "business-status"), NULL,
                        "awaiting callback"));
    assert_true(has_row(&rows, FHIR_ROW_TOKEN, param("Task", "performer"),
                        "http://snomed.info/sct", "224535009"));
    assert_true(
        has_row(&rows, FHIR_ROW_TOKEN, param("Task", "priority"), "", "asap"));
    assert_true(has_row(&rows, FHIR_ROW_REF, param("Task", "focus"), NULL,
                        "ServiceRequest/sr-results-callback"));
    assert_true(has_row(&rows, FHIR_ROW_REF, param("Task", "patient"), NULL,
                        "Patient/pat-muller"));
    assert_true(has_row(&rows, FHIR_ROW_REF, param("Task", "subject"), NULL,
                        "Patient/pat-muller"));
    assert_true(has_row(&rows, FHIR_ROW_REF, param("Task", "requester"), NULL,
                        "Practitioner/dr-smith"));
    assert_true(has_row(&rows, FHIR_ROW_DATE, param("Task", "authored-on"),
                        NULL, NULL));
    assert_true(has_row(&rows, FHIR_ROW_TOKEN, param("Task", "identifier"),
                        "http://clinic.example.org/task",
                        "TASK-CALLBACK-MULLER"));
    assert_false(
        has_row(&rows, FHIR_ROW_REF, param("Task", "owner"), NULL, NULL));
    /* rows are distinct */
    for (size_t i = 1; i < rows.n; i++) {
        const fhir_row *x = &rows.rows[i - 1], *y = &rows.rows[i];
        assert_false(
            x->kind == y->kind && x->param == y->param &&
            strcmp(x->code ? x->code : "", y->code ? y->code : "") == 0 &&
            strcmp(x->sys ? x->sys : "", y->sys ? y->sys : "") == 0 &&
            strcmp(x->text ? x->text : "", y->text ? y->text : "") == 0 &&
            x->lo == y->lo && x->hi == y->hi);
    }
    cJSON_Delete(bundle);
    fhir_arena_free(a);
}

static void
search_index__patient_names_dates_telecom(void **state)
{
    (void)state;
    fhir_arena *a = fhir_arena_new();
    cJSON *p = parse(
        "{\"resourceType\":\"Patient\",\"active\":true,"
        "\"meta\":{\"tag\":[{\"system\":\"http://t\",\"code\":\"vip\"}],"
        "\"profile\":[\"http://example.org/p\"],\"source\":\"http://src\"},"
        "\"name\":[{\"family\":\"Müller\",\"given\":[\"Jürgen\",\"Karl\"]}],"
        "\"telecom\":[{\"system\":\"phone\",\"value\":\"555-1\"},"
        "{\"system\":\"email\",\"value\":\"j@x.org\"}],"
        "\"gender\":\"male\",\"birthDate\":\"1975-07-30\","
        "\"deceasedBoolean\":false,"
        "\"address\":[{\"city\":\"Zürich\",\"line\":[\"Bahnhofstr. 1\"]}],"
        "\"generalPractitioner\":[{\"reference\":\"Practitioner/dr-1\"}]}");
    fhir_rows rows;
    index_of(&rows, "Patient", p, a);
    assert_true(has_row(&rows, FHIR_ROW_STRING, param("Patient", "family"),
                        NULL, "muller"));
    assert_true(has_row(&rows, FHIR_ROW_STRING, param("Patient", "name"), NULL,
                        "jurgen"));
    assert_true(has_row(&rows, FHIR_ROW_STRING, param("Patient", "given"), NULL,
                        "karl"));
    assert_true(has_row(&rows, FHIR_ROW_STRING, param("Patient", "address"),
                        NULL, "zurich"));
    assert_true(has_row(&rows, FHIR_ROW_STRING,
                        param("Patient", "address-city"), NULL, "zurich"));
    assert_true(
        has_row(&rows, FHIR_ROW_TOKEN, param("Patient", "phone"), "", "555-1"));
    assert_true(has_row(&rows, FHIR_ROW_TOKEN, param("Patient", "email"), "",
                        "j@x.org"));
    assert_false(
        has_row(&rows, FHIR_ROW_TOKEN, param("Patient", "email"), "", "555-1"));
    assert_true(
        has_row(&rows, FHIR_ROW_TOKEN, param("Patient", "gender"), "", "male"));
    assert_true(
        has_row(&rows, FHIR_ROW_TOKEN, param("Patient", "active"), "", "true"));
    assert_true(has_row(&rows, FHIR_ROW_TOKEN, param("Patient", "deceased"), "",
                        "false"));
    assert_true(has_row(&rows, FHIR_ROW_TOKEN, param("Patient", "_tag"),
                        "http://t", "vip"));
    assert_true(has_row(&rows, FHIR_ROW_URI, param("Patient", "_profile"), NULL,
                        "http://example.org/p"));
    assert_true(has_row(&rows, FHIR_ROW_URI, param("Patient", "_source"), NULL,
                        "http://src"));
    assert_true(has_row(&rows, FHIR_ROW_REF,
                        param("Patient", "general-practitioner"), NULL,
                        "Practitioner/dr-1"));
    /* birthdate: the whole day as a UTC range */
    int found = 0;
    for (size_t i = 0; i < rows.n; i++) {
        const fhir_row *r = &rows.rows[i];
        if (r->kind == FHIR_ROW_DATE &&
            r->param == search_param_num(param("Patient", "birthdate"))) {
            assert_int_equal(r->hi - r->lo, 86400LL * 1000000LL);
            found = 1;
        }
    }
    assert_true(found);
    cJSON_Delete(p);
    fhir_arena_free(a);
}

static void
search_index__period_and_choice(void **state)
{
    (void)state;
    fhir_arena *a = fhir_arena_new();
    cJSON *t = parse("{\"resourceType\":\"Task\",\"status\":\"ready\","
                     "\"intent\":\"order\",\"executionPeriod\":{\"start\":"
                     "\"2024-01-01\"},\"owner\":{\"identifier\":{\"system\":"
                     "\"http://npi\",\"value\":\"123\"}}}");
    fhir_rows rows;
    index_of(&rows, "Task", t, a);
    int found = 0;
    for (size_t i = 0; i < rows.n; i++) {
        const fhir_row *r = &rows.rows[i];
        if (r->kind == FHIR_ROW_DATE &&
            r->param == search_param_num(param("Task", "period"))) {
            assert_true(r->hi == INT64_MAX); /* open end */
            found = 1;
        }
    }
    assert_true(found);
    /* Reference.identifier serves owner:identifier */
    assert_true(has_row(&rows, FHIR_ROW_TOKEN, param("Task", "owner"),
                        "http://npi", "123"));
    cJSON_Delete(t);
    cJSON *sr = parse("{\"resourceType\":\"ServiceRequest\",\"status\":"
                      "\"active\",\"intent\":\"order\",\"subject\":{"
                      "\"reference\":\"Patient/1\"},\"occurrencePeriod\":{"
                      "\"start\":\"2024-03-01\",\"end\":\"2024-03-05\"}}");
    index_of(&rows, "ServiceRequest", sr, a);
    assert_true(has_row(&rows, FHIR_ROW_DATE,
                        param("ServiceRequest", "occurrence"), NULL, NULL));
    assert_true(has_row(&rows, FHIR_ROW_REF, param("ServiceRequest", "patient"),
                        NULL, "Patient/1"));
    cJSON_Delete(sr);
    fhir_arena_free(a);
}

static void
search_index__every_official_example_indexes(void **state)
{
    (void)state;
    const char *files[] = {"task-example1.json",
                           "task-example2.json",
                           "task-example6.json",
                           "patient-example.json",
                           "practitioner-example.json",
                           "servicerequest-example.json",
                           "servicerequest-example-lipid.json"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char rel[256];
        snprintf(rel, sizeof(rel), "tests/fixtures/examples/%s", files[i]);
        cJSON *res = fixture(rel);
        fhir_arena *a = fhir_arena_new();
        fhir_rows rows;
        index_of(&rows, fhir_json_str(res, "resourceType"), res, a);
        assert_true(rows.n > 2);
        fhir_arena_free(a);
        cJSON_Delete(res);
    }
}

/* ---- references to this server --------------------------------------- */

/* The code of the only reference row of param, or NULL (none, or more). */
static const char *
ref_row(const fhir_rows *rows, const search_param *p)
{
    const char *code = NULL;
    int n = 0;
    for (size_t i = 0; i < rows->n; i++) {
        const fhir_row *r = &rows->rows[i];
        if (r->kind == FHIR_ROW_REF && r->param == search_param_num(p)) {
            code = r->code;
            n++;
        }
    }
    return n == 1 ? code : NULL;
}

static void
search_index__reference_on_this_server_is_relative(void **state)
{
    (void)state;
    static const char *const bases[] = {"https://clinic.example.org/fhir/",
                                        "http://127.0.0.1:8080/fhir"};
    fhir_arena *a = fhir_arena_new();
    cJSON *t = parse(
        "{\"resourceType\":\"Task\",\"status\":\"ready\",\"intent\":"
        "\"order\",\"owner\":{\"reference\":"
        "\"https://clinic.example.org/fhir/Practitioner/p1\"},"
        "\"requester\":{\"reference\":"
        "\"HTTPS://Clinic.Example.ORG/fhir/Practitioner/p2/_history/3\"},"
        "\"focus\":{\"reference\":"
        "\"http://127.0.0.1:8080/fhir/ServiceRequest/sr1/_history/2\"},"
        "\"for\":{\"reference\":\"http://127.0.0.1:8081/fhir/Patient/pt1\"},"
        "\"partOf\":[{\"reference\":\"https://clinic.example.org/FHIR/Task/"
        "t1\"},"
        "{\"reference\":\"https://clinic.example.org/fhir-b/Task/t2\"},"
        "{\"reference\":\"https://clinic.example.org.evil.net/fhir/Task/t3\"}],"
        "\"basedOn\":[{\"reference\":"
        "\"urn:uuid:2c9d5e4a-0f2b-4d8e-9a51-7f0c3b6e1d24\"}]}");
    fhir_rows rows;

    search_registry_set_bases(reg, bases, 2);
    index_of(&rows, "Task", t, a);
    /* one row each, the relative form: the URL itself is not kept */
    assert_string_equal(ref_row(&rows, param("Task", "owner")),
                        "Practitioner/p1");
    /* scheme and host in any case; the version dropped as for Type/id */
    assert_string_equal(ref_row(&rows, param("Task", "requester")),
                        "Practitioner/p2");
    assert_string_equal(ref_row(&rows, param("Task", "focus")),
                        "ServiceRequest/sr1");
    /* another port, path case, a longer path, a longer host: other servers */
    assert_string_equal(ref_row(&rows, param("Task", "subject")),
                        "http://127.0.0.1:8081/fhir/Patient/pt1");
    const search_param *part_of = param("Task", "part-of");
    assert_true(has_row(&rows, FHIR_ROW_REF, part_of, NULL,
                        "https://clinic.example.org/FHIR/Task/t1"));
    assert_true(has_row(&rows, FHIR_ROW_REF, part_of, NULL,
                        "https://clinic.example.org/fhir-b/Task/t2"));
    assert_true(has_row(&rows, FHIR_ROW_REF, part_of, NULL,
                        "https://clinic.example.org.evil.net/fhir/Task/t3"));
    assert_false(has_row(&rows, FHIR_ROW_REF, part_of, NULL, "Task/t1"));
    /* urn:uuid is not a URL of any server: as before, no row */
    assert_false(
        has_row(&rows, FHIR_ROW_REF, param("Task", "based-on"), NULL, NULL));

    /* Without bases the same URLs name other servers: the rows depend on
     * the bases, which is why server/ puts them in the index signature. */
    search_registry_set_bases(reg, NULL, 0);
    index_of(&rows, "Task", t, a);
    assert_string_equal(ref_row(&rows, param("Task", "owner")),
                        "https://clinic.example.org/fhir/Practitioner/p1");
    assert_string_equal(
        ref_row(&rows, param("Task", "requester")),
        "HTTPS://Clinic.Example.ORG/fhir/Practitioner/p2/_history/3");
    cJSON_Delete(t);
    fhir_arena_free(a);
}

/* The letters of the resources of `res` that the Task search `qs` (with
 * request base `base`) matches, in memory as for stable paging. */
static const char *
matching(fhir_arena *a, const fhir_rows *rows, size_t n, const char *base,
         const char *qs)
{
    search_query q;
    search_opts o;
    search_plan *plan = NULL;
    fhir_err err = FHIR_ERR_INIT;
    char *out = fhir_arena_alloc(a, n + 1);
    size_t k = 0;

    memset(&o, 0, sizeof(o));
    o.types[0] = fhir_type_find("Task");
    o.ntypes = 1;
    o.base = base;
    o.default_count = 20;
    o.max_count = 100;
    assert_int_equal(search_query_parse(&q, a, qs, strlen(qs), &err), 0);
    if (search_plan_new(&plan, reg, &q, &o, a, &err) != 0) {
        fail_msg("%s: %s", qs, err.diag);
    }
    for (size_t i = 0; i < n; i++) {
        if (search_plan_match(plan, &rows[i], "x", 1)) {
            out[k++] = (char)('A' + i);
        }
    }
    out[k] = '\0';
    return out;
}

#define HERE "https://clinic.example.org/fhir" /* a base of this server */
#define HOST "http://host.lan:8080/fhir"       /* a Host header's */

static void
search_index__reference_forms_match_both_ways(void **state)
{
    (void)state;
    static const char *const bases[] = {HERE};
    static const char *const owners[] = {
        "{\"reference\":\"" HERE "/Practitioner/p1\"}",
        "{\"reference\":\"Practitioner/p1\"}",
        "{\"reference\":\"https://other.example.org/fhir/Practitioner/p1\"}",
        "{\"reference\":\"" HOST "/Practitioner/p1\"}",
        "{\"identifier\":{\"system\":\"http://npi\",\"value\":\"42\"}}"};
    fhir_arena *a = fhir_arena_new();
    fhir_rows rows[5];

    search_registry_set_bases(reg, bases, 1);
    for (size_t i = 0; i < 5; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"resourceType\":\"Task\",\"status\":\"ready\","
                 "\"intent\":\"order\",\"owner\":%s}",
                 owners[i]);
        cJSON *t = parse(body);
        index_of(&rows[i], "Task", t, a);
        cJSON_Delete(t);
    }
    /* A: absolute on this server, B: relative, C: another server, D: this
     * server by a Host indexing did not know, E: identifier only. Asked
     * through that Host (HOST), the URL finds the rows that hold it as
     * well as the relative ones, and a base known at start-up still
     * counts. */
    static const struct {
        int by_host; /* request base: 0 here, 1 host */
        const char *qs, *want;
    } cases[] = {
        {0, "owner=Practitioner/p1", "AB"},
        {0, "owner=p1", "AB"},
        {0, "owner=" HERE "/Practitioner/p1", "AB"},
        {0, "owner=" HERE "/Practitioner/p1/_history/7", "AB"},
        {0, "owner=https://other.example.org/fhir/Practitioner/p1", "C"},
        {0, "owner=https://other.example.org/fhir/Practitioner/p2", ""},
        {0, "owner:Practitioner=p1", "AB"},
        {0, "owner:identifier=http://npi|42", "E"},
        {0, "owner:missing=false", "ABCDE"},
        {0, "owner:missing=true", ""},
        {1, "owner=" HOST "/Practitioner/p1", "ABD"},
        {1, "owner=" HERE "/Practitioner/p1", "AB"},
        {1, "owner=Practitioner/p1", "AB"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got =
            matching(a, rows, 5, cases[i].by_host ? HOST : HERE, cases[i].qs);
        if (strcmp(got, cases[i].want) != 0) {
            print_error("%s: want \"%s\", got \"%s\"\n", cases[i].qs,
                        cases[i].want, got);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
    search_registry_set_bases(reg, NULL, 0);
    fhir_arena_free(a);
}

/* ---- in the store --------------------------------------------------- */

struct db {
    char dir[64], path[128];
    store_env *env;
};

static void
db_open(struct db *d)
{
    fhir_err err = FHIR_ERR_INIT;
    store_opts o = STORE_OPTS_INIT;
    snprintf(d->dir, sizeof(d->dir), "/tmp/fhir-idx-XXXXXX");
    assert_non_null(mkdtemp(d->dir));
    snprintf(d->path, sizeof(d->path), "%s/t.db", d->dir);
    o.path = d->path;
    assert_int_equal(store_env_open(&d->env, &o, &err), 0);
    for (size_t i = 0; i < search_registry_count(reg); i++) {
        const search_param *p = search_registry_at(reg, i);
        int num;
        if (search_param_indexed(p)) {
            assert_int_equal(
                store_param_num(&num, d->env, search_param_key(p), &err), 0);
            search_param_set_num(reg, i, num);
        }
    }
}

static void
db_close(struct db *d)
{
    char p[200];
    store_env_close(d->env);
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", d->path, sfx[i]);
        unlink(p);
    }
    rmdir(d->dir);
}

static int64_t
sql_int(struct db *d, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t v = -1;
    assert_int_equal(sqlite3_open(d->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void
put(struct db *d, const char *id, const char *status)
{
    char body[256];
    fhir_err err = FHIR_ERR_INIT;
    store_tx *tx;
    store_put_result out;
    snprintf(body, sizeof(body),
             "{\"resourceType\":\"Task\",\"status\":\"%s\",\"intent\":"
             "\"order\",\"owner\":{\"reference\":\"Practitioner/p1\"}}",
             status);
    cJSON *res = parse(body);
    fhir_arena *a = fhir_arena_new();
    fhir_rows rows;
    index_of(&rows, "Task", res, a);
    store_put in = {.type = fhir_type_find("Task"),
                    .id = id,
                    .resource = res,
                    .method = STORE_METHOD_PUT,
                    .rows = &rows};
    assert_int_equal(store_tx_begin(&tx, d->env, &err), 0);
    assert_int_equal(store_tx_put(&out, tx, &in, &err), 0);
    assert_int_equal(store_tx_commit(tx, &err), 0);
    free(out.body);
    fhir_arena_free(a);
    cJSON_Delete(res);
}

static int64_t
status_count(struct db *d, const char *status)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(n), 0) FROM cnt_token WHERE param = %d AND "
             "code = '%s'",
             search_param_num(param("Task", "status")), status);
    return sql_int(d, sql);
}

static void
rows_of(void *ctx, int type, const char *body, size_t len, fhir_rows *out,
        fhir_arena *a)
{
    (void)ctx;
    cJSON *res = NULL;
    fhir_err err = FHIR_ERR_INIT;
    fhir_json_opts jo = {256, 0};
    if (fhir_json_parse(&res, body, len, &jo, &err) == 0) {
        search_index(out, reg, type, res, a);
        cJSON_Delete(res);
    }
}

static void
store_index__rows_follow_versions_and_counts(void **state)
{
    (void)state;
    struct db d;
    fhir_err err = FHIR_ERR_INIT;
    db_open(&d);
    put(&d, "a", "ready");
    put(&d, "b", "ready");
    assert_int_equal(status_count(&d, "ready"), 2);
    put(&d, "a", "completed"); /* rows replaced, counts moved */
    assert_int_equal(status_count(&d, "ready"), 1);
    assert_int_equal(status_count(&d, "completed"), 1);
    int64_t rows_before = sql_int(&d, "SELECT count(*) FROM idx_token");
    put(&d, "a", "completed"); /* same rows: nothing changes */
    assert_int_equal(sql_int(&d, "SELECT count(*) FROM idx_token"),
                     rows_before);
    assert_int_equal(status_count(&d, "completed"), 1);
    assert_int_equal(
        sql_int(&d, "SELECT n FROM cnt_type WHERE type = (SELECT code FROM "
                    "rtype WHERE name = 'Task')"),
        2);
    /* delete: rows gone, counts down */
    store_tx *tx;
    store_del_result del;
    assert_int_equal(store_tx_begin(&tx, d.env, &err), 0);
    assert_int_equal(
        store_tx_delete(&del, tx, fhir_type_find("Task"), "b", 0, &err), 0);
    assert_int_equal(store_tx_commit(tx, &err), 0);
    assert_int_equal(status_count(&d, "ready"), 0);
    assert_int_equal(
        sql_int(&d, "SELECT count(*) FROM idx_token WHERE rid = (SELECT rid "
                    "FROM resource WHERE id = 'b')"),
        0);
    assert_int_equal(
        sql_int(&d, "SELECT n FROM cnt_type WHERE type = (SELECT code FROM "
                    "rtype WHERE name = 'Task')"),
        1);
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT n FROM cnt_param WHERE param = %d",
             search_param_num(param("Task", "owner")));
    assert_int_equal(sql_int(&d, sql), 1);
    /* reindex rebuilds the same rows and counts */
    int64_t tok = sql_int(&d, "SELECT count(*) FROM idx_token");
    int64_t ref = sql_int(&d, "SELECT count(*) FROM idx_ref");
    int64_t n = 0;
    assert_int_equal(store_reindex(d.env, rows_of, NULL, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(sql_int(&d, "SELECT count(*) FROM idx_token"), tok);
    assert_int_equal(sql_int(&d, "SELECT count(*) FROM idx_ref"), ref);
    assert_int_equal(status_count(&d, "completed"), 1);
    assert_int_equal(sql_int(&d, sql), 1);
    db_close(&d);
}

static void
store_index__settings_round_trip(void **state)
{
    (void)state;
    struct db d;
    fhir_err err = FHIR_ERR_INIT;
    char *v = NULL;
    db_open(&d);
    assert_int_equal(store_setting_get(&v, d.env, "x", &err), 0);
    assert_null(v);
    assert_int_equal(store_setting_set(d.env, "x", "1", &err), 0);
    assert_int_equal(store_setting_set(d.env, "x", "2", &err), 0);
    assert_int_equal(store_setting_get(&v, d.env, "x", &err), 0);
    assert_string_equal(v, "2");
    free(v);
    int a = 0, b = 0;
    assert_int_equal(store_param_num(&a, d.env, "Task-status", &err), 0);
    assert_int_equal(store_param_num(&b, d.env, "Task-status", &err), 0);
    assert_int_equal(a, b);
    db_close(&d);
}

static int
setup(void **state)
{
    (void)state;
    char dir[512];
    fhir_err err = FHIR_ERR_INIT;
    snprintf(dir, sizeof(dir), "%s/profiles/definitions", root());
    if (search_registry_load(&reg, dir, &err) != 0) {
        fprintf(stderr, "registry: %s\n", err.diag);
        return -1;
    }
    /* numbers for the row tests that run without a store */
    for (size_t i = 0; i < search_registry_count(reg); i++) {
        search_param_set_num(reg, i, (int)i + 1);
    }
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    search_registry_free(reg);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(search_registry__loads_and_finds),
        cmocka_unit_test(search_registry__patient_compartment),
        cmocka_unit_test(search_registry__unsupported_are_reported),
        cmocka_unit_test(search_registry__every_standard_parameter_compiles),
        cmocka_unit_test(search_index__clinic_task),
        cmocka_unit_test(search_index__patient_names_dates_telecom),
        cmocka_unit_test(search_index__period_and_choice),
        cmocka_unit_test(search_index__every_official_example_indexes),
        cmocka_unit_test(search_index__reference_on_this_server_is_relative),
        cmocka_unit_test(search_index__reference_forms_match_both_ways),
        cmocka_unit_test(store_index__rows_follow_versions_and_counts),
        cmocka_unit_test(store_index__settings_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
