/* tools/bench/kqd_load.c: the daemon's load benchmark. The same queries run in-process
 * (kq_search + kq_result_json on 1 and on 2 threads, each with its own searcher: what kqd's
 * workers do) and over kqd's socket (1, 8 and 64 clients, each a connection with one
 * request at a time, a closed loop), and the program prints queries per second and p50/p99
 * latency of each, the socket's cost per query, and how throughput scales with threads.
 *
 * usage: kqd_load --index DIR --socket SOCK --queries FILE [--qrels FILE] [--seconds S]
 *                 [--clients 1,8,64] [--threads 1,2] [--k 10] [--no-snippets]
 *                 [--server-pid PID]
 *
 *   --queries FILE  BEIR queries.jsonl: each "text" is sent as a plain (free-text) query
 *   --qrels FILE    keep only the queries with a judgment in this BEIR qrels file
 *   --seconds S     seconds per configuration (default 5)
 *   --server-pid P  kqd's process id: its CPU time per configuration is printed too
 *
 * The socket's cost per query is measured two ways: p50 over the socket with one client
 * minus p50 in-process on one thread (both include the JSON of the result), and, per query,
 * the round trip minus the server's own took_us for that very request (what kqd adds
 * around kq_search: parsing, the thread-pool hand-off both ways, the JSON, the writes and
 * the client's reads), whose median is printed. A ping round trip (no thread pool) is the
 * floor of the loop alone.
 *
 * Each configuration also prints the CPU this program used (in-process: the queries
 * themselves; over the socket: the clients) and, given --server-pid, the CPU kqd used, in
 * cores busy (CPU seconds per second) and in CPU microseconds per query. The clients share
 * the machine with kqd, so on 2 cores the throughput over the socket is bounded by the
 * cores left after the clients' share, not by kqd's use of them.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "kq/client.h"
#include "kq/search.h"

struct query {
    char *text;
    size_t len;
    char *line; /* the request, "id":0 */
    size_t line_len;
};

static struct query *queries;
static size_t n_queries;
static const char *index_dir, *sock_path;
static uint32_t k = 10;
static int flags = KQ_SEARCH_PLAIN;
static double seconds = 5;
static long server_pid; /* 0: not given */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static _Noreturn void die(const char *what, const char *msg)
{
    fprintf(stderr, "kqd_load: %s: %s\n", what, msg);
    exit(2);
}

/* The bytes of `n` elements of `size` bytes, at least one element so that 0 is never asked
 * of malloc. */
static size_t array_bytes(size_t n, size_t size)
{
    if (!n)
        n = 1;
    if (n > SIZE_MAX / size)
        die("memory", "allocation size overflows");
    return n * size;
}

/* Allocation: a benchmark has no use for going on without memory, so failure ends it. */
static void *xmalloc(size_t n, size_t size)
{
    void *p = malloc(array_bytes(n, size));
    if (!p)
        die("memory", strerror(ENOMEM));
    return p;
}

/* `p` resized to `n` elements of `size` bytes */
static void *xrealloc(void *p, size_t n, size_t size)
{
    void *q = realloc(p, array_bytes(n, size));
    if (!q)
        die("memory", strerror(ENOMEM));
    return q;
}

/* ---- queries ---- */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path, strerror(errno));
    size_t cap = (size_t)1 << 20, n = 0, r;
    char *p = xmalloc(cap, 1);
    while ((r = fread(p + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) {
            cap *= 2;
            p = xrealloc(p, cap, 1);
        }
    }
    if (ferror(f))
        die(path, "read error");
    fclose(f);
    p[n] = '\0';
    *len = n;
    return p;
}

static int judged(const char *qrels, size_t qlen, const char *id)
{
    if (!qrels)
        return 1;
    size_t il = strlen(id);
    for (const char *l = qrels; l && l < qrels + qlen;) {
        if (!strncmp(l, id, il) && l[il] == '\t')
            return 1;
        l = strchr(l, '\n');
        l = l ? l + 1 : NULL;
    }
    return 0;
}

