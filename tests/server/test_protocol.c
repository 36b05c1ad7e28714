/* tests/server/test_protocol.c: the request parser and the answer writers of the kqd
 * protocol (server/protocol.c): golden requests, every error path, the id echoed byte for
 * byte, a truncation sweep, a byte-flip sweep, an allocation-failure sweep, and answers
 * that are valid JSON whatever the message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "kq/search.h"
#include "server/protocol.h"
#include "testutil.h"
#include "util/alloc.h"

static int parse(const char *line, struct kq_request *r, kq_error *e)
{
    kq_error_clear(e);
    return kq__request_parse(line, strlen(line), r, e);
}

static void test_golden(void **state)
{
    (void)state;
    struct kq_request r;
    kq_error e;

    assert_int_equal(parse("{\"id\":1,\"op\":\"ping\"}", &r, &e), 0);
    assert_int_equal(r.op, KQ_OP_PING);
    assert_string_equal(r.id, "1");
    kq__request_release(&r);

    assert_int_equal(parse("{\"op\":\"stats\"}", &r, &e), 0);
    assert_int_equal(r.op, KQ_OP_STATS);
    assert_string_equal(r.id, "null");
    assert_int_equal(r.id_len, 4);
    kq__request_release(&r);

    assert_int_equal(parse("{\"id\":\"a\",\"op\":\"search\",\"query\":\"reciprocal defense\","
                           "\"k\":3,\"offset\":2,\"plain\":true,\"snippets\":false,\"k1\":1.2,"
                           "\"b\":0.75,\"title_weight\":2.5,\"protocol\":1,\"future\":{\"x\":[1,2]}}",
                           &r, &e),
                     0);
    assert_int_equal(r.op, KQ_OP_SEARCH);
    assert_string_equal(r.id, "\"a\"");
    assert_int_equal(r.text_len, 18);
    assert_memory_equal(r.text, "reciprocal defense", 18);
    assert_int_equal(r.k, 3);
    assert_int_equal(r.offset, 2);
    assert_int_equal(r.flags, KQ_SEARCH_PLAIN | KQ_SEARCH_NO_SNIPPETS);
    assert_true(r.k1 == 1.2 && r.b == 0.75 && r.title_weight == 2.5);
    kq__request_release(&r);

    /* title_weight 0 asks for none */
    assert_int_equal(parse("{\"op\":\"search\",\"query\":\"x\",\"title_weight\":0}", &r, &e), 0);
    assert_true(r.title_weight == KQ_SEARCH_TITLE_NONE);
    kq__request_release(&r);

    /* defaults */
    assert_int_equal(parse("{\"id\":null,\"op\":\"search\",\"query\":\"x\"}", &r, &e), 0);
    assert_string_equal(r.id, "null");
    assert_int_equal(r.k, 10);
    assert_int_equal(r.offset, 0);
    assert_int_equal(r.flags, 0);
    assert_true(r.k1 < 0 && r.b < 0 && r.title_weight == 0);
    kq__request_release(&r);

    assert_int_equal(parse("{\"id\":2,\"op\":\"count\",\"query\":\"semiconductor -china\","
                           "\"plain\":false,\"k\":\"ignored by count\"}",
                           &r, &e),
                     0);
    assert_int_equal(r.op, KQ_OP_COUNT);
    assert_int_equal(r.flags, KQ_SEARCH_COUNT);
    kq__request_release(&r);

    assert_int_equal(parse("{\"id\":3,\"op\":\"doc\",\"doc\":\"corpus/003.txt\"}", &r, &e), 0);
    assert_int_equal(r.op, KQ_OP_DOC);
    assert_string_equal(r.text, "corpus/003.txt");
    assert_null(r.path);
    kq__request_release(&r);
    /* the file of the document: one id in two JSON-lines files */
    assert_int_equal(parse("{\"id\":4,\"op\":\"doc\",\"doc\":\"7\",\"path\":\"/n/b.jsonl\"}", &r, &e),
                     0);
    assert_string_equal(r.text, "7");
    assert_string_equal(r.path, "/n/b.jsonl");
    assert_int_equal(r.path_len, 10);
    kq__request_release(&r);
    assert_null(r.path);
    /* ids and paths that are not UTF-8, in base64 */
    assert_int_equal(parse("{\"op\":\"doc\",\"doc\":\"?\",\"doc_bytes\":\"Yf8=\",\"path_bytes\":\"L/8=\"}",
                           &r, &e),
                     0);
    assert_int_equal(r.text_len, 2);
    assert_memory_equal(r.text, "a\xff", 3);
    assert_memory_equal(r.path, "/\xff", 3);
    kq__request_release(&r);

    /* a query may hold any bytes JSON can carry, NUL included; CR/LF escaped */
    assert_int_equal(parse("{\"op\":\"search\",\"query\":\"a\\u0000b\\nc\"}", &r, &e), 0);
    assert_int_equal(r.text_len, 5);
    assert_memory_equal(r.text, "a\0b\nc", 5);
    kq__request_release(&r);

    /* whitespace around everything */
    assert_int_equal(parse(" \t{ \"op\" : \"ping\" , \"id\" : 7 } ", &r, &e), 0);
    assert_string_equal(r.id, "7");
    kq__request_release(&r);
}

