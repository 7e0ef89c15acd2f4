/* server/search.c - the search interaction (R4 http.html#search):
 * GET /fhir/{type}?... and POST /fhir/{type}/_search with a form body.
 *
 * search/ turns the parameters into a plan and SQL; this file asks the
 * store for the numbers the plan needs (how many resources of the type,
 * how many each condition matches), runs the page query and wraps the
 * rows in a searchset Bundle with its links, total and, for ignored
 * parameters, an OperationOutcome entry.
 */
#include "server/server.h"
#include "server/server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
first_int(void *ctx, const store_row *row)
{
    *(int64_t *)ctx = store_row_int(row, 0);
    return 1;
}

/* Runs SQL that returns one integer. */
static int
query_int(store_db *db, const fhir_sql *q, int64_t *out, fhir_err *err)
{
    *out = 0;
    return store_query(db, q, first_int, out, err);
}

/* One row of a page: from the page query, or a resource changed since
 * the snapshot and judged on its version then. */
struct cand {
    int64_t rid;
    int type;
    const char *id;
    const char *body;
    size_t len;
    fhir_sqlval *keys;
};

struct page {
    srv_req *r;
    search_plan *plan;
    struct cand *c; /* arena-owned */
    size_t n, cap;
    store_db *db;
    fhir_err err; /* a failure inside changed_row() */
};

static struct cand *
cand_add(struct page *pg)
{
    pg->c = fhir_arena_grow(pg->r->a, pg->c, pg->n, &pg->cap, sizeof(*pg->c));
    struct cand *c = &pg->c[pg->n++];
    memset(c, 0, sizeof(*c));
    c->keys = fhir_arena_alloc(pg->r->a, (search_plan_nkeys(pg->plan) + 1) *
                                             sizeof(fhir_sqlval));
    return c;
}

static const char *
copy_text(fhir_arena *a, const store_row *row, int col, size_t *len)
{
    size_t n = 0;
    const char *t = store_row_bytes(row, col, &n);
    if (len != NULL) {
        *len = n;
    }
    return t ? fhir_arena_strndup(a, t, n) : NULL;
}

static int
page_row(void *ctx, const store_row *row)
{
    struct page *pg = ctx;
    fhir_arena *a = pg->r->a;
    struct cand *c = cand_add(pg);
    c->rid = store_row_int(row, 0);
    c->id = copy_text(a, row, 1, NULL);
    c->body = copy_text(a, row, 3, &c->len);
    c->type = store_type_of_code(pg->r->srv->env, (int)store_row_int(row, 4));
    for (size_t k = 0; k < search_plan_nkeys(pg->plan); k++) {
        int col = SEARCH_PAGE_KEYS + (int)k;
        fhir_sqlval *v = &c->keys[k];
        if (store_row_is_null(row, col)) {
            v->is_text = 1;
        } else if (search_plan_key_is_text(pg->plan, k)) {
            v->is_text = 1;
            v->s = copy_text(a, row, col, &v->len);
        } else {
            v->i = store_row_int(row, col);
        }
    }
    return 0;
}

/* A resource written since the snapshot: a candidate when its version
 * then matched and lies beyond the cursor (R4 search.html#paging: the
 * result does not shift under the client). Shown as it is now. */
static int
changed_row(void *ctx, const store_row *row)
{
    struct page *pg = ctx;
    srv_req *r = pg->r;
    size_t olen = 0;
    const char *old = store_row_text(row, 3, &olen);
    int type = store_type_of_code(r->srv->env, (int)store_row_int(row, 2));
    cJSON *res = NULL;
    fhir_json_opts jo = {512, 0};
    fhir_err err = FHIR_ERR_INIT;
    if (old == NULL || type < 0 ||
        fhir_json_parse(&res, old, olen, &jo, &err) != 0) {
        return 0; /* a delete then, or unreadable: not in the result */
    }
    fhir_rows rows = {NULL, 0, 0};
    srv__index(r->srv, type, res, &rows, r->a);
    cJSON_Delete(res);
    const char *id = store_row_text(row, 1, NULL);
    int64_t hid = store_row_int(row, 4), rid = store_row_int(row, 0);
    fhir_sqlval *keys = fhir_arena_alloc(
        r->a, (search_plan_nkeys(pg->plan) + 1) * sizeof(fhir_sqlval));
    if (!search_plan_match(pg->plan, &rows, id, hid)) {
        return 0;
    }
    /* Chained and _has conditions: SQL judges them for that version. */
    fhir_sql q = FHIR_SQL_INIT;
    int64_t ok = 1;
    int failed = search_plan_match_sql(pg->plan, &rows, id, &q) &&
                 query_int(pg->db, &q, &ok, &pg->err) != 0;
    fhir_sql_clear(&q);
    if (failed || !ok) {
        return failed; /* a failure stops the query; srv__search reports */
    }
    search_plan_keys(pg->plan, &rows, id, hid, keys);
    if (!search_plan_past_cursor(pg->plan, keys, rid)) {
        return 0;
    }
    struct cand *c = cand_add(pg);
    c->rid = rid;
    c->type = type;
    c->id = fhir_arena_strdup(r->a, id);
    c->body = copy_text(r->a, row, 5, &c->len);
    for (size_t k = 0; k < search_plan_nkeys(pg->plan); k++) {
        c->keys[k] = keys[k];
        if (keys[k].is_text && keys[k].s != NULL) {
            c->keys[k].s = fhir_arena_strndup(r->a, keys[k].s, keys[k].len);
        }
    }
    return 0;
}

