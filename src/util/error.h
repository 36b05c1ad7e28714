/* util/error.h: filling a kq_error inside the library. */
#ifndef KQ_UTIL_ERROR_H
#define KQ_UTIL_ERROR_H

#include <stdarg.h>

#include "kq/error.h"

#if defined(__GNUC__)
#define KQ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KQ_PRINTF(a, b)
#endif

/* kq__error: sets `err` (may be NULL) to `code`, `offset` and the formatted message (the
 * default message of `code` when fmt is NULL). Returns `code`, so callers can write
 * `return kq__error(err, KQ_ECORRUPT, off, "...")`. */
int kq__error(kq_error *err, int code, int64_t offset, const char *fmt, ...) KQ_PRINTF(4, 5);

/* kq__enomem: the out-of-memory error. */
static inline int kq__enomem(kq_error *err)
{
    return kq__error(err, KQ_ENOMEM, -1, "%s", kq_strerror(KQ_ENOMEM));
}

#endif
