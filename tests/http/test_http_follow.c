/* tests/http/test_http_follow.c - following references, checked against
 * a reference evaluation.
 *
 * The test generates a small clinic (practitioners, patients, service
 * requests, task trees), keeps it as a plain model in memory (each
 * resource with the values of its search parameters), writes it to a
 * real server, and then for every query compares the ids the server
 * returns - matches and included resources apart - with what a
 * straightforward walk over the model gives. The walk knows nothing of
 * SQL, plans or index tables: for each candidate it follows references
 * one by one, so the two implementations share no code.
 *
 * Supported by the walk: simple token/reference/string/_id parameters
 * with comma ORs, chains (`owner:Practitioner.name`, several levels, a
 * chain through several target types), `_has` (nested), `_include` and
 * `_revinclude` with `:iterate` and a target type.
 */
#include "tests/http/harness.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static th_server *srv;

/* ---- the model ------------------------------------------------------- */

#define MAXV 4
#define MAXP 10
#define MAXR 160

typedef struct pv {
    const char *name; /* search parameter code */
    char v[MAXV][48]; /* token "sys|code" or "code", ref "Type/id", text */
    int n;
} pv;

typedef struct res {
    const char *type;
    char id[32];
    pv p[MAXP];
    int np;
} res;

static res db[MAXR];
static int ndb;

static const char *const families[] = {"Smith",  "Nguyen", "Garcia",
                                       "Okafor", "Lee",    "Smithson"};
static const char *const statuses[] = {"requested", "ready", "in-progress",
                                       "completed"};
static const char *const bstatuses[] = {"awaiting-callback", "fax-sent",
                                        "scheduled"};

static uint64_t rng = 42;

static unsigned
rnd(unsigned n)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((rng >> 33) % n);
}

static res *
add(const char *type, const char *fmt, int k)
{
    res *r = &db[ndb++];
    memset(r, 0, sizeof(*r));
    r->type = type;
    snprintf(r->id, sizeof(r->id), fmt, k);
    return r;
}

static void
val(res *r, const char *name, const char *fmt, ...)
{
    pv *p = NULL;
    for (int i = 0; i < r->np; i++) {
        if (strcmp(r->p[i].name, name) == 0) {
            p = &r->p[i];
        }
    }
    if (p == NULL) {
        p = &r->p[r->np++];
        p->name = name;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->v[p->n++], sizeof(p->v[0]), fmt, ap);
    va_end(ap);
}

static const pv *
values(const res *r, const char *name)
{
    for (int i = 0; i < r->np; i++) {
        if (strcmp(r->p[i].name, name) == 0) {
            return &r->p[i];
        }
    }
    return NULL;
}

static res *
find(const char *ref)
{
    for (int i = 0; i < ndb; i++) {
        char me[64];
        snprintf(me, sizeof(me), "%s/%s", db[i].type, db[i].id);
        if (strcmp(me, ref) == 0) {
            return &db[i];
        }
    }
    return NULL;
}

/* The parameters each type defines, with their kind: t token, r
 * reference, s string. Only those the model uses. */
static const struct {
    const char *type, *name;
    char kind;
} params[] = {
    {"Practitioner", "name", 's'},
    {"Practitioner", "family", 's'},
    {"Patient", "name", 's'},
    {"Patient", "family", 's'},
    {"Patient", "identifier", 't'},
    {"ServiceRequest", "status", 't'},
    {"ServiceRequest", "subject", 'r'},
    {"ServiceRequest", "patient", 'r'},
    {"ServiceRequest", "performer", 'r'},
    {"Task", "status", 't'},
    {"Task", "business-status", 't'},
    {"Task", "owner", 'r'},
    {"Task", "patient", 'r'},
    {"Task", "subject", 'r'},
    {"Task", "focus", 'r'},
    {"Task", "part-of", 'r'},
};

static char
kind_of(const char *type, const char *name)
{
    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        if (strcmp(params[i].type, type) == 0 &&
            strcmp(params[i].name, name) == 0) {
            return params[i].kind;
        }
    }
    return 0;
}

/* ---- building the clinic ------------------------------------------------ */

#define NPRAC 6
#define NPAT 8
#define NSR 6
#define NTREE 5

