/* index/manifest.c: reading and atomically replacing the MANIFEST.
 * Invariant: a MANIFEST on disk is always complete (written to a temporary name, fsynced,
 * renamed, directory fsynced), so a reader sees the old or the new generation. */
#include "index/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "index/deletes.h"
#include "index/segment.h"
#include "text/text.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/bytes.h"
#include "util/error.h"

void kq__segment_name(uint64_t number, char *buf, size_t size)
{
    snprintf(buf, size, "seg_%08llu.kq", (unsigned long long)number);
}

static double get_f64(const uint8_t *p)
{
    uint64_t u = kq_get_le64(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void put_f64(uint8_t *p, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    kq_put_le64(p, u);
}

int kq__manifest_parse(const uint8_t *p, size_t len, struct kq_manifest *m, kq_error *err)
{
    memset(m, 0, sizeof *m);
    if (len < KQ_MANIFEST_HEAD + 8 || memcmp(p, KQ_MANIFEST_MAGIC, 8) != 0)
        return kq__error(err, KQ_ECORRUPT, 0, "manifest: bad magic or truncated (%zu bytes)",
                         len);
    if (XXH3_64bits(p, len - 8) != kq_get_le64(p + len - 8))
        return kq__error(err, KQ_ECORRUPT, (int64_t)len - 8, "manifest: checksum mismatch");
    uint16_t version = kq_get_le16(p + 8);
    if (version < 1 || version > KQ_MANIFEST_VERSION)
        return kq__error(err, KQ_EVERSION, 8,
                         "manifest: format version %u is not supported (this reads 1 to %d)",
                         version, KQ_MANIFEST_VERSION);
    m->paths_as_given = version < 3;
    uint32_t n = kq_get_le32(p + 12);
    if (n > KQ_MANIFEST_MAX_SEGMENTS ||
        len != KQ_MANIFEST_HEAD + (size_t)n * KQ_MANIFEST_ENTRY + 8)
        return kq__error(err, KQ_ECORRUPT, 12, "manifest: %u segments do not fit %zu bytes", n,
                         len);
    m->generation = kq_get_le64(p + 16);
    if (m->generation == 0)
        return kq__error(err, KQ_ECORRUPT, 16, "manifest: generation 0");
    m->checksum = kq_get_le64(p + len - 8);
    m->next_segment = kq_get_le64(p + 24);
    m->k1 = get_f64(p + 32);
    m->b = get_f64(p + 40);
    if (!(m->k1 > 0 && m->k1 <= 100) || !(m->b >= 0 && m->b <= 1))
        return kq__error(err, KQ_ECORRUPT, 32, "manifest: BM25 settings out of range");
    memcpy(m->language, p + 48, 32);
    if (m->language[31] != '\0')
        return kq__error(err, KQ_ECORRUPT, 48, "manifest: language not terminated");
    if (!kq_language_valid(m->language))
        return kq__error(err, KQ_ECORRUPT, 48, "manifest: unknown language '%s'", m->language);
    m->segs = kq__calloc(n ? n : 1, sizeof *m->segs);
    if (!m->segs)
        return kq__enomem(err);
    m->n_segs = n;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = p + KQ_MANIFEST_HEAD + (size_t)i * KQ_MANIFEST_ENTRY;
        m->segs[i].number = kq_get_le64(e);
        m->segs[i].file_size = kq_get_le64(e + 8);
        m->segs[i].n_docs = kq_get_le32(e + 16);
        m->segs[i].checksum = kq_get_le64(e + 24);
        if (m->segs[i].number >= m->next_segment ||
            (i && m->segs[i].number <= m->segs[i - 1].number)) {
            kq__manifest_release(m);
            return kq__error(err, KQ_ECORRUPT, e - p, "manifest: segment numbers out of order");
        }
        if (version == 1)
            continue; /* version 1: the rest of the entry is reserved, no deletions */
        struct kq_manifest_seg *s = &m->segs[i];
        s->n_deleted = kq_get_le32(e + 20);
        s->del_gen = kq_get_le64(e + 32);
        s->del_checksum = kq_get_le64(e + 40);
        /* M6 */
        if ((s->n_deleted && s->n_deleted >= s->n_docs) ||
            (s->n_deleted == 0) != (s->del_gen == 0) ||
            (s->del_gen == 0 && s->del_checksum != 0) || s->del_gen > m->generation) {
            unsigned long long number = s->number;
            kq__manifest_release(m);
            return kq__error(err, KQ_ECORRUPT, e - p + 20,
                             "manifest: deletions of segment %llu out of range", number);
        }
    }
    return 0;
}

int kq__index_dir_check(const char *dir, kq_error *err)
{
    size_t n = strlen(dir);
    if (n <= KQ_INDEX_DIR_MAX)
        return 0;
    return kq__error(err, KQ_ELIMIT, -1,
                     "index directory path too long (%zu bytes, the limit is %d): '%.40s...'",
                     n, KQ_INDEX_DIR_MAX, dir);
}

int kq__manifest_read(const char *dir, struct kq_manifest *m, kq_error *err)
{
    memset(m, 0, sizeof *m);
    if (kq__index_dir_check(dir, err))
        return KQ_ELIMIT;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, KQ_MANIFEST_NAME);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return kq__error(err, KQ_ENOTFOUND, -1, "no index in '%s' (no %s)", dir,
                             KQ_MANIFEST_NAME);
        return kq__error(err, KQ_EIO, -1, "cannot open '%s': %s", path, strerror(errno));
    }
    struct stat st;
    size_t max = KQ_MANIFEST_HEAD + (size_t)KQ_MANIFEST_MAX_SEGMENTS * KQ_MANIFEST_ENTRY + 8;
    if (fstat(fd, &st) != 0 || st.st_size < 0 || (size_t)st.st_size > max) {
        close(fd);
        return kq__error(err, KQ_ECORRUPT, -1, "manifest '%s': bad size", path);
    }
    size_t len = (size_t)st.st_size;
    uint8_t *p = kq__malloc(len ? len : 1);
    if (!p) {
        close(fd);
        return kq__enomem(err);
    }
    size_t got = kq__read_all(fd, p, len);
    close(fd);
    int rc = got == len ? kq__manifest_parse(p, len, m, err)
                        : kq__error(err, KQ_EIO, -1, "cannot read '%s'", path);
    kq__free(p);
    return rc;
}

