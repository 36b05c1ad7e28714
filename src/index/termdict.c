/* index/termdict.c: the term dictionary: front-coded blocks of KQ_TERMDICT_BLOCK keys (TDIC)
 * and a sparse index of each block's offset and first key (TIDX).
 *
 * A block's first key lives only in the sparse index; the block holds its meta with
 * absolute offsets, then the other entries as (shared prefix, suffix) with offsets coded
 * as signed distances from the previous term's end (0, one byte, when postings are laid
 * out contiguously). Lookup binary-searches the index and scans one block: O(log n).
 * Bytes: FORMAT-postings.md; the rule numbers T1... below refer to it.
 *
 * Invariant of the reader: the sparse index is validated whole at open; every block entry
 * is validated as it is decoded (lengths, key order, meta), never reading past the block.
 */
#include "index/termdict.h"

#include <string.h>

#include "util/alloc.h"
#include "util/bytes.h"
#include "util/error.h"

#define IDX_HEAD 8 /* u32 block count, u32 first-keys bytes */
#define IDX_ENTRY 12
#define META_MAX_BYTES (6 * KQ_VARINT_MAX + 1 + 2 * KQ_VARINT_MAX * KQ_IMPACTS_MAX)

static uint64_t zigzag(uint64_t d)
{
    return (d << 1) ^ (uint64_t)-(int64_t)(d >> 63);
}

static uint64_t unzigzag(uint64_t z)
{
    return (z >> 1) ^ (uint64_t)-(int64_t)(z & 1);
}

/* ---- writer ---- */

struct kq_termdict_writer {
    uint64_t n_terms;
    uint64_t bytes; /* bytes appended to `blocks` so far */
    uint8_t prev[KQ_KEY_MAX];
    size_t prev_len;
    struct kq_term_meta prev_meta;
    kq_buf entry; /* scratch: one entry, appended whole */
    kq_buf idx;   /* (u64 block offset, u32 key offset) per block */
    kq_buf keys;  /* the blocks' first keys */
};

int kq_termdict_writer_new(kq_termdict_writer **out)
{
    *out = kq__calloc(1, sizeof **out);
    return *out ? 0 : KQ_ENOMEM;
}

void kq_termdict_writer_free(kq_termdict_writer *w)
{
    if (!w)
        return;
    kq_buf_release(&w->entry);
    kq_buf_release(&w->idx);
    kq_buf_release(&w->keys);
    kq__free(w);
}

static int meta_valid(const struct kq_term_meta *m)
{
    if (m->df == 0 || m->df == UINT32_MAX || m->cf < m->df || m->n_impacts == 0 ||
        m->n_impacts > KQ_IMPACTS_MAX)
        return 0;
    for (uint32_t i = 0; i < m->n_impacts; i++) {
        if (m->impacts[i].tf == 0)
            return 0;
        if (i && (m->impacts[i].tf <= m->impacts[i - 1].tf ||
                  m->impacts[i].dl <= m->impacts[i - 1].dl))
            return 0;
    }
    return 1;
}

int kq_termdict_writer_add(kq_termdict_writer *w, kq_buf *blocks, const uint8_t *key,
                           size_t len, const struct kq_term_meta *meta)
{
    if (len == 0 || len > KQ_KEY_MAX || !meta_valid(meta))
        return KQ_EINVAL;
    if (w->n_terms && kq__key_cmp(w->prev, w->prev_len, key, len) >= 0)
        return KQ_EINVAL;
    int first = w->n_terms % KQ_TERMDICT_BLOCK == 0;
    kq_buf_reset(&w->entry);
    if (kq_buf_reserve(&w->entry, (size_t)2 * KQ_VARINT_MAX + len + META_MAX_BYTES))
        return KQ_ENOMEM;
    if (first && (kq_buf_reserve(&w->idx, IDX_ENTRY) || kq_buf_reserve(&w->keys, len)))
        return KQ_ENOMEM;
    uint8_t *p = w->entry.p;
    size_t k = 0;
    const struct kq_term_meta *pm = &w->prev_meta;
    if (!first) {
        size_t shared = 0;
        while (shared < len && shared < w->prev_len && key[shared] == w->prev[shared])
            shared++;
        k += kq_varint_put(p + k, shared);
        k += kq_varint_put(p + k, len - shared);
        memcpy(p + k, key + shared, len - shared);
        k += len - shared;
    }
    k += kq_varint_put(p + k, meta->df - 1);
    k += kq_varint_put(p + k, meta->cf - meta->df);
    k += kq_varint_put(p + k, first ? meta->doc_off
                                    : zigzag(meta->doc_off - (pm->doc_off + pm->doc_len)));
    k += kq_varint_put(p + k, meta->doc_len);
    k += kq_varint_put(p + k, first ? meta->pos_off
                                    : zigzag(meta->pos_off - (pm->pos_off + pm->pos_len)));
    k += kq_varint_put(p + k, meta->pos_len);
    k += kq__impacts_put(p + k, meta->impacts, meta->n_impacts);
    if (kq_buf_append(blocks, p, k))
        return KQ_ENOMEM;
    if (first) {
        uint8_t e[IDX_ENTRY];
        kq_put_le64(e, w->bytes);
        kq_put_le32(e + 8, (uint32_t)w->keys.len);
        kq_buf_append(&w->idx, e, sizeof e); /* reserved above: cannot fail */
        kq_buf_append(&w->keys, key, len);
    }
    w->bytes += k;
    memcpy(w->prev, key, len);
    w->prev_len = len;
    w->prev_meta = *meta;
    w->n_terms++;
    return 0;
}

