/* tests/index/test_manifest.c: the MANIFEST (index/manifest.c): write/read round trips,
 * golden layout, a byte-flip and a truncation sweep over every byte (parse must fail, never
 * crash), a structure-aware sweep with the checksum recomputed (parse fails or returns a
 * manifest that keeps the invariants), BM25 settings out of range, an allocation-failure
 * sweep. */
#include <dirent.h>
#include <math.h>
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
#include "testutil.h"
#include "util/alloc.h"
#include "util/bytes.h"

static void make(struct kq_manifest *m, uint32_t n, struct kq_manifest_seg *segs)
{
    memset(m, 0, sizeof *m);
    m->generation = 7;
    m->next_segment = n > 19 ? 3 + 5 * (uint64_t)n : 100;
    m->k1 = 1.25;
    m->b = 0.5;
    snprintf(m->language, sizeof m->language, "english");
    for (uint32_t i = 0; i < n; i++) {
        memset(&segs[i], 0, sizeof segs[i]);
        segs[i].number = 3 + 5 * (uint64_t)i;
        segs[i].file_size = 4096 + i;
        segs[i].n_docs = 10 * i + 1;
        segs[i].checksum = 0x0123456789abcdefull ^ i;
        if (i % 2) { /* every other segment has deletions */
            segs[i].n_deleted = i;
            segs[i].del_gen = 1 + i % 7;
            segs[i].del_checksum = 0xfedcba9876543210ull ^ i;
        }
    }
    m->segs = segs;
    m->n_segs = n;
}

static void expect_same(const struct kq_manifest *a, const struct kq_manifest *b)
{
    assert_int_equal(a->generation, b->generation);
    assert_int_equal(a->next_segment, b->next_segment);
    assert_true(a->k1 == b->k1);
    assert_true(a->b == b->b);
    assert_string_equal(a->language, b->language);
    assert_int_equal(a->n_segs, b->n_segs);
    for (uint32_t i = 0; i < a->n_segs; i++) {
        assert_int_equal(a->segs[i].number, b->segs[i].number);
        assert_int_equal(a->segs[i].file_size, b->segs[i].file_size);
        assert_int_equal(a->segs[i].n_docs, b->segs[i].n_docs);
        assert_int_equal(a->segs[i].checksum, b->segs[i].checksum);
        assert_int_equal(a->segs[i].n_deleted, b->segs[i].n_deleted);
        assert_int_equal(a->segs[i].del_gen, b->segs[i].del_gen);
        assert_int_equal(a->segs[i].del_checksum, b->segs[i].del_checksum);
    }
}

/* Writes `m` into a fresh directory and returns the MANIFEST bytes. */
static uint8_t *written_bytes(const struct kq_manifest *m, size_t *len)
{
    char *dir = kqt_tmpdir();
    kq_error err;
    if (kq__manifest_write(dir, m, &err))
        fail_msg("write: %s", err.msg);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, KQ_MANIFEST_NAME);
    uint8_t *p = (uint8_t *)kqt_read_file(path, len);
    kqt_rmrf(dir);
    free(dir);
    return p;
}

static void test_round_trip(void **state)
{
    (void)state;
    uint32_t counts[] = {0, 1, 3, 200};
    for (size_t k = 0; k < sizeof counts / sizeof *counts; k++) {
        struct kq_manifest_seg segs[200];
        struct kq_manifest m, r;
        make(&m, counts[k], segs);
        char *dir = kqt_tmpdir();
        kq_error err;
        assert_int_equal(kq__manifest_read(dir, &r, &err), KQ_ENOTFOUND);
        assert_int_equal(kq__manifest_write(dir, &m, &err), 0);
        if (kq__manifest_read(dir, &r, &err))
            fail_msg("read (%u segments): %s", counts[k], err.msg);
        expect_same(&m, &r);
        kq__manifest_release(&r);
        kq__manifest_release(&r); /* twice is harmless */
        /* replaced atomically, no temporary file left behind */
        m.generation++;
        assert_int_equal(kq__manifest_write(dir, &m, &err), 0);
        assert_int_equal(kq__manifest_read(dir, &r, &err), 0);
        expect_same(&m, &r);
        kq__manifest_release(&r);
        DIR *d = opendir(dir);
        struct dirent *de;
        int files = 0;
        while ((de = readdir(d)))
            if (de->d_name[0] != '.' || !strncmp(de->d_name, ".tmp", 4)) {
                assert_string_equal(de->d_name, KQ_MANIFEST_NAME);
                files++;
            }
        closedir(d);
        assert_int_equal(files, 1);
        kqt_rmrf(dir);
        free(dir);
    }
    kq__manifest_release(NULL);
}

