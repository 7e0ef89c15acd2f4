/* tests/unit/test_search_plan.c - search plans: from query parameters to
 * conditions, from conditions to SQL, and the in-memory judge that must
 * agree with that SQL.
 *
 * Parsing cases check each rejected search's issue code and expression,
 * the warnings of lenient handling and the value escapes. SQL safety runs
 * hostile values through every kind of condition and requires the SQL
 * text to be the very text a harmless value gives: request bytes only
 * ever travel as bound values. The differential part writes a generated
 * corpus of the four served types (with updates and deletes) to a temp
 * store and, for each query of a table, compares what the page SQL finds
 * with what search_plan_match() accepts on each resource's index rows,
 * then the order and sort keys, cursor paging, the estimates and the
 * counts known without counting. A disagreement prints the query and
 * the difference. The registry, store and corpus are the group fixture.
 */
#include "search/search.h"
#include "search/search_int.h"
#include "store/store.h"
#include "server/server_int.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BASE "http://example.org/fhir"

static search_registry *reg;
static store_env *env;
static store_db *db;
static char tmpdir[64], dbpath[128];

/* Task priority ranks for _sort (R4 request-priority order). */
static const char *const priority_order[] = {"routine", "urgent", "asap",
                                             "stat"};

/* One live resource of the corpus, as stored. */
struct res {
    int64_t rid;
    int type;
    const char *id;
    int64_t hid;
    fhir_rows rows;
};

static fhir_arena *corpus_arena;
static struct res *corpus;
static size_t ncorpus;
static int64_t hid_first, hid_mid; /* for _lastUpdated queries */

static const char *
root(void)
{
    const char *r = getenv("FHIR_TEST_ROOT");
    return r ? r : ".";
}

/* ---- helpers -------------------------------------------------------- */

/* Percent-encodes every byte but unreserved ones (RFC 3986). */
static char *
pct(fhir_arena *a, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = fhir_arena_alloc(a, 3 * n + 1), *w = out;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            *w++ = (char)*p;
        } else {
            *w++ = '%';
            *w++ = hex[*p >> 4];
            *w++ = hex[*p & 15];
        }
    }
    *w = '\0';
    return out;
}

/* Adds the search escapes (R4 search.html#escaping) to a value. */
static char *
esc(fhir_arena *a, const char *s)
{
    char *out = fhir_arena_alloc(a, 2 * strlen(s) + 1), *w = out;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\\' || *p == ',' || *p == '|' || *p == '$') {
            *w++ = '\\';
        }
        *w++ = *p;
    }
    *w = '\0';
    return out;
}

/* Lower-case hex of the bytes of s (a _cursor text key). */
static char *
hexs(fhir_arena *a, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    char *out = fhir_arena_alloc(a, 2 * strlen(s) + 1), *w = out;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        *w++ = hex[*p >> 4];
        *w++ = hex[*p & 15];
    }
    *w = '\0';
    return out;
}

/* Replaces @FIRST@ and @MID@ by instants of the corpus's writes. */
static const char *
expand(fhir_arena *a, const char *qs)
{
    fhir_buf b = FHIR_BUF_INIT;
    char t[48];
    for (const char *p = qs; *p != '\0';) {
        if (strncmp(p, "@MID@", 5) == 0 || strncmp(p, "@FIRST@", 7) == 0) {
            int mid = p[1] == 'M';
            fhir_instant_format(t, sizeof(t), mid ? hid_mid : hid_first);
            fhir_buf_puts(&b, t);
            p += mid ? 5 : 7;
        } else {
            fhir_buf_putc(&b, *p++);
        }
    }
    const char *out = fhir_arena_strdup(a, b.data ? b.data : "");
    fhir_buf_clear(&b);
    return out;
}

/* Parses `qs` and plans a search of `types` ("Task", or a comma-separated
 * list for a system search). */
static int
plan_make(search_plan **out, fhir_arena *a, const char *types, const char *qs,
          int strict, fhir_err *err)
{
    search_query q = {NULL, 0};
    search_opts so;
    memset(&so, 0, sizeof(so));
    for (const char *t = types; t != NULL;) {
        const char *comma = strchr(t, ',');
        char name[32];
        size_t n = comma ? (size_t)(comma - t) : strlen(t);
        assert_true(n < sizeof(name));
        memcpy(name, t, n);
        name[n] = '\0';
        int type = fhir_type_find(name);
        assert_true(type >= 0);
        so.types[so.ntypes] = type;
        so.type_codes[so.ntypes] = store_type_code(env, type);
        so.ntypes++;
        t = comma ? comma + 1 : NULL;
    }
    so.base = BASE;
    so.default_count = 20;
    so.max_count = 5000;
    so.strict = strict;
    if (search_query_parse(&q, a, qs, strlen(qs), err) != 0) {
        return -1;
    }
    return search_plan_new(out, reg, &q, &so, a, err);
}

static search_plan *
plan_ok(fhir_arena *a, const char *types, const char *qs)
{
    search_plan *p = NULL;
    fhir_err err = FHIR_ERR_INIT;
    if (plan_make(&p, a, types, qs, 0, &err) != 0) {
        fail_msg("%s?%s rejected: %s", types, qs, err.diag);
    }
    assert_non_null(p);
    return p;
}

/* Prints a report line by line (print_message() has a small buffer). */
static void
print_report(const fhir_buf *b)
{
    for (const char *p = b->data; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        print_message("%.*s\n", n, p);
        p = nl ? nl + 1 : p + n;
    }
}

static int
first_int(void *ctx, const store_row *row)
{
    *(int64_t *)ctx = store_row_int(row, 0);
    return 1;
}

/* Runs SQL returning one integer. */
static int64_t
sql_int(const fhir_sql *q)
{
    fhir_err err = FHIR_ERR_INIT;
    int64_t n = -1;
    if (store_query(db, q, first_int, &n, &err) != 0) {
        fail_msg("SQL failed: %s\n%s", err.diag, q->text.data);
    }
    return n;
}

/* What the server asks before the page: the type's size, the snapshot
 * and (when `estimates`) each condition's selectivity. */
/* 1: prepare() also lets the hot index choose the page (as the server
 * does); the searches then run both ways. */
static int use_hot;
static size_t hot_runs, hot_used, hot_all;

static void
prepare(search_plan *p, int estimates)
{
    fhir_sql q = FHIR_SQL_INIT;
    fhir_err err = FHIR_ERR_INIT;
    search_plan_type_count_sql(p, &q);
    search_plan_set_type_count(p, sql_int(&q));
    fhir_sql_clear(&q);
    search_plan_snapshot_sql(p, &q);
    search_plan_set_snapshot(p, sql_int(&q));
    fhir_sql_clear(&q);
    for (size_t i = 0; estimates && i < search_plan_nconds(p); i++) {
        if (search_plan_estimate_sql(p, i, &q)) {
            search_plan_set_estimate(p, i, sql_int(&q));
        }
        fhir_sql_clear(&q);
    }
    if (use_hot) {
        srv__hot_min_set = -1; /* the sets answer even the smallest */
        assert_int_equal(srv__hot_choose(env, NULL, p, &err), 0);
        hot_runs++;
        hot_used += p->hot_used;
        hot_all += p->hot_count >= 0; /* judged everything itself */
    }
}

/* ---- parsing -------------------------------------------------------- */

static const struct {
    const char *types, *qs;
    int strict;
    fhir_issue issue;
    const char *expr; /* err.expr */
    const char *diag; /* a piece of err.diag */
} bad_searches[] = {
    {"Task", "authored-on=not-a-date", 0, FHIR_ISSUE_INVALID, "authored-on",
     "known prefix"},
    {"Task", "authored-on=2024-03-1x", 0, FHIR_ISSUE_INVALID, "authored-on",
     "not a valid date"},
    {"Task", "authored-on=2024-13-01", 0, FHIR_ISSUE_INVALID, "authored-on",
     "not a valid date"},
    {"Task", "authored-on=2024-03-15T25:00:00Z", 0, FHIR_ISSUE_INVALID,
     "authored-on", "not a valid date"},
    {"Task", "authored-on=ge", 0, FHIR_ISSUE_INVALID, "authored-on",
     "not a valid date"},
    {"Task", "authored-on=xx2024", 0, FHIR_ISSUE_INVALID, "authored-on",
     "known prefix"},
    {"Task", "authored-on=2024,zz2025", 0, FHIR_ISSUE_INVALID, "authored-on",
     "known prefix"},
    {"Task", "_lastUpdated=yy2024", 0, FHIR_ISSUE_INVALID, "_lastUpdated",
     "known prefix"},
    {"Task", "status:foo=ready", 0, FHIR_ISSUE_INVALID, "status:foo",
     "unknown modifier ':foo'"},
    {"Task", "owner:foo=p1", 0, FHIR_ISSUE_INVALID, "owner:foo",
     "unknown modifier"},
    {"Task", "status:exact=ready", 0, FHIR_ISSUE_INVALID, "status:exact",
     "does not apply"},
    {"Task", "status:contains=re", 0, FHIR_ISSUE_INVALID, "status:contains",
     "does not apply"},
    {"Task", "owner:text=x", 0, FHIR_ISSUE_INVALID, "owner:text",
     "does not apply"},
    {"Patient", "family:not=x", 0, FHIR_ISSUE_INVALID, "family:not",
     "does not apply"},
    {"Patient", "birthdate:exact=2000", 0, FHIR_ISSUE_INVALID,
     "birthdate:exact", "does not apply"},
    {"Task", "_id:exact=x", 0, FHIR_ISSUE_INVALID, "_id:exact",
     "does not apply"},
    {"Task", "_id:text=x", 0, FHIR_ISSUE_INVALID, "_id:text", "does not apply"},
    {"Task", "_lastUpdated:missing=true", 0, FHIR_ISSUE_INVALID,
     "_lastUpdated:missing", "always present"},
    {"Task", "status:missing=maybe", 0, FHIR_ISSUE_INVALID, "status:missing",
     "not true or false"},
    {"Task", "status=", 0, FHIR_ISSUE_INVALID, "status", "empty"},
    {"Task", "status=ready,,done", 0, FHIR_ISSUE_INVALID, "status", "empty"},
    {"Task", "code=|", 0, FHIR_ISSUE_INVALID, "code", "not a token"},
    {"Task", "code=a|b|c", 0, FHIR_ISSUE_INVALID, "code", "not a token"},
    {"Task", "identifier:of-type=sys|PLAC", 0, FHIR_ISSUE_INVALID,
     "identifier:of-type", "not system|code|value"},
    {"Task", "identifier:of-type=sys||v", 0, FHIR_ISSUE_INVALID,
     "identifier:of-type", "not system|code|value"},
    {"Task", "owner=not%20a%20ref!", 0, FHIR_ISSUE_INVALID, "owner",
     "not a reference"},
    {"Task", "owner:Practitioner=Patient/p1", 0, FHIR_ISSUE_INVALID,
     "owner:Practitioner", "not a reference"},
    {"Task", "owner:identifier=http://npi|", 0, FHIR_ISSUE_INVALID,
     "owner:identifier", "not an identifier"},
    {"Patient", "family=%20%20", 0, FHIR_ISSUE_INVALID, "family", "empty"},
    {"Task", "_sort=nonsense", 0, FHIR_ISSUE_INVALID, "_sort", "nonsense"},
    {"Task", "_sort=status,-nonsense", 0, FHIR_ISSUE_INVALID, "_sort",
     "nonsense"},
    {"Task", "_sort=_text", 0, FHIR_ISSUE_INVALID, "_sort", "_text"},
    {"Task", "_sort=status&_sort=priority", 0, FHIR_ISSUE_INVALID, "_sort",
     "once"},
    {"Task", "_count=-1", 0, FHIR_ISSUE_INVALID, "_count",
     "not a non-negative integer"},
    {"Task", "_count=ten", 0, FHIR_ISSUE_INVALID, "_count",
     "not a non-negative integer"},
    {"Task", "_count=", 0, FHIR_ISSUE_INVALID, "_count",
     "not a non-negative integer"},
    {"Task", "_count=99999999999999999999", 0, FHIR_ISSUE_INVALID, "_count",
     "not a non-negative integer"},
    {"Task", "_total=maybe", 0, FHIR_ISSUE_INVALID, "_total",
     "none, estimate or accurate"},
    {"Task", "_summary=maybe", 0, FHIR_ISSUE_INVALID, "_summary",
     "true, false, count, data or text"},
    {"Task", "_cursor=garbage", 0, FHIR_ISSUE_INVALID, "_cursor", "cursor"},
    {"Task", "_cursor=12.s0", 0, FHIR_ISSUE_INVALID, "_cursor", "cursor"},
    {"Task", "_cursor=12.5", 0, FHIR_ISSUE_INVALID, "_cursor", "cursor"},
    {"Task", "_cursor=-1.s5", 0, FHIR_ISSUE_INVALID, "_cursor", "cursor"},
    {"Task", "_cursor=12x.s5", 0, FHIR_ISSUE_INVALID, "_cursor", "cursor"},
    {"Task", "_sort=status&_cursor=12.s5", 0, FHIR_ISSUE_INVALID, "_cursor",
     "cursor"},
    {"Task", "_sort=status&_cursor=i0.tzz.1.s5", 0, FHIR_ISSUE_INVALID,
     "_cursor", "cursor"},
    {"Task", "_sort=status&_cursor=i0.t616.1.s5", 0, FHIR_ISSUE_INVALID,
     "_cursor", "cursor"},
    {"Task", "_sort=status&_cursor=i.t61.1.s5", 0, FHIR_ISSUE_INVALID,
     "_cursor", "cursor"},
    {"Task", "_sort=status&_cursor=x0.t61.1.s5", 0, FHIR_ISSUE_INVALID,
     "_cursor", "cursor"},
    {"Task", "nonsense=1", 1, FHIR_ISSUE_NOT_SUPPORTED, "nonsense",
     "not defined for Task"},
    {"Task", "_text=x", 1, FHIR_ISSUE_NOT_SUPPORTED, "_text",
     "no FHIRPath expression"},
    {"Task", "_include=Task:owner", 1, FHIR_ISSUE_NOT_SUPPORTED, "_include",
     "not supported"},
    /* chaining (R4 search.html#chaining) */
    {"Task", "status.name=x", 0, FHIR_ISSUE_INVALID, "status.name",
     "not a reference parameter"},
    {"Task", "part-of.status.name=x", 0, FHIR_ISSUE_INVALID,
     "part-of.status.name", "not a reference parameter"},
    {"Task", "authored-on.x=1", 0, FHIR_ISSUE_INVALID, "authored-on.x",
     "not a reference parameter"},
    {"Task", "focus.performer=x", 0, FHIR_ISSUE_INVALID, "focus.performer",
     "different types"},
    {"Task", "owner:Encounter.name=x", 0, FHIR_ISSUE_INVALID,
     "owner:Encounter.name", "does not refer to 'Encounter'"},
    {"Task", "owner:missing.name=x", 0, FHIR_ISSUE_INVALID,
     "owner:missing.name", "does not refer to"},
    {"Task", "owner.=x", 0, FHIR_ISSUE_INVALID, "owner.", "not a chain"},
    {"Task", ".name=x", 0, FHIR_ISSUE_INVALID, ".name", "not a chain"},
    {"Task", "patient.birthdate=notadate", 0, FHIR_ISSUE_INVALID,
     "patient.birthdate", "known prefix"},
    {"Task", "owner:Practitioner.name:foo=x", 0, FHIR_ISSUE_INVALID,
     "owner:Practitioner.name:foo", "unknown modifier"},
    {"Task", "owner:Practitioner.name:not=x", 0, FHIR_ISSUE_INVALID,
     "owner:Practitioner.name:not", "does not apply"},
    {"Task", "part-of.part-of.part-of.owner:Practitioner.name=x", 0,
     FHIR_ISSUE_TOO_COSTLY, "part-of.part-of.part-of.owner:Practitioner.name",
     "more than 3"},
    {"Task", "owner.nonsense=x", 1, FHIR_ISSUE_NOT_SUPPORTED, "owner.nonsense",
     "'nonsense', which no type 'owner' refers to"},
    {"Task", "owner:Practitioner.nonsense=x", 1, FHIR_ISSUE_NOT_SUPPORTED,
     "owner:Practitioner.nonsense", "not defined for Practitioner"},
    {"Task", "ownr.name=x", 1, FHIR_ISSUE_NOT_SUPPORTED, "ownr.name",
     "'ownr', which is not defined for Task"},
    {"Task", "owner:Organization.name=x", 1, FHIR_ISSUE_NOT_SUPPORTED,
     "owner:Organization.name", "Organization, which this server does not"},
    {"Task", "encounter.status=x", 1, FHIR_ISSUE_NOT_SUPPORTED,
     "encounter.status", "does not serve"},
    {"Task,ServiceRequest", "patient.name=x", 1, FHIR_ISSUE_NOT_SUPPORTED,
     "patient.name", "one type only"},
    /* _has (R4 search.html#has) */
    {"Patient", "_has:Task:part-of:status=ready", 0, FHIR_ISSUE_INVALID,
     "_has:Task:part-of:status", "that can refer to Patient"},
    {"Patient", "_has:Task:status:status=ready", 0, FHIR_ISSUE_INVALID,
     "_has:Task:status:status", "not a reference parameter of Task"},
    {"Patient", "_has:Task:nonsense:status=ready", 0, FHIR_ISSUE_INVALID,
     "_has:Task:nonsense:status", "not a reference parameter"},
    {"Patient", "_has:Task:patient=x", 0, FHIR_ISSUE_INVALID,
     "_has:Task:patient", "_has:Type:reference:parameter"},
    {"Patient", "_has:Task::status=x", 0, FHIR_ISSUE_INVALID,
     "_has:Task::status", "_has:Type:reference:parameter"},
    {"Patient", "_has:Task:patient:=x", 0, FHIR_ISSUE_INVALID,
     "_has:Task:patient:", "_has:Type:reference:parameter"},
    {"Patient", "_has=x", 0, FHIR_ISSUE_INVALID, "_has",
     "_has:Type:reference:parameter"},
    {"Patient", "_has:Task:patient:status=", 0, FHIR_ISSUE_INVALID,
     "_has:Task:patient:status", "empty"},
    {"Patient", "_has:Task:patient:authored-on=yesterday", 0,
     FHIR_ISSUE_INVALID, "_has:Task:patient:authored-on", "known prefix"},
    {"Patient", "_has:Task:patient:status:exact=x", 0, FHIR_ISSUE_INVALID,
     "_has:Task:patient:status:exact", "does not apply"},
    {"Patient", "_has:Task:patient:_has:Task:owner:status=x", 0,
     FHIR_ISSUE_INVALID, "_has:Task:patient:_has:Task:owner:status",
     "that can refer to Task"},
    {"Patient",
     "_has:Task:patient:_has:Task:part-of:_has:Task:part-of:_has:Task:"
     "part-of:status=ready",
     0, FHIR_ISSUE_TOO_COSTLY,
     "_has:Task:patient:_has:Task:part-of:_has:Task:part-of:_has:Task:"
     "part-of:status",
     "more than 3"},
    {"Patient", "_has:Observation:patient:code=x", 1, FHIR_ISSUE_NOT_SUPPORTED,
     "_has:Observation:patient:code", "Observation"},
    {"Patient", "_has:Task:patient:nonsense=x", 1, FHIR_ISSUE_NOT_SUPPORTED,
     "_has:Task:patient:nonsense", "not defined for Task"},
    {"Patient,Practitioner", "_has:Task:owner:status=ready", 1,
     FHIR_ISSUE_NOT_SUPPORTED, "_has:Task:owner:status", "one type only"},
    {"Patient,Task", "family=x", 1, FHIR_ISSUE_NOT_SUPPORTED, "family",
     "the other types"},
    {"Patient", "phonetic=x", 1, FHIR_ISSUE_NOT_SUPPORTED, "phonetic",
     "phonetic"},
};

