/* server/index.c - joins search/ and store/: numbering the search
 * parameters, keeping the index in step with the definitions, and the
 * rows of each write.
 *
 * The store remembers a signature of the indexed definitions (keys,
 * types, expressions, numbers). When the definitions directory changes -
 * a new SearchParameter, an edited expression - the signature differs and
 * every resource is reindexed at start-up, so the index never silently
 * disagrees with the definitions.
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
    for (; s != NULL && *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h ^ 0xff; /* separator */
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

int
srv__search_setup(srv_server *s, const char *defs, int force, fhir_err *err)
{
    uint64_t h = 14695981039346656037ull;
    char sig[32], *old = NULL, *needed = NULL;
    int rc = -1;

    if (search_registry_load(&s->search, defs, err) != 0) {
        return -1;
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
        snprintf(nbuf, sizeof(nbuf), "%d:%d", num, (int)search_param_type(p));
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
