/* index/postings.c: the postings codec (writer and cursor) and impact reduction.
 *
 * A term's postings are its skip table (only when it has two blocks or more), then its
 * blocks: full blocks of 128 documents bit-packed (doc-id gaps minus 1, then tf - 1, each
 * with its width byte), and a last partial block in variable-byte form. A term with one
 * block stores no skip table: its block-max impacts are the term's, kept in the term
 * dictionary, so a df = 1 term with a small doc id costs one byte here. Positions go to a
 * separate stream, per posting tf varints (first absolute, then gaps), in doc order; a
 * block whose positions take 32 bytes a posting or more ends them with a table of its
 * postings' offsets, so a phrase reaches a document's positions without reading the earlier
 * ones. The bytes are specified in FORMAT.md; the rule numbers P1... below refer to it.
 *
 * Invariant of the cursor: every pointer it dereferences was checked against the ranges
 * given to kq_postings_open; any violation sets err = KQ_ECORRUPT and the cursor ends.
 */
#include "index/postings.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "index/bitpack.h"
#include "util/alloc.h"
#include "util/bytes.h"
#include "util/error.h"

#define DOC_MAX (UINT32_MAX - 1) /* largest valid doc id: KQ_DOC_END is reserved */
#define SKIP_MAX_BYTES (3 * KQ_VARINT_MAX + 1 + 2 * KQ_VARINT_MAX * KQ_IMPACTS_MAX)
#define BLOCK_MAX_BYTES (2 + 2 * 16 * 32)
#define TAIL_MAX_BYTES (KQ_BLOCK_SIZE * 2 * KQ_VARINT_MAX)
/* P17: a block of n >= 2 postings whose positions take POS_TABLE_MIN * (n - 1) bytes or
 * more (and less than POS_BLOCK_MAX, as every block's must) ends them with n - 1 u32
 * offsets; readers tell it from the block's positions length alone. */
#define POS_TABLE_MIN 32u
#define POS_BLOCK_MAX (1ull << 31)

/* ---- impacts ---- */

static int impact_cmp(const void *a, const void *b)
{
    const struct kq_impact *x = a, *y = b;
    if (x->tf != y->tf)
        return x->tf < y->tf ? -1 : 1;
    /* dl descending: scanning from the end meets each tf's smallest dl first */
    if (x->dl != y->dl)
        return x->dl > y->dl ? -1 : 1;
    return 0;
}

/* BM25's shape with k1 = 1.2, b = 0.75 and `avgdl`, used only to choose which neighbours
 * to merge: any choice keeps an upper bound, this one loses little for typical stats. */
static double shape(uint32_t tf, uint32_t dl, double avgdl)
{
    double t = tf;
    return t / (t + 1.2 * (0.25 + 0.75 * (double)dl / avgdl));
}

uint32_t kq_impacts_reduce(struct kq_impact *imp, uint32_t n, uint32_t max)
{
    if (n == 0)
        return 0;
    if (max == 0)
        max = 1;
    if (n > 16) {
        /* Of the pairs with the same small tf only the shortest document can be
         * competitive: keep that one per tf below 16, so a full block sorts a handful of
         * pairs rather than 128. */
        uint32_t min_dl[16];
        for (uint32_t t = 0; t < 16; t++)
            min_dl[t] = UINT32_MAX;
        uint32_t k = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (imp[i].tf < 16) {
                if (imp[i].dl < min_dl[imp[i].tf])
                    min_dl[imp[i].tf] = imp[i].dl;
            } else {
                imp[k++] = imp[i];
            }
        }
        for (uint32_t t = 0; t < 16; t++)
            if (min_dl[t] != UINT32_MAX)
                imp[k++] = (struct kq_impact){t, min_dl[t]};
        n = k;
    }
    if (n <= 32) {
        for (uint32_t i = 1; i < n; i++) {
            struct kq_impact x = imp[i];
            uint32_t j = i;
            for (; j > 0 && impact_cmp(&imp[j - 1], &x) > 0; j--)
                imp[j] = imp[j - 1];
            imp[j] = x;
        }
    } else {
        qsort(imp, n, sizeof *imp, impact_cmp);
    }
    /* keep a pair iff its dl is below every dl of the pairs with a larger or equal tf */
    uint32_t w = n;
    uint32_t min_dl = 0;
    for (uint32_t i = n; i-- > 0;) {
        if (w == n || imp[i].dl < min_dl) {
            min_dl = imp[i].dl;
            imp[--w] = imp[i];
        }
    }
    uint32_t k = n - w;
    memmove(imp, imp + w, k * sizeof *imp);
    /* now tf and dl both strictly increase */
    if (k <= max)
        return k;
    double avgdl = 0;
    for (uint32_t i = 0; i < k; i++)
        avgdl += imp[i].dl;
    avgdl = avgdl / k;
    if (avgdl < 1)
        avgdl = 1;
    while (k > max) {
        uint32_t best = 0;
        double best_cost = 0;
        for (uint32_t t = 0; t + 1 < k; t++) {
            double a = shape(imp[t].tf, imp[t].dl, avgdl);
            double b = shape(imp[t + 1].tf, imp[t + 1].dl, avgdl);
            double cost = shape(imp[t + 1].tf, imp[t].dl, avgdl) - (a > b ? a : b);
            if (t == 0 || cost < best_cost) {
                best = t;
                best_cost = cost;
            }
        }
        /* (tf_t, dl_t), (tf_t+1, dl_t+1) -> (tf_t+1, dl_t): dominates both */
        imp[best].tf = imp[best + 1].tf;
        memmove(imp + best + 1, imp + best + 2, (k - best - 2) * sizeof *imp);
        k--;
    }
    return k;
}

/* ---- writer ---- */

