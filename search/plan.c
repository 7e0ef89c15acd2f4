/* search/plan.c - from a search's query parameters to SQL.
 *
 * Parsing checks every parameter against the registry and turns it into a
 * condition (parameter, modifier, ORed values) following R4 search.html:
 * token [system]|[code] with :not :missing :text :of-type; string
 * starts-with (case- and accent-insensitive) with :exact :contains; date
 * prefixes eq ne gt lt ge le sa eb ap over ranges; reference Type/id, id,
 * absolute URL, :Type, :identifier; uri with :below :above; the escapes
 * \, \| \$ \\. Conditions on the same parameter given twice are ANDed.
 * A chained parameter (owner:Practitioner.name, up to SEARCH_MAX_CHAIN
 * references deep; without :Type every served target defining the
 * parameter) and _has:Type:ref:param (nested up to SEARCH_MAX_HAS) are
 * conditions whose hops hold an ordinary condition on the resources they
 * lead to, parsed and turned into SQL by the same code one level down.
 *
 * SQL is assembled from constant fragments; every request value is a bound
 * value. One condition - the most selective by the counts the store keeps
 * - drives the query; the others filter each candidate by its rid, which
 * is one primary-key lookup in the rid-first index tables. A chain or
 * _has filters as a correlated EXISTS (level n's aliases are r<n>, t<n>,
 * x<n>): a chain step reads the candidate's reference rows (by rid) and
 * looks each target up by resource's (type, id) index; a _has step finds
 * the referring rows by ("Type/" || id) in idx_ref's value index. When
 * the condition at its end is indexed it can also drive, the other way
 * round: from that condition's rows through the references to the
 * resources searched. No counts are kept of what references lead to, so
 * it is estimated by a bounded probe (only when another condition could
 * drive instead), never gives an exact total, and the in-memory sets
 * leave it to SQL.
 */
#include "search/search.h"
#include "search/search_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEARCH_MAX_VALUES 100 /* ORed values in one parameter */
#define SEARCH_MAX_CONDS 64   /* ANDed conditions in one search */
#define ESTIMATE_PROBE 10000  /* bounded counting of uncounted conditions */
#define SEARCH_MAX_CHAIN 3    /* references one chained parameter follows */
#define SEARCH_MAX_HAS 3      /* _has nested in one parameter */

/* ---- values --------------------------------------------------------- */

/* Splits s at unescaped `sep`; pieces keep their escapes. */
static size_t
split(const char **out, size_t max, fhir_arena *a, const char *s, char sep)
{
    size_t n = 0;
    const char *start = s;
    for (const char *p = s;; p++) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
            continue;
        }
        if (*p == sep || *p == '\0') {
            if (n == max) {
                return max + 1;
            }
            out[n++] = fhir_arena_strndup(a, start, (size_t)(p - start));
            if (*p == '\0') {
                break;
            }
            start = p + 1;
        }
    }
    return n;
}

/* Removes the escapes \, \| \$ \\ (R4 search.html#escaping). */
static const char *
unescape(fhir_arena *a, const char *s)
{
    char *out = fhir_arena_alloc(a, strlen(s) + 1), *q = out;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\\' &&
            (p[1] == ',' || p[1] == '|' || p[1] == '$' || p[1] == '\\')) {
            p++;
        }
        *q++ = *p;
    }
    *q = '\0';
    return out;
}

static const char *
normalize(fhir_arena *a, const char *s)
{
    fhir_buf b = FHIR_BUF_INIT;
    fhir_str_normalize(&b, s);
    const char *out = fhir_arena_strndup(a, b.data ? b.data : "", b.len);
    fhir_buf_clear(&b);
    return out;
}

static int
bad_value(fhir_err *err, const char *name, const char *value, const char *what)
{
    return fhir_err_set_at(err, FHIR_ISSUE_INVALID, name,
                           "Search parameter '%.64s': '%.80s' is %s", name,
                           value, what);
}

static int
parse_token(search_value *v, fhir_arena *a, const char *raw)
{
    const char *parts[3];
    size_t n = split(parts, 2, a, raw, '|');
    if (n == 1) {
        v->sys = NULL;
        v->code = unescape(a, parts[0]);
    } else if (n == 2) {
        v->sys = unescape(a, parts[0]);
        v->code = parts[1][0] != '\0' ? unescape(a, parts[1]) : NULL;
        if (v->code == NULL && v->sys[0] == '\0') {
            return -1; /* "|" alone */
        }
    } else {
        return -1;
    }
    return v->code != NULL && v->code[0] == '\0' ? -1 : 0;
}

static const struct {
    const char *text;
    search_prefix p;
} prefixes[] = {
    {"eq", SEARCH_PFX_EQ}, {"ne", SEARCH_PFX_NE}, {"gt", SEARCH_PFX_GT},
    {"lt", SEARCH_PFX_LT}, {"ge", SEARCH_PFX_GE}, {"le", SEARCH_PFX_LE},
    {"sa", SEARCH_PFX_SA}, {"eb", SEARCH_PFX_EB}, {"ap", SEARCH_PFX_AP}};

static int
parse_date(search_value *v, const char *raw, fhir_err *err, const char *name)
{
    fhir_date_range d;
    fhir_err inner = FHIR_ERR_INIT;
    v->prefix = SEARCH_PFX_EQ;
    if (isalpha((unsigned char)raw[0])) {
        size_t k;
        for (k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
            if (strncmp(raw, prefixes[k].text, 2) == 0) {
                v->prefix = prefixes[k].p;
                raw += 2;
                break;
            }
        }
        if (k == sizeof(prefixes) / sizeof(prefixes[0])) {
            return bad_value(err, name, raw,
                             "not a date with a known prefix (eq ne gt lt "
                             "ge le sa eb ap)");
        }
    }
    if (fhir_date_parse(&d, raw, &inner) != 0) {
        return bad_value(err, name, raw, "not a valid date or dateTime");
    }
    v->lo = d.lo;
    v->hi = d.hi;
    return 0;
}

/* Reference forms: Type/id, id, absolute URL on this server (made
 * relative), other URLs as they are. */
static int
parse_ref(search_value *v, const search_plan *pl, const search_cond *c,
          const char *type_mod, const char *raw)
{
    fhir_arena *a = pl->a;
    const char *s = unescape(a, raw);
    const char *local = search__ref_local(pl->reg, s, a);
    const char *url = NULL;
    fhir_ref ref;
    const char *base = pl->opts.base;
    size_t bl = base ? strlen(base) : 0;
    if (local != NULL) {
        s = local; /* a base indexing knows: rows hold Type/id */
    } else if (bl > 0 && strncmp(s, base, bl) == 0 && s[bl] == '/') {
        /* This server by the request's Host only, which indexing cannot
         * know: rows may hold the URL as written. */
        url = s;
        s += bl + 1;
    }
    switch (fhir_ref_parse(&ref, s)) {
    case FHIR_REF_RELATIVE:
        if (type_mod != NULL && strcmp(type_mod, ref.type) != 0) {
            return -1;
        }
        v->code = fhir_arena_path(a, ref.type, ref.id);
        if (url != NULL) {
            v->alts = fhir_arena_alloc(a, 2 * sizeof(char *));
            v->alts[0] = v->code;
            v->alts[1] = url;
            v->nalts = 2;
        }
        return 0;
    case FHIR_REF_ABSOLUTE:
    case FHIR_REF_URL:
        v->code = s;
        return 0;
    default:
        break;
    }
    if (!fhir_id_valid(s)) {
        return -1;
    }
    if (type_mod != NULL) {
        v->code = fhir_arena_path(a, type_mod, s);
        return 0;
    }
    /* A bare id: any of the parameter's target types. */
    const struct search_param *p = c->param;
    v->alts = fhir_arena_alloc(a, (p->ntargets + 1) * sizeof(char *));
    for (size_t i = 0; i < p->ntargets; i++) {
        v->alts[v->nalts++] = fhir_arena_path(a, p->targets[i], s);
    }
    if (v->nalts == 0) {
        return -1;
    }
    v->code = v->alts[0];
    return 0;
}

/* ---- parameters ----------------------------------------------------- */

static const struct {
    const char *name;
    search_mod mod;
} modifiers[] = {
    {"missing", SEARCH_MOD_MISSING},
    {"not", SEARCH_MOD_NOT},
    {"text", SEARCH_MOD_TEXT},
    {"exact", SEARCH_MOD_EXACT},
    {"contains", SEARCH_MOD_CONTAINS},
    {"of-type", SEARCH_MOD_OF_TYPE},
    {"identifier", SEARCH_MOD_IDENTIFIER},
    {"below", SEARCH_MOD_BELOW},
    {"above", SEARCH_MOD_ABOVE},
};

/* 1 when modifier m is meaningful for parameters of type t. */
static int
mod_allowed(search_mod m, search_type t)
{
    switch (m) {
    case SEARCH_MOD_NONE:
    case SEARCH_MOD_MISSING:
        return 1;
    case SEARCH_MOD_NOT:
    case SEARCH_MOD_TEXT:
    case SEARCH_MOD_OF_TYPE:
        return t == SEARCH_TYPE_TOKEN;
    case SEARCH_MOD_EXACT:
    case SEARCH_MOD_CONTAINS:
        return t == SEARCH_TYPE_STRING;
    case SEARCH_MOD_IDENTIFIER:
    case SEARCH_MOD_TYPE:
        return t == SEARCH_TYPE_REFERENCE;
    case SEARCH_MOD_BELOW:
    case SEARCH_MOD_ABOVE:
        return t == SEARCH_TYPE_URI;
    }
    return 0;
}

static void
warn(search_plan *pl, const char *fmt, const char *a1, const char *a2)
{
    const char **w =
        fhir_arena_alloc(pl->a, (pl->nwarnings + 1) * sizeof(char *));
    if (pl->nwarnings > 0) {
        memcpy(w, pl->warnings, pl->nwarnings * sizeof(char *));
    }
    w[pl->nwarnings++] = fhir_arena_printf(pl->a, fmt, a1, a2 ? a2 : "");
    pl->warnings = w;
}

/* An unknown or unsupported parameter: 400 under strict, else a warning. */
static int
ignored(search_plan *pl, const char *name, const char *why, fhir_err *err)
{
    if (pl->opts.strict) {
        return fhir_err_set_at(err, FHIR_ISSUE_NOT_SUPPORTED, name,
                               "Search parameter '%.64s' %s", name, why);
    }
    warn(pl, "Search parameter '%s' was ignored: %s", name, why);
    return 0;
}

