/* tests/http/test_http_cases.c - HTTP cases as data: every *.json file in
 * tests/http/cases/ (under FHIR_TEST_ROOT, else "."), in name order, each
 * case one cmocka test named "file:case name".
 *
 * A file is {"description": "...", "setup": [request...], "cases": [...]}.
 * Setup requests run once before any case and must answer 2xx. A case:
 *
 *   {"name": "...",
 *    "request": {"method": "POST", "path": "Task",
 *                "headers": ["Content-Type: application/fhir+json"],
 *                one of "body": <JSON, sent compactly>, "bodyText": "raw",
 *                       "bodyBase64": "...",
 *                       "bodyRepeat": {"prefix", "repeat", "times",
 *                                      "suffix"}},
 *    "expect": {"status": 400 | "4xx" | [200, 204],
 *               "issue": "structure", "expression": "Task.intent",
 *               "diagnosticsContains": "...",
 *               "headers": {"ETag": "W/\"1\"", "Allow": true},
 *               "json": {"a.0.b": <value>, "absent.path": null},
 *               "bodyContains": "raw bytes", "bodyEmpty": true},
 *    "save": {"var": "json.path"},
 *    "unchanged": true}
 *
 * issue, expression and diagnosticsContains must all hold for one and
 * the same issue of the OperationOutcome. A header value true only asks
 * for the header, false for its absence. "save" keeps a string of the
 * response for later cases of the same file, which use it as {var} in
 * path and headers. "unchanged" compares the system history
 * (_history?_count=1000: entry count, first fullUrl and etag) before and
 * after the request: nothing may have been written. Every reply with a
 * status of 400 or more must be an OperationOutcome.
 *
 * One server serves the whole run, with a body cap of 64 KiB and a JSON
 * depth cap of 32; cases of a file run in order and may build on each
 * other.
 */
#include "tests/http/harness.h"
#include "fhir/fhir.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CASES_DIR "tests/http/cases"
#define MAX_BODY (64 * 1024)
#define MAX_DEPTH 32
#define MSG_MAX 8192

typedef struct tc_file {
    char *name;  /* e.g. "bad_input.json" */
    cJSON *root; /* the parsed file */
    cJSON *vars; /* values kept by "save" */
} tc_file;

typedef struct tc_case {
    tc_file *file;
    const cJSON *c;
    char *title; /* "file:case name" */
} tc_case;

typedef struct tc_req {
    const char *method;
    char *url;
    char **headers; /* NULL-terminated */
    char *body;     /* NULL when there is none */
    size_t len;
} tc_req;

/* The failure text of one case, collected while it runs. */
typedef struct tc_msg {
    char text[MSG_MAX];
    size_t len;
} tc_msg;

static th_server *srv;
static tc_file *files;
static size_t nfiles;

/* Failure text handed to fail_msg(), which does not return. */
static char fail_text[MSG_MAX];

static void __attribute__((format(printf, 2, 3)))
msg_add(tc_msg *m, const char *fmt, ...)
{
    va_list ap;
    size_t room = sizeof(m->text) - m->len;
    if (room <= 1) {
        return;
    }
    va_start(ap, fmt);
    int n = vsnprintf(m->text + m->len, room, fmt, ap);
    va_end(ap);
    if (n > 0) {
        m->len += (size_t)n < room ? (size_t)n : room - 1;
    }
}

/* Appends at most `max` bytes of `s`, control and non-ASCII bytes as
 * \xNN, so that a message survives any body. */
static void
msg_bytes(tc_msg *m, const char *s, size_t len, size_t max)
{
    char esc[8];
    size_t n = len < max ? len : max;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f) {
            esc[0] = (char)c;
            esc[1] = '\0';
        } else {
            snprintf(esc, sizeof(esc), "\\x%02X", c);
        }
        msg_add(m, "%s", esc);
    }
    if (len > n) {
        msg_add(m, "... (%zu bytes)", len);
    }
}

