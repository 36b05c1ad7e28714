/* fuzz/fuzz_trec.c: the qrels and TREC run readers (tools/eval/trec.c) on arbitrary bytes.
 *
 * Input: the whole input is parsed as qrels and as a run; then, when it holds a NUL byte,
 * the bytes before the first NUL are parsed as qrels and those after it as a run (seeds are
 * "QRELS\0RUN"), and when both parse the run is evaluated against the qrels.
 *
 * Oracle: no crash or sanitizer report; a parse returns 0, KQ_ESYNTAX or KQ_ELIMIT; on
 * error the output is NULL, err->code equals the result, err->offset lies in [0, len] and
 * the message is not empty; on success the parse is consistent: non-empty fields free of
 * blanks, judgments in strictly increasing (qid, docid) order, run results grouped by
 * strictly increasing qid with ranks 1, 2, ... in trec_eval's order (score descending, then
 * docid decreasing, scores never NaN), query counts equal to the distinct qids; written
 * back in canonical form it parses again to the same entries. An evaluation succeeds with
 * every measure in [0, 1], n_rel_ret <= min(n_rel, n_ret), and the query counts adding up.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trec.h"

static void check_err(int rc, const void *out, const kq_error *err, size_t len)
{
    if (rc != KQ_ESYNTAX && rc != KQ_ELIMIT)
        abort();
    if (out || err->code != rc || err->offset < 0 || (uint64_t)err->offset > len || !err->msg[0])
        abort();
}

static void check_field(const char *s)
{
    if (!s || !*s)
        abort();
    for (; *s; s++)
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\v' || *s == '\f')
            abort();
}

/* A growable text for the canonical form; returns 0 when a line would exceed the limit. */
struct text {
    char *p;
    size_t len, cap;
};

static int append_line(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int append_line(struct text *t, const char *fmt, ...)
{
    char line[3 * KQ_TREC_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n > KQ_TREC_LINE_MAX)
        return 0;
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = 2 * (t->len + (size_t)n + 1);
        t->p = realloc(t->p, t->cap);
        if (!t->p)
            abort();
    }
    memcpy(t->p + t->len, line, (size_t)n);
    t->len += (size_t)n;
    t->p[t->len++] = '\n';
    return 1;
}

static void check_qrels(const kq_trec_qrels *q)
{
    size_t n = kq_trec_qrels_n_judgments(q), n_q = 0;
    const char *pq = NULL, *pd = NULL;
    struct text t = {0};
    int ok = append_line(&t, "query-id\tcorpus-id\tscore");
    for (size_t i = 0; i < n; i++) {
        const char *qid, *doc;
        int g;
        kq_trec_qrels_judgment(q, i, &qid, &doc, &g);
        check_field(qid);
        check_field(doc);
        if (qid[0] == '#')
            abort();
        int c = pq ? strcmp(pq, qid) : -1;
        if (c > 0 || (c == 0 && strcmp(pd, doc) >= 0))
            abort();
        n_q += c != 0;
        pq = qid;
        pd = doc;
        ok = ok && append_line(&t, "%s\t%s\t%d", qid, doc, g);
    }
    if (n == 0 || n_q != kq_trec_qrels_n_queries(q))
        abort();
    if (ok) {
        kq_trec_qrels *q2;
        kq_error err;
        if (kq_trec_qrels_parse(t.p, t.len, "canonical", &q2, &err) ||
            kq_trec_qrels_n_judgments(q2) != n)
            abort();
        for (size_t i = 0; i < n; i++) {
            const char *a, *b, *c, *d;
            int g, h;
            kq_trec_qrels_judgment(q, i, &a, &b, &g);
            kq_trec_qrels_judgment(q2, i, &c, &d, &h);
            if (strcmp(a, c) || strcmp(b, d) || g != h)
                abort();
        }
        kq_trec_qrels_free(q2);
    }
    free(t.p);
}

