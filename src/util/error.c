/* util/error.c: kq_strerror, wire codes and the internal error setter. */
#include "util/error.h"

#include <stdio.h>
#include <string.h>

const char *kq_strerror(int code)
{
    switch (code) {
#define KQ_X_CASE(name, value, wire, msg)                                                  \
    case value:                                                                            \
        return msg;
        KQ_ERRORS(KQ_X_CASE)
#undef KQ_X_CASE
    }
    return "unknown error";
}

const char *kq_error_wire_code(int code)
{
    switch (code) {
#define KQ_X_CASE(name, value, wire, msg)                                                  \
    case value:                                                                            \
        return wire;
        KQ_ERRORS(KQ_X_CASE)
#undef KQ_X_CASE
    }
    return "internal";
}

void kq_error_clear(kq_error *err)
{
    if (!err)
        return;
    err->code = KQ_OK;
    err->offset = -1;
    err->msg[0] = '\0';
}

void kq__error_fill(kq_error *err, int code, int64_t offset, const char *fmt, va_list ap)
{
    if (!fmt) {
        kq__error_set(err, code, offset, NULL);
        return;
    }
    err->code = code;
    err->offset = offset;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
}

void kq__error_set(kq_error *err, int code, int64_t offset, const char *msg)
{
    err->code = code;
    err->offset = offset;
    snprintf(err->msg, sizeof err->msg, "%s", msg ? msg : kq_strerror(code));
}
