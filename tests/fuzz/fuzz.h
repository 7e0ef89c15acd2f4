/* tests/fuzz/fuzz.h - what the fuzz targets share: the libFuzzer entry
 * point every target defines, and the long-lived state some of them need
 * (the definitions, an offline server on a temporary database).
 *
 * Each target is built twice: with clang's libFuzzer for `make fuzz`, and
 * with the normal compiler and replay.c for `make test`, which runs every
 * file of the target's corpus once. Targets therefore keep all state
 * lazily initialised in their first call and never rely on libFuzzer's
 * flags.
 */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include "server/server.h"

#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry point (one per target). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The repository root ($FHIR_TEST_ROOT, else "."). */
const char *fuzz_root(void);

/* A NUL-terminated malloc'd copy of data[0..size) (free() it). */
char *fuzz_cstr(const uint8_t *data, size_t size);

/* An offline server (definitions, search registry, store) on a fresh
 * database in a temporary directory, with base URL FUZZ_BASE, opened on
 * first use and removed at exit. Aborts when it cannot be opened. */
#define FUZZ_BASE "http://example.org/fhir"
srv_server *fuzz_server(void);
/* Closes that server and removes its database; the next fuzz_server()
 * makes a fresh one. */
void fuzz_server_reset(void);

/* Fails the run: prints the message and the input, then aborts so that
 * libFuzzer keeps the input and replay stops with an error. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));

/* Writes item (compact and pretty), reads it back with fhir_rules and
 * writes it again: fails the run unless the bytes agree. */
void fuzz_round_trip(const cJSON *item, int fhir_rules, const char *what);

/* prof_validate() on res with its contract checked (a failure names an
 * issue; the OperationOutcome is JSON that reads back). */
void fuzz_validate(const cJSON *res);

#endif
