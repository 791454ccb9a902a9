/* sim_link: the wire side — a Modbus TCP server and an RTU serial line, both feeding
 * requests to the fleet and sending replies, immediately or when a timer says so. */
#ifndef SIM_LINK_H
#define SIM_LINK_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_device.h"

struct sim_link_config {
    bool tcp;
    int tcp_port;               /* 0: let the kernel pick */
    const char *rtu_path;       /* NULL: no serial line */
    int baud;
    char parity;                /* 'N', 'E', 'O' */
    int stop_bits;
    bool byte_timing;           /* pace RTU replies at the line's real character time */
    uint64_t seed;              /* garbage bytes are pseudo-random from this seed */
    /* DTU client mode: connect out to a gateway, register, send heartbeats, carry RTU frames */
    const char *dtu_host;       /* NULL: no DTU */
    int dtu_port;
    const char *dtu_id;         /* registration packet, sent on every connect */
    const char *dtu_heartbeat;  /* NULL: none */
    int dtu_heartbeat_ms;
};

struct sim_link;

/* Binds and opens what cfg asks for. Returns NULL with err filled on failure. */
struct sim_link *sim_link_open(const struct sim_link_config *cfg, struct sim_fleet *fleet,
                               char *err, size_t errlen);
void sim_link_close(struct sim_link *l);

/* The TCP port actually bound (useful with port 0), or -1 without TCP. */
int sim_link_tcp_port(const struct sim_link *l);

/* Fills up to max pollfds and remembers what each is; returns how many were used.
 * The same slice must be passed back to sim_link_handle after poll. */
int sim_link_prepare(struct sim_link *l, struct pollfd *pfd, int max);
void sim_link_handle(struct sim_link *l, const struct pollfd *pfd, int n, int64_t now_ns);

/* Earliest time (CLOCK_MONOTONIC ns) a timer of the link is due, or INT64_MAX;
 * sim_link_timers runs everything due at now_ns. */
int64_t sim_link_deadline(const struct sim_link *l);
void sim_link_timers(struct sim_link *l, int64_t now_ns);

/* A "dtu ..." control command (words after "dtu"): connect, disconnect, reconnect, replace,
 * heartbeat-before-reply on|off, stats. Writes the one-line reply; returns 0 or -1 (ERR). */
int sim_link_dtu_cmd(struct sim_link *l, const char *args, char *reply, size_t len);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t sim_now_ns(void);

#endif
