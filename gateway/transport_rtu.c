/* transport_rtu: Modbus RTU on a serial port (RS-485 through a UART or a USB adapter), framed
 * here rather than by libmodbus so the serial line and a DTU's socket share one framer.
 *
 * Invariants: frames are separated by at least 3.5 character times of silence (Modbus over
 * Serial Line v1.02, 2.5.1.1), counted from the end of the last byte we saw on the line; input
 * left over from an earlier exchange is discarded before each request, so a late reply can
 * never answer the next one. */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/serial.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

struct rtu {
    struct transport base;
    const struct bus_config *cfg;
    int fd;
    int64_t silence_us;
    int64_t last_end_us;
    uint8_t buf[MBRTU_MAX * 2];
    size_t have;
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

static int baud_speed(int baud, speed_t *out)
{
    static const struct {
        int baud;
        speed_t s;
    } table[] = {{1200, B1200},   {2400, B2400},   {4800, B4800},   {9600, B9600},
                 {19200, B19200}, {38400, B38400}, {57600, B57600}, {115200, B115200}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (table[i].baud == baud) {
            *out = table[i].s;
            return 0;
        }
    }
    return -1;
}

static int rtu_connect(struct transport *t)
{
    struct rtu *r = (struct rtu *)t;
    const struct bus_config *c = r->cfg;
    speed_t sp;
    struct termios tio;
    if (baud_speed(c->baud, &sp) < 0) {
        snprintf(t->err, sizeof t->err, "%d baud is not supported", c->baud);
        return -1;
    }
    r->fd = open(c->port, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (r->fd < 0) {
        snprintf(t->err, sizeof t->err, "cannot open %.150s: %s", c->port, strerror(errno));
        return -1;
    }
    if (tcgetattr(r->fd, &tio) < 0) {
        snprintf(t->err, sizeof t->err, "%.150s is not a serial port: %s", c->port, strerror(errno));
        goto fail;
    }
    cfmakeraw(&tio);
    cfsetispeed(&tio, sp);
    cfsetospeed(&tio, sp);
    tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
    tio.c_cflag |= CLOCAL | CREAD | (c->data_bits == 7 ? CS7 : CS8);
    if (c->parity != 'N')
        tio.c_cflag |= PARENB | (c->parity == 'O' ? PARODD : 0);
    if (c->stop_bits == 2)
        tio.c_cflag |= CSTOPB;
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    if (tcsetattr(r->fd, TCSANOW, &tio) < 0) {
        snprintf(t->err, sizeof t->err, "cannot set %.120s to %d %d%c%d: %s", c->port, c->baud, c->data_bits, c->parity,
                 c->stop_bits, strerror(errno));
        goto fail;
    }
    if (c->rs485) {
        /* The driver then drives the transmitter's enable line (RTS) around each frame. */
        struct serial_rs485 rs;
        memset(&rs, 0, sizeof rs);
        rs.flags = SER_RS485_ENABLED | SER_RS485_RTS_ON_SEND;
        if (ioctl(r->fd, TIOCSRS485, &rs) < 0)
            log_warn("bus %s: %s does not support RS-485 mode (%s); continuing in RS-232 mode", c->id, c->port,
                     strerror(errno));
    }
    tcflush(r->fd, TCIOFLUSH);
    r->have = 0;
    r->last_end_us = mono_us();
    return 0;
fail:
    close(r->fd);
    r->fd = -1;
    return -1;
}

static void rtu_close(struct transport *t)
{
    struct rtu *r = (struct rtu *)t;
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

/* tcflush drops the driver's queue in one call, however fast the device sends: bounded. */
static int rtu_flush(struct transport *t)
{
    struct rtu *r = (struct rtu *)t;
    r->have = 0;
    if (r->fd >= 0)
        tcflush(r->fd, TCIFLUSH);
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

/* Writes all of buf before deadline_ms. 0, or -1 with err set. */
static int write_all(int fd, const uint8_t *buf, size_t n, int64_t deadline_ms, char *err, size_t errlen)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, buf + done, n - done);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN) {
            snprintf(err, errlen, "write: %s", strerror(errno));
            return -1;
        }
        int64_t left = deadline_ms - clock_mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            snprintf(err, errlen, "could not send the request within the timeout");
            return -1;
        }
    }
    return 0;
}

