/* store/store.c - opening the database, the schema and its migrations,
 * reads by id, and the write transaction.
 *
 * Writes are serialised by a mutex around one writer connection rather
 * than by SQLite's busy handler: waiting writers queue on the mutex
 * instead of sleeping and retrying, and the version check, the new
 * version number and the strictly increasing lastUpdated are decided by
 * exactly one thread at a time. Readers use their own connections and
 * never wait for the writer (WAL).
 */
#include "store/store.h"
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- SQL ------------------------------------------------------------ */

static const char *const stmt_sql[ST__COUNT] = {
    [ST_READ_CURRENT] =
        "SELECT r.version, r.deleted, h.hid, h.body FROM resource r "
        "JOIN history h ON h.hid = r.hid WHERE r.type = ?1 AND r.id = ?2",
    [ST_READ_VERSION] =
        "SELECT h.version, h.method = 3, h.hid, h.body FROM resource r "
        "JOIN history h ON h.rid = r.rid AND h.version = ?3 "
        "WHERE r.type = ?1 AND r.id = ?2",
    [ST_FIND] = "SELECT rid, version, deleted, hid FROM resource "
                "WHERE type = ?1 AND id = ?2",
    [ST_INSERT_RESOURCE] = "INSERT INTO resource(type, id, version, hid, "
                           "deleted) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_UPDATE_RESOURCE] = "UPDATE resource SET version = ?2, hid = ?3, "
                           "deleted = ?4 WHERE rid = ?1",
    [ST_INSERT_HISTORY] = "INSERT INTO history(hid, rid, type, version, "
                          "method, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_HIST_INSTANCE] =
        "SELECT h.hid, h.type, ?5, h.version, h.method, h.body "
        "FROM history h WHERE h.rid = ?1 AND h.hid >= ?2 AND h.hid < ?3 "
        "ORDER BY h.version DESC LIMIT ?4",
    [ST_HIST_TYPE] = "SELECT h.hid, h.type, r.id, h.version, h.method, h.body "
                     "FROM history h JOIN resource r ON r.rid = h.rid "
                     "WHERE h.type = ?1 AND h.hid >= ?2 AND h.hid < ?3 "
                     "ORDER BY h.hid DESC LIMIT ?4",
    [ST_HIST_SYSTEM] =
        "SELECT h.hid, h.type, r.id, h.version, h.method, h.body "
        "FROM history h JOIN resource r ON r.rid = h.rid "
        "WHERE h.hid >= ?2 AND h.hid < ?3 ORDER BY h.hid DESC LIMIT ?4",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_LAST_TIME] = "SELECT max(hid) FROM history",
    [ST_DEL_TOKEN] =
        "DELETE FROM idx_token WHERE rid = ?1 RETURNING param, sys, code",
    [ST_DEL_STRING] = "DELETE FROM idx_string WHERE rid = ?1 RETURNING param",
    [ST_DEL_DATE] = "DELETE FROM idx_date WHERE rid = ?1 RETURNING param",
    [ST_DEL_REF] = "DELETE FROM idx_ref WHERE rid = ?1 RETURNING param, ref",
    [ST_DEL_URI] = "DELETE FROM idx_uri WHERE rid = ?1 RETURNING param",
    [ST_INS_TOKEN] = "INSERT OR IGNORE INTO idx_token(rid, param, sys, code) "
                     "VALUES (?1, ?2, ?3, ?4)",
    [ST_INS_STRING] = "INSERT OR IGNORE INTO idx_string(rid, param, norm, "
                      "text) VALUES (?1, ?2, ?3, ?4)",
    [ST_INS_DATE] = "INSERT OR IGNORE INTO idx_date(rid, param, lo, hi) "
                    "VALUES (?1, ?2, ?3, ?4)",
    [ST_INS_REF] = "INSERT OR IGNORE INTO idx_ref(rid, param, ref) "
                   "VALUES (?1, ?2, ?3)",
    [ST_INS_URI] = "INSERT OR IGNORE INTO idx_uri(rid, param, uri) "
                   "VALUES (?1, ?2, ?3)",
    [ST_SYS_FIND] = "SELECT id FROM sysdict WHERE uri = ?1",
    [ST_SYS_INSERT] = "INSERT INTO sysdict(uri) VALUES (?1)",
    [ST_CNT_TOKEN] =
        "INSERT INTO cnt_token(type, param, sys, code, n) "
        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(type, param, code, sys) "
        "DO UPDATE SET n = n + ?5",
    [ST_CNT_REF] = "INSERT INTO cnt_ref(type, param, ref, n) "
                   "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(type, param, ref) "
                   "DO UPDATE SET n = n + ?4",
    [ST_CNT_PARAM] = "INSERT INTO cnt_param(type, param, n) "
                     "VALUES (?1, ?2, ?3) ON CONFLICT(type, param) "
                     "DO UPDATE SET n = n + ?3",
    [ST_CNT_TYPE] = "INSERT INTO cnt_type(type, n) VALUES (?1, ?2) "
                    "ON CONFLICT(type) DO UPDATE SET n = n + ?2",
    [ST_COMMIT] = "COMMIT",
    [ST_READ_BEGIN] = "BEGIN",
    [ST_SAVEPOINT] = "SAVEPOINT member",
    [ST_RELEASE] = "RELEASE member",
    [ST_ROLLBACK_TO] = "ROLLBACK TO member",
    [ST_REPLAY_GET] = "SELECT digest, response FROM replay "
                      "WHERE key = ?1 AND at_us >= ?2",
    [ST_REPLAY_PUT] = "INSERT OR REPLACE INTO replay(key, digest, at_us, "
                      "response) VALUES (?1, ?2, ?3, ?4)",
    [ST_REPLAY_PRUNE] = "DELETE FROM replay WHERE at_us < ?1",
};

