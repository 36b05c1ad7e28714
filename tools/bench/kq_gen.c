/* tools/bench/kq_gen.c: kq_gen, a deterministic synthetic corpus of any size.
 *
 * Writes documents as JSON lines ({"_id","title","text"}, what kq-index and the peers'
 * indexers read) and/or as one text file per document in numbered folders. The text
 * comes from a model learned from real English (kq_gen_learn.c; format in kq_gen.h): a
 * bigram chain over the source's most frequent words (each word's most frequent
 * successors, with the source's counts), falling back to the source's unigram
 * frequencies, with the rarer words drawn from the power law fitted to the source's tail
 * and spelled as synthetic words (so the vocabulary keeps growing with the corpus, as
 * real vocabularies do). Sentences start capitalised and end with '.', commas fall where
 * the source put them, paragraphs break with the source's frequency, and the number of
 * words per document and per title follows log-normal fits of the source.
 *
 * Invariant: document i depends only on (vocabulary file, seed, i): each document has
 * its own random stream (xoshiro256** seeded by splitmix64 of the seed and i) and every
 * draw from a table is integer arithmetic. The same vocabulary, seed and options give the
 * same bytes, and `--first i --docs 1` regenerates document i alone. (Document and title
 * lengths and the tail's ranks go through exp/log from libm, which glibc computes the same
 * way on every x86-64 machine.)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "kq_gen.h"

#define KQ_GEN_VERSION "0.1.0"
#ifndef KQ_GEN_DEFAULT_VOCAB
#define KQ_GEN_DEFAULT_VOCAB "kq_gen.vocab"
#endif

static const char usage_text[] =
    "usage: kq_gen [OPTIONS] (--docs N | --bytes SIZE) (--jsonl FILE | --dir DIR)\n"
    "       kq_gen --learn [--words N] [--contexts M] [--successors K] [-o FILE] [JSONL...]\n"
    "\n"
    "Writes a deterministic synthetic English corpus: the same vocabulary, seed and\n"
    "options give the same bytes. Documents are numbered from 0 (or --first).\n"
    "\n"
    "size (one or both):\n"
    "  -n, --docs N          write N documents\n"
    "  -s, --bytes SIZE      write documents until their text (title and body) reaches\n"
    "                        SIZE bytes; with --docs, scale the document length so that\n"
    "                        N documents make about SIZE bytes. Suffixes k M G T (10^3..)\n"
    "                        and KiB MiB GiB TiB (2^10..)\n"
    "output (one or both; both get the same documents):\n"
    "  -o, --jsonl FILE      JSON lines {\"_id\",\"title\",\"text\"}; '-' is standard output\n"
    "  -d, --dir DIR         one file per document, DIR/FFFFFF/DDDDDDDDD.txt (title line,\n"
    "                        blank line, text), --per-dir files per folder; DIR is created\n"
    "      --per-dir N       files per folder (default 1000)\n"
    "model:\n"
    "      --seed N          the seed (default 1)\n"
    "      --first N         number of the first document (default 0)\n"
    "      --vocab FILE      the vocabulary (default " KQ_GEN_DEFAULT_VOCAB ")\n"
    "      --mean-words X    mean words per document (default: the source's)\n"
    "  -q, --quiet           no summary on standard error\n"
    "  -h, --help            this help\n"
    "  -V, --version         the version\n"
    "\n"
    "--learn reads BEIR JSON lines (files, or standard input when none or '-') and writes\n"
    "a vocabulary file to -o FILE or standard output (--words: listed words, default\n"
    "30000; --contexts: words with a successor table, default 2000; --successors: table\n"
    "size, default 16; --source: the source's name for the file's comment).\n"
    "\n"
    "exit status: 0 success, 1 an output or input error, 2 bad usage.\n";

/* ---- errors and allocation ---- */

static _Noreturn void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static _Noreturn void die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kq_gen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(status);
}

void *kq_gen_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        die(1, "out of memory (%zu bytes)", size);
    return p;
}

void *kq_gen_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die(1, "out of memory (%zu x %zu bytes)", n, size);
    return p;
}

void *kq_gen_xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q)
        die(1, "out of memory (%zu bytes)", size);
    return q;
}