int kq_termdict_writer_finish(kq_termdict_writer *w, kq_buf *blocks, kq_buf *index,
                              uint64_t *n_terms)
{
    (void)blocks; /* entries are appended whole as they come: nothing is pending */
    uint64_t n_blocks = w->idx.len / IDX_ENTRY;
    if (n_blocks > UINT32_MAX || w->keys.len > UINT32_MAX)
        return KQ_EINVAL;
    if (kq_buf_reserve(index, IDX_HEAD + w->idx.len + w->keys.len))
        return KQ_ENOMEM;
    kq_buf_put_u32(index, (uint32_t)n_blocks);
    kq_buf_put_u32(index, (uint32_t)w->keys.len);
    kq_buf_append(index, w->idx.p, w->idx.len);
    kq_buf_append(index, w->keys.p, w->keys.len);
    *n_terms = w->n_terms;
    return 0;
}

/* ---- reader ---- */

static uint64_t block_off(const kq_termdict *td, uint32_t b)
{
    return kq_get_le64(td->index + IDX_HEAD + (size_t)b * IDX_ENTRY);
}

static uint64_t block_end(const kq_termdict *td, uint32_t b)
{
    return b + 1 < td->n_blocks ? block_off(td, b + 1) : td->blocks_size;
}

static const uint8_t *first_key(const kq_termdict *td, uint32_t b, size_t *len)
{
    const uint8_t *keys = td->index + IDX_HEAD + (size_t)td->n_blocks * IDX_ENTRY;
    size_t area = td->index_size - IDX_HEAD - (size_t)td->n_blocks * IDX_ENTRY;
    uint32_t off = kq_get_le32(td->index + IDX_HEAD + (size_t)b * IDX_ENTRY + 8);
    uint32_t end = b + 1 < td->n_blocks
                       ? kq_get_le32(td->index + IDX_HEAD + (size_t)(b + 1) * IDX_ENTRY + 8)
                       : (uint32_t)area;
    *len = end - off;
    return keys + off;
}

static uint32_t block_terms(const kq_termdict *td, uint32_t b)
{
    if (b + 1 < td->n_blocks)
        return KQ_TERMDICT_BLOCK;
    return (uint32_t)(td->n_terms - (uint64_t)(td->n_blocks - 1) * KQ_TERMDICT_BLOCK);
}

