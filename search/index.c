/* search/index.c - from a resource to its index rows.
 *
 * Each search parameter of the resource's type evaluates its FHIRPath
 * expression; every value found becomes rows of the parameter's kind,
 * following the matching rules of R4 search.html:
 *   token:     code, Coding, CodeableConcept (each coding), Identifier
 *              (system|value), ContactPoint (value), boolean; the text of
 *              a CodeableConcept / display of a Coding / type text of an
 *              Identifier also becomes string rows for :text, and an
 *              Identifier's type codings rows for :of-type;
 *   string:    a string, or every part of a HumanName or Address;
 *   date:      date, dateTime, instant, Period, Timing events/bounds, as
 *              UTC ranges;
 *   reference: Reference.reference ("Type/id" without version, or the
 *              absolute URL), canonical URLs; Reference.identifier as
 *              token rows for :identifier;
 *   uri:       the URI.
 * Values that do not fit are skipped: indexing never rejects a resource
 * (validation does that, before).
 *
 * An absolute reference to this server, "<base>/Type/id[/_history/n]"
 * with <base> one of the registry's bases, is the relative reference
 * "Type/id" written out in full (R4 references.html#literal), so it gets
 * the same row and a search by Type/id, by id or by either URL finds it.
 * Only the bases server/ names at start-up count (the configured base
 * URL, else the listening address): a row must not depend on the Host
 * header of the request that wrote it. Any type counts, served or not,
 * because the relative form already stands for "<base>/Type/id". URLs of
 * other servers, urn: and contained references are left as they are.
 */
#include "search/search.h"
#include "search/search_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Prefix of the system of the token rows that serve :of-type; a control
 * character cannot occur in a real system URI. */
#define OF_TYPE_PREFIX "\x01"

struct ctx {
    const search_registry *reg;
    fhir_rows *out;
    fhir_arena *a;
    int param;
};

static fhir_row *
add(struct ctx *c, fhir_row_kind kind)
{
    fhir_rows *r = c->out;
    r->rows = fhir_arena_grow(c->a, r->rows, r->n, &r->cap, sizeof(*r->rows));
    fhir_row *row = &r->rows[r->n++];
    memset(row, 0, sizeof(*row));
    row->kind = kind;
    row->param = c->param;
    return row;
}

static void
add_token(struct ctx *c, const char *sys, const char *code)
{
    if (code == NULL || code[0] == '\0') {
        return;
    }
    /* Rows outlive the tree (the store stamps it), so they own copies. */
    fhir_row *row = add(c, FHIR_ROW_TOKEN);
    row->sys = fhir_arena_strdup(c->a, sys ? sys : "");
    row->code = fhir_arena_strdup(c->a, code);
}

static void
add_string(struct ctx *c, const char *text)
{
    fhir_buf norm = FHIR_BUF_INIT;
    if (text == NULL || text[0] == '\0') {
        return;
    }
    fhir_str_normalize(&norm, text);
    if (norm.len > 0) {
        fhir_row *row = add(c, FHIR_ROW_STRING);
        row->code = fhir_arena_strndup(c->a, norm.data, norm.len);
        row->text = fhir_arena_strdup(c->a, text);
    }
    fhir_buf_clear(&norm);
}

static void
add_date(struct ctx *c, int64_t lo, int64_t hi)
{
    fhir_row *row = add(c, FHIR_ROW_DATE);
    row->lo = lo;
    row->hi = hi;
}

static const char *
str(const cJSON *obj, const char *key)
{
    return fhir_json_str(obj, key);
}

/* ---- token ---------------------------------------------------------- */

static void
token_coding(struct ctx *c, const cJSON *coding)
{
    add_token(c, str(coding, "system"), str(coding, "code"));
}

static void
token_text(struct ctx *c, const char *text)
{
    add_string(c, text);
}

