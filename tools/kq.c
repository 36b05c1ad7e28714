/* tools/kq.c: the search command line: argv, index discovery, asking the daemon, output
 * formats, exit codes.
 *
 * kq asks the kqd of the index first (kq/client.h: the same socket rule as kqd) and
 * searches in-process with kq_search when no daemon answers, when it answers with an error
 * (then the in-process search reports the error itself) or with anything but a result to
 * this request, or when it serves another generation than the MANIFEST names (a commit it
 * has not loaded yet: its answer could miss what kq-index just indexed). Either way the result is
 * the JSON object of kq_result_json: the daemon's bytes, or kq_result_json in-process; it
 * is printed by one path, through kq_hits_parse, so the output is the same bytes whichever
 * way the result came (took_us aside, which is a measurement). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#include "kq/client.h"
#include "kq/search.h"

#define KQ_VERSION "0.1.0"
#define CONNECT_TIMEOUT_MS 200   /* a daemon that does not accept this fast is not used */
#define ANSWER_TIMEOUT_MS 30000  /* a daemon that does not answer in this time is not used */
#define STATS_TIMEOUT_MS 1000    /* stats, answered by kqd's loop thread: a stopped daemon */

static const char usage[] =
    "usage: kq [OPTIONS] QUERY...\n"
    "       kq --stats | --ping [-i DIR]\n"
    "\n"
    "Searches the index of a folder of documents and prints the best matches, with the\n"
    "passage that matched and its line. The words of QUERY are joined by spaces; options may\n"
    "come before or after them, and -- ends the options (kq -- -excluded word). When a kqd\n"
    "serves the index, kq asks it; otherwise it searches the index itself. The output is the\n"
    "same either way.\n"
    "\n"
    "query language (see the README):\n"
    "  word word      documents with any of the words, the more the better (BM25)\n"
    "  \"a phrase\"     the words next to each other\n"
    "  +word -word    required, excluded;   a AND b, a OR b, NOT a, (groups)\n"
    "  pre*           words starting with pre;   title:word, body:word;   word^2 boosts\n"
    "\n"
    "options:\n"
    "  -i, --index DIR     the index (default: $KQ_INDEX, else the nearest .kq/ upwards)\n"
    "  -n, --limit N       at most N results (default 10)\n"
    "      --offset N      skip the first N results\n"
    "      --plain         QUERY is free text: no operators, every word counts\n"
    "      --count         print the number of matching documents only\n"
    "      --json          one JSON object: {\"total\",\"took_us\",\"hits\":[...]}\n"
    "      --vimgrep       path:line:column:snippet, one line a result\n"
    "  -l, --files         the paths of the matching files only\n"
    "      --color WHEN    auto (default: on a terminal unless NO_COLOR is set), always, never\n"
    "      --k1 X, --b X   BM25 parameters for this query (default: the index's)\n"
    "      --title-weight X  what a word's BM25 in the title adds, times X (0..100;\n"
    "                      default 0.25; 0: the title counts as text only)\n"
    "      --no-daemon     search in-process even when a kqd serves the index\n"
    "      --stats         the daemon's statistics (with --json: its JSON object)\n"
    "      --ping          whether a daemon serves the index, and its version\n"
    "  -h, --help          this help\n"
    "  -V, --version       the version\n"
    "\n"
    "exit status: 0 results found; 1 none; 2 error (--stats, --ping: no daemon running).\n";

/* The length of the control character at s[i] (C0, DEL, or C1 as UTF-8: a terminal takes
 * U+009B for ESC [), 0 when there is none. */
static size_t control_at(const char *s, size_t i, size_t len)
{
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
        return 1;
    return c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9f
               ? 2
               : 0;
}

/* Writes `len` bytes of `s` to `f`, turning control characters (escape sequences in a
 * document or a query) into spaces so that printing them never drives the terminal. */
static void put_safe_to(FILE *f, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        size_t n = control_at(s, i, len);
        fputc(n ? ' ' : s[i], f);
        i += n > 1;
    }
}

static void put_safe(const char *s, size_t len)
{
    put_safe_to(stdout, s, len);
}

