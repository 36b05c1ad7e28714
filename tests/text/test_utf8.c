/* tests/text/test_utf8.c: UTF-8 decoding and encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "text/text.h"

static int32_t dec(const char *s, size_t len, size_t *n)
{
    return kq_utf8_decode((const uint8_t *)s, (const uint8_t *)s + len, n);
}

static void test_golden(void **state)
{
    (void)state;
    size_t n;
    assert_int_equal(dec("A", 1, &n), 'A');
    assert_int_equal(n, 1);
    assert_int_equal(dec("\xc3\xa9", 2, &n), 0xE9); /* é */
    assert_int_equal(n, 2);
    assert_int_equal(dec("\xe2\x80\x99", 3, &n), 0x2019); /* ’ */
    assert_int_equal(n, 3);
    assert_int_equal(dec("\xea\xb0\x80", 3, &n), 0xAC00); /* 가 */
    assert_int_equal(n, 3);
    assert_int_equal(dec("\xf0\x9f\x98\x80", 4, &n), 0x1F600);
    assert_int_equal(n, 4);
    assert_int_equal(dec("\xf4\x8f\xbf\xbf", 4, &n), 0x10FFFF);
    assert_int_equal(n, 4);
    assert_int_equal(dec("\0", 1, &n), 0);
    assert_int_equal(n, 1);
}

/* Rule 1: every malformed sequence reads as U+FFFD consuming exactly one byte. */
static void test_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len;
    } bad[] = {
        {"\x80", 1},             /* stray continuation */
        {"\xbf", 1},             /* stray continuation */
        {"\xc0\xaf", 2},         /* overlong '/' */
        {"\xc1\xbf", 2},         /* overlong */
        {"\xe0\x80\xaf", 3},     /* overlong */
        {"\xf0\x80\x80\xaf", 4}, /* overlong */
        {"\xed\xa0\x80", 3},     /* surrogate D800 */
        {"\xed\xbf\xbf", 3},     /* surrogate DFFF */
        {"\xf4\x90\x80\x80", 4}, /* above 10FFFF */
        {"\xf5\x80\x80\x80", 4}, /* F5 lead */
        {"\xff", 1},
        {"\xfe", 1},
        {"\xc3", 1},         /* truncated */
        {"\xe2\x80", 2},     /* truncated */
        {"\xf0\x9f\x98", 3}, /* truncated */
        {"\xe2\x28\xa1", 3}, /* bad continuation */
        {"\xc3\x41", 2},     /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = 99;
        assert_int_equal(dec(bad[i].s, bad[i].len, &n), 0xFFFD);
        assert_int_equal(n, 1);
    }
}

/* A real line read with one byte cut off the end of every character: the decoder never
 * reads past `end` (ASan would see it: the copy is exactly sized). */
static void test_truncation_sweep(void **state)
{
    (void)state;
    char *text = kqt_read_corpus("004_0eb3009ce8d47aab.txt", NULL);
    char *line = kqt_line(text, 218); /* a footnote with a Hangul title */
    size_t len = strlen(line);
    for (size_t cut = 0; cut <= len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        assert_non_null(p);
        memcpy(p, line, cut);
        size_t i = 0, chars = 0;
        while (i < cut) {
            size_t n;
            int32_t cp = kq_utf8_decode(p + i, p + cut, &n);
            assert_true(n >= 1 && n <= 4 && i + n <= cut);
            assert_true(cp >= 0 && cp <= 0x10FFFF);
            i += n;
            chars++;
        }
        assert_true(chars <= cut);
        free(p);
    }
    free(line);
    free(text);
}

static void test_byte_flip_sweep(void **state)
{
    (void)state;
    const char *s = "반도체 Korea’s café \xf0\x9f\x98\x80";
    size_t len = strlen(s);
    uint8_t buf[64];
    for (size_t at = 0; at < len; at++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, s, len);
            buf[at] ^= (uint8_t)(1u << bit);
            size_t i = 0;
            while (i < len) {
                size_t n;
                int32_t cp = kq_utf8_decode(buf + i, buf + len, &n);
                assert_true(i + n <= len);
                if (cp != 0xFFFD || n != 1) {
                    /* whatever decodes validly re-encodes to the same bytes */
                    uint8_t out[4];
                    assert_int_equal(kq_utf8_encode(cp, out), n);
                    assert_memory_equal(out, buf + i, n);
                }
                i += n;
            }
        }
    }
}

static void test_roundtrip_all(void **state)
{
    (void)state;
    for (int32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        uint8_t b[4];
        size_t len = kq_utf8_encode(cp, b);
        assert_true(len == (cp < 0x80 ? 1u : cp < 0x800 ? 2u : cp < 0x10000 ? 3u : 4u));
        size_t n;
        assert_int_equal(kq_utf8_decode(b, b + len, &n), cp);
        assert_int_equal(n, len);
    }
}

static void test_encode_invalid(void **state)
{
    (void)state;
    uint8_t b[4];
    const int32_t bad[] = {-1, 0xD800, 0xDFFF, 0x110000, INT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(kq_utf8_encode(bad[i], b), 3);
        assert_memory_equal(b, "\xef\xbf\xbd", 3);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),           cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_truncation_sweep), cmocka_unit_test(test_byte_flip_sweep),
        cmocka_unit_test(test_roundtrip_all),    cmocka_unit_test(test_encode_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
