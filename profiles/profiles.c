/* profiles/profiles.c - the profile registry and the snapshot validator.
 *
 * prof_registry_load() reads the StructureDefinitions and ValueSets that
 * tools/extract-definitions.py cut from the R4 specification into
 * profiles/definitions/, and compiles them into the tables described in
 * profiles_int.h: element tables per type and code lists per ValueSet,
 * all resolved at load so that validating a resource only follows
 * pointers and binary-searches sorted arrays. prof_validate() walks a
 * parsed resource against its type's snapshot and reports cardinality
 * (required elements, arrays versus single values), JSON kinds, and codes
 * of required bindings, each with a FHIRPath location.
 *
 * Left to later work: unknown elements, primitive formats (dates, ids,
 * regexes), references to the allowed target types, invariants, the
 * `_element` extension twins, profiles (StructureDefinitions with
 * derivation "constraint" are skipped at load), ValueSet filters and
 * excludes. Parsing is fhir/json.c's job and the HTTP status server/'s.
 */
#include "profiles/profiles.h"
#include "profiles/profiles_int.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FHIRPATH_SYSTEM "http://hl7.org/fhirpath/System."
#define EXT_FHIR_TYPE                                                          \
    "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"

/* ---- lookups ---------------------------------------------------------- */

/* A string that need not be NUL-terminated where it ends, compared with
 * the ordering strcmp() gives the NUL-terminated table entries. */
typedef struct span {
    const char *s;
    size_t n;
} span;

static int
span_cmp(span k, const char *s)
{
    int r = strncmp(k.s, s, k.n);
    if (r != 0) {
        return r;
    }
    return s[k.n] == '\0' ? 0 : -1;
}

/* A canonical URL without its "|version" suffix. */
static span
url_unversioned(const char *url)
{
    const char *bar = strchr(url, '|');
    span k = {url, bar != NULL ? (size_t)(bar - url) : strlen(url)};
    return k;
}

static int
sd_key_cmp(const void *key, const void *item)
{
    return strcmp(key, ((const prof_sd *)item)->type);
}

static const prof_sd *
sd_find(const prof_registry *reg, const char *type)
{
    if (reg->nsds == 0) {
        return NULL;
    }
    return bsearch(type, reg->sds, reg->nsds, sizeof(prof_sd), sd_key_cmp);
}

static int
vs_key_cmp(const void *key, const void *item)
{
    return span_cmp(*(const span *)key, ((const prof_valueset *)item)->url);
}

static const prof_valueset *
vs_find(const prof_registry *reg, const char *url)
{
    span k = url_unversioned(url);
    if (reg->nvss == 0) {
        return NULL;
    }
    return bsearch(&k, reg->vss, reg->nvss, sizeof(prof_valueset), vs_key_cmp);
}

static int
code_cmp(const void *a, const void *b)
{
    const prof_code *x = a, *y = b;
    int r = strcmp(x->code, y->code);
    return r != 0 ? r : strcmp(x->system, y->system);
}

/* Compares the code only, so bsearch() finds a code in any system. */
static int
code_only_cmp(const void *a, const void *b)
{
    return strcmp(((const prof_code *)a)->code, ((const prof_code *)b)->code);
}

/* 1 member, 0 not a member, -1 cannot tell (the set is incomplete). */
static int
vs_has(const prof_valueset *vs, const char *system, const char *code)
{
    prof_code k = {code, system != NULL ? system : ""};
    const void *hit;

    if (vs->ncodes == 0) {
        hit = NULL;
    } else if (system == NULL) {
        hit = bsearch(&k, vs->codes, vs->ncodes, sizeof(prof_code),
                      code_only_cmp);
    } else {
        hit = bsearch(&k, vs->codes, vs->ncodes, sizeof(prof_code), code_cmp);
    }
    if (hit != NULL) {
        return 1;
    }
    return vs->complete ? 0 : -1;
}

static int
key_cmp(const void *key, const void *item)
{
    return strcmp(key, ((const prof_key *)item)->name);
}

static int
key_cmp_sort(const void *a, const void *b)
{
    return strcmp(((const prof_key *)a)->name, ((const prof_key *)b)->name);
}

static const prof_key *
key_find(const prof_elem *node, const char *name)
{
    if (node->nkeys == 0) {
        return NULL;
    }
    return bsearch(name, node->keys, node->nkeys, sizeof(prof_key), key_cmp);
}

/* ---- loading: files --------------------------------------------------- */

/* Reads and parses dir/name. Errors: not-found, structure, too-long. */
static int
json_load(cJSON **out, const char *dir, const char *name, fhir_err *err)
{
    static const fhir_json_opts opts = {256, 0};
    fhir_err perr = FHIR_ERR_INIT;
    fhir_buf buf = FHIR_BUF_INIT;
    char path[4096];
    int rc = -1;

    *out = NULL;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
        sizeof(path)) {
        return fhir_err_set(err, FHIR_ISSUE_NOT_FOUND,
                            "definitions directory name too long");
    }
    if (fhir_file_read(&buf, path, PROF_MAX_FILE, err) != 0) {
        goto done;
    }
    if (fhir_json_parse(out, buf.data != NULL ? buf.data : "", buf.len, &opts,
                        &perr) != 0) {
        fhir_err_set(err, FHIR_ISSUE_STRUCTURE, "%s: %s", path, perr.diag);
        goto done;
    }
    rc = 0;
done:
    fhir_buf_clear(&buf);
    return rc;
}

/* The resources of type `type` in `root`: a Bundle's entries, or root
 * itself. Returns a malloc'd array (free it) of borrowed nodes. */
static const cJSON **
resources_of(const cJSON *root, const char *type, size_t *count)
{
    const char *rt = fhir_json_str(root, "resourceType");
    const cJSON **list;
    const cJSON *entry;
    size_t n = 0;

    if (rt != NULL && strcmp(rt, type) == 0) {
        list = fhir_xmalloc(sizeof(*list));
        list[0] = root;
        *count = 1;
        return list;
    }
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(root, "entry");
    list = fhir_xcalloc((size_t)cJSON_GetArraySize(entries) + 1, sizeof(*list));
    if (rt != NULL && strcmp(rt, "Bundle") == 0) {
        cJSON_ArrayForEach(entry, entries)
        {
            const cJSON *res =
                cJSON_GetObjectItemCaseSensitive(entry, "resource");
            const char *t = fhir_json_str(res, "resourceType");
            if (t != NULL && strcmp(t, type) == 0) {
                list[n++] = res;
            }
        }
    }
    *count = n;
    return list;
}

