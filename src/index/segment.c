/* index/segment.c: the segment container (header, section table, checksummed sections).
 *
 * Invariant kept by the writer: sections start at KQ_SEG_DATA_OFF, each aligned to
 * KQ_SEG_ALIGN, in table order, padding zero; the header checksum covers the header's
 * first 56 bytes and the whole table. The reader trusts nothing it has not checked.
 */
#include "index/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/bytes.h"
#include "util/error.h"

static const char tags[KQ_SEC_COUNT][5] = {"META", "TDIC", "TIDX", "POST", "POSN", "DLEN",
                                           "DOCT", "SRCS", "DSIX", "DSTO", "ZDIC"};

const char *kq__section_tag(int id)
{
    return id >= 0 && id < KQ_SEC_COUNT ? tags[id] : "????";
}

static int section_required(int id)
{
    return id != KQ_SEC_ZDIC;
}

/* ---- sinks ---- */

int kq__sink_init(kq_sink *s, const char *dir, size_t spill_bytes)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->dir = dir;
    s->spill_bytes = spill_bytes;
    s->xxh = XXH3_createState();
    if (!s->xxh)
        return KQ_ENOMEM;
    XXH3_64bits_reset(s->xxh);
    return 0;
}

void kq__sink_release(kq_sink *s)
{
    if (!s)
        return;
    kq_buf_release(&s->mem);
    if (s->fd >= 0)
        close(s->fd);
    if (s->xxh)
        XXH3_freeState(s->xxh);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

int kq__errno_code(int e)
{
    return e == ENOSPC || e == EDQUOT ? KQ_ENOSPC : KQ_EIO;
}

/* Fault injection for tests (tests/e2e/diskfull.sh): KQ_FAULT_ENOSPC_AFTER=<n> in the
 * environment, read at the first write, lets the writes of the whole process through
 * kq__write_all put n bytes in all on disk; the write that reaches the limit is cut short
 * and every later one fails with ENOSPC, as on a file system that fills up. One budget for
 * the process, like the allocation hook's (util/alloc.c); unset, nothing is counted. */
#define FAULT_UNREAD (-2)
#define FAULT_OFF (-1)
static atomic_llong fault_left = FAULT_UNREAD;

static long long fault_budget(void)
{
    long long b = atomic_load_explicit(&fault_left, memory_order_relaxed);
    if (b != FAULT_UNREAD)
        return b;
    const char *e = getenv("KQ_FAULT_ENOSPC_AFTER");
    long long v = FAULT_OFF;
    if (e && *e >= '0' && *e <= '9') {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(e, &end, 10);
        if (!errno && !*end && u < (unsigned long long)LLONG_MAX)
            v = (long long)u;
    }
    long long unread = FAULT_UNREAD;
    atomic_compare_exchange_strong(&fault_left, &unread, v); /* the first reader wins */
    return atomic_load_explicit(&fault_left, memory_order_relaxed);
}

/* How many of the `n` bytes the next write may write: `n` without injection, 0 when the
 * injected disk is full. */
static size_t fault_allow(size_t n)
{
    long long b = fault_budget();
    while (b >= 0) {
        long long take = (unsigned long long)b < n ? b : (long long)n;
        if (atomic_compare_exchange_weak(&fault_left, &b, b - take))
            return (size_t)take;
    }
    return n;
}

/* Writes like kq__write_all; a failure's message names the file as `kind` followed by
 * `name` quoted. */
static int write_all(int fd, const uint8_t *p, size_t n, const char *kind, const char *name,
                     kq_error *err)
{
    while (n) {
        size_t want = fault_allow(n);
        ssize_t w = -1;
        if (want)
            w = write(fd, p, want);
        else
            errno = ENOSPC;
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            return kq__error(err, kq__errno_code(e), -1, "cannot write %s'%s': %s", kind, name,
                             strerror(e));
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int kq__write_all(int fd, const uint8_t *p, size_t n, const char *path, kq_error *err)
{
    return write_all(fd, p, n, "", path, err);
}

static int open_tmpfile(const char *dir, kq_error *err)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    char path[4096];
    snprintf(path, sizeof path, "%s/.kq-spill.XXXXXX", dir);
    fd = mkstemp(path);
    if (fd < 0)
        return kq__error(err, kq__errno_code(errno), -1,
                         "cannot create a temporary file in '%s': %s", dir, strerror(errno));
    unlink(path);
    return fd;
}

static int sink_spill(kq_sink *s, kq_error *err)
{
    if (s->fd < 0) {
        int fd = open_tmpfile(s->dir, err);
        if (fd < 0)
            return fd;
        s->fd = fd;
    }
    int rc = write_all(s->fd, s->mem.p, s->mem.len, "a temporary file in ", s->dir, err);
    if (rc)
        return rc;
    s->on_disk += s->mem.len;
    s->mem.len = 0;
    return 0;
}

int kq__sink_append(kq_sink *s, const void *p, size_t n, kq_error *err)
{
    if (!n)
        return 0;
    XXH3_64bits_update(s->xxh, p, n);
    s->size += n;
    if (s->mem.len + n > s->spill_bytes && s->spill_bytes) {
        int rc = sink_spill(s, err);
        if (rc)
            return rc;
        if (n >= s->spill_bytes) {
            rc = write_all(s->fd, p, n, "a temporary file in ", s->dir, err);
            if (!rc)
                s->on_disk += n;
            return rc;
        }
    }
    if (kq_buf_append(&s->mem, p, n))
        return kq__enomem(err);
    return 0;
}

int kq__sink_drain(kq_sink *s, kq_buf *b, kq_error *err)
{
    int rc = kq__sink_append(s, b->p, b->len, err);
    b->len = 0;
    return rc;
}

uint64_t kq__sink_hash(const kq_sink *s)
{
    return XXH3_64bits_digest(s->xxh);
}

/* Copies `len` bytes of `in` from offset 0 to the end of `out` inside the kernel. Returns
 * 0, an error, or 1 when the file system cannot (nothing was copied then). The fault
 * injection counts these bytes as it counts write()'s. */
static int copy_in_kernel(int in, uint64_t len, int out, const char *path, kq_error *err)
{
    loff_t off = 0;
    while ((uint64_t)off < len) {
        uint64_t left = len - (uint64_t)off;
        size_t want = fault_allow(left < ((size_t)1 << 30) ? (size_t)left : (size_t)1 << 30);
        ssize_t w = -1;
        if (want)
            w = copy_file_range(in, &off, out, NULL, want, 0);
        else
            errno = ENOSPC;
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && off == 0 &&
            (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP))
            return 1;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            return kq__error(err, kq__errno_code(e), -1, "cannot write '%s': %s", path,
                             w < 0 ? strerror(e) : "short copy from a temporary file");
        }
    }
    return 0;
}

