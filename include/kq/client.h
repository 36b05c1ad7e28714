/* kq/client.h: talking to kqd from another program (kq, editor helpers, benchmarks).
 *
 * Three pieces, each usable alone:
 *  - the socket path rule of src/server/PROTOCOL.md ("Conventions"), the one place kq and
 *    kqd compute where the daemon of an index listens;
 *  - a small blocking client: connect with a timeout, send one request line, read one
 *    answer line;
 *  - parsing: an answer line split into its result (the bytes of the result object, as the
 *    server wrote them) or its error (a kq_error), and a search or count result object
 *    turned into hits (struct kq_search_hit, as kq_result_hit gives them), so that a
 *    program prints results the same way whether they came from the daemon or from
 *    kq_search + kq_result_json in-process.
 *
 * Errors: 0 or a negative KQ_E* code with `err` filled when non-NULL (kq/error.h).
 * Thread safety: all functions are reentrant; a kq_client and a kq_hits belong to one
 * thread at a time. The client never raises SIGPIPE (it sends with MSG_NOSIGNAL).
 */
#ifndef KQ_CLIENT_H
#define KQ_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "kq/error.h"
#include "kq/search.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The protocol version this library speaks (PROTOCOL.md). */
#define KQ_PROTOCOL_VERSION 1

/* Room for any socket path kq_socket_path produces (sun_path is 108 bytes on Linux). */
#define KQ_SOCKET_PATH_MAX 108

/* kq_socket_path: the socket of the daemon serving the index in `index_dir` (which must
 * exist): "<abs>/kqd.sock" where <abs> is the directory's absolute path with symbolic
 * links resolved, or, when that does not fit a socket address, "$XDG_RUNTIME_DIR/kq/<h>.sock"
 * ("/tmp/kq-<uid>/<h>.sock" without XDG_RUNTIME_DIR) with <h> the XXH3-64 of <abs> as 16
 * lowercase hex digits. Writes a NUL-terminated path into `out` (`size` >=
 * KQ_SOCKET_PATH_MAX). Returns 0; KQ_ENOTFOUND (no such directory), KQ_ELIMIT (even the
 * fallback path is too long), KQ_EIO. */
int kq_socket_path(const char *index_dir, char *out, size_t size, kq_error *err);

/* kq_index_find: the index a command means: `explicit_dir` when not NULL, else $KQ_INDEX
 * when set and not empty, else the nearest ".kq" directory holding a MANIFEST in the current
 * directory or above it (as git finds .git). Writes the path (as given, or absolute when
 * found upwards) into `out`. Returns 0, KQ_ENOTFOUND (nothing found upwards), KQ_ELIMIT
 * (path longer than `size`), KQ_EIO (the current directory is unreadable). */
int kq_index_find(const char *explicit_dir, char *out, size_t size, kq_error *err);

/* kq_socket_dir_prepare: makes sure the directory holding `sock_path` exists and is safe
 * for a socket: created with mode 0700 when missing (one level); when it is the fallback
 * directory of kq_socket_path (…/kq or /tmp/kq-<uid>), an existing one must be a real
 * directory owned by the caller with no group or other permissions. Returns 0, KQ_EIO
 * (cannot create), KQ_EINVAL (unsafe: the message says why). Used by kqd. */
int kq_socket_dir_prepare(const char *sock_path, kq_error *err);

/* ---- a blocking client ---- */

typedef struct kq_client kq_client;

/* kq_client_connect: connects to the socket at `sock_path`, waiting at most `timeout_ms`.
 * Returns 0; KQ_ENOTFOUND when no server listens there (no socket file, a stale one, or
 * one owned by another user, which is never trusted); KQ_ETIMEDOUT; KQ_EIO; KQ_ENOMEM.
 * The caller owns `*out`: kq_client_close (accepts NULL). */
int kq_client_connect(const char *sock_path, int timeout_ms, kq_client **out, kq_error *err);
void kq_client_close(kq_client *c);

/* kq_client_call: sends `len` bytes of `request` (one JSON object, without the newline,
 * which is added) and reads one answer line, waiting at most `timeout_ms` in all (< 0:
 * forever). `*answer` (`*answer_len` bytes, NUL-terminated, without the newline) is valid
 * until the next call or kq_client_close; do not free it. Answers longer than 1 GiB are
 * refused. Returns 0; KQ_EIO (the server closed the connection or a socket error);
 * KQ_ETIMEDOUT; KQ_ELIMIT; KQ_ENOMEM. */
