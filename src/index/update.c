/* index/update.c: deciding what an update re-reads and what it deletes (update.h).
 *
 * The previous generation's live documents whose file lies under one of the given paths
 * are the candidates for deletion (a bitmap over global doc ids). Whole files are indexed
 * by the XXH3 of their path, one entry a document; JSON-lines documents by runs (a
 * segment's consecutive documents of one source, one entry a run, so that a corpus of a few
 * huge files costs a few entries, and documents of an unchanged file are never decoded).
 * The walk's inputs are then compared with them:
 *
 *  - A whole file is unchanged when a candidate document of the same path has its size
 *    and modification time, or its size and (after reading the file) its XXH3 hash. The
 *    document is kept (no longer a candidate) and the file is not read again.
 *  - A JSON-lines file is unchanged when its size and modification time equal those of the
 *    newest record of it (largest modification time) in any segment's SRCS: every run that
 *    read it recorded it, and left every one of its documents as that version of the file
 *    says. Otherwise it is read, and a line is kept when a candidate document of that file
 *    was on the same line with the same hash (so same bytes, same id, and its line number
 *    still true); other lines are indexed again.
 *
 * What stays a candidate after the walk (a replaced version, a file or line not found
 * again) is deleted. Documents of files outside the paths never become candidates.
 *
 * Invariant: a document is kept at most once (the candidate bit is cleared when it is), so
 * an input named twice makes a second document exactly as a full build would.
 */
#include "index/update.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "index/deletes.h"
#include "index/reader.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/path.h"

struct pent {
    uint64_t h;   /* XXH3 of the file's path */
    uint32_t doc; /* global id */
};

/* Documents first .. first + n - 1 of segment `seg` are all of source `src` (some may be
 * deleted: the candidate bits say which count). */
struct srun {
    uint64_t h; /* XXH3 of the source's path */
    uint32_t seg, src, first, n;
};

struct jline {
    uint32_t line, doc;
    uint64_t hash;
};

struct jfilter {
    struct jline *v;
    uint32_t n;
};

struct kq_update {
    const kq_index *ix;
    uint64_t *cand; /* candidates for deletion, by global id (one spare word at the end) */
    struct pent *ents;
    size_t n_ents;
    struct srun *runs;
    size_t n_runs;
    struct jfilter *jf;
    uint32_t n_jf, cap_jf;
    uint64_t kept, n_cand;
};

/* Whether the file named `p` (`n` bytes) is `g` or lies under it, in the index `ix`;
 * names and `g` are as util/path.h makes them: relative ones are under the root, so ""
 * (the root) and an absolute `g` that holds the root hold every relative name. */
static int under(const kq_index *ix, const char *p, size_t n, const char *g)
{
    size_t gl = strlen(g);
    int relative = n && p[0] != '/';
    if (gl == 0)
        return relative;
    if (g[0] == '/' && relative)
        return kq__path_under(g, kq_index_root(ix)) != NULL;
    if (n < gl || memcmp(p, g, gl) != 0)
        return 0;
    return n == gl || (gl && g[gl - 1] == '/') || p[gl] == '/';
}

