/* tests/eval/test_trec.c: tools/eval/trec.c, the qrels and run readers and the trec_eval
 * measures: hand-computed cases (graded nDCG, trec_eval's tie break by docid, a relevant
 * document at rank 101, a query without relevant documents, a query absent from the run,
 * fewer than 10 results), duplicates, both qrels layouts, malformed files (each error names
 * the line), a truncation and byte-flip sweep, an allocation-failure sweep, and the
 * trec-eval program's output and exit codes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "testutil.h"
#include "trec.h"
#include "util/alloc.h"

#define EPS 1e-12

/* q1: graded relevance, rank column deliberately wrong (trec_eval ignores it).
 *   qrels: d1 3, d2 2, d3 1, d4 0, d5 2 (d5 never retrieved)  -> 4 relevant
 *   run by score: d4 (10, grade 0), d2 (9, 2), dx (8, unjudged), d1 (7, 3), d3 (6, 1)
 *   DCG@10  = 2/log2(3) + 3/log2(5) + 1/log2(6)
 *           = 1.2618595071 + 1.2920296743 + 0.3868528072 = 2.9407419886
 *   IDCG@10 = 3/log2(2) + 2/log2(3) + 2/log2(4) + 1/log2(5)   (grades 3, 2, 2, 1)
 *           = 3 + 1.2618595071 + 1 + 0.4306765581 = 5.6925360652
 *   nDCG@10 = 2.9407419886 / 5.6925360652 = 0.5165961102
 *   recall_100 = 3 / 4 = 0.75; map_cut_100 = (1/2 + 2/4 + 3/5) / 4 = 0.4
 * q2: three results with the same score; trec_eval ranks ties by docid decreasing:
 *   c, b, a -> the relevant b is at rank 2: nDCG = (1/log2(3)) / 1 = 0.6309297536,
 *   recall 1, map 1/2.
 * q3: r1 at rank 1, r2 at rank 100, r3 at rank 101 (out of the cut), 3 relevant:
 *   nDCG = 1 / (1 + 1/log2(3) + 1/log2(4)) = 0.4692787260; recall = 2/3;
 *   map = (1/1 + 2/100) / 3 = 0.34.
 * q4: judged but nothing relevant (grades 0 and -1): left out of the averages.
 * q5: relevant documents, absent from the run: 0, 0, 0 and counted.
 * q6: 12 relevant, one result (relevant) at rank 1: nDCG = 1 / sum_{i<10} 1/log2(i+2)
 *   = 1 / 4.5435828 = 0.2200917663; recall = map = 1/12.
 * q9: only in the run: ignored.
 */
#define Q1_NDCG 0.516596110223483
#define Q2_NDCG 0.6309297535714575
#define Q3_NDCG 0.46927872602275644
#define Q6_NDCG 0.22009176629808017

static char *build_qrels_tsv(void)
{
    static char buf[8192];
    int n = snprintf(buf, sizeof buf,
                     "query-id\tcorpus-id\tscore\r\n"
                     "q1\td1\t3\r\nq1\td2\t2\r\nq1\td3\t1\r\nq1\td4\t0\r\nq1\td5\t2\r\n"
                     "q2\tb\t1\r\n"
                     "q3\tr1\t1\r\nq3\tr2\t1\r\nq3\tr3\t1\r\n"
                     "q4\te1\t0\r\nq4\te2\t-1\r\n"
                     "q5\tf1\t1\r\n");
    for (int i = 0; i < 12; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "q6\tg%02d\t1\r\n", i);
    return buf;
}

static char *build_run(void)
{
    static char buf[65536];
    int n = snprintf(buf, sizeof buf,
                     "q1 Q0 d3 1 6 t\n" /* ranks reversed on purpose */
                     "q1 Q0 d1 2 7 t\n"
                     "q1 Q0 dx 3 8 t\n"
                     "q1 Q0 d2 4 9 t\n"
                     "q1 Q0 d4 5 10 t\n"
                     "q2 Q0 a 1 1.0 t\n"
                     "q2 Q0 b 2 1.0 t\n"
                     "q2 Q0 c 3 1 t\n"
                     "q4 Q0 e1 1 5 t\n"
                     "q6 Q0 g07 1 0.5 t\n"
                     "q9 Q0 z 1 1 t\n");
    /* q3: 101 results, scores 1000 down to 900 */
    for (int i = 0; i < 101; i++) {
        char doc[16];
        if (i == 0)
            snprintf(doc, sizeof doc, "r1");
        else if (i == 99)
            snprintf(doc, sizeof doc, "r2");
        else if (i == 100)
            snprintf(doc, sizeof doc, "r3");
        else
            snprintf(doc, sizeof doc, "junk%03d", i);
        n += snprintf(buf + n, sizeof buf - (size_t)n, "q3\tQ0\t%s\t%d\t%d\tt\n", doc, i + 1,
                      1000 - i);
    }
    return buf;
}

