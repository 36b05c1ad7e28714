/* tests/index/test_policy.c: the merge policy's choices (index/policy.c).
 *
 *  - Few segments: nothing to merge. Past the allowance: one merge of ten, of the smallest
 *    tier.
 *  - Growth: segments of 1 MiB added one at a time, each followed by the policy's merges
 *    (applied as the merger would: one segment of the summed live size), stay within the
 *    tiered bound (ten a tier, tiers growing tenfold): the count is logarithmic in the size.
 *  - Deletions: past 20% of the documents deleted, a merge reclaims them, picking the
 *    segments that hold them; a segment too large to merge is rewritten alone for its
 *    deletions, and left alone without.
 *  - Forced merges: down to N segments, the smallest first; a lone segment with deletions
 *    is rewritten; nothing to do is no merge.
 *  - Allocation failure: no merge, no crash.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "index/policy.h"
#include "testutil.h"
#include "util/alloc.h"

#define MIB (1u << 20)

static struct kq_policy pol;

static uint32_t choose(const struct kq_policy_seg *s, uint32_t n, uint32_t *pick, uint32_t *start)
{
    uint32_t m = kq__policy_choose(&pol, s, n, pick, start);
    /* merges are disjoint, each a strictly increasing list of indices */
    uint8_t *seen = calloc(n ? n : 1, 1);
    assert_non_null(seen);
    for (uint32_t k = 0; k < m; k++) {
        assert_true(start[k + 1] > start[k]);
        for (uint32_t j = start[k]; j < start[k + 1]; j++) {
            assert_true(pick[j] < n);
            assert_false(seen[pick[j]]);
            seen[pick[j]] = 1;
            if (j > start[k])
                assert_true(pick[j] > pick[j - 1]);
        }
    }
    free(seen);
    return m;
}

static void test_few_and_one_too_many(void **state)
{
    (void)state;
    struct kq_policy_seg s[40];
    uint32_t pick[40], start[41];
    for (int i = 0; i < 40; i++)
        s[i] = (struct kq_policy_seg){MIB, 100, 0};
    assert_int_equal(choose(s, 0, pick, start), 0);
    assert_int_equal(choose(s, 1, pick, start), 0);
    assert_int_equal(choose(s, 10, pick, start), 0);
    assert_int_equal(choose(s, 11, pick, start), 1);
    assert_int_equal(start[1], 10); /* a full merge of ten */

    /* ten large segments and eleven small ones are within the tiers' allowance (29) */
    for (int i = 0; i < 10; i++)
        s[i] = (struct kq_policy_seg){200 * MIB, 10000, 0};
    for (int i = 10; i < 35; i++)
        s[i] = (struct kq_policy_seg){MIB, 100, 0};
    assert_int_equal(choose(s, 21, pick, start), 0);
    /* with twenty-five small ones (allowance 30) the small ones merge, the large stay */
    uint32_t m = choose(s, 35, pick, start);
    assert_int_equal(m, 1);
    assert_int_equal(start[1], 10);
    for (uint32_t j = 0; j < start[1]; j++)
        assert_true(pick[j] >= 10);
    /* equal segments: ten a tier, and what is left over counts at the next tier's size */
    for (int i = 0; i < 20; i++)
        s[i] = (struct kq_policy_seg){200 * MIB, 10000, 0};
    assert_int_equal(choose(s, 11, pick, start), 0);
    assert_int_equal(choose(s, 20, pick, start), 1);
    assert_int_equal(start[1], 10);
}

static void test_logarithmic_growth(void **state)
{
    (void)state;
    enum { ADDS = 3000, CAP = 512 };
    struct kq_policy_seg *s = calloc(CAP, sizeof *s);
    uint32_t *pick = calloc(CAP, sizeof *pick), *start = calloc(CAP + 1, sizeof *start);
    assert_non_null(s);
    uint32_t n = 0, most = 0;
    uint64_t merged_bytes = 0, total = 0;
    for (int a = 0; a < ADDS; a++) {
        s[n++] = (struct kq_policy_seg){MIB, 1000, 0};
        total += MIB;
        uint32_t m = choose(s, n, pick, start);
        /* apply: the merged segments go, one of their summed size comes */
        struct kq_policy_seg out[64];
        uint8_t gone[CAP] = {0};
        for (uint32_t k = 0; k < m; k++) {
            out[k] = (struct kq_policy_seg){0, 0, 0};
            for (uint32_t j = start[k]; j < start[k + 1]; j++) {
                out[k].bytes += s[pick[j]].bytes;
                out[k].n_docs += s[pick[j]].n_docs;
                gone[pick[j]] = 1;
            }
            merged_bytes += out[k].bytes;
        }
        uint32_t w = 0;
        for (uint32_t i = 0; i < n; i++)
            if (!gone[i])
                s[w++] = s[i];
        for (uint32_t k = 0; k < m; k++)
            s[w++] = out[k];
        n = w;
        if (n > most)
            most = n;
        /* ten a tier: 1-2 MiB (floor), ~20 MiB, ~200 MiB, ~2 GiB */
        double tiers = ceil(log10((double)total / (2.0 * MIB)) + 1);
        assert_true(n <= 10 * (uint32_t)tiers + 1);
    }
    /* 3 GiB in 1 MiB pieces: four tiers at most, and each byte merged a few times only */
    assert_true(most <= 41);
    assert_true(merged_bytes < 6 * total);
    print_message("%d additions: at most %u segments, %u at the end, write amplification %.2f\n",
                  ADDS, most, n, (double)merged_bytes / (double)total);
    free(s);
    free(pick);
    free(start);
}

