/* fuzz/fuzz_segment.c: arbitrary bytes as a segment file and as a MANIFEST.
 *
 * Input: the bytes of a segment file (kq__seg_open_bytes, which checks the header, the
 * section table, every section checksum and the section structure), and the same bytes
 * as a MANIFEST (kq__manifest_parse). Seeds are real segments and a MANIFEST written by
 * kq-index.
 * When the segment opens, everything a reader can reach is read: every term of the
 * dictionary (seek + next, and lookup of some), the postings of every term (next, tf,
 * positions) and seeks on a second cursor, every document-table entry and document length,
 * and the stored text of the first, a middle and the last document.
 * Oracle: no crash, no read outside the input (ASan), no undefined behaviour (UBSan); a
 * document entry or text that reads returns in-bounds data; a parsed manifest keeps its
 * invariants.
 *
 * Structure-aware (LLVMFuzzerCustomMutator): after the usual mutation the section checksums,
 * the header's file size and checksum (and a MANIFEST's checksum) are recomputed most of the
 * time, so that mutations reach the decoders behind the checksums; sometimes the mutation is
 * confined to one section so the layout stays valid.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "index/manifest.h"
#include "index/reader.h"
#include "index/segment.h"
#include "util/alloc.h"
#include "util/bytes.h"

#define CHECK(x)                                                                         \
    do {                                                                                 \
        if (!(x))                                                                        \
            __builtin_trap();                                                            \
    } while (0)

#define MAX_TERMS 20000    /* terms visited per input */
#define MAX_POSTINGS 200000 /* postings visited per input */
#define POS_CAP 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

static void touch(const void *p, size_t n)
{
    /* reads every byte so that ASan checks the range */
    volatile uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc ^= ((const uint8_t *)p)[i];
    (void)acc;
}

static void read_postings(const kq_seg *s, const struct kq_term_meta *m, uint64_t *budget)
{
    static uint32_t pos[POS_CAP];
    const kq_segfile *f = &s->f;
    kq_postings_cursor pc;
    kq_error e;
    if (kq_postings_open(&pc, f->sec[KQ_SEC_POST].p, f->sec[KQ_SEC_POST].len,
                         f->sec[KQ_SEC_POSN].p, f->sec[KQ_SEC_POSN].len, m, f->pos_tables,
                         &e))
        return;
    uint32_t d;
    while (*budget && (d = kq_postings_next(&pc)) != KQ_DOC_END) {
        (*budget)--;
        uint32_t tf = kq_postings_tf(&pc);
        if (tf <= POS_CAP)
            (void)kq_postings_positions(&pc, pos);
    }
    kq_postings_close(&pc);

    if (kq_postings_open(&pc, f->sec[KQ_SEC_POST].p, f->sec[KQ_SEC_POST].len,
                         f->sec[KQ_SEC_POSN].p, f->sec[KQ_SEC_POSN].len, m, f->pos_tables,
                         &e))
        return;
    uint32_t target = 0;
    for (int i = 0; i < 64 && *budget; i++) {
        (*budget)--;
        target += 1 + (uint32_t)i * 7;
        d = kq_postings_seek(&pc, target);
        if (d == KQ_DOC_END)
            break;
        if (!kq_postings_error(&pc))
            CHECK(d >= target);
        if (d > target)
            target = d;
        if (i % 3 == 0 && kq_postings_tf(&pc) <= POS_CAP)
            (void)kq_postings_positions(&pc, pos);
    }
    kq_postings_close(&pc);
}

