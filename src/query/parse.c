/* query/parse.c: the query parser, bytes in, a simplified tree of analysed terms out.
 *
 * A recursive-descent parser straight over the bytes (there is no separate lexer: whether
 * `-` or `title:` is an operator depends on where the word starts, which the parser knows).
 * The grammar and its semantics are in query.h. Recursion happens only at '(' and is
 * bounded by the depth counter, checked before descending; everything else loops.
 *
 * Nodes, their arrays and term bytes live in one arena owned by the kq_query. While a BOOL
 * is being built its clauses sit on a stack shared by all levels (nesting is LIFO): a
 * level remembers the stack height when it starts and, when it ends, copies its clauses
 * into the arena and pops them. Simplification happens as clauses are pushed and as a BOOL
 * is finished, so every node is already in canonical form when its parent sees it; this
 * is why splicing a child never needs to look deeper than the child's own clauses.
 *
 * Invariants: the parser never reads q[len] or beyond; every node handed to a parent is
 * non-NULL; a BOOL has >= 2 clauses or a single MUST_NOT one; boosts are finite and > 0.
 */
#include <math.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "kq/index.h"
#include "query/query.h"
#include "util/alloc.h"
#include "util/error.h"

/* ---- arena ---- */

struct block {
    struct block *next;
    size_t used, cap;
};

#define ALIGN_UP(n, a) (((n) + (a)-1) & ~((size_t)(a)-1))
#define BLOCK_HDR ALIGN_UP(sizeof(struct block), alignof(max_align_t))
#define BLOCK_MIN 4096

struct kq_query {
    struct block *blocks; /* newest first */
    struct kq_qnode *root;
    uint32_t n_terms;
};

static void *arena_alloc(kq_query *q, size_t size)
{
    size = ALIGN_UP(size ? size : 1, alignof(max_align_t));
    struct block *b = q->blocks;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > BLOCK_MIN ? size : BLOCK_MIN;
        b = kq__malloc(BLOCK_HDR + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = q->blocks;
        q->blocks = b;
    }
    void *p = (char *)b + BLOCK_HDR + b->used;
    b->used += size;
    return p;
}

void kq_query_free(kq_query *q)
{
    if (!q)
        return;
    for (struct block *b = q->blocks, *next; b; b = next) {
        next = b->next;
        kq__free(b);
    }
    kq__free(q);
}

const struct kq_qnode *kq_query_root(const kq_query *q)
{
    return q ? q->root : NULL;
}

uint32_t kq_query_n_terms(const kq_query *q)
{
    return q ? q->n_terms : 0;
}

/* ---- parser state ---- */

struct clause {
    enum kq_occur occ;
    struct kq_qnode *node;
    int stop; /* a bare SHOULD word that is a stop word: dropped when others remain */
};

struct tok {
    const char *term; /* in the arena */
    size_t len;
    uint32_t pos;
    size_t start; /* in the analysed text */
    int stop;     /* a stop word of the analyser's language */
};

struct parser {
    const char *s;
    size_t len, pos;
    kq_analyzer *an;
    struct kq_query_limits lim;
    kq_query *q;
    kq_error *err;
    uint32_t depth;
    struct clause *cl; /* the clause stack */
    size_t n_cl, cap_cl;
    struct tok *tk; /* tokens of the text being analysed */
    size_t n_tk, cap_tk;
    int last_stop; /* the last text_node was one stop word */
};

static int enomem(struct parser *p)
{
    return kq__enomem(p->err);
}

static int syntax(struct parser *p, size_t off, const char *what)
{
    return kq__error(p->err, KQ_ESYNTAX, (int64_t)off, "%s at byte %zu", what, off);
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* A byte that ends a word. */
static int is_delim(unsigned char c)
{
    return is_ws(c) || c == '(' || c == ')' || c == '"';
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len && is_ws((unsigned char)p->s[p->pos]))
        p->pos++;
}

static size_t word_end(const struct parser *p, size_t from)
{
    while (from < p->len && !is_delim((unsigned char)p->s[from]))
        from++;
    return from;
}

enum kw { KW_NONE, KW_AND, KW_OR, KW_NOT };
static const char *const kw_name[] = {"", "AND", "OR", "NOT"};

