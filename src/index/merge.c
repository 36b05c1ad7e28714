/* index/merge.c: merging segments into one, streaming, and running the merge policy on
 * an index.
 *
 * Documents keep their order: the live documents of input i follow those of inputs
 * 0..i-1, renumbered densely (deleted documents, their postings, their stored text and
 * sources no live document uses are dropped). Terms are merged in key order with a k-way
 * merge of the inputs' dictionaries; a term's postings are the concatenation of its live
 * postings in each input, renumbered, re-encoded into blocks; a key only deleted documents
 * held disappears. Memory: one term's postings and positions at a time, plus the builder's
 * per-document arrays (reserved for the documents that come, no more) and a 4-byte new id
 * per document of an input with deletions. The inputs are mapped, and their pages count in
 * the resident set once read: the merge reads every section front to back and drops the
 * pages behind it as it goes (drop_behind, drop_docs), and every page of an input once it
 * is done with it (what opening read, its documents once copied, all of it at the end), so
 * that the builder and the inputs' pages stay within the `memory` it is given.
 *
 * A policy merge replaces the merged segments by the new one, appended to the manifest
 * (numbers keep increasing), in a commit of its own; ids of the index change, scores do
 * not (statistics are over live documents either way).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "index/build.h"
#include "index/deletes.h"
#include "index/policy.h"
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
    uint64_t drop_post, drop_pos; /* offsets in POST and POSN dropped up to */
    const uint8_t *drop_dict;     /* in TDIC */
};

/* Bytes of an input read, in all, before the pages behind are dropped, for n inputs to
 * keep about `maps` bytes resident. Besides what was read since the last drop, an input
 * keeps some DROP_SLACK bytes resident ahead of where it is read in each of the
 * DROP_SECTIONS sections the term merge reads at once (dictionary, its sparse index,
 * postings, positions): a fault maps the pages around the one that faulted, 64 KiB, or the
 * whole large folio the page cache holds them in (Linux 6.x: up to 256 KiB seen ahead of the
 * reader). The inputs go through their terms at about the same pace, so they drop at about
 * the same time and their peaks add up. An input drops at least every DROP_MAX bytes,
 * however much memory is left: dropping costs a few madvise calls a MiB, and what the merge
 * does not need stays free for the rest of the process. */
#define DROP_SLACK (384u << 10)
#define DROP_SECTIONS 4
#define DROP_MIN (64u << 10)
#define DROP_MAX (1u << 20)
static size_t drop_every(size_t maps, size_t n)
{
    size_t per = maps / (n ? n : 1), slack = (size_t)DROP_SECTIONS * DROP_SLACK;
    per = per > slack ? per - slack : 0;
    return per < DROP_MIN ? DROP_MIN : per > DROP_MAX ? DROP_MAX : per;
}

/* Tells the kernel the mapped pages of [from, to) will not be read again, so that merging
 * large inputs does not grow the resident set by their size (the pages are file-backed:
 * they come back from the page cache if they are read after all). */
static void drop_pages(const uint8_t *from, const uint8_t *to)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0 || to <= from)
        return;
    /* the page `from` lies in too: what precedes it in the page was read before (or is
     * another section's, which comes back if it is read again) */
    size_t page = (size_t)pg, back = (uintptr_t)from % page;
    const uint8_t *a = from - back; /* by pointer arithmetic: the mapping starts a page */
    size_t len = (size_t)(to - a) / page * page;
    if (len)
        madvise((void *)a, len, MADV_DONTNEED);
}

/* Drops the pages of section `id` of `f` (none when the segment has no such section). */
static void drop_section(const kq_segfile *f, int id)
{
    if (f->sec[id].p)
        drop_pages(f->sec[id].p, f->sec[id].p + f->sec[id].len);
}

/* Drops every page of `f`: what opening it read (document lengths and offsets, the store
 * index, the dictionaries' indexes), or all of it once merged. */
static void drop_file(const kq_segfile *f)
{
    drop_pages(f->map, f->map + f->size);
}

/* Drops the pages of the postings, positions and dictionary of `s` before the current
 * term, once `every` bytes of them were read since the last time: terms are laid out in
 * key order and the merge reads them in key order. */
