/* store_open: the file itself — schema and migrations, opening with the page check, a corrupt
 * file moved aside, device and point rows, limits, and closing. */
#include "store_internal.h"

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
     * the whole record (payload_alert, the published form); the columns are for people and `caretaker status`.
     * report_day: each device's accumulators of the local day under way (reports.h). */
    "CREATE TABLE alerts(id TEXT PRIMARY KEY, device TEXT NOT NULL, rule TEXT NOT NULL,"
    "  severity TEXT NOT NULL, state TEXT NOT NULL, raised_ts INTEGER NOT NULL, acked_by TEXT,"
    "  acked_ts INTEGER, escalation INTEGER NOT NULL DEFAULT 0, contract TEXT, respond_by_ts INTEGER,"
    "  cleared_ts INTEGER, json TEXT NOT NULL);"
    "CREATE INDEX alerts_active ON alerts(raised_ts) WHERE cleared_ts IS NULL;"
    "CREATE TABLE report_day(device TEXT PRIMARY KEY, day_start INTEGER NOT NULL, json TEXT NOT NULL)"
    "  WITHOUT ROWID;",
    /* The month's supervision (store_visits.c): maintenance and patrol visits; each device's
     * counts of each local day (time the gateway ran, time online, polls due and made), which
     * outlive the readings; when each device was first registered, where the maintenance
     * interval of a fresh install starts; alerts by the time they were raised, for a month's. */
    "CREATE TABLE visits(id INTEGER PRIMARY KEY, device TEXT NOT NULL, kind TEXT NOT NULL,"
    "  start_ts INTEGER NOT NULL, end_ts INTEGER, by TEXT, name TEXT, note TEXT);"
    "CREATE INDEX visits_device ON visits(device, start_ts);"
    "CREATE TABLE device_day(device TEXT NOT NULL, day_start INTEGER NOT NULL, up_ms INTEGER NOT NULL,"
    "  online_ms INTEGER NOT NULL, polls_due REAL NOT NULL, polls_ok INTEGER NOT NULL,"
    "  PRIMARY KEY(device, day_start)) WITHOUT ROWID;"
    "CREATE TABLE device_since(device TEXT PRIMARY KEY, ts INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX alerts_raised ON alerts(raised_ts);",
    /* Report by exception: a reading row holding only some points of its poll keeps the poll
     * time of its device's last full snapshot; NULL on a full snapshot and on other kinds. */
    "ALTER TABLE outbox ADD COLUMN snapshot_ts INTEGER;",
    /* A reading is one outbox row: its values in the body, [[point_id,value],...] with a point
     * not ok as [point_id,null,quality], instead of a `readings` row per point (a quarter of the
     * bytes of a buffered poll). Rows written before keep their `readings` rows; the view shows
     * both. */
    "DROP VIEW IF EXISTS reading_values;"
    "CREATE VIEW reading_values AS SELECT o.seq, d.name AS device, p.name AS point, o.ts,"
    "  r.value, r.quality FROM readings r JOIN outbox o ON o.seq = r.seq"
    "  JOIN points p ON p.id = r.point_id JOIN devices d ON d.id = p.device_id"
    " UNION ALL SELECT o.seq, d.name, p.name, o.ts, CAST(json_extract(j.value, '$[1]') AS REAL),"
    "  coalesce(json_extract(j.value, '$[2]'), 0) FROM outbox o JOIN json_each(o.body) j"
    "  JOIN points p ON p.id = json_extract(j.value, '$[0]') JOIN devices d ON d.id = p.device_id"
    "  WHERE o.kind = 1 AND o.body IS NOT NULL;",
    /* A reading taken while the wall clock was unsynchronized (timebase.h): 1 in bit 0; NULL
     * for every other row. */
    "ALTER TABLE outbox ADD COLUMN flags INTEGER;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

