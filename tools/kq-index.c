/* tools/kq-index.c: the index builder's command line: argv, progress, summary, exit codes,
 * and --watch, which follows the folders with libuv file-system events and runs an update
 * shortly after each burst of changes. The work is kq_index_build, kq_index_merge and
 * kq_index_verify in libkq. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "kq/index.h"

#define KQ_VERSION "0.1.0"

static const char usage[] =
    "usage: kq-index [OPTIONS] PATH...\n"
    "       kq-index --merge[=N] [-i DIR]\n"
    "       kq-index --check [DIR]\n"
    "\n"
    "Builds a full-text index of the files and folders PATH... (folders recursively; hidden\n"
    "and binary files are skipped with a warning; *.jsonl files hold one JSON document per\n"
    "line: {\"_id\", \"title\", \"text\"}) and commits it atomically.\n"
    "\n"
    "Over an existing index it updates it, re-reading only what changed: a file whose size\n"
    "and modification time (or, when only the time changed, whose XXH3 hash) match the index\n"
    "is not indexed again; new and modified files go into a new segment and the documents\n"
    "they replace are marked deleted; JSON-lines files are compared document by document.\n"
    "A document whose file lies under one of the PATHs given (the path itself, or inside it\n"
    "as a folder) and is not found any more is deleted; documents of files outside the PATHs\n"
    "given stay. A file is named by its path relative to the folder holding the index\n"
    "directory (absolute when outside it), so any spelling of a PATH names it the same way.\n"
    "An unchanged corpus commits nothing. After a commit the tiered merge policy keeps the\n"
    "number of segments logarithmic in the index size, merging segments with many\n"
    "deletions first.\n"
    "\n"
    "options:\n"
    "  -i, --index DIR      index directory (default: .kq)\n"
    "      --full           rebuild from scratch instead of updating\n"
    "      --merge[=N]      merge without indexing: what the merge policy wants, or with N\n"
    "                       down to at most N segments free of deletions\n"
    "      --optimize       the same as --merge=1\n"
    "      --no-merge       do not run the merge policy after an update\n"
    "      --watch          after the update, keep following the PATHs (folders recursively)\n"
    "                       and commit an update within about a second of each change, until\n"
    "                       interrupted; one summary line a commit\n"
    "  -L, --language L     Snowball stemming language, or 'none' (default: english, or the\n"
    "                       index's; another language than the index's rebuilds it)\n"
    "  -m, --memory MIB     in-memory budget before flushing to disk (default: 256)\n"
    "  -j, --threads N      analysis threads (default: the number of CPUs)\n"
    "      --k1 X           BM25 k1 stored in the index (default: 0.9, or the index's)\n"
    "      --b X            BM25 b stored in the index (default: 0.4, or the index's)\n"
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
        bar[i] = (char)(i < fill ? '=' : (i == fill ? '>' : ' '));
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
    if (!s)
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) /* nan and inf compare false with any bound */
        return -1;
    *out = v;
    return 0;
}