/* The id comes back as the request spelled it (P1). */
static void test_id_bytes(void **state)
{
    (void)state;
    static const char *const ids[] = {
        "1.50", "-0", "1e3", "12345678901234567890123", "\"\\u0041\\n\"", "\"é\"",
        "\"a\\\"b\"", "null", "\"\"", "0.000001E-7",
    };
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        char line[256];
        snprintf(line, sizeof line, "{\"op\":\"ping\",\"x\":{\"id\":5},\"id\":%s}", ids[i]);
        struct kq_request r;
        kq_error e;
        int rc = parse(line, &r, &e);
        if (!strcmp(ids[i], "12345678901234567890123")) {
            /* jansson refuses integers beyond 64 bits: invalid JSON, id unknown */
            assert_int_equal(rc, KQ_EBADJSON);
            assert_string_equal(r.id, "null");
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(r.id, ids[i]);
        }
        kq__request_release(&r);
    }
    /* an escaped key is still "id" */
    struct kq_request r;
    kq_error e;
    assert_int_equal(parse("{\"\\u0069d\":\"k\",\"op\":\"ping\"}", &r, &e), 0);
    assert_string_equal(r.id, "\"k\"");
    kq__request_release(&r);
    /* 256 bytes of id are fine, 257 are not */
    char line[600], id[300];
    memset(id, 'x', sizeof id);
    id[0] = '"';
    id[255] = '"';
    id[256] = '\0';
    snprintf(line, sizeof line, "{\"op\":\"ping\",\"id\":%s}", id);
    assert_int_equal(parse(line, &r, &e), 0);
    assert_int_equal(r.id_len, 256);
    kq__request_release(&r);
    id[255] = 'x';
    id[256] = '"';
    id[257] = '\0';
    snprintf(line, sizeof line, "{\"op\":\"ping\",\"id\":%s}", id);
    assert_int_equal(parse(line, &r, &e), KQ_EINVAL);
    assert_string_equal(r.id, "null");
    assert_non_null(strstr(e.msg, "longer than 256"));
    kq__request_release(&r);
}

struct bad_case {
    const char *line;
    int code;
    const char *id;      /* the id the error answer carries */
    const char *in_msg;  /* a part of the message */
    int64_t offset;      /* -2: not checked */
};

