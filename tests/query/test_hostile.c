/* tests/query/test_hostile.c: queries over a hostile index (src/query/, reading through
 * src/index/).
 *
 * The seed corpus and 600 generated documents (so that common words' postings take several
 * blocks, bit-packed and with skip entries) are indexed once. Then, round after round, a
 * few bytes of a section that
 * queries read (POST, POSN, TDIC, TIDX, DLEN) are changed and every checksum is recomputed
 * (the sections', the header's, the MANIFEST's record of the segment and its own), so that
 * the damage gets past them to the decoders. Every query of a set covering every kind
 * (words, phrases, AND/OR/NOT, +/-, prefixes, field:term, boosts), for the top 10 with
 * snippets, the top 1000 without and a count, must give a result or KQ_ECORRUPT: never a
 * crash, a hang or a read outside the file (the suite also runs under ASan and UBSan). Some
 * rounds must be reported, or the damage would not be reaching the postings.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "index/manifest.h"
#include "index/segment.h"
#include "kq/index.h"
#include "kq/search.h"
#include "testutil.h"
#include "util/bytes.h"

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* The one segment file of the index in `dir`, into `path`. */
static void segment_path(const char *dir, char *path, size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int found = 0;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, "seg_", 4)) {
            snprintf(path, cap, "%s/%s", dir, de->d_name);
            found++;
        }
    closedir(d);
    assert_int_equal(found, 1);
}

/* The offset and length of section `tag` in the segment image `seg`. */
static void section(const uint8_t *seg, const char *tag, uint64_t *off, uint64_t *len)
{
    for (uint32_t i = 0; i < kq_get_le32(seg + 12); i++) {
        const uint8_t *e = seg + KQ_SEG_HEADER_SIZE + (size_t)i * KQ_SEG_ENTRY_SIZE;
        if (!memcmp(e, tag, 4)) {
            *off = kq_get_le64(e + 8);
            *len = kq_get_le64(e + 16);
            return;
        }
    }
    fail_msg("no section %s", tag);
}

/* 600 JSON-lines documents of the queries' words, a few to a few dozen each, all starting
 * with "the": a word of nearly every document, which "the united states" looks for only
 * where the rarer words' positions match (eval.c, n_req) */
static void write_generated(const char *path)
{
    static const char *const words[] = {"korea", "alliance",   "defense",    "procurement",
                                        "the",   "united",     "states",     "shipbuilding",
                                        "of",    "and",        "china",      "cooperation",
                                        "japan", "industrial", "technology", "reciprocal"};
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int d = 0; d < 600; d++) {
        fprintf(f, "{\"_id\":\"g%d\",\"title\":\"%s\",\"text\":\"the ", d,
                words[kqt_rand_below(16)]);
        for (uint32_t n = 3 + kqt_rand_below(40); n > 0; n--)
            fprintf(f, "%s ", words[kqt_rand_below(16)]);
        fprintf(f, "\"}\n");
    }
    assert_int_equal(fclose(f), 0);
}

static const char *const queries[] = {
    "korea",
    "reciprocal defense procurement",
    "\"reciprocal defense procurement\"",
    "\"the united states\"",
    "+korea +alliance",
    "+\"defense industrial\" +korea",
    "korea -japan",
    "alliance OR shipbuilding",
    "(korea AND cooperation) NOT china",
    "ship* tech*",
    "title:korea",
    "korea^2 alliance^0.5",
    "the of and",
};

/* Runs every query three ways; returns how many answered KQ_ECORRUPT. */
static int run_queries(kq_searcher *s)
{
    static const struct {
        uint32_t k;
        int flags;
    } modes[] = {{10, 0}, {1000, KQ_SEARCH_NO_SNIPPETS}, {10, KQ_SEARCH_COUNT}};
    int corrupt = 0;
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++)
        for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
            struct kq_search_request req = {0};
            req.query = queries[q];
            req.len = strlen(queries[q]);
            req.k = modes[m].k;
            req.flags = modes[m].flags;
            req.k1 = req.b = -1;
            kq_result *r = NULL;
            kq_error err;
            int rc = kq_search(s, &req, &r, &err);
            if (rc != 0 && rc != KQ_ECORRUPT)
                fail_msg("'%s': %d (%s)", queries[q], rc, err.msg);
            if (rc == 0) {
                for (uint32_t i = 0; i < kq_result_count(r); i++) {
                    struct kq_search_hit h;
                    assert_int_equal(kq_result_hit(r, i, &h), 0);
                    assert_true(h.snippet_len == 0 || h.snippet[h.snippet_len - 1] != '\0');
                }
            } else {
                assert_null(r);
                assert_true(err.msg[0] != '\0');
            }
            corrupt += rc == KQ_ECORRUPT;
            kq_result_free(r);
        }
    return corrupt;
}

