/* tests/text/test_extract.c: plain, Markdown and HTML extraction on real corpus lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "text/text.h"
#include "util/alloc.h"

#define C000 "000_2d90944b1258bdb7.txt"
#define C001 "001_374e089854da5ecd.txt"
#define C002 "002_5dac5894a5048747.txt"
#define C003 "003_b721ed12405fbad4.txt"
#define C004 "004_0eb3009ce8d47aab.txt"

/* Extracts `len` bytes (an exactly sized heap copy) and checks the body invariants: same
 * length, newlines at the same offsets and nowhere else, NUL-terminated title. */
static void extract(enum kq_format f, const char *s, size_t len, struct kq_extracted *x)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    assert_int_equal(kq_extract(f, copy, len, x, NULL), 0);
    assert_int_equal(x->body_len, len);
    for (size_t i = 0; i < len; i++)
        assert_true((s[i] == '\n') == (x->body[i] == '\n'));
    assert_non_null(x->title);
    assert_int_equal(strlen(x->title), x->title_len);
    free(copy);
}

struct acc {
    char *p;
    size_t n;
};

static int acc_term(void *ctx, const struct kq_token *t)
{
    struct acc *acc = ctx;
    if (acc->n + t->len + 2 >= 65536)
        return 0;
    if (acc->n)
        acc->p[acc->n++] = ' ';
    memcpy(acc->p + acc->n, t->term, t->len);
    acc->n += t->len;
    acc->p[acc->n] = '\0';
    return 0;
}

/* Concatenated terms of `s` (no stemming), for checking what the index will see. */
static char *terms_of(const char *s, size_t len)
{
    static char out[65536];
    kq_analyzer *a;
    assert_int_equal(kq_analyzer_new("none", &a, NULL), 0);
    struct acc acc = {out, 0};
    out[0] = '\0';
    assert_int_equal(kq_analyze(a, s, len, 0, 0, acc_term, &acc, NULL), 0);
    kq_analyzer_free(a);
    return out;
}

/* Line `n` of a corpus file, extracted as Markdown; returns the line (caller frees). */
static char *md_line(const char *file, int n, struct kq_extracted *x)
{
    char *text = kqt_read_corpus(file, NULL);
    char *line = kqt_line(text, n);
    free(text);
    extract(KQ_FORMAT_MARKDOWN, line, strlen(line), x);
    return line;
}

static int all_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ')
            return 0;
    return 1;
}

static void test_format_for_path(void **state)
{
    (void)state;
    assert_int_equal(kq_format_for_path("corpus/000.txt"), KQ_FORMAT_MARKDOWN);
    assert_int_equal(kq_format_for_path("README.md"), KQ_FORMAT_MARKDOWN);
    assert_int_equal(kq_format_for_path("a/b.MARKDOWN"), KQ_FORMAT_MARKDOWN);
    assert_int_equal(kq_format_for_path("x.html"), KQ_FORMAT_HTML);
    assert_int_equal(kq_format_for_path("x.HTM"), KQ_FORMAT_HTML);
    assert_int_equal(kq_format_for_path("x.xhtml"), KQ_FORMAT_HTML);
    assert_int_equal(kq_format_for_path("x.c"), KQ_FORMAT_PLAIN);
    assert_int_equal(kq_format_for_path("Makefile"), KQ_FORMAT_PLAIN);
    assert_int_equal(kq_format_for_path(".md"), KQ_FORMAT_PLAIN);
    assert_int_equal(kq_format_for_path("dir.md/file"), KQ_FORMAT_PLAIN);
    assert_string_equal(kq_format_name(KQ_FORMAT_HTML), "html");
    assert_string_equal(kq_format_name(KQ_FORMAT_MARKDOWN), "markdown");
    assert_string_equal(kq_format_name(KQ_FORMAT_PLAIN), "plain");
}

/* A byte order mark is blanked: it is neither text nor part of the title. */
static void test_bom(void **state)
{
    (void)state;
    struct kq_extracted x;
    extract(KQ_FORMAT_PLAIN, "\xef\xbb\xbf" "bom november\nline", 21, &x);
    assert_string_equal(x.title, "bom november");
    assert_memory_equal(x.body, "   bom", 6);
    kq_extracted_release(&x);
    extract(KQ_FORMAT_MARKDOWN, "\xef\xbb\xbf# Heading\ntext", 17, &x);
    assert_string_equal(x.title, "Heading");
    kq_extracted_release(&x);
}

