/* fhir/fhir.h - the FHIR vocabulary shared by every module.
 *
 * Everything here is independent of HTTP and of the database: the error
 * type every fallible function fills, memory helpers (arena, string
 * builder), a strict JSON reader and writer built on cJSON's tree, the
 * served resource types, ids, FHIR instants and date ranges, and builders
 * for OperationOutcome and Bundle. Modules above (store/, search/,
 * profiles/, server/) depend on this header; it depends only on cJSON.
 */
#ifndef FHIR_FHIR_H
#define FHIR_FHIR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define FHIR_MUST_CHECK __attribute__((warn_unused_result))
#define FHIR_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Default caps; every one is overridable by configuration (server/). */
#define FHIR_DEFAULT_MAX_BODY (8u * 1024u * 1024u) /* request body bytes */
#define FHIR_DEFAULT_MAX_DEPTH 64                  /* JSON nesting */
#define FHIR_ID_MAX 64                             /* R4 id length */
/* JSON nodes the `copy` operations of one JSON Patch may add in all:
 * each copy can double the document, so without a cap a short patch
 * asks for exponential memory. */
#define FHIR_PATCH_MAX_COPY_NODES 65536

/* ------------------------------------------------------------------ */
/* Errors: one type, passed down explicitly (STYLE.md section 4).      */

/* OperationOutcome.issue.code values (R4 ValueSet issue-type). */
typedef enum fhir_issue {
    FHIR_ISSUE_NONE = 0,
    FHIR_ISSUE_INVALID,
    FHIR_ISSUE_STRUCTURE,
    FHIR_ISSUE_REQUIRED,
    FHIR_ISSUE_VALUE,
    FHIR_ISSUE_INVARIANT,
    FHIR_ISSUE_SECURITY,
    FHIR_ISSUE_LOGIN,
    FHIR_ISSUE_UNKNOWN,
    FHIR_ISSUE_EXPIRED,
    FHIR_ISSUE_FORBIDDEN,
    FHIR_ISSUE_SUPPRESSED,
    FHIR_ISSUE_PROCESSING,
    FHIR_ISSUE_NOT_SUPPORTED,
    FHIR_ISSUE_DUPLICATE,
    FHIR_ISSUE_MULTIPLE_MATCHES,
    FHIR_ISSUE_NOT_FOUND,
    FHIR_ISSUE_DELETED,
    FHIR_ISSUE_TOO_LONG,
    FHIR_ISSUE_CODE_INVALID,
    FHIR_ISSUE_EXTENSION,
    FHIR_ISSUE_TOO_COSTLY,
    FHIR_ISSUE_BUSINESS_RULE,
    FHIR_ISSUE_CONFLICT,
    FHIR_ISSUE_TRANSIENT,
    FHIR_ISSUE_LOCK_ERROR,
    FHIR_ISSUE_NO_STORE,
    FHIR_ISSUE_EXCEPTION,
    FHIR_ISSUE_TIMEOUT,
    FHIR_ISSUE_INCOMPLETE,
    FHIR_ISSUE_THROTTLED,
    FHIR_ISSUE_INFORMATIONAL,
    FHIR_ISSUE__COUNT
} fhir_issue;

/* The issue's code as written in an OperationOutcome ("not-found"). */
const char *fhir_issue_code(fhir_issue issue);
/* The HTTP status an issue maps to by default (the one table of them). */
int fhir_issue_status(fhir_issue issue);

typedef struct fhir_err {
    fhir_issue issue; /* FHIR_ISSUE_NONE while no failure was recorded */
    int status;       /* default from fhir_issue_status(); server may refine */
    char diag[256];   /* OperationOutcome.issue.diagnostics */
    char expr[128];   /* optional FHIRPath of the offending element */
} fhir_err;

#define FHIR_ERR_INIT                                                          \
    {                                                                          \
        FHIR_ISSUE_NONE, 0, "", ""                                             \
    }

/* Records a failure unless one is already recorded (first error wins).
 * Always returns -1 so `return fhir_err_set(...)` reads naturally. */
int fhir_err_set(fhir_err *err, fhir_issue issue, const char *fmt, ...)
    FHIR_PRINTF(3, 4);
