/* index/build.c: kq_index_build, from files to a committed generation.
 *
 * The pipeline: the calling thread walks the inputs in sorted order and reads documents
 * into batches. Worker threads take two kinds of task: analysing a batch (extraction,
 * tokenization, folding, stemming, aggregation by term, compressing the stored text into
 * store blocks), and inverting an analysed batch into one partition of the in-memory run.
 * The partitions own contiguous key ranges (chosen from the first batch so that they get
 * about as many postings each), so they invert in parallel and their sorted terms
 * concatenate in key order; each partition takes the batches strictly in order, so doc ids
 * follow input order. When the run outgrows the memory budget it is flushed as a segment
 * file; at the end the runs are merged into one segment and a new manifest is renamed into
 * place.
 *
 * Invariants: document ids follow input order (deterministic whatever the thread count);
 * nothing the previous generation references is touched before the new manifest is in
 * place; every temporary file is named .tmp-* (or unlinked) and removed on failure or by
 * the next writer.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#define ZDICT_STATIC_LINKING_ONLY /* ZDICT_trainFromBuffer_fastCover: exported, fast */
#include <zdict.h>
#include <zstd.h>

#include "index/build.h"
#include "index/deletes.h"
#include "index/manifest.h"
#include "index/reader.h"
#include "index/segbuild.h"
#include "index/update.h"
#include "text/text.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/path.h"

#define BATCH_DOCS 256
/* The memory budget covers the whole process (see "Memory" in kq_index_build): */
#define KQ_MALLOC_OVERHEAD ((size_t)16) /* glibc: a size word and rounding to 16 bytes, an allocation */
#define MEM_BASE (8u << 20) /* code and libraries mapped, thread stacks, stdio */
#define BATCH_BYTES (256u << 10) /* raw bytes a batch gathers (past it, it closes) */
#define DICT_CAP (64u << 10)
#define DICT_SAMPLE_CAP (4u << 10) /* bytes of each document used to train */
#define DICT_TRAIN_CAP (256u << 10) /* bytes of samples in all */
#define MAX_THREADS 64
#define BINARY_PROBE 8192
#define JSONL_READ (256u << 10) /* stdio buffer of a JSON-lines input (MEM_BASE holds it) */
/* How recent a file's modification time must be for the file to count as racily new: a
 * tick of the kernel's coarse clock, that stamps files, is at most 10 ms; file systems that
 * keep whole seconds (FAT: 2 s) show it as a time without nanoseconds. */
#define RACY_NS 100000000LL
#define RACY_COARSE_NS 2000000000LL


/* ---- inputs ---- */

static int inputs_add(struct kq_inputs *in, const char *path, const char *name,
                      const struct stat *st, int jsonl)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? 2 * in->cap : 64;
        struct kq_input *v = kq__realloc(in->v, cap * sizeof *v);
        if (!v)
            return KQ_ENOMEM;
        in->v = v;
        in->cap = cap;
    }
    struct kq_input *e = &in->v[in->n];
    if (!(e->path = kq__strndup(path, strlen(path))))
        return KQ_ENOMEM;
    if (!(e->name = kq__strndup(name, strlen(name)))) {
        kq__free(e->path);
        return KQ_ENOMEM;
    }
    e->jsonl = jsonl;
    e->upd = -1;
    e->size = (uint64_t)st->st_size;
    e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    in->n++;
    in->bytes += e->size;
    return 0;
}

static void inputs_release(struct kq_inputs *in)
{
    for (size_t i = 0; i < in->n; i++) {
        kq__free(in->v[i].path);
        kq__free(in->v[i].name);
    }
    kq__free(in->v);
    memset(in, 0, sizeof *in);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A folder or file the walk went through, by identity. */
struct devino {
    dev_t dev;
    ino_t ino;
    int used;
};

struct walk {
    struct kq_inputs *in;
    const struct kq_build_opts *opts;
    dev_t index_dev;
    ino_t index_ino;
    uint64_t skipped;
    kq_error *err;
    kq_update *upd;     /* an update: files known unchanged are neither probed nor listed */
    struct devino *seen; /* open addressing, cap_seen (a power of 2) slots at most half full */
    size_t n_seen, cap_seen;
    const char *root;   /* the index's root (util/path.h) */
};

static void warn(const struct kq_build_opts *o, const char *path, const char *msg)
{
    if (o->warn)
        o->warn(o->ctx, path, msg);
}

static size_t devino_slot(dev_t dev, ino_t ino, size_t cap)
{
    uint64_t h = ((uint64_t)ino ^ ((uint64_t)dev << 29)) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (cap - 1);
}

/* Records the folder or file (dev, ino) as walked: 1 the first time, 0 when the walk went
 * through it already (a symlink loop, a path named twice, a hard link), -1 out of memory. */
static int walk_first(struct walk *w, dev_t dev, ino_t ino)
{
    if (2 * (w->n_seen + 1) > w->cap_seen) {
        size_t cap = w->cap_seen ? 2 * w->cap_seen : 256;
        struct devino *v = kq__calloc(cap, sizeof *v);
        if (!v)
            return -1;
        for (size_t i = 0; i < w->cap_seen; i++) {
            if (!w->seen[i].used)
                continue;
            size_t j = devino_slot(w->seen[i].dev, w->seen[i].ino, cap);
            while (v[j].used)
                j = (j + 1) & (cap - 1);
            v[j] = w->seen[i];
        }
        kq__free(w->seen);
        w->seen = v;
        w->cap_seen = cap;
    }
    size_t j = devino_slot(dev, ino, w->cap_seen);
    for (; w->seen[j].used; j = (j + 1) & (w->cap_seen - 1))
        if (w->seen[j].dev == dev && w->seen[j].ino == ino)
            return 0;
    w->seen[j] = (struct devino){dev, ino, 1};
    w->n_seen++;
    return 1;
}

/* Warns that `path` is skipped for `why`; in an update (`upd`), the documents under it
 * (`name`, as the index names it) stay as they are when `keep` (it could not be read, which
 * does not mean it is gone). */
static void warn_skipped(const struct kq_build_opts *o, kq_update *upd, const char *path,
                         const char *name, const char *why, int keep)
{
    char msg[sizeof ((kq_error *)0)->msg + 64];
    keep = keep && upd && kq__update_under(upd, name, 1);
    snprintf(msg, sizeof msg, "%s, skipped%s", why, keep ? " (its documents stay as they were)" : "");
    warn(o, path, msg);
}

/* The name the index gives the entry `entry` of the folder named `parent`: the two
 * joined, made relative when that puts it in the root (a PATH above the root). A link met
 * on the way keeps its name, as a link inside the root does. The caller owns it
 * (kq__free); NULL when out of memory. */
static char *child_name(const struct walk *w, const char *parent, const char *entry)
{
    char *s = kq__path_join(parent, entry);
    const char *in_root = s && s[0] == '/' ? kq__path_under(w->root, s) : NULL;
    if (in_root)
        memmove(s, in_root, strlen(in_root) + 1);
    return s;
}

/* Skips `path` (named `name`) with a warning (see warn_skipped). Returns 0. */
static int skip(struct walk *w, const char *path, const char *name, const char *why, int keep)
{
    warn_skipped(w->opts, w->upd, path, name, why, keep);
    w->skipped++;
    return 0;
}

/* A file whose first bytes hold a NUL is binary (git's and grep's rule). */
static int looks_binary(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[BINARY_PROBE];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n > 0 && memchr(buf, '\0', (size_t)n) != NULL;
}

/* Walks `path`, which the index names `name`. */
static int walk_path(struct walk *w, const char *path, const char *name, int top, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        if (top && e == ENOENT && w->upd && kq__update_under(w->upd, name, 0)) {
            warn(w->opts, path, "not found: its documents are deleted");
            return 0;
        }
        if (top && e == ENOENT && w->opts->missing_ok)
            return 0;
        if (top)
            return kq__error(w->err, KQ_EIO, -1, "cannot read '%s': %s", path, strerror(e));
        return skip(w, path, name, strerror(e), e != ENOENT); /* ENOENT: a dangling link, or gone */
    }
    if (S_ISDIR(st.st_mode)) {
        if (st.st_dev == w->index_dev && st.st_ino == w->index_ino)
            return 0; /* never index the index */
        int first = walk_first(w, st.st_dev, st.st_ino);
        if (first < 0)
            return kq__enomem(w->err);
        if (!first)
            return skip(w, path, name, "a folder walked already (a symlink loop, or named twice)",
                        0);
        if (depth > 64) /* its documents stay: a PATH deeper down may have indexed them */
            return skip(w, path, name, "directory nesting too deep", 1);
        DIR *d = opendir(path);
        if (!d) {
            if (top)
                return kq__error(w->err, KQ_EIO, -1, "cannot read '%s': %s", path,
                                 strerror(errno));
            return skip(w, path, name, strerror(errno), 1);
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        int rc = 0, read_err = 0;
        for (;;) {
            errno = 0;
            struct dirent *de = readdir(d);
            if (!de) {
                read_err = errno; /* an I/O error ends the listing as the end does */
                break;
            }
            if (de->d_name[0] == '.') {
                /* . and .. and the index itself (.kq/) silently; other hidden entries
                 * with a warning, as kq/index.h says */
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                    char hidden[4096];
                    snprintf(hidden, sizeof hidden, "%s%s%s", path,
                             path[0] && path[strlen(path) - 1] == '/' ? "" : "/", de->d_name);
                    struct stat hs;
                    if (stat(hidden, &hs) == 0 && hs.st_dev == w->index_dev &&
                        hs.st_ino == w->index_ino)
                        continue;
                    skip(w, hidden, NULL, "hidden", 0);
                }
                continue;
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 32;
                char **v = kq__realloc(names, cap * sizeof *v);
                if (!v) {
                    rc = kq__enomem(w->err);
                    break;
                }
                names = v;
            }
            if (!(names[n] = kq__strndup(de->d_name, strlen(de->d_name)))) {
                rc = kq__enomem(w->err);
                break;
            }
            n++;
        }
        closedir(d);
        if (!rc && read_err) { /* a part of the folder: it is unreadable as a whole */
            for (size_t i = 0; i < n; i++)
                kq__free(names[i]);
            kq__free(names);
            if (top)
                return kq__error(w->err, KQ_EIO, -1, "cannot read '%s': %s", path,
                                 strerror(read_err));
            return skip(w, path, name, strerror(read_err), 1);
        }
        if (!rc && n)
            qsort(names, n, sizeof *names, cmp_str);
        size_t plen = strlen(path);
        int slash = plen && path[plen - 1] == '/';
        for (size_t i = 0; i < n && !rc; i++) {
            size_t l = plen + strlen(names[i]) + 2;
            char *child = kq__malloc(l);
            if (!child) {
                rc = kq__enomem(w->err);
                break;
            }
            snprintf(child, l, "%s%s%s", path, slash ? "" : "/", names[i]);
            char *cname = child_name(w, name, names[i]);
            rc = cname ? walk_path(w, child, cname, 0, depth + 1) : kq__enomem(w->err);
            kq__free(cname);
            kq__free(child);
        }
        for (size_t i = 0; i < n; i++)
            kq__free(names[i]);
        kq__free(names);
        return rc;
    }
    if (!S_ISREG(st.st_mode))
        return top ? skip(w, path, name, "not a regular file", 0) : 0;
    int first = walk_first(w, st.st_dev, st.st_ino);
    if (first < 0)
        return kq__enomem(w->err);
    if (!first)
        return skip(w, path, name,
                    "the same file as one indexed already (named twice, or a hard link)", 0);
    if (access(path, R_OK) != 0)
        return skip(w, path, name, "permission denied", 1);
    int jsonl = ends_with(path, ".jsonl");
    if (w->upd && !jsonl &&
        kq__update_known(w->upd, name, (uint64_t)st.st_size,
                         (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec))
        return 0; /* its document stays as it is: nothing to read */
    if (!jsonl && looks_binary(path))
        return skip(w, path, name, "binary file", 0);
    if (inputs_add(w->in, path, name, &st, jsonl))
        return kq__enomem(w->err);
    return 0;
}

/* ---- batches ---- */

/* A document read by the main thread. */
struct rawdoc {
    uint32_t input; /* index into inputs */
    uint32_t line;  /* 1-based line (JSON lines) */
    char *bytes;
    size_t len;
};

/* What an analysis thread made of one document. */
struct donedoc {
    int ok;
    char *msg;   /* warning when !ok */
    char *id;    /* owned; NULL: the input's path */
    size_t id_len;
    char *title; /* owned */
    size_t title_len;
    uint64_t hash;
    uint8_t format;
    uint32_t len[KQ_N_FIELDS];
    size_t terms_off, terms_len; /* in batch->terms */
};

struct cblock {
    uint32_t first, n, raw_len; /* first: index among the batch's accepted documents */
    size_t off, len;            /* in batch->store */
};

/* A slot is filled (READY), analysed (BUSY, then DONE), inverted by every partition, freed. */
enum { SLOT_FREE, SLOT_READY, SLOT_BUSY, SLOT_DONE };

struct batch {
    int state;
    uint32_t inverted; /* partitions that inverted it */
    int rc;
    kq_error err;
    struct rawdoc *docs;
    struct donedoc *done;
    uint32_t n;
    size_t bytes;
    kq_buf terms; /* per document: entries [u8 field][u8 len][term][varint n][tf, gaps] */
    kq_buf store; /* compressed blocks */
    struct cblock *blocks;
    uint32_t n_blocks, cap_blocks;
    size_t mem; /* the most memory the slot held when it was freed (see batch_memory) */
};

static void batch_clear(struct batch *b)
{
    for (uint32_t i = 0; i < b->n; i++) {
        kq__free(b->docs[i].bytes);
        if (b->done) {
            kq__free(b->done[i].msg);
            kq__free(b->done[i].id);
            kq__free(b->done[i].title);
        }
    }
    if (b->done)
        memset(b->done, 0, BATCH_DOCS * sizeof *b->done);
    b->n = 0;
    b->bytes = 0;
    b->terms.len = 0;
    b->store.len = 0;
    b->n_blocks = 0;
    b->rc = 0;
    b->inverted = 0;
    b->state = SLOT_FREE;
}

static void batch_release(struct batch *b)
{
    batch_clear(b);
    kq__free(b->docs);
    kq__free(b->done);
    kq__free(b->blocks);
    kq_buf_release(&b->terms);
    kq_buf_release(&b->store);
    memset(b, 0, sizeof *b);
}

/* What an analysed batch holds: its arrays, the documents' bytes and strings, the buffers
 * it keeps when cleared. Each allocation counts KQ_MALLOC_OVERHEAD more. */
static size_t batch_memory(const struct batch *b)
{
    size_t n = BATCH_DOCS * (sizeof *b->docs + sizeof *b->done) + b->terms.cap + b->store.cap +
               (size_t)b->cap_blocks * sizeof *b->blocks + 5 * KQ_MALLOC_OVERHEAD;
    for (uint32_t i = 0; i < b->n; i++) {
        const struct donedoc *d = &b->done[i];
        n += b->docs[i].len + 1 + d->id_len + 1 + d->title_len + 1 + 3 * KQ_MALLOC_OVERHEAD +
             (d->msg ? strlen(d->msg) + 1 + KQ_MALLOC_OVERHEAD : 0);
    }
    return n;
}

/* ---- per-thread analysis ---- */

struct tok {
    uint32_t tid;
    uint32_t pos;
};

struct worker {
    struct builder *bld;
    pthread_t thread;
    kq_analyzer *an;
    ZSTD_CCtx *cctx;
    kq_storeblock sb;
    /* per-document term aggregation */
    uint32_t *slots; /* hash slots: tid + 1, 0 empty */
    uint32_t n_slots;
    kq_buf keys;                /* term bytes */
    struct wterm {
        uint32_t key_off, hash;
        uint16_t key_len;
        uint8_t field;
        uint32_t count, fill;
    } *terms;
    uint32_t n_terms, cap_terms;
    struct tok *toks;
    size_t n_toks, cap_toks;
    uint32_t *order;
    size_t cap_order;
    int field;
    uint32_t n_field_toks;
    int oom;
    size_t mem; /* worker_memory as of its last task, published under the builder's lock */
};

struct builder {
    const char *dir;
    const struct kq_build_opts *opts;
    struct kq_inputs in;
    char language[32];
    /* threads */
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    struct batch *slots;
    uint32_t n_slots;
    uint32_t next_submit, next_free; /* sequence numbers; slot = seq % n_slots */
    int stop;
    struct worker *workers;
    int n_workers;
    /* inversion: partition p owns the keys whose first two bytes map to p (contiguous key
     * ranges, so the partitions' sorted terms concatenate in key order) */
    struct part *parts;
    struct docrun *docs; /* the run's documents, written by partition 0's tasks */
    uint32_t run_docs, run_blocks; /* under mu: docs' counts when its last task ended */
    uint32_t n_parts;
    int split_ready;
    struct batch *split_batch; /* the first batch: the worker that analyses it splits */
    uint8_t part_of[1 << 16];
    /* zstd dictionary */
    void *dict;
    size_t dict_len;
    ZSTD_CDict *cdict;
    int dict_done;
    size_t spill; /* bytes a section of a segment being written keeps in memory */
    kq_update *upd; /* an update: the previous generation's documents (NULL: full build) */
    uint64_t unreadable; /* inputs skipped because reading them failed */
    int64_t start_ns; /* when the run started (racy_mtime) */
};

/* The hash of the in-memory term tables (never stored): 8 bytes a multiply, inline, as
 * terms are short and hashed once a token. Never 0. */
static inline uint32_t hash_bytes(const uint8_t *p, size_t n, uint8_t field)
{
    const uint64_t m = 0x9E3779B97F4A7C15ull;
    uint64_t h = (n * m) ^ ((uint64_t)field << 56) ^ 0x243F6A8885A308D3ull;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        h = (h ^ x) * m;
        h ^= h >> 29;
    }
    uint64_t x = 0; /* the last 0..7 bytes: two overlapping loads, or three bytes */
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + n - 4, 4);
        x = (uint64_t)hi << 32 | lo;
    } else if (n) {
        x = (uint64_t)p[0] << 16 | (uint64_t)p[n >> 1] << 8 | p[n - 1];
    }
    h = (h ^ x) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 32;
    return (uint32_t)h | 1u;
}