static void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fputs("test_http_cases: out of memory\n", stderr);
        exit(2);
    }
    return p;
}

static const char *
root_dir(void)
{
    const char *r = getenv("FHIR_TEST_ROOT");
    return r ? r : ".";
}

/* ---- values from JSON ------------------------------------------------ */

static const char *
jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The node at a path like "issue.0.expression.0", or NULL. */
static const cJSON *
jpath(const cJSON *j, const char *path)
{
    char buf[512];
    if (path[0] == '\0') {
        return j;
    }
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *tok = buf; j != NULL && tok != NULL;) {
        char *dot = strchr(tok, '.');
        if (dot != NULL) {
            *dot = '\0';
        }
        if (cJSON_IsArray(j)) {
            char *end = NULL;
            long i = strtol(tok, &end, 10);
            j = *end == '\0' && end != tok && i >= 0
                    ? cJSON_GetArrayItem(j, (int)i)
                    : NULL;
        } else if (cJSON_IsObject(j)) {
            j = cJSON_GetObjectItemCaseSensitive(j, tok);
        } else {
            j = NULL;
        }
        tok = dot ? dot + 1 : NULL;
    }
    return j;
}

/* Decodes base64 (R4 base64Binary: padded, whitespace skipped); -1 when
 * it is not base64. */
static int
b64_decode(const char *s, char **out, size_t *len)
{
    fhir_buf b = FHIR_BUF_INIT;
    if (fhir_base64_decode(&b, s, strlen(s)) != 0) {
        fhir_buf_clear(&b);
        return -1;
    }
    *out = fhir_buf_take(&b, len);
    return 0;
}

/* ---- requests -------------------------------------------------------- */

/* Replaces {var} by the saved value; -1 (and a message) when a variable
 * is unknown. */
static char *
expand(const char *s, const tc_file *f, tc_msg *m)
{
    size_t cap = strlen(s) + 1, len = 0;
    char *out = xmalloc(cap);
    while (*s != '\0') {
        const char *close = NULL;
        if (*s == '{') {
            close = s + 1;
            while ((*close >= 'a' && *close <= 'z') ||
                   (*close >= 'A' && *close <= 'Z') ||
                   (*close >= '0' && *close <= '9') || *close == '_') {
                close++;
            }
            if (*close != '}' || close == s + 1) {
                close = NULL;
            }
        }
        if (close == NULL) {
            out[len++] = *s++;
            continue;
        }
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(close - s - 1), s + 1);
        const char *v = jstr(f->vars, name);
        if (v == NULL) {
            msg_add(m,
                    "variable {%s} is not set (did the case saving it "
                    "fail?)\n",
                    name);
            free(out);
            return NULL;
        }
        size_t vl = strlen(v);
        cap += vl;
        out = realloc(out, cap);
        if (out == NULL) {
            exit(2);
        }
        memcpy(out + len, v, vl);
        len += vl;
        s = close + 1;
    }
    out[len] = '\0';
    return out;
}

static void
req_clear(tc_req *q)
{
    free(q->url);
    for (int i = 0; q->headers != NULL && q->headers[i] != NULL; i++) {
        free(q->headers[i]);
    }
    free(q->headers);
    free(q->body);
    memset(q, 0, sizeof(*q));
}

