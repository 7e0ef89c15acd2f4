/* tests/unit/test_fhir_patch.c - JSON Patch and FHIRPath Patch
 * (fhir/patch.c).
 *
 * JSON Patch follows RFC 6902 appendix A case by case, with data of our
 * own, then the edges of JSON Pointer and the error statuses. FHIRPath
 * Patch runs every operation type on a small Task, with a stub schema in
 * place of the definitions server/ would consult. Every failing case
 * checks that the document is unchanged (all-or-nothing), its status
 * (400 malformed, 422 not applicable) and that the diagnostics name the
 * operation.
 */
#include "fhir/fhir.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------- */

static cJSON *
parse(const char *text)
{
    fhir_json_opts opts = {FHIR_DEFAULT_MAX_DEPTH, 0};
    fhir_err err = FHIR_ERR_INIT;
    cJSON *root = NULL;

    if (fhir_json_parse(&root, text, strlen(text), &opts, &err) != 0) {
        fail_msg("test JSON does not parse: %s\n%s", err.diag, text);
    }
    return root;
}

/* Compact JSON text of `item` (caller frees). */
static char *
to_json(const cJSON *item)
{
    fhir_buf b = FHIR_BUF_INIT;

    fhir_json_write(&b, item, 0);
    return fhir_buf_take(&b, NULL);
}

/* Asserts that `item` is the JSON `want`, member order included. */
static void
assert_json(const cJSON *item, const char *want)
{
    cJSON *w = parse(want);
    char *got = to_json(item);
    char *exp = to_json(w);

    if (strcmp(got, exp) != 0) {
        fail_msg("got      %s\nexpected %s", got, exp);
    }
    free(got);
    free(exp);
    cJSON_Delete(w);
}

/* Asserts a failure: status, issue and a piece of the diagnostics. */
static void
assert_err(const fhir_err *err, int status, fhir_issue issue, const char *diag)
{
    if (err->status != status || err->issue != issue ||
        strstr(err->diag, diag) == NULL) {
        fail_msg("got %d %s '%s', expected %d %s mentioning '%s'", err->status,
                 fhir_issue_code(err->issue), err->diag, status,
                 fhir_issue_code(issue), diag);
    }
}

/* Which patch format a case runs. */
typedef enum fmt { FMT_JSON, FMT_FHIRPATH } fmt;

static int
apply(fmt f, cJSON *doc, const cJSON *patch, const fhir_patch_schema *schema,
      fhir_err *err)
{
    if (f == FMT_JSON) {
        return fhir_patch_json(doc, patch, err);
    }
    return fhir_patch_fhirpath(doc, patch, schema, err);
}

/* Applies `patch` to `doc` and asserts success and the result `want`. */
static void
patch_ok(fmt f, const char *doc, const char *patch,
         const fhir_patch_schema *schema, const char *want)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *d = parse(doc);
    cJSON *p = parse(patch);

    if (apply(f, d, p, schema, &err) != 0) {
        fail_msg("patch failed: %s", err.diag);
    }
    assert_int_equal(err.status, 0);
    assert_json(d, want);
    cJSON_Delete(d);
    cJSON_Delete(p);
}

/* Applies `patch` to `doc`, asserts the failure and that doc is as it
 * was. */
static void
patch_fails(fmt f, const char *doc, const char *patch,
            const fhir_patch_schema *schema, int status, const char *diag)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *d = parse(doc);
    cJSON *p = parse(patch);

    if (apply(f, d, p, schema, &err) != -1) {
        char *got = to_json(d);

        fail_msg("patch succeeded: %s", got);
    }
    assert_err(&err, status,
               status == 400 ? FHIR_ISSUE_INVALID : FHIR_ISSUE_PROCESSING,
               diag);
    assert_json(d, doc);
    cJSON_Delete(d);
    cJSON_Delete(p);
}

static void
json_ok(const char *doc, const char *patch, const char *want)
{
    patch_ok(FMT_JSON, doc, patch, NULL, want);
}

static void
json_fails(const char *doc, const char *patch, int status, const char *diag)
{
    patch_fails(FMT_JSON, doc, patch, NULL, status, diag);
}

/* ---- JSON Patch: RFC 6902 appendix A -------------------------------- */

static void
fhir_patch_json__a1_add_object_member(void **state)
{
    (void)state;
    json_ok("{\"status\":\"draft\"}",
            "[{\"op\":\"add\",\"path\":\"/intent\",\"value\":\"order\"}]",
            "{\"status\":\"draft\",\"intent\":\"order\"}");
}

static void
fhir_patch_json__a2_add_array_element(void **state)
{
    (void)state;
    json_ok("{\"code\":[\"a\",\"c\"]}",
            "[{\"op\":\"add\",\"path\":\"/code/1\",\"value\":\"b\"}]",
            "{\"code\":[\"a\",\"b\",\"c\"]}");
}

static void
fhir_patch_json__a3_remove_object_member(void **state)
{
    (void)state;
    json_ok("{\"status\":\"draft\",\"intent\":\"order\"}",
            "[{\"op\":\"remove\",\"path\":\"/status\"}]",
            "{\"intent\":\"order\"}");
}

static void
fhir_patch_json__a4_remove_array_element(void **state)
{
    (void)state;
    json_ok("{\"code\":[\"a\",\"b\",\"c\"]}",
            "[{\"op\":\"remove\",\"path\":\"/code/1\"}]",
            "{\"code\":[\"a\",\"c\"]}");
}

static void
fhir_patch_json__a5_replace_value(void **state)
{
    (void)state;
    json_ok("{\"status\":\"draft\",\"intent\":\"order\"}",
            "[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"active\"}]",
            "{\"status\":\"active\",\"intent\":\"order\"}");
}

static void
fhir_patch_json__a6_move_value(void **state)
{
    (void)state;
    json_ok("{\"a\":{\"x\":1,\"y\":2},\"b\":{\"z\":3}}",
            "[{\"op\":\"move\",\"from\":\"/a/y\",\"path\":\"/b/y\"}]",
            "{\"a\":{\"x\":1},\"b\":{\"z\":3,\"y\":2}}");
}

static void
fhir_patch_json__a7_move_array_element(void **state)
{
    (void)state;
    json_ok("{\"l\":[\"w\",\"x\",\"y\",\"z\"]}",
            "[{\"op\":\"move\",\"from\":\"/l/1\",\"path\":\"/l/3\"}]",
            "{\"l\":[\"w\",\"y\",\"z\",\"x\"]}");
}

