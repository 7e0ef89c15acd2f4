/* tests/http/test_http_process.c - the fhir-server program as a user
 * runs it: command line, environment, exit codes and messages, the
 * request log, --load, and durability across kill -9.
 *
 * Each case starts build/fhir-server (FHIR_TEST_SERVER) as a child on
 * port 0 with a temporary database; the child's stderr goes to a file
 * from which the test reads the bound port and the log lines.
 * FHIR_TEST_WRAPPER (words split at spaces, e.g. "valgrind -q
 * --error-exitcode=99 --log-file=/tmp/vg-%p.log") is put before the
 * server's command line (make check-valgrind); start-up may then take
 * two minutes, and a server stopped by SIGTERM must exit 0.
 */
#include "tests/http/harness.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[256];
static pid_t spawned[64]; /* killed at teardown if a failed case left one */
static int nspawned;

static const char *
server_bin(void)
{
    const char *b = getenv("FHIR_TEST_SERVER");
    return b ? b : "build/fhir-server";
}

static const char *
root(void)
{
    const char *r = getenv("FHIR_TEST_ROOT");
    return r ? r : ".";
}

static int
wrapped(void)
{
    const char *w = getenv("FHIR_TEST_WRAPPER");
    return w != NULL && w[0] != '\0';
}

typedef struct child {
    pid_t pid;
    char log[300];
    int port;
    th_server s; /* base URL for the harness client */
} child;

/* Starts the server with argv (NULL-terminated, without argv[0]) and
 * extra environment "NAME=value" strings; waits until it listens or
 * exits. Returns 0 when listening, else the exit status. */
static int
spawn(child *c, const char *const *args, const char *const *env)
{
    static int seq;
    memset(c, 0, sizeof(*c));
    snprintf(c->log, sizeof(c->log), "%s/stderr-%d.log", dir, ++seq);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid > 0 && nspawned < 64) {
        spawned[nspawned++] = c->pid;
    }
    if (c->pid == 0) {
        const char *argv[64];
        int n = 0;
        static char words[1024];
        const char *wrap = getenv("FHIR_TEST_WRAPPER");
        snprintf(words, sizeof(words), "%s", wrap ? wrap : "");
        for (char *w = words; *w != '\0' && n < 30;) {
            argv[n++] = w;
            w += strcspn(w, " ");
            if (*w == ' ') {
                *w++ = '\0';
            }
            w += strspn(w, " ");
        }
        argv[n++] = server_bin();
        for (int i = 0; args[i] != NULL && n < 63; i++) {
            argv[n++] = args[i];
        }
        argv[n] = NULL;
        for (int i = 0; env != NULL && env[i] != NULL; i++) {
            putenv((char *)env[i]);
        }
        int fd = open(c->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    /* Wait (bounded) for "listening on http://ADDR:PORT/fhir" or exit. */
    for (int i = 0; i < (wrapped() ? 12000 : 1000); i++) {
        int status;
        if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
            c->pid = 0;
            if (getenv("FHIR_TEST_VERBOSE") != NULL) {
                char cmd[400];
                snprintf(cmd, sizeof(cmd), "cat '%s' >&2", c->log);
                if (system(cmd) != 0) {
                    fprintf(stderr, "(no log)\n");
                }
            }
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        }
        FILE *f = fopen(c->log, "r");
        char line[512];
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            char *p = strstr(line, "listening on http://");
            if (p != NULL) {
                char *colon = strchr(p + strlen("listening on http://"), ':');
                c->port = atoi(colon + 1);
                snprintf(c->s.base, sizeof(c->s.base),
                         "http://127.0.0.1:%d/fhir", c->port);
                fclose(f);
                return 0;
            }
        }
        if (f != NULL) {
            fclose(f);
        }
        usleep(10000);
    }
    fail_msg("server did not start within %d s", wrapped() ? 120 : 10);
    return -1;
}

static void
stop(child *c, int sig)
{
    if (c->pid > 0) {
        int status;
        kill(c->pid, sig);
        waitpid(c->pid, &status, 0);
        c->pid = 0;
        /* A clean stop exits 0; under valgrind, not 0 means it found
         * errors or leaks (see its log). */
        if (sig == SIGTERM && wrapped() &&
            !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            fail_msg("server exited with status %d under %s", status,
                     getenv("FHIR_TEST_WRAPPER"));
        }
    }
}

/* The whole stderr of a child, NUL-terminated (caller frees). */
static char *
read_log(const child *c)
{
    FILE *f = fopen(c->log, "r");
    char *buf = calloc(1, 1 << 20);
    if (f != NULL) {
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

static int
count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) {
        n += *s == '\n';
    }
    return n;
}

