/* tests/http/test_http_search.c - search over real HTTP (R4 search.html):
 * the four parameter types and their modifiers, the mission's Task
 * indexes, OR and AND, escapes, chaining and _has, the searchset Bundle
 * (links, paging, _count, _sort, _total, _summary=count), stable paging
 * while the data changes, GET and POST _search, errors, and the
 * CapabilityStatement.
 *
 * One server (in-process, ephemeral loopback port, temporary database)
 * serves every case but those about references to the server's own base
 * URLs, which start servers of their own. The group setup loads a small
 * deterministic corpus with client ids (PUT); cases check the exact set, or
 * order, of the ids a search returns, following `next` links through every
 * page. Cases that add or change resources keep away from the corpus (other
 * types or names) or run last (stable paging) and put back what they changed.
 *
 * Cases that compare many searches report every wrong one (line, query,
 * wanted and got ids) before failing, so one run shows them all.
 */
#include "tests/http/harness.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_server *srv;

/* ---- the corpus ------------------------------------------------------ */

#define BS "http://clinic.example.org/CodeSystem/task-business-status"
#define SCT "http://snomed.info/sct"
#define TC "http://hl7.org/fhir/CodeSystem/task-code"
#define V2 "http://terminology.hl7.org/CodeSystem/v2-0203"
#define TID "http://clinic.example.org/task-id"
#define TAGS "http://clinic.example.org/tags"
#define PROF "http://clinic.example.org/StructureDefinition/"
#define SRC "http://clinic.example.org/source/"
#define MRN "http://hospital.example.org/mrn"

/* Bodies are written with ' for " (see jq()). */
struct res {
    const char *type, *id, *body;
};

/* Tasks, in creation order (_lastUpdated relies on it):
 *
 * id           status            priority bs (BS code)      performer  owner
 * t-root       requested         routine  awaiting-callback 224535009  P/p1
 * t-child1     received          urgent   fax-failed        309343006  P/p2
 * t-child2     accepted          asap     done              224608005  O/o1
 * t-grand1     rejected          stat     awaiting-callback 224535009  -
 * t-grand2     ready             routine  -                 309343006  P/p1
 * t-ready      ready             stat     (text only)       224535009  -
 * t-cancelled  cancelled         routine  done              -          P/p2
 * t-inprogress in-progress       urgent   awaiting-callback 224535009  P/p1
 * t-onhold     on-hold           asap     -                 -          O/o1
 * t-failed     failed            -        fax-failed        -          P/p2
 * t-done1      completed         routine  done              309343006  P/p1
 * t-done2      completed         stat     -                 -          -
 * t-eie        entered-in-error  -        -                 -          -
 * t-mrn        draft             routine  -                 -          -
 *
 * partOf: t-child1, t-child2 -> t-root; t-grand1, t-grand2 -> t-child1.
 * focus: t-root, t-child2 -> sr1; t-child1 -> sr2; t-grand2 -> sr3.
 * for: pt1 (t-root t-child2 t-grand2 t-inprogress), pt2 (t-child1
 * t-grand1), pt3 (t-ready), {identifier http://mrn|123} (t-mrn).
 * authoredOn (UTC): t-eie 2022 | t-ready 2023-06-15T12:00:00Z |
 * t-cancelled 2023-11-05T14:20:00Z | t-onhold 2024-01-10T09:00:00+05:00
 * (04:00Z) | t-grand2 2024-02-29T12:00:00.123Z | t-child1 2024-03-01 |
 * t-root 2024-03-15T10:00:00Z | t-inprogress 2024-03-15T10:00:30Z |
 * t-child2 2024-03-31T23:30:00-02:00 (2024-04-01T01:30Z) | t-grand1
 * 2024-04 | t-done1, t-done2 2024-05-20T08:00:00Z | t-failed, t-mrn none.
 */
static const struct res corpus[] = {
    {"Patient", "pt1",
     "{'resourceType':'Patient','id':'pt1','meta':{'tag':[{'system':'" TAGS
     "','code':'vip'}],'profile':['" PROF "clinic-patient']},"
     "'identifier':[{'type':{'coding':[{'system':'" V2 "','code':'MR'}],"
     "'text':'Medical record number'},'system':'" MRN "','value':'MRN-1'}],"
     "'text':{'status':'generated','div':'<div xmlns=\\'http://www.w3.org/"
     "1999/xhtml\\'>Jürgen Müller</div>'},"
     "'active':true,'name':[{'text':'Dr. Jürgen Müller','family':'Müller',"
     "'given':['Jürgen'],'prefix':['Dr.']}],"
     "'telecom':[{'system':'phone','value':'+1-555-0100'},"
     "{'system':'email','value':'juergen@example.org'}],"
     "'gender':'male','birthDate':'1970-05-12',"
     "'address':[{'line':['Hauptstraße 1'],'city':'München',"
     "'postalCode':'80331','country':'DE'}]}"},
    {"Patient", "pt2",
     "{'resourceType':'Patient','id':'pt2',"
     "'identifier':[{'system':'" MRN "','value':'MRN-2'}],'active':false,"
     "'name':[{'family':'Ærø','given':['Anne']}],"
     "'telecom':[{'system':'email','value':'anne@example.dk'}],"
     "'gender':'female','birthDate':'1985',"
     "'address':[{'city':'Ærøskøbing','country':'DK'}]}"},
    {"Patient", "pt3",
     "{'resourceType':'Patient','id':'pt3',"
     "'name':[{'text':'王小明','family':'王','given':['小明']}],"
     "'telecom':[{'system':'phone','value':'+86 10 1234 5678'}],"
     "'birthDate':'2001-02','address':[{'city':'Beijing'}]}"},
    {"Patient", "pt4",
     "{'resourceType':'Patient','id':'pt4','active':true,"
     "'name':[{'family':'Muller','given':['Marie'],'prefix':['Mme']}],"
     "'gender':'female','birthDate':'1970-05',"
     "'address':[{'line':['12 rue de la Paix'],'city':'Paris',"
     "'country':'FR'}]}"},
    {"Patient", "pt5",
     "{'resourceType':'Patient','id':'pt5',"
     "'name':[{'family':'müller','given':['Karl'],'suffix':['Jr']}],"
     "'gender':'male'}"},
    {"Practitioner", "p1",
     "{'resourceType':'Practitioner','id':'p1','active':true,"
     "'name':[{'family':'Okafor','given':['Ada']}]}"},
    {"Practitioner", "p2",
     "{'resourceType':'Practitioner','id':'p2',"
     "'name':[{'family':'Lindqvist','given':['Björn']}]}"},
    {"ServiceRequest", "sr1",
     "{'resourceType':'ServiceRequest','id':'sr1','status':'active',"
     "'intent':'order','priority':'routine',"
     "'subject':{'reference':'Patient/pt1'}}"},
    {"ServiceRequest", "sr2",
     "{'resourceType':'ServiceRequest','id':'sr2','status':'completed',"
     "'intent':'plan','subject':{'reference':'Patient/pt2'}}"},
    {"ServiceRequest", "sr3",
     "{'resourceType':'ServiceRequest','id':'sr3','status':'active',"
     "'intent':'order','subject':{'reference':'Patient/pt1'}}"},
    {"Task", "t-root",
     "{'resourceType':'Task','id':'t-root',"
     "'meta':{'tag':[{'system':'" TAGS "','code':'triage'}],"
     "'profile':['" PROF "clinic-task'],'source':'" SRC "intake'},"
     "'identifier':[{'type':{'coding':[{'system':'" V2 "','code':'FILL'}]},"
     "'system':'" TID "','value':'T-001'}],"
     "'status':'requested','businessStatus':{'coding':[{'system':'" BS "',"
     "'code':'awaiting-callback','display':'Awaiting callback'}],"
     "'text':'Awaiting callback'},'intent':'order','priority':'routine',"
     "'code':{'coding':[{'system':'" TC "','code':'fulfill'}]},"
     "'focus':{'reference':'ServiceRequest/sr1'},"
     "'for':{'reference':'Patient/pt1'},"
     "'executionPeriod':{'start':'2024-03-15T10:00:00Z',"
     "'end':'2024-03-15T12:00:00Z'},'authoredOn':'2024-03-15T10:00:00Z',"
     "'performerType':[{'coding':[{'system':'" SCT "','code':'224535009',"
     "'display':'Registered nurse'}]}],"
     "'owner':{'reference':'Practitioner/p1'}}"},
    {"Task", "t-child1",
     "{'resourceType':'Task','id':'t-child1',"
     "'meta':{'tag':[{'system':'" TAGS "','code':'urgent-review'}]},"
     "'identifier':[{'type':{'coding':[{'system':'" V2 "','code':'PLAC'}]},"
     "'system':'" TID "','value':'A,B'}],"
     "'partOf':[{'reference':'Task/t-root'}],'status':'received',"
     "'businessStatus':{'coding':[{'system':'" BS "','code':'fax-failed',"
     "'display':'Fax failed'}]},'intent':'order','priority':'urgent',"
     "'code':{'coding':[{'code':'fulfill'}]},"
     "'focus':{'reference':'ServiceRequest/sr2'},"
     "'for':{'reference':'Patient/pt2'},"
     "'executionPeriod':{'start':'2024-03-01T08:00:00+05:00'},"
     "'authoredOn':'2024-03-01',"
     "'performerType':[{'coding':[{'system':'" SCT "','code':'309343006',"
     "'display':'Physician'}]}],"
     "'owner':{'reference':'Practitioner/p2'}}"},
    {"Task", "t-child2",
     "{'resourceType':'Task','id':'t-child2',"
     "'meta':{'profile':['" PROF "clinic-task','" PROF "clinic-task-v2'],"
     "'source':'" SRC "phone'},"
     "'identifier':[{'system':'" TID "','value':'X|Y'}],"
     "'partOf':[{'reference':'Task/t-root'}],'status':'accepted',"
     "'businessStatus':{'coding':[{'system':'" BS "','code':'done',"
     "'display':'Done'}],'text':'Done'},'intent':'order','priority':'asap',"
     "'code':{'coding':[{'system':'" TC "','code':'approve'}]},"
     "'focus':{'reference':'ServiceRequest/sr1'},"
     "'for':{'reference':'Patient/pt1'},"
     "'executionPeriod':{'end':'2024-04-10T00:00:00Z'},"
     "'authoredOn':'2024-03-31T23:30:00-02:00',"
     "'performerType':[{'coding':[{'system':'" SCT "','code':'224608005',"
     "'display':'Administrative staff'}]}],"
     "'owner':{'reference':'Organization/o1'}}"},
    {"Task", "t-grand1",
     "{'resourceType':'Task','id':'t-grand1',"
     "'partOf':[{'reference':'Task/t-child1'}],'status':'rejected',"
     "'businessStatus':{'coding':[{'system':'" BS "',"
     "'code':'awaiting-callback','display':'Awaiting callback'}]},"
     "'intent':'order','priority':'stat',"
     "'for':{'reference':'Patient/pt2'},'authoredOn':'2024-04',"
     "'performerType':[{'coding':[{'system':'" SCT "','code':'224535009'}]}]"
     "}"},
    {"Task", "t-grand2",
     "{'resourceType':'Task','id':'t-grand2',"
     "'partOf':[{'reference':'Task/t-child1'}],'status':'ready',"
     "'intent':'order','priority':'routine',"
     "'focus':{'reference':'ServiceRequest/sr3'},"
     "'for':{'reference':'Patient/pt1'},"
     "'executionPeriod':{'start':'2024-02-29T12:00:00Z',"
     "'end':'2024-03-02T00:00:00Z'},"
     "'authoredOn':'2024-02-29T12:00:00.123Z',"
     "'performerType':[{'coding':[{'system':'" SCT "','code':'309343006'}]}],"
     "'owner':{'reference':'Practitioner/p1'}}"},
    {"Task", "t-ready",
     "{'resourceType':'Task','id':'t-ready','status':'ready',"
     "'businessStatus':{'text':'awaiting fax'},'intent':'order',"
     "'priority':'stat','for':{'reference':'Patient/pt3'},"
     "'authoredOn':'2023-06-15T12:00:00Z',"
     "'performerType':[{'coding':[{'system':'" SCT "','code':'224535009'}]}]"
     "}"},
    {"Task", "t-cancelled",
     "{'resourceType':'Task','id':'t-cancelled','status':'cancelled',"
     "'businessStatus':{'coding':[{'system':'" BS "','code':'done'}]},"
     "'intent':'order','priority':'routine',"
     "'authoredOn':'2023-11-05T14:20:00Z',"
     "'owner':{'reference':'Practitioner/p2'}}"},
    {"Task", "t-inprogress",
     "{'resourceType':'Task','id':'t-inprogress','status':'in-progress',"
     "'businessStatus':{'coding':[{'system':'" BS "',"
     "'code':'awaiting-callback'}],'text':'Awaiting callback from lab'},"
     "'intent':'order','priority':'urgent',"
     "'for':{'reference':'Patient/pt1'},"
     "'executionPeriod':{'start':'2024-03-16T00:00:00Z'},"
     "'authoredOn':'2024-03-15T10:00:30Z',"
     "'performerType':[{'coding':[{'system':'" SCT "','code':'224535009'}]}],"
     "'owner':{'reference':'Practitioner/p1'}}"},
    {"Task", "t-onhold",
     "{'resourceType':'Task','id':'t-onhold','status':'on-hold',"
     "'intent':'order','priority':'asap',"
     "'executionPeriod':{'start':'2024-01-10T00:00:00Z',"
     "'end':'2024-01-20T00:00:00Z'},"
     "'authoredOn':'2024-01-10T09:00:00+05:00',"
     "'owner':{'reference':'Organization/o1'}}"},
    {"Task", "t-failed",
     "{'resourceType':'Task','id':'t-failed','status':'failed',"
     "'businessStatus':{'coding':[{'system':'" BS "','code':'fax-failed'}]},"
     "'intent':'order','owner':{'reference':'Practitioner/p2'}}"},
    {"Task", "t-done1",
     "{'resourceType':'Task','id':'t-done1',"
     "'identifier':[{'system':'" TID "','value':'a$b'},"
     "{'system':'" TID "','value':'C\\\\D'}],'status':'completed',"
     "'businessStatus':{'coding':[{'system':'" BS "','code':'done'}],"
     "'text':'Done'},'intent':'order','priority':'routine',"
     "'executionPeriod':{'start':'2024-05-20T08:00:00Z',"
     "'end':'2024-05-20T09:00:00Z'},'authoredOn':'2024-05-20T08:00:00Z',"
     "'performerType':[{'coding':[{'system':'" SCT "','code':'309343006'}]}],"
     "'owner':{'reference':'Practitioner/p1'}}"},
    {"Task", "t-done2",
     "{'resourceType':'Task','id':'t-done2','status':'completed',"
     "'intent':'order','priority':'stat',"
     "'authoredOn':'2024-05-20T08:00:00Z'}"},
    {"Task", "t-eie",
     "{'resourceType':'Task','id':'t-eie','status':'entered-in-error',"
     "'intent':'order','authoredOn':'2022'}"},
    {"Task", "t-mrn",
     "{'resourceType':'Task','id':'t-mrn','status':'draft','intent':'order',"
     "'priority':'routine',"
     "'for':{'identifier':{'system':'http://mrn','value':'123'}}}"},
};

#define NCORPUS (sizeof(corpus) / sizeof(corpus[0]))
#define NBULK 25 /* Practitioners "Bulkley", for the default _count */

#define ALL_TASKS                                                              \
    "t-root t-child1 t-child2 t-grand1 t-grand2 t-ready t-cancelled "          \
    "t-inprogress t-onhold t-failed t-done1 t-done2 t-eie t-mrn"

/* ---- small strings --------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void
sb_putn(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void
sb_put(sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static char *
sb_take(sbuf *b)
{
    if (b->p == NULL) {
        sb_putn(b, "", 0);
    }
    return b->p;
}

/* A JSON body written with ' for ". */
static char *
jq(const char *s)
{
    char *out = strdup(s);
    for (char *p = out; *p != '\0'; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    return out;
}

/* Percent-encodes everything but the unreserved characters. */
static void
sb_enc(sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            sb_putn(b, (const char *)&s[i], 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sb_putn(b, e, 3);
        }
    }
}

/* "name=value&name=value" as written (raw, unencoded; a value may hold
 * '=' but not '&'), encoded for a URL or a form body. */
static char *
encode_params(const char *params)
{
    sbuf b = {0};
    const char *p = params;
    while (*p != '\0') {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nl = eq ? (size_t)(eq - p) : len;
        if (b.n > 0) {
            sb_put(&b, "&");
        }
        sb_enc(&b, p, nl);
        if (eq != NULL) {
            sb_put(&b, "=");
            sb_enc(&b, eq + 1, len - nl - 1);
        }
        p += len + (end != NULL);
    }
    return sb_take(&b);
}

