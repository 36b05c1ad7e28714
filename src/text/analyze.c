/* text/analyze.c: the analyser, bytes in, terms with positions out.
 *
 * One pass over the input, one code point at a time, classifies each code point by its
 * Unicode category (utf8proc) and script, and groups them into words:
 *
 *   - a word is a run of letters (L*), marks (M*) and decimal digits (Nd); everything else
 *     separates, superscript and other numbers (No) included, so `Korea.¹` gives `korea`;
 *   - NUL and a few invisible format characters (soft hyphen, ZWJ, ZWNJ, word joiner, BOM)
 *     are ignorable: skipped without ending the word;
 *   - an apostrophe (' or U+2019) between two letters is word-internal and dropped; a
 *     trailing possessive 's is removed (Korea's, Korea’s -> korea);
 *   - a dot or comma between two digits is word-internal: the dot is kept (5.2), the comma
 *     dropped (1,000 -> 1000);
 *   - single letters separated by dots (U.S., N.K., U.S.A.) form one word, dots dropped;
 *   - Hangul letters form words of their own (a change between Hangul and other letters
 *     or digits ends the word); Han and Kana runs give overlapping bigrams (a run of one
 *     character gives a unigram), each bigram its own position;
 *   - a word is NFKC case folded (ASCII words directly), then stemmed unless it holds no
 *     letter, is Hangul/CJK, or the analyser has no stemmer / KQ_ANALYZE_NOSTEM is set.
 *
 * Two caches keep the per-word cost down, both invisible in the output: the stem cache
 * (ASCII words, lowercased, to their stem) and the fold cache (other words, raw, to their
 * final term). A word of precomposed Hangul syllables needs neither: it is its own fold.
 *
 * Invariants: every emitted term is 1..KQ_TERM_MAX bytes and NUL-terminated; positions
 * strictly increase; a term that comes out longer than KQ_TERM_MAX (or a raw word longer
 * than RAW_CAP bytes) is dropped but still uses its position; [start, end) lies within the
 * input with start < end. No allocation happens during kq_analyze (buffers live in the
 * analyser), except inside libstemmer, whose failure is reported as KQ_ENOMEM.
 */
#include <assert.h>
#include <libstemmer.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "text/text.h"
#include "util/alloc.h"
#include "util/error.h"

/* A raw word longer than this is dropped without folding. NFKC shrinks text by at most a
 * factor of 3 (Hangul jamo L+V+T compose to one syllable) and stemming removes a handful
 * of bytes, so nothing longer can fold to KQ_TERM_MAX bytes or less. */
#define RAW_CAP 512
/* The longest NFKC case-folded expansion of one code point is 18 (U+FDFA). */
#define CPS_CAP ((utf8proc_ssize_t)RAW_CAP * 18)
/* Above this many folded bytes stemming cannot bring a term down to KQ_TERM_MAX. */
#define STEM_MAX ((size_t)4 * KQ_TERM_MAX)
/* Stem cache: two-way set associative (the way hit last first), for ASCII words of at most
 * STEM_CACHE_KEY bytes. Snowball costs ~1 us a word and prose is Zipfian, so most words
 * hit; two ways of 16384 sets miss a third as often as one way of 8192 on SciFact. An
 * entry is 32 bytes, 1 MiB an analyser (touched as it fills), which a core's L2 cache
 * mostly holds: with 48-byte entries for words up to 23 bytes, loading the entry was half
 * the cost of a word, and kq-index used 7% more CPU on English Wikipedia. (A small
 * direct-mapped table of hot words in front of it was slower: the misses it saves are not
 * the ones that cost.) */
#define STEM_CACHE_SETS ((size_t)16384) /* a power of two */
#define STEM_CACHE_SIZE (2 * STEM_CACHE_SETS)
#define STEM_CACHE_KEY 15
/* Fold cache: the final term of a non-ASCII word (NFKC case folded, then stemmed when the
 * word is), keyed on its raw bytes and whether it is stemmed, for words of at most
 * FOLD_CACHE_KEY bytes giving a term of at most FOLD_CACHE_VAL; two-way set associative
 * like the stem cache, one 64-byte entry a word, 512 KiB an analyser (touched as it fills).
 * utf8proc's fold (decompose, compose, reencode) took 30% of kq-index's instructions on
 * Korean Wikipedia. Words of precomposed Hangul syllables, the bulk of Korean, need no
 * fold and skip the cache (F_SELF); what is left there (Hanja units and bigrams, Greek
 * letters, accented Latin) is 1.5% of the words, 68k distinct in 142k: 4096 sets hit 32%
 * of them, 16384 sets 40%. */