static void print_summary(const char *dir, const struct kq_build_stats *stp, int json, int quiet)
{
    struct kq_build_stats st = *stp;
    double mbs = st.seconds > 0 ? (double)st.input_bytes / 1e6 / st.seconds : 0;
    double bpp = st.postings ? 8.0 * (double)st.postings_bytes / (double)st.postings : 0;
    double bppos = st.positions ? 8.0 * (double)st.positions_bytes / (double)st.positions : 0;
    if (json) {
        printf("{\"documents\":%llu,\"tokens\":%llu,\"terms\":%llu,\"postings\":%llu,"
               "\"positions\":%llu,\"input_bytes\":%llu,\"index_bytes\":%llu,"
               "\"postings_bytes\":%llu,\"positions_bytes\":%llu,\"store_bytes\":%llu,"
               "\"bits_per_posting\":%.3f,\"bits_per_position\":%.3f,\"flushes\":%llu,"
               "\"skipped\":%llu,\"generation\":%llu,\"seconds\":%.3f,\"mb_per_s\":%.2f,"
               "\"incremental\":%d,\"committed\":%d,\"unchanged\":%llu,\"deleted\":%llu,"
               "\"live\":%llu,\"segments\":%u,\"merges\":%u,\"merged_segments\":%u}\n",
               (unsigned long long)st.documents, (unsigned long long)st.tokens,
               (unsigned long long)st.terms, (unsigned long long)st.postings,
               (unsigned long long)st.positions, (unsigned long long)st.input_bytes,
               (unsigned long long)st.index_bytes, (unsigned long long)st.postings_bytes,
               (unsigned long long)st.positions_bytes, (unsigned long long)st.store_bytes, bpp,
               bppos, (unsigned long long)st.flushes, (unsigned long long)st.skipped,
               (unsigned long long)st.generation, st.seconds, mbs, st.incremental, st.committed,
               (unsigned long long)st.unchanged, (unsigned long long)st.deleted,
               (unsigned long long)st.live, st.segments, st.merges, st.merged_segments);
    } else if (!quiet && !st.committed) {
        printf("index unchanged: %s (generation %llu, %llu documents): nothing to commit\n", dir,
               (unsigned long long)st.generation, (unsigned long long)st.live);
    } else if (!quiet && st.incremental) {
        printf("index updated: %s (generation %llu)\n", dir, (unsigned long long)st.generation);
        printf("  indexed        %llu new or modified%s\n", (unsigned long long)st.documents,
               st.skipped ? " (some inputs skipped, see warnings)" : "");
        printf("  unchanged      %llu\n", (unsigned long long)st.unchanged);
        printf("  deleted        %llu replaced or vanished\n", (unsigned long long)st.deleted);
        printf("  documents      %llu in %u segment%s\n", (unsigned long long)st.live,
               st.segments, st.segments == 1 ? "" : "s");
        if (st.merges)
            printf("  merged         %u segment%s in %u merge%s (%.2f s)\n", st.merged_segments,
                   st.merged_segments == 1 ? "" : "s", st.merges, st.merges == 1 ? "" : "s",
                   st.merge_seconds);
        printf("  time           %.2f s, %.1f MB/s over %.2f MB read\n", st.seconds, mbs,
               (double)st.input_bytes / 1e6);
    } else if (!quiet) {
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
}

/* ---- --watch ---- */

#define WATCH_QUIET_MS 250   /* an update runs once the changes pause this long... */
#define WATCH_MAX_WAIT_MS 1000 /* ...or this long after the first change, whichever first */
#define WATCH_RESCAN_MS 60000 /* and in any case this often (a missed event costs no more) */

struct watched {
    uv_fs_event_t ev;
    char *path;
    dev_t dev; /* the folder watched: a folder of that path made anew is another */
    ino_t ino;
    int dead;  /* it reported its own removal (its inode may come back, reused) */
    int seen;
    int tree;  /* a folder of a PATH's tree: any entry's change counts; else only the folder
                * holding a PATH (watch_above), where only the PATH's own name does */
    struct watched *next;
};

struct dev_ino {
    dev_t dev;
    ino_t ino;
};

struct watch {
    uv_loop_t *loop;
    uv_timer_t debounce, rescan;
    uv_signal_t sigint, sigterm;
    struct watched *ws;
    const char *dir;
    char **paths;
    size_t n_paths;
    struct kq_build_opts *opts;
    int json, quiet;
    uint64_t first_ms; /* time of the first change not yet indexed, 0 when none */
    dev_t ix_dev;
    ino_t ix_ino;
    int stopping;
    char **targets;       /* per PATH, the name of the file a link PATH leads to, or NULL */
    struct dev_ino *walked; /* the folders a rewatch walked: each once (links loop) */
    size_t n_walked, cap_walked;
};

static void schedule(struct watch *w);

/* Whether `name` is the last component of path `p`. */
static int last_component(const char *p, const char *name)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    size_t b = n;
    while (b && p[b - 1] != '/')
        b--;
    return n - b == strlen(name) && !memcmp(p + b, name, n - b);
}

/* Whether `name` (an entry of a folder watched) is the last component of a PATH, or of
 * the file a link PATH leads to: a hidden folder given as a PATH is indexed, and its
 * going is a change. */
static int names_path(const struct watch *w, const char *name)
{
    for (size_t i = 0; i < w->n_paths; i++)
        if (last_component(w->paths[i], name) ||
            (w->targets[i] && last_component(w->targets[i], name)))
            return 1;
    return 0;
}

