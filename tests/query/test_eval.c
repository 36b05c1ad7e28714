/* tests/query/test_eval.c: the query evaluator (query/eval.c).
 *
 *  - BM25 by hand: a three-document corpus, every score checked against the formulas of
 *    DESIGN.md written out with literal numbers.
 *  - Exactness: random corpora and random queries of every kind; the evaluator's top k
 *    (k = 1, 10, 100, 1000, and a page with an offset) must equal, document for document
 *    and bit for bit, a brute-force scorer that walks the query tree over whole postings
 *    lists; count_only must equal the brute-force count. The brute force uses bm25.h's
 *    canonical arithmetic, which is itself checked against the textbook formula.
 *  - Edge cases: absent terms, an empty root, k past the matches, offset past the end, only
 *    MUST_NOT, k1/b overrides, bad options, prefix limits, every allocation failing,
 *    corrupt postings.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <xxhash.h>

#include "index/manifest.h"
#include "index/segment.h"
#include "kq/index.h"
#include "query/bm25.h"
#include "query/eval.h"
#include "query/query.h"
#include "testutil.h"
#include "util/alloc.h"
#include "util/bytes.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLOW 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOW 1
#endif
#endif
#ifndef SLOW
#define SLOW 0
#endif

static kq_analyzer *none;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static kq_index *build_open(const char *dir, const char *const *paths, size_t n)
{
    struct kq_build_opts o = {0};
    o.language = "none";
    o.n_threads = 1;
    o.b = -1;
    kq_error err;
    int rc = kq_index_build(dir, paths, n, &o, NULL, &err);
    if (rc)
        fail_msg("build: %s", err.msg);
    kq_index *ix;
    rc = kq_index_open(dir, &ix, &err);
    if (rc)
        fail_msg("open: %s", err.msg);
    return ix;
}

static kq_query *parse(const char *s, int flags)
{
    kq_query *q;
    kq_error err;
    int rc = kq_query_parse(s, strlen(s), none, flags, NULL, &q, &err);
    if (rc)
        fail_msg("parse '%s': %s", s, err.msg);
    return q;
}

/* `tw`: title_weight (< 0: the default) */
static int search_tw(const kq_index *ix, const char *s, uint32_t k, double tw,
                     struct kq_results *r)
{
    kq_query *q = parse(s, 0);
    struct kq_search_opts o;
    kq_search_opts_init(&o);
    o.k = k;
    o.title_weight = tw;
    kq_error err;
    int rc = kq_eval(ix, q, &o, r, &err);
    kq_query_free(q);
    return rc;
}

static int search(const kq_index *ix, const char *s, uint32_t k, struct kq_results *r)
{
    return search_tw(ix, s, k, -1, r);
}

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-12 * fabs(b);
}

/* ---- 1. BM25 by hand ---- */

/* Documents (plain text: the first line is the title, indexed once, as body):
 *   a.txt "red fox\nred fox runs"               title [red fox] (2)  text 5 tokens
 *   b.txt "blue sky\nthe fox sees the red sky"  title [blue sky] (2) text 8 tokens
 *   c.txt "green grass\ngrass grows slowly"     title [green grass] (2) text 5 tokens
 * N = 3; text avgdl = (5 + 8 + 5) / 3 = 6; title avgdl = 6 / 3 = 2; k1 = 0.9, b = 0.4. */
