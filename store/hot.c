/* store/hot.c - the hot index: the resources holding each value of the
 * repetitive token and reference parameters, kept in memory.
 *
 * "Requested tasks for nurses" intersects two posting lists of a hundred
 * thousand entries; SQLite walks them at about a microsecond per entry,
 * a bitset ANDs 64 entries in a nanosecond. So for parameters with few
 * distinct values (status, performer, priority, owner: at most
 * HOT_MAX_KEYS values) the set of live resources holding each value is
 * kept here - a sorted rid array while small, a bitset once that is
 * smaller - with the set of resources having the parameter at all (for
 * :missing), the current version (hid) and type of every resource, and,
 * per date parameter used for sorting, each resource's lowest start and
 * highest end. A parameter's sets are built from the index tables when a
 * search first needs them, holding the writer lock so that no commit is
 * missed; afterwards each commit, once durable, brings them up to date.
 * A parameter that grows past HOT_MAX_KEYS values (an identifier) is
 * dropped for good. The sets only choose rows: search verifies every row
 * it returns in SQL.
 */
#include "store/store.h"
#include "store/store_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define HOT_MAX_KEYS 4096
#define HOT_MAX_RID ((int64_t)UINT32_MAX - 1)
#define HOT_MAX_TCODE 64

/* A set of rids: sorted array, or bitset over [0, cap) once denser. */
struct hset {
    uint32_t *v;
    size_t n, cap;
    uint64_t *bits; /* non-NULL: bitset mode (n is then unused) */
};

struct hkey {
    int64_t sys; /* sysdict id; -1 for references */
    char *code;
    struct hset set;
};

enum { HP_UNKNOWN = 0, HP_HOT, HP_COLD };

struct hparam {
    int state;
    struct hkey *keys;
    size_t nkeys, capkeys;
    uint32_t *slots; /* open addressing: key index + 1, 0 empty */
    size_t nslots;
    uint64_t *has; /* resources with any row of the parameter */
};

struct hdate {
    int built;
    int64_t *lo, *hi; /* per rid; INT64_MAX / INT64_MIN: no value */
};

/* One resource's change in the open write transaction. */
struct hchange {
    int64_t rid, hid;
    int tcode, live;
    store__key *old, *now; /* token (sys >= 0) and reference keys */
    size_t nold, nnow;
    int *params; /* parameters with rows now */
    size_t nparams;
    fhir_row *dates; /* date rows now (lo, hi, param) */
    size_t ndates;
};

struct hsys {
    int64_t id;
    char *uri;
};

struct store__hot {
    pthread_rwlock_t lock;
    int built;    /* core arrays loaded */
    size_t words; /* bitset size: rid capacity / 64 */
    int64_t *hid; /* per rid: current hid, 0 when not live */
    uint8_t *tcode;
    uint64_t *live[HOT_MAX_TCODE]; /* per type code: live resources */
    int64_t applied;               /* hid of the last commit applied */
    struct hparam *params;
    size_t nparams;
    struct hdate *dates;
    size_t ndates;
    struct hsys *sys;
    size_t nsys, capsys;
    /* guarded by the writer lock */
    struct hchange *pending;
    size_t npending, cappending;
    struct hsys *psys; /* systems new in the open transaction */
    size_t npsys, cappsys;
    int disabled;
};

static void *
grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return p;
    }
    size_t c = *cap ? *cap : 8;
    while (c < need) {
        c *= 2;
    }
    p = fhir_xrealloc(p, c * size);
    *cap = c;
    return p;
}

/* ---- sets ------------------------------------------------------------ */

static size_t
find_pos(const struct hset *s, uint32_t rid)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->v[mid] < rid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static void
hset_add(struct hset *s, uint32_t rid, size_t words)
{
    if (s->bits != NULL) {
        s->bits[rid / 64] |= 1ull << (rid % 64);
        return;
    }
    size_t pos = s->n > 0 && s->v[s->n - 1] < rid ? s->n : find_pos(s, rid);
    if (pos < s->n && s->v[pos] == rid) {
        return;
    }
    /* An array larger than half the bitset becomes the bitset: a search
     * reads a bitset in place, where an array is first spread into one
     * (at 1M Tasks, a status held by 4 % of them was spread into a bitset
     * on every search for it). */
    if ((s->n + 1) * sizeof(uint32_t) * 2 > words * sizeof(uint64_t)) {
        s->bits = fhir_xcalloc(words, sizeof(uint64_t));
        for (size_t i = 0; i < s->n; i++) {
            s->bits[s->v[i] / 64] |= 1ull << (s->v[i] % 64);
        }
        s->bits[rid / 64] |= 1ull << (rid % 64);
        free(s->v);
        s->v = NULL;
        s->n = s->cap = 0;
        return;
    }
    s->v = grow(s->v, &s->cap, s->n + 1, sizeof(*s->v));
    memmove(s->v + pos + 1, s->v + pos, (s->n - pos) * sizeof(*s->v));
    s->v[pos] = rid;
    s->n++;
}

