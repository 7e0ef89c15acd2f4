/* tests/fuzz/replay.c - runs a fuzz target's LLVMFuzzerTestOneInput once on
 * every file of the directories (or files) named on the command line, so
 * that `make test` and `make check-asan` replay the committed corpora
 * (tests/fuzz/corpus/<target>/, regressions included) with the normal
 * compiler, no clang or libFuzzer needed.
 *
 * Files are run in name order so a failure is reproducible; a failing
 * input aborts (or trips a sanitizer), and the last "replay:" line names
 * it.
 */
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    fhir_buf b = FHIR_BUF_INIT;
    char chunk[65536];
    size_t n;
    if (f == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        fhir_buf_append(&b, chunk, n);
    }
    fclose(f);
    if (getenv("FUZZ_REPLAY_VERBOSE") != NULL) {
        fprintf(stderr, "replay: %s\n", path);
    }
    /* A copy of exactly the file's bytes, so ASan sees reads past them. */
    uint8_t *data = fhir_xmalloc(b.len ? b.len : 1);
    if (b.len > 0) {
        memcpy(data, b.data, b.len);
    }
    LLVMFuzzerTestOneInput(data, b.len);
    free(data);
    fhir_buf_clear(&b);
    return 0;
}

static int
cmp_name(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int
run_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (d == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = fhir_xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = fhir_xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 0) {
        qsort(names, n, sizeof(*names), cmp_name);
    }
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (rc == 0 && run_file(path) != 0) {
            rc = -1;
        }
        free(names[i]);
    }
    free(names);
    *count += n;
    return rc;
}

int
main(int argc, char **argv)
{
    size_t count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: no such file or directory %s\n", argv[i]);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            if (run_dir(argv[i], &count) != 0) {
                return 1;
            }
        } else if (run_file(argv[i]) != 0) {
            return 1;
        } else {
            count++;
        }
    }
    printf("replay: %zu inputs ok\n", count);
    return 0;
}
