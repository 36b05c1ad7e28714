/* tests/index/test_corrupt.c: a damaged or hostile index is refused with a clear error,
 * never a crash or a read outside the file (run under ASan).
 *
 * The seed corpus is indexed once into a temporary directory; each test damages a copy of
 * the segment or the MANIFEST on disk, checks kq_index_open and kq_index_verify, and puts
 * the original bytes back:
 *   - one byte flipped in the middle of every section: KQ_ECORRUPT naming the section,
 *     from the open, or with KQ_INDEX_VERIFY_ON_USE from the open or the first read of
 *     TDIC, POST, POSN and DSTO (each store frame carries its zstd checksum);
 *   - bytes flipped in the header and the section table; the file truncated at several
 *     points; the MANIFEST flipped byte by byte, truncated and removed;
 *   - hostile contents under valid checksums (the section's XXH3, the header checksum and
 *     the MANIFEST recomputed): document-table offsets and entries, document lengths,
 *     store index entries, META counts, and random bytes in every section. Opening and
 *     verifying must report a problem or read safely.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "index/manifest.h"
#include "index/reader.h"
#include "index/segment.h"
#include "kq/index.h"
#include "testutil.h"
#include "util/bytes.h"
#include "util/error.h"

struct fx {
    char *tmp;
    char dir[4096];
    char seg_path[4400];
    char man_path[4400];
    uint8_t *seg, *man; /* the original bytes */
    size_t seg_len, man_len;
};

static struct fx fx;

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void restore(void)
{
    write_file(fx.seg_path, fx.seg, fx.seg_len);
    write_file(fx.man_path, fx.man, fx.man_len);
}

static int setup(void **state)
{
    (void)state;
    fx.tmp = kqt_tmpdir();
    snprintf(fx.dir, sizeof fx.dir, "%s/ix", fx.tmp);
    char corpus[4096];
    snprintf(corpus, sizeof corpus, "%s/corpus", kqt_source_dir());
    const char *paths[] = {corpus};
    struct kq_build_opts o = {0};
    o.b = -1;
    o.n_threads = 1;
    kq_error err;
    if (kq_index_build(fx.dir, paths, 1, &o, NULL, &err)) {
        fprintf(stderr, "build: %s\n", err.msg);
        return -1;
    }
    DIR *d = opendir(fx.dir);
    struct dirent *de;
    int found = 0;
    while (d && (de = readdir(d)))
        if (!strncmp(de->d_name, "seg_", 4)) {
            snprintf(fx.seg_path, sizeof fx.seg_path, "%s/%s", fx.dir, de->d_name);
            found++;
        }
    if (d)
        closedir(d);
    if (found != 1)
        return -1;
    snprintf(fx.man_path, sizeof fx.man_path, "%s/%s", fx.dir, KQ_MANIFEST_NAME);
    fx.seg = (uint8_t *)kqt_read_file(fx.seg_path, &fx.seg_len);
    fx.man = (uint8_t *)kqt_read_file(fx.man_path, &fx.man_len);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(fx.seg);
    free(fx.man);
    kqt_rmrf(fx.tmp);
    free(fx.tmp);
    return 0;
}

/* ---- helpers ---- */

struct reports {
    char all[8192];
    int n;
};

static void on_report(void *ctx, const char *msg)
{
    struct reports *r = ctx;
    size_t l = strlen(r->all);
    snprintf(r->all + l, sizeof r->all - l, "%s\n", msg);
    r->n++;
}

/* Opening fails with `code` and a message containing `needle` (NULL: any). */
static void expect_open_fails(int code, const char *needle)
{
    kq_index *ix = (kq_index *)1;
    kq_error err;
    int rc = kq_index_open(fx.dir, &ix, &err);
    if (rc != code)
        fail_msg("open returned %d (%s), expected %d", rc, rc ? err.msg : "ok", code);
    assert_null(ix);
    assert_int_equal(err.code, code);
    if (needle && !strstr(err.msg, needle))
        fail_msg("message '%s' does not name '%s'", err.msg, needle);
}

/* kq_index_verify reports a problem mentioning `needle` (NULL: any). */
static void expect_verify_fails(const char *needle)
{
    struct reports r = {{0}, 0};
    kq_error err;
    int rc = kq_index_verify(fx.dir, on_report, &r, &err);
    if (rc != KQ_ECORRUPT && rc != KQ_EVERSION)
        fail_msg("verify returned %d, expected a corruption error", rc);
    assert_true(r.n > 0);
    if (needle && !strstr(r.all, needle))
        fail_msg("verify reports '%s' without naming '%s'", r.all, needle);
}

