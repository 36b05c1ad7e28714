/* query/eval.c: document-at-a-time evaluation of a query tree over kq_cursor iterators,
 * with MaxScore and block-max pruning that never changes the top k (see eval.h).
 *
 * The tree is compiled into `struct node`s, one per query node (a PREFIX becomes a BOOL of
 * SHOULD TERMs, one per expanded term). Every node is an iterator over the documents it
 * matches: adv(n, target) moves it to its first matching document >= target and never
 * backwards; score(n) is the score of that document. Nodes that can never match (a term
 * absent from the index, a prefix with no term) compile to N_EMPTY and are dropped from the
 * BOOLs holding them, which changes no score: they would add nothing.
 *
 * Invariants that keep the result exact:
 *  - score(n) depends on the document only, never on the path that reached it: a BOOL
 *    sums, in clause order, the scores of the clauses matching the document, then
 *    multiplies by its boost; the root strategies fill a per-clause score array and sum it
 *    in the same order (a clause that does not match adds +0.0, which changes nothing).
 *  - A document is skipped only when an upper bound of its score, inflated by MARGIN, is
 *    still below the current k-th score. A later document with a score equal to the k-th
 *    one cannot enter anyway (ties go to the smaller doc id, and ids only grow), so a
 *    strict comparison is enough; MARGIN absorbs the few ulp by which a bound computed in
 *    another order could fall below a true score.
 *  - Recursion over nodes is bounded by the tree's depth, which the parser bounds
 *    (KQ_QUERY_DEPTH_CAP); compile() refuses anything deeper.
 *
 * Memory: nodes and per-query arrays come from one arena freed at the end; the cursors and
 * the phrase position buffers are kept in two lists and released with it.
 */
#include "query/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/reader.h"
#include "query/bm25.h"
#include "util/alloc.h"
#include "util/error.h"

/* Relative slack on every pruning comparison (see above). */
#define MARGIN 1e-9
/* Deepest node tree compile() accepts: what the parser can produce at its hard cap. */
#define MAX_NODE_DEPTH (3 * KQ_QUERY_DEPTH_CAP + 2)

void kq_search_opts_init(struct kq_search_opts *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->k = 10;
    opt->k1 = -1;
    opt->b = -1;
    opt->title_weight = -1;
    opt->max_expansions = KQ_SEARCH_DEFAULT_EXPANSIONS;
}

void kq_results_release(struct kq_results *r)
{
    if (!r)
        return;
    kq__free(r->hits);
    memset(r, 0, sizeof *r);
}

/* ---- arena ---- */

struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

enum nkind { N_EMPTY, N_TERM, N_PHRASE, N_BOOL };

struct node {
    enum nkind kind;
    int started;  /* adv() was called at least once */
    uint32_t doc; /* current document; KQ_NO_DOC when exhausted */
    double ub;    /* upper bound of score() */
    uint64_t cost;
    double boost;
    /* TERM */
    kq_cursor *cur;
    double weight; /* boost * idf (PHRASE: boost * sum idf) */
    int field;
    /* PHRASE: curs[i] is term i; order[] lists them rarest first. A candidate holds the
     * terms order[0..n_req); the others, words in 90 % of the documents or more, are
     * looked for when positions are read (phrase_freq) */
    uint32_t n_terms, n_req;
    kq_cursor **curs;
    uint32_t *order;
    const uint32_t *rel_pos;
    uint32_t freq; /* matching start positions in the current document */
    int unverified; /* doc is a candidate (PHRASE: n_req), its positions not checked yet */
    /* TERM, PHRASE of field text: the same leaf in the title, its score added to this one's
     * (TITLE WEIGHT in eval.h; ub includes its bound), or NULL */
    struct node *title;
    /* BOOL: ch[] holds the MUST and SHOULD clauses in clause order */
    uint32_t n_ch, n_must, n_not;
    struct node **ch;
    uint8_t *is_must;     /* per ch */
    struct node **musts;  /* the MUST clauses, cheapest first */
    struct node **nots;   /* the MUST_NOT clauses */
    double should_ub;     /* sum of the SHOULD clauses' bounds */
};

struct ev {
    const kq_index *ix;
    uint32_t n_docs; /* live documents: N of idf */
    uint32_t n_ids;  /* doc ids are < n_ids (deleted documents keep theirs) */
    struct kq_bm25_field bf[KQ_N_FIELDS];
    uint32_t max_exp;
    struct chunk *arena;
    kq_cursor **curs; /* every cursor opened, closed at the end */
    uint32_t n_curs, cap_curs;
    struct kq_pos_reader *prd; /* phrase scratch: the positions of term i */
    uint32_t n_prd;
    int count_only; /* a phrase need not count its matches, only find one */
    double title_weight;
    int rc;           /* first error met while iterating (KQ_ECORRUPT, KQ_ENOMEM) */
    kq_error *err;
};

