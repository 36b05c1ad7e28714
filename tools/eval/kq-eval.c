/* tools/eval/kq-eval.c: kq-eval [OPTIONS] COLLECTION_DIR
 *
 * The relevance evaluation driver. On a BEIR-layout collection (corpus.jsonl or
 * corpus.jsonl.zst, queries.jsonl, qrels/test.tsv) it builds an index with kq_index_build,
 * runs every query judged in the qrels as free text (KQ_QUERY_PLAIN: each word a SHOULD
 * term) with exact BM25 top-k (kq_eval), writes a TREC run, scores it with kq_trec
 * (nDCG@10, Recall@100, MAP@100 as trec_eval -c computes them) and prints the measures and
 * the timings, one `name<TAB>value` line each (see usage below). Exit 0 on success, 2 on any
 * error. The work is in libkq and kq_trec; this file is argv, files and output.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "kq/index.h"
#include "query/eval.h"
#include "query/query.h"
#include "text/text.h"
#include "trec.h"

#define KQ_VERSION "0.1.0"

static const char usage[] =
    "usage: kq-eval [OPTIONS] COLLECTION_DIR\n"
    "\n"
    "Evaluates kq's ranking on a BEIR-layout test collection: COLLECTION_DIR holds\n"
    "corpus.jsonl (or corpus.jsonl.zst), queries.jsonl ({\"_id\", \"text\"}) and\n"
    "qrels/test.tsv. Builds an index in a temporary directory, runs every query judged in\n"
    "the qrels as free text (every word a ranked-OR term, exact BM25 top k), writes a TREC\n"
    "run and prints nDCG@10, Recall@100 and MAP@100 as trec_eval -c computes them, then the\n"
    "index build time and the query latency percentiles (parse + evaluation).\n"
    "\n"
    "options:\n"
    "      --k N          results per query (default: 100; 1..10000)\n"
    "      --k1 X         BM25 k1 (default: 0.9)\n"
    "      --b X          BM25 b (default: 0.4)\n"
    "      --title-weight X  what a word's BM25 in the title adds, times X (default 0.25;\n"
    "                     0: none)\n"
    "  -L, --language L   Snowball stemming language, or 'none' (default: english)\n"
    "      --keep DIR     keep the decompressed corpus, the index (DIR/index) and the run\n"
    "                     (DIR/run.trec) in DIR (created with its parents if missing),\n"
    "                     not in a temporary directory removed at the end;\n"
    "                     the run's path is printed\n"
    "  -q, --per-query    also print one line per query: query QID ndcg_cut_10 recall_100\n"
    "                     map_cut_100 n_ret n_rel\n"
    "  -h, --help         this help\n"
    "  -V, --version      the version\n"
    "\n"
    "output: lines 'name<TAB>value': collection, documents, queries (judged queries with a\n"
    "relevant document: those averaged), queries_run, queries_empty (analysed to no term:\n"
    "empty result, scored 0), queries_missing (judged but absent from queries.jsonl: scored\n"
    "0), ndcg_cut_10, recall_100, map_cut_100, index_seconds, query_p50_us, query_p99_us,\n"
    "and run (with --keep).\n"
    "\n"
    "exit status: 0 success; 2 error.\n";

/* ---- errors ---- */

