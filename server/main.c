/* server/main.c - the fhir-server program: settings, start, wait for a
 * signal, stop.
 *
 * Everything else lives in the server library so that the HTTP tests can
 * run the very same server in-process.
 */
#include "server/server.h"

#include <malloc.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;
/* Posted by the handler, whichever thread the signal lands on (a
 * semaphore keeps the wake-up, where pause() in the main thread could
 * miss a signal taken by a worker or arriving just before it). */
static sem_t wake;

static void
on_signal(int sig)
{
    (void)sig;
    stopping = 1;
    sem_post(&wake); /* async-signal-safe */
}

/* jemalloc's settings (read at its start; unused without it): two
 * arenas for two cores rather than four per core; per-thread caches of
 * blocks up to 1 KB, 32 of a size at most (cJSON's nodes and strings are
 * small; with the defaults each of 64 busy worker threads kept enough to
 * lift the peak at 1M Tasks from 105 MiB under glibc to 134-140 MiB,
 * with these 113-122 MiB); freed pages go back to the kernel after a
 * second instead of ten, directly. */
const char *malloc_conf =
    "narenas:2,tcache_max:1024,tcache_nslots_small_max:32,"
    "dirty_decay_ms:1000,muzzy_decay_ms:0";

int
main(int argc, char **argv)
{
    srv_config cfg;
    srv_server *srv = NULL;
    fhir_err err = FHIR_ERR_INIT;
    char msg[256];

    /* glibc's malloc, in builds without jemalloc (the sanitizers'):
     * requests allocate and free megabytes (a 1,000-entry Bundle), so
     * freed memory is kept up to this much instead of handed back to
     * the kernel and faulted in again; and one arena, not 8 per core,
     * each keeping its own free memory (with 128 worker threads the
     * extra arenas held 185 MiB of a busy server's peak). */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_TRIM_THRESHOLD, 4 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    srv_config_init(&cfg);
    int rc = srv_config_parse(&cfg, argc, argv, msg, sizeof(msg));
    if (rc == 1) {
        fputs(srv_config_usage(), stdout);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "fhir-server: %s\n", msg);
        return 2;
    }
    if (cfg.reindex) {
        if (srv_reindex(&cfg, &err) != 0) {
            fprintf(stderr, "fhir-server: %s\n", err.diag);
            return 1;
        }
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    if (srv_start(&srv, &cfg, &err) != 0) {
        fprintf(stderr, "fhir-server: %s\n", err.diag);
        return 1;
    }
    struct sigaction sa;
    sem_init(&wake, 0, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "fhir-server: listening on http://%s:%d/fhir (db %s)\n",
            cfg.listen, srv_port(srv), cfg.db_path);
    while (!stopping) {
        sem_wait(&wake); /* EINTR or a post: look again */
    }
    fprintf(stderr, "fhir-server: stopping\n");
    srv_stop(srv);
    return 0;
}
