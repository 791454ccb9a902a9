/* sim_frame: Modbus RTU and TCP framing — CRC-16, finding a request in a byte stream, wrapping a reply. */
#include "sim_frame.h"

#include <string.h>

uint16_t sim_crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

static int crc_ok(const uint8_t *buf, size_t len)
{
    uint16_t c = sim_crc16(buf, len - 2);
    return buf[len - 2] == (c & 0xFF) && buf[len - 1] == (c >> 8);
}

enum sim_rtu_scan sim_rtu_scan(const uint8_t *buf, size_t n, size_t *frame_len)
{
    size_t len;

    if (n < 4)
        return SIM_RTU_NEED_MORE;
    switch (buf[1]) {
    case 1: case 2: case 3: case 4: case 5: case 6:
        len = 8;
        break;
    case 15: case 16:
        if (n < 7)
            return SIM_RTU_NEED_MORE;
        len = 9 + (size_t)buf[6];
        break;
    default:
        /* A code we cannot size: the shortest CRC-valid prefix is the frame. A false
         * match needs a 1-in-65536 coincidence, and then a served unit id too. */
        for (size_t l = 4; l <= n && l <= 256; l++) {
            if (crc_ok(buf, l)) {
                *frame_len = l;
                return SIM_RTU_FRAME;
            }
        }
        return n >= 256 ? SIM_RTU_SKIP : SIM_RTU_NEED_MORE;
    }
    if (n < len)
        return SIM_RTU_NEED_MORE;
    if (!crc_ok(buf, len))
        return SIM_RTU_SKIP;
    *frame_len = len;
    return SIM_RTU_FRAME;
}

size_t sim_rtu_wrap(uint8_t unit, const uint8_t *pdu, size_t n, uint8_t *out)
{
    if (n > SIM_PDU_MAX)
        n = SIM_PDU_MAX;
    out[0] = unit;
    memcpy(out + 1, pdu, n);
    uint16_t c = sim_crc16(out, n + 1);
    out[n + 1] = (uint8_t)(c & 0xFF);
    out[n + 2] = (uint8_t)(c >> 8);
    return n + 3;
}

size_t sim_tcp_wrap(uint16_t tid, uint8_t unit, const uint8_t *pdu, size_t n, uint8_t *out)
{
    if (n > SIM_PDU_MAX)
        n = SIM_PDU_MAX;
    out[0] = (uint8_t)(tid >> 8);
    out[1] = (uint8_t)tid;
    out[2] = 0;
    out[3] = 0;
    out[4] = (uint8_t)((n + 1) >> 8);
    out[5] = (uint8_t)(n + 1);
    out[6] = unit;
    memcpy(out + 7, pdu, n);
    return n + 7;
}

int sim_tcp_adu_len(const uint8_t *buf, size_t n)
{
    if (n < 7)
        return 0;
    if (buf[2] != 0 || buf[3] != 0)
        return -1;
    int len = buf[4] << 8 | buf[5];
    if (len < 2 || len > 254)
        return -1;
    return 6 + len;
}