static void test_golden_layout(void **state)
{
    (void)state;
    struct kq_manifest_seg segs[2];
    struct kq_manifest m;
    make(&m, 2, segs);
    size_t len;
    uint8_t *p = written_bytes(&m, &len);
    assert_int_equal(len, KQ_MANIFEST_HEAD + 2 * KQ_MANIFEST_ENTRY + 8);
    assert_memory_equal(p, "KQMANIF\0", 8);
    assert_int_equal(kq_get_le16(p + 8), KQ_MANIFEST_VERSION);
    assert_int_equal(kq_get_le32(p + 12), 2);
    assert_int_equal(kq_get_le64(p + 16), 7);
    assert_int_equal(kq_get_le64(p + 24), 100);
    double k1;
    uint64_t u = kq_get_le64(p + 32);
    memcpy(&k1, &u, 8);
    assert_true(k1 == 1.25);
    assert_string_equal((const char *)p + 48, "english");
    const uint8_t *e = p + KQ_MANIFEST_HEAD + KQ_MANIFEST_ENTRY;
    assert_int_equal(kq_get_le64(e), 8);
    assert_int_equal(kq_get_le64(e + 8), 4097);
    assert_int_equal(kq_get_le32(e + 16), 11);
    assert_int_equal(kq_get_le32(e + 20), 1);  /* n_deleted */
    assert_int_equal(kq_get_le64(e + 24), 0x0123456789abcdefull ^ 1);
    assert_int_equal(kq_get_le64(e + 32), 2);  /* del_gen */
    assert_int_equal(kq_get_le64(e + 40), 0xfedcba9876543210ull ^ 1);
    e = p + KQ_MANIFEST_HEAD; /* no deletions: zeros */
    for (int k = 20; k < 24; k++)
        assert_int_equal(e[k], 0);
    for (int k = 32; k < 48; k++)
        assert_int_equal(e[k], 0);
    assert_int_equal(kq_get_le64(p + len - 8), XXH3_64bits(p, len - 8));
    /* the golden bytes of the header */
    static const uint8_t head[16] = {'K', 'Q', 'M', 'A', 'N', 'I', 'F', 0, 3, 0, 0, 0, 2, 0, 0, 0};
    assert_memory_equal(p, head, 16);
    free(p);

    char dn[64];
    kq__del_name(12, 345, dn, sizeof dn);
    assert_string_equal(dn, "seg_00000012_00000345.del");

    char name[64];
    kq__segment_name(12, name, sizeof name);
    assert_string_equal(name, "seg_00000012.kq");
    kq__segment_name(123456789012ull, name, sizeof name);
    assert_string_equal(name, "seg_123456789012.kq");
}

static void fix_checksum(uint8_t *p, size_t len)
{
    if (len >= 8)
        kq_put_le64(p + len - 8, XXH3_64bits(p, len - 8));
}

