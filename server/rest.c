/* server/rest.c - the RESTful interactions of R4 http.html: read, vread,
 * create, update, patch, delete (each also conditional), history
 * (instance, type, system) and capabilities, and the table that routes
 * to them.
 *
 * Each handler checks the request, asks profiles/ whether a body is
 * valid, and runs one store/ transaction; everything HTTP-specific
 * (status codes, ETag, Last-Modified, Location, Prefer) is decided here.
 * Nothing is written unless every check passed.
 */
#include "server/server.h"
#include "server/server_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- shared checks -------------------------------------------------- */

int
srv__check_resource(srv_server *s, cJSON *res, int type, const char *url_id,
                    cJSON **oo, fhir_err *err)
{
    const char *rt = fhir_json_str(res, "resourceType");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(res, "id");
    *oo = NULL;
    if (rt == NULL) {
        return fhir_err_set_at(err, FHIR_ISSUE_STRUCTURE, "resourceType",
                               "The resource has no resourceType");
    }
    if (strcmp(rt, fhir_type_name(type)) != 0) {
        return fhir_err_set_at(err, FHIR_ISSUE_INVALID, "resourceType",
                               "resourceType '%.64s' does not match the "
                               "endpoint's type %s",
                               rt, fhir_type_name(type));
    }
    if (url_id != NULL) {
        /* R4 http.html#update: the body's id must equal the URL's. */
        if (id == NULL) {
            return fhir_err_set_at(err, FHIR_ISSUE_REQUIRED, "id",
                                   "The resource has no id; an update must "
                                   "carry the id of the URL (%s)",
                                   url_id);
        }
        if (!cJSON_IsString(id) || strcmp(id->valuestring, url_id) != 0) {
            return fhir_err_set_at(err, FHIR_ISSUE_INVALID, "id",
                                   "The resource id does not match the URL "
                                   "id %s",
                                   url_id);
        }
    } else if (id != NULL && !cJSON_IsString(id)) {
        return fhir_err_set_at(err, FHIR_ISSUE_STRUCTURE, "id",
                               "id must be a string");
    }
    return prof_validate(oo, s->prof, res, err);
}

/* Replies with the validation outcome when there is one, else err. */
static void
reply_invalid(srv_req *r, cJSON *oo, const fhir_err *err)
{
    if (oo != NULL) {
        srv__reply_json(r, err->status ? err->status : 400, oo, NULL);
    } else {
        srv__reply_err(r, err);
    }
}

static int
check_id(srv_req *r, const char *id)
{
    if (!fhir_id_valid(id)) {
        srv__reply_issue(r, 400, FHIR_ISSUE_INVALID,
                         "'%.80s' is not a valid id (1-64 of A-Z a-z 0-9 - .)",
                         id);
        return -1;
    }
    return 0;
}

/* If-Match on writes: 0 absent, >0 the version, -1 replied 400. */
static int64_t
if_match(srv_req *r)
{
    const char *h = srv__header(r, "If-Match");
    int64_t v = 0;
    if (h == NULL) {
        return 0;
    }
    if (srv__parse_etag(h, &v) != 0) {
        srv__reply_issue(r, 400, FHIR_ISSUE_INVALID,
                         "If-Match '%.64s' is not a version ETag such as "
                         "W/\"3\"",
                         h);
        return -1;
    }
    return v;
}

/* ETag and Last-Modified lines for a version. */
static char *
version_headers(srv_req *r, int64_t version, int64_t updated_us)
{
    char date[64];
    if (r->sub != NULL) {
        r->sub->version = version;
        r->sub->updated_us = updated_us;
    }
    fhir_http_date_format(date, sizeof(date), updated_us);
    return fhir_arena_printf(r->a, "ETag: W/\"%lld\"\r\nLast-Modified: %s\r\n",
                             (long long)version, date);
}

/* Answers a successful create or update according to Prefer. */
static void
reply_written(srv_req *r, int status, const store_put_result *res,
              const char *id, const char *headers)
{
    switch (r->ret) {
    case SRV_RETURN_MINIMAL:
        srv__reply_raw(r, status, "", 0, headers);
        break;
    case SRV_RETURN_OUTCOME: {
        char diag[160];
        snprintf(diag, sizeof(diag), "%s %s/%s, version %lld",
                 status == 201 ? "Created" : "Updated", fhir_type_name(r->type),
                 id, (long long)res->version);
        srv__reply_json(
            r, status,
            fhir_oo_new("information", FHIR_ISSUE_INFORMATIONAL, diag, NULL),
            headers);
        break;
    }
    default:
        srv__reply_body(r, status, res->body, res->len, headers);
    }
}

/* ---- read and vread ------------------------------------------------- */