static int worker_grow_slots(struct worker *w)
{
    uint32_t n = w->n_slots ? 2 * w->n_slots : 1024;
    uint32_t *s = kq__calloc(n, sizeof *s);
    if (!s)
        return KQ_ENOMEM;
    for (uint32_t t = 0; t < w->n_terms; t++) {
        uint32_t i = w->terms[t].hash & (n - 1);
        while (s[i])
            i = (i + 1) & (n - 1);
        s[i] = t + 1;
    }
    kq__free(w->slots);
    w->slots = s;
    w->n_slots = n;
    return 0;
}

static int on_token(void *ctx, const struct kq_token *t)
{
    struct worker *w = ctx;
    uint32_t h = hash_bytes((const uint8_t *)t->term, t->len, (uint8_t)w->field);
    if (2 * (w->n_terms + 1) > w->n_slots && worker_grow_slots(w))
        return w->oom = KQ_ENOMEM;
    uint32_t i = h & (w->n_slots - 1), tid;
    for (;;) {
        uint32_t s = w->slots[i];
        if (!s) {
            if (w->n_terms == w->cap_terms) {
                uint32_t cap = w->cap_terms ? 2 * w->cap_terms : 256;
                struct wterm *v = kq__realloc(w->terms, cap * sizeof *v);
                if (!v)
                    return w->oom = KQ_ENOMEM;
                w->terms = v;
                w->cap_terms = cap;
            }
            tid = w->n_terms++;
            struct wterm *e = &w->terms[tid];
            e->key_off = (uint32_t)w->keys.len;
            e->key_len = (uint16_t)t->len;
            e->hash = h;
            e->field = (uint8_t)w->field;
            e->count = 0;
            if (kq_buf_append(&w->keys, t->term, t->len))
                return w->oom = KQ_ENOMEM;
            w->slots[i] = tid + 1;
            break;
        }
        struct wterm *e = &w->terms[s - 1];
        if (e->hash == h && e->key_len == t->len && e->field == w->field &&
            !memcmp(w->keys.p + e->key_off, t->term, t->len)) {
            tid = s - 1;
            break;
        }
        i = (i + 1) & (w->n_slots - 1);
    }
    if (w->n_toks == w->cap_toks) {
        size_t cap = w->cap_toks ? 2 * w->cap_toks : 4096;
        struct tok *v = kq__realloc(w->toks, cap * sizeof *v);
        if (!v)
            return w->oom = KQ_ENOMEM;
        w->toks = v;
        w->cap_toks = cap;
    }
    w->toks[w->n_toks++] = (struct tok){tid, t->pos};
    w->terms[tid].count++;
    w->n_field_toks++;
    return 0;
}

/* Analyses `text` into field `field` from position pos0; returns the tokens it produced. */
static int analyze_field(struct worker *w, int field, const char *text, size_t len,
                         uint32_t pos0, uint32_t *next_pos, uint32_t *n_toks)
{
    w->field = field;
    w->n_field_toks = 0;
    int rc = kq_analyze(w->an, text, len, pos0, 0, on_token, w, next_pos);
    *n_toks = w->n_field_toks;
    return rc ? KQ_ENOMEM : 0;
}

/* Writes the aggregated terms of the document into `out` and resets the aggregation. */
static int emit_terms(struct worker *w, kq_buf *out)
{
    int rc = 0;
    if (w->n_toks > w->cap_order) {
        uint32_t *o = kq__realloc(w->order, w->n_toks * sizeof *o);
        if (!o)
            return KQ_ENOMEM;
        w->order = o;
        w->cap_order = w->n_toks;
    }
    /* counting sort of positions by term, stable, so positions stay increasing */
    uint32_t acc = 0;
    for (uint32_t t = 0; t < w->n_terms; t++) {
        w->terms[t].fill = acc;
        acc += w->terms[t].count;
    }
    for (size_t i = 0; i < w->n_toks; i++)
        w->order[w->terms[w->toks[i].tid].fill++] = w->toks[i].pos;
    /* one reservation for every entry: [field][len][key][u32 hash][varint blob_len][blob],
     * the hash hash_bytes(key) (inversion looks the key up by it), the blob a varint count
     * and a varint per position (32-bit values: 5 bytes at most each) */
    size_t need = 0;
    for (uint32_t t = 0; t < w->n_terms; t++)
        need += 2 + w->terms[t].key_len + 4 + 5 + 5 * ((size_t)w->terms[t].count + 1);
    if (kq_buf_reserve(out, need))
        rc = KQ_ENOMEM;
    uint8_t *o = rc ? NULL : out->p + out->len;
    acc = 0;
    for (uint32_t t = 0; t < w->n_terms && !rc; t++) {
        struct wterm *e = &w->terms[t];
        *o++ = e->field;
        *o++ = (uint8_t)e->key_len;
        memcpy(o, w->keys.p + e->key_off, e->key_len);
        o += e->key_len;
        kq_put_le32(o, e->hash);
        o += 4;
        /* the blob goes one byte on, where a blob_len under 128 leaves it */
        uint8_t *b = o + 1, *q = b;
        q += kq_varint_put(q, e->count);
        uint32_t prev = 0;
        for (uint32_t k = 0; k < e->count; k++) {
            uint32_t p = w->order[acc + k];
            q += kq_varint_put(q, k ? p - prev : p);
            prev = p;
        }
        acc += e->count;
        size_t blob_len = (size_t)(q - b), vl = kq_varint_len(blob_len);
        if (vl > 1)
            memmove(b + vl - 1, b, blob_len);
        kq_varint_put(o, blob_len);
        o += vl + blob_len;
    }
    if (!rc)
        out->len = (size_t)(o - out->p);
    /* reset */
    if (w->n_slots) {
        if (w->n_terms * 8 < w->n_slots) {
            for (uint32_t t = 0; t < w->n_terms; t++) {
                uint32_t i = w->terms[t].hash & (w->n_slots - 1);
                while (w->slots[i] != t + 1)
                    i = (i + 1) & (w->n_slots - 1);
                w->slots[i] = 0;
            }
        } else {
            memset(w->slots, 0, w->n_slots * sizeof *w->slots);
        }
    }
    w->n_terms = 0;
    w->n_toks = 0;
    w->keys.len = 0;
    return rc;
}

