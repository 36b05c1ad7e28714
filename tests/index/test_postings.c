/* tests/index/test_postings.c: the postings codec: golden bytes, round trips of random lists
 * (next, seek, positions, shallow), the impacts frontier and its BM25 bound, truncation and
 * byte-flip sweeps, an allocation-failure sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "index/postings.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "testutil.h"

/* A posting list with everything the codec stores. */
struct list {
    uint32_t n;
    uint32_t *docs, *tfs, *dls;
    uint64_t *pos_at; /* index of each posting's first position in `pos` */
    uint32_t *pos;
    int with_pos;
};

enum gaps { GAPS_DENSE, GAPS_RANDOM, GAPS_HUGE, GAPS_ZIPF };

static void list_free(struct list *l)
{
    free(l->docs);
    free(l->tfs);
    free(l->dls);
    free(l->pos_at);
    free(l->pos);
    memset(l, 0, sizeof *l);
}

static uint32_t zipf_gap(void)
{
    /* heavy tail: P(gap >= g) ~ 1/g */
    double u = (double)(kqt_rand() >> 11) / (double)(1ull << 53);
    double g = 1.0 / (1.0 - u * 0.99999);
    return g > 1e6 ? 1000000u : (uint32_t)g;
}

static void list_make(struct list *l, uint32_t n, enum gaps gaps, uint32_t max_tf, int with_pos)
{
    memset(l, 0, sizeof *l);
    l->n = n;
    l->with_pos = with_pos;
    l->docs = malloc(n * sizeof *l->docs);
    l->tfs = malloc(n * sizeof *l->tfs);
    l->dls = malloc(n * sizeof *l->dls);
    l->pos_at = malloc((n + 1) * sizeof *l->pos_at);
    assert_non_null(l->docs);
    uint64_t doc = 0, total = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t gap;
        switch (gaps) {
        case GAPS_DENSE:
            gap = 1 + kqt_rand_below(3);
            break;
        case GAPS_RANDOM:
            gap = 1 + kqt_rand_below(1000);
            break;
        case GAPS_ZIPF:
            gap = zipf_gap();
            break;
        default: {
            /* spread n docs over [0, 2^32 - 2], some gaps near 2^32 - 1 */
            uint64_t room = (uint64_t)(UINT32_MAX - 1) - doc - (n - i - 1);
            gap = 1 + (i == 0 ? 0 : kqt_rand() % (room / (n - i) + 1));
            if (n <= 3 && i == n - 1)
                gap = room + (i == 0 ? 1 : 0);
            break;
        }
        }
        doc = i == 0 ? gap - 1 : doc + gap;
        assert_true(doc <= UINT32_MAX - 1);
        l->docs[i] = (uint32_t)doc;
        uint32_t tf = 1;
        uint32_t r = kqt_rand_below(100);
        if (r >= 60)
            tf = 2 + kqt_rand_below(3);
        if (r >= 97)
            tf = 1 + kqt_rand_below(max_tf);
        l->tfs[i] = tf;
        l->dls[i] = tf + kqt_rand_below(r >= 98 ? 100000 : 500);
        l->pos_at[i] = total;
        total += with_pos ? tf : 0;
    }
    l->pos_at[n] = total;
    l->pos = malloc((total + 1) * sizeof *l->pos);
    for (uint32_t i = 0; i < n && with_pos; i++) {
        uint64_t p = kqt_rand_below(50);
        for (uint32_t j = 0; j < l->tfs[i]; j++) {
            l->pos[l->pos_at[i] + j] = (uint32_t)p;
            p += 1 + (kqt_rand() % 8 == 0 ? kqt_rand_below(100000) : kqt_rand_below(10));
            if (p > UINT32_MAX - 1000000)
                p = UINT32_MAX - 1000000;
        }
    }
}

/* Encodes `l` into docs/pos (after `pad` junk bytes, so offsets are not 0). Returns 0 or the
 * first error. */
static int encode(const struct list *l, kq_buf *docs, kq_buf *pos, struct kq_term_meta *m,
                  size_t pad)
{
    kq_postings_writer *w = NULL;
    int r = kq_postings_writer_new(&w);
    if (r)
        return r;
    for (size_t i = 0; i < pad; i++) {
        if ((r = kq_buf_putc(docs, 0xa5)) || (r = kq_buf_putc(pos, 0x5a)))
            goto out;
    }
    kq_postings_writer_begin(w, pos, l->with_pos);
    for (uint32_t i = 0; i < l->n; i++) {
        r = kq_postings_writer_add(w, l->docs[i], l->tfs[i], l->dls[i],
                                   l->with_pos ? l->pos + l->pos_at[i] : NULL);
        if (r)
            goto out;
    }
    r = kq_postings_writer_end(w, docs, 0, 0, m);
out:
    kq_postings_writer_free(w);
    return r;
}

