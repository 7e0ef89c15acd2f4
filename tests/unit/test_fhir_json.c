/* tests/unit/test_fhir_json.c - the strict JSON reader and the writer.
 *
 * Each rejection the reader promises (RFC 8259 syntax, UTF-8, depth,
 * duplicate keys, the R4 json.html rules) has its own case, so a failure
 * names the broken rule. Round trips check that the writer gives back
 * what the reader took, lexemes included.
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

/* Parses `len` bytes, writes the result back and returns the text
 * (caller frees); fails the test if parsing fails. */
static char *
round_trip(const char *text, size_t len, const fhir_json_opts *opts, int pretty)
{
    fhir_err err = FHIR_ERR_INIT;
    fhir_buf buf = FHIR_BUF_INIT;
    cJSON *root = NULL;
    int rc = fhir_json_parse(&root, text, len, opts, &err);

    if (rc != 0) {
        fail_msg("unexpected parse failure: %s", err.diag);
    }
    assert_non_null(root);
    fhir_json_write(&buf, root, pretty);
    cJSON_Delete(root);
    return fhir_buf_take(&buf, NULL);
}

static void
assert_round_trip(const char *in, const char *want, int pretty)
{
    char *got = round_trip(in, strlen(in), NULL, pretty);

    assert_string_equal(got, want);
    free(got);
}

/* Parses `len` bytes expecting failure with `issue`; checks that *out is
 * NULL and that the diagnostic names a position. */
static void
assert_rejects_n(const char *text, size_t len, const fhir_json_opts *opts,
                 fhir_issue issue)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *root = cJSON_CreateNull(); /* must be overwritten with NULL */
    cJSON *sentinel = root;
    int rc = fhir_json_parse(&root, text, len, opts, &err);

    assert_int_equal(rc, -1);
    assert_null(root);
    cJSON_Delete(sentinel);
    assert_int_equal(err.issue, issue);
    assert_non_null(strstr(err.diag, "Invalid JSON at line "));
    assert_non_null(strstr(err.diag, ", column "));
}

static void
assert_rejects(const char *text, fhir_issue issue)
{
    assert_rejects_n(text, strlen(text), NULL, issue);
}

static void
assert_accepts(const char *text)
{
    free(round_trip(text, strlen(text), NULL, 0));
}

/* The diagnostic for `text`, for checks on its wording. */
static void
diag_of(char *out, size_t cap, const char *text, const fhir_json_opts *opts)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *root = NULL;
    int rc = fhir_json_parse(&root, text, strlen(text), opts, &err);

    assert_int_equal(rc, -1);
    assert_null(root);
    snprintf(out, cap, "%s", err.diag);
}

/* n '[' then "1" then n ']'. */
static char *
nested_arrays(size_t n)
{
    char *s = malloc(2 * n + 2);

    assert_non_null(s);
    memset(s, '[', n);
    s[n] = '1';
    memset(s + n + 1, ']', n);
    s[2 * n + 1] = '\0';
    return s;
}

/* {"k0":0,...,"k<n-1>":n-1} plus an optional extra member "extra":0. */
static char *
many_keys(int n, const char *extra)
{
    fhir_buf b = FHIR_BUF_INIT;

    fhir_buf_putc(&b, '{');
    for (int i = 0; i < n; i++) {
        fhir_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
    }
    if (extra != NULL) {
        fhir_buf_printf(&b, ",\"%s\":0", extra);
    }
    fhir_buf_putc(&b, '}');
    return fhir_buf_take(&b, NULL);
}

/* ---- round trips ---------------------------------------------------- */

static const char resource[] =
    "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"active\":true,"
    "\"name\":[{\"family\":\"Doe\",\"given\":[\"Jane\",\"Q\"]}],"
    "\"_birthDate\":{\"extension\":[{\"url\":\"u\",\"valueBoolean\":false}]},"
    "\"multipleBirthInteger\":2,\"x\":1.50}";

static void
fhir_json__round_trip_compact(void **state)
{
    (void)state;
    assert_round_trip(resource, resource, 0);
}

