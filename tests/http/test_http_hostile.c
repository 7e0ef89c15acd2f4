/* tests/http/test_http_hostile.c - the server facing clients that do not
 * play by the rules, over raw loopback sockets (libcurl would tidy the
 * requests up): file names and path traversal, unknown methods, garbage
 * request lines, oversized and numerous headers, lying or ambiguous body
 * lengths, chunked bodies over the limit, WebSocket handshakes, and slow
 * clients that send one byte a second.
 *
 * Whatever reaches our handler must be answered with an OperationOutcome;
 * what CivetWeb refuses before it (a request line it cannot parse, headers
 * over max_request_size, unknown methods) must still be a 4xx or 5xx, or
 * a closed connection, and the server must keep serving. The slow-client
 * cases run their own server with 2 workers and a 2 s request timeout, so
 * each is over in a few seconds and every loop is bounded in time.
 */
#include "tests/http/harness.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 2000 /* --request-timeout-ms of the servers here */
#define MAX_BODY 10000

static th_server *srv;

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A TCP connection to the server's host and port (from its base URL). */
static int
dial(th_server *s)
{
    char host[64] = "";
    int port = 0;
    if (sscanf(s->base, "http://%63[^:/]:%d", host, &port) != 2) {
        fail_msg("cannot read host and port from %s", s->base);
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fail_msg("%s is not an IPv4 address", host);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fail_msg("connect: %s", strerror(errno));
    }
    return fd;
}

/* Sends what it can of data (the server may close early: no SIGPIPE). */
static void
send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0) {
            return;
        }
        data += n;
        len -= (size_t)n;
    }
}

/* Reads until the peer closes, the buffer is full or wait_s passes with
 * nothing new; NUL-terminated. Returns the bytes read. */
static size_t
recv_all(int fd, char *buf, size_t cap, double wait_s)
{
    size_t got = 0;
    while (got + 1 < cap) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(wait_s * 1000)) <= 0) {
            break;
        }
        ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

typedef struct answer {
    int status; /* 0: the connection closed without an answer */
    int fhir;   /* the body is an OperationOutcome in FHIR JSON */
    char text[4096];
} answer;

/* One raw request on a fresh connection, and the answer. */
static void
exchange(answer *a, const char *req, size_t len)
{
    int fd = dial(srv);
    send_all(fd, req, len);
    memset(a, 0, sizeof(*a));
    recv_all(fd, a->text, sizeof(a->text), 10.0);
    close(fd);
    const char *body = strstr(a->text, "\r\n\r\n");
    /* The first " NNN " of the header block: CivetWeb's own answers
     * echo the request's version text, whatever it was, before it. */
    for (const char *p = a->text;
         strncmp(a->text, "HTTP/", 5) == 0 && body != NULL && p + 5 <= body;
         p++) {
        if (p[0] == ' ' && p[4] == ' ' && p[1] >= '1' && p[1] <= '5' &&
            p[2] >= '0' && p[2] <= '9' && p[3] >= '0' && p[3] <= '9') {
            a->status = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
            break;
        }
    }
    if (body != NULL &&
        strstr(a->text, "Content-Type: application/fhir+json") != NULL) {
        cJSON *j = cJSON_Parse(body + 4);
        const char *rt = th_str(j, "resourceType");
        a->fhir = rt != NULL && strcmp(rt, "OperationOutcome") == 0;
        cJSON_Delete(j);
    }
}

static void
exchange_str(answer *a, const char *req)
{
    exchange(a, req, strlen(req));
}

/* `method path` with a Host and nothing else, on its own connection. */
static void
request_line(answer *a, const char *method, const char *path)
{
    char req[512];
    snprintf(req, sizeof(req),
             "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method,
             path);
    exchange_str(a, req);
}

/* The server still answers an ordinary request. */
static void
still_serving(th_server *s)
{
    th_resp *r = th_req(s, "GET", "metadata", NULL, NULL);
    assert_int_equal(r->status, 200);
    th_free(r);
}

/* ---- only our handlers: no files ------------------------------------- */

