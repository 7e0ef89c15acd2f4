/* store/group.c - group commit: the writes of many requests in one SQLite
 * transaction and one sync, each request answered only once it is durable.
 *
 * With synchronous=FULL a commit costs a WAL append of every page the
 * transaction touched plus an fdatasync; concurrent single writes touch
 * mostly the same pages (the tables' right-most leaves, the counts), so
 * committing them together costs little more than committing one. The
 * writer lock is still taken by one request at a time, in turn; what
 * changes is that a request that finishes its writes while others queue
 * for the lock does not COMMIT: it RELEASEs its savepoint, hands the lock
 * (and the open transaction) to the next request and sleeps until some
 * later member - the last one in the queue, or the one that makes the
 * group too large or too old - commits for everyone and wakes them with
 * the result. A member that fails rolls back to its own savepoint, so
 * the others' writes stay; if SQLite itself lost the transaction (an I/O
 * error rolls it all back) the whole group fails and nobody is
 * acknowledged. A single client never waits: with nobody queued, every
 * transaction commits at once, as before.
 *
 * The first member of a group opens the transaction (BEGIN IMMEDIATE) and
 * needs no savepoint: nobody else has written in it yet, so its rollback
 * is a plain ROLLBACK that ends the group. Work outside transactions that
 * needs the writer (settings, checkpoints, loading the hot index) takes
 * the lock with store__wlock(), which commits an open group first.
 */
#include "store/store.h"
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A group ends once it has this many members or is this old, even with
 * requests still queued: bounds the wait of its first member. */
#define GROUP_MAX_MEMBERS 64
#define GROUP_MAX_AGE_US 4000

/* A member that finished its writes and waits for the group's COMMIT. */
struct store__gwait {
    store__gwait *next;
    int done;
    int rc;
    fhir_err err;
};

static int64_t
mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
store__group_init(store_env *env)
{
    pthread_mutex_init(&env->g_mu, NULL);
    pthread_cond_init(&env->g_cv, NULL);
    atomic_init(&env->g_queued, 0);
    env->g_max_age_us = GROUP_MAX_AGE_US;
}

void
store__group_free(store_env *env)
{
    pthread_cond_destroy(&env->g_cv);
    pthread_mutex_destroy(&env->g_mu);
}

/* Commits (or, when `ok` is 0 or SQLite already lost the transaction,
 * rolls back) the open group, brings the hot index and caches up to date
 * and wakes every waiting member with the outcome. Under wlock. */
static int
group_end(store_env *env, int ok, fhir_err *err)
{
    fhir_err lost = FHIR_ERR_INIT;
    int rc = -1;
    if (sqlite3_get_autocommit(env->w.db)) {
        /* SQLite rolled it back on an error of an earlier statement. */
        fhir_err_set(&lost, FHIR_ISSUE_TRANSIENT,
                     "the write transaction was rolled back by the database");
    } else if (ok && store__counts_flush(env, &lost) == 0 &&
               store__run(&env->w, ST_COMMIT, "commit", &lost) == 0) {
        rc = 0;
    } else {
        if (ok == 0 && lost.issue == FHIR_ISSUE_NONE) {
            fhir_err_set(&lost, FHIR_ISSUE_TRANSIENT,
                         "the write transaction was rolled back");
        }
        if (!sqlite3_get_autocommit(env->w.db)) {
            sqlite3_exec(env->w.db, "ROLLBACK", NULL, NULL, NULL);
        }
    }
    if (rc == 0) {
        env->g_commits++;
        store__hot_apply(env); /* durable now: searches may see it */
    } else {
        store__hot_discard(env);
    }
    store__pending_end(env, rc == 0);
    env->g_open = 0;
    env->g_members = 0;
    pthread_mutex_lock(&env->g_mu);
    for (store__gwait *w = env->g_waiters; w != NULL; w = w->next) {
        w->rc = rc;
        w->err = lost;
        w->done = 1;
    }
    env->g_waiters = NULL;
    pthread_cond_broadcast(&env->g_cv);
    pthread_mutex_unlock(&env->g_mu);
    if (rc != 0 && err != NULL) {
        *err = lost;
    }
    return rc;
}

void
store__wlock(store_env *env)
{
    pthread_mutex_lock(&env->wlock);
    if (env->g_open) {
        (void)group_end(env, 1, NULL);
    }
}

void
store__wunlock(store_env *env)
{
    pthread_mutex_unlock(&env->wlock);
}

/* The member holding wlock is done (its writes released into the group,
 * or undone). Either hands the open group to a queued request and, if
 * `wait`, sleeps until the group ends, or ends it now. Releases wlock.
 * Returns the group's outcome for a waiting or committing member. */