static kq_trec_qrels *qrels_of(const char *text)
{
    kq_trec_qrels *q = NULL;
    kq_error err;
    int rc = kq_trec_qrels_parse(text, strlen(text), "q.tsv", &q, &err);
    if (rc)
        fail_msg("qrels: %s", err.msg);
    return q;
}

static kq_trec_run *run_of(const char *text)
{
    kq_trec_run *r = NULL;
    kq_error err;
    int rc = kq_trec_run_parse(text, strlen(text), "r.txt", &r, &err);
    if (rc)
        fail_msg("run: %s", err.msg);
    return r;
}

static const struct kq_trec_query_eval *find(const struct kq_trec_eval *ev, const char *qid)
{
    for (size_t i = 0; i < ev->n_queries; i++)
        if (!strcmp(ev->queries[i].qid, qid))
            return &ev->queries[i];
    return NULL;
}

static void expect_q(const struct kq_trec_eval *ev, const char *qid, double ndcg, double rec,
                     double map)
{
    const struct kq_trec_query_eval *q = find(ev, qid);
    if (!q)
        fail_msg("query %s not evaluated", qid);
    if (fabs(q->ndcg_cut_10 - ndcg) > EPS || fabs(q->recall_100 - rec) > EPS ||
        fabs(q->map_cut_100 - map) > EPS)
        fail_msg("%s: ndcg %.12f recall %.12f map %.12f, expected %.12f %.12f %.12f", qid,
                 q->ndcg_cut_10, q->recall_100, q->map_cut_100, ndcg, rec, map);
}

static void check_hand_eval(const struct kq_trec_eval *ev)
{
    assert_int_equal(ev->n_queries, 5);
    assert_int_equal(ev->n_no_rel, 1);
    assert_int_equal(ev->n_missing, 1);
    assert_int_equal(ev->n_run_only, 1);
    expect_q(ev, "q1", Q1_NDCG, 0.75, 0.4);
    expect_q(ev, "q2", Q2_NDCG, 1, 0.5);
    expect_q(ev, "q3", Q3_NDCG, 2.0 / 3, 0.34);
    expect_q(ev, "q5", 0, 0, 0);
    expect_q(ev, "q6", Q6_NDCG, 1.0 / 12, 1.0 / 12);
    assert_null(find(ev, "q4"));
    assert_null(find(ev, "q9"));
    /* qid order, the order trec_eval accumulates and prints */
    assert_string_equal(ev->queries[0].qid, "q1");
    assert_string_equal(ev->queries[4].qid, "q6");
    const struct kq_trec_query_eval *q3 = find(ev, "q3");
    assert_int_equal(q3->n_rel, 3);
    assert_int_equal(q3->n_ret, 101);
    assert_int_equal(q3->n_rel_ret, 3);
    assert_int_equal(find(ev, "q5")->n_ret, 0);
    double ndcg = (Q1_NDCG + Q2_NDCG + Q3_NDCG + 0 + Q6_NDCG) / 5;
    double rec = (0.75 + 1 + 2.0 / 3 + 0 + 1.0 / 12) / 5;
    double map = (0.4 + 0.5 + 0.34 + 0 + 1.0 / 12) / 5;
    assert_true(fabs(ev->ndcg_cut_10 - ndcg) < EPS);
    assert_true(fabs(ev->recall_100 - rec) < EPS);
    assert_true(fabs(ev->map_cut_100 - map) < EPS);
}

