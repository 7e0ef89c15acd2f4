/* bench/limit_http.c - the HTTP limits of `make bench`: what CivetWeb
 * itself serves on this machine, so the server's reads/s can be read as a
 * fraction of it.
 *
 * A CivetWeb program started with the server's options (128 worker
 * threads, keep-alive with the same timeouts, tcp_nodelay, decoded URLs;
 * see srv_start() in server/server.c) and two handlers:
 *
 *   GET /fhir/Task/{id}  one SQLite read by id, as the server's read does:
 *                        each worker thread has its own connection (the
 *                        reader pragmas of store__conn_open(), query_only)
 *                        with the server's ST_READ_CURRENT statement
 *                        prepared once; the stored body is sent as is
 *                        with Content-Type, Content-Length and ETag. 404
 *                        when there is no such Task.
 *   GET /fhir/fixed/N    a JSON object of exactly N bytes (64 to 64 MiB):
 *                        the floor of an answer that size (the search
 *                        bench asks for each query's mean answer size).
 *                        Each worker fills its buffer when N changes, so
 *                        a run of one size costs no copying.
 *   GET anything else    a fixed 1.5 KB (1536-byte) JSON body: CivetWeb's
 *                        own request rate, no SQLite at all.
 *
 * Nothing else: no parsing, no arena, no logging - that is the server's
 * work, which the ratio measures.
 *
 *   limit_http --db FILE [--port 0] [--threads 128]
 *
 * Announces "listening on http://127.0.0.1:PORT/fhir" on stderr, as the
 * server does (bench/lib.sh's server_port reads it), and serves until
 * SIGTERM or SIGINT. Loopback only.
 */
#include <civetweb.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXED_LEN 1536
#define TASK_PREFIX "/fhir/Task/"
#define SIZED_PREFIX "/fhir/fixed/"
#define SIZED_MIN 64
#define SIZED_MAX (64L << 20)

/* store/store.c's ST_READ_CURRENT. */
static const char read_sql[] =
    "SELECT r.version, r.deleted, h.hid, h.body FROM resource r "
    "JOIN history h ON h.hid = r.hid WHERE r.type = ?1 AND r.id = ?2";

struct limit {
    const char *path;
    int task_code; /* rtype.code of Task */
    char fixed[FIXED_LEN + 1];
};

/* One per worker thread, as the server's srv_worker. */
struct worker {
    sqlite3 *db;
    sqlite3_stmt *read;
    char *sized; /* the last /fixed/N body */
    size_t nsized;
};

static struct limit L;

static void *
thread_init(const struct mg_context *ctx, int thread_type)
{
    (void)ctx;
    if (thread_type != 1) { /* 1 = worker thread (CivetWeb 1.15) */
        return NULL;
    }
    struct worker *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return NULL;
    }
    /* store__conn_open() for a reader, then store_db_open()'s
     * query_only. */
    if (sqlite3_open_v2(L.path, &w->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(w->db,
                     "PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF;"
                     "PRAGMA temp_store = MEMORY; PRAGMA query_only = 1",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(w->db, read_sql, -1, SQLITE_PREPARE_PERSISTENT,
                           &w->read, NULL) != SQLITE_OK) {
        fprintf(stderr, "limit_http: %s\n", sqlite3_errmsg(w->db));
    }
    sqlite3_busy_timeout(w->db, 5000);
    return w;
}

static void
thread_exit(const struct mg_context *ctx, int thread_type, void *ptr)
{
    struct worker *w = ptr;
    (void)ctx;
    (void)thread_type;
    if (w != NULL) {
        sqlite3_finalize(w->read);
        sqlite3_close(w->db);
        free(w->sized);
        free(w);
    }
}

static void
reply(struct mg_connection *conn, int status, const char *etag,
      const void *body, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: application/fhir+json\r\n"
                     "Content-Length: %zu\r\n"
                     "%s%s%s\r\n",
                     status, status == 200 ? "OK" : "Not Found", len,
                     etag ? "ETag: W/\"" : "", etag ? etag : "",
                     etag ? "\"\r\n" : "");
    mg_write(conn, head, (size_t)n);
    mg_write(conn, body, len);
}

/* A JSON object of exactly n bytes, into b. */
static void
fill_json(char *b, size_t n)
{
    static const char head[] = "{\"resourceType\":\"Basic\",\"text\":\"";
    memset(b, 'x', n);
    memcpy(b, head, sizeof(head) - 1);
    memcpy(b + n - 2, "\"}", 2);
}

