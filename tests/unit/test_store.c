/* tests/unit/test_store.c - the versioned store on SQLite.
 *
 * Each case gets a fresh database file in its own mkdtemp() directory
 * (setup) and removes the directory with the -wal and -shm files
 * (teardown). Cases cover opening (fresh, reopen, not a database, newer
 * schema), writes with their version rules (If-Match, create-only,
 * delete, rollback), reads by version, the three history scopes and
 * their filters, and what a reader on another thread sees.
 */
#include "store/store.h"
#include "store/store_int.h" /* group commit counters */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- fixture -------------------------------------------------------- */

struct fixture {
    char dir[64];
    char path[128];
    store_env *env;
    store_db *db;
    int task;
    int patient;
};

static int
open_env(struct fixture *f)
{
    store_opts opts = STORE_OPTS_INIT;
    fhir_err err = FHIR_ERR_INIT;

    opts.path = f->path;
    opts.synchronous_full = 0; /* durability is not under test */
    if (store_env_open(&f->env, &opts, &err) != 0) {
        fprintf(stderr, "store_env_open: %s\n", err.diag);
        return -1;
    }
    if (store_db_open(&f->db, f->env, &err) != 0) {
        fprintf(stderr, "store_db_open: %s\n", err.diag);
        return -1;
    }
    return 0;
}

static void
close_env(struct fixture *f)
{
    store_db_close(f->db);
    f->db = NULL;
    store_env_close(f->env);
    f->env = NULL;
}

static int
setup(void **state)
{
    struct fixture *f = fhir_xcalloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/fhir-test-store-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/fhir.db", f->dir);
    f->task = fhir_type_find("Task");
    f->patient = fhir_type_find("Patient");
    *state = f;
    return open_env(f);
}

/* Removes everything in f->dir (files, and directories a case made
 * empty), then the directory. */
static int
teardown(void **state)
{
    struct fixture *f = *state;
    DIR *d;
    struct dirent *de;
    char p[512];

    close_env(f);
    d = opendir(f->dir);
    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
                continue;
            }
            snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
            if (unlink(p) != 0) {
                rmdir(p);
            }
        }
        closedir(d);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- helpers -------------------------------------------------------- */

static cJSON *
task_new(const char *status)
{
    cJSON *t = cJSON_CreateObject();

    cJSON_AddStringToObject(t, "resourceType", "Task");
    cJSON_AddStringToObject(t, "status", status);
    cJSON_AddStringToObject(t, "intent", "order");
    return t;
}

static cJSON *
patient_new(void)
{
    cJSON *p = cJSON_CreateObject();

    cJSON_AddStringToObject(p, "resourceType", "Patient");
    cJSON_AddBoolToObject(p, "active", 1);
    return p;
}

/* One put in its own transaction: committed on success, rolled back on
 * failure. `res` is consumed. */
static int
put_tx(store_put_result *out, struct fixture *f, int type, const char *id,
       cJSON *res, int64_t if_match, int create_only, fhir_err *err)
{
    store_tx *tx = NULL;
    store_put in;
    int rc;

    memset(&in, 0, sizeof(in));
    in.type = type;
    in.id = id;
    in.resource = res;
    in.if_match = if_match;
    in.create_only = create_only;
    in.method = create_only ? STORE_METHOD_POST : STORE_METHOD_PUT;
    assert_int_equal(store_tx_begin(&tx, f->env, err), 0);
    rc = store_tx_put(out, tx, &in, err);
    if (rc == 0) {
        rc = store_tx_commit(tx, err);
    } else {
        store_tx_rollback(tx);
    }
    cJSON_Delete(res);
    return rc;
}

/* A Task put that must succeed; returns its version. */
static int64_t
put_task(struct fixture *f, const char *id, const char *status,
         store_put_result *keep)
{
    store_put_result r;
    fhir_err err = FHIR_ERR_INIT;

    if (put_tx(&r, f, f->task, id, task_new(status), 0, 0, &err) != 0) {
        fail_msg("put Task/%s: %s", id, err.diag);
    }
    if (keep != NULL) {
        *keep = r;
    } else {
        free(r.body);
    }
    return r.version;
}

static int
del_tx(store_del_result *out, struct fixture *f, int type, const char *id,
       int64_t if_match, fhir_err *err)
{
    store_tx *tx = NULL;
    int rc;

    assert_int_equal(store_tx_begin(&tx, f->env, err), 0);
    rc = store_tx_delete(out, tx, type, id, if_match, err);
    if (rc == 0) {
        rc = store_tx_commit(tx, err);
    } else {
        store_tx_rollback(tx);
    }
    return rc;
}

static void
assert_not_found(store_db *db, int type, const char *id, int64_t version)
{
    store_res res;
    fhir_err err = FHIR_ERR_INIT;

    assert_int_equal(store_read(&res, db, type, id, version, &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_NOT_FOUND);
    assert_int_equal(err.status, 404);
    assert_null(res.body);
}

/* The integer `sql` returns on the database file (-1 without a row). */
static int64_t
db_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int64_t
pragma_user_version(const char *path)
{
    return db_int(path, "PRAGMA user_version");
}

/* History entries copied out of the callback. */
struct hist_item {
    int type;
    char *id;
    int64_t version;
    int64_t updated_us;
    store_method method;
    char *body;
    size_t len;
};

struct hist_list {
    struct hist_item items[64];
    int n;
    int stop_after; /* >0: ask to stop after this many */
};

static int
collect(void *ctx, const store_hist_entry *e)
{
    struct hist_list *l = ctx;
    struct hist_item *it;

    assert_true(l->n < 64);
    it = &l->items[l->n++];
    it->type = e->type;
    it->id = fhir_xstrdup(e->id);
    it->version = e->version;
    it->updated_us = e->updated_us;
    it->method = e->method;
    it->body = e->body != NULL ? fhir_xstrndup(e->body, e->len) : NULL;
    it->len = e->len;
    return l->stop_after > 0 && l->n >= l->stop_after;
}

static void
hist_list_clear(struct hist_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->items[i].id);
        free(l->items[i].body);
    }
    memset(l, 0, sizeof(*l));
}

static void
history(struct hist_list *out, struct fixture *f, int type, const char *id,
        int64_t since_us, int64_t before_us, int count)
{
    store_hist_query q;
    fhir_err err = FHIR_ERR_INIT;

    q.type = type;
    q.id = id;
    q.since_us = since_us;
    q.before_us = before_us;
    q.count = count;
    if (store_history(f->db, &q, collect, out, &err) != 0) {
        fail_msg("history: %s", err.diag);
    }
}

/* ---- opening -------------------------------------------------------- */

static void
store_env__open_creates_schema(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    assert_int_equal(store_env_is_empty(f->env), 1);
    assert_int_equal(pragma_user_version(f->path), 5); /* schema version */
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM sqlite_master WHERE type = "
                           "'table' AND name IN ('rtype', 'resource', "
                           "'history')",
                           -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 3);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void
store_env__reopen_keeps_data(void **state)
{
    struct fixture *f = *state;
    store_put_result first;
    store_put_result second;
    store_res res;
    fhir_err err = FHIR_ERR_INIT;

    put_task(f, "t1", "requested", &first);
    close_env(f);
    assert_int_equal(open_env(f), 0);
    assert_int_equal(pragma_user_version(f->path), 5);
    assert_int_equal(store_env_is_empty(f->env), 0);
    assert_int_equal(store_read(&res, f->db, f->task, "t1", 0, &err), 0);
    assert_int_equal(res.version, 1);
    assert_int_equal(res.updated_us, first.updated_us);
    assert_string_equal(res.body, first.body);
    store_res_clear(&res);
    /* Versions and lastUpdated continue from what the file holds. */
    put_task(f, "t1", "accepted", &second);
    assert_int_equal(second.version, 2);
    assert_true(second.updated_us > first.updated_us);
    free(first.body);
    free(second.body);
}

