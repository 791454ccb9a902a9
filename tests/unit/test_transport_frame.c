/* test_transport_frame: the RTU framer and the reply judge shared by every transport — CRC
 * vectors, frame length from the function code, heartbeats and noise before a reply on a DTU's
 * socket, partial frames, and replies from the wrong unit, with the wrong function or byte
 * count, and frames longer than the protocol allows (byte counts 252..255, their CRCs from a
 * reference worked apart from the code under test). Every vector is worked by hand in the
 * comment beside it. */
#include "check.h"
#include "mbpdu.h"
#include "model.h"
#include "wire.h"

static void test_crc(void)
{
    /* CRC-16/MODBUS of the single byte 0x01, by hand: 0xFFFF ^ 0x01 = 0xFFFE, then eight
     * steps (shift right; xor 0xA001 when the bit shifted out was 1):
     * FFFE -> 7FFF -> 9FFE (3FFF^A001) -> 4FFF -> 87FE (27FF^A001) -> 43FF -> 81FE (21FF^A001)
     * -> 40FF -> 807E (207F^A001). */
    CHECK(mbrtu_crc16((const uint8_t *)"\x01", 1) == 0x807E);
    /* The catalogue check value of CRC-16/MODBUS (over the ASCII "123456789") is 0x4B37. */
    CHECK(mbrtu_crc16((const uint8_t *)"123456789", 9) == 0x4B37);
    /* Read one holding register at 0 from unit 1: 01 03 00 00 00 01, sent with 84 0A (the CRC
     * 0x0A84, low byte first) - the frame printed in countless meter manuals. */
    uint8_t pdu[5], frame[MBRTU_MAX];
    CHECK(mbpdu_build_read(TABLE_HOLDING, 0, 1, pdu) == 5);
    CHECK(mbrtu_wrap(1, pdu, 5, frame) == 8);
    static const uint8_t want[8] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A};
    CHECK(memcmp(frame, want, 8) == 0);
    /* The exception example of the spec: 01 83 02 C0 F1 (illegal data address). */
    CHECK(mbrtu_crc16((const uint8_t *)"\x01\x83\x02", 3) == 0xF1C0);
}

static void test_reply_len(void)
{
    /* 01 03 04 ...: address, function, byte count 4, four data bytes, CRC = 9 */
    CHECK(mbrtu_reply_len((const uint8_t *)"\x01\x03\x04", 3) == 9);
    CHECK(mbrtu_reply_len((const uint8_t *)"\x01\x01\x02", 3) == 7);
    CHECK(mbrtu_reply_len((const uint8_t *)"\x01\x03", 2) == 0);   /* byte count not here yet */
    CHECK(mbrtu_reply_len((const uint8_t *)"\x01", 1) == 0);
    CHECK(mbrtu_reply_len((const uint8_t *)"\x01\x83", 2) == 5);   /* exception: address, fc, code, CRC */
    CHECK(mbrtu_reply_len((const uint8_t *)"\x01\x06", 2) == 8);   /* write echo */
    CHECK(mbrtu_reply_len((const uint8_t *)"\x01\x10", 2) == 8);
    CHECK(mbrtu_reply_len((const uint8_t *)"\x01\x2B", 2) == -1);  /* not a reply to anything we send */
    CHECK(mbrtu_reply_len((const uint8_t *)"\x01\x00", 2) == -1);
}

/* Reply of unit 1 to a read of one register, value 0x0021: 01 03 02 00 21, CRC 0x5C78 (worked
 * like the above, and as printed by the usual Modbus calculators) on the wire as 78 5C. */
static const uint8_t reply[7] = {0x01, 0x03, 0x02, 0x00, 0x21, 0x78, 0x5C};

