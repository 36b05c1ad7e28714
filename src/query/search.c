/* query/search.c: kq_search, from a query string to ranked hits with snippets, and the
 * JSON form of a result that the CLI and the daemon both print.
 *
 * A search parses with the searcher's analyser, evaluates with kq_eval, then reads each
 * hit's stored text once to make its snippet. Snippet terms are the query's positive leaf
 * terms (prefixes expanded), weighted by idf so that rare words choose the passage; its
 * phrases are the query's positive phrases, so that a passage showing one wins; the terms'
 * positions in each hit come from the index, which spares the snippet stemming the body. The
 * searcher keeps one zstd decompression context for those reads (setting one up per block
 * cost about a tenth of a search with snippets).
 */
#include "kq/search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/reader.h"
#include "query/bm25.h"
#include "query/eval.h"
#include "query/query.h"
#include "query/searcher.h"
#include "query/snippet.h"
#include "text/text.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/json.h"
#include "util/path.h"

#define SNIPPET_TERMS_MAX 256 /* query terms (prefix expansions included) a snippet weighs */
/* Snippets match words by the index's positions when the hits hold this many bytes: a
 * cursor a term costs about what stemming 2 KB costs with the analyser's stem cache warm
 * (kqd), 200 bytes with it cold (kq). SciFact's top 10 (15 KB): 2.8 % more instructions a
 * query by position in one process; the corpus's five reports (170 KB): 7.6 % fewer, and
 * 36 % fewer for `kq` on its own. And only when the positions to verify before their
 * first read (an index opened to verify on use) are at most BY_POSITION_VERIFY times the
 * hits' bytes: hashing a byte costs far less than analysing one, but English Wikipedia's
 * 99 MB of positions would triple the time of a one-off query of words (16 -> 46 ms). */
#define BY_POSITION_MIN (32u << 10)
#define BY_POSITION_VERIFY 16

struct kq_searcher {
    const kq_index *ix;
    kq_index *own_ix;  /* kq_searcher_open's (closed with the searcher); NULL when shared */
    kq_analyzer *an;
    ZSTD_DCtx *dctx;   /* for the stored documents of snippets, made on first use */
};

struct rhit {
    uint32_t doc;
    double score;
    struct kq_doc d;
    struct kq_snippet snip;
    int by_pos; /* mt holds the snippet terms' occurrences in the document */
    struct kq_snippet_match *mt;
    size_t n_mt, cap_mt;
};

struct kq_result {
    const kq_searcher *s;
    uint64_t total;
    uint64_t took_us;
    uint32_t n;
    struct rhit *hits;
};

