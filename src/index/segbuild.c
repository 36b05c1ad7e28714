/* index/segbuild.c: one encoder for every section of a segment (see segbuild.h).
 *
 * Invariants: documents are numbered in the order added; the store blocks cover documents
 * 0..n_docs-1 contiguously and in order; term keys strictly increase (the term-dictionary
 * writer refuses anything else).
 */
#include "index/segbuild.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_forceAttachDict */
#include <zstd.h>

#include "util/alloc.h"
#include "util/bytes.h"
#include "util/error.h"

void kq__storeblock_init(kq_storeblock *sb)
{
    memset(sb, 0, sizeof *sb);
}

void kq__storeblock_release(kq_storeblock *sb)
{
    kq_buf_release(&sb->raw);
    kq_buf_release(&sb->lens);
    memset(sb, 0, sizeof *sb);
}

int kq__storeblock_add(kq_storeblock *sb, const void *text, size_t len)
{
    if (len > UINT32_MAX)
        return KQ_ELIMIT;
    if (kq_buf_put_u32(&sb->lens, (uint32_t)len) || kq_buf_append(&sb->raw, text, len))
        return KQ_ENOMEM;
    sb->n++;
    return 0;
}

int kq__storeblock_compress(kq_storeblock *sb, ZSTD_CCtx *cctx, const ZSTD_CDict *cdict,
                            kq_buf *out, uint32_t *raw_len, kq_error *err)
{
    /* raw block: [u32 n][u32 len x n][bytes] */
    size_t raw = 4 + sb->lens.len + sb->raw.len;
    if (raw > UINT32_MAX)
        return kq__error(err, KQ_ELIMIT, -1, "document too large for the store (4 GiB)");
    kq_buf tmp = KQ_BUF_INIT;
    if (kq_buf_reserve(&tmp, raw))
        return kq__enomem(err);
    kq_buf_put_u32(&tmp, sb->n);
    kq_buf_append(&tmp, sb->lens.p, sb->lens.len);
    kq_buf_append(&tmp, sb->raw.p, sb->raw.len);
    size_t bound = ZSTD_compressBound(raw);
    if (kq_buf_reserve(out, bound)) {
        kq_buf_release(&tmp);
        return kq__enomem(err);
    }
    /* the frame carries the checksum of its content (XXH64), which a reader that has not
     * verified the whole DSTO section relies on */
    size_t r = ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
    if (!ZSTD_isError(r))
        r = cdict ? ZSTD_CCtx_refCDict(cctx, cdict)
                  : ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, KQ_STORE_LEVEL);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    /* Blocks just over zstd's cut-off (8 KiB for level 1) would otherwise get a copy of
     * the dictionary's tables each, 60 k instructions a block; attached, the tables are
     * read in place (a Cranfield build: 430 M instructions copying at 8 KiB, 420 M
     * attaching, 421 M with 32 KiB blocks). Only a hint: a zstd without it copies. */
    if (!ZSTD_isError(r) && cdict)
        (void)ZSTD_CCtx_setParameter(cctx, ZSTD_c_forceAttachDict, ZSTD_dictForceAttach);
    if (!ZSTD_isError(r))
        r = ZSTD_compress2(cctx, out->p + out->len, bound, tmp.p, raw);
    kq_buf_release(&tmp);
    if (ZSTD_isError(r))
        return kq__error(err, KQ_EINTERNAL, -1, "zstd: %s", ZSTD_getErrorName(r));
    out->len += r;
    *raw_len = (uint32_t)raw;
    sb->raw.len = sb->lens.len = 0;
    sb->n = 0;
    return 0;
}

int kq__segbuild_init(kq_segbuild *b, const char *dir, size_t spill_bytes,
                      const char *language, const ZSTD_CDict *cdict, const void *dict,
                      size_t dict_len, kq_error *err)
{
    memset(b, 0, sizeof *b);
    for (int i = 0; i < KQ_SEC_COUNT; i++)
        b->sink[i].fd = -1;
    b->dir = dir;
    b->cdict = cdict;
    snprintf(b->language, sizeof b->language, "%s", language ? language : "english");
    for (int i = 0; i < KQ_SEC_COUNT; i++)
        if (kq__sink_init(&b->sink[i], dir, spill_bytes))
            goto nomem;
    if (kq_postings_writer_new(&b->pw) || kq_termdict_writer_new(&b->tw))
        goto nomem;
    b->cctx = ZSTD_createCCtx();
    if (!b->cctx)
        goto nomem;
    if (dict_len && kq__sink_append(&b->sink[KQ_SEC_ZDIC], dict, dict_len, err)) {
        kq__segbuild_release(b);
        return err ? err->code : KQ_EIO;
    }
    return 0;
nomem:
    kq__segbuild_release(b);
    return kq__enomem(err);
}