static void drop_behind(const kq_seg *s, struct head *h, size_t every)
{
    const kq_segfile *f = &s->f;
    const uint8_t *dict = h->it.p;
    const uint8_t *d0 = f->sec[KQ_SEC_TDIC].p, *d1 = d0 + f->sec[KQ_SEC_TDIC].len;
    if (!h->drop_dict)
        h->drop_dict = d0;
    if (dict < h->drop_dict || dict > d1)
        dict = h->drop_dict; /* not in the section (at the end): leave it */
    uint64_t post = h->meta.doc_off, pos = h->meta.pos_off;
    if (post < h->drop_post || post > f->sec[KQ_SEC_POST].len)
        post = h->drop_post;
    if (pos < h->drop_pos || pos > f->sec[KQ_SEC_POSN].len)
        pos = h->drop_pos;
    if ((post - h->drop_post) + (pos - h->drop_pos) + (uint64_t)(dict - h->drop_dict) < every)
        return;
    drop_pages(f->sec[KQ_SEC_POST].p + h->drop_post, f->sec[KQ_SEC_POST].p + post);
    drop_pages(f->sec[KQ_SEC_POSN].p + h->drop_pos, f->sec[KQ_SEC_POSN].p + pos);
    drop_pages(h->drop_dict, dict);
    /* the sparse index, read (a little) as blocks are entered: all of it, it comes back a
     * page at a time */
    drop_section(f, KQ_SEC_TIDX);
    h->drop_post = post;
    h->drop_pos = pos;
    h->drop_dict = dict;
}

static int advance(struct head *h, kq_error *err)
{
    int r = kq_termdict_next(&h->it, &h->key, &h->len, &h->meta, err);
    if (r < 0)
        return r;
    h->live = r == 1;
    return 0;
}

/* The index in s->srcs of the source whose path bytes `path` points at (paths lie in SRCS
 * in order), or UINT32_MAX. */
static uint32_t src_index(const kq_seg *s, const char *path)
{
    uint32_t lo = 0, hi = s->n_srcs;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->srcs[mid].path < path)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n_srcs && s->srcs[lo].path == path ? lo : UINT32_MAX;
}

static int doc_rec(const kq_seg *s, uint32_t d, const uint32_t *src_map, struct kq_docrec *rec,
                   kq_error *err)
{
    struct kq_doc doc;
    int rc = kq__seg_doc(s, d, &doc, err);
    if (rc)
        return rc;
    *rec = (struct kq_docrec){doc.id, doc.id_len, doc.title, doc.title_len, 0, doc.line,
                              doc.size, doc.mtime_ns, doc.hash, (uint8_t)doc.format,
                              {doc.len[0], doc.len[1]}};
    if (doc.path != doc.id) {
        uint32_t k = src_index(s, doc.path);
        if (k == UINT32_MAX || !src_map || !src_map[k])
            return kq__error(err, KQ_ECORRUPT, -1, "segment '%s': bad source in section 'DOCT'",
                             s->f.name);
        rec->src = src_map[k];
    }
    return 0;
}

/* Where the document table of `s` has been read to, and dropped up to. */
struct docpos {
    const uint8_t *doct, *off, *store;
};

/* Drops the pages of the document table and store of `s` behind document `d` and store
 * offset `store` once `every` bytes were read since the last time (both are read in
 * order). */
static void drop_docs(const kq_seg *s, uint32_t d, uint64_t store, struct docpos *at,
                      size_t every)
{
    const kq_segfile *f = &s->f;
    if (d > s->n_docs || store > f->sec[KQ_SEC_DSTO].len)
        return;
    const uint8_t *doct = s->doct + kq_get_le64(s->doct_off + 8 * (size_t)d);
    const uint8_t *off = s->doct_off + 8 * (size_t)d, *sto = f->sec[KQ_SEC_DSTO].p + store;
    if (!at->doct)
        *at = (struct docpos){s->doct, s->doct_off, f->sec[KQ_SEC_DSTO].p};
    if (doct < at->doct || off < at->off || sto < at->store ||
        (size_t)(doct - at->doct) + (size_t)(off - at->off) + (size_t)(sto - at->store) < every)
        return;
    drop_pages(at->doct, doct);
    drop_pages(at->off, off);
    drop_pages(at->store, sto);
    *at = (struct docpos){doct, off, sto};
}

/* Copies the live documents of `s` into the builder; `map` (when s has deletions) receives
 * each document's new id, UINT32_MAX for a deleted one. A store block without deleted
 * documents made with the builder's dictionary is copied as it is; others are decompressed
 * and their live documents compressed again. */
