/* bench/loadgen.c - the load generator behind `make bench`.
 *
 * One thread drives N keep-alive connections with libcurl's multi
 * interface (so the generator itself needs little CPU next to the server
 * on a 2-core machine), for a bounded time, and prints one line of
 * results: requests per second and latency percentiles. Loopback only.
 *
 *   loadgen --url http://127.0.0.1:PORT/fhir --mode create|read|update|urls
 *           [--conns 32] [--seconds 10] [--seed 1000] [--file URLS]
 *           [--ids IDS] [--timeout 120] [--warmup 0]
 *           [--header "Name: value"]
 *
 * create: POSTs realistic Task bodies (about 1.5 KB each).
 * read:   first creates --seed Tasks (untimed), then GETs them at random;
 *         with --ids, GETs the Task ids of that file (one a line) instead,
 *         creating none (so two servers can be given the same reads).
 * update: conditional updates: PUTs Task bodies to the ids of --ids with
 *         If-Match: W/"n", n the version last seen (1 at first: the ids
 *         are of Tasks just created). Each connection updates its own
 *         share of the ids in turn, so no two race and every If-Match
 *         should hold; a 412 is counted apart (precond_failed) and the
 *         connection reads that Task (untimed, not counted) to learn its
 *         version. Latencies and req/s are of the 200s.
 * urls:   GETs the paths of --file, one "label<TAB>path" a line (path
 *         relative to --url). Lines with the same label are one group;
 *         each group is timed on its own for --seconds, the connections
 *         taking its paths in turn, and gets one line of results, with
 *         the mean number of entries per Bundle and of body bytes per
 *         answer, and the range of its "total". Connections are opened
 * (untimed) before the first group and kept across groups; each group first
 * runs --warmup seconds untimed (stopping there if that fails). A request
 * taking longer than --timeout seconds is an error.
 *
 * --header adds a request header to the GETs of read and urls (search.sh
 * sends "Prefer: handling=strict"). Any answer but 201 (create), 200, or
 * 412 (update) is an error; the results count errors, the timeouts among them
 * and the first unexpected HTTP status (bad_status, 0 if none).
 */
#include "bench/bench_util.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CONNS 256
#define MAX_SAMPLES 4000000
#define MAX_URLS 4096

struct conn {
    CURL *easy;
    struct curl_slist *hdrs;     /* POST: Content-Type */
    struct curl_slist *get_hdrs; /* GET: --header, or NULL */
    struct curl_slist *put_hdrs; /* update: Content-Type, If-Match */
    char url[1024];
    char body[2200];
    double t0;
    bench_resp resp;
    int index;  /* update: which connection (its share of the ids) */
    int cur;    /* update: the id in flight */
    int resync; /* update: the request in flight is a GET after a 412 */
    long etag;  /* version in the answer's ETag, 0 if none */
};

/* What one timed run does and what it measured. */
struct run {
    const char *base;
    int mode; /* MODE_* */
    int conns;
    double seconds;
    char (*ids)[40]; /* read, update: the Task ids */
    int nids;
    long *version; /* update: per id, the version last seen */
    int *turn;     /* update: per connection, its next id */
    char **paths;  /* urls: this group's paths */
    int npaths;
    unsigned counter, rnd, next;
    /* results */
    long nlat, errors, entries, ntotal;
    double bytes; /* body bytes of the answers timed */
    long timeouts, bad_status, precond;
    long long total_lo, total_hi;
    double elapsed;
};

enum { MODE_CREATE, MODE_READ, MODE_URLS, MODE_UPDATE };

/* CURLOPT_HEADERFUNCTION: notes the version of an ETag W/"n". */
static size_t
head_sink(char *p, size_t size, size_t n, void *ud)
{
    struct conn *c = ud;
    size_t len = size * n;
    if (len > 10 && strncasecmp(p, "ETag:", 5) == 0) {
        const char *q = memchr(p, '"', len);
        if (q != NULL) {
            c->etag = strtol(q + 1, NULL, 10);
        }
    }
    return len;
}