static void load_queries(const char *path, const char *qrels_path)
{
    size_t len, qlen = 0;
    char *all = read_all(path, &len), *qrels = qrels_path ? read_all(qrels_path, &qlen) : NULL;
    size_t cap = 1024;
    queries = xmalloc(cap, sizeof *queries);
    for (char *l = all; l && *l;) {
        char *e = strchr(l, '\n');
        if (e)
            *e = '\0';
        json_t *o = json_loads(l, 0, NULL);
        json_t *t = json_object_get(o, "text"), *id = json_object_get(o, "_id");
        if (json_is_string(t) && json_is_string(id) && judged(qrels, qlen, json_string_value(id))) {
            if (n_queries == cap) {
                cap *= 2;
                queries = xrealloc(queries, cap, sizeof *queries);
            }
            struct query *q = &queries[n_queries];
            q->len = json_string_length(t);
            q->text = xmalloc(q->len + 1, 1);
            memcpy(q->text, json_string_value(t), q->len);
            q->text[q->len] = '\0';
            struct kq_search_request req = {q->text, q->len, k, 0, flags, -1, -1, 0};
            kq_error err;
            int rc = kq_search_request_json(&req, 0, &q->line, &q->line_len, &err);
            if (rc == KQ_ENOMEM)
                die("memory", err.msg);
            if (rc)
                free(q->text); /* not UTF-8: JSON cannot carry it */
            else
                n_queries++;
        }
        json_decref(o);
        l = e ? e + 1 : NULL;
    }
    free(all);
    free(qrels);
    if (!n_queries)
        die(path, "no queries");
}

static void free_queries(void)
{
    for (size_t i = 0; i < n_queries; i++) {
        free(queries[i].text);
        kq_free(queries[i].line);
    }
    free(queries);
    queries = NULL;
    n_queries = 0;
}

/* ---- one configuration: `n` workers for `seconds`, each timing every query ---- */

struct worker {
    pthread_t t;
    int id, n, ping;
    uint64_t deadline;
    uint32_t *lat_us;       /* per query done */
    int64_t *extra_us;      /* socket: round trip - server took_us */
    uint32_t *which;        /* the query of each sample */
    size_t n_done, cap;
};

static void record(struct worker *w, uint64_t ns, int64_t extra, uint32_t qi)
{
    if (w->n_done == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4096;
        w->lat_us = xrealloc(w->lat_us, w->cap, sizeof *w->lat_us);
        w->extra_us = xrealloc(w->extra_us, w->cap, sizeof *w->extra_us);
        w->which = xrealloc(w->which, w->cap, sizeof *w->which);
    }
    w->lat_us[w->n_done] = (uint32_t)(ns / 1000);
    w->extra_us[w->n_done] = extra;
    w->which[w->n_done] = qi;
    w->n_done++;
}

static void *run_local(void *arg)
{
    struct worker *w = arg;
    kq_searcher *s;
    kq_error err;
    if (kq_searcher_open(index_dir, &s, &err))
        die(index_dir, err.msg);
    size_t i = (size_t)w->id * n_queries / (size_t)w->n;
    while (now_ns() < w->deadline) {
        struct query *q = &queries[i];
        struct kq_search_request req = {q->text, q->len, k, 0, flags, -1, -1, 0};
        uint64_t t0 = now_ns();
        kq_result *r = NULL;
        char *json = NULL;
        size_t len;
        if (kq_search(s, &req, &r, &err) || kq_result_json(r, &json, &len, &err))
            die("search", err.msg);
        uint64_t t1 = now_ns();
        kq_free(json);
        kq_result_free(r);
        record(w, t1 - t0, 0, (uint32_t)i);
        i = (i + 1) % n_queries;
    }
    kq_searcher_close(s);
    return NULL;
}