static void test_errors(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"", KQ_EBADJSON, "null", "invalid JSON", 0},
        {"not json", KQ_EBADJSON, "null", "invalid JSON", 2},
        {"{\"id\":1,\"op\":\"ping\"", KQ_EBADJSON, "null", "invalid JSON", -2},
        {"{\"id\":1,\"op\":\"ping\"} x", KQ_EBADJSON, "null", "invalid JSON", -2},
        {"{\"op\":\"ping\",\"op\":\"ping\"}", KQ_EBADJSON, "null", "duplicate", -2},
        {"[1,2]", KQ_EBADJSON, "null", "not a JSON object", 0},
        {"{\"op\":\"ping\",\"x\":\"\xff\"}", KQ_EBADJSON, "null", "invalid JSON", -2},
        {"{\"id\":1}", KQ_EINVAL, "1", "missing member 'op'", -1},
        {"{\"id\":1,\"op\":5}", KQ_EINVAL, "1", "member 'op' must be a string", -1},
        {"{\"id\":true,\"op\":\"ping\"}", KQ_EINVAL, "null", "member 'id'", -1},
        {"{\"id\":{},\"op\":\"ping\"}", KQ_EINVAL, "null", "member 'id'", -1},
        {"{\"id\":1,\"op\":\"frob\"}", KQ_EBADOP, "1", "unknown op 'frob'", -1},
        {"{\"id\":1,\"op\":\"PING\"}", KQ_EBADOP, "1", "unknown op 'PING'", -1},
        {"{\"id\":1,\"op\":\"p\\u0000\\u0001ing\"}", KQ_EBADOP, "1", "unknown op 'p??ing'", -1},
        {"{\"id\":1,\"op\":\"ping\",\"protocol\":2}", KQ_EVERSION, "1",
         "unsupported protocol version 2 (this server speaks 1)", -1},
        {"{\"id\":1,\"op\":\"ping\",\"protocol\":\"1\"}", KQ_EINVAL, "1", "'protocol'", -1},
        {"{\"id\":1,\"op\":\"ping\",\"protocol\":1.0}", KQ_EINVAL, "1", "'protocol'", -1},
        {"{\"id\":1,\"op\":\"search\"}", KQ_EINVAL, "1", "missing member 'query'", -1},
        {"{\"id\":1,\"op\":\"search\",\"query\":7}", KQ_EINVAL, "1", "member 'query'", -1},
        {"{\"id\":1,\"op\":\"search\",\"query\":\"x\",\"k\":0}", KQ_EINVAL, "1",
         "member 'k' must be an integer from 1 to 10000", -1},
        {"{\"id\":1,\"op\":\"search\",\"query\":\"x\",\"k\":10001}", KQ_EINVAL, "1", "'k'", -1},
        {"{\"id\":1,\"op\":\"search\",\"query\":\"x\",\"k\":2.5}", KQ_EINVAL, "1", "'k'", -1},
        {"{\"id\":1,\"op\":\"search\",\"query\":\"x\",\"k\":\"3\"}", KQ_EINVAL, "1", "'k'", -1},
        {"{\"id\":1,\"op\":\"search\",\"query\":\"x\",\"offset\":-1}", KQ_EINVAL, "1",
         "'offset'", -1},
        {"{\"id\":1,\"op\":\"search\",\"query\":\"x\",\"offset\":100001}", KQ_EINVAL, "1",
         "'offset'", -1},
        {"{\"id\":1,\"op\":\"search\",\"query\":\"x\",\"plain\":1}", KQ_EINVAL, "1",
         "member 'plain' must be true or false", -1},
        {"{\"id\":1,\"op\":\"search\",\"query\":\"x\",\"snippets\":null}", KQ_EINVAL, "1",
         "'snippets'", -1},
        {"{\"id\":1,\"op\":\"search\",\"query\":\"x\",\"k1\":101}", KQ_EINVAL, "1",
         "member 'k1' must be a number from 0 to 100", -1},
        {"{\"id\":1,\"op\":\"search\",\"query\":\"x\",\"b\":-0.1}", KQ_EINVAL, "1", "'b'", -1},
        {"{\"id\":1,\"op\":\"search\",\"query\":\"x\",\"title_weight\":101}", KQ_EINVAL, "1",
         "member 'title_weight' must be a number from 0 to 100", -1},
        {"{\"id\":1,\"op\":\"search\",\"query\":\"x\",\"title_weight\":-1}", KQ_EINVAL, "1",
         "'title_weight'", -1},
        {"{\"id\":1,\"op\":\"search\",\"query\":\"x\",\"b\":\"0.5\"}", KQ_EINVAL, "1", "'b'",
         -1},
        {"{\"id\":1,\"op\":\"count\",\"query\":[]}", KQ_EINVAL, "1", "'query'", -1},
        {"{\"id\":1,\"op\":\"count\",\"query\":\"x\",\"plain\":\"yes\"}", KQ_EINVAL, "1",
         "'plain'", -1},
        {"{\"id\":1,\"op\":\"doc\"}", KQ_EINVAL, "1", "missing member 'doc'", -1},
        {"{\"id\":1,\"op\":\"doc\",\"doc\":3}", KQ_EINVAL, "1", "member 'doc'", -1},
        {"{\"id\":1,\"op\":\"doc\",\"doc\":\"3\",\"path\":[]}", KQ_EINVAL, "1", "member 'path'", -1},
        {"{\"id\":1,\"op\":\"doc\",\"doc_bytes\":\"YQ\"}", KQ_EINVAL, "1", "'doc_bytes' must be padded base64", -1},
        {"{\"id\":1,\"op\":\"doc\",\"doc_bytes\":7}", KQ_EINVAL, "1", "'doc_bytes'", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct bad_case *c = &cases[i];
        struct kq_request r;
        kq_error e;
        int rc = parse(c->line, &r, &e);
        if (rc != c->code || strcmp(r.id, c->id) || !strstr(e.msg, c->in_msg) ||
            (c->offset != -2 && e.offset != c->offset) || e.code != rc)
            fail_msg("%s: rc %d (want %d), id %s (want %s), offset %lld, msg '%s'", c->line, rc,
                     c->code, r.id, c->id, (long long)e.offset, e.msg);
        assert_null(r.text);
        kq__request_release(&r);
    }
}

