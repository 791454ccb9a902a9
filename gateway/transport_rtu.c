/* transport_rtu: Modbus RTU on a serial port (RS-485 through a UART or a USB adapter), driven
 * by libmodbus: it opens and sets the port, switches the driver to RS-485 or toggles RTS around
 * each request, adds and checks the CRC, reads a reply by its function code and byte count.
 * What a reply means is still judged in transport_read.
 *
 * Invariants: frames are separated by at least 3.5 character times of silence (Modbus over
 * Serial Line v1.02, 2.5.1.1), counted from the end of the last exchange; input left over from
 * an earlier exchange is discarded before each request, so a late reply can never answer the
 * next one; the whole reply comes within the timeout or not at all; nothing libmodbus lets
 * through unchecked (another unit's frame, whose CRC it skips) reaches the caller unchecked.
 *
 * What libmodbus 3.1.6 does and does not do here, read from its source (src/modbus.c,
 * src/modbus-rtu.c): modbus_receive_confirmation reads exactly the length the function code and
 * byte count give, into the caller's buffer; with no byte timeout, the whole frame within the
 * response timeout (Linux's select() leaves the time not slept in its timeout argument); it
 * refuses with EMBBADDATA before reading on when that length passes 256 bytes (the header is
 * then in the buffer); it checks the CRC only of a frame from the unit set with
 * modbus_set_slave (or broadcast) and returns 0, unchecked, for another unit's; it does not
 * flush before sending; ETIMEDOUT does not say whether any byte came. */
#include "transport.h"

#include <errno.h>
#include <modbus.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "log.h"

