/* tools/kq.c: the search command line: argv, index discovery, output formats, exit codes.
 * The search itself is kq_search in libkq; the JSON form of a result comes from libkq too,
 * so every program that prints results prints the same bytes. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kq/search.h"

#define KQ_VERSION "0.1.0"

static const char usage[] =
    "usage: kq [OPTIONS] QUERY...\n"
    "\n"
    "Searches the index of a folder of documents and prints the best matches, with the\n"
    "passage that matched and its line. The words of QUERY are joined by spaces; options may\n"
    "come before or after them, and -- ends the options (kq -- -excluded word).\n"
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
    "  -h, --help          this help\n"
    "  -V, --version       the version\n"
    "\n"
    "exit status: 0 results found; 1 none; 2 error.\n";

/* The index: --index, then $KQ_INDEX, then the nearest .kq/ holding a MANIFEST upwards. */
static int find_index(const char *opt, char *out, size_t size)
{
    if (opt) {
        snprintf(out, size, "%s", opt);
        return 0;
    }
    const char *env = getenv("KQ_INDEX");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return 0;
    }
    char dir[PATH_MAX];
    if (!getcwd(dir, sizeof dir))
        return -1;
    for (;;) {
        char cand[PATH_MAX + 16];
        struct stat st;
        snprintf(cand, sizeof cand, "%s/.kq/MANIFEST", strcmp(dir, "/") ? dir : "");
        if (stat(cand, &st) == 0) {
            snprintf(out, size, "%s/.kq", strcmp(dir, "/") ? dir : "");
            return 0;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) {
            if (!strcmp(dir, "/"))
                return -1;
            strcpy(dir, "/");
            continue;
        }
        *slash = '\0';
    }
}

/* Prints the query with a caret under byte `off` (columns counted in code points). */
static void show_caret(const char *q, size_t len, int64_t off)
{
    fputs("  ", stderr);
    for (size_t i = 0; i < len; i++)
        fputc((unsigned char)q[i] < 0x20 ? ' ' : q[i], stderr);
    fputs("\n  ", stderr);
    for (size_t i = 0; i < len && (int64_t)i < off; i++)
        if (((unsigned char)q[i] & 0xc0) != 0x80)
            fputc(' ', stderr);
    fputs("^\n", stderr);
}

struct style {
    const char *title, *path, *line, *match, *dim, *reset;
};

static const struct style plain_style = {"", "", "", "", "", ""};
static const struct style color_style = {"\033[1m", "\033[35m", "\033[32m", "\033[1;31m",
                                         "\033[2m", "\033[0m"};

/* Writes `len` bytes of `s`, turning control bytes (escape sequences in a document) into
 * spaces so that printing a document never drives the terminal. */
static void put_safe(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        putchar(c < 0x20 || c == 0x7f ? ' ' : c);
    }
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