/* The operator keyword at pos, if the word there is exactly one. */
static enum kw keyword_at(const struct parser *p)
{
    size_t n = word_end(p, p->pos) - p->pos;
    const char *w = p->s + p->pos;
    if (n == 3 && !memcmp(w, "AND", 3))
        return KW_AND;
    if (n == 2 && !memcmp(w, "OR", 2))
        return KW_OR;
    if (n == 3 && !memcmp(w, "NOT", 3))
        return KW_NOT;
    return KW_NONE;
}

/* ---- building nodes ---- */

static struct kq_qnode *new_node(struct parser *p, enum kq_qtype type, int field, size_t off)
{
    struct kq_qnode *n = arena_alloc(p->q, sizeof *n);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->type = type;
    n->field = field;
    n->boost = 1.0;
    n->offset = (int64_t)off;
    return n;
}

/* A leaf of tokens p->tk[from, from + n) (n >= 1) of `type`; `off` is where it starts. */
static int new_leaf(struct parser *p, enum kq_qtype type, int field, size_t off, size_t from,
                    size_t n, struct kq_qnode **out)
{
    *out = NULL;
    if (n > p->lim.max_terms || p->q->n_terms > p->lim.max_terms - n)
        return kq__error(p->err, KQ_ELIMIT, (int64_t)off, "query has more than %u terms",
                         (unsigned)p->lim.max_terms);
    struct kq_qnode *node = new_node(p, type, field, off);
    const char **terms = arena_alloc(p->q, n * sizeof *terms);
    size_t *lens = arena_alloc(p->q, n * sizeof *lens);
    uint32_t *rel = arena_alloc(p->q, n * sizeof *rel);
    if (!node || !terms || !lens || !rel)
        return enomem(p);
    for (size_t i = 0; i < n; i++) {
        const struct tok *t = &p->tk[from + i];
        terms[i] = t->term;
        lens[i] = t->len;
        rel[i] = t->pos - p->tk[from].pos;
    }
    node->n_terms = (uint32_t)n;
    node->terms = terms;
    node->lens = lens;
    node->rel_pos = rel;
    p->q->n_terms += (uint32_t)n;
    *out = node;
    return 0;
}

static int push_raw(struct parser *p, enum kq_occur occ, struct kq_qnode *node)
{
    if (p->n_cl == p->cap_cl) {
        size_t cap = p->cap_cl ? 2 * p->cap_cl : 32;
        struct clause *cl = kq__realloc(p->cl, cap * sizeof *cl);
        if (!cl)
            return enomem(p);
        p->cl = cl;
        p->cap_cl = cap;
    }
    p->cl[p->n_cl].occ = occ;
    p->cl[p->n_cl].node = node;
    p->cl[p->n_cl].stop = 0;
    p->n_cl++;
    return 0;
}

/* Pushes a clause of the BOOL being built, splicing a child BOOL where that keeps the
 * meaning (see query.h, "Simplification"). A NULL node (no term) is dropped. */
static int push_clause(struct parser *p, enum kq_occur occ, struct kq_qnode *node)
{
    if (!node)
        return 0;
    if (node->type == KQ_QN_BOOL && node->boost == 1.0) {
        uint32_t n_occ[3] = {0, 0, 0};
        for (uint32_t i = 0; i < node->n_clauses; i++)
            n_occ[node->occurs[i]]++;
        int all_should = n_occ[KQ_SHOULD] == node->n_clauses;
        int all_not = n_occ[KQ_MUST_NOT] == node->n_clauses;
        int splice = (occ == KQ_SHOULD && (all_should || all_not)) ||
                     (occ == KQ_MUST && n_occ[KQ_SHOULD] == 0);
        if (splice) {
            for (uint32_t i = 0; i < node->n_clauses; i++) {
                int rc = push_raw(p, node->occurs[i], node->clauses[i]);
                if (rc)
                    return rc;
            }
            return 0;
        }
    }
    return push_raw(p, occ, node);
}

static int multiply_boost(struct parser *p, struct kq_qnode *node, double boost, size_t off)
{
    if (!node || boost == 1.0)
        return 0;
    double b = node->boost * boost;
    if (!isfinite(b) || b <= 0)
        return syntax(p, off, "boost out of range");
    node->boost = b;
    return 0;
}

/* Checks that the boosts of every leaf, multiplied along its path from the root, stay
 * within [KQ_QUERY_BOOST_MIN, KQ_QUERY_BOOST_MAX], so that no score can overflow to
 * infinity (a score that JSON cannot carry) or sink to 0. Recurses as deep as the tree,
 * which the depth limit bounds. */
