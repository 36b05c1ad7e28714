/* server/reload.c: index generations: a pool of searchers over one generation, the id ->
 * document map of `doc` requests, and their lifetime.
 *
 * Why a pool of searchers: a kq_searcher holds an analyser with state (and a zstd context),
 * so one thread uses it at a time. The index under them is immutable and mmap'd (kq/index.h:
 * an open kq_index may be shared by threads: reader.c reads the mapping only, and its one
 * mutable part, the cache of live term statistics, has a mutex), so the generation opens
 * and verifies the index once and each searcher is made over it (kq__searcher_new), which
 * costs an analyser, not an open (about 2 ms on SciFact). `doc` requests read through the
 * index without taking a searcher.
 *
 * Why the retries: kq_index_open opens whatever generation MANIFEST names at that instant,
 * and an open that fails while MANIFEST changed under it (the commit's cleanup removes the
 * segments of the generation being opened) is tried again on the new one: only a
 * generation that fails on its own is refused.
 *
 * The id map: open addressing over (hash, doc + 1) pairs, twice the documents, compared
 * through kq_index_doc (the ids live in the mapping). Documents kq_index_doc reports as
 * not found are deleted ones and are left out, so `doc` never returns them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "query/searcher.h"
#include "server/server.h"
#include "util/alloc.h"
#include "util/path.h"
#include "util/error.h"

#define OPEN_ATTEMPTS 5

struct kq_idslot {
    uint32_t doc1; /* doc + 1; 0: empty */
    uint32_t hash; /* low bits of the id's XXH3: most mismatches fail here */
};

static void gen_free(struct kq_gen *g)
{
    if (!g)
        return;
    for (uint32_t i = 0; i < g->n_searchers; i++)
        kq_searcher_close(g->searchers[i]);
    kq_index_close(g->ix); /* after the searchers, which borrow it */
    kq__free(g->searchers);
    kq__free(g->idle);
    kq__free(g->slots);
    uv_mutex_destroy(&g->mu);
    uv_cond_destroy(&g->cv);
    kq__free(g);
}

static int same_id(const kq_index *ix, uint32_t doc, const char *id, size_t len)
{
    struct kq_doc d;
    return kq_index_doc(ix, doc, &d, NULL) == 0 && d.id_len == len && !memcmp(d.id, id, len);
}

/* Where the probe for an id of XXH3 `h` starts; slots follow on by one (wrapping). The map
 * holds every live document, those sharing an id (JSON-lines files) in document order. */
static uint64_t first_slot(const struct kq_gen *g, uint64_t h)
{
    return h & g->mask;
}

static int build_map(struct kq_gen *g, kq_error *err)
{
    const kq_index *ix = kq__gen_index(g);
    struct kq_index_info info;
    kq_index_get_info(ix, &info);
    g->generation = info.generation;
    g->manifest_checksum = info.manifest_checksum;
    g->n_segments = info.n_segments;
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)info.n_docs)
        cap *= 2;
    if (!(g->slots = kq__calloc(cap, sizeof *g->slots)))
        return kq__enomem(err);
    g->mask = cap - 1;
    for (uint32_t d = 0; d < info.doc_id_limit; d++) {
        struct kq_doc doc;
        int rc = kq_index_doc(ix, d, &doc, err);
        if (rc == KQ_ENOTFOUND)
            continue; /* deleted */
        if (rc)
            return rc;
        uint64_t h = XXH3_64bits(doc.id, doc.id_len), i = first_slot(g, h);
        while (g->slots[i].doc1)
            i = (i + 1) & g->mask;
        g->slots[i] = (struct kq_idslot){d + 1, (uint32_t)h};
        size_t entry = doc.id_len + doc.path_len + doc.title_len;
        if (entry > g->max_entry)
            g->max_entry = entry;
        g->n_docs++;
    }
    if (err)
        kq_error_clear(err);
    return 0;
}

