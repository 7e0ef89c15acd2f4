/* server/include.c - the resources a search page brings along:
 * _include, _revinclude and their :iterate forms (R4 search.html#include).
 *
 * After search.c has chosen the page, inside the same read transaction,
 * each round follows the include parameters from a frontier - the page's
 * matches first, then (for :iterate) what the previous round included -
 * with the SQL search/include.c builds. A resource appears once (the set
 * of rids already in the Bundle also stops cycles in a partOf tree), is
 * never counted in Bundle.total, and the number included is capped by
 * --max-include; a cut result carries an OperationOutcome saying so.
 */
#include "server/server.h"
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

#define INCL_CHUNK 500 /* values bound per statement */

typedef struct node {
    int64_t rid;
    int type;
    const char *id;
    const char *body;
    size_t len;
} node;

typedef struct nodes {
    node *v;
    size_t n, cap;
} nodes;

/* The rids in the Bundle: an open-addressing set. */
typedef struct ridset {
    int64_t *slot; /* 0 empty (rids start at 1) */
    size_t cap, n;
} ridset;

typedef struct incl_run {
    srv_req *r;
    store_db *db;
    fhir_buf list; /* the values bound to the statement running */
    ridset seen;
    nodes next; /* included in this round */
    nodes all;  /* included so far, in order */
    size_t max;
    int cut;
    fhir_err *err;
} incl_run;

static void
nodes_add(nodes *ns, fhir_arena *a, const node *x)
{
    ns->v = fhir_arena_grow(a, ns->v, ns->n, &ns->cap, sizeof(*ns->v));
    ns->v[ns->n++] = *x;
}

static size_t
rid_slot(const ridset *s, int64_t rid)
{
    uint64_t h = (uint64_t)rid * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 20) & (s->cap - 1);
}

static int
ridset_has(const ridset *s, int64_t rid)
{
    if (s->cap == 0) {
        return 0;
    }
    for (size_t k = rid_slot(s, rid); s->slot[k] != 0;
         k = (k + 1) & (s->cap - 1)) {
        if (s->slot[k] == rid) {
            return 1;
        }
    }
    return 0;
}

/* Adds rid; 0 when it was there already. */
static int
ridset_add(ridset *s, int64_t rid)
{
    if ((s->n + 1) * 2 > s->cap) {
        ridset bigger = {NULL, s->cap ? s->cap * 2 : 256, 0};
        bigger.slot = fhir_xcalloc(bigger.cap, sizeof(int64_t));
        for (size_t i = 0; i < s->cap; i++) {
            if (s->slot[i] != 0) {
                size_t k = rid_slot(&bigger, s->slot[i]);
                while (bigger.slot[k] != 0) {
                    k = (k + 1) & (bigger.cap - 1);
                }
                bigger.slot[k] = s->slot[i];
                bigger.n++;
            }
        }
        free(s->slot);
        *s = bigger;
    }
    size_t k = rid_slot(s, rid);
    while (s->slot[k] != 0) {
        if (s->slot[k] == rid) {
            return 0;
        }
        k = (k + 1) & (s->cap - 1);
    }
    s->slot[k] = rid;
    s->n++;
    return 1;
}

/* A fetched row (rid, type code, id, body): included unless seen. */
static int
fetched(void *ctx, const store_row *row)
{
    incl_run *ir = ctx;
    fhir_arena *a = ir->r->a;
    int64_t rid = store_row_int(row, 0);
    if (ridset_has(&ir->seen, rid)) {
        return 0;
    }
    if (ir->all.n >= ir->max) {
        ir->cut = 1; /* one more than the cap allows */
        return 1;
    }
    ridset_add(&ir->seen, rid);
    node x;
    size_t len = 0;
    const char *id = store_row_text(row, 2, NULL);
    const char *body = store_row_bytes(row, 3, &len);
    x.rid = rid;
    x.type = store_type_of_code(ir->r->srv->env, (int)store_row_int(row, 1));
    x.id = fhir_arena_strdup(a, id ? id : "");
    x.body = fhir_arena_strndup(a, body ? body : "", len);
    x.len = len;
    nodes_add(&ir->next, a, &x);
    nodes_add(&ir->all, a, &x);
    return 0;
}

struct refs {
    fhir_arena *a;
    const char **v;
    size_t n, cap;
};

static int
ref_row(void *ctx, const store_row *row)
{
    struct refs *rs = ctx;
    const char *t = store_row_text(row, 0, NULL);
    if (t == NULL) {
        return 0;
    }
    rs->v = fhir_arena_grow(rs->a, rs->v, rs->n, &rs->cap, sizeof(*rs->v));
    rs->v[rs->n++] = fhir_arena_strdup(rs->a, t);
    return 0;
}

static int
run_sql(incl_run *ir, fhir_sql *q, store_row_cb cb, void *ctx)
{
    int rc = store_query(ir->db, q, cb, ctx, ir->err);
    fhir_sql_clear(q);
    return rc;
}