/* A manifest parse returned: it keeps the invariants the reader relies on. */
static void expect_sane(const struct kq_manifest *m)
{
    assert_true(m->n_segs <= KQ_MANIFEST_MAX_SEGMENTS);
    assert_true(m->k1 > 0 && m->k1 <= 100);
    assert_true(m->b >= 0 && m->b <= 1);
    assert_true(strlen(m->language) < sizeof m->language);
    for (uint32_t i = 0; i < m->n_segs; i++) {
        assert_true(m->segs[i].number < m->next_segment);
        if (i)
            assert_true(m->segs[i].number > m->segs[i - 1].number);
        assert_true(!m->segs[i].n_deleted || m->segs[i].n_deleted < m->segs[i].n_docs);
        assert_true((m->segs[i].n_deleted == 0) == (m->segs[i].del_gen == 0));
        assert_true(m->segs[i].del_gen <= m->generation);
        if (!m->segs[i].del_gen)
            assert_int_equal(m->segs[i].del_checksum, 0);
    }
}

static void test_flip_and_truncate(void **state)
{
    (void)state;
    struct kq_manifest_seg segs[3];
    struct kq_manifest m, r;
    make(&m, 3, segs);
    size_t len;
    uint8_t *p = written_bytes(&m, &len);
    uint8_t *q = malloc(len + 16);
    assert_non_null(q);
    kq_error err;
    assert_int_equal(kq__manifest_parse(p, len, &r, &err), 0);
    expect_same(&m, &r);
    kq__manifest_release(&r);

    /* every byte, several patterns: the checksum catches all */
    static const uint8_t pats[] = {0x01, 0x80, 0xff, 0x10};
    for (size_t at = 0; at < len; at++)
        for (size_t k = 0; k < sizeof pats; k++) {
            memcpy(q, p, len);
            q[at] ^= pats[k];
            int rc = kq__manifest_parse(q, len, &r, &err);
            if (rc != KQ_ECORRUPT)
                fail_msg("flip 0x%02x at %zu: parse returned %d", pats[k], at, rc);
            assert_int_equal(r.n_segs, 0);
            assert_null(r.segs);
            assert_non_null(strstr(err.msg, "manifest"));
        }
    /* every truncation, and trailing bytes */
    for (size_t l = 0; l < len; l++) {
        memcpy(q, p, len);
        assert_int_equal(kq__manifest_parse(q, l, &r, &err), KQ_ECORRUPT);
        fix_checksum(q, l); /* even with a checksum that fits the shorter bytes */
        assert_int_equal(kq__manifest_parse(q, l, &r, &err), KQ_ECORRUPT);
    }
    for (size_t extra = 1; extra <= 16; extra++) {
        memcpy(q, p, len);
        memset(q + len, 0, extra);
        assert_int_equal(kq__manifest_parse(q, len + extra, &r, NULL), KQ_ECORRUPT);
        fix_checksum(q, len + extra);
        assert_int_equal(kq__manifest_parse(q, len + extra, &r, NULL), KQ_ECORRUPT);
    }
    /* structure-aware: every byte of the body changed, the checksum made valid */
    int accepted = 0;
    for (size_t at = 0; at < len - 8; at++)
        for (size_t k = 0; k < sizeof pats; k++) {
            memcpy(q, p, len);
            q[at] ^= pats[k];
            fix_checksum(q, len);
            int rc = kq__manifest_parse(q, len, &r, &err);
            assert_true(rc == 0 || rc == KQ_ECORRUPT || rc == KQ_EVERSION);
            if (rc == 0) {
                expect_sane(&r);
                accepted++;
            } else {
                assert_null(r.segs);
            }
            kq__manifest_release(&r);
        }
    assert_true(accepted > 0); /* checksums and sizes of entries are free values */
    free(q);
    free(p);
}