static uint32_t lower_bound(const struct list *l, uint32_t from, uint32_t target)
{
    uint32_t lo = from, hi = l->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (l->docs[mid] < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void check_positions(kq_postings_cursor *c, const struct list *l, uint32_t i,
                            uint32_t *buf)
{
    if (i % 6 == 2 && l->with_pos) {
        /* seeking: to a position, or to one past the one before it, lands on it */
        struct kq_pos_reader r;
        assert_int_equal(kq_postings_pos_begin(c, &r), (int)l->tfs[i]);
        const uint32_t *p = &l->pos[l->pos_at[i]];
        for (uint32_t j = 0; j < l->tfs[i]; j += 1 + j % 2) {
            uint32_t want = j % 3 || !j ? p[j] : p[j - 1] + 1;
            assert_int_equal(kq_pos_seek(&r, want), 1);
            assert_int_equal(r.pos, p[j]);
        }
        uint32_t last = p[l->tfs[i] - 1];
        assert_int_equal(kq_pos_seek(&r, last), 1);
        assert_int_equal(r.pos, last);
        assert_int_equal(kq_pos_seek(&r, last + 1), 0);
        return;
    }
    if (i % 3 == 1) {
        /* one at a time, every other time only the first half: the positions of the
         * documents after it must come out right all the same */
        struct kq_pos_reader r;
        int n = kq_postings_pos_begin(c, &r);
        if (!l->with_pos) {
            assert_int_equal(n, 0);
            assert_int_equal(kq_pos_next(&r), 0);
            return;
        }
        assert_int_equal(n, (int)l->tfs[i]);
        uint32_t upto = i % 2 ? l->tfs[i] : (l->tfs[i] + 1) / 2;
        for (uint32_t j = 0; j < upto; j++) {
            assert_int_equal(kq_pos_next(&r), 1);
            assert_int_equal(r.pos, l->pos[l->pos_at[i] + j]);
        }
        if (upto == l->tfs[i])
            assert_int_equal(kq_pos_next(&r), 0);
        return;
    }
    int n = kq_postings_positions(c, buf);
    if (!l->with_pos) {
        assert_int_equal(n, 0);
        return;
    }
    assert_int_equal(n, (int)l->tfs[i]);
    assert_memory_equal(buf, l->pos + l->pos_at[i], l->tfs[i] * sizeof *buf);
}

/* Every posting of the block at `first`..`last` has a pair with tf >= and dl <=. */
static void check_dominated(const struct kq_impact *imp, uint32_t n, const struct list *l,
                            uint32_t first, uint32_t last)
{
    assert_true(n >= 1 && n <= KQ_IMPACTS_MAX);
    for (uint32_t k = 1; k < n; k++) {
        assert_true(imp[k].tf > imp[k - 1].tf);
        assert_true(imp[k].dl > imp[k - 1].dl);
    }
    for (uint32_t i = first; i <= last; i++) {
        int ok = 0;
        for (uint32_t k = 0; k < n && !ok; k++)
            ok = imp[k].tf >= l->tfs[i] && imp[k].dl <= l->dls[i];
        assert_true(ok);
    }
}

static void roundtrip(const struct list *l)
{
    kq_buf docs = KQ_BUF_INIT, pos = KQ_BUF_INIT;
    struct kq_term_meta m;
    assert_int_equal(encode(l, &docs, &pos, &m, 3), 0);
    assert_int_equal(m.df, l->n);
    uint64_t cf = 0;
    for (uint32_t i = 0; i < l->n; i++)
        cf += l->tfs[i];
    assert_true(m.cf == cf);
    assert_true(m.doc_off == 3);
    assert_true(m.doc_off + m.doc_len == docs.len);
    if (l->with_pos)
        assert_true(m.pos_off == 3 && m.pos_off + m.pos_len == pos.len);
    else
        assert_true(m.pos_len == 0);
    check_dominated(m.impacts, m.n_impacts, l, 0, l->n - 1);

    uint32_t max_tf = 1;
    for (uint32_t i = 0; i < l->n; i++)
        max_tf = l->tfs[i] > max_tf ? l->tfs[i] : max_tf;
    uint32_t *buf = malloc((size_t)max_tf * sizeof *buf);
    kq_error err;
    kq_postings_cursor c;

    /* next over everything, positions on some */
    assert_int_equal(kq_postings_open(&c, docs.p, docs.len, pos.p, pos.len, &m, 1, &err), 0);
    for (uint32_t i = 0; i < l->n; i++) {
        assert_int_equal(kq_postings_next(&c), l->docs[i]);
        assert_int_equal(kq_postings_doc(&c), l->docs[i]);
        assert_int_equal(kq_postings_tf(&c), l->tfs[i]);
        if (i % 3 == 0 || i == l->n - 1 || (i % KQ_BLOCK_SIZE) == KQ_BLOCK_SIZE - 1)
            check_positions(&c, l, i, buf);
    }
    assert_int_equal(kq_postings_next(&c), KQ_DOC_END);
    assert_int_equal(kq_postings_next(&c), KQ_DOC_END);
    assert_int_equal(kq_postings_error(&c), 0);
    kq_postings_close(&c);
    kq_postings_close(&c); /* twice is fine */

    /* seeks to random targets mixed with next: inside the block, later, past the end */
    for (int round = 0; round < 4; round++) {
        assert_int_equal(kq_postings_open(&c, docs.p, docs.len, pos.p, pos.len, &m, 1, &err), 0);
        uint32_t cur = 0; /* index of the next posting the reference would return */
        int started = 0;
        for (;;) {
            uint32_t op = kqt_rand_below(10);
            uint32_t expect_i;
            uint32_t got;
            if (op < 3) {
                expect_i = started ? cur + 1 : 0;
                got = kq_postings_next(&c);
            } else {
                uint64_t target;
                uint64_t base = started && cur < l->n ? l->docs[cur] : 0;
                if (op < 6 && l->n > 1)
                    target = base + kqt_rand_below(64); /* near: often the same block */
                else if (op < 9)
                    target = base + kqt_rand() % ((uint64_t)(l->docs[l->n - 1] - base) * 2 / (round + 1) + 2);
                else
                    target = l->docs[kqt_rand_below(l->n)];
                if (target > UINT32_MAX - 1)
                    target = UINT32_MAX - 1;
                /* never backwards: the current doc if it is already >= target */
                if (started && cur < l->n && l->docs[cur] >= target)
                    expect_i = cur;
                else
                    expect_i = lower_bound(l, started ? cur : 0, (uint32_t)target);
                got = kq_postings_seek(&c, (uint32_t)target);
            }
            started = 1;
            if (expect_i >= l->n) {
                assert_int_equal(got, KQ_DOC_END);
                break;
            }
            cur = expect_i;
            assert_int_equal(got, l->docs[cur]);
            assert_int_equal(kq_postings_tf(&c), l->tfs[cur]);
            if (kqt_rand_below(4) == 0)
                check_positions(&c, l, cur, buf);
        }
        assert_int_equal(kq_postings_seek(&c, 5), KQ_DOC_END);
        assert_int_equal(kq_postings_error(&c), 0);
        kq_postings_close(&c);
    }

    /* shallow: the block that would hold target, without moving the cursor */
    assert_int_equal(kq_postings_open(&c, docs.p, docs.len, pos.p, pos.len, &m, 1, &err), 0);
    uint64_t target = 0;
    for (;;) {
        uint32_t lb = lower_bound(l, 0, (uint32_t)target);
        const struct kq_skip *sk = kq_postings_shallow(&c, (uint32_t)target);
        if (lb >= l->n) {
            assert_null(sk);
            break;
        }
        assert_non_null(sk);
        uint32_t first = lb / KQ_BLOCK_SIZE * KQ_BLOCK_SIZE;
        uint32_t last = first + KQ_BLOCK_SIZE - 1 < l->n - 1 ? first + KQ_BLOCK_SIZE - 1 : l->n - 1;
        assert_int_equal(sk->last_doc, l->docs[last]);
        check_dominated(sk->impacts, sk->n_impacts, l, first, last);
        target = (uint64_t)l->docs[last] + 1 + kqt_rand_below(l->n > 1000 ? 100000 : 10);
        if (target > UINT32_MAX - 1)
            target = UINT32_MAX - 1;
        if (last == l->n - 1 && target <= l->docs[last])
            break;
    }
    /* shallow then seek into the block it found */
    kq_postings_close(&c);
    assert_int_equal(kq_postings_open(&c, docs.p, docs.len, pos.p, pos.len, &m, 1, &err), 0);
    uint32_t t = l->docs[l->n / 2];
    const struct kq_skip *sk = kq_postings_shallow(&c, t);
    assert_non_null(sk);
    assert_true(sk->last_doc >= t);
    assert_int_equal(kq_postings_seek(&c, t), t);
    kq_postings_close(&c);

    free(buf);
    kq_buf_release(&docs);
    kq_buf_release(&pos);
}

static void test_roundtrip_sizes(void **state)
{
    (void)state;
    const uint32_t sizes[] = {1, 2, 3, 127, 128, 129, 255, 256, 257, 1000, 4096, 100000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int g = GAPS_DENSE; g <= GAPS_ZIPF; g++) {
            for (int with_pos = 0; with_pos <= 1; with_pos++) {
                if (sizes[s] == 100000 && with_pos && g != GAPS_ZIPF)
                    continue;
                struct list l;
                uint32_t max_tf = with_pos ? 300 : (g == GAPS_HUGE ? UINT32_MAX : 100000);
                list_make(&l, sizes[s], (enum gaps)g, max_tf, with_pos);
                roundtrip(&l);
                list_free(&l);
            }
        }
    }
}

/* Re-sizes l's positions for the tfs the caller set (their values are the caller's to fill). */
static void resize_positions(struct list *l)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        l->dls[i] = l->tfs[i];
        l->pos_at[i] = total;
        total += l->tfs[i];
    }
    l->pos_at[l->n] = total;
    free(l->pos);
    l->pos = malloc(total * sizeof *l->pos);
    assert_non_null(l->pos);
}

