/* index/reader.c: opening an index (manifest, segments, deletion files), term lookup,
 * prefix ranges, postings cursors across segments, the document table and the document
 * store.
 *
 * Everything read from a file is checked before use: section checksums and sizes at open,
 * each document-table entry and store block when read. A corrupt file yields KQ_ECORRUPT
 * naming the file and section, never a read outside the mapping. An index opened with
 * KQ_INDEX_VERIFY_ON_USE verifies at open the sections the open parses, and a segment's
 * TDIC, POST and POSN at their first use (seg_need: its `verified` mask is the other
 * mutable part of a kq_index); a store block through the zstd checksum of its frame.
 *
 * Deleted documents (a segment's deletion bitmap) are invisible through this API: cursors
 * step over them, kq_index_doc and kq_index_doc_text answer KQ_ENOTFOUND, and every
 * statistic (document count, field lengths, df and cf) counts live documents only, so that
 * BM25 over an index with deletions equals BM25 over a fresh build of its live documents.
 * A term's live df in a segment with deletions is counted from its postings (exactly) and
 * kept in a cache of the open index, guarded by a mutex.
 */
#include "index/reader.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "index/deletes.h"
#include "util/alloc.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/path.h"

size_t kq__make_key(uint8_t *key, int field, const char *term, size_t len)
{
    if (len + 1 > KQ_KEY_MAX)
        return 0;
    key[0] = (uint8_t)field;
    memcpy(key + 1, term, len);
    return len + 1;
}

static int corrupt(kq_error *err, const kq_seg *s, int sec, const char *what)
{
    return kq__error(err, KQ_ECORRUPT, -1, "segment '%s': %s in section '%s'", s->f.name, what,
                     kq__section_tag(sec));
}

static int seg_parse(kq_seg *s, kq_error *err)
{
    const kq_segfile *f = &s->f;
    /* META */
    if (f->sec[KQ_SEC_META].len != KQ_META_SIZE)
        return corrupt(err, s, KQ_SEC_META, "wrong size");
    const uint8_t *m = f->sec[KQ_SEC_META].p;
    s->n_docs = kq_get_le32(m);
    if (kq_get_le32(m + 4) != KQ_N_FIELDS || s->n_docs == UINT32_MAX)
        return corrupt(err, s, KQ_SEC_META, "bad field or document count");
    s->n_terms = kq_get_le64(m + 8);
    s->total_len[0] = kq_get_le64(m + 16);
    s->total_len[1] = kq_get_le64(m + 24);
    s->n_postings = kq_get_le64(m + 32);
    s->n_positions = kq_get_le64(m + 40);
    memcpy(s->language, m + 56, 32);
    if (s->language[31])
        return corrupt(err, s, KQ_SEC_META, "language not terminated");
    s->n_srcs = kq_get_le32(m + 92);

    /* DLEN */
    if (f->sec[KQ_SEC_DLEN].len != (size_t)s->n_docs * 4 * KQ_N_FIELDS)
        return corrupt(err, s, KQ_SEC_DLEN, "size does not match the document count");
    for (int fl = 0; fl < KQ_N_FIELDS; fl++) {
        s->dlen[fl] = f->sec[KQ_SEC_DLEN].p + (size_t)fl * 4 * s->n_docs;
        uint64_t sum = 0;
        for (uint32_t d = 0; d < s->n_docs; d++)
            sum += kq__seg_dl(s, fl, d);
        if (sum != s->total_len[fl])
            return corrupt(err, s, KQ_SEC_DLEN, "lengths do not add up to the META totals");
    }

    /* DOCT: entries then (n_docs + 1) u64 offsets */
    size_t dl = f->sec[KQ_SEC_DOCT].len, offs = ((size_t)s->n_docs + 1) * 8;
    if (dl < offs)
        return corrupt(err, s, KQ_SEC_DOCT, "too small for its offsets");
    s->doct = f->sec[KQ_SEC_DOCT].p;
    s->doct_len = dl - offs;
    s->doct_off = s->doct + s->doct_len;
    uint64_t prev = 0;
    for (uint32_t d = 0; d <= s->n_docs; d++) {
        uint64_t o = kq_get_le64(s->doct_off + 8 * (size_t)d);
        if ((d == 0 && o != 0) || o < prev || o > s->doct_len ||
            (d == s->n_docs && o != s->doct_len))
            return corrupt(err, s, KQ_SEC_DOCT, "entry offsets out of order");
        if (d > 0 && o == prev)
            return corrupt(err, s, KQ_SEC_DOCT, "empty entry");
        prev = o;
    }

    /* SRCS */
    if (s->n_srcs > f->sec[KQ_SEC_SRCS].len)
        return corrupt(err, s, KQ_SEC_SRCS, "more sources than bytes");
    if (s->n_srcs) {
        s->srcs = kq__calloc(s->n_srcs, sizeof *s->srcs);
        if (!s->srcs)
            return kq__enomem(err);
    }
    const uint8_t *p = f->sec[KQ_SEC_SRCS].p, *end = p + f->sec[KQ_SEC_SRCS].len;
    for (uint32_t i = 0; i < s->n_srcs; i++) {
        uint64_t len, size, mt;
        size_t n = kq_varint_get(p, end, &len);
        if (!n || len > (uint64_t)(end - p - n))
            return corrupt(err, s, KQ_SEC_SRCS, "truncated path");
        p += n;
        s->srcs[i].path = (const char *)p;
        s->srcs[i].path_len = (size_t)len;
        p += len;
        if (!(n = kq_varint_get(p, end, &size)))
            return corrupt(err, s, KQ_SEC_SRCS, "truncated size");
        p += n;
        if (!(n = kq_varint_get(p, end, &mt)) || end - p - (ptrdiff_t)n < 8)
            return corrupt(err, s, KQ_SEC_SRCS, "truncated entry");
        p += n;
        s->srcs[i].size = size;
        s->srcs[i].mtime_ns = (int64_t)mt;
        s->srcs[i].hash = kq_get_le64(p);
        p += 8;
    }
    if (p != end)
        return corrupt(err, s, KQ_SEC_SRCS, "trailing bytes");

    /* DSIX: contiguous blocks covering every document */
    size_t xl = f->sec[KQ_SEC_DSIX].len;
    if (xl % KQ_DSIX_ENTRY || xl / KQ_DSIX_ENTRY > s->n_docs)
        return corrupt(err, s, KQ_SEC_DSIX, "bad size");
    s->dsix = f->sec[KQ_SEC_DSIX].p;
    s->n_blocks = (uint32_t)(xl / KQ_DSIX_ENTRY);
    uint64_t next_doc = 0, next_off = 0;
    for (uint32_t i = 0; i < s->n_blocks; i++) {
        const uint8_t *e = s->dsix + (size_t)i * KQ_DSIX_ENTRY;
        uint32_t first = kq_get_le32(e), n = kq_get_le32(e + 4), clen = kq_get_le32(e + 16);
        uint64_t off = kq_get_le64(e + 8);
        if (first != next_doc || n == 0 || off != next_off ||
            clen > f->sec[KQ_SEC_DSTO].len - off || off > f->sec[KQ_SEC_DSTO].len)
            return corrupt(err, s, KQ_SEC_DSIX, "blocks not contiguous");
        next_doc = (uint64_t)first + n;
        next_off = off + clen;
    }
    if (next_doc != s->n_docs || next_off != f->sec[KQ_SEC_DSTO].len)
        return corrupt(err, s, KQ_SEC_DSIX, "blocks do not cover the documents");
    if (f->sec[KQ_SEC_ZDIC].len) {
        s->ddict = ZSTD_createDDict(f->sec[KQ_SEC_ZDIC].p, f->sec[KQ_SEC_ZDIC].len);
        if (!s->ddict)
            return corrupt(err, s, KQ_SEC_ZDIC, "unusable zstd dictionary");
        s->dict_hash = XXH3_64bits(f->sec[KQ_SEC_ZDIC].p, f->sec[KQ_SEC_ZDIC].len);
    }

    /* term dictionary */
    kq_error e2;
    if (kq_termdict_open(&s->td, f->sec[KQ_SEC_TDIC].p, f->sec[KQ_SEC_TDIC].len,
                         f->sec[KQ_SEC_TIDX].p, f->sec[KQ_SEC_TIDX].len, s->n_terms, &e2))
        return kq__error(err, KQ_ECORRUPT, -1, "segment '%s': %s in section 'TDIC/TIDX'",
                         s->f.name, e2.msg);
    return 0;
}

