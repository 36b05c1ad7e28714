/* tests/text/test_analyze.c: the analyser, rule by rule, on real lines of corpus/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libstemmer.h>
#include <utf8proc.h>

#include "testutil.h"
#include "text/text.h"
#include "util/alloc.h"

#define MAXTOK 4096

struct coll {
    char joined[65536]; /* terms separated by spaces */
    size_t jlen;
    size_t n;
    uint32_t pos[MAXTOK];
    size_t start[MAXTOK], end[MAXTOK];
    int stop_after; /* stop (return 7) after this many tokens; 0: never */
};

static int collect(void *ctx, const struct kq_token *t)
{
    struct coll *c = ctx;
    assert_true(t->len >= 1 && t->len <= KQ_TERM_MAX);
    assert_int_equal(strlen(t->term), t->len);
    assert_true(c->n < MAXTOK);
    assert_true(c->jlen + t->len + 2 < sizeof c->joined);
    if (c->jlen)
        c->joined[c->jlen++] = ' ';
    memcpy(c->joined + c->jlen, t->term, t->len);
    c->jlen += t->len;
    c->joined[c->jlen] = '\0';
    c->pos[c->n] = t->pos;
    c->start[c->n] = t->start;
    c->end[c->n] = t->end;
    c->n++;
    return c->stop_after && (int)c->n >= c->stop_after ? 7 : 0;
}

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

/* Analyses `len` bytes at `s` (a heap copy of exactly that size, so ASan sees overreads)
 * into `c`. Checks the stream invariants. */
static struct coll *run_n(kq_analyzer *a, const char *s, size_t len, int flags)
{
    static struct coll c;
    memset(&c, 0, sizeof c);
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    uint32_t next = 0;
    assert_int_equal(kq_analyze(a, copy, len, 10, flags, collect, &c, &next), 0);
    for (size_t i = 0; i < c.n; i++) {
        assert_true(c.start[i] < c.end[i] && c.end[i] <= len);
        assert_true(c.pos[i] >= 10 && c.pos[i] < next);
        if (i)
            assert_true(c.pos[i] > c.pos[i - 1]);
    }
    free(copy);
    return &c;
}

static struct coll *run(kq_analyzer *a, const char *s, int flags)
{
    return run_n(a, s, strlen(s), flags);
}

/* The terms of `needle`, found in line `n` of corpus file `file` and analysed in place. */
static const char *corpus_terms(kq_analyzer *a, const char *file, int n, const char *needle,
                                int flags)
{
    char *text = kqt_read_corpus(file, NULL);
    char *line = kqt_line(text, n);
    const char *at = strstr(line, needle);
    if (!at)
        fail_msg("'%s' not in %s:%d", needle, file, n);
    struct coll *c = run_n(a, at, strlen(needle), flags);
    free(line);
    free(text);
    return c->joined;
}

#define C000 "000_2d90944b1258bdb7.txt"
#define C001 "001_374e089854da5ecd.txt"
#define C002 "002_5dac5894a5048747.txt"
#define C003 "003_b721ed12405fbad4.txt"
#define C004 "004_0eb3009ce8d47aab.txt"

/* Rule 1: bad UTF-8 separates (U+FFFD is not a letter) and never crashes. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    assert_string_equal(run(none,
                            "ab\xff"
                            "cd \xc0\xafx \xed\xa0\x80y",
                            0)
                            ->joined,
                        "ab cd x y");
    assert_string_equal(run(none, "caf\xc3", 0)->joined, "caf");
    assert_string_equal(run(none, "\xe2\x80", 0)->joined, "");
}

/* Rule 2: superscript footnote markers separate. */
static void test_footnote_superscripts(void **state)
{
    (void)state;
    assert_string_equal(corpus_terms(en, C000, 18, "the UAE.¹ In", 0), "the uae in");
    assert_string_equal(corpus_terms(en, C000, 32, "Ukraine.¹⁰", 0), "ukrain");
    assert_string_equal(run(en, "2027¹ Korea.¹ x²³y", 0)->joined, "2027 korea x y");
}

