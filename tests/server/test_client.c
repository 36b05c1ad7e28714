/* tests/server/test_client.c: the blocking client (server/client.c) against a scripted
 * server thread: no socket, a stale socket, answers split across reads and two answers in
 * one read, a CR before the newline, timeouts, and a server that closes. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "kq/client.h"
#include "testutil.h"

static char *tmp;
static char sock[256];

static int listen_on(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

/* The scripted server: reads one line per step, then writes the step's bytes in pieces. */
struct script {
    int lfd;
    const char *const *steps; /* NULL-terminated; "" closes the connection */
};

static void *serve(void *arg)
{
    struct script *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    for (const char *const *st = s->steps; *st; st++) {
        char c;
        while (read(fd, &c, 1) == 1 && c != '\n')
            ;
        if (!**st)
            break;
        size_t len = strlen(*st);
        for (size_t off = 0; off < len; off += 7) { /* small pieces: reads see parts */
            size_t n = len - off < 7 ? len - off : 7;
            if (write(fd, *st + off, n) != (ssize_t)n)
                break;
            usleep(200);
        }
    }
    close(fd);
    return NULL;
}

static void test_no_server(void **state)
{
    (void)state;
    kq_client *c = (kq_client *)1;
    kq_error e;
    snprintf(sock, sizeof sock, "%s/none.sock", tmp);
    assert_int_equal(kq_client_connect(sock, 100, &c, &e), KQ_ENOTFOUND);
    assert_null(c);
    /* a stale socket file: nothing listens */
    snprintf(sock, sizeof sock, "%s/stale.sock", tmp);
    int fd = listen_on(sock);
    close(fd);
    assert_int_equal(kq_client_connect(sock, 100, &c, &e), KQ_ENOTFOUND);
    /* a file that is not a socket */
    snprintf(sock, sizeof sock, "%s/file", tmp);
    fclose(fopen(sock, "w"));
    assert_int_equal(kq_client_connect(sock, 100, &c, &e), KQ_ENOTFOUND);
    kq_client_close(NULL);
}

static void test_calls(void **state)
{
    (void)state;
    snprintf(sock, sizeof sock, "%s/s1.sock", tmp);
    static const char *const steps[] = {
        "{\"id\":1,\"result\":{\"pong\":true}}\n",
        "{\"id\":2,\"result\":{}}\r\n{\"id\":3,\"result\":{\"x\":1}}\n", /* two in one */
        "",
        NULL,
    };
    struct script s = {listen_on(sock), steps};
    pthread_t t;
    pthread_create(&t, NULL, serve, &s);
    kq_client *c;
    kq_error e;
    assert_int_equal(kq_client_connect(sock, 1000, &c, &e), 0);
    const char *a;
    size_t n;
    assert_int_equal(kq_client_call(c, "{\"id\":1,\"op\":\"ping\"}", 20, 2000, &a, &n, &e), 0);
    assert_int_equal(n, strlen("{\"id\":1,\"result\":{\"pong\":true}}"));
    assert_memory_equal(a, "{\"id\":1,\"result\":{\"pong\":true}}", n);
    assert_int_equal(a[n], '\0');
    assert_int_equal(kq_client_call(c, "{}", 2, 2000, &a, &n, &e), 0);
    assert_string_equal(a, "{\"id\":2,\"result\":{}}"); /* without the CR */
    /* the second answer of that read is handed out by the next call */
    assert_int_equal(kq_client_call(c, "{}", 2, 2000, &a, &n, &e), 0);
    assert_string_equal(a, "{\"id\":3,\"result\":{\"x\":1}}");
    /* the server closes */
    assert_int_equal(kq_client_call(c, "{}", 2, 2000, &a, &n, &e), KQ_EIO);
    assert_null(a);
    kq_client_close(c);
    pthread_join(t, NULL);
    close(s.lfd);
}

static void test_timeout(void **state)
{
    (void)state;
    snprintf(sock, sizeof sock, "%s/s2.sock", tmp);
    int lfd = listen_on(sock);
    kq_client *c;
    kq_error e;
    assert_int_equal(kq_client_connect(sock, 1000, &c, &e), 0); /* in the backlog */
    const char *a;
    size_t n;
    assert_int_equal(kq_client_call(c, "{}", 2, 50, &a, &n, &e), KQ_ETIMEDOUT);
    kq_client_close(c);
    close(lfd);
}

static int setup(void **state)
{
    (void)state;
    tmp = kqt_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kqt_rmrf(tmp);
    free(tmp);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_server),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_timeout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
