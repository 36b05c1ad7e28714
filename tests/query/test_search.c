/* tests/query/test_search.c: kq_search end to end over real indexes: ranked hits with
 * snippets and lines, the JSON form, counts, flags, errors, JSON-lines documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "kq/search.h"
#include "testutil.h"

static char *build_index(const char *const *paths, size_t n, char **tmp_out)
{
    char *tmp = kqt_tmpdir();
    char *dir = malloc(strlen(tmp) + 8);
    sprintf(dir, "%s/ix", tmp);
    struct kq_build_opts o = {0};
    o.b = -1;
    o.n_threads = 2;
    kq_error err;
    if (kq_index_build(dir, paths, n, &o, NULL, &err))
        fail_msg("build: %s", err.msg);
    *tmp_out = tmp;
    return dir;
}

static void test_corpus(void **state)
{
    (void)state;
    char corpus[4096];
    snprintf(corpus, sizeof corpus, "%s/corpus", kqt_source_dir());
    const char *paths[] = {corpus};
    char *tmp, *dir = build_index(paths, 1, &tmp);
    kq_searcher *s;
    kq_error err;
    assert_int_equal(kq_searcher_open(dir, &s, &err), 0);
    struct kq_search_request req = {"reciprocal defense procurement", 30, 10, 0, 0, -1, -1, 0};
    kq_result *r;
    assert_int_equal(kq_search(s, &req, &r, &err), 0);
    assert_int_equal(kq_result_total(r), 5);
    assert_int_equal(kq_result_count(r), 5);
    struct kq_search_hit h;
    double prev = 1e300;
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal(kq_result_hit(r, i, &h), 0);
        assert_true(h.score <= prev);
        prev = h.score;
        assert_true(h.n_highlights > 0);
        /* the line holds the first matched word at the column */
        char path[4096];
        snprintf(path, sizeof path, "%.*s", (int)h.path_len, h.path);
        char *text = kqt_read_file(path, NULL);
        char *line = kqt_line(text, (int)h.line);
        assert_true(h.col >= 1 && h.col <= strlen(line));
        assert_true(!strncasecmp(line + h.col - 1, "reciproc", 8) ||
                    !strncasecmp(line + h.col - 1, "defen", 5) ||
                    !strncasecmp(line + h.col - 1, "procur", 6));
        free(line);
        free(text);
    }
    assert_int_equal(kq_result_hit(r, 0, &h), 0);
    assert_non_null(strstr(h.id, "000_2d90944b1258bdb7.txt"));
    assert_int_equal(kq_result_hit(r, 5, &h), KQ_ENOTFOUND);

    /* the JSON form holds the same hits */
    char *json;
    size_t len;
    assert_int_equal(kq_result_json(r, &json, &len, &err), 0);
    assert_int_equal(strlen(json), len);
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 5);
    json_t *hits = json_object_get(j, "hits");
    assert_int_equal(json_array_size(hits), 5);
    for (uint32_t i = 0; i < 5; i++) {
        kq_result_hit(r, i, &h);
        json_t *o = json_array_get(hits, i);
        assert_int_equal(strlen(json_string_value(json_object_get(o, "id"))), h.id_len);
        assert_int_equal(json_integer_value(json_object_get(o, "line")), h.line);
        assert_string_equal(json_string_value(json_object_get(o, "snippet")), h.snippet);
        assert_int_equal(json_array_size(json_object_get(o, "highlights")), h.n_highlights);
    }
    json_decref(j);
    kq_free(json);
    kq_result_free(r);

    /* paging, count, no snippets */
    req.k = 2;
    req.offset = 3;
    assert_int_equal(kq_search(s, &req, &r, &err), 0);
    assert_int_equal(kq_result_count(r), 2);
    assert_int_equal(kq_result_total(r), 5);
    kq_result_free(r);
    req.k = 1;
    req.offset = 0;
    assert_int_equal(kq_search(s, &req, &r, &err), 0);
    assert_int_equal(kq_result_total(r), 5); /* exact even when pruning stops early */
    kq_result_free(r);
    req.flags = KQ_SEARCH_COUNT;
    assert_int_equal(kq_search(s, &req, &r, &err), 0);
    assert_int_equal(kq_result_total(r), 5);
    assert_int_equal(kq_result_count(r), 0);
    kq_result_free(r);
    req.flags = KQ_SEARCH_NO_SNIPPETS;
    assert_int_equal(kq_search(s, &req, &r, &err), 0);
    kq_result_hit(r, 0, &h);
    assert_int_equal(h.snippet_len, 0);
    kq_result_free(r);

    /* errors: the byte offset of a syntax error; plain text never errs */
    req.query = "defense AND";
    req.len = strlen(req.query);
    req.flags = 0;
    assert_int_equal(kq_search(s, &req, &r, &err), KQ_ESYNTAX);
    assert_null(r);
    assert_true(err.offset >= 8);
    req.flags = KQ_SEARCH_PLAIN;
    assert_int_equal(kq_search(s, &req, &r, &err), 0);
    assert_true(kq_result_count(r) > 0);
    kq_result_free(r);
    req.query = "zzzqqqxx";
    req.len = strlen(req.query);
    assert_int_equal(kq_search(s, &req, &r, &err), 0);
    assert_int_equal(kq_result_count(r), 0);
    assert_int_equal(kq_result_total(r), 0);
    kq_result_free(r);

    kq_searcher_close(s);
    kqt_rmrf(tmp);
    free(tmp);
    free(dir);
}

