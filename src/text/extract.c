/* text/extract.c: plain text, Markdown and HTML reduced to a title and a body.
 *
 * The body is a copy of the input of exactly the same length in which markup is blanked:
 * a markup byte becomes a space, except '\n' which is never touched, so byte offsets and
 * line numbers in the body equal the source's. The tags of inline elements (<b>, <a>…)
 * become NUL instead, so that they do not split a word. An entity reference (&amp;, &#x41;...) is
 * decoded in place: its UTF-8 is written at the '&' and the rest of the reference is set
 * to NUL, which the analyser ignores. Decoded text is never longer than its reference, and
 * a reference never holds a newline, so the invariant holds.
 *
 * Every scan is bounded: a construct whose end is missing is either blanked to the end of
 * the input (HTML, as browsers do) or searched for within a bounded window (Markdown), so
 * extraction is linear in the input whatever the bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "text/text.h"
#include "text/entities.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

/* Longest title kept, in bytes (cut at a character boundary). */
#define TITLE_MAX 1024
/* A first line longer than this is not a title. */
#define FIRST_LINE_MAX 200
/* Markdown: how far a link, an inline tag or a code span may extend. */
#define MD_SPAN_MAX 2048
/* Markdown: how far YAML front matter may extend. */
#define FRONT_MATTER_MAX 65536

enum kq_format kq_format_for_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base)
        return KQ_FORMAT_PLAIN;
    dot++;
    if (!strcasecmp(dot, "md") || !strcasecmp(dot, "markdown") || !strcasecmp(dot, "txt"))
        return KQ_FORMAT_MARKDOWN;
    if (!strcasecmp(dot, "html") || !strcasecmp(dot, "htm") || !strcasecmp(dot, "xhtml"))
        return KQ_FORMAT_HTML;
    return KQ_FORMAT_PLAIN;
}

const char *kq_format_name(enum kq_format f)
{
    switch (f) {
    case KQ_FORMAT_PLAIN:
        return "plain";
    case KQ_FORMAT_MARKDOWN:
        return "markdown";
    case KQ_FORMAT_HTML:
        return "html";
    }
    return "unknown";
}

void kq_extracted_release(struct kq_extracted *x)
{
    if (!x)
        return;
    kq__free(x->body);
    kq__free(x->title);
    memset(x, 0, sizeof *x);
}

/* ---- helpers ---- */

static inline int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline int is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static inline uint8_t lower(uint8_t c)
{
    return (uint8_t)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
}

/* Blanks [from, to): every byte but '\n' becomes a space. */
static void blank(uint8_t *b, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (b[i] != '\n')
            b[i] = ' ';
}

/* Nonzero when b[p..] starts with `lit` (lowercase ASCII), case-insensitively. */
static int starts_ci(const uint8_t *b, size_t p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    if (len - p < n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower(b[p + i]) != (uint8_t)lit[i])
            return 0;
    return 1;
}

/* The offset of the first `lit` (lowercase ASCII) at or after `p` before `end`, or `end`. */
static size_t find_ci(const uint8_t *b, size_t p, size_t end, const char *lit)
{
    uint8_t first = (uint8_t)lit[0];
    for (; p < end; p++)
        if (lower(b[p]) == first && starts_ci(b, p, end, lit))
            return p;
    return end;
}

/* ---- titles ---- */

struct title {
    kq_buf buf;
    int space; /* a space is pending before the next character */
    int full;
};

/* Appends the text of [p, p + n) to the title: whitespace runs collapse to one space, NUL
 * bytes are skipped, invalid UTF-8 becomes U+FFFD; stops at TITLE_MAX bytes. */
static int title_add(struct title *t, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    while (p < end && !t->full) {
        if (*p == 0) {
            p++;
            continue;
        }
        if (is_space(*p)) {
            t->space = t->buf.len > 0;
            p++;
            continue;
        }
        size_t k;
        int32_t cp = kq_utf8_decode(p, end, &k);
        uint8_t enc[5];
        size_t elen = 0;
        if (t->space)
            enc[elen++] = ' ';
        elen += kq_utf8_encode(cp, enc + elen);
        if (t->buf.len + elen > TITLE_MAX) {
            t->full = 1;
            break;
        }
        if (kq_buf_append(&t->buf, enc, elen))
            return KQ_ENOMEM;
        t->space = 0;
        p += k;
    }
    return 0;
}

/* Strips spaces, and emphasis wrapping the whole title (`*Title*`), from both ends. */
static void title_trim(struct title *t)
{
    size_t s = 0, e = t->buf.len;
    while (s < e && t->buf.p[s] == ' ')
        s++;
    while (e > s && t->buf.p[e - 1] == ' ')
        e--;
    size_t n1 = 0, n2 = 0;
    while (s + n1 < e && (t->buf.p[s + n1] == '*' || t->buf.p[s + n1] == '_'))
        n1++;
    while (e - n2 > s + n1 && (t->buf.p[e - n2 - 1] == '*' || t->buf.p[e - n2 - 1] == '_'))
        n2++;
    size_t k = n1 < n2 ? n1 : n2;
    s += k;
    e -= k;
    while (s < e && t->buf.p[s] == ' ')
        s++;
    while (e > s && t->buf.p[e - 1] == ' ')
        e--;
    if (s && e > s)
        memmove(t->buf.p, t->buf.p + s, e - s);
    t->buf.len = e - s;
    t->space = 0;
}

/* Moves the title into `out`. */
static int title_finish(struct title *t, struct kq_extracted *out, int in_body)
{
    out->title = kq__strndup(t->buf.len ? (const char *)t->buf.p : "", t->buf.len);
    if (!out->title)
        return KQ_ENOMEM;
    out->title_len = t->buf.len;
    out->title_in_body = t->buf.len ? in_body : 0;
    return 0;
}

/* The first non-empty line of [0, len) of `b` as the title, if at most FIRST_LINE_MAX
 * bytes once trimmed. */
static int title_first_line(struct title *t, const uint8_t *b, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const uint8_t *nl = memchr(b + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - b) : len;
        size_t s = i;
        while (s < e && (is_space(b[s]) || b[s] == 0))
            s++;
        size_t te = e;
        while (te > s && (is_space(b[te - 1]) || b[te - 1] == 0))
            te--;
        if (te > s) {
            if (te - s > FIRST_LINE_MAX)
                return 0;
            int rc = title_add(t, b + s, te - s);
            if (!rc)
                title_trim(t);
            return rc;
        }
        i = e + 1;
    }
    return 0;
}