/* Builds a request from its JSON description; -1 with a message. */
static int
req_build(tc_req *q, const cJSON *rq, const tc_file *f, tc_msg *m)
{
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(rq, "headers");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(rq, "body");
    const char *text = jstr(rq, "bodyText");
    const char *b64 = jstr(rq, "bodyBase64");
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(rq, "bodyRepeat");
    const char *path = jstr(rq, "path");
    int i = 0;

    memset(q, 0, sizeof(*q));
    q->method = jstr(rq, "method");
    if (q->method == NULL || path == NULL) {
        msg_add(m, "request needs a method and a path\n");
        return -1;
    }
    if ((q->url = expand(path, f, m)) == NULL) {
        return -1;
    }
    q->headers = xmalloc(((size_t)cJSON_GetArraySize(hs) + 1) * sizeof(char *));
    q->headers[0] = NULL;
    const cJSON *h;
    cJSON_ArrayForEach(h, hs)
    {
        if (!cJSON_IsString(h) ||
            (q->headers[i] = expand(h->valuestring, f, m)) == NULL) {
            msg_add(m, "bad request header\n");
            return -1;
        }
        q->headers[++i] = NULL;
    }
    if ((body != NULL) + (text != NULL) + (b64 != NULL) + (rep != NULL) > 1) {
        msg_add(m, "request has more than one kind of body\n");
        return -1;
    }
    if (body != NULL) {
        q->body = cJSON_PrintUnformatted(body);
        q->len = strlen(q->body);
    } else if (text != NULL) {
        q->body = strdup(text);
        q->len = strlen(text);
    } else if (b64 != NULL) {
        if (b64_decode(b64, &q->body, &q->len) != 0) {
            msg_add(m, "bodyBase64 is not base64\n");
            return -1;
        }
    } else if (rep != NULL) {
        const char *pre = jstr(rep, "prefix"), *unit = jstr(rep, "repeat");
        const char *suf = jstr(rep, "suffix");
        const cJSON *times = cJSON_GetObjectItemCaseSensitive(rep, "times");
        pre = pre ? pre : "";
        suf = suf ? suf : "";
        if (unit == NULL || !cJSON_IsNumber(times) || times->valuedouble < 0 ||
            times->valuedouble > 1e8) {
            msg_add(m, "bodyRepeat needs repeat and times\n");
            return -1;
        }
        size_t t = (size_t)times->valuedouble, ul = strlen(unit);
        size_t pl = strlen(pre), sl = strlen(suf);
        q->len = pl + ul * t + sl;
        q->body = xmalloc(q->len + 1);
        memcpy(q->body, pre, pl);
        for (size_t k = 0; k < t; k++) {
            memcpy(q->body + pl + k * ul, unit, ul);
        }
        memcpy(q->body + pl + ul * t, suf, sl);
        q->body[q->len] = '\0';
    }
    return 0;
}

static th_resp *
req_send(const tc_req *q)
{
    CURL *c = curl_easy_init();
    th_resp *r = th_req_on(c, srv, q->method, q->url, q->body, q->len,
                           (const char *const *)q->headers);
    curl_easy_cleanup(c);
    return r;
}

static void
msg_request(tc_msg *m, const tc_req *q)
{
    msg_add(m, "request: %s %s\n", q->method, q->url);
    for (int i = 0; q->headers[i] != NULL; i++) {
        msg_add(m, "  %s\n", q->headers[i]);
    }
    if (q->body != NULL) {
        msg_add(m, "  body: ");
        msg_bytes(m, q->body, q->len, 400);
        msg_add(m, "\n");
    }
}

static void
msg_response(tc_msg *m, th_resp *r)
{
    msg_add(m, "got: %ld\n  body: ", r->status);
    msg_bytes(m, r->body, r->len, 2000);
    msg_add(m, "\n");
}

/* ---- "unchanged" ------------------------------------------------------ */

typedef struct snapshot {
    int entries;
    char first[512]; /* fullUrl and etag of the newest entry */
    long status;
} snapshot;

static void
snap_take(snapshot *s)
{
    th_resp *r = th_req(srv, "GET", "_history?_count=1000", NULL, NULL);
    const char *url = th_str(r->json, "entry.0.fullUrl");
    const char *etag = th_str(r->json, "entry.0.response.etag");
    s->status = r->status;
    s->entries = cJSON_GetArraySize(cJSON_GetObjectItem(r->json, "entry"));
    snprintf(s->first, sizeof(s->first), "%s %s", url ? url : "-",
             etag ? etag : "-");
    th_free(r);
}

/* ---- expectations ---------------------------------------------------- */

