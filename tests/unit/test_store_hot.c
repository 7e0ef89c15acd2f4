/* tests/unit/test_store_hot.c - the store's hot index: in-memory value
 * sets built from the index tables on first need and kept in step with
 * every commit.
 *
 * Each case writes resources with hand-made index rows (parameter 1 a
 * token "status", 2 a reference "owner", 3 a date "authored", 4 a token
 * with very many values), loads the sets, writes more, and compares
 * every set with what the rows say: creates, updates that move a value,
 * deletes, rolled back transactions (which must leave no trace, not even
 * a token system), a set large enough to turn from array into bitset,
 * and a parameter whose values outgrow the limit and is dropped.
 */
#include "store/store.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { P_STATUS = 1, P_OWNER = 2, P_AUTHORED = 3, P_MANY = 4 };

struct fixture {
    char dir[64], path[128];
    store_env *env;
    int task;
};

static int
setup(void **state)
{
    struct fixture *f = fhir_xcalloc(1, sizeof(*f));
    store_opts o = STORE_OPTS_INIT;
    fhir_err err = FHIR_ERR_INIT;
    snprintf(f->dir, sizeof(f->dir), "/tmp/fhir-test-hot-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/h.db", f->dir);
    o.path = f->path;
    o.synchronous_full = 0;
    if (store_env_open(&f->env, &o, &err) != 0) {
        return -1;
    }
    f->task = fhir_type_find("Task");
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char p[256];
    store_env_close(f->env);
    const char *const sfx[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* What one Task's rows say (NULL / 0: no such row). */
struct task {
    const char *id;
    const char *sys, *status;
    const char *owner;
    int64_t lo, hi;
};

static void
rows_of(fhir_rows *rows, fhir_row *buf, const struct task *t)
{
    size_t n = 0;
    if (t->status != NULL) {
        buf[n++] = (fhir_row){FHIR_ROW_TOKEN,
                              P_STATUS,
                              t->sys ? t->sys : "",
                              t->status,
                              NULL,
                              0,
                              0};
    }
    if (t->owner != NULL) {
        buf[n++] =
            (fhir_row){FHIR_ROW_REF, P_OWNER, NULL, t->owner, NULL, 0, 0};
    }
    if (t->hi > 0) {
        buf[n++] = (fhir_row){FHIR_ROW_DATE, P_AUTHORED, NULL, NULL,
                              NULL,          t->lo,      t->hi};
        buf[n++] = (fhir_row){FHIR_ROW_DATE, P_AUTHORED, NULL,       NULL,
                              NULL,          t->lo + 10, t->hi + 100};
    }
    rows->rows = buf;
    rows->n = rows->cap = n;
}

/* Puts the tasks in one transaction; commits or rolls back. */
static void
put_all(struct fixture *f, const struct task *t, size_t n, int commit)
{
    store_tx *tx = NULL;
    fhir_err err = FHIR_ERR_INIT;
    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    for (size_t i = 0; i < n; i++) {
        fhir_row buf[8];
        fhir_rows rows;
        store_put put = {0};
        store_put_result r;
        cJSON *res = cJSON_CreateObject();
        cJSON_AddStringToObject(res, "resourceType", "Task");
        rows_of(&rows, buf, &t[i]);
        put.type = f->task;
        put.id = t[i].id;
        put.resource = res;
        put.method = STORE_METHOD_PUT;
        put.rows = &rows;
        assert_int_equal(store_tx_put(&r, tx, &put, &err), 0);
        free(r.body);
        cJSON_Delete(res);
    }
    if (commit) {
        assert_int_equal(store_tx_commit(tx, &err), 0);
    } else {
        store_tx_rollback(tx);
    }
}

static void
del(struct fixture *f, const char *id)
{
    store_tx *tx = NULL;
    store_del_result d;
    fhir_err err = FHIR_ERR_INIT;
    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    assert_int_equal(store_tx_delete(&d, tx, f->task, id, 0, &err), 0);
    assert_int_equal(store_tx_commit(tx, &err), 0);
}

static int64_t
rid_of(struct fixture *f, const char *id)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t rid = -1;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT rid FROM resource WHERE id = ?",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        rid = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rid;
}

static void
prepare(struct fixture *f)
{
    static const store_hot_need need[] = {{P_STATUS, STORE_HOT_TOKEN},
                                          {P_OWNER, STORE_HOT_REF},
                                          {P_AUTHORED, STORE_HOT_DATE},
                                          {P_MANY, STORE_HOT_TOKEN}};
    fhir_err err = FHIR_ERR_INIT;
    assert_int_equal(store_hot_prepare(f->env, need, 4, &err), 0);
}

/* The ids in a bitset, sorted by id, comma-separated. */
static void
ids_of(struct fixture *f, const uint64_t *bits, size_t words, char *out,
       size_t cap, const char *const *ids, size_t nids)
{
    out[0] = '\0';
    for (size_t i = 0; i < nids; i++) {
        int64_t rid = rid_of(f, ids[i]);
        if (rid >= 0 && (size_t)rid < words * 64 &&
            (bits[rid / 64] >> (rid % 64) & 1)) {
            size_t len = strlen(out);
            snprintf(out + len, cap - len, "%s%s", len ? "," : "", ids[i]);
        }
    }
}

static const char *const all_ids[] = {"a", "b", "c", "d", "e"};

/* The ids of (param, sys, code) or, ref, a reference; "has" for every
 * resource with the parameter, "live" for live Tasks. */
static void
set_ids(struct fixture *f, const char *what, int param, const char *sys,
        const char *code, char *out, size_t cap)
{
    store_hot *v = store_hot_begin(f->env);
    assert_non_null(v);
    size_t words = store_hot_words(v);
    uint64_t *bits = fhir_xcalloc(words, sizeof(uint64_t));
    if (strcmp(what, "has") == 0) {
        assert_int_equal(store_hot_or_has(v, bits, param), 0);
    } else if (strcmp(what, "live") == 0) {
        int tc = store_type_code(f->env, f->task);
        store_hot_or_live(v, bits, &tc, 1);
    } else {
        assert_int_equal(
            store_hot_or(v, bits, param, strcmp(what, "ref") == 0, sys, code),
            0);
    }
    /* The set read in place, when one bitset holds it, is the same (has
     * and live always are one). */
    const uint64_t *inplace = NULL;
    if (strcmp(what, "has") == 0) {
        inplace = store_hot_has_bits(v, param);
        assert_non_null(inplace);
    } else if (strcmp(what, "live") == 0) {
        inplace = store_hot_live_bits(v, store_type_code(f->env, f->task));
        assert_non_null(inplace);
    } else if (code != NULL) {
        inplace = store_hot_bits(v, param, strcmp(what, "ref") == 0, sys, code);
    }
    ids_of(f, bits, words, out, cap, all_ids, 5);
    if (inplace != NULL) {
        char again[128];
        ids_of(f, inplace, words, again, sizeof(again), all_ids, 5);
        assert_string_equal(again, out);
    }
    store_hot_end(v);
    free(bits);
}

#define SYS "http://hl7.org/fhir/task-status"

static void
hot__built_from_the_tables(void **state)
{
    struct fixture *f = *state;
    char ids[128];
    const struct task t[] = {
        {"a", SYS, "ready", "Practitioner/p1", 100, 200},
        {"b", SYS, "requested", NULL, 50, 60},
        {"c", "", "ready", "Practitioner/p2", 0, 0},
        {"d", SYS, "ready", "Practitioner/p1", 0, 0},
    };
    put_all(f, t, 4, 1);
    del(f, "d");
    assert_null(store_hot_begin(f->env)); /* nothing loaded yet */
    prepare(f);
    set_ids(f, "tok", P_STATUS, NULL, "ready", ids, sizeof(ids));
    assert_string_equal(ids, "a,c");
    set_ids(f, "tok", P_STATUS, SYS, "ready", ids, sizeof(ids));
    assert_string_equal(ids, "a");
    set_ids(f, "tok", P_STATUS, "", "ready", ids, sizeof(ids));
    assert_string_equal(ids, "c");
    set_ids(f, "tok", P_STATUS, SYS, NULL, ids, sizeof(ids));
    assert_string_equal(ids, "a,b");
    set_ids(f, "tok", P_STATUS, "http://unknown", NULL, ids, sizeof(ids));
    assert_string_equal(ids, "");
    set_ids(f, "ref", P_OWNER, NULL, "Practitioner/p1", ids, sizeof(ids));
    assert_string_equal(ids, "a");
    set_ids(f, "has", P_OWNER, NULL, NULL, ids, sizeof(ids));
    assert_string_equal(ids, "a,c");
    set_ids(f, "live", 0, NULL, NULL, ids, sizeof(ids));
    assert_string_equal(ids, "a,b,c");
    {
        /* "ready" of any system is two keys: no one bitset holds it. */
        store_hot *v1 = store_hot_begin(f->env);
        assert_null(store_hot_bits(v1, P_STATUS, 0, NULL, "ready"));
        assert_null(store_hot_bits(v1, P_STATUS, 0, "http://unknown", "x"));
        store_hot_end(v1);
    }

    store_hot *v = store_hot_begin(f->env);
    int64_t lo = 0, hi = 0;
    assert_int_equal(store_hot_is_hot(v, P_STATUS), 1);
    assert_int_equal(store_hot_is_hot(v, 99), 0);
    assert_int_equal(store_hot_date(v, P_AUTHORED, rid_of(f, "a"), &lo, &hi),
                     1);
    assert_int_equal(lo, 100); /* lowest start, highest end of two rows */
    assert_int_equal(hi, 300);
    assert_int_equal(store_hot_date(v, P_AUTHORED, rid_of(f, "c"), &lo, &hi),
                     0);
    assert_int_equal(store_hot_date(v, 77, rid_of(f, "a"), &lo, &hi), -1);
    assert_true(store_hot_hid(v, rid_of(f, "a")) > 0);
    assert_int_equal(store_hot_hid(v, rid_of(f, "d")), 0);
    const char *const order[] = {"requested"};
    uint64_t *bits = fhir_xcalloc(store_hot_words(v), sizeof(uint64_t));
    assert_int_equal(store_hot_or_other(v, bits, P_STATUS, order, 1), 0);
    size_t words = store_hot_words(v);
    store_hot_end(v);
    ids_of(f, bits, words, ids, sizeof(ids), all_ids, 5);
    assert_string_equal(ids, "a,c");
    free(bits);
}

static void
hot__follows_commits_not_rollbacks(void **state)
{
    struct fixture *f = *state;
    char ids[128];
    const struct task t[] = {
        {"a", SYS, "ready", "Practitioner/p1", 100, 200},
        {"b", SYS, "requested", NULL, 50, 60},
    };
    put_all(f, t, 2, 1);
    prepare(f);
    store_hot *v = store_hot_begin(f->env);
    int64_t before = store_hot_applied(v);
    store_hot_end(v);

    /* Update moves a value; create adds; both at the new hid. */
    const struct task u[] = {
        {"a", SYS, "completed", NULL, 500, 600},
        {"c", SYS, "ready", "Practitioner/p1", 0, 0},
    };
    put_all(f, u, 2, 1);
    set_ids(f, "tok", P_STATUS, NULL, "ready", ids, sizeof(ids));
    assert_string_equal(ids, "c");
    set_ids(f, "tok", P_STATUS, NULL, "completed", ids, sizeof(ids));
    assert_string_equal(ids, "a");
    set_ids(f, "has", P_OWNER, NULL, NULL, ids, sizeof(ids));
    assert_string_equal(ids, "c");
    v = store_hot_begin(f->env);
    int64_t lo, hi;
    assert_true(store_hot_applied(v) > before);
    assert_int_equal(store_hot_hid(v, rid_of(f, "c")), store_hot_applied(v));
    assert_int_equal(store_hot_date(v, P_AUTHORED, rid_of(f, "a"), &lo, &hi),
                     1);
    assert_int_equal(lo, 500);
    store_hot_end(v);

    /* A rolled back transaction changes nothing, and the system it
     * introduced is unknown afterwards. */
    const struct task r[] = {
        {"b", "http://rolled.back/sys", "ready", "Practitioner/p9", 1, 2},
        {"e", SYS, "ready", NULL, 0, 0},
    };
    put_all(f, r, 2, 0);
    set_ids(f, "tok", P_STATUS, NULL, "ready", ids, sizeof(ids));
    assert_string_equal(ids, "c");
    set_ids(f, "tok", P_STATUS, "http://rolled.back/sys", NULL, ids,
            sizeof(ids));
    assert_string_equal(ids, "");
    set_ids(f, "live", 0, NULL, NULL, ids, sizeof(ids));
    assert_string_equal(ids, "a,b,c");

    /* A new system committed is searchable at once. */
    const struct task s[] = {{"b", "http://new/sys", "ready", NULL, 0, 0}};
    put_all(f, s, 1, 1);
    set_ids(f, "tok", P_STATUS, "http://new/sys", "ready", ids, sizeof(ids));
    assert_string_equal(ids, "b");

    /* Delete: gone from every set. */
    del(f, "c");
    set_ids(f, "tok", P_STATUS, NULL, "ready", ids, sizeof(ids));
    assert_string_equal(ids, "b");
    set_ids(f, "ref", P_OWNER, NULL, "Practitioner/p1", ids, sizeof(ids));
    assert_string_equal(ids, "");
    set_ids(f, "live", 0, NULL, NULL, ids, sizeof(ids));
    assert_string_equal(ids, "a,b");
}

/* Counts the bits of the set of one status code. */
static size_t
count_status(struct fixture *f, const char *code)
{
    store_hot *v = store_hot_begin(f->env);
    size_t words = store_hot_words(v), n = 0;
    uint64_t *bits = fhir_xcalloc(words, sizeof(uint64_t));
    assert_int_equal(store_hot_or(v, bits, P_STATUS, 0, NULL, code), 0);
    store_hot_end(v);
    for (size_t i = 0; i < words; i++) {
        n += (size_t)__builtin_popcountll(bits[i]);
    }
    free(bits);
    return n;
}

static void
hot__large_set_becomes_bitset_and_grows(void **state)
{
    struct fixture *f = *state;
    enum { N = 70000 }; /* past the first bitset size (65536 rids) */
    struct task *t = fhir_xcalloc(N, sizeof(*t));
    char(*names)[16] = fhir_xcalloc(N, 16);
    const struct task first[] = {{"x0", SYS, "ready", NULL, 0, 0}};
    put_all(f, first, 1, 1);
    prepare(f);
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], 16, "n%zu", i);
        t[i].id = names[i];
        t[i].sys = SYS;
        t[i].status = i % 7 == 0 ? "requested" : "ready";
    }
    put_all(f, t, N, 1);
    assert_int_equal(count_status(f, "ready"), 1 + N - (N + 6) / 7);
    assert_int_equal(count_status(f, "requested"), (N + 6) / 7);
    del(f, "n1");
    del(f, "n0");
    assert_int_equal(count_status(f, "ready"), N - (N + 6) / 7);
    assert_int_equal(count_status(f, "requested"), (N + 6) / 7 - 1);
    free(t);
    free(names);
}