static void test_hostile_sections(void **state)
{
    (void)state;
    kqt_seed(0x5851f42d4c957f2dull);
    char *tmp = kqt_tmpdir();
    char dir[4096], corpus[4096], gen[4096], seg_path[4400], man_path[4400];
    snprintf(dir, sizeof dir, "%s/ix", tmp);
    snprintf(corpus, sizeof corpus, "%s/corpus", kqt_source_dir());
    snprintf(gen, sizeof gen, "%s/generated.jsonl", tmp);
    write_generated(gen);
    const char *paths[] = {corpus, gen};
    struct kq_build_opts o = {0};
    o.b = -1;
    o.n_threads = 1;
    kq_error err;
    if (kq_index_build(dir, paths, 2, &o, NULL, &err))
        fail_msg("build: %s", err.msg);
    segment_path(dir, seg_path, sizeof seg_path);
    snprintf(man_path, sizeof man_path, "%s/%s", dir, KQ_MANIFEST_NAME);
    size_t seg_len, man_len;
    uint8_t *seg = (uint8_t *)kqt_read_file(seg_path, &seg_len);
    uint8_t *man = (uint8_t *)kqt_read_file(man_path, &man_len);
    uint8_t *s = malloc(seg_len), *m = malloc(man_len);
    assert_non_null(s);
    assert_non_null(m);

    /* intact, every query answers */
    kq_searcher *sr;
    if (kq_searcher_open(dir, &sr, &err))
        fail_msg("open: %s", err.msg);
    assert_int_equal(run_queries(sr), 0);
    kq_searcher_close(sr);

    static const char *const tags[] = {"POST", "POSN", "TDIC", "TIDX", "DLEN"};
    int opened = 0, refused = 0, reported = 0, rounds = 0;
    for (size_t t = 0; t < sizeof tags / sizeof *tags; t++) {
        uint64_t off = 0, len = 0;
        section(seg, tags[t], &off, &len);
        assert_true(len > 0);
        for (int round = 0; round < 25; round++, rounds++) {
            memcpy(s, seg, seg_len);
            for (int j = 1 + (int)kqt_rand_below(4); j > 0; j--) {
                uint64_t at = off + kqt_rand_below(len);
                switch (kqt_rand_below(3)) {
                case 0:
                    s[at] ^= (uint8_t)(1u << kqt_rand_below(8));
                    break;
                case 1:
                    s[at] = (uint8_t)kqt_rand();
                    break;
                default:
                    s[at] = kqt_rand_below(2) ? 0xff : 0;
                    break;
                }
            }
            kq__segment_reseal(s, seg_len);
            write_file(seg_path, s, seg_len);
            memcpy(m, man, man_len);
            kq_put_le64(m + KQ_MANIFEST_HEAD + 24, kq_get_le64(s + 56));
            kq_put_le64(m + man_len - 8, XXH3_64bits(m, man_len - 8));
            write_file(man_path, m, man_len);
            int rc = kq_searcher_open(dir, &sr, &err);
            if (rc) {
                assert_int_equal(rc, KQ_ECORRUPT);
                refused++;
                continue;
            }
            opened++;
            reported += run_queries(sr) > 0;
            kq_searcher_close(sr);
        }
    }
    print_message("%d hostile segments: %d refused by the open, %d opened, of which %d reported "
                  "by a query\n",
                  rounds, refused, opened, reported);
    assert_int_equal(refused + opened, rounds);
    assert_true(opened > rounds / 2);
    assert_true(reported > 0);
    free(s);
    free(m);
    free(seg);
    free(man);
    kqt_rmrf(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_sections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
