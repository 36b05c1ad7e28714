/* tests/query/test_parse.c: the query parser, rule by rule, through its canonical form.
 *
 * Golden vectors go through kq_query_format, so each one reads as a claim about the tree.
 * Then: node fields the form does not show (offsets, rel_pos, boosts), every error message
 * with its offset, the limits, real queries (fuzz/corpus/query always; the full query files
 * of ../shared/data or $KQ_DATA when present), format round trips and an allocation-failure
 * sweep.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "kq/index.h"
#include "query/query.h"
#include "testutil.h"
#include "util/alloc.h"

static kq_analyzer *en, *none;

static int setup(void **state)
{
    (void)state;
    assert_int_equal(kq_analyzer_new("english", &en, NULL), 0);
    assert_int_equal(kq_analyzer_new("none", &none, NULL), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kq_analyzer_free(en);
    kq_analyzer_free(none);
    return 0;
}

/* Checks the tree invariants of query.h; returns the terms counted. */
static uint32_t check_node(const struct kq_qnode *n, size_t qlen, int depth)
{
    assert_true(depth < 3 * KQ_QUERY_DEPTH_CAP + 8);
    assert_true(n->boost > 0 && n->boost < 1e308);
    assert_true(n->offset >= 0 && (size_t)n->offset < qlen);
    if (n->type == KQ_QN_BOOL) {
        assert_int_equal(n->field, -1);
        assert_int_equal(n->n_terms, 0);
        assert_true(n->n_clauses >= 2 || (n->n_clauses == 1 && n->occurs[0] == KQ_MUST_NOT));
        uint32_t t = 0;
        for (uint32_t i = 0; i < n->n_clauses; i++) {
            assert_non_null(n->clauses[i]);
            assert_true(n->occurs[i] <= KQ_MUST_NOT);
            t += check_node(n->clauses[i], qlen, depth + 1);
        }
        return t;
    }
    assert_true(n->field == KQ_FIELD_TEXT || n->field == KQ_FIELD_TITLE);
    assert_int_equal(n->n_clauses, 0);
    assert_true(n->type == KQ_QN_PHRASE ? n->n_terms >= 2 : n->n_terms == 1);
    for (uint32_t i = 0; i < n->n_terms; i++) {
        assert_true(n->lens[i] >= 1 && n->lens[i] <= KQ_TERM_MAX);
        assert_int_equal(strlen(n->terms[i]), n->lens[i]);
        if (i)
            assert_true(n->rel_pos[i] > n->rel_pos[i - 1]);
        else
            assert_int_equal(n->rel_pos[0], 0);
    }
    return n->n_terms;
}

/* Parses (a heap copy of exactly len bytes, so ASan sees overreads) and checks. */
static int parse_n(kq_analyzer *a, const char *s, size_t len, int flags,
                   const struct kq_query_limits *lim, kq_query **out, kq_error *err)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    kq_error_clear(err);
    int rc = kq_query_parse(copy, len, a, flags, lim, out, err);
    free(copy);
    if (rc == 0) {
        assert_non_null(*out);
        const struct kq_qnode *root = kq_query_root(*out);
        assert_int_equal(root ? check_node(root, len, 0) : 0, kq_query_n_terms(*out));
    } else {
        assert_null(*out);
        assert_int_equal(err->code, rc);
        assert_true(err->offset >= 0 && (size_t)err->offset <= len);
        assert_true(err->msg[0] != '\0');
    }
    return rc;
}

/* The canonical form of `s`, or "ERR <msg>" (static buffer). */
static const char *fmt_with(kq_analyzer *a, const char *s, int flags)
{
    static char out[16384];
    kq_query *q;
    kq_error err;
    if (parse_n(a, s, strlen(s), flags, NULL, &q, &err)) {
        snprintf(out, sizeof out, "ERR %s", err.msg);
        return out;
    }
    kq_buf b = KQ_BUF_INIT;
    assert_int_equal(kq_query_format(q, &b), 0);
    assert_true(b.len < sizeof out);
    memcpy(out, b.p ? (char *)b.p : "", b.len);
    out[b.len] = '\0';
    kq_buf_release(&b);
    kq_query_free(q);
    return out;
}

struct golden {
    const char *q, *want;
};

static void check_goldens(const struct golden *g, size_t n, kq_analyzer *a, int flags)
{
    for (size_t i = 0; i < n; i++) {
        const char *got = fmt_with(a, g[i].q, flags);
        if (strcmp(got, g[i].want))
            fail_msg("query [%s]: got [%s], want [%s]", g[i].q, got, g[i].want);
    }
}
#define GOLDENS(g, a, flags) check_goldens(g, sizeof g / sizeof g[0], a, flags)