/* As fhir_err_set(), also naming the element (`expr`, may be NULL). */
int fhir_err_set_at(fhir_err *err, fhir_issue issue, const char *expr,
                    const char *fmt, ...) FHIR_PRINTF(4, 5);
/* Forgets any recorded failure. */
void fhir_err_clear(fhir_err *err);

/* ------------------------------------------------------------------ */
/* Memory. Out-of-memory aborts: callers never check these for NULL.   */

void *fhir_xmalloc(size_t n);
void *fhir_xcalloc(size_t count, size_t n);
void *fhir_xrealloc(void *p, size_t n);
char *fhir_xstrdup(const char *s);
char *fhir_xstrndup(const char *s, size_t n);

/* Arena: many allocations, one release (one per request). With
 * ARENA_DEBUG=1 in the environment each block is a real malloc so that
 * ASan and valgrind see it. */
typedef struct fhir_arena fhir_arena;

fhir_arena *fhir_arena_new(void);
/* Runs the deferred destructors (last registered first), then frees every
 * block. Accepts NULL. */
void fhir_arena_free(fhir_arena *a);
/* Returns zeroed memory aligned for any type, valid until the arena dies. */
void *fhir_arena_alloc(fhir_arena *a, size_t n);
char *fhir_arena_strdup(fhir_arena *a, const char *s);
char *fhir_arena_strndup(fhir_arena *a, const char *s, size_t n);
char *fhir_arena_printf(fhir_arena *a, const char *fmt, ...) FHIR_PRINTF(2, 3);
/* "x/y" (a reference "Type/id", a URL below a base), without printf. */
char *fhir_arena_path(fhir_arena *a, const char *x, const char *y);
/* Room for one more item in an arena array of n items of `size` bytes:
 * returns v, or (when n == *cap) a copy with twice the capacity (16 at
 * first), updating *cap. */
void *fhir_arena_grow(fhir_arena *a, void *v, size_t n, size_t *cap,
                      size_t size);
/* Calls fn(ptr) when the arena is freed (for cJSON trees and the like). */
void fhir_arena_defer(fhir_arena *a, void (*fn)(void *), void *ptr);

/* Growable byte buffer, always NUL-terminated once anything is added. */
typedef struct fhir_buf {
    char *data;
    size_t len;
    size_t cap;
} fhir_buf;

#define FHIR_BUF_INIT                                                          \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

/* Makes room for `extra` more bytes (and the NUL) in one allocation, so
 * that appending a size known in advance does not copy as it grows. */
void fhir_buf_reserve(fhir_buf *b, size_t extra);
void fhir_buf_append(fhir_buf *b, const char *s, size_t n);
void fhir_buf_puts(fhir_buf *b, const char *s);
void fhir_buf_putc(fhir_buf *b, char c);
void fhir_buf_printf(fhir_buf *b, const char *fmt, ...) FHIR_PRINTF(2, 3);
/* Hands the bytes to the caller (free() them) and empties the buffer;
 * never NULL. *len may be NULL. */
char *fhir_buf_take(fhir_buf *b, size_t *len);
/* Frees the bytes. */
void fhir_buf_clear(fhir_buf *b);

/* Appends the whole file at `path` to out. Errors: not-found (cannot
 * open), too-long (more than `max` bytes), exception (read error). */
int fhir_file_read(fhir_buf *out, const char *path, size_t max,
                   fhir_err *err) FHIR_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* JSON (fhir/json.c): a strict RFC 8259 reader producing cJSON trees,
 * and a writer. The reader validates UTF-8, caps nesting, rejects
 * duplicate keys, and keeps each number's lexeme in `valuestring` so
 * decimals round-trip exactly ("1.50" stays "1.50"). */

typedef struct fhir_json_opts {
    int max_depth;  /* objects+arrays nested deeper fail (too-long) */
    int fhir_rules; /* also reject null member values, empty objects,
                       empty arrays (R4 json.html) */
} fhir_json_opts;

#define FHIR_JSON_OPTS_INIT                                                    \
    {                                                                          \
        FHIR_DEFAULT_MAX_DEPTH, 1                                              \
    }

