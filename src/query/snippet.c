/* query/snippet.c: choosing and rendering the best passage of a document for a query.
 *
 * One pass of the analyser over the extracted body drives a sliding window of W tokens.
 * Each token is looked up once in a small open-addressing table of the distinct query
 * terms; per term the window keeps a count, and the window's score is the triple (sum of
 * the weights of the terms whose count is nonzero, number of phrase occurrences wholly
 * inside the window, number of matched tokens), compared in that order, updated when a
 * count goes 0 -> 1 or 1 -> 0. Weights are converted to 2^-20 fixed point first so that
 * the running sum is exact: equal sets of terms give equal scores however the window got
 * there, and ties really are ties.
 *
 * Phrases are found with the shift-and algorithm over tokens: per phrase a 64-bit state
 * whose bit i says the tokens ending here match the phrase's first i + 1 terms (at the
 * phrase's relative positions). A matched token updates only the phrases holding its term;
 * any other token clears every state, done lazily by stamping each state with the token it
 * belongs to. So a token costs O(1) plus the phrase terms equal to its term. An occurrence
 * of n terms found at its last token i spans tokens [i - n + 1, i]; if n <= W it is added
 * to the current window's count and to its first token's `n_start`, and subtracted when
 * that token leaves the window: every occurrence ends before its first token leaves, so
 * the count is exactly the occurrences wholly inside the window.
 *
 * Only O(W) tokens are kept. The last 3W tokens sit in a ring. When a window ending at
 * token e becomes the best, the tokens that can matter for it are [e - 2W + 1, e + W]:
 * recentring moves the window by less than W either way, and widening looks one token
 * beyond each end. Once token e + W has arrived (or the body ends) without a better
 * window, those tokens are copied out of the ring; a better window before that simply
 * restarts the wait. A copy therefore happens at most once per W tokens: O(n) in all.
 *
 * Invariants: the text handed out is valid UTF-8 (every code point is re-encoded), holds
 * no byte below 0x20 nor DEL nor C1, is at most max_bytes long, and every span lies within
 * it, in order, on whole tokens. The extracted body has the source's length and newlines,
 * so token offsets are source offsets and lines are counted in the source. Recentring
 * keeps the score: the best window has no window with a strictly better score, so the
 * recentred window, which holds all the best window's matched tokens, holds no other (it
 * would score more tokens) and hence the same terms and the same phrase occurrences (an
 * occurrence is made of matched tokens).
 */
#include <math.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#include "query/snippet.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

#define WEIGHT_ONE 1048576.0 /* 2^20: fixed-point unit of weights */
#define WEIGHT_CAP 1048576.0 /* weights above 2^20 are capped, so sums fit an int64 */
#define WIDEN_MAX 32         /* bytes of punctuation a passage may grow by at each end */
#define ELLIPSIS "\xe2\x80\xa6"
#define ELLIPSIS_LEN 3
#define MISMATCH 1   /* on_token: the index's positions and the analysis disagree */
#define MEMO_SIZE 64 /* fold -> stem checks remembered, direct mapped (a power of two) */

_Static_assert(KQ_TERM_MAX <= 64, "by_first holds one bit per term length");

struct dterm {
    const char *term;
    size_t len;
    int64_t weight; /* fixed point, WEIGHT_ONE = 1.0 */
    uint32_t count; /* occurrences in the current window */
    int phrase_only; /* marked only inside a phrase occurrence */
    int title_only;  /* of the title field: no match in a body apart from its title */
};

struct tok {
    size_t start, end; /* body bytes */
    int32_t qi;        /* distinct term index, -1 when the token matches no term */
    uint32_t n_start;  /* counted phrase occurrences starting at this token */
    int in_phrase;     /* part of a phrase occurrence (found by the time it was copied) */
};

/* A distinct phrase, as shift-and tables (see the top of the file). */
struct phrase {
    uint32_t n;      /* terms, 1..64 */
    uint64_t step1;  /* bits i >= 1 whose term follows the previous at +1 */
    uint64_t gaps;   /* bits i >= 1 whose term follows at delta[i] > 1 */
    uint32_t *delta; /* delta[i] = rel_pos[i] - rel_pos[i - 1] (delta[0] unused) */
    int32_t *qi;     /* the distinct term of each term */
    uint64_t state;  /* prefix-match bits after token at - 1 */
    uint64_t at;     /* 1 + the token `state` belongs to; 0: none */
};

/* Phrase p holds distinct term qi at the positions set in `bits`. */
struct pentry {
    uint32_t p;
    int32_t qi;
    uint64_t bits;
};

struct scan {
    struct dterm *dt;
    uint32_t n_dt;
    struct phrase *ph;
    uint32_t n_ph;
    int32_t *ph_qi; /* the arrays the phrases' qi and delta point into */
    uint32_t *ph_delta;
    struct pentry *pe; /* grouped by term: those of dt[k] are pe[pe_at[k] .. pe_at[k + 1]) */
    uint32_t *pe_at;   /* n_dt + 1 entries; NULL when there is no phrase */
    uint32_t prev_pos; /* position of the previous token */
    int32_t *slots;    /* open addressing over dt, -1 empty */
    uint32_t mask;
    /* bit len-1 of by_first[c]: some term of `len` bytes starts with byte c. Rejects most
     * tokens with one load, before hashing. */
    uint64_t by_first[256];