static void read_segment(const kq_seg *s)
{
    kq_termdict_iter it;
    kq_error e;
    uint64_t budget = MAX_POSTINGS;
    if (!kq_termdict_seek(&s->td, &it, NULL, 0, &e)) {
        const uint8_t *key;
        size_t len;
        struct kq_term_meta m;
        for (int n = 0; n < MAX_TERMS; n++) {
            if (kq_termdict_next(&it, &key, &len, &m, &e) != 1)
                break;
            CHECK(len >= 1 && len <= KQ_KEY_MAX);
            touch(key, len);
            read_postings(s, &m, &budget);
            if (n % 16 == 0) {
                uint8_t k[KQ_KEY_MAX];
                memcpy(k, key, len);
                struct kq_term_meta m2;
                (void)kq_termdict_lookup(&s->td, k, len, &m2, &e);
                kq_termdict_iter it2;
                if (!kq_termdict_seek(&s->td, &it2, k, len, &e)) {
                    const uint8_t *k2;
                    size_t l2;
                    (void)kq_termdict_next(&it2, &k2, &l2, &m2, &e);
                }
            }
        }
    }
    uint32_t n_docs = s->n_docs < 100000 ? s->n_docs : 100000;
    for (uint32_t d = 0; d < n_docs; d++) {
        struct kq_doc doc;
        for (int f = 0; f < KQ_N_FIELDS; f++)
            (void)kq__seg_dl(s, f, d);
        if (kq__seg_doc(s, d, &doc, &e))
            continue;
        touch(doc.id, doc.id_len);
        touch(doc.title, doc.title_len);
        touch(doc.path, doc.path_len);
    }
    uint32_t which[3] = {0, s->n_docs / 2, s->n_docs ? s->n_docs - 1 : 0};
    for (int i = 0; i < 3 && s->n_docs; i++) {
        char *text;
        size_t len;
        if (!kq__seg_doc_text(s, which[i], &text, &len, &e)) {
            touch(text, len);
            kq__free(text);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kq_seg s;
    kq_error err;
    if (!kq__seg_open_bytes(&s, data, size, &err)) {
        read_segment(&s);
        kq__seg_close_bytes(&s);
    } else {
        CHECK(err.code < 0);
    }

    struct kq_manifest m;
    if (!kq__manifest_parse(data, size, &m, &err)) {
        CHECK(m.n_segs <= KQ_MANIFEST_MAX_SEGMENTS);
        CHECK(m.language[sizeof m.language - 1] == '\0');
        for (uint32_t i = 0; i < m.n_segs; i++)
            CHECK(m.segs[i].number < m.next_segment);
        kq__manifest_release(&m);
    } else {
        CHECK(m.segs == NULL);
    }
    return 0;
}

/* ---- structure-aware mutation ---- */

static void fix_segment(uint8_t *p, size_t size, unsigned seed)
{
    if (seed & 16)
        kq_put_le64(p + 16, size);
    kq__segment_reseal(p, size);
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    int is_seg = size >= KQ_SEG_DATA_OFF && !memcmp(data, KQ_SEG_MAGIC, 8);
    if (is_seg && (seed & 3) == 0) {
        /* mutate inside one section: the layout stays valid */
        uint32_t n = kq_get_le32(data + 12);
        if (n && n <= KQ_SEG_MAX_SECTIONS) {
            uint8_t *e = data + KQ_SEG_HEADER_SIZE + (size_t)((seed >> 8) % n) * KQ_SEG_ENTRY_SIZE;
            uint64_t off = kq_get_le64(e + 8), len = kq_get_le64(e + 16);
            if (len && off <= size && len <= size - off)
                LLVMFuzzerMutate(data + off, (size_t)len, (size_t)len);
        }
    } else {
        size = LLVMFuzzerMutate(data, size, max_size);
    }
    if ((seed >> 5) % 8 == 0)
        return size; /* leave the checksums as they are */
    if (size >= KQ_SEG_DATA_OFF && !memcmp(data, KQ_SEG_MAGIC, 8))
        fix_segment(data, size, seed);
    else if (size >= KQ_MANIFEST_HEAD + 8 && !memcmp(data, KQ_MANIFEST_MAGIC, 8)) {
        if (seed & 64) {
            /* make the segment count fit the size */
            size_t body = size - 8 - KQ_MANIFEST_HEAD;
            if (body % KQ_MANIFEST_ENTRY == 0)
                kq_put_le32(data + 12, (uint32_t)(body / KQ_MANIFEST_ENTRY));
        }
        kq_put_le64(data + size - 8, XXH3_64bits(data, size - 8));
    }
    return size;
}
