/* bench/clinic.c - the generated clinic of clinic.h: its vocabulary,
 * weighted the way a clinic's work is (most of it completed, a little
 * requested or ready; awaiting-callback only on active work), and the
 * builders of each resource's JSON. Everything comes from one splitmix64
 * generator in struct clinic, drawn in a fixed order, so a seed gives the
 * same data; a change here changes the search benchmark's cached
 * database (bench/search.sh hashes this file).
 */
#include "bench/clinic.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Two years of work ending 2026-11-21T00:00:00Z. */
#define END 1795219200LL
#define SPAN (2LL * 365 * 86400)

/* ---- randomness ------------------------------------------------------ */

static uint64_t
rnd(struct clinic *c)
{
    /* splitmix64 */
    uint64_t z = (c->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static unsigned
below(struct clinic *c, unsigned n)
{
    return n ? (unsigned)(rnd(c) % n) : 0;
}

/* An index into w[0..n) with probability proportional to w[i]. */
static int
pick(struct clinic *c, const unsigned char *w, int n)
{
    unsigned total = 0;
    for (int i = 0; i < n; i++) {
        total += w[i];
    }
    unsigned r = below(c, total);
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
_Static_assert(NSTATUS == CLINIC_NSTATUS, "one Task.status table");

const char *const clinic_status_code[CLINIC_NSTATUS] = {
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
status_pick(struct clinic *c)
{
    unsigned r = below(c, 1000);
    for (int i = 0; i < NSTATUS; i++) {
        if (r < status_w[i]) {
            return i;
        }
        r -= status_w[i];
    }
    return ST_COMPLETED;
}

#define BS_SYSTEM "http://clinic.example.org/CodeSystem/task-business-status"
enum { NBS = CLINIC_NBS };
const char *const clinic_bs_code[CLINIC_NBS] = {
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

enum { NROLE = CLINIC_NROLE, ROLE_NURSE = 0, ROLE_PHYSICIAN = 1 };
const char *const clinic_role_code[CLINIC_NROLE] = {
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

/* What ServiceRequests ask for: orders[0..NTESTS) are LOINC tests and
 * imaging, each fulfilled by a small workflow (clinic_order()); the rest
 * are the clinic's programmes of care, each a tree of 1,000 Tasks
 * (clinic_tree()). */
#define LOINC "http://loinc.org"
#define PROGRAMME "http://clinic.example.org/CodeSystem/care-programme"
#define NTESTS 8
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
    {"haemodialysis", "Haemodialysis programme", "Dialysis, three a week"},
    {"chemotherapy", "Chemotherapy programme", "Chemotherapy cycles"},
    {"home-care", "Home care programme", "Home care after discharge"},
    {"cardiac-rehab", "Cardiac rehabilitation programme", "Cardiac rehab"},
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

/* ---- names ------------------------------------------------------------ */

const char *const clinic_type[CLINIC_NKIND] = {
    [CLINIC_PRACTITIONER] = "Practitioner",
    [CLINIC_PATIENT] = "Patient",
    [CLINIC_SERVICE_REQUEST] = "ServiceRequest",
    [CLINIC_TASK] = "Task"};
static const char *const id_format[CLINIC_NKIND] = {
    [CLINIC_PRACTITIONER] = "prac-%03ld",
    [CLINIC_PATIENT] = "pat-%06ld",
    [CLINIC_SERVICE_REQUEST] = "sr-%07ld",
    [CLINIC_TASK] = "task-%07ld"};

void
clinic_ref(const struct clinic *c, char *out, size_t cap, int kind, long num)
{
    if (c->urn && kind != CLINIC_PRACTITIONER) {
        /* A version 4 layout; the kind and number can be read back. */
        snprintf(out, cap, "urn:uuid:%08x-0000-4%03x-8000-%012lx", c->tag,
                 (unsigned)kind, (unsigned long)num);
        return;
    }
    int n = snprintf(out, cap, "%s/", clinic_type[kind]);
    if (n > 0 && (size_t)n < cap) {
        snprintf(out + n, cap - (size_t)n, id_format[kind], num);
    }
}

int
clinic_urn_parse(const struct clinic *c, const char *uuid, int *kind, long *num)
{
    char tag[9], k[4], n[13], *end = NULL;
    if (strnlen(uuid, 36) < 36 || uuid[8] != '-' || uuid[13] != '-' ||
        uuid[14] != '4' || uuid[18] != '-' || uuid[23] != '-') {
        return -1;
    }
    memcpy(tag, uuid, 8);
    tag[8] = '\0';
    memcpy(k, uuid + 15, 3);
    k[3] = '\0';
    memcpy(n, uuid + 24, 12);
    n[12] = '\0';
    if (strtoul(tag, &end, 16) != c->tag || *end != '\0') {
        return -1;
    }
    *kind = (int)strtol(k, &end, 16);
    if (*end != '\0' || *kind <= CLINIC_PRACTITIONER || *kind >= CLINIC_NKIND) {
        return -1;
    }
    *num = strtol(n, &end, 16);
    return *end == '\0' ? 0 : -1;
}

/* The "id" member, when resources carry their own. */
static void
put_id(const struct clinic *c, struct sb *b, int kind, long num)
{
    char id[32];
    if (!c->urn || kind == CLINIC_PRACTITIONER) {
        snprintf(id, sizeof(id), id_format[kind], num);
        put(b, "\"id\":\"%s\",", id);
    }
}

static int
emit(struct clinic *c, struct sb *b, int kind, long num)
{
    return c->emit(c->ud, c, kind, num, b->buf, b->len) == 0 ? 0 : -1;
}

/* ---- the clinic ------------------------------------------------------- */

void
clinic_init(struct clinic *c, uint64_t seed, long planned, clinic_emit_fn fn,
            void *ud)
{
    memset(c, 0, sizeof(*c));
    c->rng = seed * 0x2545F4914F6CDD1DULL + 1;
    c->tag = (unsigned)(seed * 0x9E3779B1u);
    c->planned = planned;
    c->emit = fn;
    c->ud = ud;
    /* Practitioners: contiguous ranges per role, sized by the role's
     * share of the work. */
    int at = 0;
    for (int r = 0; r < NROLE; r++) {
        int n =
            r == NROLE - 1 ? CLINIC_NPRAC - at : CLINIC_NPRAC * role_w[r] / 100;
        c->role_first[r] = at;
        c->role_count[r] = n;
        at += n;
    }
}

void
clinic_clear(struct clinic *c)
{
    free(c->roots);
    c->roots = NULL;
    c->nroots = c->caproots = 0;
}

static int
practitioner(struct clinic *c, int i, int role)
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
        i, i * 7919 % 100000000, family[below(c, NFAMILY)],
        given[below(c, NGIVEN)], i % 100, i, clinic_role_code[role],
        role_text[role], role_text[role]);
    return emit(c, &b, CLINIC_PRACTITIONER, i);
}

int
clinic_practitioners(struct clinic *c)
{
    for (int r = 0; r < NROLE; r++) {
        for (int i = 0; i < c->role_count[r]; i++) {
            if (practitioner(c, c->role_first[r] + i, r) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

int
clinic_patient(struct clinic *c)
{
    struct sb b = {.len = 0};
    char birth[32];
    long i = ++c->npat;
    iso(birth, sizeof(birth), END - 86400LL * (365 * 5 + below(c, 365 * 85)));
    birth[10] = '\0';
    put(&b, "{\"resourceType\":\"Patient\",");
    put_id(c, &b, CLINIC_PATIENT, i);
    put(&b,
        "\"identifier\":"
        "[{\"use\":\"usual\",\"system\":\"http://clinic.example.org/mrn\","
        "\"value\":\"MRN-%07ld\"}],\"active\":true,\"name\":[{\"use\":"
        "\"official\",\"family\":\"%s\",\"given\":[\"%s\"]}],\"telecom\":[{"
        "\"system\":\"phone\",\"value\":\"+1-555-%04u\",\"use\":\"home\"}],"
        "\"gender\":\"%s\",\"birthDate\":\"%s\",\"address\":[{\"use\":"
        "\"home\",\"line\":[\"%u Harbour Street\"],\"city\":\"Springfield\","
        "\"postalCode\":\"0%04u\",\"country\":\"US\"}],"
        "\"generalPractitioner\":[{\"reference\":\"Practitioner/prac-%03d\"}]}",
        1000000 + i, family[below(c, NFAMILY)], given[below(c, NGIVEN)],
        below(c, 10000), below(c, 2) ? "female" : "male", birth,
        1 + below(c, 400), below(c, 10000),
        c->role_first[ROLE_PHYSICIAN] +
            (int)below(c, (unsigned)c->role_count[ROLE_PHYSICIAN]));
    return emit(c, &b, CLINIC_PATIENT, i);
}

/* An owner for a Task of `role`: drafts only ever go to the first tenth
 * of each role's practitioners (the team leads), so most owners have
 * none. */
static int
owner_for(struct clinic *c, int role, int status)
{
    unsigned n = (unsigned)c->role_count[role];
    if (status == ST_DRAFT) {
        n = n / 10 ? n / 10 : 1;
    }
    return c->role_first[role] + (int)below(c, n);
}

/* What the Tasks of one ServiceRequest share. */
struct order {
    long sr, pat;
    int sr_prio, requester;
    int64_t base;
    char sr_ref[64], pat_ref[64];
};

static int
task(struct clinic *c, const struct order *o, long num, long parent, int depth,
     int64_t authored)
{
    struct sb b = {.len = 0};
    char when[32], mod[32], start[32], end[32], ref[64];
    int st = status_pick(c);
    int bs = pick(c, bs_w[st], NBS + 1);
    int role = pick(c, role_w, NROLE);
    int prio = below(c, 100) < 80 ? o->sr_prio : pick(c, prio_w, 4);
    int owner =
        below(c, 100) < unassigned_pct[st] ? -1 : owner_for(c, role, st);
    int done = st == ST_COMPLETED || st == ST_CANCELLED || st == ST_FAILED ||
               st == ST_REJECTED || st == ST_ERROR;
    int64_t modified = authored + 600 + below(c, done ? 86400 * 10 : 86400 * 2);
    iso(when, sizeof(when), authored);
    iso(mod, sizeof(mod), modified);

    put(&b, "{\"resourceType\":\"Task\",");
    put_id(c, &b, CLINIC_TASK, num);
    put(&b,
        "\"identifier\":[{"
        "\"system\":\"http://clinic.example.org/task\",\"value\":"
        "\"T-%07ld\"}],\"groupIdentifier\":{\"system\":"
        "\"http://clinic.example.org/requisition\",\"value\":\"REQ-%07ld\"},"
        "\"basedOn\":[{\"reference\":\"%s\"}],",
        num, o->sr, o->sr_ref);
    if (parent >= 0) {
        clinic_ref(c, ref, sizeof(ref), CLINIC_TASK, parent);
        put(&b, "\"partOf\":[{\"reference\":\"%s\"}],", ref);
    }
    put(&b, "\"status\":\"%s\",", clinic_status_code[st]);
    if (st == ST_CANCELLED || st == ST_REJECTED) {
        put(&b, "\"statusReason\":{\"text\":\"%s\"},",
            st == ST_CANCELLED ? "Cancelled by the requester"
                               : "Not in scope for this team");
    }
    if (bs < NBS) {
        put(&b,
            "\"businessStatus\":{\"coding\":[{\"system\":\"" BS_SYSTEM
            "\",\"code\":\"%s\",\"display\":\"%s\"}],\"text\":\"%s\"},",
            clinic_bs_code[bs], bs_text[bs], bs_text[bs]);
        c->bs_n[bs]++;
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
        unsigned k = below(c, NSTEPS);
        put(&b,
            "\"intent\":\"order\",\"priority\":\"%s\",\"code\":{\"coding\":[{"
            "\"system\":\"http://clinic.example.org/CodeSystem/task-type\","
            "\"code\":\"%s\",\"display\":\"%s\"}]},\"description\":\"%s\",",
            prio_code[prio], steps[k].code, steps[k].display, steps[k].desc);
    }
    put(&b, "\"focus\":{\"reference\":\"%s\"},\"for\":{\"reference\":\"%s\"},",
        o->sr_ref, o->pat_ref);
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
        when, mod, o->requester, clinic_role_code[role], role_text[role],
        role_text[role]);
    if (owner >= 0) {
        put(&b, ",\"owner\":{\"reference\":\"Practitioner/prac-%03d\"}", owner);
        if (st == ST_DRAFT) {
            c->owner_drafts[owner]++;
        }
    } else {
        c->unassigned++;
    }
    if (below(c, 100) < 30) {
        put(&b, ",\"note\":[{\"time\":\"%s\",\"text\":\"%s\"}]", mod,
            notes[below(c, NNOTES)]);
    }
    if (!done && st != ST_DRAFT) {
        iso(end, sizeof(end), authored + 86400LL * (1 + below(c, 14)));
        put(&b, ",\"restriction\":{\"period\":{\"end\":\"%s\"}}", end);
    }
    put(&b, "}");
    c->status_n[st]++;
    c->role_n[role]++;
    c->ntask++;
    return emit(c, &b, CLINIC_TASK, num);
}

/* Emits the ServiceRequest the Tasks of o will share, for a Patient
 * numbered pat_lo..pat_hi, coded from orders[first..first+n) of
 * `system`, and fills in o. */
static int
service_request(struct clinic *c, struct order *o, long pat_lo, long pat_hi,
                const char *system, unsigned first, unsigned n)
{
    struct sb b = {.len = 0};
    char when[32];
    const int64_t t0 = END - SPAN;
    long want_sr = c->planned / 10 > 0 ? c->planned / 10 : 1;
    double frac = (double)c->nsr / (double)want_sr;
    o->sr = ++c->nsr;
    o->pat = pat_lo + (long)below(c, (unsigned)(pat_hi - pat_lo + 1));
    o->sr_prio = pick(c, prio_w, 4);
    o->requester = c->role_first[ROLE_PHYSICIAN] +
                   (int)below(c, (unsigned)c->role_count[ROLE_PHYSICIAN]);
    o->base = t0 + (int64_t)((frac < 1 ? frac : 1) * (double)SPAN) +
              (int64_t)below(c, 3600 * 8);
    if (o->base > t0 + SPAN) {
        o->base = t0 + SPAN - (int64_t)below(c, 3600);
    }
    clinic_ref(c, o->sr_ref, sizeof(o->sr_ref), CLINIC_SERVICE_REQUEST, o->sr);
    clinic_ref(c, o->pat_ref, sizeof(o->pat_ref), CLINIC_PATIENT, o->pat);
    int64_t age = t0 + SPAN - o->base;
    unsigned k = first + below(c, n);
    const char *st = age < 86400 * 30     ? "active"
                     : below(c, 100) < 92 ? "completed"
                     : below(c, 2)        ? "revoked"
                                          : "active";
    iso(when, sizeof(when), o->base);
    put(&b, "{\"resourceType\":\"ServiceRequest\",");
    put_id(c, &b, CLINIC_SERVICE_REQUEST, o->sr);
    put(&b,
        "\"identifier\":[{\"system\":\"http://clinic.example.org/order\","
        "\"value\":\"SR-%07ld\"}],\"requisition\":{\"system\":"
        "\"http://clinic.example.org/requisition\",\"value\":\"REQ-%07ld\"},"
        "\"status\":\"%s\",\"intent\":\"order\",\"priority\":\"%s\","
        "\"code\":{\"coding\":[{\"system\":\"%s\",\"code\":"
        "\"%s\",\"display\":\"%s\"}],\"text\":\"%s\"},\"subject\":{"
        "\"reference\":\"%s\"},\"authoredOn\":\"%s\","
        "\"requester\":{\"reference\":\"Practitioner/prac-%03d\"}}",
        o->sr, o->sr, st, prio_code[o->sr_prio], system, orders[k].code,
        orders[k].display, orders[k].text, o->pat_ref, when, o->requester);
    return emit(c, &b, CLINIC_SERVICE_REQUEST, o->sr);
}

int
clinic_order(struct clinic *c, long pat_lo, long pat_hi, long max_tasks)
{
    struct order o;
    if (service_request(c, &o, pat_lo, pat_hi, LOINC, 0, NTESTS) != 0) {
        return -1;
    }
    /* The workflow: a root, then each Task part of one of the first
     * three (the root or its first children: grandchildren). */
    long n = 1 + (long)below(c, 19);
    if (n > max_tasks) {
        n = max_tasks;
    }
    long first = c->ntask + 1;
    int children = 0;
    int64_t t = o.base + 300 + (int64_t)below(c, 3600);
    for (long i = 0; i < n; i++) {
        long parent = -1;
        int depth = 0;
        if (i > 0) {
            long p = (long)below(c, (unsigned)(i < 3 ? i : 3));
            parent = first + p;
            depth = p == 0 ? 1 : 2;
            children += p == 0;
        }
        if (task(c, &o, first + i, parent, depth, t) != 0) {
            return -1;
        }
        t += 60 + (int64_t)below(c, 3600 * 6);
    }
    if (children >= 2) {
        if (c->nroots == c->caproots) {
            c->caproots = c->caproots ? 2 * c->caproots : 1024;
            c->roots = realloc(c->roots, c->caproots * sizeof(*c->roots));
            if (c->roots == NULL) {
                return -1;
            }
        }
        c->roots[c->nroots++] = (uint32_t)first;
    }
    return 0;
}

int
clinic_tree(struct clinic *c, long pat_lo, long pat_hi, long ntasks)
{
    struct order o;
    int *depth = NULL;
    int rc = -1;
    if (c->ntrees == CLINIC_MAXTREES || ntasks < 1) {
        return -1;
    }
    if (service_request(c, &o, pat_lo, pat_hi, PROGRAMME, NTESTS,
                        NORDERS - NTESTS) != 0) {
        goto done;
    }
    depth = calloc((size_t)ntasks, sizeof(*depth));
    if (depth == NULL) {
        goto done;
    }
    /* Level by level: Task `head` takes `left` more children, then the
     * next Task in creation order does. head < i always, so a parent is
     * made before its children. */
    long first = c->ntask + 1, head = 0;
    long left = 2 + (long)below(c, 4);
    int deepest = 0;
    int64_t t = o.base + 300 + (int64_t)below(c, 3600);
    for (long i = 0; i < ntasks; i++) {
        long parent = -1;
        if (i > 0) {
            if (left == 0) {
                head++;
                left = 2 + (long)below(c, 4);
            }
            left--;
            parent = first + head;
            depth[i] = depth[head] + 1;
            deepest = depth[i] > deepest ? depth[i] : deepest;
        }
        if (task(c, &o, first + i, parent, depth[i], t) != 0) {
            goto done;
        }
        t += 60 + (int64_t)below(c, 3600);
    }
    c->tree_root[c->ntrees] = first;
    c->tree_depth[c->ntrees] = deepest;
    c->ntrees++;
    rc = 0;
done:
    free(depth);
    return rc;
}
