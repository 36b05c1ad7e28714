/* tests/index/test_deletes.c: deletion files (index/deletes.c): golden bytes, round trips,
 * a truncation and byte-flip sweep (always KQ_ECORRUPT), a structure-aware sweep with the
 * checksums recomputed (refused, or a bitmap that keeps the invariants), disagreements with
 * the manifest entry, reading and writing files, and allocation-failure sweeps. Then the
 * files inside an index: an index with deletions opens, a damaged, missing or newer
 * deletion file is refused naming the file, and opening fails cleanly at every allocation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "index/deletes.h"
#include "index/manifest.h"
#include "index/reader.h"
#include "kq/index.h"
#include "testutil.h"
#include "util/alloc.h"
#include "util/bytes.h"

/* n_docs 70 (two words), documents 0, 5, 64 and 69 deleted, segment 9 */
static const uint32_t N_DOCS = 70;
static uint64_t bits70[2];

static void set_bits(void)
{
    memset(bits70, 0, sizeof bits70);
    kq__del_set(bits70, 0);
    kq__del_set(bits70, 5);
    kq__del_set(bits70, 64);
    kq__del_set(bits70, 69);
}

static uint8_t *encoded(size_t *len, uint64_t *sum)
{
    set_bits();
    kq_buf b = KQ_BUF_INIT;
    uint32_t n;
    assert_int_equal(kq__del_encode(9, N_DOCS, bits70, &b, &n, sum), 0);
    assert_int_equal(n, 4);
    *len = b.len;
    return b.p;
}

static void test_golden(void **state)
{
    (void)state;
    size_t len;
    uint64_t sum;
    uint8_t *p = encoded(&len, &sum);
    static const uint8_t head[32] = {'K', 'Q', 'D', 'E', 'L', 'E', 'T', 0, /* magic */
                                     1,   0,   0,   0,                     /* version, 0 */
                                     70,  0,   0,   0,                     /* n_docs */
                                     9,   0,   0,   0,   0,   0,   0,   0, /* segment */
                                     4,   0,   0,   0,                     /* n_deleted */
                                     0,   0,   0,   0};
    assert_int_equal(len, 32 + 16 + 8);
    assert_memory_equal(p, head, 32);
    assert_int_equal(kq_get_le64(p + 32), 0x21); /* bits 0 and 5 */
    assert_int_equal(kq_get_le64(p + 40), 0x21); /* bits 64 and 69 */
    assert_int_equal(kq_get_le64(p + 48), XXH3_64bits(p, 48));
    assert_int_equal(sum, XXH3_64bits(p, 48));
    kq_buf_release(&(kq_buf){p, len, len});

    /* an empty segment has no words; a multiple of 64 no padding bits */
    kq_buf b = KQ_BUF_INIT;
    uint32_t n;
    assert_int_equal(kq__del_encode(1, 0, NULL, &b, &n, &sum), 0);
    assert_int_equal(b.len, 40);
    assert_int_equal(n, 0);
    kq_buf_release(&b);
    uint64_t w = ~(uint64_t)0;
    assert_int_equal(kq__del_encode(1, 64, &w, &b, &n, &sum), 0);
    assert_int_equal(b.len, 48);
    assert_int_equal(n, 64);
    uint64_t *out;
    assert_int_equal(kq__del_parse(b.p, b.len, "t", 1, 64, 64, sum, &out, NULL), 0);
    assert_int_equal(out[0], w);
    kq__free(out);
    kq_buf_release(&b);

    char name[64];
    kq__del_name(3, 7, name, sizeof name);
    assert_string_equal(name, "seg_00000003_00000007.del");
    assert_int_equal(kq__del_count(bits70, N_DOCS), 4);
    assert_true(kq__del_test(bits70, 69));
    assert_false(kq__del_test(bits70, 68));
    assert_false(kq__del_test(NULL, 3));
}

