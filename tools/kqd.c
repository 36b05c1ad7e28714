/* tools/kqd.c: the kqd daemon's command line: argv, index discovery, log lines on stderr,
 * detaching from the terminal, exit codes. The server itself is kq_server in libkq
 * (kq/server.h); the protocol is src/server/PROTOCOL.md. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kq/client.h"
#include "kq/server.h"

#define KQ_VERSION "0.1.0"

static const char usage[] =
    "usage: kqd [OPTIONS]\n"
    "\n"
    "Serves searches over one index on a Unix socket (the protocol: src/server/PROTOCOL.md)\n"
    "so that kq and editors get answers without opening the index each time. Reloads the\n"
    "index when kq-index commits a new generation (or on SIGHUP); stops on SIGINT/SIGTERM.\n"
    "\n"
    "options:\n"
    "  -i, --index DIR         the index (default: $KQ_INDEX, else the nearest .kq/ upwards)\n"
    "  -s, --socket PATH       the socket (default: DIR/kqd.sock, or a path under\n"
    "                          $XDG_RUNTIME_DIR/kq when that is too long; see PROTOCOL.md)\n"
    "  -f, --foreground        stay in the foreground (default: detach once serving)\n"
    "  -j, --threads N         query threads (default: the number of CPUs)\n"
    "      --max-line BYTES    longest request line (default 64K)\n"
    "      --max-connections N (default 1024)\n"
    "      --max-in-flight N   requests in flight per connection (default 64)\n"
    "      --max-unsent BYTES  unsent answer bytes per connection (default 8M)\n"
    "      --max-queue N       queued queries, all connections (default 4096)\n"
    "      --idle-timeout S    close idle connections after S seconds (default 300)\n"
    "      --line-timeout S    a started request line must end within S seconds (default 10)\n"
    "      --log-level L       error, warn, info (default) or debug\n"
    "  -h, --help              this help\n"
    "  -V, --version           the version\n"
    "\n"
    "BYTES take a K or M suffix (KiB, MiB); S may have decimals.\n"
    "exit status: 0 after a clean stop; 2 on error (another kqd serving the socket included).\n";

struct logger {
    enum kq_log_level level;
    int journal; /* stderr is the systemd journal: it adds the time, we add <priority> */
};

static void log_line(void *ctx, enum kq_log_level level, const char *msg)
{
    const struct logger *lg = ctx;
    static const char *const names[] = {"error", "warn", "info", "debug"};
    static const int prio[] = {3, 4, 6, 7};
    if (level > lg->level)
        return;
    if (lg->journal) {
        fprintf(stderr, "<%d>%s\n", prio[level], msg);
        return;
    }
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
    fprintf(stderr, "%s kqd[%ld] %s: %s\n", when, (long)getpid(), names[level], msg);
}

static int parse_count(const char *s, const char *name, unsigned long long max, int sizes,
                       unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    int shift = !sizes ? 0 : *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20 : 0;
    if (shift && v > max >> shift)
        v = max + 1; /* too large, and shifting it could wrap */
    else
        v <<= shift;
    end += shift != 0;
    if (errno || end == s || *end || s[0] == '-' || v == 0 || v > max) {
        fprintf(stderr, "kqd: %s wants a number from 1 to %llu\n", name, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, const char *name, uint64_t *ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 1e7) {
        fprintf(stderr, "kqd: %s wants a number of seconds above 0\n", name);
        return -1;
    }
    *ms = (uint64_t)(v * 1000 + 0.5);
    if (!*ms)
        *ms = 1;
    return 0;
}

/* Forks: the parent waits until the child serves (or fails) and exits with its status, so
 * `kqd && kq …` works. The child leaves the terminal's session and keeps stderr. */
static int detach(int *ready_fd)
{
    int p[2];
    if (pipe(p) != 0) {
        fprintf(stderr, "kqd: pipe: %s\n", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "kqd: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        char c = 1;
        ssize_t n;
        while ((n = read(p[0], &c, 1)) < 0 && errno == EINTR)
            ;
        _exit(n == 1 && c == 0 ? 0 : 2);
    }
    close(p[0]);
    setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        if (null > 2)
            close(null);
    }
    if (chdir("/") != 0) {
        /* nothing uses the current directory any more: every path is absolute */
    }
    *ready_fd = p[1];
    return 0;
}

/* A read of a mapped index file past its end: a segment truncated under kqd after it
 * verified it (kq-index never changes a committed file). The reload that its change starts
 * stops kqd cleanly when it comes first; a query that faults first ends kqd here, with a
 * message instead of a core, and clients search in-process, which reports the damage. */
static void on_sigbus(int sig)
{
    (void)sig;
    static const char msg[] = "kqd: a file of the index was truncated while in use: stopping\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing more can be done */
    }
    _exit(2);
}