static int
json_url_cmp(const void *a, const void *b)
{
    const char *x = fhir_json_str(*(const cJSON *const *)a, "url");
    const char *y = fhir_json_str(*(const cJSON *const *)b, "url");
    return strcmp(x, y);
}

/* Drops the resources without a url and sorts the rest by url. */
static size_t
sort_by_url(const cJSON **list, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (fhir_json_str(list[i], "url") != NULL) {
            list[k++] = list[i];
        }
    }
    if (k > 0) {
        qsort(list, k, sizeof(*list), json_url_cmp);
    }
    return k;
}

/* ---- loading: ValueSets ----------------------------------------------- */

typedef struct code_vec {
    prof_code *v;
    size_t n, cap;
} code_vec;

static void
code_vec_add(code_vec *cv, const char *system, const char *code)
{
    if (cv->n == cv->cap) {
        cv->cap = cv->cap ? cv->cap * 2 : 32;
        cv->v = fhir_xrealloc(cv->v, cv->cap * sizeof(prof_code));
    }
    cv->v[cv->n].system = system;
    cv->v[cv->n].code = code;
    cv->n++;
}

enum { VS_TODO, VS_BUSY, VS_DONE };

typedef struct vs_loader {
    prof_registry *reg;
    const cJSON **vsjson; /* parallel to reg->vss */
    unsigned char *state; /* VS_TODO.. per ValueSet */
    const cJSON **cs;     /* CodeSystems, sorted by url */
    size_t ncs;
} vs_loader;

static const cJSON *
cs_find(const vs_loader *ld, const char *url)
{
    size_t lo = 0, hi = ld->ncs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(url, fhir_json_str(ld->cs[mid], "url"));
        if (r == 0) {
            return ld->cs[mid];
        }
        if (r < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

/* Adds a CodeSystem's concepts and, R4 codesystem.html#hierarchy, the
 * concepts nested under them: every one is a code of the system. */
static void
concepts_add(code_vec *cv, fhir_arena *a, const char *system,
             const cJSON *concepts)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, concepts)
    {
        const char *code = fhir_json_str(c, "code");
        if (code != NULL) {
            code_vec_add(cv, system, fhir_arena_strdup(a, code));
        }
        concepts_add(cv, a, system,
                     cJSON_GetObjectItemCaseSensitive(c, "concept"));
    }
}

static void vs_expand(vs_loader *ld, size_t i);

/* One compose.include (R4 valueset.html#compose): codes of a system,
 * listed or all of them, or the union of other ValueSets. Returns 0 when
 * the include could not be enumerated. */
static int
include_add(vs_loader *ld, code_vec *cv, const cJSON *inc)
{
    fhir_arena *a = ld->reg->arena;
    const char *system = fhir_json_str(inc, "system");
    const cJSON *vsets = cJSON_GetObjectItemCaseSensitive(inc, "valueSet");
    const cJSON *concepts = cJSON_GetObjectItemCaseSensitive(inc, "concept");
    const cJSON *it;
    int complete = 1;

    if (system != NULL && vsets != NULL) {
        return 0; /* the intersection of both: not needed by R4 core */
    }
    if (system == NULL) {
        cJSON_ArrayForEach(it, vsets)
        {
            const prof_valueset *vs =
                cJSON_IsString(it) ? vs_find(ld->reg, it->valuestring) : NULL;
            if (vs == NULL) {
                complete = 0;
                continue;
            }
            size_t j = (size_t)(vs - ld->reg->vss);
            vs_expand(ld, j);
            complete = complete && vs->complete && ld->state[j] == VS_DONE;
            for (size_t k = 0; k < vs->ncodes; k++) {
                code_vec_add(cv, vs->codes[k].system, vs->codes[k].code);
            }
        }
        return complete;
    }
    system = fhir_arena_strdup(a, system);
    if (cJSON_GetObjectItemCaseSensitive(inc, "filter") != NULL) {
        return 0; /* filters (is-a, regex, ...) are not evaluated */
    }
    if (concepts != NULL) {
        cJSON_ArrayForEach(it, concepts)
        {
            const char *code = fhir_json_str(it, "code");
            if (code != NULL) {
                code_vec_add(cv, system, fhir_arena_strdup(a, code));
            }
        }
        return 1;
    }
    const cJSON *cs = cs_find(ld, system);
    const char *content = fhir_json_str(cs, "content");
    if (cs == NULL || content == NULL || strcmp(content, "complete") != 0) {
        return 0; /* external (BCP-13, ISO 4217) or partial CodeSystem */
    }
    concepts_add(cv, a, system,
                 cJSON_GetObjectItemCaseSensitive(cs, "concept"));
    return 1;
}

/* Fills reg->vss[i] from its compose, expanding included ValueSets first.
 * A ValueSet met again while it is being expanded (a cycle) counts as
 * incomplete for the one including it. */