static void
fhir_json__round_trip_compact_drops_whitespace(void **state)
{
    (void)state;
    assert_round_trip(" {\n\t\"a\" : [ 1 , \"b\" ] ,\r\n \"c\":false }\n",
                      "{\"a\":[1,\"b\"],\"c\":false}", 0);
}

static void
fhir_json__round_trip_pretty(void **state)
{
    static const char want[] = "{\n"
                               "  \"resourceType\": \"Patient\",\n"
                               "  \"name\": [\n"
                               "    {\n"
                               "      \"given\": [\n"
                               "        \"A\",\n"
                               "        \"B\"\n"
                               "      ]\n"
                               "    }\n"
                               "  ],\n"
                               "  \"active\": true,\n"
                               "  \"n\": 1.50\n"
                               "}";
    char *again;

    (void)state;
    assert_round_trip("{\"resourceType\":\"Patient\",\"name\":[{\"given\":"
                      "[\"A\",\"B\"]}],\"active\":true,\"n\":1.50}",
                      want, 1);
    /* Pretty output parses back to the same compact text. */
    again = round_trip(want, strlen(want), NULL, 0);
    assert_string_equal(again, "{\"resourceType\":\"Patient\",\"name\":[{"
                               "\"given\":[\"A\",\"B\"]}],\"active\":true,"
                               "\"n\":1.50}");
    free(again);
}

static void
fhir_json__round_trip_scalars_at_top_level(void **state)
{
    (void)state;
    assert_round_trip("\"x\"", "\"x\"", 0);
    assert_round_trip("true", "true", 1);
    assert_round_trip(" null ", "null", 0);
    assert_round_trip("-12", "-12", 0);
}

static void
fhir_json__keeps_decimal_lexemes(void **state)
{
    (void)state;
    assert_round_trip("[1.50,-0.0,1e10,0,-0,1E+2,2.5e-3,100]",
                      "[1.50,-0.0,1e10,0,-0,1E+2,2.5e-3,100]", 0);
}

static void
fhir_json__sets_number_values(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *root = NULL;
    const char *text = "[1.50,42,1e300,-1e300]";

    (void)state;
    assert_int_equal(fhir_json_parse(&root, text, strlen(text), NULL, &err), 0);
    cJSON *a = cJSON_GetArrayItem(root, 0);
    assert_true(cJSON_IsNumber(a));
    assert_string_equal(a->valuestring, "1.50");
    assert_true(a->valuedouble == 1.5);
    assert_int_equal(a->valueint, 1);
    assert_int_equal(cJSON_GetArrayItem(root, 1)->valueint, 42);
    assert_int_equal(cJSON_GetArrayItem(root, 2)->valueint, INT32_MAX);
    assert_int_equal(cJSON_GetArrayItem(root, 3)->valueint, INT32_MIN);
    assert_int_equal(cJSON_GetArraySize(root), 4);
    cJSON_Delete(root);
}

static void
fhir_json__links_children_like_cjson(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *root = NULL;
    const char *text = "{\"a\":1,\"b\":2,\"c\":3}";

    (void)state;
    assert_int_equal(fhir_json_parse(&root, text, strlen(text), NULL, &err), 0);
    cJSON *a = root->child;
    cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "c");
    assert_ptr_equal(a->prev, c); /* first child's prev is the last */
    assert_null(c->next);
    assert_ptr_equal(c->prev->prev, a);
    /* cJSON's own editing works on the tree. */
    cJSON_AddItemToObject(root, "d", cJSON_CreateString("x"));
    cJSON_DeleteItemFromObjectCaseSensitive(root, "a");
    char *s = cJSON_PrintUnformatted(root);
    assert_string_equal(s, "{\"b\":2,\"c\":3,\"d\":\"x\"}");
    cJSON_free(s);
    cJSON_Delete(root);
}

static void
fhir_json__skips_bom(void **state)
{
    (void)state;
    assert_round_trip("\xEF\xBB\xBF{\"a\":1}", "{\"a\":1}", 0);
}

static void
fhir_json__accepts_null_in_array(void **state)
{
    (void)state;
    assert_round_trip("{\"_given\":[null,{\"id\":\"x\"}]}",
                      "{\"_given\":[null,{\"id\":\"x\"}]}", 0);
}

