/* tests/e2e/kqd_client.c: a test client of kqd for the end-to-end tests (tests/e2e/kqd*.sh),
 * built for them only. Each mode plays one kind of client; all waits are bounded.
 *
 *   kqd_client SOCK send [N]           send stdin as it is, print N answer lines (default:
 *                                      one per non-blank line of stdin), then "EOF" if the
 *                                      server closed the connection
 *   kqd_client SOCK many C R REQ       C connections at once, each pipelining R copies of
 *                                      REQ (a JSON object whose "id" is replaced by 0..R-1);
 *                                      checks every id comes back once with a result
 *   kqd_client SOCK flood R REQ        one connection writes R requests without reading
 *                                      until the server stops reading (back-pressure), then
 *                                      reads them all; checks every id
 *   kqd_client SOCK slow LINE MS       sends LINE (and a newline) one byte every MS ms,
 *                                      prints what comes back and when the server closed
 *   kqd_client SOCK big BYTES          sends a request line of BYTES bytes, prints the
 *                                      answer and whether the server closed
 *   kqd_client SOCK vanish N REQ       sends N copies of REQ and resets the connection
 *                                      (SO_LINGER 0: an RST) without reading
 *   kqd_client SOCK loop SECONDS REQ   one request after another for SECONDS; every answer
 *                                      must be a result; prints the count
 *   kqd_client SOCK hold SECONDS       connects, sends nothing, prints what the server says
 *                                      and after how long it closed
 *   kqd_client SOCK activate CMD...    listens on SOCK and runs CMD with it as fd 3 and
 *                                      LISTEN_FDS/LISTEN_PID set, as systemd does; prints
 *                                      its pid
 *   kqd_client SOCK sip CHUNK MS       sends stdin, then reads CHUNK bytes every MS ms (a
 *                                      slow, steady reader); prints "answer LEN HEAD" for
 *                                      each answer line (HEAD: its first 24 bytes), then
 *                                      "closed after S s" (or "open" after 60 s)
 *   kqd_client SOCK later A MS B MS2   sends A, then B MS ms later, and reads nothing for
 *                                      MS2 ms more; then prints "answer LEN HEAD" for each
 *                                      answer line and "closed", or "open" when nothing
 *                                      more came for 2 s
 *   kqd_client SOCK fake ANSWER...     a daemon that is not one: listens on SOCK and, on
 *                                      one connection, answers its requests with the
 *                                      ANSWER lines in turn (the last one again after
 *                                      that), whatever they ask, an ANSWER "-" with
 *                                      nothing; exits when the connection closes
 *
 * Exit status: 0 when the mode's checks hold, 1 otherwise (with a message on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kq/client.h"

static const char *sock_path;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, const char *a)
{
    fprintf(stderr, "kqd_client: ");
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
    exit(1);
}

static int dial(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("cannot connect: %s", strerror(errno));
    return fd;
}

/* A growable byte buffer. */
struct bytes {
    char *p;
    size_t len, cap;
};

static void put(struct bytes *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        if (!(b->p = realloc(b->p, b->cap)))
            die("%s", "out of memory");
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* REQ with its id replaced by `id` (REQ must hold "id":0). */
static void request_with_id(struct bytes *out, const char *req, long id)
{
    const char *at = strstr(req, "\"id\":0");
    if (!at)
        die("request '%s' lacks \"id\":0", req);
    char num[32];
    int n = snprintf(num, sizeof num, "\"id\":%ld", id);
    put(out, req, (size_t)(at - req));
    put(out, num, (size_t)n);
    put(out, at + 6, strlen(at + 6));
    put(out, "\n", 1);
}

/* Reads with a deadline; returns bytes read, 0 on EOF, -1 on timeout or error. */
static ssize_t read_some(int fd, char *buf, size_t cap, double deadline)
{
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0)
            return -1;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t n = read(fd, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == ECONNRESET)
            return 0;
        return n;
    }
}

/* One connection of `many`/`flood`: what to send, what came back. */
struct conn {
    int fd;
    struct bytes out;
    size_t out_off;
    struct bytes in;
    long expected, answered;
    unsigned char *seen;
    int eof;
};

