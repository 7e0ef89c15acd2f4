/* tests/unit/test_fhir_misc.c - errors, memory, types, ids, time and the
 * builders of fhir/.
 *
 * One case per promise of fhir.h outside the JSON reader (which has
 * test_fhir_json.c): the first-error-wins rule and the issue table, the
 * arena and the string builder, the served types and ids, instants, HTTP
 * dates and FHIR date ranges, OperationOutcome and Bundle builders, and
 * fhir_resource_stamp(). Expected times come from timegm(), not from the
 * code under test.
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
#include <time.h>

#define US 1000000LL

/* ---- helpers -------------------------------------------------------- */

/* UTC microseconds of a civil time, computed by libc. */
static int64_t
utc_us(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm) * US;
}

/* Compact JSON text of `item` (caller frees). */
static char *
to_json(const cJSON *item)
{
    fhir_buf b = FHIR_BUF_INIT;

    fhir_json_write(&b, item, 0);
    return fhir_buf_take(&b, NULL);
}

static void
assert_json(const cJSON *item, const char *want)
{
    char *got = to_json(item);

    assert_string_equal(got, want);
    free(got);
}

/* Parses JSON text that the test itself wrote; fails the test otherwise. */
static cJSON *
parse(const char *text)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *root = NULL;

    if (fhir_json_parse(&root, text, strlen(text), NULL, &err) != 0) {
        fail_msg("test JSON does not parse: %s", err.diag);
    }
    return root;
}

static void
assert_date(const char *s, int64_t lo, int64_t hi, int precision)
{
    fhir_err err = FHIR_ERR_INIT;
    fhir_date_range r = {0, 0, 0};
    int rc = fhir_date_parse(&r, s, &err);

    if (rc != 0) {
        fail_msg("'%s' rejected: %s", s, err.diag);
    }
    assert_int_equal(err.issue, FHIR_ISSUE_NONE);
    assert_int_equal(r.lo, lo);
    assert_int_equal(r.hi, hi);
    assert_int_equal(r.precision, precision);
}

static void
assert_date_rejected(const char *s)
{
    fhir_err err = FHIR_ERR_INIT;
    fhir_date_range r = {0, 0, 0};
    int rc = fhir_date_parse(&r, s, &err);

    if (rc != -1) {
        fail_msg("'%s' accepted as [%lld, %lld) precision %d", s,
                 (long long)r.lo, (long long)r.hi, r.precision);
    }
    assert_int_equal(err.issue, FHIR_ISSUE_INVALID);
    assert_int_equal(err.status, 400);
    assert_non_null(strstr(err.diag, "not a valid FHIR date"));
}

static void
assert_http_date(const char *s, int64_t want_us)
{
    int64_t got = -1;

    if (fhir_http_date_parse(s, &got) != 0) {
        fail_msg("'%s' rejected", s);
    }
    assert_int_equal(got, want_us);
}

static void
assert_http_date_rejected(const char *s)
{
    int64_t got = 12345;

    if (fhir_http_date_parse(s, &got) != -1) {
        fail_msg("'%s' accepted as %lld", s, (long long)got);
    }
}

/* ---- errors --------------------------------------------------------- */

static void
fhir_err__set_records_issue_status_and_diag(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    int rc;

    (void)state;
    rc = fhir_err_set(&err, FHIR_ISSUE_NOT_FOUND, "Task/%s is not known", "t1");
    assert_int_equal(rc, -1);
    assert_int_equal(err.issue, FHIR_ISSUE_NOT_FOUND);
    assert_int_equal(err.status, 404);
    assert_string_equal(err.diag, "Task/t1 is not known");
    assert_string_equal(err.expr, "");
}

static void
fhir_err__first_error_wins(void **state)
{
    fhir_err err = FHIR_ERR_INIT;

    (void)state;
    assert_int_equal(fhir_err_set(&err, FHIR_ISSUE_CONFLICT, "first"), -1);
    assert_int_equal(fhir_err_set(&err, FHIR_ISSUE_EXCEPTION, "second"), -1);
    assert_int_equal(
        fhir_err_set_at(&err, FHIR_ISSUE_INVALID, "Task.status", "third"), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_CONFLICT);
    assert_int_equal(err.status, 409);
    assert_string_equal(err.diag, "first");
    assert_string_equal(err.expr, "");
}

static void
fhir_err__set_at_records_expression(void **state)
{
    fhir_err err = FHIR_ERR_INIT;

    (void)state;
    assert_int_equal(fhir_err_set_at(&err, FHIR_ISSUE_REQUIRED, "Task.intent",
                                     "intent is required"),
                     -1);
    assert_int_equal(err.issue, FHIR_ISSUE_REQUIRED);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.expr, "Task.intent");
    assert_string_equal(err.diag, "intent is required");
}

static void
fhir_err__clear_allows_a_new_error(void **state)
{
    fhir_err err = FHIR_ERR_INIT;

    (void)state;
    (void)fhir_err_set_at(&err, FHIR_ISSUE_INVALID, "x", "one");
    fhir_err_clear(&err);
    assert_int_equal(err.issue, FHIR_ISSUE_NONE);
    assert_int_equal(err.status, 0);
    assert_string_equal(err.diag, "");
    assert_string_equal(err.expr, "");
    (void)fhir_err_set(&err, FHIR_ISSUE_TOO_LONG, "two");
    assert_int_equal(err.issue, FHIR_ISSUE_TOO_LONG);
    assert_string_equal(err.diag, "two");
}

static void
fhir_err__null_err_is_ignored(void **state)
{
    (void)state;
    assert_int_equal(fhir_err_set(NULL, FHIR_ISSUE_INVALID, "x"), -1);
    assert_int_equal(fhir_err_set_at(NULL, FHIR_ISSUE_INVALID, "e", "x"), -1);
}