static void
fhir_json__accepts_null_member_without_fhir_rules(void **state)
{
    fhir_json_opts opts = {FHIR_DEFAULT_MAX_DEPTH, 0};
    const char *text = "{\"a\":null,\"b\":{},\"c\":[]}";
    char *got = round_trip(text, strlen(text), &opts, 0);

    (void)state;
    assert_string_equal(got, text);
    free(got);
}

static void
fhir_json__accepts_empty_key(void **state)
{
    (void)state;
    assert_accepts("{\"\":1}");
}

/* ---- syntax rejections ---------------------------------------------- */

static void
fhir_json__rejects_empty_input(void **state)
{
    (void)state;
    assert_rejects("", FHIR_ISSUE_STRUCTURE);
    assert_rejects(" \n\t ", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_block_comment(void **state)
{
    (void)state;
    assert_rejects("{/* c */\"a\":1}", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_line_comment(void **state)
{
    (void)state;
    assert_rejects("[1 // c\n]", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_trailing_comma_in_object(void **state)
{
    char diag[256];

    (void)state;
    assert_rejects("{\"a\":1,}", FHIR_ISSUE_STRUCTURE);
    diag_of(diag, sizeof(diag), "{\"a\":1,}", NULL);
    assert_non_null(strstr(diag, "trailing comma"));
}

static void
fhir_json__rejects_trailing_comma_in_array(void **state)
{
    char diag[256];

    (void)state;
    assert_rejects("[1,2,]", FHIR_ISSUE_STRUCTURE);
    diag_of(diag, sizeof(diag), "[1,2,]", NULL);
    assert_non_null(strstr(diag, "trailing comma"));
}

static void
fhir_json__rejects_leading_zero(void **state)
{
    (void)state;
    assert_rejects("[01]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[-01]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("00", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_bad_numbers(void **state)
{
    (void)state;
    assert_rejects("[1.]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[.5]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[-]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[+1]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[1e]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[1e+]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[0x10]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("1.5.3", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_nan_and_infinity(void **state)
{
    (void)state;
    assert_rejects("[NaN]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[Infinity]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[-Infinity]", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_bad_literals(void **state)
{
    (void)state;
    assert_rejects("[tru]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[True]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[nul", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[falsey]", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_single_quotes(void **state)
{
    (void)state;
    assert_rejects("{'a':1}", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_unquoted_key(void **state)
{
    (void)state;
    assert_rejects("{a:1}", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_missing_colon(void **state)
{
    (void)state;
    assert_rejects("{\"a\" 1}", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_missing_comma(void **state)
{
    (void)state;
    assert_rejects("[1 2]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("{\"a\":1 \"b\":2}", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_mismatched_brackets(void **state)
{
    (void)state;
    assert_rejects("[1}", FHIR_ISSUE_STRUCTURE);
    assert_rejects("{\"a\":1]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("]", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_truncated_input(void **state)
{
    (void)state;
    assert_rejects("{\"a\":", FHIR_ISSUE_STRUCTURE);
    assert_rejects("{\"a\":1", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[1,", FHIR_ISSUE_STRUCTURE);
    assert_rejects("{\"a", FHIR_ISSUE_STRUCTURE);
    assert_rejects("\"abc", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_second_top_level_value(void **state)
{
    (void)state;
    assert_rejects("{\"a\":1} {\"b\":2}", FHIR_ISSUE_STRUCTURE);
    assert_rejects("1 2", FHIR_ISSUE_STRUCTURE);
    assert_rejects("{\"a\":1} x", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_nul_byte_outside_string(void **state)
{
    (void)state;
    assert_rejects_n("{\"a\":1}\0", 8, NULL, FHIR_ISSUE_STRUCTURE);
    assert_rejects_n("[\0]", 3, NULL, FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_nul_byte_in_string(void **state)
{
    (void)state;
    assert_rejects_n("[\"a\0b\"]", 7, NULL, FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_escaped_nul(void **state)
{
    (void)state;
    assert_rejects("[\"a\\u0000b\"]", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_raw_control_char_in_string(void **state)
{
    (void)state;
    assert_rejects("[\"a\nb\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"a\tb\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\x01\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("{\"a\x1f\":1}", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_invalid_escape(void **state)
{
    (void)state;
    assert_rejects("[\"\\x41\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\\a\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\\'\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\\", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_bad_unicode_escape(void **state)
{
    (void)state;
    assert_rejects("[\"\\u12G4\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\\u123\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\\u12", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_lone_high_surrogate(void **state)
{
    (void)state;
    assert_rejects("[\"\\uD83D\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\\uD83Dx\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\\uD83D\\u0041\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\\uD83D\\uD83D\"]", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_lone_low_surrogate(void **state)
{
    (void)state;
    assert_rejects("[\"\\uDE00\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\\uDE00\\uD83D\"]", FHIR_ISSUE_STRUCTURE);
}

/* ---- UTF-8 ---------------------------------------------------------- */

static void
fhir_json__accepts_utf8(void **state)
{
    (void)state;
    /* é (2 bytes), € (3), U+FFFF, 😀 (4), U+10FFFF */
    static const char text[] = "[\"\xC3\xA9\xE2\x82\xAC\xEF\xBF\xBF"
                               "\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\"]";
    assert_round_trip(text, text, 0);
    assert_round_trip("{\"n\xC3\xA4me\":1}", "{\"n\xC3\xA4me\":1}", 0);
}

static void
fhir_json__rejects_utf8_overlong_2_byte(void **state)
{
    (void)state;
    assert_rejects("[\"\xC0\x80\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\xC1\xBF\"]", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_utf8_overlong_3_and_4_byte(void **state)
{
    (void)state;
    assert_rejects("[\"\xE0\x80\xAF\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\xF0\x80\x80\xAF\"]", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_utf8_surrogate(void **state)
{
    (void)state;
    assert_rejects("[\"\xED\xA0\x80\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\xED\xBF\xBF\"]", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_utf8_above_max(void **state)
{
    (void)state;
    assert_rejects("[\"\xF4\x90\x80\x80\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\xF5\x80\x80\x80\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\xFF\"]", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_utf8_truncated(void **state)
{
    (void)state;
    assert_rejects("[\"\xC3\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\xE2\x82\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"\xF0\x9F\x98\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects_n("[\"\xE2\x82", 4, NULL, FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_utf8_bare_continuation(void **state)
{
    (void)state;
    assert_rejects("[\"\x80\"]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("[\"a\xBF\"]", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_non_ascii_outside_string(void **state)
{
    (void)state;
    assert_rejects("[\xC3\xA9]", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__decodes_unicode_escapes(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *root = NULL;
    const char *text = "[\"\\u0041\\u00e9\\u20AC\\uD83D\\uDE00\\uDBFF\\uDFFF"
                       "\\\"\\\\\\/\\b\\f\\n\\r\\t\"]";

    (void)state;
    assert_int_equal(fhir_json_parse(&root, text, strlen(text), NULL, &err), 0);
    assert_string_equal(cJSON_GetArrayItem(root, 0)->valuestring,
                        "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF"
                        "\"\\/\b\f\n\r\t");
    cJSON_Delete(root);
}

static void
fhir_json__decodes_escapes_in_keys(void **state)
{
    (void)state;
    assert_round_trip("{\"a\\u0062\\n\":1}", "{\"ab\\n\":1}", 0);
}

/* ---- depth ---------------------------------------------------------- */

static void
fhir_json__rejects_deep_nesting(void **state)
{
    size_t n = 100000;
    char *s = malloc(n);

    (void)state;
    assert_non_null(s);
    memset(s, '[', n);
    assert_rejects_n(s, n, NULL, FHIR_ISSUE_TOO_LONG);
    free(s);
}

static void
fhir_json__rejects_million_brackets(void **state)
{
    size_t n = 1000000;
    char *s = malloc(n);
    fhir_json_opts opts = {100000, 1};

    (void)state;
    assert_non_null(s);
    memset(s, '[', n);
    assert_rejects_n(s, n, NULL, FHIR_ISSUE_TOO_LONG);
    /* A generous limit still never touches the C stack. */
    assert_rejects_n(s, n, &opts, FHIR_ISSUE_TOO_LONG);
    free(s);
}

static void
fhir_json__accepts_depth_at_limit(void **state)
{
    char *s = nested_arrays(FHIR_DEFAULT_MAX_DEPTH);

    (void)state;
    assert_round_trip(s, s, 0);
    free(s);
}

static void
fhir_json__rejects_depth_over_limit(void **state)
{
    char *s = nested_arrays(FHIR_DEFAULT_MAX_DEPTH + 1);

    (void)state;
    assert_rejects(s, FHIR_ISSUE_TOO_LONG);
    free(s);
}

static void
fhir_json__depth_counts_objects_too(void **state)
{
    fhir_json_opts opts = {3, 1};
    const char *ok = "{\"a\":[{\"b\":1}]}";
    const char *deep = "{\"a\":[{\"b\":[1]}]}";
    char *got = round_trip(ok, strlen(ok), &opts, 0);

    (void)state;
    assert_string_equal(got, ok);
    free(got);
    assert_rejects_n(deep, strlen(deep), &opts, FHIR_ISSUE_TOO_LONG);
}

static void
fhir_json__writes_deep_tree(void **state)
{
    fhir_json_opts opts = {20000, 1};
    char *s = nested_arrays(20000);
    char *got = round_trip(s, strlen(s), &opts, 0);

    (void)state;
    assert_string_equal(got, s);
    free(got);
    free(s);
}

/* ---- duplicates ----------------------------------------------------- */

static void
fhir_json__rejects_duplicate_key(void **state)
{
    char diag[256];

    (void)state;
    assert_rejects("{\"a\":1,\"b\":2,\"a\":3}", FHIR_ISSUE_STRUCTURE);
    diag_of(diag, sizeof(diag), "{\"a\":1,\"id\":2,\"id\":3}", NULL);
    assert_non_null(strstr(diag, "duplicate key \"id\""));
}

static void
fhir_json__rejects_duplicate_key_nested(void **state)
{
    (void)state;
    assert_rejects("[{\"x\":{\"a\":1,\"a\":1}}]", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__accepts_same_key_in_sibling_objects(void **state)
{
    (void)state;
    assert_accepts("[{\"a\":1},{\"a\":2,\"b\":{\"a\":3}}]");
}

static void
fhir_json__accepts_many_distinct_keys(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *root = NULL;
    char *s = many_keys(5000, NULL);

    (void)state;
    assert_int_equal(fhir_json_parse(&root, s, strlen(s), NULL, &err), 0);
    assert_int_equal(cJSON_GetArraySize(root), 5000);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(root, "k4999")->valueint,
                     4999);
    cJSON_Delete(root);
    free(s);
}

static void
fhir_json__rejects_duplicate_among_many_keys(void **state)
{
    char diag[256];
    char *s = many_keys(5000, "k2500");

    (void)state;
    assert_rejects(s, FHIR_ISSUE_STRUCTURE);
    diag_of(diag, sizeof(diag), s, NULL);
    assert_non_null(strstr(diag, "\"k2500\""));
    free(s);
}

/* ---- FHIR rules ----------------------------------------------------- */

static void
fhir_json__rejects_null_member(void **state)
{
    char diag[256];

    (void)state;
    assert_rejects("{\"a\":null}", FHIR_ISSUE_STRUCTURE);
    diag_of(diag, sizeof(diag), "{\"a\":null}", NULL);
    assert_non_null(strstr(diag, "null"));
}

static void
fhir_json__rejects_empty_object(void **state)
{
    (void)state;
    assert_rejects("{}", FHIR_ISSUE_STRUCTURE);
    assert_rejects("{\"a\":{ }}", FHIR_ISSUE_STRUCTURE);
}

static void
fhir_json__rejects_empty_array(void **state)
{
    (void)state;
    assert_rejects("[]", FHIR_ISSUE_STRUCTURE);
    assert_rejects("{\"a\":[\n]}", FHIR_ISSUE_STRUCTURE);
}

/* ---- diagnostics ---------------------------------------------------- */

static void
fhir_json__error_names_line_and_column(void **state)
{
    char diag[256];

    (void)state;
    diag_of(diag, sizeof(diag), "{\n  \"a\": 1,\n  \"b\" 2\n}", NULL);
    assert_string_equal(diag, "Invalid JSON at line 3, column 7: expected "
                              "':' after the key, found '2'");
}

static void
fhir_json__error_column_counts_characters(void **state)
{
    char diag[256];

    (void)state;
    /* "é" is two bytes but one column. */
    diag_of(diag, sizeof(diag), "[\"\xC3\xA9\", x]", NULL);
    assert_non_null(strstr(diag, "line 1, column 7:"));
}

static void
fhir_json__error_diag_is_valid_utf8(void **state)
{
    char diag[256];
    fhir_buf b = FHIR_BUF_INIT;
    char *s;
    cJSON *root = NULL;
    cJSON *str;
    fhir_err err = FHIR_ERR_INIT;

    (void)state;
    /* A long duplicate key of 2-byte characters is cut at a character
     * boundary, so the diagnostic itself parses as a JSON string. */
    fhir_buf_puts(&b, "{\"");
    for (int i = 0; i < 200; i++) {
        fhir_buf_puts(&b, "\xC3\xA9");
    }
    fhir_buf_puts(&b, "\":1,\"");
    for (int i = 0; i < 200; i++) {
        fhir_buf_puts(&b, "\xC3\xA9");
    }
    fhir_buf_puts(&b, "\":2}");
    s = fhir_buf_take(&b, NULL);
    diag_of(diag, sizeof(diag), s, NULL);
    free(s);
    assert_non_null(strstr(diag, "duplicate key \"\xC3\xA9"));
    str = cJSON_CreateString(diag);
    fhir_json_write(&b, str, 0);
    cJSON_Delete(str);
    s = fhir_buf_take(&b, NULL);
    assert_int_equal(fhir_json_parse(&root, s, strlen(s), NULL, &err), 0);
    cJSON_Delete(root);
    free(s);
}

static void
fhir_json__parse_accepts_null_err(void **state)
{
    cJSON *root = NULL;

    (void)state;
    assert_int_equal(fhir_json_parse(&root, "[", 1, NULL, NULL), -1);
    assert_null(root);
}

static void
fhir_json__first_error_wins(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *root = NULL;

    (void)state;
    assert_int_equal(fhir_err_set(&err, FHIR_ISSUE_NOT_FOUND, "earlier"), -1);
    assert_int_equal(fhir_json_parse(&root, "[", 1, NULL, &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_NOT_FOUND);
    assert_string_equal(err.diag, "earlier");
}

static void
fhir_json__parses_exactly_len_bytes(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *root = NULL;
    const char text[] = "[1,2]garbage";

    (void)state;
    assert_int_equal(fhir_json_parse(&root, text, 5, NULL, &err), 0);
    assert_int_equal(cJSON_GetArraySize(root), 2);
    cJSON_Delete(root);
    assert_int_equal(fhir_json_parse(&root, NULL, 0, NULL, &err), -1);
}

/* ---- writer --------------------------------------------------------- */

static void
fhir_json__write_escapes_strings(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;
    cJSON *s = cJSON_CreateString("a\"b\\c/\n\r\t\b\f\x01\x1f\xC3\xA9");

    (void)state;
    fhir_json_write(&b, s, 0);
    assert_string_equal(b.data, "\"a\\\"b\\\\c/\\n\\r\\t\\b\\f\\u0001\\u001f"
                                "\xC3\xA9\"");
    fhir_buf_clear(&b);
    cJSON_Delete(s);
}

static void
fhir_json__write_formats_doubles(void **state)
{
    static const struct {
        double d;
        const char *want;
    } cases[] = {
        {0.1, "0.1"},
        {3.0, "3"},
        {-0.5, "-0.5"},
        {123456789012.0, "123456789012"},
        {999999999999999.0, "999999999999999"},
        {0.30000000000000004, "0.30000000000000004"},
        {1e20, "1e+20"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fhir_buf b = FHIR_BUF_INIT;
        cJSON *n = cJSON_CreateNumber(cases[i].d);
        fhir_json_write(&b, n, 0);
        assert_string_equal(b.data, cases[i].want);
        fhir_buf_clear(&b);
        cJSON_Delete(n);
    }
}

static void
fhir_json__write_handles_built_trees(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;
    cJSON *o = cJSON_CreateObject();
    cJSON *str = cJSON_CreateString("x");

    (void)state;
    cJSON_AddItemToObject(o, "e", cJSON_CreateObject());
    cJSON_AddItemToObject(o, "a", cJSON_CreateArray());
    cJSON_AddItemToObject(o, "r", cJSON_CreateRaw("{\"raw\":1}"));
    cJSON_AddItemToObject(o, "n", cJSON_CreateNull());
    cJSON_AddItemToObject(o, "f", cJSON_CreateFalse());
    cJSON_free(str->valuestring); /* a string node without a value writes "" */
    str->valuestring = NULL;
    cJSON_AddItemToObject(o, "s", str);
    cJSON_AddItemToObject(o, "d", fhir_json_number("2.50"));
    fhir_json_write(&b, o, 0);
    assert_string_equal(b.data, "{\"e\":{},\"a\":[],\"r\":{\"raw\":1},"
                                "\"n\":null,\"f\":false,\"s\":\"\","
                                "\"d\":2.50}");
    fhir_buf_clear(&b);
    fhir_json_write(&b, o, 1);
    assert_string_equal(b.data, "{\n  \"e\": {},\n  \"a\": [],\n"
                                "  \"r\": {\"raw\":1},\n  \"n\": null,\n"
                                "  \"f\": false,\n  \"s\": \"\",\n"
                                "  \"d\": 2.50\n}");
    fhir_buf_clear(&b);
    cJSON_Delete(o);
}

static void
fhir_json__write_appends(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;
    cJSON *t = cJSON_CreateTrue();

    (void)state;
    fhir_buf_puts(&b, "x=");
    fhir_json_write(&b, t, 1);
    assert_string_equal(b.data, "x=true");
    fhir_buf_clear(&b);
    cJSON_Delete(t);
}

/* ---- helpers of the API -------------------------------------------- */

static void
fhir_json__number_keeps_lexeme(void **state)
{
    cJSON *n = fhir_json_number("1.50");

    (void)state;
    assert_non_null(n);
    assert_true(cJSON_IsNumber(n));
    assert_string_equal(n->valuestring, "1.50");
    assert_true(n->valuedouble == 1.5);
    cJSON_Delete(n);
    n = fhir_json_number("-0.0e-0");
    assert_non_null(n);
    cJSON_Delete(n);
}

static void
fhir_json__number_rejects_non_numbers(void **state)
{
    static const char *const bad[] = {
        "", "01", "1.", ".5", "+1", "1.5 ", " 1", "1e", "NaN", "0x1", "-",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(fhir_json_number(bad[i]));
    }
    assert_null(fhir_json_number(NULL));
}

static void
fhir_json__str_returns_string_members(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *root = NULL;
    const char *text = "{\"id\":\"p1\",\"n\":1,\"Id\":\"other\"}";

    (void)state;
    assert_int_equal(fhir_json_parse(&root, text, strlen(text), NULL, &err), 0);
    assert_string_equal(fhir_json_str(root, "id"), "p1");
    assert_null(fhir_json_str(root, "n"));
    assert_null(fhir_json_str(root, "missing"));
    assert_null(fhir_json_str(NULL, "id"));
    cJSON_Delete(root);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fhir_json__round_trip_compact),
        cmocka_unit_test(fhir_json__round_trip_compact_drops_whitespace),
        cmocka_unit_test(fhir_json__round_trip_pretty),
        cmocka_unit_test(fhir_json__round_trip_scalars_at_top_level),
        cmocka_unit_test(fhir_json__keeps_decimal_lexemes),
        cmocka_unit_test(fhir_json__sets_number_values),
        cmocka_unit_test(fhir_json__links_children_like_cjson),
        cmocka_unit_test(fhir_json__skips_bom),
        cmocka_unit_test(fhir_json__accepts_null_in_array),
        cmocka_unit_test(fhir_json__accepts_null_member_without_fhir_rules),
        cmocka_unit_test(fhir_json__accepts_empty_key),
        cmocka_unit_test(fhir_json__rejects_empty_input),
        cmocka_unit_test(fhir_json__rejects_block_comment),
        cmocka_unit_test(fhir_json__rejects_line_comment),
        cmocka_unit_test(fhir_json__rejects_trailing_comma_in_object),
        cmocka_unit_test(fhir_json__rejects_trailing_comma_in_array),
        cmocka_unit_test(fhir_json__rejects_leading_zero),
        cmocka_unit_test(fhir_json__rejects_bad_numbers),
        cmocka_unit_test(fhir_json__rejects_nan_and_infinity),
        cmocka_unit_test(fhir_json__rejects_bad_literals),
        cmocka_unit_test(fhir_json__rejects_single_quotes),
        cmocka_unit_test(fhir_json__rejects_unquoted_key),
        cmocka_unit_test(fhir_json__rejects_missing_colon),
        cmocka_unit_test(fhir_json__rejects_missing_comma),
        cmocka_unit_test(fhir_json__rejects_mismatched_brackets),
        cmocka_unit_test(fhir_json__rejects_truncated_input),
        cmocka_unit_test(fhir_json__rejects_second_top_level_value),
        cmocka_unit_test(fhir_json__rejects_nul_byte_outside_string),
        cmocka_unit_test(fhir_json__rejects_nul_byte_in_string),
        cmocka_unit_test(fhir_json__rejects_escaped_nul),
        cmocka_unit_test(fhir_json__rejects_raw_control_char_in_string),
        cmocka_unit_test(fhir_json__rejects_invalid_escape),
        cmocka_unit_test(fhir_json__rejects_bad_unicode_escape),
        cmocka_unit_test(fhir_json__rejects_lone_high_surrogate),
        cmocka_unit_test(fhir_json__rejects_lone_low_surrogate),
        cmocka_unit_test(fhir_json__accepts_utf8),
        cmocka_unit_test(fhir_json__rejects_utf8_overlong_2_byte),
        cmocka_unit_test(fhir_json__rejects_utf8_overlong_3_and_4_byte),
        cmocka_unit_test(fhir_json__rejects_utf8_surrogate),
        cmocka_unit_test(fhir_json__rejects_utf8_above_max),
        cmocka_unit_test(fhir_json__rejects_utf8_truncated),
        cmocka_unit_test(fhir_json__rejects_utf8_bare_continuation),
        cmocka_unit_test(fhir_json__rejects_non_ascii_outside_string),
        cmocka_unit_test(fhir_json__decodes_unicode_escapes),
        cmocka_unit_test(fhir_json__decodes_escapes_in_keys),
        cmocka_unit_test(fhir_json__rejects_deep_nesting),
        cmocka_unit_test(fhir_json__rejects_million_brackets),
        cmocka_unit_test(fhir_json__accepts_depth_at_limit),
        cmocka_unit_test(fhir_json__rejects_depth_over_limit),
        cmocka_unit_test(fhir_json__depth_counts_objects_too),
        cmocka_unit_test(fhir_json__writes_deep_tree),
        cmocka_unit_test(fhir_json__rejects_duplicate_key),
        cmocka_unit_test(fhir_json__rejects_duplicate_key_nested),
        cmocka_unit_test(fhir_json__accepts_same_key_in_sibling_objects),
        cmocka_unit_test(fhir_json__accepts_many_distinct_keys),
        cmocka_unit_test(fhir_json__rejects_duplicate_among_many_keys),
        cmocka_unit_test(fhir_json__rejects_null_member),
        cmocka_unit_test(fhir_json__rejects_empty_object),
        cmocka_unit_test(fhir_json__rejects_empty_array),
        cmocka_unit_test(fhir_json__error_names_line_and_column),
        cmocka_unit_test(fhir_json__error_column_counts_characters),
        cmocka_unit_test(fhir_json__error_diag_is_valid_utf8),
        cmocka_unit_test(fhir_json__parse_accepts_null_err),
        cmocka_unit_test(fhir_json__first_error_wins),
        cmocka_unit_test(fhir_json__parses_exactly_len_bytes),
        cmocka_unit_test(fhir_json__write_escapes_strings),
        cmocka_unit_test(fhir_json__write_formats_doubles),
        cmocka_unit_test(fhir_json__write_handles_built_trees),
        cmocka_unit_test(fhir_json__write_appends),
        cmocka_unit_test(fhir_json__number_keeps_lexeme),
        cmocka_unit_test(fhir_json__number_rejects_non_numbers),
        cmocka_unit_test(fhir_json__str_returns_string_members),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
