/* index/segbuild.h: assembling one segment from sorted terms and documents.
 *
 * Both the in-memory run writer (writer.c) and the merger (merge.c) produce segments through
 * this one builder, so there is one encoder of every section. Documents are added in doc id
 * order (ids 0..n-1 of the segment), with their stored text either raw (compressed here into
 * blocks) or as already-compressed blocks made with the same dictionary (copied verbatim).
 * Terms are added in strictly increasing key order, each as a sequence of postings.
 *
 * Memory: document lengths (8 bytes a document) and doc-table offsets (8 bytes a document)
 * stay in memory; every section streams into a kq_sink that spills to disk, through
 * staging buffers of at most KQ_SEGBUILD_STAGE bytes (plus one term's postings).
 */
#ifndef KQ_INDEX_SEGBUILD_H
#define KQ_INDEX_SEGBUILD_H

#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include "index/postings.h"
#include "index/segment.h"
#include "index/termdict.h"
#include "kq/index.h"

/* Target raw bytes of a document-store block. A snippet or a `doc` request decompresses
 * the whole block of its document: on SciFact (1.5 KB documents) 8 KiB blocks take a
 * query's instructions with snippets from 14.6 M to 10.9 M against 32 KiB ones, for a
 * store 2 % larger (the trained dictionary carries what the blocks share); 4 KiB gain
 * little more (10.4 M) for 3 %. */
#define KQ_STORE_BLOCK (8u << 10)
#define KQ_STORE_LEVEL 1 /* with the dictionary, 10% larger than level 3 at twice the speed */
#define KQ_LANG_MAX 32
#define KQ_SEGBUILD_STAGE (64u << 10) /* staging buffers drain into their sinks past this */

/* One document-table entry as the builder takes it (strings need not be NUL-terminated). */
struct kq_docrec {
    const char *id;
    size_t id_len;
    const char *title;
    size_t title_len;
    uint32_t src; /* 0: the id is the file path; s > 0: source s-1 of the segment */
    uint32_t line;
    uint64_t size;
    int64_t mtime_ns;
    uint64_t hash;
    uint8_t format;
    uint32_t len[KQ_N_FIELDS];
};

/* A source file holding several documents (a JSON-lines corpus). */
struct kq_srcrec {
    const char *path;
    size_t path_len;
    uint64_t size;
    int64_t mtime_ns;
    uint64_t hash;
};

/* Compresses documents into store blocks: [u32 n][u32 len x n][bytes], zstd with the
 * builder's dictionary. Used by the builder and by analysis threads (one per thread). */
typedef struct kq_storeblock {
    kq_buf raw;  /* the block being filled */
    kq_buf lens; /* u32 lengths */
    uint32_t n;
    uint32_t first_doc;
} kq_storeblock;

typedef struct kq_segbuild {
    const char *dir;
    kq_sink sink[KQ_SEC_COUNT];
    kq_postings_writer *pw;
    kq_termdict_writer *tw;
    kq_buf post, posn, tdic;      /* staging, drained into sinks */
    kq_buf doct_off;              /* u64 per document */
    kq_buf dlen[KQ_N_FIELDS];     /* u32 per document */
    kq_buf dsix;                  /* 24 bytes per store block */
    kq_buf scratch;
    kq_buf last_src;              /* the last source record added */
    kq_storeblock block;          /* raw documents not yet compressed */
    int taken;                    /* DSTO is a store taken (kq__segbuild_take_store) */
    uint64_t taken_used;          /* its bytes the blocks declared so far cover */
    ZSTD_CCtx *cctx;
    const ZSTD_CDict *cdict;      /* borrowed, may be NULL */
    uint32_t n_docs, n_sources;
    uint64_t total_len[KQ_N_FIELDS];
    uint64_t n_terms, n_postings[KQ_N_FIELDS], n_positions[KQ_N_FIELDS];
    int field;                    /* field of the term being added */
    int temporary;                /* a build's run: written without fsync (segment_write) */
    char language[KQ_LANG_MAX];
} kq_segbuild;

/* Starts a segment whose sections spill into temporary files under `dir` past
 * `spill_bytes` each. `cdict`/`dict` (may be NULL/0) are the zstd dictionary for the store;
 * the dictionary bytes are written to the ZDIC section. */
int kq__segbuild_init(kq_segbuild *b, const char *dir, size_t spill_bytes,
                      const char *language, const ZSTD_CDict *cdict, const void *dict,
                      size_t dict_len, kq_error *err);
void kq__segbuild_release(kq_segbuild *b);

/* Adds a source file; returns its number s (for kq_docrec.src = s + 1) through `*s`. A
 * record equal to the one added before it (the same version of a file, read by two runs or
 * held by two segments merged) is not added again: `*s` is that one's. */
int kq__segbuild_source(kq_segbuild *b, const struct kq_srcrec *src, uint32_t *s,
                        kq_error *err);
/* Adds the next document with its stored text (raw: compressed into blocks here). */
int kq__segbuild_doc(kq_segbuild *b, const struct kq_docrec *d, const void *text,
                     size_t text_len, kq_error *err);
/* Adds the next document without text: its text comes in a block already compressed,
 * added with kq__segbuild_block before or after (blocks and docs must agree in count). */