int main(int argc, char **argv)
{
    enum { OPT_OFFSET = 256, OPT_PLAIN, OPT_COUNT, OPT_JSON, OPT_VIMGREP, OPT_COLOR, OPT_K1,
           OPT_B };
    static const struct option longopts[] = {
        {"index", required_argument, NULL, 'i'},  {"limit", required_argument, NULL, 'n'},
        {"offset", required_argument, NULL, OPT_OFFSET},
        {"plain", no_argument, NULL, OPT_PLAIN},  {"count", no_argument, NULL, OPT_COUNT},
        {"json", no_argument, NULL, OPT_JSON},    {"vimgrep", no_argument, NULL, OPT_VIMGREP},
        {"files", no_argument, NULL, 'l'},        {"color", required_argument, NULL, OPT_COLOR},
        {"colour", required_argument, NULL, OPT_COLOR},
        {"k1", required_argument, NULL, OPT_K1},  {"b", required_argument, NULL, OPT_B},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    const char *index_opt = NULL;
    struct kq_search_request req = {0};
    req.k = 10;
    req.k1 = req.b = -1;
    enum { OUT_HUMAN, OUT_JSON, OUT_VIMGREP, OUT_FILES, OUT_COUNT } mode = OUT_HUMAN;
    int color = -1; /* -1 auto */
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
            mode = OUT_COUNT;
            break;
        case OPT_JSON:
            mode = OUT_JSON;
            break;
        case OPT_VIMGREP:
            mode = OUT_VIMGREP;
            break;
        case 'l':
            mode = OUT_FILES;
            break;
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
        case OPT_B: {
            errno = 0;
            double v = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(v >= 0) || (c == OPT_B && v > 1) ||
                v > 100) {
                fprintf(stderr, "kq: %s out of range\n", c == OPT_K1 ? "--k1" : "--b");
                return 2;
            }
            if (c == OPT_K1)
                req.k1 = v;
            else
                req.b = v;
            break;
        }
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'V':
            printf("kq %s\n", KQ_VERSION);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    /* the query: the remaining arguments joined by spaces */
    size_t qlen = 0;
    for (int i = optind; i < argc; i++)
        qlen += strlen(argv[i]) + 1;
    char *query = malloc(qlen + 1);
    if (!query) {
        fprintf(stderr, "kq: out of memory\n");
        return 2;
    }
    query[0] = '\0';
    for (int i = optind; i < argc; i++) {
        if (i > optind)
            strcat(query, " ");
        strcat(query, argv[i]);
    }
    req.query = query;
    req.len = strlen(query);
    if (mode == OUT_COUNT)
        req.flags |= KQ_SEARCH_COUNT;
    if (mode == OUT_FILES)
        req.flags |= KQ_SEARCH_NO_SNIPPETS;
    if (color < 0) {
        const char *nc = getenv("NO_COLOR");
        color = isatty(1) && !(nc && *nc);
    }
    const struct style *st = color && mode == OUT_HUMAN ? &color_style : &plain_style;

    char dir[PATH_MAX];
    if (find_index(index_opt, dir, sizeof dir)) {
        fprintf(stderr, "kq: no index found (no .kq/ here or above; build one with "
                        "'kq-index PATH', or use --index or KQ_INDEX)\n");
        free(query);
        return 2;
    }
    kq_error err;
    kq_error_clear(&err);
    kq_searcher *s = NULL;
    kq_result *r = NULL;
    int rc = kq_searcher_open(dir, &s, &err);
    if (!rc)
        rc = kq_search(s, &req, &r, &err);
    if (rc) {
        fprintf(stderr, "kq: %s\n", err.msg);
        if ((rc == KQ_ESYNTAX || rc == KQ_ELIMIT) && err.offset >= 0 &&
            (size_t)err.offset <= req.len)
            show_caret(query, req.len, err.offset);
        kq_searcher_close(s);
        free(query);
        return 2;
    }
    uint32_t n = kq_result_count(r);
    int status = (mode == OUT_COUNT ? kq_result_total(r) > 0 : n > 0) ? 0 : 1;
    struct kq_search_hit h;
    switch (mode) {
    case OUT_COUNT:
        printf("%llu\n", (unsigned long long)kq_result_total(r));
        break;
    case OUT_JSON: {
        char *json;
        size_t len;
        if (kq_result_json(r, &json, &len, &err)) {
            fprintf(stderr, "kq: %s\n", err.msg);
            status = 2;
            break;
        }
        fwrite(json, 1, len, stdout);
        putchar('\n');
        kq_free(json);
        break;
    }
    case OUT_FILES:
        for (uint32_t i = 0; i < n; i++) {
            kq_result_hit(r, i, &h);
            /* JSON-lines documents share their file: print each path once */
            int seen = 0;
            for (uint32_t j = 0; j < i && !seen; j++) {
                struct kq_search_hit p;
                kq_result_hit(r, j, &p);
                seen = p.path_len == h.path_len && !memcmp(p.path, h.path, h.path_len);
            }
            if (!seen) {
                put_safe(h.path, h.path_len);
                putchar('\n');
            }
        }
        break;
    case OUT_VIMGREP:
        for (uint32_t i = 0; i < n; i++) {
            kq_result_hit(r, i, &h);
            put_safe(h.path, h.path_len);
            printf(":%u:%u:", h.line, h.col);
            put_safe(h.snippet, h.snippet_len);
            putchar('\n');
        }
        break;
    case OUT_HUMAN:
        for (uint32_t i = 0; i < n; i++) {
            kq_result_hit(r, i, &h);
            printf("%u. %s", req.offset + i + 1, st->title);
            if (h.title_len)
                put_safe(h.title, h.title_len);
            else
                put_safe(h.id, h.id_len);
            printf("%s  %s(%.3f)%s\n   %s", st->reset, st->dim, h.score, st->reset, st->path);
            put_safe(h.path, h.path_len);
            printf("%s:%s%u%s", st->reset, st->line, h.line, st->reset);
            if (h.path != h.id) {
                fputs("  ", stdout);
                put_safe(h.id, h.id_len);
            }
            fputs("\n   ", stdout);
            put_snippet(&h, st);
            fputs("\n\n", stdout);
        }
        if (n < kq_result_total(r) || !n)
            printf("%s%llu matching document%s, %.2f ms%s\n", st->dim,
                   (unsigned long long)kq_result_total(r),
                   kq_result_total(r) == 1 ? "" : "s", kq_result_took_us(r) / 1000.0,
                   st->reset);
        break;
    }
    kq_result_free(r);
    kq_searcher_close(s);
    free(query);
    if (fflush(stdout) != 0 || ferror(stdout))
        return 2;
    return status;
}
