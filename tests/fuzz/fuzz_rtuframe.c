/* fuzz_rtuframe: finding a reply in an RTU byte stream — on a serial line (no resync) and on a
 * DTU's socket (resync past noise, heartbeats and repeated registrations) — both by the pure
 * scanner and by the receive loop that reads the stream from a descriptor.
 * Input: flags (bit 0 resync), unit, function selector, heartbeat length, registration length,
 * then the heartbeat and registration literals, then the stream. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "mbpdu.h"
#include "transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int crc_ok(const uint8_t *f, size_t len)
{
    if (len < 4)
        return 0;
    uint16_t crc = mbrtu_crc16(f, len - 2);
    return f[len - 2] == (crc & 0xFF) && f[len - 1] == (crc >> 8);
}

static void check_scan(const uint8_t *stream, size_t n, uint8_t unit, uint8_t fc, int resync,
                       const struct mbrtu_skip *skip)
{
    uint8_t *buf = malloc(n ? n : 1); /* exact size: a read past the stream is caught */
    if (!buf)
        return;
    memcpy(buf, stream, n);
    size_t off = (size_t)-1, len = (size_t)-1, noise = (size_t)-1;
    enum mbrtu_scan s = mbrtu_scan_reply(buf, n, unit, fc, resync, skip, &off, &len, &noise);
    switch (s) {
    case MBRTU_FRAME:
        if (off > n || len > n - off || len > MBRTU_MAX || !crc_ok(buf + off, len) || (!resync && off != 0) ||
            noise > off)
            abort();
        break;
    case MBRTU_NEED_MORE:
        if (off > n || noise > off)
            abort();
        break;
    case MBRTU_GARBAGE:
        /* A DTU's stream is stepped over, never refused whole, but for the start of our own
         * reply with a length no frame has. A serial line is refused from its first byte. */
        if (off >= n || (!resync && off != 0))
            abort();
        if (resync && !(n - off >= 3 && buf[off] == unit && buf[off + 1] == fc &&
                        mbrtu_reply_len(buf + off, n - off) == MBRTU_LEN_TOO_LONG))
            abort();
        break;
    default:
        abort();
    }
    free(buf);
}

static void check_receive(const uint8_t *stream, size_t n, uint8_t unit, uint8_t fc, int resync,
                          const struct mbrtu_skip *skip)
{
    int p[2];
    if (pipe(p) < 0)
        return;
    /* At most a pipe's worth, written at once; the end of file then ends the receive. */
    if (n > 4096)
        n = 4096;
    if (n && write(p[1], stream, n) != (ssize_t)n) {
        close(p[0]);
        close(p[1]);
        return;
    }
    close(p[1]);
    uint8_t buf[MBRTU_MAX * 2];
    size_t have = 0, off = 0, len = 0;
    char err[256] = "";
    enum mb_status st = transport_rtu_receive(p[0], buf, sizeof buf, &have, unit, fc, clock_mono_ms() + 5000, resync,
                                              skip, &off, &len, err, sizeof err);
    close(p[0]);
    if (have > sizeof buf)
        abort();
    if (st == MB_OK) {
        if (off > have || len > have - off || len > MBRTU_MAX || !crc_ok(buf + off, len))
            abort();
    } else if (err[0] == '\0' || st == MB_EXCEPTION) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t fcs[] = {0x01, 0x02, 0x03, 0x04};
    if (size < 5)
        return 0;
    int resync = data[0] & 1;
    uint8_t unit = data[1];
    uint8_t fc = fcs[data[2] % 4];
    size_t hl = data[3] % 17, rl = data[4] % 33;
    const uint8_t *p = data + 5, *end = data + size;
    if ((size_t)(end - p) < hl + rl)
        return 0;
    struct mbrtu_skip skip = {{p, p + hl}, {hl, rl}};
    p += hl + rl;
    size_t n = (size_t)(end - p);
    check_scan(p, n, unit, fc, resync, resync ? &skip : NULL);
    check_receive(p, n, unit, fc, resync, resync ? &skip : NULL);
    return 0;
}
