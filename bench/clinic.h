/* bench/clinic.h - the generated clinic the benchmarks run on: 500
 * Practitioners, Patients, ServiceRequests and a workflow of Tasks for
 * each request, as FHIR JSON text, from one seeded generator (a seed gives
 * the same data every time).
 *
 * gen.c loads it into a database with ids of its own (Patient/pat-000001,
 * ServiceRequest/sr-0000001, Task/task-0000001); ingest.c posts it as
 * transaction Bundles, where Patients, ServiceRequests and Tasks have no
 * id and refer to one another by the urn:uuid fullUrl of their entry
 * (clinic.urn). References to Practitioners are always
 * Practitioner/prac-NNN. Each resource goes to the caller's emit function;
 * what happens to it there (database, Bundle) is the caller's business.
 *
 * Besides the small workflows of clinic_order(), clinic_tree() makes one
 * large tree of Tasks (a care programme of 1,000 Tasks, for the search
 * benchmark's _revinclude:iterate). Only gen.c calls it; ingest.c's
 * Bundles hold small workflows only, as before.
 */
#ifndef BENCH_CLINIC_H
#define BENCH_CLINIC_H

#include <stddef.h>
#include <stdint.h>

#define CLINIC_NPRAC 500
#define CLINIC_NSTATUS 12  /* Task.status codes */
#define CLINIC_NBS 10      /* Task.businessStatus codes */
#define CLINIC_NROLE 8     /* SNOMED performer types */
#define CLINIC_URN_LEN 45  /* "urn:uuid:" and 36 characters */
#define CLINIC_MAXTREES 16 /* clinic_tree() calls per clinic */

enum clinic_kind {
    CLINIC_PRACTITIONER,
    CLINIC_PATIENT,
    CLINIC_SERVICE_REQUEST,
    CLINIC_TASK,
    CLINIC_NKIND
};

extern const char *const clinic_type[CLINIC_NKIND]; /* "Patient", ... */
extern const char *const clinic_status_code[CLINIC_NSTATUS];
extern const char *const clinic_bs_code[CLINIC_NBS];
extern const char *const clinic_role_code[CLINIC_NROLE];

struct clinic;

/* Receives each resource: its kind, its number (1, 2, ... per kind;
 * Practitioners from 0) and its JSON text, valid during the call. A
 * non-zero return stops the generator, which returns -1. */
typedef int (*clinic_emit_fn)(void *ud, struct clinic *c, int kind, long num,
                              const char *json, size_t len);

struct clinic {
    uint64_t rng;
    int urn;      /* refer by urn:uuid and write no ids (transactions) */
    unsigned tag; /* first group of those uuids, from the seed */
    long planned; /* Tasks planned in workflows: the pace of authoredOn */
    clinic_emit_fn emit;
    void *ud;
    long ntask, npat, nsr; /* made so far = numbers of the last ones */
    int role_first[CLINIC_NROLE], role_count[CLINIC_NROLE];
    /* the data's shape, for reports and for choosing search values */
    long status_n[CLINIC_NSTATUS], bs_n[CLINIC_NBS], role_n[CLINIC_NROLE];
    long unassigned;
    long owner_drafts[CLINIC_NPRAC];
    uint32_t *roots; /* task numbers of roots with 2+ children */
    size_t nroots, caproots;
    long tree_root[CLINIC_MAXTREES]; /* clinic_tree(): its root's number, */
    int tree_depth[CLINIC_MAXTREES]; /* its deepest level (root 0) */
    int ntrees;
};

/* Starts a clinic of about `planned` Tasks in clinic_order() workflows
 * from `seed`, sending resources to emit(ud, ...). The Practitioners'
 * numbers are fixed here, whether or not clinic_practitioners() is
 * called. Release with clinic_clear(). */
void clinic_init(struct clinic *c, uint64_t seed, long planned,
                 clinic_emit_fn emit, void *ud);

/* Frees what c holds (not c). */
void clinic_clear(struct clinic *c);

/* Emits the 500 Practitioners, contiguous ranges per role. 0 or -1. */
int clinic_practitioners(struct clinic *c);

/* Emits Patient number ++c->npat. 0 or -1. */
int clinic_patient(struct clinic *c);

/* Emits one ServiceRequest for a Patient numbered pat_lo..pat_hi and its
 * workflow of 1-19 Tasks (10 on average; at most max_tasks, >= 1): a
 * root, its children and grandchildren (partOf), all focused on the
 * request and based on it, for its patient. 0 or -1. */
int clinic_order(struct clinic *c, long pat_lo, long pat_hi, long max_tasks);

/* Emits one ServiceRequest for a Patient numbered pat_lo..pat_hi and a
 * tree of exactly `ntasks` Tasks (>= 1) for it: the root, then level by
 * level each Task gets 2-5 children (partOf its parent) until ntasks are
 * made, so 1,000 Tasks are at least 5 levels below the root. Authored
 * about half an hour apart. The root's number and the depth go to
 * c->tree_root and c->tree_depth. 0, or -1 (also after CLINIC_MAXTREES
 * trees). */
int clinic_tree(struct clinic *c, long pat_lo, long pat_hi, long ntasks);

/* Writes how resource (kind, num) is referred to: "Patient/pat-000001",
 * or its urn:uuid when c->urn (Practitioners never). */
void clinic_ref(const struct clinic *c, char *out, size_t cap, int kind,
                long num);

/* Reads the kind and number back from the 36 characters after
 * "urn:uuid:" of a clinic_ref(); -1 when they are not one of c's. */
int clinic_urn_parse(const struct clinic *c, const char *uuid, int *kind,
                     long *num);

#endif