void kq__segbuild_release(kq_segbuild *b)
{
    if (!b)
        return;
    for (int i = 0; i < KQ_SEC_COUNT; i++)
        kq__sink_release(&b->sink[i]);
    kq_postings_writer_free(b->pw);
    kq_termdict_writer_free(b->tw);
    kq_buf_release(&b->post);
    kq_buf_release(&b->posn);
    kq_buf_release(&b->tdic);
    kq_buf_release(&b->doct_off);
    for (int f = 0; f < KQ_N_FIELDS; f++)
        kq_buf_release(&b->dlen[f]);
    kq_buf_release(&b->dsix);
    kq_buf_release(&b->scratch);
    kq_buf_release(&b->last_src);
    kq__storeblock_release(&b->block);
    ZSTD_freeCCtx(b->cctx);
    memset(b, 0, sizeof *b);
}

int kq__segbuild_source(kq_segbuild *b, const struct kq_srcrec *src, uint32_t *s,
                        kq_error *err)
{
    kq_buf *t = &b->scratch;
    t->len = 0;
    if (kq_buf_put_varint(t, src->path_len) || kq_buf_append(t, src->path, src->path_len) ||
        kq_buf_put_varint(t, src->size) || kq_buf_put_varint(t, (uint64_t)src->mtime_ns) ||
        kq_buf_put_u64(t, src->hash))
        return kq__enomem(err);
    if (b->n_sources && t->len == b->last_src.len && !memcmp(t->p, b->last_src.p, t->len)) {
        *s = b->n_sources - 1;
        return 0;
    }
    b->last_src.len = 0;
    if (kq_buf_append(&b->last_src, t->p, t->len))
        return kq__enomem(err);
    int rc = kq__sink_drain(&b->sink[KQ_SEC_SRCS], t, err);
    if (rc)
        return rc;
    *s = b->n_sources++;
    return 0;
}

int kq__segbuild_doc_meta(kq_segbuild *b, const struct kq_docrec *d, kq_error *err)
{
    if (b->n_docs == UINT32_MAX - 1)
        return kq__error(err, KQ_ELIMIT, -1, "too many documents in one segment");
    kq_buf *t = &b->scratch;
    t->len = 0;
    if (kq_buf_put_u64(&b->doct_off, b->sink[KQ_SEC_DOCT].size) ||
        kq_buf_put_varint(t, d->id_len) || kq_buf_append(t, d->id, d->id_len) ||
        kq_buf_put_varint(t, d->title_len) || kq_buf_append(t, d->title, d->title_len) ||
        kq_buf_put_varint(t, d->src) || kq_buf_put_varint(t, d->line) ||
        kq_buf_put_varint(t, d->size) || kq_buf_put_varint(t, (uint64_t)d->mtime_ns) ||
        kq_buf_put_u64(t, d->hash) || kq_buf_putc(t, d->format))
        return kq__enomem(err);
    for (int f = 0; f < KQ_N_FIELDS; f++) {
        if (kq_buf_put_u32(&b->dlen[f], d->len[f]))
            return kq__enomem(err);
        b->total_len[f] += d->len[f];
    }
    int rc = kq__sink_drain(&b->sink[KQ_SEC_DOCT], t, err);
    if (rc)
        return rc;
    b->n_docs++;
    return 0;
}

static int flush_block(kq_segbuild *b, kq_error *err)
{
    if (!b->block.n)
        return 0;
    uint32_t first = b->block.first_doc, n = b->block.n, raw_len = 0;
    b->scratch.len = 0;
    int rc = kq__storeblock_compress(&b->block, b->cctx, b->cdict, &b->scratch, &raw_len, err);
    if (rc)
        return rc;
    b->block.first_doc = first + n;
    kq_buf comp = b->scratch;
    b->scratch = (kq_buf)KQ_BUF_INIT;
    rc = kq__segbuild_block(b, first, n, raw_len, comp.p, comp.len, err);
    b->scratch = comp;
    b->scratch.len = 0;
    return rc;
}