/* ---- entity references ---- */

/* What a numeric reference to 0x80..0x9F means (HTML: the Windows-1252 character of that
 * byte; 0 where that byte is undefined there, then a space like any control character). */
static const uint16_t windows_1252[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

/* The entity named by the `n` bytes at `name`, or NULL. */
static const struct entity *entity_find(const uint8_t *name, size_t n)
{
    size_t lo = 0, hi = sizeof entities / sizeof *entities;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *e = entities[mid].name;
        size_t el = strlen(e);
        int c = memcmp(e, name, el < n ? el : n);
        if (!c && el == n)
            return &entities[mid];
        if (c < 0 || (!c && el < n))
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Decodes the entity reference at b[p] == '&' in place. Returns the bytes it spans (its
 * decoded UTF-8 at b[p], NUL after), or 0 when b[p] does not start a reference. */
static size_t entity_decode(uint8_t *b, size_t p, size_t len)
{
    size_t q = p + 1;
    int32_t cp, cp2 = 0;
    if (q < len && b[q] == '#') {
        q++;
        int hex = q < len && (b[q] == 'x' || b[q] == 'X');
        if (hex)
            q++;
        size_t d0 = q;
        int64_t v = 0; /* at most 8 digits: no overflow */
        while (q < len && q - d0 < 8) {
            uint8_t c = b[q];
            int dv;
            if (is_digit(c))
                dv = c - '0';
            else if (hex && lower(c) >= 'a' && lower(c) <= 'f')
                dv = lower(c) - 'a' + 10;
            else
                break;
            v = v * (hex ? 16 : 10) + dv;
            q++;
        }
        if (q == d0 || q >= len || b[q] != ';')
            return 0;
        if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
            cp = 0xFFFD;
        else if (v >= 0x80 && v < 0xA0)
            cp = windows_1252[v - 0x80];
        else
            cp = (int32_t)v;
    } else {
        size_t n0 = q;
        while (q < len && q - n0 < 32 && (is_alpha(b[q]) || is_digit(b[q])))
            q++;
        const struct entity *ent = q < len && b[q] == ';' ? entity_find(b + n0, q - n0) : NULL;
        if (!ent)
            return 0;
        cp = (int32_t)ent->cp;
        cp2 = (int32_t)ent->cp2;
    }
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || (cp >= 0x2000 && cp <= 0x200A) ||
        cp == 0x202F || cp == 0x205F || cp == 0x3000)
        cp = ' '; /* never a newline or a control character; a space (&nbsp;) as ' ' */
    size_t span = q + 1 - p;
    uint8_t enc[8];
    size_t elen = kq_utf8_encode(cp, enc);
    if (elen > span)
        return 0; /* cannot happen with HTML's names; keep the source */
    if (cp2) { /* a second code point (a combining mark) where it fits: not in &nGt; &nLt; */
        size_t k = kq_utf8_encode(cp2, enc + elen);
        elen += elen + k <= span ? k : 0;
    }
    memcpy(b + p, enc, elen);
    memset(b + p + elen, 0, span - elen);
    return span;
}

/* ---- plain text ---- */

static int extract_plain(uint8_t *b, size_t len, struct title *t)
{
    return title_first_line(t, b, len);
}

/* ---- HTML ---- */

/* The end of the tag that starts at b[p] == '<' (one past its '>'), quotes honoured; the
 * end of the input when it never closes. */
static size_t tag_end(const uint8_t *b, size_t p, size_t len)
{
    uint8_t quote = 0;
    for (size_t q = p + 1; q < len; q++) {
        uint8_t c = b[q];
        if (quote) {
            if (c == quote)
                quote = 0;
        } else if (c == '"' || c == '\'') {
            /* a quote opens a value only after '=' (possibly spaced) */
            size_t k = q;
            while (k > p + 1 && is_space(b[k - 1]))
                k--;
            if (b[k - 1] == '=')
                quote = c;
        } else if (c == '>') {
            return q + 1;
        }
    }
    return len;
}

/* Reads the tag name at b[p] (after '<' or '</') into `name` (lowercased, truncated). */
static void tag_name(const uint8_t *b, size_t p, size_t len, char *name, size_t cap)
{
    size_t n = 0;
    while (p < len && (is_alpha(b[p]) || is_digit(b[p]) || b[p] == '-' || b[p] == ':')) {
        if (n + 1 < cap)
            name[n++] = (char)lower(b[p]);
        p++;
    }
    name[n] = '\0';
}

/* The offset of the closing tag `</name` at or after `p`, or `len`. */
static size_t find_close(const uint8_t *b, size_t p, size_t len, const char *name)
{
    char lit[24];
    snprintf(lit, sizeof lit, "</%s", name); /* names are short tag names: no truncation */
    return find_ci(b, p, len, lit);
}

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Where the comment at b[p] ("<!--") ends when it ends at once, as "<!-->" and "<!--->"
 * do in HTML (one past its '>'); 0 when it does not. */
static size_t comment_abrupt(const uint8_t *b, size_t p, size_t len)
{
    size_t q = p + 4;
    if (q < len && b[q] == '>')
        return q + 1;
    return q + 1 < len && b[q] == '-' && b[q + 1] == '>' ? q + 2 : 0;
}

/* Where the comment at b[p] ("<!--") ends: one past its "-->" or "--!>" (or as
 * comment_abrupt); 0 when it never closes. */
static size_t comment_end(const uint8_t *b, size_t p, size_t len)
{
    size_t e = comment_abrupt(b, p, len);
    for (size_t q = p + 4; !e && q + 2 < len; q++) {
        const uint8_t *d = memchr(b + q, '-', len - 2 - q);
        if (!d)
            break;
        q = (size_t)(d - b);
        if (b[q + 1] == '-' && b[q + 2] == '>')
            e = q + 3;
        else if (b[q + 1] == '-' && b[q + 2] == '!' && q + 3 < len && b[q + 3] == '>')
            e = q + 4;
    }
    return e;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether `name` is one of the `n` sorted `names`. */
static int in_sorted(const char *const *names, size_t n, const char *name)
{
    return bsearch(&name, names, n, sizeof *names, cmp_name) != NULL;
}

/* Whether the tag `name` is of an inline element, whose tags do not separate words
 * (`Ko<b>rea</b>n` reads "Korean"): they are erased (NUL), not blanked. Sorted. */
static int inline_tag(const char *name)
{
    static const char *const names[] = {
        "a",     "abbr", "acronym", "b",    "bdi",  "bdo",    "big",  "cite", "code",
        "data",  "del",  "dfn",     "em",   "font", "i",      "ins",  "kbd",  "mark",
        "nobr",  "q",    "s",       "samp", "small", "span",  "strike", "strong", "sub",
        "sup",   "time", "tt",      "u",    "var",  "wbr",
    };
    return in_sorted(names, sizeof names / sizeof *names, name);
}

/* Erases [from, to): every byte but '\n' becomes NUL, which the analyser skips inside a
 * word (the tags of inline elements). */
static void erase(uint8_t *b, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (b[i] != '\n')
            b[i] = 0;
}

/* A footnote marker's content: digits, commas, hyphens, spaces (and NULs). */
static int footnote_content(const uint8_t *b, size_t s, size_t e)
{
    if (s == e)
        return 0;
    for (size_t i = s; i < e; i++)
        if (!is_digit(b[i]) && b[i] != ',' && b[i] != '-' && b[i] != ' ' && b[i] != 0)
            return 0;
    return 1;
}

/* Whether the HTML b[s, e) (a <sup>'s content) is a footnote marker: its text, tags left
 * out, is footnote_content (`<sup>12</sup>`, `<sup><a href="#fn1">1</a></sup>`). */
static int html_footnote(const uint8_t *b, size_t s, size_t e)
{
    int text = 0;
    for (size_t i = s; i < e; i++) {
        if (b[i] == '<') {
            const uint8_t *gt = memchr(b + i, '>', e - i);
            if (!gt)
                return 0;
            i = (size_t)(gt - b);
        } else if (!footnote_content(b, i, i + 1)) {
            return 0;
        } else {
            text = 1;
        }
    }
    return text;
}

static int extract_html(uint8_t *b, size_t len, struct title *t, int *in_body, size_t *title_src)
{
    int have_title = 0, have_h1 = 0, title_cut = 0;
    size_t h1_start = SIZE_MAX; /* content start of the first open <h1> */
    struct title h1 = {KQ_BUF_INIT, 0, 0};
    int rc = 0;
    size_t p = 0;
    while (p < len) {
        uint8_t c = b[p];
        if (c == '&') {
            size_t n = entity_decode(b, p, len);
            p += n ? n : 1;
            continue;
        }
        if (c != '<' || p + 1 >= len) {
            p++;
            continue;
        }
        uint8_t c1 = b[p + 1];
        size_t e;
        if (c1 == '!' && starts_ci(b, p, len, "<!--")) {
            e = comment_end(b, p, len);
            e = e ? e : len;
            blank(b, p, e);
            p = e;
            continue;
        }
        if (c1 == '!' || c1 == '?') {
            const uint8_t *gt = memchr(b + p, '>', len - p);
            e = gt ? (size_t)(gt - b) + 1 : len;
            blank(b, p, e);
            p = e;
            continue;
        }
        int closing = c1 == '/';
        size_t np = p + 1 + (size_t)closing;
        if (np >= len || !is_alpha(b[np])) {
            p++; /* a literal '<' */
            continue;
        }
        char name[16];
        tag_name(b, np, len, name, sizeof name);
        e = tag_end(b, p, len);
        if (inline_tag(name))
            erase(b, p, e);
        else
            blank(b, p, e);
        if (closing) {
            if (!strcmp(name, "h1") && h1_start != SIZE_MAX && !have_h1) {
                rc = title_add(&h1, b + h1_start, p - h1_start);
                if (rc)
                    goto out;
                have_h1 = 1;
            }
            p = e;
            continue;
        }
        if (!strcmp(name, "script") || !strcmp(name, "style") || !strcmp(name, "template")) {
            size_t close = find_close(b, e, len, name);
            blank(b, e, close);
            p = close;
            continue;
        }
        if (!strcmp(name, "title")) {
            size_t close = find_close(b, e, len, name);
            if (!have_title) {
                int empty = 1;
                for (size_t q = e; q < close;) {
                    size_t n = b[q] == '&' ? entity_decode(b, q, close) : 0;
                    empty &= is_space(b[q]) || b[q] == 0;
                    q += n ? n : 1;
                }
                if (empty) { /* no title: the first <h1> may give one */
                    blank(b, e, close);
                    p = close;
                    continue;
                }
                rc = title_add(t, b + e, close - e);
                if (rc)
                    goto out;
                have_title = 1;
                size_t ts = e;
                while (ts < close && (is_space(b[ts]) || b[ts] == 0))
                    ts++;
                *title_src = ts;
                if (t->full) { /* cut: the whole text stays in the body, indexed there */
                    title_cut = 1;
                    p = close;
                    continue;
                }
            }
            blank(b, e, close);
            p = close;
            continue;
        }
        if (!strcmp(name, "sup")) {
            size_t lim = min_sz(len, e + MD_SPAN_MAX);
            size_t close = find_close(b, e, lim, "sup");
            if (close < lim && html_footnote(b, e, close)) {
                blank(b, e, close); /* the closing tag goes as tags do */
                p = close;
                continue;
            }
        }
        if (!strcmp(name, "h1") && h1_start == SIZE_MAX)
            h1_start = e;
        p = e;
    }
    if (!have_title && have_h1) {
        kq_buf_release(&t->buf);
        *t = h1;
        h1.buf = (kq_buf)KQ_BUF_INIT;
        *in_body = 1;
        *title_src = SIZE_MAX;
    } else {
        *in_body = title_cut;
    }
out:
    kq_buf_release(&h1.buf);
    return rc;
}

/* ---- Markdown ---- */

/* The end of the line holding b[i] (its '\n' or len). */
static size_t line_end_at(const uint8_t *b, size_t i, size_t len)
{
    const uint8_t *nl = i < len ? memchr(b + i, '\n', len - i) : NULL;
    return nl ? (size_t)(nl - b) : len;
}

/* The offset of the `close` bracket matching the `open` at b[p], within [p, end) and
 * honouring backslash escapes and nesting (32 deep at most); `end` when none. It may span
 * up to four lines (a link's text wrapped), not a blank one (the paragraph's end): a '['
 * costs at most four lines of scanning. */
static size_t match_bracket(const uint8_t *b, size_t p, size_t end, uint8_t open, uint8_t close)
{
    int depth = 0, lines = 0;
    for (size_t q = p; q < end; q++) {
        uint8_t c = b[q];
        if (c == '\\') {
            q++;
            continue;
        }
        if (c == '\n') {
            size_t k = q + 1;
            while (k < end && (b[k] == ' ' || b[k] == '\t' || b[k] == '\r'))
                k++;
            if (k >= end || b[k] == '\n' || ++lines == 4)
                return end;
        }
        if (c == open) {
            if (++depth > 32)
                return end; /* no text nests so deep: a run of '[' costs little */
        } else if (c == close) {
            if (--depth == 0)
                return q;
        }
    }
    return end;
}

struct md {
    uint8_t *b;
    size_t len;
    size_t no_comment_close; /* no "-->" at or after this offset */
    size_t no_close[2];      /* no "</script", "</style" at or after this offset */
    uint64_t *labels;        /* label_hash of the labels the document defines, sorted */
    size_t n_labels;
};

/* A link label as CommonMark compares them (ASCII case folded, whitespace runs one space,
 * trimmed), hashed (FNV-1a 64). */
static uint64_t label_hash(const uint8_t *b, size_t s, size_t e)
{
    uint64_t h = 14695981039346656037ull;
    int space = 0, any = 0;
    for (size_t i = s; i < e; i++) {
        if (is_space(b[i])) {
            space = any;
            continue;
        }
        if (space)
            h = (h ^ ' ') * 1099511628211ull;
        h = (h ^ lower(b[i])) * 1099511628211ull;
        space = 0;
        any = 1;
    }
    return h;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Whether the document defines the label b[s, e): a reference to another is text, as
 * CommonMark has it (`a[i][j]`, a regex's `[^abc]`). */
static int md_defined(const struct md *m, size_t s, size_t e)
{
    uint64_t h = label_hash(m->b, s, e);
    return m->n_labels && bsearch(&h, m->labels, m->n_labels, sizeof h, cmp_u64);
}

/* Whether `name` (lowercase) names an element of HTML, its obsolete ones included: in
 * Markdown (and text read as Markdown) only their tags are markup, so that `<Enter>`,
 * `List<T>` or `<stdio.h>` stay text. Sorted. */
static int html_element(const char *name)
{
    static const char *const names[] = {
        "a",        "abbr",     "acronym",  "address",    "applet",   "area",     "article",
        "aside",    "audio",    "b",        "base",       "basefont", "bdi",      "bdo",
        "big",      "blink",    "blockquote", "body",     "br",       "button",   "canvas",
        "caption",  "center",   "cite",     "code",       "col",      "colgroup", "data",
        "datalist", "dd",       "del",      "details",    "dfn",      "dialog",   "dir",
        "div",      "dl",       "dt",       "em",         "embed",    "fieldset", "figcaption",
        "figure",   "font",     "footer",   "form",       "frame",    "frameset", "h1",
        "h2",       "h3",       "h4",       "h5",         "h6",       "head",     "header",
        "hgroup",   "hr",       "html",     "i",          "iframe",   "img",      "input",
        "ins",      "kbd",      "label",    "legend",     "li",       "link",     "main",
        "map",      "mark",     "marquee",  "math",       "menu",     "meta",     "meter",
        "nav",      "nobr",     "noframes", "noscript",   "object",   "ol",       "optgroup",
        "option",   "output",   "p",        "param",      "picture",  "pre",      "progress",
        "q",        "rb",       "rp",       "rt",         "rtc",      "ruby",     "s",
        "samp",     "script",   "search",   "section",    "select",   "slot",     "small",
        "source",   "span",     "strike",   "strong",     "style",    "sub",      "summary",
        "sup",      "svg",      "table",    "tbody",      "td",       "template", "textarea",
        "tfoot",    "th",       "thead",    "time",       "title",    "tr",       "track",
        "tt",       "u",        "ul",       "var",        "video",    "wbr",
    };
    return in_sorted(names, sizeof names / sizeof *names, name);
}

/* The end (one past its '>') of the tag at b[p] == '<' as CommonMark reads raw HTML,
 * within [p, end): `<name attr="v" attr=v attr>`, `<name/>`, `</name >`, whitespace
 * (newlines too) between its parts; 0 when it is not one (`<stdio.h>`, `a < b`). */
static size_t md_tag_end(const uint8_t *b, size_t p, size_t end)
{
    size_t q = p + 1;
    int closing = q < end && b[q] == '/';
    q += (size_t)closing;
    if (q >= end || !is_alpha(b[q]))
        return 0;
    while (q < end && (is_alpha(b[q]) || is_digit(b[q]) || b[q] == '-'))
        q++;
    for (;;) {
        size_t ws = q;
        int nl = 0;
        while (q < end && is_space(b[q]))
            nl += b[q++] == '\n';
        if (q >= end || nl > 1)
            return 0; /* a blank line ends the paragraph, and any tag in it */
        if (b[q] == '>')
            return q + 1;
        if (closing)
            return 0;
        if (b[q] == '/')
            return q + 1 < end && b[q + 1] == '>' ? q + 2 : 0;
        if (q == ws || !(is_alpha(b[q]) || b[q] == '_' || b[q] == ':'))
            return 0; /* an attribute, after whitespace */
        while (q < end && (is_alpha(b[q]) || is_digit(b[q]) || b[q] == '_' || b[q] == '.' ||
                           b[q] == ':' || b[q] == '-'))
            q++;
        size_t k = q;
        while (k < end && is_space(b[k]))
            k++;
        if (k >= end || b[k] != '=')
            continue;
        for (k++; k < end && is_space(b[k]); k++)
            ;
        if (k >= end)
            return 0;
        if (b[k] == '"' || b[k] == '\'') {
            const uint8_t *c = memchr(b + k + 1, b[k], end - k - 1);
            if (!c)
                return 0;
            q = (size_t)(c - b) + 1;
            for (size_t i = k + 1; i + 1 < q; i++) /* nor a blank line inside a value */
                if (b[i] == '\n') {
                    size_t j = i + 1;
                    while (j < q && (b[j] == ' ' || b[j] == '\t' || b[j] == '\r'))
                        j++;
                    if (b[j] == '\n')
                        return 0;
                }
        } else {
            size_t v = k;
            while (k < end && !is_space(b[k]) && b[k] != '"' && b[k] != '\'' && b[k] != '=' &&
                   b[k] != '<' && b[k] != '>' && b[k] != '`')
                k++;
            if (k == v)
                return 0;
            q = k;
        }
    }
}

/* Handles b[p] == '<'. Returns the offset to continue at. */
static size_t md_angle(struct md *m, size_t p, size_t line_end)
{
    uint8_t *b = m->b;
    size_t len = m->len;
    size_t lim = min_sz(line_end, p + MD_SPAN_MAX);
    if (starts_ci(b, p, len, "<!--")) {
        /* none closes after one that does not: search once */
        size_t e = p >= m->no_comment_close ? comment_abrupt(b, p, len) : comment_end(b, p, len);
        if (!e) {
            m->no_comment_close = min_sz(m->no_comment_close, p);
            return p + 1;
        }
        blank(b, p, e);
        return e;
    }
    size_t q = p + 1;
    /* autolink: <scheme:...> or <user@host> without spaces */
    if (q < lim && is_alpha(b[q])) {
        size_t k = q;
        while (k < lim &&
               (is_alpha(b[k]) || is_digit(b[k]) || b[k] == '+' || b[k] == '.' || b[k] == '-'))
            k++;
        int scheme = k < lim && b[k] == ':' && k - q >= 2;
        size_t g = q;
        int at = 0;
        while (g < lim && b[g] != '>' && b[g] != '<' && !is_space(b[g])) {
            at |= b[g] == '@';
            g++;
        }
        if (g < lim && b[g] == '>' && (scheme || at)) {
            blank(b, p, g + 1);
            return g + 1;
        }
    }
    /* inline HTML: the tag of an element (over lines too) */
    size_t e = md_tag_end(b, p, min_sz(len, p + MD_SPAN_MAX));
    if (!e)
        return p + 1;
    int closing = b[q] == '/';
    char name[16];
    tag_name(b, q + (size_t)closing, len, name, sizeof name);
    if (strlen(name) >= sizeof name - 1 || !html_element(name))
        return p + 1;
    if (!closing && !strcmp(name, "sup")) {
        size_t close = find_close(b, e, lim, "sup");
        if (close < lim && footnote_content(b, e, close)) {
            const uint8_t *cgt = memchr(b + close, '>', lim - close);
            if (cgt) {
                size_t ce = (size_t)(cgt - b) + 1;
                blank(b, p, ce);
                return ce;
            }
        }
    }
    size_t ls = p; /* an HTML block (CommonMark type 1) starts its line, after 3 spaces at most */
    while (ls > 0 && b[ls - 1] == ' ' && p - ls < 3)
        ls--;
    int code = !closing && (ls == 0 || b[ls - 1] == '\n') &&
               (!strcmp(name, "script") || !strcmp(name, "style"));
    if (code) { /* its content is not text: to the closing tag (none closes after one that
                   does not: search once); in a line of prose the tag is only a tag */
        size_t *memo = &m->no_close[!strcmp(name, "style")];
        size_t close = e < *memo ? find_close(b, e, len, name) : len;
        if (close == len)
            *memo = min_sz(*memo, e);
        else
            e = close;
    }
    if (inline_tag(name))
        erase(b, p, e);
    else
        blank(b, p, e);
    return e;
}

/* Handles a link or image whose '[' is at b[p] (`bang`: preceded by '!' at p - 1).
 * Returns the offset to continue at: inside the link text, which stays. */
static size_t md_link(struct md *m, size_t p, size_t line_end, int bang)
{
    uint8_t *b = m->b;
    size_t lim = min_sz(m->len, p + MD_SPAN_MAX);
    size_t rb = match_bracket(b, p, lim, '[', ']');
    if (rb >= lim)
        return p + 1;
    if (rb > line_end) /* the text went on over lines: what follows is on the line of ']' */
        line_end = line_end_at(b, rb, m->len);
    lim = min_sz(line_end, rb + 1 + MD_SPAN_MAX);
    if (!bang && p + 2 < rb && b[p + 1] == '^') { /* a footnote reference: a marker */
        size_t q = p + 2;
        while (q < rb && !is_space(b[q]))
            q++;
        if (q == rb && md_defined(m, p + 1, rb)) {
            blank(b, p, rb + 1);
            return rb + 1;
        }
    }
    if (rb + 1 < lim && b[rb + 1] == '[') { /* [text][label], [text][]: the label goes */
        size_t rl = rb + 2; /* a label holds no unescaped bracket */
        while (rl < lim && b[rl] != ']' && b[rl] != '[')
            rl += b[rl] == '\\' ? 2 : 1;
        if (rl >= lim || b[rl] != ']' ||
            !(rl > rb + 2 ? md_defined(m, rb + 2, rl) : md_defined(m, p + 1, rb)))
            return p + 1;
        if (bang)
            b[p - 1] = ' ';
        b[p] = ' ';
        blank(b, rb, rl + 1);
        return p + 1;
    }
    if (rb + 1 >= lim || b[rb + 1] != '(')
        return p + 1;
    /* a destination without spaces or parentheses ends at the first ')', however long (a
     * data: URI); the scan stops at the next '(', so scans never overlap */
    size_t rp = rb + 2;
    while (rp < line_end && b[rp] != ')' && b[rp] != '(' && !is_space(b[rp]))
        rp++;
    if (rp >= line_end || b[rp] != ')') {
        size_t lim2 = min_sz(line_end, rb + 1 + MD_SPAN_MAX);
        rp = match_bracket(b, rb + 1, lim2, '(', ')');
        if (rp >= lim2)
            return p + 1;
    }
    if (bang)
        b[p - 1] = ' ';
    b[p] = ' ';
    blank(b, rb, rp + 1);
    return p + 1;
}

/* Nonzero when the line [p, e) is a link reference definition, `[label]: destination`
 * with an optional "title" ('title', (title)) and nothing else (CommonMark, on one line): it
 * renders as nothing. Stricter than a footnote line such as `[1]: Smith, J. 2020`. */
static int md_refdef(const uint8_t *b, size_t p, size_t e)
{
    while (e > p && is_space(b[e - 1]))
        e--;
    if (p >= e || b[p] != '[')
        return 0;
    size_t q = p + 1, text = 0;
    for (; q < e && b[q] != ']' && q - p <= 1000; q++) {
        if (b[q] == '[')
            return 0;
        if (b[q] == '\\' && q + 1 < e)
            q++;
        text |= !is_space(b[q]);
    }
    if (q + 1 >= e || b[q] != ']' || b[q + 1] != ':' || !text)
        return 0;
    for (q += 2; q < e && (b[q] == ' ' || b[q] == '	'); q++)
        ;
    if (q < e && b[q] == '<') { /* <destination>, spaces allowed */
        while (++q < e && b[q] != '>' && b[q] != '<')
            ;
        if (q >= e || b[q] != '>')
            return 0;
        q++;
    } else {
        int url = 0; /* a URL or a path, not a word (`[Status]: approved` is text) */
        for (; q < e && !is_space(b[q]) && b[q] >= 0x20; q++)
            url |= b[q] == '/' || b[q] == '.' || b[q] == ':' || b[q] == '#' || b[q] == '?';
        if (!url)
            return 0;
    }
    if (q == e)
        return 1;
    if (b[q] != ' ' && b[q] != '	')
        return 0;
    while (b[q] == ' ' || b[q] == '	')
        q++; /* stops before e: b[e - 1] is not a space */
    uint8_t close = b[q] == '"' ? '"' : b[q] == '\'' ? '\'' : b[q] == '(' ? ')' : 0;
    return close && e - q >= 2 && b[e - 1] == close;
}

/* Collects the labels the document defines: link reference definitions (`[label]: url`)
 * and footnotes (`[^note]: text`). Returns 0 or KQ_ENOMEM. */
static int md_labels(struct md *m)
{
    size_t cap = 0;
    for (size_t i = 0; i < m->len;) {
        const uint8_t *b = m->b;
        size_t e = line_end_at(b, i, m->len), p = i, q;
        for (int k = 0; k < 3 && p < e && b[p] == ' '; k++)
            p++;
        for (q = p + 1; p < e && b[p] == '[' && q < e && q - p <= 1000 && b[q] != ']'; q++)
            if (b[q] == '[')
                break;
        if (p < e && b[p] == '[' && q + 1 < e && b[q] == ']' && b[q + 1] == ':' &&
            ((q > p + 2 && b[p + 1] == '^') || md_refdef(b, p, e))) {
            if (m->n_labels == cap) {
                cap = cap ? 2 * cap : 16;
                uint64_t *v = kq__realloc(m->labels, cap * sizeof *v);
                if (!v)
                    return KQ_ENOMEM;
                m->labels = v;
            }
            m->labels[m->n_labels++] = label_hash(b, p + 1, q);
        }
        i = e + 1;
    }
    if (m->n_labels)
        qsort(m->labels, m->n_labels, sizeof *m->labels, cmp_u64);
    return 0;
}

/* The first byte in [p, end) that inline markup starts at ('\\', '`', '[', '<' or '&'),
 * or end: sixteen bytes a step where SSE2 is there (most of a line is ordinary text). */
static size_t md_next_markup(const uint8_t *b, size_t p, size_t end)
{
#ifdef __SSE2__
    const __m128i bsl = _mm_set1_epi8('\\'), tick = _mm_set1_epi8('`'),
                  brk = _mm_set1_epi8('['), lt = _mm_set1_epi8('<'), amp = _mm_set1_epi8('&');
    for (; end - p >= 16; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(b + p));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, bsl), _mm_cmpeq_epi8(v, tick)),
                                   _mm_or_si128(_mm_cmpeq_epi8(v, brk),
                                                _mm_or_si128(_mm_cmpeq_epi8(v, lt),
                                                             _mm_cmpeq_epi8(v, amp))));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m)
            return p + (size_t)__builtin_ctz(m);
    }