static void take_answers(struct conn *c)
{
    char *start = c->in.p, *nl;
    while ((nl = memchr(start, '\n', c->in.len - (size_t)(start - c->in.p)))) {
        const char *res, *id;
        size_t rlen, idlen;
        kq_error err;
        int rc = kq_answer_parse(start, (size_t)(nl - start), &res, &rlen, &id, &idlen, &err);
        if (rc) {
            *nl = '\0';
            fprintf(stderr, "kqd_client: connection fd %d, %ld of %ld answered\n", c->fd,
                    c->answered, c->expected);
            die("error answer: %s", start);
        }
        char *end;
        long v = strtol(id, &end, 10);
        if (end != id + idlen || v < 0 || v >= c->expected || c->seen[v]) {
            *nl = '\0';
            die("unexpected or repeated id in: %s", start);
        }
        c->seen[v] = 1;
        c->answered++;
        start = nl + 1;
    }
    size_t rest = c->in.len - (size_t)(start - c->in.p);
    memmove(c->in.p, start, rest);
    c->in.len = rest;
}

/* Drives the connections until every answer arrived (or `timeout` seconds passed). With
 * `write_only_first`, each connection first writes without reading until writing has
 * blocked for 300 ms: the server must have stopped reading it (back-pressure). */
static int drive(struct conn *cs, int n, double timeout, int write_only_first)
{
    double deadline = now_s() + timeout;
    struct pollfd *p = calloc((size_t)n, sizeof *p);
    char buf[65536];
    if (write_only_first) {
        for (int i = 0; i < n; i++) {
            struct conn *c = &cs[i];
            double blocked_since = 0;
            while (c->out_off < c->out.len) {
                ssize_t w = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w > 0) {
                    c->out_off += (size_t)w;
                    blocked_since = 0;
                    continue;
                }
                if (w < 0 && errno != EAGAIN)
                    die("send: %s", strerror(errno));
                if (!blocked_since)
                    blocked_since = now_s();
                if (now_s() - blocked_since > 0.3)
                    break;
                usleep(10000);
            }
            printf("wrote %zu of %zu bytes before the server stopped reading\n", c->out_off,
                   c->out.len);
        }
    }
    for (;;) {
        int pending = 0;
        for (int i = 0; i < n; i++) {
            struct conn *c = &cs[i];
            p[i].fd = c->fd;
            p[i].events = 0;
            if (c->answered < c->expected && !c->eof) {
                p[i].events = POLLIN;
                pending++;
            }
            if (c->out_off < c->out.len)
                p[i].events |= POLLOUT;
        }
        if (!pending)
            break;
        double left = deadline - now_s();
        if (left <= 0) {
            free(p);
            return -1;
        }
        int r = poll(p, (nfds_t)n, (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        for (int i = 0; i < n && r > 0; i++) {
            struct conn *c = &cs[i];
            if ((p[i].events & POLLOUT) && (p[i].revents & POLLOUT)) {
                ssize_t w = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w > 0)
                    c->out_off += (size_t)w;
            }
            if ((p[i].events & POLLIN) && (p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t m = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
                if (m > 0) {
                    put(&c->in, buf, (size_t)m);
                    take_answers(c);
                } else if (m == 0 || (errno != EAGAIN && errno != EINTR)) {
                    c->eof = 1;
                }
            }
        }
    }
    free(p);
    for (int i = 0; i < n; i++)
        if (cs[i].answered != cs[i].expected) {
            fprintf(stderr, "kqd_client: connection %d got %ld of %ld answers%s\n", i,
                    cs[i].answered, cs[i].expected, cs[i].eof ? " (closed)" : "");
            return -1;
        }
    return 0;
}

static int mode_many(int conns, long reqs, const char *req, int flood)
{
    struct conn *cs = calloc((size_t)conns, sizeof *cs);
    for (int i = 0; i < conns; i++) {
        cs[i].fd = dial();
        cs[i].expected = reqs;
        cs[i].seen = calloc((size_t)reqs, 1);
        for (long j = 0; j < reqs; j++)
            request_with_id(&cs[i].out, req, j);
    }
    double t0 = now_s();
    if (drive(cs, conns, 60, flood))
        return 1;
    printf("ok %ld answers on %d connections in %.3f s\n", reqs * conns, conns, now_s() - t0);
    for (int i = 0; i < conns; i++) {
        close(cs[i].fd);
        free(cs[i].out.p);
        free(cs[i].in.p);
        free(cs[i].seen);
    }
    free(cs);
    return 0;
}

static int mode_send(long want)
{
    struct bytes in = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
        put(&in, buf, n);
    if (want < 0) {
        want = 0;
        for (char *l = in.p; l && l < in.p + in.len;) {
            char *e = memchr(l, '\n', in.len - (size_t)(l - in.p));
            size_t len = e ? (size_t)(e - l) : in.len - (size_t)(l - in.p);
            int blank = 1;
            for (size_t i = 0; i < len; i++)
                blank &= l[i] == ' ' || l[i] == '\t' || l[i] == '\r';
            want += !blank;
            l = e ? e + 1 : NULL;
        }
    }
    int fd = dial();
    /* a send the server refuses (it closed first: too many connections) is not fatal: what
     * it said before closing is still there to read */
    for (size_t off = 0; off < in.len;) {
        ssize_t w = send(fd, in.p + off, in.len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    double deadline = now_s() + 20;
    long got = 0;
    struct bytes acc = {0};
    while (got < want) {
        ssize_t r = read_some(fd, buf, sizeof buf, deadline);
        if (r < 0)
            die("%s", "no answer in time");
        if (r == 0) {
            if (acc.len)
                fwrite(acc.p, 1, acc.len, stdout);
            puts("EOF");
            free(in.p);
            free(acc.p);
            return 0;
        }
        put(&acc, buf, (size_t)r);
        char *nl;
        while (acc.len && (nl = memchr(acc.p, '\n', acc.len))) {
            fwrite(acc.p, 1, (size_t)(nl - acc.p) + 1, stdout);
            size_t rest = acc.len - (size_t)(nl - acc.p) - 1;
            memmove(acc.p, nl + 1, rest);
            acc.len = rest;
            got++;
        }
    }
    /* anything else (there should be nothing), then whether the server closed */
    ssize_t r = read_some(fd, buf, sizeof buf, now_s() + 0.2);
    if (r > 0)
        fwrite(buf, 1, (size_t)r, stdout);
    if (r == 0)
        puts("EOF");
    close(fd);
    free(in.p);
    free(acc.p);
    return 0;
}

/* Prints everything until the server closes; returns seconds until then, -1 on timeout. */
static double until_closed(int fd, double t0, double timeout)
{
    char buf[4096];
    double deadline = now_s() + timeout;
    for (;;) {
        ssize_t r = read_some(fd, buf, sizeof buf, deadline);
        if (r < 0)
            return -1;
        if (r == 0)
            return now_s() - t0;
        fwrite(buf, 1, (size_t)r, stdout);
        fflush(stdout);
    }
}

static int mode_slow(const char *line, long ms)
{
    int fd = dial();
    double t0 = now_s();
    size_t len = strlen(line), sent = 0;
    char buf[4096];
    for (; sent <= len; sent++) {
        char ch = sent < len ? line[sent] : '\n';
        if (send(fd, &ch, 1, MSG_NOSIGNAL) != 1)
            break;
        /* wait `ms`, watching for the server's answer */
        ssize_t r = read_some(fd, buf, sizeof buf, now_s() + ms / 1000.0);
        if (r > 0) {
            fwrite(buf, 1, (size_t)r, stdout);
            double closed = until_closed(fd, t0, 5);
            printf("closed after %.1f s, %zu bytes sent\n", closed, sent + 1);
            return 0;
        }
        if (r == 0) {
            printf("closed after %.1f s, %zu bytes sent\n", now_s() - t0, sent + 1);
            return 0;
        }
    }
    printf("sent everything in %.1f s\n", now_s() - t0);
    double closed = until_closed(fd, t0, 5);
    if (closed >= 0)
        printf("closed after %.1f s\n", closed);
    return 0;
}

static int mode_big(long bytes)
{
    int fd = dial();
    static const char head[] = "{\"id\":1,\"op\":\"ping\",\"pad\":\"";
    struct bytes b = {0};
    put(&b, head, sizeof head - 1);
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    while ((long)b.len < bytes - 3)
        put(&b, chunk, (size_t)(bytes - 3 - (long)b.len) < sizeof chunk
                           ? (size_t)(bytes - 3 - (long)b.len)
                           : sizeof chunk);
    put(&b, "\"}\n", 3);
    size_t off = 0;
    double t0 = now_s();
    while (off < b.len) {
        ssize_t w = send(fd, b.p + off, b.len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* EPIPE/ECONNRESET: the server closed, as it should */
        off += (size_t)w;
    }
    printf("sent %zu of %zu bytes\n", off, b.len);
    double closed = until_closed(fd, t0, 10);
    if (closed < 0)
        die("%s", "the server did not close the connection");
    printf("closed\n");
    free(b.p);
    return 0;
}

static int mode_vanish(long n, const char *req)
{
    int fd = dial();
    struct bytes b = {0};
    for (long j = 0; j < n; j++)
        request_with_id(&b, req, j);
    if (send(fd, b.p, b.len, MSG_NOSIGNAL) != (ssize_t)b.len)
        die("send: %s", strerror(errno));
    struct linger l = {1, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) != 0)
        die("SO_LINGER: %s", strerror(errno));
    close(fd);
    free(b.p);
    puts("gone");
    return 0;
}

static int mode_loop(double seconds, const char *req)
{
    kq_client *c;
    kq_error err;
    if (kq_client_connect(sock_path, 1000, &c, &err))
        die("connect: %s", err.msg);
    double end = now_s() + seconds;
    long n = 0;
    while (now_s() < end) {
        const char *ans, *res;
        size_t alen, rlen;
        if (kq_client_call(c, req, strlen(req), 10000, &ans, &alen, &err))
            die("call: %s", err.msg);
        if (kq_answer_parse(ans, alen, &res, &rlen, NULL, NULL, &err))
            die("error answer: %s", ans);
        n++;
    }
    kq_client_close(c);
    printf("ok %ld queries\n", n);
    return 0;
}

static int mode_hold(double seconds)
{
    int fd = dial();
    double closed = until_closed(fd, now_s(), seconds);
    if (closed < 0)
        printf("still open after %.1f s\n", seconds);
    else
        printf("closed after %.1f s\n", closed);
    close(fd);
    return 0;
}


/* Socket activation as systemd does it (sd_listen_fds(3)): a listening socket on fd 3,
 * LISTEN_FDS=1 and LISTEN_PID naming the process; prints the daemon's pid. */
/* A socket listening on SOCK (a file there is replaced). */
static int listen_on(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(sock_path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0)
        die("cannot listen: %s", strerror(errno));
    return fd;
}

static int mode_activate(char **cmd)
{
    int fd = listen_on();
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        /* not our stdout: the caller reads our pid from it until it closes */
        int null = open("/dev/null", O_WRONLY);
        if (null < 0 || dup2(null, 1) != 1)
            _exit(127);
        if (fd != 3 && (dup2(fd, 3) != 3 || close(fd) != 0))
            _exit(127);
        char num[32];
        snprintf(num, sizeof num, "%ld", (long)getpid());
        setenv("LISTEN_PID", num, 1);
        setenv("LISTEN_FDS", "1", 1);
        execv(cmd[0], cmd);
        _exit(127);
    }
    close(fd);
    printf("%ld\n", (long)pid);
    return 0;
}

/* Prints "answer LEN HEAD" for each answer line ending in the `n` bytes at `buf`, the bytes
 * of a line not ended yet gathering in `line`. */
static void print_answers(struct bytes *line, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '\n') {
            put(line, buf + i, 1);
            continue;
        }
        printf("answer %zu %.24s\n", line->len, line->len ? line->p : "");
        line->len = 0;
    }
}

