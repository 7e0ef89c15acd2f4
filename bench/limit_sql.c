/* bench/limit_sql.c - the storage engine's limit for `make bench`: how
 * fast plain SQLite takes the rows one create writes, with nothing of the
 * server in the timed loop.
 *
 * The server's creates/s and ingest resources/s mean little alone; next
 * to what SQLite itself does with the same rows on the same machine at the
 * same durability they say how much the server adds. So this program, in
 * one thread:
 *
 *   1. creates the database with the server's own schema (store_env_open
 *      runs the migrations; store_param_num numbers the search parameters
 *      as srv_start does) and closes it;
 *   2. before the clock starts, builds the resources and their index rows
 *      with the project's library: Task bodies of the create workload
 *      (bench_task_body) or the clinic of bench/clinic.c in Bundle-sized
 *      groups as bench/ingest.c sends it (--source clinic), each stamped
 *      (fhir_resource_stamp: id, meta) and indexed (search_index) as the
 *      server does, token systems numbered in sysdict;
 *   3. opens a plain SQLite connection with the writer's pragmas (WAL,
 *      synchronous FULL or NORMAL, cache_size -16000, temp_store MEMORY)
 *      and the server's checkpoint regime (the WAL hook signals a thread
 *      with its own connection that runs PASSIVE checkpoints past 1000
 *      pages beside the writes, and again under the writer's lock when
 *      the WAL reached 4000 pages, as store/checkpoint.c);
 *   4. times only the inserts: per resource one resource row, one history
 *      row (the body as a blob) and its index rows, with the server's SQL
 *      text as prepared statements, --batch resources per BEGIN IMMEDIATE
 *      ... COMMIT, for --seconds or --count resources.
 *
 * Not in the loop: the id lookup before an insert, the cnt_* counts, the
 * hot index, JSON parsing, validation, HTTP - the server's own work,
 * which is what the ratio measures.
 *
 *   limit_sql --db FILE [--source tasks|clinic] [--batch 1] [--count N]
 *             [--seconds 10] [--durability full|normal] [--seed 1]
 *
 * Prints one line of key=value results: resources/s, index rows per
 * resource, and the p50/p99 of a transaction. Definitions are read from
 * $FHIR_DEFINITIONS, default profiles/definitions (run from the repo).
 */
#include "fhir/fhir.h"
#include "search/search.h"
#include "store/store.h"
#include "bench/bench_util.h"
#include "bench/clinic.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEMPLATES 4000 /* distinct Task bodies; ids make them unique */
#define TEMPLATE_ID "raw-000000000" /* as long as "raw-%09ld" */
#define CKPT_PAGES 1000             /* store/checkpoint.c's STORE_CKPT_PAGES */
#define CKPT_CATCH_UP 4000          /* and its STORE_CKPT_CATCH_UP */
#define MAX_SAMPLES 4000000

/* One index row, ready to bind. */
struct row {
    fhir_row_kind kind;
    int param;
    int64_t sys, lo, hi;
    const char *code, *text; /* arena strings */
};

/* One resource, ready to insert. */
struct res {
    int tcode;   /* rtype.code */
    char id[72]; /* "" for a template: the id is made at insert time */
    char *body;
    size_t len;
    size_t idoff; /* template: where its id is in body */
    struct row *rows;
    size_t nrows;
};

struct build {
    fhir_arena *a;
    const search_registry *reg;
    sqlite3 *db; /* set-up connection: rtype, sysdict */
    struct res *v;
    size_t n, cap;
    long want;
    int64_t us;
    int failed;
    /* The id the server would give clinic resource (kind, num). */
    char (*ids[CLINIC_NKIND])[37];
    long nids[CLINIC_NKIND];
};

/* ---- set-up ----------------------------------------------------------- */

