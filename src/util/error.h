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

/* kq__error_fill: sets `err` (not NULL) to `code`, `offset` and the message formatted
 * from `fmt` and `ap` (the default message of `code` when fmt is NULL). */
void kq__error_fill(kq_error *err, int code, int64_t offset, const char *fmt, va_list ap)
    KQ_PRINTF(4, 0);
/* kq__error_set: the same with the message `msg` as it is (truncated to fit). */
void kq__error_set(kq_error *err, int code, int64_t offset, const char *msg);

/* kq__error: sets `err` (may be NULL) to `code`, `offset` and the formatted message (the
 * default message of `code` when fmt is NULL). Returns `code`, so callers can write
 * `return kq__error(err, KQ_ECORRUPT, off, "...")`.
 * Inline so that gcc -fanalyzer sees it return `code`: an opaque error function may, for
 * all an analyser knows, return 0, and it then reports paths where a failed call is taken
 * for a success. (For Clang's analyser, see the macro below.) */
static inline int kq__error(kq_error *err, int code, int64_t offset, const char *fmt, ...)
    KQ_PRINTF(4, 5);
static inline int kq__error(kq_error *err, int code, int64_t offset, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        kq__error_fill(err, code, offset, fmt, ap);
        va_end(ap);
    }
    return code;
}
#ifdef __clang_analyzer__
/* The Clang analyser (clang-tidy's clang-analyzer-* checks) does not look into variadic
 * functions, so it does not know that kq__error returns `code`; it then reports paths on
 * which a failed call seemed to succeed. Say it for the analyser only (`code` is evaluated
 * twice there, which is harmless for analysis; compiled code never sees this macro). */
#define kq__error(err, code, ...) (kq__error((err), (code), __VA_ARGS__), (code))
#endif

/* kq__enomem: the out-of-memory error; returns KQ_ENOMEM. Not through kq__error: the
 * Clang analyser does not look into variadic functions, and this way it sees that every
 * `rc = kq__enomem(err)` makes rc non-zero. */
static inline int kq__enomem(kq_error *err)
{
    if (err)
        kq__error_set(err, KQ_ENOMEM, -1, kq_strerror(KQ_ENOMEM));
    return KQ_ENOMEM;
}

#endif
