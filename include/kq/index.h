/* kq/index.h: building and reading kq indexes.
 *
 * An index is a directory: a MANIFEST naming the live segments, and the segments, each one
 * immutable file opened with mmap (FORMAT.md says every byte). Readers see one generation
 * (the manifest they opened) until they close it; writers never modify a file a reader may
 * have open, they write new files and rename a new manifest into place.
 *
 * Documents get ids 0..doc_id_limit-1 in the order they were indexed, across segments in
 * manifest order. An update writes new and modified documents into a new segment and marks
 * the documents they replace, and those whose files vanished, deleted: a deleted document
 * keeps its id in its generation but is invisible (cursors skip it, kq_index_doc answers
 * KQ_ENOTFOUND) and every statistic counts live documents only. Ids are stable within one
 * open generation, not across generations (merges renumber). Each document has two fields:
 * KQ_FIELD_TEXT (the title, when it stands apart from the body, followed by the body: what
 * bare query terms search) and KQ_FIELD_TITLE.
 *
 * Errors: 0 or a negative KQ_E* code with `err` filled when non-NULL (see kq/error.h).
 * Thread safety: an open kq_index is immutable and may be shared by threads; a kq_cursor
 * belongs to one thread at a time.
 */
#ifndef KQ_INDEX_H
#define KQ_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "kq/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum kq_field {
    KQ_FIELD_TEXT = 0,
    KQ_FIELD_TITLE = 1,
};
#define KQ_N_FIELDS 2

#define KQ_NO_DOC UINT32_MAX /* a cursor past its last document */

/* ---- building ---- */

struct kq_build_opts {
    const char *language;    /* Snowball language or "none"; NULL: "english" */
    size_t memory_bytes;     /* in-memory inversion budget; 0: 256 MiB */
    int n_threads;           /* analysis threads; 0: the number of CPUs */
    double k1, b;            /* BM25 settings stored in the index; 0 and -1: 0.9 and 0.4 */
    int wait_for_lock;       /* 1: wait for another writer; 0: fail with KQ_ELOCKED */
    /* Progress, called from the building thread now and then; may be NULL. */
    void (*progress)(void *ctx, uint64_t docs, uint64_t bytes_done, uint64_t bytes_total);
    /* Warnings (skipped files, bad JSON lines); may be NULL. */
    void (*warn)(void *ctx, const char *path, const char *msg);
    /* Called once when the lock is held by another process and we wait for it. */
    void (*waiting)(void *ctx, long holder_pid);
    void *ctx;
    int full;                /* 1: rebuild from scratch, ignoring what the index holds */
    int no_merge;            /* 1: no merge policy after an update's commit */
    int missing_ok;          /* 1: a path that does not exist is no error (what a watch
                              * wants: a path may go and come back) */
};

struct kq_build_stats {
    uint64_t documents;       /* documents (re)indexed by this run */
    uint64_t tokens;          /* tokens of KQ_FIELD_TEXT */
    uint64_t terms;           /* distinct (field, term) keys */
    uint64_t postings;        /* (key, document) pairs, both fields */
    uint64_t positions;       /* positions, both fields (tokens + title tokens) */
    uint64_t input_bytes;
    uint64_t index_bytes;     /* all files of the new generation */
    uint64_t postings_bytes;  /* POST section */
    uint64_t positions_bytes; /* POSN section */
    uint64_t store_bytes;     /* compressed document store */
    uint64_t flushes;         /* in-memory runs written before the final merge */
    uint64_t skipped;         /* inputs skipped with a warning */
    uint64_t generation;      /* of the index after the run */
    double seconds;
    /* updates (kq_index_build over an existing index) and merges */
    int incremental;          /* 1: the run updated the existing index */
    int committed;            /* 1: a new generation was committed; 0: nothing changed */
    uint64_t unchanged;       /* documents kept from the previous generation as they were */
    uint64_t deleted;         /* documents marked deleted (replaced or vanished) */
    uint64_t live;            /* documents of the committed index */
    uint32_t segments;        /* segments of the committed index */
    uint32_t merges;          /* merges run after the commit */
    uint32_t merged_segments; /* segments those merges replaced */
    double merge_seconds;
};

