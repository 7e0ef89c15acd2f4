/* server/bundle.c - transaction and batch Bundles (R4 http.html#transaction):
 * POST /fhir with a Bundle of type transaction or batch.
 *
 * Every entry runs as a request of its own through the same routing table
 * and handlers as a single HTTP request (srv_sub: headers and body from
 * the entry, reply captured), so an entry writes exactly the history and
 * index rows its single-request twin would, and is checked the same way.
 *
 * A batch runs each entry alone, in its own write transaction. A
 * transaction runs all of them in one: it first resolves, against the
 * database as it is when the transaction begins, every conditional URL
 * (ifNoneExist, conditional update, patch and delete) and every
 * conditional reference, gives each POST entry its new id, and rewrites
 * every reference to an entry's fullUrl (urn:uuid:, urn:oid:, absolute or
 * relative) to the resource's Type/id; then it runs the entries in the
 * spec's order (DELETE, POST, PUT and PATCH, GET and HEAD) and commits
 * only when all succeeded. A transaction carrying Bundle.identifier keeps
 * its response (store replay table) so that a retry is answered without
 * running it again.
 */
#include "server/server.h"
#include "server/server_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct entry {
    int index;
    cJSON *json; /* Bundle.entry[index] */
    const char *full_url;
    srv_method method;
    const char *path; /* request.url below the base, without the query */
    const char *qs;   /* its query string ("" when none) */
    int type;         /* served type of the path's first segment, or -1 */
    const char *id;   /* the instance the entry writes (transaction) */
    const char *if_none_exist;
    int exists; /* a conditional create that matched: read it */
    srv_sub sub;
    long prep_at; /* its place in the preparer's order, or -1 */
    srv_prep prep;
} entry;

/* fullUrl -> "Type/id" of a transaction's entries: a hash table with open
 * addressing (a 1,000-entry Bundle looks up a few thousand references). */
typedef struct urlmap {
    const char **key; /* NULL: free slot */
    const char **val;
    size_t cap; /* a power of two; 0 when no entry has a fullUrl */
} urlmap;

/* Prepares a transaction's POST and PUT entries (srv__prepare: checks,
 * index rows and the text of a first version) on a thread of its own, in
 * the order they are written, while the request thread writes those
 * already prepared: on a machine with two cores that work leaves the
 * write path. An entry belongs to the preparing thread until it is
 * counted in `ready`, then to the request thread alone. */
typedef struct preparer {
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t ready;    /* order[0 .. ready) are prepared */
    atomic_int stop; /* the transaction ended: prepare no more */
    struct entry **order;
    size_t n;
    srv_server *srv;
    fhir_arena *a; /* the index rows (the request's arena is not shared) */
} preparer;

typedef struct bundle_ctx {
    srv_req *r;
    preparer prep;
    entry *e;
    size_t n;
    int transaction;
    srv_return ret; /* what entries answer with */
    urlmap map;
    fhir_err err;       /* the failure */
    const entry *where; /* the entry that failed, or NULL */
} bundle_ctx;

static const char *const method_names[] = {
    [SRV_GET] = "GET", [SRV_HEAD] = "HEAD",     [SRV_POST] = "POST",
    [SRV_PUT] = "PUT", [SRV_DELETE] = "DELETE", [SRV_PATCH] = "PATCH",
    [SRV_OTHER] = "?"};

/* Records a failure (of entry `at`, or of the whole Bundle); -1. */
static int
fail_at(bundle_ctx *b, const entry *at, fhir_issue issue, int status,
        const char *fmt, const char *arg)
{
    fhir_err_set(&b->err, issue, fmt, arg ? arg : "");
    if (status > 0) {
        b->err.status = status;
    }
    b->where = at;
    return -1;
}

/* ---- reading the entries ------------------------------------------------ */

static srv_method
entry_method(const char *m)
{
    for (int i = SRV_GET; i < SRV_OTHER; i++) {
        if (m != NULL && strcmp(m, method_names[i]) == 0) {
            return (srv_method)i;
        }
    }
    return SRV_OTHER;
}

/* A JSON Patch travels in a Bundle as a Binary (R4 http.html#patch). */
static int
binary_patch(bundle_ctx *b, entry *en, cJSON *res)
{
    const char *ct = fhir_json_str(res, "contentType");
    const char *data = fhir_json_str(res, "data");
    fhir_buf raw = FHIR_BUF_INIT;
    fhir_json_opts jo = FHIR_JSON_OPTS_INIT;
    fhir_err err = FHIR_ERR_INIT;
    cJSON *ops = NULL;
    if (ct == NULL || strncmp(ct, "application/json-patch+json", 27) != 0 ||
        data == NULL) {
        return fail_at(b, en, FHIR_ISSUE_INVALID, 400,
                       "A PATCH entry's Binary must have contentType "
                       "application/json-patch+json and data%s",
                       NULL);
    }
    jo.fhir_rules = 0;
    jo.max_depth = b->r->srv->cfg.max_depth;
    if (fhir_base64_decode(&raw, data, strlen(data)) != 0 ||
        fhir_json_parse(&ops, raw.data ? raw.data : "", raw.len, &jo, &err) !=
            0) {
        fhir_buf_clear(&raw);
        return fail_at(b, en, FHIR_ISSUE_INVALID, 400,
                       "The Binary's data is not base64 of a JSON Patch "
                       "document%s",
                       NULL);
    }
    fhir_buf_clear(&raw);
    en->sub.body = ops;
    en->sub.content_type = "application/json-patch+json";
    return 0;
}

