/* test_sim_encode: the simulator's encoder and framing against vectors worked out by hand. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "sim_encode.h"
#include "sim_frame.h"

static int regs_eq(const uint16_t *got, const uint16_t *want, int n)
{
    return memcmp(got, want, (size_t)n * sizeof *got) == 0;
}

#define CHECK_ENC(type, order, raw, ...)                                                   \
    do {                                                                                   \
        const uint16_t want_[] = { __VA_ARGS__ };                                          \
        int nw_ = (int)(sizeof want_ / sizeof want_[0]);                                   \
        uint16_t got_[4] = { 0 };                                                          \
        int n_ = sim_encode_raw(type, order, raw, got_);                                   \
        CHECK_MSG(n_ == nw_ && regs_eq(got_, want_, nw_),                                  \
                  "%s %s: got %d words %04X %04X %04X %04X", #type, #order, n_, got_[0],   \
                  got_[1], got_[2], got_[3]);                                              \
    } while (0)

static void test_float32(void)
{
    /* 123.456 = 1111011.01110100101111000110101... b = 1.11101101110100101111000110101 b x 2^6.
     * sign 0, exponent 127 + 6 = 133 = 1000 0101, fraction (23 bits, rounded)
     * 111 0110 1110 1001 0111 1001:
     * 0 10000101 11101101110100101111001 = 0100 0010 1111 0110 1110 1001 0111 1001
     * = 0x42F6E979, so A=42 B=F6 C=E9 D=79. */
    CHECK_ENC(SIM_FLOAT32, SIM_ABCD, 123.456, 0x42F6, 0xE979);
    CHECK_ENC(SIM_FLOAT32, SIM_CDAB, 123.456, 0xE979, 0x42F6);
    CHECK_ENC(SIM_FLOAT32, SIM_BADC, 123.456, 0xF642, 0x79E9);
    CHECK_ENC(SIM_FLOAT32, SIM_DCBA, 123.456, 0x79E9, 0xF642);
    /* -1.5 = -1.1 b x 2^0: sign 1, exponent 127 = 0111 1111, fraction 100...0
     * = 1011 1111 1100 0000 ... = 0xBFC00000. */
    CHECK_ENC(SIM_FLOAT32, SIM_ABCD, -1.5, 0xBFC0, 0x0000);
    CHECK_ENC(SIM_FLOAT32, SIM_CDAB, -1.5, 0x0000, 0xBFC0);
    CHECK_ENC(SIM_FLOAT32, SIM_DCBA, -1.5, 0x0000, 0xC0BF);
    /* Beyond the largest float (about 3.4028235e38) there is no honest encoding. */
    uint16_t r[4];
    CHECK(sim_encode_raw(SIM_FLOAT32, SIM_ABCD, 1e39, r) == -1);
}

static void test_float64(void)
{
    /* 1.0: sign 0, exponent 1023 = 011 1111 1111, fraction 0 -> 0x3FF0 0000 0000 0000. */
    CHECK_ENC(SIM_FLOAT64, SIM_ABCD, 1.0, 0x3FF0, 0x0000, 0x0000, 0x0000);
    /* 64-bit CDAB reverses the words (GH EF CD AB); DCBA reverses every byte. */
    CHECK_ENC(SIM_FLOAT64, SIM_CDAB, 1.0, 0x0000, 0x0000, 0x0000, 0x3FF0);
    CHECK_ENC(SIM_FLOAT64, SIM_BADC, 1.0, 0xF03F, 0x0000, 0x0000, 0x0000);
    CHECK_ENC(SIM_FLOAT64, SIM_DCBA, 1.0, 0x0000, 0x0000, 0x0000, 0xF03F);
    /* -2.5 = -1.01 b x 2^1: sign 1, exponent 1024 = 100 0000 0000, fraction 0100...
     * = 1100 0000 0000 0100 0000... = 0xC004 0000 0000 0000. */
    CHECK_ENC(SIM_FLOAT64, SIM_ABCD, -2.5, 0xC004, 0x0000, 0x0000, 0x0000);
}