static void test_round_trip(void **state)
{
    (void)state;
    kqt_seed(77);
    uint32_t sizes[] = {1, 63, 64, 65, 127, 128, 1000, 4099};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        uint32_t nd = sizes[k];
        uint64_t *bits = calloc(kq__del_words(nd) + 1, 8);
        assert_non_null(bits);
        for (uint32_t d = 0; d < nd; d++)
            if (kqt_rand_below(3) == 0)
                kq__del_set(bits, d);
        kq_buf b = KQ_BUF_INIT;
        uint32_t n;
        uint64_t sum, *out;
        assert_int_equal(kq__del_encode(42, nd, bits, &b, &n, &sum), 0);
        assert_int_equal(n, kq__del_count(bits, nd));
        kq_error err;
        if (kq__del_parse(b.p, b.len, "t", 42, nd, n, sum, &out, &err))
            fail_msg("parse %u: %s", nd, err.msg);
        assert_memory_equal(out, bits, 8 * kq__del_words(nd));
        kq__free(out);
        kq_buf_release(&b);
        free(bits);
    }
}

static void expect_sane(const uint64_t *bits, uint32_t n_docs, uint32_t n_deleted)
{
    assert_int_equal(kq__del_count(bits, n_docs), n_deleted);
    size_t w = kq__del_words(n_docs);
    if (n_docs & 63)
        assert_int_equal(bits[w - 1] >> (n_docs & 63), 0);
}

static void test_flip_and_truncate(void **state)
{
    (void)state;
    size_t len;
    uint64_t sum;
    uint8_t *p = encoded(&len, &sum);
    uint8_t *q = malloc(len + 16);
    assert_non_null(q);
    uint64_t *out;
    kq_error err;
    static const uint8_t pats[] = {0x01, 0x80, 0xff, 0x10, 0x11};
    for (size_t at = 0; at < len; at++)
        for (size_t k = 0; k < sizeof pats; k++) {
            memcpy(q, p, len);
            q[at] ^= pats[k];
            int rc = kq__del_parse(q, len, "t", 9, N_DOCS, 4, sum, &out, &err);
            if (rc != KQ_ECORRUPT)
                fail_msg("flip 0x%02x at %zu: %d", pats[k], at, rc);
            assert_null(out);
            assert_non_null(strstr(err.msg, "'t'"));
        }
    for (size_t l = 0; l < len; l++) {
        memcpy(q, p, len);
        assert_int_equal(kq__del_parse(q, l, "t", 9, N_DOCS, 4, sum, &out, &err), KQ_ECORRUPT);
        if (l >= 8) { /* a checksum that fits the shorter bytes */
            uint64_t s2 = XXH3_64bits(q, l - 8);
            kq_put_le64(q + l - 8, s2);
            assert_int_equal(kq__del_parse(q, l, "t", 9, N_DOCS, 4, s2, &out, &err), KQ_ECORRUPT);
        }
    }
    for (size_t extra = 1; extra <= 16; extra++) {
        memcpy(q, p, len);
        memset(q + len, 0, extra);
        uint64_t s2 = XXH3_64bits(q, len + extra - 8);
        kq_put_le64(q + len + extra - 8, s2);
        assert_int_equal(kq__del_parse(q, len + extra, "t", 9, N_DOCS, 4, s2, &out, NULL),
                         KQ_ECORRUPT);
    }
    /* structure-aware: a changed byte with both checksums made to fit */
    int accepted = 0;
    for (size_t at = 0; at < len - 8; at++)
        for (size_t k = 0; k < sizeof pats; k++) {
            memcpy(q, p, len);
            q[at] ^= pats[k];
            uint64_t s2 = XXH3_64bits(q, len - 8);
            kq_put_le64(q + len - 8, s2);
            int rc = kq__del_parse(q, len, "t", 9, N_DOCS, 4, s2, &out, &err);
            assert_true(rc == 0 || rc == KQ_ECORRUPT || rc == KQ_EVERSION);
            if (rc == 0) {
                expect_sane(out, N_DOCS, 4);
                accepted++;
                kq__free(out);
            } else {
                assert_null(out);
            }
            if (at == 8 || at == 9)
                assert_int_equal(rc, KQ_EVERSION);
        }
    assert_true(accepted > 0); /* 0x11 moves one bit within a word and keeps the count */
    free(q);
    kq__free(p);
}

