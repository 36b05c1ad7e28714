/* tests/query/test_snippet.c: passage choice, rendering, spans and line numbers, on the
 * corpus and on small crafted documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "query/snippet.h"
#include "testutil.h"
#include "text/text.h"
#include "util/alloc.h"

static const char *const corpus[] = {
    "000_2d90944b1258bdb7.txt", "001_374e089854da5ecd.txt", "002_5dac5894a5048747.txt",
    "003_b721ed12405fbad4.txt", "004_0eb3009ce8d47aab.txt",
};
#define N_CORPUS (sizeof corpus / sizeof corpus[0])

static kq_analyzer *en;

static int setup(void **state)
{
    (void)state;
    return kq_analyzer_new("english", &en, NULL);
}

static int teardown(void **state)
{
    (void)state;
    kq_analyzer_free(en);
    return 0;
}

/* ---- query terms ---- */

#define MAXQ 16

struct qterms {
    char buf[MAXQ][KQ_TERM_MAX + 1];
    struct kq_snippet_term t[MAXQ];
    size_t n;
};

static int add_term(void *ctx, const struct kq_token *tok)
{
    struct qterms *q = ctx;
    assert_true(q->n < MAXQ);
    memcpy(q->buf[q->n], tok->term, tok->len + 1);
    q->t[q->n] = (struct kq_snippet_term){q->buf[q->n], tok->len, 1.0, 0, 0};
    q->n++;
    return 0;
}

/* The analysed terms of `s`, all of weight 1. */
static void query(struct qterms *q, const char *s)
{
    q->n = 0;
    assert_int_equal(kq_analyze(en, s, strlen(s), 0, 0, add_term, q, NULL), 0);
}

/* A phrase: the analysed words of a string as indices into a qterms that holds them. */
struct qphrase {
    const struct qterms *q;
    uint32_t idx[KQ_SNIPPET_PHRASE_MAX_TERMS];
    uint32_t n;
};

static int add_phrase_term(void *ctx, const struct kq_token *tok)
{
    struct qphrase *p = ctx;
    assert_true(p->n < KQ_SNIPPET_PHRASE_MAX_TERMS);
    for (size_t i = 0; i < p->q->n; i++)
        if (p->q->t[i].len == tok->len && memcmp(p->q->t[i].term, tok->term, tok->len) == 0) {
            p->idx[p->n++] = (uint32_t)i;
            return 0;
        }
    fail_msg("phrase term '%s' is not a query term", tok->term);
    return 1;
}

/* `*ph` is the phrase `s` over the terms of `q` (consecutive positions); `p` holds it. */
static void phrase(struct qphrase *p, struct kq_snippet_phrase *ph, const struct qterms *q,
                   const char *s)
{
    p->q = q;
    p->n = 0;
    assert_int_equal(kq_analyze(en, s, strlen(s), 0, 0, add_phrase_term, p, NULL), 0);
    *ph = (struct kq_snippet_phrase){p->idx, NULL, p->n};
}

static int is_query_term(const struct qterms *q, const char *t, size_t len)
{
    for (size_t i = 0; i < q->n; i++)
        if (q->t[i].len == len && memcmp(q->t[i].term, t, len) == 0)
            return 1;
    return 0;
}

/* ---- invariants ---- */

static int valid_utf8(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s, *e = p + len;
    while (p < e) {
        size_t n;
        kq_utf8_decode(p, e, &n);
        if (*p >= 0x80 && n == 1)
            return 0;
        p += n;
    }
    return 1;
}

struct tokcheck {
    const struct qterms *q;
    const struct kq_snippet *s;
    size_t n_match; /* tokens of the text that are query terms */
};

static int check_token(void *ctx, const struct kq_token *tok)
{
    struct tokcheck *c = ctx;
    if (!is_query_term(c->q, tok->term, tok->len))
        return 0;
    int body = 0; /* a term of the body, not only of the title field */
    for (size_t i = 0; i < c->q->n; i++)
        if (c->q->t[i].len == tok->len && !memcmp(c->q->t[i].term, tok->term, tok->len)) {
            if (c->q->t[i].phrase_only)
                return 0; /* marked only inside a phrase occurrence: test_phrase_only_marks */
            body |= !c->q->t[i].title_only;
        }
    if (!body)
        return 0; /* never marked in the body: test_title_match */
    /* a query word of the text is exactly one span, unless the cap cut it (last word) */
    int found = 0;
    for (uint32_t i = 0; i < c->s->n_spans; i++)
        if (c->s->spans[i].start == tok->start && c->s->spans[i].end == tok->end)
            found = 1;
    if (!found) {
        const char *rest = c->s->text + tok->end;
        if (strcmp(rest, "\xe2\x80\xa6") != 0)
            fail_msg("query word '%.*s' at %zu of '%s' is not marked", (int)(tok->end - tok->start),
                     c->s->text + tok->start, tok->start, c->s->text);
    }
    c->n_match++;
    return 0;
}

/* The invariants of every snippet; spans checked against the query when q is non-NULL. */
static void check_snippet(const struct kq_snippet *s, const struct qterms *q, size_t max)
{
    assert_non_null(s->text);
    assert_int_equal(strlen(s->text), s->len);
    assert_true(s->len <= max);
    assert_true(valid_utf8(s->text, s->len));
    for (size_t i = 0; i < s->len; i++) {
        uint8_t c = (uint8_t)s->text[i];
        assert_true(c >= 0x20 && c != 0x7f);
        if (c == ' ')
            assert_true(i > 0 && i + 1 < s->len && s->text[i + 1] != ' ');
    }
    assert_true((s->n_spans == 0) == (s->spans == NULL));
    for (uint32_t i = 0; i < s->n_spans; i++) {
        assert_true(s->spans[i].start < s->spans[i].end);
        assert_true(s->spans[i].end <= s->len);
        if (i)
            assert_true(s->spans[i - 1].end <= s->spans[i].start);
        if (q) {
            /* each span is one token, a query term */
            struct qterms one;
            char w[256];
            size_t n = s->spans[i].end - s->spans[i].start;
            assert_true(n < sizeof w);
            memcpy(w, s->text + s->spans[i].start, n);
            w[n] = '\0';
            query(&one, w);
            assert_int_equal(one.n, 1);
            assert_true(is_query_term(q, one.t[0].term, one.t[0].len));
        }
    }
    if (q) {
        struct tokcheck c = {q, s, 0};
        assert_int_equal(kq_analyze(en, s->text, s->len, 0, 0, check_token, &c, NULL), 0);
    }
}

static int make(enum kq_format f, const char *doc, size_t len, uint32_t line0,
                const struct qterms *q, const struct kq_snippet_opts *opt, struct kq_snippet *s)
{
    kq_error err;
    /* an exactly sized copy, so that ASan sees any read past the end */
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, doc, len);
    int rc = kq_snippet_make(en, f, copy, len, line0, q ? q->t : NULL, q ? q->n : 0, opt, s, &err);
    free(copy);
    if (rc == 0)
        check_snippet(s, q,
                      opt && opt->max_bytes >= KQ_SNIPPET_MIN_BYTES ? opt->max_bytes
                                                                    : KQ_SNIPPET_MAX_BYTES);
    return rc;
}

static uint32_t lines_before(const char *doc, size_t off)
{
    uint32_t n = 0;
    for (size_t i = 0; i < off; i++)
        n += doc[i] == '\n';
    return n;
}

static int contains(const struct kq_snippet *s, const char *needle)
{
    return strstr(s->text, needle) != NULL;
}

