/* test_transport_limits: the real transports against peers that break the protocol's limits —
 * an RTU device on a pty and a Modbus TCP server answering with frames longer than a frame may
 * be (refused as bad replies, nothing copied past the reply buffer: the sanitized build would
 * say so), and peers that stream without end (a flush drops the backlog, then gives up and
 * the link is closed). Synchronised by blocking reads, never by sleeping. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "transport.h"
#include "wire.h"

/* The RTU device: answers each of the byte counts in turn with a frame whose CRC is right. */
static const unsigned rtu_counts[] = {250, 251, 252, 253, 254, 255};
#define NRTU (sizeof rtu_counts / sizeof rtu_counts[0])

static size_t long_count(size_t i, uint8_t *f)
{
    return long_reply(rtu_counts[i], f);
}

static void test_rtu_long_replies(void)
{
    struct rtu_device dev = {.n = NRTU, .reply = long_count};
    struct bus_config bc;
    struct transport *t = rtu_device_start(&dev, &bc);
    CHECK(t != NULL);
    if (!t)
        return;
    uint16_t regs[125];
    uint8_t bits[1];
    int exc;
    /* 250 data bytes: the 125 registers asked, each 0x0001, 0x0203, ... */
    CHECK(transport_read(t, 1, TABLE_HOLDING, 0, 125, 2000, regs, bits, &exc) == MB_OK);
    CHECK(regs[0] == 0x0001 && regs[124] == 0xF8F9);
    /* 251: a frame of 256 bytes, the longest there is; not the reply to 125 registers */
    CHECK(transport_read(t, 1, TABLE_HOLDING, 0, 125, 2000, regs, bits, &exc) == MB_BAD);
    CHECK_CONTAINS(t->err, "byte count 251");
    /* 252..255: frames of 257..260 bytes, refused before anything is copied */
    for (unsigned bc2 = 252; bc2 <= 255; bc2++) {
        char want[64];
        snprintf(want, sizeof want, "reply frame of %u bytes (at most 256)", 5 + bc2);
        CHECK(transport_read(t, 1, TABLE_HOLDING, 0, 125, 2000, regs, bits, &exc) == MB_BAD);
        CHECK_CONTAINS(t->err, want);
    }
    rtu_device_stop(&dev, t);
}

/* A Modbus TCP server: per request, one scripted reply (MBAP length given), then optionally a
 * stream of bytes until the client goes away. */
struct tcp_script {
    unsigned mbap_len; /* 0: stream instead of replying */
};
static const struct tcp_script tcp_script[] = {{253}, {254}, {255}, {0}};
#define NTCP (sizeof tcp_script / sizeof tcp_script[0])
static int full_pipe[2]; /* the streamer says here when every buffer on the way is full */

/* Fills the socket until nothing more fits (our receive queue and the peer's send queue are
 * full, so whoever drains it meets more at once), says so, then sends on until the other end
 * is closed. */
