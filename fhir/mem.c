/* fhir/mem.c - allocation helpers, the per-request arena and the string
 * builder.
 *
 * Out-of-memory is not a recoverable condition for a server answering
 * many clients: the x-allocators abort, so callers never test for NULL.
 * The arena gives each request one place to allocate from and one release
 * (STYLE.md section 5); ARENA_DEBUG=1 turns every arena block into its own
 * malloc so sanitizers can see overruns.
 */
#include "fhir/fhir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
oom(void)
{
    fputs("fhir-server: out of memory\n", stderr);
    abort();
}

void *
fhir_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        oom();
    }
    return p;
}

void *
fhir_xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (p == NULL) {
        oom();
    }
    return p;
}

void *
fhir_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        oom();
    }
    return q;
}

char *
fhir_xstrdup(const char *s)
{
    return fhir_xstrndup(s, strlen(s));
}

char *
fhir_xstrndup(const char *s, size_t n)
{
    char *p = fhir_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ---- arena ---------------------------------------------------------- */

#define ARENA_CHUNK 8192
#define ARENA_ALIGN 16

struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct defer {
    struct defer *next;
    void (*fn)(void *);
    void *ptr;
};

struct fhir_arena {
    struct chunk *chunks;
    struct defer *defers;
    int debug; /* every allocation is its own chunk */
};

fhir_arena *
fhir_arena_new(void)
{
    fhir_arena *a = fhir_xcalloc(1, sizeof(*a));
    const char *d = getenv("ARENA_DEBUG");
    a->debug = d != NULL && d[0] == '1';
    return a;
}

void
fhir_arena_free(fhir_arena *a)
{
    if (a == NULL) {
        return;
    }
    while (a->defers != NULL) {
        struct defer *d = a->defers;
        a->defers = d->next;
        d->fn(d->ptr);
    }
    while (a->chunks != NULL) {
        struct chunk *c = a->chunks;
        a->chunks = c->next;
        free(c);
    }
    free(a);
}

void *
fhir_arena_alloc(fhir_arena *a, size_t n)
{
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    struct chunk *c = a->chunks;
    if (need == 0) {
        need = ARENA_ALIGN;
    }
    if (a->debug || c == NULL || c->cap - c->used < need) {
        size_t cap = (a->debug || need > ARENA_CHUNK / 2) ? need : ARENA_CHUNK;
        struct chunk *nc = fhir_xmalloc(sizeof(*nc) + cap);
        nc->used = 0;
        nc->cap = cap;
        if (c != NULL && cap == need && !a->debug) {
            /* A big block goes behind the current chunk so the chunk's
             * free space stays usable. */
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            a->chunks = nc;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += need;
    memset(p, 0, n);
    return p;
}

char *
fhir_arena_strndup(fhir_arena *a, const char *s, size_t n)
{
    char *p = fhir_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
fhir_arena_path(fhir_arena *a, const char *x, const char *y)
{
    size_t nx = strlen(x), ny = strlen(y);
    char *p = fhir_arena_alloc(a, nx + ny + 2);
    memcpy(p, x, nx);
    p[nx] = '/';
    memcpy(p + nx + 1, y, ny + 1);
    return p;
}

void *
fhir_arena_grow(fhir_arena *a, void *v, size_t n, size_t *cap, size_t size)
{
    if (n < *cap) {
        return v;
    }
    size_t more = *cap ? *cap * 2 : 16;
    void *w = fhir_arena_alloc(a, more * size);
    if (n > 0) {
        memcpy(w, v, n * size);
    }
    *cap = more;
    return w;
}

char *
fhir_arena_strdup(fhir_arena *a, const char *s)
{
    return fhir_arena_strndup(a, s, strlen(s));
}

char *
fhir_arena_printf(fhir_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = 0;
    }
    char *p = fhir_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void
fhir_arena_defer(fhir_arena *a, void (*fn)(void *), void *ptr)
{
    struct defer *d = fhir_arena_alloc(a, sizeof(*d));
    d->fn = fn;
    d->ptr = ptr;
    d->next = a->defers;
    a->defers = d;
}

/* ---- string builder ------------------------------------------------- */

static void
buf_reserve(fhir_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        cap *= 2;
    }
    b->data = fhir_xrealloc(b->data, cap);
    b->cap = cap;
}

void
fhir_buf_reserve(fhir_buf *b, size_t extra)
{
    buf_reserve(b, extra);
}

void
fhir_buf_append(fhir_buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void
fhir_buf_puts(fhir_buf *b, const char *s)
{
    fhir_buf_append(b, s, strlen(s));
}

void
fhir_buf_putc(fhir_buf *b, char c)
{
    buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void
fhir_buf_printf(fhir_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) {
        return;
    }
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *
fhir_buf_take(fhir_buf *b, size_t *len)
{
    char *p = b->data;
    if (p == NULL) {
        p = fhir_xstrdup("");
    }
    if (len != NULL) {
        *len = b->len;
    }
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void
fhir_buf_clear(fhir_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int
fhir_file_read(fhir_buf *out, const char *path, size_t max, fhir_err *err)
{
    char chunk[16384];
    size_t n, start = out->len;
    int rc = -1;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        return fhir_err_set(
            err, e == ENOENT ? FHIR_ISSUE_NOT_FOUND : FHIR_ISSUE_EXCEPTION,
            "cannot open %s: %s", path, strerror(e));
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (out->len - start + n > max) {
            fhir_err_set(err, FHIR_ISSUE_TOO_LONG, "%s is over %zu bytes", path,
                         max);
            goto done;
        }
        fhir_buf_append(out, chunk, n);
    }
    if (ferror(f)) {
        fhir_err_set(err, FHIR_ISSUE_EXCEPTION, "cannot read %s", path);
        goto done;
    }
    rc = 0;
done:
    fclose(f);
    return rc;
}
