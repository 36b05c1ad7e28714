/* tools/eval/trec.c: qrels and TREC run readers, and the trec_eval measures kq reports.
 *
 * Both readers copy the file once into a buffer owned by the parsed object, cut each line
 * into fields in place (a NUL written over the blank after each field; NUL bytes in the
 * input are refused, so no field can be cut short by one) and keep an array of entries
 * pointing into that buffer. After parsing the entries are sorted by (qid, docid), which
 * makes duplicates adjacent and groups each query into one span; a run's spans are then
 * re-sorted into trec_eval's ranking (score descending, docid decreasing), which is total
 * because a docid appears at most once per query. Invariants after a successful parse:
 * spans are in strictly increasing qid order, a qrels span is in strictly increasing docid
 * order, no (qid, docid) pair repeats, and every score is a number (never NaN).
 *
 * The measures follow trec_eval 9.x (m_ndcg_cut.c, m_recall.c, m_map_cut.c and
 * form_res_rels.c), including the order of the floating-point additions, so per-query
 * values agree to the last bit: DCG adds grade / log2(i + 2) for the 0-based rank i in
 * rank order; the ideal DCG adds the relevant grades in descending order.
 */
#include "trec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/error.h"

/* Fields kept per line; more are counted (for the message) but not stored. */
#define MAX_FIELDS 8

struct entry {
    const char *qid;
    const char *docid;
    double value; /* qrels: the grade; run: the score */
    size_t line;  /* 1-based line in the file */
    size_t off;   /* byte offset of that line */
};

struct span {
    size_t start, n; /* entries [start, start + n) */
    size_t n_rel;    /* qrels: entries with grade > 0 */
};

/* What both readers produce. */
struct table {
    char *buf; /* the file, cut into NUL-terminated fields */
    struct entry *e;
    size_t n, cap;
    struct span *q;
    size_t n_q;
};

struct kq_trec_qrels {
    struct table t;
};

struct kq_trec_run {
    struct table t;
};

struct parse {
    const char *kind; /* "qrels" or "run" */
    const char *name; /* may be NULL */
    kq_error *err;
    struct table *t;
    int n_cols; /* qrels: 0 before the first data line, then 3 or 4 */
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Fills `p->err` with "KIND 'NAME': line N: MESSAGE" (no line part when line is 0). */
static int perr(const struct parse *p, int code, size_t line, size_t off, const char *fmt, ...)
    KQ_PRINTF(5, 6);
static int perr(const struct parse *p, int code, size_t line, size_t off, const char *fmt, ...)
{
    char msg[KQ_ERROR_MSG_MAX];
    char where[48] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line)
        snprintf(where, sizeof where, "line %zu: ", line);
    if (p->name)
        return kq__error(p->err, code, (int64_t)off, "%s '%.120s': %s%s", p->kind, p->name, where,
                         msg);
    return kq__error(p->err, code, (int64_t)off, "%s: %s%s", p->kind, where, msg);
}

static int push(struct parse *p, const char *qid, const char *docid, double value, size_t line,
                size_t off)
{
    struct table *t = p->t;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        if (cap > SIZE_MAX / 2 / sizeof *t->e)
            return kq__enomem(p->err);
        struct entry *e = kq__realloc(t->e, cap * sizeof *e);
        if (!e)
            return kq__enomem(p->err);
        t->e = e;
        t->cap = cap;
    }
    t->e[t->n++] = (struct entry){qid, docid, value, line, off};
    return 0;
}

/* An integer grade: optional sign, decimal digits, within int32. */
static int parse_grade(const char *s, int *out)
{
    const char *d = s + (*s == '+' || *s == '-');
    if (!*d)
        return -1;
    for (const char *c = d; *c; c++)
        if (*c < '0' || *c > '9')
            return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || v < INT32_MIN || v > INT32_MAX)
        return -2;
    *out = (int)v;
    return 0;
}