/* The sections an open with KQ_INDEX_VERIFY_ON_USE verifies: those seg_parse reads. */
#define OPEN_SECTIONS                                                                      \
    ((1u << KQ_SEC_META) | (1u << KQ_SEC_DLEN) | (1u << KQ_SEC_DOCT) | (1u << KQ_SEC_SRCS) | \
     (1u << KQ_SEC_TIDX) | (1u << KQ_SEC_DSIX) | (1u << KQ_SEC_ZDIC))

static int seg_open(kq_seg *s, const char *path, unsigned verify_mask, kq_error *err)
{
    memset(s, 0, sizeof *s);
    int rc = kq__segment_map(&s->f, path, verify_mask == KQ_SEC_ALL, err);
    if (!rc && verify_mask != KQ_SEC_ALL)
        rc = kq__segment_verify(&s->f, verify_mask, err);
    if (!rc) {
        s->verified = verify_mask;
        rc = seg_parse(s, err);
    }
    if (rc)
        kq__seg_close(s);
    return rc;
}

int kq__seg_open(kq_seg *s, const char *path, int verify, kq_error *err)
{
    return seg_open(s, path, verify ? KQ_SEC_ALL : 0, err);
}

/* Verifies the checksums of the sections in `mask` of `s` not verified yet. Several threads
 * may verify the same section at once, with the same result; `verified` only grows. */
static int seg_need(const kq_seg *s, unsigned mask, kq_error *err)
{
    /* segments live in their index's heap array: const only as the readers see them */
    _Atomic unsigned *v = (_Atomic unsigned *)&s->verified;
    unsigned todo = mask & ~atomic_load_explicit(v, memory_order_acquire);
    if (!todo)
        return 0;
    int rc = kq__segment_verify(&s->f, todo, err);
    if (!rc)
        atomic_fetch_or_explicit(v, todo, memory_order_release);
    return rc;
}

int kq__seg_verify(kq_seg *s, kq_error *err)
{
    return seg_need(s, KQ_SEC_ALL, err);
}

int kq__seg_open_bytes(kq_seg *s, const uint8_t *p, size_t size, kq_error *err)
{
    memset(s, 0, sizeof *s);
    s->f.name = "fuzz";
    int rc = kq__segment_check_bytes(&s->f, p, size, 1, err);
    s->verified = KQ_SEC_ALL;
    if (!rc && (rc = seg_parse(s, err)))
        kq__seg_close_bytes(s);
    return rc;
}

void kq__seg_close_bytes(kq_seg *s)
{
    if (!s)
        return;
    kq__free(s->del);
    kq__free(s->srcs);
    ZSTD_freeDDict(s->ddict);
    memset(s, 0, sizeof *s); /* the bytes belong to the caller: nothing to unmap */
}

void kq__seg_close(kq_seg *s)
{
    if (!s)
        return;
    kq__free(s->del);
    kq__free(s->srcs);
    ZSTD_freeDDict(s->ddict);
    kq__segment_unmap(&s->f);
    memset(s, 0, sizeof *s);
}

int kq__seg_doc_src(const kq_seg *s, uint32_t doc, uint32_t *src)
{
    const uint8_t *p = s->doct + kq_get_le64(s->doct_off + 8 * (size_t)doc);
    const uint8_t *end = s->doct + kq_get_le64(s->doct_off + 8 * ((size_t)doc + 1));
    uint64_t v;
    size_t n;
    for (int i = 0; i < 2; i++) { /* id, title */
        if (!(n = kq_varint_get(p, end, &v)) || v > (uint64_t)(end - p - n))
            return KQ_ECORRUPT;
        p += n + v;
    }
    if (!kq_varint_get(p, end, &v) || v > s->n_srcs)
        return KQ_ECORRUPT;
    *src = (uint32_t)v;
    return 0;
}