struct kq_postings_writer {
    kq_buf *pos;
    int with_pos;
    int in_term;
    uint64_t pos_bytes;      /* positions bytes of the term so far */
    uint64_t block_pos;      /* pos_bytes at the current block's first posting */
    uint64_t prev_block_pos; /* pos offset of the previous flushed block */
    uint32_t docs[KQ_BLOCK_SIZE], tfs[KQ_BLOCK_SIZE], dls[KQ_BLOCK_SIZE];
    uint32_t pos_at[KQ_BLOCK_SIZE]; /* each posting's positions, from the block's first byte */
    uint32_t n; /* postings in the current block */
    uint32_t df;
    uint64_t cf;
    uint32_t last_doc;       /* last doc added; valid when df > 0 */
    uint32_t prev_last;      /* last doc of the previous flushed block */
    uint32_t n_blocks;       /* flushed blocks */
    uint64_t prev_block_len; /* byte length of the previous flushed block */
    kq_buf skips, blocks;    /* the term's skip table and blocks so far */
    struct kq_impact *timp;  /* the term's frontier so far */
    uint32_t n_timp, cap_timp;
    struct kq_impact bimp[KQ_BLOCK_SIZE];
    uint32_t gaps[KQ_BLOCK_SIZE];
};

int kq_postings_writer_new(kq_postings_writer **out)
{
    *out = kq__calloc(1, sizeof **out);
    return *out ? 0 : KQ_ENOMEM;
}

void kq_postings_writer_free(kq_postings_writer *w)
{
    if (!w)
        return;
    kq_buf_release(&w->skips);
    kq_buf_release(&w->blocks);
    kq__free(w->timp);
    kq__free(w);
}

void kq_postings_writer_begin(kq_postings_writer *w, kq_buf *pos, int with_positions)
{
    w->pos = pos;
    w->with_pos = with_positions && pos;
    w->in_term = 1;
    w->pos_bytes = w->block_pos = w->prev_block_pos = 0;
    w->n = w->df = 0;
    w->cf = 0;
    w->last_doc = w->prev_last = 0;
    w->n_blocks = 0;
    w->prev_block_len = 0;
    kq_buf_reset(&w->skips);
    kq_buf_reset(&w->blocks);
    w->n_timp = 0;
}

size_t kq__impacts_put(uint8_t *p, const struct kq_impact *imp, uint32_t n)
{
    size_t k = kq_varint_put(p, n - 1);
    k += kq_varint_put(p + k, imp[0].tf - 1);
    k += kq_varint_put(p + k, imp[0].dl);
    for (uint32_t i = 1; i < n; i++) {
        k += kq_varint_put(p + k, imp[i].tf - imp[i - 1].tf - 1);
        k += kq_varint_put(p + k, imp[i].dl - imp[i - 1].dl - 1);
    }
    return k;
}

/* Writes the current block (packed when full, variable-byte otherwise) and, unless it is
 * the term's only block, its skip entry. Reserves everything first: on KQ_ENOMEM nothing
 * changed. */
static int flush_block(kq_postings_writer *w, int last)
{
    uint32_t n = w->n;
    int need_skip = !(last && w->n_blocks == 0);
    if (w->n_timp + n > w->cap_timp) {
        uint32_t cap = w->cap_timp ? w->cap_timp : 256;
        while (cap < w->n_timp + n)
            cap *= 2;
        struct kq_impact *t = kq__realloc(w->timp, cap * sizeof *t);
        if (!t)
            return KQ_ENOMEM;
        w->timp = t;
        w->cap_timp = cap;
    }
    if (kq_buf_reserve(&w->blocks, n == KQ_BLOCK_SIZE ? BLOCK_MAX_BYTES : TAIL_MAX_BYTES))
        return KQ_ENOMEM;
    if (need_skip && kq_buf_reserve(&w->skips, SKIP_MAX_BYTES))
        return KQ_ENOMEM;
    uint64_t plen = w->pos_bytes - w->block_pos;
    int table = w->with_pos && n >= 2 && plen >= (uint64_t)POS_TABLE_MIN * (n - 1);
    if (table && kq_buf_reserve(w->pos, 4 * (size_t)(n - 1)))
        return KQ_ENOMEM;

    /* block-level frontier, folded into the term's */
    for (uint32_t i = 0; i < n; i++) {
        w->bimp[i].tf = w->tfs[i];
        w->bimp[i].dl = w->dls[i];
    }
    uint32_t nb = kq_impacts_reduce(w->bimp, n, UINT32_MAX);
    memcpy(w->timp + w->n_timp, w->bimp, nb * sizeof *w->bimp);
    w->n_timp = kq_impacts_reduce(w->timp, w->n_timp + nb, UINT32_MAX);
    nb = kq_impacts_reduce(w->bimp, nb, KQ_IMPACTS_MAX);

    uint64_t base = w->n_blocks ? (uint64_t)w->prev_last + 1 : 0;
    uint8_t *out = w->blocks.p + w->blocks.len;
    size_t len = 0;
    if (n == KQ_BLOCK_SIZE) {
        for (uint32_t i = 0; i < n; i++) {
            w->gaps[i] = (uint32_t)(w->docs[i] - base);
            base = (uint64_t)w->docs[i] + 1;
        }
        uint32_t wd = kq__bitpack_bits(w->gaps);
        out[len++] = (uint8_t)wd;
        kq__bitpack_pack(w->gaps, wd, out + len);
        len += kq__bitpack_size(wd);
        for (uint32_t i = 0; i < n; i++)
            w->gaps[i] = w->tfs[i] - 1;
        uint32_t wt = kq__bitpack_bits(w->gaps);
        out[len++] = (uint8_t)wt;
        kq__bitpack_pack(w->gaps, wt, out + len);
        len += kq__bitpack_size(wt);
    } else {
        for (uint32_t i = 0; i < n; i++) {
            uint64_t gap = w->docs[i] - base;
            base = (uint64_t)w->docs[i] + 1;
            len += kq_varint_put(out + len, gap << 1 | (w->tfs[i] == 1));
            if (w->tfs[i] > 1)
                len += kq_varint_put(out + len, w->tfs[i] - 2);
        }
    }
    w->blocks.len += len;

    if (need_skip) {
        uint8_t *s = w->skips.p + w->skips.len;
        size_t k = 0;
        uint32_t ld = w->docs[n - 1];
        k += kq_varint_put(s + k, w->n_blocks ? ld - w->prev_last - 1 : ld);
        if (w->n_blocks) {
            k += kq_varint_put(s + k, w->prev_block_len);
            if (w->with_pos)
                k += kq_varint_put(s + k, w->block_pos - w->prev_block_pos);
        }
        k += kq__impacts_put(s + k, w->bimp, nb);
        w->skips.len += k;
    }
    if (table) {
        uint8_t *t = w->pos->p + w->pos->len;
        for (uint32_t i = 1; i < n; i++)
            kq_put_le32(t + 4 * (size_t)(i - 1), w->pos_at[i]);
        w->pos->len += 4 * (size_t)(n - 1);
        w->pos_bytes += 4 * (uint64_t)(n - 1);
    }
    w->prev_last = w->docs[n - 1];
    w->prev_block_len = len;
    w->prev_block_pos = w->block_pos;
    w->block_pos = w->pos_bytes;
    w->n_blocks++;
    w->n = 0;
    return 0;
}

