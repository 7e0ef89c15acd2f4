/* tests/unit/test_fhir_path.c - the FHIRPath subset of fhir/fhirpath.c.
 *
 * Every SearchParameter expression in profiles/definitions/ must compile
 * and run on every official example (under FHIR_TEST_ROOT, default the
 * current directory); the search expressions of the four served types are
 * checked for their values on those examples (tests/fixtures/examples/),
 * and the finer points (choice elements, three-valued logic, unions,
 * types, compile errors) on small inline resources.
 */
#include "fhir/fhir.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------- */

static const char *
test_root(void)
{
    const char *root = getenv("FHIR_TEST_ROOT");
    return root != NULL && root[0] != '\0' ? root : ".";
}

static cJSON *
parse_len(const char *text, size_t len, const char *what)
{
    fhir_json_opts opts = {FHIR_DEFAULT_MAX_DEPTH, 0};
    fhir_err err = FHIR_ERR_INIT;
    cJSON *root = NULL;

    if (fhir_json_parse(&root, text, len, &opts, &err) != 0) {
        fail_msg("%s does not parse: %s", what, err.diag);
    }
    return root;
}

static cJSON *
parse(const char *text)
{
    return parse_len(text, strlen(text), "test JSON");
}

/* The JSON file at root/rel (caller frees with cJSON_Delete). */
static cJSON *
load(const char *rel)
{
    fhir_buf buf = FHIR_BUF_INIT;
    fhir_err err = FHIR_ERR_INIT;
    char path[1024];
    cJSON *root;

    snprintf(path, sizeof(path), "%s/%s", test_root(), rel);
    if (fhir_file_read(&buf, path, 64u * 1024u * 1024u, &err) != 0) {
        fail_msg("cannot read %s: %s", path, err.diag);
    }
    root = parse_len(buf.data, buf.len, path);
    fhir_buf_clear(&buf);
    return root;
}

static cJSON *
example(const char *name)
{
    char rel[256];

    snprintf(rel, sizeof(rel), "tests/fixtures/examples/%s", name);
    return load(rel);
}

static fhir_path *
compile_ok(const char *expr)
{
    fhir_err err = FHIR_ERR_INIT;
    fhir_path *p = NULL;

    if (fhir_path_compile(&p, expr, &err) != 0) {
        fail_msg("'%s' does not compile: %s", expr, err.diag);
    }
    assert_non_null(p);
    return p;
}

/* Evaluates `expr` on `res` into a fresh result (caller clears it). */
static fhir_path_result
run(const char *expr, const cJSON *res)
{
    fhir_path_result r = {NULL, 0, 0};
    fhir_path *p = compile_ok(expr);

    fhir_path_eval(&r, p, res);
    fhir_path_free(p);
    return r;
}

/* Asserts that the result is exactly these string values, in order. The
 * list ends with NULL. */
static void
assert_strings(const fhir_path_result *r, ...)
{
    va_list ap;
    const char *want;
    size_t i = 0;

    va_start(ap, r);
    while ((want = va_arg(ap, const char *)) != NULL) {
        if (i >= r->n) {
            fail_msg("result has %zu items, expected '%s' next", r->n, want);
        }
        assert_true(cJSON_IsString(r->items[i].node));
        assert_string_equal(r->items[i].node->valuestring, want);
        i++;
    }
    va_end(ap);
    assert_int_equal(r->n, i);
}

/* Asserts a single computed boolean. */
static void
assert_bool(const fhir_path_result *r, int want)
{
    assert_int_equal(r->n, 1);
    assert_null(r->items[0].node);
    assert_int_equal(r->items[0].boolean, want);
}

/* Runs `expr` on the JSON `text` and asserts a single boolean (want 0 or
 * 1) or an empty result (want -1). */
static void
assert_logic(const char *expr, const char *text, int want)
{
    cJSON *res = parse(text);
    fhir_path_result r = run(expr, res);

    if (want < 0) {
        if (r.n != 0) {
            fail_msg("'%s' on %s: expected empty, got %zu items", expr, text,
                     r.n);
        }
    } else {
        if (r.n != 1 || r.items[0].node != NULL || r.items[0].boolean != want) {
            fail_msg("'%s' on %s: expected %s", expr, text,
                     want ? "true" : "false");
        }
    }
    fhir_path_result_clear(&r);
    cJSON_Delete(res);
}

static void
assert_compile_fails(const char *expr, fhir_issue issue, const char *diag)
{
    fhir_err err = FHIR_ERR_INIT;
    fhir_path *p = (fhir_path *)&err; /* must be reset to NULL */

    if (fhir_path_compile(&p, expr, &err) == 0) {
        fail_msg("'%s' compiled", expr);
    }
    assert_null(p);
    if (err.issue != issue) {
        fail_msg("'%s': issue %s, expected %s (%s)", expr,
                 fhir_issue_code(err.issue), fhir_issue_code(issue), err.diag);
    }
    if (diag != NULL && strstr(err.diag, diag) == NULL) {
        fail_msg("'%s': diag '%s' does not mention '%s'", expr, err.diag, diag);
    }
}

/* ---- search parameter definitions ----------------------------------- */

static void
fhir_path__compiles_every_search_parameter(void **state)
{
    cJSON *bundle = load("profiles/definitions/search-parameters.json");
    const cJSON *entry;
    int n = 0;

    (void)state;
    cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(bundle, "entry"))
    {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(entry, "resource");
        const char *expr = fhir_json_str(sp, "expression");

        if (expr != NULL) {
            fhir_path_free(compile_ok(expr));
            n++;
        }
    }
    assert_true(n > 50);
    cJSON_Delete(bundle);
}

/* Every definition on every example: nothing may crash or leak, and the
 * `_id` expression finds each example's id. */
