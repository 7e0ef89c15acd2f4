/* tests/unit/test_search_query.c - query-string splitting and decoding.
 *
 * search_query_parse() is the one reader of query strings and form
 * bodies, so each rule has its own case: splitting at '&', '+' and %XX
 * decoding, empty pairs, pairs without '=', each kind of bad escape, NUL
 * bytes, empty names, order and repeats, search escapes left alone, and
 * a long query. The arena is the fixture.
 */
#include "search/search.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixture and helpers --------------------------------------------- */

static int
setup(void **state)
{
    *state = fhir_arena_new();
    return 0;
}

static int
teardown(void **state)
{
    fhir_arena_free(*state);
    return 0;
}

/* Parses `qs` (strlen bytes), failing the test on error. */
static search_query
parse_ok(fhir_arena *a, const char *qs)
{
    search_query q = {NULL, 0};
    fhir_err err = FHIR_ERR_INIT;

    if (search_query_parse(&q, a, qs, strlen(qs), &err) != 0) {
        fail_msg("'%s' rejected: %s", qs, err.diag);
    }
    assert_int_equal(err.issue, FHIR_ISSUE_NONE);
    return q;
}

static void
assert_param(const search_query *q, size_t i, const char *name,
             const char *value)
{
    assert_true(i < q->n);
    assert_string_equal(q->params[i].name, name);
    assert_string_equal(q->params[i].value, value);
}

/* Parses `len` bytes of `qs` expecting an invalid error. */
static void
assert_rejected_n(fhir_arena *a, const char *qs, size_t len)
{
    search_query q = {NULL, 0};
    fhir_err err = FHIR_ERR_INIT;

    if (search_query_parse(&q, a, qs, len, &err) != -1) {
        fail_msg("'%.*s' accepted", (int)len, qs);
    }
    assert_int_equal(err.issue, FHIR_ISSUE_INVALID);
    assert_int_equal(err.status, 400);
    assert_non_null(strstr(err.diag, "Malformed query string"));
}

static void
assert_rejected(fhir_arena *a, const char *qs)
{
    assert_rejected_n(a, qs, strlen(qs));
}

/* ---- splitting ------------------------------------------------------ */

static void
search_query__splits_pairs(void **state)
{
    search_query q = parse_ok(*state, "status=requested&_count=10&a=b");

    assert_int_equal(q.n, 3);
    assert_param(&q, 0, "status", "requested");
    assert_param(&q, 1, "_count", "10");
    assert_param(&q, 2, "a", "b");
}

static void
search_query__empty_string_has_no_params(void **state)
{
    search_query q = parse_ok(*state, "");

    assert_int_equal(q.n, 0);
    assert_null(search_query_get(&q, "a"));
}

static void
search_query__empty_pairs_skipped(void **state)
{
    search_query q = parse_ok(*state, "a=1&&b=2");

    assert_int_equal(q.n, 2);
    assert_param(&q, 0, "a", "1");
    assert_param(&q, 1, "b", "2");
    q = parse_ok(*state, "&&&a=1&&&");
    assert_int_equal(q.n, 1);
    assert_param(&q, 0, "a", "1");
    q = parse_ok(*state, "&");
    assert_int_equal(q.n, 0);
}

static void
search_query__missing_equals_is_empty_value(void **state)
{
    search_query q = parse_ok(*state, "_summary&a=1&flag");

    assert_int_equal(q.n, 3);
    assert_param(&q, 0, "_summary", "");
    assert_param(&q, 1, "a", "1");
    assert_param(&q, 2, "flag", "");
}

static void
search_query__empty_value(void **state)
{
    search_query q = parse_ok(*state, "a=&b=");

    assert_int_equal(q.n, 2);
    assert_param(&q, 0, "a", "");
    assert_param(&q, 1, "b", "");
}

static void
search_query__only_first_equals_splits(void **state)
{
    search_query q = parse_ok(*state, "a=b=c&d==");

    assert_int_equal(q.n, 2);
    assert_param(&q, 0, "a", "b=c");
    assert_param(&q, 1, "d", "=");
}

static void
search_query__modifier_stays_in_name(void **state)
{
    search_query q = parse_ok(*state, "name:exact=Smith&subject:Patient=p1");

    assert_param(&q, 0, "name:exact", "Smith");
    assert_param(&q, 1, "subject:Patient", "p1");
}