static void
fhir_patch_json__a8_test_succeeds(void **state)
{
    (void)state;
    json_ok("{\"s\":\"abc\",\"n\":[1,2,{\"k\":true}]}",
            "[{\"op\":\"test\",\"path\":\"/s\",\"value\":\"abc\"},"
            "{\"op\":\"test\",\"path\":\"/n/2\",\"value\":{\"k\":true}},"
            "{\"op\":\"test\",\"path\":\"/n\",\"value\":[1,2,{\"k\":true}]}]",
            "{\"s\":\"abc\",\"n\":[1,2,{\"k\":true}]}");
}

static void
fhir_patch_json__a9_test_fails(void **state)
{
    (void)state;
    json_fails("{\"s\":\"abc\"}",
               "[{\"op\":\"test\",\"path\":\"/s\",\"value\":\"abd\"}]", 422,
               "operation 0 (test): the value at /s is not the one given");
}

static void
fhir_patch_json__a10_add_nested_member(void **state)
{
    (void)state;
    json_ok(
        "{\"a\":1}",
        "[{\"op\":\"add\",\"path\":\"/b\",\"value\":{\"c\":[1,{\"d\":2}]}}]",
        "{\"a\":1,\"b\":{\"c\":[1,{\"d\":2}]}}");
}

static void
fhir_patch_json__a11_ignores_unrecognised_members(void **state)
{
    (void)state;
    json_ok("{\"a\":1}",
            "[{\"op\":\"add\",\"path\":\"/b\",\"value\":2,\"extra\":3,"
            "\"from\":7}]",
            "{\"a\":1,\"b\":2}");
}

static void
fhir_patch_json__a12_add_to_missing_target(void **state)
{
    (void)state;
    json_fails("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/b/c\",\"value\":2}]",
               422, "operation 0 (add): path /b/c not found");
}

static void
fhir_patch_json__a13_invalid_operation(void **state)
{
    (void)state;
    json_fails("{\"a\":1}", "[{\"op\":\"merge\",\"path\":\"/a\"}]", 400,
               "operation 0: unknown op 'merge'");
    json_fails("{\"a\":1}", "[{\"path\":\"/a\",\"value\":1}]", 400,
               "no \"op\"");
}

static void
fhir_patch_json__a14_tilde_escapes(void **state)
{
    (void)state;
    json_ok("{\"/\":9,\"~1\":10,\"~\":{\"/~\":1}}",
            "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10},"
            "{\"op\":\"test\",\"path\":\"/~1\",\"value\":9},"
            "{\"op\":\"replace\",\"path\":\"/~0/~1~0\",\"value\":2}]",
            "{\"/\":9,\"~1\":10,\"~\":{\"/~\":2}}");
}

static void
fhir_patch_json__a15_string_is_not_number(void **state)
{
    (void)state;
    json_fails("{\"/\":9,\"~1\":10}",
               "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]", 422,
               "not the one given");
}

static void
fhir_patch_json__a16_add_array_value(void **state)
{
    (void)state;
    json_ok("{\"l\":[\"a\"]}",
            "[{\"op\":\"add\",\"path\":\"/l/-\",\"value\":[\"b\",\"c\"]}]",
            "{\"l\":[\"a\",[\"b\",\"c\"]]}");
}

/* ---- JSON Patch: the finer points ----------------------------------- */

static void
fhir_patch_json__add_replaces_existing_member_in_place(void **state)
{
    (void)state;
    json_ok("{\"a\":1,\"b\":2,\"c\":3}",
            "[{\"op\":\"add\",\"path\":\"/b\",\"value\":[5]}]",
            "{\"a\":1,\"b\":[5],\"c\":3}");
}

static void
fhir_patch_json__array_ends_and_indices(void **state)
{
    (void)state;
    json_ok("{\"l\":[1,2]}",
            "[{\"op\":\"add\",\"path\":\"/l/2\",\"value\":3},"
            "{\"op\":\"add\",\"path\":\"/l/0\",\"value\":0},"
            "{\"op\":\"add\",\"path\":\"/l/-\",\"value\":4}]",
            "{\"l\":[0,1,2,3,4]}");
    json_fails("{\"l\":[1,2]}",
               "[{\"op\":\"add\",\"path\":\"/l/3\",\"value\":3}]", 422,
               "path /l/3 not found");
    /* RFC 6901 section 4: no leading zeros, no signs. */
    json_fails("{\"l\":[1,2]}",
               "[{\"op\":\"replace\",\"path\":\"/l/01\",\"value\":3}]", 422,
               "path /l/01 not found");
    json_fails("{\"l\":[1,2]}",
               "[{\"op\":\"add\",\"path\":\"/l/-1\",\"value\":3}]", 422,
               "not found");
    json_fails("{\"l\":[1,2]}", "[{\"op\":\"remove\",\"path\":\"/l/-\"}]", 422,
               "path /l/- not found");
    json_fails("{\"l\":[1,2]}", "[{\"op\":\"remove\",\"path\":\"/l/2\"}]", 422,
               "path /l/2 not found");
    json_fails("{\"l\":[1,2]}",
               "[{\"op\":\"add\",\"path\":\"/l/99999999999\",\"value\":3}]",
               422, "not found");
    /* A member named "0" is an object key, not an index. */
    json_ok("{\"o\":{\"0\":\"x\"}}",
            "[{\"op\":\"replace\",\"path\":\"/o/0\",\"value\":\"y\"}]",
            "{\"o\":{\"0\":\"y\"}}");
}

static void
fhir_patch_json__empty_key_and_whole_document(void **state)
{
    (void)state;
    json_ok("{\"\":1,\"a\":2}",
            "[{\"op\":\"replace\",\"path\":\"/\",\"value\":3}]",
            "{\"\":3,\"a\":2}");
    json_ok("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1]}]",
            "[1]");
    json_ok("{\"a\":1}",
            "[{\"op\":\"add\",\"path\":\"\",\"value\":{\"b\":2}},"
            "{\"op\":\"test\",\"path\":\"\",\"value\":{\"b\":2}}]",
            "{\"b\":2}");
    json_ok("{\"a\":{\"b\":1}}",
            "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"\"}]", "{\"b\":1}");
    json_fails("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"\"}]", 422,
               "cannot remove the whole document");
}