static void
build_model(void)
{
    for (int k = 0; k < NPRAC; k++) {
        res *r = add("Practitioner", "fol-prac-%d", k);
        val(r, "name", "%s", families[k]);
        val(r, "family", "%s", families[k]);
    }
    for (int k = 0; k < NPAT; k++) {
        res *r = add("Patient", "fol-pat-%d", k);
        val(r, "identifier", "urn:mrn|m%d", k);
        val(r, "name", "%s", families[(k + 2) % 6]);
        val(r, "family", "%s", families[(k + 2) % 6]);
    }
    for (int k = 0; k < NSR; k++) {
        res *r = add("ServiceRequest", "fol-sr-%d", k);
        val(r, "status", "%s", k % 3 == 0 ? "completed" : "active");
        val(r, "subject", "Patient/fol-pat-%d", k % NPAT);
        val(r, "patient", "Patient/fol-pat-%d", k % NPAT);
        val(r, "performer", "Practitioner/fol-prac-%d", k % NPRAC);
    }
    /* Trees: a root, 2-3 children each, depth 4; about 60 tasks. */
    int n = 0;
    for (int t = 0; t < NTREE; t++) {
        int first = ndb, level_start = ndb, level_end;
        int pat = (int)rnd(NPAT), sr = (int)rnd(NSR);
        add("Task", "fol-t%d", n++);
        for (int depth = 1; depth < 4; depth++) {
            level_end = ndb;
            for (int p = level_start; p < level_end && ndb < MAXR - 4; p++) {
                int kids = 1 + (int)rnd(3);
                for (int c = 0; c < kids; c++) {
                    res *r = add("Task", "fol-t%d", n++);
                    val(r, "part-of", "Task/%s", db[p].id);
                }
            }
            level_start = level_end;
        }
        for (int i = first; i < ndb; i++) {
            res *r = &db[i];
            val(r, "status", "%s", statuses[rnd(4)]);
            val(r, "business-status", "%s", bstatuses[rnd(3)]);
            unsigned o = rnd(10);
            if (o < 6) {
                val(r, "owner", "Practitioner/fol-prac-%u", rnd(NPRAC));
            } else if (o < 8) {
                val(r, "owner", "Patient/fol-pat-%u", rnd(NPAT));
            }
            val(r, "patient", "Patient/fol-pat-%d", pat);
            val(r, "subject", "Patient/fol-pat-%d", pat);
            val(r, "focus", "ServiceRequest/fol-sr-%d", sr);
        }
    }
}

/* The model as FHIR JSON. */
static void
json_of(const res *r, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(
        out, cap, "{\"resourceType\":\"%s\",\"id\":\"%s\"", r->type, r->id);
#define V(name) (values(r, name) ? values(r, name)->v[0] : NULL)
    if (strcmp(r->type, "Practitioner") == 0 ||
        strcmp(r->type, "Patient") == 0) {
        n += (size_t)snprintf(out + n, cap - n,
                              ",\"name\":[{\"family\":\"%s\"}]", V("family"));
    }
    const char *ident = V("identifier");
    if (ident != NULL) {
        const char *bar = strchr(ident, '|');
        n += (size_t)snprintf(out + n, cap - n,
                              ",\"identifier\":[{\"system\":\"%.*s\","
                              "\"value\":\"%s\"}]",
                              (int)(bar - ident), ident, bar + 1);
    }
    if (strcmp(r->type, "ServiceRequest") == 0) {
        n += (size_t)snprintf(out + n, cap - n,
                              ",\"status\":\"%s\",\"intent\":\"order\","
                              "\"subject\":{\"reference\":\"%s\"},"
                              "\"performer\":[{\"reference\":\"%s\"}]",
                              V("status"), V("subject"), V("performer"));
    }
    if (strcmp(r->type, "Task") == 0) {
        n += (size_t)snprintf(
            out + n, cap - n,
            ",\"status\":\"%s\",\"intent\":\"order\",\"businessStatus\":{"
            "\"coding\":[{\"system\":\"http://example.org/bs\",\"code\":"
            "\"%s\"}]},\"for\":{\"reference\":\"%s\"},\"focus\":{"
            "\"reference\":\"%s\"}",
            V("status"), V("business-status"), V("patient"), V("focus"));
        if (V("owner") != NULL) {
            n += (size_t)snprintf(out + n, cap - n,
                                  ",\"owner\":{\"reference\":\"%s\"}",
                                  V("owner"));
        }
        if (V("part-of") != NULL) {
            n += (size_t)snprintf(out + n, cap - n,
                                  ",\"partOf\":[{\"reference\":\"%s\"}]",
                                  V("part-of"));
        }
    }
#undef V
    snprintf(out + n, cap - n, "}");
}