static void check_run(const kq_trec_run *r)
{
    size_t n = kq_trec_run_n_results(r), n_q = 0;
    const char *pq = NULL, *pd = NULL;
    double ps = 0;
    struct text t = {0};
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        const char *qid, *doc;
        double s;
        size_t rank;
        kq_trec_run_result(r, i, &qid, &doc, &s, &rank);
        check_field(qid);
        check_field(doc);
        if (isnan(s) || qid[0] == '#')
            abort();
        int c = pq ? strcmp(pq, qid) : -1;
        if (c > 0)
            abort();
        if (c) {
            n_q++;
            if (rank != 1)
                abort();
        } else if (rank < 2 || !(ps > s || (ps == s && strcmp(pd, doc) > 0))) {
            abort();
        }
        pq = qid;
        pd = doc;
        ps = s;
        ok = ok && append_line(&t, "%s Q0 %s %zu %.17g kq", qid, doc, rank, s);
    }
    if (n == 0 || n_q != kq_trec_run_n_queries(r))
        abort();
    if (ok) {
        kq_trec_run *r2;
        kq_error err;
        if (kq_trec_run_parse(t.p, t.len, "canonical", &r2, &err) || kq_trec_run_n_results(r2) != n)
            abort();
        for (size_t i = 0; i < n; i++) {
            const char *a, *b, *c, *d;
            double s1, s2;
            size_t k1, k2;
            kq_trec_run_result(r, i, &a, &b, &s1, &k1);
            kq_trec_run_result(r2, i, &c, &d, &s2, &k2);
            if (strcmp(a, c) || strcmp(b, d) || s1 != s2 || k1 != k2)
                abort();
        }
        kq_trec_run_free(r2);
    }
    free(t.p);
}

static kq_trec_qrels *parse_qrels(const char *p, size_t len)
{
    kq_trec_qrels *q = (kq_trec_qrels *)1;
    kq_error err;
    int rc = kq_trec_qrels_parse(p, len, "fuzz", &q, &err);
    if (rc) {
        check_err(rc, q, &err, len);
        return NULL;
    }
    check_qrels(q);
    return q;
}

static kq_trec_run *parse_run(const char *p, size_t len)
{
    kq_trec_run *r = (kq_trec_run *)1;
    kq_error err;
    int rc = kq_trec_run_parse(p, len, NULL, &r, &err);
    if (rc) {
        check_err(rc, r, &err, len);
        return NULL;
    }
    check_run(r);
    return r;
}

static int in01(double v)
{
    return v >= 0 && v <= 1 + 1e-9;
}

static void check_eval(const kq_trec_qrels *q, const kq_trec_run *r)
{
    struct kq_trec_eval ev;
    kq_error err;
    if (kq_trec_evaluate(q, r, &ev, &err))
        abort();
    if (ev.n_queries + ev.n_no_rel != kq_trec_qrels_n_queries(q) || ev.n_missing > ev.n_queries ||
        ev.n_run_only > kq_trec_run_n_queries(r) || !in01(ev.ndcg_cut_10) || !in01(ev.recall_100) ||
        !in01(ev.map_cut_100))
        abort();
    for (size_t i = 0; i < ev.n_queries; i++) {
        const struct kq_trec_query_eval *e = &ev.queries[i];
        if (!e->n_rel || e->n_rel_ret > e->n_rel || e->n_rel_ret > e->n_ret ||
            !in01(e->ndcg_cut_10) || !in01(e->recall_100) || !in01(e->map_cut_100) ||
            (i && strcmp(ev.queries[i - 1].qid, e->qid) >= 0))
            abort();
    }
    kq_trec_eval_release(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    kq_trec_qrels_free(parse_qrels(p, size));
    kq_trec_run_free(parse_run(p, size));
    const char *nul = memchr(p, '\0', size);
    if (nul) {
        size_t ql = (size_t)(nul - p);
        kq_trec_qrels *q = parse_qrels(p, ql);
        kq_trec_run *r = parse_run(nul + 1, size - ql - 1);
        if (q && r)
            check_eval(q, r);
        kq_trec_run_free(r);
        kq_trec_qrels_free(q);
    }
    return 0;
}