/* "path?encoded" (relative to the base), or path alone. */
static char *
search_url(const char *path, const char *params)
{
    sbuf b = {0};
    sb_put(&b, path);
    if (params != NULL && params[0] != '\0') {
        char *e = encode_params(params);
        sb_put(&b, "?");
        sb_put(&b, e);
        free(e);
    }
    return sb_take(&b);
}

static th_resp *
sget(const char *path, const char *params, const char *const *headers)
{
    char *url = search_url(path, params);
    th_resp *r = th_req(srv, "GET", url, NULL, headers);
    free(url);
    return r;
}

/* The url of the Bundle link with this relation, or NULL. */
static const char *
link_url(const th_resp *r, const char *rel)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(r->json, "link"))
    {
        const char *rr = th_str(l, "relation");
        if (rr != NULL && strcmp(rr, rel) == 0) {
            return th_str(l, "url");
        }
    }
    return NULL;
}

static int
entries(const th_resp *r)
{
    return cJSON_GetArraySize(cJSON_GetObjectItem(r->json, "entry"));
}

/* ---- id lists -------------------------------------------------------- */

typedef struct ids {
    char **v;
    size_t n, cap;
} ids;

static void
ids_push(ids *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = realloc(l->v, l->cap * sizeof(char *));
    }
    l->v[l->n++] = strdup(s);
}

static void
ids_free(ids *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
ids_sort(ids *l)
{
    if (l->n > 1) {
        qsort(l->v, l->n, sizeof(char *), cmp_str);
    }
}

static size_t
ids_count(const ids *l, const char *s)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        k += strcmp(l->v[i], s) == 0;
    }
    return k;
}

static char *
ids_join(const ids *l)
{
    sbuf b = {0};
    for (size_t i = 0; i < l->n; i++) {
        if (i > 0) {
            sb_put(&b, " ");
        }
        sb_put(&b, l->v[i]);
    }
    return sb_take(&b);
}

/* Words of s ("a b c"), braces removed. */
static void
ids_words(ids *l, const char *s)
{
    char *copy = strdup(s);
    for (char *w = strtok(copy, " {}"); w != NULL; w = strtok(NULL, " {}")) {
        ids_push(l, w);
    }
    free(copy);
}

/* Ids of the match entries of one page, appended to out; the next link
 * (or NULL) copied into *next. */
static void
page_ids(ids *out, const th_resp *r, char **next)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->json, "entry"))
    {
        const char *mode = th_str(e, "search.mode");
        const char *id = th_str(e, "resource.id");
        if (mode != NULL && strcmp(mode, "match") != 0) {
            continue; /* an outcome or include entry */
        }
        ids_push(out, id ? id : "(no id)");
    }
    const char *n = link_url(r, "next");
    *next = n ? strdup(n) : NULL;
}

/* Every match of a search, in result order, following next links. The
 * first request is GET path?params, or POST path/_search with params as
 * a form body. Returns 0, or -1 with the reason in why. */
static int
collect(ids *out, const char *method, const char *path, const char *params,
        const char *const *headers, char *why, size_t wl)
{
    th_resp *r;
    char *next = NULL;
    if (strcmp(method, "POST") == 0) {
        char *body = encode_params(params);
        char url[256];
        const char *h[] = {"Content-Type: application/x-www-form-urlencoded",
                           NULL};
        snprintf(url, sizeof(url), "%s/_search", path);
        r = th_req(srv, "POST", url, body, h);
        free(body);
    } else {
        r = sget(path, params, headers);
    }
    for (int page = 0;; page++) {
        if (r->status != 200 || r->json == NULL) {
            snprintf(why, wl, "status %ld on page %d: %.300s", r->status,
                     page + 1, r->body);
            th_free(r);
            return -1;
        }
        page_ids(out, r, &next);
        th_free(r);
        if (next == NULL) {
            return 0;
        }
        if (page == 2000) {
            snprintf(why, wl, "more than 2000 pages");
            free(next);
            return -1;
        }
        r = th_req(srv, "GET", next, NULL, NULL);
        free(next);
        next = NULL;
    }
}

/* ---- checks: every wrong search is reported, then the case fails ----- */

static int nbad;

static int
reset_bad(void **state)
{
    (void)state;
    nbad = 0;
    return 0;
}

/* In an ordered `want`, "{a b}" is a group of ties in any order: the
 * matching slice of `got` is sorted before comparing. */
static void
canon_ties(ids *got, const char *want)
{
    size_t pos = 0, start = 0;
    for (const char *p = want; *p != '\0'; p++) {
        if (*p == '{') {
            start = pos;
        } else if (*p == '}') {
            if (pos <= got->n && pos > start) {
                qsort(got->v + start, pos - start, sizeof(char *), cmp_str);
            }
        } else if (*p != ' ' && (p == want || p[-1] == ' ' || p[-1] == '{')) {
            pos++;
        }
    }
}

static void
check(int line, int ordered, const char *method, const char *path,
      const char *params, const char *const *headers, const char *want)
{
    ids got = {0}, w = {0};
    char why[512];
    if (collect(&got, method, path, params, headers, why, sizeof(why)) != 0) {
        print_error("line %d: %s %s?%s: %s\n", line, method, path, params, why);
        nbad++;
        ids_free(&got);
        return;
    }
    ids_words(&w, want);
    if (ordered) {
        canon_ties(&got, want);
        canon_ties(&w, want);
    } else {
        ids_sort(&got);
        ids_sort(&w);
    }
    char *g = ids_join(&got), *ws = ids_join(&w);
    if (strcmp(g, ws) != 0) {
        print_error("line %d: %s %s?%s\n    want: %s\n    got:  %s\n", line,
                    method, path, params, ws[0] ? ws : "(nothing)",
                    g[0] ? g : "(nothing)");
        nbad++;
    }
    free(g);
    free(ws);
    ids_free(&got);
    ids_free(&w);
}

/* Bundle.total of GET path?params must be `want`. */
static void
check_total(int line, const char *path, const char *params, int want)
{
    th_resp *r = sget(path, params, NULL);
    const cJSON *t = cJSON_GetObjectItem(r->json, "total");
    if (r->status != 200 || !cJSON_IsNumber(t) || t->valueint != want) {
        print_error("line %d: GET %s?%s\n    want total %d, got: %.300s\n",
                    line, path, params, want, r->body);
        nbad++;
    }
    th_free(r);
}

#define SET(path, params, want)                                                \
    check(__LINE__, 0, "GET", path, params, NULL, want)
#define TOTAL(path, params, want) check_total(__LINE__, path, params, want)
#define ORDER(path, params, want)                                              \
    check(__LINE__, 1, "GET", path, params, NULL, want)
#define DONE()                                                                 \
    do {                                                                       \
        if (nbad > 0) {                                                        \
            fail_msg("%d search(es) gave a wrong result, listed above", nbad); \
        }                                                                      \
    } while (0)

/* A search that must fail with `status` and an OperationOutcome; when
 * `expr` is not NULL an issue's expression names it (the parameter, with
 * or without its modifier). */
static void
check_error(int line, const char *path, const char *params,
            const char *const *headers, long status, const char *expr)
{
    th_resp *r = sget(path, params, headers);
    const char *rt = th_str(r->json, "resourceType");
    if (r->status != status || rt == NULL ||
        strcmp(rt, "OperationOutcome") != 0) {
        print_error("line %d: GET %s?%s: want %ld with an OperationOutcome, "
                    "got %ld: %.300s\n",
                    line, path, params, status, r->status, r->body);
        nbad++;
    } else if (expr != NULL) {
        int found = 0;
        const cJSON *it, *x;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(r->json, "issue"))
        {
            cJSON_ArrayForEach(x, cJSON_GetObjectItem(it, "expression"))
            {
                size_t n = strlen(expr);
                found |=
                    cJSON_IsString(x) &&
                    strncmp(x->valuestring, expr, n) == 0 &&
                    (x->valuestring[n] == '\0' || x->valuestring[n] == ':');
            }
        }
        if (!found) {
            print_error("line %d: GET %s?%s: no issue.expression '%s' in "
                        "%.300s\n",
                        line, path, params, expr, r->body);
            nbad++;
        }
    }
    th_free(r);
}

#define ERR(path, params, status, expr)                                        \
    check_error(__LINE__, path, params, NULL, status, expr)

/* A hostile value: either no match (200) or a 400 OperationOutcome, never
 * a match or a server error. */
static void
check_none_or_400(int line, const char *path, const char *params)
{
    th_resp *r = sget(path, params, NULL);
    const char *rt = th_str(r->json, "resourceType");
    int ok =
        (r->status == 200 && rt != NULL && strcmp(rt, "Bundle") == 0 &&
         th_str(r->json, "entry.0.resource.id") == NULL) ||
        (r->status == 400 && rt != NULL && strcmp(rt, "OperationOutcome") == 0);
    if (!ok) {
        print_error("line %d: GET %s?%s: want no match or 400, got %ld: "
                    "%.300s\n",
                    line, path, params, r->status, r->body);
        nbad++;
    }
    th_free(r);
}

#define NONE_OR_400(path, params) check_none_or_400(__LINE__, path, params)

/* The words of `all` that are not in `drop`, in a rotating static
 * buffer (enough for the arguments of one check). */
static const char *
minus(const char *all, const char *drop)
{
    static char bufs[8][2048];
    static int k;
    char *out = bufs[k++ % 8];
    ids a = {0}, d = {0};
    ids_words(&a, all);
    ids_words(&d, drop);
    out[0] = '\0';
    for (size_t i = 0; i < a.n; i++) {
        if (ids_count(&d, a.v[i]) == 0) {
            if (out[0] != '\0') {
                strcat(out, " ");
            }
            strcat(out, a.v[i]);
        }
    }
    ids_free(&a);
    ids_free(&d);
    return out;
}

static long
put_json(CURL *c, const char *type, const char *id, const char *body)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/%s", type, id);
    th_resp *r = th_req_on(c, srv, "PUT", url, body, strlen(body), NULL);
    long st = r->status;
    if (st != 200 && st != 201) {
        fprintf(stderr, "PUT %s: %ld %s\n", url, st, r->body);
    }
    th_free(r);
    return st;
}

/* PUTs resources written with ' for " (jq()); 1 when all were stored. */
static int
put_all(const struct res *v, size_t n)
{
    CURL *c = curl_easy_init();
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        char *body = jq(v[i].body);
        long st = put_json(c, v[i].type, v[i].id, body);
        ok &= st == 200 || st == 201;
        free(body);
    }
    curl_easy_cleanup(c);
    return ok;
}

/* ---- token ----------------------------------------------------------- */

static void
search_token__code_and_system(void **state)
{
    (void)state;
    SET("Task", "code=fulfill", "t-root t-child1");
    SET("Task", "code=" TC "|fulfill", "t-root");
    SET("Task", "code=" TC "|approve", "t-child2");
    /* |code: a coding without a system */
    SET("Task", "code=|fulfill", "t-child1");
    SET("Task", "code=|approve", "");
    /* system|: any code of the system */
    SET("Task", "code=" TC "|", "t-root t-child2");
    SET("Task", "code=http://other.example.org|fulfill", "");
    SET("Task", "code=http://other.example.org|", "");
    SET("Task", "business-status=|awaiting-callback", "");
    SET("Task", "intent=order", ALL_TASKS);
    SET("ServiceRequest", "status=active", "sr1 sr3");
    SET("ServiceRequest", "intent=plan", "sr2");
    DONE();
}

static void
search_token__not(void **state)
{
    (void)state;
    /* :not also matches resources without the element (R4 search.html) */
    SET("Task", "code:not=fulfill", minus(ALL_TASKS, "t-root t-child1"));
    SET("Task", "code:not=" TC "|approve", minus(ALL_TASKS, "t-child2"));
    SET("Task", "business-status:not=awaiting-callback",
        minus(ALL_TASKS, "t-root t-grand1 t-inprogress"));
    SET("Task", "performer:not=" SCT "|224535009",
        minus(ALL_TASKS, "t-root t-grand1 t-ready t-inprogress"));
    SET("Task", "status:not=completed,cancelled",
        minus(ALL_TASKS, "t-done1 t-done2 t-cancelled"));
    SET("Patient", "gender:not=male", "pt2 pt3 pt4");
    SET("Patient", "active:not=true", "pt2 pt3 pt5");
    DONE();
}

static void
search_token__missing(void **state)
{
    (void)state;
    SET("Task", "business-status:missing=true",
        "t-grand2 t-onhold t-done2 t-eie t-mrn");
    SET("Task", "business-status:missing=false",
        minus(ALL_TASKS, "t-grand2 t-onhold t-done2 t-eie t-mrn"));
    SET("Task", "performer:missing=true",
        "t-cancelled t-onhold t-failed t-done2 t-eie t-mrn");
    SET("Task", "code:missing=true",
        minus(ALL_TASKS, "t-root t-child1 t-child2"));
    SET("Task", "priority:missing=true", "t-failed t-eie");
    SET("Task", "identifier:missing=false", "t-root t-child1 t-child2 t-done1");
    SET("Patient", "gender:missing=true", "pt3");
    SET("Patient", "active:missing=true", "pt3 pt5");
    SET("Patient", "active:missing=false", "pt1 pt2 pt4");
    ERR("Task", "status:missing=maybe", 400, "status");
    DONE();
}

static void
search_token__text(void **state)
{
    (void)state;
    /* starts-with on CodeableConcept.text or Coding.display, case- and
     * accent-insensitive */
    SET("Task", "business-status:text=awaiting",
        "t-root t-grand1 t-ready t-inprogress");
    SET("Task", "business-status:text=AWAITING CALL",
        "t-root t-grand1 t-inprogress");
    SET("Task", "business-status:text=awaiting callback from", "t-inprogress");
    SET("Task", "business-status:text=fáx", "t-child1");
    SET("Task", "business-status:text=callback", "");
    SET("Task", "business-status:text=done", "t-child2 t-done1");
    SET("Task", "performer:text=registered", "t-root");
    SET("Task", "performer:text=PHYS", "t-child1");
    SET("Patient", "identifier:text=medical", "pt1");
    DONE();
}

static void
search_token__of_type(void **state)
{
    (void)state;
    SET("Task", "identifier=" TID "|T-001", "t-root");
    SET("Task", "identifier=T-001", "t-root");
    SET("Task", "identifier=" TID "|", "t-root t-child1 t-child2 t-done1");
    SET("Task", "identifier:of-type=" V2 "|FILL|T-001", "t-root");
    SET("Task", "identifier:of-type=" V2 "|PLAC|T-001", "");
    SET("Task", "identifier:of-type=" V2 "|FILL|T-002", "");
    SET("Patient", "identifier:of-type=" V2 "|MR|MRN-1", "pt1");
    SET("Patient", "identifier:of-type=" V2 "|MR|MRN-2", ""); /* no type */
    SET("Patient", "identifier=" MRN "|MRN-2", "pt2");
    SET("Patient", "identifier=MRN-1", "pt1");
    ERR("Task", "identifier:of-type=" V2 "|FILL", 400, NULL);
    /* Identifiers keep no counts (server/index.c): totals come from
     * probing the index rows, still exact. */
    TOTAL("Task", "identifier=" TID "|T-001&_summary=count", 1);
    TOTAL("Task", "identifier=" TID "|T-001", 1);
    TOTAL("Task", "identifier=" TID "|&_summary=count", 4);
    TOTAL("Task", "identifier=" TID "|T-404&_summary=count", 0);
    TOTAL("Patient", "identifier=" MRN "|MRN-2&_total=accurate", 1);
    DONE();
}

static void
search_token__boolean(void **state)
{
    (void)state;
    SET("Patient", "active=true", "pt1 pt4");
    SET("Patient", "active=false", "pt2");
    SET("Practitioner", "active=true", "p1");
    DONE();
}

static void
search_token__contact_point(void **state)
{
    (void)state;
    SET("Patient", "email=juergen@example.org", "pt1");
    SET("Patient", "email=anne@example.dk", "pt2");
    SET("Patient", "phone=+1-555-0100", "pt1");
    SET("Patient", "phone=+86 10 1234 5678", "pt3");
    SET("Patient", "telecom=anne@example.dk", "pt2");
    SET("Patient", "telecom=+1-555-0100", "pt1");
    /* email only matches email, phone only phone */
    SET("Patient", "email=+1-555-0100", "");
    SET("Patient", "phone=juergen@example.org", "");
    SET("Patient", "email:missing=true", "pt3 pt4 pt5");
    DONE();
}

static void
search_token__gender(void **state)
{
    (void)state;
    SET("Patient", "gender=male", "pt1 pt5");
    SET("Patient", "gender=female,other", "pt2 pt4");
    SET("Patient", "gender=http://hl7.org/fhir/administrative-gender|female",
        "");
    DONE();
}

/* ---- the mission's Task indexes -------------------------------------- */