/* A request of more JSON values than KQ_REQUEST_VALUES_MAX is refused before it is parsed;
 * commas, brackets and quotes inside strings do not count. */
static void test_values_limit(void **state)
{
    (void)state;
    kq_buf b = KQ_BUF_INIT;
    struct kq_request r;
    kq_error e;
    /* {"id":1,"op":"ping","x":[{},...]}: 1 + 2 commas + 1 '{' + 1 '[' + n '{' + n - 1 ',' */
    for (int n = 510; n <= 511; n++) {
        b.len = 0;
        const char *head = "{\"id\":1,\"op\":\"ping\",\"x\":[";
        assert_int_equal(kq_buf_append(&b, head, strlen(head)), 0);
        for (int i = 0; i < n; i++)
            assert_int_equal(kq_buf_append(&b, i ? ",{}" : "{}", i ? 3 : 2), 0);
        assert_int_equal(kq_buf_append(&b, "]}", 3), 0); /* with the NUL */
        int rc = parse((const char *)b.p, &r, &e);
        if (n == 510) { /* 1 + 2 + 1 + 1 + 510 + 509 = 1024: the most allowed */
            if (rc)
                fail_msg("%d values: %s", n, e.msg);
        } else {
            assert_int_equal(rc, KQ_ELIMIT);
            assert_non_null(strstr(e.msg, "at most 1024 JSON values"));
            assert_string_equal(r.id, "1"); /* answered with its id (P1) */
        }
        kq__request_release(&r);
    }
    /* the id of a refused request: found by the scanner, where it is an id on its own */
    static const struct {
        const char *head, *tail, *id;
    } ids[] = {
        {"{\"op\":\"ping\",\"x\":[", "],\"id\":\"a\\\"b\"}", "\"a\\\"b\""},
        {"{ \"x\" : [", "] , \"id\" : -2.5e3 }", "-2.5e3"},
        {"{\"id\":null,\"x\":[", "]}", "null"},
        {"{\"x\":[", "],\"\\u0069d\":1}", "null"},    /* the key escaped */
        {"{\"id\":\"a\\q\",\"x\":[", "]}", "null"},    /* not a string */
        {"{\"id\":[1],\"x\":[", "]}", "null"},          /* not an id */
        {"{\"id\":tru,\"x\":[", "]}", "null"},          /* not a value */
        {"{\"x\":{\"id\":7,\"y\":[", "]}}", "null"},    /* not a member of the request */
        {"[{\"id\":7},", "]", "null"},                  /* not an object */
        {"{\"x\":[", "", "null"},                       /* cut short */
    };
    for (size_t t = 0; t < sizeof ids / sizeof *ids; t++) {
        b.len = 0;
        assert_int_equal(kq_buf_append(&b, ids[t].head, strlen(ids[t].head)), 0);
        for (int i = 0; i < 1100; i++)
            assert_int_equal(kq_buf_append(&b, i ? ",0" : "0", i ? 2 : 1), 0);
        assert_int_equal(kq_buf_append(&b, ids[t].tail, strlen(ids[t].tail) + 1), 0);
        assert_int_equal(parse((const char *)b.p, &r, &e), KQ_ELIMIT);
        if (strcmp(r.id, ids[t].id))
            fail_msg("case %zu: id %s, want %s", t, r.id, ids[t].id);
        kq__request_release(&r);
    }
    /* an id longer than P1 allows stays null */
    b.len = 0;
    assert_int_equal(kq_buf_append(&b, "{\"id\":\"", 7), 0);
    for (int i = 0; i < KQ_REQUEST_ID_MAX; i++)
        assert_int_equal(kq_buf_append(&b, "i", 1), 0);
    assert_int_equal(kq_buf_append(&b, "\",\"x\":[", 7), 0);
    for (int i = 0; i < 1100; i++)
        assert_int_equal(kq_buf_append(&b, "0,", 2), 0);
    assert_int_equal(kq_buf_append(&b, "0]}", 4), 0);
    assert_int_equal(parse((const char *)b.p, &r, &e), KQ_ELIMIT);
    assert_string_equal(r.id, "null");
    kq__request_release(&r);
    /* the same bytes inside a string: one value */
    b.len = 0;
    const char *head = "{\"id\":1,\"op\":\"count\",\"query\":\"", *text = "{[,\\\"";
    assert_int_equal(kq_buf_append(&b, head, strlen(head)), 0);
    for (int i = 0; i < 600; i++) /* 1800 of '{', '[' and ',' in 3000 bytes of query */
        assert_int_equal(kq_buf_append(&b, text, strlen(text)), 0);
    assert_int_equal(kq_buf_append(&b, "\"}", 3), 0);
    if (parse((const char *)b.p, &r, &e))
        fail_msg("a query of brackets: %s", e.msg);
    assert_int_equal(r.op, KQ_OP_COUNT);
    kq__request_release(&r);
    kq_buf_release(&b);
}