/* Arms an update of c's next id (or, after a 412, a read of it). */
static void
arm_update(struct run *r, struct conn *c)
{
    char ifm[64];
    if (!c->resync) {
        /* ids index, index + conns, ... are this connection's */
        int mine = (r->nids - c->index + r->conns - 1) / r->conns;
        c->cur = c->index + r->conns * (r->turn[c->index]++ % mine);
    }
    snprintf(c->url, sizeof(c->url), "%s/Task/%s", r->base, r->ids[c->cur]);
    if (c->resync) {
        curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
        return;
    }
    /* The create body with the id the URL names (R4 http.html#update):
     * its head replaced by one that carries the id. */
    static const char head[] = "{\"resourceType\":\"Task\",";
    size_t h = sizeof(head) - 1;
    int n = snprintf(c->body, sizeof(c->body), "%s\"id\":\"%s\",", head,
                     r->ids[c->cur]);
    bench_task_body(c->body + n, sizeof(c->body) - (size_t)n, r->counter++);
    memmove(c->body + n, c->body + n + h, strlen(c->body + n + h) + 1);
    snprintf(ifm, sizeof(ifm), "If-Match: W/\"%ld\"", r->version[c->cur]);
    curl_slist_free_all(c->put_hdrs);
    c->put_hdrs =
        curl_slist_append(NULL, "Content-Type: application/fhir+json");
    c->put_hdrs = curl_slist_append(c->put_hdrs, ifm);
    curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->put_hdrs);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
}

/* (Re)arms connection c with its next request. */
static void
arm(struct run *r, CURLM *multi, struct conn *c)
{
    bench_resp_reset(&c->resp);
    c->etag = 0;
    curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, NULL);
    if (r->mode == MODE_UPDATE) {
        arm_update(r, c);
    } else if (r->mode == MODE_READ) {
        r->rnd = r->rnd * 1103515245u + 12345u;
        snprintf(c->url, sizeof(c->url), "%s/Task/%s", r->base,
                 r->ids[(r->rnd >> 8) % (unsigned)r->nids]);
        curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->get_hdrs);
    } else if (r->mode == MODE_URLS) {
        snprintf(c->url, sizeof(c->url), "%s/%s", r->base,
                 r->paths[r->next++ % (unsigned)r->npaths]);
        curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->get_hdrs);
    } else {
        snprintf(c->url, sizeof(c->url), "%s/Task", r->base);
        bench_task_body(c->body, sizeof(c->body), r->counter++);
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
    }
    curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
    c->t0 = bench_now();
    curl_multi_add_handle(multi, c->easy);
}

/* Keeps r->conns requests in flight on cs until r->seconds have passed;
 * the latencies of the successful ones end up sorted in lat[0..nlat). */