static int starts_with(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static int ends_with(const struct kq_snippet *s, const char *p)
{
    size_t n = strlen(p);
    return s->len >= n && memcmp(s->text + s->len - n, p, n) == 0;
}

static void assert_no_markup(const struct kq_snippet *s)
{
    static const char *const marks[] = {"<sup", "</", "](", "<http", "http://", "https://"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (contains(s, marks[i]))
            fail_msg("markup '%s' in snippet '%s'", marks[i], s->text);
}

/* The span text of span i. */
static const char *span_text(const struct kq_snippet *s, uint32_t i, char *buf, size_t cap)
{
    size_t n = s->spans[i].end - s->spans[i].start;
    assert_true(n < cap);
    memcpy(buf, s->text + s->spans[i].start, n);
    buf[n] = '\0';
    return buf;
}

/* ---- tests ---- */

static void test_corpus(void **state)
{
    (void)state;
    struct qterms q;
    query(&q, "reciprocal defense procurement");
    assert_int_equal(q.n, 3);
    for (size_t d = 0; d < N_CORPUS; d++) {
        size_t len;
        char *doc = kqt_read_corpus(corpus[d], &len);
        struct kq_snippet s;
        assert_int_equal(make(kq_format_for_path(corpus[d]), doc, len, 1, &q, NULL, &s), 0);
        assert_true(s.n_spans >= 1);
        assert_no_markup(&s);
        /* the passage starts at src_start, on line `line` */
        assert_true(s.src_start < s.src_end && s.src_end <= len);
        assert_int_equal(s.line, 1 + lines_before(doc, s.src_start));
        /* the first matched word sits at match_line:match_col of the file */
        char w[256];
        span_text(&s, 0, w, sizeof w);
        char *line = kqt_line(doc, (int)s.match_line);
        assert_true(s.match_col >= 1 && s.match_col <= strlen(line));
        assert_true(starts_with(line + s.match_col - 1, w));
        assert_true(s.match_line >= s.line);
        free(line);
        /* the first word of the passage is on its start line */
        line = kqt_line(doc, (int)s.line);
        const char *first = s.text + (starts_with(s.text, "\xe2\x80\xa6") ? 3 : 0);
        size_t fl = strcspn(first, " ");
        assert_true(fl > 0 && fl < sizeof w);
        memcpy(w, first, fl);
        w[fl] = '\0';
        if (!strstr(line, w))
            fail_msg("'%s' not on line %u of %s", w, s.line, corpus[d]);
        free(line);
        /* document 000 has all three terms within 30 words */
        if (d == 0)
            assert_true(s.n_spans >= 3);
        kq_snippet_release(&s);
        kq_snippet_release(&s); /* released twice: a zeroed struct */
        free(doc);
    }
}

/* Queries aimed at the markup-heavy paragraphs of the corpus: nothing of it shows. */
static void test_corpus_markup(void **state)
{
    (void)state;
    static const char *const qs[] = {
        "Library of Congress pictures resource",
        "clean energy transition Inflation Reduction",
        "supply chain resiliency technology sphere",
        "artificial intelligence quantum science",
        "Alfred Palmer bombers",
    };
    for (size_t d = 0; d < N_CORPUS; d++) {
        size_t len;
        char *doc = kqt_read_corpus(corpus[d], &len);
        for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
            struct qterms q;
            query(&q, qs[i]);
            struct kq_snippet s;
            assert_int_equal(make(KQ_FORMAT_MARKDOWN, doc, len, 1, &q, NULL, &s), 0);
            assert_no_markup(&s);
            kq_snippet_release(&s);
        }
        free(doc);
    }
}

static void test_markdown_markup(void **state)
{
    (void)state;
    static const char doc[] =
        "# Title\n\n"
        "Seoul seeks a reciprocal defense procurement agreement.<sup>1</sup> See "
        "[the procurement memorandum](https://example.com/reciprocal-defense) and "
        "<https://example.org/defense/procurement> for details.\n";
    struct qterms q;
    query(&q, "reciprocal defense procurement");
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_MARKDOWN, doc, sizeof doc - 1, 1, &q, NULL, &s), 0);
    assert_no_markup(&s);
    assert_false(contains(&s, "example"));
    assert_false(contains(&s, "sup"));
    assert_true(contains(&s, "agreement. See the procurement memorandum and for details."));
    /* reciprocal, defense, procurement, procurement: the link text counts, its target not */
    assert_int_equal(s.n_spans, 4);
    assert_int_equal(s.line, 1);
    assert_int_equal(s.match_line, 3);
    assert_int_equal(s.match_col, sizeof "Seoul seeks a " - 1 + 1);
    kq_snippet_release(&s);
}

static void test_html_entities(void **state)
{
    (void)state;
    static const char doc[] =
        "<html><head><title>Procurement</title><style>p{defense:1}</style></head>\n"
        "<body><p>The &quot;reciprocal&quot;&nbsp;defense&#160;procurement &amp; "
        "<b>d&eacute;fense</b> <a href=\"/defense\">accords</a></p>\n"
        "<script>var reciprocal = 1;</script></body></html>\n";
    struct qterms q;
    query(&q, "reciprocal defense procurement");
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_HTML, doc, sizeof doc - 1, 1, &q, NULL, &s), 0);
    assert_string_equal(s.text, "The \"reciprocal\" defense procurement & d\xc3\xa9"
                                "fense accords");
    assert_int_equal(s.n_spans, 3);
    char w[64];
    assert_string_equal(span_text(&s, 0, w, sizeof w), "reciprocal");
    assert_string_equal(span_text(&s, 1, w, sizeof w), "defense");
    assert_string_equal(span_text(&s, 2, w, sizeof w), "procurement");
    assert_int_equal(s.line, 2);
    assert_int_equal(s.match_line, 2);
    assert_int_equal(s.match_col, sizeof "<body><p>The &quot;" - 1 + 1);
    kq_snippet_release(&s);
}

static void test_no_match(void **state)
{
    (void)state;
    size_t len;
    char *doc = kqt_read_corpus(corpus[4], &len);
    struct qterms q;
    query(&q, "zyzzyva quokka");
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_MARKDOWN, doc, len, 7, &q, NULL, &s), 0);
    assert_int_equal(s.n_spans, 0);
    assert_null(s.spans);
    assert_false(starts_with(s.text, "\xe2\x80\xa6"));
    assert_true(ends_with(&s, "\xe2\x80\xa6"));
    /* the start of the body: the first 30 words */
    assert_int_equal(s.line, 7 + lines_before(doc, s.src_start));
    assert_int_equal(s.match_line, s.line);
    const char *p = doc;
    while (*p == ' ' || *p == '\n' || *p == '#')
        p++;
    assert_true(strncmp(s.text, p, 10) == 0);
    kq_snippet_release(&s);
    /* no terms at all: the same */
    assert_int_equal(make(KQ_FORMAT_MARKDOWN, doc, len, 1, NULL, NULL, &s), 0);
    assert_int_equal(s.n_spans, 0);
    assert_true(strncmp(s.text, p, 10) == 0);
    kq_snippet_release(&s);
    free(doc);
}

static void test_empty(void **state)
{
    (void)state;
    struct qterms q;
    query(&q, "defense");
    static const char *const docs[] = {"", "   \n\n  ", "!!! --- ...", "\0\0\0",
                                       "<p><img src=x></p>"};
    static const size_t lens[] = {0, 7, 11, 3, 18};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        for (int f = i == 4 ? KQ_FORMAT_HTML : 0; f < 3; f++) {
            struct kq_snippet s;
            assert_int_equal(make((enum kq_format)f, docs[i], lens[i], 5, &q, NULL, &s), 0);
            assert_string_equal(s.text, "");
            assert_int_equal(s.len, 0);
            assert_int_equal(s.n_spans, 0);
            assert_int_equal(s.line, 5);
            kq_snippet_release(&s);
        }
    }
    /* NULL document of length 0 */
    struct kq_snippet s;
    assert_int_equal(kq_snippet_make(en, KQ_FORMAT_PLAIN, NULL, 0, 1, q.t, q.n, NULL, &s, NULL), 0);
    assert_int_equal(s.len, 0);
    kq_snippet_release(&s);
}

static void test_short_document(void **state)
{
    (void)state;
    static const char doc[] = "\n\n  Defense   procurement\tis\r\nreciprocal.  \n";
    struct qterms q;
    query(&q, "reciprocal defense procurement");
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, sizeof doc - 1, 1, &q, NULL, &s), 0);
    assert_string_equal(s.text, "Defense procurement is reciprocal.");
    assert_int_equal(s.n_spans, 3);
    assert_int_equal(s.spans[0].start, 0);
    assert_int_equal(s.spans[0].end, 7);
    assert_int_equal(s.spans[2].start, 23);
    assert_int_equal(s.spans[2].end, 33);
    assert_int_equal(s.line, 3);
    assert_int_equal(s.match_line, 3);
    assert_int_equal(s.match_col, 3);
    assert_int_equal(s.src_start, 4);
    assert_int_equal(s.src_end, sizeof doc - 1 - 3);
    kq_snippet_release(&s);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char doc[] = "x\xff\xfe defense \xc3 proc\xe2\x82urement \xed\xa0\x80 "
                              "procurement \x01\x1b[31m red \xc2\x85 end \xf0\x9f";
    struct qterms q;
    query(&q, "defense procurement");
    for (int f = 0; f < 3; f++) {
        struct kq_snippet s;
        assert_int_equal(make((enum kq_format)f, doc, sizeof doc - 1, 1, &q, NULL, &s), 0);
        assert_true(contains(&s, "\xef\xbf\xbd"));
        assert_false(contains(&s, "\x1b"));
        assert_int_equal(s.n_spans, 2);
        kq_snippet_release(&s);
    }
}