/* ---- random numbers: one xoshiro256** stream per document ---- */

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed;
    uint64_t mix = splitmix64(&x) ^ stream;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&mix);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, n) (Lemire's multiply-shift; the bias, below n / 2^64, is immaterial). */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in (0, 1]. */
static double rng_unit(struct rng *r)
{
    return (double)((rng_next(r) >> 11) + 1) * 0x1p-53;
}

static double rng_normal(struct rng *r)
{
    double u = rng_unit(r), v = rng_unit(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* ---- alias tables (Walker/Vose), in integers so draws are exact everywhere ---- */

struct alias {
    uint32_t n;      /* entries; 0 = an empty table */
    uint64_t total;  /* the sum of the weights */
    uint64_t *limit; /* [j]: column j keeps j when a draw in [0, total) is below this */
    uint32_t *other; /* [j]: else it gives this entry */
};

/* Builds the table of weights w[0..n-1]; their sum times n must stay below 2^63. */
static void alias_build(struct alias *a, const uint64_t *w, uint32_t n)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += w[i];
    a->n = total ? n : 0;
    a->total = total;
    a->limit = kq_gen_xmalloc((n ? n : 1) * sizeof *a->limit);
    a->other = kq_gen_xmalloc((n ? n : 1) * sizeof *a->other);
    if (!total)
        return;
    uint64_t *p = kq_gen_xmalloc(n * sizeof *p);
    uint32_t *small = kq_gen_xmalloc(n * sizeof *small);
    uint32_t *large = kq_gen_xmalloc(n * sizeof *large);
    size_t ns = 0, nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        p[i] = w[i] * n; /* in units where `total` is one column */
        if (p[i] < total)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[nl - 1];
        a->limit[s] = p[s];
        a->other[s] = l;
        p[l] -= total - p[s];
        if (p[l] < total) {
            nl--;
            small[ns++] = l;
        }
    }
    while (nl) {
        uint32_t l = large[--nl];
        a->limit[l] = total;
        a->other[l] = l;
    }
    while (ns) { /* only rounding leaves these; they are full columns */
        uint32_t s = small[--ns];
        a->limit[s] = total;
        a->other[s] = s;
    }
    free(p);
    free(small);
    free(large);
}

static uint32_t alias_draw(const struct alias *a, struct rng *r)
{
    uint32_t j = (uint32_t)rng_below(r, a->n);
    return rng_below(r, a->total) < a->limit[j] ? j : a->other[j];
}

static void alias_release(struct alias *a)
{
    free(a->limit);
    free(a->other);
}

/* ---- the model ---- */

#define NO_CONTEXT UINT32_MAX
#define TAIL 0 /* a draw from the unigram table: a word past the listed ones */

struct context {
    struct alias a; /* entries 0 .. n_succ-1: succ[]; entry n_succ: any other word */
    uint32_t *succ;
    uint32_t n_succ;
};

struct model {
    uint32_t n_words; /* ranks 1 .. n_words */
    char *forms;
    uint32_t *form_off; /* [rank] */
    uint8_t *form_len;  /* [rank] */
    uint32_t r_period, r_comma, r_word; /* r_word: the most frequent word */
    struct alias unigram;               /* residual counts; entry 0: TAIL */
    uint32_t n_ctx;
    struct context *ctx;
    uint64_t documents, tokens, distinct, tail;
    double doc_mu, doc_sigma, title_mu, title_sigma, newline, tail_a;
    uint64_t newline_limit; /* newline * 2^32 */
};

struct parser {
    const char *path;
    char *p, *end;
    size_t line;
};

/* The next line, NUL-terminated in place; NULL at the end. Comment lines are skipped. */
static char *next_line(struct parser *ps)
{
    while (ps->p < ps->end) {
        char *s = ps->p, *nl = memchr(s, '\n', (size_t)(ps->end - s));
        if (!nl)
            nl = ps->end;
        *nl = '\0';
        ps->p = nl + 1;
        ps->line++;
        if (s[0] != '#')
            return s;
    }
    return NULL;
}

static _Noreturn void bad_vocab(const struct parser *ps, const char *what)
{
    die(2, "%s: line %zu: %s", ps->path, ps->line, what);
}

static uint64_t parse_u64(struct parser *ps, char **s)
{
    errno = 0;
    char *e;
    unsigned long long v = strtoull(*s, &e, 10);
    if (e == *s || errno || **s == '-' || **s == ' ' || **s == '+')
        bad_vocab(ps, "expected a number");
    *s = e;
    return v;
}

static double parse_double(struct parser *ps, char **s)
{
    errno = 0;
    char *e;
    double v = strtod(*s, &e);
    if (e == *s || errno || **s == ' ' || !isfinite(v))
        bad_vocab(ps, "expected a number");
    *s = e;
    return v;
}

/* The next line, which must be "KEY ..."; returns what follows "KEY ". */
static char *keyed(struct parser *ps, const char *key)
{
    char *s = next_line(ps);
    size_t klen = strlen(key);
    if (!s || strncmp(s, key, klen) != 0 || s[klen] != ' ') {
        char msg[128];
        snprintf(msg, sizeof msg, "expected '%s'", key);
        bad_vocab(ps, msg);
    }
    return s + klen + 1;
}

/* "KEY N..." with `n` whole numbers. */
static void keyed_u64(struct parser *ps, const char *key, size_t n, uint64_t *out)
{
    char *s = keyed(ps, key);
    for (size_t i = 0; i < n; i++) {
        if (i && *s++ != ' ')
            bad_vocab(ps, "expected a space between numbers");
        out[i] = parse_u64(ps, &s);
    }
    if (*s)
        bad_vocab(ps, "trailing bytes after the numbers");
}

/* "KEY X..." with `n` numbers. */
static void keyed_double(struct parser *ps, const char *key, size_t n, double *out)
{
    char *s = keyed(ps, key);
    for (size_t i = 0; i < n; i++) {
        if (i && *s++ != ' ')
            bad_vocab(ps, "expected a space between numbers");
        out[i] = parse_double(ps, &s);
    }
    if (*s)
        bad_vocab(ps, "trailing bytes after the numbers");
}

static void model_load(struct model *m, const char *path)
{
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f)
        die(2, "%s: %s (set --vocab)", path, strerror(errno));
    char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            data = kq_gen_xrealloc(data, cap + 1);
        }
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        die(2, "%s: read error", path);
    fclose(f);
    data[len] = '\0';

    struct parser ps = {path, data, data + len, 0};
    char *s = next_line(&ps);
    size_t mlen = strlen(KQ_GEN_MAGIC);
    if (!s || strncmp(s, KQ_GEN_MAGIC, mlen) != 0 || s[mlen] != ' ')
        bad_vocab(&ps, "not a kq_gen vocabulary");
    s += mlen + 1;
    if (parse_u64(&ps, &s) != KQ_GEN_FORMAT || *s)
        bad_vocab(&ps, "unsupported version");
    uint64_t documents, tokens, distinct, tail, n_words, n_ctx, n_succ, v[2];
    double d[2];
    keyed_u64(&ps, "documents", 1, &documents);
    keyed_u64(&ps, "tokens", 1, &tokens);
    keyed_u64(&ps, "distinct", 1, &distinct);
    keyed_double(&ps, "doc_words", 2, d);
    m->doc_mu = d[0];
    m->doc_sigma = d[1];
    keyed_double(&ps, "title_words", 2, d);
    m->title_mu = d[0];
    m->title_sigma = d[1];
    keyed_double(&ps, "newline", 1, &m->newline);
    char *t = keyed(&ps, "tail");
    tail = parse_u64(&ps, &t);
    if (*t++ != ' ')
        bad_vocab(&ps, "expected 'tail COUNT EXPONENT'");
    m->tail_a = parse_double(&ps, &t);
    if (*t)
        bad_vocab(&ps, "trailing bytes after the numbers");
    keyed_u64(&ps, "words", 1, &n_words);
    if (n_words < 3 || n_words > 1u << 24)
        bad_vocab(&ps, "'words' out of range (3 .. 2^24)");
    if (!(m->tail_a > 1.0 && m->tail_a < 10.0) || !(m->newline >= 0 && m->newline <= 1) ||
        !(m->doc_sigma >= 0 && m->doc_sigma < 10) || !(m->title_sigma >= 0 && m->title_sigma < 10) ||
        !(m->doc_mu > -1 && m->doc_mu < 20) || !(m->title_mu > -1 && m->title_mu < 10))
        bad_vocab(&ps, "a parameter is out of range");
    m->documents = documents;
    m->tokens = tokens;
    m->distinct = distinct;
    m->tail = tail;
    m->n_words = (uint32_t)n_words;
    m->newline_limit = (uint64_t)(m->newline * 4294967296.0);

    /* the words: "FORM COUNT" */
    uint64_t *count = kq_gen_xcalloc(n_words + 1, sizeof *count);
    m->forms = kq_gen_xmalloc(len);
    m->form_off = kq_gen_xcalloc(n_words + 1, sizeof *m->form_off);
    m->form_len = kq_gen_xcalloc(n_words + 1, sizeof *m->form_len);
    size_t forms_len = 0;
    uint64_t sum = tail;
    for (uint32_t r = 1; r <= n_words; r++) {
        s = next_line(&ps);
        char *sp = s ? strrchr(s, ' ') : NULL;
        if (!sp || sp == s || sp - s > KQ_GEN_MAX_FORM)
            bad_vocab(&ps, "expected 'FORM COUNT'");
        for (char *c = s; c < sp; c++) {
            if ((unsigned char)*c < 0x21 || *c == '"' || *c == '\\')
                bad_vocab(&ps, "a form holds a space, a control byte, '\"' or '\\'");
        }
        char *c = sp + 1;
        count[r] = parse_u64(&ps, &c);
        if (*c)
            bad_vocab(&ps, "trailing bytes after the count");
        sum += count[r];
        size_t flen = (size_t)(sp - s);
        memcpy(m->forms + forms_len, s, flen);
        m->form_off[r] = (uint32_t)forms_len;
        m->form_len[r] = (uint8_t)flen;
        forms_len += flen;
        if (flen == 1 && *s == '.')
            m->r_period = r;
        else if (flen == 1 && *s == ',')
            m->r_comma = r;
        else if (!m->r_word)
            m->r_word = r;
    }
    if (!m->r_period || !m->r_comma || !m->r_word)
        bad_vocab(&ps, "the words must include '.', ',' and a word");
    if (sum > (UINT64_C(1) << 62) / (n_words + 1))
        bad_vocab(&ps, "counts too large");

    /* the contexts: "OTHER RANK:COUNT..." */
    keyed_u64(&ps, "contexts", 2, v);
    n_ctx = v[0];
    n_succ = v[1];
    if (n_ctx > n_words + 1 || n_succ > 4096)
        bad_vocab(&ps, "'contexts' out of range");
    m->n_ctx = (uint32_t)n_ctx;
    m->ctx = kq_gen_xcalloc(n_ctx ? n_ctx : 1, sizeof *m->ctx);
    uint64_t *explained = kq_gen_xcalloc(n_words + 1, sizeof *explained);
    size_t max_succ = KQ_GEN_START_FACTOR * (size_t)n_succ;
    uint64_t *w = kq_gen_xmalloc((max_succ + 1) * sizeof *w);
    uint32_t *succ = kq_gen_xmalloc((max_succ + 1) * sizeof *succ);
    for (uint32_t c = 0; c < n_ctx; c++) {
        s = next_line(&ps);
        if (!s)
            bad_vocab(&ps, "missing context lines");
        uint64_t other = parse_u64(&ps, &s), ctx_sum = other;
        uint32_t k = 0;
        while (*s == ' ') {
            s++;
            uint64_t rank = parse_u64(&ps, &s);
            if (*s++ != ':')
                bad_vocab(&ps, "expected 'RANK:COUNT'");
            uint64_t cnt = parse_u64(&ps, &s);
            if (rank < 1 || rank > n_words || k == (c ? n_succ : max_succ))
                bad_vocab(&ps, "a successor's rank is out of range, or too many successors");
            explained[rank] += cnt;
            if (explained[rank] > count[rank])
                bad_vocab(&ps, "a word follows its contexts more often than it occurs");
            succ[k] = (uint32_t)rank;
            w[k++] = cnt;
            ctx_sum += cnt;
        }
        if (*s)
            bad_vocab(&ps, "trailing bytes in a context line");
        if (ctx_sum > sum)
            bad_vocab(&ps, "a context's counts exceed the tokens");
        w[k] = other;
        struct context *cx = &m->ctx[c];
        cx->n_succ = k;
        cx->succ = kq_gen_xmalloc((k ? k : 1) * sizeof *cx->succ);
        memcpy(cx->succ, succ, k * sizeof *succ);
        alias_build(&cx->a, w, k + 1);
    }
    s = next_line(&ps);
    if (!s || strcmp(s, "end") != 0)
        bad_vocab(&ps, "expected 'end'");

    /* the unigram table: what the contexts do not explain, and the tail */
    count[0] = tail;
    for (uint32_t r = 1; r <= n_words; r++)
        count[r] -= explained[r];
    alias_build(&m->unigram, count, (uint32_t)n_words + 1);
    if (!m->unigram.n)
        bad_vocab(&ps, "no word to draw");
    free(count);
    free(explained);
    free(w);
    free(succ);
    free(data);
}