/* ---- the reference walk ------------------------------------------------ */

static int
ci_prefix(const char *s, const char *p)
{
    return strncasecmp(s, p, strlen(p)) == 0;
}

/* 1 when the simple parameter `name` of r has one of the ORed values. */
static int
simple(const res *r, const char *name, const char *value)
{
    char copy[256];
    snprintf(copy, sizeof(copy), "%s", value);
    char kind = strcmp(name, "_id") == 0 ? 'i' : kind_of(r->type, name);
    const pv *p = values(r, name);
    for (char *tok = strtok(copy, ","); tok != NULL; tok = strtok(NULL, ",")) {
        if (kind == 'i') {
            if (strcmp(r->id, tok) == 0) {
                return 1;
            }
            continue;
        }
        for (int i = 0; p != NULL && i < p->n; i++) {
            if ((kind == 's' && ci_prefix(p->v[i], tok)) ||
                (kind != 's' && strcmp(p->v[i], tok) == 0)) {
                return 1;
            }
        }
    }
    return 0;
}

static int holds(const res *r, const char *name, const char *value);

/* name is "T:ref:rest": some live T whose ref points at r satisfies rest. */
static int
has(const res *r, const char *name, const char *value)
{
    char type[32], ref[32];
    const char *c1 = strchr(name, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    snprintf(type, sizeof(type), "%.*s", (int)(c1 - name), name);
    snprintf(ref, sizeof(ref), "%.*s", (int)(c2 - c1 - 1), c1 + 1);
    char me[64];
    snprintf(me, sizeof(me), "%s/%s", r->type, r->id);
    for (int i = 0; i < ndb; i++) {
        const pv *p = values(&db[i], ref);
        if (strcmp(db[i].type, type) != 0 || p == NULL) {
            continue;
        }
        for (int k = 0; k < p->n; k++) {
            if (strcmp(p->v[k], me) == 0 && holds(&db[i], c2 + 1, value)) {
                return 1;
            }
        }
    }
    return 0;
}

/* The first segment of a chain and the rest: "owner:Practitioner" and
 * "name" from "owner:Practitioner.name". */
static int
holds(const res *r, const char *name, const char *value)
{
    if (strncmp(name, "_has:", 5) == 0) {
        return has(r, name + 5, value);
    }
    const char *dot = strchr(name, '.');
    if (dot == NULL) {
        return simple(r, name, value);
    }
    char seg[64], param[64], type[32] = "";
    snprintf(seg, sizeof(seg), "%.*s", (int)(dot - name), name);
    char *colon = strchr(seg, ':');
    snprintf(param, sizeof(param), "%.*s",
             colon ? (int)(colon - seg) : (int)strlen(seg), seg);
    if (colon != NULL) {
        snprintf(type, sizeof(type), "%s", colon + 1);
    }
    const pv *p = values(r, param);
    char next[64];
    snprintf(next, sizeof(next), "%s", dot + 1);
    char *c = strpbrk(next, ".:");
    if (c != NULL) {
        *c = '\0'; /* the chained parameter's own code */
    }
    for (int k = 0; p != NULL && k < p->n; k++) {
        const res *t = find(p->v[k]);
        if (t == NULL || (type[0] && strcmp(t->type, type) != 0) ||
            kind_of(t->type, next) == 0) {
            continue;
        }
        if (holds(t, dot + 1, value)) {
            return 1;
        }
    }
    return 0;
}

typedef struct idset {
    char v[MAXR * 2][64];
    int n;
} idset;

static int
idset_has(const idset *s, const char *x)
{
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->v[i], x) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
idset_add(idset *s, const char *x)
{
    if (!idset_has(s, x)) {
        snprintf(s->v[s->n++], sizeof(s->v[0]), "%s", x);
    }
}

typedef struct inc {
    int rev, iterate;
    char src[32], param[32], target[32];
} inc;

/* Expected matches and includes of `url`. */
static void
expect(const char *url, idset *match, idset *incl)
{
    char copy[1024], type[32];
    inc in[8];
    int nin = 0;
    snprintf(copy, sizeof(copy), "%s", url);
    char *q = strchr(copy, '?');
    *q++ = '\0';
    snprintf(type, sizeof(type), "%.31s", copy);
    char *pairs[16];
    int np = 0;
    for (char *t = strtok(q, "&"); t != NULL; t = strtok(NULL, "&")) {
        pairs[np++] = t;
    }
    match->n = incl->n = 0;
    for (int i = 0; i < ndb; i++) {
        if (strcmp(db[i].type, type) != 0) {
            continue;
        }
        int ok = 1;
        for (int k = 0; k < np && ok; k++) {
            char *eq = strchr(pairs[k], '=');
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)(eq - pairs[k]),
                     pairs[k]);
            if (strncmp(name, "_include", 8) == 0 ||
                strncmp(name, "_revinclude", 11) == 0 ||
                strcmp(name, "_count") == 0) {
                continue;
            }
            ok = holds(&db[i], name, eq + 1);
        }
        if (ok) {
            char me[64];
            snprintf(me, sizeof(me), "%s/%s", db[i].type, db[i].id);
            idset_add(match, me);
        }
    }
    for (int k = 0; k < np; k++) {
        char *eq = strchr(pairs[k], '=');
        int rev = strncmp(pairs[k], "_revinclude", 11) == 0;
        if (!rev && strncmp(pairs[k], "_include", 8) != 0) {
            continue;
        }
        inc *x = &in[nin++];
        memset(x, 0, sizeof(*x));
        x->rev = rev;
        x->iterate = strstr(pairs[k], ":iterate") != NULL &&
                     strstr(pairs[k], ":iterate") < eq;
        sscanf(eq + 1, "%31[^:]:%31[^:]:%31s", x->src, x->param, x->target);
    }
    /* Rounds from the matches; :iterate ones again from what came in. */
    idset front = *match, seen = *match;
    for (int round = 0; front.n > 0; round++) {
        idset next = {.n = 0};
        for (int k = 0; k < nin; k++) {
            if (round > 0 && !in[k].iterate) {
                continue;
            }
            for (int f = 0; f < front.n; f++) {
                const res *r = find(front.v[f]);
                if (!in[k].rev) {
                    const pv *p = strcmp(r->type, in[k].src) == 0
                                      ? values(r, in[k].param)
                                      : NULL;
                    for (int v = 0; p != NULL && v < p->n; v++) {
                        const res *t = find(p->v[v]);
                        if (t != NULL &&
                            (!in[k].target[0] ||
                             strcmp(t->type, in[k].target) == 0) &&
                            !idset_has(&seen, p->v[v])) {
                            idset_add(&seen, p->v[v]);
                            idset_add(&next, p->v[v]);
                            idset_add(incl, p->v[v]);
                        }
                    }
                    continue;
                }
                for (int i = 0; i < ndb; i++) {
                    const pv *p = strcmp(db[i].type, in[k].src) == 0
                                      ? values(&db[i], in[k].param)
                                      : NULL;
                    char me[64];
                    snprintf(me, sizeof(me), "%s/%s", db[i].type, db[i].id);
                    for (int v = 0; p != NULL && v < p->n; v++) {
                        if (strcmp(p->v[v], front.v[f]) == 0 &&
                            !idset_has(&seen, me)) {
                            idset_add(&seen, me);
                            idset_add(&next, me);
                            idset_add(incl, me);
                        }
                    }
                }
            }
        }
        front = next;
    }
}