/* Rule 2: case folding, NFKC, and folding after splitting. */
static void test_folding(void **state)
{
    (void)state;
    assert_string_equal(run(none, "ＦＵＬＬ ﬁne Straße CAFÉ cafe\xcc\x81 ΣΊΣΥΦΟΣ", 0)->joined,
                        "full fine strasse café café σίσυφοσ");
    /* the ASCII fast path and the utf8proc path agree */
    assert_string_equal(run(none, "Alliance ALLIANCE ａｌｌｉａｎｃｅ", 0)->joined,
                        "alliance alliance alliance");
}

/* Rule 2: apostrophes. */
static void test_apostrophes(void **state)
{
    (void)state;
    assert_string_equal(corpus_terms(en, C000, 22, "South Korea’s defense", 0),
                        "south korea defens");
    assert_string_equal(corpus_terms(en, C000, 18, "South Korea's global", 0),
                        "south korea global");
    assert_string_equal(corpus_terms(en, C000, 91, "two countries' defense", 0),
                        "two countri defens");
    assert_string_equal(corpus_terms(en, C000, 126, "Robert O’Rourke,", KQ_ANALYZE_NOSTEM),
                        "robert orourke");
    assert_string_equal(run(none, "o'brien KOREA'S it's 'quoted' rock'n'roll", 0)->joined,
                        "obrien korea it quoted rocknroll");
}

/* Rule 3: dotted acronyms and numbers. */
static void test_acronyms_and_numbers(void **state)
{
    (void)state;
    assert_string_equal(corpus_terms(en, C000, 121, "says N.K. munitions", 0), "say nk munit");
    assert_string_equal(corpus_terms(none, C001, 15, "The U.S.-ROK alliance", 0),
                        "the us rok alliance");
    assert_string_equal(corpus_terms(en, C003, 7, "about $5.2 billion annually", 0),
                        "about 5.2 billion annual");
    assert_string_equal(corpus_terms(en, C000, 79, "of 500,000 ROK", 0), "of 500000 rok");
    assert_string_equal(corpus_terms(en, C000, 10, "2024.05.28", 0), "2024.05.28");
    assert_string_equal(run(none, "U.S.A. e.g.Korea 20.04 5. 2 B.25 A.I", 0)->joined,
                        "usa eg korea 20.04 5 2 b 25 ai");
    /* a dot after a word of two letters ends it */
    assert_string_equal(run(none, "US.A end. Next", 0)->joined, "us a end next");
}

/* Rule 4: hyphenated forms are parts at consecutive positions. */
static void test_hyphens(void **state)
{
    (void)state;
    char *text = kqt_read_corpus(C001, NULL);
    char *line = kqt_line(text, 19);
    const char *at = strstr(line, "into co-production.");
    assert_non_null(at);
    struct coll *c = run_n(en, at, strlen("into co-production."), 0);
    assert_string_equal(c->joined, "into co product");
    assert_int_equal(c->pos[2], c->pos[1] + 1);
    free(line);
    free(text);
    c = run(none, "multi-agent U.S.-ROK", 0);
    assert_string_equal(c->joined, "multi agent us rok");
    for (size_t i = 1; i < c->n; i++)
        assert_int_equal(c->pos[i], c->pos[i - 1] + 1);
}

/* Rule 5: stemming, languages, flags. */
static void test_stemming(void **state)
{
    (void)state;
    const char *s = "Cooperation industries running 2024 alliances";
    assert_string_equal(run(en, s, 0)->joined, "cooper industri run 2024 allianc");
    assert_string_equal(run(en, s, KQ_ANALYZE_NOSTEM)->joined,
                        "cooperation industries running 2024 alliances");
    assert_string_equal(run(none, s, 0)->joined, "cooperation industries running 2024 alliances");
    /* no stopword removal */
    assert_string_equal(run(en, "the and of", 0)->joined, "the and of");

    kq_analyzer *de;
    assert_int_equal(kq_analyzer_new("german", &de, NULL), 0);
    assert_string_equal(kq_analyzer_language(de), "german");
    assert_string_equal(run(de, "Häuser", 0)->joined, "haus");
    kq_analyzer_free(de);
    assert_string_equal(kq_analyzer_language(en), "english");
    assert_string_equal(kq_analyzer_language(none), "none");
}

