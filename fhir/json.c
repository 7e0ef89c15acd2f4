/* fhir/json.c - the strict JSON reader and the writer.
 *
 * Every request body passes through fhir_json_parse() before anything
 * else looks at it, so this is where RFC 8259 and R4 json.html are
 * enforced: UTF-8 is validated byte by byte, nesting is capped without
 * recursion (an explicit stack of open containers), duplicate keys are
 * refused, and under fhir_rules so are null member values and empty
 * objects and arrays. cJSON's own parser is lenient and recursive, so it
 * is not used; the result is nevertheless an ordinary cJSON tree, built by
 * hand with cJSON's layout, whose numbers keep their lexeme in
 * `valuestring` so that "1.50" is written back as "1.50". Whether the
 * tree is a valid resource is left to profiles/.
 */
#include "fhir/fhir.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Objects with more members than this are checked for duplicate keys by
 * sorting the keys; smaller ones by comparing every pair, which is cheaper
 * for the handful of members most FHIR objects have. */
#define DUP_SORT_MIN 16

/* cJSON_Delete() releases nodes and strings with cJSON's allocator, so
 * the tree is built with it too; running out of memory aborts as in
 * fhir_xmalloc(). */
static void *
cj_alloc(size_t n)
{
    void *p = cJSON_malloc(n);
    if (p == NULL) {
        fputs("fhir-server: out of memory\n", stderr);
        abort();
    }
    return p;
}