static void
search_plan__parse_errors(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t i = 0; i < sizeof(bad_searches) / sizeof(bad_searches[0]);
         i++) {
        fhir_arena *a = fhir_arena_new();
        fhir_err err = FHIR_ERR_INIT;
        search_plan *p = NULL;
        int rc = plan_make(&p, a, bad_searches[i].types, bad_searches[i].qs,
                           bad_searches[i].strict, &err);
        if (rc != -1 || err.issue != bad_searches[i].issue ||
            err.status != 400 || strcmp(err.expr, bad_searches[i].expr) != 0 ||
            strstr(err.diag, bad_searches[i].diag) == NULL) {
            print_message("%s?%s: rc %d issue %s status %d expr '%s' "
                          "diag '%s'; want issue %s expr '%s' diag ~'%s'\n",
                          bad_searches[i].types, bad_searches[i].qs, rc,
                          fhir_issue_code(err.issue), err.status, err.expr,
                          err.diag, fhir_issue_code(bad_searches[i].issue),
                          bad_searches[i].expr, bad_searches[i].diag);
            failed++;
        }
        fhir_arena_free(a);
    }
    if (failed) {
        fail_msg("%d malformed searches not rejected as expected", failed);
    }
}

/* Each warning holds all the pieces. */
static void
assert_warning(const search_plan *p, const char *piece1, const char *piece2)
{
    const char *const *w = NULL;
    size_t n = search_plan_warnings(p, &w);
    for (size_t i = 0; i < n; i++) {
        if (strstr(w[i], piece1) != NULL &&
            (piece2 == NULL || strstr(w[i], piece2) != NULL)) {
            return;
        }
    }
    fail_msg("no warning naming '%s' and '%s' (%zu warnings%s%s)", piece1,
             piece2 ? piece2 : "", n, n ? ", first: " : "", n ? w[0] : "");
}

static void
search_plan__lenient_handling_warns(void **state)
{
    (void)state;
    fhir_arena *a = fhir_arena_new();
    fhir_err err = FHIR_ERR_INIT;
    const char *const *w = NULL;
    const char *why = NULL;
    int unsupported = 0;

    /* Unknown: a warning without strict handling, the rest still used. */
    search_plan *p = plan_ok(a, "Task", "nonsense=1&status=ready");
    assert_int_equal(search_plan_warnings(p, &w), 1);
    assert_warning(p, "'nonsense'", "not defined for Task");
    assert_int_equal(search_plan_nconds(p), 1);
    assert_int_equal(err.issue, FHIR_ISSUE_NONE);

    /* The same under strict handling: 400 not-supported. */
    p = NULL;
    assert_int_equal(
        plan_make(&p, a, "Task", "nonsense=1&status=ready", 1, &err), -1);
    assert_null(p);
    assert_int_equal(err.issue, FHIR_ISSUE_NOT_SUPPORTED);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.expr, "nonsense");

    /* _include and _revinclude: warnings, no condition. */
    p = plan_ok(a, "Task", "_include=Task:owner&_revinclude=Task:part-of");
    assert_int_equal(search_plan_warnings(p, &w), 2);
    assert_warning(p, "'_include'", "not supported");
    assert_warning(p, "'_revinclude'", "not supported");
    assert_int_equal(search_plan_nconds(p), 0);

    /* _text is known but unsupported: the warning says why. */
    const search_param *t =
        search_param_find(reg, fhir_type_find("Task"), "_text", &unsupported);
    assert_non_null(t);
    assert_true(search_param_unsupported(t, &why));
    p = plan_ok(a, "Task", "_text=callback");
    assert_int_equal(search_plan_warnings(p, &w), 1);
    assert_warning(p, "'_text'", why);
    assert_int_equal(search_plan_nconds(p), 0);

    /* Chains and _has that cannot be searched here are ignored like any
     * parameter, the rest still applies; a chain is not half-kept when
     * one of its targets lacks the parameter. */
    p = plan_ok(a, "Task",
                "owner:Organization.name=x&status=ready&ownr.name=x&"
                "_has:Task:part-of:nonsense=1");
    assert_int_equal(search_plan_warnings(p, &w), 3);
    assert_warning(p, "'owner:Organization.name'", "does not serve");
    assert_warning(p, "'ownr.name'", "not defined for Task");
    assert_warning(p, "'_has:Task:part-of:nonsense'", "not defined for Task");
    assert_int_equal(search_plan_nconds(p), 1);
    assert_int_equal(p->conds[0].link, SEARCH_LINK_NONE);
    /* A system search takes no chain or _has. */
    p = plan_ok(a, "Patient,Practitioner",
                "_has:Task:owner:status=ready&general-practitioner.name=x&"
                "gender=female");
    assert_int_equal(search_plan_warnings(p, &w), 2);
    assert_warning(p, "'_has:Task:owner:status'", "one type only");
    assert_warning(p, "'general-practitioner.name'", "one type only");
    assert_int_equal(search_plan_nconds(p), 1);

    /* Result parameters are no conditions and no warnings. */
    p = plan_ok(a, "Task",
                "_count=5&_sort=-authored-on&_total=accurate&_summary=count&"
                "_elements=status,owner&_format=json&_pretty=true&_type=Task");
    assert_int_equal(search_plan_warnings(p, &w), 0);
    assert_int_equal(search_plan_nconds(p), 0);
    assert_int_equal(search_plan_page_size(p), 5);
    assert_int_equal(search_plan_total(p), SEARCH_TOTAL_ACCURATE);
    assert_int_equal(search_plan_summary(p), SEARCH_SUMMARY_COUNT);
    assert_string_equal(search_plan_elements(p), "status,owner");
    assert_int_equal(search_plan_nkeys(p), 2);
    /* _count above the maximum is lowered to it */
    p = plan_ok(a, "Task", "_count=999999");
    assert_int_equal(search_plan_page_size(p), 5000);
    fhir_arena_free(a);
}

static void
search_plan__value_escapes(void **state)
{
    (void)state;
    fhir_arena *a = fhir_arena_new();
    /* \, keeps one value */
    search_plan *p = plan_ok(a, "Task", "identifier=a\\,b");
    assert_int_equal(p->nconds, 1);
    assert_int_equal(p->conds[0].nvals, 1);
    assert_null(p->conds[0].vals[0].sys);
    assert_string_equal(p->conds[0].vals[0].code, "a,b");
    /* the same percent-encoded */
    p = plan_ok(a, "Task", "identifier=a%5C%2Cb");
    assert_int_equal(p->conds[0].nvals, 1);
    assert_string_equal(p->conds[0].vals[0].code, "a,b");
    /* without the escape: two values */
    p = plan_ok(a, "Task", "identifier=a,b");
    assert_int_equal(p->conds[0].nvals, 2);
    assert_string_equal(p->conds[0].vals[0].code, "a");
    assert_string_equal(p->conds[0].vals[1].code, "b");
    /* \| belongs to the system */
    p = plan_ok(a, "Task", "identifier=sys\\|x|v");
    assert_int_equal(p->conds[0].nvals, 1);
    assert_string_equal(p->conds[0].vals[0].sys, "sys|x");
    assert_string_equal(p->conds[0].vals[0].code, "v");
    /* \\ is a backslash, and the comma after it separates */
    p = plan_ok(a, "Task", "identifier=a\\\\,b");
    assert_int_equal(p->conds[0].nvals, 2);
    assert_string_equal(p->conds[0].vals[0].code, "a\\");
    assert_string_equal(p->conds[0].vals[1].code, "b");
    /* \$ is a dollar; |code has no system, system| any code */
    p = plan_ok(a, "Task", "identifier=|x\\$y,http://s|");
    assert_int_equal(p->conds[0].nvals, 2);
    assert_string_equal(p->conds[0].vals[0].sys, "");
    assert_string_equal(p->conds[0].vals[0].code, "x$y");
    assert_string_equal(p->conds[0].vals[1].sys, "http://s");
    assert_null(p->conds[0].vals[1].code);
    /* strings: escapes removed, then normalised; :exact kept as given */
    p = plan_ok(a, "Patient", "family=M%C3%BCller\\,%20Jr&family:exact=A\\,B");
    assert_int_equal(p->nconds, 2);
    assert_int_equal(p->conds[0].nvals, 1);
    assert_string_equal(p->conds[0].vals[0].code, "muller, jr");
    assert_int_equal(p->conds[1].mod, SEARCH_MOD_EXACT);
    assert_string_equal(p->conds[1].vals[0].code, "A,B");
    /* :of-type: system|code|value, each part unescaped */
    p = plan_ok(a, "Task", "identifier:of-type=http://t|PL\\|AC|v\\,1");
    assert_int_equal(p->conds[0].nvals, 1);
    assert_string_equal(p->conds[0].vals[0].sys, "\x01http://t|PL|AC");
    assert_string_equal(p->conds[0].vals[0].code, "v,1");
    /* references: bare id to every target type, own base made relative */
    p = plan_ok(a, "Task", "part-of=t1&owner=" BASE "/Practitioner/p1");
    assert_int_equal(p->conds[0].vals[0].nalts, 1);
    assert_string_equal(p->conds[0].vals[0].code, "Task/t1");
    assert_string_equal(p->conds[1].vals[0].code, "Practitioner/p1");
    p = plan_ok(a, "Task", "owner=p1&owner:Organization=o1");
    assert_true(p->conds[0].vals[0].nalts > 1);
    assert_int_equal(p->conds[1].vals[0].nalts, 0);
    assert_string_equal(p->conds[1].vals[0].code, "Organization/o1");
    /* the same parameter twice: two ANDed conditions */
    p = plan_ok(a, "Task", "authored-on=ge2024&authored-on=lt2025");
    assert_int_equal(p->nconds, 2);
    assert_int_equal(p->conds[0].vals[0].prefix, SEARCH_PFX_GE);
    assert_int_equal(p->conds[1].vals[0].prefix, SEARCH_PFX_LT);
    fhir_arena_free(a);
}

