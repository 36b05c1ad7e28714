/* tests/index/test_compat.c: indexes written by earlier versions of the format.
 *
 * tests/data/format1/index holds an index of tests/data/format1/corpus.jsonl written by
 * kq-index at segment format 1.0 (before positions offsets tables, FORMAT.md P17). Its
 * common words' blocks have as many position bytes as a format 2 block with a table would,
 * so a reader that took it for format 2 would misread them. The index must pass
 * kq_index_verify and give every term's postings and positions exactly as a fresh build
 * of the same corpus does; merged, the rewritten segment is format 2 and still equals a
 * fresh build. Its store frames, written before they carried zstd checksums, read as well
 * through an index verified on use. Its manifest (version 2) names files as they were
 * given to kq-index: an update is refused, a merge keeps that (version 2), and a rebuild
 * with `full` makes it an index of this version (3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <xxhash.h>

#include "kq/index.h"
#include "testutil.h"
#include "util/bytes.h"

static void copy_file(const char *from, const char *to)
{
    size_t len;
    char *s = kqt_read_file(from, &len);
    assert_non_null(s);
    FILE *f = fopen(to, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(s, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(s);
}

static int manifest_version(const char *dir)
{
    char path[8192 + 16];
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    size_t len;
    char *s = kqt_read_file(path, &len);
    assert_non_null(s);
    assert_true(len >= 10);
    int v = (uint8_t)s[8] | (uint8_t)s[9] << 8;
    free(s);
    return v;
}

/* Marks the index's manifest version `v` (its checksum made to match). */
static void set_manifest_version(const char *dir, int v)
{
    char path[8192 + 16];
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    size_t len;
    uint8_t *m = (uint8_t *)kqt_read_file(path, &len);
    assert_non_null(m);
    kq_put_le16(m + 8, (uint16_t)v);
    kq_put_le64(m + len - 8, XXH3_64bits(m, len - 8));
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(m, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(m);
}

/* The major version of the index's one segment file. */
static int segment_major(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    char path[8192 + 256] = "";
    int found = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "seg_", 4) == 0 && n > 3 && strcmp(e->d_name + n - 3, ".kq") == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            found++;
        }
    }
    closedir(d);
    assert_int_equal(found, 1);
    size_t len;
    char *s = kqt_read_file(path, &len);
    assert_true(len >= 10);
    int major = (uint8_t)s[8] | (uint8_t)s[9] << 8;
    free(s);
    return major;
}

struct terms {
    char **t;
    size_t n;
};

static int add_term(void *ctx, const char *term, size_t len, const struct kq_term_stats *st)
{
    (void)st;
    struct terms *ts = ctx;
    ts->t = realloc(ts->t, (ts->n + 1) * sizeof *ts->t);
    assert_non_null(ts->t);
    ts->t[ts->n] = malloc(len + 1);
    memcpy(ts->t[ts->n], term, len);
    ts->t[ts->n][len] = '\0';
    ts->n++;
    return 0;
}

/* Every term of both fields: the same documents, tfs and positions in `a` as in `b`.
 * Returns how many positions were compared. */
static uint64_t same_postings(const char *dir_a, const char *dir_b)
{
    kq_index *a, *b;
    kq_error err;
    assert_int_equal(kq_index_open(dir_a, &a, &err), 0);
    assert_int_equal(kq_index_open(dir_b, &b, &err), 0);
    struct kq_index_info ia, ib;
    kq_index_get_info(a, &ia);
    kq_index_get_info(b, &ib);
    assert_int_equal(ia.n_docs, ib.n_docs);
    uint64_t compared = 0;
    uint32_t pa[4096], pb[4096];
    for (int field = 0; field < KQ_N_FIELDS; field++) {
        struct terms ts = {NULL, 0};
        assert_int_equal(kq_index_prefix(b, field, "", 0, 0, add_term, &ts, &err), 0);
        assert_true(ts.n > 0);
        for (size_t i = 0; i < ts.n; i++) {
            kq_cursor *ca, *cb;
            size_t len = strlen(ts.t[i]);
            assert_int_equal(kq_cursor_open(a, field, ts.t[i], len, &ca, &err), 0);
            assert_int_equal(kq_cursor_open(b, field, ts.t[i], len, &cb, &err), 0);
            assert_non_null(ca);
            assert_non_null(cb);
            for (;;) {
                uint32_t da = kq_cursor_next(ca), db = kq_cursor_next(cb);
                assert_int_equal(da, db);
                if (db == KQ_NO_DOC)
                    break;
                assert_int_equal(kq_cursor_tf(ca), kq_cursor_tf(cb));
                int na = kq_cursor_positions(ca, pa, 4096);
                int nb = kq_cursor_positions(cb, pb, 4096);
                assert_true(nb > 0);
                assert_int_equal(na, nb);
                assert_memory_equal(pa, pb, (size_t)nb * sizeof *pb);
                compared += (uint64_t)nb;
            }
            assert_int_equal(kq_cursor_error(ca), 0);
            assert_int_equal(kq_cursor_error(cb), 0);
            kq_cursor_close(ca);
            kq_cursor_close(cb);
            free(ts.t[i]);
        }
        free(ts.t);
    }
    kq_index_close(a);
    kq_index_close(b);
    return compared;
}

