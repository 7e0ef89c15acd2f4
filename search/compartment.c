/* search/compartment.c - the Patient compartment, from its definition.
 *
 * R4 compartmentdefinition-patient.json says, per resource type, which
 * search parameters put a resource in a patient's compartment (a Task by
 * `patient` or `focus`, a ServiceRequest by `subject` or `performer`, a
 * Patient by `link`; a Practitioner never). It is read with the
 * registry, so `GET /fhir/Patient/{id}/Task` and `$everything` follow the
 * definition, not a table typed here.
 */
#include "search/search.h"
#include "search/search_int.h"

#include <stdio.h>
#include <string.h>

#define COMPARTMENT_FILE "compartmentdefinition-patient.json"
#define COMPARTMENT_MAX_FILE (4u * 1024u * 1024u)

int
search__compartment_load(search_registry *reg, const char *dir, fhir_err *err)
{
    char path[4096];
    fhir_buf text = FHIR_BUF_INIT;
    cJSON *def = NULL;
    fhir_json_opts jo = {64, 0};
    int rc = -1;
    snprintf(path, sizeof(path), "%s/%s", dir, COMPARTMENT_FILE);
    if (fhir_file_read(&text, path, COMPARTMENT_MAX_FILE, err) != 0 ||
        fhir_json_parse(&def, text.data ? text.data : "", text.len, &jo, err) !=
            0) {
        goto done;
    }
    reg->comp_type = fhir_type_find(
        fhir_json_str(def, "code") ? fhir_json_str(def, "code") : "");
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(def, "resource"))
    {
        int t = fhir_type_find(
            fhir_json_str(r, "code") ? fhir_json_str(r, "code") : "");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(r, "param");
        if (t < 0 || params == NULL) {
            continue;
        }
        size_t n = (size_t)cJSON_GetArraySize(params);
        reg->comp_params[t] =
            fhir_arena_alloc(reg->arena, (n + 1) * sizeof(search_param *));
        const cJSON *p;
        cJSON_ArrayForEach(p, params)
        {
            int unsupported = 0;
            const search_param *sp =
                cJSON_IsString(p)
                    ? search_param_find(reg, t, p->valuestring, &unsupported)
                    : NULL;
            if (sp == NULL || unsupported ||
                search_param_type(sp) != SEARCH_TYPE_REFERENCE) {
                fhir_err_set(err, FHIR_ISSUE_STRUCTURE,
                             "%s: %s has no reference search parameter %s",
                             path, fhir_type_name(t),
                             cJSON_IsString(p) ? p->valuestring : "?");
                goto done;
            }
            reg->comp_params[t][reg->ncomp_params[t]++] = sp;
        }
    }
    rc = 0;
done:
    cJSON_Delete(def);
    fhir_buf_clear(&text);
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
    return reg->ncomp_params[type];
}
