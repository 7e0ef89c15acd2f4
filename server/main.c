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

int
main(int argc, char **argv)
{
    srv_config cfg;
    srv_server *srv = NULL;
    fhir_err err = FHIR_ERR_INIT;
    char msg[256];

    /* Requests allocate and free megabytes (a 1,000-entry Bundle): keep
     * freed memory in the allocator up to this much instead of handing
     * it back to the kernel and faulting it in again on the next one.
     * One malloc arena, not glibc's 8 per core: each arena keeps its own
     * free memory, and with 128 worker threads the extra arenas held
     * 185 MiB of a busy server's peak (64 connections at 1M Tasks); on
     * 2 cores creates/s were no slower with one (3,840 vs 3,550 with
     * two, 32 clients). */
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
