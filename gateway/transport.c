/* transport: the shared part of every transport — choosing one for a bus, and judging a read's
 * reply in one place (mbpdu_check_read), whatever wire it came over. */
#include "transport.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "clock.h"

struct transport *transport_new(const struct bus_config *cfg)
{
    switch (cfg->type) {
    case BUS_RTU:
        return transport_rtu_new(cfg);
    case BUS_TCP:
        return transport_tcp_new(cfg);
    case BUS_DTU:
        return transport_dtu_new(cfg);
    }
    return NULL;
}

void transport_free(struct transport *t)
{
    if (!t)
        return;
    transport_close(t);
    t->ops->destroy(t);
}

int transport_connect(struct transport *t)
{
    if (t->connected)
        return 0;
    t->err[0] = '\0';
    if (t->ops->connect(t) < 0)
        return -1;
    t->connected = 1;
    return 0;
}

void transport_close(struct transport *t)
{
    if (t->connected)
        t->ops->close(t);
    t->connected = 0;
}

void transport_flush(struct transport *t)
{
    if (t->connected && t->ops->flush(t) < 0)
        transport_close(t);
}

int transport_drain(int fd, char *err, size_t errlen)
{
    uint8_t scratch[4096];
    int queued = 0;
    if (ioctl(fd, FIONREAD, &queued) < 0 || queued < 0)
        queued = 0;
    size_t limit = (size_t)queued + TRANSPORT_DRAIN_SLACK, dropped = 0;
    int64_t until = clock_mono_ms() + TRANSPORT_DRAIN_MS;
    for (;;) {
        ssize_t r = recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        dropped += (size_t)r;
        /* Time counts only once more has come than was waiting: a long backlog on a busy
         * machine is not a stream. */
        if (dropped > limit || (dropped > (size_t)queued && clock_mono_ms() > until)) {
            snprintf(err, errlen, "the peer keeps sending: %zu bytes dropped before the request and more coming",
                     dropped);
            return -1;
        }
    }
}

void transport_hex(const uint8_t *b, size_t n, char *out, size_t outlen)
{
    size_t k = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && i < 12 && k + 4 < outlen; i++)
        k += (size_t)snprintf(out + k, outlen - k, "%s%02x", i ? " " : "", b[i]);
    if (n > 12 && k + 4 < outlen)
        snprintf(out + k, outlen - k, " ...");
}

enum mb_status transport_rtu_unwrap(const uint8_t *frame, size_t len, uint8_t *rsp_unit, uint8_t *rsp, size_t rsp_cap,
                                    size_t *rsp_len, char *err, size_t errlen)
{
    if (len < 3 || len - 3 > rsp_cap) {
        snprintf(err, errlen, "reply frame of %zu bytes (at most %zu)", len, rsp_cap + 3);
        return MB_BAD;
    }
    *rsp_unit = frame[0];
    *rsp_len = len - 3;
    memcpy(rsp, frame + 1, len - 3);
    return MB_OK;
}

enum mb_status transport_read(struct transport *t, uint8_t unit, int table, uint16_t start, uint16_t count,
                              int timeout_ms, uint16_t *regs, uint8_t *bits, int *exception)
{
    uint8_t req[5], rsp[MBPDU_MAX], rsp_unit = 0;
    size_t len = 0;
    *exception = 0;
    if (mbpdu_build_read(table, start, count, req) < 0) {
        snprintf(t->err, sizeof t->err, "no single read can ask for %u items at %u", count, start);
        return MB_BAD;
    }
    if (!t->connected) {
        snprintf(t->err, sizeof t->err, "not connected");
        return MB_LINK;
    }
    enum mb_status st = t->ops->transact(t, unit, req, sizeof req, timeout_ms, &rsp_unit, rsp, sizeof rsp, &len);
    if (t->ops->exchanged)
        t->ops->exchanged(t, st);
    if (st == MB_LINK)
        transport_close(t);
    if (st != MB_OK)
        return st;
    st = mbpdu_check_read(unit, req, rsp_unit, rsp, len, exception, t->err, sizeof t->err);
    if (st == MB_OK) {
        if (req[0] == 0x01 || req[0] == 0x02)
            mbpdu_unpack_bits(rsp, count, bits);
        else
            mbpdu_unpack_regs(rsp, count, regs);
    } else if (st == MB_BAD) {
        /* What follows a reply that was not ours belongs to nobody either. The reply's fault
         * stays the reason given; a flush that closed the link adds why. */
        char why[sizeof t->err], tail[sizeof t->err];
        memcpy(why, t->err, sizeof why);
        transport_flush(t);
        memcpy(tail, t->err, sizeof tail);
        if (t->connected)
            memcpy(t->err, why, sizeof why);
        else
            snprintf(t->err, sizeof t->err, "%.120s; link closed: %.120s", why, tail);
    }
    return st;
}
