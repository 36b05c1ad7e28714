/* util/json.h: writing JSON text. Strings come out valid whatever the input bytes: control
 * characters escaped, invalid UTF-8 replaced by U+FFFD. Returns 0 or KQ_ENOMEM. */
#ifndef KQ_UTIL_JSON_H
#define KQ_UTIL_JSON_H

#include <stddef.h>

#include "util/buf.h"

/* Appends `len` bytes of `s` as a quoted JSON string. */
int kq__json_string(kq_buf *out, const char *s, size_t len);
/* Appends a double the way JSON wants it (no NaN/inf: those become 0). */
int kq__json_number(kq_buf *out, double v);

/* Appends the member `"name":` with `s` as a JSON string and, when `s` is not valid UTF-8
 * (the string then has U+FFFD where it is not), the member `"name_bytes":` with the bytes
 * of `s` in base64 (RFC 4648, padded), so that a reader gets them back: a file name is
 * bytes, not text. */
int kq__json_bytes_member(kq_buf *out, const char *name, const char *s, size_t len);

/* Decodes the padded base64 of `n` bytes at `in` into `out` (room for n / 4 * 3 bytes).
 * Returns the number of bytes, or -1 when `in` is not padded base64. */
long kq__base64_decode(const char *in, size_t n, unsigned char *out);

#endif