static void test_scan_serial(void)
{
    size_t off = 99, len = 0, noise = 0;
    CHECK(mbrtu_scan_reply(reply, 7, 1, 3, 0, NULL, &off, &len, &noise) == MBRTU_FRAME && off == 0 && len == 7);
    /* every partial frame waits for more */
    for (size_t n = 0; n < 7; n++)
        CHECK(mbrtu_scan_reply(reply, n, 1, 3, 0, NULL, &off, &len, &noise) == MBRTU_NEED_MORE);
    uint8_t bad[7];
    memcpy(bad, reply, 7);
    bad[6] ^= 0x5A;
    CHECK(mbrtu_scan_reply(bad, 7, 1, 3, 0, NULL, &off, &len, &noise) == MBRTU_GARBAGE);
    /* a function no reply carries: garbage at once, no waiting for the timeout */
    CHECK(mbrtu_scan_reply((const uint8_t *)"\x01\x2B\x00", 3, 1, 3, 0, NULL, &off, &len, &noise) == MBRTU_GARBAGE);
    /* a well-framed reply from unit 2 is a frame: the judge, not the framer, refuses it */
    /* 02 03 02 00 21 with its CRC (from mbrtu_crc16, whose vectors are checked above) */
    uint8_t o2[7] = {0x02, 0x03, 0x02, 0x00, 0x21, 0, 0};
    uint16_t c = mbrtu_crc16(o2, 5);
    o2[5] = (uint8_t)(c & 0xFF);
    o2[6] = (uint8_t)(c >> 8);
    CHECK(mbrtu_scan_reply(o2, 7, 1, 3, 0, NULL, &off, &len, &noise) == MBRTU_FRAME && len == 7);
}

static void test_scan_dtu(void)
{
    const uint8_t *hb = (const uint8_t *)"HB";
    const uint8_t *reg = (const uint8_t *)"868120034567891";
    struct mbrtu_skip skip = {{hb, reg}, {2, 15}};
    uint8_t buf[64];
    size_t off = 0, len = 0, noise = 0;
    /* a heartbeat before the reply */
    memcpy(buf, "HB", 2);
    memcpy(buf + 2, reply, 7);
    CHECK(mbrtu_scan_reply(buf, 9, 1, 3, 1, &skip, &off, &len, &noise) == MBRTU_FRAME && off == 2 && len == 7 &&
          noise == 0);
    /* two heartbeats and the repeated registration before it */
    memcpy(buf, "HBHB868120034567891", 19);
    memcpy(buf + 19, reply, 7);
    CHECK(mbrtu_scan_reply(buf, 26, 1, 3, 1, &skip, &off, &len, &noise) == MBRTU_FRAME && off == 19 && noise == 0);
    /* half a heartbeat: wait for the rest */
    CHECK(mbrtu_scan_reply((const uint8_t *)"H", 1, 1, 3, 1, &skip, &off, &len, &noise) == MBRTU_NEED_MORE);
    /* a heartbeat nobody configured ("www.usr.cn", a common default) is stepped over by its shape:
     * 'w' (0x77) is not unit 1, so it cannot start the reply */
    memcpy(buf, "www.usr.cn", 10);
    memcpy(buf + 10, reply, 7);
    CHECK(mbrtu_scan_reply(buf, 17, 1, 3, 1, &skip, &off, &len, &noise) == MBRTU_FRAME && off == 10 && noise == 10);
    /* the heartbeat alone: nothing yet, its bytes may be dropped */
    CHECK(mbrtu_scan_reply(buf, 10, 1, 3, 1, &skip, &off, &len, &noise) == MBRTU_NEED_MORE && off == 10);
    /* a heartbeat, then the first half of the reply: wait, keeping the reply's start */
    memcpy(buf, "HB", 2);
    memcpy(buf + 2, reply, 4);
    CHECK(mbrtu_scan_reply(buf, 6, 1, 3, 1, &skip, &off, &len, &noise) == MBRTU_NEED_MORE && off == 2);
    /* a broken frame (bad CRC) then the good one: resynchronised on the good one */
    memcpy(buf, reply, 7);
    buf[6] ^= 0x5A;
    memcpy(buf + 7, reply, 7);
    CHECK(mbrtu_scan_reply(buf, 14, 1, 3, 1, &skip, &off, &len, &noise) == MBRTU_FRAME && off == 7);
    /* an exception reply is a reply */
    CHECK(mbrtu_scan_reply((const uint8_t *)"HB\x01\x83\x02\xC0\xF1", 7, 1, 3, 1, &skip, &off, &len, &noise) ==
              MBRTU_FRAME &&
          off == 2 && len == 5);
}