static void
assert_open_fails(const char *path, fhir_issue issue)
{
    store_opts opts = STORE_OPTS_INIT;
    fhir_err err = FHIR_ERR_INIT;
    int sentinel = 0;
    store_env *env = (store_env *)&sentinel;

    opts.path = path;
    assert_int_equal(store_env_open(&env, &opts, &err), -1);
    assert_null(env);
    assert_int_equal(err.issue, issue);
    assert_true(err.diag[0] != '\0');
}

static void
store_env__open_directory_is_no_store(void **state)
{
    struct fixture *f = *state;
    char sub[192];

    snprintf(sub, sizeof(sub), "%s/subdir", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_open_fails(sub, FHIR_ISSUE_NO_STORE);
}

static void
store_env__open_missing_directory_is_no_store(void **state)
{
    struct fixture *f = *state;
    char p[192];

    snprintf(p, sizeof(p), "%s/no/such/dir/fhir.db", f->dir);
    assert_open_fails(p, FHIR_ISSUE_NO_STORE);
}

static void
store_env__open_junk_file_is_no_store(void **state)
{
    struct fixture *f = *state;
    char p[192];
    char junk[4096];
    FILE *fp;

    snprintf(p, sizeof(p), "%s/junk.db", f->dir);
    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (char)('!' + i % 90);
    }
    fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
    assert_int_equal(fclose(fp), 0);
    assert_open_fails(p, FHIR_ISSUE_NO_STORE);
}

static void
store_env__open_newer_schema_is_not_supported(void **state)
{
    struct fixture *f = *state;
    char p[192];
    sqlite3 *db = NULL;

    snprintf(p, sizeof(p), "%s/newer.db", f->dir);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE future(x); "
                                  "PRAGMA user_version = 99;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_open_fails(p, FHIR_ISSUE_NOT_SUPPORTED);
    assert_int_equal(pragma_user_version(p), 99);
}

/* A database written by schema 1 (before search) is migrated forward on
 * open, keeps its data and asks for a reindex. */