static void test_bm25_by_hand(void **state)
{
    (void)state;
    char *tmp = kqt_tmpdir();
    char p[3][4096], dir[4096];
    const char *texts[3] = {"red fox\nred fox runs\n", "blue sky\nthe fox sees the red sky\n",
                            "green grass\ngrass grows slowly\n"};
    const char *paths[3];
    for (int i = 0; i < 3; i++) {
        snprintf(p[i], sizeof p[i], "%s/%c.txt", tmp, 'a' + i);
        write_text(p[i], texts[i]);
        paths[i] = p[i];
    }
    snprintf(dir, sizeof dir, "%s/ix", tmp);
    kq_index *ix = build_open(dir, paths, 3);
    struct kq_index_info info;
    kq_index_get_info(ix, &info);
    assert_int_equal(info.n_docs, 3);
    assert_true(info.k1 == 0.9 && info.b == 0.4);
    /* doc ids by file name */
    uint32_t A = 9, B = 9, C = 9;
    for (uint32_t d = 0; d < 3; d++) {
        struct kq_doc doc;
        assert_int_equal(kq_index_doc(ix, d, &doc, NULL), 0);
        char last = doc.path[doc.path_len - 5];
        if (last == 'a')
            A = d;
        else if (last == 'b')
            B = d;
        else if (last == 'c')
            C = d;
    }
    assert_true(A < 3 && B < 3 && C < 3);
    assert_int_equal(kq_index_doc_len(ix, KQ_FIELD_TEXT, A), 5);
    assert_int_equal(kq_index_doc_len(ix, KQ_FIELD_TEXT, B), 8);
    assert_int_equal(kq_index_doc_len(ix, KQ_FIELD_TEXT, C), 5);
    assert_int_equal(kq_index_doc_len(ix, KQ_FIELD_TITLE, C), 2);

    /* fox: df 2, idf = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln 1.6 = 0.4700036292...
     *   A: tf 2, dl 5: tf' = 2 * 1.9 / (2 + 0.9 * (0.6 + 0.4 * 5 / 6)) = 3.8 / 2.84 = 1.33802817
     *      score = 0.47000363 * 1.33802817 = 0.62887810
     *   B: tf 1, dl 8: tf' = 1.9 / (1 + 0.9 * (0.6 + 0.4 * 8 / 6)) = 1.9 / 2.02 = 0.94059406
     *      score = 0.47000363 * 0.94059406 = 0.44208263 */
    double idf_fox = log(1 + (3 - 2 + 0.5) / (2 + 0.5));
    double fox_a = idf_fox * (2 * 1.9 / (2 + 0.9 * (1 - 0.4 + 0.4 * 5 / 6.0)));
    double fox_b = idf_fox * (1 * 1.9 / (1 + 0.9 * (1 - 0.4 + 0.4 * 8 / 6.0)));
    assert_true(fabs(fox_a - 0.62887810) < 1e-8 && fabs(fox_b - 0.44208263) < 1e-8);
    struct kq_results r;
    assert_int_equal(search_tw(ix, "fox", 10, 0, &r), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.total, 2);
    assert_true(r.total_exact);
    assert_int_equal(r.hits[0].doc, A);
    assert_true(near(r.hits[0].score, fox_a));
    assert_int_equal(r.hits[1].doc, B);
    assert_true(near(r.hits[1].score, fox_b));
    kq_results_release(&r);

    /* fox OR sky: sky df 1, idf = ln(1 + 2.5 / 1.5) = 0.98082925; B: tf 2, dl 8:
     *   tf' = 3.8 / (2 + 0.9 * 1.1333333) = 3.8 / 3.02 = 1.25827815, sky = 1.23415601
     *   B = fox_b + sky_b = 1.67623864 (clause order: fox first), A = fox_a. */
    double idf_sky = log(1 + (3 - 1 + 0.5) / (1 + 0.5));
    double sky_b = idf_sky * (2 * 1.9 / (2 + 0.9 * (1 - 0.4 + 0.4 * 8 / 6.0)));
    assert_true(fabs(fox_b + sky_b - 1.67623864) < 1e-8);
    assert_int_equal(search_tw(ix, "fox sky", 10, 0, &r), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.hits[0].doc, B);
    assert_true(near(r.hits[0].score, fox_b + sky_b));
    assert_int_equal(r.hits[1].doc, A);
    assert_true(near(r.hits[1].score, fox_a));
    kq_results_release(&r);

    /* "red fox": A only (red at 0 and 2, fox at 1 and 3: freq 2; in B red follows fox).
     *   score = (idf_red + idf_fox) * tf'(2, 5) = 2 * 0.47000363 * 1.33802817 = 1.25775620 */
    double idf_red = log(1 + (3 - 2 + 0.5) / (2 + 0.5));
    double phrase_a = (idf_red + idf_fox) * (2 * 1.9 / (2 + 0.9 * (1 - 0.4 + 0.4 * 5 / 6.0)));
    assert_true(fabs(phrase_a - 1.25775620) < 1e-8);
    assert_int_equal(search_tw(ix, "\"red fox\"", 10, 0, &r), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.hits[0].doc, A);
    assert_true(near(r.hits[0].score, phrase_a));
    kq_results_release(&r);

    /* title:grass: C only; df 1, idf 0.98082925; tf 1, dl 2, avgdl 2:
     *   tf' = 1.9 / (1 + 0.9 * (0.6 + 0.4 * 2 / 2)) = 1.9 / 1.9 = 1, score = idf */
    double title_c = log(1 + (3 - 1 + 0.5) / (1 + 0.5)) * (1.9 / (1 + 0.9 * (0.6 + 0.4 * 2 / 2.0)));
    assert_true(fabs(title_c - 0.98082925) < 1e-8);
    assert_int_equal(search_tw(ix, "title:grass", 10, 0, &r), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.hits[0].doc, C);
    assert_true(near(r.hits[0].score, title_c));
    kq_results_release(&r);

    /* a boost multiplies: fox^2.5 */
    assert_int_equal(search_tw(ix, "fox^2.5", 10, 0, &r), 0);
    assert_true(near(r.hits[0].score, 2.5 * fox_a));
    kq_results_release(&r);

    /* the title weight (default 0.25): a text word adds 0.25 times its BM25 in the title.
     * fox in titles: A only, df 1, idf 0.98082925; tf 1, dl 2 = avgdl: tf' = 1.
     *   A = fox_a + 0.25 * 0.98082925 = 0.87408541; B = fox_b (its title has no fox) */
    double fox_a_tw = fox_a + 0.25 * idf_sky * (1.9 / (1 + 0.9 * (0.6 + 0.4 * 2 / 2.0)));
    assert_true(fabs(fox_a_tw - 0.87408541) < 1e-8);
    assert_int_equal(search(ix, "fox", 10, &r), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.total, 2);
    assert_int_equal(r.hits[0].doc, A);
    assert_true(near(r.hits[0].score, fox_a_tw));
    assert_int_equal(r.hits[1].doc, B);
    assert_true(near(r.hits[1].score, fox_b));
    kq_results_release(&r);
    /* "red fox" is A's title: in the title freq 1, dl 2: 0.25 * (idf red + idf fox) * 1,
     * both df 1 in titles: phrase_a + 0.25 * 1.96165850 = 1.74817082; a weight of 2 too */
    assert_int_equal(search(ix, "\"red fox\"", 10, &r), 0);
    assert_int_equal(r.n, 1);
    assert_true(near(r.hits[0].score, phrase_a + 0.25 * 2 * idf_sky));
    assert_true(fabs(phrase_a + 0.25 * 2 * idf_sky - 1.74817082) < 1e-8);
    kq_results_release(&r);
    assert_int_equal(search_tw(ix, "\"red fox\"", 10, 2, &r), 0);
    assert_true(near(r.hits[0].score, phrase_a + 2 * 2 * idf_sky));
    kq_results_release(&r);
    /* excluded or counted words have no title part; a title: word has none either */
    assert_int_equal(search(ix, "sky -fox", 10, &r), 0);
    assert_int_equal(r.n, 0);
    kq_results_release(&r);
    assert_int_equal(search(ix, "title:grass", 10, &r), 0);
    assert_true(near(r.hits[0].score, title_c));
    kq_results_release(&r);

    /* k1 and b overrides: k1 1.2, b 0.75 for fox in A: tf' = 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 *
     * 5 / 6)) = 4.4 / 3.05 */
    kq_query *q = parse("fox", 0);
    struct kq_search_opts o;
    kq_search_opts_init(&o);
    o.k1 = 1.2;
    o.b = 0.75;
    o.title_weight = 0;
    assert_int_equal(kq_eval(ix, q, &o, &r, NULL), 0);
    assert_int_equal(r.hits[0].doc, A);
    assert_true(near(r.hits[0].score, idf_fox * 4.4 / 3.05));
    kq_results_release(&r);
    /* b = 0: no length normalisation, tf' = 2 * 1.9 / (2 + 0.9) */
    o.k1 = -1;
    o.b = 0;
    assert_int_equal(kq_eval(ix, q, &o, &r, NULL), 0);
    assert_true(near(r.hits[0].score, idf_fox * 3.8 / 2.9));
    kq_results_release(&r);
    /* a title weight out of range */
    o.b = -1;
    o.title_weight = KQ_TITLE_WEIGHT_MAX * 2;
    assert_int_equal(kq_eval(ix, q, &o, &r, NULL), KQ_EINVAL);
    o.title_weight = NAN;
    assert_int_equal(kq_eval(ix, q, &o, &r, NULL), KQ_EINVAL);
    kq_query_free(q);

    kq_index_close(ix);
    kqt_rmrf(tmp);
    free(tmp);
}

