/* text/jsonl.c: one line of a BEIR JSON-lines corpus into id, title and text.
 *
 * Two readers give the same answers. The fast one scans the line once without building a
 * tree: one object whose keys are plain strings and whose values are strings, null, true,
 * false, short numbers, or arrays and objects of those, nested a little. It gives up on
 * anything else it would have to get exactly as jansson does (escapes in keys, long
 * numbers, deep nesting, ids that are not strings, every error) and leaves the line to
 * jansson (which allocates with its own malloc), so results, errors and their offsets
 * stay jansson's. The strings we keep are copied through the kq allocator. Extra keys
 * are ignored (the last of duplicate keys counts); strings may hold NUL bytes (\u0000),
 * which the analyser ignores, and a lone surrogate (\udc80) reads as U+FFFD.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "text/text.h"
#include "util/alloc.h"
#include "util/error.h"

void kq_json_doc_release(struct kq_json_doc *d)
{
    if (!d)
        return;
    kq__free(d->id);
    kq__free(d->title);
    kq__free(d->text);
    memset(d, 0, sizeof *d);
}

/* Copies the optional string member `key` of `obj` into *s / *len ("" when absent or
 * null). Returns 0, KQ_EINVAL (not a string) or KQ_ENOMEM. */
static int get_string(json_t *obj, const char *key, char **s, size_t *len, kq_error *err)
{
    json_t *v = json_object_get(obj, key);
    const char *p = "";
    size_t n = 0;
    if (v && !json_is_null(v)) {
        if (!json_is_string(v))
            return kq__error(err, KQ_EINVAL, 0, "member '%s' is not a string", key);
        p = json_string_value(v);
        n = json_string_length(v);
    }
    *s = kq__strndup(p, n);
    if (!*s)
        return kq__enomem(err);
    *len = n;
    return 0;
}

/* ---- the fast reader ---- */

#define FAST_DEPTH 16 /* nesting the fast reader follows */
#define FAST_NUM 18   /* longest number it reads: no integer overflows, no real does */

/* A value the fast reader saw. */
struct fval {
    int kind;         /* V_* */
    const uint8_t *p; /* V_STR: the bytes between the quotes */
    size_t len;
    int esc; /* V_STR: holds escapes */
};

enum { V_ABSENT = 0, V_NULL, V_STR, V_OTHER };

static int is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end)
{
    while (p < end && is_ws(*p))
        p++;
    return p;
}

static int hex4(const uint8_t *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* Does one of the 8 bytes of `x` need a look: a quote, a backslash, a control character
 * or a byte >= 0x80? (Exact for the first such byte; later ones may be false alarms.) */
static inline int word_special(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | (x - ones * 0x20) | x) & high ? 1 : 0;
}

/* Scans a string from after its opening quote to after its closing one, as jansson reads
 * it: well-formed UTF-8, no control characters, known escapes, \u surrogates paired.
 * `*esc` tells whether it holds escapes. NULL: not a string the fast reader takes. */
static const uint8_t *scan_string(const uint8_t *p, const uint8_t *end, int *esc)
{
    *esc = 0;
    for (;;) {
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            if (word_special(x))
                break;
            p += 8;
        }
        if (p >= end)
            return NULL;
        uint8_t c = *p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c < 0x80 && c != '\\') {
            p++;
            continue;
        }
        if (c >= 0x80) {
            size_t n;
            int32_t cp = kq_utf8_decode(p, end, &n);
            if (cp == 0xFFFD && n == 1)
                return NULL; /* not well-formed */
            p += n;
            continue;
        }
        *esc = 1;
        if (end - p < 2)
            return NULL;
        c = p[1];
        if (c != 'u') {
            if (!c || !strchr("\"\\/bfnrt", c))
                return NULL;
            p += 2;
            continue;
        }
        int u;
        if (end - p < 6 || (u = hex4(p + 2)) < 0)
            return NULL;
        p += 6;
        if (u >= 0xDC00 && u <= 0xDFFF)
            return NULL;
        if (u >= 0xD800 && u <= 0xDBFF) {
            int l;
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || (l = hex4(p + 2)) < 0xDC00 ||
                l > 0xDFFF)
                return NULL;
            p += 6;
        }
    }
}

/* Decodes a string scan_string accepted (`len` bytes between the quotes) into `out`, which
 * has room for `len` bytes: no escape decodes longer than it is written. */