static void
token_concept(struct ctx *c, const cJSON *cc)
{
    const cJSON *coding;
    cJSON_ArrayForEach(coding, cJSON_GetObjectItemCaseSensitive(cc, "coding"))
    {
        token_coding(c, coding);
        token_text(c, str(coding, "display"));
    }
    token_text(c, str(cc, "text"));
}

static void
token_identifier(struct ctx *c, const cJSON *id)
{
    const char *value = str(id, "value");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(id, "type");
    const cJSON *coding;
    add_token(c, str(id, "system"), value);
    /* R4 search.html#token :of-type matches type.coding plus value. */
    cJSON_ArrayForEach(coding, cJSON_GetObjectItemCaseSensitive(type, "coding"))
    {
        const char *ts = str(coding, "system"), *tc = str(coding, "code");
        if (tc != NULL && value != NULL) {
            add_token(c,
                      fhir_arena_printf(c->a, OF_TYPE_PREFIX "%s|%s",
                                        ts ? ts : "", tc),
                      value);
        }
    }
    token_text(c, str(type, "text"));
}

static int
is_contact_system(const char *s)
{
    static const char *const systems[] = {"phone", "fax", "email", "pager",
                                          "url",   "sms", "other"};
    for (size_t i = 0; s != NULL && i < sizeof(systems) / sizeof(systems[0]);
         i++) {
        if (strcmp(s, systems[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
index_token(struct ctx *c, const fhir_path_item *it)
{
    const cJSON *v = it->node;
    const char *type = it->type ? it->type : "";
    if (v == NULL) {
        add_token(c, "", it->boolean ? "true" : "false");
        return;
    }
    if (cJSON_IsBool(v)) {
        add_token(c, "", cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsString(v)) {
        add_token(c, "", v->valuestring);
    } else if (!cJSON_IsObject(v)) {
        return;
    } else if (strcmp(type, "CodeableConcept") == 0 ||
               cJSON_HasObjectItem(v, "coding") ||
               (cJSON_HasObjectItem(v, "text") &&
                !cJSON_HasObjectItem(v, "value"))) {
        token_concept(c, v);
    } else if (strcmp(type, "Identifier") == 0 ||
               (cJSON_HasObjectItem(v, "value") &&
                !is_contact_system(str(v, "system")) &&
                strcmp(type, "ContactPoint") != 0)) {
        token_identifier(c, v);
    } else if (strcmp(type, "ContactPoint") == 0 ||
               cJSON_HasObjectItem(v, "value")) {
        /* R4: a ContactPoint token matches its value. */
        add_token(c, "", str(v, "value"));
    } else {
        token_coding(c, v);
        token_text(c, str(v, "display"));
    }
}

/* ---- string --------------------------------------------------------- */

static void
string_member(struct ctx *c, const cJSON *obj, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
    const cJSON *x;
    if (cJSON_IsString(m)) {
        add_string(c, m->valuestring);
    } else if (cJSON_IsArray(m)) {
        cJSON_ArrayForEach(x, m)
        {
            if (cJSON_IsString(x)) {
                add_string(c, x->valuestring);
            }
        }
    }
}

static void
index_string(struct ctx *c, const fhir_path_item *it)
{
    /* HumanName and Address: every part matches (R4 search.html#string). */
    static const char *const parts[] = {
        "text", "family",   "given", "prefix",     "suffix", "line",
        "city", "district", "state", "postalCode", "country"};
    const cJSON *v = it->node;
    if (cJSON_IsString(v)) {
        add_string(c, v->valuestring);
    } else if (cJSON_IsObject(v)) {
        for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
            string_member(c, v, parts[i]);
        }
    }
}

/* ---- date ----------------------------------------------------------- */

static int
date_of(const cJSON *v, fhir_date_range *out)
{
    fhir_err err = FHIR_ERR_INIT;
    return cJSON_IsString(v) && fhir_date_parse(out, v->valuestring, &err) == 0
               ? 0
               : -1;
}

/* A Period [start, end]: an open end is unbounded (R4 search.html#date). */
static void
date_period(struct ctx *c, const cJSON *p)
{
    fhir_date_range s, e;
    int hs = date_of(cJSON_GetObjectItemCaseSensitive(p, "start"), &s) == 0;
    int he = date_of(cJSON_GetObjectItemCaseSensitive(p, "end"), &e) == 0;
    if (hs || he) {
        add_date(c, hs ? s.lo : INT64_MIN, he ? e.hi : INT64_MAX);
    }
}

static void
index_date(struct ctx *c, const fhir_path_item *it)
{
    const cJSON *v = it->node;
    fhir_date_range d;
    if (date_of(v, &d) == 0) {
        add_date(c, d.lo, d.hi);
    } else if (cJSON_IsObject(v) && (cJSON_HasObjectItem(v, "start") ||
                                     cJSON_HasObjectItem(v, "end"))) {
        date_period(c, v);
    } else if (cJSON_IsObject(v)) {
        /* Timing: its events, and the bounds of its repeat. */
        const cJSON *ev;
        cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(v, "event"))
        {
            if (date_of(ev, &d) == 0) {
                add_date(c, d.lo, d.hi);
            }
        }
        const cJSON *rep = cJSON_GetObjectItemCaseSensitive(v, "repeat");
        const cJSON *bp = cJSON_GetObjectItemCaseSensitive(rep, "boundsPeriod");
        if (bp != NULL) {
            date_period(c, bp);
        }
    }
}

/* ---- reference and uri ---------------------------------------------- */

/* 1 when s continues `base` with a '/'; scheme and host compare without
 * regard to case (RFC 3986 section 6.2.2.1), the path exactly. */
static int
under_base(const char *s, const char *base)
{
    size_t bl = strlen(base);
    const char *sep = strstr(base, "://");
    size_t hl = sep ? (size_t)(sep + 3 - base) + strcspn(sep + 3, "/") : 0;
    return strncasecmp(s, base, hl) == 0 &&
           strncmp(s + hl, base + hl, bl - hl) == 0 && s[bl] == '/';
}

const char *
search__ref_local(const search_registry *reg, const char *s, fhir_arena *a)
{
    fhir_ref ref;
    for (size_t i = 0; s != NULL && i < reg->nbases; i++) {
        const char *base = reg->bases[i];
        if (under_base(s, base) &&
            fhir_ref_parse(&ref, s + strlen(base) + 1) == FHIR_REF_RELATIVE) {
            return fhir_arena_printf(a, "%s/%s", ref.type, ref.id);
        }
    }
    return NULL;
}

static void
add_ref(struct ctx *c, const char *s)
{
    fhir_ref ref;
    fhir_row *row;
    const char *local;
    switch (fhir_ref_parse(&ref, s)) {
    case FHIR_REF_RELATIVE:
        row = add(c, FHIR_ROW_REF);
        row->code = fhir_arena_printf(c->a, "%s/%s", ref.type, ref.id);
        break;
    case FHIR_REF_ABSOLUTE:
        local = search__ref_local(c->reg, s, c->a);
        row = add(c, FHIR_ROW_REF);
        row->code = local ? local : fhir_arena_strdup(c->a, s);
        break;
    case FHIR_REF_URL:
        row = add(c, FHIR_ROW_REF);
        row->code = fhir_arena_strdup(c->a, s);
        break;
    default:
        break; /* contained, urn: (resolved before storing), invalid */
    }
}

static void
index_reference(struct ctx *c, const fhir_path_item *it)
{
    const cJSON *v = it->node;
    if (cJSON_IsString(v)) {
        add_ref(c, v->valuestring); /* canonical or uri */
    } else if (cJSON_IsObject(v)) {
        const char *r = str(v, "reference");
        if (r != NULL) {
            add_ref(c, r);
        }
        /* :identifier (R4 search.html#reference) */
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "identifier");
        if (cJSON_IsObject(id)) {
            add_token(c, str(id, "system"), str(id, "value"));
        }
    }
}

static void
index_uri(struct ctx *c, const fhir_path_item *it)
{
    if (cJSON_IsString(it->node) && it->node->valuestring[0] != '\0') {
        fhir_row *row = add(c, FHIR_ROW_URI);
        row->code = fhir_arena_strdup(c->a, it->node->valuestring);
    }
}

/* ---- rows ----------------------------------------------------------- */

static int
strcmp0(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

static int
row_cmp(const void *x, const void *y)
{
    const fhir_row *a = x, *b = y;
    int d;
    if (a->kind != b->kind) {
        return a->kind < b->kind ? -1 : 1;
    }
    if (a->param != b->param) {
        return a->param < b->param ? -1 : 1;
    }
    if ((d = strcmp0(a->sys, b->sys)) != 0 ||
        (d = strcmp0(a->code, b->code)) != 0 ||
        (d = strcmp0(a->text, b->text)) != 0) {
        return d;
    }
    if (a->lo != b->lo) {
        return a->lo < b->lo ? -1 : 1;
    }
    return a->hi < b->hi ? -1 : a->hi > b->hi;
}

void
search_index(fhir_rows *out, const search_registry *reg, int type,
             const cJSON *res, fhir_arena *a)
{
    struct ctx c = {reg, out, a, 0};
    fhir_path_result r = {NULL, 0, 0};
    out->n = 0;
    if (type < 0 || type >= fhir_type_count()) {
        return;
    }
    for (size_t k = 0; k < reg->ncodes[type]; k++) {
        const struct search_param *p = &reg->params[reg->codes[type][k].param];
        if (!search_param_indexed(p) || p->path == NULL || p->num < 0) {
            continue;
        }
        r.n = 0;
        fhir_path_eval(&r, p->path, res);
        c.param = p->num;
        size_t first_row = out->n;
        if (p->self_type == type) {
            /* The compartment's owner is in its own compartment. */
            const char *id = fhir_json_str(res, "id");
            if (id != NULL) {
                add_ref(&c, fhir_arena_printf(a, "%s/%s", fhir_type_name(type),
                                              id));
            }
        }
        for (size_t i = 0; i < r.n; i++) {
            switch (p->type) {
            case SEARCH_TYPE_TOKEN:
                index_token(&c, &r.items[i]);
                break;
            case SEARCH_TYPE_STRING:
                index_string(&c, &r.items[i]);
                break;
            case SEARCH_TYPE_DATE:
                index_date(&c, &r.items[i]);
                break;
            case SEARCH_TYPE_REFERENCE:
                index_reference(&c, &r.items[i]);
                break;
            case SEARCH_TYPE_URI:
                index_uri(&c, &r.items[i]);
                break;
            default:
                break;
            }
        }
        if (p->self_type >= 0) {
            /* The compartment's rows: only references to its owner type
             * place a resource in one (a focus on a ServiceRequest does
             * not), so only those are kept. */
            const char *owner = fhir_type_name(p->self_type);
            size_t ol = strlen(owner), w = first_row;
            for (size_t i = first_row; i < out->n; i++) {
                const char *code = out->rows[i].code;
                if (code != NULL && strncmp(code, owner, ol) == 0 &&
                    code[ol] == '/') {
                    out->rows[w++] = out->rows[i];
                }
            }
            out->n = w;
        }
    }
    fhir_path_result_clear(&r);
    if (out->n > 1) {
        qsort(out->rows, out->n, sizeof(*out->rows), row_cmp);
        size_t w = 1;
        for (size_t i = 1; i < out->n; i++) {
            if (row_cmp(&out->rows[w - 1], &out->rows[i]) != 0) {
                out->rows[w++] = out->rows[i];
            }
        }
        out->n = w;
    }
}
