/* server/server.c - CivetWeb set-up, worker threads, routing and the
 * request log.
 *
 * CivetWeb serves only our handler (no document root, no CGI, no
 * directory listing). Each worker thread gets a srv_worker holding its own
 * read connection to the store, opened on first use, so statements are
 * prepared once per connection and never shared between threads. A
 * request is split into (method, path shape), looked up in the
 * interaction table, and handed to the interaction's function.
 */
#include "server/server.h"
#include "server/server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- worker threads -------------------------------------------------- */

static void *
thread_init(const struct mg_context *ctx, int thread_type)
{
    (void)ctx;
    /* 1 = worker thread (CivetWeb 1.15); others need no store. */
    if (thread_type != 1) {
        return NULL;
    }
    return fhir_xcalloc(1, sizeof(srv_worker));
}

static void
thread_exit(const struct mg_context *ctx, int thread_type, void *ptr)
{
    (void)ctx;
    (void)thread_type;
    srv_worker *w = ptr;
    if (w != NULL) {
        store_db_release(w->db);
        free(w);
    }
}

store_db *
srv__db(srv_req *r, fhir_err *err)
{
    if (r->tx != NULL) {
        return store_tx_db(r->tx);
    }
    if (r->worker == NULL) {
        fhir_err_set(err, FHIR_ISSUE_EXCEPTION, "no worker state");
        return NULL;
    }
    /* Borrowed for the rest of the request (and its Bundle entries). */
    if (r->worker->db == NULL &&
        store_db_acquire(&r->worker->db, r->srv->env, err) != 0) {
        return NULL;
    }
    return r->worker->db;
}

/* While srv_start() runs on a thread, CivetWeb's complaints (such as
 * "cannot bind ...: Address already in use") are kept here so start-up
 * fails with one precise line instead of several vague ones. */
static _Thread_local char *start_msg;
static _Thread_local size_t start_cap;

static int
log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    if (start_msg != NULL) {
        if (start_msg[0] == '\0') {
            snprintf(start_msg, start_cap, "%s", message);
        }
        return 1;
    }
    fprintf(stderr, "fhir-server: %s\n", message);
    return 1;
}

/* ---- routing --------------------------------------------------------- */

static srv_method
parse_method(const char *m)
{
    static const struct {
        const char *name;
        srv_method m;
    } methods[] = {{"GET", SRV_GET},       {"HEAD", SRV_HEAD},
                   {"POST", SRV_POST},     {"PUT", SRV_PUT},
                   {"DELETE", SRV_DELETE}, {"PATCH", SRV_PATCH}};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(m, methods[i].name) == 0) {
            return methods[i].m;
        }
    }
    return SRV_OTHER;
}

/* Splits the path below /fhir; -1 when it is not below /fhir or too deep. */
static int
split_path(srv_req *r, const char *uri)
{
    size_t bl = strlen(SRV_BASE_PATH);
    if (uri == NULL || strncmp(uri, SRV_BASE_PATH, bl) != 0 ||
        (uri[bl] != '\0' && uri[bl] != '/')) {
        return -1;
    }
    return srv__split(r, uri[bl] == '/' ? uri + bl + 1 : uri + bl);
}

int
srv__split(srv_req *r, const char *path)
{
    const char *p = path;
    r->nseg = 0;
    while (*p != '\0') {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0) {
            return -1;
        }
        if (r->nseg == (int)(sizeof(r->seg) / sizeof(r->seg[0]))) {
            return -1;
        }
        r->seg[r->nseg++] = fhir_arena_strndup(r->a, p, n);
        p += n;
        if (*p == '/') {
            p++; /* one trailing slash is harmless */
        }
    }
    return 0;
}