    uint64_t w;        /* window, in tokens */
    struct tok *ring;  /* token i at ring[i % ring_cap] */
    uint64_t ring_cap; /* 3w */
    uint64_t n_tok;    /* tokens seen */
    int64_t cur_sum;   /* score of the current window */
    uint64_t cur_phr;
    uint64_t cur_total;

    int have_best;
    int64_t best_sum;
    uint64_t best_phr;
    uint64_t best_total;
    uint64_t best_end; /* last token of the best window */
    int capturing;
    uint64_t capture_until;

    struct tok *cap; /* copied tokens cap_first .. cap_first + n_cap - 1 */
    uint64_t cap_first, n_cap;

    /* Matching by position (kq_snippet_opts.by_position): the occurrences mt[mi..n_mt) are
     * still ahead; body token pos is position pos0 + pos of field text. */
    int by_pos;
    int title_apart; /* the title is not in the body: a title_only term is no match there */
    const struct kq_snippet_match *mt;
    size_t n_mt, mi;
    uint64_t pos0;
    int32_t *term_dt; /* the distinct term of each term of the call, -1: can never match */
    kq_analyzer *an;
    struct memo {      /* a token fold whose stem was found to be dt[qi] */
        int32_t qi;    /* -1: empty */
        uint8_t len;
        char fold[KQ_TERM_MAX];
    } *memo;           /* MEMO_SIZE entries, made on first use */
};

static uint64_t hash_term(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3u;
    return h ^ (h >> 29);
}

static int32_t lookup(const struct scan *sc, const char *term, size_t len)
{
    for (uint64_t h = hash_term(term, len);; h++) {
        int32_t k = sc->slots[h & sc->mask];
        if (k < 0)
            return -1;
        if (sc->dt[k].len == len && memcmp(sc->dt[k].term, term, len) == 0)
            return k;
    }
}

static int64_t fixed_weight(double w)
{
    if (!(w > 0)) /* also NaN */
        return 0;
    if (w > WEIGHT_CAP)
        w = WEIGHT_CAP;
    return (int64_t)llround(w * WEIGHT_ONE);
}

/* Builds the table of distinct, matchable terms. */
static int terms_init(struct scan *sc, const struct kq_snippet_term *terms, size_t n_terms)
{
    size_t cap = 8;
    while (cap < 2 * n_terms)
        cap *= 2;
    sc->slots = kq__malloc(cap * sizeof *sc->slots);
    sc->dt = kq__calloc(n_terms ? n_terms : 1, sizeof *sc->dt);
    sc->term_dt = kq__malloc((n_terms ? n_terms : 1) * sizeof *sc->term_dt);
    if (!sc->slots || !sc->dt || !sc->term_dt)
        return KQ_ENOMEM;
    memset(sc->slots, 0xff, cap * sizeof *sc->slots);
    sc->mask = (uint32_t)(cap - 1);
    for (size_t i = 0; i < n_terms; i++) {
        const struct kq_snippet_term *t = &terms[i];
        sc->term_dt[i] = -1;
        if (t->len == 0 || t->len > KQ_TERM_MAX || !t->term)
            continue;
        int64_t w = fixed_weight(t->weight);
        int32_t k = lookup(sc, t->term, t->len);
        if (k >= 0) {
            if (w > sc->dt[k].weight)
                sc->dt[k].weight = w;
            sc->dt[k].phrase_only &= t->phrase_only != 0;
            sc->dt[k].title_only &= t->title_only != 0;
            sc->term_dt[i] = k;
            continue;
        }
        sc->term_dt[i] = (int32_t)sc->n_dt;
        uint64_t h = hash_term(t->term, t->len);
        while (sc->slots[h & sc->mask] >= 0)
            h++;
        sc->slots[h & sc->mask] = (int32_t)sc->n_dt;
        sc->by_first[(uint8_t)t->term[0]] |= (uint64_t)1 << (t->len - 1);
        sc->dt[sc->n_dt++] =
            (struct dterm){t->term, t->len, w, 0, t->phrase_only != 0, t->title_only != 0};
    }
    return 0;
}

/* Checks the phrases against the limits of snippet.h before anything is allocated. */
static int phrases_check(const struct kq_snippet_phrase *ph, size_t n_ph, size_t n_terms,
                         kq_error *err)
{
    if (!ph && n_ph)
        return kq__error(err, KQ_EINVAL, -1, "kq_snippet_make: NULL phrases");
    if (n_ph > KQ_SNIPPET_MAX_PHRASES)
        return kq__error(err, KQ_ELIMIT, -1, "snippet has more than %d phrases",
                         KQ_SNIPPET_MAX_PHRASES);
    for (size_t p = 0; p < n_ph; p++) {
        if (ph[p].n_terms > KQ_SNIPPET_PHRASE_MAX_TERMS)
            return kq__error(err, KQ_ELIMIT, -1, "snippet phrase %zu has more than %d terms", p,
                             KQ_SNIPPET_PHRASE_MAX_TERMS);
        if (ph[p].n_terms == 0 || !ph[p].term)
            return kq__error(err, KQ_EINVAL, -1, "snippet phrase %zu has no terms", p);
        for (uint32_t i = 0; i < ph[p].n_terms; i++) {
            if (ph[p].term[i] >= n_terms)
                return kq__error(err, KQ_EINVAL, -1,
                                 "snippet phrase %zu: term index %u out of range", p,
                                 (unsigned)ph[p].term[i]);
            if (ph[p].rel_pos &&
                (i == 0 ? ph[p].rel_pos[0] != 0 : ph[p].rel_pos[i] <= ph[p].rel_pos[i - 1]))
                return kq__error(err, KQ_EINVAL, -1,
                                 "snippet phrase %zu: positions not 0 then increasing", p);
        }
    }
    return 0;
}