#define FOLD_CACHE_SETS ((size_t)4096) /* a power of two */
#define FOLD_CACHE_SIZE (2 * FOLD_CACHE_SETS)
#define FOLD_CACHE_KEY 30
#define FOLD_CACHE_VAL 31

/* ASCII words wait PEND_LAG words between lowercasing, when their stem cache set is
 * prefetched, and the lookup: the set is rarely in the L1 or L2 cache, and its load was
 * half the cost of a word. PEND_CAP, a power of two, holds them. */
#define PEND_LAG 4
#define PEND_CAP 8

/* A CJK unit is one base character and the marks after it. */
#define UNIT_CAP 32

#define FOLD_OPTIONS (UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_STABLE)

/* Character classes. */
enum {
    C_SEP = 0, /* separator */
    C_IGN,     /* ignorable: skipped, never splits a word */
    C_LET,     /* letter of an alphabetic script */
    C_DIG,     /* decimal digit */
    C_MARK,    /* combining mark: extends what precedes it */
    C_HANGUL,  /* Hangul letter */
    C_CJK,     /* Han, Hiragana or Katakana letter */
    C_APOS,    /* ' or U+2019 */
    C_DOT,     /* . */
    C_COMMA,   /* , */
};

/* Word classes: what the word being built is made of. */
enum { W_NONE = 0, W_REG, W_HANGUL, W_CJK };

/* How a non-ASCII word folds: NFKC case folding (utf8proc), or not at all. */
enum { F_NFKC = 1, F_SELF };

struct cjk_unit {
    size_t start, end; /* source bytes */
    uint8_t raw[UNIT_CAP];
    size_t len;
    int overflow;
};

struct stem_entry {
    uint8_t klen, vlen; /* klen 0: empty */
    uint8_t key[STEM_CACHE_KEY];
    uint8_t val[STEM_CACHE_KEY];
};
_Static_assert(sizeof(struct stem_entry) == 32, "a stem cache entry is 32 bytes");

enum { FOLD_STEM = 1, FOLD_STOP = 2 };

struct fold_entry {
    uint8_t klen, vlen; /* klen 0: empty */
    uint8_t flags;      /* FOLD_STEM: the key was stemmed; FOLD_STOP: its fold is a stop word */
    uint8_t key[FOLD_CACHE_KEY];
    uint8_t val[FOLD_CACHE_VAL];
};
_Static_assert(sizeof(struct fold_entry) == 64, "a fold cache entry is 64 bytes");

struct kq_analyzer {
    struct sb_stemmer *stemmer; /* NULL for "none" */
    struct stem_entry *cache;   /* STEM_CACHE_SIZE entries when stemmer != NULL */
    struct fold_entry *fold;    /* FOLD_CACHE_SIZE entries */
    char language[32];
    const char *const *stops; /* the language's stop words (kq__stopword_list) */
    size_t n_stops;
    int32_t *cps; /* CPS_CAP + 1 entries: utf8proc's work buffer */
    uint8_t term[KQ_TERM_MAX + 1];
    /* ASCII words lowercased but not yet looked up (queue_ascii) */
    struct pending_word {
        uint8_t w[STEM_MAX];
        size_t len, start, end;
        uint32_t pos, hash;
        int stem;
    } pend[PEND_CAP];
    uint32_t pend_head, pend_n;

    /* the word being built (reset by each kq_analyze call) */
    uint8_t raw[RAW_CAP];
    size_t raw_len;
    int overflow;
    int ascii;       /* every raw byte < 0x80 */
    int syllables;   /* a W_HANGUL word: only precomposed syllables (the run in kq_analyze) */
    int has_letter;  /* holds at least one letter */
    size_t apos_off; /* raw_len after the last internal apostrophe; SIZE_MAX when none */
    struct cjk_unit prev, cur;
    uint32_t n_units;
};

/* Classes of ASCII bytes. */
#define L C_LET
#define D C_DIG
#define S C_SEP
static const uint8_t ascii_class[128] = {
    C_IGN, S, S, S, S, S, S, S,      S, S, S, S, S,       S, S,     S, /* 0x00 */
    S,     S, S, S, S, S, S, S,      S, S, S, S, S,       S, S,     S, /* 0x10 */
    S,     S, S, S, S, S, S, C_APOS, S, S, S, S, C_COMMA, S, C_DOT, S, /* 0x20 */
    D,     D, D, D, D, D, D, D,      D, D, S, S, S,       S, S,     S, /* 0x30 */
    S,     L, L, L, L, L, L, L,      L, L, L, L, L,       L, L,     L, /* 0x40 */
    L,     L, L, L, L, L, L, L,      L, L, L, S, S,       S, S,     S, /* 0x50 */
    S,     L, L, L, L, L, L, L,      L, L, L, L, L,       L, L,     L, /* 0x60 */
    L,     L, L, L, L, L, L, L,      L, L, L, S, S,       S, S,     S, /* 0x70 */
};
#undef L
#undef D
#undef S

