/* fuzz/fuzz_request.c: the kqd request parser (server/protocol.c) on arbitrary bytes, and
 * the client-side readers of answers and results (server/answer.c) on the same bytes.
 *
 * Input: the whole input is one request line (seeds are real request lines, one per file;
 * fuzz/request.dict holds the protocol's words).
 *
 * Oracle: no crash or sanitizer report, and
 *  - kq__request_parse returns 0, KQ_EBADJSON, KQ_EINVAL, KQ_EBADOP or KQ_EVERSION (never
 *    KQ_ENOMEM here); the id is always a JSON string, number or null of at most 256 bytes;
 *    on error err->code equals the result, the message is not empty, err->offset lies in
 *    [-1, len] and no text or path is held; on success the op is known, search/count/doc
 *    carry their text (doc alone a path, from "path" or "path_bytes"), k is 1..10000,
 *    offset at most 100000, k1 in [0, 100] and b in [0, 1] or both negative (the
 *    index's);
 *  - the error answer written for it is one line of JSON that kq_answer_parse reads back
 *    with the same id bytes and code; a result answer reads back with the same result;
 *  - kq__json_member never reports bytes outside the input;
 *  - kq_hits_parse returns 0 or KQ_EBADJSON, and every hit it accepts has its highlights
 *    inside its snippet; kq_stats_serves reads the bytes as a stats result without harm.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kq/client.h"
#include "server/protocol.h"
#include "util/buf.h"

static void check_answer_roundtrip(const struct kq_request *r, int rc, const kq_error *e)
{
    kq_buf b = KQ_BUF_INIT;
    const char *res, *id;
    size_t rlen, idlen;
    kq_error back;
    if (rc) {
        if (kq__answer_error(&b, r->id, r->id_len, rc, e->msg, e->offset))
            abort();
    } else if (kq__answer_result(&b, r->id, r->id_len, "{\"pong\":true}", 13)) {
        abort();
    }
    if (!b.len || b.p[b.len - 1] != '\n' || memchr(b.p, '\n', b.len - 1))
        abort(); /* one line */
    int got = kq_answer_parse((const char *)b.p, b.len - 1, &res, &rlen, &id, &idlen, &back);
    if (idlen != r->id_len || memcmp(id, r->id, idlen))
        abort();
    if (rc ? (got != rc && !(rc == KQ_ENOMEM && got == KQ_EINTERNAL)) || back.offset != e->offset
           : got != 0 || rlen != 13 || memcmp(res, "{\"pong\":true}", 13))
        abort();
    kq_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    struct kq_request r;
    kq_error e;
    kq_error_clear(&e);
    int rc = kq__request_parse(line, size, &r, &e);
    if (rc != 0 && rc != KQ_EBADJSON && rc != KQ_EINVAL && rc != KQ_EBADOP && rc != KQ_EVERSION &&
        rc != KQ_ELIMIT) /* KQ_ELIMIT: more than KQ_REQUEST_VALUES_MAX JSON values */
        abort();
    if (r.id_len > KQ_REQUEST_ID_MAX || strlen(r.id) != r.id_len)
        abort();
    json_t *id = json_loadb(r.id, r.id_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!id || !(json_is_string(id) || json_is_number(id) || json_is_null(id)))
        abort();
    json_decref(id);
    if (rc) {
        if (e.code != rc || !e.msg[0] || e.offset < -1 || e.offset > (int64_t)size || r.text ||
            r.path)
            abort();
    } else {
        if (r.op < KQ_OP_PING || r.op > KQ_OP_STATS)
            abort();
        if ((r.op == KQ_OP_SEARCH || r.op == KQ_OP_COUNT || r.op == KQ_OP_DOC) && !r.text)
            abort();
        if (r.path && r.op != KQ_OP_DOC)
            abort();
        if (r.k < 1 || r.k > KQ_REQUEST_K_MAX || r.offset > KQ_REQUEST_OFFSET_MAX)
            abort();
        if (!((r.k1 >= 0 && r.k1 <= KQ_REQUEST_K1_MAX) || r.k1 < 0) ||
            !((r.b >= 0 && r.b <= 1) || r.b < 0))
            abort();
    }
    check_answer_roundtrip(&r, rc, &e);
    kq__request_release(&r);

    for (size_t m = 0; m < 4; m++) {
        size_t s, t;
        int mrc = kq__json_member(line, size, m, &s, &t);
        if (mrc == 0 && !(s <= t && t <= size))
            abort();
        if (mrc != 0 && mrc != KQ_ENOTFOUND && mrc != KQ_EBADJSON)
            abort();
    }

    kq_hits *h;
    int hrc = kq_hits_parse(line, size, &h, &e);
    if (hrc != 0 && hrc != KQ_EBADJSON)
        abort();
    if (!hrc) {
        for (uint32_t i = 0; i < kq_hits_count(h); i++) {
            struct kq_search_hit hit;
            if (kq_hits_get(h, i, &hit))
                abort();
            for (uint32_t k = 0; k < hit.n_highlights; k++)
                if (hit.highlights[k].start > hit.highlights[k].end ||
                    hit.highlights[k].end > hit.snippet_len)
                    abort();
        }
        kq_hits_free(h);
    }
    if (kq_stats_serves(line, size, ".", 1, 0) > 1)
        abort();
    return 0;
}
