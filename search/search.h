/* search/search.h - search parameters: their registry, the index rows a
 * resource yields, and from a URL query string to what the store must
 * find.
 *
 * The registry is data: every SearchParameter of the served types (and of
 * Resource) in the definitions directory, its FHIRPath expression compiled
 * once at start-up. Indexing evaluates those expressions on a resource and
 * turns the values into narrow rows (token, string, date, reference, uri)
 * that store/ writes in the same transaction as the resource. Query
 * strings (and application/x-www-form-urlencoded bodies, which share the
 * syntax) are split and percent-decoded into (name, value) pairs here too,
 * so every interaction reads its parameters the same way. search/ never
 * sees a database handle.
 */
#ifndef SEARCH_SEARCH_H
#define SEARCH_SEARCH_H

#include "fhir/fhir.h"

typedef struct search_pair {
    const char *name;  /* decoded, including any ":modifier" */
    const char *value; /* decoded; search escapes (\, \| \$) kept */
} search_pair;

typedef struct search_query {
    search_pair *params; /* in the order given; arena-owned */
    size_t n;
} search_query;

/* Splits `qs` (`len` bytes, no leading '?') at '&', decodes %XX and '+'.
 * Empty pairs are skipped; a pair without '=' has the value "". Strings
 * live in `a`. Errors: invalid (bad %-escape, NUL byte, name empty). */
int search_query_parse(search_query *out, fhir_arena *a, const char *qs,
                       size_t len, fhir_err *err) FHIR_MUST_CHECK;

/* The value of the first parameter called `name`, or NULL. */
const char *search_query_get(const search_query *q, const char *name);

/* ---- the registry ----------------------------------------------------- */

typedef enum search_type {
    SEARCH_TYPE_NUMBER,
    SEARCH_TYPE_DATE,
    SEARCH_TYPE_STRING,
    SEARCH_TYPE_TOKEN,
    SEARCH_TYPE_REFERENCE,
    SEARCH_TYPE_COMPOSITE,
    SEARCH_TYPE_QUANTITY,
    SEARCH_TYPE_URI,
    SEARCH_TYPE_SPECIAL
} search_type;

typedef struct search_registry search_registry;
typedef struct search_param search_param;

/* Loads search-parameters.json from `dir` and compiles every expression
 * of a parameter whose base is a served type, Resource or DomainResource.
 * Parameters that cannot be indexed (no expression, composite, special,
 * or an expression outside the FHIRPath subset) are kept as unsupported so
 * that a search naming them can say so. On success *out is the caller's
 * (search_registry_free(), which accepts NULL). */
int search_registry_load(search_registry **out, const char *dir,
                         fhir_err *err) FHIR_MUST_CHECK;
void search_registry_free(search_registry *reg);

/* Number of parameters known (over all types, supported or not); they
 * are numbered 0 .. count-1 in a stable order (by their key). */
size_t search_registry_count(const search_registry *reg);
/* Parameter i (borrowed). */
const search_param *search_registry_at(const search_registry *reg, size_t i);
/* The parameter `code` of served type `type`, or NULL when unknown.
 * *unsupported is set to 1 when it is known but cannot be searched here
 * (e.g. _text, phonetic); search_param_unsupported() then says why. */
const search_param *search_param_find(const search_registry *reg, int type,
                                      const char *code, int *unsupported);
/* Accessors of a parameter. The key is unique and stable over releases:
 * "Task.status", "Resource._tag"; store/ maps it to a small number. */
const char *search_param_key(const search_param *p);
const char *search_param_code(const search_param *p);
search_type search_param_type(const search_param *p);
const char *search_param_expression(const search_param *p);
const char *search_param_description(const search_param *p);
/* 1 when p gets index rows (supported and not answered from the
 * resource table, as _id and _lastUpdated are). */
int search_param_indexed(const search_param *p);
/* 1 when p is known but cannot be searched; *why says why. */
int search_param_unsupported(const search_param *p, const char **why);
/* 1 when parameter p applies to served type `type`. */
int search_param_applies(const search_param *p, int type);
/* The number store/ gave the key (set once at start-up, before any
 * indexing or search; not thread-safe). */
void search_param_set_num(search_registry *reg, size_t i, int num);
int search_param_num(const search_param *p);
/* Tells the registry that no counts are kept of parameter i's values
 * (store_param_uncounted): the planner then probes its index rows for an
 * estimate. Set at start-up (not thread-safe). */