/* The tests run in the repository, so README.md, Makefile and the
 * sources are in the working directory, and /etc/passwd is on disk:
 * none may come back, however the path is spelled. */
static void
hostile_files__no_file_is_served(void **state)
{
    (void)state;
    static const char *const paths[] = {
        "/README.md",
        "/Makefile",
        "/server/server.c",
        "/.git/config",
        "/index.html",
        "/x.cgi",
        "/x.shtml",
        "/",
        "/../etc/passwd",
        "//etc/passwd",
        "/fhir/../README.md",
        "/fhir/metadata/../../README.md",
        "/fhir/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/fhir/..%2f..%2fREADME.md",
        "/fhir/Task/..%2F..%2F..%2Fetc%2Fpasswd",
        "/fhir/%2e%2e/README.md",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        answer a;
        request_line(&a, "GET", paths[i]);
        if (a.status != 404 || !a.fhir || strstr(a.text, "root:") != NULL ||
            strstr(a.text, "fhir-task-server") != NULL) {
            fail_msg("GET %s: want our 404 OperationOutcome, got:\n%.600s",
                     paths[i], a.text);
        }
    }
}

/* An encoded NUL would cut the path short (Task/x%00y read as Task/x). */
static void
hostile_files__encoded_nul_in_path_is_400(void **state)
{
    (void)state;
    static const char *const paths[] = {"/fhir/%00", "/fhir/Task/a%00b",
                                        "/fhir/metadata%00.txt"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        answer a;
        request_line(&a, "GET", paths[i]);
        if (a.status != 400 || !a.fhir) {
            fail_msg("GET %s: want 400 OperationOutcome, got:\n%.600s",
                     paths[i], a.text);
        }
    }
}

/* ---- methods and request lines --------------------------------------- */

