/* index/update.h: what an update of an existing index must re-read and delete.
 *
 * kq_index_build over an existing index (build.c) asks this module, before reading any
 * input, which inputs changed since the previous generation (update.c says how it
 * decides), and at the end which of the previous generation's documents to mark deleted:
 * those under the given paths that were not kept, i.e. replaced by a new version or not
 * found any more.
 *
 * Errors: 0 or KQ_ENOMEM, KQ_EIO (an input that cannot be read), KQ_ECORRUPT.
 */
#ifndef KQ_INDEX_UPDATE_H
#define KQ_INDEX_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "index/build.h"
#include "index/manifest.h"
#include "kq/error.h"
#include "kq/index.h"

typedef struct kq_update kq_update;

/* kq__update_new: the state of an update of the open index `old` (borrowed: it must stay
 * open until kq__update_free) over `paths`: every live document of a file under one of the
 * paths starts as a candidate for deletion. Here and below, paths are names as the index
 * gives files (util/path.h), not as the walk reaches them. */
int kq__update_new(const kq_index *old, const char *const *paths, size_t n_paths, kq_update **out,
                   kq_error *err);
void kq__update_free(kq_update *u);

/* kq__update_known: whether the whole file named `path` of `size` bytes modified at `mtime_ns`
 * (as the walk found it) has a candidate document of that size and time: it is then kept,
 * and the walk need not look at the file any further (1). 0: the filter decides. */
int kq__update_known(kq_update *u, const char *path, uint64_t size, int64_t mtime_ns);

/* kq__update_filter: removes from `in` the inputs whose documents are unchanged (keeping
 * those documents) and gives each changed JSON-lines input a line filter (its `upd`).
 * A file's bytes are read (hashed) only when its size is that of its document but its
 * modification time is not. `*unchanged` receives the documents kept. */
int kq__update_filter(kq_update *u, struct kq_inputs *in, uint64_t *unchanged, kq_error *err);

/* kq__update_keep_line: for a JSON-lines input with filter `upd`, whether the document on
 * `line` whose bytes hash to `hash` is in the previous generation unchanged (it is then
 * kept, and the line need not be indexed again). */
int kq__update_keep_line(kq_update *u, int32_t upd, uint32_t line, uint64_t hash);

/* kq__update_under: the candidate documents whose file is `path` or lies under it as a
 * folder; with `keep`, they are kept too. The walk keeps those of a path it cannot read
 * (permission denied, an I/O error: that is not the file's absence), and counts those of
 * a PATH given that is gone. */
uint64_t kq__update_under(kq_update *u, const char *path, int keep);

/* The live documents of the previous generation under the paths (the candidates). */
uint64_t kq__update_candidates(const kq_update *u);

/* The documents of the previous generation kept by the filter and by keep_line so far. */
uint64_t kq__update_kept(const kq_update *u);
/* The documents the update deletes: candidates that were not kept. */
uint64_t kq__update_deleted(const kq_update *u);

/* kq__update_entries: the previous generation's segments as the new manifest lists them:
 * appends to `man` (segs has room for the old count) each old segment with its deletions
 * (the old ones and the update's), writing a deletion file of generation `gen` into `dir`
 * for each segment that gets new ones; a segment left without live documents is dropped.
 * On failure the deletion files it wrote are removed again. */
int kq__update_entries(kq_update *u, const char *dir, uint64_t gen, struct kq_manifest *man,
                       kq_error *err);

#endif
