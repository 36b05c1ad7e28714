/* kq/server.h: the kqd daemon as a library object.
 *
 * A kq_server answers the protocol of src/server/PROTOCOL.md for one index on one Unix
 * domain socket, on a libuv loop: the loop thread reads, parses, dispatches and writes;
 * searches, counts and document reads run on the libuv thread pool. It reloads the index
 * when its MANIFEST changes or on SIGHUP, and stops cleanly on SIGINT/SIGTERM.
 *
 * Two steps, so that a program can report every startup error before it detaches:
 * kq_server_open opens and verifies the index and binds the socket (or takes the socket
 * systemd passed, LISTEN_FDS); kq_server_run creates the loop and serves until a stop
 * signal. Nothing is started (no thread, no loop) before kq_server_run, so the caller may
 * fork() between the two.
 *
 * The library never prints: it reports through opts->log. The caller must ignore SIGPIPE
 * (a client that vanishes makes writes fail with EPIPE, which the server handles) and set
 * UV_THREADPOOL_SIZE to opts->threads before kq_server_run, as kqd does.
 *
 * Errors: 0 or a negative KQ_E* code with `err` filled when non-NULL (kq/error.h).
 * Thread safety: a kq_server is used by the thread that runs it.
 */
#ifndef KQ_SERVER_H
#define KQ_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "kq/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KQ_SERVER_VERSION "kqd 0.1.0"

enum kq_log_level { KQ_LOG_ERROR, KQ_LOG_WARN, KQ_LOG_INFO, KQ_LOG_DEBUG };

/* Limits and settings; kq_server_opts_init sets the defaults of PROTOCOL.md P6. */
struct kq_server_opts {
    const char *index_dir;    /* the index (required) */
    const char *socket_path;  /* NULL: kq_socket_path(index_dir) (ignored with LISTEN_FDS) */
    int threads;              /* query threads = searchers per generation; 0: CPUs */
    size_t max_line;          /* bytes of a request line: 65536 */
    uint32_t max_connections; /* 1024 */
    uint32_t max_in_flight;   /* requests in flight per connection: 64 */
    size_t max_unsent;        /* unsent answer bytes per connection: 8 MiB */
    uint32_t max_queue;       /* queued thread-pool jobs, all connections: 4096 */
    uint64_t idle_timeout_ms; /* 300000 */
    uint64_t line_timeout_ms; /* a started line must end within: 10000 */
    uint64_t stop_grace_ms;   /* at shutdown, wait this long for answers to drain: 10000 */
    int use_listen_fds;       /* 1: take the socket from systemd when LISTEN_PID is us */
    /* Log lines (no newline); called from the loop thread only. May be NULL. */
    void (*log)(void *ctx, enum kq_log_level level, const char *msg);
    void *log_ctx;
};

void kq_server_opts_init(struct kq_server_opts *o);

typedef struct kq_server kq_server;

/* kq_server_open: opens and verifies the index (`threads` searchers of one generation)
 * and binds the socket: with mode 0600, its directory created 0700 when missing; a stale
 * socket file (nothing answers) is replaced; a socket another server answers on is
 * KQ_ELOCKED; a path that exists and is not a socket is KQ_EINVAL. With use_listen_fds
 * and LISTEN_PID equal to getpid(), takes fd 3 instead (then the socket is systemd's and
 * is neither created nor removed). Returns 0 or the error of kq_index_open, KQ_ELOCKED,
 * KQ_EINVAL, KQ_EIO, KQ_ELIMIT (socket path too long), KQ_ENOMEM. The caller owns `*out`:
 * kq_server_close (accepts NULL; removes the socket file if kq_server_run did not). */
int kq_server_open(const struct kq_server_opts *opts, kq_server **out, kq_error *err);

/* kq_server_run: serves until SIGINT or SIGTERM: then stops accepting, removes the socket
 * file, lets the work in flight finish and its answers drain (at most stop_grace_ms; a
 * second signal stops at once), tells each client `shutting_down` and returns 0. Returns
 * KQ_EIO when the loop cannot start. Call once. */
int kq_server_run(kq_server *s, kq_error *err);

void kq_server_close(kq_server *s);

/* The socket path in use (systemd's, when activated), valid until kq_server_close. */
const char *kq_server_socket(const kq_server *s);

#ifdef __cplusplus
}
#endif
#endif
