/* tools/eval/trec-eval.c: trec-eval [-q] QRELS RUN
 *
 * Prints recall_100, ndcg_cut_10 and map_cut_100 in trec_eval's format and order, so that
 * the output equals `trec_eval -c [-q] -m recall.100 -m ndcg_cut.10 -m map_cut.100` line
 * for line (see trec.h for the one deliberate difference: qrels queries without a relevant
 * document are left out). With -q, per-query lines come first, by qid strcmp order.
 * RUN may be '-' for standard input. Exit 0 on success, 2 on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trec.h"

#define VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f, "usage: trec-eval [-q] QRELS RUN\n"
               "\n"
               "Evaluates a TREC run (qid Q0 docid rank score tag) against qrels (a BEIR\n"
               "qrels/test.tsv with its header, or classic 'qid iter docid grade' lines) and\n"
               "prints recall_100, ndcg_cut_10 and map_cut_100 as trec_eval -c does.\n"
               "Results are ranked by score (ties: docid in decreasing order), not by the\n"
               "rank column. Queries without a relevant document are left out; a query\n"
               "missing from the run scores 0. RUN may be '-' for standard input.\n"
               "\n"
               "  -q         also print the measures of each query\n"
               "  --help     show this help\n"
               "  --version  show the version\n");
}

static void print(const char *name, const char *qid, double v)
{
    printf("%-22s\t%s\t%6.4f\n", name, qid, v);
}

static int load_run_stdin(kq_trec_run **out, kq_error *err)
{
    size_t n = 0, cap = 65536;
    char *buf = malloc(cap);
    if (!buf)
        return KQ_ENOMEM;
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) {
            char *b = cap <= KQ_TREC_FILE_MAX ? realloc(buf, 2 * cap) : NULL;
            if (!b) {
                free(buf);
                snprintf(err->msg, sizeof err->msg, "run '-': too large or out of memory");
                return KQ_ELIMIT;
            }
            buf = b;
            cap *= 2;
        }
    }
    int rc = ferror(stdin) ? KQ_EIO : kq_trec_run_parse(buf, n, "-", out, err);
    if (rc == KQ_EIO)
        snprintf(err->msg, sizeof err->msg, "run '-': cannot read standard input");
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    int per_query = 0;
    const char *paths[2];
    int n_paths = 0, opts_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts_done || a[0] != '-' || !a[1]) {
            if (n_paths < 2)
                paths[n_paths] = a;
            n_paths++;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("trec-eval (kq) " VERSION "\n");
            return 0;
        } else if (!strcmp(a, "-q")) {
            per_query = 1;
        } else if (!strcmp(a, "--")) {
            opts_done = 1;
        } else {
            fprintf(stderr, "trec-eval: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (n_paths != 2) {
        usage(stderr);
        return 2;
    }

    kq_error err;
    kq_error_clear(&err);
    kq_trec_qrels *qrels = NULL;
    kq_trec_run *run = NULL;
    struct kq_trec_eval ev = {0};
    int status = 2;
    if (kq_trec_qrels_load(paths[0], &qrels, &err))
        goto out;
    if (strcmp(paths[1], "-") ? kq_trec_run_load(paths[1], &run, &err) : load_run_stdin(&run, &err))
        goto out;
    if (kq_trec_evaluate(qrels, run, &ev, &err))
        goto out;
    if (!ev.n_queries) {
        snprintf(err.msg, sizeof err.msg, "qrels '%.200s': no query has a relevant document",
                 paths[0]);
        goto out;
    }
    if (ev.n_missing == ev.n_queries)
        fprintf(stderr, "trec-eval: warning: no query of the run is in the qrels "
                        "(query ids differ?)\n");
    if (per_query) {
        for (size_t i = 0; i < ev.n_queries; i++) {
            const struct kq_trec_query_eval *q = &ev.queries[i];
            print("recall_100", q->qid, q->recall_100);
            print("ndcg_cut_10", q->qid, q->ndcg_cut_10);
            print("map_cut_100", q->qid, q->map_cut_100);
        }
    }
    print("recall_100", "all", ev.recall_100);
    print("ndcg_cut_10", "all", ev.ndcg_cut_10);
    print("map_cut_100", "all", ev.map_cut_100);
    status = fflush(stdout) ? 2 : 0;
    if (status)
        snprintf(err.msg, sizeof err.msg, "cannot write the output");
out:
    if (status)
        fprintf(stderr, "trec-eval: %s\n", err.msg[0] ? err.msg : "error");
    kq_trec_eval_release(&ev);
    kq_trec_run_free(run);
    kq_trec_qrels_free(qrels);
    return status;
}
