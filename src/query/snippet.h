/* query/snippet.h: the best short passage of a document for a query, with the matched words
 * marked and the line and column an editor jumps to.
 *
 * How the passage is chosen (query/snippet.c has the details):
 *
 *  1. The document is reduced to its body with kq_extract (markup blanked to spaces, so byte
 *     offsets and line numbers are the source's) and the body is analysed with the index's
 *     analyser, so a word matches when its analysed term equals a query term byte for byte.
 *     Given the index's positions of the query terms in the document, the body is analysed
 *     without stemming instead and a word matches by its position, its term checked (the
 *     corpus query of the README: 27.0 M instructions before, 17.4 M).
 *  2. Every run of `window_words` consecutive tokens is a candidate window. The best one
 *     maximises the sum of the weights of the DISTINCT query terms it contains (a term met
 *     five times counts once: two rare terms beat three occurrences of a common one); ties go
 *     to more occurrences of the query's phrases lying wholly inside the window (so that
 *     "defense procurement" shows the phrase rather than both words apart), then to more
 *     matched tokens, then to the earliest window. One pass, O(tokens), memory
 *     O(window_words) besides the terms and phrases.
 *  3. The chosen window is then slid, without changing its score, so that its matched words
 *     sit in the middle rather than at its end (the earliest of equal windows has its first
 *     match as its last word, which makes a poor snippet).
 *  4. The passage runs from the window's first token to its last, widened over adjoining
 *     punctuation (a quote before, `.` or `)` after; at most 32 bytes, never across
 *     whitespace or another token). With no match at all it is the first window of the body.
 *  5. Its text is taken from the extracted body (never the raw source, so no markup shows),
 *     runs of whitespace and control characters collapsed to one space, NULs dropped,
 *     invalid UTF-8 replaced, "…" added where text was left out, then capped at `max_bytes`
 *     on a UTF-8 boundary (at a space when one is near), keeping the first match in view.
 *
 * Thread safety: uses the analyser, which one thread uses at a time (text/text.h); the
 * function is otherwise reentrant.
 */
#ifndef KQ_QUERY_SNIPPET_H
#define KQ_QUERY_SNIPPET_H

#include <stddef.h>
#include <stdint.h>

#include "kq/error.h"
#include "text/text.h"

/* A query term as the index holds it (analysed by the same analyser), and its weight,
 * normally its idf. For a prefix or other expanding query pass the index terms it matched.
 * Terms that are empty or longer than KQ_TERM_MAX can never match. A term listed twice
 * counts once, with the larger weight. Weights <= 0 or NaN count as 0 (the word is still
 * marked); weights are compared with a resolution of 2^-20 and capped at 2^20.
 * `phrase_only`: the query holds the term only inside phrases, so a token of it is marked
 * only as part of an occurrence of one of opt->phrases (a term listed twice is phrase_only
 * when both say so).
 * `title_only`: the query holds the term only in the title field (title:word). When the
 * title stands apart from the body (an HTML <title>, a JSON-lines title), a token of the
 * body is never its match, and the match is looked for in the title when the window has
 * none; when the title is part of the body (a Markdown heading), the term is an ordinary
 * one (a term listed twice is title_only when both say so). */
struct kq_snippet_term {
    const char *term; /* `len` bytes, need not be NUL-terminated; read during the call only */
    size_t len;
    double weight;
    int phrase_only;
    int title_only;
};

#define KQ_SNIPPET_WINDOW_WORDS 30     /* default window, in tokens */
#define KQ_SNIPPET_WINDOW_MAX 1024     /* larger windows are clamped to this */
#define KQ_SNIPPET_MAX_BYTES 300       /* default cap on the text, in bytes */
#define KQ_SNIPPET_MIN_BYTES 16        /* smaller caps are raised to this */
#define KQ_SNIPPET_MAX_TERMS 65536     /* more terms is KQ_ELIMIT */
#define KQ_SNIPPET_MAX_PHRASES 64      /* more phrases is KQ_ELIMIT */
#define KQ_SNIPPET_PHRASE_MAX_TERMS 64 /* a longer phrase is KQ_ELIMIT */

/* A query phrase: terms[term[0]], terms[term[1]], ... of the kq_snippet_make call at the
 * positions rel_pos[0], rel_pos[1], ... relative to the first (the kq_qnode PHRASE form,
 * query/query.h). It occurs where the body has tokens whose analysed terms are those terms,
 * at exactly those relative positions: consecutive positions unless the query's analyser
 * left a gap (an over-long word dropped), which the body must then have too. Stop words are
 * ordinary terms here. An occurrence spans `n_terms` consecutive tokens of the body and
 * counts for a window only when it lies wholly inside it; the window grows to the longest
 * phrase's number of terms, so that every phrase can show. Occurrences may overlap: the
 * body "a a a" holds the phrase "a a" twice. A phrase with a term that can never match
 * (see kq_snippet_term) never occurs; a phrase listed twice counts once; a phrase of one
 * term counts each occurrence of the term. */
