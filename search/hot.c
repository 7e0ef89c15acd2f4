/* search/hot.c - answering a plan from in-memory value sets.
 *
 * The store keeps bitsets of the resources holding each value of the
 * repetitive token and reference parameters (store/hot.c); search/ does
 * not see the store, so the caller lends them through search_sets. When
 * every condition and sort key can be judged on them, this file picks
 * the page's rows itself - intersecting the sets, dropping resources
 * written after the snapshot, and keeping the first page-size + 1 rows
 * past the cursor in result order - and counts the result. When only
 * some conditions can, and they leave few candidates, those candidates
 * go to SQL, which applies the rest. Either way the page query then
 * reads just those rows and checks every condition again, so the sets
 * choose rows but never vouch for them.
 */
#include "search/search.h"
#include "search/search_int.h"

#include <stdlib.h>
#include <string.h>

/* Candidates handed to SQL when the sets cannot judge everything. */
#define HOT_MAX_LIST 1000

/* 1 when condition c can be judged on the sets. */
static int
cond_hot(const search_cond *c, const search_sets *s)
{
    const struct search_param *p = c->param;
    /* A chain's or _has's parameter is of other resources (or leads to
     * them): the sets cannot judge it, SQL does. */
    if (c->link != SEARCH_LINK_NONE || p->builtin != SEARCH_BUILTIN_NONE ||
        !s->is_hot(s->ctx, p->num)) {
        return 0;
    }
    if (c->mod == SEARCH_MOD_MISSING) {
        return 1;
    }
    if (p->type == SEARCH_TYPE_TOKEN) {
        return c->mod == SEARCH_MOD_NONE || c->mod == SEARCH_MOD_NOT;
    }
    if (p->type == SEARCH_TYPE_REFERENCE) {
        return c->mod == SEARCH_MOD_NONE || c->mod == SEARCH_MOD_TYPE;
    }
    return 0;
}

/* 1 when sort key k can be computed from the sets. */
static int
sort_hot(const search_sort *k, const search_sets *s)
{
    const struct search_param *p = k->param;
    if (p->builtin == SEARCH_BUILTIN_LASTUPDATED) {
        return 1;
    }
    if (p->builtin != SEARCH_BUILTIN_NONE) {
        return 0;
    }
    if (p->type == SEARCH_TYPE_TOKEN) {
        return p->norder > 0 && s->is_hot(s->ctx, p->num);
    }
    if (p->type == SEARCH_TYPE_DATE) {
        int64_t lo, hi;
        return s->date(s->ctx, p->num, 0, &lo, &hi) >= 0;
    }
    return 0;
}

size_t
search_plan_hot_needs(const search_plan *p, int *params, search_type *kinds,
                      size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nconds && n < max; i++) {
        const struct search_param *sp = p->conds[i].param;
        if (p->conds[i].link == SEARCH_LINK_NONE &&
            sp->builtin == SEARCH_BUILTIN_NONE &&
            (sp->type == SEARCH_TYPE_TOKEN ||
             sp->type == SEARCH_TYPE_REFERENCE)) {
            params[n] = sp->num;
            kinds[n++] = sp->type;
        }
    }
    for (size_t i = 0; i < p->nsort && n < max; i++) {
        const struct search_param *sp = p->sort[i].param;
        if (sp->builtin != SEARCH_BUILTIN_NONE) {
            continue;
        }
        if (sp->type == SEARCH_TYPE_DATE ||
            (sp->type == SEARCH_TYPE_TOKEN && sp->norder > 0)) {
            params[n] = sp->num;
            kinds[n++] = sp->type;
        }
    }
    return n;
}

/* 1 when c keeps the resources *outside* its values' set. */
static int
cond_negated(const search_cond *c)
{
    return c->mod == SEARCH_MOD_NOT ||
           (c->mod == SEARCH_MOD_MISSING && c->missing);
}

