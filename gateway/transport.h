/* transport: the wire under a bus — a const table of operations (connect, close, transact,
 * flush) with three implementations: RTU on a serial port (through libmodbus), Modbus TCP, and
 * RTU over a DTU's TCP connection (both framed here; README, Dependencies, says why). A transport frames and unframes;
 * what a reply means is judged once, in transport_read, for all three.
 *
 * Life: transport_new (nothing opened) -> connect -> transact... -> close -> connect ... ->
 * transport_free. One thread uses a transport at a time (its bus's poller, or probe). */
#ifndef CARETAKER_TRANSPORT_H
#define CARETAKER_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "mbpdu.h"
#include "model.h"

struct transport;

struct transport_ops {
    const char *kind; /* "rtu", "tcp", "dtu" */
    /* Opens the port or connection. 0, or -1 with t->err set; a DTU transport returns -1 while
     * its DTU has not registered. */
    int (*connect)(struct transport *t);
    void (*close)(struct transport *t);
    /* Sends one request (unit, pdu[0..n)) and waits at most timeout_ms for one reply frame.
     * On MB_OK *rsp_unit and rsp[0..*rsp_len) hold the reply's unit and PDU, checked for the
     * transport's own integrity (CRC, MBAP header, transaction id, a length the protocol
     * allows) but not yet for meaning; nothing is written past rsp[rsp_cap - 1], whatever the
     * peer sends: a reply that would not fit is MB_BAD. Other results set t->err. Never more
     * than one request outstanding. */
    enum mb_status (*transact)(struct transport *t, uint8_t unit, const uint8_t *pdu, size_t n, int timeout_ms,
                               uint8_t *rsp_unit, uint8_t *rsp, size_t rsp_cap, size_t *rsp_len);
    /* Drops whatever has arrived and not been read: a late reply must not answer the next
     * request. 0, or -1 with t->err set when the peer would not stop sending (see
     * transport_drain); the caller then closes the transport. */
    int (*flush)(struct transport *t);
    void (*destroy)(struct transport *t);
    /* Optional: told the outcome of every transact, for a transport whose link's health is
     * judged by its exchanges (a DTU's). */
    void (*exchanged)(struct transport *t, enum mb_status st);
};

struct transport {
    const struct transport_ops *ops;
    int connected;
    char err[256];   /* why the last call failed, for a log line */
    char label[160]; /* what it talks to, for messages: "/dev/ttyS1 9600 8N1", "10.0.0.2:502" */
};

/* A transport for the bus (nothing is opened yet). NULL when out of memory. The config must
 * outlive the transport. */
struct transport *transport_new(const struct bus_config *cfg);
void transport_free(struct transport *t);

int transport_connect(struct transport *t);
void transport_close(struct transport *t);
/* Drops unread input; a peer that keeps sending while it is dropped gets its link closed
 * (the next call reconnects), so it cannot hold the poller. */
void transport_flush(struct transport *t);

/* One read of count registers (or bits) of table at start from unit, judged by mbpdu_check_read.
 * MB_OK fills regs (registers) or bits (coil and discrete tables); MB_EXCEPTION sets *exception.
 * A link failure closes the transport, so the next call reconnects. */
enum mb_status transport_read(struct transport *t, uint8_t unit, int table, uint16_t start, uint16_t count,
                              int timeout_ms, uint16_t *regs, uint8_t *bits, int *exception);

/* The implementations; transport_new picks one by bus type. */
struct transport *transport_rtu_new(const struct bus_config *cfg);
struct transport *transport_tcp_new(const struct bus_config *cfg);
struct transport *transport_dtu_new(const struct bus_config *cfg);
/* Where a DTU transport's takeovers are told (MSG_DTU_REPLACED); before its first connect. A
 * transport of another kind ignores it. */
struct queue;
void transport_dtu_report_to(struct transport *t, struct queue *events);

/* The DTU transport's framer (rtu_stream.c): reads from fd until the reply to (unit, fc) is
 * framed in buf (cap bytes, at least MBRTU_MAX; *have bytes already in it), or until deadline_ms
 * (monotonic). resync and skip as in mbrtu_scan_reply. MB_OK sets *off and *len of the frame
 * in buf (len at most MBRTU_MAX); MB_TIMEOUT (nothing but known heartbeats came), MB_BAD
 * (garbage, a frame too long for the protocol, or a partial frame), MB_LINK (read error or
 * end of file) set err. */
enum mb_status transport_rtu_receive(int fd, uint8_t *buf, size_t cap, size_t *have, uint8_t unit, uint8_t fc,
                                     int64_t deadline_ms, int resync, const struct mbrtu_skip *skip, size_t *off,
                                     size_t *len, char *err, size_t errlen);

/* The first bytes of b (n bytes) in hex, " ..." after the twelfth, for a log line. */
void transport_hex(const uint8_t *b, size_t n, char *out, size_t outlen);

/* Shared by the RTU and DTU transports: the PDU of the frame buf[0..len) (unit, PDU, CRC) into
 * rsp (rsp_cap bytes). MB_OK, or MB_BAD with err set when it would not fit. */
enum mb_status transport_rtu_unwrap(const uint8_t *frame, size_t len, uint8_t *rsp_unit, uint8_t *rsp, size_t rsp_cap,
                                    size_t *rsp_len, char *err, size_t errlen);

/* Most bytes one flush of a socket drops beyond what was queued when it began: a peer that
 * sends more while we drop its input is streaming, not replying late. */
#define TRANSPORT_DRAIN_SLACK 4096
/* Longest one flush may go on, in ms, once more has come than was waiting. */
#define TRANSPORT_DRAIN_MS 5

/* Shared by the TCP and DTU transports: drops what is waiting on socket fd without blocking.
 * 0, or -1 with err set when the peer sent more than TRANSPORT_DRAIN_SLACK bytes beyond the
 * backlog, or kept sending past TRANSPORT_DRAIN_MS. An end of file or a read error ends the
 * drain quietly: the next request finds it. */
int transport_drain(int fd, char *err, size_t errlen);

#endif
