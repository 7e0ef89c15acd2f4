/* bench/ingest.c - the transaction-ingest benchmark of `make bench`: how
 * fast the server takes in data sent as transaction Bundles, and what the
 * same data costs sent one resource at a time.
 *
 *   ingest --url http://127.0.0.1:PORT/fhir --mode tx|post [--clients 1]
 *          [--entries 1000] [--bundles 20] [--seconds 30] [--seed 1]
 *          [--timeout 120]
 *
 * Before the clock starts it builds --bundles transaction Bundles of
 * --entries entries each from the clinic of bench/clinic.c (gen.c's data:
 * per 1000 entries 50 Patients, about 86 ServiceRequests and their Task
 * workflows; not gen's 1,000-Task trees: clinic_tree() is never called
 * here). Each entry is a POST with a urn:uuid fullUrl; a ServiceRequest's
 * subject, a Task's for, focus, basedOn and partOf refer to entries of
 * the same Bundle by those urns, which the server rewrites.
 * requester, owner and generalPractitioner stay Practitioner/prac-NNN of
 * gen's clinic; they need not exist (the server does not check that
 * references resolve). The Bundles carry no Bundle.identifier, so the
 * server keeps no replay copy of their responses.
 *
 * tx:   --clients threads, each with its own keep-alive connection, take
 *       the Bundles in turn and POST them to the base. A Bundle counts when
 *       the answer is 200, a transaction-response Bundle, with one entry
 *       (fullUrl) per entry sent; anything else is an error.
 * post: the same resources as single POST /fhir/{type} requests. Each
 *       thread takes a whole Bundle and posts its entries in order,
 *       rewriting every urn:uuid reference to the Type/id the server gave
 *       the earlier entry (read from Location; Prefer: return=minimal, as
 *       a transaction's entries answer by default), so the data stored is
 *       the same as tx's. A resource counts when the answer is 201 with a
 *       Location.
 *
 * Both stop when the Bundles are used up or --seconds have passed (the
 * requests in flight finish), and print one line of key=value results:
 * resources/s (resources counted / elapsed) and latency percentiles, per
 * Bundle for tx, per request for post. Loopback only.
 */
#include "bench/bench_util.h"
#include "bench/clinic.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLIENTS 64
#define URN_PREFIX "urn:uuid:"

enum { MODE_TX, MODE_POST };

/* One entry of a Bundle: its resource's text is body[off..off+len). */
struct entry {
    int kind; /* CLINIC_* */
    long num;
    size_t off, len;
};

struct bundle {
    char *body;
    size_t len, cap;
    struct entry *e;
    int n, cap_e;
    long first[CLINIC_NKIND]; /* number of the first of each kind */
    long count[CLINIC_NKIND]; /* how many of each kind */
};

/* What all threads share. */
struct run {
    const char *base;
    int mode;
    const struct clinic *c;
    struct bundle *b;
    int nb;
    atomic_int next;     /* the next Bundle to take */
    atomic_int reported; /* the first error has been shown */
    double end;          /* take no more work after this */
    long timeout;
};

struct worker {
    struct run *run;
    pthread_t thread;
    CURL *easy;
    struct curl_slist *hdrs;
    bench_resp resp;
    double *lat;
    long nlat, cap_lat;
    long resources, requests, errors, bundles;
    char *body; /* post: the request being sent */
    size_t cap_body;
    char (*made)[80]; /* post: Type/id of each entry of the Bundle */
    int cap_made;
};

static void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "ingest: out of memory\n");
        exit(1);
    }
    return q;
}

/* ---- building the Bundles ------------------------------------------- */

static void
append(struct bundle *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = b->cap ? 2 * b->cap : 1 << 20;
        while (b->cap < b->len + n + 1) {
            b->cap *= 2;
        }
        b->body = xrealloc(b->body, b->cap);
    }
    memcpy(b->body + b->len, s, n);
    b->len += n;
    b->body[b->len] = '\0';
}

static void
append_str(struct bundle *b, const char *s)
{
    append(b, s, strlen(s));
}

/* clinic_emit_fn: each resource becomes the next entry of the Bundle. */
static int
add_entry(void *ud, struct clinic *c, int kind, long num, const char *json,
          size_t len)
{
    struct bundle *b = ud;
    char url[64];
    if (b->n == b->cap_e) {
        b->cap_e = b->cap_e ? 2 * b->cap_e : 1024;
        b->e = xrealloc(b->e, (size_t)b->cap_e * sizeof(*b->e));
    }
    if (b->count[kind]++ == 0) {
        b->first[kind] = num;
    }
    clinic_ref(c, url, sizeof(url), kind, num);
    append_str(b, b->n > 0 ? ",{\"fullUrl\":\"" : "{\"fullUrl\":\"");
    append_str(b, url);
    append_str(b, "\",\"resource\":");
    b->e[b->n] = (struct entry){kind, num, b->len, len};
    b->n++;
    append(b, json, len);
    append_str(b, ",\"request\":{\"method\":\"POST\",\"url\":\"");
    append_str(b, clinic_type[kind]);
    append_str(b, "\"}}");
    return 0;
}