static void expect_ok(void)
{
    kq_index *ix;
    kq_error err;
    if (kq_index_open(fx.dir, &ix, &err))
        fail_msg("open: %s", err.msg);
    kq_index_close(ix);
    if (kq_index_verify(fx.dir, NULL, NULL, &err))
        fail_msg("verify: %s", err.msg);
}

static uint32_t n_sections(const uint8_t *seg)
{
    return kq_get_le32(seg + 12);
}

static const uint8_t *entry(const uint8_t *seg, uint32_t i)
{
    return seg + KQ_SEG_HEADER_SIZE + (size_t)i * KQ_SEG_ENTRY_SIZE;
}

/* The table index of section `tag`; fails the test when absent. */
static uint32_t find_section(const uint8_t *seg, const char *tag, uint64_t *off, uint64_t *len)
{
    for (uint32_t i = 0; i < n_sections(seg); i++)
        if (!memcmp(entry(seg, i), tag, 4)) {
            *off = kq_get_le64(entry(seg, i) + 8);
            *len = kq_get_le64(entry(seg, i) + 16);
            return i;
        }
    fail_msg("no section %s", tag);
    return 0;
}

/* Recomputes every section checksum and the header checksum of `seg`, then the MANIFEST's
 * record of it and the MANIFEST's own checksum, and writes both files. */
static void write_fixed(uint8_t *seg, size_t len)
{
    kq__segment_reseal(seg, len);
    write_file(fx.seg_path, seg, len);

    uint8_t *man = malloc(fx.man_len);
    assert_non_null(man);
    memcpy(man, fx.man, fx.man_len);
    kq_put_le64(man + KQ_MANIFEST_HEAD + 24, kq_get_le64(seg + 56));
    kq_put_le64(man + fx.man_len - 8, XXH3_64bits(man, fx.man_len - 8));
    write_file(fx.man_path, man, fx.man_len);
    free(man);
}

static uint8_t *seg_copy(void)
{
    uint8_t *p = malloc(fx.seg_len);
    assert_non_null(p);
    memcpy(p, fx.seg, fx.seg_len);
    return p;
}

/* Reads every section through an index opened with KQ_INDEX_VERIFY_ON_USE: term lookups
 * and postings, the positions of phrase words, every stored document. Returns the first
 * error (0: none). */
static int use_everything(kq_index *ix, kq_error *err)
{
    static const char *terms[] = {"korea", "the", "alliance", "u.s", "of", "zzz"};
    int rc = 0;
    for (int f = 0; f < KQ_N_FIELDS && !rc; f++)
        for (size_t t = 0; t < sizeof terms / sizeof *terms && !rc; t++) {
            kq_cursor *c;
            if ((rc = kq_cursor_open(ix, f, terms[t], strlen(terms[t]), &c, err)) || !c)
                continue;
            rc = kq__cursor_need_positions(c, err);
            uint32_t pos[4096];
            while (!rc && kq_cursor_next(c) != KQ_NO_DOC)
                if (kq_cursor_tf(c) <= 4096 && kq_cursor_positions(c, pos, 4096) < 0)
                    rc = kq__error(err, KQ_ECORRUPT, -1, "positions");
            if (!rc && kq_cursor_error(c))
                rc = kq__error(err, KQ_ECORRUPT, -1, "cursor");
            kq_cursor_close(c);
        }
    struct kq_index_info info;
    kq_index_get_info(ix, &info);
    for (uint32_t d = 0; d < info.n_docs && !rc; d++) {
        char *text;
        size_t len;
        if (!(rc = kq_index_doc_text(ix, d, &text, &len, err)))
            kq_free(text);
    }
    return rc;
}

/* Opened with KQ_INDEX_VERIFY_ON_USE, the index reports KQ_ECORRUPT naming `tag`: from the
 * open for a section the open reads, from the first read of a section it defers. */
