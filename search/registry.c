/* search/registry.c - the search parameters, loaded from the R4
 * SearchParameter definitions at start-up.
 *
 * No parameter is typed in by hand: every SearchParameter in the
 * definitions directory whose base is a served type, Resource or
 * DomainResource is registered with its FHIRPath expression compiled.
 * A parameter that cannot be indexed (no expression, composite or special
 * type, an expression outside the FHIRPath subset) is registered as
 * unsupported with the reason, so searches can report it rather than
 * ignore it. _id and _lastUpdated are answered from the resource table.
 */
#include "search/search.h"
#include "search/search_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEARCH_FILE "search-parameters.json"
#define SEARCH_MAX_FILE (32u * 1024u * 1024u)

static const struct {
    const char *name;
    search_type type;
} type_names[] = {
    {"number", SEARCH_TYPE_NUMBER},       {"date", SEARCH_TYPE_DATE},
    {"string", SEARCH_TYPE_STRING},       {"token", SEARCH_TYPE_TOKEN},
    {"reference", SEARCH_TYPE_REFERENCE}, {"composite", SEARCH_TYPE_COMPOSITE},
    {"quantity", SEARCH_TYPE_QUANTITY},   {"uri", SEARCH_TYPE_URI},
    {"special", SEARCH_TYPE_SPECIAL},
};

static int
parse_type(const char *s, search_type *out)
{
    for (size_t i = 0;
         s != NULL && i < sizeof(type_names) / sizeof(type_names[0]); i++) {
        if (strcmp(s, type_names[i].name) == 0) {
            *out = type_names[i].type;
            return 0;
        }
    }
    return -1;
}

/* Bit set of served types the `base` array covers. */
static unsigned
base_types(const cJSON *base)
{
    unsigned bits = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, base)
    {
        if (!cJSON_IsString(b)) {
            continue;
        }
        if (strcmp(b->valuestring, "Resource") == 0 ||
            strcmp(b->valuestring, "DomainResource") == 0) {
            bits |= (1u << fhir_type_count()) - 1u;
        } else {
            int t = fhir_type_find(b->valuestring);
            if (t >= 0) {
                bits |= 1u << t;
            }
        }
    }
    return bits;
}

static int
param_cmp(const void *a, const void *b)
{
    const struct search_param *x = a, *y = b;
    return strcmp(x->key, y->key);
}

static int
code_cmp(const void *a, const void *b)
{
    const search_code *x = a, *y = b;
    return strcmp(x->code, y->code);
}

/* Fills p from one SearchParameter; 0 when it applies to a served type. */
static int
param_init(struct search_param *p, fhir_arena *a, const cJSON *sp)
{
    const char *id = fhir_json_str(sp, "id");
    const char *url = fhir_json_str(sp, "url");
    const char *code = fhir_json_str(sp, "code");
    const char *expr = fhir_json_str(sp, "expression");
    const char *desc = fhir_json_str(sp, "description");
    unsigned types = base_types(cJSON_GetObjectItemCaseSensitive(sp, "base"));
    fhir_err err = FHIR_ERR_INIT;

    memset(p, 0, sizeof(*p));
    if (types == 0 || code == NULL || (id == NULL && url == NULL)) {
        return -1;
    }
    p->key = fhir_arena_strdup(a, id ? id : url);
    p->code = fhir_arena_strdup(a, code);
    p->description = fhir_arena_strdup(a, desc ? desc : "");
    p->expression = expr ? fhir_arena_strdup(a, expr) : NULL;
    p->types = types;
    p->num = -1;
    p->self_type = -1;
    if (parse_type(fhir_json_str(sp, "type"), &p->type) != 0) {
        p->unsupported = 1;
        p->why = "its type is unknown";
        return 0;
    }
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(sp, "target");
    int nt = cJSON_GetArraySize(targets);
    if (nt > 0) {
        p->targets = fhir_arena_alloc(a, (size_t)nt * sizeof(char *));
        const cJSON *t;
        cJSON_ArrayForEach(t, targets)
        {
            if (cJSON_IsString(t)) {
                p->targets[p->ntargets++] =
                    fhir_arena_strdup(a, t->valuestring);
            }
        }
    }
    if (strcmp(code, "_id") == 0) {
        p->builtin = SEARCH_BUILTIN_ID;
        return 0;
    }
    if (strcmp(code, "_lastUpdated") == 0) {
        p->builtin = SEARCH_BUILTIN_LASTUPDATED;
        return 0;
    }
    if (p->expression == NULL) {
        p->unsupported = 1;
        p->why = "it has no FHIRPath expression to index";
        return 0;
    }
    switch (p->type) {
    case SEARCH_TYPE_TOKEN:
    case SEARCH_TYPE_STRING:
    case SEARCH_TYPE_DATE:
    case SEARCH_TYPE_REFERENCE:
    case SEARCH_TYPE_URI:
        break;
    default:
        p->unsupported = 1;
        p->why = "parameters of its type are not indexed by this server";
        return 0;
    }
    if (strcmp(code, "phonetic") == 0) {
        /* Its expression is the name itself; the phonetic algorithm is
         * not defined by the spec, so matching it would be a guess. */
        p->unsupported = 1;
        p->why = "no phonetic algorithm is implemented";
        return 0;
    }
    if (fhir_path_compile(&p->path, p->expression, &err) != 0) {
        p->unsupported = 1;
        p->why = fhir_arena_printf(a,
                                   "its expression is outside the "
                                   "supported FHIRPath subset (%s)",
                                   err.diag);
        p->path = NULL;
    }
    return 0;
}