static void
store_env__migrates_schema_1(void **state)
{
    struct fixture *f = *state;
    char p[192];
    sqlite3 *db = NULL;
    store_env *env = NULL;
    store_opts o = STORE_OPTS_INIT;
    fhir_err err = FHIR_ERR_INIT;
    char *v = NULL;

    snprintf(p, sizeof(p), "%s/v1.db", f->dir);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(
            db,
            "CREATE TABLE rtype(code INTEGER PRIMARY KEY, name TEXT NOT NULL "
            "UNIQUE);"
            "CREATE TABLE resource(rid INTEGER PRIMARY KEY, type INTEGER NOT "
            "NULL, id TEXT NOT NULL, version INTEGER NOT NULL, hid INTEGER "
            "NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, UNIQUE(type, id));"
            "CREATE TABLE history(hid INTEGER PRIMARY KEY, rid INTEGER NOT "
            "NULL, type INTEGER NOT NULL, version INTEGER NOT NULL, method "
            "INTEGER NOT NULL, body BLOB, UNIQUE(rid, version));"
            "CREATE INDEX history_type ON history(type, hid);"
            "INSERT INTO rtype(code, name) VALUES (7, 'Task');"
            "INSERT INTO resource VALUES (1, 7, 'old', 1, 1000, 0);"
            "INSERT INTO history VALUES (1000, 1, 7, 1, 1, "
            "'{\"resourceType\":\"Task\",\"id\":\"old\"}');"
            "PRAGMA user_version = 1;",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    o.path = p;
    assert_int_equal(store_env_open(&env, &o, &err), 0);
    assert_int_equal(pragma_user_version(p), 5);
    assert_int_equal(store_setting_get(&v, env, "reindex", &err), 0);
    assert_non_null(v);
    free(v);
    store_db *rdb = NULL;
    store_res res;
    assert_int_equal(store_db_open(&rdb, env, &err), 0);
    assert_int_equal(store_read(&res, rdb, f->task, "old", 0, &err), 0);
    assert_int_equal(res.version, 1);
    store_res_clear(&res);
    store_db_close(rdb);
    store_env_close(env);
}

/* store_reindex's rows for any body: a token and a reference of the same
 * parameters whatever the type, as a parameter shared by types gives. */
static void
shared_rows(void *ctx, int type, const char *body, size_t len, fhir_rows *out,
            fhir_arena *a)
{
    (void)ctx;
    (void)type;
    (void)body;
    (void)len;
    out->rows = fhir_arena_alloc(a, 2 * sizeof(fhir_row));
    memset(out->rows, 0, 2 * sizeof(fhir_row));
    out->rows[0].kind = FHIR_ROW_TOKEN;
    out->rows[0].param = 1;
    out->rows[0].sys = "http://g";
    out->rows[0].code = "female";
    out->rows[1].kind = FHIR_ROW_REF;
    out->rows[1].param = 2;
    out->rows[1].code = "Practitioner/p1";
    out->n = out->cap = 2;
}

/* Schema 2 counted without the resource type. Opening it replaces those
 * counts by per-type ones and asks for a reindex, which fills them: a
 * parameter of two types is counted for each type on its own. */
static void
store_env__migrates_schema_2_counts_per_type(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db = NULL;
    store_put_result r;
    fhir_err err = FHIR_ERR_INIT;
    char *v = NULL;
    char sql[160];
    int64_t n = 0;

    put_task(f, "t1", "requested", NULL);
    assert_int_equal(put_tx(&r, f, f->patient, "p1", patient_new(), 0, 0, &err),
                     0);
    free(r.body);
    close_env(f);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(
            db,
            "DROP TABLE cnt_token; DROP TABLE cnt_ref; DROP TABLE cnt_param;"
            "CREATE TABLE cnt_token(param INTEGER NOT NULL, sys INTEGER NOT "
            "NULL, code TEXT NOT NULL, n INTEGER NOT NULL, "
            "PRIMARY KEY(param, code, sys)) WITHOUT ROWID;"
            "CREATE TABLE cnt_ref(param INTEGER NOT NULL, ref TEXT NOT NULL, "
            "n INTEGER NOT NULL, PRIMARY KEY(param, ref)) WITHOUT ROWID;"
            "CREATE TABLE cnt_param(param INTEGER PRIMARY KEY, n INTEGER NOT "
            "NULL);"
            "INSERT INTO cnt_token VALUES (1, 1, 'female', 2);"
            "INSERT INTO cnt_ref VALUES (2, 'Practitioner/p1', 2);"
            "INSERT INTO cnt_param VALUES (1, 2), (2, 2);"
            "DELETE FROM setting WHERE key = 'reindex';"
            "PRAGMA user_version = 2;",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(open_env(f), 0);
    assert_int_equal(pragma_user_version(f->path), 5);
    assert_int_equal(db_int(f->path, "SELECT count(*) FROM cnt_token"), 0);
    assert_int_equal(store_setting_get(&v, f->env, "reindex", &err), 0);
    assert_non_null(v);
    free(v);
    assert_int_equal(store_reindex(f->env, shared_rows, NULL, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(store_setting_get(&v, f->env, "reindex", &err), 0);
    assert_null(v);
    int types[] = {f->task, f->patient};
    for (int i = 0; i < 2; i++) {
        int code = store_type_code(f->env, types[i]);
        snprintf(sql, sizeof(sql),
                 "SELECT n FROM cnt_token WHERE type = %d AND param = 1 AND "
                 "code = 'female'",
                 code);
        assert_int_equal(db_int(f->path, sql), 1);
        snprintf(sql, sizeof(sql),
                 "SELECT n FROM cnt_ref WHERE type = %d AND param = 2 AND "
                 "ref = 'Practitioner/p1'",
                 code);
        assert_int_equal(db_int(f->path, sql), 1);
        snprintf(sql, sizeof(sql),
                 "SELECT sum(n) FROM cnt_param WHERE type = %d", code);
        assert_int_equal(db_int(f->path, sql), 2);
    }
}

static void
store_env__is_empty_counts_deleted(void **state)
{
    struct fixture *f = *state;
    store_del_result d;
    fhir_err err = FHIR_ERR_INIT;

    put_task(f, "t1", "requested", NULL);
    assert_int_equal(store_env_is_empty(f->env), 0);
    assert_int_equal(del_tx(&d, f, f->task, "t1", 0, &err), 0);
    assert_int_equal(store_env_is_empty(f->env), 0);
}

static void
store_env__check_ok(void **state)
{
    struct fixture *f = *state;
    fhir_err err = FHIR_ERR_INIT;

    assert_int_equal(store_env_check(f->env, &err), 0);
    put_task(f, "t1", "requested", NULL);
    assert_int_equal(store_env_check(f->env, &err), 0);
    assert_int_equal(err.issue, FHIR_ISSUE_NONE);
}

static void
store_env__close_accepts_null(void **state)
{
    (void)state;
    store_env_close(NULL);
    store_db_close(NULL);
    store_tx_rollback(NULL);
}

/* ---- writes --------------------------------------------------------- */

/* A first version written beforehand (store_put.body) is stored with its
 * lastUpdated set in place; for a later version the body is not used and
 * the resource is stamped and written as usual. */
static void
store_tx__put_prewritten_body(void **state)
{
    struct fixture *f = *state;
    store_put_result r;
    store_res res;
    fhir_err err = FHIR_ERR_INIT;
    store_tx *tx = NULL;
    char when[40];
    cJSON *t = task_new("requested");
    fhir_resource_stamp(t, "pre1", 1, 0);
    fhir_buf b = FHIR_BUF_INIT;
    fhir_json_write(&b, t, 0);
    store_put in = {f->task,           "pre1", t,      0,    1,
                    STORE_METHOD_POST, NULL,   b.data, b.len};

    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(store_tx_put(&r, tx, &in, &err), 0);
    assert_int_equal(store_tx_commit(tx, &err), 0);
    assert_int_equal(r.version, 1);
    fhir_instant_format(when, sizeof(when), r.updated_us);
    assert_int_equal(store_read(&res, f->db, f->task, "pre1", 0, &err), 0);
    assert_non_null(strstr(res.body, when));
    assert_null(strstr(res.body, "1970-01-01"));
    assert_int_equal(res.len, b.len);
    store_res_clear(&res);
    free(r.body);

    /* Version 2: the same body is not used (it says version 1). */
    cJSON *t2 = task_new("completed");
    store_put in2 = {f->task,          "pre1", t2,     0,    0,
                     STORE_METHOD_PUT, NULL,   b.data, b.len};
    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(store_tx_put(&r, tx, &in2, &err), 0);
    assert_int_equal(store_tx_commit(tx, &err), 0);
    assert_int_equal(r.version, 2);
    assert_int_equal(store_read(&res, f->db, f->task, "pre1", 0, &err), 0);
    assert_non_null(strstr(res.body, "\"versionId\":\"2\""));
    assert_non_null(strstr(res.body, "completed"));
    store_res_clear(&res);
    free(r.body);
    fhir_buf_clear(&b);
    cJSON_Delete(t);
    cJSON_Delete(t2);
}

static void
store_tx__put_create(void **state)
{
    struct fixture *f = *state;
    store_put_result r;
    store_res res;
    fhir_err err = FHIR_ERR_INIT;
    cJSON *t = task_new("requested");
    store_tx *tx = NULL;
    store_put in = {f->task, "t1", t, 0, 0, STORE_METHOD_PUT, NULL, NULL, 0};
    char when[40];

    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(store_tx_put(&r, tx, &in, &err), 0);
    assert_int_equal(store_tx_commit(tx, &err), 0);
    assert_int_equal(r.version, 1);
    assert_int_equal(r.created, 1);
    assert_true(r.updated_us > 0);
    assert_non_null(r.body);
    assert_int_equal(r.len, strlen(r.body));
    assert_non_null(strstr(r.body, "\"versionId\":\"1\""));
    assert_non_null(strstr(r.body, "\"id\":\"t1\""));
    fhir_instant_format(when, sizeof(when), r.updated_us);
    assert_non_null(strstr(r.body, when));
    assert_int_equal(
        strncmp(r.body, "{\"resourceType\":\"Task\",\"id\":\"t1\"",
                strlen("{\"resourceType\":\"Task\",\"id\":\"t1\"")),
        0);
    /* The caller's tree was stamped in place. */
    assert_string_equal(fhir_json_str(t, "id"), "t1");
    assert_string_equal(
        fhir_json_str(cJSON_GetObjectItemCaseSensitive(t, "meta"), "versionId"),
        "1");
    cJSON_Delete(t);

    assert_int_equal(store_read(&res, f->db, f->task, "t1", 0, &err), 0);
    assert_int_equal(res.version, 1);
    assert_int_equal(res.deleted, 0);
    assert_int_equal(res.updated_us, r.updated_us);
    assert_int_equal(res.len, r.len);
    assert_string_equal(res.body, r.body);
    store_res_clear(&res);
    assert_null(res.body);
    free(r.body);
}

static void
store_tx__put_update(void **state)
{
    struct fixture *f = *state;
    store_put_result r;
    store_res res;
    fhir_err err = FHIR_ERR_INIT;

    put_task(f, "t1", "requested", NULL);
    assert_int_equal(
        put_tx(&r, f, f->task, "t1", task_new("accepted"), 0, 0, &err), 0);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.created, 0);
    assert_non_null(strstr(r.body, "\"versionId\":\"2\""));
    assert_int_equal(store_read(&res, f->db, f->task, "t1", 0, &err), 0);
    assert_int_equal(res.version, 2);
    assert_non_null(strstr(res.body, "\"accepted\""));
    store_res_clear(&res);
    free(r.body);
}

static void
store_tx__put_replaces_client_meta(void **state)
{
    struct fixture *f = *state;
    store_put_result r;
    fhir_err err = FHIR_ERR_INIT;
    cJSON *t = task_new("requested");
    cJSON *meta = cJSON_AddObjectToObject(t, "meta");

    cJSON_AddStringToObject(meta, "versionId", "77");
    cJSON_AddStringToObject(meta, "lastUpdated", "2000-01-01T00:00:00Z");
    cJSON_AddStringToObject(t, "id", "client-id");
    assert_int_equal(put_tx(&r, f, f->task, "t1", t, 0, 0, &err), 0);
    assert_null(strstr(r.body, "\"77\"")); /* digits may occur in the time */
    assert_null(strstr(r.body, "2000-01-01"));
    assert_null(strstr(r.body, "client-id"));
    assert_non_null(strstr(r.body, "\"versionId\":\"1\""));
    free(r.body);
}

static void
store_tx__if_match_correct(void **state)
{
    struct fixture *f = *state;
    store_put_result r;
    fhir_err err = FHIR_ERR_INIT;

    put_task(f, "t1", "requested", NULL);
    put_task(f, "t1", "accepted", NULL);
    assert_int_equal(
        put_tx(&r, f, f->task, "t1", task_new("completed"), 2, 0, &err), 0);
    assert_int_equal(r.version, 3);
    assert_int_equal(r.created, 0);
    free(r.body);
}

static void
store_tx__if_match_conflict(void **state)
{
    struct fixture *f = *state;
    store_put_result r;
    store_res res;
    fhir_err err = FHIR_ERR_INIT;

    put_task(f, "t1", "requested", NULL);
    put_task(f, "t1", "accepted", NULL);
    assert_int_equal(
        put_tx(&r, f, f->task, "t1", task_new("completed"), 1, 0, &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_CONFLICT);
    assert_int_equal(err.status, 409);
    assert_null(r.body);
    assert_int_equal(store_read(&res, f->db, f->task, "t1", 0, &err), 0);
    assert_int_equal(res.version, 2);
    store_res_clear(&res);
}

static void
store_tx__if_match_missing_is_conflict(void **state)
{
    struct fixture *f = *state;
    store_put_result r;
    fhir_err err = FHIR_ERR_INIT;

    assert_int_equal(
        put_tx(&r, f, f->task, "nope", task_new("requested"), 1, 0, &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_CONFLICT);
    assert_not_found(f->db, f->task, "nope", 0);
}

static void
store_tx__create_only_twice_is_duplicate(void **state)
{
    struct fixture *f = *state;
    store_put_result r;
    store_res res;
    fhir_err err = FHIR_ERR_INIT;

    assert_int_equal(
        put_tx(&r, f, f->task, "t1", task_new("requested"), 0, 1, &err), 0);
    assert_int_equal(r.version, 1);
    assert_int_equal(r.created, 1);
    free(r.body);
    assert_int_equal(
        put_tx(&r, f, f->task, "t1", task_new("accepted"), 0, 1, &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_DUPLICATE);
    assert_int_equal(err.status, 409);
    assert_int_equal(store_read(&res, f->db, f->task, "t1", 0, &err), 0);
    assert_int_equal(res.version, 1);
    store_res_clear(&res);
}

static void
store_tx__same_id_in_two_types(void **state)
{
    struct fixture *f = *state;
    store_put_result r;
    store_res res;
    fhir_err err = FHIR_ERR_INIT;

    put_task(f, "x", "requested", NULL);
    assert_int_equal(put_tx(&r, f, f->patient, "x", patient_new(), 0, 1, &err),
                     0);
    assert_int_equal(r.version, 1);
    assert_int_equal(r.created, 1);
    free(r.body);
    assert_int_equal(store_read(&res, f->db, f->patient, "x", 0, &err), 0);
    assert_non_null(strstr(res.body, "\"resourceType\":\"Patient\""));
    store_res_clear(&res);
}

static void
store_tx__delete_then_read_is_deleted(void **state)
{
    struct fixture *f = *state;
    store_del_result d;
    store_res res;
    fhir_err err = FHIR_ERR_INIT;
    store_put_result p;

    put_task(f, "t1", "requested", &p);
    assert_int_equal(del_tx(&d, f, f->task, "t1", 0, &err), 0);
    assert_int_equal(d.version, 2);
    assert_int_equal(d.already, 0);
    assert_true(d.updated_us > p.updated_us);

    assert_int_equal(store_read(&res, f->db, f->task, "t1", 0, &err), 0);
    assert_int_equal(res.deleted, 1);
    assert_null(res.body);
    assert_int_equal(res.len, 0);
    assert_int_equal(res.version, 2);
    assert_int_equal(res.updated_us, d.updated_us);
    store_res_clear(&res);

    assert_int_equal(store_read(&res, f->db, f->task, "t1", 2, &err), 0);
    assert_int_equal(res.deleted, 1);
    assert_null(res.body);
    store_res_clear(&res);

    /* The earlier version stays readable. */
    assert_int_equal(store_read(&res, f->db, f->task, "t1", 1, &err), 0);
    assert_int_equal(res.deleted, 0);
    assert_string_equal(res.body, p.body);
    store_res_clear(&res);
    free(p.body);
}

static void
store_tx__delete_twice_is_already(void **state)
{
    struct fixture *f = *state;
    store_del_result d1;
    store_del_result d2;
    fhir_err err = FHIR_ERR_INIT;
    struct hist_list l;

    put_task(f, "t1", "requested", NULL);
    assert_int_equal(del_tx(&d1, f, f->task, "t1", 0, &err), 0);
    assert_int_equal(del_tx(&d2, f, f->task, "t1", 0, &err), 0);
    assert_int_equal(d2.already, 1);
    assert_int_equal(d2.version, d1.version);
    /* Nothing written the second time. */
    memset(&l, 0, sizeof(l));
    history(&l, f, f->task, "t1", 0, 0, 10);
    assert_int_equal(l.n, 2);
    hist_list_clear(&l);
}

static void
store_tx__delete_never_existing_is_not_found(void **state)
{
    struct fixture *f = *state;
    store_del_result d;
    fhir_err err = FHIR_ERR_INIT;

    assert_int_equal(del_tx(&d, f, f->task, "ghost", 0, &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_NOT_FOUND);
    assert_int_equal(err.status, 404);
    assert_int_equal(store_env_is_empty(f->env), 1);
}

static void
store_tx__delete_if_match(void **state)
{
    struct fixture *f = *state;
    store_del_result d;
    fhir_err err = FHIR_ERR_INIT;

    put_task(f, "t1", "requested", NULL);
    put_task(f, "t1", "accepted", NULL);
    assert_int_equal(del_tx(&d, f, f->task, "t1", 1, &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_CONFLICT);
    fhir_err_clear(&err);
    assert_int_equal(del_tx(&d, f, f->task, "t1", 2, &err), 0);
    assert_int_equal(d.version, 3);
}

static void
store_tx__update_after_delete_is_created(void **state)
{
    struct fixture *f = *state;
    store_del_result d;
    store_put_result r;
    store_res res;
    fhir_err err = FHIR_ERR_INIT;

    put_task(f, "t1", "requested", NULL);
    assert_int_equal(del_tx(&d, f, f->task, "t1", 0, &err), 0);
    assert_int_equal(
        put_tx(&r, f, f->task, "t1", task_new("accepted"), 0, 0, &err), 0);
    assert_int_equal(r.version, 3);
    assert_int_equal(r.created, 1);
    assert_true(r.updated_us > d.updated_us);
    assert_non_null(strstr(r.body, "\"versionId\":\"3\""));
    free(r.body);
    assert_int_equal(store_read(&res, f->db, f->task, "t1", 0, &err), 0);
    assert_int_equal(res.deleted, 0);
    assert_int_equal(res.version, 3);
    assert_non_null(res.body);
    store_res_clear(&res);
}

static void
store_tx__rollback_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    store_tx *tx = NULL;
    store_put_result r;
    store_res res;
    fhir_err err = FHIR_ERR_INIT;
    cJSON *t = task_new("requested");
    store_put in = {f->task, "t1", t, 0, 0, STORE_METHOD_PUT, NULL, NULL, 0};

    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(store_tx_put(&r, tx, &in, &err), 0);
    free(r.body);
    /* The transaction sees its own write... */
    assert_int_equal(store_tx_read(&res, tx, f->task, "t1", &err), 0);
    assert_int_equal(res.version, 1);
    assert_non_null(res.body);
    store_res_clear(&res);
    store_tx_rollback(tx);
    cJSON_Delete(t);
    /* ...and nobody sees it afterwards. */
    assert_not_found(f->db, f->task, "t1", 0);
    assert_int_equal(store_env_is_empty(f->env), 1);
    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(store_tx_read(&res, tx, f->task, "t1", &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_NOT_FOUND);
    store_tx_rollback(tx);
}

/* store_tx_db(): reads through the transaction see its writes, the read
 * brackets do nothing there, and a rollback takes everything back. */
static void
store_tx__view_reads_own_writes(void **state)
{
    struct fixture *f = *state;
    store_tx *tx = NULL;
    store_put_result r;
    store_res res;
    fhir_err err = FHIR_ERR_INIT;
    cJSON *t = task_new("requested");
    store_put in = {f->task, "t1", t, 0, 0, STORE_METHOD_PUT, NULL, NULL, 0};

    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(store_tx_put(&r, tx, &in, &err), 0);
    free(r.body);
    store_db *v = store_tx_db(tx);
    assert_int_equal(store_read_begin(v, &err), 0);
    assert_int_equal(store_read(&res, v, f->task, "t1", 0, &err), 0);
    assert_int_equal(res.version, 1);
    store_res_clear(&res);
    store_read_end(v); /* must not commit the write transaction */
    /* The other connections do not see it yet. */
    assert_not_found(f->db, f->task, "t1", 0);
    store_tx_rollback(tx);
    cJSON_Delete(t);
    assert_not_found(f->db, f->task, "t1", 0);
}

/* The replay table: a kept response is found within its window, not
 * before it, and not after a rollback. */
static void
store_tx__replay_keeps_responses(void **state)
{
    struct fixture *f = *state;
    store_tx *tx = NULL;
    fhir_err err = FHIR_ERR_INIT;
    char *digest = NULL, *resp = NULL;
    size_t len = 0;

    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(
        store_tx_replay_get(tx, "s|1", 0, &digest, &resp, &len, &err), 0);
    assert_null(resp);
    assert_int_equal(
        store_tx_replay_put(tx, "s|1", "d1", "{\"a\":1}", 7, 0, &err), 0);
    store_tx_rollback(tx);
    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(
        store_tx_replay_get(tx, "s|1", 0, &digest, &resp, &len, &err), 0);
    assert_int_equal(
        store_tx_replay_put(tx, "s|1", "d1", "{\"a\":1}", 7, 0, &err), 0);
    assert_int_equal(store_tx_commit(tx, &err), 0);

    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(
        store_tx_replay_get(tx, "s|1", 0, &digest, &resp, &len, &err), 1);
    assert_string_equal(digest, "d1");
    assert_int_equal(len, 7);
    assert_string_equal(resp, "{\"a\":1}");
    free(digest);
    free(resp);
    /* Older than the window: not found, and pruned by the next put. */
    int64_t later = fhir_now_us() + 1000000;
    assert_int_equal(
        store_tx_replay_get(tx, "s|1", later, &digest, &resp, &len, &err), 0);
    assert_int_equal(store_tx_replay_put(tx, "s|2", "d2", "{}", 2, later, &err),
                     0);
    assert_int_equal(
        store_tx_replay_get(tx, "s|1", 0, &digest, &resp, &len, &err), 0);
    assert_int_equal(store_tx_commit(tx, &err), 0);
}

static void
store_tx__rollback_of_update_keeps_old_version(void **state)
{
    struct fixture *f = *state;
    store_tx *tx = NULL;
    store_put_result r;
    store_del_result d;
    store_res res;
    fhir_err err = FHIR_ERR_INIT;
    cJSON *t = task_new("accepted");
    store_put in = {f->task, "t1", t, 0, 0, STORE_METHOD_PUT, NULL, NULL, 0};

    put_task(f, "t1", "requested", NULL);
    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(store_tx_put(&r, tx, &in, &err), 0);
    free(r.body);
    assert_int_equal(store_tx_delete(&d, tx, f->task, "t1", 0, &err), 0);
    assert_int_equal(d.version, 3);
    store_tx_rollback(tx);
    cJSON_Delete(t);
    assert_int_equal(store_read(&res, f->db, f->task, "t1", 0, &err), 0);
    assert_int_equal(res.version, 1);
    assert_int_equal(res.deleted, 0);
    store_res_clear(&res);
    assert_not_found(f->db, f->task, "t1", 2);
    /* The next write takes version 2 again. */
    assert_int_equal(put_task(f, "t1", "completed", NULL), 2);
}

static void
store_tx__many_writes_in_one_tx(void **state)
{
    struct fixture *f = *state;
    store_tx *tx = NULL;
    fhir_err err = FHIR_ERR_INIT;
    char id[16];

    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    for (int i = 0; i < 50; i++) {
        store_put_result r;
        cJSON *t = task_new("requested");
        store_put in = {f->task, id, t, 0, 0, STORE_METHOD_POST, NULL, NULL, 0};

        snprintf(id, sizeof(id), "t%d", i % 10);
        assert_int_equal(store_tx_put(&r, tx, &in, &err), 0);
        assert_int_equal(r.version, i / 10 + 1);
        free(r.body);
        cJSON_Delete(t);
    }
    assert_int_equal(store_tx_commit(tx, &err), 0);
    for (int i = 0; i < 10; i++) {
        store_res res;

        snprintf(id, sizeof(id), "t%d", i);
        assert_int_equal(store_read(&res, f->db, f->task, id, 0, &err), 0);
        assert_int_equal(res.version, 5);
        store_res_clear(&res);
    }
}

static void
store_tx__last_updated_strictly_increasing(void **state)
{
    struct fixture *f = *state;
    int64_t prev = 0;
    char when[40];

    for (int i = 0; i < 300; i++) {
        store_put_result r;

        put_task(f, i % 2 ? "a" : "b", "requested", &r);
        assert_true(r.updated_us > prev);
        prev = r.updated_us;
        fhir_instant_format(when, sizeof(when), r.updated_us);
        assert_non_null(strstr(r.body, when));
        free(r.body);
    }
}

/* ---- reads ---------------------------------------------------------- */

static void
store_read__by_version(void **state)
{
    struct fixture *f = *state;
    static const char *const statuses[] = {"draft", "requested", "accepted"};
    store_res res;
    fhir_err err = FHIR_ERR_INIT;
    char want[32];

    for (int i = 0; i < 3; i++) {
        put_task(f, "t1", statuses[i], NULL);
    }
    for (int v = 1; v <= 3; v++) {
        assert_int_equal(store_read(&res, f->db, f->task, "t1", v, &err), 0);
        assert_int_equal(res.version, v);
        assert_int_equal(res.deleted, 0);
        assert_non_null(strstr(res.body, statuses[v - 1]));
        snprintf(want, sizeof(want), "\"versionId\":\"%d\"", v);
        assert_non_null(strstr(res.body, want));
        store_res_clear(&res);
    }
    assert_int_equal(store_read(&res, f->db, f->task, "t1", 0, &err), 0);
    assert_int_equal(res.version, 3);
    store_res_clear(&res);
}

static void
store_read__missing_is_not_found(void **state)
{
    struct fixture *f = *state;

    assert_not_found(f->db, f->task, "nope", 0);
    assert_not_found(f->db, f->task, "nope", 1);
    put_task(f, "t1", "requested", NULL);
    assert_not_found(f->db, f->patient, "t1", 0); /* other type */
}

static void
store_read__version_missing_is_not_found(void **state)
{
    struct fixture *f = *state;

    put_task(f, "t1", "requested", NULL);
    assert_not_found(f->db, f->task, "t1", 2);
    assert_not_found(f->db, f->task, "t1", 999);
}

/* ---- history -------------------------------------------------------- */

static void
store_history__instance_newest_first(void **state)
{
    struct fixture *f = *state;
    store_put_result p1;
    store_put_result p2;
    store_put_result p4;
    store_del_result d;
    fhir_err err = FHIR_ERR_INIT;
    struct hist_list l;
    char want[32];

    assert_int_equal(
        put_tx(&p1, f, f->task, "t1", task_new("draft"), 0, 1, &err), 0);
    put_task(f, "t1", "requested", &p2);
    put_task(f, "other", "requested", NULL);
    assert_int_equal(del_tx(&d, f, f->task, "t1", 0, &err), 0);
    put_task(f, "t1", "accepted", &p4);

    memset(&l, 0, sizeof(l));
    history(&l, f, f->task, "t1", 0, 0, 100);
    assert_int_equal(l.n, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(l.items[i].version, 4 - i); /* contiguous */
        assert_int_equal(l.items[i].type, f->task);
        assert_string_equal(l.items[i].id, "t1");
        if (i > 0) {
            assert_true(l.items[i].updated_us < l.items[i - 1].updated_us);
        }
        if (l.items[i].body != NULL) {
            snprintf(want, sizeof(want), "\"versionId\":\"%d\"", 4 - i);
            assert_non_null(strstr(l.items[i].body, want));
            assert_int_equal(l.items[i].len, strlen(l.items[i].body));
        }
    }
    assert_int_equal(l.items[0].method, STORE_METHOD_PUT);
    assert_int_equal(l.items[0].updated_us, p4.updated_us);
    assert_string_equal(l.items[0].body, p4.body);
    assert_int_equal(l.items[1].method, STORE_METHOD_DELETE);
    assert_null(l.items[1].body);
    assert_int_equal(l.items[1].len, 0);
    assert_int_equal(l.items[1].updated_us, d.updated_us);
    assert_int_equal(l.items[2].method, STORE_METHOD_PUT);
    assert_string_equal(l.items[2].body, p2.body);
    assert_int_equal(l.items[3].method, STORE_METHOD_POST);
    assert_string_equal(l.items[3].body, p1.body);
    hist_list_clear(&l);
    free(p1.body);
    free(p2.body);
    free(p4.body);
}

static void
store_history__type_lists_one_type(void **state)
{
    struct fixture *f = *state;
    store_put_result r;
    fhir_err err = FHIR_ERR_INIT;
    struct hist_list l;

    put_task(f, "a", "draft", NULL);
    assert_int_equal(put_tx(&r, f, f->patient, "p", patient_new(), 0, 0, &err),
                     0);
    free(r.body);
    put_task(f, "b", "draft", NULL);
    put_task(f, "a", "requested", NULL);

    memset(&l, 0, sizeof(l));
    history(&l, f, f->task, NULL, 0, 0, 100);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0].id, "a");
    assert_int_equal(l.items[0].version, 2);
    assert_string_equal(l.items[1].id, "b");
    assert_string_equal(l.items[2].id, "a");
    assert_int_equal(l.items[2].version, 1);
    for (int i = 0; i < l.n; i++) {
        assert_int_equal(l.items[i].type, f->task);
    }
    hist_list_clear(&l);

    history(&l, f, f->patient, NULL, 0, 0, 100);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].id, "p");
    assert_int_equal(l.items[0].type, f->patient);
    hist_list_clear(&l);

    history(&l, f, fhir_type_find("Practitioner"), NULL, 0, 0, 100);
    assert_int_equal(l.n, 0);
}

static void
store_history__system_spans_types(void **state)
{
    struct fixture *f = *state;
    store_put_result r;
    store_del_result d;
    fhir_err err = FHIR_ERR_INIT;
    struct hist_list l;

    put_task(f, "a", "draft", NULL);
    assert_int_equal(put_tx(&r, f, f->patient, "p", patient_new(), 0, 0, &err),
                     0);
    free(r.body);
    assert_int_equal(del_tx(&d, f, f->task, "a", 0, &err), 0);

    memset(&l, 0, sizeof(l));
    history(&l, f, -1, NULL, 0, 0, 100);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.items[0].type, f->task);
    assert_int_equal(l.items[0].method, STORE_METHOD_DELETE);
    assert_int_equal(l.items[1].type, f->patient);
    assert_string_equal(l.items[1].id, "p");
    assert_non_null(strstr(l.items[1].body, "\"Patient\""));
    assert_int_equal(l.items[2].type, f->task);
    assert_int_equal(l.items[2].version, 1);
    assert_true(l.items[0].updated_us > l.items[1].updated_us);
    assert_true(l.items[1].updated_us > l.items[2].updated_us);
    hist_list_clear(&l);
}

static void
store_history__since_and_before(void **state)
{
    struct fixture *f = *state;
    store_put_result r[4];
    struct hist_list l;

    for (int i = 0; i < 4; i++) {
        put_task(f, "t1", "requested", &r[i]);
        free(r[i].body);
    }
    memset(&l, 0, sizeof(l));
    /* since is inclusive */
    history(&l, f, f->task, "t1", r[1].updated_us, 0, 100);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.items[0].version, 4);
    assert_int_equal(l.items[2].version, 2);
    hist_list_clear(&l);
    /* before is exclusive */
    history(&l, f, f->task, "t1", 0, r[2].updated_us, 100);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.items[0].version, 2);
    assert_int_equal(l.items[1].version, 1);
    hist_list_clear(&l);
    /* both, on the type and system scopes too */
    history(&l, f, f->task, NULL, r[1].updated_us, r[3].updated_us, 100);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.items[0].version, 3);
    assert_int_equal(l.items[1].version, 2);
    hist_list_clear(&l);
    history(&l, f, -1, NULL, r[1].updated_us + 1, r[3].updated_us, 100);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.items[0].version, 3);
    hist_list_clear(&l);
    history(&l, f, -1, NULL, r[3].updated_us + 1, 0, 100);
    assert_int_equal(l.n, 0);
}