static void
vs_expand(vs_loader *ld, size_t i)
{
    prof_valueset *vs = &ld->reg->vss[i];
    const cJSON *compose;
    const cJSON *inc;
    code_vec cv = {NULL, 0, 0};
    int complete = 1;

    if (ld->state[i] != VS_TODO) {
        return;
    }
    ld->state[i] = VS_BUSY;
    compose = cJSON_GetObjectItemCaseSensitive(ld->vsjson[i], "compose");
    if (compose == NULL ||
        cJSON_GetObjectItemCaseSensitive(compose, "exclude") != NULL) {
        complete = 0; /* excludes are not applied, so nothing is ruled out */
    }
    cJSON_ArrayForEach(inc,
                       cJSON_GetObjectItemCaseSensitive(compose, "include"))
    {
        if (!include_add(ld, &cv, inc)) {
            complete = 0;
        }
    }
    if (cv.n > 0) {
        /* The definition order first (it is a rank for some, e.g.
         * routine < urgent < asap < stat), each code once. */
        vs->order = fhir_arena_alloc(ld->reg->arena, cv.n * sizeof(char *));
        for (size_t j = 0; j < cv.n; j++) {
            size_t m;
            for (m = 0; m < vs->norder; m++) {
                if (strcmp(vs->order[m], cv.v[j].code) == 0) {
                    break;
                }
            }
            if (m == vs->norder) {
                vs->order[vs->norder++] = cv.v[j].code;
            }
        }
        if (cv.n > 1) {
            qsort(cv.v, cv.n, sizeof(prof_code), code_cmp);
        }
        size_t k = 1;
        for (size_t j = 1; j < cv.n; j++) {
            if (code_cmp(&cv.v[j], &cv.v[k - 1]) != 0) {
                cv.v[k++] = cv.v[j];
            }
        }
        cv.n = k;
        vs->codes = fhir_arena_alloc(ld->reg->arena, cv.n * sizeof(prof_code));
        memcpy(vs->codes, cv.v, cv.n * sizeof(prof_code));
    }
    vs->ncodes = cv.n;
    vs->complete = complete;
    free(cv.v);
    ld->state[i] = VS_DONE;
}

static int
valuesets_build(prof_registry *reg, const cJSON *root, fhir_err *err)
{
    vs_loader ld = {reg, NULL, NULL, NULL, 0};
    size_t n;
    int rc = -1;

    ld.vsjson = resources_of(root, "ValueSet", &n);
    ld.cs = resources_of(root, "CodeSystem", &ld.ncs);
    n = sort_by_url(ld.vsjson, n);
    ld.ncs = sort_by_url(ld.cs, ld.ncs);
    reg->vss = fhir_arena_alloc(reg->arena, n * sizeof(prof_valueset));
    for (size_t i = 0; i < n; i++) {
        span k = url_unversioned(fhir_json_str(ld.vsjson[i], "url"));
        if (i > 0 && span_cmp(k, reg->vss[i - 1].url) == 0) {
            fhir_err_set(err, FHIR_ISSUE_STRUCTURE,
                         "%s: two ValueSets with url %s", PROF_FILE_VALUESETS,
                         reg->vss[i - 1].url);
            goto done;
        }
        reg->vss[i].url = fhir_arena_strndup(reg->arena, k.s, k.n);
    }
    reg->nvss = n;
    ld.state = fhir_xcalloc(n, 1);
    for (size_t i = 0; i < n; i++) {
        vs_expand(&ld, i);
    }
    rc = 0;
done:
    free(ld.state);
    free(ld.vsjson);
    free(ld.cs);
    return rc;
}

/* ---- loading: StructureDefinitions ------------------------------------ */

static prof_kind
primitive_kind(const char *type)
{
    static const struct {
        const char *type;
        prof_kind kind;
    } kinds[] = {
        {"boolean", PROF_KIND_BOOLEAN},
        {"integer", PROF_KIND_INTEGER},
        {"positiveInt", PROF_KIND_POSITIVE_INT},
        {"unsignedInt", PROF_KIND_UNSIGNED_INT},
        {"decimal", PROF_KIND_DECIMAL},
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(type, kinds[i].type) == 0) {
            return kinds[i].kind;
        }
    }
    return PROF_KIND_STRING; /* R4 json.html: the rest are JSON strings */
}

/* The FHIR type behind a FHIRPath system type: element ids and
 * Extension.url are typed "http://hl7.org/fhirpath/System.String" with
 * the FHIR type in an extension. */
static const char *
system_type(const cJSON *jtype, const char *code)
{
    const cJSON *ext;
    cJSON_ArrayForEach(ext,
                       cJSON_GetObjectItemCaseSensitive(jtype, "extension"))
    {
        const char *url = fhir_json_str(ext, "url");
        const char *v = fhir_json_str(ext, "valueUrl");
        if (url != NULL && v != NULL && strcmp(url, EXT_FHIR_TYPE) == 0) {
            return v;
        }
    }
    code += strlen(FHIRPATH_SYSTEM);
    if (strcmp(code, "Boolean") == 0) {
        return "boolean";
    }
    if (strcmp(code, "Integer") == 0) {
        return "integer";
    }
    if (strcmp(code, "Decimal") == 0) {
        return "decimal";
    }
    return "string";
}

static void
type_resolve(prof_type *t, const prof_registry *reg, const cJSON *jtype)
{
    const char *code = fhir_json_str(jtype, "code");
    int system = 0;
    const prof_sd *sd;

    if (code == NULL) {
        code = "";
    }
    if (strncmp(code, FHIRPATH_SYSTEM, strlen(FHIRPATH_SYSTEM)) == 0) {
        code = system_type(jtype, code);
        system = 1;
    }
    t->code = fhir_arena_strdup(reg->arena, code);
    sd = sd_find(reg, code);
    if (sd == NULL) {
        t->kind = system ? primitive_kind(code) : PROF_KIND_UNKNOWN;
    } else if (sd->kind == PROF_SD_PRIMITIVE) {
        t->kind = primitive_kind(code);
    } else if (sd->kind == PROF_SD_RESOURCE) {
        t->kind = PROF_KIND_RESOURCE;
    } else {
        t->kind = PROF_KIND_COMPLEX;
        t->sd = sd;
    }
    if (t->kind == PROF_KIND_STRING) {
        t->bind = PROF_BIND_CODE;
    } else if (strcmp(code, "Coding") == 0) {
        t->bind = PROF_BIND_CODING;
    } else if (strcmp(code, "CodeableConcept") == 0) {
        t->bind = PROF_BIND_CONCEPT;
    }
}

/* Fills the element from its ElementDefinition; `name` is the last path
 * segment. */
