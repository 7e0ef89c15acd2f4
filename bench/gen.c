/* bench/gen.c - generates the clinic the search benchmark runs against.
 *
 *   gen --db FILE --tasks N [--seed S] [--urls FILE]
 *
 * Writes, through srv_bulk_* (each resource checked and indexed as a
 * create is, 10000 per transaction), into a new database the clinic of
 * bench/clinic.c: 500 Practitioners (8 SNOMED roles), N/20 Patients,
 * about N/10 ServiceRequests and exactly N Tasks. Each ServiceRequest gets
 * a small workflow of Tasks (1-19, 10 on average): a root with children
 * and grandchildren (partOf), all focused on the request, for its
 * patient. authoredOn runs over two years in creation order. Statuses,
 * business statuses, performer types, owners (20% unassigned) and
 * priorities are skewed as in a clinic: most work is completed, a little
 * is requested or ready; awaiting-callback only occurs on active work.
 * Among the N Tasks are also NTREES care programmes of TREE_TASKS Tasks
 * each (clinic_tree(): partOf trees 5 or more levels deep, spread evenly
 * through the data; one per TREE_TASKS * 10 Tasks when N is smaller),
 * for `_revinclude:iterate=Task:part-of`. Everything comes from one seeded
 * generator, so a seed gives the same data every time (bench/ingest.c
 * posts the same clinic as transaction Bundles, without the trees).
 *
 * --urls writes the benchmark's search paths, one "label<TAB>path" a
 * line, with ids drawn from the generated data, and for some labels a
 * line "#expect<TAB>label<TAB>entries=LO-HI total=T": what every answer
 * must hold (entries with a fullUrl, and Bundle.total when the server
 * gives one), known from the data; loadgen skips '#' lines, search.sh
 * checks them. stdout gets one line of key=value results (load time,
 * rate, database and JSON bytes); progress and the data's shape go to
 * stderr. Definitions are read from
 * $FHIR_DEFINITIONS, default profiles/definitions (run from the repo).
 */
#include "server/server.h"
#include "bench/bench_util.h"
#include "bench/clinic.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BATCH 10000
#define NX 64           /* different ids per parameterised query */
#define NTREES 8        /* care programmes of TREE_TASKS Tasks each */
#define TREE_TASKS 1000 /* the tree size */

/* ---- the load --------------------------------------------------------- */

struct gen {
    srv_bulk *bulk;
    struct clinic c;
    long nres;
    double t0;
    unsigned char *requested; /* per Patient number: has a requested Task */
    long npat_requested;      /* how many do */
};

/* Notes the Patient of a requested Task, for the _has query's expected
 * result. */
static void
note_requested(struct gen *g, const cJSON *task)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(task, "status");
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(task, "for"), "reference");
    if (!cJSON_IsString(st) || strcmp(st->valuestring, "requested") != 0 ||
        !cJSON_IsString(pat) || strrchr(pat->valuestring, '-') == NULL) {
        return;
    }
    long num = strtol(strrchr(pat->valuestring, '-') + 1, NULL, 10);
    if (num >= 1 && num <= g->c.npat && !g->requested[num]) {
        g->requested[num] = 1;
        g->npat_requested++;
    }
}

/* clinic_emit_fn: each resource goes to the database. */
static int
emit(void *ud, struct clinic *c, int kind, long num, const char *json,
     size_t len)
{
    struct gen *g = ud;
    fhir_err err = FHIR_ERR_INIT;
    cJSON *res = cJSON_ParseWithLength(json, len);
    (void)num;
    if (res == NULL) {
        fprintf(stderr, "gen: bad JSON built: %.200s\n", json);
        return -1;
    }
    if (kind == CLINIC_TASK) {
        note_requested(g, res);
    }
    int rc = srv_bulk_put(g->bulk, res, &err);
    cJSON_Delete(res);
    if (rc != 0) {
        fprintf(stderr, "gen: %s\n  in %.300s\n", err.diag, json);
        return -1;
    }
    g->nres++;
    if (g->nres % 100000 == 0) {
        double dt = bench_now() - g->t0;
        fprintf(stderr, "gen: %ld resources (%ld Tasks) in %.0f s, %.0f/s\n",
                g->nres, c->ntask, dt, (double)g->nres / dt);
    }
    return 0;
}

/* ---- the benchmark's searches ---------------------------------------- */

#define SCT "http%3A%2F%2Fsnomed.info%2Fsct%7C"

static const char tree_q[] = "Task?_id=ROOT&_revinclude:iterate=Task:part-of";
static const char include_q[] = "Task?status=requested&_include=Task:owner&"
                                "_include=Task:patient&_count=50";
static const char has_q[] =
    "Patient?_has:Task:patient:status=requested&_count=20";

