/* server/config.c - settings from the command line and the environment.
 *
 * Every setting is one row of the option table below: its flag, its
 * FHIR_* variable, its kind and where it lands in srv_config. The parser,
 * the environment reader and --help all walk that table, so a new setting
 * is one new row. Environment first, then flags, so a flag always wins.
 */
#include "server/server.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DB "var/fhir.db"

enum kind { K_STR, K_PORT, K_POSINT, K_SIZE, K_FLAG, K_DURABILITY };

struct option {
    const char *flag;
    const char *env;
    enum kind kind;
    size_t offset;
    const char *arg;
    const char *help;
};

#define OFF(f) offsetof(srv_config, f)

static const struct option options[] = {
    {"--port", "FHIR_PORT", K_PORT, OFF(port), "N",
     "TCP port (default 8080; 0 picks a free one)"},
    {"--listen", "FHIR_LISTEN", K_STR, OFF(listen), "ADDR",
     "address to bind (default 127.0.0.1)"},
    {"--db", "FHIR_DB", K_STR, OFF(db_path), "FILE",
     "SQLite database (default " DEFAULT_DB ")"},
    {"--load", "FHIR_LOAD", K_STR, OFF(load_path), "BUNDLE.json",
     "load this Bundle when the database is empty"},
    {"--threads", "FHIR_THREADS", K_POSINT, OFF(threads), "N",
     "worker threads = concurrent connections (default 128)"},
    {"--read-connections", "FHIR_READ_CONNECTIONS", K_POSINT, OFF(read_conns),
     "N",
     "SQLite read connections the workers share (default 6; each keeps "
     "a 2 MB page cache)"},
    {"--definitions", "FHIR_DEFINITIONS", K_STR, OFF(definitions), "DIR",
     "R4 definitions (default profiles/definitions beside the binary)"},
    {"--base-url", "FHIR_BASE_URL", K_STR, OFF(base_url), "URL",
     "public base URL (default http://<Host>/fhir)"},
    {"--max-body", "FHIR_MAX_BODY", K_SIZE, OFF(max_body), "BYTES",
     "largest request body (default 8388608)"},
    {"--max-header", "FHIR_MAX_HEADER", K_POSINT, OFF(max_header), "BYTES",
     "largest request line and headers, at least 1024; more is 400 "
     "(default 16384)"},
    {"--request-timeout-ms", "FHIR_REQUEST_TIMEOUT_MS", K_POSINT,
     OFF(request_timeout_ms), "MS",
     "a client has this long to send a request's headers, and again its "
     "body, else the connection is closed (default 30000)"},
    {"--keep-alive-timeout-ms", "FHIR_KEEP_ALIVE_TIMEOUT_MS", K_POSINT,
     OFF(keep_alive_ms), "MS",
     "an idle keep-alive connection is closed after this (default 15000)"},
    {"--max-depth", "FHIR_MAX_DEPTH", K_POSINT, OFF(max_depth), "N",
     "deepest JSON nesting accepted (default 64)"},
    {"--max-count", "FHIR_MAX_COUNT", K_POSINT, OFF(max_count), "N",
     "largest page size honoured for _count (default 1000)"},
    {"--max-bundle-entries", "FHIR_MAX_BUNDLE_ENTRIES", K_POSINT,
     OFF(max_bundle_entries), "N",
     "most entries in a transaction or batch Bundle (default 10000)"},
    {"--max-include", "FHIR_MAX_INCLUDE", K_POSINT, OFF(max_include), "N",
     "most resources _include and _revinclude add to one page (default "
     "2000)"},
    {"--cond-delete-max", "FHIR_COND_DELETE_MAX", K_POSINT,
     OFF(cond_delete_max), "N",
     "most resources one conditional delete may remove (default 1)"},
    {"--replay-window", "FHIR_REPLAY_WINDOW", K_POSINT, OFF(replay_window),
     "SECONDS",
     "how long a transaction's response is kept for retries with the same "
     "Bundle.identifier (default 86400)"},
    {"--durability", "FHIR_DURABILITY", K_DURABILITY, OFF(durability_full),
     "full|normal",
     "full: a reply means it survives power loss (default); normal: "
     "survives a process crash"},
    {"--no-group-commit", "FHIR_NO_GROUP_COMMIT", K_FLAG, OFF(no_group), NULL,
     "commit every write alone (default: concurrent writes share a "
     "commit; for comparison)"},
    {"--no-hot", "FHIR_NO_HOT", K_FLAG, OFF(no_hot), NULL,
     "answer searches from SQL only (no in-memory value sets)"},
    {"--quiet", "FHIR_QUIET", K_FLAG, OFF(quiet), NULL,
     "no per-request log lines on stderr"},
    {"--reindex", "FHIR_REINDEX", K_FLAG, OFF(reindex), NULL,
     "rebuild the search index from the stored resources, then exit"},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

void
srv_config_init(srv_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen = "127.0.0.1";
    cfg->port = 8080;
    cfg->db_path = DEFAULT_DB;
    cfg->threads = 128;
    cfg->read_conns = 6;
    cfg->max_body = FHIR_DEFAULT_MAX_BODY;
    cfg->max_header = 16384;
    cfg->request_timeout_ms = 30000;
    cfg->keep_alive_ms = 15000;
    cfg->max_depth = FHIR_DEFAULT_MAX_DEPTH;
    cfg->default_count = 20;
    cfg->max_count = 1000;
    cfg->max_bundle_entries = 10000;
    cfg->cond_delete_max = 1;
    cfg->max_include = 2000;
    cfg->replay_window = 86400;
    cfg->durability_full = 1;
}

const char *
srv_config_usage(void)
{
    static char text[8192];
    if (text[0] == '\0') {
        size_t n = (size_t)snprintf(
            text, sizeof(text),
            "usage: fhir-server [options]\n"
            "FHIR R4 server for Task, ServiceRequest, Patient and "
            "Practitioner at http://ADDR:PORT/fhir\n\noptions (each also "
            "settable by the variable shown):\n");
        for (size_t i = 0; i < NOPTIONS && n < sizeof(text); i++) {
            char left[64];
            snprintf(left, sizeof(left), "%s%s%s", options[i].flag,
                     options[i].arg ? " " : "",
                     options[i].arg ? options[i].arg : "");
            n += (size_t)snprintf(text + n, sizeof(text) - n,
                                  "  %-26s %s [%s]\n", left, options[i].help,
                                  options[i].env);
        }
        if (n < sizeof(text)) {
            snprintf(text + n, sizeof(text) - n, "  %-26s %s\n", "--help",
                     "show this text");
        }
    }
    return text;
}

/* Stores `value` for option `o`; -1 with a message when it is invalid. */
static int
apply(srv_config *cfg, const struct option *o, const char *value,
      const char *source, char *msg, size_t cap)
{
    char *base = (char *)cfg;
    char *end = NULL;
    long long v;
    switch (o->kind) {
    case K_STR:
        if (value[0] == '\0') {
            snprintf(msg, cap, "%s: empty value", source);
            return -1;
        }
        *(const char **)(base + o->offset) = value;
        return 0;
    case K_FLAG:
        *(int *)(base + o->offset) =
            !(strcmp(value, "0") == 0 || strcmp(value, "false") == 0 ||
              strcmp(value, "no") == 0);
        return 0;
    case K_DURABILITY:
        if (strcmp(value, "full") == 0 || strcmp(value, "normal") == 0) {
            *(int *)(base + o->offset) = strcmp(value, "full") == 0;
            return 0;
        }
        snprintf(msg, cap, "%s: '%s' is not full or normal", source, value);
        return -1;
    case K_PORT:
    case K_POSINT:
    case K_SIZE:
        errno = 0;
        v = strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < 0 ||
            (o->kind == K_PORT && v > 65535) ||
            (o->kind == K_POSINT && (v < 1 || v > INT_MAX)) ||
            (o->kind == K_SIZE && v < 1)) {
            snprintf(msg, cap, "%s: '%s' is not a valid %s", source, value,
                     o->kind == K_PORT ? "port (0-65535)" : "positive number");
            return -1;
        }
        if (o->offset == OFF(max_header) && v < 1024) {
            /* CivetWeb's buffer for them: a request line alone needs room */
            snprintf(msg, cap, "%s: '%s' is below 1024", source, value);
            return -1;
        }
        if (o->kind == K_SIZE) {
            *(size_t *)(base + o->offset) = (size_t)v;
        } else {
            *(int *)(base + o->offset) = (int)v;
        }
        return 0;
    }
    return -1;
}

