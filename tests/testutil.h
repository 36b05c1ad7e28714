/* tests/testutil.h: helpers shared by the cmocka tests. */
#ifndef KQ_TESTUTIL_H
#define KQ_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* The source tree (KQ_SOURCE_DIR, set by ctest; "." otherwise). */
const char *kqt_source_dir(void);
/* Reads the whole file `path` into a malloc'd, NUL-terminated buffer; aborts the test on
 * failure. `*len` (may be NULL) receives the size. */
char *kqt_read_file(const char *path, size_t *len);
/* Reads corpus/<name> from the source tree. */
char *kqt_read_corpus(const char *name, size_t *len);
/* The 1-based line `n` of `text` in a malloc'd string (without its newline). */
char *kqt_line(const char *text, int n);
/* Makes a fresh temporary directory and returns its malloc'd path. */
char *kqt_tmpdir(void);
/* Removes a directory tree. */
void kqt_rmrf(const char *path);

/* A deterministic xorshift64 generator, one per test program: tests reproduce exactly. */
void kqt_seed(uint64_t seed); /* nonzero */
uint64_t kqt_rand(void);
uint32_t kqt_rand_below(uint64_t n); /* n >= 1 */

#endif