static void expect_use_fails(const char *tag)
{
    static const char *deferred[] = {"TDIC", "POST", "POSN", "DSTO"};
    int defer = 0;
    for (size_t i = 0; i < sizeof deferred / sizeof *deferred; i++)
        defer |= !strcmp(tag, deferred[i]);
    char needle[16];
    snprintf(needle, sizeof needle, "'%s'", tag);
    kq_index *ix;
    kq_error err;
    int rc = kq_index_open_ex(fx.dir, KQ_INDEX_VERIFY_ON_USE, &ix, &err);
    if (defer && rc)
        fail_msg("open verified %s: %s", tag, err.msg);
    if (!rc) {
        if (!defer)
            fail_msg("open did not verify %s", tag);
        rc = use_everything(ix, &err);
        kq_index_close(ix);
    }
    if (rc != KQ_ECORRUPT || !strstr(err.msg, needle))
        fail_msg("damaged %s: %d '%s'", tag, rc, rc ? err.msg : "");
}

/* ---- damage ---- */

static void test_intact(void **state)
{
    (void)state;
    restore();
    restore();
    expect_ok();
    kq_index *ix = (kq_index *)1;
    kq_error err;
    assert_int_equal(kq_index_open_ex(fx.dir, 2, &ix, &err), KQ_EINVAL); /* unknown flag */
    assert_null(ix);
    assert_int_equal(kq_index_open_ex(fx.dir, KQ_INDEX_VERIFY_ON_USE, &ix, &err), 0);
    if (use_everything(ix, &err))
        fail_msg("read on use: %s", err.msg);
    kq_index_close(ix);
    /* the fixed-checksum writer itself leaves a good file good */
    uint8_t *s = seg_copy();
    write_fixed(s, fx.seg_len);
    expect_ok();
    free(s);
    restore();
}

static void test_flip_each_section(void **state)
{
    (void)state;
    restore();
    uint32_t n = n_sections(fx.seg);
    assert_true(n >= 10);
    int flipped = 0;
    for (uint32_t i = 0; i < n; i++) {
        char tag[5] = {0};
        memcpy(tag, entry(fx.seg, i), 4);
        uint64_t off = kq_get_le64(entry(fx.seg, i) + 8), len = kq_get_le64(entry(fx.seg, i) + 16);
        if (!len)
            continue; /* nothing to flip (SRCS when no JSON-lines input) */
        uint8_t *s = seg_copy();
        s[off + len / 2] ^= 0x5a;
        write_file(fx.seg_path, s, fx.seg_len);
        char needle[16];
        snprintf(needle, sizeof needle, "'%s'", tag);
        expect_open_fails(KQ_ECORRUPT, needle);
        expect_verify_fails(needle);
        expect_use_fails(tag);
        /* the first and the last byte too */
        memcpy(s, fx.seg, fx.seg_len);
        s[off] ^= 1;
        s[off + len - 1] ^= 0x80;
        write_file(fx.seg_path, s, fx.seg_len);
        expect_open_fails(KQ_ECORRUPT, needle);
        expect_use_fails(tag);
        free(s);
        restore();
        expect_ok();
        flipped++;
    }
    assert_true(flipped >= 9);
}

/* Every store frame carries its content checksum; one that does not (a segment written
 * before them) makes the first read verify the whole DSTO section. */
static void test_store_frame_checksums(void **state)
{
    (void)state;
    restore();
    uint64_t xoff, xlen, soff, slen;
    find_section(fx.seg, "DSIX", &xoff, &xlen);
    find_section(fx.seg, "DSTO", &soff, &slen);
    for (uint64_t e = xoff; e < xoff + xlen; e += KQ_DSIX_ENTRY) {
        const uint8_t *frame = fx.seg + soff + kq_get_le64(fx.seg + e + 8);
        assert_int_equal(kq_get_le32(frame), 0xFD2FB528u); /* zstd's magic */
        assert_true(frame[4] & 4);                         /* Content_Checksum_flag */
    }
    uint8_t *s = seg_copy();
    s[soff + 4] &= (uint8_t)~4u; /* the first frame's flag cleared: no longer its checksum */
    write_file(fx.seg_path, s, fx.seg_len);
    kq_index *ix;
    kq_error err;
    assert_int_equal(kq_index_open_ex(fx.dir, KQ_INDEX_VERIFY_ON_USE, &ix, &err), 0);
    char *text;
    size_t len;
    assert_int_equal(kq_index_doc_text(ix, 0, &text, &len, &err), KQ_ECORRUPT);
    if (!strstr(err.msg, "checksum mismatch in section 'DSTO'"))
        fail_msg("%s", err.msg);
    kq_index_close(ix);
    free(s);
    restore();
}