/* Copies the sink's bytes to `out`: what it spilled (in the kernel where the file system
 * can), then what it holds. */
static int sink_copy(kq_sink *s, int out, const char *path, kq_error *err)
{
    int rc = s->on_disk ? copy_in_kernel(s->fd, s->on_disk, out, path, err) : 0;
    if (rc < 0)
        return rc;
    if (rc == 1) {
        static const size_t chunk = 1 << 20;
        uint8_t *tmp = kq__malloc(chunk);
        if (!tmp)
            return kq__enomem(err);
        uint64_t off = 0;
        rc = 0;
        while (off < s->on_disk && !rc) {
            size_t want = s->on_disk - off < chunk ? (size_t)(s->on_disk - off) : chunk;
            ssize_t r = pread(s->fd, tmp, want, (off_t)off);
            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                rc = kq__error(err, KQ_EIO, -1, "cannot read back a temporary file: %s",
                               r < 0 ? strerror(errno) : "short read");
                break;
            }
            rc = kq__write_all(out, tmp, (size_t)r, path, err);
            off += (uint64_t)r;
        }
        kq__free(tmp);
        if (rc)
            return rc;
    }
    return kq__write_all(out, s->mem.p, s->mem.len, path, err);
}

/* The header checksum: XXH3 of bytes [0, 56) followed by the n table entries. */
static uint64_t header_checksum(const uint8_t *p, uint32_t n)
{
    uint8_t hb[56 + KQ_SEG_MAX_SECTIONS * KQ_SEG_ENTRY_SIZE];
    memcpy(hb, p, 56);
    memcpy(hb + 56, p + KQ_SEG_HEADER_SIZE, (size_t)n * KQ_SEG_ENTRY_SIZE);
    return XXH3_64bits(hb, 56 + (size_t)n * KQ_SEG_ENTRY_SIZE);
}

void kq__segment_reseal(uint8_t *p, size_t size)
{
    if (size < KQ_SEG_DATA_OFF)
        return;
    uint32_t n = kq_get_le32(p + 12);
    if (n > KQ_SEG_MAX_SECTIONS)
        n = KQ_SEG_MAX_SECTIONS;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = p + KQ_SEG_HEADER_SIZE + (size_t)i * KQ_SEG_ENTRY_SIZE;
        uint64_t off = kq_get_le64(e + 8), len = kq_get_le64(e + 16);
        if (off <= size && len <= size - off)
            kq_put_le64(e + 24, XXH3_64bits(p + off, (size_t)len));
    }
    kq_put_le64(p + 56, header_checksum(p, n));
}

/* ---- writing ---- */

static uint64_t align_up(uint64_t v)
{
    return (v + KQ_SEG_ALIGN - 1) & ~(uint64_t)(KQ_SEG_ALIGN - 1);
}