/* Checks a posting against the term's order; flushes the block it fills. */
static int posting_begin(kq_postings_writer *w, uint32_t doc, uint32_t tf)
{
    if (!w->in_term || tf == 0 || doc > DOC_MAX || (w->df && doc <= w->last_doc))
        return KQ_EINVAL;
    if (w->n == KQ_BLOCK_SIZE && flush_block(w, 0))
        return KQ_ENOMEM;
    return 0;
}

/* Takes the `k` bytes written (reserved) past the end of w->pos as the posting's positions;
 * KQ_ELIMIT, nothing taken, when the block's would reach POS_BLOCK_MAX. */
static int posting_positions(kq_postings_writer *w, size_t k)
{
    uint64_t at = w->pos_bytes - w->block_pos;
    if (at + k + 4 * (uint64_t)KQ_BLOCK_SIZE >= POS_BLOCK_MAX)
        return KQ_ELIMIT;
    w->pos_at[w->n] = (uint32_t)at;
    w->pos->len += k;
    w->pos_bytes += k;
    return 0;
}

static void posting_end(kq_postings_writer *w, uint32_t doc, uint32_t tf, uint32_t dl)
{
    w->docs[w->n] = doc;
    w->tfs[w->n] = tf;
    w->dls[w->n] = dl;
    w->n++;
    w->df++;
    w->cf += tf;
    w->last_doc = doc;
}

int kq_postings_writer_add(kq_postings_writer *w, uint32_t doc, uint32_t tf, uint32_t dl,
                           const uint32_t *positions)
{
    if (w->with_pos) {
        if (!positions)
            return KQ_EINVAL;
        for (uint32_t i = 1; i < tf; i++)
            if (positions[i] <= positions[i - 1])
                return KQ_EINVAL;
    }
    int rc = posting_begin(w, doc, tf);
    if (rc)
        return rc;
    if (w->with_pos) {
        if (kq_buf_reserve(w->pos, (size_t)tf * 5))
            return KQ_ENOMEM;
        uint8_t *p = w->pos->p + w->pos->len;
        size_t k = kq_varint_put(p, positions[0]);
        for (uint32_t i = 1; i < tf; i++)
            k += kq_varint_put(p + k, positions[i] - positions[i - 1]);
        if ((rc = posting_positions(w, k)))
            return rc;
    }
    posting_end(w, doc, tf, dl);
    return 0;
}

int kq_postings_writer_add_encoded(kq_postings_writer *w, uint32_t doc, uint32_t tf,
                                   uint32_t dl, const uint8_t *enc, size_t len)
{
    if (w->with_pos && (!enc || len < tf))
        return KQ_EINVAL;
    int rc = posting_begin(w, doc, tf);
    if (rc)
        return rc;
    if (w->with_pos) {
        if (kq_buf_reserve(w->pos, len))
            return KQ_ENOMEM;
        memcpy(w->pos->p + w->pos->len, enc, len);
        if ((rc = posting_positions(w, len)))
            return rc;
    }
    posting_end(w, doc, tf, dl);
    return 0;
}

int kq_postings_writer_end(kq_postings_writer *w, kq_buf *docs, uint64_t docs_base,
                           uint64_t pos_base, struct kq_term_meta *meta)
{
    if (!w->in_term || w->df == 0)
        return KQ_EINVAL;
    if (w->n && flush_block(w, 1))
        return KQ_ENOMEM;
    size_t skip_len = w->n_blocks > 1 ? w->skips.len : 0;
    if (kq_buf_reserve(docs, skip_len + w->blocks.len))
        return KQ_ENOMEM;
    memset(meta, 0, sizeof *meta);
    meta->df = w->df;
    meta->cf = w->cf;
    meta->doc_off = docs_base + docs->len;
    meta->doc_len = skip_len + w->blocks.len;
    if (w->with_pos) {
        meta->pos_off = pos_base + w->pos->len - w->pos_bytes;
        meta->pos_len = w->pos_bytes;
    } else {
        meta->pos_off = pos_base + (w->pos ? w->pos->len : 0);
        meta->pos_len = 0;
    }
    /* timp is a frontier already; reduce it into the meta */
    uint32_t n = w->n_timp;
    meta->n_impacts = kq_impacts_reduce(w->timp, n, KQ_IMPACTS_MAX);
    memcpy(meta->impacts, w->timp, meta->n_impacts * sizeof *w->timp);
    if (skip_len)
        memcpy(docs->p + docs->len, w->skips.p, skip_len);
    memcpy(docs->p + docs->len + skip_len, w->blocks.p, w->blocks.len);
    docs->len += skip_len + w->blocks.len;
    w->in_term = 0;
    return 0;
}

/* ---- cursor ---- */

static uint32_t corrupt(kq_postings_cursor *c)
{
    c->err = KQ_ECORRUPT;
    c->doc = KQ_DOC_END;
    c->block = c->n_blocks;
    c->n_in = c->i = 0;
    return KQ_DOC_END;
}