static void test_flip_header_and_table(void **state)
{
    (void)state;
    restore();
    uint32_t n = n_sections(fx.seg);
    size_t end = KQ_SEG_HEADER_SIZE + (size_t)n * KQ_SEG_ENTRY_SIZE;
    for (size_t at = 0; at < end; at++) {
        uint8_t *s = seg_copy();
        s[at] ^= 0x10;
        write_file(fx.seg_path, s, fx.seg_len);
        free(s);
        expect_open_fails(KQ_ECORRUPT, "seg_");
        if (at % 37 == 0)
            expect_verify_fails("seg_");
    }
    /* the bytes between the table and the first section are padding, not covered */
    restore();
    expect_ok();
}

static void test_truncate_segment(void **state)
{
    (void)state;
    restore();
    size_t points[] = {0, 10, 63, 64, 600, fx.seg_len / 2, fx.seg_len - 1};
    for (size_t i = 0; i < sizeof points / sizeof *points; i++) {
        write_file(fx.seg_path, fx.seg, points[i]);
        expect_open_fails(KQ_ECORRUPT, "truncated");
        expect_verify_fails("seg_");
    }
    /* a byte too many */
    uint8_t *s = malloc(fx.seg_len + 1);
    assert_non_null(s);
    memcpy(s, fx.seg, fx.seg_len);
    s[fx.seg_len] = 0;
    write_file(fx.seg_path, s, fx.seg_len + 1);
    free(s);
    expect_open_fails(KQ_ECORRUPT, "seg_");
    /* missing */
    assert_int_equal(unlink(fx.seg_path), 0);
    kq_index *ix;
    assert_true(kq_index_open(fx.dir, &ix, NULL) < 0);
    struct reports r = {{0}, 0};
    kq_error err;
    assert_true(kq_index_verify(fx.dir, on_report, &r, &err) < 0);
    assert_non_null(strstr(r.all, "seg_"));
    restore();
    expect_ok();
}

static void test_manifest_damage(void **state)
{
    (void)state;
    restore();
    uint8_t *m = malloc(fx.man_len);
    assert_non_null(m);
    for (size_t at = 0; at < fx.man_len; at++) {
        memcpy(m, fx.man, fx.man_len);
        m[at] ^= (uint8_t)(1u << (at % 8));
        write_file(fx.man_path, m, fx.man_len);
        expect_open_fails(KQ_ECORRUPT, "manifest");
    }
    expect_verify_fails("manifest");
    size_t points[] = {0, 7, 8, KQ_MANIFEST_HEAD, fx.man_len - 8, fx.man_len - 1};
    for (size_t i = 0; i < sizeof points / sizeof *points; i++) {
        write_file(fx.man_path, fx.man, points[i]);
        expect_open_fails(KQ_ECORRUPT, "manifest");
    }
    /* valid checksum, but a segment number beyond next_segment */
    memcpy(m, fx.man, fx.man_len);
    kq_put_le64(m + 24, kq_get_le64(m + KQ_MANIFEST_HEAD));
    kq_put_le64(m + fx.man_len - 8, XXH3_64bits(m, fx.man_len - 8));
    write_file(fx.man_path, m, fx.man_len);
    expect_open_fails(KQ_ECORRUPT, "manifest");
    /* valid checksum, a file size that is not the segment's */
    memcpy(m, fx.man, fx.man_len);
    kq_put_le64(m + KQ_MANIFEST_HEAD + 8, fx.seg_len + 8);
    kq_put_le64(m + fx.man_len - 8, XXH3_64bits(m, fx.man_len - 8));
    write_file(fx.man_path, m, fx.man_len);
    expect_open_fails(KQ_ECORRUPT, "does not match the manifest");
    /* valid checksum, a newer format version */
    memcpy(m, fx.man, fx.man_len);
    kq_put_le16(m + 8, KQ_MANIFEST_VERSION + 1);
    kq_put_le64(m + fx.man_len - 8, XXH3_64bits(m, fx.man_len - 8));
    write_file(fx.man_path, m, fx.man_len);
    expect_open_fails(KQ_EVERSION, "manifest");
    free(m);
    /* no MANIFEST: no index */
    assert_int_equal(unlink(fx.man_path), 0);
    kq_index *ix;
    kq_error err;
    assert_int_equal(kq_index_open(fx.dir, &ix, &err), KQ_ENOTFOUND);
    restore();
    expect_ok();
}

/* ---- hostile contents under valid checksums ---- */

/* Opens the index if it can and reads everything through the public API; returns the
 * number of errors met. Never expected to crash. */
