/* kq/search.h: searching an index with a query string.
 *
 * A kq_searcher is an open index plus the analyser its documents were indexed with. A
 * search parses the query (the grammar of the README), evaluates it with exact top-k BM25
 * and, for each hit, reads the stored document to make a snippet: the best short passage,
 * its matched words, and the line and column of the first one.
 *
 * Errors: 0 or a negative KQ_E* code with `err` filled when non-NULL; a query syntax error
 * is KQ_ESYNTAX with err->offset the byte of the query it refers to.
 * Thread safety: a kq_searcher is used by one thread at a time (the analyser keeps state);
 * results are independent objects.
 */
#ifndef KQ_SEARCH_H
#define KQ_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "kq/error.h"
#include "kq/index.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kq_searcher kq_searcher;
typedef struct kq_result kq_result;

/* kq_searcher_open: opens (and verifies) the index in `dir`. The caller owns `*out`:
 * kq_searcher_close (accepts NULL). Errors as kq_index_open. */
int kq_searcher_open(const char *dir, kq_searcher **out, kq_error *err);
/* kq_searcher_open_ex: the same with kq_index_open_ex's `flags`: with
 * KQ_INDEX_VERIFY_ON_USE, kq_search reports a damaged section it reads (KQ_ECORRUPT). */
int kq_searcher_open_ex(const char *dir, unsigned flags, kq_searcher **out, kq_error *err);
void kq_searcher_close(kq_searcher *s);
/* The open index, valid until kq_searcher_close. */
const kq_index *kq_searcher_index(const kq_searcher *s);

enum {
    KQ_SEARCH_PLAIN = 1,       /* the query is free text: no operators, every word OR-ed */
    KQ_SEARCH_COUNT = 2,       /* count the matching documents only: no scores, no hits */
    KQ_SEARCH_NO_SNIPPETS = 4, /* hits without snippets (no document is read) */
};

struct kq_search_request {
    const char *query; /* `len` bytes, any bytes */
    size_t len;
    uint32_t k;        /* hits wanted: 1..10000; 0 means 10 */
    uint32_t offset;   /* hits to skip (paging), at most 100000 */
    int flags;         /* KQ_SEARCH_* */
    double k1, b;      /* BM25 overrides; negative: the index's settings */
    double title_weight; /* what a text word's BM25 in the title adds, times this: 0..100;
                            0: the default (0.25); KQ_SEARCH_TITLE_NONE: nothing */
};

#define KQ_SEARCH_TITLE_NONE (-1.0)
#define KQ_SEARCH_TITLE_WEIGHT_MAX 100.0 /* the largest title_weight accepted */

/* kq_search: runs `req`. The caller owns `*out`: kq_result_free (accepts NULL). */
int kq_search(kq_searcher *s, const struct kq_search_request *req, kq_result **out,
              kq_error *err);

/* A matched word in a snippet: bytes [start, end) of the snippet text. */
struct kq_highlight {
    uint32_t start, end;
};

struct kq_search_hit {
    uint32_t doc;       /* document id */
    double score;       /* BM25 */
    const char *id;     /* JSON-lines "_id", or the file's path as indexed */
    size_t id_len;
    const char *path;   /* the file holding the document, as struct kq_doc's */
    size_t path_len;
    const char *title;
    size_t title_len;
    const char *snippet; /* one line of UTF-8, "" without snippets */
    size_t snippet_len;
    const struct kq_highlight *highlights; /* the matched words of the snippet */
    uint32_t n_highlights;
    uint32_t line;      /* 1-based line of the file where the first matched word is */
    uint32_t col;       /* 1-based byte column of that word */
};

/* Matching documents, exact (when pruning skipped documents, kq_search counts them). */
uint64_t kq_result_total(const kq_result *r);
/* Hits in the result (0 with KQ_SEARCH_COUNT). */
uint32_t kq_result_count(const kq_result *r);
/* Microseconds the search took (parse, evaluation, snippets). */
uint64_t kq_result_took_us(const kq_result *r);
/* kq_result_hit: hit `i` (0-based, best first). The pointers live in the result and the
 * searcher's index: valid until both kq_result_free and kq_searcher_close. */
int kq_result_hit(const kq_result *r, uint32_t i, struct kq_search_hit *hit);
void kq_result_free(kq_result *r);

/* kq_result_json: the result as one JSON object,
 * {"total":N,"took_us":N,"hits":[{"id":…,"path":…,"title":…,"score":…,
 *  "line":…,"col":…,"snippet":…,"highlights":[[s,e],…]}]}, without a newline; "path" is
 * absolute (kq_index_root joined with a relative path). Strings are valid JSON whatever bytes the documents hold (invalid UTF-8 becomes U+FFFD). The text is
 * allocated and owned by the caller: kq_free. Returns 0 or KQ_ENOMEM. */
int kq_result_json(const kq_result *r, char **json, size_t *len, kq_error *err);

#ifdef __cplusplus
}
#endif
#endif
