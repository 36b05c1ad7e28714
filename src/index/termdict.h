/* index/termdict.h: the term dictionary: keys in strictly increasing byte order,
 * front-coded in blocks of KQ_TERMDICT_BLOCK terms, each with its kq_term_meta, and a sparse
 * index of each block's first key for O(log n) exact lookup and prefix ranges.
 * Bytes: FORMAT.md, sections TDIC (blocks) and TIDX (sparse index).
 *
 * A key is a field byte followed by the term bytes (see index.h: KQ_FIELD_*).
 *
 * Errors: the writer returns 0, KQ_EINVAL (order), KQ_ENOMEM. The reader validates the
 * sparse index at open and every block it decodes, never reads outside the bytes it was
 * given, and reports malformed data as KQ_ECORRUPT.
 * Thread safety: a kq_termdict is immutable after open and can be shared; iterators belong
 * to one thread.
 */
#ifndef KQ_INDEX_TERMDICT_H
#define KQ_INDEX_TERMDICT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "index/postings.h"
#include "util/buf.h"

#define KQ_TERMDICT_BLOCK 16
#define KQ_KEY_MAX 256 /* longest key accepted */

/* Key order: bytes (memcmp), then the shorter first. */
static inline int kq__key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int r = n ? memcmp(a, b, n) : 0;
    if (r)
        return r;
    return alen < blen ? -1 : alen > blen;
}

typedef struct kq_termdict_writer kq_termdict_writer;

int kq_termdict_writer_new(kq_termdict_writer **out);
void kq_termdict_writer_free(kq_termdict_writer *w);
/* Adds a key (strictly greater than the previous one, 1..KQ_KEY_MAX bytes) with its meta.
 * Block bytes are appended to `blocks` (the caller may drain it between calls; the writer
 * counts bytes itself). */
int kq_termdict_writer_add(kq_termdict_writer *w, kq_buf *blocks, const uint8_t *key,
                           size_t len, const struct kq_term_meta *meta);
/* Ends the dictionary: flushes the last block into `blocks` and writes the sparse index into
 * `index`. `*n_terms` receives the number of keys. */
int kq_termdict_writer_finish(kq_termdict_writer *w, kq_buf *blocks, kq_buf *index,
                              uint64_t *n_terms);

typedef struct kq_termdict {
    /* private */
    const uint8_t *blocks;
    size_t blocks_size;
    const uint8_t *index;
    size_t index_size;
    uint64_t n_terms;
    uint32_t n_blocks;
    /* further private fields may follow */
} kq_termdict;

/* kq_termdict_open: reads a dictionary from the two sections; validates the sparse index
 * (sizes, block offsets increasing and in range, first keys strictly increasing).
 * Returns 0 or KQ_ECORRUPT with `err`. The bytes must outlive the dictionary. */
int kq_termdict_open(kq_termdict *td, const uint8_t *blocks, size_t blocks_size,
                     const uint8_t *index, size_t index_size, uint64_t n_terms, kq_error *err);

/* kq_termdict_lookup: the meta of `key`. Returns 0, KQ_ENOTFOUND, KQ_ECORRUPT. */
int kq_termdict_lookup(const kq_termdict *td, const uint8_t *key, size_t len,
                       struct kq_term_meta *meta, kq_error *err);

/* The number of blocks, and the first key of block `b` (< the number; points into the
 * index): keys at which to split the dictionary into ranges. */
uint32_t kq_termdict_blocks(const kq_termdict *td);
const uint8_t *kq_termdict_block_key(const kq_termdict *td, uint32_t b, size_t *len);

typedef struct kq_termdict_iter {
    /* private */
    const kq_termdict *td;
    uint32_t block;     /* current block */
    uint32_t in_block;  /* terms of the block already returned */
    const uint8_t *p;   /* next entry in the block */
    const uint8_t *end; /* end of the block */
    uint8_t key[KQ_KEY_MAX];
    size_t key_len;
    struct kq_term_meta meta;
    int err;
    /* private, termdict.c's own */
    int pending;  /* key/meta hold an entry seek found, for next to return */
    int have_key; /* key holds the last key returned or decoded */
    int at_end;
} kq_termdict_iter;

/* kq_termdict_seek: positions `it` so that the next kq_termdict_next returns the first key
 * >= `key` (len 0: the first key). Returns 0 or KQ_ECORRUPT. */
int kq_termdict_seek(const kq_termdict *td, kq_termdict_iter *it, const uint8_t *key,
                     size_t len, kq_error *err);
/* kq_termdict_next: the next key and meta. `*key` points into the iterator, valid until the
 * next call. Returns 1 with a term, 0 at the end, KQ_ECORRUPT. */
int kq_termdict_next(kq_termdict_iter *it, const uint8_t **key, size_t *len,
                     struct kq_term_meta *meta, kq_error *err);

#endif
