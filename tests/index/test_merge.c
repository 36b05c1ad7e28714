/* tests/index/test_merge.c: merging runs and segments (index/merge.c).
 *
 *  - Runs merged equal one run: a corpus built within a budget so small that it is flushed
 *    as many runs and merged (with no memory left for the runs' pages: dropped behind
 *    every 64 KiB) gives the segment a budget large enough for one run gives: the same
 *    terms, postings, positions, lengths and store byte for byte, the same documents.
 *    (Not the same source records: a merge keeps one record of the source per run that
 *    holds documents of it, where one run has one.) Another thread count, the same again.
 *  - The merge's memory does not change what it writes: kq__merge_files over the same
 *    segments with no memory to spare for the inputs' pages and with plenty (dropped behind
 *    rarely) writes the same bytes.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "index/build.h"
#include "index/reader.h"
#include "index/segbuild.h"
#include "index/segment.h"
#include "kq/index.h"
#include "testutil.h"
#include "util/bytes.h"

#define N_DOCS 16000 /* runs of a few thousand documents: several runs */
#define N_PART_DOCS 2000
#define META_BUILT_AT 48 /* META: the build time, 8 bytes; the number of sources at 92 */

/* A word of the test vocabulary: a few very frequent words (postings of many blocks), many
 * rare ones (a posting or two). */
static void word(char *out, size_t cap)
{
    uint32_t r = kqt_rand_below(100), k;
    if (r < 30)
        k = kqt_rand_below(8);
    else if (r < 70)
        k = 8 + kqt_rand_below(400);
    else
        k = 408 + kqt_rand_below(40000);
    snprintf(out, cap, "w%c%c%u", 'a' + (int)(k % 26), 'a' + (int)(k / 26 % 26), k);
}