static void
fhir_patch_json__move_and_copy(void **state)
{
    (void)state;
    json_ok("{\"a\":{\"b\":[1]}}",
            "[{\"op\":\"copy\",\"from\":\"/a/b\",\"path\":\"/c\"},"
            "{\"op\":\"add\",\"path\":\"/c/-\",\"value\":2}]",
            "{\"a\":{\"b\":[1]},\"c\":[1,2]}");
    /* Moving onto itself changes nothing; into its own child is refused. */
    json_ok("{\"a\":{\"b\":1}}",
            "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a\"}]",
            "{\"a\":{\"b\":1}}");
    json_fails("{\"a\":{\"b\":1}}",
               "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b/c\"}]", 422,
               "operation 0 (move): cannot move /a into its own child");
    json_fails("{\"a\":{\"b\":1}}",
               "[{\"op\":\"move\",\"from\":\"\",\"path\":\"/x\"}]", 422,
               "into its own child");
    /* A prefix of the characters is not a prefix of the tokens. */
    json_ok("{\"a\":1,\"ab\":{}}",
            "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/ab/c\"}]",
            "{\"ab\":{\"c\":1}}");
    json_fails("{\"a\":1}",
               "[{\"op\":\"copy\",\"from\":\"/b\",\"path\":\"/c\"}]", 422,
               "operation 0 (copy): from /b not found");
}

static void
fhir_patch_json__test_compares_values(void **state)
{
    (void)state;
    /* Numbers by value, objects in any order, arrays in order. */
    json_ok("{\"n\":1.0,\"o\":{\"x\":1,\"y\":[true,null]}}",
            "[{\"op\":\"test\",\"path\":\"/n\",\"value\":1},"
            "{\"op\":\"test\",\"path\":\"/o\","
            "\"value\":{\"y\":[true,null],\"x\":1}}]",
            "{\"n\":1.0,\"o\":{\"x\":1,\"y\":[true,null]}}");
    json_fails("{\"l\":[1,2]}",
               "[{\"op\":\"test\",\"path\":\"/l\",\"value\":[2,1]}]", 422,
               "not the one given");
    json_fails("{\"o\":{\"x\":1}}",
               "[{\"op\":\"test\",\"path\":\"/o\",\"value\":{\"x\":1,"
               "\"y\":2}}]",
               422, "not the one given");
    json_fails("{\"b\":true}",
               "[{\"op\":\"test\",\"path\":\"/b\",\"value\":false}]", 422,
               "not the one given");
    json_fails("{\"z\":null}",
               "[{\"op\":\"test\",\"path\":\"/z\",\"value\":0}]", 422,
               "not the one given");
    json_fails("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/b\",\"value\":1}]",
               422, "path /b not found");
}

static void
fhir_patch_json__keeps_number_lexemes(void **state)
{
    (void)state;
    json_ok("{\"q\":{\"value\":1}}",
            "[{\"op\":\"replace\",\"path\":\"/q/value\",\"value\":1.50}]",
            "{\"q\":{\"value\":1.50}}");
}

static void
fhir_patch_json__malformed_documents(void **state)
{
    static const struct {
        const char *patch;
        const char *diag;
    } cases[] = {
        {"{\"op\":\"remove\",\"path\":\"/a\"}", "must be an array"},
        {"[\"remove\"]", "operation 0: not an object"},
        {"[{\"op\":\"remove\"}]", "operation 0 (remove): no \"path\""},
        {"[{\"op\":\"remove\",\"path\":7}]", "no \"path\""},
        {"[{\"op\":\"remove\",\"path\":\"a\"}]",
         "path 'a' is not a JSON Pointer"},
        {"[{\"op\":\"remove\",\"path\":\"/a~2\"}]", "not a JSON Pointer"},
        {"[{\"op\":\"remove\",\"path\":\"/a~\"}]", "not a JSON Pointer"},
        {"[{\"op\":\"add\",\"path\":\"/b\"}]",
         "operation 0 (add): no \"value\""},
        {"[{\"op\":\"test\",\"path\":\"/a\"}]", "no \"value\""},
        {"[{\"op\":\"move\",\"path\":\"/b\"}]",
         "operation 0 (move): no \"from\""},
        {"[{\"op\":\"copy\",\"path\":\"/b\",\"from\":\"a\"}]",
         "from 'a' is not a JSON Pointer"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_fails("{\"a\":1}", cases[i].patch, 400, cases[i].diag);
    }
    /* null is a value: replacing with it is well-formed. */
    json_ok("{\"a\":1}",
            "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":null}]",
            "{\"a\":null}");
    json_ok("{\"a\":1}", "[]", "{\"a\":1}");
}

static void
fhir_patch_json__all_or_nothing(void **state)
{
    (void)state;
    /* The first two operations succeed on the copy; the third fails. */
    json_fails("{\"status\":\"draft\",\"l\":[1]}",
               "[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"x\"},"
               "{\"op\":\"remove\",\"path\":\"/l/0\"},"
               "{\"op\":\"replace\",\"path\":\"/missing\",\"value\":1}]",
               422, "operation 2 (replace): path /missing not found");
    /* The whole document is checked first: a malformed third operation is
     * a 400 even though the first cannot be applied. */
    json_fails("{\"a\":1}",
               "[{\"op\":\"remove\",\"path\":\"/nothing\"},"
               "{\"op\":\"add\",\"path\":\"/b\",\"value\":1},"
               "{\"op\":\"frobnicate\",\"path\":\"/a\"}]",
               400, "operation 2: unknown op");
}

/* n JSON Patch copies of the whole document into /a0, /a1, ... */
static cJSON *
copies_of_root(int n)
{
    fhir_buf ops = FHIR_BUF_INIT;
    fhir_buf_putc(&ops, '[');
    for (int i = 0; i < n; i++) {
        fhir_buf_printf(&ops,
                        "%s{\"op\":\"copy\",\"from\":\"\",\"path\":\"/a%d\"}",
                        i ? "," : "", i);
    }
    fhir_buf_putc(&ops, ']');
    cJSON *p = parse(ops.data);
    fhir_buf_clear(&ops);
    return p;
}

/* Found writing the patch fuzz target (tests/fuzz/corpus/patch/regress-
 * copy-doubles-the-document): each copy of "" doubles the document, so 40 asked
 * for 2^40 values and the out-of-memory abort took the server down. */