#endif
    while (p < end && b[p] != '\\' && b[p] != '`' && b[p] != '[' && b[p] != '<' && b[p] != '&')
        p++;
    return p;
}

/* Processes inline markup of [p, line_end). Returns where the next line starts (past
 * line_end, or further when a comment spans lines). */
static size_t md_inline(struct md *m, size_t p, size_t line_end)
{
    uint8_t *b = m->b;
    while (p < line_end) {
        uint8_t c = b[p];
        switch (c) {
        case '\\':
            p += 2; /* an escaped character is literal */
            break;
        case '`': {
            size_t run = 0;
            while (p + run < line_end && b[p + run] == '`')
                run++;
            /* a code span: its content is literal, find the closing run */
            size_t lim = min_sz(line_end, p + run + MD_SPAN_MAX);
            size_t q = p + run, close = 0;
            while (q < lim) {
                if (b[q] != '`') {
                    q++;
                    continue;
                }
                size_t r = 0;
                while (q + r < lim && b[q + r] == '`')
                    r++;
                if (r == run) {
                    close = q + r;
                    break;
                }
                q += r;
            }
            p = close ? close : p + run;
            break;
        }
        case '[':
            p = md_link(m, p, line_end, p > 0 && b[p - 1] == '!');
            break;
        case '<': {
            size_t q = md_angle(m, p, line_end);
            if (q > line_end) {
                /* a comment ran over lines: go on with the line it ended on */
                const uint8_t *nl = q < m->len ? memchr(b + q, '\n', m->len - q) : NULL;
                line_end = nl ? (size_t)(nl - b) : m->len;
            }
            p = q;
            break;
        }
        case '&': {
            size_t n = entity_decode(b, p, line_end);
            p += n ? n : 1;
            break;
        }
        default:
            p = md_next_markup(b, p + 1, line_end);
        }
    }
    return line_end + 1;
}