/* Prints the query with a caret under byte `off`: each character before it takes the
 * columns a terminal gives it (2 for Hangul and Han, 0 for a combining mark; an invalid
 * byte 1). */
static void show_caret(const char *q, size_t len, int64_t off)
{
    fputs("  ", stderr);
    put_safe_to(stderr, q, len);
    fputs("\n  ", stderr);
    for (size_t i = 0; i < len && (int64_t)i < off;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)q + i,
                                              (utf8proc_ssize_t)(len - i), &cp);
        /* a control character is shown as ' ' */
        int width = n <= 0 || control_at(q, i, len) ? 1 : utf8proc_charwidth(cp);
        i += n > 0 ? (size_t)n : 1;
        for (int k = 0; k < width; k++)
            fputc(' ', stderr);
    }
    fputs("^\n", stderr);
}

struct style {
    const char *title, *path, *line, *match, *dim, *reset;
};

static const struct style plain_style = {"", "", "", "", "", ""};
static const struct style color_style = {"\033[1m", "\033[35m", "\033[32m", "\033[1;31m",
                                         "\033[2m", "\033[0m"};

/* Whether paths are written as they are, the bytes a program given them opens: stdout is
 * not a terminal (on one, their control characters are spaces like a document's). */
static int raw_paths;

/* Writes a hit's (absolute) path relative to the current directory `cwd` ("" when
 * unknown) when it lies under it, else as it is. The paths of files in the index's root
 * start with the root where it is, links resolved, as getcwd gives the current directory. */
static void put_path(const char *cwd, const struct kq_search_hit *h)
{
    const char *rest = cwd[0] ? kq_path_under(cwd, h->path) : NULL;
    const char *p = rest && *rest ? rest : h->path;
    size_t len = h->path_len - (size_t)(p - h->path);
    if (raw_paths)
        fwrite(p, 1, len, stdout);
    else
        put_safe(p, len);
}

/* Whether `h` is a whole file's hit, whose id is the file's name in the index: kq-index
 * reads every file named *.jsonl as JSON lines, whose documents' ids are their "_id". */
static int file_hit(const struct kq_search_hit *h)
{
    return !(h->path_len >= 6 && !memcmp(h->path + h->path_len - 6, ".jsonl", 6));
}

static void put_snippet(const struct kq_search_hit *h, const struct style *st)
{
    uint32_t at = 0;
    for (uint32_t k = 0; k < h->n_highlights; k++) {
        const struct kq_highlight *hl = &h->highlights[k];
        if (hl->start < at || hl->end > h->snippet_len)
            continue;
        put_safe(h->snippet + at, hl->start - at);
        fputs(st->match, stdout);
        put_safe(h->snippet + hl->start, hl->end - hl->start);
        fputs(st->reset, stdout);
        at = hl->end;
    }
    put_safe(h->snippet + at, h->snippet_len - at);
}

/* -l: the order of hits i and j by their paths */
static int path_cmp(const kq_hits *r, uint32_t i, uint32_t j)
{
    struct kq_search_hit x, y;
    kq_hits_get(r, i, &x);
    kq_hits_get(r, j, &y);
    int c = memcmp(x.path, y.path, x.path_len < y.path_len ? x.path_len : y.path_len);
    return c ? c : (x.path_len > y.path_len) - (x.path_len < y.path_len);
}

static const kq_hits *sorted_hits; /* by_path's */

/* qsort: hit numbers by path, then by rank */
static int by_path(const void *a, const void *b)
{
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    int c = path_cmp(sorted_hits, i, j);
    return c ? c : (i > j) - (i < j);
}

/* Whether the daemon on `c` serves the index in `dir` as the MANIFEST has it: generation
 * `gen`, checksum `sum` (its `stats`); 0 also when it does not say in STATS_TIMEOUT_MS. */
static int daemon_current(kq_client *c, const char *dir, uint64_t gen, uint64_t sum)
{
    static const char req[] = "{\"id\":0,\"op\":\"stats\"}";
    const char *answer, *result;
    size_t alen, rlen;
    return !kq_client_call(c, req, sizeof req - 1, STATS_TIMEOUT_MS, &answer, &alen, NULL) &&
           !kq_answer_parse(answer, alen, &result, &rlen, NULL, NULL, NULL) &&
           kq_stats_serves(result, rlen, dir, gen, sum);
}