/* What every answer to `label` holds: lo..hi entries, and `total`. */
static void
expect(FILE *f, const char *label, long lo, long hi, long total)
{
    fprintf(f, "#expect\t%s\tentries=%ld-%ld total=%ld\n", label, lo, hi,
            total);
}

static int
write_urls(const struct gen *gen, const char *path)
{
    const struct clinic *g = &gen->c;
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    fputs("Task?status=requested&performer=http://snomed.info/"
          "sct|224535009&_sort=-priority,authored-on&_count=20\t"
          "Task?status=requested&performer=" SCT
          "224535009&_sort=-priority,authored-on&_count=20\n",
          f);
    fputs("Task?business-status=awaiting-callback&_summary=count\t"
          "Task?business-status=awaiting-callback&_summary=count\n",
          f);
    for (int i = 0; i < NX; i++) {
        int o = (int)((long)i * CLINIC_NPRAC / NX + 3) % CLINIC_NPRAC;
        fprintf(f,
                "Task?owner=Practitioner/X&status:not=completed&_sort=-_"
                "lastUpdated\tTask?owner=Practitioner/prac-%03d&status:not="
                "completed&_sort=-_lastUpdated\n",
                o);
    }
    fputs("Task?owner:missing=true&status=ready\t"
          "Task?owner:missing=true&status=ready\n",
          f);
    for (size_t i = 0; i < NX && g->nroots > 0; i++) {
        size_t k = (i * g->nroots / NX + g->nroots / (2 * NX)) % g->nroots;
        fprintf(f, "Task?part-of=Task/X\tTask?part-of=Task/task-%07u\n",
                (unsigned)g->roots[k]);
    }
    for (long i = 0; i < NX; i++) {
        long sr = 1 + (i * g->nsr / NX + g->nsr / (2 * NX)) % g->nsr;
        fprintf(f,
                "Task?focus=ServiceRequest/X\tTask?focus=ServiceRequest/"
                "sr-%07ld\n",
                sr);
    }
    /* Matching nothing: awaiting-callback is only ever on active work,
     * and these owners have no drafts. */
    fputs("Task?status=completed&business-status=awaiting-callback\t"
          "Task?status=completed&business-status=awaiting-callback\n",
          f);
    int none[CLINIC_NPRAC], nnone = 0;
    for (int o = 0; o < CLINIC_NPRAC; o++) {
        if (g->owner_drafts[o] == 0) {
            none[nnone++] = o;
        }
    }
    for (int i = 0; i < NX && nnone > 0; i++) {
        fprintf(f,
                "Task?owner=Practitioner/X&status=draft\tTask?owner="
                "Practitioner/prac-%03d&status=draft\n",
                none[(i * nnone / NX + 1) % nnone]);
    }

    /* The include and _has queries. A tree answers its root (total 1)
     * and every Task under it. */
    for (int i = 0; i < g->ntrees; i++) {
        fprintf(f, "%s\tTask?_id=task-%07ld&_revinclude:iterate=Task:part-of\n",
                tree_q, g->tree_root[i]);
    }
    if (g->ntrees > 0) {
        expect(f, tree_q, TREE_TASKS, TREE_TASKS, 1);
    }
    /* The first 50 requested Tasks, each including its Patient and,
     * unless it is unassigned, its owner (each resource once): one
     * include at least, two per Task at most. */
    long req = 0;
    for (int i = 0; i < CLINIC_NSTATUS; i++) {
        if (strcmp(clinic_status_code[i], "requested") == 0) {
            req = g->status_n[i];
        }
    }
    long m = req < 50 ? req : 50;
    fprintf(f, "%s\t%s\n", include_q, include_q);
    expect(f, include_q, m + (m > 0), 3 * m, req);
    long p = gen->npat_requested;
    fprintf(f, "%s\t%s\n", has_q, has_q);
    expect(f, has_q, p < 20 ? p : 20, p < 20 ? p : 20, p);
    return fclose(f) == 0 ? 0 : -1;
}

