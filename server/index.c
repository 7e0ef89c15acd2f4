/* server/index.c - joins search/ and store/: numbering the search
 * parameters, keeping the index in step with the definitions, and the
 * rows of each write.
 *
 * The store remembers a signature of the indexed definitions (keys,
 * types, expressions, numbers). When the definitions directory changes -
 * a new SearchParameter, an edited expression - the signature differs and
 * every resource is reindexed at start-up, so the index never silently
 * disagrees with the definitions.
 *
 * Reference rows also depend on this server's base URLs: a reference
 * "<base>/Type/id" to this server is indexed as "Type/id" (search/index.c).
 * Rows are written without a request, so the bases are the ones known
 * without one: --base-url alone when it is set; otherwise
 * http://HOST:PORT/fhir for the listening address, where HOST is
 * 127.0.0.1 and localhost when listening there or on 0.0.0.0 (or [::1]
 * and localhost for ::1 and ::), else the --listen address itself. A
 * Host header naming the server otherwise (a DNS name, a proxy) is this
 * server only for the request's own search values (search/plan.c). The
 * On port 80 the forms without ":80" count too. The bases are part of
 * the signature, so a new --base-url or port reindexes. With --port 0 the
 * port is known only once bound, after the index check: those bases apply
 * to what the run writes but are not in the signature (the next run has
 * another port anyway).
 */
#include "server/server.h"
#include "server/server_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a, enough to notice a change (not a security boundary). */
static uint64_t
fnv(uint64_t h, const char *s)
{
    return fhir_hash(h, s ? s : "", s ? strlen(s) : 0) ^ 0xff; /* separator */
}

static void
rows_of_body(void *ctx, int type, const char *body, size_t len, fhir_rows *out,
             fhir_arena *a)
{
    srv_server *s = ctx;
    cJSON *res = NULL;
    fhir_json_opts jo = {512, 0};
    fhir_err err = FHIR_ERR_INIT;
    if (fhir_json_parse(&res, body, len, &jo, &err) == 0) {
        search_index(out, s->search, type, res, a);
        cJSON_Delete(res);
    }
}

#define MAX_BASES 4

/* This server's base URLs as far as they are known without a request
 * (see the top of the file) into out, written in buf unless configured;
 * returns how many. None for port 0, which is not bound yet. */
static size_t
own_bases(const char **out, char (*buf)[96], const srv_config *cfg, int port)
{
    const char *l = cfg->listen ? cfg->listen : "";
    const char *hosts[2];
    char host[64];
    size_t nh = 0, n = 0;

    if (cfg->base_url != NULL && cfg->base_url[0] != '\0') {
        out[n++] = cfg->base_url;
        return n;
    }
    if (port <= 0) {
        return 0;
    }
    if (l[0] == '\0' || strcmp(l, "0.0.0.0") == 0 ||
        strcmp(l, "127.0.0.1") == 0) {
        hosts[nh++] = "127.0.0.1";
        hosts[nh++] = "localhost";
    } else if (strcmp(l, "::") == 0 || strcmp(l, "::1") == 0) {
        hosts[nh++] = "[::1]";
        hosts[nh++] = "localhost";
    } else {
        int v6 = strchr(l, ':') != NULL;
        snprintf(host, sizeof(host), "%s%s%s", v6 ? "[" : "", l, v6 ? "]" : "");
        hosts[nh++] = host;
    }
    for (size_t i = 0; i < nh; i++) {
        snprintf(buf[n], sizeof(buf[n]), "http://%s:%d" SRV_BASE_PATH, hosts[i],
                 port);
        out[n] = buf[n];
        n++;
        if (port == 80) { /* RFC 9110 section 4.2.1: the default port */
            snprintf(buf[n], sizeof(buf[n]), "http://%s" SRV_BASE_PATH,
                     hosts[i]);
            out[n] = buf[n];
            n++;
        }
    }
    return n;
}

void
srv__search_bound(srv_server *s)
{
    const char *bases[MAX_BASES];
    char buf[MAX_BASES][96];
    if (s->cfg.port == 0) {
        size_t n = own_bases(bases, buf, &s->cfg, s->port);
        search_registry_set_bases(s->search, bases, n);
    }
}

/* 1 when expr is a plain "Type.element" path. */
static int
simple_path(const char *expr)
{
    const char *p = expr;
    int dots = 0;
    if (expr == NULL || !isupper((unsigned char)*p)) {
        return 0;
    }
    for (; *p != '\0'; p++) {
        if (*p == '.') {
            dots++;
        } else if (!isalpha((unsigned char)*p)) {
            return 0;
        }
    }
    return dots == 1;
}

