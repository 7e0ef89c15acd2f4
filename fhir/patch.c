/* fhir/patch.c - PATCH documents applied to a resource's cJSON tree.
 *
 * FHIR R4 (http.html#patch) takes JSON Patch (RFC 6902, values addressed
 * by JSON Pointer, RFC 6901) and FHIRPath Patch (fhirpatch.html, a
 * Parameters resource addressing elements by FHIRPath). server/ parses
 * the body, reads the stored resource and hands both here; it validates
 * what comes back as it would any update. Each format is checked whole
 * before anything is applied, so a malformed document is always a 400
 * whatever the resource holds, and the operations then run on a copy that
 * replaces the resource only when all of them succeeded.
 *
 * FHIRPath results are nodes of the tree, and cJSON keeps no parent
 * links, so a node to change is first located by walking the tree from
 * the root comparing pointers. How an element is written (an array when
 * it repeats, a type suffix when it is a choice) comes from the caller's
 * schema callback, since fhir/ sees no StructureDefinition, and otherwise
 * from what the resource already holds.
 */
#include "fhir/fhir.h"
#include "fhir/fhir_int.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- shared ------------------------------------------------------------ */

/* Records the failure of operation i (counted from 0) of type `op` (NULL
 * before the type is known). */
static int op_fail(fhir_err *err, fhir_issue issue, size_t i, const char *op,
                   const char *fmt, ...) FHIR_PRINTF(5, 6);

static int
op_fail(fhir_err *err, fhir_issue issue, size_t i, const char *op,
        const char *fmt, ...)
{
    char msg[224];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fhir_utf8_cut(msg);
    if (op == NULL) {
        return fhir_err_set(err, issue, "operation %zu: %s", i, msg);
    }
    return fhir_err_set(err, issue, "operation %zu (%s): %s", i, op, msg);
}

/* Names a detached or new item `key` (NULL: no name, for arrays). */
static void
set_key(cJSON *item, const char *key)
{
    if (!(item->type & cJSON_StringIsConst)) {
        cJSON_free(item->string);
    }
    item->string = key != NULL ? fhir_xstrdup(key) : NULL;
    item->type &= ~cJSON_StringIsConst;
}

/* A copy of `v` to link into the tree, without the member name
 * cJSON_Duplicate() keeps. Number lexemes are copied with it. */
static cJSON *
copy_value(const cJSON *v)
{
    cJSON *c = cJSON_Duplicate(v, 1);

    if (c == NULL) {
        abort(); /* out of memory, as in fhir_xmalloc() */
    }
    set_key(c, NULL);
    return c;
}

/* Exchanges the values of a and b; each keeps its own name and place. The
 * patched copy takes over the caller's root node this way. */
static void
swap_content(cJSON *a, cJSON *b)
{
    const int name_bits = cJSON_StringIsConst;
    cJSON t = *a;

    a->type = (b->type & ~name_bits) | (a->type & name_bits);
    a->child = b->child;
    a->valuestring = b->valuestring;
    a->valueint = b->valueint;
    a->valuedouble = b->valuedouble;
    b->type = (t.type & ~name_bits) | (b->type & name_bits);
    b->child = t.child;
    b->valuestring = t.valuestring;
    b->valueint = t.valueint;
    b->valuedouble = t.valuedouble;
}

/* Puts `item` at position `at` (0..size) of `arr`. Linked here because
 * the cJSON 1.7.15 Debian ships refuses to insert between two items;
 * cJSON keeps the last item in the first one's `prev`. */
static void
array_insert(cJSON *arr, int at, cJSON *item)
{
    cJSON *next = cJSON_GetArrayItem(arr, at);

    if (next == NULL) {
        cJSON_AddItemToArray(arr, item);
        return;
    }
    item->next = next;
    item->prev = next->prev;
    if (next == arr->child) {
        arr->child = item;
    } else {
        next->prev->next = item;
    }
    next->prev = item;
}

/* Replaces `old`, a child of `parent`, by `item`, which takes old's member
 * name when parent is an object. */
static void
replace_child(cJSON *parent, cJSON *old, cJSON *item)
{
    set_key(item, cJSON_IsObject(parent) ? old->string : NULL);
    cJSON_ReplaceItemViaPointer(parent, old, item);
}

/* ---- JSON Patch: pointers ---------------------------------------------- */

/* A parsed JSON Pointer: `n` reference tokens, unescaped, in one block. */
typedef struct pointer {
    char **tok;
    size_t n;
    char *buf;
} pointer;

static void
pointer_clear(pointer *p)
{
    free(p->tok);
    free(p->buf);
    memset(p, 0, sizeof(*p));
}

/* Parses `s` (RFC 6901 section 3: "" or '/'-separated tokens, with "~0"
 * for '~' and "~1" for '/'). Returns -1 on a syntax error. */
static int
pointer_parse(pointer *out, const char *s)
{
    size_t n = 0;
    char *w;

    memset(out, 0, sizeof(*out));
    if (s[0] == '\0') {
        return 0;
    }
    if (s[0] != '/') {
        return -1;
    }
    for (const char *c = s; *c != '\0'; c++) {
        if (*c == '/') {
            n++;
        } else if (*c == '~' && c[1] != '0' && c[1] != '1') {
            return -1;
        }
    }
    out->tok = fhir_xcalloc(n, sizeof(*out->tok));
    out->buf = fhir_xstrdup(s);
    w = out->buf;
    for (const char *c = s; *c != '\0'; c++) {
        if (*c == '/') {
            if (out->n > 0) {
                *w++ = '\0';
            }
            out->tok[out->n++] = w;
        } else if (*c == '~') {
            c++;
            *w++ = *c == '0' ? '~' : '/';
        } else {
            *w++ = *c;
        }
    }
    *w = '\0';
    return 0;
}

/* The array index a token spells (RFC 6901 section 4: "0" or digits
 * without a leading zero), or -1. */
