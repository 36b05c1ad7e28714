/* tests/index/test_bitpack.c: the 128-value bit-packing kernels: golden bytes, a bit-by-bit
 * reference packer, round trips at every width 0..32. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "index/bitpack.h"
#include "testutil.h"

static uint32_t mask_of(uint32_t w)
{
    return w >= 32 ? UINT32_MAX : (1u << w) - 1u;
}

/* The layout spelled out bit by bit: value i, lane i % 4, row i / 4, bit r of the value at
 * bit (row * w + r) of lane's stream; stream bit s is bit s % 32 of word (s / 32) * 4 +
 * lane, words little endian. */
static void ref_pack(const uint32_t *in, uint32_t w, uint8_t *out)
{
    memset(out, 0, 16 * w);
    for (uint32_t i = 0; i < 128; i++) {
        uint32_t lane = i % 4, row = i / 4;
        for (uint32_t r = 0; r < w; r++) {
            if (!((in[i] >> r) & 1))
                continue;
            uint32_t s = row * w + r;
            uint32_t word = (s / 32) * 4 + lane;
            uint32_t bit = s % 32;
            out[word * 4 + bit / 8] |= (uint8_t)(1u << (bit % 8));
        }
    }
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* The golden input of width w: a fixed pattern using all w bits. */
static void golden_input(uint32_t w, uint32_t *in)
{
    for (uint32_t i = 0; i < 128; i++)
        in[i] = (uint32_t)((i * 2654435761u) ^ (i << 7) ^ (w * 977u)) & mask_of(w);
    if (w)
        in[127] = mask_of(w); /* the width is reached */
}

/* FNV-1a of the packed golden input per width: freezes the on-disk layout. */
static const uint64_t golden_hash[33] = {
    0xcbf29ce484222325ull, 0x99064f1e9d8c989dull, 0x0de2d6ec46577a75ull,
    0xbbf1b177f4040e05ull, 0x434e3effceebdc85ull, 0x3824bf1f8c64b27dull,
    0x55643ebf550888f5ull, 0x7e429aa43f059827ull, 0x799f69e460d434cdull,
    0x1e9c61a58bf4fb46ull, 0xf9e50e71b4b709baull, 0x7382a4a098aedd77ull,
    0x9b65bb5e250657dcull, 0xc10d0e22057db624ull, 0xaaf04d9a55e04b46ull,
    0x11edc2a13020f273ull, 0x42f1330893ae9192ull, 0x5c0220ffd5421368ull,
    0x0263d6141493ebf4ull, 0x2f06d96c15cb8191ull, 0x49f1b9848f9aac81ull,
    0xf43b67ac7068a13aull, 0x17acf8f453e62966ull, 0xb85b846bbc1cdbfcull,
    0x795d499108fd8eadull, 0xd73b96ebcc24dab4ull, 0x8a52f1db25e31c31ull,
    0x8221d7476b63017aull, 0xcb5c04853b1e2be8ull, 0x50da3d1d1ab9a9c0ull,
    0x1355fa4f3e5aebcaull, 0xe32f14e6fd654220ull, 0x7ba9428aecca7c67ull,
};

static void test_golden_literals(void **state)
{
    (void)state;
    uint32_t in[128] = {0};
    uint8_t out[16 * 32];
    /* w = 1: value 0 is lane 0 row 0 (word 0 bit 0); value 5 is lane 1 row 1 (word 1 bit 1) */
    in[0] = 1;
    in[5] = 1;
    assert_int_equal(kq__bitpack_bits(in), 1);
    kq__bitpack_pack(in, 1, out);
    const uint8_t w1[16] = {1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(out, w1, 16);
    /* w = 32: row j of lane l is word 4j + l, i.e. the identity */
    for (uint32_t i = 0; i < 128; i++)
        in[i] = i * 0x01010101u;
    kq__bitpack_pack(in, 32, out);
    for (uint32_t i = 0; i < 128; i++)
        for (int b = 0; b < 4; b++)
            assert_int_equal(out[4 * i + b], (uint8_t)i);
    /* w = 3: values 0..7 repeating; lane 0 holds 0,4,0,4,... at 3 bits each */
    for (uint32_t i = 0; i < 128; i++)
        in[i] = i & 7;
    kq__bitpack_pack(in, 3, out);
    /* lane 0 stream: rows 0..31 = 0,4,0,4...: bits 3..5 = 4 -> bit 5; row 3 -> bit 9+2=11 */
    assert_int_equal(out[0], 0x20);
    assert_int_equal(out[1], 0x08);
    assert_int_equal(out[2], 0x82); /* rows 5 (bit 17) and 7 (bit 23) */
}

static void test_golden_every_width(void **state)
{
    (void)state;
    uint32_t in[128], back[128];
    uint8_t out[16 * 32 + 16], ref[16 * 32];
    for (uint32_t w = 0; w <= 32; w++) {
        golden_input(w, in);
        assert_int_equal(kq__bitpack_bits(in), w);
        memset(out, 0xee, sizeof out);
        kq__bitpack_pack(in, w, out);
        ref_pack(in, w, ref);
        if (w)
            assert_memory_equal(out, ref, 16 * w);
        assert_int_equal(out[16 * w], 0xee); /* nothing written past 16 * w */
        if (getenv("KQ_PRINT_GOLDEN"))
            printf("0x%016llxull,\n", (unsigned long long)fnv1a(out, 16 * w));
        else if (golden_hash[w] != fnv1a(out, 16 * w))
            fail_msg("golden hash of width %u: got 0x%016llx", w,
                     (unsigned long long)fnv1a(out, 16 * w));
        memset(back, 0xab, sizeof back);
        kq__bitpack_unpack(out, w, back);
        assert_memory_equal(back, in, sizeof in);
    }
}

static void test_roundtrip_random(void **state)
{
    (void)state;
    uint32_t in[128], back[128];
    uint8_t buf[16 * 32 + 3];
    for (int iter = 0; iter < 2000; iter++) {
        uint32_t w = (uint32_t)(kqt_rand() % 33);
        for (int i = 0; i < 128; i++)
            in[i] = (uint32_t)kqt_rand() & mask_of(w);
        uint32_t bits = kq__bitpack_bits(in);
        assert_true(bits <= w);
        /* unaligned input on purpose */
        uint8_t *p = buf + (iter % 4);
        kq__bitpack_pack(in, bits, p);
        kq__bitpack_unpack(p, bits, back);
        assert_memory_equal(back, in, sizeof in);
    }
}

int main(void)
{
    kqt_seed(0x9e3779b97f4a7c15ull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_literals),
        cmocka_unit_test(test_golden_every_width),
        cmocka_unit_test(test_roundtrip_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
