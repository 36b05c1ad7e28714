/* server/client.c: a small blocking client of the kqd protocol: one connection, one
 * request at a time, every wait bounded by poll().
 *
 * Connecting never blocks longer than the timeout: the socket is non-blocking, and a
 * server whose listen backlog is full (EAGAIN on a Unix socket) counts as not answering.
 * A socket file owned by another user is never trusted (someone else could have planted it
 * in a shared directory). Answers are read into a buffer the client owns; bytes after the
 * first newline are kept for the next call, though a client that waits for each answer
 * never gets any.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kq/client.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

#define ANSWER_MAX ((size_t)1 << 30)

struct kq_client {
    int fd;
    kq_buf in;       /* bytes read: the answer handed out, then what followed it */
    size_t consumed; /* bytes of `in` handed out by the previous call (with the newline) */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before `deadline` (-1: none) for poll(). */
static int left_ms(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t l = deadline - now_ms();
    return l <= 0 ? 0 : l > 1000000 ? 1000000 : (int)l;
}

/* Waits for `events` on fd; 0, KQ_ETIMEDOUT or KQ_EIO. */
static int wait_fd(int fd, short events, int64_t deadline, kq_error *err)
{
    for (;;) {
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, left_ms(deadline));
        if (n > 0)
            return 0;
        if (n == 0)
            return kq__error(err, KQ_ETIMEDOUT, -1, "no answer from kqd in time");
        if (errno != EINTR)
            return kq__error(err, KQ_EIO, -1, "poll: %s", strerror(errno));
    }
}

int kq_client_connect(const char *sock_path, int timeout_ms, kq_client **out, kq_error *err)
{
    *out = NULL;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t plen = strlen(sock_path);
    if (plen >= sizeof sa.sun_path)
        return kq__error(err, KQ_ELIMIT, -1, "socket path '%s' too long", sock_path);
    memcpy(sa.sun_path, sock_path, plen + 1);
    struct stat st;
    if (stat(sock_path, &st) != 0 || !S_ISSOCK(st.st_mode))
        return kq__error(err, KQ_ENOTFOUND, -1, "no kqd socket at '%s'", sock_path);
    if (st.st_uid != geteuid())
        return kq__error(err, KQ_ENOTFOUND, -1, "socket '%s' belongs to another user",
                         sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return kq__error(err, KQ_EIO, -1, "socket: %s", strerror(errno));
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    int rc = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        if (e == EINPROGRESS) {
            socklen_t l = sizeof e;
            if (!(rc = wait_fd(fd, POLLOUT, deadline, err)) &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0)
                e = errno;
        }
        if (!rc && e)
            rc = e == ENOENT || e == ECONNREFUSED || e == EAGAIN
                     ? kq__error(err, KQ_ENOTFOUND, -1, "no kqd answers on '%s': %s",
                                 sock_path, strerror(e))
                     : kq__error(err, KQ_EIO, -1, "cannot connect to '%s': %s", sock_path,
                                 strerror(e));
    }
    kq_client *c = rc ? NULL : kq__calloc(1, sizeof *c);
    if (!rc && !c)
        rc = kq__enomem(err);
    if (rc) {
        close(fd);
        return rc;
    }
    c->fd = fd;
    *out = c;
    return 0;
}

void kq_client_close(kq_client *c)
{
    if (!c)
        return;
    close(c->fd);
    kq_buf_release(&c->in);
    kq__free(c);
}

int kq_client_call(kq_client *c, const char *request, size_t len, int timeout_ms,
                   const char **answer, size_t *answer_len, kq_error *err)
{
    *answer = NULL;
    *answer_len = 0;
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    /* drop the previous answer */
    if (c->consumed) {
        memmove(c->in.p, c->in.p + c->consumed, c->in.len - c->consumed);
        c->in.len -= c->consumed;
        c->consumed = 0;
    }
    /* send the request and its newline */
    size_t sent = 0, total = len + 1;
    while (sent < total) {
        struct msghdr mh = {0};
        struct iovec v[2];
        int nv = 0;
        if (sent < len)
            v[nv++] = (struct iovec){(char *)request + sent, len - sent};
        v[nv++] = (struct iovec){"\n", 1};
        mh.msg_iov = v;
        mh.msg_iovlen = (size_t)nv;
        ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(c->fd, POLLOUT, deadline, err);
            if (rc)
                return rc;
            continue;
        }
        return kq__error(err, KQ_EIO, -1, "cannot send to kqd: %s",
                         n < 0 ? strerror(errno) : "connection closed");
    }
    /* read until a newline */
    size_t scanned = 0;
    for (;;) {
        uint8_t *nl = c->in.len > scanned ? memchr(c->in.p + scanned, '\n', c->in.len - scanned)
                                          : NULL;
        if (nl) {
            size_t l = (size_t)(nl - c->in.p);
            c->consumed = l + 1;
            *nl = '\0';
            if (l && c->in.p[l - 1] == '\r')
                c->in.p[--l] = '\0';
            *answer = (const char *)c->in.p;
            *answer_len = l;
            return 0;
        }
        scanned = c->in.len;
        if (c->in.len >= ANSWER_MAX)
            return kq__error(err, KQ_ELIMIT, -1, "answer longer than %zu bytes", ANSWER_MAX);
        if (kq_buf_reserve(&c->in, 65536))
            return kq__enomem(err);
        ssize_t n = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(c->fd, POLLIN, deadline, err);
            if (rc)
                return rc;
            continue;
        }
        return kq__error(err, KQ_EIO, -1, "kqd closed the connection%s%s",
                         n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
    }
}