static uint64_t blocks_len(const kq_postings_cursor *c)
{
    return (uint64_t)(c->docs_end - c->blocks);
}

static uint32_t block_count(const kq_postings_cursor *c, uint32_t b)
{
    return b < c->n_full ? KQ_BLOCK_SIZE : c->df - c->n_full * KQ_BLOCK_SIZE;
}

/* Reads impacts (P9); returns the bytes used or 0 when malformed. */
size_t kq__impacts_get(const uint8_t *p, const uint8_t *end, struct kq_impact *imp,
                       uint32_t *n_out)
{
    uint64_t v, tf, dl;
    size_t k, n = 0;
    if (!(k = kq_varint_get(p, end, &v)) || v >= KQ_IMPACTS_MAX)
        return 0;
    n += k;
    uint32_t cnt = (uint32_t)v + 1;
    if (!(k = kq_varint_get(p + n, end, &tf)) || tf >= UINT32_MAX)
        return 0;
    n += k;
    if (!(k = kq_varint_get(p + n, end, &dl)) || dl > UINT32_MAX)
        return 0;
    n += k;
    tf += 1;
    imp[0].tf = (uint32_t)tf;
    imp[0].dl = (uint32_t)dl;
    for (uint32_t i = 1; i < cnt; i++) {
        uint64_t dt, dd;
        if (!(k = kq_varint_get(p + n, end, &dt)) || dt >= UINT32_MAX)
            return 0;
        n += k;
        if (!(k = kq_varint_get(p + n, end, &dd)) || dd >= UINT32_MAX)
            return 0;
        n += k;
        tf += dt + 1;
        dl += dd + 1;
        if (tf > UINT32_MAX || dl > UINT32_MAX)
            return 0;
        imp[i].tf = (uint32_t)tf;
        imp[i].dl = (uint32_t)dl;
    }
    *n_out = cnt;
    return n;
}

/* Decodes block `b` into docs_buf/tfs_buf (P2-P8). Returns 0 or KQ_ECORRUPT. */
/* A full block's unpacked doc-id gaps - 1 and tfs - 1 (none 2^32 - 1) made doc ids from
 * `base` on (a 32-bit prefix sum, wrapping) and tfs. Returns the sum of the gaps - 1 (for
 * the P3 check), with the tfs' sum in *sum and their largest in *max_tf. */
static uint64_t finish_full_block(uint32_t *d, uint32_t *t, uint32_t base, uint64_t *sum,
                                  uint32_t *max_tf)
{
    uint64_t total = 0, s = 0;
    uint32_t mx = 0;
#ifdef __SSE2__
    /* four lanes at a time: a prefix sum in two shifts, the 64-bit sums as pairs of lanes,
     * the unsigned maximum by signed comparisons with the sign bit flipped */
    const __m128i zero = _mm_setzero_si128(), one = _mm_set1_epi32(1),
                  flip = _mm_set1_epi32(INT32_MIN);
    __m128i carry = _mm_set1_epi32((int)(base - 1)), g64 = zero, s64 = zero, m = flip;
    for (uint32_t i = 0; i < KQ_BLOCK_SIZE; i += 4) {
        __m128i x = _mm_loadu_si128((const __m128i *)(d + i));
        g64 = _mm_add_epi64(g64, _mm_add_epi64(_mm_unpacklo_epi32(x, zero),
                                               _mm_unpackhi_epi32(x, zero)));
        x = _mm_add_epi32(x, one);
        x = _mm_add_epi32(x, _mm_slli_si128(x, 4));
        x = _mm_add_epi32(x, _mm_slli_si128(x, 8));
        x = _mm_add_epi32(x, carry);
        _mm_storeu_si128((__m128i *)(d + i), x);
        carry = _mm_shuffle_epi32(x, 0xff);
        __m128i y = _mm_add_epi32(_mm_loadu_si128((const __m128i *)(t + i)), one);
        _mm_storeu_si128((__m128i *)(t + i), y);
        s64 = _mm_add_epi64(s64, _mm_add_epi64(_mm_unpacklo_epi32(y, zero),
                                               _mm_unpackhi_epi32(y, zero)));
        __m128i yf = _mm_xor_si128(y, flip), gt = _mm_cmpgt_epi32(yf, m);
        m = _mm_or_si128(_mm_and_si128(gt, yf), _mm_andnot_si128(gt, m));
    }
    uint64_t g2[2], s2[2];
    uint32_t m4[4];
    _mm_storeu_si128((__m128i *)g2, g64);
    _mm_storeu_si128((__m128i *)s2, s64);
    _mm_storeu_si128((__m128i *)m4, _mm_xor_si128(m, flip));
    total = g2[0] + g2[1];
    s = s2[0] + s2[1];
    for (int k = 0; k < 4; k++)
        mx = m4[k] > mx ? m4[k] : mx;
#else
    uint32_t acc = base - 1; /* base >= 1 or the wrap is intended: -1 + 1 = 0 */
    for (uint32_t i = 0; i < KQ_BLOCK_SIZE; i++) {
        total += d[i];
        acc += d[i] + 1;
        d[i] = acc;
        t[i] += 1;
        s += t[i];
        mx = t[i] > mx ? t[i] : mx;
    }
#endif
    *sum = s;
    *max_tf = mx;
    return total;
}