static void test_integers(void)
{
    uint16_t r[4];
    /* int16 -2: two's complement of 0x0002 = 0xFFFD + 1 = 0xFFFE; BADC swaps the bytes. */
    CHECK_ENC(SIM_INT16, SIM_ABCD, -2.0, 0xFFFE);
    CHECK_ENC(SIM_INT16, SIM_BADC, -2.0, 0xFEFF);
    CHECK_ENC(SIM_INT16, SIM_CDAB, -2.0, 0xFFFE);
    CHECK_ENC(SIM_UINT16, SIM_DCBA, 0x1234, 0x3412);
    CHECK_ENC(SIM_UINT16, SIM_ABCD, 65535.0, 0xFFFF);
    CHECK(sim_encode_raw(SIM_UINT16, SIM_ABCD, 65536.0, r) == -1);
    CHECK(sim_encode_raw(SIM_UINT16, SIM_ABCD, -1.0, r) == -1);
    CHECK(sim_encode_raw(SIM_INT16, SIM_ABCD, 32768.0, r) == -1);
    CHECK_ENC(SIM_INT16, SIM_ABCD, -32768.0, 0x8000);
    CHECK(sim_encode_raw(SIM_INT16, SIM_ABCD, NAN, r) == -1);
    /* Rounding half away from zero: 819.9999 -> 820 (0x0334), 2.5 -> 3, -0.5 -> -1. */
    CHECK_ENC(SIM_UINT16, SIM_ABCD, 819.9999, 0x0334);
    CHECK_ENC(SIM_INT16, SIM_ABCD, 2.5, 0x0003);
    CHECK_ENC(SIM_INT16, SIM_ABCD, -0.5, 0xFFFF);

    /* 305419896 = 0x12345678. */
    CHECK_ENC(SIM_UINT32, SIM_ABCD, 305419896.0, 0x1234, 0x5678);
    CHECK_ENC(SIM_UINT32, SIM_CDAB, 305419896.0, 0x5678, 0x1234);
    CHECK_ENC(SIM_UINT32, SIM_BADC, 305419896.0, 0x3412, 0x7856);
    CHECK_ENC(SIM_UINT32, SIM_DCBA, 305419896.0, 0x7856, 0x3412);
    /* -100000: 100000 = 0x000186A0, inverted 0xFFFE795F, plus one 0xFFFE7960. */
    CHECK_ENC(SIM_INT32, SIM_ABCD, -100000.0, 0xFFFE, 0x7960);
    CHECK_ENC(SIM_INT32, SIM_CDAB, -100000.0, 0x7960, 0xFFFE);
    CHECK(sim_encode_raw(SIM_UINT32, SIM_ABCD, 4294967296.0, r) == -1);

    /* 0x0102030405060700 = 72623859790382848, exact in a double (49 significant bits). */
    CHECK_ENC(SIM_UINT64, SIM_ABCD, 72623859790382848.0, 0x0102, 0x0304, 0x0506, 0x0700);
    CHECK_ENC(SIM_UINT64, SIM_CDAB, 72623859790382848.0, 0x0700, 0x0506, 0x0304, 0x0102);
    CHECK_ENC(SIM_UINT64, SIM_BADC, 72623859790382848.0, 0x0201, 0x0403, 0x0605, 0x0007);
    CHECK_ENC(SIM_UINT64, SIM_DCBA, 72623859790382848.0, 0x0007, 0x0605, 0x0403, 0x0201);
    /* int64 -2 = 0xFFFF FFFF FFFF FFFE. */
    CHECK_ENC(SIM_INT64, SIM_ABCD, -2.0, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE);
    CHECK_ENC(SIM_INT64, SIM_CDAB, -2.0, 0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF);
    CHECK(sim_encode_raw(SIM_UINT64, SIM_ABCD, -1.0, r) == -1);
    CHECK(sim_encode_raw(SIM_INT64, SIM_ABCD, 9223372036854775808.0, r) == -1);

    CHECK_ENC(SIM_BOOL, SIM_ABCD, 1.0, 0x0001);
    CHECK_ENC(SIM_BOOL, SIM_ABCD, 0.0, 0x0000);
}

static void test_fields(void)
{
    /* 4-bit field at bit 4 of 0x1234 set to 0xA: (0x1234 & ~0x00F0) | 0x00A0 = 0x12A4. */
    uint16_t reg = 0x1234;
    CHECK(sim_encode_field(SIM_UINT16, SIM_ABCD, 4, 4, 10.0, &reg) == 0);
    CHECK(reg == 0x12A4);
    /* Same field on a byte-swapped device: the wire holds 0x3412, the device's word is
     * 0x1234 -> 0x12A4 -> back on the wire as 0xA412. */
    reg = 0x3412;
    CHECK(sim_encode_field(SIM_UINT16, SIM_BADC, 4, 4, 10.0, &reg) == 0);
    CHECK(reg == 0xA412);
    /* 16 does not fit 4 bits; the register is left alone. */
    reg = 0x1234;
    CHECK(sim_encode_field(SIM_UINT16, SIM_ABCD, 4, 4, 16.0, &reg) == -1);
    CHECK(reg == 0x1234);
    /* Signed nibble -1 = 1111 b at bits 8..11 of 0: 0x0F00; -9 does not fit (-8..7). */
    reg = 0;
    CHECK(sim_encode_field(SIM_INT16, SIM_ABCD, 8, 4, -1.0, &reg) == 0);
    CHECK(reg == 0x0F00);
    CHECK(sim_encode_field(SIM_INT16, SIM_ABCD, 8, 4, -9.0, &reg) == -1);
    /* A flag: bit 15 set then cleared, other bits kept. */
    reg = 0x0001;
    CHECK(sim_encode_field(SIM_BOOL, SIM_ABCD, 15, 1, 1.0, &reg) == 0);
    CHECK(reg == 0x8001);
    CHECK(sim_encode_field(SIM_BOOL, SIM_ABCD, 15, 1, 0.0, &reg) == 0);
    CHECK(reg == 0x0001);
    CHECK(sim_encode_field(SIM_UINT16, SIM_ABCD, 14, 4, 1.0, &reg) == -1);
}