/* Whether `name`, an entry of folder `dir` as watch_above names it (a leading part of `p`,
 * or "." for a relative `p`), is on the way to path `p` (or is its last component). */
static int leads_to(const char *dir, const char *name, const char *p)
{
    size_t dl = strlen(dir);
    const char *rest;
    if (!strcmp(dir, ".") && p[0] != '/')
        rest = p;
    else if (!strncmp(p, dir, dl) && (p[dl] == '/' || (dl && dir[dl - 1] == '/')))
        rest = p + dl;
    else
        return 0;
    for (;;) { /* past separators and "./" */
        while (*rest == '/')
            rest++;
        if (rest[0] != '.' || rest[1] != '/')
            break;
        rest++;
    }
    size_t nl = strlen(name);
    return !strncmp(rest, name, nl) && (rest[nl] == '/' || !rest[nl]);
}

static void on_fs_event(uv_fs_event_t *h, const char *name, int events, int status)
{
    struct watch *w = h->loop->data;
    struct watched *x = h->data;
    char hp[4096];
    size_t hl = sizeof hp;
    /* the folder itself went (or an entry of its name: watched anew); libuv names it by
     * the path of the first watch of its inode, which may be another */
    int self = status == 0 && name && (events & UV_RENAME) &&
               (last_component(x->path, name) ||
                (uv_fs_event_getpath(h, hp, &hl) == 0 && last_component(hp, name)));
    int counts = self || status != 0 || !name;
    if (!counts && x->tree) /* hidden entries are not indexed (the index itself, often) */
        counts = name[0] != '.' || names_path(w, name);
    for (size_t i = 0; !counts && !x->tree && i < w->n_paths; i++)
        /* beside a PATH, only what leads to one counts (not a log the run writes there) */
        counts = leads_to(x->path, name, w->paths[i]) ||
                 (w->targets[i] && leads_to(x->path, name, w->targets[i]));
    if (self)
        x->dead = 1;
    if (counts)
        schedule(w);
}

static void on_closed(uv_handle_t *h)
{
    struct watched *x = h->data;
    free(x->path);
    free(x);
}

/* Starts watching directory `path` unless it is watched already; returns 1 when it
 * started a watch. `tree`: as struct watched's. */
static int watch_dir(struct watch *w, const char *path, int tree)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    for (struct watched *x = w->ws; x; x = x->next)
        if (!x->dead && !strcmp(x->path, path) && x->dev == st.st_dev && x->ino == st.st_ino) {
            x->seen = 1;
            x->tree |= tree;
            return 0;
        }
    struct watched *x = calloc(1, sizeof *x);
    if (!x || !(x->path = strdup(path))) {
        free(x);
        return 0;
    }
    uv_fs_event_init(w->loop, &x->ev);
    x->ev.data = x;
    int rc = uv_fs_event_start(&x->ev, on_fs_event, path, 0);
    if (rc) {
        if (!w->quiet)
            fprintf(stderr, "kq-index: warning: %s: cannot watch: %s\n", path, uv_strerror(rc));
        uv_close((uv_handle_t *)&x->ev, on_closed);
        return 0;
    }
    x->dev = st.st_dev;
    x->ino = st.st_ino;
    x->seen = 1;
    x->tree = tree;
    x->next = w->ws;
    w->ws = x;
    return 1;
}

/* Watches the folder that holds `path` (the nearest one that exists, when that is gone):
 * it sees `path` go, come back, or, a link, lead elsewhere. */
static int watch_above(struct watch *w, const char *path)
{
    char *p = strdup(path);
    if (!p)
        return 0;
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    int added = 0;
    struct stat st;
    for (;;) {
        char *slash = strrchr(p, '/');
        if (!slash) {
            added = watch_dir(w, ".", 0);
            break;
        }
        slash[slash == p] = '\0'; /* "/a" -> "/" */
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            added = watch_dir(w, p, 0);
            break;
        }
        if (slash == p)
            break;
    }
    free(p);
    return added;
}

