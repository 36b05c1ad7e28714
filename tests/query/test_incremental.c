/* tests/query/test_incremental.c: incremental indexing gives the scores of a full rebuild.
 *
 * A folder of Markdown and text files and two JSON-lines files is indexed, then changed in
 * rounds: files modified (some to the same size), touched without a change, rewritten with
 * the same bytes, added (in new folders too), deleted (a whole folder once); JSON-lines
 * lines modified, deleted (shifting the lines after them), appended, an id changed. After
 * each round the index is updated (kq_index_build over it) and a fresh index of the same
 * files is built; then:
 *
 *  - every query of a set covering every kind (terms, phrases, AND/OR/NOT, +/-, prefixes,
 *    field:term, boosts) gives the same hits with bit-identical scores on both, all of them
 *    (k = 1000) and the top 10, and the same count. Document ids differ between the two
 *    indexes, so hits compare as (path and id, score), sorted by score and, among equal
 *    scores, by path and id (the indexes break ties by doc id, which differ); for the top 10
 *    the scores must be equal and the hits above the tenth score the same;
 *  - the live documents are the same (path, id, line, hash, title, lengths), and
 *    kq_index_get_info reports the same count and field lengths;
 *  - every doc id of the updated index that is not live answers KQ_ENOTFOUND;
 *  - the updated index passes kq_index_verify (deletion files included).
 *
 * Some rounds skip the merge policy so that segments and deletions pile up; later rounds
 * run the policy, a forced merge to two segments, and one round changes nothing (and must
 * commit nothing). File times are set explicitly for part of the files (in the past, so
 * that an unchanged file is skipped without being read) and left as written for others
 * (racily new: their hash decides).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "index/reader.h"
#include "kq/index.h"
#include "query/eval.h"
#include "query/query.h"
#include "testutil.h"

#define MAX_FILES 512
#define JSONL_FILES 2
#define MAX_LINES 256

static char vocab[400][16];
static int n_vocab;
static kq_analyzer *an;
static char *root;                   /* temporary directory */
static char docs[1024];              /* the corpus folder */
static int64_t clock_s = 1600000000; /* explicit file times, in the past */

struct file {
    char path[4300];
    int alive;
};
static struct file files[MAX_FILES];
static int n_files;

struct jline {
    char id[32];
    char text[2048];
};
struct jfile {
    char path[4300];
    struct jline lines[MAX_LINES];
    int n;
};
static struct jfile jfiles[JSONL_FILES];
static int next_id;

static void make_vocab(void)
{
    static const char *syl[] = {"ka",  "lo",  "mi",  "nu",  "re",  "sa",  "ti",  "vo",  "ze",
                                "bra", "ple", "sto", "gri", "fan", "dul", "mor", "pex", "quin"};
    int ns = (int)(sizeof syl / sizeof *syl);
    for (int a = 0; a < ns && n_vocab < 400; a++)
        for (int b = 0; b < ns && n_vocab < 400; b++) {
            snprintf(vocab[n_vocab], sizeof vocab[0], "%s%s", syl[a], syl[(b * 7 + a) % ns]);
            int dup = 0;
            for (int k = 0; k < n_vocab && !dup; k++)
                dup = !strcmp(vocab[k], vocab[n_vocab]);
            if (!dup)
                n_vocab++;
        }
}

/* A word, skewed towards the first ones (roughly Zipfian). */
static const char *word(void)
{
    uint32_t r = kqt_rand_below(1000);
    uint32_t i = r < 500   ? kqt_rand_below(12)
                 : r < 850 ? kqt_rand_below(60)
                           : kqt_rand_below((uint64_t)n_vocab);
    return vocab[i];
}

static void text(char *out, size_t cap, int n)
{
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n && len + 20 < cap; i++) {
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? " " : "", word());
        if (i % 11 == 10 && len + 3 < cap)
            len += (size_t)snprintf(out + len, cap - len, ".");
    }
}