/* ignored() for a condition: 1 (nothing to add) unless it failed. */
static int
skip(search_plan *pl, const char *name, const char *why, fhir_err *err)
{
    return ignored(pl, name, why, err) != 0 ? -1 : 1;
}

/* The parameter `code` of served types types[0 .. n): it must be the
 * same parameter for each (a system search only takes common ones). */
static const struct search_param *
find_common(const search_plan *pl, const int *types, size_t n, const char *code,
            int *unsupported)
{
    const struct search_param *p =
        search_param_find(pl->reg, types[0], code, unsupported);
    for (size_t i = 1; p != NULL && i < n; i++) {
        if (!search_param_applies(p, types[i])) {
            return NULL;
        }
    }
    return p;
}

/* 1 when reference parameter p may refer to resources of type `name`. */
static int
refers_to(const struct search_param *p, const char *name)
{
    for (size_t i = 0; i < p->ntargets; i++) {
        if (strcmp(p->targets[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

static int parse_cond(search_plan *pl, search_cond *c, const int *types,
                      size_t ntypes, const char *full, const char *name,
                      const char *value, int chains, int hases, fhir_err *err);

/* Keeps in cand the served targets of a chain through p that define
 * parameter `next` and returns their number, or -1 when it has different
 * types in them (R4 search.html#chaining: the client must then name the
 * type). */
static int
chain_targets(int *cand, size_t ncand, search_plan *pl, const char *full,
              const struct search_param *p, const char *next, fhir_err *err)
{
    const struct search_param *first = NULL;
    int first_type = -1;
    size_t keep = 0;
    for (size_t i = 0; i < ncand; i++) {
        int unsupported = 0;
        const struct search_param *q =
            search_param_find(pl->reg, cand[i], next, &unsupported);
        if (q == NULL || unsupported) {
            continue;
        }
        if (first != NULL && q->type != first->type) {
            return fhir_err_set_at(
                err, FHIR_ISSUE_INVALID, full,
                "Search parameter '%.64s': '%.32s' of %s and of %s have "
                "different types; name the target ('%.32s:%s.%.32s')",
                full, next, fhir_type_name(first_type), fhir_type_name(cand[i]),
                p->code, fhir_type_name(cand[i]), next);
        }
        if (first == NULL) {
            first = q;
            first_type = cand[i];
        }
        cand[keep++] = cand[i];
    }
    return (int)keep;
}

/* A chained parameter (R4 search.html#chaining): `link` is a reference
 * parameter of `type`, maybe with :Type, and `rest` the parameter of the
 * resources its references name (itself maybe chained). Without :Type
 * every served target defining that parameter is searched. */
static int
parse_chain(search_plan *pl, search_cond *c, int type, const char *full,
            const char *link, const char *rest, const char *value, int chains,
            int hases, fhir_err *err)
{
    fhir_arena *a = pl->a;
    char *code = fhir_arena_strdup(a, link);
    char *colon = strchr(code, ':');
    const char *tmod = NULL;
    int unsupported = 0, cand[SEARCH_MAX_TYPES];
    size_t ncand = 0;

    if (colon != NULL) {
        *colon = '\0';
        tmod = colon + 1;
    }
    if (chains == SEARCH_MAX_CHAIN) {
        return fhir_err_set_at(err, FHIR_ISSUE_TOO_COSTLY, full,
                               "Search parameter '%.64s' chains more than "
                               "%d references",
                               full, SEARCH_MAX_CHAIN);
    }
    if (rest[0] == '\0' || code[0] == '\0') {
        return fhir_err_set_at(err, FHIR_ISSUE_INVALID, full,
                               "Search parameter '%.64s' is not a chain "
                               "(reference[:Type].parameter)",
                               full);
    }
    const struct search_param *p =
        search_param_find(pl->reg, type, code, &unsupported);
    if (p == NULL) {
        return skip(pl, full,
                    fhir_arena_printf(a,
                                      "chains '%s', which is not defined "
                                      "for %s",
                                      code, fhir_type_name(type)),
                    err);
    }
    if (unsupported) {
        return skip(pl, full,
                    fhir_arena_printf(a, "is not supported: %s", p->why), err);
    }
    if (p->type != SEARCH_TYPE_REFERENCE) {
        return fhir_err_set_at(err, FHIR_ISSUE_INVALID, full,
                               "Search parameter '%.64s': '%.32s' is not a "
                               "reference parameter, so it cannot be "
                               "chained",
                               full, code);
    }
    if (tmod != NULL) {
        if (!refers_to(p, tmod)) {
            return fhir_err_set_at(err, FHIR_ISSUE_INVALID, full,
                                   "Search parameter '%.64s': '%.32s' does "
                                   "not refer to '%.32s'",
                                   full, code, tmod);
        }
        cand[ncand] = fhir_type_find(tmod);
        if (cand[ncand] < 0) {
            return skip(pl, full,
                        fhir_arena_printf(a,
                                          "chains to %s, which this "
                                          "server does not serve",
                                          tmod),
                        err);
        }
        ncand++;
    } else {
        for (int t = 0; t < fhir_type_count() && ncand < SEARCH_MAX_TYPES;
             t++) {
            if (refers_to(p, fhir_type_name(t))) {
                cand[ncand++] = t;
            }
        }
        if (ncand == 0) {
            return skip(pl, full,
                        fhir_arena_printf(a,
                                          "chains '%s', whose targets "
                                          "this server does not serve",
                                          code),
                        err);
        }
        char *next = fhir_arena_strdup(a, rest);
        next[strcspn(next, ".:")] = '\0';
        int n = chain_targets(cand, ncand, pl, full, p, next, err);
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            return skip(pl, full,
                        fhir_arena_printf(a,
                                          "chains to '%s', which no type "
                                          "'%s' refers to defines",
                                          next, code),
                        err);
        }
        ncand = (size_t)n;
    }
    c->param = p;
    c->link = SEARCH_LINK_CHAIN;
    c->hops = fhir_arena_alloc(a, ncand * sizeof(*c->hops));
    for (size_t i = 0; i < ncand; i++) {
        search_hop *h = &c->hops[c->nhops];
        h->type = cand[i];
        h->ref_type = cand[i];
        h->prefix = fhir_arena_printf(a, "%s/", fhir_type_name(cand[i]));
        h->inner = fhir_arena_alloc(a, sizeof(*h->inner));
        int rc = parse_cond(pl, h->inner, &cand[i], 1, full, rest, value,
                            chains + 1, hases, err);
        if (rc != 0) {
            return rc; /* a failure, or ignored: then the whole chain */
        }
        c->nhops++;
    }
    return 0;
}

/* _has:Type:ref:rest (R4 search.html#has): resources of `type` that a
 * resource of Type refers to by its reference parameter ref, where that
 * resource satisfies rest (itself maybe a _has, or chained). */
static int
parse_has(search_plan *pl, search_cond *c, int type, const char *full,
          const char *name, const char *value, int chains, int hases,
          fhir_err *err)
{
    fhir_arena *a = pl->a;
    char *tname = fhir_arena_strdup(a, name + 4);
    char *c1 = NULL, *c2 = NULL;
    int unsupported = 0;

    if (hases == SEARCH_MAX_HAS) {
        return fhir_err_set_at(err, FHIR_ISSUE_TOO_COSTLY, full,
                               "Search parameter '%.64s' nests _has more "
                               "than %d deep",
                               full, SEARCH_MAX_HAS);
    }
    if (tname[0] == ':') {
        tname++;
        c1 = strchr(tname, ':');
        c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    }
    if (c1 == NULL || c2 == NULL || c1 == tname || c2 == c1 + 1 ||
        c2[1] == '\0') {
        return fhir_err_set_at(err, FHIR_ISSUE_INVALID, full,
                               "Search parameter '%.64s' is not "
                               "_has:Type:reference:parameter",
                               full);
    }
    *c1 = '\0';
    *c2 = '\0';
    const char *code = c1 + 1, *rest = c2 + 1;
    int t = fhir_type_find(tname);
    if (t < 0) {
        return skip(pl, full,
                    fhir_arena_printf(a,
                                      "asks for %s resources, which this "
                                      "server does not serve",
                                      tname),
                    err);
    }
    const struct search_param *p =
        search_param_find(pl->reg, t, code, &unsupported);
    if (p == NULL || unsupported || p->type != SEARCH_TYPE_REFERENCE ||
        !refers_to(p, fhir_type_name(type))) {
        return fhir_err_set_at(err, FHIR_ISSUE_INVALID, full,
                               "Search parameter '%.64s': '%.32s' is not a "
                               "reference parameter of %s that can refer "
                               "to %s",
                               full, code, tname, fhir_type_name(type));
    }
    c->param = p;
    c->link = SEARCH_LINK_HAS;
    c->hops = fhir_arena_alloc(a, sizeof(*c->hops));
    c->hops[0].type = t;
    c->hops[0].ref_type = type;
    c->hops[0].prefix = fhir_arena_printf(a, "%s/", fhir_type_name(type));
    c->hops[0].inner = fhir_arena_alloc(a, sizeof(*c->hops[0].inner));
    int rc = parse_cond(pl, c->hops[0].inner, &t, 1, full, rest, value, chains,
                        hases + 1, err);
    if (rc == 0) {
        c->nhops = 1;
    }
    return rc;
}

/* Parses parameter `name` (the part of `full`, the parameter as given,
 * that applies to types[0 .. ntypes)) with `value` into *c. chains and
 * hases count the chain links and _has it is nested in. Returns 0, 1
 * when it is ignored (a warning is kept), or -1 (err set, naming full). */
static int
parse_cond(search_plan *pl, search_cond *c, const int *types, size_t ntypes,
           const char *full, const char *name, const char *value, int chains,
           int hases, fhir_err *err)
{
    fhir_arena *a = pl->a;
    const char *modname = NULL;
    search_mod mod = SEARCH_MOD_NONE;
    const char *type_mod = NULL;
    int unsupported = 0;
    int has =
        strncmp(name, "_has", 4) == 0 && (name[4] == ':' || name[4] == '\0');
    const char *dot = has ? NULL : strchr(name, '.');

    memset(c, 0, sizeof(*c));
    c->estimate = -1;
    if ((has || dot != NULL) && ntypes > 1) {
        return skip(pl, full,
                    "uses chaining or _has, which this server supports in "
                    "searches of one type only",
                    err);
    }
    if (has) {
        return parse_has(pl, c, types[0], full, name, value, chains, hases,
                         err);
    }
    if (dot != NULL) {
        return parse_chain(pl, c, types[0], full,
                           fhir_arena_strndup(a, name, (size_t)(dot - name)),
                           dot + 1, value, chains, hases, err);
    }
    char *code = fhir_arena_strdup(a, name);
    char *colon = strchr(code, ':');
    if (colon != NULL) {
        *colon = '\0';
        modname = colon + 1;
    }
    const struct search_param *p =
        find_common(pl, types, ntypes, code, &unsupported);
    if (p == NULL && code[0] == '_') {
        /* _include, _revinclude, _contained, _list, ... */
        return skip(pl, full, "is not supported by this server yet", err);
    }
    if (p == NULL) {
        return skip(pl, full,
                    fhir_arena_printf(a, "is not defined for %s%s",
                                      fhir_type_name(types[0]),
                                      ntypes > 1 ? " and the other types" : ""),
                    err);
    }
    if (unsupported) {
        return skip(pl, full,
                    fhir_arena_printf(a, "is not supported: %s", p->why), err);
    }
    if (modname != NULL) {
        size_t k;
        for (k = 0; k < sizeof(modifiers) / sizeof(modifiers[0]); k++) {
            if (strcmp(modname, modifiers[k].name) == 0) {
                mod = modifiers[k].mod;
                break;
            }
        }
        if (k == sizeof(modifiers) / sizeof(modifiers[0]) &&
            p->type == SEARCH_TYPE_REFERENCE &&
            isupper((unsigned char)modname[0])) {
            mod = SEARCH_MOD_TYPE;
            type_mod = modname;
        } else if (k == sizeof(modifiers) / sizeof(modifiers[0])) {
            return fhir_err_set_at(err, FHIR_ISSUE_INVALID, full,
                                   "Search parameter '%.64s': unknown "
                                   "modifier ':%.32s'",
                                   full, modname);
        }
        if (!mod_allowed(mod, p->type) ||
            (p->builtin != SEARCH_BUILTIN_NONE && mod != SEARCH_MOD_MISSING &&
             mod != SEARCH_MOD_NOT)) {
            return fhir_err_set_at(err, FHIR_ISSUE_INVALID, full,
                                   "Search parameter '%.64s': modifier "
                                   "':%.32s' does not apply to it",
                                   full, modname);
        }
    }
    c->param = p;
    c->mod = mod;
    if (mod == SEARCH_MOD_MISSING) {
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
            return bad_value(err, full, value, "not true or false");
        }
        if (p->builtin != SEARCH_BUILTIN_NONE) {
            return fhir_err_set_at(err, FHIR_ISSUE_INVALID, full,
                                   "'%.64s' is always present", code);
        }
        c->missing = strcmp(value, "true") == 0;
        return 0;
    }
    const char *raw[SEARCH_MAX_VALUES];
    size_t n = split(raw, SEARCH_MAX_VALUES, a, value, ',');
    if (n > SEARCH_MAX_VALUES) {
        return fhir_err_set_at(err, FHIR_ISSUE_TOO_COSTLY, full,
                               "Search parameter '%.64s' has more than %d "
                               "values",
                               full, SEARCH_MAX_VALUES);
    }
    c->vals = fhir_arena_alloc(a, n * sizeof(*c->vals));
    for (size_t i = 0; i < n; i++) {
        search_value *v = &c->vals[i];
        if (raw[i][0] == '\0') {
            return bad_value(err, full, value, "empty");
        }
        if (p->builtin == SEARCH_BUILTIN_ID) {
            v->code = unescape(a, raw[i]);
            continue;
        }
        if (p->builtin == SEARCH_BUILTIN_LASTUPDATED) {
            if (parse_date(v, raw[i], err, full) != 0) {
                return -1;
            }
            continue;
        }
        switch (p->type) {
        case SEARCH_TYPE_TOKEN:
            if (mod == SEARCH_MOD_TEXT) {
                v->code = normalize(a, unescape(a, raw[i]));
            } else if (mod == SEARCH_MOD_OF_TYPE) {
                const char *parts[4];
                if (split(parts, 3, a, raw[i], '|') != 3 ||
                    parts[1][0] == '\0' || parts[2][0] == '\0') {
                    return bad_value(err, full, raw[i],
                                     "not system|code|value");
                }
                v->sys =
                    fhir_arena_printf(a, "\x01%s|%s", unescape(a, parts[0]),
                                      unescape(a, parts[1]));
                v->code = unescape(a, parts[2]);
            } else if (parse_token(v, a, raw[i]) != 0) {
                return bad_value(err, full, raw[i],
                                 "not a token ([system]|[code])");
            }
            break;
        case SEARCH_TYPE_STRING:
            v->code = mod == SEARCH_MOD_EXACT
                          ? unescape(a, raw[i])
                          : normalize(a, unescape(a, raw[i]));
            if (v->code[0] == '\0') {
                return bad_value(err, full, raw[i], "empty");
            }
            break;
        case SEARCH_TYPE_DATE:
            if (parse_date(v, raw[i], err, full) != 0) {
                return -1;
            }
            break;
        case SEARCH_TYPE_REFERENCE:
            if (mod == SEARCH_MOD_IDENTIFIER) {
                if (parse_token(v, a, raw[i]) != 0 || v->code == NULL) {
                    return bad_value(err, full, raw[i],
                                     "not an identifier (system|value)");
                }
            } else if (parse_ref(v, pl, c, type_mod, raw[i]) != 0) {
                return bad_value(err, full, raw[i],
                                 "not a reference (Type/id, id or URL)");
            }
            break;
        case SEARCH_TYPE_URI:
            v->code = unescape(a, raw[i]);
            break;
        default:
            return skip(pl, full, "has a type this server does not search",
                        err);
        }
    }
    c->nvals = n;
    return 0;
}

static int
parse_condition(search_plan *pl, const char *name, const char *value,
                fhir_err *err)
{
    search_cond c;
    int rc = parse_cond(pl, &c, pl->opts.types, pl->opts.ntypes, name, name,
                        value, 0, 0, err);
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }
    if (pl->nconds == SEARCH_MAX_CONDS) {
        return fhir_err_set(err, FHIR_ISSUE_TOO_COSTLY,
                            "More than %d search parameters", SEARCH_MAX_CONDS);
    }
    pl->conds[pl->nconds++] = c;
    return 0;
}

static int
parse_sort(search_plan *pl, const char *value, fhir_err *err)
{
    const char *keys[SEARCH_MAX_SORT + 1];
    size_t n = split(keys, SEARCH_MAX_SORT, pl->a, value, ',');
    if (n > SEARCH_MAX_SORT) {
        return fhir_err_set_at(err, FHIR_ISSUE_TOO_COSTLY, "_sort",
                               "_sort has more than %d keys", SEARCH_MAX_SORT);
    }
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i];
        int desc = k[0] == '-';
        int unsupported = 0;
        const struct search_param *p = find_common(
            pl, pl->opts.types, pl->opts.ntypes, k + desc, &unsupported);
        if (p == NULL || unsupported) {
            return fhir_err_set_at(err, FHIR_ISSUE_INVALID, "_sort",
                                   "_sort: '%.64s' is not a search parameter "
                                   "of %s that can be sorted on",
                                   k + desc, fhir_type_name(pl->type));
        }
        pl->sort[pl->nsort].param = p;
        pl->sort[pl->nsort].desc = desc;
        pl->nsort++;
    }
    return 0;
}