static void
fhir_path__search_parameters_run_on_examples(void **state)
{
    cJSON *bundle = load("profiles/definitions/search-parameters.json");
    fhir_path *id = compile_ok("Resource.id");
    fhir_path_result r = {NULL, 0, 0};
    char dir[1024];
    const cJSON *entry;
    struct dirent *de;
    DIR *d;
    int files = 0;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/tests/fixtures/examples", test_root());
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        cJSON *res;

        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0) {
            continue;
        }
        res = example(de->d_name);
        cJSON_ArrayForEach(entry,
                           cJSON_GetObjectItemCaseSensitive(bundle, "entry"))
        {
            const cJSON *sp =
                cJSON_GetObjectItemCaseSensitive(entry, "resource");
            const char *expr = fhir_json_str(sp, "expression");
            fhir_path *p;

            if (expr == NULL) {
                continue;
            }
            p = compile_ok(expr);
            r.n = 0;
            fhir_path_eval(&r, p, res);
            for (size_t i = 0; i < r.n; i++) {
                assert_true(r.items[i].node != NULL ||
                            r.items[i].boolean == 0 || r.items[i].boolean == 1);
            }
            fhir_path_free(p);
        }
        r.n = 0;
        fhir_path_eval(&r, id, res);
        assert_int_equal(r.n, 1);
        assert_string_equal(r.items[0].node->valuestring,
                            fhir_json_str(res, "id"));
        cJSON_Delete(res);
        files++;
    }
    closedir(d);
    assert_true(files >= 60);
    fhir_path_result_clear(&r);
    fhir_path_free(id);
    cJSON_Delete(bundle);
}

/* ---- Task ----------------------------------------------------------- */

static void
fhir_path__task_status(void **state)
{
    cJSON *task = example("task-example1.json");
    fhir_path_result r = run("Task.status", task);

    (void)state;
    assert_strings(&r, "in-progress", NULL);
    assert_null(r.items[0].type);
    fhir_path_result_clear(&r);
    cJSON_Delete(task);
}

static void
fhir_path__task_business_status(void **state)
{
    cJSON *task = example("task-example1.json");
    fhir_path_result r = run("Task.businessStatus", task);

    (void)state;
    assert_int_equal(r.n, 1);
    assert_ptr_equal(r.items[0].node,
                     cJSON_GetObjectItemCaseSensitive(task, "businessStatus"));
    assert_string_equal(fhir_json_str(r.items[0].node, "text"),
                        "waiting for specimen");
    fhir_path_result_clear(&r);
    cJSON_Delete(task);
}

static void
fhir_path__task_part_of(void **state)
{
    cJSON *t1 = example("task-example1.json");
    cJSON *t2 = example("task-example2.json");
    fhir_path_result r = run("Task.partOf", t2);

    (void)state;
    assert_int_equal(r.n, 1);
    assert_string_equal(fhir_json_str(r.items[0].node, "reference"),
                        "Task/example1");
    fhir_path_result_clear(&r);
    r = run("Task.partOf", t1);
    assert_int_equal(r.n, 0);
    fhir_path_result_clear(&r);
    cJSON_Delete(t1);
    cJSON_Delete(t2);
}

static void
fhir_path__task_for_where_resolve_patient(void **state)
{
    static const struct {
        const char *ref;
        size_t n;
    } cases[] = {
        {"Patient/f001", 1},
        {"http://example.org/fhir/Patient/1", 1},
        {"Patient/1/_history/2", 1},
        {"https://h/fhir/Patient/1/_history/2", 1},
        {"Group/g1", 0},
        {"#p1", 0},
        {"urn:uuid:9d5e3c7c-3b8c-4e57-9c4c-7b1ef3d2d2a1", 0},
        {"Patient?identifier=x", 0},
        {"Patient", 0},
        {"Patient/", 0},
        {"Resource/1", 0},
        {"Unknown/1", 0},
    };
    cJSON *task = example("task-example1.json");
    fhir_path_result r = run("Task.for.where(resolve() is Patient)", task);

    (void)state;
    assert_int_equal(r.n, 1);
    assert_ptr_equal(r.items[0].node,
                     cJSON_GetObjectItemCaseSensitive(task, "for"));
    fhir_path_result_clear(&r);
    cJSON_Delete(task);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        cJSON *res;

        snprintf(text, sizeof(text),
                 "{\"resourceType\":\"Task\",\"for\":{\"reference\":\"%s\"}}",
                 cases[i].ref);
        res = parse(text);
        r = run("Task.for.where(resolve() is Patient)", res);
        if (r.n != cases[i].n) {
            fail_msg("%s: %zu items, expected %zu", cases[i].ref, r.n,
                     cases[i].n);
        }
        fhir_path_result_clear(&r);
        cJSON_Delete(res);
    }
}

static void
fhir_path__resolve_yields_the_target_type(void **state)
{
    cJSON *res = parse("{\"resourceType\":\"Task\",\"owner\":"
                       "{\"reference\":\"Practitioner/p1\"},"
                       "\"focus\":{\"display\":\"no reference\"}}");
    fhir_path_result r = run("Task.owner.resolve()", res);

    (void)state;
    assert_int_equal(r.n, 1);
    assert_string_equal(r.items[0].type, "Practitioner");
    fhir_path_result_clear(&r);
    /* Nothing is read from the target. */
    r = run("Task.owner.resolve().name", res);
    assert_int_equal(r.n, 0);
    fhir_path_result_clear(&r);
    r = run("Task.focus.resolve()", res);
    assert_int_equal(r.n, 0);
    fhir_path_result_clear(&r);
    cJSON_Delete(res);
}