/* R4 http.html#cread: 1 when If-None-Match / If-Modified-Since say the
 * client's copy is current. */
static int
not_modified(srv_req *r, const store_res *res)
{
    const char *inm = srv__header(r, "If-None-Match");
    const char *ims = srv__header(r, "If-Modified-Since");
    if (inm != NULL) {
        int64_t v = 0;
        if (strcmp(inm, "*") == 0) {
            return 1;
        }
        /* A list of ETags: any match counts. */
        char *copy = fhir_arena_strdup(r->a, inm);
        for (char *tok = copy; tok != NULL;) {
            char *comma = strchr(tok, ',');
            if (comma != NULL) {
                *comma = '\0';
            }
            if (srv__parse_etag(tok, &v) == 0 && v == res->version) {
                return 1;
            }
            tok = comma ? comma + 1 : NULL;
        }
        return 0; /* If-None-Match wins over If-Modified-Since */
    }
    if (ims != NULL) {
        int64_t since = 0;
        if (fhir_http_date_parse(ims, &since) == 0 &&
            res->updated_us / 1000000 <= since / 1000000) {
            return 1;
        }
    }
    return 0;
}

static int
read_version(srv_req *r, int64_t version)
{
    fhir_err err = FHIR_ERR_INIT;
    store_res res;
    const char *id = r->seg[1];
    store_db *db;
    if (check_id(r, id) != 0) {
        return -1;
    }
    db = srv__db(r, &err);
    if (db == NULL || store_read(&res, db, r->type, id, version, &err) != 0) {
        srv__reply_err(r, &err);
        return -1;
    }
    const char *hdr = version_headers(r, res.version, res.updated_us);
    if (res.deleted) {
        srv__reply_json(r, 410,
                        fhir_oo_new("error", FHIR_ISSUE_DELETED,
                                    version > 0 ? "This version is a deletion"
                                                : "The resource was deleted",
                                    NULL),
                        hdr);
    } else if (version == 0 && not_modified(r, &res)) {
        srv__reply_raw(r, 304, "", 0, hdr);
    } else {
        srv__reply_body(r, 200, res.body, res.len, hdr);
    }
    store_res_clear(&res);
    return 0;
}

static int
do_read(srv_req *r)
{
    return read_version(r, 0);
}

static int
do_vread(srv_req *r)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(r->seg[3], &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || r->seg[3][0] == '+') {
        srv__reply_issue(r, 404, FHIR_ISSUE_NOT_FOUND,
                         "'%.40s' is not a version of %s/%.64s", r->seg[3],
                         fhir_type_name(r->type), r->seg[1]);
        return -1;
    }
    return read_version(r, v);
}

/* ---- transactions ---------------------------------------------------- */

int
srv__tx_begin(srv_req *r, fhir_err *err)
{
    if (r->tx == NULL) {
        if (store_tx_begin(&r->tx, r->srv->env, err) != 0) {
            return -1;
        }
        r->tx_own = 1;
        r->tx_failed = 0;
    }
    r->tx_depth++;
    return 0;
}

int
srv__tx_end(srv_req *r, int ok, fhir_err *err)
{
    if (!ok) {
        r->tx_failed = 1;
    }
    if (--r->tx_depth > 0 || !r->tx_own) {
        return 0;
    }
    store_tx *tx = r->tx;
    r->tx = NULL;
    r->tx_own = 0;
    if (r->tx_failed) {
        store_tx_rollback(tx);
        srv__reply_release(r, 1); /* the failure's answer */
        return 0;
    }
    int rc = store_tx_commit(tx, err);
    /* Acknowledged only once durable; else the caller answers err. */
    srv__reply_release(r, rc == 0);
    return rc;
}

/* ---- create, update, delete ----------------------------------------- */

void
srv__prepare(srv_prep *p, srv_server *s, cJSON *res, int type, const char *id,
             const char *url_id, int write, fhir_arena *a)
{
    memset(p, 0, sizeof(*p));
    if (url_id == NULL) {
        /* R4 http.html#create: an id in the body is ignored. */
        cJSON_DeleteItemFromObjectCaseSensitive(res, "id");
    }
    p->rc = srv__check_resource(s, res, type, url_id, &p->oo, &p->err);
    if (p->rc != 0) {
        return;
    }
    if (fhir_json_str(res, "id") == NULL) {
        /* A create: indexed with its id (a Patient's compartment row
         * names it). */
        fhir_json_insert(res, 1, "id", cJSON_CreateString(id));
    }
    srv__index(s, type, res, &p->rows, a);
    if (write) {
        /* Indexed first: the rows are of the resource as sent. */
        fhir_buf b = FHIR_BUF_INIT;
        fhir_resource_stamp(res, id, 1, 0);
        fhir_json_write(&b, res, 0);
        p->body = fhir_buf_take(&b, &p->body_len);
    }
}