/* Migrations: entry N brings a database from user_version N to N + 1. */
static const char *const migrations[] = {
    "CREATE TABLE rtype(code INTEGER PRIMARY KEY, name TEXT NOT NULL "
    "UNIQUE);"
    "CREATE TABLE resource(rid INTEGER PRIMARY KEY, type INTEGER NOT NULL, "
    "id TEXT NOT NULL, version INTEGER NOT NULL, hid INTEGER NOT NULL, "
    "deleted INTEGER NOT NULL DEFAULT 0, UNIQUE(type, id));"
    "CREATE TABLE history(hid INTEGER PRIMARY KEY, rid INTEGER NOT NULL, "
    "type INTEGER NOT NULL, version INTEGER NOT NULL, method INTEGER NOT "
    "NULL, body BLOB, UNIQUE(rid, version));"
    "CREATE INDEX history_type ON history(type, hid);",

    /* 1 -> 2: search. Index rows are keyed by rid first (a resource's
     * rows are one range: cheap to replace, and a filter on a candidate
     * is one lookup); the _q indexes serve lookups by value. Counts are
     * kept so the planner knows how selective a condition is. */
    "CREATE TABLE setting(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE sparam(num INTEGER PRIMARY KEY, key TEXT NOT NULL "
    "UNIQUE);"
    "CREATE TABLE sysdict(id INTEGER PRIMARY KEY, uri TEXT NOT NULL "
    "UNIQUE);"
    "CREATE TABLE idx_token(rid INTEGER NOT NULL, param INTEGER NOT NULL, "
    "sys INTEGER NOT NULL, code TEXT NOT NULL, "
    "PRIMARY KEY(rid, param, sys, code)) WITHOUT ROWID;"
    "CREATE INDEX idx_token_q ON idx_token(param, code, sys, rid);"
    "CREATE TABLE idx_string(rid INTEGER NOT NULL, param INTEGER NOT NULL, "
    "norm TEXT NOT NULL, text TEXT NOT NULL, "
    "PRIMARY KEY(rid, param, norm, text)) WITHOUT ROWID;"
    "CREATE INDEX idx_string_q ON idx_string(param, norm, rid);"
    "CREATE TABLE idx_date(rid INTEGER NOT NULL, param INTEGER NOT NULL, "
    "lo INTEGER NOT NULL, hi INTEGER NOT NULL, "
    "PRIMARY KEY(rid, param, lo, hi)) WITHOUT ROWID;"
    "CREATE INDEX idx_date_q ON idx_date(param, lo, hi, rid);"
    "CREATE TABLE idx_ref(rid INTEGER NOT NULL, param INTEGER NOT NULL, "
    "ref TEXT NOT NULL, PRIMARY KEY(rid, param, ref)) WITHOUT ROWID;"
    "CREATE INDEX idx_ref_q ON idx_ref(param, ref, rid);"
    "CREATE TABLE idx_uri(rid INTEGER NOT NULL, param INTEGER NOT NULL, "
    "uri TEXT NOT NULL, PRIMARY KEY(rid, param, uri)) WITHOUT ROWID;"
    "CREATE INDEX idx_uri_q ON idx_uri(param, uri, rid);"
    "CREATE TABLE cnt_token(param INTEGER NOT NULL, sys INTEGER NOT NULL, "
    "code TEXT NOT NULL, n INTEGER NOT NULL, "
    "PRIMARY KEY(param, code, sys)) WITHOUT ROWID;"
    "CREATE TABLE cnt_ref(param INTEGER NOT NULL, ref TEXT NOT NULL, "
    "n INTEGER NOT NULL, PRIMARY KEY(param, ref)) WITHOUT ROWID;"
    "CREATE TABLE cnt_param(param INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
    "CREATE TABLE cnt_type(type INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
    "CREATE INDEX resource_type ON resource(type, hid);"
    "INSERT INTO cnt_type SELECT type, count(*) FROM resource "
    "WHERE deleted = 0 GROUP BY type;"
    /* Resources stored before search existed have no rows yet. */
    "INSERT INTO setting SELECT 'reindex', 'needed' "
    "WHERE EXISTS (SELECT 1 FROM resource);",

    /* 2 -> 3: counts per resource type. One parameter can serve several
     * types (individual-gender: Patient and Practitioner; _tag: all), and
     * counts over all of them answered a search of one type wrongly. The
     * new tables start empty; the reindex at start-up fills them. */
    "DROP TABLE cnt_token; DROP TABLE cnt_ref; DROP TABLE cnt_param;"
    "CREATE TABLE cnt_token(type INTEGER NOT NULL, param INTEGER NOT NULL, "
    "sys INTEGER NOT NULL, code TEXT NOT NULL, n INTEGER NOT NULL, "
    "PRIMARY KEY(type, param, code, sys)) WITHOUT ROWID;"
    "CREATE TABLE cnt_ref(type INTEGER NOT NULL, param INTEGER NOT NULL, "
    "ref TEXT NOT NULL, n INTEGER NOT NULL, "
    "PRIMARY KEY(type, param, ref)) WITHOUT ROWID;"
    "CREATE TABLE cnt_param(type INTEGER NOT NULL, param INTEGER NOT NULL, "
    "n INTEGER NOT NULL, PRIMARY KEY(type, param)) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO setting SELECT 'reindex', 'needed' "
    "WHERE EXISTS (SELECT 1 FROM resource);",

    /* 3 -> 4: the responses of transactions that carried a
     * Bundle.identifier, so that a client's retry gets the same answer
     * instead of running the transaction twice. */
    "CREATE TABLE IF NOT EXISTS replay(key TEXT PRIMARY KEY, digest TEXT NOT "
    "NULL, "
    "at_us INTEGER NOT NULL, response BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS replay_at ON replay(at_us);",

    /* 4 -> 5: a type's resources in rid order (the default result
     * order), so a filtered scan of one type can stop at the page's end
     * (resource_type is by lastUpdated). */
    "CREATE INDEX IF NOT EXISTS resource_type_rid ON resource(type);",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))