static int boosts_in_range(struct parser *p, const struct kq_qnode *n, double product)
{
    product *= n->boost;
    if (!(product >= KQ_QUERY_BOOST_MIN && product <= KQ_QUERY_BOOST_MAX))
        return syntax(p, (size_t)n->offset, "boost out of range");
    for (uint32_t i = 0; i < n->n_clauses; i++) {
        int rc = boosts_in_range(p, n->clauses[i], product);
        if (rc)
            return rc;
    }
    return 0;
}

/* Drops the stop-word clauses of p->cl[mark..] when another clause that is not MUST_NOT
 * remains (query.h, "Stop words"). */
static void drop_stop_words(struct parser *p, size_t mark)
{
    int other = 0;
    for (size_t i = mark; i < p->n_cl && !other; i++)
        other = !p->cl[i].stop && p->cl[i].occ != KQ_MUST_NOT;
    if (!other)
        return;
    size_t n = mark;
    for (size_t i = mark; i < p->n_cl; i++) {
        if (!p->cl[i].stop)
            p->cl[n++] = p->cl[i];
        else
            p->q->n_terms--; /* a stop clause is a one-term TERM */
    }
    p->n_cl = n;
}

/* Ends the BOOL whose clauses are p->cl[mark..]: no clause gives NULL, one SHOULD or MUST
 * clause gives that clause, otherwise a BOOL node starting at `off`. */
static int finish_bool(struct parser *p, size_t mark, size_t off, struct kq_qnode **out)
{
    size_t n = p->n_cl - mark;
    *out = NULL;
    if (n == 0)
        return 0;
    if (n == 1 && p->cl[mark].occ != KQ_MUST_NOT) {
        *out = p->cl[mark].node;
        p->n_cl = mark;
        return 0;
    }
    struct kq_qnode *node = new_node(p, KQ_QN_BOOL, -1, off);
    enum kq_occur *occ = arena_alloc(p->q, n * sizeof *occ);
    struct kq_qnode **cl = arena_alloc(p->q, n * sizeof *cl);
    if (!node || !occ || !cl)
        return enomem(p);
    for (size_t i = 0; i < n; i++) {
        occ[i] = p->cl[mark + i].occ;
        cl[i] = p->cl[mark + i].node;
    }
    node->n_clauses = (uint32_t)n;
    node->occurs = occ;
    node->clauses = cl;
    p->n_cl = mark;
    *out = node;
    return 0;
}

/* ---- analysis ---- */

static int on_token(void *ctx, const struct kq_token *t)
{
    struct parser *p = ctx;
    if (p->n_tk == p->cap_tk) {
        size_t cap = p->cap_tk ? 2 * p->cap_tk : 16;
        struct tok *tk = kq__realloc(p->tk, cap * sizeof *tk);
        if (!tk)
            return KQ_ENOMEM;
        p->tk = tk;
        p->cap_tk = cap;
    }
    char *term = arena_alloc(p->q, t->len + 1);
    if (!term)
        return KQ_ENOMEM;
    memcpy(term, t->term, t->len + 1);
    p->tk[p->n_tk].term = term;
    p->tk[p->n_tk].len = t->len;
    p->tk[p->n_tk].pos = t->pos;
    p->tk[p->n_tk].start = t->start;
    p->tk[p->n_tk].stop = t->stop;
    p->n_tk++;
    return 0;
}

/* Appends the tokens of s[from, to) to p->tk. */
static int analyze(struct parser *p, size_t from, size_t to, int flags)
{
    int rc = kq_analyze(p->an, p->s + from, to - from, 0, flags, on_token, p, NULL);
    if (rc)
        return rc == KQ_ENOMEM ? enomem(p) : kq__error(p->err, KQ_EINTERNAL, -1, "analyser failed");
    return 0;
}

/* The text s[from, to) as a TERM (one token), a PHRASE (several) or NULL (none). */
static int text_node(struct parser *p, size_t from, size_t to, int field, size_t off,
                     struct kq_qnode **out)
{
    *out = NULL;
    p->n_tk = 0;
    int rc = analyze(p, from, to, KQ_ANALYZE_STOPWORDS);
    if (rc || p->n_tk == 0)
        return rc;
    p->last_stop = p->n_tk == 1 && p->tk[0].stop;
    return new_leaf(p, p->n_tk == 1 ? KQ_QN_TERM : KQ_QN_PHRASE, field, off, 0, p->n_tk, out);
}

