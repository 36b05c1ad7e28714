/*
 * game_driver: the client side of "Search Benchmark, the Game" for tools/bench/query.sh.
 *
 * Starts each engine as a child process (/bin/sh -c "exec CMD", standard input and
 * output on pipes, standard error inherited), sends it every query of QUERIES as a line
 * `COMMAND<TAB>query`, reads the one-line answer, and times each round trip with
 * CLOCK_MONOTONIC. As the game does: one warm-up pass, then RUNS timed passes over the
 * queries in one shuffled order (fixed seed, the same for every engine), keeping the
 * fastest time of each query ("best of RUNS"). One engine process per command.
 *
 * QUERIES holds lines `TAG<TAB>query`. For each command it prints a markdown table: per
 * tag (in order of first appearance, then "all") the number of queries and, per engine,
 * p50 and p99 (nearest rank) of the per-query best times in µs, then each peer's ratios
 * to the first engine (the reference, kq): peer p50 / ref p50 and peer p99 / ref p99,
 * and "best peer p50 / ref p50" (the fastest peer's p50 over the reference's).
 * For COUNT it also reports on how many queries each peer's count differs from the
 * reference's (engines tokenise and stem differently: a report, not a failure).
 *
 * The floor (-F CMD): an engine answering at once (kq_game --null), measured the same
 * way; its p50 and p99 are what the driver and the pipes cost per query.
 *
 * Awake CPUs (-A): while it runs, the driver holds /dev/cpu_dma_latency at 0 µs (the PM
 * QoS request of tuned's latency-performance profile), so that an idle CPU polls instead
 * of halting. An engine blocks on its pipe between queries; on a virtual machine a halted
 * CPU gives its core back to the host, and the query that wakes it runs on cold caches,
 * several times slower than warm (every engine pays this; the more a query touches, the
 * more it pays). -A needs write access to the device (root).
 *
 * Usage: game_driver [-A] [-n RUNS] [-w WARMUPS] [-c COMMAND]... [-F FLOOR_CMD] [-r RAW]
 *                    [-P P99_US] [-t TITLE] QUERIES NAME=CMD...
 *   -A            keeps the CPUs awake (above)
 *   -n RUNS       timed passes, best kept (default 5)
 *   -w WARMUPS    untimed passes first (default 1)
 *   -c COMMAND    a game command (repeatable; default TOP_10 then COUNT)
 *   -F FLOOR_CMD  the null engine, for the floor
 *   -r RAW        appends one TSV line per command, engine and query:
 *                 command, engine, tag, query number, best µs, answer (-1: UNSUPPORTED)
 *   -P P99_US     adds a column: whether the reference's p99 is at most P99_US
 *   -t TITLE      a heading printed before the tables
 * Exit status: 0 (count disagreements included), 1 when an engine fails, 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ENGINES 8
#define MAX_COMMANDS 8
#define ANSWER_TIMEOUT_MS 600000 /* one answer may take 10 minutes before we give up */

struct query {
    char *tag;
    char *text;
    size_t tag_index;
};

struct engine {
    const char *name;
    const char *cmd;
    pid_t pid;
    int to_fd, from_fd;
    char buf[4096];
    size_t buf_len;
};