/* Reads `chunk` bytes at most every `ms` ms, printing the answers (print_answers), until
 * the server closes (returns 1) or nothing comes for `quiet` seconds (returns 0). */
static int read_answers(int fd, size_t chunk, long ms, double quiet)
{
    struct bytes line = {0};
    char buf[65536];
    for (;;) {
        ssize_t r = read_some(fd, buf, chunk < sizeof buf ? chunk : sizeof buf, now_s() + quiet);
        if (r <= 0) {
            free(line.p);
            return r == 0;
        }
        print_answers(&line, buf, (size_t)r);
        if (ms)
            usleep((useconds_t)ms * 1000);
    }
}

static int mode_later(const char *a, long ms, const char *b, long ms2)
{
    int fd = dial();
    if (send(fd, a, strlen(a), MSG_NOSIGNAL) < 0)
        die("send: %s", strerror(errno));
    usleep((useconds_t)ms * 1000);
    if (send(fd, b, strlen(b), MSG_NOSIGNAL) < 0)
        die("send: %s", strerror(errno));
    usleep((useconds_t)ms2 * 1000);
    printf(read_answers(fd, 65536, 0, 2) ? "closed\n" : "open\n");
    return 0;
}

static int mode_sip(long chunk, long ms)
{
    int fd = dial();
    struct bytes req = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
        put(&req, buf, n);
    if (req.len && send(fd, req.p, req.len, MSG_NOSIGNAL) != (ssize_t)req.len)
        die("send: %s", strerror(errno));
    double t0 = now_s();
    if (read_answers(fd, (size_t)chunk, ms, 60))
        printf("closed after %.1f s\n", now_s() - t0);
    else
        printf("open\n");
    return 0;
}

