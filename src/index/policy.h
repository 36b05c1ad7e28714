/* index/policy.h: the merge policy, deciding which segments to merge (a pure function of
 * the segments' sizes and deletions, so that its choices can be tested alone).
 *
 * Tiered, after Lucene's TieredMergePolicy: segments are ranked by live size (bytes times
 * the fraction of their documents alive, floored at floor_bytes so that tiny segments count
 * as one small one); the index may hold about segs_per_tier segments of each size tier,
 * tiers growing by max_merge_at_once, so the count stays logarithmic in the index size.
 * Past that count, or with more than deletes_pct_allowed percent of the documents deleted,
 * it picks the merge of up to max_merge_at_once segments of similar size with the lowest
 * score: skew (largest / total), times total^0.05 (smaller merges first), times the
 * fraction of live bytes squared (merges that reclaim deletions first). A merged segment
 * never exceeds max_merged_bytes; bigger segments are left alone unless their deletions
 * pass deletes_pct_allowed, and then they are rewritten alone.
 */
#ifndef KQ_INDEX_POLICY_H
#define KQ_INDEX_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct kq_policy {
    uint32_t segs_per_tier;     /* 10 */
    uint32_t max_merge_at_once; /* 10 */
    uint64_t floor_bytes;       /* 2 MiB */
    uint64_t max_merged_bytes;  /* 5 GiB */
    double deletes_pct_allowed; /* 20 */
};

/* A segment as the policy sees it. */
struct kq_policy_seg {
    uint64_t bytes;  /* file size */
    uint32_t n_docs; /* documents, deleted ones included */
    uint32_t n_deleted;
};

void kq__policy_defaults(struct kq_policy *p);

/* kq__policy_choose: the merges to run now, disjoint: merge m takes the segments
 * pick[start[m] .. start[m + 1]) (indices into `segs`, ascending). `pick` has room for n,
 * `start` for n + 1. Returns the number of merges (0: the index is fine as it is). */
uint32_t kq__policy_choose(const struct kq_policy *p, const struct kq_policy_seg *segs, uint32_t n,
                           uint32_t *pick, uint32_t *start);

/* kq__policy_force: one merge that brings the index towards at most `max_segments` (>= 1)
 * segments, none with deletions: the smallest segments by live size, as many as needed,
 * or a lone segment holding deletions. Writes the indices (ascending) to `pick`; returns
 * their count, 0 when the index already complies. */
uint32_t kq__policy_force(const struct kq_policy_seg *segs, uint32_t n, uint32_t max_segments,
                          uint32_t *pick);

#endif