static void
search_task__status(void **state)
{
    (void)state;
    static const char *const each[][2] = {
        {"draft", "t-mrn"},
        {"requested", "t-root"},
        {"received", "t-child1"},
        {"accepted", "t-child2"},
        {"rejected", "t-grand1"},
        {"ready", "t-grand2 t-ready"},
        {"cancelled", "t-cancelled"},
        {"in-progress", "t-inprogress"},
        {"on-hold", "t-onhold"},
        {"failed", "t-failed"},
        {"completed", "t-done1 t-done2"},
        {"entered-in-error", "t-eie"},
    };
    for (size_t i = 0; i < sizeof(each) / sizeof(each[0]); i++) {
        char p[64];
        snprintf(p, sizeof(p), "status=%s", each[i][0]);
        SET("Task", p, each[i][1]);
    }
    SET("Task", "status:not=completed", minus(ALL_TASKS, "t-done1 t-done2"));
    SET("Task", "status=ready,cancelled", "t-grand2 t-ready t-cancelled");
    SET("Task", "status=unknown-status", "");
    DONE();
}

static void
search_task__business_status(void **state)
{
    (void)state;
    SET("Task", "business-status=awaiting-callback",
        "t-root t-grand1 t-inprogress");
    SET("Task", "business-status=" BS "|awaiting-callback",
        "t-root t-grand1 t-inprogress");
    SET("Task", "business-status=" BS "|done", "t-child2 t-cancelled t-done1");
    SET("Task", "business-status=fax-failed", "t-child1 t-failed");
    SET("Task", "business-status=" BS "|",
        "t-root t-child1 t-child2 t-grand1 t-cancelled t-inprogress "
        "t-failed t-done1");
    SET("Task", "business-status:text=awaiting",
        "t-root t-grand1 t-ready t-inprogress");
    DONE();
}

static void
search_task__owner(void **state)
{
    (void)state;
    SET("Task", "owner=Practitioner/p1",
        "t-root t-grand2 t-inprogress t-done1");
    SET("Task", "owner=Practitioner/p2", "t-child1 t-cancelled t-failed");
    SET("Task", "owner=Organization/o1", "t-child2 t-onhold");
    SET("Task", "owner:missing=true", "t-grand1 t-ready t-done2 t-eie t-mrn");
    SET("Task", "owner:missing=false",
        minus(ALL_TASKS, "t-grand1 t-ready t-done2 t-eie t-mrn"));
    SET("Task", "owner:missing=true&status=ready", "t-ready");
    SET("Task", "owner=Practitioner/p1&status:not=completed",
        "t-root t-grand2 t-inprogress");
    DONE();
}

static void
search_task__performer(void **state)
{
    (void)state;
    SET("Task", "performer=" SCT "|224535009",
        "t-root t-grand1 t-ready t-inprogress");
    SET("Task", "performer=224535009", "t-root t-grand1 t-ready t-inprogress");
    SET("Task", "performer=" SCT "|309343006", "t-child1 t-grand2 t-done1");
    SET("Task", "performer=" SCT "|224608005", "t-child2");
    SET("Task", "performer=" SCT "|",
        "t-root t-child1 t-child2 t-grand1 t-grand2 t-ready t-inprogress "
        "t-done1");
    SET("Task", "performer=http://other.example.org|224535009", "");
    SET("Task", "status=requested&performer=" SCT "|224535009", "t-root");
    DONE();
}

static void
search_task__part_of(void **state)
{
    (void)state;
    SET("Task", "part-of=Task/t-root", "t-child1 t-child2");
    SET("Task", "part-of=t-root", "t-child1 t-child2");
    SET("Task", "part-of=Task/t-child1", "t-grand1 t-grand2");
    SET("Task", "part-of=Task/t-grand1", "");
    SET("Task", "part-of=Task/t-root,Task/t-child1",
        "t-child1 t-child2 t-grand1 t-grand2");
    SET("Task", "part-of:missing=true",
        minus(ALL_TASKS, "t-child1 t-child2 t-grand1 t-grand2"));
    DONE();
}

static void
search_task__focus(void **state)
{
    (void)state;
    SET("Task", "focus=ServiceRequest/sr1", "t-root t-child2");
    SET("Task", "focus=sr2", "t-child1");
    SET("Task", "focus=ServiceRequest/sr3", "t-grand2");
    SET("Task", "focus=ServiceRequest/sr9", "");
    SET("Task", "focus:missing=false", "t-root t-child1 t-child2 t-grand2");
    DONE();
}

/* ---- string ---------------------------------------------------------- */

static void
search_string__starts_with_case_accent(void **state)
{
    (void)state;
    SET("Patient", "name=muller", "pt1 pt4 pt5");
    SET("Patient", "name=MÜL", "pt1 pt4 pt5");
    SET("Patient", "name=Mül", "pt1 pt4 pt5");
    SET("Patient", "name=jurg", "pt1");
    SET("Patient", "name=JÜRGEN", "pt1");
    SET("Patient", "name=ærø", "pt2");
    SET("Patient", "name=ÆRØ", "pt2");
    SET("Patient", "name=aer", "pt2");
    SET("Patient", "name=王", "pt3");
    SET("Patient", "name=小", "pt3");
    SET("Patient", "name=明", ""); /* starts-with, not contains */
    SET("Patient", "name=ller", "");
    SET("Patient", "family=muller", "pt1 pt4 pt5");
    SET("Patient", "given=muller", "");
    SET("Patient", "given=anne", "pt2");
    SET("Patient", "family=anne", "");
    SET("Practitioner", "name=bjorn", "p2");
    SET("Practitioner", "name=BJÖRN", "p2");
    DONE();
}

static void
search_string__exact(void **state)
{
    (void)state;
    SET("Patient", "family:exact=Müller", "pt1");
    SET("Patient", "family:exact=müller", "pt5");
    SET("Patient", "family:exact=Muller", "pt4");
    SET("Patient", "family:exact=MÜLLER", "");
    SET("Patient", "family:exact=Mül", "");
    SET("Patient", "name:exact=Müller", "pt1");
    SET("Patient", "given:exact=Jürgen", "pt1");
    SET("Patient", "given:exact=Jurgen", "");
    DONE();
}

static void
search_string__contains(void **state)
{
    (void)state;
    SET("Patient", "name:contains=ll", "pt1 pt4 pt5");
    SET("Patient", "name:contains=ULL", "pt1 pt4 pt5");
    SET("Patient", "name:contains=üll", "pt1 pt4 pt5");
    SET("Patient", "name:contains=rge", "pt1");
    SET("Patient", "name:contains=nn", "pt2");
    SET("Patient", "name:contains=明", "pt3");
    SET("Patient", "address:contains=skøb", "pt2");
    SET("Patient", "address:contains=paix", "pt4");
    SET("Patient", "family:contains=zz", "");
    DONE();
}

static void
search_string__human_name_any_part(void **state)
{
    (void)state;
    SET("Patient", "name=dr", "pt1");         /* prefix (and text) */
    SET("Patient", "name=mme", "pt4");        /* prefix */
    SET("Patient", "name=jr", "pt5");         /* suffix */
    SET("Patient", "name=karl", "pt5");       /* given */
    SET("Patient", "name=王小明", "pt3");     /* text */
    SET("Patient", "name=dr. jurgen", "pt1"); /* text */
    SET("Patient", "name=muller,anne", "pt1 pt2 pt4 pt5");
    DONE();
}

static void
search_string__address_any_part(void **state)
{
    (void)state;
    SET("Patient", "address=munchen", "pt1"); /* city */
    SET("Patient", "address=MÜNCHEN", "pt1");
    SET("Patient", "address=haupt", "pt1");        /* line */
    SET("Patient", "address=hauptstrasse", "pt1"); /* ß */
    SET("Patient", "address=80331", "pt1");        /* postalCode */
    SET("Patient", "address=de", "pt1");           /* country */
    SET("Patient", "address=12 rue", "pt4");
    SET("Patient", "address=paix", "");
    SET("Patient", "address=ærøsk", "pt2");
    SET("Patient", "address-city=paris", "pt4");
    SET("Patient", "address-city=aeroskobing", "pt2");
    SET("Patient", "address-city=80331", "");
    SET("Patient", "address-postalcode=803", "pt1");
    SET("Patient", "address-country=dk", "pt2");
    DONE();
}

/* ---- date ------------------------------------------------------------ */

static void
search_date__eq_precision(void **state)
{
    (void)state;
    /* year */
    SET("Task", "authored-on=2024",
        "t-root t-child1 t-child2 t-grand1 t-grand2 t-inprogress t-onhold "
        "t-done1 t-done2");
    SET("Task", "authored-on=2023", "t-ready t-cancelled");
    SET("Task", "authored-on=2022", "t-eie");
    /* month */
    SET("Task", "authored-on=2024-03", "t-root t-child1 t-inprogress");
    SET("Task", "authored-on=2024-04", "t-child2 t-grand1");
    /* day */
    SET("Task", "authored-on=2024-03-15", "t-root t-inprogress");
    SET("Task", "authored-on=2024-03-01", "t-child1");
    SET("Task", "authored-on=2024-04-01", "t-child2");
    /* minute */
    SET("Task", "authored-on=2024-03-15T10:00Z", "t-root t-inprogress");
    SET("Task", "authored-on=2024-03-15T10:01Z", "");
    /* second */
    SET("Task", "authored-on=2024-03-15T10:00:00Z", "t-root");
    SET("Task", "authored-on=2024-03-15T10:00:30Z", "t-inprogress");
    SET("Task", "authored-on=2024-02-29T12:00:00Z", "t-grand2");
    /* fraction */
    SET("Task", "authored-on=2024-02-29T12:00:00.123Z", "t-grand2");
    SET("Task", "authored-on=2024-02-29T12:00:00.12Z", "t-grand2");
    SET("Task", "authored-on=2024-02-29T12:00:00.124Z", "");
    SET("Task", "authored-on=eq2024-03-15T10:00:00.000Z", "");
    /* a target less precise than the value is not contained in it */
    SET("Task", "authored-on=2022-06", "");
    SET("Task", "authored-on=2024-04-15", "");
    DONE();
}

static void
search_date__prefixes_month(void **state)
{
    (void)state;
    /* R4 search.html#prefix, value 2024-03 = [2024-03-01, 2024-04-01) */
    SET("Task", "authored-on=eq2024-03", "t-root t-child1 t-inprogress");
    SET("Task", "authored-on=gt2024-03", "t-child2 t-grand1 t-done1 t-done2");
    SET("Task", "authored-on=ge2024-03",
        "t-root t-child1 t-inprogress t-child2 t-grand1 t-done1 t-done2");
    SET("Task", "authored-on=lt2024-03",
        "t-grand2 t-ready t-cancelled t-onhold t-eie");
    SET("Task", "authored-on=le2024-03",
        "t-grand2 t-ready t-cancelled t-onhold t-eie t-root t-child1 "
        "t-inprogress");
    SET("Task", "authored-on=ne2024-03",
        "t-child2 t-grand1 t-grand2 t-ready t-cancelled t-onhold t-done1 "
        "t-done2 t-eie");
    SET("Task", "authored-on=sa2024-03", "t-child2 t-grand1 t-done1 t-done2");
    SET("Task", "authored-on=eb2024-03",
        "t-grand2 t-ready t-cancelled t-onhold t-eie");
    DONE();
}

static void
search_date__ge_precision(void **state)
{
    (void)state;
    /* year */
    SET("Task", "authored-on=ge2024",
        "t-root t-child1 t-child2 t-grand1 t-grand2 t-inprogress t-onhold "
        "t-done1 t-done2");
    SET("Task", "authored-on=lt2024", "t-ready t-cancelled t-eie");
    SET("Task", "authored-on=sa2023",
        "t-root t-child1 t-child2 t-grand1 t-grand2 t-inprogress t-onhold "
        "t-done1 t-done2");
    SET("Task", "authored-on=eb2024", "t-ready t-cancelled t-eie");
    /* day */
    SET("Task", "authored-on=gt2024-03-15",
        "t-child2 t-grand1 t-done1 t-done2");
    SET("Task", "authored-on=ge2024-03-15",
        "t-root t-inprogress t-child2 t-grand1 t-done1 t-done2");
    SET("Task", "authored-on=lt2024-03-15",
        "t-child1 t-grand2 t-ready t-cancelled t-onhold t-eie");
    SET("Task", "authored-on=le2024-03-15",
        "t-root t-inprogress t-child1 t-grand2 t-ready t-cancelled "
        "t-onhold t-eie");
    /* second */
    SET("Task", "authored-on=gt2024-03-15T10:00:00Z",
        "t-inprogress t-child2 t-grand1 t-done1 t-done2");
    SET("Task", "authored-on=ge2024-03-15T10:00:00Z",
        "t-root t-inprogress t-child2 t-grand1 t-done1 t-done2");
    SET("Task", "authored-on=lt2024-03-15T10:00:30Z",
        "t-root t-child1 t-grand2 t-ready t-cancelled t-onhold t-eie");
    SET("Task", "authored-on=le2024-03-15T10:00:30Z",
        "t-root t-inprogress t-child1 t-grand2 t-ready t-cancelled "
        "t-onhold t-eie");
    /* fraction */
    SET("Task", "authored-on=gt2024-02-29T12:00:00.123Z",
        "t-child1 t-root t-inprogress t-child2 t-grand1 t-done1 t-done2");
    SET("Task", "authored-on=ge2024-02-29T12:00:00.123Z",
        "t-grand2 t-child1 t-root t-inprogress t-child2 t-grand1 t-done1 "
        "t-done2");
    SET("Task", "authored-on=lt2024-02-29T12:00:00.124Z",
        "t-grand2 t-ready t-cancelled t-onhold t-eie");
    SET("Task", "authored-on=lt2024-02-29T12:00:00.123Z",
        "t-ready t-cancelled t-onhold t-eie");
    DONE();
}

static void
search_date__time_zones(void **state)
{
    (void)state;
    /* t-child2 was stored as 2024-03-31T23:30:00-02:00 */
    SET("Task", "authored-on=2024-04-01T01:30:00Z", "t-child2");
    SET("Task", "authored-on=2024-03-31T23:30:00-02:00", "t-child2");
    SET("Task", "authored-on=2024-04-01T06:30:00+05:00", "t-child2");
    SET("Task", "authored-on=2024-03-31T23:30:00Z", "");
    /* t-onhold was stored as 2024-01-10T09:00:00+05:00 */
    SET("Task", "authored-on=2024-01-10T04:00:00Z", "t-onhold");
    SET("Task", "authored-on=2024-01-10T09:00:00+05:00", "t-onhold");
    SET("Task", "authored-on=2024-01-10T09:00:00Z", "");
    /* t-root was stored in UTC */
    SET("Task", "authored-on=2024-03-15T11:00:00+01:00", "t-root");
    SET("Task", "authored-on=2024-03-15T11:00+01:00", "t-root t-inprogress");
    SET("Task", "authored-on=lt2024-04-01T03:00:00+02:00",
        "t-root t-child1 t-grand1 t-grand2 t-ready t-cancelled t-onhold "
        "t-inprogress t-eie");
    SET("Task", "authored-on=ge2024-04-01T03:30:00+02:00",
        "t-child2 t-grand1 t-done1 t-done2");
    DONE();
}

static void
search_date__period_targets(void **state)
{
    (void)state;
    /* executionPeriod (UTC): t-root [03-15T10:00, 03-15T12:00],
     * t-child1 [03-01T03:00, open), t-child2 (open, 04-10T00:00],
     * t-grand2 [02-29T12:00, 03-02T00:00], t-inprogress [03-16, open),
     * t-onhold [01-10, 01-20], t-done1 [05-20T08:00, 05-20T09:00] */
    SET("Task", "period=2024-03-15", "t-root");
    SET("Task", "period=2024-03", "t-root");
    SET("Task", "period=2024", "t-root t-grand2 t-onhold t-done1");
    SET("Task", "period=gt2024-03-15",
        "t-child1 t-child2 t-inprogress t-done1");
    SET("Task", "period=sa2024-03-15", "t-inprogress t-done1");
    SET("Task", "period=lt2024-03-01", "t-child2 t-grand2 t-onhold");
    SET("Task", "period=eb2024-03-01", "t-onhold");
    SET("Task", "period=le2024-03-01", "t-child2 t-grand2 t-onhold");
    SET("Task", "period=ge2030-01-01", "t-child1 t-inprogress");
    SET("Task", "period=le2000-01-01", "t-child2");
    SET("Task", "period=ne2024-03-15",
        "t-child1 t-child2 t-grand2 t-inprogress t-onhold t-done1");
    SET("Task", "period:missing=true",
        minus(ALL_TASKS, "t-root t-child1 t-child2 t-grand2 t-inprogress "
                         "t-onhold t-done1"));
    DONE();
}

static void
search_date__ap_loose(void **state)
{
    (void)state;
    ids got = {0};
    char why[512];
    assert_int_equal(collect(&got, "GET", "Task", "authored-on=ap2024-03-15",
                             NULL, why, sizeof(why)),
                     0);
    /* approximately: at least the day itself, not years away */
    assert_int_equal(ids_count(&got, "t-root"), 1);
    assert_int_equal(ids_count(&got, "t-inprogress"), 1);
    assert_int_equal(ids_count(&got, "t-eie"), 0);
    assert_int_equal(ids_count(&got, "t-ready"), 0);
    ids_free(&got);
}

