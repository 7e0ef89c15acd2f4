/* tests/fuzz/fuzz_patch.c - fuzz target for JSON Patch and FHIRPath Patch
 * (fhir/patch.c, with the FHIRPath subset of fhir/fhirpath.c) applied to a
 * resource, as PATCH does (server/rest.c: patch_resource).
 *
 * Input: an optional resource, a NUL byte, then the patch document; with
 * no NUL the whole input is the patch and the resource a fixed Task. A
 * document starting with '[' is a JSON Patch, anything else a FHIRPath
 * Patch Parameters resource. Besides memory safety and leaks it asserts
 * the promises of fhir.h: a failed patch leaves the resource byte for byte
 * as it was and says why as invalid, not-supported, processing or
 * too-long; the
 * patch document is never modified; a patched resource can be written and
 * read back unchanged; and the validator can judge it.
 */
#include "tests/fuzz/fuzz.h"
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

static const char default_task[] =
    "{\"resourceType\":\"Task\",\"id\":\"t1\",\"meta\":{\"versionId\":\"3\","
    "\"lastUpdated\":\"2026-11-20T09:20:00Z\"},\"identifier\":[{\"system\":"
    "\"http://clinic.example.org/task\",\"value\":\"T-1\"}],\"status\":"
    "\"requested\",\"businessStatus\":{\"text\":\"awaiting callback\"},"
    "\"intent\":\"order\",\"priority\":\"routine\",\"description\":\"Call "
    "back\",\"focus\":{\"reference\":\"ServiceRequest/sr1\"},\"for\":{"
    "\"reference\":\"Patient/p1\"},\"authoredOn\":\"2026-11-20T09:20:00Z\","
    "\"performerType\":[{\"coding\":[{\"system\":\"http://snomed.info/sct\","
    "\"code\":\"224535009\"}]}],\"owner\":{\"reference\":\"Practitioner/"
    "d1\"},\"note\":[{\"text\":\"one\"},{\"text\":\"two\"}],\"input\":[{"
    "\"type\":{\"text\":\"a\"},\"valueString\":\"x\"},{\"type\":{\"text\":"
    "\"b\"},\"valueInteger\":2}],\"restriction\":{\"repetitions\":1}}";

static unsigned
patch_elem(void *ctx, const char *path, const char *name)
{
    return prof_element_flags(ctx, path, name);
}

static void
write_json(fhir_buf *b, const cJSON *item)
{
    fhir_buf_clear(b);
    fhir_json_write(b, item, 0);
}

static int
same(const fhir_buf *x, const fhir_buf *y)
{
    return x->len == y->len && memcmp(x->data, y->data, x->len) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    srv_server *srv = fuzz_server();
    const char *text = (const char *)data;
    const char *nul = memchr(data, '\0', size);
    const char *rtext = default_task, *ptext = text;
    size_t rlen = sizeof(default_task) - 1, plen = size;
    fhir_json_opts ro = {512, 0}; /* as patch_resource reads the stored body */
    fhir_json_opts po = FHIR_JSON_OPTS_INIT;
    fhir_err err = FHIR_ERR_INIT;
    fhir_buf before = FHIR_BUF_INIT, after = FHIR_BUF_INIT;
    fhir_buf doc_before = FHIR_BUF_INIT, doc_after = FHIR_BUF_INIT;
    cJSON *res = NULL, *doc = NULL;
    if (size > 256 * 1024) {
        return 0;
    }
    if (nul != NULL) {
        rtext = text;
        rlen = (size_t)(nul - text);
        ptext = nul + 1;
        plen = size - rlen - 1;
    }
    size_t lead = 0;
    while (lead < plen && (ptext[lead] == ' ' || ptext[lead] == '\n')) {
        lead++;
    }
    int json_patch = lead < plen && ptext[lead] == '[';
    po.fhir_rules = !json_patch; /* as srv__read_patch reads them */
    if (fhir_json_parse(&res, rtext, rlen, &ro, &err) != 0 ||
        !cJSON_IsObject(res) ||
        fhir_json_parse(&doc, ptext, plen, &po, &err) != 0 ||
        (json_patch ? !cJSON_IsArray(doc) : !cJSON_IsObject(doc))) {
        goto done;
    }
    write_json(&before, res);
    write_json(&doc_before, doc);
    fhir_patch_schema schema = {patch_elem, srv->prof};
    int rc = json_patch ? fhir_patch_json(res, doc, &err)
                        : fhir_patch_fhirpath(res, doc, &schema, &err);
    write_json(&doc_after, doc);
    if (!same(&doc_before, &doc_after)) {
        fuzz_fail("the patch document changed while applied");
    }
    write_json(&after, res);
    if (rc != 0) {
        if (!same(&before, &after)) {
            fuzz_fail("a failed patch (%s) changed the resource:\n%s\n%s",
                      err.diag, before.data, after.data);
        }
        if (err.issue != FHIR_ISSUE_INVALID &&
            err.issue != FHIR_ISSUE_PROCESSING &&
            err.issue != FHIR_ISSUE_NOT_SUPPORTED &&
            err.issue != FHIR_ISSUE_TOO_LONG) {
            fuzz_fail("a failed patch has issue %d: %s", (int)err.issue,
                      err.diag);
        }
        goto done;
    }
    if (err.issue != FHIR_ISSUE_NONE) {
        fuzz_fail("a patch that applied left an error: %s", err.diag);
    }
    /* The store keeps the written form: it must read back as it was. */
    fuzz_round_trip(res, 0, "patched resource");
    if (cJSON_IsObject(res)) {
        fuzz_validate(res);
    }
done:
    fhir_buf_clear(&before);
    fhir_buf_clear(&after);
    fhir_buf_clear(&doc_before);
    fhir_buf_clear(&doc_after);
    cJSON_Delete(res);
    cJSON_Delete(doc);
    return 0;
}
