/* test_transport_interleave: the real Modbus TCP transport against a server that owes a reply
 * (one it did not give in time, or gave under a foreign transaction id) and then answers the
 * next request with only the first half of its ADU, the owed reply right behind. The two must
 * never be taken together for the next request's reply. Synchronised by blocking reads, never
 * by sleeping. */
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "transport.h"
#include "wire.h"

/* How the server treats the first request of a scenario: no answer yet, or an answer with a
 * transaction id that is none of ours. Either way it still owes the real reply. */
enum owed_kind { OWED_SILENT, OWED_FOREIGN_TID };
static const enum owed_kind scenarios[] = {OWED_SILENT, OWED_FOREIGN_TID};
#define NSCEN (sizeof scenarios / sizeof scenarios[0])

#define NREGS 6
#define ADU_LEN (7 + 2 + 2 * NREGS) /* 21 */

/* The ADU answering a read of 6 holding registers: MBAP (tid, protocol 0, length 15), unit,
 * 03 0C, registers 44, 2, 0, 0, 0, 0 (unit 4's level meter: 0.44 m, 2 decimals). */
static void reply_adu(unsigned tid, uint8_t unit, uint8_t *adu)
{
    static const uint16_t regs[NREGS] = {44, 2, 0, 0, 0, 0};
    adu[0] = (uint8_t)(tid >> 8);
    adu[1] = (uint8_t)tid;
    adu[2] = adu[3] = adu[4] = 0;
    adu[5] = (uint8_t)(ADU_LEN - 6);
    adu[6] = unit;
    adu[7] = 0x03;
    adu[8] = 2 * NREGS;
    for (int i = 0; i < NREGS; i++) {
        adu[9 + 2 * i] = (uint8_t)(regs[i] >> 8);
        adu[10 + 2 * i] = (uint8_t)regs[i];
    }
}

static unsigned req_tid(const uint8_t *req)
{
    return (unsigned)req[0] << 8 | req[1];
}

static void *server(void *arg)
{
    struct tcp_server *srv = arg;
    for (size_t s = 0; s < NSCEN; s++) {
        uint8_t req1[12], req2[12], adu[ADU_LEN];
        int fd = accept(srv->listen_fd, NULL, NULL);
        if (fd < 0 || read_full(fd, req1, sizeof req1) < 0)
            break;
        if (scenarios[s] == OWED_FOREIGN_TID) {
            reply_adu(req_tid(req1) ^ 0x5A00, req1[6], adu);
            CHECK(write(fd, adu, sizeof adu) == (ssize_t)sizeof adu);
        }
        /* The next request comes on the same connection, or the client hung up and opens a
         * new one; the owed reply can only follow on the connection it belongs to. */
        int owed_fd = fd;
        if (read_full(fd, req2, sizeof req2) < 0) {
            close(fd);
            owed_fd = -1;
            fd = accept(srv->listen_fd, NULL, NULL);
            if (fd < 0 || read_full(fd, req2, sizeof req2) < 0)
                break;
        }
        /* half of the reply to the second request (it goes quiet mid-frame), then the owed one */
        reply_adu(req_tid(req2), req2[6], adu);
        CHECK(write(fd, adu, ADU_LEN / 2) == ADU_LEN / 2);
        if (owed_fd >= 0) {
            reply_adu(req_tid(req1), req1[6], adu);
            CHECK(write(owed_fd, adu, sizeof adu) == (ssize_t)sizeof adu);
        }
        /* wait for the client to hang up before the next scenario */
        wait_hangup(fd);
        close(fd);
    }
    return NULL;
}

static void test_owed_reply_never_completes_a_truncated_one(void)
{
    struct tcp_server srv;
    struct transport *t = tcp_server_start(&srv, server);
    CHECK(t != NULL);
    if (!t)
        return;
    for (size_t s = 0; s < NSCEN; s++) {
        uint16_t regs[NREGS];
        uint8_t bits[1];
        int exc;
        CHECK(transport_connect(t) == 0);
        /* unit 4: no reply in time, or one under a foreign id; the poller flushes after either */
        enum mb_status st = transport_read(t, 4, TABLE_HOLDING, 0, NREGS, 100, regs, bits, &exc);
        if (scenarios[s] == OWED_SILENT) {
            CHECK(st == MB_TIMEOUT);
        } else {
            CHECK(st == MB_BAD);
            CHECK_CONTAINS(t->err, "transaction id");
        }
        transport_flush(t);
        /* its reply may still come on this connection: the connection is not used again */
        CHECK(!t->connected);
        if (!t->connected)
            CHECK(transport_connect(t) == 0);
        /* unit 7 answers half an ADU; whatever follows is not the rest of it */
        memset(regs, 0, sizeof regs);
        st = transport_read(t, 7, TABLE_HOLDING, 0, NREGS, 1000, regs, bits, &exc);
        CHECK_MSG(st == MB_BAD, "scenario %zu: status %d, registers %04x %04x %04x %04x %04x %04x", s, (int)st,
                  regs[0], regs[1], regs[2], regs[3], regs[4], regs[5]);
        CHECK_CONTAINS(t->err, "incomplete reply (10 of 21 bytes)");
        CHECK(!t->connected);
        transport_close(t);
    }
    tcp_server_stop(&srv, t);
}

int main(void)
{
    test_owed_reply_never_completes_a_truncated_one();
    return check_report();
}
