/* bench/bench_util.h - pieces the benchmark programs share (loadgen.c,
 * ingest.c, gen.c, limit_sql.c, ...): a monotonic clock, latency
 * percentiles, a libcurl write callback that keeps the head of a response
 * and counts the entries of a Bundle of any size as it streams past, and
 * the Task body the create workload posts. No libcurl or server code
 * here, so every bench program can link it.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>

/* Seconds on the monotonic clock. */
double bench_now(void);

/* Sorts lat[0..n) ascending, for bench_pct(). */
void bench_lat_sort(double *lat, long n);

/* The q-quantile (0 <= q < 1) of sorted lat[0..n); 0 when n is 0. */
double bench_pct(const double *lat, long n, double q);

/* A response as the sink saw it: the first bytes (always NUL-terminated)
 * and the number of "fullUrl" keys in the whole body. */
typedef struct bench_resp {
    char head[8192];
    size_t len;   /* bytes kept in head */
    size_t total; /* bytes received */
    int match;    /* how much of "fullUrl" the stream ends with */
    long entries; /* "fullUrl" keys seen */
} bench_resp;

/* Empties r before a request. */
void bench_resp_reset(bench_resp *r);

/* CURLOPT_WRITEFUNCTION with CURLOPT_WRITEDATA a bench_resp *. */
size_t bench_resp_sink(char *p, size_t size, size_t n, void *ud);

/* Copies the first "id":"..." of body into out; -1 when there is none or
 * it does not fit. */
int bench_grab_id(const char *body, char *out, size_t cap);

/* Writes Task body number i (about 1.5 KB, no id) into out: the body the
 * create workload POSTs and the raw SQLite limit inserts. */
void bench_task_body(char *out, size_t cap, unsigned i);

#endif
