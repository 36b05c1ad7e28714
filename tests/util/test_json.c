/* tests/util/test_json.c: JSON strings and numbers are valid JSON whatever the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "util/alloc.h"
#include "util/json.h"

/* Writes `s` as a JSON string, parses it back with jansson and returns the decoded value. */
static char *roundtrip(const char *s, size_t len, size_t *out_len)
{
    kq_buf b = KQ_BUF_INIT;
    assert_int_equal(kq__json_string(&b, s, len), 0);
    json_error_t e;
    json_t *j = json_loadb((const char *)b.p, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j)
        fail_msg("not valid JSON: %.*s (%s)", (int)b.len, b.p, e.text);
    assert_true(json_is_string(j));
    *out_len = json_string_length(j);
    char *r = test_malloc(*out_len + 1);
    memcpy(r, json_string_value(j), *out_len + 1);
    json_decref(j);
    kq_buf_release(&b);
    return r;
}

static void test_escapes(void **state)
{
    (void)state;
    const char in[] = "a\"b\\c\nd\te\x01\x1f\x7f";
    size_t n;
    char *r = roundtrip(in, sizeof in - 1, &n);
    assert_int_equal(n, sizeof in - 1);
    assert_memory_equal(r, in, n);
    test_free(r);
    /* a NUL byte inside */
    r = roundtrip("a\0b", 3, &n);
    assert_int_equal(n, 3);
    test_free(r);
}

static void test_utf8(void **state)
{
    (void)state;
    const char *ok = "Korea’s 반도체 ∑ 😀";
    size_t n;
    char *r = roundtrip(ok, strlen(ok), &n);
    assert_string_equal(r, ok);
    test_free(r);
    /* invalid: lone continuation, overlong, surrogate, truncated, > U+10FFFF */
    const char *bad[] = {"\x80", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80",
                         "x\xffy"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = roundtrip(bad[i], strlen(bad[i]), &n);
        assert_non_null(strstr(r, "\xef\xbf\xbd"));
        test_free(r);
    }
}

static void test_every_byte(void **state)
{
    (void)state;
    char s[256];
    for (int i = 0; i < 256; i++)
        s[i] = (char)i;
    size_t n;
    char *r = roundtrip(s, sizeof s, &n);
    test_free(r);
}

static void test_numbers(void **state)
{
    (void)state;
    kq_buf b = KQ_BUF_INIT;
    assert_int_equal(kq__json_number(&b, 0.8153120359), 0);
    assert_int_equal(kq_buf_putc(&b, ' '), 0);
    assert_int_equal(kq__json_number(&b, 1.0 / 0.0), 0);
    assert_int_equal(kq_buf_putc(&b, '\0'), 0);
    assert_string_equal((char *)b.p, "0.8153120359 0");
    kq_buf_release(&b);
}

static void test_enomem(void **state)
{
    (void)state;
    for (long n = 0;; n++) {
        kq_buf b = KQ_BUF_INIT;
        kq_alloc_fail_after(n);
        int rc = kq__json_string(&b, "some \"text\" \xff", 13);
        kq_alloc_fail_after(-1);
        kq_buf_release(&b);
        if (rc == 0)
            break;
        assert_int_equal(rc, -1);
    }
}

/* A member of bytes: the string, and the bytes back from "name_bytes" when they are not
 * UTF-8, for every length's padding and random bytes; UTF-8 gets no "_bytes". */
static void test_bytes_member(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252u;
    for (size_t len = 0; len < 300; len++) {
        char in[300];
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            in[i] = (char)(len % 3 ? x : 'a' + x % 26); /* every third length UTF-8 */
        }
        kq_buf b = KQ_BUF_INIT;
        assert_int_equal(kq_buf_putc(&b, '{'), 0);
        assert_int_equal(kq__json_bytes_member(&b, "path", in, len), 0);
        assert_int_equal(kq_buf_putc(&b, '}'), 0);
        json_t *j = json_loadb((const char *)b.p, b.len, JSON_ALLOW_NUL, NULL);
        assert_non_null(j);
        json_t *v = json_object_get(j, "path_bytes");
        int utf8 = len % 3 == 0;
        assert_true(json_is_string(json_object_get(j, "path")));
        if (utf8) {
            assert_null(v);
        } else if (len) {
            assert_true(json_is_string(v));
            unsigned char out[300];
            long n = kq__base64_decode(json_string_value(v), json_string_length(v), out);
            assert_int_equal(n, (long)len);
            assert_memory_equal(out, in, len);
        }
        json_decref(j);
        kq_buf_release(&b);
    }
    unsigned char out[16];
    assert_int_equal(kq__base64_decode("", 0, out), 0);
    assert_int_equal(kq__base64_decode("TWFu", 4, out), 3);
    assert_int_equal(kq__base64_decode("TWE=", 4, out), 2);
    assert_int_equal(kq__base64_decode("TQ==", 4, out), 1);
    assert_memory_equal(out, "M", 1);
    static const char *const bad[] = {"TWF", "T===", "TW=u", "TQ==TWFu", "TW\0u", "TW u",
                                      "TWF-", "=TWF"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(kq__base64_decode(bad[i], i == 4 ? 4 : strlen(bad[i]), out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),      cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_every_byte),   cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_enomem),      cmocka_unit_test(test_bytes_member),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