int kq__seg_doc(const kq_seg *s, uint32_t doc, struct kq_doc *out, kq_error *err)
{
    memset(out, 0, sizeof *out);
    if (doc >= s->n_docs)
        return kq__error(err, KQ_ENOTFOUND, -1, "no document %u", doc);
    const uint8_t *p = s->doct + kq_get_le64(s->doct_off + 8 * (size_t)doc);
    const uint8_t *end = s->doct + kq_get_le64(s->doct_off + 8 * ((size_t)doc + 1));
    uint64_t v[6];
    size_t n;
    /* id */
    if (!(n = kq_varint_get(p, end, &v[0])) || v[0] > (uint64_t)(end - p - n))
        return corrupt(err, s, KQ_SEC_DOCT, "truncated id");
    out->id = (const char *)p + n;
    out->id_len = (size_t)v[0];
    p += n + v[0];
    if (!(n = kq_varint_get(p, end, &v[0])) || v[0] > (uint64_t)(end - p - n))
        return corrupt(err, s, KQ_SEC_DOCT, "truncated title");
    out->title = (const char *)p + n;
    out->title_len = (size_t)v[0];
    p += n + v[0];
    for (int i = 0; i < 4; i++) {
        if (!(n = kq_varint_get(p, end, &v[i])))
            return corrupt(err, s, KQ_SEC_DOCT, "truncated entry");
        p += n;
    }
    if (end - p != 9)
        return corrupt(err, s, KQ_SEC_DOCT, "entry of the wrong length");
    if (v[0] > s->n_srcs || v[1] > UINT32_MAX)
        return corrupt(err, s, KQ_SEC_DOCT, "source out of range");
    if (v[0]) {
        out->path = s->srcs[v[0] - 1].path;
        out->path_len = s->srcs[v[0] - 1].path_len;
    } else {
        out->path = out->id;
        out->path_len = out->id_len;
    }
    out->line = (uint32_t)v[1];
    out->size = v[2];
    out->mtime_ns = (int64_t)v[3];
    out->hash = kq_get_le64(p);
    out->format = p[8];
    for (int f = 0; f < KQ_N_FIELDS; f++)
        out->len[f] = kq__seg_dl(s, f, doc);
    return 0;
}

int kq__seg_block(const kq_seg *s, uint32_t blk, uint8_t **raw, size_t *raw_len,
                  kq_error *err)
{
    return kq__seg_block_dctx(s, blk, NULL, raw, raw_len, err);
}

/* Blocks up to this size are decompressed in one call into a buffer of their size. */
#define STORE_EAGER_MAX (1u << 20)

/* Decompresses the frame src[0, clen), which states its size as rlen, with the segment's
 * dictionary if any, into a new buffer of exactly rlen bytes. A larger block is
 * decompressed in steps into a buffer that doubles as output comes, so a hostile raw_len
 * (and frame header) costs memory only as far as the frame's data backs it. Returns the
 * buffer, or NULL with *bad set when the frame does not decompress to rlen bytes, clear
 * when memory ran out. */
static uint8_t *decompress_block(const kq_seg *s, ZSTD_DCtx *dc, const uint8_t *src,
                                 size_t clen, size_t rlen, int *bad)
{
    size_t cap = rlen <= STORE_EAGER_MAX ? rlen : STORE_EAGER_MAX;
    uint8_t *buf = kq__malloc(cap ? cap : 1);
    if (!buf)
        return NULL;
    if (cap == rlen) {
        size_t r = s->ddict ? ZSTD_decompress_usingDDict(dc, buf, rlen, src, clen, s->ddict)
                            : ZSTD_decompressDCtx(dc, buf, rlen, src, clen);
        if (ZSTD_isError(r) || r != rlen) {
            kq__free(buf);
            *bad = 1;
            return NULL;
        }
        return buf;
    }
    ZSTD_inBuffer in = {src, clen, 0};
    ZSTD_outBuffer out = {buf, cap, 0};
    ZSTD_DCtx_reset(dc, ZSTD_reset_session_only);
    size_t r = ZSTD_DCtx_refDDict(dc, s->ddict);
    while (!ZSTD_isError(r)) {
        size_t in_pos = in.pos, out_pos = out.pos;
        r = ZSTD_decompressStream(dc, &out, &in);
        if (ZSTD_isError(r) || r == 0)
            break; /* an error, or the frame is done */
        if (out.pos == out.size && cap < rlen) {
            cap = cap > rlen / 2 ? rlen : cap * 2;
            uint8_t *nb = kq__realloc(buf, cap);
            if (!nb) {
                ZSTD_DCtx_reset(dc, ZSTD_reset_session_and_parameters);
                kq__free(buf);
                return NULL;
            }
            buf = nb;
            out.dst = buf;
            out.size = cap;
        } else if (in.pos == in_pos && out.pos == out_pos) {
            break; /* stuck: the frame ends early, or wants more than rlen bytes out */
        }
    }
    /* the dictionary reference must not outlive this block: a lent context decompresses
     * other segments' blocks next, with their own dictionary or none */
    ZSTD_DCtx_reset(dc, ZSTD_reset_session_and_parameters);
    if (r != 0 || out.pos != rlen || in.pos != in.size) { /* r != 0: an error or stuck */
        kq__free(buf);
        *bad = 1;
        return NULL;
    }
    return buf;
}

int kq__seg_block_dctx(const kq_seg *s, uint32_t blk, ZSTD_DCtx *dctx, uint8_t **raw,
                       size_t *raw_len, kq_error *err)
{
    *raw = NULL;
    const uint8_t *e = s->dsix + (size_t)blk * KQ_DSIX_ENTRY;
    uint64_t off = kq_get_le64(e + 8);
    uint32_t clen = kq_get_le32(e + 16), rlen = kq_get_le32(e + 20), n = kq_get_le32(e + 4);
    if (rlen < 4 + 4 * (uint64_t)n)
        return corrupt(err, s, KQ_SEC_DSIX, "store block too small for its documents");
    const uint8_t *src = s->f.sec[KQ_SEC_DSTO].p + off;
    /* the frame must state raw_len as its size (X2) before anything is allocated */
    if (ZSTD_getFrameContentSize(src, clen) != rlen)
        return corrupt(err, s, KQ_SEC_DSTO, "store block does not decompress");
    /* A frame that carries its content checksum (the frame header descriptor's bit 2, after
     * the 4-byte magic) is checked by zstd as it decompresses; without one, the section's
     * checksum must have been (KQ_INDEX_VERIFY_ON_USE leaves it to the first such block). */
    int rc = (src[4] & 4) ? 0 : seg_need(s, 1u << KQ_SEC_DSTO, err);
    if (rc)
        return rc;
    /* a context costs a few hundred KiB to set up: callers that read many blocks lend
     * theirs (the searcher's), the others get a new one for the block */
    ZSTD_DCtx *own = dctx ? NULL : ZSTD_createDCtx();
    if (!dctx && !own)
        return kq__enomem(err);
    int bad = 0;
    uint8_t *buf = decompress_block(s, dctx ? dctx : own, src, clen, rlen, &bad);
    ZSTD_freeDCtx(own);
    if (!buf)
        return bad ? corrupt(err, s, KQ_SEC_DSTO, "store block does not decompress")
                   : kq__enomem(err);
    if (kq_get_le32(buf) != n) {
        kq__free(buf);
        return corrupt(err, s, KQ_SEC_DSTO, "store block does not decompress");
    }
    uint64_t sum = 4 + 4 * (uint64_t)n;
    for (uint32_t i = 0; i < n; i++)
        sum += kq_get_le32(buf + 4 + 4 * (size_t)i);
    if (sum != rlen) {
        kq__free(buf);
        return corrupt(err, s, KQ_SEC_DSTO, "store block lengths do not add up");
    }
    *raw = buf;
    *raw_len = rlen;
    return 0;
}