struct rtu {
    struct transport base;
    const struct bus_config *cfg;
    modbus_t *mb;
    int64_t silence_us;
    int64_t last_end_us;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Modbus over serial line v1.02, 2.5.1.1: 3.5 character times; above 19200 baud a fixed
 * 1750 us. A slow meter may ask for more (frame_delay_ms). */
static int64_t silence_us(const struct bus_config *c)
{
    int bits = 1 + c->data_bits + (c->parity != 'N' ? 1 : 0) + c->stop_bits;
    int64_t t = c->baud > 19200 ? 1750 : (int64_t)(3.5 * bits * 1e6 / c->baud + 0.5);
    return t > c->frame_delay_us ? t : c->frame_delay_us;
}

static void rtu_close(struct transport *t)
{
    struct rtu *r = (struct rtu *)t;
    if (r->mb) {
        modbus_close(r->mb);
        modbus_free(r->mb);
    }
    r->mb = NULL;
}

static int rtu_connect(struct transport *t)
{
    struct rtu *r = (struct rtu *)t;
    const struct bus_config *c = r->cfg;
    /* libmodbus would open an unknown rate at 9600 and say nothing. */
    if (!config_baud_supported(c->baud, NULL, 0)) {
        snprintf(t->err, sizeof t->err, "%d baud is not supported", c->baud);
        return -1;
    }
    r->mb = modbus_new_rtu(c->port, c->baud, c->parity, c->data_bits, c->stop_bits);
    if (!r->mb) {
        snprintf(t->err, sizeof t->err, "cannot use %.150s: %s", c->port, modbus_strerror(errno));
        return -1;
    }
    if (modbus_connect(r->mb) < 0) {
        snprintf(t->err, sizeof t->err, "cannot open %.120s at %d %d%c%d: %s", c->port, c->baud, c->data_bits,
                 c->parity, c->stop_bits, modbus_strerror(errno));
        modbus_free(r->mb);
        r->mb = NULL;
        return -1;
    }
    /* libmodbus waits with select(): a descriptor past FD_SETSIZE would be written outside
     * its fd_set. */
    if (modbus_get_socket(r->mb) >= FD_SETSIZE) {
        snprintf(t->err, sizeof t->err, "%.150s opened as descriptor %d, beyond what select() takes (%d)", c->port,
                 modbus_get_socket(r->mb), FD_SETSIZE);
        rtu_close(t);
        return -1;
    }
    /* The driver then drives the transmitter's enable line around each frame itself. */
    if (c->rs485 && modbus_rtu_set_serial_mode(r->mb, MODBUS_RTU_RS485) < 0)
        log_warn("bus %s: %s does not support RS-485 mode (%s); continuing in RS-232 mode", c->id, c->port,
                 modbus_strerror(errno));
    /* For adapters whose driver does not: libmodbus raises (or lowers) RTS for each request
     * and drops it once the request has left. */
    if (c->rts != RTS_NONE && modbus_rtu_set_rts(r->mb, c->rts == RTS_UP ? MODBUS_RTU_RTS_UP : MODBUS_RTU_RTS_DOWN) < 0)
        log_warn("bus %s: %s: cannot toggle RTS (%s)", c->id, c->port, modbus_strerror(errno));
    /* No byte timeout: the response timeout then bounds the whole reply (modbus_set_byte_timeout(3)).
     * A limit on each gap would cut a reply whose sender was only late — a USB adapter hands
     * bytes over in bursts, a loaded box schedules a slow sender late — and would let a
     * trickling device hold the line for 255 gaps. */
    modbus_set_byte_timeout(r->mb, 0, 0);
    modbus_flush(r->mb);
    r->last_end_us = mono_us();
    return 0;
}

/* tcflush drops the driver's queue in one call, however fast the device sends: bounded. */
static int rtu_flush(struct transport *t)
{
    struct rtu *r = (struct rtu *)t;
    if (r->mb)
        modbus_flush(r->mb);
    return 0;
}

static void wait_silence(struct rtu *r)
{
    int64_t until = r->last_end_us + r->silence_us;
    int64_t now = mono_us();
    if (now < until) {
        struct timespec ts = {.tv_sec = (until - now) / 1000000, .tv_nsec = ((until - now) % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
}

/* At least 1 us: libmodbus refuses a response timeout of zero. */
static void set_response_timeout(modbus_t *mb, int64_t us)
{
    if (us < 1)
        us = 1;
    modbus_set_response_timeout(mb, (uint32_t)(us / 1000000), (uint32_t)(us % 1000000));
}

/* Waits for the reply's first byte until deadline_ms: MB_OK once one is there, MB_TIMEOUT
 * (err set) when none came. Done here because libmodbus's ETIMEDOUT would not tell silence
 * from half a frame. */
static enum mb_status first_byte(int fd, int64_t deadline_ms, char *err, size_t errlen)
{
    for (;;) {
        int64_t left = deadline_ms - clock_mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (pr > 0)
            return MB_OK;
        if (pr == 0 && clock_mono_ms() >= deadline_ms) {
            snprintf(err, errlen, "no reply");
            return MB_TIMEOUT;
        }
        if (pr < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return MB_LINK;
        }
    }
}

/* A frame libmodbus let through without its CRC checked (another unit's, rc 0): checked here
 * by the same length rule libmodbus read it by. MB_OK sets *len; MB_BAD sets err. */
static enum mb_status other_unit_frame(const uint8_t *f, size_t *len, char *err, size_t errlen)
{
    char why[64], hex[64];
    int l = mbrtu_reply_len(f, 3);
    if (l > 0 && mbrtu_crc16(f, (size_t)l - 2) == (uint16_t)(f[l - 2] | f[l - 1] << 8)) {
        *len = (size_t)l;
        return MB_OK;
    }
    mbrtu_describe_garbage(f, 3, why, sizeof why);
    transport_hex(f, l > 0 ? (size_t)l : 3, hex, sizeof hex);
    snprintf(err, errlen, "%s: %s", why, hex);
    return MB_BAD;
}

/* The reply after its first byte, read by libmodbus: the whole of it by deadline_ms. */
static enum mb_status receive(struct rtu *r, int64_t deadline_ms, uint8_t *frame, size_t *len)
{
    struct transport *t = &r->base;
    char why[64], hex[64];
    set_response_timeout(r->mb, (deadline_ms - clock_mono_ms()) * 1000);
    int rc = modbus_receive_confirmation(r->mb, frame);
    if (rc > 0) {
        *len = (size_t)rc;
        return MB_OK;
    }
    if (rc == 0)
        return other_unit_frame(frame, len, t->err, sizeof t->err);
    switch (errno) {
    case ETIMEDOUT:
        snprintf(t->err, sizeof t->err, "incomplete reply");
        return MB_BAD;
    case EMBBADDATA: /* a length past 256 bytes: the header it was read from is in frame */
    case EMBBADCRC:
        mbrtu_describe_garbage(frame, 3, why, sizeof why);
        transport_hex(frame, 3, hex, sizeof hex);
        snprintf(t->err, sizeof t->err, "%s: %s", why, hex);
        return MB_BAD;
    default:
        snprintf(t->err, sizeof t->err, "read: %s", modbus_strerror(errno));
        return MB_LINK;
    }
}

static enum mb_status rtu_transact(struct transport *t, uint8_t unit, const uint8_t *pdu, size_t n, int timeout_ms,
                                   uint8_t *rsp_unit, uint8_t *rsp, size_t rsp_cap, size_t *rsp_len)
{
    struct rtu *r = (struct rtu *)t;
    uint8_t req[MBPDU_MAX + 1], frame[MODBUS_MAX_ADU_LENGTH];
    if (n > MBPDU_MAX || modbus_set_slave(r->mb, unit) < 0) {
        snprintf(t->err, sizeof t->err, "unit %u is not an RTU address (0..247)", unit);
        return MB_BAD;
    }
    req[0] = unit;
    memcpy(req + 1, pdu, n);
    wait_silence(r);
    modbus_flush(r->mb);
    int64_t deadline = clock_mono_ms() + timeout_ms;
    if (modbus_send_raw_request(r->mb, req, (int)n + 1) < 0) {
        snprintf(t->err, sizeof t->err, "write: %s", modbus_strerror(errno));
        return MB_LINK;
    }
    size_t len = 0;
    enum mb_status st = first_byte(modbus_get_socket(r->mb), deadline, t->err, sizeof t->err);
    if (st == MB_OK)
        st = receive(r, deadline, frame, &len);
    r->last_end_us = mono_us();
    if (st == MB_OK)
        st = transport_rtu_unwrap(frame, len, rsp_unit, rsp, rsp_cap, rsp_len, t->err, sizeof t->err);
    if (st == MB_BAD)
        rtu_flush(t);
    return st;
}

static void rtu_destroy(struct transport *t)
{
    free(t);
}

static const struct transport_ops rtu_ops = {
    .kind = "rtu",
    .connect = rtu_connect,
    .close = rtu_close,
    .transact = rtu_transact,
    .flush = rtu_flush,
    .destroy = rtu_destroy,
};

struct transport *transport_rtu_new(const struct bus_config *cfg)
{
    struct rtu *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->base.ops = &rtu_ops;
    r->cfg = cfg;
    r->silence_us = silence_us(cfg);
    snprintf(r->base.label, sizeof r->base.label, "%.120s %d %d%c%d", cfg->port, cfg->baud, cfg->data_bits, cfg->parity,
             cfg->stop_bits);
    return &r->base;
}