static int is_hangul(int32_t cp)
{
    return (cp >= 0xAC00 && cp <= 0xD7FF) || (cp >= 0x1100 && cp <= 0x11FF) ||
           (cp >= 0x3130 && cp <= 0x318F) || (cp >= 0xA960 && cp <= 0xA97F) ||
           (cp >= 0xFFA0 && cp <= 0xFFDC);
}

static int is_cjk(int32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || /* CJK unified ideographs */
           (cp >= 0x3400 && cp <= 0x4DBF) || /* extension A */
           (cp >= 0x3040 && cp <= 0x30FF) || /* Hiragana, Katakana */
           (cp >= 0x31F0 && cp <= 0x31FF) || /* Katakana phonetic extensions */
           (cp >= 0x3005 && cp <= 0x3007) || /* iteration mark, ideographic zero */
           (cp >= 0x2E80 && cp <= 0x2FDF) || /* radicals */
           (cp >= 0xF900 && cp <= 0xFAFF) || /* compatibility ideographs */
           (cp >= 0xFF66 && cp <= 0xFF9F) || /* halfwidth Katakana */
           (cp >= 0x20000 && cp <= 0x3FFFF); /* supplementary ideographic planes */
}

static int classify(int32_t cp)
{
    if (cp < 0x80)
        return ascii_class[cp];
    switch (cp) {
    case 0x2019:
        return C_APOS;
    case 0x00AD: /* soft hyphen */
    case 0x200C: /* zero width non-joiner */
    case 0x200D: /* zero width joiner */
    case 0x2060: /* word joiner */
    case 0xFEFF: /* byte order mark */
        return C_IGN;
    }
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        if (is_hangul(cp))
            return C_HANGUL;
        if (is_cjk(cp))
            return C_CJK;
        return C_LET;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
        return C_MARK;
    case UTF8PROC_CATEGORY_ND:
        return C_DIG;
    default:
        return C_SEP;
    }
}