static void
search_date__birthdate(void **state)
{
    (void)state;
    SET("Patient", "birthdate=1970", "pt1 pt4");
    SET("Patient", "birthdate=1970-05", "pt1 pt4");
    SET("Patient", "birthdate=1970-05-12", "pt1");
    SET("Patient", "birthdate=1985", "pt2");
    SET("Patient", "birthdate=1985-03", "");
    SET("Patient", "birthdate=ge1985", "pt2 pt3");
    SET("Patient", "birthdate=lt1980", "pt1 pt4");
    SET("Patient", "birthdate=sa1970-05-12", "pt2 pt3");
    SET("Patient", "birthdate:missing=true", "pt5");
    DONE();
}

/* ---- reference ------------------------------------------------------- */

static void
search_reference__forms(void **state)
{
    (void)state;
    char p[512];
    SET("Task", "owner=Practitioner/p1",
        "t-root t-grand2 t-inprogress t-done1");
    SET("Task", "owner=p1", "t-root t-grand2 t-inprogress t-done1");
    SET("Task", "owner=o1", "t-child2 t-onhold");
    snprintf(p, sizeof(p), "owner=%s/Practitioner/p1", srv->base);
    SET("Task", p, "t-root t-grand2 t-inprogress t-done1");
    snprintf(p, sizeof(p), "part-of=%s/Task/t-root", srv->base);
    SET("Task", p, "t-child1 t-child2");
    SET("Task", "owner=Practitioner/o1", "");
    SET("Task", "owner=http://elsewhere.example.org/fhir/Practitioner/p1", "");
    SET("Task", "subject=Patient/pt1", "t-root t-child2 t-grand2 t-inprogress");
    SET("Task", "subject=pt2", "t-child1 t-grand1");
    SET("Task", "patient=Patient/pt2", "t-child1 t-grand1");
    SET("Task", "patient=pt3", "t-ready");
    SET("ServiceRequest", "subject=Patient/pt1", "sr1 sr3");
    SET("ServiceRequest", "patient=pt2", "sr2");
    DONE();
}

static void
search_reference__type_modifier(void **state)
{
    (void)state;
    SET("Task", "owner:Practitioner=p1",
        "t-root t-grand2 t-inprogress t-done1");
    SET("Task", "owner:Practitioner=p2", "t-child1 t-cancelled t-failed");
    SET("Task", "owner:Organization=o1", "t-child2 t-onhold");
    SET("Task", "owner:Organization=p1", "");
    SET("Task", "owner:Practitioner=o1", "");
    SET("Task", "subject:Patient=pt1", "t-root t-child2 t-grand2 t-inprogress");
    DONE();
}

static void
search_reference__missing(void **state)
{
    (void)state;
    SET("Task", "owner:missing=true", "t-grand1 t-ready t-done2 t-eie t-mrn");
    SET("Task", "subject:missing=true",
        "t-cancelled t-onhold t-failed t-done1 t-done2 t-eie");
    /* a reference holding only an identifier is present */
    SET("Task", "subject:missing=false",
        "t-root t-child1 t-child2 t-grand1 t-grand2 t-ready t-inprogress "
        "t-mrn");
    DONE();
}

static void
search_reference__identifier(void **state)
{
    (void)state;
    SET("Task", "subject:identifier=http://mrn|123", "t-mrn");
    SET("Task", "subject:identifier=http://mrn|124", "");
    SET("Task", "subject:identifier=http://other|123", "");
    SET("Task", "subject:identifier=123", "t-mrn");
    /* a literal reference does not match by identifier */
    SET("Task", "subject:identifier=pt1", "");
    DONE();
}

/* References written as absolute URLs on this server (R4 search.html
 * #reference, references.html#literal) are found by Type/id, by id and
 * by the URL; other servers' URLs only by themselves. Each case runs its
 * own server (swapped in for srv) so the corpus stays as it is. */

#define HERE "https://clinic.example.org/fhir"

/* PUTs Task `id` owned by `ref` (NULL: no owner) on srv; a failure counts
 * as a wrong search. */
static void
put_owned(const char *id, const char *ref, const char *extra)
{
    char body[512];
    CURL *c = curl_easy_init();
    snprintf(body, sizeof(body),
             "{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":"
             "\"ready\",\"intent\":\"order\"%s%s%s%s%s}",
             id, ref ? ",\"owner\":{\"reference\":\"" : "", ref ? ref : "",
             ref ? "\"" : "", ref && extra ? extra : "", ref ? "}" : "");
    long st = put_json(c, "Task", id, body);
    nbad += st != 200 && st != 201;
    curl_easy_cleanup(c);
}

/* A server of the case's own (see above); NULL, with srv unchanged, when
 * the tests are aimed at an external server, whose bases are its own. */
static th_server *
own_server(const char *base_url)
{
    th_server *shared = srv;
    srv = base_url ? th_start_base_url(base_url) : th_start(NULL);
    if (srv->srv == NULL) {
        th_stop(srv);
        srv = shared;
        return NULL;
    }
    return shared;
}

static void
search_reference__absolute_on_this_server(void **state)
{
    (void)state;
    char p[512], u[256], loop[128], port2[128];
    th_server *shared = own_server(NULL);
    if (shared == NULL) {
        skip();
    }
    /* No --base-url: the listening address, by either loopback name, is
     * this server; another port is another server. */
    long port = strtol(strrchr(srv->base, ':') + 1, NULL, 10);
    snprintf(loop, sizeof(loop), "http://localhost:%ld/fhir", port);
    snprintf(port2, sizeof(port2), "http://127.0.0.1:%ld/fhir",
             port == 65535 ? port - 1 : port + 1);
    snprintf(u, sizeof(u), "%s/Practitioner/p1", srv->base);
    put_owned("t-abs", u, NULL);
    snprintf(u, sizeof(u), "%s/Practitioner/p1/_history/1", loop);
    put_owned("t-abs-v", u, NULL);
    put_owned("t-rel", "Practitioner/p1", NULL);
    snprintf(u, sizeof(u), "%s/Practitioner/p1", port2);
    put_owned("t-port", u, NULL);
    put_owned("t-far", "http://elsewhere.example.org/fhir/Practitioner/p1",
              NULL);

    SET("Task", "owner=Practitioner/p1", "t-abs t-abs-v t-rel");
    SET("Task", "owner=p1", "t-abs t-abs-v t-rel");
    snprintf(p, sizeof(p), "owner=%s/Practitioner/p1", srv->base);
    SET("Task", p, "t-abs t-abs-v t-rel");
    snprintf(p, sizeof(p), "owner=%s/Practitioner/p1", loop);
    SET("Task", p, "t-abs t-abs-v t-rel");
    SET("Task", "owner:Practitioner=p1", "t-abs t-abs-v t-rel");
    snprintf(p, sizeof(p), "owner=%s/Practitioner/p1", port2);
    SET("Task", p, "t-port");
    SET("Task", "owner=http://elsewhere.example.org/fhir/Practitioner/p1",
        "t-far");
    SET("Task", "owner:missing=false", "t-abs t-abs-v t-rel t-port t-far");
    /* the resource keeps the reference as written */
    th_resp *r = th_req(srv, "GET", "Task/t-abs", NULL, NULL);
    snprintf(u, sizeof(u), "%s/Practitioner/p1", srv->base);
    const char *got = th_str(r->json, "owner.reference");
    if (got == NULL || strcmp(got, u) != 0) {
        print_error("Task/t-abs owner.reference: %s\n", got ? got : "-");
        nbad++;
    }
    th_free(r);
    th_stop(srv);
    srv = shared;
    DONE();
}

static void
search_reference__absolute_with_base_url(void **state)
{
    (void)state;
    char p[512], u[256];
    th_server *shared = own_server(HERE);
    if (shared == NULL) {
        skip();
    }
    /* --base-url: that base alone is this server, the listening address
     * (where the test reaches it) is not. */
    put_owned("t-abs", HERE "/Practitioner/p1",
              ",\"identifier\":{\"system\":\"http://npi\",\"value\":\"42\"}");
    put_owned("t-abs-v",
              "https://Clinic.Example.org/fhir/Practitioner/p1"
              "/_history/2",
              NULL);
    put_owned("t-rel", "Practitioner/p1", NULL);
    snprintf(u, sizeof(u), "%s/Practitioner/p1", srv->base);
    put_owned("t-loop", u, NULL);
    put_owned("t-far",
              "https://clinic.example.org.evil.net/fhir/"
              "Practitioner/p1",
              NULL);
    put_owned("t-none", NULL, NULL);

    SET("Task", "owner=Practitioner/p1", "t-abs t-abs-v t-rel");
    SET("Task", "owner=p1", "t-abs t-abs-v t-rel");
    SET("Task", "owner=" HERE "/Practitioner/p1", "t-abs t-abs-v t-rel");
    SET("Task", "owner=" HERE "/Practitioner/p1/_history/2",
        "t-abs t-abs-v t-rel");
    SET("Task", "owner:Practitioner=p1", "t-abs t-abs-v t-rel");
    SET("Task", "owner:Organization=p1", "");
    SET("Task", "owner:identifier=http://npi|42", "t-abs");
    SET("Task", "owner:missing=true", "t-none");
    snprintf(p, sizeof(p), "owner=%s/Practitioner/p1", srv->base);
    SET("Task", p, "t-loop");
    SET("Task",
        "owner=https://clinic.example.org.evil.net/fhir/Practitioner/p1",
        "t-far");
    th_stop(srv);
    srv = shared;
    DONE();
}

static void
search_reference__base_url_change_reindexes(void **state)
{
    (void)state;
    th_server *shared = own_server(NULL);
    if (shared == NULL) {
        skip();
    }
    put_owned("t-abs", HERE "/Practitioner/p1", NULL);
    SET("Task", "owner=Practitioner/p1", "");
    SET("Task", "owner=" HERE "/Practitioner/p1", "t-abs");
    /* The same database with HERE as its base: its rows are rebuilt. */
    th_restart(srv, HERE);
    SET("Task", "owner=Practitioner/p1", "t-abs");
    SET("Task", "owner=p1", "t-abs");
    SET("Task", "owner=" HERE "/Practitioner/p1", "t-abs");
    /* And back. */
    th_restart(srv, NULL);
    SET("Task", "owner=Practitioner/p1", "");
    SET("Task", "owner=" HERE "/Practitioner/p1", "t-abs");
    th_stop(srv);
    srv = shared;
    DONE();
}

/* ---- uri and the common parameters ----------------------------------- */

static void
search_uri__profile_source(void **state)
{
    (void)state;
    SET("Task", "_profile=" PROF "clinic-task", "t-root t-child2");
    SET("Task", "_profile=" PROF "clinic-task-v2", "t-child2");
    SET("Task", "_profile=http://clinic.example.org/StructureDefinition", "");
    SET("Task", "_profile:below=http://clinic.example.org/StructureDefinition",
        "t-root t-child2");
    SET("Task", "_profile:below=http://other.example.org", "");
    SET("Patient", "_profile=" PROF "clinic-patient", "pt1");
    SET("Task", "_source=" SRC "intake", "t-root");
    SET("Task", "_source=" SRC "phone", "t-child2");
    SET("Task", "_source=" SRC "intake," SRC "phone", "t-root t-child2");
    SET("Task", "_source=http://clinic.example.org/source", "");
    DONE();
}

static void
search_common__id(void **state)
{
    (void)state;
    SET("Task", "_id=t-root", "t-root");
    SET("Task", "_id=t-root,t-done1", "t-root t-done1");
    SET("Task", "_id=nope", "");
    SET("Patient", "_id=t-root", "");
    SET("Task", "_id=t-root&status=completed", "");
    SET("Task", "_id=t-root,t-done1&status=completed", "t-done1");
    DONE();
}

static void
search_common__last_updated(void **state)
{
    (void)state;
    th_resp *r = th_req(srv, "GET", "Task/t-done2", NULL, NULL);
    assert_int_equal(r->status, 200);
    char lu[64], p[128];
    snprintf(lu, sizeof(lu), "%s", th_str(r->json, "meta.lastUpdated"));
    th_free(r);
    /* t-done2 is the 12th of 14 Tasks written, in order */
    snprintf(p, sizeof(p), "_lastUpdated=ge%s", lu);
    SET("Task", p, "t-done2 t-eie t-mrn");
    snprintf(p, sizeof(p), "_lastUpdated=gt%s", lu);
    SET("Task", p, "t-eie t-mrn");
    snprintf(p, sizeof(p), "_lastUpdated=%s", lu);
    SET("Task", p, "t-done2");
    snprintf(p, sizeof(p), "_lastUpdated=lt%s", lu);
    SET("Task", p, minus(ALL_TASKS, "t-done2 t-eie t-mrn"));
    snprintf(p, sizeof(p), "_lastUpdated=ge%s&status=completed", lu);
    SET("Task", p, "t-done2");
    SET("Task", "_lastUpdated=ge2000-01-01", ALL_TASKS);
    SET("Task", "_lastUpdated=lt2000", "");
    snprintf(p, sizeof(p), "_lastUpdated=ge%s", lu);
    SET("Patient", p, "");
    DONE();
}

static void
search_common__tag(void **state)
{
    (void)state;
    SET("Task", "_tag=" TAGS "|triage", "t-root");
    SET("Task", "_tag=urgent-review", "t-child1");
    SET("Task", "_tag=" TAGS "|", "t-root t-child1");
    SET("Task", "_tag=" TAGS "|triage," TAGS "|urgent-review",
        "t-root t-child1");
    SET("Task", "_tag:not=" TAGS "|triage", minus(ALL_TASKS, "t-root"));
    SET("Task", "_tag:missing=true", minus(ALL_TASKS, "t-root t-child1"));
    SET("Patient", "_tag=" TAGS "|vip", "pt1");
    SET("Patient", "_tag=" TAGS "|triage", "");
    DONE();
}

/* ---- OR, AND, escapes ------------------------------------------------ */

static void
search_combine__or_commas(void **state)
{
    (void)state;
    SET("Task", "status=ready,cancelled", "t-grand2 t-ready t-cancelled");
    SET("Task", "owner=Practitioner/p2,Organization/o1",
        "t-child1 t-cancelled t-failed t-child2 t-onhold");
    SET("Task", "authored-on=2022,2023", "t-eie t-ready t-cancelled");
    SET("Task", "business-status=fax-failed," BS "|done",
        "t-child1 t-failed t-child2 t-cancelled t-done1");
    SET("Task", "_id=t-eie,t-mrn,nope", "t-eie t-mrn");
    SET("Patient", "name=王,anne", "pt2 pt3");
    DONE();
}

static void
search_combine__and_repeat(void **state)
{
    (void)state;
    SET("Task", "authored-on=ge2024-03-01&authored-on=lt2024-04-01",
        "t-root t-child1 t-inprogress");
    SET("Task", "status=ready&status=cancelled", "");
    SET("Task", "owner=Practitioner/p1&status=ready", "t-grand2");
    SET("Task", "status:not=completed&status:not=cancelled",
        minus(ALL_TASKS, "t-done1 t-done2 t-cancelled"));
    SET("Task",
        "business-status=awaiting-callback&performer=" SCT
        "|224535009&owner:missing=true",
        "t-grand1");
    SET("Task", "performer=" SCT "|224535009&performer=" SCT "|309343006", "");
    SET("Patient", "name=muller&given=karl", "pt5");
    SET("Patient", "name=muller&name=jurgen", "pt1");
    DONE();
}

static void
search_combine__escapes(void **state)
{
    (void)state;
    /* t-child1 has identifier value "A,B", t-child2 "X|Y", t-done1 "a$b"
     * and "C\D" */
    SET("Task", "identifier=A\\,B", "t-child1");
    SET("Task", "identifier=" TID "|A\\,B", "t-child1");
    SET("Task", "identifier=A,B", ""); /* "A" or "B" */
    SET("Task", "identifier=A\\,B,T-001", "t-child1 t-root");
    SET("Task", "identifier:of-type=" V2 "|PLAC|A\\,B", "t-child1");
    SET("Task", "identifier=X\\|Y", "t-child2");
    SET("Task", "identifier=" TID "|X\\|Y", "t-child2");
    SET("Task", "identifier=T-001,X\\|Y", "t-root t-child2");
    SET("Task", "identifier=a\\$b", "t-done1");
    SET("Task", "identifier=C\\\\D", "t-done1");
    DONE();
}

/* ---- the searchset Bundle -------------------------------------------- */

