/* store: SQLite schema, migrations, group commit, the outbox and its retention.
 *
 * Invariants:
 * - seq is strictly increasing over the life of the file: it is max(outbox.seq) restored at open,
 *   and meta 'last_seq' is kept so deleting old rows never lets a seq be handed out twice.
 * - One transaction is open at most; rows become durable only at store_commit (synchronous=FULL
 *   in WAL mode: a commit survives power loss, which the outbox's delivery promise needs).
 * - A seq above committed_seq may be rolled back and handed out again with other data, so the
 *   outbox never returns one: only committed rows may be published.
 * - Retention evicts readings only; rows of every other kind leave the outbox by being sent.
 */
#include "store.h"

#include <inttypes.h>
#include <errno.h>
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
    size_t body_off;   /* in arena; SIZE_MAX: none */
    size_t val_off;    /* in vals */
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *ins_outbox, *ins_reading, *set_last_seq, *mark_range;
    sqlite3_stmt *put_alert, *put_report;
    sqlite3_stmt *fetch_events, *fetch_readings, *fetch_values;
    int64_t last_seq;
    int64_t committed_seq;  /* last_seq as of the last successful commit */
    int in_tx;
    int pending;            /* rows (outbox and readings) in the open transaction */
    int pending_msgs;       /* outbox rows among them: what a rollback loses */
    int64_t pending_since;
    int ndevices;
    int64_t *device_row;      /* by device->index */
    int64_t **point_row;      /* by device->index, point index */
    struct name_table dev_names, point_names;
    char moved_aside[PATH_MAX_LEN + 48]; /* where a corrupt file found at open went; "" if none */
    char corruption[160];                /* what SQLite said of it */
    int64_t mark_lo, mark_hi; /* seqs acknowledged, not yet written; 0 when none */
    /* limits */
    int64_t page_size, max_pages;
    int64_t cap_pages;      /* the ceiling eviction aims under now: max_pages or the disk's */
    int disk_tight;
    int retention_days;
    /* counters */
    int64_t evicted_unsent, evicted_unsent_committed, evicted_sent, expired;
    uint64_t write_errors, lost_rows, rollbacks;
    struct complaint write_complaint;  /* a full disk fails every write: log at growing intervals */
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

