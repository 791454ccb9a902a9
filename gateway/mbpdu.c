/* mbpdu: read requests and the judging of their replies, the same for RTU, TCP and DTUs; the
 * RTU frame (CRC, length from the function code, a reply found in a byte stream).
 * A reply is trusted only when its unit, function and byte count all match the request: a
 * meter answering for another unit, or a late reply to another request, must never be
 * stored as this one's values. */
#include "mbpdu.h"

#include <stdio.h>
#include <string.h>

#include "model.h"

const char *mb_status_name(enum mb_status s)
{
    switch (s) {
    case MB_OK:
        return "ok";
    case MB_TIMEOUT:
        return "timeout";
    case MB_BAD:
        return "bad reply";
    case MB_EXCEPTION:
        return "exception";
    case MB_LINK:
        return "link error";
    }
    return "?";
}

const char *mbpdu_exception_name(int code, char *buf, size_t n)
{
    static const char *const names[] = {NULL,
                                        "illegal function",
                                        "illegal data address",
                                        "illegal data value",
                                        "server device failure",
                                        "acknowledge",
                                        "server device busy",
                                        NULL,
                                        "memory parity error",
                                        NULL,
                                        "gateway path unavailable",
                                        "gateway target device failed to respond"};
    if (code > 0 && code < (int)(sizeof names / sizeof names[0]) && names[code])
        snprintf(buf, n, "exception %02d %s", code, names[code]);
    else
        snprintf(buf, n, "exception 0x%02x", (unsigned)code & 0xff);
    return buf;
}

uint8_t mbpdu_read_function(int table)
{
    switch (table) {
    case TABLE_COIL:
        return 0x01;
    case TABLE_DISCRETE:
        return 0x02;
    case TABLE_INPUT:
        return 0x04;
    case TABLE_HOLDING:
        return 0x03;
    }
    return 0;
}

int mbpdu_build_read(int table, uint16_t start, uint16_t count, uint8_t *pdu)
{
    uint8_t fc = mbpdu_read_function(table);
    /* Quantity 1..2000 bits (6.1, 6.2) or 1..125 registers (6.3, 6.4); the read must not run
     * past address 65535. */
    int max = fc == 0x01 || fc == 0x02 ? 2000 : 125;
    if (fc == 0 || count < 1 || count > max || (uint32_t)start + count > 65536u)
        return -1;
    pdu[0] = fc;
    pdu[1] = (uint8_t)(start >> 8);
    pdu[2] = (uint8_t)start;
    pdu[3] = (uint8_t)(count >> 8);
    pdu[4] = (uint8_t)count;
    return 5;
}

enum mb_status mbpdu_check_read(uint8_t req_unit, const uint8_t *req, uint8_t rsp_unit, const uint8_t *rsp, size_t len,
                                int *exception, char *why, size_t n)
{
    uint8_t fc = req[0];
    unsigned count = (unsigned)req[3] << 8 | req[4];
    *exception = 0;
    if (rsp_unit != req_unit) {
        snprintf(why, n, "reply from unit %u (expected %u)", rsp_unit, req_unit);
        return MB_BAD;
    }
    if (len < 2) {
        snprintf(why, n, "reply of %zu bytes", len);
        return MB_BAD;
    }
    if (rsp[0] == (fc | 0x80)) {
        if (len != 2) {
            snprintf(why, n, "exception reply of %zu bytes (expected 2)", len);
            return MB_BAD;
        }
        *exception = rsp[1];
        mbpdu_exception_name(rsp[1], why, n);
        return MB_EXCEPTION;
    }
    if (rsp[0] != fc) {
        snprintf(why, n, "function 0x%02x in the reply (expected 0x%02x)", rsp[0], fc);
        return MB_BAD;
    }
    unsigned want = fc == 0x01 || fc == 0x02 ? (count + 7) / 8 : count * 2;
    if (rsp[1] != want || len != 2 + want) {
        snprintf(why, n, "byte count %u in a reply of %zu bytes (expected %u for %u %s)", rsp[1], len, want, count,
                 fc == 0x01 || fc == 0x02 ? "bits" : "registers");
        return MB_BAD;
    }
    return MB_OK;
}

void mbpdu_unpack_regs(const uint8_t *rsp, uint16_t count, uint16_t *regs)
{
    for (uint16_t i = 0; i < count; i++)
        regs[i] = (uint16_t)(rsp[2 + 2 * i] << 8 | rsp[3 + 2 * i]);
}

void mbpdu_unpack_bits(const uint8_t *rsp, uint16_t count, uint8_t *bits)
{
    for (uint16_t i = 0; i < count; i++)
        bits[i] = (uint8_t)((rsp[2 + i / 8] >> (i % 8)) & 1);
}

