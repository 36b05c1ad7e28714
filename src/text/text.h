/* text/text.h: text analysis, the one truth shared by indexing and querying.
 *
 * Owns: UTF-8 decoding (invalid bytes read as U+FFFD, one byte each), tokenization by
 * Unicode category, NFKC case folding (utf8proc), Snowball stemming (libstemmer), and field
 * extraction for plain text, Markdown, HTML and BEIR JSON lines.
 *
 * Errors: functions return 0 or a negative KQ_E* code with `err` filled when non-NULL.
 * Thread safety: a kq_analyzer is used by one thread at a time (libstemmer keeps state);
 * make one per thread. Extraction functions are reentrant.
 */
#ifndef KQ_TEXT_TEXT_H
#define KQ_TEXT_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "kq/error.h"

/* Terms longer than this (in bytes, after folding and stemming) are dropped; the position
 * they would have taken stays used so that phrases do not match across them. */
#define KQ_TERM_MAX 64

/* ---- UTF-8 ---- */

/* kq_utf8_decode: decodes one code point from [p, end) (p < end). Invalid, overlong,
 * surrogate or truncated sequences decode as U+FFFD consuming exactly one byte.
 * Returns the code point; `*n` receives the bytes consumed (1..4). */
int32_t kq_utf8_decode(const uint8_t *p, const uint8_t *end, size_t *n);

/* kq_utf8_encode: writes `cp` as UTF-8 into `out` (room for 4 bytes); returns the length.
 * Invalid code points are written as U+FFFD. */
size_t kq_utf8_encode(int32_t cp, uint8_t *out);

/* ---- analysis ---- */

typedef struct kq_analyzer kq_analyzer;

/* kq_analyzer_new: an analyser for `language`: "none" (no stemming) or a Snowball language
 * name libstemmer knows ("english", "german", ...; NULL means "english"). Returns 0, or
 * KQ_EINVAL for an unknown language, KQ_ENOMEM. The caller owns `*out`: kq_analyzer_free. */
int kq_analyzer_new(const char *language, kq_analyzer **out, kq_error *err);
void kq_analyzer_free(kq_analyzer *a);
/* kq_analyzer_prefault: backs the caches' pages now (kq__prefault), for an analyser that will
 * see much text in one of several threads; a query's analyser leaves them to first use. */
void kq_analyzer_prefault(kq_analyzer *a);
/* The language it was made with ("none" or the Snowball name); valid until free. */
const char *kq_analyzer_language(const kq_analyzer *a);
/* Nonzero when `language` is accepted by kq_analyzer_new. */
int kq_language_valid(const char *language);
/* The bytes the analyser holds at most (its buffers, stem and fold caches; libstemmer's own few
 * are not counted), for memory budgets. */
size_t kq_analyzer_memory(const kq_analyzer *a);

struct kq_token {
    const char *term;  /* analysed term, `len` bytes, NUL-terminated; valid during the call */
    size_t len;        /* 1..KQ_TERM_MAX */
    uint32_t pos;      /* position: pos0 + index in the token stream */
    size_t start, end; /* the source bytes [start, end) the token came from */
    int stop;          /* 1: a stop word of the language (only with KQ_ANALYZE_STOPWORDS) */
};

/* Return nonzero from the callback to stop; kq_analyze then returns that value. */
typedef int (*kq_token_fn)(void *ctx, const struct kq_token *tok);

enum {
    KQ_ANALYZE_NOSTEM = 1,    /* fold but do not stem (prefix queries) */
    KQ_ANALYZE_STOPWORDS = 2, /* set kq_token.stop (the query parser; text/stopwords.c) */
};

/* kq_analyze: tokenizes `len` bytes of `text` (any bytes; NUL bytes are ignorable and do
 * not split a word) and calls `fn` for every token in order. Positions start at `pos0`;
 * `*next_pos` (may be NULL) receives the position after the last one used.
 * Returns 0, a callback's nonzero value, or KQ_ENOMEM.
 *
 * The rules (text/analyze.c has the details):
 *  - words are runs of letters (L*), marks (M*) and decimal digits (Nd); anything else
 *    separates, including superscripts and other numbers (No): `Korea.¹` -> korea;
 *  - NUL, soft hyphen, ZWJ, ZWNJ, word joiner and BOM are ignorable;
 *  - ' or ’ between two letters is dropped, a final possessive 's removed (Korea’s ->
 *    korea, o'brien -> obrien); `.` or `,` between digits is kept / dropped (5.2, 1,000 ->
 *    1000); single letters joined by dots are one word (U.S.A. -> usa); hyphens separate,
 *    so U.S.-ROK gives us, rok at consecutive positions;
 *  - Hangul runs are words (a change between Hangul and other letters or digits ends the
 *    word); Han and Kana runs give overlapping bigrams, a lone character a unigram, each
 *    at its own position;
 *  - terms are NFKC case folded, then stemmed unless KQ_ANALYZE_NOSTEM, language "none",
 *    no letter in the term (numbers), or Hangul/Han/Kana;
 *  - a term longer than KQ_TERM_MAX is dropped and its position skipped.
 * A token's [start, end) spans its source bytes (for a possessive, the 's included). */