int kq__segbuild_doc(kq_segbuild *b, const struct kq_docrec *d, const void *text,
                     size_t text_len, kq_error *err)
{
    if (!b->block.n)
        b->block.first_doc = b->n_docs;
    int rc = kq__segbuild_doc_meta(b, d, err);
    if (rc)
        return rc;
    rc = kq__storeblock_add(&b->block, text, text_len);
    if (rc)
        return rc == KQ_ENOMEM ? kq__enomem(err)
                               : kq__error(err, rc, -1, "document '%.*s' is too large to store",
                                           (int)d->id_len, d->id);
    if (b->block.raw.len >= KQ_STORE_BLOCK)
        return flush_block(b, err);
    return 0;
}

int kq__segbuild_take_store(kq_segbuild *b, kq_sink *dsto, kq_error *err)
{
    if (b->sink[KQ_SEC_DSTO].size || b->block.n || b->taken)
        return kq__error(err, KQ_EINTERNAL, -1, "a store taken after blocks were added");
    kq_sink t = b->sink[KQ_SEC_DSTO];
    b->sink[KQ_SEC_DSTO] = *dsto;
    *dsto = t;
    b->taken = 1;
    b->taken_used = 0;
    return 0;
}

int kq__segbuild_block(kq_segbuild *b, uint32_t first_doc, uint32_t n, uint32_t raw_len,
                       const void *comp, size_t comp_len, kq_error *err)
{
    if (b->block.n && b->block.first_doc < first_doc) {
        int rc = flush_block(b, err);
        if (rc)
            return rc;
    }
    if (comp_len > UINT32_MAX)
        return kq__error(err, KQ_ELIMIT, -1, "store block too large");
    /* a block of a store taken is in the sink already, after the blocks declared before */
    uint64_t off = comp ? b->sink[KQ_SEC_DSTO].size : b->taken_used;
    if ((comp == NULL) != b->taken || (!comp && comp_len > b->sink[KQ_SEC_DSTO].size - off))
        return kq__error(err, KQ_EINTERNAL, -1, "a store block not in the store taken");
    uint8_t e[KQ_DSIX_ENTRY];
    kq_put_le32(e, first_doc);
    kq_put_le32(e + 4, n);
    kq_put_le64(e + 8, off);
    kq_put_le32(e + 16, (uint32_t)comp_len);
    kq_put_le32(e + 20, raw_len);
    if (kq_buf_append(&b->dsix, e, sizeof e))
        return kq__enomem(err);
    if (!comp) {
        b->taken_used += comp_len;
        return 0;
    }
    return kq__sink_append(&b->sink[KQ_SEC_DSTO], comp, comp_len, err);
}

void kq__segbuild_term_begin(kq_segbuild *b, int field)
{
    b->field = field;
    kq_postings_writer_begin(b->pw, &b->posn, 1);
}

uint32_t kq__segbuild_dl(const kq_segbuild *b, int field, uint32_t doc)
{
    return kq_get_le32(b->dlen[field].p + 4 * (size_t)doc);
}

/* The error of a failed kq_postings_writer_add. */
static int add_error(int rc, kq_error *err)
{
    if (rc == KQ_ENOMEM)
        return kq__enomem(err);
    if (rc == KQ_ELIMIT)
        return kq__error(err, KQ_ELIMIT, -1,
                         "a word's positions in 128 documents pass 2 GiB (FORMAT.md P17)");
    return kq__error(err, KQ_EINTERNAL, -1, "postings out of order");
}

/* Adds a posting to `pw`, with its positions `pos`, or `enc` (encoded, see
 * kq__segbuild_term_add). */
static int add_posting(kq_postings_writer *pw, const kq_segbuild *b, int field, uint32_t doc,
                       uint32_t tf, const uint32_t *pos, const uint8_t *enc, size_t enc_len,
                       kq_error *err)
{
    if (doc >= b->n_docs)
        return kq__error(err, KQ_EINTERNAL, -1, "posting for document %u of %u", doc,
                         b->n_docs);
    uint32_t dl = kq__segbuild_dl(b, field, doc);
    int rc = enc ? kq_postings_writer_add_encoded(pw, doc, tf, dl, enc, enc_len)
                 : kq_postings_writer_add(pw, doc, tf, dl, pos);
    return rc ? add_error(rc, err) : 0;
}