static void
search_result__bundle_shape(void **state)
{
    (void)state;
    th_resp *r = sget("Task", "status=completed", NULL);
    assert_int_equal(r->status, 200);
    assert_non_null(
        strstr(th_header(r, "Content-Type"), "application/fhir+json"));
    assert_string_equal(th_str(r->json, "resourceType"), "Bundle");
    assert_string_equal(th_str(r->json, "type"), "searchset");
    const char *self = link_url(r, "self");
    assert_non_null(self);
    char want[256];
    snprintf(want, sizeof(want), "%s/Task?", srv->base);
    assert_memory_equal(self, want, strlen(want));
    assert_non_null(strstr(self, "status=completed"));
    assert_null(link_url(r, "next"));
    assert_int_equal(entries(r), 2);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->json, "entry"))
    {
        const char *id = th_str(e, "resource.id");
        assert_non_null(id);
        snprintf(want, sizeof(want), "%s/Task/%s", srv->base, id);
        assert_string_equal(th_str(e, "fullUrl"), want);
        assert_string_equal(th_str(e, "search.mode"), "match");
        assert_string_equal(th_str(e, "resource.resourceType"), "Task");
        assert_string_equal(th_str(e, "resource.status"), "completed");
        assert_string_equal(th_str(e, "resource.meta.versionId"), "1");
    }
    th_free(r);
    /* no match: an empty searchset */
    r = sget("Task", "status=unknown-status", NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "type"), "searchset");
    assert_int_equal(entries(r), 0);
    th_free(r);
}

static void
search_result__next_links(void **state)
{
    (void)state;
    th_resp *r = sget("Task", "owner=Practitioner/p1&_count=2&_sort=_id", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(entries(r), 2);
    assert_string_equal(th_str(r->json, "entry.0.resource.id"), "t-done1");
    assert_string_equal(th_str(r->json, "entry.1.resource.id"), "t-grand2");
    const char *next = link_url(r, "next");
    assert_non_null(next);
    char want[256];
    snprintf(want, sizeof(want), "%s/Task?", srv->base);
    assert_memory_equal(next, want, strlen(want));
    th_resp *r2 = th_req(srv, "GET", next, NULL, NULL);
    th_free(r);
    assert_int_equal(r2->status, 200);
    assert_int_equal(entries(r2), 2);
    assert_string_equal(th_str(r2->json, "entry.0.resource.id"),
                        "t-inprogress");
    assert_string_equal(th_str(r2->json, "entry.1.resource.id"), "t-root");
    assert_null(link_url(r2, "next"));
    assert_non_null(link_url(r2, "self"));
    th_free(r2);
    /* one per page, and pages of a result that ends exactly on a page */
    ORDER("Task", "owner=Practitioner/p1&_count=1&_sort=_id",
          "t-done1 t-grand2 t-inprogress t-root");
    ORDER("Task", "owner=Practitioner/p1&_count=4&_sort=_id",
          "t-done1 t-grand2 t-inprogress t-root");
    SET("Task", "_count=3", ALL_TASKS);
    SET("Task", "status:not=completed&_count=5",
        minus(ALL_TASKS, "t-done1 t-done2"));
    DONE();
}

static void
search_result__previous_link(void **state)
{
    (void)state;
    th_resp *r1 = sget("Task", "_count=4&_sort=_id", NULL);
    assert_int_equal(r1->status, 200);
    assert_null(link_url(r1, "previous"));
    assert_non_null(link_url(r1, "next"));
    th_resp *r2 = th_req(srv, "GET", link_url(r1, "next"), NULL, NULL);
    assert_int_equal(r2->status, 200);
    const char *prev = link_url(r2, "previous");
    if (prev == NULL) {
        prev = link_url(r2, "prev");
    }
    if (prev == NULL) {
        fail_msg("page 2 has no 'previous' link (issue 3, acceptance 5): %s",
                 r2->body);
    }
    th_resp *back = th_req(srv, "GET", prev, NULL, NULL);
    assert_int_equal(back->status, 200);
    ids a = {0}, b = {0};
    char *n1 = NULL, *n2 = NULL;
    page_ids(&a, r1, &n1);
    page_ids(&b, back, &n2);
    char *ja = ids_join(&a), *jb = ids_join(&b);
    assert_string_equal(jb, ja);
    free(ja);
    free(jb);
    free(n1);
    free(n2);
    ids_free(&a);
    ids_free(&b);
    th_free(back);
    th_free(r2);
    th_free(r1);
}

static void
search_result__count_default_20(void **state)
{
    (void)state;
    th_resp *r = sget("Practitioner", "family=bulkley", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(entries(r), 20);
    assert_non_null(link_url(r, "next"));
    th_free(r);
    ids got = {0};
    char why[512];
    assert_int_equal(collect(&got, "GET", "Practitioner", "family=bulkley",
                             NULL, why, sizeof(why)),
                     0);
    assert_int_equal(got.n, NBULK);
    ids_sort(&got);
    for (size_t i = 0; i < got.n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "bulk-%02zu", i + 1);
        assert_string_equal(got.v[i], id);
    }
    ids_free(&got);
    r = sget("Practitioner", "family=bulkley&_count=25", NULL);
    assert_int_equal(entries(r), 25);
    assert_null(link_url(r, "next"));
    th_free(r);
    /* _count=0: no entries */
    r = sget("Practitioner", "family=bulkley&_count=0", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(entries(r), 0);
    th_free(r);
}

#define NCAP 1005

static void
search_result__count_capped_at_max(void **state)
{
    (void)state;
    CURL *c = curl_easy_init();
    for (int i = 0; i < NCAP; i++) {
        char id[32], body[256];
        snprintf(id, sizeof(id), "cap-%04d", i);
        snprintf(body, sizeof(body),
                 "{\"resourceType\":\"Practitioner\",\"id\":\"%s\","
                 "\"name\":[{\"family\":\"Capper\"}]}",
                 id);
        long st = put_json(c, "Practitioner", id, body);
        assert_true(st == 200 || st == 201);
    }
    curl_easy_cleanup(c);
    th_resp *r = sget("Practitioner", "family=capper&_count=5000", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(entries(r), 1000); /* the configured maximum */
    assert_non_null(link_url(r, "next"));
    th_free(r);
    r = sget("Practitioner", "family=capper&_count=1000", NULL);
    assert_int_equal(entries(r), 1000);
    th_free(r);
    r = sget("Practitioner", "family=capper&_summary=count", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(
        cJSON_GetNumberValue(cJSON_GetObjectItem(r->json, "total")), NCAP);
    th_free(r);
    ids got = {0};
    char why[512];
    assert_int_equal(collect(&got, "GET", "Practitioner",
                             "family=capper&_count=5000", NULL, why,
                             sizeof(why)),
                     0);
    assert_int_equal(got.n, NCAP);
    ids_free(&got);
}

static void
search_result__total_modes(void **state)
{
    (void)state;
    th_resp *r = sget("Task", "status=completed&_total=accurate", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(
        cJSON_GetNumberValue(cJSON_GetObjectItem(r->json, "total")), 2);
    th_free(r);
    /* accurate also when the page holds only part of the result */
    r = sget("Task", "status:not=completed&_total=accurate&_count=2", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(entries(r), 2);
    assert_int_equal(
        cJSON_GetNumberValue(cJSON_GetObjectItem(r->json, "total")), 12);
    th_free(r);
    r = sget("Task",
             "authored-on=ge2024-03-01&authored-on=lt2024-04-01&_total="
             "accurate&_count=1",
             NULL);
    assert_int_equal(
        cJSON_GetNumberValue(cJSON_GetObjectItem(r->json, "total")), 3);
    th_free(r);
    r = sget("Task", "status=completed&_total=none", NULL);
    assert_int_equal(r->status, 200);
    assert_null(cJSON_GetObjectItem(r->json, "total"));
    assert_int_equal(entries(r), 2);
    th_free(r);
    r = sget("Task", "status:not=completed&_total=estimate&_count=2", NULL);
    assert_int_equal(r->status, 200);
    const cJSON *t = cJSON_GetObjectItem(r->json, "total");
    assert_true(t == NULL || (cJSON_IsNumber(t) && t->valuedouble >= 0));
    th_free(r);
}

static void
search_result__summary_count(void **state)
{
    (void)state;
    static const struct {
        const char *params;
        int total;
    } cases[] = {
        {"business-status=awaiting-callback&_summary=count", 3},
        {"status:not=completed&_summary=count", 12},
        {"owner:missing=true&status=ready&_summary=count", 1},
        {"_summary=count", 14},
        {"status=unknown-status&_summary=count", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_resp *r = sget("Task", cases[i].params, NULL);
        assert_int_equal(r->status, 200);
        assert_string_equal(th_str(r->json, "type"), "searchset");
        const cJSON *t = cJSON_GetObjectItem(r->json, "total");
        if (!cJSON_IsNumber(t) || t->valueint != cases[i].total) {
            fail_msg("Task?%s: want total %d: %s", cases[i].params,
                     cases[i].total, r->body);
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->json, "entry"))
        {
            const char *mode = th_str(e, "search.mode");
            assert_true(mode == NULL || strcmp(mode, "match") != 0);
        }
        th_free(r);
    }
}

/* ---- totals from the kept counts ----------------------------------- */

#define TAGS2 "http://other.example.org/tags"

/* Practitioners sharing search parameters with the Patients of the corpus
 * (individual-gender; _tag, here with one code under two systems). The
 * count cases PUT them and delete them again. */
static const struct res counted[] = {
    {"Practitioner", "cnt-f1",
     "{'resourceType':'Practitioner','id':'cnt-f1','meta':{'tag':["
     "{'system':'" TAGS "','code':'twosys'},{'system':'" TAGS2 "',"
     "'code':'twosys'}]},'gender':'female'}"},
    {"Practitioner", "cnt-f2",
     "{'resourceType':'Practitioner','id':'cnt-f2','meta':{'tag':["
     "{'system':'" TAGS "','code':'twosys'}]},'gender':'female'}"},
    {"Practitioner", "cnt-m1",
     "{'resourceType':'Practitioner','id':'cnt-m1','gender':'male'}"},
};
#define NCOUNTED (sizeof(counted) / sizeof(counted[0]))

static void
counted_delete(void)
{
    for (size_t i = 0; i < NCOUNTED; i++) {
        char url[128];
        snprintf(url, sizeof(url), "%s/%s", counted[i].type, counted[i].id);
        th_resp *r = th_req(srv, "DELETE", url, NULL, NULL);
        assert_int_equal(r->status, 200);
        th_free(r);
    }
}

/* Bundle.total of a search that must have one. */
static int
total_of(const char *path, const char *params)
{
    th_resp *r = sget(path, params, NULL);
    const cJSON *t = cJSON_GetObjectItem(r->json, "total");
    assert_int_equal(r->status, 200);
    assert_true(cJSON_IsNumber(t));
    int n = t->valueint;
    th_free(r);
    return n;
}

/* individual-gender is one parameter of Patient and Practitioner: a
 * total of one type never counts the other. */
static void
search_count__shared_param_per_type(void **state)
{
    (void)state;
    assert_true(put_all(counted, NCOUNTED));
    TOTAL("Patient", "gender=female&_summary=count", 2);
    TOTAL("Patient", "gender=female&_total=accurate", 2);
    TOTAL("Patient", "gender=female", 2);
    TOTAL("Patient", "gender=|male&_summary=count", 2);
    TOTAL("Practitioner", "gender=female&_summary=count", 2);
    TOTAL("Practitioner", "gender=|male&_summary=count", 1);
    TOTAL("", "_type=Patient,Practitioner&gender=female&_summary=count", 4);
    counted_delete();
    TOTAL("Practitioner", "gender=female&_summary=count", 0);
    TOTAL("Patient", "gender=female&_summary=count", 2);
    DONE();
}

/* :missing=true is the type's size less those with a value: both of the
 * searched type only (it went negative when they were not). */
static void
search_count__missing_per_type(void **state)
{
    (void)state;
    assert_true(put_all(counted, NCOUNTED));
    int prac = total_of("Practitioner", "_summary=count");
    TOTAL("Patient", "gender:missing=true&_summary=count", 1);
    TOTAL("Patient", "gender:missing=false&_summary=count", 4);
    TOTAL("Patient", "family:missing=true&_summary=count", 0);
    TOTAL("Patient", "family:missing=true", 0);
    TOTAL("Practitioner", "gender:missing=true&_summary=count", prac - 3);
    TOTAL("Practitioner", "gender:missing=false&_summary=count", 3);
    TOTAL("", "_type=Patient,Practitioner&gender:missing=true&_summary=count",
          prac - 3 + 1);
    counted_delete();
    DONE();
}

/* A code without a system counts resources, not rows: cnt-f1 has the
 * tag under two systems, and an identifier's value is also indexed for
 * :of-type (t-root, pt1). */
static void
search_count__code_under_two_systems(void **state)
{
    (void)state;
    assert_true(put_all(counted, NCOUNTED));
    TOTAL("Practitioner", "_tag=twosys&_summary=count", 2);
    TOTAL("Practitioner", "_tag=twosys&_total=accurate", 2);
    TOTAL("Practitioner", "_tag=twosys", 2);
    TOTAL("Practitioner", "_tag=" TAGS "|twosys&_summary=count", 2);
    TOTAL("Practitioner", "_tag=" TAGS2 "|twosys&_summary=count", 1);
    TOTAL("", "_type=Patient,Practitioner&_tag=twosys&_summary=count", 2);
    TOTAL("", "_type=Patient,Practitioner,ServiceRequest,Task&_tag=twosys", 2);
    TOTAL("Task", "identifier=T-001&_summary=count", 1);
    TOTAL("Task", "identifier=T-001", 1);
    TOTAL("Patient", "identifier=MRN-1&_summary=count", 1);
    counted_delete();
    DONE();
}

#define SUBSETTED_SYS                                                          \
    "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"

/* 1 when resource j carries the SUBSETTED tag. */
static int
subsetted(const cJSON *j)
{
    const cJSON *t;
    cJSON_ArrayForEach(
        t, cJSON_GetObjectItem(cJSON_GetObjectItem(j, "meta"), "tag"))
    {
        const char *sys = th_str(t, "system"), *code = th_str(t, "code");
        if (sys != NULL && code != NULL && strcmp(sys, SUBSETTED_SYS) == 0 &&
            strcmp(code, "SUBSETTED") == 0) {
            return 1;
        }
    }
    return 0;
}

/* The resource of the only match entry of a search. */
static const cJSON *
only_match(const th_resp *r)
{
    assert_int_equal(r->status, 200);
    assert_int_equal(entries(r), 1);
    return cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "entry"), 0),
        "resource");
}

static void
search_result__summary_modes(void **state)
{
    (void)state;
    /* true: the isSummary elements of R4 Task (identifier, priority,
     * authoredOn and performerType are not), marked SUBSETTED */
    th_resp *r = sget("Task", "_id=t-root&_summary=true", NULL);
    const cJSON *t = only_match(r);
    assert_string_equal(th_str(t, "id"), "t-root");
    assert_string_equal(th_str(t, "status"), "requested");
    assert_string_equal(th_str(t, "intent"), "order");
    assert_string_equal(th_str(t, "owner.reference"), "Practitioner/p1");
    assert_string_equal(th_str(t, "focus.reference"), "ServiceRequest/sr1");
    assert_non_null(cJSON_GetObjectItem(t, "businessStatus"));
    assert_non_null(cJSON_GetObjectItem(t, "executionPeriod"));
    assert_null(cJSON_GetObjectItem(t, "identifier"));
    assert_null(cJSON_GetObjectItem(t, "priority"));
    assert_null(cJSON_GetObjectItem(t, "authoredOn"));
    assert_null(cJSON_GetObjectItem(t, "performerType"));
    assert_true(subsetted(t));
    th_free(r);
    /* text: text, id, meta and mandatory top-level elements only */
    r = sget("Patient", "_id=pt1&_summary=text", NULL);
    t = only_match(r);
    assert_string_equal(th_str(t, "id"), "pt1");
    assert_non_null(th_str(t, "text.div"));
    assert_null(cJSON_GetObjectItem(t, "name"));
    assert_null(cJSON_GetObjectItem(t, "telecom"));
    assert_true(subsetted(t));
    th_free(r);
    /* data: everything but text */
    r = sget("Patient", "_id=pt1&_summary=data", NULL);
    t = only_match(r);
    assert_null(cJSON_GetObjectItem(t, "text"));
    assert_string_equal(th_str(t, "name.0.family"), "Müller");
    assert_string_equal(th_str(t, "address.0.city"), "München");
    assert_true(subsetted(t));
    th_free(r);
    /* false: the whole resource */
    r = sget("Patient", "_id=pt1&_summary=false", NULL);
    t = only_match(r);
    assert_non_null(th_str(t, "text.div"));
    assert_string_equal(th_str(t, "name.0.family"), "Müller");
    assert_false(subsetted(t));
    th_free(r);
    /* the searchset itself is the same */
    SET("Task", "owner=Practitioner/p1&_summary=true",
        "t-root t-grand2 t-inprogress t-done1");
    SET("Task", "owner=Practitioner/p1&_summary=data&_count=1",
        "t-root t-grand2 t-inprogress t-done1");
    ERR("Task", "_summary=maybe", 400, NULL);
    DONE();
}

static void
search_result__elements(void **state)
{
    (void)state;
    th_resp *r = sget("Task", "_id=t-root&_elements=status,owner", NULL);
    const cJSON *t = only_match(r);
    assert_string_equal(th_str(t, "resourceType"), "Task");
    assert_string_equal(th_str(t, "id"), "t-root");
    assert_string_equal(th_str(t, "status"), "requested");
    assert_string_equal(th_str(t, "owner.reference"), "Practitioner/p1");
    assert_null(cJSON_GetObjectItem(t, "businessStatus"));
    assert_null(cJSON_GetObjectItem(t, "priority"));
    assert_null(cJSON_GetObjectItem(t, "authoredOn"));
    assert_null(cJSON_GetObjectItem(t, "performerType"));
    assert_null(cJSON_GetObjectItem(t, "focus"));
    assert_true(subsetted(t));
    th_free(r);
    r = sget("Patient", "_id=pt1&_elements=birthDate", NULL);
    t = only_match(r);
    assert_string_equal(th_str(t, "birthDate"), "1970-05-12");
    assert_null(cJSON_GetObjectItem(t, "name"));
    assert_null(cJSON_GetObjectItem(t, "text"));
    assert_true(subsetted(t));
    th_free(r);
    SET("Task", "status=completed&_elements=status", "t-done1 t-done2");
    DONE();
}

static void
search_system__type_and_last_updated(void **state)
{
    (void)state;
    SET("", "_type=Task,Patient&_id=t-root,pt1,sr1", "t-root pt1");
    SET("", "_id=t-root,pt1,sr1", "t-root pt1 sr1");
    th_resp *r = th_req(srv, "GET", "Patient/pt5", NULL, NULL);
    assert_int_equal(r->status, 200);
    char p[160];
    snprintf(p, sizeof(p), "_type=Patient,ServiceRequest&_lastUpdated=ge%s",
             th_str(r->json, "meta.lastUpdated"));
    th_free(r);
    /* written in that order: pt5, then p1 p2, then sr1 sr2 sr3 */
    SET("", p, "pt5 sr1 sr2 sr3");
    /* fullUrl names each entry's own type */
    r = sget("", "_type=Task,Patient&_id=t-root,pt1", NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(th_str(r->json, "type"), "searchset");
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->json, "entry"))
    {
        char want[256];
        snprintf(want, sizeof(want), "%s/%s/%s", srv->base,
                 th_str(e, "resource.resourceType"), th_str(e, "resource.id"));
        assert_string_equal(th_str(e, "fullUrl"), want);
    }
    th_free(r);
    DONE();
}

/* ---- _sort ----------------------------------------------------------- */

#define SORT_SET                                                               \
    "status=completed,cancelled,ready,on-hold,entered-in-error,failed"

static void
search_sort__single_key(void **state)
{
    (void)state;
    /* no authoredOn (t-failed) sorts last */
    ORDER("Task", SORT_SET "&_sort=authored-on",
          "t-eie t-ready t-cancelled t-onhold t-grand2 {t-done1 t-done2} "
          "t-failed");
    ORDER("Task", "_sort=_id",
          "t-cancelled t-child1 t-child2 t-done1 t-done2 "
          "t-eie t-failed t-grand1 t-grand2 t-inprogress "
          "t-mrn t-onhold t-ready t-root");
    ORDER("Task", "status=ready,cancelled&_sort=_lastUpdated",
          "t-grand2 t-ready t-cancelled");
    DONE();
}

static void
search_sort__descending(void **state)
{
    (void)state;
    ORDER("Task", SORT_SET "&_sort=-authored-on",
          "{t-done1 t-done2} t-grand2 t-onhold t-cancelled t-ready t-eie "
          "t-failed");
    ORDER("Task", "_sort=-_id",
          "t-root t-ready t-onhold t-mrn t-inprogress "
          "t-grand2 t-grand1 t-failed t-eie t-done2 "
          "t-done1 t-child2 t-child1 t-cancelled");
    ORDER("Task",
          "owner=Practitioner/p1&status:not=completed&_sort=-_"
          "lastUpdated",
          "t-inprogress t-grand2 t-root");
    DONE();
}

static void
search_sort__multiple_keys(void **state)
{
    (void)state;
    ORDER("Task", SORT_SET "&_sort=-authored-on,_id",
          "t-done1 t-done2 t-grand2 t-onhold t-cancelled t-ready t-eie "
          "t-failed");
    ORDER("Task", SORT_SET "&_sort=-authored-on,-_id",
          "t-done2 t-done1 t-grand2 t-onhold t-cancelled t-ready t-eie "
          "t-failed");
    ORDER("Task", SORT_SET "&_sort=authored-on,-_id",
          "t-eie t-ready t-cancelled t-onhold t-grand2 t-done2 t-done1 "
          "t-failed");
    /* the same across pages */
    ORDER("Task", SORT_SET "&_sort=-authored-on,-_id&_count=1",
          "t-done2 t-done1 t-grand2 t-onhold t-cancelled t-ready t-eie "
          "t-failed");
    ORDER("Task", SORT_SET "&_sort=authored-on,-_id&_count=3",
          "t-eie t-ready t-cancelled t-onhold t-grand2 t-done2 t-done1 "
          "t-failed");
    DONE();
}

/* Sorted searches of different shapes on several connections at once:
 * each worker sorts its own page with its own plan (a regression: the
 * plan was a process-wide variable, and a page sorted with another
 * request's plan - text keys read as numbers - came out wrong or crashed
 * the server). Pages of 600 Tasks make the sorts long enough to overlap;
 * the Tasks live on a server of their own. */
enum { SORT_N = 600, SORT_WORKERS = 6 };

struct sort_worker {
    int which;
    int bad;
    char why[256];
};

static void *
sort_worker_main(void *p)
{
    struct sort_worker *w = p;
    for (int i = 0; i < 12 && w->bad == 0; i++) {
        int desc = (w->which + i) % 2; /* by date, newest first; else by id */
        ids got = {0};
        char why[200] = "";
        const char *q =
            desc ? "_sort=-authored-on&_count=600" : "_sort=_id&_count=600";
        if (collect(&got, "GET", "Task", q, NULL, why, sizeof(why)) != 0) {
            snprintf(w->why, sizeof(w->why), "%s: %s", q, why);
            w->bad++;
        } else if (got.n != SORT_N) {
            snprintf(w->why, sizeof(w->why), "%s: %zu ids", q, got.n);
            w->bad++;
        }
        for (size_t k = 0; k < got.n && w->bad == 0; k++) {
            char want[16];
            snprintf(want, sizeof(want), "s-%04zu", desc ? SORT_N - 1 - k : k);
            if (strcmp(got.v[k], want) != 0) {
                snprintf(w->why, sizeof(w->why), "%s: #%zu is %s, not %s", q, k,
                         got.v[k], want);
                w->bad++;
            }
        }
        ids_free(&got);
    }
    return NULL;
}

static void
search_sort__concurrent_shapes(void **state)
{
    (void)state;
    th_server *shared = srv;
    srv = th_start(NULL);
    sbuf b = {0};
    sb_put(&b, "{\"resourceType\":\"Bundle\",\"type\":\"transaction\","
               "\"entry\":[");
    for (int i = 0; i < SORT_N; i++) {
        char e[400];
        snprintf(e, sizeof(e),
                 "%s{\"resource\":{\"resourceType\":\"Task\",\"id\":"
                 "\"s-%04d\",\"status\":\"ready\",\"intent\":\"order\","
                 "\"authoredOn\":\"2024-01-01T%02d:%02d:%02dZ\"},"
                 "\"request\":{\"method\":\"PUT\",\"url\":\"Task/s-%04d\"}}",
                 i ? "," : "", i, i / 3600, i / 60 % 60, i % 60, i);
        sb_put(&b, e);
    }
    sb_put(&b, "]}");
    th_resp *r = th_req(srv, "POST", "", sb_take(&b), NULL);
    free(b.p);
    assert_int_equal(r->status, 200);
    th_free(r);

    struct sort_worker w[SORT_WORKERS];
    pthread_t th[SORT_WORKERS];
    for (int i = 0; i < SORT_WORKERS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].which = i;
        assert_int_equal(pthread_create(&th[i], NULL, sort_worker_main, &w[i]),
                         0);
    }
    int bad = 0;
    for (int i = 0; i < SORT_WORKERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (w[i].bad) {
            print_error("worker %d: %s\n", i, w[i].why);
            bad++;
        }
    }
    th_stop(srv);
    srv = shared;
    assert_int_equal(bad, 0);
}

/* The ids of l joined (the caller's), l emptied. */
static char *
ids_take(ids *l)
{
    char *s = ids_join(l);
    ids_free(l);
    return s;
}

/* The ids of a search in result order, joined. */
static char *
ordered_ids(const char *path, const char *params)
{
    ids got = {0};
    char why[512];
    if (collect(&got, "GET", path, params, NULL, why, sizeof(why)) != 0) {
        fail_msg("%s?%s: %s", path, params, why);
    }
    return ids_take(&got);
}

static void
search_sort__ties_stable(void **state)
{
    (void)state;
    /* many ties: the order is the same every time, whatever the page
     * size, and the tied rows stay together */
    static const char *const queries[] = {
        "_sort=status",       "_sort=-status",
        "_sort=owner",        "_sort=authored-on",
        "_sort=-authored-on", "status=completed&_sort=authored-on",
    };
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        char *first = ordered_ids("Task", queries[i]);
        char *again = ordered_ids("Task", queries[i]);
        char p[256];
        snprintf(p, sizeof(p), "%s&_count=1", queries[i]);
        char *paged1 = ordered_ids("Task", p);
        snprintf(p, sizeof(p), "%s&_count=3", queries[i]);
        char *paged3 = ordered_ids("Task", p);
        assert_string_equal(again, first);
        if (strcmp(paged1, first) != 0 || strcmp(paged3, first) != 0) {
            fail_msg("Task?%s: one page: %s; _count=1: %s; _count=3: %s",
                     queries[i], first, paged1, paged3);
        }
        free(first);
        free(again);
        free(paged1);
        free(paged3);
    }
    DONE();
}

