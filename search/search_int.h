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
    int num;       /* store's number, set at start-up */
    int uncounted; /* 1: no counts kept of its values (estimated by a
                      bounded probe of the index rows instead) */
    int self_type; /* served type whose resources also get a row naming
                      themselves (the compartment's owner), or -1 */
    const char *const *order; /* token codes in rank order, for _sort */
    size_t norder;
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
    const char **bases; /* this server's base URLs, no trailing '/' */
    size_t nbases;
    /* The Patient compartment (compartment.c): its owner type, and per
     * served type the parameters that place a resource in it. */
    int comp_type;
    const char **comp_codes[16];
    const search_param **comp_params[16];
    size_t ncomp[16];
};

/* Reads the compartment definition in dir (compartment.c): records per
 * type the parameters that place a resource in it and builds from them
 * one more SearchParameter, stored in *extra (param_init'ed by the
 * caller; NULL when there is no definition). Call before the codes are
 * sorted. */
int search__compartment_load(search_registry *reg, const char *dir,
                             cJSON **extra, fhir_err *err);
void search__compartment_resolve(search_registry *reg);
#define SEARCH_COMPARTMENT_CODE "_compartment"

/* "Type/id" (from a) when s is "<base>/Type/id[/_history/n]" under one of
 * reg's bases, else NULL (index.c; plan.c reads search values with it). */
const char *search__ref_local(const search_registry *reg, const char *s,
                              fhir_arena *a);

#endif

/* ---- plans (plan.c) --------------------------------------------------- */

typedef enum search_mod {
    SEARCH_MOD_NONE = 0,
    SEARCH_MOD_MISSING,
    SEARCH_MOD_NOT,
    SEARCH_MOD_TEXT,
    SEARCH_MOD_EXACT,
    SEARCH_MOD_CONTAINS,
    SEARCH_MOD_OF_TYPE,
    SEARCH_MOD_IDENTIFIER,
    SEARCH_MOD_TYPE, /* reference:Type */
    SEARCH_MOD_BELOW,
    SEARCH_MOD_ABOVE
} search_mod;

typedef enum search_prefix {
    SEARCH_PFX_EQ = 0,
    SEARCH_PFX_NE,
    SEARCH_PFX_GT,
    SEARCH_PFX_LT,
    SEARCH_PFX_GE,
    SEARCH_PFX_LE,
    SEARCH_PFX_SA,
    SEARCH_PFX_EB,
    SEARCH_PFX_AP
} search_prefix;

/* One value of a condition (values of a condition are ORed). */
typedef struct search_value {
    const char *sys;   /* token: NULL any system, "" no system */
    const char *code;  /* token code (NULL: any code of sys); string
                          (normalised, or as given for :exact); reference
                          "Type/id" or URL; uri; _id */
    const char **alts; /* reference, alts[0] == code: "Type/id" per
                          target of a bare id, or Type/id and the URL
                          it was given as */
    size_t nalts;
    search_prefix prefix;
    int64_t lo, hi; /* date range (UTC microseconds, half-open) */
} search_value;

/* Whose index rows a condition reads. */
typedef enum search_link {
    SEARCH_LINK_NONE = 0, /* the resource's own */
    SEARCH_LINK_CHAIN,    /* of the resources it refers to (#chaining) */
    SEARCH_LINK_HAS       /* of the resources referring to it (#has) */
} search_link;

struct search_cond;

/* One step of a chain or _has: condition `inner` on live resources of
 * served type `type`, reached by the references of the condition's
 * reference parameter, which name them (chain) or the resource the
 * condition is on (_has) as "<prefix><id>", prefix the name of
 * `ref_type` (the same as type for a chain) and '/'. */
typedef struct search_hop {
    int type;
    int ref_type;
    const char *prefix; /* "Practitioner/" */
    struct search_cond *inner;
} search_hop;

typedef struct search_cond {
    const struct search_param *param; /* chain, _has: the reference one */
    search_mod mod;
    int missing;        /* :missing=true (1) / false (0) */
    search_value *vals; /* ORed */
    size_t nvals;
    int64_t estimate; /* -1 unknown */
    int exact;        /* estimate is the exact number of matches */
    search_link link;
    search_hop *hops; /* chain: one per target type, ORed; _has: one */
    size_t nhops;
} search_cond;

typedef struct search_sort {
    const struct search_param *param;
    int desc;
} search_sort;

#define SEARCH_MAX_SORT 8

struct search_plan {
    const search_registry *reg;
    int type;
    search_opts opts;
    search_cond *conds; /* ANDed */
    size_t nconds;
    search_sort sort[SEARCH_MAX_SORT];
    size_t nsort;
    int count;
    search_total total;
    search_summary summary;
    const char *elements;
    const char **warnings;
    size_t nwarnings;
    int64_t type_count;
    /* _cursor: key values and rid of the last row of the previous page */
    fhir_sqlval *cursor_keys;
    size_t ncursor;
    int64_t cursor_rid;
    int has_cursor;
    int cursor_before; /* page backwards (the previous link) */
    int64_t snapshot;  /* lastUpdated the result is taken at; 0 unknown */
    /* chosen from the in-memory sets (hot.c): the page reads only these */
    int hot_used;
    const int64_t *hot_rids;
    size_t nhot;
    int64_t hot_count; /* exact number of matches, or -1 */
    fhir_arena *a;
};