static void
elem_init(prof_elem *e, const prof_registry *reg, const cJSON *j,
          const char *path, const char *name)
{
    fhir_arena *a = reg->arena;
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(j, "type");
    const cJSON *min = cJSON_GetObjectItemCaseSensitive(j, "min");
    const char *max = fhir_json_str(j, "max");
    const cJSON *binding = cJSON_GetObjectItemCaseSensitive(j, "binding");
    const char *strength = fhir_json_str(binding, "strength");
    const char *vs = fhir_json_str(binding, "valueSet");
    size_t namelen = strlen(name);
    const cJSON *jt;

    e->path = fhir_arena_strdup(a, path);
    e->summary = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "isSummary"));
    e->min = cJSON_IsNumber(min) ? min->valueint : 0;
    if (max == NULL) {
        e->max = 1;
    } else if (strcmp(max, "*") == 0) {
        e->max = -1;
    } else {
        e->max = (int)strtol(max, NULL, 10);
    }
    e->ntypes = (size_t)cJSON_GetArraySize(types);
    e->types = fhir_arena_alloc(a, (e->ntypes + 1) * sizeof(prof_type));
    size_t k = 0;
    cJSON_ArrayForEach(jt, types)
    {
        type_resolve(&e->types[k++], reg, jt);
    }
    e->choice = namelen > 3 && strcmp(name + namelen - 3, "[x]") == 0;
    if (e->choice) {
        /* R4 json.html#choice: the member name is the element name with
         * the type appended, its first letter capitalised. */
        e->name = fhir_arena_strndup(a, name, namelen - 3);
        e->njson = e->ntypes;
        e->json = fhir_arena_alloc(a, (e->njson + 1) * sizeof(char *));
        for (size_t i = 0; i < e->ntypes; i++) {
            const char *c = e->types[i].code;
            e->json[i] = fhir_arena_printf(a, "_%s%c%s", e->name,
                                           toupper((unsigned char)c[0]),
                                           c[0] ? c + 1 : "") +
                         1;
        }
    } else {
        e->njson = 1;
        e->json = fhir_arena_alloc(a, sizeof(char *));
        e->json[0] = fhir_arena_printf(a, "_%s", name) + 1;
        e->name = e->json[0];
    }
    if (strength != NULL && vs != NULL && strcmp(strength, "required") == 0) {
        span u = url_unversioned(vs);
        e->binding_url = fhir_arena_strndup(a, u.s, u.n);
        e->binding = vs_find(reg, e->binding_url);
    }
}

/* 1 when `path` is `parent` plus one or more segments. */
static int
path_below(const char *path, const char *parent)
{
    size_t n = strlen(parent);
    return strncmp(path, parent, n) == 0 && path[n] == '.';
}

/* Compiles one snapshot into sd->elems, linking each element under its
 * parent: snapshots list elements depth first, so the parent is the
 * nearest earlier element whose path is a prefix (a stack of them). */
static void
sd_build(prof_registry *reg, prof_sd *sd, const cJSON *json)
{
    fhir_arena *a = reg->arena;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(json, "snapshot"), "element");
    size_t cap = (size_t)cJSON_GetArraySize(list);
    size_t *parent = fhir_xcalloc(cap, sizeof(size_t));
    size_t *stack = fhir_xcalloc(cap, sizeof(size_t));
    const char **cref = fhir_xcalloc(cap, sizeof(char *));
    size_t depth = 0, n = 0;
    const cJSON *j;

    sd->elems = fhir_arena_alloc(a, (cap + 1) * sizeof(prof_elem));
    cJSON_ArrayForEach(j, list)
    {
        const char *path = fhir_json_str(j, "path");
        const char *id = fhir_json_str(j, "id");
        const char *name;

        /* Slices belong to profiles; a base snapshot has none. */
        if (path == NULL || fhir_json_str(j, "sliceName") != NULL ||
            (id != NULL && strchr(id, ':') != NULL)) {
            continue;
        }
        while (depth > 0 &&
               !path_below(path, sd->elems[stack[depth - 1]].path)) {
            depth--;
        }
        if (n == 0) {
            name = path;
        } else if (depth == 0) {
            continue; /* outside the root: malformed, ignored */
        } else {
            name = path + strlen(sd->elems[stack[depth - 1]].path) + 1;
            if (strchr(name, '.') != NULL) {
                continue; /* its parent is missing */
            }
            parent[n] = stack[depth - 1];
        }
        elem_init(&sd->elems[n], reg, j, path, name);
        cref[n] = fhir_json_str(j, "contentReference");
        stack[depth++] = n;
        n++;
    }
    sd->nelems = n;

    /* Size each parent's tables, then fill and sort them. */
    for (size_t i = 1; i < n; i++) {
        prof_elem *p = &sd->elems[parent[i]];
        p->nkeys += sd->elems[i].njson;
        p->nrequired += sd->elems[i].min >= 1;
    }
    for (size_t i = 0; i < n; i++) {
        prof_elem *e = &sd->elems[i];
        if (e->nkeys > 0) {
            e->keys = fhir_arena_alloc(a, e->nkeys * sizeof(prof_key));
        }
        if (e->nrequired > 0) {
            e->required =
                fhir_arena_alloc(a, e->nrequired * sizeof(prof_elem *));
        }
        e->nkeys = e->nrequired = 0;
    }
    for (size_t i = 1; i < n; i++) {
        prof_elem *p = &sd->elems[parent[i]];
        prof_elem *e = &sd->elems[i];
        for (size_t k = 0; k < e->njson; k++) {
            prof_key *key = &p->keys[p->nkeys++];
            key->name = e->json[k];
            key->elem = e;
            key->type = e->choice       ? &e->types[k]
                        : e->ntypes > 0 ? &e->types[0]
                                        : NULL;
        }
        if (e->min >= 1) {
            p->required[p->nrequired++] = e;
        }
    }
    for (size_t i = 0; i < n; i++) {
        prof_elem *e = &sd->elems[i];
        if (e->nkeys > 1) {
            qsort(e->keys, e->nkeys, sizeof(prof_key), key_cmp_sort);
        }
        /* R4 elementdefinition.html#contentReference: "#Path" names an
         * element of the same type whose children apply here too. */
        const char *hash = cref[i] != NULL ? strchr(cref[i], '#') : NULL;
        for (size_t k = 0; hash != NULL && k < n; k++) {
            if (strcmp(sd->elems[k].path, hash + 1) == 0) {
                e->content = &sd->elems[k];
                break;
            }
        }
    }
    free(parent);
    free(stack);
    free(cref);
}