/* Fills b with `entries` entries: Patients first (one in 20), then
 * ServiceRequests of those Patients, each followed by its Tasks. */
static int
build_bundle(struct clinic *c, struct bundle *b, int entries)
{
    memset(b, 0, sizeof(*b));
    c->ud = b;
    append_str(b, "{\"resourceType\":\"Bundle\",\"type\":\"transaction\","
                  "\"entry\":[");
    long lo = c->npat + 1;
    for (int i = 0; i < (entries / 20 > 0 ? entries / 20 : 1); i++) {
        if (clinic_patient(c) != 0) {
            return -1;
        }
    }
    long hi = c->npat;
    while (b->n < entries) {
        int left = entries - b->n;
        /* An order is a ServiceRequest and at least one Task. */
        int rc = left < 2 ? clinic_patient(c)
                          : clinic_order(c, lo, hi, (long)left - 1);
        if (rc != 0) {
            return -1;
        }
    }
    append_str(b, "]}");
    return 0;
}

/* ---- posting ---------------------------------------------------------- */

static void
note_latency(struct worker *w, double t0)
{
    if (w->nlat == w->cap_lat) {
        w->cap_lat = w->cap_lat ? 2 * w->cap_lat : 4096;
        w->lat = xrealloc(w->lat, (size_t)w->cap_lat * sizeof(double));
    }
    w->lat[w->nlat++] = (bench_now() - t0) * 1000.0;
}

/* Counts an error; the first one of the run is shown on stderr. */
static void
failed(struct worker *w, const char *what, CURLcode rc, long code)
{
    w->errors++;
    if (atomic_exchange(&w->run->reported, 1) == 0) {
        fprintf(stderr, "ingest: %s: %s, HTTP %ld: %.400s\n", what,
                curl_easy_strerror(rc), code, w->resp.head);
    }
}

/* POSTs body[0..len) to url; the HTTP status, or 0 when the request
 * itself failed (*rc says why). */
static long
post(struct worker *w, const char *url, const char *body, size_t len,
     CURLcode *rc)
{
    long code = 0;
    bench_resp_reset(&w->resp);
    curl_easy_setopt(w->easy, CURLOPT_URL, url);
    curl_easy_setopt(w->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(w->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    *rc = curl_easy_perform(w->easy);
    if (*rc == CURLE_OK) {
        curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &code);
    }
    return code;
}

static void
run_tx(struct worker *w, const struct bundle *b)
{
    CURLcode rc;
    double t0 = bench_now();
    long code = post(w, w->run->base, b->body, b->len, &rc);
    w->requests++;
    /* The head holds resourceType and type; entries counts fullUrls,
     * which the server writes for each entry that succeeded. */
    if (code != 200 ||
        strstr(w->resp.head, "\"resourceType\":\"Bundle\"") == NULL ||
        strstr(w->resp.head, "\"type\":\"transaction-response\"") == NULL ||
        w->resp.entries != b->n) {
        failed(w, "transaction", rc, code);
        return;
    }
    note_latency(w, t0);
    w->resources += b->n;
    w->bundles++;
}

/* The slot of (kind, num) in w->made for Bundle b, or -1. */
static int
slot(const struct bundle *b, int kind, long num)
{
    int at = 0;
    for (int k = 0; k < kind; k++) {
        at += (int)b->count[k];
    }
    if (num < b->first[kind] || num >= b->first[kind] + b->count[kind]) {
        return -1;
    }
    return at + (int)(num - b->first[kind]);
}

/* Copies entry e's resource into w->body with each urn:uuid reference
 * replaced by the Type/id made for it; a reference whose entry failed
 * stays as it was. Returns the length. */
static size_t
rewrite(struct worker *w, const struct bundle *b, const struct entry *e)
{
    const char *p = b->body + e->off, *stop = p + e->len;
    size_t n = 0;
    /* Each urn may become a Type/id of up to sizeof(made[0]) bytes. */
    size_t need = e->len + 1 + (e->len / CLINIC_URN_LEN) * sizeof(w->made[0]);
    if (w->cap_body < need) {
        w->cap_body = need;
        w->body = xrealloc(w->body, w->cap_body);
    }
    while (p < stop) {
        const char *u = strstr(p, URN_PREFIX);
        if (u == NULL || u + CLINIC_URN_LEN > stop) {
            u = stop;
        }
        memcpy(w->body + n, p, (size_t)(u - p));
        n += (size_t)(u - p);
        p = u;
        if (p == stop) {
            break;
        }
        int kind, at = -1;
        long num;
        if (clinic_urn_parse(w->run->c, p + strlen(URN_PREFIX), &kind, &num) ==
            0) {
            at = slot(b, kind, num);
        }
        const char *to = at >= 0 && w->made[at][0] ? w->made[at] : NULL;
        size_t tl = to ? strlen(to) : CLINIC_URN_LEN;
        memcpy(w->body + n, to ? to : p, tl);
        n += tl;
        p += CLINIC_URN_LEN;
    }
    w->body[n] = '\0';
    return n;
}

/* Keeps "Type/id" of a Location ".../Type/id/_history/n" in out. */
static int
made_from(CURL *easy, const char *type, char *out, size_t cap)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(easy, "Location", 0, CURLH_HEADER, -1, &h) !=
        CURLHE_OK) {
        return -1;
    }
    const char *v = h->value;
    const char *end = strstr(v, "/_history/");
    if (end == NULL) {
        end = v + strlen(v);
    }
    const char *id = end;
    while (id > v && id[-1] != '/') {
        id--;
    }
    int n = snprintf(out, cap, "%s/%.*s", type, (int)(end - id), id);
    return end > id && n > 0 && (size_t)n < cap ? 0 : -1;
}

