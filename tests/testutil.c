/* tests/testutil.c: helpers shared by the cmocka tests. */
#include "testutil.h"

#include <stdarg.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

const char *kqt_source_dir(void)
{
    const char *d = getenv("KQ_SOURCE_DIR");
    return d && *d ? d : ".";
}

char *kqt_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return p;
}

char *kqt_read_corpus(const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/corpus/%s", kqt_source_dir(), name);
    return kqt_read_file(path, len);
}

char *kqt_line(const char *text, int n)
{
    const char *p = text;
    for (int i = 1; i < n; i++) {
        p = strchr(p, '\n');
        if (!p)
            fail_msg("text has fewer than %d lines", n);
        p++;
    }
    const char *e = strchr(p, '\n');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    char *r = malloc(l + 1);
    assert_non_null(r);
    memcpy(r, p, l);
    r[l] = '\0';
    return r;
}

char *kqt_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/kqtest.XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d)
        fail_msg("mkdtemp failed");
    return strdup(d);
}

void kqt_rmrf(const char *path)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fail_msg("cannot remove %s", path);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

void kqt_seed(uint64_t seed)
{
    rng_state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint64_t kqt_rand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

uint32_t kqt_rand_below(uint64_t n)
{
    return (uint32_t)(kqt_rand() % n);
}