static void model_release(struct model *m)
{
    for (uint32_t c = 0; c < m->n_ctx; c++) {
        alias_release(&m->ctx[c].a);
        free(m->ctx[c].succ);
    }
    free(m->ctx);
    alias_release(&m->unigram);
    free(m->forms);
    free(m->form_off);
    free(m->form_len);
}

/* ---- generating a document ---- */

struct text {
    char *p;
    size_t len, cap;
};

static void text_reserve(struct text *t, size_t extra)
{
    if (t->len + extra > t->cap) {
        t->cap = t->cap * 2 > t->len + extra ? t->cap * 2 : t->len + extra + 4096;
        t->p = kq_gen_xrealloc(t->p, t->cap);
    }
}

/* Syllables of the synthetic words that stand for the ranks past the listed words. */
static const char onsets[] = "bcdfghklmnprstvz";
static const char vowels[] = "aeiou";
#define N_SYLLABLES 80 /* 16 onsets x 5 vowels */

/* Appends the word of tail rank k (0 = the first rank past the list): bijective base-80
 * numeration over syllables, at least 3 syllables, so each rank has its own spelling and
 * rarer words are longer. */
static void put_tail_word(struct text *t, uint64_t k)
{
    size_t n = 3;
    uint64_t span = (uint64_t)N_SYLLABLES * N_SYLLABLES * N_SYLLABLES;
    while (k >= span && n < 12) {
        k -= span;
        span *= N_SYLLABLES;
        n++;
    }
    char *out = t->p + t->len;
    for (size_t i = n; i-- > 0;) {
        unsigned s = (unsigned)(k % N_SYLLABLES);
        k /= N_SYLLABLES;
        out[2 * i] = onsets[s / 5];
        out[2 * i + 1] = vowels[s % 5];
    }
    t->len += 2 * n;
}