int kq__seg_doc_text(const kq_seg *s, uint32_t doc, char **text, size_t *len, kq_error *err)
{
    return kq__seg_doc_text_dctx(s, doc, NULL, text, len, err);
}

int kq__seg_doc_text_dctx(const kq_seg *s, uint32_t doc, ZSTD_DCtx *dctx, char **text,
                          size_t *len, kq_error *err)
{
    *text = NULL;
    *len = 0;
    if (doc >= s->n_docs)
        return kq__error(err, KQ_ENOTFOUND, -1, "no document %u", doc);
    uint32_t lo = 0, hi = s->n_blocks; /* last block with first_doc <= doc */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (kq_get_le32(s->dsix + (size_t)mid * KQ_DSIX_ENTRY) <= doc)
            lo = mid;
        else
            hi = mid;
    }
    uint8_t *raw;
    size_t raw_len;
    int rc = kq__seg_block_dctx(s, lo, dctx, &raw, &raw_len, err);
    if (rc)
        return rc;
    uint32_t first = kq_get_le32(s->dsix + (size_t)lo * KQ_DSIX_ENTRY);
    uint32_t n = kq_get_le32(raw);
    size_t off = 4 + 4 * (size_t)n;
    for (uint32_t i = 0; i < doc - first; i++)
        off += kq_get_le32(raw + 4 + 4 * (size_t)i);
    size_t l = kq_get_le32(raw + 4 + 4 * (size_t)(doc - first));
    char *t = kq__malloc(l + 1);
    if (!t) {
        kq__free(raw);
        return kq__enomem(err);
    }
    memcpy(t, raw + off, l);
    t[l] = '\0';
    kq__free(raw);
    *text = t;
    *len = l;
    return 0;
}

/* ---- kq_index ---- */

/* ---- the live df cache ---- */

#define DFCACHE_MAX (1u << 16) /* entries; the cache is emptied when it would grow past it */

struct dfent {
    uint64_t h;
    uint8_t *key; /* NULL: empty slot */
    uint32_t len, seg, df;
    uint64_t cf;
};

struct kq_dfcache {
    pthread_mutex_t mu;
    struct dfent *tab;
    uint32_t cap, n;
};

static void dfcache_clear(struct kq_dfcache *c)
{
    for (uint32_t i = 0; i < c->cap; i++)
        kq__free(c->tab[i].key);
    kq__free(c->tab);
    c->tab = NULL;
    c->cap = c->n = 0;
}

static void dfcache_free(struct kq_dfcache *c)
{
    if (!c)
        return;
    dfcache_clear(c);
    pthread_mutex_destroy(&c->mu);
    kq__free(c);
}

static struct dfent *dfcache_find(struct kq_dfcache *c, uint64_t h, uint32_t seg,
                                  const uint8_t *key, size_t len)
{
    if (!c->cap)
        return NULL;
    for (uint32_t i = (uint32_t)h & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
        struct dfent *e = &c->tab[i];
        if (!e->key || (e->h == h && e->seg == seg && e->len == len && !memcmp(e->key, key, len)))
            return e;
    }
}

/* Adds an entry; a failure to allocate only means the next lookup counts again. */
static void dfcache_put(struct kq_dfcache *c, uint64_t h, uint32_t seg, const uint8_t *key,
                        size_t len, uint32_t df, uint64_t cf)
{
    if (2 * (c->n + 1) > c->cap) {
        uint32_t cap = c->cap ? 2 * c->cap : 256;
        if (cap > 2 * DFCACHE_MAX) {
            dfcache_clear(c);
            cap = 256;
        }
        struct dfent *t = kq__calloc(cap, sizeof *t);
        if (!t)
            return;
        struct kq_dfcache old = *c;
        c->tab = t;
        c->cap = cap;
        for (uint32_t i = 0; i < old.cap; i++) {
            if (!old.tab[i].key)
                continue;
            struct dfent *slot = dfcache_find(c, old.tab[i].h, old.tab[i].seg, old.tab[i].key,
                                              old.tab[i].len);
            if (slot)
                *slot = old.tab[i];
        }
        kq__free(old.tab);
    }
    struct dfent *e = dfcache_find(c, h, seg, key, len);
    if (!e || e->key)
        return;
    if (!(e->key = kq__malloc(len ? len : 1)))
        return;
    memcpy(e->key, key, len);
    e->h = h;
    e->len = (uint32_t)len;
    e->seg = seg;
    e->df = df;
    e->cf = cf;
    c->n++;
}

int kq__seg_live_stats(const kq_seg *s, const struct kq_term_meta *m, uint32_t *df,
                       uint64_t *cf, kq_error *err)
{
    *df = m->df;
    *cf = m->cf;
    if (!s->del)
        return 0;
    int rc = seg_need(s, 1u << KQ_SEC_POST, err);
    if (rc)
        return rc;
    kq_postings_cursor pc;
    rc = kq_postings_open(&pc, s->f.sec[KQ_SEC_POST].p, s->f.sec[KQ_SEC_POST].len,
                          s->f.sec[KQ_SEC_POSN].p, s->f.sec[KQ_SEC_POSN].len, m, s->f.pos_tables,
                          err);
    if (rc)
        return rc;
    uint32_t n = 0;
    uint64_t c = 0;
    int bad = 0;
    if ((uint64_t)s->n_del * 4 < m->df) {
        /* few deletions: seek each deleted document, subtract what it held */
        n = m->df;
        c = m->cf;
        size_t w = kq__del_words(s->n_docs);
        for (size_t i = 0; i < w && !bad; i++) {
            for (uint64_t bits = s->del[i]; bits && !bad; bits &= bits - 1) {
                uint32_t d = (uint32_t)(i * 64 + (size_t)__builtin_ctzll(bits));
                uint32_t x = kq_postings_seek(&pc, d);
                if (x == KQ_DOC_END) {
                    i = w;
                    break;
                }
                if (x == d) {
                    uint32_t tf = kq_postings_tf(&pc);
                    if (!n || c < tf)
                        bad = 1;
                    else
                        n--, c -= tf;
                }
            }
        }
    } else {
        for (uint32_t d = kq_postings_next(&pc); d != KQ_DOC_END; d = kq_postings_next(&pc)) {
            if (d >= s->n_docs) {
                bad = 1;
                break;
            }
            if (!kq__del_test(s->del, d)) {
                n++;
                c += kq_postings_tf(&pc);
            }
        }
    }
    if (bad || kq_postings_error(&pc))
        rc = kq__error(err, KQ_ECORRUPT, -1, "segment '%s': bad postings in section 'POST'",
                       s->f.name);
    kq_postings_close(&pc);
    if (!rc) {
        *df = n;
        *cf = c;
    }
    return rc;
}