/* The stem cache is invisible: every term equals a direct Snowball stem of the folded
 * word, on the whole corpus, cold and warm. */
static void test_stem_cache_consistent(void **state)
{
    (void)state;
    struct sb_stemmer *sb = sb_stemmer_new("english", "UTF_8");
    assert_non_null(sb);
    const char *files[] = {C000, C001, C002, C003, C004};
    kq_analyzer *fresh;
    assert_int_equal(kq_analyzer_new("english", &fresh, NULL), 0);
    for (int round = 0; round < 2; round++) {
        for (size_t f = 0; f < 5; f++) {
            size_t len;
            char *text = kqt_read_corpus(files[f], &len);
            for (size_t off = 0; off < len;) {
                size_t chunk = len - off < 3000 ? len - off : 3000;
                while (off + chunk < len && (text[off + chunk] & 0xC0) == 0x80)
                    chunk++;
                static struct coll folded;
                memcpy(&folded, run_n(fresh, text + off, chunk, KQ_ANALYZE_NOSTEM), sizeof folded);
                struct coll *st = run_n(fresh, text + off, chunk, 0);
                assert_int_equal(st->n, folded.n);
                char *save = NULL;
                char *w = strtok_r(folded.joined, " ", &save);
                char *stems = strdup(st->joined);
                char *save2 = NULL;
                char *t = strtok_r(stems, " ", &save2);
                while (w) {
                    assert_non_null(t);
                    int digits = strspn(w, "0123456789.") == strlen(w);
                    int cjk = (unsigned char)w[0] >= 0xE1;
                    if (!digits && !cjk) {
                        const sb_symbol *r =
                            sb_stemmer_stem(sb, (const sb_symbol *)w, (int)strlen(w));
                        char expect[256];
                        snprintf(expect, sizeof expect, "%.*s", sb_stemmer_length(sb),
                                 (const char *)r);
                        assert_string_equal(t, expect);
                    }
                    w = strtok_r(NULL, " ", &save);
                    t = strtok_r(NULL, " ", &save2);
                }
                free(stems);
                off += chunk;
            }
            free(text);
        }
    }
    kq_analyzer_free(fresh);
    sb_stemmer_delete(sb);
}

/* Rule 6: Hangul words, Han/Kana bigrams. */
static void test_hangul(void **state)
{
    (void)state;
    char *text = kqt_read_corpus(C004, NULL);
    char *line = kqt_line(text, 218);
    const char *at = strstr(line, "“반도체 공급망 경쟁에 따른");
    assert_non_null(at);
    struct coll *c = run_n(en, at, strlen("“반도체 공급망 경쟁에 따른"), 0);
    assert_string_equal(c->joined, "반도체 공급망 경쟁에 따른");
    for (size_t i = 1; i < c->n; i++)
        assert_int_equal(c->pos[i], c->pos[i - 1] + 1);
    assert_int_equal(c->start[0], strlen("“"));
    free(line);
    free(text);
    /* a change between Hangul and other letters or digits ends a word */
    assert_string_equal(run(en, "AI반도체 2022년", 0)->joined, "ai 반도체 2022 년");
}

/* ASCII words wait a few words for their stem cache lookup; a word of any other script
 * comes after the ASCII words before it all the same, at consecutive positions. */
