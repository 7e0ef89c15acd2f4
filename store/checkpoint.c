/* store/checkpoint.c - WAL checkpoints off the request path.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that pushes the
 * WAL past its limit: that request then copies megabytes back into the
 * database file and syncs it before it can answer. Instead the writer's
 * WAL hook only notes the WAL's size, and a thread with its own
 * connection runs PASSIVE checkpoints (which never block the writer or
 * readers) whenever the WAL has grown past STORE_CKPT_PAGES. The copy
 * runs beside the writes: the writer lock is not taken, so the next
 * transaction does not wait for it (a 1,000-entry transaction Bundle
 * waited 5 ms for the previous one's checkpoint). When it copied
 * everything, the next write starts the WAL again from its beginning.
 * But SQLite restarts the WAL only when a write transaction begins after
 * a checkpoint copied all of it; beside a stream of commits that moment
 * never comes, and the file would grow without bound (seen: 600 MB in 8 s
 * of single POSTs). So once the WAL has reached STORE_CKPT_CATCH_UP pages
 * the pass runs under the writer lock, between two commits (it has little
 * left to copy: the passes before it copied most), and the next write
 * restarts the WAL. Writes can still outrun one pass beside them (a busy
 * disk, a starved thread): at STORE_CKPT_LIMIT pages the next write
 * transaction waits for the pass and runs one itself before it begins
 * (store__ckpt_throttle), so the WAL stays under about 64 MB. Durability is
 * unchanged: a commit is durable once its WAL frames are synced; the checkpoint
 * only moves them.
 */
#include "store/store.h"
#include "store/store_int.h"

#include <stdlib.h>

#define STORE_CKPT_PAGES 1000    /* WAL frames (4 MB at 4 KB pages) */
#define STORE_CKPT_CATCH_UP 4000 /* frames: then copy under the lock */
#define STORE_CKPT_LIMIT 16000   /* frames: the next write waits (64 MB) */

struct store__ckpt {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pages; /* WAL size the last commit past STORE_CKPT_PAGES reported */
    int stop;
    pthread_mutex_t pass; /* held during each checkpoint on db */
    int wal; /* WAL size after the last commit (under the writer lock) */
    sqlite3 *db;
    store_env *env;
};

/* One PASSIVE checkpoint on the thread's connection; *log the WAL's
 * size, 0 when it could not run. */
static void
pass(store__ckpt *c, int *log)
{
    pthread_mutex_lock(&c->pass);
    if (sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, log,
                                  NULL) != SQLITE_OK) {
        *log = 0;
    }
    pthread_mutex_unlock(&c->pass);
}

static int
wal_hook(void *ctx, sqlite3 *db, const char *name, int pages)
{
    store__ckpt *c = ctx;
    (void)db;
    (void)name;
    c->wal = pages;
    if (pages >= STORE_CKPT_PAGES) {
        pthread_mutex_lock(&c->mu);
        c->pages = pages;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

static void *
run(void *arg)
{
    store__ckpt *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stop && c->pages < STORE_CKPT_PAGES) {
            pthread_cond_wait(&c->cv, &c->mu);
        }
        if (c->stop) {
            break;
        }
        int log = c->pages;
        c->pages = 0;
        pthread_mutex_unlock(&c->mu);
        /* Readers on old snapshots may keep part of the WAL; the next
         * commit past the limit asks again. */
        if (log < STORE_CKPT_CATCH_UP) {
            pass(c, &log);
        }
        if (log >= STORE_CKPT_CATCH_UP) {
            int ignored = 0;
            store__wlock(c->env);
            pass(c, &ignored);
            store__wunlock(c->env);
        }
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

void
store__ckpt_throttle(store_env *env)
{
    store__ckpt *c = env->ckpt;
    if (c != NULL && c->wal >= STORE_CKPT_LIMIT) {
        int ignored = 0;
        pass(c, &ignored);
        c->wal = 0;
    }
}

void
store__ckpt_start(store_env *env)
{
    store__ckpt *c = fhir_xcalloc(1, sizeof(*c));
    c->env = env;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(env->path, &c->db, flags, NULL) != SQLITE_OK) {
        sqlite3_close(c->db);
        free(c);
        return; /* SQLite's own automatic checkpoints stay on */
    }
    sqlite3_busy_timeout(c->db, env->opts.busy_ms);
    sqlite3_exec(c->db,
                 env->opts.synchronous_full ? "PRAGMA synchronous = FULL"
                                            : "PRAGMA synchronous = NORMAL",
                 NULL, NULL, NULL);
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->pass, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, run, c) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->pass);
        pthread_mutex_destroy(&c->mu);
        sqlite3_close(c->db);
        free(c);
        return;
    }
    env->ckpt = c;
    /* Replaces the automatic checkpoint of the writer connection. */
    sqlite3_wal_hook(env->w.db, wal_hook, c);
}

void
store__ckpt_stop(store_env *env)
{
    store__ckpt *c = env->ckpt;
    if (c == NULL) {
        return;
    }
    if (env->w.db != NULL) {
        sqlite3_wal_hook(env->w.db, NULL, NULL);
    }
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->pass);
    pthread_mutex_destroy(&c->mu);
    sqlite3_close(c->db);
    free(c);
    env->ckpt = NULL;
}
