/* store/index.c - index rows and the counts kept beside them.
 *
 * A write replaces all index rows of its resource inside the write's own
 * transaction: the old rows are deleted (RETURNING what they were) and the
 * new ones inserted, and the difference between the two adjusts the
 * counts the search planner reads (live resources of each type per token
 * value, per reference, per parameter, and in all). Parameter keys and
 * token systems are stored as small numbers through the sparam and sysdict
 * tables.
 * store_reindex() rebuilds everything from the stored bodies.
 */
#include "store/store.h"
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

/* A counted key (store__key): (param, sys, code) of a token, or
 * (param, ref). */

struct keys {
    store__key *v;
    size_t n, cap;
};

static void
keys_add(struct keys *k, fhir_arena *a, int param, int64_t sys,
         const char *code)
{
    k->v = fhir_arena_grow(a, k->v, k->n, &k->cap, sizeof(*k->v));
    k->v[k->n].param = param;
    k->v[k->n].sys = sys;
    k->v[k->n].code = code;
    k->n++;
}

static int
key_cmp(const void *x, const void *y)
{
    const store__key *a = x, *b = y;
    if (a->param != b->param) {
        return a->param < b->param ? -1 : 1;
    }
    if (a->sys != b->sys) {
        return a->sys < b->sys ? -1 : 1;
    }
    return strcmp(a->code ? a->code : "", b->code ? b->code : "");
}

static void
keys_sort_unique(struct keys *k)
{
    if (k->n < 2) {
        return;
    }
    qsort(k->v, k->n, sizeof(*k->v), key_cmp);
    size_t w = 1;
    for (size_t i = 1; i < k->n; i++) {
        if (key_cmp(&k->v[w - 1], &k->v[i]) != 0) {
            k->v[w++] = k->v[i];
        }
    }
    k->n = w;
}

/* The sysdict number of a token system, created when new. */
static int
sys_id(int64_t *out, store_env *env, const char *uri, fhir_err *err)
{
    if (store__sys_get(env, uri, out)) {
        return 0;
    }
    sqlite3_stmt *st = store__stmt(&env->w, ST_SYS_FIND, err);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        /* Not in the cache, so not created by this transaction. */
        *out = sqlite3_column_int64(st, 0);
        store__done(st);
        store__sys_put(env, uri, *out, 0);
        return 0;
    }
    store__done(st);
    if (s != SQLITE_DONE) {
        return store__fail(err, env->w.db, s, "index");
    }
    st = store__stmt(&env->w, ST_SYS_INSERT, err);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
    if (store__step(&env->w, st, "index", err) != 0) {
        return -1;
    }
    *out = sqlite3_last_insert_rowid(env->w.db);
    store__sys_put(env, uri, *out, 1);
    store__hot_note_sys(env, *out, uri);
    return 0;
}

/* Deletes the rows of rid from one table, collecting what they were. */
static int
delete_rows(store_env *env, enum store_stmt which, int64_t rid,
            struct keys *counted, struct keys *params, fhir_arena *a,
            fhir_err *err)
{
    sqlite3_stmt *st = store__stmt(&env->w, which, err);
    int s;
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, rid);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int param = sqlite3_column_int(st, 0);
        keys_add(params, a, param, 0, NULL);
        if (which == ST_DEL_TOKEN) {
            keys_add(
                counted, a, param, sqlite3_column_int64(st, 1),
                fhir_arena_strdup(a, (const char *)sqlite3_column_text(st, 2)));
        } else if (which == ST_DEL_REF) {
            keys_add(
                counted, a, param, 0,
                fhir_arena_strdup(a, (const char *)sqlite3_column_text(st, 1)));
        }
    }
    store__done(st);
    if (s != SQLITE_DONE) {
        return store__fail(err, env->w.db, s, "index");
    }
    return 0;
}