static int decode_block(kq_postings_cursor *c, uint32_t b)
{
    const struct kq_skip *sk = &c->skips[b];
    uint64_t off = sk->doc_off;
    uint64_t end = b + 1 < c->n_blocks ? c->skips[b + 1].doc_off : blocks_len(c);
    const uint8_t *p = c->blocks + off, *pe = c->blocks + end;
    uint32_t n = block_count(c, b);
    uint64_t base = b ? (uint64_t)c->skips[b - 1].last_doc + 1 : 0;
    uint64_t sum = 0;
    uint32_t max_tf = 0;
    c->decoded = UINT32_MAX;
    if (b < c->n_full) {
        if (pe - p < 2)
            return KQ_ECORRUPT;
        uint32_t wd = p[0];
        if (wd > 32 || (uint64_t)(pe - p) < 2 + kq__bitpack_size(wd))
            return KQ_ECORRUPT;
        uint32_t wt = p[1 + kq__bitpack_size(wd)];
        if (wt > 32 || (uint64_t)(pe - p) != 2 + kq__bitpack_size(wd) + kq__bitpack_size(wt))
            return KQ_ECORRUPT;
        kq__bitpack_unpack(p + 1, wd, c->docs_buf);
        kq__bitpack_unpack(p + 2 + kq__bitpack_size(wd), wt, c->tfs_buf);
        if (wt == 32) { /* tf - 1 = 2^32 - 1 would wrap tf to 0 (P5) */
            for (uint32_t i = 0; i < KQ_BLOCK_SIZE; i++)
                if (c->tfs_buf[i] == UINT32_MAX)
                    return KQ_ECORRUPT;
        }
        /* P3: the last doc, base + sum(gap + 1) - 1, must fit (the 32-bit prefix sum may
         * have wrapped, and is then thrown away) */
        uint64_t total = finish_full_block(c->docs_buf, c->tfs_buf, (uint32_t)base, &sum, &max_tf);
        if (base + total + KQ_BLOCK_SIZE - 1 > DOC_MAX)
            return KQ_ECORRUPT;
    } else {
        for (uint32_t i = 0; i < n; i++) {
            uint64_t v, x;
            size_t k = kq_varint_get(p, pe, &v);
            if (!k)
                return KQ_ECORRUPT;
            p += k;
            base += v >> 1;
            if (base > DOC_MAX)
                return KQ_ECORRUPT;
            c->docs_buf[i] = (uint32_t)base;
            base++;
            if (v & 1) {
                x = 1;
            } else {
                if (!(k = kq_varint_get(p, pe, &x)) || x > UINT32_MAX - 2)
                    return KQ_ECORRUPT;
                p += k;
                x += 2;
            }
            c->tfs_buf[i] = (uint32_t)x;
            sum += x;
            max_tf = (uint32_t)x > max_tf ? (uint32_t)x : max_tf;
        }
        if (p != pe)
            return KQ_ECORRUPT;
    }
    if (c->n_blocks > 1 && c->docs_buf[n - 1] != sk->last_doc)
        return KQ_ECORRUPT;
    if (max_tf > sk->impacts[sk->n_impacts - 1].tf)
        return KQ_ECORRUPT;
    if (b == c->sum_blocks) {
        c->tf_sum += sum;
        c->sum_blocks++;
    }
    c->decoded = b;
    c->pos_doc_index = UINT32_MAX;
    return 0;
}

/* Parses the skip table of a term with two blocks or more (P10-P13). */
static int parse_skips(kq_postings_cursor *c, int has_pos, uint64_t pos_len)
{
    const uint8_t *p = c->docs, *end = c->docs_end;
    uint64_t last = 0, off = 0, poff = 0;
    for (uint32_t b = 0; b < c->n_blocks; b++) {
        struct kq_skip *sk = &c->skips[b];
        uint64_t v;
        size_t k = kq_varint_get(p, end, &v);
        if (!k)
            return KQ_ECORRUPT;
        p += k;
        last = b ? last + 1 + v : v;
        if (v > DOC_MAX || last > DOC_MAX)
            return KQ_ECORRUPT;
        if (b) {
            if (!(k = kq_varint_get(p, end, &v)) || v < 2 || v > BLOCK_MAX_BYTES ||
                (v - 2) % 16)
                return KQ_ECORRUPT;
            p += k;
            off += v;
            if (has_pos) {
                if (!(k = kq_varint_get(p, end, &v)) || v < KQ_BLOCK_SIZE || v > pos_len)
                    return KQ_ECORRUPT;
                p += k;
                poff += v;
                if (poff > pos_len)
                    return KQ_ECORRUPT;
            }
        }
        sk->last_doc = (uint32_t)last;
        sk->doc_off = off;
        sk->pos_off = poff;
        if (!(k = kq__impacts_get(p, end, sk->impacts, &sk->n_impacts)))
            return KQ_ECORRUPT;
        p += k;
    }
    c->blocks = p;
    if (off > blocks_len(c))
        return KQ_ECORRUPT;
    if (has_pos && pos_len - poff < block_count(c, c->n_blocks - 1))
        return KQ_ECORRUPT;
    return 0;
}