/* n postings of tf positions each, 0, 1, 2, ...: one byte a position. */
static void list_heavy(struct list *l, uint32_t n, uint32_t tf)
{
    list_make(l, n, GAPS_DENSE, 1, 1);
    for (uint32_t i = 0; i < n; i++)
        l->tfs[i] = tf;
    resize_positions(l);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < tf; j++)
            l->pos[l->pos_at[i] + j] = j;
}

/* Reads every posting's positions; returns 0, or KQ_ECORRUPT from the first that fails. */
static int read_all_positions(const kq_buf *docs, const uint8_t *pos, size_t pos_len,
                              const struct kq_term_meta *m, int pos_tables,
                              const struct list *l)
{
    kq_error err;
    kq_postings_cursor c;
    assert_int_equal(kq_postings_open(&c, docs->p, docs->len, pos, pos_len, m, pos_tables, &err),
                     0);
    uint32_t buf[256];
    int rc = 0;
    for (uint32_t i = 0; i < l->n && !rc; i++) {
        assert_int_equal(kq_postings_next(&c), l->docs[i]);
        int n = kq_postings_positions(&c, buf);
        if (n < 0)
            rc = n;
        else
            assert_memory_equal(buf, l->pos + l->pos_at[i], l->tfs[i] * sizeof *buf);
    }
    kq_postings_close(&c);
    return rc;
}

/* P17: a block whose positions take 32 bytes a posting or more ends them with an offsets
 * table, which readers of segment format 2 use and check, and format 1 data has none. */