static int
insert_row(store_env *env, int64_t rid, const fhir_row *r, int64_t sys,
           fhir_err *err)
{
    static const enum store_stmt which[] = {[FHIR_ROW_TOKEN] = ST_INS_TOKEN,
                                            [FHIR_ROW_STRING] = ST_INS_STRING,
                                            [FHIR_ROW_DATE] = ST_INS_DATE,
                                            [FHIR_ROW_REF] = ST_INS_REF,
                                            [FHIR_ROW_URI] = ST_INS_URI};
    sqlite3_stmt *st = store__stmt(&env->w, which[r->kind], err);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, rid);
    sqlite3_bind_int(st, 2, r->param);
    switch (r->kind) {
    case FHIR_ROW_TOKEN:
        sqlite3_bind_int64(st, 3, sys);
        sqlite3_bind_text(st, 4, r->code, -1, SQLITE_STATIC);
        break;
    case FHIR_ROW_STRING:
        sqlite3_bind_text(st, 3, r->code, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->text ? r->text : "", -1, SQLITE_STATIC);
        break;
    case FHIR_ROW_DATE:
        sqlite3_bind_int64(st, 3, r->lo);
        sqlite3_bind_int64(st, 4, r->hi);
        break;
    default:
        sqlite3_bind_text(st, 3, r->code, -1, SQLITE_STATIC);
        break;
    }
    return store__step(&env->w, st, "index", err);
}

void
store_param_uncounted(store_env *env, int num)
{
    if (num >= 0 && num < STORE_MAX_PARAMS) {
        env->uncounted[num / 64] |= 1ull << (num % 64);
    }
}

static int
counted(const store_env *env, store__cnt kind, int param)
{
    return kind != STORE_CNT_TOKEN || param < 0 || param >= STORE_MAX_PARAMS ||
           !(env->uncounted[param / 64] >> (param % 64) & 1);
}

/* Adds +1 / -1 for keys only in `now` / only in `before` to the pending
 * counts of `kind` of type code `tcode` (token values of uncounted
 * parameters left out). */
static void
count_diff(store_env *env, store__cnt kind, int tcode, struct keys *before,
           struct keys *now)
{
    size_t i = 0, j = 0;
    keys_sort_unique(before);
    keys_sort_unique(now);
    while (i < before->n || j < now->n) {
        int d;
        const store__key *k;
        if (i == before->n) {
            d = 1;
        } else if (j == now->n) {
            d = -1;
        } else {
            int c = key_cmp(&before->v[i], &now->v[j]);
            d = c < 0 ? -1 : c > 0 ? 1 : 0;
        }
        if (d == 0) {
            i++;
            j++;
            continue;
        }
        k = d < 0 ? &before->v[i++] : &now->v[j++];
        if (!counted(env, kind, k->param)) {
            continue;
        }
        store__count_add(env, kind, tcode, k->param,
                         kind == STORE_CNT_TOKEN ? k->sys : 0,
                         kind == STORE_CNT_PARAM ? NULL : k->code, d);
    }
}

/* Tells the hot index what the rows of rid became (references with
 * sys -1). */
static int
hot_note(store_env *env, int64_t rid, int type, int live,
         const struct keys *old_tok, const struct keys *old_ref,
         const struct keys *new_tok, const struct keys *new_ref,
         const struct keys *new_par, const fhir_rows *rows, fhir_arena *a)
{
    size_t nold = old_tok->n + old_ref->n, nnow = new_tok->n + new_ref->n;
    store__key *o = fhir_arena_alloc(a, (nold + 1) * sizeof(*o));
    store__key *n = fhir_arena_alloc(a, (nnow + 1) * sizeof(*n));
    int *params = fhir_arena_alloc(a, (new_par->n + 1) * sizeof(int));
    for (size_t i = 0; i < old_tok->n; i++) {
        o[i] = old_tok->v[i];
    }
    for (size_t i = 0; i < old_ref->n; i++) {
        o[old_tok->n + i] = old_ref->v[i];
        o[old_tok->n + i].sys = -1;
    }
    for (size_t i = 0; i < new_tok->n; i++) {
        n[i] = new_tok->v[i];
    }
    for (size_t i = 0; i < new_ref->n; i++) {
        n[new_tok->n + i] = new_ref->v[i];
        n[new_tok->n + i].sys = -1;
    }
    for (size_t i = 0; i < new_par->n; i++) {
        params[i] = new_par->v[i].param;
    }
    store__hot_note(env, rid, type, live, o, nold, n, nnow, params, new_par->n,
                    rows);
    return 0;
}