/* ---- the brute-force reference ---- */

struct ref {
    const kq_index *ix;
    uint32_t n;
    struct kq_bm25_field bf[KQ_N_FIELDS];
    double k1, b, avgdl[KQ_N_FIELDS];
    uint32_t max_exp;
    double tw;    /* title weight */
    int too_many; /* a prefix had more than max_exp terms */
};

static void leaf_term(struct ref *R, int field, const char *term, size_t len, double boost,
                      uint8_t *m, double *s, int add)
{
    struct kq_term_stats st;
    if (kq_index_lookup(R->ix, field, term, len, &st, NULL))
        return;
    kq_cursor *c;
    assert_int_equal(kq_cursor_open(R->ix, field, term, len, &c, NULL), 0);
    assert_non_null(c);
    double w = boost * kq_bm25_idf(R->n, st.df);
    for (uint32_t d = kq_cursor_next(c); d != KQ_NO_DOC; d = kq_cursor_next(c)) {
        uint32_t tf = kq_cursor_tf(c), dl = kq_index_doc_len(R->ix, field, d);
        double x = w * kq_bm25_tf(&R->bf[field], tf, dl);
        /* the canonical arithmetic agrees with the textbook formula */
        double idf = log(1 + (R->n - st.df + 0.5) / (st.df + 0.5));
        double textbook = boost * idf * tf * (R->k1 + 1) /
                          (tf + R->k1 * (1 - R->b + R->b * dl / R->avgdl[field]));
        assert_true(fabs(x - textbook) <= 1e-12 * textbook);
        m[d] = 1;
        s[d] = add ? s[d] + x : x;
    }
    assert_int_equal(kq_cursor_error(c), 0);
    kq_cursor_close(c);
}

struct pfx {
    struct ref *R;
    int field;
    double boost;
    uint8_t *m;
    double *s;
    uint32_t n;
};

static int on_pfx(void *ctx, const char *term, size_t len, const struct kq_term_stats *st)
{
    (void)st;
    struct pfx *x = ctx;
    x->n++;
    leaf_term(x->R, x->field, term, len, x->boost, x->m, x->s, 1);
    return 0;
}

/* Sets m[d] and s[d] for the documents the phrase matches (others untouched). */
static void phrase_ref(struct ref *R, const struct kq_qnode *q, uint8_t *m, double *s)
{
    uint32_t nt = q->n_terms;
    kq_cursor *c[16];
    assert_true(nt <= 16);
    double idf = 0;
    for (uint32_t i = 0; i < nt; i++) {
        struct kq_term_stats st;
        if (kq_index_lookup(R->ix, q->field, q->terms[i], q->lens[i], &st, NULL)) {
            for (uint32_t j = 0; j < i; j++)
                kq_cursor_close(c[j]);
            return;
        }
        idf += kq_bm25_idf(R->n, st.df);
        assert_int_equal(kq_cursor_open(R->ix, q->field, q->terms[i], q->lens[i], &c[i], NULL), 0);
    }
    double w = q->boost * idf;
    static uint32_t pos[16][4096];
    uint32_t np[16];
    for (uint32_t d = kq_cursor_next(c[0]); d != KQ_NO_DOC; d = kq_cursor_next(c[0])) {
        int all = 1;
        for (uint32_t i = 1; i < nt && all; i++)
            all = kq_cursor_seek(c[i], d) == d;
        if (!all)
            continue;
        for (uint32_t i = 0; i < nt; i++) {
            int r = kq_cursor_positions(c[i], pos[i], 4096);
            assert_true(r > 0);
            np[i] = (uint32_t)r;
        }
        uint32_t freq = 0;
        for (uint32_t a = 0; a < np[0]; a++) {
            int ok = 1;
            for (uint32_t i = 1; i < nt && ok; i++) {
                int found = 0;
                for (uint32_t j = 0; j < np[i] && !found; j++)
                    found = pos[i][j] == pos[0][a] + q->rel_pos[i];
                ok = found;
            }
            freq += ok;
        }
        if (freq) {
            m[d] = 1;
            s[d] = w * kq_bm25_tf(&R->bf[q->field], freq,
                                  kq_index_doc_len(R->ix, q->field, d));
        }
    }
    for (uint32_t i = 0; i < nt; i++)
        kq_cursor_close(c[i]);
}

