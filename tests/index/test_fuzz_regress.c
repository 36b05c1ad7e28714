/* tests/index/test_fuzz_regress.c: the inputs of fuzz/fuzz_segment.c that once crashed it
 * (tests/fuzz/segment/, any file name) and its seeds (fuzz/corpus/segment/), run through
 * the same reads as the fuzzer: open the bytes as a segment and read every term, posting,
 * document entry and some stored texts; parse them as a MANIFEST. Each input is copied to
 * an allocation of its exact size so that AddressSanitizer sees any read past it.
 * The seeds must open (seg_*) or parse (manifest_*); the regression inputs must only not
 * crash. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "index/manifest.h"
#include "index/reader.h"
#include "testutil.h"
#include "util/alloc.h"

#define POS_CAP 4096

static void read_postings(const kq_seg *s, const struct kq_term_meta *m)
{
    static uint32_t pos[POS_CAP];
    const kq_segfile *f = &s->f;
    kq_postings_cursor pc;
    if (kq_postings_open(&pc, f->sec[KQ_SEC_POST].p, f->sec[KQ_SEC_POST].len,
                         f->sec[KQ_SEC_POSN].p, f->sec[KQ_SEC_POSN].len, m, f->pos_tables,
                         NULL))
        return;
    while (kq_postings_next(&pc) != KQ_DOC_END)
        if (kq_postings_tf(&pc) <= POS_CAP)
            (void)kq_postings_positions(&pc, pos);
    kq_postings_close(&pc);
    if (kq_postings_open(&pc, f->sec[KQ_SEC_POST].p, f->sec[KQ_SEC_POST].len,
                         f->sec[KQ_SEC_POSN].p, f->sec[KQ_SEC_POSN].len, m, f->pos_tables,
                         NULL))
        return;
    uint32_t target = 0;
    for (int i = 0; i < 64; i++) {
        target += 1 + (uint32_t)i * 7;
        uint32_t d = kq_postings_seek(&pc, target);
        if (d == KQ_DOC_END)
            break;
        if (d > target)
            target = d;
        if (kq_postings_tf(&pc) <= POS_CAP)
            (void)kq_postings_positions(&pc, pos);
    }
    kq_postings_close(&pc);
}

/* Returns 1 when the bytes opened as a segment. */
static int run_one(const uint8_t *data, size_t size, int *manifest_ok)
{
    kq_seg s;
    kq_error e;
    int opened = 0;
    if (!kq__seg_open_bytes(&s, data, size, &e)) {
        opened = 1;
        kq_termdict_iter it;
        if (!kq_termdict_seek(&s.td, &it, NULL, 0, NULL)) {
            const uint8_t *key;
            size_t len;
            struct kq_term_meta m;
            for (int n = 0; n < 20000 && kq_termdict_next(&it, &key, &len, &m, NULL) == 1; n++)
                read_postings(&s, &m);
        }
        for (uint32_t d = 0; d < s.n_docs && d < 100000; d++) {
            struct kq_doc doc;
            (void)kq__seg_doc(&s, d, &doc, NULL);
        }
        uint32_t which[3] = {0, s.n_docs / 2, s.n_docs ? s.n_docs - 1 : 0};
        for (int i = 0; i < 3 && s.n_docs; i++) {
            char *text;
            size_t len;
            if (!kq__seg_doc_text(&s, which[i], &text, &len, NULL))
                kq__free(text);
        }
        kq__seg_close_bytes(&s);
    } else {
        assert_true(e.code < 0);
    }
    struct kq_manifest m;
    *manifest_ok = !kq__manifest_parse(data, size, &m, NULL);
    kq__manifest_release(&m);
    return opened;
}

/* Runs every file of `dir`; returns how many there were. `seeds`: they must be valid. */
static int run_dir(const char *dir, int seeds)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !strcmp(de->d_name, "README"))
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t len;
        char *bytes = kqt_read_file(path, &len);
        uint8_t *exact = malloc(len ? len : 1);
        assert_non_null(exact);
        memcpy(exact, bytes, len);
        free(bytes);
        int manifest_ok;
        int opened = run_one(exact, len, &manifest_ok);
        if (seeds && !strncmp(de->d_name, "seg_", 4) && !opened)
            fail_msg("seed %s does not open", de->d_name);
        if (seeds && !strncmp(de->d_name, "manifest", 8) && !manifest_ok)
            fail_msg("seed %s does not parse", de->d_name);
        free(exact);
        n++;
    }
    closedir(d);
    return n;
}

static void test_seeds(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/segment", kqt_source_dir());
    assert_true(run_dir(dir, 1) >= 4);
}

static void test_regressions(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/segment", kqt_source_dir());
    print_message("%d regression inputs\n", run_dir(dir, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds),
        cmocka_unit_test(test_regressions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