static void
store_history__count_limits(void **state)
{
    struct fixture *f = *state;
    struct hist_list l;

    for (int i = 0; i < 5; i++) {
        put_task(f, i % 2 ? "a" : "b", "requested", NULL);
    }
    memset(&l, 0, sizeof(l));
    history(&l, f, f->task, "b", 0, 0, 2);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.items[0].version, 3);
    assert_int_equal(l.items[1].version, 2);
    hist_list_clear(&l);
    history(&l, f, f->task, NULL, 0, 0, 4);
    assert_int_equal(l.n, 4);
    hist_list_clear(&l);
    history(&l, f, -1, NULL, 0, 0, 1);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].id, "b");
    assert_int_equal(l.items[0].version, 3);
    hist_list_clear(&l);
}

static void
store_history__paging_with_before(void **state)
{
    struct fixture *f = *state;
    struct hist_list l;
    int64_t cursor = 0;
    int seen = 0;

    for (int i = 0; i < 7; i++) {
        put_task(f, "t1", "requested", NULL);
    }
    memset(&l, 0, sizeof(l));
    for (;;) {
        history(&l, f, f->task, "t1", 0, cursor, 3);
        if (l.n == 0) {
            break;
        }
        for (int i = 0; i < l.n; i++) {
            assert_int_equal(l.items[i].version, 7 - seen);
            seen++;
        }
        cursor = l.items[l.n - 1].updated_us;
        hist_list_clear(&l);
    }
    assert_int_equal(seen, 7);
}