/* _cursor: "[b]k1.k2...rid.sT" with each key i<int>, t<hex> or n (null),
 * and T the snapshot the search is answered at. */
static int
parse_cursor(search_plan *pl, const char *value, fhir_err *err)
{
    /* "b..." pages backwards: the rows before the cursor. */
    if (value[0] == 'b') {
        pl->cursor_before = 1;
        value++;
    }
    const char *parts[2 * SEARCH_MAX_SORT + 3];
    size_t n = split(parts, 2 * SEARCH_MAX_SORT + 2, pl->a, value, '.');
    char *end = NULL;
    if (n < 2 || n > 2 * SEARCH_MAX_SORT + 2 || n - 2 != 2 * pl->nsort ||
        parts[n - 1][0] != 's') {
        goto bad;
    }
    errno = 0;
    pl->snapshot = strtoll(parts[n - 1] + 1, &end, 10);
    if (errno != 0 || *end != '\0' || pl->snapshot <= 0) {
        goto bad;
    }
    n--; /* the snapshot is read; the rest is keys and rid */
    pl->cursor_keys = fhir_arena_alloc(pl->a, n * sizeof(fhir_sqlval));
    for (size_t i = 0; i + 1 < n; i++) {
        const char *s = parts[i];
        fhir_sqlval *v = &pl->cursor_keys[i];
        if (s[0] == 'n' && s[1] == '\0') {
            v->is_text = 1;
            v->s = NULL;
        } else if (s[0] == 'i') {
            errno = 0;
            v->i = strtoll(s + 1, &end, 10);
            if (errno != 0 || end == s + 1 || *end != '\0') {
                goto bad;
            }
        } else if (s[0] == 't' && strlen(s + 1) % 2 == 0) {
            size_t len = strlen(s + 1) / 2;
            char *t = fhir_arena_alloc(pl->a, len + 1);
            for (size_t k = 0; k < len; k++) {
                unsigned hi, lo;
                if (sscanf(s + 1 + 2 * k, "%1x%1x", &hi, &lo) != 2) {
                    goto bad;
                }
                t[k] = (char)(hi * 16 + lo);
            }
            v->is_text = 1;
            v->s = t;
            v->len = len;
        } else {
            goto bad;
        }
    }
    errno = 0;
    pl->cursor_rid = strtoll(parts[n - 1], &end, 10);
    if (errno != 0 || *end != '\0' || pl->cursor_rid < 0) {
        goto bad;
    }
    pl->ncursor = n - 1;
    pl->has_cursor = 1;
    return 0;
bad:
    return fhir_err_set_at(err, FHIR_ISSUE_INVALID, "_cursor",
                           "_cursor is not a cursor this server issued for "
                           "this search");
}

static int
parse_int(const char *s, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0) {
        return -1;
    }
    *out = v;
    return 0;
}