/* Bare words, signs, and where a sign is an operator. */
static void test_words_and_signs(void **state)
{
    (void)state;
    static const struct golden g[] = {
        {"korea", "text:korea"},
        {"korea alliance", "(text:korea text:allianc)"},
        {"+korea +alliance", "(+text:korea +text:allianc)"},
        {"+korea alliance -war", "(+text:korea text:allianc -text:war)"},
        {"-war", "(-text:war)"},
        /* inside a word, + and - are the analyser's */
        {"multi-agent", "text:\"multi agent\""},
        {"U.S.-ROK", "text:\"us rok\""},
        {"co-production", "text:\"co product\""},
        {"e-mail", "text:\"e mail\""},
        {"20.04", "text:20.04"},
        {"Korea's", "text:korea"},
        {"Korea’s ally", "(text:korea text:alli)"},
        {"C++", "text:c"},
        {"Ca2+ cycling", "(text:ca2 text:cycl)"},
        /* at a word start, - excludes, numbers too */
        {"x -5", "(text:x -text:5)"},
        {"x \"-5\"", "(text:x text:5)"},
        {"-U.S.-ROK talks", "(-text:\"us rok\" text:talk)"},
        /* a lone sign is ignored */
        {"CD4 + T", "(text:cd4 text:t)"},
        {"e - b", "(text:e text:b)"},
        {"e -", "text:e"},
        {"+", ""},
        {"alpha (+)- thalassemia", "(text:alpha text:thalassemia)"},
        /* after a sign, a sign is text */
        {"--x", "(-text:x)"},
        {"+-x y", "(+text:x text:y)"},
        /* glued after ')' or a closing quote: text */
        {"(H2A)-histone", "(text:h2a text:histon)"},
        {"\"x\"-y", "(text:x text:y)"},
        {"(e)+b", "(text:e text:b)"},
        {"(-e b)", "(-text:e text:b)"},
        /* ordinary text is never an error */
        {"what?", "text:what"},
        {"50%", "text:50"},
        {"e/b", "text:\"e b\""},
        {"x:", "text:x"},
        {"http://x", "text:\"http x\""},
        {"note: y", "(text:note text:y)"},
        {"$5 billion", "(text:5 text:billion)"},
        {"and or not", "(text:and text:or text:not)"},
        {"ANDROID ORACLE NOTES", "(text:android text:oracl text:note)"},
        {"日本語", "text:\"日本 本語\""},
        {"한국 동맹", "(text:한국 text:동맹)"},
        /* words that analyse to nothing are dropped */
        {"Korea.¹", "text:korea"},
        {"¹", ""},
        {"— ¹ ²", ""},
        {"", ""},
        {" \t\r\n", ""},
        {"korea —", "text:korea"},
    };
    GOLDENS(g, en, 0);
}

static void test_phrases(void **state)
{
    (void)state;
    static const struct golden g[] = {
        {"\"griffith observatory\"", "text:\"griffith observatori\""},
        {"\"korea\"", "text:korea"},
        {"\"U.S.\"", "text:us"},
        {"\"\"", ""},
        {"\"¹ —\"", ""},
        {"+\"the who\" +uk", "(+text:\"the who\" +text:uk)"},
        {"-\"north korea\" south", "(-text:\"north korea\" text:south)"},
        {"say\"hello world\"", "(text:say text:\"hello world\")"},
        {"\"e (b) AND c*\"", "text:\"e b and c\""},
        {"\"x\"*", "text:x"},
        {"\"e b\"^3", "text:\"e b\"^3"},
        {"\"e b\"^x", "(text:\"e b\" text:x)"},
    };
    GOLDENS(g, en, 0);
}

static void test_operators(void **state)
{
    (void)state;
    static const struct golden g[] = {
        {"e OR b", "(text:e text:b)"},
        {"e AND b", "(+text:e +text:b)"},
        {"e AND b AND c", "(+text:e +text:b +text:c)"},
        {"e OR b OR c", "(text:e text:b text:c)"},
        /* precedence: NOT > sequence > AND > OR */
        {"e b AND c", "(+(text:e text:b) +text:c)"},
        {"e AND b c", "(+text:e +(text:b text:c))"},
        {"climate change AND policy", "(+(text:climat text:chang) +text:polici)"},
        {"e AND b OR c", "((+text:e +text:b) text:c)"},
        {"e OR b AND c", "(text:e (+text:b +text:c))"},
        {"e b OR c d", "(text:e text:b text:c text:d)"},
        {"+e b OR c", "((+text:e text:b) text:c)"},
        {"+e OR b", "(text:e text:b)"},
        {"+e AND b", "(+text:e +text:b)"},
        {"+e AND -b", "(+text:e -text:b)"},
        /* NOT: MUST_NOT in the enclosing clause list */
        {"NOT e", "(-text:e)"},
        {"e NOT b", "(text:e -text:b)"},
        {"e AND NOT b", "(+text:e -text:b)"},
        {"e OR NOT b", "(text:e -text:b)"},
        {"NOT e AND b", "(-text:e +text:b)"},
        {"NOT (e OR b) c", "(-(text:e text:b) text:c)"},
        {"NOT \"e b\"", "(-text:\"e b\")"},
        {"NOT -e", "(-text:e)"},
        {"+AND", "text:and"},
        {"title:OR", "title:or"},
        {"e AND(b)", "(+text:e +text:b)"},
        {"NOT(e)", "(-text:e)"},
        {"e\tAND\nb", "(+text:e +text:b)"},
        /* parentheses */
        {"(e b) AND (c d)", "(+(text:e text:b) +(text:c text:d))"},
        {"e (b (c d))", "(text:e text:b text:c text:d)"},
        {"(((e)))", "text:e"},
        {"+(e b) c", "(+(text:e text:b) text:c)"},
        {"-(e b) c", "(-(text:e text:b) text:c)"},
        {"+(+e +b) c", "(+text:e +text:b text:c)"},
        {"x (-e)", "(text:x -text:e)"},
        {"x +(e OR b)^2", "(text:x +(text:e text:b)^2)"},
        {"()", ""},
        {"() e", "text:e"},
        {"e AND ()", "text:e"},
        {"e AND ¹", "text:e"},
        {"25(OH)D", "(text:25 text:oh text:d)"},
        {"Lp(e) levels", "(text:lp text:e text:level)"},
        {"(+korea \"US ROK\" -title:war^2)", "(+text:korea text:\"us rok\" -title:war^2)"},
    };
    GOLDENS(g, en, 0);
}