/* kq_index_build: indexes the files and folders in `paths` (folders recursively, hidden
 * entries and binary files skipped with a warning; *.jsonl as one document per line) into
 * the index directory `dir` (created if missing) and commits a new generation atomically.
 * Takes the index's writer lock. Nothing the index held before is modified or removed
 * until the new manifest is in place.
 *
 * Over an existing index (and unless opts->full, or opts->language names another language
 * than the index's) the run is an update: it re-reads only what changed. A file whose size
 * and modification time equal those of its live document is kept without being read; one
 * whose time changed but whose XXH3 hash did not is kept too (a file modified within 100 ms
 * before a run, 2 s on file systems keeping whole seconds, records no time, so the next run
 * compares its content: an edit in the same tick of the file system's clock is not missed;
 * clocks of network file systems are trusted to agree with ours); other files are
 * (re)indexed
 * into a new segment, and the documents they replace are marked deleted. A JSON-lines file
 * is compared document by document (by line and hash, so the line numbers kept stay true).
 * A live document whose file lies under one of `paths` (the path itself, or below it as a
 * directory) and was not found again is deleted; documents of files outside `paths` stay.
 * Files are named by their path relative to the index's root (kq_index_root) when they
 * lie under it, else by their absolute path, after `.` and `..` are taken out lexically
 * (a symbolic link keeps its name; a path under the root only once links are resolved
 * counts as under it): however a path is spelled, and wherever the run starts, a file
 * keeps its one name. An unchanged corpus
 * commits nothing (stats->committed = 0). After a commit the tiered merge policy runs
 * (unless opts->no_merge). language NULL, k1 0 and b -1 keep the index's settings.
 *
 * Returns 0; KQ_ELOCKED; KQ_EIO/KQ_ENOSPC with `err` naming the file; KQ_EINVAL (no
 * documents in a new index, bad options); KQ_ECORRUPT/KQ_EVERSION (the existing index cannot
 * be read, or names files as an older kq-index did, relative to where it ran; --full
 * rebuilds it); KQ_ENOMEM. `stats` may be NULL. */
int kq_index_build(const char *dir, const char *const *paths, size_t n_paths,
                   const struct kq_build_opts *opts, struct kq_build_stats *stats,
                   kq_error *err);

/* kq_index_merge: runs merges on the index in `dir` and commits the result: with
 * `max_segments` 0, the tiered merge policy's choice (what kq_index_build runs after an
 * update: segments of about equal size merged ten at a time, those with many deletions
 * first, so the segment count stays logarithmic in the index size); with max_segments >= 1,
 * merges until at most that many segments remain and none of them holds deletions. Merging
 * streams postings and drops deleted documents; memory stays within opts->memory_bytes.
 * Only memory_bytes, wait_for_lock, waiting and ctx of `opts` (may be NULL) are used.
 * `stats` (may be NULL) receives committed, generation, live, segments, merges,
 * merged_segments, merge_seconds. Returns 0 (also when there was nothing to merge),
 * KQ_ENOTFOUND (no index), KQ_ELOCKED, KQ_ECORRUPT, KQ_EIO/KQ_ENOSPC, KQ_ENOMEM. */
int kq_index_merge(const char *dir, uint32_t max_segments, const struct kq_build_opts *opts,
                   struct kq_build_stats *stats, kq_error *err);

/* ---- reading ---- */

typedef struct kq_index kq_index;

/* kq_index_open: opens the current generation of the index in `dir`, verifying the
 * manifest and, in every segment, the header, the section table, every section checksum
 * and the structural invariants. Returns 0, KQ_ENOTFOUND (no index there), KQ_ECORRUPT
 * (the message names the file and section), KQ_EVERSION, KQ_EIO, KQ_ENOMEM.
 * The caller owns `*out`: kq_index_close (accepts NULL). */
