/* tools/eval/trec.h: relevance judgments, TREC runs and the trec_eval measures kq reports.
 *
 * A small library for the evaluation tools: it reads a qrels file and a TREC run and
 * computes, per query and averaged, the three measures kq tracks, exactly as trec_eval 9.x
 * computes them with `trec_eval -c -m ndcg_cut.10 -m recall.100 -m map_cut.100`:
 *
 *   ndcg_cut_10  sum over the top 10 of grade / log2(rank + 1) for grade > 0, divided by
 *                the same sum over the ideal ranking (every judged relevant document of the
 *                query, by grade descending);
 *   recall_100   relevant documents in the top 100 / relevant documents in the qrels;
 *   map_cut_100  sum of precision at the rank of each relevant document in the top 100,
 *                divided by relevant documents in the qrels.
 *
 * Ranks are not taken from the run's rank column: as trec_eval does, each query's results
 * are re-sorted by score descending, ties broken by docid in decreasing strcmp() order.
 * A grade > 0 is relevant and is the gain; a grade <= 0 is judged not relevant.
 *
 * Averages are over the qrels queries that hold at least one relevant document. A query
 * absent from the run counts as 0 (trec_eval -c). Here kq departs from trec_eval on
 * purpose: trec_eval -c also averages in, as 0, qrels queries whose judgments are all
 * non-relevant; kq leaves them out (BEIR's convention; none of the shared collections has
 * such a query, so the numbers agree there).
 *
 * Input formats (the files are untrusted: every defect is an error naming the file and the
 * line, never a crash):
 *
 *   qrels  either a header line then `query-id corpus-id grade` (BEIR's qrels/test.tsv),
 *          or classic TREC `qid iter docid grade`; fields separated by blanks or tabs, the
 *          column count fixed by the first line; the header is recognised as a first line
 *          of 3 fields whose third starts with a letter. Grades are integers in int32.
 *   run    `qid Q0 docid rank score tag`, whitespace-separated; fields after the tag are
 *          ignored and the iter and rank columns are not interpreted (both as trec_eval);
 *          the score is a finite or infinite decimal or hex float, never NaN.
 *
 * In both, lines that are blank or whose first non-blank character is '#' are skipped,
 * '\r' counts as a blank (CRLF files read as LF ones), lines are limited to
 * KQ_TREC_LINE_MAX bytes, NUL bytes are refused and a file with no data line is an error.
 * A (query, document) pair given twice is an error in either file, as in trec_eval (which
 * stops with "duplicate docs"); the message names both lines.
 *
 * Errors: 0 or a negative KQ_E* code (kq/error.h) with `err` filled when non-NULL:
 * KQ_ESYNTAX (malformed or duplicate line; err->offset is the byte offset of the line),
 * KQ_ELIMIT (line or file too long), KQ_EIO (file unreadable), KQ_ENOMEM.
 * All allocation goes through util/alloc.h. Thread safety: objects are immutable after
 * parsing; distinct objects may be used from distinct threads, one object from many threads
 * for reading.
 */
#ifndef KQ_EVAL_TREC_H
#define KQ_EVAL_TREC_H

#include <stddef.h>

#include "kq/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The longest line accepted in either file, in bytes, without its newline. */
#define KQ_TREC_LINE_MAX 4096
/* The largest file accepted, in bytes. */
#define KQ_TREC_FILE_MAX ((size_t)1 << 31)

/* The cutoffs of the three measures. */
#define KQ_TREC_NDCG_CUT 10
#define KQ_TREC_RECALL_CUT 100
#define KQ_TREC_MAP_CUT 100

typedef struct kq_trec_qrels kq_trec_qrels;
typedef struct kq_trec_run kq_trec_run;

/* kq_trec_qrels_parse: parses the qrels text `data` (`len` bytes, need not be
 * NUL-terminated). `name` (the file name, may be NULL) prefixes error messages:
 * "qrels 'NAME': line N: ...". Returns 0 or KQ_ESYNTAX / KQ_ELIMIT / KQ_ENOMEM; on
 * failure `*out` is NULL. On success the caller owns `*out`: kq_trec_qrels_free(). */
int kq_trec_qrels_parse(const char *data, size_t len, const char *name, kq_trec_qrels **out,
                        kq_error *err);

