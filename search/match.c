/* search/match.c - a plan evaluated on one resource version's index rows,
 * in memory.
 *
 * Paging is stable because a search is answered as of a snapshot: the
 * first page fixes a moment, and later pages must see every resource as it
 * was then. Resources not written since are found by SQL; the few written
 * since are judged here, on the index rows of their version at the
 * snapshot. The rules are those of the SQL in plan.c, one for one, and a
 * unit test checks that both give the same answers on a corpus.
 *
 * Chained and _has conditions are about other resources, whose rows are
 * not here; they pass here and search_plan_match_sql() (plan.c) has SQL
 * judge them: a chain by the references of the version judged, a _has by
 * its id, both against the other resources as the page SQL sees them.
 */
#include "search/search.h"
#include "search/search_int.h"

#include <stdint.h>
#include <string.h>

static int
starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* R4 search.html#prefix on a stored range [lo, hi); as sql_date(). */
static int
date_ok(int64_t lo, int64_t hi, const search_value *v)
{
    int64_t now, mid, gap, slack;
    switch (v->prefix) {
    case SEARCH_PFX_EQ:
        return lo >= v->lo && hi <= v->hi;
    case SEARCH_PFX_NE:
        return !(lo >= v->lo && hi <= v->hi);
    case SEARCH_PFX_GT:
        return hi > v->hi;
    case SEARCH_PFX_LT:
        return lo < v->lo;
    case SEARCH_PFX_GE:
        return hi > v->hi || (lo >= v->lo && hi <= v->hi);
    case SEARCH_PFX_LE:
        return lo < v->lo || (lo >= v->lo && hi <= v->hi);
    case SEARCH_PFX_SA:
        return lo >= v->hi;
    case SEARCH_PFX_EB:
        return hi <= v->lo;
    case SEARCH_PFX_AP:
        now = fhir_now_us();
        mid = v->lo / 2 + v->hi / 2;
        gap = now > mid ? now - mid : mid - now;
        slack = gap / 10;
        if (slack < 86400LL * 1000000LL) {
            slack = 86400LL * 1000000LL;
        }
        return lo < v->hi + slack && hi > v->lo - slack;
    }
    return 0;
}

static int
token_ok(const fhir_row *r, const search_value *v)
{
    if (v->code != NULL && strcmp(r->code, v->code) != 0) {
        return 0;
    }
    return v->sys == NULL || strcmp(r->sys ? r->sys : "", v->sys) == 0;
}

/* 1 when row r (already of the condition's parameter) matches value v. */
static int
value_ok(const search_cond *c, const fhir_row *r, const search_value *v)
{
    if (c->mod == SEARCH_MOD_TEXT) {
        return r->kind == FHIR_ROW_STRING && starts_with(r->code, v->code);
    }
    if (c->mod == SEARCH_MOD_IDENTIFIER) {
        return r->kind == FHIR_ROW_TOKEN && token_ok(r, v);
    }
    switch (c->param->type) {
    case SEARCH_TYPE_TOKEN:
        return r->kind == FHIR_ROW_TOKEN && token_ok(r, v);
    case SEARCH_TYPE_STRING:
        if (r->kind != FHIR_ROW_STRING) {
            return 0;
        }
        if (c->mod == SEARCH_MOD_EXACT) {
            return strcmp(r->text ? r->text : "", v->code) == 0;
        }
        if (c->mod == SEARCH_MOD_CONTAINS) {
            return strstr(r->code, v->code) != NULL;
        }
        return starts_with(r->code, v->code);
    case SEARCH_TYPE_DATE:
        return r->kind == FHIR_ROW_DATE && date_ok(r->lo, r->hi, v);
    case SEARCH_TYPE_REFERENCE:
        if (r->kind != FHIR_ROW_REF) {
            return 0;
        }
        if (strcmp(r->code, v->code) == 0) {
            return 1;
        }
        for (size_t k = 1; k < v->nalts; k++) {
            if (strcmp(r->code, v->alts[k]) == 0) {
                return 1;
            }
        }
        return 0;
    default:
        if (r->kind != FHIR_ROW_URI) {
            return 0;
        }
        if (c->mod == SEARCH_MOD_BELOW) {
            return starts_with(r->code, v->code);
        }
        if (c->mod == SEARCH_MOD_ABOVE) {
            return starts_with(v->code, r->code);
        }
        return strcmp(r->code, v->code) == 0;
    }
}

/* Row kinds a parameter's values may take, for :missing (sql_any_row). */
static int
kind_counts(const search_cond *c, fhir_row_kind k)
{
    switch (c->param->type) {
    case SEARCH_TYPE_TOKEN:
        return k == FHIR_ROW_TOKEN || k == FHIR_ROW_STRING;
    case SEARCH_TYPE_STRING:
        return k == FHIR_ROW_STRING;
    case SEARCH_TYPE_DATE:
        return k == FHIR_ROW_DATE;
    case SEARCH_TYPE_REFERENCE:
        return k == FHIR_ROW_REF || k == FHIR_ROW_TOKEN;
    default:
        return k == FHIR_ROW_URI;
    }
}