/* The length of the precomposed Hangul syllable (U+AC00..U+D7A3) at s[i] (i < len), or 0. */
static inline size_t syllable_at(const uint8_t *s, size_t len, size_t i)
{
    if (len - i < 3 || s[i] < 0xEA || s[i] > 0xED || (s[i + 1] & 0xC0) != 0x80 ||
        (s[i + 2] & 0xC0) != 0x80)
        return 0;
    uint32_t cp = (uint32_t)(s[i] & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 |
                  (uint32_t)(s[i + 2] & 0x3F);
    return cp >= 0xAC00 && cp <= 0xD7A3 ? 3 : 0;
}

/* Decodes the code point at s[i] (i < len) into its class; `*n` gets its length. */
static inline int class_at(const uint8_t *s, size_t len, size_t i, size_t *n)
{
    if (s[i] < 0x80) {
        *n = 1;
        return ascii_class[s[i]];
    }
    return classify(kq_utf8_decode(s + i, s + len, n));
}

/* The class of the first non-ignorable code point at or after `i` (C_SEP at the end);
 * `*at` receives its offset and `*n` its length. */
static int peek(const uint8_t *s, size_t len, size_t i, size_t *at, size_t *n)
{
    while (i < len) {
        int c = class_at(s, len, i, n);
        if (c != C_IGN) {
            *at = i;
            return c;
        }
        i += *n;
    }
    *at = len;
    *n = 0;
    return C_SEP;
}

static const char *const *stemmer_names(void)
{
    return (const char *const *)sb_stemmer_list();
}

int kq_language_valid(const char *language)
{
    if (!language)
        return 1;
    if (!strcmp(language, "none"))
        return 1;
    if (strlen(language) >= sizeof((struct kq_analyzer *)0)->language)
        return 0;
    for (const char *const *p = stemmer_names(); *p; p++)
        if (!strcmp(*p, language))
            return 1;
    return 0;
}

int kq_analyzer_new(const char *language, kq_analyzer **out, kq_error *err)
{
    *out = NULL;
    if (!language)
        language = "english";
    if (!kq_language_valid(language))
        return kq__error(err, KQ_EINVAL, -1,
                         "unknown language '%.64s' (use 'none' or a "
                         "Snowball language such as 'english')",
                         language);
    kq_analyzer *a = kq__calloc(1, sizeof *a);
    if (!a)
        return kq__enomem(err);
    a->cps = kq__malloc((CPS_CAP + 1) * sizeof *a->cps);
    if (!a->cps)
        goto nomem;
    a->fold = kq__calloc(FOLD_CACHE_SIZE, sizeof *a->fold);
    if (!a->fold)
        goto nomem;
    if (strcmp(language, "none")) {
        a->cache = kq__calloc(STEM_CACHE_SIZE, sizeof *a->cache);
        if (!a->cache)
            goto nomem;
        a->stemmer = sb_stemmer_new(language, "UTF_8");
        if (!a->stemmer)
            goto nomem; /* the name is valid: only allocation can fail */
    }
    snprintf(a->language, sizeof a->language, "%s", language); /* fits: checked above */
    a->stops = kq__stopword_list(language, &a->n_stops);
    *out = a;
    return 0;
nomem:
    kq_analyzer_free(a);
    return kq__enomem(err);
}

void kq_analyzer_prefault(kq_analyzer *a)
{
    kq__prefault(a->fold, FOLD_CACHE_SIZE * sizeof *a->fold);
    if (a->cache)
        kq__prefault(a->cache, STEM_CACHE_SIZE * sizeof *a->cache);
}

void kq_analyzer_free(kq_analyzer *a)
{
    if (!a)
        return;
    if (a->stemmer)
        sb_stemmer_delete(a->stemmer);
    kq__free(a->cache);
    kq__free(a->fold);
    kq__free(a->cps);
    kq__free(a);
}

size_t kq_analyzer_memory(const kq_analyzer *a)
{
    return sizeof *a + (CPS_CAP + 1) * sizeof *a->cps + FOLD_CACHE_SIZE * sizeof *a->fold +
           (a->cache ? STEM_CACHE_SIZE * sizeof *a->cache : 0);
}

const char *kq_analyzer_language(const kq_analyzer *a)
{
    return a->language;
}

/* ---- emitting terms ---- */

struct run {
    kq_analyzer *a;
    int stem;
    int stops; /* KQ_ANALYZE_STOPWORDS */
    kq_token_fn fn;
    void *ctx;
    uint32_t pos;
};

/* NFKC case folds `len` bytes at `p` into a->cps (reused as a byte buffer). Returns the
 * folded length, or -1 when the result is unusable (too long); `*out` points at it. */
static long fold_unicode(kq_analyzer *a, const uint8_t *p, size_t len, const uint8_t **out)
{
    utf8proc_ssize_t n =
        utf8proc_decompose(p, (utf8proc_ssize_t)len, a->cps, CPS_CAP, FOLD_OPTIONS);
    if (n < 0 || n > CPS_CAP)
        return -1;
    n = utf8proc_reencode(a->cps, n, FOLD_OPTIONS);
    if (n < 0)
        return -1;
    *out = (const uint8_t *)a->cps;
    return (long)n;
}

#ifndef NDEBUG
/* Nonzero when the `len` bytes at `p` are precomposed Hangul syllables only. NFKC case
 * folding leaves such a word (F_SELF) as it is: a syllable has no case and no
 * compatibility mapping, decomposes canonically into jamo of combining class 0, and those
 * compose back into the same syllable and never with a neighbouring one (a unit test
 * checks every syllable, alone and next to others). */
static int fold_free(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i += 3)
        if (!syllable_at(p, len, i))
            return 0;
    return 1;
}
#endif

/* Stems the `*len` bytes at `*t` with Snowball: `*t` and `*len` become the stem (valid
 * until the stemmer's next use; the word itself when Snowball gives nothing). Returns 0 or
 * KQ_ENOMEM. */
static int snowball(kq_analyzer *a, const uint8_t **t, size_t *len)
{
    const sb_symbol *st = sb_stemmer_stem(a->stemmer, *t, (int)*len);
    if (!st)
        return KQ_ENOMEM;
    int sl = sb_stemmer_length(a->stemmer);
    if (sl > 0) {
        *t = st;
        *len = (size_t)sl;
    }
    return 0;
}

/* The term of the non-ASCII word of `len` bytes at `p`: as it is (F_SELF), or through the
 * fold cache, NFKC case folded then stemmed when `stem` and the run stems (F_NFKC). Sets
 * `*t` (valid until the analyser's next use), `*tlen` and `*stop`. Returns 1, 0 when the
 * word gives no term, or KQ_ENOMEM. */
