/* server/http.c - the HTTP details of R4 http.html shared by every
 * interaction: content negotiation (Accept, _format, Content-Type), the
 * request body with its caps, ETags, and replies.
 *
 * Every reply goes through srv__reply_raw() (or srv__reply_buf(), the
 * same head written in front of a built body), so every response has the
 * FHIR content type, a Content-Length (keep-alive depends on it) and no
 * body for HEAD; every error is an OperationOutcome.
 */
#include "server/server.h"
#include "server/server_int.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FHIR_JSON_TYPE "application/fhir+json; charset=utf-8"

const char *
srv__header(const srv_req *r, const char *name)
{
    if (r->sub != NULL) {
        /* A Bundle entry has the headers its request element can carry. */
        static const struct {
            const char *name;
            size_t off;
        } hs[] = {{"If-Match", offsetof(srv_sub, if_match)},
                  {"If-None-Match", offsetof(srv_sub, if_none_match)},
                  {"If-Modified-Since", offsetof(srv_sub, if_modified_since)},
                  {"If-None-Exist", offsetof(srv_sub, if_none_exist)},
                  {"Content-Type", offsetof(srv_sub, content_type)}};
        for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
            if (strcasecmp(name, hs[i].name) == 0) {
                return *(const char *const *)((const char *)r->sub + hs[i].off);
            }
        }
        return NULL;
    }
    return mg_get_header(r->conn, name);
}