static void
fhir_path__task_execution_period(void **state)
{
    cJSON *task = example("task-example4.json");
    fhir_path_result r = run("Task.executionPeriod", task);

    (void)state;
    assert_int_equal(r.n, 1);
    assert_string_equal(fhir_json_str(r.items[0].node, "end"),
                        "2016-10-31T14:45:05+10:00");
    fhir_path_result_clear(&r);
    cJSON_Delete(task);
}

static void
fhir_path__leading_type_filters(void **state)
{
    cJSON *task = example("task-example1.json");
    fhir_path_result r = run("Condition.code", task);

    (void)state;
    assert_int_equal(r.n, 0);
    fhir_path_result_clear(&r);
    r = run("Patient.status | Task.status | ServiceRequest.status", task);
    assert_strings(&r, "in-progress", NULL);
    fhir_path_result_clear(&r);
    r = run("Task", task);
    assert_int_equal(r.n, 1);
    assert_ptr_equal(r.items[0].node, task);
    assert_string_equal(r.items[0].type, "Task");
    fhir_path_result_clear(&r);
    r = run("DomainResource.status", task);
    assert_strings(&r, "in-progress", NULL);
    fhir_path_result_clear(&r);
    cJSON_Delete(task);
}

static void
fhir_path__status_reason_is_not_a_choice(void **state)
{
    cJSON *res = parse("{\"resourceType\":\"Task\","
                       "\"statusReason\":{\"text\":\"why\"}}");
    fhir_path_result r = run("Task.status", res);

    (void)state;
    assert_int_equal(r.n, 0);
    fhir_path_result_clear(&r);
    r = run("Task.statusReason.text", res);
    assert_strings(&r, "why", NULL);
    fhir_path_result_clear(&r);
    cJSON_Delete(res);
}

/* ---- Patient and Practitioner --------------------------------------- */

static void
fhir_path__where_telecom_email(void **state)
{
    const char *expr = "Patient.telecom.where(system='email') | "
                       "Practitioner.telecom.where(system='email')";
    cJSON *pieter = example("patient-example-f001-pieter.json");
    cJSON *peter = example("patient-example.json");
    fhir_path_result r = run(expr, pieter);

    (void)state;
    assert_int_equal(r.n, 1);
    assert_string_equal(fhir_json_str(r.items[0].node, "value"),
                        "p.heuvel@gmail.com");
    fhir_path_result_clear(&r);
    r = run(expr, peter);
    assert_int_equal(r.n, 0);
    fhir_path_result_clear(&r);
    r = run("Patient.telecom.where(system='phone').value", peter);
    assert_strings(&r, "(03) 5555 6473", "(03) 3410 5613", "(03) 5555 8834",
                   NULL);
    fhir_path_result_clear(&r);
    cJSON_Delete(pieter);
    cJSON_Delete(peter);
}

static void
fhir_path__family_on_patient_and_practitioner(void **state)
{
    const char *expr = "Patient.name.family | Practitioner.name.family";
    cJSON *pat = example("patient-example.json");
    cJSON *prac = example("practitioner-example.json");
    fhir_path_result r = run(expr, pat);

    (void)state;
    assert_strings(&r, "Chalmers", "Windsor", NULL);
    fhir_path_result_clear(&r);
    r = run(expr, prac);
    assert_strings(&r, "Careful", NULL);
    fhir_path_result_clear(&r);
    cJSON_Delete(pat);
    cJSON_Delete(prac);
}

static void
fhir_path__deceased_of_type_datetime(void **state)
{
    const char *expr = "(Patient.deceased.ofType(dateTime))";
    cJSON *dead = example("patient-example-c.json");
    cJSON *alive = example("patient-example.json");
    fhir_path_result r = run(expr, dead);

    (void)state;
    assert_strings(&r, "2015-02-14T13:42:00+10:00", NULL);
    assert_string_equal(r.items[0].type, "dateTime");
    fhir_path_result_clear(&r);
    r = run(expr, alive); /* deceasedBoolean false */
    assert_int_equal(r.n, 0);
    fhir_path_result_clear(&r);
    cJSON_Delete(dead);
    cJSON_Delete(alive);
}

static void
fhir_path__deceased_search_expression(void **state)
{
    const char *expr =
        "Patient.deceased.exists() and Patient.deceased != false";
    const char *ne = "Patient.deceased != false";
    cJSON *d = example("patient-example-d.json");
    fhir_path_result r = run(expr, d); /* deceasedBoolean true */

    (void)state;
    assert_bool(&r, 1);
    fhir_path_result_clear(&r);
    cJSON_Delete(d);

    assert_logic(expr,
                 "{\"resourceType\":\"Patient\",\"deceasedBoolean\":true}", 1);
    assert_logic(expr,
                 "{\"resourceType\":\"Patient\",\"deceasedBoolean\":false}", 0);
    assert_logic(expr,
                 "{\"resourceType\":\"Patient\",\"deceasedDateTime\":\"2010\"}",
                 1);
    assert_logic(expr, "{\"resourceType\":\"Patient\"}", 0);
    assert_logic(expr, "{\"resourceType\":\"Task\"}", 0);
    /* The comparison alone is empty without a value. */
    assert_logic(ne, "{\"resourceType\":\"Patient\"}", -1);
    assert_logic(ne, "{\"resourceType\":\"Patient\",\"deceasedBoolean\":true}",
                 1);
    assert_logic(
        ne, "{\"resourceType\":\"Patient\",\"deceasedDateTime\":\"2010\"}", 1);
}

/* ---- ServiceRequest ------------------------------------------------- */

static void
fhir_path__choice_occurrence_datetime(void **state)
{
    cJSON *sr = example("servicerequest-example-di.json");
    fhir_path_result r = run("ServiceRequest.occurrence", sr);

    (void)state;
    assert_strings(&r, "2013-05-08T09:33:27+07:00", NULL);
    assert_string_equal(r.items[0].type, "dateTime");
    fhir_path_result_clear(&r);
    cJSON_Delete(sr);
}