/* Live df and cf of `key` in segment `i` (meta `m`), through the cache. */
static int live_stats(const kq_index *ix, uint32_t i, const uint8_t *key, size_t len,
                      const struct kq_term_meta *m, uint32_t *df, uint64_t *cf, kq_error *err)
{
    const kq_seg *s = &ix->segs[i];
    if (!s->del || !ix->dfc) {
        *df = m->df;
        *cf = m->cf;
        return s->del ? kq__seg_live_stats(s, m, df, cf, err) : 0;
    }
    uint64_t h = XXH3_64bits_withSeed(key, len, i);
    pthread_mutex_lock(&ix->dfc->mu);
    struct dfent *e = dfcache_find(ix->dfc, h, i, key, len);
    int hit = e && e->key;
    if (hit) {
        *df = e->df;
        *cf = e->cf;
    }
    pthread_mutex_unlock(&ix->dfc->mu);
    if (hit)
        return 0;
    int rc = kq__seg_live_stats(s, m, df, cf, err);
    if (!rc) {
        pthread_mutex_lock(&ix->dfc->mu);
        dfcache_put(ix->dfc, h, i, key, len, *df, *cf);
        pthread_mutex_unlock(&ix->dfc->mu);
    }
    return rc;
}

/* ---- kq_index ---- */

/* The segment holding global `doc` (NULL past the last), and its local id. */
static const kq_seg *seg_of(const kq_index *ix, uint32_t doc, uint32_t *local)
{
    uint32_t lo = 0, hi = ix->n_segs;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ix->segs[mid].base <= doc)
            lo = mid;
        else
            hi = mid;
    }
    if (!ix->n_segs || doc < ix->segs[lo].base || doc - ix->segs[lo].base >= ix->segs[lo].n_docs)
        return NULL;
    *local = doc - ix->segs[lo].base;
    return &ix->segs[lo];
}

int kq__index_live(const kq_index *ix, uint32_t doc)
{
    if (!ix->has_deletes)
        return doc < ix->n_docs;
    uint32_t local;
    const kq_seg *s = seg_of(ix, doc, &local);
    return s && !kq__del_test(s->del, local);
}

int kq_index_open(const char *dir, kq_index **out, kq_error *err)
{
    return kq_index_open_ex(dir, 0, out, err);
}

static int index_open(const char *dir, unsigned flags, kq_index **out, uint64_t *gen,
                      kq_error *err);

uint64_t kq__index_positions_unverified(const kq_index *ix)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < ix->n_segs; i++) {
        _Atomic unsigned *v = (_Atomic unsigned *)&ix->segs[i].verified;
        if (!(atomic_load_explicit(v, memory_order_acquire) & (1u << KQ_SEC_POSN)))
            n += ix->segs[i].f.sec[KQ_SEC_POSN].len;
    }
    return n;
}

int kq__index_maps(const kq_index *ix, uint64_t number, const char *path)
{
    struct stat st;
    for (uint32_t i = 0; i < ix->n_segs; i++)
        if (ix->segs[i].number == number)
            return stat(path, &st) == 0 && st.st_dev == ix->segs[i].f.dev &&
                   st.st_ino == ix->segs[i].f.ino;
    return 0;
}

int kq_index_generation(const char *dir, uint64_t *generation, uint64_t *manifest_checksum,
                        kq_error *err)
{
    struct kq_manifest m;
    int rc = kq__manifest_read(dir, &m, err);
    if (!rc) {
        *generation = m.generation;
        if (manifest_checksum)
            *manifest_checksum = m.checksum;
        kq__manifest_release(&m);
    }
    return rc;
}

int kq_index_open_ex(const char *dir, unsigned flags, kq_index **out, kq_error *err)
{
    if (flags & ~KQ_INDEX_VERIFY_ON_USE) {
        *out = NULL;
        return kq__error(err, KQ_EINVAL, -1, "unknown open flags %#x", flags);
    }
    /* A writer removes the files of the previous generation right after its commit: a
     * reader that read the old MANIFEST may then miss one of them. When the MANIFEST
     * changed meanwhile, open the new generation instead of reporting a damage. */
    for (int attempt = 0;; attempt++) {
        uint64_t gen = 0;
        int rc = index_open(dir, flags, out, &gen, err);
        if (rc != KQ_ECORRUPT || attempt == 4 || !gen)
            return rc;
        struct kq_manifest now;
        if (kq__manifest_read(dir, &now, NULL))
            return rc;
        uint64_t g = now.generation;
        kq__manifest_release(&now);
        if (g == gen)
            return rc; /* the same generation: the damage is real */
    }
}