static void
hostile_methods__unknown_or_unsupported(void **state)
{
    (void)state;
    /* Methods CivetWeb knows reach our router: 405 with Allow. Methods it
     * does not know (or lower case) it refuses itself with 400. */
    static const struct {
        const char *method;
        int status;
        int fhir;
    } cases[] = {
        {"OPTIONS", 405, 1}, {"CONNECT", 405, 1}, {"PROPFIND", 405, 1},
        {"MKCOL", 405, 1},   {"TRACE", 400, 0},   {"FOO", 400, 0},
        {"get", 400, 0},     {"G\x01T", 400, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        answer a;
        request_line(&a, cases[i].method, "/fhir/metadata");
        if (a.status != cases[i].status || a.fhir != cases[i].fhir) {
            fail_msg("%s: want %d%s, got:\n%.600s", cases[i].method,
                     cases[i].status, cases[i].fhir ? " OperationOutcome" : "",
                     a.text);
        }
    }
    still_serving(srv);
}

#define NUL_REQ "GET /fhir/meta\0data HTTP/1.1\r\nHost: x\r\n\r\n"

static void
hostile_request_line__garbage(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        size_t len; /* 0: strlen */
        int status; /* 0: closed without an answer */
    } cases[] = {
        {"garbage\r\n\r\n", 0, 400},
        {"\r\n\r\n\r\n\r\n", 0, 400},
        {"GET /fhir/metadata\r\n\r\n", 0, 400}, /* HTTP/0.9 */
        {"GET  HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400},
        {"GET /fhir/metadata HTTP/9.9\r\nHost: x\r\n\r\n", 0, 505},
        {"GET /fhir/metadata HTTP/1.1 extra\r\nHost: x\r\n\r\n", 0, 400},
        {NUL_REQ, sizeof(NUL_REQ) - 1, 400},
        {"GET /fhir/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400},
        {"GET /fhir/metadata HTTP/1.1\r\nno colon here\r\n\r\n", 0, 400},
        /* Proxy forms are for another host: CivetWeb closes at once. */
        {"GET http://elsewhere/fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n", 0,
         0},
        {"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 0, 0},
    };
    char bin[300];
    for (int i = 0; i < 256; i++) {
        bin[i] = (char)i;
    }
    memcpy(bin + 256, "\r\n\r\n", 4);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        answer a;
        exchange(&a, cases[i].req,
                 cases[i].len ? cases[i].len : strlen(cases[i].req));
        if (a.status != cases[i].status) {
            fail_msg("case %zu: want %d, got:\n%.600s", i, cases[i].status,
                     a.text);
        }
    }
    answer a;
    exchange(&a, bin, 260);
    assert_int_equal(a.status, 400);
    still_serving(srv);
}

/* ---- headers --------------------------------------------------------- */

static void
hostile_headers__oversized(void **state)
{
    (void)state;
    /* Over --max-header (16 KiB here): CivetWeb answers 400 itself, at
     * 16 KiB, however much more the client would send. */
    static const size_t sizes[] = {17 * 1024, 64 * 1024, 1024 * 1024};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        char *req = malloc(n + 128);
        size_t len = (size_t)snprintf(
            req, 128, "GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Big: ");
        memset(req + len, 'a', n);
        len += n;
        memcpy(req + len, "\r\n\r\n", 4);
        answer a;
        exchange(&a, req, len + 4);
        free(req);
        if (a.status != 400) {
            fail_msg("%zu-byte header: want 400, got:\n%.600s", n, a.text);
        }
    }
    /* A long URL is the same limit. */
    char *req = malloc(20000 + 128);
    size_t len = (size_t)snprintf(req, 128, "GET /fhir/Task?x=");
    memset(req + len, 'a', 20000);
    len += 20000;
    len += (size_t)snprintf(req + len, 128, " HTTP/1.1\r\nHost: x\r\n\r\n");
    answer a;
    exchange(&a, req, len);
    free(req);
    assert_int_equal(a.status, 400);
    still_serving(srv);
}

static void
hostile_headers__many(void **state)
{
    (void)state;
    /* CivetWeb keeps the first 64 headers (MG_MAX_HEADERS) and drops the
     * rest; whatever the count, the total stays under --max-header. */
    static const int counts[] = {63, 64, 65, 200, 1500};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        char *req = malloc(16384 + 256);
        size_t len = (size_t)snprintf(req, 256,
                                      "GET /fhir/metadata HTTP/1.1\r\nHost: "
                                      "x\r\nConnection: close\r\n");
        for (int k = 0; k < counts[i] && len < 16000; k++) {
            len += (size_t)snprintf(req + len, 32, "X-%d: y\r\n", k);
        }
        memcpy(req + len, "\r\n", 2);
        answer a;
        exchange(&a, req, len + 2);
        free(req);
        if (a.status != 200) {
            fail_msg("%d headers: want 200, got:\n%.600s", counts[i], a.text);
        }
    }
    /* Past 16 KiB of them: refused like one big header. */
    char *req = malloc(40000);
    size_t len = (size_t)snprintf(req, 64, "GET /fhir/metadata HTTP/1.1\r\n");
    for (int k = 0; len < 39000; k++) {
        len += (size_t)snprintf(req + len, 32, "X-%d: y\r\n", k);
    }
    memcpy(req + len, "\r\n", 2);
    answer a;
    exchange(&a, req, len + 2);
    free(req);
    assert_int_equal(a.status, 400);
    still_serving(srv);
}

/* ---- bodies ---------------------------------------------------------- */

#define POST_TASK                                                              \
    "POST /fhir/Task HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"             \
    "Content-Type: application/fhir+json\r\n"

/* A huge Content-Length without its body: 413 at once, nothing read. */
static void
hostile_body__huge_content_length_without_body(void **state)
{
    (void)state;
    static const char *const lengths[] = {"10001", "99999999999",
                                          "18446744073709551616",
                                          "99999999999999999999999999"};
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        char req[512];
        answer a;
        snprintf(req, sizeof(req), POST_TASK "Content-Length: %s\r\n\r\n{",
                 lengths[i]);
        double t0 = now_s();
        exchange_str(&a, req);
        if (a.status != 413 || !a.fhir ||
            strstr(a.text, "\"too-long\"") == NULL) {
            fail_msg("Content-Length %s: want 413 too-long, got:\n%.600s",
                     lengths[i], a.text);
        }
        /* answered without waiting for the body that never comes */
        assert_true(now_s() - t0 < TIMEOUT_MS / 1000.0);
    }
    /* The same with Expect: 100-continue: refused before any body. */
    answer a;
    exchange_str(&a, POST_TASK "Expect: 100-continue\r\n"
                               "Content-Length: 99999999\r\n\r\n");
    assert_int_equal(a.status, 413);
    assert_true(a.fhir);
    /* Negative or not a number: CivetWeb refuses it, 411. */
    exchange_str(&a, POST_TASK "Content-Length: -1\r\n\r\n{}");
    assert_int_equal(a.status, 411);
    exchange_str(&a, POST_TASK "Content-Length: abc\r\n\r\n{}");
    assert_int_equal(a.status, 411);
}