static void test_fields(void **state)
{
    (void)state;
    static const struct golden g[] = {
        {"title:alliance", "title:allianc"},
        {"body:alliance", "text:allianc"},
        {"text:alliance", "text:allianc"},
        {"title:\"north korea\"", "title:\"north korea\""},
        {"title:(e b)", "(title:e title:b)"},
        {"title:(e body:b \"c d\")", "(title:e text:b title:\"c d\")"},
        {"-title:war peace", "(-title:war text:peac)"},
        {"title:war^2", "title:war^2"},
        {"title:organiz*", "title:organiz*"},
        {"title:U.S.-ROK", "title:\"us rok\""},
        {"title:(e b)^2", "(title:e title:b)^2"},
        /* a stop word given a field is meant: it stays, where a bare one goes */
        {"title:the music", "(title:the text:music)"},
        {"body:the music", "(text:the text:music)"},
        {"the music", "text:music"},
        /* not a field prefix: no term directly after, or an unknown name */
        {"title: war", "(text:titl text:war)"},
        {"title:", "text:titl"},
        {"(title:)", "text:titl"},
        {"Title:war", "text:\"titl war\""},
        {"author:kim", "text:\"author kim\""},
        {"title:-war", "title:war"},
        {"title:title:x", "title:\"titl x\""},
    };
    GOLDENS(g, en, 0);
}

static void test_prefix_and_boost(void **state)
{
    (void)state;
    static const struct golden g[] = {
        {"organiz*", "text:organiz*"},
        {"Organizations*", "text:organizations*"},
        {"running dogs*", "(text:run text:dogs*)"},
        {"co-prod*", "(+text:co +text:prod*)"},
        {"U.S.-RO*", "(+text:us +text:ro*)"},
        {"co-prod*^2", "(+text:co +text:prod*)^2"},
        {"org**", "text:org*"},
        {"e*b", "text:\"e b\""},
        {"*", ""},
        {"e * b", "(text:e text:b)"},
        {"¹*", ""},
        {"x^2.5", "text:x^2.5"},
        {"x^2", "text:x^2"},
        {"x^.5", "text:x^0.5"},
        {"x^1e3", "text:x^1000"},
        {"x^1.5E+1", "text:x^15"},
        {"x^0002", "text:x^2"},
        {"x^1000000", "text:x^1e+06"},
        {"x^1e+06", "text:x^1e+06"},
        {"x^1", "text:x"},
        {"org*^3", "text:org*^3"},
        {"(e b)^2", "(text:e text:b)^2"},
        {"((e b)^2)^3", "(text:e text:b)^6"},
        {"(e)^2", "text:e^2"},
        {"(x^2)^0.5", "text:x"},
        {"\"e b\"^0.5", "text:\"e b\"^0.5"},
        {"U.S.-ROK^2", "text:\"us rok\"^2"},
        /* ^ not followed by a number is text */
        {"x^y", "text:\"x y\""},
        {"x^", "text:x"},
        {"^2", "text:2"},
        {"e ^2", "(text:e text:2)"},
        {"x^.y", "text:\"x y\""},
        {"x^^2", "text:x^2"},
        {"¹^2", ""},
    };
    GOLDENS(g, en, 0);
}

