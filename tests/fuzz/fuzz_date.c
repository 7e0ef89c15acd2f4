/* tests/fuzz/fuzz_date.c - fuzz target for the FHIR date/dateTime/instant
 * parser and the HTTP date parser (fhir/time.c).
 *
 * The input, as a C string, goes to fhir_date_parse() and
 * fhir_http_date_parse(). Besides memory safety it asserts what search
 * relies on: a parsed date is a non-empty range of the width its
 * precision says; the instant fhir_instant_format() writes for its start
 * parses back to that very microsecond; a date's month and year ranges
 * contain it; and an HTTP date written back by fhir_http_date_format()
 * reads as the same second.
 */
#include "tests/fuzz/fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US 1000000LL
#define DAY (86400 * US)
/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z in microseconds: the
 * instants fhir_instant_format() writes as four-digit years. */
#define MIN_US (-62135596800LL * US)
#define MAX_US (253402300799LL * US)

static void
check_fhir(const char *s)
{
    fhir_date_range r, again;
    fhir_err err = FHIR_ERR_INIT;
    if (fhir_date_parse(&r, s, &err) != 0) {
        if (err.issue != FHIR_ISSUE_INVALID) {
            fuzz_fail("'%s' refused with issue %d", s, (int)err.issue);
        }
        return;
    }
    if (r.precision < 1 || r.precision > 6 || r.lo >= r.hi) {
        fuzz_fail("'%s': precision %d, range [%lld, %lld)", s, r.precision,
                  (long long)r.lo, (long long)r.hi);
    }
    int64_t w = r.hi - r.lo;
    int ok = r.precision == 1   ? w == 365 * DAY || w == 366 * DAY
             : r.precision == 2 ? w >= 28 * DAY && w <= 31 * DAY
             : r.precision == 3 ? w == DAY
             : r.precision == 4 ? w == 60 * US
             : r.precision == 5 ? w == US
                                : w >= 1 && w <= US / 10;
    if (!ok) {
        fuzz_fail("'%s': precision %d but width %lld us", s, r.precision,
                  (long long)w);
    }
    if (r.lo >= MIN_US && r.lo <= MAX_US) {
        char t[48];
        fhir_err e2 = FHIR_ERR_INIT;
        fhir_instant_format(t, sizeof(t), r.lo);
        if (fhir_date_parse(&again, t, &e2) != 0 || again.lo != r.lo ||
            again.precision != 6 || again.hi != r.lo + 1) {
            fuzz_fail("'%s' starts at %lld, written '%s', read back %lld", s,
                      (long long)r.lo, t, (long long)again.lo);
        }
    }
    /* A day lies in its month, a month in its year. */
    for (size_t cut = 4; cut <= 7 && r.precision >= 2 && r.precision <= 3;
         cut += 3) {
        char head[8];
        fhir_err e3 = FHIR_ERR_INIT;
        memcpy(head, s, cut);
        head[cut] = '\0';
        if (cut == 7 && r.precision == 2) {
            break;
        }
        if (fhir_date_parse(&again, head, &e3) != 0 || again.lo > r.lo ||
            again.hi < r.hi) {
            fuzz_fail("'%s' is not inside '%s'", s, head);
        }
    }
}

static void
check_http(const char *s)
{
    int64_t us, again;
    char t[64];
    if (fhir_http_date_parse(s, &us) != 0) {
        return;
    }
    if (us % US != 0) {
        fuzz_fail("HTTP date '%s' has a fraction: %lld", s, (long long)us);
    }
    if (us < MIN_US || us > MAX_US) {
        return;
    }
    fhir_http_date_format(t, sizeof(t), us);
    if (fhir_http_date_parse(t, &again) != 0 || again != us) {
        fuzz_fail("HTTP date '%s' is %lld, written '%s', read back %lld", s,
                  (long long)us, t, (long long)again);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256) {
        return 0; /* dates are short; longer inputs only slow the search */
    }
    char *s = fuzz_cstr(data, size);
    check_fhir(s);
    check_http(s);
    free(s);
    return 0;
}
