/* store: the SQLite file — schema and migrations, group-committed readings and events, and the
 * outbox they are published from, with its retention. Owned by the core thread alone. */
#ifndef CARETAKER_STORE_H
#define CARETAKER_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "model.h"
#include "queue.h"
#include "store_schema.h"

struct store;

/* Opens (creating if needed) the database in WAL mode, checks every page, and brings its schema
 * to the current version. A database written by a newer Caretaker is refused, never downgraded.
 * A file SQLite finds damaged, or not a database at all, is moved aside (with its WAL) and a
 * fresh store is made in its place, whose seqs continue above the old ones. */
int store_open(const char *path, struct store **out, struct diag *err);

/* The same without reading every page: for a file this process had open a moment ago (a
 * reload), where the check would only cost time. */
int store_reopen(const char *path, struct store **out, struct diag *err);

/* Where store_open moved a corrupt file, and why; NULL when it found none. */
const char *store_moved_aside(const struct store *s, const char **why);

/* Maps the config's devices and points to their rows, adding new ones; existing history of
 * devices no longer configured is kept (and its unsent rows are still published by name). */
int store_register(struct store *s, const struct config *cfg, struct diag *err);

/* Size and age limits: the file never grows past max_mb (0: no limit) and sent rows older
 * than retention_days (0: kept) are deleted by store_expire. */
int store_set_limits(struct store *s, int max_mb, int retention_days);

/* Appends one poll of a device: it is held in memory with its seq (no write) and published from
 * there; acknowledged within SPILL_MS (1 s) it is never written. Otherwise it is spilled to the
 * file (store_spill) as one outbox row whose body holds its values. Points of quality Q_OFFLINE
 * in a partial poll keep a NULL value. */
int store_append_reading(struct store *s, const struct device *d, const struct msg *m, int64_t *seq_out);

/* The same for a reading row that holds only some points of its poll (report by exception, the
 * others Q_UNREAD in m): snapshot_ts is the poll time of the device's last full snapshot, kept
 * with the row for its message. 0 makes it a full snapshot, as store_append_reading. */
int store_append_partial(struct store *s, const struct device *d, const struct msg *m, int64_t snapshot_ts,
                         int64_t *seq_out);

/* Milliseconds until the oldest reading held in memory is due to be spilled; -1 when none is
 * held (then no timer is needed). */
int store_spill_due_in(const struct store *s, int64_t now_mono_ms);
/* Writes every reading held in memory to the file in one transaction, committed. 0 or -1 (they
 * stay held and are tried again). store_close spills too: a clean stop loses nothing. */
int store_spill(struct store *s);

struct store_memory_stats {
    int64_t held;             /* readings in memory not yet acknowledged nor written */
    int64_t bytes;            /* the tier's memory */
    uint64_t spills, spilled; /* transactions that wrote readings from memory, and those readings */
    uint64_t acked;           /* readings acknowledged from memory: never written */
    uint64_t dropped;         /* readings dropped from a full tier the file would not take */
};
void store_memory_stats(const struct store *s, struct store_memory_stats *out);

/* The seqs that may have been handed out and lost in the last unclean stop: [from, to], both 0
 * when the last stop was clean. Told once at start in a seq_skipped event. */
void store_skipped(const struct store *s, int64_t *from, int64_t *to);

/* Appends an event row (device state change, missing point, alert event...) with a JSON
 * object body; d may be NULL for gateway-wide events. */
int store_append_event(struct store *s, const struct device *d, enum outbox_kind kind, int64_t ts_ms,
                       const char *json_body, int64_t *seq_out);

/* Commits the open transaction, if any. On failure the transaction is rolled back, its rows
 * counted as lost (their seqs are not handed out again: the readings in memory may hold
 * higher ones) and -1 returned; the caller keeps running (a full disk must not stop polling). */
int store_commit(struct store *s);

/* True while a transaction is open (rows appended or rows marked sent). */
int store_in_transaction(const struct store *s);
/* True when the open transaction holds rows to commit promptly (events, states, alerts, marks). */
int store_durable_pending(const struct store *s);
/* Rows appended since the last commit, and the monotonic ms when the transaction began. */
int store_pending_rows(const struct store *s);
int64_t store_pending_since_ms(const struct store *s);

/* The last seq handed out, and the highest that may be published: every row below it is
 * committed or a reading held in memory (publishable at once), never a row of another kind
 * still uncommitted. */