/* Appends a heading's text [p, p + n) to the title without its inline markup, as CommonMark
 * renders it: backslash escapes, code spans' backticks (their content literal), and the
 * runs of `*`, `_`, `~` that open and close emphasis in pairs (left-flanking opens,
 * right-flanking closes; `_` not inside a word). An unpaired run (`*.txt`, `2 * 3`,
 * `**kwargs`) stays. The body keeps them all: they separate words there anyway. */
static int md_title_add(struct title *t, const uint8_t *p, size_t n)
{
    uint8_t *drop = kq__calloc(n ? n : 1, 1);
    if (!drop)
        return KQ_ENOMEM;
    size_t open[3][16], n_open[3] = {0, 0, 0}; /* openers of *, _, ~: their start */
    size_t run_len[3][16];
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        if (c == '\\' && i + 1 < n && p[i + 1] > ' ' && p[i + 1] < 0x7f && !is_alpha(p[i + 1]) &&
            !is_digit(p[i + 1])) {
            drop[i] = 1;
            i += 2; /* the escaped character is literal */
            continue;
        }
        size_t r = 1;
        while (i + r < n && p[i + r] == c)
            r++;
        if (c == '`') { /* a code span: to the next run of as many backticks */
            size_t q = i + r;
            while (q < n) {
                size_t r2 = 1;
                if (p[q] != '`') {
                    q++;
                    continue;
                }
                while (q + r2 < n && p[q + r2] == '`')
                    r2++;
                if (r2 == r)
                    break;
                q += r2;
            }
            if (q < n) {
                memset(drop + i, 1, r);
                memset(drop + q, 1, r);
                i = q + r;
                continue;
            }
            i += r;
            continue;
        }
        int k = c == '*' ? 0 : c == '_' ? 1 : c == '~' ? 2 : -1;
        if (k < 0) {
            i++;
            continue;
        }
        /* flanking (CommonMark): the heading's ends count as whitespace */
        int before_ws = i == 0 || is_space(p[i - 1]), after_ws = i + r >= n || is_space(p[i + r]);
        int word_before = i > 0 && (is_alpha(p[i - 1]) || is_digit(p[i - 1]) || p[i - 1] >= 0x80);
        int word_after = i + r < n && (is_alpha(p[i + r]) || is_digit(p[i + r]) || p[i + r] >= 0x80);
        int left = !after_ws, right = !before_ws;
        if (c == '_' && word_before && word_after)
            left = right = 0; /* snake_case */
        if (right && n_open[k]) { /* closes the latest opener of its character */
            size_t o = open[k][--n_open[k]], ol = run_len[k][n_open[k]];
            memset(drop + o, 1, ol);
            memset(drop + i, 1, r);
        } else if (left && n_open[k] < 16) {
            run_len[k][n_open[k]] = r;
            open[k][n_open[k]++] = i;
        }
        i += r;
    }
    int rc = 0;
    for (size_t i = 0, from = 0; i <= n && !rc; i++)
        if (i == n || drop[i]) {
            rc = title_add(t, p + from, i - from);
            from = i + 1;
        }
    kq__free(drop);
    return rc;
}