/* ---- the queries ------------------------------------------------------ */

static char *queries[128];
static int nqueries;

static void
query(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    queries[nqueries++] = strdup(buf);
}

static void
make_queries(int chains)
{
    /* _include and _revinclude, with :iterate over the trees. */
    for (int s = 0; s < 4; s++) {
        query("Task?status=%s&_include=Task:owner&_include=Task:patient",
              statuses[s]);
    }
    query("Task?business-status=fax-sent&_include=Task:owner:Practitioner");
    query("Task?business-status=scheduled&_include=Task:owner:Patient"
          "&_include=Task:focus");
    for (int t = 0; t < ndb; t++) {
        if (strcmp(db[t].type, "Task") == 0 &&
            values(&db[t], "part-of") == NULL) {
            query("Task?_id=%s&_revinclude:iterate=Task:part-of", db[t].id);
            query("Task?part-of=Task/%s&_include:iterate=Task:part-of"
                  "&_include=Task:focus",
                  db[t].id);
        }
    }
    for (int k = 0; k < NSR; k += 2) {
        query("ServiceRequest?_id=fol-sr-%d&_revinclude=Task:focus"
              "&_revinclude:iterate=Task:part-of",
              k);
    }
    query("Patient?_id=fol-pat-1,fol-pat-2&_revinclude=Task:patient");
    query("Practitioner?_revinclude=Task:owner");
    query("Task?owner=Practitioner/fol-prac-2&_include=Task:part-of"
          "&_revinclude=Task:part-of");
    if (!chains) {
        return;
    }
    /* Chains. */
    for (int f = 0; f < 6; f++) {
        query("Task?owner:Practitioner.name=%s", families[f]);
        query("Task?owner.family=%s", families[f]);
    }
    for (int k = 0; k < NPAT; k += 2) {
        query("Task?patient.identifier=urn:mrn|m%d", k);
    }
    query("Task?focus:ServiceRequest.status=active");
    query("Task?focus:ServiceRequest.status=completed&status=requested");
    query("Task?part-of.owner:Practitioner.name=smith");
    query("Task?part-of.owner:Practitioner.name=nguyen,garcia");
    query("Task?part-of.part-of.status=requested");
    query("Task?focus:ServiceRequest.subject:Patient.identifier=urn:mrn|m3");
    query("ServiceRequest?subject:Patient.name=lee");
    /* _has, nested too. */
    for (int s = 0; s < 4; s++) {
        query("Patient?_has:Task:patient:status=%s", statuses[s]);
    }
    for (int b = 0; b < 3; b++) {
        query("Practitioner?_has:Task:owner:business-status=%s", bstatuses[b]);
    }
    query("Patient?_has:Task:patient:_has:Task:part-of:status=ready");
    query("ServiceRequest?_has:Task:focus:status=completed");
    query("Task?_has:Task:part-of:status=ready");
    /* Mixed with includes. */
    query("Patient?_has:Task:patient:status=requested"
          "&_revinclude=Task:patient");
    query("Task?owner:Practitioner.name=smith&_include=Task:owner");
    query("Task?status=requested&patient.identifier=urn:mrn|m1,urn:mrn|m2"
          "&_include=Task:patient");
    query("Practitioner?_has:Task:owner:status=ready"
          "&_revinclude:iterate=Task:owner");
}