static int set_msg(char **msg, const char *text)
{
    *msg = kq__strndup(text, strlen(text));
    return *msg ? 0 : KQ_ENOMEM;
}

static int add_block(struct batch *b, struct worker *w, uint32_t first, kq_error *err)
{
    if (!w->sb.n)
        return 0;
    if (b->n_blocks == b->cap_blocks) {
        uint32_t cap = b->cap_blocks ? 2 * b->cap_blocks : 16;
        struct cblock *v = kq__realloc(b->blocks, cap * sizeof *v);
        if (!v)
            return kq__enomem(err);
        b->blocks = v;
        b->cap_blocks = cap;
    }
    struct cblock *c = &b->blocks[b->n_blocks];
    c->first = first;
    c->n = w->sb.n;
    c->off = b->store.len;
    int rc = kq__storeblock_compress(&w->sb, w->cctx, w->bld->cdict, &b->store, &c->raw_len,
                                     err);
    if (rc)
        return rc;
    c->len = b->store.len - c->off;
    b->n_blocks++;
    return 0;
}

static int analyze_batch(struct worker *w, struct batch *b)
{
    struct builder *bld = w->bld;
    kq_error *err = &b->err;
    uint32_t accepted = 0, block_first = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        struct rawdoc *rd = &b->docs[i];
        struct donedoc *dd = &b->done[i];
        const struct kq_input *in = &bld->in.v[rd->input];
        const char *body, *title;
        size_t body_len, title_len;
        int title_in_body, rc = 0;
        struct kq_json_doc jd = {0};
        struct kq_extracted ex = {0};
        dd->hash = XXH3_64bits(rd->bytes, rd->len);
        if (in->jsonl) {
            kq_error je;
            rc = kq_jsonl_parse(rd->bytes, rd->len, &jd, &je);
            if (rc == KQ_ENOMEM)
                return kq__enomem(err);
            if (rc) {
                char m[300];
                snprintf(m, sizeof m, "line %u: %s, skipped", rd->line, je.msg);
                if (set_msg(&dd->msg, m))
                    return kq__enomem(err);
                continue;
            }
            dd->id = jd.id;
            dd->id_len = jd.id_len;
            jd.id = NULL;
            body = jd.text, body_len = jd.text_len;
            title = jd.title, title_len = jd.title_len;
            title_in_body = 0;
            dd->format = KQ_FORMAT_PLAIN;
        } else {
            enum kq_format fmt = kq_format_for_path(in->path);
            if (kq_extract(fmt, rd->bytes, rd->len, &ex, NULL))
                return kq__enomem(err);
            body = ex.body, body_len = ex.body_len;
            title = ex.title, title_len = ex.title_len;
            title_in_body = ex.title_in_body;
            dd->format = (uint8_t)fmt;
        }
        dd->title = kq__strndup(title, title_len);
        dd->title_len = title_len;
        uint32_t pos = 0, n = 0;
        dd->terms_off = b->terms.len;
        if (!dd->title)
            rc = KQ_ENOMEM;
        if (!rc && !title_in_body) {
            rc = analyze_field(w, KQ_FIELD_TEXT, title, title_len, 0, &pos, &n);
            dd->len[KQ_FIELD_TEXT] += n;
            /* a gap after a title with tokens: phrases do not run into the body */
            pos = n ? pos + 1 : 0;
        }
        if (!rc) {
            rc = analyze_field(w, KQ_FIELD_TEXT, body, body_len, pos, &pos, &n);
            dd->len[KQ_FIELD_TEXT] += n;
        }
        if (!rc) {
            rc = analyze_field(w, KQ_FIELD_TITLE, title, title_len, 0, &pos, &n);
            dd->len[KQ_FIELD_TITLE] = n;
        }
        if (!rc)
            rc = emit_terms(w, &b->terms);
        dd->terms_len = b->terms.len - dd->terms_off;
        /* stored text: the file's bytes, or the JSON document's text */
        if (!rc) {
            if (!w->sb.n)
                block_first = accepted;
            rc = in->jsonl ? kq__storeblock_add(&w->sb, jd.text, jd.text_len)
                           : kq__storeblock_add(&w->sb, rd->bytes, rd->len);
        }
        kq_json_doc_release(&jd);
        kq_extracted_release(&ex);
        if (rc == KQ_ELIMIT) {
            if (set_msg(&dd->msg, "document larger than 4 GiB, skipped"))
                return kq__enomem(err);
            continue;
        }
        if (rc)
            return kq__enomem(err);
        dd->ok = 1;
        accepted++;
        if (w->sb.raw.len >= KQ_STORE_BLOCK && (rc = add_block(b, w, block_first, err)))
            return rc;
    }
    return add_block(b, w, block_first, err);
}

/* ---- the in-memory run ---- */

/* A term's postings in a run: in the term entry while they fit in POST_INLINE bytes (most
 * terms of a run occur in a document or two), then in a buffer of their own, grown by half. */
#define POST_INLINE 16
struct tpost {
    union {
        uint8_t *p;              /* cap > 0 */
        uint8_t in[POST_INLINE]; /* cap 0 */
    } u;
    uint32_t len, cap;
};

static inline uint8_t *tpost_bytes(struct tpost *b)
{
    return b->cap ? b->u.p : b->u.in;
}

struct mterm {
    uint32_t key_off; /* in run->keys: [field][term] */
    uint16_t key_len;
    uint32_t last_doc;
    uint32_t df;
    struct tpost post; /* per posting: varint doc gap, then [varint tf][position gaps] */
};

/* The terms of one partition of a run. */
struct termrun {
    struct mterm *terms;
    uint32_t n_terms, cap_terms;
    uint64_t *slots; /* hash << 32 | (term index + 1); 0: empty */
    uint32_t n_slots;
    kq_buf keys;
    size_t post_bytes; /* capacity held by term buffers */
    uint32_t n_heap;   /* terms whose postings have a buffer */
};

struct mdoc {
    uint32_t input;
    uint32_t line;
    uint64_t size;
    uint64_t hash;
    uint8_t format;
    uint32_t len[KQ_N_FIELDS];
    size_t id_off, id_len; /* in run->strs; id_off SIZE_MAX: the input's path */
    size_t title_off, title_len;
};

/* The documents of a run: table entries and compressed store blocks. The blocks go to a
 * sink as they come, one after another (a temporary file past KQ_SPILL_BYTES): nothing reads
 * them before the run is written, when they become the segment's DSTO as they are. */
struct docrun {
    struct mdoc *docs;
    uint32_t n_docs, cap_docs;
    kq_buf strs;
    kq_sink store;
    int store_ready;
    const char *dir; /* where the store spills */
    struct cblock *blocks; /* off: in `store` */
    uint32_t n_blocks, cap_blocks;
};

struct part {
    struct termrun run;
    uint32_t next;   /* sequence number of the next batch this partition inverts */
    int busy;
    uint32_t n_docs; /* documents of the run so far (every partition counts the same) */
    size_t mem;      /* memory held, published under the builder's lock */
    int rc;
    kq_error err;
};

/* The memory of a partition: its arrays and every term's postings buffer, with the
 * allocator's overhead for each (most postings buffers are a few bytes: the overhead is
 * a good part of them). */
static size_t termrun_memory(const struct termrun *r)
{
    return r->post_bytes + (size_t)r->n_heap * KQ_MALLOC_OVERHEAD +
           (size_t)r->cap_terms * sizeof *r->terms + (size_t)r->n_slots * 8 + r->keys.cap;
}

static size_t docrun_memory(const struct docrun *r)
{
    return (size_t)r->cap_docs * sizeof *r->docs + r->strs.cap + r->store.mem.cap +
           (size_t)r->cap_blocks * sizeof *r->blocks;
}

static void termrun_reset(struct termrun *r)
{
    for (uint32_t t = 0; t < r->n_terms; t++)
        if (r->terms[t].post.cap)
            kq__free(r->terms[t].post.u.p);
    kq__free(r->terms);
    kq__free(r->slots);
    kq_buf_release(&r->keys);
    memset(r, 0, sizeof *r);
}

static void docrun_reset(struct docrun *r)
{
    kq__free(r->docs);
    kq_buf_release(&r->strs);
    if (r->store_ready)
        kq__sink_release(&r->store);
    kq__free(r->blocks);
    *r = (struct docrun){.dir = r->dir};
}

/* Doubles the hash slots; a slot holds its term's hash, that places it anew. */
static int termrun_grow_slots(struct termrun *r)
{
    uint32_t n = r->n_slots ? 2 * r->n_slots : 1u << 14;
    uint64_t *s = kq__calloc(n, sizeof *s);
    if (!s)
        return KQ_ENOMEM;
    for (uint32_t k = 0; k < r->n_slots; k++) {
        uint64_t v = r->slots[k];
        if (!v)
            continue;
        uint32_t i = (uint32_t)(v >> 32) & (n - 1);
        while (s[i])
            i = (i + 1) & (n - 1);
        s[i] = v;
    }
    kq__free(r->slots);
    r->slots = s;
    r->n_slots = n;
    return 0;
}

/* The term of key [field][term] (`len` term bytes, hash `h` = hash_bytes(term, len, field)),
 * added when new. NULL: out of memory. */
static struct mterm *termrun_get(struct termrun *r, uint8_t field, const uint8_t *term,
                                 size_t len, uint32_t h)
{
    if (2 * (r->n_terms + 1) > r->n_slots && termrun_grow_slots(r))
        return NULL;
    uint32_t i = h & (r->n_slots - 1);
    for (;;) {
        uint64_t s = r->slots[i];
        if (!s)
            break;
        /* the slot holds the hash: most mismatches never touch the term */
        if ((uint32_t)(s >> 32) == h) {
            struct mterm *e = &r->terms[(uint32_t)s - 1];
            const uint8_t *k = r->keys.p + e->key_off;
            if (e->key_len == len + 1 && k[0] == field && !memcmp(k + 1, term, len))
                return e;
        }
        i = (i + 1) & (r->n_slots - 1);
    }
    if (r->n_terms == r->cap_terms) {
        /* by half: the terms of a run are most of its memory in a language of many words */
        uint32_t cap = r->cap_terms ? r->cap_terms + r->cap_terms / 2 : 4096;
        if (cap < r->cap_terms)
            return NULL;
        struct mterm *v = kq__realloc(r->terms, cap * sizeof *v);
        if (!v)
            return NULL;
        r->terms = v;
        r->cap_terms = cap;
    }
    if (r->keys.len > UINT32_MAX - len - 1 || kq_buf_reserve(&r->keys, len + 1))
        return NULL;
    struct mterm *e = &r->terms[r->n_terms];
    memset(e, 0, sizeof *e);
    e->key_off = (uint32_t)r->keys.len;
    e->key_len = (uint16_t)(len + 1);
    r->keys.p[r->keys.len] = field;
    memcpy(r->keys.p + r->keys.len + 1, term, len);
    r->keys.len += len + 1;
    r->slots[i] = (uint64_t)h << 32 | ++r->n_terms;
    return e;
}

/* A key's place in the split table: its field, its first term byte and the top seven bits
 * of its second (0 for a one-byte term), so that scripts whose words share a first byte
 * (Hangul's four lead bytes hold every syllable) still split finely. The order of routes
 * follows the order of keys, so partitions stay contiguous key ranges. */
_Static_assert(KQ_N_FIELDS <= 2, "a field is one bit of a route");
static inline uint32_t route(const uint8_t *entry)
{
    uint32_t second = entry[1] > 1 ? entry[3] >> 1 : 0;
    return (uint32_t)entry[0] << 15 | (uint32_t)entry[2] << 7 | second;
}

/* A batch entry on its way into the run (see invert_terms). */
struct pending {
    const uint8_t *entry; /* [field][len][term] */
    const uint8_t *blob;
    size_t blob_len;
    uint32_t doc, hash;
};