/* Checks the occurrences (kq_snippet_opts.matches) before anything is allocated. */
static int matches_check(const struct kq_snippet_match *mt, size_t n, size_t n_terms,
                         kq_error *err)
{
    if (!mt && n)
        return kq__error(err, KQ_EINVAL, -1, "kq_snippet_make: NULL matches");
    for (size_t i = 0; i < n; i++) {
        if (mt[i].term >= n_terms)
            return kq__error(err, KQ_EINVAL, -1, "snippet match %zu: term %u out of range", i,
                             (unsigned)mt[i].term);
        if (i > 0 && mt[i].pos < mt[i - 1].pos)
            return kq__error(err, KQ_EINVAL, -1, "snippet matches not sorted by position");
    }
    return 0;
}

/* Builds the shift-and tables of the distinct phrases whose terms can all match (after
 * terms_init). */
static int phrases_init(struct scan *sc, const struct kq_snippet_term *terms,
                        const struct kq_snippet_phrase *ph, size_t n_ph)
{
    if (n_ph == 0)
        return 0;
    size_t n_all = 0;
    for (size_t p = 0; p < n_ph; p++)
        n_all += ph[p].n_terms;
    sc->ph = kq__calloc(n_ph, sizeof *sc->ph);
    sc->ph_qi = kq__malloc(n_all * sizeof *sc->ph_qi);
    sc->ph_delta = kq__malloc(n_all * sizeof *sc->ph_delta);
    sc->pe = kq__malloc(n_all * sizeof *sc->pe);
    sc->pe_at = kq__calloc((size_t)sc->n_dt + 1, sizeof *sc->pe_at);
    if (!sc->ph || !sc->ph_qi || !sc->ph_delta || !sc->pe || !sc->pe_at)
        return KQ_ENOMEM;
    size_t used = 0, n_pe = 0;
    for (size_t p = 0; p < n_ph; p++) {
        struct phrase *f = &sc->ph[sc->n_ph];
        *f = (struct phrase){
            .n = ph[p].n_terms, .qi = sc->ph_qi + used, .delta = sc->ph_delta + used};
        int ok = 1;
        for (uint32_t i = 0; i < f->n && ok; i++) {
            const struct kq_snippet_term *t = &terms[ph[p].term[i]];
            f->qi[i] =
                t->len == 0 || t->len > KQ_TERM_MAX || !t->term ? -1 : lookup(sc, t->term, t->len);
            ok = f->qi[i] >= 0;
            f->delta[i] = i == 0 ? 0 : ph[p].rel_pos ? ph[p].rel_pos[i] - ph[p].rel_pos[i - 1] : 1;
            if (i > 0)
                *(f->delta[i] == 1 ? &f->step1 : &f->gaps) |= (uint64_t)1 << i;
        }
        for (uint32_t q = 0; q < sc->n_ph && ok; q++)
            if (sc->ph[q].n == f->n && !memcmp(sc->ph[q].qi, f->qi, f->n * sizeof *f->qi) &&
                !memcmp(sc->ph[q].delta + 1, f->delta + 1, (f->n - 1) * sizeof *f->delta))
                ok = 0; /* listed twice */
        if (!ok)
            continue;
        used += f->n;
        /* one entry per distinct term of the phrase */
        for (uint32_t i = 0; i < f->n; i++) {
            uint64_t bits = 0;
            for (uint32_t j = 0; j < f->n; j++)
                if (f->qi[j] == f->qi[i])
                    bits |= (uint64_t)1 << j;
            if (bits & (((uint64_t)1 << i) - 1))
                continue; /* an earlier j already made this entry */
            sc->pe[n_pe++] = (struct pentry){sc->n_ph, f->qi[i], bits};
            sc->pe_at[f->qi[i] + 1]++;
        }
        sc->n_ph++;
    }
    /* group the entries by term: counts to starts, then a stable placement */
    for (uint32_t k = 0; k < sc->n_dt; k++)
        sc->pe_at[k + 1] += sc->pe_at[k];
    struct pentry *sorted = kq__malloc((n_pe ? n_pe : 1) * sizeof *sorted);
    uint32_t *next = kq__malloc(((size_t)sc->n_dt + 1) * sizeof *next);
    if (!sorted || !next) {
        kq__free(sorted);
        kq__free(next);
        return KQ_ENOMEM;
    }
    memcpy(next, sc->pe_at, ((size_t)sc->n_dt + 1) * sizeof *next);
    for (size_t e = 0; e < n_pe; e++)
        sorted[next[sc->pe[e].qi]++] = sc->pe[e];
    kq__free(next);
    kq__free(sc->pe);
    sc->pe = sorted;
    if (sc->n_ph == 0) { /* nothing can occur: the scan skips the phrase step */
        kq__free(sc->pe_at);
        sc->pe_at = NULL;
    }
    return 0;
}