static void
run_timed(struct run *r, CURLM *multi, struct conn *cs, double *lat)
{
    long expect = r->mode == MODE_CREATE ? 201 : 200;
    r->nlat = r->errors = r->entries = r->ntotal = 0;
    r->bytes = 0;
    r->timeouts = r->bad_status = r->precond = 0;
    double start = bench_now(), end = start + r->seconds;
    for (int i = 0; i < r->conns; i++) {
        arm(r, multi, &cs[i]);
    }
    int running = r->conns;
    while (running > 0) {
        int still;
        curl_multi_perform(multi, &still);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE) {
                continue;
            }
            struct conn *c = NULL;
            long code = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            double t = bench_now();
            if (r->mode == MODE_UPDATE && m->data.result == CURLE_OK &&
                (code == 412 || c->resync)) {
                /* Not an update done: learn the version, then go on. */
                r->precond += !c->resync;
                c->resync = code == 412;
                if (code == 200 && c->etag > 0) {
                    r->version[c->cur] = c->etag;
                }
            } else if (m->data.result != CURLE_OK || code != expect) {
                r->errors++;
                if (m->data.result == CURLE_OPERATION_TIMEDOUT) {
                    r->timeouts++;
                } else if (m->data.result == CURLE_OK && r->bad_status == 0) {
                    r->bad_status = code;
                }
                if (r->mode == MODE_URLS && r->errors == 1) {
                    fprintf(stderr, "loadgen: %s: %s, HTTP %ld: %.300s\n",
                            c->url, curl_easy_strerror(m->data.result), code,
                            c->resp.head);
                }
            } else if (r->nlat < MAX_SAMPLES) {
                lat[r->nlat++] = (t - c->t0) * 1000.0;
                if (r->mode == MODE_UPDATE && c->etag > 0) {
                    r->version[c->cur] = c->etag;
                }
                r->entries += c->resp.entries;
                r->bytes += (double)c->resp.total;
                const char *tot = strstr(c->resp.head, "\"total\":");
                if (tot != NULL) {
                    long long v = strtoll(tot + 8, NULL, 10);
                    if (r->ntotal == 0 || v < r->total_lo) {
                        r->total_lo = v;
                    }
                    if (r->ntotal == 0 || v > r->total_hi) {
                        r->total_hi = v;
                    }
                    r->ntotal++;
                }
            }
            curl_multi_remove_handle(multi, c->easy);
            if (t < end) {
                arm(r, multi, c);
            } else {
                running--;
            }
        }
        if (running > 0) {
            curl_multi_poll(multi, NULL, 0, 100, NULL);
        }
    }
    r->elapsed = bench_now() - start;
    bench_lat_sort(lat, r->nlat);
}

/* The urls file: paths and the label of each, labels in file order. */
struct urls {
    char *label[MAX_URLS], *path[MAX_URLS];
    int n;
};