/* Parses exactly `len` bytes. On success *out is the caller's (free with
 * cJSON_Delete). Errors: structure (syntax, UTF-8, duplicates, FHIR
 * rules) with line and column in diag; too-long (depth). */
int fhir_json_parse(cJSON **out, const char *text, size_t len,
                    const fhir_json_opts *opts, fhir_err *err) FHIR_MUST_CHECK;
/* Appends `item` as JSON; `pretty` indents with two spaces. Numbers are
 * written from their kept lexeme when they have one. */
void fhir_json_write(fhir_buf *out, const cJSON *item, int pretty);
/* Appends the characters of `s` as they stand inside a JSON string, with
 * the writer's escapes (no quotes: for a string written in parts). */
void fhir_json_put_chars(fhir_buf *out, const char *s);
/* The string value of member `key` of `obj`, or NULL when absent or not a
 * string. */
const char *fhir_json_str(const cJSON *obj, const char *key);
/* A new number node with an exact lexeme (e.g. "1.50"); NULL if the text
 * is not a JSON number. */
cJSON *fhir_json_number(const char *lexeme);

/* A node written verbatim by fhir_json_write(): embeds already-serialised
 * JSON (a stored resource) without parsing it. Copies text[0..len). */
cJSON *fhir_json_raw(const char *text, size_t len);

/* Inserts `item` as member `key` of `obj` at position `at` (appends when
 * `at` is past the end). The item moves into obj. */
void fhir_json_insert(cJSON *obj, int at, const char *key, cJSON *item);

/* ------------------------------------------------------------------ */
/* Resource types served, ids, time.                                   */

/* Index of a served resource type ("Task") or -1. */
int fhir_type_find(const char *name);
/* Name of served type `t` (0 <= t < fhir_type_count()). */
const char *fhir_type_name(int t);
int fhir_type_count(void);

/* 1 if `id` matches R4's [A-Za-z0-9\-\.]{1,64}, else 0. */
int fhir_id_valid(const char *id);
/* Writes a fresh time-ordered (version 7) UUID, 36 chars plus NUL: later
 * calls in this process give ids that sort later. */
void fhir_id_new(char out[37]);

/* Wall clock, UTC microseconds since 1970. */
int64_t fhir_now_us(void);
/* "2026-11-22T04:16:00.123456Z" into out (>= 32 bytes). */
void fhir_instant_format(char *out, size_t cap, int64_t us);
/* RFC 7231 IMF-fixdate ("Sun, 22 Nov 2026 04:16:00 GMT") into out. */
void fhir_http_date_format(char *out, size_t cap, int64_t us);
/* Parses an HTTP date (IMF-fixdate, RFC 850 or asctime); 0 on success. */
int fhir_http_date_parse(const char *s, int64_t *out_us) FHIR_MUST_CHECK;

/* A FHIR date, dateTime or instant as the half-open UTC range it
 * denotes: "2024-03" is [2024-03-01T00:00Z, 2024-04-01T00:00Z). Values
 * without a time zone are taken as UTC. */
typedef struct fhir_date_range {
    int64_t lo;    /* inclusive, UTC microseconds */
    int64_t hi;    /* exclusive */
    int precision; /* 1 year, 2 month, 3 day, 4 minute, 5 second, 6 fraction */
} fhir_date_range;

/* Parses `s` (year .. fractional seconds, optional zone). Errors: invalid.
 */
int fhir_date_parse(fhir_date_range *out, const char *s,
                    fhir_err *err) FHIR_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Strings and references for search (fhir/text.c).                     */

/* Length (2-4) of the well-formed UTF-8 character at p of which `avail`
 * bytes may be read, or 0 when it is not one (Unicode table 3-7: no
 * overlongs, no surrogates, nothing above U+10FFFF; ASCII is not
 * handled here). Reads byte by byte and stops at the first bad one, so a
 * NUL-terminated string may pass SIZE_MAX. */
size_t fhir_utf8_len(const unsigned char *p, size_t avail);
/* Drops a UTF-8 character cut short at the end of s (a message truncated
 * to a fixed buffer mid-character would not be valid JSON text). */
void fhir_utf8_cut(char *s);