int
search_registry_load(search_registry **out, const char *dir, fhir_err *err)
{
    search_registry *reg = fhir_xcalloc(1, sizeof(*reg));
    fhir_buf text = FHIR_BUF_INIT;
    cJSON *bundle = NULL;
    fhir_json_opts jo = {256, 0};
    char path[4096];
    int rc = -1;

    *out = NULL;
    reg->arena = fhir_arena_new();
    snprintf(path, sizeof(path), "%s/%s", dir, SEARCH_FILE);
    if (fhir_file_read(&text, path, SEARCH_MAX_FILE, err) != 0) {
        goto done;
    }
    if (fhir_json_parse(&bundle, text.data ? text.data : "", text.len, &jo,
                        err) != 0) {
        goto done;
    }
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(bundle, "entry");
    size_t cap = (size_t)cJSON_GetArraySize(entries) + 2;
    reg->params = fhir_arena_alloc(reg->arena, cap * sizeof(*reg->params));
    const cJSON *e;
    cJSON_ArrayForEach(e, entries)
    {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "resource");
        const char *rt = fhir_json_str(sp, "resourceType");
        if (rt == NULL || strcmp(rt, "SearchParameter") != 0) {
            continue;
        }
        if (param_init(&reg->params[reg->nparams], reg->arena, sp) == 0) {
            reg->nparams++;
        }
    }
    /* The compartment's own parameter, made from its definition. */
    cJSON *extra = NULL;
    if (search__compartment_load(reg, dir, &extra, err) != 0) {
        goto done;
    }
    if (extra != NULL) {
        struct search_param *cp = &reg->params[reg->nparams];
        int ok = param_init(cp, reg->arena, extra) == 0 && !cp->unsupported;
        cJSON_Delete(extra);
        if (!ok) {
            fhir_err_set(err, FHIR_ISSUE_STRUCTURE,
                         "the compartment's parameters cannot be indexed: "
                         "%s",
                         cp->why ? cp->why : "no served type");
            goto done;
        }
        cp->self_type = reg->comp_type;
        reg->nparams++;
    }
    if (reg->nparams > 1) {
        qsort(reg->params, reg->nparams, sizeof(*reg->params), param_cmp);
    }
    for (size_t i = 1; i < reg->nparams; i++) {
        if (strcmp(reg->params[i - 1].key, reg->params[i].key) == 0) {
            fhir_err_set(err, FHIR_ISSUE_STRUCTURE,
                         "%s: SearchParameter %s is defined twice", path,
                         reg->params[i].key);
            goto done;
        }
    }
    /* Per served type: code -> parameter, sorted for binary search. */
    for (int t = 0; t < fhir_type_count(); t++) {
        search_code *codes =
            fhir_arena_alloc(reg->arena, (reg->nparams + 1) * sizeof(*codes));
        size_t n = 0;
        for (size_t i = 0; i < reg->nparams; i++) {
            if (reg->params[i].types & (1u << t)) {
                codes[n].code = reg->params[i].code;
                codes[n].param = i;
                n++;
            }
        }
        if (n > 1) {
            qsort(codes, n, sizeof(*codes), code_cmp);
        }
        for (size_t i = 1; i < n; i++) {
            if (strcmp(codes[i - 1].code, codes[i].code) == 0) {
                fhir_err_set(err, FHIR_ISSUE_STRUCTURE,
                             "%s: two SearchParameters define %s for %s", path,
                             codes[i].code, fhir_type_name(t));
                goto done;
            }
        }
        reg->codes[t] = codes;
        reg->ncodes[t] = n;
    }
    search__compartment_resolve(reg);
    *out = reg;
    reg = NULL;
    rc = 0;