static void
fhir_err__long_diag_is_truncated(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    char big[1000];
    char expr[500];

    (void)state;
    memset(big, 'd', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memset(expr, 'e', sizeof(expr) - 1);
    expr[sizeof(expr) - 1] = '\0';
    (void)fhir_err_set_at(&err, FHIR_ISSUE_INVALID, expr, "%s", big);
    assert_int_equal(strlen(err.diag), sizeof(err.diag) - 1);
    assert_int_equal(strlen(err.expr), sizeof(err.expr) - 1);
}

static void
fhir_err__status_table(void **state)
{
    static const struct {
        fhir_issue issue;
        const char *code;
        int status;
    } want[] = {
        {FHIR_ISSUE_NOT_FOUND, "not-found", 404},
        {FHIR_ISSUE_TOO_LONG, "too-long", 413},
        {FHIR_ISSUE_CONFLICT, "conflict", 409},
        {FHIR_ISSUE_PROCESSING, "processing", 422},
        {FHIR_ISSUE_STRUCTURE, "structure", 400},
        {FHIR_ISSUE_INVALID, "invalid", 400},
        {FHIR_ISSUE_NOT_SUPPORTED, "not-supported", 400},
        {FHIR_ISSUE_DELETED, "deleted", 410},
        {FHIR_ISSUE_DUPLICATE, "duplicate", 409},
        {FHIR_ISSUE_TRANSIENT, "transient", 503},
        {FHIR_ISSUE_NO_STORE, "no-store", 503},
        {FHIR_ISSUE_EXCEPTION, "exception", 500},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        fhir_err err = FHIR_ERR_INIT;

        assert_string_equal(fhir_issue_code(want[i].issue), want[i].code);
        assert_int_equal(fhir_issue_status(want[i].issue), want[i].status);
        (void)fhir_err_set(&err, want[i].issue, "x");
        assert_int_equal(err.status, want[i].status);
    }
}

static void
fhir_err__every_issue_has_a_code_and_status(void **state)
{
    (void)state;
    for (int i = 1; i < FHIR_ISSUE__COUNT; i++) {
        const char *code = fhir_issue_code((fhir_issue)i);
        int status = fhir_issue_status((fhir_issue)i);

        assert_non_null(code);
        assert_true(code[0] != '\0');
        assert_in_range(status, 200, 599);
    }
}

static void
fhir_err__out_of_range_issue_is_exception(void **state)
{
    (void)state;
    assert_string_equal(fhir_issue_code(FHIR_ISSUE__COUNT), "exception");
    assert_int_equal(fhir_issue_status(FHIR_ISSUE__COUNT), 500);
    assert_string_equal(fhir_issue_code((fhir_issue)-1), "exception");
    assert_int_equal(fhir_issue_status((fhir_issue)-1), 500);
}

/* ---- arena ---------------------------------------------------------- */

/* Fills every allocation with its own byte, then checks none was
 * overwritten by a later one, and that each came aligned and zeroed. */
static void
check_many_allocations(void)
{
    enum { N = 3000 };
    static unsigned char *ptrs[N];
    static size_t sizes[N];
    fhir_arena *a = fhir_arena_new();

    for (size_t i = 0; i < N; i++) {
        size_t n;

        if (i % 500 == 7) {
            n = 8193 + i * 13; /* > 8 KiB: a block of its own */
        } else if (i % 100 == 3) {
            n = 4097 + i; /* just over half a chunk */
        } else {
            n = i % 97;
        }
        sizes[i] = n;
        ptrs[i] = fhir_arena_alloc(a, n);
        assert_non_null(ptrs[i]);
        assert_int_equal((uintptr_t)ptrs[i] % 16, 0);
        for (size_t k = 0; k < n; k++) {
            assert_int_equal(ptrs[i][k], 0);
        }
        memset(ptrs[i], (int)(i % 251) + 1, n);
    }
    for (size_t i = 0; i < N; i++) {
        for (size_t k = 0; k < sizes[i]; k++) {
            if (ptrs[i][k] != (unsigned char)(i % 251 + 1)) {
                fail_msg("allocation %zu (size %zu) overwritten at %zu", i,
                         sizes[i], k);
            }
        }
    }
    fhir_arena_free(a);
}

static void
fhir_arena__many_allocations_do_not_overlap(void **state)
{
    (void)state;
    check_many_allocations();
}

/* Sets ARENA_DEBUG (NULL: unset) and returns the old value to give to
 * restore_arena_debug(). */
static char *
set_arena_debug(const char *value)
{
    const char *old = getenv("ARENA_DEBUG");
    char *saved = old != NULL ? fhir_xstrdup(old) : NULL;

    if (value != NULL) {
        setenv("ARENA_DEBUG", value, 1);
    } else {
        unsetenv("ARENA_DEBUG");
    }
    return saved;
}

static void
restore_arena_debug(char *saved)
{
    if (saved != NULL) {
        setenv("ARENA_DEBUG", saved, 1);
        free(saved);
    } else {
        unsetenv("ARENA_DEBUG");
    }
}

static void
fhir_arena__debug_mode_allocations_do_not_overlap(void **state)
{
    char *saved = set_arena_debug("1");

    (void)state;
    check_many_allocations();
    restore_arena_debug(saved);
}

/* fhir_arena_grow keeps the items and doubles the capacity when full. */
static void
fhir_arena__grow_keeps_items(void **state)
{
    (void)state;
    fhir_arena *a = fhir_arena_new();
    int *v = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < 1000; i++) {
        int *before = v;
        size_t old = cap;
        v = fhir_arena_grow(a, v, n, &cap, sizeof(*v));
        assert_true(n < cap);
        if (n < old) {
            assert_ptr_equal(v, before); /* room left: the same array */
        }
        v[n++] = i;
    }
    assert_int_equal(cap, 1024);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(v[i], i);
    }
    fhir_arena_free(a);
}

/* fhir_utf8_cut drops only a sequence cut short at the end. */
static void
fhir_utf8__cut_drops_a_partial_sequence(void **state)
{
    (void)state;
    char a[] = "ok \xE2\x80"; /* U+2019 without its last byte */
    char b[] = "ok \xE2\x80\x99";
    char c[] = "\xC3";
    char d[] = "plain";
    char e[] = "\xF0\x9F\x98";
    fhir_utf8_cut(a);
    fhir_utf8_cut(b);
    fhir_utf8_cut(c);
    fhir_utf8_cut(d);
    fhir_utf8_cut(e);
    assert_string_equal(a, "ok ");
    assert_string_equal(b, "ok \xE2\x80\x99");
    assert_string_equal(c, "");
    assert_string_equal(d, "plain");
    assert_string_equal(e, "");
}

/* fhir_arena_path joins with one slash, empty parts included. */
static void
fhir_arena__path_joins_with_a_slash(void **state)
{
    (void)state;
    fhir_arena *a = fhir_arena_new();
    assert_string_equal(fhir_arena_path(a, "Task", "01a2-b"), "Task/01a2-b");
    assert_string_equal(fhir_arena_path(a, "http://x/fhir", "Patient/1"),
                        "http://x/fhir/Patient/1");
    assert_string_equal(fhir_arena_path(a, "", ""), "/");
    fhir_arena_free(a);
}

static void
fhir_arena__large_block_keeps_chunk_usable(void **state)
{
    char *saved = set_arena_debug(NULL); /* chunk layout is the point */
    fhir_arena *a = fhir_arena_new();
    char *small1 = fhir_arena_alloc(a, 10);
    char *big = fhir_arena_alloc(a, 64 * 1024);
    char *small2 = fhir_arena_alloc(a, 10);

    (void)state;
    restore_arena_debug(saved);
    assert_int_equal((uintptr_t)big % 16, 0);
    memset(big, 'B', 64 * 1024);
    /* The second small block still comes from the first chunk. */
    assert_ptr_equal(small2, small1 + 16);
    assert_int_equal(small2[0], 0);
    assert_int_equal(big[64 * 1024 - 1], 'B');
    fhir_arena_free(a);
}

