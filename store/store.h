/* store/store.h - versioned FHIR resource storage on SQLite.
 *
 * One store_env per process owns the database file, its schema and the
 * single writer connection; writes run in store_tx transactions, one at a
 * time, each committed durably before the caller answers. Reads go through
 * a store_db, one per worker thread, each its own SQLite connection with
 * its own prepared statements, reading a consistent WAL snapshot.
 *
 * Every version of every resource is kept; a delete is a version without
 * a body. Resource types are the served types of fhir.h, passed as their
 * index (fhir_type_find()). SQL stays behind this header.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include "fhir/fhir.h"

typedef struct store_env store_env; /* one per process */
typedef struct store_db store_db;   /* one per reading thread */
typedef struct store_tx store_tx;   /* one write transaction */

typedef struct store_opts {
    const char *path;     /* database file, created if missing */
    int busy_ms;          /* how long to wait on another process's lock */
    int synchronous_full; /* 1: FULL (survives power loss); 0: NORMAL */
    int no_hot;           /* 1: no hot index (searches use SQL only) */
    int read_conns;       /* most read connections store_db_acquire()
                             lends at once (0: 6) */
    int no_group;         /* 1: every transaction commits alone (no group
                             commit; for comparison) */
} store_opts;

#define STORE_OPTS_INIT                                                        \
    {                                                                          \
        NULL, 5000, 1, 0, 0, 0                                                 \
    }

/* Opens (creating or migrating the schema, PRAGMA user_version) the
 * database. On success *out is the caller's; release it with
 * store_env_close(), which accepts NULL. Errors: no-store when the file
 * cannot be opened or is not a database, not-supported when its schema
 * is newer than this program. */
int store_env_open(store_env **out, const store_opts *opts,
                   fhir_err *err) FHIR_MUST_CHECK;
void store_env_close(store_env *env);
/* 1 when the database holds no resource at all (not even deleted ones). */
int store_env_is_empty(store_env *env);
/* Rewrites nothing; runs PRAGMA integrity_check. 0 when "ok". */
int store_env_check(store_env *env, fhir_err *err) FHIR_MUST_CHECK;

/* The store's persistent code of served type `type` (for search/'s SQL). */
int store_type_code(const store_env *env, int type);
/* The served type index of a store code (from a query's rows), or -1. */
int store_type_of_code(const store_env *env, int code);

/* A read connection for the calling thread. */
int store_db_open(store_db **out, store_env *env,
                  fhir_err *err) FHIR_MUST_CHECK;
void store_db_close(store_db *db);

/* A read connection lent from the environment's pool for one request:
 * opened on demand, at most opts.read_conns at once (a borrower waits
 * while all are lent), kept open with its prepared statements when
 * returned. Memory then follows the pool, not the number of client
 * connections. store_db_release() accepts NULL; every lent connection
 * must be returned before store_env_close(). */
int store_db_acquire(store_db **out, store_env *env,
                     fhir_err *err) FHIR_MUST_CHECK;
void store_db_release(store_db *db);

/* Working memory of `words` 64-bit words that stays with the connection
 * (contents undefined), for the in-memory sets of a search: a pooled
 * connection keeps it between requests instead of each search allocating
 * and freeing sets of every resource. NULL when it cannot be had. */
uint64_t *store_db_scratch(store_db *db, size_t words);

/* ---- reading -------------------------------------------------------- */

typedef struct store_res {
    char *body; /* JSON as stored (malloc'd, NUL-terminated);
                   NULL for a deleted version */
    size_t len;
    int64_t version;    /* meta.versionId */
    int64_t updated_us; /* meta.lastUpdated */
    int deleted;        /* 1 when this version is a delete */
} store_res;

/* Frees out->body and zeroes the struct. */
void store_res_clear(store_res *res);

/* Reads resource `type`/`id` at `version` (0: the current one). A deleted
 * resource (or deleted version) is returned with deleted = 1 and no body.
 * Errors: not-found (no such resource or version). */
int store_read(store_res *out, store_db *db, int type, const char *id,
               int64_t version, fhir_err *err) FHIR_MUST_CHECK;

typedef enum store_method {
    STORE_METHOD_POST = 1,
    STORE_METHOD_PUT = 2,
    STORE_METHOD_DELETE = 3,
    STORE_METHOD_PATCH = 4
} store_method;

typedef struct store_hist_entry {
    int type; /* served type index */
    const char *id;
    int64_t version;
    int64_t updated_us; /* also the paging cursor */
    store_method method;
    const char *body; /* NULL for deletes */
    size_t len;
} store_hist_entry;

typedef struct store_hist_query {
    int type;          /* -1: the whole system */
    const char *id;    /* with a type: one instance; else NULL */
    int64_t since_us;  /* only versions updated at or after; 0: all */
    int64_t before_us; /* only versions updated strictly before; 0: none */
    int count;         /* at most this many, newest first */
} store_hist_query;

/* Called once per entry; the strings are valid only during the call.
 * A non-zero return stops the listing. */