static int
read_urls(struct urls *u, const char *file)
{
    FILE *f = fopen(file, "r");
    char line[2048];
    if (f == NULL) {
        perror(file);
        return -1;
    }
    u->n = 0;
    while (fgets(line, sizeof(line), f) != NULL && u->n < MAX_URLS) {
        line[strcspn(line, "\r\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || line[0] == '\0') {
            continue;
        }
        if (tab != NULL) {
            *tab = '\0';
        }
        const char *path = tab != NULL ? tab + 1 : line;
        while (*path == '/') {
            path++;
        }
        u->label[u->n] = strdup(line);
        u->path[u->n] = strdup(path);
        u->n++;
    }
    fclose(f);
    return u->n > 0 ? 0 : -1;
}

/* The ids of file, one a line, into a malloc'd *out. */
static int
read_ids(char (**out)[40], int *n, const char *file)
{
    FILE *f = fopen(file, "r");
    char line[256];
    int cap = 0;
    *out = NULL;
    *n = 0;
    if (f == NULL) {
        perror(file);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || strlen(line) >= sizeof((*out)[0])) {
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 1024;
            *out = realloc(*out, sizeof(**out) * (size_t)cap);
        }
        memcpy((*out)[(*n)++], line, strlen(line) + 1);
    }
    fclose(f);
    return *n > 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
    const char *base = NULL, *mode = "create", *file = NULL, *header = NULL;
    const char *idfile = NULL;
    int conns = 32, seed = 1000;
    double seconds = 10;
    long timeout = 120;
    double warmup = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--url") == 0) {
            base = argv[i + 1];
        } else if (strcmp(argv[i], "--mode") == 0) {
            mode = argv[i + 1];
        } else if (strcmp(argv[i], "--conns") == 0) {
            conns = (int)strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--seconds") == 0) {
            seconds = strtod(argv[i + 1], NULL);
        } else if (strcmp(argv[i], "--seed") == 0) {
            seed = (int)strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--file") == 0) {
            file = argv[i + 1];
        } else if (strcmp(argv[i], "--warmup") == 0) {
            warmup = strtod(argv[i + 1], NULL);
        } else if (strcmp(argv[i], "--timeout") == 0) {
            timeout = strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--header") == 0) {
            header = argv[i + 1];
        } else if (strcmp(argv[i], "--ids") == 0) {
            idfile = argv[i + 1];
        }
    }
    int kind = strcmp(mode, "read") == 0     ? MODE_READ
               : strcmp(mode, "urls") == 0   ? MODE_URLS
               : strcmp(mode, "create") == 0 ? MODE_CREATE
               : strcmp(mode, "update") == 0 ? MODE_UPDATE
                                             : -1;
    if (base == NULL || kind < 0 || conns < 1 || conns > MAX_CONNS ||
        seconds <= 0 || seconds > 600 || seed < 1 || seed > 1000000 ||
        timeout < 1 || timeout > 3600 || warmup < 0 || warmup > 600 ||
        strncmp(base, "http://127.", 11) != 0 ||
        (kind == MODE_URLS) != (file != NULL) ||
        (kind == MODE_UPDATE && idfile == NULL)) {
        fprintf(stderr, "usage: loadgen --url http://127.0.0.1:PORT/fhir "
                        "--mode create|read|update|urls [--conns N<=256] "
                        "[--seconds S<=600] [--seed N] [--file URLS] "
                        "[--ids IDS] [--timeout S] [--warmup S] "
                        "[--header \"Name: value\"]\n");
        return 2;
    }
    int reading = kind == MODE_READ && idfile == NULL;
    static struct urls u;
    if (kind == MODE_URLS && read_urls(&u, file) != 0) {
        fprintf(stderr, "loadgen: no paths in %s\n", file);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* Seed for reads: sequential creates on one connection, untimed. */
    char(*ids)[40] = NULL;
    int nids = 0;
    if (idfile != NULL && read_ids(&ids, &nids, idfile) != 0) {
        fprintf(stderr, "loadgen: no ids in %s\n", idfile);
        return 2;
    }
    if (kind == MODE_UPDATE && nids < conns) {
        fprintf(stderr, "loadgen: update needs an id per connection\n");
        return 2;
    }
    if (reading) {
        ids = calloc((size_t)seed, sizeof(*ids));
        struct conn c;
        memset(&c, 0, sizeof(c));
        c.easy = curl_easy_init();
        c.hdrs = curl_slist_append(NULL, "Content-Type: application/fhir+json");
        snprintf(c.url, sizeof(c.url), "%s/Task", base);
        for (int i = 0; i < seed; i++) {
            bench_task_body(c.body, sizeof(c.body), (unsigned)i);
            bench_resp_reset(&c.resp);
            curl_easy_setopt(c.easy, CURLOPT_URL, c.url);
            curl_easy_setopt(c.easy, CURLOPT_HTTPHEADER, c.hdrs);
            curl_easy_setopt(c.easy, CURLOPT_POSTFIELDS, c.body);
            curl_easy_setopt(c.easy, CURLOPT_WRITEFUNCTION, bench_resp_sink);
            curl_easy_setopt(c.easy, CURLOPT_WRITEDATA, &c.resp);
            if (curl_easy_perform(c.easy) == CURLE_OK &&
                bench_grab_id(c.resp.head, ids[nids], sizeof(ids[0])) == 0) {
                nids++;
            }
        }
        curl_slist_free_all(c.hdrs);
        curl_easy_cleanup(c.easy);
        if (nids == 0) {
            fprintf(stderr, "loadgen: seeding failed\n");
            return 1;
        }
    }

    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conns);
    struct conn *cs = calloc((size_t)conns, sizeof(*cs));
    double *lat = malloc(sizeof(double) * MAX_SAMPLES);
    for (int i = 0; i < conns; i++) {
        struct conn *c = &cs[i];
        c->easy = curl_easy_init();
        c->hdrs =
            curl_slist_append(NULL, "Content-Type: application/fhir+json");
        c->get_hdrs = header ? curl_slist_append(NULL, header) : NULL;
        curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, bench_resp_sink);
        curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &c->resp);
        curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
        curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, timeout);
        curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, head_sink);
        curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
        c->index = i;
    }
    struct run r;
    memset(&r, 0, sizeof(r));
    r.base = base;
    r.mode = kind;
    r.conns = conns;
    r.seconds = seconds;
    r.ids = ids;
    r.nids = nids;
    r.counter = (unsigned)seed;
    r.rnd = 12345;
    if (kind == MODE_UPDATE) {
        r.version = malloc(sizeof(long) * (size_t)nids);
        r.turn = calloc((size_t)conns, sizeof(int));
        for (int i = 0; i < nids; i++) {
            r.version[i] = 1;
        }
    }
    long errors = 0;
    if (kind != MODE_URLS) {
        run_timed(&r, multi, cs, lat);
        errors = r.errors;
        printf("mode=%s conns=%d requests=%ld errors=%ld timeouts=%ld "
               "bad_status=%ld precond_failed=%ld seconds=%.2f rps=%.0f "
               "p50_ms=%.2f p99_ms=%.2f\n",
               mode, conns, r.nlat, r.errors, r.timeouts, r.bad_status,
               r.precond, r.elapsed, (double)r.nlat / r.elapsed,
               bench_pct(lat, r.nlat, 0.5), bench_pct(lat, r.nlat, 0.99));
    } else {
        /* Untimed: one request per connection opens them all. */
        char *warm = "Task?_id=loadgen-warm-up";
        r.paths = &warm;
        r.npaths = 1;
        r.seconds = 1e-6;
        run_timed(&r, multi, cs, lat);
        errors += r.errors;
        r.seconds = seconds;
        char **paths = calloc((size_t)u.n, sizeof(*paths));
        for (int g = 0; g < u.n; g++) {
            int first = 1;
            for (int k = 0; k < g && first; k++) {
                first = strcmp(u.label[k], u.label[g]) != 0;
            }
            if (!first) {
                continue; /* this label was run already */
            }
            r.npaths = 0;
            for (int k = g; k < u.n; k++) {
                if (strcmp(u.label[k], u.label[g]) == 0) {
                    paths[r.npaths++] = u.path[k];
                }
            }
            r.paths = paths;
            r.next = 0;
            if (warmup > 0) {
                /* Untimed: the server's connections and caches as they
                 * are once it has served this query a while. */
                r.seconds = warmup;
                run_timed(&r, multi, cs, lat);
                r.seconds = seconds;
            }
            if (r.errors == 0) {
                run_timed(&r, multi, cs, lat);
            }
            errors += r.errors;
            char total[64] = "-";
            if (r.ntotal > 0 && r.total_lo == r.total_hi) {
                snprintf(total, sizeof(total), "%lld", r.total_lo);
            } else if (r.ntotal > 0) {
                snprintf(total, sizeof(total), "%lld-%lld", r.total_lo,
                         r.total_hi);
            }
            printf("mode=urls conns=%d paths=%d requests=%ld errors=%ld "
                   "timeouts=%ld bad_status=%ld seconds=%.2f rps=%.0f "
                   "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f entries=%.1f "
                   "bytes=%.0f total=%s label=%s\n",
                   conns, r.npaths, r.nlat, r.errors, r.timeouts, r.bad_status,
                   r.elapsed, (double)r.nlat / r.elapsed,
                   bench_pct(lat, r.nlat, 0.5), bench_pct(lat, r.nlat, 0.99),
                   r.nlat ? lat[r.nlat - 1] : 0,
                   r.nlat ? (double)r.entries / (double)r.nlat : 0,
                   r.nlat ? r.bytes / (double)r.nlat : 0, total, u.label[g]);
            fflush(stdout);
        }
        free(paths);
    }
    for (int i = 0; i < conns; i++) {
        curl_slist_free_all(cs[i].hdrs);
        curl_slist_free_all(cs[i].get_hdrs);
        curl_slist_free_all(cs[i].put_hdrs);
        curl_easy_cleanup(cs[i].easy);
    }
    curl_multi_cleanup(multi);
    free(cs);
    free(lat);
    free(ids);
    free(r.version);
    free(r.turn);
    for (int i = 0; i < u.n; i++) {
        free(u.label[i]);
        free(u.path[i]);
    }
    curl_global_cleanup();
    return errors > 0 ? 1 : 0;
}