static void
store_history__unknown_instance_is_not_found(void **state)
{
    struct fixture *f = *state;
    store_hist_query q = {f->task, "ghost", 0, 0, 10};
    fhir_err err = FHIR_ERR_INIT;
    struct hist_list l;

    memset(&l, 0, sizeof(l));
    put_task(f, "t1", "requested", NULL);
    assert_int_equal(store_history(f->db, &q, collect, &l, &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_NOT_FOUND);
    assert_int_equal(l.n, 0);
    /* Same id, other type. */
    fhir_err_clear(&err);
    q.type = f->patient;
    q.id = "t1";
    assert_int_equal(store_history(f->db, &q, collect, &l, &err), -1);
    assert_int_equal(err.issue, FHIR_ISSUE_NOT_FOUND);
}

static void
store_history__callback_stops(void **state)
{
    struct fixture *f = *state;
    struct hist_list l;

    for (int i = 0; i < 5; i++) {
        put_task(f, "t1", "requested", NULL);
    }
    memset(&l, 0, sizeof(l));
    l.stop_after = 2;
    history(&l, f, f->task, "t1", 0, 0, 100);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.items[1].version, 4);
    hist_list_clear(&l);
    l.stop_after = 1;
    history(&l, f, -1, NULL, 0, 0, 100);
    assert_int_equal(l.n, 1);
    hist_list_clear(&l);
    /* The statement was reset: a new listing starts from the top. */
    history(&l, f, -1, NULL, 0, 0, 100);
    assert_int_equal(l.n, 5);
    hist_list_clear(&l);
}