_Static_assert(NMIGRATIONS == STORE_SCHEMA_VERSION,
               "store_int.h documents the schema the migrations build");

/* ---- connections ---------------------------------------------------- */

int
store__fail(fhir_err *err, sqlite3 *db, int rc, const char *what)
{
    const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return fhir_err_set(err, FHIR_ISSUE_TRANSIENT,
                            "Database busy, try again (%s)", what);
    case SQLITE_CONSTRAINT:
        return fhir_err_set(err, FHIR_ISSUE_DUPLICATE, "%s: %s", what, msg);
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
        return fhir_err_set(err, FHIR_ISSUE_NO_STORE, "%s: %s", what, msg);
    default:
        return fhir_err_set(err, FHIR_ISSUE_EXCEPTION, "%s: %s", what, msg);
    }
}

static int
exec(sqlite3 *db, const char *sql, fhir_err *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        return store__fail(err, db, rc, "database set-up");
    }
    return 0;
}

/* A reader's page cache is small: readers come from a pool (6 by
 * default) and the OS caches the file for all of them; the B-tree pages
 * a search walks again sit in these 2 MB (1 MB made an include page 40%
 * slower, in pread calls; 4 MB gained nothing). Sorts and
 * temporary b-trees larger than their cache spill to temporary files
 * rather than grow the heap. Together they bound a busy server's memory
 * (issue 6: 128 MiB with 64 connections at a million Tasks). */
