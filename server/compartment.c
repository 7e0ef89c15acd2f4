/* server/compartment.c - the Patient compartment over HTTP
 * (R4 compartmentdefinition-patient.html, patient-operation-everything):
 * GET /fhir/Patient/{id}/Task?..., GET /fhir/Patient/{id}/[*] and
 * GET /fhir/Patient/{id}/$everything.
 *
 * Each is an ordinary search (search.c) with one more condition,
 * `_compartment=Patient/{id}` - the reference parameter search/ builds from
 * the compartment definition (search/compartment.c) - so every parameter,
 * paging, _include and _sort work inside it, and the compartment is an
 * indexed, counted condition like any other.
 */
#include "server/server.h"
#include "server/server_int.h"

#include <string.h>

/* The compartment's owner must exist: 404 unknown, 410 deleted. */
static int
owner_ok(srv_req *r)
{
    fhir_err err = FHIR_ERR_INIT;
    store_res res;
    int ctype = search_compartment_type(r->srv->search);
    if (ctype < 0 || r->type != ctype) {
        srv__reply_issue(r, 404, FHIR_ISSUE_NOT_FOUND,
                         "%s has no compartment here (only %s)",
                         fhir_type_name(r->type),
                         ctype >= 0 ? fhir_type_name(ctype) : "none");
        return -1;
    }
    if (!fhir_id_valid(r->seg[1])) {
        srv__reply_issue(r, 400, FHIR_ISSUE_INVALID,
                         "'%.80s' is not a valid id", r->seg[1]);
        return -1;
    }
    store_db *db = srv__db(r, &err);
    if (db == NULL || store_read(&res, db, r->type, r->seg[1], 0, &err) != 0) {
        srv__reply_err(r, &err);
        return -1;
    }
    int deleted = res.deleted;
    store_res_clear(&res);
    if (deleted) {
        srv__reply_issue(r, 410, FHIR_ISSUE_DELETED, "%s/%s was deleted",
                         fhir_type_name(r->type), r->seg[1]);
        return -1;
    }
    return 0;
}

int
srv__compartment(srv_req *r)
{
    const char *what = r->seg[2];
    int type = -1;
    if (strcmp(what, "*") != 0) {
        type = fhir_type_find(what);
        if (type < 0) {
            srv__reply_issue(r, 404, FHIR_ISSUE_NOT_FOUND,
                             "Resource type '%.64s' is not served here", what);
            return -1;
        }
    }
    if (owner_ok(r) != 0) {
        return -1;
    }
    r->comp_id = r->seg[1];
    r->link_path =
        fhir_arena_printf(r->a, "%s/%s/%s", r->seg[0], r->seg[1], r->seg[2]);
    r->type = type; /* "*": every type the compartment can hold */
    return srv__search(r, &r->query);
}

int
srv__operation(srv_req *r)
{
    static const char *const allowed[] = {"_since",      "_type",   "_count",
                                          "_cursor",     "_format", "_pretty",
                                          "_lastUpdated"};
    search_query q;
    if (strcmp(r->seg[2], "$everything") != 0) {
        srv__reply_issue(r, 404, FHIR_ISSUE_NOT_SUPPORTED,
                         "Operation '%.64s' is not supported (only "
                         "Patient/[id]/$everything)",
                         r->seg[2]);
        return -1;
    }
    if (owner_ok(r) != 0) {
        return -1;
    }
    /* R4 Patient-everything: _since (as _lastUpdated=ge), _type, _count;
     * paging links carry _lastUpdated and _cursor back. */
    q.params = fhir_arena_alloc(r->a, (r->query.n + 1) * sizeof(search_pair));
    q.n = 0;
    for (size_t i = 0; i < r->query.n; i++) {
        const search_pair *p = &r->query.params[i];
        size_t k = 0;
        while (k < sizeof(allowed) / sizeof(allowed[0]) &&
               strcmp(p->name, allowed[k]) != 0) {
            k++;
        }
        if (k == sizeof(allowed) / sizeof(allowed[0])) {
            srv__reply_issue(r, 400, FHIR_ISSUE_NOT_SUPPORTED,
                             "$everything takes _since, _type and _count, "
                             "not '%.64s'",
                             p->name);
            return -1;
        }
        q.params[q.n] = *p;
        if (strcmp(p->name, "_since") == 0) {
            q.params[q.n].name = "_lastUpdated";
            q.params[q.n].value = fhir_arena_printf(r->a, "ge%s", p->value);
        }
        q.n++;
    }
    r->comp_id = r->seg[1];
    r->link_path =
        fhir_arena_printf(r->a, "%s/%s/%s", r->seg[0], r->seg[1], r->seg[2]);
    r->type = -1;
    return srv__search(r, &q);
}
