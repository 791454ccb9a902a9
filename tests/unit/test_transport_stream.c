/* test_transport_stream: the transports over real sockets — the RTU receiver a DTU uses
 * (heartbeats, partial frames across reads, timeouts, a closed connection) and Modbus TCP
 * against a scripted server (repeated replies, foreign transaction ids, a reply from the wrong
 * unit, a header that is not Modbus). Synchronised by blocking reads, never by sleeping. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "transport.h"
#include "wire.h"

/* 01 03 02 00 21 78 5C: unit 1's reply holding 0x0021 (CRC worked in test_transport_frame) */
static const uint8_t reply[7] = {0x01, 0x03, 0x02, 0x00, 0x21, 0x78, 0x5C};

static void test_rtu_receive(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    struct mbrtu_skip skip = {{(const uint8_t *)"HB", NULL}, {2, 0}};
    uint8_t buf[MBRTU_MAX * 2];
    size_t have = 0, off = 0, len = 0;
    char err[128];

    /* heartbeat, then the reply */
    CHECK(write(sv[1], "HB", 2) == 2 && write(sv[1], reply, 7) == 7);
    CHECK(transport_rtu_receive(sv[0], buf, sizeof buf, &have, 1, 3, clock_mono_ms() + 1000, 1, &skip, &off, &len, err,
                                sizeof err) == MB_OK);
    CHECK(len == 7 && memcmp(buf + off, reply, 7) == 0);

    /* nothing but heartbeats until the deadline: a timeout, not a bad reply */
    have = 0;
    CHECK(write(sv[1], "HBHB", 4) == 4);
    CHECK(transport_rtu_receive(sv[0], buf, sizeof buf, &have, 1, 3, clock_mono_ms() + 30, 1, &skip, &off, &len, err,
                                sizeof err) == MB_TIMEOUT);

    /* half a reply by the deadline: a bad reply, its bytes kept in the buffer */
    have = 0;
    CHECK(write(sv[1], reply, 3) == 3);
    CHECK(transport_rtu_receive(sv[0], buf, sizeof buf, &have, 1, 3, clock_mono_ms() + 30, 1, &skip, &off, &len, err,
                                sizeof err) == MB_BAD);
    CHECK_CONTAINS(err, "incomplete reply");
    CHECK(have == 3);
    /* the rest arrives later, after a heartbeat that cut into nothing: the frame completes */
    CHECK(write(sv[1], reply + 3, 4) == 4);
    CHECK(transport_rtu_receive(sv[0], buf, sizeof buf, &have, 1, 3, clock_mono_ms() + 1000, 1, &skip, &off, &len, err,
                                sizeof err) == MB_OK);
    CHECK(off == 0 && len == 7 && memcmp(buf, reply, 7) == 0);

    /* on a serial line (no resync) a bad CRC is garbage at once */
    have = 0;
    uint8_t bad[7];
    memcpy(bad, reply, 7);
    bad[5] ^= 1;
    CHECK(write(sv[1], bad, 7) == 7);
    CHECK(transport_rtu_receive(sv[0], buf, sizeof buf, &have, 1, 3, clock_mono_ms() + 1000, 0, NULL, &off, &len, err,
                                sizeof err) == MB_BAD);
    CHECK_CONTAINS(err, "CRC error: 01 03 02 00 21 79 5c");

    /* the DTU hangs up */
    have = 0;
    close(sv[1]);
    CHECK(transport_rtu_receive(sv[0], buf, sizeof buf, &have, 1, 3, clock_mono_ms() + 1000, 1, &skip, &off, &len, err,
                                sizeof err) == MB_LINK);
    close(sv[0]);
}

/* A Modbus TCP server that answers each request with a scripted reply. */
enum reply_kind { SR_OK, SR_LATE_THEN_OK, SR_FOREIGN_TID, SR_WRONG_UNIT, SR_NOT_MODBUS };

static const enum reply_kind script[] = {SR_OK, SR_LATE_THEN_OK, SR_FOREIGN_TID, SR_WRONG_UNIT, SR_NOT_MODBUS};
#define NSCRIPT (sizeof script / sizeof script[0])

static void put_reply(int fd, unsigned tid, uint8_t unit, unsigned proto)
{
    /* MBAP: tid, protocol, length 5 (unit + 03 02 00 21), unit, then the PDU */
    uint8_t adu[11] = {(uint8_t)(tid >> 8), (uint8_t)tid, (uint8_t)(proto >> 8), (uint8_t)proto, 0, 5, unit,
                       0x03, 0x02, 0x00, 0x21};
    CHECK(write(fd, adu, sizeof adu) == (ssize_t)sizeof adu);
}

static void *server(void *arg)
{
    struct tcp_server *s = arg;
    int fd = accept(s->listen_fd, NULL, NULL);
    for (size_t i = 0; i < NSCRIPT && fd >= 0; i++) {
        uint8_t req[12];
        if (recv(fd, req, sizeof req, MSG_WAITALL) != (ssize_t)sizeof req) {
            /* the client hung up (our reply is owed after a foreign id): it dials again */
            close(fd);
            fd = accept(s->listen_fd, NULL, NULL);
            if (fd < 0 || recv(fd, req, sizeof req, MSG_WAITALL) != (ssize_t)sizeof req)
                break;
        }
        unsigned tid = (unsigned)req[0] << 8 | req[1];
        switch (script[i]) {
        case SR_OK:
            put_reply(fd, tid, 1, 0);
            break;
        case SR_LATE_THEN_OK:
            put_reply(fd, (tid - 1) & 0xFFFF, 1, 0);
            put_reply(fd, tid, 1, 0);
            break;
        case SR_FOREIGN_TID:
            put_reply(fd, tid ^ 0x5A00, 1, 0);
            break;
        case SR_WRONG_UNIT:
            put_reply(fd, tid, 2, 0);
            break;
        case SR_NOT_MODBUS:
            put_reply(fd, tid, 1, 1);
            break;
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void test_tcp(void)
{
    struct tcp_server srv;
    struct transport *t = tcp_server_start(&srv, server);
    CHECK(t && transport_connect(t) == 0);
    uint16_t regs[1];
    uint8_t bits[1];
    int exc;
    regs[0] = 0;
    CHECK(transport_read(t, 1, TABLE_HOLDING, 0, 1, 1000, regs, bits, &exc) == MB_OK && regs[0] == 0x21);
    regs[0] = 0;
    CHECK(transport_read(t, 1, TABLE_HOLDING, 0, 1, 1000, regs, bits, &exc) == MB_OK && regs[0] == 0x21);
    CHECK(transport_read(t, 1, TABLE_HOLDING, 0, 1, 1000, regs, bits, &exc) == MB_BAD);
    CHECK_CONTAINS(t->err, "transaction id");
    /* the real reply may still come on that connection: it is not used again */
    CHECK(!t->connected);
    CHECK(transport_connect(t) == 0);
    CHECK(transport_read(t, 1, TABLE_HOLDING, 0, 1, 1000, regs, bits, &exc) == MB_BAD);
    CHECK_CONTAINS(t->err, "reply from unit 2 (expected 1)");
    CHECK(t->connected);
    CHECK(transport_read(t, 1, TABLE_HOLDING, 0, 1, 1000, regs, bits, &exc) == MB_BAD);
    CHECK_CONTAINS(t->err, "not a Modbus TCP header");
    /* the stream is out of step: closed, so the next read reconnects */
    CHECK(!t->connected);
    tcp_server_stop(&srv, t);
}

int main(void)
{
    test_rtu_receive();
    test_tcp();
    return check_report();
}