static void
fhir_path__choice_occurrence_period(void **state)
{
    cJSON *sr = example("servicerequest-example-myringotomy.json");
    cJSON *timing = example("servicerequest-example2.json");
    fhir_path_result r = run("ServiceRequest.occurrence", sr);

    (void)state;
    assert_int_equal(r.n, 1);
    assert_true(cJSON_IsObject(r.items[0].node));
    assert_string_equal(r.items[0].type, "Period");
    assert_string_equal(fhir_json_str(r.items[0].node, "end"), "2014-03-14");
    fhir_path_result_clear(&r);
    r = run("ServiceRequest.occurrence.ofType(Period).end", sr);
    assert_strings(&r, "2014-03-14", NULL);
    fhir_path_result_clear(&r);
    r = run("ServiceRequest.occurrence.ofType(dateTime)", sr);
    assert_int_equal(r.n, 0);
    fhir_path_result_clear(&r);
    r = run("ServiceRequest.occurrence", timing);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.items[0].type, "Timing");
    fhir_path_result_clear(&r);
    cJSON_Delete(sr);
    cJSON_Delete(timing);
}

static void
fhir_path__choice_types_keep_their_case(void **state)
{
    static const struct {
        const char *member;
        const char *value;
        const char *type;
    } cases[] = {
        {"valueBoolean", "true", "boolean"},
        {"valueBase64Binary", "\"AA==\"", "base64Binary"},
        {"valuePositiveInt", "3", "positiveInt"},
        {"valueId", "\"a\"", "id"},
        {"valueUri", "\"u:x\"", "uri"},
        {"valueCodeableConcept", "{\"text\":\"t\"}", "CodeableConcept"},
        {"valueMeta", "{\"source\":\"s\"}", "Meta"},
        {"valueDosage", "{\"text\":\"t\"}", "Dosage"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        cJSON *res;
        fhir_path_result r;

        snprintf(text, sizeof(text),
                 "{\"resourceType\":\"Basic\",\"extension\":[{\"url\":\"u\","
                 "\"%s\":%s}]}",
                 cases[i].member, cases[i].value);
        res = parse(text);
        r = run("Basic.extension.value", res);
        assert_int_equal(r.n, 1);
        assert_string_equal(r.items[0].type, cases[i].type);
        fhir_path_result_clear(&r);
        cJSON_Delete(res);
    }
}

static void
fhir_path__choice_prefers_the_plain_member(void **state)
{
    cJSON *res = parse("{\"resourceType\":\"Basic\",\"value\":\"plain\","
                       "\"valueString\":\"choice\",\"valueSet\":\"v\"}");
    fhir_path_result r = run("value", res);

    (void)state;
    assert_strings(&r, "plain", NULL);
    assert_null(r.items[0].type);
    fhir_path_result_clear(&r);
    cJSON_Delete(res);
    res = parse("{\"resourceType\":\"Basic\",\"valueSet\":\"v\","
                "\"valueString\":\"choice\",\"_valueString\":{\"id\":\"x\"}}");
    r = run("value", res);
    assert_strings(&r, "choice", NULL);
    assert_string_equal(r.items[0].type, "string");
    fhir_path_result_clear(&r);
    cJSON_Delete(res);
}

/* ---- Resource ------------------------------------------------------- */

static void
fhir_path__resource_meta_tag(void **state)
{
    cJSON *res = parse("{\"resourceType\":\"Practitioner\",\"id\":\"pr1\","
                       "\"meta\":{\"tag\":[{\"code\":\"a\"},{\"code\":\"b\"}],"
                       "\"security\":[{\"code\":\"s\"}]}}");
    fhir_path_result r = run("Resource.meta.tag", res);

    (void)state;
    assert_int_equal(r.n, 2);
    assert_string_equal(fhir_json_str(r.items[0].node, "code"), "a");
    assert_string_equal(fhir_json_str(r.items[1].node, "code"), "b");
    fhir_path_result_clear(&r);
    r = run("Resource.meta.tag.code", res);
    assert_strings(&r, "a", "b", NULL);
    fhir_path_result_clear(&r);
    r = run("Resource.id", res);
    assert_strings(&r, "pr1", NULL);
    fhir_path_result_clear(&r);
    cJSON_Delete(res);
}

static void
fhir_path__resource_id_on_every_type(void **state)
{
    const char *files[] = {"task-example2.json", "patient-example.json",
                           "practitioner-example.json",
                           "servicerequest-example.json"};
    const char *ids[] = {"example2", "example", "example", "example"};

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        cJSON *res = example(files[i]);
        fhir_path_result r = run("Resource.id", res);

        assert_strings(&r, ids[i], NULL);
        fhir_path_result_clear(&r);
        cJSON_Delete(res);
    }
}

/* ---- unions --------------------------------------------------------- */

static void
fhir_path__union_keeps_order_and_drops_duplicates(void **state)
{
    cJSON *pat = example("patient-example.json");
    fhir_path_result r =
        run("Patient.gender | Patient.id | Patient.gender", pat);

    (void)state;
    assert_strings(&r, "male", "example", NULL);
    fhir_path_result_clear(&r);
    r = run("Patient.name.family | Resource.name.family | "
            "Patient.name.where(family = 'Windsor').family",
            pat);
    assert_strings(&r, "Chalmers", "Windsor", NULL);
    fhir_path_result_clear(&r);
    r = run("Patient.name | Patient.name.first()", pat);
    assert_int_equal(r.n, 3);
    fhir_path_result_clear(&r);
    r = run("Patient.birthDate | (Patient.id | Patient.birthDate)", pat);
    assert_strings(&r, "1974-12-25", "example", NULL);
    fhir_path_result_clear(&r);
    r = run("true | true | false", pat);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.items[0].boolean, 1);
    assert_int_equal(r.items[1].boolean, 0);
    fhir_path_result_clear(&r);
    cJSON_Delete(pat);
}