static size_t unescape(const uint8_t *p, size_t len, uint8_t *out)
{
    const uint8_t *end = p + len;
    uint8_t *o = out;
    while (p < end) {
        const uint8_t *bs = memchr(p, '\\', (size_t)(end - p));
        size_t run = (size_t)((bs ? bs : end) - p);
        memcpy(o, p, run); /* the bytes up to the next escape as they are */
        o += run;
        p += run;
        if (p == end)
            break;
        uint8_t c = p[1];
        p += 2;
        switch (c) {
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            int32_t u = hex4(p);
            p += 4;
            if (u >= 0xD800 && u <= 0xDBFF) {
                u = 0x10000 + ((u - 0xD800) << 10) + (hex4(p + 2) - 0xDC00);
                p += 6;
            }
            o += kq_utf8_encode(u, o);
            break;
        }
        default:
            *o++ = c;
            break; /* " \ / */
        }
    }
    return (size_t)(o - out);
}

/* A number as jansson reads one, short enough that it neither overflows nor underflows. */
static const uint8_t *scan_number(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *s = p;
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if (p < end && *p >= '1' && *p <= '9')
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (p < end && *p == '.') {
        const uint8_t *d = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const uint8_t *d = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == d || p - d > 2)
            return NULL;
    }
    return p - s <= FAST_NUM ? p : NULL;
}

/* Scans the value at `p` (no whitespace before it) into `v`. NULL: not for the fast reader. */
static const uint8_t *scan_value(const uint8_t *p, const uint8_t *end, int depth, struct fval *v)
{
    if (p >= end)
        return NULL;
    v->kind = V_OTHER;
    switch (*p) {
    case '"': {
        const uint8_t *q = scan_string(p + 1, end, &v->esc);
        if (!q)
            return NULL;
        v->kind = V_STR;
        v->p = p + 1;
        v->len = (size_t)(q - 1 - v->p);
        return q;
    }
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4))
            return NULL;
        v->kind = V_NULL;
        return p + 4;
    case 't':
        return end - p >= 4 && !memcmp(p, "true", 4) ? p + 4 : NULL;
    case 'f':
        return end - p >= 5 && !memcmp(p, "false", 5) ? p + 5 : NULL;
    case '[':
    case '{': {
        uint8_t close = *p == '[' ? ']' : '}';
        int obj = *p == '{';
        if (depth >= FAST_DEPTH)
            return NULL;
        p = skip_ws(p + 1, end);
        if (p < end && *p == close)
            return p + 1;
        for (;;) {
            struct fval x;
            if (obj) {
                int esc;
                if (p >= end || *p != '"' || !(p = scan_string(p + 1, end, &esc)) || esc)
                    return NULL;
                p = skip_ws(p, end);
                if (p >= end || *p != ':')
                    return NULL;
                p = skip_ws(p + 1, end);
            }
            if (!(p = scan_value(p, end, depth + 1, &x)))
                return NULL;
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p = skip_ws(p + 1, end);
                continue;
            }
            return p < end && *p == close ? p + 1 : NULL;
        }
    }
    default:
        return scan_number(p, end);
    }
}

/* Copies a V_STR, V_NULL or V_ABSENT value (those two as ""). */
static int take_string(const struct fval *v, char **s, size_t *len, kq_error *err)
{
    size_t n = v->kind == V_STR ? v->len : 0;
    char *c = kq__malloc(n + 1);
    if (!c)
        return kq__enomem(err);
    if (v->kind == V_STR && v->esc)
        n = unescape(v->p, v->len, (uint8_t *)c);
    else if (n)
        memcpy(c, v->p, n);
    c[n] = '\0';
    *s = c;
    *len = n;
    return 0;
}

/* The fast reader. Returns 0, KQ_ENOMEM, or 1: the line is jansson's to read. */
static int parse_fast(const char *line, size_t len, struct kq_json_doc *out, kq_error *err)
{
    const uint8_t *p = (const uint8_t *)line, *end = p + len;
    struct fval id = {0}, doc_id = {0}, title = {0}, text = {0};
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return 1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return 1; /* no id */
    for (;;) {
        int esc;
        if (p >= end || *p != '"')
            return 1;
        const uint8_t *k = p + 1;
        if (!(p = scan_string(k, end, &esc)) || esc)
            return 1;
        size_t klen = (size_t)(p - 1 - k);
        struct fval *dst = NULL, other;
        if (klen == 3 && !memcmp(k, "_id", 3))
            dst = &id;
        else if (klen == 6 && !memcmp(k, "doc_id", 6))
            dst = &doc_id;
        else if (klen == 5 && !memcmp(k, "title", 5))
            dst = &title;
        else if (klen == 4 && !memcmp(k, "text", 4))
            dst = &text;
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return 1;
        p = skip_ws(p + 1, end);
        if (!(p = scan_value(p, end, 1, dst ? dst : &other)))
            return 1;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p >= end || *p != '}')
            return 1;
        p = skip_ws(p + 1, end);
        if (p != end)
            return 1;
        break;
    }
    const struct fval *iv = id.kind == V_ABSENT || id.kind == V_NULL ? &doc_id : &id;
    if (iv->kind != V_STR || title.kind == V_OTHER || text.kind == V_OTHER)
        return 1; /* numeric ids and every error: jansson's */
    int rc = take_string(iv, &out->id, &out->id_len, err);
    if (!rc)
        rc = take_string(&title, &out->title, &out->title_len, err);
    if (!rc)
        rc = take_string(&text, &out->text, &out->text_len, err);
    if (rc)
        kq_json_doc_release(out);
    return rc;
}