int store__exec(struct store *s, const char *sql, struct diag *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        diag_set(err, "store %s: %s", sqlite3_db_filename(s->db, "main"), msg ? msg : "error");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int store__query_int(struct store *s, const char *sql, int64_t *out)
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
    if (store__query_int(s, "PRAGMA user_version", &version) < 0) {
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
        if (store__exec(s, "BEGIN IMMEDIATE", err) < 0)
            return -1;
        if (store__exec(s, migrations[v], err) < 0 || store__exec(s, pragma, err) < 0) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        if (store__exec(s, "COMMIT", err) < 0)
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

/* What the file says of the last stop: the seqs reserved, whether it was running (no clean
 * stop since), where readings held in memory began at its last commit, the last stored reading. */
struct seq_marks {
    int64_t reserved, running, unsafe_from, max_reading;
};

/* At start: after an unclean stop, the seqs that may have been handed out to readings held in
 * memory and lost are told in one seq_skipped event. Readings in memory always come after every
 * stored one and after unsafe_from (written with each commit of other rows), so the range starts
 * above both and ends at the reservation. Then the file is marked running, and a block reserved. */
static int mark_running(struct store *s, const struct seq_marks *m)
{
    if (m->running && m->reserved) {
        int64_t from = m->max_reading + 1 > m->unsafe_from ? m->max_reading + 1 : m->unsafe_from;
        if (from <= m->reserved) {
            s->skipped_from = from;
            s->skipped_to = m->reserved;
        }
    }
    if (store__begin(s) < 0 || store__set_meta(s, "running", 1) != SQLITE_OK)
        return -1;
    if (s->skipped_from) {
        char body[192];
        int64_t seq;
        snprintf(body, sizeof body,
                 "{\"event\":\"seq_skipped\",\"from\":%" PRId64 ",\"to\":%" PRId64
                 ",\"reason\":\"unclean_stop\",\"at_risk_ms\":%d}",
                 s->skipped_from, s->skipped_to, SPILL_MS);
        if (store__insert_outbox(s, OUTBOX_EVENT, -1, clock_wall_ms(), body, &seq) != SQLITE_OK)
            return -1;
        log_warn("store: the last stop was not clean: seqs %" PRId64 "..%" PRId64
                 " may include readings of its last %d ms that were lost; told in a seq_skipped event",
                 s->skipped_from, s->skipped_to, SPILL_MS);
    } else if (store__reserve(s) < 0) { /* the first block reserved now, not at the first poll */
        return -1;
    }
    if (store_commit(s) < 0)
        return -1;
    s->running = 1;
    return 0;
}

void store_skipped(const struct store *s, int64_t *from, int64_t *to)
{
    *from = s->skipped_from;
    *to = s->skipped_to;
}

static struct store *open_at(const char *path, struct diag *err, int *corrupt, bool pages)
{
    struct store *s = calloc(1, sizeof *s);
    *corrupt = 0;
    if (!s) {
        diag_set(err, "store: out of memory");
        return NULL;
    }
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        diag_set(err, "store %s: cannot open: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* WAL lets `caretaker status` read while we write; FULL makes each group commit durable. */
    /* cache_size: SQLite's default page cache (2000 KiB) fills over hours of a backlog and stays
     * resident; the store touches the tails of the outbox and its indexes, and a drain reads
     * rows in seq order, which the kernel's page cache serves as well. 256 KiB holds those. */
    if (store__exec(s,
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                    " PRAGMA cache_size=-256;",
                    err) < 0 ||
        (pages && check_pages(s, err, corrupt) < 0) || migrate(s, err) < 0)
        goto fail;
    int64_t max_seq = 0, meta_seq = 0;
    struct seq_marks marks = {0};
    if (store__query_int(s, "SELECT max(seq) FROM outbox", &max_seq) < 0 ||
        store__query_int(s, "SELECT value FROM meta WHERE key = 'last_seq'", &meta_seq) < 0 ||
        store__query_int(s, "SELECT value FROM meta WHERE key = 'seq_reserved'", &marks.reserved) < 0 ||
        store__query_int(s, "SELECT value FROM meta WHERE key = 'running'", &marks.running) < 0 ||
        store__query_int(s, "SELECT value FROM meta WHERE key = 'unsafe_from'", &marks.unsafe_from) < 0 ||
        store__query_int(s, "SELECT max(seq) FROM outbox WHERE kind = 1", &marks.max_reading) < 0 ||
        store__query_int(s, "SELECT value FROM meta WHERE key = 'evicted_unsent'", &s->evicted_unsent) < 0 ||
        store__query_int(s, "PRAGMA page_size", &s->page_size) < 0) {
        diag_set(err, "store %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    s->evicted_unsent_committed = s->evicted_unsent;
    s->last_seq = max_seq > meta_seq ? max_seq : meta_seq;
    if (marks.reserved > s->last_seq)
        s->last_seq = marks.reserved;
    s->committed_seq = s->reserved = s->reserved_committed = s->last_seq;
    if (prepare(s, "INSERT INTO outbox(seq, kind, device_id, ts, body, snapshot_ts, flags) VALUES(?,?,?,?,?,?,?)",
                &s->ins_outbox) ||
        prepare(s, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", &s->set_meta) ||
        prepare(s, "UPDATE outbox SET sent = 1 WHERE seq BETWEEN ?1 AND ?2 AND sent = 0", &s->mark_range) ||
        prepare(s,
                "SELECT seq, kind, device_id, ts, body FROM outbox WHERE sent = 0 AND kind IN (2, 3, 4, 5)"
                " AND seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
                &s->fetch_events) ||
        prepare(s,
                "SELECT seq, device_id, ts, body, snapshot_ts, flags FROM outbox WHERE sent = 0 AND kind = 1 AND seq > "
                "?1 AND "
                "seq <= ?2"
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
    if (mark_running(s, &marks) < 0) {
        diag_set(err, "store %s: cannot write: %s", path, sqlite3_errmsg(s->db));
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
            char sql[160];
            snprintf(sql, sizeof sql,
                     "INSERT OR REPLACE INTO meta(key, value) VALUES('last_seq', %lld), ('seq_reserved', %lld)",
                     (long long)floor, (long long)floor);
            if (store__exec(s, sql, err) < 0) {
                store_close(s);
                put_back(path, moved);
                return -1;
            }
            s->last_seq = s->committed_seq = s->reserved = s->reserved_committed = floor;
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

void store__names_free(struct name_table *t)
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
    if (store__query_int(s, sql, &max_id) < 0 || max_id < 0 || max_id > 10000000)
        return -1;
    store__names_free(t);
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

const char *store__name_of(const struct name_table *t, int64_t id)
{
    return id >= 0 && id < t->n && t->names[id] ? t->names[id] : "unknown";
}

int store_register(struct store *s, const struct config *cfg, struct diag *err)
{
    if (store__exec(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    s->ndevices = cfg->ndevices;
    s->device_row = calloc((size_t)cfg->ndevices + 1, sizeof *s->device_row);
    s->point_row = calloc((size_t)cfg->ndevices + 1, sizeof *s->point_row);
    if (!s->device_row || !s->point_row)
        goto fail;
    for (int i = 0; i < cfg->ndevices; i++) {
        const struct device *d = cfg->devices[i];
        s->device_row[i] =
            upsert_id(s->db,
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
            s->point_row[i][k] =
                upsert_id(s->db,
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
    return store__exec(s, "COMMIT", err);
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
    if (store__query_int(s, sql, &got) < 0)
        return -1;
    s->max_pages = want;
    return 0;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    /* A clean stop: the readings held in memory are written, and the reservation given back,
     * so the next start goes on from the last seq with nothing to announce. */
    if (s->running) {
        store_spill(s);
        if (store__begin(s) == 0 && store__set_meta(s, "last_seq", s->last_seq) == SQLITE_OK &&
            store__set_meta(s, "seq_reserved", s->last_seq) == SQLITE_OK &&
            store__set_meta(s, "running", 0) == SQLITE_OK)
            store_commit(s);
        else if (s->in_tx)
            store_commit(s);
        if (s->mem.held)
            log_err("store: %d readings held in memory could not be written at stop", s->mem.held);
    }
    sqlite3_finalize(s->ins_outbox);
    sqlite3_finalize(s->set_meta);
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
    store__names_free(&s->dev_names);
    store__names_free(&s->point_names);
    free(s->vals);
    free(s->arena);
    free(s->slots);
    store__mem_free(s);
    free(s);
}