/* Reads entry i's request; resources stay in the Bundle until run. */
static int
read_entry(bundle_ctx *b, entry *en, cJSON *json, int i)
{
    srv_req *r = b->r;
    cJSON *req = cJSON_GetObjectItemCaseSensitive(json, "request");
    const char *url = fhir_json_str(req, "url");
    memset(en, 0, sizeof(*en));
    en->index = i;
    en->json = json;
    en->type = -1;
    en->full_url = fhir_json_str(json, "fullUrl");
    if (!cJSON_IsObject(json) || !cJSON_IsObject(req) || url == NULL) {
        return fail_at(b, en, FHIR_ISSUE_REQUIRED, 400,
                       "Each entry needs request.method and request.url%s",
                       NULL);
    }
    en->method = entry_method(fhir_json_str(req, "method"));
    if (en->method == SRV_OTHER) {
        return fail_at(b, en, FHIR_ISSUE_VALUE, 400,
                       "request.method must be GET, HEAD, POST, PUT, DELETE "
                       "or PATCH%s",
                       NULL);
    }
    /* request.url is relative to the base; an absolute URL must be on
     * this server. */
    size_t bl = strlen(r->base);
    if (strncmp(url, r->base, bl) == 0 &&
        (url[bl] == '/' || url[bl] == '?' || url[bl] == '\0')) {
        url += bl;
    } else if (strstr(url, "://") != NULL) {
        return fail_at(b, en, FHIR_ISSUE_NOT_SUPPORTED, 400,
                       "request.url %.200s is not on this server", url);
    }
    while (*url == '/') {
        url++;
    }
    const char *q = strchr(url, '?');
    en->path = q ? fhir_arena_strndup(r->a, url, (size_t)(q - url)) : url;
    en->qs = q ? q + 1 : "";
    if (en->path[0] == '\0' && en->method != SRV_GET &&
        en->method != SRV_HEAD) {
        return fail_at(b, en, FHIR_ISSUE_NOT_SUPPORTED, 400,
                       "An entry cannot post a Bundle to the base (no nested "
                       "transactions or batches)%s",
                       NULL);
    }
    char first[80];
    size_t fl = strcspn(en->path, "/");
    if (fl < sizeof(first)) {
        memcpy(first, en->path, fl);
        first[fl] = '\0';
        en->type = fhir_type_find(first);
    }
    en->sub.if_match = fhir_json_str(req, "ifMatch");
    en->sub.if_none_match = fhir_json_str(req, "ifNoneMatch");
    en->sub.if_modified_since = fhir_json_str(req, "ifModifiedSince");
    en->if_none_exist = fhir_json_str(req, "ifNoneExist");
    cJSON *res = cJSON_GetObjectItemCaseSensitive(json, "resource");
    if (en->method == SRV_POST || en->method == SRV_PUT ||
        en->method == SRV_PATCH) {
        if (!cJSON_IsObject(res)) {
            return fail_at(b, en, FHIR_ISSUE_REQUIRED, 400,
                           "A %s entry needs a resource",
                           method_names[en->method]);
        }
        if (en->method == SRV_PATCH) {
            const char *rt = fhir_json_str(res, "resourceType");
            if (rt != NULL && strcmp(rt, "Binary") == 0) {
                return binary_patch(b, en, res);
            }
            en->sub.content_type = "application/fhir+json";
        }
    }
    return 0;
}

/* ---- fullUrl map ------------------------------------------------------- */

/* The slot of key: its own, or the free one where it would go. */
static size_t
map_find(const urlmap *m, const char *key)
{
    size_t i = (size_t)fhir_hash(FHIR_HASH_SEED, key, strlen(key));
    for (i &= m->cap - 1; m->key[i] != NULL; i = (i + 1) & (m->cap - 1)) {
        if (strcmp(m->key[i], key) == 0) {
            break;
        }
    }
    return i;
}

static const char **
map_slot(const urlmap *m, const char *key)
{
    if (m->cap == 0 || key == NULL) {
        return NULL;
    }
    size_t i = map_find(m, key);
    return m->key[i] != NULL ? &m->val[i] : NULL;
}

/* The Type/id that a fullUrl stands for, or NULL. */
static const char *
map_get(const urlmap *m, const char *key)
{
    const char **v = map_slot(m, key);
    return v ? *v : NULL;
}

/* Collects the fullUrls (each at most once); values are set later. */
static int
map_build(bundle_ctx *b)
{
    urlmap *m = &b->map;
    m->cap = 16;
    while (m->cap < 2 * b->n) {
        m->cap *= 2;
    }
    m->key = fhir_arena_alloc(b->r->a, m->cap * sizeof(char *));
    m->val = fhir_arena_alloc(b->r->a, m->cap * sizeof(char *));
    memset(m->key, 0, m->cap * sizeof(char *));
    memset(m->val, 0, m->cap * sizeof(char *));
    for (size_t i = 0; i < b->n; i++) {
        const char *url = b->e[i].full_url;
        if (url == NULL) {
            continue;
        }
        size_t at = map_find(m, url);
        if (m->key[at] != NULL) {
            for (size_t k = 0; k < i; k++) {
                if (b->e[k].full_url != NULL &&
                    strcmp(b->e[k].full_url, url) == 0) {
                    return fail_at(b, &b->e[k], FHIR_ISSUE_DUPLICATE, 400,
                                   "Two entries have the fullUrl %.200s", url);
                }
            }
        }
        m->key[at] = url;
    }
    return 0;
}