int kq_postings_open(kq_postings_cursor *c, const uint8_t *docs, size_t docs_size,
                     const uint8_t *pos, size_t pos_size, const struct kq_term_meta *meta,
                     int pos_tables, kq_error *err)
{
    memset(c, 0, sizeof *c);
    c->decoded = c->pos_doc_index = UINT32_MAX;
    c->pos_tables = pos_tables;
    if (meta->df == 0 || meta->df > DOC_MAX || meta->cf < meta->df ||
        meta->n_impacts == 0 || meta->n_impacts > KQ_IMPACTS_MAX)
        return kq__error(err, KQ_ECORRUPT, -1, "postings: bad term meta (df %u)", meta->df);
    if (meta->doc_len == 0 || meta->doc_off > docs_size || meta->doc_len > docs_size - meta->doc_off)
        return kq__error(err, KQ_ECORRUPT, (int64_t)meta->doc_off,
                         "postings: range out of the section");
    int has_pos = meta->pos_len > 0;
    if (has_pos && (!pos || meta->pos_off > pos_size || meta->pos_len > pos_size - meta->pos_off ||
                    meta->pos_len < meta->cf))
        return kq__error(err, KQ_ECORRUPT, (int64_t)meta->pos_off,
                         "postings: positions range out of the section");
    c->docs = docs + meta->doc_off;
    c->docs_end = c->docs + meta->doc_len;
    if (has_pos) {
        c->pos = pos + meta->pos_off;
        c->pos_end = c->pos + meta->pos_len;
    }
    c->df = meta->df;
    c->cf = meta->cf;
    c->n_full = meta->df / KQ_BLOCK_SIZE;
    c->n_blocks = (meta->df + KQ_BLOCK_SIZE - 1) / KQ_BLOCK_SIZE;
    if (c->n_blocks == 1) {
        c->skips = &c->skip1;
        c->blocks = c->docs;
        c->skip1.n_impacts = meta->n_impacts;
        memcpy(c->skip1.impacts, meta->impacts, meta->n_impacts * sizeof *meta->impacts);
        if (decode_block(c, 0)) {
            c->skips = NULL;
            return kq__error(err, KQ_ECORRUPT, (int64_t)meta->doc_off,
                             "postings: malformed block");
        }
        c->skip1.last_doc = c->docs_buf[block_count(c, 0) - 1];
    } else {
        /* a skip entry takes >= 4 bytes and a block >= 2: bound the allocation (P13) */
        if ((uint64_t)c->n_blocks * 6 > meta->doc_len)
            return kq__error(err, KQ_ECORRUPT, (int64_t)meta->doc_off,
                             "postings: df %u too large for %llu bytes", meta->df,
                             (unsigned long long)meta->doc_len);
        c->skips = kq__malloc(c->n_blocks * sizeof *c->skips);
        if (!c->skips)
            return kq__enomem(err);
        if (parse_skips(c, has_pos, meta->pos_len)) {
            kq__free(c->skips);
            c->skips = NULL;
            return kq__error(err, KQ_ECORRUPT, (int64_t)meta->doc_off,
                             "postings: malformed skip table");
        }
    }
    c->block = 0;
    c->doc = 0;
    return 0;
}

void kq_postings_close(kq_postings_cursor *c)
{
    if (!c)
        return;
    if (c->skips && c->skips != &c->skip1)
        kq__free(c->skips);
    c->skips = NULL;
    c->n_blocks = 0;
    c->block = 0;
    c->n_in = c->i = 0;
    c->doc = KQ_DOC_END;
    c->started = 1;
}

static uint32_t finish(kq_postings_cursor *c)
{
    c->block = c->n_blocks;
    c->n_in = c->i = 0;
    c->doc = KQ_DOC_END;
    if (c->sum_blocks == c->n_blocks && c->tf_sum != c->cf)
        return corrupt(c); /* P7 */
    return KQ_DOC_END;
}

static uint32_t enter_block(kq_postings_cursor *c, uint32_t b)
{
    if (b >= c->n_blocks)
        return finish(c);
    if (c->decoded != b && decode_block(c, b))
        return corrupt(c);
    c->block = b;
    c->n_in = block_count(c, b);
    c->i = 0;
    return c->doc = c->docs_buf[0];
}

uint32_t kq__postings_next_block(kq_postings_cursor *c)
{
    if (c->i + 1 < c->n_in) {
        c->i++;
        return c->doc = c->docs_buf[c->i];
    }
    if (c->doc == KQ_DOC_END || c->err || !c->skips)
        return KQ_DOC_END;
    if (!c->started) {
        c->started = 1;
        return enter_block(c, 0);
    }
    return enter_block(c, c->block + 1);
}

uint32_t kq_postings_seek(kq_postings_cursor *c, uint32_t target)
{
    if (c->doc == KQ_DOC_END || c->err || !c->skips)
        return KQ_DOC_END;
    uint32_t b;
    if (c->started) {
        if (c->doc >= target)
            return c->doc;
        b = c->block;
        if (c->skips[b].last_doc >= target) {
            /* inside the current block: the answer is after i */
            uint32_t i = c->i + 1;
            while (c->docs_buf[i] < target)
                i++;
            c->i = i;
            return c->doc = c->docs_buf[i];
        }
        b++;
    } else {
        c->started = 1;
        b = 0;
    }
    /* gallop then binary search for the first block with last_doc >= target */
    uint32_t lo = b, step = 1, hi = b;
    while (hi < c->n_blocks && c->skips[hi].last_doc < target) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    if (hi > c->n_blocks)
        hi = c->n_blocks;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->skips[mid].last_doc < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (enter_block(c, lo) == KQ_DOC_END)
        return KQ_DOC_END;
    uint32_t i = 0;
    while (c->docs_buf[i] < target)
        i++; /* stops: last_doc >= target was checked when decoding (P6) */
    c->i = i;
    return c->doc = c->docs_buf[i];
}

uint32_t kq_postings_tf(const kq_postings_cursor *c)
{
    if (c->doc == KQ_DOC_END || !c->started || c->n_in == 0)
        return 0;
    return c->tfs_buf[c->i];
}

/* Many bytes at a time while more than their terminators (bytes below 0x80) are left: a
 * phrase of common words skips over most of their positions. */
const uint8_t *kq__skip_varints(const uint8_t *p, const uint8_t *end, uint64_t n)
{
#ifdef __SSE2__
    /* 64 bytes a step: their continuation bits (0 or 1 a byte) summed by _mm_sad_epu8; not
     * for a few varints, that the first 64 bytes hold */
    const __m128i one = _mm_set1_epi8(1), zero = _mm_setzero_si128();
    while (n > 16 && end - p >= 64) {
        __m128i c = _mm_and_si128(_mm_srli_epi16(_mm_loadu_si128((const __m128i *)p), 7), one);
        for (int k = 16; k < 64; k += 16)
            c = _mm_add_epi8(c, _mm_and_si128(
                                    _mm_srli_epi16(_mm_loadu_si128((const __m128i *)(p + k)), 7),
                                    one));
        __m128i s = _mm_sad_epu8(c, zero);
        uint64_t ends = 64 - (uint64_t)(_mm_cvtsi128_si32(s) + _mm_extract_epi16(s, 4));
        if (ends >= n)
            break;
        n -= ends;
        p += 64;
    }
#endif
    const uint64_t high = 0x8080808080808080ull;
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t m = ~w & high; /* bit 7 of each terminator (little endian: first byte low) */
        uint64_t ends = (m >> 7) * 0x0101010101010101ull >> 56; /* 0..8 */
        if (ends >= n) {
            for (; n > 1; n--)
                m &= m - 1; /* the n-th terminator is then the lowest bit left */
            return p + (__builtin_ctzll(m) >> 3) + 1;
        }
        n -= ends;
        p += 8;
    }
    for (; p < end; p++)
        if (!(*p & 0x80) && --n == 0)
            return p + 1;
    return NULL;
}

