/* tests/http/harness.c - a real server for the HTTP tests, and a client.
 *
 * The server runs in-process (server/server.h) on 127.0.0.1 port 0 with
 * a database in a fresh temporary directory, so tests never collide on
 * ports or files; FHIR_TEST_BASE_URL aims the same tests at another
 * server instead. The client is libcurl, which also keeps connections
 * alive when a test reuses a handle.
 */
#include "tests/http/harness.h"
#include "server/server.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void
die(const char *what)
{
    fprintf(stderr, "harness: %s\n", what);
    exit(2);
}

static const char *
root(void)
{
    const char *r = getenv("FHIR_TEST_ROOT");
    return r ? r : ".";
}

/* Starts the in-process server on s->db (which must be set). */
static void
boot(th_server *s, const char *load, size_t max_body, int max_depth,
     const char *base_url)
{
    char defs[512], loadpath[512];
    snprintf(defs, sizeof(defs), "%s/profiles/definitions", root());
    srv_config cfg;
    srv_config_init(&cfg);
    if (s->flags != NULL) {
        char *argv[32] = {"fhir-server"};
        int argc = 1;
        char msg[256];
        for (; s->flags[argc - 1] != NULL && argc < 31; argc++) {
            argv[argc] = (char *)s->flags[argc - 1];
        }
        if (srv_config_parse(&cfg, argc, argv, msg, sizeof(msg)) != 0) {
            fprintf(stderr, "harness: bad flags: %s\n", msg);
            exit(2);
        }
    }
    cfg.port = 0;
    cfg.db_path = s->db;
    cfg.definitions = defs;
    cfg.base_url = base_url;
    cfg.quiet = 1;
    /* The search suite runs twice: with the hot index and SQL only. */
    cfg.no_hot = getenv("FHIR_TEST_NO_HOT") != NULL;
    if (max_body > 0) {
        cfg.max_body = max_body;
    }
    if (max_depth > 0) {
        cfg.max_depth = max_depth;
    }
    if (load != NULL) {
        snprintf(loadpath, sizeof(loadpath), "%s/%s", root(), load);
        cfg.load_path = loadpath;
    }
    fhir_err err = FHIR_ERR_INIT;
    srv_server *srv = NULL;
    if (srv_start(&srv, &cfg, &err) != 0) {
        fprintf(stderr, "harness: server did not start: %s\n", err.diag);
        exit(2);
    }
    s->srv = srv;
    /* Where the server is reached, whatever base it calls itself by. */
    snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d/fhir",
             srv_port(srv));
}

static th_server *
start(const char *load, size_t max_body, int max_depth, const char *base_url,
      const char *const *flags)
{
    static int curl_ready;
    th_server *s = calloc(1, sizeof(*s));
    s->flags = flags;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
    const char *ext = getenv("FHIR_TEST_BASE_URL");
    if (ext != NULL && ext[0] != '\0') {
        snprintf(s->base, sizeof(s->base), "%s", ext);
        return s;
    }
    snprintf(s->dir, sizeof(s->dir), "/tmp/fhir-test-XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        die("mkdtemp failed");
    }
    snprintf(s->db, sizeof(s->db), "%s/test.db", s->dir);
    boot(s, load, max_body, max_depth, base_url);
    return s;
}

th_server *
th_start_opts(const char *load, size_t max_body, int max_depth)
{
    return start(load, max_body, max_depth, NULL, NULL);
}

th_server *
th_start(const char *load)
{
    return start(load, 0, 0, NULL, NULL);
}

th_server *
th_start_base_url(const char *base_url)
{
    return start(NULL, 0, 0, base_url, NULL);
}

th_server *
th_start_flags(const char *const *flags)
{
    return start(NULL, 0, 0, NULL, flags);
}

void
th_restart(th_server *s, const char *base_url)
{
    if (s->srv != NULL) {
        srv_stop(s->srv);
        s->srv = NULL;
        boot(s, NULL, 0, 0, base_url);
    }
}

void
th_stop(th_server *s)
{
    char path[400];
    if (s == NULL) {
        return;
    }
    if (s->srv != NULL) {
        srv_stop(s->srv);
        const char *suffix[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof(path), "%s%s", s->db, suffix[i]);
            unlink(path);
        }
        rmdir(s->dir);
    }
    free(s);
}

struct sink {
    char *data;
    size_t len;
};