int kq_analyze(kq_analyzer *a, const char *text, size_t len, uint32_t pos0, int flags,
               kq_token_fn fn, void *ctx, uint32_t *next_pos);

/* kq_analyzer_stem: `term` (`len` bytes, as a KQ_ANALYZE_NOSTEM run delivered it) stemmed
 * as a stemming run stems a word: the term that run delivers for a word it stems (a word
 * with a letter, not Hangul, Han or Kana); unchanged with language "none". Not cached: a
 * caller that meets a word often keeps its stem. `*out` (`*out_len` bytes, not
 * NUL-terminated) is valid until the analyser's next use; the call may be made from a
 * kq_analyze callback. Returns 0 or KQ_ENOMEM. */
int kq_analyzer_stem(kq_analyzer *a, const char *term, size_t len, const char **out,
                     size_t *out_len);

/* ---- stop words (text/stopwords.c) ---- */

/* kq__stopword_list: the stop words of `language`, sorted by strcmp, `*n` of them; NULL and
 * 0 for a language without a list ("none" and every language but "english" for now).
 * Static data. */
const char *const *kq__stopword_list(const char *language, size_t *n);
/* Nonzero when the folded, unstemmed word (`len` bytes) is in `list` (`n` words). */
int kq__stopword(const char *const *list, size_t n, const char *word, size_t len);

/* ---- field extraction ---- */

enum kq_format {
    KQ_FORMAT_PLAIN = 0,
    KQ_FORMAT_MARKDOWN = 1,
    KQ_FORMAT_HTML = 2,
};

/* kq_format_for_path: the format a file name implies (.md/.markdown/.txt: Markdown, since
 * plain text reads the same as Markdown and reports often carry inline Markdown; .html/
 * .htm/.xhtml: HTML; anything else: plain). */
enum kq_format kq_format_for_path(const char *path);
const char *kq_format_name(enum kq_format f);

struct kq_extracted {
    /* The body text, exactly as long as the input: markup bytes are replaced by spaces
     * (newlines kept), so byte offsets and line numbers equal the source's; bytes freed
     * by decoding an entity to something shorter are set to NUL (ignorable inside a
     * word). Owned by the struct. */
    char *body;
    size_t body_len;
    /* The title, decoded, whitespace collapsed, valid UTF-8, NUL-terminated, at most
     * 1024 bytes, owned by the struct; "" when none. Markdown: the first ATX heading, else
     * the first non-empty line when at most 200 bytes; HTML: <title>, else the first <h1>;
     * plain: the first non-empty line when at most 200 bytes. */
    char *title;
    size_t title_len;
    /* 1 when the title is text of the body (first heading, first short line, an HTML
     * <title> longer than the 1024 bytes kept, whose text then stays in the body): index it
     * once, as body; 0 when it stands apart (HTML <title>, JSON title). */
    int title_in_body;
    /* A title that stands apart in the source (HTML <title>): the byte offset where its
     * text starts there; SIZE_MAX otherwise. */
    size_t title_src;
};

/* kq_extract: reduces `len` bytes of `src` in format `fmt` to title and body.
 * Returns 0 or KQ_ENOMEM; on failure `out` is zeroed. Release with kq_extracted_release. */
int kq_extract(enum kq_format fmt, const char *src, size_t len, struct kq_extracted *out,
               kq_error *err);
void kq_extracted_release(struct kq_extracted *x);

/* A document of a BEIR JSON-lines corpus. */
struct kq_json_doc {
    char *id;    /* "_id" (or "doc_id"), NUL-terminated, owned */
    size_t id_len;
    char *title; /* "title", "" when absent */
    size_t title_len;
    char *text;  /* "text", "" when absent */
    size_t text_len;
};

/* kq_jsonl_parse: parses one line (without its newline) of a JSON-lines corpus.
 * Returns 0; KQ_EINVAL with `err` (offset = byte in the line) when the line is not a JSON
 * object, has no string "_id"/"doc_id" (numbers are accepted and printed as decimal),
 * or "title"/"text" are not strings; KQ_ENOMEM. On failure `out` is zeroed. */
int kq_jsonl_parse(const char *line, size_t len, struct kq_json_doc *out, kq_error *err);
void kq_json_doc_release(struct kq_json_doc *d);
/* The same, with jansson alone (kq_jsonl_parse reads most lines with a faster reader of
 * its own that must give the same answers): for tests and fuzz_extract's oracle. */
int kq__jsonl_parse_jansson(const char *line, size_t len, struct kq_json_doc *out,
                            kq_error *err);

#endif