static void
fhir_arena__zero_size_allocations_are_distinct(void **state)
{
    fhir_arena *a = fhir_arena_new();
    void *p = fhir_arena_alloc(a, 0);
    void *q = fhir_arena_alloc(a, 0);

    (void)state;
    assert_non_null(p);
    assert_non_null(q);
    assert_ptr_not_equal(p, q);
    assert_int_equal((uintptr_t)q % 16, 0);
    fhir_arena_free(a);
}

static void
fhir_arena__strdup_and_strndup_copy(void **state)
{
    fhir_arena *a = fhir_arena_new();
    char src[] = "hello world";
    char *d = fhir_arena_strdup(a, src);
    char *n = fhir_arena_strndup(a, src, 5);
    char *e = fhir_arena_strdup(a, "");

    (void)state;
    src[0] = 'J';
    assert_string_equal(d, "hello world");
    assert_string_equal(n, "hello");
    assert_string_equal(e, "");
    fhir_arena_free(a);
}

static void
fhir_arena__printf_formats(void **state)
{
    fhir_arena *a = fhir_arena_new();
    char *s = fhir_arena_printf(a, "%s/%d/%05.1f", "Task", 42, 3.5);
    char *empty = fhir_arena_printf(a, "%s", "");
    char *big;
    char want[10001];

    (void)state;
    assert_string_equal(s, "Task/42/003.5");
    assert_string_equal(empty, "");
    memset(want, 'x', sizeof(want) - 1);
    want[sizeof(want) - 1] = '\0';
    big = fhir_arena_printf(a, "%s", want);
    assert_string_equal(big, want);
    fhir_arena_free(a);
}

struct defer_log {
    int order[8];
    int n;
};

struct defer_item {
    struct defer_log *log;
    int tag;
};

static void
record_defer(void *p)
{
    struct defer_item *it = p;

    it->log->order[it->log->n++] = it->tag;
}

static void
free_cjson(void *p)
{
    cJSON_Delete(p);
}

static void
fhir_arena__defer_runs_last_registered_first(void **state)
{
    struct defer_log log;
    struct defer_item items[3];
    fhir_arena *a = fhir_arena_new();

    (void)state;
    memset(&log, 0, sizeof(log));
    for (int i = 0; i < 3; i++) {
        items[i].log = &log;
        items[i].tag = i + 1;
        fhir_arena_defer(a, record_defer, &items[i]);
        (void)fhir_arena_alloc(a, 5000); /* defers survive big blocks */
    }
    /* Owned objects are released too (leak checkers see it). */
    fhir_arena_defer(a, free_cjson, cJSON_CreateString("owned"));
    assert_int_equal(log.n, 0);
    fhir_arena_free(a);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.order[0], 3);
    assert_int_equal(log.order[1], 2);
    assert_int_equal(log.order[2], 1);
}

static void
fhir_arena__free_accepts_null(void **state)
{
    (void)state;
    fhir_arena_free(NULL);
    fhir_arena_free(fhir_arena_new()); /* empty arena */
}

/* ---- string builder ------------------------------------------------- */

static void
fhir_buf__append_puts_putc(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;

    (void)state;
    fhir_buf_append(&b, "abcdef", 3);
    fhir_buf_puts(&b, "-");
    fhir_buf_putc(&b, 'z');
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "abc-z");
    assert_true(b.cap > b.len);
    fhir_buf_clear(&b);
}

static void
fhir_buf__append_keeps_embedded_nul(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;

    (void)state;
    fhir_buf_append(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4);
    fhir_buf_clear(&b);
}

static void
fhir_buf__grows_past_initial_capacity(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;

    (void)state;
    for (int i = 0; i < 10000; i++) {
        fhir_buf_putc(&b, (char)('a' + i % 26));
    }
    assert_int_equal(b.len, 10000);
    assert_int_equal(strlen(b.data), 10000);
    assert_int_equal(b.data[9999], 'a' + 9999 % 26);
    fhir_buf_clear(&b);
}

static void
fhir_buf__printf_appends(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;
    char big[3001];

    (void)state;
    fhir_buf_puts(&b, "x=");
    fhir_buf_printf(&b, "%d,%s", 7, "y");
    assert_string_equal(b.data, "x=7,y");
    assert_int_equal(b.len, 5);
    fhir_buf_printf(&b, "%s", ""); /* nothing to add */
    assert_int_equal(b.len, 5);
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    fhir_buf_printf(&b, "[%s]", big);
    assert_int_equal(b.len, 5 + 3002);
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[b.len], '\0');
    fhir_buf_clear(&b);
}