/* qsort has no context argument: the plan of the sort running on this
 * thread (workers sort concurrently, each its own plan). */
static _Thread_local const search_plan *sort_plan;
static _Thread_local int sort_back;

static int
cand_cmp(const void *x, const void *y)
{
    const struct cand *a = x, *b = y;
    int c = search_plan_order_cmp(sort_plan, a->keys, a->rid, b->keys, b->rid);
    return sort_back ? -c : c;
}

static void
add_entry(srv_req *r, cJSON *bundle, const srv_found *f, int subset,
          prof_subset_mode mode, const char *elements, const char *how)
{
    cJSON *e = fhir_bundle_add_entry(bundle);
    cJSON_AddStringToObject(e, "fullUrl",
                            fhir_arena_printf(r->a, "%s/%s/%s", r->base,
                                              fhir_type_name(f->type), f->id));
    cJSON *res = NULL;
    if (r->pretty || subset) {
        fhir_json_opts jo = {512, 0};
        fhir_err err = FHIR_ERR_INIT;
        if (fhir_json_parse(&res, f->body, f->len, &jo, &err) != 0) {
            res = NULL;
        }
    }
    if (res != NULL && subset) {
        prof_subset(r->srv->prof, res, mode, elements);
    }
    cJSON_AddItemToObject(e, "resource",
                          res ? res : fhir_json_raw(f->body, f->len));
    cJSON_AddStringToObject(cJSON_AddObjectToObject(e, "search"), "mode", how);
}

/* Appends entry f as fhir_json_write() would write add_entry()'s object
 * (without _pretty or a subset): the stored body is copied in as it is,
 * never parsed nor rebuilt. */
static void
put_entry(fhir_buf *b, srv_req *r, const srv_found *f, const char *how)
{
    fhir_buf_puts(b, "{\"fullUrl\":\"");
    fhir_json_put_chars(b, r->base);
    fhir_buf_putc(b, '/');
    fhir_buf_puts(b, fhir_type_name(f->type));
    fhir_buf_putc(b, '/');
    fhir_json_put_chars(b, f->id);
    fhir_buf_puts(b, "\",\"resource\":");
    fhir_buf_append(b, f->body, f->len);
    fhir_buf_puts(b, ",\"search\":{\"mode\":\"");
    fhir_buf_puts(b, how);
    fhir_buf_puts(b, "\"}}");
}

static srv_found
found_of(const struct cand *c)
{
    srv_found f = {c->rid, c->type, c->id, c->body, c->len};
    return f;
}

#define MAX_INCLUDES 32

/* Takes the _include / _revinclude parameters out of q (into in[]), so
 * that the plan sees only the search itself. */
static int
split_includes(srv_req *r, const search_query *q, search_query *rest,
               search_incl *in, size_t *nin, fhir_err *err)
{
    rest->params = fhir_arena_alloc(r->a, (q->n + 1) * sizeof(search_pair));
    rest->n = 0;
    *nin = 0;
    for (size_t i = 0; i < q->n; i++) {
        const char *name = q->params[i].name;
        if (strncmp(name, "_include", 8) == 0 ||
            strncmp(name, "_revinclude", 11) == 0) {
            if (search_incl_parse(in, nin, MAX_INCLUDES, r->srv->search, name,
                                  q->params[i].value, err) != 0) {
                return -1;
            }
        } else {
            rest->params[rest->n++] = q->params[i];
        }
    }
    return 0;
}

