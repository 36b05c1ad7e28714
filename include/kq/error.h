/* kq/error.h: the one error model of libkq.
 *
 * Every fallible function returns 0 or a negative KQ_E* code, and fills a caller-provided
 * kq_error (when non-NULL) with the code, the byte offset the error refers to (in a query,
 * a request or a file; -1 when none) and a human message. One X-macro table feeds the
 * enum, kq_strerror() and the daemon's stable JSON error codes.
 *
 * Thread safety: all functions here are reentrant.
 */
#ifndef KQ_ERROR_H
#define KQ_ERROR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, stable wire code, default message) */
#define KQ_ERRORS(X)                                                                   \
    X(KQ_OK, 0, "ok", "success")                                                       \
    X(KQ_ENOMEM, -1, "internal", "out of memory")                                      \
    X(KQ_EIO, -2, "io_error", "input/output error")                                    \
    X(KQ_ECORRUPT, -3, "corrupt_index", "index is corrupt")                            \
    X(KQ_EVERSION, -4, "unsupported_version", "unsupported format version")            \
    X(KQ_ESYNTAX, -5, "parse_error", "syntax error")                                   \
    X(KQ_ELIMIT, -6, "too_large", "limit exceeded")                                    \
    X(KQ_EINVAL, -7, "bad_request", "invalid argument")                                \
    X(KQ_ENOTFOUND, -8, "not_found", "not found")                                      \
    X(KQ_ELOCKED, -9, "locked", "index is locked by another writer")                   \
    X(KQ_ENOSPC, -10, "no_space", "no space left on device")                           \
    X(KQ_EINTERNAL, -11, "internal", "internal error")                                 \
    X(KQ_EBADJSON, -12, "invalid_json", "invalid JSON")                                \
    X(KQ_EBADOP, -13, "unknown_op", "unknown operation")                               \
    X(KQ_EOVERLOADED, -14, "overloaded", "server overloaded")                          \
    X(KQ_ETIMEDOUT, -15, "timeout", "timed out")                                       \
    X(KQ_ESHUTDOWN, -16, "shutting_down", "server is shutting down")

enum kq_errcode {
#define KQ_X_ENUM(name, value, wire, msg) name = (value),
    KQ_ERRORS(KQ_X_ENUM)
#undef KQ_X_ENUM
};

/* The longest message kept; longer ones are truncated. */
#define KQ_ERROR_MSG_MAX 256

typedef struct kq_error {
    int code;       /* 0 or a negative KQ_E* code */
    int64_t offset; /* byte offset the error refers to, -1 if none */
    char msg[KQ_ERROR_MSG_MAX];
} kq_error;

/* kq_strerror: the default message of `code` ("unknown error" for codes not in the table).
 * Returns a static string; never NULL. */
const char *kq_strerror(int code);

/* kq_error_wire_code: the stable machine-readable name of `code` used on the wire
 * ("parse_error", "too_large"...). Returns a static string; never NULL. */
const char *kq_error_wire_code(int code);

/* kq_error_clear: resets `err` (may be NULL) to KQ_OK, offset -1, empty message. */
void kq_error_clear(kq_error *err);

#ifdef __cplusplus
}
#endif
#endif