static void
fhir_buf__take_hands_over_and_empties(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;
    size_t len = 99;
    char *s;

    (void)state;
    fhir_buf_puts(&b, "hello");
    s = fhir_buf_take(&b, &len);
    assert_string_equal(s, "hello");
    assert_int_equal(len, 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    free(s);
    /* Reusable after take. */
    fhir_buf_puts(&b, "again");
    assert_string_equal(b.data, "again");
    fhir_buf_clear(&b);
}

static void
fhir_buf__take_of_empty_buffer_is_empty_string(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;
    size_t len = 99;
    char *s = fhir_buf_take(&b, &len);

    (void)state;
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    s = fhir_buf_take(&b, NULL);
    assert_string_equal(s, "");
    free(s);
}

static void
fhir_buf__clear_resets(void **state)
{
    fhir_buf b = FHIR_BUF_INIT;

    (void)state;
    fhir_buf_puts(&b, "data");
    fhir_buf_clear(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    fhir_buf_clear(&b); /* twice is fine */
}

/* ---- types and ids -------------------------------------------------- */

static void
fhir_type__find_name_count(void **state)
{
    static const char *const served[] = {"Patient", "Practitioner",
                                         "ServiceRequest", "Task"};

    (void)state;
    assert_int_equal(fhir_type_count(), 4);
    for (int i = 0; i < 4; i++) {
        int t = fhir_type_find(served[i]);

        assert_in_range(t, 0, fhir_type_count() - 1);
        assert_string_equal(fhir_type_name(t), served[i]);
    }
    for (int t = 0; t < fhir_type_count(); t++) {
        assert_int_equal(fhir_type_find(fhir_type_name(t)), t);
    }
}

static void
fhir_type__unknown_names(void **state)
{
    (void)state;
    assert_int_equal(fhir_type_find("task"), -1);
    assert_int_equal(fhir_type_find("Observation"), -1);
    assert_int_equal(fhir_type_find(""), -1);
    assert_int_equal(fhir_type_find("Task "), -1);
    assert_null(fhir_type_name(-1));
    assert_null(fhir_type_name(fhir_type_count()));
}

static void
fhir_id__valid(void **state)
{
    char id64[65];
    char id65[66];

    (void)state;
    memset(id64, 'a', 64);
    id64[64] = '\0';
    memset(id65, 'a', 65);
    id65[65] = '\0';
    assert_int_equal(fhir_id_valid(id64), 1);
    assert_int_equal(fhir_id_valid(id65), 0);
    assert_int_equal(fhir_id_valid(""), 0);
    assert_int_equal(fhir_id_valid(NULL), 0);
    assert_int_equal(fhir_id_valid("a_b"), 0);
    assert_int_equal(fhir_id_valid("a/b"), 0);
    assert_int_equal(fhir_id_valid("a b"), 0);
    assert_int_equal(fhir_id_valid("\xc3\xa9"), 0);
    assert_int_equal(fhir_id_valid("a.b-C9"), 1);
    assert_int_equal(fhir_id_valid("1"), 1);
    assert_int_equal(fhir_id_valid("-"), 1);
}

static void
assert_uuid_v7(const char *id)
{
    assert_int_equal(strlen(id), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            assert_int_equal(id[i], '-');
        } else if (!((id[i] >= '0' && id[i] <= '9') ||
                     (id[i] >= 'a' && id[i] <= 'f'))) {
            fail_msg("'%s': not lowercase hex at %d", id, i);
        }
    }
    assert_int_equal(id[14], '7');
    assert_non_null(strchr("89ab", id[19]));
    assert_int_equal(fhir_id_valid(id), 1);
}

static void
fhir_id__new_is_uuid_v7_in_order(void **state)
{
    char a[37];
    char b[37];
    (void)state;
    int64_t before_ms = fhir_now_us() / 1000;
    fhir_id_new(a);
    assert_uuid_v7(a);
    /* The first 48 bits are the Unix milliseconds of the call. */
    char ms_hex[13];
    memcpy(ms_hex, a, 8);
    memcpy(ms_hex + 8, a + 9, 4);
    ms_hex[12] = '\0';
    int64_t ms = (int64_t)strtoll(ms_hex, NULL, 16);
    assert_in_range(ms, before_ms, fhir_now_us() / 1000 + 1);
    /* Strictly increasing, also many within one millisecond (past the
     * 4096 of the sequence). */
    for (int i = 0; i < 10000; i++) {
        fhir_id_new(b);
        assert_uuid_v7(b);
        if (strcmp(a, b) >= 0) {
            fail_msg("'%s' does not sort after '%s'", b, a);
        }
        memcpy(a, b, sizeof(a));
    }
}

/* ---- instants and HTTP dates ---------------------------------------- */

static void
fhir_time__now_is_close_to_time(void **state)
{
    int64_t before = (int64_t)time(NULL) * US;
    int64_t now = fhir_now_us();
    int64_t after = ((int64_t)time(NULL) + 1) * US;

    (void)state;
    assert_true(now >= before && now <= after);
}

static void
fhir_time__instant_format_epoch(void **state)
{
    char out[40];

    (void)state;
    fhir_instant_format(out, sizeof(out), 0);
    assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
}

static void
fhir_time__instant_format_known_value(void **state)
{
    char out[40];

    (void)state;
    fhir_instant_format(out, sizeof(out), 784111777 * US + 123456);
    assert_string_equal(out, "1994-11-06T08:49:37.123456Z");
    fhir_instant_format(out, sizeof(out),
                        utc_us(2024, 2, 29, 23, 59, 59) + 999999);
    assert_string_equal(out, "2024-02-29T23:59:59.999999Z");
    fhir_instant_format(out, sizeof(out), utc_us(2000, 3, 1, 0, 0, 0));
    assert_string_equal(out, "2000-03-01T00:00:00.000000Z");
}

static void
fhir_time__instant_format_negative(void **state)
{
    char out[40];

    (void)state;
    fhir_instant_format(out, sizeof(out), -1);
    assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
    fhir_instant_format(out, sizeof(out), -86400 * US);
    assert_string_equal(out, "1969-12-31T00:00:00.000000Z");
    fhir_instant_format(out, sizeof(out), utc_us(1900, 1, 1, 12, 30, 0));
    assert_string_equal(out, "1900-01-01T12:30:00.000000Z");
}

static void
fhir_time__http_date_format(void **state)
{
    char out[40];

    (void)state;
    fhir_http_date_format(out, sizeof(out), 784111777 * US + 999999);
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    fhir_http_date_format(out, sizeof(out), 0);
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    fhir_http_date_format(out, sizeof(out), -1);
    assert_string_equal(out, "Wed, 31 Dec 1969 23:59:59 GMT");
    fhir_http_date_format(out, sizeof(out), utc_us(2024, 2, 29, 13, 5, 9));
    assert_string_equal(out, "Thu, 29 Feb 2024 13:05:09 GMT");
}

static void
fhir_time__http_date_round_trip(void **state)
{
    static const int64_t secs[] = {0, 784111777, 951782400, 1709211909,
                                   4102444799};
    char out[40];

    (void)state;
    for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
        int64_t got = -1;

        fhir_http_date_format(out, sizeof(out), secs[i] * US + 500);
        assert_int_equal(fhir_http_date_parse(out, &got), 0);
        assert_int_equal(got, secs[i] * US); /* whole seconds only */
    }
}

static void
fhir_time__http_date_parse_three_forms(void **state)
{
    (void)state;
    assert_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 * US);
    assert_http_date("Sunday, 06-Nov-94 08:49:37 GMT", 784111777 * US);
    assert_http_date("Sun Nov  6 08:49:37 1994", 784111777 * US);
}

static void
fhir_time__http_date_parse_rfc850_century(void **state)
{
    (void)state;
    assert_http_date("Thursday, 01-Jan-70 00:00:00 GMT", 0);
    assert_http_date("Saturday, 01-Jan-00 00:00:00 GMT",
                     utc_us(2000, 1, 1, 0, 0, 0));
}