static int
one_int(sqlite3 *db, const char *sql, const char *arg, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (arg != NULL) {
            sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
        }
        if (sqlite3_step(st) == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = 0;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* The sysdict number of uri, made now (untimed), as the server's first
 * write of a system would. */
static int64_t
sys_num(sqlite3 *db, const char *uri)
{
    int64_t id = 0;
    if (one_int(db, "SELECT id FROM sysdict WHERE uri = ?1", uri, &id) == 0) {
        return id;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO sysdict(uri) VALUES (?1)", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
        (void)sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return sqlite3_last_insert_rowid(db);
}

/* Stamps and indexes res as a create would, keeping body and rows. */
static int
add(struct build *b, cJSON *res, int templ)
{
    const char *tname = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(res, "resourceType"));
    const char *given =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res, "id"));
    int type = tname != NULL ? fhir_type_find(tname) : -1;
    int64_t tcode = 0;
    char fresh[37];
    if (type < 0 || one_int(b->db, "SELECT code FROM rtype WHERE name = ?1",
                            tname, &tcode) != 0) {
        fprintf(stderr, "limit_sql: no type for %.80s\n", tname);
        return -1;
    }
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 1024;
        b->v = realloc(b->v, b->cap * sizeof(*b->v));
    }
    struct res *r = &b->v[b->n++];
    memset(r, 0, sizeof(*r));
    r->tcode = (int)tcode;
    if (given == NULL) {
        fhir_id_new(fresh);
    }
    /* Templates get a same-length id of their own at insert time. */
    snprintf(r->id, sizeof(r->id), "%s",
             templ ? "" : (given != NULL ? given : fresh));
    fhir_resource_stamp(res, given != NULL ? given : TEMPLATE_ID, 1, b->us++);
    fhir_rows rows = {NULL, 0, 0};
    search_index(&rows, b->reg, type, res, b->a);
    fhir_buf body = FHIR_BUF_INIT;
    fhir_json_write(&body, res, 0);
    r->body = fhir_buf_take(&body, &r->len);
    if (templ) {
        r->idoff = (size_t)(strstr(r->body, TEMPLATE_ID) - r->body);
    }
    r->rows = fhir_arena_alloc(b->a, (rows.n + 1) * sizeof(*r->rows));
    for (size_t i = 0; i < rows.n; i++) {
        const fhir_row *f = &rows.rows[i];
        struct row *t = &r->rows[r->nrows++];
        t->kind = f->kind;
        t->param = f->param;
        t->code = f->code;
        t->text = f->text != NULL ? f->text : "";
        t->lo = f->lo;
        t->hi = f->hi;
        t->sys = f->kind == FHIR_ROW_TOKEN
                     ? sys_num(b->db, f->sys != NULL ? f->sys : "")
                     : 0;
    }
    return 0;
}

/* The id a POST of clinic resource (kind, num) gets from the server
 * (fhir_id_new), made on first use. */
static const char *
server_id(struct build *b, int kind, long num)
{
    if (num >= b->nids[kind]) {
        long n = b->nids[kind] ? 2 * b->nids[kind] : 1024;
        while (n <= num) {
            n *= 2;
        }
        b->ids[kind] = realloc(b->ids[kind], (size_t)n * sizeof(*b->ids[kind]));
        memset(b->ids[kind] + b->nids[kind], 0,
               (size_t)(n - b->nids[kind]) * sizeof(*b->ids[kind]));
        b->nids[kind] = n;
    }
    if (b->ids[kind][num][0] == '\0') {
        fhir_id_new(b->ids[kind][num]);
    }
    return b->ids[kind][num];
}

/* Rewrites every "reference": "urn:uuid:..." under node to the Type/id
 * the server makes of it (server/bundle.c's rewrite_refs). */
static void
server_refs(struct build *b, const struct clinic *c, cJSON *node)
{
    for (cJSON *m = node->child; m != NULL; m = m->next) {
        int kind = 0;
        long num = 0;
        if (cJSON_IsString(m) && m->string != NULL &&
            strcmp(m->string, "reference") == 0 &&
            strncmp(m->valuestring, "urn:uuid:", 9) == 0 &&
            clinic_urn_parse(c, m->valuestring + 9, &kind, &num) == 0) {
            char ref[80];
            snprintf(ref, sizeof(ref), "%s/%s", clinic_type[kind],
                     server_id(b, kind, num));
            cJSON_SetValuestring(m, ref);
        } else if (cJSON_IsObject(m) || cJSON_IsArray(m)) {
            server_refs(b, c, m);
        }
    }
}