/* The query string of `q` without _cursor, for links. */
static void
put_query(fhir_buf *b, const search_query *q)
{
    int first = 1;
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->params[i].name, "_cursor") == 0) {
            continue;
        }
        fhir_buf_putc(b, first ? '?' : '&');
        srv__put_encoded(b, q->params[i].name);
        fhir_buf_putc(b, '=');
        srv__put_encoded(b, q->params[i].value);
        first = 0;
    }
}

static int
handling_strict(srv_req *r)
{
    const char *p = srv__header(r, "Prefer");
    return p != NULL && strstr(p, "handling=strict") != NULL;
}

/* The types searched: r->type, or for a system search those named by
 * _type (all served types without it). */
static int
search_types(search_opts *so, srv_req *r, const search_query *q, fhir_err *err)
{
    const char *list = search_query_get(q, "_type");
    so->ntypes = 0;
    if (r->type >= 0) {
        so->types[so->ntypes++] = r->type;
    } else if (list == NULL) {
        for (int t = 0; t < fhir_type_count(); t++) {
            so->types[so->ntypes++] = t;
        }
    } else {
        char *copy = fhir_arena_strdup(r->a, list);
        for (char *tok = copy; tok != NULL;) {
            char *comma = strchr(tok, ',');
            if (comma != NULL) {
                *comma = '\0';
            }
            int t = fhir_type_find(tok);
            if (t < 0) {
                return fhir_err_set_at(err, FHIR_ISSUE_INVALID, "_type",
                                       "_type: '%.64s' is not a resource "
                                       "type served here",
                                       tok);
            }
            int dup = 0;
            for (size_t i = 0; i < so->ntypes; i++) {
                dup |= so->types[i] == t;
            }
            if (!dup && so->ntypes < SEARCH_MAX_TYPES) {
                so->types[so->ntypes++] = t;
            }
            tok = comma ? comma + 1 : NULL;
        }
    }
    if (r->comp_id != NULL) {
        /* Only the types a compartment can hold. */
        size_t w = 0;
        for (size_t i = 0; i < so->ntypes; i++) {
            const search_param *const *ps = NULL;
            if (so->types[i] == search_compartment_type(r->srv->search) ||
                search_compartment_params(r->srv->search, so->types[i], &ps) >
                    0) {
                so->types[w++] = so->types[i];
            }
        }
        so->ntypes = w;
    }
    for (size_t i = 0; i < so->ntypes; i++) {
        so->type_codes[i] = store_type_code(r->srv->env, so->types[i]);
    }
    for (int t = 0; t < fhir_type_count() && t < SEARCH_MAX_TYPES; t++) {
        so->codes[t] = store_type_code(r->srv->env, t);
    }
    return 0;
}

/* ---- the store's in-memory sets, lent to search/ ---------------------- */

static int
hs_is_hot(void *ctx, int param)
{
    return store_hot_is_hot(ctx, param);
}

static void
hs_or_value(void *ctx, uint64_t *bits, int param, int ref, const char *sys,
            const char *code)
{
    (void)store_hot_or(ctx, bits, param, ref, sys, code);
}

static void
hs_or_other(void *ctx, uint64_t *bits, int param, const char *const *codes,
            size_t n)
{
    (void)store_hot_or_other(ctx, bits, param, codes, n);
}

static void
hs_or_have(void *ctx, uint64_t *bits, int param)
{
    (void)store_hot_or_has(ctx, bits, param);
}

static void
hs_or_live(void *ctx, uint64_t *bits, const int *tcodes, size_t n)
{
    store_hot_or_live(ctx, bits, tcodes, n);
}

static const uint64_t *
hs_value_bits(void *ctx, int param, int ref, const char *sys, const char *code)
{
    return store_hot_bits(ctx, param, ref, sys, code);
}

static const uint64_t *
hs_have_bits(void *ctx, int param)
{
    return store_hot_has_bits(ctx, param);
}

static const uint64_t *
hs_live_bits(void *ctx, int tcode)
{
    return store_hot_live_bits(ctx, tcode);
}

static int64_t
hs_hid(void *ctx, int64_t rid)
{
    return store_hot_hid(ctx, rid);
}