int64_t store_last_seq(const struct store *s);
int64_t store_committed_seq(const struct store *s);

/* Transactions rolled back since open: a publisher that sees it change takes the outbox again
 * from the start, since acknowledgements written in them were lost. */
uint64_t store_rollbacks(const struct store *s);

/* ---- outbox ---- */

struct outbox_value {
    const char *point;
    double value; /* meaningful when quality is Q_OK */
    int quality;  /* enum quality */
};

/* One unsent message. Pointers stay valid until the next store_fetch_unsent or store_close. */
struct outbox_row {
    int64_t seq;
    enum outbox_kind kind;
    int64_t ts_ms;
    const char *device; /* name; NULL for gateway-wide events */
    const char *body;   /* JSON object of non-reading kinds; NULL for readings */
    int nvalues;
    const struct outbox_value *values;
    /* Readings (report by exception): full when the row holds every point read in its poll;
     * snapshot_ts the poll time of the device's last full snapshot (ts_ms when full). */
    int full;
    int64_t snapshot_ts;
    /* Readings: taken while the wall clock was not synchronized (timebase.h): ts_ms is held time,
     * to be corrected by the step a clock_synchronized event announces. */
    bool clock_unsynced;
};

/* Where a publisher is in the outbox: the highest seq it has taken of each class. Zero it to
 * take every unsent row again (after a reconnect: rows in flight were never acknowledged). */
struct outbox_cursor {
    int64_t event; /* every kind but readings */
    int64_t reading;
};

/* Fills rows[0..max) with unsent committed rows past the cursor: events and alerts first, then
 * readings, each oldest first, and moves the cursor past them. Returns the count, or -1. */
int store_fetch_unsent(struct store *s, struct outbox_cursor *c, struct outbox_row *rows, int max);

/* Marks a row sent (its PUBACK arrived). Consecutive seqs are written as one range in the open
 * transaction, so the mark is durable at the next group commit; a crash before it means the
 * row is sent again (at-least-once). A seq already evicted is ignored. */
int store_mark_sent(struct store *s, int64_t seq);

/* Unsent rows (the backlog), and the seq and time of the oldest (0 when none). */
struct store_backlog {
    int64_t rows;
    int64_t oldest_seq;
    int64_t oldest_ts_ms;
};
int store_backlog(struct store *s, struct store_backlog *out);

/* ---- retention and health ---- */

struct store_usage {
    int64_t used_bytes; /* pages in use (not on the free list) x page size */
    int64_t file_bytes;
    int64_t max_bytes;      /* 0: no limit */
    int64_t evicted_unsent; /* readings evicted before they were sent, over the file's life */
    int64_t evicted_sent;   /* since open */
    int64_t expired;        /* sent rows past retention_days, since open */
    uint64_t write_errors;  /* inserts or commits that failed, since open */
    uint64_t lost_rows;     /* messages in transactions that were rolled back, since open */
    uint64_t rollbacks;     /* transactions rolled back, since open */
};
void store_usage(struct store *s, struct store_usage *out);

/* Tells the unsent readings evicted since the last buffer_overflow event now, whatever the
 * rate limit: before a stop, so no eviction goes untold. */
int store_flush_overflow(struct store *s, int64_t now_wall_ms);

/* When the pages in use pass 90 % of the ceiling (max_mb, or less on a nearly full disk):
 * deletes sent readings oldest first, then unsent readings oldest first, until 80 % — never
 * events, device states or alerts. Unsent readings evicted are added to the persistent count
 * and told in a "buffer_overflow" event row, at most one a minute. Appends check it every 64
 * rows too. Returns the number of unsent readings evicted by this call, or -1 on a write error. */
int64_t store_enforce_limits(struct store *s, int64_t now_wall_ms);

/* Deletes up to max sent rows older than retention_days; returns how many, or -1. */
int64_t store_expire(struct store *s, int64_t now_wall_ms, int max);

/* ---- alerts and report days ----
 * Written in the open group-commit transaction, with the outbox rows of the same change, so
 * a commit keeps both or neither. */

/* One alert as its row: state is "raised", "acknowledged" or "cleared"; empty strings and zero
 * times are stored as NULL; json is the whole record, read back at start. */