#define READER_PRAGMAS "PRAGMA cache_size = -2048; PRAGMA temp_store = FILE;"

int
store__conn_open(store_conn *c, const store_env *env, int writer, fhir_err *err)
{
    char pragmas[256];
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    memset(c, 0, sizeof(*c));
    if (writer) {
        flags |= SQLITE_OPEN_CREATE;
    }
    int rc = sqlite3_open_v2(env->path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        fhir_err_set(err, FHIR_ISSUE_NO_STORE, "Cannot open database %s: %s",
                     env->path,
                     c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, env->opts.busy_ms);
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA synchronous = %s; PRAGMA foreign_keys = OFF;"
             "%s",
             env->opts.synchronous_full ? "FULL" : "NORMAL",
             writer ? "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16000;"
                    : READER_PRAGMAS);
    /* The first statement on a non-database file fails here. */
    rc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        fhir_err_set(err, FHIR_ISSUE_NO_STORE, "Cannot use database %s: %s",
                     env->path, sqlite3_errmsg(c->db));
        goto fail;
    }
    return 0;
fail:
    store__conn_close(c);
    return -1;
}

void
store__conn_close(store_conn *c)
{
    store__qcache_clear(c);
    for (int i = 0; i < ST__COUNT; i++) {
        sqlite3_finalize(c->stmts[i]);
        c->stmts[i] = NULL;
    }
    sqlite3_close(c->db);
    c->db = NULL;
}

sqlite3_stmt *
store__stmt(store_conn *c, enum store_stmt id, fhir_err *err)
{
    if (c->stmts[id] == NULL) {
        int rc =
            sqlite3_prepare_v3(c->db, stmt_sql[id], -1,
                               SQLITE_PREPARE_PERSISTENT, &c->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            store__fail(err, c->db, rc, "prepare");
            return NULL;
        }
    }
    return c->stmts[id];
}