void
srv__prepare_clear(srv_prep *p)
{
    cJSON_Delete(p->oo);
    p->oo = NULL;
    free(p->body);
    p->body = NULL;
}

/* Writes a new version of prepared `res` in the request's transaction. */
static int
put_resource(srv_req *r, cJSON *res, const char *id, int64_t match,
             store_method method, const srv_prep *p, store_put_result *out,
             fhir_err *err)
{
    store_put in = {.type = r->type,
                    .id = id,
                    .resource = res,
                    .if_match = match,
                    .create_only = method == STORE_METHOD_POST,
                    .method = method,
                    .rows = &p->rows,
                    .body = p->body,
                    .body_len = p->body_len};
    memset(out, 0, sizeof(*out));
    int began = srv__tx_begin(r, err) == 0;
    int ok = began && store_tx_put(out, r->tx, &in, err) == 0;
    if (began && srv__tx_end(r, ok, err) != 0) {
        ok = 0;
    }
    /* R4 http.html#concurrency: a failed version check is 412. */
    if (!ok && err->issue == FHIR_ISSUE_CONFLICT && match > 0) {
        err->status = 412;
    }
    return ok ? 0 : -1;
}

/* "Type/id/_history/n" of a version. */
static const char *
history_path(srv_req *r, const char *id, int64_t version)
{
    return fhir_arena_printf(r->a, "%s/%s/_history/%lld",
                             fhir_type_name(r->type), id, (long long)version);
}

/* Answers a write that is durable now (its transaction committed, or
 * belongs to a transaction Bundle that answers only after its commit). */
static void
reply_put(srv_req *r, const store_put_result *out, const char *id)
{
    int status = out->created ? 201 : 200;
    if (r->sub != NULL) {
        /* A Bundle entry answers in the response Bundle's entry, which
         * takes these; it sends no headers. */
        r->sub->version = out->version;
        r->sub->updated_us = out->updated_us;
        r->sub->location = history_path(r, id, out->version);
        reply_written(r, status, out, id, NULL);
        return;
    }
    char *hdr = version_headers(r, out->version, out->updated_us);
    hdr = fhir_arena_printf(r->a, "%sLocation: %s/%s\r\n", hdr, r->base,
                            history_path(r, id, out->version));
    reply_written(r, status, out, id, hdr);
}

/* Checks `res` for the endpoint, writes it, ends the transaction (the
 * caller may have one open around it) and replies. */
static int
write_resource(srv_req *r, cJSON *res, const char *id, int64_t match,
               store_method method)
{
    fhir_err err = FHIR_ERR_INIT;
    store_put_result out;
    srv_prep own, *p = r->sub != NULL ? r->sub->prep : NULL;
    int rc = -1;
    memset(&out, 0, sizeof(out));
    if (p == NULL) {
        /* A create's text is written with its checks: version 1 (an
         * update's version is known only in the transaction). */
        p = &own;
        srv__prepare(p, r->srv, res, r->type, id,
                     method == STORE_METHOD_POST ? NULL : id,
                     method == STORE_METHOD_POST, r->a);
    }
    if (p->rc != 0) {
        err = p->err;
        if (method == STORE_METHOD_PATCH) {
            /* R4 http.html#patch: a patch that makes the resource
             * invalid is unprocessable. */
            err.status = 422;
        }
        reply_invalid(r, p->oo, &err);
        p->oo = NULL; /* the reply took it */
    } else if (put_resource(r, res, id, match, method, p, &out, &err) != 0) {
        srv__reply_err(r, &err);
    } else {
        reply_put(r, &out, id);
        rc = 0;
    }
    free(out.body);
    srv__prepare_clear(p);
    return rc;
}

const char *
srv__if_none_exist_query(const char *s)
{
    /* "identifier=a|b"; some clients send "Task?identifier=a|b". */
    const char *qm = strchr(s, '?');
    const char *eq = strchr(s, '=');
    return qm != NULL && (eq == NULL || qm < eq) ? qm + 1 : s;
}

/* Resolves a conditional URL's parameters (`qs`, or the request's own
 * query when NULL) to at most max + 1 ids; on failure replies. */
static int
cond_match(srv_req *r, const char *qs, size_t max, const char ***ids, size_t *n)
{
    fhir_err err = FHIR_ERR_INIT;
    search_query q = r->query;
    if (qs != NULL) {
        qs = srv__if_none_exist_query(qs);
        if (search_query_parse(&q, r->a, qs, strlen(qs), &err) != 0) {
            srv__reply_err(r, &err);
            return -1;
        }
    }
    if (srv__match(r, r->type, &q, max, ids, n, &err) != 0) {
        srv__reply_err(r, &err);
        return -1;
    }
    return 0;
}