static int
array_index(const char *t)
{
    long v = 0;

    if (t[0] == '\0' || (t[0] == '0' && t[1] != '\0')) {
        return -1;
    }
    for (const char *c = t; *c != '\0'; c++) {
        if (*c < '0' || *c > '9' || v > (INT_MAX - 9) / 10) {
            return -1;
        }
        v = v * 10 + (*c - '0');
    }
    return (int)v;
}

/* The value the first `ntok` tokens of `p` reach from root, or NULL. */
static cJSON *
pointer_get(cJSON *root, const pointer *p, size_t ntok)
{
    cJSON *cur = root;

    for (size_t i = 0; i < ntok && cur != NULL; i++) {
        if (cJSON_IsObject(cur)) {
            cur = cJSON_GetObjectItemCaseSensitive(cur, p->tok[i]);
        } else if (cJSON_IsArray(cur) && array_index(p->tok[i]) >= 0) {
            cur = cJSON_GetArrayItem(cur, array_index(p->tok[i]));
        } else {
            cur = NULL;
        }
    }
    return cur;
}

/* Whether `a` is `b` or a proper prefix of it (prefix: 1, equal: 2). */
static int
pointer_prefix(const pointer *a, const pointer *b)
{
    if (a->n > b->n) {
        return 0;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->tok[i], b->tok[i]) != 0) {
            return 0;
        }
    }
    return a->n == b->n ? 2 : 1;
}

/* ---- JSON Patch: operations -------------------------------------------- */

typedef enum jop {
    JOP_ADD,
    JOP_REMOVE,
    JOP_REPLACE,
    JOP_MOVE,
    JOP_COPY,
    JOP_TEST
} jop;

static const char *const jop_names[] = {"add",  "remove", "replace",
                                        "move", "copy",   "test"};

/* One checked operation of the document. */
typedef struct jstep {
    jop op;
    const char *path_text, *from_text;
    pointer path, from;
    const cJSON *value; /* add, replace, test */
} jstep;

/* Fills `s` from operation object `o` (RFC 6902 section 4); members the
 * operation does not use are ignored (section 4, "MUST be ignored"). */
static int
jstep_parse(jstep *s, const cJSON *o, size_t i, fhir_err *err)
{
    const char *name = fhir_json_str(o, "op");
    size_t k = 0;

    if (!cJSON_IsObject(o)) {
        return op_fail(err, FHIR_ISSUE_INVALID, i, NULL, "not an object");
    }
    if (name == NULL) {
        return op_fail(err, FHIR_ISSUE_INVALID, i, NULL, "no \"op\" string");
    }
    while (k < COUNT(jop_names) && strcmp(jop_names[k], name) != 0) {
        k++;
    }
    if (k == COUNT(jop_names)) {
        return op_fail(err, FHIR_ISSUE_INVALID, i, NULL, "unknown op '%.40s'",
                       name);
    }
    s->op = (jop)k;
    s->path_text = fhir_json_str(o, "path");
    if (s->path_text == NULL) {
        return op_fail(err, FHIR_ISSUE_INVALID, i, name, "no \"path\" string");
    }
    if (pointer_parse(&s->path, s->path_text) != 0) {
        return op_fail(err, FHIR_ISSUE_INVALID, i, name,
                       "path '%.100s' is not a JSON Pointer", s->path_text);
    }
    if (s->op == JOP_ADD || s->op == JOP_REPLACE || s->op == JOP_TEST) {
        s->value = cJSON_GetObjectItemCaseSensitive(o, "value");
        if (s->value == NULL) {
            return op_fail(err, FHIR_ISSUE_INVALID, i, name, "no \"value\"");
        }
    }
    if (s->op == JOP_MOVE || s->op == JOP_COPY) {
        s->from_text = fhir_json_str(o, "from");
        if (s->from_text == NULL) {
            return op_fail(err, FHIR_ISSUE_INVALID, i, name,
                           "no \"from\" string");
        }
        if (pointer_parse(&s->from, s->from_text) != 0) {
            return op_fail(err, FHIR_ISSUE_INVALID, i, name,
                           "from '%.100s' is not a JSON Pointer", s->from_text);
        }
    }
    return 0;
}

/* RFC 6902 section 4.1, also the second half of move and copy: puts
 * `value` (which this takes) at the pointer. */
static int
json_add(cJSON *root, const jstep *s, size_t i, cJSON *value, fhir_err *err)
{
    const pointer *p = &s->path;
    const char *last;
    cJSON *parent;
    int at = -1;

    if (p->n == 0) {
        swap_content(root, value);
        cJSON_Delete(value);
        return 0;
    }
    parent = pointer_get(root, p, p->n - 1);
    last = p->tok[p->n - 1];
    if (cJSON_IsObject(parent)) {
        if (cJSON_GetObjectItemCaseSensitive(parent, last) != NULL) {
            cJSON_ReplaceItemInObjectCaseSensitive(parent, last, value);
        } else {
            cJSON_AddItemToObject(parent, last, value);
        }
        return 0;
    }
    if (cJSON_IsArray(parent)) {
        at = strcmp(last, "-") == 0 ? cJSON_GetArraySize(parent)
                                    : array_index(last);
    }
    if (at < 0 || at > cJSON_GetArraySize(parent)) {
        cJSON_Delete(value);
        return op_fail(err, FHIR_ISSUE_PROCESSING, i, jop_names[s->op],
                       "path %.100s not found", s->path_text);
    }
    array_insert(parent, at, value);
    return 0;
}

/* The number of JSON nodes of v, counting no further than `stop`. */
static size_t
node_count(const cJSON *v, size_t stop)
{
    size_t n = 1;
    for (const cJSON *c = v->child; c != NULL && n <= stop; c = c->next) {
        n += node_count(c, stop - n);
    }
    return n;
}

/* Applies one checked operation to the working copy; *copied counts the
 * nodes copy operations added so far. */