static int qrels_line(struct parse *p, char **f, size_t nf, size_t line, size_t off)
{
    static const char *const forms[] = {"", "", "", "query-id corpus-id grade",
                                        "qid iter docid grade"};
    if (!p->n_cols) {
        if (nf != 3 && nf != 4)
            return perr(p, KQ_ESYNTAX, line, off,
                        "expected 3 fields (query-id corpus-id grade) or 4 (qid iter docid "
                        "grade), found %zu",
                        nf);
        p->n_cols = (int)nf;
        /* BEIR's header line: "query-id corpus-id score" */
        if (nf == 3 && isalpha((unsigned char)f[2][0]))
            return 0;
    }
    if (nf != (size_t)p->n_cols)
        return perr(p, KQ_ESYNTAX, line, off, "expected %d fields (%s), found %zu", p->n_cols,
                    forms[p->n_cols], nf);
    int grade = 0;
    int rc = parse_grade(f[nf - 1], &grade);
    if (rc == -1)
        return perr(p, KQ_ESYNTAX, line, off, "bad grade '%.40s' (expected an integer)", f[nf - 1]);
    if (rc == -2)
        return perr(p, KQ_ESYNTAX, line, off, "grade '%.40s' out of range (limit is %d)", f[nf - 1],
                    INT32_MAX);
    return push(p, f[0], f[nf - 2], grade, line, off);
}

static int run_line(struct parse *p, char **f, size_t nf, size_t line, size_t off)
{
    if (nf < 6)
        return perr(p, KQ_ESYNTAX, line, off,
                    "expected 6 fields (qid Q0 docid rank score tag), found %zu", nf);
    char *end;
    errno = 0; /* ERANGE is fine: overflow gives +-inf, underflow ~0, as atof in trec_eval */
    double score = strtod(f[4], &end);
    if (end == f[4] || *end || isnan(score))
        return perr(p, KQ_ESYNTAX, line, off, "bad score '%.40s' (expected a number)", f[4]);
    return push(p, f[0], f[2], score, line, off);
}

static int cmp_qid_docid_line(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    if (!c)
        c = strcmp(x->docid, y->docid);
    if (!c)
        c = (x->line > y->line) - (x->line < y->line);
    return c;
}

/* trec_eval's comp_sim_docno: score descending, then docid in decreasing strcmp order. */
static int cmp_rank(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->value > y->value)
        return -1;
    if (x->value < y->value)
        return 1;
    return strcmp(y->docid, x->docid);
}

/* Sorts, refuses duplicates (naming the earliest second occurrence), builds the spans. */
static int group(struct parse *p, const char *what)
{
    struct table *t = p->t;
    qsort(t->e, t->n, sizeof *t->e, cmp_qid_docid_line);
    const struct entry *dup = NULL, *first = NULL;
    size_t n_q = t->n ? 1 : 0;
    for (size_t i = 1; i < t->n; i++) {
        if (strcmp(t->e[i].qid, t->e[i - 1].qid)) {
            n_q++;
        } else if (!strcmp(t->e[i].docid, t->e[i - 1].docid) &&
                   (!dup || t->e[i].line < dup->line)) {
            dup = &t->e[i];
            first = &t->e[i - 1];
        }
    }
    if (dup)
        return perr(p, KQ_ESYNTAX, dup->line, dup->off,
                    "duplicate %s of document '%.40s' for query '%.40s' (first at line %zu)", what,
                    dup->docid, dup->qid, first->line);
    t->q = kq__calloc(n_q, sizeof *t->q);
    if (!t->q)
        return kq__enomem(p->err);
    for (size_t i = 0; i < t->n; i++) {
        if (i && strcmp(t->e[i].qid, t->e[i - 1].qid))
            t->n_q++;
        struct span *s = &t->q[t->n_q];
        if (!s->n)
            s->start = i;
        s->n++;
        s->n_rel += t->e[i].value > 0;
    }
    t->n_q = n_q;
    return 0;
}