static int merge_docs(kq_segbuild *b, const kq_seg *s, uint64_t dict_hash, uint32_t *map,
                      size_t every, kq_error *err)
{
    struct docpos at = {0};
    /* the sources live documents refer to, numbered anew (src_map[k] = new index + 1) */
    uint32_t *src_map = NULL;
    int rc = 0;
    if (s->n_srcs && !(src_map = kq__calloc(s->n_srcs, sizeof *src_map)))
        return kq__enomem(err);
    for (uint32_t d = 0; d < s->n_docs && s->n_srcs && !rc; d++) {
        struct kq_doc doc;
        if (kq__del_test(s->del, d))
            continue;
        if ((rc = kq__seg_doc(s, d, &doc, err)))
            break;
        uint32_t k = doc.path != doc.id ? src_index(s, doc.path) : UINT32_MAX;
        if (k != UINT32_MAX && src_map)
            src_map[k] = 1;
        if (!(d & 1023))
            drop_docs(s, d, 0, &at, every);
    }
    if (s->n_srcs) { /* the table is read again from its start */
        const uint8_t *t = s->f.sec[KQ_SEC_DOCT].p;
        drop_pages(t, t + s->f.sec[KQ_SEC_DOCT].len);
    }
    at = (struct docpos){0};
    for (uint32_t i = 0; i < s->n_srcs && !rc; i++) {
        if (!src_map[i])
            continue; /* no live document of it left: the record goes */
        struct kq_srcrec r = {s->srcs[i].path, s->srcs[i].path_len, s->srcs[i].size,
                              s->srcs[i].mtime_ns, s->srcs[i].hash};
        uint32_t k;
        if (!(rc = kq__segbuild_source(b, &r, &k, err)))
            src_map[i] = k + 1;
    }
    int copy_blocks = s->dict_hash == dict_hash;
    for (uint32_t k = 0; k < s->n_blocks && !rc; k++) {
        const uint8_t *e = s->dsix + (size_t)k * KQ_DSIX_ENTRY;
        uint32_t first = kq_get_le32(e), n = kq_get_le32(e + 4);
        drop_docs(s, first, kq_get_le64(e + 8), &at, every);
        int dead = 0;
        for (uint32_t d = first; d < first + n && !dead; d++)
            dead = kq__del_test(s->del, d);
        if (copy_blocks && !dead) {
            uint32_t new_first = b->n_docs;
            for (uint32_t d = first; d < first + n && !rc; d++) {
                struct kq_docrec rec;
                if (!(rc = doc_rec(s, d, src_map, &rec, err)))
                    rc = kq__segbuild_doc_meta(b, &rec, err);
                if (map)
                    map[d] = b->n_docs - 1;
            }
            if (!rc)
                rc = kq__segbuild_block(b, new_first, n, kq_get_le32(e + 20),
                                        s->f.sec[KQ_SEC_DSTO].p + kq_get_le64(e + 8),
                                        kq_get_le32(e + 16), err);
            continue;
        }
        uint8_t *raw;
        size_t raw_len;
        if ((rc = kq__seg_block(s, k, &raw, &raw_len, err)))
            break;
        if (kq_get_le32(raw) != n) {
            kq__free(raw);
            rc = kq__error(err, KQ_ECORRUPT, -1, "segment '%s': store block %u holds the wrong "
                           "documents in section 'DSTO'", s->f.name, k);
            break;
        }
        size_t off = 4 + 4 * (size_t)n;
        for (uint32_t i = 0; i < n && !rc; i++) {
            uint32_t d = first + i;
            size_t l = kq_get_le32(raw + 4 + 4 * (size_t)i);
            if (kq__del_test(s->del, d)) {
                if (map) /* always: a segment with deletions has a map */
                    map[d] = UINT32_MAX;
            } else {
                struct kq_docrec rec;
                if (!(rc = doc_rec(s, d, src_map, &rec, err)))
                    rc = kq__segbuild_doc(b, &rec, raw + off, l, err);
                if (map)
                    map[d] = b->n_docs - 1;
            }
            off += l;
        }
        kq__free(raw);
    }
    drop_file(&s->f); /* the terms are read later, from their start */
    kq__free(src_map);
    return rc;
}