static void test_bad_fields(void **state)
{
    (void)state;
    struct kq_manifest_seg segs[3];
    struct kq_manifest m, r;
    make(&m, 3, segs);
    size_t len;
    uint8_t *p = written_bytes(&m, &len);
    uint8_t *q = malloc(len);
    assert_non_null(q);
    kq_error err;
#define REPARSE(edit, expect)                                                              \
    do {                                                                                   \
        memcpy(q, p, len);                                                                 \
        edit;                                                                              \
        fix_checksum(q, len);                                                              \
        int rc_ = kq__manifest_parse(q, len, &r, &err);                                    \
        if (rc_ != (expect))                                                               \
            fail_msg("%s: parse returned %d, expected %d", #edit, rc_, (expect));         \
        kq__manifest_release(&r);                                                          \
    } while (0)
    REPARSE(q[0] = 'X', KQ_ECORRUPT);
    REPARSE(kq_put_le16(q + 8, 4), KQ_EVERSION);
    REPARSE(kq_put_le16(q + 8, 0), KQ_EVERSION);
    REPARSE(kq_put_le16(q + 8, 1), 0); /* version 1 is still read: no deletions */
    /* versions 1 and 2 name files as given; the writer keeps that meaning (version 2) */
    for (uint16_t v = 1; v <= KQ_MANIFEST_VERSION; v++) {
        memcpy(q, p, len);
        kq_put_le16(q + 8, v);
        fix_checksum(q, len);
        assert_int_equal(kq__manifest_parse(q, len, &r, &err), 0);
        assert_int_equal(r.paths_as_given, v < 3);
        size_t wl;
        uint8_t *w = written_bytes(&r, &wl);
        assert_int_equal(kq_get_le16(w + 8), v < 3 ? 2 : 3);
        free(w);
        kq__manifest_release(&r);
    }
    /* M6: deletions of the second entry (1 of 11 deleted, generation 2) */
    const size_t e1 = KQ_MANIFEST_HEAD + KQ_MANIFEST_ENTRY;
    REPARSE(kq_put_le32(q + e1 + 20, 11), KQ_ECORRUPT);  /* every document deleted */
    REPARSE(kq_put_le32(q + e1 + 20, 10), 0);
    REPARSE(kq_put_le32(q + e1 + 20, 0), KQ_ECORRUPT);   /* a file but no deletions */
    REPARSE(kq_put_le64(q + e1 + 32, 0), KQ_ECORRUPT);   /* deletions but no file */
    REPARSE(kq_put_le64(q + e1 + 32, 8), KQ_ECORRUPT);   /* newer than the manifest (7) */
    REPARSE(kq_put_le64(q + e1 + 32, 7), 0);
    REPARSE(kq_put_le64(q + KQ_MANIFEST_HEAD + 40, 1), KQ_ECORRUPT); /* checksum, no file */
    REPARSE(kq_put_le32(q + 12, 2), KQ_ECORRUPT);
    REPARSE(kq_put_le32(q + 12, 4), KQ_ECORRUPT);
    REPARSE(kq_put_le32(q + 12, 0xffffffffu), KQ_ECORRUPT);
    REPARSE(memset(q + 48, 'a', 32), KQ_ECORRUPT);            /* language not terminated */
    REPARSE(memcpy(q + 48, "klingon", 8), KQ_ECORRUPT);       /* no such stemmer */
    REPARSE(memcpy(q + 48, "none\0\0\0", 8), 0);
    REPARSE(kq_put_le64(q + 24, 13), KQ_ECORRUPT);            /* number 13 >= next 13 */
    REPARSE(kq_put_le64(q + 24, 14), 0);
    REPARSE(kq_put_le64(q + KQ_MANIFEST_HEAD + KQ_MANIFEST_ENTRY, 3), KQ_ECORRUPT); /* dup */
    REPARSE(kq_put_le64(q + KQ_MANIFEST_HEAD + KQ_MANIFEST_ENTRY, 2), KQ_ECORRUPT); /* order */
#undef REPARSE
    /* a version 1 manifest: what follows n_docs in an entry is reserved, never deletions */
    memcpy(q, p, len);
    kq_put_le16(q + 8, 1);
    fix_checksum(q, len);
    assert_int_equal(kq__manifest_parse(q, len, &r, &err), 0);
    for (uint32_t i = 0; i < r.n_segs; i++) {
        assert_int_equal(r.segs[i].n_deleted, 0);
        assert_int_equal(r.segs[i].del_gen, 0);
    }
    kq__manifest_release(&r);
    free(q);
    free(p);
    /* more segments than the limit, consistently sized */
    size_t big = KQ_MANIFEST_HEAD + (size_t)(KQ_MANIFEST_MAX_SEGMENTS + 1) * KQ_MANIFEST_ENTRY + 8;
    uint8_t *b = calloc(1, big);
    assert_non_null(b);
    memcpy(b, KQ_MANIFEST_MAGIC, 8);
    kq_put_le16(b + 8, KQ_MANIFEST_VERSION);
    kq_put_le32(b + 12, KQ_MANIFEST_MAX_SEGMENTS + 1);
    kq_put_le64(b + 16, 1);
    kq_put_le64(b + 24, 1u << 20);
    double k1 = 0.9; /* M4: k1 > 0 and a language */
    uint64_t k1_bits;
    memcpy(&k1_bits, &k1, 8);
    kq_put_le64(b + 32, k1_bits);
    memcpy(b + 48, "none", 5);
    for (uint32_t i = 0; i <= KQ_MANIFEST_MAX_SEGMENTS; i++)
        kq_put_le64(b + KQ_MANIFEST_HEAD + (size_t)i * KQ_MANIFEST_ENTRY, i + 1);
    fix_checksum(b, big);
    assert_int_equal(kq__manifest_parse(b, big, &r, &err), KQ_ECORRUPT);
    /* exactly the limit is fine */
    size_t lim = big - KQ_MANIFEST_ENTRY;
    kq_put_le32(b + 12, KQ_MANIFEST_MAX_SEGMENTS);
    memset(b + lim - 8, 0, KQ_MANIFEST_ENTRY + 8);
    fix_checksum(b, lim);
    assert_int_equal(kq__manifest_parse(b, lim, &r, &err), 0);
    assert_int_equal(r.n_segs, KQ_MANIFEST_MAX_SEGMENTS);
    kq__manifest_release(&r);
    free(b);
}

/* A counter that wrapped makes a manifest the writer refuses to commit (M3). */
static void test_counters_wrap(void **state)
{
    (void)state;
    struct kq_manifest_seg segs[1];
    struct kq_manifest m;
    kq_error err;
    char *dir = kqt_tmpdir();
    make(&m, 1, segs);
    m.generation = UINT64_MAX + (uint64_t)1; /* one commit after UINT64_MAX */
    assert_int_equal(kq__manifest_write(dir, &m, &err), KQ_EINTERNAL);
    assert_non_null(strstr(err.msg, "generation 0"));
    make(&m, 1, segs);
    segs[0].number = UINT64_MAX; /* the last number, and next_segment wrapped to 0 */
    m.next_segment = 0;
    assert_int_equal(kq__manifest_write(dir, &m, &err), KQ_EINTERNAL);
    assert_non_null(strstr(err.msg, "segment numbers"));
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, KQ_MANIFEST_NAME);
    assert_int_equal(access(path, F_OK), -1); /* nothing was committed */
    kqt_rmrf(dir);
    free(dir);
}

