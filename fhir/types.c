/* fhir/types.c - the resource types this server serves, and FHIR ids.
 *
 * The served types are a product decision (the four workflow types of the
 * Task server), so they are a small table here; everything about their
 * structure comes from the definitions loaded by profiles/ and search/.
 * Server-assigned ids are random version-4 UUIDs (ARCHITECTURE.md: never
 * sequential), drawn from the kernel's random source.
 */
#include "fhir/fhir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char *const types[] = {
    "Patient",
    "Practitioner",
    "ServiceRequest",
    "Task",
};

#define NTYPES ((int)(sizeof(types) / sizeof(types[0])))

int
fhir_type_find(const char *name)
{
    for (int i = 0; i < NTYPES; i++) {
        if (strcmp(types[i], name) == 0) {
            return i;
        }
    }
    return -1;
}

const char *
fhir_type_name(int t)
{
    return (t >= 0 && t < NTYPES) ? types[t] : NULL;
}

int
fhir_type_count(void)
{
    return NTYPES;
}

int
fhir_id_valid(const char *id)
{
    size_t n = 0;
    if (id == NULL) {
        return 0;
    }
    for (; id[n] != '\0'; n++) {
        char c = id[n];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9') || c == '-' || c == '.';
        if (!ok || n >= FHIR_ID_MAX) {
            return 0;
        }
    }
    return n > 0;
}

void
fhir_id_new(char out[37])
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof(r)) {
        ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
        if (n <= 0) {
            /* getrandom() on Linux >= 3.17 only fails when interrupted. */
            continue;
        }
        got += (size_t)n;
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
             r[11], r[12], r[13], r[14], r[15]);
}