/* The offsets table of the current block's positions, which start at `start`, or NULL when
 * it has none (P17). `*end` is where the block's positions end: the table's start when
 * there is one. */
static const uint8_t *pos_table(const kq_postings_cursor *c, const uint8_t *start,
                                const uint8_t **end)
{
    uint32_t b = c->block;
    *end = b + 1 < c->n_blocks ? c->pos + c->skips[b + 1].pos_off : c->pos_end;
    uint64_t n = c->n_in, len = (uint64_t)(*end - start);
    if (!c->pos_tables || n < 2 || len < (POS_TABLE_MIN + 4) * (n - 1) || len >= POS_BLOCK_MAX)
        return NULL;
    return *end -= 4 * (n - 1);
}

/* Where the current posting's positions start (*end: where its block's end), from the
 * block's offsets table or by skipping those of the block's earlier documents; remembered,
 * so that reading on from this document skips nothing again. NULL when the stream is
 * malformed (the cursor is marked). */
static const uint8_t *doc_positions(kq_postings_cursor *c, const uint8_t **end)
{
    const uint8_t *p, *start = c->pos + c->skips[c->block].pos_off;
    const uint8_t *tab = pos_table(c, start, end);
    if (tab && c->i > 0) {
        uint32_t off = kq_get_le32(tab + 4 * (size_t)(c->i - 1));
        if (off >= (uint64_t)(*end - start)) {
            corrupt(c);
            return NULL;
        }
        c->pos_doc_index = c->i;
        return c->pos_cur = start + off;
    }
    uint32_t k;
    if (c->pos_doc_index != UINT32_MAX && c->pos_doc_index <= c->i) {
        p = c->pos_cur;
        k = c->pos_doc_index;
    } else {
        p = start;
        k = 0;
    }
    /* skip the positions of the block's earlier docs: count varint terminators */
    uint64_t left = 0;
    for (; k < c->i; k++)
        left += c->tfs_buf[k];
    if (left && !(p = kq__skip_varints(p, *end, left))) {
        corrupt(c);
        return NULL;
    }
    c->pos_cur = p;
    c->pos_doc_index = c->i;
    return p;
}

/* Decodes the next position delta at `p`; `*pos` is the previous position when `read`.
 * Returns the bytes read, or 0 when malformed (P15: positions strictly increase). */
static inline size_t next_position(const uint8_t *p, const uint8_t *end, int read, uint32_t *pos)
{
    uint64_t v;
    size_t n = kq_varint_get(p, end, &v);
    if (!n || (read && v == 0) || v > UINT32_MAX)
        return 0;
    uint64_t cur = read ? *pos + v : v;
    if (cur > UINT32_MAX)
        return 0;
    *pos = (uint32_t)cur;
    return n;
}

static int has_positions(const kq_postings_cursor *c)
{
    return c->pos && !c->err && c->started && c->doc != KQ_DOC_END && c->n_in != 0;
}

/* Checks that the current posting's positions, read up to `p`, end where the format says
 * (P16: the block's last ends the block's positions; P17: the next posting's table entry,
 * when there is one), and remembers where the next posting's start. */
static int positions_end(kq_postings_cursor *c, const uint8_t *p, const uint8_t *end)
{
    if (c->i + 1 == c->n_in && p != end)
        return -1;
    if (c->i + 1 < c->n_in && c->pos_tables) {
        const uint8_t *start = c->pos + c->skips[c->block].pos_off;
        const uint8_t *tab = pos_table(c, start, &end);
        if (tab && kq_get_le32(tab + 4 * (size_t)c->i) != (uint64_t)(p - start))
            return -1;
    }
    c->pos_cur = p;
    c->pos_doc_index = c->i + 1;
    return 0;
}

int kq_postings_positions(kq_postings_cursor *c, uint32_t *out)
{
    if (!has_positions(c))
        return 0;
    const uint8_t *end, *p = doc_positions(c, &end);
    uint32_t tf = c->tfs_buf[c->i];
    if (!p || tf > INT_MAX)
        goto bad;
    uint32_t cur = 0;
    for (uint32_t j = 0; j < tf; j++) {
        size_t n = next_position(p, end, j > 0, &cur);
        if (!n)
            goto bad;
        p += n;
        out[j] = cur;
    }
    if (positions_end(c, p, end))
        goto bad;
    return (int)tf;
bad:
    corrupt(c);
    return KQ_ECORRUPT;
}

int kq_postings_positions_encoded(kq_postings_cursor *c, const uint8_t **enc, size_t *len)
{
    if (!has_positions(c))
        return 0;
    const uint8_t *end, *p = doc_positions(c, &end), *q = NULL;
    uint32_t tf = c->tfs_buf[c->i];
    if (!p || tf > INT_MAX || !(q = kq__skip_varints(p, end, tf)) || positions_end(c, q, end)) {
        corrupt(c);
        return KQ_ECORRUPT;
    }
    *enc = p;
    *len = (size_t)(q - p);
    return (int)tf;
}

int kq_postings_pos_begin(kq_postings_cursor *c, struct kq_pos_reader *r)
{
    memset(r, 0, sizeof *r);
    if (!has_positions(c))
        return 0;
    r->c = c;
    r->p = doc_positions(c, &r->end);
    r->left = c->tfs_buf[c->i];
    if (!r->p || r->left > INT_MAX) {
        corrupt(c);
        return KQ_ECORRUPT;
    }
    return (int)r->left;
}

