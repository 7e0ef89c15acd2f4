/* store/history.c - listing versions for the history interactions.
 *
 * Instance, type and system history (R4 http.html#history) are one
 * listing with three scopes. Entries come newest first; the caller pages
 * with before_us (the lastUpdated of the last entry it saw), which is a
 * primary-key range, so a page costs the same wherever it starts and
 * writes made meanwhile never shift what the next page returns.
 */
#include "store/store.h"
#include "store/store_int.h"

#include <stdint.h>
#include <string.h>

int
store_history(store_db *db, const store_hist_query *q, store_hist_cb cb,
              void *ctx, fhir_err *err)
{
    store_env *env = db->env;
    sqlite3_stmt *st = NULL;
    int64_t rid = 0;
    int rc = -1;

    if (q->type >= 0 && q->id != NULL) {
        sqlite3_stmt *f = store__stmt(db->c, ST_FIND, err);
        if (f == NULL) {
            return -1;
        }
        sqlite3_bind_int(f, 1, env->type_code[q->type]);
        sqlite3_bind_text(f, 2, q->id, -1, SQLITE_STATIC);
        int s = sqlite3_step(f);
        if (s == SQLITE_ROW) {
            rid = sqlite3_column_int64(f, 0);
        }
        store__done(f);
        if (s == SQLITE_DONE) {
            return fhir_err_set(err, FHIR_ISSUE_NOT_FOUND, "%s/%s is not known",
                                fhir_type_name(q->type), q->id);
        }
        if (s != SQLITE_ROW) {
            return store__fail(err, db->c->db, s, "history");
        }
        st = store__stmt(db->c, ST_HIST_INSTANCE, err);
        if (st == NULL) {
            return -1;
        }
        sqlite3_bind_int64(st, 1, rid);
        sqlite3_bind_text(st, 5, q->id, -1, SQLITE_STATIC);
    } else if (q->type >= 0) {
        st = store__stmt(db->c, ST_HIST_TYPE, err);
        if (st == NULL) {
            return -1;
        }
        sqlite3_bind_int(st, 1, env->type_code[q->type]);
    } else {
        st = store__stmt(db->c, ST_HIST_SYSTEM, err);
        if (st == NULL) {
            return -1;
        }
    }
    sqlite3_bind_int64(st, 2, q->since_us);
    sqlite3_bind_int64(st, 3, q->before_us > 0 ? q->before_us : INT64_MAX);
    sqlite3_bind_int(st, 4, q->count);

    for (;;) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE) {
            break;
        }
        if (s != SQLITE_ROW) {
            store__fail(err, db->c->db, s, "history");
            goto done;
        }
        store_hist_entry e;
        memset(&e, 0, sizeof(e));
        e.updated_us = sqlite3_column_int64(st, 0);
        e.type = store__type_of_code(env, sqlite3_column_int(st, 1));
        e.id = (const char *)sqlite3_column_text(st, 2);
        e.version = sqlite3_column_int64(st, 3);
        e.method = (store_method)sqlite3_column_int(st, 4);
        if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
            e.body = sqlite3_column_blob(st, 5);
            e.len = (size_t)sqlite3_column_bytes(st, 5);
        }
        if (e.type < 0) {
            continue; /* a type this build no longer serves */
        }
        if (cb(ctx, &e) != 0) {
            break;
        }
    }
    rc = 0;
done:
    store__done(st);
    return rc;
}