int
search_plan_new(search_plan **out, const search_registry *reg,
                const search_query *q, const search_opts *opts, fhir_arena *a,
                fhir_err *err)
{
    search_plan *pl = fhir_arena_alloc(a, sizeof(*pl));
    const char *cursor = NULL;
    long long n;
    *out = NULL;
    pl->reg = reg;
    pl->type = opts->ntypes > 0 ? opts->types[0] : -1;
    pl->opts = *opts;
    pl->a = a;
    pl->hot_count = -1;
    pl->count = opts->default_count;
    pl->type_count = -1;
    pl->conds = fhir_arena_alloc(a, SEARCH_MAX_CONDS * sizeof(*pl->conds));
    for (size_t i = 0; i < q->n; i++) {
        const char *name = q->params[i].name;
        const char *value = q->params[i].value;
        if (strcmp(name, "_format") == 0 || strcmp(name, "_pretty") == 0 ||
            strcmp(name, "_type") == 0) {
            continue;
        }
        if (strcmp(name, "_count") == 0) {
            if (parse_int(value, &n) != 0) {
                return bad_value(err, name, value,
                                 "not a non-negative integer");
            }
            pl->count = n > opts->max_count ? opts->max_count : (int)n;
        } else if (strcmp(name, "_sort") == 0) {
            if (pl->nsort > 0 || parse_sort(pl, value, err) != 0) {
                return fhir_err_set_at(err, FHIR_ISSUE_INVALID, "_sort",
                                       "_sort may be given once");
            }
        } else if (strcmp(name, "_total") == 0) {
            if (strcmp(value, "none") == 0) {
                pl->total = SEARCH_TOTAL_NONE;
            } else if (strcmp(value, "estimate") == 0) {
                pl->total = SEARCH_TOTAL_ESTIMATE;
            } else if (strcmp(value, "accurate") == 0) {
                pl->total = SEARCH_TOTAL_ACCURATE;
            } else {
                return bad_value(err, name, value,
                                 "not none, estimate or accurate");
            }
        } else if (strcmp(name, "_summary") == 0) {
            static const char *const names[] = {"false", "true", "count",
                                                "data", "text"};
            size_t k;
            for (k = 0; k < 5 && strcmp(value, names[k]) != 0; k++) {
            }
            if (k == 5) {
                return bad_value(err, name, value,
                                 "not true, false, count, data or text");
            }
            pl->summary = (search_summary)k;
        } else if (strcmp(name, "_elements") == 0) {
            pl->elements = value;
        } else if (strcmp(name, "_cursor") == 0) {
            cursor = value;
        } else if (parse_condition(pl, name, value, err) != 0) {
            return -1;
        }
    }
    if (cursor != NULL && parse_cursor(pl, cursor, err) != 0) {
        return -1;
    }
    *out = pl;
    return 0;
}

size_t
search_plan_warnings(const search_plan *p, const char *const **out)
{
    *out = p->warnings;
    return p->nwarnings;
}

int
search_plan_page_size(const search_plan *p)
{
    return p->count;
}

search_total
search_plan_total(const search_plan *p)
{
    return p->total;
}

search_summary
search_plan_summary(const search_plan *p)
{
    return p->summary;
}

const char *
search_plan_elements(const search_plan *p)
{
    return p->elements;
}

size_t
search_plan_nconds(const search_plan *p)
{
    return p->nconds;
}

void
search_plan_set_estimate(search_plan *p, size_t i, int64_t n)
{
    if (i < p->nconds) {
        p->conds[i].estimate = n;
    }
}

void
search_plan_set_type_count(search_plan *p, int64_t n)
{
    p->type_count = n;
}

/* ---- SQL ------------------------------------------------------------ */

static void
sql_str(fhir_sql *q, const char *s)
{
    fhir_sql_text(q, s, strlen(s));
}

/* "(SELECT id FROM sysdict WHERE uri = ?)" */
static void
sql_sys(fhir_sql *q, const char *sys)
{
    fhir_sql_add(q, "(SELECT id FROM sysdict WHERE uri = ");
    sql_str(q, sys);
    fhir_sql_add(q, ")");
}

/* A prefix range [v, v + 0xFF) for starts-with on a BINARY column. */
static void
sql_prefix(fhir_sql *q, fhir_arena *a, const char *col, const char *v)
{
    fhir_sql_add(q, col);
    fhir_sql_add(q, " >= ");
    sql_str(q, v);
    fhir_sql_add(q, " AND ");
    fhir_sql_add(q, col);
    fhir_sql_add(q, " < ");
    sql_str(q, fhir_arena_printf(a, "%s\xff", v));
}

/* Appends "x.a LIKE '%v%' ESCAPE '\'" with LIKE's wildcards escaped. */
static void
sql_contains(fhir_sql *q, fhir_arena *a, const char *col, const char *v)
{
    char *e = fhir_arena_alloc(a, 2 * strlen(v) + 3), *w = e;
    *w++ = '%';
    for (const char *p = v; *p != '\0'; p++) {
        if (*p == '%' || *p == '_' || *p == '\\') {
            *w++ = '\\';
        }
        *w++ = *p;
    }
    *w++ = '%';
    *w = '\0';
    fhir_sql_add(q, col);
    fhir_sql_add(q, " LIKE ");
    sql_str(q, e);
    fhir_sql_add(q, " ESCAPE '\\'");
}

/* Approximately (ap): 10% of the distance to now, at least a day. */
static void
ap_range(const search_value *v, int64_t *lo, int64_t *hi)
{
    int64_t now = fhir_now_us();
    int64_t mid = v->lo / 2 + v->hi / 2;
    int64_t gap = now > mid ? now - mid : mid - now;
    int64_t slack = gap / 10;
    if (slack < 86400LL * 1000000LL) {
        slack = 86400LL * 1000000LL;
    }
    *lo = v->lo - slack;
    *hi = v->hi + slack;
}

/* The date comparison of R4 search.html#prefix between a stored range
 * [lo, hi) (columns) and the value's range. */
static void
sql_date(fhir_sql *q, const char *lo, const char *hi, const search_value *v)
{
#define COL(c) fhir_sql_add(q, c)
#define OP(s) fhir_sql_add(q, s)
    int64_t alo, ahi;
    switch (v->prefix) {
    case SEARCH_PFX_EQ:
        COL(lo), OP(" >= "), fhir_sql_int(q, v->lo), OP(" AND "), COL(hi),
            OP(" <= "), fhir_sql_int(q, v->hi);
        break;
    case SEARCH_PFX_NE:
        OP("NOT ("), COL(lo), OP(" >= "), fhir_sql_int(q, v->lo), OP(" AND "),
            COL(hi), OP(" <= "), fhir_sql_int(q, v->hi), OP(")");
        break;
    case SEARCH_PFX_GT:
        COL(hi), OP(" > "), fhir_sql_int(q, v->hi);
        break;
    case SEARCH_PFX_LT:
        COL(lo), OP(" < "), fhir_sql_int(q, v->lo);
        break;
    case SEARCH_PFX_GE:
        OP("("), COL(hi), OP(" > "), fhir_sql_int(q, v->hi), OP(" OR ("),
            COL(lo), OP(" >= "), fhir_sql_int(q, v->lo), OP(" AND "), COL(hi),
            OP(" <= "), fhir_sql_int(q, v->hi), OP("))");
        break;
    case SEARCH_PFX_LE:
        OP("("), COL(lo), OP(" < "), fhir_sql_int(q, v->lo), OP(" OR ("),
            COL(lo), OP(" >= "), fhir_sql_int(q, v->lo), OP(" AND "), COL(hi),
            OP(" <= "), fhir_sql_int(q, v->hi), OP("))");
        break;
    case SEARCH_PFX_SA:
        COL(lo), OP(" >= "), fhir_sql_int(q, v->hi);
        break;
    case SEARCH_PFX_EB:
        COL(hi), OP(" <= "), fhir_sql_int(q, v->lo);
        break;
    case SEARCH_PFX_AP:
        ap_range(v, &alo, &ahi);
        COL(lo), OP(" < "), fhir_sql_int(q, ahi), OP(" AND "), COL(hi),
            OP(" > "), fhir_sql_int(q, alo);
        break;
    }
#undef COL
#undef OP
}

/* Alias `a` (r the resource, t and x its index rows) at nesting level
 * lv: "t" at the top, "t1", "t2" ... in the subqueries of chains and
 * _has, where an inner condition names its own resource (r1), not the
 * one it is nested in. */
static const char *
alias(const search_plan *pl, char a, int lv)
{
    return lv == 0 ? fhir_arena_printf(pl->a, "%c", a)
                   : fhir_arena_printf(pl->a, "%c%d", a, lv);
}

/* Column `name` of alias a at level lv: "t.code", "t1.code". */
static const char *
col(const search_plan *pl, char a, int lv, const char *name)
{
    return lv == 0 ? fhir_arena_printf(pl->a, "%c.%s", a, name)
                   : fhir_arena_printf(pl->a, "%c%d.%s", a, lv, name);
}

static void
sql_col(fhir_sql *q, const search_plan *pl, char a, int lv, const char *name)
{
    fhir_sql_add(q, col(pl, a, lv, name));
}

/* The part of a token match after "t.param = ? AND ". A probe (EXISTS
 * for one rid) keeps SQLite on the rid-first primary key: "+" stops it
 * from walking the value index's whole posting list instead. */
static void
sql_token_value(fhir_sql *q, const search_plan *pl, const search_value *v,
                int probe, int lv)
{
    if (v->code != NULL) {
        fhir_sql_add(q, probe ? "+" : "");
        sql_col(q, pl, 't', lv, "code");
        fhir_sql_add(q, " = ");
        sql_str(q, v->code);
        if (v->sys != NULL) {
            fhir_sql_add(q, " AND ");
        }
    }
    if (v->sys != NULL) {
        sql_col(q, pl, 't', lv, "sys");
        fhir_sql_add(q, " = ");
        sql_sys(q, v->sys);
    }
}

/* The table a condition's rows live in. */
static const char *
cond_table(const search_cond *c)
{
    if (c->mod == SEARCH_MOD_TEXT) {
        return "idx_string";
    }
    if (c->mod == SEARCH_MOD_IDENTIFIER) {
        return "idx_token";
    }
    switch (c->param->type) {
    case SEARCH_TYPE_TOKEN:
        return "idx_token";
    case SEARCH_TYPE_STRING:
        return "idx_string";
    case SEARCH_TYPE_DATE:
        return "idx_date";
    case SEARCH_TYPE_REFERENCE:
        return "idx_ref";
    default:
        return "idx_uri";
    }
}

/* "idx_token t1": a table and its alias at level lv. */
static void
sql_table(fhir_sql *q, const search_plan *pl, const char *table, char a, int lv)
{
    fhir_sql_add(q, table);
    fhir_sql_add(q, " ");
    fhir_sql_add(q, alias(pl, a, lv));
}