static void
run_posts(struct worker *w, const struct bundle *b)
{
    char url[1024];
    if (w->cap_made < b->n) {
        w->cap_made = b->n;
        w->made = xrealloc(w->made, (size_t)b->n * sizeof(*w->made));
    }
    memset(w->made, 0, (size_t)b->n * sizeof(*w->made));
    int i;
    for (i = 0; i < b->n && bench_now() < w->run->end; i++) {
        const struct entry *e = &b->e[i];
        const char *type = clinic_type[e->kind];
        int at = slot(b, e->kind, e->num);
        size_t len = rewrite(w, b, e);
        CURLcode rc;
        snprintf(url, sizeof(url), "%s/%s", w->run->base, type);
        double t0 = bench_now();
        long code = post(w, url, w->body, len, &rc);
        w->requests++;
        if (code != 201 ||
            made_from(w->easy, type, w->made[at], sizeof(w->made[at])) != 0) {
            w->made[at][0] = '\0';
            failed(w, type, rc, code);
            continue;
        }
        note_latency(w, t0);
        w->resources++;
    }
    w->bundles += i == b->n;
}

static void *
work(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    while (bench_now() < r->end) {
        int i = atomic_fetch_add(&r->next, 1);
        if (i >= r->nb) {
            break;
        }
        if (r->mode == MODE_TX) {
            run_tx(w, &r->b[i]);
        } else {
            run_posts(w, &r->b[i]);
        }
    }
    return NULL;
}

