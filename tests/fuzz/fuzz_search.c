/* tests/fuzz/fuzz_search.c - fuzz target for search: a query string is
 * split and decoded (search/query.c), planned against the registry
 * (search/plan.c) and turned into every SQL text a search runs (page,
 * count, estimates, type count, snapshot, changed rows, chain and _has
 * checks, and those of _include / _revinclude, search/include.c), which
 * must prepare and run on an empty store.
 *
 * Input: "Types?query", Types a comma list of served types ("" for a
 * system search over all of them); without a '?' led by such a list the
 * whole input is a query on Task.
 *
 * The property that matters is STYLE.md section 6: no request byte is ever
 * spliced into SQL text; values travel as bound parameters. Parameter
 * NAMES legitimately choose the SQL's shape (which index table, which
 * join, sort order), and so do a few value features: a date prefix (ge,
 * lt, ...), :missing's true/false, the structure of a value (its '|', ',',
 * '/', escapes, length, which characters are letters or digits), a
 * resource type or scheme named in a reference, this server's base URL.
 * So each run plans the query twice: as given, and with every value
 * rewritten by an involution that changes letters and digits but keeps
 * those features: letters rot13 (except t g z m e r in either case, kept
 * for dates' T and Z and numbers' e, and closed under rot13 and case so
 * that case folding commutes with it), digits d -> d^1 (0<->1, 2<->3,
 * ...), with prefixes, keywords (served types, true, false, http, https,
 * urn, uuid, oid, history, and whatever rot13s to one of them) and the
 * base URL left alone. Values of result parameters (_sort, _count,
 * _cursor, ...) are left alone too: they name parameters and modes. When
 * both plan, every SQL text must be byte-identical and bind as many
 * values. A spliced value byte would show as a difference (a changed
 * letter or digit) unless it is one the rewrite keeps, which the second
 * check covers: SQL text is ASCII without control characters besides
 * newline, has no quote except those of the constant ESCAPE '\' clause,
 * no ';', "--" or comment, and exactly one '?' per bound value. Bound
 * text values are read in full, so ASan sees one that does not outlive
 * its query.
 */
#include "tests/fuzz/fuzz.h"
#include "search/search.h"
#include "server/server_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static store_db *db;

/* Result parameters: their values name parameters or modes. */
static const char *const result_params[] = {
    "_count",      "_sort",      "_total",        "_summary", "_elements",
    "_cursor",     "_type",      "_format",       "_pretty",  "_include",
    "_revinclude", "_contained", "_containedType"};

static int
is_result_param(const char *name)
{
    size_t n = strcspn(name, ":");
    for (size_t i = 0; i < sizeof(result_params) / sizeof(result_params[0]);
         i++) {
        if (strlen(result_params[i]) == n &&
            strncmp(name, result_params[i], n) == 0) {
            return 1;
        }
    }
    return 0;
}

static char
map_char(char c)
{
    if (c >= '0' && c <= '9') {
        return (char)('0' + ((c - '0') ^ 1));
    }
    if (strchr("tgzmerTGZMER", c) != NULL) {
        return c;
    }
    if (c >= 'a' && c <= 'z') {
        return (char)('a' + (c - 'a' + 13) % 26);
    }
    if (c >= 'A' && c <= 'Z') {
        return (char)('A' + (c - 'A' + 13) % 26);
    }
    return c;
}

static int
is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

static int
is_keyword(const char *s, size_t n)
{
    static const char *const words[] = {"true", "false", "http", "https",
                                        "urn",  "uuid",  "oid",  "history"};
    char w[32];
    for (int mapped = 0; mapped < 2; mapped++) {
        if (n >= sizeof(w)) {
            return 0;
        }
        for (size_t i = 0; i < n; i++) {
            w[i] = mapped ? map_char(s[i]) : s[i];
        }
        w[n] = '\0';
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
            if (strcmp(w, words[i]) == 0) {
                return 1;
            }
        }
        if (fhir_type_find(w) >= 0) {
            return 1;
        }
    }
    return 0;
}

