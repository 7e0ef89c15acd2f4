/* bench/search_sql.c - the search limit of `make bench`: each query of the
 * search benchmark written by hand as the SQL a person would choose for
 * it on the server's own schema, timed in-process on the same database
 * file, so a search's p99 can be read as a multiple of the best SQL's.
 *
 * The server plans a search from the URL alone; these statements know the
 * data (bench/gen.c's clinic) and pick for each query the order a human
 * would: drive from the most selective index (idx_token_q, idx_ref_q with
 * the token system fixed so rows come in rid order and LIMIT stops early),
 * check the other conditions on the candidate's primary-key rows, sort
 * only the rids and sort keys and fetch bodies for the page alone. Each
 * returns what the server's answer holds: the page's bodies (20, or 50
 * for the include query, plus the one more that tells a next page
 * exists), the included resources, the tree, or the count. Not done here:
 * Bundle.total for the queries that are not _summary=count (the server
 * may take it from its counts or its in-memory sets), JSON, HTTP.
 *
 *   search_sql --db FILE --urls URLS [--seconds 3] [--warmup 0.5]
 *              [--plans 1]
 *
 * URLS is gen's file (bench/search.sh): "label<TAB>path" lines. For each
 * label, in file order, its statement runs one thread for --seconds after
 * --warmup untimed, taking the label's paths in turn: the value standing
 * for X or ROOT in the label is read from the path and bound. The
 * database is opened read-only with the server's reader pragmas. Prints
 * one key=value line per label: requests, p50/p99 in ms, mean rows
 * returned; "sql=none" for a label this file has no statement for.
 * --plans 1 also shows SQLite's plan of each on stderr (to check that a
 * statement still runs in the order it was written for).
 */
#include "bench/bench_util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_URLS 4096
#define MAX_SAMPLES 2000000

/* One query of gen.c's write_urls(): its label, the text in its paths
 * just before the value X stands for (NULL: none), and its SQL. */
struct query {
    const char *label;
    const char *before_x;
    const char *sql;
};

/* Named parameters bound from the database: parameter numbers (:status
 * is Task-status's sparam.num), type codes, token systems. */
static const struct {
    const char *name, *sql, *arg;
} consts[] = {
    {":status", "SELECT num FROM sparam WHERE key = ?1", "Task-status"},
    {":bstatus", "SELECT num FROM sparam WHERE key = ?1",
     "Task-business-status"},
    {":performer", "SELECT num FROM sparam WHERE key = ?1", "Task-performer"},
    {":priority", "SELECT num FROM sparam WHERE key = ?1", "Task-priority"},
    {":authored", "SELECT num FROM sparam WHERE key = ?1", "Task-authored-on"},
    {":owner", "SELECT num FROM sparam WHERE key = ?1", "Task-owner"},
    {":partof", "SELECT num FROM sparam WHERE key = ?1", "Task-part-of"},
    {":focus", "SELECT num FROM sparam WHERE key = ?1", "Task-focus"},
    {":tpatient", "SELECT num FROM sparam WHERE key = ?1", "Task-patient"},
    {":task", "SELECT code FROM rtype WHERE name = ?1", "Task"},
    {":patient", "SELECT code FROM rtype WHERE name = ?1", "Patient"},
    {":nosys", "SELECT id FROM sysdict WHERE uri = ?1", ""},
    {":sct", "SELECT id FROM sysdict WHERE uri = ?1", "http://snomed.info/sct"},
    {":bssys", "SELECT id FROM sysdict WHERE uri = ?1",
     "http://clinic.example.org/CodeSystem/task-business-status"},
};
#define NCONSTS (sizeof(consts) / sizeof(consts[0]))

/* The page of a sorted search: rids and sort keys first, bodies for the
 * page only. */