static void test_weights(void **state)
{
    (void)state;
    /* window A: three occurrences of a common term; window B, 60 words later: two rare
     * terms once each. By occurrences A wins (3 x 1.5 > 2 + 2); by distinct terms B. */
    char doc[4096];
    size_t n = 0;
    n += (size_t)snprintf(doc + n, sizeof doc - n, "alliance alliance alliance\n");
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "filler%c ", 'a' + i % 26);
    n += (size_t)snprintf(doc + n, sizeof doc - n, "\nsemiconductor offsets\n");
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "filler%c ", 'a' + i % 26);
    struct qterms q;
    query(&q, "alliance semiconductor offsets");
    assert_int_equal(q.n, 3);
    q.t[0].weight = 1.5;
    q.t[1].weight = 2.0;
    q.t[2].weight = 2.0;
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, NULL, &s), 0);
    assert_int_equal(s.n_spans, 2);
    assert_true(contains(&s, "semiconductor offsets"));
    assert_int_equal(s.match_line, 3);
    assert_int_equal(s.match_col, 1);
    /* the matches are recentred: words on both sides */
    assert_true(starts_with(s.text, "\xe2\x80\xa6"));
    assert_true(ends_with(&s, "\xe2\x80\xa6"));
    assert_true(s.spans[0].start > 40);
    assert_true(s.len - s.spans[1].end > 40);
    kq_snippet_release(&s);
    /* a common term heavier than both rare ones together wins */
    q.t[0].weight = 5.0;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, NULL, &s), 0);
    assert_int_equal(s.n_spans, 3);
    assert_int_equal(s.match_line, 1);
    kq_snippet_release(&s);
    /* equal distinct weight: more occurrences win (line 3 has offsets twice) */
    static const char doc2[] = "offsets here\n"
                               "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e\n"
                               "offsets offsets there\n"
                               "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e\n";
    query(&q, "offsets");
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc2, sizeof doc2 - 1, 1, &q, NULL, &s), 0);
    assert_int_equal(s.n_spans, 2);
    assert_int_equal(s.match_line, 3);
    kq_snippet_release(&s);
    /* all else equal: the earliest; a term listed twice counts once */
    static const char doc3[] = "offsets here\n"
                               "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e\n"
                               "offsets there\n";
    q.t[1] = q.t[0];
    q.n = 2;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc3, sizeof doc3 - 1, 1, &q, NULL, &s), 0);
    assert_int_equal(s.match_line, 1);
    kq_snippet_release(&s);
}

static void test_max_bytes(void **state)
{
    (void)state;
    /* every word has two-byte characters; the match is 70 words in */
    char doc[8192];
    size_t n = 0;
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "\xc3\xa9t\xc3\xa9%d ", i);
    n += (size_t)snprintf(doc + n, sizeof doc - n, "d\u00e9fense ");
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "\xe2\x82\xac\xe2\x82\xac%d ", i);
    struct qterms q;
    query(&q, "d\u00e9fense");
    for (size_t max = KQ_SNIPPET_MIN_BYTES; max <= 200; max++) {
        struct kq_snippet_opts opt = {.window_words = 0, .max_bytes = max};
        struct kq_snippet s;
        assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
        assert_true(s.len <= max);
        assert_true(starts_with(s.text, "\xe2\x80\xa6"));
        assert_true(ends_with(&s, "\xe2\x80\xa6"));
        /* the match stays in view */
        assert_int_equal(s.n_spans, 1);
        char w[64];
        assert_string_equal(span_text(&s, 0, w, sizeof w), "d\u00e9fense");
        kq_snippet_release(&s);
    }
    /* a cap below the minimum is raised to it */
    struct kq_snippet_opts tiny = {.window_words = 0, .max_bytes = 1};
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &tiny, &s), 0);
    assert_true(s.len <= KQ_SNIPPET_MIN_BYTES && s.len > 6);
    kq_snippet_release(&s);
    /* no space at all: cut on a character boundary */
    n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "\xc3\xa9\xc3\xa9\xc3\xa9\xe2\x82\xac");
    struct kq_snippet_opts opt = {.window_words = 0, .max_bytes = 50};
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
    assert_int_equal(s.n_spans, 0);
    assert_true(s.len <= 50 && s.len >= 46);
    assert_true(ends_with(&s, "\xe2\x80\xa6"));
    kq_snippet_release(&s);
}

/* Han text gives overlapping bigrams, so neighbouring tokens overlap: spans still come out
 * in order and disjoint, and widening never runs past the body (a fuzzer find). */
static void test_cjk_overlap(void **state)
{
    (void)state;
    static const char doc[] =
        "\xe9\x9f\x93\xe5\x9b\xbd\xe9\x98\xb2\xe8\xa1\x9b"              /* 韓国防衛 */
        "\xe8\xaa\xbf\xe9\x81\x94\xe3\x81\xae\xe9\x9f\x93\xe5\x9b\xbd"; /* 調達の韓国 */
    struct qterms q;
    query(&q, "\xe9\x9f\x93\xe5\x9b\xbd\xe9\x98\xb2"); /* 韓国防: bigrams 韓国, 国防 */
    assert_int_equal(q.n, 2);
    for (size_t cut = 1; cut <= sizeof doc - 1; cut++)
        for (uint32_t w = 1; w <= 6; w++) {
            struct kq_snippet_opts opt = {.window_words = w, .max_bytes = 0};
            struct kq_snippet s;
            assert_int_equal(
                kq_snippet_make(en, KQ_FORMAT_PLAIN, doc, cut, 1, q.t, q.n, &opt, &s, NULL), 0);
            check_snippet(&s, NULL, KQ_SNIPPET_MAX_BYTES);
            kq_snippet_release(&s);
        }
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, sizeof doc - 1, 1, NULL, NULL, &s), 0);
    kq_snippet_release(&s);
    assert_int_equal(
        kq_snippet_make(en, KQ_FORMAT_PLAIN, doc, sizeof doc - 1, 1, q.t, q.n, NULL, &s, NULL), 0);
    /* 韓国 and 国防 overlap: marked as 韓国 then 防 */
    assert_int_equal(s.n_spans, 3);
    assert_int_equal(s.spans[0].start, 0);
    assert_int_equal(s.spans[0].end, 6);
    assert_int_equal(s.spans[1].start, 6);
    assert_int_equal(s.spans[1].end, 9);
    kq_snippet_release(&s);
}

static void test_window_and_lines(void **state)
{
    (void)state;
    size_t len;
    char *doc = kqt_read_corpus(corpus[0], &len);
    struct qterms q;
    query(&q, "reciprocal defense procurement");
    for (uint32_t w = 1; w <= 80; w += 7) {
        struct kq_snippet_opts opt = {.window_words = w, .max_bytes = 4000};
        struct kq_snippet s;
        assert_int_equal(make(KQ_FORMAT_MARKDOWN, doc, len, 100, &q, &opt, &s), 0);
        assert_true(s.n_spans >= 1 && s.n_spans <= w);
        assert_int_equal(s.line, 100 + lines_before(doc, s.src_start));
        assert_true(s.match_line >= s.line);
        kq_snippet_release(&s);
    }
    /* every cap keeps a match in view, whole */
    for (size_t max = KQ_SNIPPET_MIN_BYTES; max <= 400; max++) {
        struct kq_snippet_opts opt = {.window_words = 0, .max_bytes = max};
        struct kq_snippet s;
        assert_int_equal(make(KQ_FORMAT_MARKDOWN, doc, len, 1, &q, &opt, &s), 0);
        if (s.n_spans < 1)
            fail_msg("no match marked in '%s' (cap %zu)", s.text, max);
        kq_snippet_release(&s);
    }
    /* huge window: clamped, works */
    struct kq_snippet_opts big = {.window_words = UINT32_MAX, .max_bytes = 0};
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_MARKDOWN, doc, len, 1, &q, &big, &s), 0);
    kq_snippet_release(&s);
    free(doc);
}

/* ---- phrases ---- */

/* `n` filler words (not query terms) appended at doc + *n_doc. */
static void filler(char *doc, size_t cap, size_t *n_doc, int n)
{
    for (int i = 0; i < n; i++)
        *n_doc += (size_t)snprintf(doc + *n_doc, cap - *n_doc, "filler%c ", 'a' + i % 26);
}

/* Line `line` (1-based) of the source holds the first match, and the text holds `want`. */
static void assert_chosen(const struct kq_snippet *s, uint32_t line, const char *want)
{
    if (s->match_line != line || (want && !contains(s, want)))
        fail_msg("chose line %u '%s', want line %u with '%s'", s->match_line, s->text, line,
                 want ? want : "");
}

/* Both words scattered and more often in one window, the phrase once in another: the
 * phrase wins; without phrases the scattered window does (the old order). */
