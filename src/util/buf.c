/* util/buf.c: growable byte buffer. Invariant: len <= cap, and p != NULL whenever cap > 0. */
#include "util/buf.h"

#include "kq/error.h"
#include "util/alloc.h"

_Static_assert(KQ_BUF_ENOMEM == KQ_ENOMEM, "KQ_BUF_ENOMEM must equal KQ_ENOMEM");
#include "util/bytes.h"

void kq_buf_release(kq_buf *b)
{
    kq__free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int kq_buf_reserve(kq_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len && b->p)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return KQ_ENOMEM;
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 16; /* small: the inverter keeps one buffer per term */
    while (cap < need)
        cap *= 2;
    uint8_t *p = kq__realloc(b->p, cap);
    if (!p)
        return KQ_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int kq_buf_append(kq_buf *b, const void *data, size_t len)
{
    if (!len)
        return 0;
    if (kq_buf_reserve(b, len))
        return KQ_ENOMEM;
    memcpy(b->p + b->len, data, len);
    b->len += len;
    return 0;
}

int kq_buf_put_u16(kq_buf *b, uint16_t v)
{
    uint8_t t[2];
    kq_put_le16(t, v);
    return kq_buf_append(b, t, 2);
}

int kq_buf_put_u32(kq_buf *b, uint32_t v)
{
    uint8_t t[4];
    kq_put_le32(t, v);
    return kq_buf_append(b, t, 4);
}

int kq_buf_put_u64(kq_buf *b, uint64_t v)
{
    uint8_t t[8];
    kq_put_le64(t, v);
    return kq_buf_append(b, t, 8);
}

int kq_buf_put_zeros(kq_buf *b, size_t n)
{
    if (kq_buf_reserve(b, n))
        return KQ_ENOMEM;
    memset(b->p + b->len, 0, n);
    b->len += n;
    return 0;
}
