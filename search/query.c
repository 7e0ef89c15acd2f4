/* search/query.c - query-string splitting and percent-decoding.
 *
 * Every interaction reads its parameters (_count, _since, _format, and
 * later the search parameters themselves) through this one decoder, so a
 * hostile query string is rejected the same way everywhere.
 */
#include "search/search.h"

#include <string.h>

static int
hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes s[0..n) into a new arena string; NULL on a bad escape or NUL. */
static char *
decode(fhir_arena *a, const char *s, size_t n)
{
    char *out = fhir_arena_alloc(a, n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n) {
                return NULL;
            }
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0) {
                return NULL;
            }
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (c == '\0') {
            return NULL;
        }
        out[j++] = c;
    }
    out[j] = '\0';
    return out;
}

int
search_query_parse(search_query *out, fhir_arena *a, const char *qs, size_t len,
                   fhir_err *err)
{
    size_t cap = 1;
    for (size_t i = 0; i < len; i++) {
        cap += qs[i] == '&';
    }
    out->params = fhir_arena_alloc(a, cap * sizeof(search_pair));
    out->n = 0;
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && qs[end] != '&') {
            end++;
        }
        if (end > i) {
            const char *eq = memchr(qs + i, '=', end - i);
            size_t nlen = eq ? (size_t)(eq - (qs + i)) : end - i;
            const char *vs = eq ? eq + 1 : qs + end;
            size_t vlen = eq ? (size_t)(qs + end - vs) : 0;
            char *name = decode(a, qs + i, nlen);
            char *value = decode(a, vs, vlen);
            if (name == NULL || value == NULL) {
                return fhir_err_set(err, FHIR_ISSUE_INVALID,
                                    "Malformed query string: bad "
                                    "%%-escape or NUL byte");
            }
            if (name[0] == '\0') {
                return fhir_err_set(err, FHIR_ISSUE_INVALID,
                                    "Malformed query string: a parameter "
                                    "has no name");
            }
            out->params[out->n].name = name;
            out->params[out->n].value = value;
            out->n++;
        }
        i = end + 1;
    }
    return 0;
}

const char *
search_query_get(const search_query *q, const char *name)
{
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->params[i].name, name) == 0) {
            return q->params[i].value;
        }
    }
    return NULL;
}