static int cmp_pent(const void *a, const void *b)
{
    const struct pent *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

static int cmp_srun(const void *a, const void *b)
{
    const struct srun *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

static int cmp_jline(const void *a, const void *b)
{
    const struct jline *x = a, *y = b;
    return x->line < y->line ? -1 : x->line > y->line;
}

static inline void cand_clear(kq_update *u, uint32_t doc)
{
    u->cand[doc >> 6] &= ~((uint64_t)1 << (doc & 63));
}

static int corrupt_doct(const kq_seg *s, kq_error *err)
{
    return kq__error(err, KQ_ECORRUPT, -1, "segment '%s': bad entry in section 'DOCT'",
                     s->f.name);
}

int kq__update_new(const kq_index *ix, const char *const *paths, size_t n_paths,
                   kq_update **out, kq_error *err)
{
    *out = NULL;
    kq_update *u = kq__calloc(1, sizeof *u);
    if (!u)
        return kq__enomem(err);
    u->ix = ix;
    int rc = 0;
    size_t cap = 0, cap_runs = 0;
    uint8_t *src_under = NULL; /* per source of the segment: 1 under the paths, 2 not, 0 ? */
    if (!(u->cand = kq__calloc(kq__del_words(ix->n_docs) + 1, 8))) {
        rc = kq__enomem(err);
        goto fail;
    }
    for (uint32_t i = 0; i < ix->n_segs && !rc; i++) {
        const kq_seg *s = &ix->segs[i];
        kq__free(src_under);
        if (!(src_under = kq__calloc(s->n_srcs ? s->n_srcs : 1, 1))) {
            rc = kq__enomem(err);
            break;
        }
        struct srun *run = NULL; /* the run being extended */
        for (uint32_t d = 0; d < s->n_docs; d++) {
            int dead = kq__del_test(s->del, d);
            uint32_t src;
            if (kq__seg_doc_src(s, d, &src)) {
                rc = corrupt_doct(s, err);
                break;
            }
            uint32_t g = s->base + d;
            if (src) { /* a JSON-lines document: extend or start a run (deleted documents
                        * of the source too, so that deletions do not split runs) */
                uint8_t *in = &src_under[src - 1];
                if (!*in) {
                    const struct kq_src *r = &s->srcs[src - 1];
                    *in = 2;
                    for (size_t k = 0; k < n_paths && *in == 2; k++)
                        if (under(ix, r->path, r->path_len, paths[k]))
                            *in = 1;
                }
                if (*in != 1) {
                    run = NULL;
                    continue;
                }
                if (!dead) {
                    kq__del_set(u->cand, g);
                    u->n_cand++;
                }
                if (run && run->src == src && run->first + run->n == d) {
                    run->n++;
                    continue;
                }
                if (u->n_runs == cap_runs) {
                    cap_runs = cap_runs ? 2 * cap_runs : 64;
                    struct srun *v = kq__realloc(u->runs, cap_runs * sizeof *v);
                    if (!v) {
                        rc = kq__enomem(err);
                        break;
                    }
                    u->runs = v;
                }
                const struct kq_src *r = &s->srcs[src - 1];
                run = &u->runs[u->n_runs++];
                *run = (struct srun){XXH3_64bits(r->path, r->path_len), i, src, d, 1};
                continue;
            }
            run = NULL;
            if (dead)
                continue;
            struct kq_doc doc;
            if ((rc = kq__seg_doc(s, d, &doc, err)))
                break;
            int in = 0;
            for (size_t k = 0; k < n_paths && !in; k++)
                in = under(ix, doc.path, doc.path_len, paths[k]);
            if (!in)
                continue;
            if (u->n_ents == cap) {
                cap = cap ? 2 * cap : 1024;
                struct pent *v = kq__realloc(u->ents, cap * sizeof *v);
                if (!v) {
                    rc = kq__enomem(err);
                    break;
                }
                u->ents = v;
            }
            u->ents[u->n_ents++] = (struct pent){XXH3_64bits(doc.path, doc.path_len), g};
            kq__del_set(u->cand, g);
            u->n_cand++;
        }
    }
    kq__free(src_under);
    if (rc)
        goto fail;
    if (u->n_ents)
        qsort(u->ents, u->n_ents, sizeof *u->ents, cmp_pent);
    if (u->n_runs)
        qsort(u->runs, u->n_runs, sizeof *u->runs, cmp_srun);
    *out = u;
    return 0;
fail:
    kq__update_free(u);
    return rc;
}

void kq__update_free(kq_update *u)
{
    if (!u)
        return;
    for (uint32_t i = 0; i < u->n_jf; i++)
        kq__free(u->jf[i].v);
    kq__free(u->jf);
    kq__free(u->runs);
    kq__free(u->ents);
    kq__free(u->cand);
    kq__free(u);
}

/* The XXH3 of the file at `path` and its size, streaming. -1 when it cannot be read. */
static int hash_file(const char *path, uint64_t *hash, uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    XXH3_state_t *st = XXH3_createState();
    uint8_t *buf = kq__malloc(1 << 16);
    int rc = st && buf ? 0 : -1;
    if (!rc)
        XXH3_64bits_reset(st);
    uint64_t n = 0;
    while (!rc) {
        ssize_t r = read(fd, buf, 1 << 16);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = -1;
        if (r <= 0)
            break;
        XXH3_64bits_update(st, buf, (size_t)r);
        n += (uint64_t)r;
    }
    if (!rc) {
        *hash = XXH3_64bits_digest(st);
        *size = n;
    }
    close(fd);
    kq__free(buf);
    XXH3_freeState(st);
    return rc;
}

static size_t lower_bound(const struct pent *v, size_t n, uint64_t h)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].h < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Decides for one whole file; *keep_input = 0 when its document is kept. */
static int filter_file(kq_update *u, const struct kq_input *in, int *keep_input, kq_error *err)
{
    size_t plen = strlen(in->name);
    uint64_t h = XXH3_64bits(in->name, plen);
    int have_hash = 0, hash_ok = 0;
    uint64_t fh = 0, fsize = 0;
    *keep_input = 1;
    for (size_t k = lower_bound(u->ents, u->n_ents, h); k < u->n_ents && u->ents[k].h == h; k++) {
        uint32_t doc = u->ents[k].doc;
        if (!kq__del_test(u->cand, doc))
            continue;
        struct kq_doc d;
        int rc = kq_index_doc(u->ix, doc, &d, err);
        if (rc)
            return rc;
        if (d.path != d.id || d.id_len != plen || memcmp(d.id, in->name, plen) != 0 ||
            d.size != in->size)
            continue;
        if (d.mtime_ns != in->mtime_ns) {
            if (!have_hash) {
                have_hash = 1;
                hash_ok = hash_file(in->path, &fh, &fsize) == 0;
            }
            if (!hash_ok || fh != d.hash || fsize != d.size)
                continue;
        }
        cand_clear(u, doc);
        u->kept++;
        *keep_input = 0;
        return 0;
    }
    return 0;
}

int kq__update_known(kq_update *u, const char *path, uint64_t size, int64_t mtime_ns)
{
    size_t plen = strlen(path);
    uint64_t h = XXH3_64bits(path, plen);
    for (size_t k = lower_bound(u->ents, u->n_ents, h); k < u->n_ents && u->ents[k].h == h; k++) {
        uint32_t doc = u->ents[k].doc;
        struct kq_doc d;
        if (!kq__del_test(u->cand, doc) || kq_index_doc(u->ix, doc, &d, NULL))
            continue;
        if (d.path == d.id && d.id_len == plen && !memcmp(d.id, path, plen) && d.size == size &&
            d.mtime_ns == mtime_ns) {
            cand_clear(u, doc);
            u->kept++;
            return 1;
        }
    }
    return 0;
}

/* Decides for one JSON-lines file: unchanged as a whole, or read with a line filter. */
/* The source of run `r` when it is the file named `name` (`len` bytes), else NULL. */
static const struct kq_src *run_source(const kq_update *u, const struct srun *r, const char *name,
                                       size_t len)
{
    const struct kq_src *src = &u->ix->segs[r->seg].srcs[r->src - 1];
    return src->path_len == len && !memcmp(src->path, name, len) ? src : NULL;
}

static int filter_jsonl(kq_update *u, struct kq_input *in, int *keep_input, kq_error *err)
{
    size_t plen = strlen(in->name);
    uint64_t h = XXH3_64bits(in->name, plen);
    *keep_input = 1;
    /* The file is as indexed when the newest version its live documents were read from
     * (its SRCS record: size and modification time) is the file's now. Only versions with
     * live documents count: the record of a version whose lines were all replaced stays in
     * a segment that keeps other documents, and a file put back to it (a restore keeps its
     * time) would match it. A racily new version (mtime 0) is never the same. Versions
     * mixed in one file (lines kept from an older one beside a newer one's) are ordered by
     * time: a file whose time went back to one of them while lines of a later-written one
     * survive, or one put back after an update that only deleted lines (it writes no
     * record), is taken as indexed: SRCS does not record which version was written last
     * (README, "kq-index"). */
    const struct kq_src *best = NULL;
    uint32_t best_seg = 0;
    int racy = 0;
    size_t lo = 0, hi = u->n_runs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u->runs[mid].h < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = lo; k < u->n_runs && u->runs[k].h == h; k++) {
        const struct srun *r = &u->runs[k];
        const kq_seg *s = &u->ix->segs[r->seg];
        const struct kq_src *src = run_source(u, r, in->name, plen);
        if (!src)
            continue;
        int live = 0;
        for (uint32_t d = r->first; d < r->first + r->n && !live; d++)
            live = kq__del_test(u->cand, s->base + d);
        if (!live)
            continue;
        racy |= src->mtime_ns == 0;
        if (!best || src->mtime_ns > best->mtime_ns ||
            (src->mtime_ns == best->mtime_ns &&
             (r->seg > best_seg || (r->seg == best_seg && src > best)))) {
            best = src; /* of equal times, the later one in the index: most often written
                         * last (a merge may reorder them) */
            best_seg = r->seg;
        }
    }
    int same = best && !racy && best->size == in->size && best->mtime_ns == in->mtime_ns;
    struct jline *v = NULL;
    uint32_t n = 0, cap = 0;
    for (size_t k = lo; k < u->n_runs && u->runs[k].h == h; k++) {
        const struct srun *r = &u->runs[k];
        const kq_seg *s = &u->ix->segs[r->seg];
        if (!run_source(u, r, in->name, plen))
            continue;
        for (uint32_t d = r->first; d < r->first + r->n; d++) {
            uint32_t g = s->base + d;
            if (!kq__del_test(u->cand, g))
                continue;
            if (same) {
                cand_clear(u, g);
                u->kept++;
                continue;
            }
            struct kq_doc doc;
            int rc = kq__seg_doc(s, d, &doc, err);
            if (rc) {
                kq__free(v);
                return rc;
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                struct jline *x = kq__realloc(v, cap * sizeof *x);
                if (!x) {
                    kq__free(v);
                    return kq__enomem(err);
                }
                v = x;
            }
            v[n++] = (struct jline){doc.line, g, doc.hash};
        }
    }
    if (same) {
        *keep_input = 0;
        return 0;
    }
    if (!n)
        return 0; /* nothing of it indexed before: every line is new */
    if (u->n_jf == u->cap_jf) {
        uint32_t c = u->cap_jf ? 2 * u->cap_jf : 16;
        struct jfilter *x = kq__realloc(u->jf, c * sizeof *x);
        if (!x) {
            kq__free(v);
            return kq__enomem(err);
        }
        u->jf = x;
        u->cap_jf = c;
    }
    qsort(v, n, sizeof *v, cmp_jline);
    u->jf[u->n_jf] = (struct jfilter){v, n};
    in->upd = (int32_t)u->n_jf++;
    return 0;
}