/* A chunked body has no length up front: the cap holds as it arrives. */
static void
hostile_body__chunked_over_the_limit(void **state)
{
    (void)state;
    size_t cap = 64 * 1024, len;
    char *req = malloc(cap);
    len = (size_t)snprintf(req, cap,
                           POST_TASK "Transfer-Encoding: chunked\r\n\r\n");
    for (int k = 0; k < 8; k++) { /* 8 x 4096 = 32 KiB > 10000 */
        len += (size_t)snprintf(req + len, cap - len, "1000\r\n");
        memset(req + len, ' ', 4096);
        len += 4096;
        len += (size_t)snprintf(req + len, cap - len, "\r\n");
    }
    len += (size_t)snprintf(req + len, cap - len, "0\r\n\r\n");
    answer a;
    exchange(&a, req, len);
    if (a.status != 413 || !a.fhir) {
        fail_msg("chunked 32 KiB: want 413, got:\n%.600s", a.text);
    }
    /* An endless chunk announced as 2^64-1 bytes, and nonsense sizes:
     * no body, 400. */
    static const char *const bad[] = {"FFFFFFFFFFFFFFFF\r\nabc", "-5\r\nabc",
                                      "zz\r\nabc\r\n0\r\n\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(req, cap, POST_TASK "Transfer-Encoding: chunked\r\n\r\n%s",
                 bad[i]);
        exchange_str(&a, req);
        if (a.status != 400 || !a.fhir) {
            fail_msg("chunk '%s': want 400, got:\n%.600s", bad[i], a.text);
        }
    }
    free(req);
    still_serving(srv);
}

/* RFC 9112 section 6: one unambiguous length, or the request is refused
 * (a proxy in front could read the framing otherwise: smuggling). */
static void
hostile_body__ambiguous_length(void **state)
{
    (void)state;
    static const char *const heads[] = {
        "Content-Length: 2\r\nContent-Length: 7\r\n",
        "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length: +2\r\n",
        "Content-Length:  2x\r\n",
        "Content-Length: 0x2\r\n",
    };
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        char req[512];
        answer a;
        snprintf(req, sizeof(req), POST_TASK "%s\r\n{}", heads[i]);
        exchange_str(&a, req);
        if (a.status != 400 || !a.fhir) {
            fail_msg("%s: want 400 OperationOutcome, got:\n%.600s", heads[i],
                     a.text);
        }
    }
    /* A coding other than chunked: CivetWeb's own 400. */
    answer a;
    exchange_str(&a, POST_TASK "Transfer-Encoding: gzip\r\n\r\n{}");
    assert_int_equal(a.status, 400);
    /* The same length twice is one length. */
    exchange_str(&a, POST_TASK "Content-Length: 2\r\nContent-Length: 2\r\n"
                               "\r\n{}");
    assert_int_equal(a.status, 400); /* reached the validator: {} is empty */
    assert_true(a.fhir);
    assert_non_null(strstr(a.text, "\"structure\""));
}

static void
hostile_websocket__handshake_refused(void **state)
{
    (void)state;
    answer a;
    exchange_str(&a, "GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n");
    if (a.status != 400 || !a.fhir) {
        fail_msg("WebSocket handshake: want 400 OperationOutcome, got:\n%.600s",
                 a.text);
    }
    still_serving(srv);
}

/* ---- slow clients ---------------------------------------------------- */

typedef struct probe {
    th_server *s;
    long status;
    double took;
} probe;

