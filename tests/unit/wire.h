/* wire: what the transport tests share — a CRC-16/MODBUS worked apart from mbrtu_crc16, RTU
 * replies of any byte count built with it, a pty with an RTU bus on it, and a loopback listener
 * with a Modbus TCP bus pointed at it and a server thread on it. */
#ifndef CARETAKER_TEST_WIRE_H
#define CARETAKER_TEST_WIRE_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "model.h"
#include "transport.h"

/* CRC-16/MODBUS as the shift register of the spec's figure: one input bit at a time, least
 * significant first; the bit leaving the register xored with the bit coming in decides the
 * feedback (0xA001). */
static inline uint16_t ref_crc(const uint8_t *p, size_t n)
{
    unsigned reg = 0xFFFF;
    for (size_t k = 0; k < n; k++) {
        for (int i = 0; i < 8; i++) {
            unsigned in = (p[k] >> i) & 1u, out = reg & 1u;
            reg >>= 1;
            if (in ^ out)
                reg ^= 0xA001;
        }
    }
    return (uint16_t)reg;
}

/* A reply of unit 1 to a read of holding registers carrying byte count bc: 01 03 bc, bc data
 * bytes (0x00, 0x01, ...), the CRC low byte first. Returns its length, 5 + bc. */
static inline size_t long_reply(unsigned bc, uint8_t *out)
{
    out[0] = 0x01;
    out[1] = 0x03;
    out[2] = (uint8_t)bc;
    for (unsigned i = 0; i < bc; i++)
        out[3 + i] = (uint8_t)i;
    uint16_t crc = ref_crc(out, 3 + bc);
    out[3 + bc] = (uint8_t)(crc & 0xFF);
    out[4 + bc] = (uint8_t)(crc >> 8);
    return 5 + bc;
}

/* Reads exactly n bytes of fd: 0, or -1 at its end or on an error. */
static inline int read_full(int fd, uint8_t *b, size_t n)
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

/* The RTU device on master: reads n requests (8-byte frames) and answers the i-th with the
 * frame reply(i, f) builds in f (260 bytes), whose length it returns; 0 sends nothing. */
struct rtu_device {
    int master;
    size_t n;
    size_t (*reply)(size_t i, uint8_t *f);
    pthread_t thread;
};

static inline void *rtu_device_run(void *arg)
{
    struct rtu_device *d = arg;
    for (size_t i = 0; i < d->n; i++) {
        uint8_t req[8], f[260];
        if (read_full(d->master, req, sizeof req) < 0)
            break;
        size_t len = d->reply(i, f);
        if (len && write(d->master, f, len) != (ssize_t)len)
            break;
    }
    return NULL;
}

/* A pty with the device d on one end (its thread started) and an RTU transport at 115200 8N1,
 * connected, on the other (its bus config in *bc, which must outlive it). NULL on failure. */
static inline struct transport *rtu_device_start(struct rtu_device *d, struct bus_config *bc)
{
    d->master = posix_openpt(O_RDWR | O_NOCTTY);
    if (d->master < 0 || grantpt(d->master) < 0 || unlockpt(d->master) < 0)
        return NULL;
    memset(bc, 0, sizeof *bc);
    bc->type = BUS_RTU;
    snprintf(bc->id, sizeof bc->id, "r");
    snprintf(bc->port, sizeof bc->port, "%s", ptsname(d->master));
    bc->baud = 115200;
    bc->data_bits = 8;
    bc->parity = 'N';
    bc->stop_bits = 1;
    struct transport *t = transport_new(bc);
    if (!t || transport_connect(t) < 0 || pthread_create(&d->thread, NULL, rtu_device_run, d) != 0) {
        transport_free(t);
        return NULL;
    }
    return t;
}

/* Waits for the device to have answered everything, then closes both ends. */
static inline void rtu_device_stop(struct rtu_device *d, struct transport *t)
{
    pthread_join(d->thread, NULL);
    transport_free(t);
    close(d->master);
}

/* A listening socket on 127.0.0.1 and a free port; -1 on failure. */
static inline int loopback_listen(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A Modbus TCP bus "t" to 127.0.0.1:port, 1 s timeout. */
static inline void tcp_bus(struct bus_config *bc, int port)
{
    memset(bc, 0, sizeof *bc);
    bc->type = BUS_TCP;
    snprintf(bc->id, sizeof bc->id, "t");
    snprintf(bc->host, sizeof bc->host, "127.0.0.1");
    bc->tcp_port = port;
    bc->timeout_ms = 1000;
}

/* A Modbus TCP server: a loopback listener, the thread serve running on it, and a transport
 * pointed at it, not yet connected (its bus config in *bc, which must outlive it). */
struct tcp_server {
    int listen_fd;
    pthread_t thread;
    struct bus_config bc;
};

/* The transport, or NULL on failure (nothing to stop then). */
static inline struct transport *tcp_server_start(struct tcp_server *s, void *(*serve)(void *))
{
    int port = 0;
    s->listen_fd = loopback_listen(&port);
    if (s->listen_fd < 0)
        return NULL;
    tcp_bus(&s->bc, port);
    struct transport *t = transport_new(&s->bc);
    if (!t || pthread_create(&s->thread, NULL, serve, s) != 0) {
        transport_free(t);
        close(s->listen_fd);
        return NULL;
    }
    return t;
}

/* Waits for the server to be done, then frees the transport and closes the listener. */
static inline void tcp_server_stop(struct tcp_server *s, struct transport *t)
{
    pthread_join(s->thread, NULL);
    transport_free(t);
    close(s->listen_fd);
}

/* Reads fd until the client hangs up. */
static inline void wait_hangup(int fd)
{
    uint8_t b[64];
    while (read(fd, b, sizeof b) > 0)
        ;
}

#endif