static int
jstep_apply(cJSON *root, const jstep *s, size_t i, size_t *copied,
            fhir_err *err)
{
    const char *op = jop_names[s->op];
    cJSON *target = NULL;
    cJSON *parent;

    if (s->op == JOP_MOVE || s->op == JOP_COPY) {
        target = pointer_get(root, &s->from, s->from.n);
        if (target == NULL) {
            return op_fail(err, FHIR_ISSUE_PROCESSING, i, op,
                           "from %.100s not found", s->from_text);
        }
        if (s->op == JOP_COPY) {
            /* Each copy may double the document: a few dozen would ask
             * for more memory than there is. */
            size_t left = FHIR_PATCH_MAX_COPY_NODES - *copied;
            size_t n = node_count(target, left);
            if (n > left) {
                return op_fail(err, FHIR_ISSUE_TOO_LONG, i, op,
                               "copies would add more than %u JSON values",
                               (unsigned)FHIR_PATCH_MAX_COPY_NODES);
            }
            *copied += n;
            return json_add(root, s, i, copy_value(target), err);
        }
        /* Section 4.4: a value cannot move into one of its children. */
        switch (pointer_prefix(&s->from, &s->path)) {
        case 2:
            return 0;
        case 1:
            return op_fail(err, FHIR_ISSUE_PROCESSING, i, op,
                           "cannot move %.100s into its own child",
                           s->from_text);
        default:
            break;
        }
        parent = pointer_get(root, &s->from, s->from.n - 1);
        cJSON_DetachItemViaPointer(parent, target);
        set_key(target, NULL);
        return json_add(root, s, i, target, err);
    }
    if (s->op == JOP_ADD) {
        return json_add(root, s, i, copy_value(s->value), err);
    }
    target = pointer_get(root, &s->path, s->path.n);
    if (target == NULL) {
        return op_fail(err, FHIR_ISSUE_PROCESSING, i, op,
                       "path %.100s not found", s->path_text);
    }
    if (s->op == JOP_TEST) {
        if (!cJSON_Compare(target, s->value, 1)) {
            return op_fail(err, FHIR_ISSUE_PROCESSING, i, op,
                           "the value at %.100s is not the one given",
                           s->path_text);
        }
        return 0;
    }
    if (s->path.n == 0) {
        cJSON *value;

        if (s->op == JOP_REMOVE) {
            return op_fail(err, FHIR_ISSUE_PROCESSING, i, op,
                           "cannot remove the whole document");
        }
        value = copy_value(s->value);
        swap_content(root, value);
        cJSON_Delete(value);
        return 0;
    }
    parent = pointer_get(root, &s->path, s->path.n - 1);
    if (s->op == JOP_REMOVE) {
        cJSON_Delete(cJSON_DetachItemViaPointer(parent, target));
    } else {
        replace_child(parent, target, copy_value(s->value));
    }
    return 0;
}

int
fhir_patch_json(cJSON *doc, const cJSON *ops, fhir_err *err)
{
    jstep *steps = NULL;
    cJSON *work = NULL;
    size_t n = 0, copied = 0;
    int rc = -1;

    assert(doc != NULL);
    if (!cJSON_IsArray(ops)) {
        fhir_err_set(err, FHIR_ISSUE_INVALID,
                     "a JSON Patch document must be an array of operations");
        goto done;
    }
    steps = fhir_xcalloc((size_t)cJSON_GetArraySize(ops), sizeof(*steps));
    for (const cJSON *o = ops->child; o != NULL; o = o->next) {
        size_t i = n++; /* counted first, so that done: frees its pointers */

        if (jstep_parse(&steps[i], o, i, err) != 0) {
            goto done;
        }
    }
    work = copy_value(doc);
    for (size_t i = 0; i < n; i++) {
        if (jstep_apply(work, &steps[i], i, &copied, err) != 0) {
            goto done;
        }
    }
    swap_content(doc, work);
    rc = 0;
done:
    for (size_t i = 0; i < n; i++) {
        pointer_clear(&steps[i].path);
        pointer_clear(&steps[i].from);
    }
    free(steps);
    cJSON_Delete(work);
    return rc;
}

/* ---- FHIRPath Patch: the Parameters document ---------------------------- */

typedef enum pop { POP_ADD, POP_INSERT, POP_DELETE, POP_REPLACE, POP_MOVE } pop;

static const char *const pop_names[] = {"add", "insert", "delete", "replace",
                                        "move"};

/* The parts of an operation (fhirpatch.html, the table), and which of them
 * each type requires. */
enum {
    PART_TYPE,
    PART_PATH,
    PART_NAME,
    PART_VALUE,
    PART_INDEX,
    PART_SOURCE,
    PART_DEST,
    PART__COUNT
};

static const char *const part_names[PART__COUNT] = {
    "type", "path", "name", "value", "index", "source", "destination"};

#define NEEDS(p) (1u << (p))
static const unsigned pop_needs[] = {
    [POP_ADD] = NEEDS(PART_PATH) | NEEDS(PART_NAME) | NEEDS(PART_VALUE),
    [POP_INSERT] = NEEDS(PART_PATH) | NEEDS(PART_VALUE) | NEEDS(PART_INDEX),
    [POP_DELETE] = NEEDS(PART_PATH),
    [POP_REPLACE] = NEEDS(PART_PATH) | NEEDS(PART_VALUE),
    [POP_MOVE] = NEEDS(PART_PATH) | NEEDS(PART_SOURCE) | NEEDS(PART_DEST),
};

/* Where a value part keeps its value. */
typedef struct pval {
    const cJSON *v;     /* the value[x], the resource, or the part array */
    const char *suffix; /* the type suffix of value[x] ("DateTime"), or NULL */
    int parts;          /* v is an array of nested parts */
} pval;

/* Finds the value of part `part`: exactly one of value[x] (x a type of
 * R4's open list), resource, or part. Returns -1 with *why set if not. */