int main(int argc, char **argv)
{
    enum { OPT_MAX_LINE = 256, OPT_MAX_CONN, OPT_MAX_FLIGHT, OPT_MAX_UNSENT, OPT_MAX_QUEUE,
           OPT_IDLE, OPT_LINE, OPT_LOG };
    static const struct option longopts[] = {
        {"index", required_argument, NULL, 'i'},
        {"socket", required_argument, NULL, 's'},
        {"foreground", no_argument, NULL, 'f'},
        {"threads", required_argument, NULL, 'j'},
        {"max-line", required_argument, NULL, OPT_MAX_LINE},
        {"max-connections", required_argument, NULL, OPT_MAX_CONN},
        {"max-in-flight", required_argument, NULL, OPT_MAX_FLIGHT},
        {"max-unsent", required_argument, NULL, OPT_MAX_UNSENT},
        {"max-queue", required_argument, NULL, OPT_MAX_QUEUE},
        {"idle-timeout", required_argument, NULL, OPT_IDLE},
        {"line-timeout", required_argument, NULL, OPT_LINE},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    struct kq_server_opts o;
    kq_server_opts_init(&o);
    struct logger lg = {KQ_LOG_INFO, 0};
    const char *index_opt = NULL, *socket_opt = NULL;
    int foreground = 0, c;
    unsigned long long v;
    while ((c = getopt_long(argc, argv, "i:s:fj:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            index_opt = optarg;
            break;
        case 's':
            socket_opt = optarg;
            break;
        case 'f':
            foreground = 1;
            break;
        case 'j':
            if (parse_count(optarg, "--threads", 64, 0, &v))
                return 2;
            o.threads = (int)v;
            break;
        case OPT_MAX_LINE:
            if (parse_count(optarg, "--max-line", 1u << 30, 1, &v))
                return 2;
            o.max_line = (size_t)v;
            break;
        case OPT_MAX_CONN:
            if (parse_count(optarg, "--max-connections", 1000000, 0, &v))
                return 2;
            o.max_connections = (uint32_t)v;
            break;
        case OPT_MAX_FLIGHT:
            if (parse_count(optarg, "--max-in-flight", 1000000, 0, &v))
                return 2;
            o.max_in_flight = (uint32_t)v;
            break;
        case OPT_MAX_UNSENT:
            if (parse_count(optarg, "--max-unsent", 1u << 30, 1, &v))
                return 2;
            o.max_unsent = (size_t)v;
            break;
        case OPT_MAX_QUEUE:
            if (parse_count(optarg, "--max-queue", 10000000, 0, &v))
                return 2;
            o.max_queue = (uint32_t)v;
            break;
        case OPT_IDLE:
            if (parse_seconds(optarg, "--idle-timeout", &o.idle_timeout_ms))
                return 2;
            break;
        case OPT_LINE:
            if (parse_seconds(optarg, "--line-timeout", &o.line_timeout_ms))
                return 2;
            break;
        case OPT_LOG: {
            static const char *const names[] = {"error", "warn", "info", "debug"};
            int found = -1;
            for (int i = 0; i < 4; i++)
                if (!strcmp(optarg, names[i]))
                    found = i;
            if (found < 0) {
                fprintf(stderr, "kqd: --log-level wants error, warn, info or debug\n");
                return 2;
            }
            lg.level = (enum kq_log_level)found;
            break;
        }
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'V':
            printf("kqd %s (protocol %d)\n", KQ_VERSION, KQ_PROTOCOL_VERSION);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kqd: unexpected argument '%s'\n", argv[optind]);
        fputs(usage, stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a client that vanishes makes a write fail, nothing more */
    signal(SIGBUS, on_sigbus);
    const char *js = getenv("JOURNAL_STREAM");
    lg.journal = js && *js;

    kq_error err;
    kq_error_clear(&err);
    char dir[PATH_MAX], sock[2 * PATH_MAX + 2];
    if (kq_index_find(index_opt, dir, sizeof dir, &err)) {
        fprintf(stderr, "kqd: no index found (%s; build one with 'kq-index PATH', or use "
                        "--index or KQ_INDEX)\n", err.msg);
        return 2;
    }
    if (socket_opt) {
        /* absolute, since a detached kqd leaves its working directory */
        char cwd[PATH_MAX];
        if (socket_opt[0] != '/' && getcwd(cwd, sizeof cwd))
            snprintf(sock, sizeof sock, "%s/%s", cwd, socket_opt);
        else
            snprintf(sock, sizeof sock, "%s", socket_opt);
        o.socket_path = sock;
    }
    if (!o.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = n < 1 ? 1 : n > 64 ? 64 : (int)n;
    }
    /* one pool thread per searcher: libuv reads this when the pool starts */
    char nthreads[16];
    snprintf(nthreads, sizeof nthreads, "%d", o.threads);
    setenv("UV_THREADPOOL_SIZE", nthreads, 1);
    o.index_dir = dir;
    o.log = log_line;
    o.log_ctx = &lg;

    kq_server *s = NULL;
    if (kq_server_open(&o, &s, &err)) {
        fprintf(stderr, "kqd: %s\n", err.msg);
        return 2;
    }
    int ready_fd = -1;
    if (!foreground && detach(&ready_fd)) {
        kq_server_close(s);
        return 2;
    }
    if (ready_fd >= 0) {
        /* the socket is bound and listening: clients may connect from now on */
        char ok = 0;
        if (write(ready_fd, &ok, 1) != 1) {
            /* the parent is gone; serve anyway */
        }
        close(ready_fd);
    }
    int rc = kq_server_run(s, &err);
    if (rc)
        fprintf(stderr, "kqd: %s\n", err.msg);
    kq_server_close(s);
    return rc ? 2 : 0;
}