/* ---- the comparison ------------------------------------------------- */

static void
check(const char *url)
{
    idset want_m, want_i, got_m = {.n = 0}, got_i = {.n = 0};
    expect(url, &want_m, &want_i);
    char full[600];
    snprintf(full, sizeof(full), "%s&_count=1000", url);
    th_resp *r = th_req(srv, "GET", full, NULL, NULL);
    if (r->status != 200) {
        fail_msg("%s: %ld %s", url, r->status, r->body);
    }
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->json, "entry"))
    {
        const char *mode = th_str(e, "search.mode");
        char me[64];
        snprintf(me, sizeof(me), "%s/%s", th_str(e, "resource.resourceType"),
                 th_str(e, "resource.id"));
        if (strcmp(mode, "outcome") == 0) {
            fail_msg("%s: unexpected OperationOutcome %s", url, r->body);
        }
        idset *into = strcmp(mode, "match") == 0 ? &got_m : &got_i;
        if (idset_has(into, me)) {
            fail_msg("%s: %s twice", url, me);
        }
        idset_add(into, me);
    }
    int ok = got_m.n == want_m.n && got_i.n == want_i.n;
    for (int i = 0; ok && i < want_m.n; i++) {
        ok = idset_has(&got_m, want_m.v[i]);
    }
    for (int i = 0; ok && i < want_i.n; i++) {
        ok = idset_has(&got_i, want_i.v[i]);
    }
    cJSON *total = cJSON_GetObjectItem(r->json, "total");
    if (!ok || (total != NULL && total->valueint != want_m.n)) {
        fprintf(stderr, "%s\n  want %d matches, %d included; got %d, %d\n", url,
                want_m.n, want_i.n, got_m.n, got_i.n);
        for (int i = 0; i < want_m.n; i++) {
            if (!idset_has(&got_m, want_m.v[i])) {
                fprintf(stderr, "  missing match %s\n", want_m.v[i]);
            }
        }
        for (int i = 0; i < got_m.n; i++) {
            if (!idset_has(&want_m, got_m.v[i])) {
                fprintf(stderr, "  extra match %s\n", got_m.v[i]);
            }
        }
        for (int i = 0; i < want_i.n; i++) {
            if (!idset_has(&got_i, want_i.v[i])) {
                fprintf(stderr, "  missing include %s\n", want_i.v[i]);
            }
        }
        for (int i = 0; i < got_i.n; i++) {
            if (!idset_has(&want_i, got_i.v[i])) {
                fprintf(stderr, "  extra include %s\n", got_i.v[i]);
            }
        }
        fail_msg("%s: the server and the reference walk disagree", url);
    }
    th_free(r);
}