/* Watches `path` and, recursively, its folders (as the walk of kq_index_build goes: hidden
 * entries and the index directory left out, a folder reached twice walked once). PATH
 * number `top` - 1 (0: not a PATH) is also followed through the folder holding it
 * (watch_above), and a file PATH that is a link through its target's folder. */
static int watch_tree(struct watch *w, const char *path, size_t top, int depth)
{
    struct stat st;
    int added = top ? watch_above(w, path) : 0;
    int gone = stat(path, &st) != 0;
    if (gone || depth > 64)
        return added;
    if (!S_ISDIR(st.st_mode)) {
        char *real = top ? realpath(path, NULL) : NULL;
        if (real) {
            added += watch_above(w, real);
            free(w->targets[top - 1]);
            w->targets[top - 1] = real;
        }
        return added;
    }
    if (st.st_dev == w->ix_dev && st.st_ino == w->ix_ino)
        return added;
    for (size_t i = 0; i < w->n_walked; i++)
        if (w->walked[i].dev == st.st_dev && w->walked[i].ino == st.st_ino)
            return added;
    if (w->n_walked == w->cap_walked) {
        size_t cap = w->cap_walked ? 2 * w->cap_walked : 64;
        struct dev_ino *v = realloc(w->walked, cap * sizeof *v);
        if (!v)
            return added;
        w->walked = v;
        w->cap_walked = cap;
    }
    w->walked[w->n_walked++] = (struct dev_ino){st.st_dev, st.st_ino};
    added += watch_dir(w, path, 1);
    DIR *d = opendir(path);
    if (!d)
        return added;
    struct dirent *de;
    size_t plen = strlen(path);
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
            continue;
        size_t l = plen + strlen(de->d_name) + 2;
        char *child = malloc(l);
        if (!child)
            break;
        snprintf(child, l, "%s%s%s", path, plen && path[plen - 1] == '/' ? "" : "/",
                 de->d_name);
        added += watch_tree(w, child, 0, depth + 1);
        free(child);
    }
    closedir(d);
    return added;
}

/* Brings the watchers in line with the folders that exist now; returns how many watches it
 * started. */
static int rewatch(struct watch *w)
{
    int added = 0;
    struct stat st;
    if (stat(w->dir, &st) == 0) {
        w->ix_dev = st.st_dev;
        w->ix_ino = st.st_ino;
    }
    for (struct watched *x = w->ws; x; x = x->next)
        x->seen = x->tree = 0;
    w->n_walked = 0;
    for (size_t i = 0; i < w->n_paths; i++)
        added += watch_tree(w, w->paths[i], i + 1, 0);
    for (struct watched **pp = &w->ws; *pp;) {
        struct watched *x = *pp;
        if (x->seen) {
            pp = &x->next;
            continue;
        }
        *pp = x->next;
        uv_fs_event_stop(&x->ev);
        uv_close((uv_handle_t *)&x->ev, on_closed);
    }
    return added;
}

static void update(struct watch *w)
{
    struct kq_build_stats st;
    kq_error err;
    kq_error_clear(&err);
    w->first_ms = 0;
    int rc = kq_index_build(w->dir, (const char *const *)w->paths, w->n_paths, w->opts, &st,
                            &err);
    if (rc) {
        /* reported, and the next change tries again: a file caught half-written is not a
         * reason to stop following the folder */
        fprintf(stderr, "kq-index: %s\n", err.msg);
    } else if (st.committed && w->json) {
        print_summary(w->dir, &st, 1, 0);
    } else if (st.committed && !w->quiet) {
        time_t now = time(NULL);
        char when[32];
        strftime(when, sizeof when, "%H:%M:%S", localtime(&now));
        printf("%s generation %llu: %llu indexed, %llu deleted, %llu documents in %u "
               "segment%s%s (%.2f s)\n",
               when, (unsigned long long)st.generation, (unsigned long long)st.documents,
               (unsigned long long)st.deleted, (unsigned long long)st.live, st.segments,
               st.segments == 1 ? "" : "s", st.merges ? ", merged" : "", st.seconds);
    }
    fflush(stdout);
    /* a folder that appeared may have got files between the update's walk and its watch:
     * one more (cheap) update sees them */
    if (rewatch(w))
        schedule(w);
}

static void on_debounce(uv_timer_t *t)
{
    update(t->loop->data);
}