static int read_everything(void)
{
    kq_index *ix;
    kq_error err;
    if (kq_index_open(fx.dir, &ix, &err))
        return 1;
    int errors = 0;
    struct kq_index_info info;
    kq_index_get_info(ix, &info);
    for (uint32_t d = 0; d < info.n_docs; d++) {
        struct kq_doc doc;
        if (kq_index_doc(ix, d, &doc, &err))
            errors++;
        char *text;
        size_t len;
        if (kq_index_doc_text(ix, d, &text, &len, &err))
            errors++;
        else
            kq_free(text);
    }
    static const char *terms[] = {"korea", "the", "alliance", "u.s", "of", "a", "zzz"};
    for (int f = 0; f < KQ_N_FIELDS; f++)
        for (size_t t = 0; t < sizeof terms / sizeof *terms; t++) {
            kq_cursor *c;
            if (kq_cursor_open(ix, f, terms[t], strlen(terms[t]), &c, &err)) {
                errors++;
                continue;
            }
            if (!c)
                continue;
            uint32_t pos[4096];
            while (kq_cursor_next(c) != KQ_NO_DOC)
                if (kq_cursor_tf(c) <= 4096 && kq_cursor_positions(c, pos, 4096) < 0)
                    errors++;
            if (kq_cursor_error(c))
                errors++;
            kq_cursor_close(c);
        }
    kq_index_close(ix);
    return errors;
}

static void test_hostile_doct(void **state)
{
    (void)state;
    restore();
    uint64_t off, len;
    find_section(fx.seg, "DOCT", &off, &len);
    uint32_t n_docs;
    uint64_t moff, mlen;
    find_section(fx.seg, "META", &moff, &mlen);
    n_docs = kq_get_le32(fx.seg + moff);
    assert_int_equal(n_docs, 5);
    uint64_t offs = off + len - 8 * ((uint64_t)n_docs + 1); /* the entry offsets */

    /* an entry offset far outside the section */
    uint8_t *s = seg_copy();
    kq_put_le64(s + offs + 8 * 2, 0xffffffffull);
    write_fixed(s, fx.seg_len);
    expect_open_fails(KQ_ECORRUPT, "'DOCT'");
    expect_verify_fails("'DOCT'");
    /* offsets out of order */
    memcpy(s, fx.seg, fx.seg_len);
    uint64_t o1 = kq_get_le64(s + offs + 8), o2 = kq_get_le64(s + offs + 16);
    kq_put_le64(s + offs + 8, o2);
    kq_put_le64(s + offs + 16, o1);
    write_fixed(s, fx.seg_len);
    expect_open_fails(KQ_ECORRUPT, "'DOCT'");
    /* the first offset not 0 */
    memcpy(s, fx.seg, fx.seg_len);
    kq_put_le64(s + offs, 1);
    write_fixed(s, fx.seg_len);
    expect_open_fails(KQ_ECORRUPT, "'DOCT'");
    /* an id length running past the entry: found when the entry is read */
    memcpy(s, fx.seg, fx.seg_len);
    s[off] = 0x7f;
    write_fixed(s, fx.seg_len);
    {
        kq_index *ix;
        kq_error err;
        assert_int_equal(kq_index_open(fx.dir, &ix, &err), 0);
        struct kq_doc doc;
        assert_int_equal(kq_index_doc(ix, 0, &doc, &err), KQ_ECORRUPT);
        assert_non_null(strstr(err.msg, "'DOCT'"));
        assert_int_equal(kq_index_doc(ix, 1, &doc, &err), 0);
        kq_index_close(ix);
    }
    expect_verify_fails("'DOCT'");
    /* a varint that never ends: every byte of the first entry 0xff */
    memcpy(s, fx.seg, fx.seg_len);
    uint64_t e1 = kq_get_le64(fx.seg + offs + 8);
    memset(s + off, 0xff, (size_t)e1);
    write_fixed(s, fx.seg_len);
    read_everything();
    expect_verify_fails("'DOCT'");
    /* a source number with no SRCS entry */
    memcpy(s, fx.seg, fx.seg_len);
    {
        const uint8_t *p = fx.seg + off;
        uint64_t v = 0;
        size_t k = kq_varint_get(p, p + e1, &v); /* id */
        p += k + v;
        k = kq_varint_get(p, p + e1, &v); /* title */
        p += k + v;
        assert_int_equal(*p, 0); /* source 0: the file itself */
        s[p - fx.seg] = 5;
    }
    write_fixed(s, fx.seg_len);
    assert_true(read_everything() > 0);
    expect_verify_fails("'DOCT'");
    /* an unknown document format */
    memcpy(s, fx.seg, fx.seg_len);
    s[off + e1 - 1] = 9;
    write_fixed(s, fx.seg_len);
    expect_verify_fails("format");
    /* a file's name that is not a clean path (D4): its id is absolute (the corpus lies
     * outside the index's root), "/x..." made "//..." */
    memcpy(s, fx.seg, fx.seg_len);
    assert_true(s[off] > 2 && s[off] < 0x80 && s[off + 1] == '/');
    s[off + 2] = '/';
    write_fixed(s, fx.seg_len);
    expect_verify_fails("not a clean path in section 'DOCT'");
    free(s);
    restore();
    expect_ok();
}

