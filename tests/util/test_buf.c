/* tests/util/test_buf.c: growable buffer, little-endian helpers and varints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/bytes.h"
#include "util/error.h"

static void test_varint_roundtrip(void **state)
{
    (void)state;
    const uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, UINT64_MAX};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        uint8_t b[KQ_VARINT_MAX];
        size_t n = kq_varint_put(b, vals[i]);
        assert_int_equal(n, kq_varint_len(vals[i]));
        uint64_t v = 0;
        assert_int_equal(kq_varint_get(b, b + n, &v), n);
        assert_true(v == vals[i]);
        /* every truncation is refused */
        for (size_t t = 0; t < n; t++)
            assert_int_equal(kq_varint_get(b, b + t, &v), 0);
    }
}

/* After a reservation p is never NULL, even of 0 bytes: p + len is then defined. */
static void test_buf_reserve_zero(void **state)
{
    (void)state;
    kq_buf b = KQ_BUF_INIT;
    assert_int_equal(kq_buf_reserve(&b, 0), 0);
    assert_non_null(b.p);
    assert_int_equal(b.len, 0);
    kq_buf_release(&b);
}

static void test_varint_overlong(void **state)
{
    (void)state;
    uint8_t b[11];
    memset(b, 0x80, sizeof b);
    uint64_t v = 7;
    assert_int_equal(kq_varint_get(b, b + sizeof b, &v), 0);
    /* 10th byte above 1 overflows 64 bits */
    memset(b, 0xff, 9);
    b[9] = 0x02;
    assert_int_equal(kq_varint_get(b, b + 10, &v), 0);
    assert_true(v == 7);
}

static void test_buf_append_and_le(void **state)
{
    (void)state;
    kq_buf b = KQ_BUF_INIT;
    assert_int_equal(kq_buf_put_u32(&b, 0x01020304u), 0);
    assert_int_equal(kq_buf_put_u64(&b, 0x1122334455667788ull), 0);
    assert_int_equal(kq_buf_put_u16(&b, 0xabcd), 0);
    assert_int_equal(b.len, 14);
    assert_int_equal(b.p[0], 4);
    assert_true(kq_get_le32(b.p) == 0x01020304u);
    assert_true(kq_get_le64(b.p + 4) == 0x1122334455667788ull);
    assert_int_equal(kq_get_le16(b.p + 12), 0xabcd);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(kq_buf_put_varint(&b, (uint64_t)i * 977), 0);
    kq_buf_release(&b);
    assert_null(b.p);
    kq_buf_release(&b);
}

static void test_buf_enomem_leaves_buffer(void **state)
{
    (void)state;
    kq_buf b = KQ_BUF_INIT;
    assert_int_equal(kq_buf_append(&b, "abc", 3), 0);
    kq_alloc_fail_after(0);
    char big[1000] = {0};
    assert_int_equal(kq_buf_append(&b, big, sizeof big), KQ_ENOMEM);
    kq_alloc_fail_after(-1);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.p, "abc", 3);
    kq_buf_release(&b);
}

static void test_error_table(void **state)
{
    (void)state;
    assert_string_equal(kq_error_wire_code(KQ_ESYNTAX), "parse_error");
    assert_string_equal(kq_error_wire_code(KQ_ELIMIT), "too_large");
    assert_string_equal(kq_strerror(12345), "unknown error");
    kq_error e;
    assert_int_equal(kq__error(&e, KQ_ECORRUPT, 17, "bad '%s'", "x"), KQ_ECORRUPT);
    assert_int_equal(e.offset, 17);
    assert_string_equal(e.msg, "bad 'x'");
    kq__enomem(&e);
    assert_string_equal(e.msg, "out of memory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_roundtrip),
        cmocka_unit_test(test_varint_overlong),
        cmocka_unit_test(test_buf_reserve_zero),
        cmocka_unit_test(test_buf_append_and_le),
        cmocka_unit_test(test_buf_enomem_leaves_buffer),
        cmocka_unit_test(test_error_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