/* "t.param = ? AND (v1 OR v2 ...)" for the rows of condition c. */
static void
sql_match(fhir_sql *q, const search_plan *pl, const search_cond *c, int probe,
          int lv)
{
    sql_col(q, pl, 't', lv, "param");
    fhir_sql_add(q, " = ");
    fhir_sql_int(q, c->param->num);
    fhir_sql_add(q, " AND (");
    for (size_t i = 0; i < c->nvals; i++) {
        const search_value *v = &c->vals[i];
        fhir_sql_add(q, i ? " OR (" : "(");
        if (c->mod == SEARCH_MOD_TEXT) {
            sql_prefix(q, pl->a, col(pl, 't', lv, "norm"), v->code);
        } else if (c->mod == SEARCH_MOD_IDENTIFIER) {
            sql_token_value(q, pl, v, probe, lv);
        } else {
            switch (c->param->type) {
            case SEARCH_TYPE_TOKEN:
                sql_token_value(q, pl, v, probe, lv);
                break;
            case SEARCH_TYPE_STRING:
                if (c->mod == SEARCH_MOD_EXACT) {
                    sql_col(q, pl, 't', lv, "text");
                    fhir_sql_add(q, " = ");
                    sql_str(q, v->code);
                } else if (c->mod == SEARCH_MOD_CONTAINS) {
                    sql_contains(q, pl->a, col(pl, 't', lv, "norm"), v->code);
                } else {
                    sql_prefix(q, pl->a, col(pl, 't', lv, "norm"), v->code);
                }
                break;
            case SEARCH_TYPE_DATE:
                sql_date(q, col(pl, 't', lv, "lo"), col(pl, 't', lv, "hi"), v);
                break;
            case SEARCH_TYPE_REFERENCE:
                sql_col(q, pl, 't', lv, "ref");
                fhir_sql_add(q, " IN (");
                sql_str(q, v->code);
                for (size_t k = 1; k < v->nalts; k++) {
                    fhir_sql_add(q, ", ");
                    sql_str(q, v->alts[k]);
                }
                fhir_sql_add(q, ")");
                break;
            default: {
                const char *uri = col(pl, 't', lv, "uri");
                if (c->mod == SEARCH_MOD_BELOW) {
                    sql_prefix(q, pl->a, uri, v->code);
                } else if (c->mod == SEARCH_MOD_ABOVE) {
                    sql_str(q, v->code);
                    fhir_sql_add(q, " >= ");
                    fhir_sql_add(q, uri);
                    fhir_sql_add(q, " AND substr(");
                    sql_str(q, v->code);
                    fhir_sql_add(q, ", 1, length(");
                    fhir_sql_add(q, uri);
                    fhir_sql_add(q, ")) = ");
                    fhir_sql_add(q, uri);
                } else {
                    fhir_sql_add(q, uri);
                    fhir_sql_add(q, " = ");
                    sql_str(q, v->code);
                }
                break;
            }
            }
        }
        fhir_sql_add(q, ")");
    }
    fhir_sql_add(q, ")");
}

/* The tables a parameter's rows may be in, for :missing. */
static void
sql_any_row(fhir_sql *q, const search_plan *pl, const search_cond *c, int lv)
{
    static const char *const tables[] = {"idx_token", "idx_string", "idx_date",
                                         "idx_ref", "idx_uri"};
    int use[5] = {0};
    switch (c->param->type) {
    case SEARCH_TYPE_TOKEN:
        use[0] = use[1] = 1;
        break;
    case SEARCH_TYPE_STRING:
        use[1] = 1;
        break;
    case SEARCH_TYPE_DATE:
        use[2] = 1;
        break;
    case SEARCH_TYPE_REFERENCE:
        use[3] = use[0] = 1;
        break;
    default:
        use[4] = 1;
        break;
    }
    int first = 1;
    fhir_sql_add(q, "(");
    for (int i = 0; i < 5; i++) {
        if (!use[i]) {
            continue;
        }
        fhir_sql_add(q, first ? "EXISTS (SELECT 1 FROM "
                              : " OR EXISTS "
                                "(SELECT 1 FROM ");
        sql_table(q, pl, tables[i], 'x', lv);
        fhir_sql_add(q, " WHERE ");
        sql_col(q, pl, 'x', lv, "rid");
        fhir_sql_add(q, " = ");
        sql_col(q, pl, 'r', lv, "rid");
        fhir_sql_add(q, " AND ");
        sql_col(q, pl, 'x', lv, "param");
        fhir_sql_add(q, " = ");
        fhir_sql_int(q, c->param->num);
        fhir_sql_add(q, ")");
        first = 0;
    }
    fhir_sql_add(q, ")");
}

static void sql_link(fhir_sql *q, const search_plan *pl, const search_cond *c,
                     int lv, const fhir_rows *rows, const char *id);

/* Condition c on its index rows (t<lv>) for the resource whose rid is
 * the column `rid`: "[NOT] EXISTS (SELECT 1 FROM idx_x t<lv> WHERE
 * t<lv>.rid = <rid> AND <match>)". */
static void
sql_rows_pred(fhir_sql *q, const search_plan *pl, const search_cond *c, int lv,
              const char *rid)
{
    fhir_sql_add(q, c->mod == SEARCH_MOD_NOT ? "NOT EXISTS (SELECT 1 FROM "
                                             : "EXISTS (SELECT 1 FROM ");
    sql_table(q, pl, cond_table(c), 't', lv);
    fhir_sql_add(q, " WHERE ");
    sql_col(q, pl, 't', lv, "rid");
    fhir_sql_add(q, " = ");
    fhir_sql_add(q, rid);
    fhir_sql_add(q, " AND ");
    sql_match(q, pl, c, 1, lv);
    fhir_sql_add(q, ")");
}

/* 1 when sql_pred() of c would name only its resource's rid: a plain
 * condition on index rows (not a chain, _has, :missing, _id or
 * _lastUpdated). */
static int
pred_on_rows(const search_cond *c)
{
    return c->link == SEARCH_LINK_NONE && c->mod != SEARCH_MOD_MISSING &&
           c->param->builtin == SEARCH_BUILTIN_NONE;
}

/* A boolean SQL expression over resource r (r1, r2 ... at level lv) for
 * condition c. */
static void
sql_pred(fhir_sql *q, const search_plan *pl, const search_cond *c, int lv)
{
    if (c->link != SEARCH_LINK_NONE) {
        sql_link(q, pl, c, lv, NULL, NULL);
        return;
    }
    if (c->mod == SEARCH_MOD_MISSING) {
        fhir_sql_add(q, c->missing ? "NOT " : "");
        sql_any_row(q, pl, c, lv);
        return;
    }
    if (c->param->builtin == SEARCH_BUILTIN_ID) {
        sql_col(q, pl, 'r', lv, "id");
        fhir_sql_add(q, c->mod == SEARCH_MOD_NOT ? " NOT IN (" : " IN (");
        for (size_t i = 0; i < c->nvals; i++) {
            fhir_sql_add(q, i ? ", " : "");
            sql_str(q, c->vals[i].code);
        }
        fhir_sql_add(q, ")");
        return;
    }
    if (c->param->builtin == SEARCH_BUILTIN_LASTUPDATED) {
        const char *hid = col(pl, 'r', lv, "hid");
        const char *next = fhir_arena_printf(pl->a, "(%s + 1)", hid);
        fhir_sql_add(q, "(");
        for (size_t i = 0; i < c->nvals; i++) {
            fhir_sql_add(q, i ? " OR (" : "(");
            sql_date(q, hid, next, &c->vals[i]);
            fhir_sql_add(q, ")");
        }
        fhir_sql_add(q, ")");
        return;
    }
    sql_rows_pred(q, pl, c, lv, col(pl, 'r', lv, "rid"));
}

/* "a<la>.ca = b<lb>.cb" */
static void
sql_same(fhir_sql *q, const search_plan *pl, char a, int la, const char *ca,
         char b, int lb, const char *cb)
{
    sql_col(q, pl, a, la, ca);
    fhir_sql_add(q, " = ");
    sql_col(q, pl, b, lb, cb);
}

/* "t<lv>.param = ?" */
static void
sql_param(fhir_sql *q, const search_plan *pl, int lv, int num)
{
    sql_col(q, pl, 't', lv, "param");
    fhir_sql_add(q, " = ");
    fhir_sql_int(q, num);
}

/* "r<lv>.type = <served type t> AND r<lv>.deleted = 0". The store's
 * code of t comes from its table of types: search/ is told the codes of
 * the searched types only. */
static void
sql_live(fhir_sql *q, const search_plan *pl, int lv, int t)
{
    sql_col(q, pl, 'r', lv, "type");
    fhir_sql_add(q, " = (SELECT code FROM rtype WHERE name = ");
    sql_str(q, fhir_type_name(t));
    fhir_sql_add(q, ") AND ");
    sql_col(q, pl, 'r', lv, "deleted");
    fhir_sql_add(q, " = 0");
}

/* Resource r<rl> is the one reference row t<tl> names as "<prefix><id>":
 * its id is the reference's tail, one lookup in resource's (type, id)
 * index once the type is fixed too. */
static void
sql_named(fhir_sql *q, const search_plan *pl, int rl, int tl,
          const char *prefix)
{
    sql_col(q, pl, 'r', rl, "id");
    fhir_sql_add(q, " = substr(");
    sql_col(q, pl, 't', tl, "ref");
    fhir_sql_add(q, ", ");
    fhir_sql_int(q, (int64_t)strlen(prefix) + 1);
    fhir_sql_add(q, ") AND ");
    sql_prefix(q, pl->a, col(pl, 't', tl, "ref"), prefix);
}

/* "idx_ref t<lv> JOIN resource r<lv+1> ON ": a hop's reference rows and
 * the resources at their other end. */
static void
sql_hop_join(fhir_sql *q, const search_plan *pl, int lv)
{
    sql_table(q, pl, "idx_ref", 't', lv);
    fhir_sql_add(q, " JOIN ");
    sql_table(q, pl, "resource", 'r', lv + 1);
    fhir_sql_add(q, " ON ");
}

/* " AND <r<lv+1> live, of h's type> AND <h's condition on it>)" */
static void
sql_hop_end(fhir_sql *q, const search_plan *pl, const search_hop *h, int lv)
{
    fhir_sql_add(q, " AND ");
    sql_live(q, pl, lv + 1, h->type);
    fhir_sql_add(q, " AND ");
    sql_pred(q, pl, h->inner, lv + 1);
    fhir_sql_add(q, ")");
}

/* One step of a chain from r<lv>: a live resource of h that a reference
 * of c's parameter names satisfies h's condition. With `rows` (a version
 * judged outside SQL) its references are values instead of index rows. */
