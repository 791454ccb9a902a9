/* bus: the poller thread of one bus, talking through its transport (RTU, TCP or DTU).
 *
 * Schedule: each device has an absolute deadline on its own grid (t0 + k * poll_ms), so polls
 * do not drift; when the bus falls behind, missed grid points are skipped and counted, never
 * bunched up.
 * Circuit breaker: a device that fails offline_after cycles in a row goes offline; it is then
 * probed with one single-register read and no retries at back-off intervals doubling up to
 * backoff_max_ms, so a dead device costs its bus at most one timeout per back-off window.
 * Within a cycle, a timeout ends the cycle: a device that did not answer one read will not
 * answer the next, and the other devices on the line are waiting.
 */
#include "bus.h"

#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "decode.h"
#include "log.h"
#include "plan.h"
#include "transport.h"

enum read_result { READ_OK, READ_HOLE, READ_TIMEOUT, READ_BAD, READ_EXCEPTION, READ_LINK };

struct device_rt {
    const struct device *dev;
    struct read_plan plan;
    int64_t next_due;
    int fails;                /* consecutive failed cycles */
    enum read_result failure; /* of the last failed cycle's first failed read */
    int state;                /* -1 unknown (not read since start), 0 offline, 1 online */
    int64_t backoff_ms;
    struct complaint complain;
    _Atomic uint64_t polls_ok, polls_failed, timeouts, bad_replies, exceptions, skipped, probes;
    _Atomic uint64_t replies, rtt_us_total, rtt_us_last, rtt_us_max;
};

struct bus {
    const struct bus_config *cfg;
    struct queue *q;
    pthread_t thread;
    atomic_int stop;
    int stop_fd; /* an eventfd written by bus_stop: the poller sleeps on it until its next deadline */
    struct transport *tp;
    int64_t next_connect_ms;
    struct complaint link_complaint;
    struct device_rt *devs;
    uint16_t regs[PLAN_MAX_REGS];
    uint8_t bits[PLAN_MAX_BITS];
};

static void push(struct bus *b, struct msg *m)
{
    if (!m)
        return;
    if (queue_push(b->q, m, 1000) < 0) {
        log_err("bus %s: queue full for 1 s, dropped a message (store stalled?)", b->cfg->id);
        msg_free(m);
    }
}

static const char *unit_label(const struct device *d, char *buf, size_t n)
{
    snprintf(buf, n, "%s (unit %d)", d->id, d->unit);
    return buf;
}

static void link_close(struct bus *b)
{
    transport_close(b->tp);
}

static int link_open(struct bus *b)
{
    if (b->tp->connected)
        return 0;
    int64_t now = clock_mono_ms();
    if (now < b->next_connect_ms)
        return -1;
    if (transport_connect(b->tp) == 0) {
        if (log_release(&b->link_complaint))
            log_notice("bus %s: %s: connected again", b->cfg->id, b->tp->label);
        return 0;
    }
    uint32_t held;
    if (log_complain(&b->link_complaint, now, &held))
        log_warn("bus %s: %s: %s (%u similar held back)", b->cfg->id, b->tp->label, b->tp->err, held);
    /* Retry the link at most once a second, whatever the number of devices behind it. */
    b->next_connect_ms = now + 1000;
    return -1;
}

/* Busy, acknowledge and device-failure exceptions may pass on a second try; the others
 * (illegal function, value) will not. */
static int exception_may_pass(int code)
{
    return code == MB_EXC_SERVER_BUSY || code == MB_EXC_ACKNOWLEDGE || code == MB_EXC_SERVER_FAILURE;
}