static void write_corpus(const char *path, uint32_t n_docs, uint32_t max_words)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (uint32_t d = 0; d < n_docs; d++) {
        char w[32];
        fprintf(f, "{\"_id\": \"d%05u\", \"title\": \"", d);
        for (uint32_t i = 0, n = 1 + kqt_rand_below(6); i < n; i++) {
            word(w, sizeof w);
            fprintf(f, "%s%s", i ? " " : "", w);
        }
        fputs("\", \"text\": \"", f);
        for (uint32_t i = 0, n = 1 + kqt_rand_below(max_words); i < n; i++) {
            word(w, sizeof w);
            fprintf(f, "%s%s", i ? " " : "", w);
        }
        fputs("\"}\n", f);
    }
    assert_int_equal(fclose(f), 0);
    /* long unmodified: every build records the same time (not 0 for a racily new file) */
    const struct timespec t[2] = {{1600000000, 0}, {1600000000, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

static void build(const char *dir, const char *corpus, uint32_t n_docs, int threads,
                  size_t memory, uint64_t *flushes)
{
    const char *paths[] = {corpus};
    struct kq_build_opts o = {0};
    o.b = -1;
    o.n_threads = threads;
    o.memory_bytes = memory;
    struct kq_build_stats st;
    kq_error err;
    if (kq_index_build(dir, paths, 1, &o, &st, &err))
        fail_msg("build: %s", err.msg);
    assert_int_equal(st.documents, n_docs);
    *flushes = st.flushes;
}

/* Asserts that segments `a` and `b` hold the same sections, byte for byte, but for the
 * build time in META; with `docs_only`, the same documents rather than the same table and
 * sources (see the top). */
static void assert_same_segment(const char *a, const char *b, int docs_only)
{
    kq_seg sa, sb;
    kq_error err;
    if (kq__seg_open(&sa, a, 1, &err) || kq__seg_open(&sb, b, 1, &err))
        fail_msg("%s", err.msg);
    const kq_segfile *fa = &sa.f, *fb = &sb.f;
    if (!docs_only)
        assert_int_equal(fa->size, fb->size);
    for (int id = 0; id < KQ_SEC_COUNT; id++) {
        size_t len = fa->sec[id].len;
        if (docs_only && (id == KQ_SEC_DOCT || id == KQ_SEC_SRCS))
            continue;
        assert_true(!fa->sec[id].p == !fb->sec[id].p);
        if (len != fb->sec[id].len)
            fail_msg("section '%s' is %zu bytes, %zu", kq__section_tag(id), len,
                     fb->sec[id].len);
        if (id != KQ_SEC_META) {
            if (len && memcmp(fa->sec[id].p, fb->sec[id].p, len))
                fail_msg("section '%s' differs", kq__section_tag(id));
            continue;
        }
        /* the build time, and with docs_only the number of sources, may differ */
        assert_true(len >= 96);
        assert_memory_equal(fa->sec[id].p, fb->sec[id].p, META_BUILT_AT);
        assert_memory_equal(fa->sec[id].p + META_BUILT_AT + 8, fb->sec[id].p + META_BUILT_AT + 8,
                            (docs_only ? 92 : len) - META_BUILT_AT - 8);
    }
    assert_int_equal(sa.n_docs, sb.n_docs);
    for (uint32_t d = 0; d < sa.n_docs; d++) {
        struct kq_doc x, y;
        if (kq__seg_doc(&sa, d, &x, &err) || kq__seg_doc(&sb, d, &y, &err))
            fail_msg("%s", err.msg);
        assert_true(x.id_len == y.id_len && !memcmp(x.id, y.id, x.id_len));
        assert_true(x.path_len == y.path_len && !memcmp(x.path, y.path, x.path_len));
        assert_true(x.title_len == y.title_len && !memcmp(x.title, y.title, x.title_len));
        assert_int_equal(x.line, y.line);
        assert_int_equal(x.size, y.size);
        assert_int_equal(x.mtime_ns, y.mtime_ns);
        assert_int_equal(x.hash, y.hash);
        assert_int_equal(x.format, y.format);
        for (int f = 0; f < KQ_N_FIELDS; f++)
            assert_int_equal(x.len[f], y.len[f]);
    }
    kq__seg_close(&sa);
    kq__seg_close(&sb);
}

static void test_runs_equal_one_run(void **state)
{
    (void)state;
    kqt_seed(0x243f6a8885a308d3ull);
    char *tmp = kqt_tmpdir();
    char corpus[4096], one[4096], many[4096], again[4096], a[8192], b[8192];
    snprintf(corpus, sizeof corpus, "%s/corpus.jsonl", tmp);
    snprintf(one, sizeof one, "%s/one", tmp);
    snprintf(many, sizeof many, "%s/many", tmp);
    snprintf(again, sizeof again, "%s/again", tmp);
    write_corpus(corpus, N_DOCS, 100);

    uint64_t flushes;
    build(one, corpus, N_DOCS, 2, (size_t)256 << 20, &flushes);
    assert_int_equal(flushes, 0); /* one run, written as the segment */
    build(many, corpus, N_DOCS, 1, (size_t)1 << 20, &flushes);
    print_message("%llu runs merged\n", (unsigned long long)flushes);
    assert_true(flushes >= 8);
    snprintf(a, sizeof a, "%s/seg_00000001.kq", one);
    snprintf(b, sizeof b, "%s/seg_00000001.kq", many);
    assert_same_segment(a, b, 1);
    build(again, corpus, N_DOCS, 2, (size_t)1 << 20, &flushes);
    assert_true(flushes >= 2);
    snprintf(b, sizeof b, "%s/seg_00000001.kq", again);
    assert_same_segment(a, b, 1);

    kqt_rmrf(tmp);
    free(tmp);
}

/* K segments built apart, merged twice: on one thread with no memory left for the inputs'
 * pages, and in three key ranges side by side with plenty. */
static void test_memory_changes_nothing(void **state)
{
    (void)state;
    kqt_seed(0x13198a2e03707344ull);
    char *tmp = kqt_tmpdir();
    enum { K = 6 };
    char corpus[4096], dirs[K][4096], segs[K][8192];
    const char *paths[K];
    for (int i = 0; i < K; i++) {
        snprintf(corpus, sizeof corpus, "%s/part%d.jsonl", tmp, i);
        write_corpus(corpus, N_PART_DOCS, 400);
        snprintf(dirs[i], sizeof dirs[i], "%s/ix%d", tmp, i);
        uint64_t flushes;
        build(dirs[i], corpus, N_PART_DOCS, 1, (size_t)64 << 20, &flushes);
        snprintf(segs[i], sizeof segs[i], "%s/seg_00000001.kq", dirs[i]);
        paths[i] = segs[i];
    }
    /* the inputs' store blocks were made with dictionaries of their own: recompressed
     * with the first one's */
    kq_seg s0;
    kq_error err;
    if (kq__seg_open(&s0, segs[0], 1, &err))
        fail_msg("%s", err.msg);
    const void *dict = s0.f.sec[KQ_SEC_ZDIC].p;
    size_t dict_len = s0.f.sec[KQ_SEC_ZDIC].len;
    ZSTD_CDict *cd = dict_len ? ZSTD_createCDict(dict, dict_len, KQ_STORE_LEVEL) : NULL;
    const size_t memory[] = {0, (size_t)1 << 30};
    const int threads[] = {1, 3};
    char out[2][8192];
    uint64_t size[2], post[2], pos[2], terms[2];
    for (int m = 0; m < 2; m++) {
        snprintf(out[m], sizeof out[m], "%s/merged%d.kq", tmp, m);
        if (kq__merge_files(tmp, paths, K, KQ_SPILL_BYTES, memory[m], threads[m], "english", cd,
                            dict, dict_len, out[m], &size[m], &post[m], &pos[m], &terms[m], &err))
            fail_msg("merge: %s", err.msg);
    }
    assert_int_equal(size[0], size[1]);
    assert_int_equal(post[0], post[1]);
    assert_int_equal(pos[0], pos[1]);
    assert_int_equal(terms[0], terms[1]);
    assert_same_segment(out[0], out[1], 0);
    kq_seg s;
    if (kq__seg_open(&s, out[0], 1, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(s.n_docs, K * N_PART_DOCS);
    kq__seg_close(&s);
    ZSTD_freeCDict(cd);
    kq__seg_close(&s0);
    kqt_rmrf(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_equal_one_run),
        cmocka_unit_test(test_memory_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