static void hex_bytes(const uint8_t *b, size_t n, char *out, size_t outlen)
{
    size_t k = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && i < 12 && k + 4 < outlen; i++)
        k += (size_t)snprintf(out + k, outlen - k, "%s%02x", i ? " " : "", b[i]);
    if (n > 12 && k + 4 < outlen)
        snprintf(out + k, outlen - k, " ...");
}

enum mb_status transport_rtu_receive(int fd, uint8_t *buf, size_t cap, size_t *have, uint8_t unit, uint8_t fc,
                                     int64_t deadline_ms, int resync, const struct mbrtu_skip *skip, size_t *off,
                                     size_t *len, char *err, size_t errlen)
{
    size_t noise = 0;
    char hex[64], why[64];
    if (cap < MBRTU_MAX || *have > cap) {
        snprintf(err, errlen, "receive buffer of %zu bytes (%zu used) cannot hold a frame", cap, *have);
        return MB_BAD;
    }
    for (;;) {
        size_t o = 0, l = 0, skipped = 0;
        enum mbrtu_scan s = mbrtu_scan_reply(buf, *have, unit, fc, resync, skip, &o, &l, &skipped);
        if (s == MBRTU_FRAME) {
            *off = o;
            *len = l;
            return MB_OK;
        }
        if (s == MBRTU_GARBAGE) {
            mbrtu_describe_garbage(buf + o, *have - o, why, sizeof why);
            hex_bytes(buf + o, *have - o, hex, sizeof hex);
            snprintf(err, errlen, "%s: %s", why, hex);
            return MB_BAD;
        }
        /* Heartbeats and noise in front are dealt with: keep only what may be the reply. */
        noise += skipped;
        memmove(buf, buf + o, *have - o);
        *have -= o;
        if (*have == cap) {
            snprintf(err, errlen, "%zu bytes without a frame", *have);
            return MB_BAD;
        }
        int64_t left = deadline_ms - clock_mono_ms();
        if (left <= 0) {
            if (*have == 0 && noise == 0) {
                snprintf(err, errlen, "no reply");
                return MB_TIMEOUT;
            }
            hex_bytes(buf, *have, hex, sizeof hex);
            snprintf(err, errlen, "incomplete reply (%zu bytes%s%s%s)", *have + noise, *have ? ": " : "", hex,
                     noise ? ", with noise before it" : "");
            return MB_BAD;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return MB_LINK;
        }
        if (pr <= 0)
            continue;
        ssize_t r = read(fd, buf + *have, cap - *have);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0) {
            snprintf(err, errlen, "read: %s", strerror(errno));
            return MB_LINK;
        }
        if (r == 0) {
            snprintf(err, errlen, "connection closed by the other end");
            return MB_LINK;
        }
        *have += (size_t)r;
    }
}

static enum mb_status rtu_transact(struct transport *t, uint8_t unit, const uint8_t *pdu, size_t n, int timeout_ms,
                                   uint8_t *rsp_unit, uint8_t *rsp, size_t rsp_cap, size_t *rsp_len)
{
    struct rtu *r = (struct rtu *)t;
    uint8_t frame[MBRTU_MAX];
    size_t flen = mbrtu_wrap(unit, pdu, n, frame);
    wait_silence(r);
    rtu_flush(t);
    int64_t deadline = clock_mono_ms() + timeout_ms;
    if (write_all(r->fd, frame, flen, deadline, t->err, sizeof t->err) < 0)
        return MB_LINK;
    size_t off = 0, len = 0;
    enum mb_status st = transport_rtu_receive(r->fd, r->buf, sizeof r->buf, &r->have, unit, pdu[0], deadline, 0, NULL,
                                              &off, &len, t->err, sizeof t->err);
    r->last_end_us = mono_us();
    if (st == MB_OK) {
        st = transport_rtu_unwrap(r->buf + off, len, rsp_unit, rsp, rsp_cap, rsp_len, t->err, sizeof t->err);
        r->have = 0;
    }
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
    r->fd = -1;
    r->silence_us = silence_us(cfg);
    snprintf(r->base.label, sizeof r->base.label, "%.120s %d %d%c%d", cfg->port, cfg->baud, cfg->data_bits, cfg->parity,
             cfg->stop_bits);
    return &r->base;
}