/* The wire codes of the new errors come from the one table. */
static void test_wire_codes(void **state)
{
    (void)state;
    assert_string_equal(kq_error_wire_code(KQ_EBADJSON), "invalid_json");
    assert_string_equal(kq_error_wire_code(KQ_EBADOP), "unknown_op");
    assert_string_equal(kq_error_wire_code(KQ_EOVERLOADED), "overloaded");
    assert_string_equal(kq_error_wire_code(KQ_ETIMEDOUT), "timeout");
    assert_string_equal(kq_error_wire_code(KQ_ESHUTDOWN), "shutting_down");
    assert_string_equal(kq_error_wire_code(KQ_EINVAL), "bad_request");
    assert_string_equal(kq_error_wire_code(KQ_EVERSION), "unsupported_version");
    assert_string_equal(kq_error_wire_code(KQ_ELIMIT), "too_large");
    assert_string_equal(kq_error_wire_code(KQ_ENOMEM), "internal");
}

static const char *const golden_lines[] = {
    "{\"id\":1,\"op\":\"ping\"}",
    "{\"id\":\"a\",\"op\":\"search\",\"query\":\"reciprocal defense procurement\",\"k\":1}",
    "{\"id\":2,\"op\":\"count\",\"query\":\"semiconductor -china\"}",
    "{\"id\":3,\"op\":\"doc\",\"doc\":\"corpus/003_b721ed12405fbad4.txt\"}",
    "{\"id\":[1],\"op\":\"stats\",\"protocol\":1}",
    ("{\"id\":4.5e1,\"op\":\"search\",\"query\":\"x\",\"k1\":0.9,\"b\":0.4,\"plain\":true,"
     "\"snippets\":false,\"offset\":3}"),
};