/* What the builder `b` keeps in memory: its arrays and buffers, and its sinks' (each up to
 * its spill threshold). */
static size_t builder_memory(const kq_segbuild *b)
{
    size_t m = kq__segbuild_memory(b);
    for (int i = 0; i < KQ_SEC_COUNT; i++)
        m += b->sink[i].spill_bytes;
    return m;
}

/* The term merge runs in up to MERGE_PARTS key ranges side by side, each thread's its own:
 * the first range goes into the builder, the others into term spills appended after it. A
 * merge smaller than MERGE_PART_MIN bytes of postings and positions stays on one thread. */
#define MERGE_PARTS 8
#define MERGE_PART_MIN (256u << 10)

/* One key range of the term merge: keys in [lo, hi) (lo_len 0: from the first key; hi_len
 * 0: to the last). */
struct mpart {
    kq_segbuild *b;   /* the builder (the first range), or NULL: */
    kq_termspill ts;  /* the spill the range goes to */
    int ts_init;
    kq_seg *const *segs;
    size_t n;
    uint32_t *const *maps;
    const uint32_t *bases;
    size_t every;
    int own; /* the inputs are runs this process wrote: positions are copied as they are */
    uint8_t lo[KQ_KEY_MAX], hi[KQ_KEY_MAX];
    size_t lo_len, hi_len;
    pthread_t thread;
    int started;
    int rc;
    kq_error err;
};

static void part_begin(struct mpart *m, int field)
{
    if (m->b)
        kq__segbuild_term_begin(m->b, field);
    else
        kq__termspill_begin(&m->ts, field);
}

static int part_add(struct mpart *m, uint32_t doc, uint32_t tf, const uint32_t *pos,
                    const uint8_t *enc, size_t enc_len)
{
    return m->b ? kq__segbuild_term_add(m->b, doc, tf, pos, enc, enc_len, &m->err)
                : kq__termspill_add(&m->ts, doc, tf, pos, enc, enc_len, &m->err);
}

static int part_end(struct mpart *m, const uint8_t *key, size_t key_len)
{
    return m->b ? kq__segbuild_term_end(m->b, key, key_len, &m->err)
                : kq__termspill_end(&m->ts, key, key_len, &m->err);
}

/* Merges the terms of one key range: a k-way merge of the inputs' dictionaries; a term's
 * postings are its live postings in each input, renumbered. */
static int merge_range(struct mpart *m)
{
    kq_seg *const *segs = m->segs;
    size_t n = m->n;
    kq_error *err = &m->err;
    struct head *heads = kq__calloc(n ? n : 1, sizeof *heads);
    uint32_t *pos = NULL;
    uint32_t pos_cap = 0;
    int rc = heads ? 0 : kq__enomem(err);
    for (size_t i = 0; i < n && !rc; i++) {
        struct head *h = &heads[i];
        rc = kq_termdict_seek(&segs[i]->td, &h->it, m->lo, m->lo_len, err);
        if (!rc)
            rc = advance(h, err);
        /* pages before the range are another range's to drop */
        h->drop_dict = m->lo_len ? h->it.p : segs[i]->f.sec[KQ_SEC_TDIC].p;
        if (!rc && h->live && m->lo_len) {
            h->drop_post = h->meta.doc_off;
            h->drop_pos = h->meta.pos_off;
        }
    }
    while (!rc) {
        int best = -1;
        for (size_t i = 0; i < n; i++)
            if (heads[i].live &&
                (best < 0 || kq__key_cmp(heads[i].key, heads[i].len, heads[best].key,
                                         heads[best].len) < 0))
                best = (int)i;
        if (best < 0 ||
            (m->hi_len && kq__key_cmp(heads[best].key, heads[best].len, m->hi, m->hi_len) >= 0))
            break;
        uint8_t key[KQ_KEY_MAX];
        size_t key_len = heads[best].len;
        memcpy(key, heads[best].key, key_len);
        if (!key_len || key[0] >= KQ_N_FIELDS) {
            rc = kq__error(err, KQ_ECORRUPT, -1, "segment '%s': key of an unknown field",
                           segs[best]->f.name);
            break;
        }
        part_begin(m, key[0]);
        uint64_t added = 0;
        for (size_t i = 0; i < n && !rc; i++) {
            struct head *h = &heads[i];
            if (!h->live || kq__key_cmp(h->key, h->len, key, key_len) != 0)
                continue;
            kq_postings_cursor pc;
            const kq_seg *s = segs[i];
            const uint32_t *map = m->maps[i];
            rc = kq_postings_open(&pc, s->f.sec[KQ_SEC_POST].p, s->f.sec[KQ_SEC_POST].len,
                                  s->f.sec[KQ_SEC_POSN].p, s->f.sec[KQ_SEC_POSN].len, &h->meta,
                                  s->f.pos_tables, err);
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
                if (map && map[d] == UINT32_MAX)
                    continue; /* a deleted document: its postings go */
                const uint8_t *enc = NULL;
                size_t enc_len = 0;
                int np;
                if (m->own) {
                    np = kq_postings_positions_encoded(&pc, &enc, &enc_len);
                } else {
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
                    np = kq_postings_positions(&pc, pos);
                }
                if (np < 0 || (uint32_t)np != tf) {
                    rc = kq__error(err, KQ_ECORRUPT, -1,
                                   "segment '%s': bad positions in section 'POSN'", s->f.name);
                    break;
                }
                rc = part_add(m, map ? map[d] : m->bases[i] + d, tf, pos, enc, enc_len);
                added++;
            }
            if (!rc && kq_postings_error(&pc))
                rc = kq__error(err, KQ_ECORRUPT, -1,
                               "segment '%s': bad postings in section 'POST'", s->f.name);
            kq_postings_close(&pc);
            if (!rc)
                rc = advance(h, err);
            if (!rc && h->live)
                drop_behind(s, h, m->every);
        }
        if (!rc && added) /* a key only deleted documents held is not a key any more */
            rc = part_end(m, key, key_len);
    }
    kq__free(heads);
    kq__free(pos);
    return rc;
}