static int fold_word(struct run *r, const uint8_t *p, size_t len, int fold, int stem,
                     const uint8_t **t, size_t *tlen, int *stop)
{
    kq_analyzer *a = r->a;
    if (fold == F_SELF) {
        assert(!stem && fold_free(p, len));
        *t = p;
        *tlen = len;
        *stop = r->stops && kq__stopword(a->stops, a->n_stops, (const char *)p, len);
        return 1;
    }
    uint8_t flags = stem && r->stem ? FOLD_STEM : 0;
    struct fold_entry *fe = NULL;
    if (len <= FOLD_CACHE_KEY) {
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < len; i++)
            h = (h ^ p[i]) * 16777619u;
        struct fold_entry *set = &a->fold[2 * ((h ^ (h >> 15)) & (FOLD_CACHE_SETS - 1))];
        if (set[0].klen == len && (set[0].flags & FOLD_STEM) == flags &&
            !memcmp(set[0].key, p, len)) {
            fe = &set[0];
        } else if (set[1].klen == len && (set[1].flags & FOLD_STEM) == flags &&
                   !memcmp(set[1].key, p, len)) {
            struct fold_entry x = set[1]; /* most recent first */
            set[1] = set[0];
            set[0] = x;
            fe = &set[0];
        } else {
            set[1] = set[0];
            set[0].klen = 0;
            fe = &set[0];
        }
        if (fe->klen) {
            *t = fe->val;
            *tlen = fe->vlen;
            *stop = r->stops && (fe->flags & FOLD_STOP);
            return 1;
        }
    }
    const uint8_t *f;
    long n = fold_unicode(a, p, len, &f);
    if (n <= 0)
        return 0;
    size_t flen = (size_t)n;
    /* whether asked for or not: the entry serves every run */
    int stopword = kq__stopword(a->stops, a->n_stops, (const char *)f, flen);
    if (flags && flen <= STEM_MAX && snowball(a, &f, &flen))
        return KQ_ENOMEM;
    if (fe && flen <= FOLD_CACHE_VAL) {
        fe->klen = (uint8_t)len;
        fe->vlen = (uint8_t)flen;
        fe->flags = (uint8_t)(flags | (stopword ? FOLD_STOP : 0));
        memcpy(fe->key, p, len);
        memcpy(fe->val, f, flen);
    }
    *t = f;
    *tlen = flen;
    *stop = r->stops && stopword;
    return 1;
}

/* Hands the term of `tlen` bytes at `t` to the callback (a term too long uses its position
 * only). Returns 0 or the callback's value. */
static int emit_term(struct run *r, const uint8_t *t, size_t tlen, uint32_t pos, size_t start,
                     size_t end, int stop)
{
    kq_analyzer *a = r->a;
    if (tlen == 0 || tlen > KQ_TERM_MAX)
        return 0;
    memcpy(a->term, t, tlen);
    a->term[tlen] = '\0';
    struct kq_token tok = {(const char *)a->term, tlen, pos, start, end, stop};
    return r->fn(r->ctx, &tok);
}

/* The stem cache set of a word whose hash is `h`: two entries. */
static inline struct stem_entry *stem_set(kq_analyzer *a, uint32_t h)
{
    return &a->cache[2 * ((h ^ (h >> 15)) & (STEM_CACHE_SETS - 1))];
}

/* Stems (through the stem cache) and delivers a queued ASCII word. Returns 0, a callback's
 * value or KQ_ENOMEM. */
static int deliver_ascii(struct run *r, const struct pending_word *pw)
{
    kq_analyzer *a = r->a;
    const uint8_t *t = pw->w;
    size_t tlen = pw->len;
    int stem = pw->stem && r->stem;
    struct stem_entry *ce = NULL;
    int stop = r->stops && kq__stopword(a->stops, a->n_stops, (const char *)t, tlen);
    if (stem && tlen <= STEM_CACHE_KEY) {
        struct stem_entry *set = stem_set(a, pw->hash);
        if (set[0].klen == tlen && !memcmp(set[0].key, t, tlen)) {
            ce = &set[0];
        } else if (set[1].klen == tlen && !memcmp(set[1].key, t, tlen)) {
            struct stem_entry x = set[1]; /* most recent first */
            set[1] = set[0];
            set[0] = x;
            ce = &set[0];
        } else {
            set[1] = set[0]; /* the older way goes; the new word will go first */
            set[0].klen = 0;
            ce = &set[0];
        }
        if (ce->klen)
            return emit_term(r, ce->val, ce->vlen, pw->pos, pw->start, pw->end, stop);
    }
    if (stem && tlen <= STEM_MAX) {
        const uint8_t *st = t;
        size_t sl = tlen;
        if (snowball(a, &st, &sl))
            return KQ_ENOMEM;
        if (ce && sl <= STEM_CACHE_KEY) {
            ce->klen = (uint8_t)tlen;
            memcpy(ce->key, t, tlen);
            ce->vlen = (uint8_t)sl;
            memcpy(ce->val, st, sl);
        }
        t = st;
        tlen = sl;
    }
    return emit_term(r, t, tlen, pw->pos, pw->start, pw->end, stop);
}