static void test_bm25_range(void **state)
{
    (void)state;
    struct kq_manifest_seg segs[1];
    struct kq_manifest m, r;
    const double bad_k1[] = {-1.0, -0.0001, 0.0, 100.0001, 1e300, NAN, INFINITY, -INFINITY};
    const double bad_b[] = {-0.1, 1.0001, 2.0, NAN, INFINITY, -INFINITY};
    const double good_k1[] = {0.001, 0.9, 1.2, 100.0};
    const double good_b[] = {0.0, 0.4, 0.75, 1.0};
    kq_error err;
    for (size_t i = 0; i < sizeof bad_k1 / sizeof *bad_k1 + sizeof bad_b / sizeof *bad_b; i++) {
        int is_k1 = i < sizeof bad_k1 / sizeof *bad_k1;
        double v = is_k1 ? bad_k1[i] : bad_b[i - sizeof bad_k1 / sizeof *bad_k1];
        make(&m, 1, segs);
        size_t len;
        uint8_t *p = written_bytes(&m, &len);
        uint64_t bits;
        memcpy(&bits, &v, 8);
        kq_put_le64(p + (is_k1 ? 32 : 40), bits);
        fix_checksum(p, len);
        assert_int_equal(kq__manifest_parse(p, len, &r, &err), KQ_ECORRUPT);
        assert_non_null(strstr(err.msg, "BM25"));
        free(p);
        /* and the writer refuses to commit it */
        if (is_k1)
            m.k1 = v;
        else
            m.b = v;
        char *dir = kqt_tmpdir();
        assert_int_equal(kq__manifest_write(dir, &m, &err), KQ_EINTERNAL);
        assert_non_null(strstr(err.msg, "BM25"));
        kqt_rmrf(dir);
        free(dir);
    }
    for (size_t i = 0; i < 4; i++) {
        make(&m, 1, segs);
        m.k1 = good_k1[i];
        m.b = good_b[i];
        size_t len;
        uint8_t *p = written_bytes(&m, &len);
        assert_int_equal(kq__manifest_parse(p, len, &r, &err), 0);
        expect_same(&m, &r);
        kq__manifest_release(&r);
        free(p);
    }
}

