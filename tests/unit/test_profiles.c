/* tests/unit/test_profiles.c - the profile registry and the validator.
 *
 * The registry is loaded once from profiles/definitions/ (under
 * FHIR_TEST_ROOT, default the current directory). Every official R4
 * example of the four served types (tests/fixtures/examples/) must pass;
 * each kind of problem the validator reports has its own case checking
 * the issue code and the FHIRPath. Bindings on Coding and CodeableConcept
 * do not occur in the four R4 types, so they are checked against a small
 * hand-written definitions directory made in a temporary directory.
 */
#include "profiles/profiles.h"
#include "profiles/profiles_int.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------- */

static const char *
test_root(void)
{
    const char *root = getenv("FHIR_TEST_ROOT");
    return root != NULL && root[0] != '\0' ? root : ".";
}

static char *
read_file(const char *path, size_t *len)
{
    fhir_buf buf = FHIR_BUF_INIT;
    char chunk[8192];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        fhir_buf_append(&buf, chunk, n);
    }
    fclose(f);
    return fhir_buf_take(&buf, len);
}

static cJSON *
parse(const char *text)
{
    fhir_json_opts opts = {FHIR_DEFAULT_MAX_DEPTH, 0};
    fhir_err err = FHIR_ERR_INIT;
    cJSON *root = NULL;

    if (fhir_json_parse(&root, text, strlen(text), &opts, &err) != 0) {
        fail_msg("test JSON does not parse: %s", err.diag);
    }
    return root;
}

static void
write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
remove_file(const char *dir, const char *name)
{
    char path[1024];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

/* 1 when the OperationOutcome has an issue with this code and expression
 * (NULL: none). */
static int
oo_has(const cJSON *oo, const char *code, const char *expr)
{
    const cJSON *issue;

    cJSON_ArrayForEach(issue, cJSON_GetObjectItemCaseSensitive(oo, "issue"))
    {
        const cJSON *ex = cJSON_GetArrayItem(
            cJSON_GetObjectItemCaseSensitive(issue, "expression"), 0);
        const char *c = fhir_json_str(issue, "code");
        if (c == NULL || strcmp(c, code) != 0) {
            continue;
        }
        if (expr == NULL
                ? ex == NULL
                : (cJSON_IsString(ex) && strcmp(ex->valuestring, expr) == 0)) {
            return 1;
        }
    }
    return 0;
}

static int
oo_count(const cJSON *oo, const char *severity)
{
    const cJSON *issue;
    int n = 0;

    cJSON_ArrayForEach(issue, cJSON_GetObjectItemCaseSensitive(oo, "issue"))
    {
        const char *s = fhir_json_str(issue, "severity");
        n += s != NULL && strcmp(s, severity) == 0;
    }
    return n;
}

static char *
oo_text(const cJSON *oo)
{
    return oo != NULL ? cJSON_PrintUnformatted(oo) : strdup("(none)");
}

/* Validates `text`; asserts failure, that `err` holds the first issue with
 * `code`/`expr`, and that the OperationOutcome lists it. */
static void
assert_first_issue(const prof_registry *reg, const char *text, fhir_issue issue,
                   const char *expr)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *res = parse(text);
    cJSON *oo = NULL;
    int rc = prof_validate(&oo, reg, res, &err);

    if (rc != -1 || err.issue != issue ||
        strcmp(err.expr, expr != NULL ? expr : "") != 0) {
        char *s = oo_text(oo);
        fail_msg("want %s at '%s', got rc %d %s at '%s': %s\n%s",
                 fhir_issue_code(issue), expr != NULL ? expr : "", rc,
                 fhir_issue_code(err.issue), err.expr, err.diag, s);
    }
    assert_int_equal(err.status, 400);
    assert_true(oo_has(oo, fhir_issue_code(issue), expr));
    cJSON_Delete(oo);
    cJSON_Delete(res);
}

static void
assert_valid(const prof_registry *reg, const cJSON *res, const char *what)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *oo = NULL;

    if (prof_validate(&oo, reg, res, &err) != 0) {
        char *s = oo_text(oo);
        fail_msg("%s: %s at '%s'\n%s", what, err.diag, err.expr, s);
    }
    assert_null(oo);
    assert_int_equal(err.issue, FHIR_ISSUE_NONE);
}

