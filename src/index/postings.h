/* index/postings.h: the postings codec: 128-document bit-packed blocks of doc-id gaps and
 * term frequencies, a variable-byte tail for the last partial block, a skip entry per
 * block (last doc id, byte offset, positions offset, block-max impacts), and a separate
 * gap-coded positions stream.
 *
 * The bytes are specified in FORMAT.md ("Postings" and "Positions"). Impacts are
 * competitive (tf, doc length) pairs: BM25 grows with tf and falls with length, so the
 * best score of a block under any collection statistics is the best score over its pairs;
 * the bound stays safe after N or avgdl change. At most KQ_IMPACTS_MAX pairs are kept; when
 * there are more, neighbours merge into (larger tf, smaller length), still an upper bound.
 *
 * Errors: writers return 0 or KQ_ENOMEM/KQ_EINVAL; cursors never read outside the byte
 * ranges they were given and report malformed data as KQ_ECORRUPT.
 * Thread safety: writers and cursors belong to one thread; the mapped bytes are shared.
 */
#ifndef KQ_INDEX_POSTINGS_H
#define KQ_INDEX_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "kq/error.h"
#include "util/buf.h"

#define KQ_BLOCK_SIZE 128
#define KQ_IMPACTS_MAX 8
#define KQ_DOC_END UINT32_MAX /* cursor exhausted */

struct kq_impact {
    uint32_t tf; /* >= 1 */
    uint32_t dl; /* document length in tokens of the field */
};

/* What the term dictionary keeps for a term. Offsets are relative to the start of the
 * postings and positions sections. */
struct kq_term_meta {
    uint32_t df;       /* documents holding the term, >= 1 */
    uint64_t cf;       /* total occurrences, >= df */
    uint64_t doc_off;  /* the term's postings (skip table, then blocks) */
    uint64_t doc_len;
    uint64_t pos_off;  /* the term's positions; pos_len 0 when the field has none */
    uint64_t pos_len;
    uint32_t n_impacts; /* 1..KQ_IMPACTS_MAX: term-level competitive pairs */
    struct kq_impact impacts[KQ_IMPACTS_MAX];
};

/* Reduces `n` pairs in place to the competitive frontier (sorted by tf ascending, dl
 * ascending, no pair dominated by another), then to at most `max` pairs by merging
 * neighbours into upper bounds. Returns the new count. */
uint32_t kq_impacts_reduce(struct kq_impact *imp, uint32_t n, uint32_t max);

/* Internal to the index module (the term dictionary codes impacts the same way, see
 * FORMAT.md "Impacts"): kq__impacts_put writes `n` (1..KQ_IMPACTS_MAX) frontier pairs at
 * `p` (room for 1 + 2 * KQ_IMPACTS_MAX varints) and returns the bytes written;
 * kq__impacts_get reads them from [p, end), returns the bytes read or 0 when malformed. */
size_t kq__impacts_put(uint8_t *p, const struct kq_impact *imp, uint32_t n);
size_t kq__impacts_get(const uint8_t *p, const uint8_t *end, struct kq_impact *imp,
                       uint32_t *n);

/* ---- writer ---- */

typedef struct kq_postings_writer kq_postings_writer;

int kq_postings_writer_new(kq_postings_writer **out);
void kq_postings_writer_free(kq_postings_writer *w);

/* Starts a term. Its positions are appended to `pos` as they are added (the caller may
 * drain `pos` between calls; the writer counts the bytes itself); `with_positions` 0 writes
 * none. */
void kq_postings_writer_begin(kq_postings_writer *w, kq_buf *pos, int with_positions);

/* Adds one posting: `doc` strictly greater than the previous one of this term, tf >= 1,
 * `dl` the document's length in this field, `positions` tf strictly increasing values
 * (ignored without positions). Returns 0, KQ_EINVAL (order or tf broken), KQ_ELIMIT (the
 * positions of a block's postings would pass 2 GiB, P17), KQ_ENOMEM. */
