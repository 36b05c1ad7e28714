/* query/bm25.h: the BM25 arithmetic of the evaluator, in the one canonical floating-point
 * form every evaluation strategy (and the exhaustive reference in tests) uses, so that
 * scores are bit-identical whichever path computed them.
 *
 *   idf(df)     = ln(1 + (N - df + 0.5) / (df + 0.5))                (Lucene's BM25)
 *   tf'(tf, dl) = tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
 *
 * tf' is evaluated as tf * k1p1 / ((tf + c0) + c1 * dl) with c0 = k1 * (1 - b) and
 * c1 = k1 * b / avgdl precomputed per field: equal to the formula above in exact arithmetic,
 * within a few ulp in floating point. A term's score is (boost * idf) * tf'.
 */
#ifndef KQ_QUERY_BM25_H
#define KQ_QUERY_BM25_H

#include <math.h>
#include <stdint.h>

/* The per-field constants of tf'. */
struct kq_bm25_field {
    double k1p1; /* k1 + 1 */
    double c0;   /* k1 * (1 - b) */
    double c1;   /* k1 * b / avgdl */
};

/* kq_bm25_field_init: the constants for `k1` >= 0, `b` in [0, 1] and the field's average
 * length `avgdl` (a field with no tokens, avgdl <= 0, uses 1: no document of it matches). */
static inline void kq_bm25_field_init(struct kq_bm25_field *f, double k1, double b,
                                      double avgdl)
{
    if (!(avgdl > 0))
        avgdl = 1.0;
    f->k1p1 = k1 + 1.0;
    f->c0 = k1 * (1.0 - b);
    f->c1 = k1 * b / avgdl;
}

/* kq_bm25_tf: tf' of a term met `tf` times in a document of `dl` tokens of the field. */
static inline double kq_bm25_tf(const struct kq_bm25_field *f, uint32_t tf, uint32_t dl)
{
    double t = (double)tf;
    return t * f->k1p1 / ((t + f->c0) + f->c1 * (double)dl);
}

/* kq_bm25_idf: Lucene's idf of a term held by `df` of `n_docs` documents (df summed over
 * segments). > 0 when df <= n_docs; clamped to 0 otherwise (only a damaged index has
 * df > N), so that no score is ever negative and upper bounds stay bounds. */
static inline double kq_bm25_idf(uint64_t n_docs, uint64_t df)
{
    double x = log(1.0 + ((double)n_docs - (double)df + 0.5) / ((double)df + 0.5));
    return x > 0 ? x : 0.0;
}

#endif
