/* server/deadline.c - a slow client cannot hold a worker while it sends
 * a request body.
 *
 * CivetWeb bounds the request line and headers by request_timeout_ms, but
 * once a handler reads the body, mg_read() waits for every byte it asked
 * for and gives up only after request_timeout_ms of complete silence: a
 * client sending one byte a second would keep the worker for days. So a
 * body read is armed here with a deadline (the same timeout, counted from
 * when the handler began reading); one watchdog thread ends a read still
 * running at its deadline by shutting down the socket's reading side,
 * which makes the blocked mg_read() return, and the reader answers 408.
 * CivetWeb 1.15 does not hand out a connection's socket, so the watchdog
 * finds it among the process's descriptors by its two addresses - only
 * for reads past their deadline, so an ordinary request pays a lock and
 * a list insert. An armed read is unlinked before the request finishes,
 * so the socket is never closed (or its number reused) while the
 * watchdog can see it.
 */
#include "server/server.h"
#include "server/server_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct srv_watchdog {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on arm and on stop */
    pthread_t thread;
    int stop;
    srv_watch *head; /* armed reads */
};

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The port of a socket address, and whether it is `host`. */
static int
addr_is(const struct sockaddr_storage *sa, const char *host, int port)
{
    char text[INET6_ADDRSTRLEN];
    const void *bin = NULL;
    int p = -1;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        bin = &in->sin_addr;
        p = ntohs(in->sin_port);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        bin = &in6->sin6_addr;
        p = ntohs(in6->sin6_port);
    }
    if (bin == NULL || p != port ||
        inet_ntop(sa->ss_family, bin, text, sizeof(text)) == NULL) {
        return 0;
    }
    return host == NULL || strcmp(text, host) == 0;
}

/* Shuts down the socket whose peer is w's client and whose local port is
 * the server's: the only one, since TCP allows no second connection with
 * the same pair of ends. */
static void
cut(const srv_watch *w)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char *end = NULL;
        long fd = strtol(e->d_name, &end, 10);
        struct sockaddr_storage peer, local;
        socklen_t pl = sizeof(peer), ll = sizeof(local);
        if (end == e->d_name || *end != '\0' || fd == dirfd(d) ||
            getpeername((int)fd, (struct sockaddr *)&peer, &pl) != 0 ||
            getsockname((int)fd, (struct sockaddr *)&local, &ll) != 0) {
            continue;
        }
        if (addr_is(&peer, w->peer_addr, w->peer_port) &&
            addr_is(&local, NULL, w->local_port)) {
            /* The read side only: the blocked read returns at once, and
             * the reader can still send its 408. */
            shutdown((int)fd, SHUT_RD);
            break;
        }
    }
    closedir(d);
}

static void *
watch_main(void *arg)
{
    srv_watchdog *wd = arg;
    pthread_mutex_lock(&wd->mu);
    while (!wd->stop) {
        int64_t now = mono_ms(), next = -1;
        for (srv_watch *w = wd->head; w != NULL; w = w->next) {
            if (w->cut) {
                continue;
            }
            if (now >= w->deadline_ms) {
                cut(w);
                w->cut = 1;
            } else if (next < 0 || w->deadline_ms < next) {
                next = w->deadline_ms;
            }
        }
        if (next < 0) {
            pthread_cond_wait(&wd->cv, &wd->mu);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t wait_ms = next - now;
            ts.tv_sec += (time_t)(wait_ms / 1000);
            ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&wd->cv, &wd->mu, &ts);
        }
    }
    pthread_mutex_unlock(&wd->mu);
    return NULL;
}

int
srv__watchdog_start(srv_watchdog **out, fhir_err *err)
{
    srv_watchdog *wd = fhir_xcalloc(1, sizeof(*wd));
    pthread_condattr_t ca;
    *out = NULL;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&wd->mu, NULL);
    if (pthread_create(&wd->thread, NULL, watch_main, wd) != 0) {
        pthread_cond_destroy(&wd->cv);
        pthread_mutex_destroy(&wd->mu);
        free(wd);
        return fhir_err_set(err, FHIR_ISSUE_EXCEPTION,
                            "cannot start the request-timeout thread");
    }
    *out = wd;
    return 0;
}

void
srv__watchdog_stop(srv_watchdog *wd)
{
    if (wd == NULL) {
        return;
    }
    pthread_mutex_lock(&wd->mu);
    wd->stop = 1;
    pthread_cond_signal(&wd->cv);
    pthread_mutex_unlock(&wd->mu);
    pthread_join(wd->thread, NULL);
    pthread_cond_destroy(&wd->cv);
    pthread_mutex_destroy(&wd->mu);
    free(wd);
}

void
srv__deadline_arm(srv_req *r, srv_watch *w)
{
    srv_watchdog *wd = r->srv->watchdog;
    memset(w, 0, sizeof(*w));
    if (wd == NULL || r->ri == NULL) {
        return;
    }
    snprintf(w->peer_addr, sizeof(w->peer_addr), "%s", r->ri->remote_addr);
    w->peer_port = r->ri->remote_port;
    w->local_port = r->srv->port;
    w->deadline_ms = mono_ms() + r->srv->cfg.request_timeout_ms;
    pthread_mutex_lock(&wd->mu);
    w->next = wd->head;
    wd->head = w;
    w->armed = 1;
    pthread_cond_signal(&wd->cv);
    pthread_mutex_unlock(&wd->mu);
}

int
srv__deadline_disarm(srv_req *r, srv_watch *w)
{
    srv_watchdog *wd = r->srv->watchdog;
    int was_cut;
    if (!w->armed) {
        return 0;
    }
    pthread_mutex_lock(&wd->mu);
    for (srv_watch **p = &wd->head; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    was_cut = w->cut;
    w->armed = 0;
    pthread_mutex_unlock(&wd->mu);
    return was_cut;
}