static void *run_socket(void *arg)
{
    struct worker *w = arg;
    kq_client *c;
    kq_error err;
    if (kq_client_connect(sock_path, 5000, &c, &err))
        die(sock_path, err.msg);
    size_t i = (size_t)w->id * n_queries / (size_t)w->n;
    static const char ping[] = "{\"id\":0,\"op\":\"ping\"}";
    while (now_ns() < w->deadline) {
        struct query *q = &queries[i];
        const char *a;
        size_t alen;
        uint64_t t0 = now_ns();
        int rc = w->ping ? kq_client_call(c, ping, sizeof ping - 1, 30000, &a, &alen, &err)
                         : kq_client_call(c, q->line, q->line_len, 30000, &a, &alen, &err);
        uint64_t t1 = now_ns();
        if (rc)
            die("call", err.msg);
        if (strstr(a, "\"error\":"))
            die("answer", a);
        int64_t extra = 0;
        const char *tk = strstr(a, "\"took_us\":");
        if (tk)
            extra = (int64_t)((t1 - t0) / 1000) - strtoll(tk + 10, NULL, 10);
        record(w, t1 - t0, extra, (uint32_t)i);
        i = (i + 1) % n_queries;
    }
    kq_client_close(c);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* CPU seconds (user + system) used so far by this process */
static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CPU seconds used so far by process `pid` (fields 14 and 15 of /proc/PID/stat), or -1 */
static double proc_cpu(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* fields 3 (the state, a letter) to 15 follow the command name, which may hold spaces */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    unsigned long long ticks = 0;
    for (int field = 3; field <= 15; field++) {
        while (*p == ' ')
            p++;
        char *e;
        unsigned long long v = strtoull(p, &e, 10);
        if (field >= 14) { /* utime, stime */
            if (e == p)
                return -1;
            ticks += v;
        }
        p = e;
        while (*p && *p != ' ')
            p++; /* field 3, the state, is a letter */
    }
    return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

struct result {
    double qps;
    uint32_t p50, p99;
    int64_t extra_p50;
    uint32_t *min_us; /* per query: the fastest time seen (UINT32_MAX: not run) */
    size_t n_min;     /* entries of min_us: n_queries */
};

static struct result run(const char *mode, int n, int socket, int ping)
{
    struct worker *ws = xmalloc((size_t)n, sizeof *ws);
    memset(ws, 0, (size_t)n * sizeof *ws);
    double cpu0 = self_cpu(), srv0 = server_pid ? proc_cpu(server_pid) : -1;
    uint64_t t0 = now_ns();
    for (int i = 0; i < n; i++) {
        ws[i].id = i;
        ws[i].n = n;
        ws[i].ping = ping;
        ws[i].deadline = t0 + (uint64_t)(seconds * 1e9);
        int rc = pthread_create(&ws[i].t, NULL, socket ? run_socket : run_local, &ws[i]);
        if (rc)
            die("pthread_create", strerror(rc));
    }
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(ws[i].t, NULL);
        total += ws[i].n_done;
    }
    double elapsed = (double)(now_ns() - t0) / 1e9;
    double cpu = self_cpu() - cpu0, srv = server_pid ? proc_cpu(server_pid) : -1;
    uint32_t *all = xmalloc(total, sizeof *all);
    int64_t *extra = xmalloc(total, sizeof *extra);
    struct result r = {0};
    r.n_min = n_queries;
    r.min_us = xmalloc(r.n_min, sizeof *r.min_us);
    for (size_t q = 0; q < r.n_min; q++)
        r.min_us[q] = UINT32_MAX;
    size_t m = 0;
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; j < ws[i].n_done; j++, m++) {
            all[m] = ws[i].lat_us[j];
            extra[m] = ws[i].extra_us[j];
            uint32_t qi = ws[i].which[j];
            if (all[m] < r.min_us[qi])
                r.min_us[qi] = all[m];
        }
        free(ws[i].lat_us);
        free(ws[i].extra_us);
        free(ws[i].which);
    }
    qsort(all, total, sizeof *all, cmp_u32);
    qsort(extra, total, sizeof *extra, cmp_i64);
    r.qps = (double)total / elapsed;
    r.p50 = total ? all[(total * 50 + 99) / 100 - 1] : 0;
    r.p99 = total ? all[(total * 99 + 99) / 100 - 1] : 0;
    r.extra_p50 = total ? extra[(total * 50 + 99) / 100 - 1] : 0;
    printf("| %-12s | %7d | %8zu | %9.0f | %7u | %7u |", mode, n, total, r.qps, r.p50, r.p99);
    if (socket && !ping)
        printf(" %7lld |", (long long)r.extra_p50);
    else
        printf("         |");
    double per_q = total ? 1e6 / (double)total : 0;
    printf(" %4.2f, %5.0f |", cpu / elapsed, cpu * per_q);
    if (socket && srv0 >= 0 && srv >= 0)
        printf(" %4.2f, %5.0f |\n", (srv - srv0) / elapsed, (srv - srv0) * per_q);
    else
        printf("             |\n");
    fflush(stdout);
    free(all);
    free(extra);
    free(ws);
    return r;
}

/* `s`, a comma-separated list of 1 to `max` numbers in 1..4096 (`opt` names it in errors),
 * into `out`; returns how many */
static int parse_list(const char *opt, const char *s, int *out, int max)
{
    int n = 0;
    for (const char *p = s;;) {
        char *e;
        errno = 0;
        long v = strtol(p, &e, 10);
        if (errno || e == p || v < 1 || v > 4096 || (*e && *e != ',') || n == max) {
            fprintf(stderr, "kqd_load: %s: '%s' is not a list of 1 to %d numbers in 1..4096\n",
                    opt, s, max);
            exit(2);
        }
        out[n++] = (int)v;
        if (!*e)
            return n;
        p = e + 1;
    }
}

/* --seconds: a number of seconds in (0, 86400] */
static double parse_seconds(const char *s)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || *e || !(v > 0 && v <= 86400)) {
        fprintf(stderr, "kqd_load: --seconds: '%s' is not a number in (0, 86400]\n", s);
        exit(2);
    }
    return v;
}

