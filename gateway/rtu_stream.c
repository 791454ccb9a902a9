/* rtu_stream: reading one Modbus RTU reply out of a byte stream with our own framer — for DTUs,
 * whose TCP stream carries heartbeats and noise between frames and has no backend in libmodbus.
 * The frame rules themselves (lengths, CRC, resync) are mbrtu_scan_reply's, in mbpdu.c. */
#include "transport.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

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
            if (skip)
                snprintf(err, errlen, "%s", why); /* the bytes may hold a registration's secret */
            else {
                transport_hex(buf + o, *have - o, hex, sizeof hex);
                snprintf(err, errlen, "%s: %s", why, hex);
            }
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
            /* What is left may be the start of a repeated registration packet, which carries the
             * DTU's secret: shown only when no such packet is known on this stream. */
            if (skip)
                hex[0] = '\0';
            else
                transport_hex(buf, *have, hex, sizeof hex);
            snprintf(err, errlen, "incomplete reply (%zu bytes%s%s%s)", *have + noise, *have && hex[0] ? ": " : "", hex,
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