static long long
file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static long long
json_bytes(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT sum(length(body)) FROM history", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

int
main(int argc, char **argv)
{
    const char *db = NULL, *urls = NULL;
    long ntasks = 0;
    unsigned long long seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--db") == 0) {
            db = argv[i + 1];
        } else if (strcmp(argv[i], "--tasks") == 0) {
            ntasks = strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--seed") == 0) {
            seed = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--urls") == 0) {
            urls = argv[i + 1];
        } else {
            db = NULL;
            break;
        }
    }
    if (db == NULL || ntasks < 1 || ntasks > 100000000) {
        fprintf(stderr, "usage: gen --db FILE --tasks N [--seed S] "
                        "[--urls FILE]\n");
        return 2;
    }
    if (file_size(db) > 0) {
        fprintf(stderr, "gen: %s exists; give a new file\n", db);
        return 2;
    }
    srv_config cfg;
    srv_config_init(&cfg);
    cfg.db_path = db;
    cfg.quiet = 1;
    cfg.durability_full = 0;
    cfg.definitions = getenv("FHIR_DEFINITIONS") ? getenv("FHIR_DEFINITIONS")
                                                 : "profiles/definitions";
    fhir_err err = FHIR_ERR_INIT;
    static struct gen g;
    if (srv_bulk_open(&g.bulk, &cfg, BATCH, &err) != 0) {
        fprintf(stderr, "gen: %s\n", err.diag);
        return 1;
    }
    g.t0 = bench_now();
    struct clinic *c = &g.c;
    long ntrees = ntasks / (10 * TREE_TASKS);
    ntrees = ntrees < NTREES ? ntrees : NTREES;
    clinic_init(c, seed, ntasks - ntrees * TREE_TASKS, emit, &g);
    if (clinic_practitioners(c) != 0) {
        goto fail;
    }
    long npat = ntasks / 20 > 0 ? ntasks / 20 : 1;
    g.requested = calloc((size_t)npat + 1, 1);
    if (g.requested == NULL) {
        goto fail;
    }
    while (c->npat < npat) {
        if (clinic_patient(c) != 0) {
            goto fail;
        }
    }
    /* Workflows, and tree k once (2k + 1) / (2 ntrees) of the Tasks are
     * made; workflows leave room for the trees still to come. */
    while (c->ntask < ntasks) {
        long todo = ntrees - c->ntrees;
        long room = ntasks - c->ntask - todo * TREE_TASKS;
        int tree = 0;
        if (todo > 0) {
            long due = (2 * c->ntrees + 1) * ntasks / (2 * ntrees);
            tree = room == 0 || c->ntask >= due;
        }
        int rc = tree ? clinic_tree(c, 1, npat, TREE_TASKS)
                      : clinic_order(c, 1, npat, room);
        if (rc != 0) {
            goto fail;
        }
    }
    if (srv_bulk_close(g.bulk, &err) != 0) {
        fprintf(stderr, "gen: %s\n", err.diag);
        return 1;
    }
    double secs = bench_now() - g.t0;
    if (urls != NULL && write_urls(&g, urls) != 0) {
        clinic_clear(c);
        free(g.requested);
        return 1;
    }

    fprintf(stderr, "gen: Task status:");
    for (int i = 0; i < CLINIC_NSTATUS; i++) {
        fprintf(stderr, " %s=%ld", clinic_status_code[i], c->status_n[i]);
    }
    fprintf(stderr, "\ngen: businessStatus:");
    for (int i = 0; i < CLINIC_NBS; i++) {
        fprintf(stderr, " %s=%ld", clinic_bs_code[i], c->bs_n[i]);
    }
    fprintf(stderr, "\ngen: performerType:");
    for (int i = 0; i < CLINIC_NROLE; i++) {
        fprintf(stderr, " %s=%ld", clinic_role_code[i], c->role_n[i]);
    }
    fprintf(stderr,
            "\ngen: unassigned=%ld (%.1f%%), part-of roots with 2+ "
            "children=%zu\n",
            c->unassigned, 100.0 * (double)c->unassigned / (double)c->ntask,
            c->nroots);
    for (int i = 0; i < c->ntrees; i++) {
        fprintf(stderr, "%s task-%07ld (%d)",
                i == 0 ? "gen: tree roots (levels below them):" : "",
                c->tree_root[i], c->tree_depth[i]);
    }
    fprintf(stderr, "%sgen: Patients with a requested Task: %ld\n",
            c->ntrees > 0 ? "\n" : "", g.npat_requested);

    char wal[4096];
    snprintf(wal, sizeof(wal), "%s-wal", db);
    long long dbb = file_size(db) + file_size(wal);
    long long jb = json_bytes(db);
    printf("resources=%ld tasks=%ld patients=%ld servicerequests=%ld "
           "practitioners=%d trees=%d load_s=%.1f rps=%.0f db_bytes=%lld "
           "json_bytes=%lld ratio=%.2f\n",
           g.nres, c->ntask, c->npat, c->nsr, CLINIC_NPRAC, c->ntrees, secs,
           (double)g.nres / secs, dbb, jb,
           jb > 0 ? (double)dbb / (double)jb : 0.0);
    clinic_clear(c);
    free(g.requested);
    return 0;
fail:
    if (srv_bulk_close(g.bulk, &err) != 0) {
        fprintf(stderr, "gen: %s\n", err.diag);
    }
    clinic_clear(&g.c);
    free(g.requested);
    return 1;
}