/* Whether the line [p, e) holds only `c` repeated (at least `min` times), after up to three
 * spaces and before trailing whitespace: a setext underline (`===`, `---`), a front matter
 * fence (`---`, `...`). */
static int rule_line(const uint8_t *b, size_t p, size_t e, uint8_t c, size_t min)
{
    for (int k = 0; k < 3 && p < e && b[p] == ' '; k++)
        p++;
    size_t n = 0;
    while (p < e && b[p] == c)
        p++, n++;
    while (p < e && is_space(b[p]))
        p++;
    return p == e && n >= min;
}

/* Whether the line [p, e) starts a list item (`- x`, `* x`, `+ x`, `1. x`, `1) x`). */
static int list_item(const uint8_t *b, size_t p, size_t e)
{
    size_t q = p;
    while (q < e && q - p < 9 && is_digit(b[q]))
        q++;
    if (q > p)
        return q < e && (b[q] == '.' || b[q] == ')') && (q + 1 == e || is_space(b[q + 1]));
    return p < e && (b[p] == '-' || b[p] == '*' || b[p] == '+') && (p + 1 == e || is_space(b[p + 1]));
}

/* Whether the line [p, e) is `ccc` (a YAML document's fence), trailing whitespace aside. */
static int yaml_fence(const uint8_t *b, size_t p, size_t e, uint8_t c)
{
    while (e > p && is_space(b[e - 1]))
        e--;
    return e - p == 3 && b[p] == c && b[p + 1] == c && b[p + 2] == c;
}

