/* tests/text/test_stopwords.c: the stop-word lists and the analyser's stop flag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "text/text.h"

/* The binary search needs each list sorted by strcmp, without duplicates. */
static void test_sorted(void **state)
{
    (void)state;
    size_t n;
    const char *const *en = kq__stopword_list("english", &n);
    assert_non_null(en);
    assert_true(n > 100);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(en[i - 1], en[i]) < 0);
    for (size_t i = 0; i < n; i++)
        assert_true(kq__stopword(en, n, en[i], strlen(en[i])));
    assert_null(kq__stopword_list("none", &n));
    assert_int_equal(n, 0);
    assert_null(kq__stopword_list("german", &n));
}

static void test_lookup(void **state)
{
    (void)state;
    size_t n;
    const char *const *en = kq__stopword_list("english", &n);
    assert_true(kq__stopword(en, n, "the", 3));
    assert_true(kq__stopword(en, n, "thee", 3)); /* only `len` bytes count */
    assert_false(kq__stopword(en, n, "thee", 4));
    assert_false(kq__stopword(en, n, "th", 2));
    assert_false(kq__stopword(en, n, "", 0));
    assert_false(kq__stopword(en, n, "yourselvesandmore", 17)); /* longer than any */
    /* contractions that fold into ordinary words are not stop words */
    assert_false(kq__stopword(en, n, "well", 4));
    assert_false(kq__stopword(en, n, "shell", 5));
    assert_true(kq__stopword(en, n, "dont", 4));
    assert_false(kq__stopword(NULL, 0, "the", 3));
}

struct seen {
    char terms[16][KQ_TERM_MAX + 1];
    int stop[16];
    int n;
};

static int collect(void *ctx, const struct kq_token *t)
{
    struct seen *s = ctx;
    if (s->n < 16) {
        memcpy(s->terms[s->n], t->term, t->len + 1);
        s->stop[s->n++] = t->stop;
    }
    return 0;
}

/* The flag is set on the folded, unstemmed word (`The`, `Don’t`), only when asked for,
 * and never for a language without a list. A line of corpus/000_2d90944b1258bdb7.txt. */
static void test_analyser_flag(void **state)
{
    (void)state;
    const char *line = "The U.S. and Korea don\xe2\x80\x99t stand still";
    kq_analyzer *en, *none;
    assert_int_equal(kq_analyzer_new("english", &en, NULL), 0);
    assert_int_equal(kq_analyzer_new("none", &none, NULL), 0);
    struct seen s = {0};
    assert_int_equal(kq_analyze(en, line, strlen(line), 0, KQ_ANALYZE_STOPWORDS, collect, &s,
                                NULL), 0);
    static const char *const want[] = {"the", "us", "and", "korea", "dont", "stand", "still"};
    static const int want_stop[] = {1, 0, 1, 0, 1, 0, 0};
    assert_int_equal(s.n, 7);
    for (int i = 0; i < 7; i++) {
        assert_string_equal(s.terms[i], want[i]);
        assert_int_equal(s.stop[i], want_stop[i]);
    }
    memset(&s, 0, sizeof s);
    assert_int_equal(kq_analyze(en, line, strlen(line), 0, 0, collect, &s, NULL), 0);
    for (int i = 0; i < s.n; i++)
        assert_int_equal(s.stop[i], 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(kq_analyze(none, line, strlen(line), 0, KQ_ANALYZE_STOPWORDS, collect, &s,
                                NULL), 0);
    for (int i = 0; i < s.n; i++)
        assert_int_equal(s.stop[i], 0);
    kq_analyzer_free(en);
    kq_analyzer_free(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sorted),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_analyser_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