static const struct query queries[] = {
    {"Task?status=requested&performer=http://snomed.info/"
     "sct|224535009&_sort=-priority,authored-on&_count=20",
     NULL,
     "SELECT h.body FROM (SELECT s.rid AS rid, "
     " (SELECT CASE p.code WHEN 'stat' THEN 4 WHEN 'asap' THEN 3 "
     "  WHEN 'urgent' THEN 2 WHEN 'routine' THEN 1 END FROM idx_token p "
     "  WHERE p.rid = s.rid AND p.param = :priority) AS rank, "
     " (SELECT min(d.lo) FROM idx_date d "
     "  WHERE d.rid = s.rid AND d.param = :authored) AS authored "
     " FROM idx_token s WHERE s.param = :status AND s.sys = :nosys "
     " AND s.code = 'requested' AND EXISTS (SELECT 1 FROM idx_token f "
     "  WHERE f.rid = s.rid AND f.param = :performer AND f.sys = :sct "
     "  AND f.code = '224535009') "
     " ORDER BY rank DESC, authored ASC LIMIT 21) AS page "
     "JOIN resource r ON r.rid = page.rid JOIN history h ON h.hid = r.hid "
     "ORDER BY page.rank DESC, page.authored ASC"},
    {"Task?business-status=awaiting-callback&_summary=count", NULL,
     "SELECT count(*) FROM idx_token WHERE param = :bstatus "
     "AND code = 'awaiting-callback'"},
    {"Task?owner=Practitioner/X&status:not=completed&_sort=-_lastUpdated",
     "owner=Practitioner/",
     "SELECT h.body FROM (SELECT r.hid AS hid FROM idx_ref o "
     " JOIN resource r ON r.rid = o.rid "
     " WHERE o.param = :owner AND o.ref = 'Practitioner/' || :x "
     " AND NOT EXISTS (SELECT 1 FROM idx_token s WHERE s.rid = o.rid "
     "  AND s.param = :status AND s.sys = :nosys AND s.code = 'completed') "
     " ORDER BY r.hid DESC LIMIT 21) AS page "
     "JOIN history h ON h.hid = page.hid ORDER BY page.hid DESC"},
    {"Task?owner:missing=true&status=ready", NULL,
     "SELECT h.body FROM idx_token s JOIN resource r ON r.rid = s.rid "
     "JOIN history h ON h.hid = r.hid WHERE s.param = :status "
     "AND s.sys = :nosys AND s.code = 'ready' AND NOT EXISTS (SELECT 1 "
     " FROM idx_ref o WHERE o.rid = s.rid AND o.param = :owner) "
     "ORDER BY s.rid LIMIT 21"},
    {"Task?part-of=Task/X", "part-of=Task/",
     "SELECT h.body FROM idx_ref p JOIN resource r ON r.rid = p.rid "
     "JOIN history h ON h.hid = r.hid WHERE p.param = :partof "
     "AND p.ref = 'Task/' || :x ORDER BY p.rid LIMIT 21"},
    {"Task?focus=ServiceRequest/X", "focus=ServiceRequest/",
     "SELECT h.body FROM idx_ref p JOIN resource r ON r.rid = p.rid "
     "JOIN history h ON h.hid = r.hid WHERE p.param = :focus "
     "AND p.ref = 'ServiceRequest/' || :x ORDER BY p.rid LIMIT 21"},
    {"Task?status=completed&business-status=awaiting-callback", NULL,
     "SELECT h.body FROM idx_token b JOIN resource r ON r.rid = b.rid "
     "JOIN history h ON h.hid = r.hid WHERE b.param = :bstatus "
     "AND b.sys = :bssys AND b.code = 'awaiting-callback' "
     "AND EXISTS (SELECT 1 FROM idx_token s WHERE s.rid = b.rid "
     " AND s.param = :status AND s.sys = :nosys AND s.code = 'completed') "
     "ORDER BY b.rid LIMIT 21"},
    {"Task?owner=Practitioner/X&status=draft", "owner=Practitioner/",
     "SELECT h.body FROM idx_ref o JOIN resource r ON r.rid = o.rid "
     "JOIN history h ON h.hid = r.hid WHERE o.param = :owner "
     "AND o.ref = 'Practitioner/' || :x AND EXISTS (SELECT 1 FROM "
     " idx_token s WHERE s.rid = o.rid AND s.param = :status "
     " AND s.sys = :nosys AND s.code = 'draft') "
     "ORDER BY o.rid LIMIT 21"},
    /* The root and every Task below it, level by level. */
    {"Task?_id=ROOT&_revinclude:iterate=Task:part-of", "_id=",
     "WITH RECURSIVE t(rid, ref) AS ("
     " SELECT rid, 'Task/' || id FROM resource WHERE type = :task "
     " AND id = :x AND deleted = 0 UNION ALL "
     " SELECT r.rid, 'Task/' || r.id FROM t CROSS JOIN idx_ref p "
     " ON p.param = :partof AND p.ref = t.ref "
     " CROSS JOIN resource r ON r.rid = p.rid) "
     "SELECT h.body FROM t JOIN resource r ON r.rid = t.rid "
     "JOIN history h ON h.hid = r.hid"},
    /* 50 requested Tasks, then each owner and patient they name, once. */
    {"Task?status=requested&_include=Task:owner&_include=Task:patient&_"
     "count=50",
     NULL,
     "WITH page AS (SELECT s.rid FROM idx_token s WHERE s.param = :status "
     " AND s.sys = :nosys AND s.code = 'requested' ORDER BY s.rid LIMIT 51), "
     "refs AS (SELECT DISTINCT x.ref FROM (SELECT rid FROM page LIMIT 50) pg "
     " JOIN idx_ref x ON x.rid = pg.rid AND x.param IN (:owner, :tpatient)) "
     "SELECT h.body FROM page JOIN resource r ON r.rid = page.rid "
     "JOIN history h ON h.hid = r.hid UNION ALL "
     "SELECT h.body FROM refs JOIN rtype t "
     " ON t.name = substr(refs.ref, 1, instr(refs.ref, '/') - 1) "
     "JOIN resource r ON r.type = t.code "
     " AND r.id = substr(refs.ref, instr(refs.ref, '/') + 1) "
     "JOIN history h ON h.hid = r.hid WHERE r.deleted = 0"},
    /* Patients in rid order, each kept when a requested Task names it. */
    {"Patient?_has:Task:patient:status=requested&_count=20", NULL,
     "SELECT h.body FROM resource p JOIN history h ON h.hid = p.hid "
     "WHERE p.type = :patient AND p.deleted = 0 AND EXISTS (SELECT 1 "
     " FROM idx_ref x CROSS JOIN idx_token s ON s.rid = x.rid "
     " AND s.param = :status AND s.sys = :nosys AND s.code = 'requested' "
     " WHERE x.param = :tpatient AND x.ref = 'Patient/' || p.id) "
     "ORDER BY p.rid LIMIT 21"},
};
#define NQUERIES (sizeof(queries) / sizeof(queries[0]))