/* A date prefix, or what the rewrite makes of one, at a value's start. */
static int
is_prefix(const char *s)
{
    static const char *const pfx[] = {"eq", "ne", "gt", "lt", "ge",
                                      "le", "sa", "eb", "ap"};
    for (size_t i = 0; i < sizeof(pfx) / sizeof(pfx[0]); i++) {
        char m[3] = {map_char(pfx[i][0]), map_char(pfx[i][1]), '\0'};
        if (strncmp(s, pfx[i], 2) == 0 || strncmp(s, m, 2) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The rewritten value (see the file comment); from a. */
static char *
rewrite(fhir_arena *a, const char *v)
{
    size_t n = strlen(v), bl = strlen(FUZZ_BASE);
    char *out = fhir_arena_strdup(a, v);
    int piece_start = 1;
    for (size_t i = 0; i < n;) {
        if (strncasecmp(v + i, FUZZ_BASE, bl) == 0) {
            i += bl;
            piece_start = 0;
            continue;
        }
        if (!is_alnum(v[i])) {
            /* ',' ORs values, '|' splits tokens; an escaped one does not,
             * but treating it as a start only keeps more bytes. */
            piece_start = v[i] == ',' || v[i] == '|';
            i++;
            continue;
        }
        size_t run = i;
        while (run < n && is_alnum(v[run])) {
            run++;
        }
        size_t from = i;
        if (piece_start && run - i >= 2 && is_prefix(v + i)) {
            from = i + 2;
        }
        if (!is_keyword(v + i, run - i)) {
            for (size_t k = from; k < run; k++) {
                out[k] = map_char(v[k]);
            }
        }
        piece_start = 0;
        i = run;
    }
    return out;
}

static uint64_t
names_hash(const search_query *q)
{
    uint64_t h = FHIR_HASH_SEED;
    for (size_t i = 0; i < q->n; i++) {
        h = fhir_hash(h, q->params[i].name, strlen(q->params[i].name) + 1);
    }
    return h;
}

/* Every SQL of a planned search, one after another; the estimates and
 * sizes the planner chooses by come from the parameter names only. */
static void
all_sql(fhir_sql *out, search_plan *p, uint64_t seed)
{
    fhir_rows rows = {NULL, 0, 0};
    search_plan_type_count_sql(p, out);
    search_plan_set_type_count(p, (int64_t)(seed % 100000));
    fhir_sql_add(out, "\n");
    search_plan_snapshot_sql(p, out);
    search_plan_set_snapshot(p, 1767225600000000LL);
    for (size_t i = 0; i < search_plan_nconds(p); i++) {
        fhir_sql_add(out, "\n");
        if (search_plan_estimate_sql(p, i, out)) {
            search_plan_set_estimate(p, i,
                                     (int64_t)((seed >> (i % 48)) % 5000));
        }
    }
    fhir_sql_add(out, "\n");
    search_plan_page_sql(p, out);
    fhir_sql_add(out, "\n");
    search_plan_count_sql(p, out);
    fhir_sql_add(out, "\n");
    (void)search_plan_changed_sql(p, out);
    fhir_sql_add(out, "\n");
    (void)search_plan_match_sql(p, &rows, "x", out);
}

/* SQL text made of constant fragments only (see the file comment). */
static void
check_text(const fhir_sql *q, const char *what)
{
    const char *t = q->text.data ? q->text.data : "";
    size_t quotes = 0, escapes = 0, marks = 0;
    for (const char *p = t; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x7f || (c < ' ' && c != '\n')) {
            fuzz_fail("%s: byte 0x%02x in SQL text:\n%s", what, c, t);
        }
        quotes += c == '\'';
        marks += c == '?';
    }
    for (const char *p = t; (p = strstr(p, "ESCAPE '\\'")) != NULL; p++) {
        escapes++;
    }
    if (strlen(t) != q->text.len || quotes != 2 * escapes ||
        strchr(t, ';') != NULL || strstr(t, "--") != NULL ||
        strstr(t, "/*") != NULL || marks != q->n) {
        fuzz_fail("%s: SQL text is not made of constant fragments (%zu "
                  "marks, %zu values):\n%s",
                  what, marks, q->n, t);
    }
    /* Read every bound byte: ASan catches one freed too early. */
    uint64_t h = FHIR_HASH_SEED;
    for (size_t i = 0; i < q->n; i++) {
        if (q->vals[i].is_text) {
            h = fhir_hash(h, q->vals[i].s, q->vals[i].len);
        }
    }
    (void)h;
}

static int
ignore_row(void *ctx, const store_row *row)
{
    (void)ctx;
    (void)row;
    return 0;
}

/* The page and count SQL must prepare, bind and run. */
static void
run_sql(search_plan *p)
{
    fhir_sql q = FHIR_SQL_INIT;
    fhir_err err = FHIR_ERR_INIT;
    search_plan_page_sql(p, &q);
    if (store_query(db, &q, ignore_row, NULL, &err) != 0) {
        fuzz_fail("page SQL does not run (%s):\n%s", err.diag, q.text.data);
    }
    fhir_sql_clear(&q);
    search_plan_count_sql(p, &q);
    if (store_query(db, &q, ignore_row, NULL, &err) != 0) {
        fuzz_fail("count SQL does not run (%s):\n%s", err.diag, q.text.data);
    }
    fhir_sql_clear(&q);
}

/* _include and _revinclude (server/search.c takes them out of the query
 * before planning): their values name parameters and types, so they
 * choose the SQL; it must still be constant fragments and run. */
static void
includes(srv_server *srv, const search_query *q)
{
    search_incl in[16];
    size_t n = 0;
    static const int64_t rids[] = {1, 2, 3};
    static const char *const ids[] = {"a", "b"};
    static const char *const refs[] = {"Task/a", FUZZ_BASE "/Patient/b"};
    for (size_t i = 0; i < q->n; i++) {
        fhir_err err = FHIR_ERR_INIT;
        const char *name = q->params[i].name;
        if ((strncmp(name, "_include", 8) == 0 ||
             strncmp(name, "_revinclude", 11) == 0) &&
            search_incl_parse(in, &n, 16, srv->search, name, q->params[i].value,
                              &err) != 0 &&
            err.issue != FHIR_ISSUE_INVALID &&
            err.issue != FHIR_ISSUE_TOO_COSTLY) {
            fuzz_fail("%s refused with issue %d", name, (int)err.issue);
        }
    }
    for (size_t i = 0; i < n; i++) {
        fhir_sql sql[3] = {FHIR_SQL_INIT, FHIR_SQL_INIT, FHIR_SQL_INIT};
        fhir_buf list[3] = {FHIR_BUF_INIT, FHIR_BUF_INIT, FHIR_BUF_INIT};
        int code = store_type_code(srv->env, in[i].from);
        search_incl_refs_sql(&sql[0], &list[0], &in[i], rids, 3);
        search_incl_fetch_sql(&sql[1], &list[1], code, ids, 2);
        search_incl_rev_sql(&sql[2], &list[2], &in[i], code, refs, 2, 10);
        for (size_t k = 0; k < 3; k++) {
            fhir_err err = FHIR_ERR_INIT;
            check_text(&sql[k], "include");
            if (store_query(db, &sql[k], ignore_row, NULL, &err) != 0) {
                fuzz_fail("include SQL does not run (%s):\n%s", err.diag,
                          sql[k].text.data);
            }
            fhir_sql_clear(&sql[k]);
            fhir_buf_clear(&list[k]);
        }
    }
}

/* Reads "Types?" into so; returns where the query starts. */
static const char *
read_types(search_opts *so, srv_server *srv, const char *s)
{
    size_t n =
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz,");
    so->ntypes = 0;
    if (s[n] != '?') {
        so->types[so->ntypes++] = fhir_type_find("Task");
        n = 0;
    } else if (n == 0) {
        for (int t = 0; t < fhir_type_count(); t++) {
            so->types[so->ntypes++] = t;
        }
        n = 1;
    } else {
        char name[32];
        for (const char *t = s; t < s + n;) {
            size_t k = strcspn(t, ",?");
            int type = -1;
            if (k < sizeof(name)) {
                memcpy(name, t, k);
                name[k] = '\0';
                type = fhir_type_find(name);
            }
            int dup = 0;
            for (size_t i = 0; i < so->ntypes; i++) {
                dup |= so->types[i] == type;
            }
            if (type >= 0 && !dup && so->ntypes < SEARCH_MAX_TYPES) {
                so->types[so->ntypes++] = type;
            }
            t += k + (t[k] == ',');
        }
        if (so->ntypes == 0) {
            so->types[so->ntypes++] = fhir_type_find("Task");
        }
        n++;
    }
    for (size_t i = 0; i < so->ntypes; i++) {
        so->type_codes[i] = store_type_code(srv->env, so->types[i]);
    }
    for (int t = 0; t < fhir_type_count() && t < SEARCH_MAX_TYPES; t++) {
        so->codes[t] = store_type_code(srv->env, t);
    }
    return s + n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    srv_server *srv = fuzz_server();
    fhir_err err = FHIR_ERR_INIT;
    if (size > 8192) {
        return 0;
    }
    if (db == NULL && store_db_open(&db, srv->env, &err) != 0) {
        fuzz_fail("store: %s", err.diag);
    }
    char *input = fuzz_cstr(data, size);
    fhir_arena *a = fhir_arena_new();
    search_opts so;
    search_query q = {NULL, 0}, q2 = {NULL, 0};
    search_plan *p = NULL, *p2 = NULL;
    fhir_sql s1 = FHIR_SQL_INIT, s2 = FHIR_SQL_INIT;
    memset(&so, 0, sizeof(so));
    so.base = FUZZ_BASE;
    so.default_count = 20;
    so.max_count = 1000;
    const char *qs = read_types(&so, srv, input);
    /* The bytes after a NUL are not part of the query string. */
    if (search_query_parse(&q, a, qs, strlen(qs), &err) != 0) {
        if (err.issue != FHIR_ISSUE_INVALID) {
            fuzz_fail("query refused with issue %d", (int)err.issue);
        }
        goto done;
    }
    includes(srv, &q);
    uint64_t seed = names_hash(&q);
    so.strict = (int)(seed & 1);
    if (search_plan_new(&p, srv->search, &q, &so, a, &err) != 0) {
        if (err.issue != FHIR_ISSUE_INVALID &&
            err.issue != FHIR_ISSUE_NOT_SUPPORTED &&
            err.issue != FHIR_ISSUE_TOO_COSTLY) {
            fuzz_fail("search refused with issue %d: %s", (int)err.issue,
                      err.diag);
        }
        goto done;
    }
    all_sql(&s1, p, seed);
    check_text(&s1, "as given");
    run_sql(p);
    /* The same search with its values rewritten. */
    q2.n = q.n;
    q2.params = fhir_arena_alloc(a, (q.n + 1) * sizeof(search_pair));
    for (size_t i = 0; i < q.n; i++) {
        q2.params[i].name = q.params[i].name;
        q2.params[i].value = is_result_param(q.params[i].name)
                                 ? q.params[i].value
                                 : rewrite(a, q.params[i].value);
    }
    fhir_err err2 = FHIR_ERR_INIT;
    if (search_plan_new(&p2, srv->search, &q2, &so, a, &err2) != 0) {
        goto done; /* a rewritten date may be no date: nothing to compare */
    }
    all_sql(&s2, p2, seed);
    check_text(&s2, "rewritten");
    if (s1.text.len != s2.text.len ||
        memcmp(s1.text.data, s2.text.data, s1.text.len) != 0 || s1.n != s2.n) {
        fuzz_fail("SQL text depends on value bytes:\n%s\n-- rewritten --\n%s",
                  s1.text.data, s2.text.data);
    }
done:
    fhir_sql_clear(&s1);
    fhir_sql_clear(&s2);
    fhir_arena_free(a);
    free(input);
    return 0;
}
