/* index/deletes.h: a segment's deletion file, the bitmap of its deleted documents
 * (FORMAT.md, "Deletion files").
 *
 * Segments are immutable; deleting documents from one writes a new deletion file named after
 * the segment and the manifest generation that first references it
 * (seg_<number>_<generation>.del), and the manifest entry records its generation, its
 * checksum and the number of deleted documents. A later deletion writes the union into a
 * file of a newer generation; the older file stays until no manifest references it.
 *
 * A bitmap is ceil(n_docs / 64) u64 words in memory order (bit d % 64 of word d / 64 set:
 * document d is deleted), the same words the file stores little endian.
 *
 * Errors: 0 or KQ_ECORRUPT / KQ_EVERSION (reading), KQ_EIO / KQ_ENOSPC (writing), KQ_ENOMEM,
 * with `err` naming the file.
 */
#ifndef KQ_INDEX_DELETES_H
#define KQ_INDEX_DELETES_H

#include <stddef.h>
#include <stdint.h>

#include "kq/error.h"
#include "util/buf.h"

#define KQ_DEL_MAGIC "KQDELET\0"
#define KQ_DEL_VERSION 1
#define KQ_DEL_HEAD 32

/* Words of the bitmap of a segment of `n_docs` documents. */
static inline size_t kq__del_words(uint32_t n_docs)
{
    return ((size_t)n_docs + 63) / 64;
}

static inline int kq__del_test(const uint64_t *bits, uint32_t doc)
{
    return bits && (bits[doc >> 6] >> (doc & 63) & 1);
}

static inline void kq__del_set(uint64_t *bits, uint32_t doc)
{
    bits[doc >> 6] |= (uint64_t)1 << (doc & 63);
}

/* The bits set in the bitmap of `n_docs` documents. */
uint32_t kq__del_count(const uint64_t *bits, uint32_t n_docs);

/* The file name of the deletion file of segment `number` written at generation `gen`
 * ("seg_00000003_00000007.del"). */
void kq__del_name(uint64_t number, uint64_t gen, char *buf, size_t size);

/* kq__del_encode: appends the file bytes of the bitmap `bits` of segment `number`
 * (`n_docs` documents) to `out`; `*n_deleted` receives its population count and `*checksum`
 * the file's checksum field. Returns 0 or KQ_ENOMEM. */
int kq__del_encode(uint64_t number, uint32_t n_docs, const uint64_t *bits, kq_buf *out,
                   uint32_t *n_deleted, uint64_t *checksum);

/* kq__del_parse: checks the `len` bytes of a deletion file against what the manifest says
 * of it (segment `number` of `n_docs` documents, `n_deleted` of them deleted, file checksum
 * `checksum`) and returns the bitmap in `*bits` (kq__free). `name` names the file in
 * messages. Returns 0, KQ_ECORRUPT, KQ_EVERSION, KQ_ENOMEM; `*bits` is NULL on failure. */
int kq__del_parse(const uint8_t *p, size_t len, const char *name, uint64_t number, uint32_t n_docs,
                  uint32_t n_deleted, uint64_t checksum, uint64_t **bits, kq_error *err);

/* kq__del_read: reads and parses dir/seg_<number>_<gen>.del (see kq__del_parse). A missing
 * file is KQ_ECORRUPT (the manifest references it). */
int kq__del_read(const char *dir, uint64_t number, uint64_t gen, uint32_t n_docs,
                 uint32_t n_deleted, uint64_t checksum, uint64_t **bits, kq_error *err);

/* kq__del_write: writes the deletion file of segment `number` for generation `gen` into
 * `dir` (replacing an orphan of that name, which no manifest can reference) and fsyncs it.
 * `*n_deleted` and `*checksum` receive what the manifest entry records. */
int kq__del_write(const char *dir, uint64_t number, uint64_t gen, uint32_t n_docs,
                  const uint64_t *bits, uint32_t *n_deleted, uint64_t *checksum, kq_error *err);

#endif