static void *merge_range_main(void *arg)
{
    struct mpart *m = arg;
    m->rc = merge_range(m);
    return NULL;
}

/* The postings and positions bytes of `s` before its first key >= `key`. */
static int bytes_before(const kq_seg *s, const uint8_t *key, size_t len, uint64_t *out,
                        kq_error *err)
{
    kq_termdict_iter it;
    const uint8_t *k;
    size_t kl;
    struct kq_term_meta meta;
    int rc = kq_termdict_seek(&s->td, &it, key, len, err);
    if (rc)
        return rc;
    int r = kq_termdict_next(&it, &k, &kl, &meta, err);
    if (r < 0)
        return r;
    *out = r ? meta.doc_off + meta.pos_off
             : s->f.sec[KQ_SEC_POST].len + s->f.sec[KQ_SEC_POSN].len;
    return 0;
}

/* Splits the key space into `*parts` ranges of about equal postings and positions bytes of
 * the largest input (the inputs of a merge share their vocabulary's distribution), at first
 * keys of its dictionary blocks; `*parts` shrinks when the blocks are too few. */
static int split_keys(kq_seg *const *segs, size_t n, struct mpart *m, int *parts,
                      kq_error *err)
{
    const kq_seg *big = NULL;
    uint64_t big_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t b = segs[i]->f.sec[KQ_SEC_POST].len + segs[i]->f.sec[KQ_SEC_POSN].len;
        if (!big || b > big_bytes) {
            big = segs[i];
            big_bytes = b;
        }
    }
    uint32_t nb = big ? kq_termdict_blocks(&big->td) : 0;
    int got = 1;
    uint32_t prev = 0; /* the block the previous range starts at */
    for (int p = 1; p < *parts && big; p++) {
        uint64_t goal = big_bytes / (uint64_t)*parts * (uint64_t)p;
        /* the first block past `prev` whose first key has `goal` bytes before it */
        uint32_t lo = prev + 1, hi = nb;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            size_t kl;
            const uint8_t *k = kq_termdict_block_key(&big->td, mid, &kl);
            uint64_t before;
            int rc = bytes_before(big, k, kl, &before, err);
            if (rc)
                return rc;
            if (before >= goal)
                hi = mid;
            else
                lo = mid + 1;
        }
        if (lo >= nb)
            break;
        size_t kl;
        const uint8_t *k = kq_termdict_block_key(&big->td, lo, &kl);
        memcpy(m[got - 1].hi, k, kl);
        m[got - 1].hi_len = kl;
        memcpy(m[got].lo, k, kl);
        m[got].lo_len = kl;
        got++;
        prev = lo;
    }
    *parts = got;
    return 0;
}