/* ---- group commit ------------------------------------------------------ */

/* One member of a group: a Task with one token row of system `sys`,
 * committed or rolled back. */
struct member {
    store_env *env;
    int type;
    const char *id, *sys;
    int commit;
    int rc;
};

static int
ignore_row(void *ctx, const store_row *row)
{
    (void)ctx;
    (void)row;
    return 0;
}

/* A query in the transaction's view: it first writes the counts pending
 * so far - the earlier members' too - inside this member's savepoint. */
static int
view_query(store_tx *tx, fhir_err *err)
{
    fhir_sql q = FHIR_SQL_INIT;
    fhir_buf_puts(&q.text, "SELECT n FROM cnt_type");
    int rc = store_query(store_tx_db(tx), &q, ignore_row, NULL, err);
    fhir_sql_clear(&q);
    return rc;
}

static int
member_put(store_tx *tx, int type, const char *id, const char *sys,
           fhir_err *err)
{
    fhir_row row;
    fhir_rows rows;
    store_put_result r;
    cJSON *t = task_new("requested");
    store_put in = {type, id, t, 0, 1, STORE_METHOD_POST, &rows, NULL, 0};

    memset(&row, 0, sizeof(row));
    row.kind = FHIR_ROW_TOKEN;
    row.param = 7;
    row.sys = sys;
    row.code = "c";
    rows.rows = &row;
    rows.n = rows.cap = 1;
    int rc = store_tx_put(&r, tx, &in, err);
    if (rc == 0) {
        free(r.body);
    }
    cJSON_Delete(t);
    return rc;
}