/* One read, with the device's retries. count/start override the block (probes read one). */
static enum read_result read_once(struct bus *b, struct device_rt *d, uint8_t table, int start, int count, int attempts)
{
    const struct device *dev = d->dev;
    enum read_result res = READ_TIMEOUT;
    for (int a = 0; a < attempts; a++) {
        if (link_open(b) < 0)
            return READ_LINK;
        int exc = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        enum mb_status st = transport_read(b->tp, (uint8_t)dev->unit, table, (uint16_t)start, (uint16_t)count,
                                           dev->timeout_ms, b->regs, b->bits, &exc);
        if (st == MB_OK) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            int64_t us = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
            uint64_t rtt = us > 0 ? (uint64_t)us : 0;
            atomic_fetch_add_explicit(&d->replies, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&d->rtt_us_total, rtt, memory_order_relaxed);
            atomic_store_explicit(&d->rtt_us_last, rtt, memory_order_relaxed);
            /* only this thread writes it: a plain compare is enough */
            if (rtt > atomic_load_explicit(&d->rtt_us_max, memory_order_relaxed))
                atomic_store_explicit(&d->rtt_us_max, rtt, memory_order_relaxed);
            return READ_OK;
        }
        char label[96];
        uint32_t held;
        if (st == MB_EXCEPTION && exc == MB_EXC_ILLEGAL_ADDRESS)
            return READ_HOLE;
        if (st == MB_EXCEPTION) {
            atomic_fetch_add_explicit(&d->exceptions, 1, memory_order_relaxed);
            if (log_complain(&d->complain, clock_mono_ms(), &held))
                log_warn("bus %s: %s: exception reading %d..%d: %s (%u similar held back)", b->cfg->id,
                         unit_label(dev, label, sizeof label), start, start + count - 1, b->tp->err, held);
            if (!exception_may_pass(exc))
                return READ_EXCEPTION;
            res = READ_EXCEPTION;
        } else if (st == MB_TIMEOUT) {
            atomic_fetch_add_explicit(&d->timeouts, 1, memory_order_relaxed);
            /* A reply arriving after the timeout must not be taken for the next request's. */
            transport_flush(b->tp);
            res = READ_TIMEOUT;
        } else if (st == MB_BAD) {
            atomic_fetch_add_explicit(&d->bad_replies, 1, memory_order_relaxed);
            if (log_complain(&d->complain, clock_mono_ms(), &held))
                log_warn("bus %s: %s: bad reply reading %d..%d: %s (%u similar held back)", b->cfg->id,
                         unit_label(dev, label, sizeof label), start, start + count - 1, b->tp->err, held);
            /* Drop whatever is left of the garbage so the next request starts clean. */
            transport_flush(b->tp);
            res = READ_BAD;
        } else {
            /* Connection reset, broken pipe, I/O error: reopen the link before the next try. */
            if (log_complain(&b->link_complaint, clock_mono_ms(), &held))
                log_warn("bus %s: %s: link error: %s (%u similar held back)", b->cfg->id,
                         unit_label(dev, label, sizeof label), b->tp->err, held);
            link_close(b);
            res = READ_LINK;
        }
    }
    return res;
}

static void decode_block(struct bus *b, const struct profile *p, const struct read_plan *plan,
                         const struct read_block *blk, struct msg *m)
{
    for (int k = 0; k < blk->npoints; k++) {
        int idx = plan->order[blk->first + k];
        const struct point *pt = &p->points[idx];
        int off = pt->address - blk->start;
        uint16_t bitval;
        const uint16_t *regs;
        if (blk->table == TABLE_COIL || blk->table == TABLE_DISCRETE) {
            bitval = b->bits[off] ? 1 : 0;
            regs = &bitval;
        } else {
            regs = &b->regs[off];
        }
        m->quality[idx] = (uint8_t)decode_point(pt, regs, &m->values[idx]);
    }
}

static void report_missing(struct bus *b, struct device_rt *d, const int *missing, int n)
{
    char label[96];
    for (int k = 0; k < n; k++) {
        const struct point *pt = &d->dev->profile->points[missing[k]];
        log_warn("bus %s: %s: point \"%s\" (%s address %d) does not exist on the device (exception 02); "
                 "no longer read",
                 b->cfg->id, unit_label(d->dev, label, sizeof label), pt->name, reg_table_words(pt->table, false),
                 pt->address);
        struct msg *m = msg_new(MSG_POINT_MISSING, d->dev->index, clock_wall_ms(), 0);
        if (m)
            m->point = missing[k];
        push(b, m);
    }
}