static int
hs_date(void *ctx, int param, int64_t rid, int64_t *lo, int64_t *hi)
{
    return store_hot_date(ctx, param, rid, lo, hi);
}

/* What the planner needs to know: sizes from the kept counts, and the
 * moment the result is taken at. */
static int
plan_prepare(store_db *db, search_plan *plan, fhir_err *err)
{
    fhir_sql sql = FHIR_SQL_INIT;
    int64_t n = 0;
    int rc = -1;
    search_plan_type_count_sql(plan, &sql);
    if (query_int(db, &sql, &n, err) != 0) {
        goto done;
    }
    search_plan_set_type_count(plan, n);
    fhir_sql_clear(&sql);
    search_plan_snapshot_sql(plan, &sql);
    if (query_int(db, &sql, &n, err) != 0) {
        goto done;
    }
    search_plan_set_snapshot(plan, n);
    for (size_t i = 0; i < search_plan_nconds(plan); i++) {
        fhir_sql_clear(&sql);
        if (search_plan_estimate_sql(plan, i, &sql)) {
            if (query_int(db, &sql, &n, err) != 0) {
                goto done;
            }
            search_plan_set_estimate(plan, i, n);
        }
    }
    rc = 0;
done:
    fhir_sql_clear(&sql);
    return rc;
}

/* A search whose best condition matches at most this many (its kept
 * count) is left to SQL: walking the sets took longer than the SQL of a
 * reference matched by a few Tasks (part-of p50 0.23 -> 0.17 ms at 100k,
 * and the sets grow with the database). */
int64_t srv__hot_min_set = 64;

int
srv__hot_choose(store_env *env, store_db *db, search_plan *plan, fhir_err *err)
{
    enum { MAXNEED = 32 };
    if (search_plan_small_driver(plan, srv__hot_min_set)) {
        return 0;
    }
    int params[MAXNEED];
    search_type kinds[MAXNEED];
    store_hot_need need[MAXNEED];
    size_t n = search_plan_hot_needs(plan, params, kinds, MAXNEED);
    for (size_t i = 0; i < n; i++) {
        need[i].param = params[i];
        need[i].kind = kinds[i] == SEARCH_TYPE_DATE        ? STORE_HOT_DATE
                       : kinds[i] == SEARCH_TYPE_REFERENCE ? STORE_HOT_REF
                                                           : STORE_HOT_TOKEN;
    }
    if (store_hot_prepare(env, need, n, err) != 0) {
        return -1;
    }
    store_hot *v = store_hot_begin(env);
    if (v == NULL) {
        return 0;
    }
    size_t words = store_hot_words(v);
    search_sets sets = {v,
                        words,
                        db != NULL ? store_db_scratch(db, 2 * words) : NULL,
                        hs_is_hot,
                        hs_or_value,
                        hs_or_other,
                        hs_or_have,
                        hs_or_live,
                        hs_value_bits,
                        hs_have_bits,
                        hs_live_bits,
                        hs_hid,
                        hs_date};
    (void)search_plan_hot_run(plan, &sets, store_hot_applied(v));
    store_hot_end(v);
    return 0;
}

