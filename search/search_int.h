/* search/search_int.h - the registry's compiled form, shared by the files
 * of search/ and their tests.
 *
 * Every SearchParameter that applies to a served type becomes one
 * search_param with its FHIRPath compiled; per served type a sorted table
 * maps codes to parameters, so a lookup is a binary search. Parameters
 * that cannot be searched stay in the tables flagged `unsupported`, with
 * the reason, so a search naming them is told why.
 */
#ifndef SEARCH_SEARCH_INT_H
#define SEARCH_SEARCH_INT_H

#include "search/search.h"

/* Parameters answered from the resource table itself, not index rows. */
typedef enum search_builtin {
    SEARCH_BUILTIN_NONE = 0,
    SEARCH_BUILTIN_ID,         /* _id: resource.id */
    SEARCH_BUILTIN_LASTUPDATED /* _lastUpdated: resource.hid */
} search_builtin;

struct search_param {
    const char *key;  /* SearchParameter.id, e.g. "Task-status" */
    const char *code; /* "status" */
    const char *expression;
    const char *description;
    search_type type;
    unsigned types; /* bit t set: applies to served type t */
    search_builtin builtin;
    int unsupported;      /* 1: known but cannot be searched here */
    const char *why;      /* reason when unsupported */
    fhir_path *path;      /* compiled expression, NULL when unsupported */
    const char **targets; /* reference target types */
    size_t ntargets;
    int num; /* store's number, set at start-up */
};

/* One (code -> parameter) entry of a served type's lookup table. */
typedef struct search_code {
    const char *code;
    size_t param; /* index into params */
} search_code;

struct search_registry {
    fhir_arena *arena;
    struct search_param *params; /* all, sorted by key */
    size_t nparams;
    size_t *indexed; /* indexes of params that get rows, in key order */
    size_t nindexed;
    search_code *codes[16]; /* per served type, sorted by code */
    size_t ncodes[16];
};

#endif
