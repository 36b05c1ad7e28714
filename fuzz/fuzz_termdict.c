/* fuzz/fuzz_termdict.c: arbitrary bytes as a term dictionary's two sections.
 *
 * Input: varint n_terms, varint blocks_size, then blocks_size bytes (fewer if the input
 * ends) of TDIC blocks and the rest as the TIDX sparse index; each copied to an allocation
 * of its exact size so AddressSanitizer sees any read past it.
 * Oracle: no crash or out-of-bounds read; iteration yields keys of 1..KQ_KEY_MAX bytes in
 * strictly increasing order with sane metas, ending either cleanly after n_terms keys or
 * with KQ_ECORRUPT; after a clean iteration every fifth key is found by lookup with the
 * same meta, and a seek to its prefix returns a key >= that prefix.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/termdict.h"
#include "util/bytes.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static int cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int r = n ? memcmp(a, b, n) : 0;
    return r ? r : (al < bl ? -1 : al > bl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    uint64_t n_terms, bsize;
    size_t k;
    if (!(k = kq_varint_get(p, end, &n_terms)))
        return 0;
    p += k;
    if (!(k = kq_varint_get(p, end, &bsize)))
        return 0;
    p += k;
    size_t rest = (size_t)(end - p);
    size_t bs = bsize < rest ? (size_t)bsize : rest;
    size_t is = rest - bs;
    uint8_t *blocks = malloc(bs ? bs : 1), *index = malloc(is ? is : 1);
    if (!blocks || !index)
        abort();
    memcpy(blocks, p, bs);
    memcpy(index, p + bs, is);

    kq_termdict td;
    kq_error err;
    if (kq_termdict_open(&td, blocks, bs, index, is, n_terms, &err) == 0) {
        kq_termdict_iter it;
        const uint8_t *kp;
        size_t kl;
        struct kq_term_meta m;
        uint8_t prev[KQ_KEY_MAX];
        size_t prev_len = 0;
        uint64_t n = 0;
        int r;
        CHECK(kq_termdict_seek(&td, &it, NULL, 0, &err) == 0);
        while ((r = kq_termdict_next(&it, &kp, &kl, &m, &err)) == 1) {
            CHECK(kl >= 1 && kl <= KQ_KEY_MAX);
            CHECK(n == 0 || cmp(prev, prev_len, kp, kl) < 0);
            CHECK(m.df >= 1 && m.cf >= m.df && m.n_impacts >= 1 && m.n_impacts <= KQ_IMPACTS_MAX);
            memcpy(prev, kp, kl);
            prev_len = kl;
            n++;
        }
        CHECK(r == KQ_ECORRUPT || (r == 0 && n == n_terms));
        CHECK(kq_termdict_next(&it, &kp, &kl, &m, &err) == r);
        if (r == 0) {
            /* the whole dictionary is sound: every key must be found again exactly */
            CHECK(kq_termdict_seek(&td, &it, NULL, 0, &err) == 0);
            n = 0;
            while (kq_termdict_next(&it, &kp, &kl, &m, &err) == 1) {
                n++;
                if (n % 5 == 1) {
                    /* the key just returned must be found again */
                    uint8_t key[KQ_KEY_MAX];
                    memcpy(key, kp, kl);
                    struct kq_term_meta m2;
                    int lr = kq_termdict_lookup(&td, key, kl, &m2, &err);
                    CHECK(lr == 0);
                    if (lr == 0)
                        CHECK(m2.df == m.df && m2.cf == m.cf && m2.doc_off == m.doc_off &&
                              m2.doc_len == m.doc_len && m2.pos_off == m.pos_off &&
                              m2.pos_len == m.pos_len && m2.n_impacts == m.n_impacts &&
                              memcmp(m2.impacts, m.impacts, m.n_impacts * sizeof m.impacts[0]) ==
                                  0);
                    kq_termdict_iter it2;
                    if (kq_termdict_seek(&td, &it2, key, kl > 1 ? kl - 1 : kl, &err) == 0) {
                        const uint8_t *k2;
                        size_t l2;
                        int r2 = kq_termdict_next(&it2, &k2, &l2, NULL, &err);
                        CHECK(r2 <= 1 && r2 >= KQ_ECORRUPT);
                        if (r2 == 1)
                            CHECK(cmp(k2, l2, key, kl > 1 ? kl - 1 : kl) >= 0);
                    }
                }
            }
        }
    }
    free(blocks);
    free(index);
    return 0;
}