static void test_mixed_scripts_in_order(void **state)
{
    (void)state;
    struct coll *c = run(en, "Running 한국어 cats 日本 dogs CAFÉS a b c d e f 한 g h i j k", 0);
    assert_string_equal(c->joined, "run 한국어 cat 日本 dog café a b c d e f 한 g h i j k");
    for (uint32_t i = 0; i < c->n; i++)
        assert_int_equal(c->pos[i], 10 + i);
}

static void test_cjk_bigrams(void **state)
{
    (void)state;
    struct coll *c = run(en, "日本語のテキスト", 0);
    assert_string_equal(c->joined, "日本 本語 語の のテ テキ キス スト");
    for (size_t i = 1; i < c->n; i++) {
        assert_int_equal(c->pos[i], c->pos[i - 1] + 1);
        assert_int_equal(c->start[i], c->start[i - 1] + 3);
    }
    assert_int_equal(c->end[0], 6);
    assert_string_equal(run(en, "中 国家。2022年Tokyo東京", 0)->joined,
                        "中 国家 2022 年 tokyo 東京");
    /* halfwidth Katakana folds to fullwidth */
    assert_string_equal(run(en, "ｶﾀｶﾅ", 0)->joined, "カタ タカ カナ");
}

/* The options text/analyze.c folds with (FOLD_OPTIONS there). */
#define FOLD_OPTIONS (UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_STABLE)

/* Whether utf8proc folds the `len` bytes at `s` to themselves. */
static int folds_to_itself(const uint8_t *s, size_t len)
{
    uint8_t *out = NULL;
    utf8proc_ssize_t n = utf8proc_map(s, (utf8proc_ssize_t)len, &out, FOLD_OPTIONS);
    int same = n == (utf8proc_ssize_t)len && !memcmp(out, s, len);
    free(out);
    return same;
}

/* The analyser takes precomposed Hangul syllables (U+AC00..U+D7A3) for letters without
 * asking utf8proc, and a word of them for its own fold: true of every one of them, alone
 * and next to an LV (가) and an LVT (각) syllable on either side. */
static void test_hangul_syllables_fold_free(void **state)
{
    (void)state;
    const int32_t nb[] = {0xAC00, 0xAC01};
    for (int32_t cp = 0xAC00; cp <= 0xD7A3; cp++) {
        assert_int_equal(utf8proc_category(cp), UTF8PROC_CATEGORY_LO);
        uint8_t s[12];
        size_t n = kq_utf8_encode(cp, s);
        assert_int_equal(n, 3);
        assert_true(folds_to_itself(s, n));
        for (int k = 0; k < 2; k++) {
            kq_utf8_encode(nb[k], s + 3);
            assert_true(folds_to_itself(s, 6));
            kq_utf8_encode(nb[k], s);
            kq_utf8_encode(cp, s + 3);
            assert_true(folds_to_itself(s, 6));
        }
    }
    /* the range ends where it should: U+D7A4 is unassigned, a separator; conjoining and
     * compatibility jamo still fold (to syllables, or to conjoining jamo) */
    assert_string_equal(
        run(none, "힣\xed\x9e\xa4가 \xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab ㄹ", 0)->joined,
        "힣 가 한 \xe1\x84\x85");
    /* a word with anything else than syllables goes through utf8proc, wherever that is: a
     * trailing jamo composes with the syllable before it, a halfwidth letter folds to a
     * conjoining jamo (ﾡ to U+1100) */
    assert_string_equal(
        run(en, "가\xe1\x86\xa8 \xe1\x86\xa8가 한국ﾡ ﾡ한국 한\xcc\x81국 대한민국", 0)->joined,
        "각 \xe1\x86\xa8가 한국\xe1\x84\x80 \xe1\x84\x80한국 한\xcc\x81국 대한민국");
    /* and both kinds, one after the other */
    assert_string_equal(run(en, "가\xe1\x86\xa8 가 각 가\xe1\x86\xa8 한국ﾡ 한국 한국ﾡ", 0)->joined,
                        "각 가 각 각 한국\xe1\x84\x80 한국 한국\xe1\x84\x80");
}