/* Node fields that the canonical form does not show. */
static void test_node_fields(void **state)
{
    (void)state;
    kq_query *q;
    kq_error err;
    const char *s = "+korea \"US ROK\" -title:war^2 org*";
    assert_int_equal(parse_n(en, s, strlen(s), 0, NULL, &q, &err), 0);
    const struct kq_qnode *r = kq_query_root(q);
    assert_int_equal(r->type, KQ_QN_BOOL);
    assert_int_equal(r->offset, 0);
    assert_int_equal(r->n_clauses, 4);
    assert_int_equal(kq_query_n_terms(q), 5);
    assert_int_equal(r->occurs[0], KQ_MUST);
    assert_int_equal(r->occurs[1], KQ_SHOULD);
    assert_int_equal(r->occurs[2], KQ_MUST_NOT);
    assert_int_equal(r->occurs[3], KQ_SHOULD);
    const struct kq_qnode *t = r->clauses[0], *ph = r->clauses[1], *w = r->clauses[2],
                          *pre = r->clauses[3];
    assert_int_equal(t->type, KQ_QN_TERM);
    assert_int_equal(t->offset, 1); /* after the sign */
    assert_int_equal(t->field, KQ_FIELD_TEXT);
    assert_true(t->boost == 1.0);
    assert_int_equal(t->lens[0], 5);
    assert_int_equal(ph->type, KQ_QN_PHRASE);
    assert_int_equal(ph->offset, 7);
    assert_int_equal(ph->n_terms, 2);
    assert_string_equal(ph->terms[0], "us");
    assert_string_equal(ph->terms[1], "rok");
    assert_int_equal(ph->rel_pos[1], 1);
    assert_int_equal(w->field, KQ_FIELD_TITLE);
    assert_int_equal(w->offset, 17);
    assert_true(w->boost == 2.0);
    assert_int_equal(pre->type, KQ_QN_PREFIX);
    assert_int_equal(pre->offset, 29);
    assert_string_equal(pre->terms[0], "org");
    assert_null(pre->stem); /* org stems to itself */
    kq_query_free(q);

    /* a prefix carries the stem of the whole word when it is another term */
    static const struct {
        const char *q, *fold, *stem;
        int en;
    } st[] = {{"Procurement*", "procurement", "procur", 1}, {"procur*", "procur", NULL, 1},
              {"co-running*", "running", "run", 1},       {"procurement*", "procurement", NULL, 0}};
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
        assert_int_equal(parse_n(st[i].en ? en : none, st[i].q, strlen(st[i].q), 0, NULL, &q, &err), 0);
        r = kq_query_root(q);
        if (r->type == KQ_QN_BOOL)
            r = r->clauses[r->n_clauses - 1];
        assert_int_equal(r->type, KQ_QN_PREFIX);
        assert_string_equal(r->terms[0], st[i].fold);
        if (st[i].stem)
            assert_true(r->stem_len == strlen(st[i].stem) && !memcmp(r->stem, st[i].stem, r->stem_len));
        else
            assert_null(r->stem);
        kq_query_free(q);
    }

    /* a phrase keeps the gap of a term too long to index */
    char big[200];
    snprintf(big, sizeof big, "\"alpha %070d beta\"", 7);
    assert_int_equal(parse_n(en, big, strlen(big), 0, NULL, &q, &err), 0);
    r = kq_query_root(q);
    assert_int_equal(r->type, KQ_QN_PHRASE);
    assert_int_equal(r->n_terms, 2);
    assert_int_equal(r->rel_pos[1], 2);
    kq_query_free(q);

    /* offsets of a group, a chain, a multi-token prefix */
    s = "x  (e b) AND co-prod*";
    assert_int_equal(parse_n(en, s, strlen(s), 0, NULL, &q, &err), 0);
    r = kq_query_root(q); /* (+(x (e b)) +(co prod*)) spliced: (+(text:x text:e text:b) ...) */
    assert_int_equal(r->offset, 0);
    assert_int_equal(r->n_clauses, 3);
    assert_int_equal(r->clauses[0]->type, KQ_QN_BOOL);
    assert_int_equal(r->clauses[1]->offset, 13); /* co */
    assert_int_equal(r->clauses[2]->offset, 16); /* prod* */
    kq_query_free(q);

    s = "  (e b)^2";
    assert_int_equal(parse_n(en, s, strlen(s), 0, NULL, &q, &err), 0);
    assert_int_equal(kq_query_root(q)->offset, 2);
    kq_query_free(q);

    /* empty queries: a success with no root */
    assert_int_equal(parse_n(en, "¹ —", strlen("¹ —"), 0, NULL, &q, &err), 0);
    assert_null(kq_query_root(q));
    assert_int_equal(kq_query_n_terms(q), 0);
    kq_buf b = KQ_BUF_INIT;
    assert_int_equal(kq_query_format(q, &b), 0);
    assert_int_equal(b.len, 0);
    kq_query_free(q);
    kq_query_free(NULL);
    assert_null(kq_query_root(NULL));
}

static void test_plain(void **state)
{
    (void)state;
    static const struct golden g[] = {
        {"korea", "text:korea"},
        {"+korea -war AND \"US ROK\" title:(x) NOT y*^2",
         "(text:korea text:war text:us text:rok text:titl text:x text:y text:2)"},
        {"e e", "(text:e text:e)"},
        {"(((((", ""},
        {"\"unterminated", "text:untermin"},
        {")", ""},
        {"10% of sudden infant death syndrome (SIDS) deaths",
         "(text:10 text:sudden text:infant text:death text:syndrom text:sid text:death)"},
        /* stop words go when another word remains; all of them stay when none would */
        {"the who", "(text:the text:who)"},
        {"What is the cost of war?", "(text:cost text:war)"},
    };
    GOLDENS(g, en, KQ_QUERY_PLAIN);

    kq_query *q;
    kq_error err;
    const char *s = "  one two";
    assert_int_equal(parse_n(en, s, strlen(s), KQ_QUERY_PLAIN, NULL, &q, &err), 0);
    assert_int_equal(kq_query_root(q)->offset, 2);
    assert_int_equal(kq_query_root(q)->clauses[1]->offset, 6);
    kq_query_free(q);
}