static void test_long_frames(void)
{
    /* the reference (wire.h) agrees with the catalogue and with the hand-worked vector above */
    CHECK(ref_crc((const uint8_t *)"123456789", 9) == 0x4B37);
    CHECK(ref_crc((const uint8_t *)"\x01", 1) == 0x807E);
    uint8_t f[8 + 260], hdr[3] = {0x01, 0x03, 0};
    size_t off, len, noise;
    /* byte count 250 (125 registers, the most a read asks): a 255-byte frame */
    hdr[2] = 250;
    CHECK(mbrtu_reply_len(hdr, 3) == 255);
    CHECK(long_reply(250, f) == 255);
    CHECK(mbrtu_scan_reply(f, 255, 1, 3, 0, NULL, &off, &len, &noise) == MBRTU_FRAME && off == 0 && len == 255);
    /* byte count 251: 256 bytes, the longest frame there is; framed, and left to the judge */
    hdr[2] = 251;
    CHECK(mbrtu_reply_len(hdr, 3) == MBRTU_MAX);
    CHECK(long_reply(251, f) == 256);
    CHECK(mbrtu_scan_reply(f, 256, 1, 3, 0, NULL, &off, &len, &noise) == MBRTU_FRAME && len == 256);
    /* 252..255: 257..260 bytes, longer than any frame: garbage as soon as the byte count is
     * in, however good the CRC, on a serial line and on a DTU's socket alike */
    for (unsigned bc = 252; bc <= 255; bc++) {
        char why[64];
        hdr[2] = (uint8_t)bc;
        CHECK(mbrtu_reply_len(hdr, 3) == MBRTU_LEN_TOO_LONG);
        size_t n = long_reply((uint8_t)bc, f);
        CHECK(n == 5 + bc);
        CHECK(mbrtu_scan_reply(f, 3, 1, 3, 0, NULL, &off, &len, &noise) == MBRTU_GARBAGE && off == 0);
        CHECK(mbrtu_scan_reply(f, n, 1, 3, 0, NULL, &off, &len, &noise) == MBRTU_GARBAGE && off == 0);
        mbrtu_describe_garbage(f, n, why, sizeof why);
        char want[64];
        snprintf(want, sizeof want, "reply frame of %u bytes (at most 256)", 5 + bc);
        CHECK_CONTAINS(why, want);
        /* after a heartbeat on a DTU's socket: refused where it starts */
        uint8_t d[2 + 260];
        const uint8_t *hb = (const uint8_t *)"HB";
        struct mbrtu_skip skip = {{hb, NULL}, {2, 0}};
        memcpy(d, "HB", 2);
        memcpy(d + 2, f, n);
        CHECK(mbrtu_scan_reply(d, 2 + n, 1, 3, 1, &skip, &off, &len, &noise) == MBRTU_GARBAGE && off == 2);
        /* the same bytes for another unit are noise to step over, not our reply */
        d[2] = 0x09;
        CHECK(mbrtu_scan_reply(d, 2 + n, 1, 3, 1, &skip, &off, &len, &noise) != MBRTU_GARBAGE);
    }
    /* the judge: 251 data bytes are not 125 registers */
    uint8_t req[5];
    char why[128];
    int exc;
    CHECK(mbpdu_build_read(TABLE_HOLDING, 0, 125, req) == 5);
    long_reply(251, f);
    CHECK(mbpdu_check_read(1, req, 1, f + 1, 253, &exc, why, sizeof why) == MB_BAD);
    CHECK_CONTAINS(why, "byte count 251");
    long_reply(250, f);
    CHECK(mbpdu_check_read(1, req, 1, f + 1, 252, &exc, why, sizeof why) == MB_OK);
}

