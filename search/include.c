/* search/include.c - _include and _revinclude (R4 search.html#include):
 * parsing the parameters and the SQL that follows references from a page.
 *
 * The server runs these after the page of matches is chosen, in the same
 * read transaction: forward includes list the references the page's
 * resources hold through one parameter (idx_ref, by rid) and fetch the
 * live resources they name; reverse includes find the live resources of a
 * type whose parameter references one of the page's resources
 * (idx_ref_q, by value). :iterate repeats that on what was included.
 */
#include "search/search.h"
#include "search/search_int.h"

#include <string.h>

/* The reference parameter `code` of served type `from`; sets err. */
static const search_param *
ref_param(const search_registry *reg, int from, const char *code,
          const char *name, const char *value, fhir_err *err)
{
    int unsupported = 0;
    const search_param *p = search_param_find(reg, from, code, &unsupported);
    if (p == NULL || unsupported || p->type != SEARCH_TYPE_REFERENCE) {
        fhir_err_set_at(err, FHIR_ISSUE_INVALID, name,
                        "%s=%.100s: %s has no reference search parameter "
                        "'%.64s'",
                        name, value, fhir_type_name(from), code);
        return NULL;
    }
    return p;
}

int
search_param_targets(const search_param *p, int type)
{
    for (size_t i = 0; i < p->ntargets; i++) {
        if (strcmp(p->targets[i], fhir_type_name(type)) == 0) {
            return 1;
        }
    }
    return 0;
}

