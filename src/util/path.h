/* util/path.h: file names as an index stores them (FORMAT.md, "Paths").
 *
 * A path is made absolute against the current directory and cleaned lexically: no empty,
 * "." or ".." components and no trailing '/', as git and Go's filepath.Clean do. A
 * symbolic link keeps the name it was reached by (the links before a ".." and those that
 * lead to the root are resolved, see below). An index names a file by
 * its path relative to the index's root, the folder holding the index directory, when the
 * file lies under it, and by its absolute path otherwise: one name a file, however it was
 * spelled and wherever kq-index ran.
 */
#ifndef KQ_UTIL_PATH_H
#define KQ_UTIL_PATH_H

#include <stddef.h>

#include "kq/error.h"
#include "util/buf.h"

/* kq__path_clean: `p` made absolute against `base` (an absolute path; ignored when `p` is
 * absolute) and cleaned. The caller owns the result (kq__free); NULL when out of memory. */
char *kq__path_clean(const char *base, const char *p);

/* kq__path_join: "a/b" (just `b` when `a` is "", just `a` when `b` is; one '/' between
 * them). The caller owns it (kq__free); NULL when out of memory. */
char *kq__path_join(const char *a, const char *b);

/* kq__path_absolute: `p` made absolute against the current directory and cleaned, into
 * `*out` (the caller's, kq__free). A ".." is taken as the kernel takes it: the part of `p`
 * up to its last ".." is resolved (symbolic links followed) when it exists, so that
 * `link/../x` names the x beside where the link leads. Returns 0, KQ_EIO (the current
 * directory is unreadable, or the part up to a ".." cannot be followed: `gone/../x`),
 * KQ_ENOMEM. */
int kq__path_absolute(const char *p, char **out, kq_error *err);

/* kq__path_root: the root of the index in `index_dir`: the folder that holds it, where
 * symbolic links lead (so that every way to reach an index gives one root). Allocated
 * into `*out` as kq__path_absolute. */
int kq__path_root(const char *index_dir, char **out, kq_error *err);

/* kq__path_under: when the clean absolute path `p` is `dir` (clean, absolute) or lies
 * under it, what follows "dir/" in `p` ("" for `dir` itself), else NULL (also when either
 * is not absolute). */
const char *kq__path_under(const char *dir, const char *p);

/* kq__path_name: the name an index of root `root` gives the file or folder at `p`
 * (relative to the current directory unless absolute): relative to the root when under
 * it ("" for the root itself), else absolute; clean either way. A `p` that reaches the
 * root through a symbolic link (`~/notes/docs` where /home is a link) is named relative
 * to the root too; links past the root keep their names. A `p` above the root is named
 * by where it is, links resolved (`root` must be too, as kq__path_root gives it).
 * Allocated into `*out` as kq__path_absolute. */
int kq__path_name(const char *root, const char *p, char **out, kq_error *err);

/* kq__path_is_name: whether the `len` bytes at `p` are a name as an index of version 3
 * gives a file: not empty, no NUL byte, no empty, "." or ".." component, no trailing '/'
 * (a leading '/' makes it absolute). */
int kq__path_is_name(const char *p, size_t len);

/* kq__path_json: appends the member "path": the absolute path of the file an index names
 * `name` (`len` bytes; relative to `root` unless absolute), with "path_bytes" when it is
 * not valid UTF-8 (kq__json_bytes_member). Returns 0 or KQ_ENOMEM. */
int kq__path_json(kq_buf *out, const char *root, const char *name, size_t len);

/* kq__path_is: whether the absolute path of the file an index names `name` (`len` bytes;
 * relative to `root` unless absolute), as kq__path_json writes it, is the `abs_len` bytes
 * at `abs`. */
int kq__path_is(const char *root, const char *name, size_t len, const char *abs,
                size_t abs_len);

#endif
