/* tests/index/test_reader.c: the reader's document store and cursors (src/index/reader.c,
 * reader.h).
 *
 * Blocks up to 1 MiB decompress in one call; a larger block (a document bigger than that
 * gets one of its own) decompresses in steps into a buffer that grows with the output. Both
 * paths must give back the stored bytes exactly, in any order of reads through one
 * searcher-style lent context and through the reader's own.
 *
 * The inline cursor moves (kq__cursor_seek, kq__cursor_next, kq__cursor_tf, answering
 * inside the decoded block) must agree with kq_cursor_seek, kq_cursor_next and kq_cursor_tf
 * step by step, across blocks, segments and deleted documents.
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

#include "index/reader.h"
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

/* `n` JSON-lines documents with ids from `id0`: word wk in one document in 3k + 1 (w0 in
 * all), one to four times */
static void write_docs(const char *path, uint32_t id0, uint32_t n, const char *mode)
{
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    for (uint32_t i = 0; i < n; i++) {
        fprintf(f, "{\"_id\":\"d%u\",\"text\":\"", id0 + i);
        for (uint32_t w = 0; w < 10; w++)
            if (kqt_rand_below(3 * w + 1) == 0)
                for (uint32_t k = 1 + kqt_rand_below(4); k > 0; k--)
                    fprintf(f, "w%u ", w);
        fprintf(f, "end\"}\n");
    }
    assert_int_equal(fclose(f), 0);
}

static void build_into(const char *dir, const char *path)
{
    struct kq_build_opts o = {0};
    o.b = -1;
    o.n_threads = 1;
    o.language = "none";
    o.no_merge = 1;
    const char *paths[] = {path};
    kq_error err;
    if (kq_index_build(dir, paths, 1, &o, NULL, &err))
        fail_msg("build: %s", err.msg);
}

static void test_cursor_window(void **state)
{
    (void)state;
    kqt_seed(7);
    char *tmp = kqt_tmpdir();
    char dir[8192], a[8192 + 16], b[8192 + 16];
    snprintf(dir, sizeof dir, "%s/ix", tmp);
    snprintf(a, sizeof a, "%s/a.jsonl", tmp);
    snprintf(b, sizeof b, "%s/b.jsonl", tmp);
    /* segment 1: a.jsonl; segment 2: b.jsonl; segment 3: a.jsonl's lines rewritten with
     * other words, which deletes their old documents from segment 1 */
    write_docs(a, 0, 700, "w");
    build_into(dir, a);
    write_docs(b, 700, 500, "w");
    build_into(dir, b);
    write_docs(a, 0, 700, "w");
    build_into(dir, a);
    kq_index *ix;
    kq_error err;
    if (kq_index_open(dir, &ix, &err))
        fail_msg("open: %s", err.msg);
    struct kq_index_info info;
    kq_index_get_info(ix, &info);
    assert_int_equal(info.n_segments, 3);
    assert_true(info.n_deleted >= 300);
    for (int round = 0; round < 40; round++) {
        char w[8];
        snprintf(w, sizeof w, "w%d", round % 10);
        kq_cursor *x, *y;
        assert_int_equal(kq_cursor_open(ix, KQ_FIELD_TEXT, w, strlen(w), &x, &err), 0);
        assert_int_equal(kq_cursor_open(ix, KQ_FIELD_TEXT, w, strlen(w), &y, &err), 0);
        assert_non_null(x);
        assert_non_null(y);
        uint32_t d = 0, steps = 0;
        do {
            uint32_t r = kqt_rand_below(4), target = d + 1 + kqt_rand_below(r ? 3 : 300);
            uint32_t e = r == 0 && steps ? kq_cursor_next(x) : kq_cursor_seek(x, target);
            d = r == 0 && steps ? kq__cursor_next(y) : kq__cursor_seek(y, target);
            assert_int_equal(d, e);
            assert_int_equal(kq__cursor_tf(y), kq_cursor_tf(x));
            if (d != KQ_NO_DOC && kqt_rand_below(2)) /* a seek to where it is stays */
                assert_int_equal(kq__cursor_seek(y, d - kqt_rand_below(2)), d);
            steps++;
        } while (d != KQ_NO_DOC);
        assert_true(steps > 1);
        assert_int_equal(kq_cursor_error(x), 0);
        assert_int_equal(kq_cursor_error(y), 0);
        kq_cursor_close(x);
        kq_cursor_close(y);
    }
    kq_index_close(ix);
    kqt_rmrf(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_document),
        cmocka_unit_test(test_cursor_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