static int
sd_json_cmp(const void *a, const void *b)
{
    return strcmp(fhir_json_str(*(const cJSON *const *)a, "type"),
                  fhir_json_str(*(const cJSON *const *)b, "type"));
}

/* The base definitions of types (not profiles on them), sorted by type.
 * Returns a malloc'd array of borrowed nodes. */
static const cJSON **
sd_sources(const cJSON *root, size_t *count)
{
    size_t n, k = 0;
    const cJSON **list = resources_of(root, "StructureDefinition", &n);

    for (size_t i = 0; i < n; i++) {
        const cJSON *sd = list[i];
        const char *derivation = fhir_json_str(sd, "derivation");
        const char *kind = fhir_json_str(sd, "kind");
        const cJSON *snap = cJSON_GetObjectItemCaseSensitive(sd, "snapshot");
        if (fhir_json_str(sd, "type") == NULL || kind == NULL ||
            strcmp(kind, "logical") == 0 ||
            (derivation != NULL && strcmp(derivation, "constraint") == 0) ||
            !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(snap, "element"))) {
            continue;
        }
        list[k++] = sd;
    }
    if (k > 0) {
        qsort(list, k, sizeof(*list), sd_json_cmp);
    }
    *count = k;
    return list;
}

static int
structures_build(prof_registry *reg, const cJSON *root, fhir_err *err)
{
    size_t n;
    const cJSON **src = sd_sources(root, &n);
    int rc = -1;

    /* First every type's name, so that element types can be resolved to
     * their definitions while the snapshots are compiled. */
    reg->sds = fhir_arena_alloc(reg->arena, (n + 1) * sizeof(prof_sd));
    for (size_t i = 0; i < n; i++) {
        prof_sd *sd = &reg->sds[i];
        const char *kind = fhir_json_str(src[i], "kind");
        const cJSON *abstract =
            cJSON_GetObjectItemCaseSensitive(src[i], "abstract");
        const char *url = fhir_json_str(src[i], "url");

        sd->type = fhir_arena_strdup(reg->arena, fhir_json_str(src[i], "type"));
        if (i > 0 && strcmp(sd->type, reg->sds[i - 1].type) == 0) {
            fhir_err_set(err, FHIR_ISSUE_STRUCTURE,
                         "%s: two StructureDefinitions for type %s",
                         PROF_FILE_STRUCTURES, sd->type);
            goto done;
        }
        sd->url = fhir_arena_strdup(reg->arena, url != NULL ? url : "");
        sd->abstract = cJSON_IsTrue(abstract);
        if (strcmp(kind, "primitive-type") == 0) {
            sd->kind = PROF_SD_PRIMITIVE;
        } else if (strcmp(kind, "resource") == 0) {
            sd->kind = PROF_SD_RESOURCE;
        } else {
            sd->kind = PROF_SD_COMPLEX;
        }
    }
    reg->nsds = n;
    for (size_t i = 0; i < n; i++) {
        sd_build(reg, &reg->sds[i], src[i]);
    }
    rc = 0;
done:
    free(src);
    return rc;
}

/* ---- registry --------------------------------------------------------- */

int
prof_registry_load(prof_registry **out, const char *dir, fhir_err *err)
{
    prof_registry *reg = NULL;
    cJSON *sds = NULL;
    cJSON *vss = NULL;
    int rc = -1;

    assert(out != NULL);
    assert(dir != NULL);
    *out = NULL;
    if (json_load(&vss, dir, PROF_FILE_VALUESETS, err) != 0 ||
        json_load(&sds, dir, PROF_FILE_STRUCTURES, err) != 0) {
        goto done;
    }
    reg = fhir_xcalloc(1, sizeof(*reg));
    reg->arena = fhir_arena_new();
    /* ValueSets first: elements point at the ValueSets they bind. */
    if (valuesets_build(reg, vss, err) != 0 ||
        structures_build(reg, sds, err) != 0) {
        goto done;
    }
    *out = reg;
    reg = NULL;
    rc = 0;
done:
    cJSON_Delete(sds);
    cJSON_Delete(vss);
    prof_registry_free(reg);
    return rc;
}

void
prof_registry_free(prof_registry *reg)
{
    if (reg == NULL) {
        return;
    }
    fhir_arena_free(reg->arena);
    free(reg);
}

int
prof_valueset_contains(const prof_registry *reg, const char *url,
                       const char *system, const char *code)
{
    const prof_valueset *vs;

    assert(reg != NULL);
    if (url == NULL || code == NULL) {
        return -1;
    }
    vs = vs_find(reg, url);
    return vs != NULL ? vs_has(vs, system, code) : -1;
}

/* ---- validation ------------------------------------------------------- */

typedef struct walker {
    const prof_registry *reg;
    fhir_err *err;
    int want_oo; /* the caller asked for the OperationOutcome */
    cJSON *oo;   /* built as issues are found */
    int nissues;
    int stopped; /* PROF_MAX_ISSUES reached: walk no further */
    size_t len;  /* of path */
    char path[PROF_PATH_MAX];
} walker;

static size_t path_push(walker *w, const char *fmt, ...) FHIR_PRINTF(2, 3);
static void report(walker *w, fhir_issue issue, const char *fmt, ...)
    FHIR_PRINTF(3, 4);

/* Appends to the FHIRPath and returns the length to restore; a path too
 * long for the buffer is cut, which only shortens diagnostics. */
static size_t
path_push(walker *w, const char *fmt, ...)
{
    size_t mark = w->len;
    size_t room = sizeof(w->path) - w->len;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(w->path + w->len, room, fmt, ap);
    va_end(ap);
    if (n > 0) {
        w->len += (size_t)n < room ? (size_t)n : room - 1;
    }
    return mark;
}

static void
path_pop(walker *w, size_t mark)
{
    w->len = mark;
    w->path[mark] = '\0';
}

/* Records one error-level issue at the current path: the first goes to
 * `err`, every one to the OperationOutcome when the caller wants it. */
