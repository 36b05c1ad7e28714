/* index/check.c: kq_index_verify, the deep check behind `kq-index --check`.
 *
 * Beyond what opening verifies (manifest, headers, section table, checksums, section
 * sizes), it decodes everything: every term's postings (doc ids increasing and in range,
 * tf >= 1, df and cf as the dictionary says, positions increasing and within the
 * document's size, the term's and the block's impacts bounding every posting), that each
 * document's length equals the tfs summed over its terms, every document-table entry,
 * every store block (decompresses; a file's stored bytes hash to its recorded XXH3), and
 * that no file is two live documents. Deletion files are
 * verified when the index opens (size, checksum against the file and the manifest, header
 * against the manifest entry, population count, no bit past the last document: FORMAT.md
 * E1-E4); the check counts their bits once more against the manifest. Deleted documents are
 * checked like live ones: their bytes are still in the segment.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "index/deletes.h"
#include "index/manifest.h"
#include "index/reader.h"
#include "util/alloc.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/path.h"

struct checker {
    void (*report)(void *ctx, const char *msg);
    void *ctx;
    uint64_t problems;
};

static void problem(struct checker *c, const char *fmt, ...) KQ_PRINTF(2, 3);
static void problem(struct checker *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->problems++;
    if (c->report && c->problems <= 100)
        c->report(c->ctx, msg);
}

/* Whether a posting of `tf` in a document of length `dl` has a pair among `imp` with a tf
 * as large and a length as small (FORMAT.md "Impacts"): else the bound pruning relies on
 * is below its score, and queries would drop it. */
static int bounded(const struct kq_impact *imp, uint32_t n, uint32_t tf, uint32_t dl)
{
    for (uint32_t i = 0; i < n; i++)
        if (imp[i].tf >= tf && imp[i].dl <= dl)
            return 1;
    return 0;
}