int kq_termdict_open(kq_termdict *td, const uint8_t *blocks, size_t blocks_size,
                     const uint8_t *index, size_t index_size, uint64_t n_terms, kq_error *err)
{
    memset(td, 0, sizeof *td);
    uint64_t n_blocks = (n_terms + KQ_TERMDICT_BLOCK - 1) / KQ_TERMDICT_BLOCK;
    if (n_terms > (uint64_t)UINT32_MAX * KQ_TERMDICT_BLOCK)
        return kq__error(err, KQ_ECORRUPT, -1, "termdict: too many terms");
    if (index_size < IDX_HEAD || kq_get_le32(index) != n_blocks ||
        (index_size - IDX_HEAD) / IDX_ENTRY < n_blocks)
        return kq__error(err, KQ_ECORRUPT, 0, "termdict: sparse index size disagrees with %llu terms",
                         (unsigned long long)n_terms);
    size_t area = index_size - IDX_HEAD - (size_t)n_blocks * IDX_ENTRY;
    if (area > UINT32_MAX || kq_get_le32(index + 4) != area ||
        (n_blocks == 0 && (area || blocks_size)))
        return kq__error(err, KQ_ECORRUPT, 0, "termdict: bad sparse index size");
    td->blocks = blocks;
    td->blocks_size = blocks_size;
    td->index = index;
    td->index_size = index_size;
    td->n_terms = n_terms;
    td->n_blocks = (uint32_t)n_blocks;
    for (uint32_t b = 0; b < td->n_blocks; b++) {
        size_t at = IDX_HEAD + (size_t)b * IDX_ENTRY;
        uint64_t off = block_off(td, b);
        uint32_t koff = kq_get_le32(index + at + 8);
        /* T1: offsets start at 0, strictly increase, stay inside the sections */
        if ((b == 0 && (off != 0 || koff != 0)) || off >= blocks_size || koff >= area ||
            (b && (off <= block_off(td, b - 1) ||
                   koff <= kq_get_le32(index + at + 8 - IDX_ENTRY))))
            goto bad;
    }
    for (uint32_t b = 0; b < td->n_blocks; b++) { /* offsets are sound: compare the keys */
        if (b) {
            size_t l0, l1;
            const uint8_t *k0 = first_key(td, b - 1, &l0);
            const uint8_t *k1 = first_key(td, b, &l1);
            if (l0 > KQ_KEY_MAX || kq__key_cmp(k0, l0, k1, l1) >= 0)
                goto bad; /* T2 */
        }
    }
    if (td->n_blocks) {
        size_t l;
        first_key(td, td->n_blocks - 1, &l);
        if (l == 0 || l > KQ_KEY_MAX)
            goto bad;
    }
    return 0;
bad:
    memset(td, 0, sizeof *td);
    return kq__error(err, KQ_ECORRUPT, 0, "termdict: malformed sparse index");
}

static int iter_corrupt(kq_termdict_iter *it, kq_error *err)
{
    it->err = KQ_ECORRUPT;
    it->at_end = 1;
    it->pending = 0;
    return kq__error(err, KQ_ECORRUPT,
                     it->td && it->p ? (int64_t)(it->p - it->td->blocks) : -1,
                     "termdict: malformed block %u", it->block);
}

/* Decodes one meta into it->meta, absolute or relative to the previous one (T4-T6). */
static int get_meta(kq_termdict_iter *it, int first)
{
    const uint8_t *p = it->p, *end = it->end;
    uint64_t v[6];
    for (int i = 0; i < 6; i++) {
        size_t k = kq_varint_get(p, end, &v[i]);
        if (!k)
            return -1;
        p += k;
    }
    if (v[0] >= UINT32_MAX - 1 || v[1] > UINT64_MAX - (v[0] + 1))
        return -1;
    struct kq_term_meta *m = &it->meta;
    uint64_t doc_end = m->doc_off + m->doc_len, pos_end = m->pos_off + m->pos_len;
    m->df = (uint32_t)v[0] + 1;
    m->cf = v[1] + m->df;
    m->doc_off = first ? v[2] : doc_end + unzigzag(v[2]);
    m->doc_len = v[3];
    m->pos_off = first ? v[4] : pos_end + unzigzag(v[4]);
    m->pos_len = v[5];
    size_t k = kq__impacts_get(p, end, m->impacts, &m->n_impacts);
    if (!k)
        return -1;
    it->p = p + k;
    return 0;
}

/* Past `n` varints from p, or NULL when they run past `end` (a meta's few short ones:
 * kq__skip_varints is made for long runs). */
static inline const uint8_t *skip_varints(const uint8_t *p, const uint8_t *end, uint64_t n)
{
    for (; n && p < end; p++)
        n -= !(*p & 0x80);
    return n ? NULL : p;
}

/* Moves past one meta, keeping only the offsets the next entry's are relative to: how a
 * lookup passes the entries before its key (the df, cf and impacts of those it returns
 * are decoded and checked by get_meta). */
static int skim_meta(kq_termdict_iter *it, int first)
{
    const uint8_t *p = skip_varints(it->p, it->end, 2), *end = it->end; /* df, cf */
    uint64_t v[4], cnt;
    size_t k;
    for (int i = 0; i < 4 && p; i++)
        p = (k = kq_varint_get(p, end, &v[i])) ? p + k : NULL;
    if (!p || !(k = kq_varint_get(p, end, &cnt)) || cnt >= KQ_IMPACTS_MAX ||
        !(p = skip_varints(p + k, end, 2 * (cnt + 1))))
        return -1;
    struct kq_term_meta *m = &it->meta;
    uint64_t doc_end = m->doc_off + m->doc_len, pos_end = m->pos_off + m->pos_len;
    m->doc_off = first ? v[0] : doc_end + unzigzag(v[0]);
    m->doc_len = v[1];
    m->pos_off = first ? v[2] : pos_end + unzigzag(v[2]);
    m->pos_len = v[3];
    it->p = p;
    return 0;
}