/* Replies 412 for a conditional URL matching several resources. */
static void
reply_multiple(srv_req *r, size_t n, const char *what)
{
    srv__reply_issue(r, 412, FHIR_ISSUE_MULTIPLE_MATCHES,
                     "%s: the criteria match %s%zu %s resources; they must "
                     "match at most one",
                     what, n > 1 ? "more than " : "", n > 1 ? n - 1 : n,
                     fhir_type_name(r->type));
}

/* Resolves the request's own criteria to at most one id: 1 (*id set),
 * 0 none, -1 replied (several match, or the criteria are bad). */
static int
cond_one(srv_req *r, const char *what, const char **id)
{
    const char **ids = NULL;
    size_t n = 0;
    *id = NULL;
    if (cond_match(r, NULL, 1, &ids, &n) != 0) {
        return -1;
    }
    if (n > 1) {
        reply_multiple(r, n, what);
        return -1;
    }
    *id = n ? ids[0] : NULL;
    return (int)n;
}

/* Conditional create (R4 http.html#ccreate), inside the write
 * transaction: 0 -> 0 no match (create), 1 answered, -1 failed. */
static int
create_exists(srv_req *r, const char *cond)
{
    fhir_err err = FHIR_ERR_INIT;
    const char **ids = NULL;
    size_t n = 0;
    store_res res;
    if (cond_match(r, cond, 1, &ids, &n) != 0) {
        return -1;
    }
    if (n == 0) {
        return 0;
    }
    if (n > 1) {
        reply_multiple(r, n, "If-None-Exist");
        return -1;
    }
    store_db *db = srv__db(r, &err);
    if (db == NULL || store_read(&res, db, r->type, ids[0], 0, &err) != 0) {
        srv__reply_err(r, &err);
        return -1;
    }
    store_put_result out = {res.version, res.updated_us, 0, res.body, res.len};
    reply_put(r, &out, ids[0]);
    store_res_clear(&res);
    return 1;
}

static int
do_create(srv_req *r)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *res = NULL;
    char fresh[37];
    const char *id = r->sub && r->sub->new_id ? r->sub->new_id : NULL;
    const char *cond = srv__header(r, "If-None-Exist");
    int rc = -1;
    if (srv__read_json(r, &res) != 0) {
        return -1;
    }
    if (id == NULL) {
        fhir_id_new(fresh);
        id = fresh;
    }
    if (cond == NULL) {
        rc = write_resource(r, res, id, 0, STORE_METHOD_POST);
    } else if (srv__tx_begin(r, &err) != 0) {
        srv__reply_err(r, &err);
    } else {
        /* The check and the create share one transaction: two clients
         * sending the same conditional create cannot both create. */
        int found = create_exists(r, cond);
        if (found == 0) {
            rc = write_resource(r, res, id, 0, STORE_METHOD_POST);
        } else {
            rc = found > 0 ? 0 : -1;
        }
        if (srv__tx_end(r, rc == 0, &err) != 0) {
            srv__reply_err(r, &err); /* not reached: nothing to commit */
        }
    }
    cJSON_Delete(res);
    return rc;
}

static int
do_update(srv_req *r)
{
    cJSON *res = NULL;
    const char *id = r->seg[1];
    int rc = -1;
    if (check_id(r, id) != 0) {
        return -1;
    }
    int64_t match = if_match(r);
    if (match < 0 || srv__read_json(r, &res) != 0) {
        return -1;
    }
    rc = write_resource(r, res, id, match, STORE_METHOD_PUT);
    cJSON_Delete(res);
    return rc;
}

/* PUT /fhir/Task?identifier=...: R4 http.html#cond-update. */
static int
do_cond_update(srv_req *r)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *res = NULL;
    char fresh[37];
    int rc = -1;
    int64_t match = if_match(r);
    if (match < 0 || srv__read_json(r, &res) != 0) {
        return -1;
    }
    if (srv__tx_begin(r, &err) != 0) {
        srv__reply_err(r, &err);
        cJSON_Delete(res);
        return -1;
    }
    const char *body_id = fhir_json_str(res, "id");
    const char *id = NULL;
    int found = cond_one(r, "Conditional update", &id);
    if (found < 0) {
        goto done;
    }
    if (found == 1) {
        if (body_id != NULL && strcmp(body_id, id) != 0) {
            srv__reply_issue(r, 400, FHIR_ISSUE_INVALID,
                             "The resource id %.64s is not the id of the "
                             "resource the criteria match (%s)",
                             body_id, id);
            goto done;
        }
    } else if (body_id != NULL) {
        /* No match and an id: an update as create with that id. */
        if (check_id(r, body_id) != 0) {
            goto done;
        }
        id = fhir_arena_strdup(r->a, body_id);
    } else {
        fhir_id_new(fresh);
        id = fhir_arena_strdup(r->a, fresh);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(res, "id");
    fhir_json_insert(res, 1, "id", cJSON_CreateString(id));
    rc = write_resource(r, res, id, match, STORE_METHOD_PUT);
done:
    if (srv__tx_end(r, rc == 0, &err) != 0) {
        srv__reply_err(r, &err);
        rc = -1;
    }
    cJSON_Delete(res);
    return rc;
}