int
search_incl_parse(search_incl *out, size_t *n, size_t max,
                  const search_registry *reg, const char *name,
                  const char *value, fhir_err *err)
{
    int rev = strncmp(name, "_revinclude", 11) == 0;
    const char *mod = name + (rev ? 11 : 8);
    int iterate = 0;
    if (*mod == ':') {
        /* :recurse is the R3 name of :iterate. */
        if (strcmp(mod, ":iterate") != 0 && strcmp(mod, ":recurse") != 0) {
            return fhir_err_set_at(err, FHIR_ISSUE_INVALID, name,
                                   "'%.64s': the only modifier is :iterate",
                                   name);
        }
        iterate = 1;
    } else if (*mod != '\0') {
        return fhir_err_set_at(err, FHIR_ISSUE_INVALID, name,
                               "'%.64s' is not _include or _revinclude", name);
    }
    char src[64], code[64], target[64];
    src[0] = code[0] = target[0] = '\0';
    size_t len = strlen(value);
    const char *c1 = strchr(value, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (strcmp(value, "*") == 0) {
        /* Every reference parameter of every type (forward only). */
        if (rev) {
            return fhir_err_set_at(err, FHIR_ISSUE_NOT_SUPPORTED, name,
                                   "_revinclude=* is not supported; name the "
                                   "parameter (Task:part-of)");
        }
        for (int t = 0; t < fhir_type_count(); t++) {
            for (size_t i = 0; i < reg->ncodes[t]; i++) {
                const search_param *p = &reg->params[reg->codes[t][i].param];
                if (p->type != SEARCH_TYPE_REFERENCE || p->unsupported ||
                    p->builtin != SEARCH_BUILTIN_NONE) {
                    continue;
                }
                if (*n == max) {
                    return fhir_err_set_at(err, FHIR_ISSUE_TOO_COSTLY, name,
                                           "Too many _include parameters");
                }
                out[(*n)++] = (search_incl){p, t, -1, 0, iterate};
            }
        }
        return 0;
    }
    if (c1 == NULL || (size_t)(c1 - value) >= sizeof(src) ||
        (size_t)((c2 ? c2 : value + len) - c1 - 1) >= sizeof(code) ||
        (c2 != NULL && strlen(c2 + 1) >= sizeof(target))) {
        return fhir_err_set_at(err, FHIR_ISSUE_INVALID, name,
                               "%s=%.100s: expected "
                               "SourceType:parameter[:TargetType]",
                               name, value);
    }
    memcpy(src, value, (size_t)(c1 - value));
    src[c1 - value] = '\0';
    size_t cl = (size_t)((c2 ? c2 : value + len) - c1 - 1);
    memcpy(code, c1 + 1, cl);
    code[cl] = '\0';
    if (c2 != NULL) {
        size_t tl = strlen(c2 + 1); /* checked above */
        memcpy(target, c2 + 1, tl);
        target[tl] = '\0';
    }
    int from = fhir_type_find(src);
    if (from < 0) {
        return fhir_err_set_at(err, FHIR_ISSUE_INVALID, name,
                               "%s=%.100s: '%.64s' is not a type served here",
                               name, value, src);
    }
    const search_param *p = ref_param(reg, from, code, name, value, err);
    if (p == NULL) {
        return -1;
    }
    int tt = -1;
    if (target[0] != '\0') {
        tt = fhir_type_find(target);
        if (tt < 0 || !search_param_targets(p, tt)) {
            return fhir_err_set_at(err, FHIR_ISSUE_INVALID, name,
                                   "%s=%.100s: %s:%s cannot refer to "
                                   "'%.64s'",
                                   name, value, src, code, target);
        }
    }
    if (*n == max) {
        return fhir_err_set_at(err, FHIR_ISSUE_TOO_COSTLY, name,
                               "Too many _include and _revinclude "
                               "parameters");
    }
    out[(*n)++] = (search_incl){p, from, tt, rev, iterate};
    return 0;
}

/* Fills list with v[] as a JSON array of strings. */
static void
list_strs(fhir_buf *list, const char *const *v, size_t n)
{
    list->len = 0;
    fhir_buf_putc(list, '[');
    for (size_t i = 0; i < n; i++) {
        fhir_buf_puts(list, i ? "," : "");
        fhir_buf_putc(list, '"');
        fhir_json_put_chars(list, v[i]);
        fhir_buf_putc(list, '"');
    }
    fhir_buf_putc(list, ']');
}

/* Binds list (filled first) as the one
 * parameter of "IN (SELECT value FROM json_each(?))". */
static void
list_bind(fhir_sql *out, const fhir_buf *list)
{
    fhir_sql_add(out, "(SELECT value FROM json_each(");
    fhir_sql_text(out, list->data, list->len);
    fhir_sql_add(out, "))");
}

void
search_incl_refs_sql(fhir_sql *out, fhir_buf *list, const search_incl *in,
                     const int64_t *rids, size_t n)
{
    list->len = 0;
    fhir_buf_putc(list, '[');
    for (size_t i = 0; i < n; i++) {
        fhir_buf_printf(list, i ? ",%lld" : "%lld", (long long)rids[i]);
    }
    fhir_buf_putc(list, ']');
    /* The page's rids are the way in, each one primary-key range
     * (rid, param); CROSS JOIN keeps SQLite from walking every row of the
     * parameter (idx_ref_q) instead, which it may pick without
     * statistics. */
    fhir_sql_add(out, "SELECT DISTINCT t.ref FROM json_each(");
    fhir_sql_text(out, list->data, list->len);
    fhir_sql_add(out, ") j CROSS JOIN idx_ref t ON t.rid = j.value "
                      "AND t.param = ");
    fhir_sql_int(out, in->param->num);
}

void
search_incl_fetch_sql(fhir_sql *out, fhir_buf *list, int tcode,
                      const char *const *ids, size_t n)
{
    list_strs(list, ids, n);
    /* Each id one lookup in resource's (type, id) index. */
    fhir_sql_add(out, "SELECT r.rid, r.type, r.id, h.body FROM json_each(");
    fhir_sql_text(out, list->data, list->len);
    fhir_sql_add(out, ") j CROSS JOIN resource r ON r.type = ");
    fhir_sql_int(out, tcode);
    fhir_sql_add(out, " AND r.id = j.value JOIN history h ON h.hid = r.hid "
                      "WHERE r.deleted = 0");
}

void
search_incl_rev_sql(fhir_sql *out, fhir_buf *list, const search_incl *in,
                    int from_code, const char *const *refs, size_t n,
                    int64_t limit)
{
    list_strs(list, refs, n);
    /* The referring rids are deduplicated alone (a resource may point at
     * two of refs): DISTINCT over whole rows built a temporary b-tree of
     * bodies, a megabyte for a tree of 1,000 Tasks, that spilled to a
     * temporary file. idx_ref_q serves the subquery by (param, ref);
     * each rid is then one primary-key lookup. */
    fhir_sql_add(out, "SELECT r.rid, r.type, r.id, h.body FROM resource r "
                      "JOIN history h ON h.hid = r.hid WHERE r.rid IN "
                      "(SELECT t.rid FROM idx_ref t WHERE t.param = ");
    fhir_sql_int(out, in->param->num);
    fhir_sql_add(out, " AND t.ref IN ");
    list_bind(out, list);
    fhir_sql_add(out, ") AND r.deleted = 0 AND +r.type = ");
    fhir_sql_int(out, from_code);
    fhir_sql_add(out, " LIMIT ");
    fhir_sql_int(out, limit);
}