/* The served types searched, as a bit mask like search_param.types. */
static unsigned
types_mask(const search_plan *p)
{
    unsigned m = 0;
    for (size_t i = 0; i < p->opts.ntypes; i++) {
        m |= 1u << p->opts.types[i];
    }
    return m;
}

/* The set of resources condition c's values hold (before :not). */
static void
cond_set(uint64_t *bits, const search_cond *c, const search_sets *s)
{
    int num = c->param->num;
    if (c->mod == SEARCH_MOD_MISSING) {
        s->or_have(s->ctx, bits, num);
        return;
    }
    int ref = c->param->type == SEARCH_TYPE_REFERENCE;
    for (size_t i = 0; i < c->nvals; i++) {
        const search_value *v = &c->vals[i];
        if (!ref) {
            s->or_value(s->ctx, bits, num, 0, v->sys, v->code);
            continue;
        }
        s->or_value(s->ctx, bits, num, 1, NULL, v->code);
        for (size_t k = 1; k < v->nalts; k++) {
            s->or_value(s->ctx, bits, num, 1, NULL, v->alts[k]);
        }
    }
}

/* The set condition c keeps before :not as one bitset kept in memory
 * (read in place), or NULL when it must be built. */
static const uint64_t *
cond_bits(const search_cond *c, const search_sets *s)
{
    int num = c->param->num;
    if (c->mod == SEARCH_MOD_MISSING) {
        return s->have_bits(s->ctx, num);
    }
    if (c->nvals != 1) {
        return NULL;
    }
    const search_value *v = &c->vals[0];
    if (c->param->type != SEARCH_TYPE_REFERENCE) {
        return s->value_bits(s->ctx, num, 0, v->sys, v->code);
    }
    return v->nalts <= 1 ? s->value_bits(s->ctx, num, 1, NULL, v->code) : NULL;
}

/* A set ANDed into the candidates (its complement with flip ~0). */
struct term {
    const uint64_t *bits;
    uint64_t flip;
};
#define HOT_MAX_TERMS 8

/* The candidates: cand (all ones when !have) AND every term. They are
 * counted in one pass and then read again word by word where the page
 * needs them, never stored: at a million resources a set is 160 KB, and
 * writing one costs as much as reading two. */
struct cands {
    const uint64_t *cand;
    int have;
    const struct term *t;
    size_t nt;
};

static inline uint64_t
cands_word(const struct cands *c, size_t w)
{
    uint64_t x = c->have ? c->cand[w] : ~0ull;
    for (size_t i = 0; i < c->nt; i++) {
        x &= c->t[i].bits[w] ^ c->t[i].flip;
    }
    return x;
}

/* The candidates' number, in blocks that stay in L1 and fixed-length
 * loops the compiler vectorizes (with AVX2 where the CPU has it). */
__attribute__((target_clones("arch=x86-64-v3", "popcnt",
                             "default"))) static size_t
cands_count(const struct cands *c, size_t words)
{
    enum { BLOCK = 256 };
    uint64_t x[BLOCK];
    size_t total = 0;
    for (size_t b = 0; b < words; b += BLOCK) {
        size_t n = words - b;
        if (n < BLOCK) { /* the last, partial block */
            for (size_t j = 0; j < n; j++) {
                total += (size_t)__builtin_popcountll(cands_word(c, b + j));
            }
            break;
        }
        for (size_t j = 0; j < BLOCK; j++) {
            x[j] = c->have ? c->cand[b + j] : ~0ull;
        }
        for (size_t i = 0; i < c->nt; i++) {
            const uint64_t *y = c->t[i].bits + b, f = c->t[i].flip;
            for (size_t j = 0; j < BLOCK; j++) {
                x[j] &= y[j] ^ f;
            }
        }
        for (size_t j = 0; j < BLOCK; j++) {
            total += (size_t)__builtin_popcountll(x[j]);
        }
    }
    return total;
}

/* Per ranked-token sort key: the set of each code in rank order, then of
 * every other code. */
