/* util/buf.h: a growable byte buffer (git's strbuf, minus the string promises).
 *
 * A kq_buf owns `p` (NULL when empty and never grown). Appends return 0 or KQ_ENOMEM and
 * leave the buffer unchanged on failure. kq_buf_release frees and resets; it accepts a
 * zeroed buffer. `p` moves when the buffer grows: do not keep pointers into it across
 * appends.
 */
#ifndef KQ_UTIL_BUF_H
#define KQ_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/bytes.h"

#define KQ_BUF_ENOMEM (-1) /* KQ_ENOMEM, without pulling kq/error.h into every user */

typedef struct kq_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
} kq_buf;

#define KQ_BUF_INIT {NULL, 0, 0}

void kq_buf_release(kq_buf *b);
/* Makes room for `extra` more bytes beyond len; afterwards p is never NULL, even for
 * `extra` 0, so that p + len is defined. */
int kq_buf_reserve(kq_buf *b, size_t extra);
int kq_buf_append(kq_buf *b, const void *data, size_t len);
int kq_buf_put_u16(kq_buf *b, uint16_t v); /* little endian */
int kq_buf_put_u32(kq_buf *b, uint32_t v); /* little endian */
int kq_buf_put_u64(kq_buf *b, uint64_t v); /* little endian */

/* Appends `n` zero bytes. */
int kq_buf_put_zeros(kq_buf *b, size_t n);

/* The byte and varint appends are inline: the inverter calls them once a posting. */
static inline int kq_buf_putc(kq_buf *b, uint8_t c)
{
    if (b->len == b->cap && kq_buf_reserve(b, 1))
        return KQ_BUF_ENOMEM;
    b->p[b->len++] = c;
    return 0;
}

static inline int kq_buf_put_varint(kq_buf *b, uint64_t v)
{
    if (b->cap - b->len < KQ_VARINT_MAX && kq_buf_reserve(b, KQ_VARINT_MAX))
        return KQ_BUF_ENOMEM;
    b->len += kq_varint_put(b->p + b->len, v);
    return 0;
}

static inline void kq_buf_reset(kq_buf *b)
{
    b->len = 0;
}

#endif
