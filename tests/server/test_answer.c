/* tests/server/test_answer.c: the client side of the protocol (server/answer.c): a search
 * result turned back into hits equals what kq_result_hit gives (so kq prints the same
 * whether the daemon or kq_search produced the result), answers split into result or
 * error, request lines that the server's parser reads back as the same request, and the
 * truncation and allocation-failure sweeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "kq/client.h"
#include "kq/search.h"
#include "server/protocol.h"
#include "testutil.h"
#include "util/alloc.h"
#include "util/path.h"

static char *tmp, *ixdir, *root;

static int setup(void **state)
{
    (void)state;
    tmp = kqt_tmpdir();
    ixdir = malloc(strlen(tmp) + 8);
    sprintf(ixdir, "%s/ix", tmp);
    char corpus[4096], jsonl[4096];
    snprintf(corpus, sizeof corpus, "%s/corpus", kqt_source_dir());
    snprintf(jsonl, sizeof jsonl, "%s/docs.jsonl", tmp);
    FILE *f = fopen(jsonl, "w");
    fputs("{\"_id\":\"j1\",\"title\":\"Alliance notes\",\"text\":\"the alliance and defense "
          "procurement\"}\n{\"_id\":\"j2\",\"title\":\"\",\"text\":\"nothing to see\"}\n",
          f);
    fclose(f);
    const char *paths[] = {corpus, jsonl};
    struct kq_build_opts o = {0};
    o.b = -1;
    o.n_threads = 2;
    kq_error err;
    if (kq_index_build(ixdir, paths, 2, &o, NULL, &err))
        fail_msg("build: %s", err.msg);
    if (kq__path_root(ixdir, &root, &err))
        fail_msg("root: %s", err.msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kqt_rmrf(tmp);
    free(tmp);
    free(ixdir);
    kq__free(root);
    return 0;
}

static void check_same(const kq_result *r, const kq_hits *h)
{
    assert_int_equal(kq_hits_total(h), kq_result_total(r));
    assert_int_equal(kq_hits_took_us(h), kq_result_took_us(r));
    assert_int_equal(kq_hits_count(h), kq_result_count(r));
    for (uint32_t i = 0; i < kq_result_count(r); i++) {
        struct kq_search_hit a, b;
        assert_int_equal(kq_result_hit(r, i, &a), 0);
        assert_int_equal(kq_hits_get(h, i, &b), 0);
        assert_int_equal(b.doc, KQ_NO_DOC);
        assert_int_equal(a.id_len, b.id_len);
        assert_memory_equal(a.id, b.id, a.id_len);
        /* the wire's path is absolute: the index's root joined with a relative one */
        char want[8192];
        snprintf(want, sizeof want, "%s%s%.*s", a.path[0] == '/' ? "" : root,
                 a.path[0] == '/' ? "" : "/", (int)a.path_len, a.path);
        assert_int_equal(strlen(want), b.path_len);
        assert_memory_equal(want, b.path, b.path_len);
        assert_int_equal(a.title_len, b.title_len);
        assert_memory_equal(a.title, b.title, a.title_len);
        assert_int_equal(a.snippet_len, b.snippet_len);
        assert_memory_equal(a.snippet, b.snippet, a.snippet_len);
        assert_int_equal(a.n_highlights, b.n_highlights);
        for (uint32_t k = 0; k < a.n_highlights; k++) {
            assert_int_equal(a.highlights[k].start, b.highlights[k].start);
            assert_int_equal(a.highlights[k].end, b.highlights[k].end);
        }
        assert_int_equal(a.line, b.line);
        assert_int_equal(a.col, b.col);
        /* 10 significant digits on the wire */
        assert_true(a.score - b.score < 1e-9 * a.score && b.score - a.score < 1e-9 * a.score);
        /* a file's id is its path as indexed, the end of the wire's path; kq prints the
         * id only when it is not */
        int file = !(b.path_len >= 6 && !memcmp(b.path + b.path_len - 6, ".jsonl", 6));
        if (file) /* its path is its id (absolute) or ends with "/" and its id */
            assert_true(b.id_len <= b.path_len &&
                        !memcmp(b.path + b.path_len - b.id_len, b.id, b.id_len) &&
                        (b.id_len == b.path_len || b.path[b.path_len - b.id_len - 1] == '/'));
        assert_int_equal(a.id == a.path, file);
    }
}