/* Asks the daemon of the index in `dir` for `req`. Returns 0 with the result object (a
 * malloc'd copy of the daemon's bytes) in *json; nonzero when no daemon answered this
 * request with a result from the index as it is now, and then the caller searches
 * in-process. */
static int ask_daemon(const char *dir, const struct kq_search_request *req, char **json,
                      size_t *len)
{
    char sock[KQ_SOCKET_PATH_MAX];
    kq_client *c;
    uint64_t gen, sum;
    if (kq_index_generation(dir, &gen, &sum, NULL) || kq_socket_path(dir, sock, sizeof sock, NULL) ||
        kq_client_connect(sock, CONNECT_TIMEOUT_MS, &c, NULL))
        return -1;
    char *line = NULL;
    size_t llen = 0, alen = 0, rlen = 0, idlen = 0;
    const char *answer, *result, *id;
    int rc = daemon_current(c, dir, gen, sum) ? kq_search_request_json(req, 1, &line, &llen, NULL) : -1;
    if (!rc)
        rc = kq_client_call(c, line, llen, ANSWER_TIMEOUT_MS, &answer, &alen, NULL);
    if (!rc)
        rc = kq_answer_parse(answer, alen, &result, &rlen, &id, &idlen, NULL);
    if (!rc && (idlen != 1 || id[0] != '1'))
        rc = -1; /* an answer to another request */
    if (!rc && !(*json = malloc(rlen + 1)))
        rc = -1;
    if (!rc) {
        memcpy(*json, result, rlen);
        (*json)[rlen] = '\0';
        *len = rlen;
    }
    kq_free(line);
    kq_client_close(c);
    return rc;
}

/* Searches in-process: the result object of kq_result_json in a malloc'd *json. */
static int search_here(const char *dir, const struct kq_search_request *req, char **json,
                       size_t *len, kq_error *err)
{
    kq_searcher *s = NULL;
    kq_result *r = NULL;
    char *j = NULL;
    /* one query: the sections it reads are verified, not the whole index (on English
     * Wikipedia, 310 MB read at open against 38 MB for a query of words) */
    int rc = kq_searcher_open_ex(dir, KQ_INDEX_VERIFY_ON_USE, &s, err);
    if (!rc)
        rc = kq_search(s, req, &r, err);
    if (!rc)
        rc = kq_result_json(r, &j, len, err);
    if (!rc && !(*json = malloc(*len + 1))) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        rc = KQ_ENOMEM;
    }
    if (!rc) {
        memcpy(*json, j, *len);
        (*json)[*len] = '\0';
    }
    kq_free(j);
    kq_result_free(r);
    kq_searcher_close(s);
    return rc;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Prints the members of a JSON object as "prefix.name: value" lines. */
static void put_flat(json_t *obj, const char *prefix)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        char name[256];
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", key);
        if (json_is_object(v)) {
            put_flat(v, name);
            continue;
        }
        fputs(name, stdout);
        fputs(": ", stdout);
        if (json_is_string(v)) {
            put_safe(json_string_value(v), json_string_length(v));
        } else {
            char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            fputs(s ? s : "?", stdout);
            free(s);
        }
        putchar('\n');
    }
}

/* kq --stats, kq --ping: these need the daemon. */
/* Flushes standard output: `status`, or 2 after saying why the output was not written
 * (a full disk, a closed descriptor), as grep does. */
static int flush_out(int status)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return status;
    fprintf(stderr, "kq: write error%s%s\n", errno ? ": " : "", errno ? strerror(errno) : "");
    return 2;
}