#define PENDING 16 /* entries in flight: a power of two */

/* Appends the `n` bytes at `src` to a term's postings, moving them to a buffer of their own
 * when they outgrow the entry; the buffer grows by half, not double, which would leave
 * about a third of the run's postings memory unused. Returns 0, KQ_ENOMEM or KQ_ELIMIT (a
 * term's postings in one run reach 4 GiB). */
static int tpost_append(struct termrun *r, struct tpost *b, const uint8_t *src, size_t n)
{
    if (n > UINT32_MAX - (size_t)b->len)
        return KQ_ELIMIT;
    size_t need = (size_t)b->len + n;
    if (need > (b->cap ? b->cap : POST_INLINE)) {
        size_t cap = b->cap ? b->cap : 2 * POST_INLINE;
        while (cap < need)
            cap += cap / 2;
        if (cap > UINT32_MAX)
            cap = UINT32_MAX;
        uint8_t *p = kq__realloc(b->cap ? b->u.p : NULL, cap);
        if (!p)
            return KQ_ENOMEM;
        if (!b->cap) {
            memcpy(p, b->u.in, b->len);
            r->n_heap++;
        }
        r->post_bytes += cap - b->cap;
        b->u.p = p;
        b->cap = (uint32_t)cap;
    }
    memcpy(tpost_bytes(b) + b->len, src, n);
    b->len += (uint32_t)n;
    return 0;
}

static int invert_one(struct termrun *r, const struct pending *pe, kq_error *err)
{
    struct mterm *t = termrun_get(r, pe->entry[0], pe->entry + 2, pe->entry[1], pe->hash);
    if (!t)
        return kq__enomem(err);
    uint8_t gap[KQ_VARINT_MAX];
    size_t k = kq_varint_put(gap, t->df ? pe->doc - t->last_doc : pe->doc);
    int rc = tpost_append(r, &t->post, gap, k);
    if (!rc)
        rc = tpost_append(r, &t->post, pe->blob, pe->blob_len);
    if (rc == KQ_ELIMIT)
        return kq__error(err, KQ_ELIMIT, -1, "a word's postings in one run pass 4 GiB "
                                             "(index with a smaller --memory)");
    if (rc)
        return kq__enomem(err);
    t->last_doc = pe->doc;
    t->df++;
    return 0;
}

/* Inverts the keys of partition `p` from batch `b`; `doc0` is the run's id of the batch's
 * first accepted document. The run's tables are far larger than the caches and every
 * entry touches a random slot, term, key and postings buffer in turn: the entries go
 * through a queue of PENDING, and as one moves along the queue the next of those is
 * prefetched, so that the misses of several entries overlap. */
static int invert_terms(struct builder *bld, struct termrun *r, uint32_t p, struct batch *b,
                        uint32_t doc0, kq_error *err)
{
    struct pending q[PENDING];
    uint32_t head = 0, n = 0; /* q[head] is the oldest */
    uint32_t doc = doc0;
    for (uint32_t i = 0; i <= b->n; i++) {
        const uint8_t *e = NULL, *end = NULL;
        if (i < b->n) {
            struct donedoc *dd = &b->done[i];
            if (!dd->ok)
                continue;
            e = b->terms.p + dd->terms_off;
            end = e + dd->terms_len;
        }
        for (;;) {
            if (e && e < end) {
                uint8_t len = e[1];
                const uint8_t *x = e + 2 + len + 4;
                uint64_t blob_len = 0;
                x += kq_varint_get(x, end, &blob_len);
                if (bld->part_of[route(e)] != p) {
                    e = x + blob_len;
                    continue;
                }
                struct pending *pe = &q[(head + n) & (PENDING - 1)];
                pe->entry = e;
                pe->blob = x;
                pe->blob_len = (size_t)blob_len;
                pe->doc = doc;
                pe->hash = kq_get_le32(e + 2 + len); /* on_token's hash_bytes */
                e = x + blob_len;
                n++;
                if (r->n_slots)
                    __builtin_prefetch(&r->slots[pe->hash & (r->n_slots - 1)]);
                if (n < PENDING)
                    continue;
            } else if (i < b->n || !n) {
                break; /* the next document; or the end, with nothing left in flight */
            }
            /* halfway: the slot is in cache, the term it points at comes next */
            if (n > PENDING / 2 && r->n_slots) {
                const struct pending *m = &q[(head + PENDING / 2) & (PENDING - 1)];
                uint64_t sl = r->slots[m->hash & (r->n_slots - 1)];
                if (sl && (uint32_t)(sl >> 32) == m->hash)
                    __builtin_prefetch(&r->terms[(uint32_t)sl - 1]);
            }
            /* a quarter: the term is in cache, its key and postings tail come next */
            if (n > PENDING / 4 && r->n_slots) {
                const struct pending *m = &q[(head + PENDING / 4) & (PENDING - 1)];
                uint64_t sl = r->slots[m->hash & (r->n_slots - 1)];
                if (sl && (uint32_t)(sl >> 32) == m->hash) {
                    const struct mterm *t = &r->terms[(uint32_t)sl - 1];
                    __builtin_prefetch(r->keys.p + t->key_off);
                    if (t->post.cap)
                        __builtin_prefetch(t->post.u.p + t->post.len);
                }
            }
            int rc = invert_one(r, &q[head], err);
            if (rc)
                return rc;
            head = (head + 1) & (PENDING - 1);
            n--;
        }
        doc++;
    }
    return 0;
}

/* Adds the batch's document entries and store blocks to the run. */
static int invert_docs(struct docrun *r, struct batch *b, kq_error *err)
{
    uint32_t first_doc = r->n_docs;
    for (uint32_t i = 0; i < b->n; i++) {
        struct donedoc *dd = &b->done[i];
        if (!dd->ok)
            continue;
        if (r->n_docs == r->cap_docs) {
            uint32_t cap = r->cap_docs ? 2 * r->cap_docs : 1024;
            struct mdoc *v = kq__realloc(r->docs, cap * sizeof *v);
            if (!v)
                return kq__enomem(err);
            r->docs = v;
            r->cap_docs = cap;
        }
        struct mdoc *md = &r->docs[r->n_docs];
        md->input = b->docs[i].input;
        md->line = b->docs[i].line;
        md->size = b->docs[i].len;
        md->hash = dd->hash;
        md->format = dd->format;
        memcpy(md->len, dd->len, sizeof md->len);
        md->id_off = dd->id ? r->strs.len : SIZE_MAX;
        md->id_len = dd->id ? dd->id_len : 0;
        if (dd->id && kq_buf_append(&r->strs, dd->id, dd->id_len))
            return kq__enomem(err);
        md->title_off = r->strs.len;
        md->title_len = dd->title_len;
        if (kq_buf_append(&r->strs, dd->title, dd->title_len))
            return kq__enomem(err);
        r->n_docs++;
    }
    /* store blocks: batch-relative first doc -> run doc id */
    for (uint32_t k = 0; k < b->n_blocks; k++) {
        if (r->n_blocks == r->cap_blocks) {
            uint32_t cap = r->cap_blocks ? 2 * r->cap_blocks : 64;
            struct cblock *v = kq__realloc(r->blocks, cap * sizeof *v);
            if (!v)
                return kq__enomem(err);
            r->blocks = v;
            r->cap_blocks = cap;
        }
        if (!r->store_ready) {
            if (kq__sink_init(&r->store, r->dir, KQ_SPILL_BYTES))
                return kq__enomem(err);
            r->store_ready = 1;
        }
        struct cblock c = b->blocks[k];
        c.first += first_doc;
        size_t off = (size_t)r->store.size;
        int rc = kq__sink_append(&r->store, b->store.p + c.off, c.len, err);
        if (rc)
            return rc;
        c.off = off;
        r->blocks[r->n_blocks++] = c;
    }
    return 0;
}

/* Splits the key space into n_parts contiguous ranges of about equal postings, by route,
 * from what the first batch holds. */
static void compute_split(struct builder *bld, const struct batch *b)
{
    uint32_t *w = kq__calloc(1 << 16, sizeof *w);
    uint64_t total = 0;
    if (w) {
        for (uint32_t i = 0; i < b->n; i++) {
            const struct donedoc *dd = &b->done[i];
            if (!dd->ok)
                continue;
            const uint8_t *q = b->terms.p + dd->terms_off, *end = q + dd->terms_len;
            while (q < end) {
                const uint8_t *e = q;
                q += 2 + q[1] + 4;
                uint64_t blob_len = 0;
                q += kq_varint_get(q, end, &blob_len);
                q += blob_len;
                w[route(e)]++;
                total++;
            }
        }
    }
    uint64_t cum = 0;
    for (uint32_t k = 0; k < (1u << 16); k++) {
        uint64_t part = total ? cum * bld->n_parts / total : 0;
        bld->part_of[k] = (uint8_t)(part < bld->n_parts ? part : bld->n_parts - 1);
        cum += w ? w[k] : 0;
    }
    if (!total) /* nothing to learn from: split by the first term byte */
        for (uint32_t k = 0; k < (1u << 16); k++)
            bld->part_of[k] = (uint8_t)((k >> 7 & 0xff) * bld->n_parts / 256);
    kq__free(w);
}

/* What a worker's buffers and compression context hold (they keep their size between
 * tasks). */
static size_t worker_memory(const struct worker *w)
{
    return (size_t)w->n_slots * sizeof *w->slots + (size_t)w->cap_terms * sizeof *w->terms +
           w->keys.cap + w->cap_toks * sizeof *w->toks + w->cap_order * sizeof *w->order +
           w->sb.raw.cap + w->sb.lens.cap + ZSTD_sizeof_CCtx(w->cctx) +
           kq_analyzer_memory(w->an) + 7 * KQ_MALLOC_OVERHEAD;
}

/* Analysis and inversion tasks. Partition p inverts batches strictly in order; any thread
 * takes whatever task is ready, inversion first so that slots are freed. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct builder *bld = w->bld;
    kq_analyzer_prefault(w->an); /* its pages now, while no other thread maps them too */
    pthread_mutex_lock(&bld->mu);
    for (;;) {
        struct part *pt = NULL;
        uint32_t p = 0;
        for (; bld->split_ready && p < bld->n_parts; p++) {
            struct part *c = &bld->parts[p];
            if (c->busy || c->rc || c->next == bld->next_submit)
                continue;
            struct batch *b = &bld->slots[c->next % bld->n_slots];
            if (b->state == SLOT_DONE && !b->rc) {
                pt = c;
                break;
            }
        }
        if (pt) {
            struct batch *b = &bld->slots[pt->next % bld->n_slots];
            pt->busy = 1;
            pthread_mutex_unlock(&bld->mu);
            uint32_t doc0 = pt->n_docs;
            int rc = invert_terms(bld, &pt->run, p, b, doc0, &pt->err);
            if (!rc && p == 0)
                rc = invert_docs(bld->docs, b, &pt->err);
            uint32_t n = 0;
            for (uint32_t i = 0; i < b->n; i++)
                n += b->done[i].ok;
            size_t mem = termrun_memory(&pt->run) + (p == 0 ? docrun_memory(bld->docs) : 0);
            pthread_mutex_lock(&bld->mu);
            if (p == 0) {
                bld->run_docs = bld->docs->n_docs;
                bld->run_blocks = bld->docs->n_blocks;
            }
            pt->rc = rc;
            pt->n_docs = doc0 + n;
            pt->mem = mem;
            pt->busy = 0;
            pt->next++;
            b->inverted++;
            pthread_cond_broadcast(&bld->done_cv);
            pthread_cond_broadcast(&bld->work_cv);
            continue;
        }
        struct batch *b = NULL;
        for (uint32_t s = bld->next_free; s != bld->next_submit; s++) {
            struct batch *c = &bld->slots[s % bld->n_slots];
            if (c->state == SLOT_READY) {
                b = c;
                break;
            }
        }
        if (!b) {
            if (bld->stop)
                break;
            pthread_cond_wait(&bld->work_cv, &bld->mu);
            continue;
        }
        b->state = SLOT_BUSY;
        int split = b == bld->split_batch;
        pthread_mutex_unlock(&bld->mu);
        kq_error_clear(&b->err);
        int rc = analyze_batch(w, b);
        size_t wmem = worker_memory(w);
        if (split)
            compute_split(bld, b); /* nothing reads part_of before split_ready */
        pthread_mutex_lock(&bld->mu);
        if (split) {
            bld->split_ready = 1;
            bld->split_batch = NULL; /* its slot will hold other batches */
        }
        w->mem = wmem;
        b->rc = rc;
        b->state = SLOT_DONE;
        pthread_cond_broadcast(&bld->done_cv);
        pthread_cond_broadcast(&bld->work_cv);
    }
    pthread_mutex_unlock(&bld->mu);
    return NULL;
}