static cJSON *
node_new(int type)
{
    cJSON *n = cj_alloc(sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->type = type;
    return n;
}

static int
is_digit(unsigned char c)
{
    return (unsigned)(c - '0') < 10u;
}

/* ---- reader --------------------------------------------------------- */

struct frame {
    cJSON *node;  /* the object or array being filled */
    cJSON *tail;  /* its last child so far, NULL while empty */
    size_t count; /* children so far */
    size_t start; /* offset of its '{' or '[', for messages */
};

struct parser {
    const unsigned char *begin; /* first byte after any BOM */
    const unsigned char *p;     /* next byte to read */
    const unsigned char *end;
    int max_depth;
    int fhir_rules;
    fhir_err *err;
    cJSON *root;          /* owns every node attached so far */
    char *key;            /* member name waiting for its value */
    struct frame *frames; /* open containers, innermost last */
    size_t depth;
    size_t cap;
    const char **keys; /* scratch for the duplicate check */
    size_t keys_cap;
};

static int fail(struct parser *ps, fhir_issue issue, const unsigned char *at,
                const char *fmt, ...) FHIR_PRINTF(4, 5);

/* Records an error at byte `at` as "Invalid JSON at line L, column C:
 * ...". Lines and columns (in characters, from 1) are only worked out
 * here, so the happy path never counts them. */
static int
fail(struct parser *ps, fhir_issue issue, const unsigned char *at,
     const char *fmt, ...)
{
    char msg[192];
    size_t line = 1;
    size_t col = 1;
    va_list ap;

    for (const unsigned char *q = ps->begin; q < at; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else if ((*q & 0xC0) != 0x80) {
            col++;
        }
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fhir_utf8_cut(msg);
    return fhir_err_set(ps->err, issue,
                        "Invalid JSON at line %zu, column %zu: %s", line, col,
                        msg);
}

/* "expected X, found Y" at the current position; bytes that are not
 * printable ASCII are shown in hex so the message stays valid UTF-8. */
static int
fail_expected(struct parser *ps, const char *what)
{
    unsigned char c;

    if (ps->p == ps->end) {
        return fail(ps, FHIR_ISSUE_STRUCTURE, ps->p,
                    "unexpected end of input, expected %s", what);
    }
    c = *ps->p;
    if (c > 0x20 && c < 0x7F) {
        return fail(ps, FHIR_ISSUE_STRUCTURE, ps->p, "expected %s, found '%c'",
                    what, c);
    }
    return fail(ps, FHIR_ISSUE_STRUCTURE, ps->p,
                "expected %s, found byte 0x%02X", what, c);
}

/* Copies up to cap-1 bytes of `s` for a one-line message: control
 * characters become '?' and a cut never splits a UTF-8 character. */
static void
excerpt(char *dst, size_t cap, const char *s)
{
    size_t i = 0;

    while (s[i] != '\0' && i + 1 < cap) {
        dst[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
        i++;
    }
    if (s[i] != '\0') {
        while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) {
            i--;
        }
    }
    dst[i] = '\0';
}

static void
skip_ws(struct parser *ps)
{
    const unsigned char *p = ps->p;

    while (p < ps->end &&
           (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
        p++;
    }
    ps->p = p;
}

static long
hex4(const unsigned char *p)
{
    long v = 0;

    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        int h;
        if (is_digit(c)) {
            h = c - '0';
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            h = (c | 0x20) - 'a' + 10;
        } else {
            return -1;
        }
        v = (v << 4) | h;
    }
    return v;
}

/* Checks the escape sequence at p (a backslash inside the string opened
 * at `open`) and returns its length, or 0 after recording the error.
 * RFC 8259 section 7; a surrogate must come as a high/low pair. */
static size_t
escape_check(struct parser *ps, const unsigned char *open,
             const unsigned char *p)
{
    long cp;
    long lo;

    if (ps->end - p < 2) {
        fail(ps, FHIR_ISSUE_STRUCTURE, open, "unterminated string");
        return 0;
    }
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return 2;
    case 'u':
        break;
    default:
        if (p[1] > 0x20 && p[1] < 0x7F) {
            fail(ps, FHIR_ISSUE_STRUCTURE, p, "invalid escape '\\%c' in string",
                 p[1]);
        } else {
            fail(ps, FHIR_ISSUE_STRUCTURE, p, "invalid escape in string");
        }
        return 0;
    }
    cp = ps->end - p >= 6 ? hex4(p + 2) : -1;
    if (cp < 0) {
        fail(ps, FHIR_ISSUE_STRUCTURE, p,
             "invalid \\u escape, expected four hex digits");
        return 0;
    }
    if (cp == 0) {
        /* A NUL would silently cut the C string the tree stores. */
        fail(ps, FHIR_ISSUE_STRUCTURE, p, "\\u0000 is not allowed in strings");
        return 0;
    }
    if (cp < 0xD800 || cp > 0xDFFF) {
        return 6;
    }
    lo = -1;
    if (cp <= 0xDBFF && ps->end - p >= 12 && p[6] == '\\' && p[7] == 'u') {
        lo = hex4(p + 8);
    }
    if (lo < 0xDC00 || lo > 0xDFFF) {
        fail(ps, FHIR_ISSUE_STRUCTURE, p, "unpaired surrogate in \\u escape");
        return 0;
    }
    return 12;
}

static char *
utf8_put(char *q, unsigned long cp)
{
    if (cp < 0x80) {
        *q++ = (char)cp;
    } else if (cp < 0x800) {
        *q++ = (char)(0xC0 | (cp >> 6));
        *q++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *q++ = (char)(0xE0 | (cp >> 12));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *q++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *q++ = (char)(0xF0 | (cp >> 18));
        *q++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *q++ = (char)(0x80 | (cp & 0x3F));
    }
    return q;
}

/* Decodes the string body [s, e), already checked by parse_string(), so
 * every escape here is known to be complete and well formed. */
static void
unescape(char *q, const unsigned char *s, const unsigned char *e)
{
    while (s < e) {
        const unsigned char *bs = memchr(s, '\\', (size_t)(e - s));
        unsigned long cp;

        if (bs == NULL) {
            bs = e;
        }
        memcpy(q, s, (size_t)(bs - s));
        q += bs - s;
        s = bs;
        if (s == e) {
            break;
        }
        switch (s[1]) {
        case 'b':
            *q++ = '\b';
            break;
        case 'f':
            *q++ = '\f';
            break;
        case 'n':
            *q++ = '\n';
            break;
        case 'r':
            *q++ = '\r';
            break;
        case 't':
            *q++ = '\t';
            break;
        case 'u':
            cp = (unsigned long)hex4(s + 2);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) +
                     ((unsigned long)hex4(s + 8) - 0xDC00);
                s += 6;
            }
            q = utf8_put(q, cp);
            s += 4;
            break;
        default: /* '"', '\\', '/' stand for themselves */
            *q++ = (char)s[1];
            break;
        }
        s += 2;
    }
    *q = '\0';
}

/* Reads the string whose opening quote is at ps->p into a new buffer from
 * cJSON's allocator. A first pass validates and finds the closing quote;
 * strings without escapes (nearly all) are then copied in one go. Escapes
 * only ever shrink the text, so the body length bounds the output. */