static void
assert_valid_text(const prof_registry *reg, const char *text)
{
    cJSON *res = parse(text);
    assert_valid(reg, res, text);
    cJSON_Delete(res);
}

/* ---- fixtures ------------------------------------------------------- */

static int
registry_setup(void **state)
{
    char dir[1024];
    fhir_err err = FHIR_ERR_INIT;
    prof_registry *reg = NULL;

    snprintf(dir, sizeof(dir), "%s/profiles/definitions", test_root());
    if (prof_registry_load(&reg, dir, &err) != 0) {
        fprintf(stderr, "cannot load %s: %s\n", dir, err.diag);
        return -1;
    }
    *state = reg;
    return 0;
}

static int
registry_teardown(void **state)
{
    prof_registry_free(*state);
    return 0;
}

/* ---- registry ------------------------------------------------------- */

static void
prof_registry_load__missing_dir(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    prof_registry *reg = NULL;

    (void)state;

    assert_int_equal(prof_registry_load(&reg, "/nonexistent/defs", &err), -1);
    assert_null(reg);
    assert_int_equal(err.issue, FHIR_ISSUE_NOT_FOUND);
    prof_registry_free(NULL);
}

static void
prof_registry_load__broken_json(void **state)
{
    char dir[] = "/tmp/test_profiles_XXXXXX";
    fhir_err err = FHIR_ERR_INIT;
    prof_registry *reg = NULL;

    (void)state;
    assert_non_null(mkdtemp(dir));
    write_file(dir, PROF_FILE_VALUESETS, "{\"resourceType\":\"Bundle\"}");
    write_file(dir, PROF_FILE_STRUCTURES, "{\"resourceType\": [}");
    assert_int_equal(prof_registry_load(&reg, dir, &err), -1);
    assert_null(reg);
    assert_int_equal(err.issue, FHIR_ISSUE_STRUCTURE);
    assert_non_null(strstr(err.diag, PROF_FILE_STRUCTURES));
    remove_file(dir, PROF_FILE_VALUESETS);
    remove_file(dir, PROF_FILE_STRUCTURES);
    rmdir(dir);
}

static void
prof_registry_load__has_the_served_types(void **state)
{
    const prof_registry *reg = *state;
    static const char *const types[] = {"Task", "ServiceRequest", "Patient",
                                        "Practitioner"};

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        int found = 0;
        for (size_t k = 0; k < reg->nsds; k++) {
            found |= strcmp(reg->sds[k].type, types[i]) == 0 &&
                     reg->sds[k].kind == PROF_SD_RESOURCE;
        }
        assert_true(found);
    }
}

/* An element's one type, from the snapshot. */
static void
prof_element_type__from_the_snapshot(void **state)
{
    const prof_registry *reg = *state;
    assert_string_equal(prof_element_type(reg, "Task.identifier"),
                        "Identifier");
    assert_string_equal(prof_element_type(reg, "Patient.telecom"),
                        "ContactPoint");
    assert_string_equal(prof_element_type(reg, "Task.status"), "code");
    assert_null(prof_element_type(reg, "Task.input.value[x]")); /* choice */
    assert_null(prof_element_type(reg, "Task.nothing"));
    assert_null(prof_element_type(reg, "Nothing.identifier"));
    assert_null(prof_element_type(reg, "Task"));
}

static void
prof_valueset_contains__codes_and_systems(void **state)
{
    const prof_registry *reg = *state;
    const char *ts = "http://hl7.org/fhir/ValueSet/task-status";

    assert_int_equal(prof_valueset_contains(reg, ts, NULL, "draft"), 1);
    assert_int_equal(
        prof_valueset_contains(reg,
                               "http://hl7.org/fhir/ValueSet/task-status"
                               "|4.0.1",
                               NULL, "completed"),
        1);
    assert_int_equal(prof_valueset_contains(
                         reg, ts, "http://hl7.org/fhir/task-status", "draft"),
                     1);
    assert_int_equal(
        prof_valueset_contains(reg, ts, "http://example.org/x", "draft"), 0);
    assert_int_equal(prof_valueset_contains(reg, ts, NULL, "bogus"), 0);
    assert_int_equal(prof_valueset_contains(reg, "http://example.org/vs/none",
                                            NULL, "draft"),
                     -1);
}

