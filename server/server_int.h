/* server/server_int.h - what the server's files share: the running
 * server, one request in flight, the interaction table, reply helpers.
 *
 * A request is routed by (method, path shape) to an interaction of the
 * table in rest.c; the same table generates the CapabilityStatement, so
 * the server never announces what it does not do.
 */
#ifndef SERVER_SERVER_INT_H
#define SERVER_SERVER_INT_H

#include "server/server.h"
#include "profiles/profiles.h"
#include "search/search.h"
#include "store/store.h"

#include <civetweb.h>

#define SRV_BASE_PATH "/fhir" /* where the FHIR endpoints live */

typedef struct srv_watchdog srv_watchdog; /* deadline.c */

struct srv_server {
    srv_config cfg;
    store_env *env;
    prof_registry *prof;
    search_registry *search;
    struct mg_context *mg;
    int port;
    int64_t started_us;
    char *capability;        /* CapabilityStatement, compact JSON */
    char *capability_pretty; /* the same, indented */
    srv_watchdog *watchdog;  /* ends body reads past their deadline */
};

/* One CivetWeb worker thread's state (mg_get_thread_pointer). */
typedef struct srv_worker {
    store_db *db; /* lent from the store's pool during a request */
} srv_worker;

typedef enum srv_method {
    SRV_GET,
    SRV_HEAD,
    SRV_POST,
    SRV_PUT,
    SRV_DELETE,
    SRV_PATCH,
    SRV_OTHER
} srv_method;

/* Prefer: return=... (R4 http.html#ops). */
typedef enum srv_return {
    SRV_RETURN_REPRESENTATION = 0,
    SRV_RETURN_MINIMAL,
    SRV_RETURN_OUTCOME
} srv_return;

/* What a write works out from the body alone, before its transaction:
 * the endpoint and profile checks, and when they pass the index rows and
 * (for a possible first version) its text (srv__prepare). A transaction Bundle
 * prepares its entries on a thread of its own while the request thread writes
 * (bundle.c). */
typedef struct srv_prep {
    int rc;         /* srv__check_resource's result: 0 valid */
    cJSON *oo;      /* its OperationOutcome (warnings or errors), or NULL */
    fhir_err err;   /* the failure when rc != 0 */
    fhir_rows rows; /* when rc == 0 */
    char *body;     /* when rc == 0 and asked: store_put.body (malloc'd) */
    size_t body_len;
} srv_prep;

/* A Bundle entry run as a request of its own (bundle.c): it has no
 * connection; its headers and body come from the entry and its reply is
 * captured here for the response Bundle. */
typedef struct srv_sub {
    cJSON *body; /* the entry's resource, until a handler takes it */
    const char *if_match, *if_none_match, *if_modified_since, *if_none_exist,
        *content_type;
    const char *new_id; /* the id a create uses (chosen by the bundle) */
    srv_prep *prep;     /* the body already prepared, or NULL */
    /* the reply */
    int status;
    char *reply; /* malloc'd body ("" for none) */
    size_t reply_len;
    int64_t version, updated_us; /* of the version answered, or 0 */
    const char *location;        /* "Task/1/_history/2", or NULL */
} srv_sub;

typedef struct srv_req {
    srv_server *srv;
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    srv_worker *worker;
    fhir_arena *a;
    srv_method method;
    /* Path below the base, split at '/': e.g. {"Task","123","_history"} */
    const char *seg[6];
    int nseg;
    int type; /* served type index of seg[0], or -1 */
    search_query query;
    int pretty;
    srv_return ret;
    const char *base; /* absolute base URL, no trailing slash */
    int status;       /* sent status, for the log line */
    srv_sub *sub;     /* a Bundle entry: see srv_sub; NULL for HTTP */
    /* A compartment search (compartment.c): the owner's id, and the path
     * below the base that links repeat ("Patient/1/Task"). */
    const char *comp_id;
    const char *link_path;
    /* The write transaction the request runs in (srv__tx_begin): its
     * own, or a transaction Bundle's (tx_own 0). */
    store_tx *tx;
    int tx_own, tx_depth, tx_failed;
    /* A reply made while its own transaction is open waits for the
     * commit (srv__tx_end), so nothing is acknowledged before it is
     * durable. */
    int held_status;
    char *held_body, *held_headers;
    size_t held_len;
} srv_req;