/* Feeds token i (distinct term qi >= 0, position pos) to the phrases holding its term;
 * counts the occurrences it completes. */
static void phrases_step(struct scan *sc, uint64_t i, int32_t qi, uint32_t pos)
{
    uint32_t delta = i == 0 ? 0 : pos - sc->prev_pos;
    for (uint32_t e = sc->pe_at[qi]; e < sc->pe_at[qi + 1]; e++) {
        struct phrase *f = &sc->ph[sc->pe[e].p];
        uint64_t adv = f->at == i && i > 0 ? f->state << 1 : 0;
        if (delta == 1) {
            adv &= f->step1;
        } else {
            uint64_t ok = 0;
            for (uint64_t g = f->gaps & adv; g; g &= g - 1)
                if (f->delta[__builtin_ctzll(g)] == delta)
                    ok |= g & -g;
            adv = ok;
        }
        f->state = (adv | 1) & sc->pe[e].bits;
        f->at = i + 1;
        if (f->state >> (f->n - 1) & 1 && f->n <= sc->w) {
            sc->ring[(i + 1 - f->n) % sc->ring_cap].n_start++;
            sc->cur_phr++;
            for (uint64_t k = i + 1 - f->n; k <= i; k++) /* n <= w: all in the ring */
                sc->ring[k % sc->ring_cap].in_phrase = 1;
        }
    }
}

/* Copies tokens [max(0, best_end - 2w + 1), last] out of the ring. */
static void capture(struct scan *sc, uint64_t last)
{
    uint64_t first = sc->best_end + 1 >= 2 * sc->w ? sc->best_end + 1 - 2 * sc->w : 0;
    sc->cap_first = first;
    sc->n_cap = last - first + 1;
    for (uint64_t i = first; i <= last; i++)
        sc->cap[i - first] = sc->ring[i % sc->ring_cap];
    sc->capturing = 0;
}

static void consider(struct scan *sc, uint64_t end)
{
    if (sc->have_best && (sc->cur_sum != sc->best_sum   ? sc->cur_sum < sc->best_sum
                          : sc->cur_phr != sc->best_phr ? sc->cur_phr < sc->best_phr
                                                        : sc->cur_total <= sc->best_total))
        return;
    sc->have_best = 1;
    sc->best_sum = sc->cur_sum;
    sc->best_phr = sc->cur_phr;
    sc->best_total = sc->cur_total;
    sc->best_end = end;
    sc->capturing = 1;
    sc->capture_until = end + sc->w;
}

/* The distinct term of token `t` of an unstemmed analysis, from the occurrences: `*qi`, -1
 * when none is at its position. Returns 0, MISMATCH when an occurrence was passed without a
 * token or the token's term is not the occurrence's, or when a position went by without a
 * token (a word too long unstemmed, which stemming may shorten enough to keep: the windows
 * would count another token), KQ_ENOMEM. */
static int match_at(struct scan *sc, const struct kq_token *t, int32_t *qi)
{
    uint64_t p = sc->pos0 + t->pos;
    *qi = -1;
    if (t->pos != (sc->n_tok ? sc->prev_pos + 1 : 0))
        return MISMATCH;
    if (sc->mi == sc->n_mt || sc->mt[sc->mi].pos > p)
        return 0;
    if (sc->mt[sc->mi].pos < p)
        return MISMATCH;
    int32_t k = sc->term_dt[sc->mt[sc->mi].term];
    for (; sc->mi < sc->n_mt && sc->mt[sc->mi].pos == p; sc->mi++)
        if (sc->term_dt[sc->mt[sc->mi].term] != k || k < 0)
            return MISMATCH; /* one token, one term */
    const struct dterm *d = &sc->dt[k];
    if (d->title_only && sc->title_apart)
        return 0; /* the occurrence is no match: the body is not the title */
    if (t->len == d->len && !memcmp(t->term, d->term, d->len)) {
        *qi = k;
        return 0;
    }
    /* a word the stemming analysis stems: its stem must be the term */
    if (!sc->memo) {
        if (!(sc->memo = kq__malloc(MEMO_SIZE * sizeof *sc->memo)))
            return KQ_ENOMEM;
        for (size_t e = 0; e < MEMO_SIZE; e++)
            sc->memo[e].qi = -1;
    }
    struct memo *m = &sc->memo[hash_term(t->term, t->len) & (MEMO_SIZE - 1)];
    if (m->qi == k && m->len == t->len && !memcmp(m->fold, t->term, t->len)) {
        *qi = k;
        return 0;
    }
    const char *st;
    size_t sl;
    if (kq_analyzer_stem(sc->an, t->term, t->len, &st, &sl))
        return KQ_ENOMEM;
    if (sl != d->len || memcmp(st, d->term, sl))
        return MISMATCH;
    m->qi = k;
    m->len = (uint8_t)t->len;
    memcpy(m->fold, t->term, t->len);
    *qi = k;
    return 0;
}

