/* test_queue: the poller-to-core hand-off — order, the eventfd signal, the bound and its count. */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "queue.h"

static int readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

struct producer_arg {
    struct queue *q;
    int device;
    int n;
};

static void *producer(void *arg)
{
    struct producer_arg *a = arg;
    for (int i = 0; i < a->n; i++) {
        struct msg *m = msg_new(MSG_READING, a->device, i, 1);
        m->values[0] = i;
        while (queue_push(a->q, m, 1000) < 0)
            ;
    }
    return NULL;
}

int main(void)
{
    struct queue *q = queue_new(4);
    CHECK(!readable(queue_fd(q)));

    /* FIFO order and the signal */
    for (int i = 0; i < 3; i++)
        CHECK(queue_push(q, msg_new(MSG_READING, i, i, 0), 0) == 0);
    CHECK(readable(queue_fd(q)));
    struct msg *out[8];
    CHECK(queue_pop_many(q, out, 2) == 2);
    CHECK(out[0]->device == 0 && out[1]->device == 1);
    msg_free(out[0]);
    msg_free(out[1]);
    CHECK(readable(queue_fd(q))); /* one still waiting */
    CHECK(queue_pop_many(q, out, 8) == 1);
    CHECK(out[0]->device == 2);
    msg_free(out[0]);
    CHECK(!readable(queue_fd(q)));

    /* Full: a push that cannot get in within its wait fails and is counted */
    for (int i = 0; i < 4; i++)
        CHECK(queue_push(q, msg_new(MSG_READING, i, i, 0), 0) == 0);
    struct msg *extra = msg_new(MSG_READING, 9, 0, 0);
    CHECK(queue_push(q, extra, 20) == -1);
    msg_free(extra);
    CHECK(queue_dropped(q) == 1);
    queue_free(q); /* frees the four still inside */

    /* Two producers against one consumer: every message arrives, each producer's in order */
    q = queue_new(16);
    struct producer_arg a1 = {q, 1, 20000}, a2 = {q, 2, 20000};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, producer, &a1);
    pthread_create(&t2, NULL, producer, &a2);
    int got = 0, next[3] = {0, 0, 0}, in_order = 1;
    while (got < 40000) {
        struct pollfd p = {.fd = queue_fd(q), .events = POLLIN};
        poll(&p, 1, 1000);
        int n = queue_pop_many(q, out, 8);
        for (int i = 0; i < n; i++) {
            if ((int)out[i]->values[0] != next[out[i]->device])
                in_order = 0;
            next[out[i]->device]++;
            msg_free(out[i]);
        }
        got += n;
    }
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK(in_order);
    CHECK(next[1] == 20000 && next[2] == 20000);
    CHECK(queue_dropped(q) == 0);
    queue_free(q);
    return check_report();
}