/* Deletes one resource in the request's transaction. */
static int
delete_one(srv_req *r, const char *id, int64_t match, store_del_result *out,
           fhir_err *err)
{
    int began = srv__tx_begin(r, err) == 0;
    int ok = began && store_tx_delete(out, r->tx, r->type, id, match, err) == 0;
    if (began && srv__tx_end(r, ok, err) != 0) {
        ok = 0;
    }
    if (!ok && err->issue == FHIR_ISSUE_CONFLICT && match > 0) {
        err->status = 412;
    }
    return ok ? 0 : -1;
}

static void
reply_deleted(srv_req *r, const char *diag, int64_t version)
{
    if (r->sub != NULL) {
        r->sub->version = version;
    }
    srv__reply_json(
        r, 200,
        fhir_oo_new("information", FHIR_ISSUE_INFORMATIONAL, diag, NULL),
        version > 0 ? fhir_arena_printf(r->a, "ETag: W/\"%lld\"\r\n",
                                        (long long)version)
                    : NULL);
}

static int
do_delete(srv_req *r)
{
    fhir_err err = FHIR_ERR_INIT;
    store_del_result out;
    const char *id = r->seg[1];
    char diag[160];
    if (check_id(r, id) != 0) {
        return -1;
    }
    int64_t match = if_match(r);
    if (match < 0) {
        return -1;
    }
    if (delete_one(r, id, match, &out, &err) != 0) {
        srv__reply_err(r, &err);
        return -1;
    }
    snprintf(diag, sizeof(diag), "%s %s/%s (version %lld)",
             out.already ? "Already deleted:" : "Deleted",
             fhir_type_name(r->type), id, (long long)out.version);
    reply_deleted(r, diag, out.version);
    return 0;
}

/* DELETE /fhir/Task?identifier=...: R4 http.html#cdelete. One match by
 * default; up to --cond-delete-max when the server allows more. */
static int
do_cond_delete(srv_req *r)
{
    fhir_err err = FHIR_ERR_INIT;
    const char **ids = NULL;
    size_t n = 0, max = (size_t)r->srv->cfg.cond_delete_max;
    char diag[160];
    int rc = -1;
    int64_t match = if_match(r);
    if (match < 0) {
        return -1;
    }
    if (srv__tx_begin(r, &err) != 0) {
        srv__reply_err(r, &err);
        return -1;
    }
    if (cond_match(r, NULL, max, &ids, &n) != 0) {
        goto done;
    }
    if (n > max) {
        srv__reply_issue(r, 412, FHIR_ISSUE_MULTIPLE_MATCHES,
                         "Conditional delete: the criteria match more than "
                         "%zu %s resource%s (the server's limit)",
                         max, fhir_type_name(r->type), max == 1 ? "" : "s");
        goto done;
    }
    if (match > 0 && n != 1) {
        srv__reply_issue(r, 412, FHIR_ISSUE_CONFLICT,
                         "If-Match needs the criteria to match exactly one "
                         "resource; they match %zu",
                         n);
        goto done;
    }
    store_del_result out;
    memset(&out, 0, sizeof(out));
    for (size_t i = 0; i < n; i++) {
        if (delete_one(r, ids[i], match, &out, &err) != 0) {
            srv__reply_err(r, &err);
            goto done;
        }
    }
    rc = 0;
done:
    if (srv__tx_end(r, rc == 0, &err) != 0) {
        srv__reply_err(r, &err);
        return -1;
    }
    if (rc == 0) {
        if (n == 1) {
            snprintf(diag, sizeof(diag), "Deleted %s/%s (version %lld)",
                     fhir_type_name(r->type), ids[0], (long long)out.version);
        } else {
            snprintf(diag, sizeof(diag), "Deleted %zu %s resource%s", n,
                     fhir_type_name(r->type), n == 1 ? "" : "s");
        }
        reply_deleted(r, diag, n == 1 ? out.version : 0);
    }
    return rc;
}