static int
pval_get(pval *out, const cJSON *part, const char **why)
{
    int found = 0;

    memset(out, 0, sizeof(*out));
    for (const cJSON *m = part->child; m != NULL; m = m->next) {
        if (strcmp(m->string, "part") == 0) {
            out->v = m;
            out->parts = 1;
        } else if (strcmp(m->string, "resource") == 0) {
            if (!cJSON_IsObject(m)) {
                *why = "has a resource that is not an object";
                return -1;
            }
            out->v = m;
        } else if (strncmp(m->string, "value", 5) == 0) {
            if (fhir__choice_type(m->string + 5) == NULL) {
                *why = "has a value of unknown type";
                return -1;
            }
            out->v = m;
            out->suffix = m->string + 5;
        } else {
            continue; /* name, id, extension */
        }
        found++;
    }
    if (found != 1) {
        *why = found == 0 ? "has no value" : "has more than one value";
        return -1;
    }
    if (out->parts && (!cJSON_IsArray(out->v) || out->v->child == NULL)) {
        *why = "has no nested parts";
        return -1;
    }
    return 0;
}

/* Checks a value part and its nested parts, to `depth` levels. */
static int
pval_check(const cJSON *part, int depth, const char **why)
{
    pval pv;

    if (pval_get(&pv, part, why) != 0) {
        return -1;
    }
    if (!pv.parts) {
        return 0;
    }
    if (depth <= 0) {
        *why = "nests too deep";
        return -1;
    }
    for (const cJSON *sub = pv.v->child; sub != NULL; sub = sub->next) {
        const char *name = fhir_json_str(sub, "name");

        if (name == NULL || name[0] == '\0') {
            *why = "has a nested part without a name";
            return -1;
        }
        if (pval_check(sub, depth - 1, why) != 0) {
            return -1;
        }
    }
    return 0;
}

/* The valueInteger of a part, which must fit a FHIR integer (32 bits). */
static int
part_int(const cJSON *part, long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(part, "valueInteger");

    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -2147483648.0) ||
        !(v->valuedouble <= 2147483647.0) ||
        v->valuedouble != (double)(long)v->valuedouble) {
        return -1;
    }
    *out = (long)v->valuedouble;
    return 0;
}

/* One checked operation. */
typedef struct pstep {
    pop op;
    const char *path_text;
    fhir_path *path;
    const char *name;     /* add */
    const cJSON *value;   /* the value part: add, insert, replace */
    long index, src, dst; /* insert; move */
} pstep;

/* Reads the parts of parameter `param` into s. */
static int
pstep_parse(pstep *s, const cJSON *param, size_t i, fhir_err *err)
{
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(param, "part");
    const cJSON *by[PART__COUNT] = {NULL};
    const char *pname = fhir_json_str(param, "name");
    const char *type, *why = NULL;
    const char *op;
    fhir_err perr = FHIR_ERR_INIT;
    size_t k;

    if (pname == NULL || strcmp(pname, "operation") != 0) {
        return op_fail(err, FHIR_ISSUE_INVALID, i, NULL,
                       "parameter '%.40s' is not named \"operation\"",
                       pname != NULL ? pname : "");
    }
    if (!cJSON_IsArray(parts)) {
        return op_fail(err, FHIR_ISSUE_INVALID, i, NULL, "has no parts");
    }
    for (const cJSON *p = parts->child; p != NULL; p = p->next) {
        const char *name = fhir_json_str(p, "name");

        for (k = 0; name != NULL && k < PART__COUNT; k++) {
            if (strcmp(part_names[k], name) == 0) {
                break;
            }
        }
        if (name == NULL || k == PART__COUNT) {
            return op_fail(err, FHIR_ISSUE_INVALID, i, NULL,
                           "unknown part '%.40s'", name != NULL ? name : "");
        }
        if (by[k] != NULL) {
            return op_fail(err, FHIR_ISSUE_INVALID, i, NULL,
                           "part '%s' given twice", name);
        }
        by[k] = p;
    }
    type = fhir_json_str(by[PART_TYPE], "valueCode");
    for (k = 0; type != NULL && k < COUNT(pop_names); k++) {
        if (strcmp(pop_names[k], type) == 0) {
            break;
        }
    }
    if (type == NULL || k == COUNT(pop_names)) {
        return op_fail(err, FHIR_ISSUE_INVALID, i, NULL,
                       "type must be a valueCode: add, insert, delete, "
                       "replace or move");
    }
    s->op = (pop)k;
    op = pop_names[k];
    for (k = 0; k < PART__COUNT; k++) {
        if ((pop_needs[s->op] & NEEDS(k)) && by[k] == NULL) {
            return op_fail(err, FHIR_ISSUE_INVALID, i, op,
                           "the part '%s' is missing", part_names[k]);
        }
    }
    s->path_text = fhir_json_str(by[PART_PATH], "valueString");
    if (s->path_text == NULL) {
        return op_fail(err, FHIR_ISSUE_INVALID, i, op,
                       "path must be a valueString");
    }
    if (fhir_path_compile(&s->path, s->path_text, &perr) != 0) {
        return op_fail(err, perr.issue, i, op, "%s", perr.diag);
    }
    if (pop_needs[s->op] & NEEDS(PART_NAME)) {
        s->name = fhir_json_str(by[PART_NAME], "valueString");
        if (s->name == NULL || s->name[0] == '\0') {
            return op_fail(err, FHIR_ISSUE_INVALID, i, op,
                           "name must be a non-empty valueString");
        }
    }
    if (pop_needs[s->op] & NEEDS(PART_VALUE)) {
        s->value = by[PART_VALUE];
        if (pval_check(s->value, FHIR_DEFAULT_MAX_DEPTH, &why) != 0) {
            return op_fail(err, FHIR_ISSUE_INVALID, i, op, "the value part %s",
                           why);
        }
    }
    if (((pop_needs[s->op] & NEEDS(PART_INDEX)) &&
         part_int(by[PART_INDEX], &s->index) != 0) ||
        ((pop_needs[s->op] & NEEDS(PART_SOURCE)) &&
         (part_int(by[PART_SOURCE], &s->src) != 0 ||
          part_int(by[PART_DEST], &s->dst) != 0))) {
        return op_fail(err, FHIR_ISSUE_INVALID, i, op,
                       "index, source and destination must be valueIntegers");
    }
    return 0;
}

/* ---- FHIRPath Patch: finding nodes ------------------------------------- */

