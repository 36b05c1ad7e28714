/*
 * fts5_index: the SQLite FTS5 peer of the indexing benchmark (tools/bench/index.sh).
 *
 * Builds one FTS5 table from a BEIR JSON-lines corpus (one {"_id","title","text"}
 * object per line), in one transaction:
 *
 *   CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, body,
 *                                        tokenize = 'porter unicode61');
 *
 * The fairest match for kq: title and body are separate columns (kq has the fields
 * title and body), positions are kept (FTS5's default detail=full), and the original
 * text is stored (FTS5's default, as kq keeps a document store) together with the
 * external id. --contentless drops the stored text (content=''). --optimize merges
 * the index b-trees into one at the end ('optimize' command) and VACUUMs the file, as
 * kq writes merged segments; index.sh uses the default build (neither option).
 *
 * Usage: fts5_index [--contentless] [--optimize] DB [FILE|-]
 * Reads FILE (or standard input when FILE is absent or "-"), overwrites DB, and prints
 * one JSON line on standard output:
 *   {"documents":N,"input_bytes":N,"seconds":F}
 * Exit status 0 on success, 1 on bad input or a SQLite error, 2 on bad usage.
 */
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: fts5_index [--contentless] [--optimize] DB [FILE|-]\n"
                 "Builds a SQLite FTS5 index (porter unicode61, columns title and body)\n"
                 "from a BEIR JSON-lines corpus into DB (overwritten).\n");
}

static int exec_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "fts5_index: %s: %s\n", sql, err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* A string field of a BEIR object: a JSON string, or "" when absent or null. Numbers
 * (some corpora have numeric ids) are printed into buf. NULL for anything else. */
static const char *field_text(json_t *obj, const char *key, char *buf, size_t bufsize,
                              size_t *len)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *len = 0;
        return "";
    }
    if (json_is_string(v)) {
        *len = json_string_length(v);
        return json_string_value(v);
    }
    if (json_is_integer(v)) {
        int n = snprintf(buf, bufsize, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *len = (size_t)n;
        return buf;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int contentless = 0, optimize = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (strcmp(argv[i], "--contentless") == 0)
            contentless = 1;
        else if (strcmp(argv[i], "--optimize") == 0)
            optimize = 1;
        else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (argc - i < 1 || argc - i > 2) {
        usage(stderr);
        return 2;
    }
    const char *dbpath = argv[i];
    const char *inpath = argc - i == 2 ? argv[i + 1] : "-";

    FILE *in = stdin;
    if (strcmp(inpath, "-") != 0) {
        in = fopen(inpath, "r");
        if (!in) {
            fprintf(stderr, "fts5_index: %s: %s\n", inpath, strerror(errno));
            return 1;
        }
    }

    double start = now_seconds();
    if (unlink(dbpath) != 0 && errno != ENOENT) {
        fprintf(stderr, "fts5_index: %s: %s\n", dbpath, strerror(errno));
        return 1;
    }
    /* A stale journal of an earlier database would be applied to the new one. */
    size_t jlen = strlen(dbpath) + sizeof "-journal";
    char *journal = malloc(jlen);
    if (!journal)
        return 1;
    snprintf(journal, jlen, "%s-journal", dbpath);
    unlink(journal);
    free(journal);

    sqlite3 *db = NULL;
    if (sqlite3_open(dbpath, &db) != SQLITE_OK) {
        fprintf(stderr, "fts5_index: %s: %s\n", dbpath, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return 1;
    }
    const char *create =
        contentless ? "CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, body, "
                      "content='', tokenize='porter unicode61')"
                    : "CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, body, "
                      "tokenize='porter unicode61')";
    sqlite3_stmt *ins = NULL;
    if (exec_sql(db, "BEGIN") != 0 || exec_sql(db, create) != 0)
        goto fail;
    if (sqlite3_prepare_v2(db, "INSERT INTO docs(id, title, body) VALUES (?1, ?2, ?3)", -1,
                           &ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "fts5_index: prepare: %s\n", sqlite3_errmsg(db));
        goto fail;
    }

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long long docs = 0, input_bytes = 0, lineno = 0;
    while ((n = getline(&line, &cap, in)) != -1) {
        lineno++;
        input_bytes += n;
        size_t len = (size_t)n;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                           line[len - 1] == ' ' || line[len - 1] == '\t'))
            len--;
        if (len == 0)
            continue;
        json_error_t jerr;
        json_t *obj = json_loadb(line, len, 0, &jerr);
        if (!obj || !json_is_object(obj)) {
            fprintf(stderr, "fts5_index: %s:%lld: %s\n", inpath, lineno,
                    obj ? "not a JSON object" : jerr.text);
            json_decref(obj);
            free(line);
            goto fail;
        }
        char idbuf[32], tbuf[32], bbuf[32];
        size_t idlen, tlen, blen;
        const char *id = field_text(obj, "_id", idbuf, sizeof idbuf, &idlen);
        const char *title = field_text(obj, "title", tbuf, sizeof tbuf, &tlen);
        const char *body = field_text(obj, "text", bbuf, sizeof bbuf, &blen);
        if (!id || !title || !body) {
            fprintf(stderr, "fts5_index: %s:%lld: _id, title and text must be strings\n",
                    inpath, lineno);
            json_decref(obj);
            free(line);
            goto fail;
        }
        sqlite3_bind_text(ins, 1, id, (int)idlen, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, title, (int)tlen, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, body, (int)blen, SQLITE_STATIC);
        int rc = sqlite3_step(ins);
        sqlite3_reset(ins);
        sqlite3_clear_bindings(ins);
        json_decref(obj);
        if (rc != SQLITE_DONE) {
            fprintf(stderr, "fts5_index: %s:%lld: insert: %s\n", inpath, lineno,
                    sqlite3_errmsg(db));
            free(line);
            goto fail;
        }
        docs++;
    }
    free(line);
    if (ferror(in)) {
        fprintf(stderr, "fts5_index: %s: read error\n", inpath);
        goto fail;
    }
    sqlite3_finalize(ins);
    ins = NULL;
    if (optimize && exec_sql(db, "INSERT INTO docs(docs) VALUES ('optimize')") != 0)
        goto fail;
    if (exec_sql(db, "COMMIT") != 0)
        goto fail;
    /* Without VACUUM the pages 'optimize' freed stay in the file, which grows. */
    if (optimize && exec_sql(db, "VACUUM") != 0)
        goto fail;
    if (sqlite3_close(db) != SQLITE_OK) {
        fprintf(stderr, "fts5_index: close: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    if (in != stdin)
        fclose(in);
    printf("{\"documents\":%lld,\"input_bytes\":%lld,\"seconds\":%.3f}\n", docs, input_bytes,
           now_seconds() - start);
    return 0;

fail:
    sqlite3_finalize(ins);
    sqlite3_close(db);
    if (in != stdin)
        fclose(in);
    return 1;
}