static void
fhir_time__http_date_parse_rejects_garbage(void **state)
{
    (void)state;
    assert_http_date_rejected("");
    assert_http_date_rejected("garbage");
    assert_http_date_rejected("1994-11-06T08:49:37Z");
    assert_http_date_rejected("Sun, 06 Nov 1994 08:49:37");     /* no GMT */
    assert_http_date_rejected("Sun, 06 Foo 1994 08:49:37 GMT"); /* month */
    assert_http_date_rejected("Sun, 31 Nov 1994 08:49:37 GMT"); /* day */
    assert_http_date_rejected("Sun, 00 Nov 1994 08:49:37 GMT");
    assert_http_date_rejected("Sun, 06 Nov 1994 24:49:37 GMT");
    assert_http_date_rejected("Sun, 06 Nov 1994 08:60:37 GMT");
    assert_http_date_rejected("Sun, 06 Nov 1994 08:49:61 GMT");
    assert_http_date_rejected("Sun, 29 Feb 1995 08:49:37 GMT");
    assert_http_date_rejected("Sun Nov 31 08:49:37 1994");
}

/* BUG: fhir/time.c:154 checks only the upper bound of the hour, minute
 * and second; "%2d" also reads "-1", so a negative field is accepted and
 * moves the time back (here to 07:59:37). Check h < 0 || mi < 0 ||
 * sec < 0 as well. */
static void
fhir_time__http_date_parse_rejects_negative_fields(void **state)
{
    (void)state;
    assert_http_date_rejected("Sun, 06 Nov 1994 -1:49:37 GMT");
    assert_http_date_rejected("Sun, 06 Nov 1994 08:-1:37 GMT");
    assert_http_date_rejected("Sun, 06 Nov 1994 08:49:-1 GMT");
}

/* BUG: fhir/time.c:132-148: "%n" records where the match ended but the
 * rest of the string is never checked, so text after the date (after
 * "GMT", or after the asctime year) is accepted. Require s[n] == '\0'. */
static void
fhir_time__http_date_parse_rejects_trailing_text(void **state)
{
    (void)state;
    assert_http_date_rejected("Sun, 06 Nov 1994 08:49:37 GMTjunk");
    assert_http_date_rejected("Sun Nov  6 08:49:37 19945");
}

static void
fhir_time__http_date_parse_leap_day(void **state)
{
    (void)state;
    assert_http_date("Thu, 29 Feb 2024 13:05:09 GMT",
                     utc_us(2024, 2, 29, 13, 5, 9));
}

/* ---- FHIR dates ----------------------------------------------------- */

static void
fhir_time__date_year_range(void **state)
{
    (void)state;
    assert_date("2024", utc_us(2024, 1, 1, 0, 0, 0),
                utc_us(2025, 1, 1, 0, 0, 0), 1);
    assert_date("1969", utc_us(1969, 1, 1, 0, 0, 0), 0, 1);
    assert_date("0001", utc_us(1, 1, 1, 0, 0, 0), utc_us(2, 1, 1, 0, 0, 0), 1);
}

static void
fhir_time__date_month_range(void **state)
{
    (void)state;
    assert_date("2024-03", utc_us(2024, 3, 1, 0, 0, 0),
                utc_us(2024, 4, 1, 0, 0, 0), 2);
    assert_date("2024-12", utc_us(2024, 12, 1, 0, 0, 0),
                utc_us(2025, 1, 1, 0, 0, 0), 2);
    assert_date("2024-02", utc_us(2024, 2, 1, 0, 0, 0),
                utc_us(2024, 3, 1, 0, 0, 0), 2);
    /* 29 days in a leap year, 28 otherwise. */
    assert_date("2024-02", utc_us(2024, 3, 1, 0, 0, 0) - 29 * 86400 * US,
                utc_us(2024, 3, 1, 0, 0, 0), 2);
    assert_date("2023-02", utc_us(2023, 3, 1, 0, 0, 0) - 28 * 86400 * US,
                utc_us(2023, 3, 1, 0, 0, 0), 2);
}

static void
fhir_time__date_day_range(void **state)
{
    (void)state;
    assert_date("2024-03-15", utc_us(2024, 3, 15, 0, 0, 0),
                utc_us(2024, 3, 16, 0, 0, 0), 3);
    assert_date("2024-02-29", utc_us(2024, 2, 29, 0, 0, 0),
                utc_us(2024, 3, 1, 0, 0, 0), 3);
    assert_date("2000-02-29", utc_us(2000, 2, 29, 0, 0, 0),
                utc_us(2000, 3, 1, 0, 0, 0), 3);
    assert_date("2024-12-31", utc_us(2024, 12, 31, 0, 0, 0),
                utc_us(2025, 1, 1, 0, 0, 0), 3);
}

static void
fhir_time__date_minute_range(void **state)
{
    (void)state;
    assert_date("2024-03-15T10:30", utc_us(2024, 3, 15, 10, 30, 0),
                utc_us(2024, 3, 15, 10, 31, 0), 4);
    assert_date("2024-03-15T10:30Z", utc_us(2024, 3, 15, 10, 30, 0),
                utc_us(2024, 3, 15, 10, 31, 0), 4);
}

static void
fhir_time__date_second_range(void **state)
{
    (void)state;
    assert_date("2024-03-15T10:30:05", utc_us(2024, 3, 15, 10, 30, 5),
                utc_us(2024, 3, 15, 10, 30, 6), 5);
    assert_date("2024-03-15T23:59:59Z", utc_us(2024, 3, 15, 23, 59, 59),
                utc_us(2024, 3, 16, 0, 0, 0), 5);
}

static void
fhir_time__date_fraction_range(void **state)
{
    int64_t base = utc_us(2024, 3, 15, 10, 30, 5);

    (void)state;
    assert_date("2024-03-15T10:30:05.5Z", base + 500000, base + 500000 + 100000,
                6);
    assert_date("2024-03-15T10:30:05.50Z", base + 500000, base + 500000 + 10000,
                6);
    assert_date("2024-03-15T10:30:05.123Z", base + 123000, base + 124000, 6);
    assert_date("2024-03-15T10:30:05.123456Z", base + 123456, base + 123457, 6);
    /* Digits past microseconds are dropped; the span stays one us. */
    assert_date("2024-03-15T10:30:05.123456789Z", base + 123456, base + 123457,
                6);
    assert_date("2024-03-15T10:30:05.000000Z", base, base + 1, 6);
}

static void
fhir_time__date_zones(void **state)
{
    (void)state;
    assert_date("2024-03-15T10:30:00+05:00", utc_us(2024, 3, 15, 5, 30, 0),
                utc_us(2024, 3, 15, 5, 30, 1), 5);
    assert_date("2024-03-15T10:30+05:00", utc_us(2024, 3, 15, 5, 30, 0),
                utc_us(2024, 3, 15, 5, 31, 0), 4);
    assert_date("2024-03-15T10:30:00-05:30", utc_us(2024, 3, 15, 16, 0, 0),
                utc_us(2024, 3, 15, 16, 0, 1), 5);
    assert_date("2024-03-15T10:30:00Z", utc_us(2024, 3, 15, 10, 30, 0),
                utc_us(2024, 3, 15, 10, 30, 1), 5);
    assert_date("2024-03-15T10:30:00+00:00", utc_us(2024, 3, 15, 10, 30, 0),
                utc_us(2024, 3, 15, 10, 30, 1), 5);
    /* The zone may move the instant into another day. */
    assert_date("2024-01-01T00:30:00+01:00", utc_us(2023, 12, 31, 23, 30, 0),
                utc_us(2023, 12, 31, 23, 30, 1), 5);
}

