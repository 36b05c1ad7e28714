/* index/merge.c: merging segments into one, streaming.
 *
 * Documents keep their order: the documents of input i follow those of inputs 0..i-1.
 * Terms are merged in key order with a k-way merge of the inputs' dictionaries; a term's
 * postings are the concatenation of its postings in each input, shifted by the input's
 * document base, re-encoded into blocks. Memory: one term's postings and positions at a
 * time, plus the builder's per-document arrays.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "index/build.h"
#include "index/reader.h"
#include "index/segbuild.h"
#include "util/alloc.h"
#include "util/bytes.h"
#include "util/error.h"

struct head {
    kq_termdict_iter it;
    const uint8_t *key;
    size_t len;
    struct kq_term_meta meta;
    int live;
    uint32_t since_drop; /* terms merged since the pages behind them were dropped */
};

/* Tells the kernel the mapped pages of [from, to) will not be read again, so that merging
 * large inputs does not grow the resident set by their size (the pages are file-backed:
 * they come back from the page cache if they are read after all). */
static void drop_pages(const uint8_t *from, const uint8_t *to)
{
    static long page;
    if (!page)
        page = sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)from + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t b = (uintptr_t)to & ~(uintptr_t)(page - 1);
    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Drops the pages of the postings, positions and dictionary of `s` before the current
 * term: terms are laid out in key order and the merge reads them in key order. */
static void drop_behind(const kq_seg *s, const struct head *h)
{
    const kq_segfile *f = &s->f;
    if (h->meta.doc_off <= f->sec[KQ_SEC_POST].len)
        drop_pages(f->sec[KQ_SEC_POST].p, f->sec[KQ_SEC_POST].p + h->meta.doc_off);
    if (h->meta.pos_off <= f->sec[KQ_SEC_POSN].len)
        drop_pages(f->sec[KQ_SEC_POSN].p, f->sec[KQ_SEC_POSN].p + h->meta.pos_off);
}

static int advance(struct head *h, kq_error *err)
{
    int r = kq_termdict_next(&h->it, &h->key, &h->len, &h->meta, err);
    if (r < 0)
        return r;
    h->live = r == 1;
    return 0;
}

/* Copies the documents of `s` (shifted by `base`) into the builder. */
static int merge_docs(kq_segbuild *b, const kq_seg *s, uint64_t dict_hash, kq_error *err)
{
    uint32_t base = b->n_docs;
    /* sources of this input, mapped to the output's */
    uint32_t *src_map = NULL;
    if (s->n_srcs) {
        src_map = kq__calloc(s->n_srcs, sizeof *src_map);
        if (!src_map)
            return kq__enomem(err);
    }
    int rc = 0;
    for (uint32_t i = 0; i < s->n_srcs && !rc; i++) {
        struct kq_srcrec r = {s->srcs[i].path, s->srcs[i].path_len, s->srcs[i].size,
                              s->srcs[i].mtime_ns, s->srcs[i].hash};
        rc = kq__segbuild_source(b, &r, &src_map[i], err);
    }
    int copy_blocks = s->dict_hash == dict_hash;
    for (uint32_t d = 0; d < s->n_docs && !rc; d++) {
        struct kq_doc doc;
        if ((rc = kq__seg_doc(s, d, &doc, err)))
            break;
        struct kq_docrec rec = {doc.id, doc.id_len, doc.title, doc.title_len, 0, doc.line,
                                doc.size, doc.mtime_ns, doc.hash, (uint8_t)doc.format,
                                {doc.len[0], doc.len[1]}};
        if (doc.path != doc.id) {
            /* find the source index by pointer identity within the segment */
            for (uint32_t k = 0; k < s->n_srcs; k++)
                if (s->srcs[k].path == doc.path)
                    rec.src = src_map[k] + 1;
        }
        if (copy_blocks) {
            rc = kq__segbuild_doc_meta(b, &rec, err);
        } else {
            char *text;
            size_t len;
            if ((rc = kq__seg_doc_text(s, d, &text, &len, err)))
                break;
            rc = kq__segbuild_doc(b, &rec, text, len, err);
            kq__free(text);
        }
    }
    for (uint32_t k = 0; copy_blocks && k < s->n_blocks && !rc; k++) {
        const uint8_t *e = s->dsix + (size_t)k * KQ_DSIX_ENTRY;
        rc = kq__segbuild_block(b, base + kq_get_le32(e), kq_get_le32(e + 4),
                                kq_get_le32(e + 20), s->f.sec[KQ_SEC_DSTO].p + kq_get_le64(e + 8),
                                kq_get_le32(e + 16), err);
    }
    drop_pages(s->f.sec[KQ_SEC_DSTO].p, s->f.sec[KQ_SEC_DSTO].p + s->f.sec[KQ_SEC_DSTO].len);
    drop_pages(s->f.sec[KQ_SEC_DOCT].p, s->f.sec[KQ_SEC_DOCT].p + s->f.sec[KQ_SEC_DOCT].len);
    kq__free(src_map);
    return rc;
}