static void
hset_del(struct hset *s, uint32_t rid)
{
    if (s->bits != NULL) {
        s->bits[rid / 64] &= ~(1ull << (rid % 64));
        return;
    }
    size_t pos = find_pos(s, rid);
    if (pos < s->n && s->v[pos] == rid) {
        memmove(s->v + pos, s->v + pos + 1, (s->n - pos - 1) * sizeof(*s->v));
        s->n--;
    }
}

static void
hset_or_into(const struct hset *s, uint64_t *bits, size_t words)
{
    if (s->bits != NULL) {
        for (size_t i = 0; i < words; i++) {
            bits[i] |= s->bits[i];
        }
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        bits[s->v[i] / 64] |= 1ull << (s->v[i] % 64);
    }
}

static void
hset_resize(struct hset *s, size_t old_words, size_t words)
{
    if (s->bits != NULL) {
        s->bits = fhir_xrealloc(s->bits, words * sizeof(uint64_t));
        memset(s->bits + old_words, 0, (words - old_words) * sizeof(uint64_t));
    }
}

static void
hset_free(struct hset *s)
{
    free(s->v);
    free(s->bits);
    memset(s, 0, sizeof(*s));
}

/* ---- parameters -------------------------------------------------------- */

static uint64_t
key_hash(int64_t sys, const char *code)
{
    return fhir_hash(FHIR_HASH_SEED ^ (uint64_t)sys, code, strlen(code));
}

static void
param_free(struct hparam *p)
{
    for (size_t i = 0; i < p->nkeys; i++) {
        free(p->keys[i].code);
        hset_free(&p->keys[i].set);
    }
    free(p->keys);
    free(p->slots);
    free(p->has);
    memset(p, 0, sizeof(*p));
}

static void
rehash(struct hparam *p)
{
    size_t n = 64;
    while (n < p->nkeys * 2 + 2) {
        n *= 2;
    }
    free(p->slots);
    p->slots = fhir_xcalloc(n, sizeof(*p->slots));
    p->nslots = n;
    for (size_t i = 0; i < p->nkeys; i++) {
        size_t j = key_hash(p->keys[i].sys, p->keys[i].code) & (n - 1);
        while (p->slots[j] != 0) {
            j = (j + 1) & (n - 1);
        }
        p->slots[j] = (uint32_t)i + 1;
    }
}

/* The key (sys, code) of p; created when `create`, else NULL if absent. */
static struct hkey *
key_get(struct hparam *p, int64_t sys, const char *code, int create)
{
    if (p->nslots > 0) {
        size_t j = key_hash(sys, code) & (p->nslots - 1);
        while (p->slots[j] != 0) {
            struct hkey *k = &p->keys[p->slots[j] - 1];
            if (k->sys == sys && strcmp(k->code, code) == 0) {
                return k;
            }
            j = (j + 1) & (p->nslots - 1);
        }
    }
    if (!create) {
        return NULL;
    }
    p->keys = grow(p->keys, &p->capkeys, p->nkeys + 1, sizeof(*p->keys));
    struct hkey *k = &p->keys[p->nkeys++];
    memset(k, 0, sizeof(*k));
    k->sys = sys;
    k->code = fhir_xstrdup(code);
    if (p->nkeys * 2 + 2 > p->nslots) {
        rehash(p);
    } else {
        size_t j = key_hash(sys, code) & (p->nslots - 1);
        while (p->slots[j] != 0) {
            j = (j + 1) & (p->nslots - 1);
        }
        p->slots[j] = (uint32_t)p->nkeys;
    }
    return k;
}

static struct hparam *
param_at(store__hot *h, int param)
{
    if (param < 0) {
        return NULL;
    }
    if ((size_t)param >= h->nparams) {
        size_t n = (size_t)param + 16;
        h->params = fhir_xrealloc(h->params, n * sizeof(*h->params));
        memset(h->params + h->nparams, 0,
               (n - h->nparams) * sizeof(*h->params));
        h->nparams = n;
    }
    return &h->params[param];
}