/* One attempt: 0 or an error. */
static int open_once(const char *dir, uint32_t n, struct kq_gen **out, kq_error *err)
{
    struct kq_gen *g = kq__calloc(1, sizeof *g);
    if (!g)
        return kq__enomem(err);
    if (uv_mutex_init(&g->mu)) {
        kq__free(g);
        return kq__error(err, KQ_EINTERNAL, -1, "cannot create a mutex");
    }
    if (uv_cond_init(&g->cv)) {
        uv_mutex_destroy(&g->mu);
        kq__free(g);
        return kq__error(err, KQ_EINTERNAL, -1, "cannot create a condition variable");
    }
    g->refs = 1;
    int rc = 0;
    g->searchers = kq__calloc(n, sizeof *g->searchers);
    g->idle = kq__calloc(n, sizeof *g->idle);
    if (!g->searchers || !g->idle)
        rc = kq__enomem(err);
    if (!rc)
        rc = kq_index_open(dir, &g->ix, err);
    for (uint32_t i = 0; i < n && !rc; i++) {
        if ((rc = kq__searcher_new(g->ix, &g->searchers[i], err)))
            break;
        g->n_searchers = i + 1;
        g->idle[i] = g->searchers[i];
    }
    g->n_idle = g->n_searchers;
    if (!rc)
        rc = build_map(g, err);
    if (rc) {
        gen_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* What identifies the MANIFEST file in place (a commit renames a new one over it). */
static void manifest_id(const char *dir, struct stat *st)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    if (stat(path, st) != 0)
        memset(st, 0, sizeof *st);
}

static int same_manifest(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

int kq__gen_open(const char *dir, uint32_t n, struct kq_gen **out, kq_error *err)
{
    *out = NULL;
    if (n == 0)
        n = 1;
    for (int attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
        struct stat before, after;
        manifest_id(dir, &before);
        int rc = open_once(dir, n, out, err);
        if (rc == 0)
            return 0;
        manifest_id(dir, &after);
        /* a commit landed while we opened (its cleanup may have removed a segment of the
         * generation we were reading): try the new one rather than refuse the old */
        if (same_manifest(&before, &after))
            return rc;
    }
    return kq__error(err, KQ_EIO, -1, "index '%s' kept changing while it was opened", dir);
}

void kq__gen_ref(struct kq_gen *g)
{
    g->refs++;
}

void kq__gen_unref(struct kq_gen *g)
{
    if (g && --g->refs == 0)
        gen_free(g);
}

kq_searcher *kq__gen_take(struct kq_gen *g)
{
    uv_mutex_lock(&g->mu);
    while (g->n_idle == 0)
        uv_cond_wait(&g->cv, &g->mu);
    kq_searcher *s = g->idle[--g->n_idle];
    uv_mutex_unlock(&g->mu);
    return s;
}

void kq__gen_give(struct kq_gen *g, kq_searcher *s)
{
    uv_mutex_lock(&g->mu);
    g->idle[g->n_idle++] = s;
    uv_cond_signal(&g->cv);
    uv_mutex_unlock(&g->mu);
}

const kq_index *kq__gen_index(const struct kq_gen *g)
{
    return g->ix;
}

int kq__gen_find(const struct kq_gen *g, const char *id, size_t len, const char *path,
                 size_t path_len, uint32_t *doc)
{
    const kq_index *ix = kq__gen_index(g);
    uint64_t h = XXH3_64bits(id, len);
    int found = 0;
    for (uint64_t i = first_slot(g, h); g->slots[i].doc1; i = (i + 1) & g->mask) {
        const struct kq_idslot *s = &g->slots[i];
        struct kq_doc d;
        if (s->hash != (uint32_t)h || !same_id(ix, s->doc1 - 1, id, len) ||
            (path && (kq_index_doc(ix, s->doc1 - 1, &d, NULL) ||
                      !kq__path_is(kq_index_root(ix), d.path, d.path_len, path, path_len))))
            continue;
        if (!found || s->doc1 - 1 > *doc)
            *doc = s->doc1 - 1; /* the last of the index's documents of that id */
        found = 1;
    }
    return found ? 0 : KQ_ENOTFOUND;
}