/* Sorting keys: the first 8 bytes, big endian, decide most comparisons without touching
 * the key bytes. */
struct sortkey {
    uint64_t prefix;
    uint32_t term;
};

static uint64_t key_prefix(const uint8_t *k, size_t len)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (i < len ? k[i] : 0);
    return v;
}

static int cmp_terms(const void *a, const void *b, void *ctx)
{
    const struct sortkey *sa = a, *sb = b;
    if (sa->prefix != sb->prefix)
        return sa->prefix < sb->prefix ? -1 : 1;
    const struct termrun *r = ctx;
    const struct mterm *x = &r->terms[sa->term];
    const struct mterm *y = &r->terms[sb->term];
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(r->keys.p + x->key_off, r->keys.p + y->key_off, n);
    return c ? c : (int)x->key_len - (int)y->key_len;
}

#define SORT_SMALL 24 /* groups this small are insertion sorted */

static void insertion_sort(struct sortkey *v, size_t n, struct termrun *r)
{
    for (size_t i = 1; i < n; i++) {
        struct sortkey x = v[i];
        size_t j = i;
        for (; j > 0 && cmp_terms(&x, &v[j - 1], r) < 0; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

/* Sorts the keys of a partition in key order: an in-place most-significant-digit radix sort
 * (American flag sort) on the prefix bytes from `byte` on, the full comparison for small
 * groups and for prefixes that tie. Recursion is at most 8 deep. */
static void sort_keys(struct sortkey *v, size_t n, int byte, struct termrun *r)
{
    size_t count[256], next[256];
    while (n > SORT_SMALL && byte < 8) {
        int shift = 56 - 8 * byte;
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(v[i].prefix >> shift) & 0xff]++;
        if (count[(v[0].prefix >> shift) & 0xff] == n) {
            byte++; /* one bucket holds all: the next byte decides */
            continue;
        }
        size_t acc = 0;
        for (int b = 0; b < 256; b++) {
            next[b] = acc;
            acc += count[b];
        }
        /* cycle each element into its bucket; next[b] is bucket b's first unsorted slot */
        size_t bucket_end = 0;
        for (int b = 0; b < 256; b++) {
            bucket_end += count[b];
            while (next[b] < bucket_end) {
                struct sortkey x = v[next[b]];
                int xb = (int)((x.prefix >> shift) & 0xff);
                while (xb != b) {
                    struct sortkey y = v[next[xb]];
                    v[next[xb]++] = x;
                    x = y;
                    xb = (int)((x.prefix >> shift) & 0xff);
                }
                v[next[b]++] = x;
            }
        }
        size_t off = 0;
        for (int b = 0; b < 256; b++) {
            if (count[b] > 1)
                sort_keys(v + off, count[b], byte + 1, r);
            off += count[b];
        }
        return;
    }
    if (n <= SORT_SMALL)
        insertion_sort(v, n, r);
    else
        qsort_r(v, n, sizeof *v, cmp_terms, r); /* eight bytes tie: the rest decides */
}

/* The modification time a document records: 0 ("unknown") for a file modified shortly
 * before this run started (or while it ran), as git does with racily clean entries: a change
 * made in the same tick of the file system's clock after we read the file would leave size
 * and time as recorded, so the next update must compare its content instead. */
static int64_t racy_mtime(const struct builder *bld, int64_t mtime_ns)
{
    int64_t window = mtime_ns % 1000000000 ? RACY_NS : RACY_COARSE_NS;
    return mtime_ns >= bld->start_ns - window ? 0 : mtime_ns;
}

static int flush_docs(struct builder *bld, struct docrun *r, kq_segbuild *sb, kq_error *err)
{
    int rc = 0;
    /* sources: each JSON-lines input met in this run, in order */
    uint32_t last_input = UINT32_MAX, last_src = 0;
    for (uint32_t d = 0; d < r->n_docs && !rc; d++) {
        const struct mdoc *md = &r->docs[d];
        const struct kq_input *in = &bld->in.v[md->input];
        struct kq_docrec rec = {0};
        if (in->jsonl) {
            if (md->input != last_input) {
                struct kq_srcrec src = {in->name, strlen(in->name), in->size,
                                        racy_mtime(bld, in->mtime_ns), 0};
                uint32_t s;
                if ((rc = kq__segbuild_source(sb, &src, &s, err)))
                    break;
                last_input = md->input;
                last_src = s + 1;
            }
            rec.src = last_src;
            rec.id = r->strs.p ? (const char *)r->strs.p + md->id_off : "";
            rec.id_len = md->id_len;
        } else {
            rec.id = in->name;
            rec.id_len = strlen(in->name);
        }
        /* strs.p is NULL while every id and title of the run is empty */
        rec.title = r->strs.p ? (const char *)r->strs.p + md->title_off : "";
        rec.title_len = md->title_len;
        rec.line = md->line;
        rec.size = md->size;
        rec.mtime_ns = racy_mtime(bld, in->mtime_ns);
        rec.hash = md->hash;
        rec.format = md->format;
        memcpy(rec.len, md->len, sizeof rec.len);
        rc = kq__segbuild_doc_meta(sb, &rec, err);
    }
    if (!rc && r->n_blocks)
        rc = kq__segbuild_take_store(sb, &r->store, err);
    for (uint32_t k = 0; k < r->n_blocks && !rc; k++) {
        const struct cblock *c = &r->blocks[k];
        rc = kq__segbuild_block(sb, c->first, c->n, c->raw_len, NULL, c->len, err);
    }
    return rc;
}

/* Encoding one partition's terms, in a thread of its own at flush time: the partitions
 * cover contiguous key ranges, so their encoded postings concatenate in key order.
 * Partition 0 adds its terms to the segment builder itself; the others encode into term
 * spills appended after it. Either way the output streams to the builder's or the spill's
 * sinks as it is made: the memory a flush adds to the run's is a few buffers per
 * partition, whatever the run holds. */
struct encjob {
    struct termrun *r;
    kq_segbuild *sb;  /* partition 0: the builder */
    kq_termspill ts;  /* the others (sb NULL) */
    int ts_init;
    pthread_t thread;
    int started;
    int rc;
    kq_error err;
};

/* The sorted keys of a partition live where its hash slots were: a run is not looked up
 * once it is being flushed, and the slots (at least two a term) hold a sort key a term. */
_Static_assert(sizeof(struct sortkey) <= 2 * sizeof(uint64_t), "a sort key fits two slots");

static void *encode_part(void *arg)
{
    struct encjob *j = arg;
    struct termrun *r = j->r;
    if (!r->n_terms)
        return NULL;
    struct sortkey *order = (struct sortkey *)(void *)r->slots;
    for (uint32_t t = 0; t < r->n_terms; t++)
        order[t] = (struct sortkey){key_prefix(r->keys.p + r->terms[t].key_off,
                                               r->terms[t].key_len), t};
    sort_keys(order, r->n_terms, 0, r);
    for (uint32_t k = 0; k < r->n_terms && !j->rc; k++) {
        /* the terms come in key order, scattered in memory: each is prefetched eight terms
         * ahead, and its key and postings four ahead */
        if (k + 8 < r->n_terms)
            __builtin_prefetch(&r->terms[order[k + 8].term]);
        if (k + 4 < r->n_terms) {
            const struct mterm *u = &r->terms[order[k + 4].term];
            __builtin_prefetch(r->keys.p + u->key_off);
            if (u->post.cap)
                __builtin_prefetch(u->post.u.p);
        }
        struct mterm *t = &r->terms[order[k].term];
        int field = r->keys.p[t->key_off];
        if (j->sb)
            kq__segbuild_term_begin(j->sb, field);
        else
            kq__termspill_begin(&j->ts, field);
        /* a posting: doc gap, tf, then the positions encoded as a segment stores them */
        const uint8_t *p = tpost_bytes(&t->post), *end = p + t->post.len, *q;
        uint32_t doc = 0;
        for (uint32_t i = 0; i < t->df; i++) {
            uint64_t gap = 0, tf = 0;
            p += kq_varint_get(p, end, &gap);
            p += kq_varint_get(p, end, &tf);
            doc = i ? doc + (uint32_t)gap : (uint32_t)gap;
            if (!tf || tf > UINT32_MAX || !(q = kq__skip_varints(p, end, tf))) {
                j->rc = kq__error(&j->err, KQ_EINTERNAL, -1, "a run's postings are malformed");
                return NULL;
            }
            int rc = j->sb ? kq__segbuild_term_add(j->sb, doc, (uint32_t)tf, NULL, p,
                                                   (size_t)(q - p), &j->err)
                           : kq__termspill_add(&j->ts, doc, (uint32_t)tf, NULL, p,
                                               (size_t)(q - p), &j->err);
            if (rc) {
                j->rc = rc;
                return NULL;
            }
            p = q;
        }
        const uint8_t *key = r->keys.p + t->key_off;
        j->rc = j->sb ? kq__segbuild_term_end(j->sb, key, t->key_len, &j->err)
                      : kq__termspill_end(&j->ts, key, t->key_len, &j->err);
        if (t->post.cap) { /* what is encoded need not stay: memory stays flat */
            r->post_bytes -= t->post.cap;
            r->n_heap--;
            kq__free(t->post.u.p);
        }
        t->post = (struct tpost){.len = 0};
    }
    return NULL;
}

/* Writes the run (documents, and every partition's terms) as a segment file at `path`:
 * the index's segment, or a temporary run (`temporary`: merged and deleted before the
 * commit, so not fsynced). */
static int run_flush(struct builder *bld, const char *path, int temporary, uint64_t *size,
                     uint64_t *post_bytes, uint64_t *pos_bytes, uint64_t *n_terms,
                     kq_error *err)
{
    kq_segbuild sb;
    int rc = kq__segbuild_init(&sb, bld->dir, bld->spill, bld->language, bld->cdict, bld->dict,
                               bld->dict_len, err);
    if (rc)
        return rc;
    sb.temporary = temporary;
    struct encjob *jobs = kq__calloc(bld->n_parts, sizeof *jobs);
    if (!jobs) {
        kq__segbuild_release(&sb);
        return kq__enomem(err);
    }
    rc = flush_docs(bld, bld->docs, &sb, err);
    for (uint32_t p = 0; p < bld->n_parts && !rc; p++) {
        jobs[p].r = &bld->parts[p].run;
        if (p == 0)
            jobs[p].sb = &sb;
        else if (!(rc = kq__termspill_init(&jobs[p].ts, &sb, bld->spill, err)))
            jobs[p].ts_init = 1;
    }
    /* encode the partitions side by side; the last one on this thread */
    for (uint32_t p = 0; p < bld->n_parts && !rc; p++) {
        if (p + 1 < bld->n_parts &&
            pthread_create(&jobs[p].thread, NULL, encode_part, &jobs[p]) == 0)
            jobs[p].started = 1;
        else
            encode_part(&jobs[p]);
    }
    for (uint32_t p = 0; p < bld->n_parts; p++)
        if (jobs[p].started)
            pthread_join(jobs[p].thread, NULL);
    for (uint32_t p = 0; p < bld->n_parts && !rc; p++) {
        if (jobs[p].rc) {
            rc = jobs[p].rc;
            if (err)
                *err = jobs[p].err;
            break;
        }
        if (jobs[p].ts_init) {
            rc = kq__segbuild_append_terms(&sb, &jobs[p].ts, err);
            kq__termspill_release(&jobs[p].ts); /* each spill's memory goes once appended */
            jobs[p].ts_init = 0;
        }
    }
    for (uint32_t p = 0; p < bld->n_parts; p++)
        if (jobs[p].ts_init)
            kq__termspill_release(&jobs[p].ts);
    kq__free(jobs);
    if (!rc) {
        *n_terms = sb.n_terms;
        rc = kq__segbuild_finish(&sb, path, size, post_bytes, pos_bytes, err);
    }
    kq__segbuild_release(&sb);
    return rc;
}

/* Empties the run after a flush. */
static void run_reset(struct builder *bld)
{
    docrun_reset(bld->docs);
    bld->run_docs = bld->run_blocks = 0;
    for (uint32_t p = 0; p < bld->n_parts; p++) {
        termrun_reset(&bld->parts[p].run);
        bld->parts[p].n_docs = 0;
        bld->parts[p].mem = 0;
    }
}

/* ---- dictionary ---- */

/* Trains the store's zstd dictionary on the first batch. A corpus too small or too uniform
 * to train on gets no dictionary (blocks are then plain zstd frames). */
static int train_dict(struct builder *bld, struct batch *b, kq_error *err)
{
    bld->dict_done = 1;
    size_t total = 0;
    uint32_t n = 0;
    for (; n < b->n && total < DICT_TRAIN_CAP; n++)
        total += b->docs[n].len < DICT_SAMPLE_CAP ? b->docs[n].len : DICT_SAMPLE_CAP;
    if (n < 16 || total < (size_t)64 << 10)
        return 0;
    uint8_t *samples = kq__malloc(total);
    size_t *sizes = kq__malloc(n * sizeof *sizes);
    bld->dict = kq__malloc(DICT_CAP);
    if (!samples || !sizes || !bld->dict) {
        kq__free(samples);
        kq__free(sizes);
        return kq__enomem(err);
    }
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t l = b->docs[i].len < DICT_SAMPLE_CAP ? b->docs[i].len : DICT_SAMPLE_CAP;
        memcpy(samples + off, b->docs[i].bytes, l);
        sizes[i] = l;
        off += l;
    }
    size_t cap = total / 16 < DICT_CAP ? total / 16 : DICT_CAP;
    /* fixed parameters: the optimising trainer costs seconds for a percent or two */
    ZDICT_fastCover_params_t fp;
    memset(&fp, 0, sizeof fp);
    fp.k = 256;
    fp.d = 8;
    fp.f = 18;
    fp.accel = 4;
    fp.zParams.compressionLevel = KQ_STORE_LEVEL;
    size_t r = ZDICT_trainFromBuffer_fastCover(bld->dict, cap, samples, sizes, n, fp);
    kq__free(samples);
    kq__free(sizes);
    if (ZDICT_isError(r)) {
        kq__free(bld->dict);
        bld->dict = NULL;
        return 0;
    }
    bld->dict_len = r;
    bld->cdict = ZSTD_createCDict(bld->dict, bld->dict_len, KQ_STORE_LEVEL);
    if (!bld->cdict)
        return kq__enomem(err);
    return 0;
}

/* A rebuild in another language than the index's (`from`) analyses every document again,
 * so it may only leave out documents when asked (--full): refuses when the index holds
 * documents of files outside the paths. */
static int same_documents(const char *dir, const char *const *paths, size_t n_paths,
                          const char *from, const char *to, kq_error *err)
{
    kq_index *ix;
    kq_update *u = NULL;
    int rc = kq_index_open_ex(dir, KQ_INDEX_VERIFY_ON_USE, &ix, err);
    if (!rc && !(rc = kq__update_new(ix, paths, n_paths, &u, err))) {
        struct kq_index_info info;
        kq_index_get_info(ix, &info);
        uint64_t outside = info.n_docs - kq__update_candidates(u);
        if (outside)
            rc = kq__error(err, KQ_EINVAL, -1,
                           "the index is in '%s' and holds %llu document%s outside the paths "
                           "given: '%s' analyses every document again, so give every path it "
                           "holds, or --full to keep only the paths given",
                           from, (unsigned long long)outside, outside == 1 ? "" : "s", to);
    }
    kq__update_free(u);
    kq_index_close(ix);
    return rc;
}

/* An index directory holds what the writers put there (kq__manifest_cleanup removes what
 * the manifest does not name): refuses a folder of the user's named by mistake (kq-index -i
 * docs docs), one that holds anything else, or a MANIFEST that is not kq's (Perl's,
 * Python's) and no segment. A damaged MANIFEST among segments is the manifest reader's to
 * report. */
static int not_someone_elses(const char *dir, kq_error *err)
{
    char path[4096], magic[8];
    snprintf(path, sizeof path, "%s/%s", dir, KQ_MANIFEST_NAME);
    int fd = open(path, O_RDONLY | O_CLOEXEC), foreign = 0, segs = 0;
    if (fd >= 0) {
        ssize_t got = read(fd, magic, sizeof magic);
        close(fd);
        if (got == (ssize_t)sizeof magic && !memcmp(magic, KQ_MANIFEST_MAGIC, sizeof magic))
            return 0;
        foreign = 1;
    } else if (errno != ENOENT) {
        return 0; /* the manifest's reader will say why */
    }
    DIR *d = opendir(dir);
    if (!d)
        return 0; /* the lock will say why */
    char other[256] = "";
    for (struct dirent *de; !other[0] && (de = readdir(d));) {
        const char *n = de->d_name;
        segs |= !strncmp(n, "seg_", 4);
        if (strcmp(n, ".") && strcmp(n, "..") && strcmp(n, "LOCK") && strncmp(n, ".tmp-", 5) &&
            strncmp(n, "seg_", 4) && strcmp(n, "kqd.sock") && strcmp(n, KQ_MANIFEST_NAME))
            snprintf(other, sizeof other, "%s", n);
    }
    closedir(d);
    if (!other[0] && foreign && !segs)
        snprintf(other, sizeof other, "%s", KQ_MANIFEST_NAME);
    if (!other[0])
        return 0;
    return kq__error(err, KQ_EINVAL, -1,
                     "'%s' is not an index but holds other files ('%s'): give --index a new "
                     "or empty folder", dir, other);
}

/* ---- the lock ---- */

int kq__lock_acquire(const char *dir, int wait, void (*waiting)(void *, long), void *ctx,
                     int *fd_out, kq_error *err)
{
    if (kq__index_dir_check(dir, err))
        return KQ_ELIMIT;
    char path[4096];
    snprintf(path, sizeof path, "%s/LOCK", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return kq__error(err, KQ_EIO, -1, "cannot open '%s': %s", path, strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &fl) == 0) {
        *fd_out = fd;
        return 0;
    }
    struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    long pid = fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK ? (long)q.l_pid : -1;
    if (!wait) {
        close(fd);
        return kq__error(err, KQ_ELOCKED, -1,
                         "index '%s' is being written by another process (pid %ld)", dir, pid);
    }
    if (waiting)
        waiting(ctx, pid);
    while (fcntl(fd, F_SETLKW, &fl) != 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return kq__error(err, KQ_EIO, -1, "cannot lock '%s': %s", path, strerror(e));
        }
    }
    *fd_out = fd;
    return 0;
}