static void
search_plan__too_many_values(void **state)
{
    (void)state;
    fhir_arena *a = fhir_arena_new();
    fhir_buf qs = FHIR_BUF_INIT;
    fhir_err err = FHIR_ERR_INIT;
    search_plan *p = NULL;
    fhir_buf_puts(&qs, "status=v0");
    for (int i = 1; i < 100; i++) {
        fhir_buf_printf(&qs, ",v%d", i);
    }
    /* 100 values are fine */
    p = plan_ok(a, "Task", qs.data);
    assert_int_equal(p->conds[0].nvals, 100);
    /* 101 are too many */
    fhir_buf_puts(&qs, ",v100");
    assert_int_equal(plan_make(&p, a, "Task", qs.data, 0, &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_TOO_COSTLY);
    assert_string_equal(err.expr, "status");
    assert_non_null(strstr(err.diag, "more than 100 values"));
    /* escaped commas do not count */
    fhir_buf_clear(&qs);
    fhir_buf_puts(&qs, "identifier=x");
    for (int i = 0; i < 150; i++) {
        fhir_buf_puts(&qs, "\\,x");
    }
    p = plan_ok(a, "Task", qs.data);
    assert_int_equal(p->conds[0].nvals, 1);
    fhir_buf_clear(&qs);
    fhir_arena_free(a);
}

/* ---- SQL safety ----------------------------------------------------- */

/* Values meant to break out of a literal, a LIKE pattern, a comment or
 * a parameter marker; binary bytes; a long value. */
static const char *const hostile[] = {
    "'",
    "''",
    "x' OR '1'='1",
    "x'; DROP TABLE resource; --",
    "Robert'); DELETE FROM history;--",
    "--",
    "/* c */",
    ";",
    "%",
    "_",
    "%_%",
    "a%b_c",
    "\"",
    "a\"b\"",
    "?",
    "?1",
    ":x",
    "@x",
    "$x",
    "\\",
    "a,b|c\\d$e",
    "\x01\x02\x1f\x7f",
    "\xff\xfe\x80",
    "\xc3\xa9t\xc3\xa9 \xe2\x80\x94 caf\xc3\xa9",
    "x\r\ny",
    "0x41",
    "1e9999",
    "NULL",
};

static const struct {
    const char *types, *before, *after;
    int hex;   /* 1: the value goes into a _cursor key, hex-encoded */
    int bound; /* 1: the value must be bound exactly as given */
} hostile_at[] = {
    {"Task", "identifier=", "", 0, 1},
    {"Task", "identifier=http://sys|", "", 0, 1},
    {"Task", "identifier=", "|v", 0, 1},
    {"Task", "status:not=", "", 0, 1},
    {"Task", "status=ready,", "&priority:missing=true", 0, 1},
    {"Task", "code:text=", "", 0, 0},
    {"Task", "owner:identifier=http://npi|", "", 0, 1},
    {"Task", "identifier:of-type=http://t|PLAC|", "", 0, 1},
    {"Task", "_id=", "", 0, 1},
    {"Task", "_id:not=t1,", "", 0, 1},
    {"Task", "_tag=http://t|", "&status=ready", 0, 1},
    {"Patient", "family=", "", 0, 0},
    {"Patient", "family:exact=", "", 0, 1},
    {"Patient", "family:contains=", "", 0, 0},
    {"Patient", "name=", "&_sort=family", 0, 0},
    {"ServiceRequest", "instantiates-uri=", "", 0, 1},
    {"ServiceRequest", "instantiates-uri:below=", "", 0, 1},
    {"ServiceRequest", "instantiates-uri:above=", "", 0, 1},
    {"Patient,Practitioner", "family:exact=", "&gender=female", 0, 1},
    {"Task", "owner:Practitioner.name=", "", 0, 0},
    {"Task", "owner.family:exact=", "&status=ready", 0, 1},
    {"Task", "patient.identifier=http://sys|", "", 0, 1},
    {"Task", "part-of.owner:Practitioner.identifier=", "", 0, 1},
    {"Task", "part-of.owner:Practitioner._id=", "", 0, 1},
    {"Patient", "_has:Task:patient:identifier=", "", 0, 1},
    {"Patient", "_has:Task:patient:_has:Task:part-of:code:text=", "", 0, 0},
    {"Practitioner", "_has:Task:owner:part-of.identifier=", "", 0, 1},
    {"Patient", "_sort=family&_cursor=i0.t", ".5.s9", 1, 1},
    {"Task", "_sort=-_id&_cursor=i0.t", ".5.s9", 1, 1},
    {"Task", "_sort=-_id&_cursor=bi0.t", ".5.s9", 1, 1},
};

/* The SQL of a plan: page, count and each estimate, one after another. */
static void
all_sql(fhir_sql *out, search_plan *p)
{
    fhir_sql_add(out, "page: ");
    search_plan_page_sql(p, out);
    fhir_sql_add(out, "\ncount: ");
    search_plan_count_sql(p, out);
    for (size_t i = 0; i < search_plan_nconds(p); i++) {
        fhir_sql_add(out, "\nestimate: ");
        search_plan_estimate_sql(p, i, out);
    }
    fhir_sql_add(out, "\ntype: ");
    search_plan_type_count_sql(p, out);
    fhir_sql_add(out, "\nchanged: ");
    (void)search_plan_changed_sql(p, out);
}

/* 1 when a bound text value is exactly s. */
static int
bound(const fhir_sql *q, const char *s)
{
    for (size_t i = 0; i < q->n; i++) {
        if (q->vals[i].is_text && q->vals[i].len == strlen(s) &&
            memcmp(q->vals[i].s, s, q->vals[i].len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The quotes of a text: only those of the constant ESCAPE '\' clause. */
static void
assert_no_literals(const char *text)
{
    size_t quotes = 0, escapes = 0;
    for (const char *p = text; *p != '\0'; p++) {
        quotes += *p == '\'';
    }
    for (const char *p = text; (p = strstr(p, "ESCAPE '\\'")) != NULL; p++) {
        escapes++;
    }
    assert_int_equal(quotes, 2 * escapes);
    assert_null(strchr(text, ';'));
    assert_null(strstr(text, "--"));
    assert_null(strstr(text, "/*"));
    assert_null(strstr(text, "DROP"));
    assert_null(strstr(text, "DELETE"));
}

static void
search_plan__sql_text_never_holds_values(void **state)
{
    (void)state;
    size_t accepted = 0, rejected = 0;
    char *longv = malloc(6002);
    assert_non_null(longv);
    for (size_t i = 0; i < 6000; i++) {
        longv[i] = "x'%_;-"[i % 6];
    }
    longv[6000] = '\0';
    for (size_t k = 0; k < sizeof(hostile_at) / sizeof(hostile_at[0]); k++) {
        fhir_arena *a = fhir_arena_new();
        fhir_sql base_sql = FHIR_SQL_INIT;
        const char *qs = fhir_arena_printf(
            a, "%s%s%s", hostile_at[k].before,
            hostile_at[k].hex ? hexs(a, "x") : "x", hostile_at[k].after);
        search_plan *p = plan_ok(a, hostile_at[k].types, qs);
        all_sql(&base_sql, p);
        assert_no_literals(base_sql.text.data);
        for (size_t h = 0; h <= sizeof(hostile) / sizeof(hostile[0]); h++) {
            const char *v =
                h < sizeof(hostile) / sizeof(hostile[0]) ? hostile[h] : longv;
            fhir_sql sql = FHIR_SQL_INIT;
            fhir_err err = FHIR_ERR_INIT;
            qs = fhir_arena_printf(a, "%s%s%s", hostile_at[k].before,
                                   hostile_at[k].hex ? hexs(a, v)
                                                     : pct(a, esc(a, v)),
                                   hostile_at[k].after);
            p = NULL;
            if (plan_make(&p, a, hostile_at[k].types, qs, 0, &err) != 0) {
                /* Refusing a value is safe too, but only as invalid. */
                if (err.issue != FHIR_ISSUE_INVALID) {
                    fail_msg("%s?%s: %s", hostile_at[k].types, qs, err.diag);
                }
                rejected++;
                continue;
            }
            accepted++;
            all_sql(&sql, p);
            if (strcmp(sql.text.data, base_sql.text.data) != 0) {
                fail_msg("%s?%s: SQL text differs from the one of value "
                         "'x':\n%s\nvs\n%s",
                         hostile_at[k].types, hostile_at[k].before,
                         sql.text.data, base_sql.text.data);
            }
            assert_int_equal(sql.n, base_sql.n);
            if (hostile_at[k].bound && !bound(&sql, v)) {
                fail_msg("%s?%s: value %zu is not bound as given",
                         hostile_at[k].types, hostile_at[k].before, h);
            }
            /* and the store runs it */
            fhir_sql_clear(&sql);
            prepare(p, 1);
            search_plan_count_sql(p, &sql);
            assert_true(sql_int(&sql) >= 0);
            fhir_sql_clear(&sql);
            search_plan_page_sql(p, &sql);
            fhir_err qerr = FHIR_ERR_INIT;
            int64_t ignored = 0;
            assert_int_equal(store_query(db, &sql, first_int, &ignored, &qerr),
                             0);
            fhir_sql_clear(&sql);
        }
        fhir_sql_clear(&base_sql);
        fhir_arena_free(a);
    }
    free(longv);
    print_message("hostile values: %zu planned, %zu refused as invalid\n",
                  accepted, rejected);
    assert_true(accepted > 10 * rejected);
}

static void
search_plan__hostile_names_are_only_warned_about(void **state)
{
    (void)state;
    fhir_arena *a = fhir_arena_new();
    fhir_sql s1 = FHIR_SQL_INIT, s2 = FHIR_SQL_INIT;
    search_plan *p =
        plan_ok(a, "Task",
                "x'%3B%20DROP%20TABLE%20resource%3B--=1&status=ready&"
                "status%27--:missing=true");
    assert_int_equal(search_plan_nconds(p), 1);
    all_sql(&s1, p);
    p = plan_ok(a, "Task", "status=ready");
    all_sql(&s2, p);
    assert_string_equal(s1.text.data, s2.text.data);
    fhir_sql_clear(&s1);
    fhir_sql_clear(&s2);
    fhir_arena_free(a);
}

/* ---- the corpus ----------------------------------------------------- */

static uint32_t rng = 2463534242u;

static uint32_t
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

#define PICK(arr) (arr[rnd() % (sizeof(arr) / sizeof(arr[0]))])

/* Dates of every precision, with and without zones. */
static const char *const dates[] = {
    "2023",
    "2024",
    "2024-03",
    "2024-04",
    "2024-03-14",
    "2024-03-15",
    "2024-03-16",
    "2024-02-29",
    "2024-03-15T10:30:00Z",
    "2024-03-15T10:30:00.123456Z",
    "2024-03-15T10:30:00.5+00:00",
    "2024-03-15T23:30:00-05:00",
    "2024-03-16T01:00:00+02:00",
    "2024-03-15T00:00:00+14:00",
    "2024-03-14T23:59:59-12:00",
    "2024-03-15T12:00:00+02:00",
    "2024-12-31T23:59:59Z",
    "2025-01-01T00:30:00+01:00",
    "2024-05-10T08:00:00Z",
};

static const char *const task_status[] = {
    "draft",    "requested", "received",  "accepted",
    "rejected", "ready",     "cancelled", "in-progress",
    "on-hold",  "failed",    "completed", "entered-in-error"};
static const char *const priorities[] = {"routine", "urgent", "asap", "stat"};
static const char *const intents[] = {"order", "plan", "proposal"};

static cJSON *
ref_to(const char *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "reference", r);
    return o;
}

static cJSON *
coding(const char *sys, const char *code, const char *display)
{
    cJSON *c = cJSON_CreateObject();
    if (sys != NULL) {
        cJSON_AddStringToObject(c, "system", sys);
    }
    cJSON_AddStringToObject(c, "code", code);
    if (display != NULL) {
        cJSON_AddStringToObject(c, "display", display);
    }
    return c;
}

static cJSON *concept(cJSON *coding1, cJSON *coding2, const char *text)
{
    cJSON *cc = cJSON_CreateObject();
    if (coding1 != NULL) {
        cJSON *arr = cJSON_AddArrayToObject(cc, "coding");
        cJSON_AddItemToArray(arr, coding1);
        if (coding2 != NULL) {
            cJSON_AddItemToArray(arr, coding2);
        }
    }
    if (text != NULL) {
        cJSON_AddStringToObject(cc, "text", text);
    }
    return cc;
}

static cJSON *
identifier(const char *sys, const char *value, const char *type_code)
{
    cJSON *id = cJSON_CreateObject();
    if (sys != NULL) {
        cJSON_AddStringToObject(id, "system", sys);
    }
    cJSON_AddStringToObject(id, "value", value);
    if (type_code != NULL) {
        cJSON_AddItemToObject(
            id, "type",
            concept(coding("http://terminology.hl7.org/CodeSystem/v2-0203",
                           type_code, NULL),
                    NULL, "Placer id"));
    }
    return id;
}

static void
add_meta(cJSON *res, int i)
{
    if (i % 4 != 0) {
        return;
    }
    cJSON *meta = cJSON_AddObjectToObject(res, "meta");
    cJSON *tags = cJSON_AddArrayToObject(meta, "tag");
    cJSON_AddItemToArray(tags, coding("http://t", "vip", NULL));
    if (i % 8 == 0) {
        cJSON_AddItemToArray(tags, coding("http://other", "vip", NULL));
        cJSON_AddStringToObject(meta, "source", "http://src.example.org");
    }
    cJSON *prof = cJSON_AddArrayToObject(meta, "profile");
    cJSON_AddItemToArray(
        prof, cJSON_CreateString(i % 12 == 0 ? "http://example.org/"
                                               "StructureDefinition/task-a"
                                             : "http://example.org/"
                                               "StructureDefinition/other"));
}

static char *
fmt(char *buf, size_t cap, const char *f, int n)
{
    snprintf(buf, cap, f, n);
    return buf;
}

static cJSON *
gen_task(int i)
{
    char b[96];
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "resourceType", "Task");
    add_meta(t, i);
    cJSON *ids = cJSON_AddArrayToObject(t, "identifier");
    cJSON_AddItemToArray(ids, identifier("http://clinic.example.org/task",
                                         fmt(b, sizeof(b), "T-%03d", i),
                                         i % 3 == 2 ? "PLAC" : NULL));
    if (i % 37 == 1) {
        cJSON_AddItemToArray(ids, identifier("http://other", "a,b", NULL));
    }
    if (i == 7) {
        cJSON_AddItemToArray(ids, identifier("sys|x", "v", NULL));
    }
    if (i % 5 == 0) {
        cJSON_AddItemToObject(t, "groupIdentifier",
                              identifier("http://clinic.example.org/group",
                                         fmt(b, sizeof(b), "G-%d", i % 3),
                                         NULL));
    }
    cJSON_AddStringToObject(t, "status", PICK(task_status));
    if (rnd() % 3 == 0) {
        cJSON_AddItemToObject(
            t, "businessStatus",
            rnd() % 2
                ? concept(NULL, NULL, "Awaiting callback")
                : concept(coding("http://clinic.example.org/bs",
                                 "awaiting-callback", "Awaiting Callback"),
                          NULL, NULL));
    }
    cJSON_AddStringToObject(t, "intent", PICK(intents));
    if (rnd() % 5 != 0) {
        cJSON_AddStringToObject(t, "priority", PICK(priorities));
    }
    switch (rnd() % 7) {
    case 0:
        break;
    case 1:
        cJSON_AddItemToObject(
            t, "code",
            concept(coding("http://snomed.info/sct", rnd() % 2 ? "123" : "456",
                           "Blood draw"),
                    NULL, NULL));
        break;
    case 2:
        cJSON_AddItemToObject(
            t, "code",
            concept(coding("http://loinc.org", rnd() % 2 ? "1234-5" : "9999-9",
                           NULL),
                    NULL, "Lipid panel"));
        break;
    case 3:
        cJSON_AddItemToObject(
            t, "code",
            concept(coding("http://clinic.example.org/cs", "LOCAL1", NULL),
                    NULL,
                    "R\xc3\xbc"
                    "ckruf bei M\xc3\xbcller"));
        break;
    case 4:
        cJSON_AddItemToObject(
            t, "code",
            concept(coding(NULL, "LOCAL1", NULL), NULL, "Call back"));
        break;
    case 5:
        /* one code in two systems */
        cJSON_AddItemToObject(
            t, "code",
            concept(coding("http://snomed.info/sct", "123", NULL),
                    coding("http://clinic.example.org/cs", "123", NULL),
                    "Blood draw, urgent"));
        break;
    default:
        cJSON_AddItemToObject(t, "code", concept(NULL, NULL, "Blood sample"));
        break;
    }
    if (rnd() % 4 == 0) {
        cJSON *f = cJSON_AddArrayToObject(t, "basedOn");
        cJSON_AddItemToArray(f,
                             ref_to(fmt(b, sizeof(b), "ServiceRequest/sr%03d",
                                        (int)(rnd() % 5))));
        if (i % 2) {
            cJSON_AddItemToArray(f, ref_to(fmt(b, sizeof(b), "CarePlan/sr%03d",
                                               (int)(rnd() % 5))));
        }
    }
    if (i > 0 && rnd() % 3 == 0) {
        cJSON *po = cJSON_AddArrayToObject(t, "partOf");
        cJSON_AddItemToArray(
            po, ref_to(fmt(b, sizeof(b), "Task/t%03d", (int)(rnd() % 4))));
    }
    switch (rnd() % 4) {
    case 0:
        cJSON_AddItemToObject(
            t, "focus",
            ref_to("http://other.example.org/fhir/ServiceRequest/x1"));
        break;
    case 1:
        cJSON_AddItemToObject(t, "focus",
                              ref_to(fmt(b, sizeof(b), "ServiceRequest/sr%03d",
                                         (int)(rnd() % 5))));
        break;
    default:
        break;
    }
    if (rnd() % 4 != 0) {
        cJSON_AddItemToObject(
            t, "for",
            ref_to(fmt(b, sizeof(b), "Patient/pat%03d", (int)(rnd() % 8))));
    }
    if (rnd() % 5 != 0) {
        cJSON_AddStringToObject(t, "authoredOn", PICK(dates));
    }
    if (rnd() % 2) {
        cJSON_AddStringToObject(t, "lastModified", PICK(dates));
    }
    switch (rnd() % 4) {
    case 0: {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(
            r, "reference", rnd() % 2 ? "Patient/pat004" : "Practitioner/p01");
        cJSON_AddItemToObject(t, "requester", r);
        break;
    }
    case 1:
        cJSON_AddItemToObject(t, "requester", ref_to("Organization/o1"));
        break;
    default:
        break;
    }
    if (rnd() % 3 == 0) {
        cJSON *pt = cJSON_AddArrayToObject(t, "performerType");
        cJSON_AddItemToArray(
            pt, concept(coding("http://snomed.info/sct", "224535009", "Nurse"),
                        NULL, NULL));
    }
    switch (rnd() % 7) {
    case 0:
        break;
    case 1:
    case 2:
        cJSON_AddItemToObject(
            t, "owner",
            ref_to(fmt(b, sizeof(b), "Practitioner/p%02d", (int)(rnd() % 6))));
        break;
    case 3:
        cJSON_AddItemToObject(
            t, "owner",
            ref_to(fmt(b, sizeof(b), "Organization/o%d", (int)(rnd() % 3))));
        break;
    case 4: {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(
            o, "identifier",
            identifier("http://npi", rnd() % 2 ? "123" : "456", NULL));
        cJSON_AddItemToObject(t, "owner", o);
        break;
    }
    case 5: {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "display", "Someone");
        cJSON_AddItemToObject(t, "owner", o);
        break;
    }
    default:
        cJSON_AddItemToObject(t, "owner",
                              ref_to(BASE "/Practitioner/p04")); /* absolute */
        break;
    }
    switch (rnd() % 5) {
    case 0: {
        cJSON *p = cJSON_AddObjectToObject(t, "executionPeriod");
        cJSON_AddStringToObject(p, "start", PICK(dates));
        break;
    }
    case 1: {
        cJSON *p = cJSON_AddObjectToObject(t, "executionPeriod");
        cJSON_AddStringToObject(p, "end", "2024-05-20");
        break;
    }
    case 2: {
        cJSON *p = cJSON_AddObjectToObject(t, "executionPeriod");
        cJSON_AddStringToObject(p, "start", "2024-05-01T08:00:00+02:00");
        cJSON_AddStringToObject(p, "end", rnd() % 2 ? "2024-05-31" : "2024-06");
        break;
    }
    default:
        break;
    }
    /* For chains (drawing no random numbers, so the rest stays as it
     * was): owners that are Patients (owner leads to two served types)
     * or p02, part-of trees four deep (t042 t010 t002 t000), some of
     * their Tasks ready. */
    int k = i % 1000;
    if (k % 13 == 6 || k % 11 == 3) {
        cJSON_DeleteItemFromObject(t, "owner");
        cJSON_AddItemToObject(
            t, "owner",
            ref_to(k % 13 == 6 ? fmt(b, sizeof(b), "Patient/pat%03d", k % 8)
                               : "Practitioner/p02"));
    }
    if (k % 4 == 2) {
        cJSON_DeleteItemFromObject(t, "partOf");
        cJSON *po = cJSON_AddArrayToObject(t, "partOf");
        cJSON_AddItemToArray(po,
                             ref_to(fmt(b, sizeof(b), "Task/t%03d", k / 4)));
    }
    if (k % 8 == 2) {
        cJSON_ReplaceItemInObject(t, "status", cJSON_CreateString("ready"));
    }
    return t;
}

static const char *const families[] = {"M\xc3\xbcller",
                                       "Muller",
                                       "M\xc3\x9cLLER",
                                       "Mueller",
                                       "Smith",
                                       "Smithson",
                                       "van der Berg",
                                       "O'Brien",
                                       "Dubois",
                                       "\xc3\x87"
                                       "elik",
                                       "\xc3\x85ngstr\xc3\xb6m",
                                       "Stra\xc3\x9f"
                                       "e",
                                       "\xc3\x98rsted",
                                       "Per%cent",
                                       "Under_score",
                                       "Back\\slash"};
static const char *const givens[] = {
    "J\xc3\xbcrgen", "Anna", "Ann", "Jos\xc3\xa9", "Zo\xc3\xab", "Li", "Karl"};
static const char *const cities[] = {"Z\xc3\xbcrich", "Zurich", "Gen\xc3\xa8ve",
                                     "Bern", "Basel"};
static const char *const genders[] = {"male", "female", "other", "unknown"};
static const char *const birthdates[] = {
    "1975",       "1975-07",    "1975-07-30", "1975-07-29",
    "1980-01-01", "1990-12-31", "2001-02-03", "1999"};

static void
add_name(cJSON *res, const char *const *fams, size_t nfam)
{
    cJSON *names = cJSON_AddArrayToObject(res, "name");
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "family", fams[rnd() % nfam]);
    cJSON *g = cJSON_AddArrayToObject(n, "given");
    cJSON_AddItemToArray(g, cJSON_CreateString(PICK(givens)));
    if (rnd() % 3 == 0) {
        cJSON_AddItemToArray(g, cJSON_CreateString(PICK(givens)));
    }
    if (rnd() % 5 == 0) {
        cJSON *pre = cJSON_AddArrayToObject(n, "prefix");
        cJSON_AddItemToArray(pre, cJSON_CreateString("Dr."));
    }
    cJSON_AddItemToArray(names, n);
}

static cJSON *
gen_patient(int i)
{
    char b[96];
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "resourceType", "Patient");
    add_meta(p, i);
    cJSON *ids = cJSON_AddArrayToObject(p, "identifier");
    cJSON_AddItemToArray(ids, identifier("http://hospital.example.org/mrn",
                                         fmt(b, sizeof(b), "M%03d", i), NULL));
    if (i % 4 == 0) {
        cJSON_AddItemToArray(
            ids, identifier(NULL, fmt(b, sizeof(b), "NOSYS%d", i), NULL));
    }
    if (rnd() % 4 != 0) {
        cJSON_AddBoolToObject(p, "active", rnd() % 3 != 0);
    }
    if (i % 17 != 0) {
        add_name(p, families, sizeof(families) / sizeof(families[0]));
    }
    if (i % 2 == 1) {
        cJSON *tel = cJSON_AddArrayToObject(p, "telecom");
        cJSON *ph = cJSON_CreateObject();
        cJSON_AddStringToObject(ph, "system", "phone");
        cJSON_AddStringToObject(ph, "value",
                                fmt(b, sizeof(b), "555-01%02d", i));
        cJSON_AddItemToArray(tel, ph);
        cJSON *em = cJSON_CreateObject();
        cJSON_AddStringToObject(em, "system", "email");
        cJSON_AddStringToObject(em, "value",
                                fmt(b, sizeof(b), "pat%d@example.org", i));
        cJSON_AddItemToArray(tel, em);
    }
    if (rnd() % 6 != 0) {
        cJSON_AddStringToObject(p, "gender", PICK(genders));
    }
    if (rnd() % 6 != 0) {
        cJSON_AddStringToObject(p, "birthDate", PICK(birthdates));
    }
    switch (rnd() % 5) {
    case 0:
        cJSON_AddBoolToObject(p, "deceasedBoolean", 0);
        break;
    case 1:
        cJSON_AddStringToObject(p, "deceasedDateTime",
                                rnd() % 2 ? "2021-05-05"
                                          : "2019-11-30T22:00:00-03:00");
        break;
    case 2:
        cJSON_AddBoolToObject(p, "deceasedBoolean", 1);
        break;
    default:
        break;
    }
    if (rnd() % 3 != 0) {
        cJSON *addrs = cJSON_AddArrayToObject(p, "address");
        cJSON *ad = cJSON_CreateObject();
        cJSON_AddStringToObject(ad, "use", rnd() % 2 ? "home" : "work");
        cJSON *lines = cJSON_AddArrayToObject(ad, "line");
        cJSON_AddItemToArray(
            lines, cJSON_CreateString(fmt(b, sizeof(b), "Bahnhofstr. %d", i)));
        cJSON_AddStringToObject(ad, "city", PICK(cities));
        cJSON_AddStringToObject(ad, "postalCode", "8001");
        cJSON_AddStringToObject(ad, "country", "CH");
        cJSON_AddItemToArray(addrs, ad);
    }
    switch (rnd() % 4) {
    case 0:
        break;
    case 1: {
        cJSON *gp = cJSON_AddArrayToObject(p, "generalPractitioner");
        cJSON_AddItemToArray(gp, ref_to("Organization/o1"));
        break;
    }
    default: {
        cJSON *gp = cJSON_AddArrayToObject(p, "generalPractitioner");
        cJSON_AddItemToArray(gp, ref_to(fmt(b, sizeof(b), "Practitioner/p%02d",
                                            (int)(rnd() % 5))));
        break;
    }
    }
    return p;
}