/* clinic_emit_fn: each clinic resource becomes one to insert, as the
 * server stores it from ingest.c's Bundles: its urn:uuid fullUrl and the
 * references to it turned into a server-made id. */
static int
emit(void *ud, struct clinic *c, int kind, long num, const char *json,
     size_t len)
{
    struct build *b = ud;
    cJSON *res = cJSON_ParseWithLength(json, len);
    if (res == NULL) {
        return -1;
    }
    if (c->urn && kind != CLINIC_PRACTITIONER) {
        fhir_json_insert(res, 1, "id",
                         cJSON_CreateString(server_id(b, kind, num)));
        server_refs(b, c, res);
    }
    int rc = add(b, res, 0);
    cJSON_Delete(res);
    return rc;
}

/* The clinic's resources in groups of `group` as ingest.c's Bundles hold
 * them: one Patient in 20 first, then ServiceRequests with their Tasks. */
static int
build_clinic(struct build *b, uint64_t seed, int group)
{
    static struct clinic c;
    clinic_init(&c, seed, b->want, emit, b);
    c.urn = 1; /* as ingest.c sends them; emit() gives the server's ids */
    while ((long)b->n < b->want) {
        size_t end = b->n + (size_t)group;
        long lo = c.npat + 1;
        for (int i = 0; i < (group / 20 > 0 ? group / 20 : 1); i++) {
            if (clinic_patient(&c) != 0) {
                goto fail;
            }
        }
        long hi = c.npat;
        while (b->n < end) {
            size_t left = end - b->n;
            int rc = left < 2 ? clinic_patient(&c)
                              : clinic_order(&c, lo, hi, (long)left - 1);
            if (rc != 0) {
                goto fail;
            }
        }
    }
    clinic_clear(&c);
    return 0;
fail:
    clinic_clear(&c);
    return -1;
}