static void
report(walker *w, fhir_issue issue, const char *fmt, ...)
{
    const char *expr = w->len > 0 ? w->path : NULL;
    char diag[sizeof(((fhir_err *)0)->diag)];
    va_list ap;

    if (w->stopped) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(diag, sizeof(diag), fmt, ap);
    va_end(ap);
    fhir_utf8_cut(diag);
    fhir_err_set_at(w->err, issue, expr, "%s", diag);
    if (w->want_oo && w->oo == NULL) {
        w->oo = fhir_oo_new("error", issue, diag, expr);
    } else if (w->want_oo) {
        fhir_oo_add(w->oo, "error", issue, diag, expr);
    }
    if (++w->nissues >= PROF_MAX_ISSUES) {
        w->stopped = 1;
        if (w->want_oo) {
            snprintf(diag, sizeof(diag), "validation stopped after %d issues",
                     w->nissues);
            fhir_oo_add(w->oo, "information", FHIR_ISSUE_INFORMATIONAL, diag,
                        NULL);
        }
    }
}

static int
kind_is_primitive(prof_kind k)
{
    return k != PROF_KIND_UNKNOWN && k != PROF_KIND_COMPLEX &&
           k != PROF_KIND_RESOURCE;
}

/* R4 datatypes.html#integer: a whole number in 32 bits, written without
 * fraction or exponent (fhir/json.c keeps the lexeme in valuestring);
 * positiveInt starts at 1, unsignedInt at 0. */
static int
integer_ok(const cJSON *v, prof_kind kind)
{
    double d = v->valuedouble;
    double lo = -2147483648.0;
    const char *s = v->valuestring;

    if (kind == PROF_KIND_POSITIVE_INT) {
        lo = 1.0;
    } else if (kind == PROF_KIND_UNSIGNED_INT) {
        lo = 0.0;
    }
    if (s != NULL) {
        s += s[0] == '-';
        if (*s == '\0') {
            return 0;
        }
        for (; *s != '\0'; s++) {
            if (!isdigit((unsigned char)*s)) {
                return 0;
            }
        }
    }
    return d >= lo && d <= 2147483647.0 && (double)(long)d == d;
}

static void walk_object(walker *w, const prof_elem *node, const cJSON *obj,
                        int depth);
static void walk_resource(walker *w, const cJSON *res, int depth);

static void
check_code(walker *w, const prof_elem *e, const char *code)
{
    if (vs_has(e->binding, NULL, code) == 0) {
        report(w, FHIR_ISSUE_CODE_INVALID,
               "%s: code '%s' is not in ValueSet %s", w->path, code,
               e->binding_url);
    }
}

static void
check_coding(walker *w, const prof_elem *e, const cJSON *coding)
{
    const char *system = fhir_json_str(coding, "system");
    const char *code = fhir_json_str(coding, "code");

    if (system != NULL && code != NULL &&
        vs_has(e->binding, system, code) == 0) {
        size_t mark = path_push(w, ".code");
        report(w, FHIR_ISSUE_CODE_INVALID,
               "%s: code '%s' of system %s is not in ValueSet %s", w->path,
               code, system, e->binding_url);
        path_pop(w, mark);
    }
}

/* A CodeableConcept meets a required binding when one of its codings is
 * in the ValueSet; one with text only or no coded coding is let through. */
static void
check_concept(walker *w, const prof_elem *e, const cJSON *cc)
{
    const cJSON *coding;
    int coded = 0;

    cJSON_ArrayForEach(coding, cJSON_GetObjectItemCaseSensitive(cc, "coding"))
    {
        const char *system = fhir_json_str(coding, "system");
        const char *code = fhir_json_str(coding, "code");
        if (system == NULL || code == NULL) {
            continue;
        }
        if (vs_has(e->binding, system, code) != 0) {
            return;
        }
        coded = 1;
    }
    if (coded) {
        report(w, FHIR_ISSUE_CODE_INVALID, "%s: no coding is in ValueSet %s",
               w->path, e->binding_url);
    }
}

/* One value of an element: a whole member, or one item of its array. */
static void
check_value(walker *w, const prof_key *key, const cJSON *v, int in_array,
            int depth)
{
    const prof_elem *e = key->elem;
    const prof_type *t = key->type;
    const prof_elem *node = NULL;

    if (cJSON_IsNull(v)) {
        /* R4 json.html#primitive: null keeps an array of primitives in
         * step with its `_name` twin of extensions. */
        if (!in_array || t == NULL || !kind_is_primitive(t->kind)) {
            report(w, FHIR_ISSUE_STRUCTURE, "%s must not be null", w->path);
        }
        return;
    }
    if (e->content != NULL) {
        if (!cJSON_IsObject(v)) {
            report(w, FHIR_ISSUE_STRUCTURE, "%s must be a JSON object",
                   w->path);
            return;
        }
        walk_object(w, e->content, v, depth + 1);
        return;
    }
    if (t == NULL) {
        return;
    }
    switch (t->kind) {
    case PROF_KIND_UNKNOWN:
        return;
    case PROF_KIND_STRING:
        if (!cJSON_IsString(v)) {
            report(w, FHIR_ISSUE_STRUCTURE,
                   "%s must be a JSON string (FHIR %s)", w->path, t->code);
        } else if (e->binding != NULL) {
            check_code(w, e, v->valuestring);
        }
        return;
    case PROF_KIND_BOOLEAN:
        if (!cJSON_IsBool(v)) {
            report(w, FHIR_ISSUE_STRUCTURE, "%s must be true or false",
                   w->path);
        }
        return;
    case PROF_KIND_INTEGER:
    case PROF_KIND_POSITIVE_INT:
    case PROF_KIND_UNSIGNED_INT:
    case PROF_KIND_DECIMAL:
        if (!cJSON_IsNumber(v)) {
            report(w, FHIR_ISSUE_STRUCTURE,
                   "%s must be a JSON number (FHIR %s)", w->path, t->code);
        } else if (t->kind != PROF_KIND_DECIMAL && !integer_ok(v, t->kind)) {
            report(w, FHIR_ISSUE_VALUE, "%s is not a valid %s", w->path,
                   t->code);
        }
        return;
    case PROF_KIND_RESOURCE:
        if (!cJSON_IsObject(v)) {
            report(w, FHIR_ISSUE_STRUCTURE,
                   "%s must be a JSON object (a resource)", w->path);
            return;
        }
        walk_resource(w, v, depth + 1);
        return;
    case PROF_KIND_COMPLEX:
        break;
    }
    if (!cJSON_IsObject(v)) {
        report(w, FHIR_ISSUE_STRUCTURE, "%s must be a JSON object (FHIR %s)",
               w->path, t->code);
        return;
    }
    if (e->binding != NULL && t->bind == PROF_BIND_CODING) {
        check_coding(w, e, v);
    } else if (e->binding != NULL && t->bind == PROF_BIND_CONCEPT) {
        check_concept(w, e, v);
    }
    /* Backbone elements carry their children; datatypes have their own
     * definition. */
    if (e->nkeys > 0) {
        node = e;
    } else if (t->sd != NULL && t->sd->nelems > 0) {
        node = &t->sd->elems[0];
    }
    if (node != NULL) {
        walk_object(w, node, v, depth + 1);
    }
}