static void
fhir_patch_json__copies_are_capped(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *d = parse("{\"status\":\"draft\"}");
    cJSON *p = copies_of_root(40);
    (void)state;
    assert_int_equal(fhir_patch_json(d, p, &err), -1);
    assert_err(&err, 413, FHIR_ISSUE_TOO_LONG, "(copy): copies would add");
    assert_json(d, "{\"status\":\"draft\"}");
    cJSON_Delete(p);
    /* Fifteen doublings stay under the cap. */
    fhir_err_clear(&err);
    p = copies_of_root(15);
    assert_int_equal(fhir_patch_json(d, p, &err), 0);
    cJSON_Delete(p);
    cJSON_Delete(d);
}

static void
fhir_patch_json__first_error_wins(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *d = parse("{\"a\":1}");
    cJSON *p = parse("[{\"op\":\"remove\",\"path\":\"/b\"}]");

    (void)state;
    fhir_err_set(&err, FHIR_ISSUE_CONFLICT, "earlier");
    assert_int_equal(fhir_patch_json(d, p, &err), -1);
    assert_int_equal(err.status, 409);
    assert_string_equal(err.diag, "earlier");
    assert_int_equal(fhir_patch_json(d, p, NULL), -1);
    cJSON_Delete(d);
    cJSON_Delete(p);
}

/* ---- FHIRPath Patch ------------------------------------------------- */

/* Parameters text, one macro per part; parts after the type start with a
 * comma so that an operation reads as a list of them. */
#define PARAMS(ops) "{\"resourceType\":\"Parameters\",\"parameter\":[" ops "]}"
#define OPERATION(parts) "{\"name\":\"operation\",\"part\":[" parts "]}"
#define TYPE(t) "{\"name\":\"type\",\"valueCode\":\"" t "\"}"
#define PATH(p) ",{\"name\":\"path\",\"valueString\":\"" p "\"}"
#define NAME(n) ",{\"name\":\"name\",\"valueString\":\"" n "\"}"
#define VALUE(key, json) ",{\"name\":\"value\",\"" key "\":" json "}"
#define INTEGER(part, n) ",{\"name\":\"" part "\",\"valueInteger\":" #n "}"

#define TASK_HEAD                                                              \
    "{\"resourceType\":\"Task\",\"id\":\"t1\",\"status\":\"requested\","       \
    "\"intent\":\"order\""
#define INPUT_A "{\"type\":{\"text\":\"a\"},\"valueString\":\"first\"}"
#define INPUT_B "{\"type\":{\"text\":\"b\"},\"valueString\":\"second\"}"
#define INPUT_C "{\"type\":{\"text\":\"c\"},\"valueInteger\":3}"
#define OWNER "\"owner\":{\"reference\":\"Practitioner/p1\"}"

/* A Task with an owner and three inputs. */
static const char task[] =
    TASK_HEAD "," OWNER ",\"input\":[" INPUT_A "," INPUT_B "," INPUT_C "]}";

/* What server/ would learn from the Task definition, for the elements the
 * cases use; every question is logged to check the paths asked. */
typedef struct stub {
    fhir_buf asked; /* "path name;" per question */
} stub;

static unsigned
stub_elem(void *ctx, const char *path, const char *name)
{
    static const struct {
        const char *path, *name;
        unsigned bits;
    } elems[] = {
        {"Task", "note", FHIR_ELEM_LIST},
        {"Task", "input", FHIR_ELEM_LIST},
        {"Task", "occurrence", FHIR_ELEM_CHOICE},
        {"Task.input", "value", FHIR_ELEM_CHOICE},
        {"Task.input.type", "coding", FHIR_ELEM_LIST},
        {"Task.restriction", "recipient", FHIR_ELEM_LIST},
        {"Patient", "name", FHIR_ELEM_LIST},
    };
    stub *st = ctx;

    fhir_buf_printf(&st->asked, "%s %s;", path, name);
    for (size_t i = 0; i < sizeof(elems) / sizeof(elems[0]); i++) {
        if (strcmp(elems[i].path, path) == 0 &&
            strcmp(elems[i].name, name) == 0) {
            return elems[i].bits;
        }
    }
    return 0;
}

static stub the_stub;
static const fhir_patch_schema schema = {stub_elem, &the_stub};

static int
stub_reset(void **state)
{
    (void)state;
    fhir_buf_clear(&the_stub.asked);
    return 0;
}

static void
fp_ok(const char *doc, const char *patch, const char *want)
{
    patch_ok(FMT_FHIRPATH, doc, patch, &schema, want);
}

static void
fp_fails(const char *doc, const char *patch, int status, const char *diag)
{
    patch_fails(FMT_FHIRPATH, doc, patch, &schema, status, diag);
}

static void
fhir_patch_fp__add_note(void **state)
{
    (void)state;
    fp_ok(task,
          PARAMS(OPERATION(TYPE("add") PATH("Task") NAME("note")
                               VALUE("valueAnnotation", "{\"text\":\"hi\"}"))),
          TASK_HEAD "," OWNER ",\"input\":[" INPUT_A "," INPUT_B "," INPUT_C
                    "],"
                    "\"note\":[{\"text\":\"hi\"}]}");
    assert_string_equal(the_stub.asked.data, "Task note;");
    /* A second add appends to the list the first one made. */
    fp_ok(TASK_HEAD "," OWNER "}",
          PARAMS(OPERATION(TYPE("add") PATH("Task") NAME("note") VALUE(
              "valueAnnotation",
              "{\"text\":\"1\"}")) "," OPERATION(TYPE("add") PATH("Task")
                                                     NAME("note") VALUE(
                                                         "valueAnnotation",
                                                         "{\"text\":\"2\"}"))),
          TASK_HEAD "," OWNER ",\"note\":[{\"text\":\"1\"},{\"text\":\"2\"}]}");
}

static void
fhir_patch_fp__add_without_schema(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *d = parse(TASK_HEAD "," OWNER "}");
    cJSON *p =
        parse(PARAMS(OPERATION(TYPE("add") PATH("Task") NAME("note") VALUE(
            "valueAnnotation",
            "{\"text\":\"hi\"}")) "," OPERATION(TYPE("add") PATH("Task")
                                                    NAME("occurrence") VALUE(
                                                        "valueDateTime",
                                                        "\"2024-05-01\""))));

    (void)state;
    /* Nothing says note repeats nor that occurrence is a choice: both are
     * written as given (the documented limit without a schema). */
    assert_int_equal(fhir_patch_fhirpath(d, p, NULL, &err), 0);
    assert_json(d, TASK_HEAD "," OWNER ",\"note\":{\"text\":\"hi\"},"
                             "\"occurrence\":\"2024-05-01\"}");
    cJSON_Delete(d);
    cJSON_Delete(p);
}