static void test_phrase_wins(void **state)
{
    (void)state;
    char doc[4096];
    size_t n = 0;
    n += (size_t)snprintf(doc + n, sizeof doc - n,
                          "defense industry through procurement and defense investment "
                          "procurement\n");
    filler(doc, sizeof doc, &n, 60);
    n += (size_t)snprintf(doc + n, sizeof doc - n, "\nmajor defense procurement contracts\n");
    filler(doc, sizeof doc, &n, 60);
    struct qterms q;
    query(&q, "defense procurement");
    struct qphrase p;
    struct kq_snippet_phrase ph;
    phrase(&p, &ph, &q, "defense procurement");
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, NULL, &s), 0);
    assert_chosen(&s, 1, "through procurement");
    kq_snippet_release(&s);
    struct kq_snippet_opts opt = {.phrases = &ph, .n_phrases = 1};
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
    assert_chosen(&s, 3, "major defense procurement contracts");
    assert_int_equal(s.n_spans, 2);
    kq_snippet_release(&s);
    /* two occurrences beat one, even with fewer matched tokens */
    n = 0;
    n += (size_t)snprintf(doc + n, sizeof doc - n,
                          "procurement defense defense procurement procurement defense\n");
    filler(doc, sizeof doc, &n, 60);
    n += (size_t)snprintf(doc + n, sizeof doc - n,
                          "\nfirst defense procurement then defense procurement again\n");
    filler(doc, sizeof doc, &n, 60);
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
    assert_chosen(&s, 3, "first defense procurement then defense procurement again");
    kq_snippet_release(&s);
    /* but a heavier set of distinct terms still comes first */
    query(&q, "defense procurement offsets");
    phrase(&p, &ph, &q, "defense procurement");
    n = 0;
    n += (size_t)snprintf(doc + n, sizeof doc - n, "defense then procurement and offsets\n");
    filler(doc, sizeof doc, &n, 60);
    n += (size_t)snprintf(doc + n, sizeof doc - n, "\ndefense procurement\n");
    filler(doc, sizeof doc, &n, 60);
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
    assert_chosen(&s, 1, "offsets");
    kq_snippet_release(&s);
}

/* The words of phrase_only terms are marked only where the phrase occurs; a term of its
 * own as well is marked anywhere. */
static void test_phrase_only_marks(void **state)
{
    (void)state;
    const char *doc = "co-development and co-production of missiles, co-sustainment";
    struct qterms q;
    query(&q, "co production");
    struct qphrase p;
    struct kq_snippet_phrase ph;
    phrase(&p, &ph, &q, "co production");
    struct kq_snippet_opts opt = {.phrases = &ph, .n_phrases = 1};
    for (int only = 0; only <= 1; only++) {
        q.t[0].phrase_only = q.t[1].phrase_only = only;
        struct kq_snippet s;
        assert_int_equal(make(KQ_FORMAT_PLAIN, doc, strlen(doc), 1, &q, &opt, &s), 0);
        assert_int_equal(s.n_spans, only ? 2 : 4); /* co production, or every co too */
        const char *first = only ? "co-production" : "co-development";
        assert_memory_equal(s.text + s.spans[0].start, "co", 2);
        assert_int_equal(s.spans[0].start, strstr(s.text, first) - s.text);
        assert_int_equal(s.match_col, (uint32_t)(strstr(doc, first) - doc + 1));
        kq_snippet_release(&s);
    }
    /* the term given alone as well ("co" in the query besides the phrase) */
    q.t[0].phrase_only = 0;
    q.t[1].phrase_only = 1;
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, strlen(doc), 1, &q, &opt, &s), 0);
    assert_int_equal(s.n_spans, 4); /* co, co production, co */
    kq_snippet_release(&s);
}

/* A word found only in an HTML <title>, which stands apart from the body: the line and
 * column to jump to are the title's. */
static void test_title_match(void **state)
{
    (void)state;
    const char *doc = "<html><head>\n<title>Wombat Facts</title>\n</head>\n<body>\n"
                      "<p>Marsupials dig burrows.</p>\n</body></html>\n";
    struct qterms q;
    query(&q, "wombat");
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_HTML, doc, strlen(doc), 1, &q, NULL, &s), 0);
    assert_int_equal(s.n_spans, 0);
    assert_int_equal(s.match_line, 2);
    assert_int_equal(s.match_col, 8);
    assert_int_equal(s.line, 5); /* the passage is the body's */
    kq_snippet_release(&s);
    query(&q, "burrows"); /* a match in the body wins */
    assert_int_equal(make(KQ_FORMAT_HTML, doc, strlen(doc), 1, &q, NULL, &s), 0);
    assert_int_equal(s.match_line, 5);
    assert_int_equal(s.match_col, 19);
    kq_snippet_release(&s);
    query(&q, "facts"); /* the word itself, not the title's start */
    assert_int_equal(make(KQ_FORMAT_HTML, doc, strlen(doc), 1, &q, NULL, &s), 0);
    assert_int_equal(s.match_line, 2);
    assert_int_equal(s.match_col, 15);
    kq_snippet_release(&s);
    /* a title over lines; a word spelled with an entity is found in the decoded title */
    const char *multi = "<html><head><title>Annual\n  report &amp;\n  Caf&eacute; biannual"
                        "</title></head><body><p>x</p></body></html>";
    query(&q, "biannual");
    assert_int_equal(make(KQ_FORMAT_HTML, multi, strlen(multi), 1, &q, NULL, &s), 0);
    assert_int_equal(s.match_line, 3);
    assert_int_equal(s.match_col, 15);
    kq_snippet_release(&s);
    query(&q, "café");
    assert_int_equal(make(KQ_FORMAT_HTML, multi, strlen(multi), 1, &q, NULL, &s), 0);
    assert_int_equal(s.match_line, 1);
    assert_int_equal(s.match_col, 20);
    kq_snippet_release(&s);
    /* a bare '<' is text inside <title> */
    const char *lt = "<title>x < y zebra</TITLE><p>body</p>";
    query(&q, "zebra");
    assert_int_equal(make(KQ_FORMAT_HTML, lt, strlen(lt), 1, &q, NULL, &s), 0);
    assert_int_equal(s.match_col, 14);
    kq_snippet_release(&s);
    /* a body without a word: the title still holds the match */
    const char *empty = "<html>\n<head>\n\n<title>Wombat</title></head><body></body>";
    query(&q, "wombat");
    assert_int_equal(make(KQ_FORMAT_HTML, empty, strlen(empty), 1, &q, NULL, &s), 0);
    assert_int_equal(s.len, 0);
    assert_int_equal(s.match_line, 4);
    assert_int_equal(s.match_col, 8);
    kq_snippet_release(&s);
    /* a term of the title field (title:facts) is never the body's: not marked there, the
     * match is the title's; as a term of the text too, the body's again */
    const char *both = "<title>Wombat Facts</title>\n<p>More facts here.</p>";
    query(&q, "facts");
    q.t[0].title_only = 1;
    assert_int_equal(make(KQ_FORMAT_HTML, both, strlen(both), 1, &q, NULL, &s), 0);
    assert_int_equal(s.n_spans, 0);
    assert_int_equal(s.match_line, 1);
    assert_int_equal(s.match_col, 15);
    kq_snippet_release(&s);
    q.t[1] = q.t[0];
    q.t[1].title_only = 0;
    q.n = 2;
    assert_int_equal(make(KQ_FORMAT_HTML, both, strlen(both), 1, &q, NULL, &s), 0);
    assert_int_equal(s.n_spans, 1);
    assert_int_equal(s.match_line, 2);
    assert_int_equal(s.match_col, 9);
    kq_snippet_release(&s);
}

/* Columns on the first line of a file that starts with a byte-order mark count from after
 * it, as editors show the line. */
static void test_bom_column(void **state)
{
    (void)state;
    static const char doc[] = "\xef\xbb\xbf" "Budget overview\nsecond overview line\n";
    struct qterms q;
    query(&q, "budget");
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, sizeof doc - 1, 1, &q, NULL, &s), 0);
    assert_int_equal(s.match_line, 1);
    assert_int_equal(s.match_col, 1);
    kq_snippet_release(&s);
    query(&q, "overview");
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, sizeof doc - 1, 1, &q, NULL, &s), 0);
    assert_int_equal(s.match_line, 1);
    assert_int_equal(s.match_col, 8);
    kq_snippet_release(&s);
    query(&q, "line"); /* later lines are as they were */
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, sizeof doc - 1, 1, &q, NULL, &s), 0);
    assert_int_equal(s.match_line, 2);
    assert_int_equal(s.match_col, 17);
    kq_snippet_release(&s);
}

