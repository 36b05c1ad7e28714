/* fuzz/fuzz_postings.c: arbitrary bytes as one term's postings and positions.
 *
 * Input: varint df, varint cf - df, varint doc_len, varint pos_len (0: no positions),
 * varint n_impacts (bit 5 set: segment format 1, whose positions have no offsets tables;
 * the rest of the value is n_impacts), then n_impacts (at most 8 read) pairs varint tf,
 * varint dl; then
 * doc_len bytes of postings section (fewer if the input ends) and the rest as the
 * positions section. Each section is copied to an allocation of its exact size so
 * AddressSanitizer sees any read past it.
 * Oracle: no crash or out-of-bounds read; doc ids strictly increase under next and seek,
 * seek never returns a doc below its target, tf >= 1, positions strictly increase; the
 * cursor ends either cleanly after exactly df postings or with KQ_ECORRUPT.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/postings.h"
#include "util/bytes.h"

#define CHECK(x)                                                                           \
    do {                                                                                   \
        if (!(x))                                                                          \
            __builtin_trap();                                                              \
    } while (0)

static uint32_t pos_buf[4096];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    uint64_t v[5];
    for (int i = 0; i < 5; i++) {
        size_t k = kq_varint_get(p, end, &v[i]);
        if (!k)
            return 0;
        p += k;
    }
    if (v[0] > UINT32_MAX || v[1] > UINT64_MAX - v[0] || v[4] > 64)
        return 0;
    struct kq_term_meta m;
    memset(&m, 0, sizeof m);
    m.df = (uint32_t)v[0];
    m.cf = v[0] + v[1];
    m.doc_len = v[2];
    m.pos_len = v[3];
    m.n_impacts = (uint32_t)v[4] & ~32u;
    int pos_tables = !(v[4] & 32);
    for (uint32_t i = 0; i < m.n_impacts && i < KQ_IMPACTS_MAX; i++) {
        uint64_t tf, dl;
        size_t k;
        if (!(k = kq_varint_get(p, end, &tf)))
            return 0;
        p += k;
        if (!(k = kq_varint_get(p, end, &dl)))
            return 0;
        p += k;
        m.impacts[i].tf = (uint32_t)tf;
        m.impacts[i].dl = (uint32_t)dl;
    }
    size_t rest = (size_t)(end - p);
    size_t docs_size = m.doc_len < rest ? (size_t)m.doc_len : rest;
    size_t pos_size = rest - docs_size;
    uint8_t *docs = malloc(docs_size ? docs_size : 1);
    uint8_t *pos = malloc(pos_size ? pos_size : 1);
    if (!docs || !pos)
        abort();
    memcpy(docs, p, docs_size);
    memcpy(pos, p + docs_size, pos_size);

    kq_postings_cursor c;
    kq_error err;
    if (kq_postings_open(&c, docs, docs_size, pos_size ? pos : NULL, pos_size, &m, pos_tables,
                         &err) == 0) {
        uint64_t n = 0;
        uint32_t prev = 0;
        for (uint32_t d; (d = kq_postings_next(&c)) != KQ_DOC_END;) {
            CHECK(n == 0 || d > prev);
            CHECK(kq_postings_doc(&c) == d);
            prev = d;
            n++;
            uint32_t tf = kq_postings_tf(&c);
            CHECK(tf >= 1);
            if (tf <= 4096 && (n & 1)) {
                int k = kq_postings_positions(&c, pos_buf);
                CHECK(k == 0 || k == KQ_ECORRUPT || (uint32_t)k == tf);
                for (int j = 1; j < k; j++)
                    CHECK(pos_buf[j] > pos_buf[j - 1]);
                if (k > 0 && !kq_postings_error(&c)) {
                    /* the one-at-a-time reader reads the same positions */
                    struct kq_pos_reader r;
                    CHECK(kq_postings_pos_begin(&c, &r) == k);
                    for (int j = 0; j < k; j++)
                        CHECK(kq_pos_next(&r) == 1 && r.pos == pos_buf[j]);
                    CHECK(kq_pos_next(&r) == 0);
                }
            } else if (!(n & 2)) {
                /* part of them, one at a time: the next document's positions come after */
                struct kq_pos_reader r;
                int k = kq_postings_pos_begin(&c, &r);
                CHECK(k == 0 || k == KQ_ECORRUPT || (uint32_t)k == tf);
                uint32_t last = 0;
                for (uint32_t j = 0; k > 0 && j < (uint32_t)k && j < (n & 15); j++) {
                    /* one at a time, or on to a position ahead */
                    int seek = (n & 32) && last < UINT32_MAX - 8;
                    uint32_t want = j ? last + 1 + (n >> 4 & 7) : 0;
                    int rc = seek ? kq_pos_seek(&r, want) : kq_pos_next(&r);
                    CHECK(rc == 1 || rc == 0 || rc == KQ_ECORRUPT);
                    if (rc != 1)
                        break;
                    CHECK(j == 0 || r.pos > last);
                    CHECK(!seek || r.pos >= want);
                    last = r.pos;
                }
            } else {
                /* as stored: tf varints inside the positions given, the next ones after */
                const uint8_t *enc = NULL;
                size_t len = 0;
                int k = kq_postings_positions_encoded(&c, &enc, &len);
                CHECK(k == 0 || k == KQ_ECORRUPT || (uint32_t)k == tf);
                if (k > 0) {
                    CHECK(enc >= pos && len >= (size_t)k && len <= pos_size &&
                          (size_t)(enc - pos) <= pos_size - len);
                    size_t ends = 0;
                    for (size_t j = 0; j < len; j++)
                        ends += enc[j] < 0x80;
                    CHECK(ends == (size_t)k && enc[len - 1] < 0x80);
                }
            }
            if (n % 97 == 0)
                kq_postings_shallow(&c, d + 1000);
        }
        CHECK(kq_postings_error(&c) == KQ_ECORRUPT || (kq_postings_error(&c) == 0 && n == m.df));
        kq_postings_close(&c);
    }
    if (kq_postings_open(&c, docs, docs_size, pos_size ? pos : NULL, pos_size, &m, pos_tables,
                         &err) == 0) {
        /* seeks with targets taken from the input's bytes */
        uint32_t t = 0, prev = 0;
        int any = 0;
        for (size_t i = 0; i < 64; i++) {
            const struct kq_skip *sk = kq_postings_shallow(&c, t);
            if (sk)
                CHECK(sk->last_doc >= t && sk->n_impacts >= 1 && sk->n_impacts <= KQ_IMPACTS_MAX);
            uint32_t d = kq_postings_seek(&c, t);
            if (d == KQ_DOC_END)
                break;
            CHECK(d >= t);
            CHECK(!any || d >= prev);
            any = 1;
            prev = d;
            if (kq_postings_tf(&c) <= 4096) {
                int k = kq_postings_positions(&c, pos_buf);
                CHECK(k >= KQ_ECORRUPT);
            }
            uint32_t step = size ? data[i % size] : 1;
            t = d + (step << (i % 24)) + (i & 1);
            if (t < d)
                break;
        }
        kq_postings_close(&c);
        kq_postings_close(&c);
    }
    free(docs);
    free(pos);
    return 0;
}