static void *ar_alloc(struct ev *ev, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct chunk *c = ev->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        c = kq__malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = ev->arena;
        c->used = 0;
        c->cap = cap;
        ev->arena = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static void *ar_calloc(struct ev *ev, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = ar_alloc(ev, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

static void ev_release(struct ev *ev)
{
    for (uint32_t i = 0; i < ev->n_curs; i++)
        kq_cursor_close(ev->curs[i]);
    kq__free(ev->curs);
    while (ev->arena) {
        struct chunk *next = ev->arena->next;
        kq__free(ev->arena);
        ev->arena = next;
    }
}

/* The deletion hook the root loops ask before counting or ranking a document. Cursors
 * already step over deleted documents (index/reader.c), so this never says no for a
 * well-formed cursor; it keeps "a deleted document is never a hit" true in one place. */
static inline int doc_live(const struct ev *ev, uint32_t doc)
{
    return !ev->ix->has_deletes || kq__index_live(ev->ix, doc);
}

/* ---- compiling the tree ---- */

static int open_cursor(struct ev *ev, int field, const char *term, size_t len, kq_cursor **out)
{
    *out = NULL;
    if (ev->n_curs == ev->cap_curs) {
        uint32_t cap = ev->cap_curs ? 2 * ev->cap_curs : 16;
        kq_cursor **p = kq__realloc(ev->curs, cap * sizeof *p);
        if (!p)
            return kq__enomem(ev->err);
        ev->curs = p;
        ev->cap_curs = cap;
    }
    int rc = kq_cursor_open(ev->ix, field, term, len, out, ev->err);
    if (!rc && *out)
        ev->curs[ev->n_curs++] = *out;
    return rc;
}

static struct node *new_node(struct ev *ev, enum nkind kind, double boost)
{
    struct node *n = ar_calloc(ev, 1, sizeof *n);
    if (n) {
        n->kind = kind;
        n->boost = boost;
        n->field = -1;
        if (kind == N_EMPTY) {
            n->started = 1;
            n->doc = KQ_NO_DOC;
        }
    }
    return n;
}

/* Upper bound of weight * tf' over the term's competitive (tf, dl) pairs. */
static double impacts_bound(const struct kq_bm25_field *bf, double weight,
                            const struct kq_impact *imp, uint32_t n)
{
    double best = 0;
    for (uint32_t i = 0; i < n; i++) {
        double s = weight * kq_bm25_tf(bf, imp[i].tf, imp[i].dl);
        if (s > best)
            best = s;
    }
    return best;
}

/* A TERM node of `term` with df `df` (0: look it up). `*out` is N_EMPTY when absent. */
static int compile_term(struct ev *ev, int field, const char *term, size_t len, uint32_t df,
                        double boost, struct node **out)
{
    kq_cursor *c;
    int rc = open_cursor(ev, field, term, len, &c);
    if (rc)
        return rc;
    if (c && !df && (rc = kq__cursor_df(c, &df, ev->err)))
        return rc;
    if (!c || !df) {
        *out = new_node(ev, N_EMPTY, boost);
        return *out ? 0 : kq__enomem(ev->err);
    }
    struct node *n = *out = new_node(ev, N_TERM, boost);
    if (!n)
        return kq__enomem(ev->err);
    n->cur = c;
    n->field = field;
    n->cost = df;
    n->weight = boost * kq_bm25_idf(ev->n_docs, df);
    struct kq_impact imp[2 * KQ_IMPACTS_MAX];
    uint32_t ni = kq__cursor_impacts(c, imp, 2 * KQ_IMPACTS_MAX);
    n->ub = impacts_bound(&ev->bf[field], n->weight, imp, ni);
    return 0;
}

static int compile_phrase(struct ev *ev, const struct kq_qnode *q, struct node **out)
{
    struct node *n = new_node(ev, N_PHRASE, q->boost);
    if (!n)
        return kq__enomem(ev->err);
    n->field = q->field;
    n->n_terms = q->n_terms;
    n->rel_pos = q->rel_pos;
    n->curs = ar_calloc(ev, q->n_terms, sizeof *n->curs);
    n->order = ar_calloc(ev, q->n_terms, sizeof *n->order);
    uint32_t *df = ar_calloc(ev, q->n_terms, sizeof *df);
    if (!n->curs || !n->order || !df)
        return kq__enomem(ev->err);
    double idf = 0;
    for (uint32_t i = 0; i < q->n_terms; i++) {
        /* a word the phrase repeats ("to be or not to be") shares its cursor: the candidates
         * move it once; each place reads its positions with a reader of its own */
        for (uint32_t j = 0; j < i && !n->curs[i]; j++) {
            if (q->lens[j] == q->lens[i] && !memcmp(q->terms[j], q->terms[i], q->lens[i])) {
                n->curs[i] = n->curs[j];
                df[i] = df[j];
            }
        }
        int rc = 0;
        if (!n->curs[i]) {
            rc = open_cursor(ev, q->field, q->terms[i], q->lens[i], &n->curs[i]);
            if (!rc && n->curs[i] && !(rc = kq__cursor_need_positions(n->curs[i], ev->err)))
                rc = kq__cursor_df(n->curs[i], &df[i], ev->err);
        }
        if (rc)
            return rc;
        if (!n->curs[i] || !df[i]) {
            *out = new_node(ev, N_EMPTY, q->boost);
            return *out ? 0 : kq__enomem(ev->err);
        }
        idf += kq_bm25_idf(ev->n_docs, df[i]);
        /* insertion by df: the rarest term leads the intersection */
        uint32_t j = i;
        while (j > 0 && df[n->order[j - 1]] > df[i]) {
            n->order[j] = n->order[j - 1];
            j--;
        }
        n->order[j] = i;
    }
    n->weight = q->boost * idf;
    n->ub = n->weight * ev->bf[q->field].k1p1;
    n->cost = df[n->order[0]];
    /* requiring a word that nearly every document holds ("the" and "of" in "the book of
     * life") costs a seek per candidate and removes few of them, fewer than the positions
     * of the rarer words do; the two rarest are always required */
    n->n_req = q->n_terms;
    while (n->n_req > 2 && 10 * (uint64_t)df[n->order[n->n_req - 1]] >= 9 * (uint64_t)ev->n_docs)
        n->n_req--;
    /* position readers, shared by all phrases (one is verified at a time) */
    if (q->n_terms > ev->n_prd) {
        if (!(ev->prd = ar_calloc(ev, q->n_terms, sizeof *ev->prd)))
            return kq__enomem(ev->err);
        ev->n_prd = q->n_terms;
    }
    *out = n;
    return 0;
}

struct expansion {
    struct ev *ev;
    char **terms;
    size_t *lens;
    uint32_t *dfs;
    uint32_t n, cap;
};

static int on_expansion(void *ctx, const char *term, size_t len, const struct kq_term_stats *st)
{
    struct expansion *x = ctx;
    if (x->n == x->cap) {
        uint32_t cap = x->cap ? 2 * x->cap : 16;
        char **t = ar_calloc(x->ev, cap, sizeof *t);
        size_t *l = ar_calloc(x->ev, cap, sizeof *l);
        uint32_t *d = ar_calloc(x->ev, cap, sizeof *d);
        if (!t || !l || !d)
            return KQ_ENOMEM;
        if (x->n) {
            memcpy(t, x->terms, x->n * sizeof *t);
            memcpy(l, x->lens, x->n * sizeof *l);
            memcpy(d, x->dfs, x->n * sizeof *d);
        }
        x->terms = t;
        x->lens = l;
        x->dfs = d;
        x->cap = cap;
    }
    char *copy = ar_alloc(x->ev, len + 1);
    if (!copy)
        return KQ_ENOMEM;
    memcpy(copy, term, len);
    copy[len] = 0;
    x->terms[x->n] = copy;
    x->lens[x->n] = len;
    x->dfs[x->n] = st->df;
    x->n++;
    return 0;
}

/* kq__prefix_expand's count of the terms it reported. */
struct counted {
    int (*fn)(void *ctx, const char *term, size_t len, const struct kq_term_stats *st);
    void *ctx;
    size_t n;
};

static int count_term(void *ctx, const char *term, size_t len, const struct kq_term_stats *st)
{
    struct counted *c = ctx;
    c->n++;
    return c->fn(c->ctx, term, len, st);
}

int kq__prefix_expand(const kq_index *ix, int field, const struct kq_qnode *q, size_t max,
                      int (*fn)(void *ctx, const char *term, size_t len,
                                const struct kq_term_stats *st),
                      void *ctx, kq_error *err)
{
    struct counted c = {fn, ctx, 0};
    int rc = kq_index_prefix(ix, field, q->terms[0], q->lens[0], max, count_term, &c, err);
    if (rc || !q->stem || (q->stem_len >= q->lens[0] && !memcmp(q->stem, q->terms[0], q->lens[0])))
        return rc; /* no stem, or one the range held */
    struct kq_term_stats st;
    if ((rc = kq_index_lookup(ix, field, q->stem, q->stem_len, &st, err)))
        return rc == KQ_ENOTFOUND ? 0 : rc;
    if (max && c.n == max)
        return KQ_ELIMIT;
    return fn(ctx, q->stem, q->stem_len, &st);
}

static int finish_bool(struct ev *ev, struct node *n, struct node **kids, const uint8_t *occ,
                       uint32_t n_kids, struct node **out);

static int compile_prefix(struct ev *ev, const struct kq_qnode *q, struct node **out)
{
    struct expansion x = {ev, NULL, NULL, NULL, 0, 0};
    int rc = kq__prefix_expand(ev->ix, q->field, q, ev->max_exp, on_expansion, &x, ev->err);
    if (rc == KQ_ELIMIT)
        return kq__error(ev->err, KQ_ELIMIT, q->offset, "prefix '%.*s' matches more than %u terms",
                         (int)q->lens[0], q->terms[0], ev->max_exp);
    if (rc == KQ_ENOMEM)
        return kq__enomem(ev->err);
    if (rc)
        return rc;
    struct node **kids = ar_calloc(ev, x.n ? x.n : 1, sizeof *kids);
    uint8_t *occ = ar_calloc(ev, x.n ? x.n : 1, 1);
    struct node *n = new_node(ev, N_BOOL, 1.0);
    if (!kids || !occ || !n)
        return kq__enomem(ev->err);
    for (uint32_t i = 0; i < x.n; i++) {
        occ[i] = KQ_SHOULD;
        if ((rc = compile_term(ev, q->field, x.terms[i], x.lens[i], x.dfs[i], q->boost,
                               &kids[i])))
            return rc;
    }
    return finish_bool(ev, n, kids, occ, x.n, out);
}

/* Drops N_EMPTY clauses, decides whether `n` can match at all, and fills its arrays. A
 * BOOL reduced to one SHOULD or MUST clause of boost 1 and no MUST_NOT stays a BOOL: its
 * score (0 + s) * 1 is bit-identical to the clause's, so this is only a speed matter. */
static int finish_bool(struct ev *ev, struct node *n, struct node **kids, const uint8_t *occ,
                       uint32_t n_kids, struct node **out)
{
    uint32_t n_must = 0, n_should = 0, n_not = 0;
    for (uint32_t i = 0; i < n_kids; i++) {
        if (kids[i]->kind == N_EMPTY) {
            if (occ[i] == KQ_MUST) {
                *out = new_node(ev, N_EMPTY, n->boost);
                return *out ? 0 : kq__enomem(ev->err);
            }
            continue;
        }
        n_must += occ[i] == KQ_MUST;
        n_should += occ[i] == KQ_SHOULD;
        n_not += occ[i] == KQ_MUST_NOT;
    }
    if (!n_must && !n_should) {
        *out = new_node(ev, N_EMPTY, n->boost);
        return *out ? 0 : kq__enomem(ev->err);
    }
    n->ch = ar_calloc(ev, n_must + n_should, sizeof *n->ch);
    n->is_must = ar_calloc(ev, n_must + n_should, 1);
    n->musts = ar_calloc(ev, n_must ? n_must : 1, sizeof *n->musts);
    n->nots = ar_calloc(ev, n_not ? n_not : 1, sizeof *n->nots);
    if (!n->ch || !n->is_must || !n->musts || !n->nots)
        return kq__enomem(ev->err);
    double ub = 0;
    uint64_t should_cost = 0;
    for (uint32_t i = 0; i < n_kids; i++) {
        struct node *k = kids[i];
        if (k->kind == N_EMPTY)
            continue;
        if (occ[i] == KQ_MUST_NOT) {
            n->nots[n->n_not++] = k;
            continue;
        }
        n->is_must[n->n_ch] = occ[i] == KQ_MUST;
        n->ch[n->n_ch++] = k;
        ub += k->ub;
        if (occ[i] == KQ_MUST) {
            uint32_t j = n->n_must++;
            while (j > 0 && n->musts[j - 1]->cost > k->cost) {
                n->musts[j] = n->musts[j - 1];
                j--;
            }
            n->musts[j] = k;
        } else {
            n->should_ub += k->ub;
            should_cost += k->cost;
        }
    }
    n->ub = n->boost * ub;
    n->cost = n->n_must ? n->musts[0]->cost : should_cost;
    *out = n;
    return 0;
}

/* A leaf of field text that adds to scores, `text` compiled: its title companion (see
 * eval.h, TITLE WEIGHT), when the title holds the words. It changes no match, so it is not
 * iterated: score() moves it to the text leaf's document. */
static int add_title(struct ev *ev, const struct kq_qnode *q, struct node *text)
{
    struct kq_qnode tq = *q;
    tq.field = KQ_FIELD_TITLE;
    tq.boost = q->boost * ev->title_weight;
    struct node *t;
    int rc = q->type == KQ_QN_TERM
                 ? compile_term(ev, KQ_FIELD_TITLE, q->terms[0], q->lens[0], 0, tq.boost, &t)
                 : compile_phrase(ev, &tq, &t);
    if (!rc && t->kind != N_EMPTY) {
        text->title = t;
        text->ub += t->ub;
    }
    return rc;
}

/* `scoring`: the node's score can count (not under a MUST_NOT, not counting). */
static int compile(struct ev *ev, const struct kq_qnode *q, int depth, int scoring,
                   struct node **out)
{
    if (depth > MAX_NODE_DEPTH)
        return kq__error(ev->err, KQ_ELIMIT, q->offset, "query nested too deeply (limit is %d)",
                         KQ_QUERY_DEPTH_CAP);
    if (q->type != KQ_QN_BOOL && (q->field < 0 || q->field >= KQ_N_FIELDS || q->n_terms < 1))
        return kq__error(ev->err, KQ_EINVAL, q->offset, "bad query node at byte %lld",
                         (long long)q->offset);
    switch (q->type) {
    case KQ_QN_TERM:
    case KQ_QN_PHRASE: {
        int rc = q->type == KQ_QN_TERM
                     ? compile_term(ev, q->field, q->terms[0], q->lens[0], 0, q->boost, out)
                     : compile_phrase(ev, q, out);
        if (rc || !scoring || q->field != KQ_FIELD_TEXT || !(ev->title_weight > 0) ||
            (*out)->kind == N_EMPTY)
            return rc;
        return add_title(ev, q, *out);
    }
    case KQ_QN_PREFIX:
        return compile_prefix(ev, q, out);
    case KQ_QN_BOOL:
        break;
    default:
        return kq__error(ev->err, KQ_EINVAL, q->offset, "bad query node at byte %lld",
                         (long long)q->offset);
    }
    struct node *n = new_node(ev, N_BOOL, q->boost);
    struct node **kids = ar_calloc(ev, q->n_clauses ? q->n_clauses : 1, sizeof *kids);
    uint8_t *occ = ar_calloc(ev, q->n_clauses ? q->n_clauses : 1, 1);
    if (!n || !kids || !occ)
        return kq__enomem(ev->err);
    for (uint32_t i = 0; i < q->n_clauses; i++) {
        occ[i] = (uint8_t)q->occurs[i];
        int rc = compile(ev, q->clauses[i], depth + 1, scoring && occ[i] != KQ_MUST_NOT,
                         &kids[i]);
        if (rc)
            return rc;
    }
    return finish_bool(ev, n, kids, occ, q->n_clauses, out);
}

/* ---- iterating ---- */

static uint32_t adv_node(struct ev *ev, struct node *n, uint32_t target);

/* Moves n to its first match >= target (KQ_NO_DOC when none): answered inline while n is
 * there already or is a TERM, whose cursor moves inline within its block. */
static inline uint32_t adv(struct ev *ev, struct node *n, uint32_t target);

/* Records malformed positions met by phrase_freq; returns -1. */
static int64_t positions_error(struct ev *ev)
{
    ev->rc = kq__error(ev->err, KQ_ECORRUPT, -1, "malformed positions in the index");
    return -1;
}

/* Begins reading the positions of the phrase's term order[k] in the candidate (the
 * document of order[0]), moving its cursor there first when k >= n_req. Returns its tf
 * there, 0 when it has none (or no positions), or KQ_ECORRUPT. */
static inline int pos_begin(struct node *n, uint32_t k, struct kq_pos_reader *r)
{
    kq_cursor *c = n->curs[n->order[k]];
    if (k >= n->n_req) {
        uint32_t d = n->curs[n->order[0]]->doc;
        if (kq_cursor_seek(c, d) != d) /* not inline: taken rarely */
            return 0;
    }
    return kq__cursor_pos_begin(c, r);
}

/* The number of start positions at which the phrase's terms all sit, for the candidate its
 * cursors order[0..n_req) are on (1 for any number when only counting); -1 after an error
 * (recorded in ev->rc). Starts come from the one of those terms with the fewest positions
 * there; the others, rarest first, are opened when a start first needs them and read only
 * as far as the starts need, so a document whose first starts already fail at a rare term
 * reads little of the common ones (and the cursor of a term past n_req moves to the
 * document only then). */
static int64_t phrase_freq(struct ev *ev, struct node *n)
{
    uint32_t nt = n->n_terms, lead = n->order[0], least = UINT32_MAX;
    struct kq_pos_reader *r = ev->prd;
    for (uint32_t k = 0; k < nt; k++) {
        uint32_t i = n->order[k], tf;
        r[i].c = NULL; /* not begun */
        if (k < n->n_req && (tf = kq__cursor_tf(n->curs[i])) < least) {
            least = tf;
            lead = i;
        }
    }
    /* a term without positions (0) cannot be verified, so the phrase does not match */
    int rc = kq__cursor_pos_begin(n->curs[lead], &r[lead]);
    if (rc <= 0)
        return rc == 0 ? 0 : positions_error(ev);
    int64_t freq = 0;
    while ((rc = kq_pos_next(&r[lead])) > 0) {
        if (r[lead].pos < n->rel_pos[lead])
            continue;
        uint64_t start = r[lead].pos - n->rel_pos[lead];
        int ok = 1;
        for (uint32_t k = 0; k < nt && ok; k++) {
            uint32_t i = n->order[k];
            if (i == lead)
                continue;
            uint64_t want = start + n->rel_pos[i];
            if (want > UINT32_MAX)
                return freq; /* no position is that large */
            if (!r[i].c && (rc = pos_begin(n, k, &r[i])) <= 0)
                return rc == 0 ? 0 : positions_error(ev); /* no start matched yet */
            if ((rc = kq_pos_seek(&r[i], (uint32_t)want)) < 0)
                return positions_error(ev);
            if (rc == 0)
                return freq; /* later starts want even larger positions */
            ok = r[i].pos == want;
        }
        freq += ok;
        if (ok && ev->count_only)
            return freq;
    }
    return rc == 0 ? freq : positions_error(ev);
}

/* The first document >= target holding the phrase's terms order[0..n_req) (positions
 * unchecked). */
static uint32_t phrase_candidate(struct node *n, uint32_t target)
{
    kq_cursor *lead = n->curs[n->order[0]];
    uint32_t d = kq__cursor_seek(lead, target);
    for (uint32_t i = 1; i < n->n_req && d != KQ_NO_DOC;) {
        uint32_t e = kq__cursor_seek(n->curs[n->order[i]], d);
        if (e == d) {
            i++;
        } else if (e == KQ_NO_DOC) {
            d = KQ_NO_DOC;
        } else {
            d = kq__cursor_seek(lead, e);
            i = 1;
        }
    }
    return d;
}

/* Reads the positions of the candidate a PHRASE sits on (n->doc): on a match, records the
 * frequency and returns 1; otherwise moves to the next candidate, unverified, and returns
 * 0. */
static int verify_phrase(struct ev *ev, struct node *n)
{
    int64_t f = phrase_freq(ev, n);
    if (f > 0) {
        n->freq = f > UINT32_MAX ? UINT32_MAX : (uint32_t)f;
        n->unverified = 0;
        return 1;
    }
    n->doc = f < 0 ? KQ_NO_DOC : phrase_candidate(n, n->doc + 1); /* f < 0: ev->rc is set */
    return 0;
}

/* A PHRASE's next match >= target, from the candidate adv_approx() left when it is still
 * >= target. */
static uint32_t adv_phrase(struct ev *ev, struct node *n, uint32_t target)
{
    if (!n->unverified || n->doc < target)
        n->doc = phrase_candidate(n, target);
    n->unverified = 1;
    while (n->doc != KQ_NO_DOC && !verify_phrase(ev, n))
        ;
    n->unverified = 0;
    return n->doc;
}

/* Two-phase iteration, so that a conjunction reads positions only where all its clauses
 * agree: a PHRASE moves to its next candidate (phrase_candidate), unverified; other nodes
 * move as adv() does. */
static uint32_t adv_approx(struct ev *ev, struct node *n, uint32_t target)
{
    if (n->kind != N_PHRASE)
        return adv(ev, n, target);
    if (n->started && n->doc >= target)
        return n->doc;
    n->started = 1;
    n->unverified = 1;
    return n->doc = phrase_candidate(n, target);
}

/* Whether the document every MUST clause of n sits on matches them all: their unverified
 * phrases are verified (one that fails moves on, unverified). */
static int musts_match(struct ev *ev, struct node *n)
{
    for (uint32_t i = 0; i < n->n_must; i++)
        if (n->musts[i]->unverified && !verify_phrase(ev, n->musts[i]))
            return 0;
    return 1;
}

static int excluded(struct ev *ev, struct node *n, uint32_t d)
{
    for (uint32_t i = 0; i < n->n_not; i++)
        if (adv(ev, n->nots[i], d) == d)
            return 1;
    return 0;
}

/* The first document >= target on which every MUST clause of n sits, their phrases
 * unverified (two-phase). */
static uint32_t musts_candidate(struct ev *ev, struct node *n, uint32_t target)
{
    uint32_t d = adv_approx(ev, n->musts[0], target);
    for (uint32_t i = 1; i < n->n_must && d != KQ_NO_DOC;) {
        uint32_t e = adv_approx(ev, n->musts[i], d);
        if (e == d) {
            i++;
        } else if (e == KQ_NO_DOC) {
            d = KQ_NO_DOC;
        } else {
            d = adv_approx(ev, n->musts[0], e);
            i = 1;
        }
    }
    return d;
}

/* A BOOL's next match >= target. With MUST clauses the SHOULD clauses are not moved here
 * (they only add to the score: score() probes them); without, they form the union. */
static uint32_t adv_bool(struct ev *ev, struct node *n, uint32_t target)
{
    for (;;) {
        uint32_t d;
        if (n->n_must) {
            d = musts_candidate(ev, n, target);
            if (d != KQ_NO_DOC && !musts_match(ev, n)) {
                target = d + 1;
                continue;
            }
        } else {
            d = KQ_NO_DOC;
            for (uint32_t i = 0; i < n->n_ch; i++) {
                uint32_t e = adv(ev, n->ch[i], target);
                if (e < d)
                    d = e;
            }
        }
        if (d == KQ_NO_DOC)
            return n->doc = KQ_NO_DOC;
        if (!excluded(ev, n, d))
            return n->doc = d;
        target = d + 1;
    }
}

static inline uint32_t adv(struct ev *ev, struct node *n, uint32_t target)
{
    if (n->started && n->doc >= target && !n->unverified)
        return n->doc;
    if (n->kind == N_TERM && n->started)
        return n->doc = target == n->doc + 1 ? kq__cursor_next(n->cur)
                                             : kq__cursor_seek(n->cur, target);
    return adv_node(ev, n, target);
}

/* adv() for a node not started yet, a PHRASE or a BOOL. */
static uint32_t adv_node(struct ev *ev, struct node *n, uint32_t target)
{
    n->started = 1;
    switch (n->kind) {
    case N_TERM:
        return n->doc = kq__cursor_seek(n->cur, target);
    case N_PHRASE:
        return adv_phrase(ev, n, target);
    case N_BOOL:
        return adv_bool(ev, n, target);
    default:
        return n->doc = KQ_NO_DOC;
    }
}

static double score(struct ev *ev, struct node *n)
{
    double s;
    switch (n->kind) {
    case N_TERM:
    case N_PHRASE: {
        const kq_cursor *c = n->kind == N_TERM ? n->cur : n->curs[n->order[0]];
        uint32_t dl = c->doc == n->doc && c->doc != KQ_NO_DOC
                          ? kq__cursor_dl(c, n->field)
                          : kq_index_doc_len(ev->ix, n->field, n->doc);
        s = n->weight * kq_bm25_tf(&ev->bf[n->field],
                                   n->kind == N_TERM ? kq__cursor_tf(n->cur) : n->freq, dl);
        if (n->title && adv(ev, n->title, n->doc) == n->doc)
            s += score(ev, n->title);
        return s;
    }
    case N_BOOL: {
        double sum = 0;
        uint32_t d = n->doc;
        for (uint32_t i = 0; i < n->n_ch; i++)
            if (n->is_must[i] || adv(ev, n->ch[i], d) == d)
                sum += score(ev, n->ch[i]);
        return n->boost * sum;
    }
    default:
        return 0;
    }
}

/* ---- the top k ---- */

struct topk {
    struct kq_hit *h; /* min-heap: h[0] is the worst hit kept */
    uint32_t n, cap;
    uint64_t total;
    int inexact;
};

/* a ranks below b */
static inline int worse(const struct kq_hit *a, const struct kq_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->doc > b->doc);
}

static inline double theta(const struct topk *t)
{
    return t->n == t->cap ? t->h[0].score : -INFINITY;
}

static void sift_down(struct topk *t, uint32_t i)
{
    struct kq_hit x = t->h[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= t->n)
            break;
        if (c + 1 < t->n && worse(&t->h[c + 1], &t->h[c]))
            c++;
        if (!worse(&t->h[c], &x))
            break;
        t->h[i] = t->h[c];
        i = c;
    }
    t->h[i] = x;
}

static void push(struct topk *t, uint32_t doc, double s)
{
    struct kq_hit x = {doc, s};
    if (t->n < t->cap) {
        uint32_t i = t->n++;
        while (i > 0) {
            uint32_t p = (i - 1) / 2;
            if (!worse(&x, &t->h[p]))
                break;
            t->h[i] = t->h[p];
            i = p;
        }
        t->h[i] = x;
    } else if (worse(&t->h[0], &x)) {
        t->h[0] = x;
        sift_down(t, 0);
    }
}

static inline int below(double bound, double th)
{
    return bound * (1.0 + MARGIN) < th;
}

/* Every match, scored: the reference strategy, used for roots no pruning applies to. */
static void run_exhaustive(struct ev *ev, struct node *root, struct topk *t)
{
    for (uint32_t d = adv(ev, root, 0); d != KQ_NO_DOC; d = adv(ev, root, d + 1)) {
        if (!doc_live(ev, d))
            continue;
        t->total++;
        push(t, d, score(ev, root));
    }
}

/* The count of a TERM, or of a union of TERMs, without visiting every match: a TERM's is
 * its df over live documents (also when it is the one MUST clause of a BOOL, whose SHOULD
 * clauses match nothing more); a union's is the df of its most frequent term L plus the
 * documents of the others that L does not hold (their union walked, L probed on each).
 * Cursors skip deleted documents. Returns 0 when `n` is of another shape. */
static int count_by_df(struct ev *ev, struct node *n, struct topk *t)
{
    struct node **ch = &n;
    uint32_t nc = 1;
    if (n->kind == N_BOOL) {
        if (n->n_not || n->n_must > 1)
            return 0;
        ch = n->n_must ? n->musts : n->ch;
        nc = n->n_must ? 1 : n->n_ch;
    }
    uint32_t big = 0, df = 0;
    for (uint32_t i = 0; i < nc; i++) {
        if (ch[i]->kind != N_TERM)
            return 0;
        if (ch[i]->cost > ch[big]->cost)
            big = i;
    }
    int rc = kq__cursor_df(ch[big]->cur, &df, ev->err); /* nc >= 1: finish_bool's BOOLs */
    if (rc) {
        ev->rc = rc;
        return 1;
    }
    uint64_t total = df;
    kq_cursor *l = ch[big]->cur;
    for (uint32_t d = 0;;) {
        uint32_t next = KQ_NO_DOC;
        for (uint32_t i = 0; i < nc; i++) {
            uint32_t e = i == big ? KQ_NO_DOC : kq__cursor_seek(ch[i]->cur, d);
            next = e < next ? e : next;
        }
        if (next == KQ_NO_DOC)
            break;
        total += kq__cursor_seek(l, next) != next;
        d = next + 1;
    }
    t->total = total;
    return 1;
}

/* The count of a conjunction of TERMs, less the documents of its excluded TERMs, by
 * leapfrogging their cursors from the cheapest (its optional clauses match nothing more).
 * Returns 0 when `n` is of another shape. */
static int count_terms_and(struct node *n, struct topk *t)
{
    if (n->kind != N_BOOL || !n->n_must)
        return 0;
    for (uint32_t i = 0; i < n->n_must; i++)
        if (n->musts[i]->kind != N_TERM)
            return 0;
    for (uint32_t i = 0; i < n->n_not; i++)
        if (n->nots[i]->kind != N_TERM)
            return 0;
    kq_cursor *lead = n->musts[0]->cur;
    uint32_t d = kq__cursor_seek(lead, 0);
    for (uint32_t i = 1; d != KQ_NO_DOC;) {
        if (i < n->n_must) {
            uint32_t e = kq__cursor_seek(n->musts[i]->cur, d);
            if (e == d) {
                i++;
            } else {
                d = e == KQ_NO_DOC ? e : kq__cursor_seek(lead, e);
                i = 1;
            }
            continue;
        }
        int out = 0;
        for (uint32_t j = 0; j < n->n_not && !out; j++)
            out = kq__cursor_seek(n->nots[j]->cur, d) == d;
        t->total += !out;
        d = kq__cursor_next(lead);
        i = 1;
    }
    return 1;
}

static void run_count(struct ev *ev, struct node *root, struct topk *t)
{
    if (count_by_df(ev, root, t) || count_terms_and(root, t))
        return;
    for (uint32_t d = adv(ev, root, 0); d != KQ_NO_DOC; d = adv(ev, root, d + 1))
        t->total += doc_live(ev, d);
}

/* The block-max bound of a cursor's block holding d (weighted), kept until d passes the
 * block. */
struct blockmax {
    uint32_t last; /* the last document the bound covers */
    double ub;
    int have;
};

static double block_bound(struct blockmax *b, kq_cursor *cur, const struct kq_bm25_field *bf,
                          double weight, uint32_t d)
{
    if (!b->have || d > b->last) {
        struct kq_impact imp[KQ_IMPACTS_MAX];
        uint32_t ni;
        kq__cursor_block(cur, d, &b->last, imp, &ni);
        b->ub = ni ? impacts_bound(bf, weight, imp, ni) : 0;
        b->have = 1;
        if (b->last == KQ_NO_DOC || b->last < d) { /* defensive: no bound known */
            b->last = d;
            b->ub = INFINITY;
        }
    }
    return b->ub;
}

/* Whether n's title companion may hold a document in [from, to]: one holding its terms
 * (a phrase's positions unchecked). Moves the companion no further than `from`'s. */
static int title_within(struct ev *ev, struct node *n, uint32_t from, uint32_t to)
{
    return n->title && adv_approx(ev, n->title, from) <= to;
}

/* Whether a document or block of n from `from` to `to` whose text scores at most `bound`
 * cannot reach `th`: not even with the most its title companion adds, or not with the
 * companion holding none of them. */
static int hopeless(struct ev *ev, struct node *n, double bound, double th, uint32_t from,
                    uint32_t to)
{
    double tub = n->title ? n->title->ub : 0;
    return below(bound + tub, th) || (below(bound, th) && !title_within(ev, n, from, to));
}

/* A single TERM: blocks whose block-max bound is below the k-th score are skipped. */
static void run_term(struct ev *ev, struct node *n, struct topk *t)
{
    const struct kq_bm25_field *bf = &ev->bf[n->field];
    struct blockmax blk = {0, 0, 0};
    uint32_t d = adv(ev, n, 0);
    while (d != KQ_NO_DOC) {
        double th = theta(t);
        if (th > -INFINITY) {
            double bb = block_bound(&blk, n->cur, bf, n->weight, d); /* sets blk.last */
            if (hopeless(ev, n, bb, th, d, blk.last)) {
                t->inexact = 1;
                if (blk.last >= ev->n_ids - 1)
                    break;
                d = adv(ev, n, blk.last + 1);
                continue;
            }
        }
        if (doc_live(ev, d)) {
            t->total++;
            push(t, d, score(ev, n));
        }
        d = adv(ev, n, d + 1);
    }
}

/* A bound of the text score of a PHRASE on the candidate d: its frequency there is at most
 * the smallest tf of the terms a candidate holds (their cursors sit on d). */
static double phrase_bound(struct ev *ev, struct node *n, uint32_t d)
{
    uint32_t tf = UINT32_MAX;
    for (uint32_t k = 0; k < n->n_req; k++) {
        uint32_t x = kq__cursor_tf(n->curs[n->order[k]]);
        tf = x < tf ? x : tf;
    }
    return n->weight * kq_bm25_tf(&ev->bf[n->field], tf, kq_index_doc_len(ev->ix, n->field, d));
}

/* A PHRASE: its frequency in a document is at most the tf of each of its terms, so a
 * block of the rarest term whose block-max bound is below the k-th score is skipped, and
 * so is a document whose score at the smallest tf of its terms is: positions, the costly
 * part, are read only for documents that can enter the top k. */
static void run_phrase(struct ev *ev, struct node *n, struct topk *t)
{
    const struct kq_bm25_field *bf = &ev->bf[n->field];
    kq_cursor *lead = n->curs[n->order[0]];
    struct blockmax blk = {0, 0, 0};
    n->started = 1;
    uint32_t d = phrase_candidate(n, 0);
    while (d != KQ_NO_DOC && !ev->rc) {
        double th = theta(t);
        if (th > -INFINITY) {
            double bb = block_bound(&blk, lead, bf, n->weight, d); /* sets blk.last */
            if (hopeless(ev, n, bb, th, d, blk.last)) {
                t->inexact = 1;
                if (blk.last >= ev->n_ids - 1)
                    break;
                d = phrase_candidate(n, blk.last + 1);
                continue;
            }
            if (hopeless(ev, n, phrase_bound(ev, n, d), th, d, d)) {
                t->inexact = 1;
                d = phrase_candidate(n, d + 1);
                continue;
            }
        }
        if (doc_live(ev, d)) {
            int64_t f = phrase_freq(ev, n);
            if (f > 0) {
                n->doc = d;
                n->freq = f > UINT32_MAX ? UINT32_MAX : (uint32_t)f;
                t->total++;
                push(t, d, score(ev, n));
            }
        }
        d = phrase_candidate(n, d + 1);
    }
    n->doc = KQ_NO_DOC;
}

/* A BOOL without MUST clauses: MaxScore over its SHOULD clauses. */
static int run_maxscore(struct ev *ev, struct node *n, struct topk *t)
{
    uint32_t nc = n->n_ch;
    uint32_t *order = ar_calloc(ev, nc, sizeof *order);
    double *prefix = ar_calloc(ev, nc + 1, sizeof *prefix);
    double *sc = ar_calloc(ev, nc, sizeof *sc);
    if (!order || !prefix || !sc)
        return kq__enomem(ev->err);
    for (uint32_t i = 0; i < nc; i++) {
        uint32_t j = i;
        while (j > 0 && n->ch[order[j - 1]]->ub > n->ch[i]->ub) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
        adv(ev, n->ch[i], 0);
    }
    for (uint32_t j = 0; j < nc; j++)
        prefix[j + 1] = prefix[j] + n->ch[order[j]]->ub;
    uint32_t m = 0;          /* order[0..m) are the non-essential clauses */
    uint32_t next = KQ_NO_DOC, next_m = UINT32_MAX; /* the essential clauses' first doc */
    for (;;) {
        double th = theta(t);
        while (m < nc && below(n->boost * prefix[m + 1], th))
            m++;
        if (m > 0)
            t->inexact = 1;
        if (m == nc)
            break;
        uint32_t d = next;
        if (next_m != m) { /* fewer essential clauses than when `next` was taken */
            d = KQ_NO_DOC;
            for (uint32_t j = m; j < nc; j++)
                if (n->ch[order[j]]->doc < d)
                    d = n->ch[order[j]]->doc;
        }
        if (d == KQ_NO_DOC)
            break;
        /* the essential clauses on d are scored and moved on (their scores stay in sc),
         * the first document after d among them taken on the way */
        double partial = 0;
        next = KQ_NO_DOC;
        next_m = m;
        for (uint32_t j = m; j < nc; j++) {
            struct node *c = n->ch[order[j]];
            if (c->doc == d) {
                partial += sc[order[j]] = score(ev, c);
                adv(ev, c, d + 1);
            }
            if (c->doc < next)
                next = c->doc;
        }
        int pruned = 0;
        for (uint32_t j = m; j-- > 0;) {
            if (below(n->boost * (partial + prefix[j + 1]), th)) {
                pruned = 1;
                break;
            }
            struct node *c = n->ch[order[j]];
            if (adv(ev, c, d) == d)
                partial += sc[order[j]] = score(ev, c);
        }
        double sum = 0; /* in clause order, as exhaustive evaluation adds them */
        for (uint32_t i = 0; i < nc; i++) {
            sum += sc[i];
            sc[i] = 0;
        }
        if (pruned) {
            t->inexact = 1;
        } else if (!excluded(ev, n, d) && doc_live(ev, d)) {
            t->total++;
            push(t, d, n->boost * sum);
        }
    }
    return 0;
}

/* run_required's next candidate >= target: a document on which every MUST clause of n sits
 * (phrases unverified) and, when drive < n_sh, one of the SHOULD clauses sh[drive..n_sh)
 * too (unverified). */
static uint32_t required_candidate(struct ev *ev, struct node *n, struct node **sh,
                                   uint32_t drive, uint32_t n_sh, uint32_t target)
{
    for (;;) {
        uint32_t d = musts_candidate(ev, n, target);
        if (d == KQ_NO_DOC || drive >= n_sh)
            return d;
        uint32_t e = KQ_NO_DOC;
        for (uint32_t j = drive; j < n_sh && e != d; j++) {
            uint32_t x = adv_approx(ev, sh[j], d);
            e = x < e ? x : e;
        }
        if (e == d || e == KQ_NO_DOC)
            return e;
        target = e;
    }
}

/* A BOOL with MUST clauses: the conjunction drives. On a candidate (every MUST clause on
 * it, phrases unverified) the positions of its phrases are read only when the MUST scores,
 * each unverified phrase at its bound (phrase_bound(), plus its title's bound where the
 * title holds its words), and the SHOULD clauses' bounds can reach the k-th score; the
 * SHOULD clauses are probed only when the MUST scores plus their bounds can reach it.
 * As in MaxScore, once the MUST clauses' bounds plus those of the SHOULD clauses with the
 * smallest bounds cannot reach it, a document needs one of the other SHOULD clauses (the
 * essential ones); when those hold fewer documents than the cheapest MUST clause, they
 * drive too: a candidate holds one of them (required_candidate). */
static int run_required(struct ev *ev, struct node *n, struct topk *t)
{
    uint32_t nc = n->n_ch, n_sh = 0;
    double *sc = ar_calloc(ev, nc, sizeof *sc);
    struct node **sh = ar_calloc(ev, nc, sizeof *sh);
    if (!sc || !sh)
        return kq__enomem(ev->err);
    double must_ub = 0;
    for (uint32_t i = 0; i < nc; i++) {
        struct node *c = n->ch[i];
        if (n->is_must[i]) {
            must_ub += c->ub;
            continue;
        }
        uint32_t j = n_sh++; /* the SHOULD clauses by ascending bound */
        while (j > 0 && sh[j - 1]->ub > c->ub) {
            sh[j] = sh[j - 1];
            j--;
        }
        sh[j] = c;
    }
    uint32_t ess = n_sh;    /* sh[ess..n_sh) are essential; none yet */
    double ne_ub = must_ub; /* the MUST clauses' bounds and those of sh[0..ess) */
    uint64_t ess_cost = 0;  /* the essential clauses' documents */
    uint32_t drive = n_sh;  /* sh[drive..n_sh) drive with the MUST clauses */
    double th = -INFINITY;
    for (uint32_t target = 0; !ev->rc;) {
        if (th != theta(t)) { /* a new k-th score */
            th = theta(t);
            if (below(n->ub, th)) {
                t->inexact = 1; /* nothing left can compete */
                break;
            }
            if (ess == n_sh && below(n->boost * ne_ub, th)) {
                ess = 0;
                for (uint32_t j = 0; j < n_sh; j++)
                    ess_cost += sh[j]->cost;
            }
            while (ess < n_sh && below(n->boost * (ne_ub + sh[ess]->ub), th)) {
                ess_cost -= sh[ess]->cost;
                ne_ub += sh[ess++]->ub;
            }
            /* the essential clauses drive too when they hold fewer documents than the
             * cheapest MUST clause; otherwise they are only probed, as the others */
            drive = ess < n_sh && ess_cost < n->musts[0]->cost ? ess : n_sh;
            t->inexact |= drive < n_sh;
        }
        uint32_t d = required_candidate(ev, n, sh, drive, n_sh, target);
        if (d == KQ_NO_DOC)
            break;
        target = d + 1;
        if (excluded(ev, n, d) || !doc_live(ev, d))
            continue;
        double partial = 0;
        int unverified = 0;
        for (uint32_t i = 0; i < nc; i++) {
            struct node *c = n->ch[i];
            sc[i] = 0;
            if (!n->is_must[i])
                continue;
            if (c->unverified) {
                unverified = 1;
                sc[i] = phrase_bound(ev, c, d) + (title_within(ev, c, d, d) ? c->title->ub : 0);
            } else {
                sc[i] = score(ev, c);
            }
            partial += sc[i];
        }
        if (unverified) {
            if (below(n->boost * (partial + n->should_ub), th)) {
                t->inexact = 1;
                continue;
            }
            if (!musts_match(ev, n))
                continue;
            partial = 0;
            for (uint32_t i = 0; i < nc; i++) {
                if (n->is_must[i] && n->ch[i]->kind == N_PHRASE)
                    sc[i] = score(ev, n->ch[i]);
                partial += sc[i];
            }
        }
        t->total++;
        if (below(n->boost * (partial + n->should_ub), th))
            continue;
        for (uint32_t i = 0; i < nc; i++)
            if (!n->is_must[i] && adv(ev, n->ch[i], d) == d)
                sc[i] = score(ev, n->ch[i]);
        double sum = 0;
        for (uint32_t i = 0; i < nc; i++)
            sum += sc[i];
        push(t, d, n->boost * sum);
    }
    return 0;
}

static int hit_cmp(const void *a, const void *b)
{
    const struct kq_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

int kq_eval(const kq_index *ix, const kq_query *q, const struct kq_search_opts *opt,
            struct kq_results *out, kq_error *err)
{
    return kq_eval_node(ix, q ? kq_query_root(q) : NULL, opt, out, err);
}

int kq_eval_node(const kq_index *ix, const struct kq_qnode *root,
                 const struct kq_search_opts *opt, struct kq_results *out, kq_error *err)
{
    memset(out, 0, sizeof *out);
    struct kq_search_opts o;
    if (opt)
        o = *opt;
    else
        kq_search_opts_init(&o);
    struct kq_index_info info;
    kq_index_get_info(ix, &info);
    if (o.k1 < 0)
        o.k1 = info.k1;
    if (o.b < 0)
        o.b = info.b;
    if (o.title_weight < 0)
        o.title_weight = KQ_TITLE_WEIGHT;
    if (!o.count_only && (o.k < 1 || o.k > KQ_SEARCH_MAX_K))
        return kq__error(err, KQ_EINVAL, -1, "k must be 1..%d, not %u", KQ_SEARCH_MAX_K, o.k);
    if (o.offset > KQ_SEARCH_MAX_OFFSET)
        return kq__error(err, KQ_EINVAL, -1, "offset must be at most %d, not %u",
                         KQ_SEARCH_MAX_OFFSET, o.offset);
    if (!isfinite(o.k1) || !(o.k1 >= 0) || !(o.b >= 0 && o.b <= 1))
        return kq__error(err, KQ_EINVAL, -1, "bm25 needs k1 >= 0 and b in [0, 1]");
    if (!(o.title_weight <= KQ_TITLE_WEIGHT_MAX))
        return kq__error(err, KQ_EINVAL, -1, "title weight must be 0..%g",
                         KQ_TITLE_WEIGHT_MAX);
    if (o.max_expansions > KQ_SEARCH_MAX_EXPANSIONS)
        return kq__error(err, KQ_EINVAL, -1, "max_expansions must be at most %d, not %u",
                         KQ_SEARCH_MAX_EXPANSIONS, o.max_expansions);
    out->total_exact = 1;
    if (!root || !info.n_docs)
        return 0;

    struct ev ev;
    memset(&ev, 0, sizeof ev);
    ev.ix = ix;
    ev.err = err;
    ev.n_docs = info.n_docs;
    ev.n_ids = info.doc_id_limit;
    ev.max_exp = o.max_expansions ? o.max_expansions : KQ_SEARCH_DEFAULT_EXPANSIONS;
    ev.title_weight = o.title_weight;
    for (int f = 0; f < KQ_N_FIELDS; f++)
        kq_bm25_field_init(&ev.bf[f], o.k1, o.b, (double)info.total_len[f] / info.n_docs);

    struct topk t = {NULL, 0, 0, 0, 0};
    struct node *n = NULL;
    int rc = compile(&ev, root, 0, !o.count_only, &n);
    if (rc)
        goto out;
    if (o.count_only) {
        ev.count_only = 1;
        run_count(&ev, n, &t);
    } else {
        t.cap = o.k + o.offset;
        if (!(t.h = ar_calloc(&ev, t.cap, sizeof *t.h))) {
            rc = kq__enomem(err);
            goto out;
        }
        if (n->kind == N_TERM)
            run_term(&ev, n, &t);
        else if (n->kind == N_PHRASE)
            run_phrase(&ev, n, &t);
        else if (n->kind == N_BOOL && n->n_must)
            rc = run_required(&ev, n, &t);
        else if (n->kind == N_BOOL)
            rc = run_maxscore(&ev, n, &t);
        else
            run_exhaustive(&ev, n, &t);
    }
    if (!rc)
        rc = ev.rc;
    for (uint32_t i = 0; i < ev.n_curs && !rc; i++) {
        int ce = kq_cursor_error(ev.curs[i]);
        if (ce)
            rc = ce == KQ_ENOMEM ? kq__enomem(err)
                                 : kq__error(err, KQ_ECORRUPT, -1, "malformed postings in the index");
    }
    if (rc)
        goto out;
    out->total = t.total;
    out->total_exact = !t.inexact;
    if (t.n > o.offset) {
        qsort(t.h, t.n, sizeof *t.h, hit_cmp);
        uint32_t n_out = t.n - o.offset;
        if (!(out->hits = kq__malloc((size_t)n_out * sizeof *out->hits))) {
            rc = kq__enomem(err);
            goto out;
        }
        memcpy(out->hits, t.h + o.offset, (size_t)n_out * sizeof *out->hits);
        out->n = n_out;
    }
out:
    if (rc)
        memset(out, 0, sizeof *out);
    ev_release(&ev);
    return rc;
}