static void
hot__parameter_with_too_many_values_is_dropped(void **state)
{
    struct fixture *f = *state;
    enum { N = 4200 };
    store_tx *tx = NULL;
    fhir_err err = FHIR_ERR_INIT;
    const struct task first[] = {{"a", SYS, "ready", NULL, 0, 0}};
    put_all(f, first, 1, 1);
    prepare(f);
    store_hot *v = store_hot_begin(f->env);
    assert_int_equal(store_hot_is_hot(v, P_MANY), 1); /* no values yet */
    store_hot_end(v);
    assert_int_equal(store_tx_begin(&tx, f->env, &err), 0);
    for (int i = 0; i < N; i++) {
        char id[16], code[16];
        snprintf(id, sizeof(id), "m%d", i);
        snprintf(code, sizeof(code), "v%d", i);
        fhir_row row = {FHIR_ROW_TOKEN, P_MANY, "", code, NULL, 0, 0};
        fhir_rows rows = {&row, 1, 1};
        store_put put = {0};
        store_put_result r;
        cJSON *res = cJSON_CreateObject();
        cJSON_AddStringToObject(res, "resourceType", "Task");
        put.type = f->task;
        put.id = id;
        put.resource = res;
        put.method = STORE_METHOD_PUT;
        put.rows = &rows;
        assert_int_equal(store_tx_put(&r, tx, &put, &err), 0);
        free(r.body);
        cJSON_Delete(res);
    }
    assert_int_equal(store_tx_commit(tx, &err), 0);
    v = store_hot_begin(f->env);
    assert_int_equal(store_hot_is_hot(v, P_MANY), 0);
    assert_int_equal(store_hot_is_hot(v, P_STATUS), 1);
    uint64_t *bits = fhir_xcalloc(store_hot_words(v), sizeof(uint64_t));
    assert_int_equal(store_hot_or(v, bits, P_MANY, 0, NULL, "v1"), -1);
    store_hot_end(v);
    free(bits);
}

static void
hot__off_when_configured(void **state)
{
    struct fixture *f = *state;
    store_opts o = STORE_OPTS_INIT;
    fhir_err err = FHIR_ERR_INIT;
    store_env_close(f->env);
    o.path = f->path;
    o.synchronous_full = 0;
    o.no_hot = 1;
    assert_int_equal(store_env_open(&f->env, &o, &err), 0);
    const struct task t[] = {{"a", SYS, "ready", NULL, 0, 0}};
    put_all(f, t, 1, 1);
    prepare(f);
    assert_null(store_hot_begin(f->env));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(hot__built_from_the_tables),
        T(hot__follows_commits_not_rollbacks),
        T(hot__large_set_becomes_bitset_and_grows),
        T(hot__parameter_with_too_many_values_is_dropped),
        T(hot__off_when_configured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