int kq_postings_writer_add(kq_postings_writer *w, uint32_t doc, uint32_t tf, uint32_t dl,
                           const uint32_t *positions);
/* As kq_postings_writer_add, with the positions given as a segment stores them: `enc`, the
 * `len` bytes of tf varints, the first position and then the gaps (FORMAT.md P15). They are
 * copied as they are, unchecked: for positions this process encoded itself (an in-memory
 * run, a temporary segment it wrote), never for what it reads from an index. */
int kq_postings_writer_add_encoded(kq_postings_writer *w, uint32_t doc, uint32_t tf,
                                   uint32_t dl, const uint8_t *enc, size_t len);

/* Ends the term: appends its postings (skip table and blocks) to `docs` and fills `meta`,
 * with doc_off = docs_base + the length `docs` had, pos_off = pos_base + where this term's
 * positions started (the caller passes the absolute section offsets the buffers start at).
 * Returns 0 or KQ_ENOMEM, KQ_EINVAL when no posting was added. */
int kq_postings_writer_end(kq_postings_writer *w, kq_buf *docs, uint64_t docs_base,
                           uint64_t pos_base, struct kq_term_meta *meta);

/* ---- cursor ---- */

struct kq_skip {
    uint32_t last_doc;    /* last doc id of the block */
    uint32_t n_impacts;
    uint64_t doc_off;     /* block start, relative to the term's first block */
    uint64_t pos_off;     /* block's first position byte, relative to the term's positions */
    struct kq_impact impacts[KQ_IMPACTS_MAX];
};

typedef struct kq_postings_cursor {
    /* private: read through the functions below */
    uint32_t doc; /* current doc, KQ_DOC_END when exhausted, 0 before the first next; kept
                   * apart from `i` so the two stores of next() stay scalar (a merged vector
                   * store would make the next call's load of `i` miss store forwarding) */
    const uint8_t *docs, *docs_end; /* the term's postings */
    const uint8_t *blocks;          /* first block */
    const uint8_t *pos, *pos_end;   /* the term's positions (NULL if none) */
    struct kq_skip *skips;          /* one per block, owned */
    uint32_t n_blocks, df;
    uint32_t block;    /* current block index; n_blocks when exhausted */
    uint32_t shallow;  /* block index of the last shallow advance */
    uint32_t n_in;     /* postings decoded in the current block */
    uint32_t i;        /* index of the current posting in the block */
    int started;
    int err;           /* KQ_ECORRUPT once malformed data was met */
    uint32_t docs_buf[KQ_BLOCK_SIZE];
    uint32_t tfs_buf[KQ_BLOCK_SIZE];
    const uint8_t *pos_cur; /* positions of the current doc (lazily located) */
    uint32_t pos_doc_index; /* index in block the pos_cur points at, or UINT32_MAX */
    int pos_tables;         /* heavy blocks' positions end in an offsets table (P17) */
    /* private, postings.c's own */
    uint32_t n_full;     /* bit-packed blocks; a last partial block is variable-byte */
    uint32_t decoded;    /* block held in docs_buf/tfs_buf, UINT32_MAX if none */
    uint32_t sum_blocks; /* blocks 0..sum_blocks-1 decoded in order: tf_sum covers them */
    uint64_t tf_sum;     /* checked against cf once every block was decoded */
    uint64_t cf;
    struct kq_skip skip1; /* the skip entry of a one-block term (skips points here) */
} kq_postings_cursor;

/* kq_postings_open: a cursor over the postings of `meta` inside the postings section
 * [docs, docs + docs_size) and positions section [pos, pos + pos_size) (pos may be NULL).
 * `pos_tables`: the positions are those of segment format 2, where a block's positions
 * may end in a table of its documents' offsets (P17; 0 for format 1, which has none).
 * Validates that the ranges lie inside the sections and decodes the skip table.
 * Returns 0, KQ_ECORRUPT with `err`, KQ_ENOMEM. Close with kq_postings_close. */
