/* store/query.c - running the queries search/ builds.
 *
 * search/ assembles SQL from constant fragments and hands the request's
 * values separately (fhir_sql); here they are bound with sqlite3_bind_*
 * and the rows passed back through a small accessor interface, so no
 * module above store/ ever sees SQLite. Statements are prepared per call
 * for now; the plan shapes repeat, so a per-connection cache keyed by the
 * SQL text is the obvious next step when profiles show prepare time.
 */
#include "store/store.h"
#include "store/store_int.h"

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

int
store_query(store_db *db, const fhir_sql *q, store_row_cb cb, void *ctx,
            fhir_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = -1, s;
    /* Inside a write transaction the counts must include its writes. */
    if (db->view && store__counts_flush(db->env, err) != 0) {
        return -1;
    }
    s = sqlite3_prepare_v3(db->c->db, q->text.data, (int)q->text.len, 0, &st,
                           NULL);
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
    sqlite3_finalize(st);
    return rc;
}

int
store_read_begin(store_db *db, fhir_err *err)
{
    if (db->view) {
        return 0; /* inside the write transaction already */
    }
    int s = sqlite3_exec(db->c->db, "BEGIN", NULL, NULL, NULL);
    if (s != SQLITE_OK) {
        return store__fail(err, db->c->db, s, "search");
    }
    return 0;
}

void
store_read_end(store_db *db)
{
    if (!db->view && !sqlite3_get_autocommit(db->c->db)) {
        sqlite3_exec(db->c->db, "COMMIT", NULL, NULL, NULL);
    }
}