static void
prof_valueset_contains__nested_and_included(void **state)
{
    const prof_registry *reg = *state;
    const char *ri = "http://hl7.org/fhir/ValueSet/request-intent";
    const char *ti = "http://hl7.org/fhir/ValueSet/task-intent";

    /* request-intent nests original-order under order. */
    assert_int_equal(prof_valueset_contains(reg, ri, NULL, "original-order"),
                     1);
    /* task-intent: its own CodeSystem plus listed request-intent codes. */
    assert_int_equal(prof_valueset_contains(reg, ti, NULL, "unknown"), 1);
    assert_int_equal(
        prof_valueset_contains(reg, ti, "http://hl7.org/fhir/request-intent",
                               "order"),
        1);
    assert_int_equal(prof_valueset_contains(reg, ti, NULL, "whenever"), 0);
}

static void
prof_valueset_contains__external_system_is_unknown(void **state)
{
    const prof_registry *reg = *state;

    /* BCP-13 mime types cannot be enumerated: never a false "no". */
    assert_int_equal(
        prof_valueset_contains(reg, "http://hl7.org/fhir/ValueSet/mimetypes",
                               NULL, "image/gif"),
        -1);
}

/* ---- the official examples ------------------------------------------ */

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
prof_validate__official_examples(void **state)
{
    const prof_registry *reg = *state;
    char dir[1024];
    char *names[256];
    size_t nnames = 0;
    int nres = 0;
    DIR *d;
    struct dirent *de;

    snprintf(dir, sizeof(dir), "%s/tests/fixtures/examples", test_root());
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL && nnames < 256) {
        size_t n = strlen(de->d_name);
        if (n > 5 && strcmp(de->d_name + n - 5, ".json") == 0) {
            names[nnames++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, nnames, sizeof(names[0]), name_cmp);
    assert_int_equal(nnames, 70);

    for (size_t i = 0; i < nnames; i++) {
        char path[2048];
        fhir_json_opts opts = FHIR_JSON_OPTS_INIT;
        fhir_err err = FHIR_ERR_INIT;
        cJSON *root = NULL;
        size_t len;
        char *text;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        text = read_file(path, &len);
        if (fhir_json_parse(&root, text, len, &opts, &err) != 0) {
            fail_msg("%s: %s", names[i], err.diag);
        }
        if (strcmp(fhir_json_str(root, "resourceType"), "Bundle") == 0) {
            const cJSON *entry;
            cJSON_ArrayForEach(entry,
                               cJSON_GetObjectItemCaseSensitive(root, "entry"))
            {
                assert_valid(
                    reg, cJSON_GetObjectItemCaseSensitive(entry, "resource"),
                    names[i]);
                nres++;
            }
        } else {
            assert_valid(reg, root, names[i]);
            nres++;
        }
        cJSON_Delete(root);
        free(text);
        free(names[i]);
    }
    /* 68 single resources, 12 Patients and 59 Practitioners in Bundles. */
    assert_int_equal(nres, 68 + 12 + 59);
}

/* ---- required elements ---------------------------------------------- */

static void
prof_validate__task_missing_status(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Task\",\"intent\":\"order\"}",
                       FHIR_ISSUE_REQUIRED, "Task.status");
}

static void
prof_validate__task_missing_intent(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *res = parse("{\"resourceType\":\"Task\",\"status\":\"draft\"}");

    assert_int_equal(prof_validate(NULL, *state, res, &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_REQUIRED);
    assert_string_equal(err.expr, "Task.intent");
    assert_string_equal(err.diag, "Task.intent is required");
    cJSON_Delete(res);
}

static void
prof_validate__patient_link_missing_other(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Patient\",\"link\":["
                       "{\"other\":{\"reference\":\"Patient/a\"},"
                       "\"type\":\"seealso\"},{\"type\":\"seealso\"}]}",
                       FHIR_ISSUE_REQUIRED, "Patient.link[1].other");
}

static void
prof_validate__servicerequest_missing_subject(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"ServiceRequest\","
                       "\"status\":\"active\",\"intent\":\"order\"}",
                       FHIR_ISSUE_REQUIRED, "ServiceRequest.subject");
}