static void test_hand_computed(void **state)
{
    (void)state;
    kq_trec_qrels *q = qrels_of(build_qrels_tsv());
    kq_trec_run *r = run_of(build_run());
    assert_int_equal(kq_trec_qrels_n_queries(q), 6);
    assert_int_equal(kq_trec_qrels_n_judgments(q), 24);
    assert_int_equal(kq_trec_run_n_queries(r), 6);
    struct kq_trec_eval ev;
    kq_error err;
    assert_int_equal(kq_trec_evaluate(q, r, &ev, &err), 0);
    check_hand_eval(&ev);
    kq_trec_eval_release(&ev);
    assert_null(ev.queries);
    kq_trec_eval_release(NULL);
    kq_trec_run_free(r);
    kq_trec_qrels_free(q);
}

static void test_tie_order(void **state)
{
    (void)state;
    /* equal scores (1, 1.0, 1e0 are one value): docid decreasing strcmp order; "B" < "a" */
    kq_trec_run *r = run_of("x Q0 a 1 1 t\nx Q0 B 2 1.0 t\nx Q0 b10 3 1e0 t\nx Q0 b9 4 1 t\n"
                            "x Q0 low 5 -inf t\nx Q0 top 9 +inf t\nx Q0 mid 0 0x1p-1 t\n");
    const char *want[] = {"top", "b9", "b10", "a", "B", "mid", "low"};
    assert_int_equal(kq_trec_run_n_results(r), 7);
    for (size_t i = 0; i < 7; i++) {
        const char *qid, *doc;
        double score;
        size_t rank;
        kq_trec_run_result(r, i, &qid, &doc, &score, &rank);
        assert_string_equal(qid, "x");
        assert_string_equal(doc, want[i]);
        assert_int_equal(rank, i + 1);
    }
    kq_trec_run_free(r);
}

static void test_trec_qrels_layout(void **state)
{
    (void)state;
    /* the same judgments as classic 4-column qrels, with comments and blank lines */
    char buf[8192];
    const char *tsv = build_qrels_tsv();
    size_t n = (size_t)snprintf(buf, sizeof buf, "# converted\n\n");
    const char *p = strchr(tsv, '\n') + 1; /* skip the header */
    while (*p) {
        char a[32], b[32];
        int g;
        assert_int_equal(sscanf(p, "%31s %31s %d", a, b, &g), 3);
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s 0 %s %d\n   \n", a, b, g);
        p = strchr(p, '\n') + 1;
    }
    kq_trec_qrels *q = qrels_of(buf);
    kq_trec_run *r = run_of(build_run());
    struct kq_trec_eval ev;
    assert_int_equal(kq_trec_evaluate(q, r, &ev, NULL), 0);
    check_hand_eval(&ev);
    kq_trec_eval_release(&ev);
    const char *qid, *doc;
    int grade;
    kq_trec_qrels_judgment(q, 0, &qid, &doc, &grade);
    assert_string_equal(qid, "q1");
    assert_string_equal(doc, "d1");
    assert_int_equal(grade, 3);
    kq_trec_run_free(r);
    kq_trec_qrels_free(q);

    /* a 3-column file without header is accepted too */
    q = qrels_of("1\t10\t1\n1\t11\t2\n");
    assert_int_equal(kq_trec_qrels_n_judgments(q), 2);
    kq_trec_qrels_free(q);
}