static void
fhir_patch_fp__add_choice_element(void **state)
{
    (void)state;
    /* By the schema. */
    fp_ok(TASK_HEAD "," OWNER "}",
          PARAMS(OPERATION(TYPE("add") PATH("Task") NAME("occurrence")
                               VALUE("valueDateTime", "\"2024-05-01\""))),
          TASK_HEAD "," OWNER ",\"occurrenceDateTime\":\"2024-05-01\"}");
    /* By an explicit [x], without a schema. */
    patch_ok(
        FMT_FHIRPATH, TASK_HEAD "," OWNER "}",
        PARAMS(OPERATION(TYPE("add") PATH("Task") NAME("occurrence[x]")
                             VALUE("valuePeriod", "{\"start\":\"2024\"}"))),
        NULL,
        TASK_HEAD "," OWNER ",\"occurrencePeriod\":{\"start\":\"2024\"}}");
    /* A choice already present under another type is not added again. */
    patch_fails(
        FMT_FHIRPATH, TASK_HEAD ",\"occurrencePeriod\":{\"start\":\"2024\"}}",
        PARAMS(OPERATION(TYPE("add") PATH("Task") NAME("occurrence")
                             VALUE("valueDateTime", "\"2025\""))),
        NULL, 422, "operation 0 (add): occurrencePeriod already has a value");
    /* A choice needs a typed value, not nested parts. */
    fp_fails(TASK_HEAD "," OWNER "}",
             PARAMS(OPERATION(TYPE("add") PATH("Task") NAME("occurrence") VALUE(
                 "part", "[{\"name\":\"start\",\"valueDateTime\":\"2024\"}]"))),
             422, "occurrence is a choice element");
}

static void
fhir_patch_fp__add_refuses_existing_single_value(void **state)
{
    (void)state;
    fp_fails(task,
             PARAMS(OPERATION(TYPE("add") PATH("Task") NAME("status")
                                  VALUE("valueCode", "\"completed\""))),
             422, "operation 0 (add): status already has a value");
    fp_fails(task,
             PARAMS(OPERATION(TYPE("add") PATH("Task.status") NAME("x")
                                  VALUE("valueCode", "\"y\""))),
             422, "selects a primitive value");
    fp_fails(task,
             PARAMS(OPERATION(TYPE("add") PATH("Task.input") NAME("x")
                                  VALUE("valueCode", "\"y\""))),
             422, "path Task.input selects 3 elements, not one");
    fp_fails(task,
             PARAMS(OPERATION(TYPE("add") PATH("Task.focus") NAME("x")
                                  VALUE("valueCode", "\"y\""))),
             422, "path Task.focus selects 0 elements, not one");
}

static void
fhir_patch_fp__add_nested_parts(void **state)
{
    (void)state;
    /* An input built from parts: its value[x] takes the type suffix. */
    fp_ok(task,
          PARAMS(OPERATION(TYPE("add") PATH("Task") NAME("input") VALUE(
              "part", "[{\"name\":\"type\",\"part\":[{\"name\":\"coding\","
                      "\"valueCoding\":{\"code\":\"d\"}}]},"
                      "{\"name\":\"value\",\"valueString\":\"fourth\"}]"))),
          TASK_HEAD "," OWNER ",\"input\":[" INPUT_A "," INPUT_B "," INPUT_C
                    ",{\"type\":{\"coding\":[{\"code\":\"d\"}]},"
                    "\"valueString\":\"fourth\"}]}");
    assert_string_equal(the_stub.asked.data,
                        "Task input;Task.input type;Task.input.type coding;"
                        "Task.input value;");
    /* Parts named alike become an array even where nothing says so. */
    fp_ok(TASK_HEAD "," OWNER "}",
          PARAMS(OPERATION(TYPE("add") PATH("Task") NAME("restriction") VALUE(
              "part", "[{\"name\":\"repetitions\","
                      "\"valuePositiveInt\":2},"
                      "{\"name\":\"recipient\",\"valueReference\":"
                      "{\"reference\":\"Patient/1\"}},"
                      "{\"name\":\"x\",\"valueString\":\"1\"},"
                      "{\"name\":\"x\",\"valueString\":\"2\"}]"))),
          TASK_HEAD "," OWNER ",\"restriction\":{\"repetitions\":2,"
                    "\"recipient\":[{\"reference\":\"Patient/1\"}],"
                    "\"x\":[\"1\",\"2\"]}}");
}

static void
fhir_patch_fp__insert_into_input(void **state)
{
    (void)state;
    fp_ok(task,
          PARAMS(OPERATION(
              TYPE("insert") PATH("Task.input") INTEGER("index", 1)
                  VALUE("part", "[{\"name\":\"type\",\"valueCodeableConcept\":"
                                "{\"text\":\"n\"}},{\"name\":\"value\","
                                "\"valueBoolean\":true}]"))),
          TASK_HEAD "," OWNER ",\"input\":[" INPUT_A
                    ",{\"type\":{\"text\":\"n\"},\"valueBoolean\":true},"
                    "" INPUT_B "," INPUT_C "]}");
    /* index n appends; n + 1 is out of range. */
    fp_ok(TASK_HEAD ",\"note\":[{\"text\":\"1\"}]}",
          PARAMS(OPERATION(TYPE("insert") PATH("Task.note") INTEGER("index", 1)
                               VALUE("valueAnnotation", "{\"text\":\"2\"}"))),
          TASK_HEAD ",\"note\":[{\"text\":\"1\"},{\"text\":\"2\"}]}");
    fp_fails(task,
             PARAMS(OPERATION(TYPE("insert") PATH("Task.input") INTEGER(
                 "index", 4) VALUE("valueString", "\"x\""))),
             422,
             "operation 0 (insert): index 4 is out of range: the list has 3 "
             "items");
    fp_fails(task,
             PARAMS(OPERATION(TYPE("insert") PATH("Task.input") INTEGER(
                 "index", -1) VALUE("valueString", "\"x\""))),
             422, "index -1 is out of range");
}