/* A result array may already hold items; evaluation appends. */
static void
fhir_path__eval_appends(void **state)
{
    cJSON *pat = example("patient-example.json");
    fhir_path *p = compile_ok("Patient.name.family | Patient.gender");
    fhir_path_result r = {NULL, 0, 0};

    (void)state;
    fhir_path_eval(&r, p, pat);
    fhir_path_eval(&r, p, pat);
    assert_strings(&r, "Chalmers", "Windsor", "male", "Chalmers", "Windsor",
                   "male", NULL);
    fhir_path_eval(&r, p, NULL);
    assert_int_equal(r.n, 6);
    fhir_path_result_clear(&r);
    fhir_path_result_clear(&r);
    fhir_path_result_clear(NULL);
    fhir_path_free(p);
    fhir_path_free(NULL);
    cJSON_Delete(pat);
}

/* ---- logic and comparison ------------------------------------------ */

static void
fhir_path__three_valued_logic(void **state)
{
    const char *none = "{\"resourceType\":\"Patient\"}";
    const char *yes = "{\"resourceType\":\"Patient\",\"active\":true}";
    const char *no = "{\"resourceType\":\"Patient\",\"active\":false}";

    (void)state;
    assert_logic("Patient.active and true", none, -1);
    assert_logic("Patient.active and false", none, 0);
    assert_logic("false and Patient.active", none, 0);
    assert_logic("Patient.active or true", none, 1);
    assert_logic("Patient.active or false", none, -1);
    assert_logic("Patient.active and true", yes, 1);
    assert_logic("Patient.active and true", no, 0);
    assert_logic("Patient.active or Patient.active", no, 0);
    assert_logic("Patient.active or Patient.active", yes, 1);
    assert_logic("true or false and false", none, 1);
    assert_logic("(true or false) and false", none, 0);
    assert_logic("Patient.active.not()", yes, 0);
    assert_logic("Patient.active.not()", none, -1);
    assert_logic("Patient.active.not().not()", no, 0);
}

static void
fhir_path__equality(void **state)
{
    const char *res = "{\"resourceType\":\"Patient\",\"gender\":\"female\","
                      "\"multipleBirthInteger\":2,\"active\":true,"
                      "\"name\":[{\"given\":[\"A\",\"B\"]}]}";

    (void)state;
    assert_logic("Patient.gender = 'female'", res, 1);
    assert_logic("Patient.gender != 'female'", res, 0);
    assert_logic("Patient.gender = 'male'", res, 0);
    assert_logic("Patient.multipleBirth = 2", res, 1);
    assert_logic("Patient.multipleBirth = 2.0", res, 1);
    assert_logic("Patient.multipleBirth != 3", res, 1);
    assert_logic("Patient.active = true", res, 1);
    assert_logic("Patient.active = 'true'", res, 0);
    assert_logic("Patient.gender = Patient.missing", res, -1);
    assert_logic("Patient.missing != 'x'", res, -1);
    /* Collections compare item by item, in order. */
    assert_logic("Patient.name.given = ('A' | 'B')", res, 1);
    assert_logic("Patient.name.given = ('B' | 'A')", res, 0);
    assert_logic("Patient.name.given = 'A'", res, 0);
    assert_logic("'a' = 'a'", res, 1);
    assert_logic("1 = 1", res, 1);
    assert_logic("true != false", res, 1);
}

static void
fhir_path__string_escapes_and_quoted_names(void **state)
{
    const char *res = "{\"resourceType\":\"Patient\",\"gender\":\"it's\","
                      "\"id\":\"a\\\\b\",\"birthDate\":\"\\u00e9\\t\"}";

    (void)state;
    assert_logic("Patient.gender = 'it\\'s'", res, 1);
    assert_logic("Patient.id = 'a\\\\b'", res, 1);
    assert_logic("Patient.birthDate = '\\u00E9\\t'", res, 1);
    assert_logic("Patient.`gender` = 'it\\'s'", res, 1);
    assert_logic("`Patient`.gender.exists()", res, 1);
    assert_logic("Patient.language = '\\uD83D\\uDE00 \\u00e9'",
                 "{\"resourceType\":\"Patient\",\"language\":"
                 "\"\xF0\x9F\x98\x80 \xC3\xA9\"}",
                 1);
}

static void
fhir_path__whitespace_and_comments(void **state)
{
    const char *res = "{\"resourceType\":\"Patient\",\"gender\":\"male\"}";

    (void)state;
    assert_logic("  Patient . gender\n=\t'male' ", res, 1);
    assert_logic("Patient.gender /* the gender */ = 'male' // done", res, 1);
    assert_logic("( ( Patient.gender ) ) . exists ( )", res, 1);
}

/* ---- functions ------------------------------------------------------ */