struct rank_sets {
    uint64_t **code;
    uint64_t *other;
};

/* The keys (null flag, value) of sort key k for rid, as SQL computes
 * them: min over the rows ascending, max descending. */
static void
sort_keys(const search_plan *p, size_t k, const struct rank_sets *rs,
          const search_sets *s, int64_t rid, int64_t hid, fhir_sqlval *out)
{
    const search_sort *so = &p->sort[k];
    const struct search_param *sp = so->param;
    fhir_sqlval *flag = &out[2 * k], *val = &out[2 * k + 1];
    int64_t v = 0;
    int has = 0;
    memset(flag, 0, sizeof(*flag));
    memset(val, 0, sizeof(*val));
    if (sp->builtin == SEARCH_BUILTIN_LASTUPDATED) {
        v = hid;
        has = 1;
    } else if (sp->type == SEARCH_TYPE_DATE) {
        int64_t lo = 0, hi = 0;
        has = s->date(s->ctx, sp->num, rid, &lo, &hi) == 1;
        v = so->desc ? hi : lo;
    } else {
        uint64_t bit = 1ull << (rid % 64);
        size_t w = (size_t)rid / 64;
        int other = (rs->other[w] & bit) != 0;
        if (so->desc && other) {
            v = (int64_t)sp->norder;
            has = 1;
        }
        for (size_t j = 0; j < sp->norder && !has; j++) {
            size_t i = so->desc ? sp->norder - 1 - j : j;
            if (rs->code[i][w] & bit) {
                v = (int64_t)i;
                has = 1;
            }
        }
        if (!has && other) {
            v = (int64_t)sp->norder;
            has = 1;
        }
    }
    flag->i = !has;
    if (has) {
        val->i = v;
    } else {
        val->is_text = 1; /* SQL NULL */
    }
}

/* Order of two rows by sort key k alone, in paging order (<0: a first).
 * Keys here are integers or NULL, and a NULL value always comes with the
 * null flag set, so comparing flags then values is search_plan_order_cmp
 * restricted to key k. */
static int
pair_cmp(const search_plan *p, size_t k, const fhir_sqlval *a,
         const fhir_sqlval *b)
{
    const fhir_sqlval *fa = &a[2 * k], *fb = &b[2 * k];
    int c = fa->i < fb->i ? -1 : fa->i > fb->i;
    if (c == 0 && fa->i == 0) {
        const fhir_sqlval *va = &a[2 * k + 1], *vb = &b[2 * k + 1];
        c = va->i < vb->i ? -1 : va->i > vb->i;
        if (p->sort[k].desc) {
            c = -c;
        }
    }
    return p->cursor_before ? -c : c;
}

/* The page's picks: the best `want` rows past the cursor, best first. */
struct pick {
    int64_t rid;
    fhir_sqlval *keys;
};

int
search_plan_small_driver(const search_plan *p, int64_t at_most)
{
    for (size_t i = 0; i < p->nconds; i++) {
        const search_cond *c = &p->conds[i];
        if (c->estimate >= 0 && c->estimate <= at_most &&
            c->mod == SEARCH_MOD_NONE && c->link == SEARCH_LINK_NONE &&
            !cond_negated(c)) {
            return 1;
        }
    }
    return 0;
}