/* Fills m[d] (matches) and s[d] (score) for every document, straight from the tree. */
static void ref_eval(struct ref *R, const struct kq_qnode *q, uint8_t *m, double *s)
{
    memset(m, 0, R->n);
    memset(s, 0, R->n * sizeof *s);
    switch (q->type) {
    case KQ_QN_TERM:
    case KQ_QN_PHRASE:
        if (q->type == KQ_QN_TERM)
            leaf_term(R, q->field, q->terms[0], q->lens[0], q->boost, m, s, 0);
        else
            phrase_ref(R, q, m, s);
        if (q->field == KQ_FIELD_TEXT && R->tw > 0) {
            /* the same leaf in the title, weighted, added where it matches there (the title
             * is part of the text: no new match); under a MUST_NOT the score never counts */
            struct kq_qnode tq = *q;
            tq.field = KQ_FIELD_TITLE;
            tq.boost = q->boost * R->tw;
            uint8_t *tm = calloc(R->n, 1);
            double *ts = calloc(R->n, sizeof *ts);
            if (q->type == KQ_QN_TERM)
                leaf_term(R, KQ_FIELD_TITLE, q->terms[0], q->lens[0], tq.boost, tm, ts, 0);
            else
                phrase_ref(R, &tq, tm, ts);
            for (uint32_t d = 0; d < R->n; d++) {
                if (!tm[d])
                    continue;
                assert_true(m[d]);
                s[d] += ts[d];
            }
            free(tm);
            free(ts);
        }
        return;
    case KQ_QN_PREFIX: {
        struct pfx x = {R, q->field, q->boost, m, s, 0};
        assert_int_equal(kq_index_prefix(R->ix, q->field, q->terms[0], q->lens[0], 0, on_pfx, &x,
                                         NULL),
                         0);
        /* then the word's stem, when the range did not hold it */
        struct kq_term_stats st;
        if (q->stem && !(q->stem_len >= q->lens[0] && !memcmp(q->stem, q->terms[0], q->lens[0])) &&
            kq_index_lookup(R->ix, q->field, q->stem, q->stem_len, &st, NULL) == 0)
            on_pfx(&x, q->stem, q->stem_len, &st);
        if (x.n > R->max_exp)
            R->too_many = 1;
        return;
    }
    case KQ_QN_BOOL:
        break;
    }
    uint32_t nc = q->n_clauses;
    uint8_t **cm = malloc(nc * sizeof *cm);
    double **cs = malloc(nc * sizeof *cs);
    int has_must = 0;
    for (uint32_t i = 0; i < nc; i++) {
        cm[i] = malloc(R->n);
        cs[i] = malloc(R->n * sizeof *cs[i]);
        ref_eval(R, q->clauses[i], cm[i], cs[i]);
        has_must |= q->occurs[i] == KQ_MUST;
    }
    for (uint32_t d = 0; d < R->n; d++) {
        int ok = 1, any = 0;
        double sum = 0;
        for (uint32_t i = 0; i < nc; i++) {
            if (q->occurs[i] == KQ_MUST_NOT) {
                ok &= !cm[i][d];
            } else if (q->occurs[i] == KQ_MUST) {
                ok &= cm[i][d];
                if (cm[i][d])
                    sum += cs[i][d];
            } else if (cm[i][d]) {
                any = 1;
                sum += cs[i][d];
            }
        }
        if (ok && (has_must || any)) {
            m[d] = 1;
            s[d] = q->boost * sum;
        }
    }
    for (uint32_t i = 0; i < nc; i++) {
        free(cm[i]);
        free(cs[i]);
    }
    free(cm);
    free(cs);
}

