/* index/reader.h: the internals of an open index, shared by reader.c, merge.c, check.c and
 * the query evaluator, which moves cursors inside their decoded blocks and reads lengths
 * without indirection (kq__cursor_seek and the functions after it).
 */
#ifndef KQ_INDEX_READER_H
#define KQ_INDEX_READER_H

#include <zstd.h>

#include "index/manifest.h"
#include "index/postings.h"
#include "index/segment.h"
#include "index/termdict.h"
#include "kq/index.h"

struct kq_src {
    const char *path;
    size_t path_len;
    uint64_t size;
    int64_t mtime_ns;
    uint64_t hash;
};

typedef struct kq_seg {
    kq_segfile f;
    uint64_t number;
    uint32_t n_docs;
    uint32_t base; /* global id of the segment's first document */
    uint64_t n_terms;
    uint64_t total_len[KQ_N_FIELDS];
    uint64_t n_postings, n_positions;
    char language[32];
    kq_termdict td;
    const uint8_t *dlen[KQ_N_FIELDS]; /* u32 LE per document */
    const uint8_t *doct;              /* entries */
    size_t doct_len;
    const uint8_t *doct_off;          /* u64 LE x (n_docs + 1) */
    struct kq_src *srcs;
    uint32_t n_srcs;
    const uint8_t *dsix;
    uint32_t n_blocks;
    ZSTD_DDict *ddict;
    uint64_t dict_hash;               /* XXH3 of the ZDIC bytes (0: none) */
    uint64_t *del;                    /* deletion bitmap (owned); NULL: nothing deleted */
    uint32_t n_del;                   /* bits set in `del` */
    _Atomic unsigned verified;        /* sections whose checksums were verified (1 << id) */
} kq_seg;

struct kq_dfcache;

struct kq_index {
    char *dir;
    char *root; /* the folder holding dir, clean and absolute (kq_index_root) */
    struct kq_manifest man;
    kq_seg *segs;
    uint32_t n_segs;
    uint32_t n_docs;  /* the doc-id space: every segment's documents, deleted ones included */
    uint32_t n_live;  /* documents not deleted: N of BM25 */
    uint64_t total_len[KQ_N_FIELDS]; /* tokens of the live documents */
    int has_deletes;
    struct kq_dfcache *dfc; /* live df and cf of keys in segments with deletions */
};

/* A cursor over one key's postings in every segment (kq_cursor_open). Its window is the
 * decoded block it is on, in a segment without deletions: a seek or next that stays inside
 * it moves the postings cursor directly (kq__cursor_seek, kq__cursor_next below). */
struct kq_cursor {
    uint32_t doc;     /* global id, KQ_NO_DOC at the end */
    uint32_t win_end; /* global id one past the window's last document; 0: no window */
    uint32_t win_base;        /* global id of the window's segment's first document */
    kq_postings_cursor *win;  /* the window's postings cursor (set when win_end is) */
    const kq_index *ix;
    uint32_t seg; /* current segment */
    int err;
    uint8_t key[KQ_KEY_MAX]; /* the term's key, kl bytes */
    size_t kl;
    struct cur_seg {
        int has;    /* the segment holds the term (meta) */
        int opened; /* pc is open: at the first move that needs it (reader.c, open_postings) */
        struct kq_term_meta meta;
        kq_postings_cursor pc;
    } s[];
};

/* kq_cursor_seek, answered inline when the target lies in the window and the postings read
 * well so far. The window's last document is >= target, so the scan stops inside the
 * block, and its documents all belong to the segment (checked when the window opened). */
static inline uint32_t kq__cursor_seek(kq_cursor *c, uint32_t target)
{
    kq_postings_cursor *pc = c->win;
    if (target >= c->win_end || pc->err)
        return kq_cursor_seek(c, target);
    if (c->doc >= target)
        return c->doc;
    uint32_t t = target - c->win_base, i = pc->i + 1;
    while (pc->docs_buf[i] < t)
        i++;
    pc->i = i;
    pc->doc = pc->docs_buf[i];
    return c->doc = c->win_base + pc->doc;
}

/* kq_cursor_next, answered inline when the next document is in the window. */
static inline uint32_t kq__cursor_next(kq_cursor *c)
{
    kq_postings_cursor *pc = c->win;
    if (!c->win_end || pc->err || pc->i + 1 >= pc->n_in)
        return kq_cursor_next(c);
    pc->doc = pc->docs_buf[++pc->i];
    return c->doc = c->win_base + pc->doc;
}

/* kq_cursor_tf, inline on the window. */
static inline uint32_t kq__cursor_tf(const kq_cursor *c)
{
    return c->win_end ? c->win->tfs_buf[c->win->i] : kq_cursor_tf(c);
}

/* kq__seg_verify: checks the checksums of the sections of `s` not verified yet. */
int kq__seg_verify(kq_seg *s, kq_error *err);
/* kq__cursor_need_positions: verifies the positions section (POSN) of each segment holding
 * the cursor's term, when an index opened with KQ_INDEX_VERIFY_ON_USE has not yet (a
 * phrase calls it when it compiles, before kq__cursor_pos_begin). Returns 0 or
 * KQ_ECORRUPT. */
int kq__cursor_need_positions(const kq_cursor *c, kq_error *err);

/* The bytes of positions sections (POSN) a first read of positions would still verify:
 * those of segments not verified yet (KQ_INDEX_VERIFY_ON_USE), 0 when none is left. */
uint64_t kq__index_positions_unverified(const kq_index *ix);