/* The text s[from, to) before a '*': its last token folded (not stemmed) is the PREFIX;
 * the tokens before it, stemmed, are TERMs required with it. */
static int prefix_node(struct parser *p, size_t from, size_t to, int field, size_t off,
                       struct kq_qnode **out)
{
    *out = NULL;
    p->n_tk = 0;
    int rc = analyze(p, from, to, KQ_ANALYZE_NOSTEM);
    if (rc || p->n_tk == 0)
        return rc;
    size_t n_fold = p->n_tk;
    uint32_t last_pos = p->tk[n_fold - 1].pos;
    rc = analyze(p, from, to, 0);
    if (rc)
        return rc;
    size_t mark = p->n_cl;
    for (size_t i = n_fold; i < p->n_tk && p->tk[i].pos < last_pos; i++) {
        struct kq_qnode *term;
        if ((rc = new_leaf(p, KQ_QN_TERM, field, from + p->tk[i].start, i, 1, &term)) ||
            (rc = push_raw(p, KQ_MUST, term)))
            return rc;
    }
    /* alone, the PREFIX starts where the word does; after TERMs, at its own token */
    size_t pre_off = p->n_cl > mark ? from + p->tk[n_fold - 1].start : off;
    struct kq_qnode *pre;
    if ((rc = new_leaf(p, KQ_QN_PREFIX, field, pre_off, n_fold - 1, 1, &pre)) ||
        (rc = push_raw(p, KQ_MUST, pre)))
        return rc;
    const struct tok *fold = &p->tk[n_fold - 1], *stem = &p->tk[p->n_tk - 1];
    if (p->n_tk > n_fold && stem->pos == last_pos &&
        (stem->len != fold->len || memcmp(stem->term, fold->term, fold->len))) {
        pre->stem = stem->term;
        pre->stem_len = stem->len;
    }
    return finish_bool(p, mark, off, out);
}

/* ---- numbers ---- */

/* Parses a boost number filling s[from, to) exactly. Returns 0 and the value (> 0, finite)
 * or -1. Locale-independent; exact enough for boosts (within a few ulp). */
static int parse_number(const char *s, size_t from, size_t to, double *out)
{
    size_t i = from;
    uint64_t mant = 0;
    int n_digits = 0, exp10 = 0, any = 0;
    for (; i < to && is_digit((unsigned char)s[i]); i++, any = 1) {
        if (n_digits < 19) {
            mant = mant * 10 + (uint64_t)(s[i] - '0');
            if (mant)
                n_digits++;
        } else {
            exp10++;
        }
    }
    if (i < to && s[i] == '.') {
        for (i++; i < to && is_digit((unsigned char)s[i]); i++, any = 1) {
            if (n_digits < 19) {
                mant = mant * 10 + (uint64_t)(s[i] - '0');
                if (mant)
                    n_digits++;
                exp10--;
            }
        }
    }
    if (!any)
        return -1;
    if (i < to && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int neg = 0;
        if (i < to && (s[i] == '+' || s[i] == '-'))
            neg = s[i++] == '-';
        if (i >= to || !is_digit((unsigned char)s[i]))
            return -1;
        int e = 0;
        for (; i < to && is_digit((unsigned char)s[i]); i++)
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
        exp10 += neg ? -e : e;
    }
    if (i != to)
        return -1;
    double v = (double)mant;
    if (exp10 < 0)
        v /= pow(10.0, -exp10);
    else if (exp10 > 0)
        v *= pow(10.0, exp10);
    if (!isfinite(v) || !(v > 0))
        return -1;
    *out = v;
    return 0;
}

/* Does a boost start at `at` (a '^')? Only when a digit or ".digit" follows. */
static int boost_starts(const struct parser *p, size_t at)
{
    if (at >= p->len || p->s[at] != '^' || at + 1 >= p->len)
        return 0;
    unsigned char c = (unsigned char)p->s[at + 1];
    return is_digit(c) || (c == '.' && at + 2 < p->len && is_digit((unsigned char)p->s[at + 2]));
}

