/* index/segment.h: the segment file container: a fixed header, a section table at a fixed
 * place, and sections, each with its length and XXH3-64 checksum (FORMAT.md, "Segment").
 *
 * Writing: sections are built in kq_sink objects (memory that spills to an unlinked
 * temporary file in the index directory past a threshold, hashing as it goes), then
 * kq__segment_write lays them out in one pass and fsyncs the file.
 * Reading: kq__segment_map maps a file and verifies header, table and every section's
 * checksum before handing out section byte ranges.
 *
 * Errors: 0 or KQ_EIO/KQ_ENOSPC/KQ_ENOMEM (writing), KQ_ECORRUPT/KQ_EVERSION (reading),
 * with `err` naming the file and section.
 */
#ifndef KQ_INDEX_SEGMENT_H
#define KQ_INDEX_SEGMENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <xxhash.h>

#include "kq/error.h"
#include "util/buf.h"

#define KQ_SEG_MAGIC "KQSEGMT\0"
#define KQ_SEG_VERSION_MAJOR 2 /* written; 1 (no positions offset tables) is still read */
#define KQ_SEG_VERSION_MAJOR_OLDEST 1
#define KQ_SEG_VERSION_MINOR 0
#define KQ_SEG_HEADER_SIZE 64
#define KQ_SEG_ENTRY_SIZE 32
#define KQ_SEG_MAX_SECTIONS 16
#define KQ_SEG_DATA_OFF (KQ_SEG_HEADER_SIZE + KQ_SEG_MAX_SECTIONS * KQ_SEG_ENTRY_SIZE)
#define KQ_SEG_ALIGN 8

#define KQ_SECTION_REQUIRED 1u
#define KQ_META_SIZE 96   /* META section bytes */
#define KQ_DSIX_ENTRY 24  /* bytes of a DSIX entry */

/* Section tags, in the order they are written. */
enum kq_section_id {
    KQ_SEC_META, /* segment statistics and settings */
    KQ_SEC_TDIC, /* term dictionary blocks */
    KQ_SEC_TIDX, /* term dictionary sparse index */
    KQ_SEC_POST, /* doc-id and tf blocks, skip tables */
    KQ_SEC_POSN, /* positions */
    KQ_SEC_DLEN, /* document lengths per field */
    KQ_SEC_DOCT, /* document table */
    KQ_SEC_SRCS, /* source files (JSON-lines inputs) */
    KQ_SEC_DSIX, /* document store block index */
    KQ_SEC_DSTO, /* document store blocks (zstd) */
    KQ_SEC_ZDIC, /* zstd dictionary (optional) */
    KQ_SEC_COUNT
};

/* The four-byte tag of a section, e.g. "POST". */
const char *kq__section_tag(int id);

/* A byte stream being built: in memory up to `spill_bytes`, then in an unlinked temporary
 * file under `dir`. Hashes everything appended. */
typedef struct kq_sink {
    kq_buf mem;
    int fd;           /* -1 until spilled */
    uint64_t size;    /* bytes appended so far */
    uint64_t on_disk; /* bytes already in fd */
    size_t spill_bytes;
    const char *dir;
    XXH3_state_t *xxh;
} kq_sink;

int kq__sink_init(kq_sink *s, const char *dir, size_t spill_bytes);
void kq__sink_release(kq_sink *s);
int kq__sink_append(kq_sink *s, const void *p, size_t n, kq_error *err);
/* Appends the contents of `b` and empties it. */
int kq__sink_drain(kq_sink *s, kq_buf *b, kq_error *err);
uint64_t kq__sink_hash(const kq_sink *s);

/* kq__segment_write: writes a segment file at `path` (created exclusively, mode 0644) from
 * the KQ_SEC_COUNT sinks `secs` (a NULL or empty optional section is left out), then fsyncs
 * it when `durable` (not a build's temporary run, read back and deleted by the same
 * process). `*file_size` receives the size. On failure the file is removed. */
int kq__segment_write(const char *path, kq_sink *const *secs, int durable,
                      uint64_t *file_size, kq_error *err);

/* A mapped, verified segment file. */
typedef struct kq_segfile {
    const uint8_t *map;
    size_t size;
    dev_t dev; /* the file mapped (kq__segment_map; 0 for bytes in memory) */
    ino_t ino;
    const char *name; /* for messages: the file's name (points into `path_buf`) */
    char path_buf[64];
    int pos_tables; /* major >= 2: positions blocks may end in offsets tables (P17) */
    struct {
        const uint8_t *p;
        size_t len;
    } sec[KQ_SEC_COUNT];
} kq_segfile;

/* kq__segment_map: maps `path` and verifies the header, the section table (offsets inside
 * the file, aligned, not overlapping, every required section present, unknown optional
 * sections skipped, an unknown required one a version error) and, when `verify` is set,
 * every section's checksum. Returns 0, KQ_EIO, KQ_ECORRUPT, KQ_EVERSION. */
int kq__segment_map(kq_segfile *f, const char *path, int verify, kq_error *err);
/* kq__segment_check_bytes: the same checks over bytes already in memory (fuzzing). */
int kq__segment_check_bytes(kq_segfile *f, const uint8_t *p, size_t size, int verify,
                            kq_error *err);
void kq__segment_unmap(kq_segfile *f);
/* kq__segment_verify: checks the checksums of the sections of a segment mapped without
 * `verify` whose ids are in `mask` (bit 1 << KQ_SEC_*). Returns 0 or KQ_ECORRUPT. */
int kq__segment_verify(const kq_segfile *f, unsigned mask, kq_error *err);
#define KQ_SEC_ALL ((1u << KQ_SEC_COUNT) - 1)

/* kq__segment_reseal: recomputes, in a segment image of `size` bytes in memory, every
 * section checksum (for sections inside the image) and the header checksum, so that a
 * deliberately altered segment passes the checksums and reaches the deeper checks (tests
 * and fuzzers). */
void kq__segment_reseal(uint8_t *p, size_t size);

/* kq__write_all: writes the `n` bytes at `p` to `fd`, the file at `path`, retrying short
 * writes and EINTR. Returns 0, KQ_ENOSPC (ENOSPC, EDQUOT) or KQ_EIO, the message naming
 * `path`. With KQ_FAULT_ENOSPC_AFTER=<bytes> in the environment (tests only), the writes of
 * the process fail with ENOSPC past that many bytes in all (segment.c). */
int kq__write_all(int fd, const uint8_t *p, size_t n, const char *path, kq_error *err);
/* kq__errno_code: the error code for a failed write, create, fsync or rename's errno:
 * KQ_ENOSPC for ENOSPC and EDQUOT, else KQ_EIO. */
int kq__errno_code(int e);
/* kq__read_all: reads up to `n` bytes from `fd` into `p`, retrying short reads and EINTR;
 * returns the bytes read (less than `n` at the end of the file or on an error). */
size_t kq__read_all(int fd, uint8_t *p, size_t n);

/* Fsyncs the directory `dir` (after a rename into it). */
int kq__fsync_dir(const char *dir, kq_error *err);

#endif