struct error_case {
    const char *q;
    int code;
    int64_t offset;
    const char *msg;
};

static void check_errors(const struct error_case *e, size_t n, int flags)
{
    for (size_t i = 0; i < n; i++) {
        kq_query *q = (kq_query *)1;
        kq_error err;
        int rc = parse_n(en, e[i].q, strlen(e[i].q), flags, NULL, &q, &err);
        if (rc != e[i].code || err.offset != e[i].offset || strcmp(err.msg, e[i].msg))
            fail_msg("query [%s]: got %d at %lld [%s], want %d at %lld [%s]", e[i].q, rc,
                     (long long)err.offset, err.msg, e[i].code, (long long)e[i].offset, e[i].msg);
    }
}

static void test_errors(void **state)
{
    (void)state;
    static const struct error_case e[] = {
        {"\"abc", KQ_ESYNTAX, 0, "unterminated '\"' at byte 0"},
        {"korea \"us rok", KQ_ESYNTAX, 6, "unterminated '\"' at byte 6"},
        {"e \"b\" \"c", KQ_ESYNTAX, 6, "unterminated '\"' at byte 6"},
        {"(e", KQ_ESYNTAX, 0, "unbalanced '(' at byte 0"},
        {"korea (alliance (us rok)", KQ_ESYNTAX, 6, "unbalanced '(' at byte 6"},
        {"title:(e", KQ_ESYNTAX, 6, "unbalanced '(' at byte 6"},
        {"e (b) c (d e f g h i j", KQ_ESYNTAX, 8, "unbalanced '(' at byte 8"},
        {"abc)", KQ_ESYNTAX, 3, "')' without '(' at byte 3"},
        {")", KQ_ESYNTAX, 0, "')' without '(' at byte 0"},
        {"(e)) b", KQ_ESYNTAX, 3, "')' without '(' at byte 3"},
        {"korea AND", KQ_ESYNTAX, 9, "expected a term after 'AND' at byte 9"},
        {"korea AND  ", KQ_ESYNTAX, 11, "expected a term after 'AND' at byte 11"},
        {"(e AND) b", KQ_ESYNTAX, 6, "expected a term after 'AND' at byte 6"},
        {"e AND OR b", KQ_ESYNTAX, 6, "expected a term after 'AND' at byte 6"},
        {"e AND AND b", KQ_ESYNTAX, 6, "expected a term after 'AND' at byte 6"},
        {"e AND +", KQ_ESYNTAX, 6, "expected a term after 'AND' at byte 6"},
        {"e OR", KQ_ESYNTAX, 4, "expected a term after 'OR' at byte 4"},
        {"e OR AND b", KQ_ESYNTAX, 5, "expected a term after 'OR' at byte 5"},
        {"e OR OR b", KQ_ESYNTAX, 5, "expected a term after 'OR' at byte 5"},
        {"(e OR)", KQ_ESYNTAX, 5, "expected a term after 'OR' at byte 5"},
        {"AND e", KQ_ESYNTAX, 0, "expected a term before 'AND' at byte 0"},
        {"(AND e)", KQ_ESYNTAX, 1, "expected a term before 'AND' at byte 1"},
        {"OR e", KQ_ESYNTAX, 0, "expected a term before 'OR' at byte 0"},
        {"e (OR b)", KQ_ESYNTAX, 3, "expected a term before 'OR' at byte 3"},
        {"- AND b", KQ_ESYNTAX, 2, "expected a term before 'AND' at byte 2"},
        {"NOT", KQ_ESYNTAX, 3, "expected a term after 'NOT' at byte 3"},
        {"e NOT ", KQ_ESYNTAX, 6, "expected a term after 'NOT' at byte 6"},
        {"(e NOT)", KQ_ESYNTAX, 6, "expected a term after 'NOT' at byte 6"},
        {"NOT NOT e", KQ_ESYNTAX, 4, "expected a term after 'NOT' at byte 4"},
        {"e NOT OR b", KQ_ESYNTAX, 6, "expected a term after 'NOT' at byte 6"},
        {"x^0", KQ_ESYNTAX, 2, "expected a positive number after '^' at byte 2"},
        {"x^0.0", KQ_ESYNTAX, 2, "expected a positive number after '^' at byte 2"},
        {"x^2x", KQ_ESYNTAX, 2, "expected a positive number after '^' at byte 2"},
        {"x^1.2.3", KQ_ESYNTAX, 2, "expected a positive number after '^' at byte 2"},
        {"x^1e", KQ_ESYNTAX, 2, "expected a positive number after '^' at byte 2"},
        {"x^1e999", KQ_ESYNTAX, 2, "expected a positive number after '^' at byte 2"},
        {"x^1e-999", KQ_ESYNTAX, 2, "expected a positive number after '^' at byte 2"},
        {"\"e b\"^2x", KQ_ESYNTAX, 6, "expected a positive number after '^' at byte 6"},
        {"(e)^0 b", KQ_ESYNTAX, 4, "expected a positive number after '^' at byte 4"},
        {"((e^1e300)^1e300)", KQ_ESYNTAX, 1, "boost out of range at byte 1"},
        {"(e^1e-300)^1e-300", KQ_ESYNTAX, 0, "boost out of range at byte 0"},
        /* a word's boosts multiplied from the root stay within [1e-6, 1e6] */
        {"korea^1e308", KQ_ESYNTAX, 0, "boost out of range at byte 0"},
        {"x e^1000001", KQ_ESYNTAX, 2, "boost out of range at byte 2"},
        {"x (y e^1000)^1001", KQ_ESYNTAX, 5, "boost out of range at byte 5"},
        {"x e^0.0000009", KQ_ESYNTAX, 2, "boost out of range at byte 2"},
    };
    check_errors(e, sizeof e / sizeof e[0], 0);
}