static srv_shape
classify(srv_req *r)
{
    const char **s = r->seg;
    switch (r->nseg) {
    case 0:
        return SRV_SHAPE_BASE;
    case 1:
        if (strcmp(s[0], "metadata") == 0) {
            return SRV_SHAPE_METADATA;
        }
        if (strcmp(s[0], "_history") == 0) {
            return SRV_SHAPE_HIST_SYS;
        }
        return SRV_SHAPE_TYPE;
    case 2:
        if (strcmp(s[1], "_search") == 0) {
            return SRV_SHAPE_TYPE_SEARCH;
        }
        return strcmp(s[1], "_history") == 0 ? SRV_SHAPE_TYPE_HIST
                                             : SRV_SHAPE_INSTANCE;
    case 3:
        return strcmp(s[2], "_history") == 0 ? SRV_SHAPE_INST_HIST
               : s[2][0] == '$'              ? SRV_SHAPE_INST_OP
                                             : SRV_SHAPE_COMPARTMENT;
    case 4:
        return strcmp(s[2], "_history") == 0 ? SRV_SHAPE_VERSION
                                             : SRV_SHAPE_NONE;
    default:
        return SRV_SHAPE_NONE;
    }
}

static const char *const method_names[] = {"GET",    "HEAD",  "POST", "PUT",
                                           "DELETE", "PATCH", "?"};

void
srv__route(srv_req *r)
{
    srv_shape shape = classify(r);
    const srv_interaction *hit = NULL;
    char allow[64] = "";
    size_t al = 0;

    if (shape == SRV_SHAPE_NONE) {
        srv__reply_issue(r, 404, FHIR_ISSUE_NOT_FOUND,
                         "No FHIR endpoint at this path");
        return;
    }
    if (shape >= SRV_SHAPE_TYPE) {
        r->type = fhir_type_find(r->seg[0]);
        if (r->type < 0) {
            srv__reply_issue(r, 404, FHIR_ISSUE_NOT_FOUND,
                             "Resource type '%.64s' is not served here "
                             "(Task, ServiceRequest, Patient, Practitioner)",
                             r->seg[0]);
            return;
        }
    }
    for (int i = 0; i < srv_ninteractions; i++) {
        const srv_interaction *it = &srv_interactions[i];
        if (it->shape != shape) {
            continue;
        }
        const char *name = method_names[it->method];
        if (strstr(allow, name) == NULL &&
            al + strlen(name) + 3 < sizeof(allow)) {
            al += (size_t)snprintf(allow + al, sizeof(allow) - al, "%s%s",
                                   al ? ", " : "", name);
        }
        if (it->method == r->method ||
            (it->method == SRV_GET && r->method == SRV_HEAD)) {
            hit = it;
        }
    }
    if (hit == NULL) {
        char hdr[96];
        /* RFC 9110: a 405 lists what the resource does allow (maybe
         * nothing yet, as for the base URL before Bundles). */
        snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
        fhir_err err = FHIR_ERR_INIT;
        fhir_err_set(&err, FHIR_ISSUE_NOT_SUPPORTED,
                     "%s is not supported here; allowed: %s",
                     r->ri->request_method, al ? allow : "none");
        cJSON *oo = fhir_oo_from_err(&err);
        srv__reply_json(r, 405, oo, hdr);
        return;
    }
    hit->fn(r);
}

/* The base URL clients used, for Location, fullUrl and links. */
static const char *
base_url(srv_req *r)
{
    if (r->srv->cfg.base_url != NULL) {
        return r->srv->cfg.base_url;
    }
    const char *host = srv__header(r, "Host");
    char fallback[64];
    if (host == NULL || host[0] == '\0' || strlen(host) > 255 ||
        strpbrk(host, " \t\"<>\\") != NULL) {
        snprintf(fallback, sizeof(fallback), "127.0.0.1:%d", r->srv->port);
        host = fallback;
    }
    return fhir_arena_printf(r->a, "%s://%s%s",
                             r->ri->is_ssl ? "https" : "http", host,
                             SRV_BASE_PATH);
}

static void
parse_prefer(srv_req *r)
{
    const char *p = srv__header(r, "Prefer");
    if (p == NULL) {
        return;
    }
    /* Prefer: return=minimal, handling=strict (RFC 7240 tokens). */
    if (strstr(p, "return=minimal") != NULL) {
        r->ret = SRV_RETURN_MINIMAL;
    } else if (strstr(p, "return=OperationOutcome") != NULL) {
        r->ret = SRV_RETURN_OUTCOME;
    } else {
        r->ret = SRV_RETURN_REPRESENTATION;
    }
}