static void test_unscale(void)
{
    /* raw = (value * 10^decimals - offset) / scale */
    CHECK_NEAR(sim_encode_unscale(0.82, 0.01, 0.0, 0.0), 82.0, 1e-9);
    CHECK_NEAR(sim_encode_unscale(1.3, 1.0, 0.0, 2.0), 130.0, 1e-9);
    CHECK_NEAR(sim_encode_unscale(20.0, 0.5, -40.0, 0.0), 120.0, 1e-9);
    CHECK_NEAR(sim_encode_unscale(1.25, 1.0, 0.0, 3.0), 1250.0, 1e-9);
}

static int crc_bytes_are(const uint8_t *f, size_t n, uint8_t lo, uint8_t hi)
{
    uint16_t c = sim_crc16(f, n);
    return (c & 0xFF) == lo && (c >> 8) == hi;
}

static void test_crc(void)
{
    /* One byte 0x01, by hand: 0xFFFF ^ 0x01 = 0xFFFE; then eight shifts, XOR 0xA001 when
     * the bit shifted out is 1: 7FFF, 9FFE, 4FFF, 87FE, 43FF, 81FE, 40FF, 807E. */
    const uint8_t one[] = { 0x01 };
    CHECK(sim_crc16(one, 1) == 0x807E);
    /* Read 10 holding registers at 0 from unit 1; CRC checked bit by bit with a separate
     * script: C5 CD, low byte first. */
    const uint8_t rd[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x0A };
    CHECK(crc_bytes_are(rd, sizeof rd, 0xC5, 0xCD));
    /* The classic example of unit 0x11 reading 3 registers at 0x6B ends in 76 87. */
    const uint8_t rd2[] = { 0x11, 0x03, 0x00, 0x6B, 0x00, 0x03 };
    CHECK(crc_bytes_are(rd2, sizeof rd2, 0x76, 0x87));

    uint8_t out[SIM_ADU_MAX];
    const uint8_t pdu[] = { 0x03, 0x00, 0x00, 0x00, 0x0A };
    const uint8_t want[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD };
    CHECK(sim_rtu_wrap(1, pdu, sizeof pdu, out) == sizeof want);
    CHECK(memcmp(out, want, sizeof want) == 0);
}

static void test_rtu_scan(void)
{
    size_t len = 0;
    const uint8_t rd[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD, 0x11 };
    CHECK(sim_rtu_scan(rd, 9, &len) == SIM_RTU_FRAME && len == 8);
    CHECK(sim_rtu_scan(rd, 7, &len) == SIM_RTU_NEED_MORE);
    uint8_t bad[8];
    memcpy(bad, rd, 8);
    bad[6] ^= 1;
    CHECK(sim_rtu_scan(bad, 8, &len) == SIM_RTU_SKIP);
    /* FC 16: 7 header bytes + byte count 4 + CRC = 13 bytes; CRC 92 30 from the script. */
    const uint8_t wr[] = { 0x01, 0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02,
                           0x92, 0x30 };
    CHECK(sim_rtu_scan(wr, 6, &len) == SIM_RTU_NEED_MORE);
    CHECK(sim_rtu_scan(wr, 12, &len) == SIM_RTU_NEED_MORE);
    CHECK(sim_rtu_scan(wr, 13, &len) == SIM_RTU_FRAME && len == 13);
    /* FC 0x11 (report server id) has no length we know: found by its CRC C0 2C. */
    const uint8_t id[] = { 0x01, 0x11, 0xC0, 0x2C };
    CHECK(sim_rtu_scan(id, 4, &len) == SIM_RTU_FRAME && len == 4);
    CHECK(sim_rtu_scan(id, 3, &len) == SIM_RTU_NEED_MORE);
}

static void test_tcp(void)
{
    /* MBAP: transaction 0x0001, protocol 0, length 6 (unit + 5 PDU bytes), unit 1. */
    const uint8_t req[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00,
                            0x0A };
    CHECK(sim_tcp_adu_len(req, 6) == 0);
    CHECK(sim_tcp_adu_len(req, sizeof req) == 12);
    uint8_t bad[12];
    memcpy(bad, req, sizeof bad);
    bad[3] = 1;
    CHECK(sim_tcp_adu_len(bad, sizeof bad) == -1);
    /* Reply to it: 2 registers 0x42F6 0xE979 -> PDU 03 04 42 F6 E9 79, MBAP length 7. */
    const uint8_t pdu[] = { 0x03, 0x04, 0x42, 0xF6, 0xE9, 0x79 };
    const uint8_t want[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x01, 0x03, 0x04, 0x42, 0xF6,
                             0xE9, 0x79 };
    uint8_t out[SIM_ADU_MAX];
    CHECK(sim_tcp_wrap(1, 1, pdu, sizeof pdu, out) == sizeof want);
    CHECK(memcmp(out, want, sizeof want) == 0);
}

int main(void)
{
    test_float32();
    test_float64();
    test_integers();
    test_fields();
    test_unscale();
    test_crc();
    test_rtu_scan();
    test_tcp();
    return check_report();
}