/* ---- patch ---------------------------------------------------------- */

/* profiles/ answers FHIRPath Patch's questions about elements. */
static unsigned
patch_elem(void *ctx, const char *path, const char *name)
{
    return prof_element_flags(ctx, path, name);
}

/* Applies `doc` to the current version of `id` and writes the result as
 * an update would, in the request's transaction (open). */
static int
patch_resource(srv_req *r, const char *id, const cJSON *doc, int json_patch,
               int64_t match)
{
    fhir_err err = FHIR_ERR_INIT;
    store_res cur;
    cJSON *res = NULL;
    fhir_json_opts jo = {512, 0};
    store_db *db = srv__db(r, &err);
    if (db == NULL || store_read(&cur, db, r->type, id, 0, &err) != 0) {
        srv__reply_err(r, &err);
        return -1;
    }
    if (cur.deleted) {
        store_res_clear(&cur);
        srv__reply_issue(r, 410, FHIR_ISSUE_DELETED,
                         "%s/%s was deleted; there is nothing to patch",
                         fhir_type_name(r->type), id);
        return -1;
    }
    if (match > 0 && match != cur.version) {
        srv__reply_issue(r, 412, FHIR_ISSUE_CONFLICT,
                         "Version conflict: %s/%s is at version %lld, not "
                         "%lld",
                         fhir_type_name(r->type), id, (long long)cur.version,
                         (long long)match);
        store_res_clear(&cur);
        return -1;
    }
    int64_t version = cur.version;
    int rc = fhir_json_parse(&res, cur.body, cur.len, &jo, &err);
    store_res_clear(&cur);
    if (rc == 0) {
        fhir_patch_schema schema = {patch_elem, r->srv->prof};
        rc = json_patch ? fhir_patch_json(res, doc, &err)
                        : fhir_patch_fhirpath(res, doc, &schema, &err);
    }
    if (rc != 0) {
        srv__reply_err(r, &err);
        cJSON_Delete(res);
        return -1;
    }
    if (!cJSON_IsObject(res)) {
        srv__reply_issue(r, 422, FHIR_ISSUE_PROCESSING,
                         "The patched document is not a resource");
        cJSON_Delete(res);
        return -1;
    }
    /* The version read stays the one written over. */
    rc = write_resource(r, res, id, version, STORE_METHOD_PATCH);
    cJSON_Delete(res);
    return rc;
}

/* PATCH /fhir/Task/1 and PATCH /fhir/Task?criteria (R4 http.html#patch):
 * JSON Patch or FHIRPath Patch, If-Match honoured. */
static int
do_patch(srv_req *r)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *doc = NULL;
    const char *id = r->nseg >= 2 ? r->seg[1] : NULL;
    int json_patch = 0, rc = -1;
    if (id != NULL && check_id(r, id) != 0) {
        return -1;
    }
    int64_t match = if_match(r);
    if (match < 0 || srv__read_patch(r, &doc, &json_patch) != 0) {
        return -1;
    }
    if (srv__tx_begin(r, &err) != 0) {
        srv__reply_err(r, &err);
        cJSON_Delete(doc);
        return -1;
    }
    if (id == NULL) {
        int found = cond_one(r, "Conditional patch", &id);
        if (found == 0) {
            srv__reply_issue(r, 404, FHIR_ISSUE_NOT_FOUND,
                             "No %s matches the conditional patch",
                             fhir_type_name(r->type));
        }
        if (found != 1) {
            goto done;
        }
    }
    rc = patch_resource(r, id, doc, json_patch, match);
done:
    if (srv__tx_end(r, rc == 0, &err) != 0) {
        srv__reply_err(r, &err);
        rc = -1;
    }
    cJSON_Delete(doc);
    return rc;
}

/* ---- history -------------------------------------------------------- */

struct hist_ctx {
    srv_req *r;
    cJSON *bundle;
    int n;
    int64_t last_us;
};

static const char *
method_name(store_method m)
{
    switch (m) {
    case STORE_METHOD_POST:
        return "POST";
    case STORE_METHOD_DELETE:
        return "DELETE";
    case STORE_METHOD_PATCH:
        return "PATCH";
    default:
        return "PUT";
    }
}