static void
search_sort__priority_rank(void **state)
{
    (void)state;
    /* R4 request-priority in its value set's order, not alphabetical */
    ORDER("Task", "_sort=priority,_id",
          "t-cancelled t-done1 t-grand2 t-mrn t-root "
          "t-child1 t-inprogress "
          "t-child2 t-onhold "
          "t-done2 t-grand1 t-ready "
          "t-eie t-failed");
    ORDER("Task", "priority=routine,urgent,asap,stat&_sort=-priority,_id",
          "t-done2 t-grand1 t-ready "
          "t-child2 t-onhold "
          "t-child1 t-inprogress "
          "t-cancelled t-done1 t-grand2 t-mrn t-root");
    ORDER("Task", "_sort=-priority,_id&_count=2",
          "t-done2 t-grand1 t-ready "
          "t-child2 t-onhold "
          "t-child1 t-inprogress "
          "t-cancelled t-done1 t-grand2 t-mrn t-root "
          "t-eie t-failed");
    ORDER("Task", "_sort=priority",
          "{t-cancelled t-done1 t-grand2 t-mrn t-root} "
          "{t-child1 t-inprogress} {t-child2 t-onhold} "
          "{t-done2 t-grand1 t-ready} {t-eie t-failed}");
    /* the benchmark's first search */
    ORDER("Task",
          "performer=" SCT "|224535009&_sort=-priority,authored-on&_count=20",
          "t-ready t-grand1 t-inprogress t-root");
    DONE();
}

/* ---- GET and POST ---------------------------------------------------- */

static void
search_post__same_as_get(void **state)
{
    (void)state;
    static const char *const queries[] = {
        "status=completed",
        "owner=Practitioner/p1&_sort=_id",
        "business-status:text=awaiting",
        "authored-on=ge2024-03-01&authored-on=lt2024-04-01",
        "performer=" SCT "|224535009&_count=2",
        "identifier=A\\,B",
        "_sort=-priority,_id&_count=3",
        "status:not=completed&owner:missing=true",
    };
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        ids g = {0}, p = {0};
        char why[512];
        if (collect(&g, "GET", "Task", queries[i], NULL, why, sizeof(why)) !=
                0 ||
            collect(&p, "POST", "Task", queries[i], NULL, why, sizeof(why)) !=
                0) {
            fail_msg("Task?%s: %s", queries[i], why);
        }
        char *gs = ids_join(&g), *ps = ids_join(&p);
        if (strcmp(gs, ps) != 0 || g.n == 0) {
            fail_msg("Task?%s: GET %s, POST %s", queries[i], gs, ps);
        }
        free(gs);
        free(ps);
        ids_free(&g);
        ids_free(&p);
    }
    /* parameters in the URL and the body together */
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    th_resp *r =
        th_req(srv, "POST", "Task/_search?status=completed", "_sort=-_id", h);
    assert_int_equal(r->status, 200);
    assert_int_equal(entries(r), 2);
    assert_string_equal(th_str(r->json, "entry.0.resource.id"), "t-done2");
    assert_string_equal(th_str(r->json, "entry.1.resource.id"), "t-done1");
    th_free(r);
    /* percent-encoded form values */
    r = th_req(srv, "POST", "Patient/_search", "name=M%C3%BCller", h);
    assert_int_equal(r->status, 200);
    assert_int_equal(entries(r), 3);
    th_free(r);
}

static void
search_post__non_form_415(void **state)
{
    (void)state;
    const char *json[] = {"Content-Type: application/fhir+json", NULL};
    th_resp *r = th_req(srv, "POST", "Task/_search", "status=completed", json);
    assert_int_equal(r->status, 415);
    assert_string_equal(th_str(r->json, "resourceType"), "OperationOutcome");
    th_free(r);
    const char *text[] = {"Content-Type: text/plain", NULL};
    r = th_req(srv, "POST", "Task/_search", "status=completed", text);
    assert_int_equal(r->status, 415);
    th_free(r);
}

/* ---- errors ---------------------------------------------------------- */

/* 1 when an outcome entry's OperationOutcome mentions `word`. */
static int
outcome_names(const th_resp *r, const char *word)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->json, "entry"))
    {
        const char *mode = th_str(e, "search.mode");
        const char *rt = th_str(e, "resource.resourceType");
        if (mode == NULL || strcmp(mode, "outcome") != 0 || rt == NULL ||
            strcmp(rt, "OperationOutcome") != 0) {
            continue;
        }
        char *s = cJSON_PrintUnformatted(cJSON_GetObjectItem(e, "resource"));
        int found = strstr(s, word) != NULL;
        free(s);
        if (found) {
            return 1;
        }
    }
    return 0;
}

static void
search_error__unknown_param_outcome(void **state)
{
    (void)state;
    th_resp *r = sget("Task", "foo=bar&status=completed", NULL);
    assert_int_equal(r->status, 200);
    if (!outcome_names(r, "foo")) {
        fail_msg("no search.mode=outcome entry naming 'foo': %s", r->body);
    }
    th_free(r);
    /* the rest of the search still applies */
    SET("Task", "foo=bar&status=completed", "t-done1 t-done2");
    /* a parameter of another type is unknown here too */
    r = sget("Task", "birthdate=1970", NULL);
    assert_int_equal(r->status, 200);
    assert_true(outcome_names(r, "birthdate"));
    th_free(r);
    /* known but unsupported parameters are reported, not ignored */
    r = sget("Patient", "_text=x", NULL);
    assert_int_equal(r->status, 200);
    assert_true(outcome_names(r, "_text"));
    th_free(r);
    const char *lenient[] = {"Prefer: handling=lenient", NULL};
    r = sget("Task", "foo=bar", lenient);
    assert_int_equal(r->status, 200);
    assert_true(outcome_names(r, "foo"));
    th_free(r);
    DONE();
}

static void
search_error__unknown_param_strict_400(void **state)
{
    (void)state;
    const char *strict[] = {"Prefer: handling=strict", NULL};
    check_error(__LINE__, "Task", "foo=bar&status=completed", strict, 400,
                NULL);
    check_error(__LINE__, "Patient", "_text=x", strict, 400, NULL);
    th_resp *r = sget("Task", "foo=bar", strict);
    assert_non_null(strstr(r->body, "foo"));
    th_free(r);
    /* strict with only known parameters is an ordinary search */
    r = sget("Task", "status=completed", strict);
    assert_int_equal(r->status, 200);
    assert_int_equal(entries(r), 2);
    th_free(r);
    DONE();
}

static void
search_error__malformed_date_400(void **state)
{
    (void)state;
    ERR("Task", "authored-on=2024-13-45", 400, "authored-on");
    ERR("Task", "authored-on=yesterday", 400, "authored-on");
    ERR("Task", "authored-on=2024-02-30", 400, "authored-on");
    ERR("Task", "authored-on=ge2024-03-15T25:00:00Z", 400, "authored-on");
    ERR("Task", "period=2024-03,notadate", 400, "period");
    ERR("Patient", "birthdate=1970/05/12", 400, "birthdate");
    ERR("Task", "_lastUpdated=ge2024-3-1", 400, "_lastUpdated");
    DONE();
}

