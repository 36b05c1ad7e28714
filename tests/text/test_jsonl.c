/* tests/text/test_jsonl.c: BEIR JSON lines (real lines from scifact when available). */
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

/* The first line of the scifact corpus (BEIR), abridged text. */
static const char scifact0[] =
    "{\"_id\": \"4983\", \"title\": \"Microstructural development of human newborn cerebral "
    "white matter assessed in vivo by diffusion tensor magnetic resonance imaging.\", "
    "\"text\": \"Alterations of the architecture of cerebral white matter in the developing "
    "human brain can affect cortical development and result in functional disabilities.\", "
    "\"metadata\": {}}";

static int parse(const char *s, size_t len, struct kq_json_doc *d, kq_error *err)
{
    char *copy = malloc(len ? len : 1); /* exactly sized: ASan sees overreads */
    assert_non_null(copy);
    memcpy(copy, s, len);
    int rc = kq_jsonl_parse(copy, len, d, err);
    free(copy);
    return rc;
}

static void test_beir_line(void **state)
{
    (void)state;
    struct kq_json_doc d;
    assert_int_equal(parse(scifact0, strlen(scifact0), &d, NULL), 0);
    assert_string_equal(d.id, "4983");
    assert_int_equal(d.id_len, 4);
    assert_true(strncmp(d.title, "Microstructural development", 27) == 0);
    assert_int_equal(strlen(d.title), d.title_len);
    assert_true(strncmp(d.text, "Alterations of the architecture", 31) == 0);
    assert_int_equal(strlen(d.text), d.text_len);
    kq_json_doc_release(&d);
    kq_json_doc_release(&d);
    kq_json_doc_release(NULL);
}

static void test_variants(void **state)
{
    (void)state;
    struct kq_json_doc d;
    const char *s = "{\"doc_id\": 12345, \"text\": \"a\\u0000b \\u00e9\", \"x\": [1, {\"y\": 2}]}";
    assert_int_equal(parse(s, strlen(s), &d, NULL), 0);
    assert_string_equal(d.id, "12345");
    assert_string_equal(d.title, "");
    assert_int_equal(d.title_len, 0);
    assert_int_equal(d.text_len, 6);
    assert_memory_equal(d.text, "a\0b \xc3\xa9", 7);
    kq_json_doc_release(&d);
    s = "  {\"_id\": -7, \"title\": null, \"text\": \"t\"}  ";
    assert_int_equal(parse(s, strlen(s), &d, NULL), 0);
    assert_string_equal(d.id, "-7");
    assert_string_equal(d.title, "");
    kq_json_doc_release(&d);
    /* "_id" wins over "doc_id" */
    s = "{\"doc_id\": \"b\", \"_id\": \"a\"}";
    assert_int_equal(parse(s, strlen(s), &d, NULL), 0);
    assert_string_equal(d.id, "a");
    kq_json_doc_release(&d);
    /* a lone surrogate (as Python writes an undecodable byte) reads as U+FFFD, in any
     * string; a pair is a character; an escaped backslash before "u" is no escape */
    s = "{\"_id\": \"x\\udc80\", \"title\": \"\\uD800!\", \"text\": \"a\\ud83d\\ude00 "
        "\\\\udc80 \\\"\\udfff\"}";
    assert_int_equal(parse(s, strlen(s), &d, NULL), 0);
    assert_string_equal(d.id, "x\xef\xbf\xbd");
    assert_string_equal(d.title, "\xef\xbf\xbd!");
    assert_string_equal(d.text, "a\xf0\x9f\x98\x80 \\udc80 \"\xef\xbf\xbd");
    kq_json_doc_release(&d);
}

/* Lines the fast reader takes (escapes, surrogate pairs, nested values, duplicate keys)
 * and lines it leaves to jansson give what jansson gives. */