int kq__segment_write(const char *path, kq_sink *const *secs, int durable,
                      uint64_t *file_size, kq_error *err)
{
    uint8_t head[KQ_SEG_DATA_OFF];
    memset(head, 0, sizeof head);
    static const uint8_t magic[8] = {'K', 'Q', 'S', 'E', 'G', 'M', 'T', 0};
    memcpy(head, magic, sizeof magic);
    kq_put_le16(head + 8, KQ_SEG_VERSION_MAJOR);
    kq_put_le16(head + 10, KQ_SEG_VERSION_MINOR);

    uint32_t n = 0;
    uint64_t off = KQ_SEG_DATA_OFF;
    for (int id = 0; id < KQ_SEC_COUNT; id++) {
        kq_sink *s = secs[id];
        if (!s || (!s->size && !section_required(id)))
            continue;
        uint8_t *e = head + KQ_SEG_HEADER_SIZE + (size_t)n * KQ_SEG_ENTRY_SIZE;
        memcpy(e, tags[id], 4);
        kq_put_le32(e + 4, section_required(id) ? KQ_SECTION_REQUIRED : 0);
        kq_put_le64(e + 8, off);
        kq_put_le64(e + 16, s->size);
        kq_put_le64(e + 24, kq__sink_hash(s));
        off = align_up(off + s->size);
        n++;
    }
    kq_put_le32(head + 12, n);
    kq_put_le64(head + 16, off);
    kq_put_le64(head + 56, header_checksum(head, n));

    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return kq__error(err, kq__errno_code(errno), -1, "cannot create '%s': %s", path,
                         strerror(errno));
    int rc = kq__write_all(fd, head, sizeof head, path, err);
    uint64_t pos = KQ_SEG_DATA_OFF;
    static const uint8_t zeros[KQ_SEG_ALIGN];
    for (int id = 0; id < KQ_SEC_COUNT && !rc; id++) {
        kq_sink *s = secs[id];
        if (!s || (!s->size && !section_required(id)))
            continue;
        rc = sink_copy(s, fd, path, err);
#ifdef SYNC_FILE_RANGE_WRITE
        /* start writing the section back now, so that the fsync at the end finds less to
         * wait for (a hint: its failure changes nothing) */
        if (!rc && durable)
            sync_file_range(fd, (off_t)pos, (off_t)s->size, SYNC_FILE_RANGE_WRITE);
#endif
        pos += s->size;
        if (!rc && align_up(pos) != pos) {
            rc = kq__write_all(fd, zeros, (size_t)(align_up(pos) - pos), path, err);
            pos = align_up(pos);
        }
    }
    if (!rc && durable && fsync(fd) != 0)
        rc = kq__error(err, kq__errno_code(errno), -1, "cannot fsync '%s': %s", path,
                       strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = kq__error(err, KQ_EIO, -1, "cannot close '%s': %s", path, strerror(errno));
    if (rc) {
        unlink(path);
        return rc;
    }
    if (file_size)
        *file_size = pos;
    return 0;
}

size_t kq__read_all(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

int kq__fsync_dir(const char *dir, kq_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return kq__error(err, KQ_EIO, -1, "cannot open '%s': %s", dir, strerror(errno));
    int rc = 0;
    if (fsync(fd) != 0)
        rc = kq__error(err, kq__errno_code(errno), -1, "cannot fsync '%s': %s", dir,
                       strerror(errno));
    close(fd);
    return rc;
}

/* ---- reading ---- */

int kq__segment_check_bytes(kq_segfile *f, const uint8_t *p, size_t size, int verify,
                            kq_error *err)
{
    const char *name = f->name ? f->name : "segment";
    f->map = p;
    f->size = size;
    memset(f->sec, 0, sizeof f->sec);
    if (size < KQ_SEG_DATA_OFF)
        return kq__error(err, KQ_ECORRUPT, (int64_t)size,
                         "segment '%s': truncated header (%zu bytes)", name, size);
    if (memcmp(p, KQ_SEG_MAGIC, 8) != 0)
        return kq__error(err, KQ_ECORRUPT, 0, "segment '%s': bad magic in header", name);
    uint32_t n = kq_get_le32(p + 12);
    if (n > KQ_SEG_MAX_SECTIONS)
        return kq__error(err, KQ_ECORRUPT, 12, "segment '%s': %u sections in header (limit %d)",
                         name, n, KQ_SEG_MAX_SECTIONS);
    if (header_checksum(p, n) != kq_get_le64(p + 56))
        return kq__error(err, KQ_ECORRUPT, 56,
                         "segment '%s': checksum mismatch in header or section table", name);
    uint16_t major = kq_get_le16(p + 8);
    if (major < KQ_SEG_VERSION_MAJOR_OLDEST || major > KQ_SEG_VERSION_MAJOR)
        return kq__error(err, KQ_EVERSION, 8,
                         "segment '%s': format version %u is not supported (this reads %d to %d)",
                         name, major, KQ_SEG_VERSION_MAJOR_OLDEST, KQ_SEG_VERSION_MAJOR);
    f->pos_tables = major >= 2;
    uint64_t fsize = kq_get_le64(p + 16);
    if (fsize != size)
        return kq__error(err, KQ_ECORRUPT, 16,
                         "segment '%s': file is %zu bytes, header says %llu (truncated?)", name,
                         size, (unsigned long long)fsize);
    uint64_t prev_end = KQ_SEG_DATA_OFF;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = p + KQ_SEG_HEADER_SIZE + (size_t)i * KQ_SEG_ENTRY_SIZE;
        int id = -1;
        for (int t = 0; t < KQ_SEC_COUNT; t++)
            if (!memcmp(e, tags[t], 4))
                id = t;
        uint32_t flags = kq_get_le32(e + 4);
        uint64_t off = kq_get_le64(e + 8), len = kq_get_le64(e + 16);
        char tag[5] = {0};
        for (int k = 0; k < 4; k++)
            tag[k] = (char)((e[k] >= 0x20 && e[k] < 0x7f) ? e[k] : '?');
        if (off < prev_end || off % KQ_SEG_ALIGN || len > size || off > size - len)
            return kq__error(err, KQ_ECORRUPT, (int64_t)(e - p),
                             "segment '%s': section '%s' lies outside the file or overlaps",
                             name, tag);
        prev_end = off + len;
        if (id < 0) {
            if (flags & KQ_SECTION_REQUIRED)
                return kq__error(err, KQ_EVERSION, (int64_t)(e - p),
                                 "segment '%s': unknown required section '%s'", name, tag);
            continue;
        }
        if (f->sec[id].p)
            return kq__error(err, KQ_ECORRUPT, (int64_t)(e - p),
                             "segment '%s': section '%s' appears twice", name, tag);
        if (verify && XXH3_64bits(p + off, (size_t)len) != kq_get_le64(e + 24))
            return kq__error(err, KQ_ECORRUPT, (int64_t)off,
                             "segment '%s': checksum mismatch in section '%s'", name, tag);
        f->sec[id].p = p + off;
        f->sec[id].len = (size_t)len;
    }
    for (int id = 0; id < KQ_SEC_COUNT; id++)
        if (section_required(id) && !f->sec[id].p)
            return kq__error(err, KQ_ECORRUPT, -1, "segment '%s': section '%s' is missing",
                             name, tags[id]);
    return 0;
}

int kq__segment_map(kq_segfile *f, const char *path, int verify, kq_error *err)
{
    memset(f, 0, sizeof *f);
    const char *base = strrchr(path, '/');
    snprintf(f->path_buf, sizeof f->path_buf, "%s", base ? base + 1 : path);
    f->name = f->path_buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kq__error(err, errno == ENOENT ? KQ_ECORRUPT : KQ_EIO, -1,
                         "cannot open segment '%s': %s", f->name, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return kq__error(err, KQ_EIO, -1, "cannot stat '%s': %s", f->name, strerror(e));
    }
    size_t size = (size_t)st.st_size;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    if (size < KQ_SEG_DATA_OFF) {
        close(fd);
        return kq__error(err, KQ_ECORRUPT, (int64_t)size,
                         "segment '%s': truncated header (%zu bytes)", f->name, size);
    }
    void *m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED)
        return kq__error(err, KQ_EIO, -1, "cannot map '%s': %s", f->name, strerror(e));
    int rc = kq__segment_check_bytes(f, m, size, verify, err);
    if (rc) {
        munmap(m, size);
        f->map = NULL;
        return rc;
    }
    return 0;
}

int kq__segment_verify(const kq_segfile *f, unsigned mask, kq_error *err)
{
    /* the table was checked at map time: offsets and lengths lie inside the file */
    uint32_t n = kq_get_le32(f->map + 12);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = f->map + KQ_SEG_HEADER_SIZE + (size_t)i * KQ_SEG_ENTRY_SIZE;
        int id = -1;
        for (int t = 0; t < KQ_SEC_COUNT; t++)
            if (!memcmp(e, tags[t], 4))
                id = t;
        if (id < 0 || !(mask & (1u << id)))
            continue;
        uint64_t off = kq_get_le64(e + 8), len = kq_get_le64(e + 16);
        if (XXH3_64bits(f->map + off, (size_t)len) != kq_get_le64(e + 24))
            return kq__error(err, KQ_ECORRUPT, (int64_t)off,
                             "segment '%s': checksum mismatch in section '%s'", f->name,
                             tags[id]);
    }
    return 0;
}

void kq__segment_unmap(kq_segfile *f)
{
    if (f && f->map) {
        munmap((void *)f->map, f->size);
        f->map = NULL;
    }
}