/* --k: hits wanted, 1..10000 (as kq_search takes them) */
static uint32_t parse_k(const char *s)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < 1 || v > 10000) {
        fprintf(stderr, "kqd_load: --k: '%s' is not a number in 1..10000\n", s);
        exit(2);
    }
    return (uint32_t)v;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"index", required_argument, NULL, 'i'},   {"socket", required_argument, NULL, 's'},
        {"queries", required_argument, NULL, 'q'}, {"qrels", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 't'}, {"clients", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 'j'}, {"k", required_argument, NULL, 'k'},
        {"no-snippets", no_argument, NULL, 'n'},   {"server-pid", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0}};
    const char *qpath = NULL, *qrels = NULL;
    int clients[16] = {1, 8, 64}, n_clients = 3, threads[16] = {1, 2}, n_threads = 2, c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i': index_dir = optarg; break;
        case 's': sock_path = optarg; break;
        case 'q': qpath = optarg; break;
        case 'r': qrels = optarg; break;
        case 't': seconds = parse_seconds(optarg); break;
        case 'c': n_clients = parse_list("--clients", optarg, clients, 16); break;
        case 'j': n_threads = parse_list("--threads", optarg, threads, 16); break;
        case 'k': k = parse_k(optarg); break;
        case 'n': flags |= KQ_SEARCH_NO_SNIPPETS; break;
        case 'p':
            server_pid = strtol(optarg, NULL, 10);
            if (server_pid <= 0 || proc_cpu(server_pid) < 0)
                die("--server-pid", "not the id of a running process");
            break;
        default:
            fprintf(stderr, "usage: kqd_load --index DIR --socket SOCK --queries FILE "
                            "[--qrels FILE] [--seconds S] [--clients 1,8,64] [--threads 1,2] "
                            "[--k 10] [--no-snippets] [--server-pid PID]\n");
            return 2;
        }
    }
    if (!index_dir || !sock_path || !qpath)
        die("usage", "--index, --socket and --queries are required");
    load_queries(qpath, qrels);
    printf("%zu queries (plain OR, top %u, %s), %g s per configuration\n\n", n_queries, k,
           flags & KQ_SEARCH_NO_SNIPPETS ? "no snippets" : "with snippets", seconds);
    printf("| mode         | clients | queries  | queries/s | p50 µs  | p99 µs  | extra µs|"
           " this: cores, µs/q | kqd: cores, µs/q |\n");
    printf("|--------------|--------:|---------:|----------:|--------:|--------:|--------:|"
           "------------:|------------:|\n");
    struct result local[16] = {{0}}, sock[16] = {{0}};
    for (int i = 0; i < n_threads; i++)
        local[i] = run("in-process", threads[i], 0, 0);
    for (int i = 0; i < n_clients; i++)
        sock[i] = run("socket", clients[i], 1, 0);
    struct result pr = run("socket ping", 1, 1, 1);

    /* paired: per query, the fastest socket round trip minus the fastest in-process time */
    size_t n_paired = local[0].n_min < sock[0].n_min ? local[0].n_min : sock[0].n_min;
    int64_t *d = xmalloc(n_paired, sizeof *d);
    size_t nd = 0;
    for (size_t q = 0; q < n_paired; q++)
        if (local[0].min_us[q] != UINT32_MAX && sock[0].min_us[q] != UINT32_MAX)
            d[nd++] = (int64_t)sock[0].min_us[q] - (int64_t)local[0].min_us[q];
    qsort(d, nd, sizeof *d, cmp_i64);
    printf("\n(extra: the round trip minus the server's took_us for the same request, p50;\n"
           " this / kqd: CPU used by this program (in-process: the queries; socket: the clients)\n"
           " and by kqd, in cores busy and in CPU µs per query)\n");
    printf("socket overhead per query at p50, one client:\n");
    printf("  p50(socket, 1 client) - p50(in-process, 1 thread) = %lld µs\n",
           (long long)sock[0].p50 - (long long)local[0].p50);
    if (nd)
        printf("  median over %zu queries of (fastest socket - fastest in-process) = %lld µs\n",
               nd, (long long)d[(nd * 50 + 99) / 100 - 1]);
    printf("  round trip - server took_us, p50 = %lld µs; ping round trip p50 = %u µs\n",
           (long long)sock[0].extra_p50, pr.p50);
    if (n_threads > 1)
        printf("scaling in-process: %d threads / 1 thread = %.2fx\n", threads[n_threads - 1],
               local[n_threads - 1].qps / local[0].qps);
    for (int i = 1; i < n_clients; i++)
        printf("scaling over the socket: %d clients / 1 client = %.2fx\n", clients[i],
               sock[i].qps / sock[0].qps);
    free(d);
    for (int i = 0; i < n_threads; i++)
        free(local[i].min_us);
    for (int i = 0; i < n_clients; i++)
        free(sock[i].min_us);
    free(pr.min_us);
    free_queries();
    return 0;
}