static int
hist_entry(void *ctx, const store_hist_entry *e)
{
    struct hist_ctx *h = ctx;
    srv_req *r = h->r;
    const char *type = fhir_type_name(e->type);
    char when[40], etag[32];
    cJSON *entry = fhir_bundle_add_entry(h->bundle);

    cJSON_AddStringToObject(
        entry, "fullUrl",
        fhir_arena_printf(r->a, "%s/%s/%s", r->base, type, e->id));
    if (e->body != NULL) {
        cJSON *res = NULL;
        if (r->pretty) {
            fhir_json_opts jo = {512, 0};
            fhir_err err = FHIR_ERR_INIT;
            if (fhir_json_parse(&res, e->body, e->len, &jo, &err) != 0) {
                res = NULL;
            }
        }
        if (res == NULL) {
            res = fhir_json_raw(e->body, e->len);
        }
        cJSON_AddItemToObject(entry, "resource", res);
    }
    cJSON *req = cJSON_AddObjectToObject(entry, "request");
    cJSON_AddStringToObject(req, "method", method_name(e->method));
    cJSON_AddStringToObject(req, "url",
                            e->method == STORE_METHOD_POST
                                ? type
                                : fhir_arena_path(r->a, type, e->id));
    cJSON *resp = cJSON_AddObjectToObject(entry, "response");
    cJSON_AddStringToObject(resp, "status",
                            e->method == STORE_METHOD_DELETE ? "204 No Content"
                            : e->version == 1 || e->method == STORE_METHOD_POST
                                ? "201 Created"
                                : "200 OK");
    snprintf(etag, sizeof(etag), "W/\"%lld\"", (long long)e->version);
    cJSON_AddStringToObject(resp, "etag", etag);
    fhir_instant_format(when, sizeof(when), e->updated_us);
    cJSON_AddStringToObject(resp, "lastModified", when);
    h->n++;
    h->last_us = e->updated_us;
    return 0;
}

/* Reads a non-negative integer parameter; -1 replied 400. */
static int
int_param(srv_req *r, const char *name, long long dflt, long long *out)
{
    const char *v = search_query_get(&r->query, name);
    char *end = NULL;
    *out = dflt;
    if (v == NULL) {
        return 0;
    }
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < 0) {
        srv__reply_issue(r, 400, FHIR_ISSUE_INVALID,
                         "%s must be a non-negative integer, not '%.40s'", name,
                         v);
        return -1;
    }
    *out = n;
    return 0;
}

static int
do_history(srv_req *r)
{
    fhir_err err = FHIR_ERR_INIT;
    store_hist_query q = {r->type, NULL, 0, 0, 0};
    long long count, cursor;
    const char *since = search_query_get(&r->query, "_since");
    store_db *db;

    if (r->nseg >= 3) {
        if (check_id(r, r->seg[1]) != 0) {
            return -1;
        }
        q.id = r->seg[1];
    }
    if (int_param(r, "_count", r->srv->cfg.default_count, &count) != 0 ||
        int_param(r, "_cursor", 0, &cursor) != 0) {
        return -1;
    }
    if (count > r->srv->cfg.max_count) {
        count = r->srv->cfg.max_count;
    }
    if (since != NULL) {
        fhir_date_range d;
        if (fhir_date_parse(&d, since, &err) != 0) {
            srv__reply_issue(r, 400, FHIR_ISSUE_INVALID,
                             "_since must be an instant, not '%.64s'", since);
            return -1;
        }
        q.since_us = d.lo;
    }
    q.before_us = cursor;
    q.count = (int)count;

    db = srv__db(r, &err);
    cJSON *bundle = fhir_bundle_new("history");
    fhir_buf link = FHIR_BUF_INIT;
    fhir_buf_puts(&link, r->base);
    for (int i = 0; i < r->nseg; i++) {
        fhir_buf_printf(&link, "/%s", r->seg[i]);
    }
    size_t plen = link.len;
    if (r->ri->query_string != NULL && r->ri->query_string[0] != '\0') {
        fhir_buf_printf(&link, "?%s", r->ri->query_string);
    }
    fhir_bundle_add_link(bundle, "self", link.data);
    struct hist_ctx h = {r, bundle, 0, 0};
    if (db == NULL ||
        (count > 0 && store_history(db, &q, hist_entry, &h, &err) != 0)) {
        fhir_buf_clear(&link);
        cJSON_Delete(bundle);
        srv__reply_err(r, &err);
        return -1;
    }
    if (count > 0 && h.n == count) {
        link.len = plen;
        fhir_buf_printf(&link, "?_count=%lld", count);
        if (since != NULL) {
            fhir_buf_puts(&link, "&_since=");
            srv__put_encoded(&link, since);
        }
        fhir_buf_printf(&link, "&_cursor=%lld", (long long)h.last_us);
        fhir_bundle_add_link(bundle, "next", link.data);
    }
    fhir_buf_clear(&link);
    srv__reply_json(r, 200, bundle, NULL);
    return 0;
}

/* ---- search ---------------------------------------------------------- */

static int
do_search(srv_req *r)
{
    return srv__search(r, &r->query);
}