/* Checks the invariants every parse keeps, whatever the bytes. */
static void check_invariants(const char *line, size_t len, int rc, const struct kq_request *r,
                             const kq_error *e)
{
    if (rc != 0 && rc != KQ_EBADJSON && rc != KQ_EINVAL && rc != KQ_EBADOP &&
        rc != KQ_EVERSION && rc != KQ_ENOMEM)
        fail_msg("%.*s: unexpected code %d", (int)len, line, rc);
    assert_true(r->id_len <= KQ_REQUEST_ID_MAX);
    assert_int_equal(strlen(r->id), r->id_len);
    json_error_t je;
    json_t *id = json_loadb(r->id, r->id_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!id || !(json_is_string(id) || json_is_number(id) || json_is_null(id)))
        fail_msg("%.*s: id '%s' is not a JSON string, number or null", (int)len, line, r->id);
    json_decref(id);
    if (rc) {
        assert_int_equal(e->code, rc);
        assert_true(e->msg[0] != '\0');
        assert_true(e->offset >= -1 && e->offset <= (int64_t)len);
        assert_null(r->text);
    } else {
        assert_true(r->op >= KQ_OP_PING && r->op <= KQ_OP_STATS);
    }
}

static void test_truncation(void **state)
{
    (void)state;
    for (size_t g = 0; g < sizeof golden_lines / sizeof *golden_lines; g++) {
        const char *line = golden_lines[g];
        size_t len = strlen(line);
        for (size_t n = 0; n < len; n++) {
            struct kq_request r;
            kq_error e;
            kq_error_clear(&e);
            char *copy = malloc(n + 1); /* exactly n bytes: ASan sees any read past them */
            memcpy(copy, line, n);
            int rc = kq__request_parse(copy, n, &r, &e);
            if (rc != KQ_EBADJSON)
                fail_msg("prefix %zu of %s: %d", n, line, rc);
            check_invariants(copy, n, rc, &r, &e);
            kq__request_release(&r);
            free(copy);
        }
    }
}

static void test_byte_flips(void **state)
{
    (void)state;
    kqt_seed(0x5eed);
    static const uint8_t interesting[] = {0, '"', '\\', '{', '}', '[', ']', ':', ',', '\n',
                                          '1', 'n', 0x80, 0xff, ' '};
    for (size_t g = 0; g < sizeof golden_lines / sizeof *golden_lines; g++) {
        size_t len = strlen(golden_lines[g]);
        for (size_t i = 0; i < len; i++) {
            for (size_t k = 0; k < sizeof interesting + 2; k++) {
                char *copy = malloc(len);
                memcpy(copy, golden_lines[g], len);
                copy[i] = (char)(k < sizeof interesting ? interesting[k] : kqt_rand_below(256));
                struct kq_request r;
                kq_error e;
                kq_error_clear(&e);
                int rc = kq__request_parse(copy, len, &r, &e);
                check_invariants(copy, len, rc, &r, &e);
                kq__request_release(&r);
                free(copy);
            }
        }
    }
}

static void test_alloc_failures(void **state)
{
    (void)state;
    for (size_t g = 0; g < sizeof golden_lines / sizeof *golden_lines; g++) {
        const char *line = golden_lines[g];
        struct kq_request want;
        kq_error e;
        int want_rc = parse(line, &want, &e);
        int reached = 0;
        for (long n = 0; n < 200 && !reached; n++) {
            struct kq_request r;
            kq_error_clear(&e);
            kq_alloc_fail_after(n);
            int rc = kq__request_parse(line, strlen(line), &r, &e);
            kq_alloc_fail_after(-1);
            if (rc == KQ_ENOMEM) {
                assert_int_equal(e.code, KQ_ENOMEM);
                assert_null(r.text);
            } else {
                if (rc != want_rc)
                    fail_msg("%s with %ld allocations: %d, want %d", line, n, rc, want_rc);
                assert_string_equal(r.id, want.id);
                assert_int_equal(r.op, want.op);
                reached = 1;
            }
            kq__request_release(&r);
        }
        assert_true(reached);
        kq__request_release(&want);
    }
}

