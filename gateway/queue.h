/* queue: the bounded hand-off from poller threads to the core thread; the only place they meet. */
#ifndef CARETAKER_QUEUE_H
#define CARETAKER_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

enum msg_kind {
    MSG_READING,        /* one poll of a device: values[] and quality[] by point index */
    MSG_DEVICE_ONLINE,  /* first good poll, or recovery after offline */
    MSG_DEVICE_OFFLINE, /* offline_after failed cycles in a row */
    MSG_POINT_MISSING,  /* the device answered "illegal data address" for this point alone */
    MSG_DTU_REPLACED,   /* a DTU's silent connection was taken over by a new one (device -1) */
};

/* MSG_DTU_REPLACED: who took over from whom, from the DTU listener's thread. */
struct dtu_takeover {
    char bus[64];
    char dtu_id[64];
    char old_peer[64];
    char new_peer[64];
    int recent;    /* takeovers of this id within DTU_CONTESTED_WINDOW_MS, this one included */
    int contested; /* 1: recent reached DTU_CONTESTED_COUNT: raise the dtu_contested alert */
};

/* One message, allocated by the producer with msg_new and freed by the consumer. */
struct msg {
    enum msg_kind kind;
    int device;          /* device->index */
    int64_t ts_ms;       /* wall time the poll was read; the core replaces it with the time it records */
    int64_t mono_ms;     /* monotonic time, read with ts_ms (timebase.h) */
    bool clock_unsynced; /* set by the core: ts_ms was taken before the clock synchronized */
    int point;           /* MSG_POINT_MISSING */
    int npoints;
    int errors;     /* failed cycles behind an offline event */
    double *values; /* npoints entries, inside the same allocation */
    uint8_t *quality;
    struct dtu_takeover *takeover; /* MSG_DTU_REPLACED */
};

struct msg *msg_new(enum msg_kind kind, int device, int64_t ts_ms, int npoints);
/* A MSG_DTU_REPLACED message with its takeover zeroed, for the caller to fill. */
struct msg *msg_new_takeover(int64_t ts_ms);
void msg_free(struct msg *m);

struct queue;

/* capacity: messages held before producers wait. The returned queue has an eventfd that
 * becomes readable when messages are waiting, for the core thread's poll(). */
struct queue *queue_new(int capacity);
void queue_free(struct queue *q);
int queue_fd(const struct queue *q);

/* Blocks up to wait_ms while full; returns 0, or -1 when still full (the caller counts the
 * loss — the core thread only stalls if the store is stuck, and a poller must not hang). */
int queue_push(struct queue *q, struct msg *m, int wait_ms);

/* Takes up to max messages without blocking; returns how many. Clears the eventfd when empty. */
int queue_pop_many(struct queue *q, struct msg **out, int max);

/* Messages dropped because the queue stayed full. */
uint64_t queue_dropped(struct queue *q);

#endif