done:
    cJSON_Delete(bundle);
    fhir_buf_clear(&text);
    search_registry_free(reg);
    return rc;
}

void
search_registry_free(search_registry *reg)
{
    if (reg == NULL) {
        return;
    }
    for (size_t i = 0; i < reg->nparams; i++) {
        fhir_path_free(reg->params[i].path);
    }
    fhir_arena_free(reg->arena);
    free(reg);
}

size_t
search_registry_count(const search_registry *reg)
{
    return reg->nparams;
}

const search_param *
search_registry_at(const search_registry *reg, size_t i)
{
    return i < reg->nparams ? &reg->params[i] : NULL;
}

const search_param *
search_param_find(const search_registry *reg, int type, const char *code,
                  int *unsupported)
{
    search_code key = {code, 0};
    *unsupported = 0;
    if (type < 0 || type >= fhir_type_count()) {
        return NULL;
    }
    const search_code *hit = bsearch(&key, reg->codes[type], reg->ncodes[type],
                                     sizeof(key), code_cmp);
    if (hit == NULL) {
        return NULL;
    }
    const struct search_param *p = &reg->params[hit->param];
    *unsupported = p->unsupported;
    return p;
}

const char *
search_param_key(const search_param *p)
{
    return p->key;
}

const char *
search_param_code(const search_param *p)
{
    return p->code;
}

search_type
search_param_type(const search_param *p)
{
    return p->type;
}

const char *
search_param_expression(const search_param *p)
{
    return p->expression;
}

const char *
search_param_description(const search_param *p)
{
    return p->description;
}

int
search_param_indexed(const search_param *p)
{
    return !p->unsupported && p->builtin == SEARCH_BUILTIN_NONE;
}

int
search_param_unsupported(const search_param *p, const char **why)
{
    if (why != NULL) {
        *why = p->why;
    }
    return p->unsupported;
}

int
search_param_applies(const search_param *p, int type)
{
    return type >= 0 && type < fhir_type_count() && (p->types & (1u << type));
}

void
search_param_set_num(search_registry *reg, size_t i, int num)
{
    if (i < reg->nparams) {
        reg->params[i].num = num;
    }
}

void
search_param_set_uncounted(search_registry *reg, size_t i)
{
    if (i < reg->nparams) {
        reg->params[i].uncounted = 1;
    }
}

int
search_param_num(const search_param *p)
{
    return p->num;
}

void
search_param_set_order(search_registry *reg, size_t i, const char *const *codes,
                       size_t n)
{
    if (i < reg->nparams) {
        reg->params[i].order = codes;
        reg->params[i].norder = n;
    }
}

void
search_registry_set_bases(search_registry *reg, const char *const *bases,
                          size_t n)
{
    reg->bases = fhir_arena_alloc(reg->arena, (n + 1) * sizeof(char *));
    reg->nbases = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(bases[i]);
        /* "https://h/fhir/" names the same base as "https://h/fhir". */
        while (len > 0 && bases[i][len - 1] == '/') {
            len--;
        }
        if (len > 0) {
            reg->bases[reg->nbases++] =
                fhir_arena_strndup(reg->arena, bases[i], len);
        }
    }
}