/* One full cycle. Returns 1 when every read succeeded. */
static int poll_cycle(struct bus *b, struct device_rt *d)
{
    const struct profile *p = d->dev->profile;
    struct msg *m = msg_new(MSG_READING, d->dev->index, clock_wall_ms(), p->npoints);
    if (!m)
        return 0;
    for (int k = 0; k < p->npoints; k++) {
        m->values[k] = NAN;
        /* Derived points start OK so decode_finish computes them. */
        m->quality[k] = p->points[k].table == TABLE_DERIVED ? Q_OK : Q_UNREAD;
    }
    int ok_blocks = 0, failed = 0, abandoned = 0;
    for (int i = 0; i < d->plan.nblocks;) {
        struct read_block *blk = &d->plan.blocks[i];
        enum read_result r =
            abandoned ? READ_TIMEOUT : read_once(b, d, blk->table, blk->start, blk->count, 1 + d->dev->retries);
        if (r == READ_HOLE) {
            int missing[MAX_POINTS];
            report_missing(b, d, missing, plan_split(&d->plan, p, i, missing));
            continue; /* block i is now the first half of the split, or the next block */
        }
        if (r == READ_OK) {
            decode_block(b, p, &d->plan, blk, m);
            ok_blocks++;
        } else {
            for (int k = 0; k < blk->npoints; k++)
                m->quality[d->plan.order[blk->first + k]] = Q_OFFLINE;
            if (failed++ == 0)
                d->failure = r;
            /* A device that did not answer one read will not answer the next, and the other
             * devices on the line are waiting; a garbled reply or an exception on one block
             * does not condemn the rest. */
            if (r == READ_TIMEOUT || r == READ_LINK)
                abandoned = 1;
        }
        i++;
    }
    if (ok_blocks > 0) {
        decode_finish(p, m->values, m->quality);
        push(b, m);
    } else {
        msg_free(m);
    }
    return failed == 0;
}

/* One small read while offline: a single register (or bit) at the start of the first block. */
static int probe(struct bus *b, struct device_rt *d)
{
    atomic_fetch_add_explicit(&d->probes, 1, memory_order_relaxed);
    if (d->plan.nblocks == 0)
        return 1;
    const struct read_block *blk = &d->plan.blocks[0];
    return read_once(b, d, blk->table, blk->start, 1, 1) == READ_OK;
}

static void set_state(struct bus *b, struct device_rt *d, int online)
{
    char label[96];
    if (d->state == online)
        return;
    if (online) {
        if (d->state == 0)
            log_notice("bus %s: %s: answering again, back online", b->cfg->id, unit_label(d->dev, label, sizeof label));
        log_release(&d->complain);
    } else {
        log_warn("bus %s: %s: no valid reply for %d cycles, offline; probing every %lld..%d ms", b->cfg->id,
                 unit_label(d->dev, label, sizeof label), d->fails, (long long)d->backoff_ms, b->cfg->backoff_max_ms);
    }
    d->state = online;
    struct msg *m = msg_new(online ? MSG_DEVICE_ONLINE : MSG_DEVICE_OFFLINE, d->dev->index, clock_wall_ms(), 0);
    if (m)
        m->errors = d->fails;
    push(b, m);
}

static int64_t initial_backoff(const struct device_rt *d, const struct bus_config *c)
{
    int64_t t = d->dev->poll_ms > 1000 ? d->dev->poll_ms : 1000;
    return t < c->backoff_max_ms ? t : c->backoff_max_ms;
}

static void run_due(struct bus *b, struct device_rt *d, int64_t due)
{
    const struct bus_config *c = b->cfg;
    if (d->state == 0) {
        if (probe(b, d)) {
            d->fails = 0;
            set_state(b, d, 1);
            d->next_due = clock_mono_ms(); /* poll at once, then back on a grid from now */
        } else {
            d->backoff_ms *= 2;
            if (d->backoff_ms > c->backoff_max_ms)
                d->backoff_ms = c->backoff_max_ms;
            d->next_due = clock_mono_ms() + d->backoff_ms;
        }
        return;
    }
    int ok = poll_cycle(b, d);
    int64_t now = clock_mono_ms();
    if (ok) {
        atomic_fetch_add_explicit(&d->polls_ok, 1, memory_order_relaxed);
        d->fails = 0;
        set_state(b, d, 1);
    } else {
        atomic_fetch_add_explicit(&d->polls_failed, 1, memory_order_relaxed);
        d->fails++;
        char label[96];
        uint32_t held;
        if (d->fails < c->offline_after && log_complain(&d->complain, now, &held)) {
            if (d->failure == READ_LINK)
                log_warn("bus %s: %s: not polled: %s is down (%u similar held back)", c->id,
                         unit_label(d->dev, label, sizeof label), b->tp->label, held);
            else
                log_warn("bus %s: %s: no valid reply within %d ms (%d tries) (%u similar held back)", c->id,
                         unit_label(d->dev, label, sizeof label), d->dev->timeout_ms, 1 + d->dev->retries, held);
        }
        if (d->fails >= c->offline_after) {
            d->backoff_ms = initial_backoff(d, c);
            set_state(b, d, 0);
            d->next_due = now + d->backoff_ms;
            return;
        }
    }
    /* Next grid point after now; grid points that passed while the bus was busy are skipped. */
    int64_t next = due + d->dev->poll_ms;
    if (next <= now) {
        int64_t missed = (now - next) / d->dev->poll_ms + 1;
        atomic_fetch_add_explicit(&d->skipped, (uint64_t)missed, memory_order_relaxed);
        next += missed * d->dev->poll_ms;
    }
    d->next_due = next;
}

