/* fhir/types.c - the resource types this server serves, and FHIR ids.
 *
 * The served types are a product decision (the four workflow types of the
 * Task server), so they are a small table here; everything about their
 * structure comes from the definitions loaded by profiles/ and search/.
 * Server-assigned ids are random version-4 UUIDs (ARCHITECTURE.md: never
 * sequential), drawn from the kernel's random source.
 */
#include "fhir/fhir.h"

#include <stdatomic.h>
#include <stdint.h>
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

/* Server-assigned ids are UUID version 7 (RFC 9562): 48 bits of Unix
 * milliseconds, then a 12-bit sequence, then 62 random bits. Ids made
 * later sort later, so a new resource's id, and references to it, land at
 * the end of the id and reference indexes instead of on a random page:
 * fewer pages dirtied per commit. The sequence (RFC 9562 section 6.2,
 * method 1) keeps ids of one process strictly increasing within a
 * millisecond; past 4096 in one millisecond it borrows the next one. */
static _Atomic uint64_t id_stamp; /* last (ms << 12 | sequence) */

/* Random bytes for ids from a per-thread pool filled 512 bytes at a
 * time: one getrandom() call per 64 ids instead of one per id (a
 * transaction of 1,000 creates makes 1,000 ids). */
static void
random_bytes(unsigned char *r, size_t len)
{
    static _Thread_local unsigned char pool[512];
    static _Thread_local size_t left;
    if (left < len) {
        size_t got = 0;
        while (got < sizeof(pool)) {
            ssize_t n = getrandom(pool + got, sizeof(pool) - got, 0);
            if (n <= 0) {
                /* getrandom() on Linux >= 3.17 only fails when
                 * interrupted. */
                continue;
            }
            got += (size_t)n;
        }
        left = sizeof(pool);
    }
    memcpy(r, pool + sizeof(pool) - left, len);
    memset(pool + sizeof(pool) - left, 0, len); /* used once */
    left -= len;
}

void
fhir_id_new(char out[37])
{
    unsigned char r[16];
    uint64_t now = (uint64_t)(fhir_now_us() / 1000) << 12;
    uint64_t old = atomic_load(&id_stamp), next;
    do {
        next = now > old ? now : old + 1;
    } while (!atomic_compare_exchange_weak(&id_stamp, &old, next));
    random_bytes(r + 8, 8);
    for (int i = 0; i < 6; i++) {
        r[i] = (unsigned char)(next >> (52 - 8 * i)); /* the milliseconds */
    }
    r[6] = (unsigned char)(0x70 | ((next >> 8) & 0x0f)); /* version 7 */
    r[7] = (unsigned char)(next & 0xff);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 9562 variant */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
             r[11], r[12], r[13], r[14], r[15]);
}