static int index_open(const char *dir, unsigned flags, kq_index **out, uint64_t *gen,
                      kq_error *err)
{
    *out = NULL;
    kq_index *ix = kq__calloc(1, sizeof *ix);
    if (!ix)
        return kq__enomem(err);
    int rc = 0;
    if (!(ix->dir = kq__strndup(dir, strlen(dir)))) {
        rc = kq__enomem(err);
        goto fail;
    }
    if ((rc = kq__path_root(dir, &ix->root, err)) ||
        (rc = kq__manifest_read(dir, &ix->man, err)))
        goto fail;
    *gen = ix->man.generation;
    ix->segs = kq__calloc(ix->man.n_segs ? ix->man.n_segs : 1, sizeof *ix->segs);
    if (!ix->segs) {
        rc = kq__enomem(err);
        goto fail;
    }
    for (uint32_t i = 0; i < ix->man.n_segs; i++) {
        char name[64], path[4096];
        kq__segment_name(ix->man.segs[i].number, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        kq_seg *s = &ix->segs[i];
        const struct kq_manifest_seg *me = &ix->man.segs[i];
        if ((rc = seg_open(s, path,
                           (flags & KQ_INDEX_VERIFY_ON_USE) ? OPEN_SECTIONS : KQ_SEC_ALL, err)))
            goto fail;
        ix->n_segs++;
        s->number = me->number;
        if (s->n_docs != me->n_docs || s->f.size != me->file_size ||
            kq_get_le64(s->f.map + 56) != me->checksum) {
            rc = kq__error(err, KQ_ECORRUPT, -1,
                           "segment '%s' does not match the manifest (replaced or damaged)",
                           name);
            goto fail;
        }
        if ((uint64_t)ix->n_docs + s->n_docs >= UINT32_MAX) {
            rc = kq__error(err, KQ_ELIMIT, -1, "index holds too many documents");
            goto fail;
        }
        if (me->del_gen) {
            if ((rc = kq__del_read(dir, me->number, me->del_gen, s->n_docs, me->n_deleted,
                                   me->del_checksum, &s->del, err)))
                goto fail;
            s->n_del = me->n_deleted;
            ix->has_deletes = 1;
        }
        s->base = ix->n_docs;
        ix->n_docs += s->n_docs;
        ix->n_live += s->n_docs - s->n_del;
        for (int f = 0; f < KQ_N_FIELDS; f++) {
            uint64_t dead = 0;
            for (size_t w = 0; s->del && w < kq__del_words(s->n_docs); w++)
                for (uint64_t b = s->del[w]; b; b &= b - 1)
                    dead += kq__seg_dl(s, f, (uint32_t)(w * 64 + (size_t)__builtin_ctzll(b)));
            ix->total_len[f] += s->total_len[f] - dead; /* L1: DLEN adds up to the total */
        }
    }
    if (ix->has_deletes) {
        if (!(ix->dfc = kq__calloc(1, sizeof *ix->dfc))) {
            rc = kq__enomem(err);
            goto fail;
        }
        pthread_mutex_init(&ix->dfc->mu, NULL);
    }
    *out = ix;
    return 0;
fail:
    kq_index_close(ix);
    return rc;
}

void kq_index_close(kq_index *ix)
{
    if (!ix)
        return;
    for (uint32_t i = 0; i < ix->n_segs; i++)
        kq__seg_close(&ix->segs[i]);
    kq__free(ix->segs);
    dfcache_free(ix->dfc);
    kq__manifest_release(&ix->man);
    kq__free(ix->dir);
    kq__free(ix->root);
    kq__free(ix);
}

const char *kq_index_root(const kq_index *ix)
{
    return ix->root;
}

void kq_index_get_info(const kq_index *ix, struct kq_index_info *info)
{
    memset(info, 0, sizeof *info);
    info->generation = ix->man.generation;
    info->manifest_checksum = ix->man.checksum;
    info->n_segments = ix->n_segs;
    info->n_docs = ix->n_live;
    info->n_deleted = ix->n_docs - ix->n_live;
    info->doc_id_limit = ix->n_docs;
    for (int f = 0; f < KQ_N_FIELDS; f++)
        info->total_len[f] = ix->total_len[f];
    info->k1 = ix->man.k1;
    info->b = ix->man.b;
    info->language = ix->man.language;
}

static int bad_field(int field, kq_error *err)
{
    return kq__error(err, KQ_EINVAL, -1, "no field %d", field);
}

int kq_index_lookup(const kq_index *ix, int field, const char *term, size_t len,
                    struct kq_term_stats *st, kq_error *err)
{
    memset(st, 0, sizeof *st);
    if (field < 0 || field >= KQ_N_FIELDS)
        return bad_field(field, err);
    uint8_t key[KQ_KEY_MAX];
    size_t kl = kq__make_key(key, field, term, len);
    if (!kl)
        return kq__error(err, KQ_ENOTFOUND, -1, "term too long");
    for (uint32_t i = 0; i < ix->n_segs; i++) {
        struct kq_term_meta m;
        int rc = seg_need(&ix->segs[i], 1u << KQ_SEC_TDIC, err);
        if (!rc)
            rc = kq_termdict_lookup(&ix->segs[i].td, key, kl, &m, err);
        if (rc == KQ_ENOTFOUND)
            continue;
        uint32_t df;
        uint64_t cf;
        if (rc || (rc = live_stats(ix, i, key, kl, &m, &df, &cf, err))) {
            memset(st, 0, sizeof *st);
            return rc;
        }
        st->df += df;
        st->cf += cf;
    }
    return st->df ? 0 : kq__error(err, KQ_ENOTFOUND, -1, "term not found");
}

int kq_index_prefix(const kq_index *ix, int field, const char *prefix, size_t len,
                    size_t max,
                    int (*fn)(void *ctx, const char *term, size_t len,
                              const struct kq_term_stats *st),
                    void *ctx, kq_error *err)
{
    if (field < 0 || field >= KQ_N_FIELDS)
        return bad_field(field, err);
    uint8_t key[KQ_KEY_MAX];
    size_t kl = kq__make_key(key, field, prefix, len);
    if (!kl)
        return 0;
    uint32_t n = ix->n_segs;
    kq_termdict_iter *its = kq__calloc(n ? n : 1, sizeof *its);
    struct {
        const uint8_t *key;
        size_t len;
        struct kq_term_meta meta;
        int live;
    } *heads = kq__calloc(n ? n : 1, sizeof *heads);
    int rc = 0;
    if (!its || !heads) {
        rc = kq__enomem(err);
        goto out;
    }
    /* k-way merge of the segments' sorted term ranges */
    for (uint32_t i = 0; i < n && !rc; i++) {
        rc = seg_need(&ix->segs[i], 1u << KQ_SEC_TDIC, err);
        if (!rc)
            rc = kq_termdict_seek(&ix->segs[i].td, &its[i], key, kl, err);
        if (!rc) {
            int r = kq_termdict_next(&its[i], &heads[i].key, &heads[i].len, &heads[i].meta, err);
            if (r < 0)
                rc = r;
            heads[i].live = r == 1 && heads[i].len >= kl && !memcmp(heads[i].key, key, kl);
        }
    }
    size_t emitted = 0;
    while (!rc) {
        int best = -1;
        for (uint32_t i = 0; i < n; i++) {
            if (!heads[i].live)
                continue;
            if (best < 0 ||
                kq__key_cmp(heads[i].key, heads[i].len, heads[best].key, heads[best].len) < 0)
                best = (int)i;
        }
        if (best < 0)
            break;
        uint8_t cur[KQ_KEY_MAX];
        size_t cur_len = heads[best].len;
        memcpy(cur, heads[best].key, cur_len);
        struct kq_term_stats st = {0, 0};
        for (uint32_t i = 0; i < n && !rc; i++) {
            if (!heads[i].live || heads[i].len != cur_len || memcmp(heads[i].key, cur, cur_len))
                continue;
            uint32_t df;
            uint64_t cf;
            if ((rc = live_stats(ix, i, cur, cur_len, &heads[i].meta, &df, &cf, err)))
                break;
            st.df += df;
            st.cf += cf;
            int r = kq_termdict_next(&its[i], &heads[i].key, &heads[i].len, &heads[i].meta, err);
            if (r < 0)
                rc = r;
            heads[i].live = r == 1 && heads[i].len >= kl && !memcmp(heads[i].key, key, kl);
        }
        if (rc)
            break;
        if (!st.df)
            continue; /* held by deleted documents only: not a term of the live index */
        if (max && emitted == max) {
            rc = kq__error(err, KQ_ELIMIT, -1, "more than %zu terms start with '%.*s'", max,
                           (int)len, prefix);
            break;
        }
        emitted++;
        rc = fn(ctx, (const char *)cur + 1, cur_len - 1, &st);
    }
out:
    kq__free(its);
    kq__free(heads);
    return rc;
}

/* ---- cursors ---- */

int kq_cursor_open(const kq_index *ix, int field, const char *term, size_t len,
                   kq_cursor **out, kq_error *err)
{
    *out = NULL;
    if (field < 0 || field >= KQ_N_FIELDS)
        return bad_field(field, err);
    uint8_t key[KQ_KEY_MAX];
    size_t kl = kq__make_key(key, field, term, len);
    if (!kl)
        return 0;
    kq_cursor *c = kq__calloc(1, sizeof *c + (size_t)ix->n_segs * sizeof c->s[0]);
    if (!c)
        return kq__enomem(err);
    c->ix = ix;
    memcpy(c->key, key, kl);
    c->kl = kl;
    int any = 0, rc = 0;
    for (uint32_t i = 0; i < ix->n_segs && !rc; i++) {
        const kq_seg *sg = &ix->segs[i];
        rc = seg_need(sg, 1u << KQ_SEC_TDIC, err);
        if (!rc)
            rc = kq_termdict_lookup(&sg->td, key, kl, &c->s[i].meta, err);
        if (rc == KQ_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc || (rc = seg_need(sg, 1u << KQ_SEC_POST, err)))
            break;
        c->s[i].has = 1; /* its postings are opened by the first move that needs them */
        any = 1;
    }
    if (rc || !any) {
        kq_cursor_close(c);
        return rc;
    }
    c->seg = 0;
    c->doc = 0;
    *out = c;
    return 0;
}

int kq__cursor_df(const kq_cursor *c, uint32_t *df, kq_error *err)
{
    *df = 0;
    for (uint32_t i = 0; i < c->ix->n_segs; i++) {
        if (!c->s[i].has)
            continue;
        uint32_t d;
        uint64_t cf;
        int rc = live_stats(c->ix, i, c->key, c->kl, &c->s[i].meta, &d, &cf, err);
        if (rc)
            return rc;
        *df += d;
    }
    return 0;
}

void kq_cursor_close(kq_cursor *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->ix->n_segs; i++)
        if (c->s[i].opened)
            kq_postings_close(&c->s[i].pc);
    kq__free(c);
}