typedef int (*srv_handler)(srv_req *r);

/* Path shapes below the base. */
typedef enum srv_shape {
    SRV_SHAPE_BASE,        /* /fhir */
    SRV_SHAPE_METADATA,    /* /fhir/metadata */
    SRV_SHAPE_HIST_SYS,    /* /fhir/_history */
    SRV_SHAPE_TYPE,        /* /fhir/Task */
    SRV_SHAPE_TYPE_HIST,   /* /fhir/Task/_history */
    SRV_SHAPE_TYPE_SEARCH, /* /fhir/Task/_search */
    SRV_SHAPE_INSTANCE,    /* /fhir/Task/1 */
    SRV_SHAPE_INST_HIST,   /* /fhir/Task/1/_history */
    SRV_SHAPE_VERSION,     /* /fhir/Task/1/_history/2 */
    SRV_SHAPE_COMPARTMENT, /* /fhir/Patient/1/Task, /fhir/Patient/1/[*] */
    SRV_SHAPE_INST_OP,     /* /fhir/Patient/1/$everything */
    SRV_SHAPE_NONE
} srv_shape;

typedef enum srv_level {
    SRV_LEVEL_TYPE,   /* listed under rest.resource.interaction */
    SRV_LEVEL_SYSTEM, /* listed under rest.interaction */
    SRV_LEVEL_NONE    /* not an interaction code (metadata) */
} srv_level;

/* The interactions the server implements (rest.c): routing and the
 * CapabilityStatement both read this table. GET rows also answer HEAD. */
typedef struct srv_interaction {
    const char *code; /* R4 interaction code */
    srv_level level;
    srv_shape shape;
    srv_method method;
    srv_handler fn;
} srv_interaction;

extern const srv_interaction srv_interactions[];
extern const int srv_ninteractions;

/* ---- server.c ------------------------------------------------------- */
/* The server without HTTP (definitions, store, search set up). */
int srv__open_offline(srv_server **out, const srv_config *cfg, int reindex,
                      fhir_err *err);
/* The request's read connection: its write transaction's view when one
 * is open (reads then see its writes), else the thread's own. */
store_db *srv__db(srv_req *r, fhir_err *err);
/* Splits `path` (below the base, no leading '/') into r->seg; -1 when it
 * has empty or too many segments. */
int srv__split(srv_req *r, const char *path);
/* Routes r (method, r->seg) to its interaction and runs it. */
void srv__route(srv_req *r);

/* ---- http.c: request helpers and replies ---------------------------- */
const char *srv__header(const srv_req *r, const char *name);
/* Checks Accept and _format; 0 when JSON may be sent, else replies 406. */
int srv__negotiate(srv_req *r);
/* Reads the whole body into `body` (the caller clears it): over
 * --max-body (by Content-Length before reading, or as chunks arrive) it
 * replies 413, and 408 when the client has not sent it within
 * --request-timeout-ms; each closes the connection. -1 when replied. */
int srv__read_raw(srv_req *r, fhir_buf *body);
/* Reads and parses the JSON body (Content-Type, size and depth caps).
 * On failure replies (415, 413, 400) and returns -1. */
int srv__read_json(srv_req *r, cJSON **out);
/* Reads a PATCH body: a JSON Patch array (application/json-patch+json,
 * *json_patch 1) or a FHIRPath Patch Parameters (application/fhir+json).
 * On failure replies and returns -1. */