/* The state of one run: the working copy and what each step needs. */
typedef struct pctx {
    cJSON *root;
    const fhir_patch_schema *schema;
    fhir_path_result r; /* the current step's path result, reused */
    size_t i;           /* the current step, for diagnostics */
    const char *op;
    fhir_err *err;
} pctx;

/* Where a node sits: cJSON has no parent links, so this is found by a walk
 * from the root (find_in()). */
typedef struct place {
    cJSON *node;
    cJSON *owner;  /* the object holding `member`; NULL for the root */
    cJSON *member; /* owner's member: node itself or the array holding it */
    fhir_buf path; /* the schema path of owner ("Task.input") */
} place;

static void
place_clear(place *pl)
{
    fhir_buf_clear(&pl->path);
}

/* Searches object `obj` and below for `target`. `trail` holds the member
 * names walked, `rt` is the resourceType of the innermost enclosing
 * resource and `start` where in trail its path begins (contained resources
 * are described by their own type). */
static int
find_in(place *pl, cJSON *obj, const cJSON *target, fhir_buf *trail,
        const char *rt, size_t start)
{
    for (cJSON *m = obj->child; m != NULL; m = m->next) {
        size_t mark = trail->len;
        int found = 0;

        for (cJSON *e = cJSON_IsArray(m) ? m->child : m; e != NULL && !found;
             e = cJSON_IsArray(m) ? e->next : NULL) {
            if (e == target) {
                pl->node = e;
                pl->owner = obj;
                pl->member = m;
                fhir_buf_puts(&pl->path, rt);
                fhir_buf_append(&pl->path, trail->data + start, mark - start);
                found = 1;
            } else if (cJSON_IsObject(e)) {
                const char *ert = fhir_json_str(e, "resourceType");

                fhir_buf_putc(trail, '.');
                fhir_buf_puts(trail, m->string);
                found = ert != NULL
                            ? find_in(pl, e, target, trail, ert, trail->len)
                            : find_in(pl, e, target, trail, rt, start);
                trail->len = mark;
                trail->data[mark] = '\0';
            }
        }
        if (found) {
            return 1;
        }
    }
    return 0;
}

/* Fills *pl (the caller clears it) for `node`; 0 if it is not in the
 * working copy. */
static int
find_node(const pctx *c, place *pl, const cJSON *node)
{
    fhir_buf trail = FHIR_BUF_INIT;
    const char *rt = fhir_json_str(c->root, "resourceType");
    int found;

    memset(pl, 0, sizeof(*pl));
    fhir_buf_append(&trail, "", 0);
    if (rt == NULL) {
        rt = "";
    }
    if (node == c->root) {
        pl->node = c->root;
        fhir_buf_puts(&pl->path, rt);
        found = 1;
    } else {
        found = node != NULL && find_in(pl, c->root, node, &trail, rt, 0);
    }
    fhir_buf_clear(&trail);
    return found;
}

/* Locates path result `it` in the working copy. Fails (422) for results
 * that are not elements of the resource: computed booleans, literals, and
 * what resolve() yields (the reference string standing for another
 * resource, which a patch must not alter: fhirpatch.html). */
static int
locate(pctx *c, place *pl, const fhir_path_item *it, const char *path_text)
{
    int resolved = it->type != NULL && it->type[0] >= 'A' &&
                   it->type[0] <= 'Z' && !cJSON_IsObject(it->node);

    memset(pl, 0, sizeof(*pl));
    if (resolved || !find_node(c, pl, it->node)) {
        return op_fail(c->err, FHIR_ISSUE_PROCESSING, c->i, c->op,
                       "path %.100s selects a value that is not an element "
                       "of the resource",
                       path_text);
    }
    return 0;
}

/* Appends the schema path of the located node itself ("Task.input"). */
static void
node_path(fhir_buf *out, const place *pl)
{
    const char *rt = cJSON_IsObject(pl->node)
                         ? fhir_json_str(pl->node, "resourceType")
                         : NULL;

    if (rt != NULL || pl->owner == NULL) {
        fhir_buf_puts(out, rt != NULL ? rt : pl->path.data);
        return;
    }
    fhir_buf_puts(out, pl->path.data);
    fhir_buf_putc(out, '.');
    fhir_buf_puts(out, pl->member->string);
}

/* Evaluates the step's path; with want_one, exactly one item must come. */
static int
select_items(pctx *c, const pstep *s, int want_one)
{
    c->r.n = 0;
    fhir_path_eval(&c->r, s->path, c->root);
    if (want_one && c->r.n != 1) {
        return op_fail(c->err, FHIR_ISSUE_PROCESSING, c->i, c->op,
                       "path %.100s selects %zu elements, not one",
                       s->path_text, c->r.n);
    }
    return 0;
}

/* Removes the located node; an array or object left empty goes too, up
 * to (not including) the root, as FHIR JSON allows neither. */
static void
remove_node(const pctx *c, const place *pl)
{
    cJSON *node = pl->node;
    cJSON *member = pl->member;
    cJSON *owner = pl->owner;

    while (owner != NULL) {
        place up;

        if (member != node) {
            cJSON_Delete(cJSON_DetachItemViaPointer(member, node));
        }
        if (member == node || member->child == NULL) {
            cJSON_Delete(cJSON_DetachItemViaPointer(owner, member));
        }
        if (owner == c->root || owner->child != NULL ||
            !find_node(c, &up, owner)) {
            break;
        }
        node = up.node;
        member = up.member;
        owner = up.owner;
        place_clear(&up);
    }
}

/* ---- FHIRPath Patch: writing values ------------------------------------ */

static unsigned
schema_elem(const pctx *c, const char *path, const char *name)
{
    if (c->schema == NULL || c->schema->elem == NULL) {
        return 0;
    }
    return c->schema->elem(c->schema->ctx, path, name);
}

/* Length of the name of the choice element `member` spells with a type
 * suffix ("occurrence" in occurrenceDateTime), or 0. */