static const char *const prac_families[] = {
    "Smith", "Smithers", "Jones", "M\xc3\xbcller", "Nguy\xe1\xbb\x85n"};

static cJSON *
gen_practitioner(int i)
{
    char b[64];
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "resourceType", "Practitioner");
    add_meta(p, i);
    cJSON *ids = cJSON_AddArrayToObject(p, "identifier");
    cJSON_AddItemToArray(
        ids,
        identifier("http://npi", fmt(b, sizeof(b), "%d", 100 + i % 30), NULL));
    cJSON_AddBoolToObject(p, "active", i % 5 != 0);
    add_name(p, prac_families,
             sizeof(prac_families) / sizeof(prac_families[0]));
    if (rnd() % 5 != 0) {
        cJSON_AddStringToObject(p, "gender", PICK(genders));
    }
    if (rnd() % 2) {
        cJSON *addrs = cJSON_AddArrayToObject(p, "address");
        cJSON *ad = cJSON_CreateObject();
        cJSON_AddStringToObject(ad, "city", PICK(cities));
        cJSON_AddItemToArray(addrs, ad);
    }
    static const char *const langs[] = {"de", "fr", "en"};
    cJSON *com = cJSON_AddArrayToObject(p, "communication");
    cJSON_AddItemToArray(
        com, concept(coding("urn:ietf:bcp:47", PICK(langs), NULL), NULL, NULL));
    return p;
}

static const char *const sr_status[] = {
    "draft",     "active",           "on-hold", "revoked",
    "completed", "entered-in-error", "unknown"};
static const char *const protocols[] = {
    "http://example.org/protocol/a", "http://example.org/protocol/a/b",
    "http://example.org/protocol/ab", "http://example.org/protocol/c",
    "http://example.org/protocol/\xc3\xbc"};

static cJSON *
gen_service_request(int i)
{
    char b[96];
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "resourceType", "ServiceRequest");
    add_meta(s, i);
    if (rnd() % 3 != 0) {
        cJSON *iu = cJSON_AddArrayToObject(s, "instantiatesUri");
        cJSON_AddItemToArray(iu, cJSON_CreateString(PICK(protocols)));
    }
    if (i % 3 == 0) {
        cJSON *ic = cJSON_AddArrayToObject(s, "instantiatesCanonical");
        cJSON_AddItemToArray(
            ic, cJSON_CreateString(i % 2 ? "http://example.org/"
                                           "PlanDefinition/pd1"
                                         : "http://example.org/"
                                           "PlanDefinition/pd2|1.0"));
    }
    if (i > 0 && rnd() % 4 == 0) {
        cJSON *rp = cJSON_AddArrayToObject(s, "replaces");
        cJSON_AddItemToArray(rp,
                             ref_to(fmt(b, sizeof(b), "ServiceRequest/sr%03d",
                                        (int)(rnd() % 6))));
    }
    cJSON_AddItemToObject(
        s, "requisition",
        identifier("http://req", fmt(b, sizeof(b), "R%d", i % 4), NULL));
    cJSON_AddStringToObject(s, "status", PICK(sr_status));
    cJSON_AddStringToObject(s, "intent", PICK(intents));
    if (rnd() % 4 != 0) {
        cJSON_AddStringToObject(s, "priority", PICK(priorities));
    }
    cJSON *cat = cJSON_AddArrayToObject(s, "category");
    cJSON_AddItemToArray(
        cat, concept(coding("http://snomed.info/sct",
                            rnd() % 2 ? "108252007" : "387713003", NULL),
                     NULL, NULL));
    cJSON_AddItemToObject(s, "code",
                          concept(coding("http://loinc.org",
                                         rnd() % 2 ? "1234-5" : "2093-3", NULL),
                                  NULL,
                                  rnd() % 2 ? "Lipid panel" : "Cholesterol"));
    cJSON_AddItemToObject(
        s, "subject",
        ref_to(rnd() % 6 == 0
                   ? "Group/g1"
                   : fmt(b, sizeof(b), "Patient/pat%03d", (int)(rnd() % 8))));
    switch (rnd() % 4) {
    case 0:
        cJSON_AddStringToObject(s, "occurrenceDateTime", PICK(dates));
        break;
    case 1: {
        cJSON *p = cJSON_AddObjectToObject(s, "occurrencePeriod");
        cJSON_AddStringToObject(p, "start", "2024-04-01");
        cJSON_AddStringToObject(
            p, "end", rnd() % 2 ? "2024-04-05" : "2024-04-20T12:00:00Z");
        break;
    }
    case 2: {
        cJSON *tm = cJSON_AddObjectToObject(s, "occurrenceTiming");
        cJSON *ev = cJSON_AddArrayToObject(tm, "event");
        cJSON_AddItemToArray(ev, cJSON_CreateString("2024-04-02T09:00:00Z"));
        cJSON_AddItemToArray(ev, cJSON_CreateString(PICK(dates)));
        break;
    }
    default:
        break;
    }
    if (rnd() % 5 != 0) {
        cJSON_AddStringToObject(s, "authoredOn", PICK(dates));
    }
    if (rnd() % 3 != 0) {
        cJSON_AddItemToObject(
            s, "requester",
            ref_to(fmt(b, sizeof(b), "Practitioner/p%02d", (int)(rnd() % 4))));
    }
    switch (rnd() % 3) {
    case 0:
        break;
    case 1: {
        cJSON *pf = cJSON_AddArrayToObject(s, "performer");
        cJSON_AddItemToArray(pf, ref_to(fmt(b, sizeof(b), "Practitioner/p%02d",
                                            (int)(rnd() % 4))));
        break;
    }
    default: {
        cJSON *pf = cJSON_AddArrayToObject(s, "performer");
        cJSON_AddItemToArray(pf, ref_to("Practitioner/p02"));
        cJSON_AddItemToArray(pf, ref_to("Organization/o1"));
        break;
    }
    }
    /* Some active ones for chains to reach (no random numbers drawn). */
    if (i % 5 == 1) {
        cJSON_ReplaceItemInObject(s, "status", cJSON_CreateString("active"));
    }
    return s;
}

/* Writes one version of `type`/`id` with its index rows. */
static void
put(const char *type, const char *id, cJSON *res)
{
    fhir_err err = FHIR_ERR_INIT;
    store_tx *tx = NULL;
    store_put_result out;
    fhir_arena *a = fhir_arena_new();
    fhir_rows rows = {NULL, 0, 0};
    int t = fhir_type_find(type);
    cJSON_AddStringToObject(res, "id", id);
    search_index(&rows, reg, t, res, a);
    store_put in = {.type = t,
                    .id = id,
                    .resource = res,
                    .method = STORE_METHOD_PUT,
                    .rows = &rows};
    memset(&out, 0, sizeof(out));
    assert_int_equal(store_tx_begin(&tx, env, &err), 0);
    if (store_tx_put(&out, tx, &in, &err) != 0) {
        fail_msg("put %s/%s: %s", type, id, err.diag);
    }
    assert_int_equal(store_tx_commit(tx, &err), 0);
    free(out.body);
    fhir_arena_free(a);
    cJSON_Delete(res);
}

static void
del(const char *type, const char *id)
{
    fhir_err err = FHIR_ERR_INIT;
    store_tx *tx = NULL;
    store_del_result out;
    assert_int_equal(store_tx_begin(&tx, env, &err), 0);
    assert_int_equal(
        store_tx_delete(&out, tx, fhir_type_find(type), id, 0, &err), 0);
    assert_int_equal(store_tx_commit(tx, &err), 0);
}

#define NPRAC 20
#define NPAT 50
#define NSR 40
#define NTASK 90

static void
write_corpus(void)
{
    char id[32];
    for (int i = 0; i < NPRAC; i++) {
        put("Practitioner", fmt(id, sizeof(id), "p%02d", i),
            gen_practitioner(i));
    }
    for (int i = 0; i < NPAT; i++) {
        put("Patient", fmt(id, sizeof(id), "pat%03d", i), gen_patient(i));
    }
    for (int i = 0; i < NSR; i++) {
        put("ServiceRequest", fmt(id, sizeof(id), "sr%03d", i),
            gen_service_request(i));
    }
    for (int i = 0; i < NTASK; i++) {
        put("Task", fmt(id, sizeof(id), "t%03d", i), gen_task(i));
    }
    /* Second versions (rows replaced) and deletes (rows gone). */
    for (int i = 0; i < NTASK; i += 9) {
        put("Task", fmt(id, sizeof(id), "t%03d", i), gen_task(i + 1000));
    }
    for (int i = 3; i < NTASK; i += 23) {
        del("Task", fmt(id, sizeof(id), "t%03d", i));
    }
    del("Patient", "pat010");
    del("Patient", "pat011");
    put("Patient", "pat011", gen_patient(11)); /* created again */
    del("ServiceRequest", "sr005");
}