int kq__merge_segments(kq_segbuild *b, kq_seg *const *segs, size_t n, uint64_t dict_hash,
                       size_t memory, int threads, int own, kq_error *err)
{
    int rc = 0;
    uint32_t *bases = kq__calloc(n ? n : 1, sizeof *bases);
    uint32_t **maps = kq__calloc(n ? n : 1, sizeof *maps);
    struct mpart *m = kq__calloc(MERGE_PARTS, sizeof *m);
    uint64_t live = 0, term_bytes = 0;
    size_t ids = 0, used, every; /* ids: the new ids of the inputs with deletions */
    int parts = 1;
    if (!bases || !maps || !m) {
        rc = kq__enomem(err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        drop_file(&segs[i]->f); /* read through when the segment was opened */
        live += segs[i]->n_docs - (segs[i]->del ? segs[i]->n_del : 0);
        if (segs[i]->del)
            ids += (size_t)segs[i]->n_docs * sizeof **maps;
        term_bytes += segs[i]->f.sec[KQ_SEC_POST].len + segs[i]->f.sec[KQ_SEC_POSN].len;
    }
    if (threads <= 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        threads = ncpu > 0 ? (int)ncpu : 1;
    }
    if (term_bytes >= MERGE_PART_MIN)
        parts = threads < MERGE_PARTS ? threads : MERGE_PARTS;
    /* the per-document arrays take what they will at once; the inputs' pages get the rest */
    if ((rc = kq__segbuild_reserve(b, live, err)))
        goto out;
    used = ids + builder_memory(b);
    every = drop_every(memory > used ? memory - used : 0, 1);
    for (size_t i = 0; i < n && !rc; i++) {
        bases[i] = b->n_docs;
        if (segs[i]->del && !(maps[i] = kq__malloc((size_t)segs[i]->n_docs * sizeof **maps))) {
            rc = kq__enomem(err);
            break;
        }
        rc = merge_docs(b, segs[i], dict_hash, maps[i], every, err);
    }
    if (!rc && parts > 1)
        rc = split_keys(segs, n, m, &parts, err);
    /* with the store index now, and each spill's sinks */
    used = ids + builder_memory(b) + (size_t)(parts - 1) * 3 * b->sink[KQ_SEC_POST].spill_bytes;
    every = drop_every(memory > used ? memory - used : 0, n * (size_t)parts);
    for (int p = 0; p < parts && !rc; p++) {
        m[p].b = p ? NULL : b;
        m[p].segs = segs;
        m[p].n = n;
        m[p].maps = maps;
        m[p].bases = bases;
        m[p].every = every;
        m[p].own = own;
        if (p && !(rc = kq__termspill_init(&m[p].ts, b, b->sink[KQ_SEC_POST].spill_bytes, err)))
            m[p].ts_init = 1;
    }
    /* the ranges side by side, the first on this thread */
    for (int p = parts - 1; p >= 0 && !rc; p--) {
        if (p && pthread_create(&m[p].thread, NULL, merge_range_main, &m[p]) == 0)
            m[p].started = 1;
        else
            m[p].rc = merge_range(&m[p]);
    }
    for (int p = 0; p < parts; p++)
        if (m[p].started)
            pthread_join(m[p].thread, NULL);
    for (int p = 0; p < parts && !rc; p++) {
        if (m[p].rc) {
            rc = m[p].rc;
            if (err)
                *err = m[p].err;
        } else if (m[p].ts_init) {
            rc = kq__segbuild_append_terms(b, &m[p].ts, err);
        }
    }
    for (size_t i = 0; i < n; i++) /* read: none of it is needed while the output is written */
        drop_file(&segs[i]->f);
out:
    for (int p = 0; m && p < MERGE_PARTS; p++)
        if (m[p].ts_init)
            kq__termspill_release(&m[p].ts);
    for (size_t i = 0; maps && i < n; i++)
        kq__free(maps[i]);
    kq__free(maps);
    kq__free(bases);
    kq__free(m);
    return rc;
}

int kq__merge_files(const char *dir, const char *const *paths, size_t n, size_t spill,
                    size_t memory, int threads, const char *language,
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
    kq_seg **v = rc ? NULL : kq__calloc(n ? n : 1, sizeof *v);
    if (!rc && !v)
        rc = kq__enomem(err);
    for (size_t i = 0; v && i < n; i++)
        v[i] = &segs[i];
    if (!rc)
        rc = kq__merge_segments(&b, v, n, dict_len ? XXH3_64bits(dict, dict_len) : 0, memory,
                                threads, 1, err);
    kq__free(v);
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

/* ---- running merges on an index ---- */

/* Reads the header checksum field of the segment file at `path`. */
static int header_checksum_of(const char *path, uint64_t *sum, kq_error *err)
{
    kq_segfile f;
    int rc = kq__segment_map(&f, path, 0, err);
    if (!rc) {
        *sum = kq_get_le64(f.map + 56);
        kq__segment_unmap(&f);
    }
    return rc;
}

/* Merges segments pick[0..n) (ascending) of the open index `ix` into a new segment file
 * numbered `number`; `*out` receives its manifest entry. */
static int merge_pick(const char *dir, kq_index *ix, const uint32_t *pick, uint32_t n,
                      uint64_t number, size_t spill, size_t memory,
                      struct kq_manifest_seg *out, kq_error *err)
{
    kq_seg **v = kq__calloc(n ? n : 1, sizeof *v);
    if (!v)
        return kq__enomem(err);
    int rc = 0;
    const kq_seg *ds = NULL; /* the dictionary of the largest input is the new one's */
    for (uint32_t j = 0; j < n && !rc; j++) {
        v[j] = &ix->segs[pick[j]];
        rc = kq__seg_verify(v[j], err); /* never launder a damaged segment into a new one */
        drop_file(&v[j]->f);            /* read through: one input at a time stays resident */
        if (v[j]->f.sec[KQ_SEC_ZDIC].len &&
            (!ds || v[j]->n_docs - v[j]->n_del > ds->n_docs - ds->n_del))
            ds = v[j];
    }
    ZSTD_CDict *cd = NULL;
    const void *dict = ds ? ds->f.sec[KQ_SEC_ZDIC].p : NULL;
    size_t dict_len = ds ? ds->f.sec[KQ_SEC_ZDIC].len : 0;
    if (!rc && ds && !(cd = ZSTD_createCDict(dict, dict_len, KQ_STORE_LEVEL)))
        rc = kq__enomem(err);
    kq_segbuild b;
    int b_init = 0;
    if (!rc && !(rc = kq__segbuild_init(&b, dir, spill, ix->man.language, cd, dict, dict_len,
                                        err)))
        b_init = 1;
    if (!rc)
        rc = kq__merge_segments(&b, v, n, ds ? ds->dict_hash : 0, memory, 0, 0, err);
    char name[64], path[4096];
    kq__segment_name(number, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint64_t size = 0, sum = 0;
    if (!rc) {
        unlink(path); /* an orphan of a writer that died; no manifest references it */
        rc = kq__segbuild_finish(&b, path, &size, NULL, NULL, err);
    }
    if (!rc && (rc = header_checksum_of(path, &sum, err)))
        unlink(path);
    if (!rc)
        *out = (struct kq_manifest_seg){number, size, b.n_docs, 0, sum, 0, 0};
    if (b_init)
        kq__segbuild_release(&b);
    ZSTD_freeCDict(cd);
    kq__free(v);
    return rc;
}

/* One round: the merges the policy (or the forced target) wants now, and their commit.
 * `*done` is set when there was nothing to merge. */
static int merge_round(const char *dir, uint32_t max_segments, size_t spill,
                       size_t memory, struct kq_build_stats *st, int *done, kq_error *err)
{
    kq_index *ix;
    int rc = kq_index_open_ex(dir, KQ_INDEX_VERIFY_ON_USE, &ix, err);
    if (rc)
        return rc;
    uint32_t n = ix->n_segs;
    struct kq_policy_seg *ps = kq__calloc(n ? n : 1, sizeof *ps);
    uint32_t *pick = kq__calloc(n ? n : 1, sizeof *pick);
    uint32_t *start = kq__calloc((size_t)n + 2, sizeof *start);
    struct kq_manifest man = ix->man;
    man.segs = kq__calloc((size_t)n + 1, sizeof *man.segs);
    uint64_t *made = kq__calloc((size_t)n + 1, sizeof *made);
    uint8_t *taken = kq__calloc(n ? n : 1, 1);
    uint32_t n_made = 0, n_merges = 0;
    if (!ps || !pick || !start || !man.segs || !made || !taken) {
        rc = kq__enomem(err);
        goto out;
    }
    for (uint32_t i = 0; i < n; i++)
        ps[i] = (struct kq_policy_seg){ix->man.segs[i].file_size, ix->man.segs[i].n_docs,
                                       ix->man.segs[i].n_deleted};
    if (max_segments) {
        start[0] = 0;
        start[1] = kq__policy_force(ps, n, max_segments, pick);
        n_merges = start[1] ? 1 : 0;
    } else {
        struct kq_policy pol;
        kq__policy_defaults(&pol);
        n_merges = kq__policy_choose(&pol, ps, n, pick, start);
    }
    if (!n_merges) {
        *done = 1;
        goto out;
    }
    man.n_segs = 0;
    for (uint32_t m = 0; m < n_merges; m++)
        for (uint32_t j = start[m]; j < start[m + 1]; j++)
            taken[pick[j]] = 1;
    for (uint32_t i = 0; i < n; i++)
        if (!taken[i])
            man.segs[man.n_segs++] = ix->man.segs[i];
    for (uint32_t m = 0; m < n_merges && !rc; m++) {
        uint64_t number = man.next_segment++;
        rc = merge_pick(dir, ix, pick + start[m], start[m + 1] - start[m], number, spill,
                        memory, &man.segs[man.n_segs], err);
        if (!rc) {
            made[n_made++] = number;
            man.n_segs++;
            st->merged_segments += start[m + 1] - start[m];
        }
    }
    if (!rc) {
        man.generation++;
        /* a failed commit removes what it has to of the merged segments (manifest.h) */
        if ((rc = kq__manifest_commit(dir, &man, err)) == 0) {
            st->merges += n_merges;
            st->committed = 1;
            st->generation = man.generation;
        }
    } else {
        for (uint32_t i = 0; i < n_made; i++) { /* not referenced: gone, the index as it was */
            char name[64], path[4096];
            kq__segment_name(made[i], name, sizeof name);
            snprintf(path, sizeof path, "%s/%s", dir, name);
            unlink(path);
        }
    }
out:
    kq__free(ps);
    kq__free(pick);
    kq__free(start);
    kq__free(man.segs);
    kq__free(made);
    kq__free(taken);
    kq_index_close(ix);
    return rc;
}

int kq__merge_run(const char *dir, uint32_t max_segments, size_t budget,
                  struct kq_build_stats *st, kq_error *err)
{
    size_t spill = KQ_SPILL_BYTES;
    /* a merge can make the next one due (tiers cascade); a forced merge may take several
     * rounds; each round commits. It gets half the budget: the index it merges is open
     * beside it (and, after an update, the update's state). */
    for (int round = 0; round < 64; round++) {
        int done = 0;
        int rc = merge_round(dir, max_segments, spill, budget / 2, st, &done, err);
        if (rc || done)
            return rc;
    }
    return 0;
}

int kq_index_merge(const char *dir, uint32_t max_segments, const struct kq_build_opts *opts,
                   struct kq_build_stats *stats, kq_error *err)
{
    struct kq_build_opts o = {0};
    if (opts)
        o = *opts;
    struct kq_build_stats st;
    memset(&st, 0, sizeof st);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t budget = o.memory_bytes ? o.memory_bytes : (size_t)256 << 20;
    struct kq_manifest m;
    int rc = kq__manifest_read(dir, &m, err);
    if (rc)
        return rc;
    kq__manifest_release(&m);
    int lock_fd = -1;
    if ((rc = kq__lock_acquire(dir, o.wait_for_lock, o.waiting, o.ctx, &lock_fd, err)))
        return rc;
    rc = kq__merge_run(dir, max_segments, budget, &st, err);
    if (!rc && !(rc = kq__manifest_read(dir, &m, err))) {
        st.generation = m.generation;
        st.segments = m.n_segs;
        for (uint32_t i = 0; i < m.n_segs; i++)
            st.live += m.segs[i].n_docs - m.segs[i].n_deleted;
        kq__manifest_release(&m);
    }
    close(lock_fd);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    st.merge_seconds = st.seconds =
        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (stats)
        *stats = st;
    return rc;
}