/* Collects each term and its stop flag ("term" or "term*"), space separated. */
static int collect_stop(void *ctx, const struct kq_token *t)
{
    char *out = ctx;
    size_t len = strlen(out);
    assert_true(len + t->len + 3 < 1024);
    snprintf(out + len, 1024 - len, "%s%s%s", len ? " " : "", t->term, t->stop ? "*" : "");
    return 0;
}

static void analyze_stop(kq_analyzer *a, const char *s, int flags, char out[1024])
{
    out[0] = '\0';
    assert_int_equal(kq_analyze(a, s, strlen(s), 0, flags, collect_stop, out, NULL), 0);
}

/* The fold cache is invisible: one analyser, warm, gives for each word what a fresh
 * analyser gives, whatever came before. The words come back many times in both cases, as
 * stop words and not, stemmed and not (flags), among enough other non-ASCII words to evict
 * them; those are checked against utf8proc and Snowball directly. */
static void test_fold_cache_consistent(void **state)
{
    (void)state;
    static const char *const words[] = {
        /* case, accents composed and not, expansions, stemmed or not */
        "É", "é", "Éléphants", "éléphants", "ÉLÉPHANTS", "Cafés", "cafés", "CAFÉS", "cafe\xcc\x81s",
        "Naïveté", "naïveté", "Straße", "STRAẞE", "Häuser", "häuser", "ﬁnancial", "ﬂowers",
        /* fullwidth: stop words once folded (17..20), and not (21) */
        "ＴＨＥ", "Ｔｈｅ", "ｔｈｅ", "ＡＮＤ", "ＲＵＮＮＩＮＧ",
        /* Greek, digits only */
        "ΣΊΣΥΦΟΣ", "σίσυφος", "２０２４", "١٢٣",
        /* Hangul: syllables only, jamo, syllables and other letters */
        "한국어", "한국어를", "대한민국", "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab", "ㄹ", "ᄒᆞᆫ",
        /* CJK units and bigrams */
        "日本語", "學校", "ｶﾀｶﾅ",
        /* a fold too long for an entry (35), a term too long (36), a key too long (37) */
        "ﷺ", "ﷺﷺ", "ÉléphantsÉléphantsÉléphants",
        /* marks only; syllables and other Hangul letters */
        "\xcc\x81\xcc\x81", "가\xe1\x86\xa8", "한국ﾡ", "ﾡ한국"};
    enum { N_WORDS = sizeof words / sizeof *words, N_FLAGS = 4, N_ROUNDS = 24, N_FILL = 48 };
    const int flag_set[N_FLAGS] = {0, KQ_ANALYZE_NOSTEM, KQ_ANALYZE_STOPWORDS,
                                   KQ_ANALYZE_NOSTEM | KQ_ANALYZE_STOPWORDS};
    const char *langs[] = {"english", "german", "none"};
    static char expect[N_WORDS][N_FLAGS][1024];
    char got[1024];
    for (size_t l = 0; l < 3; l++) {
        for (size_t w = 0; w < N_WORDS; w++) {
            for (size_t f = 0; f < N_FLAGS; f++) {
                kq_analyzer *cold;
                assert_int_equal(kq_analyzer_new(langs[l], &cold, NULL), 0);
                analyze_stop(cold, words[w], flag_set[f], expect[w][f]);
                kq_analyzer_free(cold);
            }
        }
        /* the fresh analysers agree with what the words are */
        if (l == 0) {
            assert_string_equal(expect[0][0], "é");
            assert_string_equal(expect[2][0], "éléphant");
            assert_string_equal(expect[2][1], "éléphants");
            assert_string_equal(expect[17][2], "the*");
            assert_string_equal(expect[20][3], "and*");
            assert_string_equal(expect[21][0], "run");
            assert_string_equal(expect[35][1], "صلى الله عليه وسلم");
            assert_string_equal(expect[36][0], "");
        }
        struct sb_stemmer *sb = l < 2 ? sb_stemmer_new(langs[l], "UTF_8") : NULL;
        kq_analyzer *warm;
        assert_int_equal(kq_analyzer_new(langs[l], &warm, NULL), 0);
        uint32_t x = 12345, filler = 0;
        for (int round = 0; round < N_ROUNDS; round++) {
            for (size_t k = 0; k < N_WORDS * N_FLAGS; k++) {
                x = x * 1103515245u + 12345u;
                size_t w = (x >> 8) % N_WORDS, f = (x >> 20) % N_FLAGS;
                analyze_stop(warm, words[w], flag_set[f], got);
                assert_string_equal(got, expect[w][f]);
                /* fillers: "ñ" and consonants, distinct, stemmed by Snowball alone */
                for (int i = 0; i < N_FILL; i++) {
                    char fill[32] = "\xc3\xb1";
                    size_t n = 2;
                    for (uint32_t v = filler++; v; v /= 20)
                        fill[n++] = "bcdfghjklmnpqrstvwxz"[v % 20];
                    fill[n] = '\0';
                    int ff = flag_set[(filler >> 3) % N_FLAGS];
                    analyze_stop(warm, fill, ff, got);
                    if (sb && !(ff & KQ_ANALYZE_NOSTEM)) {
                        const sb_symbol *st = sb_stemmer_stem(sb, (const sb_symbol *)fill, (int)n);
                        assert_int_equal(strlen(got), (size_t)sb_stemmer_length(sb));
                        assert_memory_equal(got, st, strlen(got));
                    } else {
                        assert_string_equal(got, fill);
                    }
                }
            }
        }
        kq_analyzer_free(warm);
        if (sb)
            sb_stemmer_delete(sb);
    }
}