static void
sql_chain_hop(fhir_sql *q, const search_plan *pl, const search_cond *c,
              const search_hop *h, int lv, const fhir_rows *rows)
{
    int in = lv + 1;
    size_t plen = strlen(h->prefix);
    fhir_sql_add(q, "EXISTS (SELECT 1 FROM ");
    if (rows != NULL) {
        int n = 0;
        sql_table(q, pl, "resource", 'r', in);
        fhir_sql_add(q, " WHERE ");
        sql_col(q, pl, 'r', in, "id");
        fhir_sql_add(q, " IN (");
        for (size_t i = 0; i < rows->n; i++) {
            const fhir_row *w = &rows->rows[i];
            if (w->param == c->param->num && w->kind == FHIR_ROW_REF &&
                strncmp(w->code, h->prefix, plen) == 0 &&
                w->code[plen] != '\0') {
                fhir_sql_add(q, n++ ? ", " : "");
                sql_str(q, w->code + plen);
            }
        }
        fhir_sql_add(q, n ? ")" : "NULL)"); /* none: no match */
    } else {
        sql_hop_join(q, pl, lv);
        sql_named(q, pl, in, lv, h->prefix);
        fhir_sql_add(q, " WHERE ");
        sql_same(q, pl, 't', lv, "rid", 'r', lv, "rid");
        fhir_sql_add(q, " AND ");
        sql_param(q, pl, lv, c->param->num);
    }
    sql_hop_end(q, pl, h, lv);
}

/* _has on r<lv>: a live resource of the hop's type whose reference
 * parameter names r<lv> ("Type/" || id, one lookup in idx_ref's value
 * index) satisfies the hop's condition. With `id`, r<lv> is a resource
 * judged outside SQL. */
static void
sql_has(fhir_sql *q, const search_plan *pl, const search_cond *c, int lv,
        const char *id)
{
    const search_hop *h = &c->hops[0];
    /* Index rows belong to live resources only (a delete removes them)
     * and a parameter to one type, so when the hop's condition is on
     * index rows too, the referring rid needs no resource row: one
     * lookup fewer per referring resource. */
    int direct = pred_on_rows(h->inner);
    fhir_sql_add(q, "EXISTS (SELECT 1 FROM ");
    if (direct) {
        sql_table(q, pl, "idx_ref", 't', lv);
    } else {
        sql_hop_join(q, pl, lv);
        sql_same(q, pl, 'r', lv + 1, "rid", 't', lv, "rid");
    }
    fhir_sql_add(q, " WHERE ");
    sql_param(q, pl, lv, c->param->num);
    fhir_sql_add(q, " AND ");
    sql_col(q, pl, 't', lv, "ref");
    fhir_sql_add(q, " = ");
    if (id != NULL) {
        sql_str(q, fhir_arena_printf(pl->a, "%s%s", h->prefix, id));
    } else {
        sql_str(q, h->prefix);
        fhir_sql_add(q, " || ");
        sql_col(q, pl, 'r', lv, "id");
    }
    if (!direct) {
        sql_hop_end(q, pl, h, lv);
        return;
    }
    fhir_sql_add(q, " AND ");
    sql_rows_pred(q, pl, h->inner, lv + 1, col(pl, 't', lv, "rid"));
    fhir_sql_add(q, ")");
}

/* A chained (any of its target types) or _has condition on r<lv>. */
static void
sql_link(fhir_sql *q, const search_plan *pl, const search_cond *c, int lv,
         const fhir_rows *rows, const char *id)
{
    if (c->link == SEARCH_LINK_HAS) {
        sql_has(q, pl, c, lv, id);
        return;
    }
    fhir_sql_add(q, "(");
    for (size_t i = 0; i < c->nhops; i++) {
        fhir_sql_add(q, i ? " OR " : "");
        sql_chain_hop(q, pl, c, &c->hops[i], lv, rows);
    }
    fhir_sql_add(q, ")");
}

/* 1 when c can drive a query: positive and served by a value index; a
 * chain or _has when the condition at its end is (the resources are
 * then reached from that index through the references). */
static int
drivable(const search_cond *c)
{
    if (c->link != SEARCH_LINK_NONE) {
        for (size_t i = 0; i < c->nhops; i++) {
            if (!drivable(c->hops[i].inner)) {
                return 0;
            }
        }
        return c->nhops > 0;
    }
    return c->mod != SEARCH_MOD_MISSING && c->mod != SEARCH_MOD_NOT &&
           c->mod != SEARCH_MOD_CONTAINS &&
           c->param->builtin == SEARCH_BUILTIN_NONE;
}

static void sql_driver(fhir_sql *q, const search_plan *pl, const search_cond *c,
                       int lv);

/* The rids one hop of a drivable chain or _has leads to from level lv:
 * the resources r<lv+1> its condition's driver yields (live, of the hop's
 * type), then their references (chain: the rows naming them, whose rids
 * are the referring resources; _has: their rows' targets, looked up by
 * (type, id)). */
static void
sql_hop_driver(fhir_sql *q, const search_plan *pl, const search_cond *c,
               const search_hop *h, int lv)
{
    int in = lv + 1;
    int has = c->link == SEARCH_LINK_HAS;
    fhir_sql_add(q, "SELECT ");
    sql_col(q, pl, has ? 'r' : 't', lv, "rid");
    fhir_sql_add(q, " FROM (");
    sql_driver(q, pl, h->inner, in);
    fhir_sql_add(q, ") ");
    fhir_sql_add(q, alias(pl, 'd', in));
    fhir_sql_add(q, " JOIN ");
    sql_table(q, pl, "resource", 'r', in);
    fhir_sql_add(q, " ON ");
    sql_same(q, pl, 'r', in, "rid", 'd', in, "rid");
    fhir_sql_add(q, " JOIN ");
    sql_table(q, pl, "idx_ref", 't', lv);
    fhir_sql_add(q, " ON ");
    sql_param(q, pl, lv, c->param->num);
    fhir_sql_add(q, " AND ");
    if (has) {
        sql_same(q, pl, 't', lv, "rid", 'r', in, "rid");
        fhir_sql_add(q, " JOIN ");
        sql_table(q, pl, "resource", 'r', lv);
        fhir_sql_add(q, " ON ");
        sql_named(q, pl, lv, lv, h->prefix);
        fhir_sql_add(q, " AND ");
        sql_live(q, pl, lv, h->ref_type);
    } else {
        sql_col(q, pl, 't', lv, "ref");
        fhir_sql_add(q, " = ");
        sql_str(q, h->prefix);
        fhir_sql_add(q, " || ");
        sql_col(q, pl, 'r', in, "id");
    }
    fhir_sql_add(q, " WHERE ");
    sql_live(q, pl, in, h->type);
}

/* 1 when a resource has at most one index row matching c (its rows are
 * distinct): one exact value, a reference or a token's system|code. */
static int
cond_one_row(const search_cond *c)
{
    if (c->mod != SEARCH_MOD_NONE || c->nvals != 1) {
        return 0;
    }
    const search_value *v = &c->vals[0];
    if (c->param->type == SEARCH_TYPE_REFERENCE) {
        return v->nalts <= 1;
    }
    return c->param->type == SEARCH_TYPE_TOKEN && v->sys != NULL &&
           v->code != NULL;
}

/* "SELECT DISTINCT t.rid FROM <table> WHERE <match>" at level lv: the
 * rids a drivable condition matches, exactly. Without DISTINCT when each
 * resource has one row at most: SQLite then flattens the subquery and
 * reads the rids in the value index's order, where DISTINCT built a
 * temporary b-tree per search (focus at 100k: p50 0.21 -> 0.16-0.19 ms).
 */
static void
sql_driver(fhir_sql *q, const search_plan *pl, const search_cond *c, int lv)
{
    if (c->link != SEARCH_LINK_NONE) {
        /* UNION: one resource may be reached through several hops */
        for (size_t i = 0; i < c->nhops; i++) {
            fhir_sql_add(q, i ? " UNION " : "SELECT DISTINCT rid FROM (");
            sql_hop_driver(q, pl, c, &c->hops[i], lv);
        }
        fhir_sql_add(q, ")");
        return;
    }
    fhir_sql_add(q, cond_one_row(c) ? "SELECT " : "SELECT DISTINCT ");
    sql_col(q, pl, 't', lv, "rid");
    fhir_sql_add(q, " FROM ");
    sql_table(q, pl, cond_table(c), 't', lv);
    fhir_sql_add(q, " WHERE ");
    sql_match(q, pl, c, 0, lv);
}

static void sql_types(fhir_sql *q, const search_plan *p);

/* 1 when every type parameter sp applies to is searched: its index rows
 * then need no filter by type. */
static int
param_within_types(const search_plan *p, const struct search_param *sp)
{
    unsigned searched = 0;
    for (size_t i = 0; i < p->opts.ntypes; i++) {
        searched |= 1u << p->opts.types[i];
    }
    return (sp->types & ~searched) == 0;
}

/* The number of resources of the searched types condition c matches,
 * counted from its index rows up to ESTIMATE_PROBE + 1. */
static void
sql_probe(fhir_sql *q, const search_plan *p, const search_cond *c)
{
    fhir_sql_add(q, "SELECT count(*) FROM (SELECT DISTINCT t.rid FROM ");
    sql_table(q, p, cond_table(c), 't', 0);
    if (!param_within_types(p, c->param)) {
        fhir_sql_add(q, " JOIN resource r ON r.rid = t.rid AND r.type");
        sql_types(q, p);
    }
    fhir_sql_add(q, " WHERE ");
    sql_match(q, p, c, 0, 0);
    fhir_sql_add(q, " LIMIT ");
    fhir_sql_int(q, ESTIMATE_PROBE + 1);
    fhir_sql_add(q, ")");
}

/* "FROM cnt_<what> t WHERE t.type ... AND t.param = ?" */
static void
sql_count_rows(fhir_sql *q, const search_plan *p, const search_cond *c,
               const char *what)
{
    fhir_sql_add(q, " FROM ");
    fhir_sql_add(q, what);
    fhir_sql_add(q, " t WHERE t.type");
    sql_types(q, p);
    fhir_sql_add(q, " AND t.param = ");
    fhir_sql_int(q, c->param->num);
}

/* The estimate of one token value. A code without a system matches the
 * code under every system, and also the :of-type rows (system
 * "\x01type|", search/index.c) that an identifier's value repeats under.
 * Those rows always come with the identifier's own row, so they are left
 * out of the count. Summing what is left counts a resource twice when it
 * has the code under two systems: the sum is exact only when one system
 * has the code. With several, a single value (the one case a total is
 * taken from, search_plan_count_known) is counted by a probe instead. */