static int daemon_info(const char *dir, int stats, int json_out)
{
    char sock[KQ_SOCKET_PATH_MAX];
    kq_error err;
    kq_error_clear(&err);
    kq_client *c = NULL;
    if (kq_socket_path(dir, sock, sizeof sock, &err)) {
        fprintf(stderr, "kq: %s\n", err.msg);
        return 2;
    }
    double t0 = now_ms();
    if (kq_client_connect(sock, CONNECT_TIMEOUT_MS, &c, &err)) {
        fprintf(stderr, "kq: no kqd is running for %s (%s; start one with 'kqd --index %s')\n",
                dir, err.msg, dir);
        return 2;
    }
    /* no "protocol" member: any version of the server answers these two */
    const char *req = stats ? "{\"id\":1,\"op\":\"stats\"}" : "{\"id\":1,\"op\":\"ping\"}";
    const char *answer, *result = NULL;
    size_t alen, rlen;
    int rc = kq_client_call(c, req, strlen(req), ANSWER_TIMEOUT_MS, &answer, &alen, &err);
    if (!rc)
        rc = kq_answer_parse(answer, alen, &result, &rlen, NULL, NULL, &err);
    double ms = now_ms() - t0;
    json_t *o = NULL;
    if (!rc && !(o = json_loadb(result, rlen, 0, NULL)))
        rc = KQ_EBADJSON;
    if (rc) {
        fprintf(stderr, "kq: kqd on %s: %s\n", sock, err.msg[0] ? err.msg : "bad answer");
        kq_client_close(c);
        return 2;
    }
    int status = 0;
    json_t *proto = json_object_get(o, "protocol");
    if (json_is_integer(proto) && json_integer_value(proto) != KQ_PROTOCOL_VERSION) {
        fprintf(stderr, "kq: kqd on %s speaks protocol %lld, this kq speaks %d\n", sock,
                (long long)json_integer_value(proto), KQ_PROTOCOL_VERSION);
        status = 2;
    }
    if (json_out) {
        fwrite(result, 1, rlen, stdout);
        putchar('\n');
    } else if (stats) {
        fputs("socket: ", stdout);
        put_safe(sock, strlen(sock));
        putchar('\n');
        put_flat(o, "");
    } else {
        json_t *server = json_object_get(o, "server");
        const char *name = json_is_string(server) ? json_string_value(server) : "kqd";
        put_safe(name, strlen(name));
        printf(" (protocol %lld) on ",
               json_is_integer(proto) ? (long long)json_integer_value(proto) : 0LL);
        put_safe(sock, strlen(sock));
        printf(": %.3f ms\n", ms);
    }
    json_decref(o);
    kq_client_close(c);
    return flush_out(status);
}

