/* index/build.h: internals shared by the index writer (build.c) and merger (merge.c). */
#ifndef KQ_INDEX_BUILD_H
#define KQ_INDEX_BUILD_H

#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "kq/error.h"

/* Bytes each section of a segment being written (built, flushed or merged) keeps in memory
 * before it goes on to a temporary file. Small: a flush has a dozen such sections at once,
 * all within the memory budget, and a write of this size costs no more per byte than a
 * larger one. */
#define KQ_SPILL_BYTES (256u << 10)

/* One input file found by the walk. */
struct kq_input {
    char *path;       /* as the walk reached it (relative to the current directory) */
    char *name;       /* as the index names it (util/path.h) */
    int jsonl;        /* a JSON-lines file: one document per line */
    int32_t upd;      /* an update: the JSON-lines file's line filter (kq__update_keep_line),
                         -1 when every line is read */
    uint64_t size;
    int64_t mtime_ns;
};

struct kq_inputs {
    struct kq_input *v;
    size_t n, cap;
    uint64_t bytes;
};

/* kq__lock_acquire: takes the writer lock of index `dir` (an fcntl lock on dir/LOCK, released
 * by the kernel when the process dies, so there is no stale lock to clean up). With `wait`,
 * calls `waiting(ctx, holder_pid)` once and blocks; without, fails with KQ_ELOCKED naming
 * the holder. `*fd` receives the descriptor to close to release the lock. */
int kq__lock_acquire(const char *dir, int wait, void (*waiting)(void *, long), void *ctx,
                     int *fd, kq_error *err);

/* kq__merge_files: merges the segment files `paths` (documents in the given order) into one
 * new segment at `out`, streaming term by term; each section keeps at most `spill` bytes in
 * memory before going to a temporary file. `memory` is what the merge may keep resident:
 * its builder's per-document arrays and buffers, and the inputs' mapped pages, which get
 * what the builder leaves (pages read are dropped behind; one term's postings come on top).
 * Store blocks made with the same dictionary (`cdict`/`dict`) are copied as they are;
 * others are decompressed and compressed again. `*size`, `*post_bytes`, `*pos_bytes`,
 * `*n_terms` receive the new segment's figures. The terms are merged in up to `threads` key
 * ranges side by side (0: one per CPU). The inputs are the temporary runs of this process:
 * their positions are copied as they are (kq_postings_positions_encoded). */
int kq__merge_files(const char *dir, const char *const *paths, size_t n, size_t spill,
                    size_t memory, int threads, const char *language,
                    const ZSTD_CDict *cdict, const void *dict, size_t dict_len, const char *out,
                    uint64_t *size, uint64_t *post_bytes, uint64_t *pos_bytes,
                    uint64_t *n_terms, kq_error *err);

struct kq_segbuild;
struct kq_seg;
/* kq__merge_segments: adds the live documents and their terms of the open segments `segs`
 * (in that order, deleted documents dropped and the others renumbered) to the builder `b`
 * (see kq__merge_files); `dict_hash` is the XXH3 of the builder's dictionary (0: none);
 * the builder and the segments' mapped pages keep to about `memory` bytes (see
 * kq__merge_files); the segments' pages are dropped when it returns. `own`: the segments
 * are runs this process wrote, whose positions are copied unchecked (P15); 0 for an
 * index's segments, whose positions are decoded and checked. */
int kq__merge_segments(struct kq_segbuild *b, struct kq_seg *const *segs, size_t n,
                       uint64_t dict_hash, size_t memory, int threads, int own, kq_error *err);

struct kq_build_stats;
/* kq__merge_run: with the writer lock of `dir` held, runs the merge policy (max_segments
 * 0) or merges down to max_segments, committing each round, until nothing is left to do.
 * Adds to st->merges, merged_segments; sets committed and generation when it commits. */
int kq__merge_run(const char *dir, uint32_t max_segments, size_t budget,
                  struct kq_build_stats *st, kq_error *err);

#endif