/* Whether the file at `path` is the one segment number `number` of the index was mapped
 * from (the same device and inode: not a new file of that name). */
int kq__index_maps(const kq_index *ix, uint64_t number, const char *path);

/* Whether global doc id `doc` (< ix->n_docs) is live. */
int kq__index_live(const kq_index *ix, uint32_t doc);

/* kq__seg_live_stats: df and cf of the term `m` of segment `s` over its live documents,
 * counted from the postings (exact). Returns 0, KQ_ECORRUPT, KQ_ENOMEM. */
int kq__seg_live_stats(const kq_seg *s, const struct kq_term_meta *m, uint32_t *df,
                       uint64_t *cf, kq_error *err);

/* Opens one segment file and checks its structure (`verify`: also every checksum). */
int kq__seg_open(kq_seg *s, const char *path, int verify, kq_error *err);
/* The same over bytes in memory (the fuzzer), with no file behind them. */
int kq__seg_open_bytes(kq_seg *s, const uint8_t *p, size_t size, kq_error *err);
/* Releases a segment opened with kq__seg_open_bytes (leaves the caller's bytes alone;
 * accepts NULL). kq__seg_close would unmap bytes that were never mapped. */
void kq__seg_close_bytes(kq_seg *s);
void kq__seg_close(kq_seg *s);

/* A segment-local document entry. */
int kq__seg_doc(const kq_seg *s, uint32_t doc, struct kq_doc *out, kq_error *err);
/* The `src` field of segment-local `doc` (< n_docs) alone: 0 for a file, s + 1 for a
 * document of source s. Returns 0 or KQ_ECORRUPT. */
int kq__seg_doc_src(const kq_seg *s, uint32_t doc, uint32_t *src);
/* Decompresses store block `blk` of the segment into `*raw` (caller frees with kq__free). */
int kq__seg_block(const kq_seg *s, uint32_t blk, uint8_t **raw, size_t *raw_len,
                  kq_error *err);
/* The same with the caller's decompression context `dctx` (one thread's at a time; NULL:
 * a new one for the call), which saves setting one up per block. */
int kq__seg_block_dctx(const kq_seg *s, uint32_t blk, ZSTD_DCtx *dctx, uint8_t **raw,
                       size_t *raw_len, kq_error *err);
/* The stored text of segment-local `doc`, copied into a new buffer. */
int kq__seg_doc_text(const kq_seg *s, uint32_t doc, char **text, size_t *len, kq_error *err);
int kq__seg_doc_text_dctx(const kq_seg *s, uint32_t doc, ZSTD_DCtx *dctx, char **text,
                          size_t *len, kq_error *err);
/* kq_index_doc_text with the caller's decompression context (NULL: a new one). */
int kq__index_doc_text_dctx(const kq_index *ix, uint32_t doc, ZSTD_DCtx *dctx, char **text,
                            size_t *len, kq_error *err);

static inline uint32_t kq__seg_dl(const kq_seg *s, int field, uint32_t doc)
{
    const uint8_t *p = s->dlen[field] + 4 * (size_t)doc;
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* The length in `field` of the document the cursor is on (a live one, not KQ_NO_DOC). */
static inline uint32_t kq__cursor_dl(const kq_cursor *c, int field)
{
    const kq_seg *s = &c->ix->segs[c->seg];
    return kq__seg_dl(s, field, c->doc - s->base);
}

/* Builds the dictionary key (field byte + term) in `key`; returns its length or 0 when the
 * term is too long. */
size_t kq__make_key(uint8_t *key, int field, const char *term, size_t len);

/* ---- for the query evaluator (query/eval.c) ---- */

/* kq__cursor_impacts: the union over the segments holding the cursor's term of their
 * term-level competitive (tf, dl) pairs (struct kq_term_meta.impacts), written to `out`
 * (room for `cap` >= 2 * KQ_IMPACTS_MAX pairs). When the union would not fit, the pairs are
 * first reduced (kq_impacts_reduce), which keeps an upper bound. Returns the count (>= 1 for
 * an open cursor). The best BM25 over the pairs bounds the term's score in any document. */
uint32_t kq__cursor_impacts(const kq_cursor *c, struct kq_impact *out, uint32_t cap);

/* kq__cursor_block: block-max data for the global doc id `target` (>= the cursor's current
 * doc): `*last_doc` receives the last global doc id the returned bound covers (>= target)
 * and `imp`/`*n` (room for KQ_IMPACTS_MAX) the competitive pairs of every posting in
 * [target, *last_doc]; *n = 0 means no posting lies there. Does not move the cursor (a
 * shallow advance: no block is decoded). Returns 0, or KQ_NO_DOC in *last_doc when target is
 * past every document of the index. */
void kq__cursor_block(kq_cursor *c, uint32_t target, uint32_t *last_doc, struct kq_impact *imp,
                      uint32_t *n);
/* kq__cursor_df: the number of live documents holding the cursor's term, as
 * kq_index_lookup counts it, without looking the term up again. Returns 0, KQ_ECORRUPT,
 * KQ_ENOMEM. */
int kq__cursor_df(const kq_cursor *c, uint32_t *df, kq_error *err);
/* kq__cursor_pos_begin: starts reading the current document's positions one at a time
 * (kq_pos_next); returns its tf, 0 when there are none, or KQ_ECORRUPT. The caller has
 * called kq__cursor_need_positions (kq_cursor_positions checks on each call instead). */
int kq__cursor_pos_begin(kq_cursor *c, struct kq_pos_reader *r);

#endif