static void
search_query__parses_exactly_len_bytes(void **state)
{
    search_query q = {NULL, 0};
    fhir_err err = FHIR_ERR_INIT;
    const char *qs = "a=1&b=2&c=3";

    assert_int_equal(search_query_parse(&q, *state, qs, 5, &err), 0);
    assert_int_equal(q.n, 2);
    assert_param(&q, 0, "a", "1");
    assert_param(&q, 1, "b", "");
    /* An escape cut off by `len` is bad even if the bytes follow. */
    assert_rejected_n(*state, "a=%41", 4);
}

/* ---- decoding ------------------------------------------------------- */

static void
search_query__plus_is_space(void **state)
{
    search_query q = parse_ok(*state, "name=John+Smith&a+b=+");

    assert_param(&q, 0, "name", "John Smith");
    assert_param(&q, 1, "a b", " ");
}

static void
search_query__percent_decodes_upper_and_lower_hex(void **state)
{
    search_query q =
        parse_ok(*state, "a=%41%42&b=%4a%4B&c=%2B%2b&d=%c3%A9&%5F%69d=x");

    assert_int_equal(q.n, 5);
    assert_param(&q, 0, "a", "AB");
    assert_param(&q, 1, "b", "JK");
    assert_param(&q, 2, "c", "++");
    assert_param(&q, 3, "d", "\xc3\xa9");
    assert_param(&q, 4, "_id", "x");
}

static void
search_query__decoded_separators_do_not_split(void **state)
{
    search_query q = parse_ok(*state, "a=1%262&b%3Dc=%3D&x=%25");

    assert_int_equal(q.n, 3);
    assert_param(&q, 0, "a", "1&2");
    assert_param(&q, 1, "b=c", "=");
    assert_param(&q, 2, "x", "%");
}

static void
search_query__escape_at_end(void **state)
{
    search_query q = parse_ok(*state, "a=%41");

    assert_param(&q, 0, "a", "A");
    q = parse_ok(*state, "%41");
    assert_param(&q, 0, "A", "");
}

static void
search_query__bad_escapes_rejected(void **state)
{
    static const char *const bad[] = {
        "a=%",     "a=%4",   "a=%zz", "a=%4z",    "a=%z4",
        "a=%%41",  "%=1",    "a%=1",  "a=%4&b=1", "a=%g0",
        "a=1&b=%", "a=% 41", "a=%+1", "a=%-1",    "a=%\xc3\xa9"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_rejected(*state, bad[i]);
    }
}

static void
search_query__nul_rejected(void **state)
{
    assert_rejected(*state, "a=%00");
    assert_rejected(*state, "%00=1");
    assert_rejected(*state, "a=x%00y");
    /* A raw NUL byte inside the given length. */
    assert_rejected_n(*state, "a=x\0y", 5);
    assert_rejected_n(*state, "a\0=1", 4);
}

static void
search_query__empty_name_rejected(void **state)
{
    assert_rejected(*state, "=x");
    assert_rejected(*state, "=");
    assert_rejected(*state, "a=1&=2");
}

