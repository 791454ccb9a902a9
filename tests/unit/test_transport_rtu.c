/* test_transport_rtu: the RTU transport (libmodbus underneath) against a device on a pty that
 * answers each request with a scripted reply, for what libmodbus 3.1.6 does not check itself:
 * another unit's frame, which it returns with the CRC unchecked; half a frame, which its
 * timeout does not tell from silence; a function no reply carries. Frames built by hand with
 * the reference CRC of wire.h. Synchronised by blocking reads, never by sleeping. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "transport.h"
#include "wire.h"

/* One scripted answer: body bytes, then the CRC (broken when bad_crc) unless crc is 0. */
struct answer {
    uint8_t body[8];
    size_t n;
    int crc, bad_crc;
};

/* Requests read one 8-byte frame each: unit 1, function 03, address 0, 1 register, CRC. */
static const struct answer script[] = {
    {{0x01, 0x03, 0x02, 0x12, 0x34}, 5, 1, 0}, /* the reply: 0x1234 */
    {{0x02, 0x03, 0x02, 0x12, 0x34}, 5, 1, 0}, /* unit 2's reply, CRC right */
    {{0x02, 0x03, 0x02, 0x12, 0x34}, 5, 1, 1}, /* unit 2's reply, CRC broken */
    {{0x01, 0x03, 0x02, 0x12, 0x34}, 5, 1, 1}, /* ours, CRC broken */
    {{0x01, 0x83, 0x02}, 3, 1, 0},             /* exception 02, illegal data address */
    {{0x01, 0x2B, 0x00}, 3, 1, 0},             /* a function no read's reply carries */
    {{0x01, 0x03, 0x02, 0x12}, 4, 0, 0},       /* half a frame, then nothing */
    {{0}, 0, 0, 0},                            /* silence */
    {{0x01, 0x03, 0x02, 0x56, 0x78}, 5, 1, 0}, /* and the line still works: 0x5678 */
};
#define NSCRIPT (sizeof script / sizeof script[0])

static int read_full(int fd, uint8_t *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static void *device(void *arg)
{
    int master = *(int *)arg;
    for (size_t i = 0; i < NSCRIPT; i++) {
        uint8_t req[8], f[16];
        if (read_full(master, req, sizeof req) < 0)
            break;
        const struct answer *a = &script[i];
        memcpy(f, a->body, a->n);
        size_t n = a->n;
        if (a->crc) {
            uint16_t c = ref_crc(f, n) ^ (a->bad_crc ? 1 : 0);
            f[n++] = (uint8_t)(c & 0xFF);
            f[n++] = (uint8_t)(c >> 8);
        }
        if (n && write(master, f, n) != (ssize_t)n)
            break;
    }
    return NULL;
}

int main(void)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    CHECK(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
    struct bus_config bc;
    memset(&bc, 0, sizeof bc);
    bc.type = BUS_RTU;
    snprintf(bc.id, sizeof bc.id, "r");
    snprintf(bc.port, sizeof bc.port, "%s", ptsname(master));
    bc.baud = 115200;
    bc.data_bits = 8;
    bc.parity = 'N';
    bc.stop_bits = 1;
    struct transport *t = transport_new(&bc);
    CHECK(t && transport_connect(t) == 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, device, &master) == 0);
    uint16_t regs[1] = {0};
    uint8_t bits[1];
    int exc = 0;
#define READ() transport_read(t, 1, TABLE_HOLDING, 0, 1, 300, regs, bits, &exc)
    CHECK(READ() == MB_OK && regs[0] == 0x1234);
    CHECK(READ() == MB_BAD);
    CHECK_CONTAINS(t->err, "reply from unit 2 (expected 1)");
    CHECK(READ() == MB_BAD);
    CHECK_CONTAINS(t->err, "CRC error");
    CHECK(READ() == MB_BAD);
    CHECK_CONTAINS(t->err, "CRC error");
    CHECK(READ() == MB_EXCEPTION && exc == 2);
    CHECK(READ() == MB_BAD);
    CHECK_CONTAINS(t->err, "function 0x2b in the reply (expected 0x03)");
    CHECK(READ() == MB_BAD);
    CHECK_CONTAINS(t->err, "incomplete reply");
    CHECK(READ() == MB_TIMEOUT);
    CHECK_CONTAINS(t->err, "no reply");
    CHECK(READ() == MB_OK && regs[0] == 0x5678);
    pthread_join(th, NULL);
    transport_free(t);
    close(master);

    /* A rate the kernel has and libmodbus would open at 9600: refused, not opened. */
    bc.baud = 14400;
    t = transport_new(&bc);
    CHECK(t && transport_connect(t) < 0);
    CHECK_CONTAINS(t->err, "14400 baud is not supported");
    transport_free(t);
    return check_report();
}