/* A parameter whose token values are not counted: its index rows are
 * written and searched as ever, its cnt_token rows never; the count of
 * resources having it is kept. */
static void
counts__uncounted_param_keeps_rows_only(void **state)
{
    struct fixture *f = *state;
    store_tx *tx = NULL;
    fhir_err err = FHIR_ERR_INIT;

    store_param_uncounted(f->env, 7);
    store_param_uncounted(f->env, -1);     /* ignored */
    store_param_uncounted(f->env, 100000); /* ignored */
    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(member_put(tx, f->task, "u1", "http://sys/u", &err), 0);
    assert_int_equal(member_put(tx, f->task, "u2", "http://sys/u", &err), 0);
    assert_int_equal(store_tx_commit(tx, &err), 0);
    assert_int_equal(db_int(f->path, "SELECT count(*) FROM idx_token "
                                     "WHERE param = 7"),
                     2);
    assert_int_equal(db_int(f->path, "SELECT count(*) FROM cnt_token "
                                     "WHERE param = 7"),
                     0);
    assert_int_equal(db_int(f->path, "SELECT sum(n) FROM cnt_param "
                                     "WHERE param = 7"),
                     2);
    assert_int_equal(db_int(f->path, "SELECT sum(n) FROM cnt_type"), 2);
}

static void *
member_main(void *p)
{
    struct member *m = p;
    store_tx *tx = NULL;
    fhir_err err = FHIR_ERR_INIT;

    m->rc = store_tx_begin(&tx, m->env, &err);
    if (m->rc == 0) {
        m->rc = member_put(tx, m->type, m->id, m->sys, &err);
    }
    if (m->rc == 0 && !m->commit) {
        m->rc = view_query(tx, &err);
    }
    if (m->rc == 0 && m->commit) {
        m->rc = store_tx_commit(tx, &err);
    } else if (tx != NULL) {
        store_tx_rollback(tx);
    }
    return NULL;
}

/* The rows of system `uri` in idx_token whose sysdict entry names it. */
static int64_t
sys_rows(struct fixture *f, const char *uri)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM idx_token t JOIN sysdict s ON s.id = t.sys "
             "WHERE s.uri = '%s'",
             uri);
    return db_int(f->path, sql);
}

/* Writers queued behind an open transaction join it: one COMMIT for all;
 * the member that rolls back loses only its own writes (rows, new token
 * system), and the cache of token systems forgets only its system. */
static void group_scenario(struct fixture *f, int64_t want_commits);

static void
group__queued_writers_share_one_commit(void **state)
{
    group_scenario(*state, 1);
}

/* --no-group-commit: the same writers commit one by one (g0 and gB; gA
 * rolls back), with the same result. */
static void
group__off_commits_each_alone(void **state)
{
    struct fixture *f = *state;
    f->env->opts.no_group = 1;
    group_scenario(f, 2);
}

static void
group_scenario(struct fixture *f, int64_t want_commits)
{
    store_tx *tx = NULL;
    fhir_err err = FHIR_ERR_INIT;
    struct member m[2] = {
        {f->env, f->task, "gA", "http://sys/rolled-back", 0, -1},
        {f->env, f->task, "gB", "http://sys/kept", 1, -1}};
    pthread_t th[2];

    /* However slow the machine (valgrind), the group waits for both. */
    f->env->g_max_age_us = 60 * 1000000;
    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(member_put(tx, f->task, "g0", "http://sys/first", &err),
                     0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, member_main, &m[i]), 0);
    }
    for (int i = 0; i < 2000 && atomic_load(&f->env->g_queued) < 2; i++) {
        usleep(1000);
    }
    assert_int_equal(atomic_load(&f->env->g_queued), 2);
    int64_t commits = f->env->g_commits;
    assert_int_equal(store_tx_commit(tx, &err), 0); /* waits for the group */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
    }
    assert_int_equal(m[0].rc, 0); /* its put worked; it rolled back */
    assert_int_equal(m[1].rc, 0);
    assert_int_equal(f->env->g_commits, commits + want_commits);

    store_res res;
    assert_int_equal(store_read(&res, f->db, f->task, "g0", 0, &err), 0);
    store_res_clear(&res);
    assert_int_equal(store_read(&res, f->db, f->task, "gB", 0, &err), 0);
    store_res_clear(&res);
    assert_not_found(f->db, f->task, "gA", 0);
    assert_int_equal(sys_rows(f, "http://sys/first"), 1);
    assert_int_equal(sys_rows(f, "http://sys/kept"), 1);
    assert_int_equal(sys_rows(f, "http://sys/rolled-back"), 0);
    /* The counts: g0 and gB, whatever the rolled back member flushed. */
    assert_int_equal(db_int(f->path, "SELECT sum(n) FROM cnt_type"), 2);
    assert_int_equal(db_int(f->path, "SELECT sum(n) FROM cnt_token"), 2);

    /* The rolled back system is created anew, the kept one reused. */
    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(
        member_put(tx, f->task, "gC", "http://sys/rolled-back", &err), 0);
    assert_int_equal(member_put(tx, f->task, "gD", "http://sys/kept", &err), 0);
    assert_int_equal(store_tx_commit(tx, &err), 0);
    assert_int_equal(sys_rows(f, "http://sys/rolled-back"), 1);
    assert_int_equal(sys_rows(f, "http://sys/kept"), 2);
    assert_int_equal(db_int(f->path, "SELECT count(*) FROM sysdict WHERE uri "
                                     "LIKE 'http://sys/%'"),
                     3);
}

/* Many concurrent writers: every acknowledged write is there, fewer
 * commits than writes. */
struct many {
    store_env *env;
    int type;
    int base;
    int ok;
};

static void *
many_main(void *p)
{
    struct many *m = p;
    for (int i = 0; i < 50; i++) {
        char id[32];
        store_tx *tx = NULL;
        fhir_err err = FHIR_ERR_INIT;
        snprintf(id, sizeof(id), "m%d-%d", m->base, i);
        if (store_tx_begin(&tx, m->env, &err) != 0) {
            continue;
        }
        if (member_put(tx, m->type, id, "http://sys/many", &err) != 0) {
            store_tx_rollback(tx);
        } else if (store_tx_commit(tx, &err) == 0) {
            m->ok++;
        }
    }
    return NULL;
}