/* A rank past the listed ones: P(rank > x) = (x / n_words)^-(a - 1), as an offset k >= 0
 * past the list; capped so that the synthetic words stay below 24 bytes. */
static uint64_t draw_tail(const struct model *m, struct rng *r)
{
    double x = -log(rng_unit(r)) / (m->tail_a - 1.0);
    double rank = (double)m->n_words * exp(x < 40 ? x : 40);
    double k = rank - (double)m->n_words;
    return k < 1e15 ? (uint64_t)k : (uint64_t)1e15;
}

static uint32_t next_token(const struct model *m, struct rng *r, uint32_t prev)
{
    if (prev < m->n_ctx && m->ctx[prev].a.n) {
        const struct context *c = &m->ctx[prev];
        uint32_t k = alias_draw(&c->a, r);
        if (k < c->n_succ)
            return c->succ[k];
    }
    return alias_draw(&m->unigram, r);
}

static int is_punct(const struct model *m, uint32_t tok)
{
    return tok == m->r_period || tok == m->r_comma;
}

/* A word token (TAIL or a rank), drawn after `prev`; punctuation is drawn again, and after
 * 64 tries (never seen in practice) the most frequent word is taken. */
static uint32_t next_word(const struct model *m, struct rng *r, uint32_t prev)
{
    for (int i = 0; i < 64; i++) {
        uint32_t tok = next_token(m, r, prev);
        if (!is_punct(m, tok))
            return tok;
    }
    return m->r_word;
}

