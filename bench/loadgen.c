/* bench/loadgen.c - the load generator behind `make bench`.
 *
 * One thread drives N keep-alive connections with libcurl's multi
 * interface (so the generator itself needs little CPU next to the server
 * on a 2-core machine), for a bounded time, and prints one line of
 * results: requests per second and latency percentiles. Loopback only.
 *
 *   loadgen --url http://127.0.0.1:PORT/fhir --mode create|read
 *           [--conns 32] [--seconds 10] [--seed 1000]
 *
 * create: POSTs realistic Task bodies (about 1.5 KB each).
 * read:   first creates --seed Tasks (untimed), then GETs them at random.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONNS 256
#define MAX_SAMPLES 4000000

struct conn {
    CURL *easy;
    struct curl_slist *hdrs;
    char url[256];
    char body[2048];
    double t0;
    char resp[8192];
    size_t rlen;
};

static const char *statuses[] = {"requested", "ready", "in-progress", "on-hold",
                                 "completed"};
static const char *codes[] = {"awaiting-callback", "fax-failed",
                              "awaiting-review", "specimen-pending",
                              "awaiting-courier"};
static const char *roles[] = {"224535009", "309343006", "224608005"};

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
sink(char *p, size_t size, size_t n, void *ud)
{
    struct conn *c = ud;
    size_t add = size * n;
    size_t room = sizeof(c->resp) - 1 - c->rlen;
    memcpy(c->resp + c->rlen, p, add < room ? add : room);
    c->rlen += add < room ? add : room;
    c->resp[c->rlen] = '\0';
    return add;
}

static void
task_body(char *out, size_t cap, unsigned i)
{
    snprintf(
        out, cap,
        "{\"resourceType\":\"Task\",\"identifier\":[{\"system\":"
        "\"http://clinic.example.org/task\",\"value\":\"BENCH-%u\"}],"
        "\"status\":\"%s\",\"businessStatus\":{\"coding\":[{\"system\":"
        "\"http://clinic.example.org/CodeSystem/task-business-status\","
        "\"code\":\"%s\"}],\"text\":\"%s\"},\"intent\":\"order\","
        "\"priority\":\"routine\",\"description\":\"Call the patient back "
        "about the results of the lipid panel drawn on Monday; confirm the "
        "fasting state and the follow-up appointment.\",\"focus\":{"
        "\"reference\":\"ServiceRequest/sr-%u\"},\"for\":{\"reference\":"
        "\"Patient/pat-%u\"},\"authoredOn\":\"2026-11-21T08:35:00Z\","
        "\"lastModified\":\"2026-11-21T08:35:00Z\",\"requester\":{"
        "\"reference\":\"Practitioner/dr-smith\"},\"performerType\":[{"
        "\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"%s\","
        "\"display\":\"Registered nurse\"}]}],\"owner\":{\"reference\":"
        "\"Practitioner/prac-%u\"},\"note\":[{\"text\":\"Patient prefers "
        "calls after 5pm. Leave a voicemail if there is no answer; do not "
        "discuss results on voicemail.\"}],\"restriction\":{\"period\":{"
        "\"end\":\"2026-11-28T17:00:00Z\"}}}",
        i, statuses[i % 5], codes[i % 5], codes[i % 5], i % 5000, i % 20000,
        roles[i % 3], i % 500);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Extracts "id":"..." from a response body. */