static struct {
    char *label[MAX_URLS], *path[MAX_URLS];
    int n;
} urls;

static int
read_urls(const char *file)
{
    FILE *f = fopen(file, "r");
    char line[2048];
    if (f == NULL) {
        perror(file);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL && urls.n < MAX_URLS) {
        line[strcspn(line, "\r\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || tab == NULL) {
            continue;
        }
        *tab = '\0';
        urls.label[urls.n] = strdup(line);
        urls.path[urls.n] = strdup(tab + 1);
        urls.n++;
    }
    fclose(f);
    return urls.n > 0 ? 0 : -1;
}

/* The value after `before` in path, up to '&', into out. */
static void
value_of(char *out, size_t cap, const char *path, const char *before)
{
    const char *p = strstr(path, before);
    out[0] = '\0';
    if (p != NULL) {
        p += strlen(before);
        size_t n = strcspn(p, "&");
        snprintf(out, cap, "%.*s", (int)n, p);
    }
}

/* Binds every constant named in st. */
static int
bind_consts(sqlite3 *db, sqlite3_stmt *st)
{
    for (size_t i = 0; i < NCONSTS; i++) {
        int at = sqlite3_bind_parameter_index(st, consts[i].name);
        sqlite3_stmt *q = NULL;
        if (at == 0) {
            continue;
        }
        if (sqlite3_prepare_v2(db, consts[i].sql, -1, &q, NULL) != SQLITE_OK) {
            return -1;
        }
        sqlite3_bind_text(q, 1, consts[i].arg, -1, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            sqlite3_bind_int64(st, at, sqlite3_column_int64(q, 0));
        }
        sqlite3_finalize(q);
        if (rc != SQLITE_ROW) {
            fprintf(stderr, "search_sql: no %s in the database\n",
                    consts[i].name);
            return -1;
        }
    }
    return 0;
}

/* Runs st once with :x = x; the rows it returned, -1 on an error. Every
 * body is read (its bytes touched) as the server would copy it. */
/* Shows the plan of sql on stderr. */
static void
show_plan(sqlite3 *db, const char *label, const char *sql, const char *x)
{
    char *text = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, text, -1, &st, NULL) == SQLITE_OK &&
        bind_consts(db, st) == 0) {
        int at = sqlite3_bind_parameter_index(st, ":x");
        if (at > 0) {
            sqlite3_bind_text(st, at, x, -1, SQLITE_TRANSIENT);
        }
        fprintf(stderr, "%s\n", label);
        while (sqlite3_step(st) == SQLITE_ROW) {
            fprintf(stderr, "  %3d %3d %s\n", sqlite3_column_int(st, 0),
                    sqlite3_column_int(st, 1), sqlite3_column_text(st, 3));
        }
    }
    sqlite3_finalize(st);
    sqlite3_free(text);
}

