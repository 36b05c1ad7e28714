/* index/manifest.h: the MANIFEST file naming an index's live segments and its settings
 * (FORMAT.md, "Manifest"). Written under a temporary name, fsynced and renamed into place:
 * the rename is the commit.
 */
#ifndef KQ_INDEX_MANIFEST_H
#define KQ_INDEX_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "kq/error.h"

#define KQ_MANIFEST_NAME "MANIFEST"
#define KQ_MANIFEST_MAGIC "KQMANIF\0"
#define KQ_MANIFEST_VERSION 3     /* written; versions 1 (no deletions) and 2 (paths as
                                   * given) are still read */
#define KQ_MANIFEST_HEAD 80
#define KQ_MANIFEST_ENTRY 48
#define KQ_MANIFEST_MAX_SEGMENTS 4096

struct kq_manifest_seg {
    uint64_t number;       /* file seg_<number>.kq */
    uint64_t file_size;
    uint32_t n_docs;
    uint32_t n_deleted;    /* documents marked deleted, < n_docs; 0: no deletion file */
    uint64_t checksum;     /* the segment header's checksum field */
    uint64_t del_gen;      /* deletion file seg_<number>_<del_gen>.del; 0 when none */
    uint64_t del_checksum; /* that file's checksum field (its last 8 bytes) */
};

struct kq_manifest {
    uint64_t generation;
    uint64_t next_segment;
    double k1, b;
    char language[32];
    int paths_as_given; /* version 1 or 2: files are named as given to kq-index (relative to
                         * where it ran), not as util/path.h says; the writer then writes
                         * version 2, so that updating such an index keeps its meaning */
    uint32_t n_segs;
    struct kq_manifest_seg *segs; /* owned */
    uint64_t checksum; /* the XXH3 the parsed bytes end with (unused by the writer) */
};

/* The longest index directory path: its files' paths (the directory, '/' and a name of at
 * most 63 bytes, "seg_<number>_<gen>.del" or a temporary's) fit the 4096-byte buffers
 * the index code joins them in. */
#define KQ_INDEX_DIR_MAX (4096 - 64)

/* kq__index_dir_check: KQ_ELIMIT (with `err`) when the path `dir` is longer than
 * KQ_INDEX_DIR_MAX, else 0. Every entry point that takes an index directory calls it
 * (kq__manifest_read does) before joining file names to it. */
int kq__index_dir_check(const char *dir, kq_error *err);

/* Parses manifest bytes (version 1, 2 or 3). Returns 0, KQ_ECORRUPT, KQ_EVERSION, KQ_ENOMEM. */
int kq__manifest_parse(const uint8_t *p, size_t len, struct kq_manifest *m, kq_error *err);
/* Reads dir/MANIFEST. KQ_ENOTFOUND when there is none. */
int kq__manifest_read(const char *dir, struct kq_manifest *m, kq_error *err);
/* Writes dir/MANIFEST atomically (temporary name, fsync, rename, fsync dir). */
int kq__manifest_write(const char *dir, const struct kq_manifest *m, kq_error *err);
void kq__manifest_release(struct kq_manifest *m);
/* Removes the files of `dir` that `m` does not reference: segments and deletion files of
 * older generations, temporaries of a writer that died. Call with the writer lock held,
 * after `m` was committed. Failures are ignored (the next writer tries again). */
void kq__manifest_cleanup(const char *dir, const struct kq_manifest *m);
/* kq__manifest_commit: the commit of a writer whose new files (segments, deletion files)
 * are written and fsynced: fsyncs the directory, writes `m` as the new MANIFEST atomically,
 * then removes what it no longer references. Before the rename nothing changed; after it
 * the new generation is the index. A failed commit owns the writer's new files: before the
 * rename it removes every segment and deletion file `m` names that the live MANIFEST does
 * not; after it (only the directory's fsync failed) it removes nothing, old or new, and the
 * caller must not either. */
int kq__manifest_commit(const char *dir, const struct kq_manifest *m, kq_error *err);
/* The file name of segment `number` ("seg_00000001.kq") into buf. */
void kq__segment_name(uint64_t number, char *buf, size_t size);

#endif