static int hit_order(const void *a, const void *b)
{
    const struct kq_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

/* ---- random corpora and queries ---- */

static double unif(void)
{
    return (double)(kqt_rand() >> 11) / 9007199254740992.0;
}

#define VOCAB 2000
static char vocab[VOCAB][16];
static double zipf_cdf[VOCAB];

static void make_vocab(void)
{
    static const char *syl[] = {"ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "zu",
                                "ba", "do", "fi", "gu", "he", "jo", "wa", "xe", "yo", "qu"};
    for (int i = 0; i < VOCAB; i++) {
        int x = i;
        char *p = vocab[i];
        /* at least two syllables; base-20 digits make every word distinct */
        for (int k = 0; k < 2 || x; k++) {
            memcpy(p, syl[x % 20], 2);
            p += 2;
            x /= 20;
        }
        *p = 0;
    }
    double sum = 0;
    for (int i = 0; i < VOCAB; i++)
        sum += zipf_cdf[i] = 1.0 / pow(i + 1, 1.0);
    double acc = 0;
    for (int i = 0; i < VOCAB; i++) {
        acc += zipf_cdf[i] / sum;
        zipf_cdf[i] = acc;
    }
}

static int zipf_word(void)
{
    double u = unif();
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (zipf_cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct corpus {
    uint32_t n_docs;
    uint16_t **body; /* word ids */
    uint32_t *len;
};

/* Writes n_docs random documents. With `common`, words 0 and 1 are in nearly every
 * document (about 97 % and 94 %, never all): the words a phrase's candidates need not hold
 * (eval.c, n_req), looked for only when positions are read. */
static void write_corpus(const char *path, struct corpus *c, uint32_t n_docs, int common)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    c->n_docs = n_docs;
    c->body = calloc(n_docs, sizeof *c->body);
    c->len = calloc(n_docs, sizeof *c->len);
    for (uint32_t d = 0; d < n_docs; d++) {
        fprintf(f, "{\"_id\":\"d%u\",\"title\":\"", d);
        uint32_t nt = 1 + (uint32_t)(kqt_rand() % 6);
        for (uint32_t i = 0; i < nt; i++)
            fprintf(f, "%s%s", i ? " " : "", vocab[zipf_word()]);
        fprintf(f, "\",\"text\":\"");
        /* lengths from very short to long */
        uint32_t len = kqt_rand() % 4 ? 5 + (uint32_t)(kqt_rand() % 120) : 100 + (uint32_t)(kqt_rand() % 600);
        c->len[d] = len;
        c->body[d] = malloc(len * sizeof *c->body[d]);
        for (uint32_t i = 0; i < len; i++) {
            /* some repetition so tf > 1 is common */
            int w = i > 3 && kqt_rand() % 8 == 0 ? c->body[d][i - 1 - kqt_rand() % 3] : zipf_word();
            c->body[d][i] = (uint16_t)w;
        }
        for (uint16_t w = 0; common && w < 2; w++) {
            if (kqt_rand() % 100 < 3u * (w + 1u)) { /* absent: replaced by word 2 */
                for (uint32_t i = 0; i < len; i++)
                    c->body[d][i] = c->body[d][i] == w ? 2 : c->body[d][i];
            } else {
                c->body[d][kqt_rand() % len] = w;
            }
        }
        for (uint32_t i = 0; i < len; i++)
            fprintf(f, "%s%s", i ? " " : "", vocab[c->body[d][i]]);
        fprintf(f, "\"}\n");
    }
    assert_int_equal(fclose(f), 0);
}

static void free_corpus(struct corpus *c)
{
    for (uint32_t d = 0; d < c->n_docs; d++)
        free(c->body[d]);
    free(c->body);
    free(c->len);
}

struct qbuf {
    char s[2048];
    size_t n;
};

static void qput(struct qbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
    va_end(ap);
    if (k > 0 && (size_t)k < sizeof b->s - b->n)
        b->n += (size_t)k;
}

static const char *some_word(void)
{
    switch (kqt_rand() % 10) {
    case 0:
        return vocab[kqt_rand() % VOCAB]; /* uniform: often rare */
    case 1:
        return kqt_rand() % 4 ? vocab[kqt_rand() % 20] : "zzqxnope"; /* very common, or absent */
    default:
        return vocab[zipf_word()];
    }
}

static void gen_expr(struct qbuf *b, const struct corpus *c, int depth);

static void gen_primary(struct qbuf *b, const struct corpus *c, int depth)
{
    uint64_t r = kqt_rand() % 100;
    if (r < 10)
        qput(b, "title:");
    r = kqt_rand() % 100;
    if (r < 55) {
        qput(b, "%s", some_word());
    } else if (r < 72) {
        uint32_t d = (uint32_t)(kqt_rand() % c->n_docs);
        uint32_t n = 2 + (uint32_t)(kqt_rand() % 2);
        if (c->len[d] < n) {
            qput(b, "%s", some_word());
        } else {
            uint32_t at = (uint32_t)(kqt_rand() % (c->len[d] - n + 1));
            qput(b, "\"");
            for (uint32_t i = 0; i < n; i++)
                qput(b, "%s%s", i ? " " : "", vocab[c->body[d][at + i]]);
            qput(b, "\"");
        }
    } else if (r < 84) {
        const char *w = kqt_rand() % 2 ? vocab[zipf_word()] : vocab[kqt_rand() % VOCAB];
        size_t n = 3 + kqt_rand() % 3;
        qput(b, "%.*s*", (int)(n < strlen(w) ? n : strlen(w)), w);
    } else if (depth < 3) {
        qput(b, "(");
        gen_expr(b, c, depth + 1);
        qput(b, ")");
    } else {
        qput(b, "%s", some_word());
    }
    if (kqt_rand() % 8 == 0)
        qput(b, "^%g", 0.5 + (double)(kqt_rand() % 8) / 2);
}

static void gen_expr(struct qbuf *b, const struct corpus *c, int depth)
{
    uint32_t n = 1 + (uint32_t)(kqt_rand() % (depth ? 4 : 8));
    for (uint32_t i = 0; i < n; i++) {
        if (i) {
            uint64_t r = kqt_rand() % 100;
            qput(b, r < 75 ? " " : r < 85 ? " AND " : r < 95 ? " OR " : " NOT ");
        }
        uint64_t r = kqt_rand() % 100;
        if (r < 15)
            qput(b, "+");
        else if (r < 25)
            qput(b, "-");
        gen_primary(b, c, depth);
    }
}

/* One query: every k against the reference. Returns 1 when it was checked. */
static int check_query(const kq_index *ix, struct ref *R, const char *text, uint8_t *m,
                       double *s, struct kq_hit *all, uint64_t *pruned_queries)
{
    kq_query *q = parse(text, 0);
    const struct kq_qnode *root = kq_query_root(q);
    uint32_t n_match = 0;
    R->too_many = 0;
    if (root) {
        ref_eval(R, root, m, s);
        for (uint32_t d = 0; d < R->n; d++)
            if (m[d]) {
                all[n_match].doc = d;
                all[n_match].score = s[d];
                n_match++;
            }
        qsort(all, n_match, sizeof *all, hit_order);
    }
    struct kq_search_opts o;
    kq_search_opts_init(&o);
    o.max_expansions = R->max_exp;
    struct kq_results r;
    kq_error err;
    if (R->too_many) {
        assert_int_equal(kq_eval(ix, q, &o, &r, &err), KQ_ELIMIT);
        assert_non_null(strstr(err.msg, "matches more than"));
        assert_null(r.hits);
        kq_query_free(q);
        return 0;
    }
    o.count_only = 1;
    int rc = kq_eval(ix, q, &o, &r, &err);
    if (rc)
        fail_msg("'%s': %s", text, err.msg);
    assert_int_equal(r.total, n_match);
    assert_true(r.total_exact);
    assert_int_equal(r.n, 0);
    o.count_only = 0;
    static const uint32_t ks[] = {1, 10, 100, 1000};
    for (int ki = 0; ki < 5; ki++) {
        o.k = ki < 4 ? ks[ki] : 10;
        o.offset = ki < 4 ? 0 : 7;
        assert_int_equal(kq_eval(ix, q, &o, &r, &err), 0);
        uint32_t want = n_match > o.offset ? n_match - o.offset : 0;
        if (want > o.k)
            want = o.k;
        if (r.n != want)
            fail_msg("'%s' k %u: %u hits, want %u", text, o.k, r.n, want);
        for (uint32_t i = 0; i < r.n; i++) {
            const struct kq_hit *e = &all[o.offset + i];
            if (r.hits[i].doc != e->doc || r.hits[i].score != e->score)
                fail_msg("'%s' k %u rank %u: doc %u score %.17g, want doc %u score %.17g", text,
                         o.k, i, r.hits[i].doc, r.hits[i].score, e->doc, e->score);
        }
        if (r.total_exact)
            assert_int_equal(r.total, n_match);
        else
            assert_true(r.total <= n_match);
        *pruned_queries += !r.total_exact;
        kq_results_release(&r);
    }
    kq_query_free(q);
    return 1;
}

static void exactness_run(uint64_t seed, uint32_t n_docs, int n_queries, int common)
{
    kqt_seed(seed);
    char *tmp = kqt_tmpdir();
    char path[4096], dir[4096];
    snprintf(path, sizeof path, "%s/corpus.jsonl", tmp);
    snprintf(dir, sizeof dir, "%s/ix", tmp);
    struct corpus c;
    write_corpus(path, &c, n_docs, common);
    const char *paths[] = {path};
    kq_index *ix = build_open(dir, paths, 1);
    struct kq_index_info info;
    kq_index_get_info(ix, &info);
    assert_int_equal(info.n_docs, n_docs);

    struct ref R = {0};
    R.ix = ix;
    R.n = info.n_docs;
    R.k1 = info.k1;
    R.b = info.b;
    R.max_exp = 128;
    R.tw = KQ_TITLE_WEIGHT;
    for (int f = 0; f < KQ_N_FIELDS; f++) {
        R.avgdl[f] = (double)info.total_len[f] / info.n_docs;
        kq_bm25_field_init(&R.bf[f], R.k1, R.b, R.avgdl[f]);
    }
    uint8_t *m = malloc(R.n);
    double *s = malloc(R.n * sizeof *s);
    struct kq_hit *all = malloc(R.n * sizeof *all);
    int checked = 0;
    uint64_t pruned = 0, pruned_phrases = 0;
    for (int i = 0; i < n_queries; i++) {
        struct qbuf b = {{0}, 0};
        uint64_t before = pruned;
        if (i % 5 == 0) {
            /* a plain multi-term OR, the common case for MaxScore */
            int n = 2 + (int)(kqt_rand() % 7);
            for (int j = 0; j < n; j++)
                qput(&b, "%s%s", j ? " " : "", some_word());
        } else if (i % 5 == 1) {
            /* a phrase alone, of words next to each other in some document: the phrase
             * strategy, which skips by the terms' tf bounds */
            uint32_t d = (uint32_t)(kqt_rand() % c.n_docs);
            uint32_t n = (common ? 3 : 2) + (uint32_t)(kqt_rand() % 2);
            uint32_t at = c.len[d] > n ? (uint32_t)(kqt_rand() % (c.len[d] - n + 1)) : 0;
            qput(&b, "\"");
            for (uint32_t j = 0; j < n && at + j < c.len[d]; j++)
                qput(&b, "%s%s", j ? " " : "", vocab[c.body[d][at + j]]);
            qput(&b, "\"");
        } else {
            gen_expr(&b, &c, 0);
        }
        checked += check_query(ix, &R, b.s, m, s, all, &pruned);
        if (i % 5 == 1)
            pruned_phrases += pruned - before;
    }
    print_message("seed %llu: %u docs, %d of %d queries checked, %llu evaluations pruned "
                  "(%llu of lone phrases)\n",
                  (unsigned long long)seed, n_docs, checked, n_queries,
                  (unsigned long long)pruned, (unsigned long long)pruned_phrases);
    assert_true(checked > n_queries * 3 / 4);
    assert_true(pruned > 0);
    assert_true(pruned_phrases > 0);
    free(m);
    free(s);
    free(all);
    free_corpus(&c);
    kq_index_close(ix);
    kqt_rmrf(tmp);
    free(tmp);
}

static void test_exactness(void **state)
{
    (void)state;
    make_vocab();
    exactness_run(0x9e3779b97f4a7c15ull, SLOW ? 4000 : 5000, SLOW ? 150 : 400, 0);
    exactness_run(0x2545f4914f6cdd1dull, SLOW ? 2000 : 3000, SLOW ? 100 : 250, 0);
    /* phrases of three or four words, many with a word nearly every document holds */
    exactness_run(0x5851f42d4c957f2dull, SLOW ? 2000 : 3000, SLOW ? 100 : 250, 1);
}

/* ---- 3. edge cases ---- */

static char *edge_tmp;
static kq_index *edge_ix;

static int edge_setup(void **state)
{
    (void)state;
    edge_tmp = kqt_tmpdir();
    char path[4096], dir[4096];
    snprintf(path, sizeof path, "%s/c.jsonl", edge_tmp);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    for (int d = 0; d < 600; d++)
        fprintf(f, "{\"_id\":\"%d\",\"title\":\"t%d\",\"text\":\"common %s %s word%d\"}\n", d,
                d % 7, d % 2 ? "odd" : "even", d % 3 ? "x" : "three", d);
    fclose(f);
    snprintf(dir, sizeof dir, "%s/ix", edge_tmp);
    const char *paths[] = {path};
    struct kq_build_opts o = {0};
    o.language = "none";
    o.n_threads = 1;
    o.b = -1;
    if (kq_index_build(dir, paths, 1, &o, NULL, NULL) || kq_index_open(dir, &edge_ix, NULL))
        return -1;
    return 0;
}

static int edge_teardown(void **state)
{
    (void)state;
    kq_index_close(edge_ix);
    kqt_rmrf(edge_tmp);
    free(edge_tmp);
    return 0;
}

static void test_edges(void **state)
{
    (void)state;
    struct kq_results r;
    kq_error err;
    /* absent term: nothing, exactly */
    assert_int_equal(search(edge_ix, "nosuchterm", 10, &r), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.total, 0);
    assert_true(r.total_exact);
    assert_null(r.hits);
    /* an absent SHOULD clause changes nothing; an absent MUST clause empties the query */
    assert_int_equal(search(edge_ix, "odd nosuchterm", 1000, &r), 0);
    assert_int_equal(r.total, 300);
    kq_results_release(&r);
    assert_int_equal(search(edge_ix, "odd +nosuchterm", 10, &r), 0);
    assert_int_equal(r.total, 0);
    /* an empty root and a NULL query */
    kq_query *q = parse("* ()", 0);
    assert_null(kq_query_root(q));
    assert_int_equal(kq_eval(edge_ix, q, NULL, &r, &err), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.total, 0);
    kq_query_free(q);
    assert_int_equal(kq_eval(edge_ix, NULL, NULL, &r, &err), 0);
    assert_int_equal(r.n, 0);
    /* k larger than the matches */
    assert_int_equal(search(edge_ix, "three", 10000, &r), 0);
    assert_int_equal(r.n, 200);
    assert_int_equal(r.total, 200);
    for (uint32_t i = 1; i < r.n; i++)
        assert_true(hit_order(&r.hits[i - 1], &r.hits[i]) < 0);
    kq_results_release(&r);
    /* offset: a page, and past the end */
    q = parse("odd three", 0);
    struct kq_search_opts o;
    kq_search_opts_init(&o);
    o.k = 1000;
    struct kq_results full;
    assert_int_equal(kq_eval(edge_ix, q, &o, &full, &err), 0);
    assert_int_equal(full.n, 400);
    o.k = 10;
    o.offset = 395;
    assert_int_equal(kq_eval(edge_ix, q, &o, &r, &err), 0);
    assert_int_equal(r.n, 5);
    assert_memory_equal(r.hits, full.hits + 395, 5 * sizeof *r.hits);
    kq_results_release(&r);
    o.offset = 400;
    assert_int_equal(kq_eval(edge_ix, q, &o, &r, &err), 0);
    assert_int_equal(r.n, 0);
    assert_null(r.hits);
    kq_results_release(&full);
    /* bad options */
    o.offset = 0;
    o.k = 0;
    assert_int_equal(kq_eval(edge_ix, q, &o, &r, &err), KQ_EINVAL);
    o.k = KQ_SEARCH_MAX_K + 1;
    assert_int_equal(kq_eval(edge_ix, q, &o, &r, &err), KQ_EINVAL);
    o.k = 10;
    o.b = 1.5;
    assert_int_equal(kq_eval(edge_ix, q, &o, &r, &err), KQ_EINVAL);
    o.b = -1;
    o.k1 = NAN;
    assert_int_equal(kq_eval(edge_ix, q, &o, &r, &err), KQ_EINVAL);
    o.k1 = -1;
    o.offset = KQ_SEARCH_MAX_OFFSET + 1;
    assert_int_equal(kq_eval(edge_ix, q, &o, &r, &err), KQ_EINVAL);
    assert_null(r.hits);
    kq_query_free(q);
    /* only MUST_NOT: nothing; and with something to exclude from */
    assert_int_equal(search(edge_ix, "-odd", 10, &r), 0);
    assert_int_equal(r.total, 0);
    assert_true(r.total_exact);
    assert_int_equal(search(edge_ix, "NOT odd NOT even", 10, &r), 0);
    assert_int_equal(r.total, 0);
    q = parse("common -odd -three", 0);
    kq_search_opts_init(&o);
    o.count_only = 1;
    assert_int_equal(kq_eval(edge_ix, q, &o, &r, &err), 0);
    assert_int_equal(r.total, 200); /* even and not divisible by 3: 600 / 2 * 2 / 3 */
    assert_true(r.total_exact);
    kq_query_free(q);
    /* prefix limits: word0..word599 is 600 terms */
    q = parse("word*", 0);
    kq_search_opts_init(&o);
    assert_int_equal(kq_eval(edge_ix, q, &o, &r, &err), KQ_ELIMIT);
    assert_string_equal(err.msg, "prefix 'word' matches more than 128 terms");
    assert_int_equal(err.offset, 0);
    o.max_expansions = KQ_SEARCH_MAX_EXPANSIONS + 1;
    assert_int_equal(kq_eval(edge_ix, q, &o, &r, &err), KQ_EINVAL);
    o.max_expansions = 600;
    o.count_only = 1;
    assert_int_equal(kq_eval(edge_ix, q, &o, &r, &err), 0);
    assert_int_equal(r.total, 600);
    kq_query_free(q);
    /* a prefix matching nothing */
    assert_int_equal(search(edge_ix, "zzz*", 10, &r), 0);
    assert_int_equal(r.total, 0);
}

/* Every allocation of an evaluation failing in turn: KQ_ENOMEM, empty results, no leak. */
static void test_alloc_failures(void **state)
{
    (void)state;
    static const char *queries[] = {"common \"odd x\" word1* -three title:t3^2",
                                    "+common +(odd OR even) x"};
    for (int qi = 0; qi < 2; qi++) {
        kq_query *q = parse(queries[qi], 0);
        struct kq_search_opts o;
        kq_search_opts_init(&o);
        o.k = 50;
        struct kq_results want, r;
        assert_int_equal(kq_eval(edge_ix, q, &o, &want, NULL), 0);
        assert_true(want.n > 0);
        int rc = KQ_ENOMEM;
        long i;
        for (i = 0; rc == KQ_ENOMEM; i++) {
            kq_error err;
            kq_alloc_fail_after(i);
            rc = kq_eval(edge_ix, q, &o, &r, &err);
            kq_alloc_fail_after(-1);
            if (rc) {
                assert_int_equal(rc, KQ_ENOMEM);
                assert_null(r.hits);
                assert_int_equal(r.n, 0);
            }
        }
        assert_int_equal(rc, 0);
        assert_true(i > 3);
        assert_int_equal(r.n, want.n);
        assert_memory_equal(r.hits, want.hits, r.n * sizeof *r.hits);
        kq_results_release(&r);
        kq_results_release(&want);
        kq_query_free(q);
    }
}

/* ---- corrupt postings under valid checksums ---- */

static uint32_t find_section(const uint8_t *seg, const char *tag, uint64_t *off, uint64_t *len)
{
    uint32_t n = kq_get_le32(seg + 12);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = seg + KQ_SEG_HEADER_SIZE + (size_t)i * KQ_SEG_ENTRY_SIZE;
        if (!memcmp(e, tag, 4)) {
            *off = kq_get_le64(e + 8);
            *len = kq_get_le64(e + 16);
            return i;
        }
    }
    fail_msg("no section %s", tag);
    return 0;
}

static void write_bytes(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Writes `seg` with every checksum recomputed, and the MANIFEST that records it. */
static void write_fixed(const char *seg_path, uint8_t *seg, size_t len, const char *man_path,
                        const uint8_t *man0, size_t man_len)
{
    kq__segment_reseal(seg, len);
    write_bytes(seg_path, seg, len);
    uint8_t *man = malloc(man_len);
    memcpy(man, man0, man_len);
    kq_put_le64(man + KQ_MANIFEST_HEAD + 24, kq_get_le64(seg + 56));
    kq_put_le64(man + man_len - 8, XXH3_64bits(man, man_len - 8));
    write_bytes(man_path, man, man_len);
    free(man);
}

static void test_corrupt_postings(void **state)
{
    (void)state;
    char *tmp = kqt_tmpdir();
    char path[4096], dir[4096], seg_path[4200], man_path[4200];
    snprintf(path, sizeof path, "%s/c.jsonl", tmp);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    kqt_seed(77);
    for (int d = 0; d < 3000; d++)
        fprintf(f, "{\"_id\":\"%d\",\"text\":\"alpha %s %s gamma\"}\n", d,
                kqt_rand() % 3 ? "beta" : "delta", kqt_rand() % 2 ? "alpha" : "beta");
    fclose(f);
    snprintf(dir, sizeof dir, "%s/ix", tmp);
    const char *paths[] = {path};
    kq_index *ix = build_open(dir, paths, 1);
    kq_index_close(ix);
    snprintf(seg_path, sizeof seg_path, "%s/seg_%06d.kq", dir, 0);
    /* find the one segment */
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "ls %s | grep '^seg_' > %s/segname", dir, tmp);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/segname", tmp);
    char *name = kqt_read_file(cmd, NULL);
    name[strcspn(name, "\n")] = 0;
    snprintf(seg_path, sizeof seg_path, "%s/%s", dir, name);
    free(name);
    snprintf(man_path, sizeof man_path, "%s/%s", dir, KQ_MANIFEST_NAME);
    size_t seg_len, man_len;
    uint8_t *seg0 = (uint8_t *)kqt_read_file(seg_path, &seg_len);
    uint8_t *man0 = (uint8_t *)kqt_read_file(man_path, &man_len);
    uint64_t off = 0, len = 0;
    find_section(seg0, "POST", &off, &len);
    assert_true(len > 64);
    uint8_t *s = malloc(seg_len);
    int corrupt = 0, ok = 0;
    static const char *queries[] = {"alpha beta", "+alpha +gamma", "\"alpha beta\"", "delta",
                                    "alpha -delta"};
    for (int round = 0; round < 60; round++) {
        memcpy(s, seg0, seg_len);
        for (int j = 0; j < 1 + round % 4; j++)
            s[off + kqt_rand() % len] = (uint8_t)kqt_rand();
        write_fixed(seg_path, s, seg_len, man_path, man0, man_len);
        kq_error err;
        if (kq_index_open(dir, &ix, &err)) {
            assert_int_equal(err.code, KQ_ECORRUPT);
            continue;
        }
        for (int i = 0; i < 5; i++) {
            kq_query *q = parse(queries[i], 0);
            struct kq_search_opts o;
            kq_search_opts_init(&o);
            o.count_only = round % 2;
            struct kq_results r;
            int rc = kq_eval(ix, q, &o, &r, &err);
            assert_true(rc == 0 || rc == KQ_ECORRUPT);
            if (rc) {
                assert_int_equal(err.code, KQ_ECORRUPT);
                assert_null(r.hits);
                assert_int_equal(r.n, 0);
            }
            corrupt += rc != 0;
            ok += rc == 0;
            kq_results_release(&r);
            kq_query_free(q);
        }
        kq_index_close(ix);
    }
    print_message("corrupt postings: %d evaluations reported KQ_ECORRUPT, %d succeeded\n",
                  corrupt, ok);
    assert_true(corrupt > 0);
    free(s);
    free(seg0);
    free(man0);
    kqt_rmrf(tmp);
    free(tmp);
}

static int group_setup(void **state)
{
    (void)state;
    return kq_analyzer_new("none", &none, NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    kq_analyzer_free(none);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bm25_by_hand),
        cmocka_unit_test_setup_teardown(test_edges, edge_setup, edge_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, edge_setup, edge_teardown),
        cmocka_unit_test(test_exactness),
        cmocka_unit_test(test_corrupt_postings),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
