/* fuzz_mbreply: a Modbus read reply judged against the request it answers, then unpacked. The
 * input is the request (unit, table, start, quantity: 6 bytes) and the reply (unit, then its
 * PDU). Whatever is accepted must be exactly as long as the request asked for. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mbpdu.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 7 || size > 7 + MBPDU_MAX)
        return 0;
    uint8_t req_unit = data[0];
    int table = data[1] % 5; /* TABLE_DERIVED included: no function code, refused */
    uint16_t start = (uint16_t)(data[2] << 8 | data[3]);
    uint16_t count = (uint16_t)(data[4] << 8 | data[5]);
    uint8_t rsp_unit = data[6];
    uint8_t req[5];
    int rl = mbpdu_build_read(table, start, count, req);
    if (rl < 0) {
        int bits = table == TABLE_COIL || table == TABLE_DISCRETE;
        if (table <= TABLE_HOLDING && count >= 1 && count <= (bits ? 2000 : 125) && (uint32_t)start + count <= 65536u)
            abort(); /* a read the spec allows was refused */
        return 0;
    }
    if (rl != 5 || req[0] != mbpdu_read_function(table))
        abort();
    size_t len = size - 7;
    uint8_t *rsp = malloc(len ? len : 1); /* exact size: a read past the reply is caught */
    if (!rsp)
        return 0;
    memcpy(rsp, data + 7, len);
    int exception = -1;
    char why[160];
    why[0] = '\0';
    enum mb_status st = mbpdu_check_read(req_unit, req, rsp_unit, rsp, len, &exception, why, sizeof why);
    int bits = req[0] == 0x01 || req[0] == 0x02;
    size_t want = bits ? (count + 7u) / 8u : count * 2u;
    switch (st) {
    case MB_OK:
        if (rsp_unit != req_unit || len != 2 + want || rsp[0] != req[0] || rsp[1] != want || exception != 0)
            abort();
        if (bits) {
            uint8_t *out = malloc(count);
            if (out) {
                mbpdu_unpack_bits(rsp, count, out);
                for (uint16_t i = 0; i < count; i++)
                    if (out[i] > 1)
                        abort();
                free(out);
            }
        } else {
            uint16_t *out = malloc(count * sizeof *out);
            if (out) {
                mbpdu_unpack_regs(rsp, count, out);
                free(out);
            }
        }
        break;
    case MB_EXCEPTION:
        if (len != 2 || rsp[0] != (req[0] | 0x80) || exception != rsp[1] || why[0] == '\0')
            abort();
        break;
    case MB_BAD:
        if (why[0] == '\0' || exception != 0)
            abort();
        break;
    default:
        abort(); /* judging a reply never times out or fails a link */
    }
    free(rsp);
    return 0;
}