static _Noreturn void die_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char g_tmpdir[4096]; /* the temporary work directory to remove, "" when none */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tmpdir(void)
{
    if (g_tmpdir[0])
        nftw(g_tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    g_tmpdir[0] = 0;
}

/* Prints "kq-eval: MESSAGE", removes the temporary directory and exits with status 2. */
static _Noreturn void die_msg(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("kq-eval: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    remove_tmpdir();
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die_msg("out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die_msg("out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        die_msg("out of memory");
    return p;
}

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* mkdir -p: creates `path` and its missing parents. Returns 0 or -1 with errno set. */
static int make_dirs(const char *path)
{
    size_t len = strlen(path);
    char *p = xmalloc(len + 1);
    memcpy(p, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (p[i] != '/' && p[i] != 0)
            continue;
        char saved = p[i];
        p[i] = 0;
        if (mkdir(p, 0777) && errno != EEXIST) {
            int e = errno;
            free(p);
            errno = e;
            return -1;
        }
        p[i] = saved;
    }
    free(p);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* ---- corpus: corpus.jsonl.zst -> corpus.jsonl ---- */

static void decompress(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    if (!in)
        die_msg("cannot open '%s': %s", src, strerror(errno));
    FILE *out = fopen(dst, "wb");
    if (!out)
        die_msg("cannot create '%s': %s", dst, strerror(errno));
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    size_t in_cap = ZSTD_DStreamInSize(), out_cap = ZSTD_DStreamOutSize();
    char *ibuf = xmalloc(in_cap), *obuf = xmalloc(out_cap);
    if (!dctx)
        die_msg("out of memory");
    size_t last = 0, got, total_in = 0;
    while ((got = fread(ibuf, 1, in_cap, in)) > 0) {
        total_in += got;
        ZSTD_inBuffer ib = {ibuf, got, 0};
        while (ib.pos < ib.size) {
            ZSTD_outBuffer ob = {obuf, out_cap, 0};
            last = ZSTD_decompressStream(dctx, &ob, &ib);
            if (ZSTD_isError(last))
                die_msg("'%s': %s", src, ZSTD_getErrorName(last));
            if (ob.pos && fwrite(obuf, 1, ob.pos, out) != ob.pos)
                die_msg("cannot write '%s': %s", dst, strerror(errno));
        }
    }
    if (ferror(in))
        die_msg("cannot read '%s': %s", src, strerror(errno));
    /* a frame whose last block came with the final input may still hold output */
    while (last != 0) {
        ZSTD_inBuffer ib = {ibuf, 0, 0};
        ZSTD_outBuffer ob = {obuf, out_cap, 0};
        size_t r = ZSTD_decompressStream(dctx, &ob, &ib);
        if (ZSTD_isError(r))
            die_msg("'%s': %s", src, ZSTD_getErrorName(r));
        if (!ob.pos)
            break; /* no progress without more input: truncated */
        if (fwrite(obuf, 1, ob.pos, out) != ob.pos)
            die_msg("cannot write '%s': %s", dst, strerror(errno));
        last = r;
    }
    if (!total_in)
        die_msg("'%s': empty file", src);
    if (last != 0)
        die_msg("'%s': truncated zstd frame", src);
    if (fclose(out))
        die_msg("cannot write '%s': %s", dst, strerror(errno));
    fclose(in);
    ZSTD_freeDCtx(dctx);
    free(ibuf);
    free(obuf);
}

/* ---- queries.jsonl ---- */

struct query {
    char *id;
    char *text;
    size_t text_len;
    size_t line;
};

static int query_cmp(const void *a, const void *b)
{
    return strcmp(((const struct query *)a)->id, ((const struct query *)b)->id);
}

/* Reads queries.jsonl into a strcmp-sorted array; `*n` queries. Blank lines are skipped;
 * anything else that is not a JSON object with an "_id" is an error naming the line. */
static struct query *load_queries(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die_msg("cannot open '%s': %s", path, strerror(errno));
    struct query *qs = NULL;
    size_t nq = 0, cap = 0, lineno = 0;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        size_t i = 0;
        while (i < (size_t)len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == (size_t)len)
            continue;
        struct kq_json_doc jd;
        kq_error err;
        kq_error_clear(&err);
        if (kq_jsonl_parse(line, (size_t)len, &jd, &err))
            die_msg("'%s': line %zu: %s", path, lineno, err.msg);
        if (nq == cap) {
            cap = cap ? 2 * cap : 256;
            qs = xrealloc(qs, cap * sizeof *qs);
        }
        qs[nq].id = xmalloc(jd.id_len + 1);
        memcpy(qs[nq].id, jd.id, jd.id_len + 1);
        qs[nq].text = xmalloc(jd.text_len + 1);
        memcpy(qs[nq].text, jd.text, jd.text_len + 1);
        qs[nq].text_len = jd.text_len;
        qs[nq].line = lineno;
        nq++;
        kq_json_doc_release(&jd);
    }
    if (ferror(f))
        die_msg("cannot read '%s': %s", path, strerror(errno));
    free(line);
    fclose(f);
    if (!nq)
        die_msg("'%s': no query", path);
    qsort(qs, nq, sizeof *qs, query_cmp);
    for (size_t i = 1; i < nq; i++)
        if (!strcmp(qs[i - 1].id, qs[i].id))
            die_msg("'%s': query id '%s' on lines %zu and %zu", path, qs[i].id,
                    qs[i - 1].line < qs[i].line ? qs[i - 1].line : qs[i].line,
                    qs[i - 1].line < qs[i].line ? qs[i].line : qs[i - 1].line);
    *n = nq;
    return qs;
}

static const struct query *find_query(const struct query *qs, size_t n, const char *id)
{
    struct query key = {.id = (char *)id};
    return bsearch(&key, qs, n, sizeof *qs, query_cmp);
}

/* ---- the run ---- */

static int has_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\v' ||
            s[i] == '\f' || s[i] == 0)
            return 1;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile p (0 < p <= 1) of the sorted `v`. */
static double percentile(const double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t r = (size_t)ceil(p * (double)n);
    if (r < 1)
        r = 1;
    if (r > n)
        r = n;
    return v[r - 1];
}

static void on_warn(void *ctx, const char *path, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "kq-eval: warning: %s: %s\n", path, msg);
}

/* One judged query id of the qrels and its number of relevant documents. */
struct judged {
    const char *qid; /* lives in the qrels */
    size_t n_rel;
};

static const char *collection_name(const char *dir)
{
    static char name[256];
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    size_t n = len - start;
    if (n >= sizeof name)
        n = sizeof name - 1;
    memcpy(name, dir + start, n);
    name[n] = 0;
    return name;
}

int main(int argc, char **argv)
{
    enum { OPT_K = 256, OPT_K1, OPT_B, OPT_TITLE_WEIGHT, OPT_KEEP };
    static const struct option longopts[] = {
        {"k", required_argument, NULL, OPT_K},       {"k1", required_argument, NULL, OPT_K1},
        {"b", required_argument, NULL, OPT_B},       {"keep", required_argument, NULL, OPT_KEEP},
        {"title-weight", required_argument, NULL, OPT_TITLE_WEIGHT},
        {"language", required_argument, NULL, 'L'},  {"per-query", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},            {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    uint32_t k = 100;
    double k1 = 0.9, b = 0.4, title_weight = -1;
    const char *keep = NULL, *language = "english";
    int per_query = 0, c;
    while ((c = getopt_long(argc, argv, "L:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_K: {
            char *end;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-' || v < 1 ||
                v > KQ_SEARCH_MAX_K)
                die_msg("--k: expected an integer in 1..%d, got '%s'", KQ_SEARCH_MAX_K, optarg);
            k = (uint32_t)v;
            break;
        }
        case OPT_K1:
            if (parse_double(optarg, &k1) || k1 < 0)
                die_msg("--k1: expected a number >= 0, got '%s'", optarg);
            break;
        case OPT_B:
            if (parse_double(optarg, &b) || b < 0 || b > 1)
                die_msg("--b: expected a number in [0, 1], got '%s'", optarg);
            break;
        case OPT_TITLE_WEIGHT:
            if (parse_double(optarg, &title_weight) || title_weight < 0 ||
                title_weight > KQ_TITLE_WEIGHT_MAX)
                die_msg("--title-weight: expected a number in [0, %g], got '%s'",
                        KQ_TITLE_WEIGHT_MAX, optarg);
            break;
        case OPT_KEEP:
            keep = optarg;
            break;
        case 'L':
            if (!kq_language_valid(optarg))
                die_msg("--language: unknown language '%s'", optarg);
            language = optarg;
            break;
        case 'q':
            per_query = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'V':
            printf("kq-eval (kq) " KQ_VERSION "\n");
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (argc - optind != 1) {
        fputs(usage, stderr);
        return 2;
    }
    const char *coll = argv[optind];
    struct stat st;
    if (stat(coll, &st) || !S_ISDIR(st.st_mode))
        die_msg("'%s': not a collection directory", coll);

    /* the collection's files */
    char *corpus = path_join(coll, "corpus.jsonl");
    char *corpus_zst = path_join(coll, "corpus.jsonl.zst");
    char *queries_path = path_join(coll, "queries.jsonl");
    char *qrels_path = path_join(coll, "qrels/test.tsv");
    int zst = 0;
    if (!file_exists(corpus)) {
        if (!file_exists(corpus_zst))
            die_msg("'%s': no corpus.jsonl or corpus.jsonl.zst", coll);
        zst = 1;
    }
    if (!file_exists(queries_path))
        die_msg("'%s': no queries.jsonl", coll);
    if (!file_exists(qrels_path))
        die_msg("'%s': no qrels/test.tsv", coll);

    kq_error err;
    kq_error_clear(&err);
    kq_trec_qrels *qrels = NULL;
    if (kq_trec_qrels_load(qrels_path, &qrels, &err))
        die_msg("%s", err.msg);
    size_t n_queries = 0;
    struct query *queries = load_queries(queries_path, &n_queries);

    /* the distinct judged query ids, in strcmp order */
    size_t n_judg = kq_trec_qrels_n_judgments(qrels);
    struct judged *jq = xmalloc(kq_trec_qrels_n_queries(qrels) * sizeof *jq);
    size_t n_jq = 0, n_with_rel = 0;
    for (size_t i = 0; i < n_judg; i++) {
        const char *qid;
        int grade;
        kq_trec_qrels_judgment(qrels, i, &qid, NULL, &grade);
        if (!n_jq || strcmp(jq[n_jq - 1].qid, qid)) {
            jq[n_jq].qid = qid;
            jq[n_jq].n_rel = 0;
            n_jq++;
        }
        if (grade > 0 && jq[n_jq - 1].n_rel++ == 0)
            n_with_rel++;
    }
    if (!n_with_rel)
        die_msg("'%s': no query has a relevant document", qrels_path);

    /* the work directory */
    char *work;
    if (keep) {
        if (make_dirs(keep))
            die_msg("cannot create '%s': %s", keep, strerror(errno));
        if (stat(keep, &st) || !S_ISDIR(st.st_mode))
            die_msg("'%s': not a directory", keep);
        work = xstrdup(keep);
    } else {
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !*tmp)
            tmp = "/tmp";
        int n = snprintf(g_tmpdir, sizeof g_tmpdir, "%s/kq-eval.XXXXXX", tmp);
        if (n < 0 || (size_t)n >= sizeof g_tmpdir)
            die_msg("TMPDIR too long");
        if (!mkdtemp(g_tmpdir)) {
            int e = errno;
            g_tmpdir[0] = 0;
            die_msg("cannot create a temporary directory in '%s': %s", tmp, strerror(e));
        }
        work = xstrdup(g_tmpdir);
    }
    if (zst) {
        free(corpus);
        corpus = path_join(work, "corpus.jsonl");
        decompress(corpus_zst, corpus);
    }
    char *index_dir = path_join(work, "index");
    char *run_path = path_join(work, "run.trec");

    /* index */
    struct kq_build_opts bo = {0};
    bo.language = language;
    bo.k1 = k1 > 0 ? k1 : 0.9; /* 0 means the default here; the search below passes k1 */
    bo.b = b;
    bo.wait_for_lock = 0;
    bo.warn = on_warn;
    struct kq_build_stats bs;
    const char *paths[1] = {corpus};
    double t0 = now_s();
    if (kq_index_build(index_dir, paths, 1, &bo, &bs, &err))
        die_msg("building the index: %s", err.msg[0] ? err.msg : kq_strerror(err.code));
    double index_s = now_s() - t0;
    kq_index *ix = NULL;
    if (kq_index_open(index_dir, &ix, &err))
        die_msg("opening the index: %s", err.msg[0] ? err.msg : kq_strerror(err.code));
    struct kq_index_info info;
    kq_index_get_info(ix, &info);
    kq_analyzer *an = NULL;
    if (kq_analyzer_new(info.language, &an, &err))
        die_msg("analyser '%s': %s", info.language, err.msg);

    /* queries -> run */
    FILE *run = fopen(run_path, "w");
    if (!run)
        die_msg("cannot create '%s': %s", run_path, strerror(errno));
    struct kq_search_opts so;
    kq_search_opts_init(&so);
    so.k = k;
    so.k1 = k1;
    so.b = b;
    so.title_weight = title_weight;
    double *lat = xmalloc(n_jq * sizeof *lat);
    size_t n_lat = 0, n_empty = 0, n_missing = 0, n_lines = 0;
    for (size_t i = 0; i < n_jq; i++) {
        const struct query *q = find_query(queries, n_queries, jq[i].qid);
        if (!q) {
            fprintf(stderr, "kq-eval: warning: query '%s' of the qrels is not in '%s' (scored 0)\n",
                    jq[i].qid, queries_path);
            n_missing++;
            continue;
        }
        struct kq_query_limits lim = {0};
        lim.max_len = q->text_len ? q->text_len : 1;
        lim.max_terms = UINT32_MAX;
        kq_query *kq = NULL;
        struct kq_results res = {0};
        double q0 = now_s();
        if (kq_query_parse(q->text, q->text_len, an, KQ_QUERY_PLAIN, &lim, &kq, &err))
            die_msg("query '%s': %s", q->id, err.msg);
        if (kq_query_root(kq) && kq_eval(ix, kq, &so, &res, &err))
            die_msg("query '%s': %s", q->id, err.msg[0] ? err.msg : kq_strerror(err.code));
        lat[n_lat++] = (now_s() - q0) * 1e6;
        if (!kq_query_root(kq))
            n_empty++;
        kq_query_free(kq);
        for (uint32_t r = 0; r < res.n; r++) {
            struct kq_doc d;
            if (kq_index_doc(ix, res.hits[r].doc, &d, &err))
                die_msg("document %u: %s", res.hits[r].doc, err.msg);
            if (!d.id_len || has_blank(d.id, d.id_len))
                die_msg("document %u: id '%.*s' is empty or holds a blank: it cannot be "
                        "written to a TREC run",
                        res.hits[r].doc, (int)d.id_len, d.id);
            fprintf(run, "%s Q0 %.*s %u %.17g kq\n", q->id, (int)d.id_len, d.id, r + 1,
                    res.hits[r].score);
            n_lines++;
        }
        kq_results_release(&res);
    }
    if (fclose(run))
        die_msg("cannot write '%s': %s", run_path, strerror(errno));

    /* measures */
    struct kq_trec_eval ev = {0};
    kq_trec_run *trun = NULL;
    if (n_lines) {
        if (kq_trec_run_load(run_path, &trun, &err))
            die_msg("%s", err.msg);
        if (kq_trec_evaluate(qrels, trun, &ev, &err))
            die_msg("%s", err.msg);
    } else { /* nothing retrieved at all: every measure is 0 (kq_trec wants a data line) */
        ev.n_queries = n_with_rel;
    }
    qsort(lat, n_lat, sizeof *lat, cmp_double);

    if (per_query) {
        for (size_t i = 0, e = 0; i < n_jq; i++) {
            if (!jq[i].n_rel)
                continue;
            const struct kq_trec_query_eval *qe =
                e < ev.n_queries && ev.queries && !strcmp(ev.queries[e].qid, jq[i].qid)
                    ? &ev.queries[e++]
                    : NULL;
            printf("query\t%s\t%.4f\t%.4f\t%.4f\t%zu\t%zu\n", jq[i].qid,
                   qe ? qe->ndcg_cut_10 : 0.0, qe ? qe->recall_100 : 0.0,
                   qe ? qe->map_cut_100 : 0.0, qe ? qe->n_ret : 0, jq[i].n_rel);
        }
    }
    printf("collection\t%s\n", collection_name(coll));
    printf("documents\t%u\n", info.n_docs);
    printf("queries\t%zu\n", ev.n_queries);
    printf("queries_run\t%zu\n", n_lat);
    printf("queries_empty\t%zu\n", n_empty);
    printf("queries_missing\t%zu\n", n_missing);
    printf("ndcg_cut_10\t%.4f\n", ev.ndcg_cut_10);
    printf("recall_100\t%.4f\n", ev.recall_100);
    printf("map_cut_100\t%.4f\n", ev.map_cut_100);
    printf("index_seconds\t%.2f\n", index_s);
    printf("query_p50_us\t%.0f\n", percentile(lat, n_lat, 0.50));
    printf("query_p99_us\t%.0f\n", percentile(lat, n_lat, 0.99));
    if (keep)
        printf("run\t%s\n", run_path);
    if (fflush(stdout) || ferror(stdout))
        die_msg("cannot write the output");

    kq_trec_eval_release(&ev);
    kq_trec_run_free(trun);
    kq_analyzer_free(an);
    kq_index_close(ix);
    remove_tmpdir();
    for (size_t i = 0; i < n_queries; i++) {
        free(queries[i].id);
        free(queries[i].text);
    }
    free(queries);
    free(jq);
    free(lat);
    kq_trec_qrels_free(qrels);
    free(corpus);
    free(corpus_zst);
    free(queries_path);
    free(qrels_path);
    free(index_dir);
    free(run_path);
    free(work);
    return 0;
}