void
store__done(sqlite3_stmt *st)
{
    if (st != NULL) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

int
store__step(store_conn *c, sqlite3_stmt *st, const char *what, fhir_err *err)
{
    int s = sqlite3_step(st);
    store__done(st);
    return s == SQLITE_DONE ? 0 : store__fail(err, c->db, s, what);
}

int
store__run(store_conn *c, enum store_stmt id, const char *what, fhir_err *err)
{
    sqlite3_stmt *st = store__stmt(c, id, err);
    return st == NULL ? -1 : store__step(c, st, what, err);
}

int
store__type_of_code(const store_env *env, int code)
{
    for (int t = 0; t < env->ntypes; t++) {
        if (env->type_code[t] == code) {
            return t;
        }
    }
    return -1;
}

/* ---- schema --------------------------------------------------------- */

static int
query_int(sqlite3 *db, const char *sql, int64_t *out, fhir_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_ROW) {
        store__fail(err, db, rc, "database set-up");
        sqlite3_finalize(st);
        return -1;
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

static int
migrate(store_env *env, fhir_err *err)
{
    sqlite3 *db = env->w.db;
    int64_t v = 0;
    char sql[64];
    if (query_int(db, "PRAGMA user_version", &v, err) != 0) {
        return -1;
    }
    if (v > NMIGRATIONS) {
        return fhir_err_set(err, FHIR_ISSUE_NOT_SUPPORTED,
                            "Database schema version %lld is newer than this "
                            "server's (%d)",
                            (long long)v, NMIGRATIONS);
    }
    if (v == NMIGRATIONS) {
        return 0;
    }
    if (exec(db, "BEGIN IMMEDIATE", err) != 0) {
        return -1;
    }
    for (; v < NMIGRATIONS; v++) {
        if (exec(db, migrations[v], err) != 0) {
            goto fail;
        }
    }
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", NMIGRATIONS);
    if (exec(db, sql, err) != 0 || exec(db, "COMMIT", err) != 0) {
        goto fail;
    }
    return 0;
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Gives every served type a persistent code. */
static int
load_types(store_env *env, fhir_err *err)
{
    sqlite3 *db = env->w.db;
    sqlite3_stmt *ins = NULL, *sel = NULL;
    int rc = -1;
    env->ntypes = fhir_type_count();
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO rtype(name) VALUES (?)",
                           -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT code FROM rtype WHERE name = ?", -1,
                           &sel, NULL) != SQLITE_OK) {
        store__fail(err, db, sqlite3_errcode(db), "database set-up");
        goto done;
    }
    for (int t = 0; t < env->ntypes; t++) {
        const char *name = fhir_type_name(t);
        sqlite3_bind_text(ins, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            store__fail(err, db, sqlite3_errcode(db), "database set-up");
            goto done;
        }
        sqlite3_reset(ins);
        sqlite3_bind_text(sel, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(sel) != SQLITE_ROW) {
            store__fail(err, db, sqlite3_errcode(db), "database set-up");
            goto done;
        }
        env->type_code[t] = sqlite3_column_int(sel, 0);
        sqlite3_reset(sel);
    }
    rc = 0;
done:
    sqlite3_finalize(ins);
    sqlite3_finalize(sel);
    return rc;
}

/* Process-wide SQLite settings, before its first use: no memory
 * statistics, whose global mutex every allocation of every connection
 * would otherwise take. */
static void
sqlite_setup(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int
store_env_open(store_env **out, const store_opts *opts, fhir_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_setup);
    store_env *env = fhir_xcalloc(1, sizeof(*env));
    int64_t last = 0;
    *out = NULL;
    env->opts = *opts;
    env->path = fhir_xstrdup(opts->path);
    pthread_mutex_init(&env->wlock, NULL);
    pthread_mutex_init(&env->pool_mu, NULL);
    pthread_cond_init(&env->pool_cv, NULL);
    if (env->opts.read_conns <= 0) {
        env->opts.read_conns = 6;
    }
    env->pool_idle =
        fhir_xcalloc((size_t)env->opts.read_conns, sizeof(*env->pool_idle));
    store__group_init(env);
    store__hot_init(env);
    if ((size_t)fhir_type_count() >
        sizeof(env->type_code) / sizeof(env->type_code[0])) {
        fhir_err_set(err, FHIR_ISSUE_EXCEPTION, "too many resource types");
        goto fail;
    }
    if (store__conn_open(&env->w, env, 1, err) != 0) {
        goto fail;
    }
    /* WAL: readers never block the writer and a commit is one append. */
    if (exec(env->w.db, "PRAGMA journal_mode = WAL", err) != 0 ||
        migrate(env, err) != 0 || load_types(env, err) != 0 ||
        query_int(env->w.db, "SELECT coalesce(max(hid), 0) FROM history", &last,
                  err) != 0) {
        goto fail;
    }
    env->last_us = last;
    store__ckpt_start(env);
    *out = env;
    return 0;
fail:
    store_env_close(env);
    return -1;
}

void
store_env_close(store_env *env)
{
    if (env == NULL) {
        return;
    }
    store__ckpt_stop(env);
    for (size_t i = 0; i < env->pool_nidle; i++) {
        store_db_close(env->pool_idle[i]);
    }
    free(env->pool_idle);
    pthread_cond_destroy(&env->pool_cv);
    pthread_mutex_destroy(&env->pool_mu);
    store__conn_close(&env->w);
    store__hot_free(env);
    store__pending_free(env);
    store__group_free(env);
    pthread_mutex_destroy(&env->wlock);
    free(env->path);
    free(env);
}

int
store_env_is_empty(store_env *env)
{
    int64_t n = 0;
    fhir_err err = FHIR_ERR_INIT;
    store__wlock(env);
    int rc =
        query_int(env->w.db, "SELECT EXISTS(SELECT 1 FROM resource)", &n, &err);
    store__wunlock(env);
    return rc == 0 && n == 0;
}

int
store_env_check(store_env *env, fhir_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    store__wlock(env);
    if (sqlite3_prepare_v2(env->w.db, "PRAGMA integrity_check", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        store__fail(err, env->w.db, sqlite3_errcode(env->w.db),
                    "integrity check");
    } else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        fhir_err_set(err, FHIR_ISSUE_EXCEPTION, "integrity check: %s",
                     sqlite3_column_text(st, 0));
    } else {
        rc = 0;
    }
    sqlite3_finalize(st);
    store__wunlock(env);
    return rc;
}

int
store_type_code(const store_env *env, int type)
{
    return type >= 0 && type < env->ntypes ? env->type_code[type] : -1;
}

int
store_type_of_code(const store_env *env, int code)
{
    return store__type_of_code(env, code);
}

int
store_db_open(store_db **out, store_env *env, fhir_err *err)
{
    store_db *db = fhir_xcalloc(1, sizeof(*db));
    *out = NULL;
    db->env = env;
    if (store__conn_open(&db->own, env, 0, err) != 0) {
        free(db);
        return -1;
    }
    /* A read connection never writes; make that a guarantee. */
    db->c = &db->own;
    sqlite3_exec(db->c->db, "PRAGMA query_only = 1", NULL, NULL, NULL);
    *out = db;
    return 0;
}

void
store_db_close(store_db *db)
{
    if (db == NULL) {
        return;
    }
    store__conn_close(&db->own);
    free(db->scratch);
    free(db);
}

uint64_t *
store_db_scratch(store_db *db, size_t words)
{
    if (words > db->scratch_cap) {
        free(db->scratch);
        db->scratch = malloc(words * sizeof(uint64_t));
        db->scratch_cap = db->scratch != NULL ? words : 0;
    }
    return db->scratch;
}

int
store_db_acquire(store_db **out, store_env *env, fhir_err *err)
{
    *out = NULL;
    pthread_mutex_lock(&env->pool_mu);
    while (env->pool_nidle == 0 && env->pool_open >= env->opts.read_conns) {
        pthread_cond_wait(&env->pool_cv, &env->pool_mu);
    }
    if (env->pool_nidle > 0) {
        *out = env->pool_idle[--env->pool_nidle];
        pthread_mutex_unlock(&env->pool_mu);
        return 0;
    }
    env->pool_open++;
    pthread_mutex_unlock(&env->pool_mu);
    if (store_db_open(out, env, err) == 0) {
        return 0;
    }
    pthread_mutex_lock(&env->pool_mu);
    env->pool_open--;
    pthread_cond_signal(&env->pool_cv);
    pthread_mutex_unlock(&env->pool_mu);
    return -1;
}

void
store_db_release(store_db *db)
{
    if (db == NULL) {
        return;
    }
    store_env *env = db->env;
    pthread_mutex_lock(&env->pool_mu);
    env->pool_idle[env->pool_nidle++] = db;
    pthread_cond_signal(&env->pool_cv);
    pthread_mutex_unlock(&env->pool_mu);
}

/* ---- reads ---------------------------------------------------------- */

void
store_res_clear(store_res *res)
{
    free(res->body);
    memset(res, 0, sizeof(*res));
}

static int
read_on(store_res *out, store_conn *c, const store_env *env, int type,
        const char *id, int64_t version, fhir_err *err)
{
    sqlite3_stmt *st =
        store__stmt(c, version > 0 ? ST_READ_VERSION : ST_READ_CURRENT, err);
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int(st, 1, env->type_code[type]);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    if (version > 0) {
        sqlite3_bind_int64(st, 3, version);
    }
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE) {
        if (version > 0) {
            fhir_err_set(err, FHIR_ISSUE_NOT_FOUND, "%s/%s has no version %lld",
                         fhir_type_name(type), id, (long long)version);
        } else {
            fhir_err_set(err, FHIR_ISSUE_NOT_FOUND, "%s/%s is not known",
                         fhir_type_name(type), id);
        }
        goto done;
    }
    if (s != SQLITE_ROW) {
        store__fail(err, c->db, s, "read");
        goto done;
    }
    out->version = sqlite3_column_int64(st, 0);
    out->deleted = sqlite3_column_int(st, 1);
    out->updated_us = sqlite3_column_int64(st, 2);
    if (!out->deleted && sqlite3_column_type(st, 3) != SQLITE_NULL) {
        const void *b = sqlite3_column_blob(st, 3);
        out->len = (size_t)sqlite3_column_bytes(st, 3);
        out->body = fhir_xstrndup(b, out->len);
    }
    rc = 0;
done:
    store__done(st);
    return rc;
}