static void test_disagreements(void **state)
{
    (void)state;
    size_t len;
    uint64_t sum, *out;
    uint8_t *p = encoded(&len, &sum);
    kq_error err;
    assert_int_equal(kq__del_parse(p, len, "t", 9, N_DOCS, 4, sum, &out, &err), 0);
    kq__free(out);
    /* the manifest entry says otherwise */
    assert_int_equal(kq__del_parse(p, len, "t", 8, N_DOCS, 4, sum, &out, &err), KQ_ECORRUPT);
    assert_int_equal(kq__del_parse(p, len, "t", 9, N_DOCS + 1, 4, sum, &out, &err), KQ_ECORRUPT);
    assert_int_equal(kq__del_parse(p, len, "t", 9, 200, 4, sum, &out, &err), KQ_ECORRUPT);
    assert_int_equal(kq__del_parse(p, len, "t", 9, N_DOCS, 3, sum, &out, &err), KQ_ECORRUPT);
    assert_int_equal(kq__del_parse(p, len, "t", 9, N_DOCS, 4, sum ^ 1, &out, &err), KQ_ECORRUPT);
    assert_non_null(strstr(err.msg, "manifest"));
    /* E4: a bit past the last document, the count consistent */
    uint8_t *q = malloc(len);
    assert_non_null(q);
    memcpy(q, p, len);
    kq_put_le64(q + 40, kq_get_le64(q + 40) | ((uint64_t)1 << 6)); /* document 70 */
    kq_put_le32(q + 24, 5);
    uint64_t s2 = XXH3_64bits(q, len - 8);
    kq_put_le64(q + len - 8, s2);
    assert_int_equal(kq__del_parse(q, len, "t", 9, N_DOCS, 5, s2, &out, &err), KQ_ECORRUPT);
    assert_non_null(strstr(err.msg, "past the last"));
    /* E2: another version */
    memcpy(q, p, len);
    kq_put_le16(q + 8, 2);
    s2 = XXH3_64bits(q, len - 8);
    kq_put_le64(q + len - 8, s2);
    assert_int_equal(kq__del_parse(q, len, "t", 9, N_DOCS, 4, s2, &out, &err), KQ_EVERSION);
    /* reserved bytes */
    memcpy(q, p, len);
    q[30] = 1;
    s2 = XXH3_64bits(q, len - 8);
    kq_put_le64(q + len - 8, s2);
    assert_int_equal(kq__del_parse(q, len, "t", 9, N_DOCS, 4, s2, &out, &err), KQ_ECORRUPT);
    free(q);
    kq__free(p);
}