int
srv_config_parse(srv_config *cfg, int argc, char **argv, char *msg,
                 size_t msg_cap)
{
    msg[0] = '\0';
    for (size_t i = 0; i < NOPTIONS; i++) {
        const char *v = getenv(options[i].env);
        if (v != NULL && v[0] != '\0' &&
            apply(cfg, &options[i], v, options[i].env, msg, msg_cap) != 0) {
            return -1;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const struct option *o = NULL;
        const char *value = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            return 1;
        }
        for (size_t k = 0; k < NOPTIONS; k++) {
            size_t fl = strlen(options[k].flag);
            if (strncmp(a, options[k].flag, fl) == 0 &&
                (a[fl] == '\0' || a[fl] == '=')) {
                o = &options[k];
                value = a[fl] == '=' ? a + fl + 1 : NULL;
                break;
            }
        }
        if (o == NULL) {
            snprintf(msg, msg_cap, "unknown option '%s' (see --help)", a);
            return -1;
        }
        if (o->kind == K_FLAG) {
            value = value ? value : "1";
        } else if (value == NULL) {
            if (i + 1 >= argc) {
                snprintf(msg, msg_cap, "%s needs a value (%s)", o->flag,
                         o->arg);
                return -1;
            }
            value = argv[++i];
        }
        if (apply(cfg, o, value, o->flag, msg, msg_cap) != 0) {
            return -1;
        }
    }
    return 0;
}
