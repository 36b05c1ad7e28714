/* util/alloc.h: the single allocation hook of libkq.
 *
 * Every allocation in the library goes through kq__malloc/kq__calloc/kq__realloc/kq__free
 * so that tests can make the Nth allocation fail (kq_alloc_fail_after) and check that every
 * out-of-memory path returns KQ_ENOMEM with nothing leaked. The counter is the library's one
 * piece of process-wide state; it exists for tests and is off (-1) by default.
 */
#ifndef KQ_UTIL_ALLOC_H
#define KQ_UTIL_ALLOC_H

#include <stddef.h>

void *kq__malloc(size_t size);
void *kq__calloc(size_t n, size_t size);
void *kq__realloc(void *p, size_t size);
void kq__free(void *p);
char *kq__strndup(const char *s, size_t len);

/* kq__prefault: writes a zero into every page of [p, p + n), memory that holds zeros (from
 * kq__calloc), so that the pages are backed now. A large zeroed allocation is otherwise first
 * mapped to the shared zero page by a read and copied at the first write, and with several
 * threads running that copy flushes every core's TLB (an interprocessor interrupt each). */
void kq__prefault(void *p, size_t n);

/* kq_alloc_fail_after: makes the allocation after the next `n` successful ones fail, and
 * every one after it too; n < 0 turns failure injection off. For tests only; not thread
 * safe. Returns the number of allocations made since the previous call. */
long kq_alloc_fail_after(long n);

#endif