/* A searcher over `ix`, taking over `own` (may be NULL) even on failure. */
static int searcher_new(const kq_index *ix, kq_index *own, kq_searcher **out, kq_error *err)
{
    *out = NULL;
    kq_searcher *s = kq__calloc(1, sizeof *s);
    if (!s) {
        kq_index_close(own);
        return kq__enomem(err);
    }
    s->ix = ix;
    s->own_ix = own;
    struct kq_index_info info;
    kq_index_get_info(ix, &info);
    int rc = kq_analyzer_new(info.language, &s->an, err);
    if (rc) {
        kq_searcher_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int kq_searcher_open(const char *dir, kq_searcher **out, kq_error *err)
{
    return kq_searcher_open_ex(dir, 0, out, err);
}

int kq_searcher_open_ex(const char *dir, unsigned flags, kq_searcher **out, kq_error *err)
{
    *out = NULL;
    kq_index *ix;
    int rc = kq_index_open_ex(dir, flags, &ix, err);
    return rc ? rc : searcher_new(ix, ix, out, err);
}

int kq__searcher_new(const kq_index *ix, kq_searcher **out, kq_error *err)
{
    return searcher_new(ix, NULL, out, err);
}

void kq_searcher_close(kq_searcher *s)
{
    if (!s)
        return;
    kq_analyzer_free(s->an);
    ZSTD_freeDCtx(s->dctx);
    kq_index_close(s->own_ix);
    kq__free(s);
}

const kq_index *kq_searcher_index(const kq_searcher *s)
{
    return s->ix;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The terms and phrases a snippet looks for. Phrases beyond KQ_SNIPPET_MAX_PHRASES, longer
 * than KQ_SNIPPET_PHRASE_MAX_TERMS or with a term beyond SNIPPET_TERMS_MAX are left out:
 * the snippet then merely prefers them less. */
struct sterms {
    const kq_index *ix;
    struct kq_snippet_term t[SNIPPET_TERMS_MAX];
    char *owned[SNIPPET_TERMS_MAX]; /* prefix expansions are copied */
    size_t n;
    struct kq_snippet_phrase ph[KQ_SNIPPET_MAX_PHRASES]; /* rel_pos point into the query */
    uint32_t ph_terms[KQ_SNIPPET_MAX_PHRASES][KQ_SNIPPET_PHRASE_MAX_TERMS];
    size_t n_ph;
    uint8_t alone[SNIPPET_TERMS_MAX]; /* the query holds the term outside a phrase too */
    uint32_t max_exp; /* the terms a prefix expands to, as many as the query's */
    int prefix_title; /* the prefix being expanded is of the title field */
};

/* Adds a term (once); returns its index in st->t, or -1 when it could not be added.
 * `alone`: outside a phrase; `title`: in the title field only. */
static int sterm_add(struct sterms *st, const char *term, size_t len, int copy, int alone,
                     int title)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->t[i].len == len && !memcmp(st->t[i].term, term, len)) {
            st->alone[i] |= (uint8_t)alone;
            st->t[i].title_only &= title;
            return (int)i;
        }
    if (st->n == SNIPPET_TERMS_MAX)
        return -1;
    if (copy) {
        char *c = kq__strndup(term, len);
        if (!c)
            return -1; /* a snippet without this word is still a snippet */
        st->owned[st->n] = c;
        term = c;
    }
    struct kq_term_stats ts;
    struct kq_index_info info;
    kq_index_get_info(st->ix, &info);
    double idf = kq_index_lookup(st->ix, KQ_FIELD_TEXT, term, len, &ts, NULL) == 0
                     ? kq_bm25_idf(info.n_docs, ts.df)
                     : 0.0;
    st->t[st->n].term = term;
    st->t[st->n].len = len;
    st->t[st->n].weight = idf > 0 ? idf : 0.01;
    st->t[st->n].title_only = title;
    st->alone[st->n] = (uint8_t)alone;
    return (int)st->n++;
}

static int on_prefix(void *ctx, const char *term, size_t len, const struct kq_term_stats *ts)
{
    (void)ts;
    struct sterms *st = ctx;
    sterm_add(st, term, len, 1, 1, st->prefix_title);
    return 0;
}

/* Collects the positive leaves; the parser bounds the depth of the tree. A phrase of the
 * title field gives its words, to be found in the title, not a phrase of the body. */
static void collect_terms(struct sterms *st, const struct kq_qnode *n)
{
    int title = n->field == KQ_FIELD_TITLE;
    switch (n->type) {
    case KQ_QN_TERM:
        sterm_add(st, n->terms[0], n->lens[0], 0, 1, title);
        break;
    case KQ_QN_PHRASE: {
        int keep = !title && st->n_ph < KQ_SNIPPET_MAX_PHRASES &&
                   n->n_terms <= KQ_SNIPPET_PHRASE_MAX_TERMS;
        for (uint32_t i = 0; i < n->n_terms; i++) {
            int k = sterm_add(st, n->terms[i], n->lens[i], 0, 0, title);
            if (k < 0)
                keep = 0;
            else if (keep)
                st->ph_terms[st->n_ph][i] = (uint32_t)k;
        }
        if (keep) {
            st->ph[st->n_ph] =
                (struct kq_snippet_phrase){st->ph_terms[st->n_ph], n->rel_pos, n->n_terms};
            st->n_ph++;
        }
        break;
    }
    case KQ_QN_PREFIX:
        st->prefix_title = title;
        kq__prefix_expand(st->ix, title ? KQ_FIELD_TITLE : KQ_FIELD_TEXT, n, st->max_exp,
                          on_prefix, st, NULL);
        break;
    case KQ_QN_BOOL:
        for (uint32_t i = 0; i < n->n_clauses; i++)
            if (n->occurs[i] != KQ_MUST_NOT)
                collect_terms(st, n->clauses[i]);
        break;
    }
}

static int cmp_match(const void *a, const void *b)
{
    const struct kq_snippet_match *x = a, *y = b;
    return x->pos != y->pos ? (x->pos > y->pos) - (x->pos < y->pos)
                            : (x->term > y->term) - (x->term < y->term);
}

static int cmp_doc(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b; /* {doc, hit} */
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static int postings_error(int code, kq_error *err)
{
    return code == KQ_ENOMEM ? kq__enomem(err)
                             : kq__error(err, KQ_ECORRUPT, -1, "malformed postings in the index");
}

/* Reads the occurrences of the snippet terms in each hit from the index's positions, one
 * cursor a term moved through the hits in document order, so that a snippet matches words
 * by position instead of stemming the whole body (kq_snippet_opts.by_position). Leaves the
 * hits without them when the index holds no positions. */
static int find_matches(const kq_index *ix, const struct sterms *st, struct rhit *hits,
                        uint32_t n, kq_error *err)
{
    uint32_t (*order)[2] = kq__malloc(n * sizeof *order);
    uint32_t *pos = NULL;
    size_t cap = 0;
    int rc = 0, positions = 1;
    if (!order)
        return kq__enomem(err);
    for (uint32_t i = 0; i < n; i++)
        order[i][0] = hits[i].doc, order[i][1] = i;
    qsort(order, n, sizeof *order, cmp_doc);
    for (size_t t = 0; t < st->n && !rc && positions; t++) {
        kq_cursor *c;
        if ((rc = kq_cursor_open(ix, KQ_FIELD_TEXT, st->t[t].term, st->t[t].len, &c, err)))
            break;
        for (uint32_t i = 0; c && i < n && !rc && positions; i++) {
            struct rhit *h = &hits[order[i][1]];
            uint32_t d = kq_cursor_seek(c, h->doc);
            if (d == KQ_NO_DOC)
                break;
            if (d != h->doc)
                continue;
            uint32_t tf = kq_cursor_tf(c);
            if (!tf)
                continue;
            if (tf > cap) {
                uint32_t *v = kq__realloc(pos, tf * sizeof *v);
                if (!v) {
                    rc = kq__enomem(err);
                    break;
                }
                pos = v;
                cap = tf;
            }
            int got = kq_cursor_positions(c, pos, tf);
            if (got < 0) {
                rc = postings_error(got, err);
                break;
            }
            if (got == 0) {
                positions = 0;
                break;
            }
            if (h->n_mt + (size_t)got > h->cap_mt) {
                size_t want = h->cap_mt ? h->cap_mt : 16;
                while (want < h->n_mt + (size_t)got)
                    want *= 2;
                struct kq_snippet_match *v = kq__realloc(h->mt, want * sizeof *v);
                if (!v) {
                    rc = kq__enomem(err);
                    break;
                }
                h->mt = v;
                h->cap_mt = want;
            }
            for (int k = 0; k < got; k++)
                h->mt[h->n_mt++] = (struct kq_snippet_match){pos[k], (uint32_t)t};
        }
        if (c && !rc && kq_cursor_error(c))
            rc = postings_error(kq_cursor_error(c), err);
        kq_cursor_close(c);
    }
    for (uint32_t i = 0; i < n; i++) {
        struct rhit *h = &hits[i];
        h->by_pos = positions && !rc;
        if (h->by_pos && h->n_mt > 1)
            qsort(h->mt, h->n_mt, sizeof *h->mt, cmp_match);
    }
    kq__free(pos);
    kq__free(order);
    return rc;
}

static int make_snippet(kq_searcher *s, const struct sterms *st, struct rhit *h, kq_error *err)
{
    char *text;
    size_t len;
    if (!s->dctx)
        s->dctx = ZSTD_createDCtx(); /* NULL: each read makes its own, as kq_index_doc_text */
    int rc = kq__index_doc_text_dctx(s->ix, h->doc, s->dctx, &text, &len, err);
    if (rc)
        return rc;
    struct kq_snippet_opts opt = {.phrases = st->ph,
                                  .n_phrases = st->n_ph,
                                  .by_position = h->by_pos,
                                  .matches = h->mt,
                                  .n_matches = h->n_mt};
    if (h->d.path != h->d.id) { /* a JSON-lines document: its title is not in its text */
        opt.title = h->d.title ? h->d.title : "";
        opt.title_len = h->d.title_len;
    }
    rc = kq_snippet_make(s->an, (enum kq_format)h->d.format, text, len, h->d.line, st->t, st->n,
                         &opt, &h->snip, err);
    kq__free(text);
    if (!rc && h->d.path != h->d.id) {
        /* a JSON-lines document: its text is one line of the file */
        h->snip.match_line = h->d.line;
        h->snip.match_col = 1;
    }
    return rc;
}

int kq_search(kq_searcher *s, const struct kq_search_request *req, kq_result **out,
              kq_error *err)
{
    *out = NULL;
    uint64_t t0 = now_us();
    kq_result *r = kq__calloc(1, sizeof *r);
    if (!r)
        return kq__enomem(err);
    r->s = s;
    kq_query *q = NULL;
    struct kq_results res = {0};
    struct sterms *st = NULL;
    int rc = kq_query_parse(req->query, req->len, s->an,
                            (req->flags & KQ_SEARCH_PLAIN) ? KQ_QUERY_PLAIN : 0, NULL, &q, err);
    if (rc)
        goto fail;
    struct kq_search_opts opt;
    kq_search_opts_init(&opt);
    opt.k = req->k ? req->k : 10;
    opt.offset = req->offset;
    opt.k1 = req->k1;
    opt.b = req->b;
    opt.title_weight = req->title_weight < 0 ? 0 : req->title_weight > 0 ? req->title_weight : -1;
    opt.count_only = (req->flags & KQ_SEARCH_COUNT) != 0;
    if ((rc = kq_eval(s->ix, q, &opt, &res, err)))
        goto fail;
    r->total = res.total;
    if (!res.total_exact) {
        /* pruning left the total a lower bound: count the matches (no scoring) */
        struct kq_results cnt = {0};
        struct kq_search_opts copt = opt;
        copt.count_only = 1;
        if ((rc = kq_eval(s->ix, q, &copt, &cnt, err)))
            goto fail;
        r->total = cnt.total;
        kq_results_release(&cnt);
    }
    if (res.n) {
        r->hits = kq__calloc(res.n, sizeof *r->hits);
        st = kq__calloc(1, sizeof *st);
        if (!r->hits || !st) {
            rc = kq__enomem(err);
            goto fail;
        }
        st->ix = s->ix;
        st->max_exp = opt.max_expansions ? opt.max_expansions : KQ_SEARCH_DEFAULT_EXPANSIONS;
        if (!(req->flags & KQ_SEARCH_NO_SNIPPETS) && kq_query_root(q)) {
            collect_terms(st, kq_query_root(q));
            /* a term held only by phrases the snippet looks for is marked where they occur
             * (one of a phrase left out, anywhere) */
            for (size_t p = 0; p < st->n_ph; p++)
                for (uint32_t i = 0; i < st->ph[p].n_terms; i++)
                    st->t[st->ph_terms[p][i]].phrase_only = !st->alone[st->ph_terms[p][i]];
        }
    }
    for (uint32_t i = 0; i < res.n; i++) {
        struct rhit *h = &r->hits[i];
        h->doc = res.hits[i].doc;
        h->score = res.hits[i].score;
        r->n = i + 1;
        if ((rc = kq_index_doc(s->ix, h->doc, &h->d, err)))
            goto fail;
        h->snip.match_line = h->d.line;
        h->snip.match_col = 1;
    }
    if (res.n && !(req->flags & KQ_SEARCH_NO_SNIPPETS)) {
        uint64_t bytes = 0;
        for (uint32_t i = 0; i < r->n; i++)
            bytes += r->hits[i].d.size;
        if (bytes >= BY_POSITION_MIN &&
            kq__index_positions_unverified(s->ix) <= BY_POSITION_VERIFY * bytes &&
            (rc = find_matches(s->ix, st, r->hits, r->n, err)))
            goto fail;
        for (uint32_t i = 0; i < r->n; i++) {
            struct rhit *h = &r->hits[i];
            rc = make_snippet(s, st, h, err);
            kq__free(h->mt);
            h->mt = NULL;
            if (rc)
                goto fail;
        }
    }
    if (st)
        for (size_t i = 0; i < st->n; i++)
            kq__free(st->owned[i]);
    kq__free(st);
    kq_results_release(&res);
    kq_query_free(q);
    r->took_us = now_us() - t0;
    *out = r;
    return 0;
fail:
    if (st)
        for (size_t i = 0; i < st->n; i++)
            kq__free(st->owned[i]);
    kq__free(st);
    kq_results_release(&res);
    kq_query_free(q);
    kq_result_free(r);
    return rc;
}

uint64_t kq_result_total(const kq_result *r)
{
    return r->total;
}

uint32_t kq_result_count(const kq_result *r)
{
    return r->n;
}

uint64_t kq_result_took_us(const kq_result *r)
{
    return r->took_us;
}

int kq_result_hit(const kq_result *r, uint32_t i, struct kq_search_hit *hit)
{
    memset(hit, 0, sizeof *hit);
    if (i >= r->n)
        return KQ_ENOTFOUND;
    const struct rhit *h = &r->hits[i];
    hit->doc = h->doc;
    hit->score = h->score;
    hit->id = h->d.id;
    hit->id_len = h->d.id_len;
    hit->path = h->d.path;
    hit->path_len = h->d.path_len;
    hit->title = h->d.title;
    hit->title_len = h->d.title_len;
    hit->snippet = h->snip.text ? h->snip.text : "";
    hit->snippet_len = h->snip.len;
    /* struct kq_span and struct kq_highlight are the same pair of offsets */
    _Static_assert(sizeof(struct kq_span) == sizeof(struct kq_highlight), "span layout");
    hit->highlights = (const struct kq_highlight *)(const void *)h->snip.spans;
    hit->n_highlights = h->snip.n_spans;
    hit->line = h->snip.match_line;
    hit->col = h->snip.match_col;
    return 0;
}

void kq_result_free(kq_result *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->n; i++) {
        kq_snippet_release(&r->hits[i].snip);
        kq__free(r->hits[i].mt);
    }
    kq__free(r->hits);
    kq__free(r);
}

int kq_result_json(const kq_result *r, char **json, size_t *len, kq_error *err)
{
    *json = NULL;
    *len = 0;
    kq_buf b = KQ_BUF_INIT;
    char num[96];
    int n = snprintf(num, sizeof num, "{\"total\":%llu,\"took_us\":%llu,\"hits\":[",
                     (unsigned long long)r->total, (unsigned long long)r->took_us);
    int rc = kq_buf_append(&b, num, (size_t)n);
    const char *root = kq_index_root(r->s->ix);
    for (uint32_t i = 0; i < r->n && !rc; i++) {
        struct kq_search_hit h;
        kq_result_hit(r, i, &h);
        rc = kq_buf_append(&b, i ? ",{" : "{", i ? 2 : 1) ||
             kq__json_bytes_member(&b, "id", h.id, h.id_len) || kq_buf_putc(&b, ',') ||
             kq__path_json(&b, root, h.path, h.path_len) || kq_buf_append(&b, ",\"title\":", 9) ||
             kq__json_string(&b, h.title, h.title_len) || kq_buf_append(&b, ",\"score\":", 9) ||
             kq__json_number(&b, h.score);
        if (rc)
            break;
        n = snprintf(num, sizeof num, ",\"line\":%u,\"col\":%u,\"snippet\":", h.line, h.col);
        rc = kq_buf_append(&b, num, (size_t)n) || kq__json_string(&b, h.snippet, h.snippet_len) ||
             kq_buf_append(&b, ",\"highlights\":[", 15);
        for (uint32_t k = 0; k < h.n_highlights && !rc; k++) {
            n = snprintf(num, sizeof num, "%s[%u,%u]", k ? "," : "", h.highlights[k].start,
                         h.highlights[k].end);
            rc = kq_buf_append(&b, num, (size_t)n);
        }
        if (!rc)
            rc = kq_buf_append(&b, "]}", 2);
    }
    if (!rc)
        rc = kq_buf_append(&b, "]}", 2) || kq_buf_putc(&b, '\0');
    if (rc) {
        kq_buf_release(&b);
        return kq__enomem(err);
    }
    *json = (char *)b.p;
    *len = b.len - 1;
    return 0;
}