void search_param_set_uncounted(search_registry *reg, size_t i);
/* Gives token parameter i a rank order for _sort (e.g. the order of its
 * required value set: routine < urgent < asap < stat); codes borrowed,
 * they must outlive the registry. Set at start-up. */
void search_param_set_order(search_registry *reg, size_t i,
                            const char *const *codes, size_t n);
/* Tells the registry this server's base URLs ("https://h/fhir"; copied,
 * replacing any earlier list). A reference "<base>/Type/id" (with or
 * without "/_history/n") under one of them is the same as the relative
 * "Type/id" (R4 references.html#literal): indexed and searched as that.
 * Set at start-up, before any indexing or search (not thread-safe). */
void search_registry_set_bases(search_registry *reg, const char *const *bases,
                               size_t n);

/* ---- indexing --------------------------------------------------------- */
/* The row types (fhir_row, fhir_rows) live in fhir/fhir.h: search/ makes
 * them and store/ writes them, and neither module includes the other. */

/* Computes every index row of `res` (of served type `type`) into out,
 * allocating from `a`. Duplicate rows are removed. Never fails on data:
 * values that do not fit their parameter's type are skipped. */
void search_index(fhir_rows *out, const search_registry *reg, int type,
                  const cJSON *res, fhir_arena *a);

/* ---- searching -------------------------------------------------------- */

typedef struct search_plan search_plan;

typedef enum search_total {
    SEARCH_TOTAL_DEFAULT = 0, /* accurate when cheap, else omitted */
    SEARCH_TOTAL_NONE,
    SEARCH_TOTAL_ESTIMATE,
    SEARCH_TOTAL_ACCURATE
} search_total;

typedef enum search_summary {
    SEARCH_SUMMARY_FALSE = 0,
    SEARCH_SUMMARY_TRUE,
    SEARCH_SUMMARY_COUNT,
    SEARCH_SUMMARY_DATA,
    SEARCH_SUMMARY_TEXT
} search_summary;

#define SEARCH_MAX_TYPES 16

typedef struct search_opts {
    int types[SEARCH_MAX_TYPES];      /* served types searched (system
                                         search: several) */
    int type_codes[SEARCH_MAX_TYPES]; /* their codes in the store */
    size_t ntypes;
    const char *base;  /* this server's base URL, for absolute references */
    int default_count; /* page size without _count */
    int max_count;     /* largest page size */
    int strict;        /* Prefer: handling=strict */
    int codes[SEARCH_MAX_TYPES]; /* store code of every served type (by
                                    type index), for conditions on the
                                    types a _has reaches */
} search_opts;

/* Parses a search of the served types in opts (one for a type search,
 * several for a system search, where a parameter must apply to all of
 * them). Result parameters (_count, _sort, _total, _summary, _elements,
 * _cursor, and _type/_format/_pretty which server/ reads) are taken as
 * such; every other parameter is checked against the registry. Errors (invalid,
 * not-supported; status 400) name the parameter: a malformed value, an unknown
 * modifier or prefix, and, under strict handling, an unknown or unsupported
 * parameter (otherwise those become warnings). Everything lives in `a`. */
int search_plan_new(search_plan **out, const search_registry *reg,
                    const search_query *q, const search_opts *opts,
                    fhir_arena *a, fhir_err *err) FHIR_MUST_CHECK;

/* Warnings for ignored parameters (lenient handling); *out borrowed. */
size_t search_plan_warnings(const search_plan *p, const char *const **out);
int search_plan_page_size(const search_plan *p);
search_total search_plan_total(const search_plan *p);
search_summary search_plan_summary(const search_plan *p);
/* The _elements list ("a,b"), or NULL. */
const char *search_plan_elements(const search_plan *p);

/* The conditions' selectivity: for condition i, SQL returning one
 * integer, the number of resources it matches as the counts know it
 * (returns 0 and leaves out empty when the condition has no count). */
size_t search_plan_nconds(const search_plan *p);
int search_plan_estimate_sql(const search_plan *p, size_t i, fhir_sql *out);
void search_plan_set_estimate(search_plan *p, size_t i, int64_t n);
/* SQL for the number of resources of the type (the base of estimates). */
void search_plan_type_count_sql(const search_plan *p, fhir_sql *out);
void search_plan_set_type_count(search_plan *p, int64_t n);