static void
fhir_path__exists_empty_first_this(void **state)
{
    cJSON *pat = example("patient-example.json");
    fhir_path_result r;

    (void)state;
    r = run("Patient.telecom.exists(system = 'email')", pat);
    assert_bool(&r, 0);
    fhir_path_result_clear(&r);
    r = run("Patient.telecom.exists(system = 'phone')", pat);
    assert_bool(&r, 1);
    fhir_path_result_clear(&r);
    r = run("Patient.photo.empty()", pat);
    assert_bool(&r, 1);
    fhir_path_result_clear(&r);
    r = run("Patient.name.exists()", pat);
    assert_bool(&r, 1);
    fhir_path_result_clear(&r);
    r = run("Patient.name.given.first()", pat);
    assert_strings(&r, "Peter", NULL);
    fhir_path_result_clear(&r);
    r = run("Patient.name.given.where($this = 'James')", pat);
    assert_strings(&r, "James", "James", NULL);
    fhir_path_result_clear(&r);
    r = run("Patient.name.where($this.family = 'Windsor').given", pat);
    assert_strings(&r, "Peter", "James", NULL);
    fhir_path_result_clear(&r);
    r = run("$this.id", pat);
    assert_strings(&r, "example", NULL);
    fhir_path_result_clear(&r);
    r = run("exists()", pat);
    assert_bool(&r, 1);
    fhir_path_result_clear(&r);
    cJSON_Delete(pat);
}

static void
fhir_path__of_type_by_json_shape(void **state)
{
    cJSON *res = parse("{\"resourceType\":\"Patient\",\"active\":true,"
                       "\"gender\":\"male\",\"name\":[{\"family\":\"F\"}],"
                       "\"multipleBirthInteger\":2,"
                       "\"contained\":[{\"resourceType\":\"Practitioner\","
                       "\"id\":\"pr\"}],"
                       "\"extension\":[{\"url\":\"d\",\"valueDecimal\":1.5},"
                       "{\"url\":\"n\",\"valueInteger\":-1}]}");
    fhir_path_result r = run("Patient.name.ofType(HumanName)", res);

    (void)state;
    assert_int_equal(r.n, 1);
    assert_string_equal(r.items[0].type, "HumanName");
    fhir_path_result_clear(&r);
    r = run("Patient.name.ofType(string)", res);
    assert_int_equal(r.n, 0);
    fhir_path_result_clear(&r);
    r = run("Patient.gender.ofType(code)", res);
    assert_strings(&r, "male", NULL);
    assert_string_equal(r.items[0].type, "code");
    fhir_path_result_clear(&r);
    r = run("Patient.gender as string", res);
    assert_strings(&r, "male", NULL);
    fhir_path_result_clear(&r);
    r = run("Patient.active.as(FHIR.boolean)", res);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.items[0].type, "boolean");
    fhir_path_result_clear(&r);
    r = run("Patient.contained.ofType(Practitioner).id", res);
    assert_strings(&r, "pr", NULL);
    fhir_path_result_clear(&r);
    r = run("Patient.contained.ofType(Resource)", res);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.items[0].type, "Practitioner");
    fhir_path_result_clear(&r);
    r = run("Patient.contained.ofType(Patient)", res);
    assert_int_equal(r.n, 0);
    fhir_path_result_clear(&r);
    r = run("Patient.contained.ofType(Reference)", res);
    assert_int_equal(r.n, 0);
    fhir_path_result_clear(&r);
    /* Known types follow R4's specialisations: positiveInt is an
     * integer, a decimal is not. */
    r = run("Patient.extension.value.ofType(integer)", res);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.items[0].type, "integer");
    fhir_path_result_clear(&r);
    cJSON_Delete(res);

    assert_logic("Patient.multipleBirth is integer",
                 "{\"resourceType\":\"Patient\",\"multipleBirthInteger\":2}",
                 1);
    assert_logic("Patient.multipleBirth is boolean",
                 "{\"resourceType\":\"Patient\",\"multipleBirthInteger\":2}",
                 0);
    assert_logic("Patient.x.ofType(positiveInt).exists()",
                 "{\"resourceType\":\"Patient\",\"x\":0}", 0);
    assert_logic("Patient.x.ofType(unsignedInt).exists()",
                 "{\"resourceType\":\"Patient\",\"x\":0}", 1);
    assert_logic("Patient.x.ofType(integer).exists()",
                 "{\"resourceType\":\"Patient\",\"x\":1.0}", 0);
    assert_logic("Patient.x.ofType(decimal).exists()",
                 "{\"resourceType\":\"Patient\",\"x\":1.0}", 1);
    assert_logic("Patient.x is Quantity",
                 "{\"resourceType\":\"Patient\",\"x\":{\"value\":1}}", 1);
    assert_logic("Patient is DomainResource", "{\"resourceType\":\"Patient\"}",
                 1);
    assert_logic("is(Resource)", "{\"resourceType\":\"Bundle\"}", 1);
    assert_logic("is(DomainResource)", "{\"resourceType\":\"Bundle\"}", 0);
    assert_logic("Patient.missing is string", "{\"resourceType\":\"Patient\"}",
                 -1);
}

static void
fhir_path__is_follows_specialisations(void **state)
{
    const char *obs = "{\"resourceType\":\"Observation\","
                      "\"valueAge\":{\"value\":3,\"unit\":\"a\"},"
                      "\"effectiveInstant\":\"2020-01-01T00:00:00Z\","
                      "\"extension\":[{\"url\":\"u\","
                      "\"valueCanonical\":\"http://x\"}]}";
    cJSON *res = parse(obs);
    fhir_path_result r = run("Observation.value.ofType(Quantity)", res);

    (void)state;
    assert_int_equal(r.n, 1);
    assert_string_equal(r.items[0].type, "Age"); /* the known type stays */
    fhir_path_result_clear(&r);
    cJSON_Delete(res);
    assert_logic("Observation.value is Age", obs, 1);
    assert_logic("Observation.value is Duration", obs, 0);
    assert_logic("Observation.effective is dateTime", obs, 0);
    assert_logic("Observation.effective is instant", obs, 1);
    assert_logic("Observation.extension.value is uri", obs, 1);
    assert_logic("Observation.extension.value is string", obs, 0);
}