static int
status_ok(const cJSON *want, long got)
{
    const cJSON *w;
    if (cJSON_IsNumber(want)) {
        return (long)want->valuedouble == got;
    }
    if (cJSON_IsString(want)) {
        /* "4xx": the first digit decides */
        const char *s = want->valuestring;
        return strlen(s) == 3 && (s[1] == 'x' || s[1] == 'X') &&
               got / 100 == s[0] - '0';
    }
    cJSON_ArrayForEach(w, want)
    {
        if (status_ok(w, got)) {
            return 1;
        }
    }
    return 0;
}

static int
strings_contain(const cJSON *list, const char *s)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, list)
    {
        if (cJSON_IsString(v) && strcmp(v->valuestring, s) == 0) {
            return 1;
        }
    }
    return 0;
}

/* One issue of the OperationOutcome with the wanted code, expression and
 * diagnostics. */
static void
check_issue(tc_msg *m, th_resp *r, const cJSON *ex)
{
    const char *code = jstr(ex, "issue");
    const char *expr = jstr(ex, "expression");
    const char *diag = jstr(ex, "diagnosticsContains");
    const cJSON *is;
    if (code == NULL && expr == NULL && diag == NULL) {
        return;
    }
    const char *rt = th_str(r->json, "resourceType");
    if (rt == NULL || strcmp(rt, "OperationOutcome") != 0) {
        msg_add(m, "expected an OperationOutcome\n");
        return;
    }
    cJSON_ArrayForEach(is, cJSON_GetObjectItem(r->json, "issue"))
    {
        const char *c = jstr(is, "code");
        const char *d = jstr(is, "diagnostics");
        if ((code == NULL || (c != NULL && strcmp(c, code) == 0)) &&
            (expr == NULL ||
             strings_contain(cJSON_GetObjectItem(is, "expression"), expr)) &&
            (diag == NULL || (d != NULL && strstr(d, diag) != NULL))) {
            return;
        }
    }
    msg_add(m, "expected an issue with%s%s%s%s%s%s\n", code ? " code " : "",
            code ? code : "", expr ? " expression " : "", expr ? expr : "",
            diag ? " diagnostics containing " : "", diag ? diag : "");
}

static void
check_headers(tc_msg *m, th_resp *r, const cJSON *hs)
{
    const cJSON *h;
    cJSON_ArrayForEach(h, hs)
    {
        const char *got = th_header(r, h->string);
        if (cJSON_IsTrue(h) && got == NULL) {
            msg_add(m, "expected header %s\n", h->string);
        } else if (cJSON_IsFalse(h) && got != NULL) {
            msg_add(m, "expected no header %s, got '%s'\n", h->string, got);
        } else if (cJSON_IsString(h) &&
                   (got == NULL || strcmp(got, h->valuestring) != 0)) {
            msg_add(m, "expected header %s: %s, got %s\n", h->string,
                    h->valuestring, got ? got : "(none)");
        }
    }
}

static void
check_json(tc_msg *m, th_resp *r, const cJSON *js)
{
    const cJSON *w;
    cJSON_ArrayForEach(w, js)
    {
        const cJSON *got = r->json ? jpath(r->json, w->string) : NULL;
        if (cJSON_IsNull(w) ? got != NULL
                            : got == NULL || !cJSON_Compare(got, w, 1)) {
            char *ws = cJSON_PrintUnformatted(w);
            char *gs = got ? cJSON_PrintUnformatted(got) : NULL;
            msg_add(m, "expected %s = %s, got %s\n", w->string, ws,
                    gs ? gs : "(absent)");
            free(ws);
            free(gs);
        }
    }
}