int srv__read_patch(srv_req *r, cJSON **out, int *json_patch);
/* Parses an ETag-style version (W/"3" or "3"): 0 ok, -1 malformed. */
int srv__parse_etag(const char *s, int64_t *out);
/* Sends `body` (len bytes) with status and extra header lines
 * ("Name: value\r\n" each, may be NULL). HEAD sends no body. */
void srv__reply_raw(srv_req *r, int status, const char *body, size_t len,
                    const char *headers);
/* A body built in a fhir_buf after SRV_REPLY_ROOM bytes of room
 * (srv__reply_room() puts them first) is sent with its head written into
 * that room: head and body in one write, without copying the body. */
#define SRV_REPLY_ROOM 512
void srv__reply_room(fhir_buf *b);
/* As srv__reply_raw(), for the bytes of b after the room. */
void srv__reply_buf(srv_req *r, int status, fhir_buf *b, const char *headers);
/* Sends (or drops) a reply held back while the transaction was open. */
void srv__reply_release(srv_req *r, int send);
/* Sends already-serialised JSON (a stored body), re-indented under
 * _pretty. */
void srv__reply_body(srv_req *r, int status, const char *body, size_t len,
                     const char *headers);
/* Serialises `json` (consumed) honouring _pretty, then as above. */
void srv__reply_json(srv_req *r, int status, cJSON *json, const char *headers);
/* Appends `s` percent-encoded for a query-string value (links). */
void srv__put_encoded(fhir_buf *b, const char *s);
/* Replies with an OperationOutcome built from err and err->status. */
void srv__reply_err(srv_req *r, const fhir_err *err);
/* Replies status with a one-issue OperationOutcome. */
void srv__reply_issue(srv_req *r, int status, fhir_issue issue, const char *fmt,
                      ...) FHIR_PRINTF(4, 5);

/* ---- deadline.c: slow request bodies -------------------------------- */
/* One armed body read; the reader's, usually on its stack. */
typedef struct srv_watch {
    struct srv_watch *next;
    char peer_addr[48]; /* the client, as CivetWeb reports it */
    int peer_port, local_port;
    int64_t deadline_ms; /* CLOCK_MONOTONIC */
    int armed, cut;
} srv_watch;
/* Starts the thread that ends body reads at their deadline; *out is the
 * caller's (srv__watchdog_stop() ends and frees it, and accepts NULL). */
int srv__watchdog_start(srv_watchdog **out, fhir_err *err) FHIR_MUST_CHECK;
void srv__watchdog_stop(srv_watchdog *wd);
/* Before reading r's body: if the read still runs request_timeout_ms
 * from now, the connection's reading side is shut down so mg_read()
 * returns. Does nothing without a watchdog (offline use). */
void srv__deadline_arm(srv_req *r, srv_watch *w);
/* After reading: unlinks w; 1 when the deadline cut the read (nothing
 * more can be read: answer 408 and close). */
int srv__deadline_disarm(srv_req *r, srv_watch *w);

/* ---- capability.c --------------------------------------------------- */
/* Builds the CapabilityStatement from the interaction table, once. */
void srv__capability_build(srv_server *s);

/* ---- index.c -------------------------------------------------------- */
/* Loads the search registry, numbers its parameters in the store and
 * reindexes when the indexed definitions changed (or were never applied).
 * `force` reindexes regardless. */
int srv__search_setup(srv_server *s, const char *defs, int force,
                      fhir_err *err);
/* Once a --port 0 server is bound: its listening address becomes one of
 * the bases references to this server are recognised by. Call before the
 * request handler is registered (search/ is not thread-safe there). */
void srv__search_bound(srv_server *s);
/* The index rows of `res` (of served type `type`), from `a`. */
void srv__index(srv_server *s, int type, const cJSON *res, fhir_rows *out,
                fhir_arena *a);