static size_t
collect(char *ptr, size_t size, size_t n, void *ud)
{
    struct sink *k = ud;
    size_t add = size * n;
    k->data = realloc(k->data, k->len + add + 1);
    memcpy(k->data + k->len, ptr, add);
    k->len += add;
    k->data[k->len] = '\0';
    return add;
}

th_resp *
th_req_on(void *curl, th_server *s, const char *method, const char *url,
          const char *body, size_t body_len, const char *const *headers)
{
    CURL *c = curl;
    char full[8192];
    struct sink b = {NULL, 0}, h = {NULL, 0};
    struct curl_slist *hl = NULL;
    if (strncmp(url, "http", 4) == 0) {
        snprintf(full, sizeof(full), "%s", url);
    } else {
        snprintf(full, sizeof(full), "%s%s%s", s->base,
                 url[0] == '/' || url[0] == '?' || url[0] == '\0' ? "" : "/",
                 url);
    }
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    int has_ct = 0;
    for (int i = 0; headers != NULL && headers[i] != NULL; i++) {
        hl = curl_slist_append(hl, headers[i]);
        has_ct |= strncasecmp(headers[i], "Content-Type:", 13) == 0;
    }
    if (body != NULL) {
        if (!has_ct) {
            hl = curl_slist_append(hl, "Content-Type: application/fhir+json");
        }
        hl = curl_slist_append(hl, "Expect:");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
        if (strcmp(method, "GET") == 0) {
            curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        }
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    th_resp *r = calloc(1, sizeof(*r));
    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    if (rc != CURLE_OK) {
        r->status = -1;
        fprintf(stderr, "harness: %s %s: %s\n", method, full,
                curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    }
    r->body = b.data ? b.data : strdup("");
    r->len = b.len;
    r->headers = h.data ? h.data : strdup("");
    r->json = cJSON_ParseWithLength(r->body, r->len);
    return r;
}

th_resp *
th_req(th_server *s, const char *method, const char *url, const char *body,
       const char *const *headers)
{
    CURL *c = curl_easy_init();
    th_resp *r =
        th_req_on(c, s, method, url, body, body ? strlen(body) : 0, headers);
    curl_easy_cleanup(c);
    return r;
}

void
th_free(th_resp *r)
{
    if (r == NULL) {
        return;
    }
    for (int i = 0; i < r->nh; i++) {
        free(r->hvals[i]);
    }
    cJSON_Delete(r->json);
    free(r->body);
    free(r->headers);
    free(r);
}

const char *
th_header(th_resp *r, const char *name)
{
    size_t nl = strlen(name);
    const char *p = r->headers;
    while (p != NULL && *p != '\0') {
        const char *eol = strstr(p, "\r\n");
        if (eol == NULL) {
            eol = p + strlen(p);
        }
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 &&
            p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ') {
                v++;
            }
            if (r->nh == 16) {
                return NULL;
            }
            char *copy = strndup(v, (size_t)(eol - v));
            r->hvals[r->nh++] = copy;
            return copy;
        }
        p = *eol ? eol + 2 : eol;
    }
    return NULL;
}

const char *
th_str(const cJSON *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *tok = buf; j != NULL && tok != NULL;) {
        char *dot = strchr(tok, '.');
        if (dot != NULL) {
            *dot = '\0';
        }
        if (cJSON_IsArray(j)) {
            j = cJSON_GetArrayItem(j, (int)strtol(tok, NULL, 10));
        } else {
            j = cJSON_GetObjectItemCaseSensitive(j, tok);
        }
        tok = dot ? dot + 1 : NULL;
    }
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

const char *
th_issue(th_resp *r)
{
    return th_str(r->json, "issue.0.code");
}

char *
th_read_file(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", root(), rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "harness: cannot read %s\n", path);
        exit(2);
    }
    struct sink k = {NULL, 0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        collect(chunk, 1, n, &k);
    }
    fclose(f);
    if (len != NULL) {
        *len = k.len;
    }
    return k.data ? k.data : strdup("");
}

char *
th_create(th_server *s, const char *type, const char *body)
{
    th_resp *r = th_req(s, "POST", type, body, NULL);
    char *id = NULL;
    if (r->status == 201) {
        const char *v = th_str(r->json, "id");
        id = v ? strdup(v) : NULL;
    }
    if (id == NULL) {
        fprintf(stderr, "harness: create %s failed: %ld %s\n", type, r->status,
                r->body);
    }
    th_free(r);
    return id;
}