int kq__merge_segments(kq_segbuild *b, kq_seg *segs, size_t n, uint64_t dict_hash,
                       kq_error *err)
{
    int rc = 0;
    uint32_t *bases = kq__calloc(n ? n : 1, sizeof *bases);
    struct head *heads = kq__calloc(n ? n : 1, sizeof *heads);
    uint32_t *pos = NULL;
    uint32_t pos_cap = 0;
    if (!bases || !heads) {
        rc = kq__enomem(err);
        goto out;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        bases[i] = b->n_docs;
        rc = merge_docs(b, &segs[i], dict_hash, err);
    }
    for (size_t i = 0; i < n && !rc; i++) {
        rc = kq_termdict_seek(&segs[i].td, &heads[i].it, NULL, 0, err);
        if (!rc)
            rc = advance(&heads[i], err);
    }
    while (!rc) {
        int best = -1;
        for (size_t i = 0; i < n; i++)
            if (heads[i].live &&
                (best < 0 || kq__key_cmp(heads[i].key, heads[i].len, heads[best].key,
                                     heads[best].len) < 0))
                best = (int)i;
        if (best < 0)
            break;
        uint8_t key[KQ_KEY_MAX];
        size_t key_len = heads[best].len;
        memcpy(key, heads[best].key, key_len);
        if (!key_len || key[0] >= KQ_N_FIELDS) {
            rc = kq__error(err, KQ_ECORRUPT, -1, "segment '%s': key of an unknown field",
                           segs[best].f.name);
            break;
        }
        kq__segbuild_term_begin(b, key[0]);
        for (size_t i = 0; i < n && !rc; i++) {
            struct head *h = &heads[i];
            if (!h->live || kq__key_cmp(h->key, h->len, key, key_len) != 0)
                continue;
            kq_postings_cursor pc;
            const kq_seg *s = &segs[i];
            rc = kq_postings_open(&pc, s->f.sec[KQ_SEC_POST].p, s->f.sec[KQ_SEC_POST].len,
                                  s->f.sec[KQ_SEC_POSN].p, s->f.sec[KQ_SEC_POSN].len, &h->meta,
                                  err);
            if (rc)
                break;
            uint32_t d;
            while (!rc && (d = kq_postings_next(&pc)) != KQ_DOC_END) {
                uint32_t tf = kq_postings_tf(&pc);
                if (d >= s->n_docs) {
                    rc = kq__error(err, KQ_ECORRUPT, -1, "segment '%s': posting past the "
                                   "last document in section 'POST'", s->f.name);
                    break;
                }
                if (tf > pos_cap) {
                    uint32_t cap = tf * 2 > tf ? tf * 2 : tf;
                    uint32_t *v = kq__realloc(pos, (size_t)cap * sizeof *v);
                    if (!v) {
                        rc = kq__enomem(err);
                        break;
                    }
                    pos = v;
                    pos_cap = cap;
                }
                int np = kq_postings_positions(&pc, pos);
                if (np < 0 || (uint32_t)np != tf) {
                    rc = kq__error(err, KQ_ECORRUPT, -1,
                                   "segment '%s': bad positions in section 'POSN'", s->f.name);
                    break;
                }
                rc = kq__segbuild_term_add(b, bases[i] + d, tf, pos, err);
            }
            if (!rc && kq_postings_error(&pc))
                rc = kq__error(err, KQ_ECORRUPT, -1,
                               "segment '%s': bad postings in section 'POST'", s->f.name);
            kq_postings_close(&pc);
            if (!rc)
                rc = advance(h, err);
            if (!rc && h->live && ++h->since_drop == 4096) {
                drop_behind(s, h);
                h->since_drop = 0;
            }
        }
        if (!rc)
            rc = kq__segbuild_term_end(b, key, key_len, err);
    }
out:
    kq__free(bases);
    kq__free(heads);
    kq__free(pos);
    return rc;
}

int kq__merge_files(const char *dir, const char *const *paths, size_t n, size_t spill,
                    const char *language,
                    const ZSTD_CDict *cdict, const void *dict, size_t dict_len, const char *out,
                    uint64_t *size, uint64_t *post_bytes, uint64_t *pos_bytes,
                    uint64_t *n_terms, kq_error *err)
{
    kq_seg *segs = kq__calloc(n ? n : 1, sizeof *segs);
    if (!segs)
        return kq__enomem(err);
    kq_segbuild b;
    int rc = kq__segbuild_init(&b, dir, spill, language, cdict, dict, dict_len, err);
    size_t opened = 0;
    for (; opened < n && !rc; opened++)
        if ((rc = kq__seg_open(&segs[opened], paths[opened], 0, err)))
            break;
    if (!rc)
        rc = kq__merge_segments(&b, segs, n, dict_len ? XXH3_64bits(dict, dict_len) : 0, err);
    if (!rc) {
        *n_terms = b.n_terms;
        rc = kq__segbuild_finish(&b, out, size, post_bytes, pos_bytes, err);
    }
    for (size_t i = 0; i < opened && i < n; i++)
        kq__seg_close(&segs[i]);
    kq__free(segs);
    kq__segbuild_release(&b);
    return rc;
}
