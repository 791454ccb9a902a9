/* queue: mutex-protected ring of message pointers with an eventfd for the consumer.
 * Invariant: the eventfd counter is nonzero whenever the ring is nonempty. */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_full;
    struct msg **ring;
    int capacity, head, count;
    int efd;
    uint64_t dropped;
};

struct msg *msg_new(enum msg_kind kind, int device, int64_t ts_ms, int npoints)
{
    size_t n = npoints > 0 ? (size_t)npoints : 0;
    struct msg *m = calloc(1, sizeof *m + n * (sizeof(double) + 1));
    if (!m)
        return NULL;
    m->kind = kind;
    m->device = device;
    m->ts_ms = ts_ms;
    m->mono_ms = clock_mono_ms();
    m->point = -1;
    m->npoints = (int)n;
    m->values = (double *)(m + 1);
    m->quality = (uint8_t *)(m->values + n);
    return m;
}

struct msg *msg_new_takeover(int64_t ts_ms)
{
    struct msg *m = calloc(1, sizeof *m + sizeof *m->takeover);
    if (!m)
        return NULL;
    m->kind = MSG_DTU_REPLACED;
    m->device = -1;
    m->ts_ms = ts_ms;
    m->mono_ms = clock_mono_ms();
    m->point = -1;
    m->takeover = (struct dtu_takeover *)(m + 1);
    return m;
}

void msg_free(struct msg *m)
{
    free(m);
}

struct queue *queue_new(int capacity)
{
    struct queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->ring = calloc((size_t)capacity, sizeof *q->ring);
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!q->ring || q->efd < 0) {
        free(q->ring);
        if (q->efd >= 0)
            close(q->efd);
        free(q);
        return NULL;
    }
    q->capacity = capacity;
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->not_full, &attr);
    pthread_condattr_destroy(&attr);
    return q;
}

void queue_free(struct queue *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->count; i++)
        msg_free(q->ring[(q->head + i) % q->capacity]);
    close(q->efd);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_full);
    free(q->ring);
    free(q);
}

int queue_fd(const struct queue *q)
{
    return q->efd;
}

int queue_push(struct queue *q, struct msg *m, int wait_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&q->lock);
    while (q->count == q->capacity) {
        if (pthread_cond_timedwait(&q->not_full, &q->lock, &deadline) == ETIMEDOUT && q->count == q->capacity) {
            q->dropped++;
            pthread_mutex_unlock(&q->lock);
            return -1;
        }
    }
    q->ring[(q->head + q->count) % q->capacity] = m;
    q->count++;
    int was_empty = q->count == 1;
    pthread_mutex_unlock(&q->lock);
    if (was_empty) {
        uint64_t one = 1;
        ssize_t w = write(q->efd, &one, sizeof one);
        (void)w; /* counter overflow is impossible at one write per empty->nonempty */
    }
    return 0;
}

int queue_pop_many(struct queue *q, struct msg **out, int max)
{
    pthread_mutex_lock(&q->lock);
    int n = q->count < max ? q->count : max;
    for (int i = 0; i < n; i++) {
        out[i] = q->ring[q->head];
        q->head = (q->head + 1) % q->capacity;
    }
    q->count -= n;
    if (q->count == 0) {
        /* Drain the eventfd under the lock: a push after this sees was_empty and rewrites it. */
        uint64_t v;
        ssize_t r = read(q->efd, &v, sizeof v);
        (void)r;
    }
    if (n > 0)
        pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    return n;
}

uint64_t queue_dropped(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    uint64_t d = q->dropped;
    pthread_mutex_unlock(&q->lock);
    return d;
}