static void test_roundtrip(void **state)
{
    (void)state;
    kq_searcher *s;
    kq_error err;
    assert_int_equal(kq_searcher_open(ixdir, &s, &err), 0);
    static const struct {
        const char *q;
        int flags;
        uint32_t k;
    } qs[] = {
        {"reciprocal defense procurement", 0, 10}, {"alliance", 0, 3},
        {"alliance", KQ_SEARCH_NO_SNIPPETS, 10},   {"\"defense procurement\"", 0, 10},
        {"zzzzqqq", 0, 10},                        {"alliance defense", KQ_SEARCH_COUNT, 10},
    };
    int saw_jsonl = 0;
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        struct kq_search_request req = {qs[i].q, strlen(qs[i].q), qs[i].k, 0, qs[i].flags, -1, -1, 0};
        kq_result *r;
        assert_int_equal(kq_search(s, &req, &r, &err), 0);
        char *json;
        size_t len;
        assert_int_equal(kq_result_json(r, &json, &len, &err), 0);
        kq_hits *h;
        assert_int_equal(kq_hits_parse(json, len, &h, &err), 0);
        check_same(r, h);
        for (uint32_t k = 0; k < kq_hits_count(h); k++) {
            struct kq_search_hit hit;
            kq_hits_get(h, k, &hit);
            saw_jsonl |= !strcmp(hit.id, "j1");
        }
        assert_int_equal(kq_hits_get(h, kq_hits_count(h), &(struct kq_search_hit){0}),
                         KQ_ENOTFOUND);
        kq_hits_free(h);
        kq_free(json);
        kq_result_free(r);
    }
    assert_true(saw_jsonl);
    kq_searcher_close(s);
}

static void test_count_result(void **state)
{
    (void)state;
    kq_hits *h;
    kq_error err;
    const char j[] = "{\"total\":3,\"took_us\":35}";
    assert_int_equal(kq_hits_parse(j, sizeof j - 1, &h, &err), 0);
    assert_int_equal(kq_hits_total(h), 3);
    assert_int_equal(kq_hits_took_us(h), 35);
    assert_int_equal(kq_hits_count(h), 0);
    kq_hits_free(h);
    kq_hits_free(NULL);
}

static const char good_hits[] =
    "{\"total\":5,\"took_us\":412,\"hits\":[{\"id\":\"a\",\"path\":\"p.jsonl\",\"title\":\"T\","
    "\"score\":0.8153120359,\"line\":20,\"col\":1,\"snippet\":\"\xe2\x80\xa6x y\","
    "\"highlights\":[[3,4],[5,6]]}]}";

static void test_bad_results(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[]", "{\"took_us\":1}", "{\"total\":-1,\"took_us\":1}", "{\"total\":1}",
        "{\"total\":1,\"took_us\":1,\"hits\":{}}", "{\"total\":1,\"took_us\":1,\"hits\":[3]}",
        "{\"total\":1,\"took_us\":1,\"hits\":[{\"id\":\"a\"}]}",
        "{\"total\":1,\"took_us\":1,\"hits\":[{\"id\":\"a\",\"path\":\"p\",\"title\":\"\","
        "\"score\":\"1\",\"line\":1,\"col\":1,\"snippet\":\"\",\"highlights\":[]}]}",
        "{\"total\":1,\"took_us\":1,\"hits\":[{\"id\":\"a\",\"path\":\"p\",\"title\":\"\","
        "\"score\":1,\"line\":1,\"col\":1,\"snippet\":\"ab\",\"highlights\":[[1,3]]}]}",
        "{\"total\":1,\"took_us\":1,\"hits\":[{\"id\":\"a\",\"path\":\"p\",\"title\":\"\","
        "\"score\":1,\"line\":1,\"col\":1,\"snippet\":\"ab\",\"highlights\":[[2,1]]}]}",
        "{\"total\":1,\"took_us\":1,\"hits\":[{\"id\":\"a\",\"path\":\"p\",\"title\":\"\","
        "\"score\":1,\"line\":-1,\"col\":1,\"snippet\":\"\",\"highlights\":[]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kq_hits *h = (kq_hits *)1;
        kq_error err;
        if (kq_hits_parse(bad[i], strlen(bad[i]), &h, &err) != KQ_EBADJSON)
            fail_msg("accepted %s", bad[i]);
        assert_null(h);
    }
    /* every prefix of a good result is refused; none is read past its end */
    size_t len = sizeof good_hits - 1;
    for (size_t n = 0; n < len; n++) {
        char *copy = malloc(n + 1);
        memcpy(copy, good_hits, n);
        kq_hits *h;
        kq_error err;
        assert_int_equal(kq_hits_parse(copy, n, &h, &err), KQ_EBADJSON);
        free(copy);
    }
    /* allocation failures: KQ_ENOMEM and nothing leaked, until it succeeds */
    int reached = 0;
    for (long n = 0; n < 500 && !reached; n++) {
        kq_hits *h;
        kq_error err;
        kq_alloc_fail_after(n);
        int rc = kq_hits_parse(good_hits, len, &h, &err);
        kq_alloc_fail_after(-1);
        if (rc == 0) {
            struct kq_search_hit hit;
            assert_int_equal(kq_hits_get(h, 0, &hit), 0);
            assert_int_equal(hit.n_highlights, 2);
            assert_memory_equal(hit.snippet, "\xe2\x80\xa6x y", 6);
            kq_hits_free(h);
            reached = 1;
        } else {
            assert_int_equal(rc, KQ_ENOMEM);
            assert_null(h);
        }
    }
    assert_true(reached);
}

