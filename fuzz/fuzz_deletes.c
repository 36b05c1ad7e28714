/* fuzz/fuzz_deletes.c: arbitrary bytes as a deletion file (seg_<n>_<gen>.del).
 *
 * Input: the bytes of a deletion file, parsed by kq__del_parse against what a manifest entry
 * would say of it. The entry's values (segment number, document count, deleted count,
 * checksum) come from the file's own header and trailer most of the time, so that the
 * parser gets past the cross-checks; otherwise from the input's last 20 bytes, so that
 * mismatches between file and manifest are exercised too.
 * Oracle: no crash, no read outside the input (ASan), no undefined behaviour (UBSan); a
 * parsed bitmap has exactly the entry's count of bits set and none at or past the document
 * count, and encoding it again gives back the input byte for byte.
 *
 * Structure-aware (LLVMFuzzerCustomMutator): after the usual mutation the trailer checksum is
 * recomputed most of the time, and sometimes the length is cut to what the header's document
 * count implies, so that mutations reach the checks behind the checksum.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <xxhash.h>

#include "index/deletes.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/bytes.h"

#define CHECK(x)                                                                         \
    do {                                                                                 \
        if (!(x))                                                                        \
            __builtin_trap();                                                            \
    } while (0)

/* Deletion files of more documents than this are not worth the fuzzer's time. */
#define MAX_DOCS (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t number = 0, checksum = 0;
    uint32_t n_docs = 0, n_deleted = 0;
    if (size >= KQ_DEL_HEAD + 8 && (size & 1) == 0) {
        /* the entry agrees with the file: the parser's deeper checks run */
        n_docs = kq_get_le32(data + 12);
        number = kq_get_le64(data + 16);
        n_deleted = kq_get_le32(data + 24);
        checksum = kq_get_le64(data + size - 8);
    } else if (size >= 20) {
        /* the entry comes from the input's tail: file and manifest disagree in any way */
        const uint8_t *t = data + size - 20;
        n_docs = kq_get_le32(t);
        number = kq_get_le32(t + 4);
        n_deleted = kq_get_le32(t + 8);
        checksum = kq_get_le64(t + 12);
    }
    if (n_docs > MAX_DOCS)
        n_docs %= MAX_DOCS;

    uint64_t *bits = NULL;
    kq_error e;
    int rc = kq__del_parse(data, size, "fuzz.del", number, n_docs, n_deleted, checksum, &bits,
                           &e);
    if (rc != 0) {
        CHECK(bits == NULL);
        return 0;
    }
    CHECK(bits != NULL || kq__del_words(n_docs) == 0);
    CHECK(kq__del_count(bits, n_docs) == n_deleted);
    for (uint32_t d = n_docs; d < kq__del_words(n_docs) * 64; d++)
        CHECK(!kq__del_test(bits, d));

    kq_buf out = KQ_BUF_INIT;
    uint32_t n2 = 0;
    uint64_t sum2 = 0;
    if (kq__del_encode(number, n_docs, bits, &out, &n2, &sum2) == 0) {
        CHECK(n2 == n_deleted && sum2 == checksum);
        CHECK(out.len == size && memcmp(out.p, data, size) == 0);
    }
    kq_buf_release(&out);
    kq__free(bits);
    return 0;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    size = LLVMFuzzerMutate(data, size, max_size);
    if (size < KQ_DEL_HEAD + 8 || (seed & 7) == 0)
        return size; /* leave the checksum as it is */
    if (seed & 8) {
        /* cut or pad to the length the header's document count implies */
        uint32_t n_docs = kq_get_le32(data + 12) % MAX_DOCS;
        size_t want = KQ_DEL_HEAD + 8 * kq__del_words(n_docs) + 8;
        if (want <= max_size) {
            if (want > size)
                memset(data + size, 0, want - size);
            size = want;
        }
    }
    /* keep the even length that makes the harness take the entry from the header */
    if ((size & 1) && size < max_size)
        data[size++] = 0;
    kq_put_le64(data + size - 8, XXH3_64bits(data, size - 8));
    return size;
}