static size_t
choice_base(const char *member)
{
    for (size_t k = 1; member[k] != '\0'; k++) {
        if (member[k] >= 'A' && member[k] <= 'Z' &&
            fhir__choice_type(member + k) != NULL) {
            return k;
        }
    }
    return 0;
}

/* A member of `obj` holding choice element base[0..len) under some type
 * suffix, or NULL. */
static cJSON *
choice_member(const cJSON *obj, const char *base, size_t len)
{
    for (cJSON *m = obj->child; m != NULL; m = m->next) {
        if (strncmp(m->string, base, len) == 0 && m->string[len] != '\0' &&
            fhir__choice_type(m->string + len) != NULL) {
            return m;
        }
    }
    return NULL;
}

/* How element `name` of `owner` (schema path `path`) is written: its JSON
 * member name in *key (malloc'd) and FHIR_ELEM_* bits. A choice needs a
 * value of known type (`suffix`). */
static int
elem_key(pctx *c, char **key, unsigned *flags, const cJSON *owner,
         const char *path, const char *name, const char *suffix)
{
    size_t len = strlen(name);
    int marked = len > 3 && strcmp(name + len - 3, "[x]") == 0;
    char *base = fhir_xstrndup(name, marked ? len - 3 : len);
    size_t slen = suffix != NULL ? strlen(suffix) : 0;

    len = strlen(base);
    *flags = schema_elem(c, path, base);
    if (marked || choice_member(owner, base, len) != NULL) {
        *flags |= FHIR_ELEM_CHOICE;
    }
    *key = base;
    if (!(*flags & FHIR_ELEM_CHOICE)) {
        return 0;
    }
    if (suffix == NULL) {
        return op_fail(c->err, FHIR_ISSUE_PROCESSING, c->i, c->op,
                       "%.60s is a choice element: its value needs a type "
                       "(value[x])",
                       base);
    }
    *key = fhir_xmalloc(len + slen + 1);
    memcpy(*key, base, len);
    memcpy(*key + len, suffix, slen + 1);
    free(base);
    return 0;
}

/* Adds `v` as element `key` of `obj`: appended to an array already there,
 * else as a one-item array when the element repeats, else alone. */
static void
put_member(cJSON *obj, const char *key, unsigned flags, cJSON *v)
{
    cJSON *have = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (have == NULL && (flags & FHIR_ELEM_LIST)) {
        have = cJSON_AddArrayToObject(obj, key);
    }
    if (have == NULL) {
        cJSON_AddItemToObject(obj, key, v);
        return;
    }
    if (!cJSON_IsArray(have)) {
        /* A name given twice in nested parts repeats: the member becomes
         * an array, in place, holding its first value. */
        cJSON *first = cJSON_CreateArray();

        swap_content(have, first);
        cJSON_AddItemToArray(have, first);
    }
    cJSON_AddItemToArray(have, v);
}

/* Builds the value of a checked value part into *out (the caller's).
 * `path` is the schema path of the element the value becomes. */
static int
build_value(pctx *c, cJSON **out, const cJSON *part, const char *path)
{
    const char *why = NULL;
    cJSON *obj;
    pval pv;

    *out = NULL;
    if (pval_get(&pv, part, &why) != 0) {
        return -1; /* checked before: cannot happen */
    }
    if (!pv.parts) {
        *out = copy_value(pv.v);
        return 0;
    }
    obj = cJSON_CreateObject();
    for (const cJSON *sub = pv.v->child; sub != NULL; sub = sub->next) {
        fhir_buf sub_path = FHIR_BUF_INIT;
        char *key = NULL;
        unsigned flags = 0;
        pval spv;
        cJSON *v = NULL;
        int rc;

        pval_get(&spv, sub, &why);
        rc = elem_key(c, &key, &flags, obj, path, fhir_json_str(sub, "name"),
                      spv.suffix);
        if (rc == 0) {
            fhir_buf_printf(&sub_path, "%s.%s", path, key);
            rc = build_value(c, &v, sub, sub_path.data);
        }
        if (rc == 0) {
            put_member(obj, key, flags, v);
        }
        fhir_buf_clear(&sub_path);
        free(key);
        if (rc != 0) {
            cJSON_Delete(obj);
            return -1;
        }
    }
    *out = obj;
    return 0;
}

/* The suffix of the step's value, NULL when it has no type. */
static const char *
value_suffix(const pstep *s)
{
    const char *why = NULL;
    pval pv;

    return pval_get(&pv, s->value, &why) == 0 ? pv.suffix : NULL;
}

/* ---- FHIRPath Patch: the operations ------------------------------------ */

/* fhirpatch.html "add": member `name` of the one element selected. */
static int
pop_add(pctx *c, const pstep *s)
{
    fhir_buf path = FHIR_BUF_INIT;
    place pl;
    char *key = NULL;
    unsigned flags = 0;
    cJSON *owner, *v = NULL, *have;
    int rc = -1;

    memset(&pl, 0, sizeof(pl));
    if (select_items(c, s, 1) != 0 ||
        locate(c, &pl, &c->r.items[0], s->path_text) != 0) {
        goto done;
    }
    owner = pl.node;
    if (!cJSON_IsObject(owner)) {
        op_fail(c->err, FHIR_ISSUE_PROCESSING, c->i, c->op,
                "path %.100s selects a primitive value, which has no "
                "elements to add to",
                s->path_text);
        goto done;
    }
    node_path(&path, &pl);
    if (elem_key(c, &key, &flags, owner, path.data, s->name, value_suffix(s)) !=
        0) {
        goto done;
    }
    /* Add can create a non-repeating element only while it is absent,
     * under any of its type suffixes if it is a choice. */
    have = cJSON_GetObjectItemCaseSensitive(owner, key);
    if ((flags & FHIR_ELEM_CHOICE) && have == NULL) {
        have = choice_member(owner, key, strlen(key) - strlen(value_suffix(s)));
    }
    if (have != NULL && !cJSON_IsArray(have)) {
        op_fail(c->err, FHIR_ISSUE_PROCESSING, c->i, c->op,
                "%.60s already has a value and is not a list; use replace",
                have->string);
        goto done;
    }
    fhir_buf_printf(&path, ".%s", key);
    if (build_value(c, &v, s->value, path.data) != 0) {
        goto done;
    }
    put_member(owner, key, flags, v);
    rc = 0;
done:
    free(key);
    fhir_buf_clear(&path);
    place_clear(&pl);
    return rc;
}