static int
grab_id(const char *body, char *out, size_t cap)
{
    const char *p = strstr(body, "\"id\":\"");
    if (p == NULL) {
        return -1;
    }
    p += 6;
    size_t n = strcspn(p, "\"");
    if (n == 0 || n >= cap) {
        return -1;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

int
main(int argc, char **argv)
{
    const char *base = NULL, *mode = "create";
    int conns = 32, seed = 1000;
    double seconds = 10;
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
        }
    }
    if (base == NULL || conns < 1 || conns > MAX_CONNS || seconds <= 0 ||
        seconds > 600 || seed < 1 || seed > 1000000 ||
        strncmp(base, "http://127.", 11) != 0) {
        fprintf(stderr, "usage: loadgen --url http://127.0.0.1:PORT/fhir "
                        "--mode create|read [--conns N<=256] "
                        "[--seconds S<=600] [--seed N]\n");
        return 2;
    }
    int reading = strcmp(mode, "read") == 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* Seed for reads: sequential creates on one connection, untimed. */
    char(*ids)[40] = NULL;
    int nids = 0;
    if (reading) {
        ids = calloc((size_t)seed, sizeof(*ids));
        struct conn c;
        memset(&c, 0, sizeof(c));
        c.easy = curl_easy_init();
        c.hdrs = curl_slist_append(NULL, "Content-Type: application/fhir+json");
        snprintf(c.url, sizeof(c.url), "%s/Task", base);
        for (int i = 0; i < seed; i++) {
            task_body(c.body, sizeof(c.body), (unsigned)i);
            c.rlen = 0;
            curl_easy_setopt(c.easy, CURLOPT_URL, c.url);
            curl_easy_setopt(c.easy, CURLOPT_HTTPHEADER, c.hdrs);
            curl_easy_setopt(c.easy, CURLOPT_POSTFIELDS, c.body);
            curl_easy_setopt(c.easy, CURLOPT_WRITEFUNCTION, sink);
            curl_easy_setopt(c.easy, CURLOPT_WRITEDATA, &c);
            if (curl_easy_perform(c.easy) == CURLE_OK &&
                grab_id(c.resp, ids[nids], sizeof(ids[0])) == 0) {
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
    struct conn *cs = calloc((size_t)conns, sizeof(*cs));
    double *lat = malloc(sizeof(double) * MAX_SAMPLES);
    long nlat = 0, errors = 0;
    unsigned counter = (unsigned)seed;
    unsigned rnd = 12345;
    double start = now(), end = start + seconds;

    for (int i = 0; i < conns; i++) {
        struct conn *c = &cs[i];
        c->easy = curl_easy_init();
        c->hdrs =
            curl_slist_append(NULL, "Content-Type: application/fhir+json");
        curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
        curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
    }
    /* (re)arms connection c with its next request */
#define ARM(c)                                                                 \
    do {                                                                       \
        (c)->rlen = 0;                                                         \
        if (reading) {                                                         \
            rnd = rnd * 1103515245u + 12345u;                                  \
            snprintf((c)->url, sizeof((c)->url), "%s/Task/%s", base,           \
                     ids[(rnd >> 8) % (unsigned)nids]);                        \
            curl_easy_setopt((c)->easy, CURLOPT_HTTPGET, 1L);                  \
        } else {                                                               \
            snprintf((c)->url, sizeof((c)->url), "%s/Task", base);             \
            task_body((c)->body, sizeof((c)->body), counter++);                \
            curl_easy_setopt((c)->easy, CURLOPT_HTTPHEADER, (c)->hdrs);        \
            curl_easy_setopt((c)->easy, CURLOPT_POSTFIELDS, (c)->body);        \
        }                                                                      \
        curl_easy_setopt((c)->easy, CURLOPT_URL, (c)->url);                    \
        (c)->t0 = now();                                                       \
        curl_multi_add_handle(multi, (c)->easy);                               \
    } while (0)

    for (int i = 0; i < conns; i++) {
        ARM(&cs[i]);
    }
    int running = conns;
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
            double t = now();
            if (m->data.result != CURLE_OK || code != (reading ? 200 : 201)) {
                errors++;
            } else if (nlat < MAX_SAMPLES) {
                lat[nlat++] = (t - c->t0) * 1000.0;
            }
            curl_multi_remove_handle(multi, c->easy);
            if (t < end) {
                ARM(c);
            } else {
                running--;
            }
        }
        if (running > 0) {
            curl_multi_poll(multi, NULL, 0, 100, NULL);
        }
    }
    double elapsed = now() - start;
    qsort(lat, (size_t)nlat, sizeof(double), cmp_double);
    double p50 = nlat ? lat[nlat / 2] : 0;
    double p99 = nlat ? lat[(long)((double)nlat * 0.99)] : 0;
    printf("mode=%s conns=%d requests=%ld errors=%ld seconds=%.2f rps=%.0f "
           "p50_ms=%.2f p99_ms=%.2f\n",
           mode, conns, nlat, errors, elapsed, (double)nlat / elapsed, p50,
           p99);
    for (int i = 0; i < conns; i++) {
        curl_slist_free_all(cs[i].hdrs);
        curl_easy_cleanup(cs[i].easy);
    }
    curl_multi_cleanup(multi);
    free(cs);
    free(lat);
    free(ids);
    curl_global_cleanup();
    return errors > 0 ? 1 : 0;
}
