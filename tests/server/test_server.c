/* tests/server/test_server.c: the statistics of server/server.c: the latency percentiles of
 * `stats` (nearest rank over the ring of the last KQ_LATENCY_RING queries) equal those of
 * a sorted copy, for rings part full, full and wrapped, with values that share their high
 * bits, repeat, or reach UINT32_MAX. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/server.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* p50 and p99 as kq__stats_json prints them. */
static void stats_percentiles(struct kq_server *s, uint32_t *p50, uint32_t *p99)
{
    kq_buf out = KQ_BUF_INIT;
    assert_int_equal(kq__stats_json(s, &out), 0);
    assert_int_equal(kq_buf_putc(&out, '\0'), 0);
    const char *l = strstr((const char *)out.p, "\"latency_us\":{\"p50\":");
    assert_non_null(l);
    assert_int_equal(sscanf(l, "\"latency_us\":{\"p50\":%u,\"p99\":%u}", p50, p99), 2);
    kq_buf_release(&out);
}

static uint64_t rng = 88172645463325252ull;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static void test_percentiles(void **state)
{
    (void)state;
    struct kq_gen gen;
    memset(&gen, 0, sizeof gen);
    struct kq_server *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->gen = &gen;
    s->index_dir = (char *)"ix";
    s->lat = calloc(KQ_LATENCY_RING, sizeof *s->lat);
    assert_non_null(s->lat);
    uint32_t *ref = malloc(KQ_LATENCY_RING * sizeof *ref), p50, p99;
    assert_non_null(ref);

    stats_percentiles(s, &p50, &p99); /* no query yet */
    assert_int_equal(p50, 0);
    assert_int_equal(p99, 0);

    /* the kinds of values: any, a narrow band (high bits shared), few distinct, huge */
    static const uint64_t counts[] = {1, 2, 99, 100, 101, 5000, 10000, 10001, 23456};
    uint64_t total = 0; /* queries recorded so far */
    for (int kind = 0; kind < 4; kind++) {
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            for (uint64_t i = 0; i < counts[c]; i++) {
                uint64_t v = next();
                if (kind == 1)
                    v = 1500000 + v % 2048;
                else if (kind == 2)
                    v = v % 3 * 1000;
                else if (kind == 3)
                    v = (uint64_t)UINT32_MAX + v % 4; /* capped at UINT32_MAX */
                kq__stats_query(s, v);
            }
            total += counts[c];
            uint32_t n = total < KQ_LATENCY_RING ? (uint32_t)total : KQ_LATENCY_RING;
            assert_int_equal(s->n_lat, n);
            memcpy(ref, s->lat, n * sizeof *ref);
            qsort(ref, n, sizeof *ref, cmp_u32);
            stats_percentiles(s, &p50, &p99);
            assert_int_equal(p50, ref[(n * 50 + 99) / 100 - 1]);
            assert_int_equal(p99, ref[(n * 99 + 99) / 100 - 1]);
            stats_percentiles(s, &p50, &p99); /* again, from what was kept */
            assert_int_equal(p99, ref[(n * 99 + 99) / 100 - 1]);
        }
    }
    free(ref);
    free(s->lat);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