static void test_pos_tables(void **state)
{
    (void)state;
    kq_buf docs = KQ_BUF_INIT, pos = KQ_BUF_INIT;
    struct kq_term_meta m;
    struct list l;
    /* the threshold: two postings of 32 position bytes get a table, of 31 none */
    for (uint32_t bytes = 30; bytes <= 34; bytes++) {
        list_make(&l, 2, GAPS_DENSE, 1, 1);
        l.tfs[0] = bytes / 2;
        l.tfs[1] = bytes - bytes / 2;
        resize_positions(&l);
        for (uint32_t i = 0; i < 2; i++)
            for (uint32_t j = 0; j < l.tfs[i]; j++)
                l.pos[l.pos_at[i] + j] = 3 * j;
        kq_buf_reset(&docs);
        kq_buf_reset(&pos);
        assert_int_equal(encode(&l, &docs, &pos, &m, 0), 0);
        assert_int_equal(pos.len, bytes + (bytes >= 32 ? 4 : 0));
        if (bytes >= 32)
            assert_int_equal(kq_get_le32(pos.p + bytes), l.tfs[0]);
        roundtrip(&l);
        list_free(&l);
    }

    /* three blocks (128, 128, 44) of 40 bytes a posting: a table each */
    list_heavy(&l, 300, 40);
    roundtrip(&l);
    kq_buf_reset(&docs);
    kq_buf_reset(&pos);
    assert_int_equal(encode(&l, &docs, &pos, &m, 0), 0);
    assert_int_equal(pos.len, 300 * 40 + 4 * (127 + 127 + 43));
    assert_int_equal(read_all_positions(&docs, pos.p, pos.len, &m, 1, &l), 0);
    /* read as format 1 data, the tables are positions too many: P16 fails */
    assert_int_equal(read_all_positions(&docs, pos.p, pos.len, &m, 0, &l), KQ_ECORRUPT);
    /* an entry that disagrees with where its posting starts: P17 fails on the one before */
    uint8_t *bad = malloc(pos.len);
    assert_non_null(bad);
    const size_t tab0 = 128 * 40; /* block 0's table: entries for postings 1..127 */
    memcpy(bad, pos.p, pos.len);
    kq_put_le32(bad + tab0 + 4 * 4, 5 * 40 + 1);
    assert_int_equal(read_all_positions(&docs, bad, pos.len, &m, 1, &l), KQ_ECORRUPT);
    /* an entry past the block's positions: refused where a phrase would jump to it */
    memcpy(bad, pos.p, pos.len);
    kq_put_le32(bad + tab0 + 4 * 5, UINT32_MAX);
    kq_error err;
    kq_postings_cursor c;
    assert_int_equal(kq_postings_open(&c, docs.p, docs.len, bad, pos.len, &m, 1, &err), 0);
    assert_int_equal(kq_postings_seek(&c, l.docs[6]), l.docs[6]);
    struct kq_pos_reader r;
    assert_int_equal(kq_postings_pos_begin(&c, &r), KQ_ECORRUPT);
    assert_int_equal(kq_postings_error(&c), KQ_ECORRUPT);
    kq_postings_close(&c);
    free(bad);
    list_free(&l);

    /* format 1 data (one block, the table left out) reads right as format 1; taken for
     * format 2 its last 4 * 99 bytes would be a table, which P16/P17 refuse */
    list_heavy(&l, 100, 40);
    kq_buf_reset(&docs);
    kq_buf_reset(&pos);
    assert_int_equal(encode(&l, &docs, &pos, &m, 0), 0);
    assert_int_equal(pos.len, 100 * 40 + 4 * 99);
    m.pos_len -= 4 * 99;
    assert_int_equal(read_all_positions(&docs, pos.p, m.pos_len, &m, 0, &l), 0);
    assert_int_equal(read_all_positions(&docs, pos.p, m.pos_len, &m, 1, &l), KQ_ECORRUPT);
    list_free(&l);
    kq_buf_release(&docs);
    kq_buf_release(&pos);
}

/* Re-encodes the list in `docs`/`pos` posting by posting with the positions copied as they
 * are stored (kq_postings_positions_encoded into kq_postings_writer_add_encoded), as a merge
 * of a build's own runs does, into `docs2`/`pos2`. Returns 0 or the first error. */
static int reencode(const kq_buf *docs, const kq_buf *pos, const struct kq_term_meta *m,
                    const struct list *l, kq_buf *docs2, kq_buf *pos2, struct kq_term_meta *m2)
{
    kq_error err;
    kq_postings_cursor c;
    kq_postings_writer *w = NULL;
    int r = kq_postings_open(&c, docs->p, docs->len, pos->p, pos->len, m, 1, &err);
    if (r)
        return r;
    if ((r = kq_postings_writer_new(&w))) {
        kq_postings_close(&c);
        return r;
    }
    kq_postings_writer_begin(w, pos2, l->with_pos);
    uint32_t d, i = 0;
    while (!r && (d = kq_postings_next(&c)) != KQ_DOC_END) {
        const uint8_t *enc = NULL;
        size_t len = 0;
        int n = kq_postings_positions_encoded(&c, &enc, &len);
        if (n < 0)
            r = n;
        else if (n != (l->with_pos ? (int)l->tfs[i] : 0))
            r = KQ_EINTERNAL;
        else
            r = kq_postings_writer_add_encoded(w, d, kq_postings_tf(&c), l->dls[i], enc, len);
        i++;
    }
    if (!r && kq_postings_error(&c))
        r = kq_postings_error(&c);
    if (!r)
        r = i == l->n ? kq_postings_writer_end(w, docs2, 0, 0, m2) : KQ_EINTERNAL;
    kq_postings_writer_free(w);
    kq_postings_close(&c);
    return r;
}

/* Positions copied as stored give the bytes encoding them afresh gives: with and without
 * offsets tables, long and short, and without positions. The copy checks the varints'
 * count and where they end (P16, P17), and a writer takes no fewer bytes than positions. */
