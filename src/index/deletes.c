/* index/deletes.c: encoding, checking, reading and writing deletion files (deletes.h).
 *
 * Invariant: a bitmap handed out by kq__del_parse has exactly the manifest's count of bits
 * set, none at or past n_docs, and came from a file whose checksum matched both its own
 * bytes and the manifest entry, so a reader can test any doc id < n_docs without a bound
 * check beyond that one.
 */
#include "index/deletes.h"
#include "index/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "util/alloc.h"
#include "util/bytes.h"
#include "util/error.h"

uint32_t kq__del_count(const uint64_t *bits, uint32_t n_docs)
{
    uint64_t n = 0;
    size_t w = kq__del_words(n_docs);
    for (size_t i = 0; bits && i < w; i++)
        n += (uint64_t)__builtin_popcountll(bits[i]);
    return (uint32_t)n;
}

void kq__del_name(uint64_t number, uint64_t gen, char *buf, size_t size)
{
    snprintf(buf, size, "seg_%08llu_%08llu.del", (unsigned long long)number,
             (unsigned long long)gen);
}

int kq__del_encode(uint64_t number, uint32_t n_docs, const uint64_t *bits, kq_buf *out,
                   uint32_t *n_deleted, uint64_t *checksum)
{
    size_t w = kq__del_words(n_docs), start = out->len;
    if (kq_buf_reserve(out, KQ_DEL_HEAD + 8 * w + 8))
        return KQ_ENOMEM;
    uint8_t *p = out->p + start;
    memset(p, 0, KQ_DEL_HEAD);
    static const uint8_t magic[8] = {'K', 'Q', 'D', 'E', 'L', 'E', 'T', 0};
    memcpy(p, magic, sizeof magic);
    kq_put_le16(p + 8, KQ_DEL_VERSION);
    kq_put_le32(p + 12, n_docs);
    kq_put_le64(p + 16, number);
    uint32_t n = kq__del_count(bits, n_docs);
    kq_put_le32(p + 24, n);
    for (size_t i = 0; i < w; i++)
        kq_put_le64(p + KQ_DEL_HEAD + 8 * i, bits[i]);
    uint64_t sum = XXH3_64bits(p, KQ_DEL_HEAD + 8 * w);
    kq_put_le64(p + KQ_DEL_HEAD + 8 * w, sum);
    out->len = start + KQ_DEL_HEAD + 8 * w + 8;
    *n_deleted = n;
    *checksum = sum;
    return 0;
}