/* Sleeps until the deadline or a stop, whichever comes first: one wake-up per poll, none between
 * polls however long the interval. */
static void sleep_until(struct bus *b, int64_t deadline)
{
    while (!atomic_load(&b->stop)) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            return;
        struct pollfd p = {.fd = b->stop_fd, .events = POLLIN};
        poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
    }
}

static void *bus_thread(void *arg)
{
    struct bus *b = arg;
    while (!atomic_load(&b->stop)) {
        struct device_rt *next = NULL;
        for (int i = 0; i < b->cfg->ndevices; i++)
            if (!next || b->devs[i].next_due < next->next_due)
                next = &b->devs[i];
        if (!next)
            break;
        sleep_until(b, next->next_due);
        if (atomic_load(&b->stop))
            break;
        run_due(b, next, next->next_due);
    }
    link_close(b);
    return NULL;
}

int bus_start(const struct bus_config *cfg, struct queue *q, struct bus **out)
{
    struct bus *b = calloc(1, sizeof *b);
    if (!b)
        return -1;
    b->cfg = cfg;
    b->q = q;
    b->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    b->devs = calloc((size_t)cfg->ndevices, sizeof *b->devs);
    b->tp = transport_new(cfg);
    transport_dtu_report_to(b->tp, q);
    if (b->stop_fd < 0) {
        log_err("bus %s: cannot make its stop event", cfg->id);
        goto fail;
    }
    if (!b->devs || !b->tp) {
        log_err("bus %s: out of memory", cfg->id);
        goto fail;
    }
    int64_t now = clock_mono_ms();
    for (int i = 0; i < cfg->ndevices; i++) {
        struct device_rt *d = &b->devs[i];
        d->dev = &cfg->devices[i];
        d->state = -1;
        if (plan_build(d->dev->profile, cfg->max_gap, &d->plan) < 0) {
            log_err("bus %s: %s: cannot plan reads for driver %s", cfg->id, d->dev->id, d->dev->driver);
            goto fail;
        }
        /* Spread the first polls over the first interval so devices do not all fire at once. */
        d->next_due = now + (int64_t)i * 10 % (d->dev->poll_ms > 0 ? d->dev->poll_ms : 1);
    }
    if (pthread_create(&b->thread, NULL, bus_thread, b) != 0) {
        log_err("bus %s: cannot start the poller thread", cfg->id);
        goto fail;
    }
    *out = b;
    return 0;
fail:
    if (b->stop_fd >= 0)
        close(b->stop_fd);
    transport_free(b->tp);
    free(b->devs);
    free(b);
    return -1;
}

void bus_stop(struct bus *b)
{
    if (!b)
        return;
    atomic_store(&b->stop, 1);
    uint64_t one = 1;
    if (write(b->stop_fd, &one, sizeof one) < 0)
        log_err("bus %s: cannot wake its poller to stop", b->cfg->id);
    pthread_join(b->thread, NULL);
    close(b->stop_fd);
    transport_free(b->tp);
    free(b->devs);
    free(b);
}

void bus_device_stats(struct bus *b, int i, struct device_stats *o)
{
    struct device_rt *d = &b->devs[i];
    o->polls_ok = atomic_load_explicit(&d->polls_ok, memory_order_relaxed);
    o->polls_failed = atomic_load_explicit(&d->polls_failed, memory_order_relaxed);
    o->timeouts = atomic_load_explicit(&d->timeouts, memory_order_relaxed);
    o->bad_replies = atomic_load_explicit(&d->bad_replies, memory_order_relaxed);
    o->exceptions = atomic_load_explicit(&d->exceptions, memory_order_relaxed);
    o->skipped = atomic_load_explicit(&d->skipped, memory_order_relaxed);
    o->probes = atomic_load_explicit(&d->probes, memory_order_relaxed);
    o->replies = atomic_load_explicit(&d->replies, memory_order_relaxed);
    o->rtt_us_total = atomic_load_explicit(&d->rtt_us_total, memory_order_relaxed);
    o->rtt_us_last = atomic_load_explicit(&d->rtt_us_last, memory_order_relaxed);
    o->rtt_us_max = atomic_load_explicit(&d->rtt_us_max, memory_order_relaxed);
}
