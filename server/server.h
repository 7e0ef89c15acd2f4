/* server/server.h - the HTTP face of the FHIR server.
 *
 * srv_config holds every setting (command-line flags with matching FHIR_*
 * environment variables); srv_start() opens the store, loads the
 * definitions and starts CivetWeb; srv_stop() shuts everything down. The
 * program (server/main.c) and the in-process HTTP tests both use exactly
 * this API.
 */
#ifndef SERVER_SERVER_H
#define SERVER_SERVER_H

#include "fhir/fhir.h"

typedef struct srv_config {
    const char *listen;      /* address to bind (default 127.0.0.1) */
    int port;                /* 0: any free port */
    const char *db_path;     /* SQLite file */
    const char *load_path;   /* Bundle loaded into an empty database */
    const char *definitions; /* directory of R4 definitions */
    const char *base_url;    /* public base URL; default from Host */
    int threads;             /* CivetWeb worker threads */
    int read_conns;          /* pooled SQLite read connections */
    int no_group;            /* no group commit */
    int quiet;               /* no per-request log lines */
    int no_hot;              /* searches from SQL only */
    size_t max_body;         /* request body cap in bytes */
    int max_header;          /* request line and headers cap in bytes */
    int request_timeout_ms;  /* to send the headers; again for the body */
    int keep_alive_ms;       /* an idle keep-alive connection closes */
    int max_depth;           /* JSON nesting cap */
    int default_count;       /* page size when _count is absent */
    int max_count;           /* largest _count honoured */
    int max_bundle_entries;  /* entries in a transaction or batch */
    int cond_delete_max;     /* resources one conditional delete removes */
    int replay_window;       /* seconds a transaction response is kept */
    int max_include;         /* resources _include/_revinclude may add */
    int durability_full;     /* synchronous=FULL (1) or NORMAL (0) */
    int reindex;             /* --reindex: rebuild the index, then exit */
} srv_config;

/* Fills the defaults. */
void srv_config_init(srv_config *cfg);

/* Reads FHIR_* variables, then argv (flags win). Returns 0 to run, 1 when
 * --help was printed to `help_out` semantics (caller exits 0), -1 on a
 * bad flag or value with a one-line message in msg. */
int srv_config_parse(srv_config *cfg, int argc, char **argv, char *msg,
                     size_t msg_cap);
/* The --help text. */
const char *srv_config_usage(void);

typedef struct srv_server srv_server;

/* Opens the database (loading cfg->load_path when it is empty), loads
 * the definitions and starts listening. On success *out is the caller's
 * (srv_stop() releases it). Errors carry a one-line diag: no-store
 * (database), not-found (definitions), exception (cannot listen). */
int srv_start(srv_server **out, const srv_config *cfg,
              fhir_err *err) FHIR_MUST_CHECK;
/* Rebuilds every index row from the stored bodies (--reindex), without
 * serving. Errors as srv_start(). */
int srv_reindex(const srv_config *cfg, fhir_err *err) FHIR_MUST_CHECK;
/* Bulk loading without HTTP (benchmarks, imports): the database of cfg is
 * opened as srv_start() would (definitions, schema, search set-up), and
 * each resource put is checked as a create or update is and written with
 * its index rows, `batch` resources per transaction. */
typedef struct srv_bulk srv_bulk;

int srv_bulk_open(srv_bulk **out, const srv_config *cfg, int batch,
                  fhir_err *err) FHIR_MUST_CHECK;
/* Adds `res` (its id kept when it has one, else a new one; stamped in
 * place). Errors: those of validation, or of the store; a failure rolls
 * back what was put since the last commit. */
int srv_bulk_put(srv_bulk *b, cJSON *res, fhir_err *err) FHIR_MUST_CHECK;
/* Commits what is pending and releases b (accepts NULL). */
int srv_bulk_close(srv_bulk *b, fhir_err *err) FHIR_MUST_CHECK;

/* The TCP port actually bound (useful with port 0). */
int srv_port(const srv_server *s);
/* Stops listening, waits for requests in flight, closes the store.
 * Accepts NULL. */
void srv_stop(srv_server *s);

#endif