typedef int (*store_hist_cb)(void *ctx, const store_hist_entry *e);

/* Lists versions newest first. Errors: not-found (instance history of a
 * resource that never existed). */
int store_history(store_db *db, const store_hist_query *q, store_hist_cb cb,
                  void *ctx, fhir_err *err) FHIR_MUST_CHECK;

/* ---- queries built by search/ ------------------------------------------ */

typedef struct store_row store_row;
/* Column `col` of a result row as an integer / as text (NULL when SQL
 * NULL); valid only during the callback. */
int64_t store_row_int(const store_row *row, int col);
const char *store_row_text(const store_row *row, int col, size_t *len);
/* The same bytes without the terminating NUL, which SQLite adds by copying
 * the value (a stored body is read where it lies instead): *len of them,
 * NULL only for SQL NULL. */
const char *store_row_bytes(const store_row *row, int col, size_t *len);
int store_row_is_null(const store_row *row, int col);

/* Called once per row; a non-zero return stops the query. */
typedef int (*store_row_cb)(void *ctx, const store_row *row);

/* Brackets several queries in one read transaction, so they all see the
 * same committed state. */
int store_read_begin(store_db *db, fhir_err *err) FHIR_MUST_CHECK;
void store_read_end(store_db *db);

/* Runs a query built by search/ on the thread's read connection,
 * binding its values in order. Errors: transient, exception. */
int store_query(store_db *db, const fhir_sql *q, store_row_cb cb, void *ctx,
                fhir_err *err) FHIR_MUST_CHECK;

/* ---- writing -------------------------------------------------------- */

/* Begins the (only) write transaction, waiting for the one in progress.
 * Errors: transient (database locked by another process too long). */
int store_tx_begin(store_tx **out, store_env *env,
                   fhir_err *err) FHIR_MUST_CHECK;
/* Commits durably and frees tx. Errors: transient, exception; on failure
 * the transaction is rolled back and tx freed all the same. */
int store_tx_commit(store_tx *tx, fhir_err *err) FHIR_MUST_CHECK;
/* Rolls back and frees tx; accepts NULL. */
void store_tx_rollback(store_tx *tx);

typedef struct store_put {
    int type;            /* served type index */
    const char *id;      /* valid FHIR id */
    cJSON *resource;     /* stamped in place with id, versionId, lastUpdated */
    int64_t if_match;    /* >0: the current version must be this one */
    int create_only;     /* 1: fail (duplicate) when the id exists (POST) */
    store_method method; /* recorded in history (POST, PUT, PATCH) */
    const fhir_rows *rows; /* the resource's index rows (may be NULL) */
    /* Optional: `resource` as its first version is stored, written
     * beforehand (fhir_resource_stamp with version 1 and any time, then
     * fhir_json_write), so that a writer need not: used when the put
     * makes version 1, with the real lastUpdated written in place. Else
     * the store stamps and writes `resource` itself. */
    const char *body;
    size_t body_len;
} store_put;

typedef struct store_put_result {
    int64_t version;
    int64_t updated_us;
    int created; /* 1 when no live version existed before */
    char *body;  /* the stored JSON (malloc'd; caller frees) */
    size_t len;
} store_put_result;

/* Writes a new version. Errors: conflict (if_match given and not the
 * current version, or no such resource), duplicate (create_only). */
int store_tx_put(store_put_result *out, store_tx *tx, const store_put *in,
                 fhir_err *err) FHIR_MUST_CHECK;

typedef struct store_del_result {
    int64_t version; /* the delete's version (or the earlier one) */
    int64_t updated_us;
    int already; /* 1: was already deleted, nothing written */
} store_del_result;

/* Deletes `type`/`id` logically (a new version without a body) and
 * removes its index rows. Errors:
 * not-found (never existed), conflict (if_match > 0 and not current). */
int store_tx_delete(store_del_result *out, store_tx *tx, int type,
                    const char *id, int64_t if_match,
                    fhir_err *err) FHIR_MUST_CHECK;

/* ---- search parameters and index rows -------------------------------- */

/* The persistent number of search parameter `key`, created on first use.
 * Call at start-up, before serving. */
int store_param_num(int *out, store_env *env, const char *key,
                    fhir_err *err) FHIR_MUST_CHECK;

/* Keeps no counts of the token values of parameter `num` (identifiers,
 * telecoms: nearly one value per resource, so a count per value doubles
 * their index writes and a bounded probe of the index estimates as well).
 * Call at start-up, before any write; numbers past STORE_MAX_PARAMS are
 * counted. */
#define STORE_MAX_PARAMS 1024
void store_param_uncounted(store_env *env, int num);

/* A small persistent setting (e.g. the signature of the index
 * definitions); *out is malloc'd, NULL when unset. */
int store_setting_get(char **out, store_env *env, const char *key,
                      fhir_err *err) FHIR_MUST_CHECK;
int store_setting_set(store_env *env, const char *key, const char *value,
                      fhir_err *err) FHIR_MUST_CHECK;