static struct hdate *
date_at(store__hot *h, int param)
{
    if (param < 0) {
        return NULL;
    }
    if ((size_t)param >= h->ndates) {
        size_t n = (size_t)param + 16;
        h->dates = fhir_xrealloc(h->dates, n * sizeof(*h->dates));
        memset(h->dates + h->ndates, 0, (n - h->ndates) * sizeof(*h->dates));
        h->ndates = n;
    }
    return &h->dates[param];
}

/* Makes room for rid in every per-rid array and bitset. */
static void
ensure_rid(store__hot *h, int64_t rid)
{
    if ((size_t)rid < h->words * 64) {
        return;
    }
    /* An eighth of headroom, not doubling: at a million resources every
     * per-rid array and bitset would otherwise be up to twice its use. */
    size_t old = h->words, need = (size_t)rid / 64 + 1;
    size_t words = need + need / 8 + 256;
    size_t n = words * 64, on = old * 64;
    h->hid = fhir_xrealloc(h->hid, n * sizeof(*h->hid));
    memset(h->hid + on, 0, (n - on) * sizeof(*h->hid));
    h->tcode = fhir_xrealloc(h->tcode, n);
    memset(h->tcode + on, 0, n - on);
    for (size_t t = 0; t < HOT_MAX_TCODE; t++) {
        if (h->live[t] != NULL) { /* only the types that occur */
            h->live[t] = fhir_xrealloc(h->live[t], words * sizeof(uint64_t));
            memset(h->live[t] + old, 0, (words - old) * sizeof(uint64_t));
        }
    }
    for (size_t i = 0; i < h->nparams; i++) {
        struct hparam *p = &h->params[i];
        if (p->state != HP_HOT) {
            continue;
        }
        p->has = fhir_xrealloc(p->has, words * sizeof(uint64_t));
        memset(p->has + old, 0, (words - old) * sizeof(uint64_t));
        for (size_t k = 0; k < p->nkeys; k++) {
            hset_resize(&p->keys[k].set, old, words);
        }
    }
    for (size_t i = 0; i < h->ndates; i++) {
        struct hdate *d = &h->dates[i];
        if (!d->built) {
            continue;
        }
        d->lo = fhir_xrealloc(d->lo, n * sizeof(int64_t));
        d->hi = fhir_xrealloc(d->hi, n * sizeof(int64_t));
        for (size_t r = on; r < n; r++) {
            d->lo[r] = INT64_MAX;
            d->hi[r] = INT64_MIN;
        }
    }
    h->words = words;
}

/* The live set of a type code, allocated when the type first occurs. */
static uint64_t *
live_bits(store__hot *h, int tcode)
{
    if (h->live[tcode] == NULL) {
        h->live[tcode] =
            fhir_xcalloc(h->words ? h->words : 1, sizeof(uint64_t));
    }
    return h->live[tcode];
}

/* ---- life cycle -------------------------------------------------------- */

void
store__hot_init(store_env *env)
{
    store__hot *h = fhir_xcalloc(1, sizeof(*h));
    pthread_rwlock_init(&h->lock, NULL);
    h->disabled = env->opts.no_hot;
    env->hot = h;
}

static void
hot_reset(store__hot *h)
{
    for (size_t i = 0; i < h->nparams; i++) {
        param_free(&h->params[i]);
    }
    for (size_t i = 0; i < h->ndates; i++) {
        free(h->dates[i].lo);
        free(h->dates[i].hi);
    }
    for (size_t i = 0; i < h->nsys; i++) {
        free(h->sys[i].uri);
    }
    free(h->params);
    free(h->dates);
    free(h->sys);
    free(h->hid);
    free(h->tcode);
    for (size_t t = 0; t < HOT_MAX_TCODE; t++) {
        free(h->live[t]);
        h->live[t] = NULL;
    }
    h->params = NULL;
    h->dates = NULL;
    h->sys = NULL;
    h->hid = NULL;
    h->tcode = NULL;
    h->nparams = h->ndates = h->nsys = h->capsys = h->words = 0;
    h->built = 0;
}

static void
change_free(struct hchange *c)
{
    for (size_t i = 0; i < c->nold; i++) {
        free((char *)c->old[i].code);
    }
    for (size_t i = 0; i < c->nnow; i++) {
        free((char *)c->now[i].code);
    }
    free(c->old);
    free(c->now);
    free(c->params);
    free(c->dates);
}