/* One more than the largest segment number of a file in `dir` (1 when there is none). */
static uint64_t next_free_number(const char *dir)
{
    uint64_t next = 1;
    DIR *d = opendir(dir);
    if (!d)
        return next;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "seg_", 4) != 0 || de->d_name[4] < '0' || de->d_name[4] > '9')
            continue;
        errno = 0;
        unsigned long long n = strtoull(de->d_name + 4, NULL, 10);
        if (!errno && n < UINT64_MAX - 1 && n + 1 > next)
            next = n + 1;
    }
    closedir(d);
    return next;
}

/* Whether `dir` holds a whole segment file (its structure sound): one a MANIFEST named,
 * unless a writer died between writing it and committing. A writer killed earlier leaves
 * only a partial one, which the next commit removes. */
static int whole_segment(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    for (struct dirent *de; !found && (de = readdir(d));) {
        size_t n = strlen(de->d_name);
        if (strncmp(de->d_name, "seg_", 4) || n < 8 || strcmp(de->d_name + n - 3, ".kq"))
            continue;
        char path[4096];
        kq_segfile f;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (kq__segment_map(&f, path, 0, NULL) == 0) {
            kq__segment_unmap(&f);
            found = 1;
        }
    }
    closedir(d);
    return found;
}

/* ---- reading inputs ---- */