/* YAML front matter: a first line `---`, then `key: value` lines up to a line `---` or
 * `...` (within FRONT_MATTER_MAX bytes). Its fences and top-level keys are blanked (the
 * values stay text) and a `title:` value is the title. Returns where the body starts (0
 * when there is none). */
static size_t md_front_matter(uint8_t *b, size_t len, struct title *t, int *rc)
{
    size_t e = line_end_at(b, 0, len), p = 0;
    while (p < e && (b[p] == ' ' || b[p] == 0)) /* a blanked byte order mark */
        p++;
    if (p != 0 && p != 3)
        return 0;
    if (!yaml_fence(b, p, e, '-'))
        return 0;
    size_t lim = min_sz(len, FRONT_MATTER_MAX), close = 0;
    for (size_t i = e + 1; i < lim && !close;) {
        size_t le = line_end_at(b, i, len);
        if (yaml_fence(b, i, le, '-') || yaml_fence(b, i, le, '.'))
            close = i;
        else
            i = le + 1;
    }
    if (!close)
        return 0;
    size_t end = line_end_at(b, close, len);
    for (size_t i = e + 1; i < close;) {
        size_t le = line_end_at(b, i, len), k = i;
        while (k < le && (is_alpha(b[k]) || is_digit(b[k]) || b[k] == '_' || b[k] == '-'))
            k++;
        if (k > i && k < le && b[k] == ':') {
            int title = k - i == 5 && !strncasecmp((const char *)b + i, "title", 5);
            blank(b, i, k + 1);
            size_t vs = k + 1, ve = le;
            while (vs < ve && is_space(b[vs]))
                vs++;
            while (ve > vs && is_space(b[ve - 1]))
                ve--;
            if (ve - vs >= 2 && (b[vs] == '"' || b[vs] == '\'') && b[ve - 1] == b[vs])
                vs++, ve--;
            int block = ve > vs && ve - vs <= 3 && (b[vs] == '|' || b[vs] == '>');
            if (title && block && !t->buf.len) /* a block scalar: the indented lines after */
                for (size_t j = le + 1; j < close && (b[j] == ' ' || b[j] == '\t') && !*rc;) {
                    size_t je = line_end_at(b, j, len);
                    *rc = title_add(t, b + j, je - j);
                    t->space = t->buf.len > 0;
                    j = je + 1;
                }
            else if (title && !t->buf.len && ve > vs)
                *rc = title_add(t, b + vs, ve - vs);
            if (title && !*rc)
                title_trim(t);
        }
        i = le + 1;
    }
    blank(b, 0, e);
    blank(b, close, end);
    return end < len ? end + 1 : len;
}