static void test_check_read(void)
{
    uint8_t req[5];
    char why[128];
    int exc = -1;
    CHECK(mbpdu_build_read(TABLE_HOLDING, 0, 1, req) == 5);
    const uint8_t *ok = reply + 1; /* 03 02 00 21 */
    CHECK(mbpdu_check_read(1, req, 1, ok, 4, &exc, why, sizeof why) == MB_OK && exc == 0);
    uint16_t r = 0;
    mbpdu_unpack_regs(ok, 1, &r);
    CHECK(r == 0x0021);
    /* wrong unit */
    CHECK(mbpdu_check_read(1, req, 2, ok, 4, &exc, why, sizeof why) == MB_BAD);
    CHECK_CONTAINS(why, "unit 2 (expected 1)");
    /* wrong function: 04 instead of 03 */
    CHECK(mbpdu_check_read(1, req, 1, (const uint8_t *)"\x04\x02\x00\x21", 4, &exc, why, sizeof why) == MB_BAD);
    CHECK_CONTAINS(why, "function 0x04");
    /* byte count 4 for one register (2 expected), and a byte count that disagrees with the length */
    CHECK(mbpdu_check_read(1, req, 1, (const uint8_t *)"\x03\x04\x00\x21\x00\x00", 6, &exc, why, sizeof why) ==
          MB_BAD);
    CHECK(mbpdu_check_read(1, req, 1, (const uint8_t *)"\x03\x02\x00", 3, &exc, why, sizeof why) == MB_BAD);
    /* exception 02, illegal data address */
    CHECK(mbpdu_check_read(1, req, 1, (const uint8_t *)"\x83\x02", 2, &exc, why, sizeof why) == MB_EXCEPTION &&
          exc == 2);
    CHECK_CONTAINS(why, "illegal data address");
    /* an exception to another function is a wrong function */
    CHECK(mbpdu_check_read(1, req, 1, (const uint8_t *)"\x84\x02", 2, &exc, why, sizeof why) == MB_BAD);
    /* coils: 10 bits take 2 bytes; 0xCD = 1100 1101 gives bits 0..7 = 1,0,1,1,0,0,1,1 (least
     * significant first), 0x01 gives bit 8 = 1, bit 9 = 0 */
    CHECK(mbpdu_build_read(TABLE_COIL, 19, 10, req) == 5 && req[0] == 0x01 && req[2] == 19 && req[4] == 10);
    const uint8_t coils[4] = {0x01, 0x02, 0xCD, 0x01};
    CHECK(mbpdu_check_read(1, req, 1, coils, 4, &exc, why, sizeof why) == MB_OK);
    uint8_t bits[10];
    mbpdu_unpack_bits(coils, 10, bits);
    static const uint8_t want[10] = {1, 0, 1, 1, 0, 0, 1, 1, 1, 0};
    CHECK(memcmp(bits, want, 10) == 0);
    /* request limits: 125 registers, 2000 bits, nothing past 65535 */
    CHECK(mbpdu_build_read(TABLE_INPUT, 0, 125, req) == 5 && req[0] == 0x04);
    CHECK(mbpdu_build_read(TABLE_INPUT, 0, 126, req) == -1);
    CHECK(mbpdu_build_read(TABLE_DISCRETE, 0, 2000, req) == 5 && req[0] == 0x02);
    CHECK(mbpdu_build_read(TABLE_DISCRETE, 0, 2001, req) == -1);
    CHECK(mbpdu_build_read(TABLE_HOLDING, 65535, 2, req) == -1);
    CHECK(mbpdu_build_read(TABLE_HOLDING, 0, 0, req) == -1);
}

int main(void)
{
    test_crc();
    test_reply_len();
    test_scan_serial();
    test_scan_dtu();
    test_long_frames();
    test_check_read();
    return check_report();
}