struct kq_snippet_phrase {
    const uint32_t *term;    /* n_terms indices into the terms array, each < n_terms of the
                                call; read during the call only */
    const uint32_t *rel_pos; /* n_terms positions, rel_pos[0] == 0, strictly increasing; NULL
                                means 0, 1, 2, ... (consecutive); read during the call only */
    uint32_t n_terms;        /* 1 .. KQ_SNIPPET_PHRASE_MAX_TERMS */
};

/* A token of the document that the index says holds terms[term]: its position in field
 * `text` (src/index/FORMAT.md, "Document analysis"). */
struct kq_snippet_match {
    uint32_t pos;
    uint32_t term; /* < n_terms of the call */
};

/* Options; a zero field (or a NULL pointer for the whole struct) means the default. */
struct kq_snippet_opts {
    uint32_t window_words; /* tokens in the window: default 30, at most 1024; at least the
                              longest phrase's number of terms */
    size_t max_bytes;      /* cap on kq_snippet.len including any "…": default 300, at least
                              16, at most UINT32_MAX - 1 (spans are 32-bit) */
    /* The query's phrases (default: none), at most KQ_SNIPPET_MAX_PHRASES; `phrases` may be
     * NULL when n_phrases is 0. Pass only phrases a matching document should contain (not
     * those under NOT). */
    const struct kq_snippet_phrase *phrases;
    size_t n_phrases;
    /* Where the terms occur, when `by_position` (the index's positions of the document):
     * every occurrence in field text of each term the index holds, sorted by position.
     * The body is then analysed without stemming and a token matches by its position, its
     * term checked (stemmed only when the plain fold differs). When a token disagrees or an
     * occurrence finds no token (an index made by another analyser), the body is analysed
     * again as without them: the snippet is the same either way. `title`: the title that
     * stands apart from `doc` in the index (a JSON-lines document's), whose tokens come
     * first in field text; NULL for a file (kq_extract tells whether its title stands
     * apart). */
    int by_position;
    const struct kq_snippet_match *matches;
    size_t n_matches;
    const char *title;
    size_t title_len;
};

/* A byte range [start, end) of kq_snippet.text. */
struct kq_span {
    uint32_t start, end;
};

/* A snippet. Every pointer is owned by the struct: kq_snippet_release frees them. */
struct kq_snippet {
    /* The passage as one line of valid UTF-8, NUL-terminated, `len` bytes (<= max_bytes):
     * whitespace and control characters (C0, DEL, C1, Unicode spaces and line separators)
     * collapsed to single spaces, trimmed, NULs dropped, invalid bytes as U+FFFD; "…"
     * (3 bytes) first when text of the body precedes the passage, last when text follows it
     * or the cap cut it. Never NULL after success; "" when the body has no token. */
    char *text;
    size_t len;
    /* The matched words in the text: byte ranges of `text`, in order, non-overlapping, each
     * exactly one whole token whose analysed term is a query term (Han/Kana bigrams overlap:
     * a matched bigram after another starts where the previous span ends). A matched word
     * the cap cut through is not marked. NULL when n_spans is 0. */
    struct kq_span *spans;
    uint32_t n_spans;
    /* The passage in the source document: bytes [src_start, src_end) of `doc` (src_start ==
     * src_end == 0 when the body has no token). */
    size_t src_start, src_end;
    /* The 1-based line of `doc` where the passage starts: line0 + the newlines before
     * src_start. Saturates at UINT32_MAX. */
    uint32_t line;
    /* Where an editor should jump: the 1-based line and 1-based byte column of the first
     * matched word of the passage (what `--vimgrep` prints); when the passage marks none,
     * of an HTML <title> that holds a query word, else of the passage start. The column
     * counts bytes from the start of that source line (after a byte-order mark on line 1,
     * which editors do not show). */
    uint32_t match_line;
    uint32_t match_col;
};

/* kq_snippet_make: the snippet of `len` bytes of `doc` (any bytes) in format `format`, for
 * the `n_terms` query terms `terms` (may be NULL when n_terms is 0), analysed with `an` (the
 * index's analyser). `line0` is the line number of doc's first byte: 1 for a whole file, the
 * line of the record for a document inside a bigger file; 0 is read as 1. `opt` may be NULL.
 * Returns 0; KQ_EINVAL for an unknown format, a NULL `an`, NULL `doc`/`terms`/phrases with
 * a nonzero length, or a malformed phrase (no term, a NULL array, a term index out of range,
 * rel_pos not 0 then strictly increasing); KQ_ELIMIT for more than KQ_SNIPPET_MAX_TERMS
 * terms, more than KQ_SNIPPET_MAX_PHRASES phrases or a phrase of more than
 * KQ_SNIPPET_PHRASE_MAX_TERMS terms; KQ_ENOMEM.
 * On failure `*out` is zeroed. On success the caller owns `*out`: kq_snippet_release.
 * Nothing of `doc`, `terms` or the phrases is referenced after the call. */
int kq_snippet_make(kq_analyzer *an, enum kq_format format, const char *doc, size_t len,
                    uint32_t line0, const struct kq_snippet_term *terms, size_t n_terms,
                    const struct kq_snippet_opts *opt, struct kq_snippet *out, kq_error *err);

/* kq_snippet_release: frees the text and spans and zeroes the struct. Accepts NULL and a
 * zeroed struct. */
void kq_snippet_release(struct kq_snippet *s);

#endif