/* GET /fhir/fixed/N; 0 when the path is not one. */
static int
sized(struct mg_connection *conn, struct worker *w, const char *uri)
{
    if (strncmp(uri, SIZED_PREFIX, strlen(SIZED_PREFIX)) != 0) {
        return 0;
    }
    char *end = NULL;
    long n = strtol(uri + strlen(SIZED_PREFIX), &end, 10);
    if (w == NULL || *end != '\0' || n < SIZED_MIN || n > SIZED_MAX) {
        reply(conn, 404, NULL, "{}", 2);
        return 404;
    }
    if (w->nsized != (size_t)n) {
        free(w->sized);
        w->sized = malloc((size_t)n);
        w->nsized = w->sized != NULL ? (size_t)n : 0;
        if (w->sized == NULL) {
            reply(conn, 404, NULL, "{}", 2);
            return 404;
        }
        fill_json(w->sized, (size_t)n);
    }
    reply(conn, 200, NULL, w->sized, w->nsized);
    return 200;
}

static int
handle(struct mg_connection *conn, void *cbdata)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    struct worker *w = mg_get_thread_pointer(conn);
    (void)cbdata;
    int status = sized(conn, w, ri->local_uri);
    if (status != 0) {
        return status;
    }
    if (strncmp(ri->local_uri, TASK_PREFIX, strlen(TASK_PREFIX)) != 0) {
        reply(conn, 200, NULL, L.fixed, FIXED_LEN);
        return 200;
    }
    if (w == NULL || w->read == NULL) {
        reply(conn, 404, NULL, "{}", 2);
        return 404;
    }
    const char *id = ri->local_uri + strlen(TASK_PREFIX);
    sqlite3_stmt *st = w->read;
    status = 404;
    sqlite3_bind_int(st, 1, L.task_code);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 1) == 0) {
        char etag[24];
        snprintf(etag, sizeof(etag), "%lld",
                 (long long)sqlite3_column_int64(st, 0));
        const void *body = sqlite3_column_blob(st, 3);
        size_t len = (size_t)sqlite3_column_bytes(st, 3);
        reply(conn, 200, etag, body, len);
        status = 200;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (status != 200) {
        reply(conn, 404, NULL, "{}", 2);
    }
    return status;
}

static int
task_code(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int code = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT code FROM rtype WHERE name = 'Task'", -1,
                           &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        code = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return code;
}

int
main(int argc, char **argv)
{
    const char *port = "0", *threads = "128";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--db") == 0) {
            L.path = argv[i + 1];
        } else if (strcmp(argv[i], "--port") == 0) {
            port = argv[i + 1];
        } else if (strcmp(argv[i], "--threads") == 0) {
            threads = argv[i + 1];
        }
    }
    if (L.path == NULL) {
        fprintf(stderr, "usage: limit_http --db FILE [--port N] "
                        "[--threads N]\n");
        return 2;
    }
    L.task_code = task_code(L.path);
    if (L.task_code < 0) {
        fprintf(stderr, "limit_http: %s: not a server database\n", L.path);
        return 1;
    }
    fill_json(L.fixed, FIXED_LEN);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* CivetWeb's threads too */

    char ports[64];
    snprintf(ports, sizeof(ports), "127.0.0.1:%s", port);
    /* server/server.c's options. */
    const char *options[] = {"listening_ports",
                             ports,
                             "num_threads",
                             threads,
                             "enable_keep_alive",
                             "yes",
                             "keep_alive_timeout_ms",
                             "15000",
                             "request_timeout_ms",
                             "30000",
                             "max_request_size",
                             "16384",
                             "tcp_nodelay",
                             "1",
                             "enable_directory_listing",
                             "no",
                             "decode_url",
                             "no",
                             NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.init_thread = thread_init;
    cb.exit_thread = thread_exit;
    struct mg_context *mg = mg_start(&cb, NULL, options);
    if (mg == NULL) {
        fprintf(stderr, "limit_http: cannot listen on %s\n", ports);
        return 1;
    }
    mg_set_request_handler(mg, "/", handle, NULL);
    struct mg_server_port sp[2];
    memset(sp, 0, sizeof(sp));
    if (mg_get_server_ports(mg, 2, sp) < 1) {
        mg_stop(mg);
        return 1;
    }
    fprintf(stderr, "limit_http: listening on http://127.0.0.1:%d/fhir\n",
            sp[0].port);
    int sig = 0;
    sigwait(&set, &sig);
    mg_stop(mg);
    return 0;
}