static void on_rescan(uv_timer_t *t)
{
    update(t->loop->data);
}

static void schedule(struct watch *w)
{
    if (w->stopping)
        return;
    uint64_t now = uv_now(w->loop);
    if (!w->first_ms)
        w->first_ms = now;
    uint64_t waited = now - w->first_ms;
    uint64_t due = waited >= WATCH_MAX_WAIT_MS - WATCH_QUIET_MS
                       ? (waited >= WATCH_MAX_WAIT_MS ? 0 : WATCH_MAX_WAIT_MS - waited)
                       : WATCH_QUIET_MS;
    uv_timer_start(&w->debounce, on_debounce, due, 0);
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_FS_EVENT ? on_closed : NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    struct watch *w = s->loop->data;
    w->stopping = 1;
    w->ws = NULL; /* every handle closes below; on_closed frees the watchers */
    uv_walk(s->loop, close_any, NULL);
}

/* Follows the PATHs until SIGINT or SIGTERM; returns the exit status. */
static int watch_run(const char *dir, char **paths, size_t n_paths,
                     struct kq_build_opts *opts, int json, int quiet)
{
    struct watch w;
    memset(&w, 0, sizeof w);
    w.loop = uv_default_loop();
    w.loop->data = &w;
    w.dir = dir;
    w.paths = paths;
    w.n_paths = n_paths;
    w.opts = opts;
    w.json = json;
    w.quiet = quiet;
    opts->progress = NULL; /* no progress bar between the summary lines */
    opts->missing_ok = 1;  /* a PATH may go and come back */
    opts->full = 0;        /* --full was the first build's: the changes are updates */
    if (!(w.targets = calloc(n_paths, sizeof *w.targets))) {
        fprintf(stderr, "kq-index: out of memory\n");
        return 2;
    }
    uv_timer_init(w.loop, &w.debounce);
    uv_timer_init(w.loop, &w.rescan);
    uv_timer_start(&w.rescan, on_rescan, WATCH_RESCAN_MS, WATCH_RESCAN_MS);
    uv_signal_init(w.loop, &w.sigint);
    uv_signal_init(w.loop, &w.sigterm);
    uv_signal_start(&w.sigint, on_signal, SIGINT);
    uv_signal_start(&w.sigterm, on_signal, SIGTERM);
    rewatch(&w);
    /* what changed between the first update and the watches starting */
    uv_timer_start(&w.debounce, on_debounce, 0, 0);
    if (!quiet && !json) {
        size_t n = 0;
        for (struct watched *x = w.ws; x; x = x->next)
            n++;
        printf("watching %zu folder%s; Ctrl-C stops\n", n, n == 1 ? "" : "s");
        fflush(stdout);
    }
    uv_run(w.loop, UV_RUN_DEFAULT);
    uv_loop_close(w.loop);
    for (size_t i = 0; i < n_paths; i++)
        free(w.targets[i]);
    free(w.targets);
    free(w.walked);
    return 0;
}