/* The list a step's path names, for insert and move. */
typedef struct plist {
    cJSON *arr;    /* NULL when the list is absent */
    int n;         /* its size */
    cJSON *owner;  /* the object holding it */
    char *name;    /* its member name */
    fhir_buf path; /* its schema path ("Task.input") */
} plist;

static void
plist_clear(plist *l)
{
    free(l->name);
    fhir_buf_clear(&l->path);
}

/* The offset just past the last '.' of `s` outside parentheses, brackets
 * and quotes, when what follows it is a plain identifier; else 0. */
static size_t
last_segment(const char *s)
{
    size_t dot = 0;
    int depth = 0;

    for (size_t k = 0; s[k] != '\0'; k++) {
        char q = s[k];

        if (q == '\'' || q == '`') {
            for (k++; s[k] != '\0' && s[k] != q; k++) {
                if (s[k] == '\\' && s[k + 1] != '\0') {
                    k++;
                }
            }
            if (s[k] == '\0') {
                return 0;
            }
        } else if (q == '(' || q == '[') {
            depth++;
        } else if (q == ')' || q == ']') {
            depth--;
        } else if (q == '.' && depth == 0) {
            dot = k + 1;
        }
    }
    if (dot == 0 || !((s[dot] >= 'a' && s[dot] <= 'z') ||
                      (s[dot] >= 'A' && s[dot] <= 'Z') || s[dot] == '_')) {
        return 0;
    }
    for (size_t k = dot; s[k] != '\0'; k++) {
        if (!((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') ||
              (s[k] >= '0' && s[k] <= '9') || s[k] == '_')) {
            return 0;
        }
    }
    return dot;
}

/* An empty selection still names a list when the path is "owner.name":
 * the prefix must select one element, in which `name` is absent or an
 * array. Only such simple final steps are understood. */
static int
list_by_prefix(pctx *c, const pstep *s, plist *l)
{
    size_t dot = last_segment(s->path_text);
    fhir_path_result r = {NULL, 0, 0};
    fhir_path *prefix = NULL;
    char *text = NULL;
    place pl;
    int rc = -1;

    memset(&pl, 0, sizeof(pl));
    if (dot > 0) {
        text = fhir_xstrndup(s->path_text, dot - 1);
        if (fhir_path_compile(&prefix, text, NULL) == 0) {
            fhir_path_eval(&r, prefix, c->root);
        }
    }
    if (r.n != 1 || !cJSON_IsObject(r.items[0].node)) {
        op_fail(c->err, FHIR_ISSUE_PROCESSING, c->i, c->op,
                "path %.100s selects no list", s->path_text);
        goto done;
    }
    if (locate(c, &pl, &r.items[0], s->path_text) != 0) {
        goto done;
    }
    l->owner = pl.node;
    l->name = fhir_xstrdup(s->path_text + dot);
    l->arr = cJSON_GetObjectItemCaseSensitive(l->owner, l->name);
    if (l->arr != NULL && !cJSON_IsArray(l->arr)) {
        op_fail(c->err, FHIR_ISSUE_PROCESSING, c->i, c->op,
                "path %.100s selects a single value, not a list", s->path_text);
        goto done;
    }
    l->n = cJSON_GetArraySize(l->arr);
    node_path(&l->path, &pl);
    fhir_buf_printf(&l->path, ".%s", l->name);
    rc = 0;
done:
    place_clear(&pl);
    fhir_path_result_clear(&r);
    fhir_path_free(prefix);
    free(text);
    return rc;
}

/* Finds the list the step's path names: all the items of one array. */
static int
list_of(pctx *c, const pstep *s, plist *l)
{
    place pl;
    size_t n = 0;
    int rc = -1;

    memset(l, 0, sizeof(*l));
    memset(&pl, 0, sizeof(pl));
    if (select_items(c, s, 0) != 0) {
        return -1;
    }
    if (c->r.n == 0) {
        return list_by_prefix(c, s, l);
    }
    if (locate(c, &pl, &c->r.items[0], s->path_text) != 0) {
        goto done;
    }
    if (pl.member == NULL || !cJSON_IsArray(pl.member)) {
        op_fail(c->err, FHIR_ISSUE_PROCESSING, c->i, c->op,
                "path %.100s selects a single value, not a list", s->path_text);
        goto done;
    }
    for (const cJSON *e = pl.member->child; e != NULL; e = e->next) {
        n += !cJSON_IsNull(e);
    }
    for (size_t k = 1; k < c->r.n && n == c->r.n; k++) {
        const cJSON *e = pl.member->child;

        while (e != NULL && e != c->r.items[k].node) {
            e = e->next;
        }
        n = e != NULL ? n : 0;
    }
    if (n != c->r.n) {
        op_fail(c->err, FHIR_ISSUE_PROCESSING, c->i, c->op,
                "path %.100s selects part of a list or several lists, "
                "not one whole list",
                s->path_text);
        goto done;
    }
    l->arr = pl.member;
    l->n = cJSON_GetArraySize(l->arr);
    l->owner = pl.owner;
    l->name = fhir_xstrdup(pl.member->string);
    fhir_buf_printf(&l->path, "%s.%s", pl.path.data, l->name);
    rc = 0;
done:
    place_clear(&pl);
    return rc;
}

/* Checks a position `what` of a list of n items against 0..hi. */
static int
in_range(pctx *c, const char *what, long v, long hi, int n)
{
    if (v >= 0 && v <= hi) {
        return 0;
    }
    return op_fail(c->err, FHIR_ISSUE_PROCESSING, c->i, c->op,
                   "%s %ld is out of range: the list has %d items", what, v, n);
}

/* fhirpatch.html "insert": the value at `index` 0..n of the list. */
static int
pop_insert(pctx *c, const pstep *s)
{
    plist l;
    cJSON *v = NULL;
    int rc = -1;

    if (list_of(c, s, &l) != 0 ||
        in_range(c, "index", s->index, l.n, l.n) != 0 ||
        build_value(c, &v, s->value, l.path.data) != 0) {
        goto done;
    }
    if (l.arr == NULL) {
        l.arr = cJSON_AddArrayToObject(l.owner, l.name);
    }
    array_insert(l.arr, (int)s->index, v);
    rc = 0;
done:
    plist_clear(&l);
    return rc;
}

/* fhirpatch.html "move": the item at `source` goes to `destination`,
 * both 0..n-1. */
static int
pop_move(pctx *c, const pstep *s)
{
    plist l;
    int rc = -1;

    if (list_of(c, s, &l) == 0 &&
        in_range(c, "source", s->src, l.n - 1L, l.n) == 0 &&
        in_range(c, "destination", s->dst, l.n - 1L, l.n) == 0) {
        array_insert(l.arr, (int)s->dst,
                     cJSON_DetachItemFromArray(l.arr, (int)s->src));
        rc = 0;
    }
    plist_clear(&l);
    return rc;
}

/* fhirpatch.html "delete": at most one element; none is no change. */
static int
pop_delete(pctx *c, const pstep *s)
{
    place pl;

    if (select_items(c, s, 0) != 0) {
        return -1;
    }
    if (c->r.n == 0) {
        return 0;
    }
    if (c->r.n > 1) {
        return op_fail(c->err, FHIR_ISSUE_PROCESSING, c->i, c->op,
                       "path %.100s selects %zu elements; delete removes one",
                       s->path_text, c->r.n);
    }
    if (locate(c, &pl, &c->r.items[0], s->path_text) != 0) {
        place_clear(&pl);
        return -1;
    }
    if (pl.owner == NULL) {
        place_clear(&pl);
        return op_fail(c->err, FHIR_ISSUE_PROCESSING, c->i, c->op,
                       "cannot delete the resource itself");
    }
    remove_node(c, &pl);
    place_clear(&pl);
    return 0;
}

/* fhirpatch.html "replace": the one element selected takes the value. A
 * choice element found through its type ("Task.occurrence" finding
 * occurrenceDateTime) is renamed for the new value's type. */
static int
pop_replace(pctx *c, const pstep *s)
{
    fhir_buf path = FHIR_BUF_INIT;
    const char *suffix = value_suffix(s);
    const char *type, *old;
    place pl;
    cJSON *v = NULL;
    size_t base;
    int rc = -1;

    memset(&pl, 0, sizeof(pl));
    if (select_items(c, s, 1) != 0 ||
        locate(c, &pl, &c->r.items[0], s->path_text) != 0) {
        goto done;
    }
    if (pl.owner == NULL) {
        op_fail(c->err, FHIR_ISSUE_PROCESSING, c->i, c->op,
                "cannot replace the resource itself");
        goto done;
    }
    node_path(&path, &pl);
    if (build_value(c, &v, s->value, path.data) != 0) {
        goto done;
    }
    if (pl.member != pl.node) {
        replace_child(pl.member, pl.node, v);
        rc = 0;
        goto done;
    }
    type = c->r.items[0].type;
    base = choice_base(pl.node->string);
    replace_child(pl.owner, pl.node, v);
    old = base > 0 ? fhir__choice_type(v->string + base) : NULL;
    if (suffix != NULL && type != NULL && old != NULL &&
        strcmp(old, type) == 0) {
        char *key = fhir_xmalloc(base + strlen(suffix) + 1);

        memcpy(key, v->string, base);
        memcpy(key + base, suffix, strlen(suffix) + 1);
        set_key(v, key);
        free(key);
    }
    rc = 0;
done:
    fhir_buf_clear(&path);
    place_clear(&pl);
    return rc;
}

int
fhir_patch_fhirpath(cJSON *res, const cJSON *params,
                    const fhir_patch_schema *schema, fhir_err *err)
{
    static int (*const apply[])(pctx *, const pstep *) = {
        [POP_ADD] = pop_add,       [POP_INSERT] = pop_insert,
        [POP_DELETE] = pop_delete, [POP_REPLACE] = pop_replace,
        [POP_MOVE] = pop_move,
    };
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(params, "parameter");
    const char *rt = fhir_json_str(params, "resourceType");
    pctx c;
    pstep *steps = NULL;
    size_t n = 0;
    int rc = -1;

    assert(res != NULL);
    memset(&c, 0, sizeof(c));
    if (!cJSON_IsObject(params) || rt == NULL ||
        strcmp(rt, "Parameters") != 0) {
        fhir_err_set(err, FHIR_ISSUE_INVALID,
                     "a FHIRPath Patch document must be a Parameters resource");
        goto done;
    }
    if (!cJSON_IsArray(list) || list->child == NULL) {
        fhir_err_set(err, FHIR_ISSUE_INVALID,
                     "the FHIRPath Patch Parameters has no operation");
        goto done;
    }
    steps = fhir_xcalloc((size_t)cJSON_GetArraySize(list), sizeof(*steps));
    for (const cJSON *p = list->child; p != NULL; p = p->next) {
        size_t i = n++; /* counted first, so that done: frees its path */

        if (pstep_parse(&steps[i], p, i, err) != 0) {
            goto done;
        }
    }
    c.root = copy_value(res);
    c.schema = schema;
    c.err = err;
    for (size_t i = 0; i < n; i++) {
        c.i = i;
        c.op = pop_names[steps[i].op];
        if (apply[steps[i].op](&c, &steps[i]) != 0) {
            goto done;
        }
    }
    swap_content(res, c.root);
    rc = 0;
done:
    for (size_t i = 0; i < n; i++) {
        fhir_path_free(steps[i].path);
    }
    free(steps);
    fhir_path_result_clear(&c.r);
    cJSON_Delete(c.root);
    return rc;
}
