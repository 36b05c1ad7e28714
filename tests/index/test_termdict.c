/* tests/index/test_termdict.c: the term dictionary: golden bytes, 100k random keys (lookup
 * of every key and of absent keys, seeks and prefix ranges against a sorted array),
 * truncation and byte-flip sweeps, an allocation-failure sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "index/termdict.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "testutil.h"

struct key {
    uint8_t b[KQ_KEY_MAX];
    size_t len;
};

static int key_cmp(const void *x, const void *y)
{
    const struct key *a = x, *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int r = memcmp(a->b, b->b, n);
    if (r)
        return r;
    return a->len < b->len ? -1 : a->len > b->len;
}

static void random_key(struct key *k)
{
    k->b[0] = (uint8_t)kqt_rand_below(4); /* field byte */
    size_t len = 1 + (kqt_rand_below(10) ? 1 + kqt_rand_below(10) : kqt_rand_below(KQ_KEY_MAX - 1));
    for (size_t i = 0; i < len; i++)
        k->b[1 + i] = kqt_rand_below(8) ? (uint8_t)('a' + kqt_rand_below(6)) : (uint8_t)kqt_rand();
    k->len = 1 + len;
}

static void random_meta(struct kq_term_meta *m, uint64_t *doc_end, uint64_t *pos_end)
{
    memset(m, 0, sizeof *m);
    m->df = 1 + (kqt_rand_below(4) ? kqt_rand_below(3) : kqt_rand_below(1000000));
    m->cf = m->df + (kqt_rand_below(2) ? 0 : kqt_rand_below(1000));
    m->doc_off = *doc_end + (kqt_rand_below(20) == 0 ? kqt_rand_below(1000) : 0);
    m->doc_len = 1 + kqt_rand_below(5000);
    *doc_end = m->doc_off + m->doc_len;
    if (kqt_rand_below(3)) {
        m->pos_off = *pos_end;
        m->pos_len = m->cf + kqt_rand_below(100);
        *pos_end = m->pos_off + m->pos_len;
    } else {
        m->pos_off = kqt_rand_below(2) ? *pos_end : 0; /* no positions: any offset round-trips */
    }
    m->n_impacts = 1 + kqt_rand_below(KQ_IMPACTS_MAX);
    uint32_t tf = 0, dl = kqt_rand_below(100);
    for (uint32_t i = 0; i < m->n_impacts; i++) {
        tf += 1 + kqt_rand_below(10);
        dl += (i ? 1 : 0) + kqt_rand_below(1000);
        m->impacts[i].tf = tf;
        m->impacts[i].dl = dl;
    }
}

struct dict {
    struct key *keys;
    struct kq_term_meta *metas;
    size_t n;
    kq_buf blocks, index;
    uint64_t n_terms;
    kq_termdict td;
};

static void dict_make(struct dict *d, size_t want)
{
    memset(d, 0, sizeof *d);
    d->keys = malloc(want * sizeof *d->keys);
    for (size_t i = 0; i < want; i++)
        random_key(&d->keys[i]);
    qsort(d->keys, want, sizeof *d->keys, key_cmp);
    size_t n = 0;
    for (size_t i = 0; i < want; i++)
        if (n == 0 || key_cmp(&d->keys[n - 1], &d->keys[i]) != 0)
            d->keys[n++] = d->keys[i];
    if (n > want * 10 / 13) { /* thin evenly down to the size asked for */
        size_t target = want * 10 / 13, k = 0;
        for (size_t i = 0; i < n && k < target; i++)
            if (i * target / n >= k)
                d->keys[k++] = d->keys[i];
        n = k;
    }
    d->n = n;
    d->metas = malloc(n * sizeof *d->metas);
    uint64_t de = 0, pe = 0;
    for (size_t i = 0; i < n; i++)
        random_meta(&d->metas[i], &de, &pe);
}

static int dict_encode(struct dict *d)
{
    kq_termdict_writer *w;
    int r = kq_termdict_writer_new(&w);
    if (r)
        return r;
    for (size_t i = 0; i < d->n && !r; i++)
        r = kq_termdict_writer_add(w, &d->blocks, d->keys[i].b, d->keys[i].len, &d->metas[i]);
    if (!r)
        r = kq_termdict_writer_finish(w, &d->blocks, &d->index, &d->n_terms);
    kq_termdict_writer_free(w);
    return r;
}

