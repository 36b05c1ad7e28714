/* tests/util/test_path.c: clean absolute paths, the names an index gives files, and the
 * absolute paths written for them. */
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

#include "util/alloc.h"
#include "util/path.h"

static void test_clean(void **state)
{
    (void)state;
    static const struct {
        const char *base, *p, *want;
    } c[] = {
        {"/home/u", "corpus", "/home/u/corpus"},
        {"/home/u", "corpus/", "/home/u/corpus"},
        {"/home/u", "./corpus//a.txt", "/home/u/corpus/a.txt"},
        {"/home/u", "corpus/../corpus/./a.txt", "/home/u/corpus/a.txt"},
        {"/home/u", "..", "/home"},
        {"/home/u", "../../../..", "/"},
        {"/home/u", ".", "/home/u"},
        {"/home/u", "", "/home/u"},
        {"/home/u", "/abs//x/./y/..", "/abs/x"},
        {"/", "a", "/a"},
        {"/", "/", "/"},
        {"/home/u/", "a", "/home/u/a"},
        {"/home/./u/../v", "a", "/home/v/a"}, /* the base is cleaned too */
        {"/home/u", "...", "/home/u/..."},    /* only "." and ".." are special */
        {"/home/u", "a/..b", "/home/u/a/..b"},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        char *got = kq__path_clean(c[i].base, c[i].p);
        assert_non_null(got);
        if (strcmp(got, c[i].want) != 0)
            fail_msg("clean('%s', '%s') = '%s', want '%s'", c[i].base, c[i].p, got, c[i].want);
        kq__free(got);
    }
}

static void test_join(void **state)
{
    (void)state;
    static const char *const c[][3] = {{"a", "b", "a/b"}, {"a/", "b", "a/b"}, {"", "b", "b"},
                                       {"a", "", "a"},    {"/", "b", "/b"},   {"", "", ""}};
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        char *s = kq__path_join(c[i][0], c[i][1]);
        assert_non_null(s);
        assert_string_equal(s, c[i][2]);
        kq__free(s);
    }
}

static void test_absolute_and_root(void **state)
{
    (void)state;
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    char *a;
    assert_int_equal(kq__path_absolute("x/./y/", &a, NULL), 0);
    char want[4200];
    snprintf(want, sizeof want, "%s/x/y", strcmp(cwd, "/") ? cwd : "");
    assert_string_equal(a, want);
    kq__free(a);
    assert_int_equal(kq__path_root(".kq", &a, NULL), 0);
    assert_string_equal(a, cwd);
    kq__free(a);
    assert_int_equal(kq__path_root("/srv/notes/.kq/", &a, NULL), 0);
    assert_string_equal(a, "/srv/notes");
    kq__free(a);
    assert_int_equal(kq__path_root("/.kq", &a, NULL), 0);
    assert_string_equal(a, "/");
    kq__free(a);
}

static void test_under(void **state)
{
    (void)state;
    assert_string_equal(kq__path_under("/a/b", "/a/b/c/d"), "c/d");
    assert_string_equal(kq__path_under("/a/b", "/a/b"), "");
    assert_null(kq__path_under("/a/b", "/a/bc"));
    assert_null(kq__path_under("/a/b", "/a"));
    assert_null(kq__path_under("/a/b", "/x/a/b"));
    assert_string_equal(kq__path_under("/", "/a"), "a");
    assert_null(kq__path_under("/", "a"));
    assert_null(kq__path_under("", "/a"));
    assert_null(kq__path_under("a", "a/b")); /* not absolute: never */
}