int kq_index_open(const char *dir, kq_index **out, kq_error *err);

/* Flags of kq_index_open_ex. */
#define KQ_INDEX_VERIFY_ON_USE 1u /* verify at open only the sections the open reads (META,
    * TIDX, DLEN, DOCT, SRCS, DSIX, ZDIC); a segment's term dictionary (TDIC) at its first
    * lookup, its postings (POST) when a cursor opens on a term it holds, its positions
    * (POSN) when a phrase or kq_cursor_positions first reads them; a store block through
    * the zstd checksum of its frame (in a segment written before those, the whole store
    * section at the first block read). A damaged section is then reported, by name, by the
    * call that first reads it. For a process that opens an index to answer one query: a
    * full open reads every byte (310 MB on English Wikipedia). */

/* kq_index_open_ex: kq_index_open with `flags` (0 or KQ_INDEX_VERIFY_ON_USE; any other
 * bit: KQ_EINVAL). */
int kq_index_open_ex(const char *dir, unsigned flags, kq_index **out, kq_error *err);
void kq_index_close(kq_index *ix);

/* kq_index_generation: the generation the index in `dir` holds now (its MANIFEST, read and
 * checked; nothing else is opened), what kq_index_open would open: its number and its
 * manifest checksum (may be NULL), as kq_index_info has them. Returns 0, KQ_ENOTFOUND,
 * KQ_ECORRUPT, KQ_EVERSION, KQ_EIO, KQ_ENOMEM. */
int kq_index_generation(const char *dir, uint64_t *generation, uint64_t *manifest_checksum,
                        kq_error *err);

/* kq_index_root: the folder holding the index directory, as a clean absolute path (without
 * `.` and `..`; symbolic links not resolved). A document's path is relative to it unless it
 * starts with '/'. Valid until kq_index_close. */
const char *kq_index_root(const kq_index *ix);

struct kq_index_info {
    uint64_t generation;
    uint64_t manifest_checksum;      /* tells apart two generations of the same number (a
                                        rebuild from scratch starts again at 1) */
    uint32_t n_segments;
    uint32_t n_docs;                 /* live documents (BM25's N) */
    uint32_t n_deleted;              /* documents marked deleted, not yet merged away */
    uint32_t doc_id_limit;           /* doc ids are < doc_id_limit (n_docs + n_deleted) */
    uint64_t total_len[KQ_N_FIELDS]; /* tokens per field over the live documents */
    double k1, b;
    const char *language; /* valid until kq_index_close */
};
void kq_index_get_info(const kq_index *ix, struct kq_index_info *info);

/* kq_index_verify: re-checks everything kq_index_open checks plus the deep invariants
 * (every postings list decodes, doc ids and positions increase, df and cf agree, every
 * stored document decompresses and hashes to its recorded XXH3). Calls `report` for each
 * problem (which file, which section, what); returns 0 when none, else KQ_ECORRUPT. */
int kq_index_verify(const char *dir, void (*report)(void *ctx, const char *msg), void *ctx,
                    kq_error *err);

/* Term statistics over the live documents of every segment. */
struct kq_term_stats {
    uint32_t df;
    uint64_t cf;
};

/* kq_index_lookup: the statistics of the analysed term `term` (`len` bytes) in `field`,
 * over live documents (exact: in segments with deletions they are counted from the postings
 * once per open index, then cached). Returns 0, KQ_ENOTFOUND (also when only deleted
 * documents hold it), KQ_ECORRUPT, KQ_ENOMEM. */
int kq_index_lookup(const kq_index *ix, int field, const char *term, size_t len,
                    struct kq_term_stats *st, kq_error *err);