int kq__update_filter(kq_update *u, struct kq_inputs *in, uint64_t *unchanged, kq_error *err)
{
    uint64_t before = u->kept;
    size_t w = 0;
    int rc = 0;
    in->bytes = 0;
    for (size_t r = 0; r < in->n; r++) {
        struct kq_input *e = &in->v[r];
        int keep = 1;
        if (!rc)
            rc = e->jsonl ? filter_jsonl(u, e, &keep, err) : filter_file(u, e, &keep, err);
        if (!keep) {
            kq__free(e->path);
            kq__free(e->name);
            continue;
        }
        in->bytes += e->size;
        in->v[w++] = *e;
    }
    in->n = w;
    *unchanged = u->kept - before;
    return rc;
}

int kq__update_keep_line(kq_update *u, int32_t upd, uint32_t line, uint64_t hash)
{
    if (upd < 0 || (uint32_t)upd >= u->n_jf)
        return 0;
    const struct jfilter *f = &u->jf[upd];
    uint32_t lo = 0, hi = f->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (f->v[mid].line < line)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < f->n && f->v[lo].line == line; lo++) {
        uint32_t doc = f->v[lo].doc;
        if (f->v[lo].hash == hash && kq__del_test(u->cand, doc)) {
            cand_clear(u, doc);
            u->kept++;
            return 1;
        }
    }
    return 0;
}