/* <sup>n</sup> footnote markers are blanked with their content. */
static void test_md_sup(void **state)
{
    (void)state;
    struct kq_extracted x;
    char *line = md_line(C002, 10, &x);
    const char *at = strstr(line, "technology.<sup>1</sup> These");
    assert_non_null(at);
    size_t off = (size_t)(at - line);
    assert_memory_equal(x.body + off, "technology.", 11);
    assert_true(all_blank(x.body + off + 11, strlen("<sup>1</sup> ")));
    assert_memory_equal(x.body + off + 11 + 13, "These", 5);
    assert_non_null(strstr(terms_of(x.body, x.body_len), "clean technology these investment"));
    kq_extracted_release(&x);
    kq_extracted_release(&x); /* released twice is fine */
    free(line);
    /* a <sup> with words is not a footnote: only its tags go, erased as an inline
     * element's (NUL: "xth" is one word) */
    extract(KQ_FORMAT_MARKDOWN, "x<sup>th</sup> 2<sup>1, 2</sup>", 31, &x);
    assert_int_equal(x.body_len, 31);
    assert_memory_equal(x.body, "x\0\0\0\0\0th\0\0\0\0\0\0 2               ", 31);
    assert_string_equal(terms_of(x.body, x.body_len), "xth 2");
    kq_extracted_release(&x);
}

/* [text](url) keeps text; images keep alt text. */
static void test_md_links(void **state)
{
    (void)state;
    struct kq_extracted x;
    char *line = md_line(C001, 15, &x);
    const char *lk = "[the South Korean economy grew 65 times larger](#)";
    const char *at = strstr(line, lk);
    assert_non_null(at);
    size_t off = (size_t)(at - line);
    assert_int_equal(x.body[off], ' ');
    assert_memory_equal(x.body + off + 1, lk + 1, strlen(lk) - 5);
    assert_true(all_blank(x.body + off + strlen(lk) - 4, 4));
    kq_extracted_release(&x);
    free(line);

    line = md_line(C001, 35, &x);
    lk = "[Korea Defense Capability \\(KDC\\) policy](#)";
    at = strstr(line, lk);
    assert_non_null(at);
    off = (size_t)(at - line);
    assert_string_equal(terms_of(x.body + off, strlen(lk)), "korea defense capability kdc policy");
    kq_extracted_release(&x);
    free(line);

    extract(KQ_FORMAT_MARKDOWN, "see ![a chart](img/c.png) and [x](http://a.b/(c)) [y]", 52, &x);
    assert_string_equal(terms_of(x.body, x.body_len), "see a chart and x y");
    kq_extracted_release(&x);

    /* a link's text wrapped over lines; not over a blank line */
    const char *w = "see [a long\nlink text](http://urlhost.example/urlpath) end\n"
                    "[a\n\nb](http://x.y)\n";
    extract(KQ_FORMAT_MARKDOWN, w, strlen(w), &x);
    assert_string_equal(terms_of(x.body, x.body_len), "see a long link text end a b http xy");
    kq_extracted_release(&x);

    /* nested brackets: a link's text to 32 levels (deeper is no link: a run of '[' is
     * scanned a little, not MD_SPAN_MAX bytes for each) */
    char nest[256];
    for (int depth = 32; depth <= 33; depth++) {
        int n = 0;
        for (int i = 0; i < depth; i++)
            nest[n++] = '[';
        nest[n++] = 'x';
        for (int i = 0; i < depth; i++)
            nest[n++] = ']';
        n += snprintf(nest + n, sizeof nest - (size_t)n, "(http://deephost.example)");
        extract(KQ_FORMAT_MARKDOWN, nest, (size_t)n, &x);
        assert_int_equal(strstr(terms_of(x.body, x.body_len), "deephost") != NULL, depth > 32);
        kq_extracted_release(&x);
    }

    /* a destination of any length (a pasted image as a data: URI) */
    size_t n = 100000;
    char *big = malloc(n + 64);
    assert_non_null(big);
    int h = snprintf(big, 64, "pic ![shot](data:image/png;base64,");
    for (size_t i = (size_t)h; i < n; i++)
        big[i] = "AZaz09+/"[i % 8];
    memcpy(big + n, ") after\n", 9);
    extract(KQ_FORMAT_MARKDOWN, big, n + 8, &x);
    assert_string_equal(terms_of(x.body, x.body_len), "pic shot after");
    kq_extracted_release(&x);
    free(big);
}