/* The same matches one page at a time (small pages change how the
 * planner finds a _has: by scanning the type rather than walking the
 * referring resources). */
static void
check_paged(const char *url)
{
    idset want_m, want_i, got = {.n = 0};
    expect(url, &want_m, &want_i);
    char next[1024];
    snprintf(next, sizeof(next), "%s&_count=1", url);
    int pages = 0;
    while (next[0] != '\0' && pages <= want_m.n + 1) {
        th_resp *r = th_req(srv, "GET", next, NULL, NULL);
        if (r->status != 200) {
            fail_msg("%s: %ld %s", next, r->status, r->body);
        }
        cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->json, "entry"))
        {
            if (strcmp(th_str(e, "search.mode"), "match") != 0) {
                continue;
            }
            char me[64];
            snprintf(me, sizeof(me), "%s/%s",
                     th_str(e, "resource.resourceType"),
                     th_str(e, "resource.id"));
            if (idset_has(&got, me)) {
                fail_msg("%s: %s on two pages", url, me);
            }
            idset_add(&got, me);
        }
        next[0] = '\0';
        cJSON *l;
        cJSON_ArrayForEach(l, cJSON_GetObjectItem(r->json, "link"))
        {
            if (strcmp(th_str(l, "relation"), "next") == 0) {
                snprintf(next, sizeof(next), "%s", th_str(l, "url"));
            }
        }
        th_free(r);
        pages++;
    }
    int ok = got.n == want_m.n;
    for (int i = 0; ok && i < want_m.n; i++) {
        ok = idset_has(&got, want_m.v[i]);
    }
    if (!ok) {
        fail_msg("%s: paged one by one, %d matches; the walk finds %d", url,
                 got.n, want_m.n);
    }
}

static void
follow__small_pages_agree(void **state)
{
    (void)state;
    int n = 0;
    for (int i = 0; i < nqueries; i++) {
        if (strstr(queries[i], "_has:") != NULL) {
            check_paged(queries[i]);
            n++;
        }
    }
    assert_true(n >= 10);
}

static void
follow__server_agrees_with_reference_walk(void **state)
{
    (void)state;
    int nonempty = 0;
    for (int i = 0; i < nqueries; i++) {
        idset m, in;
        expect(queries[i], &m, &in);
        nonempty += m.n > 0;
        check(queries[i]);
    }
    /* The corpus must exercise something: most queries find resources. */
    assert_true(nqueries >= 50);
    assert_true(nonempty * 4 >= nqueries * 3);
    fprintf(stderr, "follow: %d queries, %d with matches\n", nqueries,
            nonempty);
}

static int
setup(void **state)
{
    (void)state;
    char body[2048], url[128];
    srv = th_start(NULL);
    build_model();
    for (int i = 0; i < ndb; i++) {
        json_of(&db[i], body, sizeof(body));
        snprintf(url, sizeof(url), "%s/%s", db[i].type, db[i].id);
        th_resp *r = th_req(srv, "PUT", url, body, NULL);
        if (r->status != 201) {
            fprintf(stderr, "PUT %s: %ld %s\n", url, r->status, r->body);
            exit(1);
        }
        th_free(r);
    }
    make_queries(1);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    th_stop(srv);
    for (int i = 0; i < nqueries; i++) {
        free(queries[i]);
    }
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(follow__server_agrees_with_reference_walk),
        cmocka_unit_test(follow__small_pages_agree),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