int main(int argc, char **argv)
{
    enum { OPT_OFFSET = 256, OPT_PLAIN, OPT_COUNT, OPT_JSON, OPT_VIMGREP, OPT_COLOR, OPT_K1,
           OPT_B, OPT_TITLE_WEIGHT, OPT_NO_DAEMON, OPT_STATS, OPT_PING };
    static const struct option longopts[] = {
        {"index", required_argument, NULL, 'i'},  {"limit", required_argument, NULL, 'n'},
        {"offset", required_argument, NULL, OPT_OFFSET},
        {"plain", no_argument, NULL, OPT_PLAIN},  {"count", no_argument, NULL, OPT_COUNT},
        {"json", no_argument, NULL, OPT_JSON},    {"vimgrep", no_argument, NULL, OPT_VIMGREP},
        {"files", no_argument, NULL, 'l'},        {"color", required_argument, NULL, OPT_COLOR},
        {"colour", required_argument, NULL, OPT_COLOR},
        {"k1", required_argument, NULL, OPT_K1},  {"b", required_argument, NULL, OPT_B},
        {"title-weight", required_argument, NULL, OPT_TITLE_WEIGHT},
        {"no-daemon", no_argument, NULL, OPT_NO_DAEMON},
        {"stats", no_argument, NULL, OPT_STATS},  {"ping", no_argument, NULL, OPT_PING},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    const char *index_opt = NULL;
    struct kq_search_request req = {0};
    req.k = 10;
    req.k1 = req.b = -1;
    enum out { OUT_HUMAN, OUT_JSON, OUT_VIMGREP, OUT_FILES, OUT_COUNT } mode = OUT_HUMAN;
    int color = -1; /* -1 auto */
    int no_daemon = 0, info = 0; /* info: 1 --stats, 2 --ping */
    int c;
    while ((c = getopt_long(argc, argv, "i:n:lhV", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'i':
            index_opt = optarg;
            break;
        case 'n':
        case OPT_OFFSET: {
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            unsigned long max = c == 'n' ? 10000 : 100000;
            if (errno || end == optarg || *end || optarg[0] == '-' || (c == 'n' && !v) ||
                v > max) {
                fprintf(stderr, "kq: %s wants a number from %d to %lu\n",
                        c == 'n' ? "--limit" : "--offset", c == 'n' ? 1 : 0, max);
                return 2;
            }
            if (c == 'n')
                req.k = (uint32_t)v;
            else
                req.offset = (uint32_t)v;
            break;
        }
        case OPT_PLAIN:
            req.flags |= KQ_SEARCH_PLAIN;
            break;
        case OPT_COUNT:
        case OPT_JSON:
        case OPT_VIMGREP:
        case 'l': {
            enum out m = c == OPT_COUNT ? OUT_COUNT
                    : c == OPT_JSON ? OUT_JSON
                    : c == OPT_VIMGREP ? OUT_VIMGREP
                                       : OUT_FILES;
            if (mode != OUT_HUMAN && mode != m) {
                fprintf(stderr, "kq: --count, --json, --vimgrep and -l exclude each other\n");
                return 2;
            }
            mode = m;
            break;
        }
        case OPT_COLOR:
            if (!strcmp(optarg, "always"))
                color = 1;
            else if (!strcmp(optarg, "never"))
                color = 0;
            else if (!strcmp(optarg, "auto"))
                color = -1;
            else {
                fprintf(stderr, "kq: --color wants auto, always or never\n");
                return 2;
            }
            break;
        case OPT_K1:
        case OPT_B:
        case OPT_TITLE_WEIGHT: {
            errno = 0;
            double v = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(v >= 0) || (c == OPT_B && v > 1) ||
                v > 100) {
                fprintf(stderr, "kq: %s out of range\n",
                        c == OPT_K1 ? "--k1" : c == OPT_B ? "--b" : "--title-weight");
                return 2;
            }
            if (c == OPT_K1)
                req.k1 = v;
            else if (c == OPT_B)
                req.b = v;
            else
                req.title_weight = v > 0 ? v : KQ_SEARCH_TITLE_NONE;
            break;
        }
        case OPT_NO_DAEMON:
            no_daemon = 1;
            break;
        case OPT_STATS:
            info = 1;
            break;
        case OPT_PING:
            info = 2;
            break;
        case 'h':
            fputs(usage, stdout);
            return flush_out(0);
        case 'V':
            printf("kq %s\n", KQ_VERSION);
            return flush_out(0);
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (info ? optind < argc : optind >= argc) {
        if (info)
            fprintf(stderr, "kq: %s takes no query\n", info == 1 ? "--stats" : "--ping");
        fputs(usage, stderr);
        return 2;
    }
    char dir[PATH_MAX];
    kq_error err;
    kq_error_clear(&err);
    if (kq_index_find(index_opt, dir, sizeof dir, &err)) {
        if (err.code == KQ_ENOTFOUND)
            fprintf(stderr, "kq: no index found (no .kq/ here or above; build one with "
                            "'kq-index PATH', or use --index or KQ_INDEX)\n");
        else
            fprintf(stderr, "kq: %s\n", err.msg);
        return 2;
    }
    if (info)
        return daemon_info(dir, info == 1, mode == OUT_JSON);

    /* the query: the remaining arguments joined by spaces */
    size_t qlen = 0;
    for (int i = optind; i < argc; i++)
        qlen += strlen(argv[i]) + 1;
    char *query = malloc(qlen + 1);
    if (!query) {
        fprintf(stderr, "kq: out of memory\n");
        return 2;
    }
    size_t used = 0;
    for (int i = optind; i < argc; i++) {
        if (i > optind)
            query[used++] = ' ';
        size_t n = strlen(argv[i]);
        memcpy(query + used, argv[i], n);
        used += n;
    }
    query[used] = '\0';
    req.query = query;
    req.len = used;
    if (mode == OUT_COUNT)
        req.flags |= KQ_SEARCH_COUNT;
    if (mode == OUT_FILES)
        req.flags |= KQ_SEARCH_NO_SNIPPETS;
    if (color < 0) {
        const char *nc = getenv("NO_COLOR");
        color = isatty(1) && !(nc && *nc);
    }
    const struct style *st = color && mode == OUT_HUMAN ? &color_style : &plain_style;
    raw_paths = !isatty(1);

    char *json = NULL;
    size_t jlen = 0;
    kq_hits *r = NULL;
    if (!no_daemon && !ask_daemon(dir, &req, &json, &jlen) && kq_hits_parse(json, jlen, &r, NULL)) {
        free(json); /* a result that is not one: searched here instead */
        json = NULL;
    }
    if (!json && search_here(dir, &req, &json, &jlen, &err)) {
        fprintf(stderr, "kq: %s\n", err.msg);
        if ((err.code == KQ_ESYNTAX || err.code == KQ_ELIMIT) && err.offset >= 0 &&
            (size_t)err.offset <= req.len)
            show_caret(query, req.len, err.offset);
        free(query);
        return 2;
    }
    if (!r && kq_hits_parse(json, jlen, &r, &err)) {
        fprintf(stderr, "kq: %s\n", err.msg);
        free(json);
        free(query);
        return 2;
    }
    uint32_t n = kq_hits_count(r);
    int status = (mode == OUT_COUNT ? kq_hits_total(r) > 0 : n > 0) ? 0 : 1;
    struct kq_search_hit h;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        cwd[0] = '\0';
    switch (mode) {
    case OUT_COUNT:
        printf("%llu\n", (unsigned long long)kq_hits_total(r));
        break;
    case OUT_JSON:
        fwrite(json, 1, jlen, stdout);
        putchar('\n');
        break;
    case OUT_FILES: {
        /* JSON-lines documents share their file: each path once, where it ranks first */
        uint32_t *order = malloc(((size_t)n + 1) * sizeof *order);
        unsigned char *first = calloc((size_t)n + 1, 1);
        if (!order || !first) {
            fprintf(stderr, "kq: out of memory\n");
            status = 2;
        }
        for (uint32_t i = 0; i < n && first; i++)
            order[i] = i;
        sorted_hits = r;
        if (first)
            qsort(order, n, sizeof *order, by_path);
        for (uint32_t k = 0; k < n && first; k++)
            first[order[k]] = !k || path_cmp(r, order[k - 1], order[k]);
        for (uint32_t i = 0; i < n && first; i++) {
            if (!first[i])
                continue;
            kq_hits_get(r, i, &h);
            put_path(cwd, &h);
            putchar('\n');
        }
        free(order);
        free(first);
        break;
    }
    case OUT_VIMGREP:
        for (uint32_t i = 0; i < n; i++) {
            kq_hits_get(r, i, &h);
            put_path(cwd, &h);
            printf(":%u:%u:", h.line, h.col);
            put_safe(h.snippet, h.snippet_len);
            putchar('\n');
        }
        break;
    case OUT_HUMAN:
        for (uint32_t i = 0; i < n; i++) {
            kq_hits_get(r, i, &h);
            printf("%u. %s", req.offset + i + 1, st->title);
            int file = file_hit(&h);
            if (h.title_len)
                put_safe(h.title, h.title_len);
            else if (file)
                put_path(cwd, &h);
            else
                put_safe(h.id, h.id_len);
            printf("%s  %s(%.3f)%s\n   %s", st->reset, st->dim, h.score, st->reset, st->path);
            put_path(cwd, &h);
            printf("%s:%s%u%s", st->reset, st->line, h.line, st->reset);
            if (!file) {
                fputs("  ", stdout);
                put_safe(h.id, h.id_len);
            }
            fputs("\n   ", stdout);
            put_snippet(&h, st);
            fputs("\n\n", stdout);
        }
        if (n < kq_hits_total(r) || !n)
            printf("%s%llu matching document%s, %.2f ms%s\n", st->dim,
                   (unsigned long long)kq_hits_total(r), kq_hits_total(r) == 1 ? "" : "s",
                   kq_hits_took_us(r) / 1000.0, st->reset);
        break;
    }
    kq_hits_free(r);
    free(json);
    free(query);
    return flush_out(status);
}