static void *
probe_main(void *arg)
{
    probe *p = arg;
    double t0 = now_s();
    th_resp *r = th_req(p->s, "GET", "metadata", NULL, NULL);
    p->status = r->status;
    p->took = now_s() - t0;
    th_free(r);
    return NULL;
}

/* A server of the case's own; the case is skipped against an external
 * server, whose timeouts are not ours to set. */
static th_server *
start_own(const char *const *flags)
{
    th_server *s = th_start_flags(flags);
    if (s->srv == NULL) {
        th_stop(s);
        skip();
    }
    return s;
}

typedef struct slow {
    int fd;
    const char *script; /* sent one byte a second */
    size_t at;
    double closed; /* seconds after the start, or 0 while open */
    char got[1024];
    size_t ngot;
} slow;

/* Feeds each slow client one byte a second until the server closes it,
 * for at most limit_s; reads whatever the server answers. */
static void
drip(slow *c, int n, double t0, double limit_s)
{
    double next = t0;
    for (;;) {
        int open = 0;
        double now = now_s();
        for (int i = 0; i < n; i++) {
            if (c[i].closed > 0) {
                continue;
            }
            struct pollfd p = {c[i].fd, POLLIN, 0};
            if (poll(&p, 1, 0) > 0) {
                ssize_t k = recv(c[i].fd, c[i].got + c[i].ngot,
                                 sizeof(c[i].got) - 1 - c[i].ngot, 0);
                if (k > 0) {
                    c[i].ngot += (size_t)k;
                    c[i].got[c[i].ngot] = '\0';
                } else {
                    c[i].closed = now - t0;
                    continue;
                }
            }
            if (now >= next && c[i].script[c[i].at] != '\0') {
                if (send(c[i].fd, c[i].script + c[i].at, 1, MSG_NOSIGNAL) !=
                    1) {
                    c[i].closed = now - t0;
                    continue;
                }
                c[i].at++;
            }
            open++;
        }
        if (now >= next) {
            next += 1.0;
        }
        if (open == 0 || now - t0 > limit_s) {
            return;
        }
        usleep(20000);
    }
}

/* More clients sending their headers one byte a second than there are
 * workers: each is cut once the request timeout has passed since its
 * worker began reading, and an ordinary client is served meanwhile. */
static void
hostile_slow__header_one_byte_a_second_is_cut(void **state)
{
    (void)state;
    static const char *const flags[] = {"--threads", "2",
                                        "--request-timeout-ms", "2000", NULL};
    th_server *s = start_own(flags);
    const char *script = "GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n"
                         "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    slow c[3];
    memset(c, 0, sizeof(c));
    double t0 = now_s();
    for (int i = 0; i < 3; i++) {
        c[i].fd = dial(s);
        c[i].script = script;
    }
    /* An ordinary request, queued behind the slow ones. */
    probe p = {s, 0, 0};
    pthread_t th;
    usleep(200000);
    assert_int_equal(pthread_create(&th, NULL, probe_main, &p), 0);
    drip(c, 3, t0, 20.0);
    pthread_join(th, NULL);
    for (int i = 0; i < 3; i++) {
        close(c[i].fd);
        print_message("slow header %d: cut after %.1f s\n", i, c[i].closed);
        /* Cut, not answered: held at least to the timeout, at most
         * three timeouts (the third waits for a worker) plus slack. */
        if (c[i].closed < TIMEOUT_MS / 1000.0 - 0.2 ||
            c[i].closed > 3 * TIMEOUT_MS / 1000.0 + 4.0 ||
            strstr(c[i].got, " 200 ") != NULL) {
            fail_msg("slow client %d: closed after %.1f s (0: never), "
                     "got '%.200s'",
                     i, c[i].closed, c[i].got);
        }
    }
    print_message("ordinary request: %ld after %.1f s\n", p.status, p.took);
    if (p.status != 200 || p.took > 3 * TIMEOUT_MS / 1000.0 + 4.0) {
        fail_msg("ordinary request: %ld after %.1f s", p.status, p.took);
    }
    th_stop(s);
}

