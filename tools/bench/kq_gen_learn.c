/* tools/bench/kq_gen_learn.c: `kq_gen --learn`, the model behind the synthetic corpus.
 *
 * Reads real English documents (BEIR JSON lines) and writes the vocabulary file that
 * kq_gen.c generates from (format in kq_gen.h): the N most frequent words with their
 * counts and usual spelling, the most frequent successors of the M most frequent words
 * (and of the sentence start), a power-law fit of the rarer words' ranks, and log-normal
 * fits of the document and title lengths.
 *
 * Tokens: runs of letters and digits (ASCII and Latin-1/Latin Extended letters; any other
 * character separates), with an apostrophe between letters, a '.' or ',' between digits
 * and a '.' directly followed by a letter kept inside (`don't`, `1,000`, `3.5`, `U.S`).
 * '.', '?' and '!' end a sentence (the token "."), ',' is the token ",", a line break ends
 * a sentence without a token. Words are counted case-folded; the form written is the
 * spelling (lower, Capitalised or UPPER) most used away from sentence starts.
 *
 * Invariant: the output depends only on the input bytes and the options (every sort
 * breaks ties on the word's bytes or rank), so the committed file can be rebuilt exactly.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kq_gen.h"

/* ---- the word table: case-folded bytes -> id (ids from 1; 0 is the sentence break) ---- */

enum { CASE_LOWER, CASE_CAP, CASE_UPPER };

struct words {
    uint32_t *slots; /* id, 0 = empty */
    size_t mask;
    char *keys; /* the key bytes of every id, back to back */
    size_t keys_len, keys_cap;
    uint32_t *off; /* [id]: where the key starts in keys */
    uint8_t *len;  /* [id]: key length */
    uint64_t *hash;
    uint64_t *count;
    uint32_t (*cases)[3]; /* [id][CASE_*]: spellings seen away from a sentence start */
    size_t n;             /* ids in use, 1 .. n */
    size_t cap;
};

static void words_init(struct words *w)
{
    memset(w, 0, sizeof *w);
    w->mask = (1u << 16) - 1;
    w->slots = kq_gen_xcalloc(w->mask + 1, sizeof *w->slots);
}

static void words_release(struct words *w)
{
    free(w->slots);
    free(w->keys);
    free(w->off);
    free(w->len);
    free(w->hash);
    free(w->count);
    free(w->cases);
    memset(w, 0, sizeof *w);
}

static void words_rehash(struct words *w)
{
    size_t mask = w->mask * 2 + 1;
    uint32_t *slots = kq_gen_xcalloc(mask + 1, sizeof *slots);
    for (size_t id = 1; id <= w->n; id++) {
        size_t i = (size_t)w->hash[id] & mask;
        while (slots[i])
            i = (i + 1) & mask;
        slots[i] = (uint32_t)id;
    }
    free(w->slots);
    w->slots = slots;
    w->mask = mask;
}

/* The id of `key` (`len` bytes), added with count 0 when new. */
static uint32_t words_intern(struct words *w, const char *key, size_t len)
{
    uint64_t h = XXH3_64bits(key, len);
    size_t i = (size_t)h & w->mask;
    for (uint32_t id; (id = w->slots[i]) != 0; i = (i + 1) & w->mask) {
        if (w->hash[id] == h && w->len[id] == len && memcmp(w->keys + w->off[id], key, len) == 0)
            return id;
    }
    if (w->n + 2 > w->cap) {
        w->cap = w->cap ? w->cap * 2 : 1024;
        w->off = kq_gen_xrealloc(w->off, w->cap * sizeof *w->off);
        w->len = kq_gen_xrealloc(w->len, w->cap * sizeof *w->len);
        w->hash = kq_gen_xrealloc(w->hash, w->cap * sizeof *w->hash);
        w->count = kq_gen_xrealloc(w->count, w->cap * sizeof *w->count);
        w->cases = kq_gen_xrealloc(w->cases, w->cap * sizeof *w->cases);
    }
    if (w->keys_len + len > w->keys_cap) {
        w->keys_cap = w->keys_cap ? w->keys_cap * 2 : 1 << 20;
        w->keys = kq_gen_xrealloc(w->keys, w->keys_cap);
    }
    uint32_t id = (uint32_t)++w->n;
    memcpy(w->keys + w->keys_len, key, len);
    w->off[id] = (uint32_t)w->keys_len;
    w->len[id] = (uint8_t)len;
    w->hash[id] = h;
    w->count[id] = 0;
    memset(w->cases[id], 0, sizeof w->cases[id]);
    w->keys_len += len;
    w->slots[i] = id;
    if (w->n * 2 > w->mask)
        words_rehash(w);
    return id;
}