static void
search_error__unknown_modifier_400(void **state)
{
    (void)state;
    ERR("Task", "status:foo=completed", 400, "status");
    ERR("Task", "status:exact=completed", 400, "status");
    ERR("Patient", "name:below=x", 400, "name");
    ERR("Task", "authored-on:text=2024", 400, "authored-on");
    DONE();
}

static void
search_error__unknown_prefix_400(void **state)
{
    (void)state;
    ERR("Task", "authored-on=xx2024", 400, "authored-on");
    ERR("Task", "authored-on=gte2024", 400, "authored-on");
    ERR("Patient", "birthdate=on1970", 400, "birthdate");
    DONE();
}

static void
search_error__bad_sort_400(void **state)
{
    (void)state;
    ERR("Task", "_sort=nonsense", 400, NULL);
    ERR("Task", "_sort=-nonsense", 400, NULL);
    ERR("Task", "_sort=status,nonsense", 400, NULL);
    ERR("Task", "_sort=birthdate", 400, NULL);
    DONE();
}

static void
search_error__bad_count_400(void **state)
{
    (void)state;
    ERR("Task", "_count=-1", 400, NULL);
    ERR("Task", "_count=abc", 400, NULL);
    ERR("Task", "_count=", 400, NULL);
    DONE();
}

static void
search_error__hostile_values(void **state)
{
    (void)state;
    SET("Task", "status=' OR 1=1 --", "");
    SET("Task", "status=completed' OR '1'='1", "");
    SET("Task", "status=completed;DROP TABLE resource", "");
    SET("Task", "_id=' OR 1=1 --", "");
    SET("Task", "identifier=' OR ''='", "");
    /* not a well-formed reference: nothing, or a 400 for the value */
    NONE_OR_400("Task", "owner=Practitioner/p1' OR '1'='1");
    NONE_OR_400("Task", "owner=http://evil.example.org/x' OR '1'='1");
    SET("Patient", "name=%", "");
    SET("Patient", "name=_", "");
    SET("Patient", "name=%ller", "");
    SET("Patient", "name:contains=%", "");
    SET("Patient", "name:contains=_", "");
    SET("Patient", "name:contains=m_ller", "");
    SET("Patient", "family:exact=M%", "");
    SET("Patient", "name=\"Müller\"", "");
    /* only real matches, and the store is intact */
    SET("Patient", "name:contains=ll", "pt1 pt4 pt5");
    SET("Task", "status=completed", "t-done1 t-done2");
    DONE();
}

/* ---- CapabilityStatement --------------------------------------------- */

static const cJSON *
cap_resource(const cJSON *cs, const char *type)
{
    const cJSON *res;
    cJSON_ArrayForEach(
        res,
        cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(cs, "rest"), 0), "resource"))
    {
        const char *t = th_str(res, "type");
        if (t != NULL && strcmp(t, type) == 0) {
            return res;
        }
    }
    return NULL;
}

static const char *
cap_param_type(const cJSON *res, const char *name)
{
    const cJSON *sp;
    cJSON_ArrayForEach(sp, cJSON_GetObjectItem(res, "searchParam"))
    {
        const char *n = th_str(sp, "name");
        if (n != NULL && strcmp(n, name) == 0) {
            return th_str(sp, "type");
        }
    }
    return NULL;
}

static void
search_capability__search_params(void **state)
{
    (void)state;
    th_resp *r = th_req(srv, "GET", "metadata", NULL, NULL);
    assert_int_equal(r->status, 200);
    static const char *const types[] = {"Task", "ServiceRequest", "Patient",
                                        "Practitioner"};
    for (size_t t = 0; t < 4; t++) {
        const cJSON *res = cap_resource(r->json, types[t]);
        assert_non_null(res);
        const cJSON *list = cJSON_GetObjectItem(res, "searchParam");
        if (cJSON_GetArraySize(list) == 0) {
            fail_msg("CapabilityStatement rest.resource[%s] has no "
                     "searchParam (issue 3, acceptance 8)",
                     types[t]);
        }
        const cJSON *sp;
        cJSON_ArrayForEach(sp, list)
        {
            const char *name = th_str(sp, "name");
            if (name == NULL || th_str(sp, "type") == NULL ||
                th_str(sp, "documentation") == NULL) {
                char *s = cJSON_PrintUnformatted(sp);
                fail_msg("%s searchParam without name, type or "
                         "documentation: %s",
                         types[t], s);
            }
        }
    }
    static const char *const want[][3] = {
        {"Task", "status", "token"},
        {"Task", "business-status", "token"},
        {"Task", "performer", "token"},
        {"Task", "owner", "reference"},
        {"Task", "part-of", "reference"},
        {"Task", "focus", "reference"},
        {"Task", "authored-on", "date"},
        {"Task", "_id", "token"},
        {"Task", "_lastUpdated", "date"},
        {"Patient", "name", "string"},
        {"Patient", "birthdate", "date"},
        {"Patient", "email", "token"},
        {"Practitioner", "name", "string"},
        {"ServiceRequest", "status", "token"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *ty =
            cap_param_type(cap_resource(r->json, want[i][0]), want[i][1]);
        if (ty == NULL || strcmp(ty, want[i][2]) != 0) {
            fail_msg("CapabilityStatement: %s searchParam '%s' of type %s "
                     "missing (type %s)",
                     want[i][0], want[i][1], want[i][2], ty ? ty : "-");
        }
    }
    /* unsupported parameters are not advertised */
    assert_null(cap_param_type(cap_resource(r->json, "Patient"), "_text"));
    assert_null(cap_param_type(cap_resource(r->json, "Patient"), "phonetic"));
    th_free(r);
}

/* ---- stable paging --------------------------------------------------- */

/* PUTs resource `id` again with `key` set to `value` (a string). */
static void
touch(const char *type, const char *id, const char *key, const char *value)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/%s", type, id);
    th_resp *r = th_req(srv, "GET", url, NULL, NULL);
    assert_int_equal(r->status, 200);
    cJSON *j = cJSON_Duplicate(r->json, 1);
    th_free(r);
    cJSON_DeleteItemFromObject(j, key);
    cJSON_AddStringToObject(j, key, value);
    char *body = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    r = th_req(srv, "PUT", url, body, NULL);
    free(body);
    assert_int_equal(r->status, 200);
    th_free(r);
}

static void
new_task(const char *id, const char *authored)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":\"ready\","
             "\"intent\":\"order\",\"authoredOn\":\"%s\"}",
             id, authored);
    char url[128];
    snprintf(url, sizeof(url), "Task/%s", id);
    th_resp *r = th_req(srv, "PUT", url, body, NULL);
    assert_true(r->status == 201 || r->status == 200);
    th_free(r);
}

/* Each id of `orig` exactly once in `seen`; any other id at most once and
 * only if it is one of `added`. */
static void
check_union(const ids *orig, const ids *seen, const ids *added,
            const char *what)
{
    sbuf msg = {0};
    for (size_t i = 0; i < orig->n; i++) {
        size_t k = ids_count(seen, orig->v[i]);
        if (k != 1) {
            char line[160];
            snprintf(line, sizeof(line), " %s seen %zu times;", orig->v[i], k);
            sb_put(&msg, line);
        }
    }
    for (size_t i = 0; i < seen->n; i++) {
        if (ids_count(orig, seen->v[i]) > 0) {
            continue;
        }
        size_t k = ids_count(seen, seen->v[i]);
        if (ids_count(added, seen->v[i]) == 0 || k > 1) {
            char line[160];
            snprintf(line, sizeof(line), " %s (new) seen %zu times;",
                     seen->v[i], k);
            if (msg.p == NULL || strstr(msg.p, line) == NULL) {
                sb_put(&msg, line);
            }
        }
    }
    if (msg.p != NULL) {
        char *s = ids_join(seen);
        print_error("%s: pages gave: %s\n", what, s);
        free(s);
        fail_msg("%s: paging was not stable:%s", what, msg.p);
    }
}

static void
search_paging__stable_last_updated(void **state)
{
    (void)state;
    ids orig = {0}, seen = {0}, added = {0};
    char why[512];
    assert_int_equal(collect(&orig, "GET", "Task",
                             "_count=1000&_sort=_lastUpdated", NULL, why,
                             sizeof(why)),
                     0);
    assert_true(orig.n >= 14);
    char *url = search_url("Task", "_count=3&_sort=_lastUpdated");
    int pages = 0;
    for (int page = 0; url != NULL; page++) {
        pages++;
        th_resp *r = th_req(srv, "GET", url, NULL, NULL);
        free(url);
        assert_int_equal(r->status, 200);
        size_t before = seen.n;
        page_ids(&seen, r, &url);
        th_free(r);
        if (url == NULL || seen.n == before) {
            break;
        }
        /* Between pages: a new matching Task, an update of one already
         * seen (its _lastUpdated now sorts last), and of one not yet seen
         * (the next in line, and the last of the original order). */
        char id[64], note[64];
        snprintf(id, sizeof(id), "pg-lu-%d", page);
        new_task(id, "2024-03-20T00:00:00Z");
        ids_push(&added, id);
        snprintf(note, sizeof(note), "paging touch %d", page);
        touch("Task", seen.v[seen.n - 1], "description", note);
        for (size_t i = 0; i < orig.n; i++) {
            if (ids_count(&seen, orig.v[i]) == 0) {
                touch("Task", orig.v[i], "description", note);
                break;
            }
        }
        for (size_t i = orig.n; i-- > 0;) {
            if (ids_count(&seen, orig.v[i]) == 0) {
                touch("Task", orig.v[i], "description", note);
                break;
            }
        }
        if (page == 100) {
            fail_msg("more than 100 pages");
        }
    }
    free(url);
    print_message("%d pages, %zu Tasks before, %zu ids seen, %zu Tasks "
                  "added on the way\n",
                  pages, orig.n, seen.n, added.n);
    check_union(&orig, &seen, &added, "Task?_count=3&_sort=_lastUpdated");
    ids_free(&orig);
    ids_free(&seen);
    ids_free(&added);
}

static void
search_paging__stable_authored_on(void **state)
{
    (void)state;
    ids orig = {0}, seen = {0}, added = {0};
    char why[512];
    assert_int_equal(collect(&orig, "GET", "Task",
                             "_count=1000&_sort=authored-on", NULL, why,
                             sizeof(why)),
                     0);
    assert_true(orig.n >= 14);
    /* What is changed is put back at the end. */
    struct {
        char id[64];
        char *body;
    } saved[16];
    int nsaved = 0;
    char *url = search_url("Task", "_count=3&_sort=authored-on");
    int pages = 0;
    for (int page = 0; url != NULL; page++) {
        pages++;
        th_resp *r = th_req(srv, "GET", url, NULL, NULL);
        free(url);
        assert_int_equal(r->status, 200);
        size_t before = seen.n;
        page_ids(&seen, r, &url);
        th_free(r);
        if (url == NULL || seen.n == before) {
            break;
        }
        if (page < 3) {
            /* A seen Task moves behind the cursor (its authoredOn now
             * sorts last), the first unseen one moves in front of it; new
             * Tasks land on both sides. */
            const char *moved[2] = {seen.v[seen.n - 1], NULL};
            for (size_t i = 0; i < orig.n; i++) {
                if (ids_count(&seen, orig.v[i]) == 0) {
                    moved[1] = orig.v[i];
                    break;
                }
            }
            for (int m = 0; m < 2 && moved[m] != NULL; m++) {
                char u[128];
                snprintf(u, sizeof(u), "Task/%s", moved[m]);
                th_resp *g = th_req(srv, "GET", u, NULL, NULL);
                assert_int_equal(g->status, 200);
                if (nsaved < 16) {
                    snprintf(saved[nsaved].id, sizeof(saved[nsaved].id), "%s",
                             moved[m]);
                    saved[nsaved++].body = strdup(g->body);
                }
                th_free(g);
                touch("Task", moved[m], "authoredOn",
                      m == 0 ? "2031-01-01T00:00:00Z" : "2001-01-01T00:00:00Z");
            }
            char id[64];
            snprintf(id, sizeof(id), "pg-ao-late-%d", page);
            new_task(id, "2030-01-01T00:00:00Z");
            ids_push(&added, id);
            snprintf(id, sizeof(id), "pg-ao-early-%d", page);
            new_task(id, "2000-01-01T00:00:00Z");
            ids_push(&added, id);
        }
        if (page == 100) {
            fail_msg("more than 100 pages");
        }
    }
    /* Put the changed Tasks back, newest change last. */
    for (int i = nsaved; i-- > 0;) {
        char u[128];
        snprintf(u, sizeof(u), "Task/%s", saved[i].id);
        th_resp *r = th_req(srv, "PUT", u, saved[i].body, NULL);
        free(saved[i].body);
        th_free(r);
    }
    free(url);
    print_message("%d pages, %zu Tasks before, %zu ids seen, %zu Tasks "
                  "added and %d moved on the way\n",
                  pages, orig.n, seen.n, added.n, nsaved);
    check_union(&orig, &seen, &added, "Task?_count=3&_sort=authored-on");
    ids_free(&orig);
    ids_free(&seen);
    ids_free(&added);
}

/* ---- chaining and _has ----------------------------------------------- */

#define CHS "http://clinic.example.org/chain-id"

/* Beside the corpus (written by the chain cases, deleted by the last):
 * ch-t1 (requested, awaiting-callback) owned by Practitioner Smith, for
 * Patient Nguyen (CHS|123, born 1985), focus an active ServiceRequest;
 * its subtasks ch-t2 (ready, owned by that Patient) and ch-t3 (ready,
 * owned by Practitioner Nguyen); ch-t4 (completed, Smith's) under
 * ch-t2. */
static const struct res chain_res[] = {
    {"Practitioner", "ch-smith",
     "{'resourceType':'Practitioner','id':'ch-smith',"
     "'name':[{'family':'Smith','given':['Jane']}]}"},
    {"Practitioner", "ch-nguyen",
     "{'resourceType':'Practitioner','id':'ch-nguyen',"
     "'name':[{'family':'Nguyen','given':['Linh']}]}"},
    {"Patient", "ch-nguyen",
     "{'resourceType':'Patient','id':'ch-nguyen',"
     "'identifier':[{'system':'" CHS "','value':'123'}],"
     "'name':[{'family':'Nguyen','given':['An']}],'birthDate':'1985-04-01'}"},
    {"Patient", "ch-old",
     "{'resourceType':'Patient','id':'ch-old',"
     "'identifier':[{'system':'" CHS "','value':'999'}],"
     "'name':[{'family':'Oldfield'}],'birthDate':'1950-01-01'}"},
    {"ServiceRequest", "ch-sr-active",
     "{'resourceType':'ServiceRequest','id':'ch-sr-active',"
     "'status':'active','intent':'order',"
     "'subject':{'reference':'Patient/ch-nguyen'}}"},
    {"ServiceRequest", "ch-sr-done",
     "{'resourceType':'ServiceRequest','id':'ch-sr-done',"
     "'status':'completed','intent':'order',"
     "'subject':{'reference':'Patient/ch-old'}}"},
    {"Task", "ch-t1",
     "{'resourceType':'Task','id':'ch-t1','status':'requested',"
     "'businessStatus':{'coding':[{'system':'" BS "',"
     "'code':'awaiting-callback'}]},'intent':'order',"
     "'owner':{'reference':'Practitioner/ch-smith'},"
     "'for':{'reference':'Patient/ch-nguyen'},"
     "'focus':{'reference':'ServiceRequest/ch-sr-active'}}"},
    {"Task", "ch-t2",
     "{'resourceType':'Task','id':'ch-t2','status':'ready',"
     "'intent':'order','partOf':[{'reference':'Task/ch-t1'}],"
     "'owner':{'reference':'Patient/ch-nguyen'},"
     "'for':{'reference':'Patient/ch-old'},"
     "'focus':{'reference':'ServiceRequest/ch-sr-done'}}"},
    {"Task", "ch-t3",
     "{'resourceType':'Task','id':'ch-t3','status':'ready',"
     "'intent':'order','partOf':[{'reference':'Task/ch-t1'}],"
     "'owner':{'reference':'Practitioner/ch-nguyen'},"
     "'for':{'reference':'Patient/ch-old'}}"},
    {"Task", "ch-t4",
     "{'resourceType':'Task','id':'ch-t4','status':'completed',"
     "'intent':'order','partOf':[{'reference':'Task/ch-t2'}],"
     "'owner':{'reference':'Practitioner/ch-smith'}}"},
};
#define NCHAIN (sizeof(chain_res) / sizeof(chain_res[0]))

static void
delete_all(const struct res *v, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        char url[128];
        snprintf(url, sizeof(url), "%s/%s", v[i].type, v[i].id);
        th_resp *r = th_req(srv, "DELETE", url, NULL, NULL);
        assert_int_equal(r->status, 200);
        th_free(r);
    }
}