static void
fhir_path__extension_by_url(void **state)
{
    cJSON *res = parse("{\"resourceType\":\"Patient\",\"extension\":["
                       "{\"url\":\"http://a\",\"valueString\":\"one\"},"
                       "{\"url\":\"http://b\",\"valueString\":\"two\"},"
                       "{\"url\":\"http://a\",\"valueCode\":\"three\"}]}");
    fhir_path_result r = run("Patient.extension('http://a').value", res);

    (void)state;
    assert_strings(&r, "one", "three", NULL);
    assert_string_equal(r.items[1].type, "code");
    fhir_path_result_clear(&r);
    r = run("extension('http://c')", res);
    assert_int_equal(r.n, 0);
    fhir_path_result_clear(&r);
    cJSON_Delete(res);
}

static void
fhir_path__arrays_flatten_and_skip_nulls(void **state)
{
    cJSON *res = parse("{\"resourceType\":\"Patient\",\"name\":["
                       "{\"given\":[\"a\",null,\"c\"],"
                       "\"_given\":[null,{\"id\":\"x\"},null]},"
                       "{\"given\":[\"d\"]}],\"gender\":\"male\"}");
    fhir_path_result r = run("Patient.name.given", res);

    (void)state;
    assert_strings(&r, "a", "c", "d", NULL);
    fhir_path_result_clear(&r);
    /* Steps on primitives find nothing. */
    r = run("Patient.gender.value | Patient.name.given.id", res);
    assert_int_equal(r.n, 0);
    fhir_path_result_clear(&r);
    cJSON_Delete(res);
}

/* ---- compile errors ------------------------------------------------- */

static void
fhir_path__unsupported_function(void **state)
{
    (void)state;
    assert_compile_fails("Patient.name.count()", FHIR_ISSUE_NOT_SUPPORTED,
                         "'count'");
    assert_compile_fails("hasValue() or (children().count() > id.count())",
                         FHIR_ISSUE_NOT_SUPPORTED, "'hasValue'");
    assert_compile_fails("Patient.name.where(given.startsWith('A'))",
                         FHIR_ISSUE_NOT_SUPPORTED, "'startsWith'");
    assert_compile_fails("Patient.extension(url)", FHIR_ISSUE_NOT_SUPPORTED,
                         "extension");
}

static void
fhir_path__indexer(void **state)
{
    cJSON *pat = parse("{\"resourceType\":\"Patient\",\"id\":\"p\","
                       "\"name\":[{\"given\":[\"a\",\"b\"]},"
                       "{\"given\":[\"c\"]}]}");
    cJSON *task = parse("{\"resourceType\":\"Task\",\"input\":["
                        "{\"valueString\":\"x\"},{\"valueInteger\":7}]}");
    static const struct {
        const char *expr;
        const char *want; /* NULL: empty */
    } cases[] = {
        {"Patient.name[1].given", "c"},
        {"Patient.name[0].given[1]", "b"},
        /* The index counts the whole collection, across names. */
        {"Patient.name.given[2]", "c"},
        {"(Patient.name.given | Patient.id)[3]", "p"},
        {"Patient.name [ 0 ] . given[0]", "a"},
        {"Patient.name[2]", NULL},
        {"Patient.name.given[3]", NULL},
    };
    fhir_path_result r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r = run(cases[i].expr, pat);
        assert_strings(&r, cases[i].want, NULL);
        fhir_path_result_clear(&r);
    }
    r = run("Patient.name[0]", pat);
    assert_int_equal(r.n, 1);
    assert_ptr_equal(
        r.items[0].node,
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(pat, "name"), 0));
    fhir_path_result_clear(&r);
    /* Items keep the type a choice element gave them. */
    r = run("Task.input[1].value", task);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.items[0].node->valueint, 7);
    assert_string_equal(r.items[0].type, "integer");
    fhir_path_result_clear(&r);
    r = run("Task.input.value[0] = 'x'", task);
    assert_bool(&r, 1);
    fhir_path_result_clear(&r);
    cJSON_Delete(pat);
    cJSON_Delete(task);
}