/* kq_index_prefix: calls `fn` for each distinct term of `field` starting with `prefix`
 * that a live document holds (ascending byte order; statistics as kq_index_lookup's), at
 * most `max` of them (0: no limit); `fn` returns nonzero to
 * stop. The term bytes are valid during the call only. Returns 0, KQ_ELIMIT when more than
 * `max` terms match (after reporting the first `max`), KQ_ECORRUPT, or fn's value. */
int kq_index_prefix(const kq_index *ix, int field, const char *prefix, size_t len,
                    size_t max,
                    int (*fn)(void *ctx, const char *term, size_t len,
                              const struct kq_term_stats *st),
                    void *ctx, kq_error *err);

/* ---- postings ---- */

typedef struct kq_cursor kq_cursor;

/* kq_cursor_open: a cursor over the postings of `term` in `field` in live documents, in
 * increasing global doc id order (deleted documents are skipped). `*out` is NULL when no
 * segment holds the term (returns 0); a cursor whose postings are all in deleted documents
 * is returned and yields KQ_NO_DOC at once. It looks the term up; the postings themselves
 * are read, and checked, by the moves (see kq_cursor_error). Returns 0, KQ_ECORRUPT,
 * KQ_ENOMEM. Close with kq_cursor_close (accepts NULL). */
int kq_cursor_open(const kq_index *ix, int field, const char *term, size_t len,
                   kq_cursor **out, kq_error *err);
void kq_cursor_close(kq_cursor *c);
/* The next document, or KQ_NO_DOC. */
uint32_t kq_cursor_next(kq_cursor *c);
/* The first document >= target (never moves backwards), or KQ_NO_DOC. */
uint32_t kq_cursor_seek(kq_cursor *c, uint32_t target);
uint32_t kq_cursor_doc(const kq_cursor *c);
uint32_t kq_cursor_tf(const kq_cursor *c);
/* Writes the current document's positions (tf of them) into `out`; returns tf, 0 when
 * the index has no positions, KQ_ECORRUPT. */
int kq_cursor_positions(kq_cursor *c, uint32_t *out, uint32_t cap);
/* KQ_ECORRUPT once a cursor met malformed data, KQ_ENOMEM once it could not allocate what
 * its postings need (it then reports KQ_NO_DOC), else 0. */
int kq_cursor_error(const kq_cursor *c);

/* ---- documents ---- */

struct kq_doc {
    const char *id;    /* JSON-lines "_id", or the file's path as indexed */
    size_t id_len;
    const char *path;  /* the file holding the document, relative to kq_index_root unless
                        * absolute (see kq_index_build) */
    size_t path_len;
    const char *title;
    size_t title_len;
    uint32_t line;     /* 1-based line of the file where the document starts */
    uint32_t len[KQ_N_FIELDS];
    uint64_t size;     /* bytes of the document in its file */
    int64_t mtime_ns;
    uint64_t hash;     /* XXH3-64 of the document's bytes */
    int format;        /* how its stored text is to be read (text.h kq_format) */
};

/* kq_index_doc: the table entry of `doc`. The strings are not NUL-terminated and live in
 * the mapped segment: valid until kq_index_close. Returns 0, KQ_ENOTFOUND (no such id, or
 * the document was deleted: a deleted document is never handed out), KQ_ECORRUPT. */
int kq_index_doc(const kq_index *ix, uint32_t doc, struct kq_doc *out, kq_error *err);

/* kq_index_doc_len: the length of `doc` in `field` in tokens (0 when out of range or
 * deleted). */
uint32_t kq_index_doc_len(const kq_index *ix, int field, uint32_t doc);

/* kq_index_doc_text: the stored text of `doc` (for files, the bytes of the file as it was
 * indexed; for JSON-lines documents, the "text" value). `*text` is allocated and owned by
 * the caller (free with kq_free). Returns 0, KQ_ENOTFOUND, KQ_ECORRUPT, KQ_ENOMEM. */
int kq_index_doc_text(const kq_index *ix, uint32_t doc, char **text, size_t *len,
                      kq_error *err);

/* Frees memory handed out by libkq (NULL accepted). */
void kq_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
