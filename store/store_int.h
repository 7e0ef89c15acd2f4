/* store/store_int.h - what the store's files share: the schema, the
 * connection wrapper with its statement cache, and helpers.
 *
 * Schema (PRAGMA user_version 1):
 *
 *   rtype(code INTEGER PRIMARY KEY, name TEXT UNIQUE)
 *       resource type names to small codes, so codes never depend on the
 *       order of the compiled type table.
 *   resource(rid INTEGER PRIMARY KEY, type, id, version, hid, deleted,
 *            UNIQUE(type, id))
 *       one row per logical resource; `hid` points at its current version.
 *   history(hid INTEGER PRIMARY KEY, rid, type, version, method, body,
 *           UNIQUE(rid, version)), index (type, hid)
 *       every version. `hid` is the version's meta.lastUpdated in UTC
 *       microseconds: the single writer keeps it strictly increasing, so
 *       history order, paging cursors and _since all use the primary key.
 *       `body` is the JSON exactly as served (NULL for a delete).
 */
#ifndef STORE_STORE_INT_H
#define STORE_STORE_INT_H

#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>

#define STORE_SCHEMA_VERSION 1

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
    ST_COMMIT,
    ST__COUNT
};

typedef struct store_conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[ST__COUNT];
} store_conn;

struct store_env {
    store_opts opts;
    char *path;
    pthread_mutex_t wlock; /* serialises write transactions */
    store_conn w;          /* the writer connection */
    int64_t last_us;       /* last hid written (guarded by wlock) */
    int type_code[16];     /* served type index -> rtype.code */
    int ntypes;
};

struct store_db {
    store_env *env;
    store_conn c;
};

struct store_tx {
    store_env *env;
};

/* Opens a connection with the server's pragmas. */
int store__conn_open(store_conn *c, const store_env *env, int writer,
                     fhir_err *err);
void store__conn_close(store_conn *c);
/* The prepared statement `id` of connection c (prepared on first use). */
sqlite3_stmt *store__stmt(store_conn *c, enum store_stmt id, fhir_err *err);
/* Resets and clears a borrowed statement; accepts NULL. */
void store__done(sqlite3_stmt *st);
/* Maps an SQLite result code to an fhir_err; returns -1. */
int store__fail(fhir_err *err, sqlite3 *db, int rc, const char *what);
/* Served type index of an rtype code, or -1. */
int store__type_of_code(const store_env *env, int code);

#endif
