/* tests/server/test_dispatch.c: the queue between kqd's loop and the thread pool
 * (server/dispatch.c): every task runs once on a pool thread and is done once on the loop
 * thread; tasks start in submission order and never more than max_runners at once; chains
 * of tasks submitted from `done` (a client waiting for each answer) are taken by a spinning
 * runner without a new work item; both spins end by themselves (an idle loop has no runner
 * and no active idle handle); and the dispatch closes while runners still spin. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/server.h"

#define N_TASKS 20000
#define MAX_RUNNERS 3

struct ttask {
    struct kq__task task; /* first */
    struct fixture *fx;
    uint32_t i;
    int runs, dones;
    uint64_t sleep_us;
};

struct fixture {
    uv_loop_t loop;
    struct kq__dispatch d;
    pthread_t loop_thread;
    atomic_int running, max_running, started;
    uint32_t order[N_TASKS]; /* the order in which tasks started */
    uint32_t n_done;
    uint32_t chain_left; /* tasks still to submit from `done` */
    int close_when_done; /* close the dispatch when the last task is done */
    uint32_t expect;
    int bad_thread;
};

static void sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void t_run(struct kq__task *t)
{
    struct ttask *x = (struct ttask *)t;
    struct fixture *fx = x->fx;
    if (pthread_equal(pthread_self(), fx->loop_thread))
        fx->bad_thread = 1;
    int now = atomic_fetch_add(&fx->running, 1) + 1;
    int m = atomic_load(&fx->max_running);
    while (now > m && !atomic_compare_exchange_weak(&fx->max_running, &m, now))
        ;
    fx->order[atomic_fetch_add(&fx->started, 1)] = x->i;
    x->runs++;
    if (x->sleep_us)
        sleep_us(x->sleep_us);
    atomic_fetch_sub(&fx->running, 1);
}

static void t_done(struct kq__task *t);

static struct ttask *new_task(struct fixture *fx, uint32_t i, uint64_t sleep)
{
    struct ttask *x = calloc(1, sizeof *x);
    assert_non_null(x);
    x->task.run = t_run;
    x->task.done = t_done;
    x->fx = fx;
    x->i = i;
    x->sleep_us = sleep;
    return x;
}

static void t_done(struct kq__task *t)
{
    struct ttask *x = (struct ttask *)t;
    struct fixture *fx = x->fx;
    if (!pthread_equal(pthread_self(), fx->loop_thread))
        fx->bad_thread = 1;
    x->dones++;
    assert_int_equal(x->runs, 1);
    assert_int_equal(x->dones, 1);
    fx->n_done++;
    free(x);
    if (fx->chain_left) {
        fx->chain_left--;
        assert_int_equal(kq__dispatch_submit(&fx->d, &new_task(fx, fx->n_done, 0)->task), 0);
    }
    if (fx->close_when_done && fx->n_done == fx->expect)
        kq__dispatch_close(&fx->d);
}

