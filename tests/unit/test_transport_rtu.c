/* test_transport_rtu: the RTU transport (libmodbus underneath) against a device on a pty that
 * answers each request with a scripted reply, for what libmodbus 3.1.6 does not check itself:
 * another unit's frame, which it returns with the CRC unchecked; half a frame, which its
 * timeout does not tell from silence; a function no reply carries. Frames built by hand with
 * the reference CRC of wire.h. Synchronised by blocking reads, never by sleeping. */
#include "check.h"
#include "transport.h"
#include "wire.h"

/* One scripted answer — body bytes, then the CRC (broken when bad_crc) unless crc is 0 — and
 * what the read must make of it: the status, and the register or exception code or the words
 * of the error. */
struct answer {
    uint8_t body[8];
    size_t n;
    int crc, bad_crc;
    enum mb_status want;
    int value;
    const char *why;
};

/* Requests read one 8-byte frame each: unit 1, function 03, address 0, 1 register, CRC. */
static const struct answer script[] = {
    {{0x01, 0x03, 0x02, 0x12, 0x34}, 5, 1, 0, MB_OK, 0x1234, NULL},
    {{0x02, 0x03, 0x02, 0x12, 0x34}, 5, 1, 0, MB_BAD, 0, "reply from unit 2 (expected 1)"},
    {{0x02, 0x03, 0x02, 0x12, 0x34}, 5, 1, 1, MB_BAD, 0, "CRC error"}, /* libmodbus skips this CRC */
    {{0x01, 0x03, 0x02, 0x12, 0x34}, 5, 1, 1, MB_BAD, 0, "CRC error"},
    {{0x01, 0x83, 0x02}, 3, 1, 0, MB_EXCEPTION, 2, "illegal data address"},
    {{0x01, 0x2B, 0x00}, 3, 1, 0, MB_BAD, 0, "function 0x2b in the reply (expected 0x03)"},
    {{0x01, 0x03, 0x02, 0x12}, 4, 0, 0, MB_BAD, 0, "incomplete reply"}, /* half a frame, then nothing */
    {{0}, 0, 0, 0, MB_TIMEOUT, 0, "no reply"},
    {{0x01, 0x03, 0x02, 0x56, 0x78}, 5, 1, 0, MB_OK, 0x5678, NULL}, /* and the line still works */
};
#define NSCRIPT (sizeof script / sizeof script[0])

static size_t scripted(size_t i, uint8_t *f)
{
    const struct answer *a = &script[i];
    size_t n = a->n;
    memcpy(f, a->body, n);
    if (a->crc) {
        uint16_t c = ref_crc(f, n) ^ (a->bad_crc ? 1 : 0);
        f[n++] = (uint8_t)(c & 0xFF);
        f[n++] = (uint8_t)(c >> 8);
    }
    return n;
}

int main(void)
{
    struct rtu_device dev = {.n = NSCRIPT, .reply = scripted};
    struct bus_config bc;
    struct transport *t = rtu_device_start(&dev, &bc);
    CHECK(t != NULL);
    if (!t)
        return check_report();
    uint16_t regs[1] = {0};
    uint8_t bits[1];
    for (size_t i = 0; i < NSCRIPT; i++) {
        const struct answer *a = &script[i];
        int exc = 0;
        enum mb_status st = transport_read(t, 1, TABLE_HOLDING, 0, 1, 300, regs, bits, &exc);
        CHECK_MSG(st == a->want, "answer %zu: %s, expected %s (%s)", i, mb_status_name(st),
                  mb_status_name(a->want), t->err);
        if (a->want == MB_OK)
            CHECK_MSG(regs[0] == a->value, "answer %zu: 0x%04x", i, regs[0]);
        if (a->want == MB_EXCEPTION)
            CHECK(exc == a->value);
        if (a->why)
            CHECK_CONTAINS(t->err, a->why);
    }
    rtu_device_stop(&dev, t);

    /* A rate the kernel has and libmodbus would open at 9600: refused, not opened. */
    bc.baud = 14400;
    t = transport_new(&bc);
    CHECK(t && transport_connect(t) < 0);
    CHECK_CONTAINS(t->err, "14400 baud is not supported");
    transport_free(t);
    return check_report();
}