static void
map_set(bundle_ctx *b, const entry *en, int type, const char *id)
{
    const char **v = map_slot(&b->map, en->full_url);
    if (v != NULL) {
        *v = fhir_arena_path(b->r->a, fhir_type_name(type), id);
    }
}

/* ---- conditional URLs and references ------------------------------------ */

/* Replaces the search values of q that are fullUrls of the transaction
 * by the Type/id they stand for. */
static void
map_values(const bundle_ctx *b, search_query *q)
{
    for (size_t i = 0; i < q->n; i++) {
        const char *v = map_get(&b->map, q->params[i].value);
        if (v != NULL) {
            q->params[i].value = v;
        }
    }
}

/* Parses a conditional URL's query, its fullUrls mapped. */
static int
criteria(bundle_ctx *b, const entry *en, const char *qs, search_query *q)
{
    fhir_err err = FHIR_ERR_INIT;
    if (search_query_parse(q, b->r->a, qs, strlen(qs), &err) != 0) {
        b->err = err;
        b->where = en;
        return -1;
    }
    map_values(b, q);
    return 0;
}

/* Resolves `qs` against type to at most max + 1 ids. */
static int
resolve(bundle_ctx *b, const entry *en, int type, const char *qs, size_t max,
        const char ***ids, size_t *n)
{
    search_query q;
    if (criteria(b, en, qs, &q) != 0) {
        return -1;
    }
    if (srv__match(b->r, type, &q, max, ids, n, &b->err) != 0) {
        b->where = en;
        return -1;
    }
    return 0;
}

/* Orders entries by the resource they write (type, id). */
static int
cmp_target(const void *x, const void *y)
{
    const entry *a = *(entry *const *)x, *b = *(entry *const *)y;
    if (a->type != b->type) {
        return a->type < b->type ? -1 : 1;
    }
    return strcmp(a->id, b->id);
}

/* Turns the conditional entries into plain ones and gives every write
 * entry its Type/id, before anything is written. */
static int
resolve_entries(bundle_ctx *b)
{
    srv_req *r = b->r;
    const char **ids = NULL;
    size_t n = 0;
    char fresh[37];
    for (size_t i = 0; i < b->n; i++) {
        entry *en = &b->e[i];
        if (en->method == SRV_GET || en->method == SRV_HEAD) {
            continue;
        }
        if (en->type < 0) {
            return fail_at(b, en, FHIR_ISSUE_NOT_FOUND, 404,
                           "request.url %.200s names no served resource type",
                           en->path);
        }
        int by_type = strchr(en->path, '/') == NULL;
        if (en->method == SRV_POST) {
            if (!by_type) {
                return fail_at(b, en, FHIR_ISSUE_INVALID, 400,
                               "A POST entry's url is the type (%.64s)",
                               en->path);
            }
            fhir_id_new(fresh);
            en->id = fhir_arena_strdup(r->a, fresh);
            if (en->if_none_exist != NULL) {
                if (resolve(b, en, en->type,
                            srv__if_none_exist_query(en->if_none_exist), 1,
                            &ids, &n) != 0) {
                    return -1;
                }
                if (n > 1) {
                    return fail_at(b, en, FHIR_ISSUE_MULTIPLE_MATCHES, 412,
                                   "ifNoneExist matches more than one "
                                   "resource%s",
                                   NULL);
                }
                if (n == 1) {
                    en->id = ids[0];
                    en->exists = 1;
                }
            }
        } else if (by_type) {
            /* Conditional update, patch or delete. */
            size_t max = en->method == SRV_DELETE
                             ? (size_t)r->srv->cfg.cond_delete_max
                             : 1;
            if (en->qs[0] == '\0') {
                return fail_at(b, en, FHIR_ISSUE_INVALID, 400,
                               "A %s by type needs search criteria",
                               method_names[en->method]);
            }
            if (resolve(b, en, en->type, en->qs, max, &ids, &n) != 0) {
                return -1;
            }
            if (n > max) {
                return fail_at(b, en, FHIR_ISSUE_MULTIPLE_MATCHES, 412,
                               "The criteria match more resources than a "
                               "conditional %s may change",
                               en->method == SRV_DELETE ? "delete"
                                                        : "update or patch");
            }
            if (en->method == SRV_PATCH && n == 0) {
                return fail_at(b, en, FHIR_ISSUE_NOT_FOUND, 404,
                               "No resource matches the conditional "
                               "patch%s",
                               NULL);
            }
            if (en->method == SRV_DELETE) {
                /* Left to the handler; its matches are checked for
                 * overlap with the other entries' targets below. */
                en->id = n == 1 ? ids[0] : NULL;
                continue;
            }
            if (n == 1) {
                en->id = ids[0];
            } else {
                cJSON *res =
                    cJSON_GetObjectItemCaseSensitive(en->json, "resource");
                const char *bid = fhir_json_str(res, "id");
                fhir_id_new(fresh);
                en->id = fhir_arena_strdup(r->a, bid ? bid : fresh);
            }
            en->path = fhir_arena_path(r->a, fhir_type_name(en->type), en->id);
            en->qs = "";
        } else {
            const char *slash = strchr(en->path, '/');
            en->id =
                fhir_arena_strndup(r->a, slash + 1, strcspn(slash + 1, "/"));
        }
        if (en->method != SRV_DELETE) {
            map_set(b, en, en->type, en->id);
        }
    }
    /* Two entries for one resource: R4 http.html#trules. */
    entry **by = fhir_arena_alloc(r->a, (b->n + 1) * sizeof(entry *));
    size_t nby = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->e[i].id != NULL) {
            by[nby++] = &b->e[i];
        }
    }
    if (nby > 1) {
        qsort(by, nby, sizeof(entry *), cmp_target);
    }
    for (size_t i = 1; i < nby; i++) {
        if (cmp_target(&by[i - 1], &by[i]) == 0) {
            entry *later = by[i]->index > by[i - 1]->index ? by[i] : by[i - 1];
            return fail_at(
                b, later, FHIR_ISSUE_DUPLICATE, 400,
                "Another entry of the transaction is for the "
                "same resource (%s)",
                fhir_arena_path(r->a, fhir_type_name(later->type), later->id));
        }
    }
    return 0;
}