int kq__manifest_write(const char *dir, const struct kq_manifest *m, kq_error *err)
{
    kq_buf b = KQ_BUF_INIT;
    if (kq_buf_put_zeros(&b, KQ_MANIFEST_HEAD + (size_t)m->n_segs * KQ_MANIFEST_ENTRY))
        return kq__enomem(err);
    memcpy(b.p, KQ_MANIFEST_MAGIC, 8);
    kq_put_le16(b.p + 8, m->paths_as_given ? 2 : KQ_MANIFEST_VERSION);
    kq_put_le32(b.p + 12, m->n_segs);
    kq_put_le64(b.p + 16, m->generation);
    kq_put_le64(b.p + 24, m->next_segment);
    put_f64(b.p + 32, m->k1);
    put_f64(b.p + 40, m->b);
    memcpy(b.p + 48, m->language, strnlen(m->language, 31));
    for (uint32_t i = 0; i < m->n_segs; i++) {
        uint8_t *e = b.p + KQ_MANIFEST_HEAD + (size_t)i * KQ_MANIFEST_ENTRY;
        kq_put_le64(e, m->segs[i].number);
        kq_put_le64(e + 8, m->segs[i].file_size);
        kq_put_le32(e + 16, m->segs[i].n_docs);
        kq_put_le32(e + 20, m->segs[i].n_deleted);
        kq_put_le64(e + 24, m->segs[i].checksum);
        kq_put_le64(e + 32, m->segs[i].del_gen);
        kq_put_le64(e + 40, m->segs[i].del_checksum);
    }
    if (kq_buf_put_u64(&b, XXH3_64bits(b.p, b.len))) {
        kq_buf_release(&b);
        return kq__enomem(err);
    }
    /* never commit what a reader would refuse (a counter that wrapped, say) */
    struct kq_manifest back;
    kq_error why;
    int rc = kq__manifest_parse(b.p, b.len, &back, &why);
    kq__manifest_release(&back);
    if (rc) {
        kq_buf_release(&b);
        return rc == KQ_ENOMEM ? kq__enomem(err)
                               : kq__error(err, KQ_EINTERNAL, -1,
                                           "refusing to commit a manifest that breaks the "
                                           "format (generation %llu, next segment %llu): %s",
                                           (unsigned long long)m->generation,
                                           (unsigned long long)m->next_segment, why.msg);
    }
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/.tmp-%ld-%s", dir, (long)getpid(), KQ_MANIFEST_NAME);
    snprintf(path, sizeof path, "%s/%s", dir, KQ_MANIFEST_NAME);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = kq__error(err, kq__errno_code(errno), -1, "cannot create '%s': %s", tmp,
                       strerror(errno));
        goto out;
    }
    rc = kq__write_all(fd, b.p, b.len, tmp, err);
    if (!rc && fsync(fd) != 0)
        rc = kq__error(err, kq__errno_code(errno), -1, "cannot fsync '%s': %s", tmp,
                       strerror(errno));
    close(fd);
    if (!rc && rename(tmp, path) != 0)
        rc = kq__error(err, kq__errno_code(errno), -1, "cannot rename '%s': %s", tmp,
                       strerror(errno));
    if (rc)
        unlink(tmp);
    else
        rc = kq__fsync_dir(dir, err);