/* Rule 7: overlong terms are dropped but keep their position. */
static void test_term_max(void **state)
{
    (void)state;
    char s[1024];
    memset(s, 'a', KQ_TERM_MAX);
    strcpy(s + KQ_TERM_MAX, " ok");
    struct coll *c = run(none, s, 0);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->pos[1], c->pos[0] + 1);
    memset(s, 'b', KQ_TERM_MAX + 1);
    strcpy(s + KQ_TERM_MAX + 1, " ok");
    c = run(none, s, 0);
    assert_string_equal(c->joined, "ok");
    assert_int_equal(c->pos[0], 11); /* position 10 was used by the dropped term */
    /* a very long run of letters, and of non-ASCII letters */
    memset(s, 'c', 1000);
    strcpy(s + 1000, " ok");
    c = run(en, s, 0);
    assert_string_equal(c->joined, "ok");
    assert_int_equal(c->pos[0], 11);
    s[0] = '\0';
    for (int i = 0; i < 40; i++)
        strcat(s, "é");
    strcat(s, " ok");
    c = run(en, s, 0);
    assert_string_equal(c->joined, "ok");
    assert_int_equal(c->pos[0], 11);
}

/* Rule 8: NUL bytes are ignorable. */
static void test_nul_ignorable(void **state)
{
    (void)state;
    const char s[] = "Ko\0rea U.\0S. 1,\0"
                     "000 \0\0x\0 caf\xc3\xa9\0s";
    struct coll *c = run_n(none, s, sizeof s - 1, 0);
    assert_string_equal(c->joined, "korea us 1000 x cafés");
    assert_int_equal(c->start[0], 0);
    assert_int_equal(c->end[0], 6);
}

static void test_positions_and_stop(void **state)
{
    (void)state;
    struct coll c;
    memset(&c, 0, sizeof c);
    uint32_t next = 0;
    assert_int_equal(kq_analyze(en, "one two three", 13, 100, 0, collect, &c, &next), 0);
    assert_int_equal(c.pos[0], 100);
    assert_int_equal(next, 103);
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    assert_int_equal(kq_analyze(en, "one two three", 13, 0, 0, collect, &c, NULL), 7);
    assert_int_equal(c.n, 2);
    /* empty input */
    assert_int_equal(kq_analyze(en, "", 0, 5, 0, collect, &c, &next), 0);
    assert_int_equal(next, 5);
}