static void
fhir_time__date_zones_at_the_limits(void **state)
{
    (void)state;
    /* The R4 regex allows (0[0-9]|1[0-3]):[0-5][0-9]|14:00 either way. */
    assert_date("2024-03-15T12:00:00+14:00", utc_us(2024, 3, 14, 22, 0, 0),
                utc_us(2024, 3, 14, 22, 0, 1), 5);
    assert_date("2024-03-15T12:00:00-14:00", utc_us(2024, 3, 16, 2, 0, 0),
                utc_us(2024, 3, 16, 2, 0, 1), 5);
    assert_date("2024-03-15T12:00:00+13:59", utc_us(2024, 3, 14, 22, 1, 0),
                utc_us(2024, 3, 14, 22, 1, 1), 5);
    assert_date_rejected("2024-03-15T12:00:00+15:00");
    assert_date_rejected("2024-03-15T12:00:00+05:60");
}

/* BUG: fhir/time.c:249-256 accepts any minutes with hour 14, but the R4
 * regex only allows "14:00" (zones run from -14:00 to +14:00). Reject
 * zh == 14 && zm != 0. */
static void
fhir_time__date_zone_past_14_00_rejected(void **state)
{
    (void)state;
    assert_date_rejected("2024-03-15T12:00:00+14:30");
    assert_date_rejected("2024-03-15T12:00:00-14:01");
}

static void
fhir_time__date_leap_second(void **state)
{
    (void)state;
    /* :60 is in the R4 regex; it denotes the second after :59. */
    assert_date("2016-12-31T23:59:60Z", utc_us(2017, 1, 1, 0, 0, 0),
                utc_us(2017, 1, 1, 0, 0, 1), 5);
}

static void
fhir_time__date_invalid_inputs(void **state)
{
    static const char *const bad[] = {
        "",
        "24",
        "202",
        "20244",
        "0000",
        "2024-",
        "2024-13",
        "2024-00",
        "2024-1",
        "2024-1-01",
        "2024-02-30",
        "2023-02-29",
        "2024-04-31",
        "2024-01-00",
        "2024-01-32",
        "2024-01-1",
        "2024-01-01T",
        "2024-01-01T10",
        "2024-01-01T10:",
        "2024-01-01T1:00",
        "2024-01-01T25:00",
        "2024-01-01T24:00",
        "2024-01-01T10:60",
        "2024-01-01T10:00:61",
        "2024-01-01T10:00:0",
        "2024-01-01T10:00:00.",
        "2024-01-01T10:00:00.Z",
        "2024-01-01T10:00:00+05",
        "2024-01-01T10:00:00+5:00",
        "2024-01-01T10:00:00+05:0",
        "2024-01-01T10:00:00z",
        "2024-01-01T10:00:00ZZ",
        "2024-01-01T10:00:00Z ",
        "2024-01-01 10:00:00",
        "2024-01-01x",
        "2024x",
        " 2024",
        "-2024",
        "2024/01/01",
        "2024-01-01T10:00:00+05:00junk",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_date_rejected(bad[i]);
    }
}