/* Delivers the word queued first. */
static int deliver_oldest(struct run *r)
{
    kq_analyzer *a = r->a;
    int rc = deliver_ascii(r, &a->pend[a->pend_head]);
    a->pend_head = (a->pend_head + 1) & (PEND_CAP - 1);
    a->pend_n--;
    return rc;
}

/* Delivers every queued word, in order. */
static int drain(struct run *r)
{
    int rc = 0;
    while (r->a->pend_n && !rc)
        rc = deliver_oldest(r);
    return rc;
}

/* Lowercases the ASCII word of `len` bytes at `p` into the queue, prefetches its stem cache
 * set, and delivers the word queued PEND_LAG words before. `stem`: the word may be
 * stemmed. Uses one position, delivered or not. */
static int queue_ascii(struct run *r, const uint8_t *p, size_t len, int stem, size_t start,
                       size_t end)
{
    kq_analyzer *a = r->a;
    uint32_t pos = r->pos++;
    if (len > STEM_MAX || (!stem && len > KQ_TERM_MAX))
        return 0;
    struct pending_word *pw = &a->pend[(a->pend_head + a->pend_n) & (PEND_CAP - 1)];
    /* An ASCII word holds letters, digits and the dots of numbers: bit 5 makes a letter
     * lower case and is set in the others, so eight bytes are lowercased at once, and
     * hashed at once for the stem cache. */
    const uint64_t lower = 0x2020202020202020ull, m = 0x9E3779B97F4A7C15ull;
    uint64_t h = m * (len + 1), x;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&x, p + i, 8);
        x |= lower;
        memcpy(pw->w + i, &x, 8);
        h = (h ^ x) * m;
        h ^= h >> 29;
    }
    if (i < len) {
        x = 0;
        for (unsigned k = 0; i + k < len; k++) {
            uint8_t c = p[i + k] | 0x20;
            pw->w[i + k] = c;
            x |= (uint64_t)c << (8 * k);
        }
        h = (h ^ x) * 0xBF58476D1CE4E5B9ull;
    }
    h ^= h >> 31;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 32;
    pw->len = len;
    pw->start = start;
    pw->end = end;
    pw->pos = pos;
    pw->hash = (uint32_t)h;
    pw->stem = stem;
    if (stem && r->stem && len <= STEM_CACHE_KEY)
        __builtin_prefetch(stem_set(a, pw->hash));
    return ++a->pend_n <= PEND_LAG ? 0 : deliver_oldest(r);
}

/* Folds and delivers one non-ASCII term built from `len` raw bytes (valid UTF-8) at `p`,
 * after the queued ASCII words. `fold`: F_NFKC or F_SELF; `stem`: the term may be stemmed.
 * Uses one position, delivered or not. Returns 0, a callback's value or KQ_ENOMEM. */
static int deliver(struct run *r, const uint8_t *p, size_t len, int fold, int stem, size_t start,
                   size_t end)
{
    int rc = drain(r);
    if (rc)
        return rc;
    uint32_t pos = r->pos++;
    const uint8_t *t;
    size_t tlen;
    int stop;
    rc = fold_word(r, p, len, fold, stem, &t, &tlen, &stop);
    if (rc <= 0)
        return rc;
    return emit_term(r, t, tlen, pos, start, end, stop);
}

static int emit_word(struct run *r, int wclass, size_t start, size_t end)
{
    kq_analyzer *a = r->a;
    if (a->overflow) {
        r->pos++;
        return 0;
    }
    size_t len = a->raw_len;
    /* possessive: an internal apostrophe followed by a final s */
    if (a->apos_off != SIZE_MAX && len == a->apos_off + 1 &&
        (a->raw[a->apos_off] == 's' || a->raw[a->apos_off] == 'S'))
        len = a->apos_off;
    if (len == 0)
        return 0;
    int stem = wclass == W_REG && a->has_letter;
    if (a->ascii)
        return queue_ascii(r, a->raw, len, stem, start, end);
    int fold = wclass == W_HANGUL && a->syllables ? F_SELF : F_NFKC;
    return deliver(r, a->raw, len, fold, stem, start, end);
}