static void write_bytes(const char *path, const char *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot write %s: %s", path, strerror(errno));
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Gives the file a modification time of its own in the past, or leaves it as written
 * (now: racily new). */
static void set_time(const char *path)
{
    if (kqt_rand_below(2))
        return;
    struct timespec ts[2] = {{clock_s, 0}, {clock_s, 0}};
    clock_s += 7;
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void write_doc(const char *path)
{
    char body[8192], title[256];
    text(title, sizeof title, 1 + (int)kqt_rand_below(4));
    text(body, sizeof body, 5 + (int)kqt_rand_below(200));
    char all[8800];
    int n = strstr(path, ".md") ? snprintf(all, sizeof all, "# %s\n\n%s\n", title, body)
                                : snprintf(all, sizeof all, "%s\n%s\n", title, body);
    write_bytes(path, all, (size_t)n);
    set_time(path);
}

/* Rewrites a file with other words of exactly its size. */
static void write_same_size(const char *path)
{
    size_t len;
    char *old = kqt_read_file(path, &len);
    char body[8192];
    text(body, sizeof body, 400);
    for (size_t i = 0; i < len; i++)
        if (old[i] != '\n' && old[i] != '#')
            old[i] = body[i % strlen(body)] ? body[i % strlen(body)] : 'x';
    write_bytes(path, old, len);
    free(old);
    set_time(path);
}

static void add_file(const char *dir)
{
    assert_true(n_files < MAX_FILES);
    struct file *f = &files[n_files++];
    snprintf(f->path, sizeof f->path, "%.2000s/f%03d.%s", dir, n_files % 1000,
             kqt_rand_below(2) ? "md" : "txt");
    f->alive = 1;
    write_doc(f->path);
}

static int pick_alive(void)
{
    for (int tries = 0; tries < 1000; tries++) {
        int i = (int)kqt_rand_below((uint64_t)n_files);
        if (files[i].alive)
            return i;
    }
    return -1;
}

static void jline_new(struct jline *l)
{
    snprintf(l->id, sizeof l->id, "j%d", next_id++);
    text(l->text, sizeof l->text, 4 + (int)kqt_rand_below(60));
}

static void write_jsonl(struct jfile *j)
{
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (int i = 0; i < j->n; i++) {
        char title[128];
        text(title, sizeof title, 1 + (int)kqt_rand_below(3));
        len += (size_t)snprintf(buf + len, cap - len,
                                "{\"_id\":\"%s\",\"title\":\"%s\",\"text\":\"%s\"}\n",
                                j->lines[i].id, title, j->lines[i].text);
        if (i % 9 == 4)
            len += (size_t)snprintf(buf + len, cap - len, "\n"); /* a blank line */
    }
    write_bytes(j->path, buf, len);
    free(buf);
    set_time(j->path);
}

/* Titles are drawn anew on every write: a JSON-lines rewrite changes only the lines whose
 * bytes change, so they are made of the id and text alone to keep the others stable. */
static void write_jsonl_stable(struct jfile *j)
{
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (int i = 0; i < j->n; i++) {
        len += (size_t)snprintf(buf + len, cap - len,
                                "{\"_id\":\"%s\",\"title\":\"%.*s\",\"text\":\"%s\"}\n",
                                j->lines[i].id, 12, j->lines[i].text, j->lines[i].text);
        if (i % 9 == 4)
            len += (size_t)snprintf(buf + len, cap - len, "\n");
    }
    write_bytes(j->path, buf, len);
    free(buf);
    set_time(j->path);
}

/* ---- comparing two indexes ---- */

struct hit {
    char key[4400]; /* path, tab, id */
    double score;
};

static void doc_key(const kq_index *ix, uint32_t doc, char *key, size_t cap)
{
    struct kq_doc d;
    kq_error err;
    if (kq_index_doc(ix, doc, &d, &err))
        fail_msg("doc %u: %s", doc, err.msg);
    snprintf(key, cap, "%.*s\t%.*s", (int)d.path_len, d.path, (int)d.id_len, d.id);
}

static int hit_cmp(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->key, y->key);
}

static struct hit *run_query(const kq_index *ix, const char *qs, uint32_t k, uint32_t *n,
                             uint64_t *count)
{
    kq_query *q;
    kq_error err;
    if (kq_query_parse(qs, strlen(qs), an, 0, NULL, &q, &err))
        fail_msg("parse '%s': %s", qs, err.msg);
    struct kq_search_opts o;
    kq_search_opts_init(&o);
    o.k = k;
    struct kq_results r;
    if (kq_eval(ix, q, &o, &r, &err))
        fail_msg("eval '%s': %s", qs, err.msg);
    struct hit *h = calloc(r.n ? r.n : 1, sizeof *h);
    assert_non_null(h);
    for (uint32_t i = 0; i < r.n; i++) {
        doc_key(ix, r.hits[i].doc, h[i].key, sizeof h[i].key);
        h[i].score = r.hits[i].score;
    }
    *n = r.n;
    kq_results_release(&r);
    o.count_only = 1;
    if (kq_eval(ix, q, &o, &r, &err))
        fail_msg("count '%s': %s", qs, err.msg);
    *count = r.total;
    kq_results_release(&r);
    kq_query_free(q);
    return h;
}

static void compare_query(const kq_index *inc, const kq_index *full, const char *qs, int round)
{
    uint32_t na, nb;
    uint64_t ca, cb;
    /* every hit */
    struct hit *a = run_query(inc, qs, 1000, &na, &ca);
    struct hit *b = run_query(full, qs, 1000, &nb, &cb);
    if (ca != cb || na != nb)
        fail_msg("round %d, '%s': %u hits (count %llu) updated, %u (count %llu) rebuilt", round, qs,
                 na, (unsigned long long)ca, nb, (unsigned long long)cb);
    qsort(a, na, sizeof *a, hit_cmp);
    qsort(b, nb, sizeof *b, hit_cmp);
    for (uint32_t i = 0; i < na; i++)
        if (strcmp(a[i].key, b[i].key) || a[i].score != b[i].score)
            fail_msg("round %d, '%s', hit %u: updated %s %.17g, rebuilt %s %.17g", round, qs, i,
                     a[i].key, a[i].score, b[i].key, b[i].score);
    free(a);
    free(b);
    /* the top 10, with pruning: equal scores; equal hits above the tenth score */
    a = run_query(inc, qs, 10, &na, &ca);
    b = run_query(full, qs, 10, &nb, &cb);
    assert_int_equal(na, nb);
    qsort(a, na, sizeof *a, hit_cmp);
    qsort(b, nb, sizeof *b, hit_cmp);
    for (uint32_t i = 0; i < na; i++) {
        if (a[i].score != b[i].score)
            fail_msg("round %d, '%s', top-10 hit %u: score %.17g updated, %.17g rebuilt", round, qs,
                     i, a[i].score, b[i].score);
        if (a[i].score > a[na - 1].score && strcmp(a[i].key, b[i].key))
            fail_msg("round %d, '%s', top-10 hit %u: %s updated, %s rebuilt", round, qs, i,
                     a[i].key, b[i].key);
    }
    free(a);
    free(b);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The live documents, as sorted strings; checks the ids that are not live. */
static char **live_docs(const kq_index *ix, uint32_t *n_out)
{
    struct kq_index_info info;
    kq_index_get_info(ix, &info);
    assert_int_equal(info.doc_id_limit, info.n_docs + info.n_deleted);
    char **v = calloc(info.n_docs ? info.n_docs : 1, sizeof *v);
    assert_non_null(v);
    uint32_t n = 0, gone = 0;
    for (uint32_t d = 0; d < info.doc_id_limit; d++) {
        struct kq_doc doc;
        kq_error err;
        int rc = kq_index_doc(ix, d, &doc, &err);
        if (rc == KQ_ENOTFOUND) {
            char *t;
            size_t l;
            assert_int_equal(kq_index_doc_text(ix, d, &t, &l, NULL), KQ_ENOTFOUND);
            assert_int_equal(kq_index_doc_len(ix, KQ_FIELD_TEXT, d), 0);
            gone++;
            continue;
        }
        if (rc)
            fail_msg("doc %u: %s", d, err.msg);
        assert_true(n < info.n_docs);
        char buf[9000];
        snprintf(buf, sizeof buf, "%.*s\t%.*s\t%u\t%016llx\t%.*s\t%u\t%u", (int)doc.path_len,
                 doc.path, (int)doc.id_len, doc.id, doc.line, (unsigned long long)doc.hash,
                 (int)doc.title_len, doc.title, doc.len[0], doc.len[1]);
        v[n++] = strdup(buf);
    }
    assert_int_equal(n, info.n_docs);
    assert_int_equal(gone, info.n_deleted);
    qsort(v, n, sizeof *v, cmp_str);
    *n_out = n;
    return v;
}

static const char *queries[64];
static char qbuf[64][160];
static int n_queries;

static void make_queries(void)
{
    const char *w0 = vocab[0], *w1 = vocab[1], *w2 = vocab[2], *w5 = vocab[5];
    const char *w20 = vocab[20], *w40 = vocab[40], *w90 = vocab[90], *w200 = vocab[200];
    const char *fmt[][5] = {
        {"%s", w0},
        {"%s", w5},
        {"%s", w90},
        {"%s", w200},
        {"zzzabsent"},
        {"%s %s", w0, w20},
        {"%s %s %s", w1, w40, w90},
        {"\"%s %s\"", w0, w1},
        {"\"%s %s %s\"", w2, w0, w1},
        {"%s AND %s", w1, w2},
        {"%s OR %s", w5, w40},
        {"%s NOT %s", w0, w1},
        {"+%s -%s %s", w2, w5, w20},
        {"(%s OR %s) AND %s", w40, w90, w0},
        {"%s*", "ka"},
        {"%s*", "mo"},
        {"bra* %s", w1},
        {"title:%s", w0},
        {"title:%s %s", w2, w5},
        {"text:%s", w20},
        {"%s^2.5 %s", w1, w2},
        {"\"%s %s\"^3 OR title:%s", w0, w2, w1},
        {"+title:%s +%s", w0, w1},
        {"-%s %s", w0, w40},
        {"(%s AND NOT %s) OR \"%s %s\"", w1, w0, w5, w2},
    };
    n_queries = (int)(sizeof fmt / sizeof *fmt);
    for (int i = 0; i < n_queries; i++) {
        snprintf(qbuf[i], sizeof qbuf[i], fmt[i][0], fmt[i][1], fmt[i][2], fmt[i][3], fmt[i][4]);
        queries[i] = qbuf[i];
    }
}

static void compare(const char *inc_dir, const char *full_dir, int round)
{
    kq_index *inc, *full;
    kq_error err;
    if (kq_index_open(inc_dir, &inc, &err))
        fail_msg("open updated: %s", err.msg);
    if (kq_index_open(full_dir, &full, &err))
        fail_msg("open rebuilt: %s", err.msg);
    struct kq_index_info a, b;
    kq_index_get_info(inc, &a);
    kq_index_get_info(full, &b);
    assert_int_equal(a.n_docs, b.n_docs);
    assert_int_equal(b.n_deleted, 0);
    assert_int_equal(a.total_len[0], b.total_len[0]);
    assert_int_equal(a.total_len[1], b.total_len[1]);
    uint32_t na, nb;
    char **da = live_docs(inc, &na), **db = live_docs(full, &nb);
    assert_int_equal(na, nb);
    for (uint32_t i = 0; i < na; i++) {
        if (strcmp(da[i], db[i]))
            fail_msg("round %d: live document %u: updated '%s', rebuilt '%s'", round, i, da[i],
                     db[i]);
        free(da[i]);
        free(db[i]);
    }
    free(da);
    free(db);
    for (int i = 0; i < n_queries; i++)
        compare_query(inc, full, queries[i], round);
    kq_index_close(inc);
    kq_index_close(full);
    if (kq_index_verify(inc_dir, NULL, NULL, &err))
        fail_msg("round %d: verify: %s", round, err.msg);
}

static void build(const char *dir, int full, int no_merge, struct kq_build_stats *st)
{
    struct kq_build_opts o = {0};
    o.b = -1;
    o.n_threads = 2;
    o.full = full;
    o.no_merge = no_merge;
    const char *paths[] = {docs};
    kq_error err;
    if (kq_index_build(dir, paths, 1, &o, st, &err))
        fail_msg("build %s: %s", dir, err.msg);
}

static void change_round(int round)
{
    /* files: modified, same size, touched, rewritten identically, deleted, added */
    for (int k = 0; k < 3; k++) {
        int i = pick_alive();
        if (i >= 0)
            write_doc(files[i].path);
    }
    int i = pick_alive();
    if (i >= 0)
        write_same_size(files[i].path);
    for (int k = 0; k < 2; k++) {
        i = pick_alive();
        if (i < 0)
            continue;
        struct timespec ts[2] = {{clock_s, 0}, {clock_s, 0}};
        clock_s += 7;
        assert_int_equal(utimensat(AT_FDCWD, files[i].path, ts, 0), 0);
    }
    i = pick_alive();
    if (i >= 0) {
        size_t len;
        char *same = kqt_read_file(files[i].path, &len);
        write_bytes(files[i].path, same, len);
        free(same);
    }
    for (int k = 0; k < 3; k++) {
        i = pick_alive();
        if (i >= 0) {
            assert_int_equal(unlink(files[i].path), 0);
            files[i].alive = 0;
        }
    }
    char sub[2048];
    snprintf(sub, sizeof sub, "%s/r%d", docs, round);
    assert_int_equal(mkdir(sub, 0755), 0);
    for (int k = 0; k < 4; k++)
        add_file(k % 2 ? sub : docs);
    if (round == 3) { /* a whole folder goes */
        char dead[2048];
        snprintf(dead, sizeof dead, "%s/r1", docs);
        for (int f = 0; f < n_files; f++)
            if (files[f].alive && !strncmp(files[f].path, dead, strlen(dead)) &&
                files[f].path[strlen(dead)] == '/')
                files[f].alive = 0;
        kqt_rmrf(dead);
    }
    /* JSON lines: modified in place, one deleted (the lines after it move), appended, an id
     * changed */
    struct jfile *j = &jfiles[round % JSONL_FILES];
    for (int k = 0; k < 2 && j->n; k++)
        text(j->lines[kqt_rand_below((uint64_t)j->n)].text, sizeof j->lines[0].text,
             4 + (int)kqt_rand_below(60));
    if (j->n > 4) {
        int d = (int)kqt_rand_below((uint64_t)j->n);
        memmove(&j->lines[d], &j->lines[d + 1], (size_t)(j->n - d - 1) * sizeof j->lines[0]);
        j->n--;
    }
    for (int k = 0; k < 3 && j->n < MAX_LINES; k++)
        jline_new(&j->lines[j->n++]);
    if (j->n)
        snprintf(j->lines[kqt_rand_below((uint64_t)j->n)].id, sizeof j->lines[0].id, "renamed%d",
                 round);
    write_jsonl_stable(j);
}

static void test_rounds(void **state)
{
    (void)state;
    kqt_seed(0x1c0ffee);
    root = kqt_tmpdir();
    snprintf(docs, sizeof docs, "%s/docs", root);
    assert_int_equal(mkdir(docs, 0755), 0);
    char inc[2048], full[2048];
    snprintf(inc, sizeof inc, "%s/inc", root);
    snprintf(full, sizeof full, "%s/full", root);
    for (int i = 0; i < 100; i++)
        add_file(docs);
    for (int k = 0; k < JSONL_FILES; k++) {
        snprintf(jfiles[k].path, sizeof jfiles[k].path, "%s/data%d.jsonl", docs, k);
        for (int i = 0; i < 30; i++)
            jline_new(&jfiles[k].lines[jfiles[k].n++]);
        if (k == 0)
            write_jsonl(&jfiles[k]);
        else
            write_jsonl_stable(&jfiles[k]);
    }
    make_queries();

    struct kq_build_stats st;
    build(inc, 0, 0, &st);
    assert_int_equal(st.incremental, 0);
    {
        /* the first segment has a store dictionary and later small ones do not: merges then
         * copy some store blocks and compress others again */
        kq_index *x;
        assert_int_equal(kq_index_open(inc, &x, NULL), 0);
        assert_true(x->segs[0].f.sec[KQ_SEC_ZDIC].len > 0);
        kq_index_close(x);
    }
    build(full, 1, 0, &st);
    compare(inc, full, 0);

    uint32_t max_segments = 1;
    int rounds = 8;
    for (int round = 1; round <= rounds; round++) {
        if (round == 5) {
            /* nothing changed: nothing committed */
            build(inc, 0, 0, &st);
            assert_int_equal(st.incremental, 1);
            assert_int_equal(st.committed, 0);
            assert_int_equal(st.documents, 0);
            assert_int_equal(st.deleted, 0);
        }
        change_round(round);
        /* rounds 1-4 pile segments up; then the policy, a forced merge, the policy again */
        build(inc, 0, round <= 4 || round == 7, &st);
        assert_int_equal(st.incremental, 1);
        assert_int_equal(st.committed, 1);
        assert_true(st.documents > 0);
        assert_true(st.deleted > 0);
        assert_true(st.unchanged > 0);
        if (st.segments > max_segments)
            max_segments = st.segments;
        print_message("round %d: %llu indexed, %llu unchanged, %llu deleted, %llu live in %u "
                      "segments, %u merges\n",
                      round, (unsigned long long)st.documents, (unsigned long long)st.unchanged,
                      (unsigned long long)st.deleted, (unsigned long long)st.live, st.segments,
                      st.merges);
        if (round == 6) {
            struct kq_build_stats ms;
            kq_error err;
            if (kq_index_merge(inc, 2, NULL, &ms, &err))
                fail_msg("merge: %s", err.msg);
            assert_true(ms.segments <= 2);
            /* a second forced merge has nothing left to do... unless deletions remain */
            if (kq_index_merge(inc, 2, NULL, &ms, &err))
                fail_msg("merge: %s", err.msg);
            assert_int_equal(ms.committed, 0);
        }
        kqt_rmrf(full);
        build(full, 1, 0, &st);
        compare(inc, full, round);
    }
    assert_true(max_segments >= 4); /* the rounds did run across many segments */
    kqt_rmrf(root);
    free(root);
}

static int setup(void **state)
{
    (void)state;
    make_vocab();
    kq_error err;
    return kq_analyzer_new("english", &an, &err);
}

static int teardown(void **state)
{
    (void)state;
    kq_analyzer_free(an);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