static void
check_expect(tc_msg *m, th_resp *r, const cJSON *ex)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(ex, "status");
    const char *contains = jstr(ex, "bodyContains");
    if (st != NULL && !status_ok(st, r->status)) {
        char *ws = cJSON_PrintUnformatted(st);
        msg_add(m, "expected status %s\n", ws);
        free(ws);
    }
    if (r->status >= 400) {
        const char *rt = th_str(r->json, "resourceType");
        if (rt == NULL || strcmp(rt, "OperationOutcome") != 0) {
            msg_add(m, "an error reply must be an OperationOutcome\n");
        }
    }
    check_issue(m, r, ex);
    check_headers(m, r, cJSON_GetObjectItemCaseSensitive(ex, "headers"));
    check_json(m, r, cJSON_GetObjectItemCaseSensitive(ex, "json"));
    if (contains != NULL &&
        (r->body == NULL || strstr(r->body, contains) == NULL)) {
        msg_add(m, "expected the body to contain '%s'\n", contains);
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ex, "bodyEmpty")) &&
        r->len != 0) {
        msg_add(m, "expected an empty body\n");
    }
}

/* Keeps the strings named by "save" for later cases of the file. */
static void
save_vars(tc_msg *m, th_resp *r, tc_file *f, const cJSON *save)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, save)
    {
        const cJSON *v = cJSON_IsString(s) && r->json
                             ? jpath(r->json, s->valuestring)
                             : NULL;
        cJSON_DeleteItemFromObjectCaseSensitive(f->vars, s->string);
        if (!cJSON_IsString(v)) {
            msg_add(m, "cannot save {%s}: no string at %s\n", s->string,
                    cJSON_IsString(s) ? s->valuestring : "?");
            continue;
        }
        cJSON_AddStringToObject(f->vars, s->string, v->valuestring);
    }
}

/* ---- the test -------------------------------------------------------- */

static void
run_case(void **state)
{
    tc_case *tc = *state;
    const cJSON *c = tc->c;
    const cJSON *rq = cJSON_GetObjectItemCaseSensitive(c, "request");
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(c, "expect");
    int unchanged =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "unchanged"));
    tc_msg *m = calloc(1, sizeof(*m));
    tc_req q;
    snapshot before, after;

    if (req_build(&q, rq, tc->file, m) != 0) {
        req_clear(&q);
        snprintf(fail_text, sizeof(fail_text), "%s", m->text);
        free(m);
        fail_msg("%s: %s", tc->title, fail_text);
    }
    if (unchanged) {
        snap_take(&before);
    }
    th_resp *r = req_send(&q);
    check_expect(m, r, ex);
    save_vars(m, r, tc->file, cJSON_GetObjectItemCaseSensitive(c, "save"));
    if (unchanged) {
        snap_take(&after);
        if (before.status != 200 || after.status != 200) {
            msg_add(m, "system history answered %ld / %ld\n", before.status,
                    after.status);
        } else if (before.entries != after.entries ||
                   strcmp(before.first, after.first) != 0) {
            msg_add(m,
                    "something was written: history had %d entries (newest "
                    "%s), now %d (newest %s)\n",
                    before.entries, before.first, after.entries, after.first);
        }
    }
    if (m->len > 0) {
        msg_request(m, &q);
        msg_response(m, r);
    }
    th_free(r);
    req_clear(&q);
    if (m->len > 0) {
        snprintf(fail_text, sizeof(fail_text), "%s", m->text);
        free(m);
        fail_msg("%s\n%s", tc->title, fail_text);
    }
    free(m);
}

/* ---- loading and setup ----------------------------------------------- */

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads every case file, sorted by name; exits on a broken file. */
static void
load_files(void)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/" CASES_DIR, root_dir());
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "test_http_cases: cannot open %s\n", dir);
        exit(2);
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0 &&
            e->d_name[0] != '.') {
            names = realloc(names, (n + 1) * sizeof(*names));
            names[n++] = strdup(e->d_name);
        }
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "test_http_cases: no *.json in %s\n", dir);
        exit(2);
    }
    qsort(names, n, sizeof(*names), name_cmp);
    files = calloc(n, sizeof(*files));
    for (size_t i = 0; i < n; i++) {
        char rel[1100];
        size_t len = 0;
        snprintf(rel, sizeof(rel), CASES_DIR "/%s", names[i]);
        char *text = th_read_file(rel, &len);
        files[i].name = names[i];
        files[i].root = cJSON_ParseWithLength(text, len);
        files[i].vars = cJSON_CreateObject();
        free(text);
        const cJSON *cases =
            cJSON_GetObjectItemCaseSensitive(files[i].root, "cases");
        if (!cJSON_IsArray(cases)) {
            fprintf(stderr,
                    "test_http_cases: %s is not JSON with a cases array\n",
                    rel);
            exit(2);
        }
        const cJSON *c;
        cJSON_ArrayForEach(c, cases)
        {
            if (jstr(c, "name") == NULL ||
                !cJSON_IsObject(cJSON_GetObjectItem(c, "request")) ||
                !cJSON_IsObject(cJSON_GetObjectItem(c, "expect"))) {
                fprintf(stderr,
                        "test_http_cases: %s: every case needs a name, a "
                        "request and an expect object\n",
                        rel);
                exit(2);
            }
        }
    }
    free(names);
    nfiles = n;
}

