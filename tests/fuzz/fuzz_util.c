/* tests/fuzz/fuzz_util.c - the state fuzz targets share (fuzz.h): the
 * repository root, an offline server opened once per process on a
 * temporary database and removed at exit, failing a run loudly, and two
 * checks several targets make (JSON round trips, validation).
 *
 * It exists so that each target stays about its own input and its own
 * assertions; opening the definitions takes a fraction of a second and
 * happens once, not per input.
 */
#include "tests/fuzz/fuzz.h"
#include "server/server_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static srv_server *server;
static char tmpdir[64], dbpath[128];

const char *
fuzz_root(void)
{
    const char *r = getenv("FHIR_TEST_ROOT");
    return r != NULL && r[0] != '\0' ? r : ".";
}

char *
fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = fhir_xmalloc(size + 1);
    if (size > 0) {
        memcpy(s, data, size);
    }
    s[size] = '\0';
    return s;
}

void
fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

void
fuzz_server_reset(void)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    if (server == NULL) {
        return;
    }
    srv_stop(server);
    server = NULL;
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", dbpath, sfx[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

static void
remove_db(void)
{
    fuzz_server_reset();
}

srv_server *
fuzz_server(void)
{
    static char defs[512];
    static int registered;
    if (server != NULL) {
        return server;
    }
    srv_config cfg;
    fhir_err err = FHIR_ERR_INIT;
    srv_config_init(&cfg);
    snprintf(defs, sizeof(defs), "%s/profiles/definitions", fuzz_root());
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/fhir-fuzz-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        fuzz_fail("cannot make a temporary directory");
    }
    snprintf(dbpath, sizeof(dbpath), "%s/fuzz.db", tmpdir);
    cfg.db_path = dbpath;
    cfg.definitions = defs;
    cfg.base_url = FUZZ_BASE;
    cfg.quiet = 1;
    cfg.durability_full = 0; /* nothing here needs to survive power loss */
    cfg.max_bundle_entries = 64;
    if (srv__open_offline(&server, &cfg, 0, &err) != 0) {
        fuzz_fail("cannot open the server: %s", err.diag);
    }
    if (!registered) {
        atexit(remove_db);
        registered = 1;
    }
    return server;
}

/* Writes item, reads it back and writes it again: the bytes must agree
 * (the writer only writes what the reader accepts, and nothing drifts). */
void
fuzz_round_trip(const cJSON *item, int fhir_rules, const char *what)
{
    fhir_buf one = FHIR_BUF_INIT, two = FHIR_BUF_INIT, pretty = FHIR_BUF_INIT;
    fhir_json_opts jo = {512, fhir_rules};
    fhir_err err = FHIR_ERR_INIT;
    cJSON *back = NULL;
    fhir_json_write(&one, item, 0);
    if (fhir_json_parse(&back, one.data, one.len, &jo, &err) != 0) {
        fuzz_fail("%s: the reader refuses what the writer wrote (%s): %s", what,
                  err.diag, one.data);
    }
    fhir_json_write(&two, back, 0);
    if (one.len != two.len || memcmp(one.data, two.data, one.len) != 0) {
        fuzz_fail("%s: written twice differently:\n%s\n%s", what, one.data,
                  two.data);
    }
    cJSON_Delete(back);
    back = NULL;
    fhir_json_write(&pretty, item, 1);
    fhir_buf_clear(&two);
    if (fhir_json_parse(&back, pretty.data, pretty.len, &jo, &err) != 0) {
        fuzz_fail("%s: the reader refuses the pretty form (%s)", what,
                  err.diag);
    }
    fhir_json_write(&two, back, 0);
    if (one.len != two.len || memcmp(one.data, two.data, one.len) != 0) {
        fuzz_fail("%s: pretty form reads back differently", what);
    }
    cJSON_Delete(back);
    fhir_buf_clear(&one);
    fhir_buf_clear(&two);
    fhir_buf_clear(&pretty);
}

void
fuzz_validate(const cJSON *res)
{
    cJSON *oo = NULL;
    fhir_err err = FHIR_ERR_INIT;
    if (prof_validate(&oo, fuzz_server()->prof, res, &err) != 0 &&
        err.issue == FHIR_ISSUE_NONE) {
        fuzz_fail("prof_validate failed without an issue");
    }
    if (oo != NULL) {
        fuzz_round_trip(oo, 1, "OperationOutcome");
    }
    cJSON_Delete(oo);
}
