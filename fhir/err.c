/* fhir/err.c - the error type and the one table from issue to status.
 *
 * Lower modules only pick an OperationOutcome issue code; the HTTP status
 * it implies comes from here (R4 http.html and STYLE.md section 4), and
 * server/ may refine it (a version conflict becomes 412 under If-Match).
 */
#include "fhir/fhir.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *code;
    int status;
} issues[FHIR_ISSUE__COUNT] = {
    [FHIR_ISSUE_NONE] = {"informational", 0},
    [FHIR_ISSUE_INVALID] = {"invalid", 400},
    [FHIR_ISSUE_STRUCTURE] = {"structure", 400},
    [FHIR_ISSUE_REQUIRED] = {"required", 400},
    [FHIR_ISSUE_VALUE] = {"value", 400},
    [FHIR_ISSUE_INVARIANT] = {"invariant", 400},
    [FHIR_ISSUE_SECURITY] = {"security", 403},
    [FHIR_ISSUE_LOGIN] = {"login", 401},
    [FHIR_ISSUE_UNKNOWN] = {"unknown", 401},
    [FHIR_ISSUE_EXPIRED] = {"expired", 401},
    [FHIR_ISSUE_FORBIDDEN] = {"forbidden", 403},
    [FHIR_ISSUE_SUPPRESSED] = {"suppressed", 200},
    [FHIR_ISSUE_PROCESSING] = {"processing", 422},
    [FHIR_ISSUE_NOT_SUPPORTED] = {"not-supported", 400},
    [FHIR_ISSUE_DUPLICATE] = {"duplicate", 409},
    [FHIR_ISSUE_MULTIPLE_MATCHES] = {"multiple-matches", 412},
    [FHIR_ISSUE_NOT_FOUND] = {"not-found", 404},
    [FHIR_ISSUE_DELETED] = {"deleted", 410},
    [FHIR_ISSUE_TOO_LONG] = {"too-long", 413},
    [FHIR_ISSUE_CODE_INVALID] = {"code-invalid", 400},
    [FHIR_ISSUE_EXTENSION] = {"extension", 400},
    [FHIR_ISSUE_TOO_COSTLY] = {"too-costly", 400},
    [FHIR_ISSUE_BUSINESS_RULE] = {"business-rule", 422},
    [FHIR_ISSUE_CONFLICT] = {"conflict", 409},
    [FHIR_ISSUE_TRANSIENT] = {"transient", 503},
    [FHIR_ISSUE_LOCK_ERROR] = {"lock-error", 503},
    [FHIR_ISSUE_NO_STORE] = {"no-store", 503},
    [FHIR_ISSUE_EXCEPTION] = {"exception", 500},
    [FHIR_ISSUE_TIMEOUT] = {"timeout", 503},
    [FHIR_ISSUE_INCOMPLETE] = {"incomplete", 200},
    [FHIR_ISSUE_THROTTLED] = {"throttled", 429},
    [FHIR_ISSUE_INFORMATIONAL] = {"informational", 200},
};

const char *
fhir_issue_code(fhir_issue issue)
{
    if ((int)issue < 0 || issue >= FHIR_ISSUE__COUNT) {
        return "exception";
    }
    return issues[issue].code;
}

int
fhir_issue_status(fhir_issue issue)
{
    if ((int)issue < 0 || issue >= FHIR_ISSUE__COUNT) {
        return 500;
    }
    return issues[issue].status;
}

static int
err_vset(fhir_err *err, fhir_issue issue, const char *expr, const char *fmt,
         va_list ap)
{
    if (err == NULL || err->issue != FHIR_ISSUE_NONE) {
        return -1;
    }
    err->issue = issue;
    err->status = fhir_issue_status(issue);
    vsnprintf(err->diag, sizeof(err->diag), fmt, ap);
    fhir_utf8_cut(err->diag);
    if (expr != NULL) {
        snprintf(err->expr, sizeof(err->expr), "%s", expr);
    } else {
        err->expr[0] = '\0';
    }
    return -1;
}

int
fhir_err_set(fhir_err *err, fhir_issue issue, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, issue, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

int
fhir_err_set_at(fhir_err *err, fhir_issue issue, const char *expr,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, issue, expr, fmt, ap);
    va_end(ap);
    return -1;
}

void
fhir_err_clear(fhir_err *err)
{
    memset(err, 0, sizeof(*err));
}