static void test_json_member(void **state)
{
    (void)state;
    const char *j = " { \"a\" : [1, {\"b\":\"}\"}] , \"c\":\"x\\\"y\",\"d\":-1.5e3 ,\"e\":{}}";
    size_t s, e;
    assert_int_equal(kq__json_member(j, strlen(j), 0, &s, &e), 0);
    assert_memory_equal(j + s, "[1, {\"b\":\"}\"}]", e - s);
    assert_int_equal(kq__json_member(j, strlen(j), 1, &s, &e), 0);
    assert_memory_equal(j + s, "\"x\\\"y\"", e - s);
    assert_int_equal(kq__json_member(j, strlen(j), 2, &s, &e), 0);
    assert_memory_equal(j + s, "-1.5e3", e - s);
    assert_int_equal(kq__json_member(j, strlen(j), 3, &s, &e), 0);
    assert_memory_equal(j + s, "{}", e - s);
    assert_int_equal(kq__json_member(j, strlen(j), 4, &s, &e), KQ_ENOTFOUND);
    /* never past the end, whatever the bytes */
    for (size_t n = 0; n < strlen(j); n++) {
        char *copy = malloc(n + 1);
        memcpy(copy, j, n);
        for (size_t m = 0; m < 6; m++) {
            int rc = kq__json_member(copy, n, m, &s, &e);
            assert_true(rc == 0 || rc == KQ_ENOTFOUND || rc == KQ_EBADJSON);
            if (!rc)
                assert_true(s <= e && e <= n);
        }
        free(copy);
    }
}

static void test_answers(void **state)
{
    (void)state;
    kq_buf b = KQ_BUF_INIT;
    assert_int_equal(kq__answer_result(&b, "\"a\"", 3, "{\"pong\":true}", 13), 0);
    assert_int_equal(b.len, strlen("{\"id\":\"a\",\"result\":{\"pong\":true}}\n"));
    assert_memory_equal(b.p, "{\"id\":\"a\",\"result\":{\"pong\":true}}\n", b.len);
    kq_buf_reset(&b);
    const char msg[] = "bad \"quote\"\nnew line \x01 and \xff";
    assert_int_equal(kq__answer_error(&b, "7", 1, KQ_ESYNTAX, msg, 6), 0);
    assert_int_equal(b.p[b.len - 1], '\n');
    assert_null(memchr(b.p, '\n', b.len - 1)); /* one line */
    json_error_t je;
    json_t *o = json_loadb((const char *)b.p, b.len - 1, 0, &je);
    assert_non_null(o);
    json_t *er = json_object_get(o, "error");
    assert_string_equal(json_string_value(json_object_get(er, "code")), "parse_error");
    assert_int_equal(json_integer_value(json_object_get(er, "offset")), 6);
    assert_int_equal(json_integer_value(json_object_get(o, "id")), 7);
    json_decref(o);
    kq_buf_reset(&b);
    assert_int_equal(kq__answer_error(&b, "null", 4, KQ_ETIMEDOUT, NULL, -5), 0);
    assert_memory_equal(b.p,
                        "{\"id\":null,\"error\":{\"code\":\"timeout\",\"message\":\"timed out\","
                        "\"offset\":-1}}\n",
                        b.len);
    kq_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),      cmocka_unit_test(test_id_bytes),
        cmocka_unit_test(test_errors),      cmocka_unit_test(test_values_limit),
        cmocka_unit_test(test_wire_codes),
        cmocka_unit_test(test_truncation),  cmocka_unit_test(test_byte_flips),
        cmocka_unit_test(test_alloc_failures), cmocka_unit_test(test_json_member),
        cmocka_unit_test(test_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
