/* transport_tcp: Modbus TCP (Modbus Messaging on TCP/IP v1.0b): the MBAP header around a PDU.
 *
 * Invariants: each request carries a new transaction id and a reply is taken only with that id
 * (libmodbus's raw calls do not check it, nor the unit of a TCP reply — mbpdu does the unit).
 * A connection is used for the next request only when this one's reply was read whole: after
 * a timeout or a reply under a foreign id, ours may still come, and if the next reply then
 * stops mid-frame the owed one would complete it (its header and length all correct) with
 * another meter's bytes. Anything that leaves the stream out of step (a header that is not
 * Modbus, a partial ADU) closes it too, since frame boundaries can no longer be known. A reply
 * under one of our recent ids (a server answering twice) is read whole and stepped over. */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

#define MBAP_LEN 7
/* Replies to this many earlier requests are still recognised as repeats, not foreign. */
#define LATE_WINDOW 16

struct tcp {
    struct transport base;
    const struct bus_config *cfg;
    int fd;
    uint16_t tid;
    uint8_t buf[MBAP_LEN + MBPDU_MAX];
    size_t have;
};

/* Non-blocking connect bounded by timeout_ms. Returns the socket, or -1 with err set. */
static int connect_bounded(const char *host, int port, int timeout_ms, char *err, size_t errlen)
{
    char service[16];
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof service, "%d", port);
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            snprintf(err, errlen, "socket: %s", strerror(errno));
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int so = 0;
            socklen_t sl = sizeof so;
            int pr = poll(&p, 1, timeout_ms);
            if (pr > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 && so == 0)
                break;
            snprintf(err, errlen, "cannot connect to %s:%d: %s", host, port,
                     pr == 0 ? "no answer within the timeout" : strerror(so ? so : errno));
        } else {
            snprintf(err, errlen, "cannot connect to %s:%d: %s", host, port, strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    }
    return fd;
}

static int tcp_connect(struct transport *t)
{
    struct tcp *c = (struct tcp *)t;
    int ms = c->cfg->timeout_ms < 1000 ? 1000 : c->cfg->timeout_ms;
    c->fd = connect_bounded(c->cfg->host, c->cfg->tcp_port, ms, t->err, sizeof t->err);
    c->have = 0;
    return c->fd < 0 ? -1 : 0;
}

static void tcp_close(struct transport *t)
{
    struct tcp *c = (struct tcp *)t;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->have = 0;
}

static int tcp_flush(struct transport *t)
{
    struct tcp *c = (struct tcp *)t;
    c->have = 0;
    return c->fd >= 0 ? transport_drain(c->fd, t->err, sizeof t->err) : 0;
}

/* The stream is out of step (or will not stop): frame boundaries can no longer be known. */
static void drop_connection(struct tcp *c)
{
    tcp_close(&c->base);
    c->base.connected = 0;
}

static enum mb_status send_all(struct tcp *c, const uint8_t *b, size_t n, int64_t deadline)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = send(c->fd, b + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN) {
            snprintf(c->base.err, sizeof c->base.err, "send: %s", strerror(errno));
            return MB_LINK;
        }
        int64_t left = deadline - clock_mono_ms();
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            snprintf(c->base.err, sizeof c->base.err, "could not send the request within the timeout");
            return MB_LINK;
        }
    }
    return MB_OK;
}

/* Reads until buf holds at least want bytes (never more than it holds), or the deadline. */
static enum mb_status fill(struct tcp *c, size_t want, int64_t deadline)
{
    if (want > sizeof c->buf) {
        snprintf(c->base.err, sizeof c->base.err, "reply frame of %zu bytes (at most %zu)", want, sizeof c->buf);
        return MB_BAD;
    }
    while (c->have < want) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0) {
            if (c->have == 0) {
                snprintf(c->base.err, sizeof c->base.err, "no reply");
                return MB_TIMEOUT;
            }
            snprintf(c->base.err, sizeof c->base.err, "incomplete reply (%zu of %zu bytes)", c->have, want);
            return MB_BAD;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno != EINTR) {
            snprintf(c->base.err, sizeof c->base.err, "poll: %s", strerror(errno));
            return MB_LINK;
        }
        if (pr <= 0)
            continue;
        ssize_t r = recv(c->fd, c->buf + c->have, want - c->have, MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            snprintf(c->base.err, sizeof c->base.err, "%s",
                     r == 0 ? "connection closed by the server" : strerror(errno));
            return MB_LINK;
        }
        c->have += (size_t)r;
    }
    return MB_OK;
}