static void
search_chain__forward(void **state)
{
    (void)state;
    assert_true(put_all(chain_res, NCHAIN));
    /* the issue's examples */
    SET("Task", "owner:Practitioner.name=smith", "ch-t1 ch-t4");
    SET("Task", "patient.identifier=" CHS "|123", "ch-t1");
    SET("Task", "patient.identifier=" CHS "|999", "ch-t2 ch-t3");
    SET("Task", "focus:ServiceRequest.status=active",
        "t-root t-child2 t-grand2 ch-t1");
    SET("Task", "part-of.owner:Practitioner.name=smith", "ch-t2 ch-t3");
    SET("Task", "part-of.owner:Practitioner.name=okafor", "t-child1 t-child2");
    SET("Task", "part-of.part-of.owner:Practitioner.name=smith", "ch-t4");
    /* several target types: each one defining the parameter */
    SET("Task", "owner.family=nguyen", "ch-t2 ch-t3");
    SET("Task", "owner:Patient.family=nguyen", "ch-t2");
    SET("Task", "owner:Practitioner.family=nguyen", "ch-t3");
    SET("Task", "owner.name=okafor", "t-root t-grand2 t-inprogress t-done1");
    SET("Task", "focus.status=active", "t-root t-child2 t-grand2 ch-t1");
    /* the last parameter keeps its modifiers and prefixes */
    SET("Task", "patient.birthdate=ge1980", "ch-t1 t-child1 t-grand1 t-ready");
    SET("Task", "patient.birthdate=lt1960", "ch-t2 ch-t3");
    SET("Task", "owner:Practitioner.name:exact=Smith", "ch-t1 ch-t4");
    SET("Task", "owner:Practitioner.name:exact=smith", "");
    SET("Task", "focus:ServiceRequest.status:not=active", "t-child1 ch-t2");
    SET("Task", "owner:Practitioner._id=ch-smith,p2",
        "ch-t1 ch-t4 t-child1 t-cancelled t-failed");
    /* with other conditions, sorted, paged, counted */
    SET("Task", "owner:Practitioner.name=smith&status=completed", "ch-t4");
    SET("Task", "owner:Practitioner.name=smith&owner:Practitioner.name=jane",
        "ch-t1 ch-t4");
    ORDER("Task", "focus:ServiceRequest.status=active&_sort=_id&_count=1",
          "ch-t1 t-child2 t-grand2 t-root");
    TOTAL("Task", "owner:Practitioner.name=smith&_total=accurate", 2);
    TOTAL("Task", "owner:Practitioner.name=smith&_summary=count", 2);
    TOTAL("Task", "focus.status=active&_count=1&_total=accurate", 4);
    DONE();
}

/* A Task deleted no longer makes its patient match: _has reads the
 * referring Task's index rows alone (search/plan.c), and a delete takes
 * them away. */
static void
search_chain__has_forgets_deleted(void **state)
{
    (void)state;
    static const struct res v[] = {
        {"Patient", "hd-p", "{'resourceType':'Patient','id':'hd-p'}"},
        {"Task", "hd-t",
         "{'resourceType':'Task','id':'hd-t','status':'requested',"
         "'intent':'order','for':{'reference':'Patient/hd-p'}}"},
    };
    assert_true(put_all(v, 2));
    SET("Patient", "_has:Task:patient:status=requested&_id=hd-p", "hd-p");
    SET("Patient", "_has:Task:patient:status:not=requested&_id=hd-p", "");
    th_resp *r = th_req(srv, "DELETE", "Task/hd-t", NULL, NULL);
    assert_int_equal(r->status, 200);
    th_free(r);
    SET("Patient", "_has:Task:patient:status=requested&_id=hd-p", "");
    SET("Patient", "_has:Task:patient:status:not=requested&_id=hd-p", "");
    delete_all(v, 1);
    DONE();
}

static void
search_chain__has(void **state)
{
    (void)state;
    assert_true(put_all(chain_res, NCHAIN));
    /* the issue's examples */
    SET("Patient", "_has:Task:patient:status=requested", "pt1 ch-nguyen");
    SET("Practitioner", "_has:Task:owner:business-status=awaiting-callback",
        "p1 ch-smith");
    /* Patients with a Task that has a ready subtask (R4 search.html#has:
     * each _has is about the resources of the one before) */
    SET("Patient", "_has:Task:patient:_has:Task:part-of:status=ready",
        "pt2 ch-nguyen");
    SET("Task", "_has:Task:part-of:status=ready", "t-child1 ch-t1");
    SET("Task", "_has:Task:part-of:_has:Task:part-of:status=completed",
        "ch-t1");
    SET("Patient", "_has:Task:owner:status=ready", "ch-nguyen");
    SET("ServiceRequest", "_has:Task:focus:status=requested",
        "sr1 ch-sr-active");
    SET("Patient",
        "_has:Task:patient:status=requested&"
        "_has:ServiceRequest:subject:status=active",
        "pt1 ch-nguyen");
    SET("Patient", "_has:Task:patient:status=requested&family=nguyen",
        "ch-nguyen");
    /* a chained parameter inside _has */
    SET("Practitioner",
        "_has:Task:owner:_has:Task:part-of:owner:Practitioner.name=nguyen",
        "ch-smith");
    ORDER("Patient",
          "_has:Task:patient:status=requested,ready&_sort=-_id&"
          "_count=1",
          "pt3 pt1 ch-old ch-nguyen");
    TOTAL("Patient", "_has:Task:patient:status=requested&_summary=count", 2);
    DONE();
}

static void
search_chain__errors(void **state)
{
    (void)state;
    const char *strict[] = {"Prefer: handling=strict", NULL};
    /* through a parameter that is no reference */
    ERR("Task", "status.name=x", 400, "status.name");
    ERR("Task", "authored-on.status=x", 400, "authored-on.status");
    /* the targets define the parameter with different types */
    ERR("Task", "focus.performer=x", 400, "focus.performer");
    ERR("Task", "owner:Encounter.name=x", 400, "owner:Encounter.name");
    /* deeper than the limits */
    ERR("Task", "part-of.part-of.part-of.part-of.status=ready", 400,
        "part-of.part-of.part-of.part-of.status");
    ERR("Patient",
        "_has:Task:patient:_has:Task:part-of:_has:Task:part-of:_has:Task:"
        "part-of:status=ready",
        400,
        "_has:Task:patient:_has:Task:part-of:_has:Task:part-of:_has:Task:"
        "part-of:status");
    /* _has through a parameter that cannot refer to the searched type */
    ERR("Patient", "_has:Task:part-of:status=ready", 400,
        "_has:Task:part-of:status");
    ERR("Patient", "_has:Task:status:status=ready", 400,
        "_has:Task:status:status");
    ERR("Patient", "_has:Task:patient=x", 400, "_has:Task:patient");
    /* the last parameter's value, modifier and prefix as usual */
    ERR("Task", "patient.birthdate=notadate", 400, "patient.birthdate");
    ERR("Task", "owner:Practitioner.name:below=x", 400,
        "owner:Practitioner.name");
    ERR("Patient", "_has:Task:patient:authored-on=xx2024", 400,
        "_has:Task:patient:authored-on");
    /* what cannot be searched here is ignored, or 400 under strict */
    th_resp *r = sget("Task", "owner:Organization.name=x&status=ready", NULL);
    assert_int_equal(r->status, 200);
    assert_true(outcome_names(r, "owner:Organization.name"));
    th_free(r);
    check_error(__LINE__, "Task", "owner:Organization.name=x", strict, 400,
                "owner:Organization.name");
    /* system searches take no chain or _has */
    r = sget("", "_type=Patient,Practitioner&_has:Task:owner:status=ready",
             NULL);
    assert_int_equal(r->status, 200);
    assert_true(outcome_names(r, "one type only"));
    th_free(r);
    check_error(__LINE__, "",
                "_type=Patient,Practitioner&_has:Task:owner:status=ready",
                strict, 400, "_has:Task:owner:status");
    DONE();
}

#define PG_TASK(id, status, owner)                                             \
    "{'resourceType':'Task','id':'" id "','status':'" status "',"              \
    "'intent':'order','owner':{'reference':'Practitioner/" owner "'}}"
#define PG_HAS_TASK(id, patient)                                               \
    "{'resourceType':'Task','id':'" id "','status':'requested',"               \
    "'intent':'order','for':{'reference':'Patient/" patient "'}}"
#define PG_PAT(id)                                                             \
    "{'resourceType':'Patient','id':'" id "','name':[{'family':'Haspaging'}]}"

static const struct res chain_pg[] = {
    {"Practitioner", "ch-pg-a",
     "{'resourceType':'Practitioner','id':'ch-pg-a',"
     "'name':[{'family':'Pagechain'}]}"},
    {"Practitioner", "ch-pg-b",
     "{'resourceType':'Practitioner','id':'ch-pg-b',"
     "'name':[{'family':'Otherchain'}]}"},
    {"Task", "ch-pg-0", PG_TASK("ch-pg-0", "ready", "ch-pg-a")},
    {"Task", "ch-pg-1", PG_TASK("ch-pg-1", "ready", "ch-pg-a")},
    {"Task", "ch-pg-2", PG_TASK("ch-pg-2", "ready", "ch-pg-a")},
    {"Task", "ch-pg-3", PG_TASK("ch-pg-3", "ready", "ch-pg-b")},
    {"Task", "ch-pg-4", PG_TASK("ch-pg-4", "ready", "ch-pg-a")},
    {"Patient", "ch-hp-1", PG_PAT("ch-hp-1")},
    {"Patient", "ch-hp-2", PG_PAT("ch-hp-2")},
    {"Patient", "ch-hp-3", PG_PAT("ch-hp-3")},
    {"Task", "ch-hpt-1", PG_HAS_TASK("ch-hpt-1", "ch-hp-1")},
    {"Task", "ch-hpt-3", PG_HAS_TASK("ch-hpt-3", "ch-hp-3")},
};
#define NCHAIN_PG (sizeof(chain_pg) / sizeof(chain_pg[0]))

/* The ids of the first page of GET path?params, space-separated, and
 * the next link in *next. */
static char *
first_page(const char *path, const char *params, char **next)
{
    ids got = {0};
    th_resp *r = sget(path, params, NULL);
    assert_int_equal(r->status, 200);
    page_ids(&got, r, next);
    th_free(r);
    return ids_take(&got);
}

/* The ids of the pages from `next` on. */
static char *
rest_pages(char *next)
{
    ids got = {0};
    for (int page = 0; next != NULL; page++) {
        assert_true(page < 50);
        th_resp *r = th_req(srv, "GET", next, NULL, NULL);
        free(next);
        assert_int_equal(r->status, 200);
        page_ids(&got, r, &next);
        th_free(r);
    }
    return ids_take(&got);
}

/* Stable paging with chains and _has: a resource changed after page 1
 * is judged as it was then (its own references then, whatever they are
 * now); resources written after it never appear. */
static void
search_paging__stable_chain(void **state)
{
    (void)state;
    static const struct res changes[] = {
        {"Task", "ch-pg-2", PG_TASK("ch-pg-2", "ready", "ch-pg-b")},
        {"Task", "ch-pg-3", PG_TASK("ch-pg-3", "ready", "ch-pg-a")},
        {"Task", "ch-pg-4", PG_TASK("ch-pg-4", "on-hold", "ch-pg-a")},
        {"Task", "ch-pg-5", PG_TASK("ch-pg-5", "ready", "ch-pg-a")},
        {"Patient", "ch-hp-2", PG_PAT("ch-hp-2")},
        {"Patient", "ch-hp-3", PG_PAT("ch-hp-3")},
    };
    char *next = NULL;
    assert_true(put_all(chain_pg, NCHAIN_PG));
    char *p1 = first_page(
        "Task", "owner:Practitioner.family=pagechain&_count=2", &next);
    assert_string_equal(p1, "ch-pg-0 ch-pg-1");
    assert_non_null(next);
    char *next_has = NULL;
    char *h1 = first_page("Patient",
                          "_has:Task:patient:status=requested&family=haspaging&"
                          "_count=1",
                          &next_has);
    assert_string_equal(h1, "ch-hp-1");
    assert_non_null(next_has);
    /* ch-pg-2 leaves Pagechain, ch-pg-3 joins, ch-pg-4 changes its
     * status, ch-pg-5 is new; ch-hp-2 and ch-hp-3 are written again */
    assert_true(put_all(changes, sizeof(changes) / sizeof(changes[0])));
    char *rest = rest_pages(next);
    assert_string_equal(rest, "ch-pg-2 ch-pg-4");
    char *has_rest = rest_pages(next_has);
    assert_string_equal(has_rest, "ch-hp-3");
    /* a new search sees the changes */
    SET("Task", "owner:Practitioner.family=pagechain",
        "ch-pg-0 ch-pg-1 ch-pg-3 ch-pg-4 ch-pg-5");
    free(p1);
    free(h1);
    free(rest);
    free(has_rest);
    th_resp *r = th_req(srv, "DELETE", "Task/ch-pg-5", NULL, NULL);
    assert_int_equal(r->status, 200);
    th_free(r);
    delete_all(chain_pg, NCHAIN_PG);
    delete_all(chain_res, NCHAIN);
    DONE();
}

/* ---- setup ----------------------------------------------------------- */

static int
setup(void **state)
{
    (void)state;
    srv = th_start(NULL);
    int ok = put_all(corpus, NCORPUS);
    CURL *c = curl_easy_init();
    for (int i = 1; i <= NBULK; i++) {
        char id[32], body[256];
        snprintf(id, sizeof(id), "bulk-%02d", i);
        snprintf(body, sizeof(body),
                 "{\"resourceType\":\"Practitioner\",\"id\":\"%s\","
                 "\"name\":[{\"family\":\"Bulkley\",\"given\":[\"N%d\"]}]}",
                 id, i);
        long st = put_json(c, "Practitioner", id, body);
        ok &= st == 200 || st == 201;
    }
    curl_easy_cleanup(c);
    return ok ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    th_stop(srv);
    return 0;
}

#define T(f) cmocka_unit_test_setup(f, reset_bad)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(search_token__code_and_system),
        T(search_token__not),
        T(search_token__missing),
        T(search_token__text),
        T(search_token__of_type),
        T(search_token__boolean),
        T(search_token__contact_point),
        T(search_token__gender),
        T(search_task__status),
        T(search_task__business_status),
        T(search_task__owner),
        T(search_task__performer),
        T(search_task__part_of),
        T(search_task__focus),
        T(search_string__starts_with_case_accent),
        T(search_string__exact),
        T(search_string__contains),
        T(search_string__human_name_any_part),
        T(search_string__address_any_part),
        T(search_date__eq_precision),
        T(search_date__prefixes_month),
        T(search_date__ge_precision),
        T(search_date__time_zones),
        T(search_date__period_targets),
        T(search_date__ap_loose),
        T(search_date__birthdate),
        T(search_reference__forms),
        T(search_reference__type_modifier),
        T(search_reference__missing),
        T(search_reference__identifier),
        T(search_reference__absolute_on_this_server),
        T(search_reference__absolute_with_base_url),
        T(search_reference__base_url_change_reindexes),
        T(search_uri__profile_source),
        T(search_common__id),
        T(search_common__last_updated),
        T(search_common__tag),
        T(search_combine__or_commas),
        T(search_combine__and_repeat),
        T(search_combine__escapes),
        T(search_result__bundle_shape),
        T(search_result__next_links),
        T(search_result__previous_link),
        T(search_result__count_default_20),
        T(search_result__total_modes),
        T(search_result__summary_count),
        T(search_result__summary_modes),
        T(search_result__elements),
        T(search_system__type_and_last_updated),
        T(search_sort__single_key),
        T(search_sort__descending),
        T(search_sort__multiple_keys),
        T(search_sort__concurrent_shapes),
        T(search_sort__ties_stable),
        T(search_sort__priority_rank),
        T(search_post__same_as_get),
        T(search_post__non_form_415),
        T(search_error__unknown_param_outcome),
        T(search_error__unknown_param_strict_400),
        T(search_error__malformed_date_400),
        T(search_error__unknown_modifier_400),
        T(search_error__unknown_prefix_400),
        T(search_error__bad_sort_400),
        T(search_error__bad_count_400),
        T(search_error__hostile_values),
        T(search_capability__search_params),
        /* these write: chains (which delete what they wrote), then
         * Practitioners, then Tasks (paging) last */
        T(search_chain__forward),
        T(search_chain__has),
        T(search_chain__has_forgets_deleted),
        T(search_chain__errors),
        T(search_paging__stable_chain),
        T(search_count__shared_param_per_type),
        T(search_count__missing_per_type),
        T(search_count__code_under_two_systems),
        T(search_result__count_capped_at_max),
        T(search_paging__stable_last_updated),
        T(search_paging__stable_authored_on),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