/* RFC 9112 section 6: a body's length must be unambiguous. CivetWeb
 * believes the first Content-Length, or chunked over it; a proxy in front
 * may believe another and see a second request in this one's body
 * (request smuggling). So a length that is not all digits, two different
 * lengths, a length beside Transfer-Encoding, or two Transfer-Encoding
 * headers are 400 and close the connection, whose unread bytes cannot be
 * trusted. (A coding other than chunked CivetWeb refuses itself, 400.)
 * 0 when the framing is sound. */
static int
check_framing(srv_req *r)
{
    const char *cl = NULL, *te = NULL;
    int bad = 0;
    for (int i = 0; i < r->ri->num_headers; i++) {
        const char *name = r->ri->http_headers[i].name;
        const char *value = r->ri->http_headers[i].value;
        if (strcasecmp(name, "Content-Length") == 0) {
            /* 1*DIGIT: CivetWeb's strtoll would take " 5", "+5", "1e3" */
            bad |= value[0] == '\0' || value[strspn(value, "0123456789")];
            bad |= cl != NULL && strcmp(cl, value) != 0;
            cl = value;
        } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
            bad |= te != NULL;
            te = value;
        }
    }
    if (bad || (cl != NULL && te != NULL)) {
        mg_disable_keep_alive(r->conn);
        srv__reply_issue(r, 400, FHIR_ISSUE_STRUCTURE,
                         "The body's length is ambiguous: send one "
                         "Content-Length or Transfer-Encoding: chunked");
        return -1;
    }
    return 0;
}

/* The path, percent-decoded here rather than by CivetWeb (decode_url is
 * off) so that an encoded NUL, which would silently cut the path short
 * (Task/1%00x read as Task/1), is seen: NULL then. */
static const char *
decode_path(srv_req *r)
{
    const char *raw = r->ri->local_uri;
    if (raw == NULL) {
        return NULL;
    }
    size_t n = strlen(raw);
    char *out = fhir_arena_alloc(r->a, n + 1);
    int len = mg_url_decode(raw, (int)n, out, (int)n + 1, 0);
    if (len < 0 || memchr(out, '\0', (size_t)len) != NULL) {
        return NULL;
    }
    return out;
}

static int
handle(struct mg_connection *conn, void *cbdata)
{
    srv_server *s = cbdata;
    srv_req r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    memset(&r, 0, sizeof(r));
    r.srv = s;
    r.conn = conn;
    r.ri = mg_get_request_info(conn);
    r.worker = mg_get_thread_pointer(conn);
    r.a = fhir_arena_new();
    r.type = -1;
    r.method = parse_method(r.ri->request_method);
    r.base = base_url(&r);

    const char *qs = r.ri->query_string ? r.ri->query_string : "";
    fhir_err err = FHIR_ERR_INIT;
    const char *path = decode_path(&r);
    if (check_framing(&r) != 0) {
        /* replied */
    } else if (path == NULL) {
        srv__reply_issue(&r, 400, FHIR_ISSUE_INVALID,
                         "The path is not valid (an encoded NUL, %%00?)");
    } else if (split_path(&r, path) != 0) {
        srv__reply_issue(
            &r, 404, FHIR_ISSUE_NOT_FOUND,
            "No FHIR endpoint at this path (the base is " SRV_BASE_PATH ")");
    } else if (search_query_parse(&r.query, r.a, qs, strlen(qs), &err) != 0) {
        srv__reply_err(&r, &err);
    } else if (srv__negotiate(&r) == 0) {
        const char *pretty = search_query_get(&r.query, "_pretty");
        r.pretty = pretty != NULL && strcmp(pretty, "true") == 0;
        parse_prefer(&r);
        srv__route(&r);
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!s->cfg.quiet) {
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        /* The path only: query strings may carry patient identifiers. */
        fprintf(stderr, "%s %s %d %.2fms\n", r.ri->request_method,
                r.ri->local_uri ? r.ri->local_uri : "?", r.status, ms);
    }
    int status = r.status;
    if (r.worker != NULL) {
        store_db_release(r.worker->db);
        r.worker->db = NULL;
    }
    fhir_arena_free(r.a);
    return status > 0 ? status : 500;
}