static int
parse_string(struct parser *ps, char **out)
{
    const unsigned char *open = ps->p;
    const unsigned char *s = open + 1;
    const unsigned char *p = s;
    const unsigned char *end = ps->end;
    int escaped = 0;
    char *buf;

    for (;;) {
        size_t n;

        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
            p++;
        }
        if (p == end) {
            return fail(ps, FHIR_ISSUE_STRUCTURE, open, "unterminated string");
        }
        if (*p == '"') {
            break;
        }
        if (*p == '\\') {
            n = escape_check(ps, open, p);
            if (n == 0) {
                return -1;
            }
            escaped = 1;
        } else if (*p == 0) {
            return fail(ps, FHIR_ISSUE_STRUCTURE, p, "NUL byte in string");
        } else if (*p < 0x20) {
            /* RFC 8259 section 7: control characters must be escaped. */
            return fail(ps, FHIR_ISSUE_STRUCTURE, p,
                        "control character U+%04X must be escaped", *p);
        } else {
            n = fhir_utf8_len(p, (size_t)(end - p));
            if (n == 0) {
                return fail(ps, FHIR_ISSUE_STRUCTURE, p,
                            "invalid UTF-8 (byte 0x%02X)", *p);
            }
        }
        p += n;
    }
    buf = cj_alloc((size_t)(p - s) + 1);
    if (escaped) {
        unescape(buf, s, p);
    } else {
        memcpy(buf, s, (size_t)(p - s));
        buf[p - s] = '\0';
    }
    ps->p = p + 1;
    *out = buf;
    return 0;
}

/* Length of the RFC 8259 section 6 number at [p, end), or 0 if there is
 * none: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static size_t
number_len(const unsigned char *p, const unsigned char *end)
{
    const unsigned char *q = p;

    if (q < end && *q == '-') {
        q++;
    }
    if (q == end || !is_digit(*q)) {
        return 0;
    }
    if (*q == '0') {
        q++;
    } else {
        while (q < end && is_digit(*q)) {
            q++;
        }
    }
    if (q < end && *q == '.') {
        q++;
        if (q == end || !is_digit(*q)) {
            return 0;
        }
        while (q < end && is_digit(*q)) {
            q++;
        }
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-')) {
            q++;
        }
        if (q == end || !is_digit(*q)) {
            return 0;
        }
        while (q < end && is_digit(*q)) {
            q++;
        }
    }
    return (size_t)(q - p);
}

/* A number node that keeps `n` bytes of lexeme; valueint is clamped the
 * way cJSON clamps it. */
static cJSON *
number_new(const char *lexeme, size_t n)
{
    cJSON *node = node_new(cJSON_Number);
    char *lex = cj_alloc(n + 1);
    double d;

    memcpy(lex, lexeme, n);
    lex[n] = '\0';
    d = strtod(lex, NULL);
    node->valuestring = lex;
    node->valuedouble = d;
    if (d >= INT_MAX) {
        node->valueint = INT_MAX;
    } else if (d <= (double)INT_MIN) {
        node->valueint = INT_MIN;
    } else {
        node->valueint = (int)d;
    }
    return node;
}

/* Links `n` under the innermost open container (with the pending key if
 * that is an object), or makes it the root. Like cJSON, the first child's
 * `prev` points at the last one; a tail pointer keeps this O(1). */
static void
attach(struct parser *ps, cJSON *n)
{
    struct frame *f;

    if (ps->depth == 0) {
        ps->root = n;
        return;
    }
    f = &ps->frames[ps->depth - 1];
    n->string = ps->key;
    ps->key = NULL;
    if (f->tail == NULL) {
        f->node->child = n;
    } else {
        f->tail->next = n;
        n->prev = f->tail;
    }
    f->node->child->prev = n;
    f->tail = n;
    f->count++;
}

static int
in_object(const struct parser *ps)
{
    return ps->depth > 0 &&
           ps->frames[ps->depth - 1].node->type == cJSON_Object;
}

/* Opens the object or array at ps->p. The depth is checked before
 * anything is allocated, so a flood of '[' costs one error and no
 * stack. */
static int
open_container(struct parser *ps, int type)
{
    cJSON *n;
    struct frame *f;

    if (ps->depth >= (size_t)ps->max_depth) {
        return fail(ps, FHIR_ISSUE_TOO_LONG, ps->p,
                    "nesting deeper than %d levels", ps->max_depth);
    }
    n = node_new(type);
    attach(ps, n);
    if (ps->depth == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 16;
        ps->frames = fhir_xrealloc(ps->frames, ps->cap * sizeof(*ps->frames));
    }
    f = &ps->frames[ps->depth++];
    f->node = n;
    f->tail = NULL;
    f->count = 0;
    f->start = (size_t)(ps->p - ps->begin);
    ps->p++;
    return 0;
}