int kq__segbuild_term_add(kq_segbuild *b, uint32_t doc, uint32_t tf, const uint32_t *pos,
                          const uint8_t *enc, size_t enc_len, kq_error *err)
{
    int rc = add_posting(b->pw, b, b->field, doc, tf, pos, enc, enc_len, err);
    if (rc)
        return rc;
    b->n_postings[b->field]++;
    b->n_positions[b->field] += tf;
    if (b->posn.len >= KQ_SEGBUILD_STAGE)
        return kq__sink_drain(&b->sink[KQ_SEC_POSN], &b->posn, err);
    return 0;
}

int kq__segbuild_term_end(kq_segbuild *b, const uint8_t *key, size_t key_len, kq_error *err)
{
    struct kq_term_meta meta;
    uint64_t docs_base = b->sink[KQ_SEC_POST].size;
    uint64_t pos_base = b->sink[KQ_SEC_POSN].size;
    int rc = kq_postings_writer_end(b->pw, &b->post, docs_base, pos_base, &meta);
    if (rc)
        return rc == KQ_ENOMEM ? kq__enomem(err)
                               : kq__error(err, KQ_EINTERNAL, -1, "term without postings");
    rc = kq_termdict_writer_add(b->tw, &b->tdic, key, key_len, &meta);
    if (rc)
        return rc == KQ_ENOMEM ? kq__enomem(err)
                               : kq__error(err, KQ_EINTERNAL, -1, "terms out of order");
    b->n_terms++;
    if (b->post.len >= KQ_SEGBUILD_STAGE &&
        (rc = kq__sink_drain(&b->sink[KQ_SEC_POST], &b->post, err)))
        return rc;
    if (b->tdic.len >= KQ_SEGBUILD_STAGE &&
        (rc = kq__sink_drain(&b->sink[KQ_SEC_TDIC], &b->tdic, err)))
        return rc;
    return 0;
}

int kq__segbuild_append_encoded(kq_segbuild *b, kq_buf *post, kq_buf *posn,
                                uint64_t *post_base, uint64_t *pos_base, kq_error *err)
{
    int rc = kq__sink_drain(&b->sink[KQ_SEC_POST], &b->post, err);
    if (!rc)
        rc = kq__sink_drain(&b->sink[KQ_SEC_POSN], &b->posn, err);
    *post_base = b->sink[KQ_SEC_POST].size;
    *pos_base = b->sink[KQ_SEC_POSN].size;
    if (!rc)
        rc = kq__sink_drain(&b->sink[KQ_SEC_POST], post, err);
    if (!rc)
        rc = kq__sink_drain(&b->sink[KQ_SEC_POSN], posn, err);
    return rc;
}

int kq__segbuild_term_meta(kq_segbuild *b, const uint8_t *key, size_t key_len,
                           const struct kq_term_meta *meta, kq_error *err)
{
    int rc = kq_termdict_writer_add(b->tw, &b->tdic, key, key_len, meta);
    if (rc)
        return rc == KQ_ENOMEM ? kq__enomem(err)
                               : kq__error(err, KQ_EINTERNAL, -1, "terms out of order");
    b->n_terms++;
    b->n_postings[key[0] ? 1 : 0] += meta->df;
    b->n_positions[key[0] ? 1 : 0] += meta->cf;
    if (b->tdic.len >= KQ_SEGBUILD_STAGE)
        return kq__sink_drain(&b->sink[KQ_SEC_TDIC], &b->tdic, err);
    return 0;
}

size_t kq__segbuild_memory(const kq_segbuild *b)
{
    size_t n = b->post.cap + b->posn.cap + b->tdic.cap + b->doct_off.cap + b->dsix.cap +
               b->scratch.cap + b->block.raw.cap + b->block.lens.cap;
    for (int f = 0; f < KQ_N_FIELDS; f++)
        n += b->dlen[f].cap;
    return n;
}

/* Grows `buf` to hold exactly `extra` more bytes (kq_buf_reserve rounds up to a power of
 * two). */
static int reserve_exact(kq_buf *buf, size_t extra)
{
    if (extra <= buf->cap - buf->len)
        return 0;
    uint8_t *p = kq__realloc(buf->p, buf->len + extra);
    if (!p)
        return KQ_ENOMEM;
    buf->p = p;
    buf->cap = buf->len + extra;
    return 0;
}

