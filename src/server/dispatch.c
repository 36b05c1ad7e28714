/* server/dispatch.c: kqd's queue between the loop thread and the libuv thread pool.
 *
 * Why not uv_queue_work per query: each query then costs two thread wake-ups, the loop
 * waking a pool thread (a condition variable) and the pool thread waking the loop (an
 * async handle, an eventfd). On a virtual machine whose other vCPU has gone idle each
 * wake-up costs tens of microseconds, as much as a short query. So tasks go through a
 * queue of our own, drained by "runners": work items on the libuv pool that run task
 * after task, so the queries still run on the pool threads and the loop thread only reads,
 * parses, dispatches and writes (DESIGN.md).
 *
 * Two bounded spins remove the wake-ups when a CPU is free for them:
 *
 *  - A runner that finds the queue empty waits for a new task for up to `worker_spin_ns`
 *    (reading an atomic count with a pause instruction), then returns to the pool. A task
 *    submitted meanwhile is taken without a wake-up; the loop queues a new runner (with
 *    uv_queue_work) only when the tasks waiting outnumber the runners spinning or starting.
 *  - While tasks are in flight the loop keeps a uv_idle handle active, so that uv_run
 *    polls without sleeping and picks up finished tasks from the done list in the idle
 *    callback, for at most `loop_spin_ns` after the last submission or completion; after
 *    that, or when it is not spinning, a finished task wakes it through `async`.
 *
 * Spinning never takes a CPU from a query: the threads of ours burning a CPU (runners
 * running a task or spinning, plus the spinning loop) stay at or below the number of
 * CPUs, so on one CPU nothing spins. Nor from anyone else: both spins call sched_yield
 * now and then, and a spin that lost its CPU for more than `preempted_ns` (the machine is
 * busy) ends at once, because a spinning thread waiting for its turn answers later than a
 * sleeping one that the scheduler wakes (a woken thread runs soon, a preempted one waits
 * for its next slice); the next spin starts afresh (a pause of all spinning after such a
 * gap measured no better on a loaded machine). Both spins are bounded, so an idle daemon
 * uses no CPU: no runner outlives its spin and the idle handle stops with the last task.
 *
 * Invariants (all under `mu`): a runner leaves (n_runners--) only when it sees the queue
 * empty, so a queued task always has a runner to take it; a task is pushed to the done list
 * and, when the loop is not spinning, `async` is sent in one critical section, so the loop,
 * which stops spinning in a critical section where it found the done list empty, never
 * misses a completion, and once the loop has taken the last completion no thread touches
 * `async` again (it may then be closed). At most max_runners tasks run at once.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server.h"
#include "util/alloc.h"

#define LOOP_SPIN_NS 2000000u  /* the loop polls for completions this long at most */
#define WORKER_SPIN_NS 250000u /* a runner waits for a task this long at most */
#define PREEMPTED_NS 50000u    /* a spin that lost its CPU this long ends */