/* Each entry moves the schema from version i to i+1. Never edit a released entry: add one. */
static const char *const migrations[] = {
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE devices(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, driver TEXT,"
    "  location TEXT);"
    "CREATE TABLE points(id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id),"
    "  name TEXT NOT NULL, unit TEXT, UNIQUE(device_id, name));"
    /* One row per MQTT message: a poll of a device, a state change, an event. */
    "CREATE TABLE outbox(seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, device_id INTEGER,"
    "  ts INTEGER NOT NULL, sent INTEGER NOT NULL DEFAULT 0, body TEXT);"
    "CREATE INDEX outbox_unsent ON outbox(seq) WHERE sent = 0;"
    /* quality: 0 ok, 1 invalid (NaN, out of range), 2 offline (read failed); value NULL unless ok. */
    "CREATE TABLE readings(seq INTEGER NOT NULL, point_id INTEGER NOT NULL, value REAL,"
    "  quality INTEGER NOT NULL, PRIMARY KEY(seq, point_id)) WITHOUT ROWID;"
    "CREATE VIEW reading_values AS SELECT o.seq, d.name AS device, p.name AS point, o.ts,"
    "  r.value, r.quality FROM readings r JOIN outbox o ON o.seq = r.seq"
    "  JOIN points p ON p.id = r.point_id JOIN devices d ON d.id = p.device_id;",
    /* The publisher takes events before readings, each oldest first: an index by (kind, seq)
     * over unsent rows serves both, and the count of the backlog. */
    "DROP INDEX outbox_unsent;"
    "CREATE INDEX outbox_unsent_kind ON outbox(kind, seq) WHERE sent = 0;",
    /* Alerts: one row per alert, kept up to date in the transaction of its events, so the active
     * ones come back after a restart exactly as their last published event left them. json is
     * the whole record (alert_to_json); the columns are for people and `caretaker status`.
     * report_day: each device's accumulators of the local day under way (reports.h). */
    "CREATE TABLE alerts(id TEXT PRIMARY KEY, device TEXT NOT NULL, rule TEXT NOT NULL,"
    "  severity TEXT NOT NULL, state TEXT NOT NULL, raised_ts INTEGER NOT NULL, acked_by TEXT,"
    "  acked_ts INTEGER, escalation INTEGER NOT NULL DEFAULT 0, contract TEXT, respond_by_ts INTEGER,"
    "  cleared_ts INTEGER, json TEXT NOT NULL);"
    "CREATE INDEX alerts_active ON alerts(raised_ts) WHERE cleared_ts IS NULL;"
    "CREATE TABLE report_day(device TEXT PRIMARY KEY, day_start INTEGER NOT NULL, json TEXT NOT NULL)"
    "  WITHOUT ROWID;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

static int exec(struct store *s, const char *sql, struct diag *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        diag_set(err, "store %s: %s", sqlite3_db_filename(s->db, "main"), msg ? msg : "error");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int query_int(struct store *s, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int migrate(struct store *s, struct diag *err)
{
    int64_t version;
    if (query_int(s, "PRAGMA user_version", &version) < 0) {
        diag_set(err, "store: cannot read schema version: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    if (version > SCHEMA_VERSION) {
        diag_set(err, "store %s: schema version %lld is newer than this Caretaker knows (%d); refusing to touch it",
                 sqlite3_db_filename(s->db, "main"), (long long)version, SCHEMA_VERSION);
        return -1;
    }
    for (int v = (int)version; v < SCHEMA_VERSION; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d;", v + 1);
        if (exec(s, "BEGIN IMMEDIATE", err) < 0)
            return -1;
        if (exec(s, migrations[v], err) < 0 || exec(s, pragma, err) < 0) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        if (exec(s, "COMMIT", err) < 0)
            return -1;
        if (version > 0)
            log_notice("store: schema migrated to version %d", v + 1);
    }
    return 0;
}

static int prepare(struct store *s, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK ? 0 : -1;
}

/* SQLite's word for a file that is damaged or is not a database at all: the only failures that
 * move the file aside. Anything else (permissions, a lock, a newer schema) refuses to start. */
static int corruption_code(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

/* Every page read once: a power cut or a stray write leaves damage that plain queries only
 * meet when they reach the page, maybe in the middle of the night; at open it can still be
 * handled whole. Costs one sequential read of the file. */
static int check_pages(struct store *s, struct diag *err, int *corrupt)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        if (r && strcmp(r, "ok") == 0) {
            sqlite3_finalize(st);
            return 0;
        }
        diag_set(err, "store %s: damaged: %s", sqlite3_db_filename(s->db, "main"), r ? r : "?");
        *corrupt = 1;
    } else {
        diag_set(err, "store %s: cannot check its pages: %s", sqlite3_db_filename(s->db, "main"),
                 sqlite3_errmsg(s->db));
        *corrupt = corruption_code(sqlite3_errcode(s->db));
    }
    sqlite3_finalize(st);
    return -1;
}

static struct store *open_at(const char *path, struct diag *err, int *corrupt, bool pages)
{
    struct store *s = calloc(1, sizeof *s);
    *corrupt = 0;
    if (!s) {
        diag_set(err, "store: out of memory");
        return NULL;
    }
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        diag_set(err, "store %s: cannot open: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* WAL lets `caretaker status` read while we write; FULL makes each group commit durable. */
    if (exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err) < 0 ||
        (pages && check_pages(s, err, corrupt) < 0) || migrate(s, err) < 0)
        goto fail;
    int64_t max_seq = 0, meta_seq = 0;
    if (query_int(s, "SELECT max(seq) FROM outbox", &max_seq) < 0 ||
        query_int(s, "SELECT value FROM meta WHERE key = 'last_seq'", &meta_seq) < 0 ||
        query_int(s, "SELECT value FROM meta WHERE key = 'evicted_unsent'", &s->evicted_unsent) < 0 ||
        query_int(s, "PRAGMA page_size", &s->page_size) < 0) {
        diag_set(err, "store %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    s->evicted_unsent_committed = s->evicted_unsent;
    s->last_seq = max_seq > meta_seq ? max_seq : meta_seq;
    s->committed_seq = s->last_seq;
    if (prepare(s, "INSERT INTO outbox(seq, kind, device_id, ts, body) VALUES(?,?,?,?,?)", &s->ins_outbox) ||
        prepare(s, "INSERT INTO readings(seq, point_id, value, quality) VALUES(?,?,?,?)", &s->ins_reading) ||
        prepare(s, "INSERT OR REPLACE INTO meta(key, value) VALUES('last_seq', ?)", &s->set_last_seq) ||
        prepare(s, "UPDATE outbox SET sent = 1 WHERE seq BETWEEN ?1 AND ?2 AND sent = 0", &s->mark_range) ||
        prepare(s,
                "SELECT seq, kind, device_id, ts, body FROM outbox WHERE sent = 0 AND kind IN (2, 3, 4, 5)"
                " AND seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
                &s->fetch_events) ||
        prepare(s,
                "SELECT seq, device_id, ts FROM outbox WHERE sent = 0 AND kind = 1 AND seq > ?1 AND seq <= ?2"
                " ORDER BY seq LIMIT ?3",
                &s->fetch_readings) ||
        prepare(s, "SELECT seq, point_id, value, quality FROM readings WHERE seq BETWEEN ?1 AND ?2",
                &s->fetch_values) ||
        prepare(s,
                "INSERT OR REPLACE INTO alerts(id, device, rule, severity, state, raised_ts, acked_by, acked_ts,"
                " escalation, contract, respond_by_ts, cleared_ts, json) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                &s->put_alert) ||
        prepare(s, "INSERT OR REPLACE INTO report_day(device, day_start, json) VALUES(?,?,?)", &s->put_report)) {
        diag_set(err, "store %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    return s;
fail:
    if (!*corrupt && s->db)
        *corrupt = corruption_code(sqlite3_errcode(s->db));
    /* Closing would checkpoint the WAL into the damaged file: it goes aside as it was found. */
    if (*corrupt && s->db)
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    store_close(s);
    return NULL;
}

/* The highest seq a damaged file still shows, read without writing to it; 0 when none can be
 * read. */
static int64_t salvage_seq(const char *path)
{
    sqlite3 *db = NULL;
    int64_t best = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        static const char *const q[] = {"SELECT max(seq) FROM outbox", "SELECT value FROM meta WHERE key = 'last_seq'"};
        for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
            sqlite3_stmt *st;
            if (sqlite3_prepare_v2(db, q[i], -1, &st, NULL) != SQLITE_OK)
                continue;
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > best)
                best = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
        }
    }
    sqlite3_close(db);
    return best;
}

/* The file and its WAL go beside the store under one new name, bytes untouched, for a later
 * look; the shared-memory index is rebuilt from them by whoever opens them, so it goes. */
static int move_aside(const char *path, char *moved, size_t n, struct diag *err)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    for (int i = 0;; i++) {
        if (i == 0)
            snprintf(moved, n, "%s.corrupt-%s", path, stamp);
        else
            snprintf(moved, n, "%s.corrupt-%s-%d", path, stamp, i);
        if (access(moved, F_OK) != 0)
            break;
        if (i == 99) {
            diag_set(err, "store %s: corrupt, and no free name to move it aside", path);
            return -1;
        }
    }
    if (rename(path, moved) != 0) {
        diag_set(err, "store %s: corrupt, and cannot move it aside to %s: %s", path, moved, strerror(errno));
        return -1;
    }
    char from[PATH_MAX_LEN + 8], to[PATH_MAX_LEN + 56];
    snprintf(from, sizeof from, "%s-wal", path);
    snprintf(to, sizeof to, "%s-wal", moved);
    if (rename(from, to) != 0 && errno != ENOENT)
        log_warn("store: cannot move %s aside to %s: %s", from, to, strerror(errno));
    snprintf(from, sizeof from, "%s-shm", path);
    unlink(from);
    return 0;
}

/* A fresh store could not be made: the corrupt file goes back to its path, so the next start
 * meets it again (and moves it aside again) instead of starting seqs over from 1 in a file
 * that no longer knows them. */
static void put_back(const char *path, const char *moved)
{
    char a[PATH_MAX_LEN + 56], b[PATH_MAX_LEN + 8];
    for (int i = 0; i < 3; i++) {
        snprintf(b, sizeof b, "%s%s", path, i == 0 ? "" : i == 1 ? "-wal" : "-shm");
        unlink(b);
    }
    if (rename(moved, path) != 0)
        log_err("store %s: cannot put the corrupt file %s back: %s", path, moved, strerror(errno));
    snprintf(a, sizeof a, "%s-wal", moved);
    snprintf(b, sizeof b, "%s-wal", path);
    rename(a, b);
}

/* A fresh store after a corrupt one must not hand out a seq the old one may have published:
 * consumers that drop a (gateway, seq) they have seen would drop new data. It starts above
 * what could be read of the old file and above the wall clock in microseconds, which no seq
 * can pass (a box writes far fewer than a million rows a second). */
static int64_t seq_floor(int64_t salvaged)
{
    int64_t floor = salvaged;
    int64_t wall_ms = clock_wall_ms();
    if (wall_ms > INT64_C(1600000000000) && wall_ms * 1000 > floor) /* a clock that was ever set */
        floor = wall_ms * 1000;
    return floor;
}

static int open_store(const char *path, bool pages, struct store **out, struct diag *err)
{
    int corrupt = 0;
    struct store *s = open_at(path, err, &corrupt, pages);
    if (!s && corrupt) {
        char what[sizeof err->msg];
        memcpy(what, err->msg, sizeof what);
        int64_t salvaged = salvage_seq(path);
        char moved[sizeof s->moved_aside];
        if (move_aside(path, moved, sizeof moved, err) < 0)
            return -1;
        log_err("store %s: corrupt (%s): moved aside to %s; starting a fresh store", path, what, moved);
        s = open_at(path, err, &corrupt, true);
        if (!s) {
            put_back(path, moved);
            return -1;
        }
        snprintf(s->moved_aside, sizeof s->moved_aside, "%s", moved);
        snprintf(s->corruption, sizeof s->corruption, "%.150s", what);
        int64_t floor = seq_floor(salvaged);
        if (floor > s->last_seq) {
            char sql[96];
            snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta(key, value) VALUES('last_seq', %lld)",
                     (long long)floor);
            if (exec(s, sql, err) < 0) {
                store_close(s);
                put_back(path, moved);
                return -1;
            }
            s->last_seq = s->committed_seq = floor;
        }
        log_notice("store %s: fresh store continues after seq %lld", path, (long long)s->last_seq);
    }
    if (!s)
        return -1;
    *out = s;
    return 0;
}

int store_open(const char *path, struct store **out, struct diag *err)
{
    return open_store(path, true, out, err);
}

int store_reopen(const char *path, struct store **out, struct diag *err)
{
    return open_store(path, false, out, err);
}

const char *store_moved_aside(const struct store *s, const char **why)
{
    if (why)
        *why = s->corruption;
    return s->moved_aside[0] ? s->moved_aside : NULL;
}

static int64_t upsert_id(sqlite3 *db, const char *insert_sql, const char *select_sql, const char *a, const char *b,
                         const char *c, int64_t parent)
{
    sqlite3_stmt *st = NULL;
    int64_t id = -1;
    if (sqlite3_prepare_v2(db, insert_sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (parent >= 0) {
        sqlite3_bind_int64(st, 1, parent);
        sqlite3_bind_text(st, 2, a, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, b, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, c, -1, SQLITE_STATIC);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (sqlite3_prepare_v2(db, select_sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (parent >= 0) {
        sqlite3_bind_int64(st, 1, parent);
        sqlite3_bind_text(st, 2, a, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

static void names_free(struct name_table *t)
{
    for (int64_t i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    t->names = NULL;
    t->n = 0;
}

/* Loads every name of a table, configured or not: old rows of a removed device still go out
 * under the name they were read with. */
static int names_load(struct store *s, const char *table, struct name_table *t)
{
    char sql[96];
    int64_t max_id = 0;
    snprintf(sql, sizeof sql, "SELECT max(id) FROM %s", table);
    if (query_int(s, sql, &max_id) < 0 || max_id < 0 || max_id > 10000000)
        return -1;
    names_free(t);
    t->names = calloc((size_t)max_id + 1, sizeof *t->names);
    if (!t->names)
        return -1;
    t->n = max_id + 1;
    sqlite3_stmt *st;
    snprintf(sql, sizeof sql, "SELECT id, name FROM %s", table);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        if (id >= 0 && id < t->n && name && !t->names[id] && !(t->names[id] = strdup(name)))
            rc = SQLITE_NOMEM;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static const char *name_of(const struct name_table *t, int64_t id)
{
    return id >= 0 && id < t->n && t->names[id] ? t->names[id] : "unknown";
}

int store_register(struct store *s, const struct config *cfg, struct diag *err)
{
    if (exec(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    s->ndevices = cfg->ndevices;
    s->device_row = calloc((size_t)cfg->ndevices + 1, sizeof *s->device_row);
    s->point_row = calloc((size_t)cfg->ndevices + 1, sizeof *s->point_row);
    if (!s->device_row || !s->point_row)
        goto fail;
    for (int i = 0; i < cfg->ndevices; i++) {
        const struct device *d = cfg->devices[i];
        s->device_row[i] = upsert_id(
            s->db,
            "INSERT INTO devices(name, driver, location) VALUES(?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET "
            "driver = excluded.driver, location = excluded.location",
            "SELECT id FROM devices WHERE name = ?1", d->id, d->driver, d->location, -1);
        if (s->device_row[i] < 0)
            goto fail;
        const struct profile *p = d->profile;
        s->point_row[i] = calloc((size_t)p->npoints + 1, sizeof(int64_t));
        if (!s->point_row[i])
            goto fail;
        for (int k = 0; k < p->npoints; k++) {
            s->point_row[i][k] = upsert_id(
                s->db,
                "INSERT INTO points(device_id, name, unit) VALUES(?1, ?2, ?3) ON CONFLICT(device_id, name) "
                "DO UPDATE SET unit = excluded.unit",
                "SELECT id FROM points WHERE device_id = ?1 AND name = ?2", p->points[k].name,
                p->points[k].unit, NULL, s->device_row[i]);
            if (s->point_row[i][k] < 0)
                goto fail;
        }
    }
    if (names_load(s, "devices", &s->dev_names) < 0 || names_load(s, "points", &s->point_names) < 0)
        goto fail;
    return exec(s, "COMMIT", err);
fail:
    diag_set(err, "store: cannot register devices: %s", sqlite3_errmsg(s->db));
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int store_set_limits(struct store *s, int max_mb, int retention_days)
{
    s->retention_days = retention_days > 0 ? retention_days : 0;
    s->max_pages = 0;
    if (max_mb <= 0 || s->page_size <= 0)
        return 0;
    int64_t want = (int64_t)max_mb * 1048576 / s->page_size;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %" PRId64, want);
    int64_t got = 0;
    /* A hard ceiling: past it an insert fails with SQLITE_FULL and evicts at once. A file
     * already larger (max_mb lowered) keeps its size and is emptied down to the limit. */
    if (query_int(s, sql, &got) < 0)
        return -1;
    s->max_pages = want;
    return 0;
}

/* A failed statement may have rolled the whole transaction back (SQLITE_FULL, IOERR, NOMEM do):
 * its rows are gone and their seqs free again, and acknowledgements written in it are lost. */
static void rolled_back(struct store *s)
{
    if (s->pending_msgs)
        log_err("store: %d messages lost in a rolled-back transaction", s->pending_msgs);
    s->lost_rows += (uint64_t)s->pending_msgs;
    s->rollbacks++;
    s->in_tx = 0;
    s->pending = 0;
    s->pending_msgs = 0;
    s->last_seq = s->committed_seq;
    s->evicted_unsent = s->evicted_unsent_committed;
    s->overflow_n = s->overflow_n_committed; /* the rows evicted came back with the rollback */
    s->overflow_first_ts = s->overflow_first_ts_committed;
    s->overflow_last_ts = s->overflow_last_ts_committed;
    s->mark_lo = s->mark_hi = 0;
}

static void check_rolled_back(struct store *s)
{
    if (s->in_tx && sqlite3_get_autocommit(s->db))
        rolled_back(s);
}

static int begin_if_needed(struct store *s)
{
    if (s->in_tx)
        return 0;
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        log_err("store: cannot begin a transaction: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    s->in_tx = 1;
    s->pending = 0;
    s->pending_msgs = 0;
    s->pending_since = clock_mono_ms();
    return 0;
}

static int step_reset(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

/* Returns an SQLite result code; on success the row is in the open transaction. */
static int insert_outbox(struct store *s, enum outbox_kind kind, int device, int64_t ts, const char *body,
                         int64_t *seq_out)
{
    int64_t seq = s->last_seq + 1;
    sqlite3_stmt *st = s->ins_outbox;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int(st, 2, (int)kind);
    if (device >= 0 && device < s->ndevices)
        sqlite3_bind_int64(st, 3, s->device_row[device]);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_int64(st, 4, ts);
    if (body)
        sqlite3_bind_text(st, 5, body, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    int rc = step_reset(st);
    if (rc != SQLITE_DONE)
        return rc;
    s->last_seq = seq;
    s->pending++;
    s->pending_msgs++;
    *seq_out = seq;
    return SQLITE_OK;
}

/* Takes back a row whose values could not all be written, so no half reading is ever sent. */
static void discard_row(struct store *s, int64_t seq, int values)
{
    if (!s->in_tx || sqlite3_get_autocommit(s->db))
        return;
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM readings WHERE seq = %" PRId64 "; DELETE FROM outbox WHERE seq = %" PRId64,
             seq, seq);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK) {
        s->last_seq = seq - 1;
        s->pending -= 1 + values;
        s->pending_msgs--;
    }
}

static int append_reading_once(struct store *s, const struct device *d, const struct msg *m, int64_t *seq_out)
{
    if (begin_if_needed(s) < 0)
        return SQLITE_ERROR;
    int64_t seq;
    int rc = insert_outbox(s, OUTBOX_READING, d->index, m->ts_ms, NULL, &seq);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_stmt *st = s->ins_reading;
    const int64_t *rows = s->point_row[d->index];
    int written = 0;
    for (int k = 0; k < m->npoints; k++) {
        if (m->quality[k] == 0xff) /* not part of this poll: a point the device lacks */
            continue;
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_int64(st, 2, rows[k]);
        if (m->quality[k] == Q_OK && isfinite(m->values[k]))
            sqlite3_bind_double(st, 3, m->values[k]);
        else
            sqlite3_bind_null(st, 3);
        sqlite3_bind_int(st, 4, m->quality[k] == Q_OK && !isfinite(m->values[k]) ? Q_INVALID : m->quality[k]);
        rc = step_reset(st);
        if (rc != SQLITE_DONE) {
            discard_row(s, seq, written);
            return rc;
        }
        written++;
        s->pending++;
    }
    *seq_out = seq;
    return SQLITE_OK;
}

static int64_t evict(struct store *s, int64_t target_pages, int64_t now_wall_ms);

/* The ceiling: max_mb, or less when the filesystem would fill first — the pages the file has
 * plus those the free space can still hold. Measured each time, as other files on the disk
 * come and go. */
static int64_t ceiling(struct store *s)
{
    int64_t cap = s->max_pages, pages = 0;
    struct statvfs v;
    s->disk_tight = 0;
    if (statvfs(sqlite3_db_filename(s->db, "main"), &v) == 0 && query_int(s, "PRAGMA page_count", &pages) == 0) {
        int64_t avail = (int64_t)v.f_bavail * (int64_t)v.f_frsize;
        int64_t disk_cap = pages + (avail - DISK_RESERVE_BYTES) / s->page_size;
        s->disk_tight = avail < DISK_TIGHT_BYTES;
        if (disk_cap < 1)
            disk_cap = 1;
        if (cap <= 0 || disk_cap < cap)
            cap = disk_cap;
    }
    s->cap_pages = cap;
    return cap;
}

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))
/* Where a write that hit the ceiling brings the file before it is tried again: the usual
 * low-water mark, then deeper for a row larger than the headroom. The eviction is committed
 * before the retry, so a retry that fails again does not take it back. */
static const int full_targets[] = {EVICT_LOW_PCT, 50, 0};

/* A write that failed: a full file evicts at once and is tried again; anything else (or a
 * second failure) loses this one message, counted. */
static int write_failed(struct store *s, int rc, const char *what)
{
    check_rolled_back(s);
    s->write_errors++;
    uint32_t held = 0;
    if (log_complain(&s->write_complaint, clock_mono_ms(), &held))
        log_err("store: %s failed: %s (%" PRIu64 " write errors so far)", what, sqlite3_errstr(rc), s->write_errors);
    (void)held;
    return -1;
}

int store_append_reading(struct store *s, const struct device *d, const struct msg *m, int64_t *seq_out)
{
    int64_t seq = 0;
    if (s->in_tx && s->pending_msgs % CHECK_EVERY == CHECK_EVERY - 1 && store_enforce_limits(s, m->ts_ms) < 0)
        check_rolled_back(s);
    int rc = append_reading_once(s, d, m, &seq);
    for (int i = 0; rc == SQLITE_FULL && i < NELEM(full_targets) && ceiling(s) > 0; i++) {
        check_rolled_back(s);
        if (evict(s, s->cap_pages * full_targets[i] / 100, m->ts_ms) >= 0 && store_commit(s) == 0)
            rc = append_reading_once(s, d, m, &seq);
    }
    if (rc != SQLITE_OK)
        return write_failed(s, rc, "insert reading");
    if (seq_out)
        *seq_out = seq;
    return 0;
}

int store_append_event(struct store *s, const struct device *d, enum outbox_kind kind, int64_t ts_ms,
                       const char *json_body, int64_t *seq_out)
{
    int64_t seq = 0;
    int dev = d ? d->index : -1;
    int rc = begin_if_needed(s) < 0 ? SQLITE_ERROR : insert_outbox(s, kind, dev, ts_ms, json_body, &seq);
    for (int i = 0; rc == SQLITE_FULL && i < NELEM(full_targets) && ceiling(s) > 0; i++) {
        check_rolled_back(s);
        if (evict(s, s->cap_pages * full_targets[i] / 100, ts_ms) >= 0 && store_commit(s) == 0)
            rc = begin_if_needed(s) < 0 ? SQLITE_ERROR : insert_outbox(s, kind, dev, ts_ms, json_body, &seq);
    }
    if (rc != SQLITE_OK)
        return write_failed(s, rc, "insert event");
    if (seq_out)
        *seq_out = seq;
    return 0;
}

static int flush_marks(struct store *s)
{
    if (!s->mark_hi)
        return 0;
    sqlite3_bind_int64(s->mark_range, 1, s->mark_lo);
    sqlite3_bind_int64(s->mark_range, 2, s->mark_hi);
    int rc = step_reset(s->mark_range);
    s->mark_lo = s->mark_hi = 0;
    if (rc != SQLITE_DONE) {
        /* The rows stay unsent and go out again: a duplicate, never a loss. */
        log_err("store: cannot mark rows sent: %s", sqlite3_errstr(rc));
        check_rolled_back(s);
        return -1;
    }
    return 0;
}

int store_commit(struct store *s)
{
    if (!s->in_tx)
        return 0;
    flush_marks(s);
    if (!s->in_tx) /* the flush failed and took the transaction with it */
        return -1;
    sqlite3_bind_int64(s->set_last_seq, 1, s->last_seq);
    int rc = step_reset(s->set_last_seq);
    if (rc == SQLITE_DONE)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        log_err("store: commit failed: %s", sqlite3_errmsg(s->db));
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        /* The rolled-back seqs were never published; handing them out again keeps seq gapless. */
        rolled_back(s);
        s->write_errors++;
        return -1;
    }
    s->in_tx = 0;
    s->pending = 0;
    s->pending_msgs = 0;
    s->committed_seq = s->last_seq;
    if (s->disk_tight)
        sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (log_release(&s->write_complaint))
        log_notice("store: writing again");
    s->evicted_unsent_committed = s->evicted_unsent;
    s->overflow_n_committed = s->overflow_n;
    s->overflow_first_ts_committed = s->overflow_first_ts;
    s->overflow_last_ts_committed = s->overflow_last_ts;
    return 0;
}

int store_in_transaction(const struct store *s)
{
    return s->in_tx;
}

int store_pending_rows(const struct store *s)
{
    return s->in_tx ? s->pending : 0;
}

int64_t store_pending_since_ms(const struct store *s)
{
    return s->pending_since;
}

int64_t store_last_seq(const struct store *s)
{
    return s->last_seq;
}

int64_t store_committed_seq(const struct store *s)
{
    return s->committed_seq;
}

uint64_t store_rollbacks(const struct store *s)
{
    return s->rollbacks;
}

/* ---- outbox ---- */

static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *p = realloc(*buf, n * elem);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

static size_t arena_add(struct store *s, const char *text, size_t len)
{
    if (grow((void **)&s->arena, &s->arena_cap, s->arena_len + len + 1, 1) < 0)
        return SIZE_MAX;
    size_t off = s->arena_len;
    memcpy(s->arena + off, text, len);
    s->arena[off + len] = '\0';
    s->arena_len += len + 1;
    return off;
}

static int fetch_events(struct store *s, struct outbox_cursor *c, struct outbox_row *rows, int max)
{
    sqlite3_stmt *st = s->fetch_events;
    sqlite3_bind_int64(st, 1, c->event);
    sqlite3_bind_int64(st, 2, s->committed_seq);
    sqlite3_bind_int(st, 3, max);
    int n = 0;
    while (n < max && sqlite3_step(st) == SQLITE_ROW) {
        struct outbox_row *r = &rows[n];
        memset(r, 0, sizeof *r);
        r->seq = sqlite3_column_int64(st, 0);
        r->kind = (enum outbox_kind)sqlite3_column_int(st, 1);
        r->device = sqlite3_column_type(st, 2) == SQLITE_NULL ? NULL
                                                              : name_of(&s->dev_names, sqlite3_column_int64(st, 2));
        r->ts_ms = sqlite3_column_int64(st, 3);
        const char *body = (const char *)sqlite3_column_text(st, 4);
        s->slots[n].body_off = arena_add(s, body ? body : "{}", body ? (size_t)sqlite3_column_bytes(st, 4) : 2);
        s->slots[n].val_off = 0;
        if (s->slots[n].body_off == SIZE_MAX)
            break;
        c->event = r->seq;
        n++;
    }
    sqlite3_reset(st);
    return n;
}

static int fetch_readings(struct store *s, struct outbox_cursor *c, struct outbox_row *rows, int first, int max)
{
    sqlite3_stmt *st = s->fetch_readings;
    sqlite3_bind_int64(st, 1, c->reading);
    sqlite3_bind_int64(st, 2, s->committed_seq);
    sqlite3_bind_int(st, 3, max - first);
    int n = first;
    while (n < max && sqlite3_step(st) == SQLITE_ROW) {
        struct outbox_row *r = &rows[n];
        memset(r, 0, sizeof *r);
        r->seq = sqlite3_column_int64(st, 0);
        r->kind = OUTBOX_READING;
        r->device = name_of(&s->dev_names, sqlite3_column_int64(st, 1));
        r->ts_ms = sqlite3_column_int64(st, 2);
        s->slots[n].body_off = SIZE_MAX;
        n++;
    }
    sqlite3_reset(st);
    if (n == first)
        return n;
    /* One range scan of readings for all the rows taken: values come in (seq, point_id) order,
     * the rows in seq order, so one pass pairs them. Sent rows inside the range are skipped. */
    st = s->fetch_values;
    sqlite3_bind_int64(st, 1, rows[first].seq);
    sqlite3_bind_int64(st, 2, rows[n - 1].seq);
    int i = first;
    s->slots[i].val_off = s->nvals;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        while (i < n && rows[i].seq < seq) {
            i++;
            if (i < n)
                s->slots[i].val_off = s->nvals;
        }
        if (i == n)
            break;
        if (rows[i].seq != seq)
            continue;
        if (grow((void **)&s->vals, &s->vals_cap, s->nvals + 1, sizeof *s->vals) < 0)
            break;
        struct outbox_value *v = &s->vals[s->nvals++];
        v->point = name_of(&s->point_names, sqlite3_column_int64(st, 1));
        v->value = sqlite3_column_type(st, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 2);
        v->quality = sqlite3_column_int(st, 3);
        rows[i].nvalues++;
    }
    sqlite3_reset(st);
    for (i++; i < n; i++)
        s->slots[i].val_off = s->nvals;
    c->reading = rows[n - 1].seq;
    return n;
}

int store_fetch_unsent(struct store *s, struct outbox_cursor *c, struct outbox_row *rows, int max)
{
    if (max <= 0)
        return 0;
    if (s->in_tx && flush_marks(s) < 0)
        return -1;
    if (grow((void **)&s->slots, &s->slots_cap, (size_t)max, sizeof *s->slots) < 0)
        return -1;
    s->nvals = 0;
    s->arena_len = 0;
    int n = fetch_events(s, c, rows, max);
    if (n < max)
        n = fetch_readings(s, c, rows, n, max);
    /* The buffers may have moved while they grew: pointers are set once they are final. */
    for (int i = 0; i < n; i++) {
        rows[i].body = s->slots[i].body_off == SIZE_MAX ? NULL : s->arena + s->slots[i].body_off;
        rows[i].values = rows[i].nvalues ? s->vals + s->slots[i].val_off : NULL;
    }
    return n;
}

int store_mark_sent(struct store *s, int64_t seq)
{
    if (seq <= 0 || seq > s->committed_seq)
        return -1;
    if (s->mark_hi && seq == s->mark_hi + 1) {
        s->mark_hi = seq;
        return 0;
    }
    if (begin_if_needed(s) < 0)
        return -1;
    int rc = flush_marks(s);
    if (!s->in_tx && begin_if_needed(s) < 0)
        return -1;
    s->mark_lo = s->mark_hi = seq;
    return rc;
}

int store_backlog(struct store *s, struct store_backlog *out)
{
    memset(out, 0, sizeof *out);
    if (s->in_tx && flush_marks(s) < 0)
        return -1;
    if (query_int(s, "SELECT count(*) FROM outbox WHERE sent = 0", &out->rows) < 0)
        return -1;
    if (!out->rows)
        return 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT min(seq) FROM outbox WHERE sent = 0 AND kind = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    for (int kind = OUTBOX_READING; kind <= OUTBOX_REPORT; kind++) {
        sqlite3_bind_int(st, 1, kind);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
            int64_t seq = sqlite3_column_int64(st, 0);
            if (!out->oldest_seq || seq < out->oldest_seq)
                out->oldest_seq = seq;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    char sql[80];
    snprintf(sql, sizeof sql, "SELECT ts FROM outbox WHERE seq = %" PRId64, out->oldest_seq);
    return query_int(s, sql, &out->oldest_ts_ms);
}

/* ---- retention ---- */

static int64_t used_pages(struct store *s)
{
    int64_t pages = 0, free_pages = 0;
    if (query_int(s, "PRAGMA page_count", &pages) < 0 || query_int(s, "PRAGMA freelist_count", &free_pages) < 0)
        return -1;
    return pages - free_pages;
}

void store_usage(struct store *s, struct store_usage *out)
{
    memset(out, 0, sizeof *out);
    int64_t pages = 0;
    query_int(s, "PRAGMA page_count", &pages);
    int64_t used = used_pages(s);
    out->used_bytes = used > 0 ? used * s->page_size : 0;
    out->file_bytes = pages * s->page_size;
    out->max_bytes = s->max_pages * s->page_size;
    out->evicted_unsent = s->evicted_unsent;
    out->evicted_sent = s->evicted_sent;
    out->expired = s->expired;
    out->write_errors = s->write_errors;
    out->lost_rows = s->lost_rows;
    out->rollbacks = s->rollbacks;
}

static int run_bound(struct store *s, const char *sql, int64_t a, int64_t b)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sqlite3_errcode(s->db);
    sqlite3_bind_int64(st, 1, a);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, b);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Deletes up to limit oldest readings that are sent (sent=1) or not (sent=0), with their values.
 * Returns how many; *first_ts / *last_ts get their time span. The SQL names sent literally so
 * the partial index of unsent rows serves the unsent case. */
static int64_t delete_oldest_readings(struct store *s, int sent, int64_t limit, int64_t *first_ts, int64_t *last_ts)
{
    static const char *const pick[2] = {
        "SELECT max(seq), count(*), min(ts), max(ts) FROM (SELECT seq, ts FROM outbox WHERE sent = 0 AND kind = 1"
        " ORDER BY seq LIMIT ?1)",
        "SELECT max(seq), count(*), min(ts), max(ts) FROM (SELECT seq, ts FROM outbox WHERE sent = 1 AND kind = 1"
        " ORDER BY seq LIMIT ?1)"};
    static const char *const del_values[2] = {
        "DELETE FROM readings WHERE seq IN (SELECT seq FROM outbox WHERE sent = 0 AND kind = 1 AND seq <= ?1)",
        "DELETE FROM readings WHERE seq IN (SELECT seq FROM outbox WHERE sent = 1 AND kind = 1 AND seq <= ?1)"};
    static const char *const del_rows[2] = {
        "DELETE FROM outbox WHERE sent = 0 AND kind = 1 AND seq <= ?1",
        "DELETE FROM outbox WHERE sent = 1 AND kind = 1 AND seq <= ?1"};
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, pick[sent], -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, limit);
    int64_t upto = 0, n = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        upto = sqlite3_column_int64(st, 0);
        n = sqlite3_column_int64(st, 1);
        *first_ts = sqlite3_column_int64(st, 2);
        *last_ts = sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    if (n == 0)
        return 0;
    if (run_bound(s, del_values[sent], upto, 0) != SQLITE_OK || run_bound(s, del_rows[sent], upto, 0) != SQLITE_OK)
        return -1;
    return n;
}

/* The buffer_overflow event for the unsent readings evicted since the last one, when one is
 * due. */
static int overflow_event(struct store *s, int64_t now_wall_ms)
{
    int64_t now = clock_mono_ms();
    if (!s->overflow_n || now < s->next_overflow_event_ms)
        return 0;
    char body[256];
    snprintf(body, sizeof body,
             "{\"event\":\"buffer_overflow\",\"evicted\":%" PRId64 ",\"evicted_total\":%" PRId64
             ",\"first_ts\":%" PRId64 ",\"last_ts\":%" PRId64 ",\"max_mb\":%" PRId64 "}",
             s->overflow_n, s->evicted_unsent, s->overflow_first_ts, s->overflow_last_ts,
             s->max_pages * s->page_size / 1048576);
    int64_t seq;
    if (begin_if_needed(s) < 0 || insert_outbox(s, OUTBOX_EVENT, -1, now_wall_ms, body, &seq) != SQLITE_OK) {
        check_rolled_back(s);
        return -1;
    }
    s->overflow_n = 0;
    s->next_overflow_event_ms = now + OVERFLOW_EVENT_EVERY_MS;
    return 0;
}

/* Brings the pages in use down to target_pages; see store_enforce_limits. */
static int64_t evict(struct store *s, int64_t target_pages, int64_t now_wall_ms)
{
    if (begin_if_needed(s) < 0 || flush_marks(s) < 0)
        return -1;
    int64_t used = used_pages(s), chunk = EVICT_CHUNK_MIN, sent_n = 0, unsent_n = 0;
    int64_t first_ts = 0, last_ts = 0, a, b;
    for (int sent = 1; sent >= 0 && used > target_pages; sent--) {
        while (used > target_pages) {
            int64_t before = used;
            int64_t n = delete_oldest_readings(s, sent, chunk, &a, &b);
            if (n < 0) {
                check_rolled_back(s);
                return -1;
            }
            if (n == 0)
                break;
            if (sent) {
                sent_n += n;
            } else {
                if (!unsent_n)
                    first_ts = a;
                last_ts = b;
                unsent_n += n;
            }
            used = used_pages(s);
            /* The next chunk from the pages the last one freed, so no more rows go than the
             * target needs (unsent rows are the only copy); pages free only once empty, so a
             * chunk that freed nothing just doubles. */
            int64_t freed = before - used;
            chunk = freed > 0 ? (used - target_pages) * n / freed + 1 : chunk * 2;
            chunk = chunk < EVICT_CHUNK_MIN ? EVICT_CHUNK_MIN : chunk > EVICT_CHUNK_MAX ? EVICT_CHUNK_MAX : chunk;
        }
    }
    s->evicted_sent += sent_n;
    if (sent_n)
        log_notice("store: evicted %" PRId64 " sent readings to stay under %" PRId64 " kB%s", sent_n,
                   s->cap_pages * s->page_size / 1024, s->cap_pages < s->max_pages ? " (the disk is nearly full)" : "");
    if (!unsent_n)
        return 0;
    s->evicted_unsent += unsent_n;
    if (!s->overflow_n)
        s->overflow_first_ts = first_ts;
    s->overflow_last_ts = last_ts;
    s->overflow_n += unsent_n;
    uint32_t held = 0;
    if (log_complain(&s->overflow_complaint, clock_mono_ms(), &held))
        log_err("store: buffer overflow: evicted %" PRId64 " unsent readings (%" PRId64 " in all) from %" PRId64
                " to %" PRId64 "%s",
                unsent_n, s->evicted_unsent, first_ts, last_ts,
                s->cap_pages < s->max_pages || s->max_pages <= 0 ? ": the disk is nearly full" : "");
    if (run_bound(s, "INSERT OR REPLACE INTO meta(key, value) VALUES('evicted_unsent', ?1)", s->evicted_unsent,
                  0) != SQLITE_OK) {
        check_rolled_back(s);
        return -1;
    }
    if (overflow_event(s, now_wall_ms) < 0)
        return -1;
    return unsent_n;
}

int store_flush_overflow(struct store *s, int64_t now_wall_ms)
{
    s->next_overflow_event_ms = 0;
    return overflow_event(s, now_wall_ms);
}

int64_t store_enforce_limits(struct store *s, int64_t now_wall_ms)
{
    if (overflow_event(s, now_wall_ms) < 0)
        return -1;
    int64_t cap = ceiling(s);
    if (cap <= 0)
        return 0;
    int64_t used = used_pages(s);
    if (used < 0)
        return -1;
    if (used * 100 < cap * EVICT_HIGH_PCT)
        return 0;
    return evict(s, cap * EVICT_LOW_PCT / 100, now_wall_ms);
}

int64_t store_expire(struct store *s, int64_t now_wall_ms, int max)
{
    if (s->retention_days <= 0 || max <= 0)
        return 0;
    int64_t cutoff = now_wall_ms - (int64_t)s->retention_days * 86400000;
    if (begin_if_needed(s) < 0 || flush_marks(s) < 0)
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT max(seq), count(*) FROM (SELECT seq FROM outbox WHERE sent = 1 AND ts < ?1"
                           " ORDER BY seq LIMIT ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, cutoff);
    sqlite3_bind_int(st, 2, max);
    int64_t upto = 0, n = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        upto = sqlite3_column_int64(st, 0);
        n = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    /* Cleared alerts are history like sent rows: kept as long, never the active ones. */
    if (run_bound(s, "DELETE FROM alerts WHERE cleared_ts IS NOT NULL AND cleared_ts < ?1", cutoff, 0) != SQLITE_OK) {
        check_rolled_back(s);
        return -1;
    }
    if (!n)
        return 0;
    if (run_bound(s,
                  "DELETE FROM readings WHERE seq IN (SELECT seq FROM outbox WHERE sent = 1 AND ts < ?1 AND seq <= ?2)",
                  cutoff, upto) != SQLITE_OK ||
        run_bound(s, "DELETE FROM outbox WHERE sent = 1 AND ts < ?1 AND seq <= ?2", cutoff, upto) != SQLITE_OK) {
        check_rolled_back(s);
        return -1;
    }
    s->expired += n;
    return n;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->in_tx)
        store_commit(s);
    sqlite3_finalize(s->ins_outbox);
    sqlite3_finalize(s->ins_reading);
    sqlite3_finalize(s->set_last_seq);
    sqlite3_finalize(s->mark_range);
    sqlite3_finalize(s->fetch_events);
    sqlite3_finalize(s->fetch_readings);
    sqlite3_finalize(s->fetch_values);
    sqlite3_finalize(s->put_alert);
    sqlite3_finalize(s->put_report);
    if (s->db)
        sqlite3_close(s->db);
    for (int i = 0; i < s->ndevices; i++)
        free(s->point_row ? s->point_row[i] : NULL);
    free(s->point_row);
    free(s->device_row);
    names_free(&s->dev_names);
    names_free(&s->point_names);
    free(s->vals);
    free(s->arena);
    free(s->slots);
    free(s);
}

/* ---- alerts and report days ---- */

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v && v[0])
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_ts_or_null(sqlite3_stmt *st, int i, int64_t v)
{
    if (v > 0)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

int store_put_alert(struct store *s, const struct store_alert *a)
{
    if (begin_if_needed(s) < 0)
        return -1;
    sqlite3_stmt *st = s->put_alert;
    sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->rule, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->severity, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, a->state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, a->raised_ts);
    bind_text_or_null(st, 7, a->acked_by);
    bind_ts_or_null(st, 8, a->acked_ts);
    sqlite3_bind_int(st, 9, a->escalation);
    bind_text_or_null(st, 10, a->contract);
    bind_ts_or_null(st, 11, a->respond_by_ts);
    bind_ts_or_null(st, 12, a->cleared_ts);
    sqlite3_bind_text(st, 13, a->json, -1, SQLITE_STATIC);
    int rc = step_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return write_failed(s, rc, "save alert");
    s->pending++;
    return 0;
}

/* Runs sql (one text parameter at most) and hands each row's first two columns to fn. */
static int each_row(struct store *s, const char *sql, const char *arg,
                    int (*fn)(void *ctx, sqlite3_stmt *st), void *ctx)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (fn(ctx, st) < 0) {
            rc = SQLITE_ABORT;
            break;
        }
        n++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

struct alert_walk {
    store_alert_fn fn;
    void *ctx;
};

static int alert_row(void *ctx, sqlite3_stmt *st)
{
    struct alert_walk *w = ctx;
    const char *json = (const char *)sqlite3_column_text(st, 0);
    return json ? w->fn(w->ctx, json) : 0;
}

int store_active_alerts(struct store *s, store_alert_fn fn, void *ctx)
{
    struct alert_walk w = {fn, ctx};
    return each_row(s, "SELECT json FROM alerts WHERE cleared_ts IS NULL ORDER BY raised_ts, id", NULL, alert_row,
                    &w);
}

int store_put_report_day(struct store *s, const char *device, int64_t day_start_ms, const char *json)
{
    if (begin_if_needed(s) < 0)
        return -1;
    sqlite3_stmt *st = s->put_report;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, day_start_ms);
    sqlite3_bind_text(st, 3, json, -1, SQLITE_STATIC);
    int rc = step_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return write_failed(s, rc, "save report day");
    s->pending++;
    return 0;
}

struct report_walk {
    store_report_fn fn;
    void *ctx;
};

static int report_row(void *ctx, sqlite3_stmt *st)
{
    struct report_walk *w = ctx;
    const char *dev = (const char *)sqlite3_column_text(st, 0);
    const char *json = (const char *)sqlite3_column_text(st, 2);
    return dev && json ? w->fn(w->ctx, dev, sqlite3_column_int64(st, 1), json) : 0;
}

int store_report_days(struct store *s, store_report_fn fn, void *ctx)
{
    struct report_walk w = {fn, ctx};
    return each_row(s, "SELECT device, day_start, json FROM report_day ORDER BY device", NULL, report_row, &w);
}