/* Emits the bigram of the previous and current CJK units. */
static int emit_bigram(struct run *r)
{
    kq_analyzer *a = r->a;
    if (a->prev.overflow || a->cur.overflow) {
        r->pos++;
        return 0;
    }
    uint8_t buf[2 * UNIT_CAP];
    memcpy(buf, a->prev.raw, a->prev.len);
    memcpy(buf + a->prev.len, a->cur.raw, a->cur.len);
    return deliver(r, buf, a->prev.len + a->cur.len, F_NFKC, 0, a->prev.start, a->cur.end);
}

/* Closes the current CJK unit: emits the bigram ending with it, and makes it previous. */
static int close_unit(struct run *r)
{
    kq_analyzer *a = r->a;
    int rc = 0;
    if (a->n_units++ > 0)
        rc = emit_bigram(r);
    a->prev = a->cur;
    return rc;
}

static int end_cjk_run(struct run *r)
{
    kq_analyzer *a = r->a;
    int rc = close_unit(r);
    if (rc)
        return rc;
    if (a->n_units == 1) {
        if (a->prev.overflow) {
            r->pos++;
            return 0;
        }
        return deliver(r, a->prev.raw, a->prev.len, F_NFKC, 0, a->prev.start, a->prev.end);
    }
    return 0;
}

static inline void raw_add(kq_analyzer *a, const uint8_t *p, size_t n)
{
    if (a->raw_len + n > RAW_CAP) {
        a->overflow = 1;
        return;
    }
    if (n == 1) {
        a->raw[a->raw_len++] = p[0];
    } else {
        memcpy(a->raw + a->raw_len, p, n);
        a->raw_len += n;
        a->ascii = 0;
        a->syllables = 0;
    }
}

static void unit_start(struct cjk_unit *u, const uint8_t *s, size_t i, size_t n)
{
    u->start = i;
    u->end = i + n;
    u->overflow = 0;
    memcpy(u->raw, s + i, n); /* n <= 4 < UNIT_CAP */
    u->len = n;
}

static void unit_add(struct cjk_unit *u, const uint8_t *s, size_t i, size_t n)
{
    u->end = i + n;
    if (u->len + n > UNIT_CAP) {
        u->overflow = 1;
        return;
    }
    memcpy(u->raw + u->len, s + i, n);
    u->len += n;
}