/* ---- jansson ---- */

/* The code unit of the \u escape at s[i] (s[i] == '\\', s[i + 1] == 'u'), or -1. */
static long u_escape(const char *s, size_t i, size_t len)
{
    if (i + 6 > len || s[i] != '\\' || s[i + 1] != 'u')
        return -1;
    long v = 0;
    for (size_t k = i + 2; k < i + 6; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The \u escapes of lone surrogates in the strings of line[0, len): counted, and rewritten
 * as \ufffd (as long) in `out` when it is not NULL (a copy of the line). JSON's grammar
 * allows them (Python writes them for bytes it could not decode) but jansson refuses the
 * line; the document keeps U+FFFD there instead of being skipped. */
static size_t lone_surrogates(const char *line, size_t len, char *out)
{
    size_t n = 0;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '"') {
            in_string = !in_string;
            continue;
        }
        if (!in_string || line[i] != '\\')
            continue;
        long v = u_escape(line, i, len);
        if (v < 0xD800 || v > 0xDFFF) {
            i++; /* any other escape: its character is not a quote */
            continue;
        }
        long w = v < 0xDC00 ? u_escape(line, i + 6, len) : -1;
        if (w >= 0xDC00 && w <= 0xDFFF) {
            i += 11; /* a pair */
            continue;
        }
        n++;
        static const char fffd[6] = {'\\', 'u', 'f', 'f', 'f', 'd'};
        if (out)
            memcpy(out + i, fffd, sizeof fffd);
        i += 5;
    }
    return n;
}

int kq_jsonl_parse(const char *line, size_t len, struct kq_json_doc *out, kq_error *err)
{
    memset(out, 0, sizeof *out);
    int fast = parse_fast(line, len, out, err);
    return fast != 1 ? fast : kq__jsonl_parse_jansson(line, len, out, err);
}

int kq__jsonl_parse_jansson(const char *line, size_t len, struct kq_json_doc *out,
                            kq_error *err)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    char *mended = NULL;
    if (lone_surrogates(line, len, NULL)) {
        if (!(mended = kq__malloc(len + 1)))
            return kq__enomem(err);
        memcpy(mended, line, len);
        mended[len] = '\0';
        lone_surrogates(line, len, mended);
        line = mended;
    }
    json_t *root = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    kq__free(mended);
    int rc = 0;
    if (!root)
        return kq__error(err, KQ_EINVAL, (int64_t)jerr.position, "invalid JSON at byte %d: %s",
                         jerr.position, jerr.text);
    if (!json_is_object(root)) {
        rc = kq__error(err, KQ_EINVAL, 0, "line is not a JSON object");
        goto out;
    }
    json_t *id = json_object_get(root, "_id");
    if (!id || json_is_null(id))
        id = json_object_get(root, "doc_id");
    if (!id || json_is_null(id)) {
        rc = kq__error(err, KQ_EINVAL, 0, "document has no '_id' or 'doc_id'");
        goto out;
    }
    if (json_is_string(id)) {
        out->id_len = json_string_length(id);
        out->id = kq__strndup(json_string_value(id), out->id_len);
    } else if (json_is_integer(id)) {
        char num[32];
        int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        out->id_len = (size_t)n;
        out->id = kq__strndup(num, out->id_len);
    } else {
        rc = kq__error(err, KQ_EINVAL, 0, "document id is neither a string nor an integer");
        goto out;
    }
    if (!out->id) {
        rc = kq__enomem(err);
        goto out;
    }
    rc = get_string(root, "title", &out->title, &out->title_len, err);
    if (!rc)
        rc = get_string(root, "text", &out->text, &out->text_len, err);
out:
    json_decref(root);
    if (rc)
        kq_json_doc_release(out);
    return rc;
}