static void
group__concurrent_writers_all_durable(void **state)
{
    struct fixture *f = *state;
    struct many m[8];
    pthread_t th[8];
    int64_t commits = f->env->g_commits;

    for (int i = 0; i < 8; i++) {
        m[i] = (struct many){f->env, f->task, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, many_main, &m[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        ok += m[i].ok;
    }
    assert_int_equal(ok, 400);
    assert_int_equal(db_int(f->path, "SELECT count(*) FROM resource"), 400);
    assert_int_equal(sys_rows(f, "http://sys/many"), 400);
    assert_int_equal(db_int(f->path, "SELECT sum(n) FROM cnt_token"), 400);
    assert_true(f->env->g_commits - commits <= 400);
}

/* ---- checkpoints --------------------------------------------------- */

/* One thread committing as fast as it can: the background checkpoint
 * copies beside the commits and never reaches the WAL's end, so without
 * its pass under the writer lock (store/checkpoint.c) the WAL grows with
 * every commit (to about 190 MB here); with it, and the writer waiting
 * at 16000 pages (64 MB, store__ckpt_throttle), the WAL stays under 64 MB
 * and one commit. */
static void
checkpoint__wal_bounded_under_a_stream_of_commits(void **state)
{
    struct fixture *f = *state;
    enum { COMMITS = 2500, TEXT = 48 * 1024 };
    char *text = malloc(TEXT + 1);
    char wal[160];
    off_t most = 0;
    memset(text, 'x', TEXT);
    text[TEXT] = '\0';
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    for (int i = 0; i < COMMITS; i++) {
        store_put_result r;
        fhir_err err = FHIR_ERR_INIT;
        char id[32];
        cJSON *t = task_new("requested");
        cJSON_AddStringToObject(t, "description", text);
        snprintf(id, sizeof(id), "wal-%d", i);
        if (put_tx(&r, f, f->task, id, t, 0, 0, &err) != 0) {
            fail_msg("put Task/%s: %s", id, err.diag);
        }
        free(r.body);
        struct stat st;
        if (stat(wal, &st) == 0 && st.st_size > most) {
            most = st.st_size;
        }
    }
    free(text);
    assert_int_equal(db_int(f->path, "SELECT count(*) FROM resource"), COMMITS);
    print_message("the WAL peaked at %lld MB\n", (long long)(most >> 20));
    if (most > (off_t)66 << 20) {
        fail_msg("the WAL reached %lld bytes", (long long)most);
    }
}

/* ---- readers on other threads ---------------------------------------- */

struct reader {
    store_env *env;
    int type;
    const char *id;
    int rc;
    fhir_issue issue;
    int64_t version;
    int has_body;
};

static void *
reader_main(void *p)
{
    struct reader *r = p;
    store_db *db = NULL;
    store_res res;
    fhir_err err = FHIR_ERR_INIT;

    r->rc = store_db_open(&db, r->env, &err);
    if (r->rc == 0) {
        r->rc = store_read(&res, db, r->type, r->id, 0, &err);
        r->version = res.version;
        r->has_body = res.body != NULL;
        store_res_clear(&res);
    }
    r->issue = err.issue;
    store_db_close(db);
    return NULL;
}

static void
read_in_thread(struct reader *r)
{
    pthread_t th;

    assert_int_equal(pthread_create(&th, NULL, reader_main, r), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
}

static void
store_db__other_thread_reads_committed(void **state)
{
    struct fixture *f = *state;
    struct reader r = {f->env, f->task, "t1", 0, FHIR_ISSUE_NONE, 0, 0};

    put_task(f, "t1", "requested", NULL);
    put_task(f, "t1", "accepted", NULL);
    read_in_thread(&r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.has_body, 1);
}

static void
store_db__uncommitted_is_invisible(void **state)
{
    struct fixture *f = *state;
    struct reader r = {f->env, f->task, "t1", 0, FHIR_ISSUE_NONE, 0, 0};
    store_tx *tx = NULL;
    store_put_result pr;
    fhir_err err = FHIR_ERR_INIT;
    cJSON *t = task_new("requested");
    store_put in = {f->task, "t1", t, 0, 0, STORE_METHOD_PUT, NULL, NULL, 0};

    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(store_tx_put(&pr, tx, &in, &err), 0);
    free(pr.body);
    read_in_thread(&r);
    assert_int_equal(r.rc, -1);
    assert_int_equal(r.issue, FHIR_ISSUE_NOT_FOUND);
    assert_not_found(f->db, f->task, "t1", 0); /* this thread's reader too */
    assert_int_equal(store_tx_commit(tx, &err), 0);
    cJSON_Delete(t);

    read_in_thread(&r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.version, 1);
    assert_int_equal(r.has_body, 1);
}

static void
store_db__reader_keeps_old_version_during_update(void **state)
{
    struct fixture *f = *state;
    struct reader r = {f->env, f->task, "t1", 0, FHIR_ISSUE_NONE, 0, 0};
    store_tx *tx = NULL;
    store_del_result d;
    fhir_err err = FHIR_ERR_INIT;

    put_task(f, "t1", "requested", NULL);
    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(store_tx_delete(&d, tx, f->task, "t1", 0, &err), 0);
    read_in_thread(&r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.version, 1);
    assert_int_equal(r.has_body, 1);
    assert_int_equal(store_tx_commit(tx, &err), 0);
    read_in_thread(&r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.has_body, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(counts__uncounted_param_keeps_rows_only),
        T(store_env__open_creates_schema),
        T(store_env__reopen_keeps_data),
        T(store_env__open_directory_is_no_store),
        T(store_env__open_missing_directory_is_no_store),
        T(store_env__open_junk_file_is_no_store),
        T(store_env__open_newer_schema_is_not_supported),
        T(store_env__migrates_schema_1),
        T(store_env__migrates_schema_2_counts_per_type),
        T(store_env__is_empty_counts_deleted),
        T(store_env__check_ok),
        T(store_env__close_accepts_null),
        T(store_tx__put_create),
        T(store_tx__put_prewritten_body),
        T(store_tx__put_update),
        T(store_tx__put_replaces_client_meta),
        T(store_tx__if_match_correct),
        T(store_tx__if_match_conflict),
        T(store_tx__if_match_missing_is_conflict),
        T(store_tx__create_only_twice_is_duplicate),
        T(store_tx__same_id_in_two_types),
        T(store_tx__delete_then_read_is_deleted),
        T(store_tx__delete_twice_is_already),
        T(store_tx__delete_never_existing_is_not_found),
        T(store_tx__delete_if_match),
        T(store_tx__update_after_delete_is_created),
        T(store_tx__rollback_leaves_nothing),
        T(store_tx__view_reads_own_writes),
        T(store_tx__replay_keeps_responses),
        T(store_tx__rollback_of_update_keeps_old_version),
        T(store_tx__many_writes_in_one_tx),
        T(store_tx__last_updated_strictly_increasing),
        T(store_read__by_version),
        T(store_read__missing_is_not_found),
        T(store_read__version_missing_is_not_found),
        T(store_history__instance_newest_first),
        T(store_history__type_lists_one_type),
        T(store_history__system_spans_types),
        T(store_history__since_and_before),
        T(store_history__count_limits),
        T(store_history__paging_with_before),
        T(store_history__unknown_instance_is_not_found),
        T(store_history__callback_stops),
        T(group__queued_writers_share_one_commit),
        T(group__off_commits_each_alone),
        T(group__concurrent_writers_all_durable),
        T(checkpoint__wal_bounded_under_a_stream_of_commits),
        T(store_db__other_thread_reads_committed),
        T(store_db__uncommitted_is_invisible),
        T(store_db__reader_keeps_old_version_during_update),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