/* Copies `data`, cuts it into lines and fields and hands each data line to `fn`. */
static int parse_table(struct parse *p, const char *data, size_t len,
                       int (*fn)(struct parse *, char **, size_t, size_t, size_t))
{
    if (len > KQ_TREC_FILE_MAX)
        return perr(p, KQ_ELIMIT, 0, 0, "file too large (limit is %zu bytes)", KQ_TREC_FILE_MAX);
    struct table *t = p->t;
    t->buf = kq__malloc(len + 1);
    if (!t->buf)
        return kq__enomem(p->err);
    if (len)
        memcpy(t->buf, data, len);
    t->buf[len] = '\0';
    char *buf = t->buf;
    size_t pos = 0, line = 0, last = 0;
    while (pos < len) {
        line++;
        char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        if (end - pos > KQ_TREC_LINE_MAX)
            return perr(p, KQ_ELIMIT, line, pos, "line too long (limit is %d bytes)",
                        KQ_TREC_LINE_MAX);
        if (memchr(buf + pos, '\0', end - pos))
            return perr(p, KQ_ESYNTAX, line, pos, "NUL byte");
        char *f[MAX_FIELDS];
        size_t nf = 0;
        for (size_t i = pos; i < end;) {
            if (is_blank(buf[i])) {
                i++;
                continue;
            }
            if (nf < MAX_FIELDS)
                f[nf] = buf + i;
            nf++;
            while (i < end && !is_blank(buf[i]))
                i++;
            buf[i++] = '\0'; /* i <= end <= len: over a blank, the '\n' or the final NUL */
        }
        if (nf && f[0][0] != '#') {
            int rc = fn(p, f, nf, line, pos);
            if (rc)
                return rc;
            last = line;
        }
        pos = end + 1;
    }
    if (!t->n)
        return perr(p, KQ_ESYNTAX, 0, 0, "no data line%s",
                    last ? " after the header" : " (empty file, or only comments)");
    return 0;
}

static void table_release(struct table *t)
{
    kq__free(t->buf);
    kq__free(t->e);
    kq__free(t->q);
    memset(t, 0, sizeof *t);
}

int kq_trec_qrels_parse(const char *data, size_t len, const char *name, kq_trec_qrels **out,
                        kq_error *err)
{
    *out = NULL;
    kq_trec_qrels *q = kq__calloc(1, sizeof *q);
    if (!q)
        return kq__enomem(err);
    struct parse p = {"qrels", name, err, &q->t, 0};
    int rc = parse_table(&p, data, len, qrels_line);
    if (!rc)
        rc = group(&p, "judgment");
    if (rc) {
        kq_trec_qrels_free(q);
        return rc;
    }
    kq_error_clear(err);
    *out = q;
    return 0;
}

int kq_trec_run_parse(const char *data, size_t len, const char *name, kq_trec_run **out,
                      kq_error *err)
{
    *out = NULL;
    kq_trec_run *r = kq__calloc(1, sizeof *r);
    if (!r)
        return kq__enomem(err);
    struct parse p = {"run", name, err, &r->t, 0};
    int rc = parse_table(&p, data, len, run_line);
    if (!rc)
        rc = group(&p, "result");
    if (rc) {
        kq_trec_run_free(r);
        return rc;
    }
    for (size_t i = 0; i < r->t.n_q; i++)
        qsort(r->t.e + r->t.q[i].start, r->t.q[i].n, sizeof *r->t.e, cmp_rank);
    kq_error_clear(err);
    *out = r;
    return 0;
}

