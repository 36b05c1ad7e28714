/*
 * fts5_game: the SQLite FTS5 peer of the query benchmark (tools/bench/query.sh), behind
 * the protocol of "Search Benchmark, the Game" (see kq_game.c): reads lines
 * `COMMAND<TAB>query` on standard input and answers each with one line, flushed.
 *
 * The database is the one fts5_index builds: docs(id UNINDEXED, title, body) with
 * tokenize = 'porter unicode61'. The game's query syntax is translated to an FTS5 MATCH
 * expression; every word and phrase becomes an FTS5 string ("..." with '"' doubled), so
 * no character of the query is FTS5 syntax:
 *
 *   +a +b      "a" AND "b"             the MUST clauses decide the match (as in Lucene,
 *   +a b       "a"                     SHOULD clauses beside a MUST only score)
 *   a b        "a" OR "b"
 *   "a b"      "a b"                   an FTS5 string of several tokens is a phrase
 *   a -x -y    (("a") NOT "x") NOT "y"
 *   -x         nothing matches (as in Lucene: exclusion needs something to exclude from)
 *
 * A unit without a letter or digit (ASCII alphanumerics or any non-ASCII byte) is
 * dropped: FTS5 would reject an empty string. Answers:
 *
 *   COUNT         SELECT count(*) FROM docs WHERE docs MATCH ?
 *   TOP_k         SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY rank LIMIT k
 *                 (rank is bm25()); prints 1 (the game's convention), or with --hits
 *                 the number of rows returned
 *   TOP_10_COUNT  both; prints the count
 *   else          UNSUPPORTED (also for a query with no term, or one FTS5 rejects)
 *
 * Usage: fts5_game [--hits] [--explain] DB
 *   --explain  prints the FTS5 expression of each query line instead of running it
 * Exit status: 0 at end of input, 1 on a SQLite error, 2 on bad usage.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable string. */
struct str {
    char *p;
    size_t len, cap;
};

static int str_add(struct str *s, const char *p, size_t len)
{
    if (s->len + len + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        while (cap < s->len + len + 1)
            cap *= 2;
        char *np = realloc(s->p, cap);
        if (!np)
            return -1;
        s->p = np;
        s->cap = cap;
    }
    memcpy(s->p + s->len, p, len);
    s->len += len;
    s->p[s->len] = '\0';
    return 0;
}

static int str_adds(struct str *s, const char *z)
{
    return str_add(s, z, strlen(z));
}

/* Appends the FTS5 string of the `len` bytes at `p`: quoted, '"' doubled. */
static int str_add_fts5_string(struct str *s, const char *p, size_t len)
{
    if (str_adds(s, "\"") != 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (str_add(s, p + i, 1) != 0 || (p[i] == '"' && str_add(s, "\"", 1) != 0))
            return -1;
    }
    return str_adds(s, "\"");
}

static int has_word_byte(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
            (c >= 'A' && c <= 'Z'))
            return 1;
    }
    return 0;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Translates the game query `q` (`len` bytes) into an FTS5 expression in `out` (reset
 * first). Returns 1 when the expression matches something, 0 when the query can match
 * nothing (no term, or only negations), -1 when out of memory. */
static int translate(const char *q, size_t len, struct str *out)
{
    struct str must = {0}, should = {0}, excl = {0};
    size_t n_must = 0, n_should = 0;
    int rc = -1;
    out->len = 0;
    if (str_adds(out, "") != 0)
        return -1;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_ws(q[i]))
            i++;
        if (i == len)
            break;
        char sign = 0;
        if (q[i] == '+' || q[i] == '-')
            sign = q[i++];
        size_t start, end;
        if (i < len && q[i] == '"') {
            start = ++i;
            while (i < len && q[i] != '"')
                i++;
            end = i;
            if (i < len)
                i++; /* the closing quote */
        } else {
            start = i;
            while (i < len && !is_ws(q[i]))
                i++;
            end = i;
        }
        if (!has_word_byte(q + start, end - start))
            continue;
        struct str *dst = sign == '+' ? &must : sign == '-' ? &excl : &should;
        if (sign == '-') {
            if (str_adds(dst, " NOT ") != 0)
                goto done;
        } else if (dst->len > 0 && str_adds(dst, sign == '+' ? " AND " : " OR ") != 0) {
            goto done;
        }
        if (str_add_fts5_string(dst, q + start, end - start) != 0)
            goto done;
        if (sign == '+')
            n_must++;
        else if (sign == 0)
            n_should++;
    }
    rc = 0;
    if (n_must + n_should == 0)
        goto done;
    /* (positive) NOT "x" NOT "y": FTS5's NOT is binary and left-associative. */
    if (str_adds(out, "(") != 0 || str_adds(out, n_must ? must.p : should.p) != 0 ||
        str_adds(out, ")") != 0 || (excl.len && str_adds(out, excl.p) != 0)) {
        rc = -1;
        goto done;
    }
    rc = 1;