static int on_token(void *ctx, const struct kq_token *t)
{
    struct scan *sc = ctx;
    int32_t qi = -1;
    if (sc->by_pos) {
        int rc = match_at(sc, t, &qi);
        if (rc)
            return rc;
    } else if (sc->by_first[(uint8_t)t->term[0]] >> (t->len - 1) & 1) {
        qi = lookup(sc, t->term, t->len);
        if (qi >= 0 && sc->dt[qi].title_only && sc->title_apart)
            qi = -1;
    }
    uint64_t i = sc->n_tok++;
    if (i >= sc->w) {
        const struct tok *gone = &sc->ring[(i - sc->w) % sc->ring_cap];
        sc->cur_phr -= gone->n_start;
        if (gone->qi >= 0) {
            sc->cur_total--;
            if (--sc->dt[gone->qi].count == 0)
                sc->cur_sum -= sc->dt[gone->qi].weight;
        }
    }
    sc->ring[i % sc->ring_cap] = (struct tok){t->start, t->end, qi, 0, 0};
    if (qi >= 0) {
        sc->cur_total++;
        if (sc->dt[qi].count++ == 0)
            sc->cur_sum += sc->dt[qi].weight;
        if (sc->pe_at)
            phrases_step(sc, i, qi, t->pos);
    }
    sc->prev_pos = t->pos;
    if (i + 1 >= sc->w)
        consider(sc, i);
    if (sc->capturing && i == sc->capture_until)
        capture(sc, i);
    return 0;
}

static int count_token(void *ctx, const struct kq_token *t)
{
    (void)t;
    ++*(uint32_t *)ctx;
    return 0;
}

/* Forgets what a scan by position saw, for a scan by analysis. */
static void scan_reset(struct scan *sc)
{
    for (uint32_t k = 0; k < sc->n_dt; k++)
        sc->dt[k].count = 0;
    for (uint32_t p = 0; p < sc->n_ph; p++)
        sc->ph[p].state = sc->ph[p].at = 0;
    sc->prev_pos = 0;
    sc->n_tok = 0;
    sc->cur_sum = 0;
    sc->cur_phr = sc->cur_total = 0;
    sc->have_best = 0;
    sc->capturing = 0;
    sc->by_pos = 0;
}

/* Feeds the body's tokens to on_token: matched by the occurrences when there are some and
 * they agree with an analysis without stemming (see kq_snippet_opts), else by their stemmed
 * terms. Returns 0 or an analyser failure. */
static int scan_body(struct scan *sc, kq_analyzer *an, const struct kq_extracted *x,
                     const struct kq_snippet_opts *opt)
{
    sc->title_apart = (opt && opt->title) || !x->title_in_body;
    if (opt && opt->by_position) {
        /* field text starts with a title that stands apart, then one unused position */
        int apart = sc->title_apart;
        uint32_t n = 0, next = 0;
        int rc = kq_analyze(an, opt->title ? opt->title : x->title,
                            !apart ? 0 : opt->title ? opt->title_len : x->title_len, 0, 0,
                            count_token, &n, &next);
        if (rc)
            return rc;
        sc->by_pos = 1;
        sc->an = an;
        sc->pos0 = n ? (uint64_t)next + 1 : 0;
        sc->mt = opt->matches;
        sc->n_mt = opt->n_matches;
        for (sc->mi = 0; sc->mi < sc->n_mt && sc->mt[sc->mi].pos < sc->pos0; sc->mi++)
            ; /* the title's */
        rc = kq_analyze(an, x->body, x->body_len, 0, KQ_ANALYZE_NOSTEM, on_token, sc, NULL);
        if (!rc && sc->mi == sc->n_mt)
            return 0;
        if (rc && rc != MISMATCH)
            return rc;
        scan_reset(sc);
    }
    return kq_analyze(an, x->body, x->body_len, 0, 0, on_token, sc, NULL);
}

static inline const struct tok *tok_at(const struct scan *sc, uint64_t i)
{
    return &sc->cap[i - sc->cap_first];
}

static inline int space_byte(uint8_t c)
{
    return c <= 0x20 || c == 0x7f; /* NUL included: callers that care test it first */
}

/* Whitespace and control characters, which the text shows as one space. */
static int space_cp(int32_t cp)
{
    if (cp < 0x80)
        return cp <= 0x20 || cp == 0x7f;
    if (cp < 0xa0)
        return 1;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
        return 1;
    default:
        return 0;
    }
}

struct rspan {
    size_t start, end;
};

/* Appends body[a, b) collapsed (see snippet.h) to `out`; marks the tokens m[0..n_m) (in
 * order, within [a, b)) as spans in `sp` (room for n_m), `*n_sp` of them non-empty. */
