/* tests/fuzz/fuzz_ref.c - fuzz target for Reference.reference parsing:
 * fhir_ref_parse() (fhir/text.c), the "<base>/Type/id" to "Type/id"
 * mapping search uses for references to this server (search__ref_local,
 * search/index.c) and FHIRPath resolve() built on them (fhir/fhirpath.c).
 *
 * Beyond memory safety it asserts that what the parser returns is what
 * the input says: a relative reference is exactly Type/id or
 * Type/id/_history/vid with a valid type and ids; an absolute one is a
 * base URL followed by such a relative reference; a contained one is "#"
 * and its id; urn:uuid and urn:oid references are recognised only with
 * those schemes; every other kind leaves the output zeroed. A reference
 * under this server's base maps to the Type/id it names, and resolve()
 * names the same type when it resolves at all.
 */
#include "tests/fuzz/fuzz.h"
#include "search/search.h"
#include "search/search_int.h"
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
zeroed(const fhir_ref *r)
{
    return r->type[0] == '\0' && r->id[0] == '\0' && r->version[0] == '\0' &&
           r->base_len == 0;
}

static int
type_ok(const char *t)
{
    if (t[0] < 'A' || t[0] > 'Z') {
        return 0;
    }
    for (const char *p = t; *p != '\0'; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) {
            return 0;
        }
    }
    return 1;
}

/* 1 when s is exactly ref's Type/id[/_history/vid]. */
static int
spells_relative(const char *s, const fhir_ref *ref, fhir_arena *a)
{
    const char *want = ref->version[0]
                           ? fhir_arena_printf(a, "%s/%s/_history/%s",
                                               ref->type, ref->id, ref->version)
                           : fhir_arena_printf(a, "%s/%s", ref->type, ref->id);
    return strcmp(s, want) == 0 && type_ok(ref->type) &&
           fhir_id_valid(ref->id) &&
           (ref->version[0] == '\0' || fhir_id_valid(ref->version));
}

/* resolve() names the type of a relative or absolute reference. */
static void
check_resolve(const char *s, const fhir_ref *ref)
{
    static fhir_path *path;
    fhir_err err = FHIR_ERR_INIT;
    fhir_path_result res = {NULL, 0, 0};
    if (path == NULL &&
        fhir_path_compile(&path, "Task.for.resolve()", &err) != 0) {
        fuzz_fail("resolve(): %s", err.diag);
    }
    cJSON *task = cJSON_CreateObject();
    cJSON_AddStringToObject(task, "resourceType", "Task");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(task, "for"), "reference",
                            s);
    fhir_path_eval(&res, path, task);
    int named =
        ref->kind == FHIR_REF_RELATIVE || ref->kind == FHIR_REF_ABSOLUTE;
    /* Only types of the definitions resolve; those are named as written. */
    if (res.n > 1 ||
        (res.n == 1 && (!named || res.items[0].type == NULL ||
                        strcmp(res.items[0].type, ref->type) != 0))) {
        fuzz_fail("resolve() of '%s' does not name %s", s, ref->type);
    }
    fhir_path_result_clear(&res);
    cJSON_Delete(task);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) {
        return 0;
    }
    srv_server *srv = fuzz_server();
    fhir_arena *a = fhir_arena_new();
    char *s = fuzz_cstr(data, size);
    fhir_ref ref, again;
    fhir_ref_kind k = fhir_ref_parse(&ref, s);
    if (k != ref.kind || fhir_ref_parse(&again, s) != k ||
        memcmp(&ref, &again, sizeof(ref)) != 0) {
        fuzz_fail("'%s' parses differently twice", s);
    }
    switch (k) {
    case FHIR_REF_RELATIVE:
        if (!spells_relative(s, &ref, a)) {
            fuzz_fail("'%s' is not the relative reference %s/%s (%s)", s,
                      ref.type, ref.id, ref.version);
        }
        break;
    case FHIR_REF_ABSOLUTE:
        if (!(strncasecmp(s, "http://", 7) == 0 ||
              strncasecmp(s, "https://", 8) == 0) ||
            ref.base_len < 8 || ref.base_len >= strlen(s) ||
            s[ref.base_len] != '/' ||
            !spells_relative(s + ref.base_len + 1, &ref, a)) {
            fuzz_fail("'%s' is not an absolute reference to %s/%s", s, ref.type,
                      ref.id);
        }
        break;
    case FHIR_REF_CONTAINED:
        if (s[0] != '#' || strcmp(s + 1, ref.id) != 0 ||
            !fhir_id_valid(ref.id) || ref.type[0] != '\0' ||
            ref.version[0] != '\0' || ref.base_len != 0) {
            fuzz_fail("'%s' is not a contained reference to #%s", s, ref.id);
        }
        break;
    case FHIR_REF_URN:
        if (!zeroed(&ref) || (strncasecmp(s, "urn:uuid:", 9) != 0 &&
                              strncasecmp(s, "urn:oid:", 8) != 0)) {
            fuzz_fail("'%s' is not a urn reference", s);
        }
        break;
    case FHIR_REF_URL:
    case FHIR_REF_INVALID:
        if (!zeroed(&ref)) {
            fuzz_fail("'%s' (kind %d) left parts behind", s, (int)k);
        }
        break;
    default:
        fuzz_fail("'%s': unknown kind %d", s, (int)k);
    }
    /* A reference to this server reads as the Type/id it names. */
    const char *local = search__ref_local(srv->search, s, a);
    if (local != NULL) {
        fhir_ref rest;
        size_t bl = strlen(FUZZ_BASE);
        if (strncasecmp(s, FUZZ_BASE, bl) != 0 || s[bl] != '/' ||
            fhir_ref_parse(&rest, s + bl + 1) != FHIR_REF_RELATIVE ||
            strcmp(local, fhir_arena_printf(a, "%s/%s", rest.type, rest.id)) !=
                0) {
            fuzz_fail("'%s' maps to %s", s, local);
        }
    }
    check_resolve(s, &ref);
    free(s);
    fhir_arena_free(a);
    return 0;
}
