/* bench/gen.c - generates the clinic the search benchmark runs against.
 *
 *   gen --db FILE --tasks N [--seed S] [--urls FILE]
 *
 * Writes, through srv_bulk_* (each resource checked and indexed as a
 * create is, 10000 per transaction), into a new database:
 * 500 Practitioners (8 SNOMED roles), N/20 Patients, about N/10
 * ServiceRequests and exactly N Tasks. Each ServiceRequest gets a small
 * workflow of Tasks (1-19, 10 on average): a root with children and
 * grandchildren (partOf), all focused on the request, for its patient.
 * authoredOn runs over two years in creation order. Statuses, business
 * statuses, performer types, owners (20% unassigned) and priorities are
 * skewed as in a clinic: most work is completed, a little is requested or
 * ready; awaiting-callback only occurs on active work. Everything comes
 * from one seeded generator, so a seed gives the same data every time.
 *
 * --urls writes the benchmark's search paths, one "label<TAB>path" a
 * line, with ids drawn from the generated data. stdout gets one line of
 * key=value results (load time, rate, database and JSON bytes); progress
 * and the data's shape go to stderr. Definitions are read from
 * $FHIR_DEFINITIONS, default profiles/definitions (run from the repo).
 */
#include "server/server.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define NPRAC 500
#define BATCH 10000
#define NX 64 /* different ids per parameterised query */

/* ---- randomness ------------------------------------------------------ */

static uint64_t rng;

static uint64_t
rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static unsigned
below(unsigned n)
{
    return n ? (unsigned)(rnd() % n) : 0;
}

/* An index into w[0..n) with probability proportional to w[i]. */
static int
pick(const unsigned char *w, int n)
{
    unsigned total = 0;
    for (int i = 0; i < n; i++) {
        total += w[i];
    }
    unsigned r = below(total);
    for (int i = 0; i < n; i++) {
        if (r < w[i]) {
            return i;
        }
        r -= w[i];
    }
    return n - 1;
}

/* ---- the clinic's vocabulary ----------------------------------------- */

enum {
    ST_DRAFT,
    ST_REQUESTED,
    ST_RECEIVED,
    ST_ACCEPTED,
    ST_REJECTED,
    ST_READY,
    ST_CANCELLED,
    ST_IN_PROGRESS,
    ST_ON_HOLD,
    ST_FAILED,
    ST_COMPLETED,
    ST_ERROR,
    NSTATUS
};

static const char *const status_code[NSTATUS] = {
    "draft",    "requested", "received",  "accepted",
    "rejected", "ready",     "cancelled", "in-progress",
    "on-hold",  "failed",    "completed", "entered-in-error"};
/* per mille: most work is done, little is requested, ready or running */
static const unsigned short status_w[NSTATUS] = {15, 50, 20, 30, 20,  40,
                                                 80, 60, 30, 30, 620, 5};
/* percent unassigned (no owner) */
static const unsigned char unassigned_pct[NSTATUS] = {90, 70, 60, 5,  50, 40,
                                                      50, 2,  10, 20, 11, 50};

static int
status_pick(void)
{
    unsigned r = below(1000);
    for (int i = 0; i < NSTATUS; i++) {
        if (r < status_w[i]) {
            return i;
        }
        r -= status_w[i];
    }
    return ST_COMPLETED;
}

#define BS_SYSTEM "http://clinic.example.org/CodeSystem/task-business-status"
enum { NBS = 10 };
static const char *const bs_code[NBS] = {
    "awaiting-callback", "awaiting-review",        "specimen-pending",
    "awaiting-courier",  "awaiting-authorization", "scheduled",
    "results-received",  "patient-notified",       "fax-failed",
    "closed-no-response"};
static const char *const bs_text[NBS] = {
    "Awaiting callback",  "Awaiting review",        "Specimen pending",
    "Awaiting courier",   "Awaiting authorization", "Scheduled",
    "Results received",   "Patient notified",       "Fax failed",
    "Closed, no response"};
