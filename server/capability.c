/* server/capability.c - the CapabilityStatement (GET /fhir/metadata).
 *
 * Generated once at start-up from the interaction table in rest.c and the
 * served types, never from a hand-written file: an interaction appears
 * here exactly when a handler for it is routed.
 */
#include "server/server.h"
#include "server/server_int.h"

#include <stdio.h>
#include <string.h>

#define SOFTWARE_VERSION "0.1.0"

static void
add_code(cJSON *list, const char *code)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "code", code);
    cJSON_AddItemToArray(list, o);
}

/* 1 when the table routes an interaction with this code. */
static int
has(const char *code)
{
    for (int i = 0; i < srv_ninteractions; i++) {
        if (strcmp(srv_interactions[i].code, code) == 0) {
            return 1;
        }
    }
    return 0;
}

/* 1 when an earlier row of the table has the same code (an interaction
 * may be routed twice, as search by GET and by POST). */
static int
listed_before(int i)
{
    for (int k = 0; k < i; k++) {
        if (strcmp(srv_interactions[k].code, srv_interactions[i].code) == 0) {
            return 1;
        }
    }
    return 0;
}

/* rest.resource.searchParam: every parameter searchable on type t, from
 * the registry (so exactly what search accepts). */
static void
search_params(cJSON *res, const search_registry *reg, int t)
{
    static const char *const types[] = {[SEARCH_TYPE_NUMBER] = "number",
                                        [SEARCH_TYPE_DATE] = "date",
                                        [SEARCH_TYPE_STRING] = "string",
                                        [SEARCH_TYPE_TOKEN] = "token",
                                        [SEARCH_TYPE_REFERENCE] = "reference",
                                        [SEARCH_TYPE_COMPOSITE] = "composite",
                                        [SEARCH_TYPE_QUANTITY] = "quantity",
                                        [SEARCH_TYPE_URI] = "uri",
                                        [SEARCH_TYPE_SPECIAL] = "special"};
    cJSON *list = NULL;
    for (size_t i = 0; reg != NULL && i < search_registry_count(reg); i++) {
        const search_param *p = search_registry_at(reg, i);
        char url[160];
        /* _compartment serves Patient/[id]/... (rest.compartment). */
        if (!search_param_applies(p, t) || search_param_unsupported(p, NULL) ||
            strcmp(search_param_code(p), "_compartment") == 0) {
            continue;
        }
        if (list == NULL) {
            list = cJSON_AddArrayToObject(res, "searchParam");
        }
        cJSON *sp = cJSON_CreateObject();
        cJSON_AddStringToObject(sp, "name", search_param_code(p));
        snprintf(url, sizeof(url), "http://hl7.org/fhir/SearchParameter/%s",
                 search_param_key(p));
        cJSON_AddStringToObject(sp, "definition", url);
        cJSON_AddStringToObject(sp, "type", types[search_param_type(p)]);
        cJSON_AddStringToObject(sp, "documentation",
                                search_param_description(p));
        cJSON_AddItemToArray(list, sp);
    }
}

/* searchInclude and searchRevInclude: every reference parameter of t,
 * and every reference parameter of any type that can refer to t. */
static void
includes(cJSON *res, const search_registry *reg, int t)
{
    cJSON *inc = cJSON_AddArrayToObject(res, "searchInclude");
    cJSON *rev = cJSON_AddArrayToObject(res, "searchRevInclude");
    cJSON_AddItemToArray(inc, cJSON_CreateString("*"));
    for (size_t i = 0; reg != NULL && i < search_registry_count(reg); i++) {
        const search_param *p = search_registry_at(reg, i);
        if (search_param_type(p) != SEARCH_TYPE_REFERENCE ||
            search_param_unsupported(p, NULL) || !search_param_indexed(p) ||
            strcmp(search_param_code(p), "_compartment") == 0) {
            continue;
        }
        char v[160];
        if (search_param_applies(p, t)) {
            snprintf(v, sizeof(v), "%s:%s", fhir_type_name(t),
                     search_param_code(p));
            cJSON_AddItemToArray(inc, cJSON_CreateString(v));
        }
        for (int from = 0; from < fhir_type_count(); from++) {
            if (search_param_applies(p, from) && search_param_targets(p, t)) {
                snprintf(v, sizeof(v), "%s:%s", fhir_type_name(from),
                         search_param_code(p));
                cJSON_AddItemToArray(rev, cJSON_CreateString(v));
            }
        }
    }
}