/* A searcher over an index of one JSON-lines file, docs.jsonl, holding `lines`. */
struct jsonl_fixture {
    char *tmp0, *tmp, *dir;
    char path[4096];
    kq_searcher *s;
};

static void jsonl_open(struct jsonl_fixture *x, const char *lines)
{
    x->tmp0 = kqt_tmpdir();
    snprintf(x->path, sizeof x->path, "%s/docs.jsonl", x->tmp0);
    FILE *f = fopen(x->path, "w");
    assert_non_null(f);
    fputs(lines, f);
    fclose(f);
    const char *paths[] = {x->path};
    x->dir = build_index(paths, 1, &x->tmp);
    kq_error err;
    assert_int_equal(kq_searcher_open(x->dir, &x->s, &err), 0);
}

static void jsonl_close(struct jsonl_fixture *x)
{
    kq_searcher_close(x->s);
    kqt_rmrf(x->tmp);
    kqt_rmrf(x->tmp0);
    free(x->tmp);
    free(x->tmp0);
    free(x->dir);
}

static void test_jsonl(void **state)
{
    (void)state;
    struct jsonl_fixture x;
    jsonl_open(&x, "{\"_id\":\"a\",\"title\":\"Apples\",\"text\":\"red apples and pears\"}\n\n"
                   "{\"_id\":\"b\",\"title\":\"Pears\",\"text\":\"green pears\\nsecond line "
                   "pears\"}\n");
    kq_searcher *s = x.s;
    kq_error err;
    struct kq_search_request req = {"pears", 5, 10, 0, 0, -1, -1, 0};
    kq_result *r;
    assert_int_equal(kq_search(s, &req, &r, &err), 0);
    assert_int_equal(kq_result_count(r), 2);
    struct kq_search_hit h;
    kq_result_hit(r, 0, &h);
    assert_int_equal(h.id_len, 1);
    assert_memory_equal(h.id, "b", 1); /* tf 2 beats tf 1 */
    assert_int_equal(h.line, 3);       /* its line in docs.jsonl */
    assert_int_equal(h.path_len, strlen(x.path));
    assert_int_equal(h.title_len, 5);
    kq_result_hit(r, 1, &h);
    assert_memory_equal(h.id, "a", 1);
    assert_int_equal(h.line, 1);
    kq_result_free(r);
    jsonl_close(&x);
}

/* The ids of the hits of `q` (k 10), in rank order, comma-separated. */
static void hit_ids(kq_searcher *s, const char *q, char *out, size_t cap)
{
    struct kq_search_request req = {q, strlen(q), 10, 0, 0, -1, -1, 0};
    kq_result *r;
    kq_error err;
    assert_int_equal(kq_search(s, &req, &r, &err), 0);
    size_t n = 0;
    out[0] = 0;
    for (uint32_t i = 0; i < kq_result_count(r); i++) {
        struct kq_search_hit h;
        kq_result_hit(r, i, &h);
        n += (size_t)snprintf(out + n, cap - n, "%s%.*s", i ? "," : "", (int)h.id_len, h.id);
        if (!strcmp(q, "procurement*")) { /* the snippets mark the words found */
            assert_true(h.n_highlights >= 1);
            for (uint32_t j = 0; j < h.n_highlights; j++)
                assert_memory_equal(h.snippet + h.highlights[j].start, "procure", 7);
        }
    }
    kq_result_free(r);
}