static int
load_row(void *ctx, const store_row *row)
{
    (void)ctx;
    size_t len = 0;
    const char *id = store_row_text(row, 1, &len);
    const char *body = store_row_text(row, 3, &len);
    fhir_err err = FHIR_ERR_INIT;
    fhir_json_opts jo = {256, 0};
    cJSON *res = NULL;
    struct res *r = &corpus[ncorpus++];
    r->rid = store_row_int(row, 0);
    r->id = fhir_arena_strdup(corpus_arena, id);
    r->hid = store_row_int(row, 2);
    r->type = store_type_of_code(env, (int)store_row_int(row, 4));
    assert_true(r->type >= 0);
    assert_int_equal(fhir_json_parse(&res, body, len, &jo, &err), 0);
    search_index(&r->rows, reg, r->type, res, corpus_arena);
    cJSON_Delete(res);
    return 0;
}

/* Reads the live resources back, as stored, and indexes their bodies. */
static void
load_corpus(void)
{
    fhir_sql q = FHIR_SQL_INIT;
    fhir_err err = FHIR_ERR_INIT;
    corpus_arena = fhir_arena_new();
    corpus = fhir_arena_alloc(corpus_arena, 1000 * sizeof(*corpus));
    fhir_sql_add(&q, "SELECT r.rid, r.id, r.hid, h.body, r.type FROM "
                     "resource r JOIN history h ON h.hid = r.hid WHERE "
                     "r.deleted = 0 ORDER BY r.hid");
    assert_int_equal(store_query(db, &q, load_row, NULL, &err), 0);
    fhir_sql_clear(&q);
    assert_true(ncorpus > 150);
    /* Pivots among the Tasks (by hid, as loaded). */
    int task = fhir_type_find("Task");
    size_t ntasks = 0, seen = 0;
    for (size_t i = 0; i < ncorpus; i++) {
        ntasks += corpus[i].type == task;
    }
    for (size_t i = 0; i < ncorpus; i++) {
        if (corpus[i].type != task) {
            continue;
        }
        if (seen == 0) {
            hid_first = corpus[i].hid;
        }
        if (seen++ == ntasks / 2) {
            hid_mid = corpus[i].hid;
        }
    }
}

/* ---- differential --------------------------------------------------- */

/* A search of the table: types and query string. */
struct qcase {
    const char *types, *qs;
};

static const struct qcase queries[] = {
    /* token */
    {"Task", "status=ready"},
    {"Task", "status=ready,completed"},
    {"Task", "status:not=completed"},
    {"Task", "status:not=completed,cancelled"},
    {"Task", "status:missing=false"},
    {"Task", "priority:missing=true"},
    {"Task", "priority:missing=false&status=ready"},
    {"Task", "priority=urgent,stat"},
    {"Task", "priority=|asap"},
    {"Task", "code=http://snomed.info/sct|123"},
    {"Task", "code=123"},
    {"Task", "code=|LOCAL1"},
    {"Task", "code=LOCAL1"},
    {"Task", "code=http://loinc.org|"},
    {"Task",
     "code=http://clinic.example.org/cs|LOCAL1,http://loinc.org|1234-5"},
    {"Task", "code:text=blood"},
    {"Task", "code:text=R%C3%BCckruf"},
    {"Task", "code:text=LIPID%20pan"},
    {"Task", "code:not=http://snomed.info/sct|123"},
    {"Task", "code:missing=true"},
    {"Task", "business-status:text=awaiting"},
    {"Task", "business-status=awaiting-callback"},
    {"Task", "business-status:missing=false"},
    {"Task", "identifier=http://clinic.example.org/task|T-005"},
    {"Task", "identifier=T-005"},
    {"Task", "identifier=T-006"},
    {"Task", "identifier:of-type=http://terminology.hl7.org/CodeSystem/"
             "v2-0203|PLAC|T-005"},
    {"Task", "identifier:of-type=http://terminology.hl7.org/CodeSystem/"
             "v2-0203|PLAC|T-006"},
    {"Task", "identifier:text=placer"},
    {"Task", "identifier=a\\,b"},
    {"Task", "identifier=sys\\|x|v"},
    {"Task", "group-identifier:missing=false"},
    {"Task", "group-identifier=G-1"},
    {"Task", "performer=http://snomed.info/sct|224535009"},
    {"Task", "intent=order&priority:not=routine"},
    /* reference */
    {"Task", "owner=Practitioner/p03"},
    {"Task", "owner=p03"},
    {"Task", "owner=o1"},
    {"Task", "owner:Practitioner=p03"},
    {"Task", "owner:Organization=o1,o2"},
    {"Task", "owner=" BASE "/Practitioner/p04"},
    {"Task", "owner=Practitioner/p04"},
    {"Task", "owner:missing=true"},
    {"Task", "owner:missing=false"},
    {"Task", "owner:identifier=http://npi|123"},
    {"Task", "owner:identifier=456"},
    {"Task", "part-of=Task/t001"},
    {"Task", "part-of=t002"},
    {"Task", "part-of:missing=false"},
    {"Task", "subject=Patient/pat001"},
    {"Task", "patient=pat002"},
    {"Task", "subject:Patient=pat003&status:not=cancelled"},
    {"Task", "based-on=ServiceRequest/sr001,ServiceRequest/sr002"},
    {"Task", "based-on=sr001"},
    {"Task", "focus=http://other.example.org/fhir/ServiceRequest/x1"},
    {"Task", "focus:missing=true"},
    {"Task", "requester:Patient=pat004"},
    {"Task", "requester=pat004,o1"},
    {"Task", "encounter:missing=true"},
    /* date */
    {"Task", "authored-on=2024-03-15"},
    {"Task", "authored-on=eq2024-03"},
    {"Task", "authored-on=2024"},
    {"Task", "authored-on=ne2024-03-15"},
    {"Task", "authored-on=gt2024-03-15"},
    {"Task", "authored-on=gt2024-03-15T10:30:00Z"},
    {"Task", "authored-on=lt2024-03-15T12:00:00%2B02:00"},
    {"Task", "authored-on=ge2024-03-15"},
    {"Task", "authored-on=le2024-03"},
    {"Task", "authored-on=sa2024-03-15"},
    {"Task", "authored-on=eb2024-03-15T23:00:00Z"},
    {"Task", "authored-on=ap2024-03-15"},
    {"Task", "authored-on=ap2024-03-15T10:30:00Z"},
    {"Task", "authored-on=ge2024-01-01&authored-on=lt2024-06-01"},
    {"Task", "authored-on=2024-03-15,2024-04"},
    {"Task", "authored-on=2024-03-15T10:30:00.123456Z"},
    {"Task", "authored-on=2024-03-15T10:30"},
    {"Task", "authored-on:missing=true"},
    {"Task", "modified=ge2024-03-16T00:00:00-05:00"},
    {"Task", "period=2024-05"},
    {"Task", "period=ge2024-05-10"},
    {"Task", "period=lt2024-05-01&period=gt2024-04-01"},
    {"Task", "period=sa2024-06"},
    {"Task", "period=eb2024-05-15"},
    {"Task", "period=ne2024-05"},
    /* _id, _lastUpdated, meta */
    {"Task", "_id=t001,t002,t050,nosuch"},
    {"Task", "_id:not=t001"},
    {"Task", "_id=t003"},
    {"Task", "_id=t004&status=ready"},
    {"Task", "_lastUpdated=gt@MID@"},
    {"Task", "_lastUpdated=le@MID@"},
    {"Task", "_lastUpdated=eq@MID@"},
    {"Task", "_lastUpdated=ge2000&_lastUpdated=lt2100"},
    {"Task", "_lastUpdated=sa@MID@,eb@FIRST@"},
    {"Task", "_lastUpdated=ne@MID@&status=ready"},
    {"Task", "_tag=http://t|vip"},
    {"Task", "_tag=vip"},
    {"Task", "_tag:not=http://other|vip"},
    {"Task", "_profile=http://example.org/StructureDefinition/task-a"},
    {"Task", "_profile:below=http://example.org/StructureDefinition/"},
    {"Task", "_source=http://src.example.org"},
    {"Task", "_source:missing=false"},
    /* mixed */
    {"Task", "status=ready,in-progress,requested&owner:missing=false&"
             "priority=urgent,stat,asap"},
    {"Task", "code=123&code:not=http://clinic.example.org/cs|123&"
             "authored-on=ge2024"},
    {"Task", "owner=p00,p01,p02&intent:not=plan&_lastUpdated=le@MID@"},
    /* sorted */
    {"Task", "_sort=priority,-authored-on"},
    {"Task", "_sort=-priority,_id"},
    {"Task", "_sort=-_lastUpdated"},
    {"Task", "_sort=_lastUpdated"},
    {"Task", "_sort=status,owner,_id"},
    {"Task", "_sort=-code,authored-on"},
    {"Task", "status:not=cancelled&_sort=-period,-owner"},
    {"Task", "_sort=period,_id"},
    {"Task", "_sort=business-status,-identifier"},
    {"Task", "_sort=modified,subject"},
    {"Task", "_sort=-_profile,-_id"},
    {"Task", "priority:missing=false&_sort=-priority,authored-on,_id"},
    /* Patient */
    {"Patient", "family=muller"},
    {"Patient", "family=M%C3%BCl"},
    {"Patient", "family=MUL"},
    {"Patient", "family:exact=M%C3%BCller"},
    {"Patient", "family:exact=muller"},
    {"Patient", "family:contains=ll"},
    {"Patient", "family:contains=%25"},
    {"Patient", "family:contains=_"},
    {"Patient", "family:contains=%5C%5C"},
    {"Patient", "family:contains=ER"},
    {"Patient", "family:contains=o'b"},
    {"Patient", "family=o'"},
    {"Patient", "family=strasse"},
    {"Patient", "family=%C3%A5ng,orsted"},
    {"Patient", "name=jur"},
    {"Patient", "name=van%20der"},
    {"Patient", "name=dr"},
    {"Patient", "given=ann"},
    {"Patient", "given=zoe,jose"},
    {"Patient", "given:exact=Ann"},
    {"Patient", "name:missing=true"},
    {"Patient", "family:missing=true"},
    {"Patient", "_id=pat010,pat011,pat012"},
    {"Patient", "address-city=zurich"},
    {"Patient", "address=gen%C3%A8ve"},
    {"Patient", "address=8001&address-use=home"},
    {"Patient", "address-country=ch&address-city:exact=Z%C3%BCrich"},
    {"Patient", "birthdate=1975"},
    {"Patient", "birthdate=1975-07"},
    {"Patient", "birthdate=lt1975-07-30"},
    {"Patient", "birthdate=ge1980&birthdate=le2000"},
    {"Patient", "birthdate=sa1975-07-29"},
    {"Patient", "birthdate=eb1980,ap1999"},
    {"Patient", "birthdate:missing=true"},
    {"Patient", "gender=female"},
    {"Patient", "gender:not=male"},
    {"Patient", "gender:missing=true"},
    {"Patient", "active=true"},
    {"Patient", "active:not=true"},
    {"Patient", "active:missing=true"},
    {"Patient", "identifier=http://hospital.example.org/mrn|M003"},
    {"Patient", "identifier=|NOSYS4"},
    {"Patient", "identifier=NOSYS8,M009"},
    {"Patient", "general-practitioner=Practitioner/p01"},
    {"Patient", "general-practitioner:Organization=o1"},
    {"Patient", "general-practitioner=p02"},
    {"Patient", "telecom=555-0103"},
    {"Patient", "email=pat5@example.org"},
    {"Patient", "email:missing=false&_sort=-email"},
    {"Patient", "phone:missing=false"},
    {"Patient", "death-date=ge2020"},
    {"Patient", "death-date=2019-12-01"},
    {"Patient", "deceased=true"},
    {"Patient", "deceased:missing=true"},
    {"Patient", "_tag=vip"},
    {"Patient", "_sort=family,-birthdate,_id"},
    {"Patient", "_sort=-family"},
    {"Patient", "_sort=gender,-_id"},
    {"Patient", "family=m&_sort=given"},
    {"Patient", "_sort=-address-city,general-practitioner"},
    {"Patient", "_sort=-birthdate,-death-date"},
    {"Patient", "_sort=active,identifier"},
    /* Practitioner */
    {"Practitioner", "name=smi"},
    {"Practitioner", "family:exact=Smith"},
    {"Practitioner", "family=nguyen"},
    {"Practitioner", "family=nguy"},
    {"Practitioner", "identifier=http://npi|105"},
    {"Practitioner", "communication=urn:ietf:bcp:47|de"},
    {"Practitioner", "active=false"},
    {"Practitioner", "gender=female"},
    {"Practitioner", "_sort=family,_id"},
    /* ServiceRequest */
    {"ServiceRequest", "occurrence=2024-04"},
    {"ServiceRequest", "occurrence=ge2024-04-10"},
    {"ServiceRequest", "occurrence=lt2024-04-05T12:00:00Z"},
    {"ServiceRequest", "occurrence=ap2024-04-15"},
    {"ServiceRequest", "occurrence=2024-04-02"},
    {"ServiceRequest", "instantiates-uri=http://example.org/protocol/a"},
    {"ServiceRequest", "instantiates-uri:below=http://example.org/protocol/a"},
    {"ServiceRequest",
     "instantiates-uri:above=http://example.org/protocol/a/b/c"},
    {"ServiceRequest",
     "instantiates-uri:above=http://example.org/protocol/%C3%BC/x"},
    {"ServiceRequest", "instantiates-uri:missing=true"},
    {"ServiceRequest",
     "instantiates-canonical=http://example.org/PlanDefinition/pd1"},
    {"ServiceRequest", "performer=Practitioner/p02,Organization/o1"},
    {"ServiceRequest", "performer:Practitioner=p02"},
    {"ServiceRequest", "subject:Patient=pat003"},
    {"ServiceRequest", "subject=Group/g1"},
    {"ServiceRequest", "patient=pat004"},
    {"ServiceRequest", "requester:missing=true"},
    {"ServiceRequest", "requisition=http://req|R1"},
    {"ServiceRequest", "category=http://snomed.info/sct|108252007"},
    {"ServiceRequest", "code:text=lipid"},
    {"ServiceRequest", "code=2093-3&priority=routine,stat"},
    {"ServiceRequest", "status=active&intent=order&_sort=-authored"},
    {"ServiceRequest", "_sort=priority,-occurrence,_id"},
    {"ServiceRequest", "replaces:missing=false&_sort=replaces"},
    {"ServiceRequest", "_sort=-instantiates-uri,status"},
    /* system searches */
    {"Patient,Practitioner", "family=smith"},
    {"Patient,Practitioner", "gender=female&_sort=family,_id"},
    {"Patient,Practitioner,ServiceRequest,Task",
     "_tag=vip&_sort=-_lastUpdated"},
    {"Patient,Practitioner", "address-city=zurich,bern"},
    {"Patient,Practitioner,ServiceRequest,Task", "_id=p01,pat001,t001"},
    /* chaining (R4 search.html#chaining) */
    {"Task", "owner:Practitioner.name=smith"},
    {"Task", "owner:Practitioner.name:exact=Smith"},
    {"Task", "owner:Practitioner.name:contains=ITH"},
    {"Task", "owner:Practitioner.name=smith,jones"},
    {"Task", "owner:Practitioner.family=nguy"},
    {"Task", "owner.family=smith"},
    {"Task", "owner.name=m"},
    {"Task", "owner:Patient.gender=female"},
    {"Task", "owner:Practitioner.address-city:missing=true"},
    {"Task", "owner:Practitioner.active=false&status:not=cancelled"},
    {"Task", "owner._id=p01,pat002"},
    {"Task", "owner:Practitioner._id:not=p01"},
    {"Task", "patient.identifier=http://hospital.example.org/mrn|M003"},
    {"Task", "patient.identifier=M004,M005"},
    {"Task", "patient.birthdate=ge1980"},
    {"Task", "subject:Patient.birthdate=lt1976&_sort=-authored-on"},
    {"Task", "patient.general-practitioner.name=smith"},
    {"Task", "focus:ServiceRequest.status=active"},
    {"Task", "focus.status=active,on-hold"},
    {"Task", "based-on:ServiceRequest.subject:Patient.gender=female"},
    {"Task", "part-of.owner:Practitioner.name=smith"},
    {"Task", "part-of.status=ready,requested&part-of.status:not=completed"},
    {"Task", "part-of.part-of.owner:Practitioner.name=smith"},
    {"Task", "part-of.part-of.part-of.status:missing=false"},
    {"Task", "part-of._lastUpdated=gt@MID@"},
    {"Task", "owner:Practitioner.name=smith&priority=urgent,stat&"
             "_sort=-priority,_id"},
    {"Task", "owner:Practitioner.name=smith&owner:Practitioner.gender=male"},
    {"Task", "status:not=ready&owner.name=smi&_sort=owner,-_id"},
    {"ServiceRequest",
     "performer:Practitioner.communication=urn:ietf:bcp:47|fr"},
    {"ServiceRequest", "requester.name=smi&_sort=_id"},
    {"ServiceRequest", "replaces.status=active"},
    {"Patient", "general-practitioner:Practitioner.name=muller"},
    {"Patient", "general-practitioner.identifier=http://npi|101"},
    /* _has (R4 search.html#has) */
    {"Patient", "_has:Task:patient:status=requested"},
    {"Patient", "_has:Task:patient:status=requested&gender:not=male"},
    {"Patient", "_has:Task:subject:status:not=completed&_sort=family,_id"},
    {"Practitioner", "_has:Task:owner:business-status=awaiting-callback"},
    {"Practitioner", "_has:Task:owner:business-status:text=awaiting"},
    {"Practitioner", "_has:ServiceRequest:performer:status=active"},
    {"Patient", "_has:Task:patient:_has:Task:part-of:status=ready"},
    {"Patient", "_has:Task:owner:status=ready"},
    {"Task", "_has:Task:part-of:status=ready"},
    {"Task", "_has:Task:part-of:_has:Task:part-of:status:missing=false"},
    {"Task", "_has:Task:part-of:owner:Practitioner.name=smith"},
    {"ServiceRequest", "_has:Task:focus:priority=stat,asap"},
    {"ServiceRequest",
     "_has:ServiceRequest:replaces:status=active&status:not=completed"},
    {"Patient", "_has:ServiceRequest:subject:code=2093-3&"
                "_has:Task:patient:priority=stat"},
};