/* A phrase as the very first or very last tokens of the body. */
static void test_phrase_edges(void **state)
{
    (void)state;
    struct qterms q;
    query(&q, "defense procurement");
    struct qphrase p;
    struct kq_snippet_phrase ph;
    phrase(&p, &ph, &q, "defense procurement");
    for (uint32_t w = 2; w <= 40; w += 19) {
        struct kq_snippet_opts opt = {.window_words = w, .phrases = &ph, .n_phrases = 1};
        char doc[4096];
        size_t n = 0;
        struct kq_snippet s;
        /* at the start, scattered words later */
        n += (size_t)snprintf(doc + n, sizeof doc - n, "Defense procurement.\n");
        filler(doc, sizeof doc, &n, 50);
        n += (size_t)snprintf(doc + n, sizeof doc - n,
                              "\nprocurement x defense y procurement z "
                              "defense\n");
        filler(doc, sizeof doc, &n, 50);
        assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
        assert_chosen(&s, 1, "Defense procurement");
        assert_true(starts_with(s.text, "Defense"));
        assert_true(s.n_spans >= 2);
        assert_int_equal(s.src_start, 0);
        kq_snippet_release(&s);
        /* at the end, scattered words earlier */
        n = 0;
        n += (size_t)snprintf(doc + n, sizeof doc - n,
                              "procurement x defense y procurement z "
                              "defense\n");
        filler(doc, sizeof doc, &n, 50);
        n += (size_t)snprintf(doc + n, sizeof doc - n, "\n(defense procurement)");
        assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
        assert_chosen(&s, 3, "defense procurement)");
        assert_true(ends_with(&s, "defense procurement)"));
        assert_int_equal(s.src_end, n);
        kq_snippet_release(&s);
        /* the whole body is the phrase */
        assert_int_equal(make(KQ_FORMAT_PLAIN, "defense procurement", 19, 1, &q, &opt, &s), 0);
        assert_string_equal(s.text, w >= 2 ? "defense procurement" : "defense");
        kq_snippet_release(&s);
    }
}

/* A phrase of more tokens than the window asked for: the window grows to hold it, so that
 * it shows; nothing breaks at any window size. */
static void test_phrase_too_long(void **state)
{
    (void)state;
    static const char doc[] = "procurement x defense y defense z procurement\n"
                              "a b c d e f g h i j k l m n o p\n"
                              "reciprocal defense procurement agreement\n"
                              "a b c d e f g h i j k l m n o p\n";
    struct qterms q;
    query(&q, "reciprocal defense procurement agreement");
    struct qphrase p;
    struct kq_snippet_phrase ph;
    phrase(&p, &ph, &q, "reciprocal defense procurement agreement");
    assert_int_equal(ph.n_terms, 4);
    for (uint32_t w = 1; w <= 8; w++) {
        struct kq_snippet_opts plain = {.window_words = w};
        struct kq_snippet_opts opt = {.window_words = w, .phrases = &ph, .n_phrases = 1};
        struct kq_snippet a, b;
        assert_int_equal(make(KQ_FORMAT_PLAIN, doc, sizeof doc - 1, 1, &q, &plain, &a), 0);
        assert_int_equal(make(KQ_FORMAT_PLAIN, doc, sizeof doc - 1, 1, &q, &opt, &b), 0);
        /* the window grows to hold the phrase, which wins (at w >= 4 the distinct terms
         * already chose it) */
        assert_true(contains(&b, "reciprocal defense procurement agreement"));
        assert_int_equal(b.n_spans, 4);
        if (w >= 4)
            assert_string_equal(a.text, b.text);
        kq_snippet_release(&a);
        kq_snippet_release(&b);
    }
    /* a window of 3 over a two-word body of the phrase's words: still fine */
    struct kq_snippet_opts opt = {.window_words = 3, .phrases = &ph, .n_phrases = 1};
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_PLAIN, "defense procurement", 19, 1, &q, &opt, &s), 0);
    assert_string_equal(s.text, "defense procurement");
    kq_snippet_release(&s);
}

/* Occurrences overlap: "alpha alpha alpha" holds "alpha alpha" twice, which beats an
 * earlier window holding it once with as many matched tokens. */
static void test_phrase_overlap(void **state)
{
    (void)state;
    static const char doc[] = "alpha alpha zz zz alpha\n"
                              "a b c d e f g h i j\n"
                              "alpha alpha alpha zz zz\n"
                              "a b c d e f g h i j\n";
    struct qterms q;
    query(&q, "alpha");
    struct qphrase p;
    struct kq_snippet_phrase ph;
    phrase(&p, &ph, &q, "alpha alpha");
    struct kq_snippet_opts opt = {.window_words = 5, .phrases = &ph, .n_phrases = 1};
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, sizeof doc - 1, 1, &q, &opt, &s), 0);
    assert_chosen(&s, 3, "alpha alpha alpha");
    assert_int_equal(s.n_spans, 3);
    kq_snippet_release(&s);
    /* without the phrase: the tie goes to the earliest window */
    opt.n_phrases = 0;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, sizeof doc - 1, 1, &q, &opt, &s), 0);
    assert_chosen(&s, 1, NULL);
    kq_snippet_release(&s);
    /* "alpha alpha alpha" (3 occurrences of the phrase of two) against 4 alphas in pairs
     * (2 occurrences) */
    static const char doc2[] = "alpha alpha zz alpha alpha\n"
                               "a b c d e f g h i j\n"
                               "zz alpha alpha alpha alpha zz\n"
                               "a b c d e f g h i j\n";
    opt.n_phrases = 1;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc2, sizeof doc2 - 1, 1, &q, &opt, &s), 0);
    assert_chosen(&s, 3, "alpha alpha alpha alpha");
    kq_snippet_release(&s);
}

/* A phrase whose words are also query terms of their own, listed more than once: the
 * phrase index may name any copy. A phrase listed twice counts once. */
static void test_phrase_and_terms(void **state)
{
    (void)state;
    char doc[4096];
    size_t n = 0;
    n += (size_t)snprintf(doc + n, sizeof doc - n,
                          "procurement of defense, defense "
                          "procurement\n");
    filler(doc, sizeof doc, &n, 60);
    n += (size_t)snprintf(doc + n, sizeof doc - n, "\nthe defense procurement rules\n");
    filler(doc, sizeof doc, &n, 60);
    n += (size_t)snprintf(doc + n, sizeof doc - n, "\nalpha beta\n");
    filler(doc, sizeof doc, &n, 60);
    n += (size_t)snprintf(doc + n, sizeof doc - n, "\ngamma delta\n");
    struct qterms q;
    query(&q, "defense procurement defense");
    assert_int_equal(q.n, 3);
    struct kq_snippet_phrase ph = {(const uint32_t[]){2, 1}, NULL, 2};
    struct kq_snippet_opts opt = {.phrases = &ph, .n_phrases = 1};
    struct kq_snippet s;
    /* line 1 has the phrase once too, and more tokens */
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
    assert_chosen(&s, 1, "defense procurement");
    kq_snippet_release(&s);
    /* "procurement defense" (the reverse) is not on line 1 as a phrase but twice on... no
     * line: the first window by tokens */
    ph = (struct kq_snippet_phrase){(const uint32_t[]){1, 0}, NULL, 2};
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
    assert_chosen(&s, 1, NULL);
    kq_snippet_release(&s);
    /* the same distinct terms, one phrase each; the second phrase listed three times */
    query(&q, "alpha beta gamma delta");
    struct qphrase pa, pg;
    struct kq_snippet_phrase two[4];
    phrase(&pa, &two[0], &q, "alpha beta");
    phrase(&pg, &two[1], &q, "gamma delta");
    two[2] = two[3] = two[1];
    opt.phrases = two;
    opt.n_phrases = 4;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
    assert_chosen(&s, 5, "alpha beta");
    kq_snippet_release(&s);
    /* a phrase with a term that can never match never occurs */
    q.t[0].len = 0;
    opt.n_phrases = 2;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
    assert_chosen(&s, 7, "gamma delta");
    kq_snippet_release(&s);
}

static int add_words(void *ctx, const struct kq_token *tok)
{
    (void)tok;
    (*(int *)ctx)++;
    return 0;
}