static void stream_until_closed(int fd)
{
    static const uint8_t junk[65536] = {0x5A};
    while (send(fd, junk, sizeof junk, MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
        ;
    (void)!write(full_pipe[1], "f", 1);
    while (send(fd, junk, sizeof junk, MSG_NOSIGNAL) > 0)
        ;
}

static void wait_full(void)
{
    char c;
    CHECK(read(full_pipe[0], &c, 1) == 1);
}

static void *tcp_server(void *arg)
{
    struct tcp_server *s = arg;
    for (size_t i = 0; i < NTCP; i++) {
        int fd = accept(s->listen_fd, NULL, NULL);
        uint8_t req[12];
        if (fd < 0)
            break;
        if (read_full(fd, req, sizeof req) == 0) {
            unsigned len = tcp_script[i].mbap_len;
            if (len == 0) {
                /* a good reply, then no end of bytes */
                uint8_t adu[11] = {req[0], req[1], 0, 0, 0, 5, 1, 0x03, 0x02, 0x00, 0x21};
                if (write(fd, adu, sizeof adu) == (ssize_t)sizeof adu)
                    stream_until_closed(fd);
            } else {
                /* MBAP with the request's id, unit 1, then 03, byte count len - 3, data */
                uint8_t adu[6 + 255];
                memcpy(adu, req, 4);
                adu[4] = (uint8_t)(len >> 8);
                adu[5] = (uint8_t)len;
                adu[6] = 1;
                adu[7] = 0x03;
                adu[8] = (uint8_t)(len - 3);
                for (unsigned k = 9; k < 6 + len; k++)
                    adu[k] = (uint8_t)k;
                (void)!write(fd, adu, 6 + len);
                /* wait for the client to hang up, so each reply meets a fresh connection */
                wait_hangup(fd);
            }
        }
        close(fd);
    }
    return NULL;
}

static void test_tcp_long_replies_and_stream(void)
{
    struct tcp_server srv;
    struct transport *t = tcp_server_start(&srv, tcp_server);
    CHECK(t != NULL);
    if (!t)
        return;
    uint16_t regs[125];
    uint8_t bits[1];
    int exc;
    /* MBAP length 253: unit + 03 FA + 250 bytes, the 125 registers; a 259-byte ADU */
    CHECK(t && transport_connect(t) == 0);
    CHECK(transport_read(t, 1, TABLE_HOLDING, 0, 125, 2000, regs, bits, &exc) == MB_OK);
    CHECK(regs[0] == 0x090A);
    transport_close(t);
    /* 254: 260 bytes, the longest ADU; a PDU of 253 bytes is not the reply to 125 registers */
    CHECK(transport_connect(t) == 0);
    CHECK(transport_read(t, 1, TABLE_HOLDING, 0, 125, 2000, regs, bits, &exc) == MB_BAD);
    CHECK_CONTAINS(t->err, "byte count 251");
    transport_close(t);
    /* 255: 261 bytes, refused from the header alone; the stream is out of step: closed */
    CHECK(transport_connect(t) == 0);
    CHECK(transport_read(t, 1, TABLE_HOLDING, 0, 125, 2000, regs, bits, &exc) == MB_BAD);
    CHECK_CONTAINS(t->err, "reply frame of 261 bytes (at most 260)");
    CHECK(!t->connected);
    /* a server that answers, then streams: the next request's flush gives up, a bad reply,
     * and the connection is closed (which ends the server's stream) */
    CHECK(transport_connect(t) == 0);
    CHECK(transport_read(t, 1, TABLE_HOLDING, 0, 1, 2000, regs, bits, &exc) == MB_OK && regs[0] == 0x21);
    wait_full();
    CHECK(transport_read(t, 1, TABLE_HOLDING, 0, 1, 2000, regs, bits, &exc) == MB_BAD);
    CHECK_CONTAINS(t->err, "keeps sending");
    CHECK(!t->connected);
    tcp_server_stop(&srv, t);
}

static void *streamer(void *arg)
{
    stream_until_closed(*(int *)arg);
    return NULL;
}

static void test_drain(void)
{
    int sv[2];
    char err[128] = "";
    uint8_t b[1];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    /* a backlog far larger than the slack, and nothing after it: all dropped, no complaint */
    static uint8_t backlog[3 * TRANSPORT_DRAIN_SLACK];
    CHECK(write(sv[1], backlog, sizeof backlog) == (ssize_t)sizeof backlog);
    CHECK(transport_drain(sv[0], err, sizeof err) == 0);
    CHECK(recv(sv[0], b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
    close(sv[0]);
    close(sv[1]);
    /* a peer that never stops, over loopback TCP: the drain gives up and says so. (Over a
     * socketpair the peer refills only when its thread is scheduled, so a drain may outpace
     * it and end at once, as it should; a TCP peer's queued bytes come in as soon as the
     * window opens, whoever runs.) */
    int port = 0, lfd = loopback_listen(&port), cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons((uint16_t)port)};
    CHECK(lfd >= 0 && connect(cfd, (struct sockaddr *)&sa, sizeof sa) == 0);
    int peer = accept(lfd, NULL, NULL);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, streamer, &peer) == 0);
    wait_full();
    CHECK(transport_drain(cfd, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "the peer keeps sending");
    close(cfd);
    pthread_join(th, NULL);
    close(peer);
    close(lfd);
    /* a frame longer than the reply buffer is refused by the copy too */
    uint8_t f[260], rsp[200], unit;
    size_t len = long_reply(250, f), rlen;
    CHECK(transport_rtu_unwrap(f, len, &unit, rsp, sizeof rsp, &rlen, err, sizeof err) == MB_BAD);
    CHECK_CONTAINS(err, "reply frame of 255 bytes (at most 203)");
}

int main(void)
{
    CHECK(pipe(full_pipe) == 0);
    test_rtu_long_replies();
    test_tcp_long_replies_and_stream();
    test_drain();
    return check_report();
}