void
store__hot_discard(store_env *env)
{
    store__hot *h = env->hot;
    for (size_t i = 0; i < h->npending; i++) {
        change_free(&h->pending[i]);
    }
    h->npending = 0;
    for (size_t i = 0; i < h->npsys; i++) {
        free(h->psys[i].uri);
    }
    h->npsys = 0;
}

void
store__hot_mark(store_env *env, size_t mark[2])
{
    mark[0] = env->hot->npending;
    mark[1] = env->hot->npsys;
}

void
store__hot_undo(store_env *env, const size_t mark[2])
{
    store__hot *h = env->hot;
    for (size_t i = mark[0]; i < h->npending; i++) {
        change_free(&h->pending[i]);
    }
    for (size_t i = mark[1]; i < h->npsys; i++) {
        free(h->psys[i].uri);
    }
    h->npending = mark[0]; /* notes only grow while a member runs */
    h->npsys = mark[1];
}

void
store__hot_free(store_env *env)
{
    store__hot *h = env->hot;
    if (h == NULL) {
        return;
    }
    store__hot_discard(env);
    free(h->pending);
    free(h->psys);
    hot_reset(h);
    pthread_rwlock_destroy(&h->lock);
    free(h);
    env->hot = NULL;
}

void
store__hot_invalidate(store_env *env)
{
    store__hot *h = env->hot;
    pthread_rwlock_wrlock(&h->lock);
    hot_reset(h);
    pthread_rwlock_unlock(&h->lock);
}

/* ---- writes ------------------------------------------------------------ */

static store__key *
keys_copy(const store__key *k, size_t n)
{
    store__key *out = fhir_xcalloc(n ? n : 1, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        out[i] = k[i];
        out[i].code = fhir_xstrdup(k[i].code ? k[i].code : "");
    }
    return out;
}

void
store__hot_note(store_env *env, int64_t rid, int type, int live,
                const store__key *old, size_t nold, const store__key *now,
                size_t nnow, const int *params, size_t nparams,
                const fhir_rows *rows)
{
    store__hot *h = env->hot;
    if (!h->built) {
        return; /* the first search loads everything */
    }
    h->pending =
        grow(h->pending, &h->cappending, h->npending + 1, sizeof(*h->pending));
    struct hchange *c = &h->pending[h->npending++];
    memset(c, 0, sizeof(*c));
    c->rid = rid;
    c->hid = env->last_us;
    c->tcode = env->type_code[type];
    c->live = live;
    c->old = keys_copy(old, nold);
    c->nold = nold;
    c->now = keys_copy(now, nnow);
    c->nnow = nnow;
    c->params = fhir_xcalloc(nparams ? nparams : 1, sizeof(int));
    memcpy(c->params, params, nparams * sizeof(int));
    c->nparams = nparams;
    c->dates = fhir_xcalloc(rows ? rows->n + 1 : 1, sizeof(fhir_row));
    for (size_t i = 0; rows != NULL && i < rows->n; i++) {
        if (rows->rows[i].kind == FHIR_ROW_DATE) {
            c->dates[c->ndates].param = rows->rows[i].param;
            c->dates[c->ndates].lo = rows->rows[i].lo;
            c->dates[c->ndates].hi = rows->rows[i].hi;
            c->ndates++;
        }
    }
}

void
store__hot_note_sys(store_env *env, int64_t id, const char *uri)
{
    store__hot *h = env->hot;
    if (!h->built) {
        return;
    }
    /* Known to searches only once committed: a rolled back id is
     * reused. */
    h->psys = grow(h->psys, &h->cappsys, h->npsys + 1, sizeof(*h->psys));
    h->psys[h->npsys].id = id;
    h->psys[h->npsys].uri = fhir_xstrdup(uri);
    h->npsys++;
}

/* One key's rid set, for a change: the parameter must be hot. */
static void
apply_key(store__hot *h, const store__key *k, uint32_t rid, int add)
{
    struct hparam *p = param_at(h, k->param);
    if (p == NULL || p->state != HP_HOT) {
        return;
    }
    struct hkey *key = key_get(p, k->sys, k->code, add);
    if (key == NULL) {
        return;
    }
    if (add) {
        hset_add(&key->set, rid, h->words);
    } else {
        hset_del(&key->set, rid);
    }
    if (p->nkeys > HOT_MAX_KEYS) {
        param_free(p);
        p->state = HP_COLD; /* too many values to be worth it */
    }
}