/* Gaps: a query word the analyser dropped (over-long) leaves a gap the body must have. */
static void test_phrase_gap(void **state)
{
    (void)state;
    char longw[KQ_TERM_MAX + 8];
    memset(longw, 'x', sizeof longw - 1);
    longw[sizeof longw - 1] = '\0';
    int words = 0;
    assert_int_equal(kq_analyze(en, longw, strlen(longw), 0, 0, add_words, &words, NULL), 0);
    assert_int_equal(words, 0); /* dropped */
    char doc[4096];
    size_t n = 0;
    n += (size_t)snprintf(doc + n, sizeof doc - n, "alpha omega alpha omega\n");
    filler(doc, sizeof doc, &n, 60);
    n += (size_t)snprintf(doc + n, sizeof doc - n, "\nalpha %s omega\n", longw);
    filler(doc, sizeof doc, &n, 60);
    struct qterms q;
    query(&q, "alpha omega");
    assert_int_equal(q.n, 2);
    struct kq_snippet_phrase ph = {(const uint32_t[]){0, 1}, (const uint32_t[]){0, 2}, 2};
    struct kq_snippet_opts opt = {.phrases = &ph, .n_phrases = 1};
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
    assert_chosen(&s, 3, "alpha xxxx");
    kq_snippet_release(&s);
    /* consecutive: line 1, which has it; the gap then is no occurrence */
    ph.rel_pos = (const uint32_t[]){0, 1};
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
    assert_chosen(&s, 1, NULL);
    kq_snippet_release(&s);
    n = 0;
    n += (size_t)snprintf(doc + n, sizeof doc - n, "alpha %s omega alpha\n", longw);
    filler(doc, sizeof doc, &n, 60);
    n += (size_t)snprintf(doc + n, sizeof doc - n, "\nalpha omega\n");
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
    assert_chosen(&s, 3, "alpha omega");
    kq_snippet_release(&s);
}

/* KQ_SNIPPET_MAX_PHRASES phrases are taken, all of them (the last too); one more, or one
 * phrase too long, is KQ_ELIMIT; malformed phrases are KQ_EINVAL. */
static void test_phrase_limits(void **state)
{
    (void)state;
    char doc[4096];
    size_t n = 0;
    n += (size_t)snprintf(doc + n, sizeof doc - n, "procurement x defense y procurement\n");
    filler(doc, sizeof doc, &n, 60);
    n += (size_t)snprintf(doc + n, sizeof doc - n, "\ndefense procurement\n");
    struct qterms q;
    query(&q, "defense procurement");
    static struct kq_snippet_phrase many[KQ_SNIPPET_MAX_PHRASES + 1];
    static const uint32_t rev[] = {1, 0}, fwd[] = {0, 1};
    for (size_t i = 0; i < KQ_SNIPPET_MAX_PHRASES + 1; i++)
        many[i] = (struct kq_snippet_phrase){rev, NULL, 2};
    many[KQ_SNIPPET_MAX_PHRASES - 1].term = fwd;
    struct kq_snippet_opts opt = {.phrases = many, .n_phrases = KQ_SNIPPET_MAX_PHRASES};
    struct kq_snippet s;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
    assert_chosen(&s, 3, "defense procurement");
    kq_snippet_release(&s);
    kq_error err;
    opt.n_phrases = KQ_SNIPPET_MAX_PHRASES + 1;
    assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), KQ_ELIMIT);
    assert_null(s.text);
    /* the longest phrase works; one term more is too long */
    static uint32_t idx[KQ_SNIPPET_PHRASE_MAX_TERMS + 1];
    struct kq_snippet_phrase ph = {idx, NULL, KQ_SNIPPET_PHRASE_MAX_TERMS};
    opt = (struct kq_snippet_opts){.window_words = 100, .phrases = &ph, .n_phrases = 1};
    char rep[2048];
    size_t nr = 0;
    for (int i = 0; i < KQ_SNIPPET_PHRASE_MAX_TERMS; i++)
        nr += (size_t)snprintf(rep + nr, sizeof rep - nr, "defense ");
    assert_int_equal(make(KQ_FORMAT_PLAIN, rep, nr, 1, &q, &opt, &s), 0);
    kq_snippet_release(&s);
    ph.n_terms++;
    assert_int_equal(make(KQ_FORMAT_PLAIN, rep, nr, 1, &q, &opt, &s), KQ_ELIMIT);
    /* malformed */
    const struct kq_snippet_phrase bad[] = {
        {fwd, NULL, 0},
        {NULL, NULL, 2},
        {(const uint32_t[]){0, 2}, NULL, 2},
        {fwd, (const uint32_t[]){1, 2}, 2},
        {fwd, (const uint32_t[]){0, 0}, 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        opt = (struct kq_snippet_opts){.phrases = &bad[i], .n_phrases = 1};
        assert_int_equal(kq_snippet_make(en, KQ_FORMAT_PLAIN, doc, n, 1, q.t, q.n, &opt, &s, &err),
                         KQ_EINVAL);
        assert_int_equal(err.code, KQ_EINVAL);
        assert_null(s.text);
    }
    opt = (struct kq_snippet_opts){.phrases = NULL, .n_phrases = 1};
    assert_int_equal(kq_snippet_make(en, KQ_FORMAT_PLAIN, doc, n, 1, q.t, q.n, &opt, &s, &err),
                     KQ_EINVAL);
    /* no terms, so no phrase can name one */
    opt = (struct kq_snippet_opts){.phrases = many, .n_phrases = 1};
    assert_int_equal(kq_snippet_make(en, KQ_FORMAT_PLAIN, doc, n, 1, NULL, 0, &opt, &s, &err),
                     KQ_EINVAL);
}

/* Random bodies over a few words against brute force over every window: the snippet's
 * matched tokens are those of the best window by (distinct weight, phrase occurrences
 * wholly inside, matched tokens), earliest first (recentring keeps exactly those). */
static void test_phrase_brute_force(void **state)
{
    (void)state;
    static const char *const words[] = {"alpha", "beta", "gamma", "zz"}; /* zz: no term */
    struct qterms q;
    query(&q, "alpha beta gamma");
    assert_int_equal(q.n, 3);
    uint64_t rnd = 0x9e3779b97f4a7c15u;
#define RND(m) ((rnd = rnd * 6364136223846793005u + 1442695040888963407u), (rnd >> 33) % (m))
    for (int iter = 0; iter < 3000; iter++) {
        uint32_t w = 1 + (uint32_t)RND(8);
        int nt = 1 + (int)RND(40);
        int tok[64];
        size_t off[64];
        char doc[512];
        size_t n = 0;
        for (int i = 0; i < nt; i++) {
            tok[i] = (int)RND(4);
            off[i] = n;
            n += (size_t)snprintf(doc + n, sizeof doc - n, "%s%s", i ? " " : "", words[tok[i]]);
            off[i] += i ? 1 : 0;
        }
        for (size_t i = 0; i < q.n; i++)
            q.t[i].weight = 1.0 + (double)RND(2);
        struct kq_snippet_phrase ph[3];
        uint32_t idx[3][4];
        size_t n_ph = RND(4);
        for (size_t p = 0; p < n_ph; p++) {
            ph[p].n_terms = 1 + (uint32_t)RND(4);
            for (uint32_t i = 0; i < ph[p].n_terms; i++)
                idx[p][i] = (uint32_t)RND(3);
            ph[p].term = idx[p];
            ph[p].rel_pos = NULL;
        }
        /* brute force (duplicate phrases count once) */
        int dup[3] = {0};
        for (size_t p = 0; p < n_ph; p++)
            for (size_t r = 0; r < p; r++)
                if (!dup[r] && ph[r].n_terms == ph[p].n_terms &&
                    !memcmp(idx[r], idx[p], ph[p].n_terms * sizeof idx[p][0]))
                    dup[p] = 1;
        uint32_t w0 = w; /* the window asked for; it grows to the longest phrase */
        for (size_t p = 0; p < n_ph; p++)
            if (ph[p].n_terms > w)
                w = ph[p].n_terms;
        int n_win = nt >= (int)w ? nt - (int)w + 1 : 1;
        int best = -1;
        double bsum = 0;
        int bphr = 0, btot = 0;
        for (int st = 0; st < n_win; st++) {
            int end = st + (int)w < nt ? st + (int)w : nt; /* exclusive */
            double sum = 0;
            int tot = 0, phr = 0;
            for (int k = 0; k < 3; k++) {
                int has = 0;
                for (int i = st; i < end; i++)
                    has |= tok[i] == k;
                sum += has ? q.t[k].weight : 0;
            }
            for (int i = st; i < end; i++)
                tot += tok[i] < 3;
            for (size_t p = 0; p < n_ph; p++)
                for (int i = st; !dup[p] && i + (int)ph[p].n_terms <= end; i++) {
                    int ok = 1;
                    for (uint32_t j = 0; j < ph[p].n_terms; j++)
                        ok &= tok[i + (int)j] == (int)idx[p][j];
                    phr += ok;
                }
            if (best < 0 || sum > bsum ||
                (sum == bsum && (phr > bphr || (phr == bphr && tot > btot)))) {
                best = st;
                bsum = sum;
                bphr = phr;
                btot = tot;
            }
        }
        struct kq_snippet_opts opt = {
            .window_words = w0, .max_bytes = 4000, .phrases = ph, .n_phrases = n_ph};
        struct kq_snippet s;
        assert_int_equal(make(KQ_FORMAT_PLAIN, doc, n, 1, &q, &opt, &s), 0);
        /* the matched tokens of the best window, by source offset */
        size_t lead = starts_with(s.text, "\xe2\x80\xa6") ? 3 : 0;
        int end = best + (int)w < nt ? best + (int)w : nt;
        uint32_t k = 0;
        for (int i = best; i < end; i++) {
            if (tok[i] >= 3)
                continue;
            if (k >= s.n_spans || s.src_start + s.spans[k].start - lead != off[i])
                fail_msg("iteration %d (window %u): '%s' misses token %d of '%s'", iter, w, s.text,
                         i, doc);
            k++;
        }
        if (k != s.n_spans)
            fail_msg("iteration %d (window %u): '%s' has extra matches for '%s'", iter, w, s.text,
                     doc);
        kq_snippet_release(&s);
    }
#undef RND
}

