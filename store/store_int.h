/* store/store_int.h - what the store's files share: the schema, the
 * connection wrapper with its statement cache, and helpers.
 *
 * Schema (PRAGMA user_version 5; store.c holds the migrations):
 *
 *   rtype(code INTEGER PRIMARY KEY, name TEXT UNIQUE)
 *       resource type names to small codes, so codes never depend on the
 *       order of the compiled type table.
 *   resource(rid INTEGER PRIMARY KEY, type, id, version, hid, deleted,
 *            UNIQUE(type, id)), indexes (type, hid) and (type) - the
 *            latter lists a type in rid order
 *       one row per logical resource; `hid` points at its current version.
 *   history(hid INTEGER PRIMARY KEY, rid, type, version, method, body,
 *           UNIQUE(rid, version)), index (type, hid)
 *       every version. `hid` is the version's meta.lastUpdated in UTC
 *       microseconds: the single writer keeps it strictly increasing, so
 *       history order, paging cursors and _since all use the primary key.
 *       `body` is the JSON exactly as served (NULL for a delete).
 *   sparam(num, key)        search parameter keys to small numbers
 *   sysdict(id, uri)        token systems to small numbers
 *   idx_token(rid, param, sys, code)   PK by rid; idx_token_q by value
 *   idx_string(rid, param, norm, text) norm: case/accent folded
 *   idx_date(rid, param, lo, hi)       UTC microsecond ranges
 *   idx_ref(rid, param, ref)           "Type/id" or absolute URL
 *   idx_uri(rid, param, uri)
 *       the index rows of each live resource (none for deleted ones).
 *   cnt_token(type, param, sys, code, n)  PK (type, param, code, sys)
 *   cnt_ref(type, param, ref, n)          PK (type, param, ref)
 *   cnt_param(type, param, n)             PK (type, param)
 *   cnt_type(type, n)
 *       how many live resources of a type have a token / reference value,
 *       any value of a parameter, or exist: the planner's selectivity
 *       estimates. Keyed by type (rtype.code) because one parameter can
 *       serve several types.
 *   setting(key, value)     e.g. the signature of the indexed definitions
 *   replay(key, digest, at_us, response)
 *       the response of each transaction that carried a Bundle.identifier
 *       (key), with a digest of its request, kept for a window so that a
 *       retry is answered without running the transaction again.
 */
#ifndef STORE_STORE_INT_H
#define STORE_STORE_INT_H

#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>

#define STORE_SCHEMA_VERSION 5

/* Statements prepared once per connection, by number. */
enum store_stmt {
    ST_READ_CURRENT,
    ST_READ_VERSION,
    ST_FIND,
    ST_INSERT_RESOURCE,
    ST_UPDATE_RESOURCE,
    ST_INSERT_HISTORY,
    ST_HIST_INSTANCE,
    ST_HIST_TYPE,
    ST_HIST_SYSTEM,
    ST_BEGIN,
    ST_LAST_TIME,
    ST_DEL_TOKEN,
    ST_DEL_STRING,
    ST_DEL_DATE,
    ST_DEL_REF,
    ST_DEL_URI,
    ST_INS_TOKEN,
    ST_INS_STRING,
    ST_INS_DATE,
    ST_INS_REF,
    ST_INS_URI,
    ST_SYS_FIND,
    ST_SYS_INSERT,
    ST_CNT_TOKEN,
    ST_CNT_REF,
    ST_CNT_PARAM,
    ST_CNT_TYPE,
    ST_COMMIT,
    ST_READ_BEGIN,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_REPLAY_GET,
    ST_REPLAY_PUT,
    ST_REPLAY_PRUNE,
    ST__COUNT
};

/* query.c: statements built by search/, kept per connection by SQL text
 * (the text depends only on the query's shape, never on its values). */
#define STORE_QCACHE 48
typedef struct store__cached {
    uint64_t hash;
    char *sql;
    size_t len;
    sqlite3_stmt *st;
    uint64_t used; /* tick of last use (least recently used goes) */
    int busy;      /* stepping now (a nested query prepares its own) */
} store__cached;

typedef struct store_conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[ST__COUNT];
    store__cached qc[STORE_QCACHE];
    uint64_t qtick;
} store_conn;

/* Finalizes the cached search statements of c (before closing it). */
void store__qcache_clear(store_conn *c);

/* A counted index key: (param, sys, code) of a token, or (param, ref)
 * with sys -1. */
typedef struct store__key {
    int param;
    int64_t sys;
    const char *code;
} store__key;

typedef struct store__hot store__hot;
typedef struct store__pending store__pending;
typedef struct store__ckpt store__ckpt;
typedef struct store__gwait store__gwait;

struct store_env {
    store__hot *hot;
    store__pending *pending; /* pending.c, guarded by wlock */
    store__ckpt *ckpt;       /* checkpoint.c: the checkpointing thread */
    store_opts opts;
    char *path;
    pthread_mutex_t wlock; /* serialises write transactions */
    store_conn w;          /* the writer connection */
    int64_t last_us;       /* last hid written (guarded by wlock) */
    /* group commit (group.c), guarded by wlock unless noted */
    int g_open;              /* the writer holds a group's open transaction */
    int g_members;           /* members so far in the open group */
    int64_t g_start_us;      /* when the open group began (monotonic) */
    atomic_int g_queued;     /* members waiting for wlock in tx_begin */
    pthread_mutex_t g_mu;    /* guards g_waiters and their fields */
    pthread_cond_t g_cv;     /* signalled when a group ends */
    store__gwait *g_waiters; /* finished members waiting for the COMMIT */
    int64_t g_commits;       /* groups committed (tests, diagnostics) */
    int64_t g_max_age_us;    /* a group older than this commits (tests
                                lengthen it) */
    /* the pool of read connections (store_db_acquire) */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    store_db **pool_idle;
    size_t pool_nidle;
    int pool_open;     /* opened, idle or lent */
    int type_code[16]; /* served type index -> rtype.code */
    int ntypes;
    /* parameter numbers whose token values are not counted
     * (store_param_uncounted), a bit each */
    uint64_t uncounted[STORE_MAX_PARAMS / 64];
};