static void
fhir_patch_fp__insert_into_absent_list(void **state)
{
    (void)state;
    /* Nothing to select: the owner comes from the path without its last
     * step, and the list is created. */
    fp_ok(TASK_HEAD "," OWNER "}",
          PARAMS(OPERATION(TYPE("insert") PATH("Task.note") INTEGER("index", 0)
                               VALUE("valueAnnotation", "{\"text\":\"a\"}"))),
          TASK_HEAD "," OWNER ",\"note\":[{\"text\":\"a\"}]}");
    fp_fails(TASK_HEAD "," OWNER "}",
             PARAMS(OPERATION(TYPE("insert") PATH("Task.note") INTEGER(
                 "index", 1) VALUE("valueAnnotation", "{\"text\":\"a\"}"))),
             422, "index 1 is out of range: the list has 0 items");
    /* The owner itself is missing. */
    fp_fails(TASK_HEAD "," OWNER "}",
             PARAMS(OPERATION(TYPE("insert") PATH("Task.restriction.recipient")
                                  INTEGER("index", 0)
                                      VALUE("valueReference",
                                            "{\"reference\":\"Patient/1\"}"))),
             422, "path Task.restriction.recipient selects no list");
    /* Only a plain final step names a list. */
    fp_fails(TASK_HEAD "," OWNER "}",
             PARAMS(OPERATION(TYPE("insert") PATH("Task.note.where(text='x')")
                                  INTEGER("index", 0) VALUE(
                                      "valueAnnotation", "{\"text\":\"a\"}"))),
             422, "selects no list");
}

static void
fhir_patch_fp__insert_needs_a_whole_list(void **state)
{
    (void)state;
    fp_fails(task,
             PARAMS(OPERATION(TYPE("insert") PATH("Task.status") INTEGER(
                 "index", 0) VALUE("valueCode", "\"x\""))),
             422, "path Task.status selects a single value, not a list");
    fp_fails(task,
             PARAMS(OPERATION(
                 TYPE("insert") PATH("Task.input.where(type.text != 'a')")
                     INTEGER("index", 0) VALUE("valueString", "\"x\""))),
             422, "not one whole list");
    fp_fails(task,
             PARAMS(OPERATION(TYPE("insert") PATH("Task.input.type.text")
                                  INTEGER("index", 0)
                                      VALUE("valueString", "\"x\""))),
             422, "not a list");
}

static void
fhir_patch_fp__delete_owner(void **state)
{
    (void)state;
    fp_ok(task, PARAMS(OPERATION(TYPE("delete") PATH("Task.owner"))),
          TASK_HEAD ",\"input\":[" INPUT_A "," INPUT_B "," INPUT_C "]}");
    /* Nothing selected: nothing to do. */
    fp_ok(task, PARAMS(OPERATION(TYPE("delete") PATH("Task.focus"))), task);
    fp_fails(task, PARAMS(OPERATION(TYPE("delete") PATH("Task.input"))), 422,
             "operation 0 (delete): path Task.input selects 3 elements");
    fp_fails(task, PARAMS(OPERATION(TYPE("delete") PATH("Task"))), 422,
             "cannot delete the resource itself");
}

static void
fhir_patch_fp__delete_removes_what_it_empties(void **state)
{
    (void)state;
    fp_ok(task,
          PARAMS(OPERATION(TYPE("delete")
                               PATH("Task.input.where(type.text = 'b')"))),
          TASK_HEAD "," OWNER ",\"input\":[" INPUT_A "," INPUT_C "]}");
    /* The last item takes its array along. */
    fp_ok(TASK_HEAD ",\"note\":[{\"text\":\"1\"}]}",
          PARAMS(OPERATION(TYPE("delete") PATH("Task.note[0]"))),
          TASK_HEAD "}");
    /* Emptied objects go, up to the resource. */
    fp_ok(
        TASK_HEAD ",\"restriction\":{\"period\":{\"end\":\"2024\"}},"
                  "\"input\":[{\"type\":{\"text\":\"t\"}}]}",
        PARAMS(OPERATION(TYPE("delete") PATH(
            "Task.restriction.period.end")) "," OPERATION(TYPE("delete")
                                                              PATH("Task.input."
                                                                   "type."
                                                                   "text"))),
        TASK_HEAD "}");
}

#define REPLACE_X(path)                                                        \
    PARAMS(OPERATION(TYPE("replace") PATH(path) VALUE("valueCode", "\"x\"")))

static void
fhir_patch_fp__replace_status(void **state)
{
    static const struct {
        const char *patch;
        const char *diag;
    } cases[] = {
        {REPLACE_X("Task.priority"),
         "operation 0 (replace): path Task.priority selects 0"},
        {REPLACE_X("Task"), "cannot replace the resource itself"},
        {REPLACE_X("Task.status = 'x'"), "not an element of the resource"},
        /* resolve() stands for another resource: not to be patched. */
        {REPLACE_X("Task.owner.resolve()"), "not an element of the resource"},
        {REPLACE_X("'literal'"), "not an element of the resource"},
    };

    (void)state;
    fp_ok(task,
          PARAMS(OPERATION(TYPE("replace") PATH("Task.status")
                               VALUE("valueCode", "\"completed\""))),
          "{\"resourceType\":\"Task\",\"id\":\"t1\",\"status\":\"completed\","
          "\"intent\":\"order\"," OWNER ",\"input\":[" INPUT_A "," INPUT_B
          "," INPUT_C "]}");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fp_fails(task, cases[i].patch, 422, cases[i].diag);
    }
}

static void
fhir_patch_fp__replace_owner_with_reference(void **state)
{
    (void)state;
    fp_ok(task,
          PARAMS(OPERATION(TYPE("replace") PATH("Task.owner") VALUE(
              "valueReference",
              "{\"reference\":\"Organization/o1\",\"display\":\"O\"}"))),
          TASK_HEAD ",\"owner\":{\"reference\":\"Organization/o1\","
                    "\"display\":\"O\"},\"input\":[" INPUT_A "," INPUT_B
                    "," INPUT_C "]}");
}