/* ---- the learner ---- */

struct lengths {
    uint32_t *v;
    size_t n, cap;
};

static void lengths_add(struct lengths *l, size_t words)
{
    if (!words)
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->v = kq_gen_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = words > UINT32_MAX ? UINT32_MAX : (uint32_t)words;
}

static int by_value(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The log-normal with the median and the mean of the lengths of at least `min` words:
 * mu = ln(median), sigma^2 = 2 ln(mean / median). Matching the mean keeps the corpus's
 * bytes per document; matching the median keeps its typical document. (A fit of the
 * logarithms' moments would not: real lengths are skewed left on a log scale, and such a
 * fit overstates the mean by half.) Returns the number of lengths used. */
static size_t fit_lengths(struct lengths *l, uint32_t min, double *mu, double *sigma)
{
    qsort(l->v, l->n, sizeof *l->v, by_value);
    size_t lo = 0;
    while (lo < l->n && l->v[lo] < min)
        lo++;
    size_t n = l->n - lo;
    *mu = 0;
    *sigma = 0;
    if (!n)
        return 0;
    const uint32_t *v = l->v + lo;
    size_t mid = n / 2;
    double median = n % 2 ? v[mid] : ((double)v[mid - 1] + v[mid]) / 2, sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    double mean = sum / (double)n;
    *mu = log(median);
    *sigma = mean > median ? sqrt(2 * log(mean / median)) : 0;
    return n;
}

struct learner {
    struct words w;
    uint32_t id_period, id_comma;
    uint32_t *stream; /* ids in text order, 0 at every sentence break */
    size_t stream_len, stream_cap;
    /* tokenizer state within one text */
    size_t sent_len;   /* tokens in the current sentence */
    int after_period;  /* a '.' was the last token: a line break now counts */
    uint64_t n_period, n_period_nl;
    uint64_t n_docs, n_lines, n_bad;
    struct lengths doc_len, title_len; /* words per text, of texts with at least one */
};

static void push(struct learner *l, uint32_t id)
{
    if (l->stream_len == l->stream_cap) {
        l->stream_cap = l->stream_cap ? l->stream_cap * 2 : 1 << 20;
        l->stream = kq_gen_xrealloc(l->stream, l->stream_cap * sizeof *l->stream);
    }
    l->stream[l->stream_len++] = id;
    if (id)
        l->w.count[id]++;
}

static void sentence_break(struct learner *l)
{
    if (l->sent_len) {
        push(l, 0);
        l->sent_len = 0;
    }
}

static void emit_word(struct learner *l, const char *key, size_t len, int case_class)
{
    uint32_t id = words_intern(&l->w, key, len);
    if (l->sent_len)
        l->w.cases[id][case_class]++;
    push(l, id);
    l->sent_len++;
    l->after_period = 0;
}

static void emit_period(struct learner *l)
{
    if (!l->sent_len)
        return;
    if (l->stream[l->stream_len - 1] == l->id_comma) { /* "word, ." reads as "word." */
        l->w.count[l->id_comma]--;
        l->stream_len--;
    }
    push(l, l->id_period);
    push(l, 0);
    l->sent_len = 0;
    l->after_period = 1;
    l->n_period++;
}

static void emit_comma(struct learner *l)
{
    if (!l->sent_len || l->stream[l->stream_len - 1] == l->id_comma)
        return;
    push(l, l->id_comma);
    l->sent_len++;
    l->after_period = 0;
}

/* The code point at s[i] (invalid UTF-8 reads as U+FFFD, one byte); its length in *n. */
static uint32_t decode(const unsigned char *s, size_t len, size_t i, size_t *n)
{
    unsigned c = s[i];
    *n = 1;
    if (c < 0x80)
        return c;
    size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (k == 0 || k > 4 || i + k > len)
        return 0xFFFD;
    uint32_t cp = c & (0x7Fu >> k);
    for (size_t j = 1; j < k; j++) {
        if ((s[i + j] & 0xC0) != 0x80)
            return 0xFFFD;
        cp = cp << 6 | (s[i + j] & 0x3Fu);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0xFFFD;
    *n = k;
    return cp;
}

static int is_digit(uint32_t cp)
{
    return cp >= '0' && cp <= '9';
}

static int is_letter(uint32_t cp)
{
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
           (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7);
}

static int is_upper(uint32_t cp)
{
    return (cp >= 'A' && cp <= 'Z') || (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7);
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    /* only letters up to U+024F get here */
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* Tokenizes `s` into the stream (or, when count_only, only counts its words).
 * Returns the number of words (not '.' or ',' tokens). */
static size_t tokenize(struct learner *l, const char *text, size_t len, int count_only)
{
    const unsigned char *s = (const unsigned char *)text;
    char key[KQ_GEN_MAX_FORM + 4];
    size_t n_words = 0, i = 0, n;
    l->sent_len = 0;
    l->after_period = 0;
    while (i < len) {
        uint32_t cp = decode(s, len, i, &n);
        if (is_letter(cp) || is_digit(cp)) {
            size_t klen = 0, n_up = 0, n_low = 0;
            int first_up = is_upper(cp), too_long = 0;
            uint32_t last = 0;
            for (;;) {
                if (is_upper(cp))
                    n_up++;
                else if (is_letter(cp))
                    n_low++;
                uint32_t lower = is_upper(cp) ? cp + 0x20 : cp;
                if (klen + 2 <= KQ_GEN_MAX_FORM)
                    klen += put_utf8(key + klen, lower);
                else
                    too_long = 1;
                last = cp;
                i += n;
                if (i >= len)
                    break;
                cp = decode(s, len, i, &n);
                if (is_letter(cp) || is_digit(cp))
                    continue;
                /* an apostrophe, '.' or ',' stays inside when what follows fits */
                size_t n2 = 1;
                uint32_t next = i + n < len ? decode(s, len, i + n, &n2) : 0;
                int keep = ((cp == '\'' || cp == 0x2019) && is_letter(last) && is_letter(next)) ||
                           ((cp == '.' || cp == ',') && is_digit(last) && is_digit(next)) ||
                           (cp == '.' && is_letter(last) && is_letter(next));
                if (!keep)
                    break;
                if (klen + 2 <= KQ_GEN_MAX_FORM)
                    key[klen++] = (char)(cp == 0x2019 ? '\'' : cp);
                else
                    too_long = 1;
                i += n;
                cp = next;
                n = n2;
            }
            if (too_long)
                continue;
            n_words++;
            if (!count_only) {
                int cls = n_up >= 2 && n_low == 0 ? CASE_UPPER
                          : first_up              ? CASE_CAP
                                                  : CASE_LOWER;
                emit_word(l, key, klen, cls);
            }
            continue;
        }
        i += n;
        if (count_only)
            continue;
        if (cp == '.' || cp == '?' || cp == '!')
            emit_period(l);
        else if (cp == ',')
            emit_comma(l);
        else if (cp == '\n') {
            if (l->after_period)
                l->n_period_nl++;
            l->after_period = 0;
            sentence_break(l);
        }
    }
    if (!count_only)
        sentence_break(l);
    return n_words;
}

static const char *json_str(json_t *obj, const char *key, size_t *len)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        *len = 0;
        return "";
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

static int learn_file(struct learner *l, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "kq_gen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        l->n_lines++;
        json_error_t jerr;
        json_t *doc = json_loadb(line, (size_t)got, 0, &jerr);
        if (!json_is_object(doc)) {
            l->n_bad++;
            json_decref(doc);
            continue;
        }
        size_t tlen, xlen;
        const char *title = json_str(doc, "title", &tlen);
        const char *text = json_str(doc, "text", &xlen);
        lengths_add(&l->title_len, tokenize(l, title, tlen, 1));
        lengths_add(&l->doc_len, tokenize(l, text, xlen, 0));
        l->n_docs++;
        json_decref(doc);
    }
    int rc = ferror(f) ? -1 : 0;
    if (rc)
        fprintf(stderr, "kq_gen: %s: read error\n", path);
    free(line);
    if (f != stdin)
        fclose(f);
    return rc;
}

/* ---- ranking and the successor tables ---- */

static int by_count_then_bytes(const void *a, const void *b, void *ctx)
{
    const struct words *w = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (w->count[x] != w->count[y])
        return w->count[x] > w->count[y] ? -1 : 1;
    size_t lx = w->len[x], ly = w->len[y];
    int c = memcmp(w->keys + w->off[x], w->keys + w->off[y], lx < ly ? lx : ly);
    if (c)
        return c;
    return lx < ly ? -1 : lx > ly;
}

struct pair {
    uint64_t key; /* predecessor rank << 32 | successor rank; 0 = empty slot */
    uint64_t count;
};

static int by_context_then_count(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    uint64_t px = x->key >> 32, py = y->key >> 32;
    if (px != py)
        return px < py ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

struct pairs {
    struct pair *slots;
    size_t mask, n;
};

static void pairs_add(struct pairs *p, uint64_t key)
{
    if (p->n * 2 >= p->mask) {
        size_t mask = p->mask ? p->mask * 2 + 1 : (1u << 20) - 1;
        struct pair *slots = kq_gen_xcalloc(mask + 1, sizeof *slots);
        for (size_t j = 0; p->slots && j <= p->mask; j++) {
            if (!p->slots[j].key)
                continue;
            size_t i = (size_t)XXH3_64bits(&p->slots[j].key, 8) & mask;
            while (slots[i].key)
                i = (i + 1) & mask;
            slots[i] = p->slots[j];
        }
        free(p->slots);
        p->slots = slots;
        p->mask = mask;
    }
    size_t i = (size_t)XXH3_64bits(&key, 8) & p->mask;
    while (p->slots[i].key && p->slots[i].key != key)
        i = (i + 1) & p->mask;
    if (!p->slots[i].key) {
        p->slots[i].key = key;
        p->n++;
    }
    p->slots[i].count++;
}

/* Writes `id`'s usual spelling: its case-folded key with the case most seen. */
static void put_form(FILE *out, const struct words *w, uint32_t id)
{
    char form[KQ_GEN_MAX_FORM + 4];
    size_t len = w->len[id];
    memcpy(form, w->keys + w->off[id], len);
    const uint32_t *c = w->cases[id];
    int cls = c[CASE_UPPER] > c[CASE_LOWER] && c[CASE_UPPER] > c[CASE_CAP] ? CASE_UPPER
              : c[CASE_CAP] > c[CASE_LOWER]                                ? CASE_CAP
                                                                           : CASE_LOWER;
    for (size_t i = 0; i < len && cls != CASE_LOWER; i++) {
        unsigned char b = (unsigned char)form[i];
        if (b >= 'a' && b <= 'z')
            form[i] = (char)(b - 0x20);
        else if (b == 0xC3 && i + 1 < len) {
            unsigned char t = (unsigned char)form[i + 1];
            if (t >= 0xA0 && t <= 0xBE && t != 0xB7)
                form[i + 1] = (char)(t - 0x20);
            i++;
        } else if (b >= 0xC4 && b <= 0xC9) {
            i++; /* Latin Extended: kept as it is */
        }
        if (cls == CASE_CAP)
            break;
    }
    fwrite(form, 1, len, out);
}

int kq_gen_learn(const char *const *paths, size_t n_paths, FILE *out,
                 const struct kq_gen_learn_opts *opt)
{
    struct learner l;
    memset(&l, 0, sizeof l);
    words_init(&l.w);
    l.id_period = words_intern(&l.w, ".", 1);
    l.id_comma = words_intern(&l.w, ",", 1);
    int rc = -1;
    uint32_t *order = NULL, *rank = NULL;
    uint64_t *ctx_total = NULL, *explained = NULL;
    struct pairs pairs = {NULL, 0, 0};
    struct pair *list = NULL;

    for (size_t i = 0; i < n_paths; i++) {
        if (learn_file(&l, paths[i]))
            goto done;
    }
    double mu, sigma, tmu, tsigma;
    size_t n_fit = fit_lengths(&l.doc_len, KQ_GEN_MIN_DOC_WORDS, &mu, &sigma);
    fit_lengths(&l.title_len, 1, &tmu, &tsigma);
    if (n_fit < 2 || l.w.n < 3) {
        fprintf(stderr, "kq_gen: too little text to learn from (%llu documents)\n",
                (unsigned long long)l.n_docs);
        goto done;
    }

    /* rank the words: by count, ties by bytes */
    size_t n_ids = l.w.n;
    order = kq_gen_xmalloc(n_ids * sizeof *order);
    for (size_t i = 0; i < n_ids; i++)
        order[i] = (uint32_t)(i + 1);
    qsort_r(order, n_ids, sizeof *order, by_count_then_bytes, &l.w);
    size_t n_words = opt->n_words < n_ids ? opt->n_words : n_ids;
    size_t n_ctx = opt->n_contexts < n_words + 1 ? opt->n_contexts : n_words + 1;
    rank = kq_gen_xcalloc(n_ids + 1, sizeof *rank);
    for (size_t r = 1; r <= n_words; r++)
        rank[order[r - 1]] = (uint32_t)r;

    uint64_t tokens = 0, tail = 0;
    for (size_t i = 0; i < n_ids; i++) {
        tokens += l.w.count[order[i]];
        if (i >= n_words)
            tail += l.w.count[order[i]];
    }
    /* the tail's power law: least squares of ln(count) on ln(rank), over the ranks past
     * the list whose count is at least 3 (below that, counts are mostly noise) */
    double sx = 0, sy = 0, sxx = 0, sxy = 0, np = 0;
    for (size_t i = n_words; i < n_ids && l.w.count[order[i]] >= 3; i++) {
        double x = log((double)(i + 1)), y = log((double)l.w.count[order[i]]);
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
        np++;
    }
    double tail_a = 1.5;
    if (np >= 50) {
        double slope = (np * sxy - sx * sy) / (np * sxx - sx * sx);
        tail_a = -slope;
    }
    if (tail_a < 1.05)
        tail_a = 1.05;

    /* successor counts of the contexts: predecessor rank < n_ctx (0 = sentence start) */
    ctx_total = kq_gen_xcalloc(n_ctx, sizeof *ctx_total);
    uint64_t prev = 0; /* a context's rank, or UINT64_MAX when the predecessor has none */
    for (size_t i = 0; i < l.stream_len; i++) {
        uint32_t id = l.stream[i];
        if (id == 0) {
            prev = 0;
            continue;
        }
        uint32_t r = rank[id];
        if (prev != UINT64_MAX) {
            ctx_total[prev]++;
            if (r)
                pairs_add(&pairs, prev << 32 | r);
        }
        prev = r && r < n_ctx ? r : UINT64_MAX;
    }
    list = kq_gen_xmalloc((pairs.n ? pairs.n : 1) * sizeof *list);
    size_t n_list = 0;
    for (size_t j = 0; pairs.slots && j <= pairs.mask; j++) {
        if (pairs.slots[j].key)
            list[n_list++] = pairs.slots[j];
    }
    qsort(list, n_list, sizeof *list, by_context_then_count);

    explained = kq_gen_xcalloc(n_words + 1, sizeof *explained);
    uint64_t n_explained = 0;
    fprintf(out,
            "# kq_gen vocabulary (format: tools/bench/kq_gen.h), learned by\n"
            "#   kq_gen --learn --words %zu --contexts %zu --successors %zu\n"
            "# from %s\n",
            opt->n_words, opt->n_contexts, opt->n_successors, opt->source);
    fprintf(out, "%s %d\n", KQ_GEN_MAGIC, KQ_GEN_FORMAT);
    fprintf(out, "documents %llu\n", (unsigned long long)l.n_docs);
    fprintf(out, "tokens %llu\n", (unsigned long long)tokens);
    fprintf(out, "distinct %zu\n", n_ids - 2);
    fprintf(out, "doc_words %.6f %.6f\n", mu, sigma);
    fprintf(out, "title_words %.6f %.6f\n", tmu, tsigma);
    fprintf(out, "newline %.6f\n", l.n_period ? (double)l.n_period_nl / (double)l.n_period : 0);
    fprintf(out, "tail %llu %.6f\n", (unsigned long long)tail, tail_a);
    fprintf(out, "words %zu\n", n_words);
    for (size_t r = 1; r <= n_words; r++) {
        put_form(out, &l.w, order[r - 1]);
        fprintf(out, " %llu\n", (unsigned long long)l.w.count[order[r - 1]]);
    }
    fprintf(out, "contexts %zu %zu\n", n_ctx, opt->n_successors);
    size_t j = 0;
    for (size_t c = 0; c < n_ctx; c++) {
        size_t limit = c == 0 ? KQ_GEN_START_FACTOR * opt->n_successors : opt->n_successors;
        size_t first = j, kept = 0;
        uint64_t listed = 0;
        while (j < n_list && list[j].key >> 32 == c) {
            if (kept < limit) {
                listed += list[j].count;
                kept++;
            }
            j++;
        }
        fprintf(out, "%llu", (unsigned long long)(ctx_total[c] - listed));
        for (size_t k = first; k < first + kept; k++) {
            uint32_t succ = (uint32_t)list[k].key;
            explained[succ] += list[k].count;
            n_explained += list[k].count;
            fprintf(out, " %u:%llu", succ, (unsigned long long)list[k].count);
        }
        fputc('\n', out);
    }
    fputs("end\n", out);
    if (fflush(out) || ferror(out)) {
        fprintf(stderr, "kq_gen: writing the vocabulary: %s\n", strerror(errno));
        goto done;
    }
    fprintf(stderr,
            "kq_gen: learned from %llu documents (%llu lines not documents; lengths fitted "
            "on the %zu of at least %d words), %llu tokens, "
            "%zu distinct; %zu words listed cover %.2f%% of tokens; %zu contexts' listed "
            "successors explain %.2f%% of tokens; tail exponent %.3f over %.0f ranks\n",
            (unsigned long long)l.n_docs, (unsigned long long)l.n_bad, n_fit,
            KQ_GEN_MIN_DOC_WORDS, (unsigned long long)tokens, n_ids - 2, n_words,
            100.0 * (double)(tokens - tail) / (double)tokens, n_ctx,
            100.0 * (double)n_explained / (double)tokens, tail_a, np);
    rc = 0;
done:
    free(order);
    free(rank);
    free(ctx_total);
    free(explained);
    free(pairs.slots);
    free(list);
    free(l.stream);
    free(l.doc_len.v);
    free(l.title_len.v);
    words_release(&l.w);
    return rc;
}