/* Appends word `tok` (TAIL: a new tail draw), capitalised when `cap`. */
static void put_word(struct text *t, const struct model *m, struct rng *r, uint32_t tok, int cap)
{
    text_reserve(t, 64);
    size_t at = t->len;
    if (tok == TAIL) {
        put_tail_word(t, draw_tail(m, r));
    } else {
        memcpy(t->p + t->len, m->forms + m->form_off[tok], m->form_len[tok]);
        t->len += m->form_len[tok];
    }
    if (!cap)
        return;
    unsigned char *c = (unsigned char *)t->p + at;
    if (c[0] >= 'a' && c[0] <= 'z')
        c[0] = (unsigned char)(c[0] - 0x20);
    else if (c[0] == 0xC3 && c[1] >= 0xA0 && c[1] <= 0xBE && c[1] != 0xB7)
        c[1] = (unsigned char)(c[1] - 0x20);
}

static uint32_t context_of(const struct model *m, uint32_t tok)
{
    return tok != TAIL && tok < m->n_ctx ? tok : NO_CONTEXT;
}

static size_t draw_length(struct rng *r, double mu, double sigma, size_t max)
{
    double x = exp(mu + sigma * rng_normal(r)) + 0.5;
    if (!(x >= 1))
        return 1;
    return x >= (double)max ? max : (size_t)x;
}

#define MAX_DOC_WORDS 2000000
#define MAX_TITLE_WORDS 24