static void test_files(void **state)
{
    (void)state;
    set_bits();
    char *dir = kqt_tmpdir();
    uint32_t n;
    uint64_t sum, *out;
    kq_error err;
    assert_int_equal(kq__del_write(dir, 9, 3, N_DOCS, bits70, &n, &sum, &err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(kq__del_read(dir, 9, 3, N_DOCS, 4, sum, &out, &err), 0);
    assert_memory_equal(out, bits70, sizeof bits70);
    kq__free(out);
    /* written again over an orphan of the same name */
    assert_int_equal(kq__del_write(dir, 9, 3, N_DOCS, bits70, &n, &sum, &err), 0);
    /* another generation is another file; a missing one is corruption */
    assert_int_equal(kq__del_read(dir, 9, 4, N_DOCS, 4, sum, &out, &err), KQ_ECORRUPT);
    assert_non_null(strstr(err.msg, "seg_00000009_00000004.del"));
    /* truncated */
    char path[4200];
    snprintf(path, sizeof path, "%s/seg_00000009_00000003.del", dir);
    assert_int_equal(truncate(path, 50), 0);
    assert_int_equal(kq__del_read(dir, 9, 3, N_DOCS, 4, sum, &out, &err), KQ_ECORRUPT);
    assert_non_null(strstr(err.msg, "seg_00000009_00000003.del"));
    assert_int_equal(kq__del_write("/nonexistent/kq", 9, 3, N_DOCS, bits70, &n, &sum, &err),
                     KQ_EIO);
    kqt_rmrf(dir);
    free(dir);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    size_t len;
    uint64_t sum, *out;
    uint8_t *p = encoded(&len, &sum);
    for (long n = 0;; n++) {
        kq_alloc_fail_after(n);
        int rc = kq__del_parse(p, len, "t", 9, N_DOCS, 4, sum, &out, NULL);
        kq_alloc_fail_after(-1);
        if (rc == 0) {
            kq__free(out);
            break;
        }
        assert_int_equal(rc, KQ_ENOMEM);
        assert_null(out);
        assert_true(n < 10);
    }
    char *dir = kqt_tmpdir();
    for (long n = 0;; n++) {
        uint32_t nd;
        kq_alloc_fail_after(n);
        int rc = kq__del_write(dir, 9, 3, N_DOCS, bits70, &nd, &sum, NULL);
        kq_alloc_fail_after(-1);
        if (rc == 0)
            break;
        assert_int_equal(rc, KQ_ENOMEM);
        assert_true(n < 10);
    }
    for (long n = 0;; n++) {
        kq_alloc_fail_after(n);
        int rc = kq__del_read(dir, 9, 3, N_DOCS, 4, sum, &out, NULL);
        kq_alloc_fail_after(-1);
        if (rc == 0) {
            kq__free(out);
            break;
        }
        assert_int_equal(rc, KQ_ENOMEM);
        assert_true(n < 10);
    }
    kqt_rmrf(dir);
    free(dir);
    kq__free(p);
}

/* ---- inside an index ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* An index of three files, then b.txt deleted and c.txt changed: segment 1 gets a deletion
 * file. Returns the index directory (in `tmp`). */
static void make_index(char *tmp, char *ix, size_t cap)
{
    char docs[4200], p[4300];
    snprintf(docs, sizeof docs, "%s/docs", tmp);
    assert_int_equal(mkdir(docs, 0755), 0);
    snprintf(p, sizeof p, "%s/a.txt", docs);
    write_file(p, "alpha words\nthe alpha of it all\n");
    snprintf(p, sizeof p, "%s/b.txt", docs);
    write_file(p, "beta words\nbeta and alpha\n");
    snprintf(p, sizeof p, "%s/c.txt", docs);
    write_file(p, "gamma words\ngamma gamma\n");
    snprintf(ix, cap, "%s/ix", tmp);
    struct kq_build_opts o = {0};
    o.b = -1;
    o.n_threads = 1;
    o.language = "none";
    o.no_merge = 1;
    const char *paths[] = {docs};
    kq_error err;
    if (kq_index_build(ix, paths, 1, &o, NULL, &err))
        fail_msg("build: %s", err.msg);
    snprintf(p, sizeof p, "%s/b.txt", docs);
    assert_int_equal(unlink(p), 0);
    snprintf(p, sizeof p, "%s/c.txt", docs);
    write_file(p, "gamma words\ngamma delta alpha\n");
    struct kq_build_stats st;
    if (kq_index_build(ix, paths, 1, &o, &st, &err))
        fail_msg("update: %s", err.msg);
    assert_int_equal(st.deleted, 2);
    assert_int_equal(st.documents, 1);
    assert_int_equal(st.segments, 2);
}

static void test_in_index(void **state)
{
    (void)state;
    char *tmp = kqt_tmpdir();
    char ix[4300], del[4400];
    make_index(tmp, ix, sizeof ix);
    snprintf(del, sizeof del, "%s/seg_00000001_00000002.del", ix);
    struct stat sb;
    assert_int_equal(stat(del, &sb), 0);

    kq_index *x;
    kq_error err;
    if (kq_index_open(ix, &x, &err))
        fail_msg("open: %s", err.msg);
    struct kq_index_info info;
    kq_index_get_info(x, &info);
    assert_int_equal(info.n_docs, 2);
    assert_int_equal(info.n_deleted, 2);
    assert_int_equal(info.doc_id_limit, 4);
    struct kq_doc d;
    assert_int_equal(kq_index_doc(x, 1, &d, &err), KQ_ENOTFOUND); /* b.txt */
    assert_int_equal(kq_index_doc(x, 2, &d, &err), KQ_ENOTFOUND); /* the old c.txt */
    assert_int_equal(kq_index_doc(x, 0, &d, &err), 0);
    assert_int_equal(kq_index_doc(x, 3, &d, &err), 0);
    struct kq_term_stats ts;
    assert_int_equal(kq_index_lookup(x, KQ_FIELD_TEXT, "beta", 4, &ts, &err), KQ_ENOTFOUND);
    assert_int_equal(kq_index_lookup(x, KQ_FIELD_TEXT, "alpha", 5, &ts, &err), 0);
    assert_int_equal(ts.df, 2); /* a.txt and the new c.txt; not b.txt */
    assert_int_equal(ts.cf, 3);
    assert_int_equal(kq_index_lookup(x, KQ_FIELD_TEXT, "gamma", 5, &ts, &err), 0);
    assert_int_equal(ts.df, 1);
    assert_int_equal(ts.cf, 2);
    kq_cursor *c;
    assert_int_equal(kq_cursor_open(x, KQ_FIELD_TEXT, "alpha", 5, &c, &err), 0);
    assert_int_equal(kq_cursor_next(c), 0);
    assert_int_equal(kq_cursor_next(c), 3);
    assert_int_equal(kq_cursor_next(c), KQ_NO_DOC);
    kq_cursor_close(c);
    kq_index_close(x);
    assert_int_equal(kq_index_verify(ix, NULL, NULL, &err), 0);

    /* every allocation of an open with deletions fails cleanly */
    for (long n = 0;; n++) {
        kq_alloc_fail_after(n);
        int rc = kq_index_open(ix, &x, NULL);
        if (rc == 0)
            rc = kq_index_lookup(x, KQ_FIELD_TEXT, "alpha", 5, &ts, NULL);
        kq_alloc_fail_after(-1);
        if (rc == 0) {
            assert_int_equal(ts.df, 2);
            kq_index_close(x);
            break;
        }
        if (rc != KQ_ENOMEM)
            fail_msg("allocation %ld: %d", n, rc);
        kq_index_close(x);
        assert_true(n < 200);
    }

    /* a damaged, truncated, missing or replaced deletion file */
    size_t len;
    char *orig = kqt_read_file(del, &len);
    for (size_t at = 0; at < len; at += 7) {
        FILE *f = fopen(del, "r+b");
        assert_non_null(f);
        fseek(f, (long)at, SEEK_SET);
        fputc(orig[at] ^ 0x20, f);
        fclose(f);
        assert_int_equal(kq_index_open(ix, &x, &err), KQ_ECORRUPT);
        assert_non_null(strstr(err.msg, "seg_00000001_00000002.del"));
        write_file(del, ""); /* rewritten whole below */
        FILE *g = fopen(del, "wb");
        fwrite(orig, 1, len, g);
        fclose(g);
    }
    assert_int_equal(truncate(del, (off_t)len - 1), 0);
    assert_int_equal(kq_index_open(ix, &x, &err), KQ_ECORRUPT);
    assert_int_equal(unlink(del), 0);
    assert_int_equal(kq_index_open(ix, &x, &err), KQ_ECORRUPT);
    assert_non_null(strstr(err.msg, "seg_00000001_00000002.del"));
    /* --check reports it too */
    assert_int_equal(kq_index_verify(ix, NULL, NULL, &err), KQ_ECORRUPT);
    FILE *g = fopen(del, "wb");
    fwrite(orig, 1, len, g);
    fclose(g);
    assert_int_equal(kq_index_verify(ix, NULL, NULL, &err), 0);
    free(orig);

    /* a manifest of a future version: refused as such; an update too; --full rebuilds */
    char man[4400];
    snprintf(man, sizeof man, "%s/MANIFEST", ix);
    uint8_t *m = (uint8_t *)kqt_read_file(man, &len);
    kq_put_le16(m + 8, 4);
    kq_put_le64(m + len - 8, XXH3_64bits(m, len - 8));
    g = fopen(man, "wb");
    fwrite(m, 1, len, g);
    fclose(g);
    free(m);
    assert_int_equal(kq_index_open(ix, &x, &err), KQ_EVERSION);
    assert_non_null(strstr(err.msg, "version 4 is not supported"));
    char docs[4300];
    snprintf(docs, sizeof docs, "%s/docs", tmp);
    const char *paths[] = {docs};
    struct kq_build_opts o = {0};
    o.b = -1;
    o.n_threads = 1;
    assert_int_equal(kq_index_build(ix, paths, 1, &o, NULL, &err), KQ_EVERSION);
    o.full = 1;
    if (kq_index_build(ix, paths, 1, &o, NULL, &err))
        fail_msg("--full over a future manifest: %s", err.msg);
    assert_int_equal(kq_index_verify(ix, NULL, NULL, &err), 0);
    assert_int_equal(kq_index_open(ix, &x, &err), 0);
    kq_index_get_info(x, &info);
    assert_int_equal(info.n_docs, 2);
    assert_int_equal(info.n_deleted, 0);
    assert_int_equal(info.n_segments, 1);
    kq_index_close(x);
    kqt_rmrf(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_flip_and_truncate),
        cmocka_unit_test(test_disagreements),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_in_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
