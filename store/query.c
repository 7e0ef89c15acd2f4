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

const char *
store_row_bytes(const store_row *row, int col, size_t *len)
{
    const char *t = sqlite3_column_blob(row->st, col);
    *len = (size_t)sqlite3_column_bytes(row->st, col);
    if (t == NULL && sqlite3_column_type(row->st, col) != SQLITE_NULL) {
        t = ""; /* an empty value */
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
 * a fresh uncached one (*slot NULL) when the slot is stepping already: a
 * nested query of the same shape, or a busy least recently used slot. */
static sqlite3_stmt *
qcache_get(store_conn *c, const fhir_sql *q, store__cached **slot, int *rc)
{
    uint64_t h = fhir_hash(FHIR_HASH_SEED, q->text.data, q->text.len);
    store__cached *use = &c->qc[0]; /* the hit, else the least recent */
    int hit = 0;
    *slot = NULL;
    *rc = SQLITE_OK;
    for (size_t i = 0; i < STORE_QCACHE && !hit; i++) {
        store__cached *e = &c->qc[i];
        hit = e->st != NULL && e->hash == h && e->len == q->text.len &&
              memcmp(e->sql, q->text.data, e->len) == 0;
        if (hit || e->st == NULL || (use->st != NULL && e->used < use->used)) {
            use = e;
        }
    }
    sqlite3_stmt *st = hit && !use->busy ? use->st : NULL;
    if (st == NULL) {
        *rc = sqlite3_prepare_v3(c->db, q->text.data, (int)q->text.len,
                                 use->busy ? 0 : SQLITE_PREPARE_PERSISTENT, &st,
                                 NULL);
        if (*rc != SQLITE_OK || use->busy) {
            return st;
        }
        sqlite3_finalize(use->st);
        free(use->sql);
        use->hash = h;
        use->sql = fhir_xstrndup(q->text.data, q->text.len);
        use->len = q->text.len;
        use->st = st;
    }
    use->used = ++c->qtick;
    use->busy = 1;
    *slot = use;
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
    return store__run(db->c, ST_READ_BEGIN, "search", err);
}

void
store_read_end(store_db *db)
{
    if (!db->view && !sqlite3_get_autocommit(db->c->db)) {
        fhir_err ignored = FHIR_ERR_INIT;
        (void)store__run(db->c, ST_COMMIT, "search", &ignored);
    }
}