/* ---- matching by position ---- */

struct mcollect {
    const struct qterms *q;
    struct kq_snippet_match *v;
    size_t n, cap;
    uint32_t n_tok;
};

static int collect_match(void *ctx, const struct kq_token *tok)
{
    struct mcollect *m = ctx;
    m->n_tok++;
    for (size_t i = 0; i < m->q->n; i++)
        if (m->q->t[i].len == tok->len && !memcmp(m->q->t[i].term, tok->term, tok->len)) {
            if (m->n == m->cap) {
                m->cap = m->cap ? 2 * m->cap : 64;
                m->v = realloc(m->v, m->cap * sizeof *m->v);
                assert_non_null(m->v);
            }
            m->v[m->n++] = (struct kq_snippet_match){tok->pos, (uint32_t)i};
        }
    return 0;
}

/* The occurrences of q's terms in field text as kq-index makes it (FORMAT.md, "Document
 * analysis"): a title that stands apart (`title`, else the extracted one when it is not part
 * of the body) first, one unused position, then the body. The caller frees m->v. */
static void index_matches(enum kq_format f, const char *doc, size_t len, const char *title,
                          const struct qterms *q, struct mcollect *m)
{
    struct kq_extracted x;
    assert_int_equal(kq_extract(f, doc, len, &x, NULL), 0);
    *m = (struct mcollect){q, NULL, 0, 0, 0};
    uint32_t pos = 0;
    if (title || !x.title_in_body) {
        const char *t = title ? title : x.title;
        assert_int_equal(kq_analyze(en, t, strlen(t), 0, 0, collect_match, m, &pos), 0);
        pos = m->n_tok ? pos + 1 : 0;
    }
    assert_int_equal(kq_analyze(en, x.body, x.body_len, pos, 0, collect_match, m, NULL), 0);
    kq_extracted_release(&x);
}

/* How many spans of `s` are words whose term is q's term `k`. */
static size_t span_terms(const struct kq_snippet *s, const struct qterms *q, size_t k)
{
    size_t n = 0;
    char w[256];
    for (uint32_t i = 0; i < s->n_spans; i++) {
        struct qterms one;
        query(&one, span_text(s, i, w, sizeof w));
        n += one.n == 1 && one.t[0].len == q->t[k].len &&
             !memcmp(one.t[0].term, q->t[k].term, one.t[0].len);
    }
    return n;
}

static void assert_same_snippet(const struct kq_snippet *a, const struct kq_snippet *b)
{
    assert_string_equal(a->text, b->text);
    assert_int_equal(a->n_spans, b->n_spans);
    if (a->n_spans)
        assert_memory_equal(a->spans, b->spans, a->n_spans * sizeof *a->spans);
    assert_int_equal(a->src_start, b->src_start);
    assert_int_equal(a->src_end, b->src_end);
    assert_int_equal(a->line, b->line);
    assert_int_equal(a->match_line, b->match_line);
    assert_int_equal(a->match_col, b->match_col);
}

/* The snippet of `doc` by the occurrences `m` (of `n` of them) equals the one by analysis. */
static void check_by_position(enum kq_format f, const char *doc, size_t len, const char *title,
                              const struct qterms *q, const struct kq_snippet_opts *base,
                              const struct kq_snippet_match *m, size_t n)
{
    struct kq_snippet_opts opt = base ? *base : (struct kq_snippet_opts){0};
    struct kq_snippet want, got;
    assert_int_equal(make(f, doc, len, 1, q, &opt, &want), 0);
    opt.by_position = 1;
    opt.matches = m;
    opt.n_matches = n;
    opt.title = title;
    opt.title_len = title ? strlen(title) : 0;
    assert_int_equal(make(f, doc, len, 1, q, &opt, &got), 0);
    assert_same_snippet(&got, &want);
    kq_snippet_release(&want);
    kq_snippet_release(&got);
}

/* Words matched by the index's positions give the snippet that stemming the body gives: on
 * the corpus, with phrases, inflected words (stemmed only to check them), a JSON title
 * ahead of the text, an HTML title, non-ASCII words. */
static void test_by_position(void **state)
{
    (void)state;
    static const char *const qs[] = {"reciprocal defense procurement", "industrial cooperation",
                                     "Korea's shipbuilding capacity", "the of and"};
    for (size_t d = 0; d < N_CORPUS; d++) {
        size_t len;
        char *doc = kqt_read_corpus(corpus[d], &len);
        enum kq_format f = kq_format_for_path(corpus[d]);
        for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
            struct qterms q;
            query(&q, qs[k]);
            struct qphrase p;
            struct kq_snippet_phrase ph;
            phrase(&p, &ph, &q, qs[k]);
            const struct kq_snippet_opts with_phrase = {.phrases = &ph, .n_phrases = 1};
            struct mcollect m;
            index_matches(f, doc, len, NULL, &q, &m);
            check_by_position(f, doc, len, NULL, &q, NULL, m.v, m.n);
            check_by_position(f, doc, len, NULL, &q, &with_phrase, m.v, m.n);
            free(m.v);
            /* the same text as a JSON-lines document with a title */
            const char *title = "Defense procurement: a reciprocal view";
            index_matches(KQ_FORMAT_PLAIN, doc, len, title, &q, &m);
            check_by_position(KQ_FORMAT_PLAIN, doc, len, title, &q, NULL, m.v, m.n);
            free(m.v);
        }
        free(doc);
    }
    /* a word too long unstemmed (65 letters) that stemming shortens: the unstemmed analysis
     * skips its position, the index has a token there */
    char longdoc[1024];
    size_t ln = (size_t)snprintf(longdoc, sizeof longdoc, "Title line\n\n");
    for (int i = 0; i < 40; i++)
        ln += (size_t)snprintf(longdoc + ln, sizeof longdoc - ln, "x%d ", i);
    ln += (size_t)snprintf(longdoc + ln, sizeof longdoc - ln, "%.62sing y0 y1 ziel z0", 
                           "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm");
    for (int i = 1; i < 40; i++)
        ln += (size_t)snprintf(longdoc + ln, sizeof longdoc - ln, " z%d", i);
    struct qterms lq;
    query(&lq, "ziel");
    struct mcollect lm;
    index_matches(KQ_FORMAT_PLAIN, longdoc, ln, NULL, &lq, &lm);
    check_by_position(KQ_FORMAT_PLAIN, longdoc, ln, NULL, &lq, NULL, lm.v, lm.n);
    free(lm.v);

    static const char html[] = "<html><head><title>Procurement rules</title></head><body>\n"
                               "<p>Reciprocal defence &amp; defense procurements, Zürich "
                               "Ærø Straße, 국방 조달 and 防衛調達.</p></body></html>\n";
    static const char *const hq[] = {"procurement", "zurich strasse", "국방", "防衛 調達",
                                     "aero"};
    for (size_t k = 0; k < sizeof hq / sizeof hq[0]; k++) {
        struct qterms q;
        query(&q, hq[k]);
        struct mcollect m;
        index_matches(KQ_FORMAT_HTML, html, sizeof html - 1, NULL, &q, &m);
        check_by_position(KQ_FORMAT_HTML, html, sizeof html - 1, NULL, &q, NULL, m.v, m.n);
        free(m.v);
    }
}

/* The index is trusted for where the words are: an occurrence left out of the matches is not
 * marked (so the snippet did come from the positions). Where the positions and the analysis
 * disagree, the body is analysed with stemming instead and the snippet is as without them. */
