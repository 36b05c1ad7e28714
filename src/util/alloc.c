/* util/alloc.c: allocation through one hook, with failure injection for tests.
 * Invariant: with injection off (the default) these are malloc/calloc/realloc/free. */
#include "util/alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static atomic_long fail_budget = -1; /* allocations left before failing; -1: never fail */
static atomic_long n_allocs;

static int should_fail(void)
{
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    long b = atomic_load_explicit(&fail_budget, memory_order_relaxed);
    if (b < 0)
        return 0;
    if (b == 0)
        return 1;
    atomic_fetch_sub_explicit(&fail_budget, 1, memory_order_relaxed);
    return 0;
}

long kq_alloc_fail_after(long n)
{
    long made = atomic_exchange(&n_allocs, 0);
    atomic_store(&fail_budget, n < 0 ? -1 : n);
    return made;
}

void *kq__malloc(size_t size)
{
    return should_fail() ? NULL : malloc(size ? size : 1);
}

void *kq__calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *kq__realloc(void *p, size_t size)
{
    return should_fail() ? NULL : realloc(p, size ? size : 1);
}

void kq__free(void *p)
{
    free(p);
}

void kq__prefault(void *p, size_t n)
{
    enum { PAGE = 4096 }; /* the smallest page size Linux has; a larger one is touched more often */
    volatile unsigned char *b = p;
    if (!n)
        return;
#ifdef MADV_POPULATE_WRITE
    /* the whole pages inside in one call (Linux 5.14 and later) rather than a fault each,
     * the partial pages at either end by a write */
    unsigned char *lo = (unsigned char *)p + (PAGE - (uintptr_t)p % PAGE) % PAGE;
    unsigned char *hi = (unsigned char *)p + n - ((uintptr_t)p + n) % PAGE;
    if (hi > lo && madvise(lo, (size_t)(hi - lo), MADV_POPULATE_WRITE) == 0) {
        b[0] = 0;
        b[n - 1] = 0;
        return;
    }
#endif
    for (size_t i = 0; i < n; i += PAGE)
        b[i] = 0;
    b[n - 1] = 0;
}

char *kq__strndup(const char *s, size_t len)
{
    char *d = kq__malloc(len + 1);
    if (d) {
        if (len)
            memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}