/* Opens the postings of segment i of the cursor, which holds the term: kq_cursor_open
 * leaves them to the first move that needs them, so that a term a query only counts, or
 * one a phrase looks for in a few documents, does not read its whole skip table. Returns
 * 0, or -1 with c->err set (KQ_ECORRUPT, KQ_ENOMEM). */
static int open_postings(kq_cursor *c, uint32_t i)
{
    struct cur_seg *s = &c->s[i];
    if (s->opened)
        return 0;
    const kq_seg *sg = &c->ix->segs[i];
    int rc = kq_postings_open(&s->pc, sg->f.sec[KQ_SEC_POST].p, sg->f.sec[KQ_SEC_POST].len,
                              sg->f.sec[KQ_SEC_POSN].p, sg->f.sec[KQ_SEC_POSN].len, &s->meta,
                              sg->f.pos_tables, NULL);
    if (rc) {
        c->err = rc;
        return -1;
    }
    s->opened = 1;
    return 0;
}

/* Moves within segments from the current one on until a posting >= local target. */
static uint32_t cursor_advance(kq_cursor *c, uint32_t target, int seek)
{
    const kq_index *ix = c->ix;
    while (c->seg < ix->n_segs) {
        struct cur_seg *s = &c->s[c->seg];
        const kq_seg *sg = &ix->segs[c->seg];
        if (s->has) {
            if (open_postings(c, c->seg))
                break;
            uint32_t d;
            if (seek) {
                uint32_t local = target > sg->base ? target - sg->base : 0;
                d = local < sg->n_docs ? kq_postings_seek(&s->pc, local) : KQ_DOC_END;
            } else {
                d = kq_postings_next(&s->pc);
            }
            while (d < sg->n_docs && kq__del_test(sg->del, d)) /* deleted: invisible */
                d = kq_postings_next(&s->pc);
            if (kq_postings_error(&s->pc)) {
                c->err = KQ_ECORRUPT;
                break;
            }
            if (d != KQ_DOC_END) {
                if (d >= sg->n_docs) {
                    c->err = KQ_ECORRUPT;
                    break;
                }
                return c->doc = sg->base + d;
            }
        }
        c->seg++;
        seek = 1; /* the next segment starts at its first posting >= target */
        if (target < (c->seg < ix->n_segs ? ix->segs[c->seg].base : 0))
            target = ix->segs[c->seg].base;
    }
    return c->doc = KQ_NO_DOC;
}

/* Opens the window on the block the cursor is on, when its segment has no deletions and
 * its documents are all in the segment (past that, cursor_advance finds the corruption);
 * closes it otherwise. Returns c->doc. */
static uint32_t windowed(kq_cursor *c)
{
    c->win_end = 0;
    if (c->doc == KQ_NO_DOC)
        return c->doc;
    const struct cur_seg *s = &c->s[c->seg];
    const kq_seg *sg = &c->ix->segs[c->seg];
    const kq_postings_cursor *pc = &s->pc;
    if (!s->opened || sg->del || !pc->started || pc->err || !pc->n_in || pc->i >= pc->n_in)
        return c->doc;
    uint32_t last = pc->docs_buf[pc->n_in - 1];
    if (last < sg->n_docs) {
        c->win = &c->s[c->seg].pc;
        c->win_base = sg->base;
        c->win_end = sg->base + last + 1;
    }
    return c->doc;
}

/* next and seek answer at once when the current segment has no deletions and the answer
 * lies in it. A doc id past the segment is corrupt data, as in cursor_advance; the rest
 * (deleted documents, a segment's end) is cursor_advance's, which asks the postings cursor
 * again and gets the same KQ_DOC_END (an exhausted cursor stays exhausted). */
static uint32_t fast_answer(kq_cursor *c, const kq_seg *sg, uint32_t d)
{
    if (d < sg->n_docs)
        return c->doc = sg->base + d;
    c->err = KQ_ECORRUPT;
    return c->doc = KQ_NO_DOC;
}

