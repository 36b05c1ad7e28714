/* tests/server/test_reload.c: index generations (server/reload.c): a pool of searchers of
 * one generation, the id -> document map (file paths and JSON-lines ids, unknown ids), the
 * pool handing each searcher to one user at a time, a new generation after a rebuild, and
 * a corrupt index refused. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/server.h"
#include "testutil.h"

static char *tmp, *ixdir, *corpus, *jsonl, *jsonl2;

static void build(const char *const *paths, size_t n)
{
    struct kq_build_opts o = {0};
    o.b = -1;
    o.n_threads = 2;
    o.full = 1;
    kq_error err;
    if (kq_index_build(ixdir, paths, n, &o, NULL, &err))
        fail_msg("build: %s", err.msg);
}

static int setup(void **state)
{
    (void)state;
    tmp = kqt_tmpdir();
    ixdir = malloc(strlen(tmp) + 8);
    sprintf(ixdir, "%s/ix", tmp);
    corpus = malloc(4096);
    snprintf(corpus, 4096, "%s/corpus", kqt_source_dir());
    jsonl = malloc(strlen(tmp) + 16);
    sprintf(jsonl, "%s/d.jsonl", tmp);
    FILE *f = fopen(jsonl, "w");
    fputs("{\"_id\":\"j1\",\"title\":\"A\",\"text\":\"alpha\"}\n"
          "{\"_id\":\"j2\",\"title\":\"B\",\"text\":\"beta\"}\n",
          f);
    fclose(f);
    jsonl2 = malloc(strlen(tmp) + 16);
    sprintf(jsonl2, "%s/e.jsonl", tmp);
    f = fopen(jsonl2, "w");
    fputs("{\"_id\":\"j1\",\"title\":\"C\",\"text\":\"gamma\"}\n", f); /* j1 again */
    fclose(f);
    const char *paths[] = {corpus, jsonl, jsonl2};
    build(paths, 3);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kqt_rmrf(tmp);
    free(tmp);
    free(ixdir);
    free(corpus);
    free(jsonl2);
    free(jsonl);
    return 0;
}

static void test_open_and_find(void **state)
{
    (void)state;
    struct kq_gen *g;
    kq_error err;
    assert_int_equal(kq__gen_open(ixdir, 3, &g, &err), 0);
    assert_int_equal(g->refs, 1);
    assert_int_equal(g->n_searchers, 3);
    assert_int_equal(g->n_docs, 8);
    assert_true(g->generation >= 1);
    const kq_index *ix = kq__gen_index(g);
    struct kq_index_info info;
    kq_index_get_info(ix, &info);
    /* every document is found by its id and its file's path, and only by them; by its id
     * alone, it or the last document of that id */
    for (uint32_t d = 0; d < info.doc_id_limit; d++) {
        struct kq_doc doc;
        if (kq_index_doc(ix, d, &doc, NULL))
            continue;
        char abs[8192];
        if (doc.path[0] == '/') /* outside the index's root */
            snprintf(abs, sizeof abs, "%.*s", (int)doc.path_len, doc.path);
        else
            snprintf(abs, sizeof abs, "%s/%.*s", kq_index_root(ix), (int)doc.path_len, doc.path);
        uint32_t found;
        assert_int_equal(kq__gen_find(g, doc.id, doc.id_len, abs, strlen(abs), &found), 0);
        assert_int_equal(found, d);
        assert_int_equal(kq__gen_find(g, doc.id, doc.id_len, NULL, 0, &found), 0);
        assert_true(found == d || (found > d && doc.id_len == 2 && !memcmp(doc.id, "j1", 2)));
        assert_int_equal(kq__gen_find(g, doc.id, doc.id_len - 1, NULL, 0, &found),
                         KQ_ENOTFOUND);
        assert_int_equal(kq__gen_find(g, doc.id, doc.id_len, abs, strlen(abs) - 1, &found),
                         KQ_ENOTFOUND);
    }
    uint32_t d, d2;
    assert_int_equal(kq__gen_find(g, "j2", 2, NULL, 0, &d), 0);
    assert_int_equal(kq__gen_find(g, "j3", 2, NULL, 0, &d), KQ_ENOTFOUND);
    assert_int_equal(kq__gen_find(g, "", 0, NULL, 0, &d), KQ_ENOTFOUND);
    /* one id in two JSON-lines files: the path tells them apart */
    assert_int_equal(kq__gen_find(g, "j1", 2, jsonl, strlen(jsonl), &d), 0);
    assert_int_equal(kq__gen_find(g, "j1", 2, jsonl2, strlen(jsonl2), &d2), 0);
    assert_true(d2 != d);
    struct kq_doc doc;
    assert_int_equal(kq_index_doc(ix, d2, &doc, NULL), 0);
    assert_memory_equal(doc.title, "C", 1);
    assert_int_equal(kq__gen_find(g, "j1", 2, NULL, 0, &d), 0);
    assert_int_equal(d, d2);
    /* the path of a JSON-lines file names no document: ids do */
    assert_int_equal(kq__gen_find(g, jsonl, strlen(jsonl), NULL, 0, &d), KQ_ENOTFOUND);

    /* take and give: each searcher to one user at a time */
    kq_searcher *a = kq__gen_take(g), *b = kq__gen_take(g), *c = kq__gen_take(g);
    assert_true(a != b && b != c && a != c);
    kq__gen_give(g, b);
    assert_ptr_equal(kq__gen_take(g), b);
    kq__gen_give(g, a);
    kq__gen_give(g, b);
    kq__gen_give(g, c);
    kq__gen_ref(g);
    kq__gen_unref(g);
    assert_int_equal(g->refs, 1);
    kq__gen_unref(g);
}

