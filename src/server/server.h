/* server/server.h: the internals of kqd shared by server.c (the server object, signals,
 * reload scheduling, stats), conn.c (connections, requests, jobs), dispatch.c (the queue
 * of work for the thread pool) and reload.c (index generations).
 *
 * Threads: everything here runs on the loop thread except the `run` functions of the job
 * and reload tasks, which run on the libuv thread pool (through the dispatch queue) and
 * touch only their task, the generation they hold a reference to (kq__gen_take,
 * kq__gen_give, kq__gen_find, which are thread safe) and nothing of the server or the
 * connection, and the dispatch queue's own pool side.
 */
#ifndef KQ_SERVER_SERVER_H
#define KQ_SERVER_SERVER_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "kq/client.h"
#include "kq/search.h"
#include "kq/server.h"
#include "server/protocol.h"
#include "util/buf.h"

#define KQ_LATENCY_RING 10000 /* stats: percentiles over the last this many queries */
#define KQ_READ_CHUNK 65536   /* bytes one read hands to a connection, and its share of a
                                 loop turn (conn.c: on_read) */

/* ---- generations (reload.c) ---- */

/* One generation of the index: the index, opened once, `n_searchers` searchers over it (a
 * kq_searcher is used by one thread at a time), the id -> document map of `doc` requests,
 * and the numbers stats shows. Immutable once open, except the free list of searchers
 * (under a mutex) and `refs`, which only the loop thread touches: the server holds one
 * reference to the generation it serves and each job one to the generation it runs on, so
 * a generation lives until its last job ends. */
struct kq_gen {
    int refs;
    uint64_t generation;
    uint64_t manifest_checksum; /* with the number, what tells generations apart */
    uint32_t n_docs;     /* documents that can be found (deleted ones left out) */
    size_t max_entry;    /* the largest id, path and title of a document together, in bytes */
    uint32_t n_segments;
    kq_index *ix;
    kq_searcher **searchers; /* borrow ix */
    uint32_t n_searchers;
    kq_searcher **idle; /* searchers not in use, guarded by mu */
    uint32_t n_idle;
    uv_mutex_t mu;
    uv_cond_t cv;
    struct kq_idslot *slots; /* open addressing; doc + 1, 0 = empty */
    uint64_t mask;
};

/* kq__gen_open: opens the current generation of the index in `dir` with `n` searchers over
 * it (when the open fails because a commit landed meanwhile, starts again, a few times)
 * and builds the id map (documents kq_index_doc reports as KQ_ENOTFOUND, i.e.
 * deleted, are left out; of two documents with one id the later wins). Blocking; runs on
 * a worker or before the loop starts. Returns 0 or the error of kq_index_open, KQ_EIO
 * (the index kept changing), KQ_ENOMEM. `refs` starts at 1. */
int kq__gen_open(const char *dir, uint32_t n, struct kq_gen **out, kq_error *err);
/* Loop thread: reference counting; the last unref frees (closes the searchers, then the
 * index). */
void kq__gen_ref(struct kq_gen *g);
void kq__gen_unref(struct kq_gen *g);
/* Any thread: takes an idle searcher (waits when all are busy), gives it back. */
kq_searcher *kq__gen_take(struct kq_gen *g);
void kq__gen_give(struct kq_gen *g, kq_searcher *s);
/* Any thread: the shared read-only index of the generation (kq/index.h: an open kq_index
 * may be shared by threads). */
const kq_index *kq__gen_index(const struct kq_gen *g);
/* Any thread: the document whose id is `id` (`len` bytes) and, when `path` is not NULL, whose
 * file's absolute path (a hit's "path") is `path` (`path_len` bytes): of several (JSON-lines
 * files sharing an id), the last in the index. 0 or KQ_ENOTFOUND. */
int kq__gen_find(const struct kq_gen *g, const char *id, size_t len, const char *path,
                 size_t path_len, uint32_t *doc);

/* ---- the dispatch queue (dispatch.c) ---- */

/* Work for the thread pool: `run` on a pool thread, then `done` on the loop thread. */
struct kq__task {
    struct kq__task *next;
    void (*run)(struct kq__task *t);
    void (*done)(struct kq__task *t);
};

/* The queue between the loop and the pool threads that run its tasks (dispatch.c says
 * how the two bounded spins avoid thread wake-ups). The fields marked (mu) are guarded
 * by `mu`; the others belong to the loop thread. */