/* Link reference definitions render as nothing, so they are blanked whole; a line that only
 * looks like one (a footnote, text after the destination) is text. */
static void test_md_refdefs(void **state)
{
    (void)state;
    static const struct {
        const char *in, *terms;
    } cases[] = {
        {"See [the site][1].\n\n[1]: http://refhost.example.com/page \"Site\"\n", "see the site"},
        {"[Status]: approved\n", "status approved"}, /* a word is no destination */
        {"note[^fn1] and [t][] x[^a b]\n[^fn1]: the note\n", "note and t x a b the note"},
        /* only labels the document defines (case and spaces aside) are references */
        {"a[i][j], [^abc] and [x][the  Ref]\n\n[THE ref]: http://refhost.example/p\n",
         "a i j abc and x"},
        {"[a]: <http://x.y/with space> 'T'\r\n  [b c]: /rel/path (paren)\nkept", "kept"},
        {"> [q]: http://quoted.example\n", ""},
        {"[1]: Smith, J. 2020, A Study\n", "1 smith j 2020 a study"},
        {"[x]: http://a.b \"title\" trailing\n", "x http ab title trailing"},
        {"[]: http://a.b\n[ ]: http://a.b\n", "http ab http ab"},
        {"[x]:\n", "x"},
        {"    [x]: http://indented.code\n", "x http indented code"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct kq_extracted x;
        extract(KQ_FORMAT_MARKDOWN, cases[i].in, strlen(cases[i].in), &x);
        const char *got = terms_of(x.body, x.body_len);
        if (strcmp(got, cases[i].terms))
            fail_msg("%zu: '%s', want '%s'", i, got, cases[i].terms);
        kq_extracted_release(&x);
    }
}

/* <https://...> autolinks are blanked entirely. */
static void test_md_autolinks(void **state)
{
    (void)state;
    struct kq_extracted x;
    char *line = md_line(C000, 14, &x);
    const char *al = "<https://loc.gov/pictures/resource/fsac.1a35291/>";
    const char *at = strstr(line, al);
    assert_non_null(at);
    assert_true(all_blank(x.body + (at - line), strlen(al)));
    char *t = terms_of(x.body, x.body_len);
    assert_null(strstr(t, "loc gov"));
    assert_non_null(strstr(t, "93845501"));
    kq_extracted_release(&x);
    free(line);

    /* a footnote with an autolink, a link whose text is a URL, and escapes */
    line = md_line(C002, 130, &x);
    t = terms_of(x.body, x.body_len);
    assert_null(strstr(t, "briefing room"));
    assert_non_null(strstr(t, "yoon suk yeol south korea needs to step up"));
    kq_extracted_release(&x);
    free(line);

    extract(KQ_FORMAT_MARKDOWN, "mail <a@b.org> or x <y 1 < 2", 28, &x);
    assert_string_equal(terms_of(x.body, x.body_len), "mail or x y 1 2");
    kq_extracted_release(&x);
}

/* inline HTML in Markdown: tags blanked, text kept. */
static void test_md_inline_html(void **state)
{
    (void)state;
    struct kq_extracted x;
    char *line = md_line(C004, 121, &x);
    char *t = terms_of(x.body, x.body_len);
    assert_non_null(strstr(t, "cet 2022 summit general commitments pledged to enhance"));
    assert_null(strstr(t, "style"));
    kq_extracted_release(&x);
    free(line);

    const char *s = "a <!-- hidden\nstill --> b <span class=\"k\">c</span> d &amp; e";
    extract(KQ_FORMAT_MARKDOWN, s, strlen(s), &x);
    assert_string_equal(terms_of(x.body, x.body_len), "a b c d e");
    assert_non_null(memchr(x.body, '&', x.body_len));
    kq_extracted_release(&x);

    /* only the tags of HTML elements are markup, over lines too; script and style hold no
     * text; an inline element's tag does not split a word */
    static const struct {
        const char *in, *terms;
    } cases[] = {
        {"#include <stdio.h> and <Ctrl+Alt+Del>, Press <Enter>, List<T>\n",
         "include stdio h and ctrl alt del press enter list t"},
        {"a <img\n  src=\"x.png\" alt='srconly'\n/> b <a href=q>c</a>\n", "a b c"},
        {"x\n<script type=\"t\">var hidden = 1;\n</script> y\n  <style>p{z:1}</style> w\n", "x y w"},
        {"in prose a <script> tag is a tag: </script>\n", "in prose a tag is a tag"},
        {"where x <b\n\ngiraffe here > and <a href='v\n\nw'>z</a>\n", "where x b giraffe here and a href v w z"},
        {"Ko<b>rea</b>n <br>z a<x b\n", "korean z a x b"},
        {"<script>never closed\nstill\n", "never closed still"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        extract(KQ_FORMAT_MARKDOWN, cases[i].in, strlen(cases[i].in), &x);
        const char *got = terms_of(x.body, x.body_len);
        if (strcmp(got, cases[i].terms))
            fail_msg("%zu: '%s', want '%s'", i, got, cases[i].terms);
        kq_extracted_release(&x);
    }
}

static void test_md_blocks_and_titles(void **state)
{
    (void)state;
    static const struct {
        const char *file, *title;
    } want[] = {
        {C000, "Reciprocating Trust and Reconciling Ambitions in ROK-U.S. Defense Industrial "
               "Cooperation"},
        {C001, "Executive Summary: 2021 CSIS-DAPA Conference"},
        {C002, "From Security Alliance to Comprehensive Technology-Centered Partnership"},
        {C003, ""}, /* the first line is a long paragraph */
        {C004, "The US-South Korea Global Comprehensive Strategic Alliance: Cooperation on "
               "Semiconductor Supply Chains and Technology"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t len;
        char *text = kqt_read_corpus(want[i].file, &len);
        struct kq_extracted x;
        extract(KQ_FORMAT_MARKDOWN, text, len, &x);
        assert_string_equal(x.title, want[i].title);
        assert_int_equal(x.title_in_body, want[i].title[0] != '\0');
        /* every body byte is the source's, a space or a NUL */
        for (size_t k = 0; k < len; k++)
            assert_true(x.body[k] == text[k] || x.body[k] == ' ' || x.body[k] == '\0');
        kq_extracted_release(&x);
        free(text);
    }
    const char *s = "```sh\n# not a title\n```\n> # Real *title* ##\n\n- item _one_\n";
    struct kq_extracted x;
    extract(KQ_FORMAT_MARKDOWN, s, strlen(s), &x);
    assert_string_equal(x.title, "Real title");
    assert_int_equal(x.title_in_body, 1);
    assert_string_equal(terms_of(x.body, x.body_len), "not a title real title item one");
    kq_extracted_release(&x);
    /* titles: a heading's inline markup goes (not inside a word); setext headings; YAML
     * front matter's title first (its fences and keys blanked, its values text) */
    static const struct {
        const char *in, *title, *terms;
    } titles[] = {
        {"# **Alpha** and __Beta__ `kq` *x*\n", "Alpha and Beta kq x", "alpha and beta kq x"},
        {"# Globbing *.txt with the ~ operator, 2 * 3, `a*b*c` and **kwargs\n",
         "Globbing *.txt with the ~ operator, 2 * 3, a*b*c and **kwargs",
         "globbing txt with the operator 2 3 a b c and kwargs"},
        {"# Why C\\# and \\*args, snake_case 2*3*4\n", "Why C# and *args, snake_case 234",
         "why c and args snake case 2 3 4"},
        {"Annual Report\n=============\n\n# Later\n", "Annual Report", "annual report later"},
        {"\nSome *Notes*\n---\nbody\n", "Some Notes", "some notes body"},
        {"text line\nmore text\n---\n", "text line", "text line more text"},
        {"- item\n---\n", "- item", "item"},
        {"---\ntitle: \"Budget Review\"\ntags: [a, b]\n---\n# Heading\ntext\n", "Budget Review",
         "budget review a b heading text"},
        {"\xef\xbb\xbf---\nauthor: me\n...\n# Heading\n", "Heading", "me heading"},
        {"---\ntitle: >-\n  The Real\n  Zebra Title\ndate: 1\n---\nx\n", "The Real Zebra Title",
         "the real zebra title 1 x"},
        {"-----\nSubject: Budget\n-----\n", "Subject: Budget", "subject budget"},
        {"---\nno close\n", "no close", "no close"},
    };
    /* code is literal: an indented block after a blank line (not a list item's text), a
     * fence as deep as a list item's content; its info string is no text */
    const char *code = "para\n\n    <div class=\"widgetbox\">[x](http://cdnhost)</div>\n\nafter\n"
                       "- item\n\n    continued <b>item</b>\n\n  - nested\n\n      ```html\n"
                       "      <p class=\"nestedcls\">\n      ```\n";
    extract(KQ_FORMAT_MARKDOWN, code, strlen(code), &x);
    assert_string_equal(terms_of(x.body, x.body_len),
                        "para div class widgetbox x http cdnhost div after item continued item "
                        "nested p class nestedcls");
    kq_extracted_release(&x);
    for (size_t i = 0; i < sizeof titles / sizeof *titles; i++) {
        extract(KQ_FORMAT_MARKDOWN, titles[i].in, strlen(titles[i].in), &x);
        if (strcmp(x.title, titles[i].title))
            fail_msg("%zu: title '%s', want '%s'", i, x.title, titles[i].title);
        const char *got = terms_of(x.body, x.body_len);
        if (strcmp(got, titles[i].terms))
            fail_msg("%zu: terms '%s', want '%s'", i, got, titles[i].terms);
        kq_extracted_release(&x);
    }
    /* no title: empty input, blank lines only */
    extract(KQ_FORMAT_MARKDOWN, "", 0, &x);
    assert_string_equal(x.title, "");
    assert_int_equal(x.title_in_body, 0);
    kq_extracted_release(&x);
    extract(KQ_FORMAT_MARKDOWN, "\n \n\t\n", 5, &x);
    assert_string_equal(x.title, "");
    kq_extracted_release(&x);
}

static void test_plain(void **state)
{
    (void)state;
    size_t len;
    char *text = kqt_read_corpus(C000, &len);
    struct kq_extracted x;
    extract(KQ_FORMAT_PLAIN, text, len, &x);
    assert_memory_equal(x.body, text, len); /* nothing blanked */
    assert_string_equal(x.title, "Reciprocating Trust and Reconciling Ambitions in ROK-U.S. "
                                 "Defense Industrial Cooperation");
    assert_int_equal(x.title_in_body, 1);
    kq_extracted_release(&x);
    free(text);
    extract(KQ_FORMAT_PLAIN, "  \n  Title\twith   spaces  \nbody", 31, &x);
    assert_string_equal(x.title, "Title with spaces");
    kq_extracted_release(&x);
}

static const char html_doc[] =
    "<!DOCTYPE html>\n<html><head>\n<title>U.S.&ndash;ROK &amp; Korea&#8217;s\n alliance</title>\n"
    "<style>p { color: red }</style><script>var s = \"<p>no</p>\";</script>\n"
    "</head><body><!-- not\nindexed --><h1>Defense <em>cooperation</em></h1>\n"
    "<p class=\"c\" title=\"a > b\">R&amp;D &lt;x&gt; &#x41;&#66; caf&eacute;&nbsp;ok &bogus; "
    "&#0; &#10;</p>\n<a href=\"https://example.com/z\">link text</a></body></html>\n";

static void test_html(void **state)
{
    (void)state;
    struct kq_extracted x;
    extract(KQ_FORMAT_HTML, html_doc, sizeof html_doc - 1, &x);
    assert_string_equal(x.title, "U.S.–ROK & Korea’s alliance");
    assert_int_equal(x.title_in_body, 0);
    assert_string_equal(terms_of(x.body, x.body_len),
                        "defense cooperation r d x ab café ok bogus link text");
    /* an entity's decoded UTF-8 sits at its '&', NUL-padded */
    const char *amp = strstr(html_doc, "R&amp;D");
    size_t off = (size_t)(amp - html_doc);
    assert_memory_equal(x.body + off, "R&\0\0\0\0D", 7);
    const char *ea = strstr(html_doc, "&eacute;");
    assert_memory_equal(x.body + (ea - html_doc), "\xc3\xa9\0\0\0\0\0\0", 8);
    kq_extracted_release(&x);

    /* the title's text in the source: where it starts */
    const char *tt = "<head>\n<title>\n  Wombat Facts</title></head><p>body</p>";
    extract(KQ_FORMAT_HTML, tt, strlen(tt), &x);
    assert_string_equal(x.title, "Wombat Facts");
    assert_int_equal(x.title_src, strstr(tt, "Wombat") - tt);
    kq_extracted_release(&x);

    /* a <title> longer than the 1024 bytes kept: cut as the title, whole in the body */
    char big[1400];
    size_t n = (size_t)snprintf(big, sizeof big, "<title>");
    while (n < 1300)
        n += (size_t)snprintf(big + n, sizeof big - n, "word%zu ", n);
    n += (size_t)snprintf(big + n, sizeof big - n, "last&amp;word</title><p>body</p>");
    extract(KQ_FORMAT_HTML, big, n, &x);
    assert_true(x.title_len <= 1024 && x.title_len > 1000);
    assert_int_equal(x.title_in_body, 1);
    assert_true(x.title_src == SIZE_MAX);
    assert_non_null(strstr(terms_of(x.body, x.body_len), "word7 "));
    assert_non_null(strstr(terms_of(x.body, x.body_len), "last word body"));
    kq_extracted_release(&x);

    /* no <title>: the first <h1>, which is body text */
    const char *s = "<p>intro</p><H1 id=x>First &amp; <b>best</b></H1><h1>Second</h1>";
    extract(KQ_FORMAT_HTML, s, strlen(s), &x);
    assert_string_equal(x.title, "First & best");
    assert_int_equal(x.title_in_body, 1);
    assert_true(x.title_src == SIZE_MAX); /* in the body */
    kq_extracted_release(&x);

    /* <sup> footnote markers go with their content, links in them too; other <sup>s keep
     * their text */
    s = "<p>Korea exports chips.<sup>12</sup> 4<sup>th</sup> x<SUP><a href=\"#f\">3, 4</a></SUP> "
        "y<sup>5";
    extract(KQ_FORMAT_HTML, s, strlen(s), &x);
    assert_string_equal(terms_of(x.body, x.body_len), "korea exports chips 4th x y5");
    kq_extracted_release(&x);

    /* unterminated constructs blank to the end */
    const char *u[] = {"a <script>b c", "a <!-- b c", "a <p title=\"b>c",
                       "a <title>b c",  "a <h1>b c",  "a < b & c &#; &#99999999; &",
                       "a <!doctype b"};
    const char *want[] = {"a", "a", "a", "a", "a b c", "a b c", "a"};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        extract(KQ_FORMAT_HTML, u[i], strlen(u[i]), &x);
        assert_string_equal(terms_of(x.body, x.body_len), want[i]);
        kq_extracted_release(&x);
    }
}

/* Every prefix of the HTML document and of a Markdown corpus line keeps the invariants
 * (each copy exactly sized, so an overread is an ASan report). */
/* The terms of `html`, extracted as HTML. */
static const char *html_terms(const char *html, struct kq_extracted *x)
{
    extract(KQ_FORMAT_HTML, html, strlen(html), x);
    return terms_of(x->body, x->body_len);
}

/* What a browser shows is what is indexed: inline elements inside a word, every named
 * reference of HTML, numeric references to 0x80..0x9F as Windows-1252, comments that end
 * as HTML ends them, <template> content hidden, an empty <title> no title. */
static void test_html_rendering(void **state)
{
    (void)state;
    struct kq_extracted x;
    /* each HTML against the text a browser shows: the same terms */
    static const struct {
        const char *html, *text;
    } cases[] = {
        {"<p>Ko<b>rea</b>n re<EM>inforce</EM>ment super<wbr>cali 19<sup>th</sup></p>",
         "Korean reinforcement supercali 19th"},
        {"<p>one</p><p>two</p>three<br>four<div>five</div><li>six", "one two three four five six"},
        {"<a href=\"#x\">U.S.</a>-ROK <span class=c>Korea</span>'s", "U.S.-ROK Korea's"},
        {"d&oelig;uvre &Scaron;koda &AMP; &rarr; caf&eacute; &nbsp;x&NewLine;y",
         "dœuvre Škoda & → café  x y"},
        {"don&#146;t &#150; &#128;5 &#129;z", "don’t – €5  z"},
        {"a<!-->b<!--->c<!-- x --!>d<!-- y -- >e-->f", "a b c d f"},
        {"<template><p>hidden</p></template>shown", "shown"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char want[256];
        snprintf(want, sizeof want, "%s", terms_of(cases[i].text, strlen(cases[i].text)));
        const char *got = html_terms(cases[i].html, &x);
        if (strcmp(got, want))
            fail_msg("%s: terms '%s', want '%s'", cases[i].html, got, want);
        kq_extracted_release(&x);
    }
    /* an empty title is none: the first <h1> gives it */
    html_terms("<title> &nbsp; </title><h1>Quarterly Heading</h1>body", &x);
    assert_string_equal(x.title, "Quarterly Heading");
    kq_extracted_release(&x);
    /* every named reference of the table decodes (its name gone), in place */
    char buf[64];
    static const char *const names[] = {"AElig", "zwnj", "nGt", "acE", "Afr", "lt", "NotEqualTilde"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(buf, sizeof buf, "x&%s;y", names[i]);
        extract(KQ_FORMAT_HTML, buf, strlen(buf), &x);
        assert_true(x.body[1] != '&');
        assert_null(memchr(x.body + 1, ';', strlen(buf) - 1));
        kq_extracted_release(&x);
    }
    /* an unknown name stays as written */
    assert_string_equal(html_terms("&nosuchname; &amp", &x), "nosuchname amp");
    kq_extracted_release(&x);
}

static void test_truncation_sweep(void **state)
{
    (void)state;
    struct kq_extracted x;
    for (size_t n = 0; n < sizeof html_doc; n++) {
        extract(KQ_FORMAT_HTML, html_doc, n, &x);
        kq_extracted_release(&x);
    }
    char *text = kqt_read_corpus(C002, NULL);
    char *line = kqt_line(text, 130);
    for (size_t n = 0; n <= strlen(line); n++) {
        extract(KQ_FORMAT_MARKDOWN, line, n, &x);
        kq_extracted_release(&x);
    }
    free(line);
    free(text);
}

static void test_alloc_failure_sweep(void **state)
{
    (void)state;
    const struct {
        enum kq_format f;
        const char *s;
    } cases[] = {
        {KQ_FORMAT_PLAIN, "Title\nbody"},
        {KQ_FORMAT_MARKDOWN, "intro\n# Heading *x*\nbody [l](u)"},
        {KQ_FORMAT_HTML, html_doc},
        {KQ_FORMAT_HTML, "<h1>h</h1>"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (long n = 0;; n++) {
            struct kq_extracted x;
            kq_error err;
            kq_alloc_fail_after(n);
            int rc = kq_extract(cases[c].f, cases[c].s, strlen(cases[c].s), &x, &err);
            kq_alloc_fail_after(-1);
            if (rc == 0) {
                assert_true(x.title_len > 0);
                kq_extracted_release(&x);
                break;
            }
            assert_int_equal(rc, KQ_ENOMEM);
            assert_int_equal(err.code, KQ_ENOMEM);
            assert_null(x.body);
            assert_null(x.title);
            assert_true(n < 100);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_for_path),
        cmocka_unit_test(test_md_sup),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_md_links),
        cmocka_unit_test(test_md_refdefs),
        cmocka_unit_test(test_md_autolinks),
        cmocka_unit_test(test_md_inline_html),
        cmocka_unit_test(test_md_blocks_and_titles),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_html_rendering),
        cmocka_unit_test(test_truncation_sweep),
        cmocka_unit_test(test_alloc_failure_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