/* After a ')' or closing '"': an optional ^number up to the next delimiter. */
static int trailing_boost(struct parser *p, double *boost)
{
    *boost = 1.0;
    if (!boost_starts(p, p->pos))
        return 0;
    size_t from = p->pos + 1, to = word_end(p, from);
    if (parse_number(p->s, from, to, boost))
        return syntax(p, from, "expected a positive number after '^'");
    p->pos = to;
    return 0;
}

/* ---- grammar ---- */

static int parse_or(struct parser *p, int field, struct kq_qnode **out, size_t *units);

static int field_prefix(const struct parser *p, int *field)
{
    static const struct {
        const char *name;
        size_t len;
        int field;
    } fields[] = {
        {"title:", 6, KQ_FIELD_TITLE}, {"body:", 5, KQ_FIELD_TEXT}, {"text:", 5, KQ_FIELD_TEXT}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        size_t n = fields[i].len;
        if (p->len - p->pos > n && !memcmp(p->s + p->pos, fields[i].name, n)) {
            unsigned char c = (unsigned char)p->s[p->pos + n];
            if (is_ws(c) || c == ')')
                return 0;
            *field = fields[i].field;
            return (int)n;
        }
    }
    return 0;
}

/* primary = [field ":"] (group | phrase | word), at p->pos (not ws, ')' or the end). */
static int parse_primary(struct parser *p, int field, struct kq_qnode **out)
{
    *out = NULL;
    size_t start = p->pos;
    int fielded = field_prefix(p, &field);
    p->pos += (size_t)fielded;
    int rc;
    double boost;
    if (p->s[p->pos] == '(') {
        size_t open = p->pos;
        if (p->depth >= p->lim.max_depth)
            return kq__error(p->err, KQ_ELIMIT, (int64_t)open,
                             "query nested too deeply (limit is %u)", (unsigned)p->lim.max_depth);
        p->depth++;
        p->pos++;
        size_t units;
        if ((rc = parse_or(p, field, out, &units)))
            return rc;
        p->depth--;
        if (p->pos >= p->len)
            return syntax(p, open, "unbalanced '('");
        p->pos++; /* ')' */
        if ((rc = trailing_boost(p, &boost)))
            return rc;
        if (*out && (*out)->type == KQ_QN_BOOL)
            (*out)->offset = (int64_t)start;
        return multiply_boost(p, *out, boost, start);
    }
    if (p->s[p->pos] == '"') {
        size_t open = p->pos;
        const char *close = memchr(p->s + open + 1, '"', p->len - open - 1);
        if (!close)
            return syntax(p, open, "unterminated '\"'");
        size_t end = (size_t)(close - p->s);
        if ((rc = text_node(p, open + 1, end, field, start, out)))
            return rc;
        p->last_stop = 0; /* a quoted word is meant */
        p->pos = end + 1;
        if ((rc = trailing_boost(p, &boost)))
            return rc;
        return multiply_boost(p, *out, boost, start);
    }
    /* a word: text ["*"] ["^" number] */
    size_t from = p->pos, to = word_end(p, from);
    p->pos = to;
    boost = 1.0;
    for (size_t i = to; i > from + 1; i--) {
        if (p->s[i - 1] != '^')
            continue;
        if (boost_starts(p, i - 1)) {
            if (parse_number(p->s, i, to, &boost))
                return syntax(p, i, "expected a positive number after '^'");
            to = i - 1;
        }
        break;
    }
    int prefix = 0;
    while (to > from && p->s[to - 1] == '*') {
        prefix = 1;
        to--;
    }
    if (to == from)
        return 0;
    rc = prefix ? prefix_node(p, from, to, field, start, out)
                : text_node(p, from, to, field, start, out);
    if (rc)
        return rc;
    if (fielded)
        p->last_stop = 0; /* a word given a field is meant */
    return multiply_boost(p, *out, boost, start);
}

/* sequence = unit {unit}. Stops at the end, ')', AND or OR. `*units` counts the units
 * seen (lone signs not included), whether or not they held a term. */