static void
apply_change(store__hot *h, const struct hchange *c)
{
    if (c->rid > HOT_MAX_RID) {
        h->disabled = 1;
        return;
    }
    ensure_rid(h, c->rid);
    uint32_t rid = (uint32_t)c->rid;
    h->hid[rid] = c->live ? c->hid : 0;
    h->tcode[rid] = (uint8_t)c->tcode;
    if (c->tcode >= 0 && c->tcode < HOT_MAX_TCODE) {
        if (c->live) {
            live_bits(h, c->tcode)[rid / 64] |= 1ull << (rid % 64);
        } else {
            live_bits(h, c->tcode)[rid / 64] &= ~(1ull << (rid % 64));
        }
    }
    for (size_t i = 0; i < c->nold; i++) {
        apply_key(h, &c->old[i], rid, 0);
    }
    for (size_t i = 0; i < c->nnow; i++) {
        apply_key(h, &c->now[i], rid, 1);
    }
    for (size_t i = 0; i < h->nparams; i++) {
        struct hparam *p = &h->params[i];
        if (p->state != HP_HOT) {
            continue;
        }
        int has = 0;
        for (size_t j = 0; j < c->nparams && !has; j++) {
            has = c->params[j] == (int)i;
        }
        if (has) {
            p->has[rid / 64] |= 1ull << (rid % 64);
        } else {
            p->has[rid / 64] &= ~(1ull << (rid % 64));
        }
    }
    for (size_t i = 0; i < h->ndates; i++) {
        struct hdate *d = &h->dates[i];
        if (!d->built) {
            continue;
        }
        d->lo[rid] = INT64_MAX;
        d->hi[rid] = INT64_MIN;
        for (size_t j = 0; j < c->ndates; j++) {
            if (c->dates[j].param == (int)i) {
                if (c->dates[j].lo < d->lo[rid]) {
                    d->lo[rid] = c->dates[j].lo;
                }
                if (c->dates[j].hi > d->hi[rid]) {
                    d->hi[rid] = c->dates[j].hi;
                }
            }
        }
    }
}

void
store__hot_apply(store_env *env)
{
    store__hot *h = env->hot;
    if (h->npending == 0 && h->npsys == 0) {
        return;
    }
    pthread_rwlock_wrlock(&h->lock);
    if (h->built && !h->disabled) {
        for (size_t i = 0; i < h->npsys; i++) {
            h->sys = grow(h->sys, &h->capsys, h->nsys + 1, sizeof(*h->sys));
            h->sys[h->nsys] = h->psys[i];
            h->psys[i].uri = NULL; /* moved */
            h->nsys++;
        }
        for (size_t i = 0; i < h->npending; i++) {
            apply_change(h, &h->pending[i]);
        }
        h->applied = env->last_us;
    }
    pthread_rwlock_unlock(&h->lock);
    store__hot_discard(env);
}

/* ---- building, under the writer lock ------------------------------------ */

static int
build_fail(store_env *env, sqlite3_stmt *st, fhir_err *err)
{
    store__fail(err, env->w.db, sqlite3_errcode(env->w.db), "hot index");
    sqlite3_finalize(st);
    return -1;
}

static int
build_core(store_env *env, store__hot *h, fhir_err *err)
{
    sqlite3_stmt *st = NULL;
    int s;
    /* Sized once for the rids there are (rows come in rid order). */
    if (sqlite3_prepare_v2(env->w.db, "SELECT max(rid) FROM resource", -1, &st,
                           NULL) != SQLITE_OK) {
        return build_fail(env, st, err);
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        int64_t max = sqlite3_column_int64(st, 0);
        if (max > 0 && max <= HOT_MAX_RID) {
            ensure_rid(h, max);
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(env->w.db,
                           "SELECT rid, type, hid, deleted FROM resource", -1,
                           &st, NULL) != SQLITE_OK) {
        return build_fail(env, st, err);
    }
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t rid = sqlite3_column_int64(st, 0);
        if (rid > HOT_MAX_RID || rid < 0) {
            h->disabled = 1;
            break;
        }
        int tcode = sqlite3_column_int(st, 1);
        if (tcode < 0 || tcode >= HOT_MAX_TCODE) {
            h->disabled = 1;
            break;
        }
        ensure_rid(h, rid);
        h->tcode[rid] = (uint8_t)tcode;
        if (sqlite3_column_int(st, 3) == 0) {
            h->hid[rid] = sqlite3_column_int64(st, 2);
            live_bits(h, tcode)[rid / 64] |= 1ull << (rid % 64);
        }
    }
    if (s != SQLITE_DONE && s != SQLITE_ROW) {
        return build_fail(env, st, err);
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(env->w.db, "SELECT id, uri FROM sysdict", -1, &st,
                           NULL) != SQLITE_OK) {
        return build_fail(env, st, err);
    }
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        h->sys = grow(h->sys, &h->capsys, h->nsys + 1, sizeof(*h->sys));
        h->sys[h->nsys].id = sqlite3_column_int64(st, 0);
        h->sys[h->nsys].uri =
            fhir_xstrdup((const char *)sqlite3_column_text(st, 1));
        h->nsys++;
    }
    if (s != SQLITE_DONE) {
        return build_fail(env, st, err);
    }
    sqlite3_finalize(st);
    ensure_rid(h, 0);
    h->applied = env->last_us;
    h->built = 1;
    return 0;
}