void
srv__capability_build(srv_server *s)
{
    char date[40];
    cJSON *cs = cJSON_CreateObject();
    fhir_instant_format(date, sizeof(date), s->started_us);
    date[19] = 'Z'; /* a dateTime to the second */
    date[20] = '\0';
    cJSON_AddStringToObject(cs, "resourceType", "CapabilityStatement");
    cJSON_AddStringToObject(cs, "status", "active");
    cJSON_AddStringToObject(cs, "date", date);
    cJSON_AddStringToObject(cs, "publisher", "fhir-task-server");
    cJSON_AddStringToObject(cs, "kind", "instance");
    cJSON *sw = cJSON_AddObjectToObject(cs, "software");
    cJSON_AddStringToObject(sw, "name", "fhir-task-server");
    cJSON_AddStringToObject(sw, "version", SOFTWARE_VERSION);
    cJSON *impl = cJSON_AddObjectToObject(cs, "implementation");
    cJSON_AddStringToObject(impl, "description",
                            "FHIR R4 server for Task-based workflow");
    cJSON_AddStringToObject(cs, "fhirVersion", "4.0.1");
    cJSON *fmt = cJSON_AddArrayToObject(cs, "format");
    cJSON_AddItemToArray(fmt, cJSON_CreateString("json"));
    cJSON_AddItemToArray(fmt, cJSON_CreateString("application/fhir+json"));
    cJSON *rest = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(cs, "rest"), rest);
    cJSON_AddStringToObject(rest, "mode", "server");
    cJSON *resources = cJSON_AddArrayToObject(rest, "resource");
    for (int t = 0; t < fhir_type_count(); t++) {
        const char *name = fhir_type_name(t);
        cJSON *res = cJSON_CreateObject();
        cJSON_AddStringToObject(res, "type", name);
        char profile[128];
        snprintf(profile, sizeof(profile),
                 "http://hl7.org/fhir/StructureDefinition/%s", name);
        cJSON_AddStringToObject(res, "profile", profile);
        cJSON *list = cJSON_AddArrayToObject(res, "interaction");
        for (int i = 0; i < srv_ninteractions; i++) {
            if (srv_interactions[i].level == SRV_LEVEL_TYPE &&
                !listed_before(i)) {
                add_code(list, srv_interactions[i].code);
            }
        }
        search_params(res, s->search, t);
        includes(res, s->search, t);
        if (t == search_compartment_type(s->search) && has("operation")) {
            cJSON *op = cJSON_CreateObject();
            cJSON_AddStringToObject(op, "name", "everything");
            cJSON_AddStringToObject(
                op, "definition",
                "http://hl7.org/fhir/OperationDefinition/Patient-everything");
            cJSON_AddItemToArray(cJSON_AddArrayToObject(res, "operation"), op);
        }
        /* If-Match is honoured on update and delete. */
        cJSON_AddStringToObject(res, "versioning", "versioned-update");
        cJSON_AddBoolToObject(res, "readHistory", has("vread"));
        cJSON_AddBoolToObject(res, "updateCreate", has("update"));
        /* Conditional create is If-None-Exist on create; conditional
         * update and delete are routed by type (rest.c). */
        cJSON_AddBoolToObject(res, "conditionalCreate", has("create"));
        cJSON_AddStringToObject(res, "conditionalRead", "full-support");
        cJSON_AddBoolToObject(res, "conditionalUpdate", has("update"));
        cJSON_AddStringToObject(res, "conditionalDelete",
                                !has("delete")               ? "not-supported"
                                : s->cfg.cond_delete_max > 1 ? "multiple"
                                                             : "single");
        cJSON_AddItemToArray(resources, res);
    }
    if (has("compartment") && search_compartment_type(s->search) >= 0) {
        cJSON_AddItemToArray(
            cJSON_AddArrayToObject(rest, "compartment"),
            cJSON_CreateString(
                "http://hl7.org/fhir/CompartmentDefinition/patient"));
    }
    cJSON *sys = cJSON_AddArrayToObject(rest, "interaction");
    for (int i = 0; i < srv_ninteractions; i++) {
        if (srv_interactions[i].level == SRV_LEVEL_SYSTEM) {
            add_code(sys, srv_interactions[i].code);
        }
    }
    fhir_buf b = FHIR_BUF_INIT;
    fhir_json_write(&b, cs, 0);
    s->capability = fhir_buf_take(&b, NULL);
    fhir_json_write(&b, cs, 1);
    s->capability_pretty = fhir_buf_take(&b, NULL);
    cJSON_Delete(cs);
}