int kq__segbuild_reserve(kq_segbuild *b, uint64_t n_docs, kq_error *err)
{
    if (n_docs >= UINT32_MAX - b->n_docs)
        return kq__error(err, KQ_ELIMIT, -1, "too many documents in one segment");
    /* the offsets end with one past the last document's (kq__segbuild_finish) */
    if (reserve_exact(&b->doct_off, 8 * ((size_t)n_docs + 1)))
        return kq__enomem(err);
    for (int f = 0; f < KQ_N_FIELDS; f++)
        if (reserve_exact(&b->dlen[f], 4 * (size_t)n_docs))
            return kq__enomem(err);
    return 0;
}

/* ---- terms encoded apart ---- */

/* A dictionary record of a spill: [varint key_len][key][varint df, cf, doc_off, doc_len,
 * pos_off, pos_len, n_impacts][varint tf, dl per impact]; at most this long: */
#define SPILL_REC_MAX (KQ_VARINT_MAX * (8 + 2 * KQ_IMPACTS_MAX) + KQ_KEY_MAX)
#define SPILL_READ (256u << 10)

int kq__termspill_init(kq_termspill *t, const kq_segbuild *sb, size_t spill_bytes,
                       kq_error *err)
{
    memset(t, 0, sizeof *t);
    t->sb = sb;
    t->post.fd = t->posn.fd = t->dict.fd = -1;
    if (kq__sink_init(&t->post, sb->dir, spill_bytes) ||
        kq__sink_init(&t->posn, sb->dir, spill_bytes) ||
        kq__sink_init(&t->dict, sb->dir, spill_bytes) || kq_postings_writer_new(&t->pw)) {
        kq__termspill_release(t);
        return kq__enomem(err);
    }
    return 0;
}

void kq__termspill_release(kq_termspill *t)
{
    if (!t)
        return;
    kq__sink_release(&t->post);
    kq__sink_release(&t->posn);
    kq__sink_release(&t->dict);
    kq_postings_writer_free(t->pw);
    kq_buf_release(&t->post_buf);
    kq_buf_release(&t->posn_buf);
    kq_buf_release(&t->dict_buf);
    memset(t, 0, sizeof *t);
    t->post.fd = t->posn.fd = t->dict.fd = -1;
}

void kq__termspill_begin(kq_termspill *t, int field)
{
    t->field = field;
    kq_postings_writer_begin(t->pw, &t->posn_buf, 1);
}

int kq__termspill_add(kq_termspill *t, uint32_t doc, uint32_t tf, const uint32_t *pos,
                      const uint8_t *enc, size_t enc_len, kq_error *err)
{
    int rc = add_posting(t->pw, t->sb, t->field, doc, tf, pos, enc, enc_len, err);
    if (rc)
        return rc;
    if (t->posn_buf.len >= KQ_SEGBUILD_STAGE)
        return kq__sink_drain(&t->posn, &t->posn_buf, err);
    return 0;
}

int kq__termspill_end(kq_termspill *t, const uint8_t *key, size_t key_len, kq_error *err)
{
    struct kq_term_meta m;
    if (!key_len || key_len > KQ_KEY_MAX)
        return kq__error(err, KQ_EINTERNAL, -1, "key of %zu bytes", key_len);
    int rc = kq_postings_writer_end(t->pw, &t->post_buf, t->post.size, t->posn.size, &m);
    if (rc)
        return rc == KQ_ENOMEM ? kq__enomem(err)
                               : kq__error(err, KQ_EINTERNAL, -1, "term without postings");
    uint8_t rec[SPILL_REC_MAX], *q = rec;
    q += kq_varint_put(q, key_len);
    memcpy(q, key, key_len);
    q += key_len;
    uint64_t v[7] = {m.df, m.cf, m.doc_off, m.doc_len, m.pos_off, m.pos_len, m.n_impacts};
    for (int i = 0; i < 7; i++)
        q += kq_varint_put(q, v[i]);
    for (uint32_t i = 0; i < m.n_impacts && i < KQ_IMPACTS_MAX; i++) {
        q += kq_varint_put(q, m.impacts[i].tf);
        q += kq_varint_put(q, m.impacts[i].dl);
    }
    if (kq_buf_append(&t->dict_buf, rec, (size_t)(q - rec)))
        return kq__enomem(err);
    if (t->post_buf.len >= KQ_SEGBUILD_STAGE &&
        (rc = kq__sink_drain(&t->post, &t->post_buf, err)))
        return rc;
    if (t->dict_buf.len >= KQ_SEGBUILD_STAGE &&
        (rc = kq__sink_drain(&t->dict, &t->dict_buf, err)))
        return rc;
    return 0;
}

