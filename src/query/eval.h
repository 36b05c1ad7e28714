/* query/eval.h: evaluating a parsed query (query/query.h) against an open index: the top k
 * documents by BM25, or the number of matching documents.
 *
 * ---- Semantics (Lucene's BooleanQuery with BM25; query/bm25.h has the arithmetic) ----
 *
 *  - TERM t in field f: boost * idf(t) * tf'(tf, dl), with N = live documents of the
 *    index, df = live documents holding t (over every segment), dl = the document's length
 *    in f, avgdl = total_len[f] / N over live documents: the statistics of a fresh build of
 *    the live documents, so scores equal that build's bit for bit.
 *  - PHRASE: matches documents holding the terms at the relative positions rel_pos; its
 *    frequency is the number of start positions that match; score =
 *    boost * (sum of the terms' idf, in term order) * tf'(frequency, dl). Positions are read
 *    only for documents holding every term.
 *  - TITLE WEIGHT: a TERM or PHRASE of field text that can add to a score (not under a
 *    MUST_NOT, not when counting) adds, after its own score, the score of the same leaf in
 *    field title with boost * title_weight where the title holds it. The title's tokens are
 *    part of the text (index/FORMAT.md), so this changes no match, only the score: Lucene's
 *    `(text:x title:x^0.25)`. title_weight 0 turns it off.
 *  - PREFIX: the terms of the field starting with the prefix (at most max_expansions of
 *    them; more is the error KQ_ELIMIT "prefix 'x' matches more than N terms", never a
 *    silent truncation, so results never depend on which terms were dropped); the node
 *    scores as the sum, in ascending term byte order, of (boost * idf) * tf' of the expanded
 *    terms the document holds: a SHOULD of TERMs.
 *  - BOOL: a document matches when it matches every MUST clause, no MUST_NOT clause and,
 *    when there is no MUST clause, at least one SHOULD clause (so a BOOL of MUST_NOT
 *    clauses only matches nothing). Score = boost * (sum, in clause order, of the scores of
 *    the MUST and SHOULD clauses it matches).
 *  - Scores are summed in that one canonical order whatever the strategy, so they are
 *    bit-identical to exhaustive evaluation. Hits are sorted by score descending, then doc
 *    id ascending.
 *  - Deleted documents never match: cursors skip them, and eval.c's doc_live() checks
 *    every document the root counts or ranks. Block-max and term-level bounds include
 *    deleted postings, so they stay upper bounds of the live ones.
 *
 * ---- Strategy ----
 *
 * Document-at-a-time over kq_cursor iterators (one per term occurrence of the tree).
 * Conjunctions (MUST clauses, phrase terms) advance the cheapest iterator and seek the
 * others. A top-level disjunction (a BOOL without MUST clauses, or a PREFIX) is evaluated
 * with MaxScore: clauses sorted by their score upper bound; those whose bounds together
 * stay below the current k-th score are not iterated, only probed for candidates produced by
 * the others, and a candidate is dropped as soon as its partial score plus the bounds of
 * the clauses still to probe falls below the k-th score. A top-level BOOL with MUST clauses
 * skips probing its SHOULD clauses for a document whose MUST scores plus the SHOULD bounds
 * cannot reach the k-th score. A single top-level TERM skips whole postings blocks by their
 * block-max impacts. Upper bounds: TERM, from the term-level competitive (tf, dl) impacts
 * (kq__cursor_impacts); PHRASE, boost * sum idf * (k1 + 1); BOOL, boost * the sum of its
 * MUST and SHOULD bounds. Pruning needs a bound strictly below the k-th score by a relative
 * margin (1e-9) that floating-point rounding cannot bridge, and every admitted document's
 * score is computed in full in canonical order, so the top k are exactly those of
 * exhaustive evaluation.
 */
#ifndef KQ_QUERY_EVAL_H
#define KQ_QUERY_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "kq/error.h"
#include "kq/index.h"
#include "kq/search.h"
#include "query/query.h"