static void
fhir_patch_fp__replace_list_item_and_choice(void **state)
{
    (void)state;
    /* An item of a list, selected by an indexer. */
    fp_ok(task,
          PARAMS(OPERATION(TYPE("replace") PATH("Task.input[1].type") VALUE(
              "valueCodeableConcept", "{\"text\":\"B\"}"))),
          TASK_HEAD "," OWNER ",\"input\":[" INPUT_A
                    ",{\"type\":{\"text\":\"B\"},\"valueString\":"
                    "\"second\"}," INPUT_C "]}");
    /* A choice found through its type is renamed for the new one, in
     * place. */
    fp_ok(task,
          PARAMS(OPERATION(TYPE("replace") PATH("Task.input[2].value")
                               VALUE("valueBoolean", "false"))),
          TASK_HEAD "," OWNER ",\"input\":[" INPUT_A "," INPUT_B
                    ",{\"type\":{\"text\":\"c\"},"
                    "\"valueBoolean\":false}]}");
    fp_ok(TASK_HEAD ",\"occurrenceDateTime\":\"2024\"," OWNER "}",
          PARAMS(OPERATION(TYPE("replace") PATH("Task.occurrence")
                               VALUE("valuePeriod", "{\"end\":\"2025\"}"))),
          TASK_HEAD ",\"occurrencePeriod\":{\"end\":\"2025\"}," OWNER "}");
    /* A primitive item of an array. */
    fp_ok(
        "{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"a\",\"b\"]}]}",
        PARAMS(OPERATION(TYPE("replace") PATH("Patient.name.given[1]")
                             VALUE("valueString", "\"c\""))),
        "{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"a\",\"c\"]}]}");
}

static void
fhir_patch_fp__move_within_input(void **state)
{
    (void)state;
    fp_ok(task,
          PARAMS(OPERATION(TYPE("move") PATH("Task.input") INTEGER("source", 0)
                               INTEGER("destination", 2))),
          TASK_HEAD "," OWNER ",\"input\":[" INPUT_B "," INPUT_C "," INPUT_A
                    "]}");
    fp_ok(task,
          PARAMS(OPERATION(TYPE("move") PATH("Task.input") INTEGER("source", 2)
                               INTEGER("destination", 0))),
          TASK_HEAD "," OWNER ",\"input\":[" INPUT_C "," INPUT_A "," INPUT_B
                    "]}");
    fp_fails(task,
             PARAMS(OPERATION(TYPE("move") PATH("Task.input") INTEGER(
                 "source", 3) INTEGER("destination", 0))),
             422, "operation 0 (move): source 3 is out of range");
    fp_fails(task,
             PARAMS(OPERATION(TYPE("move") PATH("Task.input") INTEGER(
                 "source", 0) INTEGER("destination", 3))),
             422, "destination 3 is out of range");
    fp_fails(task,
             PARAMS(OPERATION(TYPE("move") PATH("Task.note") INTEGER(
                 "source", 0) INTEGER("destination", 0))),
             422, "source 0 is out of range: the list has 0 items");
}

static void
fhir_patch_fp__contained_resources_use_their_type(void **state)
{
    (void)state;
    fp_ok("{\"resourceType\":\"Task\",\"contained\":[{\"resourceType\":"
          "\"Patient\",\"id\":\"p\"}]}",
          PARAMS(OPERATION(TYPE("add") PATH("Task.contained[0]") NAME("name")
                               VALUE("valueHumanName", "{\"family\":\"F\"}"))),
          "{\"resourceType\":\"Task\",\"contained\":[{\"resourceType\":"
          "\"Patient\",\"id\":\"p\",\"name\":[{\"family\":\"F\"}]}]}");
    assert_string_equal(the_stub.asked.data, "Patient name;");
}

static void
fhir_patch_fp__all_or_nothing(void **state)
{
    (void)state;
    fp_fails(
        task,
        PARAMS(
            OPERATION(TYPE("replace") PATH("Task.status") VALUE("valueCode", "\"completed\"")) "," OPERATION(
                TYPE("delete") PATH(
                    "Task.owner")) "," OPERATION(TYPE("move") PATH("Task.input")
                                                     INTEGER("source", 0)
                                                         INTEGER("destination",
                                                                 9))),
        422, "operation 2 (move): destination 9 is out of range");
    /* Malformed anywhere is a 400 before anything is tried. */
    fp_fails(task,
             PARAMS(OPERATION(TYPE("replace") PATH("Task.nothing") VALUE(
                 "valueCode", "\"x\"")) "," OPERATION(TYPE("delete"))),
             400, "operation 1 (delete): the part 'path' is missing");
}