uint32_t kq_cursor_next(kq_cursor *c)
{
    if (c->doc == KQ_NO_DOC)
        return KQ_NO_DOC;
    struct cur_seg *s = &c->s[c->seg];
    const kq_seg *sg = &c->ix->segs[c->seg];
    if (s->opened && !sg->del) {
        uint32_t d = kq_postings_next(&s->pc);
        if (d != KQ_DOC_END) {
            fast_answer(c, sg, d);
            return windowed(c);
        }
    }
    cursor_advance(c, 0, 0);
    return windowed(c);
}

uint32_t kq_cursor_seek(kq_cursor *c, uint32_t target)
{
    if (c->doc == KQ_NO_DOC)
        return KQ_NO_DOC;
    if (c->doc >= target && (c->doc != 0 || c->s[c->seg].pc.started))
        return c->doc;
    while (c->seg + 1 < c->ix->n_segs && c->ix->segs[c->seg + 1].base <= target)
        c->seg++;
    struct cur_seg *s = &c->s[c->seg];
    const kq_seg *sg = &c->ix->segs[c->seg];
    if (s->opened && !sg->del && target >= sg->base && target - sg->base < sg->n_docs) {
        uint32_t d = kq_postings_seek(&s->pc, target - sg->base);
        if (d != KQ_DOC_END) {
            fast_answer(c, sg, d);
            return windowed(c);
        }
    }
    cursor_advance(c, target, 1);
    return windowed(c);
}

uint32_t kq_cursor_doc(const kq_cursor *c)
{
    return c->doc;
}

uint32_t kq_cursor_tf(const kq_cursor *c)
{
    return c->doc == KQ_NO_DOC ? 0 : kq_postings_tf(&c->s[c->seg].pc);
}

int kq__cursor_need_positions(const kq_cursor *c, kq_error *err)
{
    for (uint32_t i = 0; i < c->ix->n_segs; i++) {
        int rc = c->s[i].has ? seg_need(&c->ix->segs[i], 1u << KQ_SEC_POSN, err) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

int kq_cursor_positions(kq_cursor *c, uint32_t *out, uint32_t cap)
{
    if (c->doc == KQ_NO_DOC)
        return 0;
    if (seg_need(&c->ix->segs[c->seg], 1u << KQ_SEC_POSN, NULL))
        return c->err = KQ_ECORRUPT; /* the section fails its checksum */
    uint32_t tf = kq_postings_tf(&c->s[c->seg].pc);
    if (tf > cap)
        return KQ_ELIMIT;
    return kq_postings_positions(&c->s[c->seg].pc, out);
}

int kq__cursor_pos_begin(kq_cursor *c, struct kq_pos_reader *r)
{
    if (c->doc == KQ_NO_DOC) {
        memset(r, 0, sizeof *r);
        return 0;
    }
    return kq_postings_pos_begin(&c->s[c->seg].pc, r);
}

int kq_cursor_error(const kq_cursor *c)
{
    return c->err;
}

uint32_t kq__cursor_impacts(const kq_cursor *c, struct kq_impact *out, uint32_t cap)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->ix->n_segs; i++) {
        if (!c->s[i].has)
            continue;
        const struct kq_term_meta *m = &c->s[i].meta;
        uint32_t k = m->n_impacts <= KQ_IMPACTS_MAX ? m->n_impacts : KQ_IMPACTS_MAX;
        if (n + k > cap)
            n = kq_impacts_reduce(out, n, cap - KQ_IMPACTS_MAX);
        memcpy(out + n, m->impacts, k * sizeof *out);
        n += k;
    }
    return n > 1 ? kq_impacts_reduce(out, n, cap) : n;
}

void kq__cursor_block(kq_cursor *c, uint32_t target, uint32_t *last_doc, struct kq_impact *imp,
                      uint32_t *n)
{
    const kq_index *ix = c->ix;
    *n = 0;
    uint32_t s = c->seg;
    while (s < ix->n_segs && (uint64_t)target >= (uint64_t)ix->segs[s].base + ix->segs[s].n_docs)
        s++;
    if (s >= ix->n_segs || target < ix->segs[s].base) {
        *last_doc = KQ_NO_DOC;
        return;
    }
    const kq_seg *sg = &ix->segs[s];
    *last_doc = sg->base + sg->n_docs - 1;
    if (!c->s[s].has || c->err || open_postings(c, s))
        return;
    const struct kq_skip *sk = kq_postings_shallow(&c->s[s].pc, target - sg->base);
    if (!sk)
        return;
    if (sk->last_doc < sg->n_docs)
        *last_doc = sg->base + sk->last_doc;
    *n = sk->n_impacts <= KQ_IMPACTS_MAX ? sk->n_impacts : KQ_IMPACTS_MAX;
    memcpy(imp, sk->impacts, *n * sizeof *imp);
}

/* ---- documents ---- */


int kq_index_doc(const kq_index *ix, uint32_t doc, struct kq_doc *out, kq_error *err)
{
    uint32_t local;
    const kq_seg *s = seg_of(ix, doc, &local);
    if (!s) {
        memset(out, 0, sizeof *out);
        return kq__error(err, KQ_ENOTFOUND, -1, "no document %u", doc);
    }
    if (kq__del_test(s->del, local)) {
        memset(out, 0, sizeof *out);
        return kq__error(err, KQ_ENOTFOUND, -1, "document %u was deleted", doc);
    }
    return kq__seg_doc(s, local, out, err);
}

uint32_t kq_index_doc_len(const kq_index *ix, int field, uint32_t doc)
{
    uint32_t local;
    const kq_seg *s = seg_of(ix, doc, &local);
    return s && field >= 0 && field < KQ_N_FIELDS && !kq__del_test(s->del, local)
               ? kq__seg_dl(s, field, local)
               : 0;
}

int kq_index_doc_text(const kq_index *ix, uint32_t doc, char **text, size_t *len,
                      kq_error *err)
{
    return kq__index_doc_text_dctx(ix, doc, NULL, text, len, err);
}

int kq__index_doc_text_dctx(const kq_index *ix, uint32_t doc, ZSTD_DCtx *dctx, char **text,
                            size_t *len, kq_error *err)
{
    uint32_t local;
    const kq_seg *s = seg_of(ix, doc, &local);
    if (s && kq__del_test(s->del, local)) {
        *text = NULL;
        *len = 0;
        return kq__error(err, KQ_ENOTFOUND, -1, "document %u was deleted", doc);
    }
    if (!s) {
        *text = NULL;
        *len = 0;
        return kq__error(err, KQ_ENOTFOUND, -1, "no document %u", doc);
    }
    return kq__seg_doc_text_dctx(s, local, dctx, text, len, err);
}

void kq_free(void *p)
{
    kq__free(p);
}