static void
prof_validate__task_input_missing_type_and_value(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *oo = NULL;
    cJSON *res = parse("{\"resourceType\":\"Task\",\"status\":\"draft\","
                       "\"intent\":\"order\",\"input\":[{}]}");

    assert_int_equal(prof_validate(&oo, *state, res, &err), -1);
    assert_true(oo_has(oo, "required", "Task.input[0].type"));
    assert_true(oo_has(oo, "required", "Task.input[0].value"));
    assert_int_equal(oo_count(oo, "error"), 2);
    cJSON_Delete(oo);
    cJSON_Delete(res);
}

static void
prof_validate__extension_missing_url(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Patient\",\"extension\":["
                       "{\"valueString\":\"x\"}]}",
                       FHIR_ISSUE_REQUIRED, "Patient.extension[0].url");
}

static void
prof_validate__primitive_extension_counts_as_present(void **state)
{
    /* R4 json.html#primitive: `_status` alone gives Task.status a value
     * holder with an extension. */
    assert_valid_text(*state,
                      "{\"resourceType\":\"Task\",\"intent\":\"order\","
                      "\"_status\":{\"extension\":[{\"url\":"
                      "\"http://example.org/why\",\"valueString\":\"x\"}]}}");
}

/* ---- codes of required bindings ------------------------------------- */

static void
prof_validate__task_status_bogus(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *res = parse("{\"resourceType\":\"Task\",\"status\":\"bogus\","
                       "\"intent\":\"order\"}");

    assert_int_equal(prof_validate(NULL, *state, res, &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_CODE_INVALID);
    assert_string_equal(err.expr, "Task.status");
    assert_non_null(strstr(err.diag, "'bogus'"));
    assert_non_null(
        strstr(err.diag, "http://hl7.org/fhir/ValueSet/task-status"));
    cJSON_Delete(res);
}

static void
prof_validate__task_priority_whenever(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Task\",\"status\":\"draft\","
                       "\"intent\":\"order\",\"priority\":\"whenever\"}",
                       FHIR_ISSUE_CODE_INVALID, "Task.priority");
}

static void
prof_validate__patient_gender_x(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Patient\",\"gender\":\"x\"}",
                       FHIR_ISSUE_CODE_INVALID, "Patient.gender");
}

static void
prof_validate__practitioner_gender_invalid(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Practitioner\","
                       "\"gender\":\"Female\"}",
                       FHIR_ISSUE_CODE_INVALID, "Practitioner.gender");
}

static void
prof_validate__patient_name_use_bogus(void **state)
{
    /* HumanName.use is bound to name-use inside the datatype. */
    assert_first_issue(*state,
                       "{\"resourceType\":\"Patient\",\"name\":["
                       "{\"use\":\"bogus\",\"family\":\"Chalmers\"}]}",
                       FHIR_ISSUE_CODE_INVALID, "Patient.name[0].use");
}

static void
prof_validate__patient_telecom_system_fax2(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Patient\",\"telecom\":["
                       "{\"system\":\"phone\",\"value\":\"1\"},"
                       "{\"system\":\"fax2\",\"value\":\"2\"}]}",
                       FHIR_ISSUE_CODE_INVALID, "Patient.telecom[1].system");
}

static void
prof_validate__servicerequest_intent_nested_code(void **state)
{
    /* reflex-order sits below order in the request-intent hierarchy. */
    assert_valid_text(*state, "{\"resourceType\":\"ServiceRequest\","
                              "\"status\":\"active\",\"intent\":"
                              "\"reflex-order\",\"subject\":"
                              "{\"reference\":\"Patient/a\"}}");
}

/* ---- JSON shape ----------------------------------------------------- */

static void
prof_validate__patient_name_object(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Patient\",\"name\":"
                       "{\"family\":\"Chalmers\"}}",
                       FHIR_ISSUE_STRUCTURE, "Patient.name");
}

static void
prof_validate__task_status_number(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Task\",\"status\":5,"
                       "\"intent\":\"order\"}",
                       FHIR_ISSUE_STRUCTURE, "Task.status");
}

static void
prof_validate__task_status_array(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Task\",\"status\":[\"draft\"],"
                       "\"intent\":\"order\"}",
                       FHIR_ISSUE_STRUCTURE, "Task.status");
}

static void
prof_validate__patient_active_string(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Patient\",\"active\":\"true\"}",
                       FHIR_ISSUE_STRUCTURE, "Patient.active");
}

static void
prof_validate__complex_as_string(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Task\",\"status\":\"draft\","
                       "\"intent\":\"order\",\"for\":\"Patient/a\"}",
                       FHIR_ISSUE_STRUCTURE, "Task.for");
}