int
store_read(store_res *out, store_db *db, int type, const char *id,
           int64_t version, fhir_err *err)
{
    return read_on(out, db->c, db->env, type, id, version, err);
}

/* ---- writes --------------------------------------------------------- */

int
store_tx_read(store_res *out, store_tx *tx, int type, const char *id,
              fhir_err *err)
{
    return read_on(out, &tx->env->w, tx->env, type, id, 0, err);
}

store_db *
store_tx_db(store_tx *tx)
{
    return &tx->view;
}

/* The current row of a resource, if any. */
struct found {
    int exists;
    int64_t rid, version;
    int deleted;
};

static int
find(struct found *f, store_tx *tx, int type, const char *id, fhir_err *err)
{
    store_env *env = tx->env;
    sqlite3_stmt *st = store__stmt(&env->w, ST_FIND, err);
    memset(f, 0, sizeof(*f));
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int(st, 1, env->type_code[type]);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        f->exists = 1;
        f->rid = sqlite3_column_int64(st, 0);
        f->version = sqlite3_column_int64(st, 1);
        f->deleted = sqlite3_column_int(st, 2);
    }
    store__done(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE) {
        return store__fail(err, env->w.db, s, "read");
    }
    return 0;
}

/* The next lastUpdated: now, but strictly after the previous write. */
static int64_t
next_time(store_env *env)
{
    int64_t now = fhir_now_us();
    env->last_us = now > env->last_us ? now : env->last_us + 1;
    return env->last_us;
}

