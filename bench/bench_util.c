/* bench/bench_util.c - the clock, percentiles and response sink of
 * bench_util.h, shared by the benchmark programs. */
#include "bench/bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double
bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void
bench_lat_sort(double *lat, long n)
{
    qsort(lat, (size_t)n, sizeof(double), cmp_double);
}

double
bench_pct(const double *lat, long n, double q)
{
    return n > 0 ? lat[(long)((double)n * q)] : 0;
}

void
bench_resp_reset(bench_resp *r)
{
    r->len = 0;
    r->total = 0;
    r->head[0] = '\0';
    r->match = 0;
    r->entries = 0;
}

size_t
bench_resp_sink(char *p, size_t size, size_t n, void *ud)
{
    bench_resp *r = ud;
    size_t add = size * n;
    size_t room = sizeof(r->head) - 1 - r->len;
    size_t keep = add < room ? add : room;
    memcpy(r->head + r->len, p, keep);
    r->len += keep;
    r->head[r->len] = '\0';
    r->total += add;
    /* Counts the entries of a Bundle of any size: "fullUrl" can only
     * overlap itself at a quote, so a mismatch restarts at 0 or 1. */
    static const char key[] = "\"fullUrl\"";
    for (size_t i = 0; i < add; i++) {
        if (p[i] == key[r->match]) {
            if (++r->match == (int)sizeof(key) - 1) {
                r->entries++;
                r->match = 1;
            }
        } else {
            r->match = p[i] == '"';
        }
    }
    return add;
}

int
bench_grab_id(const char *body, char *out, size_t cap)
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

static const char *statuses[] = {"requested", "ready", "in-progress", "on-hold",
                                 "completed"};
static const char *codes[] = {"awaiting-callback", "fax-failed",
                              "awaiting-review", "specimen-pending",
                              "awaiting-courier"};
static const char *roles[] = {"224535009", "309343006", "224608005"};

void
bench_task_body(char *out, size_t cap, unsigned i)
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
