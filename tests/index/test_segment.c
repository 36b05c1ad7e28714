/* tests/index/test_segment.c: the segment container (index/segment.c): sinks (memory, then
 * a temporary file past the threshold; the hash covers every byte appended), the
 * write/map round trip, and the table rules: a missing required section is corrupt, an
 * unknown optional section is skipped, an unknown required one is a version error, offsets
 * must be aligned, inside the file and not overlapping, checksums must match. */
#include <fcntl.h>
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

#include "index/segment.h"
#include "testutil.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/bytes.h"

static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)kqt_rand();
}

static void test_sink_spill(void **state)
{
    (void)state;
    char *dir = kqt_tmpdir();
    size_t total = 300000;
    uint8_t *all = malloc(total);
    assert_non_null(all);
    fill(all, total);
    static const size_t thresholds[] = {0, 1000, 4096, 1 << 20};
    for (size_t t = 0; t < sizeof thresholds / sizeof *thresholds; t++) {
        kq_sink s;
        kq_error err;
        assert_int_equal(kq__sink_init(&s, dir, thresholds[t]), 0);
        size_t off = 0;
        kq_buf b = KQ_BUF_INIT;
        while (off < total) {
            size_t n = (size_t)(kqt_rand() % 3 == 0 ? kqt_rand() % 5000 : kqt_rand() % 300);
            if (n > total - off)
                n = total - off;
            if (kqt_rand() % 2) {
                assert_int_equal(kq__sink_append(&s, all + off, n, &err), 0);
            } else {
                assert_int_equal(kq_buf_append(&b, all + off, n), 0);
                assert_int_equal(kq__sink_drain(&s, &b, &err), 0);
                assert_int_equal(b.len, 0);
            }
            off += n;
        }
        kq_buf_release(&b);
        assert_int_equal(s.size, total);
        assert_int_equal(kq__sink_hash(&s), XXH3_64bits(all, total));
        if (thresholds[t] && thresholds[t] < total) {
            assert_true(s.fd >= 0); /* spilled */
            assert_true(s.on_disk > 0);
            assert_true(s.mem.len <= thresholds[t]);
        } else {
            assert_int_equal(s.fd, -1);
        }
        assert_int_equal(s.on_disk + s.mem.len, total);
        if (s.fd >= 0) { /* the spilled bytes are the first ones, in order */
            uint8_t *back = malloc(s.on_disk);
            assert_non_null(back);
            assert_int_equal(pread(s.fd, back, s.on_disk, 0), (ssize_t)s.on_disk);
            assert_memory_equal(back, all, s.on_disk);
            free(back);
        }
        assert_memory_equal(s.mem.p ? s.mem.p : all, all + s.on_disk, s.mem.len);
        kq__sink_release(&s);
        kq__sink_release(&s);
    }
    kq__sink_release(NULL);
    /* the spill file is unlinked: the directory stays empty */
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", dir);
    assert_int_equal(system(cmd), 0);
    kqt_rmrf(dir);
    free(dir);
    free(all);
}

/* Sinks with random contents for every section (ZDIC only when `with_dict`). */
struct secs {
    kq_sink sink[KQ_SEC_COUNT];
    kq_sink *ptr[KQ_SEC_COUNT];
    uint8_t *data[KQ_SEC_COUNT];
    size_t len[KQ_SEC_COUNT];
};

static void secs_init(struct secs *s, const char *dir, int with_dict)
{
    for (int i = 0; i < KQ_SEC_COUNT; i++) {
        static const size_t sizes[] = {96, 5000, 301, 70001, 12345, 40, 777, 0, 24, 33333, 999};
        s->len[i] = i == KQ_SEC_ZDIC && !with_dict ? 0 : sizes[i];
        s->data[i] = malloc(s->len[i] ? s->len[i] : 1);
        assert_non_null(s->data[i]);
        fill(s->data[i], s->len[i]);
        assert_int_equal(kq__sink_init(&s->sink[i], dir, 4096), 0);
        assert_int_equal(kq__sink_append(&s->sink[i], s->data[i], s->len[i], NULL), 0);
        s->ptr[i] = &s->sink[i];
    }
}