static int check_terms(struct checker *c, const kq_seg *s, kq_error *err)
{
    uint64_t *sum[KQ_N_FIELDS] = {0};
    uint64_t *size = kq__calloc(s->n_docs ? s->n_docs : 1, sizeof *size);
    uint32_t *pos = NULL, pos_cap = 0;
    int rc = size ? 0 : kq__enomem(err);
    for (int f = 0; f < KQ_N_FIELDS; f++)
        if (!(sum[f] = kq__calloc(s->n_docs ? s->n_docs : 1, sizeof *sum[f])))
            rc = kq__enomem(err);
    /* a position takes a byte of its document at least (a token, or a word too long to be
     * one): none is past the document's size (a damaged entry leaves the bound open) */
    for (uint32_t d = 0; d < s->n_docs && !rc; d++) {
        struct kq_doc doc;
        size[d] = kq__seg_doc(s, d, &doc, NULL) ? UINT64_MAX : doc.size;
    }
    kq_termdict_iter it;
    if (!rc && kq_termdict_seek(&s->td, &it, NULL, 0, err)) {
        problem(c, "segment '%s': term dictionary: %s", s->f.name, err ? err->msg : "corrupt");
        goto out;
    }
    const uint8_t *key;
    size_t len;
    struct kq_term_meta m;
    uint64_t n_terms = 0, n_post = 0, n_unbounded = 0;
    char unbounded[300] = "";
    while (!rc) {
        kq_error e;
        int r = kq_termdict_next(&it, &key, &len, &m, &e);
        if (r < 0) {
            problem(c, "segment '%s': section 'TDIC': %s", s->f.name, e.msg);
            break;
        }
        if (r == 0)
            break;
        n_terms++;
        if (!len || key[0] >= KQ_N_FIELDS) {
            problem(c, "segment '%s': section 'TDIC': term %llu has an unknown field",
                    s->f.name, (unsigned long long)n_terms);
            continue;
        }
        int field = key[0];
        kq_postings_cursor pc;
        if (kq_postings_open(&pc, s->f.sec[KQ_SEC_POST].p, s->f.sec[KQ_SEC_POST].len,
                             s->f.sec[KQ_SEC_POSN].p, s->f.sec[KQ_SEC_POSN].len, &m,
                             s->f.pos_tables, &e)) {
            problem(c, "segment '%s': term '%.*s': %s", s->f.name, (int)len - 1,
                    (const char *)key + 1, e.msg);
            continue;
        }
        uint32_t d, df = 0, prev = 0;
        uint64_t cf = 0;
        int bad = 0;
        while ((d = kq_postings_next(&pc)) != KQ_DOC_END) {
            uint32_t tf = kq_postings_tf(&pc);
            /* tf is bounded by the document's length and, each position taking at least a
             * byte, by the term's positions: checked before sizing a buffer by it */
            if (d >= s->n_docs || (df && d <= prev) || tf == 0 ||
                tf > kq__seg_dl(s, field, d)) {
                bad = 1;
                break;
            }
            if (tf > m.pos_len) {
                bad = 2;
                break;
            }
            if (tf > pos_cap) {
                uint32_t *v = kq__realloc(pos, (size_t)tf * 2 * sizeof *v);
                if (!v) {
                    rc = kq__enomem(err);
                    break;
                }
                pos = v;
                pos_cap = tf * 2;
            }
            int np = kq_postings_positions(&pc, pos);
            if (np != (int)tf || pos[tf - 1] > size[d]) {
                bad = 2;
                break;
            }
            for (uint32_t k = 1; k < tf; k++)
                if (pos[k] <= pos[k - 1])
                    bad = 2;
            const struct kq_skip *sk = kq_postings_shallow(&pc, d);
            uint32_t dl = kq__seg_dl(s, field, d);
            if (!bad && !bounded(m.impacts, m.n_impacts, tf, dl))
                bad = 4;
            else if (!bad && sk && !bounded(sk->impacts, sk->n_impacts, tf, dl))
                bad = 5;
            sum[field][d] += tf;
            prev = d;
            df++;
            cf += tf;
        }
        if (kq_postings_error(&pc))
            bad = 3;
        kq_postings_close(&pc);
        n_post += df;
        if (bad >= 4 && !n_unbounded++) /* reported after the lengths, which may be why */
            snprintf(unbounded, sizeof unbounded, "the %s impacts of term '%.*s' in section '%s'",
                     bad == 4 ? "term's" : "block's", (int)(len - 1 < 200 ? len - 1 : 200),
                     (const char *)key + 1, bad == 4 ? "TDIC" : "POST");
        else if (bad && bad < 4)
            problem(c, "segment '%s': term '%.*s': malformed %s in section '%s'", s->f.name,
                    (int)len - 1, (const char *)key + 1,
                    bad == 2 ? "positions" : "postings", bad == 2 ? "POSN" : "POST");
        else if (df != m.df || cf != m.cf)
            problem(c, "segment '%s': term '%.*s': dictionary says df %u cf %llu, postings "
                       "hold df %u cf %llu (section 'TDIC')",
                    s->f.name, (int)len - 1, (const char *)key + 1, m.df,
                    (unsigned long long)m.cf, df, (unsigned long long)cf);
    }
    if (!rc && n_terms != s->n_terms)
        problem(c, "segment '%s': META says %llu terms, the dictionary holds %llu", s->f.name,
                (unsigned long long)s->n_terms, (unsigned long long)n_terms);
    if (!rc && n_post != s->n_postings)
        problem(c, "segment '%s': META says %llu postings, the lists hold %llu", s->f.name,
                (unsigned long long)s->n_postings, (unsigned long long)n_post);
    for (uint32_t d = 0; d < s->n_docs && !rc; d++)
        for (int f = 0; f < KQ_N_FIELDS; f++)
            if (sum[f][d] != kq__seg_dl(s, f, d)) {
                problem(c, "segment '%s': document %u: length %u in section 'DLEN' but its "
                           "terms occur %llu times",
                        s->f.name, d, kq__seg_dl(s, f, d), (unsigned long long)sum[f][d]);
                break;
            }
    if (!rc && n_unbounded)
        problem(c, "segment '%s': %s, and those of %llu more terms, do not bound every "
                   "posting: one has a larger tf or a shorter document",
                s->f.name, unbounded, (unsigned long long)(n_unbounded - 1));
out:
    for (int f = 0; f < KQ_N_FIELDS; f++)
        kq__free(sum[f]);
    kq__free(size);
    kq__free(pos);
    return rc;
}