struct hit {
    int64_t rid;
    int type;
    const char *id;
    fhir_sqlval *keys;
};

struct hits {
    struct hit *v;
    size_t n, cap;
    const search_plan *plan;
    fhir_arena *a;
};

static struct hit *
hit_add(struct hits *h)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        struct hit *v = fhir_arena_alloc(h->a, cap * sizeof(*v));
        if (h->n > 0) {
            memcpy(v, h->v, h->n * sizeof(*v));
        }
        h->v = v;
        h->cap = cap;
    }
    struct hit *x = &h->v[h->n++];
    x->keys = fhir_arena_alloc(h->a, (search_plan_nkeys(h->plan) + 1) *
                                         sizeof(fhir_sqlval));
    return x;
}

/* A page row (rid, id, hid, body, type, keys...), as server/ reads it. */
static int
page_row(void *ctx, const store_row *row)
{
    struct hits *h = ctx;
    struct hit *x = hit_add(h);
    size_t len = 0;
    const char *id = store_row_text(row, 1, &len);
    x->rid = store_row_int(row, 0);
    x->id = fhir_arena_strndup(h->a, id, len);
    x->type = store_type_of_code(env, (int)store_row_int(row, 4));
    for (size_t k = 0; k < search_plan_nkeys(h->plan); k++) {
        int col = SEARCH_PAGE_KEYS + (int)k;
        fhir_sqlval *v = &x->keys[k];
        if (store_row_is_null(row, col)) {
            v->is_text = 1;
        } else if (search_plan_key_is_text(h->plan, k)) {
            const char *s = store_row_text(row, col, &len);
            v->is_text = 1;
            v->s = fhir_arena_strndup(h->a, s, len);
            v->len = len;
        } else {
            v->i = store_row_int(row, col);
        }
    }
    return 0;
}

static void
sql_hits(struct hits *h, const search_plan *p, fhir_arena *a)
{
    fhir_sql q = FHIR_SQL_INIT;
    fhir_err err = FHIR_ERR_INIT;
    memset(h, 0, sizeof(*h));
    h->plan = p;
    h->a = a;
    search_plan_page_sql(p, &q);
    if (store_query(db, &q, page_row, h, &err) != 0) {
        fail_msg("page SQL failed: %s\n%s", err.diag, q.text.data);
    }
    fhir_sql_clear(&q);
}

static int
type_searched(const search_plan *p, int type)
{
    for (size_t i = 0; i < p->opts.ntypes; i++) {
        if (p->opts.types[i] == type) {
            return 1;
        }
    }
    return 0;
}

/* The live corpus resource type/id, or NULL. */
static const struct res *
corpus_find(int type, const char *id)
{
    for (size_t i = 0; i < ncorpus; i++) {
        if (corpus[i].type == type && strcmp(corpus[i].id, id) == 0) {
            return &corpus[i];
        }
    }
    return NULL;
}

/* Condition c of plan p on resource r, judged in memory: its own
 * conditions by search_plan_match() (on a plan of c alone), chains and
 * _has by following references through the corpus - independently of
 * the SQL they are compared with. */
static int
cond_holds(const search_plan *p, const search_cond *c, const struct res *r)
{
    if (c->link == SEARCH_LINK_NONE) {
        search_plan one = *p;
        one.conds = (search_cond *)c;
        one.nconds = 1;
        return search_plan_match(&one, &r->rows, r->id, r->hid);
    }
    for (size_t h = 0; h < c->nhops; h++) {
        const search_hop *hop = &c->hops[h];
        size_t n = strlen(hop->prefix);
        if (c->link == SEARCH_LINK_CHAIN) {
            for (size_t i = 0; i < r->rows.n; i++) {
                const fhir_row *w = &r->rows.rows[i];
                const struct res *to =
                    w->param == c->param->num && w->kind == FHIR_ROW_REF &&
                            strncmp(w->code, hop->prefix, n) == 0
                        ? corpus_find(hop->type, w->code + n)
                        : NULL;
                if (to != NULL && cond_holds(p, hop->inner, to)) {
                    return 1;
                }
            }
            continue;
        }
        /* _has: a resource of the hop's type referring to r */
        for (size_t j = 0; j < ncorpus; j++) {
            const struct res *from = &corpus[j];
            for (size_t i = 0; from->type == hop->type && i < from->rows.n;
                 i++) {
                const fhir_row *w = &from->rows.rows[i];
                if (w->param == c->param->num && w->kind == FHIR_ROW_REF &&
                    strncmp(w->code, hop->prefix, n) == 0 &&
                    strcmp(w->code + n, r->id) == 0 &&
                    cond_holds(p, hop->inner, from)) {
                    return 1;
                }
            }
        }
    }
    return 0;
}

/* 1 when the plan accepts corpus resource r, judged in memory. */
static int
plan_holds(const search_plan *p, const struct res *r)
{
    if (!type_searched(p, r->type) ||
        !search_plan_match(p, &r->rows, r->id, r->hid)) {
        return 0;
    }
    for (size_t i = 0; i < p->nconds; i++) {
        if (p->conds[i].link != SEARCH_LINK_NONE &&
            !cond_holds(p, &p->conds[i], r)) {
            return 0;
        }
    }
    return 1;
}

/* Every corpus resource the plan accepts, judged on its index rows. */
static void
memory_hits(struct hits *h, const search_plan *p, fhir_arena *a)
{
    memset(h, 0, sizeof(*h));
    h->plan = p;
    h->a = a;
    for (size_t i = 0; i < ncorpus; i++) {
        const struct res *r = &corpus[i];
        if (!plan_holds(p, r)) {
            continue;
        }
        struct hit *x = hit_add(h);
        x->rid = r->rid;
        x->type = r->type;
        x->id = r->id;
        search_plan_keys(p, &r->rows, r->id, r->hid, x->keys);
    }
}

static const search_plan *cmp_plan; /* qsort has no context argument */

static int
by_order(const void *x, const void *y)
{
    const struct hit *a = x, *b = y;
    return search_plan_order_cmp(cmp_plan, a->keys, a->rid, b->keys, b->rid);
}

static int
by_rid(const void *x, const void *y)
{
    const struct hit *a = x, *b = y;
    return a->rid < b->rid ? -1 : a->rid > b->rid;
}

static struct hit *
sorted_copy(const struct hits *h, int (*cmp)(const void *, const void *),
            fhir_arena *a)
{
    struct hit *v = fhir_arena_alloc(a, (h->n + 1) * sizeof(*v));
    if (h->n > 0) {
        memcpy(v, h->v, h->n * sizeof(*v));
        qsort(v, h->n, sizeof(*v), cmp);
    }
    return v;
}

/* Appends to `out` the ids of x not in y (both sorted by rid). */
static size_t
minus(fhir_buf *out, const struct hit *x, size_t nx, const struct hit *y,
      size_t ny)
{
    size_t j = 0, n = 0;
    for (size_t i = 0; i < nx; i++) {
        while (j < ny && y[j].rid < x[i].rid) {
            j++;
        }
        if (j < ny && y[j].rid == x[i].rid) {
            continue;
        }
        fhir_buf_printf(out, " %s/%s", fhir_type_name(x[i].type), x[i].id);
        n++;
    }
    return n;
}

/* Compares the sets of two results; on a difference describes it. */
static int
same_set(fhir_buf *report, const char *what, const struct hits *s,
         const struct hits *m, fhir_arena *a)
{
    struct hit *x = sorted_copy(s, by_rid, a), *y = sorted_copy(m, by_rid, a);
    fhir_buf d = FHIR_BUF_INIT;
    fhir_buf_puts(&d, "\n    only in SQL:");
    size_t n = minus(&d, x, s->n, y, m->n);
    fhir_buf_puts(&d, "\n    only in memory:");
    n += minus(&d, y, m->n, x, s->n);
    if (n > 0) {
        fhir_buf_printf(report, "  %s: %zu SQL, %zu memory%s\n", what, s->n,
                        m->n, d.data);
    }
    fhir_buf_clear(&d);
    return n == 0;
}

static int
key_eq(const fhir_sqlval *a, const fhir_sqlval *b)
{
    int an = a->is_text && a->s == NULL, bn = b->is_text && b->s == NULL;
    if (an || bn) {
        return an == bn;
    }
    if (a->is_text != b->is_text) {
        return 0;
    }
    if (!a->is_text) {
        return a->i == b->i;
    }
    return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

static void
put_key(fhir_buf *b, const fhir_sqlval *v)
{
    if (v->is_text && v->s == NULL) {
        fhir_buf_puts(b, "NULL");
    } else if (v->is_text) {
        fhir_buf_printf(b, "'%.*s'", (int)v->len, v->s);
    } else {
        fhir_buf_printf(b, "%lld", (long long)v->i);
    }
}

/* The SQL order and keys against the in-memory sort of the same set. */
static int
same_order(fhir_buf *report, const search_plan *p, const struct hits *s,
           const struct hits *m, fhir_arena *a)
{
    cmp_plan = p;
    struct hit *y = sorted_copy(m, by_order, a);
    size_t nk = search_plan_nkeys(p);
    for (size_t i = 0; i < s->n && i < m->n; i++) {
        const struct hit *x = &s->v[i];
        int keys = 1;
        for (size_t k = 0; k < nk; k++) {
            keys &= key_eq(&x->keys[k], &y[i].keys[k]);
        }
        if (x->rid == y[i].rid && keys) {
            continue;
        }
        fhir_buf_printf(report, "  order: row %zu is %s (keys", i, x->id);
        for (size_t k = 0; k < nk; k++) {
            fhir_buf_putc(report, ' ');
            put_key(report, &x->keys[k]);
        }
        fhir_buf_printf(report, ") in SQL, %s (keys", y[i].id);
        for (size_t k = 0; k < nk; k++) {
            fhir_buf_putc(report, ' ');
            put_key(report, &y[i].keys[k]);
        }
        fhir_buf_puts(report, ") in memory\n");
        return 0;
    }
    /* the SQL's own order, by the plan's comparison */
    for (size_t i = 1; i < s->n; i++) {
        if (search_plan_order_cmp(p, s->v[i - 1].keys, s->v[i - 1].rid,
                                  s->v[i].keys, s->v[i].rid) >= 0) {
            fhir_buf_printf(report,
                            "  order: SQL rows %zu and %zu (%s, %s) "
                            "are out of the plan's order\n",
                            i - 1, i, s->v[i - 1].id, s->v[i].id);
            return 0;
        }
    }
    return 1;
}

/* Runs one search both ways; 0 and a report on any disagreement. With
 * `order`, also compares order and sort keys. */
static int
check_query(fhir_buf *report, const struct qcase *qc, int order)
{
    fhir_arena *a = fhir_arena_new();
    fhir_buf r = FHIR_BUF_INIT;
    const char *qs = fhir_arena_printf(a, "%s&_count=1000", expand(a, qc->qs));
    int ok = 1;

    /* As the server runs it: estimates choose the driving condition. */
    search_plan *p = plan_ok(a, qc->types, qs);
    prepare(p, 1);
    struct hits s, m;
    sql_hits(&s, p, a);
    memory_hits(&m, p, a);
    assert_true(s.n <= 1000);
    ok &= same_set(&r, "page SQL (estimated driver)", &s, &m, a);
    if (order && ok) {
        ok &= same_order(&r, p, &s, &m, a);
    }
    /* The count SQL counts the same set. */
    fhir_sql q = FHIR_SQL_INIT;
    search_plan_count_sql(p, &q);
    int64_t count = sql_int(&q);
    fhir_sql_clear(&q);
    if (count != (int64_t)m.n) {
        fhir_buf_printf(&r, "  count SQL %lld, memory %zu\n", (long long)count,
                        m.n);
        ok = 0;
    }
    /* Without estimates the first usable condition drives: same set. */
    search_plan *p2 = plan_ok(a, qc->types, qs);
    prepare(p2, 0);
    struct hits s2;
    sql_hits(&s2, p2, a);
    ok &= same_set(&r, "page SQL (first driver)", &s2, &m, a);
    /* And each other drivable condition in turn, by faking estimates. */
    for (size_t i = 0; i < search_plan_nconds(p2); i++) {
        search_plan *p3 = plan_ok(a, qc->types, qs);
        prepare(p3, 0);
        for (size_t j = 0; j < search_plan_nconds(p3); j++) {
            search_plan_set_estimate(p3, j, j == i ? 0 : 1000000);
        }
        struct hits s3;
        sql_hits(&s3, p3, a);
        ok &= same_set(
            &r, fhir_arena_printf(a, "page SQL (condition %zu drives)", i), &s3,
            &m, a);
    }
    /* The page the hot index picks: same rows, same order. */
    use_hot = 1;
    search_plan *p4 = plan_ok(a, qc->types, qs);
    prepare(p4, 1);
    use_hot = 0;
    struct hits s4;
    sql_hits(&s4, p4, a);
    ok &= same_set(&r, "page picked by the hot index", &s4, &m, a);
    if (order && ok) {
        ok &= same_order(&r, p4, &s4, &m, a);
    }
    int64_t known = 0;
    if (search_plan_count_known(p4, &known) && known != (int64_t)m.n) {
        fhir_buf_printf(&r, "  hot count %lld, memory %zu\n", (long long)known,
                        m.n);
        ok = 0;
    }
    if (!ok) {
        fhir_buf_printf(report, "%s?%s\n%s", qc->types, qs, r.data);
    }
    fhir_buf_clear(&r);
    fhir_arena_free(a);
    return ok;
}

static void
search_plan__sql_and_memory_find_the_same(void **state)
{
    (void)state;
    fhir_buf report = FHIR_BUF_INIT;
    size_t failed = 0, n = sizeof(queries) / sizeof(queries[0]);
    size_t nonempty = 0;
    for (size_t i = 0; i < n; i++) {
        failed += !check_query(&report, &queries[i], 0);
        /* the corpus must make queries meaningful */
        fhir_arena *a = fhir_arena_new();
        struct hits m;
        search_plan *p = plan_ok(
            a, queries[i].types,
            fhir_arena_printf(a, "%s&_count=1000", expand(a, queries[i].qs)));
        memory_hits(&m, p, a);
        nonempty += m.n > 0 && m.n < ncorpus;
        fhir_arena_free(a);
    }
    print_message("%zu searches, %zu with a proper non-empty result, %zu "
                  "disagree\n",
                  n, nonempty, failed);
    if (failed) {
        print_report(&report);
    }
    fhir_buf_clear(&report);
    assert_true(nonempty > n * 3 / 4);
    if (failed) {
        fail_msg("%zu searches: SQL and search_plan_match disagree", failed);
    }
}

static void
search_plan__sql_and_memory_order_alike(void **state)
{
    (void)state;
    fhir_buf report = FHIR_BUF_INIT;
    size_t failed = 0, sorted = 0;
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        /* unsorted results are in rid order: checked too */
        sorted += strstr(queries[i].qs, "_sort=") != NULL;
        failed += !check_query(&report, &queries[i], 1);
    }
    assert_true(sorted >= 20);
    /* the hot index must actually answer most of them */
    print_message("hot index used for %zu of %zu searches, %zu without "
                  "SQL's help\n",
                  hot_used, hot_runs, hot_all);
    assert_true(hot_used * 2 > hot_runs);
    assert_true(hot_all * 4 > hot_runs);
    if (failed) {
        print_report(&report);
    }
    fhir_buf_clear(&report);
    if (failed) {
        fail_msg("%zu searches: SQL and in-memory order disagree", failed);
    }
}