/* Appends `s` normalised for string search (R4 search.html#string):
 * Latin-1 and Latin Extended-A letters folded to lower-case ASCII ("Müller"
 * -> "muller", "Ærø" -> "aero", "straße" -> "strasse"), combining marks
 * dropped, Greek and Cyrillic capitals lowered, other characters kept as
 * UTF-8; runs of whitespace become one space, leading and trailing
 * whitespace dropped. Invalid UTF-8 bytes are copied unchanged. `s` must
 * not point into `out`. */
void fhir_str_normalize(fhir_buf *out, const char *s);

/* FNV-1a (64 bits): start from FHIR_HASH_SEED and feed bytes. Tells
 * values apart for hash tables and change checks; not a security
 * boundary. */
#define FHIR_HASH_SEED 14695981039346656037ull
uint64_t fhir_hash(uint64_t h, const void *p, size_t n);

/* Appends the bytes of base64 text s[0..len) (RFC 4648, padding
 * required, whitespace skipped, as R4 base64Binary). -1 when it is not
 * valid base64. */
int fhir_base64_decode(fhir_buf *out, const char *s,
                       size_t len) FHIR_MUST_CHECK;

typedef enum fhir_ref_kind {
    FHIR_REF_INVALID = 0,
    FHIR_REF_RELATIVE,  /* Patient/123 or Patient/123/_history/2 */
    FHIR_REF_ABSOLUTE,  /* http(s)://host/base/Patient/123[/_history/2] */
    FHIR_REF_CONTAINED, /* #p1 */
    FHIR_REF_URN,       /* urn:uuid:... or urn:oid:... */
    FHIR_REF_URL        /* any other absolute URI (canonical, external) */
} fhir_ref_kind;

typedef struct fhir_ref {
    fhir_ref_kind kind;
    char type[64];            /* resource type (RELATIVE, ABSOLUTE), else "" */
    char id[FHIR_ID_MAX + 1]; /* logical id; the fragment for CONTAINED */
    char version[FHIR_ID_MAX + 1]; /* from /_history/N, else "" */
    size_t base_len; /* ABSOLUTE: length of the base ("http://h/fhir") */
} fhir_ref;

/* Parses a Reference.reference string. A type must start with an upper
 * case letter and contain only letters; ids must be valid FHIR ids.
 * Returns the kind (FHIR_REF_INVALID for anything unparseable, with *out
 * zeroed). */
fhir_ref_kind fhir_ref_parse(fhir_ref *out, const char *s);

/* ------------------------------------------------------------------ */
/* Index rows: what search/ derives from a resource for its search
 * parameters and store/ writes in the resource's transaction. */

typedef enum fhir_row_kind {
    FHIR_ROW_TOKEN,  /* sys (may be ""), code */
    FHIR_ROW_STRING, /* code = normalised text, text = as written */
    FHIR_ROW_DATE,   /* lo, hi (UTC microseconds, half-open) */
    FHIR_ROW_REF,    /* code = "Type/id", or the absolute URL */
    FHIR_ROW_URI     /* code = the URI */
} fhir_row_kind;

typedef struct fhir_row {
    fhir_row_kind kind;
    int param;        /* the parameter's number in the store */
    const char *sys;  /* TOKEN */
    const char *code; /* see fhir_row_kind */
    const char *text; /* STRING */
    int64_t lo, hi;   /* DATE */
} fhir_row;

typedef struct fhir_rows {
    fhir_row *rows; /* arena-owned, distinct */
    size_t n, cap;
} fhir_rows;

/* A query built by search/ and run by store/: SQL text assembled from
 * constant fragments only, and the values to bind to its `?`s in order.
 * Request bytes only ever travel as values. */
typedef struct fhir_sqlval {
    int is_text; /* 1: text (s, len); 0: integer (i) */
    int64_t i;
    const char *s;
    size_t len;
} fhir_sqlval;

typedef struct fhir_sql {
    fhir_buf text;
    fhir_sqlval *vals; /* malloc'd; fhir_sql_clear() frees */
    size_t n, cap;
} fhir_sql;

#define FHIR_SQL_INIT                                                          \
    {                                                                          \
        FHIR_BUF_INIT, NULL, 0, 0                                              \
    }

