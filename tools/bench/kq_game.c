/*
 * kq_game: kq behind the protocol of "Search Benchmark, the Game"
 * (quickwit-oss/search-benchmark-game; ../shared/data/README.md), driven by
 * tools/bench/game_driver.c from tools/bench/query.sh.
 *
 * Reads lines `COMMAND<TAB>query` on standard input and answers each with one line,
 * flushed at once:
 *
 *   COUNT         the exact number of matching documents (kq_eval with count_only)
 *   TOP_10        the top 10 by BM25 are computed, then "1" is printed: the game's
 *   TOP_100       convention (its tantivy and Lucene engines print 1 for TOP_k, the
 *   TOP_1000      hits themselves are not the point); with --hits, the number of hits
 *                 returned instead (min(k, matches))
 *   TOP_10_COUNT  the top 10 and the exact number of matches, which is printed
 *   anything else UNSUPPORTED
 *
 * The query is parsed with kq's own parser (src/query/query.h), whose syntax is the
 * game's: `a b` union, `+a +b` intersection, `"a b"` phrase, `-x` negation. A query kq
 * rejects (KQ_ESYNTAX, KQ_ELIMIT) is answered UNSUPPORTED with a message on standard
 * error; any other error stops the program (exit 1).
 *
 * Usage: kq_game [--hits] INDEX_DIR
 *        kq_game --null     answers every line at once ("0", or UNSUPPORTED for an
 *                           unknown command) without an index: the driver's floor
 * Exit status: 0 at end of input, 1 on an error, 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq/error.h"
#include "kq/index.h"
#include "query/eval.h"
#include "query/query.h"
#include "text/text.h"

enum command { CMD_UNSUPPORTED, CMD_COUNT, CMD_TOP, CMD_TOP_COUNT };

/* The command named by the `len` bytes at `s`; `*k` is its k for CMD_TOP(_COUNT). */
static enum command parse_command(const char *s, size_t len, uint32_t *k)
{
    static const struct {
        const char *name;
        enum command cmd;
        uint32_t k;
    } table[] = {
        {"COUNT", CMD_COUNT, 0},       {"TOP_10", CMD_TOP, 10},
        {"TOP_100", CMD_TOP, 100},     {"TOP_1000", CMD_TOP, 1000},
        {"TOP_10_COUNT", CMD_TOP_COUNT, 10},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strlen(table[i].name) == len && memcmp(table[i].name, s, len) == 0) {
            *k = table[i].k;
            return table[i].cmd;
        }
    }
    return CMD_UNSUPPORTED;
}

struct engine {
    kq_index *ix;
    kq_analyzer *an;
    int print_hits;
};

/* Answers one query: prints the answer line. Returns 0, or -1 on an error that should
 * stop the program (message printed). */
static int answer(struct engine *e, enum command cmd, uint32_t k, const char *q, size_t len)
{
    kq_query *query = NULL;
    struct kq_results res = {0};
    struct kq_search_opts opt;
    kq_error err = {0};
    int rc = kq_query_parse(q, len, e->an, 0, NULL, &query, &err);
    if (rc == KQ_ESYNTAX || rc == KQ_ELIMIT) {
        fprintf(stderr, "kq_game: query '%.*s': %s\n", (int)len, q, err.msg);
        puts("UNSUPPORTED");
        return 0;
    }
    if (rc != 0)
        goto fail;
    kq_search_opts_init(&opt);
    if (cmd == CMD_COUNT) {
        opt.count_only = 1;
        if ((rc = kq_eval(e->ix, query, &opt, &res, &err)) != 0)
            goto fail;
        printf("%llu\n", (unsigned long long)res.total);
    } else {
        opt.k = k;
        if ((rc = kq_eval(e->ix, query, &opt, &res, &err)) != 0)
            goto fail;
        if (cmd == CMD_TOP) {
            printf("%lu\n", e->print_hits ? (unsigned long)res.n : 1UL);
        } else {
            uint64_t total = res.total;
            if (!res.total_exact) {
                /* Pruning left a lower bound: count exactly, as the game's engines do
                 * (tantivy's Count collector, Lucene's totalHitsThreshold MAX_VALUE). */
                kq_results_release(&res);
                opt.count_only = 1;
                if ((rc = kq_eval(e->ix, query, &opt, &res, &err)) != 0)
                    goto fail;
                total = res.total;
            }
            printf("%llu\n", (unsigned long long)total);
        }
    }
    kq_results_release(&res);
    kq_query_free(query);
    return 0;
fail:
    fprintf(stderr, "kq_game: query '%.*s': %s (%s)\n", (int)len, q,
            err.msg[0] ? err.msg : kq_strerror(rc), kq_strerror(rc));
    kq_results_release(&res);
    kq_query_free(query);
    return -1;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int null_engine = 0, print_hits = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--null") == 0) {
            null_engine = 1;
        } else if (strcmp(argv[i], "--hits") == 0) {
            print_hits = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            puts("usage: kq_game [--hits] INDEX_DIR\n       kq_game --null");
            return 0;
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "usage: kq_game [--hits] INDEX_DIR | kq_game --null\n");
            return 2;
        } else {
            dir = argv[i];
        }
    }
    if (!null_engine && !dir) {
        fprintf(stderr, "usage: kq_game [--hits] INDEX_DIR | kq_game --null\n");
        return 2;
    }

    struct engine e = {.print_hits = print_hits};
    kq_error err = {0};
    int rc, status = 0;
    if (!null_engine) {
        struct kq_index_info info;
        if ((rc = kq_index_open(dir, &e.ix, &err)) != 0) {
            fprintf(stderr, "kq_game: %s: %s\n", dir, err.msg[0] ? err.msg : kq_strerror(rc));
            return 1;
        }
        kq_index_get_info(e.ix, &info);
        if ((rc = kq_analyzer_new(info.language, &e.an, &err)) != 0) {
            fprintf(stderr, "kq_game: analyser '%s': %s\n", info.language,
                    err.msg[0] ? err.msg : kq_strerror(rc));
            kq_index_close(e.ix);
            return 1;
        }
    }

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        const char *tab = memchr(line, '\t', len);
        uint32_t k = 0;
        enum command cmd =
            tab ? parse_command(line, (size_t)(tab - line), &k) : CMD_UNSUPPORTED;
        if (cmd == CMD_UNSUPPORTED) {
            puts("UNSUPPORTED");
        } else if (null_engine) {
            puts("0");
        } else if (answer(&e, cmd, k, tab + 1, len - (size_t)(tab + 1 - line)) != 0) {
            status = 1;
            break;
        }
        if (fflush(stdout) != 0) {
            status = 1;
            break;
        }
    }
    free(line);
    kq_analyzer_free(e.an);
    kq_index_close(e.ix);
    return status;
}