/* Computes the index rows of one stored body (for store_reindex). */
typedef void (*store_rows_fn)(void *ctx, int type, const char *body, size_t len,
                              fhir_rows *out, fhir_arena *a);

/* Rebuilds every index row and count from the stored bodies of the live
 * resources, in transactions of a few thousand resources; *count gets the
 * number of resources indexed. */
int store_reindex(store_env *env, store_rows_fn fn, void *ctx, int64_t *count,
                  fhir_err *err) FHIR_MUST_CHECK;

/* ---- the hot index ------------------------------------------------------

 * For token and reference parameters with few distinct values (status,
 * performer, priority, owner) the store keeps in memory the set of live
 * resources holding each value, the set having the parameter at all, and
 * per resource its type and current hid; per date parameter asked for,
 * each resource's lowest start and highest end (for sorting). Sets are
 * bitsets of store_hot_words() 64-bit words indexed by rid; the caller
 * allocates them zeroed and the functions OR into them. A parameter's sets
 * are loaded on first need and follow every commit. */

typedef struct store_hot store_hot; /* a read view: holds the read lock */

typedef enum store_hot_kind {
    STORE_HOT_TOKEN,
    STORE_HOT_REF,
    STORE_HOT_DATE
} store_hot_kind;

typedef struct store_hot_need {
    int param; /* store number of the parameter */
    store_hot_kind kind;
} store_hot_need;

/* Loads what is needed and not yet loaded (taking the writer lock while
 * it does; the first call also loads every resource's type and hid). A
 * parameter with too many values is marked cold instead. Call without a
 * view open on this thread. */
int store_hot_prepare(store_env *env, const store_hot_need *need, size_t n,
                      fhir_err *err) FHIR_MUST_CHECK;
/* A view, or NULL when the hot index is off or not loaded. Keep it for
 * microseconds: commits wait for it. */
store_hot *store_hot_begin(store_env *env);
void store_hot_end(store_hot *v);
size_t store_hot_words(const store_hot *v);
/* The hid of the last commit reflected. */
int64_t store_hot_applied(const store_hot *v);
/* 1 when the sets of `param` are in memory. */
int store_hot_is_hot(const store_hot *v, int param);
/* ORs the resources holding value (sys, code) of param into bits: a token
 * with sys NULL (any system) or code NULL (any code of sys), or with ref
 * a reference string (code). -1 when param is not hot. */
int store_hot_or(const store_hot *v, uint64_t *bits, int param, int ref,
                 const char *sys, const char *code);
/* The same sets without a copy, when one bitset holds exactly the
 * answer: the resources holding the one key a value names (NULL when
 * none or several keys match, or the key's set is kept as a list), having
 * param at all, live of store type code tcode. Valid until
 * store_hot_end(). */
const uint64_t *store_hot_bits(const store_hot *v, int param, int ref,
                               const char *sys, const char *code);
const uint64_t *store_hot_has_bits(const store_hot *v, int param);
const uint64_t *store_hot_live_bits(const store_hot *v, int tcode);
/* ORs the resources holding a code of param that is none of codes[]. */
int store_hot_or_other(const store_hot *v, uint64_t *bits, int param,
                       const char *const *codes, size_t ncodes);
/* ORs the resources having any row of param. */
int store_hot_or_has(const store_hot *v, uint64_t *bits, int param);
/* ORs the live resources of the given store type codes. */
void store_hot_or_live(const store_hot *v, uint64_t *bits, const int *tcodes,
                       size_t n);
/* The current hid of rid, 0 when it is not live. */
int64_t store_hot_hid(const store_hot *v, int64_t rid);
/* The lowest start and highest end of date param on rid: 1, or 0 when it
 * has none, -1 when the column is not loaded. */
int store_hot_date(const store_hot *v, int param, int64_t rid, int64_t *lo,
                   int64_t *hi);

/* A read connection that is the transaction itself: every read function
 * of this header (store_read, store_history, store_query) then sees the
 * transaction's own writes; store_read_begin/end do nothing on it. Valid
 * until the transaction ends. */
store_db *store_tx_db(store_tx *tx);

/* ---- idempotent transactions ------------------------------------------ */

/* The response kept for transaction `key` (a Bundle.identifier) if it was
 * stored at or after oldest_us: 1 with *digest and *resp malloc'd (the
 * caller frees them), 0 when there is none. */
int store_tx_replay_get(store_tx *tx, const char *key, int64_t oldest_us,
                        char **digest, char **resp, size_t *len,
                        fhir_err *err) FHIR_MUST_CHECK;
/* Keeps `resp` for `key` (replacing an older one) in this transaction,
 * and forgets every response stored before oldest_us. */
int store_tx_replay_put(store_tx *tx, const char *key, const char *digest,
                        const char *resp, size_t len, int64_t oldest_us,
                        fhir_err *err) FHIR_MUST_CHECK;

/* Reads inside the transaction (sees its own writes). */
int store_tx_read(store_res *out, store_tx *tx, int type, const char *id,
                  fhir_err *err) FHIR_MUST_CHECK;

#endif