/* A WebSocket handshake (Connection: Upgrade) skips HTTP handlers, and
 * without a WebSocket handler CivetWeb 1.15 answers it with a bare "Error
 * 404" text and no status line. This handler refuses every handshake
 * with a proper response (written here: the connection is past the
 * point where CivetWeb sends HTTP headers) and returns 1 so no
 * handshake follows; CivetWeb then closes the connection. */
static int
ws_refuse(const struct mg_connection *conn, void *cbdata)
{
    srv_req r;
    memset(&r, 0, sizeof(r));
    r.srv = cbdata;
    /* mg_write() takes a non-const connection; the handler owns it here */
    r.conn = (struct mg_connection *)conn;
    r.ri = mg_get_request_info(conn);
    r.a = fhir_arena_new();
    r.type = -1;
    r.method = SRV_GET;
    fhir_err err = FHIR_ERR_INIT;
    fhir_err_set(&err, FHIR_ISSUE_NOT_SUPPORTED,
                 "WebSocket is not offered here; this is a FHIR REST server");
    srv__reply_json(&r, 400, fhir_oo_from_err(&err), "Connection: close\r\n");
    fhir_arena_free(r.a);
    return 1;
}

/* ---- start and stop -------------------------------------------------- */

/* profiles/definitions of the source tree the binary was built in
 * (build/fhir-server or build/asan/fhir-server), else ./ */
static char *
default_definitions(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 64);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        static const char *const up[] = {"/../profiles/definitions",
                                         "/../../profiles/definitions"};
        for (size_t i = 0; slash != NULL && i < 2; i++) {
            snprintf(slash, sizeof(exe) - (size_t)(slash - exe), "%s", up[i]);
            if (access(exe, R_OK) == 0) {
                return fhir_xstrdup(exe);
            }
        }
    }
    return fhir_xstrdup("profiles/definitions");
}

/* Opens s's store as s->cfg says (the server and offline runs alike). */
static int
open_store(srv_server *s, fhir_err *err)
{
    store_opts so = STORE_OPTS_INIT;
    so.path = s->cfg.db_path;
    so.synchronous_full = s->cfg.durability_full;
    so.no_hot = s->cfg.no_hot;
    so.read_conns = s->cfg.read_conns;
    so.no_group = s->cfg.no_group;
    return store_env_open(&s->env, &so, err);
}