static void test_hostile_dlen_meta(void **state)
{
    (void)state;
    restore();
    uint64_t off, len, moff, mlen;
    find_section(fx.seg, "DLEN", &off, &len);
    find_section(fx.seg, "META", &moff, &mlen);
    uint8_t *s = seg_copy();
    /* one length changed: no longer adds up to the META total */
    kq_put_le32(s + off, kq_get_le32(s + off) + 1);
    write_fixed(s, fx.seg_len);
    expect_open_fails(KQ_ECORRUPT, "'DLEN'");
    /* two changed, the sum kept: the lengths disagree with the postings */
    kq_put_le32(s + off + 4, kq_get_le32(s + off + 4) - 1);
    write_fixed(s, fx.seg_len);
    assert_int_equal(read_everything(), 0);
    expect_verify_fails("'DLEN'");
    /* a huge length and the totals fixed to match */
    memcpy(s, fx.seg, fx.seg_len);
    uint64_t total = kq_get_le64(s + moff + 16);
    uint32_t l0 = kq_get_le32(s + off);
    kq_put_le32(s + off, 0xffffffffu);
    kq_put_le64(s + moff + 16, total - l0 + 0xffffffffu);
    write_fixed(s, fx.seg_len);
    read_everything();
    expect_verify_fails("'DLEN'");
    /* META: a section of the wrong size cannot be made by flipping, but counts can lie */
    memcpy(s, fx.seg, fx.seg_len);
    kq_put_le64(s + moff + 8, kq_get_le64(s + moff + 8) + 1); /* terms */
    write_fixed(s, fx.seg_len);
    read_everything();
    expect_verify_fails(NULL);
    memcpy(s, fx.seg, fx.seg_len);
    kq_put_le64(s + moff + 32, kq_get_le64(s + moff + 32) + 1); /* postings */
    write_fixed(s, fx.seg_len);
    read_everything();
    expect_verify_fails("postings");
    memcpy(s, fx.seg, fx.seg_len);
    kq_put_le32(s + moff, 6); /* documents: DLEN no longer fits */
    write_fixed(s, fx.seg_len);
    expect_open_fails(KQ_ECORRUPT, "seg_");
    memcpy(s, fx.seg, fx.seg_len);
    kq_put_le32(s + moff, 0xffffffffu);
    write_fixed(s, fx.seg_len);
    expect_open_fails(KQ_ECORRUPT, "'META'");
    memcpy(s, fx.seg, fx.seg_len);
    memset(s + moff + 56, 'x', 32); /* language not terminated */
    write_fixed(s, fx.seg_len);
    expect_open_fails(KQ_ECORRUPT, "'META'");
    memcpy(s, fx.seg, fx.seg_len);
    kq_put_le32(s + moff + 92, 3); /* sources that SRCS does not hold */
    write_fixed(s, fx.seg_len);
    expect_open_fails(KQ_ECORRUPT, "'SRCS'");
    free(s);
    restore();
    expect_ok();
}

