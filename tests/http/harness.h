/* tests/http/harness.h - what the HTTP tests share: a real server on an
 * ephemeral loopback port with a temporary database (in-process, or the
 * one named by FHIR_TEST_BASE_URL), and a small libcurl client.
 */
#ifndef TESTS_HTTP_HARNESS_H
#define TESTS_HTTP_HARNESS_H

#include <stddef.h>
#include <cjson/cJSON.h>

typedef struct th_server {
    char base[128]; /* e.g. http://127.0.0.1:41234/fhir */
    char dir[256];  /* temporary directory holding the database */
    char db[300];
    void *srv;                /* srv_server*, NULL for an external server */
    const char *const *flags; /* command-line flags it was started with */
} th_server;

/* Starts the server in-process on 127.0.0.1:0 with a fresh database, or
 * uses FHIR_TEST_BASE_URL. `load` (may be NULL) is a Bundle to load.
 * Aborts the test program on failure. */
th_server *th_start(const char *load);
/* Same, with extra settings: max_body (0 = default), max_depth (0). */
th_server *th_start_opts(const char *load, size_t max_body, int max_depth);
/* Same, with --base-url `base_url`; base stays the loopback address the
 * server is reached at. */
th_server *th_start_base_url(const char *base_url);
/* Same, with command-line flags (NULL-terminated, e.g. "--max-body",
 * "1000", NULL), which must outlive the server. */
th_server *th_start_flags(const char *const *flags);
/* Stops an in-process server and starts it again on the same database
 * (with --base-url `base_url`, may be NULL); base changes with the port.
 * Does nothing for an external server. */
void th_restart(th_server *s, const char *base_url);
void th_stop(th_server *s);

typedef struct th_resp {
    long status;
    char *body; /* NUL-terminated */
    size_t len;
    char *headers;   /* raw response header block */
    cJSON *json;     /* parsed body, or NULL */
    char *hvals[16]; /* values handed out by th_header(), freed with r */
    int nh;
} th_resp;

/* Performs a request. `url` is relative to base when it does not start
 * with "http". `headers` is a NULL-terminated list of "Name: value"
 * lines (may be NULL). `body` may be NULL. */
th_resp *th_req(th_server *s, const char *method, const char *url,
                const char *body, const char *const *headers);
/* As th_req on a caller-owned CURL handle (keep-alive across calls). */
th_resp *th_req_on(void *curl, th_server *s, const char *method,
                   const char *url, const char *body, size_t body_len,
                   const char *const *headers);
void th_free(th_resp *r);

/* Value of response header `name` (case-insensitive) in a static-free
 * buffer owned by r, or NULL. */
const char *th_header(th_resp *r, const char *name);
/* A string at a simple path like "issue.0.code" or "meta.versionId". */
const char *th_str(const cJSON *j, const char *path);
/* First issue code of an OperationOutcome body, or NULL. */
const char *th_issue(th_resp *r);
/* Reads a file under FHIR_TEST_ROOT (or "."), NUL-terminated; caller
 * frees. Aborts when missing. */
char *th_read_file(const char *rel, size_t *len);
/* Creates a resource by POST and returns its new id (caller frees). */
char *th_create(th_server *s, const char *type, const char *body);

#endif