struct doc {
    struct text title, text;
    size_t words;
};

/* Generates document `no` into `d` (its buffers reused). */
static void gen_doc(const struct model *m, uint64_t seed, uint64_t no, double doc_mu,
                    struct doc *d)
{
    struct rng r;
    rng_seed(&r, seed, no);
    size_t n_words = draw_length(&r, doc_mu, m->doc_sigma, MAX_DOC_WORDS);
    size_t n_title = draw_length(&r, m->title_mu, m->title_sigma, MAX_TITLE_WORDS);
    d->title.len = d->text.len = 0;
    d->words = n_words;

    uint32_t prev = 0;
    for (size_t i = 0; i < n_title; i++) {
        uint32_t tok = next_word(m, &r, prev);
        if (i) {
            text_reserve(&d->title, 1);
            d->title.p[d->title.len++] = ' ';
        }
        put_word(&d->title, m, &r, tok, i == 0);
        prev = context_of(m, tok);
    }

    struct text *t = &d->text;
    int start = 1, line_start = 1, after_punct = 1;
    prev = 0;
    for (size_t words = 0; words < n_words;) {
        uint32_t tok = after_punct ? next_word(m, &r, prev) : next_token(m, &r, prev);
        if (tok == m->r_period) {
            text_reserve(t, 2);
            t->p[t->len++] = '.';
            start = after_punct = 1;
            prev = 0;
            if ((rng_next(&r) >> 32) < m->newline_limit) {
                t->p[t->len++] = '\n';
                line_start = 1;
            }
            continue;
        }
        if (tok == m->r_comma) {
            text_reserve(t, 1);
            t->p[t->len++] = ',';
            after_punct = 1;
            prev = context_of(m, tok);
            continue;
        }
        if (!line_start) {
            text_reserve(t, 1);
            t->p[t->len++] = ' ';
        }
        put_word(t, m, &r, tok, start);
        start = line_start = after_punct = 0;
        prev = context_of(m, tok);
        words++;
    }
    /* end on a full stop: replace a trailing comma, drop a trailing line break */
    if (t->len && t->p[t->len - 1] == '\n')
        t->len--;
    if (t->len && t->p[t->len - 1] == ',')
        t->len--;
    if (t->len && t->p[t->len - 1] != '.') {
        text_reserve(t, 1);
        t->p[t->len++] = '.';
    }
}

/* ---- output ---- */

struct out {
    FILE *jsonl;
    const char *jsonl_path;
    const char *dir;
    uint64_t per_dir;
    uint64_t text_bytes, written_bytes;
};

static void write_jsonl(struct out *o, uint64_t no, const struct doc *d)
{
    FILE *f = o->jsonl;
    int n = fprintf(f, "{\"_id\":\"%llu\",\"title\":\"", (unsigned long long)no);
    fwrite(d->title.p, 1, d->title.len, f);
    fputs("\",\"text\":\"", f);
    /* forms need no escaping (kq_gen.h); line breaks do */
    const char *p = d->text.p, *end = p + d->text.len;
    size_t extra = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        fwrite(p, 1, (size_t)(stop - p), f);
        if (!nl)
            break;
        fputs("\\n", f);
        extra++;
        p = nl + 1;
    }
    fputs("\"}\n", f);
    o->written_bytes += (uint64_t)n + d->title.len + d->text.len + extra + 13;
}

static void make_dir(const char *path)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        die(1, "%s: %s", path, strerror(errno));
}

static void write_file(struct out *o, uint64_t no, uint64_t first, const struct doc *d)
{
    char path[PATH_MAX];
    uint64_t folder = no / o->per_dir;
    if (no == first || no % o->per_dir == 0) {
        snprintf(path, sizeof path, "%s/%06llu", o->dir, (unsigned long long)folder);
        make_dir(path);
    }
    int n = snprintf(path, sizeof path, "%s/%06llu/%09llu.txt", o->dir, (unsigned long long)folder,
                     (unsigned long long)no);
    if (n < 0 || (size_t)n >= sizeof path)
        die(2, "%s: path too long", o->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        die(1, "%s: %s", path, strerror(errno));
    struct iovec iov[4] = {{d->title.p, d->title.len},
                           {(void *)"\n\n", 2},
                           {d->text.p, d->text.len},
                           {(void *)"\n", 1}};
    size_t want = d->title.len + d->text.len + 3;
    ssize_t got = writev(fd, iov, 4);
    if (got < 0 || (size_t)got != want) /* a regular file takes it whole or fails */
        die(1, "%s: %s", path, got < 0 ? strerror(errno) : "short write");
    if (close(fd) != 0)
        die(1, "%s: %s", path, strerror(errno));
    o->written_bytes += want;
}

/* ---- the command line ---- */

static uint64_t parse_count(const char *opt, const char *s, uint64_t max)
{
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno || s[0] == '-' || v > max)
        die(2, "%s: expected a whole number up to %llu, got '%s'", opt, (unsigned long long)max, s);
    return v;
}