int kq_postings_open(kq_postings_cursor *c, const uint8_t *docs, size_t docs_size,
                     const uint8_t *pos, size_t pos_size, const struct kq_term_meta *meta,
                     int pos_tables, kq_error *err);
/* kq_postings_close: frees the skip table; accepts a zeroed or already-closed cursor. A
 * cursor must not be copied by value while open (skips may point into it). */
void kq_postings_close(kq_postings_cursor *c);

/* Moves to the next posting; returns its doc id or KQ_DOC_END (also on corrupt data, with
 * kq_postings_error() then returning KQ_ECORRUPT). Inline: the step inside a decoded block
 * is a few instructions; kq__postings_next_block (internal) decodes the next block. */
uint32_t kq__postings_next_block(kq_postings_cursor *c);
static inline uint32_t kq_postings_next(kq_postings_cursor *c)
{
    uint32_t i = c->i + 1;
    if (i < c->n_in) {
        c->i = i;
        return c->doc = c->docs_buf[i];
    }
    return kq__postings_next_block(c);
}
/* Moves to the first posting with doc >= target (never backwards); returns it or
 * KQ_DOC_END. Uses the skip entries to jump over whole blocks. */
uint32_t kq_postings_seek(kq_postings_cursor *c, uint32_t target);
/* The current doc id and its tf. */
static inline uint32_t kq_postings_doc(const kq_postings_cursor *c)
{
    return c->doc;
}
uint32_t kq_postings_tf(const kq_postings_cursor *c);
/* Writes the positions of the current posting into `out` (room for tf values).
 * Returns the count (= tf) or KQ_ECORRUPT; 0 when the term has no positions. */
int kq_postings_positions(kq_postings_cursor *c, uint32_t *out);
/* The current posting's positions as the segment stores them: `*enc` and `*len` receive
 * its tf varints (see kq_postings_writer_add_encoded). Returns tf, 0 when the term has no
 * positions, or KQ_ECORRUPT when they are not tf varints ending where P16 and P17 say; the
 * values themselves are not checked (P15): use it only on segments this process wrote. */
int kq_postings_positions_encoded(kq_postings_cursor *c, const uint8_t **enc, size_t *len);
/* The end of the first `n` (> 0) varints at `p`, or NULL when `end` comes first. */
const uint8_t *kq__skip_varints(const uint8_t *p, const uint8_t *end, uint64_t n);
/* The positions of the current posting read one at a time, so that a phrase reads no
 * further than it must. The reader is valid until the cursor moves. */
struct kq_pos_reader {
    kq_postings_cursor *c;
    const uint8_t *p, *end;
    uint32_t left; /* positions not read yet */
    uint32_t pos;  /* the last one read (once `read`) */
    int read;
};
/* Starts reading the current posting's positions: returns its tf, 0 when the term has no
 * positions, or KQ_ECORRUPT. */
int kq_postings_pos_begin(kq_postings_cursor *c, struct kq_pos_reader *r);
/* Reads the next position into r->pos: returns 1, 0 after the last, or KQ_ECORRUPT (the
 * cursor is then marked corrupt). */
int kq_pos_next(struct kq_pos_reader *r);
/* Reads on to the first position >= `want` (none when the last one read already is): as
 * kq_pos_next until r->pos >= want, in one loop. Returns 1 with r->pos >= want, 0 when no
 * position left is (all of them read), or KQ_ECORRUPT. */
int kq_pos_seek(struct kq_pos_reader *r, uint32_t want);
/* Shallow advance for block-max pruning: finds the block that would hold `target` without
 * decoding it. Returns its skip entry (last_doc, impacts), or NULL when target is past the
 * last block. */
const struct kq_skip *kq_postings_shallow(kq_postings_cursor *c, uint32_t target);
/* 0, or KQ_ECORRUPT after malformed data was met. */
static inline int kq_postings_error(const kq_postings_cursor *c)
{
    return c->err;
}

#endif