uint16_t mbrtu_crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

size_t mbrtu_wrap(uint8_t unit, const uint8_t *pdu, size_t n, uint8_t *out)
{
    if (n > MBRTU_MAX - 3)
        n = MBRTU_MAX - 3;
    out[0] = unit;
    memcpy(out + 1, pdu, n);
    uint16_t crc = mbrtu_crc16(out, n + 1);
    out[n + 1] = (uint8_t)(crc & 0xFF);
    out[n + 2] = (uint8_t)(crc >> 8);
    return n + 3;
}

int mbrtu_reply_len(const uint8_t *buf, size_t n)
{
    if (n < 2)
        return 0;
    uint8_t fc = buf[1];
    if (fc & 0x80)
        return 5; /* address, function | 0x80, exception code, CRC */
    switch (fc) {
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x04:
        /* address, function, byte count, data, CRC: a byte count above 251 makes more than a
         * frame may hold (the largest honest one is 250, for 125 registers) */
        if (n < 3)
            return 0;
        return 5 + buf[2] > MBRTU_MAX ? MBRTU_LEN_TOO_LONG : 5 + buf[2];
    case 0x05:
    case 0x06:
    case 0x0F:
    case 0x10:
        return 8; /* address, function, address, value or quantity, CRC */
    }
    return MBRTU_LEN_UNKNOWN;
}

void mbrtu_describe_garbage(const uint8_t *buf, size_t n, char *why, size_t whylen)
{
    int l = mbrtu_reply_len(buf, n);
    if (l == MBRTU_LEN_TOO_LONG)
        snprintf(why, whylen, "reply frame of %d bytes (at most %d)", 5 + buf[2], MBRTU_MAX);
    else if (l == MBRTU_LEN_UNKNOWN)
        snprintf(why, whylen, "function 0x%02x is not a reply", buf[1]);
    else
        snprintf(why, whylen, "CRC error");
}

/* 1 when buf[0..n) is a whole literal (*len set), 0 when it is none, -1 when it is the start of one. */
static int match_literal(const uint8_t *buf, size_t n, const struct mbrtu_skip *skip, size_t *len)
{
    if (!skip)
        return 0;
    int partial = 0;
    for (int i = 0; i < 2; i++) {
        size_t l = skip->len[i];
        if (l == 0)
            continue;
        size_t m = n < l ? n : l;
        if (memcmp(buf, skip->lit[i], m) != 0)
            continue;
        if (m == l) {
            *len = l;
            return 1;
        }
        partial = 1;
    }
    return partial ? -1 : 0;
}

enum mbrtu_scan mbrtu_scan_reply(const uint8_t *buf, size_t n, uint8_t unit, uint8_t fc, int resync,
                                 const struct mbrtu_skip *skip, size_t *off, size_t *len, size_t *skipped_noise)
{
    size_t pos = 0;
    *skipped_noise = 0;
    while (pos < n) {
        const uint8_t *p = buf + pos;
        size_t left = n - pos, lit;
        int m = resync ? match_literal(p, left, skip, &lit) : 0;
        if (m > 0) {
            pos += lit;
            continue;
        }
        int l = mbrtu_reply_len(p, left);
        if (l > 0 && (size_t)l <= left) {
            uint16_t crc = mbrtu_crc16(p, (size_t)l - 2);
            if (p[l - 2] == (crc & 0xFF) && p[l - 1] == (crc >> 8)) {
                *off = pos;
                *len = (size_t)l;
                return MBRTU_FRAME;
            }
            if (!resync) {
                *off = pos;
                return MBRTU_GARBAGE;
            }
        } else if (l >= 0) {
            /* Incomplete. On a DTU's socket wait only for what can still be the reply (or a
             * heartbeat); anything else in front of it is noise. */
            int plausible = p[0] == unit && (left < 2 || p[1] == fc || p[1] == (fc | 0x80));
            if (!resync || plausible || m < 0) {
                *off = pos;
                return MBRTU_NEED_MORE;
            }
        } else if (!resync) {
            *off = pos;
            return MBRTU_GARBAGE;
        } else if (l == MBRTU_LEN_TOO_LONG && p[0] == unit && p[1] == fc) {
            /* Our reply's start with a length no frame has: stepping over it would only wait
             * for the timeout and let bytes inside it pass for a frame. */
            *off = pos;
            return MBRTU_GARBAGE;
        } else if (m < 0) {
            *off = pos;
            return MBRTU_NEED_MORE;
        }
        pos++;
        (*skipped_noise)++;
    }
    *off = pos;
    return MBRTU_NEED_MORE;
}