static void test_limits(void **state)
{
    (void)state;
    kq_query *q;
    kq_error err;
    /* length */
    char *s = malloc(8192);
    assert_non_null(s);
    memset(s, 'a', 8192);
    for (size_t i = 1; i < 8192; i += 2)
        s[i] = ' ';
    memset(s, ' ', 4096);
    memcpy(s + 4090, "korea", 5);
    assert_int_equal(parse_n(en, s, 4096, 0, NULL, &q, &err), 0);
    kq_query_free(q);
    assert_int_equal(parse_n(en, s, 4097, 0, NULL, &q, &err), KQ_ELIMIT);
    assert_int_equal(err.offset, 4096);
    assert_string_equal(err.msg, "query longer than 4096 bytes");
    assert_int_equal(parse_n(en, s, 4097, KQ_QUERY_PLAIN, NULL, &q, &err), KQ_ELIMIT);
    struct kq_query_limits lim = {.max_len = 10};
    assert_int_equal(parse_n(en, "korea war!", 10, 0, &lim, &q, &err), 0);
    kq_query_free(q);
    assert_int_equal(parse_n(en, "korea war!!", 11, 0, &lim, &q, &err), KQ_ELIMIT);
    assert_string_equal(err.msg, "query longer than 10 bytes");
    free(s);

    /* terms: 64 fit, the 65th is refused where its word starts */
    kq_buf b = KQ_BUF_INIT;
    for (int i = 0; i < 64; i++) {
        char w[16];
        snprintf(w, sizeof w, "w%d ", i);
        assert_int_equal(kq_buf_append(&b, w, strlen(w)), 0);
    }
    assert_int_equal(parse_n(en, (char *)b.p, b.len, 0, NULL, &q, &err), 0);
    assert_int_equal(kq_query_n_terms(q), 64);
    kq_query_free(q);
    assert_int_equal(parse_n(en, (char *)b.p, b.len, KQ_QUERY_PLAIN, NULL, &q, &err), 0);
    kq_query_free(q);
    size_t at = b.len;
    assert_int_equal(kq_buf_append(&b, "\"x y\"", 5), 0);
    assert_int_equal(parse_n(en, (char *)b.p, b.len, 0, NULL, &q, &err), KQ_ELIMIT);
    assert_int_equal(err.offset, (int64_t)at);
    assert_string_equal(err.msg, "query has more than 64 terms");
    assert_int_equal(parse_n(en, (char *)b.p, b.len, KQ_QUERY_PLAIN, NULL, &q, &err), KQ_ELIMIT);
    assert_int_equal(err.offset, (int64_t)at + 1);
    kq_buf_release(&b);
    lim = (struct kq_query_limits){.max_terms = 2};
    assert_int_equal(parse_n(en, "a U.S.-ROK", 10, 0, &lim, &q, &err), KQ_ELIMIT);
    assert_int_equal(err.offset, 2);
    assert_string_equal(err.msg, "query has more than 2 terms");
    assert_int_equal(parse_n(en, "co-prod*", 8, 0, &lim, &q, &err), 0);
    kq_query_free(q);
    assert_int_equal(parse_n(en, "a co-prod*", 10, 0, &lim, &q, &err), KQ_ELIMIT);

    /* depth: 32 nested groups fit, 33 do not; the offset is the '(' too deep */
    char deep[200];
    for (int d = 31; d <= 34; d++) {
        size_t n = 0;
        for (int i = 0; i < d; i++)
            deep[n++] = '(';
        deep[n++] = 'x';
        for (int i = 0; i < d; i++)
            deep[n++] = ')';
        int rc = parse_n(en, deep, n, 0, NULL, &q, &err);
        if (d <= 32) {
            assert_int_equal(rc, 0);
            kq_query_free(q);
        } else {
            assert_int_equal(rc, KQ_ELIMIT);
            assert_int_equal(err.offset, 32);
            assert_string_equal(err.msg, "query nested too deeply (limit is 32)");
        }
    }
    /* an unclosed run deeper than the limit reports the limit, not the imbalance */
    memset(deep, '(', 100);
    assert_int_equal(parse_n(en, deep, 100, 0, NULL, &q, &err), KQ_ELIMIT);
    lim = (struct kq_query_limits){.max_depth = 2};
    assert_int_equal(parse_n(en, "((a) (b))", 9, 0, &lim, &q, &err), 0);
    kq_query_free(q);
    assert_int_equal(parse_n(en, "((a) ((b)))", 11, 0, &lim, &q, &err), KQ_ELIMIT);
    assert_int_equal(err.offset, 6);
    assert_string_equal(err.msg, "query nested too deeply (limit is 2)");
    /* limits above the cap are clamped: 4000 nested groups fit in 8001 bytes */
    lim = (struct kq_query_limits){.max_len = 100000, .max_depth = 1000000};
    char *huge = malloc(8001);
    assert_non_null(huge);
    memset(huge, '(', 4000);
    huge[4000] = 'x';
    memset(huge + 4001, ')', 4000);
    assert_int_equal(parse_n(en, huge, 8001, 0, &lim, &q, &err), KQ_ELIMIT);
    assert_int_equal(err.offset, KQ_QUERY_DEPTH_CAP);
    free(huge);
}

