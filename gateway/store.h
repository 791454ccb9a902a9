/* store: the SQLite file — schema and migrations, group-committed readings and events, and the
 * outbox they are published from. Owned by the core thread alone. */
#ifndef CARETAKER_STORE_H
#define CARETAKER_STORE_H

#include <stdint.h>

#include "diag.h"
#include "model.h"
#include "queue.h"

/* Kinds of outbox rows: each is one MQTT message with its own (gateway, seq). */
enum outbox_kind { OUTBOX_READING = 1, OUTBOX_DEVICE_STATE = 2, OUTBOX_EVENT = 3 };

struct store;

/* Opens (creating if needed) the database in WAL mode and brings its schema to the current
 * version. A database written by a newer Caretaker is refused, never downgraded. */
int store_open(const char *path, struct store **out, struct diag *err);

/* Maps the config's devices and points to their rows, adding new ones; existing history of
 * devices no longer configured is kept. */
int store_register(struct store *s, const struct config *cfg, struct diag *err);

/* Appends one poll of a device; opens the group-commit transaction if none is open.
 * Points of quality Q_OFFLINE in a partial poll are stored with a NULL value. */
int store_append_reading(struct store *s, const struct device *d, const struct msg *m, int64_t *seq_out);

/* Appends an event row (device state change, missing point...) with a JSON body. */
int store_append_event(struct store *s, const struct device *d, enum outbox_kind kind, int64_t ts_ms,
                       const char *json_body, int64_t *seq_out);

/* Commits the open transaction, if any. On failure the transaction is rolled back and -1
 * returned; the caller keeps running (a full disk must not stop polling). */
int store_commit(struct store *s);

/* Rows appended since the last commit, and the monotonic ms when the first of them arrived. */
int store_pending_rows(const struct store *s);
int64_t store_pending_since_ms(const struct store *s);

/* The last seq handed out (persisted: the next run continues after it). */
int64_t store_last_seq(const struct store *s);

void store_close(struct store *s);

#endif