int
srv__search(srv_req *r, const search_query *q)
{
    fhir_err err = FHIR_ERR_INIT;
    search_plan *plan = NULL;
    search_opts so;
    fhir_sql sql = FHIR_SQL_INIT;
    store_db *db = srv__db(r, &err);
    cJSON *bundle = NULL;
    int64_t total = -1;
    int in_tx = 0;

    memset(&so, 0, sizeof(so));
    so.base = r->base;
    so.default_count = r->srv->cfg.default_count;
    so.max_count = r->srv->cfg.max_count;
    so.strict = handling_strict(r);
    search_incl incl[MAX_INCLUDES];
    size_t nincl = 0;
    search_query plan_q;
    if (db == NULL || search_types(&so, r, q, &err) != 0) {
        goto fail;
    }
    if (so.ntypes == 0) {
        /* A compartment that cannot hold the type: nothing matches. */
        bundle = fhir_bundle_new("searchset");
        fhir_json_insert(bundle, 4, "total", cJSON_CreateNumber(0));
        srv__reply_json(r, 200, bundle, NULL);
        return 0;
    }
    if (split_includes(r, q, &plan_q, incl, &nincl, &err) != 0) {
        goto fail;
    }
    if (r->comp_id != NULL) {
        /* The compartment is one more (indexed) reference condition. */
        search_pair *more =
            fhir_arena_alloc(r->a, (plan_q.n + 1) * sizeof(search_pair));
        if (plan_q.n > 0) {
            memcpy(more, plan_q.params, plan_q.n * sizeof(search_pair));
        }
        more[plan_q.n].name = "_compartment";
        more[plan_q.n].value = fhir_arena_printf(
            r->a, "%s/%s",
            fhir_type_name(search_compartment_type(r->srv->search)),
            r->comp_id);
        plan_q.params = more;
        plan_q.n++;
    }
    if (search_plan_new(&plan, r->srv->search, &plan_q, &so, r->a, &err) != 0) {
        goto fail;
    }
    /* One read transaction: counts, page and snapshot agree. */
    if (store_read_begin(db, &err) != 0) {
        goto fail;
    }
    in_tx = 1;
    if (plan_prepare(db, plan, &err) != 0) {
        goto fail;
    }
    /* Inside a write transaction the sets do not show its own writes
     * (and loading them would wait for the lock it holds). */
    if (r->tx == NULL && srv__hot_choose(r->srv->env, db, plan, &err) != 0) {
        goto fail;
    }
    bundle = fhir_bundle_new("searchset");
    search_total tmode = search_plan_total(plan);
    int count_only = search_plan_summary(plan) == SEARCH_SUMMARY_COUNT;
    int want = search_plan_page_size(plan);
    int back = search_plan_backwards(plan);
    struct page pg;
    memset(&pg, 0, sizeof(pg));
    pg.r = r;
    pg.plan = plan;
    pg.db = db;
    if (!count_only && want > 0) {
        fhir_sql_clear(&sql);
        search_plan_page_sql(plan, &sql);
        if (store_query(db, &sql, page_row, &pg, &err) != 0) {
            goto fail;
        }
        fhir_sql_clear(&sql);
        if (search_plan_changed_sql(plan, &sql) &&
            store_query(db, &sql, changed_row, &pg, &err) != 0) {
            goto fail;
        }
        if (pg.err.status != 0) {
            err = pg.err;
            goto fail;
        }
        sort_plan = plan;
        sort_back = back;
        if (pg.n > 1) {
            qsort(pg.c, pg.n, sizeof(*pg.c), cand_cmp);
        }
    }
    int more = pg.n > (size_t)want;
    size_t shown = more ? (size_t)want : pg.n;
    /* What the page's matches bring along, read in the same snapshot. */
    srv_found *inc = NULL;
    size_t ninc = 0;
    int cut = 0;
    if (nincl > 0 && shown > 0) {
        srv_found *mine = fhir_arena_alloc(r->a, shown * sizeof(*mine));
        for (size_t i = 0; i < shown; i++) {
            mine[i] = found_of(&pg.c[i]);
        }
        if (srv__includes(r, db, incl, nincl, mine, shown, &inc, &ninc, &cut,
                          &err) != 0) {
            goto fail;
        }
    }
    store_read_end(db);
    in_tx = 0;
    /* Rows came in paging order; going back that is last-first. */
    /* _summary / _elements: the matches, reduced. */
    search_summary sum = search_plan_summary(plan);
    const char *elements = search_plan_elements(plan);
    int subset = sum == SEARCH_SUMMARY_TRUE || sum == SEARCH_SUMMARY_TEXT ||
                 sum == SEARCH_SUMMARY_DATA || elements != NULL;
    prof_subset_mode mode = sum == SEARCH_SUMMARY_TRUE   ? PROF_SUBSET_SUMMARY
                            : sum == SEARCH_SUMMARY_TEXT ? PROF_SUBSET_TEXT
                            : sum == SEARCH_SUMMARY_DATA ? PROF_SUBSET_DATA
                                                         : PROF_SUBSET_ELEMENTS;
    /* Without _pretty or a subset the entries are written straight into
     * the reply after the rest of the Bundle (stream); else they go into
     * the tree like every other element. */
    int stream = !r->pretty && !subset;
    for (size_t i = 0; i < shown && !stream; i++) {
        srv_found f = found_of(&pg.c[back ? shown - 1 - i : i]);
        add_entry(r, bundle, &f, subset, mode, elements, "match");
    }
    for (size_t i = 0; i < ninc && !stream; i++) {
        add_entry(r, bundle, &inc[i], subset, mode, elements, "include");
    }
    int64_t known = 0;
    int cheap = search_plan_count_known(plan, &known);
    if (cheap && tmode != SEARCH_TOTAL_NONE) {
        total = known;
    } else if (count_only || tmode == SEARCH_TOTAL_ACCURATE ||
               (tmode == SEARCH_TOTAL_ESTIMATE)) {
        fhir_sql_clear(&sql);
        search_plan_count_sql(plan, &sql);
        if (query_int(db, &sql, &total, &err) != 0) {
            goto fail;
        }
    } else if (tmode == SEARCH_TOTAL_DEFAULT && !more &&
               !search_plan_has_cursor(plan) && !count_only) {
        total = (int64_t)shown; /* the whole result is on this page */
    }
    fhir_sql_clear(&sql);

    /* Links: self, and next while there is more. */
    fhir_buf link = FHIR_BUF_INIT;
    fhir_buf_puts(&link, r->base);
    if (r->link_path != NULL) {
        fhir_buf_printf(&link, "/%s", r->link_path);
    } else if (r->type >= 0) {
        fhir_buf_printf(&link, "/%s", fhir_type_name(r->type));
    }
    size_t plen = link.len;
    put_query(&link, q);
    if (search_query_get(q, "_cursor") != NULL) {
        fhir_buf_printf(&link, "%s_cursor=", link.len > plen ? "&" : "?");
        srv__put_encoded(&link, search_query_get(q, "_cursor"));
    }
    fhir_bundle_add_link(bundle, "self", link.data);
    /* Keyset paging both ways. In paging order c[0] is nearest the
     * cursor; going back, the page shows c[shown-1] first. */
    const struct cand *near = shown ? &pg.c[0] : NULL;
    const struct cand *far = shown ? &pg.c[shown - 1] : NULL;
    const char *next = NULL, *prev = NULL;
    if (back) {
        next = near ? search_plan_cursor(plan, near->keys, near->rid, 0, r->a)
                    : NULL;
        prev = more ? search_plan_cursor(plan, far->keys, far->rid, 1, r->a)
                    : NULL;
    } else {
        next = more ? search_plan_cursor(plan, far->keys, far->rid, 0, r->a)
                    : NULL;
        prev = near && search_plan_has_cursor(plan)
                   ? search_plan_cursor(plan, near->keys, near->rid, 1, r->a)
                   : NULL;
    }
    const char *rels[2] = {"next", "previous"};
    const char *curs[2] = {next, prev};
    for (int i = 0; i < 2; i++) {
        if (curs[i] == NULL) {
            continue;
        }
        link.len = plen;
        put_query(&link, q);
        fhir_buf_printf(&link, "%s_cursor=", link.len > plen ? "&" : "?");
        srv__put_encoded(&link, curs[i]);
        fhir_bundle_add_link(bundle, rels[i], link.data);
    }
    fhir_buf_clear(&link);
    if (total >= 0) {
        /* R4 Bundle: total comes before link and entry. */
        fhir_json_insert(bundle, 4, "total", cJSON_CreateNumber((double)total));
    }
    const char *const *warnings = NULL;
    size_t nw = search_plan_warnings(plan, &warnings);
    cJSON *outcome = NULL;
    if (nw > 0 || cut) {
        cJSON *oo = cJSON_CreateObject();
        cJSON_AddStringToObject(oo, "resourceType", "OperationOutcome");
        for (size_t i = 0; i < nw; i++) {
            fhir_oo_add(oo, "warning", FHIR_ISSUE_NOT_SUPPORTED, warnings[i],
                        NULL);
        }
        if (cut) {
            fhir_oo_add(
                oo, "warning", FHIR_ISSUE_INCOMPLETE,
                fhir_arena_printf(r->a,
                                  "_include/_revinclude: only the first %d "
                                  "resources were included (the server's "
                                  "--max-include); the result is incomplete",
                                  r->srv->cfg.max_include),
                NULL);
        }
        outcome = stream ? cJSON_CreateObject() : fhir_bundle_add_entry(bundle);
        cJSON_AddItemToObject(outcome, "resource", oo);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(outcome, "search"),
                                "mode", "outcome");
    }
    if (!stream) {
        srv__reply_json(r, 200, bundle, NULL);
        return 0;
    }
    /* The Bundle without entries, then "entry" as its last member: the
     * bodies are copied once, into a buffer sized for them. */
    fhir_buf out = FHIR_BUF_INIT;
    size_t need = 1024, blen = strlen(r->base);
    for (size_t i = 0; i < shown; i++) {
        need += pg.c[i].len + blen + 128;
    }
    for (size_t i = 0; i < ninc; i++) {
        need += inc[i].len + blen + 128;
    }
    fhir_buf_reserve(&out, SRV_REPLY_ROOM + need);
    srv__reply_room(&out);
    fhir_json_write(&out, bundle, 0);
    cJSON_Delete(bundle);
    if (shown + ninc > 0 || outcome != NULL) {
        out.len--; /* the Bundle's closing brace */
        fhir_buf_puts(&out, ",\"entry\":[");
        for (size_t i = 0; i < shown; i++) {
            srv_found f = found_of(&pg.c[back ? shown - 1 - i : i]);
            fhir_buf_puts(&out, i ? "," : "");
            put_entry(&out, r, &f, "match");
        }
        for (size_t i = 0; i < ninc; i++) {
            fhir_buf_puts(&out, shown + i ? "," : "");
            put_entry(&out, r, &inc[i], "include");
        }
        if (outcome != NULL) {
            fhir_buf_puts(&out, shown + ninc ? "," : "");
            fhir_json_write(&out, outcome, 0);
            cJSON_Delete(outcome);
        }
        fhir_buf_puts(&out, "]}");
    }
    srv__reply_buf(r, 200, &out, NULL);
    fhir_buf_clear(&out);
    return 0;