static void fx_init(struct fixture *fx, uint32_t max_runners)
{
    memset(fx, 0, sizeof *fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    fx->loop_thread = pthread_self();
    assert_int_equal(kq__dispatch_init(&fx->d, &fx->loop, max_runners), 0);
}

static void fx_finish(struct fixture *fx)
{
    kq__dispatch_close(&fx->d);
    uv_run(&fx->loop, UV_RUN_DEFAULT); /* returns when the last runner has returned */
    assert_int_equal(fx->d.n_runners, 0);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    kq__dispatch_release(&fx->d);
    kq__dispatch_release(&fx->d); /* idempotent */
    assert_false(fx->bad_thread);
}

/* Runs the loop until `n` tasks are done. */
static void run_until(struct fixture *fx, uint32_t n)
{
    while (fx->n_done < n)
        uv_run(&fx->loop, UV_RUN_ONCE);
}

static void test_many(void **state)
{
    (void)state;
    static struct fixture fx;
    fx_init(&fx, MAX_RUNNERS);
    for (uint32_t i = 0; i < N_TASKS; i++) {
        assert_int_equal(kq__dispatch_submit(&fx.d, &new_task(&fx, i, i % 97 == 0 ? 200 : 0)->task),
                         0);
        if (i % 1000 == 999)
            uv_run(&fx.loop, UV_RUN_NOWAIT); /* some finish while others are submitted */
    }
    run_until(&fx, N_TASKS);
    assert_int_equal(kq__dispatch_in_flight(&fx.d), 0);
    assert_true(atomic_load(&fx.max_running) <= MAX_RUNNERS);
    assert_int_equal(atomic_load(&fx.started), N_TASKS);
    fx_finish(&fx);
}

static void test_fifo(void **state)
{
    (void)state;
    static struct fixture fx;
    fx_init(&fx, 1);
    for (uint32_t i = 0; i < 200; i++)
        assert_int_equal(kq__dispatch_submit(&fx.d, &new_task(&fx, i, i < 3 ? 20000 : 0)->task), 0);
    run_until(&fx, 200);
    assert_int_equal(atomic_load(&fx.max_running), 1);
    for (uint32_t i = 0; i < 200; i++)
        assert_int_equal(fx.order[i], i);
    fx_finish(&fx);
}

/* One client waiting for each answer: with a spin long enough for any scheduler, the next
 * task is taken by the runner that ran the previous one. */
static void test_chain(void **state)
{
    (void)state;
    static struct fixture fx;
    setenv("KQD_WORKER_SPIN_US", "500000", 1);
    setenv("KQD_SPIN_GAP_US", "1000000", 1); /* a preempted spin goes on */
    fx_init(&fx, MAX_RUNNERS);
    unsetenv("KQD_WORKER_SPIN_US");
    unsetenv("KQD_SPIN_GAP_US");
    fx.chain_left = 999;
    assert_int_equal(kq__dispatch_submit(&fx.d, &new_task(&fx, 0, 0)->task), 0);
    run_until(&fx, 1000);
    if (fx.d.n_cpus >= 2)
        assert_true(fx.d.runners_started < 100);
    else
        assert_int_equal(fx.d.worker_spin_ns ? fx.d.n_spinning : 0, 0); /* one CPU: no spin */
    fx_finish(&fx);
}

/* With nothing submitted, the runners return and the loop stops spinning by themselves. */
static void test_spins_end(void **state)
{
    (void)state;
    static struct fixture fx;
    fx_init(&fx, MAX_RUNNERS);
    for (uint32_t i = 0; i < 10; i++)
        assert_int_equal(kq__dispatch_submit(&fx.d, &new_task(&fx, i, 0)->task), 0);
    run_until(&fx, 10);
    /* the idle handle stops within an iteration of the loop once nothing is in flight */
    for (int i = 0; i < 100 && uv_is_active((uv_handle_t *)&fx.d.idle); i++)
        uv_run(&fx.loop, UV_RUN_NOWAIT);
    assert_false(uv_is_active((uv_handle_t *)&fx.d.idle));
    /* every runner returns after its spin (a fraction of a millisecond; seconds under a
     * sanitizer on a busy machine) */
    uint32_t left = 1;
    for (int i = 0; i < 1000 && left; i++) {
        sleep_us(10000);
        uv_mutex_lock(&fx.d.mu);
        left = fx.d.n_runners;
        uv_mutex_unlock(&fx.d.mu);
    }
    assert_int_equal(left, 0);
    assert_int_equal(fx.d.n_spinning, 0);
    fx_finish(&fx);
}

/* The last task's `done` closes the dispatch while its runner still spins (shutdown):
 * the loop ends once the runner has returned, and nothing is touched after. */
static void test_close_while_spinning(void **state)
{
    (void)state;
    static struct fixture fx;
    setenv("KQD_WORKER_SPIN_US", "200000", 1);
    fx_init(&fx, MAX_RUNNERS);
    unsetenv("KQD_WORKER_SPIN_US");
    fx.close_when_done = 1;
    fx.expect = 50;
    for (uint32_t i = 0; i < 50; i++)
        assert_int_equal(kq__dispatch_submit(&fx.d, &new_task(&fx, i, 0)->task), 0);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    assert_int_equal(fx.n_done, 50);
    assert_int_equal(fx.d.n_runners, 0);
    assert_int_equal(uv_loop_close(&fx.loop), 0);
    kq__dispatch_release(&fx.d);
    assert_false(fx.bad_thread);
}

/* Spinning turned off: every task still runs (through a new runner and the async). */
static void test_no_spin(void **state)
{
    (void)state;
    static struct fixture fx;
    setenv("KQD_WORKER_SPIN_US", "0", 1);
    setenv("KQD_LOOP_SPIN_US", "0", 1);
    fx_init(&fx, 2);
    unsetenv("KQD_WORKER_SPIN_US");
    unsetenv("KQD_LOOP_SPIN_US");
    fx.chain_left = 300;
    assert_int_equal(kq__dispatch_submit(&fx.d, &new_task(&fx, 0, 0)->task), 0);
    for (uint32_t i = 1; i < 100; i++)
        assert_int_equal(kq__dispatch_submit(&fx.d, &new_task(&fx, i, 0)->task), 0);
    run_until(&fx, 400);
    assert_false(uv_is_active((uv_handle_t *)&fx.d.idle));
    fx_finish(&fx);
}

int main(void)
{
    setenv("UV_THREADPOOL_SIZE", "4", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_spins_end),
        cmocka_unit_test(test_close_while_spinning),
        cmocka_unit_test(test_no_spin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