/* Loads parameter `param` (token or reference) into p. */
static int
build_param(store_env *env, store__hot *h, struct hparam *p, int param, int ref,
            fhir_err *err)
{
    static const char *const any[] = {
        "SELECT rid FROM idx_token WHERE param = ?1",
        "SELECT rid FROM idx_string WHERE param = ?1",
        "SELECT rid FROM idx_date WHERE param = ?1",
        "SELECT rid FROM idx_ref WHERE param = ?1",
        "SELECT rid FROM idx_uri WHERE param = ?1"};
    sqlite3_stmt *st = NULL;
    int s;
    const char *nkeys = ref ? "SELECT count(*) FROM (SELECT DISTINCT ref "
                              "FROM idx_ref WHERE param = ?1 LIMIT 4097)"
                            : "SELECT count(*) FROM (SELECT DISTINCT sys, "
                              "code FROM idx_token WHERE param = ?1 "
                              "LIMIT 4097)";
    if (sqlite3_prepare_v2(env->w.db, nkeys, -1, &st, NULL) != SQLITE_OK) {
        return build_fail(env, st, err);
    }
    sqlite3_bind_int(st, 1, param);
    if (sqlite3_step(st) != SQLITE_ROW) {
        return build_fail(env, st, err);
    }
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (n > HOT_MAX_KEYS) {
        p->state = HP_COLD;
        return 0;
    }
    p->state = HP_HOT;
    p->has = fhir_xcalloc(h->words, sizeof(uint64_t));
    /* In the value indexes' order: each key's rids come ascending (so
     * its set only appends) and SQLite sorts nothing - sorting a million
     * rows by rid took tens of MB of the heap for a moment, which the
     * allocator then kept. */
    const char *rows = ref ? "SELECT rid, -1, ref FROM idx_ref "
                             "WHERE param = ?1 ORDER BY ref, rid"
                           : "SELECT rid, sys, code FROM idx_token "
                             "WHERE param = ?1 ORDER BY code, sys, rid";
    if (sqlite3_prepare_v2(env->w.db, rows, -1, &st, NULL) != SQLITE_OK) {
        return build_fail(env, st, err);
    }
    sqlite3_bind_int(st, 1, param);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t rid = sqlite3_column_int64(st, 0);
        if (rid < 0 || (size_t)rid >= h->words * 64) {
            continue; /* cannot be: core holds every resource */
        }
        const char *code = (const char *)sqlite3_column_text(st, 2);
        struct hkey *k =
            key_get(p, sqlite3_column_int64(st, 1), code ? code : "", 1);
        hset_add(&k->set, (uint32_t)rid, h->words);
    }
    if (s != SQLITE_DONE) {
        return build_fail(env, st, err);
    }
    sqlite3_finalize(st);
    for (size_t t = 0; t < sizeof(any) / sizeof(any[0]); t++) {
        if (sqlite3_prepare_v2(env->w.db, any[t], -1, &st, NULL) != SQLITE_OK) {
            return build_fail(env, st, err);
        }
        sqlite3_bind_int(st, 1, param);
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t rid = sqlite3_column_int64(st, 0);
            if (rid >= 0 && (size_t)rid < h->words * 64) {
                p->has[rid / 64] |= 1ull << (rid % 64);
            }
        }
        if (s != SQLITE_DONE) {
            return build_fail(env, st, err);
        }
        sqlite3_finalize(st);
    }
    return 0;
}