static int
cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* RFC 8259 only says names SHOULD be unique; FHIR resources must not
 * repeat an element, and accepting both would let two readers see two
 * different resources. Sorting keeps huge objects O(n log n). */
static int
check_keys(struct parser *ps, const struct frame *f)
{
    const char *dup = NULL;
    char shown[80];

    if (f->count <= DUP_SORT_MIN) {
        for (const cJSON *a = f->node->child; a && !dup; a = a->next) {
            for (const cJSON *b = a->next; b != NULL; b = b->next) {
                if (strcmp(a->string, b->string) == 0) {
                    dup = a->string;
                    break;
                }
            }
        }
    } else {
        size_t i = 0;
        if (ps->keys_cap < f->count) {
            ps->keys_cap = f->count;
            ps->keys = fhir_xrealloc(ps->keys, f->count * sizeof(*ps->keys));
        }
        for (const cJSON *a = f->node->child; a != NULL; a = a->next) {
            ps->keys[i++] = a->string;
        }
        qsort(ps->keys, f->count, sizeof(*ps->keys), cmp_keys);
        for (i = 1; i < f->count && !dup; i++) {
            if (strcmp(ps->keys[i - 1], ps->keys[i]) == 0) {
                dup = ps->keys[i];
            }
        }
    }
    if (dup == NULL) {
        return 0;
    }
    excerpt(shown, sizeof(shown), dup);
    return fail(ps, FHIR_ISSUE_STRUCTURE, ps->begin + f->start,
                "object has duplicate key \"%s\"", shown);
}

/* Reads `"name" :` after '{' or ','; the name waits in ps->key. */
static int
parse_key(struct parser *ps)
{
    skip_ws(ps);
    if (ps->p == ps->end || *ps->p != '"') {
        if (ps->p < ps->end && *ps->p == '}') {
            return fail(ps, FHIR_ISSUE_STRUCTURE, ps->p,
                        "trailing comma is not allowed");
        }
        return fail_expected(ps, "a string key");
    }
    if (parse_string(ps, &ps->key) != 0) {
        return -1;
    }
    skip_ws(ps);
    if (ps->p == ps->end || *ps->p != ':') {
        return fail_expected(ps, "':' after the key");
    }
    ps->p++;
    return 0;
}

/* Reads a string, number or literal at ps->p and attaches it. */
static int
parse_scalar(struct parser *ps)
{
    const unsigned char *p = ps->p;
    size_t avail = (size_t)(ps->end - p);
    cJSON *n = NULL;
    char *s = NULL;
    size_t len;

    switch (*p) {
    case '"':
        if (parse_string(ps, &s) != 0) {
            return -1;
        }
        n = node_new(cJSON_String);
        n->valuestring = s;
        break;
    case 't':
        if (avail >= 4 && memcmp(p, "true", 4) == 0) {
            n = node_new(cJSON_True);
            ps->p += 4;
        }
        break;
    case 'f':
        if (avail >= 5 && memcmp(p, "false", 5) == 0) {
            n = node_new(cJSON_False);
            ps->p += 5;
        }
        break;
    case 'n':
        if (avail >= 4 && memcmp(p, "null", 4) == 0) {
            if (ps->fhir_rules && in_object(ps)) {
                /* R4 json.html: absent elements are omitted, never null
                 * (nulls only pad primitive-extension arrays). */
                return fail(ps, FHIR_ISSUE_STRUCTURE, p,
                            "null is not allowed as a property value");
            }
            n = node_new(cJSON_NULL);
            ps->p += 4;
        }
        break;
    default:
        if (*p != '-' && !is_digit(*p)) {
            if (*p == ']' && ps->depth > 0 && !in_object(ps)) {
                return fail(ps, FHIR_ISSUE_STRUCTURE, p,
                            "trailing comma is not allowed");
            }
            return fail_expected(ps, "a value");
        }
        len = number_len(p, ps->end);
        if (len == 0) {
            return fail(ps, FHIR_ISSUE_STRUCTURE, p, "invalid number");
        }
        if (len < avail && is_digit(p[len])) {
            return fail(ps, FHIR_ISSUE_STRUCTURE, p,
                        "leading zeros are not allowed in numbers");
        }
        n = number_new((const char *)p, len);
        ps->p += len;
        break;
    }
    if (n == NULL) {
        return fail(ps, FHIR_ISSUE_STRUCTURE, p,
                    "invalid literal, expected true, false or null");
    }
    attach(ps, n);
    return 0;
}

