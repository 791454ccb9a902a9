/* store_internal: what the store's files share — the handle, its limits, and the few steps
 * (statements, the transaction, eviction) more than one of them takes. Not for other modules. */
#ifndef CARETAKER_STORE_INTERNAL_H
#define CARETAKER_STORE_INTERNAL_H

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "store.h"
#include "array.h"

/* Invariants of the store:
 * - seq is strictly increasing over the life of the file: it is max(outbox.seq) restored at open,
 *   and meta 'last_seq' is kept so deleting old rows never lets a seq be handed out twice.
 * - One transaction is open at most; rows become durable only at store_commit (synchronous=FULL
 *   in WAL mode: a commit survives power loss, which the outbox's delivery promise needs).
 * - A seq above committed_seq may be rolled back and handed out again with other data, so the
 *   outbox never returns one: only committed rows may be published.
 * - Retention evicts readings only; rows of every other kind leave the outbox by being sent.
 */

/* Eviction starts when pages in use pass HIGH % of max_mb and stops at LOW %: the gap makes
 * it run in occasional batches, not on every commit. Usage is checked every CHECK_EVERY rows
 * appended, so a transaction reaches the hard ceiling (where SQLite rolls the whole
 * transaction back with SQLITE_FULL) only with rows larger than the headroom. */
#define EVICT_HIGH_PCT 90
#define EVICT_LOW_PCT 80
#define CHECK_EVERY 64
#define EVICT_CHUNK_MIN 64
#define EVICT_CHUNK_MAX (1 << 17)
/* Free space kept on the filesystem for the WAL to take one commit's frames and an eviction's:
 * a commit that cannot grow the WAL is rolled back and its rows are lost, so the store gives
 * up its oldest readings before the disk is that full. Below DISK_TIGHT free, the WAL is
 * checkpointed after every commit so it restarts from its beginning instead of growing. */
#define DISK_RESERVE_BYTES (256 * 1024)
#define DISK_TIGHT_BYTES (4 * 1048576)
#define OVERFLOW_EVENT_EVERY_MS 60000

/* Names of rows by id (SQLite rowids of devices and points are small and dense). */
struct name_table {
    char **names;
    int64_t n;
};

/* Where one fetched row's body and values sit in the fetch buffers, until pointers are fixed. */
struct fetch_slot {
    size_t body_off; /* in arena; SIZE_MAX: none */
    size_t val_off;  /* in vals */
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *ins_outbox, *ins_reading, *set_last_seq, *mark_range;
    sqlite3_stmt *put_alert, *put_report;
    sqlite3_stmt *fetch_events, *fetch_readings, *fetch_values;
    int64_t last_seq;
    int64_t committed_seq; /* last_seq as of the last successful commit */
    int in_tx;
    int pending;      /* rows (outbox and readings) in the open transaction */
    int pending_msgs; /* outbox rows among them: what a rollback loses */
    int64_t pending_since;
    int ndevices;
    int64_t *device_row; /* by device->index */
    int64_t **point_row; /* by device->index, point index */
    struct name_table dev_names, point_names;
    char moved_aside[PATH_MAX_LEN + 48]; /* where a corrupt file found at open went; "" if none */
    char corruption[160];                /* what SQLite said of it */
    int64_t mark_lo, mark_hi;            /* seqs acknowledged, not yet written; 0 when none */
    /* limits */
    int64_t page_size, max_pages;
    int64_t cap_pages; /* the ceiling eviction aims under now: max_pages or the disk's */
    int disk_tight;
    int retention_days;
    /* counters */
    int64_t evicted_unsent, evicted_unsent_committed, evicted_sent, expired;
    uint64_t write_errors, lost_rows, rollbacks;
    struct complaint write_complaint; /* a full disk fails every write: log at growing intervals */
    /* Unsent readings evicted and not yet told in a buffer_overflow event: on a nearly full disk
     * eviction runs every few commits, and one event a minute says it all. */
    struct complaint overflow_complaint;
    int64_t overflow_n, overflow_first_ts, overflow_last_ts, next_overflow_event_ms;
    int64_t overflow_n_committed, overflow_first_ts_committed, overflow_last_ts_committed;
    /* fetch buffers, reused */
    struct outbox_value *vals;
    size_t nvals, vals_cap;
    char *arena;
    size_t arena_len, arena_cap;
    struct fetch_slot *slots;
    size_t slots_cap;
};

/* Runs sql (no rows wanted); on failure err says what the store could not do. */
int store__exec(struct store *s, const char *sql, struct diag *err);
/* The first column of the first row of sql. 0, or -1. */
int store__query_int(struct store *s, const char *sql, int64_t *out);
/* sqlite3_step then reset; returns the step's result code. */
int store__step_reset(sqlite3_stmt *st);
/* Opens the group-commit transaction when none is open. */
int store__begin(struct store *s);
/* After a failed statement: when SQLite rolled the transaction back, count what it took. */
void store__check_rolled_back(struct store *s);
/* A write that failed: counted and logged at growing intervals. Returns -1. */
int store__write_failed(struct store *s, int rc, const char *what);
/* Writes the acknowledged range [mark_lo, mark_hi] as sent. */
int store__flush_marks(struct store *s);
/* One outbox row in the open transaction; an SQLite result code. snapshot_ts: 0, or that of a
 * reading row holding part of its poll (store_append_partial). */
int store__insert_outbox(struct store *s, enum outbox_kind kind, int device, int64_t ts, const char *body,
                         int64_t snapshot_ts, int64_t *seq_out);
/* The ceiling in pages (max_mb or the disk's), measured now; sets s->cap_pages. */
int64_t store__ceiling(struct store *s);
/* Brings the pages in use down to target_pages; the readings evicted, or -1. */
int64_t store__evict(struct store *s, int64_t target_pages, int64_t now_wall_ms);
/* The name of a device or point row, "" when unknown. */
const char *store__name_of(const struct name_table *t, int64_t id);
void store__names_free(struct name_table *t);

#endif