static int
build_date(store_env *env, store__hot *h, struct hdate *d, int param,
           fhir_err *err)
{
    sqlite3_stmt *st = NULL;
    int s;
    size_t n = h->words * 64;
    d->lo = fhir_xcalloc(n, sizeof(int64_t));
    d->hi = fhir_xcalloc(n, sizeof(int64_t));
    for (size_t r = 0; r < n; r++) {
        d->lo[r] = INT64_MAX;
        d->hi[r] = INT64_MIN;
    }
    d->built = 1;
    if (sqlite3_prepare_v2(env->w.db,
                           "SELECT rid, lo, hi FROM idx_date WHERE param = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        return build_fail(env, st, err);
    }
    sqlite3_bind_int(st, 1, param);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t rid = sqlite3_column_int64(st, 0);
        int64_t lo = sqlite3_column_int64(st, 1);
        int64_t hi = sqlite3_column_int64(st, 2);
        if (rid < 0 || (size_t)rid >= n) {
            continue;
        }
        if (lo < d->lo[rid]) {
            d->lo[rid] = lo;
        }
        if (hi > d->hi[rid]) {
            d->hi[rid] = hi;
        }
    }
    if (s != SQLITE_DONE) {
        return build_fail(env, st, err);
    }
    sqlite3_finalize(st);
    return 0;
}