static void test_name(void **state)
{
    (void)state;
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    char *root = kq__path_clean(cwd, "..");
    assert_non_null(root);
    const char *base = strrchr(cwd, '/') + 1; /* the current folder's name */
    char want[4200], given[4200];
    char up[4200];
    snprintf(up, sizeof up, "../%s/a.txt", base); /* ".." of a folder that exists */
    const char *const spellings[] = {"a.txt", "./a.txt", up, "a.txt/."};
    snprintf(want, sizeof want, "%s%sa.txt", base, *base ? "/" : "");
    for (size_t i = 0; *base && i < sizeof spellings / sizeof *spellings; i++) {
        char *n;
        assert_int_equal(kq__path_name(root, spellings[i], &n, NULL), 0);
        assert_string_equal(n, want);
        kq__free(n);
        snprintf(given, sizeof given, "%s/%s", cwd, spellings[i]);
        assert_int_equal(kq__path_name(root, given, &n, NULL), 0);
        assert_string_equal(n, want);
        kq__free(n);
    }
    char *n;
    assert_int_equal(kq__path_name(root, root, &n, NULL), 0);
    assert_string_equal(n, ""); /* the root itself */
    kq__free(n);
    assert_int_equal(kq__path_name("/srv/notes", "/srv/notes2/a", &n, NULL), 0);
    assert_string_equal(n, "/srv/notes2/a"); /* outside: absolute */
    kq__free(n);
    assert_int_equal(kq__path_name("/", "/srv//a/", &n, NULL), 0);
    assert_string_equal(n, "srv/a");
    kq__free(n);
    /* a folder reached through a symbolic link, the root not (or the other way round) */
    char tmpl[] = "/tmp/kq-path-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char real[4200], link[4200], file[4300], via[4300];
    snprintf(real, sizeof real, "%s/real", tmpl);
    snprintf(link, sizeof link, "%s/link", tmpl);
    snprintf(file, sizeof file, "%s/docs", real);
    assert_int_equal(mkdir(real, 0700), 0);
    assert_int_equal(mkdir(file, 0700), 0);
    assert_int_equal(symlink(real, link), 0);
    snprintf(via, sizeof via, "%s/./docs/", link);
    assert_int_equal(kq__path_name(real, via, &n, NULL), 0);
    assert_string_equal(n, "docs");
    kq__free(n);
    assert_int_equal(kq__path_name(link, file, &n, NULL), 0);
    assert_string_equal(n, "docs");
    kq__free(n);
    /* ".." after a link is the parent of where it leads; a link to an index directory
     * has the root of the index directory */
    char dd[4400];
    snprintf(dd, sizeof dd, "%s/../docs/./", link);
    snprintf(via, sizeof via, "%s/docs", tmpl); /* lexically, "link/../docs" */
    assert_int_equal(kq__path_absolute(dd, &n, NULL), 0);
    assert_string_equal(n, via); /* link is a link to a folder of tmpl: the same here */
    kq__free(n);
    snprintf(via, sizeof via, "%s/dl", tmpl);
    assert_int_equal(symlink(file, via), 0); /* dl -> real/docs */
    snprintf(dd, sizeof dd, "%s/dl/../x", tmpl);
    assert_int_equal(kq__path_absolute(dd, &n, NULL), 0);
    snprintf(dd, sizeof dd, "%s/x", real);
    assert_string_equal(n, dd); /* not tmpl/x */
    kq__free(n);
    assert_int_equal(kq__path_root(via, &n, NULL), 0);
    assert_string_equal(n, real); /* dl reaches real/docs: its folder is real */
    kq__free(n);
    assert_int_equal(unlink(via), 0);
    /* links past the root keep their names when the root is reached through a link */
    snprintf(via, sizeof via, "%s/alias", real);
    assert_int_equal(symlink("docs", via), 0);
    snprintf(dd, sizeof dd, "%s/alias/f.txt", link);
    assert_int_equal(kq__path_name(real, dd, &n, NULL), 0);
    assert_string_equal(n, "alias/f.txt"); /* not docs/f.txt; and f.txt need not exist */
    kq__free(n);
    assert_int_equal(unlink(via), 0);
    /* a link under the root keeps its name, wherever it points */
    snprintf(via, sizeof via, "%s/out", real);
    assert_int_equal(symlink("/", via), 0);
    assert_int_equal(kq__path_name(real, via, &n, NULL), 0);
    assert_string_equal(n, "out");
    kq__free(n);
    assert_int_equal(unlink(via), 0);
    assert_int_equal(unlink(link), 0);
    assert_int_equal(rmdir(file), 0);
    assert_int_equal(rmdir(real), 0);
    assert_int_equal(rmdir(tmpl), 0);
    /* what comes before a ".." must exist: the kernel could not follow it either */
    kq_error err;
    assert_int_equal(kq__path_name("/srv", "/nonexistent-kq/../srv/a", &n, &err), KQ_EIO);
    assert_null(n);
    assert_non_null(strstr(err.msg, "nonexistent-kq/.."));
    kq_alloc_fail_after(0);
    assert_int_equal(kq__path_name("/srv", "/srv/a", &n, NULL), -1);
    kq_alloc_fail_after(-1);
    kq__free(root);
}