static int build_rc(const char *dir, const char *const *paths, size_t n, int full,
                    kq_error *err)
{
    struct kq_build_opts o;
    memset(&o, 0, sizeof o);
    o.n_threads = 1;
    o.b = -1;
    o.full = full;
    return kq_index_build(dir, paths, n, &o, NULL, err);
}

static void build(const char *dir, const char *const *paths, size_t n)
{
    kq_error err;
    assert_int_equal(build_rc(dir, paths, n, 0, &err), 0);
}

static void test_format1(void **state)
{
    (void)state;
    char *tmp = kqt_tmpdir();
    const char *src = kqt_source_dir();
    char old[8192], fresh[8192], from[8192], to[8192 + 32], corpus[8192], extra[8192];
    snprintf(old, sizeof old, "%s/old", tmp);
    snprintf(fresh, sizeof fresh, "%s/fresh", tmp);
    snprintf(corpus, sizeof corpus, "%s/tests/data/format1/corpus.jsonl", src);
    assert_int_equal(mkdir(old, 0700), 0);
    static const char *const files[] = {"MANIFEST", "seg_00000001.kq"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(from, sizeof from, "%s/tests/data/format1/index/%s", src, files[i]);
        snprintf(to, sizeof to, "%s/%s", old, files[i]);
        copy_file(from, to);
    }
    assert_int_equal(segment_major(old), 1);
    kq_error err;
    assert_int_equal(kq_index_verify(old, NULL, NULL, &err), 0);
    /* its store frames carry no checksum: opened to verify on use, the first document read
     * verifies the whole store section */
    kq_index *ix;
    assert_int_equal(kq_index_open_ex(old, KQ_INDEX_VERIFY_ON_USE, &ix, &err), 0);
    struct kq_index_info info;
    kq_index_get_info(ix, &info);
    for (uint32_t d = 0; d < info.n_docs; d++) {
        char *text;
        size_t len;
        assert_int_equal(kq_index_doc_text(ix, d, &text, &len, &err), 0);
        kq_free(text);
    }
    kq_index_close(ix);

    const char *one[] = {corpus};
    build(fresh, one, 1);
    assert_int_equal(segment_major(fresh), 2);
    uint64_t n = same_postings(old, fresh);
    print_message("format 1 index: %llu positions as a fresh build's\n", (unsigned long long)n);
    assert_true(n > 500);

    /* an update is refused (the names could be relative to anywhere), a merge keeps them
     * (version 2) and makes the segment format 2; --full rebuilds it in this version */
    snprintf(extra, sizeof extra, "%s/extra.jsonl", tmp);
    FILE *f = fopen(extra, "wb");
    assert_non_null(f);
    for (int i = 0; i < 3; i++) {
        fprintf(f, "{\"_id\":\"x%d\",\"title\":\"Extra %d\",\"text\":\"", i, i);
        for (int k = 0; k < 50; k++)
            fprintf(f, "the cat and the hat %d ", k % 7);
        fprintf(f, "\"}\n");
    }
    assert_int_equal(fclose(f), 0);
    const char *ex[] = {extra};
    assert_int_equal(manifest_version(old), 2);
    assert_int_equal(build_rc(old, ex, 1, 0, &err), KQ_EVERSION);
    assert_non_null(strstr(err.msg, "rebuilt"));
    assert_int_equal(segment_major(old), 1);
    assert_int_equal(same_postings(old, fresh), n);
    const char *both[] = {corpus, extra};
    assert_int_equal(build_rc(old, both, 2, 1, &err), 0);
    assert_int_equal(manifest_version(old), 3);
    assert_int_equal(segment_major(old), 2);
    kqt_rmrf(fresh);
    build(fresh, both, 2);
    assert_true(same_postings(old, fresh) > n);

    /* a merge keeps a version 2 manifest's meaning: two segments, marked version 2 */
    kqt_rmrf(fresh);
    build(fresh, one, 1);
    build(fresh, ex, 1);
    set_manifest_version(fresh, 2);
    assert_int_equal(build_rc(fresh, ex, 1, 0, &err), KQ_EVERSION);
    assert_int_equal(kq_index_merge(fresh, 1, NULL, NULL, &err), 0);
    assert_int_equal(segment_major(fresh), 2);
    assert_int_equal(manifest_version(fresh), 2);
    assert_int_equal(kq_index_verify(fresh, NULL, NULL, &err), 0);
    assert_true(same_postings(old, fresh) > n);

    kqt_rmrf(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
