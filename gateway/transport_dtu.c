/* transport_dtu: Modbus RTU over a TCP connection that a 4G DTU opens to us ("transparent
 * transmission"). We are the server: the DTU sits behind carrier NAT, connects, registers
 * (dtu_listener.c decides which DTU it is and whether it may be), then heartbeats, and carries
 * RTU frames both ways. It is known by its registration id, never by its socket.
 *
 * This file is the transport alone: it polls through its own dup() of the slot's current
 * connection (dtu_slot_take), tells the slot how each exchange went (the listener's takeover
 * rule rests on it), and gives a dead connection back (dtu_slot_lost).
 *
 * Invariants: one request outstanding per DTU (its RS-485 side is half duplex); input left from
 * before a request (heartbeats, late replies) is dropped before it is sent. */
#include "transport.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "dtu_listener.h"

/* dtu_transact's name for the slots' lock. */
#define hub_lock dtu_hub_lock

struct dtu {
    struct transport base;
    const struct bus_config *cfg;
    struct queue *events; /* handed to the slot: where dtu_replaced goes */
    struct dtu_slot *slot;
    int fd; /* our dup of slot->fd */
    uint64_t gen;
    struct mbrtu_skip skip;
    uint8_t buf[MBRTU_MAX * 2];
    size_t have;
};

/* Registers the bus's id on its listening address, starting the listener if it is the first. */
static int slot_attach(struct dtu *d, char *err, size_t errlen)
{
    d->slot = dtu_listener_join(d->cfg, d->events, err, errlen);
    return d->slot ? 0 : -1;
}

static void slot_detach(struct dtu *d)
{
    dtu_listener_leave(d->slot);
    d->slot = NULL;
}

/* Takes the slot's current connection if it changed since we last looked. */
static void sync_fd(struct dtu *d)
{
    if (dtu_slot_take(d->slot, &d->gen, &d->fd))
        d->have = 0;
}

/* Our connection died: forget it in the slot too, unless a newer one already took its place. */
static void connection_lost(struct dtu *d)
{
    dtu_slot_lost(d->slot, d->gen);
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    d->have = 0;
}

static int dtu_connect(struct transport *t)
{
    struct dtu *d = (struct dtu *)t;
    if (!d->slot && slot_attach(d, t->err, sizeof t->err) < 0)
        return -1;
    sync_fd(d);
    if (d->fd < 0) {
        snprintf(t->err, sizeof t->err, "not connected (waiting for it to register on %s)", dtu_slot_where(d->slot));
        return -1;
    }
    return 0;
}

static void dtu_close(struct transport *t)
{
    struct dtu *d = (struct dtu *)t;
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    d->have = 0;
}

static int dtu_flush(struct transport *t)
{
    struct dtu *d = (struct dtu *)t;
    d->have = 0;
    if (d->fd < 0 || transport_drain(d->fd, t->err, sizeof t->err) == 0)
        return 0;
    /* A DTU that will not stop sending is dropped; it may register again. */
    connection_lost(d);
    return -1;
}

static enum mb_status dtu_transact(struct transport *t, uint8_t unit, const uint8_t *pdu, size_t n, int timeout_ms,
                                   uint8_t *rsp_unit, uint8_t *rsp, size_t rsp_cap, size_t *rsp_len)
{
    struct dtu *d = (struct dtu *)t;
    uint8_t frame[MBRTU_MAX];
    sync_fd(d);
    if (d->fd < 0) {
        snprintf(t->err, sizeof t->err, "DTU %s disconnected", d->cfg->dtu_id);
        return MB_LINK;
    }
    if (dtu_flush(t) < 0) {
        t->connected = 0;
        return MB_BAD;
    }
    size_t flen = mbrtu_wrap(unit, pdu, n, frame), done = 0;
    int64_t deadline = clock_mono_ms() + timeout_ms;
    while (done < flen) {
        ssize_t w = send(d->fd, frame + done, flen - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        int64_t left = deadline - clock_mono_ms();
        struct pollfd p = {.fd = d->fd, .events = POLLOUT};
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || left <= 0 || poll(&p, 1, (int)left) == 0) {
            snprintf(t->err, sizeof t->err, "DTU %s: cannot send: %s", d->cfg->dtu_id,
                     w < 0 && errno != EAGAIN ? strerror(errno) : "send buffer full");
            connection_lost(d);
            return MB_LINK;
        }
    }
    size_t off = 0, len = 0;
    enum mb_status st = transport_rtu_receive(d->fd, d->buf, sizeof d->buf, &d->have, unit, pdu[0], deadline, 1,
                                              &d->skip, &off, &len, t->err, sizeof t->err);
    if (st == MB_OK) {
        st = transport_rtu_unwrap(d->buf + off, len, rsp_unit, rsp, rsp_cap, rsp_len, t->err, sizeof t->err);
        d->have = 0;
    } else if (st == MB_LINK) {
        pthread_mutex_lock(&hub_lock);
        int replaced = d->slot->gen != d->gen;
        pthread_mutex_unlock(&hub_lock);
        if (replaced)
            snprintf(t->err, sizeof t->err, "DTU %s connected again; the request on its old connection is lost",
                     d->cfg->dtu_id);
        connection_lost(d);
    } else {
        d->have = 0;
    }
    return st;
}

static void dtu_destroy(struct transport *t)
{
    struct dtu *d = (struct dtu *)t;
    dtu_close(t);
    slot_detach(d);
    free(d);
}

/* Any reply, even an exception or garbage, shows the link carries bytes; a timeout or a link
 * error shows it may not. */
static void dtu_exchanged(struct transport *t, enum mb_status st)
{
    struct dtu *d = (struct dtu *)t;
    if (d->slot)
        dtu_slot_exchanged(d->slot, d->gen, st != MB_TIMEOUT && st != MB_LINK);
}

static const struct transport_ops dtu_ops = {
    .kind = "dtu",
    .connect = dtu_connect,
    .close = dtu_close,
    .transact = dtu_transact,
    .flush = dtu_flush,
    .destroy = dtu_destroy,
    .exchanged = dtu_exchanged,
};

struct transport *transport_dtu_new(const struct bus_config *cfg)
{
    struct dtu *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->base.ops = &dtu_ops;
    d->cfg = cfg;
    d->fd = -1;
    d->skip.lit[0] = cfg->heartbeat;
    d->skip.len[0] = (size_t)cfg->heartbeat_len;
    d->skip.lit[1] = cfg->register_packet;
    d->skip.len[1] = (size_t)cfg->register_len;
    snprintf(d->base.label, sizeof d->base.label, "DTU %s", cfg->dtu_id);
    return &d->base;
}

void transport_dtu_report_to(struct transport *t, struct queue *events)
{
    if (t && t->ops == &dtu_ops)
        ((struct dtu *)t)->events = events;
}
