/* store/pending.c - what a write transaction keeps in memory until it
 * ends: the changes to the planner's counts, and the token systems'
 * numbers.
 *
 * A resource with 25 index rows would otherwise run 25 count upserts, and
 * a 1,000-entry Bundle 25,000 of them, nearly all on the same few keys
 * (status=completed, the performer types). Summing the deltas per key and
 * writing them once, just before COMMIT (or before the transaction's own
 * queries read the counts), does the same work in a few hundred
 * statements; with group commit, once per group. A group member that
 * rolls back to its savepoint takes its own deltas back through an undo
 * log (and puts back what its flushes wrote, which the rollback undoes). Token
 * systems are few and looked up for every token row, so their numbers are kept
 * in memory; those created by the open transaction are forgotten if it rolls
 * back.
 */
#include "store/store.h"
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- a small open-addressing hash of string-ish keys --------------------- */

typedef struct pend_cnt {
    store__cnt kind;
    int tcode, param;
    int64_t sys;
    char *code; /* NULL for parameter and type counts */
    int64_t delta;
} pend_cnt;

typedef struct sys_ent {
    char *uri;
    int64_t id;
    int pending; /* 0, or the group member (1..) that created it */
} sys_ent;

struct store__pending {
    pend_cnt *cnt;
    size_t ncnt, capcnt;
    size_t *cslot; /* index + 1 into cnt, 0 empty */
    size_t ncslot;
    sys_ent *sys;
    size_t nsys, capsys;
    size_t *sslot;
    size_t nsslot;
    /* While a group member other than the first runs: what undoing it
     * must add back to cnt[].delta (its own deltas negated, the deltas
     * its flushes wrote, which its ROLLBACK TO unwrites). */
    int logging;
    struct undo {
        size_t i;
        int64_t delta;
    } * log;
    size_t nlog, caplog;
};

static void
log_add(store__pending *p, size_t i, int64_t delta)
{
    if (!p->logging || delta == 0) {
        return;
    }
    if (p->nlog == p->caplog) {
        p->caplog = p->caplog ? p->caplog * 2 : 64;
        p->log = fhir_xrealloc(p->log, p->caplog * sizeof(*p->log));
    }
    p->log[p->nlog++] = (struct undo){i, delta};
}

static uint64_t
cnt_hash(store__cnt kind, int tcode, int param, int64_t sys, const char *code)
{
    uint64_t h = FHIR_HASH_SEED;
    int f[3] = {(int)kind, tcode, param};
    h = fhir_hash(h, f, sizeof(f));
    h = fhir_hash(h, &sys, sizeof(sys));
    return code ? fhir_hash(h, code, strlen(code)) : h;
}

static int
cnt_same(const pend_cnt *c, store__cnt kind, int tcode, int param, int64_t sys,
         const char *code)
{
    return c->kind == kind && c->tcode == tcode && c->param == param &&
           c->sys == sys &&
           (c->code == NULL ? code == NULL
                            : code != NULL && strcmp(c->code, code) == 0);
}

/* Rebuilds a slot table of 2x the entries' count rounded to a power of 2. */
static void
rehash(size_t **slot, size_t *nslot, size_t n,
       uint64_t (*h)(const void *, size_t), const void *v)
{
    size_t want = 16;
    while (want < n * 2 + 2) {
        want *= 2;
    }
    free(*slot);
    *slot = fhir_xcalloc(want, sizeof(size_t));
    *nslot = want;
    for (size_t i = 0; i < n; i++) {
        size_t s = (size_t)h(v, i) & (want - 1);
        while ((*slot)[s] != 0) {
            s = (s + 1) & (want - 1);
        }
        (*slot)[s] = i + 1;
    }
}

static uint64_t
cnt_hash_at(const void *v, size_t i)
{
    const pend_cnt *c = (const pend_cnt *)v + i;
    return cnt_hash(c->kind, c->tcode, c->param, c->sys, c->code);
}

static uint64_t
sys_hash(const char *uri)
{
    return fhir_hash(FHIR_HASH_SEED, uri, strlen(uri));
}

static uint64_t
sys_hash_at(const void *v, size_t i)
{
    return sys_hash(((const sys_ent *)v)[i].uri);
}

static store__pending *
pending(store_env *env)
{
    if (env->pending == NULL) {
        env->pending = fhir_xcalloc(1, sizeof(store__pending));
    }
    return env->pending;
}

void
store__pending_free(store_env *env)
{
    store__pending *p = env->pending;
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->ncnt; i++) {
        free(p->cnt[i].code);
    }
    for (size_t i = 0; i < p->nsys; i++) {
        free(p->sys[i].uri);
    }
    free(p->cnt);
    free(p->cslot);
    free(p->sys);
    free(p->sslot);
    free(p->log);
    free(p);
    env->pending = NULL;
}

/* ---- counts ------------------------------------------------------------ */

void
store__count_add(store_env *env, store__cnt kind, int tcode, int param,
                 int64_t sys, const char *code, int64_t delta)
{
    store__pending *p = pending(env);
    if (p->ncnt * 2 + 2 > p->ncslot) {
        rehash(&p->cslot, &p->ncslot, p->ncnt, cnt_hash_at, p->cnt);
    }
    size_t s =
        (size_t)cnt_hash(kind, tcode, param, sys, code) & (p->ncslot - 1);
    while (p->cslot[s] != 0) {
        pend_cnt *c = &p->cnt[p->cslot[s] - 1];
        if (cnt_same(c, kind, tcode, param, sys, code)) {
            c->delta += delta;
            log_add(p, p->cslot[s] - 1, -delta);
            return;
        }
        s = (s + 1) & (p->ncslot - 1);
    }
    if (p->ncnt == p->capcnt) {
        p->capcnt = p->capcnt ? p->capcnt * 2 : 64;
        p->cnt = fhir_xrealloc(p->cnt, p->capcnt * sizeof(*p->cnt));
    }
    p->cnt[p->ncnt] = (pend_cnt){
        kind, tcode, param, sys, code ? fhir_xstrdup(code) : NULL, delta};
    p->cslot[s] = ++p->ncnt;
    log_add(p, p->ncnt - 1, -delta);
}