static void test_fast_reader(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        const char *id, *title, *text;
        size_t text_len;
    } ok[] = {
        {"{\"_id\": \"x\", \"title\": \"first\", \"text\": \"a\\tb\\\\c\\/d\\\"e\", "
         "\"title\": \"last\"}",
         "x", "last", "a\tb\\c/d\"e", 9},
        {"{\"_id\":\"1\",\"m\":{\"a\":[1,-2.5e3,true,false,null,{},[]]},\"text\":"
         "\"\\u00e9\\ud83d\\ude00\\b\\f\\n\\r\"}",
         "1", "", "\xc3\xa9\xf0\x9f\x98\x80\b\f\n\r", 10},
        {" \t{ \"_id\" : \"caf\xc3\xa9\" , \"text\" : null , \"n\" : 0 }\r\n ", "caf\xc3\xa9", "",
         "", 0},
        {"{\"_id\": null, \"doc_id\": \"d\", \"text\": \"0123456789abcdef\\u0041\"}", "d", "",
         "0123456789abcdefA", 17},
        {"{\"_\\u0069d\": \"escaped key\", \"text\": \"t\"}", "escaped key", "", "t", 1},
        {"{\"_id\": 123456789012345678901, \"text\": \"t\"}", NULL, NULL, NULL, 0},
        {"{\"_id\": \"a\\ud800\", \"text\": \"t\"}", "a\xef\xbf\xbd", "", "t", 1},
        {"{\"_id\": \"a\x01\", \"text\": \"t\"}", NULL, NULL, NULL, 0},
        {"{\"_id\": \"a\", \"x\": 01}", NULL, NULL, NULL, 0},
        {"{\"_id\": \"a\", \"x\": 1e400}", NULL, NULL, NULL, 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct kq_json_doc d;
        kq_error err;
        int rc = parse(ok[i].s, strlen(ok[i].s), &d, &err);
        if (!ok[i].id) {
            if (rc != KQ_EINVAL)
                fail_msg("line %zu: accepted", i);
            continue;
        }
        if (rc)
            fail_msg("line %zu: %s", i, err.msg);
        assert_string_equal(d.id, ok[i].id);
        assert_string_equal(d.title, ok[i].title);
        assert_int_equal(d.text_len, ok[i].text_len);
        assert_memory_equal(d.text, ok[i].text, ok[i].text_len + 1);
        kq_json_doc_release(&d);
    }
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        const char *msg;
        int64_t off;
    } bad[] = {
        {"{\"_id\": \"1\", \"text\": ", "invalid JSON", 21},
        {"[1, 2]", "not a JSON object", 0},
        {"{\"title\": \"x\"}", "no '_id'", 0},
        {"{\"_id\": 1.5}", "neither a string nor an integer", 0},
        {"{\"_id\": \"1\", \"title\": 3}", "'title' is not a string", 0},
        {"{\"_id\": \"1\", \"text\": [\"x\"]}", "'text' is not a string", 0},
        {"{\"_id\": \"1\"} trailing", "invalid JSON", -2},
        {"", "invalid JSON", -2},
        {"{\"_id\": \"\xff\"}", "invalid JSON", -2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kq_json_doc d;
        kq_error err;
        assert_int_equal(parse(bad[i].s, strlen(bad[i].s), &d, &err), KQ_EINVAL);
        assert_int_equal(err.code, KQ_EINVAL);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("'%s': message '%s'", bad[i].s, err.msg);
        if (bad[i].off != -2)
            assert_int_equal(err.offset, bad[i].off);
        else
            assert_true(err.offset >= 0 && err.offset <= (int64_t)strlen(bad[i].s));
        assert_null(d.id);
        assert_null(d.title);
        assert_null(d.text);
    }
}

/* Every truncation of a real line is refused cleanly (or, for the full line, accepted). */
static void test_truncation_sweep(void **state)
{
    (void)state;
    size_t len = strlen(scifact0);
    for (size_t n = 0; n < len; n++) {
        struct kq_json_doc d;
        kq_error err;
        assert_int_equal(parse(scifact0, n, &d, &err), KQ_EINVAL);
        assert_true(err.offset >= 0 && err.offset <= (int64_t)n);
    }
}

static void test_alloc_failure_sweep(void **state)
{
    (void)state;
    for (long n = 0;; n++) {
        struct kq_json_doc d;
        kq_error err;
        kq_alloc_fail_after(n);
        int rc = kq_jsonl_parse(scifact0, strlen(scifact0), &d, &err);
        kq_alloc_fail_after(-1);
        if (rc == 0) {
            assert_string_equal(d.id, "4983");
            kq_json_doc_release(&d);
            break;
        }
        assert_int_equal(rc, KQ_ENOMEM);
        assert_null(d.id);
        assert_null(d.title);
        assert_null(d.text);
        assert_true(n < 10);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_beir_line),
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_fast_reader),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_truncation_sweep),
        cmocka_unit_test(test_alloc_failure_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