int
search_plan_hot_run(search_plan *p, const search_sets *s, int64_t applied)
{
    size_t words = s->words, nk = 2 * p->nsort;
    int all = 1, rc = 0;
    uint64_t *cand = s->scratch, *tmp = NULL;
    if (s->scratch != NULL) {
        tmp = s->scratch + words;
    } else {
        cand = calloc(words, sizeof(uint64_t));
        tmp = calloc(words, sizeof(uint64_t));
    }
    struct rank_sets *rs = calloc(p->nsort + 1, sizeof(*rs));
    struct pick *best = NULL;
    fhir_sqlval *kbuf = NULL;
    int64_t *list = NULL;
    /* Sets kept as one bitset are ANDed in place, all in one pass at the
     * end (no copies); the others are built in tmp and ANDed into cand
     * (have: cand holds a set; until then it stands for all). */
    struct term terms[HOT_MAX_TERMS];
    size_t nterms = 0;
    int have = 0;

    if (cand == NULL || tmp == NULL || rs == NULL) {
        goto done;
    }
    /* A positive condition's set holds live resources only; without one,
     * or when the first one's parameter also serves other types, the live
     * resources of the searched types are ANDed too. */
    const search_cond *first = NULL;
    for (size_t i = 0; i < p->nconds && first == NULL; i++) {
        const search_cond *c = &p->conds[i];
        if (cond_hot(c, s) && !cond_negated(c)) {
            first = c;
        }
    }
    /* Unless a set narrows them, the candidates would be the whole type,
     * which SQL filters by each chain and _has one at a time; SQL's own
     * plan can reach fewer through their references. */
    for (size_t i = 0; i < p->nconds && first == NULL; i++) {
        if (p->conds[i].link != SEARCH_LINK_NONE) {
            goto done;
        }
    }
    if (first == NULL || (first->param->types & ~types_mask(p)) != 0) {
        const uint64_t *live = p->opts.ntypes == 1
                                   ? s->live_bits(s->ctx, p->opts.type_codes[0])
                                   : NULL;
        if (live != NULL) {
            terms[nterms++] = (struct term){live, 0};
        } else {
            memset(cand, 0, words * sizeof(uint64_t));
            s->or_live(s->ctx, cand, p->opts.type_codes, p->opts.ntypes);
            have = 1;
        }
    }
    for (size_t i = 0; i < p->nconds; i++) {
        const search_cond *c = &p->conds[i];
        if (!cond_hot(c, s)) {
            all = 0;
            continue;
        }
        int neg = cond_negated(c);
        const uint64_t *bits = nterms < HOT_MAX_TERMS ? cond_bits(c, s) : NULL;
        if (bits != NULL) {
            terms[nterms++] = (struct term){bits, neg ? ~0ull : 0};
            continue;
        }
        uint64_t *into = have ? tmp : cand;
        memset(into, 0, words * sizeof(uint64_t));
        cond_set(into, c, s);
        if (!have) {
            for (size_t w = 0; neg && w < words; w++) {
                cand[w] = ~cand[w];
            }
            have = 1;
            continue;
        }
        for (size_t w = 0; w < words; w++) {
            cand[w] &= neg ? ~tmp[w] : tmp[w];
        }
    }
    for (size_t k = 0; k < p->nsort; k++) {
        if (!sort_hot(&p->sort[k], s)) {
            all = 0;
        }
    }
    struct cands cs = {cand, have, terms, nterms};
    size_t total = cands_count(&cs, words);
    if (!all && total > HOT_MAX_LIST) {
        goto done; /* too many to hand over: SQL as usual */
    }
    /* Ranked token keys: one set per code, so a rank is a few bit tests. */
    for (size_t k = 0; all && k < p->nsort; k++) {
        const struct search_param *sp = p->sort[k].param;
        if (sp->builtin != SEARCH_BUILTIN_NONE ||
            sp->type != SEARCH_TYPE_TOKEN) {
            continue;
        }
        rs[k].code = calloc(sp->norder + 1, sizeof(uint64_t *));
        rs[k].other = calloc(words, sizeof(uint64_t));
        if (rs[k].code == NULL || rs[k].other == NULL) {
            goto done;
        }
        for (size_t i = 0; i < sp->norder; i++) {
            rs[k].code[i] = calloc(words, sizeof(uint64_t));
            if (rs[k].code[i] == NULL) {
                goto done;
            }
            s->or_value(s->ctx, rs[k].code[i], sp->num, 0, NULL, sp->order[i]);
        }
        s->or_other(s->ctx, rs[k].other, sp->num, sp->order, sp->norder);
    }

    size_t want = all ? (size_t)p->count + 1 : total;
    size_t n = 0;
    best = calloc(want + 1, sizeof(*best));
    kbuf = calloc((want + 2) * (nk + 1), sizeof(fhir_sqlval));
    list = fhir_arena_alloc(p->a, (want + 1) * sizeof(int64_t));
    if (best == NULL || kbuf == NULL) {
        goto done;
    }
    for (size_t i = 0; i <= want; i++) {
        best[i].keys = kbuf + i * (nk + 1);
    }
    int back = p->cursor_before;
    int need_hid = applied > p->snapshot;
    for (size_t k = 0; k < p->nsort; k++) {
        need_hid |= p->sort[k].param->builtin == SEARCH_BUILTIN_LASTUPDATED;
    }
    /* Without sort keys rid order is result order: walk it from the
     * right end and stop when the page is full. */
    int early = all && p->nsort == 0;
    for (size_t j = 0; j < words; j++) {
        size_t w = back ? words - 1 - j : j;
        uint64_t bitsw = cands_word(&cs, w);
        while (bitsw != 0) {
            int b = back ? 63 - __builtin_clzll(bitsw) : __builtin_ctzll(bitsw);
            bitsw &= ~(1ull << b);
            int64_t rid = (int64_t)(w * 64 + (size_t)b);
            /* Sets newer than the snapshot: resources written since are
             * judged at the snapshot by the caller. */
            int64_t hid = need_hid ? s->hid(s->ctx, rid) : 0;
            if (need_hid && (hid == 0 || hid > p->snapshot)) {
                continue;
            }
            if (!all) {
                list[n++] = rid;
                continue;
            }
            /* The spare slot best[want] holds the newcomer. Once the page
             * is full, keys are computed one sort at a time and a row
             * already behind the last kept one is dropped (most rows,
             * for the price of their first key). */
            struct pick *c = &best[n < want ? n : want];
            size_t k = 0;
            int behind = 0;
            for (; k < p->nsort; k++) {
                sort_keys(p, k, &rs[k], s, rid, hid, c->keys);
                if (n < want) {
                    continue;
                }
                int o = pair_cmp(p, k, c->keys, best[want - 1].keys);
                if (o != 0) {
                    behind = o > 0;
                    break;
                }
            }
            if (behind) {
                continue;
            }
            for (k++; k < p->nsort; k++) {
                sort_keys(p, k, &rs[k], s, rid, hid, c->keys);
            }
            c->rid = rid;
            if (!search_plan_past_cursor(p, c->keys, rid)) {
                continue;
            }
            /* Insert in paging order (best first). */
            size_t pos = n < want ? n : want;
            struct pick nw = *c;
            while (pos > 0) {
                int o = search_plan_order_cmp(p, best[pos - 1].keys,
                                              best[pos - 1].rid, nw.keys, rid);
                if (back ? o > 0 : o < 0) {
                    break;
                }
                best[pos] = best[pos - 1];
                pos--;
            }
            best[pos] = nw;
            if (n < want) {
                n++;
            }
            if (early && n == want) {
                goto picked;
            }
        }
    }
picked:
    if (all) {
        for (size_t i = 0; i < n; i++) {
            list[i] = best[i].rid;
        }
    }
    p->hot_rids = list;
    p->nhot = n;
    p->hot_used = 1;
    /* The count is exact when the sets are at the snapshot and judged
     * everything. */
    p->hot_count = all && applied <= p->snapshot ? (int64_t)total : -1;
    rc = 1;
done:
    for (size_t k = 0; k < p->nsort && rs != NULL; k++) {
        for (size_t i = 0; rs[k].code != NULL && i < p->sort[k].param->norder;
             i++) {
            free(rs[k].code[i]);
        }
        free(rs[k].code);
        free(rs[k].other);
    }
    free(rs);
    free(best);
    free(kbuf);
    if (s->scratch == NULL) {
        free(cand);
        free(tmp);
    }
    return rc;
}