/* The page: rows (rid, id, hid, body, type code, key...) in result order,
 * page size + 1 of them so the caller knows whether a next page exists.
 * Uses the estimates to choose which condition drives the query. */
void search_plan_page_sql(const search_plan *p, fhir_sql *out);
/* SQL returning the exact number of matches. */
void search_plan_count_sql(const search_plan *p, fhir_sql *out);
/* 1 when the exact number of matches is known from the estimates alone
 * (a single counted condition, or none), with *n set. */
int search_plan_count_known(const search_plan *p, int64_t *n);
#define SEARCH_PAGE_KEYS 5 /* column of the first sort key in page rows */

/* The sort-key columns that follow the fixed ones in page rows,
 * and whether key k is text (else an integer). */
size_t search_plan_nkeys(const search_plan *p);
int search_plan_key_is_text(const search_plan *p, size_t k);
/* The _cursor value that continues after (before: 1, precedes) a row
 * with these key values (a text value with s == NULL stands for SQL
 * NULL) and rid; from `a`. */
const char *search_plan_cursor(const search_plan *p, const fhir_sqlval *keys,
                               int64_t rid, int before, fhir_arena *a);
/* ---- stable paging ------------------------------------------------------ */
/* A search is answered as of a snapshot: the first page takes the latest
 * lastUpdated (search_plan_snapshot_sql) and every cursor carries it, so
 * later pages see each resource as it was then. The page query only finds
 * resources unchanged since; search_plan_changed_sql() lists the others
 * (rid, id, type code, body at the snapshot, its lastUpdated, current
 * body), which the caller indexes and judges with the functions below. */
void search_plan_snapshot_sql(const search_plan *p, fhir_sql *out);
void search_plan_set_snapshot(search_plan *p, int64_t t);
int64_t search_plan_snapshot(const search_plan *p);
/* 0 when no page can contain changed resources (first page). */
int search_plan_changed_sql(const search_plan *p, fhir_sql *out);
/* 1 when rows (of one version with this id and lastUpdated) satisfy every
 * condition on the resource's own values, judged as the SQL would.
 * Chained and _has conditions read other resources, which rows do not
 * hold: they are left to search_plan_match_sql(). */
int search_plan_match(const search_plan *p, const fhir_rows *rows,
                      const char *id, int64_t hid);
/* For a plan with chained or _has conditions (else 0, out untouched):
 * 1, and in out SQL returning one integer, 1 when that version (its rows
 * and id) satisfies them: its references at the version, the resources
 * they lead to as they are now (as the page SQL sees those). */
int search_plan_match_sql(const search_plan *p, const fhir_rows *rows,
                          const char *id, fhir_sql *out);
/* The sort-key values (search_plan_nkeys() of them) of that version. */
void search_plan_keys(const search_plan *p, const fhir_rows *rows,
                      const char *id, int64_t hid, fhir_sqlval *keys);
/* Result order of two rows: <0, 0, >0. */
int search_plan_order_cmp(const search_plan *p, const fhir_sqlval *ka,
                          int64_t rida, const fhir_sqlval *kb, int64_t ridb);
/* 1 when a row lies beyond the cursor in the paging direction. */
int search_plan_past_cursor(const search_plan *p, const fhir_sqlval *keys,
                            int64_t rid);

/* ---- in-memory sets ----------------------------------------------------- */
/* Bitsets indexed by rid (`words` 64-bit words), lent by the caller from
 * the store's hot index; each or_ function ORs a set into `bits`. */
typedef struct search_sets {
    void *ctx;
    size_t words;
    /* room for two sets of `words` the run may use (contents undefined),
     * or NULL: it allocates its own */
    uint64_t *scratch;
    /* 1 when param's value sets are in memory */
    int (*is_hot)(void *ctx, int param);
    /* resources holding a token value (sys NULL: any system; code NULL:
     * any code) or, with ref, a reference string (code) */
    void (*or_value)(void *ctx, uint64_t *bits, int param, int ref,
                     const char *sys, const char *code);
    /* resources holding a code of param other than codes[] */
    void (*or_other)(void *ctx, uint64_t *bits, int param,
                     const char *const *codes, size_t n);
    /* resources having param at all */
    void (*or_have)(void *ctx, uint64_t *bits, int param);
    /* live resources of the store type codes */
    void (*or_live)(void *ctx, uint64_t *bits, const int *tcodes, size_t n);
    /* the same sets when one bitset kept in memory is exactly the answer
     * (read without a copy), else NULL: one value's (as or_value, without
     * code NULL), having param, live of one store type code */
    const uint64_t *(*value_bits)(void *ctx, int param, int ref,
                                  const char *sys, const char *code);
    const uint64_t *(*have_bits)(void *ctx, int param);
    const uint64_t *(*live_bits)(void *ctx, int tcode);
    /* current hid of rid, 0 when not live */
    int64_t (*hid)(void *ctx, int64_t rid);
    /* lowest start, highest end of date param on rid: 1; 0 none; -1 the
     * column is not in memory */
    int (*date)(void *ctx, int param, int64_t rid, int64_t *lo, int64_t *hi);
} search_sets;
/* 1 when a positive condition on the searched resources themselves (no
 * modifier, chain or _has) is known by its estimate to match at most
 * `at_most` resources: SQL from that condition's index beats walking the
 * in-memory sets, whose cost grows with every resource stored. */