static void test_hostile_dsix(void **state)
{
    (void)state;
    restore();
    uint64_t off, len;
    find_section(fx.seg, "DSIX", &off, &len);
    assert_true(len >= KQ_DSIX_ENTRY && len % KQ_DSIX_ENTRY == 0);
    uint8_t *s = seg_copy();
    /* compressed length past the store */
    kq_put_le32(s + off + 16, 0x7fffffffu);
    write_fixed(s, fx.seg_len);
    expect_open_fails(KQ_ECORRUPT, "'DSIX'");
    /* first document not 0 */
    memcpy(s, fx.seg, fx.seg_len);
    kq_put_le32(s + off, 1);
    write_fixed(s, fx.seg_len);
    expect_open_fails(KQ_ECORRUPT, "'DSIX'");
    /* block offset not contiguous */
    memcpy(s, fx.seg, fx.seg_len);
    kq_put_le64(s + off + 8, 8);
    write_fixed(s, fx.seg_len);
    expect_open_fails(KQ_ECORRUPT, "'DSIX'");
    /* documents in the block: more, fewer, none */
    uint32_t n0 = kq_get_le32(fx.seg + off + 4);
    uint32_t vals[] = {0, n0 + 1, n0 > 1 ? n0 - 1 : 7, 0xffffffffu};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        memcpy(s, fx.seg, fx.seg_len);
        kq_put_le32(s + off + 4, vals[i]);
        write_fixed(s, fx.seg_len);
        expect_open_fails(KQ_ECORRUPT, "'DSIX'");
    }
    /* raw length wrong: the block does not decompress to it */
    uint32_t r0 = kq_get_le32(fx.seg + off + 20);
    uint32_t raws[] = {r0 + 1000, r0 - 1, 0, 4, 0xffffffffu, 0x7fffffffu};
    for (size_t i = 0; i < sizeof raws / sizeof *raws; i++) {
        memcpy(s, fx.seg, fx.seg_len);
        kq_put_le32(s + off + 20, raws[i]);
        write_fixed(s, fx.seg_len);
        kq_index *ix;
        kq_error err;
        assert_int_equal(kq_index_open(fx.dir, &ix, &err), 0);
        char *text;
        size_t tl;
        int rc = kq_index_doc_text(ix, 0, &text, &tl, &err);
        assert_int_equal(rc, KQ_ECORRUPT);
        assert_true(strstr(err.msg, "'DSTO'") || strstr(err.msg, "'DSIX'"));
        kq_index_close(ix);
        expect_verify_fails("store block");
    }
    free(s);
    restore();
    expect_ok();
}

/* Random bytes changed in each section, checksums recomputed: open, read and verify must
 * report or cope; the sanitizers catch any read outside the file. */
static void test_hostile_random(void **state)
{
    (void)state;
    restore();
    uint32_t n = n_sections(fx.seg);
    uint8_t *s = seg_copy();
    int reported = 0, total = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t off = kq_get_le64(entry(fx.seg, i) + 8), len = kq_get_le64(entry(fx.seg, i) + 16);
        if (!len)
            continue;
        for (int round = 0; round < 40; round++) {
            memcpy(s, fx.seg, fx.seg_len);
            int k = 1 + (int)(kqt_rand() % 4);
            for (int j = 0; j < k; j++) {
                uint64_t at = off + kqt_rand() % len;
                switch (kqt_rand() % 3) {
                case 0:
                    s[at] ^= (uint8_t)(1u << (kqt_rand() % 8));
                    break;
                case 1:
                    s[at] = (uint8_t)kqt_rand();
                    break;
                default:
                    s[at] = kqt_rand() % 2 ? 0xff : 0;
                    break;
                }
            }
            write_fixed(s, fx.seg_len);
            read_everything();
            kq_error err;
            int rc = kq_index_verify(fx.dir, NULL, NULL, &err);
            assert_true(rc == 0 || rc == KQ_ECORRUPT || rc == KQ_EVERSION);
            reported += rc != 0;
            total++;
        }
    }
    print_message("%d of %d hostile segments reported by verify\n", reported, total);
    assert_true(reported > total / 2);
    free(s);
    restore();
    expect_ok();
}

/* An index of one file "a b c" in a fresh directory (beside fx's): its segment and
 * manifest paths, for damage only a tiny index makes predictable. */
struct tiny {
    char dir[4200], seg[4400], man[4400];
    uint8_t *bytes;
    size_t len;
};

static void tiny_build(struct tiny *t)
{
    char src[4200];
    snprintf(src, sizeof src, "%s/tiny-src", fx.tmp);
    snprintf(t->dir, sizeof t->dir, "%s/tiny", fx.tmp);
    kqt_rmrf(src);
    kqt_rmrf(t->dir);
    assert_int_equal(mkdir(src, 0755), 0);
    char file[4300];
    snprintf(file, sizeof file, "%s/a.txt", src);
    write_file(file, "a b c\n", 6);
    const char *paths[] = {src};
    struct kq_build_opts o = {0};
    o.b = -1;
    o.n_threads = 1;
    kq_error err;
    if (kq_index_build(t->dir, paths, 1, &o, NULL, &err))
        fail_msg("build: %s", err.msg);
    snprintf(t->seg, sizeof t->seg, "%s/seg_00000001.kq", t->dir);
    snprintf(t->man, sizeof t->man, "%s/%s", t->dir, KQ_MANIFEST_NAME);
    t->bytes = (uint8_t *)kqt_read_file(t->seg, &t->len);
}