/* A member of an object: cardinality decides array or single value. */
static void
check_member(walker *w, const prof_key *key, const cJSON *m, int depth)
{
    const prof_elem *e = key->elem;
    const cJSON *item;
    int i = 0;

    if (e->max == 0) {
        report(w, FHIR_ISSUE_STRUCTURE, "%s is not allowed here", w->path);
        return;
    }
    if (e->max == 1) {
        if (cJSON_IsArray(m)) {
            report(w, FHIR_ISSUE_STRUCTURE,
                   "%s must be a single value, not an array", w->path);
            return;
        }
        check_value(w, key, m, 0, depth);
        return;
    }
    /* R4 json.html#arrays: an element that may repeat is always an array,
     * even with one value. */
    if (!cJSON_IsArray(m)) {
        report(w, FHIR_ISSUE_STRUCTURE, "%s must be an array", w->path);
        return;
    }
    cJSON_ArrayForEach(item, m)
    {
        size_t mark = path_push(w, "[%d]", i);
        check_value(w, key, item, 1, depth);
        path_pop(w, mark);
        i++;
    }
    if (i < e->min) {
        report(w, FHIR_ISSUE_REQUIRED, "%s needs at least %d value%s", w->path,
               e->min, e->min == 1 ? "" : "s");
    } else if (e->max > 1 && i > e->max) {
        report(w, FHIR_ISSUE_STRUCTURE, "%s allows at most %d values", w->path,
               e->max);
    }
}

/* An element counts as present with a value or, for primitives, with
 * only its `_name` twin (R4 json.html#primitive: id or extensions). */
static int
present(const prof_elem *e, const cJSON *obj)
{
    for (size_t i = 0; i < e->njson; i++) {
        const prof_type *t = e->choice       ? &e->types[i]
                             : e->ntypes > 0 ? &e->types[0]
                                             : NULL;
        if (cJSON_GetObjectItemCaseSensitive(obj, e->json[i]) != NULL) {
            return 1;
        }
        if (t != NULL && kind_is_primitive(t->kind) &&
            cJSON_GetObjectItemCaseSensitive(obj, e->json[i] - 1) != NULL) {
            return 1;
        }
    }
    return 0;
}

/* The members of `obj`, described by the children of `node`. */
static void
walk_object(walker *w, const prof_elem *node, const cJSON *obj, int depth)
{
    const cJSON *m;

    if (depth > PROF_MAX_DEPTH) {
        report(w, FHIR_ISSUE_STRUCTURE, "%s is nested too deeply", w->path);
        return;
    }
    for (m = obj->child; m != NULL && !w->stopped; m = m->next) {
        const prof_key *key;
        size_t mark;

        /* `_name` twins and members this node does not define are left to
         * full validation. */
        if (m->string == NULL || m->string[0] == '_') {
            continue;
        }
        key = key_find(node, m->string);
        if (key == NULL) {
            continue;
        }
        if (key->elem->choice) {
            /* FHIRPath names a choice by its element and type. */
            mark = path_push(w, ".%s.ofType(%s)", key->elem->name,
                             key->type->code);
        } else {
            mark = path_push(w, ".%s", key->elem->name);
        }
        check_member(w, key, m, depth);
        path_pop(w, mark);
    }
    for (size_t i = 0; i < node->nrequired && !w->stopped; i++) {
        const prof_elem *e = node->required[i];
        if (!present(e, obj)) {
            size_t mark = path_push(w, ".%s", e->name);
            report(w, FHIR_ISSUE_REQUIRED, "%s%s is required", w->path,
                   e->choice ? "[x]" : "");
            path_pop(w, mark);
        }
    }
}

/* A contained resource: checked when its type is in the registry. */
static void
walk_resource(walker *w, const cJSON *res, int depth)
{
    const char *rt = fhir_json_str(res, "resourceType");
    const prof_sd *sd;

    if (rt == NULL) {
        report(w, FHIR_ISSUE_STRUCTURE, "%s has no resourceType", w->path);
        return;
    }
    sd = sd_find(w->reg, rt);
    if (sd != NULL && sd->kind == PROF_SD_RESOURCE && !sd->abstract) {
        walk_object(w, &sd->elems[0], res, depth);
    }
}

int
prof_validate(cJSON **out_oo, const prof_registry *reg, const cJSON *res,
              fhir_err *err)
{
    walker w;
    const char *rt = fhir_json_str(res, "resourceType");
    const prof_sd *sd = rt != NULL ? sd_find(reg, rt) : NULL;

    assert(reg != NULL);
    memset(&w, 0, sizeof(w));
    w.reg = reg;
    w.err = err;
    w.want_oo = out_oo != NULL;
    if (!cJSON_IsObject(res)) {
        report(&w, FHIR_ISSUE_STRUCTURE, "a resource must be a JSON object");
    } else if (rt == NULL) {
        report(&w, FHIR_ISSUE_STRUCTURE, "the resource has no resourceType");
    } else if (sd == NULL || sd->kind != PROF_SD_RESOURCE || sd->abstract) {
        report(&w, FHIR_ISSUE_STRUCTURE,
               "resourceType '%s' is not a resource type of this server", rt);
    } else {
        path_push(&w, "%s", sd->type);
        walk_object(&w, &sd->elems[0], res, 0);
    }
    if (out_oo != NULL) {
        *out_oo = w.oo;
    }
    return w.nissues > 0 ? -1 : 0;
}

