/* store/query.c - running the queries search/ builds.
 *
 * search/ assembles SQL from constant fragments and hands the request's
 * values separately (fhir_sql); here they are bound with sqlite3_bind_*
 * and the rows passed back through a small accessor interface, so no
 * module above store/ ever sees SQLite. The SQL text depends only on a
 * query's shape (values are always bound), and shapes repeat, so each
 * connection keeps its last STORE_QCACHE statements by text: a search
 * seen before skips SQLite's parser and planner (a third of a small
 * search's time when each was prepared anew).
 */
#include "store/store.h"
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

struct store_row {
    sqlite3_stmt *st;
};

int64_t
store_row_int(const store_row *row, int col)
{
    return sqlite3_column_int64(row->st, col);
}

const char *
store_row_text(const store_row *row, int col, size_t *len)
{
    const char *t = (const char *)sqlite3_column_text(row->st, col);
    if (len != NULL) {
        *len = (size_t)sqlite3_column_bytes(row->st, col);
    }
    return t;
}

int
store_row_is_null(const store_row *row, int col)
{
    return sqlite3_column_type(row->st, col) == SQLITE_NULL;
}

void
store__qcache_clear(store_conn *c)
{
    for (size_t i = 0; i < STORE_QCACHE; i++) {
        sqlite3_finalize(c->qc[i].st);
        free(c->qc[i].sql);
        memset(&c->qc[i], 0, sizeof(c->qc[i]));
    }
}

/* The cached statement for q's text (prepared and cached on a miss), or
 * a fresh uncached one (*slot NULL) while the cached one is stepping. */
static sqlite3_stmt *
qcache_get(store_conn *c, const fhir_sql *q, store__cached **slot, int *rc)
{
    uint64_t h = fhir_hash(FHIR_HASH_SEED, q->text.data, q->text.len);
    store__cached *lru = &c->qc[0];
    *slot = NULL;
    *rc = SQLITE_OK;
    for (size_t i = 0; i < STORE_QCACHE; i++) {
        store__cached *e = &c->qc[i];
        if (e->st != NULL && e->hash == h && e->len == q->text.len &&
            memcmp(e->sql, q->text.data, e->len) == 0) {
            if (e->busy) { /* nested: an uncached copy */
                sqlite3_stmt *st = NULL;
                *rc = sqlite3_prepare_v3(c->db, q->text.data, (int)q->text.len,
                                         0, &st, NULL);
                return st;
            }
            e->used = ++c->qtick;
            e->busy = 1;
            *slot = e;
            return e->st;
        }
        if (e->st == NULL || (lru->st != NULL && e->used < lru->used)) {
            lru = e;
        }
    }
    sqlite3_stmt *st = NULL;
    *rc = sqlite3_prepare_v3(c->db, q->text.data, (int)q->text.len,
                             SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (*rc != SQLITE_OK || lru->busy) {
        return st;
    }
    sqlite3_finalize(lru->st);
    free(lru->sql);
    lru->hash = h;
    lru->sql = fhir_xstrndup(q->text.data, q->text.len);
    lru->len = q->text.len;
    lru->st = st;
    lru->used = ++c->qtick;
    lru->busy = 1;
    *slot = lru;
    return st;
}

int
store_query(store_db *db, const fhir_sql *q, store_row_cb cb, void *ctx,
            fhir_err *err)
{
    store__cached *slot = NULL;
    int rc = -1, s;
    /* Inside a write transaction the counts must include its writes. */
    if (db->view && store__counts_flush(db->env, err) != 0) {
        return -1;
    }
    sqlite3_stmt *st = qcache_get(db->c, q, &slot, &s);
    if (s != SQLITE_OK) {
        return store__fail(err, db->c->db, s, "search");
    }
    for (size_t i = 0; i < q->n; i++) {
        const fhir_sqlval *v = &q->vals[i];
        if (v->is_text) {
            s = sqlite3_bind_text(st, (int)i + 1, v->s, (int)v->len,
                                  SQLITE_STATIC);
        } else {
            s = sqlite3_bind_int64(st, (int)i + 1, v->i);
        }
        if (s != SQLITE_OK) {
            store__fail(err, db->c->db, s, "search");
            goto done;
        }
    }
    store_row row = {st};
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (cb(ctx, &row) != 0) {
            break;
        }
    }
    if (s != SQLITE_ROW && s != SQLITE_DONE) {
        store__fail(err, db->c->db, s, "search");
        goto done;
    }
    rc = 0;
done:
    if (slot != NULL) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        slot->busy = 0;
    } else {
        sqlite3_finalize(st);
    }
    return rc;
}

int
store_read_begin(store_db *db, fhir_err *err)
{
    if (db->view) {
        return 0; /* inside the write transaction already */
    }
    sqlite3_stmt *st = store__stmt(db->c, ST_READ_BEGIN, err);
    if (st == NULL) {
        return -1;
    }
    int s = sqlite3_step(st);
    store__done(st);
    if (s != SQLITE_DONE) {
        return store__fail(err, db->c->db, s, "search");
    }
    return 0;
}

void
store_read_end(store_db *db)
{
    if (!db->view && !sqlite3_get_autocommit(db->c->db)) {
        fhir_err ignored = FHIR_ERR_INIT;
        sqlite3_stmt *st = store__stmt(db->c, ST_COMMIT, &ignored);
        if (st != NULL) {
            (void)sqlite3_step(st);
            store__done(st);
        }
    }
}
