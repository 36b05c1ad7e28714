/* text/utf8.c: UTF-8 decoding and encoding for text of any quality.
 *
 * Invariant: kq_utf8_decode never reads at or past `end`, and a sequence that is not
 * well-formed UTF-8 (stray continuation byte, overlong form, surrogate, value above
 * U+10FFFF, or truncated) reads as U+FFFD and consumes exactly one byte, so the decoder
 * resynchronises on the next byte and every input byte is consumed exactly once.
 */
#include "text/text.h"

#define REPLACEMENT 0xFFFD

int32_t kq_utf8_decode(const uint8_t *p, const uint8_t *end, size_t *n)
{
    uint8_t c = p[0];
    if (c < 0x80) {
        *n = 1;
        return c;
    }
    size_t avail = (size_t)(end - p);
    int32_t cp;
    size_t len;
    int32_t min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        goto invalid; /* continuation byte, C0/C1 (always overlong) or F5..FF */
    }
    if (avail < len)
        goto invalid;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            goto invalid;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        goto invalid;
    *n = len;
    return cp;
invalid:
    *n = 1;
    return REPLACEMENT;
}

size_t kq_utf8_encode(int32_t cp, uint8_t *out)
{
    if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = REPLACEMENT;
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}