int kq_analyze(kq_analyzer *a, const char *text, size_t len, uint32_t pos0, int flags,
               kq_token_fn fn, void *ctx, uint32_t *next_pos)
{
    const uint8_t *s = (const uint8_t *)text;
    struct run r = {a, a->stemmer && !(flags & KQ_ANALYZE_NOSTEM),
                    (flags & KQ_ANALYZE_STOPWORDS) && a->n_stops, fn, ctx, pos0};
    int wclass = W_NONE;
    size_t wstart = 0, wend = 0; /* source range of the word being built */
    int last = C_SEP;            /* class of the last letter or digit of the word */
    int acro = 0;                /* the word so far is single letters separated by dots */
    size_t comp_len = 0;         /* letters/digits since the last acronym dot */
    int rc = 0;
    a->pend_head = a->pend_n = 0; /* what an aborted call left */
    size_t i = 0;

#define FLUSH()                                                                                    \
    do {                                                                                           \
        if (wclass == W_CJK)                                                                       \
            rc = end_cjk_run(&r);                                                                  \
        else if (wclass != W_NONE)                                                                 \
            rc = emit_word(&r, wclass, wstart, wend);                                              \
        wclass = W_NONE;                                                                           \
        if (rc)                                                                                    \
            goto out;                                                                              \
    } while (0)

#define START_WORD(wc)                                                                             \
    do {                                                                                           \
        wclass = (wc);                                                                             \
        wstart = i;                                                                                \
        a->raw_len = 0;                                                                            \
        a->overflow = 0;                                                                           \
        a->ascii = 1;                                                                              \
        a->has_letter = 0;                                                                         \
        a->apos_off = SIZE_MAX;                                                                    \
        acro = 1;                                                                                  \
        comp_len = 0;                                                                              \
        last = C_SEP;                                                                              \
    } while (0)

    while (i < len) {
        size_t n;
        int c;
        /* the ASCII letter fast path: the bulk of English text */
        if (s[i] < 0x80) {
            c = ascii_class[s[i]];
            if (c == C_LET && wclass == W_REG) {
                /* the whole run of ASCII letters at once */
                size_t j = i + 1;
                while (j < len && (uint8_t)((s[j] | 0x20) - 'a') < 26)
                    j++;
                size_t run = j - i, room = RAW_CAP - a->raw_len;
                comp_len += run;
                if (comp_len > 1)
                    acro = 0;
                if (run > room) {
                    run = room;
                    a->overflow = 1;
                }
                uint8_t *dst = a->raw + a->raw_len;
                for (size_t k = 0; k < run; k++)
                    dst[k] = s[i + k];
                a->raw_len += run;
                last = C_LET;
                a->has_letter = 1;
                wend = i = j;
                continue;
            }
            n = 1;
        } else if (syllable_at(s, len, i)) {
            /* a run of precomposed Hangul syllables at once, the bulk of Korean text: letters
             * to classify (a unit test checks), their own fold to deliver() */
            if (wclass != W_HANGUL) {
                FLUSH();
                START_WORD(W_HANGUL);
                a->syllables = 1;
            }
            size_t j = i + 3;
            while (j < len && syllable_at(s, len, j))
                j += 3;
            if (a->raw_len + (j - i) > RAW_CAP) {
                a->overflow = 1;
            } else {
                memcpy(a->raw + a->raw_len, s + i, j - i);
                a->raw_len += j - i;
            }
            a->ascii = 0;
            a->has_letter = 1;
            last = C_HANGUL;
            wend = i = j;
            continue;
        } else {
            c = classify(kq_utf8_decode(s + i, s + len, &n));
        }
        switch (c) {
        case C_IGN:
            break;
        case C_LET:
        case C_DIG:
            if (wclass != W_REG) {
                FLUSH();
                START_WORD(W_REG);
            }
            if (c == C_LET) {
                if (++comp_len > 1)
                    acro = 0;
                a->has_letter = 1;
            } else {
                acro = 0;
            }
            last = c;
            raw_add(a, s + i, n);
            wend = i + n;
            break;
        case C_HANGUL:
            if (wclass != W_HANGUL) {
                FLUSH();
                START_WORD(W_HANGUL);
            }
            a->has_letter = 1;
            last = c;
            raw_add(a, s + i, n);
            wend = i + n;
            break;
        case C_CJK:
            if (wclass != W_CJK) {
                FLUSH();
                wclass = W_CJK;
                a->n_units = 0;
            } else {
                rc = close_unit(&r);
                if (rc)
                    goto out;
            }
            unit_start(&a->cur, s, i, n);
            break;
        case C_MARK:
            if (wclass == W_CJK) {
                unit_add(&a->cur, s, i, n);
                break;
            }
            if (wclass == W_NONE)
                START_WORD(W_REG);
            raw_add(a, s + i, n);
            wend = i + n;
            break;
        case C_APOS:
        case C_DOT:
        case C_COMMA:
            if (wclass == W_REG) {
                size_t j, n1;
                int c1 = peek(s, len, i + n, &j, &n1);
                int internal = 0;
                if (c == C_APOS) {
                    if (last == C_LET && c1 == C_LET) {
                        internal = 1;
                        a->apos_off = a->raw_len;
                        acro = 0;
                    }
                } else if (last == C_DIG && c1 == C_DIG) {
                    internal = 1;
                    if (c == C_DOT)
                        raw_add(a, s + i, 1);
                } else if (c == C_DOT && acro && comp_len == 1 && last == C_LET && c1 == C_LET) {
                    size_t k, n2;
                    int c2 = peek(s, len, j + n1, &k, &n2);
                    if (c2 != C_LET && c2 != C_DIG && c2 != C_MARK && c2 != C_HANGUL &&
                        c2 != C_CJK) {
                        internal = 1;
                        comp_len = 0;
                    }
                }
                if (internal) {
                    i = j; /* continue at the next character, ignorables skipped */
                    continue;
                }
            }
            FLUSH();
            break;
        default:
            FLUSH();
            break;
        }
        i += n;
    }
    FLUSH();
    rc = drain(&r);
out:
    if (next_pos)
        *next_pos = r.pos;
    return rc;
#undef FLUSH
#undef START_WORD
}

int kq_analyzer_stem(kq_analyzer *a, const char *term, size_t len, const char **out,
                     size_t *out_len)
{
    const uint8_t *t = (const uint8_t *)term;
    int rc = a->stemmer && len <= STEM_MAX ? snowball(a, &t, &len) : 0;
    *out = (const char *)t;
    *out_len = len;
    return rc;
}