/* The base of an absolute RESTful fullUrl ("http://x/fhir/Patient/1" ->
 * "http://x/fhir"), or NULL. */
static const char *
url_base(fhir_arena *a, const char *full)
{
    if (full == NULL || strstr(full, "://") == NULL) {
        return NULL;
    }
    const char *end = strrchr(full, '/');
    while (end != NULL && end > full) {
        const char *p = end - 1;
        while (p > full && *p != '/') {
            p--;
        }
        char type[80];
        size_t tl = (size_t)(end - p - 1);
        if (*p == '/' && tl < sizeof(type)) {
            memcpy(type, p + 1, tl);
            type[tl] = '\0';
            if (fhir_type_find(type) >= 0) {
                return fhir_arena_strndup(a, full, (size_t)(p - full));
            }
        }
        end = p > full ? p : NULL;
    }
    return NULL;
}

/* Rewrites one reference string; -1 when it cannot be resolved. */
static int
rewrite_ref(bundle_ctx *b, const entry *en, const char *base, cJSON *node)
{
    srv_req *r = b->r;
    const char *v = node->valuestring;
    const char *to = map_get(&b->map, v);
    if (to == NULL && base != NULL && strstr(v, "://") == NULL && v[0] != '#') {
        to = map_get(&b->map, fhir_arena_path(r->a, base, v));
    }
    if (to == NULL &&
        (strncmp(v, "urn:uuid:", 9) == 0 || strncmp(v, "urn:oid:", 8) == 0)) {
        return fail_at(b, en, FHIR_ISSUE_NOT_FOUND, 404,
                       "The reference %.200s is the fullUrl of no entry", v);
    }
    const char *qm = strchr(v, '?');
    if (to == NULL && qm != NULL && strchr(v, '/') == NULL) {
        /* A conditional reference (R4 http.html#trules): exactly one. */
        char type[80];
        size_t tl = (size_t)(qm - v);
        const char **ids = NULL;
        size_t n = 0;
        int t = -1;
        if (tl < sizeof(type)) {
            memcpy(type, v, tl);
            type[tl] = '\0';
            t = fhir_type_find(type);
        }
        if (t < 0) {
            return fail_at(b, en, FHIR_ISSUE_NOT_SUPPORTED, 400,
                           "The conditional reference %.200s names no "
                           "served type",
                           v);
        }
        if (resolve(b, en, t, qm + 1, 1, &ids, &n) != 0) {
            return -1;
        }
        if (n != 1) {
            return fail_at(
                b, en, n ? FHIR_ISSUE_MULTIPLE_MATCHES : FHIR_ISSUE_NOT_FOUND,
                n ? 412 : 404,
                n ? "The conditional reference %.200s matches "
                    "more than one resource"
                  : "The conditional reference %.200s matches "
                    "no resource",
                v);
        }
        to = fhir_arena_path(r->a, type, ids[0]);
    }
    if (to != NULL) {
        cJSON_SetValuestring(node, to);
    }
    return 0;
}

/* Every Reference anywhere in `node`: any object member "reference"
 * holding a string (nested elements, extensions, contained resources). */