/* _include: what the frontier's resources of in->from refer to. */
static int
forward(incl_run *ir, const search_incl *in, const nodes *front)
{
    fhir_arena *a = ir->r->a;
    fhir_sql q = FHIR_SQL_INIT;
    struct refs rs = {a, NULL, 0, 0};
    int64_t rids[INCL_CHUNK];
    size_t k = 0;
    for (size_t i = 0; i <= front->n; i++) {
        if (i < front->n && front->v[i].type == in->from) {
            rids[k++] = front->v[i].rid;
        }
        if (k > 0 && (k == INCL_CHUNK || i == front->n)) {
            search_incl_refs_sql(&q, &ir->list, in, rids, k);
            if (run_sql(ir, &q, ref_row, &rs) != 0) {
                return -1;
            }
            k = 0;
        }
    }
    /* "Type/id" only (references to this server are indexed so); by
     * type, then fetched in chunks. */
    for (int t = 0; t < fhir_type_count() && !ir->cut; t++) {
        if (in->target >= 0 && in->target != t) {
            continue;
        }
        const char *name = fhir_type_name(t);
        size_t nl = strlen(name);
        const char *ids[INCL_CHUNK];
        size_t m = 0;
        for (size_t i = 0; i <= rs.n && !ir->cut; i++) {
            if (i < rs.n && strncmp(rs.v[i], name, nl) == 0 &&
                rs.v[i][nl] == '/' && strchr(rs.v[i] + nl + 1, '/') == NULL) {
                ids[m++] = rs.v[i] + nl + 1;
            }
            if (m > 0 && (m == INCL_CHUNK || i == rs.n)) {
                search_incl_fetch_sql(
                    &q, &ir->list, store_type_code(ir->r->srv->env, t), ids, m);
                if (run_sql(ir, &q, fetched, ir) != 0) {
                    return -1;
                }
                m = 0;
            }
        }
    }
    return 0;
}

/* _revinclude: resources of in->from whose parameter refers to one of
 * the frontier's resources. */
static int
reverse(incl_run *ir, const search_incl *in, const nodes *front)
{
    fhir_arena *a = ir->r->a;
    fhir_sql q = FHIR_SQL_INIT;
    const char *refs[INCL_CHUNK];
    size_t k = 0;
    int from_code = store_type_code(ir->r->srv->env, in->from);
    for (size_t i = 0; i <= front->n && !ir->cut; i++) {
        if (i < front->n) {
            refs[k++] = fhir_arena_path(a, fhir_type_name(front->v[i].type),
                                        front->v[i].id);
        }
        if (k > 0 && (k == INCL_CHUNK || i == front->n)) {
            /* Rows already in the Bundle come back too: room for them,
             * and one more than the cap leaves, to tell a cut. */
            int64_t room = (int64_t)(ir->max - ir->all.n + ir->seen.n) + 1;
            search_incl_rev_sql(&q, &ir->list, in, from_code, refs, k, room);
            if (run_sql(ir, &q, fetched, ir) != 0) {
                return -1;
            }
            k = 0;
        }
    }
    return 0;
}

int
srv__includes(srv_req *r, store_db *db, const search_incl *in, size_t nin,
              const srv_found *page, size_t npage, srv_found **out,
              size_t *nout, int *cut, fhir_err *err)
{
    incl_run ir;
    memset(&ir, 0, sizeof(ir));
    ir.r = r;
    ir.db = db;
    ir.max = (size_t)r->srv->cfg.max_include;
    ir.err = err;
    *out = NULL;
    *nout = 0;
    *cut = 0;
    nodes front = {NULL, 0, 0};
    for (size_t i = 0; i < npage; i++) {
        node x = {page[i].rid, page[i].type, page[i].id, NULL, 0};
        ridset_add(&ir.seen, x.rid);
        nodes_add(&front, r->a, &x);
    }
    int rc = 0;
    /* Round 0 applies every parameter to the matches; later rounds the
     * :iterate ones to what the round before included, until nothing new
     * comes (the seen set ends cycles) or the cap is reached. */
    for (int round = 0; rc == 0 && front.n > 0 && !ir.cut; round++) {
        ir.next = (nodes){NULL, 0, 0};
        for (size_t i = 0; i < nin && rc == 0 && !ir.cut; i++) {
            if (round > 0 && !in[i].iterate) {
                continue;
            }
            rc = in[i].rev ? reverse(&ir, &in[i], &front)
                           : forward(&ir, &in[i], &front);
        }
        front = ir.next;
    }
    free(ir.seen.slot);
    fhir_buf_clear(&ir.list);
    if (rc != 0) {
        return -1;
    }
    srv_found *f = fhir_arena_alloc(r->a, (ir.all.n + 1) * sizeof(*f));
    for (size_t i = 0; i < ir.all.n; i++) {
        f[i] = (srv_found){ir.all.v[i].rid, ir.all.v[i].type, ir.all.v[i].id,
                           ir.all.v[i].body, ir.all.v[i].len};
    }
    *out = f;
    *nout = ir.all.n;
    *cut = ir.cut;
    return 0;
}