static void
fhir_path__unsupported_syntax(void **state)
{
    static const struct {
        const char *expr;
        const char *diag;
    } cases[] = {
        {"Patient.name[id]", "index expression 'id'"},
        {"Patient.name[-1]", "index expression '-'"},
        {"Patient.name[(0)]", "index expression '('"},
        {"Patient.a + 1", "'+'"},
        {"Patient.a - 1", "'-'"},
        {"Patient.a * 2", "'*'"},
        {"Patient.a & 'x'", "'&'"},
        {"Patient.a < 1", "'<'"},
        {"Patient.a >= 1", "'>='"},
        {"Patient.a ~ 'x'", "'~'"},
        {"Patient.a !~ 'x'", "'!~'"},
        {"Patient.a xor true", "'xor'"},
        {"Patient.a implies true", "'implies'"},
        {"Patient.a div 2", "'div'"},
        {"'x' in Patient.a", "'in'"},
        {"Patient.a contains 'x'", "'contains'"},
        {"Patient.a is Period | Patient.b < 2", "'<'"},
        {"%resource.id", "%resource"},
        {"Patient.birthDate = @2020-01-01", "@2020-01-01"},
        {"-1", "'-'"},
        {"{}", "empty collection"},
        {"$index", "$index"},
        {"Patient.a = 4 'mg'", "quantity"},
        {"Patient.a is System.String", "System"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_compile_fails(cases[i].expr, FHIR_ISSUE_NOT_SUPPORTED,
                             cases[i].diag);
    }
}

static void
fhir_path__syntax_errors(void **state)
{
    static const char *const cases[] = {
        "",
        "   ",
        "Patient.",
        "Patient..name",
        "Patient.name.where(given",
        "(Patient.name",
        "Patient.name)",
        "Patient.name = ",
        "Patient.name and",
        "'unterminated",
        "`unterminated",
        "Patient.name = 'bad \\q escape'",
        "Patient.name = '\\u00'",
        "Patient.name = '\\u0000'",
        "Patient.name = '\\uD800'",
        "where()",
        "exists(1, 2)",
        "Patient.name.empty(1)",
        "Patient.name.ofType()",
        "Patient.name.ofType(notAType)",
        "Patient.name is",
        "Patient.name is 'x'",
        "Patient.name 'x'",
        "Patient.name #",
        "Patient.name /* open",
        "Patient.name | ",
        ".name",
        "Patient.name[]",
        "Patient.name[0",
        "Patient.name[1.5]",
        "Patient.name[0 1]",
        "Patient.name[99999999999999999999999]",
        "[0]",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_compile_fails(cases[i], FHIR_ISSUE_INVALID, "FHIRPath");
    }
}

static void
fhir_path__nesting_is_capped(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;
    char *expr;

    (void)state;
    /* Parentheses. */
    for (int i = 0; i < 60; i++) {
        fhir_buf_putc(&b, '(');
    }
    fhir_buf_puts(&b, "Patient.id");
    for (int i = 0; i < 60; i++) {
        fhir_buf_putc(&b, ')');
    }
    expr = fhir_buf_take(&b, NULL);
    fhir_path_free(compile_ok(expr));
    free(expr);
    for (int i = 0; i < 100000; i++) {
        fhir_buf_putc(&b, '(');
    }
    expr = fhir_buf_take(&b, NULL);
    assert_compile_fails(expr, FHIR_ISSUE_NOT_SUPPORTED, "nested");
    free(expr);
    /* Long paths and chains of operators make a tall tree too. */
    fhir_buf_puts(&b, "Patient");
    for (int i = 0; i < 100; i++) {
        fhir_buf_puts(&b, ".a");
    }
    expr = fhir_buf_take(&b, NULL);
    assert_compile_fails(expr, FHIR_ISSUE_NOT_SUPPORTED, "nested");
    free(expr);
    fhir_buf_puts(&b, "true");
    for (int i = 0; i < 100; i++) {
        fhir_buf_puts(&b, " and true");
    }
    expr = fhir_buf_take(&b, NULL);
    assert_compile_fails(expr, FHIR_ISSUE_NOT_SUPPORTED, "nested");
    free(expr);
    /* A union is one node however many operands it has. */
    fhir_buf_puts(&b, "Patient.id");
    for (int i = 0; i < 500; i++) {
        fhir_buf_puts(&b, " | Task.id");
    }
    expr = fhir_buf_take(&b, NULL);
    fhir_path_free(compile_ok(expr));
    free(expr);
}

static void
fhir_path__first_error_wins(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    fhir_path *p = NULL;

    (void)state;
    assert_int_equal(fhir_path_compile(&p, "count()", &err), -1);
    assert_int_equal(fhir_path_compile(&p, "(", &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_NOT_SUPPORTED);
    assert_int_equal(err.status, 400);
    assert_non_null(strstr(err.diag, "count"));
    assert_int_equal(fhir_path_compile(&p, "Patient.id", NULL), 0);
    fhir_path_free(p);
    assert_int_equal(fhir_path_compile(&p, "Patient.", NULL), -1);
    assert_null(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fhir_path__compiles_every_search_parameter),
        cmocka_unit_test(fhir_path__search_parameters_run_on_examples),
        cmocka_unit_test(fhir_path__task_status),
        cmocka_unit_test(fhir_path__task_business_status),
        cmocka_unit_test(fhir_path__task_part_of),
        cmocka_unit_test(fhir_path__task_for_where_resolve_patient),
        cmocka_unit_test(fhir_path__resolve_yields_the_target_type),
        cmocka_unit_test(fhir_path__task_execution_period),
        cmocka_unit_test(fhir_path__leading_type_filters),
        cmocka_unit_test(fhir_path__status_reason_is_not_a_choice),
        cmocka_unit_test(fhir_path__where_telecom_email),
        cmocka_unit_test(fhir_path__family_on_patient_and_practitioner),
        cmocka_unit_test(fhir_path__deceased_of_type_datetime),
        cmocka_unit_test(fhir_path__deceased_search_expression),
        cmocka_unit_test(fhir_path__choice_occurrence_datetime),
        cmocka_unit_test(fhir_path__choice_occurrence_period),
        cmocka_unit_test(fhir_path__choice_types_keep_their_case),
        cmocka_unit_test(fhir_path__choice_prefers_the_plain_member),
        cmocka_unit_test(fhir_path__resource_meta_tag),
        cmocka_unit_test(fhir_path__resource_id_on_every_type),
        cmocka_unit_test(fhir_path__union_keeps_order_and_drops_duplicates),
        cmocka_unit_test(fhir_path__eval_appends),
        cmocka_unit_test(fhir_path__three_valued_logic),
        cmocka_unit_test(fhir_path__equality),
        cmocka_unit_test(fhir_path__string_escapes_and_quoted_names),
        cmocka_unit_test(fhir_path__whitespace_and_comments),
        cmocka_unit_test(fhir_path__exists_empty_first_this),
        cmocka_unit_test(fhir_path__of_type_by_json_shape),
        cmocka_unit_test(fhir_path__is_follows_specialisations),
        cmocka_unit_test(fhir_path__extension_by_url),
        cmocka_unit_test(fhir_path__arrays_flatten_and_skip_nulls),
        cmocka_unit_test(fhir_path__unsupported_function),
        cmocka_unit_test(fhir_path__indexer),
        cmocka_unit_test(fhir_path__unsupported_syntax),
        cmocka_unit_test(fhir_path__syntax_errors),
        cmocka_unit_test(fhir_path__nesting_is_capped),
        cmocka_unit_test(fhir_path__first_error_wins),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