static void test_encoded_copy(void **state)
{
    (void)state;
    kq_buf docs = KQ_BUF_INIT, pos = KQ_BUF_INIT, docs2 = KQ_BUF_INIT, pos2 = KQ_BUF_INIT;
    struct kq_term_meta m, m2;
    struct list l;
    for (int k = 0; k < 5; k++) {
        if (k == 0)
            list_make(&l, 1000, GAPS_RANDOM, 300, 1);
        else if (k == 1)
            list_heavy(&l, 300, 40); /* a table a block */
        else if (k == 2)
            list_make(&l, 3, GAPS_ZIPF, 5000, 1);
        else if (k == 3)
            list_make(&l, 500, GAPS_DENSE, 20, 0);
        else
            list_make(&l, 129, GAPS_HUGE, 4, 1);
        kq_buf_reset(&docs);
        kq_buf_reset(&pos);
        kq_buf_reset(&docs2);
        kq_buf_reset(&pos2);
        assert_int_equal(encode(&l, &docs, &pos, &m, 0), 0);
        assert_int_equal(reencode(&docs, &pos, &m, &l, &docs2, &pos2, &m2), 0);
        assert_int_equal(docs2.len, docs.len);
        assert_memory_equal(docs2.p, docs.p, docs.len);
        assert_int_equal(pos2.len, pos.len);
        if (pos.len)
            assert_memory_equal(pos2.p, pos.p, pos.len);
        assert_memory_equal(&m2, &m, sizeof m);
        list_free(&l);
    }

    /* the positions of a block cut short, or a table entry moved: refused */
    list_heavy(&l, 300, 40);
    kq_buf_reset(&docs);
    kq_buf_reset(&pos);
    assert_int_equal(encode(&l, &docs, &pos, &m, 0), 0);
    uint8_t *bad = malloc(pos.len);
    assert_non_null(bad);
    memcpy(bad, pos.p, pos.len);
    kq_put_le32(bad + 128 * 40 + 4 * 4, 5 * 40 + 1); /* posting 5 of block 0 */
    kq_buf b = {bad, pos.len, pos.len};
    kq_buf_reset(&docs2);
    kq_buf_reset(&pos2);
    assert_int_equal(reencode(&docs, &b, &m, &l, &docs2, &pos2, &m2), KQ_ECORRUPT);
    memcpy(bad, pos.p, pos.len);
    bad[40 * 128 - 1] |= 0x80; /* block 0's last varint runs into its table */
    kq_buf_reset(&docs2);
    kq_buf_reset(&pos2);
    assert_int_equal(reencode(&docs, &b, &m, &l, &docs2, &pos2, &m2), KQ_ECORRUPT);
    free(bad);
    list_free(&l);

    kq_postings_writer *w;
    assert_int_equal(kq_postings_writer_new(&w), 0);
    kq_buf_reset(&pos2);
    kq_postings_writer_begin(w, &pos2, 1);
    const uint8_t enc[3] = {1, 2, 3};
    assert_int_equal(kq_postings_writer_add_encoded(w, 1, 4, 9, enc, 3), KQ_EINVAL);
    assert_int_equal(kq_postings_writer_add_encoded(w, 1, 3, 9, NULL, 3), KQ_EINVAL);
    assert_int_equal(kq_postings_writer_add_encoded(w, 1, 3, 9, enc, 3), 0);
    assert_int_equal(kq_postings_writer_add_encoded(w, 1, 3, 9, enc, 3), KQ_EINVAL); /* order */
    assert_int_equal(pos2.len, 3);
    kq_postings_writer_free(w);
    kq_buf_release(&docs);
    kq_buf_release(&pos);
    kq_buf_release(&docs2);
    kq_buf_release(&pos2);
}

/* Documents with thousands of positions, their deltas mostly of one and two bytes: the
 * stretches that seeking and skipping pass over many bytes at a time, broken here and there
 * by a delta of three bytes. Every seek lands on the first position >= the one wanted. */
static void test_long_positions(void **state)
{
    (void)state;
    struct list l;
    list_make(&l, 40, GAPS_RANDOM, 1, 1);
    for (uint32_t i = 0; i < l.n; i++)
        l.tfs[i] = i % 4 == 3 ? 1 + kqt_rand_below(20) : 500 + kqt_rand_below(4000);
    resize_positions(&l);
    for (uint32_t i = 0; i < l.n; i++) {
        uint32_t p = kqt_rand_below(3);
        uint32_t two = 5 + 20 * (i % 5), three = i % 3 ? 0 : 1 + 2 * (i % 7); /* in 100 */
        for (uint32_t j = 0; j < l.tfs[i]; j++) {
            l.pos[l.pos_at[i] + j] = p;
            uint32_t r = kqt_rand_below(100);
            p += r < three ? 16384 + kqt_rand_below(50000)
                 : r < three + two ? 128 + kqt_rand_below(16256)
                                    : 1 + kqt_rand_below(127);
        }
    }
    roundtrip(&l);

    kq_buf docs = KQ_BUF_INIT, pos = KQ_BUF_INIT;
    struct kq_term_meta m;
    assert_int_equal(encode(&l, &docs, &pos, &m, 1), 0);
    kq_error err;
    kq_postings_cursor c;
    assert_int_equal(kq_postings_open(&c, docs.p, docs.len, pos.p, pos.len, &m, 1, &err), 0);
    for (uint32_t i = 0; i < l.n; i++) {
        assert_int_equal(kq_postings_next(&c), l.docs[i]);
        if (i % 5 == 4)
            continue; /* left unread: the next document's positions are skipped to */
        const uint32_t *p = &l.pos[l.pos_at[i]];
        struct kq_pos_reader r;
        assert_int_equal(kq_postings_pos_begin(&c, &r), (int)l.tfs[i]);
        uint32_t j = 0;
        while (j < l.tfs[i]) {
            /* a target somewhere up to ~300 positions on, between two of them or on one */
            uint32_t k = j + kqt_rand_below(300);
            if (k >= l.tfs[i])
                k = l.tfs[i] - 1;
            uint32_t want = p[k];
            if (k > j && kqt_rand_below(2))
                want = p[k - 1] + 1 + kqt_rand_below(p[k] - p[k - 1]);
            assert_int_equal(kq_pos_seek(&r, want), 1);
            assert_int_equal(r.pos, p[k]);
            j = k + 1;
            if (j < l.tfs[i] && kqt_rand_below(3) == 0) {
                assert_int_equal(kq_pos_next(&r), 1);
                assert_int_equal(r.pos, p[j++]);
            }
        }
        assert_int_equal(kq_pos_seek(&r, p[l.tfs[i] - 1] + 1), 0);
    }
    assert_int_equal(kq_postings_next(&c), KQ_DOC_END);
    assert_int_equal(kq_postings_error(&c), 0);
    kq_postings_close(&c);
    kq_buf_release(&docs);
    kq_buf_release(&pos);
    list_free(&l);
}

