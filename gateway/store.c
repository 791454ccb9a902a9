/* store: SQLite schema, migrations and group commit.
 *
 * Invariants:
 * - seq is strictly increasing over the life of the file: it is max(outbox.seq) restored at open,
 *   and meta 'last_seq' is kept so deleting old rows never lets a seq be handed out twice.
 * - One transaction is open at most; rows become durable only at store_commit (synchronous=FULL
 *   in WAL mode: a commit survives power loss, which the outbox's exactly-once promise needs).
 */
#include "store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

struct store {
    sqlite3 *db;
    sqlite3_stmt *ins_outbox, *ins_reading, *set_last_seq;
    int64_t last_seq;
    int64_t committed_seq;  /* last_seq as of the last successful commit */
    int in_tx;
    int pending;
    int64_t pending_since;
    int ndevices;
    int64_t *device_row;      /* by device->index */
    int64_t **point_row;      /* by device->index, point index */
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
        if (v > 0 || version > 0)
            log_notice("store: schema migrated to version %d", v + 1);
    }
    return 0;
}

int store_open(const char *path, struct store **out, struct diag *err)
{
    struct store *s = calloc(1, sizeof *s);
    if (!s) {
        diag_set(err, "store: out of memory");
        return -1;
    }
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        diag_set(err, "store %s: cannot open: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* WAL lets `caretaker status` read while we write; FULL makes each group commit durable. */
    if (exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err) < 0)
        goto fail;
    if (migrate(s, err) < 0)
        goto fail;
    int64_t max_seq = 0, meta_seq = 0;
    if (query_int(s, "SELECT max(seq) FROM outbox", &max_seq) < 0 ||
        query_int(s, "SELECT value FROM meta WHERE key = 'last_seq'", &meta_seq) < 0) {
        diag_set(err, "store %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    s->last_seq = max_seq > meta_seq ? max_seq : meta_seq;
    s->committed_seq = s->last_seq;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO outbox(seq, kind, device_id, ts, body) VALUES(?,?,?,?,?)", -1,
                           &s->ins_outbox, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO readings(seq, point_id, value, quality) VALUES(?,?,?,?)", -1,
                           &s->ins_reading, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(key, value) VALUES('last_seq', ?)", -1,
                           &s->set_last_seq, NULL) != SQLITE_OK) {
        diag_set(err, "store %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    *out = s;
    return 0;
fail:
    store_close(s);
    return -1;
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
    return exec(s, "COMMIT", err);
fail:
    diag_set(err, "store: cannot register devices: %s", sqlite3_errmsg(s->db));
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
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
    s->pending_since = clock_mono_ms();
    return 0;
}

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
        sqlite3_bind_text(st, 5, body, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 5);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        log_err("store: insert failed: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    s->last_seq = seq;
    s->pending++;
    if (seq_out)
        *seq_out = seq;
    return 0;
}

int store_append_reading(struct store *s, const struct device *d, const struct msg *m, int64_t *seq_out)
{
    if (begin_if_needed(s) < 0)
        return -1;
    int64_t seq;
    if (insert_outbox(s, OUTBOX_READING, d->index, m->ts_ms, NULL, &seq) < 0)
        return -1;
    sqlite3_stmt *st = s->ins_reading;
    const int64_t *rows = s->point_row[d->index];
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
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            log_err("store: insert reading failed: %s", sqlite3_errmsg(s->db));
            return -1;
        }
        s->pending++;
    }
    if (seq_out)
        *seq_out = seq;
    return 0;
}

int store_append_event(struct store *s, const struct device *d, enum outbox_kind kind, int64_t ts_ms,
                       const char *json_body, int64_t *seq_out)
{
    if (begin_if_needed(s) < 0)
        return -1;
    return insert_outbox(s, kind, d ? d->index : -1, ts_ms, json_body, seq_out);
}

int store_commit(struct store *s)
{
    if (!s->in_tx)
        return 0;
    sqlite3_bind_int64(s->set_last_seq, 1, s->last_seq);
    int rc = sqlite3_step(s->set_last_seq);
    sqlite3_reset(s->set_last_seq);
    if (rc == SQLITE_DONE)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    s->in_tx = 0;
    s->pending = 0;
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        log_err("store: commit failed: %s", sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        /* The rolled-back seqs were never published; handing them out again keeps seq gapless. */
        s->last_seq = s->committed_seq;
        return -1;
    }
    s->committed_seq = s->last_seq;
    return 0;
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

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->in_tx)
        store_commit(s);
    sqlite3_finalize(s->ins_outbox);
    sqlite3_finalize(s->ins_reading);
    sqlite3_finalize(s->set_last_seq);
    if (s->db)
        sqlite3_close(s->db);
    for (int i = 0; i < s->ndevices; i++)
        free(s->point_row ? s->point_row[i] : NULL);
    free(s->point_row);
    free(s->device_row);
    free(s);
}
