/* util/bytes.h: little-endian fixed-width integers and LEB128 varints.
 *
 * Readers of untrusted bytes use kq_varint_get, which never reads at or past `end` and
 * returns 0 (with *v untouched) on truncated or over-long input (more than 10 bytes, or a
 * value that does not fit 64 bits).
 */
#ifndef KQ_UTIL_BYTES_H
#define KQ_UTIL_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define KQ_VARINT_MAX 10

static inline void kq_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void kq_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void kq_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t kq_get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t kq_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline uint64_t kq_get_le64(const uint8_t *p)
{
    return (uint64_t)kq_get_le32(p) | ((uint64_t)kq_get_le32(p + 4) << 32);
}

/* Writes `v` as LEB128 at `p` (room for KQ_VARINT_MAX bytes); returns the bytes written. */
static inline size_t kq_varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static inline size_t kq_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Reads a LEB128 value from [p, end). Returns the bytes consumed, or 0 when the input is
 * truncated or malformed. */
static inline size_t kq_varint_get(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < KQ_VARINT_MAX && p + i < end; i++) {
        uint8_t c = p[i];
        if (i == 9 && c > 1)
            return 0;
        r |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

#endif
