/* util/json.c: JSON strings and numbers. Invariant: the output is always valid JSON text
 * (RFC 8259) and valid UTF-8, whatever bytes come in. */
#include "util/json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kq/error.h"

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not one. */
static size_t utf8_valid(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

static int utf8_text(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    size_t n;
    for (; p < end; p += n)
        if (!(n = utf8_valid(p, end)))
            return 0;
    return 1;
}

int kq__json_string(kq_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    if (kq_buf_putc(out, '"'))
        return KQ_ENOMEM;
    while (p < end) {
        uint8_t c = *p;
        int rc = 0;
        if (c == '"' || c == '\\') {
            uint8_t e[2] = {'\\', c};
            rc = kq_buf_append(out, e, 2);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            uint8_t e[6] = {'\\', 'u', '0', '0', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
            if (c == '\n')
                rc = kq_buf_append(out, "\\n", 2);
            else if (c == '\t')
                rc = kq_buf_append(out, "\\t", 2);
            else if (c == '\r')
                rc = kq_buf_append(out, "\\r", 2);
            else
                rc = kq_buf_append(out, e, 6);
            p++;
        } else {
            size_t n = utf8_valid(p, end);
            if (n) {
                rc = kq_buf_append(out, p, n);
                p += n;
            } else {
                rc = kq_buf_append(out, "\xef\xbf\xbd", 3); /* U+FFFD */
                p++;
            }
        }
        if (rc)
            return KQ_ENOMEM;
    }
    return kq_buf_putc(out, '"') ? KQ_ENOMEM : 0;
}

int kq__json_number(kq_buf *out, double v)
{
    char t[64];
    int n = snprintf(t, sizeof t, "%.10g", isfinite(v) ? v : 0.0);
    return kq_buf_append(out, t, (size_t)n) ? KQ_ENOMEM : 0;
}

/* The base64 alphabet, and the padding at index 64. */
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

int kq__json_bytes_member(kq_buf *out, const char *name, const char *s, size_t len)
{
    size_t nl = strlen(name);
    if (kq_buf_putc(out, '"') || kq_buf_append(out, name, nl) || kq_buf_append(out, "\":", 2) ||
        kq__json_string(out, s, len))
        return KQ_ENOMEM;
    if (utf8_text(s, len))
        return 0;
    if (kq_buf_append(out, ",\"", 2) || kq_buf_append(out, name, nl) ||
        kq_buf_append(out, "_bytes\":\"", 9) || kq_buf_reserve(out, (len + 2) / 3 * 4 + 1))
        return KQ_ENOMEM;
    const uint8_t *p = (const uint8_t *)s;
    char *o = (char *)out->p + out->len;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < len ? p[i + 2] : 0);
        *o++ = b64[v >> 18];
        *o++ = b64[v >> 12 & 63];
        *o++ = b64[i + 1 < len ? v >> 6 & 63 : 64];
        *o++ = b64[i + 2 < len ? v & 63 : 64];
    }
    *o++ = '"';
    out->len = (size_t)((uint8_t *)o - out->p);
    return 0;
}

long kq__base64_decode(const char *in, size_t n, unsigned char *out)
{
    if (n % 4)
        return -1;
    long len = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (size_t k = 0; k < 4; k++) {
            const char *c = in[i + k] && in[i + k] != '=' ? strchr(b64, in[i + k]) : NULL;
            if (in[i + k] == '=' && i + 4 == n && k >= 2 && (k == 3 || in[i + 3] == '='))
                pad++;
            else if (!c || pad)
                return -1;
            v = v << 6 | (c ? (uint32_t)(c - b64) : 0);
        }
        out[len++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[len++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[len++] = (unsigned char)v;
    }
    return len;
}
