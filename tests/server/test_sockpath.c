/* tests/server/test_sockpath.c: the socket path rule of PROTOCOL.md ("Conventions"), the
 * socket directory checks, and index discovery (server/sockpath.c). */
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
#include <xxhash.h>

#include "kq/client.h"
#include "testutil.h"

static char *tmp;

static int setup(void **state)
{
    (void)state;
    char *t = kqt_tmpdir();
    tmp = realpath(t, NULL); /* TMPDIR may hold a symbolic link */
    free(t);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kqt_rmrf(tmp);
    free(tmp);
    return 0;
}

/* Makes tmp/<name>, padded with 'd's until tmp/<name> is `len` bytes long. */
static char *make_dir(size_t len)
{
    char *p = malloc(len + 1);
    int n = snprintf(p, len + 1, "%s/", tmp);
    assert_true((size_t)n < len);
    memset(p + n, 'd', len - (size_t)n);
    p[len] = '\0';
    mkdir(p, 0755);
    return p;
}

static void expect_fallback(const char *dir, const char *base)
{
    char out[KQ_SOCKET_PATH_MAX], want[1024];
    kq_error e;
    assert_int_equal(kq_socket_path(dir, out, sizeof out, &e), 0);
    snprintf(want, sizeof want, "%s/%016llx.sock", base,
             (unsigned long long)XXH3_64bits(dir, strlen(dir)));
    assert_string_equal(out, want);
}

static void test_rule(void **state)
{
    (void)state;
    char out[KQ_SOCKET_PATH_MAX], want[512];
    kq_error e;

    /* short: inside the index directory */
    char *d = make_dir(strlen(tmp) + 8);
    assert_int_equal(kq_socket_path(d, out, sizeof out, &e), 0);
    snprintf(want, sizeof want, "%s/kqd.sock", d);
    assert_string_equal(out, want);

    /* relative and through a symbolic link: the same socket */
    char link[512], cwd[4096];
    snprintf(link, sizeof link, "%s/link", tmp);
    assert_int_equal(symlink(d, link), 0);
    assert_int_equal(kq_socket_path(link, out, sizeof out, &e), 0);
    assert_string_equal(out, want);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmp), 0);
    assert_int_equal(kq_socket_path("link/.", out, sizeof out, &e), 0);
    assert_string_equal(out, want);
    assert_int_equal(chdir(cwd), 0);
    free(d);

    /* 107 bytes fit a socket address, 108 do not */
    d = make_dir(107 - strlen("/kqd.sock"));
    assert_int_equal(kq_socket_path(d, out, sizeof out, &e), 0);
    assert_int_equal(strlen(out), 107);
    free(d);
    d = make_dir(108 - strlen("/kqd.sock"));
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    expect_fallback(d, "/run/user/1000/kq");
    unsetenv("XDG_RUNTIME_DIR");
    snprintf(want, sizeof want, "/tmp/kq-%lu", (unsigned long)getuid());
    expect_fallback(d, want);
    setenv("XDG_RUNTIME_DIR", "", 1); /* empty counts as unset */
    expect_fallback(d, want);

    /* even the fallback does not fit */
    char longx[200];
    memset(longx, 'x', sizeof longx - 1);
    longx[0] = '/';
    longx[sizeof longx - 1] = '\0';
    setenv("XDG_RUNTIME_DIR", longx, 1);
    assert_int_equal(kq_socket_path(d, out, sizeof out, &e), KQ_ELIMIT);
    assert_string_equal(out, "");
    unsetenv("XDG_RUNTIME_DIR");
    free(d);

    /* no such directory */
    snprintf(want, sizeof want, "%s/none", tmp);
    assert_int_equal(kq_socket_path(want, out, sizeof out, &e), KQ_ENOTFOUND);
    assert_non_null(strstr(e.msg, "none"));
}

static void test_dir_prepare(void **state)
{
    (void)state;
    char path[1024], dir[512];
    kq_error e;
    struct stat st;

    /* a missing directory is created 0700 */
    snprintf(dir, sizeof dir, "%s/run", tmp);
    snprintf(path, sizeof path, "%s/kqd.sock", dir);
    assert_int_equal(kq_socket_dir_prepare(path, &e), 0);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(kq_socket_dir_prepare(path, &e), 0); /* exists: fine */

    /* the fallback directory must be ours and closed to others */
    setenv("XDG_RUNTIME_DIR", tmp, 1);
    snprintf(dir, sizeof dir, "%s/kq", tmp);
    snprintf(path, sizeof path, "%s/kq/0123456789abcdef.sock", tmp);
    assert_int_equal(kq_socket_dir_prepare(path, &e), 0);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    chmod(dir, 0755);
    assert_int_equal(kq_socket_dir_prepare(path, &e), KQ_EINVAL);
    assert_non_null(strstr(e.msg, "open to other users"));
    rmdir(dir);
    FILE *f = fopen(dir, "w");
    fclose(f);
    assert_int_equal(kq_socket_dir_prepare(path, &e), KQ_EINVAL);
    assert_non_null(strstr(e.msg, "not a directory"));
    unlink(dir);
    unsetenv("XDG_RUNTIME_DIR");

    /* a directory that cannot be made */
    snprintf(path, sizeof path, "%s/a/b/kqd.sock", tmp);
    assert_int_equal(kq_socket_dir_prepare(path, &e), KQ_EIO);
}

static void test_index_find(void **state)
{
    (void)state;
    char out[4096], cwd[4096], want[4096];
    kq_error e;
    unsetenv("KQ_INDEX");
    assert_int_equal(kq_index_find("given", out, sizeof out, &e), 0);
    assert_string_equal(out, "given");
    setenv("KQ_INDEX", "from-env", 1);
    assert_int_equal(kq_index_find(NULL, out, sizeof out, &e), 0);
    assert_string_equal(out, "from-env");
    assert_int_equal(kq_index_find("given", out, sizeof out, &e), 0);
    assert_string_equal(out, "given");
    unsetenv("KQ_INDEX");
    assert_int_equal(kq_index_find("given", out, 3, &e), KQ_ELIMIT);

    /* upwards: the nearest .kq holding a MANIFEST */
    char p[4096];
    snprintf(p, sizeof p, "%s/w", tmp);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/w/.kq", tmp);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/w/.kq/MANIFEST", tmp);
    fclose(fopen(p, "w"));
    snprintf(p, sizeof p, "%s/w/a", tmp);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/w/a/.kq", tmp); /* no MANIFEST: not an index */
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/w/a/b", tmp);
    mkdir(p, 0755);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(p), 0);
    assert_int_equal(kq_index_find(NULL, out, sizeof out, &e), 0);
    snprintf(want, sizeof want, "%s/w/.kq", tmp);
    assert_string_equal(out, want);
    assert_int_equal(chdir(cwd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dir_prepare, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_find, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