static int extract_markdown(uint8_t *b, size_t len, struct title *t)
{
    struct md m = {b, len, SIZE_MAX, {SIZE_MAX, SIZE_MAX}, NULL, 0};
    uint8_t fence = 0; /* '`' or '~' inside a fenced code block */
    size_t fence_len = 0;
    int have_heading = 0, have_first = 0, after_blank = 1;
    int in_list = 0, in_code = 0; /* in a list item; in an indented code block */
    struct title first = {KQ_BUF_INIT, 0, 0};
    int rc = 0;
    size_t i = md_front_matter(b, len, t, &rc);
    if (rc || (rc = md_labels(&m)))
        goto out;
    have_heading = t->buf.len > 0; /* the front matter's title comes first */
    while (i < len) {
        const uint8_t *nl = memchr(b + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - b) : len;
        size_t p = i, ws = i, indent = 0;
        for (int k = 0; k < 3 && p < e && b[p] == ' '; k++)
            p++;
        for (; ws < e && (b[ws] == ' ' || b[ws] == '\t'); ws++)
            indent += b[ws] == '\t' ? 4 - indent % 4 : 1;
        /* code fences: indented up to 3 columns, or as deep as a list item's content */
        size_t fp = indent <= 3 || in_list ? ws : e;
        if (fp + 3 <= e && (b[fp] == '`' || b[fp] == '~') && b[fp + 1] == b[fp] &&
            b[fp + 2] == b[fp]) {
            size_t run = 0;
            while (fp + run < e && b[fp + run] == b[fp])
                run++;
            if (!fence) {
                fence = b[fp];
                fence_len = run;
                blank(b, fp, e);
            } else if (b[fp] == fence && run >= fence_len) {
                fence = 0;
                blank(b, fp, e);
            }
            i = e + 1;
            continue;
        }
        if (fence) {
            i = e + 1;
            continue;
        }
        int blank_line = ws == e;
        for (size_t k = ws; k < e && blank_line; k++)
            blank_line = is_space(b[k]) || b[k] == 0;
        int was_after_blank = after_blank;
        after_blank = blank_line;
        /* an indented code block (not in a list, where indentation is the item's): after a
         * blank line, 4 columns in; its text is literal, as a fenced block's */
        if (!blank_line) {
            in_code = indent >= 4 && !in_list && (was_after_blank || in_code);
            if (list_item(b, ws, e))
                in_list = 1;
            else if (indent == 0 && was_after_blank)
                in_list = 0; /* a paragraph at the margin ends the list */
        }
        if (in_code) {
            i = e + 1;
            continue;
        }
        /* block quotes */
        while (p < e && b[p] == '>') {
            b[p++] = ' ';
            if (p < e && b[p] == ' ')
                p++;
        }
        if (md_refdef(b, p, e)) {
            blank(b, p, e);
            i = e + 1;
            continue;
        }
        /* ATX headings */
        size_t h = 0;
        while (p + h < e && h < 7 && b[p + h] == '#')
            h++;
        int heading = h >= 1 && h <= 6 && (p + h == e || b[p + h] == ' ' || b[p + h] == '\t');
        if (heading) {
            blank(b, p, p + h);
            /* closing sequence: spaces then #s at the end */
            size_t ce = e;
            while (ce > p + h && (b[ce - 1] == ' ' || b[ce - 1] == '\t' || b[ce - 1] == '\r'))
                ce--;
            size_t cs = ce;
            while (cs > p + h && b[cs - 1] == '#')
                cs--;
            if (cs < ce && (b[cs - 1] == ' ' || b[cs - 1] == '\t'))
                blank(b, cs, ce);
        }
        /* a setext heading: a paragraph's first line, underlined with = or - */
        size_t ue = e < len ? line_end_at(b, e + 1, len) : e;
        int setext = !heading && !blank_line && was_after_blank && e < len &&
                     !list_item(b, p, e) &&
                     (rule_line(b, e + 1, ue, '=', 1) || rule_line(b, e + 1, ue, '-', 1));
        size_t next = md_inline(&m, p, e);
        size_t line_end = e;
        if ((heading || setext) && !have_heading) {
            rc = md_title_add(t, b + p, line_end - p);
            if (rc)
                goto out;
            title_trim(t);
            have_heading = t->buf.len > 0;
        }
        if (setext && next == e + 1) {
            blank(b, e + 1, ue);
            next = ue + 1; /* the underline is no paragraph of its own */
            after_blank = 1;
        }
        if (!have_first && !have_heading && !rule_line(b, p, e, '-', 3) &&
            !rule_line(b, p, e, '*', 3) && !rule_line(b, p, e, '_', 3)) { /* not a break */
            size_t s = i;
            while (s < line_end && (is_space(b[s]) || b[s] == 0))
                s++;
            if (s < line_end) {
                have_first = 1;
                rc = title_first_line(&first, b + i, line_end - i);
                if (rc)
                    goto out;
            }
        }
        i = next;
    }
    if (!have_heading) {
        kq_buf_release(&t->buf);
        *t = first;
        first.buf = (kq_buf)KQ_BUF_INIT;
    }
out:
    kq_buf_release(&first.buf);
    kq__free(m.labels);
    return rc;
}