static int
build_tasks(struct build *b)
{
    char text[2048];
    for (unsigned i = 0; i < TEMPLATES; i++) {
        bench_task_body(text, sizeof(text), i);
        cJSON *res = cJSON_Parse(text);
        int rc = res != NULL ? add(b, res, 1) : -1;
        cJSON_Delete(res);
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

/* The schema, through the server's own migrations and parameter numbers,
 * into a new file; the registry is numbered on the way. */
static int
make_schema(const char *path, int full, search_registry *reg)
{
    store_opts so = STORE_OPTS_INIT;
    store_env *env = NULL;
    fhir_err err = FHIR_ERR_INIT;
    so.path = path;
    so.synchronous_full = full;
    if (store_env_open(&env, &so, &err) != 0) {
        fprintf(stderr, "limit_sql: %s\n", err.diag);
        return -1;
    }
    for (size_t i = 0; i < search_registry_count(reg); i++) {
        const search_param *p = search_registry_at(reg, i);
        int num;
        if (!search_param_indexed(p)) {
            continue;
        }
        if (store_param_num(&num, env, search_param_key(p), &err) != 0) {
            fprintf(stderr, "limit_sql: %s\n", err.diag);
            store_env_close(env);
            return -1;
        }
        search_param_set_num(reg, i, num);
    }
    store_env_close(env);
    return 0;
}

/* ---- checkpoints, as store/checkpoint.c -------------------------------- */

struct ckpt {
    pthread_t thread;
    pthread_mutex_t mu, wlock;
    pthread_cond_t cv;
    int pages, stop;
    sqlite3 *db;
};

static int
wal_hook(void *ctx, sqlite3 *db, const char *name, int pages)
{
    struct ckpt *c = ctx;
    (void)db;
    (void)name;
    if (pages >= CKPT_PAGES) {
        pthread_mutex_lock(&c->mu);
        c->pages = pages;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

static void *
ckpt_run(void *arg)
{
    struct ckpt *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stop && c->pages < CKPT_PAGES) {
            pthread_cond_wait(&c->cv, &c->mu);
        }
        if (c->stop) {
            break;
        }
        int log = c->pages;
        c->pages = 0;
        pthread_mutex_unlock(&c->mu);
        if (log < CKPT_CATCH_UP &&
            sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                      &log, NULL) != SQLITE_OK) {
            log = 0;
        }
        if (log >= CKPT_CATCH_UP) {
            pthread_mutex_lock(&c->wlock);
            (void)sqlite3_wal_checkpoint_v2(
                c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
            pthread_mutex_unlock(&c->wlock);
        }
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- the timed inserts ------------------------------------------------ */

enum {
    S_BEGIN,
    S_COMMIT,
    S_RES,
    S_HIST,
    S_TOKEN,
    S_STRING,
    S_DATE,
    S_REF,
    S_URI,
    S_COUNT
};

/* store/store.c's statements, word for word. */
static const char *const sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_RES] = "INSERT INTO resource(type, id, version, hid, "
              "deleted) VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_HIST] = "INSERT INTO history(hid, rid, type, version, "
               "method, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_TOKEN] = "INSERT OR IGNORE INTO idx_token(rid, param, sys, code) "
                "VALUES (?1, ?2, ?3, ?4)",
    [S_STRING] = "INSERT OR IGNORE INTO idx_string(rid, param, norm, "
                 "text) VALUES (?1, ?2, ?3, ?4)",
    [S_DATE] = "INSERT OR IGNORE INTO idx_date(rid, param, lo, hi) "
               "VALUES (?1, ?2, ?3, ?4)",
    [S_REF] = "INSERT OR IGNORE INTO idx_ref(rid, param, ref) "
              "VALUES (?1, ?2, ?3)",
    [S_URI] = "INSERT OR IGNORE INTO idx_uri(rid, param, uri) "
              "VALUES (?1, ?2, ?3)",
};

static int
run1(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int
insert(sqlite3 *db, sqlite3_stmt **st, const struct res *r, const char *id,
       int64_t hid)
{
    static const int which[] = {[FHIR_ROW_TOKEN] = S_TOKEN,
                                [FHIR_ROW_STRING] = S_STRING,
                                [FHIR_ROW_DATE] = S_DATE,
                                [FHIR_ROW_REF] = S_REF,
                                [FHIR_ROW_URI] = S_URI};
    sqlite3_bind_int(st[S_RES], 1, r->tcode);
    sqlite3_bind_text(st[S_RES], 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st[S_RES], 3, 1);
    sqlite3_bind_int64(st[S_RES], 4, hid);
    sqlite3_bind_int(st[S_RES], 5, 0);
    if (run1(st[S_RES]) != 0) {
        return -1;
    }
    int64_t rid = sqlite3_last_insert_rowid(db);
    sqlite3_bind_int64(st[S_HIST], 1, hid);
    sqlite3_bind_int64(st[S_HIST], 2, rid);
    sqlite3_bind_int(st[S_HIST], 3, r->tcode);
    sqlite3_bind_int64(st[S_HIST], 4, 1);
    sqlite3_bind_int(st[S_HIST], 5, 1); /* STORE_METHOD_POST */
    sqlite3_bind_blob(st[S_HIST], 6, r->body, (int)r->len, SQLITE_STATIC);
    if (run1(st[S_HIST]) != 0) {
        return -1;
    }
    for (size_t i = 0; i < r->nrows; i++) {
        const struct row *w = &r->rows[i];
        sqlite3_stmt *s = st[which[w->kind]];
        sqlite3_bind_int64(s, 1, rid);
        sqlite3_bind_int(s, 2, w->param);
        switch (w->kind) {
        case FHIR_ROW_TOKEN:
            sqlite3_bind_int64(s, 3, w->sys);
            sqlite3_bind_text(s, 4, w->code, -1, SQLITE_STATIC);
            break;
        case FHIR_ROW_STRING:
            sqlite3_bind_text(s, 3, w->code, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 4, w->text, -1, SQLITE_STATIC);
            break;
        case FHIR_ROW_DATE:
            sqlite3_bind_int64(s, 3, w->lo);
            sqlite3_bind_int64(s, 4, w->hi);
            break;
        default:
            sqlite3_bind_text(s, 3, w->code, -1, SQLITE_STATIC);
            break;
        }
        if (run1(s) != 0) {
            return -1;
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    const char *path = NULL, *source = "tasks", *dur = "full";
    long batch = 1, count = 0;
    double seconds = 10;
    unsigned long long seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--db") == 0) {
            path = argv[i + 1];
        } else if (strcmp(argv[i], "--source") == 0) {
            source = argv[i + 1];
        } else if (strcmp(argv[i], "--batch") == 0) {
            batch = strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--count") == 0) {
            count = strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--seconds") == 0) {
            seconds = strtod(argv[i + 1], NULL);
        } else if (strcmp(argv[i], "--durability") == 0) {
            dur = argv[i + 1];
        } else if (strcmp(argv[i], "--seed") == 0) {
            seed = strtoull(argv[i + 1], NULL, 10);
        } else {
            path = NULL;
            break;
        }
    }
    int clinic = strcmp(source, "clinic") == 0;
    int full = strcmp(dur, "full") == 0;
    if (path == NULL || batch < 1 || batch > 100000 || count < 0 ||
        seconds <= 0 || (!clinic && strcmp(source, "tasks") != 0) ||
        (!full && strcmp(dur, "normal") != 0)) {
        fprintf(stderr, "usage: limit_sql --db FILE [--source tasks|clinic] "
                        "[--batch N] [--count N] [--seconds S] "
                        "[--durability full|normal] [--seed S]\n");
        return 2;
    }
    if (clinic && count == 0) {
        count = 20 * batch; /* ingest.sh's 20 Bundles */
    }
    const char *defs = getenv("FHIR_DEFINITIONS") ? getenv("FHIR_DEFINITIONS")
                                                  : "profiles/definitions";
    search_registry *reg = NULL;
    fhir_err err = FHIR_ERR_INIT;
    static struct build b;
    sqlite3 *db = NULL;
    sqlite3_stmt *st[S_COUNT] = {NULL};
    static struct ckpt ck;
    double *lat = NULL;
    int rc = 1;
    if (search_registry_load(&reg, defs, &err) != 0) {
        fprintf(stderr, "limit_sql: %s\n", err.diag);
        return 1;
    }
    char side[4096];
    remove(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    remove(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    remove(side);
    if (make_schema(path, full, reg) != 0) {
        goto done;
    }

    /* Untimed: bodies and rows, token systems in sysdict. */
    double t0 = bench_now();
    b.a = fhir_arena_new();
    b.reg = reg;
    b.want = count;
    b.us = fhir_now_us();
    if (sqlite3_open(path, &b.db) != SQLITE_OK ||
        sqlite3_exec(b.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        (clinic ? build_clinic(&b, seed, (int)batch) : build_tasks(&b)) != 0 ||
        sqlite3_exec(b.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "limit_sql: building the rows failed\n");
        goto done;
    }
    sqlite3_close(b.db);
    b.db = NULL;
    size_t nrows = 0, nbytes = 0;
    for (size_t i = 0; i < b.n; i++) {
        nrows += b.v[i].nrows;
        nbytes += b.v[i].len;
    }
    double built = bench_now() - t0;

    /* The writer connection as store__conn_open() makes it. */
    char pragmas[256];
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA synchronous = %s; PRAGMA foreign_keys = OFF;"
             "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16000;",
             full ? "FULL" : "NORMAL");
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) !=
            SQLITE_OK) {
        fprintf(stderr, "limit_sql: %s\n", sqlite3_errmsg(db));
        goto done;
    }
    sqlite3_busy_timeout(db, 5000);
    for (int i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &st[i], NULL) != SQLITE_OK) {
            fprintf(stderr, "limit_sql: %s\n", sqlite3_errmsg(db));
            goto done;
        }
    }
    if (sqlite3_open_v2(path, &ck.db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        goto done;
    }
    sqlite3_busy_timeout(ck.db, 5000);
    sqlite3_exec(ck.db,
                 full ? "PRAGMA synchronous = FULL"
                      : "PRAGMA synchronous = NORMAL",
                 NULL, NULL, NULL);
    pthread_mutex_init(&ck.mu, NULL);
    pthread_mutex_init(&ck.wlock, NULL);
    pthread_cond_init(&ck.cv, NULL);
    pthread_create(&ck.thread, NULL, ckpt_run, &ck);
    sqlite3_wal_hook(db, wal_hook, &ck);

    /* Timed: the inserts, `batch` resources per transaction. */
    lat = malloc(sizeof(double) * MAX_SAMPLES);
    long done_n = 0, ntx = 0, limit = count > 0 ? count : -1;
    int64_t hid = fhir_now_us();
    char id[72];
    double start = bench_now(), end = start + seconds, now = start;
    while (now < end && (limit < 0 || done_n < limit)) {
        double tx0 = now;
        pthread_mutex_lock(&ck.wlock);
        if (run1(st[S_BEGIN]) != 0) {
            pthread_mutex_unlock(&ck.wlock);
            fprintf(stderr, "limit_sql: begin: %s\n", sqlite3_errmsg(db));
            goto done;
        }
        for (long k = 0; k < batch && (limit < 0 || done_n < limit); k++) {
            const struct res *r = &b.v[(size_t)done_n % b.n];
            /* A template's id: unique, written over the stamped one in
             * its body too. */
            if (r->id[0] == '\0') {
                snprintf(id, sizeof(id), "raw-%09ld", done_n);
                memcpy(r->body + r->idoff, id, strlen(TEMPLATE_ID));
            }
            if (insert(db, st, r, r->id[0] ? r->id : id, hid++) != 0) {
                pthread_mutex_unlock(&ck.wlock);
                fprintf(stderr, "limit_sql: insert: %s\n", sqlite3_errmsg(db));
                goto done;
            }
            done_n++;
        }
        if (run1(st[S_COMMIT]) != 0) {
            pthread_mutex_unlock(&ck.wlock);
            fprintf(stderr, "limit_sql: commit: %s\n", sqlite3_errmsg(db));
            goto done;
        }
        pthread_mutex_unlock(&ck.wlock);
        now = bench_now();
        if (ntx < MAX_SAMPLES) {
            lat[ntx++] = (now - tx0) * 1000.0;
        }
    }
    double elapsed = now - start;
    bench_lat_sort(lat, ntx);
    printf("source=%s batch=%ld durability=%s resources=%ld tx=%ld "
           "seconds=%.2f rps=%.0f rows_per_res=%.1f body_bytes=%.0f "
           "tx_p50_ms=%.2f tx_p99_ms=%.2f built_s=%.1f\n",
           source, batch, dur, done_n, ntx, elapsed, (double)done_n / elapsed,
           (double)nrows / (double)b.n, (double)nbytes / (double)b.n,
           bench_pct(lat, ntx, 0.5), bench_pct(lat, ntx, 0.99), built);
    rc = 0;
done:
    if (ck.db != NULL) {
        sqlite3_wal_hook(db, NULL, NULL);
        pthread_mutex_lock(&ck.mu);
        ck.stop = 1;
        pthread_cond_signal(&ck.cv);
        pthread_mutex_unlock(&ck.mu);
        pthread_join(ck.thread, NULL);
        sqlite3_close(ck.db);
    }
    for (int i = 0; i < S_COUNT; i++) {
        sqlite3_finalize(st[i]);
    }
    sqlite3_close(db);
    sqlite3_close(b.db);
    for (size_t i = 0; i < b.n; i++) {
        free(b.v[i].body);
    }
    free(b.v);
    for (int k = 0; k < CLINIC_NKIND; k++) {
        free(b.ids[k]);
    }
    free(lat);
    fhir_arena_free(b.a);
    search_registry_free(reg);
    return rc;
}
