/* publish: the MQTT client — connect (TLS, credentials, Last Will), reconnect with back-off,
 * the outbox pumped within an in-flight window, rows marked sent on PUBACK, commands in.
 * Driven by the core thread's poll loop; it starts no thread of its own.
 *
 * Life: publish_new (checks files and secrets, as publish_check does) → in the loop publish_fd / publish_timeout_ms /
 * publish_io / publish_pump → publish_stop (flush, status offline, clean disconnect) →
 * publish_free. */
#ifndef CARETAKER_PUBLISH_H
#define CARETAKER_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "model.h"
#include "store.h"

struct publisher;

/* A command arrived on <prefix>/cmd/<verb>/<identity>; topic is what follows "cmd/". Called
 * from inside publish_io. */
typedef void (*publish_command_fn)(void *ctx, const char *topic, const void *payload, size_t len, bool retained);

/* What can be checked without connecting, for `caretaker check` as for a run: the CA and
 * certificate files readable, the key and password files readable and private
 * (secret_file_open), the password not empty, and a client that can be set up with them.
 * Nothing is kept; no connection is made. */
int publish_check(const struct config *cfg, struct diag *err);

/* Checks what publish_check does and sets the client up. The first connect is attempted at
 * the first publish_io. cfg and store must outlive the publisher. */
int publish_new(const struct config *cfg, struct store *s, int64_t started_ts_ms, struct publisher **out,
                struct diag *err);
void publish_set_command_handler(struct publisher *p, publish_command_fn fn, void *ctx);

/* The socket to poll and its events, or -1 while there is none. */
int publish_fd(const struct publisher *p, short *events);
/* Milliseconds until publish_io has timed work (keepalive, reconnect, connect timeout). */
int publish_timeout_ms(const struct publisher *p, int64_t now_mono_ms);
/* Reads, writes and timed work; revents from poll, 0 when only the timeout fired. */
void publish_io(struct publisher *p, short revents, int64_t now_mono_ms);
/* Publishes committed unsent rows while the window has room. Returns how many were sent. */
int publish_pump(struct publisher *p);

/* A message outside the outbox (metrics, command replies) under <prefix>/<suffix>: sent now
 * if connected, else dropped. Returns its message id (> 0), or -1. */
int publish_direct(struct publisher *p, const char *suffix, const char *payload, size_t len, bool retain);

/* True once after each successful connect (the caller publishes what a fresh subscriber
 * needs, such as metrics). */
bool publish_take_connected(struct publisher *p);
bool publish_connected(const struct publisher *p);

struct publish_stats {
    uint64_t connects;
    uint64_t published; /* outbox rows handed to the broker, resends included */
    uint64_t acked;     /* outbox rows acknowledged */
    uint64_t refused;   /* outbox rows the broker refused (MQTT 5 reason code): kept unsent */
    int inflight;       /* messages (a v2 batch is one) */
};
void publish_get_stats(const struct publisher *p, struct publish_stats *out);

/* Clean stop: for up to timeout_ms publishes what is committed and waits for the rows in
 * flight; then publishes the retained offline status
 * (a clean disconnect does not fire the Last Will) and disconnects. */
void publish_stop(struct publisher *p, int timeout_ms);
void publish_free(struct publisher *p);

#endif