static int parse_seq(struct parser *p, int field, struct kq_qnode **out, size_t *units)
{
    size_t mark = p->n_cl, off = p->pos;
    int rc;
    *out = NULL;
    *units = 0;
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] == ')')
            break;
        enum kw kw = keyword_at(p);
        if (kw == KW_AND || kw == KW_OR)
            break;
        if (!*units)
            off = p->pos;
        enum kq_occur occ = KQ_SHOULD;
        if (kw == KW_NOT) {
            p->pos += 3;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] == ')' || keyword_at(p) != KW_NONE)
                return syntax(p, p->pos, "expected a term after 'NOT'");
            occ = KQ_MUST_NOT;
        } else if (p->s[p->pos] == '+' || p->s[p->pos] == '-') {
            /* at a word start here: the query start, or after ws or '(' */
            occ = p->s[p->pos] == '+' ? KQ_MUST : KQ_MUST_NOT;
            p->pos++;
            if (p->pos >= p->len || is_ws((unsigned char)p->s[p->pos]) || p->s[p->pos] == ')')
                continue; /* a lone sign */
        }
        struct kq_qnode *node;
        p->last_stop = 0;
        if ((rc = parse_primary(p, field, &node)) || (rc = push_clause(p, occ, node)))
            return rc;
        if (occ == KQ_SHOULD && p->last_stop && node && node->type == KQ_QN_TERM &&
            node->boost == 1.0)
            p->cl[p->n_cl - 1].stop = 1;
        ++*units;
        /* A unit glued to what follows (`(a)-b`, `"x"y`): the next one does not start a
         * word, so a sign there is text. */
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) {
            if ((rc = parse_primary(p, field, &node)) || (rc = push_clause(p, KQ_SHOULD, node)))
                return rc;
        }
    }
    drop_stop_words(p, mark);
    return finish_bool(p, mark, off, out);
}

/* and_expr = sequence {"AND" sequence}; or_expr = and_expr {"OR" and_expr}: one loop for
 * both, `kw` the operator of this level. */
static int parse_chain(struct parser *p, int field, enum kw kw, struct kq_qnode **out,
                       size_t *units)
{
    size_t mark = p->n_cl;
    enum kq_occur occ = kw == KW_AND ? KQ_MUST : KQ_SHOULD;
    int rc;
    skip_ws(p);
    size_t off = p->pos;
    struct kq_qnode *node;
    rc = kw == KW_AND ? parse_seq(p, field, &node, units)
                      : parse_chain(p, field, KW_AND, &node, units);
    if (rc)
        return rc;
    skip_ws(p);
    if (!*units) {
        if (p->pos < p->len && keyword_at(p) == kw)
            return syntax(p, p->pos,
                          kw == KW_AND ? "expected a term before 'AND'"
                                       : "expected a term before 'OR'");
        *out = NULL;
        return 0;
    }
    if (p->pos >= p->len || keyword_at(p) != kw) {
        *out = node;
        return 0;
    }
    if ((rc = push_clause(p, occ, node)))
        return rc;
    while (p->pos < p->len && keyword_at(p) == kw) {
        p->pos += strlen(kw_name[kw]);
        skip_ws(p);
        size_t at = p->pos, n;
        if (at < p->len && (keyword_at(p) == KW_AND || keyword_at(p) == KW_OR))
            return syntax(
                p, at, kw == KW_AND ? "expected a term after 'AND'" : "expected a term after 'OR'");
        rc = kw == KW_AND ? parse_seq(p, field, &node, &n)
                          : parse_chain(p, field, KW_AND, &node, &n);
        if (rc)
            return rc;
        if (!n)
            return syntax(
                p, at, kw == KW_AND ? "expected a term after 'AND'" : "expected a term after 'OR'");
        *units += n;
        if ((rc = push_clause(p, occ, node)))
            return rc;
        skip_ws(p);
    }
    return finish_bool(p, mark, off, out);
}

static int parse_or(struct parser *p, int field, struct kq_qnode **out, size_t *units)
{
    return parse_chain(p, field, KW_OR, out, units);
}

static int parse_plain(struct parser *p)
{
    p->n_tk = 0;
    int rc = analyze(p, 0, p->len, KQ_ANALYZE_STOPWORDS);
    if (rc)
        return rc;
    for (size_t i = 0; i < p->n_tk; i++) {
        struct kq_qnode *node;
        if ((rc = new_leaf(p, KQ_QN_TERM, KQ_FIELD_TEXT, p->tk[i].start, i, 1, &node)) ||
            (rc = push_raw(p, KQ_SHOULD, node)))
            return rc;
        p->cl[p->n_cl - 1].stop = p->tk[i].stop;
    }
    drop_stop_words(p, 0);
    return finish_bool(p, 0, p->n_cl ? (size_t)p->cl[0].node->offset : 0, &p->q->root);
}