static void dict_free(struct dict *d)
{
    free(d->keys);
    free(d->metas);
    kq_buf_release(&d->blocks);
    kq_buf_release(&d->index);
}

static void assert_meta_equal(const struct kq_term_meta *a, const struct kq_term_meta *b)
{
    assert_int_equal(a->df, b->df);
    assert_true(a->cf == b->cf);
    assert_true(a->doc_off == b->doc_off);
    assert_true(a->doc_len == b->doc_len);
    assert_true(a->pos_off == b->pos_off);
    assert_true(a->pos_len == b->pos_len);
    assert_int_equal(a->n_impacts, b->n_impacts);
    assert_memory_equal(a->impacts, b->impacts, a->n_impacts * sizeof a->impacts[0]);
}

static size_t lower_bound(const struct dict *d, const struct key *k)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(&d->keys[mid], k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void test_golden(void **state)
{
    (void)state;
    struct dict d;
    memset(&d, 0, sizeof d);
    struct key k[2] = {{"\x01" "ab", 3}, {"\x01" "ac", 3}};
    struct kq_term_meta m[2];
    memset(m, 0, sizeof m);
    m[0].df = 1;
    m[0].cf = 2;
    m[0].doc_off = 5;
    m[0].doc_len = 1;
    m[0].pos_off = 7;
    m[0].pos_len = 2;
    m[0].n_impacts = 1;
    m[0].impacts[0].tf = 2;
    m[0].impacts[0].dl = 10;
    m[1] = m[0];
    m[1].doc_off = 6;
    m[1].pos_off = 9;
    d.keys = k;
    d.metas = m;
    d.n = 2;
    assert_int_equal(dict_encode(&d), 0);
    assert_true(d.n_terms == 2);
    /* entry 0: df-1 cf-df doc_off doc_len pos_off pos_len | n-1 tf-1 dl
     * entry 1: shared 2, suffix 1 "c", then offsets as zigzag distances (0) */
    const uint8_t blocks[] = {0, 1, 5, 1, 7, 2, 0, 1, 10, /**/ 2, 1, 'c', 0, 1, 0, 1, 0, 2, 0, 1, 10};
    assert_int_equal(d.blocks.len, sizeof blocks);
    assert_memory_equal(d.blocks.p, blocks, sizeof blocks);
    const uint8_t index[] = {1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 'b'};
    assert_int_equal(d.index.len, sizeof index);
    assert_memory_equal(d.index.p, index, sizeof index);
    kq_buf_release(&d.blocks);
    kq_buf_release(&d.index);
}

static void test_random_100k(void **state)
{
    (void)state;
    struct dict d;
    dict_make(&d, 130000); /* 100000 distinct keys */
    assert_int_equal(dict_encode(&d), 0);
    assert_true(d.n_terms == d.n);
    kq_error err;
    assert_int_equal(kq_termdict_open(&d.td, d.blocks.p, d.blocks.len, d.index.p, d.index.len,
                                      d.n_terms, &err),
                     0);
    print_message("%zu keys: %zu block bytes, %zu index bytes\n", d.n, d.blocks.len,
                  d.index.len);
    /* every key */
    for (size_t i = 0; i < d.n; i++) {
        struct kq_term_meta m;
        assert_int_equal(kq_termdict_lookup(&d.td, d.keys[i].b, d.keys[i].len, &m, &err), 0);
        assert_meta_equal(&m, &d.metas[i]);
    }
    /* absent keys */
    for (int i = 0; i < 20000; i++) {
        struct key k;
        random_key(&k);
        if (i % 4 == 0) { /* a present key plus a byte, or minus its last byte */
            k = d.keys[kqt_rand_below(d.n)];
            if (k.len < KQ_KEY_MAX && i % 8 == 0)
                k.b[k.len++] = 'a';
            else if (k.len > 1)
                k.len--;
        }
        size_t lb = lower_bound(&d, &k);
        int present = lb < d.n && key_cmp(&d.keys[lb], &k) == 0;
        struct kq_term_meta m;
        assert_int_equal(kq_termdict_lookup(&d.td, k.b, k.len, &m, &err),
                         present ? 0 : KQ_ENOTFOUND);
    }
    /* full iteration */
    kq_termdict_iter it;
    const uint8_t *kp;
    size_t kl;
    struct kq_term_meta m;
    assert_int_equal(kq_termdict_seek(&d.td, &it, NULL, 0, &err), 0);
    for (size_t i = 0; i < d.n; i++) {
        assert_int_equal(kq_termdict_next(&it, &kp, &kl, &m, &err), 1);
        assert_int_equal(kl, d.keys[i].len);
        assert_memory_equal(kp, d.keys[i].b, kl);
        assert_meta_equal(&m, &d.metas[i]);
    }
    assert_int_equal(kq_termdict_next(&it, &kp, &kl, &m, &err), 0);
    assert_int_equal(kq_termdict_next(&it, &kp, &kl, &m, &err), 0);
    /* seeks and prefix ranges */
    for (int i = 0; i < 5000; i++) {
        struct key k;
        if (i % 2) {
            k = d.keys[kqt_rand_below(d.n)];
            k.len = 1 + kqt_rand_below(k.len < 4 ? k.len : 4); /* a prefix of a present key */
        } else {
            random_key(&k);
            k.len = 1 + kqt_rand_below(k.len);
        }
        size_t lb = lower_bound(&d, &k);
        assert_int_equal(kq_termdict_seek(&d.td, &it, k.b, k.len, &err), 0);
        size_t j = lb;
        for (;;) {
            int r = kq_termdict_next(&it, &kp, &kl, &m, &err);
            assert_true(r >= 0);
            if (r == 0) {
                assert_int_equal(j, d.n);
                break;
            }
            assert_true(j < d.n);
            assert_int_equal(kl, d.keys[j].len);
            assert_memory_equal(kp, d.keys[j].b, kl);
            if (kl < k.len || memcmp(kp, k.b, k.len) != 0)
                break; /* left the prefix range */
            j++;
            if (j - lb > 300)
                break;
        }
        /* the range the array gives */
        size_t e = lb;
        while (e < d.n && d.keys[e].len >= k.len && memcmp(d.keys[e].b, k.b, k.len) == 0)
            e++;
        if (j - lb <= 300)
            assert_int_equal(j, e);
    }
    /* past the last key */
    uint8_t big[2] = {0xff, 0xff};
    assert_int_equal(kq_termdict_seek(&d.td, &it, big, 2, &err), 0);
    assert_int_equal(kq_termdict_next(&it, &kp, &kl, &m, &err), 0);
    dict_free(&d);
}

static void test_empty_and_einval(void **state)
{
    (void)state;
    kq_termdict_writer *w;
    kq_buf b = KQ_BUF_INIT, ix = KQ_BUF_INIT;
    uint64_t n;
    assert_int_equal(kq_termdict_writer_new(&w), 0);
    struct kq_term_meta m;
    uint64_t de = 0, pe = 0;
    random_meta(&m, &de, &pe);
    assert_int_equal(kq_termdict_writer_add(w, &b, (const uint8_t *)"b", 1, &m), 0);
    assert_int_equal(kq_termdict_writer_add(w, &b, (const uint8_t *)"b", 1, &m), KQ_EINVAL);
    assert_int_equal(kq_termdict_writer_add(w, &b, (const uint8_t *)"a", 1, &m), KQ_EINVAL);
    assert_int_equal(kq_termdict_writer_add(w, &b, (const uint8_t *)"c", 0, &m), KQ_EINVAL);
    m.df = 0;
    assert_int_equal(kq_termdict_writer_add(w, &b, (const uint8_t *)"c", 1, &m), KQ_EINVAL);
    kq_termdict_writer_free(w);
    kq_termdict_writer_free(NULL);
    kq_buf_release(&b);
    /* an empty dictionary */
    assert_int_equal(kq_termdict_writer_new(&w), 0);
    assert_int_equal(kq_termdict_writer_finish(w, &b, &ix, &n), 0);
    kq_termdict_writer_free(w);
    assert_true(n == 0 && b.len == 0);
    kq_termdict td;
    kq_error err;
    assert_int_equal(kq_termdict_open(&td, b.p, b.len, ix.p, ix.len, 0, &err), 0);
    assert_int_equal(kq_termdict_lookup(&td, (const uint8_t *)"a", 1, &m, &err), KQ_ENOTFOUND);
    kq_termdict_iter it;
    const uint8_t *kp;
    size_t kl;
    assert_int_equal(kq_termdict_seek(&td, &it, NULL, 0, &err), 0);
    assert_int_equal(kq_termdict_next(&it, &kp, &kl, &m, &err), 0);
    assert_int_equal(kq_termdict_open(&td, b.p, b.len, ix.p, ix.len, 1, &err), KQ_ECORRUPT);
    kq_buf_release(&ix);
}

/* Opens, iterates everything, looks up a few keys: no crash; keys strictly increase; a
 * clean run gives the original dictionary's keys count. Returns 1 when corruption showed. */
static int walk_untrusted(const struct dict *d, const uint8_t *blocks, size_t bsize,
                          const uint8_t *index, size_t isize)
{
    kq_termdict td;
    kq_error err;
    int r = kq_termdict_open(&td, blocks, bsize, index, isize, d->n_terms, &err);
    if (r) {
        assert_int_equal(r, KQ_ECORRUPT);
        return 1;
    }
    kq_termdict_iter it;
    const uint8_t *kp;
    size_t kl;
    struct kq_term_meta m;
    struct key prev = {{0}, 0};
    uint64_t n = 0;
    assert_int_equal(kq_termdict_seek(&td, &it, NULL, 0, &err), 0);
    int bad = 0;
    for (;;) {
        r = kq_termdict_next(&it, &kp, &kl, &m, &err);
        if (r < 0) {
            assert_int_equal(r, KQ_ECORRUPT);
            bad = 1;
            break;
        }
        if (r == 0)
            break;
        struct key k;
        assert_true(kl >= 1 && kl <= KQ_KEY_MAX);
        memcpy(k.b, kp, kl);
        k.len = kl;
        assert_true(n == 0 || key_cmp(&prev, &k) < 0);
        assert_true(m.df >= 1 && m.cf >= m.df && m.n_impacts >= 1 &&
                    m.n_impacts <= KQ_IMPACTS_MAX);
        prev = k;
        n++;
    }
    if (!bad)
        assert_true(n == d->n_terms);
    for (size_t i = 0; i < d->n; i += 7) {
        r = kq_termdict_lookup(&td, d->keys[i].b, d->keys[i].len, &m, &err);
        assert_true(r == 0 || r == KQ_ENOTFOUND || r == KQ_ECORRUPT);
        bad |= r != 0;
    }
    return bad;
}

static void test_corruption_sweeps(void **state)
{
    (void)state;
    struct dict d;
    dict_make(&d, 70);
    assert_int_equal(dict_encode(&d), 0);
    for (size_t len = 0; len < d.blocks.len; len++) {
        uint8_t *p = malloc(len + 1);
        memcpy(p, d.blocks.p, len);
        assert_int_equal(walk_untrusted(&d, p, len, d.index.p, d.index.len), 1);
        free(p);
    }
    for (size_t len = 0; len < d.index.len; len++) {
        uint8_t *p = malloc(len + 1);
        memcpy(p, d.index.p, len);
        assert_int_equal(walk_untrusted(&d, d.blocks.p, d.blocks.len, p, len), 1);
        free(p);
    }
    int seen = 0, caught = 0;
    for (int which = 0; which < 2; which++) {
        const kq_buf *src = which ? &d.index : &d.blocks;
        uint8_t *p = malloc(src->len);
        for (size_t i = 0; i < src->len; i++) {
            static const uint8_t masks[] = {0x01, 0x20, 0x80, 0xff};
            for (size_t k = 0; k < sizeof masks; k++) {
                memcpy(p, src->p, src->len);
                p[i] ^= masks[k];
                seen++;
                caught += which ? walk_untrusted(&d, d.blocks.p, d.blocks.len, p, src->len)
                                : walk_untrusted(&d, p, src->len, d.index.p, d.index.len);
            }
        }
        free(p);
    }
    print_message("byte flips: %d, reported corrupt or changed: %d\n", seen, caught);
    dict_free(&d);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    struct dict d;
    dict_make(&d, 500);
    for (long n = 0;; n++) {
        kq_alloc_fail_after(n);
        int r = dict_encode(&d);
        kq_alloc_fail_after(-1);
        kq_buf_release(&d.blocks);
        kq_buf_release(&d.index);
        if (r == 0)
            break;
        assert_int_equal(r, KQ_ENOMEM);
        assert_true(n < 10000);
    }
    dict_free(&d);
}

int main(void)
{
    kqt_seed(0x13198a2e03707344ull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_empty_and_einval),
        cmocka_unit_test(test_random_100k),
        cmocka_unit_test(test_corruption_sweeps),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