/* Reads the whole file (regular or not: pipes work too) into a kq__malloc'd buffer. */
static int read_file(const char *kind, const char *path, char **data, size_t *len, kq_error *err)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return kq__error(err, KQ_EIO, -1, "%s '%.120s': cannot open: %s", kind, path,
                         strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (n == cap) {
            if (cap > KQ_TREC_FILE_MAX) {
                rc = kq__error(err, KQ_ELIMIT, -1,
                               "%s '%.120s': file too large (limit is %zu bytes)", kind, path,
                               KQ_TREC_FILE_MAX);
                goto out;
            }
            size_t ncap = cap ? 2 * cap : 65536;
            char *b = kq__realloc(buf, ncap);
            if (!b) {
                rc = kq__enomem(err);
                goto out;
            }
            buf = b;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = kq__error(err, KQ_EIO, -1, "%s '%.120s': cannot read: %s", kind, path,
                               strerror(errno));
            break;
        }
    }
out:
    fclose(f);
    if (rc) {
        kq__free(buf);
        return rc;
    }
    *data = buf;
    *len = n;
    return 0;
}

int kq_trec_qrels_load(const char *path, kq_trec_qrels **out, kq_error *err)
{
    *out = NULL;
    char *data;
    size_t len;
    int rc = read_file("qrels", path, &data, &len, err);
    if (!rc)
        rc = kq_trec_qrels_parse(data, len, path, out, err);
    kq__free(data);
    return rc;
}

int kq_trec_run_load(const char *path, kq_trec_run **out, kq_error *err)
{
    *out = NULL;
    char *data;
    size_t len;
    int rc = read_file("run", path, &data, &len, err);
    if (!rc)
        rc = kq_trec_run_parse(data, len, path, out, err);
    kq__free(data);
    return rc;
}

void kq_trec_qrels_free(kq_trec_qrels *q)
{
    if (!q)
        return;
    table_release(&q->t);
    kq__free(q);
}

void kq_trec_run_free(kq_trec_run *r)
{
    if (!r)
        return;
    table_release(&r->t);
    kq__free(r);
}

size_t kq_trec_qrels_n_queries(const kq_trec_qrels *q)
{
    return q->t.n_q;
}

size_t kq_trec_qrels_n_judgments(const kq_trec_qrels *q)
{
    return q->t.n;
}

void kq_trec_qrels_judgment(const kq_trec_qrels *q, size_t i, const char **qid, const char **docid,
                            int *grade)
{
    const struct entry *e = &q->t.e[i];
    if (qid)
        *qid = e->qid;
    if (docid)
        *docid = e->docid;
    if (grade)
        *grade = (int)e->value;
}

size_t kq_trec_run_n_queries(const kq_trec_run *r)
{
    return r->t.n_q;
}

size_t kq_trec_run_n_results(const kq_trec_run *r)
{
    return r->t.n;
}

/* The span of `t` holding entry `i`. */
static const struct span *span_of(const struct table *t, size_t i)
{
    size_t lo = 0, hi = t->n_q;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->q[mid].start <= i)
            lo = mid;
        else
            hi = mid;
    }
    return &t->q[lo];
}

void kq_trec_run_result(const kq_trec_run *r, size_t i, const char **qid, const char **docid,
                        double *score, size_t *rank)
{
    const struct entry *e = &r->t.e[i];
    if (qid)
        *qid = e->qid;
    if (docid)
        *docid = e->docid;
    if (score)
        *score = e->value;
    if (rank)
        *rank = i - span_of(&r->t, i)->start + 1;
}