/* Checks the document table and the store of `s`; `names` (a version 3 index): files'
 * names must be clean (D4, R2). */
static int check_docs(struct checker *c, const kq_seg *s, int names, kq_error *err)
{
    for (uint32_t d = 0; d < s->n_docs; d++) {
        struct kq_doc doc;
        kq_error e;
        if (kq__seg_doc(s, d, &doc, &e)) {
            problem(c, "%s (document %u)", e.msg, d);
            continue;
        }
        if (doc.format > 2)
            problem(c, "segment '%s': document %u has unknown format %d in section 'DOCT'",
                    s->f.name, d, doc.format);
        if (names && doc.path == doc.id && !kq__path_is_name(doc.id, doc.id_len))
            problem(c, "segment '%s': document %u: '%.*s' is not a clean path in section "
                       "'DOCT'",
                    s->f.name, d, (int)(doc.id_len < 200 ? doc.id_len : 200), doc.id);
    }
    for (uint32_t i = 0; names && i < s->n_srcs; i++)
        if (!kq__path_is_name(s->srcs[i].path, s->srcs[i].path_len))
            problem(c, "segment '%s': source %u: '%.*s' is not a clean path in section 'SRCS'",
                    s->f.name, i,
                    (int)(s->srcs[i].path_len < 200 ? s->srcs[i].path_len : 200),
                    s->srcs[i].path);
    for (uint32_t k = 0; k < s->n_blocks; k++) {
        uint8_t *raw;
        size_t raw_len;
        kq_error e;
        int rc = kq__seg_block(s, k, &raw, &raw_len, &e);
        if (rc == KQ_ENOMEM)
            return kq__enomem(err);
        if (rc) {
            problem(c, "%s (store block %u)", e.msg, k);
            continue;
        }
        const uint8_t *x = s->dsix + (size_t)k * KQ_DSIX_ENTRY;
        uint32_t first = kq_get_le32(x), n = kq_get_le32(raw);
        size_t off = 4 + 4 * (size_t)n;
        for (uint32_t i = 0; i < n; i++) {
            size_t l = kq_get_le32(raw + 4 + 4 * (size_t)i);
            struct kq_doc doc;
            if (!kq__seg_doc(s, first + i, &doc, NULL) && doc.path == doc.id &&
                (doc.size != l || XXH3_64bits(raw + off, l) != doc.hash))
                problem(c, "segment '%s': document %u: stored text does not match its hash "
                           "in section 'DSTO'",
                        s->f.name, first + i);
            off += l;
        }
        kq__free(raw);
    }
    return 0;
}

/* Every file is one live document: no two live documents of whole files share a name (a
 * segment copied under a second number passes every other check). */