/* The document loop. It alternates between "a value is expected" and
 * "a value just ended", with the open containers on ps->frames instead
 * of the C stack. */
static int
parse_doc(struct parser *ps)
{
    for (;;) {
        int closed = 0;

        skip_ws(ps);
        if (ps->p == ps->end) {
            return fail_expected(ps, "a value");
        }
        if (*ps->p == '{' || *ps->p == '[') {
            int type = *ps->p == '{' ? cJSON_Object : cJSON_Array;
            unsigned char close = type == cJSON_Object ? '}' : ']';
            const unsigned char *open = ps->p;

            if (open_container(ps, type) != 0) {
                return -1;
            }
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == close) {
                if (ps->fhir_rules) {
                    /* R4 json.html: objects and arrays are never empty. */
                    return fail(ps, FHIR_ISSUE_STRUCTURE, open,
                                "empty %s is not allowed",
                                type == cJSON_Object ? "object" : "array");
                }
                ps->p++;
                ps->depth--;
                closed = 1;
            } else if (type == cJSON_Array) {
                continue;
            } else {
                if (parse_key(ps) != 0) {
                    return -1;
                }
                continue;
            }
        }
        if (!closed && parse_scalar(ps) != 0) {
            return -1;
        }

        /* A value ended: a separator, a closer or the end must follow. */
        for (;;) {
            struct frame *f;
            int obj;

            skip_ws(ps);
            if (ps->depth == 0) {
                if (ps->p != ps->end) {
                    return fail(ps, FHIR_ISSUE_STRUCTURE, ps->p,
                                "unexpected data after the JSON value");
                }
                return 0;
            }
            f = &ps->frames[ps->depth - 1];
            obj = f->node->type == cJSON_Object;
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                if (obj && parse_key(ps) != 0) {
                    return -1;
                }
                break;
            }
            if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
                if (obj && check_keys(ps, f) != 0) {
                    return -1;
                }
                ps->p++;
                ps->depth--;
                continue;
            }
            return fail_expected(ps, obj ? "',' or '}'" : "',' or ']'");
        }
    }
}

int
fhir_json_parse(cJSON **out, const char *text, size_t len,
                const fhir_json_opts *opts, fhir_err *err)
{
    static const fhir_json_opts defaults = FHIR_JSON_OPTS_INIT;
    struct parser ps;
    int rc;

    assert(out != NULL);
    assert(text != NULL || len == 0);
    *out = NULL;
    if (opts == NULL) {
        opts = &defaults;
    }
    memset(&ps, 0, sizeof(ps));
    ps.begin = (const unsigned char *)(text != NULL ? text : "");
    ps.end = ps.begin + len;
    if (len >= 3 && memcmp(ps.begin, "\xEF\xBB\xBF", 3) == 0) {
        ps.begin += 3; /* RFC 8259 section 8.1 lets a parser skip a BOM */
    }
    ps.p = ps.begin;
    ps.max_depth =
        opts->max_depth > 0 ? opts->max_depth : FHIR_DEFAULT_MAX_DEPTH;
    ps.fhir_rules = opts->fhir_rules;
    ps.err = err;

    rc = parse_doc(&ps);

    free(ps.frames);
    free(ps.keys);
    cJSON_free(ps.key);
    if (rc != 0) {
        cJSON_Delete(ps.root);
        return -1;
    }
    *out = ps.root;
    return 0;
}

cJSON *
fhir_json_number(const char *lexeme)
{
    size_t len;

    if (lexeme == NULL) {
        return NULL;
    }
    len = strlen(lexeme);
    if (len == 0 || number_len((const unsigned char *)lexeme,
                               (const unsigned char *)lexeme + len) != len) {
        return NULL;
    }
    return number_new(lexeme, len);
}

const char *
fhir_json_str(const cJSON *obj, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(m) ? m->valuestring : NULL;
}

/* ---- writer --------------------------------------------------------- */

/* '"', '\\' and control characters are escaped; all other bytes (UTF-8
 * included) go out as they are, in runs. */