/* kq_trec_qrels_load: reads and parses the file at `path`. Returns as
 * kq_trec_qrels_parse(), or KQ_EIO when the file cannot be read. */
int kq_trec_qrels_load(const char *path, kq_trec_qrels **out, kq_error *err);

/* kq_trec_qrels_free: frees `q` (may be NULL). */
void kq_trec_qrels_free(kq_trec_qrels *q);

/* The number of distinct queries, and of judgments (lines kept, all grades). */
size_t kq_trec_qrels_n_queries(const kq_trec_qrels *q);
size_t kq_trec_qrels_n_judgments(const kq_trec_qrels *q);

/* kq_trec_qrels_judgment: judgment `i` (< kq_trec_qrels_n_judgments) in (qid, docid)
 * strcmp order. The strings are NUL-terminated and live in `q`: valid until
 * kq_trec_qrels_free(). Any output pointer may be NULL. */
void kq_trec_qrels_judgment(const kq_trec_qrels *q, size_t i, const char **qid, const char **docid,
                            int *grade);

/* kq_trec_run_parse: parses the run text `data` (`len` bytes); as kq_trec_qrels_parse(),
 * messages prefixed "run 'NAME': line N: ...". On success the caller owns `*out`:
 * kq_trec_run_free(). */
int kq_trec_run_parse(const char *data, size_t len, const char *name, kq_trec_run **out,
                      kq_error *err);

/* kq_trec_run_load: reads and parses the run file at `path`. Returns as kq_trec_run_parse(),
 * or KQ_EIO when the file cannot be read. */
int kq_trec_run_load(const char *path, kq_trec_run **out, kq_error *err);

/* kq_trec_run_free: frees `r` (may be NULL). */
void kq_trec_run_free(kq_trec_run *r);

/* The number of distinct queries, and of results (lines kept). */
size_t kq_trec_run_n_queries(const kq_trec_run *r);
size_t kq_trec_run_n_results(const kq_trec_run *r);

/* kq_trec_run_result: result `i` (< kq_trec_run_n_results) in evaluation order: queries
 * by qid strcmp order, then within a query by trec_eval's rank (score descending, then
 * docid decreasing); `*rank` (from 1) is that rank, not the file's rank column. Strings
 * live in `r`: valid until kq_trec_run_free(). Any output pointer may be NULL. */
void kq_trec_run_result(const kq_trec_run *r, size_t i, const char **qid, const char **docid,
                        double *score, size_t *rank);

/* The measures of one query. */
struct kq_trec_query_eval {
    const char *qid;    /* lives in the qrels: valid until kq_trec_qrels_free() */
    size_t n_rel;       /* judged relevant documents (grade > 0), >= 1 */
    size_t n_ret;       /* results in the run, 0 when the query is absent from it */
    size_t n_rel_ret;   /* relevant documents among all the results */
    double ndcg_cut_10; /* all three in [0, 1] */
    double recall_100;
    double map_cut_100;
};

/* An evaluation: a caller-owned struct (kq_trec_eval_release). */
struct kq_trec_eval {
    size_t n_queries;   /* queries evaluated: those with >= 1 relevant doc */
    size_t n_no_rel;    /* qrels queries left out: no relevant document */
    size_t n_missing;   /* evaluated queries absent from the run (scored 0) */
    size_t n_run_only;  /* run queries absent from the qrels (ignored) */
    double ndcg_cut_10; /* means over the n_queries; 0 when n_queries is 0 */
    double recall_100;
    double map_cut_100;
    struct kq_trec_query_eval *queries; /* n_queries entries by qid strcmp order */
};

/* kq_trec_evaluate: evaluates `run` against `qrels` into `*out` (any previous content is
 * overwritten, not freed). Returns 0 or KQ_ENOMEM; on failure `*out` is zeroed. On success
 * release it with kq_trec_eval_release(); its qids point into `qrels`. */
int kq_trec_evaluate(const kq_trec_qrels *qrels, const kq_trec_run *run, struct kq_trec_eval *out,
                     kq_error *err);

/* kq_trec_eval_release: frees what `ev` (may be NULL) holds and zeroes it. */
void kq_trec_eval_release(struct kq_trec_eval *ev);

#ifdef __cplusplus
}
#endif
#endif