/* Per engine and query: best time and answer, for one command. */
struct result {
    double best_us;
    long long answer; /* -1: UNSUPPORTED, -2: not a number */
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int engine_start(struct engine *e)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    size_t len = strlen(e->cmd) + 6;
    char *script = malloc(len);
    if (!script)
        return -1;
    snprintf(script, len, "exec %s", e->cmd);
    pid_t pid = fork();
    if (pid < 0) {
        free(script);
        return -1;
    }
    if (pid == 0) {
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
            _exit(127);
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    free(script);
    close(in[0]);
    close(out[1]);
    e->pid = pid;
    e->to_fd = in[1];
    e->from_fd = out[0];
    e->buf_len = 0;
    return 0;
}

/* Closes the engine's input and waits for it. Returns its exit status, or -1. */
static int engine_stop(struct engine *e)
{
    int status = 0;
    if (e->to_fd >= 0)
        close(e->to_fd);
    if (e->from_fd >= 0)
        close(e->from_fd);
    e->to_fd = e->from_fd = -1;
    if (e->pid > 0 && waitpid(e->pid, &status, 0) < 0)
        status = -1;
    e->pid = 0;
    return status;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends `line` (`len` bytes, ending in '\n') and reads one answer line. Returns 0 with
 * the round trip in `*us` and the answer in `*answer`, -1 when the engine failed. */
static int engine_ask(struct engine *e, const char *line, size_t len, double *us,
                      long long *answer)
{
    double t0 = now_us();
    if (write_all(e->to_fd, line, len) != 0)
        return -1;
    char *nl;
    while (!(nl = memchr(e->buf, '\n', e->buf_len))) {
        if (e->buf_len == sizeof e->buf)
            return -1; /* an answer line this long is not the protocol */
        struct pollfd pfd = {.fd = e->from_fd, .events = POLLIN};
        int pr = poll(&pfd, 1, ANSWER_TIMEOUT_MS);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        ssize_t n = read(e->from_fd, e->buf + e->buf_len, sizeof e->buf - e->buf_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        e->buf_len += (size_t)n;
    }
    *us = now_us() - t0;
    size_t alen = (size_t)(nl - e->buf);
    *nl = '\0';
    if (alen >= 11 && strncmp(e->buf, "UNSUPPORTED", 11) == 0) {
        *answer = -1;
    } else {
        char *end;
        long long v = strtoll(e->buf, &end, 10);
        *answer = (end == e->buf || (*end != '\0' && *end != '\r')) ? -2 : v;
    }
    memmove(e->buf, nl + 1, e->buf_len - alen - 1);
    e->buf_len -= alen + 1;
    return 0;
}

/* Runs `cmd` on every query with engine `e`: warmups, then runs passes in `order`. */
static int run_engine(struct engine *e, const char *cmd, const struct query *qs, size_t n_q,
                      const size_t *order, int warmups, int runs, struct result *res)
{
    size_t cap = 256;
    char *line = malloc(cap);
    int rc = -1;
    if (!line || engine_start(e) != 0) {
        fprintf(stderr, "game_driver: cannot start %s\n", e->name);
        free(line);
        return -1;
    }
    for (size_t i = 0; i < n_q; i++) {
        res[i].best_us = INFINITY;
        res[i].answer = -3;
    }
    for (int pass = 0; pass < warmups + runs; pass++) {
        for (size_t j = 0; j < n_q; j++) {
            const struct query *q = &qs[order[j]];
            size_t need = strlen(cmd) + strlen(q->text) + 3;
            if (need > cap) {
                char *nl = realloc(line, need);
                if (!nl)
                    goto done;
                line = nl;
                cap = need;
            }
            int len = snprintf(line, cap, "%s\t%s\n", cmd, q->text);
            double us;
            long long answer;
            if (engine_ask(e, line, (size_t)len, &us, &answer) != 0) {
                fprintf(stderr, "game_driver: %s failed on %s '%s'\n", e->name, cmd, q->text);
                goto done;
            }
            if (pass >= warmups) {
                struct result *r = &res[order[j]];
                if (us < r->best_us)
                    r->best_us = us;
                r->answer = answer;
            }
        }
    }
    rc = 0;
done:
    free(line);
    int status = engine_stop(e);
    if (rc == 0 && status != 0) {
        fprintf(stderr, "game_driver: %s exited with status %d\n", e->name, status);
        rc = -1;
    }
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile `p` (0..1] of the sorted `v` (n > 0). */
static double percentile(const double *v, size_t n, double p)
{
    size_t rank = (size_t)ceil(p * (double)n);
    if (rank < 1)
        rank = 1;
    return v[rank - 1];
}

/* p50 and p99 of the best times of the queries with tag index `tag` (SIZE_MAX: all). */
static size_t tag_stats(const struct query *qs, size_t n_q, const struct result *res,
                        size_t tag, double *tmp, double *p50, double *p99)
{
    size_t n = 0;
    for (size_t i = 0; i < n_q; i++) {
        if (tag == SIZE_MAX || qs[i].tag_index == tag)
            tmp[n++] = res[i].best_us;
    }
    if (n == 0) {
        *p50 = *p99 = NAN;
        return 0;
    }
    qsort(tmp, n, sizeof *tmp, cmp_double);
    *p50 = percentile(tmp, n, 0.50);
    *p99 = percentile(tmp, n, 0.99);
    return n;
}

/* µs with thousands separators, as the README's tables. */
static const char *fmt_us(double us, char *buf, size_t size)
{
    if (isnan(us) || isinf(us)) {
        snprintf(buf, size, "-");
        return buf;
    }
    unsigned long long v = (unsigned long long)llround(us);
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: game_driver [-A] [-n RUNS] [-w WARMUPS] [-c COMMAND]... [-F FLOOR_CMD]\n"
                 "                   [-r RAW] [-P P99_US] [-t TITLE] QUERIES NAME=CMD...\n");
}

static _Noreturn void out_of_memory(void)
{
    fputs("game_driver: out of memory\n", stderr);
    exit(1);
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        out_of_memory();
    return p;
}

/* The number in `s` (option -`opt`), or exit 2 when it is not one. */
static double parse_number(int opt, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || isnan(v)) {
        fprintf(stderr, "game_driver: -%c: '%s' is not a number\n", opt, s);
        exit(2);
    }
    return v;
}

static int parse_int(int opt, const char *s)
{
    double v = parse_number(opt, s);
    if (v != (double)(int)v || v < 0 || v > 1e6) {
        fprintf(stderr, "game_driver: -%c: '%s' is not a whole number from 0 to 1000000\n",
                opt, s);
        exit(2);
    }
    return (int)v;
}

/* The PM QoS request "no CPU idle state with an exit latency above 0 µs" (-A) lasts while
 * this descriptor is open: until the driver exits. */
static int qos_fd = -1;

/* Opens qos_fd and makes the request. Returns 0 or -1 (message printed). */
static int keep_cpus_awake(void)
{
    static const char dev[] = "/dev/cpu_dma_latency";
    int fd = open(dev, O_WRONLY | O_CLOEXEC);
    int32_t zero = 0;
    if (fd < 0 || write(fd, &zero, sizeof zero) != (ssize_t)sizeof zero) {
        fprintf(stderr, "game_driver: -A: %s: %s\n", dev, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    qos_fd = fd;
    return 0;
}

int main(int argc, char **argv)
{
    int runs = 5, warmups = 1, awake = 0, opt;
    const char *commands[MAX_COMMANDS];
    size_t n_commands = 0;
    const char *floor_cmd = NULL, *raw_path = NULL, *title = NULL;
    double p99_limit = 0;
    while ((opt = getopt(argc, argv, "An:w:c:F:r:P:t:h")) != -1) {
        switch (opt) {
        case 'A': awake = 1; break;
        case 'n': runs = parse_int(opt, optarg); break;
        case 'w': warmups = parse_int(opt, optarg); break;
        case 'c':
            if (n_commands == MAX_COMMANDS) {
                fprintf(stderr, "game_driver: at most %d commands\n", MAX_COMMANDS);
                return 2;
            }
            commands[n_commands++] = optarg;
            break;
        case 'F': floor_cmd = optarg; break;
        case 'r': raw_path = optarg; break;
        case 'P': p99_limit = parse_number(opt, optarg); break;
        case 't': title = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (runs < 1 || warmups < 0 || argc - optind < 2 || argc - optind - 1 > MAX_ENGINES) {
        usage(stderr);
        return 2;
    }
    if (n_commands == 0) {
        commands[n_commands++] = "TOP_10";
        commands[n_commands++] = "COUNT";
    }
    signal(SIGPIPE, SIG_IGN);
    if (awake && keep_cpus_awake() != 0)
        return 2;

    /* The engines: NAME=CMD. */
    struct engine engines[MAX_ENGINES + 1];
    size_t n_eng = 0;
    for (int i = optind + 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) {
            fprintf(stderr, "game_driver: '%s' is not NAME=CMD\n", argv[i]);
            return 2;
        }
        *eq = '\0';
        engines[n_eng++] = (struct engine){.name = argv[i], .cmd = eq + 1, .to_fd = -1,
                                           .from_fd = -1};
    }
    if (n_eng == 0) { /* argc was checked above; said again for the analysers */
        usage(stderr);
        return 2;
    }
    struct engine floor_eng = {.name = "floor", .cmd = floor_cmd, .to_fd = -1, .from_fd = -1};

    /* The queries: TAG<TAB>query. */
    FILE *f = fopen(argv[optind], "r");
    if (!f) {
        fprintf(stderr, "game_driver: %s: %s\n", argv[optind], strerror(errno));
        return 2;
    }
    struct query *qs = NULL;
    size_t n_q = 0, cap_q = 0, n_tags = 0;
    char *tags[64];
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab || tab[1] == '\0')
            continue;
        *tab = '\0';
        if (n_q == cap_q) {
            cap_q = cap_q ? cap_q * 2 : 1024;
            struct query *nq = realloc(qs, cap_q * sizeof *qs);
            if (!nq)
                out_of_memory();
            qs = nq;
        }
        size_t t = 0;
        while (t < n_tags && strcmp(tags[t], line) != 0)
            t++;
        if (t == n_tags) {
            if (n_tags == sizeof tags / sizeof tags[0]) {
                fprintf(stderr, "game_driver: too many tags\n");
                return 2;
            }
            tags[n_tags++] = xstrdup(line);
        }
        qs[n_q++] = (struct query){.tag = tags[t], .text = xstrdup(tab + 1), .tag_index = t};
    }
    free(line);
    fclose(f);
    if (n_q == 0) {
        fprintf(stderr, "game_driver: no query in %s\n", argv[optind]);
        return 2;
    }

    /* One shuffled order for every engine and pass (xorshift64*, fixed seed). */
    size_t *order = malloc(n_q * sizeof *order);
    struct result *res = malloc((n_eng + 1) * n_q * sizeof *res);
    double *tmp = malloc(n_q * sizeof *tmp);
    if (!order || !res || !tmp)
        out_of_memory();
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n_q; i++)
        order[i] = i;
    for (size_t i = n_q - 1; i > 0; i--) {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        size_t j = (size_t)((seed * 0x2545f4914f6cdd1dULL) % (i + 1));
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    FILE *raw = NULL;
    if (raw_path && !(raw = fopen(raw_path, "a"))) {
        fprintf(stderr, "game_driver: %s: %s\n", raw_path, strerror(errno));
        return 2;
    }

    int status = 0;
    char b1[32], b2[32];
    if (title)
        printf("### %s\n\n", title);
    printf("%zu queries, best of %d runs after %d warm-up pass(es); round-trip µs, nearest-rank "
           "percentiles; ratios are peer / %s.\n",
           n_q, runs, warmups, engines[0].name);
    printf("CPUs %s.\n", awake ? "kept awake (/dev/cpu_dma_latency held at 0 µs: idle polls)"
                                : "left to idle as configured (no -A)");
    for (size_t c = 0; c < n_commands; c++) {
        const char *cmd = commands[c];
        int failed[MAX_ENGINES] = {0};
        for (size_t e = 0; e < n_eng; e++) {
            fprintf(stderr, "game_driver: %s %s ...\n", cmd, engines[e].name);
            double t0 = now_us();
            if (run_engine(&engines[e], cmd, qs, n_q, order, warmups, runs, res + e * n_q) != 0) {
                failed[e] = 1;
                status = 1;
                for (size_t i = 0; i < n_q; i++)
                    res[e * n_q + i] = (struct result){.best_us = NAN, .answer = -3};
            }
            fprintf(stderr, "game_driver: %s %s: %.1f s\n", cmd, engines[e].name,
                    (now_us() - t0) / 1e6);
        }
        double floor50 = NAN, floor99 = NAN;
        if (floor_cmd &&
            run_engine(&floor_eng, cmd, qs, n_q, order, warmups, runs, res + n_eng * n_q) == 0)
            tag_stats(qs, n_q, res + n_eng * n_q, SIZE_MAX, tmp, &floor50, &floor99);

        printf("\n#### %s\n\n| tag | queries |", cmd);
        for (size_t e = 0; e < n_eng; e++)
            printf(" %s p50 | %s p99 |", engines[e].name, engines[e].name);
        for (size_t e = 1; e < n_eng; e++)
            printf(" %s/%s p50 | %s/%s p99 |", engines[e].name, engines[0].name,
                   engines[e].name, engines[0].name);
        if (n_eng > 1)
            printf(" best peer p50 / %s p50 |", engines[0].name);
        if (p99_limit > 0)
            printf(" %s p99 <= %s |", engines[0].name, fmt_us(p99_limit, b1, sizeof b1));
        printf("\n| --- | ---: |");
        for (size_t e = 0; e < 4 * n_eng - 2 + (n_eng > 1) + (p99_limit > 0); e++)
            printf(" ---: |");
        printf("\n");
        /* One row per tag, then all queries (unless there is one tag only). */
        for (size_t t = 0; t < n_tags + (n_tags > 1); t++) {
            size_t tag = t == n_tags ? SIZE_MAX : t;
            double p50[MAX_ENGINES], p99[MAX_ENGINES];
            size_t n = 0;
            for (size_t e = 0; e < n_eng; e++)
                n = tag_stats(qs, n_q, res + e * n_q, tag, tmp, &p50[e], &p99[e]);
            printf("| %s | %zu |", t == n_tags ? "**all**" : tags[t], n);
            for (size_t e = 0; e < n_eng; e++)
                printf(" %s | %s |", fmt_us(p50[e], b1, sizeof b1), fmt_us(p99[e], b2, sizeof b2));
            double best = INFINITY;
            for (size_t e = 1; e < n_eng; e++) {
                printf(" %.1fx | %.1fx |", p50[e] / p50[0], p99[e] / p99[0]);
                if (!failed[e] && p50[e] < best)
                    best = p50[e];
            }
            if (n_eng > 1)
                printf(" %.1fx%s |", best / p50[0], best / p50[0] >= 10 ? "" : " (< 10x)");
            if (p99_limit > 0)
                printf(" %s |", p99[0] <= p99_limit ? "yes" : "**no**");
            printf("\n");
        }
        if (floor_cmd)
            printf("\nDriver floor (%s, same queries): p50 %s µs, p99 %s µs.\n", floor_cmd,
                   fmt_us(floor50, b1, sizeof b1), fmt_us(floor99, b2, sizeof b2));
        /* Answers: UNSUPPORTED per engine; for counting commands, agreement with the
         * reference. */
        int counting = strstr(cmd, "COUNT") != NULL;
        printf("\n");
        for (size_t e = 0; e < n_eng; e++) {
            size_t unsup = 0, bad = 0, differ = 0, compared = 0;
            for (size_t i = 0; i < n_q; i++) {
                long long a = res[e * n_q + i].answer, r = res[i].answer;
                unsup += a == -1;
                bad += a == -2;
                if (e > 0 && counting && a >= 0 && r >= 0) {
                    compared++;
                    differ += a != r;
                }
            }
            if (failed[e])
                printf("- %s: **failed** (see standard error)\n", engines[e].name);
            else if (e == 0 || !counting)
                printf("- %s: %zu UNSUPPORTED, %zu malformed answers\n", engines[e].name,
                       unsup, bad);
            else
                printf("- %s: %zu UNSUPPORTED, %zu malformed answers; count differs from %s "
                       "on %zu of %zu queries\n",
                       engines[e].name, unsup, bad, engines[0].name, differ, compared);
        }
        if (raw) {
            for (size_t e = 0; e <= n_eng; e++) {
                if (e == n_eng && !floor_cmd)
                    break;
                for (size_t i = 0; i < n_q; i++) {
                    const struct result *r = &res[e * n_q + i];
                    fprintf(raw, "%s\t%s\t%s\t%zu\t%.1f\t%lld\n", cmd,
                            e == n_eng ? "floor" : engines[e].name, qs[i].tag, i, r->best_us,
                            r->answer);
                }
            }
        }
        fflush(stdout);
    }
    if (raw)
        fclose(raw);
    for (size_t i = 0; i < n_q; i++)
        free(qs[i].text);
    for (size_t t = 0; t < n_tags; t++)
        free(tags[t]);
    free(qs);
    free(order);
    free(res);
    free(tmp);
    return status;
}