/* Every line of every corpus file keeps the stream invariants (checked in run_n), and
 * the text split into arbitrary pieces never yields a term the whole text does not. */
static void test_whole_corpus(void **state)
{
    (void)state;
    const char *files[] = {C000, C001, C002, C003, C004};
    size_t total = 0;
    for (size_t f = 0; f < 5; f++) {
        size_t len;
        char *text = kqt_read_corpus(files[f], &len);
        for (int n = 1;; n++) {
            const char *p = text;
            for (int i = 1; i < n && p; i++) {
                p = strchr(p, '\n');
                if (p)
                    p++;
            }
            if (!p || !*p)
                break;
            char *line = kqt_line(text, n);
            total += run(en, line, 0)->n;
            free(line);
        }
        free(text);
    }
    assert_true(total > 20000);
}

static void test_languages(void **state)
{
    (void)state;
    kq_analyzer *a = (kq_analyzer *)1;
    kq_error err;
    assert_int_equal(kq_analyzer_new("klingon", &a, &err), KQ_EINVAL);
    assert_null(a);
    assert_non_null(strstr(err.msg, "klingon"));
    assert_true(kq_language_valid("english"));
    assert_true(kq_language_valid("none"));
    assert_true(kq_language_valid(NULL));
    assert_false(kq_language_valid("klingon"));
    assert_false(kq_language_valid(""));
    assert_int_equal(kq_analyzer_new(NULL, &a, NULL), 0);
    assert_string_equal(kq_analyzer_language(a), "english");
    kq_analyzer_free(a);
    kq_analyzer_free(NULL);
}

static void test_alloc_failure_sweep(void **state)
{
    (void)state;
    const char *langs[] = {"english", "none"};
    for (int l = 0; l < 2; l++) {
        for (long n = 0;; n++) {
            kq_alloc_fail_after(n);
            kq_analyzer *a = NULL;
            kq_error err;
            int rc = kq_analyzer_new(langs[l], &a, &err);
            kq_alloc_fail_after(-1);
            if (rc == 0) {
                assert_string_equal(run(a, "Korea's U.S.-ROK 日本語", 0)->joined,
                                    l ? "korea us rok 日本 本語" : "korea us rok 日本 本語");
                kq_analyzer_free(a);
                break;
            }
            assert_int_equal(rc, KQ_ENOMEM);
            assert_int_equal(err.code, KQ_ENOMEM);
            assert_null(a);
            assert_true(n < 100);
        }
    }
    /* analysing allocates nothing through the hook */
    kq_alloc_fail_after(0);
    assert_string_equal(run(en, "Allocation free analysis ＦＵＬＬ", 0)->joined,
                        "alloc free analysi full");
    kq_alloc_fail_after(-1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_footnote_superscripts),
        cmocka_unit_test(test_folding),
        cmocka_unit_test(test_apostrophes),
        cmocka_unit_test(test_acronyms_and_numbers),
        cmocka_unit_test(test_hyphens),
        cmocka_unit_test(test_stemming),
        cmocka_unit_test(test_stem_cache_consistent),
        cmocka_unit_test(test_hangul),
        cmocka_unit_test(test_cjk_bigrams),
        cmocka_unit_test(test_mixed_scripts_in_order),
        cmocka_unit_test(test_hangul_syllables_fold_free),
        cmocka_unit_test(test_fold_cache_consistent),
        cmocka_unit_test(test_term_max),
        cmocka_unit_test(test_nul_ignorable),
        cmocka_unit_test(test_positions_and_stop),
        cmocka_unit_test(test_whole_corpus),
        cmocka_unit_test(test_languages),
        cmocka_unit_test(test_alloc_failure_sweep),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
