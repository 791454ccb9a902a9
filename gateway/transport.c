/* transport: the shared part of every transport — choosing one for a bus, and judging a read's
 * reply in one place (mbpdu_check_read), whatever wire it came over. */
#include "transport.h"

#include <stdio.h>

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
    if (t->connected)
        t->ops->flush(t);
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
    enum mb_status st = t->ops->transact(t, unit, req, sizeof req, timeout_ms, &rsp_unit, rsp, &len);
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
        /* What follows a reply that was not ours belongs to nobody either. */
        transport_flush(t);
    }
    return st;
}