struct runner {
    uv_work_t work;
    struct kq__dispatch *d;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Environment overrides of the spin times (µs; 0 turns a spin off) and of the gap that
 * ends a spin, read once at init: for measuring and tests, not a documented setting. */
static uint64_t spin_ns(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *e;
    unsigned long long us = strtoull(v, &e, 10);
    return *e || us > 1000000u ? def : (uint64_t)us * 1000u;
}

/* ---- the pool side ---- */

static void runner_work(uv_work_t *w)
{
    struct runner *r = w->data;
    struct kq__dispatch *d = r->d;
    uv_mutex_lock(&d->mu);
    d->n_starting--;
    for (;;) {
        struct kq__task *t = d->head;
        if (t) {
            d->head = t->next;
            if (!d->head)
                d->tail = NULL;
            atomic_fetch_sub_explicit(&d->n_pending, 1, memory_order_relaxed);
            d->n_running++;
            uv_mutex_unlock(&d->mu);
            t->next = NULL;
            t->run(t);
            uv_mutex_lock(&d->mu);
            d->n_running--;
            if (d->done_tail)
                d->done_tail->next = t;
            else
                d->done_head = t;
            d->done_tail = t;
            if (!d->loop_spinning)
                uv_async_send(&d->async); /* under mu: see the invariants */
            continue;
        }
        /* nothing to do: wait a little for the next task if a CPU is free for it */
        if (!d->worker_spin_ns ||
            d->n_running + d->n_spinning + (d->loop_spinning ? 1u : 0u) + 1 > d->n_cpus)
            break;
        d->n_spinning++;
        uv_mutex_unlock(&d->mu);
        uint64_t last = uv_hrtime(), until = last + d->worker_spin_ns;
        for (unsigned i = 1;; i++) {
            if (atomic_load_explicit(&d->n_pending, memory_order_relaxed))
                break;
            if (i & 15) {
                cpu_relax();
                continue;
            }
            /* another thread wants this CPU (sched_yield gave it away, or we were
             * preempted): sleeping then being woken is faster than spinning in turns */
            sched_yield();
            uint64_t now = uv_hrtime();
            if (now >= until || now - last > d->preempted_ns)
                break;
            last = now;
        }
        uv_mutex_lock(&d->mu);
        d->n_spinning--;
        if (!d->head)
            break;
    }
    d->n_runners--;
    uv_mutex_unlock(&d->mu);
}

/* ---- the loop side ---- */

static int add_runner(struct kq__dispatch *d);

static void runner_done(uv_work_t *w, int status)
{
    (void)status; /* never cancelled */
    struct runner *r = w->data;
    kq__free(r);
}

/* Queues a runner; the caller holds mu. 0, KQ_ENOMEM or KQ_EINTERNAL. */
static int add_runner(struct kq__dispatch *d)
{
    struct runner *r = kq__malloc(sizeof *r);
    if (!r)
        return KQ_ENOMEM;
    r->d = d;
    r->work.data = r;
    d->n_runners++;
    d->n_starting++;
    d->runners_started++;
    if (uv_queue_work(d->loop, &r->work, runner_work, runner_done)) {
        d->n_runners--;
        d->n_starting--;
        kq__free(r);
        return KQ_EINTERNAL;
    }
    return 0;
}

/* Runs the done callbacks of the finished tasks; the loop thread. */
static void finish(struct kq__dispatch *d, struct kq__task *t)
{
    if (t)
        d->spin_from = uv_hrtime();
    while (t) {
        struct kq__task *next = t->next;
        t->next = NULL;
        d->in_flight--;
        t->done(t);
        t = next;
    }
}

/* Takes the done list; the caller holds mu. */
static struct kq__task *take_done(struct kq__dispatch *d)
{
    struct kq__task *t = d->done_head;
    d->done_head = d->done_tail = NULL;
    return t;
}

static void on_async(uv_async_t *h)
{
    struct kq__dispatch *d = h->data;
    uv_mutex_lock(&d->mu);
    struct kq__task *t = take_done(d);
    uv_mutex_unlock(&d->mu);
    finish(d, t);
}

/* The loop spins: every iteration of uv_run (which polls without waiting while this handle
 * is active) collects what finished, and stops spinning when nothing is in flight, when
 * it has spun loop_spin_ns since the last event, or when the runners need every CPU. */
static void on_idle(uv_idle_t *h)
{
    struct kq__dispatch *d = h->data;
    uint64_t now = uv_hrtime();
    uv_mutex_lock(&d->mu);
    struct kq__task *t = take_done(d);
    if (!t && (!d->in_flight || now - d->spin_from >= d->loop_spin_ns ||
               now - d->idle_at > d->preempted_ns ||
               d->n_running + d->n_spinning + 1 > d->n_cpus)) {
        d->loop_spinning = 0;
        uv_idle_stop(&d->idle);
    }
    uv_mutex_unlock(&d->mu);
    finish(d, t);
    /* the gap to the next call measures the yield (and the rest of the loop's turn) */
    d->idle_at = uv_hrtime();
    if (!t && d->loop_spinning)
        sched_yield(); /* as the runners do */
}

int kq__dispatch_init(struct kq__dispatch *d, uv_loop_t *loop, uint32_t max_runners)
{
    memset(d, 0, sizeof *d);
    d->loop = loop;
    d->max_runners = max_runners ? max_runners : 1;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    d->n_cpus = n < 1 ? 1 : n > 1024 ? 1024 : (uint32_t)n;
    d->loop_spin_ns = spin_ns("KQD_LOOP_SPIN_US", LOOP_SPIN_NS);
    d->worker_spin_ns = spin_ns("KQD_WORKER_SPIN_US", WORKER_SPIN_NS);
    d->preempted_ns = spin_ns("KQD_SPIN_GAP_US", PREEMPTED_NS);
    atomic_init(&d->n_pending, 0);
    if (uv_mutex_init(&d->mu))
        return KQ_EINTERNAL;
    int e = uv_async_init(loop, &d->async, on_async);
    if (e) {
        uv_mutex_destroy(&d->mu);
        return KQ_EINTERNAL;
    }
    uv_idle_init(loop, &d->idle);
    d->async.data = d->idle.data = d;
    d->ready = 1;
    return 0;
}

int kq__dispatch_submit(struct kq__dispatch *d, struct kq__task *t)
{
    int rc = 0;
    t->next = NULL;
    uv_mutex_lock(&d->mu);
    if (d->tail)
        d->tail->next = t;
    else
        d->head = t;
    d->tail = t;
    uint32_t pending = atomic_fetch_add_explicit(&d->n_pending, 1, memory_order_relaxed) + 1;
    if (pending > d->n_spinning + d->n_starting && d->n_runners < d->max_runners) {
        rc = add_runner(d);
        if (rc && d->n_runners == 0) {
            /* nobody would take it: take it back (it is the last of the queue) */
            struct kq__task **p = &d->head;
            while (*p != t)
                p = &(*p)->next;
            *p = NULL;
            d->tail = NULL;
            for (struct kq__task *x = d->head; x; x = x->next)
                d->tail = x;
            atomic_fetch_sub_explicit(&d->n_pending, 1, memory_order_relaxed);
        } else {
            rc = 0; /* a runner that is there will take it */
        }
    }
    if (!rc) {
        d->in_flight++;
        d->spin_from = uv_hrtime();
        if (!d->loop_spinning && d->loop_spin_ns &&
            d->n_running + d->n_spinning + 1 <= d->n_cpus) {
            d->loop_spinning = 1;
            d->idle_at = d->spin_from;
            uv_idle_start(&d->idle, on_idle);
        }
    }
    uv_mutex_unlock(&d->mu);
    return rc;
}

uint32_t kq__dispatch_in_flight(const struct kq__dispatch *d)
{
    return d->in_flight;
}

static void close_one(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void kq__dispatch_close(struct kq__dispatch *d)
{
    if (!d->ready)
        return;
    close_one((uv_handle_t *)&d->async);
    close_one((uv_handle_t *)&d->idle);
}

void kq__dispatch_release(struct kq__dispatch *d)
{
    if (!d->ready)
        return;
    d->ready = 0;
    uv_mutex_destroy(&d->mu);
}