out:
    kq_buf_release(&b);
    return rc;
}

void kq__manifest_release(struct kq_manifest *m)
{
    if (!m)
        return;
    kq__free(m->segs);
    m->segs = NULL;
    m->n_segs = 0;
}

static int referenced(const struct kq_manifest *m, const char *n)
{
    char name[64];
    for (uint32_t i = 0; i < m->n_segs; i++) {
        kq__segment_name(m->segs[i].number, name, sizeof name);
        if (!strcmp(name, n))
            return 1;
        if (m->segs[i].del_gen) {
            kq__del_name(m->segs[i].number, m->segs[i].del_gen, name, sizeof name);
            if (!strcmp(name, n))
                return 1;
        }
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

void kq__manifest_cleanup(const char *dir, const struct kq_manifest *m)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        int drop = !strncmp(n, ".tmp-", 5) ||
                   (!strncmp(n, "seg_", 4) && (ends_with(n, ".kq") || ends_with(n, ".del")) &&
                    !referenced(m, n));
        if (drop) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, n);
            unlink(path);
        }
    }
    closedir(d);
}

/* After a failed commit of `m`. When `m` is the MANIFEST anyway (the rename happened and only
 * the directory's fsync failed) nothing is removed: the new files are the index's, and the
 * old ones stay too, since the rename may not be durable. Otherwise the files `m` names that
 * the live MANIFEST does not (the writer's new segments and deletion files) are removed, so
 * that a failed writer leaves the directory as it found it. An unreadable MANIFEST removes
 * nothing. */
static void drop_uncommitted(const char *dir, const struct kq_manifest *m)
{
    struct kq_manifest now;
    int rc = kq__manifest_read(dir, &now, NULL);
    if (rc == KQ_ENOTFOUND)
        rc = 0; /* a first build: every file m names is new (`now` is empty) */
    if (rc == 0 && now.generation != m->generation) {
        char name[64], path[4096];
        for (uint32_t i = 0; i < m->n_segs; i++) {
            kq__segment_name(m->segs[i].number, name, sizeof name);
            if (!referenced(&now, name)) {
                snprintf(path, sizeof path, "%s/%s", dir, name);
                unlink(path);
            }
            if (!m->segs[i].del_gen)
                continue;
            kq__del_name(m->segs[i].number, m->segs[i].del_gen, name, sizeof name);
            if (!referenced(&now, name)) {
                snprintf(path, sizeof path, "%s/%s", dir, name);
                unlink(path);
            }
        }
    }
    kq__manifest_release(&now);
}

int kq__manifest_commit(const char *dir, const struct kq_manifest *m, kq_error *err)
{
    int rc = kq__fsync_dir(dir, err);
    if (!rc)
        rc = kq__manifest_write(dir, m, err);
    if (!rc)
        kq__manifest_cleanup(dir, m);
    else
        drop_uncommitted(dir, m);
    return rc;
}