static enum mb_status tcp_transact(struct transport *t, uint8_t unit, const uint8_t *pdu, size_t n, int timeout_ms,
                                   uint8_t *rsp_unit, uint8_t *rsp, size_t rsp_cap, size_t *rsp_len)
{
    struct tcp *c = (struct tcp *)t;
    uint8_t adu[MBAP_LEN + MBPDU_MAX];
    if (n > MBPDU_MAX)
        n = MBPDU_MAX;
    if (tcp_flush(t) < 0) {
        drop_connection(c);
        return MB_BAD;
    }
    uint16_t tid = ++c->tid;
    /* MBAP (Modbus Messaging on TCP/IP v1.0b, 3.1.3): transaction, protocol 0, length of
     * what follows (unit + PDU), unit. */
    adu[0] = (uint8_t)(tid >> 8);
    adu[1] = (uint8_t)tid;
    adu[2] = adu[3] = 0;
    adu[4] = (uint8_t)((n + 1) >> 8);
    adu[5] = (uint8_t)(n + 1);
    adu[6] = unit;
    memcpy(adu + MBAP_LEN, pdu, n);
    int64_t deadline = clock_mono_ms() + timeout_ms;
    enum mb_status st = send_all(c, adu, MBAP_LEN + n, deadline);
    if (st != MB_OK)
        goto out;
    for (;;) {
        c->have = 0;
        st = fill(c, MBAP_LEN, deadline);
        if (st != MB_OK)
            goto out;
        unsigned got = (unsigned)c->buf[0] << 8 | c->buf[1];
        unsigned proto = (unsigned)c->buf[2] << 8 | c->buf[3];
        unsigned len = (unsigned)c->buf[4] << 8 | c->buf[5];
        /* The length counts the unit and the PDU (3.1.3): 2 .. 1 + 253, so the ADU is at most
         * 260 bytes. */
        if (proto != 0 || len < 2) {
            snprintf(t->err, sizeof t->err, "not a Modbus TCP header (protocol %u, length %u)", proto, len);
            st = MB_BAD;
            goto out;
        }
        if (len > MBPDU_MAX + 1) {
            snprintf(t->err, sizeof t->err, "reply frame of %u bytes (at most %d)", MBAP_LEN - 1 + len,
                     MBAP_LEN + MBPDU_MAX);
            st = MB_BAD;
            goto out;
        }
        st = fill(c, MBAP_LEN - 1 + len, deadline);
        if (st != MB_OK)
            goto out;
        if (got == tid) {
            if (len - 1 > rsp_cap) {
                snprintf(t->err, sizeof t->err, "reply frame of %u bytes (at most %zu)", MBAP_LEN - 1 + len,
                         MBAP_LEN + rsp_cap);
                st = MB_BAD;
                goto out;
            }
            *rsp_unit = c->buf[6];
            *rsp_len = len - 1;
            memcpy(rsp, c->buf + MBAP_LEN, len - 1);
            c->have = 0;
            return MB_OK;
        }
        if ((uint16_t)(tid - got) > LATE_WINDOW) {
            snprintf(t->err, sizeof t->err, "transaction id 0x%04x in the reply (expected 0x%04x)", got, tid);
            st = MB_BAD;
            goto out;
        }
        /* An earlier request's reply again: not this one's, wait on. */
    }
out:
    /* This request's reply was not read whole: it may yet come, or part of it is waiting. */
    drop_connection(c);
    return st;
}

static void tcp_destroy(struct transport *t)
{
    free(t);
}

static const struct transport_ops tcp_ops = {
    .kind = "tcp",
    .connect = tcp_connect,
    .close = tcp_close,
    .transact = tcp_transact,
    .flush = tcp_flush,
    .destroy = tcp_destroy,
};

struct transport *transport_tcp_new(const struct bus_config *cfg)
{
    struct tcp *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base.ops = &tcp_ops;
    c->cfg = cfg;
    c->fd = -1;
    snprintf(c->base.label, sizeof c->base.label, "%.140s:%d", cfg->host, cfg->tcp_port);
    return &c->base;
}