uint64_t kq__update_under(kq_update *u, const char *path, int keep)
{
    uint64_t n = 0;
    for (size_t k = 0; k < u->n_ents; k++) {
        uint32_t doc = u->ents[k].doc;
        struct kq_doc d;
        if (!kq__del_test(u->cand, doc) || kq_index_doc(u->ix, doc, &d, NULL) ||
            !under(u->ix, d.path, d.path_len, path))
            continue;
        n++;
        if (keep)
            cand_clear(u, doc);
    }
    for (size_t k = 0; k < u->n_runs; k++) {
        const struct srun *r = &u->runs[k];
        const kq_seg *s = &u->ix->segs[r->seg];
        const struct kq_src *src = &s->srcs[r->src - 1];
        if (!under(u->ix, src->path, src->path_len, path))
            continue;
        for (uint32_t d = r->first; d < r->first + r->n; d++) {
            if (!kq__del_test(u->cand, s->base + d))
                continue;
            n++;
            if (keep)
                cand_clear(u, s->base + d);
        }
    }
    if (keep)
        u->kept += n;
    return n;
}

uint64_t kq__update_candidates(const kq_update *u)
{
    return u->n_cand;
}

uint64_t kq__update_kept(const kq_update *u)
{
    return u->kept;
}

uint64_t kq__update_deleted(const kq_update *u)
{
    return u->n_cand - u->kept;
}