static void
prof_validate__choice_wrong_kind(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Task\",\"status\":\"draft\","
                       "\"intent\":\"order\",\"input\":[{\"type\":"
                       "{\"text\":\"n\"},\"valueString\":5}]}",
                       FHIR_ISSUE_STRUCTURE,
                       "Task.input[0].value.ofType(string)");
}

static void
prof_validate__integer_values(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Patient\","
                       "\"multipleBirthInteger\":1.5}",
                       FHIR_ISSUE_VALUE,
                       "Patient.multipleBirth.ofType(integer)");
    assert_first_issue(*state,
                       "{\"resourceType\":\"Task\",\"status\":\"draft\","
                       "\"intent\":\"order\",\"input\":[{\"type\":"
                       "{\"text\":\"n\"},\"valuePositiveInt\":0}]}",
                       FHIR_ISSUE_VALUE,
                       "Task.input[0].value.ofType(positiveInt)");
}

static void
prof_validate__null_member(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Task\",\"status\":null,"
                       "\"intent\":\"order\"}",
                       FHIR_ISSUE_STRUCTURE, "Task.status");
}

static void
prof_validate__unknown_resource_type(void **state)
{
    assert_first_issue(*state, "{\"resourceType\":\"Observation\"}",
                       FHIR_ISSUE_STRUCTURE, NULL);
    assert_first_issue(*state, "{\"resourceType\":\"DomainResource\"}",
                       FHIR_ISSUE_STRUCTURE, NULL);
    assert_first_issue(*state, "{\"resourceType\":\"HumanName\"}",
                       FHIR_ISSUE_STRUCTURE, NULL);
    assert_first_issue(*state, "{\"id\":\"x\"}", FHIR_ISSUE_STRUCTURE, NULL);
    assert_first_issue(*state, "[]", FHIR_ISSUE_STRUCTURE, NULL);
}

static void
prof_validate__unknown_members_skipped(void **state)
{
    assert_valid_text(*state, "{\"resourceType\":\"Patient\",\"foo\":1,"
                              "\"name\":[{\"bar\":[true]}]}");
}

/* ---- contained resources -------------------------------------------- */

static void
prof_validate__contained_checked(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"ServiceRequest\","
                       "\"status\":\"active\",\"intent\":\"order\","
                       "\"subject\":{\"reference\":\"#p\"},\"contained\":["
                       "{\"resourceType\":\"Observation\",\"id\":\"o\"},"
                       "{\"resourceType\":\"Patient\",\"id\":\"p\","
                       "\"gender\":\"x\"}]}",
                       FHIR_ISSUE_CODE_INVALID,
                       "ServiceRequest.contained[1].gender");
}

static void
prof_validate__contained_without_type(void **state)
{
    assert_first_issue(*state,
                       "{\"resourceType\":\"Patient\",\"contained\":["
                       "{\"id\":\"p\"}]}",
                       FHIR_ISSUE_STRUCTURE, "Patient.contained[0]");
}

/* ---- many issues ---------------------------------------------------- */

static void
prof_validate__several_issues(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *oo = NULL;
    cJSON *res = parse("{\"resourceType\":\"Task\",\"status\":\"bogus\","
                       "\"priority\":\"whenever\",\"performerType\":[{"
                       "\"coding\":[{\"system\":\"http://x\"},{\"system\":5}]"
                       "}]}");

    assert_int_equal(prof_validate(&oo, *state, res, &err), -1);
    /* First found wins; members come before the missing ones. */
    assert_int_equal(err.issue, FHIR_ISSUE_CODE_INVALID);
    assert_string_equal(err.expr, "Task.status");
    assert_string_equal(fhir_json_str(oo, "resourceType"), "OperationOutcome");
    assert_int_equal(oo_count(oo, "error"), 4);
    assert_true(oo_has(oo, "code-invalid", "Task.status"));
    assert_true(oo_has(oo, "code-invalid", "Task.priority"));
    assert_true(
        oo_has(oo, "structure", "Task.performerType[0].coding[1].system"));
    assert_true(oo_has(oo, "required", "Task.intent"));
    cJSON_Delete(oo);
    cJSON_Delete(res);
}