static char *
db_path(const char *name)
{
    char *p = malloc(400);
    snprintf(p, 400, "%s/%s", dir, name);
    return p;
}

/* ---- command line --------------------------------------------------- */

static void
process_cli__help(void **state)
{
    (void)state;
    char cmd[600], out[8192];
    snprintf(cmd, sizeof(cmd), "'%s' --help", server_bin());
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const char *want[] = {"--port",
                          "FHIR_PORT",
                          "--db",
                          "FHIR_DB",
                          "--load",
                          "--threads",
                          "--listen",
                          "FHIR_LISTEN",
                          "--quiet",
                          "--max-body",
                          "--max-header",
                          "--keep-alive-timeout-ms",
                          "--request-timeout-ms",
                          "FHIR_REQUEST_TIMEOUT_MS"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(out, want[i]) == NULL) {
            fail_msg("--help does not mention %s", want[i]);
        }
    }
}

static void
process_cli__bad_flags_exit_nonzero_one_line(void **state)
{
    (void)state;
    const char *cases[][3] = {
        {"--bogus", NULL, NULL},         {"--port", "abc", NULL},
        {"--port", "70000", NULL},       {"--threads", "0", NULL},
        {"--durability", "maybe", NULL}, {"--db", NULL, NULL},
        {"--max-header", "1023", NULL},  {"--request-timeout-ms", "0", NULL}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        child c;
        int rc = spawn(&c, cases[i], NULL);
        char *log = read_log(&c);
        if (rc == 0 || count_lines(log) != 1) {
            fail_msg("%s %s: exit %d, stderr '%s'", cases[i][0],
                     cases[i][1] ? cases[i][1] : "", rc, log);
        }
        free(log);
    }
}

static void
process_cli__unopenable_database(void **state)
{
    (void)state;
    char *junk = db_path("junk.db");
    FILE *f = fopen(junk, "w");
    fputs("this is not an SQLite database, just some text.............."
          "............................................................",
          f);
    fclose(f);
    const char *paths[] = {"/nonexistent-dir/x.db", junk};
    for (int i = 0; i < 2; i++) {
        const char *args[] = {"--port", "0", "--db", paths[i], NULL};
        child c;
        int rc = spawn(&c, args, NULL);
        char *log = read_log(&c);
        if (rc == 0 || count_lines(log) != 1 ||
            strstr(log, "database") == NULL) {
            fail_msg("%s: exit %d, stderr '%s'", paths[i], rc, log);
        }
        free(log);
        stop(&c, SIGKILL);
    }
    free(junk);
}

static void
process_cli__port_in_use(void **state)
{
    (void)state;
    char *db1 = db_path("inuse1.db"), *db2 = db_path("inuse2.db");
    const char *a1[] = {"--port", "0", "--db", db1, NULL};
    child a, b;
    assert_int_equal(spawn(&a, a1, NULL), 0);
    char port[16];
    snprintf(port, sizeof(port), "%d", a.port);
    const char *a2[] = {"--port", port, "--db", db2, NULL};
    int rc = spawn(&b, a2, NULL);
    char *log = read_log(&b);
    if (rc == 0 || count_lines(log) != 1 || strstr(log, "listen") == NULL) {
        stop(&b, SIGKILL);
        fail_msg("second server on port %s: exit %d, stderr '%s'", port, rc,
                 log);
    }
    free(log);
    stop(&a, SIGTERM);
    free(db1);
    free(db2);
}

static void
process_env__settings_from_environment(void **state)
{
    (void)state;
    char *db = db_path("env.db");
    static char envdb[400];
    snprintf(envdb, sizeof(envdb), "FHIR_DB=%s", db);
    const char *env[] = {"FHIR_PORT=0", envdb, "FHIR_QUIET=1", NULL};
    const char *args[] = {NULL};
    child c;
    assert_int_equal(spawn(&c, args, env), 0);
    th_resp *r = th_req(&c.s, "GET", "metadata", NULL, NULL);
    assert_int_equal(r->status, 200);
    th_free(r);
    stop(&c, SIGTERM);
    struct stat st;
    assert_int_equal(stat(db, &st), 0); /* the database is where FHIR_DB said */
    char *log = read_log(&c);
    assert_null(strstr(log, "GET /fhir/metadata")); /* FHIR_QUIET */
    free(log);
    free(db);
}

