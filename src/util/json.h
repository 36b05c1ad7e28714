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

#endif