static void test_answer_parse(void **state)
{
    (void)state;
    const char *res, *id;
    size_t rlen, idlen;
    kq_error err;
    const char a1[] = "{\"id\":\"x\\\"y\",\"result\":{\"pong\":true, \"n\":[1,{}]} }";
    assert_int_equal(kq_answer_parse(a1, sizeof a1 - 1, &res, &rlen, &id, &idlen, &err), 0);
    assert_int_equal(rlen, strlen("{\"pong\":true, \"n\":[1,{}]}"));
    assert_memory_equal(res, "{\"pong\":true, \"n\":[1,{}]}", rlen);
    assert_memory_equal(id, "\"x\\\"y\"", idlen);

    const char a2[] = "{\"id\":5,\"error\":{\"code\":\"parse_error\",\"message\":\"unbalanced '(' "
                      "at byte 6\",\"offset\":6}}";
    assert_int_equal(kq_answer_parse(a2, sizeof a2 - 1, &res, &rlen, &id, &idlen, &err),
                     KQ_ESYNTAX);
    assert_null(res);
    assert_int_equal(err.code, KQ_ESYNTAX);
    assert_int_equal(err.offset, 6);
    assert_string_equal(err.msg, "unbalanced '(' at byte 6");
    assert_memory_equal(id, "5", idlen);

    static const struct {
        const char *code;
        int want;
    } codes[] = {{"internal", KQ_EINTERNAL},  {"too_large", KQ_ELIMIT},
                 {"overloaded", KQ_EOVERLOADED}, {"shutting_down", KQ_ESHUTDOWN},
                 {"not_found", KQ_ENOTFOUND}, {"who_knows", KQ_EINTERNAL},
                 {"ok", KQ_EINTERNAL}};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        char line[256];
        snprintf(line, sizeof line,
                 "{\"id\":null,\"error\":{\"code\":\"%s\",\"message\":\"m\",\"offset\":-1}}",
                 codes[i].code);
        assert_int_equal(kq_answer_parse(line, strlen(line), &res, &rlen, NULL, NULL, &err),
                         codes[i].want);
        assert_int_equal(err.offset, -1);
    }
    static const char *const bad[] = {
        "", "[]", "{\"id\":1}", "{\"result\":{}}", "{\"id\":1,\"result\":{},\"error\":{}}",
        "{\"id\":1,\"result\":3}", "{\"id\":1,\"error\":{\"code\":\"x\"}}",
        "{\"id\":1,\"error\":{\"message\":\"x\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (kq_answer_parse(bad[i], strlen(bad[i]), &res, &rlen, NULL, NULL, &err) !=
            KQ_EBADJSON)
            fail_msg("accepted %s", bad[i]);
}

/* A request kq writes is read back by the server as the same request. */
static void test_request_json(void **state)
{
    (void)state;
    struct kq_search_request reqs[] = {
        {"reciprocal \"defense\" \\ procurement", 0, 0, 0, 0, -1, -1, 0},
        {"x", 1, 7, 30, KQ_SEARCH_PLAIN | KQ_SEARCH_NO_SNIPPETS, 1.2, 0.75, 1.5},
        {"count me", 8, 10, 0, KQ_SEARCH_COUNT | KQ_SEARCH_PLAIN, -1, -1, 0},
        {"k\xc3\xa9y\x01", 5, 10000, 100000, 0, 0.1 + 0.2, 1.0 / 3, KQ_SEARCH_TITLE_NONE},
    };
    for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
        reqs[i].len = strlen(reqs[i].query);
        char *line;
        size_t len;
        kq_error err;
        assert_int_equal(kq_search_request_json(&reqs[i], 42 + i, &line, &len, &err), 0);
        assert_null(memchr(line, '\n', len));
        struct kq_request r;
        assert_int_equal(kq__request_parse(line, len, &r, &err), 0);
        char id[16];
        snprintf(id, sizeof id, "%zu", 42 + i);
        assert_string_equal(r.id, id);
        int count = (reqs[i].flags & KQ_SEARCH_COUNT) != 0;
        assert_int_equal(r.op, count ? KQ_OP_COUNT : KQ_OP_SEARCH);
        assert_int_equal(r.text_len, reqs[i].len);
        assert_memory_equal(r.text, reqs[i].query, r.text_len);
        assert_int_equal(r.flags, reqs[i].flags);
        if (!count) {
            assert_int_equal(r.k, reqs[i].k ? reqs[i].k : 10);
            assert_int_equal(r.offset, reqs[i].offset);
            assert_true(r.k1 == reqs[i].k1 && r.b == reqs[i].b); /* exact doubles */
            assert_true(r.title_weight == reqs[i].title_weight);
        }
        kq__request_release(&r);
        kq_free(line);
    }
    /* JSON cannot carry invalid UTF-8: the caller searches in-process */
    struct kq_search_request bad = {"a\xff", 2, 10, 0, 0, -1, -1, 0};
    char *line;
    size_t len;
    kq_error err;
    assert_int_equal(kq_search_request_json(&bad, 1, &line, &len, &err), KQ_EINVAL);
    assert_null(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),    cmocka_unit_test(test_count_result),
        cmocka_unit_test(test_bad_results),  cmocka_unit_test(test_answer_parse),
        cmocka_unit_test(test_request_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