static void
prof_validate__issue_cap(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;
    fhir_err err = FHIR_ERR_INIT;
    cJSON *oo = NULL;
    cJSON *res;

    fhir_buf_puts(&b, "{\"resourceType\":\"Patient\",\"telecom\":[");
    for (int i = 0; i < 3 * PROF_MAX_ISSUES; i++) {
        fhir_buf_printf(&b, "%s{\"system\":\"no\"}", i > 0 ? "," : "");
    }
    fhir_buf_puts(&b, "]}");
    res = parse(b.data);
    assert_int_equal(prof_validate(&oo, *state, res, &err), -1);
    assert_int_equal(oo_count(oo, "error"), PROF_MAX_ISSUES);
    assert_int_equal(oo_count(oo, "information"), 1);
    cJSON_Delete(oo);
    cJSON_Delete(res);
    fhir_buf_clear(&b);
}

static void
prof_validate__keeps_an_earlier_error(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *res = parse("{\"resourceType\":\"Task\"}");

    fhir_err_set(&err, FHIR_ISSUE_CONFLICT, "earlier");
    assert_int_equal(prof_validate(NULL, *state, res, &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_CONFLICT);
    cJSON_Delete(res);
}

/* ---- Coding and CodeableConcept bindings (own definitions) ---------- */

/* A resource Widget: kind (CodeableConcept) and tag (Coding) bound to
 * colors; item is a backbone element whose part repeats it through a
 * contentReference, with a required bound code. */
static const char widget_sds[] =
    "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
    "{\"resource\":{\"resourceType\":\"StructureDefinition\","
    "\"url\":\"http://example.org/sd/Widget\",\"kind\":\"resource\","
    "\"abstract\":false,\"type\":\"Widget\",\"snapshot\":{\"element\":["
    "{\"path\":\"Widget\",\"min\":0,\"max\":\"*\"},"
    "{\"path\":\"Widget.kind\",\"min\":0,\"max\":\"1\","
    "\"type\":[{\"code\":\"CodeableConcept\"}],\"binding\":{\"strength\":"
    "\"required\",\"valueSet\":\"http://example.org/vs/colors|1\"}},"
    "{\"path\":\"Widget.tag\",\"min\":0,\"max\":\"*\","
    "\"type\":[{\"code\":\"Coding\"}],\"binding\":{\"strength\":"
    "\"required\",\"valueSet\":\"http://example.org/vs/colors\"}},"
    "{\"path\":\"Widget.item\",\"min\":0,\"max\":\"*\","
    "\"type\":[{\"code\":\"BackboneElement\"}]},"
    "{\"path\":\"Widget.item.code\",\"min\":1,\"max\":\"1\","
    "\"type\":[{\"code\":\"code\"}],\"binding\":{\"strength\":"
    "\"required\",\"valueSet\":\"http://example.org/vs/colors\"}},"
    "{\"path\":\"Widget.item.part\",\"min\":0,\"max\":\"*\","
    "\"contentReference\":\"#Widget.item\"}]}}},"
    "{\"resource\":{\"resourceType\":\"StructureDefinition\","
    "\"url\":\"http://example.org/sd/CodeableConcept\","
    "\"kind\":\"complex-type\",\"type\":\"CodeableConcept\","
    "\"snapshot\":{\"element\":["
    "{\"path\":\"CodeableConcept\",\"min\":0,\"max\":\"*\"},"
    "{\"path\":\"CodeableConcept.coding\",\"min\":0,\"max\":\"*\","
    "\"type\":[{\"code\":\"Coding\"}]},"
    "{\"path\":\"CodeableConcept.text\",\"min\":0,\"max\":\"1\","
    "\"type\":[{\"code\":\"string\"}]}]}}},"
    "{\"resource\":{\"resourceType\":\"StructureDefinition\","
    "\"url\":\"http://example.org/sd/Coding\",\"kind\":\"complex-type\","
    "\"type\":\"Coding\",\"snapshot\":{\"element\":["
    "{\"path\":\"Coding\",\"min\":0,\"max\":\"*\"},"
    "{\"path\":\"Coding.system\",\"min\":0,\"max\":\"1\","
    "\"type\":[{\"code\":\"uri\"}]},"
    "{\"path\":\"Coding.code\",\"min\":0,\"max\":\"1\","
    "\"type\":[{\"code\":\"code\"}]}]}}},"
    "{\"resource\":{\"resourceType\":\"StructureDefinition\","
    "\"url\":\"http://example.org/sd/code\",\"kind\":\"primitive-type\","
    "\"type\":\"code\",\"snapshot\":{\"element\":[{\"path\":\"code\"}]}}},"
    "{\"resource\":{\"resourceType\":\"StructureDefinition\","
    "\"url\":\"http://example.org/sd/BackboneElement\","
    "\"kind\":\"complex-type\",\"type\":\"BackboneElement\","
    "\"snapshot\":{\"element\":[{\"path\":\"BackboneElement\"}]}}}]}";

/* colors: the whole colors CodeSystem (red, and dark-red nested under
 * it) and the ValueSet blues; open: a filter, so not enumerable. */
static const char widget_vss[] =
    "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
    "{\"resource\":{\"resourceType\":\"ValueSet\","
    "\"url\":\"http://example.org/vs/colors\",\"compose\":{\"include\":["
    "{\"system\":\"http://example.org/cs/colors\"},"
    "{\"valueSet\":[\"http://example.org/vs/blues\"]}]}}},"
    "{\"resource\":{\"resourceType\":\"ValueSet\","
    "\"url\":\"http://example.org/vs/blues\",\"compose\":{\"include\":["
    "{\"system\":\"http://example.org/cs/other\",\"concept\":["
    "{\"code\":\"blue\"}]}]}}},"
    "{\"resource\":{\"resourceType\":\"ValueSet\","
    "\"url\":\"http://example.org/vs/open\",\"compose\":{\"include\":["
    "{\"system\":\"http://example.org/cs/colors\",\"filter\":["
    "{\"property\":\"concept\",\"op\":\"is-a\",\"value\":\"red\"}]}]}}},"
    "{\"resource\":{\"resourceType\":\"CodeSystem\","
    "\"url\":\"http://example.org/cs/colors\",\"content\":\"complete\","
    "\"concept\":[{\"code\":\"red\",\"concept\":[{\"code\":\"dark-red\"}]}]"
    "}}]}";

static int
widget_setup(void **state)
{
    char dir[] = "/tmp/test_profiles_XXXXXX";
    fhir_err err = FHIR_ERR_INIT;
    prof_registry *reg = NULL;
    int rc;

    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    write_file(dir, PROF_FILE_STRUCTURES, widget_sds);
    write_file(dir, PROF_FILE_VALUESETS, widget_vss);
    rc = prof_registry_load(&reg, dir, &err);
    remove_file(dir, PROF_FILE_STRUCTURES);
    remove_file(dir, PROF_FILE_VALUESETS);
    rmdir(dir);
    if (rc != 0) {
        fprintf(stderr, "widget definitions: %s\n", err.diag);
        return -1;
    }
    *state = reg;
    return 0;
}

static void
prof_validate__concept_binding(void **state)
{
    assert_valid_text(*state, "{\"resourceType\":\"Widget\",\"kind\":{"
                              "\"coding\":[{\"system\":\"http://x\","
                              "\"code\":\"red\"},{\"system\":"
                              "\"http://example.org/cs/colors\","
                              "\"code\":\"dark-red\"}]}}");
    assert_valid_text(*state, "{\"resourceType\":\"Widget\",\"kind\":{"
                              "\"text\":\"reddish\"}}");
    assert_first_issue(*state,
                       "{\"resourceType\":\"Widget\",\"kind\":{\"coding\":["
                       "{\"system\":\"http://example.org/cs/colors\","
                       "\"code\":\"green\"}]}}",
                       FHIR_ISSUE_CODE_INVALID, "Widget.kind");
}

static void
prof_validate__coding_binding(void **state)
{
    assert_valid_text(*state, "{\"resourceType\":\"Widget\",\"tag\":["
                              "{\"system\":\"http://example.org/cs/other\","
                              "\"code\":\"blue\"},{\"code\":\"anything\"}]}");
    assert_first_issue(*state,
                       "{\"resourceType\":\"Widget\",\"tag\":["
                       "{\"system\":\"http://example.org/cs/other\","
                       "\"code\":\"blue\"},"
                       "{\"system\":\"http://example.org/cs/other\","
                       "\"code\":\"red\"}]}",
                       FHIR_ISSUE_CODE_INVALID, "Widget.tag[1].code");
}

static void
prof_validate__content_reference(void **state)
{
    assert_valid_text(*state, "{\"resourceType\":\"Widget\",\"item\":["
                              "{\"code\":\"red\",\"part\":[{\"code\":"
                              "\"blue\"}]}]}");
    assert_first_issue(*state,
                       "{\"resourceType\":\"Widget\",\"item\":["
                       "{\"code\":\"red\",\"part\":[{\"code\":\"blue\"},"
                       "{\"code\":\"bogus\"}]}]}",
                       FHIR_ISSUE_CODE_INVALID, "Widget.item[0].part[1].code");
    assert_first_issue(*state,
                       "{\"resourceType\":\"Widget\",\"item\":["
                       "{\"code\":\"red\",\"part\":[{}]}]}",
                       FHIR_ISSUE_REQUIRED, "Widget.item[0].part[0].code");
}

static void
prof_valueset_contains__filter_is_unknown(void **state)
{
    const char *open = "http://example.org/vs/open";

    assert_int_equal(prof_valueset_contains(*state, open, NULL, "red"), -1);
    assert_int_equal(prof_valueset_contains(
                         *state, "http://example.org/vs/colors", NULL, "blue"),
                     1);
}

int
main(void)
{
    const struct CMUnitTest r4[] = {
        cmocka_unit_test(prof_registry_load__missing_dir),
        cmocka_unit_test(prof_registry_load__broken_json),
        cmocka_unit_test(prof_registry_load__has_the_served_types),
        cmocka_unit_test(prof_element_type__from_the_snapshot),
        cmocka_unit_test(prof_valueset_contains__codes_and_systems),
        cmocka_unit_test(prof_valueset_contains__nested_and_included),
        cmocka_unit_test(prof_valueset_contains__external_system_is_unknown),
        cmocka_unit_test(prof_validate__official_examples),
        cmocka_unit_test(prof_validate__task_missing_status),
        cmocka_unit_test(prof_validate__task_missing_intent),
        cmocka_unit_test(prof_validate__patient_link_missing_other),
        cmocka_unit_test(prof_validate__servicerequest_missing_subject),
        cmocka_unit_test(prof_validate__task_input_missing_type_and_value),
        cmocka_unit_test(prof_validate__extension_missing_url),
        cmocka_unit_test(prof_validate__primitive_extension_counts_as_present),
        cmocka_unit_test(prof_validate__task_status_bogus),
        cmocka_unit_test(prof_validate__task_priority_whenever),
        cmocka_unit_test(prof_validate__patient_gender_x),
        cmocka_unit_test(prof_validate__practitioner_gender_invalid),
        cmocka_unit_test(prof_validate__patient_name_use_bogus),
        cmocka_unit_test(prof_validate__patient_telecom_system_fax2),
        cmocka_unit_test(prof_validate__servicerequest_intent_nested_code),
        cmocka_unit_test(prof_validate__patient_name_object),
        cmocka_unit_test(prof_validate__task_status_number),
        cmocka_unit_test(prof_validate__task_status_array),
        cmocka_unit_test(prof_validate__patient_active_string),
        cmocka_unit_test(prof_validate__complex_as_string),
        cmocka_unit_test(prof_validate__choice_wrong_kind),
        cmocka_unit_test(prof_validate__integer_values),
        cmocka_unit_test(prof_validate__null_member),
        cmocka_unit_test(prof_validate__unknown_resource_type),
        cmocka_unit_test(prof_validate__unknown_members_skipped),
        cmocka_unit_test(prof_validate__contained_checked),
        cmocka_unit_test(prof_validate__contained_without_type),
        cmocka_unit_test(prof_validate__several_issues),
        cmocka_unit_test(prof_validate__issue_cap),
        cmocka_unit_test(prof_validate__keeps_an_earlier_error),
    };
    const struct CMUnitTest widget[] = {
        cmocka_unit_test(prof_validate__concept_binding),
        cmocka_unit_test(prof_validate__coding_binding),
        cmocka_unit_test(prof_validate__content_reference),
        cmocka_unit_test(prof_valueset_contains__filter_is_unknown),
    };
    int failed = cmocka_run_group_tests_name("profiles (R4)", r4,
                                             registry_setup, registry_teardown);

    failed += cmocka_run_group_tests_name("profiles (own definitions)", widget,
                                          widget_setup, registry_teardown);
    return failed != 0;
}