static void
sql_token_estimate(fhir_sql *q, const search_plan *p, const search_cond *c,
                   const search_value *v)
{
    int code_only = v->sys == NULL;
    int probe = code_only && c->nvals == 1;
    fhir_sql_add(q, probe ? "(SELECT CASE WHEN count(DISTINCT t.sys) <= 1 "
                            "THEN coalesce(sum(t.n), 0) ELSE ("
                          : "(SELECT coalesce(sum(t.n), 0)");
    if (probe) {
        sql_probe(q, p, c);
        fhir_sql_add(q, ") END");
    }
    sql_count_rows(q, p, c, "cnt_token");
    fhir_sql_add(q, " AND ");
    sql_token_value(q, p, v, 0, 0);
    if (code_only) {
        fhir_sql_add(q, " AND t.n > 0 AND t.sys NOT IN (SELECT id FROM "
                        "sysdict WHERE uri >= char(1) AND uri < char(2))");
    }
    fhir_sql_add(q, ")");
}

/* For a _has of one hop whose inner condition is a counted token or
 * reference value: SQL for how many resources of the referring type that
 * condition matches (the kept counts, as for a search of that type). */
static int
has_inner_estimate(const search_plan *p, const search_cond *c, fhir_sql *out)
{
    if (c->link != SEARCH_LINK_HAS || c->nhops != 1) {
        return 0;
    }
    const search_cond *in = c->hops[0].inner;
    int t = c->hops[0].type;
    if (in->link != SEARCH_LINK_NONE || in->mod != SEARCH_MOD_NONE ||
        in->param->builtin != SEARCH_BUILTIN_NONE ||
        (in->param->type != SEARCH_TYPE_TOKEN &&
         in->param->type != SEARCH_TYPE_REFERENCE) ||
        t < 0 || t >= SEARCH_MAX_TYPES) {
        return 0;
    }
    search_plan tmp = *p;
    tmp.conds = (search_cond *)in;
    tmp.nconds = 1;
    tmp.opts.ntypes = 1;
    tmp.opts.types[0] = t;
    tmp.opts.type_codes[0] = p->opts.codes[t];
    return search_plan_estimate_sql(&tmp, 0, out);
}

int
search_plan_estimate_sql(const search_plan *p, size_t i, fhir_sql *out)
{
    const search_cond *c = &p->conds[i];
    if (c->link != SEARCH_LINK_NONE) {
        /* No count is kept of what references lead to. A chain or _has
         * that can drive is counted through its driver, bounded, when
         * another condition could drive instead; alone it drives without
         * (walking its references costs in proportion to what its last
         * condition matches, filtering a scan of the type costs per
         * resource of the type, and badly when few of those each one
         * refers to, or is referred to by, match). */
        int rival = 0;
        for (size_t k = 0; k < p->nconds; k++) {
            rival |= k != i && drivable(&p->conds[k]);
        }
        if (drivable(c) && !rival && has_inner_estimate(p, c, out)) {
            /* Alone, a _has drives, or filters a scan of the type when
             * its referring resources are many (scan_beats_driver): the
             * kept count of its inner condition tells which. */
            return 1;
        }
        if (!drivable(c) || !rival) {
            return 0;
        }
        fhir_sql_add(out, "SELECT count(*) FROM (");
        sql_driver(out, p, c, 0);
        fhir_sql_add(out, " LIMIT ");
        fhir_sql_int(out, ESTIMATE_PROBE + 1);
        fhir_sql_add(out, ")");
        return 1;
    }
    if (c->mod == SEARCH_MOD_MISSING) {
        fhir_sql_add(out, "SELECT coalesce((SELECT sum(n)");
        sql_count_rows(out, p, c, "cnt_param");
        fhir_sql_add(out, "), 0)");
        return 1;
    }
    if (c->param->builtin == SEARCH_BUILTIN_ID) {
        fhir_sql_add(out, "SELECT ");
        fhir_sql_int(out, (int64_t)c->nvals);
        return 1;
    }
    if (!drivable(c)) {
        return 0;
    }
    int counted = c->mod == SEARCH_MOD_NONE && !c->param->uncounted &&
                  (c->param->type == SEARCH_TYPE_TOKEN ||
                   c->param->type == SEARCH_TYPE_REFERENCE);
    if (counted && c->param->type == SEARCH_TYPE_TOKEN) {
        fhir_sql_add(out, "SELECT 0");
        for (size_t k = 0; k < c->nvals; k++) {
            fhir_sql_add(out, " + ");
            sql_token_estimate(out, p, c, &c->vals[k]);
        }
        return 1;
    }
    if (counted) {
        fhir_sql_add(out, "SELECT coalesce(sum(n), 0)");
        sql_count_rows(out, p, c, "cnt_ref");
        fhir_sql_add(out, " AND t.ref IN (");
        int first = 1;
        for (size_t k = 0; k < c->nvals; k++) {
            const search_value *v = &c->vals[k];
            for (size_t j = 0; j < (v->nalts ? v->nalts : 1); j++) {
                fhir_sql_add(out, first ? "" : ", ");
                sql_str(out, v->nalts ? v->alts[j] : v->code);
                first = 0;
            }
        }
        fhir_sql_add(out, ")");
        return 1;
    }
    /* No count kept: count the index entries, bounded. */
    sql_probe(out, p, c);
    return 1;
}

/* " = ?" or " IN (?, ...)" for the searched types' codes. */
static void
sql_types(fhir_sql *q, const search_plan *p)
{
    if (p->opts.ntypes == 1) {
        fhir_sql_add(q, " = ");
        fhir_sql_int(q, p->opts.type_codes[0]);
        return;
    }
    fhir_sql_add(q, " IN (");
    for (size_t i = 0; i < p->opts.ntypes; i++) {
        fhir_sql_add(q, i ? ", " : "");
        fhir_sql_int(q, p->opts.type_codes[i]);
    }
    fhir_sql_add(q, ")");
}

void
search_plan_type_count_sql(const search_plan *p, fhir_sql *out)
{
    fhir_sql_add(out, "SELECT coalesce((SELECT sum(n) FROM cnt_type WHERE "
                      "type");
    sql_types(out, p);
    fhir_sql_add(out, "), 0)");
}

/* The condition driving the query, or -1 (scan the type). */
static int
driver_of(const search_plan *p)
{
    int best = -1;
    for (size_t i = 0; i < p->nconds; i++) {
        const search_cond *c = &p->conds[i];
        if (!drivable(c)) {
            continue;
        }
        int64_t e = c->estimate < 0 ? INT64_MAX : c->estimate;
        if (best < 0 ||
            e < (p->conds[best].estimate < 0 ? INT64_MAX
                                             : p->conds[best].estimate)) {
            best = (int)i;
        }
    }
    return best;
}

/* 1 when a page driven by the _has condition d is better found by
 * scanning the type in rid order and filtering: the scan stops at the
 * page's end, after about (page / fraction matching) resources, where
 * driving walks every referring resource the inner condition matches (E
 * of them, the estimate). With the fraction taken as E / type count
 * (each referring resource naming a different one), scanning wins when
 * E^2 > SCAN_FACTOR * page * type count. Only for pages in rid order. */
#define SCAN_FACTOR 8
static int
scan_beats_driver(const search_plan *p, int d)
{
    const search_cond *c = &p->conds[d];
    if (c->link != SEARCH_LINK_HAS || p->nsort > 0 || c->estimate <= 0 ||
        p->type_count <= 0) {
        return 0;
    }
    double e = (double)c->estimate;
    return e * e >
           (double)SCAN_FACTOR * (double)(p->count + 1) * (double)p->type_count;
}

/* FROM ... WHERE ... shared by the page and the count. Returns 1 when
 * the rows come through a driver's rids (alias d). */
static int
sql_from_where(fhir_sql *q, const search_plan *p, int with_body)
{
    /* The page of a plan the in-memory sets answered: just their rows. */
    int hot = with_body && p->hot_used;
    int d = hot ? -1 : driver_of(p);
    if (with_body && d >= 0 && scan_beats_driver(p, d)) {
        d = -1; /* resource_type_rid walks the type in rid order */
    }
    if (d >= 0) {
        fhir_sql_add(q, " FROM (");
        sql_driver(q, p, &p->conds[d], 0);
        fhir_sql_add(q, ") d CROSS JOIN resource r ON r.rid = d.rid");
    } else {
        fhir_sql_add(q, " FROM resource r");
    }
    if (with_body) {
        fhir_sql_add(q, " JOIN history h ON h.hid = r.hid");
    }
    /* "+": the listed rids are the way in, not the type's index. */
    fhir_sql_add(q, hot ? " WHERE +r.type" : " WHERE r.type");
    sql_types(q, p);
    fhir_sql_add(q, " AND r.deleted = 0");
    if (hot) {
        fhir_sql_add(q, p->nhot > 0 ? " AND r.rid IN (" : " AND 0");
        for (size_t i = 0; i < p->nhot; i++) {
            fhir_sql_add(q, i ? ", " : "");
            fhir_sql_int(q, p->hot_rids[i]);
        }
        fhir_sql_add(q, p->nhot > 0 ? ")" : "");
    }
    for (size_t i = 0; i < p->nconds; i++) {
        if ((int)i == d) {
            continue;
        }
        fhir_sql_add(q, " AND ");
        sql_pred(q, p, &p->conds[i], 0);
    }
    return d >= 0;
}