/* Writes the version row and points the resource row at it. */
static int
write_version(struct found *f, store_tx *tx, int type, const char *id,
              int64_t version, int64_t hid, store_method method,
              const char *body, size_t len, fhir_err *err)
{
    store_env *env = tx->env;
    sqlite3_stmt *st;
    int deleted = method == STORE_METHOD_DELETE;
    if (!f->exists) {
        st = store__stmt(&env->w, ST_INSERT_RESOURCE, err);
        if (st == NULL) {
            return -1;
        }
        sqlite3_bind_int(st, 1, env->type_code[type]);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, version);
        sqlite3_bind_int64(st, 4, hid);
        sqlite3_bind_int(st, 5, deleted);
        if (store__step(&env->w, st, "insert", err) != 0) {
            return -1;
        }
        f->rid = sqlite3_last_insert_rowid(env->w.db);
        f->exists = 1;
    } else {
        st = store__stmt(&env->w, ST_UPDATE_RESOURCE, err);
        if (st == NULL) {
            return -1;
        }
        sqlite3_bind_int64(st, 1, f->rid);
        sqlite3_bind_int64(st, 2, version);
        sqlite3_bind_int64(st, 3, hid);
        sqlite3_bind_int(st, 4, deleted);
        if (store__step(&env->w, st, "update", err) != 0) {
            return -1;
        }
    }
    st = store__stmt(&env->w, ST_INSERT_HISTORY, err);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, hid);
    sqlite3_bind_int64(st, 2, f->rid);
    sqlite3_bind_int(st, 3, env->type_code[type]);
    sqlite3_bind_int64(st, 4, version);
    sqlite3_bind_int(st, 5, (int)method);
    if (body != NULL) {
        sqlite3_bind_blob(st, 6, body, (int)len, SQLITE_STATIC);
    }
    return store__step(&env->w, st, "insert history", err);
}

/* A first version written beforehand (store_put.body) into b, its
 * lastUpdated (the first in the text: meta comes right after id) set to
 * `us`; 0 when the text has no such member. */
static int
stamped_copy(fhir_buf *b, const char *body, size_t len, int64_t us)
{
    static const char key[] = "\"lastUpdated\":\"";
    char when[40];
    fhir_instant_format(when, sizeof(when), us);
    size_t wl = strlen(when);
    fhir_buf_append(b, body, len);
    char *at = strstr(b->data, key);
    if (at == NULL || (size_t)(at - b->data) + sizeof(key) - 1 + wl >= len ||
        at[sizeof(key) - 1 + wl] != '"') {
        fhir_buf_clear(b);
        return 0;
    }
    memcpy(at + sizeof(key) - 1, when, wl);
    return 1;
}