static int read_file(const char *path, char **out, size_t *len, kq_error *err)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kq__error(err, KQ_EIO, -1, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return kq__error(err, KQ_EIO, -1, "cannot stat '%s': %s", path, strerror(errno));
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = kq__malloc(cap);
    if (!buf) {
        close(fd);
        return kq__enomem(err);
    }
    for (;;) {
        if (n == cap) {
            char *v = kq__realloc(buf, cap * 2);
            if (!v) {
                kq__free(buf);
                close(fd);
                return kq__enomem(err);
            }
            buf = v;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            kq__free(buf);
            close(fd);
            return kq__error(err, KQ_EIO, -1, "cannot read '%s': %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = n;
    return 0;
}

/* ---- orchestration ---- */

struct reader {
    uint32_t input;  /* current input */
    FILE *jf;        /* open JSON-lines input */
    char *jbuf;      /* its stdio buffer, JSONL_READ bytes, reused from file to file */
    uint32_t line;
    char *lbuf;
    size_t lcap;
};

/* Skips the input `in` that could not be opened or read (KQ_EIO in `err`) with a warning;
 * in an update its documents stay as they are. */
static void unreadable(struct builder *bld, const struct kq_input *in, const kq_error *err)
{
    warn_skipped(bld->opts, bld->upd, in->path, in->name, err->msg, 1);
    bld->unreadable++;
}

/* Fills `b` with the next documents. Returns 0 (b->n == 0 at the end of input) or error;
 * an input that cannot be opened, or a whole file that cannot be read, is skipped. */
static int fill_batch(struct builder *bld, struct reader *rd, struct batch *b, kq_error *err)
{
    while (b->n < BATCH_DOCS && b->bytes < BATCH_BYTES && rd->input < bld->in.n) {
        const struct kq_input *in = &bld->in.v[rd->input];
        struct rawdoc *d = &b->docs[b->n];
        memset(d, 0, sizeof *d);
        d->input = rd->input;
        if (!in->jsonl) {
            kq_error re;
            int rc = read_file(in->path, &d->bytes, &d->len, &re);
            if (rc == KQ_EIO) {
                unreadable(bld, in, &re);
                rd->input++;
                continue;
            }
            if (rc) {
                if (err)
                    *err = re;
                return rc;
            }
            d->line = 1;
            b->n++;
            b->bytes += d->len;
            rd->input++;
            continue;
        }
        if (!rd->jf) {
            rd->jf = fopen(in->path, "rb");
            if (!rd->jf) {
                kq_error re;
                kq__error(&re, KQ_EIO, -1, "cannot open '%s': %s", in->path, strerror(errno));
                unreadable(bld, in, &re);
                rd->input++;
                continue;
            }
            /* fewer, larger reads (glibc ignores the size without a buffer) */
            if (!rd->jbuf && !(rd->jbuf = kq__malloc(JSONL_READ)))
                return kq__enomem(err);
            setvbuf(rd->jf, rd->jbuf, _IOFBF, JSONL_READ);
            rd->line = 0;
        }
        ssize_t n = getline(&rd->lbuf, &rd->lcap, rd->jf);
        if (n < 0) {
            int bad = ferror(rd->jf);
            fclose(rd->jf);
            rd->jf = NULL;
            if (bad)
                return kq__error(err, KQ_EIO, -1, "cannot read '%s'", in->path);
            rd->input++;
            continue;
        }
        rd->line++;
        size_t l = (size_t)n;
        if (rd->line == 1 && l >= 3 && !memcmp(rd->lbuf, "\xef\xbb\xbf", 3)) {
            l -= 3; /* a byte order mark before the first object (RFC 8259 lets readers skip it) */
            memmove(rd->lbuf, rd->lbuf + 3, l);
        }
        while (l && (rd->lbuf[l - 1] == '\n' || rd->lbuf[l - 1] == '\r'))
            l--;
        size_t s = 0;
        while (s < l && (rd->lbuf[s] == ' ' || rd->lbuf[s] == '\t'))
            s++;
        if (s == l)
            continue; /* blank line */
        if (in->upd >= 0 &&
            kq__update_keep_line(bld->upd, in->upd, rd->line, XXH3_64bits(rd->lbuf, l)))
            continue; /* unchanged since the previous generation: kept as it is */
        if (!(d->bytes = kq__strndup(rd->lbuf, l)))
            return kq__enomem(err);
        d->len = l;
        d->line = rd->line;
        b->n++;
        b->bytes += l;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void stop_workers(struct builder *bld)
{
    pthread_mutex_lock(&bld->mu);
    bld->stop = 1;
    pthread_cond_broadcast(&bld->work_cv);
    pthread_mutex_unlock(&bld->mu);
    for (int i = 0; i < bld->n_workers; i++)
        if (bld->workers[i].thread)
            pthread_join(bld->workers[i].thread, NULL);
}

static int file_size(const char *path, uint64_t *size)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    *size = (uint64_t)st.st_size;
    return 0;
}

/* What writing the run as a segment adds to the run's own memory: every section's sink and
 * staging buffer, three sinks and buffers for each partition past the first (a term spill),
 * the builder's per document and per block arrays (grown by doubling), a postings writer
 * per partition (one term's postings: at most one a document), read buffers. The postings
 * buffers a flush frees as it encodes are not counted on: the allocator need not be able to
 * reuse them for what the flush allocates. */
static size_t flush_memory(const struct builder *bld)
{
    size_t parts = bld->n_parts, extra = parts ? parts - 1 : 0, n_docs = bld->run_docs;
    size_t stage = KQ_SEGBUILD_STAGE, dsix = KQ_DSIX_ENTRY;
    return (KQ_SEC_COUNT + 3 * extra) * (bld->spill + KQ_MALLOC_OVERHEAD) +
           (3 + 3 * extra) * 2 * stage + n_docs * 32 + 2 * dsix * bld->run_blocks +
           parts * 8 * n_docs + ((size_t)2 << 20);
}

/* Gives the memory the allocator keeps free back to the system: freed memory stays in
 * the resident set otherwise, spread over the threads' arenas where other threads cannot
 * reuse it, and the next run's peak would add to it. */
static void trim_heap(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* Frees the analysis pipeline (batches and workers) once every input is inverted. */
static void pipeline_release(struct builder *bld)
{
    if (bld->slots)
        for (uint32_t s = 0; s < bld->n_slots; s++)
            batch_release(&bld->slots[s]);
    kq__free(bld->slots);
    bld->slots = NULL;
    if (bld->workers) {
        for (int i = 0; i < bld->n_workers; i++) {
            struct worker *wk = &bld->workers[i];
            kq_analyzer_free(wk->an);
            ZSTD_freeCCtx(wk->cctx);
            kq__storeblock_release(&wk->sb);
            kq__free(wk->slots);
            kq__free(wk->terms);
            kq__free(wk->toks);
            kq__free(wk->order);
            kq_buf_release(&wk->keys);
        }
    }
    kq__free(bld->workers);
    bld->workers = NULL;
}

/* Writes the run to a new temporary segment, remembered in `*runs`, and empties it. */
static int flush_run(struct builder *bld, char ***runs, size_t *n_runs, kq_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/.tmp-%ld-run-%zu.kq", bld->dir, (long)getpid(), *n_runs);
    char **v = kq__realloc(*runs, (*n_runs + 1) * sizeof *v);
    if (!v)
        return kq__enomem(err);
    *runs = v;
    if (!(v[*n_runs] = kq__strndup(path, strlen(path))))
        return kq__enomem(err);
    (*n_runs)++;
    uint64_t size, post, pos, terms;
    int rc = run_flush(bld, path, 1, &size, &post, &pos, &terms, err);
    if (!rc) {
        run_reset(bld);
        trim_heap();
    }
    return rc;
}

int kq_index_build(const char *dir, const char *const *paths, size_t n_paths,
                   const struct kq_build_opts *opts_in, struct kq_build_stats *stats,
                   kq_error *err)
{
    struct kq_build_opts opts = {0};
    if (opts_in)
        opts = *opts_in;
    struct kq_build_stats st;
    memset(&st, 0, sizeof st);
    double t0 = now_s();
    if (opts.language && !kq_language_valid(opts.language))
        return kq__error(err, KQ_EINVAL, -1, "unknown language '%s' (a Snowball name or 'none')",
                         opts.language);
    if ((opts.k1 != 0 && !(opts.k1 > 0 && opts.k1 <= 100)) || !(opts.b <= 1) || isnan(opts.b))
        return kq__error(err, KQ_EINVAL, -1, "BM25 settings out of range (0 < k1 <= 100, "
                                             "0 <= b <= 1)");
    size_t budget = opts.memory_bytes ? opts.memory_bytes : (size_t)256 << 20;
    if (!n_paths)
        return kq__error(err, KQ_EINVAL, -1, "nothing to index");
    for (size_t i = 0; i < n_paths; i++)
        if (!paths[i][0]) /* a variable that was not set: not the current folder */
            return kq__error(err, KQ_EINVAL, -1, "an empty path to index");
    if (kq__index_dir_check(dir, err))
        return KQ_ELIMIT;

    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return kq__error(err, KQ_EIO, -1, "cannot create '%s': %s", dir, strerror(errno));
    int rc0 = not_someone_elses(dir, err);
    if (rc0)
        return rc0;
    struct stat dst;
    if (stat(dir, &dst) != 0 || !S_ISDIR(dst.st_mode))
        return kq__error(err, KQ_EIO, -1, "'%s' is not a directory", dir);

    int lock_fd = -1;
    int rc = kq__lock_acquire(dir, opts.wait_for_lock, opts.waiting, opts.ctx, &lock_fd, err);
    if (rc)
        return rc;

    struct builder bld;
    memset(&bld, 0, sizeof bld);
    bld.dir = dir;
    bld.opts = &opts;
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        bld.start_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    bld.spill = KQ_SPILL_BYTES;
    struct reader rdr = {0};
    struct kq_manifest old = {0}, man = {0};
    kq_index *oldix = NULL;
    char seg_path[4096] = "";
    char **runs = NULL;
    size_t n_runs = 0;
    int threads_started = 0;
    char *root = NULL;
    char **names = NULL; /* the names the index gives `paths` (util/path.h) */
    pthread_mutex_init(&bld.mu, NULL);
    pthread_cond_init(&bld.work_cv, NULL);
    pthread_cond_init(&bld.done_cv, NULL);

    rc = kq__manifest_read(dir, &old, err);
    int have_old = rc == 0;
    if (rc == KQ_ENOTFOUND && !opts.full && whole_segment(dir)) {
        rc = kq__error(err, KQ_ECORRUPT, -1,
                       "'%s' holds segments but no MANIFEST: an update would lose the "
                       "documents of the PATHs not given", dir);
        goto out;
    }
    if (rc == KQ_ENOTFOUND || (opts.full && (rc == KQ_ECORRUPT || rc == KQ_EVERSION))) {
        /* nothing (readable) there: a first build, or a rebuild that must not reuse the
         * name of a segment file it finds */
        rc = 0;
        old.next_segment = next_free_number(dir);
    }
    if (rc)
        goto out;
    if (have_old && old.paths_as_given && !opts.full) {
        rc = kq__error(err, KQ_EVERSION, -1,
                       "the index in '%s' names files as they were given to an older "
                       "kq-index, relative to where it ran: it must be rebuilt once",
                       dir);
        goto out;
    }
    if ((rc = kq__path_root(dir, &root, err)))
        goto out;
    if (!(names = kq__calloc(n_paths, sizeof *names))) {
        rc = kq__enomem(err);
        goto out;
    }
    for (size_t i = 0; i < n_paths && !rc; i++)
        rc = kq__path_name(root, paths[i], &names[i], err);
    if (rc)
        goto out;
    /* settings not given are the index's; another analyser means analysing everything */
    int incremental = have_old && !opts.full;
    if (incremental && opts.language && strcmp(opts.language, old.language) != 0)
        incremental = 0;
    if (!opts.language)
        opts.language = have_old ? old.language : "english";
    if (opts.k1 == 0)
        opts.k1 = have_old && old.k1 > 0 ? old.k1 : 0.9;
    if (opts.b < 0)
        opts.b = have_old ? old.b : 0.4;
    if (!kq_language_valid(opts.language)) {
        rc = kq__error(err, KQ_EINVAL, -1, "unknown language '%s' (a Snowball name or 'none')",
                       opts.language);
        goto out;
    }
    snprintf(bld.language, sizeof bld.language, "%s", opts.language);
    st.incremental = incremental;
    if (have_old && !opts.full && !incremental &&
        (rc = same_documents(dir, (const char *const *)names, n_paths, old.language,
                             opts.language, err)))
        goto out;

    /* an update: what the previous generation holds decides what to read */
    if (incremental && ((rc = kq_index_open_ex(dir, KQ_INDEX_VERIFY_ON_USE, &oldix, err)) ||
                        (rc = kq__update_new(oldix, (const char *const *)names, n_paths,
                                             &bld.upd, err))))
        goto out;
    struct walk w = {&bld.in, &opts, dst.st_dev, dst.st_ino, 0, err, bld.upd, NULL, 0, 0,
                     root};
    for (size_t i = 0; i < n_paths && !rc; i++)
        rc = walk_path(&w, paths[i], names[i], 1, 0);
    kq__free(w.seen);
    st.skipped = w.skipped;
    if (rc)
        goto out;
    if (incremental) {
        if ((rc = kq__update_filter(bld.upd, &bld.in, &st.unchanged, err)))
            goto out;
    } else if (!bld.in.n) {
        rc = kq__error(err, KQ_EINVAL, -1, "no documents found to index");
        goto out;
    }
    if (!bld.in.n)
        goto indexed; /* nothing to read: only deletions, or nothing at all */

    /* threads */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = opts.n_threads > 0 ? opts.n_threads : (ncpu > 0 ? (int)ncpu : 1);
    if (nt > MAX_THREADS)
        nt = MAX_THREADS;
    bld.n_workers = nt;
    bld.n_slots = (uint32_t)nt * 4 + 2; /* enough batches in flight to keep every thread busy */
    bld.slots = kq__calloc(bld.n_slots, sizeof *bld.slots);
    bld.workers = kq__calloc((size_t)nt, sizeof *bld.workers);
    if (!bld.slots || !bld.workers) {
        rc = kq__enomem(err);
        goto out;
    }
    for (uint32_t s = 0; s < bld.n_slots; s++) {
        bld.slots[s].docs = kq__calloc(BATCH_DOCS, sizeof *bld.slots[s].docs);
        bld.slots[s].done = kq__calloc(BATCH_DOCS, sizeof *bld.slots[s].done);
        if (!bld.slots[s].docs || !bld.slots[s].done) {
            rc = kq__enomem(err);
            goto out;
        }
    }
    for (int i = 0; i < nt; i++) {
        struct worker *wk = &bld.workers[i];
        wk->bld = &bld;
        kq__storeblock_init(&wk->sb);
        if ((rc = kq_analyzer_new(opts.language, &wk->an, err)))
            goto out;
        if (!(wk->cctx = ZSTD_createCCtx())) {
            rc = kq__enomem(err);
            goto out;
        }
    }

    bld.n_parts = (uint32_t)nt;
    bld.parts = kq__calloc(bld.n_parts, sizeof *bld.parts);
    bld.docs = kq__calloc(1, sizeof *bld.docs);
    if (!bld.parts || !bld.docs) {
        rc = kq__enomem(err);
        goto out;
    }
    bld.docs->dir = dir;

    double last_progress = 0;
    int need_flush = 0;
    size_t run_batches = 0; /* batches retired into the run */
    size_t slots_mem = 0;   /* the sum of the slots' mem */
    for (;;) {
        int have_input = rdr.input < bld.in.n;
        /* submit while there is input, a free slot and no flush pending */
        if (have_input && !need_flush && bld.next_submit - bld.next_free < bld.n_slots) {
            struct batch *b = &bld.slots[bld.next_submit % bld.n_slots];
            if ((rc = fill_batch(&bld, &rdr, b, err)))
                goto out;
            if (!b->n)
                continue;
            if (!bld.dict_done && (rc = train_dict(&bld, b, err)))
                goto out;
            if (!threads_started) {
                threads_started = 1; /* stop_workers joins the threads that did start */
                for (int i = 0; i < nt; i++) {
                    if (pthread_create(&bld.workers[i].thread, NULL, worker_main,
                                       &bld.workers[i]) != 0) {
                        bld.workers[i].thread = 0;
                        rc = kq__error(err, KQ_EINTERNAL, -1, "cannot start a thread");
                        goto out;
                    }
                }
            }
            pthread_mutex_lock(&bld.mu);
            /* the partitions' key ranges come from the first batch; the others are
             * analysed meanwhile */
            if (!bld.split_ready && !bld.split_batch)
                bld.split_batch = b;
            b->state = SLOT_READY;
            bld.next_submit++;
            pthread_cond_broadcast(&bld.work_cv);
            pthread_mutex_unlock(&bld.mu);
            continue;
        }
        if (bld.next_free == bld.next_submit) {
            if (need_flush) {
                if ((rc = flush_run(&bld, &runs, &n_runs, err)))
                    goto out;
                st.flushes++;
                need_flush = 0;
                run_batches = 0;
                continue;
            }
            break; /* no input left, everything inverted */
        }
        /* wait until every partition inverted the oldest batch */
        struct batch *ob = &bld.slots[bld.next_free % bld.n_slots];
        size_t mem = 0, fixed = MEM_BASE;
        pthread_mutex_lock(&bld.mu);
        for (;;) {
            int failed = ob->rc;
            for (uint32_t p = 0; p < bld.n_parts && !failed; p++)
                failed = bld.parts[p].rc;
            if (failed || ob->inverted == bld.n_parts)
                break;
            pthread_cond_wait(&bld.done_cv, &bld.mu);
        }
        for (uint32_t p = 0; p < bld.n_parts; p++)
            mem += bld.parts[p].mem;
        for (int i = 0; i < nt; i++)
            fixed += bld.workers[i].mem;
        pthread_mutex_unlock(&bld.mu);
        if (ob->rc) {
            rc = ob->rc;
            if (err)
                *err = ob->err;
            goto out;
        }
        for (uint32_t p = 0; p < bld.n_parts; p++) {
            if (bld.parts[p].rc) {
                rc = bld.parts[p].rc;
                if (err)
                    *err = bld.parts[p].err;
                goto out;
            }
        }
        for (uint32_t i = 0; i < ob->n; i++) {
            const struct donedoc *dd = &ob->done[i];
            if (!dd->ok) {
                warn(&opts, bld.in.v[ob->docs[i].input].path, dd->msg ? dd->msg : "skipped");
                st.skipped++;
                continue;
            }
            st.documents++;
            st.tokens += dd->len[KQ_FIELD_TEXT];
            st.input_bytes += ob->docs[i].len;
        }
        size_t bm = batch_memory(ob);
        if (bm > ob->mem) {
            slots_mem += bm - ob->mem;
            ob->mem = bm;
        }
        pthread_mutex_lock(&bld.mu);
        batch_clear(ob);
        bld.next_free++;
        pthread_cond_broadcast(&bld.work_cv);
        pthread_mutex_unlock(&bld.mu);
        run_batches++;
        /* Memory: the budget covers the process, not only the run. Besides the run, it
         * holds the batches (each slot as much as it ever held), the workers' buffers, the
         * dictionary, a base for what is not allocated here, and, when the run is written,
         * what the flush adds. The batches in flight will still grow the run: by what a
         * batch added on average. When the rest leaves the run less than a quarter of the
         * budget, the run gets that quarter (the budget is too small to be kept). */
        fixed += slots_mem + bld.dict_len + (bld.cdict ? ZSTD_sizeof_CDict(bld.cdict) : 0) +
                 flush_memory(&bld);
        size_t room = budget > fixed && budget - fixed > budget / 4 ? budget - fixed
                                                                    : budget / 4;
        size_t in_flight = bld.next_submit - bld.next_free;
        if (mem + in_flight * (mem / run_batches) >= room)
            need_flush = 1;
        double t = now_s();
        if (opts.progress && t - last_progress > 0.1) {
            opts.progress(opts.ctx, st.documents, st.input_bytes, bld.in.bytes);
            last_progress = t;
        }
    }
    stop_workers(&bld);
    threads_started = 0;
    pipeline_release(&bld); /* what is left to do is writing: give the memory back */
    trim_heap();
    st.skipped += bld.unreadable;
indexed:
    if (opts.progress)
        opts.progress(opts.ctx, st.documents, st.input_bytes, bld.in.bytes);
    if (!incremental && !st.documents) {
        rc = kq__error(err, KQ_EINVAL, -1, "no documents found to index");
        goto out;
    }
    uint64_t deleted = incremental ? kq__update_deleted(bld.upd) : 0;
    if (incremental)
        st.unchanged = kq__update_kept(bld.upd); /* the filter's and the line filter's */
    if (incremental && !st.documents && !deleted && opts.k1 == old.k1 && opts.b == old.b) {
        /* an unchanged corpus: nothing to commit, but what a writer that died left behind
         * goes (the lock is ours, and `old` is the committed generation) */
        kq__manifest_cleanup(dir, &old);
        st.generation = old.generation;
        st.live = oldix->n_live;
        st.segments = old.n_segs;
        goto out;
    }

    /* the new segment: the run itself, or the merge of the runs flushed */
    uint64_t seg_no = old.next_segment ? old.next_segment : 1;
    uint64_t seg_size = 0, checksum = 0;
    if (st.documents) {
        char name[64];
        kq__segment_name(seg_no, name, sizeof name);
        snprintf(seg_path, sizeof seg_path, "%s/%s", dir, name);
        unlink(seg_path); /* an orphan of a writer that died; no manifest references it */
        if (!n_runs) {
            rc = run_flush(&bld, seg_path, 0, &seg_size, &st.postings_bytes,
                           &st.positions_bytes, &st.terms, err);
        } else {
            if (bld.docs->n_docs) {
                if ((rc = flush_run(&bld, &runs, &n_runs, err)))
                    goto out;
                st.flushes++;
            }
            /* the runs are written and their memory freed: the merge has the budget but
             * the base, and streams; its per-document arrays and what it maps of the runs
             * count (kq__merge_files) */
            rc = kq__merge_files(dir, (const char *const *)runs, n_runs, bld.spill,
                                 budget > 2 * (size_t)MEM_BASE ? budget - MEM_BASE : budget / 2,
                                 opts.n_threads, bld.language, bld.cdict, bld.dict, bld.dict_len,
                                 seg_path, &seg_size, &st.postings_bytes, &st.positions_bytes,
                                 &st.terms, err);
        }
        if (rc) {
            seg_path[0] = '\0';
            goto out;
        }
        kq_segfile sf;
        if ((rc = kq__segment_map(&sf, seg_path, 0, err)))
            goto out;
        checksum = kq_get_le64(sf.map + 56);
        kq__segment_unmap(&sf);
    }

    /* the commit: the previous segments with their deletions, then the new one */
    man.generation = old.generation + 1;
    man.next_segment = st.documents ? seg_no + 1 : seg_no;
    man.k1 = opts.k1;
    man.b = opts.b;
    snprintf(man.language, sizeof man.language, "%s", bld.language);
    if (!(man.segs = kq__calloc((size_t)old.n_segs + 1, sizeof *man.segs))) {
        rc = kq__enomem(err);
        goto out;
    }
    if (incremental && (rc = kq__update_entries(bld.upd, dir, man.generation, &man, err)))
        goto out;
    if (st.documents)
        man.segs[man.n_segs++] =
            (struct kq_manifest_seg){seg_no, seg_size, (uint32_t)st.documents, 0, checksum, 0,
                                     0};
    rc = kq__manifest_commit(dir, &man, err);
    seg_path[0] = '\0'; /* the index's now, or removed by the failed commit */
    if (rc)
        goto out;
    st.committed = 1;
    st.deleted = deleted;
    st.generation = man.generation;
    st.segments = man.n_segs;
    {
        uint64_t ms_size = 0;
        char mp[4096];
        snprintf(mp, sizeof mp, "%s/%s", dir, KQ_MANIFEST_NAME);
        if (!file_size(mp, &ms_size))
            st.index_bytes += ms_size;
        for (uint32_t i = 0; i < man.n_segs; i++) {
            st.index_bytes += man.segs[i].file_size;
            if (man.segs[i].del_gen) /* its deletion file */
                st.index_bytes += KQ_DEL_HEAD + 8 * kq__del_words(man.segs[i].n_docs) + 8;
            st.live += man.segs[i].n_docs - man.segs[i].n_deleted;
        }
    }
    if (st.documents) {
        kq_seg sg;
        char name[64], path[4096];
        kq__segment_name(seg_no, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (!kq__seg_open(&sg, path, 0, NULL)) {
            st.postings = sg.n_postings;
            st.positions = sg.n_positions;
            st.store_bytes = sg.f.sec[KQ_SEC_DSTO].len;
            kq__seg_close(&sg);
        }
    }
    /* the merge policy, in commits of its own: the update is visible already */
    kq_index_close(oldix);
    oldix = NULL;
    if (!opts.no_merge && incremental) { /* a full build is one segment: nothing to merge */
        double tm = now_s();
        if ((rc = kq__merge_run(dir, 0, budget, &st, err))) {
            /* each merge commits on its own: a failed one leaves the committed update */
            char msg[sizeof err->msg + 64];
            snprintf(msg, sizeof msg, "the update is committed, but merging failed: %s",
                     err ? err->msg : kq_strerror(rc));
            warn(&opts, dir, msg);
            kq_error_clear(err);
            rc = 0;
        }
        st.merge_seconds = now_s() - tm;
        struct kq_manifest now;
        if (st.merges && !kq__manifest_read(dir, &now, NULL)) {
            st.segments = now.n_segs;
            st.index_bytes = 0;
            char mp[4096];
            snprintf(mp, sizeof mp, "%s/%s", dir, KQ_MANIFEST_NAME);
            if (!file_size(mp, &st.index_bytes))
                for (uint32_t i = 0; i < now.n_segs; i++)
                    st.index_bytes += now.segs[i].file_size +
                                      (now.segs[i].del_gen ? KQ_DEL_HEAD + 8 + 8 *
                                       kq__del_words(now.segs[i].n_docs) : 0);
            kq__manifest_release(&now);
        }
    }

out:
    if (threads_started)
        stop_workers(&bld);
    if (seg_path[0])
        unlink(seg_path); /* written but not committed */
    kq__update_free(bld.upd);
    kq_index_close(oldix);
    kq__free(man.segs);
    for (size_t i = 0; names && i < n_paths; i++)
        kq__free(names[i]);
    kq__free(names);
    kq__free(root);
    if (rdr.jf)
        fclose(rdr.jf);
    kq__free(rdr.jbuf); /* the stream's buffer: after the stream */
    free(rdr.lbuf); /* getline's buffer comes from malloc */
    for (size_t i = 0; i < n_runs; i++) {
        unlink(runs[i]);
        kq__free(runs[i]);
    }
    kq__free(runs);
    if (bld.docs && bld.parts)
        run_reset(&bld);
    kq__free(bld.docs);
    kq__free(bld.parts);
    pipeline_release(&bld);
    ZSTD_freeCDict(bld.cdict);
    kq__free(bld.dict);
    inputs_release(&bld.in);
    kq__manifest_release(&old);
    pthread_mutex_destroy(&bld.mu);
    pthread_cond_destroy(&bld.work_cv);
    pthread_cond_destroy(&bld.done_cv);
    if (lock_fd >= 0)
        close(lock_fd);
    st.seconds = now_s() - t0;
    if (stats)
        *stats = st;
    return rc;
}