static void test_extremes(void **state)
{
    (void)state;
    /* doc 0 and doc 2^32 - 2, tf 2^32 - 1 without positions: the widest values */
    struct list l;
    list_make(&l, 2, GAPS_DENSE, 1, 0);
    l.docs[0] = 0;
    l.docs[1] = UINT32_MAX - 1;
    l.tfs[0] = UINT32_MAX;
    l.tfs[1] = 1;
    l.dls[0] = UINT32_MAX;
    l.dls[1] = 0;
    roundtrip(&l);
    list_free(&l);
    /* a full block at width 32 for both docs gaps and tfs */
    list_make(&l, 256, GAPS_DENSE, 1, 0);
    for (uint32_t i = 0; i < 256; i++) {
        l.docs[i] = i < 128 ? i * 3 : (uint32_t)(UINT32_MAX - 1 - (255 - i));
        l.tfs[i] = i == 5 || i == 200 ? UINT32_MAX : 1;
    }
    roundtrip(&l);
    list_free(&l);
}

static void test_golden_bytes(void **state)
{
    (void)state;
    /* df 1, doc 5, tf 1: one byte, (5 << 1) | 1 */
    struct list l;
    list_make(&l, 2, GAPS_DENSE, 1, 1);
    l.n = 1;
    l.docs[0] = 5;
    l.tfs[0] = 1;
    l.dls[0] = 9;
    l.pos[0] = 3;
    kq_buf docs = KQ_BUF_INIT, pos = KQ_BUF_INIT;
    struct kq_term_meta m;
    assert_int_equal(encode(&l, &docs, &pos, &m, 0), 0);
    assert_int_equal(docs.len, 1);
    assert_int_equal(docs.p[0], 0x0b);
    assert_int_equal(pos.len, 1);
    assert_int_equal(pos.p[0], 3);
    assert_int_equal(m.n_impacts, 1);
    assert_int_equal(m.impacts[0].tf, 1);
    assert_int_equal(m.impacts[0].dl, 9);
    kq_buf_release(&docs);
    kq_buf_release(&pos);
    /* docs 1, 3 with tf 3, 1: gaps-1 are 1 and 1: [0x02 0x01] [0x03] */
    l.n = 2;
    l.docs[0] = 1;
    l.tfs[0] = 3;
    l.docs[1] = 3;
    l.tfs[1] = 1;
    l.with_pos = 0;
    assert_int_equal(encode(&l, &docs, &pos, &m, 0), 0);
    const uint8_t want[] = {0x02, 0x01, 0x03};
    assert_int_equal(docs.len, sizeof want);
    assert_memory_equal(docs.p, want, sizeof want);
    kq_buf_release(&docs);
    kq_buf_release(&pos);
    list_free(&l);

    /* 129 docs 0..128, tf 1: skip table of 2 entries, a packed block of width 0/0, a tail.
     * entry 0: last 127, impacts n-1=0 tf-1=0 dl=0; entry 1: last gap-1 0, block length 2,
     * impacts; block 0: 00 00; tail: (0 << 1) | 1 */
    list_make(&l, 129, GAPS_DENSE, 1, 0);
    for (uint32_t i = 0; i < 129; i++) {
        l.docs[i] = i;
        l.tfs[i] = 1;
        l.dls[i] = 0;
    }
    assert_int_equal(encode(&l, &docs, &pos, &m, 0), 0);
    const uint8_t want2[] = {0x7f, 0, 0, 0, /**/ 0, 2, 0, 0, 0, /**/ 0, 0, /**/ 1};
    assert_int_equal(docs.len, sizeof want2);
    assert_memory_equal(docs.p, want2, sizeof want2);
    kq_buf_release(&docs);
    kq_buf_release(&pos);
    list_free(&l);
}