static volatile unsigned sink; /* the bytes read stay read */

static long
run_once(sqlite3_stmt *st, const char *x)
{
    long rows = 0;
    int rc, at = sqlite3_bind_parameter_index(st, ":x");
    if (at > 0) {
        sqlite3_bind_text(st, at, x, -1, SQLITE_TRANSIENT);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *b = sqlite3_column_blob(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        sink += n > 0 ? b[n - 1] : 0;
        rows++;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? rows : -1;
}

int
main(int argc, char **argv)
{
    const char *path = NULL, *file = NULL;
    double seconds = 3, warmup = 0.5;
    int plans = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--db") == 0) {
            path = argv[i + 1];
        } else if (strcmp(argv[i], "--urls") == 0) {
            file = argv[i + 1];
        } else if (strcmp(argv[i], "--seconds") == 0) {
            seconds = strtod(argv[i + 1], NULL);
        } else if (strcmp(argv[i], "--warmup") == 0) {
            warmup = strtod(argv[i + 1], NULL);
        } else if (strcmp(argv[i], "--plans") == 0) {
            plans = strcmp(argv[i + 1], "0") != 0;
        }
    }
    if (path == NULL || file == NULL || seconds <= 0 || warmup < 0) {
        fprintf(stderr, "usage: search_sql --db FILE --urls URLS "
                        "[--seconds S] [--warmup S]\n");
        return 2;
    }
    if (read_urls(file) != 0) {
        fprintf(stderr, "search_sql: no paths in %s\n", file);
        return 2;
    }
    sqlite3 *db = NULL;
    /* store__conn_open()'s reader pragmas. */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA foreign_keys = OFF; PRAGMA temp_store = MEMORY",
                     NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "search_sql: %s: %s\n", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return 1;
    }
    double *lat = malloc(sizeof(double) * MAX_SAMPLES);
    int failed = 0;
    for (int g = 0; g < urls.n; g++) {
        int first = 1;
        for (int k = 0; k < g && first; k++) {
            first = strcmp(urls.label[k], urls.label[g]) != 0;
        }
        if (!first) {
            continue;
        }
        const struct query *q = NULL;
        for (size_t i = 0; i < NQUERIES && q == NULL; i++) {
            if (strcmp(queries[i].label, urls.label[g]) == 0) {
                q = &queries[i];
            }
        }
        if (q == NULL) {
            printf("sql=none label=%s\n", urls.label[g]);
            continue;
        }
        /* This label's values of X, in file order. */
        static char xs[MAX_URLS][128];
        int nx = 0;
        for (int k = g; k < urls.n; k++) {
            if (strcmp(urls.label[k], urls.label[g]) == 0) {
                value_of(xs[nx++], sizeof(xs[0]), urls.path[k],
                         q->before_x ? q->before_x : "\n");
            }
        }
        if (plans) {
            show_plan(db, urls.label[g], q->sql, xs[0]);
        }
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v3(db, q->sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
                               NULL) != SQLITE_OK ||
            bind_consts(db, st) != 0) {
            fprintf(stderr, "search_sql: %s: %s\n", urls.label[g],
                    sqlite3_errmsg(db));
            sqlite3_finalize(st);
            printf("sql=error label=%s\n", urls.label[g]);
            failed = 1;
            continue;
        }
        long n = 0, rows = 0, errors = 0;
        int next = 0;
        double t = bench_now(), wend = t + warmup;
        while (bench_now() < wend) {
            (void)run_once(st, xs[next++ % nx]);
        }
        double start = bench_now(), end = start + seconds;
        do {
            double t0 = bench_now();
            long got = run_once(st, xs[next++ % nx]);
            t = bench_now();
            if (got < 0) {
                errors++;
                break;
            }
            rows += got;
            if (n < MAX_SAMPLES) {
                lat[n++] = (t - t0) * 1000.0;
            }
        } while (t < end);
        bench_lat_sort(lat, n);
        printf("sql=ok requests=%ld errors=%ld seconds=%.2f p50_ms=%.3f "
               "p99_ms=%.3f rows=%.1f label=%s\n",
               n, errors, t - start, bench_pct(lat, n, 0.5),
               bench_pct(lat, n, 0.99), n ? (double)rows / (double)n : 0.0,
               urls.label[g]);
        fflush(stdout);
        failed |= errors > 0;
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    free(lat);
    for (int i = 0; i < urls.n; i++) {
        free(urls.label[i]);
        free(urls.path[i]);
    }
    return failed;
}