/* Formatting then parsing again (no stemming, so terms are stable) gives the same form. */
static void check_roundtrip(const char *s, size_t len, int flags)
{
    kq_query *q;
    kq_error err;
    if (parse_n(none, s, len, flags, NULL, &q, &err))
        return;
    kq_buf a = KQ_BUF_INIT, b = KQ_BUF_INIT;
    assert_int_equal(kq_query_format(q, &a), 0);
    kq_query_free(q);
    struct kq_query_limits lim = {.max_len = a.len + 1, .max_depth = KQ_QUERY_DEPTH_CAP};
    assert_int_equal(parse_n(none, (char *)a.p, a.len, 0, &lim, &q, &err), 0);
    assert_int_equal(kq_query_format(q, &b), 0);
    kq_query_free(q);
    if (a.len != b.len || (a.len && memcmp(a.p, b.p, a.len)))
        fail_msg("round trip of [%.*s]: [%.*s] then [%.*s]", (int)len, s, (int)a.len, (char *)a.p,
                 (int)b.len, (char *)b.p);
    kq_buf_release(&a);
    kq_buf_release(&b);
}

static void test_roundtrip(void **state)
{
    (void)state;
    static const char *const qs[] = {
        "+korea \"US ROK\" -title:war^2",
        "a b AND c OR title:(d e^3 \"f g\")^0.25 -h*",
        "co-prod* AND NOT (x OR y)",
        "((a b)^2 c)^3",
        "-a",
        "NOT (a b)",
        "日本語 한국 Ωμέγα",
        "x^1e-5 y^1234567",
        "T'O!Ttn^1z2^.2^.99999988", /* found by fuzz_query: a boost that prints as ^1 */
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        check_roundtrip(qs[i], strlen(qs[i]), 0);
}

/* Every seed of the fuzzer parses in both modes (the seeds with syntax errors on purpose
 * are named ops_*). */
static void test_fuzz_seeds(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/query", kqt_source_dir());
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        char *s = kqt_read_file(path, &len);
        kq_query *q;
        kq_error err;
        int rc = parse_n(en, s, len, 0, NULL, &q, &err);
        if (strncmp(e->d_name, "ops_", 4))
            assert_int_equal(rc, 0);
        kq_query_free(q);
        assert_int_equal(parse_n(en, s, len, KQ_QUERY_PLAIN, NULL, &q, &err), 0);
        kq_query_free(q);
        check_roundtrip(s, len, 0);
        free(s);
        n++;
    }
    closedir(d);
    assert_true(n >= 50);
}

/* The query files of the shared collections: $KQ_DATA, else ../shared/data next to the
 * source tree. Returns NULL (and the test skips) when absent. */
static FILE *open_data(const char *name)
{
    char path[4096];
    const char *data = getenv("KQ_DATA");
    if (data && *data)
        snprintf(path, sizeof path, "%s/%s", data, name);
    else
        snprintf(path, sizeof path, "%s/../shared/data/%s", kqt_source_dir(), name);
    return fopen(path, "r");
}

/* Parses every query of a JSON-lines file (field `key`) in `flags` mode; returns how many. */
static int parse_file(FILE *f, const char *key, int flags, int expect_ok)
{
    char line[65536];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        assert_non_null(o);
        json_t *v = json_object_get(o, key);
        assert_true(json_is_string(v));
        kq_query *q;
        kq_error err;
        int rc = parse_n(en, json_string_value(v), json_string_length(v), flags, NULL, &q, &err);
        if (expect_ok && rc)
            fail_msg("[%s]: %s", json_string_value(v), err.msg);
        if (!rc)
            assert_non_null(kq_query_root(q));
        kq_query_free(q);
        check_roundtrip(json_string_value(v), json_string_length(v), flags);
        json_decref(o);
        n++;
    }
    return n;
}

static void test_wikipedia_sbg_queries(void **state)
{
    (void)state;
    /* the Lucene-syntax shapes of the file */
    static const struct golden g[] = {
        {"the", "text:the"},
        {"+griffith +observatory", "(+text:griffith +text:observatori)"},
        {"\"griffith observatory\"", "text:\"griffith observatori\""},
        {"griffith observatory", "(text:griffith text:observatori)"},
        {"+climate policy", "(+text:climat text:polici)"},
        {"wildfire +risk maps", "(text:wildfir +text:risk text:map)"},
        {"+\"the who\" +uk", "(+text:\"the who\" +text:uk)"},
        {"+mustang -car -horse", "(+text:mustang -text:car -text:hors)"},
        {"jordan -country -basketball", "(text:jordan -text:countri -text:basketbal)"},
    };
    GOLDENS(g, en, 0);
    FILE *f = open_data("wikipedia-en-2015/queries-sbg.jsonl");
    if (!f)
        skip();
    assert_int_equal(parse_file(f, "query", 0, 1), 962);
    rewind(f);
    assert_int_equal(parse_file(f, "query", KQ_QUERY_PLAIN, 1), 962);
    fclose(f);
}

