/* search/search.h - from a URL query string to what the store must find.
 *
 * This first part splits and percent-decodes query strings (and
 * application/x-www-form-urlencoded bodies, which share the syntax) into
 * (name, value) pairs, in order, so that every interaction reads its
 * parameters the same way. Planning searches into SQL builds on it.
 */
#ifndef SEARCH_SEARCH_H
#define SEARCH_SEARCH_H

#include "fhir/fhir.h"

typedef struct search_param {
    const char *name;  /* decoded, including any ":modifier" */
    const char *value; /* decoded; search escapes (\, \| \$) kept */
} search_param;

typedef struct search_query {
    search_param *params; /* in the order given; arena-owned */
    size_t n;
} search_query;

/* Splits `qs` (`len` bytes, no leading '?') at '&', decodes %XX and '+'.
 * Empty pairs are skipped; a pair without '=' has the value "". Strings
 * live in `a`. Errors: invalid (bad %-escape, NUL byte, name empty). */
int search_query_parse(search_query *out, fhir_arena *a, const char *qs,
                       size_t len, fhir_err *err) FHIR_MUST_CHECK;

/* The value of the first parameter called `name`, or NULL. */
const char *search_query_get(const search_query *q, const char *name);

#endif
