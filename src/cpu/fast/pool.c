/* pool.c — a persistent thread pool for the CPU back end: n-1 worker threads plus the calling thread, sharing
 * each job's items dynamically.
 *
 * Items are claimed in chunks from an atomic counter, so a thread that the OS deschedules (the machines this
 * runs on are often shared) delays only the chunk it holds, and a worker that has not started when the caller
 * has claimed everything is not waited for at all. Job protocol, all through `state` = 2·generation + open:
 *  - the caller writes the job (fn, ctx, items, counter), then sets state odd (open) with release order;
 *  - a worker that sees an open state it has not handled increments `active`, then re-reads state: only if it is
 *    still the same open state may it read the job (the caller cannot close it and reuse the job fields before
 *    `active` drops back, since the increment precedes the re-read in the seq_cst order); otherwise it backs out;
 *  - the caller claims chunks too; when none are left it closes the job (state even) and waits for active == 0.
 * Idle workers spin for a short while (a forward step issues a few hundred jobs back to back), then sleep on a
 * condition variable so idle processes do not burn a core. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "core/status.h"
#include "cpu/fast/cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() ((void)0)
#endif

/* how long a worker spins before it sleeps: long enough to bridge the gap between two ops of one forward step
 * (microseconds), short enough that idle pools do not starve other threads of the cores */
#define SPIN_WORKER_NS 100000
#define SPIN_CHECK 64     /* pauses between two looks at the clock */
#define SPIN_CALLER 4000  /* caller spins before it starts yielding the core while workers finish */

struct trit_pool {
    int n;
    pthread_t *th;
    /* the job (valid while state is odd and for workers counted in active) */
    trit_pool_fn fn;
    void *ctx;
    int64_t n_items, chunk;
    atomic_llong next;
    /* synchronisation */
    atomic_uint state;
    atomic_int active;
    atomic_int sleepers;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

typedef struct {
    trit_pool *p;
    int ith;
} worker_arg;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

static worker_arg *worker_args(trit_pool *p) { return (worker_arg *)(p->th + p->n); }

/* claims and runs chunks until none are left */
static void drain(trit_pool *p, int ith) {
    for (;;) {
        int64_t lo = atomic_fetch_add_explicit(&p->next, p->chunk, memory_order_relaxed);
        if (lo >= p->n_items)
            return;
        int64_t hi = lo + p->chunk < p->n_items ? lo + p->chunk : p->n_items;
        p->fn(p->ctx, lo, hi, ith);
    }
}

/* waits until state differs from `seen`: spins, then sleeps */
static unsigned wait_state(trit_pool *p, unsigned seen) {
    unsigned s;
    int spins = 0;
    double t0 = -1.0;
    while ((s = atomic_load_explicit(&p->state, memory_order_acquire)) == seen) {
        cpu_relax();
        if (++spins % SPIN_CHECK == 0) {
            double t = now_ns();
            if (t0 < 0)
                t0 = t;
            else if (t - t0 > SPIN_WORKER_NS)
                break;
        }
    }
    if (s != seen)
        return s;
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1); // seq_cst: pairs with the state change + sleepers check of publish()
    while ((s = atomic_load(&p->state)) == seen)
        pthread_cond_wait(&p->cv, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return s;
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    trit_pool *p = wa->p;
    unsigned seen = 0; // the state at creation: a job (or stop) issued before this thread ran is still seen
    for (;;) {
        unsigned s = wait_state(p, seen);
        seen = s;
        if (atomic_load_explicit(&p->stop, memory_order_acquire))
            return NULL;
        if (!(s & 1))
            continue; // a job closed before this worker got to it
        atomic_fetch_add(&p->active, 1);
        if (atomic_load(&p->state) == s) // still open: the job fields are valid until active drops
            drain(p, wa->ith);
        atomic_fetch_sub_explicit(&p->active, 1, memory_order_release);
    }
}

static void set_state(trit_pool *p, unsigned s) {
    atomic_store(&p->state, s); // seq_cst
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

trit_status trit_pool_create(int n_threads, trit_pool **out, trit_error *err) {
    *out = NULL;
    if (n_threads < 1)
        n_threads = 1;
    trit_pool *p = calloc(1, sizeof *p);
    if (!p)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "cpu back end: cannot allocate the thread pool");
    p->n = n_threads;
    p->th = calloc((size_t)n_threads, sizeof(pthread_t) + sizeof(worker_arg));
    if (!p->th) {
        free(p);
        return TRIT_FAIL(err, TRIT_E_NOMEM, "cpu back end: cannot allocate the thread pool");
    }
    atomic_init(&p->next, 0);
    atomic_init(&p->state, 0);
    atomic_init(&p->active, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = &worker_args(p)[i];
        wa->p = p;
        wa->ith = i;
        int rc = pthread_create(&p->th[i], NULL, worker_main, wa);
        if (rc != 0) {
            p->n = i; // workers 1..i-1 exist: stop and join those
            trit_pool_destroy(p);
            return TRIT_FAIL(err, TRIT_E_BACKEND, "cpu back end: cannot start worker thread %d of %d (error %d)", i,
                             n_threads, rc);
        }
    }
    *out = p;
    return TRIT_OK;
}

void trit_pool_for(trit_pool *p, int64_t n_items, int64_t chunk, trit_pool_fn fn, void *ctx) {
    if (n_items <= 0)
        return;
    if (chunk < 1)
        chunk = 1;
    if (p->n == 1 || n_items <= chunk) { // one chunk: no one to share it with
        fn(ctx, 0, n_items, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_items = n_items;
    p->chunk = chunk;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    const unsigned s = atomic_load_explicit(&p->state, memory_order_relaxed);
    set_state(p, s + 1); // open (odd)
    drain(p, 0);
    atomic_store(&p->state, s + 2); // closed (even); late workers see it and skip
    int spins = 0;
    while (atomic_load_explicit(&p->active, memory_order_acquire) != 0) {
        if (++spins < SPIN_CALLER)
            cpu_relax();
        else
            sched_yield();
    }
}

int trit_pool_size(const trit_pool *p) { return p->n; }

void trit_pool_destroy(trit_pool *p) {
    if (!p)
        return;
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    set_state(p, atomic_load(&p->state) + 2);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->th);
    free(p);
}