int
store_hot_prepare(store_env *env, const store_hot_need *need, size_t n,
                  fhir_err *err)
{
    store__hot *h = env->hot;
    int todo = !h->built;
    if (h->disabled) {
        return 0;
    }
    /* Unlocked peek: states only ever leave HP_UNKNOWN under the lock. */
    pthread_rwlock_rdlock(&h->lock);
    for (size_t i = 0; i < n && !todo; i++) {
        int num = need[i].param;
        if (need[i].kind == STORE_HOT_DATE) {
            todo =
                num >= 0 && ((size_t)num >= h->ndates || !h->dates[num].built);
        } else {
            todo = num >= 0 && ((size_t)num >= h->nparams ||
                                h->params[num].state == HP_UNKNOWN);
        }
    }
    pthread_rwlock_unlock(&h->lock);
    if (!todo) {
        return 0;
    }
    int rc = 0;
    store__wlock(env);
    pthread_rwlock_wrlock(&h->lock);
    if (!h->built && !h->disabled) {
        rc = build_core(env, h, err);
    }
    for (size_t i = 0; i < n && rc == 0 && !h->disabled; i++) {
        int num = need[i].param;
        if (num < 0) {
            continue;
        }
        if (need[i].kind == STORE_HOT_DATE) {
            struct hdate *d = date_at(h, num);
            if (!d->built) {
                rc = build_date(env, h, d, num, err);
            }
        } else {
            struct hparam *p = param_at(h, num);
            if (p->state == HP_UNKNOWN) {
                rc = build_param(env, h, p, num, need[i].kind == STORE_HOT_REF,
                                 err);
            }
        }
    }
    if (rc != 0) {
        hot_reset(h); /* all or nothing; the next search tries again */
    }
    /* The build read whole indexes through the writer's page cache:
     * give those pages back (writes refill it with what they touch). */
    sqlite3_db_release_memory(env->w.db);
    pthread_rwlock_unlock(&h->lock);
    store__wunlock(env);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

struct store_hot {
    store__hot *h;
};

store_hot *
store_hot_begin(store_env *env)
{
    store__hot *h = env->hot;
    pthread_rwlock_rdlock(&h->lock);
    if (!h->built || h->disabled) {
        pthread_rwlock_unlock(&h->lock);
        return NULL;
    }
    return (store_hot *)h;
}

void
store_hot_end(store_hot *v)
{
    if (v != NULL) {
        pthread_rwlock_unlock(&((store__hot *)v)->lock);
    }
}

static store__hot *
H(const store_hot *v)
{
    return (store__hot *)v;
}

size_t
store_hot_words(const store_hot *v)
{
    return H(v)->words;
}

int64_t
store_hot_applied(const store_hot *v)
{
    return H(v)->applied;
}

int
store_hot_is_hot(const store_hot *v, int param)
{
    store__hot *h = H(v);
    return param >= 0 && (size_t)param < h->nparams &&
           h->params[param].state == HP_HOT;
}

/* The sysdict id of a token system the sets know, else -1. */
static int64_t
sys_of(const store__hot *h, const char *sys)
{
    for (size_t i = 0; i < h->nsys; i++) {
        if (strcmp(h->sys[i].uri, sys) == 0) {
            return h->sys[i].id;
        }
    }
    return -1;
}

int
store_hot_or(const store_hot *v, uint64_t *bits, int param, int ref,
             const char *sys, const char *code)
{
    store__hot *h = H(v);
    if (!store_hot_is_hot(v, param)) {
        return -1;
    }
    const struct hparam *p = &h->params[param];
    int64_t sid = -1;
    if (!ref && sys != NULL && (sid = sys_of(h, sys)) < 0) {
        return 0; /* an unknown system holds nothing */
    }
    if (code != NULL && (ref || sys != NULL)) {
        struct hkey *k = key_get((struct hparam *)p, ref ? -1 : sid, code, 0);
        if (k != NULL) {
            hset_or_into(&k->set, bits, h->words);
        }
        return 0;
    }
    for (size_t i = 0; i < p->nkeys; i++) {
        const struct hkey *k = &p->keys[i];
        if ((code == NULL || strcmp(k->code, code) == 0) &&
            (sys == NULL || k->sys == sid)) {
            hset_or_into(&k->set, bits, h->words);
        }
    }
    return 0;
}

/* The key of param a lookup names when exactly one does, else NULL. */
static const struct hkey *
one_key(const store__hot *h, const struct hparam *p, int ref, const char *sys,
        const char *code)
{
    if (code == NULL) {
        return NULL;
    }
    int64_t sid = -1;
    if (!ref && sys != NULL && (sid = sys_of(h, sys)) < 0) {
        return NULL;
    }
    if (ref || sys != NULL) {
        return key_get((struct hparam *)p, ref ? -1 : sid, code, 0);
    }
    const struct hkey *one = NULL;
    for (size_t i = 0; i < p->nkeys; i++) {
        if (strcmp(p->keys[i].code, code) == 0) {
            if (one != NULL) {
                return NULL;
            }
            one = &p->keys[i];
        }
    }
    return one;
}

const uint64_t *
store_hot_bits(const store_hot *v, int param, int ref, const char *sys,
               const char *code)
{
    store__hot *h = H(v);
    if (!store_hot_is_hot(v, param)) {
        return NULL;
    }
    const struct hkey *k = one_key(h, &h->params[param], ref, sys, code);
    return k != NULL ? k->set.bits : NULL;
}

const uint64_t *
store_hot_has_bits(const store_hot *v, int param)
{
    store__hot *h = H(v);
    return store_hot_is_hot(v, param) ? h->params[param].has : NULL;
}

const uint64_t *
store_hot_live_bits(const store_hot *v, int tcode)
{
    store__hot *h = H(v);
    return tcode >= 0 && tcode < HOT_MAX_TCODE ? h->live[tcode] : NULL;
}

int
store_hot_or_other(const store_hot *v, uint64_t *bits, int param,
                   const char *const *codes, size_t ncodes)
{
    store__hot *h = H(v);
    if (!store_hot_is_hot(v, param)) {
        return -1;
    }
    const struct hparam *p = &h->params[param];
    for (size_t i = 0; i < p->nkeys; i++) {
        size_t j = 0;
        while (j < ncodes && strcmp(codes[j], p->keys[i].code) != 0) {
            j++;
        }
        if (j == ncodes) {
            hset_or_into(&p->keys[i].set, bits, h->words);
        }
    }
    return 0;
}

int
store_hot_or_has(const store_hot *v, uint64_t *bits, int param)
{
    store__hot *h = H(v);
    if (!store_hot_is_hot(v, param)) {
        return -1;
    }
    const uint64_t *has = h->params[param].has;
    for (size_t i = 0; i < h->words; i++) {
        bits[i] |= has[i];
    }
    return 0;
}

void
store_hot_or_live(const store_hot *v, uint64_t *bits, const int *tcodes,
                  size_t n)
{
    store__hot *h = H(v);
    for (size_t i = 0; i < n; i++) {
        const uint64_t *live = tcodes[i] >= 0 && tcodes[i] < HOT_MAX_TCODE
                                   ? h->live[tcodes[i]]
                                   : NULL;
        for (size_t w = 0; live != NULL && w < h->words; w++) {
            bits[w] |= live[w];
        }
    }
}

int64_t
store_hot_hid(const store_hot *v, int64_t rid)
{
    store__hot *h = H(v);
    return rid >= 0 && (size_t)rid < h->words * 64 ? h->hid[rid] : 0;
}

int
store_hot_date(const store_hot *v, int param, int64_t rid, int64_t *lo,
               int64_t *hi)
{
    store__hot *h = H(v);
    if (param < 0 || (size_t)param >= h->ndates || !h->dates[param].built) {
        return -1;
    }
    if (rid < 0 || (size_t)rid >= h->words * 64 ||
        h->dates[param].lo[rid] == INT64_MAX) {
        return 0;
    }
    *lo = h->dates[param].lo[rid];
    *hi = h->dates[param].hi[rid];
    return 1;
}