static void test_scifact_queries(void **state)
{
    (void)state;
    static const struct golden g[] = {
        {"0-dimensional biomaterials show inductive properties.",
         "(text:\"0 dimension\" text:biomateri text:show text:induct text:properti)"},
        {"A high microerythrocyte count raises vulnerability to severe anemia in homozygous "
         "alpha (+)- thalassemia trait subjects.",
         "(text:high text:microerythrocyt text:count text:rais text:vulner text:sever "
         "text:anemia text:homozyg text:alpha text:thalassemia text:trait text:subject)"},
        {"IL-10 production by monocytes inhibits CD4 + T cell response.",
         "(text:\"il 10\" text:product text:monocyt text:inhibit text:cd4 text:t "
         "text:cell text:respons)"},
        {"Replacement of histone H2A with H2A.Z slows gene activation in yeasts by "
         "stabilizing +1 nucleosomes.",
         "(text:replac text:histon text:h2a text:\"h2a z\" text:slow text:gene text:activ "
         "text:yeast text:stabil +text:1 text:nucleosom)"},
        {"The ureABIEFGH gene cluster encodes urease maturation proteins : UreD/UreH.",
         "(text:ureabiefgh text:gene text:cluster text:encod text:ureas text:matur "
         "text:protein text:\"ure ureh\")"},
        {"Mouse models can be generated using \"artificial spermatids.\"",
         "(text:mous text:model text:can text:generat text:use "
         "text:\"artifici spermatid\")"},
    };
    GOLDENS(g, en, 0);
    FILE *f = open_data("scifact/queries.jsonl");
    if (!f)
        skip();
    assert_int_equal(parse_file(f, "text", 0, 1), 1109);
    rewind(f);
    assert_int_equal(parse_file(f, "text", KQ_QUERY_PLAIN, 1), 1109);
    fclose(f);
}

static void test_alloc_failure_sweep(void **state)
{
    (void)state;
    static const struct {
        const char *q;
        int flags;
    } qs[] = {
        {"+korea \"US ROK\" -title:(war OR peace^2) co-prod* AND NOT x", 0},
        {"e b c d e f g h i j k l m n o p q r s t u v w x y z", 0},
        {"((((e b) c) d) e) f", 0},
        {"e AND", 0}, /* an error after allocating */
        {"10% of sudden infant death syndrome (SIDS) deaths", KQ_QUERY_PLAIN},
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        kq_query *q;
        kq_error err;
        const char *want = NULL;
        char wantbuf[1024];
        int want_rc = parse_n(en, qs[i].q, strlen(qs[i].q), qs[i].flags, NULL, &q, &err);
        if (!want_rc) {
            kq_buf b = KQ_BUF_INIT;
            assert_int_equal(kq_query_format(q, &b), 0);
            snprintf(wantbuf, sizeof wantbuf, "%.*s", (int)b.len, (char *)b.p);
            want = wantbuf;
            kq_buf_release(&b);
            kq_query_free(q);
        }
        for (long n = 0;; n++) {
            kq_alloc_fail_after(n);
            int rc = kq_query_parse(qs[i].q, strlen(qs[i].q), en, qs[i].flags, NULL, &q, &err);
            kq_alloc_fail_after(-1);
            if (rc != KQ_ENOMEM) {
                assert_int_equal(rc, want_rc);
                if (!rc) {
                    kq_buf b = KQ_BUF_INIT;
                    assert_int_equal(kq_query_format(q, &b), 0);
                    assert_int_equal(b.len, strlen(want));
                    assert_memory_equal(b.p, want, b.len);
                    kq_buf_release(&b);
                    kq_query_free(q);
                }
                break;
            }
            assert_int_equal(err.code, KQ_ENOMEM);
            assert_null(q);
            assert_true(n < 1000);
        }
    }
    /* formatting reports a full buffer as KQ_ENOMEM */
    kq_query *q;
    kq_error err;
    assert_int_equal(kq_query_parse("a b", 3, en, 0, NULL, &q, &err), 0);
    kq_buf b = KQ_BUF_INIT;
    kq_alloc_fail_after(0);
    assert_int_equal(kq_query_format(q, &b), KQ_ENOMEM);
    kq_alloc_fail_after(-1);
    kq_buf_release(&b);
    kq_query_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words_and_signs),
        cmocka_unit_test(test_phrases),
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_prefix_and_boost),
        cmocka_unit_test(test_node_fields),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_fuzz_seeds),
        cmocka_unit_test(test_wikipedia_sbg_queries),
        cmocka_unit_test(test_scifact_queries),
        cmocka_unit_test(test_alloc_failure_sweep),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