static void test_writer_einval(void **state)
{
    (void)state;
    kq_postings_writer *w;
    kq_buf docs = KQ_BUF_INIT, pos = KQ_BUF_INIT;
    struct kq_term_meta m;
    assert_int_equal(kq_postings_writer_new(&w), 0);
    kq_postings_writer_begin(w, &pos, 1);
    assert_int_equal(kq_postings_writer_end(w, &docs, 0, 0, &m), KQ_EINVAL);
    kq_postings_writer_begin(w, &pos, 1);
    uint32_t p[3] = {1, 2, 2};
    assert_int_equal(kq_postings_writer_add(w, 3, 0, 1, p), KQ_EINVAL);
    assert_int_equal(kq_postings_writer_add(w, 3, 3, 1, p), KQ_EINVAL); /* positions */
    assert_int_equal(kq_postings_writer_add(w, KQ_DOC_END, 1, 1, p), KQ_EINVAL);
    assert_int_equal(kq_postings_writer_add(w, 3, 2, 1, p), 0);
    assert_int_equal(kq_postings_writer_add(w, 3, 2, 1, p), KQ_EINVAL); /* order */
    assert_int_equal(kq_postings_writer_add(w, 2, 2, 1, p), KQ_EINVAL);
    assert_int_equal(kq_postings_writer_end(w, &docs, 10, 20, &m), 0);
    assert_int_equal(m.df, 1);
    assert_true(m.doc_off == 10 && m.pos_off == 20 && m.pos_len == 2);
    kq_postings_writer_free(w);
    kq_postings_writer_free(NULL);
    kq_buf_release(&docs);
    kq_buf_release(&pos);
    /* a zeroed cursor closes and ends */
    kq_postings_cursor c;
    memset(&c, 0, sizeof c);
    assert_int_equal(kq_postings_next(&c), KQ_DOC_END);
    kq_postings_close(&c);
    kq_postings_close(NULL);
}

/* ---- impacts ---- */

static double bm25(uint32_t tf, uint32_t dl, double avgdl, double k1, double b)
{
    return (double)tf * (k1 + 1) / ((double)tf + k1 * (1 - b + b * (double)dl / avgdl));
}

static void test_impacts_frontier(void **state)
{
    (void)state;
    struct kq_impact a[] = {{1, 10}, {2, 10}, {2, 5}, {1, 3}, {3, 20}, {2, 5}, {1, 4}};
    uint32_t n = kq_impacts_reduce(a, 7, 100);
    /* (1,3) (2,5) (3,20) survive */
    assert_int_equal(n, 3);
    assert_true(a[0].tf == 1 && a[0].dl == 3);
    assert_true(a[1].tf == 2 && a[1].dl == 5);
    assert_true(a[2].tf == 3 && a[2].dl == 20);
    n = kq_impacts_reduce(a, 3, 1);
    assert_int_equal(n, 1);
    assert_true(a[0].tf == 3 && a[0].dl == 3);
    assert_int_equal(kq_impacts_reduce(a, 0, 8), 0);

    /* random blocks: frontier properties and the BM25 bound under random statistics */
    struct kq_impact blk[KQ_BLOCK_SIZE], red[KQ_BLOCK_SIZE];
    for (int iter = 0; iter < 3000; iter++) {
        uint32_t cnt = 1 + kqt_rand_below(KQ_BLOCK_SIZE);
        for (uint32_t i = 0; i < cnt; i++) {
            blk[i].tf = 1 + (kqt_rand_below(4) ? kqt_rand_below(5) : kqt_rand_below(200));
            blk[i].dl = kqt_rand_below(4) ? kqt_rand_below(300) : kqt_rand_below(100000);
        }
        memcpy(red, blk, sizeof blk);
        uint32_t max = 1 + kqt_rand_below(KQ_IMPACTS_MAX);
        uint32_t k = kq_impacts_reduce(red, cnt, max);
        assert_true(k >= 1 && k <= max);
        for (uint32_t j = 1; j < k; j++)
            assert_true(red[j].tf > red[j - 1].tf && red[j].dl > red[j - 1].dl);
        for (int s = 0; s < 20; s++) {
            double N = 1 + kqt_rand_below(10000000);
            (void)N; /* idf is a common factor of every pair: the bound must hold without it */
            double avgdl = 1 + kqt_rand_below(5000) / 3.0;
            double k1 = 0.1 + kqt_rand_below(300) / 100.0;
            double b = kqt_rand_below(101) / 100.0;
            double best = 0, bound = 0;
            for (uint32_t i = 0; i < cnt; i++) {
                double x = bm25(blk[i].tf, blk[i].dl, avgdl, k1, b);
                best = x > best ? x : best;
            }
            for (uint32_t j = 0; j < k; j++) {
                double x = bm25(red[j].tf, red[j].dl, avgdl, k1, b);
                bound = x > bound ? x : bound;
            }
            assert_true(best <= bound * (1 + 1e-12));
        }
    }
}

/* ---- corruption ---- */

/* Opens and walks everything: next with positions, then seeks and shallow. Either no error
 * and a well-formed list (doc ids strictly increasing, df postings, tf >= 1, positions
 * increasing), or KQ_ECORRUPT. Returns 1 when corruption was reported. */
static int walk_untrusted(const uint8_t *docs, size_t docs_size, const uint8_t *pos,
                          size_t pos_size, const struct kq_term_meta *m)
{
    kq_postings_cursor c;
    kq_error err;
    int r = kq_postings_open(&c, docs, docs_size, pos, pos_size, m, 1, &err);
    if (r) {
        assert_int_equal(r, KQ_ECORRUPT);
        assert_int_equal(err.code, KQ_ECORRUPT);
        return 1;
    }
    uint32_t *buf = malloc(4096 * sizeof *buf);
    uint64_t prev = 0, n = 0;
    int first = 1, bad = 0;
    for (uint32_t d; (d = kq_postings_next(&c)) != KQ_DOC_END;) {
        assert_true(first || d > prev);
        first = 0;
        prev = d;
        n++;
        uint32_t tf = kq_postings_tf(&c);
        assert_true(tf >= 1);
        if (tf <= 4096) {
            int k = kq_postings_positions(&c, buf);
            if (k < 0) {
                assert_int_equal(k, KQ_ECORRUPT);
                break;
            }
            for (int j = 1; j < k; j++)
                assert_true(buf[j] > buf[j - 1]);
        }
    }
    if (kq_postings_error(&c))
        bad = 1;
    else
        assert_true(n == m->df);
    kq_postings_close(&c);
    if (kq_postings_open(&c, docs, docs_size, pos, pos_size, m, 1, &err) == 0) {
        uint32_t t = 0;
        for (int k = 0; k < 64; k++) {
            kq_postings_shallow(&c, t);
            uint32_t d = kq_postings_seek(&c, t);
            if (d == KQ_DOC_END)
                break;
            assert_true(d >= t);
            t = d + 1 + (uint32_t)(k * 37);
        }
        bad |= kq_postings_error(&c) != 0;
        kq_postings_close(&c);
    }
    free(buf);
    return bad;
}