int kq__segbuild_doc_meta(kq_segbuild *b, const struct kq_docrec *d, kq_error *err);
/* Appends a compressed store block holding documents [first_doc, first_doc + n) of this
 * segment (made with the same dictionary). Flushes any raw block first. */
int kq__segbuild_block(kq_segbuild *b, uint32_t first_doc, uint32_t n, uint32_t raw_len,
                       const void *comp, size_t comp_len, kq_error *err);
/* Takes `dsto`, compressed blocks one after another, as the store, before any document
 * text or block is added; `dsto` receives the builder's empty sink in exchange. The blocks
 * are then declared in order with kq__segbuild_block, `comp` NULL; every byte of the sink
 * must belong to one by kq__segbuild_finish. */
int kq__segbuild_take_store(kq_segbuild *b, kq_sink *dsto, kq_error *err);

/* Terms: begin, then add its postings in doc order, then end with its key. A posting's
 * positions come as `pos`, tf values, or when `enc` is not NULL as the `enc_len` bytes a
 * segment stores them in, copied unchecked (kq_postings_writer_add_encoded). */
void kq__segbuild_term_begin(kq_segbuild *b, int field);
int kq__segbuild_term_add(kq_segbuild *b, uint32_t doc, uint32_t tf, const uint32_t *pos,
                          const uint8_t *enc, size_t enc_len, kq_error *err);
int kq__segbuild_term_end(kq_segbuild *b, const uint8_t *key, size_t key_len, kq_error *err);

/* Terms encoded elsewhere (in parallel): first the bytes, then the keys. A caller encodes a
 * key range with its own kq_postings_writer into `post` and `posn` (offsets in its metas
 * relative to those buffers), appends the buffers with kq__segbuild_append_encoded, which
 * says where they start, and adds each key in order with kq__segbuild_term_meta, its meta's
 * offsets shifted by those bases. Document lengths for impacts: kq__segbuild_dl. */
int kq__segbuild_append_encoded(kq_segbuild *b, kq_buf *post, kq_buf *posn,
                                uint64_t *post_base, uint64_t *pos_base, kq_error *err);
int kq__segbuild_term_meta(kq_segbuild *b, const uint8_t *key, size_t key_len,
                           const struct kq_term_meta *meta, kq_error *err);
/* The length of document `doc` (added already) in `field`. */
uint32_t kq__segbuild_dl(const kq_segbuild *b, int field, uint32_t doc);

/* Terms encoded apart from a builder, on another thread while the builder takes terms of
 * its own: a key range that follows every key the builder gets before
 * kq__segbuild_append_terms. Postings, positions and dictionary entries (key and meta,
 * offsets relative to the spill's own streams) go to sinks that spill to temporary files
 * past `spill_bytes` each, so the memory a key range takes stays bounded whatever its size.
 * The builder's documents must all be added before the first term; while terms are added
 * the spill reads the builder's document lengths and nothing else of it. */
typedef struct kq_termspill {
    const kq_segbuild *sb;
    kq_postings_writer *pw;
    kq_sink post, posn, dict;
    kq_buf post_buf, posn_buf, dict_buf; /* staging, drained into the sinks */
    int field;
} kq_termspill;

int kq__termspill_init(kq_termspill *t, const kq_segbuild *sb, size_t spill_bytes,
                       kq_error *err);
void kq__termspill_release(kq_termspill *t);
/* As kq__segbuild_term_begin / _term_add / _term_end, for the spill's key range. */
void kq__termspill_begin(kq_termspill *t, int field);
int kq__termspill_add(kq_termspill *t, uint32_t doc, uint32_t tf, const uint32_t *pos,
                      const uint8_t *enc, size_t enc_len, kq_error *err);
int kq__termspill_end(kq_termspill *t, const uint8_t *key, size_t key_len, kq_error *err);
/* Appends the spill's terms to the builder, after the builder's own (the spill is left as it
 * is: release it). */
int kq__segbuild_append_terms(kq_segbuild *b, kq_termspill *t, kq_error *err);

/* Memory a builder keeps besides its sinks (which hold at most their spill threshold
 * each): per document and per store block arrays, staging buffers. */
size_t kq__segbuild_memory(const kq_segbuild *b);
/* Makes room in the per-document arrays for `n_docs` more documents: arrays grown one
 * document at a time take up to twice what they hold; reserved, they take what the
 * documents need (a merge knows how many come). Returns 0 or KQ_ENOMEM. */
int kq__segbuild_reserve(kq_segbuild *b, uint64_t n_docs, kq_error *err);

/* Writes the segment file at `path`. `*size` receives its size, `postings_bytes` and
 * `positions_bytes` (may be NULL) the POST and POSN sizes. */
int kq__segbuild_finish(kq_segbuild *b, const char *path, uint64_t *size,
                        uint64_t *postings_bytes, uint64_t *positions_bytes, kq_error *err);

/* Store blocks made outside a builder (analysis threads): */
void kq__storeblock_init(kq_storeblock *sb);
void kq__storeblock_release(kq_storeblock *sb);
int kq__storeblock_add(kq_storeblock *sb, const void *text, size_t len);
/* Compresses the block into `out` (appended); resets the block. */
int kq__storeblock_compress(kq_storeblock *sb, ZSTD_CCtx *cctx, const ZSTD_CDict *cdict,
                            kq_buf *out, uint32_t *raw_len, kq_error *err);

#endif