/* 1 when the media range (parameters stripped) can be answered by JSON. */
static int
json_ok(const char *m, size_t n)
{
    static const char *const ok[] = {"*/*",
                                     "application/*",
                                     "application/json",
                                     "application/fhir+json",
                                     "application/json+fhir",
                                     "json",
                                     "text/json",
                                     "fhir+json"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strlen(ok[i]) == n && strncasecmp(m, ok[i], n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* 1 when a list of media ranges ("a/b;q=0.5, c/d") admits JSON. A range
 * with q=0 is a refusal and does not count. */
static int
admits_json(const char *list)
{
    const char *p = list;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        const char *start = p;
        while (*p != '\0' && *p != ',' && *p != ';' && *p != ' ') {
            p++;
        }
        size_t n = (size_t)(p - start);
        int refused = 0;
        while (*p != '\0' && *p != ',') {
            if (*p == 'q' && p[1] == '=' && strtod(p + 2, NULL) <= 0.0 &&
                (p[2] == '0' || p[2] == '.')) {
                refused = 1;
            }
            p++;
        }
        if (n > 0 && !refused && json_ok(start, n)) {
            return 1;
        }
    }
    return 0;
}

int
srv__negotiate(srv_req *r)
{
    /* _format overrides Accept (R4 http.html#mime-type). */
    const char *fmt = search_query_get(&r->query, "_format");
    if (fmt != NULL) {
        if (!admits_json(fmt)) {
            srv__reply_issue(r, 406, FHIR_ISSUE_NOT_SUPPORTED,
                             "_format '%.64s' is not supported; this server "
                             "speaks JSON only (_format=json)",
                             fmt);
            return -1;
        }
        return 0;
    }
    const char *accept = srv__header(r, "Accept");
    if (accept != NULL && accept[0] != '\0' && !admits_json(accept)) {
        srv__reply_issue(r, 406, FHIR_ISSUE_NOT_SUPPORTED,
                         "Accept '%.64s' cannot be met; this server speaks "
                         "JSON only (application/fhir+json)",
                         accept);
        return -1;
    }
    return 0;
}

/* Content-Type of a body: JSON flavours only; a missing one is JSON. */
static int
content_type_ok(const char *ct)
{
    if (ct == NULL || ct[0] == '\0') {
        return 1;
    }
    size_t n = strcspn(ct, "; ");
    return json_ok(ct, n) && strncmp(ct, "*/*", 3) != 0 &&
           strncasecmp(ct, "application/*", 13) != 0;
}

int
srv__read_raw(srv_req *r, fhir_buf *body)
{
    size_t cap = r->srv->cfg.max_body;
    char chunk[16384];
    srv_watch w;
    int rc = 0;
    if (r->ri->content_length > (long long)cap) {
        /* Do not read a body we will refuse; the connection closes. */
        mg_disable_keep_alive(r->conn);
        srv__reply_issue(r, 413, FHIR_ISSUE_TOO_LONG,
                         "Request body of %lld bytes is over the limit of "
                         "%zu bytes",
                         r->ri->content_length, cap);
        return -1;
    }
    /* Chunked bodies have no length: the cap is checked as they come. */
    srv__deadline_arm(r, &w);
    for (;;) {
        int n = mg_read(r->conn, chunk, sizeof(chunk));
        if (n <= 0) {
            break;
        }
        if (body->len + (size_t)n > cap) {
            rc = 413;
            break;
        }
        fhir_buf_append(body, chunk, (size_t)n);
    }
    if (srv__deadline_disarm(r, &w)) {
        rc = 408;
    }
    if (rc != 0) {
        mg_disable_keep_alive(r->conn);
        fhir_buf_clear(body);
    }
    if (rc == 408) {
        srv__reply_issue(r, 408, FHIR_ISSUE_TIMEOUT,
                         "The request body did not arrive within %d ms",
                         r->srv->cfg.request_timeout_ms);
    } else if (rc == 413) {
        srv__reply_issue(r, 413, FHIR_ISSUE_TOO_LONG,
                         "Request body is over the limit of %zu bytes", cap);
    }
    return rc != 0 ? -1 : 0;
}

/* Reads the request body under the size cap into body; -1 replied. */
static int
read_body(srv_req *r, fhir_buf *body)
{
    if (srv__read_raw(r, body) != 0) {
        return -1;
    }
    if (body->len == 0) {
        srv__reply_issue(r, 400, FHIR_ISSUE_STRUCTURE,
                         "The request has no body; %s was expected",
                         r->method == SRV_PATCH ? "a patch document"
                                                : "a FHIR resource in JSON");
        return -1;
    }
    return 0;
}

/* Reads and parses a JSON body (any JSON value; with fhir_rules, as the
 * FHIR JSON format restricts it); -1 replied. */
static int
read_any_json(srv_req *r, cJSON **out, int fhir_rules)
{
    fhir_err err = FHIR_ERR_INIT;
    fhir_buf body = FHIR_BUF_INIT;
    *out = NULL;
    if (r->sub != NULL) {
        /* A Bundle entry: the resource element, handed over once. */
        *out = r->sub->body;
        r->sub->body = NULL;
        if (*out == NULL) {
            srv__reply_issue(r, 400, FHIR_ISSUE_REQUIRED,
                             "The entry has no resource");
            return -1;
        }
        return 0;
    }
    if (read_body(r, &body) != 0) {
        return -1;
    }
    fhir_json_opts jo = FHIR_JSON_OPTS_INIT;
    jo.max_depth = r->srv->cfg.max_depth;
    jo.fhir_rules = fhir_rules;
    int rc = fhir_json_parse(out, body.data, body.len, &jo, &err);
    fhir_buf_clear(&body);
    if (rc != 0) {
        if (err.issue == FHIR_ISSUE_TOO_LONG) {
            err.status = 400; /* nesting, not size: the body was read */
        }
        srv__reply_err(r, &err);
        return -1;
    }
    return 0;
}

int
srv__read_json(srv_req *r, cJSON **out)
{
    *out = NULL;
    if (!content_type_ok(srv__header(r, "Content-Type"))) {
        srv__reply_issue(r, 415, FHIR_ISSUE_NOT_SUPPORTED,
                         "Content-Type '%.64s' is not supported; send "
                         "application/fhir+json",
                         srv__header(r, "Content-Type"));
        return -1;
    }
    cJSON *json = NULL;
    if (read_any_json(r, &json, 1) != 0) {
        return -1;
    }
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        srv__reply_issue(r, 400, FHIR_ISSUE_STRUCTURE,
                         "The body must be a JSON object (a FHIR resource)");
        return -1;
    }
    *out = json;
    return 0;
}

int
srv__read_patch(srv_req *r, cJSON **out, int *json_patch)
{
    const char *ct = srv__header(r, "Content-Type");
    *out = NULL;
    *json_patch = ct != NULL &&
                  strncasecmp(ct, "application/json-patch+json", 27) == 0 &&
                  (ct[27] == '\0' || ct[27] == ';' || ct[27] == ' ');
    if (!*json_patch) {
        if (ct == NULL || !content_type_ok(ct)) {
            srv__reply_issue(r, 415, FHIR_ISSUE_NOT_SUPPORTED,
                             "PATCH takes application/json-patch+json (JSON "
                             "Patch) or application/fhir+json (FHIRPath "
                             "Patch Parameters), not '%.64s'",
                             ct ? ct : "(none)");
            return -1;
        }
    }
    /* A JSON Patch is plain JSON (an empty list, a null value); what it
     * makes is checked as a resource afterwards. */
    cJSON *json = NULL;
    if (read_any_json(r, &json, !*json_patch) != 0) {
        return -1;
    }
    if (*json_patch ? !cJSON_IsArray(json) : !cJSON_IsObject(json)) {
        cJSON_Delete(json);
        srv__reply_issue(r, 400, FHIR_ISSUE_STRUCTURE,
                         *json_patch ? "A JSON Patch document is an array of "
                                       "operations"
                                     : "A FHIRPath Patch is a Parameters "
                                       "resource");
        return -1;
    }
    *out = json;
    return 0;
}

int
srv__parse_etag(const char *s, int64_t *out)
{
    char *end = NULL;
    while (*s == ' ') {
        s++;
    }
    if (strncmp(s, "W/", 2) == 0) {
        s += 2;
    }
    int quoted = *s == '"';
    if (quoted) {
        s++;
    }
    if (!isdigit((unsigned char)*s)) {
        return -1;
    }
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || v < 1) {
        return -1;
    }
    if (quoted) {
        if (*end != '"') {
            return -1;
        }
        end++;
    }
    while (*end == ' ') {
        end++;
    }
    if (*end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static const char *
reason(int status)
{
    const char *t = mg_get_response_code_text(NULL, status);
    return t ? t : "";
}

/* Keeps a reply that must not go out yet: inside the request's own
 * transaction (sent after the commit) or for a Bundle entry (it goes
 * into the response Bundle). 1 when held. */
static int
reply_hold(srv_req *r, int status, const char *body, size_t len,
           const char *headers)
{
    if (r->sub == NULL && r->tx_own && r->tx_depth > 0) {
        free(r->held_body);
        free(r->held_headers);
        r->held_status = status;
        r->held_body = fhir_xstrndup(body ? body : "", body ? len : 0);
        r->held_len = body ? len : 0;
        r->held_headers = headers ? fhir_xstrdup(headers) : NULL;
        return 1;
    }
    if (r->sub != NULL) {
        free(r->sub->reply);
        r->sub->reply = fhir_xstrndup(body ? body : "", body ? len : 0);
        r->sub->reply_len = body ? len : 0;
        r->sub->status = status;
        r->status = status;
        return 1;
    }
    return 0;
}

/* The status line and headers of a reply into head[SRV_HEAD_MAX]; its
 * length. *send_body says whether the body follows (not for 304, 204 or
 * HEAD). A head too long for the buffer becomes a bare 500. */
#define SRV_HEAD_MAX 2048
static size_t
reply_head(char *head, srv_req *r, int *status, size_t len, const char *headers,
           int *send_body)
{
    int with_body = *status != 304 && *status != 204;
    int n =
        snprintf(head, SRV_HEAD_MAX,
                 "HTTP/1.1 %d %s\r\n"
                 "%s%s%s"
                 "Content-Length: %zu\r\n"
                 "Cache-Control: no-store\r\n"
                 "%s\r\n",
                 *status, reason(*status), with_body ? "Content-Type: " : "",
                 with_body ? FHIR_JSON_TYPE : "", with_body ? "\r\n" : "",
                 with_body ? len : 0, headers ? headers : "");
    if (n < 0 || n >= SRV_HEAD_MAX) {
        n = snprintf(head, SRV_HEAD_MAX,
                     "HTTP/1.1 500 Internal Server Error\r\n"
                     "Content-Length: 0\r\n\r\n");
        *status = 500;
        with_body = 0;
    }
    *send_body = with_body && r->method != SRV_HEAD && len > 0;
    return (size_t)n;
}

/* A small reply goes out in one write (one segment with tcp_nodelay,
 * rather than the head and the body apart). */
#define SRV_ONE_WRITE 8192

void
srv__reply_raw(srv_req *r, int status, const char *body, size_t len,
               const char *headers)
{
    char head[SRV_HEAD_MAX];
    int send_body = 0;
    if (reply_hold(r, status, body, len, headers)) {
        return;
    }
    size_t n = reply_head(head, r, &status, len, headers, &send_body);
    if (send_body && n + len <= SRV_ONE_WRITE) {
        char one[SRV_ONE_WRITE];
        memcpy(one, head, n);
        memcpy(one + n, body, len);
        mg_write(r->conn, one, n + len);
    } else {
        mg_write(r->conn, head, n);
        if (send_body) {
            mg_write(r->conn, body, len);
        }
    }
    r->status = status;
}

void
srv__reply_room(fhir_buf *b)
{
    static const char room[SRV_REPLY_ROOM];
    fhir_buf_append(b, room, sizeof(room));
}

void
srv__reply_buf(srv_req *r, int status, fhir_buf *b, const char *headers)
{
    char head[SRV_HEAD_MAX];
    int send_body = 0;
    char *body = b->data + SRV_REPLY_ROOM;
    size_t len = b->len - SRV_REPLY_ROOM;
    if (reply_hold(r, status, body, len, headers)) {
        return;
    }
    int sent = status;
    size_t n = reply_head(head, r, &sent, len, headers, &send_body);
    if (!send_body || n > SRV_REPLY_ROOM) {
        srv__reply_raw(r, status, body, len, headers);
        return;
    }
    memcpy(body - n, head, n);
    mg_write(r->conn, body - n, n + len);
    r->status = status;
}

void
srv__reply_release(srv_req *r, int send)
{
    int status = r->held_status;
    char *body = r->held_body, *headers = r->held_headers;
    r->held_status = 0;
    r->held_body = NULL;
    r->held_headers = NULL;
    if (send && status != 0) {
        srv__reply_raw(r, status, body, r->held_len, headers);
    }
    free(body);
    free(headers);
}

void
srv__reply_body(srv_req *r, int status, const char *body, size_t len,
                const char *headers)
{
    if (r->pretty) {
        cJSON *tree = NULL;
        fhir_json_opts jo = {512, 0};
        fhir_err err = FHIR_ERR_INIT;
        if (fhir_json_parse(&tree, body, len, &jo, &err) == 0) {
            srv__reply_json(r, status, tree, headers);
            return;
        }
    }
    srv__reply_raw(r, status, body, len, headers);
}

void
srv__reply_json(srv_req *r, int status, cJSON *json, const char *headers)
{
    fhir_buf b = FHIR_BUF_INIT;
    srv__reply_room(&b);
    fhir_json_write(&b, json, r->pretty);
    cJSON_Delete(json);
    srv__reply_buf(r, status, &b, headers);
    fhir_buf_clear(&b);
}

void
srv__reply_err(srv_req *r, const fhir_err *err)
{
    int status = err->status ? err->status : 500;
    srv__reply_json(r, status, fhir_oo_from_err(err), NULL);
}

void
srv__reply_issue(srv_req *r, int status, fhir_issue issue, const char *fmt, ...)
{
    char diag[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(diag, sizeof(diag), fmt, ap);
    va_end(ap);
    fhir_utf8_cut(diag);
    srv__reply_json(r, status, fhir_oo_new("error", issue, diag, NULL), NULL);
}

void
srv__put_encoded(fhir_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~' || c == ':' || c == ',' || c == '|') {
            fhir_buf_putc(b, (char)c);
        } else {
            fhir_buf_printf(b, "%%%02X", c);
        }
    }
}