static void test_deletions_first(void **state)
{
    (void)state;
    struct kq_policy_seg s[8];
    uint32_t pick[8], start[9];
    /* three segments, few deletions: fine */
    s[0] = (struct kq_policy_seg){50 * MIB, 5000, 100};
    s[1] = (struct kq_policy_seg){30 * MIB, 3000, 0};
    s[2] = (struct kq_policy_seg){10 * MIB, 1000, 50};
    assert_int_equal(choose(s, 3, pick, start), 0);
    /* past 20% deleted overall: a merge that takes the segment holding them */
    s[1].n_deleted = 2500;
    uint32_t m = choose(s, 3, pick, start);
    assert_true(m >= 1);
    int has = 0;
    for (uint32_t j = 0; j < start[m]; j++)
        has |= pick[j] == 1;
    assert_true(has);

    /* among equal segments, the merge window holding the deletions wins */
    for (int i = 0; i < 8; i++)
        s[i] = (struct kq_policy_seg){100 * MIB, 1000, 0};
    s[5].n_deleted = 900;
    s[6].n_deleted = 900;
    pol.max_merge_at_once = 2;
    m = choose(s, 8, pick, start);
    pol.max_merge_at_once = 10;
    assert_true(m >= 1);
    assert_int_equal(start[1], 2);
    assert_int_equal(pick[0], 5);
    assert_int_equal(pick[1], 6);

    /* too large to merge: left alone, unless its deletions pass the allowance */
    s[0] = (struct kq_policy_seg){(uint64_t)9 << 30, 1000000, 0};
    s[1] = (struct kq_policy_seg){MIB, 100, 0};
    assert_int_equal(choose(s, 2, pick, start), 0);
    s[0].n_deleted = 400000;
    m = choose(s, 2, pick, start);
    assert_int_equal(m, 1);
    assert_int_equal(start[1], 1);
    assert_int_equal(pick[0], 0); /* rewritten alone */
}

static void test_force(void **state)
{
    (void)state;
    struct kq_policy_seg s[5] = {{50 * MIB, 500, 0},
                                 {10 * MIB, 100, 0},
                                 {30 * MIB, 300, 0},
                                 {5 * MIB, 50, 0},
                                 {20 * MIB, 200, 0}};
    uint32_t pick[5];
    assert_int_equal(kq__policy_force(s, 5, 1, pick), 5);
    for (uint32_t j = 0; j < 5; j++)
        assert_int_equal(pick[j], j);
    assert_int_equal(kq__policy_force(s, 5, 3, pick), 3); /* 5, 10, 20 MiB */
    assert_int_equal(pick[0], 1);
    assert_int_equal(pick[1], 3);
    assert_int_equal(pick[2], 4);
    assert_int_equal(kq__policy_force(s, 5, 5, pick), 0);
    assert_int_equal(kq__policy_force(s, 5, 9, pick), 0);
    assert_int_equal(kq__policy_force(s, 1, 1, pick), 0);
    s[2].n_deleted = 1;
    assert_int_equal(kq__policy_force(s, 5, 5, pick), 1);
    assert_int_equal(pick[0], 2);
    assert_int_equal(kq__policy_force(s, 0, 1, pick), 0);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    struct kq_policy_seg s[12];
    uint32_t pick[12], start[13];
    for (int i = 0; i < 12; i++)
        s[i] = (struct kq_policy_seg){MIB, 100, 0};
    for (long n = 0; n < 3; n++) {
        kq_alloc_fail_after(n);
        uint32_t m = kq__policy_choose(&pol, s, 12, pick, start);
        uint32_t f = kq__policy_force(s, 12, 1, pick);
        kq_alloc_fail_after(-1);
        assert_int_equal(m, 0);
        assert_true(f == 0 || n >= 3);
    }
    assert_int_equal(kq__policy_choose(&pol, s, 12, pick, start), 1);
}

static int setup(void **state)
{
    (void)state;
    kq__policy_defaults(&pol);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_few_and_one_too_many), cmocka_unit_test(test_logarithmic_growth),
        cmocka_unit_test(test_deletions_first),      cmocka_unit_test(test_force),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