static int collapse(const char *body, size_t a, size_t b, const struct tok **m, size_t n_m,
                    kq_buf *out, struct rspan *sp, size_t *n_sp)
{
    const uint8_t *s = (const uint8_t *)body;
    size_t mi = 0, ns = 0;
    int pending = 0, open = 0;
    for (size_t i = a; i < b;) {
        size_t n = 1;
        int32_t cp = s[i] < 0x80 ? s[i] : kq_utf8_decode(s + i, s + b, &n);
        if (cp != 0) {
            if (space_cp(cp)) {
                pending = out->len > 0;
            } else {
                if (pending && kq_buf_putc(out, ' '))
                    return KQ_ENOMEM;
                pending = 0;
                if (!open && mi < n_m && m[mi]->start <= i) {
                    open = 1;
                    sp[ns].start = out->len;
                }
                uint8_t enc[4];
                size_t k = cp < 0x80 ? (enc[0] = (uint8_t)cp, 1) : kq_utf8_encode(cp, enc);
                if (kq_buf_append(out, enc, k))
                    return KQ_ENOMEM;
            }
        }
        i += n;
        if (mi < n_m && i >= m[mi]->end) {
            if (open && out->len > sp[ns].start)
                sp[ns++].end = out->len;
            open = 0;
            mi++;
        }
    }
    *n_sp = ns;
    return 0;
}

/* Counts newlines of doc[from, to), advancing `*line` (saturating) and `*bol` (the offset
 * after the last newline). */
static void count_lines(const char *doc, size_t from, size_t to, uint32_t *line, size_t *bol)
{
    const char *p = doc + from, *e = doc + to;
    while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        if (*line < UINT32_MAX)
            (*line)++;
        p++;
        *bol = (size_t)(p - doc);
    }
}

/* The 1-based byte column of doc[at], whose line starts at doc[bol]; a byte-order mark
 * starting the file is not part of the first line, as editors show it. */
static uint32_t column(const char *doc, size_t len, size_t bol, size_t at)
{
    if (bol == 0 && at >= 3 && len >= 3 && !memcmp(doc, "\xef\xbb\xbf", 3))
        bol = 3;
    return at - bol + 1 > UINT32_MAX ? UINT32_MAX : (uint32_t)(at - bol + 1);
}

struct title_scan {
    const struct scan *sc;
    size_t at; /* start of the first word that is a query term */
};

static int title_token(void *ctx, const struct kq_token *t)
{
    struct title_scan *ts = ctx;
    const struct scan *sc = ts->sc;
    if (!(sc->by_first[(uint8_t)t->term[0]] >> (t->len - 1) & 1) ||
        lookup(sc, t->term, t->len) < 0)
        return 0;
    ts->at = t->start;
    return 1;
}

/* Where the title that stands apart from the body (an HTML <title>, text up to "</title")
 * holds a query term: the offset in `doc` of the first such word of its source text,
 * else of the start of its text when only the decoded title holds one (a word spelled with
 * an entity); SIZE_MAX when it holds none. The title is short: analysed on demand. */
static size_t title_match(kq_analyzer *an, const struct scan *sc, const struct kq_extracted *x,
                          const char *doc, size_t len)
{
    struct title_scan ts = {sc, 0};
    const char *s = doc + x->title_src;
    size_t n = 0;
    while (x->title_src + n < len && !(s[n] == '<' && x->title_src + n + 7 <= len &&
                                      !strncasecmp(s + n, "</title", 7)))
        n++;
    if (kq_analyze(an, s, n, 0, 0, title_token, &ts, NULL) == 1)
        return x->title_src + ts.at;
    if (kq_analyze(an, x->title, x->title_len, 0, 0, title_token, &ts, NULL) == 1)
        return x->title_src;
    return SIZE_MAX;
}

/* Nonzero when body[from, to) holds anything but whitespace, control bytes and NULs. */
static int has_text(const char *body, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (!space_byte((uint8_t)body[i]))
            return 1;
    return 0;
}