done:
    free(must.p);
    free(should.p);
    free(excl.p);
    return rc;
}

static int command_k(const char *s, size_t len, int *k, int *want_count)
{
    static const struct {
        const char *name;
        int k, count;
    } table[] = {{"COUNT", 0, 1},      {"TOP_10", 10, 0},       {"TOP_100", 100, 0},
                 {"TOP_1000", 1000, 0}, {"TOP_10_COUNT", 10, 1}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strlen(table[i].name) == len && memcmp(table[i].name, s, len) == 0) {
            *k = table[i].k;
            *want_count = table[i].count;
            return 1;
        }
    }
    return 0;
}

/* Runs `st` with the expression bound to ?1 (and k to ?2 when k > 0): the count of rows
 * (k > 0) or the value of the single count(*) row (k == 0). -1 on an error. */
static long long run(sqlite3_stmt *st, const char *expr, int k)
{
    long long n = 0;
    int rc;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, expr, -1, SQLITE_STATIC);
    if (k > 0)
        sqlite3_bind_int(st, 2, k);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k > 0)
            n++;
        else
            n = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? n : -1;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int print_hits = 0, explain = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--hits") == 0) {
            print_hits = 1;
        } else if (strcmp(argv[i], "--explain") == 0) {
            explain = 1;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "usage: fts5_game [--hits] [--explain] DB\n");
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path && !explain) {
        fprintf(stderr, "usage: fts5_game [--hits] [--explain] DB\n");
        return 2;
    }

    sqlite3 *db = NULL;
    sqlite3_stmt *st_top = NULL, *st_count = NULL;
    if (!explain) {
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "SELECT rowid FROM docs WHERE docs MATCH ?1 "
                               "ORDER BY rank LIMIT ?2",
                               -1, &st_top, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "SELECT count(*) FROM docs WHERE docs MATCH ?1", -1,
                               &st_count, NULL) != SQLITE_OK) {
            fprintf(stderr, "fts5_game: %s: %s\n", path, db ? sqlite3_errmsg(db) : "no memory");
            sqlite3_close(db);
            return 1;
        }
    }

    struct str expr = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int status = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        const char *tab = memchr(line, '\t', len);
        int k = 0, want_count = 0;
        if (!tab || !command_k(line, (size_t)(tab - line), &k, &want_count)) {
            puts("UNSUPPORTED");
        } else {
            const char *q = tab + 1;
            int t = translate(q, len - (size_t)(q - line), &expr);
            if (t < 0) {
                fprintf(stderr, "fts5_game: out of memory\n");
                status = 1;
                break;
            }
            if (explain) {
                puts(t ? expr.p : "(matches nothing)");
            } else if (t == 0) {
                puts("0"); /* no term, or negations only: nothing matches */
            } else {
                long long hits = 0, count = 0;
                if (k > 0)
                    hits = run(st_top, expr.p, k);
                if (hits >= 0 && want_count)
                    count = run(st_count, expr.p, 0);
                if (hits < 0 || count < 0) {
                    fprintf(stderr, "fts5_game: query '%.*s' as %s: %s\n",
                            (int)(len - (size_t)(q - line)), q, expr.p, sqlite3_errmsg(db));
                    puts("UNSUPPORTED");
                } else if (want_count) {
                    printf("%lld\n", count);
                } else {
                    printf("%lld\n", print_hits ? hits : 1LL);
                }
            }
        }
        if (fflush(stdout) != 0) {
            status = 1;
            break;
        }
    }
    free(line);
    free(expr.p);
    sqlite3_finalize(st_top);
    sqlite3_finalize(st_count);
    sqlite3_close(db);
    return status;
}