static int
rewrite_refs(bundle_ctx *b, const entry *en, const char *base, cJSON *node)
{
    for (cJSON *c = node->child; c != NULL; c = c->next) {
        if (cJSON_IsString(c) && c->string != NULL &&
            strcmp(c->string, "reference") == 0 && cJSON_IsObject(node)) {
            if (rewrite_ref(b, en, base, c) != 0) {
                return -1;
            }
        } else if ((cJSON_IsObject(c) || cJSON_IsArray(c)) &&
                   rewrite_refs(b, en, base, c) != 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- preparing entries ahead of the writes ------------------------------ */

/* Phase of an entry in a transaction: R4 http.html#trules. */
static int
phase(const entry *en)
{
    switch (en->method) {
    case SRV_DELETE:
        return 0;
    case SRV_POST:
        return 1;
    case SRV_PUT:
    case SRV_PATCH:
        return 2;
    default:
        return 3;
    }
}

/* A transaction's PUT writes the id its entry targets (a resolved
 * conditional update the one it resolved to) when the body has none. */
static void
put_gets_id(const entry *en, cJSON *res)
{
    if (en->method == SRV_PUT && res != NULL &&
        fhir_json_str(res, "id") == NULL) {
        fhir_json_insert(res, 1, "id", cJSON_CreateString(en->id));
    }
}

/* Fewer preparable entries than this are prepared inline, each as it is
 * written: a thread costs more than it saves. */
#define PREPARE_MIN_ENTRIES 16

/* The resource of a POST or PUT entry a transaction will write, or NULL
 * when the entry is written otherwise (or not at all). */
static cJSON *
preparable(const entry *en)
{
    if (en->exists || en->id == NULL ||
        (en->method != SRV_POST && en->method != SRV_PUT)) {
        return NULL;
    }
    cJSON *res = cJSON_GetObjectItemCaseSensitive(en->json, "resource");
    return cJSON_IsObject(res) ? res : NULL;
}

static void *
prepare_run(void *arg)
{
    preparer *p = arg;
    for (size_t i = 0; i < p->n && !atomic_load(&p->stop); i++) {
        entry *en = p->order[i];
        cJSON *res = preparable(en);
        put_gets_id(en, res);
        srv__prepare(&en->prep, p->srv, res, en->type, en->id,
                     en->method == SRV_PUT ? en->id : NULL, 1, p->a);
        pthread_mutex_lock(&p->mu);
        p->ready = i + 1;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

/* Starts preparing the entries of phases POST and PUT (their ids and
 * references final) when there are enough of them. */
static void
prepare_start(bundle_ctx *b)
{
    preparer *p = &b->prep;
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        b->e[i].prep_at = -1;
        n += preparable(&b->e[i]) != NULL;
    }
    if (n < PREPARE_MIN_ENTRIES) {
        return;
    }
    p->order = fhir_arena_alloc(b->r->a, n * sizeof(entry *));
    for (int ph = 0; ph < 4; ph++) {
        for (size_t i = 0; i < b->n; i++) {
            entry *en = &b->e[i];
            if (phase(en) == ph && preparable(en) != NULL) {
                en->prep_at = (long)p->n;
                p->order[p->n++] = en;
            }
        }
    }
    p->srv = b->r->srv;
    p->a = fhir_arena_new();
    p->ready = 0;
    atomic_init(&p->stop, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->thread, NULL, prepare_run, p) != 0) {
        /* No thread: every entry is prepared inline. */
        for (size_t i = 0; i < p->n; i++) {
            p->order[i]->prep_at = -1;
        }
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        fhir_arena_free(p->a);
        p->a = NULL;
        return;
    }
    p->started = 1;
}

/* Lends entry en its prepared body, once it is ready. */
static void
prepare_wait(bundle_ctx *b, entry *en)
{
    preparer *p = &b->prep;
    if (!p->started || en->prep_at < 0) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    while (p->ready <= (size_t)en->prep_at) {
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    en->sub.prep = &en->prep;
}

/* Stops and joins the preparing thread; frees what it made. */
static void
prepare_end(bundle_ctx *b)
{
    preparer *p = &b->prep;
    if (!p->started) {
        return;
    }
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    for (size_t i = 0; i < p->ready; i++) {
        srv__prepare_clear(&p->order[i]->prep);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    fhir_arena_free(p->a);
    p->started = 0;
}

/* ---- running an entry --------------------------------------------------- */

/* Runs entry en as a request of its own, inside tx (NULL: its own). */
static void
run_entry(bundle_ctx *b, entry *en, srv_method method, const char *path,
          const char *qs, store_tx *tx)
{
    srv_req *p = b->r;
    srv_req r;
    fhir_err err = FHIR_ERR_INIT;
    struct mg_request_info *ri = fhir_arena_alloc(p->a, sizeof(*ri));
    memset(&r, 0, sizeof(r));
    r.srv = p->srv;
    r.worker = p->worker;
    r.a = p->a;
    r.type = -1;
    r.method = method;
    r.base = p->base;
    r.ret = method == SRV_GET || method == SRV_HEAD ? SRV_RETURN_REPRESENTATION
                                                    : b->ret;
    r.sub = &en->sub;
    r.tx = tx;
    ri->request_method = method_names[method];
    ri->local_uri = fhir_arena_printf(p->a, SRV_BASE_PATH "/%s", path);
    ri->query_string = qs;
    r.ri = ri;
    if (srv__split(&r, path) != 0) {
        srv__reply_issue(&r, 404, FHIR_ISSUE_NOT_FOUND,
                         "request.url %.200s is not a FHIR endpoint", path);
    } else if (search_query_parse(&r.query, r.a, qs, strlen(qs), &err) != 0) {
        srv__reply_err(&r, &err);
    } else {
        /* A search in a transaction may name its entries by fullUrl. */
        map_values(b, &r.query);
        srv__route(&r);
    }
}

static cJSON *
entry_resource_take(entry *en)
{
    return cJSON_DetachItemFromObjectCaseSensitive(en->json, "resource");
}

static void
run_one(bundle_ctx *b, entry *en, store_tx *tx)
{
    prepare_wait(b, en); /* before anything touches its entry */
    if (en->exists) {
        /* A conditional create that matched: answer with the match. */
        run_entry(b, en, SRV_GET,
                  fhir_arena_path(b->r->a, fhir_type_name(en->type), en->id),
                  "", tx);
        if (en->sub.status == 200) {
            en->sub.location = fhir_arena_printf(
                b->r->a, "%s/%s/_history/%lld", fhir_type_name(en->type),
                en->id, (long long)en->sub.version);
        }
        return;
    }
    if (en->method == SRV_POST || en->method == SRV_PUT) {
        en->sub.body = entry_resource_take(en);
    } else if (en->method == SRV_PATCH && en->sub.body == NULL) {
        en->sub.body = entry_resource_take(en);
    }
    if (tx != NULL && en->method == SRV_POST) {
        en->sub.new_id = en->id;
    } else if (tx == NULL) {
        en->sub.if_none_exist = en->if_none_exist;
    }
    if (tx != NULL) {
        put_gets_id(en, en->sub.body);
    }
    run_entry(b, en, en->method, en->path, en->qs, tx);
    cJSON_Delete(en->sub.body);
    en->sub.body = NULL;
}

/* ---- the response --------------------------------------------------- */

static const char *
status_line(fhir_arena *a, int status)
{
    const char *t = mg_get_response_code_text(NULL, status);
    return fhir_arena_printf(a, "%d %s", status, t ? t : "");
}

static void
add_response(bundle_ctx *b, cJSON *bundle, entry *en)
{
    srv_sub *s = &en->sub;
    cJSON *out = fhir_bundle_add_entry(bundle);
    int ok = s->status >= 200 && s->status < 300;
    int is_read = en->method == SRV_GET || en->method == SRV_HEAD || en->exists;
    int has_body = s->reply != NULL && s->reply_len > 0;
    const char *hist = s->location ? strstr(s->location, "/_history/") : NULL;
    if (ok && hist != NULL) {
        cJSON_AddStringToObject(
            out, "fullUrl",
            fhir_arena_printf(b->r->a, "%s/%.*s", b->r->base,
                              (int)(hist - s->location), s->location));
    }
    /* Reads answer with what they read; writes as Prefer asked. */
    int outcome =
        has_body &&
        strncmp(s->reply, "{\"resourceType\":\"OperationOutcome\"", 34) == 0;
    if (ok && has_body && !outcome &&
        (is_read || b->ret == SRV_RETURN_REPRESENTATION)) {
        cJSON_AddItemToObject(out, "resource",
                              fhir_json_raw(s->reply, s->reply_len));
    }
    cJSON *resp = cJSON_AddObjectToObject(out, "response");
    cJSON_AddStringToObject(resp, "status", status_line(b->r->a, s->status));
    if (s->location != NULL && ok) {
        cJSON_AddStringToObject(resp, "location", s->location);
    }
    if (s->version > 0 && ok) {
        cJSON_AddStringToObject(
            resp, "etag",
            fhir_arena_printf(b->r->a, "W/\"%lld\"", (long long)s->version));
    }
    if (s->updated_us > 0 && ok) {
        char when[40];
        fhir_instant_format(when, sizeof(when), s->updated_us);
        cJSON_AddStringToObject(resp, "lastModified", when);
    }
    if (has_body && outcome &&
        (!ok || b->ret == SRV_RETURN_OUTCOME || is_read)) {
        cJSON_AddItemToObject(resp, "outcome",
                              fhir_json_raw(s->reply, s->reply_len));
    }
}

/* The OperationOutcome of a failed transaction, naming the entry. */
static cJSON *
failure_outcome(bundle_ctx *b, const char *reply, size_t len)
{
    fhir_arena *a = b->r->a;
    const entry *en = b->where;
    const char *where =
        en == NULL ? "Bundle"
                   : fhir_arena_printf(a, "Bundle.entry[%d]", en->index);
    const char *who =
        en == NULL ? ""
        : en->full_url
            ? fhir_arena_printf(a, "%s (fullUrl %.200s): ", where, en->full_url)
            : fhir_arena_printf(a, "%s: ", where);
    /* The entry's own OperationOutcome, else one from the Bundle's
     * error; each issue then names the entry. */
    cJSON *oo = NULL;
    fhir_json_opts jo = FHIR_JSON_OPTS_INIT;
    fhir_err perr = FHIR_ERR_INIT;
    if (reply == NULL || fhir_json_parse(&oo, reply, len, &jo, &perr) != 0) {
        oo = fhir_oo_from_err(&b->err);
    }
    cJSON *issue;
    cJSON_ArrayForEach(issue, cJSON_GetObjectItemCaseSensitive(oo, "issue"))
    {
        const char *d = fhir_json_str(issue, "diagnostics");
        char *text = fhir_arena_printf(a, "%s%s", who, d ? d : "failed");
        cJSON_DeleteItemFromObjectCaseSensitive(issue, "diagnostics");
        cJSON_AddStringToObject(issue, "diagnostics", text);
        if (en != NULL &&
            cJSON_GetObjectItemCaseSensitive(issue, "expression") == NULL) {
            cJSON_AddItemToArray(cJSON_AddArrayToObject(issue, "expression"),
                                 cJSON_CreateString(where));
        }
    }
    return oo;
}

/* ---- idempotent retries ----------------------------------------------- */

/* "system|value" of Bundle.identifier, or NULL. */
static const char *
replay_key(fhir_arena *a, const cJSON *bundle)
{
    const cJSON *ident = cJSON_GetObjectItemCaseSensitive(bundle, "identifier");
    const char *sys = fhir_json_str(ident, "system");
    const char *val = fhir_json_str(ident, "value");
    if (val == NULL) {
        return NULL;
    }
    return fhir_arena_printf(a, "%s|%s", sys ? sys : "", val);
}

/* FNV-1a (64 bits) of the Bundle as received, to tell a retry from a
 * different transaction reusing an identifier (not a security check). */
static const char *
digest(fhir_arena *a, const cJSON *bundle)
{
    fhir_buf text = FHIR_BUF_INIT;
    fhir_json_write(&text, bundle, 0);
    uint64_t h = fhir_hash(FHIR_HASH_SEED, text.data, text.len);
    fhir_buf_clear(&text);
    return fhir_arena_printf(a, "%016llx", (unsigned long long)h);
}

/* ---- transaction and batch --------------------------------------------- */

/* Rolls the request's transaction back (which cannot fail). */
static void
abandon(srv_req *r)
{
    fhir_err err = FHIR_ERR_INIT;
    if (srv__tx_end(r, 0, &err) != 0) {
        srv__reply_err(r, &err); /* not reached: rollbacks do not fail */
    }
}

/* 1 when an entry's target is found by search (a conditional create,
 * update, patch or delete), which needs the transaction. */
static int
needs_lookup(const bundle_ctx *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const entry *en = &b->e[i];
        if ((en->method == SRV_POST && en->if_none_exist != NULL) ||
            ((en->method == SRV_PUT || en->method == SRV_PATCH ||
              en->method == SRV_DELETE) &&
             strchr(en->path, '/') == NULL)) {
            return 1;
        }
    }
    return 0;
}

/* Gives every write entry its Type/id, rewrites the references to
 * fullUrls and starts preparing the entries. */
static int
resolve_and_rewrite(bundle_ctx *b)
{
    if (resolve_entries(b) != 0) {
        return -1;
    }
    for (size_t i = 0; i < b->n; i++) {
        entry *en = &b->e[i];
        cJSON *res = cJSON_GetObjectItemCaseSensitive(en->json, "resource");
        cJSON *target = en->sub.body ? en->sub.body : res;
        if (target != NULL &&
            rewrite_refs(b, en, url_base(b->r->a, en->full_url), target) != 0) {
            return -1;
        }
    }
    prepare_start(b);
    return 0;
}

/* The transaction-response Bundle. */
static void
response_text(bundle_ctx *b, fhir_buf *text)
{
    cJSON *bundle = fhir_bundle_new("transaction-response");
    for (size_t i = 0; i < b->n; i++) {
        add_response(b, bundle, &b->e[i]);
    }
    fhir_json_write(text, bundle, 0);
    cJSON_Delete(bundle);
}

static int
run_transaction(bundle_ctx *b, cJSON *in)
{
    srv_req *r = b->r;
    fhir_err err = FHIR_ERR_INIT;
    const char *key = replay_key(r->a, in);
    const char *dig = key ? digest(r->a, in) : NULL;
    int64_t oldest =
        fhir_now_us() - (int64_t)r->srv->cfg.replay_window * 1000000;
    char *old_digest = NULL, *old = NULL;
    size_t old_len = 0;
    entry *failed = NULL;

    /* Without conditional entries the ids and references are known
     * before the transaction: the entries are prepared while it waits
     * for the writer. */
    int early = !needs_lookup(b);
    if (map_build(b) != 0 || (early && resolve_and_rewrite(b) != 0)) {
        goto reply_fail;
    }
    if (srv__tx_begin(r, &err) != 0) {
        srv__reply_err(r, &err);
        return -1;
    }
    if (key != NULL) {
        int found = store_tx_replay_get(r->tx, key, oldest, &old_digest, &old,
                                        &old_len, &err);
        if (found < 0) {
            goto store_fail;
        }
        if (found > 0) {
            int same = strcmp(old_digest, dig) == 0;
            abandon(r);
            if (same) {
                srv__reply_body(r, 200, old, old_len, NULL);
            } else {
                srv__reply_issue(r, 409, FHIR_ISSUE_DUPLICATE,
                                 "Bundle.identifier %.200s was already used "
                                 "by a different transaction",
                                 key);
            }
            free(old_digest);
            free(old);
            return same ? 0 : -1;
        }
    }
    if (!early && resolve_and_rewrite(b) != 0) {
        goto rollback_fail;
    }
    for (int ph = 0; ph < 4; ph++) {
        for (size_t i = 0; i < b->n; i++) {
            entry *en = &b->e[i];
            if (phase(en) != ph) {
                continue;
            }
            run_one(b, en, r->tx);
            if (en->sub.status >= 400 || en->sub.status == 0) {
                failed = en;
                b->where = en;
                goto rollback_fail;
            }
        }
    }
    /* The response is written inside the transaction only when it is
     * kept for retries; else after the commit, the writer free. */
    fhir_buf text = FHIR_BUF_INIT;
    if (key != NULL) {
        response_text(b, &text);
        if (store_tx_replay_put(r->tx, key, dig, text.data, text.len, oldest,
                                &err) != 0) {
            fhir_buf_clear(&text);
            goto store_fail;
        }
    }
    if (srv__tx_end(r, 1, &err) != 0) {
        fhir_buf_clear(&text);
        srv__reply_err(r, &err);
        return -1;
    }
    if (key == NULL) {
        response_text(b, &text);
    }
    srv__reply_body(r, 200, text.data, text.len, NULL);
    fhir_buf_clear(&text);
    return 0;

store_fail:
    abandon(r);
    srv__reply_err(r, &err);
    return -1;
rollback_fail:
    abandon(r);
reply_fail:
    srv__reply_json(r,
                    failed          ? failed->sub.status
                    : b->err.status ? b->err.status
                                    : 400,
                    failure_outcome(b, failed ? failed->sub.reply : NULL,
                                    failed ? failed->sub.reply_len : 0),
                    NULL);
    return -1;
}

static int
run_batch(bundle_ctx *b)
{
    srv_req *r = b->r;
    cJSON *bundle = fhir_bundle_new("batch-response");
    for (size_t i = 0; i < b->n; i++) {
        entry *en = &b->e[i];
        if (en->sub.status == 0) {
            run_one(b, en, NULL);
        }
        add_response(b, bundle, en);
    }
    srv__reply_json(r, 200, bundle, NULL);
    return 0;
}

/* Records a batch entry's own failure as its captured reply. */
static void
entry_failed(bundle_ctx *b, entry *en)
{
    fhir_buf t = FHIR_BUF_INIT;
    cJSON *oo = fhir_oo_from_err(&b->err);
    fhir_json_write(&t, oo, 0);
    cJSON_Delete(oo);
    en->sub.status = b->err.status ? b->err.status : 400;
    en->sub.reply = fhir_buf_take(&t, &en->sub.reply_len);
    fhir_err_clear(&b->err);
    b->where = NULL;
}

static void
free_entries(bundle_ctx *b)
{
    prepare_end(b);
    for (size_t i = 0; i < b->n; i++) {
        cJSON_Delete(b->e[i].sub.body);
        free(b->e[i].sub.reply);
    }
}

static int
do_bundle(srv_req *r)
{
    cJSON *in = NULL;
    bundle_ctx b;
    int rc = -1;
    memset(&b, 0, sizeof(b));
    b.r = r;
    if (srv__read_json(r, &in) != 0) {
        return -1;
    }
    const char *rt = fhir_json_str(in, "resourceType");
    const char *type = fhir_json_str(in, "type");
    if (rt == NULL || strcmp(rt, "Bundle") != 0) {
        srv__reply_issue(r, 400, FHIR_ISSUE_INVALID,
                         "POST to the base takes a Bundle of type "
                         "transaction or batch");
        goto done;
    }
    if (type == NULL ||
        (strcmp(type, "transaction") != 0 && strcmp(type, "batch") != 0)) {
        srv__reply_issue(r, 400, FHIR_ISSUE_VALUE,
                         "Bundle.type must be transaction or batch, not "
                         "'%.40s'",
                         type ? type : "(none)");
        goto done;
    }
    b.transaction = strcmp(type, "transaction") == 0;
    cJSON *entries = cJSON_GetObjectItemCaseSensitive(in, "entry");
    int n = cJSON_GetArraySize(entries);
    if (n > r->srv->cfg.max_bundle_entries) {
        srv__reply_issue(r, 413, FHIR_ISSUE_TOO_LONG,
                         "The Bundle has %d entries; the limit is %d", n,
                         r->srv->cfg.max_bundle_entries);
        goto done;
    }
    /* Entries answer with no resource unless the client asks. */
    const char *prefer = srv__header(r, "Prefer");
    b.ret = prefer && strstr(prefer, "return=representation")
                ? SRV_RETURN_REPRESENTATION
            : prefer && strstr(prefer, "return=OperationOutcome")
                ? SRV_RETURN_OUTCOME
                : SRV_RETURN_MINIMAL;
    b.e = fhir_arena_alloc(r->a, ((size_t)n + 1) * sizeof(entry));
    cJSON *json = entries ? entries->child : NULL;
    for (int i = 0; i < n; i++, json = json->next) {
        entry *en = &b.e[b.n++];
        if (read_entry(&b, en, json, i) != 0) {
            if (b.transaction) {
                srv__reply_json(r, b.err.status ? b.err.status : 400,
                                failure_outcome(&b, NULL, 0), NULL);
                goto done;
            }
            entry_failed(&b, en);
        }
    }
    rc = b.transaction ? run_transaction(&b, in) : run_batch(&b);
done:
    free_entries(&b);
    cJSON_Delete(in);
    return rc;
}

int
srv__bundle(srv_req *r)
{
    return do_bundle(r);
}