/* Expects `text` to fail with `code`, a message naming `line` (0: no line), and offset. */
static void expect_fail(int is_run, const char *text, size_t len, int code, int line,
                        const char *needle)
{
    kq_error err;
    int rc;
    void *out = (void *)1;
    if (is_run)
        rc = kq_trec_run_parse(text, len, "f", (kq_trec_run **)&out, &err);
    else
        rc = kq_trec_qrels_parse(text, len, "f", (kq_trec_qrels **)&out, &err);
    if (rc != code)
        fail_msg("expected %d, got %d (%s) for %.60s", code, rc, rc ? err.msg : "", text);
    assert_null(out);
    assert_int_equal(err.code, code);
    char want[64];
    snprintf(want, sizeof want, "line %d: ", line);
    if (line && !strstr(err.msg, want))
        fail_msg("message '%s' does not name line %d", err.msg, line);
    if (!line && strstr(err.msg, ": line "))
        fail_msg("message '%s' names a line", err.msg);
    if (needle && !strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
    assert_true(err.offset >= 0 && (size_t)err.offset <= len);
    assert_true(strncmp(err.msg, is_run ? "run 'f': " : "qrels 'f': ", 5) == 0);
}

#define FAIL_Q(text, code, line, needle) expect_fail(0, text, strlen(text), code, line, needle)
#define FAIL_R(text, code, line, needle) expect_fail(1, text, strlen(text), code, line, needle)

static void test_malformed(void **state)
{
    (void)state;
    const char *hdr = "query-id\tcorpus-id\tscore\n";
    char buf[16384];
    /* truncated lines */
    snprintf(buf, sizeof buf, "%s1\t2\t1\n1\t3\n", hdr);
    FAIL_Q(buf, KQ_ESYNTAX, 3, "expected 3 fields");
    FAIL_Q("1 0 d1 1\n1 0 d2\n", KQ_ESYNTAX, 2, "expected 4 fields");
    FAIL_Q("1 0 d1 1 extra\n", KQ_ESYNTAX, 1, "found 5");
    FAIL_R("q Q0 d 1 2.5 t\nq Q0 e 2\n", KQ_ESYNTAX, 2, "expected 6 fields");
    FAIL_R("q Q0 d 1 2.5 t\nq Q0 e 2 1.5", KQ_ESYNTAX, 2, "found 5");
    /* bad numbers */
    snprintf(buf, sizeof buf, "%s1\t2\t1\n1\t3\tx\n", hdr);
    FAIL_Q(buf, KQ_ESYNTAX, 3, "bad grade 'x'");
    FAIL_Q("1 0 d 1.5\n", KQ_ESYNTAX, 1, "bad grade '1.5'");
    FAIL_Q("1 0 d -\n", KQ_ESYNTAX, 1, "bad grade");
    FAIL_Q("1 0 d 99999999999\n", KQ_ESYNTAX, 1, "out of range");
    FAIL_Q("1 0 d 1\n1 0 e 2147483648\n", KQ_ESYNTAX, 2, "out of range");
    FAIL_R("q Q0 d 1 abc t\n", KQ_ESYNTAX, 1, "bad score 'abc'");
    FAIL_R("q Q0 d 1 1 t\n\nq Q0 e 1 nan t\n", KQ_ESYNTAX, 3, "bad score 'nan'");
    FAIL_R("q Q0 d 1 1.0x t\n", KQ_ESYNTAX, 1, "bad score");
    /* a header anywhere but first is a bad grade */
    snprintf(buf, sizeof buf, "1\t2\t1\n%s", hdr);
    FAIL_Q(buf, KQ_ESYNTAX, 2, "bad grade 'score'");
    /* very long lines */
    size_t n = (size_t)snprintf(buf, sizeof buf, "q Q0 d 1 1 t\nq Q0 ");
    memset(buf + n, 'x', 5000);
    snprintf(buf + n + 5000, sizeof buf - n - 5000, " 1 1 t\n");
    FAIL_R(buf, KQ_ELIMIT, 2, "line too long");
    /* exactly the limit is fine */
    n = (size_t)snprintf(buf, sizeof buf, "q Q0 ");
    memset(buf + n, 'y', KQ_TREC_LINE_MAX - n - 6);
    snprintf(buf + KQ_TREC_LINE_MAX - 6, 16, " 1 1 t\n");
    assert_int_equal(strlen(buf), KQ_TREC_LINE_MAX + 1);
    kq_trec_run *r = run_of(buf);
    kq_trec_run_free(r);
    /* NUL bytes */
    static const char nul_q[] = "1 0 d 1\n1 0 e\0 1\n";
    expect_fail(0, nul_q, sizeof nul_q - 1, KQ_ESYNTAX, 2, "NUL byte");
    static const char nul_r[] = "q Q0 d 1 1 t\n\n\0";
    expect_fail(1, nul_r, sizeof nul_r - 1, KQ_ESYNTAX, 3, "NUL byte");
    /* empty files, header or comments only */
    FAIL_Q("", KQ_ESYNTAX, 0, "no data line");
    FAIL_R("", KQ_ESYNTAX, 0, "no data line");
    FAIL_R("\n \r\n# nothing\n", KQ_ESYNTAX, 0, "no data line");
    FAIL_Q(hdr, KQ_ESYNTAX, 0, "after the header");
    /* duplicates: trec_eval stops too ("duplicate docs") */
    FAIL_R("q Q0 a 1 3 t\nq Q0 b 2 2 t\nq Q0 a 3 1 t\nq Q0 b 4 1 t\n", KQ_ESYNTAX, 3,
           "duplicate result of document 'a' for query 'q' (first at line 1)");
    snprintf(buf, sizeof buf, "%s1\t2\t1\n1\t3\t1\n1\t2\t0\n", hdr);
    FAIL_Q(buf, KQ_ESYNTAX, 4,
           "duplicate judgment of document '2' for query '1' (first at "
           "line 2)");
    /* the same docid under two queries is no duplicate */
    r = run_of("q Q0 a 1 3 t\nw Q0 a 1 3 t\n");
    kq_trec_run_free(r);
    /* no name: no quotes */
    kq_error err;
    kq_trec_run *out;
    assert_int_equal(kq_trec_run_parse("x", 1, NULL, &out, &err), KQ_ESYNTAX);
    assert_string_equal(err.msg, "run: line 1: expected 6 fields (qid Q0 docid rank score "
                                 "tag), found 1");
}

/* Every prefix and every single-byte change of valid files: an error or a parse, no crash,
 * and a parse evaluates to measures in [0, 1]. */
static void sweep_one(const char *qtext, size_t qlen, const char *rtext, size_t rlen)
{
    kq_trec_qrels *q = NULL;
    kq_trec_run *r = NULL;
    kq_error err;
    int qrc = kq_trec_qrels_parse(qtext, qlen, NULL, &q, &err);
    if (qrc)
        assert_true(q == NULL && err.msg[0]);
    int rrc = kq_trec_run_parse(rtext, rlen, NULL, &r, &err);
    if (rrc)
        assert_true(r == NULL && err.msg[0]);
    if (!qrc && !rrc) {
        struct kq_trec_eval ev;
        assert_int_equal(kq_trec_evaluate(q, r, &ev, &err), 0);
        for (size_t i = 0; i < ev.n_queries; i++) {
            const struct kq_trec_query_eval *e = &ev.queries[i];
            assert_true(e->ndcg_cut_10 >= 0 && e->ndcg_cut_10 <= 1 + EPS);
            assert_true(e->recall_100 >= 0 && e->recall_100 <= 1 + EPS);
            assert_true(e->map_cut_100 >= 0 && e->map_cut_100 <= 1 + EPS);
        }
        kq_trec_eval_release(&ev);
    }
    kq_trec_run_free(r);
    kq_trec_qrels_free(q);
}

static void test_sweep(void **state)
{
    (void)state;
    const char *qt = build_qrels_tsv();
    const char *rt = "q1 Q0 d3 1 6 t\nq1 Q0 d1 2 7 t\nq2 Q0 a 1 1.0 t\nq2 Q0 b 2 1.0 t\n"
                     "q6 Q0 g07 1 0.5 t\n";
    size_t ql = strlen(qt), rl = strlen(rt);
    char *qc = malloc(ql + 1), *rc = malloc(rl + 1);
    assert_non_null(qc);
    assert_non_null(rc);
    static const char flips[] = {'\0', '\n', '\t', ' ', '#', 'x', '9', '-', '.', '\r'};
    for (size_t cut = 0; cut <= ql; cut++)
        sweep_one(qt, cut, rt, rl);
    for (size_t cut = 0; cut <= rl; cut++)
        sweep_one(qt, ql, rt, cut);
    for (size_t i = 0; i < ql; i++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            memcpy(qc, qt, ql);
            qc[i] = flips[f];
            sweep_one(qc, ql, rt, rl);
        }
    }
    for (size_t i = 0; i < rl; i++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            memcpy(rc, rt, rl);
            rc[i] = flips[f];
            sweep_one(qt, ql, rc, rl);
        }
    }
    free(qc);
    free(rc);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    const char *qt = build_qrels_tsv();
    const char *rt = build_run();
    int done = 0;
    for (long n = 0; n < 1000 && !done; n++) {
        kq_trec_qrels *q = NULL;
        kq_trec_run *r = NULL;
        struct kq_trec_eval ev = {0};
        kq_error err;
        kq_alloc_fail_after(n);
        int rc = kq_trec_qrels_parse(qt, strlen(qt), "q", &q, &err);
        if (!rc)
            rc = kq_trec_run_parse(rt, strlen(rt), "r", &r, &err);
        if (!rc)
            rc = kq_trec_evaluate(q, r, &ev, &err);
        kq_alloc_fail_after(-1);
        if (rc) {
            assert_int_equal(rc, KQ_ENOMEM);
            assert_int_equal(err.code, KQ_ENOMEM);
            assert_null(ev.queries);
        } else {
            check_hand_eval(&ev);
            done = 1;
        }
        kq_trec_eval_release(&ev);
        kq_trec_run_free(r);
        kq_trec_qrels_free(q);
    }
    assert_true(done);
}