static void test_read_errors(void **state)
{
    (void)state;
    char *dir = kqt_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, KQ_MANIFEST_NAME);
    struct kq_manifest r;
    kq_error err;
    /* too large to be a manifest: refused before reading */
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fseek(f, KQ_MANIFEST_HEAD + (long)KQ_MANIFEST_MAX_SEGMENTS * KQ_MANIFEST_ENTRY
                                  + 9, SEEK_SET), 0);
    fputc(0, f);
    fclose(f);
    assert_int_equal(kq__manifest_read(dir, &r, &err), KQ_ECORRUPT);
    /* empty */
    f = fopen(path, "wb");
    fclose(f);
    assert_int_equal(kq__manifest_read(dir, &r, &err), KQ_ECORRUPT);
    /* a directory where the file should be */
    unlink(path);
    char sub[4300];
    snprintf(sub, sizeof sub, "%s/%s", dir, KQ_MANIFEST_NAME);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_true(kq__manifest_read(dir, &r, &err) < 0);
    kqt_rmrf(dir);
    free(dir);
    /* writing into a directory that does not exist */
    struct kq_manifest_seg segs[1];
    struct kq_manifest m;
    make(&m, 1, segs);
    assert_int_equal(kq__manifest_write("/nonexistent/kq/dir", &m, &err), KQ_EIO);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    struct kq_manifest_seg segs[3];
    struct kq_manifest m, r;
    make(&m, 3, segs);
    size_t len;
    uint8_t *p = written_bytes(&m, &len);
    for (long n = 0;; n++) {
        kq_alloc_fail_after(n);
        int rc = kq__manifest_parse(p, len, &r, NULL);
        kq_alloc_fail_after(-1);
        if (rc == 0) {
            expect_same(&m, &r);
            kq__manifest_release(&r);
            break;
        }
        assert_int_equal(rc, KQ_ENOMEM);
        assert_null(r.segs);
        assert_true(n < 10);
    }
    char *dir = kqt_tmpdir();
    for (long n = 0;; n++) {
        kq_alloc_fail_after(n);
        int rc = kq__manifest_write(dir, &m, NULL);
        kq_alloc_fail_after(-1);
        if (rc == 0)
            break;
        assert_int_equal(rc, KQ_ENOMEM);
        assert_true(n < 10);
    }
    for (long n = 0;; n++) {
        kq_alloc_fail_after(n);
        int rc = kq__manifest_read(dir, &r, NULL);
        kq_alloc_fail_after(-1);
        if (rc == 0) {
            expect_same(&m, &r);
            kq__manifest_release(&r);
            break;
        }
        assert_int_equal(rc, KQ_ENOMEM);
        assert_true(n < 10);
    }
    kqt_rmrf(dir);
    free(dir);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_golden_layout),
        cmocka_unit_test(test_flip_and_truncate), cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_bm25_range),      cmocka_unit_test(test_counters_wrap),
        cmocka_unit_test(test_read_errors),     cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