struct worker {
    struct kq_gen *g;
    int rounds;
    int failures;
};

static void *search_loop(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->rounds; i++) {
        kq_searcher *s = kq__gen_take(w->g);
        struct kq_search_request req = {"alliance defense", 16, 3, 0, KQ_SEARCH_NO_SNIPPETS, -1, -1, 0};
        kq_result *r;
        if (kq_search(s, &req, &r, NULL) || kq_result_total(r) == 0)
            w->failures++;
        else
            kq_result_free(r);
        kq__gen_give(w->g, s);
    }
    return NULL;
}

/* More threads than searchers: the pool makes them wait, never share. */
static void test_pool_threads(void **state)
{
    (void)state;
    struct kq_gen *g;
    kq_error err;
    assert_int_equal(kq__gen_open(ixdir, 2, &g, &err), 0);
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){g, 10, 0};
        pthread_create(&t[i], NULL, search_loop, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(g->n_idle, 2);
    kq__gen_unref(g);
}

static void test_new_generation_and_corruption(void **state)
{
    (void)state;
    struct kq_gen *old, *g;
    kq_error err;
    assert_int_equal(kq__gen_open(ixdir, 1, &old, &err), 0);
    const char *paths[] = {jsonl};
    build(paths, 1);
    assert_int_equal(kq__gen_open(ixdir, 2, &g, &err), 0);
    assert_true(g->generation > old->generation);
    assert_int_equal(g->n_docs, 2);
    uint32_t d;
    assert_int_equal(kq__gen_find(g, "j1", 2, NULL, 0, &d), 0);
    /* the old generation still answers from its own files */
    char path[4096];
    snprintf(path, sizeof path, "%s/000_2d90944b1258bdb7.txt", corpus);
    assert_int_equal(kq__gen_find(old, path, strlen(path), NULL, 0, &d), 0);
    kq__gen_unref(old);
    kq__gen_unref(g);

    /* a corrupt manifest is refused, nothing leaks */
    snprintf(path, sizeof path, "%s/MANIFEST", ixdir);
    FILE *f = fopen(path, "r+b");
    fseek(f, 20, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 20, SEEK_SET);
    fputc(c ^ 0x55, f);
    fclose(f);
    kq_error_clear(&err);
    int rc = kq__gen_open(ixdir, 2, &g, &err);
    assert_true(rc == KQ_ECORRUPT || rc == KQ_EVERSION);
    assert_null(g);
    assert_true(err.msg[0] != '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_and_find),
        cmocka_unit_test(test_pool_threads),
        cmocka_unit_test(test_new_generation_and_corruption),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