/* Starts the server and runs every file's setup requests. */
static int
group_setup(void **state)
{
    (void)state; /* left NULL: each test has its own initial_state */
    srv = th_start_opts(NULL, MAX_BODY, MAX_DEPTH);
    for (size_t i = 0; i < nfiles; i++) {
        const cJSON *s;
        cJSON_ArrayForEach(
            s, cJSON_GetObjectItemCaseSensitive(files[i].root, "setup"))
        {
            const cJSON *rq = cJSON_GetObjectItemCaseSensitive(s, "request");
            tc_msg m = {{0}, 0};
            tc_req q;
            if (req_build(&q, rq ? rq : s, &files[i], &m) != 0) {
                fprintf(stderr, "%s: setup: %s", files[i].name, m.text);
                req_clear(&q);
                return -1;
            }
            th_resp *r = req_send(&q);
            save_vars(&m, r, &files[i],
                      cJSON_GetObjectItemCaseSensitive(s, "save"));
            if (r->status < 200 || r->status > 299 || m.len > 0) {
                msg_request(&m, &q);
                msg_response(&m, r);
                fprintf(stderr, "%s: setup request failed:\n%s", files[i].name,
                        m.text);
                th_free(r);
                req_clear(&q);
                return -1;
            }
            th_free(r);
            req_clear(&q);
        }
    }
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    th_stop(srv);
    srv = NULL;
    return 0;
}

int
main(void)
{
    load_files();
    size_t n = 0;
    for (size_t i = 0; i < nfiles; i++) {
        n += (size_t)cJSON_GetArraySize(
            cJSON_GetObjectItemCaseSensitive(files[i].root, "cases"));
    }
    struct CMUnitTest *tests = calloc(n, sizeof(*tests));
    tc_case *cases = calloc(n, sizeof(*cases));
    size_t k = 0;
    for (size_t i = 0; i < nfiles; i++) {
        const cJSON *c;
        cJSON_ArrayForEach(
            c, cJSON_GetObjectItemCaseSensitive(files[i].root, "cases"))
        {
            const char *name = jstr(c, "name");
            size_t tl = strlen(files[i].name) + strlen(name) + 2;
            cases[k].file = &files[i];
            cases[k].c = c;
            cases[k].title = xmalloc(tl);
            snprintf(cases[k].title, tl, "%s:%s", files[i].name, name);
            tests[k].name = cases[k].title;
            tests[k].test_func = run_case;
            tests[k].initial_state = &cases[k];
            k++;
        }
    }
    /* cmocka_run_group_tests_name() takes the count from sizeof, which
     * only works for arrays of fixed size; this is what it expands to. */
    int rc = _cmocka_run_group_tests("http cases", tests, n, group_setup,
                                     group_teardown);
    for (size_t i = 0; i < n; i++) {
        free(cases[i].title);
    }
    for (size_t i = 0; i < nfiles; i++) {
        cJSON_Delete(files[i].root);
        cJSON_Delete(files[i].vars);
        free(files[i].name);
    }
    free(cases);
    free(tests);
    free(files);
    return rc;
}