static int
cond_ok(const search_cond *c, const fhir_rows *rows, const char *id,
        int64_t hid)
{
    if (c->link != SEARCH_LINK_NONE) {
        return 1; /* other resources: search_plan_match_sql() */
    }
    if (c->param->builtin == SEARCH_BUILTIN_ID) {
        int in = 0;
        for (size_t i = 0; i < c->nvals; i++) {
            in |= strcmp(c->vals[i].code, id) == 0;
        }
        return c->mod == SEARCH_MOD_NOT ? !in : in;
    }
    if (c->param->builtin == SEARCH_BUILTIN_LASTUPDATED) {
        for (size_t i = 0; i < c->nvals; i++) {
            if (date_ok(hid, hid + 1, &c->vals[i])) {
                return 1;
            }
        }
        return 0;
    }
    int any = 0;
    for (size_t i = 0; i < rows->n && !any; i++) {
        const fhir_row *r = &rows->rows[i];
        if (r->param != c->param->num) {
            continue;
        }
        if (c->mod == SEARCH_MOD_MISSING) {
            any = kind_counts(c, r->kind);
            continue;
        }
        for (size_t k = 0; k < c->nvals && !any; k++) {
            any = value_ok(c, r, &c->vals[k]);
        }
    }
    if (c->mod == SEARCH_MOD_MISSING) {
        return c->missing ? !any : any;
    }
    return c->mod == SEARCH_MOD_NOT ? !any : any;
}

int
search_plan_match(const search_plan *p, const fhir_rows *rows, const char *id,
                  int64_t hid)
{
    for (size_t i = 0; i < p->nconds; i++) {
        if (!cond_ok(&p->conds[i], rows, id, hid)) {
            return 0;
        }
    }
    return 1;
}

/* The rank of a code in a ranked value set (as the SQL CASE). */
static int64_t
rank(const struct search_param *p, const char *code)
{
    for (size_t i = 0; i < p->norder; i++) {
        if (strcmp(p->order[i], code) == 0) {
            return (int64_t)i;
        }
    }
    return (int64_t)p->norder;
}

/* Sort key s of a version, as sql_sort_value() computes it: *isnull, or
 * the min (ascending) / max (descending) over the parameter's rows. */
static void
sort_key(fhir_sqlval *flag, fhir_sqlval *val, const search_sort *s,
         const fhir_rows *rows, const char *id, int64_t hid)
{
    const struct search_param *p = s->param;
    int have = 0;
    memset(flag, 0, sizeof(*flag));
    memset(val, 0, sizeof(*val));
    if (p->builtin == SEARCH_BUILTIN_ID) {
        val->is_text = 1;
        val->s = id;
        val->len = strlen(id);
        return;
    }
    if (p->builtin == SEARCH_BUILTIN_LASTUPDATED) {
        val->i = hid;
        return;
    }
    int text = p->type != SEARCH_TYPE_DATE &&
               !(p->type == SEARCH_TYPE_TOKEN && p->norder > 0);
    for (size_t i = 0; i < rows->n; i++) {
        const fhir_row *r = &rows->rows[i];
        int64_t iv = 0;
        const char *tv = NULL;
        if (r->param != p->num) {
            continue;
        }
        switch (p->type) {
        case SEARCH_TYPE_DATE:
            if (r->kind != FHIR_ROW_DATE) {
                continue;
            }
            iv = s->desc ? r->hi : r->lo;
            break;
        case SEARCH_TYPE_STRING:
            if (r->kind != FHIR_ROW_STRING) {
                continue;
            }
            tv = r->code;
            break;
        case SEARCH_TYPE_REFERENCE:
            if (r->kind != FHIR_ROW_REF) {
                continue;
            }
            tv = r->code;
            break;
        case SEARCH_TYPE_URI:
            if (r->kind != FHIR_ROW_URI) {
                continue;
            }
            tv = r->code;
            break;
        default:
            if (r->kind != FHIR_ROW_TOKEN) {
                continue;
            }
            if (p->norder > 0) {
                iv = rank(p, r->code);
            } else {
                tv = r->code;
            }
            break;
        }
        if (text) {
            int c = have ? strcmp(tv, val->s) : 0;
            if (!have || (s->desc ? c > 0 : c < 0)) {
                val->s = tv;
            }
        } else if (!have || (s->desc ? iv > val->i : iv < val->i)) {
            val->i = iv;
        }
        have = 1;
    }
    if (!have) {
        flag->i = 1;
        val->is_text = 1;
        val->s = NULL; /* SQL NULL */
        return;
    }
    if (text) {
        val->is_text = 1;
        val->len = strlen(val->s);
    }
}

void
search_plan_keys(const search_plan *p, const fhir_rows *rows, const char *id,
                 int64_t hid, fhir_sqlval *keys)
{
    for (size_t s = 0; s < p->nsort; s++) {
        sort_key(&keys[2 * s], &keys[2 * s + 1], &p->sort[s], rows, id, hid);
    }
}

/* SQLite's order of two values of one key column (NULL first). */
static int
val_cmp(const fhir_sqlval *a, const fhir_sqlval *b)
{
    int an = a->is_text && a->s == NULL, bn = b->is_text && b->s == NULL;
    if (an || bn) {
        return an - bn == 0 ? 0 : an ? -1 : 1;
    }
    if (!a->is_text) {
        return a->i < b->i ? -1 : a->i > b->i;
    }
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->s, b->s, n);
    if (c != 0) {
        return c < 0 ? -1 : 1;
    }
    return a->len < b->len ? -1 : a->len > b->len;
}

int
search_plan_order_cmp(const search_plan *p, const fhir_sqlval *ka, int64_t rida,
                      const fhir_sqlval *kb, int64_t ridb)
{
    for (size_t k = 0; k < 2 * p->nsort; k++) {
        int c = val_cmp(&ka[k], &kb[k]);
        if (k % 2 == 1 && p->sort[k / 2].desc) {
            c = -c;
        }
        if (c != 0) {
            return c;
        }
    }
    return rida < ridb ? -1 : rida > ridb;
}

int
search_plan_past_cursor(const search_plan *p, const fhir_sqlval *keys,
                        int64_t rid)
{
    if (!p->has_cursor) {
        return 1;
    }
    int c = search_plan_order_cmp(p, keys, rid, p->cursor_keys, p->cursor_rid);
    return p->cursor_before ? c < 0 : c > 0;
}