/* Decodes the next entry of the iteration into key/meta; with `below` set, an entry whose
 * key sorts before below[0, below_len) gets only its key and offsets (skim_meta). Returns
 * 1, 2 for such a skimmed entry, 0 at the end, or -1. */
static int advance(kq_termdict_iter *it, const uint8_t *below, size_t below_len)
{
    const kq_termdict *td = it->td;
    for (;;) {
        if (it->at_end || it->block >= td->n_blocks) {
            it->at_end = 1;
            return 0;
        }
        if (it->in_block == 0) {
            size_t len;
            const uint8_t *k = first_key(td, it->block, &len);
            if (it->have_key && kq__key_cmp(it->key, it->key_len, k, len) >= 0)
                return -1; /* T3: keys increase across blocks */
            memcpy(it->key, k, len);
            it->key_len = len;
            it->have_key = 1;
            it->p = td->blocks + block_off(td, it->block);
            it->end = td->blocks + block_end(td, it->block);
            it->in_block = 1;
            if (below && kq__key_cmp(it->key, it->key_len, below, below_len) < 0)
                return skim_meta(it, 1) ? -1 : 2;
            return get_meta(it, 1) ? -1 : 1;
        }
        if (it->in_block < block_terms(td, it->block)) {
            uint64_t shared, suffix;
            size_t n;
            if (!(n = kq_varint_get(it->p, it->end, &shared)))
                return -1;
            it->p += n;
            if (!(n = kq_varint_get(it->p, it->end, &suffix)))
                return -1;
            it->p += n;
            /* T3: shared <= previous length, 1..KQ_KEY_MAX bytes, strictly greater */
            if (shared > it->key_len || suffix == 0 || suffix > KQ_KEY_MAX - shared ||
                suffix > (uint64_t)(it->end - it->p))
                return -1;
            if (shared < it->key_len && it->p[0] <= it->key[shared])
                return -1;
            memcpy(it->key + shared, it->p, suffix);
            it->key_len = shared + suffix;
            it->p += suffix;
            it->in_block++;
            if (below && kq__key_cmp(it->key, it->key_len, below, below_len) < 0)
                return skim_meta(it, 0) ? -1 : 2;
            return get_meta(it, 0) ? -1 : 1;
        }
        if (it->p != it->end)
            return -1; /* T7: a block's entries fill it exactly */
        it->block++;
        it->in_block = 0;
    }
}

uint32_t kq_termdict_blocks(const kq_termdict *td)
{
    return td->n_blocks;
}

const uint8_t *kq_termdict_block_key(const kq_termdict *td, uint32_t b, size_t *len)
{
    return first_key(td, b, len);
}

int kq_termdict_seek(const kq_termdict *td, kq_termdict_iter *it, const uint8_t *key,
                     size_t len, kq_error *err)
{
    memset(it, 0, sizeof *it);
    it->td = td;
    if (td->n_blocks == 0) {
        it->at_end = 1;
        return 0;
    }
    /* the last block whose first key <= key (block 0 when key is before all) */
    uint32_t lo = 0, hi = td->n_blocks;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        size_t kl;
        const uint8_t *k = first_key(td, mid, &kl);
        if (kq__key_cmp(k, kl, key, len) <= 0)
            lo = mid;
        else
            hi = mid;
    }
    it->block = lo;
    if (len == 0)
        return 0;
    for (;;) {
        int r = advance(it, key, len);
        if (r < 0)
            return iter_corrupt(it, err);
        if (r == 0)
            return 0;
        if (r == 1) { /* the first key >= key */
            it->pending = 1;
            return 0;
        }
    }
}

int kq_termdict_next(kq_termdict_iter *it, const uint8_t **key, size_t *len,
                     struct kq_term_meta *meta, kq_error *err)
{
    if (it->err)
        return kq__error(err, it->err, -1, "termdict: iterator met corrupt data");
    if (!it->pending) {
        int r = advance(it, NULL, 0);
        if (r < 0)
            return iter_corrupt(it, err);
        if (r == 0)
            return 0;
    }
    it->pending = 0;
    *key = it->key;
    *len = it->key_len;
    if (meta)
        *meta = it->meta;
    return 1;
}

int kq_termdict_lookup(const kq_termdict *td, const uint8_t *key, size_t len,
                       struct kq_term_meta *meta, kq_error *err)
{
    kq_termdict_iter it;
    if (len == 0 || len > KQ_KEY_MAX)
        return KQ_ENOTFOUND;
    int r = kq_termdict_seek(td, &it, key, len, err);
    if (r)
        return r;
    if (!it.pending || kq__key_cmp(it.key, it.key_len, key, len) != 0)
        return KQ_ENOTFOUND;
    *meta = it.meta;
    return 0;
}