int kq_pos_next(struct kq_pos_reader *r)
{
    if (!r->left)
        return 0;
    size_t n = next_position(r->p, r->end, r->read, &r->pos);
    if (!n) {
        corrupt(r->c);
        return KQ_ECORRUPT;
    }
    r->p += n;
    r->read = 1;
    r->left--;
    return 1;
}

#ifdef __SSE2__
/* For sixteen one-byte deltas `v` (1..127 each): the index of the first whose running sum
 * reaches `d` (1 <= d <= the sum of all sixteen, so that one exists; 16 otherwise), with
 * that sum in *run. The sums run in 16-bit lanes: three shifted adds a half, then the first
 * half's total added to the second. */
static uint32_t first_reaching(__m128i v, uint32_t d, uint32_t *run)
{
    const __m128i zero = _mm_setzero_si128();
    __m128i a = _mm_unpacklo_epi8(v, zero), b = _mm_unpackhi_epi8(v, zero);
    a = _mm_add_epi16(a, _mm_slli_si128(a, 2));
    a = _mm_add_epi16(a, _mm_slli_si128(a, 4));
    a = _mm_add_epi16(a, _mm_slli_si128(a, 8));
    b = _mm_add_epi16(b, _mm_slli_si128(b, 2));
    b = _mm_add_epi16(b, _mm_slli_si128(b, 4));
    b = _mm_add_epi16(b, _mm_slli_si128(b, 8));
    __m128i last = _mm_shufflehi_epi16(a, 0xff); /* lanes 4..7: a's lane 7 */
    b = _mm_add_epi16(b, _mm_unpackhi_epi64(last, last));
    __m128i dd = _mm_set1_epi16((short)d);
    uint32_t below = (uint32_t)_mm_movemask_epi8(_mm_cmplt_epi16(a, dd)) |
                     (uint32_t)_mm_movemask_epi8(_mm_cmplt_epi16(b, dd)) << 16;
    if (below == UINT32_MAX)
        return 16;
    uint32_t i = (uint32_t)__builtin_ctz(~below) >> 1;
    uint16_t sums[16];
    _mm_storeu_si128((__m128i *)sums, a);
    _mm_storeu_si128((__m128i *)(sums + 8), b);
    *run = sums[i];
    return i;
}
#endif

int kq_pos_seek(struct kq_pos_reader *r, uint32_t want)
{
    if (r->read && r->pos >= want)
        return 1;
    const uint8_t *p = r->p;
    uint32_t left = r->left, pos = r->pos;
    int read = r->read, found = 0;
    while (left && !found) {
#ifdef __SSE2__
        /* sixteen bytes at once while they hold whole deltas of one or two bytes (none 0)
         * that end below `want`: the positions of a common word before the one wanted.
         * A delta of two bytes b0 b1 is (b0 & 0x7f) + 128 * b1: the low seven bits of every
         * byte, plus 127 times each byte that follows a continuation byte. */
        const __m128i zero = _mm_setzero_si128(), low7 = _mm_set1_epi8(0x7f);
        while (read && left >= 8 && r->end - p >= 16 && pos < UINT32_MAX - (1u << 19)) {
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            __m128i cont = _mm_cmplt_epi8(v, zero); /* bytes >= 0x80 */
            __m128i after = _mm_slli_si128(cont, 1);
            unsigned cm = (unsigned)_mm_movemask_epi8(cont);
            if ((cm & 0x8000) || _mm_movemask_epi8(_mm_and_si128(cont, after)) ||
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, zero)))
                break; /* a delta runs on past the sixteen, has three bytes or may be 0 */
            __m128i lo = _mm_sad_epu8(_mm_and_si128(v, low7), zero);
            __m128i hi = _mm_sad_epu8(_mm_and_si128(v, after), zero);
            uint32_t sum = (uint32_t)(_mm_cvtsi128_si32(lo) + _mm_extract_epi16(lo, 4)) +
                           127u * (uint32_t)(_mm_cvtsi128_si32(hi) + _mm_extract_epi16(hi, 4));
            __m128i nc = _mm_sad_epu8(_mm_and_si128(cont, _mm_set1_epi8(1)), zero);
            uint32_t n = 16 - (uint32_t)(_mm_cvtsi128_si32(nc) + _mm_extract_epi16(nc, 4));
            if (pos + sum >= want && cm == 0) {
                /* sixteen one-byte deltas, the wanted position among them: their running
                 * sums in 16-bit lanes, the first one reaching want - pos (<= sum <= 2032) */
                uint32_t run, i = first_reaching(v, want - pos, &run);
                if (i >= 16 || i >= left)
                    break;
                pos += run;
                p += i + 1;
                left -= i + 1;
                found = 1;
                break;
            }
            if (n > left || pos + sum >= want)
                break;
            pos += sum;
            p += 16;
            left -= n;
        }
#endif
        /* then one at a time, at most sixteen before trying sixteen at once again */
        for (int k = 0; k < 16 && left && !found; k++) {
            size_t n;
            if (read && p < r->end && *p - 1u < 0x7fu && pos < UINT32_MAX - 0x7fu) {
                pos += *p; /* a delta of one byte (1..127), the common case */
                n = 1;
            } else if (!(n = next_position(p, r->end, read, &pos))) {
                corrupt(r->c);
                return KQ_ECORRUPT;
            }
            p += n;
            read = 1;
            left--;
            found = pos >= want;
        }
    }
    r->p = p;
    r->left = left;
    r->pos = pos;
    r->read = read;
    return found;
}

const struct kq_skip *kq_postings_shallow(kq_postings_cursor *c, uint32_t target)
{
    if (c->err || !c->skips)
        return NULL;
    uint32_t b = c->shallow;
    if (c->started && c->block > b && c->block < c->n_blocks)
        b = c->block;
    while (b < c->n_blocks && c->skips[b].last_doc < target)
        b++;
    if (b >= c->n_blocks)
        return NULL;
    c->shallow = b;
    return &c->skips[b];
}