void
fhir_json_put_chars(fhir_buf *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p;

    for (; *p != '\0'; p++) {
        char esc[6] = {'\\', 'u', '0', '0', 0, 0};
        size_t n = 2;

        if (*p >= 0x20 && *p != '"' && *p != '\\') {
            continue;
        }
        fhir_buf_append(out, (const char *)run, (size_t)(p - run));
        run = p + 1;
        switch (*p) {
        case '"':
        case '\\':
            esc[1] = (char)*p;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 0xF];
            n = 6;
            break;
        }
        fhir_buf_append(out, esc, n);
    }
    fhir_buf_append(out, (const char *)run, (size_t)(p - run));
}

/* Writes `s` quoted. */
static void
write_string(fhir_buf *out, const char *s)
{
    fhir_buf_putc(out, '"');
    fhir_json_put_chars(out, s);
    fhir_buf_putc(out, '"');
}

/* Shortest of %.15g and %.17g that reads back as the same double; JSON
 * has no NaN or infinity, so those become null as in cJSON. */
static void
write_double(fhir_buf *out, double d)
{
    char tmp[32];

    if (isnan(d) || isinf(d)) {
        fhir_buf_puts(out, "null");
        return;
    }
    snprintf(tmp, sizeof(tmp), "%.15g", d);
    if (strtod(tmp, NULL) != d) {
        snprintf(tmp, sizeof(tmp), "%.17g", d);
    }
    fhir_buf_puts(out, tmp);
}

static void
write_newline(fhir_buf *out, size_t depth)
{
    static const char spaces[] = "                                ";
    size_t n = depth * 2;

    fhir_buf_putc(out, '\n');
    while (n > 0) {
        size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
        fhir_buf_append(out, spaces, k);
        n -= k;
    }
}

static void
write_leaf(fhir_buf *out, const cJSON *item)
{
    switch (item->type & 0xFF) {
    case cJSON_False:
        fhir_buf_puts(out, "false");
        break;
    case cJSON_True:
        fhir_buf_puts(out, "true");
        break;
    case cJSON_Number:
        if (item->valuestring != NULL) {
            fhir_buf_puts(out, item->valuestring);
        } else {
            write_double(out, item->valuedouble);
        }
        break;
    case cJSON_String:
        write_string(out, item->valuestring ? item->valuestring : "");
        break;
    case cJSON_Raw:
        fhir_buf_puts(out, item->valuestring ? item->valuestring : "null");
        break;
    case cJSON_Array:
        fhir_buf_puts(out, "[]");
        break;
    case cJSON_Object:
        fhir_buf_puts(out, "{}");
        break;
    default:
        fhir_buf_puts(out, "null");
        break;
    }
}

/* Walks the tree with an explicit stack, like the reader, so a deep tree
 * cannot exhaust a worker thread's stack. Pretty output matches
 * JSON.stringify(x, null, 2). */
void
fhir_json_write(fhir_buf *out, const cJSON *item, int pretty)
{
    const cJSON **stack = NULL; /* open containers, innermost last */
    size_t depth = 0;
    size_t cap = 0;
    const cJSON *cur = item;

    assert(out != NULL);
    assert(item != NULL);
    for (;;) {
        int type = cur->type & 0xFF;

        if (depth > 0) {
            if (pretty) {
                write_newline(out, depth);
            }
            if ((stack[depth - 1]->type & 0xFF) == cJSON_Object) {
                write_string(out, cur->string ? cur->string : "");
                fhir_buf_append(out, ": ", pretty ? 2 : 1);
            }
        }
        if ((type == cJSON_Array || type == cJSON_Object) &&
            cur->child != NULL) {
            fhir_buf_putc(out, type == cJSON_Array ? '[' : '{');
            if (depth == cap) {
                cap = cap ? cap * 2 : 16;
                stack = fhir_xrealloc(stack, cap * sizeof(*stack));
            }
            stack[depth++] = cur;
            cur = cur->child;
            continue;
        }
        write_leaf(out, cur);
        while (depth > 0 && cur->next == NULL) {
            cur = stack[--depth];
            if (pretty) {
                write_newline(out, depth);
            }
            fhir_buf_putc(out, (cur->type & 0xFF) == cJSON_Array ? ']' : '}');
        }
        if (depth == 0) {
            break;
        }
        fhir_buf_putc(out, ',');
        cur = cur->next;
    }
    free(stack);
}