static void
fhir_time__date_parse_keeps_first_error(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    fhir_date_range r;

    (void)state;
    (void)fhir_err_set(&err, FHIR_ISSUE_TOO_LONG, "earlier");
    assert_int_equal(fhir_date_parse(&r, "nope", &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_TOO_LONG);
    assert_string_equal(err.diag, "earlier");
}

/* ---- OperationOutcome ----------------------------------------------- */

static void
fhir_oo__new_full_issue(void **state)
{
    cJSON *oo = fhir_oo_new("error", FHIR_ISSUE_NOT_FOUND,
                            "Task/x is not known", "Task.id");

    (void)state;
    assert_json(oo, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{"
                    "\"severity\":\"error\",\"code\":\"not-found\","
                    "\"diagnostics\":\"Task/x is not known\","
                    "\"expression\":[\"Task.id\"]}]}");
    cJSON_Delete(oo);
}

static void
fhir_oo__new_without_diag_or_expr(void **state)
{
    cJSON *oo = fhir_oo_new("warning", FHIR_ISSUE_INFORMATIONAL, NULL, NULL);
    cJSON *oo2 = fhir_oo_new("fatal", FHIR_ISSUE_EXCEPTION, "", "");

    (void)state;
    assert_json(oo, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{"
                    "\"severity\":\"warning\",\"code\":\"informational\"}]}");
    assert_json(oo2, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{"
                     "\"severity\":\"fatal\",\"code\":\"exception\"}]}");
    cJSON_Delete(oo);
    cJSON_Delete(oo2);
}

static void
fhir_oo__add_appends_issue(void **state)
{
    cJSON *oo = fhir_oo_new("error", FHIR_ISSUE_REQUIRED, "a", NULL);

    (void)state;
    fhir_oo_add(oo, "warning", FHIR_ISSUE_VALUE, "b", "Task.code");
    assert_json(oo, "{\"resourceType\":\"OperationOutcome\",\"issue\":["
                    "{\"severity\":\"error\",\"code\":\"required\","
                    "\"diagnostics\":\"a\"},"
                    "{\"severity\":\"warning\",\"code\":\"value\","
                    "\"diagnostics\":\"b\",\"expression\":[\"Task.code\"]}]}");
    cJSON_Delete(oo);
}

static void
fhir_oo__add_to_object_without_issue(void **state)
{
    cJSON *oo = cJSON_CreateObject();

    (void)state;
    fhir_oo_add(oo, "information", FHIR_ISSUE_INFORMATIONAL, "ok", NULL);
    assert_json(oo, "{\"issue\":[{\"severity\":\"information\","
                    "\"code\":\"informational\",\"diagnostics\":\"ok\"}]}");
    cJSON_Delete(oo);
}

static void
fhir_oo__from_err(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *oo;

    (void)state;
    (void)fhir_err_set_at(&err, FHIR_ISSUE_CONFLICT, "Task.meta.versionId",
                          "Version conflict \"x\"");
    oo = fhir_oo_from_err(&err);
    assert_json(oo, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{"
                    "\"severity\":\"error\",\"code\":\"conflict\","
                    "\"diagnostics\":\"Version conflict \\\"x\\\"\","
                    "\"expression\":[\"Task.meta.versionId\"]}]}");
    cJSON_Delete(oo);
}

static void
fhir_oo__from_empty_err_is_exception(void **state)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *oo = fhir_oo_from_err(&err);

    (void)state;
    assert_json(oo, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{"
                    "\"severity\":\"error\",\"code\":\"exception\"}]}");
    cJSON_Delete(oo);
}

/* ---- Bundle --------------------------------------------------------- */

static void
fhir_bundle__new_has_type_id_and_meta(void **state)
{
    int64_t before = fhir_now_us();
    cJSON *b = fhir_bundle_new("history");
    int64_t after = fhir_now_us();
    cJSON *c2 = fhir_bundle_new("searchset");
    const cJSON *child;
    const cJSON *meta;
    fhir_date_range r;
    fhir_err err = FHIR_ERR_INIT;

    (void)state;
    child = b->child;
    assert_string_equal(child->string, "resourceType");
    assert_string_equal(child->valuestring, "Bundle");
    child = child->next;
    assert_string_equal(child->string, "id");
    assert_uuid_v7(child->valuestring);
    child = child->next;
    assert_string_equal(child->string, "meta");
    child = child->next;
    assert_string_equal(child->string, "type");
    assert_string_equal(child->valuestring, "history");
    assert_null(child->next);

    meta = cJSON_GetObjectItemCaseSensitive(b, "meta");
    assert_true(cJSON_IsObject(meta));
    assert_int_equal(
        fhir_date_parse(&r, fhir_json_str(meta, "lastUpdated"), &err), 0);
    assert_int_equal(r.precision, 6);
    assert_true(r.lo >= before && r.lo <= after);

    assert_string_equal(fhir_json_str(c2, "type"), "searchset");
    assert_string_not_equal(fhir_json_str(b, "id"), fhir_json_str(c2, "id"));
    cJSON_Delete(b);
    cJSON_Delete(c2);
}

static void
fhir_bundle__add_link_and_entry(void **state)
{
    cJSON *b = fhir_bundle_new("searchset");
    cJSON *e1;
    cJSON *e2;
    const cJSON *links;
    const cJSON *entries;

    (void)state;
    fhir_bundle_add_link(b, "self", "http://x/Task?_count=1");
    fhir_bundle_add_link(b, "next", "http://x/Task?_count=1&page=2");
    e1 = fhir_bundle_add_entry(b);
    e2 = fhir_bundle_add_entry(b);
    assert_true(cJSON_IsObject(e1));
    assert_null(e1->child);
    cJSON_AddStringToObject(e1, "fullUrl", "http://x/Task/1");
    cJSON_AddStringToObject(e2, "fullUrl", "http://x/Task/2");

    links = cJSON_GetObjectItemCaseSensitive(b, "link");
    assert_int_equal(cJSON_GetArraySize(links), 2);
    assert_json(links, "[{\"relation\":\"self\","
                       "\"url\":\"http://x/Task?_count=1\"},"
                       "{\"relation\":\"next\","
                       "\"url\":\"http://x/Task?_count=1&page=2\"}]");
    entries = cJSON_GetObjectItemCaseSensitive(b, "entry");
    assert_int_equal(cJSON_GetArraySize(entries), 2);
    assert_ptr_equal(cJSON_GetArrayItem(entries, 0), e1);
    assert_ptr_equal(cJSON_GetArrayItem(entries, 1), e2);
    assert_json(entries, "[{\"fullUrl\":\"http://x/Task/1\"},"
                         "{\"fullUrl\":\"http://x/Task/2\"}]");
    cJSON_Delete(b);
}

/* ---- fhir_resource_stamp -------------------------------------------- */

static void
assert_stamped(const char *in, const char *id, int64_t version, int64_t us,
               const char *want)
{
    cJSON *res = parse(in);

    fhir_resource_stamp(res, id, version, us);
    assert_json(res, want);
    cJSON_Delete(res);
}

static void
fhir_stamp__puts_type_id_meta_first(void **state)
{
    (void)state;
    assert_stamped("{\"status\":\"requested\",\"intent\":\"order\","
                   "\"resourceType\":\"Task\"}",
                   "t1", 1, 0,
                   "{\"resourceType\":\"Task\",\"id\":\"t1\",\"meta\":{"
                   "\"versionId\":\"1\",\"lastUpdated\":"
                   "\"1970-01-01T00:00:00.000000Z\"},"
                   "\"status\":\"requested\",\"intent\":\"order\"}");
}

static void
fhir_stamp__replaces_client_id_and_versions(void **state)
{
    (void)state;
    assert_stamped(
        "{\"intent\":\"order\",\"meta\":{\"lastUpdated\":\"2000-01-01\","
        "\"profile\":[\"http://p\"],\"versionId\":\"99\","
        "\"tag\":[{\"code\":\"t\"}]},\"id\":\"client\","
        "\"resourceType\":\"Task\"}",
        "server-id", 12, 784111777 * US + 5,
        "{\"resourceType\":\"Task\",\"id\":\"server-id\",\"meta\":{"
        "\"versionId\":\"12\",\"lastUpdated\":"
        "\"1994-11-06T08:49:37.000005Z\","
        "\"profile\":[\"http://p\"],\"tag\":[{\"code\":\"t\"}]},"
        "\"intent\":\"order\"}");
}

static void
fhir_stamp__meta_not_an_object_is_replaced(void **state)
{
    (void)state;
    assert_stamped("{\"resourceType\":\"Task\",\"meta\":\"oops\","
                   "\"status\":\"draft\"}",
                   "a", 2, 0,
                   "{\"resourceType\":\"Task\",\"id\":\"a\",\"meta\":{"
                   "\"versionId\":\"2\",\"lastUpdated\":"
                   "\"1970-01-01T00:00:00.000000Z\"},\"status\":\"draft\"}");
    assert_stamped("{\"meta\":[1,2],\"resourceType\":\"Task\"}", "a", 3, 0,
                   "{\"resourceType\":\"Task\",\"id\":\"a\",\"meta\":{"
                   "\"versionId\":\"3\",\"lastUpdated\":"
                   "\"1970-01-01T00:00:00.000000Z\"}}");
}

static void
fhir_stamp__without_meta_or_id(void **state)
{
    cJSON *res = cJSON_CreateObject();

    (void)state;
    cJSON_AddStringToObject(res, "resourceType", "Patient");
    fhir_resource_stamp(res, "p", 1, 0);
    assert_json(res, "{\"resourceType\":\"Patient\",\"id\":\"p\",\"meta\":{"
                     "\"versionId\":\"1\",\"lastUpdated\":"
                     "\"1970-01-01T00:00:00.000000Z\"}}");
    cJSON_Delete(res);
}

static void
fhir_stamp__non_string_id_is_replaced(void **state)
{
    (void)state;
    assert_stamped("{\"id\":5,\"resourceType\":\"Task\"}", "x", 1, 0,
                   "{\"resourceType\":\"Task\",\"id\":\"x\",\"meta\":{"
                   "\"versionId\":\"1\",\"lastUpdated\":"
                   "\"1970-01-01T00:00:00.000000Z\"}}");
}

static void
fhir_stamp__without_resource_type(void **state)
{
    cJSON *res = cJSON_CreateObject();

    (void)state;
    fhir_resource_stamp(res, "z", 7, 0);
    assert_json(res, "{\"id\":\"z\",\"meta\":{\"versionId\":\"7\","
                     "\"lastUpdated\":\"1970-01-01T00:00:00.000000Z\"}}");
    cJSON_Delete(res);
}

static void
fhir_stamp__twice_keeps_one_of_each(void **state)
{
    cJSON *res = parse("{\"resourceType\":\"Task\",\"status\":\"draft\"}");

    (void)state;
    fhir_resource_stamp(res, "a", 1, 0);
    fhir_resource_stamp(res, "a", 2, 1);
    assert_json(res, "{\"resourceType\":\"Task\",\"id\":\"a\",\"meta\":{"
                     "\"versionId\":\"2\",\"lastUpdated\":"
                     "\"1970-01-01T00:00:00.000001Z\"},\"status\":\"draft\"}");
    /* The list links are consistent both ways after the moves. */
    assert_int_equal(cJSON_GetArraySize(res), 4);
    cJSON_AddStringToObject(res, "intent", "order");
    assert_string_equal(fhir_json_str(res, "intent"), "order");
    cJSON_Delete(res);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fhir_err__set_records_issue_status_and_diag),
        cmocka_unit_test(fhir_err__first_error_wins),
        cmocka_unit_test(fhir_err__set_at_records_expression),
        cmocka_unit_test(fhir_err__clear_allows_a_new_error),
        cmocka_unit_test(fhir_err__null_err_is_ignored),
        cmocka_unit_test(fhir_err__long_diag_is_truncated),
        cmocka_unit_test(fhir_err__status_table),
        cmocka_unit_test(fhir_err__every_issue_has_a_code_and_status),
        cmocka_unit_test(fhir_err__out_of_range_issue_is_exception),
        cmocka_unit_test(fhir_arena__many_allocations_do_not_overlap),
        cmocka_unit_test(fhir_arena__debug_mode_allocations_do_not_overlap),
        cmocka_unit_test(fhir_arena__large_block_keeps_chunk_usable),
        cmocka_unit_test(fhir_arena__grow_keeps_items),
        cmocka_unit_test(fhir_arena__path_joins_with_a_slash),
        cmocka_unit_test(fhir_utf8__cut_drops_a_partial_sequence),
        cmocka_unit_test(fhir_arena__zero_size_allocations_are_distinct),
        cmocka_unit_test(fhir_arena__strdup_and_strndup_copy),
        cmocka_unit_test(fhir_arena__printf_formats),
        cmocka_unit_test(fhir_arena__defer_runs_last_registered_first),
        cmocka_unit_test(fhir_arena__free_accepts_null),
        cmocka_unit_test(fhir_buf__append_puts_putc),
        cmocka_unit_test(fhir_buf__append_keeps_embedded_nul),
        cmocka_unit_test(fhir_buf__grows_past_initial_capacity),
        cmocka_unit_test(fhir_buf__printf_appends),
        cmocka_unit_test(fhir_buf__take_hands_over_and_empties),
        cmocka_unit_test(fhir_buf__take_of_empty_buffer_is_empty_string),
        cmocka_unit_test(fhir_buf__clear_resets),
        cmocka_unit_test(fhir_type__find_name_count),
        cmocka_unit_test(fhir_type__unknown_names),
        cmocka_unit_test(fhir_id__valid),
        cmocka_unit_test(fhir_id__new_is_uuid_v7_in_order),
        cmocka_unit_test(fhir_time__now_is_close_to_time),
        cmocka_unit_test(fhir_time__instant_format_epoch),
        cmocka_unit_test(fhir_time__instant_format_known_value),
        cmocka_unit_test(fhir_time__instant_format_negative),
        cmocka_unit_test(fhir_time__http_date_format),
        cmocka_unit_test(fhir_time__http_date_round_trip),
        cmocka_unit_test(fhir_time__http_date_parse_three_forms),
        cmocka_unit_test(fhir_time__http_date_parse_rfc850_century),
        cmocka_unit_test(fhir_time__http_date_parse_rejects_garbage),
        cmocka_unit_test(fhir_time__http_date_parse_rejects_negative_fields),
        cmocka_unit_test(fhir_time__http_date_parse_rejects_trailing_text),
        cmocka_unit_test(fhir_time__http_date_parse_leap_day),
        cmocka_unit_test(fhir_time__date_year_range),
        cmocka_unit_test(fhir_time__date_month_range),
        cmocka_unit_test(fhir_time__date_day_range),
        cmocka_unit_test(fhir_time__date_minute_range),
        cmocka_unit_test(fhir_time__date_second_range),
        cmocka_unit_test(fhir_time__date_fraction_range),
        cmocka_unit_test(fhir_time__date_zones),
        cmocka_unit_test(fhir_time__date_zones_at_the_limits),
        cmocka_unit_test(fhir_time__date_zone_past_14_00_rejected),
        cmocka_unit_test(fhir_time__date_leap_second),
        cmocka_unit_test(fhir_time__date_invalid_inputs),
        cmocka_unit_test(fhir_time__date_parse_keeps_first_error),
        cmocka_unit_test(fhir_oo__new_full_issue),
        cmocka_unit_test(fhir_oo__new_without_diag_or_expr),
        cmocka_unit_test(fhir_oo__add_appends_issue),
        cmocka_unit_test(fhir_oo__add_to_object_without_issue),
        cmocka_unit_test(fhir_oo__from_err),
        cmocka_unit_test(fhir_oo__from_empty_err_is_exception),
        cmocka_unit_test(fhir_bundle__new_has_type_id_and_meta),
        cmocka_unit_test(fhir_bundle__add_link_and_entry),
        cmocka_unit_test(fhir_stamp__puts_type_id_meta_first),
        cmocka_unit_test(fhir_stamp__replaces_client_id_and_versions),
        cmocka_unit_test(fhir_stamp__meta_not_an_object_is_replaced),
        cmocka_unit_test(fhir_stamp__without_meta_or_id),
        cmocka_unit_test(fhir_stamp__non_string_id_is_replaced),
        cmocka_unit_test(fhir_stamp__without_resource_type),
        cmocka_unit_test(fhir_stamp__twice_keeps_one_of_each),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
