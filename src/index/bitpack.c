/* index/bitpack.c: packing and unpacking 128 integers at a fixed bit width.
 *
 * The unpack kernels are one always-inlined template instantiated for every width 0..32:
 * with `w` a constant the 32 rows unroll fully into constant shifts and masks, and the
 * inner loop over the 4 lanes becomes one SSE2 operation per row (gcc and clang
 * vectorise it at -O2). The byte layout is described in bitpack.h. Packing runs once per
 * block at index time and stays a simple loop.
 */
#include "index/bitpack.h"

#include <string.h>

#include "util/bytes.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define KQ_BP_LE 1
#else
#define KQ_BP_LE 0
#endif

#if defined(__GNUC__)
#define KQ_BP_INLINE static inline __attribute__((always_inline))
#else
#define KQ_BP_INLINE static inline
#endif

static inline uint32_t load32(const uint8_t *p)
{
#if KQ_BP_LE
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#else
    return kq_get_le32(p);
#endif
}

uint32_t kq__bitpack_bits(const uint32_t *in)
{
    uint32_t acc = 0;
    for (int i = 0; i < KQ_BITPACK_N; i++)
        acc |= in[i];
    return acc ? 32u - (uint32_t)__builtin_clz(acc) : 0u;
}

void kq__bitpack_pack(const uint32_t *in, uint32_t w, uint8_t *out)
{
    uint32_t words[4 * 32];
    uint32_t n_words = 4 * w;
    memset(words, 0, sizeof words);
    for (uint32_t i = 0; i < KQ_BITPACK_N && w; i++) {
        uint32_t lane = i & 3, j = i >> 2;
        uint32_t bit = j * w, k = bit >> 5, s = bit & 31;
        uint32_t v = in[i] & (uint32_t)(((uint64_t)1 << w) - 1); /* w <= 32 */
        words[k * 4 + lane] |= v << s;
        if (s && s + w > 32) /* s > 0 whenever it straddles: w <= 32 */
            words[(k + 1) * 4 + lane] |= v >> (32 - s);
    }
    for (uint32_t k = 0; k < n_words; k++)
        kq_put_le32(out + (size_t)4 * k, words[k]);
}

/* Row j of lane l lives at bit j * w of the lane's stream: word k = bit / 32, shift
 * s = bit % 32, plus the low bits of word k + 1 when it straddles. */
KQ_BP_INLINE void unpack_tmpl(const uint8_t *restrict in, uint32_t *restrict out,
                              const uint32_t w)
{
    const uint32_t mask = w >= 32 ? 0xffffffffu : ((1u << w) - 1u);
#if defined(__GNUC__)
#pragma GCC unroll 32
#endif
    for (uint32_t j = 0; j < 32; j++) {
        const uint32_t bit = j * w, k = bit >> 5, s = bit & 31;
        for (uint32_t l = 0; l < 4; l++) {
            uint32_t v = load32(in + (size_t)16 * k + (size_t)4 * l) >> s;
            if (s + w > 32)
                v |= load32(in + (size_t)16 * (k + 1) + (size_t)4 * l) << (32 - s);
            out[4 * j + l] = v & mask;
        }
    }
}

static void unpack_0(const uint8_t *restrict in, uint32_t *restrict out)
{
    (void)in;
    memset(out, 0, KQ_BITPACK_N * sizeof *out);
}

#define KQ_BP_DEF(W)                                                                       \
    static void unpack_##W(const uint8_t *restrict in, uint32_t *restrict out)            \
    {                                                                                      \
        unpack_tmpl(in, out, W);                                                           \
    }
KQ_BP_DEF(1)
KQ_BP_DEF(2)
KQ_BP_DEF(3)
KQ_BP_DEF(4)
KQ_BP_DEF(5)
KQ_BP_DEF(6)
KQ_BP_DEF(7)
KQ_BP_DEF(8)
KQ_BP_DEF(9)
KQ_BP_DEF(10)
KQ_BP_DEF(11)
KQ_BP_DEF(12)
KQ_BP_DEF(13)
KQ_BP_DEF(14)
KQ_BP_DEF(15)
KQ_BP_DEF(16)
KQ_BP_DEF(17)
KQ_BP_DEF(18)
KQ_BP_DEF(19)
KQ_BP_DEF(20)
KQ_BP_DEF(21)
KQ_BP_DEF(22)
KQ_BP_DEF(23)
KQ_BP_DEF(24)
KQ_BP_DEF(25)
KQ_BP_DEF(26)
KQ_BP_DEF(27)
KQ_BP_DEF(28)
KQ_BP_DEF(29)
KQ_BP_DEF(30)
KQ_BP_DEF(31)
KQ_BP_DEF(32)
#undef KQ_BP_DEF

typedef void (*unpack_fn)(const uint8_t *restrict, uint32_t *restrict);

static const unpack_fn unpackers[33] = {
    unpack_0,  unpack_1,  unpack_2,  unpack_3,  unpack_4,  unpack_5,  unpack_6,
    unpack_7,  unpack_8,  unpack_9,  unpack_10, unpack_11, unpack_12, unpack_13,
    unpack_14, unpack_15, unpack_16, unpack_17, unpack_18, unpack_19, unpack_20,
    unpack_21, unpack_22, unpack_23, unpack_24, unpack_25, unpack_26, unpack_27,
    unpack_28, unpack_29, unpack_30, unpack_31, unpack_32,
};

void kq__bitpack_unpack(const uint8_t *in, uint32_t w, uint32_t *out)
{
    unpackers[w <= 32 ? w : 32](in, out);
}
