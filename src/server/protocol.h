/* server/protocol.h: the request parser and the answer writers of the kqd protocol
 * (PROTOCOL.md). Pure functions over bytes: no socket, no loop, no index; the fuzzer and
 * the unit tests drive them directly.
 */
#ifndef KQ_SERVER_PROTOCOL_H
#define KQ_SERVER_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "kq/error.h"
#include "util/buf.h"

#define KQ_REQUEST_ID_MAX 256     /* bytes of an id as JSON text (P1) */
#define KQ_REQUEST_VALUES_MAX 1024 /* JSON values in a request line (P6) */
#define KQ_REQUEST_K_MAX 10000    /* search: k */
#define KQ_REQUEST_OFFSET_MAX 100000
#define KQ_REQUEST_K1_MAX 100.0 /* as the index setting (FORMAT.md) and kq --k1 */

enum kq_op {
    KQ_OP_NONE = 0, /* the request could not be read far enough to know */
    KQ_OP_PING,
    KQ_OP_SEARCH,
    KQ_OP_COUNT,
    KQ_OP_DOC,
    KQ_OP_STATS,
};

struct kq_request {
    enum kq_op op;
    /* The id as the JSON text of the request, byte for byte, NUL-terminated ("null" when
     * the request has none or it could not be read). Set even when parsing fails. */
    char id[KQ_REQUEST_ID_MAX + 1];
    size_t id_len;
    /* search, count: the query; doc: the document id. Owned: kq__request_release. */
    char *text;
    size_t text_len;
    /* doc: the file the document is of (a hit's "path"), or NULL. Owned, as text. */
    char *path;
    size_t path_len;
    uint32_t k;      /* search: 1..10000 (default 10) */
    uint32_t offset; /* search: 0..100000 */
    int flags;       /* KQ_SEARCH_* of kq/search.h */
    double k1, b;    /* negative: the index's */
    double title_weight; /* as kq_search_request's: 0 the default, negative none */
};

/* kq__request_parse: reads one request line (`len` bytes, without the newline).
 * Returns 0 with `req` filled, or KQ_EBADJSON (offset: the byte of the line where parsing
 * stopped), KQ_EINVAL (bad_request: a member missing, of the wrong type or out of range;
 * the message names it), KQ_EBADOP, KQ_EVERSION (a `protocol` other than 1), KQ_ENOMEM,
 * with `err` filled. `req->id` is set either way; call kq__request_release after both.
 * Thread safety: reentrant (jansson allocates through kq__malloc; see protocol.c). */
int kq__request_parse(const char *line, size_t len, struct kq_request *req, kq_error *err);
void kq__request_release(struct kq_request *req);

/* kq__json_alloc_init: makes jansson allocate through kq__malloc/kq__free (once per
 * process; idempotent and thread safe) and clears this thread's failure flag. Every
 * jansson user of this module calls it before each use. */
void kq__json_alloc_init(void);
/* kq__json_alloc_failed: 1 when an allocation of jansson failed on this thread since
 * kq__json_alloc_init. jansson reports some of them as syntax errors: callers map an error
 * seen with this set to KQ_ENOMEM. */
int kq__json_alloc_failed(void);

/* The name of an op ("search"…), "" for KQ_OP_NONE. */
const char *kq__op_name(enum kq_op op);

/* kq__json_member: the `index`-th member (0-based, in text order) of the JSON object that
 * `p` (`len` bytes) holds: the bytes of its value in [*start, *end). `p` must be text
 * jansson accepted as an object; anything else returns KQ_EBADJSON, never reads outside
 * `p`. Returns 0, KQ_ENOTFOUND (fewer members). */
int kq__json_member(const char *p, size_t len, size_t index, size_t *start, size_t *end);

/* kq__json_get_bytes: the bytes the member `name` of JSON object `obj` holds in padded
 * base64 (RFC 4648: the "<member>_bytes" members of PROTOCOL.md), in a NUL-terminated
 * kq__malloc'd `*s` of `*len` bytes. Returns 0, KQ_ENOTFOUND (no such member), KQ_EINVAL
 * (not a string of padded base64), KQ_ENOMEM. */
struct json_t;
int kq__json_get_bytes(struct json_t *obj, const char *name, char **s, size_t *len);

/* Answers, appended to `out` with their newline. Return 0 or KQ_ENOMEM (out unchanged in
 * length on failure is not promised; the caller drops the buffer). */
/* {"id":ID,"result":RESULT}\n */
int kq__answer_result(kq_buf *out, const char *id, size_t id_len, const char *result,
                      size_t result_len);
/* {"id":ID,"error":{"code":…,"message":…,"offset":N}}\n; the code is
 * kq_error_wire_code(code); `msg` NULL: kq_strerror(code). */
int kq__answer_error(kq_buf *out, const char *id, size_t id_len, int code, const char *msg,
                     int64_t offset);

#endif
