/* fhir/time.c - time as the server keeps it: UTC microseconds.
 *
 * FHIR dates carry their precision ("2024-03" means the whole month), so
 * a parsed date is the half-open UTC range it covers; search (a later
 * module) compares ranges, exactly as R4 search.html#date asks. HTTP dates
 * (Last-Modified, If-Modified-Since) are formatted and parsed here too.
 * No libc time-zone state is touched: calendar arithmetic is done by hand
 * so results never depend on TZ or locale.
 */
#include "fhir/fhir.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define US_PER_SEC 1000000LL

int64_t
fhir_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int
days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return (m == 2 && leap) ? 29 : dm[m - 1];
}

struct split {
    int64_t secs; /* seconds since the epoch */
    int us;
    int y, mo, d, h, mi, s, wday;
};

static void
split_us(struct split *t, int64_t us)
{
    int64_t secs = us / US_PER_SEC;
    int64_t rem = us % US_PER_SEC;
    if (rem < 0) {
        rem += US_PER_SEC;
        secs--;
    }
    int64_t days = secs / 86400;
    int64_t sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    t->secs = secs;
    t->us = (int)rem;
    civil_from_days(days, &t->y, &t->mo, &t->d);
    t->h = (int)(sod / 3600);
    t->mi = (int)(sod / 60 % 60);
    t->s = (int)(sod % 60);
    t->wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
}

void
fhir_instant_format(char *out, size_t cap, int64_t us)
{
    struct split t;
    split_us(&t, us);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", t.y, t.mo, t.d,
             t.h, t.mi, t.s, t.us);
}

static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed",
                                    "Thu", "Fri", "Sat"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void
fhir_http_date_format(char *out, size_t cap, int64_t us)
{
    struct split t;
    split_us(&t, us);
    snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[t.wday],
             t.d, months[t.mo - 1], t.y, t.h, t.mi, t.s);
}

static int
month_index(const char *name)
{
    for (int i = 0; i < 12; i++) {
        if (strncmp(name, months[i], 3) == 0) {
            return i + 1;
        }
    }
    return 0;
}

int
fhir_http_date_parse(const char *s, int64_t *out_us)
{
    char wd[16], mon[4];
    int d, y, h, mi, sec, n = 0;
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (sscanf(s, "%15[A-Za-z], %2d %3s %4d %2d:%2d:%2d GMT%n", wd, &d, mon, &y,
               &h, &mi, &sec, &n) == 7 &&
        n > 0) {
        goto have;
    }
    /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
    if (sscanf(s, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n", wd, &d, mon, &y,
               &h, &mi, &sec, &n) == 7 &&
        n > 0) {
        y += y < 70 ? 2000 : 1900;
        goto have;
    }
    /* asctime: Sun Nov  6 08:49:37 1994 */
    if (sscanf(s, "%15s %3s %d %2d:%2d:%2d %4d%n", wd, mon, &d, &h, &mi, &sec,
               &y, &n) == 7 &&
        n > 0) {
        goto have;
    }
    return -1;
have:
    mon[3] = '\0';
    int m = month_index(mon);
    if (s[n] != '\0' || m == 0 || d < 1 || d > days_in_month(y, m) || h < 0 ||
        h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60) {
        return -1;
    }
    *out_us = ((days_from_civil(y, m, d) * 86400) + h * 3600 + mi * 60 + sec) *
              US_PER_SEC;
    return 0;
}

/* Reads exactly `n` digits at *p; -1 when they are not all there. */
static int
digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) {
            return -1;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return v;
}

int
fhir_date_parse(fhir_date_range *out, const char *s, fhir_err *err)
{
    const char *p = s;
    int y, mo = 1, d = 1, h = 0, mi = 0, sec = 0, prec;
    int64_t frac_us = 0, span_us = 0;
    int64_t zone_s = 0;

    y = digits(&p, 4);
    if (y < 1) {
        goto bad;
    }
    prec = 1;
    if (*p == '-') {
        p++;
        mo = digits(&p, 2);
        if (mo < 1 || mo > 12) {
            goto bad;
        }
        prec = 2;
        if (*p == '-') {
            p++;
            d = digits(&p, 2);
            if (d < 1 || d > days_in_month(y, mo)) {
                goto bad;
            }
            prec = 3;
            if (*p == 'T') {
                p++;
                h = digits(&p, 2);
                if (h < 0 || h > 23 || *p != ':') {
                    goto bad;
                }
                p++;
                mi = digits(&p, 2);
                if (mi < 0 || mi > 59) {
                    goto bad;
                }
                prec = 4;
                if (*p == ':') {
                    p++;
                    sec = digits(&p, 2);
                    if (sec < 0 || sec > 60) {
                        goto bad;
                    }
                    prec = 5;
                    if (*p == '.') {
                        int nd = 0;
                        int64_t scale = US_PER_SEC;
                        p++;
                        while (isdigit((unsigned char)*p)) {
                            if (nd < 6) {
                                scale /= 10;
                                frac_us += (*p - '0') * scale;
                            }
                            nd++;
                            p++;
                        }
                        if (nd == 0) {
                            goto bad;
                        }
                        prec = 6;
                        span_us = scale; /* one unit of the last digit */
                    }
                }
                if (*p == 'Z') {
                    p++;
                } else if (*p == '+' || *p == '-') {
                    int sign = *p == '-' ? -1 : 1;
                    p++;
                    int zh = digits(&p, 2);
                    if (zh < 0 || zh > 14 || *p != ':') {
                        goto bad;
                    }
                    p++;
                    int zm = digits(&p, 2);
                    /* R4 allows offsets up to 13:59, and 14:00 itself. */
                    if (zm < 0 || zm > 59 || (zh == 14 && zm != 0)) {
                        goto bad;
                    }
                    zone_s = sign * (zh * 3600 + zm * 60);
                }
            }
        }
    }
    if (*p != '\0') {
        goto bad;
    }
    int64_t lo_s =
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - zone_s;
    out->lo = lo_s * US_PER_SEC + frac_us;
    out->precision = prec;
    switch (prec) {
    case 1:
        out->hi = (days_from_civil(y + 1, 1, 1) * 86400 - zone_s) * US_PER_SEC;
        break;
    case 2: {
        int ny = mo == 12 ? y + 1 : y, nm = mo == 12 ? 1 : mo + 1;
        out->hi = days_from_civil(ny, nm, 1) * 86400 * US_PER_SEC;
        break;
    }
    case 3:
        out->hi = out->lo + 86400 * US_PER_SEC;
        break;
    case 4:
        out->hi = out->lo + 60 * US_PER_SEC;
        break;
    case 5:
        out->hi = out->lo + US_PER_SEC;
        break;
    default:
        out->hi = out->lo + (span_us > 0 ? span_us : 1);
        break;
    }
    return 0;
bad:
    return fhir_err_set(err, FHIR_ISSUE_INVALID,
                        "'%.64s' is not a valid FHIR date, dateTime or "
                        "instant",
                        s);
}