int main(int argc, char **argv)
{
    enum { OPT_K1 = 256, OPT_B, OPT_NOWAIT, OPT_CHECK, OPT_JSON, OPT_FULL, OPT_MERGE,
           OPT_OPTIMIZE, OPT_NOMERGE, OPT_WATCH };
    static const struct option longopts[] = {
        {"index", required_argument, NULL, 'i'},   {"language", required_argument, NULL, 'L'},
        {"memory", required_argument, NULL, 'm'},  {"threads", required_argument, NULL, 'j'},
        {"k1", required_argument, NULL, OPT_K1},   {"b", required_argument, NULL, OPT_B},
        {"no-wait", no_argument, NULL, OPT_NOWAIT}, {"check", no_argument, NULL, OPT_CHECK},
        {"json-summary", no_argument, NULL, OPT_JSON}, {"quiet", no_argument, NULL, 'q'},
        {"full", no_argument, NULL, OPT_FULL},     {"merge", optional_argument, NULL, OPT_MERGE},
        {"optimize", no_argument, NULL, OPT_OPTIMIZE},
        {"no-merge", no_argument, NULL, OPT_NOMERGE},
        {"watch", no_argument, NULL, OPT_WATCH},
        {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
#ifdef __GLIBC__
    /* --memory bounds the resident set, and glibc's defaults work against it: its mmap and
     * trim thresholds rise as large blocks are freed (up to 32 and 64 MiB), after which
     * blocks that size come from the threads' heaps and stay resident there once freed,
     * where other threads cannot reuse them (a build frees its run after each flush). Fixed
     * thresholds hand large blocks and heap tops back to the system when they are freed;
     * the time a build takes does not change. */
    mallopt(M_MMAP_THRESHOLD, 256 << 10);
    mallopt(M_TRIM_THRESHOLD, 1 << 20);
#endif
    const char *dir = ".kq";
    struct kq_build_opts opts = {0};
    opts.b = -1;
    opts.wait_for_lock = 1;
    int check = 0, json = 0, merge = 0, watch = 0;
    uint32_t merge_to = 0;
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
            if (parse_double(optarg, &n) || n < 1 || n > 64 || n != (int)n) {
                fprintf(stderr, "kq-index: --threads wants a whole number from 1 to 64\n");
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
        case OPT_FULL:
            opts.full = 1;
            break;
        case OPT_NOMERGE:
            opts.no_merge = 1;
            break;
        case OPT_WATCH:
            watch = 1;
            break;
        case OPT_OPTIMIZE:
            merge = 1;
            merge_to = 1;
            break;
        case OPT_MERGE:
            merge = 1;
            if (optarg) {
                double n;
                if (parse_double(optarg, &n) || n < 1 || n > 4096 || n != (uint32_t)n) {
                    fprintf(stderr, "kq-index: --merge wants a segment count from 1 to 4096\n");
                    return 2;
                }
                merge_to = (uint32_t)n;
            }
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
    opts.warn = on_warn;
    opts.waiting = on_waiting;
    opts.progress = on_progress;
    opts.ctx = &ui;
    struct kq_build_stats st;
    if (merge) {
        if (optind < argc || opts.full || watch) {
            fprintf(stderr, "kq-index: --merge takes no PATH and no --full (an update runs the "
                            "merge policy itself)\n");
            return 2;
        }
        int rc = kq_index_merge(dir, merge_to, &opts, &st, &err);
        if (rc) {
            fprintf(stderr, "kq-index: %s\n", err.msg);
            return 2;
        }
        if (json)
            printf("{\"committed\":%d,\"generation\":%llu,\"live\":%llu,\"segments\":%u,"
                   "\"merges\":%u,\"merged_segments\":%u,\"seconds\":%.3f}\n",
                   st.committed, (unsigned long long)st.generation,
                   (unsigned long long)st.live, st.segments, st.merges, st.merged_segments,
                   st.merge_seconds);
        else if (!ui.quiet && !st.committed)
            printf("nothing to merge: %s (generation %llu, %u segment%s, %llu documents)\n", dir,
                   (unsigned long long)st.generation, st.segments, st.segments == 1 ? "" : "s",
                   (unsigned long long)st.live);
        else if (!ui.quiet)
            printf("merged %u segment%s in %u merge%s: %s (generation %llu, %u segment%s, "
                   "%llu documents, %.2f s)\n",
                   st.merged_segments, st.merged_segments == 1 ? "" : "s", st.merges,
                   st.merges == 1 ? "" : "s", dir, (unsigned long long)st.generation,
                   st.segments, st.segments == 1 ? "" : "s", (unsigned long long)st.live,
                   st.merge_seconds);
        return 0;
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    ui.bar = !ui.quiet && !json && isatty(2);
    int rc = kq_index_build(dir, (const char *const *)argv + optind, (size_t)(argc - optind),
                            &opts, &st, &err);
    if (ui.bar)
        fputs("\r\033[K", stderr);
    if (rc) {
        fprintf(stderr, "kq-index: %s%s\n", err.msg,
                rc == KQ_ECORRUPT || rc == KQ_EVERSION ? " (--full rebuilds the index)" : "");
        return 2;
    }
    print_summary(dir, &st, json, ui.quiet);
    if (watch)
        return watch_run(dir, (char **)argv + optind, (size_t)(argc - optind), &opts, json,
                         ui.quiet);
    return 0;
}
