/* bus: one poller thread per bus (an RTU line, a TCP endpoint or a 4G DTU): schedule, read, retry,
 * circuit breaker and back-off; it owns its bus and nothing else, and talks to the core only
 * through the queue. */
#ifndef CARETAKER_BUS_H
#define CARETAKER_BUS_H

#include <stdint.h>

#include "model.h"
#include "queue.h"

struct bus;

/* Counters of one device, readable from any thread (relaxed atomics). */
struct device_stats {
    uint64_t polls_ok;     /* cycles where every read succeeded */
    uint64_t polls_failed; /* cycles with at least one failed read */
    uint64_t timeouts;
    uint64_t bad_replies;  /* CRC errors, wrong unit, wrong length, unknown exceptions */
    uint64_t exceptions;   /* Modbus exception responses other than "illegal data address" */
    uint64_t skipped;      /* poll deadlines missed because the bus was busy */
    uint64_t probes;       /* single-read probes while offline */
    uint64_t replies;      /* good replies, each timed from request to reply */
    uint64_t rtt_us_total; /* sum of their round-trip times: per interval, the difference of
                            * two samples of this over that of replies is the mean */
    uint64_t rtt_us_last;
    uint64_t rtt_us_max;
};

/* Starts the poller thread. Returns 0, or -1 (thread could not start). A port that cannot be
 * opened is not an error here: the bus keeps retrying, and its devices go offline. */
int bus_start(const struct bus_config *cfg, struct queue *q, struct bus **out);

/* Asks the thread to stop, waits for it (at most one request timeout) and frees the bus. */
void bus_stop(struct bus *b);

/* Copies a device's counters; i indexes cfg->devices of this bus. */
void bus_device_stats(struct bus *b, int i, struct device_stats *out);

#endif