static void secs_release(struct secs *s)
{
    for (int i = 0; i < KQ_SEC_COUNT; i++) {
        kq__sink_release(&s->sink[i]);
        free(s->data[i]);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    char *dir = kqt_tmpdir();
    for (int with_dict = 0; with_dict < 2; with_dict++) {
        struct secs s;
        secs_init(&s, dir, with_dict);
        char path[4200];
        snprintf(path, sizeof path, "%s/seg_%d.kq", dir, with_dict);
        uint64_t size;
        kq_error err;
        if (kq__segment_write(path, s.ptr, 1, &size, &err))
            fail_msg("write: %s", err.msg);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal((uint64_t)st.st_size, size);
        /* writing over an existing file is refused and leaves it alone */
        assert_int_equal(kq__segment_write(path, s.ptr, 1, NULL, &err), KQ_EIO);
        assert_int_equal(stat(path, &st), 0);

        kq_segfile f;
        if (kq__segment_map(&f, path, 1, &err))
            fail_msg("map: %s", err.msg);
        assert_int_equal(f.size, size);
        char name[64];
        snprintf(name, sizeof name, "seg_%d.kq", with_dict);
        assert_string_equal(f.name, name);
        assert_memory_equal(f.map, KQ_SEG_MAGIC, 8);
        assert_int_equal(kq_get_le32(f.map + 12), with_dict ? KQ_SEC_COUNT : KQ_SEC_COUNT - 1);
        for (int i = 0; i < KQ_SEC_COUNT; i++) {
            assert_int_equal(f.sec[i].len, s.len[i]);
            if (s.len[i])
                assert_memory_equal(f.sec[i].p, s.data[i], s.len[i]);
            if (f.sec[i].p) {
                assert_int_equal((size_t)(f.sec[i].p - f.map) % KQ_SEG_ALIGN, 0);
                assert_true(f.sec[i].p - f.map >= KQ_SEG_DATA_OFF);
            }
        }
        assert_string_equal(kq__section_tag(KQ_SEC_POST), "POST");
        assert_string_equal(kq__section_tag(KQ_SEC_COUNT), "????");
        assert_string_equal(kq__section_tag(-1), "????");
        kq__segment_unmap(&f);
        kq__segment_unmap(&f);
        secs_release(&s);
    }
    kqt_rmrf(dir);
    free(dir);
}

/* A valid segment image in memory (no ZDIC). */
static uint8_t *image(size_t *len)
{
    char *dir = kqt_tmpdir();
    struct secs s;
    secs_init(&s, dir, 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/seg.kq", dir);
    assert_int_equal(kq__segment_write(path, s.ptr, 1, NULL, NULL), 0);
    uint8_t *p = (uint8_t *)kqt_read_file(path, len);
    secs_release(&s);
    kqt_rmrf(dir);
    free(dir);
    return p;
}

static void fix_header(uint8_t *p)
{
    uint32_t n = kq_get_le32(p + 12);
    if (n > KQ_SEG_MAX_SECTIONS)
        n = KQ_SEG_MAX_SECTIONS;
    uint8_t hb[56 + KQ_SEG_MAX_SECTIONS * KQ_SEG_ENTRY_SIZE];
    memcpy(hb, p, 56);
    memcpy(hb + 56, p + KQ_SEG_HEADER_SIZE, (size_t)n * KQ_SEG_ENTRY_SIZE);
    kq_put_le64(p + 56, XXH3_64bits(hb, 56 + (size_t)n * KQ_SEG_ENTRY_SIZE));
}

static int check(const uint8_t *p, size_t len, int verify, kq_error *err)
{
    kq_segfile f;
    memset(&f, 0, sizeof f);
    return kq__segment_check_bytes(&f, p, len, verify, err);
}

/* Adds a section `tag` with `flags` after the last one (the file grows by 8 bytes). */
static uint8_t *with_extra(const uint8_t *p, size_t len, const char *tag, uint32_t flags,
                           size_t *out_len)
{
    uint8_t *q = calloc(1, len + 8);
    assert_non_null(q);
    memcpy(q, p, len);
    uint32_t n = kq_get_le32(q + 12);
    uint8_t *e = q + KQ_SEG_HEADER_SIZE + (size_t)n * KQ_SEG_ENTRY_SIZE;
    memcpy(e, tag, 4);
    kq_put_le32(e + 4, flags);
    kq_put_le64(e + 8, len);
    kq_put_le64(e + 16, 8);
    memcpy(q + len, "extra!!!", 8);
    kq_put_le64(e + 24, XXH3_64bits(q + len, 8));
    kq_put_le32(q + 12, n + 1);
    kq_put_le64(q + 16, len + 8);
    fix_header(q);
    *out_len = len + 8;
    return q;
}

static void test_table_rules(void **state)
{
    (void)state;
    size_t len;
    uint8_t *p = image(&len);
    kq_error err;
    assert_int_equal(check(p, len, 1, &err), 0);
    uint8_t *q = malloc(len);
    assert_non_null(q);

    /* unknown optional section: skipped; unknown required: version error */
    size_t xl;
    uint8_t *x = with_extra(p, len, "XTRA", 0, &xl);
    kq_segfile f;
    memset(&f, 0, sizeof f);
    assert_int_equal(kq__segment_check_bytes(&f, x, xl, 1, &err), 0);
    for (int i = 0; i < KQ_SEC_COUNT; i++)
        assert_true(f.sec[i].p == NULL || f.sec[i].p < x + len);
    free(x);
    x = with_extra(p, len, "XTRA", KQ_SECTION_REQUIRED, &xl);
    assert_int_equal(check(x, xl, 1, &err), KQ_EVERSION);
    assert_non_null(strstr(err.msg, "'XTRA'"));
    /* and through a real file */
    char *dir = kqt_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/seg_x.kq", dir);
    FILE *fh = fopen(path, "wb");
    assert_non_null(fh);
    fwrite(x, 1, xl, fh);
    fclose(fh);
    assert_int_equal(kq__segment_map(&f, path, 1, &err), KQ_EVERSION);
    assert_null(f.map);
    free(x);
    /* ZDIC is optional and known */
    x = with_extra(p, len, "ZDIC", 0, &xl);
    assert_int_equal(check(x, xl, 1, &err), 0);
    free(x);
    /* a required section missing: POSN renamed to an unknown optional tag */
    for (uint32_t i = 0; i < kq_get_le32(p + 12); i++) {
        memcpy(q, p, len);
        uint8_t *e = q + KQ_SEG_HEADER_SIZE + (size_t)i * KQ_SEG_ENTRY_SIZE;
        char tag[5] = {0};
        memcpy(tag, e, 4);
        memcpy(e, "QQQQ", 4);
        kq_put_le32(e + 4, 0);
        fix_header(q);
        assert_int_equal(check(q, len, 1, &err), KQ_ECORRUPT);
        char needle[32];
        snprintf(needle, sizeof needle, "'%s' is missing", tag);
        if (!strstr(err.msg, needle))
            fail_msg("'%s' does not say %s", err.msg, needle);
    }
    /* the writer leaves out a required section it is not given: the reader refuses */
    {
        struct secs s;
        secs_init(&s, dir, 0);
        s.ptr[KQ_SEC_POSN] = NULL;
        snprintf(path, sizeof path, "%s/seg_noposn.kq", dir);
        assert_int_equal(kq__segment_write(path, s.ptr, 1, NULL, &err), 0);
        assert_int_equal(kq__segment_map(&f, path, 1, &err), KQ_ECORRUPT);
        assert_non_null(strstr(err.msg, "'POSN' is missing"));
        secs_release(&s);
    }
    kqt_rmrf(dir);
    free(dir);
    /* a section appearing twice */
    memcpy(q, p, len);
    memcpy(q + KQ_SEG_HEADER_SIZE + KQ_SEG_ENTRY_SIZE, "META", 4);
    fix_header(q);
    assert_int_equal(check(q, len, 0, &err), KQ_ECORRUPT);
    assert_non_null(strstr(err.msg, "twice"));

    uint8_t *e1 = q + KQ_SEG_HEADER_SIZE + KQ_SEG_ENTRY_SIZE; /* TDIC */
    /* misaligned, overlapping, outside the file, length overflowing */
    struct {
        uint64_t off, len;
    } bad[] = {
        {kq_get_le64(p + KQ_SEG_HEADER_SIZE + KQ_SEG_ENTRY_SIZE + 8) + 1, 8},
        {KQ_SEG_DATA_OFF, 8},
        {len, 8},
        {len - 8, 16},
        {8, UINT64_MAX - 4},
        {UINT64_MAX - 7, 8},
        {0, 8},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memcpy(q, p, len);
        kq_put_le64(e1 + 8, bad[i].off);
        kq_put_le64(e1 + 16, bad[i].len);
        fix_header(q);
        assert_int_equal(check(q, len, 0, &err), KQ_ECORRUPT);
        assert_non_null(strstr(err.msg, "'TDIC'"));
    }
    /* header fields */
    memcpy(q, p, len);
    kq_put_le16(q + 8, KQ_SEG_VERSION_MAJOR + 1);
    fix_header(q);
    assert_int_equal(check(q, len, 1, &err), KQ_EVERSION);
    memcpy(q, p, len);
    kq_put_le16(q + 10, KQ_SEG_VERSION_MINOR + 5); /* a newer minor version reads */
    fix_header(q);
    assert_int_equal(check(q, len, 1, &err), 0);
    memcpy(q, p, len);
    kq_put_le32(q + 12, KQ_SEG_MAX_SECTIONS + 1);
    assert_int_equal(check(q, len, 1, &err), KQ_ECORRUPT);
    kq_put_le32(q + 12, 0xffffffffu);
    assert_int_equal(check(q, len, 1, &err), KQ_ECORRUPT);
    memcpy(q, p, len);
    kq_put_le64(q + 16, len + 1);
    fix_header(q);
    assert_int_equal(check(q, len, 1, &err), KQ_ECORRUPT);
    memcpy(q, p, len);
    q[3] ^= 0x20;
    assert_int_equal(check(q, len, 1, &err), KQ_ECORRUPT);
    assert_non_null(strstr(err.msg, "magic"));

    /* section checksums are checked only when asked */
    memcpy(q, p, len);
    q[kq_get_le64(p + KQ_SEG_HEADER_SIZE + 3 * KQ_SEG_ENTRY_SIZE + 8)] ^= 1; /* POST */
    assert_int_equal(check(q, len, 0, &err), 0);
    assert_int_equal(check(q, len, 1, &err), KQ_ECORRUPT);
    assert_non_null(strstr(err.msg, "checksum mismatch in section 'POST'"));

    /* truncation sweep: every length below the real one fails */
    for (size_t l = 0; l < len; l += (l < 1024 ? 1 : 97))
        assert_int_equal(check(p, l, 0, &err), KQ_ECORRUPT);
    free(q);
    free(p);
}

static void test_map_errors(void **state)
{
    (void)state;
    kq_segfile f;
    kq_error err;
    /* a missing segment is a damaged index (the manifest names it), not an I/O error */
    assert_int_equal(kq__segment_map(&f, "/nonexistent/seg_00000001.kq", 1, &err), KQ_ECORRUPT);
    assert_non_null(strstr(err.msg, "seg_00000001.kq"));
    char *dir = kqt_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/seg_empty.kq", dir);
    FILE *fh = fopen(path, "wb");
    fclose(fh);
    assert_int_equal(kq__segment_map(&f, path, 1, &err), KQ_ECORRUPT);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_int_equal(kq__fsync_dir(dir, &err), 0);
    assert_int_equal(kq__fsync_dir("/nonexistent/dir", &err), KQ_EIO);
    /* a sink whose directory does not exist fails when it has to spill */
    kq_sink s;
    assert_int_equal(kq__sink_init(&s, "/nonexistent/dir", 16), 0);
    uint8_t buf[64] = {0};
    assert_int_equal(kq__sink_append(&s, buf, sizeof buf, &err), KQ_EIO);
    kq__sink_release(&s);
    kqt_rmrf(dir);
    free(dir);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    char *dir = kqt_tmpdir();
    for (long n = 0;; n++) {
        kq_sink s;
        kq_alloc_fail_after(n);
        int rc = kq__sink_init(&s, dir, 0);
        uint8_t buf[5000] = {0};
        for (int i = 0; i < 20 && !rc; i++)
            rc = kq__sink_append(&s, buf, sizeof buf, NULL);
        kq_alloc_fail_after(-1);
        kq__sink_release(&s);
        if (!rc)
            break;
        assert_int_equal(rc, KQ_ENOMEM);
        assert_true(n < 100);
    }
    kqt_rmrf(dir);
    free(dir);
}

int main(void)
{
    kqt_seed(0x9e3779b97f4a7c15ull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sink_spill),   cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_table_rules),  cmocka_unit_test(test_map_errors),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