#define KQ_SEARCH_MAX_K 10000          /* most hits one call returns */
#define KQ_SEARCH_MAX_OFFSET 100000    /* deepest page start */
#define KQ_SEARCH_MAX_EXPANSIONS 4096  /* highest accepted max_expansions */
#define KQ_SEARCH_DEFAULT_EXPANSIONS 128
#define KQ_TITLE_WEIGHT 0.25           /* default title_weight */
#define KQ_TITLE_WEIGHT_MAX KQ_SEARCH_TITLE_WEIGHT_MAX

/* Options of one evaluation. kq_search_opts_init gives the defaults. */
struct kq_search_opts {
    uint32_t k;              /* hits wanted, 1..KQ_SEARCH_MAX_K (ignored with count_only) */
    uint32_t offset;         /* hits to skip first (paging), 0..KQ_SEARCH_MAX_OFFSET; the
                                hits returned are ranks offset+1 .. offset+k */
    double k1, b;            /* BM25 settings: k1 >= 0, b in [0, 1]; < 0: the index's */
    double title_weight;     /* text leaves' weight in the title, 0..KQ_TITLE_WEIGHT_MAX;
                                < 0: KQ_TITLE_WEIGHT */
    int count_only;          /* nonzero: count the matching documents, no scores, no hits */
    uint32_t max_expansions; /* terms a PREFIX may expand to; 0: 128; at most 4096 */
};

/* kq_search_opts_init: k 10, offset 0, the index's k1 and b, the default title weight,
 * max_expansions 128. */
void kq_search_opts_init(struct kq_search_opts *opt);

struct kq_hit {
    uint32_t doc; /* global document id (kq_index_doc) */
    double score; /* BM25, > 0 */
};

/* The answer of kq_eval. */
struct kq_results {
    struct kq_hit *hits; /* n hits, score descending then doc ascending; NULL when n = 0 */
    uint32_t n;          /* hits returned: min(k, matches - offset), 0 past the end */
    uint64_t total;      /* matching documents: exact when total_exact, else a lower bound
                            (pruning skipped documents without deciding whether they match) */
    int total_exact;     /* 1 when total is exact (always with count_only) */
};

/* kq_eval: evaluates `q` (a tree parsed with the index's analyser; NULL or a NULL root
 * matches nothing) against `ix` under `opt` (NULL: kq_search_opts_init's defaults).
 * Returns 0 with `*out` filled; the caller owns out->hits: kq_results_release. Errors:
 * KQ_EINVAL (k, offset, k1, b, title_weight or max_expansions out of range, a bad field in the tree),
 * KQ_ELIMIT (a prefix with too many terms; err->offset is the prefix's byte in the query),
 * KQ_ECORRUPT (malformed postings met while reading), KQ_ENOMEM. On failure `*out` is
 * empty (hits NULL, n 0, total 0). All memory of the evaluation is freed before return.
 * Thread safety: reentrant; `ix` and `q` may be shared by concurrent calls. */
int kq_eval(const kq_index *ix, const kq_query *q, const struct kq_search_opts *opt,
            struct kq_results *out, kq_error *err);

/* kq_eval_node: kq_eval on a tree given by its root node (NULL matches nothing). */
int kq_eval_node(const kq_index *ix, const struct kq_qnode *root,
                 const struct kq_search_opts *opt, struct kq_results *out, kq_error *err);

/* kq__prefix_expand: calls `fn` for each term of `field` a PREFIX node `q` matches: those
 * starting with q->terms[0] (as kq_index_prefix, in byte order), then q->stem when a live
 * document holds it and it is not among them; at most `max` calls (0: no limit). Returns
 * as kq_index_prefix: 0, KQ_ELIMIT when more terms match, KQ_ECORRUPT, or fn's value. */
int kq__prefix_expand(const kq_index *ix, int field, const struct kq_qnode *q, size_t max,
                      int (*fn)(void *ctx, const char *term, size_t len,
                                const struct kq_term_stats *st),
                      void *ctx, kq_error *err);

/* kq_results_release: frees the hits and empties `r`. Accepts NULL and an empty `r`. */
void kq_results_release(struct kq_results *r);

#endif