/* The value expression of sort key s (NULL when the resource has none). */
static void
sql_sort_value(fhir_sql *q, const search_sort *s)
{
    const struct search_param *p = s->param;
    if (p->builtin == SEARCH_BUILTIN_ID) {
        fhir_sql_add(q, "r.id");
        return;
    }
    if (p->builtin == SEARCH_BUILTIN_LASTUPDATED) {
        fhir_sql_add(q, "r.hid");
        return;
    }
    const char *agg = s->desc ? "max" : "min";
    switch (p->type) {
    case SEARCH_TYPE_DATE:
        fhir_sql_add(q, "(SELECT ");
        fhir_sql_add(q, agg);
        fhir_sql_add(q, s->desc ? "(x.hi) FROM idx_date x"
                                : "(x.lo) FROM "
                                  "idx_date x");
        break;
    case SEARCH_TYPE_STRING:
        fhir_sql_add(q, "(SELECT ");
        fhir_sql_add(q, agg);
        fhir_sql_add(q, "(x.norm) FROM idx_string x");
        break;
    case SEARCH_TYPE_REFERENCE:
        fhir_sql_add(q, "(SELECT ");
        fhir_sql_add(q, agg);
        fhir_sql_add(q, "(x.ref) FROM idx_ref x");
        break;
    case SEARCH_TYPE_URI:
        fhir_sql_add(q, "(SELECT ");
        fhir_sql_add(q, agg);
        fhir_sql_add(q, "(x.uri) FROM idx_uri x");
        break;
    default:
        fhir_sql_add(q, "(SELECT ");
        fhir_sql_add(q, agg);
        if (p->norder > 0) {
            /* A ranked code system sorts by rank, not alphabetically. */
            fhir_sql_add(q, "(CASE x.code");
            for (size_t i = 0; i < p->norder; i++) {
                fhir_sql_add(q, " WHEN ");
                sql_str(q, p->order[i]);
                fhir_sql_add(q, " THEN ");
                fhir_sql_int(q, (int64_t)i);
            }
            fhir_sql_add(q, " ELSE ");
            fhir_sql_int(q, (int64_t)p->norder);
            fhir_sql_add(q, " END) FROM idx_token x");
        } else {
            fhir_sql_add(q, "(x.code) FROM idx_token x");
        }
        break;
    }
    fhir_sql_add(q, " WHERE x.rid = r.rid AND x.param = ");
    fhir_sql_int(q, p->num);
    fhir_sql_add(q, ")");
}

static int
sort_is_text(const search_sort *s)
{
    const struct search_param *p = s->param;
    if (p->builtin == SEARCH_BUILTIN_LASTUPDATED) {
        return 0;
    }
    if (p->type == SEARCH_TYPE_TOKEN && p->norder > 0) {
        return 0; /* a rank */
    }
    return p->builtin == SEARCH_BUILTIN_ID || p->type != SEARCH_TYPE_DATE;
}

size_t
search_plan_nkeys(const search_plan *p)
{
    return 2 * p->nsort;
}

int
search_plan_key_is_text(const search_plan *p, size_t k)
{
    return k % 2 == 1 && sort_is_text(&p->sort[k / 2]);
}

static void
sql_cursor_val(fhir_sql *q, const fhir_sqlval *v)
{
    if (v->is_text && v->s == NULL) {
        fhir_sql_add(q, "NULL");
    } else if (v->is_text) {
        fhir_sql_text(q, v->s, v->len);
    } else {
        fhir_sql_int(q, v->i);
    }
}

/* Keyset paging: rows after (or, paging back, before) the cursor in
 * (key..., rid) order. */
static void
sql_after_cursor(fhir_sql *q, const search_plan *p)
{
    size_t m = p->ncursor;
    fhir_sql_add(q, " AND (");
    for (size_t k = 0; k < m; k++) {
        int desc = (k % 2 == 1 && p->sort[k / 2].desc) != p->cursor_before;
        fhir_sql_add(q, "k");
        fhir_buf_printf(&q->text, "%zu", k);
        fhir_sql_add(q, desc ? " < " : " > ");
        sql_cursor_val(q, &p->cursor_keys[k]);
        fhir_sql_add(q, " OR (k");
        fhir_buf_printf(&q->text, "%zu", k);
        fhir_sql_add(q, " IS ");
        sql_cursor_val(q, &p->cursor_keys[k]);
        fhir_sql_add(q, " AND (");
    }
    fhir_sql_add(q, p->cursor_before ? "r.rid < " : "r.rid > ");
    fhir_sql_int(q, p->cursor_rid);
    for (size_t k = 0; k < m; k++) {
        fhir_sql_add(q, "))");
    }
    fhir_sql_add(q, ")");
}

void
search_plan_page_sql(const search_plan *p, fhir_sql *out)
{
    fhir_sql_add(out, "SELECT r.rid, r.id, r.hid, h.body, r.type");
    for (size_t s = 0; s < p->nsort; s++) {
        /* Resources without a value sort last, whatever the direction. */
        fhir_sql_add(out, ", (");
        sql_sort_value(out, &p->sort[s]);
        fhir_buf_printf(&out->text, " IS NULL) AS k%zu, ", 2 * s);
        sql_sort_value(out, &p->sort[s]);
        fhir_buf_printf(&out->text, " AS k%zu", 2 * s + 1);
    }
    int driven = sql_from_where(out, p, 1);
    if (p->hot_used || p->has_cursor) {
        /* Later pages (and pages the sets chose): as of the snapshot;
         * resources written since are judged by the caller on their
         * version at the snapshot. */
        fhir_sql_add(out, p->hot_used ? " AND +r.hid <= " : " AND r.hid <= ");
        fhir_sql_int(out, p->snapshot);
    }
    if (p->has_cursor) {
        sql_after_cursor(out, p);
    }
    /* Paging back reads the order backwards; the caller reverses. */
    int back = p->cursor_before;
    fhir_sql_add(out, " ORDER BY ");
    for (size_t s = 0; s < p->nsort; s++) {
        fhir_buf_printf(&out->text, "k%zu%s, k%zu%s, ", 2 * s,
                        back ? " DESC" : "", 2 * s + 1,
                        (p->sort[s].desc != back) ? " DESC" : "");
    }
    /* d.rid is r.rid; named so, SQLite sees that a driver whose index
     * yields rids in order (one value, no DISTINCT) needs no sorting. */
    fhir_sql_add(out, driven ? "d.rid" : "r.rid");
    fhir_sql_add(out, back ? " DESC LIMIT " : " LIMIT ");
    fhir_sql_int(out, (int64_t)p->count + 1);
}

void
search_plan_count_sql(const search_plan *p, fhir_sql *out)
{
    fhir_sql_add(out, "SELECT count(*)");
    (void)sql_from_where(out, p, 0);
}

int
search_plan_count_known(const search_plan *p, int64_t *n)
{
    for (size_t i = 0; i < p->nconds; i++) {
        if (p->conds[i].link != SEARCH_LINK_NONE) {
            return 0; /* no count judges other resources */
        }
    }
    if (p->nconds == 0 && p->type_count >= 0) {
        *n = p->type_count;
        return 1;
    }
    if (p->hot_count >= 0) {
        *n = p->hot_count;
        return 1;
    }
    if (p->nconds != 1) {
        return 0;
    }
    const search_cond *c = &p->conds[0];
    if (c->estimate < 0) {
        return 0;
    }
    if (c->mod == SEARCH_MOD_MISSING && p->type_count >= 0) {
        *n = c->missing ? p->type_count - c->estimate : c->estimate;
        return 1;
    }
    /* One value counted exactly (several could overlap). */
    if (c->mod != SEARCH_MOD_NONE || c->nvals != 1 || c->vals[0].nalts > 1 ||
        c->param->builtin != SEARCH_BUILTIN_NONE) {
        return 0;
    }
    const search_value *v = &c->vals[0];
    int exact = c->param->type == SEARCH_TYPE_REFERENCE;
    if (c->param->type == SEARCH_TYPE_TOKEN && v->code != NULL) {
        /* system|code is one row per resource, counted exactly. A code
         * alone, or the value of a parameter whose values are not
         * counted, is probed: exact unless the probe reached its bound
         * (a sum that happens to equal the bound is counted). */
        exact = (v->sys != NULL && !c->param->uncounted) ||
                c->estimate != ESTIMATE_PROBE + 1;
    }
    if (exact) {
        *n = c->estimate;
    }
    return exact;
}

int
search_plan_backwards(const search_plan *p)
{
    return p->cursor_before;
}

int
search_plan_has_cursor(const search_plan *p)
{
    return p->has_cursor;
}

const char *
search_plan_cursor(const search_plan *p, const fhir_sqlval *keys, int64_t rid,
                   int before, fhir_arena *a)
{
    fhir_buf b = FHIR_BUF_INIT;
    if (before) {
        fhir_buf_putc(&b, 'b');
    }
    for (size_t k = 0; k < 2 * p->nsort; k++) {
        const fhir_sqlval *v = &keys[k];
        if (v->is_text && v->s == NULL) {
            fhir_buf_puts(&b, "n.");
        } else if (v->is_text) {
            fhir_buf_putc(&b, 't');
            for (size_t i = 0; i < v->len; i++) {
                fhir_buf_printf(&b, "%02x", (unsigned char)v->s[i]);
            }
            fhir_buf_putc(&b, '.');
        } else {
            fhir_buf_printf(&b, "i%lld.", (long long)v->i);
        }
    }
    fhir_buf_printf(&b, "%lld.s%lld", (long long)rid, (long long)p->snapshot);
    const char *s = fhir_arena_strndup(a, b.data, b.len);
    fhir_buf_clear(&b);
    return s;
}

void
search_plan_snapshot_sql(const search_plan *p, fhir_sql *out)
{
    (void)p;
    fhir_sql_add(out, "SELECT coalesce(max(hid), 0) FROM history");
}

void
search_plan_set_snapshot(search_plan *p, int64_t t)
{
    if (!p->has_cursor) {
        p->snapshot = t;
    }
}

int64_t
search_plan_snapshot(const search_plan *p)
{
    return p->snapshot;
}

int
search_plan_changed_sql(const search_plan *p, fhir_sql *out)
{
    if (!p->has_cursor && !p->hot_used) {
        return 0;
    }
    /* Resources of the types written after the snapshot that existed at
     * it: their version then (body NULL if it was a delete). */
    fhir_sql_add(out, "SELECT r.rid, r.id, r.type, o.body, o.hid, h.body "
                      "FROM resource r JOIN history h ON h.hid = r.hid "
                      "JOIN history o ON o.rid = r.rid AND o.version = "
                      "(SELECT max(x.version) FROM history x WHERE "
                      "x.rid = r.rid AND x.hid <= ");
    fhir_sql_int(out, p->snapshot);
    fhir_sql_add(out, ") WHERE r.type");
    sql_types(out, p);
    fhir_sql_add(out, " AND r.hid > ");
    fhir_sql_int(out, p->snapshot);
    fhir_sql_add(out, " AND r.deleted = 0");
    return 1;
}

int
search_plan_match_sql(const search_plan *p, const fhir_rows *rows,
                      const char *id, fhir_sql *out)
{
    int any = 0;
    for (size_t i = 0; i < p->nconds; i++) {
        const search_cond *c = &p->conds[i];
        if (c->link == SEARCH_LINK_NONE) {
            continue;
        }
        fhir_sql_add(out, any ? " AND " : "SELECT ");
        sql_link(out, p, c, 0, rows, id);
        any = 1;
    }
    return any;
}
