/* index/policy.c: the tiered merge policy (policy.h).
 *
 * The algorithm is TieredMergePolicy.findMerges of Lucene 8/9 without the concurrency
 * (no merge is ever running while the policy is asked): compute the allowed segment count
 * from the tiers, then while the eligible segments exceed it (or deletions exceed their
 * allowance) take the best-scoring window of consecutive segments in size order, remove
 * it from the eligible ones and look again. Sizes are doubles: only ratios matter.
 */
#include "index/policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

void kq__policy_defaults(struct kq_policy *p)
{
    p->segs_per_tier = 10;
    p->max_merge_at_once = 10;
    p->floor_bytes = 2u << 20;
    p->max_merged_bytes = (uint64_t)5 << 30;
    p->deletes_pct_allowed = 20;
}

static double live_size(const struct kq_policy_seg *s)
{
    if (!s->n_docs)
        return 0;
    return (double)s->bytes * (double)(s->n_docs - s->n_deleted) / (double)s->n_docs;
}

static double del_pct(const struct kq_policy_seg *s)
{
    return s->n_docs ? 100.0 * s->n_deleted / s->n_docs : 0;
}

struct ranked {
    uint32_t i;
    double size;
};

static int by_size_desc(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i; /* ties: deterministic */
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

uint32_t kq__policy_choose(const struct kq_policy *p, const struct kq_policy_seg *segs, uint32_t n,
                           uint32_t *pick, uint32_t *start)
{
    start[0] = 0;
    if (!n)
        return 0;
    struct ranked *el = kq__malloc(n * sizeof *el);
    uint32_t *cand = kq__malloc(n * sizeof *cand), *best = kq__malloc(n * sizeof *best);
    if (!el || !cand || !best) {
        kq__free(el);
        kq__free(cand);
        kq__free(best);
        return 0; /* no memory: no merge now, the next commit asks again */
    }
    double floor_b = (double)p->floor_bytes, max_b = (double)p->max_merged_bytes;
    uint32_t ne = 0;
    double total = 0, min_size = INFINITY;
    uint64_t docs = 0, deleted = 0;
    for (uint32_t i = 0; i < n; i++) {
        double sz = live_size(&segs[i]);
        docs += segs[i].n_docs;
        deleted += segs[i].n_deleted;
        /* too large to merge with others, and not worth rewriting for its deletions */
        if (sz > max_b / 2 && del_pct(&segs[i]) < p->deletes_pct_allowed)
            continue;
        el[ne++] = (struct ranked){i, sz};
        total += sz;
        if (sz < min_size)
            min_size = sz;
    }
    qsort(el, ne, sizeof *el, by_size_desc);
    /* the allowed segment count, tier by tier */
    double level = min_size > floor_b ? min_size : floor_b, left = total, allowed = 0;
    for (;;) {
        double at_level = left / level;
        if (at_level < p->segs_per_tier || level >= max_b) {
            allowed += ceil(at_level);
            break;
        }
        allowed += p->segs_per_tier;
        left -= p->segs_per_tier * level;
        level = fmin(max_b, level * p->max_merge_at_once);
    }
    if (allowed < p->segs_per_tier)
        allowed = p->segs_per_tier;
    double allowed_del = (double)docs * p->deletes_pct_allowed / 100.0;
    uint32_t n_merges = 0, n_pick = 0;
    for (;;) {
        if (ne <= allowed && (double)deleted <= allowed_del)
            break;
        double best_score = INFINITY;
        uint32_t best_n = 0;
        for (uint32_t s0 = 0; s0 < ne; s0++) {
            uint32_t cn = 0;
            double after = 0, floored = 0, before = 0, largest = 0;
            int too_large = 0;
            for (uint32_t k = s0; k < ne && cn < p->max_merge_at_once; k++) {
                double sz = el[k].size;
                if (after + sz > max_b) {
                    too_large = 1;
                    if (!cn) { /* a lone big segment: rewritten for its deletions */
                        cand[cn++] = el[k].i;
                        after += sz;
                        floored += fmax(sz, floor_b);
                        largest = fmax(largest, fmax(sz, floor_b));
                        before += (double)segs[el[k].i].bytes;
                        break;
                    }
                    continue;
                }
                cand[cn++] = el[k].i;
                after += sz;
                floored += fmax(sz, floor_b);
                largest = fmax(largest, fmax(sz, floor_b));
                before += (double)segs[el[k].i].bytes;
            }
            if (!cn || (cn == 1 && segs[cand[0]].n_deleted == 0))
                continue; /* merging one segment without deletions changes nothing */
            /* a shorter window than a full merge, below the size cap: only smaller windows
             * follow, and one was found already */
            if (best_n && !too_large && cn < p->max_merge_at_once)
                break;
            double skew = too_large ? 1.0 / p->max_merge_at_once : largest / floored;
            double score = skew * pow(after > 1 ? after : 1, 0.05);
            double live = before > 0 ? after / before : 1;
            score *= live * live;
            if (score < best_score) {
                best_score = score;
                best_n = cn;
                memcpy(best, cand, cn * sizeof *cand);
            }
        }
        if (!best_n)
            break;
        qsort(best, best_n, sizeof *best, cmp_u32);
        memcpy(pick + n_pick, best, best_n * sizeof *best);
        n_pick += best_n;
        start[++n_merges] = n_pick;
        /* out of the eligible ones, and their deletions reclaimed */
        uint32_t w = 0;
        for (uint32_t k = 0; k < ne; k++) {
            int taken = 0;
            for (uint32_t j = 0; j < best_n && !taken; j++)
                taken = el[k].i == best[j];
            if (taken)
                deleted -= segs[el[k].i].n_deleted;
            else
                el[w++] = el[k];
        }
        ne = w;
    }
    kq__free(el);
    kq__free(cand);
    kq__free(best);
    return n_merges;
}

uint32_t kq__policy_force(const struct kq_policy_seg *segs, uint32_t n, uint32_t max_segments,
                          uint32_t *pick)
{
    if (max_segments < 1)
        max_segments = 1;
    if (n > max_segments) {
        /* the n - max + 1 smallest become one */
        struct ranked *el = kq__malloc(n * sizeof *el);
        if (!el)
            return 0;
        for (uint32_t i = 0; i < n; i++)
            el[i] = (struct ranked){i, live_size(&segs[i])};
        qsort(el, n, sizeof *el, by_size_desc);
        uint32_t k = n - max_segments + 1;
        for (uint32_t j = 0; j < k; j++)
            pick[j] = el[n - k + j].i;
        kq__free(el);
        qsort(pick, k, sizeof *pick, cmp_u32);
        return k;
    }
    for (uint32_t i = 0; i < n; i++)
        if (segs[i].n_deleted) {
            pick[0] = i;
            return 1;
        }
    return 0;
}
