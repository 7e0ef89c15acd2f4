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

/* ---- indexing --------------------------------------------------------- */
/* The row types (fhir_row, fhir_rows) live in fhir/fhir.h: search/ makes
 * them and store/ writes them, and neither module includes the other. */

/* Computes every index row of `res` (of served type `type`) into out,
 * allocating from `a`. Duplicate rows are removed. Never fails on data:
 * values that do not fit their parameter's type are skipped. */
void search_index(fhir_rows *out, const search_registry *reg, int type,
                  const cJSON *res, fhir_arena *a);

#endif
