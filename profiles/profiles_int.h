/* profiles/profiles_int.h - the registry's compiled form, private to
 * profiles/ and its tests.
 *
 * prof_registry_load() reads the R4 JSON once and keeps only what the
 * validator consults, in tables built for lookup: every StructureDefinition
 * becomes an array of elements in snapshot order whose parents carry a
 * sorted table of the JSON member names their children may use (choice
 * elements expanded, "value[x]" gives "valueString", "valueQuantity", ...),
 * and every ValueSet becomes a sorted array of (code, system) pairs. All of
 * it lives in one arena owned by the registry, so the parsed JSON is
 * released as soon as loading ends and prof_registry_free() is one call.
 */
#ifndef PROFILES_PROFILES_INT_H
#define PROFILES_PROFILES_INT_H

#include "profiles/profiles.h"

/* The files prof_registry_load() reads from its directory, as written by
 * tools/extract-definitions.py. */
#define PROF_FILE_STRUCTURES "structure-definitions.json"
#define PROF_FILE_VALUESETS "valuesets.json"

#define PROF_MAX_FILE (64u * 1024u * 1024u) /* bytes per definitions file */
#define PROF_MAX_ISSUES 100 /* issues listed before validation stops */
#define PROF_MAX_DEPTH 64   /* nested objects the validator descends */
#define PROF_PATH_MAX 512   /* FHIRPath of the element being checked */

/* How a value of a type looks in JSON (R4 json.html#primitive). */
typedef enum prof_kind {
    PROF_KIND_UNKNOWN = 0, /* type not in the registry: not checked */
    PROF_KIND_STRING,      /* every primitive not listed below */
    PROF_KIND_BOOLEAN,
    PROF_KIND_INTEGER,
    PROF_KIND_POSITIVE_INT,
    PROF_KIND_UNSIGNED_INT,
    PROF_KIND_DECIMAL,
    PROF_KIND_COMPLEX,  /* an object described by a datatype */
    PROF_KIND_RESOURCE, /* an object described by its resourceType */
} prof_kind;

/* What a required binding on a value of this type checks. */
typedef enum prof_bind {
    PROF_BIND_NONE = 0,
    PROF_BIND_CODE,    /* the string itself is the code, any system */
    PROF_BIND_CODING,  /* (system, code) of a Coding */
    PROF_BIND_CONCEPT, /* some coding of a CodeableConcept */
} prof_bind;

typedef struct prof_code {
    const char *code;
    const char *system;
} prof_code;

typedef struct prof_valueset {
    const char *url;  /* canonical URL without "|version" */
    prof_code *codes; /* sorted by code, then system */
    size_t ncodes;
    const char **order; /* codes in the value set's own order */
    size_t norder;
    int complete; /* 0 when some include could not be enumerated (a
                     filter, a CodeSystem not in the registry), so a code
                     missing from `codes` proves nothing */
} prof_valueset;

typedef struct prof_sd prof_sd;
typedef struct prof_elem prof_elem;

typedef struct prof_type {
    const char *code; /* FHIR type name: "string", "CodeableConcept" */
    prof_kind kind;
    prof_bind bind;
    const prof_sd *sd; /* PROF_KIND_COMPLEX: the datatype's definition */
} prof_type;

/* One JSON member name a child element may appear under. */
typedef struct prof_key {
    const char *name;      /* "valueString"; name - 1 is "_valueString" */
    const prof_elem *elem; /* the child */
    const prof_type *type; /* the type this name selects, or NULL */
} prof_key;

struct prof_elem {
    const char *path;  /* "Task.input.value[x]" */
    const char *name;  /* "input", or "value" for value[x] */
    const char **json; /* member names: one, or one per type of a choice;
                          each is preceded by '_' in memory */
    size_t njson;
    int choice;  /* name ends in [x] in the definition */
    int summary; /* isSummary: part of _summary=true */
    int min;
    int max; /* -1 for "*" */
    prof_type *types;
    size_t ntypes;
    const char *binding_url;      /* required binding, version stripped */
    const prof_valueset *binding; /* NULL when not in the registry */
    const prof_elem *content;     /* contentReference target, or NULL */
    /* Children defined below this element in the snapshot (the root,
     * backbone elements); none for leaves and datatype-typed elements. */
    prof_key *keys; /* sorted by name */
    size_t nkeys;
    const prof_elem **required; /* children with min >= 1 */
    size_t nrequired;
};

/* Kinds of StructureDefinition (StructureDefinition.kind). */
typedef enum prof_sd_kind {
    PROF_SD_PRIMITIVE,
    PROF_SD_COMPLEX,
    PROF_SD_RESOURCE,
} prof_sd_kind;

struct prof_sd {
    const char *type; /* "Patient", "HumanName", "string" */
    const char *url;
    prof_sd_kind kind;
    int abstract;     /* Resource, DomainResource: never a resourceType */
    prof_elem *elems; /* snapshot order; elems[0] is the root */
    size_t nelems;
};

struct prof_registry {
    fhir_arena *arena; /* every table and string below */
    prof_sd *sds;      /* sorted by type */
    size_t nsds;
    prof_valueset *vss; /* sorted by url */
    size_t nvss;
};

#endif