static int check_names(struct checker *c, const kq_index *ix, kq_error *err)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < ix->n_segs; i++)
        n += ix->segs[i].n_docs;
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    uint64_t *slot = kq__calloc(cap, sizeof *slot); /* (segment << 32 | doc) + 1; 0: free */
    if (!slot)
        return kq__enomem(err);
    uint64_t dups = 0;
    for (uint32_t i = 0; i < ix->n_segs; i++) {
        const kq_seg *s = &ix->segs[i];
        for (uint32_t d = 0; d < s->n_docs; d++) {
            struct kq_doc doc, other;
            if ((s->del && kq__del_test(s->del, d)) || kq__seg_doc(s, d, &doc, NULL) ||
                doc.path != doc.id)
                continue; /* deleted, damaged (reported), or a JSON-lines document */
            uint64_t h = XXH3_64bits(doc.id, doc.id_len) & (cap - 1);
            for (; slot[h]; h = (h + 1) & (cap - 1)) {
                const kq_seg *t = &ix->segs[(slot[h] - 1) >> 32];
                if (!kq__seg_doc(t, (uint32_t)(slot[h] - 1), &other, NULL) &&
                    other.id_len == doc.id_len && !memcmp(other.id, doc.id, doc.id_len))
                    break;
            }
            if (!slot[h])
                slot[h] = ((uint64_t)i << 32 | d) + 1;
            else if (dups++ < 10)
                problem(c, "segment '%s': document %u: file '%.*s' is also document %u of "
                           "segment '%s', both live",
                        s->f.name, d, (int)(doc.id_len < 200 ? doc.id_len : 200), doc.id,
                        (uint32_t)(slot[h] - 1), ix->segs[(slot[h] - 1) >> 32].f.name);
        }
    }
    if (dups > 10)
        problem(c, "%llu more files are live twice", (unsigned long long)(dups - 10));
    kq__free(slot);
    return 0;
}

int kq_index_verify(const char *dir, void (*report)(void *ctx, const char *msg), void *ctx,
                    kq_error *err)
{
    struct checker c = {report, ctx, 0};
    kq_index *ix;
    kq_error oe;
    int rc = kq_index_open(dir, &ix, &oe);
    if (rc == KQ_ECORRUPT) {
        /* the open stops at the first damaged segment: name every one */
        struct kq_manifest m;
        if (kq__manifest_read(dir, &m, NULL) == 0) {
            for (uint32_t i = 0; i < m.n_segs; i++) {
                char name[64], path[4096];
                kq__segment_name(m.segs[i].number, name, sizeof name);
                snprintf(path, sizeof path, "%s/%s", dir, name);
                kq_seg sg;
                kq_error e;
                if (kq__seg_open(&sg, path, 1, &e) == 0)
                    kq__seg_close(&sg);
                else
                    problem(&c, "%s", e.msg);
            }
            kq__manifest_release(&m);
        }
        if (!c.problems) /* the damage is elsewhere (the manifest, a deletion file) */
            problem(&c, "%s", oe.msg);
        return kq__error(err, KQ_ECORRUPT, -1, "%llu problem%s found in '%s'",
                         (unsigned long long)c.problems, c.problems == 1 ? "" : "s", dir);
    }
    if (rc) {
        if (err)
            *err = oe;
        return rc;
    }
    for (uint32_t i = 0; i < ix->n_segs && !rc; i++) {
        const kq_seg *s = &ix->segs[i];
        if (s->del && (kq__del_count(s->del, s->n_docs) != ix->man.segs[i].n_deleted ||
                       s->n_del >= s->n_docs)) {
            char name[64];
            kq__del_name(s->number, ix->man.segs[i].del_gen, name, sizeof name);
            problem(&c, "deletion file '%s': %u bits set, the manifest says %u of %u documents",
                    name, kq__del_count(s->del, s->n_docs), ix->man.segs[i].n_deleted,
                    s->n_docs);
        }
        rc = check_terms(&c, &ix->segs[i], err);
        if (!rc)
            rc = check_docs(&c, &ix->segs[i], !ix->man.paths_as_given, err);
    }
    if (!rc)
        rc = check_names(&c, ix, err);
    kq_index_close(ix);
    if (rc)
        return rc;
    if (c.problems)
        return kq__error(err, KQ_ECORRUPT, -1, "%llu problem%s found in '%s'",
                         (unsigned long long)c.problems, c.problems == 1 ? "" : "s", dir);
    return 0;
}