static int
member_leave(store_env *env, int wait, fhir_err *err)
{
    if (!env->g_open) {
        pthread_mutex_unlock(&env->wlock);
        return 0;
    }
    int pass = !env->opts.no_group && atomic_load(&env->g_queued) > 0 &&
               env->g_members < GROUP_MAX_MEMBERS &&
               mono_us() - env->g_start_us < env->g_max_age_us;
    if (!pass) {
        int rc = group_end(env, 1, wait ? err : NULL);
        pthread_mutex_unlock(&env->wlock);
        return wait ? rc : 0;
    }
    if (!wait) {
        pthread_mutex_unlock(&env->wlock);
        return 0;
    }
    store__gwait me;
    memset(&me, 0, sizeof(me));
    pthread_mutex_lock(&env->g_mu);
    me.next = env->g_waiters;
    env->g_waiters = &me;
    pthread_mutex_unlock(&env->g_mu);
    pthread_mutex_unlock(&env->wlock);
    pthread_mutex_lock(&env->g_mu);
    while (!me.done) {
        pthread_cond_wait(&env->g_cv, &env->g_mu);
    }
    pthread_mutex_unlock(&env->g_mu);
    if (me.rc != 0) {
        *err = me.err;
    }
    return me.rc;
}

/* Opens the group's transaction. Under wlock. */
static int
group_begin(store_env *env, fhir_err *err)
{
    store__ckpt_throttle(env);
    if (store__run(&env->w, ST_BEGIN, "begin", err) != 0) {
        return -1;
    }
    /* Another process (a maintenance run) may have written since our
     * last transaction: lastUpdated must stay unique and increasing. */
    sqlite3_stmt *st = store__stmt(&env->w, ST_LAST_TIME, err);
    if (st == NULL || sqlite3_step(st) != SQLITE_ROW) {
        store__fail(err, env->w.db, sqlite3_errcode(env->w.db), "begin");
        store__done(st);
        sqlite3_exec(env->w.db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    int64_t last = sqlite3_column_int64(st, 0);
    store__done(st);
    if (last > env->last_us) {
        env->last_us = last;
    }
    env->g_open = 1;
    env->g_members = 0;
    env->g_start_us = mono_us();
    return 0;
}

int
store_tx_begin(store_tx **out, store_env *env, fhir_err *err)
{
    *out = NULL;
    atomic_fetch_add(&env->g_queued, 1);
    pthread_mutex_lock(&env->wlock);
    atomic_fetch_sub(&env->g_queued, 1);
    if (env->g_open && sqlite3_get_autocommit(env->w.db)) {
        (void)group_end(env, 0, NULL); /* lost: its members fail */
    }
    if (!env->g_open) {
        if (group_begin(env, err) != 0) {
            pthread_mutex_unlock(&env->wlock);
            return -1;
        }
    } else if (store__run(&env->w, ST_SAVEPOINT, "begin", err) != 0) {
        (void)member_leave(env, 0, NULL);
        return -1;
    }
    store_tx *tx = fhir_xcalloc(1, sizeof(*tx));
    tx->env = env;
    tx->view.env = env;
    tx->view.c = &env->w;
    tx->view.view = 1;
    tx->seq = ++env->g_members;
    store__hot_mark(env, tx->mark);
    store__pending_member(env, tx->seq);
    *out = tx;
    return 0;
}

/* Undoes the member's writes: to its savepoint, or the whole transaction
 * for the group's first member. Under wlock. */
static void
member_undo(store_tx *tx)
{
    store_env *env = tx->env;
    if (tx->seq == 1) {
        (void)group_end(env, 0, NULL);
        return;
    }
    fhir_err ignored = FHIR_ERR_INIT;
    if (!sqlite3_get_autocommit(env->w.db) &&
        store__run(&env->w, ST_ROLLBACK_TO, "rollback", &ignored) == 0) {
        (void)store__run(&env->w, ST_RELEASE, "rollback", &ignored);
    }
    store__hot_undo(env, tx->mark);
    store__pending_undo(env, tx->seq);
    env->g_members--;
}

int
store_tx_commit(store_tx *tx, fhir_err *err)
{
    store_env *env = tx->env;
    int rc = 0;
    if (tx->seq > 1) {
        rc = store__run(&env->w, ST_RELEASE, "commit", err);
    }
    if (rc != 0) {
        member_undo(tx);
        (void)member_leave(env, 0, NULL);
    } else {
        store__pending_member(env, 0); /* its deltas belong to the group */
        rc = member_leave(env, 1, err);
    }
    free(tx);
    return rc;
}

void
store_tx_rollback(store_tx *tx)
{
    if (tx == NULL) {
        return;
    }
    /* A later member may have read the earlier members' writes (a
     * conditional create that found one, a 412 against its version):
     * its answer waits until they are durable too. */
    int saw_others = tx->seq > 1;
    fhir_err ignored = FHIR_ERR_INIT;
    member_undo(tx);
    (void)member_leave(tx->env, saw_others, &ignored);
    free(tx);
}
