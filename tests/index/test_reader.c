/* tests/index/test_reader.c: the reader's document store (src/index/reader.c).
 *
 * Blocks up to 1 MiB decompress in one call; a larger block (a document bigger than that
 * gets one of its own) decompresses in steps into a buffer that grows with the output. Both
 * paths must give back the stored bytes exactly, in any order of reads through one
 * searcher-style lent context and through the reader's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "kq/index.h"
#include "testutil.h"

/* `n` bytes of prose-like text from a fixed seed: words of a small vocabulary, so zstd
 * compresses it but not to nothing */
static char *prose(size_t n, uint32_t seed)
{
    static const char *const words[] = {"alliance", "procurement", "reciprocal", "defense",
                                        "industrial", "cooperation", "korea", "shipbuilding",
                                        "technology", "supply", "chain", "security"};
    char *s = malloc(n + 1);
    assert_non_null(s);
    size_t i = 0;
    while (i < n) {
        seed = seed * 1103515245u + 12345u;
        const char *w = words[(seed >> 16) % (sizeof words / sizeof words[0])];
        for (const char *p = w; *p && i < n; p++)
            s[i++] = *p;
        if (i < n)
            s[i++] = (seed >> 8) % 13 ? ' ' : '\n';
    }
    s[n] = '\0';
    return s;
}

static void write_file(const char *path, const char *s, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(s, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_large_document(void **state)
{
    (void)state;
    char *tmp = kqt_tmpdir();
    char dir[8192], docs[8192], path[8192 + 16];
    snprintf(docs, sizeof docs, "%s/docs", tmp);
    snprintf(dir, sizeof dir, "%s/ix", tmp);
    assert_int_equal(mkdir(docs, 0700), 0);
    /* a.txt small, b.txt 3 MiB + 17 bytes (a block of its own, over the 1 MiB of one call),
     * c.txt exactly 1 MiB of text plus its block header (just over the limit) */
    static const size_t sizes[] = {2000, (3u << 20) + 17, 1u << 20};
    char *text[3];
    for (int i = 0; i < 3; i++) {
        text[i] = prose(sizes[i], 7u + (uint32_t)i);
        snprintf(path, sizeof path, "%s/%c.txt", docs, 'a' + i);
        write_file(path, text[i], sizes[i]);
    }
    const char *paths[] = {docs};
    struct kq_build_opts o = {0};
    o.b = -1;
    o.n_threads = 1;
    kq_error err;
    if (kq_index_build(dir, paths, 1, &o, NULL, &err))
        fail_msg("build: %s", err.msg);
    kq_index *ix;
    assert_int_equal(kq_index_open(dir, &ix, &err), 0);
    struct kq_index_info info;
    kq_index_get_info(ix, &info);
    assert_int_equal(info.n_docs, 3);
    /* twice over, large and small reads interleaved; then --check reads them all too */
    for (int round = 0; round < 2; round++) {
        for (uint32_t d = 0; d < 3; d++) {
            char *got;
            size_t len;
            if (kq_index_doc_text(ix, d, &got, &len, &err))
                fail_msg("doc %u: %s", d, err.msg);
            struct kq_doc doc;
            assert_int_equal(kq_index_doc(ix, d, &doc, &err), 0);
            int which = doc.path[doc.path_len - 5] - 'a';
            assert_true(which >= 0 && which < 3);
            assert_int_equal(len, sizes[which]);
            assert_memory_equal(got, text[which], len);
            kq_free(got);
        }
    }
    kq_index_close(ix);
    assert_int_equal(kq_index_verify(dir, NULL, NULL, &err), 0);
    for (int i = 0; i < 3; i++)
        free(text[i]);
    kqt_rmrf(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