int
store__rows_write(store_env *env, int64_t rid, int type, const fhir_rows *rows,
                  int live_delta, int had_rows, fhir_err *err)
{
    static const enum store_stmt dels[] = {ST_DEL_TOKEN, ST_DEL_STRING,
                                           ST_DEL_DATE, ST_DEL_REF, ST_DEL_URI};
    fhir_arena *a = fhir_arena_new();
    struct keys old_tok = {0}, old_ref = {0}, old_par = {0};
    struct keys new_tok = {0}, new_ref = {0}, new_par = {0};
    int tcode = env->type_code[type];
    int rc = -1;

    for (size_t i = 0; had_rows && i < sizeof(dels) / sizeof(dels[0]); i++) {
        struct keys *counted = dels[i] == ST_DEL_TOKEN ? &old_tok
                               : dels[i] == ST_DEL_REF ? &old_ref
                                                       : NULL;
        if (delete_rows(env, dels[i], rid, counted, &old_par, a, err) != 0) {
            goto done;
        }
    }
    for (size_t i = 0; rows != NULL && i < rows->n; i++) {
        const fhir_row *r = &rows->rows[i];
        int64_t sys = 0;
        if (r->kind == FHIR_ROW_TOKEN &&
            sys_id(&sys, env, r->sys ? r->sys : "", err) != 0) {
            goto done;
        }
        if (insert_row(env, rid, r, sys, err) != 0) {
            goto done;
        }
        keys_add(&new_par, a, r->param, 0, NULL);
        if (r->kind == FHIR_ROW_TOKEN) {
            keys_add(&new_tok, a, r->param, sys, r->code);
        } else if (r->kind == FHIR_ROW_REF) {
            keys_add(&new_ref, a, r->param, 0, r->code);
        }
    }
    count_diff(env, STORE_CNT_TOKEN, tcode, &old_tok, &new_tok);
    count_diff(env, STORE_CNT_REF, tcode, &old_ref, &new_ref);
    count_diff(env, STORE_CNT_PARAM, tcode, &old_par, &new_par);
    if (hot_note(env, rid, type, live_delta != -1, &old_tok, &old_ref, &new_tok,
                 &new_ref, &new_par, rows, a) != 0) {
        goto done;
    }
    if (live_delta != 0) {
        store__count_add(env, STORE_CNT_TYPE, tcode, 0, 0, NULL, live_delta);
    }
    rc = 0;
done:
    fhir_arena_free(a);
    return rc;
}

/* ---- parameters and settings ---------------------------------------- */

/* Runs a one-off statement on the writer, binding text values. */
static int
writer_exec(store_env *env, const char *sql, const char *v1, const char *v2,
            int64_t *out, char **out_text, fhir_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    store__wlock(env);
    int s = sqlite3_prepare_v2(env->w.db, sql, -1, &st, NULL);
    if (s == SQLITE_OK) {
        if (v1 != NULL) {
            sqlite3_bind_text(st, 1, v1, -1, SQLITE_STATIC);
        }
        if (v2 != NULL) {
            sqlite3_bind_text(st, 2, v2, -1, SQLITE_STATIC);
        }
        s = sqlite3_step(st);
    }
    if (s == SQLITE_ROW) {
        if (out != NULL) {
            *out = sqlite3_column_int64(st, 0);
        }
        if (out_text != NULL) {
            *out_text = fhir_xstrdup((const char *)sqlite3_column_text(st, 0));
        }
        rc = 0;
    } else if (s == SQLITE_DONE) {
        rc = 0;
    } else {
        store__fail(err, env->w.db, s, "settings");
    }
    sqlite3_finalize(st);
    store__wunlock(env);
    return rc;
}

int
store_param_num(int *out, store_env *env, const char *key, fhir_err *err)
{
    int64_t n = -1;
    if (writer_exec(env, "INSERT OR IGNORE INTO sparam(key) VALUES (?1)", key,
                    NULL, NULL, NULL, err) != 0 ||
        writer_exec(env, "SELECT num FROM sparam WHERE key = ?1", key, NULL, &n,
                    NULL, err) != 0) {
        return -1;
    }
    *out = (int)n;
    return 0;
}

