/* fuzz/fuzz_analyze.c: the analyser on arbitrary bytes.
 *
 * Input: byte 0 selects the language (bit 0: english / none) and the flags (bit 1:
 * KQ_ANALYZE_NOSTEM); the rest is the text. Oracle: no crash or sanitizer report; every
 * token is 1..KQ_TERM_MAX bytes, NUL-terminated, holds no NUL; positions strictly
 * increase, start at pos0 and end below *next_pos; [start, end) lies within the input with
 * start < end; no term holds an ASCII capital (every one is case-folded). The same input
 * analysed twice (warm stem cache) gives the same tokens.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/text.h"

struct check {
    size_t len;
    uint32_t pos0;
    int64_t last_pos;
    uint64_t hash;
    size_t n;
};

static int on_token(void *ctx, const struct kq_token *t)
{
    struct check *c = ctx;
    if (t->len < 1 || t->len > KQ_TERM_MAX || t->term[t->len] != '\0' || memchr(t->term, 0, t->len))
        abort();
    if ((int64_t)t->pos <= c->last_pos || t->pos < c->pos0)
        abort();
    if (!(t->start < t->end && t->end <= c->len))
        abort();
    c->last_pos = t->pos;
    for (size_t i = 0; i < t->len; i++)
        if (t->term[i] >= 'A' && t->term[i] <= 'Z')
            abort();
    for (size_t i = 0; i < t->len; i++)
        c->hash = (c->hash ^ (uint8_t)t->term[i]) * 1099511628211ull;
    c->hash = (c->hash ^ t->pos ^ ((uint64_t)t->start << 32)) * 1099511628211ull;
    c->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kq_analyzer *en, *none;
    if (!en && (kq_analyzer_new("english", &en, NULL) || kq_analyzer_new("none", &none, NULL)))
        abort();
    if (size < 1)
        return 0;
    kq_analyzer *a = data[0] & 1 ? none : en;
    int flags = data[0] & 2 ? KQ_ANALYZE_NOSTEM : 0;
    /* a copy of exactly the right size so ASan sees any read past the end */
    size_t len = size - 1;
    char *text = malloc(len ? len : 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, len);
    uint64_t first = 0;
    size_t first_n = 0;
    for (int round = 0; round < 2; round++) {
        struct check c = {len, 1000, -1, 14695981039346656037ull, 0};
        uint32_t next = 0;
        if (kq_analyze(a, text, len, 1000, flags, on_token, &c, &next) != 0)
            abort();
        if ((int64_t)next <= c.last_pos || next < 1000)
            abort();
        if (round == 0) {
            first = c.hash;
            first_n = c.n;
        } else if (first != c.hash || first_n != c.n) {
            abort();
        }
    }
    free(text);
    return 0;
}