/* Appends a constant SQL fragment (never request data). */
void fhir_sql_add(fhir_sql *q, const char *fragment);
/* Appends "?" and its value. The text is not copied: it must outlive q. */
void fhir_sql_int(fhir_sql *q, int64_t v);
void fhir_sql_text(fhir_sql *q, const char *s, size_t len);
void fhir_sql_clear(fhir_sql *q);

/* ------------------------------------------------------------------ */
/* FHIRPath subset (fhir/fhirpath.c): enough to evaluate the expressions
 * of the standard SearchParameters and the invariants we enforce.
 * Supported: paths with polymorphic (choice) elements ("Task.occurrence"
 * finds occurrenceDateTime, occurrencePeriod, ...), a leading type name
 * as a filter ("Patient.name" on a Practitioner is empty), `|`,
 * parentheses, where(expr), exists(), empty(), not(), first(),
 * ofType(T), as T / as(T), is T / is(T), resolve() (yields the type named
 * by a Reference's reference string, for `resolve() is Patient`),
 * extension('url'), =, !=, and, or, string and boolean literals, $this,
 * and indexers with an integer literal ("Task.input[1].value"; other index
 * expressions are not supported). Anything else fails to compile, so an
 * unsupported expression is reported at start-up. Result items point into the
 * resource or the compiled path: valid while both live. Computed booleans have
 * type "boolean". Resetting a result's n to 0 and reusing it avoids allocation.
 */

typedef struct fhir_path fhir_path;

/* One value in a result: a node of the evaluated resource, or a computed
 * boolean (node NULL). `type` is the FHIR type when known: from a choice
 * element's suffix ("dateTime", "Period", "CodeableConcept"), from
 * ofType/as, or NULL when the path alone does not say. */
typedef struct fhir_path_item {
    const cJSON *node;
    const char *type;
    int boolean; /* the value when node is NULL */
} fhir_path_item;

typedef struct fhir_path_result {
    fhir_path_item *items; /* malloc'd; fhir_path_result_clear() frees */
    size_t n, cap;
} fhir_path_result;

/* Compiles `expr`. On success *out is the caller's (fhir_path_free()).
 * Errors: not-supported (outside the subset, diag names the construct),
 * invalid (syntax). */
int fhir_path_compile(fhir_path **out, const char *expr,
                      fhir_err *err) FHIR_MUST_CHECK;
void fhir_path_free(fhir_path *p);
/* Evaluates `p` with `res` (a resource) as its context and appends the
 * items to `out` (which may already hold items). Never fails on data:
 * missing elements give an empty result. */
void fhir_path_eval(fhir_path_result *out, const fhir_path *p,
                    const cJSON *res);
void fhir_path_result_clear(fhir_path_result *r);

/* ------------------------------------------------------------------ */
/* Patch (fhir/patch.c): the two PATCH formats FHIR R4 accepts
 * (http.html#patch), applied to a resource held as a cJSON tree. Both are
 * all-or-nothing: they work on a copy and swap it in only when every
 * operation succeeded, so on failure the document is unchanged. Errors
 * name the failing operation by its position, counted from 0
 * ("operation 3 (replace): path /status not found"):
 *   invalid (400)     the patch document is malformed: wrong shape, an
 *                     unknown operation or type, a missing member or
 *                     part, bad JSON Pointer syntax, a FHIRPath that does
 *                     not compile (not-supported, 400, outside the
 *                     subset above);
 *   processing (422)  a well-formed operation cannot be applied to this
 *                     document: target not found, index out of range,
 *                     `test` failed, a FHIRPath selecting no element or
 *                     several where one is needed, a move into the moved
 *                     value's own child.
 *   too-long (413)    JSON Patch `copy` operations adding more than
 *                     FHIR_PATCH_MAX_COPY_NODES JSON nodes in all.
 * Neither checks the result against the resource's definition; the
 * caller validates the patched resource. Primitive extensions (the
 * `_name` twins of R4 json.html#primitive) are not kept in step. */

/* RFC 6902 JSON Patch. `ops` is the parsed patch document, an array of
 * operation objects (add, remove, replace, move, copy, test) with JSON
 * Pointer (RFC 6901) paths; "" is the whole document, which replace, add,
 * move and copy may overwrite (remove may not). `test` compares as JSON:
 * numbers by value, object members in any order. Values are copied. */