int kq__del_parse(const uint8_t *p, size_t len, const char *name, uint64_t number, uint32_t n_docs,
                  uint32_t n_deleted, uint64_t checksum, uint64_t **bits, kq_error *err)
{
    *bits = NULL;
    size_t w = kq__del_words(n_docs);
    /* E1: the size follows from the segment's document count, the checksum from the bytes */
    if (len < KQ_DEL_HEAD + 8 || memcmp(p, KQ_DEL_MAGIC, 8) != 0)
        return kq__error(err, KQ_ECORRUPT, 0,
                         "deletion file '%s': bad magic or truncated "
                         "(%zu bytes)",
                         name, len);
    if (XXH3_64bits(p, len - 8) != kq_get_le64(p + len - 8))
        return kq__error(err, KQ_ECORRUPT, (int64_t)len - 8,
                         "deletion file '%s': checksum mismatch", name);
    if (kq_get_le64(p + len - 8) != checksum)
        return kq__error(err, KQ_ECORRUPT, (int64_t)len - 8,
                         "deletion file '%s' does not match the manifest (replaced or damaged)",
                         name);
    /* E2 */
    if (kq_get_le16(p + 8) != KQ_DEL_VERSION)
        return kq__error(err, KQ_EVERSION, 8,
                         "deletion file '%s': format version %u is not supported (this is %d)",
                         name, kq_get_le16(p + 8), KQ_DEL_VERSION);
    /* E3 */
    if (len != KQ_DEL_HEAD + 8 * w + 8 || kq_get_le32(p + 12) != n_docs)
        return kq__error(err, KQ_ECORRUPT, 12,
                         "deletion file '%s': %zu bytes do not fit the segment's %u documents",
                         name, len, n_docs);
    if (kq_get_le64(p + 16) != number || kq_get_le32(p + 24) != n_deleted ||
        kq_get_le16(p + 10) != 0 || kq_get_le32(p + 28) != 0)
        return kq__error(err, KQ_ECORRUPT, 16,
                         "deletion file '%s': header does not match the manifest entry", name);
    uint64_t *b = kq__malloc(w ? 8 * w : 8);
    if (!b)
        return kq__enomem(err);
    uint64_t n = 0;
    for (size_t i = 0; i < w; i++) {
        b[i] = kq_get_le64(p + KQ_DEL_HEAD + 8 * i);
        n += (uint64_t)__builtin_popcountll(b[i]);
    }
    /* E4 */
    if (w && (n_docs & 63) && (b[w - 1] >> (n_docs & 63)) != 0) {
        kq__free(b);
        return kq__error(err, KQ_ECORRUPT, (int64_t)(KQ_DEL_HEAD + 8 * (w - 1)),
                         "deletion file '%s': a bit set past the last document", name);
    }
    if (n != n_deleted) {
        kq__free(b);
        return kq__error(err, KQ_ECORRUPT, KQ_DEL_HEAD,
                         "deletion file '%s': %llu bits set, the header says %u", name,
                         (unsigned long long)n, n_deleted);
    }
    *bits = b;
    return 0;
}

int kq__del_read(const char *dir, uint64_t number, uint64_t gen, uint32_t n_docs,
                 uint32_t n_deleted, uint64_t checksum, uint64_t **bits, kq_error *err)
{
    *bits = NULL;
    char name[64], path[4096];
    kq__del_name(number, gen, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kq__error(err, errno == ENOENT ? KQ_ECORRUPT : KQ_EIO, -1,
                         "cannot open deletion file '%s': %s", name, strerror(errno));
    struct stat st;
    size_t want = KQ_DEL_HEAD + 8 * kq__del_words(n_docs) + 8;
    if (fstat(fd, &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size != want) {
        close(fd);
        return kq__error(err, KQ_ECORRUPT, -1,
                         "deletion file '%s': %lld bytes, expected %zu (truncated?)", name,
                         (long long)st.st_size, want);
    }
    uint8_t *p = kq__malloc(want);
    if (!p) {
        close(fd);
        return kq__enomem(err);
    }
    size_t got = kq__read_all(fd, p, want);
    close(fd);
    int rc = got == want
                 ? kq__del_parse(p, want, name, number, n_docs, n_deleted, checksum, bits, err)
                 : kq__error(err, KQ_EIO, -1, "cannot read '%s'", name);
    kq__free(p);
    return rc;
}

int kq__del_write(const char *dir, uint64_t number, uint64_t gen, uint32_t n_docs,
                  const uint64_t *bits, uint32_t *n_deleted, uint64_t *checksum, kq_error *err)
{
    kq_buf b = KQ_BUF_INIT;
    if (kq__del_encode(number, n_docs, bits, &b, n_deleted, checksum))
        return kq__enomem(err);
    char name[64], path[4096];
    kq__del_name(number, gen, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path); /* an orphan of a writer that died before its commit */
    int rc = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = kq__error(err, kq__errno_code(errno), -1, "cannot create '%s': %s", path,
                       strerror(errno));
        goto out;
    }
    rc = kq__write_all(fd, b.p, b.len, path, err);
    if (!rc && fsync(fd) != 0)
        rc = kq__error(err, kq__errno_code(errno), -1, "cannot fsync '%s': %s", path,
                       strerror(errno));
    close(fd);
    if (rc)
        unlink(path);
out:
    kq_buf_release(&b);
    return rc;
}
