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
#include "payload.h"

/* Invariants of the store:
 * - seq is strictly increasing over the life of the file, and never handed out twice even
 *   after a crash: seqs are reserved in blocks (meta 'seq_reserved', one write per SEQ_BLOCK),
 *   and a start after an unclean stop continues above the reservation.
 * - One transaction is open at most; rows become durable only at store_commit (synchronous=FULL
 *   in WAL mode: a commit survives power loss, which the outbox's delivery promise needs).
 * - Readings are held in memory first (store_memory.c) and written only when not acknowledged
 *   within SPILL_MS. The readings in memory always have higher seqs than every reading in the
 *   file (a spill takes them all), so a crash can lose only seqs above the last one stored.
 * - Rows of every other kind are published only once committed: the outbox returns nothing
 *   at or above the first uncommitted one, nor above the durable reservation.
 * - Retention evicts readings only; rows of every other kind leave the outbox by being sent.
 */

/* Seqs reserved by one durable write. */
#define SEQ_BLOCK 65536
/* A reading not acknowledged this long after it was polled is written to the file: the most a
 * power cut or a SIGKILL can take. Also the longest a reading waits in memory while the
 * broker is away, so the file gets one transaction per SPILL_MS then. */
#define SPILL_MS 1000
/* The memory tier's bounds: when either is reached it is spilled whole. */
#define MEM_ROWS 4096
#define MEM_BYTES (1 << 20)

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

/* A reading held in memory: points by their row id, so a spill needs no lookup. */
struct mem_value {
    int64_t point_row;
    double value;
    int quality;
};

enum mem_state {
    MEM_HELD,    /* only here */
    MEM_ACKED,   /* the broker has it: dropped, never written */
    MEM_SPILLED, /* inserted in the open transaction: dropped when it commits */
};

struct mem_reading {
    int64_t seq, ts_ms, born_ms; /* born: monotonic ms when appended */
    int64_t snapshot_ts;         /* report by exception: 0 for a full snapshot (store_append_partial) */
    int flags;                   /* STORE_FLAG_*: the outbox row's flags column */
    int device;                  /* device->index */
    int nvalues;
    enum mem_state state;
    struct mem_value *v;
};

/* Readings in seq order: a ring of MEM_ROWS, oldest at head. */
struct mem_tier {
    struct mem_reading *ring;
    int head, n;
    int held; /* entries MEM_HELD */
    size_t bytes;
    uint64_t spills, spilled, acked, dropped;
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *ins_outbox, *mark_range;
    sqlite3_stmt *put_alert, *put_report;
    sqlite3_stmt *fetch_events, *fetch_readings, *fetch_values;
    sqlite3_stmt *set_meta;
    int64_t last_seq;
    int64_t committed_seq;                /* last_seq as of the last successful commit */
    int64_t reserved, reserved_committed; /* meta 'seq_reserved': in the transaction, durable */
    int64_t first_pending_durable;        /* lowest seq of a non-reading row not committed; 0 none */
    int pending_durable;                  /* rows in the transaction that must be committed promptly */
    struct mem_tier mem;
    int running;                      /* marked running in the file: a close marks the stop clean */
    int64_t skipped_from, skipped_to; /* seqs told in a seq_skipped event at open; 0 none */
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

/* ---- the memory tier (store_memory.c) ---- */
/* Holds one poll with the given seq; spills the tier first when it is full. 0 or -1. */
int store__mem_put(struct store *s, const struct device *d, const struct msg *m, int64_t seq, int64_t snapshot_ts);
/* Fills rows[first..max) with held readings of seq in (after, upto], values copied into the
 * fetch buffers; returns the new count. */
int store__mem_fetch(struct store *s, int64_t after, int64_t upto, struct outbox_row *rows, int first, int max);
/* An acknowledgement of a held reading: 1 when it was one (now dropped), 0 when the seq is not
 * held here (stored, or spilled in the open transaction). */
int store__mem_ack(struct store *s, int64_t seq);
/* After a commit: spilled readings are durable and leave memory. After a rollback: they are held
 * again. */
void store__mem_committed(struct store *s);
void store__mem_rolled_back(struct store *s);
/* The oldest held reading (seq, ts), and how many are held; 0 when none. */
int store__mem_oldest(const struct store *s, int64_t *seq, int64_t *ts_ms);
void store__mem_free(struct store *s);
/* A poll's values in the compact form of an outbox row's body: [[point_id,value],...], a point
 * not ok as [point_id,null,quality]. */
int store__encode_values(struct jbuf *out, const struct mem_value *v, int n);
/* Reads the body back into the fetch buffers; the values read, or -1 on a malformed body. */
int store__decode_values(struct store *s, const char *body);

/* Grows *buf to hold need elements of elem bytes, doubling. 0 or -1. */
int store__grow(void **buf, size_t *cap, size_t need, size_t elem);
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
/* One outbox row in the open transaction; an SQLite result code. */
int store__insert_outbox(struct store *s, enum outbox_kind kind, int device, int64_t ts, const char *body,
                         int64_t *seq_out);
/* The same with a seq already handed out (a reading spilled from memory). */
int store__insert_at(struct store *s, int64_t seq, enum outbox_kind kind, int device, int64_t ts, const char *body,
                     int64_t snapshot_ts, int flags);
/* Bits of the outbox's flags column. */
#define STORE_FLAG_CLOCK_UNSYNCED 1
/* Writes a new reservation in the transaction when the next seq is past the current one. */
int store__reserve(struct store *s);
/* The next seq, its reservation written in the transaction when the block is used up. 0 or -1. */
int store__next_seq(struct store *s, int64_t *seq);
/* After a write refused for a full file: evicts (deeper at each attempt) and commits. 1 when
 * room was made and the write may be tried again, 0 when there is nothing more to try. */
int store__make_room(struct store *s, int attempt, int64_t now_wall_ms);
/* One meta row in the open transaction (or on its own when none is open). An SQLite code. */
int store__set_meta(struct store *s, const char *key, int64_t value);
/* Where rows stop being publishable: below the first uncommitted durable row and within the
 * durable reservation. */
int64_t store__horizon(const struct store *s);
/* The ceiling in pages (max_mb or the disk's), measured now; sets s->cap_pages. */
int64_t store__ceiling(struct store *s);
/* Brings the pages in use down to target_pages; the readings evicted, or -1. */
int64_t store__evict(struct store *s, int64_t target_pages, int64_t now_wall_ms);
/* The name of a device or point row, "" when unknown. */
const char *store__name_of(const struct name_table *t, int64_t id);
void store__names_free(struct name_table *t);

#endif