static void
fhir_patch_fp__malformed_parameters(void **state)
{
    static const struct {
        const char *patch;
        const char *diag;
    } cases[] = {
        {"{\"resourceType\":\"Patient\"}", "must be a Parameters resource"},
        {"[]", "must be a Parameters resource"},
        {"{\"resourceType\":\"Parameters\"}", "has no operation"},
        {PARAMS(""), "has no operation"},
        {PARAMS("{\"name\":\"op\",\"part\":[" TYPE("delete") PATH("Task") "]}"),
         "operation 0: parameter 'op' is not named \"operation\""},
        {PARAMS("{\"name\":\"operation\"}"), "operation 0: has no parts"},
        {PARAMS(OPERATION(TYPE("patch") PATH("Task"))),
         "type must be a valueCode"},
        {PARAMS(OPERATION("{\"name\":\"path\",\"valueString\":\"Task\"}")),
         "type must be a valueCode"},
        {PARAMS(OPERATION(TYPE("delete") PATH("Task") PATH("Task"))),
         "part 'path' given twice"},
        {PARAMS(OPERATION(TYPE("delete") PATH("Task") NAME(
             "x") ",{\"name\":\"where\",\"valueString\":\"x\"}")),
         "unknown part 'where'"},
        {PARAMS(OPERATION(
             TYPE("delete") ",{\"name\":\"path\",\"valueCode\":\"Task\"}")),
         "path must be a valueString"},
        {PARAMS(OPERATION(TYPE("delete") PATH("Task.status ="))),
         "operation 0 (delete): FHIRPath syntax error"},
        {PARAMS(
             OPERATION(TYPE("add") PATH("Task") VALUE("valueCode", "\"x\""))),
         "operation 0 (add): the part 'name' is missing"},
        {PARAMS(OPERATION(TYPE("add") PATH("Task") NAME("")
                              VALUE("valueCode", "\"x\""))),
         "name must be a non-empty valueString"},
        {PARAMS(OPERATION(TYPE("replace") PATH("Task.status"))),
         "the part 'value' is missing"},
        {PARAMS(OPERATION(TYPE("insert") PATH("Task.input")
                              VALUE("valueString", "\"x\""))),
         "the part 'index' is missing"},
        {PARAMS(
             OPERATION(TYPE("move") PATH("Task.input") INTEGER("source", 0))),
         "the part 'destination' is missing"},
        {PARAMS(OPERATION(TYPE("move") PATH("Task.input") INTEGER("source", 0.5)
                              INTEGER("destination", 1))),
         "must be valueIntegers"},
        {PARAMS(OPERATION(TYPE("insert") PATH("Task.input") INTEGER(
             "index", 3000000000) VALUE("valueString", "\"x\""))),
         "must be valueIntegers"},
        {PARAMS(OPERATION(TYPE("replace") PATH("Task.status")
                              VALUE("valueFoo", "\"x\""))),
         "the value part has a value of unknown type"},
        {PARAMS(OPERATION(TYPE("replace")
                              PATH("Task.status") ",{\"name\":\"value\"}")),
         "the value part has no value"},
        {PARAMS(OPERATION(TYPE("replace") PATH(
             "Task.status") ",{\"name\":\"value\",\"valueCode\":\"a\","
                            "\"valueString\":\"b\"}")),
         "has more than one value"},
        {PARAMS(
             OPERATION(TYPE("replace") PATH("Task.owner") VALUE("part", "[]"))),
         "has no nested parts"},
        {PARAMS(OPERATION(TYPE("replace") PATH("Task.owner")
                              VALUE("part", "[{\"valueString\":\"x\"}]"))),
         "has a nested part without a name"},
        {PARAMS(OPERATION(TYPE("replace") PATH("Task.owner") VALUE(
             "part", "[{\"name\":\"a\",\"part\":[{\"name\":\"b\"}]}]"))),
         "the value part has no value"},
        {PARAMS(OPERATION(TYPE("replace") PATH(
             "Task.owner") ",{\"name\":\"value\",\"resource\":1}")),
         "has a resource that is not an object"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fp_fails(task, cases[i].patch, 400, cases[i].diag);
    }
}

static void
fhir_patch_fp__unsupported_path_is_400(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *d = parse(task);
    cJSON *p =
        parse(PARAMS(OPERATION(TYPE("delete") PATH("Task.input.last()"))));

    (void)state;
    assert_int_equal(fhir_patch_fhirpath(d, p, &schema, &err), -1);
    assert_err(&err, 400, FHIR_ISSUE_NOT_SUPPORTED,
               "operation 0 (delete): FHIRPath function 'last'");
    cJSON_Delete(d);
    cJSON_Delete(p);
}

static void
fhir_patch_fp__value_kinds(void **state)
{
    (void)state;
    /* A resource as the value, and number lexemes kept. */
    fp_ok(
        "{\"resourceType\":\"Task\"}",
        PARAMS(OPERATION(TYPE("add") PATH("Task") NAME(
            "contained") ",{\"name\":\"value\",\"resource\":"
                         "{\"resourceType\":\"Patient\",\"id\":\"p\"}"
                         "}") "," OPERATION(TYPE("add") PATH("Task") NAME("x")
                                                VALUE("valueDecimal", "2.50"))),
        "{\"resourceType\":\"Task\",\"contained\":{\"resourceType\":"
        "\"Patient\",\"id\":\"p\"},\"x\":2.50}");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fhir_patch_json__a1_add_object_member),
        cmocka_unit_test(fhir_patch_json__a2_add_array_element),
        cmocka_unit_test(fhir_patch_json__a3_remove_object_member),
        cmocka_unit_test(fhir_patch_json__a4_remove_array_element),
        cmocka_unit_test(fhir_patch_json__a5_replace_value),
        cmocka_unit_test(fhir_patch_json__a6_move_value),
        cmocka_unit_test(fhir_patch_json__a7_move_array_element),
        cmocka_unit_test(fhir_patch_json__a8_test_succeeds),
        cmocka_unit_test(fhir_patch_json__a9_test_fails),
        cmocka_unit_test(fhir_patch_json__a10_add_nested_member),
        cmocka_unit_test(fhir_patch_json__a11_ignores_unrecognised_members),
        cmocka_unit_test(fhir_patch_json__a12_add_to_missing_target),
        cmocka_unit_test(fhir_patch_json__a13_invalid_operation),
        cmocka_unit_test(fhir_patch_json__a14_tilde_escapes),
        cmocka_unit_test(fhir_patch_json__a15_string_is_not_number),
        cmocka_unit_test(fhir_patch_json__a16_add_array_value),
        cmocka_unit_test(
            fhir_patch_json__add_replaces_existing_member_in_place),
        cmocka_unit_test(fhir_patch_json__array_ends_and_indices),
        cmocka_unit_test(fhir_patch_json__empty_key_and_whole_document),
        cmocka_unit_test(fhir_patch_json__move_and_copy),
        cmocka_unit_test(fhir_patch_json__test_compares_values),
        cmocka_unit_test(fhir_patch_json__keeps_number_lexemes),
        cmocka_unit_test(fhir_patch_json__malformed_documents),
        cmocka_unit_test(fhir_patch_json__all_or_nothing),
        cmocka_unit_test(fhir_patch_json__first_error_wins),
        cmocka_unit_test(fhir_patch_json__copies_are_capped),
        cmocka_unit_test_setup(fhir_patch_fp__add_note, stub_reset),
        cmocka_unit_test(fhir_patch_fp__add_without_schema),
        cmocka_unit_test(fhir_patch_fp__add_choice_element),
        cmocka_unit_test(fhir_patch_fp__add_refuses_existing_single_value),
        cmocka_unit_test_setup(fhir_patch_fp__add_nested_parts, stub_reset),
        cmocka_unit_test(fhir_patch_fp__insert_into_input),
        cmocka_unit_test(fhir_patch_fp__insert_into_absent_list),
        cmocka_unit_test(fhir_patch_fp__insert_needs_a_whole_list),
        cmocka_unit_test(fhir_patch_fp__delete_owner),
        cmocka_unit_test(fhir_patch_fp__delete_removes_what_it_empties),
        cmocka_unit_test(fhir_patch_fp__replace_status),
        cmocka_unit_test(fhir_patch_fp__replace_owner_with_reference),
        cmocka_unit_test(fhir_patch_fp__replace_list_item_and_choice),
        cmocka_unit_test(fhir_patch_fp__move_within_input),
        cmocka_unit_test_setup(
            fhir_patch_fp__contained_resources_use_their_type, stub_reset),
        cmocka_unit_test(fhir_patch_fp__all_or_nothing),
        cmocka_unit_test(fhir_patch_fp__malformed_parameters),
        cmocka_unit_test(fhir_patch_fp__unsupported_path_is_400),
        cmocka_unit_test(fhir_patch_fp__value_kinds),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    fhir_buf_clear(&the_stub.asked);
    return rc;
}