/* Pages through each sorted search with cursors, forwards then
 * backwards, and compares with the whole result's order. */
static void
search_plan__cursor_pages_cover_the_order(void **state)
{
    (void)state;
    fhir_buf report = FHIR_BUF_INIT;
    size_t failed = 0;
    /* Each search twice: pages from SQL, then pages the hot index picks. */
    for (size_t i = 0; i < 2 * (sizeof(queries) / sizeof(queries[0])); i++) {
        const struct qcase *qc = &queries[i / 2];
        use_hot = i % 2;
        if (strstr(qc->qs, "_sort=") == NULL) {
            continue;
        }
        fhir_arena *a = fhir_arena_new();
        const char *qs = expand(a, qc->qs);
        search_plan *all =
            plan_ok(a, qc->types, fhir_arena_printf(a, "%s&_count=1000", qs));
        prepare(all, 1);
        struct hits whole;
        sql_hits(&whole, all, a);
        /* forwards, 7 at a time */
        const char *cursor = NULL;
        size_t at = 0, pages = 0;
        int ok = 1;
        for (;;) {
            search_plan *p =
                plan_ok(a, qc->types,
                        cursor ? fhir_arena_printf(a, "%s&_count=7&_cursor=%s",
                                                   qs, cursor)
                               : fhir_arena_printf(a, "%s&_count=7", qs));
            prepare(p, 1);
            struct hits s;
            sql_hits(&s, p, a);
            size_t shown = s.n > 7 ? 7 : s.n, start = at;
            for (size_t k = 0; k < shown && ok; k++, at++) {
                if (at >= whole.n || s.v[k].rid != whole.v[at].rid) {
                    fhir_buf_printf(&report,
                                    "%s?%s: page %zu row %zu is %s, the "
                                    "whole result has %s there\n",
                                    qc->types, qs, pages, k, s.v[k].id,
                                    at < whole.n ? whole.v[at].id : "nothing");
                    ok = 0;
                }
                /* the in-memory cursor test agrees with the SQL's */
                if (cursor != NULL &&
                    !search_plan_past_cursor(p, s.v[k].keys, s.v[k].rid)) {
                    fhir_buf_printf(&report,
                                    "%s?%s: %s on page %zu is not past its "
                                    "cursor in memory\n",
                                    qc->types, qs, s.v[k].id, pages);
                    ok = 0;
                }
            }
            for (size_t k = 0; cursor != NULL && k < start && ok; k++) {
                if (search_plan_past_cursor(p, whole.v[k].keys,
                                            whole.v[k].rid)) {
                    fhir_buf_printf(&report,
                                    "%s?%s: %s of an earlier page is past "
                                    "the cursor of page %zu in memory\n",
                                    qc->types, qs, whole.v[k].id, pages);
                    ok = 0;
                }
            }
            pages++;
            if (!ok || s.n <= 7) {
                break;
            }
            cursor = search_plan_cursor(p, s.v[6].keys, s.v[6].rid, 0, a);
        }
        if (ok && at != whole.n) {
            fhir_buf_printf(&report, "%s?%s: pages hold %zu of %zu rows\n",
                            qc->types, qs, at, whole.n);
            ok = 0;
        }
        /* backwards from the end: the page before the last 3 rows */
        if (ok && whole.n > 10) {
            search_plan *p0 = plan_ok(
                a, qc->types, fhir_arena_printf(a, "%s&_count=1000", qs));
            prepare(p0, 1);
            const struct hit *h = &whole.v[whole.n - 3];
            const char *bc = search_plan_cursor(p0, h->keys, h->rid, 1, a);
            search_plan *p =
                plan_ok(a, qc->types,
                        fhir_arena_printf(a, "%s&_count=5&_cursor=%s", qs, bc));
            prepare(p, 1);
            assert_true(search_plan_backwards(p));
            struct hits s;
            sql_hits(&s, p, a);
            /* rows come last-first: n-4, n-5, ... */
            for (size_t k = 0; k < 5 && ok; k++) {
                if (k >= s.n || s.v[k].rid != whole.v[whole.n - 4 - k].rid) {
                    fhir_buf_printf(&report,
                                    "%s?%s: paging back, row %zu is %s, "
                                    "want %s\n",
                                    qc->types, qs, k,
                                    k < s.n ? s.v[k].id : "nothing",
                                    whole.v[whole.n - 4 - k].id);
                    ok = 0;
                }
            }
        }
        failed += !ok;
        fhir_arena_free(a);
    }
    use_hot = 0;
    if (failed) {
        print_report(&report);
    }
    fhir_buf_clear(&report);
    if (failed) {
        fail_msg("%zu sorted searches page wrongly", failed);
    }
}

/* ---- estimates and known counts ------------------------------------- */

/* Single-value token and reference searches for every value of these
 * parameters in the corpus. */
static const struct {
    const char *type, *code;
} counted[] = {
    {"Task", "status"},
    {"Task", "priority"},
    {"Task", "code"},
    {"Task", "identifier"},
    {"Task", "performer"},
    {"Task", "_tag"},
    {"Task", "owner"},
    {"Task", "subject"},
    {"Task", "part-of"},
    {"Task", "based-on"},
    {"Task", "focus"},
    {"Patient", "gender"},
    {"Patient", "identifier"},
    {"Patient", "active"},
    {"Patient", "general-practitioner"},
    {"Patient", "_tag"},
    {"Patient", "email"},
    {"Patient", "address-use"},
    {"Practitioner", "gender"},
    {"Practitioner", "identifier"},
    {"Practitioner", "communication"},
    {"Practitioner", "_tag"},
    {"ServiceRequest", "status"},
    {"ServiceRequest", "subject"},
    {"ServiceRequest", "performer"},
    {"ServiceRequest", "category"},
    {"ServiceRequest", "requester"},
    {"ServiceRequest", "instantiates-canonical"},
};

static int
has_query(const struct qcase *v, size_t n, const struct qcase *q)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].types, q->types) == 0 && strcmp(v[i].qs, q->qs) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The generated searches, from `a`. */
static size_t
counted_queries(struct qcase **out, fhir_arena *a)
{
    size_t cap = 4096, n = 0;
    struct qcase *v = fhir_arena_alloc(a, cap * sizeof(*v));
    for (size_t k = 0; k < sizeof(counted) / sizeof(counted[0]); k++) {
        int type = fhir_type_find(counted[k].type), unsupported = 0;
        const search_param *p =
            search_param_find(reg, type, counted[k].code, &unsupported);
        assert_non_null(p);
        for (size_t i = 0; i < ncorpus; i++) {
            if (corpus[i].type != type) {
                continue;
            }
            for (size_t j = 0; j < corpus[i].rows.n; j++) {
                const fhir_row *r = &corpus[i].rows.rows[j];
                struct qcase q[2] = {{counted[k].type, NULL},
                                     {counted[k].type, NULL}};
                if (r->param != search_param_num(p)) {
                    continue;
                }
                if (r->kind == FHIR_ROW_TOKEN && r->sys[0] != '\x01') {
                    q[0].qs = fhir_arena_printf(
                        a, "%s=%s%%7C%s", counted[k].code,
                        pct(a, esc(a, r->sys)), pct(a, esc(a, r->code)));
                }
                if (r->kind == FHIR_ROW_TOKEN &&
                    search_param_type(p) == SEARCH_TYPE_TOKEN) {
                    q[1].qs = fhir_arena_printf(a, "%s=%s", counted[k].code,
                                                pct(a, esc(a, r->code)));
                }
                if (r->kind == FHIR_ROW_REF) {
                    q[1].qs = fhir_arena_printf(a, "%s=%s", counted[k].code,
                                                pct(a, esc(a, r->code)));
                }
                for (int m = 0; m < 2; m++) {
                    if (q[m].qs != NULL &&
                        search_param_type(p) == SEARCH_TYPE_REFERENCE &&
                        r->kind == FHIR_ROW_TOKEN) {
                        continue; /* :identifier rows are not counted */
                    }
                    if (q[m].qs != NULL && !has_query(v, n, &q[m])) {
                        assert_true(n < cap);
                        v[n++] = q[m];
                    }
                }
            }
        }
    }
    *out = v;
    return n;
}

/* The number of corpus resources a plan accepts. */
static int64_t
true_count(const search_plan *p)
{
    int64_t n = 0;
    for (size_t i = 0; i < ncorpus; i++) {
        n += plan_holds(p, &corpus[i]);
    }
    return n;
}

/* The server leaves a search to SQL when a plain positive condition is
 * known to match few: not for a negated, a missing, a chained condition,
 * nor before the estimates are known. */
static void
search_plan__small_driver(void **state)
{
    (void)state;
    fhir_arena *a = fhir_arena_new();
    search_plan *p = plan_ok(a, "Task", "part-of=Task/1&status=ready");
    assert_int_equal(search_plan_small_driver(p, 64), 0); /* not estimated */
    search_plan_set_estimate(p, 0, 3);
    search_plan_set_estimate(p, 1, 5000);
    assert_int_equal(search_plan_small_driver(p, 64), 1);
    assert_int_equal(search_plan_small_driver(p, 2), 0);
    search_plan_set_estimate(p, 0, 65);
    assert_int_equal(search_plan_small_driver(p, 64), 0);
    p = plan_ok(a, "Task", "status:not=ready");
    search_plan_set_estimate(p, 0, 1);
    assert_int_equal(search_plan_small_driver(p, 64), 0);
    p = plan_ok(a, "Task", "owner:missing=true");
    search_plan_set_estimate(p, 0, 1);
    assert_int_equal(search_plan_small_driver(p, 64), 0);
    p = plan_ok(a, "Task", "patient.name=x");
    search_plan_set_estimate(p, 0, 1);
    assert_int_equal(search_plan_small_driver(p, 64), 0);
    fhir_arena_free(a);
}

static void
search_plan__single_value_estimates_are_exact(void **state)
{
    (void)state;
    fhir_arena *a = fhir_arena_new();
    fhir_buf report = FHIR_BUF_INIT;
    struct qcase *v = NULL;
    size_t n = counted_queries(&v, a), failed = 0;
    for (size_t i = 0; i < n; i++) {
        search_plan *p = plan_ok(a, v[i].types, v[i].qs);
        fhir_sql q = FHIR_SQL_INIT;
        assert_int_equal(search_plan_nconds(p), 1);
        assert_int_equal(search_plan_estimate_sql(p, 0, &q), 1);
        int64_t est = sql_int(&q), want = true_count(p);
        fhir_sql_clear(&q);
        if (est != want) {
            fhir_buf_printf(&report, "  %s?%s: estimate %lld, %lld match\n",
                            v[i].types, v[i].qs, (long long)est,
                            (long long)want);
            failed++;
        }
    }
    print_message("%zu single-value searches, %zu estimates wrong\n", n,
                  failed);
    assert_true(n > 100);
    if (failed) {
        print_report(&report);
    }
    fhir_buf_clear(&report);
    fhir_arena_free(a);
    if (failed) {
        fail_msg("%zu single-value estimates differ from the true count",
                 failed);
    }
}

/* search_plan_count_known() says the count is exact: it must be. */
static int
check_count_known(fhir_buf *report, const struct qcase *qc, size_t *known)
{
    fhir_arena *a = fhir_arena_new();
    search_plan *p = plan_ok(a, qc->types, expand(a, qc->qs));
    int64_t n = -1;
    int ok = 1;
    prepare(p, 1);
    if (search_plan_count_known(p, &n)) {
        fhir_sql q = FHIR_SQL_INIT;
        search_plan_count_sql(p, &q);
        int64_t c = sql_int(&q);
        fhir_sql_clear(&q);
        (*known)++;
        if (n != c) {
            fhir_buf_printf(report,
                            "  %s?%s: count known %lld, count SQL "
                            "%lld\n",
                            qc->types, qc->qs, (long long)n, (long long)c);
            ok = 0;
        }
    }
    fhir_arena_free(a);
    return ok;
}

static void
search_plan__count_known_agrees_with_count_sql(void **state)
{
    (void)state;
    fhir_arena *a = fhir_arena_new();
    fhir_buf report = FHIR_BUF_INIT;
    struct qcase *v = NULL;
    size_t n = counted_queries(&v, a), failed = 0, known = 0;
    static const struct qcase more[] = {
        {"Task", ""},
        {"Patient", "_count=3"},
        {"Patient,Practitioner", "_sort=family"},
    };
    for (size_t i = 0; i < n; i++) {
        failed += !check_count_known(&report, &v[i], &known);
    }
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        failed += !check_count_known(&report, &queries[i], &known);
    }
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
        failed += !check_count_known(&report, &more[i], &known);
    }
    print_message("%zu searches with a known count, %zu wrong\n", known,
                  failed);
    assert_true(known > 100);
    if (failed) {
        print_report(&report);
    }
    fhir_buf_clear(&report);
    fhir_arena_free(a);
    if (failed) {
        fail_msg("%zu known counts differ from the count SQL", failed);
    }
}

/* Counts that may hold a resource more than once are estimates, never
 * a known total: a system without a code (a resource can have two codes
 * of it) and ORed values (which can overlap). */
