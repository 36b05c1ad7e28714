/* fuzz/fuzz_query.c: the query parser on arbitrary bytes.
 *
 * Input: the whole input is the query (so seeds are plain queries, one per file). Each input
 * is parsed four ways: operators with the default limits (english analyser), KQ_QUERY_PLAIN
 * (english), operators with tiny limits (max_len 64, max_terms 4, max_depth 3: the limit
 * paths), and operators with the non-stemming analyser for the round trip.
 *
 * Oracle: no crash or sanitizer report; the result is 0, KQ_ESYNTAX or KQ_ELIMIT (PLAIN:
 * never KQ_ESYNTAX); on error `*out` is NULL, err->code equals the result, err->offset lies
 * in [0, len] and the message is not empty; on success the tree keeps the invariants of
 * query.h (BOOL: >= 2 clauses or one MUST_NOT; leaves: 1..KQ_TERM_MAX-byte NUL-terminated
 * terms, rel_pos from 0 strictly increasing; boosts finite and > 0; offsets within the
 * query; term count = kq_query_n_terms <= max_terms) and kq_query_format succeeds; the
 * formatted form parses again (generous limits) to a tree of the same shape and, without
 * stemming, to the same form, unless folding produced text the analyser splits differently
 * (then only success is required).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kq/index.h"
#include "query/query.h"

static uint32_t check(const struct kq_qnode *n, size_t len, int depth)
{
    if (depth > 3 * KQ_QUERY_DEPTH_CAP + 8 || !(n->boost > 0) || !isfinite(n->boost) ||
        n->offset < 0 || (size_t)n->offset >= len)
        abort();
    if (n->type == KQ_QN_BOOL) {
        if (n->n_terms ||
            !(n->n_clauses >= 2 || (n->n_clauses == 1 && n->occurs[0] == KQ_MUST_NOT)))
            abort();
        uint32_t t = 0;
        for (uint32_t i = 0; i < n->n_clauses; i++) {
            if (!n->clauses[i] || n->occurs[i] > KQ_MUST_NOT)
                abort();
            t += check(n->clauses[i], len, depth + 1);
        }
        return t;
    }
    if ((n->field != KQ_FIELD_TEXT && n->field != KQ_FIELD_TITLE) || n->n_clauses ||
        (n->type == KQ_QN_PHRASE ? n->n_terms < 2 : n->n_terms != 1))
        abort();
    for (uint32_t i = 0; i < n->n_terms; i++) {
        if (n->lens[i] < 1 || n->lens[i] > KQ_TERM_MAX || n->terms[i][n->lens[i]] != '\0' ||
            memchr(n->terms[i], 0, n->lens[i]))
            abort();
        if (i ? n->rel_pos[i] <= n->rel_pos[i - 1] : n->rel_pos[0] != 0)
            abort();
    }
    return n->n_terms;
}

/* A shape signature: node types and occurs in preorder (terms may differ after stemming). */
static uint64_t shape(const struct kq_qnode *n, uint64_t h)
{
    h = (h ^ (uint64_t)(n->type + 1)) * 1099511628211ull;
    for (uint32_t i = 0; i < n->n_clauses; i++)
        h = shape(n->clauses[i], (h ^ (uint64_t)n->occurs[i]) * 1099511628211ull);
    return h;
}

/* Parses, checks, formats into `out` (released by the caller). Returns the parse result. */
static int run(kq_analyzer *a, const char *s, size_t len, int flags,
               const struct kq_query_limits *lim, kq_buf *out, uint64_t *sig)
{
    kq_query *q = (kq_query *)1;
    kq_error err;
    int rc = kq_query_parse(s, len, a, flags, lim, &q, &err);
    if (rc) {
        if ((rc != KQ_ESYNTAX && rc != KQ_ELIMIT) || q || err.code != rc || err.offset < 0 ||
            (size_t)err.offset > len || !err.msg[0])
            abort();
        return rc;
    }
    const struct kq_qnode *root = kq_query_root(q);
    uint32_t max_terms = lim && lim->max_terms ? lim->max_terms : KQ_QUERY_MAX_TERMS;
    uint32_t t = root ? check(root, len, 0) : 0;
    if (t != kq_query_n_terms(q) || t > max_terms)
        abort();
    *sig = root ? shape(root, 14695981039346656037ull) : 0;
    if (kq_query_format(q, out))
        abort();
    kq_query_free(q);
    return 0;
}

/* The formatted form `f` of a successful parse parses again. */
static void reparse(kq_analyzer *a, const kq_buf *f, uint64_t sig, int same_form)
{
    struct kq_query_limits big = {f->len + 1, UINT32_MAX, KQ_QUERY_DEPTH_CAP};
    kq_buf g = KQ_BUF_INIT;
    uint64_t sig2 = 0;
    if (run(a, (const char *)f->p, f->len, 0, &big, &g, &sig2))
        abort();
    if (same_form && (g.len != f->len || (g.len && memcmp(g.p, f->p, g.len)) || sig2 != sig))
        abort();
    kq_buf_release(&g);
}

/* Does folding keep every term one word to the analyser? (NFKC can turn a letter into
 * text with spaces or punctuation, e.g. U+FDFA; then the round trip may differ.) */
static int simple_terms(const kq_buf *f)
{
    for (size_t i = 0; i < f->len; i++) {
        uint8_t c = f->p[i];
        if (c >= 0x80)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kq_analyzer *en, *none;
    if (!en && (kq_analyzer_new("english", &en, NULL) || kq_analyzer_new("none", &none, NULL)))
        abort();
    /* a copy of exactly the right size so ASan sees any read past the end */
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    static const struct kq_query_limits tiny = {64, 4, 3};
    kq_buf f = KQ_BUF_INIT;
    uint64_t sig = 0;
    int rc = run(en, s, size, 0, NULL, &f, &sig);
    if (!rc)
        reparse(en, &f, sig, 0);
    kq_buf_release(&f);
    rc = run(en, s, size, KQ_QUERY_PLAIN, NULL, &f, &sig);
    if (rc == KQ_ESYNTAX)
        abort();
    kq_buf_release(&f);
    run(en, s, size, 0, &tiny, &f, &sig);
    kq_buf_release(&f);
    if (!run(none, s, size, 0, NULL, &f, &sig))
        reparse(none, &f, sig, simple_terms(&f));
    kq_buf_release(&f);
    free(s);
    return 0;
}