static int mode_fake(char **answers, int n)
{
    int fd = listen_on();
    printf("listening\n");
    int c = accept(fd, NULL, NULL);
    if (c < 0)
        die("accept: %s", strerror(errno));
    char buf[65536];
    int next = 0;
    for (;;) {
        ssize_t got = read_some(c, buf, sizeof buf, now_s() + 30);
        if (got <= 0)
            break;
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] != '\n')
                continue;
            const char *a = answers[next < n - 1 ? next++ : n - 1];
            if (!strcmp(a, "-")) /* no answer: a stopped daemon */
                continue;
            if (write(c, a, strlen(a)) < 0 || write(c, "\n", 1) < 0)
                break;
        }
    }
    close(c);
    close(fd);
    unlink(sock_path);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 3) {
        fprintf(stderr, "usage: kqd_client SOCK MODE ARGS... (see the source)\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    sock_path = argv[1];
    const char *m = argv[2];
    if (!strcmp(m, "send"))
        return mode_send(argc > 3 ? atol(argv[3]) : -1);
    if (!strcmp(m, "many") && argc == 6)
        return mode_many(atoi(argv[3]), atol(argv[4]), argv[5], 0);
    if (!strcmp(m, "flood") && argc == 5)
        return mode_many(1, atol(argv[3]), argv[4], 1);
    if (!strcmp(m, "slow") && argc == 5)
        return mode_slow(argv[3], atol(argv[4]));
    if (!strcmp(m, "big") && argc == 4)
        return mode_big(atol(argv[3]));
    if (!strcmp(m, "vanish") && argc == 5)
        return mode_vanish(atol(argv[3]), argv[4]);
    if (!strcmp(m, "loop") && argc == 5)
        return mode_loop(atof(argv[3]), argv[4]);
    if (!strcmp(m, "hold") && argc == 4)
        return mode_hold(atof(argv[3]));
    if (!strcmp(m, "activate") && argc >= 4)
        return mode_activate(argv + 3);
    if (!strcmp(m, "later") && argc == 7)
        return mode_later(argv[3], atol(argv[4]), argv[5], atol(argv[6]));
    if (!strcmp(m, "sip") && argc == 5)
        return mode_sip(atol(argv[3]), atol(argv[4]));
    if (!strcmp(m, "fake") && argc >= 4)
        return mode_fake(argv + 3, argc - 3);
    fprintf(stderr, "kqd_client: bad mode or arguments\n");
    return 2;
}