static void test_load(void **state)
{
    (void)state;
    kq_error err;
    kq_trec_qrels *q;
    assert_int_equal(kq_trec_qrels_load("/nonexistent/qrels.tsv", &q, &err), KQ_EIO);
    assert_null(q);
    assert_non_null(strstr(err.msg, "qrels '/nonexistent/qrels.tsv': cannot open"));
    kq_trec_run *r;
    assert_int_equal(kq_trec_run_load("/", &r, &err), KQ_EIO);
    assert_null(r);
}

/* Runs the trec-eval program; returns its exit status, stdout in `out`. */
static int run_cli(const char *args, char *out, size_t cap)
{
    const char *bdir = getenv("KQ_BUILD_DIR");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s/tools/eval/trec-eval %s 2>/dev/null", bdir, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void test_cli(void **state)
{
    (void)state;
    if (!getenv("KQ_BUILD_DIR")) {
        skip();
        return;
    }
    char *dir = kqt_tmpdir();
    char qp[1024], rp[1024], bad[1024], args[4096];
    snprintf(qp, sizeof qp, "%s/qrels.tsv", dir);
    snprintf(rp, sizeof rp, "%s/run.txt", dir);
    snprintf(bad, sizeof bad, "%s/bad.txt", dir);
    write_file(qp, build_qrels_tsv());
    write_file(rp, build_run());
    write_file(bad, "q1 Q0 d1 1 1 t\nq1 Q0 d2 1\n");
    static char out[16384];

    snprintf(args, sizeof args, "%s %s", qp, rp);
    assert_int_equal(run_cli(args, out, sizeof out), 0);
    char want[1024];
    snprintf(want, sizeof want,
             "recall_100            \tall\t%6.4f\n"
             "ndcg_cut_10           \tall\t%6.4f\n"
             "map_cut_100           \tall\t%6.4f\n",
             (0.75 + 1 + 2.0 / 3 + 0 + 1.0 / 12) / 5,
             (Q1_NDCG + Q2_NDCG + Q3_NDCG + 0 + Q6_NDCG) / 5,
             (0.4 + 0.5 + 0.34 + 0 + 1.0 / 12) / 5);
    assert_string_equal(out, want);
    assert_string_equal(out, "recall_100            \tall\t0.5000\n"
                             "ndcg_cut_10           \tall\t0.3674\n"
                             "map_cut_100           \tall\t0.2647\n");

    snprintf(args, sizeof args, "-q %s %s", qp, rp);
    assert_int_equal(run_cli(args, out, sizeof out), 0);
    assert_non_null(strstr(out, "recall_100            \tq1\t0.7500\n"
                                "ndcg_cut_10           \tq1\t0.5166\n"
                                "map_cut_100           \tq1\t0.4000\n"
                                "recall_100            \tq2\t1.0000\n"));
    assert_non_null(strstr(out, "map_cut_100           \tq6\t0.0833\n"
                                "recall_100            \tall\t0.5000\n"));
    assert_null(strstr(out, "\tq4\t"));
    assert_null(strstr(out, "\tq9\t"));

    snprintf(args, sizeof args, "%s %s", qp, bad);
    assert_int_equal(run_cli(args, out, sizeof out), 2);
    assert_string_equal(out, "");
    snprintf(args, sizeof args, "%s", qp);
    assert_int_equal(run_cli(args, out, sizeof out), 2);
    assert_int_equal(run_cli("-x a b", out, sizeof out), 2);
    assert_int_equal(run_cli("--help", out, sizeof out), 0);
    assert_non_null(strstr(out, "usage: trec-eval"));
    snprintf(args, sizeof args, "%s - < %s", qp, rp);
    assert_int_equal(run_cli(args, out, sizeof out), 0);
    assert_non_null(strstr(out, "ndcg_cut_10           \tall\t0.3674\n"));
    kqt_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed),
        cmocka_unit_test(test_tie_order),
        cmocka_unit_test(test_trec_qrels_layout),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