static uint64_t parse_size(const char *opt, const char *s)
{
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || errno || !(v > 0) || s[0] == '-')
        die(2, "%s: expected a size such as 500M or 2GiB, got '%s'", opt, s);
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {{"", 1},     {"B", 1},        {"k", 1e3},      {"K", 1e3},
                 {"M", 1e6},  {"G", 1e9},      {"T", 1e12},     {"KiB", 1024.0},
                 {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
                 {"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            double b = v * units[i].mult;
            if (b >= 1e18)
                break;
            return (uint64_t)b;
        }
    }
    die(2, "%s: expected a size such as 500M or 2GiB, got '%s'", opt, s);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The mean words per document that makes documents of `target` bytes on average: a pilot
 * of documents (from their own streams) measures title bytes and text bytes per word. */
static double calibrate_words(const struct model *m, uint64_t seed, double target)
{
    struct doc d = {{NULL, 0, 0}, {NULL, 0, 0}, 0};
    double title_bytes = 0, text_bytes = 0, words = 0;
    const uint64_t pilot = 2000, base = UINT64_C(1) << 62;
    for (uint64_t i = 0; i < pilot; i++) {
        gen_doc(m, seed, base + i, m->doc_mu, &d);
        title_bytes += (double)d.title.len;
        text_bytes += (double)d.text.len;
        words += (double)d.words;
    }
    free(d.title.p);
    free(d.text.p);
    double per_word = text_bytes / words, mean = (target - title_bytes / (double)pilot) / per_word;
    if (mean < 1)
        die(2, "--bytes over --docs leaves %.0f bytes per document: too few for the titles and "
               "one word each",
            target);
    return mean;
}

enum { OPT_SEED = 256, OPT_FIRST, OPT_VOCAB, OPT_MEAN, OPT_PER_DIR, OPT_LEARN, OPT_WORDS,
       OPT_CONTEXTS, OPT_SUCCESSORS, OPT_SOURCE };

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"docs", required_argument, NULL, 'n'},
        {"bytes", required_argument, NULL, 's'},
        {"jsonl", required_argument, NULL, 'o'},
        {"dir", required_argument, NULL, 'd'},
        {"per-dir", required_argument, NULL, OPT_PER_DIR},
        {"seed", required_argument, NULL, OPT_SEED},
        {"first", required_argument, NULL, OPT_FIRST},
        {"vocab", required_argument, NULL, OPT_VOCAB},
        {"mean-words", required_argument, NULL, OPT_MEAN},
        {"learn", no_argument, NULL, OPT_LEARN},
        {"words", required_argument, NULL, OPT_WORDS},
        {"contexts", required_argument, NULL, OPT_CONTEXTS},
        {"successors", required_argument, NULL, OPT_SUCCESSORS},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    uint64_t n_docs = 0, n_bytes = 0, seed = 1, first = 0, per_dir = 1000;
    int have_docs = 0, quiet = 0, learn = 0;
    double mean_words = 0;
    const char *jsonl = NULL, *dir = NULL, *vocab = KQ_GEN_DEFAULT_VOCAB;
    struct kq_gen_learn_opts lopt = {30000, 2000, 16, "(unnamed)"};
    int c;
    while ((c = getopt_long(argc, argv, "n:s:o:d:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            n_docs = parse_count("--docs", optarg, UINT64_C(1) << 50);
            have_docs = 1;
            break;
        case 's':
            n_bytes = parse_size("--bytes", optarg);
            break;
        case 'o':
            jsonl = optarg;
            break;
        case 'd':
            dir = optarg;
            break;
        case OPT_PER_DIR:
            per_dir = parse_count("--per-dir", optarg, UINT64_C(1) << 32);
            if (!per_dir)
                die(2, "--per-dir: must be at least 1");
            break;
        case OPT_SEED:
            seed = parse_count("--seed", optarg, UINT64_MAX);
            break;
        case OPT_FIRST:
            first = parse_count("--first", optarg, UINT64_C(1) << 50);
            break;
        case OPT_VOCAB:
            vocab = optarg;
            break;
        case OPT_MEAN: {
            char *end;
            mean_words = strtod(optarg, &end);
            if (end == optarg || *end || !(mean_words >= 1 && mean_words <= 1e6))
                die(2, "--mean-words: expected a number from 1 to 1000000, got '%s'", optarg);
            break;
        }
        case OPT_LEARN:
            learn = 1;
            break;
        case OPT_WORDS:
            lopt.n_words = parse_count("--words", optarg, 1u << 24);
            break;
        case OPT_CONTEXTS:
            lopt.n_contexts = parse_count("--contexts", optarg, 1u << 24);
            break;
        case OPT_SUCCESSORS:
            lopt.n_successors = parse_count("--successors", optarg, 256);
            break;
        case OPT_SOURCE:
            lopt.source = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 'V':
            printf("kq_gen %s\n", KQ_GEN_VERSION);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }

    if (learn) {
        if (lopt.n_words < 3 || lopt.n_contexts < 1)
            die(2, "--learn: --words must be at least 3 and --contexts at least 1");
        static const char *const stdin_only[] = {"-"};
        const char *const *paths = optind < argc ? (const char *const *)argv + optind : stdin_only;
        size_t n_paths = optind < argc ? (size_t)(argc - optind) : 1;
        FILE *out = stdout;
        if (jsonl && strcmp(jsonl, "-") != 0 && !(out = fopen(jsonl, "w")))
            die(1, "%s: %s", jsonl, strerror(errno));
        int rc = kq_gen_learn(paths, n_paths, out, &lopt);
        if (out != stdout && fclose(out) != 0 && rc == 0)
            die(1, "%s: %s", jsonl, strerror(errno));
        return rc ? 1 : 0;
    }

    if (optind < argc)
        die(2, "unexpected argument '%s' (see --help)", argv[optind]);
    if (!have_docs && !n_bytes)
        die(2, "give --docs N and/or --bytes SIZE (see --help)");
    if (!jsonl && !dir)
        die(2, "give --jsonl FILE and/or --dir DIR (see --help)");

    struct model m;
    model_load(&m, vocab);
    double doc_mu = m.doc_mu, sigma2 = m.doc_sigma * m.doc_sigma;
    if (mean_words > 0)
        doc_mu = log(mean_words) - sigma2 / 2;
    else if (have_docs && n_bytes) {
        if (!n_docs)
            die(2, "--bytes with --docs 0");
        doc_mu = log(calibrate_words(&m, seed, (double)n_bytes / (double)n_docs)) - sigma2 / 2;
    }

    struct out o = {NULL, jsonl, dir, per_dir, 0, 0};
    if (jsonl) {
        o.jsonl = strcmp(jsonl, "-") == 0 ? stdout : fopen(jsonl, "w");
        if (!o.jsonl)
            die(1, "%s: %s", jsonl, strerror(errno));
        setvbuf(o.jsonl, NULL, _IOFBF, 1 << 20);
    }
    if (dir)
        make_dir(dir);

    double t0 = now_seconds();
    struct doc d = {{NULL, 0, 0}, {NULL, 0, 0}, 0};
    uint64_t no = first, words = 0;
    for (;;) {
        if (have_docs && no - first >= n_docs)
            break;
        if (!have_docs && o.text_bytes >= n_bytes)
            break;
        gen_doc(&m, seed, no, doc_mu, &d);
        if (o.jsonl)
            write_jsonl(&o, no, &d);
        if (dir)
            write_file(&o, no, first, &d);
        o.text_bytes += d.title.len + d.text.len;
        words += d.words;
        no++;
    }
    if (o.jsonl && (fflush(o.jsonl) != 0 || ferror(o.jsonl)))
        die(1, "%s: write error: %s", jsonl, strerror(errno));
    if (o.jsonl && o.jsonl != stdout && fclose(o.jsonl) != 0)
        die(1, "%s: %s", jsonl, strerror(errno));
    double secs = now_seconds() - t0;
    if (!quiet) {
        fprintf(stderr,
                "kq_gen: %llu documents, %llu words, %.1f MB of text (%.1f MB written) in "
                "%.2f s: %.1f MB/s written\n",
                (unsigned long long)(no - first), (unsigned long long)words,
                (double)o.text_bytes / 1e6, (double)o.written_bytes / 1e6, secs,
                secs > 0 ? (double)o.written_bytes / 1e6 / secs : 0);
    }
    free(d.title.p);
    free(d.text.p);
    model_release(&m);
    return 0;
}