/* 64 candidate bits from global bit `pos` on (the array has a spare word at its end). */
static inline uint64_t cand_word(const kq_update *u, uint64_t pos)
{
    size_t w = (size_t)(pos >> 6);
    unsigned sh = (unsigned)(pos & 63);
    return sh ? (u->cand[w] >> sh) | (u->cand[w + 1] << (64 - sh)) : u->cand[w];
}

/* Removes the deletion files of generation `gen` that the entries of `man` from `from` on
 * name: written by a kq__update_entries that failed, referenced by no manifest. */
static void drop_written(const char *dir, uint64_t gen, const struct kq_manifest *man,
                         uint32_t from)
{
    for (uint32_t i = from; i < man->n_segs; i++) {
        if (man->segs[i].del_gen != gen)
            continue;
        char name[64], path[4096];
        kq__del_name(man->segs[i].number, gen, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        unlink(path);
    }
}

int kq__update_entries(kq_update *u, const char *dir, uint64_t gen, struct kq_manifest *man,
                       kq_error *err)
{
    const kq_index *ix = u->ix;
    const uint32_t first = man->n_segs;
    for (uint32_t i = 0; i < ix->n_segs; i++) {
        const kq_seg *s = &ix->segs[i];
        struct kq_manifest_seg e = ix->man.segs[i];
        size_t nw = kq__del_words(s->n_docs);
        uint64_t fresh = 0;
        for (size_t w = 0; w < nw; w++) {
            uint64_t b = cand_word(u, (uint64_t)s->base + 64 * w);
            if (w == nw - 1 && (s->n_docs & 63))
                b &= ((uint64_t)1 << (s->n_docs & 63)) - 1;
            fresh |= b;
        }
        if (!fresh) {
            man->segs[man->n_segs++] = e;
            continue;
        }
        uint64_t *bits = kq__calloc(nw ? nw : 1, 8);
        if (!bits) {
            drop_written(dir, gen, man, first);
            return kq__enomem(err);
        }
        for (size_t w = 0; w < nw; w++) {
            uint64_t b = cand_word(u, (uint64_t)s->base + 64 * w);
            if (w == nw - 1 && (s->n_docs & 63))
                b &= ((uint64_t)1 << (s->n_docs & 63)) - 1;
            bits[w] = b | (s->del ? s->del[w] : 0);
        }
        if (kq__del_count(bits, s->n_docs) == s->n_docs) {
            kq__free(bits); /* nothing left alive: the segment leaves the index */
            continue;
        }
        int rc =
            kq__del_write(dir, e.number, gen, s->n_docs, bits, &e.n_deleted, &e.del_checksum, err);
        kq__free(bits);
        if (rc) {
            drop_written(dir, gen, man, first);
            return rc;
        }
        e.del_gen = gen;
        man->segs[man->n_segs++] = e;
    }
    return 0;
}
