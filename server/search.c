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

struct page {
    srv_req *r;
    const search_plan *plan;
    cJSON *bundle;
    int want; /* page size */
    int n;    /* rows seen */
    int more; /* a row beyond the page exists */
    /* cursors after / before the first and the last row fetched */
    const char *first_after, *first_before, *last_after, *last_before;
};

static int
page_row(void *ctx, const store_row *row)
{
    struct page *pg = ctx;
    srv_req *r = pg->r;
    if (pg->n == pg->want) {
        pg->more = 1;
        return 1;
    }
    pg->n++;
    size_t len = 0;
    const char *id = store_row_text(row, 1, NULL);
    const char *body = store_row_text(row, 3, &len);
    int type = store_type_of_code(r->srv->env, (int)store_row_int(row, 4));
    cJSON *e = fhir_bundle_add_entry(pg->bundle);
    cJSON_AddStringToObject(
        e, "fullUrl",
        fhir_arena_printf(r->a, "%s/%s/%s", r->base, fhir_type_name(type), id));
    cJSON *res = NULL;
    if (r->pretty) {
        fhir_json_opts jo = {512, 0};
        fhir_err err = FHIR_ERR_INIT;
        if (fhir_json_parse(&res, body, len, &jo, &err) != 0) {
            res = NULL;
        }
    }
    cJSON_AddItemToObject(e, "resource", res ? res : fhir_json_raw(body, len));
    cJSON_AddStringToObject(cJSON_AddObjectToObject(e, "search"), "mode",
                            "match");
    /* Cursors to page on from here (next and previous links). */
    size_t nk = search_plan_nkeys(pg->plan);
    fhir_sqlval keys[2 * 8 + 1];
    memset(keys, 0, sizeof(keys));
    for (size_t k = 0; k < nk && k < sizeof(keys) / sizeof(keys[0]); k++) {
        int col = SEARCH_PAGE_KEYS + (int)k;
        if (store_row_is_null(row, col)) {
            keys[k].is_text = 1;
        } else if (search_plan_key_is_text(pg->plan, k)) {
            keys[k].is_text = 1;
            keys[k].s = store_row_text(row, col, &keys[k].len);
        } else {
            keys[k].i = store_row_int(row, col);
        }
    }
    int64_t rid = store_row_int(row, 0);
    pg->last_after = search_plan_cursor(pg->plan, keys, rid, 0, r->a);
    pg->last_before = search_plan_cursor(pg->plan, keys, rid, 1, r->a);
    if (pg->n == 1) {
        pg->first_after = pg->last_after;
        pg->first_before = pg->last_before;
    }
    return 0;
}

/* Reverses the entries of a Bundle (a page read backwards). */
static void
reverse_entries(cJSON *bundle)
{
    cJSON *entries = cJSON_GetObjectItemCaseSensitive(bundle, "entry");
    int n = cJSON_GetArraySize(entries);
    if (n < 2) {
        return;
    }
    cJSON **v = fhir_xmalloc((size_t)n * sizeof(*v));
    for (int i = n - 1; i >= 0; i--) {
        v[i] = cJSON_DetachItemFromArray(entries, i);
    }
    for (int i = n - 1; i >= 0; i--) {
        cJSON_AddItemToArray(entries, v[i]);
    }
    free(v);
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
    for (size_t i = 0; i < so->ntypes; i++) {
        so->type_codes[i] = store_type_code(r->srv->env, so->types[i]);
    }
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
    int64_t n = 0, total = -1;

    memset(&so, 0, sizeof(so));
    so.base = r->base;
    so.default_count = r->srv->cfg.default_count;
    so.max_count = r->srv->cfg.max_count;
    so.strict = handling_strict(r);
    if (db == NULL || search_types(&so, r, q, &err) != 0 ||
        search_plan_new(&plan, r->srv->search, q, &so, r->a, &err) != 0) {
        goto fail;
    }
    /* What the planner needs to know: sizes from the kept counts. */
    search_plan_type_count_sql(plan, &sql);
    if (query_int(db, &sql, &n, &err) != 0) {
        goto fail;
    }
    search_plan_set_type_count(plan, n);
    for (size_t i = 0; i < search_plan_nconds(plan); i++) {
        fhir_sql_clear(&sql);
        if (search_plan_estimate_sql(plan, i, &sql) &&
            query_int(db, &sql, &n, &err) == 0) {
            search_plan_set_estimate(plan, i, n);
        } else if (err.issue != FHIR_ISSUE_NONE) {
            goto fail;
        }
    }

    bundle = fhir_bundle_new("searchset");
    search_total tmode = search_plan_total(plan);
    int count_only = search_plan_summary(plan) == SEARCH_SUMMARY_COUNT;
    struct page pg;
    memset(&pg, 0, sizeof(pg));
    pg.r = r;
    pg.plan = plan;
    pg.bundle = bundle;
    pg.want = search_plan_page_size(plan);
    if (!count_only && pg.want > 0) {
        fhir_sql_clear(&sql);
        search_plan_page_sql(plan, &sql);
        if (store_query(db, &sql, page_row, &pg, &err) != 0) {
            goto fail;
        }
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
    } else if (tmode == SEARCH_TOTAL_DEFAULT && !pg.more &&
               search_query_get(q, "_cursor") == NULL && !count_only) {
        total = pg.n; /* the whole result is on this page */
    }
    fhir_sql_clear(&sql);

    /* Links: self, and next while there is more. */
    fhir_buf link = FHIR_BUF_INIT;
    fhir_buf_puts(&link, r->base);
    if (r->type >= 0) {
        fhir_buf_printf(&link, "/%s", fhir_type_name(r->type));
    }
    size_t plen = link.len;
    put_query(&link, q);
    if (search_query_get(q, "_cursor") != NULL) {
        fhir_buf_printf(&link, "%s_cursor=", link.len > plen ? "&" : "?");
        srv__put_encoded(&link, search_query_get(q, "_cursor"));
    }
    fhir_bundle_add_link(bundle, "self", link.data);
    /* Keyset paging both ways: going back, rows came last-first. */
    int back = search_plan_backwards(plan);
    const char *next = back ? pg.first_after : pg.more ? pg.last_after : NULL;
    const char *prev = back ? (pg.more ? pg.last_before : NULL)
                       : search_plan_has_cursor(plan) ? pg.first_before
                                                      : NULL;
    if (back) {
        reverse_entries(bundle);
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
    if (nw > 0) {
        cJSON *oo =
            fhir_oo_new("warning", FHIR_ISSUE_NOT_SUPPORTED, warnings[0], NULL);
        for (size_t i = 1; i < nw; i++) {
            fhir_oo_add(oo, "warning", FHIR_ISSUE_NOT_SUPPORTED, warnings[i],
                        NULL);
        }
        cJSON *e = fhir_bundle_add_entry(bundle);
        cJSON_AddItemToObject(e, "resource", oo);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(e, "search"), "mode",
                                "outcome");
    }
    srv__reply_json(r, 200, bundle, NULL);
    return 0;
fail:
    fhir_sql_clear(&sql);
    cJSON_Delete(bundle);
    srv__reply_err(r, &err);
    return -1;
}