/* The span of query `qid` in `t`, or NULL. */
static const struct span *find_query(const struct table *t, const char *qid)
{
    size_t lo = 0, hi = t->n_q;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->e[t->q[mid].start].qid, qid);
        if (!c)
            return &t->q[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The grade of `docid` in the qrels span `s`, 0 when not judged. */
static double grade_of(const struct table *t, const struct span *s, const char *docid)
{
    size_t lo = s->start, hi = s->start + s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->e[mid].docid, docid);
        if (!c)
            return t->e[mid].value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int cmp_double_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* One query, as trec_eval's ndcg_cut, recall and map_cut (`ideal`: n_rel doubles of room). */
static void measure(const struct table *qt, const struct span *qs, const struct table *rt,
                    const struct span *rs, double *ideal, struct kq_trec_query_eval *out)
{
    size_t k = 0;
    for (size_t j = qs->start; j < qs->start + qs->n; j++)
        if (qt->e[j].value > 0)
            ideal[k++] = qt->e[j].value;
    qsort(ideal, k, sizeof *ideal, cmp_double_desc);
    double idcg = 0;
    for (size_t i = 0; i < k && i < KQ_TREC_NDCG_CUT; i++)
        idcg += ideal[i] / log2((double)(i + 2));

    double dcg = 0, ap = 0;
    size_t rel_so_far = 0, rel_cut = 0;
    size_t n_ret = rs ? rs->n : 0;
    for (size_t i = 0; i < n_ret; i++) {
        double g = grade_of(qt, qs, rt->e[rs->start + i].docid);
        if (!(g > 0))
            continue;
        if (i < KQ_TREC_NDCG_CUT)
            dcg += g / log2((double)(i + 2));
        rel_so_far++;
        if (i < KQ_TREC_MAP_CUT)
            ap += (double)rel_so_far / (double)(i + 1);
        if (i < KQ_TREC_RECALL_CUT)
            rel_cut++;
    }
    out->qid = qt->e[qs->start].qid;
    out->n_rel = qs->n_rel;
    out->n_ret = n_ret;
    out->n_rel_ret = rel_so_far;
    out->ndcg_cut_10 = idcg > 0 ? dcg / idcg : 0;
    out->recall_100 = (double)rel_cut / (double)qs->n_rel;
    out->map_cut_100 = ap / (double)qs->n_rel;
}

int kq_trec_evaluate(const kq_trec_qrels *qrels, const kq_trec_run *run, struct kq_trec_eval *out,
                     kq_error *err)
{
    memset(out, 0, sizeof *out);
    const struct table *qt = &qrels->t, *rt = &run->t;
    size_t n = 0, max_rel = 0;
    for (size_t i = 0; i < qt->n_q; i++) {
        if (qt->q[i].n_rel) {
            n++;
            if (qt->q[i].n_rel > max_rel)
                max_rel = qt->q[i].n_rel;
        }
    }
    double *ideal = kq__malloc((max_rel ? max_rel : 1) * sizeof *ideal);
    struct kq_trec_query_eval *qe = kq__calloc(n ? n : 1, sizeof *qe);
    if (!ideal || !qe) {
        kq__free(ideal);
        kq__free(qe);
        return kq__enomem(err);
    }
    /* sums in qid order, as trec_eval accumulates */
    double s_ndcg = 0, s_recall = 0, s_map = 0;
    size_t k = 0;
    for (size_t i = 0; i < qt->n_q; i++) {
        const struct span *qs = &qt->q[i];
        if (!qs->n_rel) {
            out->n_no_rel++;
            continue;
        }
        const struct span *rs = find_query(rt, qt->e[qs->start].qid);
        if (!rs)
            out->n_missing++;
        measure(qt, qs, rt, rs, ideal, &qe[k]);
        s_ndcg += qe[k].ndcg_cut_10;
        s_recall += qe[k].recall_100;
        s_map += qe[k].map_cut_100;
        k++;
    }
    for (size_t i = 0; i < rt->n_q; i++)
        if (!find_query(qt, rt->e[rt->q[i].start].qid))
            out->n_run_only++;
    kq__free(ideal);
    out->n_queries = n;
    out->queries = qe;
    if (n) {
        out->ndcg_cut_10 = s_ndcg / (double)n;
        out->recall_100 = s_recall / (double)n;
        out->map_cut_100 = s_map / (double)n;
    }
    kq_error_clear(err);
    return 0;
}

void kq_trec_eval_release(struct kq_trec_eval *ev)
{
    if (!ev)
        return;
    kq__free(ev->queries);
    memset(ev, 0, sizeof *ev);
}