static void
search_plan__count_known_only_when_exact(void **state)
{
    (void)state;
    static const struct qcase cases[] = {
        {"Task", "_tag=http%3A%2F%2Ft%7C"},
        {"Task", "code=http%3A%2F%2Fsnomed.info%2Fsct%7C"},
        {"Task", "_tag=vip,http%3A%2F%2Fother%7Cvip"},
        {"Patient,Practitioner", "gender=female,male"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fhir_arena *a = fhir_arena_new();
        search_plan *p = plan_ok(a, cases[i].types, cases[i].qs);
        int64_t n = -1;
        prepare(p, 1);
        if (search_plan_count_known(p, &n)) {
            fail_msg("%s?%s: count %lld claimed exact", cases[i].types,
                     cases[i].qs, (long long)n);
        }
        fhir_arena_free(a);
    }
}

/* ---- chains and _has ------------------------------------------------- */

/* 1 when plan p has a chained or _has condition. */
static int
has_links(const search_plan *p)
{
    for (size_t i = 0; i < p->nconds; i++) {
        if (p->conds[i].link != SEARCH_LINK_NONE) {
            return 1;
        }
    }
    return 0;
}

/* Conditions on other resources keep no counts. One whose last condition
 * is served by a value index can drive (the differential cases make each
 * drive in turn): alone without an estimate, beside other candidates by
 * a count through its references, bounded like other probes. The others
 * only filter. The sets never judge them, and no count that claims to be
 * exact is taken while a plan has one. */
static void
search_plan__links_filter_and_never_count(void **state)
{
    (void)state;
    size_t n = 0, probed = 0, driven = 0;
    for (size_t k = 0; k < sizeof(queries) / sizeof(queries[0]); k++) {
        fhir_arena *a = fhir_arena_new();
        search_plan *p = plan_ok(a, queries[k].types, expand(a, queries[k].qs));
        if (!has_links(p)) {
            fhir_arena_free(a);
            continue;
        }
        n++;
        int own = 0;
        for (size_t i = 0; i < search_plan_nconds(p); i++) {
            fhir_sql q = FHIR_SQL_INIT;
            if (p->conds[i].link == SEARCH_LINK_NONE) {
                own = 1;
                continue;
            }
            if (search_plan_estimate_sql(p, i, &q) &&
                strncmp(q.text.data, "SELECT count(*) FROM (", 22) != 0) {
                /* A lone _has: the kept count of its inner condition
                 * (which decides scanning against driving). */
                assert_int_equal(p->conds[i].link, SEARCH_LINK_HAS);
                assert_true(sql_int(&q) >= 0);
            } else if (q.text.len > 0) {
                assert_int_equal(q.vals[q.n - 1].i, 10001);
                assert_true(sql_int(&q) <= 10001);
                probed++;
            } else {
                assert_int_equal(q.text.len, 0);
            }
            fhir_sql_clear(&q);
        }
        /* the sets are asked for the plan's own parameters only */
        int params[32];
        search_type kinds[32];
        if (!own && p->nsort == 0) {
            assert_int_equal(search_plan_hot_needs(p, params, kinds, 32), 0);
        }
        use_hot = 1;
        prepare(p, 1);
        use_hot = 0;
        int64_t c = -1;
        if (search_plan_count_known(p, &c) || p->hot_count != -1) {
            fail_msg("%s?%s: a count (%lld, sets %lld) claimed exact",
                     queries[k].types, queries[k].qs, (long long)c,
                     (long long)p->hot_count);
        }
        fhir_sql q = FHIR_SQL_INIT;
        search_plan_page_sql(p, &q);
        driven +=
            strstr(q.text.data, "FROM (SELECT DISTINCT rid FROM (") != NULL;
        fhir_sql_clear(&q);
        fhir_arena_free(a);
    }
    print_message("%zu searches with chains or _has: %zu probed, %zu driven "
                  "by one\n",
                  n, probed, driven);
    assert_true(n >= 40 && probed >= 5 && driven >= 20 && driven < n);
}

/* search_plan_match_sql() on each corpus resource search_plan_match()
 * accepts must agree with following the references in memory. */
static void
search_plan__match_sql_judges_links(void **state)
{
    (void)state;
    fhir_buf report = FHIR_BUF_INIT;
    size_t judged = 0, yes = 0, failed = 0;
    for (size_t k = 0; k < sizeof(queries) / sizeof(queries[0]); k++) {
        fhir_arena *a = fhir_arena_new();
        search_plan *p = plan_ok(a, queries[k].types, expand(a, queries[k].qs));
        fhir_sql q = FHIR_SQL_INIT;
        if (!has_links(p)) {
            /* nothing for SQL to judge: out stays empty */
            assert_int_equal(
                search_plan_match_sql(p, &corpus[0].rows, corpus[0].id, &q), 0);
            assert_int_equal(q.text.len, 0);
            fhir_arena_free(a);
            continue;
        }
        for (size_t i = 0; i < ncorpus; i++) {
            const struct res *r = &corpus[i];
            if (!type_searched(p, r->type) ||
                !search_plan_match(p, &r->rows, r->id, r->hid)) {
                continue;
            }
            assert_int_equal(search_plan_match_sql(p, &r->rows, r->id, &q), 1);
            int64_t got = sql_int(&q);
            fhir_sql_clear(&q);
            int want = plan_holds(p, r);
            judged++;
            yes += want;
            if (got != want) {
                fhir_buf_printf(&report, "  %s?%s: %s/%s SQL %lld, memory %d\n",
                                queries[k].types, queries[k].qs,
                                fhir_type_name(r->type), r->id, (long long)got,
                                want);
                failed++;
            }
        }
        fhir_arena_free(a);
    }
    print_message("%zu versions judged by search_plan_match_sql, %zu match, "
                  "%zu wrong\n",
                  judged, yes, failed);
    if (failed) {
        print_report(&report);
    }
    fhir_buf_clear(&report);
    assert_true(judged > 1000 && yes > 100 && judged - yes > 100);
    if (failed) {
        fail_msg("%zu versions judged differently by SQL and memory", failed);
    }
}

/* A resource written since the snapshot, as server/search.c judges it:
 * its version then is indexed, search_plan_match() and, for chains and
 * _has, search_plan_match_sql() decide, then the cursor. */
static int
changed_row(void *ctx, const store_row *row)
{
    struct hits *h = ctx;
    size_t len = 0;
    const char *old = store_row_text(row, 3, &len);
    int type = store_type_of_code(env, (int)store_row_int(row, 2));
    fhir_err err = FHIR_ERR_INIT;
    fhir_json_opts jo = {256, 0};
    fhir_rows rows = {NULL, 0, 0};
    cJSON *res = NULL;
    if (old == NULL) {
        return 0; /* deleted at the snapshot */
    }
    assert_int_equal(fhir_json_parse(&res, old, len, &jo, &err), 0);
    search_index(&rows, reg, type, res, h->a);
    cJSON_Delete(res);
    const char *id = fhir_arena_strdup(h->a, store_row_text(row, 1, NULL));
    int64_t rid = store_row_int(row, 0), hid = store_row_int(row, 4);
    fhir_sql q = FHIR_SQL_INIT;
    int ok =
        search_plan_match(h->plan, &rows, id, hid) &&
        (!search_plan_match_sql(h->plan, &rows, id, &q) || sql_int(&q) == 1);
    fhir_sql_clear(&q);
    if (!ok) {
        return 0;
    }
    struct hit *x = hit_add(h);
    x->rid = rid;
    x->type = type;
    x->id = id;
    search_plan_keys(h->plan, &rows, id, hid, x->keys);
    if (!search_plan_past_cursor(h->plan, x->keys, rid)) {
        h->n--;
    }
    return 0;
}

/* One page's rows as server/search.c gathers them, in result order: the
 * page SQL's, and those changed since the snapshot. */
static void
server_rows(struct hits *h, search_plan *p, fhir_arena *a)
{
    fhir_sql q = FHIR_SQL_INIT;
    fhir_err err = FHIR_ERR_INIT;
    sql_hits(h, p, a);
    if (search_plan_changed_sql(p, &q) &&
        store_query(db, &q, changed_row, h, &err) != 0) {
        fail_msg("changed SQL failed: %s", err.diag);
    }
    fhir_sql_clear(&q);
    cmp_plan = p;
    qsort(h->v, h->n, sizeof(*h->v), by_order);
}

static void
put_json(const char *type, const char *id, const char *json)
{
    cJSON *res = cJSON_Parse(json);
    assert_non_null(res);
    put(type, id, res);
}

/* The ids of pages 2, 3, ... of Type?qs (page size `count`) after the
 * cursor `cursor` of page 1, each page planned as the server does. */
static char *
later_pages(fhir_arena *a, const char *type, const char *qs, int count,
            const char *cursor)
{
    fhir_buf ids = FHIR_BUF_INIT;
    for (int page = 0; cursor != NULL; page++) {
        assert_true(page < 50);
        search_plan *p =
            plan_ok(a, type, fhir_arena_printf(a, "%s&_cursor=%s", qs, cursor));
        prepare(p, 1);
        struct hits h;
        server_rows(&h, p, a);
        size_t shown = h.n > (size_t)count ? (size_t)count : h.n;
        for (size_t i = 0; i < shown; i++) {
            fhir_buf_printf(&ids, "%s%s", ids.len ? " " : "", h.v[i].id);
        }
        cursor = h.n > shown ? search_plan_cursor(p, h.v[shown - 1].keys,
                                                  h.v[shown - 1].rid, 0, a)
                             : NULL;
    }
    const char *s = fhir_arena_strdup(a, ids.data ? ids.data : "");
    fhir_buf_clear(&ids);
    return (char *)s;
}

/* Page 1 of Type?qs: its ids must be `want`; returns its next cursor. */
static const char *
first_page(fhir_arena *a, const char *type, const char *qs, int count,
           const char *want)
{
    search_plan *p = plan_ok(a, type, qs);
    prepare(p, 1);
    struct hits h;
    server_rows(&h, p, a);
    fhir_buf ids = FHIR_BUF_INIT;
    for (size_t i = 0; i < h.n && i < (size_t)count; i++) {
        fhir_buf_printf(&ids, "%s%s", ids.len ? " " : "", h.v[i].id);
    }
    assert_string_equal(ids.data ? ids.data : "", want);
    fhir_buf_clear(&ids);
    assert_true(h.n > (size_t)count);
    return search_plan_cursor(p, h.v[count - 1].keys, h.v[count - 1].rid, 0, a);
}

#define CP_PRAC(family)                                                        \
    "{\"resourceType\":\"Practitioner\",\"name\":[{\"family\":\"" family "\"}" \
    "]}"
#define CP_TASK(status, owner, patient)                                        \
    "{\"resourceType\":\"Task\",\"status\":\"" status "\",\"intent\":"         \
    "\"order\",\"owner\":{\"reference\":\"" owner "\"},\"for\":"               \
    "{\"reference\":\"" patient "\"}}"
#define CP_PAT                                                                 \
    "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Haspage\"}]}"

/* Stable paging (R4 search.html#paging) with chains and _has: a resource
 * changed after page 1 counts as it was at the snapshot - its own
 * references then, judged by SQL - while the resources a chain or _has
 * leads to are read as they are when each page is. */
static void
search_plan__paging_judges_changed_links(void **state)
{
    (void)state;
    static const char *const tasks[][2] = {
        {"cp-t0", "Practitioner/cp-a"}, {"cp-t1", "Practitioner/cp-a"},
        {"cp-t2", "Practitioner/cp-a"}, {"cp-t3", "Practitioner/cp-b"},
        {"cp-t4", "Practitioner/cp-a"}, {"cp-t5", "Practitioner/cp-b"},
    };
    char body[512];
    put_json("Practitioner", "cp-a", CP_PRAC("Chainpage"));
    put_json("Practitioner", "cp-b", CP_PRAC("Otherpage"));
    static const char *const pats[] = {"cp-pat1", "cp-pat2", "cp-pat3",
                                       "cp-pat4"};
    for (size_t i = 0; i < 4; i++) {
        put_json("Patient", pats[i], CP_PAT);
    }
    for (size_t i = 0; i < 6; i++) {
        snprintf(body, sizeof(body), CP_TASK("ready", "%s", "Patient/cp-pat2"),
                 tasks[i][1]);
        put_json("Task", tasks[i][0], body);
    }
    put_json("Task", "cp-h1",
             CP_TASK("requested", "Practitioner/cp-b", "Patient/cp-pat1"));
    put_json("Task", "cp-h2",
             CP_TASK("requested", "Practitioner/cp-b", "Patient/cp-pat3"));

    for (int hot = 0; hot < 2; hot++) {
        fhir_arena *a = fhir_arena_new();
        use_hot = hot;
        /* A chain: at page 1 cp-t0 t1 t2 t4 match. */
        const char *qs = "owner:Practitioner.family=chainpage&_count=2";
        const char *cur = first_page(a, "Task", qs, 2, "cp-t0 cp-t1");
        /* cp-t2 leaves (still in: it matched then), cp-t3 comes (not:
         * it did not), cp-t4 changes otherwise, cp-t6 is new. */
        put_json("Task", "cp-t2",
                 CP_TASK("ready", "Practitioner/cp-b", "Patient/cp-pat2"));
        put_json("Task", "cp-t3",
                 CP_TASK("ready", "Practitioner/cp-a", "Patient/cp-pat2"));
        put_json("Task", "cp-t4",
                 CP_TASK("on-hold", "Practitioner/cp-a", "Patient/cp-pat2"));
        put_json("Task", "cp-t6",
                 CP_TASK("ready", "Practitioner/cp-a", "Patient/cp-pat2"));
        assert_string_equal(later_pages(a, "Task", qs, 2, cur), "cp-t2 cp-t4");
        /* _has: at page 1 cp-pat1 and cp-pat3 match. */
        qs = "_has:Task:patient:status=requested&family=haspage&_count=1";
        cur = first_page(a, "Patient", qs, 1, "cp-pat1");
        /* cp-pat2 and cp-pat3 are written again (judged by their ids:
         * pat2 still has no requested Task), and a requested Task for
         * cp-pat4 appears: the page reads Tasks as they are now. */
        put_json("Patient", "cp-pat2", CP_PAT);
        put_json("Patient", "cp-pat3", CP_PAT);
        put_json("Task", "cp-h3",
                 CP_TASK("requested", "Practitioner/cp-b", "Patient/cp-pat4"));
        assert_string_equal(later_pages(a, "Patient", qs, 1, cur),
                            "cp-pat3 cp-pat4");
        /* back as before for the second round */
        for (size_t i = 2; i < 5; i++) {
            snprintf(body, sizeof(body),
                     CP_TASK("ready", "%s", "Patient/cp-pat2"), tasks[i][1]);
            put_json("Task", tasks[i][0], body);
        }
        del("Task", "cp-t6");
        del("Task", "cp-h3");
        fhir_arena_free(a);
    }
    use_hot = 0;
    static const char *const gone[][2] = {
        {"Practitioner", "cp-a"}, {"Practitioner", "cp-b"},
        {"Patient", "cp-pat1"},   {"Patient", "cp-pat2"},
        {"Patient", "cp-pat3"},   {"Patient", "cp-pat4"},
        {"Task", "cp-t0"},        {"Task", "cp-t1"},
        {"Task", "cp-t2"},        {"Task", "cp-t3"},
        {"Task", "cp-t4"},        {"Task", "cp-t5"},
        {"Task", "cp-h1"},        {"Task", "cp-h2"},
    };
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        del(gone[i][0], gone[i][1]);
    }
}

/* ---- fixture -------------------------------------------------------- */

static int
setup(void **state)
{
    (void)state;
    char defs[512];
    fhir_err err = FHIR_ERR_INIT;
    store_opts o = STORE_OPTS_INIT;
    snprintf(defs, sizeof(defs), "%s/profiles/definitions", root());
    if (search_registry_load(&reg, defs, &err) != 0) {
        fprintf(stderr, "registry: %s\n", err.diag);
        return -1;
    }
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/fhir-plan-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        return -1;
    }
    snprintf(dbpath, sizeof(dbpath), "%s/t.db", tmpdir);
    o.path = dbpath;
    o.synchronous_full = 0;
    if (store_env_open(&env, &o, &err) != 0) {
        fprintf(stderr, "store: %s\n", err.diag);
        return -1;
    }
    for (size_t i = 0; i < search_registry_count(reg); i++) {
        const search_param *p = search_registry_at(reg, i);
        int num;
        if (search_param_indexed(p)) {
            if (store_param_num(&num, env, search_param_key(p), &err) != 0) {
                return -1;
            }
            search_param_set_num(reg, i, num);
        }
        if (strcmp(search_param_key(p), "Task-priority") == 0) {
            search_param_set_order(reg, i, priority_order, 4);
        }
    }
    if (store_db_open(&db, env, &err) != 0) {
        return -1;
    }
    write_corpus();
    load_corpus();
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    char p[200];
    const char *sfx[] = {"", "-wal", "-shm"};
    store_db_close(db);
    store_env_close(env);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", dbpath, sfx[i]);
        unlink(p);
    }
    rmdir(tmpdir);
    fhir_arena_free(corpus_arena);
    search_registry_free(reg);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(search_plan__parse_errors),
        cmocka_unit_test(search_plan__lenient_handling_warns),
        cmocka_unit_test(search_plan__value_escapes),
        cmocka_unit_test(search_plan__too_many_values),
        cmocka_unit_test(search_plan__sql_text_never_holds_values),
        cmocka_unit_test(search_plan__hostile_names_are_only_warned_about),
        cmocka_unit_test(search_plan__sql_and_memory_find_the_same),
        cmocka_unit_test(search_plan__sql_and_memory_order_alike),
        cmocka_unit_test(search_plan__cursor_pages_cover_the_order),
        cmocka_unit_test(search_plan__single_value_estimates_are_exact),
        cmocka_unit_test(search_plan__small_driver),
        cmocka_unit_test(search_plan__count_known_agrees_with_count_sql),
        cmocka_unit_test(search_plan__count_known_only_when_exact),
        cmocka_unit_test(search_plan__links_filter_and_never_count),
        cmocka_unit_test(search_plan__match_sql_judges_links),
        /* writes and deletes: last */
        cmocka_unit_test(search_plan__paging_judges_changed_links),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
