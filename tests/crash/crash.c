/* tests/crash/crash.c - `make crash-test`: kill -9 the server under a
 * write load, restart it, and check that nothing acknowledged was lost.
 *
 * One database for all cycles, so the crashes accumulate. Each cycle
 * starts build/fhir-server (FHIR_TEST_SERVER) on port 0, runs 2-4
 * writer threads for a random 50-400 ms (creates, If-Match updates of a
 * few shared Tasks, deletes, transaction Bundles of 2-20 entries), sends
 * SIGKILL while requests are in flight, restarts the server and checks:
 * every acknowledged create/update is readable with at least its
 * version, acknowledged deletes read 410, every transaction sent is
 * either wholly present or wholly absent (acknowledged ones wholly
 * present), and `PRAGMA integrity_check` says "ok" (on the live
 * database, or after a clean stop every tenth cycle and at the end).
 * A write counts as acknowledged only when its 2xx arrived in full.
 * Settings come from the environment: CRASH_CYCLES (default 50),
 * CRASH_DURABILITY ("normal" passes --durability normal), CRASH_SEED.
 * The server is only ever reached on loopback; every wait is bounded.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NSHARED 4 /* Tasks every thread updates with If-Match */
#define MAX_THREADS 4
#define MAX_OPS 100000 /* per thread per cycle, a bound besides time */
#define TX_SYS "urn:crash-tx"
#define ID_SYS "urn:crash"

enum { PRESENT, DELETED, DELETING }; /* DELETING: sent, not acknowledged */

typedef struct rec { /* an acknowledged create */
    char id[65];
    int ver; /* highest acknowledged version */
    int state;
    int cycle;
    char marker[48]; /* description sent with the create */
} rec;

typedef struct tx { /* a transaction Bundle, acknowledged or not */
    char key[48];   /* the urn:crash-tx identifier of all entries */
    int ntask;      /* Tasks in it (plus one Patient) */
    int acked;
    int cycle;
} tx;

typedef struct shared {
    char id[65];
    int acked; /* highest acknowledged version */
    int known; /* version to send in If-Match */
} shared;