int fhir_patch_json(cJSON *doc, const cJSON *ops,
                    fhir_err *err) FHIR_MUST_CHECK;

/* What FHIRPath Patch needs from the resource definitions to write an
 * element the way the JSON format wants it, without fhir/ depending on
 * profiles/. Bits returned by fhir_patch_schema.elem: FHIR_ELEM_LIST, the
 * element repeats (max > 1) so it is always a JSON array; FHIR_ELEM_CHOICE,
 * it is name[x] so its JSON name takes the value's type ("occurrence" and
 * a valueDateTime give "occurrenceDateTime"). */
#define FHIR_ELEM_LIST 1u
#define FHIR_ELEM_CHOICE 2u

typedef struct fhir_patch_schema {
    /* Describes child `name` (no "[x]") of the element at `path`, which is
     * the resourceType of the enclosing resource followed by the JSON
     * member names down to that element, array positions left out
     * ("Task", "Task.input", "Task.input.valueCodeableConcept"). Returns
     * FHIR_ELEM_* bits; 0 when single, not a choice, or unknown. */
    unsigned (*elem)(void *ctx, const char *path, const char *name);
    void *ctx;
} fhir_patch_schema;

/* FHIRPath Patch (R4 fhirpatch.html). `params` is a Parameters resource
 * whose parameters are all named "operation", each with parts type (add,
 * insert, delete, replace, move), path (a FHIRPath of the subset above,
 * evaluated on `res`), and as the type needs name, value, index, source
 * and destination (parts a type does not use are ignored). Paths must
 * select elements of `res`: not computed values, nor what resolve()
 * stands for. A value is a value[x] (its type suffix kept, as in
 * valueCodeableConcept), a resource, or nested parts building an object
 * (parts named alike become an array). Semantics:
 *   add      path selects one element; member `name` is added to it. An
 *            existing array is appended to; an existing single value is
 *            an error (only absent non-repeating elements may be added);
 *            an absent element is written as an array if the schema says
 *            it repeats, else as a single value.
 *   insert   path selects a list (every item of one array, or nothing:
 *            then the path must end in ".name" and its prefix select one
 *            element, the list's owner); value goes in at `index` 0..n.
 *   delete   path selects at most one element; none is not an error. An
 *            array or object left empty is removed, up to the resource.
 *   replace  path selects one element (not the resource); it is
 *            replaced, a choice element renamed for the value's type.
 *   move     path selects a list; the item at `source` moves to
 *            `destination`, both 0..n-1.
 * `name` is a choice element when the schema says so, when it ends in
 * "[x]", or when the owner already holds it under a type suffix; then the
 * value must be a value[x]. `schema` may be NULL: without it an element
 * that is absent is written as a single value and is a choice only by
 * the last two rules. Nested parts are named by the same rules. */
int fhir_patch_fhirpath(cJSON *res, const cJSON *params,
                        const fhir_patch_schema *schema,
                        fhir_err *err) FHIR_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Builders.                                                            */

/* A new OperationOutcome with one issue. `severity` is fatal, error,
 * warning or information; diag and expr may be NULL. */
cJSON *fhir_oo_new(const char *severity, fhir_issue issue, const char *diag,
                   const char *expr);
/* Appends one more issue to an OperationOutcome. */
void fhir_oo_add(cJSON *oo, const char *severity, fhir_issue issue,
                 const char *diag, const char *expr);
/* An OperationOutcome (severity error) describing `err`. */
cJSON *fhir_oo_from_err(const fhir_err *err);

/* A new Bundle of `type` ("history", "searchset", ...) with a fresh id
 * and meta.lastUpdated. */
cJSON *fhir_bundle_new(const char *type);
void fhir_bundle_add_link(cJSON *bundle, const char *relation, const char *url);
/* Appends an empty entry object and returns it (borrowed). */
cJSON *fhir_bundle_add_entry(cJSON *bundle);

/* Sets id, meta.versionId and meta.lastUpdated of `res` (replacing any
 * client values, keeping the rest of meta) and puts resourceType, id and
 * meta first, in that order. */
void fhir_resource_stamp(cJSON *res, const char *id, int64_t version,
                         int64_t updated_us);

#endif