int kq_snippet_make(kq_analyzer *an, enum kq_format format, const char *doc, size_t len,
                    uint32_t line0, const struct kq_snippet_term *terms, size_t n_terms,
                    const struct kq_snippet_opts *opt, struct kq_snippet *out, kq_error *err)
{
    struct scan sc = {0};
    struct kq_extracted x = {0};
    kq_buf col = KQ_BUF_INIT;
    const struct tok **m = NULL;
    struct rspan *sp = NULL;
    char *text = NULL;
    struct kq_span *spans = NULL;
    int rc;

    if (out)
        memset(out, 0, sizeof *out);
    if (format != KQ_FORMAT_PLAIN && format != KQ_FORMAT_MARKDOWN && format != KQ_FORMAT_HTML)
        return kq__error(err, KQ_EINVAL, -1, "unknown document format %d", (int)format);
    if (!out || !an || (!doc && len) || (!terms && n_terms))
        return kq__error(err, KQ_EINVAL, -1, "kq_snippet_make: NULL %s",
                         !out ? "out" : !an ? "analyser" : !doc && len ? "document" : "terms");
    if (n_terms > KQ_SNIPPET_MAX_TERMS)
        return kq__error(err, KQ_ELIMIT, -1, "snippet has more than %d terms",
                         KQ_SNIPPET_MAX_TERMS);
    if ((rc = phrases_check(opt ? opt->phrases : NULL, opt ? opt->n_phrases : 0, n_terms, err)) !=
        0)
        return rc;
    if (opt && opt->by_position &&
        (rc = matches_check(opt->matches, opt->n_matches, n_terms, err)) != 0)
        return rc;
    if (opt && !opt->title && opt->title_len)
        return kq__error(err, KQ_EINVAL, -1, "kq_snippet_make: NULL title");

    uint32_t w = opt && opt->window_words ? opt->window_words : KQ_SNIPPET_WINDOW_WORDS;
    if (w > KQ_SNIPPET_WINDOW_MAX)
        w = KQ_SNIPPET_WINDOW_MAX;
    for (size_t p = 0; opt && p < opt->n_phrases; p++)
        if (opt->phrases[p].n_terms > w)
            w = opt->phrases[p].n_terms; /* a longer phrase would never show */
    size_t max = opt && opt->max_bytes ? opt->max_bytes : KQ_SNIPPET_MAX_BYTES;
    if (max < KQ_SNIPPET_MIN_BYTES)
        max = KQ_SNIPPET_MIN_BYTES;
    if (max > UINT32_MAX - 1)
        max = UINT32_MAX - 1;
    if (line0 == 0)
        line0 = 1;

    if (terms_init(&sc, terms, n_terms) != 0 ||
        phrases_init(&sc, terms, opt ? opt->phrases : NULL, opt ? opt->n_phrases : 0) != 0)
        goto nomem;
    sc.w = w;
    sc.ring_cap = 3 * (uint64_t)w;
    sc.ring = kq__malloc(sc.ring_cap * sizeof *sc.ring);
    sc.cap = kq__malloc(sc.ring_cap * sizeof *sc.cap);
    m = kq__malloc(w * sizeof *m);
    sp = kq__malloc(w * sizeof *sp);
    if (!sc.ring || !sc.cap || !m || !sp)
        goto nomem;
    if ((rc = kq_extract(format, doc ? doc : "", len, &x, err)) != 0)
        goto done;
    rc = scan_body(&sc, an, &x, opt);
    if (rc) {
        if (rc == KQ_ENOMEM)
            goto nomem;
        rc = kq__error(err, KQ_EINTERNAL, -1, "analyser failed with %d", rc);
        goto done;
    }

    size_t n_m = 0, n_sp = 0;
    size_t src_start = 0, src_end = 0;
    uint32_t line = line0, mline = line0, mcol = 1;
    int lead = 0, trail = 0;
    if (sc.n_tok > 0) {
        if (sc.n_tok < sc.w) /* shorter than a window: the whole body is the one window */
            consider(&sc, sc.n_tok - 1);
        if (sc.capturing)
            capture(&sc, sc.n_tok - 1);
        uint64_t last = sc.cap_first + sc.n_cap - 1;

        /* The window and its matched tokens; recentred on the matches. */
        uint64_t s = sc.best_end + 1 >= sc.w ? sc.best_end + 1 - sc.w : 0;
        uint64_t f = UINT64_MAX, l = 0;
        for (uint64_t i = s; i <= sc.best_end; i++)
            if (tok_at(&sc, i)->qi >= 0) {
                if (f == UINT64_MAX)
                    f = i;
                l = i;
            }
        if (f != UINT64_MAX) {
            uint64_t slack = sc.w - (l - f + 1);
            s = f > slack / 2 ? f - slack / 2 : 0;
            if (sc.n_tok >= sc.w && s > sc.n_tok - sc.w)
                s = sc.n_tok - sc.w;
            if (sc.n_tok < sc.w)
                s = 0;
        }
        uint64_t e = s + sc.w - 1 < sc.n_tok - 1 ? s + sc.w - 1 : sc.n_tok - 1;
        for (uint64_t i = s; i <= e; i++) {
            const struct tok *k = tok_at(&sc, i);
            if (k->qi >= 0 && (!sc.dt[k->qi].phrase_only || k->in_phrase))
                m[n_m++] = k; /* marked: a word of the query, or of a phrase that occurs */
        }

        /* Widen over adjoining punctuation, stopping at whitespace and neighbour tokens. */
        const uint8_t *b = (const uint8_t *)x.body;
        size_t lo = s > sc.cap_first ? tok_at(&sc, s - 1)->end : 0;
        size_t hi = e < last ? tok_at(&sc, e + 1)->start : x.body_len;
        src_start = tok_at(&sc, s)->start;
        src_end = tok_at(&sc, e)->end;
        /* (overlapping CJK bigrams: a neighbour may overlap the window) */
        if (lo > src_start)
            lo = src_start;
        if (src_start - lo > WIDEN_MAX)
            lo = src_start - WIDEN_MAX;
        if (hi < src_end)
            hi = src_end;
        if (hi - src_end > WIDEN_MAX)
            hi = src_end + WIDEN_MAX;
        size_t p = src_start;
        while (p > lo && (!space_byte(b[p - 1]) || b[p - 1] == 0))
            p--;
        while (p < src_start && (b[p] & 0xc0) == 0x80)
            p++;
        src_start = p;
        p = src_end;
        while (p < hi && (!space_byte(b[p]) || b[p] == 0))
            p++;
        while (p > src_end && p < x.body_len && (b[p] & 0xc0) == 0x80)
            p--;
        src_end = p;
        lead = s > 0 || has_text(x.body, 0, src_start);
        trail = e + 1 < sc.n_tok || has_text(x.body, src_end, x.body_len);

        size_t bol = 0;
        count_lines(doc, 0, src_start, &line, &bol);
        mline = line;
        size_t at = n_m ? m[0]->start : src_start;
        count_lines(doc, src_start, at, &mline, &bol);
        mcol = column(doc, len, bol, at);
        if (collapse(x.body, src_start, src_end, m, n_m, &col, sp, &n_sp) != 0)
            goto nomem;
    }
    /* no match in the body (a body without a word, title:word): the words are looked for
     * in a title apart from the body */
    size_t tm = !n_m && x.title_src < len ? title_match(an, &sc, &x, doc, len) : SIZE_MAX;
    if (tm != SIZE_MAX) {
        size_t bol = 0;
        mline = line0;
        count_lines(doc, 0, tm, &mline, &bol);
        mcol = column(doc, len, bol, tm);
    }

    /* Cap at `max` bytes: cut the head when the first match would not fit, then the tail.
     * (An empty text always fits: max >= KQ_SNIPPET_MIN_BYTES > two ellipses.) */
    const char *t = (const char *)col.p;
    size_t a = 0, z = col.len;
    if (col.len && ELLIPSIS_LEN * (size_t)lead + col.len + ELLIPSIS_LEN * (size_t)trail > max) {
        if (n_sp && ELLIPSIS_LEN * (size_t)lead + sp[0].end + ELLIPSIS_LEN > max) {
            size_t budget = max - 2 * (size_t)ELLIPSIS_LEN, ctx = budget / 4;
            size_t from = sp[0].start > ctx ? sp[0].start - ctx : 0;
            a = sp[0].start;
            for (size_t i = from; i < sp[0].start; i++)
                if (t[i] == ' ') {
                    a = i + 1;
                    break;
                }
            if (sp[0].end - a > budget)
                a = sp[0].start;
            lead = lead || a > 0;
        }
        if (ELLIPSIS_LEN * (size_t)lead + (col.len - a) + ELLIPSIS_LEN * (size_t)trail > max) {
            trail = 1;
            size_t budget = max - ELLIPSIS_LEN * (size_t)lead - ELLIPSIS_LEN;
            z = a + budget;
            while (z > a && (t[z] & 0xc0) == 0x80)
                z--;
            /* prefer a space in the last quarter, but never one before the first match */
            size_t lim = a + budget / 4 * 3 + 1;
            if (n_sp && sp[0].start >= a && sp[0].end <= z && sp[0].end > lim)
                lim = sp[0].end;
            for (size_t i = z; i >= lim; i--)
                if (t[i] == ' ') {
                    z = i;
                    break;
                }
            while (z > a && t[z - 1] == ' ')
                z--;
        }
    }

    size_t n_lead = ELLIPSIS_LEN * (size_t)lead,
           tlen = n_lead + (z - a) + ELLIPSIS_LEN * (size_t)trail;
    if (z == a) /* no token: no ellipsis on an empty text */
        n_lead = 0, tlen = 0, lead = trail = 0;
    text = kq__malloc(tlen + 1);
    if (!text)
        goto nomem;
    size_t k = 0;
    if (lead)
        memcpy(text, ELLIPSIS, ELLIPSIS_LEN), k = ELLIPSIS_LEN;
    if (z > a)
        memcpy(text + k, t + a, z - a), k += z - a;
    if (trail)
        memcpy(text + k, ELLIPSIS, ELLIPSIS_LEN), k += ELLIPSIS_LEN;
    text[k] = '\0';

    uint32_t ns = 0;
    for (size_t i = 0; i < n_sp; i++)
        ns += sp[i].start >= a && sp[i].end <= z;
    if (ns) {
        spans = kq__malloc(ns * sizeof *spans);
        if (!spans)
            goto nomem;
        ns = 0;
        for (size_t i = 0; i < n_sp; i++)
            if (sp[i].start >= a && sp[i].end <= z)
                spans[ns++] = (struct kq_span){(uint32_t)(sp[i].start - a + n_lead),
                                               (uint32_t)(sp[i].end - a + n_lead)};
    }

    *out = (struct kq_snippet){.text = text,
                               .len = k,
                               .spans = spans,
                               .n_spans = ns,
                               .src_start = src_start,
                               .src_end = src_end,
                               .line = line,
                               .match_line = mline,
                               .match_col = mcol};
    text = NULL;
    spans = NULL;
    rc = 0;
    goto done;
nomem:
    rc = kq__enomem(err);
done:
    kq__free(text);
    kq__free(spans);
    kq_buf_release(&col);
    kq__free(sp);
    kq__free(m);
    kq__free(sc.cap);
    kq__free(sc.ring);
    kq__free(sc.slots);
    kq__free(sc.dt);
    kq__free(sc.term_dt);
    kq__free(sc.memo);
    kq__free(sc.ph_qi);
    kq__free(sc.ph_delta);
    kq__free(sc.ph);
    kq__free(sc.pe);
    kq__free(sc.pe_at);
    kq_extracted_release(&x);
    return rc;
}

void kq_snippet_release(struct kq_snippet *s)
{
    if (!s)
        return;
    kq__free(s->text);
    kq__free(s->spans);
    memset(s, 0, sizeof *s);
}