int
srv_start(srv_server **out, const srv_config *cfg, fhir_err *err)
{
    srv_server *s = fhir_xcalloc(1, sizeof(*s));
    char *defs = NULL;
    char ports[300], threads[16], header[16], req_ms[16], idle_ms[16];
    char ebuf[256] = "";
    *out = NULL;
    s->cfg = *cfg;
    s->started_us = fhir_now_us();

    defs = cfg->definitions ? fhir_xstrdup(cfg->definitions)
                            : default_definitions();
    if (prof_registry_load(&s->prof, defs, err) != 0) {
        goto fail;
    }
    if (open_store(s, err) != 0) {
        goto fail;
    }
    if (srv__search_setup(s, defs, 0, err) != 0) {
        goto fail;
    }
    if (cfg->load_path != NULL && store_env_is_empty(s->env)) {
        int n = 0;
        if (srv__load_bundle(s, cfg->load_path, &n, err) != 0) {
            goto fail;
        }
        fprintf(stderr, "fhir-server: loaded %d resources from %s\n", n,
                cfg->load_path);
    }
    srv__capability_build(s);
    if (srv__watchdog_start(&s->watchdog, err) != 0) {
        goto fail;
    }

    if (strchr(cfg->listen, ':') != NULL) {
        snprintf(ports, sizeof(ports), "[%s]:%d", cfg->listen, cfg->port);
    } else {
        snprintf(ports, sizeof(ports), "%s:%d", cfg->listen, cfg->port);
    }
    snprintf(threads, sizeof(threads), "%d", cfg->threads);
    snprintf(header, sizeof(header), "%d", cfg->max_header);
    snprintf(req_ms, sizeof(req_ms), "%d", cfg->request_timeout_ms);
    snprintf(idle_ms, sizeof(idle_ms), "%d", cfg->keep_alive_ms);
    /* Only our handlers answer. With no document_root CivetWeb maps no
     * URL to a file, so it serves no file, lists no directory and runs no
     * CGI or SSI page (this build has no Lua); our handler on "/" takes
     * every HTTP request anyway (GET /README.md is our 404) and
     * ws_refuse() every WebSocket handshake. The request line and headers
     * must fit max_request_size and arrive within request_timeout_ms
     * (keep_alive_timeout_ms after a first request); a body is bounded by
     * --max-body and, in time, by deadline.c. */
    const char *options[] = {"listening_ports",
                             ports,
                             "num_threads",
                             threads,
                             "enable_keep_alive",
                             "yes",
                             "keep_alive_timeout_ms",
                             idle_ms,
                             "request_timeout_ms",
                             req_ms,
                             "max_request_size",
                             header,
                             "tcp_nodelay",
                             "1",
                             "enable_directory_listing",
                             "no",
                             "decode_url",
                             "no", /* decode_path() */
                             NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.init_thread = thread_init;
    cb.exit_thread = thread_exit;
    cb.log_message = log_message;
    struct mg_init_data init = {&cb, s, options};
    struct mg_error_data edata = {NULL, ebuf, sizeof(ebuf)};
    char cause[256] = "";
    start_msg = cause;
    start_cap = sizeof(cause);
    s->mg = mg_start2(&init, &edata);
    start_msg = NULL;
    if (s->mg == NULL) {
        fhir_err_set(err, FHIR_ISSUE_EXCEPTION, "cannot listen on %s (%s)",
                     ports,
                     cause[0]  ? cause
                     : ebuf[0] ? ebuf
                               : "unknown error");
        goto fail;
    }
    struct mg_server_port sp[4];
    memset(sp, 0, sizeof(sp));
    if (mg_get_server_ports(s->mg, 4, sp) < 1) {
        fhir_err_set(err, FHIR_ISSUE_EXCEPTION, "cannot read bound port");
        goto fail;
    }
    s->port = sp[0].port;
    /* Before the handler is registered no request reaches the registry,
     * and registering takes the lock CivetWeb's workers look it up under,
     * so they see the bases set. */
    srv__search_bound(s);
    mg_set_request_handler(s->mg, "/", handle, s);
    mg_set_websocket_handler(s->mg, "/", ws_refuse, NULL, NULL, NULL, s);
    free(defs);
    *out = s;
    return 0;
fail:
    free(defs);
    srv_stop(s);
    return -1;
}

/* The server without HTTP: definitions, store and search set up as for
 * serving (for --reindex and bulk loading). */
int
srv__open_offline(srv_server **out, const srv_config *cfg, int reindex,
                  fhir_err *err)
{
    srv_server *s = fhir_xcalloc(1, sizeof(*s));
    char *defs = cfg->definitions ? fhir_xstrdup(cfg->definitions)
                                  : default_definitions();
    int rc = -1;
    *out = NULL;
    s->cfg = *cfg;
    if (prof_registry_load(&s->prof, defs, err) == 0 &&
        open_store(s, err) == 0 &&
        srv__search_setup(s, defs, reindex, err) == 0) {
        rc = 0;
        *out = s;
        s = NULL;
    }
    free(defs);
    srv_stop(s);
    return rc;
}

int
srv_reindex(const srv_config *cfg, fhir_err *err)
{
    srv_server *s = NULL;
    int rc = srv__open_offline(&s, cfg, 1, err);
    srv_stop(s);
    return rc;
}

int
srv_port(const srv_server *s)
{
    return s->port;
}

void
srv_stop(srv_server *s)
{
    if (s == NULL) {
        return;
    }
    if (s->mg != NULL) {
        mg_stop(s->mg);
    }
    srv__watchdog_stop(s->watchdog);
    store_env_close(s->env);
    prof_registry_free(s->prof);
    search_registry_free(s->search);
    free(s->capability);
    free(s->capability_pretty);
    free(s);
}