/* POST /fhir/{type}/_search: parameters in a form body, plus any in the
 * URL (R4 http.html#search: both together are the search). */
static int
do_search_post(srv_req *r)
{
    const char *ct = srv__header(r, "Content-Type");
    fhir_buf body = FHIR_BUF_INIT;
    search_query form, all;
    fhir_err err = FHIR_ERR_INIT;
    int rc = -1;
    if (r->sub != NULL) {
        return srv__search(r, &r->query); /* a Bundle entry: URL only */
    }
    if (ct == NULL ||
        strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        srv__reply_issue(r, 415, FHIR_ISSUE_NOT_SUPPORTED,
                         "POST _search takes an "
                         "application/x-www-form-urlencoded body");
        return -1;
    }
    if (srv__read_raw(r, &body) != 0) {
        return -1;
    }
    if (search_query_parse(&form, r->a, body.data ? body.data : "", body.len,
                           &err) != 0) {
        srv__reply_err(r, &err);
        goto done;
    }
    all.n = r->query.n + form.n;
    all.params = fhir_arena_alloc(r->a, (all.n + 1) * sizeof(search_pair));
    if (r->query.n > 0) {
        memcpy(all.params, r->query.params, r->query.n * sizeof(search_pair));
    }
    if (form.n > 0) {
        memcpy(all.params + r->query.n, form.params,
               form.n * sizeof(search_pair));
    }
    rc = srv__search(r, &all);
done:
    fhir_buf_clear(&body);
    return rc;
}

/* ---- capabilities --------------------------------------------------- */

static int
do_capabilities(srv_req *r)
{
    const char *body =
        r->pretty ? r->srv->capability_pretty : r->srv->capability;
    srv__reply_raw(r, 200, body, strlen(body), NULL);
    return 0;
}

/* ---- the table ------------------------------------------------------ */

const srv_interaction srv_interactions[] = {
    {"capabilities", SRV_LEVEL_NONE, SRV_SHAPE_METADATA, SRV_GET,
     do_capabilities},
    {"read", SRV_LEVEL_TYPE, SRV_SHAPE_INSTANCE, SRV_GET, do_read},
    {"vread", SRV_LEVEL_TYPE, SRV_SHAPE_VERSION, SRV_GET, do_vread},
    {"update", SRV_LEVEL_TYPE, SRV_SHAPE_INSTANCE, SRV_PUT, do_update},
    {"delete", SRV_LEVEL_TYPE, SRV_SHAPE_INSTANCE, SRV_DELETE, do_delete},
    {"update", SRV_LEVEL_TYPE, SRV_SHAPE_TYPE, SRV_PUT, do_cond_update},
    {"delete", SRV_LEVEL_TYPE, SRV_SHAPE_TYPE, SRV_DELETE, do_cond_delete},
    {"patch", SRV_LEVEL_TYPE, SRV_SHAPE_INSTANCE, SRV_PATCH, do_patch},
    {"patch", SRV_LEVEL_TYPE, SRV_SHAPE_TYPE, SRV_PATCH, do_patch},
    {"history-instance", SRV_LEVEL_TYPE, SRV_SHAPE_INST_HIST, SRV_GET,
     do_history},
    {"history-type", SRV_LEVEL_TYPE, SRV_SHAPE_TYPE_HIST, SRV_GET, do_history},
    {"create", SRV_LEVEL_TYPE, SRV_SHAPE_TYPE, SRV_POST, do_create},
    {"search-type", SRV_LEVEL_TYPE, SRV_SHAPE_TYPE, SRV_GET, do_search},
    {"search-type", SRV_LEVEL_TYPE, SRV_SHAPE_TYPE_SEARCH, SRV_POST,
     do_search_post},
    {"search-system", SRV_LEVEL_SYSTEM, SRV_SHAPE_BASE, SRV_GET, do_search},
    {"transaction", SRV_LEVEL_SYSTEM, SRV_SHAPE_BASE, SRV_POST, srv__bundle},
    {"batch", SRV_LEVEL_SYSTEM, SRV_SHAPE_BASE, SRV_POST, srv__bundle},
    {"history-system", SRV_LEVEL_SYSTEM, SRV_SHAPE_HIST_SYS, SRV_GET,
     do_history},
    /* Not interaction codes: listed as rest.compartment and as the
     * Patient resource's operation by capability.c. */
    {"compartment", SRV_LEVEL_NONE, SRV_SHAPE_COMPARTMENT, SRV_GET,
     srv__compartment},
    {"operation", SRV_LEVEL_NONE, SRV_SHAPE_INST_OP, SRV_GET, srv__operation},
};

const int srv_ninteractions =
    (int)(sizeof(srv_interactions) / sizeof(srv_interactions[0]));