/* Token parameters bound to a ranked value set sort by rank. */
static void
rank_order(srv_server *s, size_t i, const search_param *p)
{
    const char *const *codes = NULL;
    size_t n;
    if (s->prof == NULL || search_param_type(p) != SEARCH_TYPE_TOKEN ||
        !simple_path(search_param_expression(p))) {
        return;
    }
    n = prof_binding_order(s->prof, search_param_expression(p), &codes);
    if (n > 0) {
        search_param_set_order(s->search, i, codes, n);
    }
}

/* 1 when token parameter p's values are identifiers or telecoms: every
 * path of its expression ("A.x | B.y.where(...)") whose element the
 * definitions know is of type Identifier or ContactPoint, and one is.
 * Such values are nearly one per resource; no counts are kept of them. */
static int
values_unique_kind(const srv_server *s, const search_param *p)
{
    const char *e = search_param_expression(p);
    int known = 0;
    if (s->prof == NULL || search_param_type(p) != SEARCH_TYPE_TOKEN ||
        e == NULL) {
        return 0;
    }
    while (*e != '\0') {
        char path[128];
        size_t n = strcspn(e, "|");
        while (n > 0 && isspace((unsigned char)e[n - 1])) {
            n--;
        }
        const char *where = strstr(e, ".where(");
        if (where != NULL && (size_t)(where - e) < n) {
            n = (size_t)(where - e); /* a filter keeps the type */
        }
        if (n >= sizeof(path)) {
            return 0;
        }
        memcpy(path, e, n);
        path[n] = '\0';
        if (!simple_path(path)) {
            return 0;
        }
        const char *t = prof_element_type(s->prof, path);
        if (t != NULL) {
            if (strcmp(t, "Identifier") != 0 &&
                strcmp(t, "ContactPoint") != 0) {
                return 0;
            }
            known = 1;
        }
        e += strcspn(e, "|");
        e += *e == '|';
        while (isspace((unsigned char)*e)) {
            e++;
        }
    }
    return known;
}

int
srv__search_setup(srv_server *s, const char *defs, int force, fhir_err *err)
{
    uint64_t h = FHIR_HASH_SEED;
    char sig[32], *old = NULL, *needed = NULL;
    const char *bases[MAX_BASES];
    char buf[MAX_BASES][96];
    size_t nbases;
    int rc = -1;

    if (search_registry_load(&s->search, defs, err) != 0) {
        return -1;
    }
    nbases = own_bases(bases, buf, &s->cfg, s->cfg.port);
    search_registry_set_bases(s->search, bases, nbases);
    h = fnv(h, "bases");
    for (size_t i = 0; i < nbases; i++) {
        h = fnv(h, bases[i]);
    }
    for (size_t i = 0; i < search_registry_count(s->search); i++) {
        const search_param *p = search_registry_at(s->search, i);
        int num;
        char nbuf[16];
        if (!search_param_indexed(p)) {
            continue;
        }
        if (store_param_num(&num, s->env, search_param_key(p), err) != 0) {
            return -1;
        }
        search_param_set_num(s->search, i, num);
        rank_order(s, i, p);
        /* In the signature: a database counted otherwise is reindexed. */
        int uncounted = values_unique_kind(s, p);
        if (uncounted) {
            search_param_set_uncounted(s->search, i);
            store_param_uncounted(s->env, num);
        }
        snprintf(nbuf, sizeof(nbuf), "%d:%d%s", num, (int)search_param_type(p),
                 uncounted ? "u" : "");
        h = fnv(fnv(fnv(h, search_param_key(p)), nbuf),
                search_param_expression(p));
    }
    snprintf(sig, sizeof(sig), "%016llx", (unsigned long long)h);
    if (store_setting_get(&old, s->env, "index_signature", err) != 0 ||
        store_setting_get(&needed, s->env, "reindex", err) != 0) {
        goto done;
    }
    if (force || needed != NULL || (old != NULL && strcmp(old, sig) != 0) ||
        (old == NULL && !store_env_is_empty(s->env))) {
        int64_t n = 0;
        fprintf(stderr, "fhir-server: rebuilding the search index...\n");
        if (store_reindex(s->env, rows_of_body, s, &n, err) != 0) {
            goto done;
        }
        fprintf(stderr, "fhir-server: reindexed %lld resources\n",
                (long long)n);
    }
    if (old == NULL || strcmp(old, sig) != 0) {
        if (store_setting_set(s->env, "index_signature", sig, err) != 0) {
            goto done;
        }
    }
    rc = 0;
done:
    free(old);
    free(needed);
    return rc;
}

void
srv__index(srv_server *s, int type, const cJSON *res, fhir_rows *out,
           fhir_arena *a)
{
    search_index(out, s->search, type, res, a);
}
