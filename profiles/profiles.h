/* profiles/profiles.h - what "valid" means, driven by the R4 definitions.
 *
 * At start-up the registry reads the StructureDefinitions and ValueSets
 * in a definitions directory (profiles/definitions/, copied from the R4
 * specification). prof_validate() then checks a resource against its
 * type's snapshot. It never touches the store and knows nothing of HTTP.
 */
#ifndef PROFILES_PROFILES_H
#define PROFILES_PROFILES_H

#include "fhir/fhir.h"

typedef struct prof_registry prof_registry;

/* Loads structure-definitions.json and valuesets.json from `dir` (as
 * written by tools/extract-definitions.py) and compiles them into lookup
 * tables; the parsed JSON is not kept. On success *out is the caller's;
 * release it with prof_registry_free(), which accepts NULL. Errors:
 * not-found (missing directory or file), structure (unreadable JSON, two
 * definitions of one type or ValueSet), too-long (a file over 64 MiB). */
int prof_registry_load(prof_registry **out, const char *dir,
                       fhir_err *err) FHIR_MUST_CHECK;
void prof_registry_free(prof_registry *reg);

/* Checks `res` against the base StructureDefinition of its resourceType:
 * required elements (min >= 1, also inside present backbone elements and
 * datatypes), cardinality of arrays versus single values, JSON kinds of
 * primitives and complex elements, integer ranges, and codes of required
 * bindings; contained resources of registered types are checked too.
 * Members the definition does not know are skipped for now, as are the
 * `_name` extension twins of primitives. A resourceType that is not a
 * concrete resource type of the registry is a structure error.
 * Returns 0 when no error-level issue was found; otherwise -1 with the
 * first problem in `err` (issue required / code-invalid / structure /
 * value, status 400, expr the FHIRPath such as
 * "Task.performerType[0].coding[1].system"; a choice reads
 * "Task.input[0].value.ofType(string)"); an error already in `err` is
 * kept. When out_oo is not NULL it receives an OperationOutcome listing
 * the issues found, at most 100 (caller frees with cJSON_Delete), or NULL
 * when there were none. */
int prof_validate(cJSON **out_oo, const prof_registry *reg, const cJSON *res,
                  fhir_err *err) FHIR_MUST_CHECK;

/* Whether (system, code) is in the ValueSet `url` (version suffix "|4.0.1"
 * allowed; `system` NULL: in any system). 1 when it is a member, 0 when
 * not, -1 when the ValueSet is unknown to the registry or cannot be
 * enumerated (a filter, a CodeSystem such as BCP-13 that is not in the
 * registry) and the code is not among the codes it does list. */
int prof_valueset_contains(const prof_registry *reg, const char *url,
                           const char *system, const char *code);

/* The codes of the required binding of element `path` (e.g.
 * "Task.priority") in the value set's own order, which for some value
 * sets is a rank (request-priority: routine, urgent, asap, stat). Returns
 * the number of codes (0 when the element has no such binding); *out is
 * borrowed from the registry. */
size_t prof_binding_order(const prof_registry *reg, const char *path,
                          const char *const **out);

/* The one type of element `path` ("Task.identifier" -> "Identifier"), or
 * NULL when the element is unknown or has several (a choice). Borrowed
 * from the registry. */
const char *prof_element_type(const prof_registry *reg, const char *path);

typedef enum prof_subset_mode {
    PROF_SUBSET_SUMMARY, /* _summary=true: elements marked isSummary */
    PROF_SUBSET_TEXT,    /* _summary=text: text and mandatory elements */
    PROF_SUBSET_DATA,    /* _summary=data: everything but text */
    PROF_SUBSET_ELEMENTS /* _elements=a,b: those and mandatory elements */
} prof_subset_mode;

/* Reduces `res` in place to the subset asked for (R4 search.html#summary
 * and #elements), keeping resourceType, id and meta, and tags it
 * SUBSETTED. `elements` is the comma list for PROF_SUBSET_ELEMENTS. */
void prof_subset(const prof_registry *reg, cJSON *res, prof_subset_mode mode,
                 const char *elements);

/* What a patch needs to know of element `name` below `path` (the
 * resourceType, then JSON member names without array positions:
 * "Task.input.valueCodeableConcept"), as fhir_patch_schema asks it:
 * FHIR_ELEM_LIST when it repeats (always an array in JSON),
 * FHIR_ELEM_CHOICE when it is a choice (name[x]); 0 when it is single or
 * unknown. */
unsigned prof_element_flags(const prof_registry *reg, const char *path,
                            const char *name);

#endif