/* Writes the tiny segment changed, every checksum (its own, the manifest's) made right. */
static void tiny_write(struct tiny *t)
{
    kq__segment_reseal(t->bytes, t->len);
    write_file(t->seg, t->bytes, t->len);
    size_t ml;
    uint8_t *man = (uint8_t *)kqt_read_file(t->man, &ml);
    kq_put_le64(man + KQ_MANIFEST_HEAD + 24, kq_get_le64(t->bytes + 56));
    kq_put_le64(man + ml - 8, XXH3_64bits(man, ml - 8));
    write_file(t->man, man, ml);
    free(man);
}

static void tiny_expect(struct tiny *t, const char *needle)
{
    struct reports r = {{0}, 0};
    kq_error err;
    assert_int_equal(kq_index_verify(t->dir, on_report, &r, &err), KQ_ECORRUPT);
    if (!strstr(r.all, needle))
        fail_msg("verify reports '%s' without naming '%s'", r.all, needle);
}

/* Damage no checksum sees and no reader trips on, which only the deep check finds:
 * impacts that no longer bound a posting (pruning would drop it), a position past the
 * document's end, a segment copied under a second number (every file live twice). */
static void test_hostile_consistent(void **state)
{
    (void)state;
    struct tiny t;
    uint64_t off, len;
    /* the impacts: one pair (tf 1, length 3) for every term, "00 00 03"; length 4 claims
     * that no posting is in a document shorter than 4 */
    tiny_build(&t);
    find_section(t.bytes, "TDIC", &off, &len);
    int n = 0;
    for (uint64_t i = off; i + 3 <= off + len; i++)
        if (!memcmp(t.bytes + i, "\0\0\3", 3))
            t.bytes[i + 2] = 4, n++;
    assert_true(n >= 3);
    tiny_write(&t);
    tiny_expect(&t, "impacts");
    free(t.bytes);
    /* positions: "b" at 1 (a one-byte varint) moved to 127, past the 6 bytes of the file */
    tiny_build(&t);
    find_section(t.bytes, "POSN", &off, &len);
    n = 0;
    for (uint64_t i = off; i < off + len; i++)
        if (t.bytes[i] == 1)
            t.bytes[i] = 127, n++;
    assert_true(n >= 1);
    tiny_write(&t);
    tiny_expect(&t, "malformed positions in section 'POSN'");
    free(t.bytes);
    /* the segment copied as number 2 and listed twice */
    tiny_build(&t);
    struct kq_manifest m;
    kq_error err;
    assert_int_equal(kq__manifest_read(t.dir, &m, &err), 0);
    assert_int_equal(m.n_segs, 1);
    struct kq_manifest_seg two[2] = {m.segs[0], m.segs[0]};
    two[1].number = m.next_segment++;
    struct kq_manifest_seg *own = m.segs;
    m.segs = two;
    m.n_segs = 2;
    char copy[4400];
    kq__segment_name(two[1].number, copy, sizeof copy);
    char path[8800];
    snprintf(path, sizeof path, "%s/%s", t.dir, copy);
    write_file(path, t.bytes, t.len);
    assert_int_equal(kq__manifest_write(t.dir, &m, &err), 0);
    m.segs = own;
    m.n_segs = 1;
    kq__manifest_release(&m);
    tiny_expect(&t, "both live");
    free(t.bytes);
    kqt_rmrf(t.dir);
}

int main(void)
{
    kqt_seed(0x2545f4914f6cdd1dull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intact),
        cmocka_unit_test(test_flip_each_section),
        cmocka_unit_test(test_store_frame_checksums),
        cmocka_unit_test(test_flip_header_and_table),
        cmocka_unit_test(test_truncate_segment),
        cmocka_unit_test(test_manifest_damage),
        cmocka_unit_test(test_hostile_doct),
        cmocka_unit_test(test_hostile_dlen_meta),
        cmocka_unit_test(test_hostile_consistent),
        cmocka_unit_test(test_hostile_dsix),
        cmocka_unit_test(test_hostile_random),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
