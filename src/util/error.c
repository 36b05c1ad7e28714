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

int kq__error(kq_error *err, int code, int64_t offset, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        err->offset = offset;
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err->msg, sizeof err->msg, fmt, ap);
            va_end(ap);
        } else {
            snprintf(err->msg, sizeof err->msg, "%s", kq_strerror(code));
        }
    }
    return code;
}