static void test_is_name(void **state)
{
    (void)state;
    static const char *const good[] = {"a", "a/b.txt", "/abs/x", "a..b/.c", "...", "x/ y "};
    static const char *const bad[] = {"", "/", "a/", "./a", "a/./b", "a/../b", "..", "a//b",
                                      "/a/", "//a", "a/.."};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (!kq__path_is_name(good[i], strlen(good[i])))
            fail_msg("'%s' is a name", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (kq__path_is_name(bad[i], strlen(bad[i])))
            fail_msg("'%s' is not a name", bad[i]);
    assert_false(kq__path_is_name("a\0b", 3));
    assert_true(kq__path_is_name("ab/c", 2)); /* only `len` bytes count */
    assert_false(kq__path_is_name("a/", 2));
    /* every name kq__path_name gives is one */
    static const char *const given[] = {"/srv/notes/a", "/srv/notes/./b/.//c//d/", "/x/y",
                                        "/srv/notes2/z"};
    for (size_t i = 0; i < sizeof given / sizeof *given; i++) {
        char *n;
        assert_int_equal(kq__path_name("/srv/notes", given[i], &n, NULL), 0);
        assert_true(kq__path_is_name(n, strlen(n)));
        kq__free(n);
    }
}

static void check_json(const char *root, const char *name, const char *want)
{
    kq_buf b = KQ_BUF_INIT;
    assert_int_equal(kq__path_json(&b, root, name, strlen(name)), 0);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.p, want, b.len);
    kq_buf_release(&b);
}

static void test_json(void **state)
{
    (void)state;
    check_json("/srv/notes", "a/b.md", "\"path\":\"/srv/notes/a/b.md\"");
    check_json("/", "a/b.md", "\"path\":\"/a/b.md\"");
    check_json("/srv/notes", "/etc/x.txt", "\"path\":\"/etc/x.txt\"");
    check_json("/srv/notes", "", "\"path\":\"/srv/notes\"");
    check_json("/srv/notes", "q\"\n.txt", "\"path\":\"/srv/notes/q\\\"\\n.txt\"");
    /* not UTF-8: the bytes again in base64 */
    check_json("/caf\xe9", "a\xff.md", "\"path\":\"/caf\xef\xbf\xbd/a\xef\xbf\xbd.md\","
                                      "\"path_bytes\":\"L2NhZukvYf8ubWQ=\"");
    char longname[3000];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    kq_buf b = KQ_BUF_INIT;
    assert_int_equal(kq__path_json(&b, "/r", longname, strlen(longname)), 0);
    assert_int_equal(b.len, strlen(longname) + 12); /* "path":, quotes, "/r/" */
    kq_buf_release(&b);
    /* out of memory past the stack buffer */
    kq_alloc_fail_after(0);
    assert_int_equal(kq__path_json(&b, "/r", longname, strlen(longname)), -1);
    kq_alloc_fail_after(-1);
    kq_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_absolute_and_root),
        cmocka_unit_test(test_under),
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_is_name),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