/* A prefix of a whole word also finds the words that share its stem (English). */
static void test_prefix_stems(void **state)
{
    (void)state;
    struct jsonl_fixture x;
    jsonl_open(&x, "{\"_id\":\"a\",\"text\":\"we procure parts\"}\n"
                   "{\"_id\":\"b\",\"text\":\"procurements and procurements\"}\n"
                   "{\"_id\":\"c\",\"text\":\"a procedure\"}\n"
                   "{\"_id\":\"d\",\"text\":\"running late\"}\n");
    static const struct {
        const char *q, *ids;
    } cases[] = {
        {"procurement*", "b,a"}, /* the stem procur: procure, procurements */
        {"procurements*", "b,a"},
        {"procure*", "b,a"},
        {"procur*", "b,a"},     /* the stem is the text: the range alone */
        {"proc*", "c,b,a"},
        {"procedures*", "c"},
        {"runs*", "d"},         /* run: a stem shorter than the text */
        {"procurementz*", ""},  /* its stem is itself: nothing starts with it */
        {"+procurement* +we", "a"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[64];
        hit_ids(x.s, cases[i].q, got, sizeof got);
        if (strcmp(got, cases[i].ids))
            fail_msg("%s: got [%s], want [%s]", cases[i].q, got, cases[i].ids);
    }
    jsonl_close(&x);
}

/* A document found through a prefix's 40th word has it highlighted: the snippet weighs as
 * many expansions as the query (128 by default). */
static void test_prefix_highlights(void **state)
{
    (void)state;
    char docs[2048];
    size_t n = (size_t)snprintf(docs, sizeof docs, "{\"_id\":\"a\",\"text\":\"");
    for (int i = 0; i < 39; i++)
        n += (size_t)snprintf(docs + n, sizeof docs - n, "pre%03dx ", i);
    snprintf(docs + n, sizeof docs - n,
             "\"}\n{\"_id\":\"b\",\"title\":\"Other words\",\"text\":\"only pre039x "
             "here\"}\n");
    struct jsonl_fixture x;
    jsonl_open(&x, docs);
    struct kq_search_request req = {"pre*", 4, 10, 0, 0, -1, -1, 0};
    kq_result *r;
    kq_error err;
    assert_int_equal(kq_search(x.s, &req, &r, &err), 0);
    assert_int_equal(kq_result_count(r), 2);
    for (uint32_t i = 0; i < 2; i++) {
        struct kq_search_hit h;
        kq_result_hit(r, i, &h);
        if (h.id[0] == 'b') {
            assert_int_equal(h.n_highlights, 1);
            assert_memory_equal(h.snippet + h.highlights[0].start, "pre039x", 7);
        }
    }
    kq_result_free(r);
    jsonl_close(&x);
}

/* A word the query holds only inside a phrase is highlighted where the phrase occurs; one
 * it also holds alone, anywhere. */
static void test_phrase_highlights(void **state)
{
    (void)state;
    struct jsonl_fixture x;
    jsonl_open(&x, "{\"_id\":\"a\",\"text\":\"co-development and co-production\"}\n");
    static const struct {
        const char *q;
        uint32_t n;
    } cases[] = {{"\"co production\"", 2}, {"co-production", 2}, {"co \"co production\"", 3}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct kq_search_request req = {cases[i].q, strlen(cases[i].q), 10, 0, 0, -1, -1, 0};
        kq_result *r;
        kq_error err;
        assert_int_equal(kq_search(x.s, &req, &r, &err), 0);
        assert_int_equal(kq_result_count(r), 1);
        struct kq_search_hit h;
        kq_result_hit(r, 0, &h);
        if (h.n_highlights != cases[i].n)
            fail_msg("%s: %u highlights in '%s'", cases[i].q, h.n_highlights, h.snippet);
        if (cases[i].n == 2) /* both in co-production */
            assert_int_equal(h.highlights[0].start, strstr(h.snippet, "co-production") - h.snippet);
        kq_result_free(r);
    }
    jsonl_close(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_jsonl),
        cmocka_unit_test(test_prefix_stems),
        cmocka_unit_test(test_prefix_highlights),
        cmocka_unit_test(test_phrase_highlights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