static struct {
    pthread_mutex_t mu;
    rec *recs;
    int nrecs, caprecs;
    tx *txs;
    int ntxs, captxs;
    shared sh[NSHARED];
    int nupdates, ndeletes; /* acknowledged, this cycle */
    volatile int stop;
    char base[128];
    int cycle;
    unsigned seed; /* CRASH_SEED, mixed into each writer's own */
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int failures;
static long landed; /* unacknowledged transactions found committed */

#define FAIL(...)                                                              \
    do {                                                                       \
        failures++;                                                            \
        fprintf(stderr, "crash: FAIL: " __VA_ARGS__);                          \
        fputc('\n', stderr);                                                   \
    } while (0)

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- HTTP ------------------------------------------------------------ */

typedef struct resp {
    long status; /* -1 when the exchange did not complete */
    char *body;
    size_t len;
    cJSON *json;
} resp;

static size_t
sink(char *p, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    size_t add = size * n;
    char *grown = realloc(r->body, r->len + add + 1);
    if (grown == NULL) {
        return 0;
    }
    r->body = grown;
    memcpy(r->body + r->len, p, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

/* One request on curl; `path` is relative to g.base, `body` may be NULL,
 * `ifmatch` is a version number or 0. The caller calls resp_clear(). */
static void
request(resp *r, CURL *curl, const char *method, const char *path,
        const char *body, int ifmatch)
{
    char url[512], im[64];
    struct curl_slist *hl = NULL;
    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "%s/%s", g.base, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    hl = curl_slist_append(hl, "Content-Type: application/fhir+json");
    hl = curl_slist_append(hl, "Expect:");
    if (ifmatch > 0) {
        snprintf(im, sizeof(im), "If-Match: W/\"%d\"", ifmatch);
        hl = curl_slist_append(hl, im);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)strlen(body));
    } else {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }
    /* CURLE_OK means the whole response arrived (Content-Length met). */
    if (curl_easy_perform(curl) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
        r->json = r->body ? cJSON_ParseWithLength(r->body, r->len) : NULL;
    } else {
        r->status = -1;
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
}

static void
resp_clear(resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

/* meta.versionId of a response body as a number, 0 when absent. */
static int
resp_version(const resp *r)
{
    const cJSON *m = cJSON_GetObjectItem(r->json, "meta");
    const cJSON *v = cJSON_GetObjectItem(m, "versionId");
    return cJSON_IsString(v) ? (int)strtol(v->valuestring, NULL, 10) : 0;
}

static const char *
resp_string(const resp *r, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(r->json, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Bundle.total of a _summary=count search, -1 when not a 200 with one. */
static int
count(CURL *curl, const char *type, const char *sys, const char *value)
{
    char path[256];
    resp r;
    int n = -1;
    snprintf(path, sizeof(path), "%s?identifier=%s%%7C%s&_summary=count", type,
             sys, value);
    request(&r, curl, "GET", path, NULL, 0);
    const cJSON *t = cJSON_GetObjectItem(r.json, "total");
    if (r.status == 200 && cJSON_IsNumber(t)) {
        n = t->valueint;
    }
    resp_clear(&r);
    return n;
}

/* ---- the server process ---------------------------------------------- */

static char dir[64], db[128], logpath[128];

static const char *
server_bin(void)
{
    const char *b = getenv("FHIR_TEST_SERVER");
    return b ? b : "build/fhir-server";
}

/* Starts the server on db, its stderr in logpath; waits (up to 60 s, a
 * restart may reindex) for "listening on http://ADDR:PORT/fhir". */
static pid_t
start_server(const char *durability)
{
    unlink(logpath); /* so the previous run's port is never read */
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        const char *argv[10] = {server_bin(), "--port", "0",
                                "--db",       db,       "--quiet"};
        int n = 6;
        if (durability != NULL) {
            argv[n++] = "--durability";
            argv[n++] = durability;
        }
        argv[n] = NULL;
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 6000; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            fprintf(stderr, "crash: server exited; see %s\n", logpath);
            return -1;
        }
        FILE *f = fopen(logpath, "r");
        char line[512];
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            const char *p = strstr(line, "listening on http://");
            const char *colon = p ? strchr(p + 20, ':') : NULL;
            long port = colon ? strtol(colon + 1, NULL, 10) : 0;
            if (port > 0 && port < 65536) {
                fclose(f);
                snprintf(g.base, sizeof(g.base), "http://127.0.0.1:%ld/fhir",
                         port);
                return pid;
            }
        }
        if (f != NULL) {
            fclose(f);
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fprintf(stderr, "crash: server did not listen within 60 s\n");
    return -1;
}

/* Sends sig and reaps; a SIGTERM that is not obeyed in 30 s is a failure
 * and becomes a SIGKILL. */
static void
stop_server(pid_t pid, int sig)
{
    kill(pid, sig);
    for (int i = 0; sig != SIGKILL && i < 3000; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            return;
        }
        usleep(10000);
    }
    if (sig != SIGKILL) {
        FAIL("server ignored SIGTERM for 30 s");
        kill(pid, SIGKILL);
    }
    waitpid(pid, NULL, 0);
}

/* ---- the write load -------------------------------------------------- */

static void *
grow(void *p, int *cap, int n, size_t size)
{
    if (n < *cap) {
        return p;
    }
    *cap = *cap ? *cap * 2 : 256;
    void *q = realloc(p, (size_t)*cap * size);
    if (q == NULL) {
        abort();
    }
    return q;
}

static void
op_create(CURL *curl, int t, int n)
{
    char body[512], marker[48];
    resp r;
    snprintf(marker, sizeof(marker), "c-%d-%d-%d", g.cycle, t, n);
    snprintf(body, sizeof(body),
             "{\"resourceType\":\"Task\",\"status\":\"ready\","
             "\"intent\":\"order\",\"identifier\":[{\"system\":\"" ID_SYS
             "\",\"value\":\"%s\"}],\"description\":\"%s\"}",
             marker, marker);
    request(&r, curl, "POST", "Task", body, 0);
    const char *id = resp_string(&r, "id");
    if (r.status == 201 && id != NULL && strlen(id) < 65) {
        pthread_mutex_lock(&g.mu);
        g.recs = grow(g.recs, &g.caprecs, g.nrecs, sizeof(rec));
        rec *c = &g.recs[g.nrecs++];
        snprintf(c->id, sizeof(c->id), "%s", id);
        c->ver = resp_version(&r);
        c->state = PRESENT;
        c->cycle = g.cycle;
        snprintf(c->marker, sizeof(c->marker), "%s", marker);
        pthread_mutex_unlock(&g.mu);
    }
    resp_clear(&r);
}

static void
op_update(CURL *curl, unsigned *seed)
{
    int i = (int)(rand_r(seed) % NSHARED);
    char body[256], path[128];
    resp r;
    pthread_mutex_lock(&g.mu);
    int v = g.sh[i].known;
    snprintf(path, sizeof(path), "Task/%s", g.sh[i].id);
    snprintf(body, sizeof(body),
             "{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":\"ready\","
             "\"intent\":\"order\",\"description\":\"after %d\"}",
             g.sh[i].id, v);
    pthread_mutex_unlock(&g.mu);
    request(&r, curl, "PUT", path, body, v);
    int got = resp_version(&r);
    if (r.status == 200 && got > 0) {
        pthread_mutex_lock(&g.mu);
        g.nupdates++;
        if (got > g.sh[i].acked) {
            g.sh[i].acked = got;
        }
        if (got > g.sh[i].known) {
            g.sh[i].known = got;
        }
        pthread_mutex_unlock(&g.mu);
    }
    resp_clear(&r);
}

/* Deletes a Task of this cycle that is still present; nothing to do when
 * there is none yet. */
static void
op_delete(CURL *curl, unsigned *seed)
{
    char path[128];
    int k = -1;
    resp r;
    pthread_mutex_lock(&g.mu);
    for (int tries = 0; tries < 8 && g.nrecs > 0; tries++) {
        int j = g.nrecs - 1 - (int)(rand_r(seed) % 32);
        if (j >= 0 && g.recs[j].cycle == g.cycle &&
            g.recs[j].state == PRESENT) {
            k = j;
            g.recs[j].state = DELETING;
            snprintf(path, sizeof(path), "Task/%s", g.recs[j].id);
            break;
        }
    }
    pthread_mutex_unlock(&g.mu);
    if (k < 0) {
        return;
    }
    request(&r, curl, "DELETE", path, NULL, 0);
    if (r.status == 200 || r.status == 204) {
        pthread_mutex_lock(&g.mu);
        g.recs[k].state = DELETED;
        g.ndeletes++;
        pthread_mutex_unlock(&g.mu);
    }
    resp_clear(&r);
}

static void
op_transaction(CURL *curl, int t, int n, unsigned *seed)
{
    int ntask = 1 + (int)(rand_r(seed) % 19);
    size_t cap = 1024 + (size_t)ntask * 512, len = 0;
    char *b = malloc(cap);
    char key[48];
    resp r;
    int k;
    if (b == NULL) {
        abort();
    }
    snprintf(key, sizeof(key), "x-%d-%d-%d", g.cycle, t, n);
    unsigned pu = ((unsigned)g.cycle << 20) ^ ((unsigned)t << 16) ^ (unsigned)n;
    len += (size_t)snprintf(
        b + len, cap - len,
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"fullUrl\":\"urn:uuid:%08x-0000-4000-8000-000000000000\","
        "\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{"
        "\"system\":\"" TX_SYS "\",\"value\":\"%s\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}}",
        pu, key);
    for (int i = 0; i < ntask; i++) {
        len += (size_t)snprintf(
            b + len, cap - len,
            ",{\"fullUrl\":\"urn:uuid:%08x-0000-4000-8000-%012d\","
            "\"resource\":{\"resourceType\":\"Task\",\"status\":\"ready\","
            "\"intent\":\"order\",\"identifier\":[{\"system\":\"" ID_SYS
            "\",\"value\":\"%s-%d\"},{\"system\":\"" TX_SYS
            "\",\"value\":\"%s\"}],\"for\":{\"reference\":"
            "\"urn:uuid:%08x-0000-4000-8000-000000000000\"}},"
            "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}",
            pu, i + 1, key, i, key, pu);
    }
    snprintf(b + len, cap - len, "]}");
    pthread_mutex_lock(&g.mu);
    g.txs = grow(g.txs, &g.captxs, g.ntxs, sizeof(tx));
    k = g.ntxs++;
    snprintf(g.txs[k].key, sizeof(g.txs[k].key), "%s", key);
    g.txs[k].ntask = ntask;
    g.txs[k].acked = 0;
    g.txs[k].cycle = g.cycle;
    pthread_mutex_unlock(&g.mu);
    request(&r, curl, "POST", "", b, 0);
    if (r.status == 200) {
        pthread_mutex_lock(&g.mu);
        g.txs[k].acked = 1;
        pthread_mutex_unlock(&g.mu);
    }
    resp_clear(&r);
    free(b);
}

static void *
writer(void *arg)
{
    int t = (int)(long)arg;
    unsigned seed = g.seed ^ (unsigned)(g.cycle * 7919 + t * 104729 + 17);
    CURL *curl = curl_easy_init();
    for (int n = 0; n < MAX_OPS && !g.stop; n++) {
        unsigned pick = rand_r(&seed) % 100;
        if (pick < 40) {
            op_create(curl, t, n);
        } else if (pick < 65) {
            op_update(curl, &seed);
        } else if (pick < 80) {
            op_delete(curl, &seed);
        } else {
            op_transaction(curl, t, n, &seed);
        }
    }
    curl_easy_cleanup(curl);
    return NULL;
}

/* ---- checks ---------------------------------------------------------- */

static void
check_rec(CURL *curl, const rec *c, long *checked)
{
    char path[128];
    resp r;
    snprintf(path, sizeof(path), "Task/%s", c->id);
    request(&r, curl, "GET", path, NULL, 0);
    (*checked)++;
    if (c->state == DELETED && r.status != 410) {
        FAIL("cycle %d: deleted Task/%s reads %ld", c->cycle, c->id, r.status);
    } else if (c->state == DELETING && r.status != 410 && r.status != 200) {
        FAIL("cycle %d: Task/%s (delete in flight) reads %ld", c->cycle, c->id,
             r.status);
    } else if (c->state == PRESENT && r.status != 200) {
        FAIL("cycle %d: created Task/%s (v%d) reads %ld", c->cycle, c->id,
             c->ver, r.status);
    } else if (r.status == 200) {
        const char *d = resp_string(&r, "description");
        if (resp_version(&r) < c->ver || d == NULL ||
            strcmp(d, c->marker) != 0) {
            FAIL("cycle %d: Task/%s is v%d '%s', acknowledged v%d '%s'",
                 c->cycle, c->id, resp_version(&r), d ? d : "", c->ver,
                 c->marker);
        }
    }
    resp_clear(&r);
}

static void
check_tx(CURL *curl, const tx *x, long *checked)
{
    int p = count(curl, "Patient", TX_SYS, x->key);
    int t = count(curl, "Task", TX_SYS, x->key);
    (*checked)++;
    int none = p == 0 && t == 0, all = p == 1 && t == x->ntask;
    landed += all && !x->acked;
    if (!(all || (none && !x->acked))) {
        FAIL("cycle %d: transaction %s (%s, 1 Patient + %d Tasks) has %d "
             "Patient(s) and %d Task(s)",
             x->cycle, x->key, x->acked ? "acknowledged" : "unacknowledged",
             x->ntask, p, t);
    }
}

/* Reads the shared Tasks; versions only grow. What is found becomes the
 * If-Match of the next cycle (an unacknowledged update may have landed). */
static void
check_shared(CURL *curl, long *checked)
{
    for (int i = 0; i < NSHARED; i++) {
        char path[128];
        resp r;
        snprintf(path, sizeof(path), "Task/%s", g.sh[i].id);
        request(&r, curl, "GET", path, NULL, 0);
        int v = resp_version(&r);
        (*checked)++;
        if (r.status != 200 || v < g.sh[i].acked) {
            FAIL("cycle %d: shared Task/%s reads %ld v%d, acknowledged v%d",
                 g.cycle, g.sh[i].id, r.status, v, g.sh[i].acked);
        }
        if (v > 0) {
            g.sh[i].known = v;
        }
        resp_clear(&r);
    }
}

static void
integrity_check(void)
{
    sqlite3 *s = NULL;
    sqlite3_stmt *st = NULL;
    const char *res = NULL;
    if (sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(s, "PRAGMA integrity_check", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        res = (const char *)sqlite3_column_text(st, 0);
    }
    if (res == NULL || strcmp(res, "ok") != 0) {
        FAIL("cycle %d: integrity_check: %s", g.cycle,
             res ? res : sqlite3_errmsg(s));
    }
    sqlite3_finalize(st);
    sqlite3_close(s);
}

static int
env_int(const char *name, int def)
{
    const char *v = getenv(name);
    char *end = NULL;
    long n = v ? strtol(v, &end, 10) : def;
    if (v != NULL && (*end != '\0' || n < 1 || n > 1000000)) {
        fprintf(stderr, "crash: bad %s '%s'\n", name, v);
        exit(2);
    }
    return (int)n;
}

/* Creates the shared Tasks on a fresh server (acknowledged before any
 * crash can happen). */
static int
make_shared(CURL *curl)
{
    for (int i = 0; i < NSHARED; i++) {
        const char *body = "{\"resourceType\":\"Task\",\"status\":\"ready\","
                           "\"intent\":\"order\",\"description\":\"shared\"}";
        resp r;
        request(&r, curl, "POST", "Task", body, 0);
        const char *id = resp_string(&r, "id");
        if (r.status != 201 || id == NULL || strlen(id) >= 65) {
            resp_clear(&r);
            return -1;
        }
        snprintf(g.sh[i].id, sizeof(g.sh[i].id), "%s", id);
        g.sh[i].acked = g.sh[i].known = resp_version(&r);
        resp_clear(&r);
    }
    return 0;
}

int
main(void)
{
    int cycles = env_int("CRASH_CYCLES", 50);
    unsigned seed = (unsigned)env_int("CRASH_SEED", (int)(time(NULL) % 100000));
    const char *dur = getenv("CRASH_DURABILITY");
    long nrec_checked = 0, ntx_checked = 0, nacked = 0;
    int rec_from = 0, tx_from = 0;
    double t0 = now();
    g.seed = seed;
    if (dur != NULL && *dur == '\0') {
        dur = NULL;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(dir, sizeof(dir), "/tmp/fhir-crash-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("crash: mkdtemp");
        return 2;
    }
    snprintf(db, sizeof(db), "%s/crash.db", dir);
    snprintf(logpath, sizeof(logpath), "%s/server.log", dir);
    printf("crash: %d cycles, durability %s, seed %u, db %s\n", cycles,
           dur ? dur : "full (default)", seed, db);
    CURL *curl = curl_easy_init();
    for (g.cycle = 1; g.cycle <= cycles && failures == 0; g.cycle++) {
        pid_t pid = start_server(dur);
        if (pid < 0) {
            failures++;
            break;
        }
        if (g.cycle == 1 && make_shared(curl) != 0) {
            FAIL("could not create the shared Tasks");
            stop_server(pid, SIGKILL);
            break;
        }
        int nthreads = 2 + (int)(rand_r(&seed) % 3);
        int ms = 50 + (int)(rand_r(&seed) % 351);
        pthread_t th[MAX_THREADS];
        g.stop = 0;
        g.nupdates = g.ndeletes = 0;
        for (int t = 0; t < nthreads; t++) {
            pthread_create(&th[t], NULL, writer, (void *)(long)t);
        }
        usleep((useconds_t)ms * 1000);
        g.stop = 1; /* no new requests; those in flight stay in flight */
        stop_server(pid, SIGKILL);
        for (int t = 0; t < nthreads; t++) {
            pthread_join(th[t], NULL);
        }

        pid = start_server(dur);
        if (pid < 0) {
            FAIL("cycle %d: restart after kill -9 failed", g.cycle);
            break;
        }
        int acked_tx = 0;
        for (int i = rec_from; i < g.nrecs; i++) {
            check_rec(curl, &g.recs[i], &nrec_checked);
        }
        for (int i = tx_from; i < g.ntxs; i++) {
            check_tx(curl, &g.txs[i], &ntx_checked);
            acked_tx += g.txs[i].acked;
        }
        check_shared(curl, &nrec_checked);
        /* A clean stop takes the server ~2 s, so most cycles check the
         * live database read-only (WAL lets a reader in) and end the idle
         * server with another kill -9; every tenth stops it cleanly. */
        if (g.cycle % 10 == 0) {
            stop_server(pid, SIGTERM);
            integrity_check();
        } else {
            integrity_check();
            stop_server(pid, SIGKILL);
        }
        printf("cycle %d: %d threads, killed at %d ms: %d creates, %d "
               "updates, %d deletes, %d transactions (%d acknowledged) "
               "checked, %s\n",
               g.cycle, nthreads, ms, g.nrecs - rec_from, g.nupdates,
               g.ndeletes, g.ntxs - tx_from, acked_tx,
               failures ? "FAILED" : "ok");
        fflush(stdout);
        nacked += g.nrecs - rec_from + g.nupdates + g.ndeletes + acked_tx;
        rec_from = g.nrecs;
        tx_from = g.ntxs;
    }
    /* Once more, everything from every cycle: later crashes lost nothing. */
    if (failures == 0) {
        pid_t pid = start_server(dur);
        if (pid < 0) {
            failures++;
        } else {
            for (int i = 0; i < g.nrecs; i++) {
                check_rec(curl, &g.recs[i], &nrec_checked);
            }
            for (int i = 0; i < g.ntxs; i++) {
                check_tx(curl, &g.txs[i], &ntx_checked);
            }
            check_shared(curl, &nrec_checked);
            stop_server(pid, SIGTERM);
            integrity_check();
        }
    }
    curl_easy_cleanup(curl);
    printf("crash: %d cycles in %.1f s: %ld acknowledged writes "
           "(creates, updates, deletes, transactions), %ld resource reads and "
           "%ld transaction checks "
           "(incl. a final pass over all; %ld unacknowledged transactions "
           "found committed), %d failures\n",
           g.cycle - 1, now() - t0, nacked, nrec_checked, ntx_checked, landed,
           failures);
    if (failures == 0) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "crash: could not remove %s\n", dir);
        }
    } else {
        fprintf(stderr, "crash: kept %s for inspection\n", dir);
    }
    free(g.recs);
    free(g.txs);
    curl_global_cleanup();
    return failures ? 1 : 0;
}