static void sweep(const struct list *l, int *flips_seen, int *flips_caught)
{
    kq_buf docs = KQ_BUF_INIT, pos = KQ_BUF_INIT;
    struct kq_term_meta m;
    assert_int_equal(encode(l, &docs, &pos, &m, 0), 0);
    /* truncations of each section, each copied to an exact-size allocation (ASan sees) */
    for (size_t len = 0; len < docs.len; len++) {
        uint8_t *d = malloc(len + 1);
        memcpy(d, docs.p, len);
        struct kq_term_meta t = m;
        t.doc_len = len;
        assert_int_equal(walk_untrusted(d, len, pos.p, pos.len, &t), 1);
        assert_int_equal(walk_untrusted(d, len, pos.p, pos.len, &m), 1);
        free(d);
    }
    for (size_t len = 0; len < pos.len; len += 1 + len / 64) {
        uint8_t *p = malloc(len + 1);
        memcpy(p, pos.p, len);
        struct kq_term_meta t = m;
        t.pos_len = len;
        walk_untrusted(docs.p, docs.len, p, len, &t); /* may end early without reading them */
        assert_int_equal(walk_untrusted(docs.p, docs.len, p, len, &m), 1);
        free(p);
    }
    /* byte flips */
    uint8_t *d = malloc(docs.len);
    for (size_t i = 0; i < docs.len; i++) {
        static const uint8_t masks[] = {0x01, 0x02, 0x10, 0x80, 0xff};
        for (size_t k = 0; k < sizeof masks; k++) {
            memcpy(d, docs.p, docs.len);
            d[i] ^= masks[k];
            (*flips_seen)++;
            *flips_caught += walk_untrusted(d, docs.len, pos.p, pos.len, &m);
        }
    }
    free(d);
    uint8_t *p = malloc(pos.len + 1);
    for (size_t i = 0; i < pos.len; i += 1 + i / 32) {
        memcpy(p, pos.p, pos.len);
        p[i] ^= 0x80;
        walk_untrusted(docs.p, docs.len, p, pos.len, &m);
    }
    free(p);
    /* meta lies */
    struct kq_term_meta t = m;
    t.df = m.df + 1;
    walk_untrusted(docs.p, docs.len, pos.p, pos.len, &t);
    t = m;
    t.cf = m.cf + 1;
    walk_untrusted(docs.p, docs.len, pos.p, pos.len, &t);
    t = m;
    t.doc_off = docs.len;
    assert_int_equal(walk_untrusted(docs.p, docs.len, pos.p, pos.len, &t), 1);
    t = m;
    t.n_impacts = KQ_IMPACTS_MAX + 1;
    assert_int_equal(walk_untrusted(docs.p, docs.len, pos.p, pos.len, &t), 1);
    t = m;
    t.df = UINT32_MAX;
    assert_int_equal(walk_untrusted(docs.p, docs.len, pos.p, pos.len, &t), 1);
    kq_buf_release(&docs);
    kq_buf_release(&pos);
}

static void test_corruption_sweeps(void **state)
{
    (void)state;
    int seen = 0, caught = 0;
    const uint32_t sizes[] = {1, 5, 128, 300};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        struct list l;
        list_make(&l, sizes[s], GAPS_RANDOM, 20, 1);
        sweep(&l, &seen, &caught);
        list_free(&l);
    }
    struct list l;
    list_heavy(&l, 300, 40); /* offsets tables in every block */
    sweep(&l, &seen, &caught);
    list_free(&l);
    print_message("byte flips: %d, reported corrupt: %d\n", seen, caught);
}

/* ---- allocation failures ---- */

static void test_alloc_failures(void **state)
{
    (void)state;
    struct list l;
    list_make(&l, 700, GAPS_RANDOM, 50, 1);
    for (long n = 0;; n++) {
        kq_buf docs = KQ_BUF_INIT, pos = KQ_BUF_INIT;
        struct kq_term_meta m;
        kq_alloc_fail_after(n);
        int r = encode(&l, &docs, &pos, &m, 0);
        kq_postings_cursor c;
        kq_error err;
        if (r == 0) {
            r = kq_postings_open(&c, docs.p, docs.len, pos.p, pos.len, &m, 1, &err);
            if (r == 0) {
                uint32_t k = 0;
                while (kq_postings_next(&c) != KQ_DOC_END)
                    k++;
                assert_int_equal(k, l.n);
                kq_postings_close(&c);
            }
        }
        kq_alloc_fail_after(-1);
        kq_buf_release(&docs);
        kq_buf_release(&pos);
        if (r == 0)
            break;
        assert_int_equal(r, KQ_ENOMEM);
        assert_true(n < 10000);
    }
    list_free(&l);
}

int main(void)
{
    kqt_seed(0x243f6a8885a308d3ull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_bytes),
        cmocka_unit_test(test_writer_einval),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_roundtrip_sizes),
        cmocka_unit_test(test_long_positions),
        cmocka_unit_test(test_pos_tables),
        cmocka_unit_test(test_encoded_copy),
        cmocka_unit_test(test_impacts_frontier),
        cmocka_unit_test(test_corruption_sweeps),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