/* The element of snapshot path `path` ("Task.priority"), or NULL. */
static const prof_elem *
elem_at(const prof_registry *reg, const char *path)
{
    const char *dot = strchr(path, '.');
    char type[64];
    if (dot == NULL || (size_t)(dot - path) >= sizeof(type)) {
        return NULL;
    }
    memcpy(type, path, (size_t)(dot - path));
    type[dot - path] = '\0';
    const prof_sd *sd = sd_find(reg, type);
    for (size_t i = 0; sd != NULL && i < sd->nelems; i++) {
        if (strcmp(sd->elems[i].path, path) == 0) {
            return &sd->elems[i];
        }
    }
    return NULL;
}

size_t
prof_binding_order(const prof_registry *reg, const char *path,
                   const char *const **out)
{
    const prof_elem *e = elem_at(reg, path);
    *out = NULL;
    if (e == NULL || e->binding == NULL || !e->binding->complete) {
        return 0;
    }
    *out = e->binding->order;
    return e->binding->norder;
}

const char *
prof_element_type(const prof_registry *reg, const char *path)
{
    const prof_elem *e = elem_at(reg, path);
    return e != NULL && e->ntypes == 1 ? e->types[0].code : NULL;
}

/* Keeps member m of a resource for the subset asked? */
static int
subset_keeps(const prof_elem *root, const char *m, prof_subset_mode mode,
             const char *elements)
{
    if (strcmp(m, "resourceType") == 0 || strcmp(m, "id") == 0 ||
        strcmp(m, "meta") == 0) {
        return 1;
    }
    const char *name = m[0] == '_' ? m + 1 : m; /* primitive extensions */
    const prof_key *k = key_find(root, name);
    const prof_elem *e = k ? k->elem : NULL;
    switch (mode) {
    case PROF_SUBSET_SUMMARY:
        return e != NULL && e->summary;
    case PROF_SUBSET_TEXT:
        return strcmp(name, "text") == 0 || (e != NULL && e->min > 0);
    case PROF_SUBSET_DATA:
        return strcmp(name, "text") != 0;
    case PROF_SUBSET_ELEMENTS:
        break;
    }
    if (e != NULL && e->min > 0) {
        return 1; /* R4 search.html#elements: mandatory ones too */
    }
    /* elements: a comma list of top-level names; a choice element is
     * named without its type (occurrence for occurrenceDateTime). */
    const char *ename = e ? e->name : name;
    size_t el = strlen(ename);
    for (const char *p = elements; p != NULL && *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == el && strncmp(p, ename, n) == 0) {
            return 1;
        }
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

void
prof_subset(const prof_registry *reg, cJSON *res, prof_subset_mode mode,
            const char *elements)
{
    const prof_sd *sd = sd_find(reg, fhir_json_str(res, "resourceType")
                                         ? fhir_json_str(res, "resourceType")
                                         : "");
    if (sd == NULL || sd->nelems == 0) {
        return;
    }
    cJSON *m = res->child;
    while (m != NULL) {
        cJSON *next = m->next;
        if (m->string != NULL &&
            !subset_keeps(&sd->elems[0], m->string, mode, elements)) {
            cJSON_Delete(cJSON_DetachItemViaPointer(res, m));
        }
        m = next;
    }
    /* R4 search.html#summary: a subset is marked as such. */
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(res, "meta");
    if (meta == NULL) {
        meta = cJSON_AddObjectToObject(res, "meta");
    }
    cJSON *tags = cJSON_GetObjectItemCaseSensitive(meta, "tag");
    if (tags == NULL) {
        tags = cJSON_AddArrayToObject(meta, "tag");
    }
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(
        t, "system",
        "http://terminology.hl7.org/CodeSystem/v3-ObservationValue");
    cJSON_AddStringToObject(t, "code", "SUBSETTED");
    cJSON_AddItemToArray(tags, t);
}

/* ---- element facts for patches ------------------------------------------ */

/* The node whose keys list the members allowed below JSON member `k`. */
static const prof_elem *
key_node(const prof_key *k)
{
    const prof_elem *e = k->elem;
    if (e->content != NULL) {
        return e->content;
    }
    if (e->nkeys > 0) {
        return e;
    }
    if (k->type != NULL && k->type->sd != NULL && k->type->sd->nelems > 0) {
        return &k->type->sd->elems[0];
    }
    return NULL;
}

unsigned
prof_element_flags(const prof_registry *reg, const char *path, const char *name)
{
    char seg[128];
    const char *p = path;
    const prof_elem *node = NULL;
    for (int first = 1; *p != '\0'; first = 0) {
        size_t n = strcspn(p, ".");
        if (n == 0 || n >= sizeof(seg)) {
            return 0;
        }
        memcpy(seg, p, n);
        seg[n] = '\0';
        p += n + (p[n] == '.');
        if (first) {
            const prof_sd *sd = sd_find(reg, seg);
            if (sd == NULL || sd->nelems == 0) {
                return 0;
            }
            node = &sd->elems[0];
            continue;
        }
        const prof_key *k = key_find(node, seg);
        if (k == NULL || (node = key_node(k)) == NULL) {
            return 0;
        }
    }
    if (node == NULL) {
        return 0;
    }
    /* `name` is the element's name ("occurrence" for occurrence[x]). */
    for (size_t i = 0; i < node->nkeys; i++) {
        const prof_elem *e = node->keys[i].elem;
        if (strcmp(e->name, name) == 0) {
            return (e->max != 1 ? FHIR_ELEM_LIST : 0u) |
                   (e->choice ? FHIR_ELEM_CHOICE : 0u);
        }
    }
    return 0;
}