/* per status: weights of the NBS codes, then of "no businessStatus" */
static const unsigned char bs_w[NSTATUS][NBS + 1] = {
    [ST_DRAFT] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
    [ST_REQUESTED] = {0, 30, 0, 0, 30, 20, 0, 0, 0, 0, 20},
    [ST_RECEIVED] = {0, 30, 0, 0, 30, 20, 0, 0, 0, 0, 20},
    [ST_ACCEPTED] = {0, 0, 25, 25, 0, 50, 0, 0, 0, 0, 0},
    [ST_REJECTED] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 60, 40},
    [ST_READY] = {35, 0, 20, 20, 0, 25, 0, 0, 0, 0, 0},
    [ST_CANCELLED] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 60, 40},
    [ST_IN_PROGRESS] = {35, 25, 25, 15, 0, 0, 0, 0, 0, 0, 0},
    [ST_ON_HOLD] = {50, 0, 0, 0, 30, 0, 0, 0, 20, 0, 0},
    [ST_FAILED] = {0, 0, 0, 0, 0, 0, 0, 0, 60, 40, 0},
    [ST_COMPLETED] = {0, 0, 0, 0, 0, 0, 45, 45, 0, 0, 10},
    [ST_ERROR] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 60, 40},
};

enum { NROLE = 8, ROLE_NURSE = 0, ROLE_PHYSICIAN = 1 };
static const char *const role_code[NROLE] = {
    "224535009", "309343006", "224608005", "46255001",
    "106328005", "36682004",  "80546007",  "159033005"};
static const char *const role_text[NROLE] = {"Registered nurse",
                                             "Physician",
                                             "Administrative healthcare staff",
                                             "Pharmacist",
                                             "Social worker",
                                             "Physiotherapist",
                                             "Occupational therapist",
                                             "Dietitian"};
static const unsigned char role_w[NROLE] = {35, 15, 15, 10, 8, 7, 5, 5};

static const char *const prio_code[4] = {"routine", "urgent", "asap", "stat"};
static const unsigned char prio_w[4] = {70, 20, 7, 3};