fail:
    if (in_tx) {
        store_read_end(db);
    }
    fhir_sql_clear(&sql);
    cJSON_Delete(bundle);
    srv__reply_err(r, &err);
    return -1;
}

/* ---- conditional operations ------------------------------------------ */

struct match_ctx {
    fhir_arena *a;
    const char **ids;
    size_t n, cap;
};

static int
match_row(void *ctx, const store_row *row)
{
    struct match_ctx *m = ctx;
    if (m->n < m->cap) {
        m->ids[m->n++] = copy_text(m->a, row, 1, NULL);
    }
    return 0;
}

int
srv__match(srv_req *r, int type, const search_query *q, size_t max,
           const char ***ids, size_t *n, fhir_err *err)
{
    static const char *const result_params[] = {
        "_count",   "_cursor",   "_sort",   "_total",
        "_summary", "_elements", "_format", "_pretty"};
    search_plan *plan = NULL;
    search_opts so;
    search_query crit;
    fhir_sql sql = FHIR_SQL_INIT;
    store_db *db = srv__db(r, err);
    *ids = NULL;
    *n = 0;
    if (db == NULL) {
        return -1;
    }
    /* Only the criteria count: a page size or order cannot change which
     * resources match. */
    crit.params = fhir_arena_alloc(r->a, (q->n + 1) * sizeof(search_pair));
    crit.n = 0;
    for (size_t i = 0; i < q->n; i++) {
        size_t k = 0;
        while (k < sizeof(result_params) / sizeof(result_params[0]) &&
               strcmp(q->params[i].name, result_params[k]) != 0) {
            k++;
        }
        if (k == sizeof(result_params) / sizeof(result_params[0])) {
            crit.params[crit.n++] = q->params[i];
        }
    }
    memset(&so, 0, sizeof(so));
    so.types[0] = type;
    so.type_codes[0] = store_type_code(r->srv->env, type);
    so.ntypes = 1;
    so.base = r->base;
    so.default_count = (int)max + 1;
    so.max_count = (int)max + 1;
    so.strict = 1; /* an ignored criterion would match too much */
    if (crit.n == 0) {
        return fhir_err_set(err, FHIR_ISSUE_INVALID,
                            "A conditional operation needs search criteria "
                            "(e.g. identifier=system|value)");
    }
    if (search_plan_new(&plan, r->srv->search, &crit, &so, r->a, err) != 0) {
        return -1;
    }
    int began = store_read_begin(db, err) == 0;
    if (!began || plan_prepare(db, plan, err) != 0) {
        if (began) {
            store_read_end(db);
        }
        return -1;
    }
    struct match_ctx m = {r->a, NULL, 0, max + 1};
    m.ids = fhir_arena_alloc(r->a, (max + 1) * sizeof(char *));
    search_plan_page_sql(plan, &sql);
    int rc = store_query(db, &sql, match_row, &m, err);
    fhir_sql_clear(&sql);
    store_read_end(db);
    if (rc != 0) {
        return -1;
    }
    *ids = m.ids;
    *n = m.n;
    return 0;
}