static void test_by_position_disagrees(void **state)
{
    (void)state;
    size_t len;
    char *doc = kqt_read_corpus(corpus[0], &len);
    enum kq_format f = kq_format_for_path(corpus[0]);
    struct qterms q;
    query(&q, "reciprocal defense procurement");
    struct mcollect m;
    index_matches(f, doc, len, NULL, &q, &m);
    assert_true(m.n > 3);
    struct kq_snippet want, got;
    assert_int_equal(make(f, doc, len, 1, &q, NULL, &want), 0);
    assert_true(want.n_spans >= 2);

    /* the occurrences of "reciprocal" left out: it is marked nowhere */
    struct kq_snippet_match *fewer = malloc(m.n * sizeof *fewer);
    assert_non_null(fewer);
    size_t n = 0;
    for (size_t i = 0; i < m.n; i++)
        if (m.v[i].term != 0)
            fewer[n++] = m.v[i];
    assert_true(n < m.n);
    struct kq_snippet_opts opt = {.by_position = 1, .matches = fewer, .n_matches = n};
    kq_error err;
    assert_int_equal(kq_snippet_make(en, f, doc, len, 1, q.t, q.n, &opt, &got, &err), 0);
    assert_int_equal(span_terms(&want, &q, 0) > 0 && span_terms(&got, &q, 0) == 0, 1);
    assert_true(span_terms(&got, &q, 1) + span_terms(&got, &q, 2) > 0);
    kq_snippet_release(&got);

    /* disagreements: every occurrence a position late; one early; one beyond the body;
     * one naming another term; two terms at one position */
    struct kq_snippet_match *bad = malloc((m.n + 1) * sizeof *bad);
    assert_non_null(bad);
    for (int how = 0; how < 5; how++) {
        memcpy(bad, m.v, m.n * sizeof *bad);
        n = m.n;
        switch (how) {
        case 0:
            for (size_t i = 0; i < n; i++)
                bad[i].pos++;
            break;
        case 1:
            bad[n / 2].pos--;
            break;
        case 2:
            bad[n++] = (struct kq_snippet_match){UINT32_MAX, 0};
            break;
        case 3:
            bad[n / 2].term = (bad[n / 2].term + 1) % (uint32_t)q.n;
            break;
        case 4:
            bad[n / 2 + 1] = bad[n / 2];
            bad[n / 2 + 1].term = (bad[n / 2].term + 1) % (uint32_t)q.n;
            break;
        }
        if (how == 1 && n / 2 > 0 && bad[n / 2].pos < bad[n / 2 - 1].pos)
            bad[n / 2].pos = bad[n / 2 - 1].pos; /* kept sorted: a second term there */
        opt = (struct kq_snippet_opts){.by_position = 1, .matches = bad, .n_matches = n};
        assert_int_equal(make(f, doc, len, 1, &q, &opt, &got), 0);
        assert_same_snippet(&got, &want);
        kq_snippet_release(&got);
    }
    /* no occurrence at all: nothing marked, the first window */
    opt = (struct kq_snippet_opts){.by_position = 1};
    assert_int_equal(kq_snippet_make(en, f, doc, len, 1, q.t, q.n, &opt, &got, &err), 0);
    struct kq_snippet first;
    assert_int_equal(make(f, doc, len, 1, NULL, NULL, &first), 0);
    assert_same_snippet(&got, &first);
    kq_snippet_release(&first);
    kq_snippet_release(&got);

    /* malformed: unsorted, a term out of range, NULL arrays */
    memcpy(bad, m.v, m.n * sizeof *bad);
    bad[0].pos = bad[1].pos + 1;
    opt = (struct kq_snippet_opts){.by_position = 1, .matches = bad, .n_matches = m.n};
    assert_int_equal(kq_snippet_make(en, f, doc, len, 1, q.t, q.n, &opt, &got, &err), KQ_EINVAL);
    assert_null(got.text);
    bad[0] = m.v[0];
    bad[1].term = (uint32_t)q.n;
    assert_int_equal(kq_snippet_make(en, f, doc, len, 1, q.t, q.n, &opt, &got, &err), KQ_EINVAL);
    opt.matches = NULL;
    assert_int_equal(kq_snippet_make(en, f, doc, len, 1, q.t, q.n, &opt, &got, &err), KQ_EINVAL);
    opt = (struct kq_snippet_opts){.title_len = 3};
    assert_int_equal(kq_snippet_make(en, f, doc, len, 1, q.t, q.n, &opt, &got, &err), KQ_EINVAL);
    kq_snippet_release(&want);
    free(bad);
    free(fewer);
    free(m.v);
    free(doc);
}

static void test_errors(void **state)
{
    (void)state;
    struct kq_snippet s;
    kq_error err;
    struct qterms q;
    query(&q, "defense");
    assert_int_equal(kq_snippet_make(en, (enum kq_format)7, "x", 1, 1, q.t, q.n, NULL, &s, &err),
                     KQ_EINVAL);
    assert_int_equal(err.code, KQ_EINVAL);
    assert_null(s.text);
    assert_int_equal(kq_snippet_make(NULL, KQ_FORMAT_PLAIN, "x", 1, 1, q.t, q.n, NULL, &s, &err),
                     KQ_EINVAL);
    assert_int_equal(kq_snippet_make(en, KQ_FORMAT_PLAIN, NULL, 1, 1, q.t, q.n, NULL, &s, &err),
                     KQ_EINVAL);
    assert_int_equal(kq_snippet_make(en, KQ_FORMAT_PLAIN, "x", 1, 1, NULL, 1, NULL, &s, &err),
                     KQ_EINVAL);
    assert_int_equal(kq_snippet_make(en, KQ_FORMAT_PLAIN, "x", 1, 1, q.t, KQ_SNIPPET_MAX_TERMS + 1,
                                     NULL, &s, &err),
                     KQ_ELIMIT);
    kq_snippet_release(NULL);
}

static void test_alloc_failure_sweep(void **state)
{
    (void)state;
    size_t len;
    char *doc = kqt_read_corpus(corpus[3], &len);
    static const char html[] = "<p>The &quot;reciprocal&quot; defense procurement</p>";
    struct qterms q;
    query(&q, "reciprocal defense procurement");
    struct qphrase p1, p2;
    struct kq_snippet_phrase ph[2];
    phrase(&p1, &ph[0], &q, "defense procurement");
    phrase(&p2, &ph[1], &q, "reciprocal defense");
    const struct kq_snippet_opts with_phrases = {.phrases = ph, .n_phrases = 2};
    const struct {
        enum kq_format f;
        const char *d;
        size_t len;
        const struct kq_snippet_opts *opt;
    } cases[] = {{KQ_FORMAT_MARKDOWN, doc, len, NULL},
                 {KQ_FORMAT_HTML, html, sizeof html - 1, NULL},
                 {KQ_FORMAT_MARKDOWN, doc, len, &with_phrases}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct kq_snippet want;
        assert_int_equal(make(cases[c].f, cases[c].d, cases[c].len, 1, &q, cases[c].opt, &want), 0);
        for (long n = 0;; n++) {
            struct kq_snippet s;
            kq_error err;
            kq_alloc_fail_after(n);
            int rc = kq_snippet_make(en, cases[c].f, cases[c].d, cases[c].len, 1, q.t, q.n,
                                     cases[c].opt, &s, &err);
            kq_alloc_fail_after(-1);
            if (rc == 0) {
                assert_int_equal(s.len, want.len);
                assert_memory_equal(s.text, want.text, s.len);
                assert_int_equal(s.n_spans, want.n_spans);
                assert_memory_equal(s.spans, want.spans, s.n_spans * sizeof *s.spans);
                assert_int_equal(s.line, want.line);
                kq_snippet_release(&s);
                break;
            }
            assert_int_equal(rc, KQ_ENOMEM);
            assert_int_equal(err.code, KQ_ENOMEM);
            assert_null(s.text);
            assert_null(s.spans);
            assert_true(n < 1000);
        }
        kq_snippet_release(&want);
    }
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),           cmocka_unit_test(test_corpus_markup),
        cmocka_unit_test(test_markdown_markup),  cmocka_unit_test(test_html_entities),
        cmocka_unit_test(test_no_match),         cmocka_unit_test(test_empty),
        cmocka_unit_test(test_short_document),   cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_weights),          cmocka_unit_test(test_max_bytes),
        cmocka_unit_test(test_cjk_overlap),      cmocka_unit_test(test_window_and_lines),
        cmocka_unit_test(test_errors),           cmocka_unit_test(test_alloc_failure_sweep),
        cmocka_unit_test(test_phrase_wins),      cmocka_unit_test(test_phrase_edges),
        cmocka_unit_test(test_phrase_too_long),  cmocka_unit_test(test_phrase_overlap),
        cmocka_unit_test(test_phrase_only_marks),
        cmocka_unit_test(test_title_match),
        cmocka_unit_test(test_phrase_and_terms), cmocka_unit_test(test_phrase_gap),
        cmocka_unit_test(test_phrase_limits),    cmocka_unit_test(test_phrase_brute_force),
        cmocka_unit_test(test_by_position),      cmocka_unit_test(test_by_position_disagrees),
        cmocka_unit_test(test_bom_column),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
