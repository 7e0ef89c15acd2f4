/* search/compartment.c - the Patient compartment, from its definition.
 *
 * R4 compartmentdefinition-patient.json says, per resource type, which
 * search parameters put a resource in a patient's compartment (a Task by
 * `patient` or `focus`, a ServiceRequest by `subject` or `performer`, a
 * Patient by `link`; a Practitioner never). From it the registry gets one
 * more SearchParameter, `_compartment`, whose expression is the union of
 * those parameters' expressions (each cut to its own type's part) and
 * whose rows also name the owner itself ("Patient/1" on Patient 1). A
 * compartment search is then one ordinary, indexed, counted reference
 * condition (`_compartment=Patient/1`): drivable, exact in totals, known
 * to the hot index and to paging, with no special case in the planner.
 */
#include "search/search.h"
#include "search/search_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define COMPARTMENT_FILE "compartmentdefinition-patient.json"
#define COMPARTMENT_MAX_FILE (4u * 1024u * 1024u)

/* The parameter `code` that applies to served type t (before the code
 * tables exist: a scan). */
static const struct search_param *
scan(const search_registry *reg, int t, const char *code)
{
    for (size_t i = 0; i < reg->nparams; i++) {
        const struct search_param *p = &reg->params[i];
        if ((p->types & (1u << t)) && strcmp(p->code, code) == 0) {
            return p;
        }
    }
    return NULL;
}

/* Appends the members of `expr` ("A.x | B.y | (A.z as T)") that belong
 * to type `name`, each " | "-separated. */
static void
add_members(fhir_buf *out, const char *expr, const char *name)
{
    size_t nl = strlen(name);
    const char *start = expr;
    int depth = 0;
    for (const char *p = expr;; p++) {
        if (*p == '(') {
            depth++;
        } else if (*p == ')') {
            depth--;
        }
        if ((*p == '|' && depth == 0) || *p == '\0') {
            const char *a = start, *b = p;
            while (a < b && isspace((unsigned char)*a)) {
                a++;
            }
            while (b > a && isspace((unsigned char)b[-1])) {
                b--;
            }
            const char *head = a;
            while (head < b && *head == '(') {
                head++;
            }
            if ((size_t)(b - head) > nl && strncmp(head, name, nl) == 0 &&
                head[nl] == '.') {
                fhir_buf_printf(out, "%s%.*s", out->len ? " | " : "",
                                (int)(b - a), a);
            }
            if (*p == '\0') {
                break;
            }
            start = p + 1;
        }
    }
}

int
search__compartment_load(search_registry *reg, const char *dir, cJSON **extra,
                         fhir_err *err)
{
    char path[4096];
    fhir_buf text = FHIR_BUF_INIT, expr = FHIR_BUF_INIT;
    cJSON *def = NULL;
    fhir_json_opts jo = {64, 0};
    int rc = -1;
    *extra = NULL;
    reg->comp_type = -1;
    snprintf(path, sizeof(path), "%s/%s", dir, COMPARTMENT_FILE);
    if (fhir_file_read(&text, path, COMPARTMENT_MAX_FILE, err) != 0 ||
        fhir_json_parse(&def, text.data ? text.data : "", text.len, &jo, err) !=
            0) {
        goto done;
    }
    const char *owner = fhir_json_str(def, "code");
    reg->comp_type = fhir_type_find(owner ? owner : "");
    if (reg->comp_type < 0) {
        rc = 0; /* a compartment of a type not served: none */
        goto done;
    }
    cJSON *sp = cJSON_CreateObject();
    cJSON *base = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(def, "resource"))
    {
        const char *tname = fhir_json_str(r, "code");
        int t = fhir_type_find(tname ? tname : "");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(r, "param");
        if (t < 0 || (params == NULL && t != reg->comp_type)) {
            continue;
        }
        cJSON_AddItemToArray(base, cJSON_CreateString(tname));
        size_t n = (size_t)cJSON_GetArraySize(params);
        reg->comp_codes[t] =
            fhir_arena_alloc(reg->arena, (n + 1) * sizeof(char *));
        const cJSON *pc;
        cJSON_ArrayForEach(pc, params)
        {
            const struct search_param *p =
                cJSON_IsString(pc) ? scan(reg, t, pc->valuestring) : NULL;
            if (p == NULL || p->type != SEARCH_TYPE_REFERENCE ||
                p->expression == NULL) {
                fhir_err_set(err, FHIR_ISSUE_STRUCTURE,
                             "%s: %s has no reference search parameter %s",
                             path, tname,
                             cJSON_IsString(pc) ? pc->valuestring : "?");
                cJSON_Delete(sp);
                cJSON_Delete(base);
                goto done;
            }
            reg->comp_codes[t][reg->ncomp[t]++] = p->code;
            add_members(&expr, p->expression, tname);
        }
    }
    cJSON_AddStringToObject(sp, "resourceType", "SearchParameter");
    cJSON_AddStringToObject(sp, "id", "compartment-patient");
    cJSON_AddStringToObject(sp, "code", SEARCH_COMPARTMENT_CODE);
    cJSON_AddItemToObject(sp, "base", base);
    cJSON_AddStringToObject(sp, "type", "reference");
    cJSON_AddStringToObject(sp, "expression", expr.data ? expr.data : "");
    cJSON *target = cJSON_AddArrayToObject(sp, "target");
    cJSON_AddItemToArray(target, cJSON_CreateString(owner));
    cJSON_AddStringToObject(sp, "description",
                            "In the compartment of this resource (from "
                            "CompartmentDefinition/patient)");
    *extra = sp;
    rc = 0;
done:
    cJSON_Delete(def);
    fhir_buf_clear(&text);
    fhir_buf_clear(&expr);
    return rc;
}

int
search_compartment_type(const search_registry *reg)
{
    return reg->comp_type;
}

size_t
search_compartment_params(const search_registry *reg, int type,
                          const search_param *const **out)
{
    if (type < 0 || type >= fhir_type_count()) {
        *out = NULL;
        return 0;
    }
    *out = reg->comp_params[type];
    return reg->ncomp[type];
}

/* After the code tables are built: the parameters by pointer. */
void
search__compartment_resolve(search_registry *reg)
{
    for (int t = 0; t < fhir_type_count(); t++) {
        if (reg->ncomp[t] == 0) {
            continue;
        }
        reg->comp_params[t] = fhir_arena_alloc(
            reg->arena, reg->ncomp[t] * sizeof(search_param *));
        for (size_t i = 0; i < reg->ncomp[t]; i++) {
            int unsupported = 0;
            reg->comp_params[t][i] =
                search_param_find(reg, t, reg->comp_codes[t][i], &unsupported);
        }
    }
}