int
store_tx_put(store_put_result *out, store_tx *tx, const store_put *in,
             fhir_err *err)
{
    struct found f;
    fhir_buf b = FHIR_BUF_INIT;
    memset(out, 0, sizeof(*out));
    /* A create names an id that should be new (a POST's is the server's
     * own): no lookup; the resource table's UNIQUE(type, id) refuses one
     * that exists, below. */
    if (in->create_only) {
        memset(&f, 0, sizeof(f));
    } else if (find(&f, tx, in->type, in->id, err) != 0) {
        return -1;
    }
    /* R4 http.html#concurrency: the version the client saw must still be
     * the current one. */
    if (in->if_match > 0 && (!f.exists || f.version != in->if_match)) {
        if (!f.exists) {
            return fhir_err_set(err, FHIR_ISSUE_CONFLICT,
                                "%s/%s does not exist, so version %lld is "
                                "not current",
                                fhir_type_name(in->type), in->id,
                                (long long)in->if_match);
        }
        return fhir_err_set(err, FHIR_ISSUE_CONFLICT,
                            "Version conflict: %s/%s is at version %lld, "
                            "not %lld",
                            fhir_type_name(in->type), in->id,
                            (long long)f.version, (long long)in->if_match);
    }
    int was_live = f.exists && !f.deleted;
    int64_t version = f.exists ? f.version + 1 : 1;
    int64_t hid = next_time(tx->env);
    if (in->body == NULL || version != 1 ||
        !stamped_copy(&b, in->body, in->body_len, hid)) {
        fhir_resource_stamp(in->resource, in->id, version, hid);
        fhir_json_write(&b, in->resource, 0);
    }
    if (write_version(&f, tx, in->type, in->id, version, hid, in->method,
                      b.data, b.len, err) != 0) {
        if (in->create_only && err->issue == FHIR_ISSUE_DUPLICATE) {
            fhir_err_clear(err);
            fhir_err_set(err, FHIR_ISSUE_DUPLICATE, "%s/%s already exists",
                         fhir_type_name(in->type), in->id);
        }
        fhir_buf_clear(&b);
        return -1;
    }
    if (store__rows_write(tx->env, f.rid, in->type, in->rows, was_live ? 0 : 1,
                          was_live, err) != 0) {
        fhir_buf_clear(&b);
        return -1;
    }
    out->version = version;
    out->updated_us = hid;
    out->created = !was_live;
    out->body = fhir_buf_take(&b, &out->len);
    return 0;
}

int
store_tx_delete(store_del_result *out, store_tx *tx, int type, const char *id,
                int64_t if_match, fhir_err *err)
{
    struct found f;
    memset(out, 0, sizeof(*out));
    if (find(&f, tx, type, id, err) != 0) {
        return -1;
    }
    if (!f.exists) {
        return fhir_err_set(err, FHIR_ISSUE_NOT_FOUND, "%s/%s is not known",
                            fhir_type_name(type), id);
    }
    if (if_match > 0 && f.version != if_match) {
        return fhir_err_set(err, FHIR_ISSUE_CONFLICT,
                            "Version conflict: %s/%s is at version %lld, "
                            "not %lld",
                            fhir_type_name(type), id, (long long)f.version,
                            (long long)if_match);
    }
    out->version = f.version;
    if (f.deleted) {
        out->already = 1;
        return 0;
    }
    int64_t hid = next_time(tx->env);
    if (write_version(&f, tx, type, id, f.version + 1, hid, STORE_METHOD_DELETE,
                      NULL, 0, err) != 0 ||
        store__rows_write(tx->env, f.rid, type, NULL, -1, 1, err) != 0) {
        return -1;
    }
    out->version = f.version + 1;
    out->updated_us = hid;
    return 0;
}

/* ---- idempotent transactions ------------------------------------- */

int
store_tx_replay_get(store_tx *tx, const char *key, int64_t oldest_us,
                    char **digest, char **resp, size_t *len, fhir_err *err)
{
    store_env *env = tx->env;
    sqlite3_stmt *st = store__stmt(&env->w, ST_REPLAY_GET, err);
    *digest = NULL;
    *resp = NULL;
    *len = 0;
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, oldest_us);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 0);
        const void *b = sqlite3_column_blob(st, 1);
        size_t n = (size_t)sqlite3_column_bytes(st, 1);
        *digest = fhir_xstrdup(d ? d : "");
        *resp = fhir_xmalloc(n + 1);
        if (n > 0) {
            memcpy(*resp, b, n);
        }
        (*resp)[n] = '\0';
        *len = n;
    }
    store__done(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE) {
        return store__fail(err, env->w.db, s, "replay");
    }
    return s == SQLITE_ROW;
}

int
store_tx_replay_put(store_tx *tx, const char *key, const char *digest,
                    const char *resp, size_t len, int64_t oldest_us,
                    fhir_err *err)
{
    store_env *env = tx->env;
    sqlite3_stmt *st = store__stmt(&env->w, ST_REPLAY_PRUNE, err);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, oldest_us);
    if (store__step(&env->w, st, "replay", err) != 0) {
        return -1;
    }
    st = store__stmt(&env->w, ST_REPLAY_PUT, err);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, fhir_now_us());
    sqlite3_bind_blob(st, 4, resp, (int)len, SQLITE_STATIC);
    return store__step(&env->w, st, "replay", err);
}