int kq_query_parse(const char *q, size_t len, kq_analyzer *an, int flags,
                   const struct kq_query_limits *lim, kq_query **out, kq_error *err)
{
    struct parser p;
    memset(&p, 0, sizeof p);
    p.s = q;
    p.len = len;
    p.an = an;
    p.err = err;
    p.lim.max_len = lim && lim->max_len ? lim->max_len : KQ_QUERY_MAX_LEN;
    p.lim.max_terms = lim && lim->max_terms ? lim->max_terms : KQ_QUERY_MAX_TERMS;
    p.lim.max_depth = lim && lim->max_depth ? lim->max_depth : KQ_QUERY_MAX_DEPTH;
    if (p.lim.max_depth > KQ_QUERY_DEPTH_CAP)
        p.lim.max_depth = KQ_QUERY_DEPTH_CAP;
    *out = NULL;
    if (len > p.lim.max_len)
        return kq__error(err, KQ_ELIMIT, (int64_t)p.lim.max_len, "query longer than %zu bytes",
                         p.lim.max_len);
    p.q = kq__calloc(1, sizeof *p.q);
    if (!p.q)
        return kq__enomem(err);
    int rc;
    if (flags & KQ_QUERY_PLAIN) {
        rc = parse_plain(&p);
    } else {
        size_t units;
        rc = parse_or(&p, KQ_FIELD_TEXT, &p.q->root, &units);
        if (!rc && p.pos < p.len) /* parse_or stops only at the end or a ')' */
            rc = syntax(&p, p.pos, "')' without '('");
        if (!rc && p.q->root)
            rc = boosts_in_range(&p, p.q->root, 1.0);
    }
    kq__free(p.cl);
    kq__free(p.tk);
    if (rc) {
        kq_query_free(p.q);
        return rc;
    }
    if (!p.q->root)
        p.q->n_terms = 0;
    *out = p.q;
    return 0;
}

/* ---- canonical form ---- */

static int put_str(kq_buf *out, const char *s)
{
    return kq_buf_append(out, s, strlen(s));
}

/* A boost prints as ^%g, and not at all when that reads as 1 (0.99999988 prints as "^1",
 * which parses back to 1.0, which prints as nothing: the form would not be a fixpoint). */
static int put_boost(kq_buf *out, double boost)
{
    char num[64];
    snprintf(num, sizeof num, "^%g", boost);
    return strcmp(num, "^1") ? put_str(out, num) : 0;
}

static int format_node(const struct kq_qnode *n, kq_buf *out, unsigned depth)
{
    if (depth > 3 * KQ_QUERY_DEPTH_CAP + 8)
        return KQ_EINTERNAL;
    int rc;
    if (n->type == KQ_QN_BOOL) {
        if ((rc = kq_buf_putc(out, '(')))
            return rc;
        for (uint32_t i = 0; i < n->n_clauses; i++) {
            if (i && (rc = kq_buf_putc(out, ' ')))
                return rc;
            if (n->occurs[i] != KQ_SHOULD &&
                (rc = kq_buf_putc(out, n->occurs[i] == KQ_MUST ? '+' : '-')))
                return rc;
            if ((rc = format_node(n->clauses[i], out, depth + 1)))
                return rc;
        }
        if ((rc = kq_buf_putc(out, ')')))
            return rc;
        return put_boost(out, n->boost);
    }
    if ((rc = put_str(out, n->field == KQ_FIELD_TITLE ? "title:" : "text:")))
        return rc;
    int quote = n->type == KQ_QN_PHRASE;
    if (quote && (rc = kq_buf_putc(out, '"')))
        return rc;
    for (uint32_t i = 0; i < n->n_terms; i++) {
        if (i && (rc = kq_buf_putc(out, ' ')))
            return rc;
        if ((rc = kq_buf_append(out, n->terms[i], n->lens[i])))
            return rc;
    }
    if (quote && (rc = kq_buf_putc(out, '"')))
        return rc;
    if (n->type == KQ_QN_PREFIX && (rc = kq_buf_putc(out, '*')))
        return rc;
    return put_boost(out, n->boost);
}

int kq_query_format(const kq_query *q, kq_buf *out)
{
    if (!q || !q->root)
        return 0;
    return format_node(q->root, out, 0);
}