struct kq__dispatch {
    uv_loop_t *loop;
    uv_mutex_t mu;
    struct kq__task *head, *tail;           /* submitted, not taken yet (mu) */
    atomic_uint n_pending;                  /* their number: changed under mu, read by
                                             * spinning runners without it */
    struct kq__task *done_head, *done_tail; /* run, `done` not called yet (mu) */
    uint32_t n_runners;  /* runners queued and not returned (mu) */
    uint32_t n_starting; /* of them, not started yet (mu) */
    uint32_t n_running;  /* of them, running a task (mu) */
    uint32_t n_spinning; /* of them, waiting for a task (mu) */
    int loop_spinning;   /* the idle handle is active: no need to send `async` (mu) */
    uint32_t max_runners, n_cpus;
    uint64_t loop_spin_ns, worker_spin_ns, preempted_ns;
    uint32_t in_flight; /* submitted, `done` not called yet */
    uint64_t spin_from; /* uv_hrtime of the last submission or completion */
    uint64_t idle_at;   /* uv_hrtime when the idle callback last returned */
    uint64_t runners_started; /* work items queued with uv_queue_work (tests, stats) */
    uv_async_t async;
    uv_idle_t idle;
    int ready;
};

/* Loop thread: creates the handles on `loop`; at most `max_runners` tasks run at once.
 * 0 or KQ_EINTERNAL. */
int kq__dispatch_init(struct kq__dispatch *d, uv_loop_t *loop, uint32_t max_runners);
/* Loop thread: queues `t` (the caller keeps it alive until its `done`). Tasks start in
 * submission order. 0, or KQ_ENOMEM/KQ_EINTERNAL when it could not be queued (then neither
 * callback is called). */
int kq__dispatch_submit(struct kq__dispatch *d, struct kq__task *t);
/* Loop thread: tasks whose `done` has not been called. */
uint32_t kq__dispatch_in_flight(const struct kq__dispatch *d);
/* Loop thread, with nothing in flight: closes the handles (the loop then ends once the
 * last runner has returned). Idempotent. */
void kq__dispatch_close(struct kq__dispatch *d);
/* After the loop has ended: frees the rest. Idempotent. */
void kq__dispatch_release(struct kq__dispatch *d);

/* ---- the server ---- */

struct kq__conn;

struct kq_server {
    struct kq_server_opts opt;
    char *index_dir; /* absolute */
    char sock_path[KQ_SOCKET_PATH_MAX];
    int listen_fd;   /* until kq_server_run hands it to the loop */
    int own_socket;  /* we created the socket file: remove it when we stop */
    dev_t sock_dev;
    ino_t sock_ino;
    int activated;   /* systemd's socket */
    struct kq_gen *gen; /* the generation new requests run on */

    uv_loop_t loop;
    int loop_ready;
    uv_pipe_t listener;
    uv_signal_t sig_int, sig_term, sig_hup;
    uv_fs_event_t watch;
    uv_timer_t stop_timer;
    uv_timer_t where_timer;    /* checks now and then that the index directory is where it
                                * was: a folder above it moved sends no event */
    dev_t dir_dev;             /* the index directory's identity when serving began */
    ino_t dir_ino;
    struct kq__dispatch pool;  /* searches, counts, documents and reloads run through it */
    struct kq__reload *reload; /* running reload work, or NULL */
    int reload_again;          /* another reload was asked for while one ran */

    struct kq__conn *conns; /* every open connection, overloaded ones included */
    struct kq__conn *held;  /* connections that read their share of this loop turn (conn.c) */
    uv_idle_t resume;       /* active while `held` is not empty: resumes them next turn */
    uint64_t turn;          /* loop turns that resumed held connections */
    uint32_t n_conns;       /* connections counted against max_connections */
    uint32_t queued;        /* jobs submitted to `pool` and not done */
    int stopping;           /* 1: draining; 2: forced */
    int index_gone;         /* stopping because the index directory moved or was removed */
    int segment_changed;    /* a segment served changed on disk: the next reload checks it */
    int segment_bad;        /* stopping because a segment served changed and is damaged */

    uint64_t start_ns;
    uint64_t queries, errors;
    uint32_t *lat; /* ring of KQ_LATENCY_RING latencies (µs) of searches and counts */
    uint32_t n_lat, lat_pos;
    uint32_t p50, p99; /* of the ring, unless lat_changed */
    int lat_changed;

    char rbuf[KQ_READ_CHUNK]; /* reads land here: libuv calls alloc then read at once */
};

void kq__log(struct kq_server *s, enum kq_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* server.c: a search or count took `us` microseconds from queueing to its answer. */
void kq__stats_query(struct kq_server *s, uint64_t us);
/* server.c: the stats result object into `out`. 0 or KQ_ENOMEM. */
int kq__stats_json(struct kq_server *s, kq_buf *out);
/* server.c: called when a connection or a job ends while stopping. */
void kq__maybe_done(struct kq_server *s);

/* conn.c */
void kq__on_connection(uv_stream_t *listener, int status);
/* Stopping: stop reading, finish with `shutting_down` once nothing is in flight. */
void kq__conn_stop(struct kq__conn *c);
/* Closes at once (answers in flight are dropped when they complete). */
void kq__conn_close(struct kq__conn *c);
struct kq__conn *kq__conn_next(struct kq__conn *c);

#endif