static void
counts_clear(store__pending *p)
{
    for (size_t i = 0; i < p->ncnt; i++) {
        free(p->cnt[i].code);
    }
    p->ncnt = 0;
    if (p->cslot != NULL) {
        memset(p->cslot, 0, p->ncslot * sizeof(size_t));
    }
}

int
store__counts_flush(store_env *env, fhir_err *err)
{
    static const enum store_stmt which[] = {[STORE_CNT_TOKEN] = ST_CNT_TOKEN,
                                            [STORE_CNT_REF] = ST_CNT_REF,
                                            [STORE_CNT_PARAM] = ST_CNT_PARAM,
                                            [STORE_CNT_TYPE] = ST_CNT_TYPE};
    store__pending *p = env->pending;
    int rc = 0;
    /* Entries stay (with delta 0) until the group ends: a member's undo
     * log points at them. */
    for (size_t i = 0; p != NULL && i < p->ncnt && rc == 0; i++) {
        pend_cnt *c = &p->cnt[i];
        if (c->delta == 0) {
            continue;
        }
        sqlite3_stmt *st = store__stmt(&env->w, which[c->kind], err);
        if (st == NULL) {
            rc = -1;
            break;
        }
        int k = 1;
        sqlite3_bind_int(st, k++, c->tcode);
        if (c->kind != STORE_CNT_TYPE) {
            sqlite3_bind_int(st, k++, c->param);
        }
        if (c->kind == STORE_CNT_TOKEN) {
            sqlite3_bind_int64(st, k++, c->sys);
        }
        if (c->kind == STORE_CNT_TOKEN || c->kind == STORE_CNT_REF) {
            sqlite3_bind_text(st, k++, c->code, -1, SQLITE_STATIC);
        }
        sqlite3_bind_int64(st, k, c->delta);
        if (store__step(&env->w, st, "counts", err) != 0) {
            rc = -1;
            break;
        }
        log_add(p, i, c->delta);
        c->delta = 0;
    }
    return rc;
}

/* ---- token systems ------------------------------------------------------ */

int
store__sys_get(store_env *env, const char *uri, int64_t *id)
{
    store__pending *p = pending(env);
    if (p->nsslot == 0) {
        return 0;
    }
    size_t s = (size_t)sys_hash(uri) & (p->nsslot - 1);
    while (p->sslot[s] != 0) {
        const sys_ent *e = &p->sys[p->sslot[s] - 1];
        if (strcmp(e->uri, uri) == 0) {
            *id = e->id;
            return 1;
        }
        s = (s + 1) & (p->nsslot - 1);
    }
    return 0;
}

void
store__sys_put(store_env *env, const char *uri, int64_t id, int pending_tx)
{
    store__pending *p = pending(env);
    if (p->nsys == p->capsys) {
        p->capsys = p->capsys ? p->capsys * 2 : 32;
        p->sys = fhir_xrealloc(p->sys, p->capsys * sizeof(*p->sys));
    }
    if ((p->nsys + 1) * 2 + 2 > p->nsslot) {
        rehash(&p->sslot, &p->nsslot, p->nsys, sys_hash_at, p->sys);
    }
    /* A new system is tagged with the group member that created it, so
     * that member's rollback forgets it and no other's. */
    int tag = pending_tx ? (env->g_members > 0 ? env->g_members : 1) : 0;
    p->sys[p->nsys++] = (sys_ent){fhir_xstrdup(uri), id, tag};
    size_t s = (size_t)sys_hash(uri) & (p->nsslot - 1);
    while (p->sslot[s] != 0) {
        s = (s + 1) & (p->nsslot - 1);
    }
    p->sslot[s] = p->nsys;
}

/* Drops the cached systems created by member `seq` of the open group
 * (0: by any member), or keeps them all as committed. */
static void
sys_settle(store__pending *p, int seq, int committed)
{
    size_t w = 0;
    for (size_t i = 0; i < p->nsys; i++) {
        int mine =
            p->sys[i].pending != 0 && (seq == 0 || p->sys[i].pending == seq);
        if (mine && !committed) {
            free(p->sys[i].uri);
            continue;
        }
        if (committed) {
            p->sys[i].pending = 0;
        }
        p->sys[w++] = p->sys[i];
    }
    if (w != p->nsys) {
        p->nsys = w;
        rehash(&p->sslot, &p->nsslot, p->nsys, sys_hash_at, p->sys);
    }
}

void
store__pending_end(store_env *env, int committed)
{
    store__pending *p = env->pending;
    if (p == NULL) {
        return;
    }
    counts_clear(p);
    p->nlog = 0;
    p->logging = 0;
    sys_settle(p, 0, committed);
}

void
store__pending_member(store_env *env, int seq)
{
    store__pending *p = pending(env);
    p->nlog = 0;
    p->logging = seq > 1;
}

void
store__pending_undo(store_env *env, int seq)
{
    store__pending *p = env->pending;
    if (p == NULL) {
        return;
    }
    while (p->nlog > 0) {
        const struct undo *u = &p->log[--p->nlog];
        p->cnt[u->i].delta += u->delta;
    }
    p->logging = 0;
    sys_settle(p, seq, 0);
}