static void
search_query__error_keeps_first(void **state)
{
    search_query q = {NULL, 0};
    fhir_err err = FHIR_ERR_INIT;

    (void)fhir_err_set(&err, FHIR_ISSUE_TOO_LONG, "earlier");
    assert_int_equal(search_query_parse(&q, *state, "=x", 2, &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_TOO_LONG);
    assert_string_equal(err.diag, "earlier");
}

/* ---- order, repeats, escapes ---------------------------------------- */

static void
search_query__order_and_repeats_kept(void **state)
{
    search_query q = parse_ok(*state, "b=1&a=2&b=3&c=4&b=5");

    assert_int_equal(q.n, 5);
    assert_param(&q, 0, "b", "1");
    assert_param(&q, 1, "a", "2");
    assert_param(&q, 2, "b", "3");
    assert_param(&q, 3, "c", "4");
    assert_param(&q, 4, "b", "5");
}

static void
search_query__get_returns_first(void **state)
{
    search_query q = parse_ok(*state, "b=1&a=2&b=3&empty");

    assert_string_equal(search_query_get(&q, "b"), "1");
    assert_string_equal(search_query_get(&q, "a"), "2");
    assert_string_equal(search_query_get(&q, "empty"), "");
    assert_null(search_query_get(&q, "c"));
    assert_null(search_query_get(&q, "B"));
    assert_null(search_query_get(&q, ""));
}

static void
search_query__search_escapes_kept_verbatim(void **state)
{
    search_query q =
        parse_ok(*state, "a=a\\,b&b=x\\|y&c=\\$z&d=a%5C%2Cb&e=1,2|3$4");

    assert_param(&q, 0, "a", "a\\,b");
    assert_param(&q, 1, "b", "x\\|y");
    assert_param(&q, 2, "c", "\\$z");
    assert_param(&q, 3, "d", "a\\,b");
    assert_param(&q, 4, "e", "1,2|3$4");
}

static void
search_query__strings_live_in_arena(void **state)
{
    char qs[] = "name=abc";
    search_query q = parse_ok(*state, qs);

    memset(qs, 'z', sizeof(qs) - 1); /* the input is not referenced */
    assert_param(&q, 0, "name", "abc");
}

/* ---- size ------------------------------------------------------------ */

static void
search_query__long_query_many_params(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;
    search_query q;
    char name[16];
    char want[16];

    for (int i = 0; i < 10000; i++) {
        fhir_buf_printf(&b, "%sp%d=v%%2B%d", i ? "&" : "", i, i);
    }
    assert_true(b.len >= 100000);
    q = parse_ok(*state, b.data);
    assert_int_equal(q.n, 10000);
    for (int i = 0; i < 10000; i += 997) {
        snprintf(name, sizeof(name), "p%d", i);
        snprintf(want, sizeof(want), "v+%d", i);
        assert_param(&q, (size_t)i, name, want);
    }
    assert_string_equal(search_query_get(&q, "p9999"), "v+9999");
    fhir_buf_clear(&b);
}

static void
search_query__long_single_value(void **state)
{
    size_t n = 100 * 1024;
    char *qs = fhir_xmalloc(n + 3);
    search_query q;

    memcpy(qs, "v=", 2);
    for (size_t i = 2; i < n + 2; i++) {
        qs[i] = (i % 2) ? '+' : 'x';
    }
    qs[n + 2] = '\0';
    q = parse_ok(*state, qs);
    assert_int_equal(q.n, 1);
    assert_int_equal(strlen(q.params[0].value), n);
    assert_int_equal(q.params[0].value[0], 'x');
    assert_int_equal(q.params[0].value[1], ' ');
    free(qs);
}

/* search/include.c binds an include's values as one JSON array: a
 * quote, a backslash and a control character are escaped, so json_each
 * reads back the values themselves; the statement's text does not depend
 * on how many there are. */
static void
search_incl__values_bound_as_one_json_array(void **state)
{
    (void)state;
    static const char *const ids[] = {"plain", "a\"b", "c\\d",
                                      "e\x01"
                                      "f"};
    fhir_sql q = FHIR_SQL_INIT, one = FHIR_SQL_INIT;
    fhir_buf list = FHIR_BUF_INIT;
    search_incl_fetch_sql(&q, &list, 4, ids, 4);
    assert_string_equal(list.data,
                        "[\"plain\",\"a\\\"b\",\"c\\\\d\",\"e\\u0001f\"]");
    assert_int_equal(q.n, 2); /* the type code, the array */
    assert_non_null(strstr(q.text.data, "json_each("));
    search_incl_fetch_sql(&one, &list, 4, ids, 1);
    assert_string_equal(list.data, "[\"plain\"]");
    assert_string_equal(q.text.data, one.text.data);
    fhir_sql_clear(&q);
    fhir_sql_clear(&one);
    fhir_buf_clear(&list);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(search_query__splits_pairs),
        T(search_query__empty_string_has_no_params),
        T(search_query__empty_pairs_skipped),
        T(search_query__missing_equals_is_empty_value),
        T(search_query__empty_value),
        T(search_query__only_first_equals_splits),
        T(search_query__modifier_stays_in_name),
        T(search_query__parses_exactly_len_bytes),
        T(search_query__plus_is_space),
        T(search_query__percent_decodes_upper_and_lower_hex),
        T(search_query__decoded_separators_do_not_split),
        T(search_query__escape_at_end),
        T(search_query__bad_escapes_rejected),
        T(search_query__nul_rejected),
        T(search_query__empty_name_rejected),
        T(search_query__error_keeps_first),
        T(search_query__order_and_repeats_kept),
        T(search_query__get_returns_first),
        T(search_query__search_escapes_kept_verbatim),
        T(search_query__strings_live_in_arena),
        T(search_query__long_query_many_params),
        T(search_query__long_single_value),
        T(search_incl__values_bound_as_one_json_array),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