int kq_extract(enum kq_format fmt, const char *src, size_t len, struct kq_extracted *out,
               kq_error *err)
{
    memset(out, 0, sizeof *out);
    struct title t = {KQ_BUF_INIT, 0, 0};
    int in_body = 1;
    size_t title_src = SIZE_MAX;
    int rc;
    uint8_t *b = kq__malloc(len + 1);
    if (!b)
        return kq__enomem(err);
    if (len)
        memcpy(b, src, len);
    b[len] = '\0';
    if (len >= 3 && !memcmp(b, "\xef\xbb\xbf", 3))
        blank(b, 0, 3); /* a byte order mark is no text (nor part of the title) */
    switch (fmt) {
    case KQ_FORMAT_MARKDOWN:
        rc = extract_markdown(b, len, &t);
        break;
    case KQ_FORMAT_HTML:
        rc = extract_html(b, len, &t, &in_body, &title_src);
        break;
    default:
        rc = extract_plain(b, len, &t);
        break;
    }
    if (!rc)
        rc = title_finish(&t, out, in_body);
    kq_buf_release(&t.buf);
    if (rc) {
        kq__free(b);
        kq_extracted_release(out);
        return kq__enomem(err);
    }
    out->body = (char *)b;
    out->body_len = len;
    out->title_src = out->title_len && !out->title_in_body ? title_src : SIZE_MAX;
    return 0;
}