struct store_alert {
    const char *id, *device, *rule, *severity, *state;
    int64_t raised_ts;
    const char *acked_by;
    int64_t acked_ts;
    int escalation;
    const char *contract;
    int64_t respond_by_ts;
    int64_t cleared_ts;
    const char *json;
};
int store_put_alert(struct store *s, const struct store_alert *a);

/* Calls fn with the json of every alert not cleared, oldest first; fn returns 0 (or -1 to
 * stop). Returns how many rows were seen, or -1. */
typedef int (*store_alert_fn)(void *ctx, const char *json);
int store_active_alerts(struct store *s, store_alert_fn fn, void *ctx);

/* The accumulators of a device's report day (one row per device, replaced). */
int store_put_report_day(struct store *s, const char *device, int64_t day_start_ms, const char *json);
typedef int (*store_report_fn)(void *ctx, const char *device, int64_t day_start_ms, const char *json);
int store_report_days(struct store *s, store_report_fn fn, void *ctx);

/* store_expire also deletes cleared alerts older than retention_days, but never younger than
 * STORE_HISTORY_DAYS: a month's report (monthly.h) is made from them, for any of the last months. */
#define STORE_HISTORY_DAYS 100

/* ---- the month's supervision (store_visits.c) ----
 * Visits, each device's counts of each local day, and when a device was first registered. Kept
 * STORE_HISTORY_DAYS (or retention_days when longer), whatever becomes of the readings. Writes
 * go into the open group-commit transaction. */

#define VISIT_KIND_LEN 16
#define VISIT_NOTE_LEN 520

/* A visit: maintenance (an elevator's inspection mode, start to end) or a patrol or cleaning
 * (a point in time: start == end). end_ts 0: under way. by is who announced it (the
 * commander's identity), name the display name given; "" when nobody did. */
struct store_visit {
    int64_t id; /* 0: not stored yet */
    char device[NAME_MAX_LEN];
    char kind[VISIT_KIND_LEN];
    int64_t start_ts, end_ts;
    char by[NAME_MAX_LEN + 8]; /* a command's identity or name: up to 64 bytes */
    char name[NAME_MAX_LEN + 8];
    char note[VISIT_NOTE_LEN];
};
/* Inserts v (setting v->id) when v->id is 0, else rewrites the row. */
int store_put_visit(struct store *s, struct store_visit *v);
/* Visits of device (NULL: every device) that overlap [from, to) (an open one overlaps what
 * follows its start), oldest first. Returns how many, or -1. */
typedef int (*store_visit_fn)(void *ctx, const struct store_visit *v);
int store_visits(struct store *s, const char *device, int64_t from, int64_t to, store_visit_fn fn, void *ctx);
/* The end of the latest visit of device of kind that lasted at least min_ms: 0 when none. */
int store_last_long_visit(struct store *s, const char *device, const char *kind, int64_t min_ms, int64_t *end_ts);

/* One device's counts of one local day. */
struct store_device_day {
    char device[NAME_MAX_LEN];
    int64_t day_start;
    int64_t up_ms;     /* the gateway ran */
    int64_t online_ms; /* and the device answered */
    double polls_due;  /* up time / poll interval */
    int64_t polls_ok;  /* polls that read a valid value (stored) */
};
int store_put_device_day(struct store *s, const struct store_device_day *d);
/* Days with day_start in [from, to), by device then day. Returns how many, or -1. */
typedef int (*store_device_day_fn)(void *ctx, const struct store_device_day *d);
int store_device_days(struct store *s, int64_t from, int64_t to, store_device_day_fn fn, void *ctx);

/* When device was first registered: now_ms is recorded the first time it is asked. */
int store_device_since(struct store *s, const char *device, int64_t now_ms, int64_t *since);

/* The clock synchronized: the registrations and visits recorded with times in [lo, hi] (the
 * unsynchronized span, timebase.h) are moved by delta_ms, in the open transaction. */
int store_correct_times(struct store *s, int64_t lo, int64_t hi, int64_t delta_ms);

/* Alerts (their json) raised before to and not cleared before from, oldest first. */
int store_alerts_between(struct store *s, int64_t from, int64_t to, store_alert_fn fn, void *ctx);

/* A number kept under key in the store's meta table (0 when absent). */
int store_get_mark(struct store *s, const char *key, int64_t *value);
int store_set_mark(struct store *s, const char *key, int64_t value);

void store_close(struct store *s);

#endif
