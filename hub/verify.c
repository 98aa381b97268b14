/*
 * verify.c - envelope signatures checked on worker threads.
 *
 * Jobs are handed out one at a time under the pool's mutex, tagged with the
 * batch's generation: a worker that wakes late cannot take a job of a later
 * batch with an earlier batch's view.  A check costs tens of microseconds,
 * so the lock is not where the time goes.
 */
#include "verify.h"

#include <pthread.h>
#include <stdlib.h>

struct verify_pool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a batch was started, or stop */
    pthread_cond_t done; /* the last job of a batch finished */
    verify_job_t *jobs;
    size_t n, next, finished;
    uint64_t gen;
    bool stop;
    pthread_t *th;
    size_t n_th;
};

/* The next job of batch gen, or -1 when there is none left for it. */
static long take(verify_pool_t *p, uint64_t gen)
{
    long i = -1;
    pthread_mutex_lock(&p->mu);
    if (p->gen == gen && p->next < p->n)
        i = (long)p->next++;
    pthread_mutex_unlock(&p->mu);
    return i;
}

static void run(verify_pool_t *p, uint64_t gen)
{
    long i;
    while ((i = take(p, gen)) >= 0) {
        verify_job_t *j = &p->jobs[i];
        j->ok = rk_envelope_verify(j->env, j->pk) == RK_WIRE_OK;
        j->alt_ok = !j->ok && j->has_alt && rk_envelope_verify(j->env, j->alt_pk) == RK_WIRE_OK;
        pthread_mutex_lock(&p->mu);
        if (++p->finished == p->n)
            pthread_cond_broadcast(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
}

static void *worker(void *arg)
{
    verify_pool_t *p = arg;
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen;
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->gen == seen)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        gen = seen = p->gen;
        pthread_mutex_unlock(&p->mu);
        run(p, gen);
    }
}

verify_pool_t *verify_pool_new(size_t threads)
{
    verify_pool_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->work, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    if (threads > 0 && (p->th = calloc(threads, sizeof *p->th)) == NULL) {
        verify_pool_destroy(&p);
        return NULL;
    }
    for (; p->n_th < threads; p->n_th++)
        if (pthread_create(&p->th[p->n_th], NULL, worker, p) != 0) {
            verify_pool_destroy(&p);
            return NULL;
        }
    return p;
}

size_t verify_pool_threads(const verify_pool_t *p)
{
    return p->n_th;
}

void verify_pool_start(verify_pool_t *p, verify_job_t *jobs, size_t n)
{
    pthread_mutex_lock(&p->mu);
    p->jobs = jobs;
    p->n = n;
    p->next = p->finished = 0;
    p->gen++;
    if (n > 0 && p->n_th > 0)
        pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
}

void verify_pool_wait(verify_pool_t *p)
{
    uint64_t gen;
    pthread_mutex_lock(&p->mu);
    gen = p->gen;
    pthread_mutex_unlock(&p->mu);
    run(p, gen);
    pthread_mutex_lock(&p->mu);
    while (p->finished < p->n)
        pthread_cond_wait(&p->done, &p->mu);
    p->jobs = NULL;
    p->n = p->next = p->finished = 0;
    pthread_mutex_unlock(&p->mu);
}

void verify_pool_destroy(verify_pool_t **pp)
{
    verify_pool_t *p;
    if (pp == NULL || *pp == NULL)
        return;
    p = *pp;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->n_th; i++)
        pthread_join(p->th[i], NULL);
    free(p->th);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
    *pp = NULL;
}