static const struct {
    const char *code, *display, *text;
} orders[] = {
    {"57698-3", "Lipid panel with direct LDL - Serum or Plasma", "Lipid panel"},
    {"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "HbA1c"},
    {"58410-2", "CBC panel - Blood by Automated count", "Full blood count"},
    {"51990-0", "Basic metabolic panel - Blood", "Basic metabolic panel"},
    {"3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "TSH"},
    {"24356-8", "Urinalysis complete panel - Urine", "Urinalysis"},
    {"36643-5", "XR Chest 2 Views", "Chest X-ray"},
    {"11524-6", "EKG study", "ECG"},
};
#define NORDERS (sizeof(orders) / sizeof(orders[0]))

static const struct {
    const char *code, *display, *desc;
} steps[] = {
    {"collect-specimen", "Collect specimen",
     "Collect the specimen at the front desk lab; label with two patient "
     "identifiers."},
    {"call-patient", "Call patient",
     "Call the patient about the results and confirm the follow-up "
     "appointment."},
    {"review-result", "Review result",
     "Review the result and sign off, or order a repeat if out of range."},
    {"schedule-appointment", "Schedule appointment",
     "Book a follow-up appointment within two weeks."},
    {"fax-report", "Fax report",
     "Fax the report to the referring practice and file the confirmation."},
    {"obtain-authorization", "Obtain authorization",
     "Obtain prior authorization from the payer before the procedure."},
    {"arrange-transport", "Arrange transport",
     "Arrange patient transport for the appointment."},
    {"reconcile-medication", "Reconcile medication",
     "Reconcile the medication list with the patient's pharmacy."},
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

static const char *const family[] = {
    "Smith",  "Jones",  "Garcia", "Nguyen", "Okafor", "Müller", "Kowalski",
    "Rossi",  "Tanaka", "Silva",  "Brown",  "Dubois", "Haddad", "O'Neill",
    "Larsen", "Cohen",  "Patel",  "Kim",    "Novak",  "Ivanova"};
static const char *const given[] = {"Alice", "Bob",   "Chloé", "David", "Emma",
                                    "Farid", "Grace", "Hiro",  "Ines",  "Jamal",
                                    "Kofi",  "Lena",  "Mateo", "Nadia", "Omar",
                                    "Priya", "Quinn", "Rosa",  "Sven",  "Yara"};
#define NFAMILY (sizeof(family) / sizeof(family[0]))
#define NGIVEN (sizeof(given) / sizeof(given[0]))

static const char *const notes[] = {
    "Patient prefers calls after 5pm. Leave a voicemail if there is no "
    "answer; do not discuss results on voicemail.",
    "Interpreter needed (Portuguese).",
    "Second attempt; the number on file may be outdated.",
    "Discussed with the ordering physician; proceed as planned.",
};
#define NNOTES (sizeof(notes) / sizeof(notes[0]))

/* ---- building JSON ---------------------------------------------------- */

struct sb {
    char buf[8192];
    size_t len;
};

__attribute__((format(printf, 2, 3))) static void
put(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf + b->len, sizeof(b->buf) - b->len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        b->len += (size_t)n;
        if (b->len >= sizeof(b->buf)) {
            b->len = sizeof(b->buf) - 1;
        }
    }
}

static void
iso(char *out, size_t cap, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the load --------------------------------------------------------- */

struct gen {
    srv_bulk *bulk;
    long nres, ntask, npat, nsr;
    long status_n[NSTATUS], bs_n[NBS], role_n[NROLE], unassigned;
    long owner_drafts[NPRAC];
    int role_first[NROLE], role_count[NROLE];
    uint32_t *roots; /* task numbers of roots with 2+ children */
    size_t nroots, caproots;
    double t0;
};

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
emit(struct gen *g, struct sb *b)
{
    fhir_err err = FHIR_ERR_INIT;
    cJSON *res = cJSON_ParseWithLength(b->buf, b->len);
    if (res == NULL) {
        fprintf(stderr, "gen: bad JSON built: %.200s\n", b->buf);
        return -1;
    }
    int rc = srv_bulk_put(g->bulk, res, &err);
    cJSON_Delete(res);
    if (rc != 0) {
        fprintf(stderr, "gen: %s\n  in %.300s\n", err.diag, b->buf);
        return -1;
    }
    g->nres++;
    if (g->nres % 100000 == 0) {
        double dt = now() - g->t0;
        fprintf(stderr, "gen: %ld resources (%ld Tasks) in %.0f s, %.0f/s\n",
                g->nres, g->ntask, dt, (double)g->nres / dt);
    }
    b->len = 0;
    return 0;
}

static int
practitioner(struct gen *g, int i, int role)
{
    struct sb b = {.len = 0};
    put(&b,
        "{\"resourceType\":\"Practitioner\",\"id\":\"prac-%03d\","
        "\"identifier\":[{\"system\":\"http://hl7.org/fhir/sid/us-npi\","
        "\"value\":\"19%08d\"}],\"active\":true,\"name\":[{\"use\":"
        "\"official\",\"family\":\"%s\",\"given\":[\"%s\"]}],\"telecom\":"
        "[{\"system\":\"phone\",\"value\":\"+1-555-01%02d-%03d\",\"use\":"
        "\"work\"}],\"qualification\":[{\"code\":{\"coding\":[{\"system\":"
        "\"http://snomed.info/sct\",\"code\":\"%s\",\"display\":\"%s\"}],"
        "\"text\":\"%s\"}}]}",
        i, i * 7919 % 100000000, family[below(NFAMILY)], given[below(NGIVEN)],
        i % 100, i, role_code[role], role_text[role], role_text[role]);
    return emit(g, &b);
}

static int
patient(struct gen *g, long i, int64_t end)
{
    struct sb b = {.len = 0};
    char birth[32];
    iso(birth, sizeof(birth), end - 86400LL * (365 * 5 + below(365 * 85)));
    birth[10] = '\0';
    put(&b,
        "{\"resourceType\":\"Patient\",\"id\":\"pat-%06ld\",\"identifier\":"
        "[{\"use\":\"usual\",\"system\":\"http://clinic.example.org/mrn\","
        "\"value\":\"MRN-%07ld\"}],\"active\":true,\"name\":[{\"use\":"
        "\"official\",\"family\":\"%s\",\"given\":[\"%s\"]}],\"telecom\":[{"
        "\"system\":\"phone\",\"value\":\"+1-555-%04u\",\"use\":\"home\"}],"
        "\"gender\":\"%s\",\"birthDate\":\"%s\",\"address\":[{\"use\":"
        "\"home\",\"line\":[\"%u Harbour Street\"],\"city\":\"Springfield\","
        "\"postalCode\":\"0%04u\",\"country\":\"US\"}],"
        "\"generalPractitioner\":[{\"reference\":\"Practitioner/prac-%03d\"}]}",
        i, 1000000 + i, family[below(NFAMILY)], given[below(NGIVEN)],
        below(10000), below(2) ? "female" : "male", birth, 1 + below(400),
        below(10000),
        g->role_first[ROLE_PHYSICIAN] +
            (int)below((unsigned)g->role_count[ROLE_PHYSICIAN]));
    return emit(g, &b);
}

/* An owner for a Task of `role`: drafts only ever go to the first tenth
 * of each role's practitioners (the team leads), so most owners have
 * none. */
static int
owner_for(const struct gen *g, int role, int status)
{
    unsigned n = (unsigned)g->role_count[role];
    if (status == ST_DRAFT) {
        n = n / 10 ? n / 10 : 1;
    }
    return g->role_first[role] + (int)below(n);
}

struct task_ctx {
    long sr, pat;
    int sr_prio, requester;
    int64_t base;
};

static int
task(struct gen *g, const struct task_ctx *c, long num, long parent, int depth,
     int64_t authored)
{
    struct sb b = {.len = 0};
    char when[32], mod[32], start[32], end[32];
    int st = status_pick();
    int bs = pick(bs_w[st], NBS + 1);
    int role = pick(role_w, NROLE);
    int prio = below(100) < 80 ? c->sr_prio : pick(prio_w, 4);
    int owner = below(100) < unassigned_pct[st] ? -1 : owner_for(g, role, st);
    int done = st == ST_COMPLETED || st == ST_CANCELLED || st == ST_FAILED ||
               st == ST_REJECTED || st == ST_ERROR;
    int64_t modified = authored + 600 + below(done ? 86400 * 10 : 86400 * 2);
    iso(when, sizeof(when), authored);
    iso(mod, sizeof(mod), modified);

    put(&b,
        "{\"resourceType\":\"Task\",\"id\":\"task-%07ld\",\"identifier\":[{"
        "\"system\":\"http://clinic.example.org/task\",\"value\":"
        "\"T-%07ld\"}],\"groupIdentifier\":{\"system\":"
        "\"http://clinic.example.org/requisition\",\"value\":\"REQ-%07ld\"},"
        "\"basedOn\":[{\"reference\":\"ServiceRequest/sr-%07ld\"}],",
        num, num, c->sr, c->sr);
    if (parent >= 0) {
        put(&b, "\"partOf\":[{\"reference\":\"Task/task-%07ld\"}],", parent);
    }
    put(&b, "\"status\":\"%s\",", status_code[st]);
    if (st == ST_CANCELLED || st == ST_REJECTED) {
        put(&b, "\"statusReason\":{\"text\":\"%s\"},",
            st == ST_CANCELLED ? "Cancelled by the requester"
                               : "Not in scope for this team");
    }
    if (bs < NBS) {
        put(&b,
            "\"businessStatus\":{\"coding\":[{\"system\":\"" BS_SYSTEM
            "\",\"code\":\"%s\",\"display\":\"%s\"}],\"text\":\"%s\"},",
            bs_code[bs], bs_text[bs], bs_text[bs]);
        g->bs_n[bs]++;
    }
    if (depth == 0) {
        put(&b,
            "\"intent\":\"order\",\"priority\":\"%s\",\"code\":{"
            "\"coding\":[{\"system\":"
            "\"http://hl7.org/fhir/CodeSystem/task-code\",\"code\":"
            "\"fulfill\",\"display\":\"Fulfill the focal request\"}],"
            "\"text\":\"Fulfill order\"},\"description\":\"Fulfill the "
            "order and close the loop with the patient.\",",
            prio_code[prio]);
    } else {
        unsigned k = below(NSTEPS);
        put(&b,
            "\"intent\":\"order\",\"priority\":\"%s\",\"code\":{\"coding\":[{"
            "\"system\":\"http://clinic.example.org/CodeSystem/task-type\","
            "\"code\":\"%s\",\"display\":\"%s\"}]},\"description\":\"%s\",",
            prio_code[prio], steps[k].code, steps[k].display, steps[k].desc);
    }
    put(&b,
        "\"focus\":{\"reference\":\"ServiceRequest/sr-%07ld\"},\"for\":{"
        "\"reference\":\"Patient/pat-%06ld\"},",
        c->sr, c->pat);
    if (st == ST_IN_PROGRESS || st == ST_ON_HOLD || done) {
        iso(start, sizeof(start), authored + 300);
        put(&b, "\"executionPeriod\":{\"start\":\"%s\"", start);
        if (done) {
            iso(end, sizeof(end), modified);
            put(&b, ",\"end\":\"%s\"", end);
        }
        put(&b, "},");
    }
    put(&b,
        "\"authoredOn\":\"%s\",\"lastModified\":\"%s\",\"requester\":{"
        "\"reference\":\"Practitioner/prac-%03d\"},\"performerType\":[{"
        "\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"%s\","
        "\"display\":\"%s\"}],\"text\":\"%s\"}]",
        when, mod, c->requester, role_code[role], role_text[role],
        role_text[role]);
    if (owner >= 0) {
        put(&b, ",\"owner\":{\"reference\":\"Practitioner/prac-%03d\"}", owner);
        if (st == ST_DRAFT) {
            g->owner_drafts[owner]++;
        }
    } else {
        g->unassigned++;
    }
    if (below(100) < 30) {
        put(&b, ",\"note\":[{\"time\":\"%s\",\"text\":\"%s\"}]", mod,
            notes[below(NNOTES)]);
    }
    if (!done && st != ST_DRAFT) {
        iso(end, sizeof(end), authored + 86400LL * (1 + below(14)));
        put(&b, ",\"restriction\":{\"period\":{\"end\":\"%s\"}}", end);
    }
    put(&b, "}");
    g->status_n[st]++;
    g->role_n[role]++;
    g->ntask++;
    return emit(g, &b);
}

/* One ServiceRequest and its workflow of 1-19 Tasks. */
static int
order(struct gen *g, long tasks_total, int64_t t0, int64_t span)
{
    struct sb b = {.len = 0};
    struct task_ctx c;
    char when[32];
    long want_sr = tasks_total / 10 > 0 ? tasks_total / 10 : 1;
    double frac = (double)g->nsr / (double)want_sr;
    c.sr = ++g->nsr;
    c.pat = 1 + (long)below((unsigned)g->npat);
    c.sr_prio = pick(prio_w, 4);
    c.requester = g->role_first[ROLE_PHYSICIAN] +
                  (int)below((unsigned)g->role_count[ROLE_PHYSICIAN]);
    c.base = t0 + (int64_t)((frac < 1 ? frac : 1) * (double)span) +
             (int64_t)below(3600 * 8);
    if (c.base > t0 + span) {
        c.base = t0 + span - (int64_t)below(3600);
    }
    int64_t age = t0 + span - c.base;
    unsigned k = below(NORDERS);
    const char *st = age < 86400 * 30  ? "active"
                     : below(100) < 92 ? "completed"
                     : below(2)        ? "revoked"
                                       : "active";
    iso(when, sizeof(when), c.base);
    put(&b,
        "{\"resourceType\":\"ServiceRequest\",\"id\":\"sr-%07ld\","
        "\"identifier\":[{\"system\":\"http://clinic.example.org/order\","
        "\"value\":\"SR-%07ld\"}],\"requisition\":{\"system\":"
        "\"http://clinic.example.org/requisition\",\"value\":\"REQ-%07ld\"},"
        "\"status\":\"%s\",\"intent\":\"order\",\"priority\":\"%s\","
        "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":"
        "\"%s\",\"display\":\"%s\"}],\"text\":\"%s\"},\"subject\":{"
        "\"reference\":\"Patient/pat-%06ld\"},\"authoredOn\":\"%s\","
        "\"requester\":{\"reference\":\"Practitioner/prac-%03d\"}}",
        c.sr, c.sr, c.sr, st, prio_code[c.sr_prio], orders[k].code,
        orders[k].display, orders[k].text, c.pat, when, c.requester);
    if (emit(g, &b) != 0) {
        return -1;
    }
    /* The workflow: a root, then each Task part of one of the first
     * three (the root or its first children: grandchildren). */
    long n = 1 + (long)below(19);
    if (n > tasks_total - g->ntask) {
        n = tasks_total - g->ntask;
    }
    long first = g->ntask + 1;
    int children = 0;
    int64_t t = c.base + 300 + (int64_t)below(3600);
    for (long i = 0; i < n; i++) {
        long parent = -1;
        int depth = 0;
        if (i > 0) {
            long p = (long)below((unsigned)(i < 3 ? i : 3));
            parent = first + p;
            depth = p == 0 ? 1 : 2;
            children += p == 0;
        }
        if (task(g, &c, first + i, parent, depth, t) != 0) {
            return -1;
        }
        t += 60 + (int64_t)below(3600 * 6);
    }
    if (children >= 2) {
        if (g->nroots == g->caproots) {
            g->caproots = g->caproots ? 2 * g->caproots : 1024;
            g->roots = realloc(g->roots, g->caproots * sizeof(*g->roots));
            if (g->roots == NULL) {
                return -1;
            }
        }
        g->roots[g->nroots++] = (uint32_t)first;
    }
    return 0;
}

/* ---- the benchmark's searches ---------------------------------------- */

#define SCT "http%3A%2F%2Fsnomed.info%2Fsct%7C"

static int
write_urls(const struct gen *g, const char *path)
{
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
        int o = (int)((long)i * NPRAC / NX + 3) % NPRAC;
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
    int none[NPRAC], nnone = 0;
    for (int o = 0; o < NPRAC; o++) {
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
    rng = seed * 0x2545F4914F6CDD1DULL + 1;

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
    g.t0 = now();

    /* Practitioners: contiguous ranges per role, sized by the role's
     * share of the work. */
    int at = 0;
    for (int r = 0; r < NROLE; r++) {
        int n = r == NROLE - 1 ? NPRAC - at : NPRAC * role_w[r] / 100;
        g.role_first[r] = at;
        g.role_count[r] = n;
        for (int i = 0; i < n; i++) {
            if (practitioner(&g, at + i, r) != 0) {
                goto fail;
            }
        }
        at += n;
    }
    /* Two years of work ending 2026-11-21T00:00:00Z. */
    const int64_t end = 1795219200LL, span = 2LL * 365 * 86400;
    g.npat = ntasks / 20 > 0 ? ntasks / 20 : 1;
    for (long i = 1; i <= g.npat; i++) {
        if (patient(&g, i, end) != 0) {
            goto fail;
        }
    }
    while (g.ntask < ntasks) {
        if (order(&g, ntasks, end - span, span) != 0) {
            goto fail;
        }
    }
    if (srv_bulk_close(g.bulk, &err) != 0) {
        fprintf(stderr, "gen: %s\n", err.diag);
        return 1;
    }
    double secs = now() - g.t0;
    if (urls != NULL && write_urls(&g, urls) != 0) {
        return 1;
    }

    fprintf(stderr, "gen: Task status:");
    for (int i = 0; i < NSTATUS; i++) {
        fprintf(stderr, " %s=%ld", status_code[i], g.status_n[i]);
    }
    fprintf(stderr, "\ngen: businessStatus:");
    for (int i = 0; i < NBS; i++) {
        fprintf(stderr, " %s=%ld", bs_code[i], g.bs_n[i]);
    }
    fprintf(stderr, "\ngen: performerType:");
    for (int i = 0; i < NROLE; i++) {
        fprintf(stderr, " %s=%ld", role_code[i], g.role_n[i]);
    }
    fprintf(stderr,
            "\ngen: unassigned=%ld (%.1f%%), part-of roots with 2+ "
            "children=%zu\n",
            g.unassigned, 100.0 * (double)g.unassigned / (double)g.ntask,
            g.nroots);

    char wal[4096];
    snprintf(wal, sizeof(wal), "%s-wal", db);
    long long dbb = file_size(db) + file_size(wal);
    long long jb = json_bytes(db);
    printf("resources=%ld tasks=%ld patients=%ld servicerequests=%ld "
           "practitioners=%d load_s=%.1f rps=%.0f db_bytes=%lld "
           "json_bytes=%lld ratio=%.2f\n",
           g.nres, g.ntask, g.npat, g.nsr, NPRAC, secs, (double)g.nres / secs,
           dbb, jb, jb > 0 ? (double)dbb / (double)jb : 0.0);
    free(g.roots);
    return 0;
fail:
    if (srv_bulk_close(g.bulk, &err) != 0) {
        fprintf(stderr, "gen: %s\n", err.diag);
    }
    free(g.roots);
    return 1;
}