static void
process_log__one_line_per_request_and_quiet(void **state)
{
    (void)state;
    char *db = db_path("log.db");
    const char *args[] = {"--port", "0", "--db", db, NULL};
    child c;
    assert_int_equal(spawn(&c, args, NULL), 0);
    th_free(th_req(&c.s, "GET", "metadata", NULL, NULL));
    th_free(th_req(&c.s, "GET", "Task/nope?secret=1", NULL, NULL));
    stop(&c, SIGTERM);
    char *log = read_log(&c);
    char *line = strstr(log, "GET /fhir/metadata 200 ");
    assert_non_null(line);
    assert_non_null(strstr(line, "ms\n"));
    assert_non_null(strstr(log, "GET /fhir/Task/nope 404 "));
    assert_null(strstr(log, "secret")); /* query strings are not logged */
    free(log);
    const char *q[] = {"--port", "0", "--db", db, "--quiet", NULL};
    assert_int_equal(spawn(&c, q, NULL), 0);
    th_free(th_req(&c.s, "GET", "metadata", NULL, NULL));
    stop(&c, SIGTERM);
    log = read_log(&c);
    assert_null(strstr(log, "GET /fhir/metadata"));
    free(log);
    free(db);
}

/* ---- --load --------------------------------------------------------- */

static void
process_load__example_clinic_once(void **state)
{
    (void)state;
    char *db = db_path("clinic.db");
    char bundle[512];
    snprintf(bundle, sizeof(bundle), "%s/examples/clinic.json", root());
    const char *args[] = {"--port", "0",    "--db",    db,
                          "--load", bundle, "--quiet", NULL};
    child c;
    assert_int_equal(spawn(&c, args, NULL), 0);
    th_resp *r = th_req(&c.s, "GET", "Task/task-callback-muller", NULL, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "meta.versionId"), "1");
    th_free(r);
    r = th_req(&c.s, "GET", "Practitioner/nurse-nguyen", NULL, NULL);
    assert_int_equal(r->status, 200);
    th_free(r);
    stop(&c, SIGTERM);
    /* Second start: the database is not empty, nothing is loaded again. */
    assert_int_equal(spawn(&c, args, NULL), 0);
    r = th_req(&c.s, "GET", "Task/task-callback-muller", NULL, NULL);
    assert_string_equal(th_str(r->json, "meta.versionId"), "1");
    th_free(r);
    stop(&c, SIGTERM);
    /* --reindex rebuilds the search index from the stored bodies, exits 0 */
    const char *re[] = {"--db", db, "--reindex", NULL};
    assert_int_equal(spawn(&c, re, NULL), 0 + 0);
    char *log = read_log(&c);
    if (strstr(log, "reindexed 18 resources") == NULL) {
        fail_msg("--reindex said: %s", log);
    }
    free(log);
    /* Identifier and telecom values are indexed but not counted (their
     * parameters' elements are Identifier and ContactPoint in the
     * definitions); a status is counted. */
    sqlite3 *sdb = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(db, &sdb), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(sdb,
                           "SELECT (SELECT count(*) FROM idx_token t WHERE "
                           "t.param = p.num), (SELECT count(*) FROM cnt_token "
                           "c WHERE c.param = p.num) FROM sparam p "
                           "WHERE p.key = ?1",
                           -1, &st, NULL),
        SQLITE_OK);
    static const struct {
        const char *key;
        int counted;
    } params[] = {{"Patient-identifier", 0},
                  {"individual-telecom", 0},
                  {"Task-status", 1}};
    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        sqlite3_bind_text(st, 1, params[i].key, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        if (sqlite3_column_int(st, 0) == 0 ||
            (sqlite3_column_int(st, 1) > 0) != params[i].counted) {
            fail_msg("%s: %d index rows, %d count rows", params[i].key,
                     sqlite3_column_int(st, 0), sqlite3_column_int(st, 1));
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(sdb);
    free(db);
}

/* A database of an older schema is migrated at start-up, and when the
 * migration asks for it (schema 3 keeps its counts per resource type)
 * the search index is rebuilt before serving: totals are right at once. */
static void
process_load__old_schema_is_reindexed(void **state)
{
    (void)state;
    char *db = db_path("schema2.db");
    char bundle[512];
    snprintf(bundle, sizeof(bundle), "%s/examples/clinic.json", root());
    const char *load[] = {"--port", "0",    "--db",    db,
                          "--load", bundle, "--quiet", NULL};
    const char *args[] = {"--port", "0", "--db", db, "--quiet", NULL};
    child c;
    assert_int_equal(spawn(&c, load, NULL), 0);
    stop(&c, SIGTERM);
    sqlite3 *sdb = NULL;
    assert_int_equal(sqlite3_open(db, &sdb), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(sdb, "PRAGMA user_version = 2", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(sdb);

    assert_int_equal(spawn(&c, args, NULL), 0);
    /* individual-gender: 2 of 4 Practitioners, 1 of 3 Patients */
    static const struct {
        const char *url;
        int total;
    } cases[] = {
        {"Practitioner?gender=female&_summary=count", 2},
        {"Patient?gender=female&_summary=count", 1},
        {"Patient?gender:missing=true&_summary=count", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_resp *r = th_req(&c.s, "GET", cases[i].url, NULL, NULL);
        const cJSON *t = cJSON_GetObjectItem(r->json, "total");
        if (r->status != 200 || !cJSON_IsNumber(t) ||
            t->valueint != cases[i].total) {
            fail_msg("%s: want total %d: %s", cases[i].url, cases[i].total,
                     r->body);
        }
        th_free(r);
    }
    stop(&c, SIGTERM);
    char *log = read_log(&c);
    if (strstr(log, "reindexed 18 resources") == NULL) {
        fail_msg("no reindex after the migration: %s", log);
    }
    free(log);
    free(db);
}

/* ---- durability ------------------------------------------------------ */

#define DURABLE_N 200

static void
process_durability__kill9_keeps_acknowledged_writes(void **state)
{
    (void)state;
    char *db = db_path("durable.db");
    const char *args[] = {"--port", "0", "--db", db, "--quiet", NULL};
    child c;
    char ids[DURABLE_N][40];
    int versions[DURABLE_N];
    assert_int_equal(spawn(&c, args, NULL), 0);
    CURL *curl = curl_easy_init();
    for (int i = 0; i < DURABLE_N; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"resourceType\":\"Task\",\"status\":\"ready\","
                 "\"intent\":\"order\",\"description\":\"durable %d\"}",
                 i);
        th_resp *r =
            th_req_on(curl, &c.s, "POST", "Task", body, strlen(body), NULL);
        assert_int_equal(r->status, 201);
        snprintf(ids[i], sizeof(ids[i]), "%s", th_str(r->json, "id"));
        versions[i] = 1;
        th_free(r);
        if (i % 3 == 0) {
            char url[128];
            snprintf(url, sizeof(url), "Task/%.39s", ids[i]);
            snprintf(body, sizeof(body),
                     "{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":"
                     "\"completed\",\"intent\":\"order\"}",
                     ids[i]);
            r = th_req_on(curl, &c.s, "PUT", url, body, strlen(body), NULL);
            assert_int_equal(r->status, 200);
            versions[i] = 2;
            th_free(r);
        }
    }
    curl_easy_cleanup(curl);
    stop(&c, SIGKILL); /* no chance to checkpoint or close */

    assert_int_equal(spawn(&c, args, NULL), 0);
    curl = curl_easy_init();
    for (int i = 0; i < DURABLE_N; i++) {
        char url[128], v[16];
        snprintf(url, sizeof(url), "Task/%.39s", ids[i]);
        th_resp *r = th_req_on(curl, &c.s, "GET", url, NULL, 0, NULL);
        assert_int_equal(r->status, 200);
        snprintf(v, sizeof(v), "%d", versions[i]);
        assert_string_equal(th_str(r->json, "meta.versionId"), v);
        th_free(r);
    }
    curl_easy_cleanup(curl);
    stop(&c, SIGKILL);

    sqlite3 *sdb = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(db, &sdb), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(sdb, "PRAGMA integrity_check", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(sdb);
    free(db);
}

static int
setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(dir, sizeof(dir), "/tmp/fhir-proc-XXXXXX");
    assert_non_null(mkdtemp(dir));
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    char cmd[300];
    for (int i = 0; i < nspawned; i++) {
        if (kill(spawned[i], SIGKILL) == 0) {
            waitpid(spawned[i], NULL, 0);
        }
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(process_cli__help),
        cmocka_unit_test(process_cli__bad_flags_exit_nonzero_one_line),
        cmocka_unit_test(process_cli__unopenable_database),
        cmocka_unit_test(process_cli__port_in_use),
        cmocka_unit_test(process_env__settings_from_environment),
        cmocka_unit_test(process_log__one_line_per_request_and_quiet),
        cmocka_unit_test(process_load__example_clinic_once),
        cmocka_unit_test(process_load__old_schema_is_reindexed),
        cmocka_unit_test(process_durability__kill9_keeps_acknowledged_writes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