/* Reads a sink's bytes in order: what it spilled, then what it holds. */
struct sink_reader {
    const kq_sink *s;
    uint64_t off; /* next byte of the stream to read */
    uint8_t *buf;
    size_t pos, len;
};

/* Moves the unread bytes to the front and reads until the buffer (SPILL_READ bytes) is
 * full or the stream ends. */
static int reader_fill(struct sink_reader *r, kq_error *err)
{
    memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
    const kq_sink *s = r->s;
    while (r->len < SPILL_READ && r->off < s->size) {
        size_t room = SPILL_READ - r->len;
        if (r->off < s->on_disk) {
            uint64_t left = s->on_disk - r->off;
            size_t want = left < room ? (size_t)left : room;
            ssize_t n = pread(s->fd, r->buf + r->len, want, (off_t)r->off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return kq__error(err, KQ_EIO, -1, "cannot read back a temporary file: %s",
                                 n < 0 ? strerror(errno) : "short read");
            r->len += (size_t)n;
            r->off += (uint64_t)n;
        } else {
            uint64_t left = s->size - r->off;
            size_t want = left < room ? (size_t)left : room;
            memcpy(r->buf + r->len, s->mem.p + (r->off - s->on_disk), want);
            r->len += want;
            r->off += want;
        }
    }
    return 0;
}

static int sink_copy_into(kq_sink *dst, const kq_sink *src, uint8_t *buf, kq_error *err)
{
    struct sink_reader r = {src, 0, buf, 0, 0};
    int rc = 0;
    while (!rc && r.off < src->size) {
        r.pos = r.len; /* everything read is appended */
        if (!(rc = reader_fill(&r, err)))
            rc = kq__sink_append(dst, r.buf, r.len, err);
    }
    return rc;
}

/* Decodes one dictionary record at p; returns its length, 0 when malformed. */
static int spill_rec(const uint8_t *p, const uint8_t *end, const uint8_t **key,
                     size_t *key_len, struct kq_term_meta *m)
{
    const uint8_t *q = p;
    uint64_t v[8];
    size_t n = kq_varint_get(q, end, &v[0]);
    if (!n || !v[0] || v[0] > KQ_KEY_MAX || v[0] > (size_t)(end - q - n))
        return 0;
    q += n;
    *key = q;
    *key_len = (size_t)v[0];
    q += v[0];
    for (int i = 0; i < 7; i++) {
        if (!(n = kq_varint_get(q, end, &v[i])))
            return 0;
        q += n;
    }
    if (!v[6] || v[6] > KQ_IMPACTS_MAX || v[0] > UINT32_MAX)
        return 0;
    memset(m, 0, sizeof *m);
    m->df = (uint32_t)v[0];
    m->cf = v[1];
    m->doc_off = v[2];
    m->doc_len = v[3];
    m->pos_off = v[4];
    m->pos_len = v[5];
    m->n_impacts = (uint32_t)v[6];
    for (uint32_t i = 0; i < m->n_impacts; i++) {
        if (!(n = kq_varint_get(q, end, &v[0])))
            return 0;
        q += n;
        if (!(n = kq_varint_get(q, end, &v[1])))
            return 0;
        q += n;
        m->impacts[i].tf = (uint32_t)v[0];
        m->impacts[i].dl = (uint32_t)v[1];
    }
    return (int)(q - p);
}

int kq__segbuild_append_terms(kq_segbuild *b, kq_termspill *t, kq_error *err)
{
    int rc = kq__sink_drain(&b->sink[KQ_SEC_POST], &b->post, err);
    if (!rc)
        rc = kq__sink_drain(&b->sink[KQ_SEC_POSN], &b->posn, err);
    if (!rc)
        rc = kq__sink_drain(&t->post, &t->post_buf, err);
    if (!rc)
        rc = kq__sink_drain(&t->posn, &t->posn_buf, err);
    if (!rc)
        rc = kq__sink_drain(&t->dict, &t->dict_buf, err);
    if (rc)
        return rc;
    uint8_t *buf = kq__malloc(SPILL_READ);
    if (!buf)
        return kq__enomem(err);
    uint64_t post_base = b->sink[KQ_SEC_POST].size, pos_base = b->sink[KQ_SEC_POSN].size;
    rc = sink_copy_into(&b->sink[KQ_SEC_POST], &t->post, buf, err);
    if (!rc)
        rc = sink_copy_into(&b->sink[KQ_SEC_POSN], &t->posn, buf, err);
    struct sink_reader r = {&t->dict, 0, buf, 0, 0};
    while (!rc && (r.pos < r.len || r.off < t->dict.size)) {
        if (r.len - r.pos < SPILL_REC_MAX && r.off < t->dict.size &&
            (rc = reader_fill(&r, err)))
            break;
        const uint8_t *key;
        size_t key_len;
        struct kq_term_meta m;
        int n = spill_rec(r.buf + r.pos, r.buf + r.len, &key, &key_len, &m);
        if (!n) {
            rc = kq__error(err, KQ_EINTERNAL, -1, "bad term record in a temporary file");
            break;
        }
        r.pos += (size_t)n;
        m.doc_off += post_base;
        m.pos_off += pos_base;
        rc = kq__segbuild_term_meta(b, key, key_len, &m, err);
    }
    kq__free(buf);
    return rc;
}

int kq__segbuild_finish(kq_segbuild *b, const char *path, uint64_t *size,
                        uint64_t *postings_bytes, uint64_t *positions_bytes, kq_error *err)
{
    if (b->taken && b->taken_used != b->sink[KQ_SEC_DSTO].size)
        return kq__error(err, KQ_EINTERNAL, -1, "store bytes no block declares");
    int rc = flush_block(b, err);
    if (rc)
        return rc;
    kq_buf tidx = KQ_BUF_INIT;
    uint64_t n_terms = 0;
    if (kq_termdict_writer_finish(b->tw, &b->tdic, &tidx, &n_terms)) {
        kq_buf_release(&tidx);
        return kq__enomem(err);
    }
    rc = kq__sink_drain(&b->sink[KQ_SEC_TIDX], &tidx, err);
    kq_buf_release(&tidx);
    if (!rc)
        rc = kq__sink_drain(&b->sink[KQ_SEC_TDIC], &b->tdic, err);
    if (!rc)
        rc = kq__sink_drain(&b->sink[KQ_SEC_POST], &b->post, err);
    if (!rc)
        rc = kq__sink_drain(&b->sink[KQ_SEC_POSN], &b->posn, err);
    /* DOCT ends with the n+1 entry offsets */
    if (!rc && kq_buf_put_u64(&b->doct_off, b->sink[KQ_SEC_DOCT].size))
        rc = kq__enomem(err);
    if (!rc)
        rc = kq__sink_drain(&b->sink[KQ_SEC_DOCT], &b->doct_off, err);
    for (int f = 0; f < KQ_N_FIELDS && !rc; f++)
        rc = kq__sink_drain(&b->sink[KQ_SEC_DLEN], &b->dlen[f], err);
    if (!rc)
        rc = kq__sink_drain(&b->sink[KQ_SEC_DSIX], &b->dsix, err);
    if (rc)
        return rc;

    uint8_t m[KQ_META_SIZE];
    memset(m, 0, sizeof m);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    kq_put_le32(m, b->n_docs);
    kq_put_le32(m + 4, KQ_N_FIELDS);
    kq_put_le64(m + 8, n_terms);
    kq_put_le64(m + 16, b->total_len[KQ_FIELD_TEXT]);
    kq_put_le64(m + 24, b->total_len[KQ_FIELD_TITLE]);
    kq_put_le64(m + 32, b->n_postings[0] + b->n_postings[1]);
    kq_put_le64(m + 40, b->n_positions[0] + b->n_positions[1]);
    kq_put_le64(m + 48, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    memcpy(m + 56, b->language, strnlen(b->language, KQ_LANG_MAX - 1));
    kq_put_le32(m + 88, 1); /* flags: positions present */
    kq_put_le32(m + 92, b->n_sources);
    rc = kq__sink_append(&b->sink[KQ_SEC_META], m, sizeof m, err);
    if (rc)
        return rc;
    kq_sink *secs[KQ_SEC_COUNT];
    for (int i = 0; i < KQ_SEC_COUNT; i++)
        secs[i] = &b->sink[i];
    if (postings_bytes)
        *postings_bytes = b->sink[KQ_SEC_POST].size;
    if (positions_bytes)
        *positions_bytes = b->sink[KQ_SEC_POSN].size;
    return kq__segment_write(path, secs, !b->temporary, size, err);
}