/* Headers at once, then the body one byte a second: CivetWeb alone would
 * wait for every byte; deadline.c ends the read at the timeout with 408,
 * chunked or not, and the other worker serves an ordinary client. */
static void
hostile_slow__body_one_byte_a_second_is_408(void **state)
{
    (void)state;
    static const char *const flags[] = {"--threads", "2",
                                        "--request-timeout-ms", "2000", NULL};
    th_server *s = start_own(flags);
    static const char *const heads[] = {POST_TASK "Content-Length: 100\r\n\r\n",
                                        POST_TASK
                                        "Transfer-Encoding: chunked\r\n\r\n"};
    static const char *const drips[] = {
        "{\"resourceType\":\"Task\",\"status\":\"requested\"                 "
        "                                          ",
        "1\r\n{\r\n1\r\n \r\n1\r\n \r\n1\r\n \r\n1\r\n \r\n1\r\n \r\n1\r\n "
        "\r\n1\r\n \r\n1\r\n \r\n1\r\n \r\n"};
    slow c[2];
    memset(c, 0, sizeof(c));
    double t0 = now_s();
    for (int i = 0; i < 2; i++) {
        c[i].fd = dial(s);
        send_all(c[i].fd, heads[i], strlen(heads[i]));
        c[i].script = drips[i];
    }
    drip(c, 2, t0, 15.0);
    for (int i = 0; i < 2; i++) {
        close(c[i].fd);
        print_message("slow body %d: cut after %.1f s\n", i, c[i].closed);
        if (c[i].closed == 0 || c[i].closed > TIMEOUT_MS / 1000.0 + 4.0 ||
            strstr(c[i].got, "HTTP/1.1 408 ") != c[i].got ||
            strstr(c[i].got, "\"timeout\"") == NULL) {
            fail_msg("slow body %d: closed after %.1f s (0: never), "
                     "got '%.300s'",
                     i, c[i].closed, c[i].got);
        }
    }
    still_serving(s);
    th_stop(s);
}

/* A keep-alive connection left idle after a request is closed after
 * --keep-alive-timeout-ms, so idle clients do not keep workers either. */
static void
hostile_slow__idle_keep_alive_is_closed(void **state)
{
    (void)state;
    static const char *const flags[] = {
        "--threads", "2", "--keep-alive-timeout-ms", "1000", NULL};
    th_server *s = start_own(flags);
    int fd = dial(s);
    const char *req = "GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, req, strlen(req));
    double t0 = now_s();
    char *buf = malloc(1 << 20);
    size_t n = recv_all(fd, buf, 1 << 20, 10.0); /* answer, then close */
    double took = now_s() - t0;
    assert_true(n > 0 && strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
    free(buf);
    close(fd);
    print_message("idle keep-alive: closed after %.1f s\n", took);
    if (took < 0.8 || took > 8.0) {
        fail_msg("idle connection closed after %.1f s, want about 1", took);
    }
    th_stop(s);
}

static int
setup(void **state)
{
    (void)state;
    static const char *const flags[] = {
        "--threads",    "4",          "--request-timeout-ms",
        "2000",         "--max-body", "10000",
        "--max-header", "16384",      NULL};
    signal(SIGPIPE, SIG_IGN);
    srv = th_start_flags(flags);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    th_stop(srv);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hostile_files__no_file_is_served),
        cmocka_unit_test(hostile_files__encoded_nul_in_path_is_400),
        cmocka_unit_test(hostile_methods__unknown_or_unsupported),
        cmocka_unit_test(hostile_request_line__garbage),
        cmocka_unit_test(hostile_headers__oversized),
        cmocka_unit_test(hostile_headers__many),
        cmocka_unit_test(hostile_body__huge_content_length_without_body),
        cmocka_unit_test(hostile_body__chunked_over_the_limit),
        cmocka_unit_test(hostile_body__ambiguous_length),
        cmocka_unit_test(hostile_websocket__handshake_refused),
        cmocka_unit_test(hostile_slow__header_one_byte_a_second_is_cut),
        cmocka_unit_test(hostile_slow__body_one_byte_a_second_is_408),
        cmocka_unit_test(hostile_slow__idle_keep_alive_is_closed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