int kq_client_call(kq_client *c, const char *request, size_t len, int timeout_ms,
                   const char **answer, size_t *answer_len, kq_error *err);

/* ---- answers and results ---- */

/* kq_error_from_wire: the KQ_E* code whose wire name is `code` (`len` bytes): the first
 * entry of the table with that name, KQ_EINTERNAL for "internal" and for names not in the
 * table (PROTOCOL.md: an unknown code is an error with its message). */
int kq_error_from_wire(const char *code, size_t len);

/* kq_answer_parse: splits one answer line (`len` bytes, without its newline).
 * An answer with a result: returns 0 and points `*result` (`*result_len` bytes) at the
 * result object inside `line`, byte for byte as the server wrote it.
 * An error answer: returns its code (kq_error_from_wire) with `err` holding the server's
 * message and offset; `*result` is NULL.
 * A line that is not an answer: KQ_EBADJSON. KQ_ENOMEM. `id`/`id_len` (may be NULL)
 * receive the bytes of the answer's id inside `line` ("null" when it has none). */
int kq_answer_parse(const char *line, size_t len, const char **result, size_t *result_len,
                    const char **id, size_t *id_len, kq_error *err);

/* kq_search_request_json: the request line (without its newline) asking kqd for `req`:
 * a "count" when req->flags has KQ_SEARCH_COUNT, else a "search"; with "id":`id` and
 * "protocol":KQ_PROTOCOL_VERSION, so that a server of another version says so. The text is
 * allocated and owned by the caller: kq_free. Returns 0; KQ_EINVAL when the query is not
 * valid UTF-8 (JSON cannot carry it: search in-process instead); KQ_ENOMEM. */
int kq_search_request_json(const struct kq_search_request *req, uint64_t id, char **line,
                           size_t *len, kq_error *err);

/* kq_stats_serves: whether a "stats" result object (`len` bytes) says that its daemon
 * serves the index in `dir` as it is now: the same directory (its "index.path", or the
 * bytes of "index.path_bytes", equal to realpath(3) of `dir`; a moved index is not the
 * same), generation `generation` and manifest checksum `manifest_checksum`
 * (kq_index_generation). A client asks before it takes the daemon's results for the
 * index's; 0 also when the object does not say. */
int kq_stats_serves(const char *json, size_t len, const char *dir, uint64_t generation,
                    uint64_t manifest_checksum);

typedef struct kq_hits kq_hits;

/* kq_hits_parse: a search or count result object (`len` bytes: {"total","took_us",
 * "hits":[…]} as kq_result_json writes it; "hits" may be missing, as in a count result)
 * into hits. The strings are copied: `*out` is independent of `json`. Returns 0,
 * KQ_EBADJSON (not such an object; the message names the member), KQ_ENOMEM. The caller
 * owns `*out`: kq_hits_free (accepts NULL). */
int kq_hits_parse(const char *json, size_t len, kq_hits **out, kq_error *err);
void kq_hits_free(kq_hits *h);

uint64_t kq_hits_total(const kq_hits *h);
uint64_t kq_hits_took_us(const kq_hits *h);
uint32_t kq_hits_count(const kq_hits *h);

/* kq_path_under: when the absolute path `path` (of a hit) is the directory `dir` (absolute,
 * without "." or ".." components) or lies under it, what follows "dir/" in `path` ("" for
 * `dir` itself), else NULL: how a client shows paths relative to its current directory. */
const char *kq_path_under(const char *dir, const char *path);

/* kq_hits_get: hit `i` (0-based, best first) in the form kq_result_hit gives, but for
 * `doc`, KQ_NO_DOC (the wire carries no internal id), and `path`, absolute (as
 * kq_result_json writes it): a JSON-lines document's path ends with ".jsonl" (its id is
 * its "_id"); a whole file's never does, and ends with "/" and its id (or equals it). The strings are NUL-terminated and valid until kq_hits_free. Returns 0 or
 * KQ_ENOTFOUND (i out of range). */
int kq_hits_get(const kq_hits *h, uint32_t i, struct kq_search_hit *hit);

#ifdef __cplusplus
}
#endif
#endif
