/* tools/kq-index.c: the index builder's command line: argv, progress, summary, exit codes.
 * The work is kq_index_build and kq_index_verify in libkq. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kq/index.h"

#define KQ_VERSION "0.1.0"

static const char usage[] =
    "usage: kq-index [OPTIONS] PATH...\n"
    "       kq-index --check [DIR]\n"
    "\n"
    "Builds a full-text index of the files and folders PATH... (folders recursively; hidden\n"
    "and binary files are skipped with a warning; *.jsonl files hold one JSON document per\n"
    "line: {\"_id\", \"title\", \"text\"}) and commits it atomically.\n"
    "\n"
    "options:\n"
    "  -i, --index DIR      index directory (default: .kq)\n"
    "  -L, --language L     Snowball stemming language, or 'none' (default: english)\n"
    "  -m, --memory MIB     in-memory budget before flushing to disk (default: 256)\n"
    "  -j, --threads N      analysis threads (default: the number of CPUs)\n"
    "      --k1 X           BM25 k1 stored in the index (default: 0.9)\n"
    "      --b X            BM25 b stored in the index (default: 0.4)\n"
    "      --no-wait        fail at once when another kq-index holds the index\n"
    "      --check          verify every checksum and invariant of the index DIR\n"
    "      --json-summary   print the summary as one JSON object\n"
    "  -q, --quiet          no progress bar, no summary\n"
    "  -h, --help           this help\n"
    "  -V, --version        the version\n"
    "\n"
    "exit status: 0 success; 1 --check found problems; 2 error.\n";

struct ui {
    int bar;
    int quiet;
};

static void on_warn(void *ctx, const char *path, const char *msg)
{
    struct ui *ui = ctx;
    if (ui->bar)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "kq-index: warning: %s: %s\n", path, msg);
}

static void on_waiting(void *ctx, long pid)
{
    (void)ctx;
    if (pid > 0)
        fprintf(stderr, "kq-index: the index is locked by another writer (pid %ld); waiting\n",
                pid);
    else
        fprintf(stderr, "kq-index: the index is locked by another writer; waiting\n");
}

static void on_progress(void *ctx, uint64_t docs, uint64_t done, uint64_t total)
{
    struct ui *ui = ctx;
    if (!ui->bar)
        return;
    double frac = total ? (double)done / (double)total : 1.0;
    if (frac > 1)
        frac = 1;
    int width = 30, fill = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %3.0f%%  %llu documents  %.1f / %.1f MB", bar, frac * 100,
            (unsigned long long)docs, (double)done / 1e6, (double)total / 1e6);
    fflush(stderr);
}

static void on_report(void *ctx, const char *msg)
{
    (void)ctx;
    printf("%s\n", msg);
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    enum { OPT_K1 = 256, OPT_B, OPT_NOWAIT, OPT_CHECK, OPT_JSON };
    static const struct option longopts[] = {
        {"index", required_argument, NULL, 'i'},   {"language", required_argument, NULL, 'L'},
        {"memory", required_argument, NULL, 'm'},  {"threads", required_argument, NULL, 'j'},
        {"k1", required_argument, NULL, OPT_K1},   {"b", required_argument, NULL, OPT_B},
        {"no-wait", no_argument, NULL, OPT_NOWAIT}, {"check", no_argument, NULL, OPT_CHECK},
        {"json-summary", no_argument, NULL, OPT_JSON}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    const char *dir = ".kq";
    struct kq_build_opts opts = {0};
    opts.b = -1;
    opts.wait_for_lock = 1;
    int check = 0, json = 0;
    struct ui ui = {0, 0};
    int c;
    while ((c = getopt_long(argc, argv, "i:L:m:j:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            dir = optarg;
            break;
        case 'L':
            opts.language = optarg;
            break;
        case 'm': {
            double mib;
            if (parse_double(optarg, &mib) || mib < 1 || mib > 1024 * 1024) {
                fprintf(stderr, "kq-index: --memory wants MiB between 1 and 1048576\n");
                return 2;
            }
            opts.memory_bytes = (size_t)(mib * 1024 * 1024);
            break;
        }
        case 'j': {
            double n;
            if (parse_double(optarg, &n) || n < 1 || n > 64) {
                fprintf(stderr, "kq-index: --threads wants 1 to 64\n");
                return 2;
            }
            opts.n_threads = (int)n;
            break;
        }
        case OPT_K1:
            if (parse_double(optarg, &opts.k1) || !(opts.k1 > 0 && opts.k1 <= 100)) {
                fprintf(stderr, "kq-index: --k1 wants a number in (0, 100]\n");
                return 2;
            }
            break;
        case OPT_B:
            if (parse_double(optarg, &opts.b) || !(opts.b >= 0 && opts.b <= 1)) {
                fprintf(stderr, "kq-index: --b wants a number in [0, 1]\n");
                return 2;
            }
            break;
        case OPT_NOWAIT:
            opts.wait_for_lock = 0;
            break;
        case OPT_CHECK:
            check = 1;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'q':
            ui.quiet = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'V':
            printf("kq-index %s\n", KQ_VERSION);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    kq_error err;
    kq_error_clear(&err);
    if (check) {
        if (optind < argc)
            dir = argv[optind];
        if (optind + 1 < argc) {
            fprintf(stderr, "kq-index: --check takes one index directory\n");
            return 2;
        }
        int rc = kq_index_verify(dir, on_report, NULL, &err);
        if (rc == 0) {
            printf("%s: ok\n", dir);
            return 0;
        }
        fprintf(stderr, "kq-index: %s\n", err.msg);
        return rc == KQ_ECORRUPT || rc == KQ_EVERSION ? 1 : 2;
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    ui.bar = !ui.quiet && !json && isatty(2);
    opts.warn = on_warn;
    opts.waiting = on_waiting;
    opts.progress = on_progress;
    opts.ctx = &ui;
    struct kq_build_stats st;
    int rc = kq_index_build(dir, (const char *const *)argv + optind, (size_t)(argc - optind),
                            &opts, &st, &err);
    if (ui.bar)
        fputs("\r\033[K", stderr);
    if (rc) {
        fprintf(stderr, "kq-index: %s\n", err.msg);
        return 2;
    }
    double mbs = st.seconds > 0 ? (double)st.input_bytes / 1e6 / st.seconds : 0;
    double bpp = st.postings ? 8.0 * (double)st.postings_bytes / (double)st.postings : 0;
    double bppos = st.positions ? 8.0 * (double)st.positions_bytes / (double)st.positions : 0;
    if (json) {
        printf("{\"documents\":%llu,\"tokens\":%llu,\"terms\":%llu,\"postings\":%llu,"
               "\"positions\":%llu,\"input_bytes\":%llu,\"index_bytes\":%llu,"
               "\"postings_bytes\":%llu,\"positions_bytes\":%llu,\"store_bytes\":%llu,"
               "\"bits_per_posting\":%.3f,\"bits_per_position\":%.3f,\"flushes\":%llu,"
               "\"skipped\":%llu,\"generation\":%llu,\"seconds\":%.3f,\"mb_per_s\":%.2f}\n",
               (unsigned long long)st.documents, (unsigned long long)st.tokens,
               (unsigned long long)st.terms, (unsigned long long)st.postings,
               (unsigned long long)st.positions, (unsigned long long)st.input_bytes,
               (unsigned long long)st.index_bytes, (unsigned long long)st.postings_bytes,
               (unsigned long long)st.positions_bytes, (unsigned long long)st.store_bytes, bpp,
               bppos, (unsigned long long)st.flushes, (unsigned long long)st.skipped,
               (unsigned long long)st.generation, st.seconds, mbs);
    } else if (!ui.quiet) {
        printf("index built: %s (generation %llu)\n", dir, (unsigned long long)st.generation);
        printf("  documents      %llu%s\n", (unsigned long long)st.documents,
               st.skipped ? " (some inputs skipped, see warnings)" : "");
        printf("  tokens         %llu\n", (unsigned long long)st.tokens);
        printf("  distinct terms %llu\n", (unsigned long long)st.terms);
        printf("  postings       %llu\n", (unsigned long long)st.postings);
        printf("  index bytes    %llu (%.2f MB; store %.2f MB)\n",
               (unsigned long long)st.index_bytes, (double)st.index_bytes / 1e6,
               (double)st.store_bytes / 1e6);
        printf("  bits/posting   %.2f doc+tf, %.2f per position\n", bpp, bppos);
        printf("  time           %.2f s, %.1f MB/s over %.2f MB\n", st.seconds, mbs,
               (double)st.input_bytes / 1e6);
    }
    return 0;
}