/* ---- search.c ------------------------------------------------------- */
/* A resource a search found: a match or one included. */
typedef struct srv_found {
    int64_t rid;
    int type;
    const char *id;
    const char *body;
    size_t len;
} srv_found;
/* Answers a search of r->type with the parameters q. */
int srv__search(srv_req *r, const search_query *q);
/* The ids of the live resources of `type` that the conditional URL's
 * parameters q match (If-None-Exist, conditional update, delete and
 * patch, conditional references), at most max + 1 of them (so the caller
 * knows there are more), from r->a; read on srv__db(r), so inside the
 * request's write transaction when one is open. Every parameter must be
 * known (strict handling). Errors (400): no search criteria, unknown or
 * malformed parameters. */
int srv__match(srv_req *r, int type, const search_query *q, size_t max,
               const char ***ids, size_t *n, fhir_err *err) FHIR_MUST_CHECK;

/* ---- compartment.c -------------------------------------------------- */
/* GET /fhir/Patient/{id}/{type or *} and /fhir/Patient/{id}/$everything. */
int srv__compartment(srv_req *r);
int srv__operation(srv_req *r);

/* ---- include.c ------------------------------------------------------ */
/* Follows the _include / _revinclude parameters in[] from the page's
 * matches (and, for :iterate, from what they include, round after round)
 * on db inside the search's read transaction: *out gets the resources to
 * add (each once, none of the page's), at most --max-include of them;
 * *cut is 1 when more were left out. */
int srv__includes(srv_req *r, store_db *db, const search_incl *in, size_t nin,
                  const srv_found *page, size_t npage, srv_found **out,
                  size_t *nout, int *cut, fhir_err *err) FHIR_MUST_CHECK;

/* ---- bundle.c ------------------------------------------------------- */
/* POST /fhir: a transaction or batch Bundle. */
int srv__bundle(srv_req *r);

/* ---- load.c --------------------------------------------------------- */
/* Stores every resource of the Bundle file in one transaction: entries
 * with an id keep it (update-as-create), others get a new one. */
int srv__load_bundle(srv_server *s, const char *path, int *count,
                     fhir_err *err);

/* ---- rest.c --------------------------------------------------------- */
/* The search parameters of an If-None-Exist value (ifNoneExist in a
 * Bundle): the value itself, or what follows "Type?" when a client sent
 * a whole URL. */
const char *srv__if_none_exist_query(const char *s);
/* Opens the request's write transaction, or joins the one open (nested
 * calls, a transaction Bundle's). */
int srv__tx_begin(srv_req *r, fhir_err *err) FHIR_MUST_CHECK;
/* Ends one level: the outermost level of a transaction the request owns
 * commits when every level ended ok (else rolls back). -1 with err when
 * the commit fails. */
int srv__tx_end(srv_req *r, int ok, fhir_err *err) FHIR_MUST_CHECK;
/* Checks a body against its endpoint and the profiles; used by every
 * write path. `id_required` names the URL id a PUT must carry. */
int srv__check_resource(srv_server *s, cJSON *res, int type, const char *url_id,
                        cJSON **oo, fhir_err *err);
/* Checks `res` for a write of type/id (url_id: a PUT's URL id, else
 * NULL for a create), gives it `id` when it has none and makes its index
 * rows from `a`, and with `write` its text as a first version (see
 * store_put.body): the work of a write that needs no transaction. */
void srv__prepare(srv_prep *p, srv_server *s, cJSON *res, int type,
                  const char *id, const char *url_id, int write, fhir_arena *a);
/* Frees what srv__prepare made outside the arena. */
void srv__prepare_clear(srv_prep *p);
/* Searches whose best condition matches at most this many are left to
 * SQL by srv__hot_choose (default 64; tests of the sets set -1). */
extern int64_t srv__hot_min_set;

/* Lends the store's hot index to the plan (search_plan_hot_run), after
 * its snapshot and estimates are set, loading the sets it needs first. */
int srv__hot_choose(store_env *env, store_db *db, search_plan *plan,
                    fhir_err *err) FHIR_MUST_CHECK;

#endif
