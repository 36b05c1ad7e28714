/* fuzz/replay.c: runs a fuzz harness over files, without libFuzzer.
 *
 * Linked with one fuzz/fuzz_<name>.c into replay_<name>, which ctest runs over the harness's
 * seeds (fuzz/corpus/<name>/) and the inputs that once made it fail (tests/fuzz/<name>/), in
 * every build (gcc release, clang with ASan+UBSan), so a fixed crash stays fixed.
 *
 * usage: replay_<name> DIR|FILE...   exit 0 when every input ran; a harness failure traps.
 * Each input is copied to an allocation of its exact size so that AddressSanitizer sees any
 * read past it.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* The custom mutators of some harnesses call libFuzzer's mutator; replaying never mutates. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size)
{
    (void)data;
    (void)max_size;
    return size;
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *p = malloc(cap);
    size_t got;
    while (p && (got = fread(p + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *q = realloc(p, cap *= 2);
            if (!q)
                free(p);
            p = q;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!p || bad) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(p);
        return -1;
    }
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(p);
        return -1;
    }
    memcpy(exact, p, len);
    free(p);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

/* Runs every regular file of `dir` (not recursive). Returns the count or -1. */
static int run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    int n = 0;
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (run_file(path) != 0) {
            n = -1;
            break;
        }
        n++;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
        return 2;
    }
    int total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        int n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0;
        if (n < 0)
            return 1;
        total += n;
    }
    printf("%d inputs ran\n", total);
    return 0;
}