struct store_db {
    store_env *env;
    store_conn *c; /* &own, or the writer's for a transaction's view */
    store_conn own;
    int view;          /* 1: store_tx_db(); reads join the write transaction */
    uint64_t *scratch; /* store_db_scratch() */
    size_t scratch_cap;
};

struct store_tx {
    store_env *env;
    store_db view;  /* store_tx_db() */
    int seq;        /* 1 for the member that began the group, then 2.. */
    size_t mark[2]; /* hot.c's pending notes before this member */
};

/* Opens a connection with the server's pragmas. */
int store__conn_open(store_conn *c, const store_env *env, int writer,
                     fhir_err *err);
void store__conn_close(store_conn *c);
/* The prepared statement `id` of connection c (prepared on first use). */
sqlite3_stmt *store__stmt(store_conn *c, enum store_stmt id, fhir_err *err);
/* Resets and clears a borrowed statement; accepts NULL. */
void store__done(sqlite3_stmt *st);
/* Steps borrowed statement st of connection c, which returns no row,
 * and resets it; -1 with err (about `what`) unless it ran to the end. */
int store__step(store_conn *c, sqlite3_stmt *st, const char *what,
                fhir_err *err);
/* The same for c's cached statement `id` (BEGIN, COMMIT, SAVEPOINT...). */
int store__run(store_conn *c, enum store_stmt id, const char *what,
               fhir_err *err);
/* Maps an SQLite result code to an fhir_err; returns -1. */
int store__fail(fhir_err *err, sqlite3 *db, int rc, const char *what);
/* Replaces the index rows of resource `rid` (of served type `type`) by
 * `rows` (NULL or empty: none, as for a delete) and keeps the counts;
 * `live_delta` is +1 when the resource becomes live, -1 when it is
 * deleted, else 0; `had_rows` 0 when it is known to have none yet (new,
 * deleted, or wiped for a reindex). Runs inside the open write
 * transaction. */
int store__rows_write(store_env *env, int64_t rid, int type,
                      const fhir_rows *rows, int live_delta, int had_rows,
                      fhir_err *err);
/* pending.c: count deltas summed in memory until store__counts_flush()
 * writes them; token system numbers cached (store__sys_put with pending
 * 1 for one created by the open transaction); store__pending_end() after
 * a commit (1) or rollback (0). All under the writer lock. */
typedef enum store__cnt {
    STORE_CNT_TOKEN, /* cnt_token: (param, sys, code) */
    STORE_CNT_REF,   /* cnt_ref: (param, ref) */
    STORE_CNT_PARAM, /* cnt_param: param */
    STORE_CNT_TYPE   /* cnt_type */
} store__cnt;
void store__count_add(store_env *env, store__cnt kind, int tcode, int param,
                      int64_t sys, const char *code, int64_t delta);
int store__counts_flush(store_env *env, fhir_err *err);
int store__sys_get(store_env *env, const char *uri, int64_t *id);
void store__sys_put(store_env *env, const char *uri, int64_t id, int pending);
void store__pending_end(store_env *env, int committed);
/* A group member begins (seq 1: the first, which needs no undo), or
 * rolls back to its savepoint: its count deltas and token systems are
 * forgotten, the other members' kept. */
void store__pending_member(store_env *env, int seq);
void store__pending_undo(store_env *env, int seq);
void store__pending_free(store_env *env);
/* checkpoint.c: starts the thread that checkpoints the WAL when commits
 * have grown it (else SQLite's automatic checkpoints stay on); stop
 * joins it, before the writer connection closes. */
void store__ckpt_start(store_env *env);
void store__ckpt_stop(store_env *env);
/* Under the writer lock, before a write transaction: when the WAL has
 * outgrown the background checkpoints, waits for the one running and
 * runs one (store/checkpoint.c). */
void store__ckpt_throttle(store_env *env);
/* hot.c: the in-memory sets. store__hot_note records one resource's
 * change in the open write transaction (old and new token and reference
 * keys, the parameters it has rows for, its date rows; live 0 for a
 * delete), store__hot_note_sys a new token system; store__hot_apply
 * brings the sets up to date after a durable commit, store__hot_discard
 * forgets the notes of a rolled back one. All under the writer lock. */
void store__hot_init(store_env *env);
void store__hot_free(store_env *env);
void store__hot_note(store_env *env, int64_t rid, int type, int live,
                     const store__key *old, size_t nold, const store__key *now,
                     size_t nnow, const int *params, size_t nparams,
                     const fhir_rows *rows);
void store__hot_note_sys(store_env *env, int64_t id, const char *uri);
void store__hot_apply(store_env *env);
void store__hot_discard(store_env *env);
/* The pending notes so far, and forgetting those made after a mark (a
 * group member's rollback to its savepoint). */
void store__hot_mark(store_env *env, size_t mark[2]);
void store__hot_undo(store_env *env, const size_t mark[2]);
/* group.c: takes the writer lock for work outside a transaction (settings,
 * checkpoints, loading the hot index), first committing the open group. */
void store__wlock(store_env *env);
void store__wunlock(store_env *env);
void store__group_init(store_env *env);
void store__group_free(store_env *env);
/* Drops every set (before a reindex). */
void store__hot_invalidate(store_env *env);

/* Served type index of an rtype code, or -1. */
int store__type_of_code(const store_env *env, int code);

#endif