static int
worker_open(struct worker *w, struct run *r)
{
    memset(w, 0, sizeof(*w));
    w->run = r;
    w->easy = curl_easy_init();
    if (w->easy == NULL) {
        return -1;
    }
    w->hdrs = curl_slist_append(NULL, "Content-Type: application/fhir+json");
    /* No "Expect: 100-continue" round trip before a large body. */
    w->hdrs = curl_slist_append(w->hdrs, "Expect:");
    if (r->mode == MODE_POST) {
        w->hdrs = curl_slist_append(w->hdrs, "Prefer: return=minimal");
    }
    curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, w->hdrs);
    curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, bench_resp_sink);
    curl_easy_setopt(w->easy, CURLOPT_WRITEDATA, &w->resp);
    curl_easy_setopt(w->easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(w->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(w->easy, CURLOPT_TIMEOUT, r->timeout);
    return 0;
}

static void
worker_close(struct worker *w)
{
    curl_slist_free_all(w->hdrs);
    curl_easy_cleanup(w->easy);
    free(w->lat);
    free(w->body);
    free(w->made);
}

int
main(int argc, char **argv)
{
    const char *base = NULL, *mode = "tx";
    long clients = 1, entries = 1000, nbundles = 20, timeout = 120;
    double seconds = 30;
    unsigned long long seed = 1;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (v == NULL) {
            bad = 1;
        } else if (strcmp(argv[i], "--url") == 0) {
            base = v;
        } else if (strcmp(argv[i], "--mode") == 0) {
            mode = v;
        } else if (strcmp(argv[i], "--clients") == 0) {
            clients = strtol(v, &end, 10);
        } else if (strcmp(argv[i], "--entries") == 0) {
            entries = strtol(v, &end, 10);
        } else if (strcmp(argv[i], "--bundles") == 0) {
            nbundles = strtol(v, &end, 10);
        } else if (strcmp(argv[i], "--seconds") == 0) {
            seconds = strtod(v, &end);
        } else if (strcmp(argv[i], "--seed") == 0) {
            seed = strtoull(v, &end, 10);
        } else if (strcmp(argv[i], "--timeout") == 0) {
            timeout = strtol(v, &end, 10);
        } else {
            bad = 1;
        }
        bad |= end != NULL && (end == v || *end != '\0');
        i++;
    }
    int kind = strcmp(mode, "tx") == 0     ? MODE_TX
               : strcmp(mode, "post") == 0 ? MODE_POST
                                           : -1;
    if (bad || base == NULL || kind < 0 || clients < 1 ||
        clients > MAX_CLIENTS || entries < 1 || entries > 100000 ||
        nbundles < 1 || nbundles > 100000 || seconds <= 0 || seconds > 3600 ||
        timeout < 1 || timeout > 3600 ||
        strncmp(base, "http://127.", 11) != 0) {
        fprintf(stderr, "usage: ingest --url http://127.0.0.1:PORT/fhir "
                        "--mode tx|post [--clients N<=64] [--entries N] "
                        "[--bundles N] [--seconds S] [--seed N] "
                        "[--timeout S]\n");
        return 2;
    }

    /* Every Bundle is built before the clock starts. */
    static struct clinic c;
    struct run r;
    memset(&r, 0, sizeof(r));
    double g0 = bench_now();
    clinic_init(&c, seed, nbundles * entries * 9 / 10, add_entry, NULL);
    c.urn = 1;
    r.b = xrealloc(NULL, (size_t)nbundles * sizeof(*r.b));
    long long bytes = 0;
    long kinds[CLINIC_NKIND] = {0};
    for (long i = 0; i < nbundles; i++) {
        if (build_bundle(&c, &r.b[i], (int)entries) != 0) {
            fprintf(stderr, "ingest: generating Bundle %ld failed\n", i);
            return 1;
        }
        bytes += (long long)r.b[i].len;
        for (int k = 0; k < CLINIC_NKIND; k++) {
            kinds[k] += r.b[i].count[k];
        }
    }
    fprintf(stderr,
            "ingest: %ld Bundles of %ld entries (%.1f MB) built in %.1f s\n",
            nbundles, entries, (double)bytes / 1e6, bench_now() - g0);
    r.base = base;
    r.mode = kind;
    r.c = &c;
    r.nb = (int)nbundles;
    r.timeout = timeout;
    atomic_init(&r.next, 0);
    atomic_init(&r.reported, 0);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    static struct worker ws[MAX_CLIENTS];
    for (long i = 0; i < clients; i++) {
        if (worker_open(&ws[i], &r) != 0) {
            fprintf(stderr, "ingest: no curl handle\n");
            return 1;
        }
    }
    double start = bench_now();
    r.end = start + seconds;
    for (long i = 0; i < clients; i++) {
        if (pthread_create(&ws[i].thread, NULL, work, &ws[i]) != 0) {
            fprintf(stderr, "ingest: no thread\n");
            return 1;
        }
    }
    long resources = 0, requests = 0, errors = 0, done = 0, nlat = 0;
    for (long i = 0; i < clients; i++) {
        pthread_join(ws[i].thread, NULL);
    }
    double elapsed = bench_now() - start;
    for (long i = 0; i < clients; i++) {
        resources += ws[i].resources;
        requests += ws[i].requests;
        errors += ws[i].errors;
        done += ws[i].bundles;
        nlat += ws[i].nlat;
    }
    double *lat = xrealloc(NULL, (size_t)(nlat + 1) * sizeof(double));
    nlat = 0;
    for (long i = 0; i < clients; i++) {
        memcpy(lat + nlat, ws[i].lat, (size_t)ws[i].nlat * sizeof(double));
        nlat += ws[i].nlat;
        worker_close(&ws[i]);
    }
    bench_lat_sort(lat, nlat);
    printf("mode=%s clients=%ld entries=%ld bundles=%ld done=%ld "
           "resources=%ld requests=%ld errors=%ld seconds=%.2f rps=%.0f "
           "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f bundle_kb=%.0f patients=%ld "
           "servicerequests=%ld tasks=%ld\n",
           mode, clients, entries, nbundles, done, resources, requests, errors,
           elapsed, (double)resources / elapsed, bench_pct(lat, nlat, 0.5),
           bench_pct(lat, nlat, 0.99), nlat ? lat[nlat - 1] : 0,
           (double)bytes / (double)nbundles / 1024.0, kinds[CLINIC_PATIENT],
           kinds[CLINIC_SERVICE_REQUEST], kinds[CLINIC_TASK]);
    free(lat);
    for (long i = 0; i < nbundles; i++) {
        free(r.b[i].body);
        free(r.b[i].e);
    }
    free(r.b);
    clinic_clear(&c);
    curl_global_cleanup();
    return errors > 0 ? 1 : 0;
}
