/* fuzz/fuzz_snippet.c: snippets of arbitrary documents.
 *
 * Input: byte 0 selects the format (byte % 3: plain, Markdown, HTML) and the window (1 +
 * (byte / 4) % 40 tokens, so that small windows reach the edges of the ring and the
 * recentring); byte 1 the cap (16 + 4 * byte bytes); the rest is the document, analysed
 * with the english analyser against fixed query terms (reciprocal defense procurement
 * korea, a Hangul word, a Han bigram, a number), one of weight 0, and fixed phrases over
 * them (consecutive, with a repeated term, with a gap, one longer than small windows), at
 * line0 = 5.
 *
 * Oracle: no crash or sanitizer report; the result is 0; the text is NUL-terminated at len,
 * at most the cap, valid UTF-8, free of control bytes and of leading, trailing or double
 * spaces; spans are non-empty, within the text, in order and non-overlapping; src_start <=
 * src_end <= the document length; line = line0 + the newlines before src_start;
 * match_line >= line >= line0 and match_col >= 1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/snippet.h"
#include "text/text.h"

static kq_analyzer *en;
static char bufs[16][KQ_TERM_MAX + 1];
static struct kq_snippet_term terms[16];
static size_t n_terms;

static int add_term(void *ctx, const struct kq_token *t)
{
    (void)ctx;
    if (n_terms == 16)
        return 0;
    memcpy(bufs[n_terms], t->term, t->len + 1);
    terms[n_terms] = (struct kq_snippet_term){bufs[n_terms], t->len, 1.0 + (double)n_terms, 0, 0};
    n_terms++;
    return 0;
}

static void init(void)
{
    static const char q[] = "reciprocal defense procurement korea \xed\x95\x9c\xea\xb5\xad "
                            "\xe9\x9f\x93\xe5\x9b\xbd 2024";
    if (kq_analyzer_new("english", &en, NULL) != 0)
        abort();
    if (kq_analyze(en, q, sizeof q - 1, 0, 0, add_term, NULL, NULL) != 0 || n_terms < 7)
        abort();
    terms[1].weight = 0; /* a weightless term is still marked */
}

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!en)
        init();
    if (size < 2)
        return 0;
    enum kq_format f = (enum kq_format)(data[0] % 3);
    static const uint32_t dp[] = {1, 2}, rdp[] = {0, 1, 2}, kk[] = {3, 3, 3}, gap[] = {0, 2},
                          long_[] = {0, 1, 2, 3, 4, 5, 6, 1, 2};
    static const struct kq_snippet_phrase phrases[] = {
        {dp, NULL, 2}, {rdp, NULL, 3}, {kk, NULL, 3}, {dp, gap, 2}, {long_, NULL, 9},
    };
    struct kq_snippet_opts opt = {.window_words = 1 + (uint32_t)(data[0] / 4) % 40,
                                  .max_bytes = 16 + 4 * (size_t)data[1],
                                  .phrases = phrases,
                                  .n_phrases = sizeof phrases / sizeof phrases[0]};
    size_t len = size - 2;
    char *doc = malloc(len ? len : 1);
    if (!doc)
        return 0;
    memcpy(doc, data + 2, len);
    const uint32_t line0 = 5;
    for (size_t i = 0; i < n_terms; i++) /* some terms marked only inside phrases */
        terms[i].phrase_only = data[1] >> (i % 8) & 1;
    struct kq_snippet s;
    kq_error err;
    if (kq_snippet_make(en, f, doc, len, line0, terms, n_terms, &opt, &s, &err) != 0)
        abort();
    if (!s.text || s.text[s.len] != '\0' || s.len > opt.max_bytes || !valid_utf8(s.text, s.len))
        abort();
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = (uint8_t)s.text[i];
        if (c < 0x20 || c == 0x7f)
            abort();
        if (c == ' ' && (i == 0 || i + 1 == s.len || s.text[i + 1] == ' '))
            abort();
    }
    if ((s.n_spans == 0) != (s.spans == NULL))
        abort();
    for (uint32_t i = 0; i < s.n_spans; i++)
        if (s.spans[i].start >= s.spans[i].end || s.spans[i].end > s.len ||
            (i && s.spans[i - 1].end > s.spans[i].start))
            abort();
    if (s.src_start > s.src_end || s.src_end > len)
        abort();
    uint32_t line = line0;
    for (size_t i = 0; i < s.src_start; i++)
        line += doc[i] == '\n';
    /* the match is in the passage when it marked a word; else it may be an HTML title's */
    if (s.line != line || s.line < line0 || s.match_line < line0 || s.match_col < 1 ||
        (s.n_spans && s.match_line < s.line))
        abort();
    kq_snippet_release(&s);
    free(doc);
    return 0;
}
