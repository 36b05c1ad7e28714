/* index/bitpack.h: the 128-value bit-packing kernels of the postings codec.
 *
 * Layout (SIMD-BP128, "vertical" 4-lane): 128 values packed at `w` bits (0..32) take
 * exactly 16 * w bytes, read as 4 * w little-endian 32-bit words. Value i goes to lane
 * i % 4; lane l's values (i = l, l + 4, l + 8, ...) form one bit stream, least
 * significant bit first, stored in words l, l + 4, l + 8, ... A value may straddle two
 * words of its lane. This is the layout SIMD-BP128 and tantivy's bitpacker use; four
 * lanes let a plain C loop decode four values per vector instruction.
 *
 * Thread safety: pure functions.
 */
#ifndef KQ_INDEX_BITPACK_H
#define KQ_INDEX_BITPACK_H

#include <stdint.h>

#define KQ_BITPACK_N 128

/* The bytes 128 values take at `w` bits. */
static inline uint32_t kq__bitpack_size(uint32_t w)
{
    return 16u * w;
}

/* The number of bits (0..32) of the largest of the 128 values at `in`. */
uint32_t kq__bitpack_bits(const uint32_t *in);

/* Packs the 128 values at `in`, each < 2^w (w <= 32), into 16 * w bytes at `out`. */
void kq__bitpack_pack(const uint32_t *in, uint32_t w, uint8_t *out);

/* Unpacks 128 values of `w` bits (w <= 32; caller checks) from the 16 * w bytes at `in`
 * (any alignment) into `out`. */
void kq__bitpack_unpack(const uint8_t *in, uint32_t w, uint32_t *out);

#endif
