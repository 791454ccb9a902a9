/* dtu_listener: where 4G DTUs connect in — accepting, the connections still registering, which
 * DTU a registration names, and whether it may have that DTU's slot. The transport
 * (transport_dtu.c) only ever sees a slot's current connection.
 *
 * Life: dtu_listener_join (the first on an address starts its listener thread) ->
 * dtu_slot_take / dtu_slot_exchanged / dtu_slot_lost from the bus's poller ->
 * dtu_listener_leave (the last on an address stops the thread). */
#ifndef CARETAKER_DTU_LISTENER_H
#define CARETAKER_DTU_LISTENER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "model.h"
#include "queue.h"

/* A connection says nothing for this long, or registers wrongly, and it is closed: every
 * connection that does not register rightly is held this long, whatever it sent. */
#define DTU_REGISTER_TIMEOUT_MS 5000
/* Connections still registering, per listener and per source address; when full, the oldest
 * goes first, so idle connections cannot keep a real DTU out. A connection waiting with a right
 * registration (a claim) is never pushed out and is not counted. */
#define DTU_PENDING_MAX 64
#define DTU_PENDING_PER_ADDRESS 8
/* This many takeovers of one id within the window raise dtu_contested (docs/alerts.md). */
#define DTU_CONTESTED_COUNT 3
#define DTU_CONTESTED_WINDOW_MS (10 * 60 * 1000)

struct dtu_listener;

/* Guards every slot's fields marked (hub). */
extern pthread_mutex_t dtu_hub_lock;

/* One registered DTU: the bus that polls it and its current connection. */
struct dtu_slot {
    struct dtu_listener *ls;
    const struct bus_config *cfg; /* outlives the slot */
    struct queue *events;         /* dtu_replaced goes here; NULL: logged only */
    int fd;                       /* current connection, -1 none (hub) */
    uint64_t gen;                 /* bumped on every new connection (hub) */
    char peer[64];                /* of the current or last connection (hub) */
    /* Liveness of the current connection, from the poller's exchanges on it (hub): it is
     * alive while its last exchange was answered and no longer ago than quiet_ms. A new
     * connection counts as answered when it registers. */
    int64_t last_ms;
    bool last_answered;
    int quiet_ms;                           /* shortest poll_ms of the bus + its timeout_ms */
    int64_t takeovers[DTU_CONTESTED_COUNT]; /* times of the latest, a ring (listener thread) */
    int ntakeovers;
    int64_t contested_ms;     /* when dtu_contested was last raised; 0 never */
    struct complaint refused; /* claims refused while the current one is alive */
    struct dtu_slot *next;
};

/* Adds the bus's DTU on its listening address, starting the listener if it is the first there.
 * events may be NULL. NULL with err set when the address cannot be listened on, or the id is
 * already served there. */
struct dtu_slot *dtu_listener_join(const struct bus_config *cfg, struct queue *events, char *err, size_t errlen);
void dtu_listener_leave(struct dtu_slot *s);

/* "0.0.0.0:9000", for messages. */
const char *dtu_slot_where(const struct dtu_slot *s);

/* The poller's view: a dup of the current connection when it changed since *gen (the old fd,
 * if any, is closed first). Returns 1 when *fd was replaced, else 0. */
int dtu_slot_take(struct dtu_slot *s, uint64_t *gen, int *fd);
/* The connection of generation gen failed: the slot forgets it unless a newer one took over. */
void dtu_slot_lost(struct dtu_slot *s, uint64_t gen);
/* One request went out on the connection of generation gen; answered: some reply came back
 * (even an exception or garbage: the link carries bytes), not a timeout or a link error. */
void dtu_slot_exchanged(struct dtu_slot *s, uint64_t gen, bool answered);

/* Since the process started, over every listening address: connections refused before they
 * registered (silent, unknown, impostors, crowded out, addresses not allowed), right claims
 * refused while the current connection answers, and takeovers. */
struct dtu_counts {
    uint64_t refused, claims_refused, takeovers;
};
void dtu_listener_counts(struct dtu_counts *out);

#endif