int
store_setting_get(char **out, store_env *env, const char *key, fhir_err *err)
{
    *out = NULL;
    return writer_exec(env, "SELECT value FROM setting WHERE key = ?1", key,
                       NULL, NULL, out, err);
}

int
store_setting_set(store_env *env, const char *key, const char *value,
                  fhir_err *err)
{
    return writer_exec(env,
                       "INSERT INTO setting(key, value) VALUES (?1, ?2) "
                       "ON CONFLICT(key) DO UPDATE SET value = ?2",
                       key, value, NULL, NULL, err);
}

/* ---- reindex -------------------------------------------------------- */

#define REINDEX_BATCH 2000

int
store_reindex(store_env *env, store_rows_fn fn, void *ctx, int64_t *count,
              fhir_err *err)
{
    static const char *const wipe =
        "DELETE FROM idx_token; DELETE FROM idx_string; DELETE FROM idx_date;"
        "DELETE FROM idx_ref; DELETE FROM idx_uri; DELETE FROM cnt_token;"
        "DELETE FROM cnt_ref; DELETE FROM cnt_param; DELETE FROM cnt_type;"
        "INSERT INTO cnt_type SELECT type, count(*) FROM resource "
        "WHERE deleted = 0 GROUP BY type;"
        /* Until the last batch commits: a run cut short (kill -9) is
         * redone at the next start, never taken for a whole index. */
        "INSERT OR REPLACE INTO setting VALUES ('reindex', 'running');";
    store_tx *tx = NULL;
    sqlite3_stmt *st = NULL;
    int64_t last = 0;
    *count = 0;

    store__hot_invalidate(env);
    if (store_tx_begin(&tx, env, err) != 0) {
        return -1;
    }
    if (sqlite3_exec(env->w.db, wipe, NULL, NULL, NULL) != SQLITE_OK) {
        store__fail(err, env->w.db, sqlite3_errcode(env->w.db), "reindex");
        goto fail;
    }
    if (store_tx_commit(tx, err) != 0) {
        return -1;
    }
    tx = NULL;
    for (;;) {
        int n = 0;
        if (store_tx_begin(&tx, env, err) != 0) {
            return -1;
        }
        if (sqlite3_prepare_v2(env->w.db,
                               "SELECT r.rid, r.type, h.body FROM resource r "
                               "JOIN history h ON h.hid = r.hid "
                               "WHERE r.rid > ?1 AND r.deleted = 0 "
                               "ORDER BY r.rid LIMIT ?2",
                               -1, &st, NULL) != SQLITE_OK) {
            store__fail(err, env->w.db, sqlite3_errcode(env->w.db), "reindex");
            goto fail;
        }
        sqlite3_bind_int64(st, 1, last);
        sqlite3_bind_int(st, 2, REINDEX_BATCH);
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t rid = sqlite3_column_int64(st, 0);
            int type = store__type_of_code(env, sqlite3_column_int(st, 1));
            const char *body = sqlite3_column_blob(st, 2);
            size_t len = (size_t)sqlite3_column_bytes(st, 2);
            last = rid;
            n++;
            if (type < 0 || body == NULL) {
                continue;
            }
            fhir_arena *a = fhir_arena_new();
            fhir_rows rows = {NULL, 0, 0};
            fn(ctx, type, body, len, &rows, a);
            int w = store__rows_write(env, rid, type, &rows, 0, 0, err);
            fhir_arena_free(a);
            if (w != 0) {
                goto fail;
            }
            (*count)++;
        }
        sqlite3_finalize(st);
        st = NULL;
        if (s != SQLITE_DONE) {
            store__fail(err, env->w.db, s, "reindex");
            goto fail;
        }
        if (n < REINDEX_BATCH &&
            sqlite3_exec(env->w.db, "DELETE FROM setting WHERE key = 'reindex'",
                         NULL, NULL, NULL) != SQLITE_OK) {
            store__fail(err, env->w.db, sqlite3_errcode(env->w.db), "reindex");
            goto fail;
        }
        if (store_tx_commit(tx, err) != 0) {
            return -1;
        }
        tx = NULL;
        if (n < REINDEX_BATCH) {
            return 0;
        }
    }
fail:
    sqlite3_finalize(st);
    store_tx_rollback(tx);
    return -1;
}