int search_plan_small_driver(const search_plan *p, int64_t at_most);

/* The parameters (store numbers) and types whose sets could serve the
 * plan, to load before search_plan_hot_run(); at most max. */
size_t search_plan_hot_needs(const search_plan *p, int *params,
                             search_type *kinds, size_t max);
/* Chooses the page's rows from the sets when they can judge the plan
 * (or narrow it to a few candidates), after the snapshot is set;
 * `applied` is the hid the sets reflect. Returns 1 when used: the page
 * query then reads only those rows (and still checks every condition),
 * and search_plan_changed_sql() lists resources written since the
 * snapshot. */
int search_plan_hot_run(search_plan *p, const search_sets *s, int64_t applied);

/* 1 when the request pages backwards: page rows come last-first. */
int search_plan_backwards(const search_plan *p);
/* 1 when the request continues from a cursor (not the first page). */
int search_plan_has_cursor(const search_plan *p);

/* ---- the Patient compartment ------------------------------------------- */

/* A compartment is searched with the reference parameter `_compartment`
 * (every type it can hold has it; its rows name the owner a resource is
 * in the compartment of, and on the owner itself): Patient/1/Task is
 * Task?_compartment=Patient/1. */

/* The served type owning the compartment (Patient), or -1. */
int search_compartment_type(const search_registry *reg);
/* The reference parameters that put a resource of served type `type` in
 * a compartment (Task: patient, focus); 0 when the type is never in it.
 * *out borrowed. */
size_t search_compartment_params(const search_registry *reg, int type,
                                 const search_param *const **out);

/* ---- _include and _revinclude ------------------------------------------ */

typedef struct search_incl {
    const search_param *param; /* a reference parameter of `from` */
    int from;                  /* served type holding the reference */
    int target;                /* served type to keep (:Type), or -1 */
    int rev;                   /* 1: _revinclude */
    int iterate;               /* :iterate (or :recurse) */
} search_incl;

/* 1 when reference parameter p may refer to served type `type`. */
int search_param_targets(const search_param *p, int type);

/* Parses one parameter named _include[:iterate] or _revinclude[:iterate]
 * with value "Source:param[:Target]" (or "*" for _include: every
 * reference parameter) into out[*n...] (at most max in all). Errors
 * (invalid, 400) name the parameter. */
int search_incl_parse(search_incl *out, size_t *n, size_t max,
                      const search_registry *reg, const char *name,
                      const char *value, fhir_err *err) FHIR_MUST_CHECK;
/* The SQL following references from a page. The values go into `list`
 * as one JSON array bound as a single parameter, so a statement's text
 * does not depend on how many there are (the store keeps prepared
 * statements by text); the caller keeps list until the query has run and
 * frees it with fhir_buf_clear().
 *
 * Rows (ref): the references `in` holds on the resources rids[]. */
void search_incl_refs_sql(fhir_sql *out, fhir_buf *list, const search_incl *in,
                          const int64_t *rids, size_t n);
/* Rows (rid, type code, id, body): the live resources of store type
 * `tcode` with these ids. */
void search_incl_fetch_sql(fhir_sql *out, fhir_buf *list, int tcode,
                           const char *const *ids, size_t n);
/* Rows as above: up to `limit` live resources of store type from_code
 * whose parameter in->param refers to one of refs[] ("Type/id"). */
void search_incl_rev_sql(fhir_sql *out, fhir_buf *list, const search_incl *in,
                         int from_code, const char *const *refs, size_t n,
                         int64_t limit);

#endif
