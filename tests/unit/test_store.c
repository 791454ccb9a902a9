/* test_store: the SQLite file — schema, group commit visibility, seq continuity across restarts,
 * quality of values, refusal of a newer schema; the outbox (committed rows only, events before
 * readings, marks on acknowledgement) and retention (eviction order, overflow count, full file);
 * the alerts and report_day tables (saved in the group commit, read back at start, cleared
 * alerts expired with sent rows) and the migration that adds them to a version 2 file. */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "store.h"

static struct profile prof;
static struct device dev;
static struct device *devs[1] = {&dev};
static struct bus_config bus;
static struct config cfg;

static void setup(void)
{
    snprintf(prof.driver, sizeof prof.driver, "level/test");
    prof.npoints = 3;
    const char *names[] = {"level", "decimals", "total"};
    for (int i = 0; i < 3; i++) {
        snprintf(prof.points[i].name, NAME_MAX_LEN, "%s", names[i]);
        prof.points[i].table = i == 2 ? TABLE_DERIVED : TABLE_HOLDING;
    }
    snprintf(prof.points[0].unit, sizeof prof.points[0].unit, "m");
    snprintf(dev.id, sizeof dev.id, "manhole-3");
    snprintf(dev.driver, sizeof dev.driver, "level/test");
    dev.profile = &prof;
    dev.index = 0;
    bus.ndevices = 1;
    bus.devices = &dev;
    cfg.nbuses = 1;
    cfg.buses = &bus;
    cfg.ndevices = 1;
    cfg.devices = devs;
}

/* A second connection, as `caretaker status` or a test would open it. */
static long long count(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long n = -1;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* The first column of the first row as text ("" when there is none), for lists. */
static void text(const char *path, const char *sql, char *out, size_t size)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    out[0] = '\0';
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_text(st, 0))
        snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void remove_db(const char *path)
{
    char aux[96];
    unlink(path);
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
}

static void temp_path(char *path, size_t n, const char *name)
{
    snprintf(path, n, "/tmp/caretaker-test-%s-%d", name, (int)getpid());
    remove_db(path);
}

/* A new store at a temporary path, with the test's device registered. */
static struct store *fresh_store(char *path, size_t n, const char *name)
{
    temp_path(path, n, name);
    struct store *s = NULL;
    struct diag err;
    diag_clear(&err);
    CHECK(store_open(path, &s, &err) == 0);
    CHECK(store_register(s, &cfg, &err) == 0);
    return s;
}

static struct msg *reading(int64_t ts, double level)
{
    struct msg *m = msg_new(MSG_READING, 0, ts, 3);
    m->values[0] = level;
    m->quality[0] = Q_OK;
    m->values[1] = 2;
    m->quality[1] = Q_OK;
    m->values[2] = NAN;
    m->quality[2] = Q_OFFLINE;
    return m;
}

/* The outbox hands out committed rows only, events before readings, each oldest first. */
static void test_outbox(void)
{
    char path[96];
    struct store *s = fresh_store(path, sizeof path, "outbox");

    struct msg *m = reading(1000, 0.5);
    int64_t seq;
    CHECK(store_append_reading(s, &dev, m, &seq) == 0 && seq == 1);
    CHECK(store_append_event(s, &dev, OUTBOX_DEVICE_STATE, 1001, "{\"state\":\"online\"}", &seq) == 0 && seq == 2);
    m->ts_ms = 1002;
    m->values[0] = 0.75;
    CHECK(store_append_reading(s, &dev, m, &seq) == 0 && seq == 3);
    CHECK(store_append_event(s, NULL, OUTBOX_EVENT, 1003, "{\"event\":\"x\"}", &seq) == 0 && seq == 4);

    struct outbox_row rows[8];
    struct outbox_cursor cur = {0, 0};
    /* The events are not committed yet: nothing at or past the first may leave, though this
     * connection sees the rows. The reading before it is held in memory and may leave at once. */
    CHECK(store_committed_seq(s) == 1);
    struct outbox_cursor early = {0, 0};
    CHECK(store_fetch_unsent(s, &early, rows, 8) == 1 && rows[0].seq == 1 && rows[0].nvalues == 3);
    CHECK(store_commit(s) == 0);
    CHECK(store_committed_seq(s) == 4);

    /* Expected order: the two events (2, 4), then the two readings (1, 3). */
    int n = store_fetch_unsent(s, &cur, rows, 8);
    CHECK(n == 4);
    CHECK(rows[0].seq == 2 && rows[0].kind == OUTBOX_DEVICE_STATE && !strcmp(rows[0].device, "manhole-3"));
    CHECK(rows[0].body && !strcmp(rows[0].body, "{\"state\":\"online\"}") && rows[0].ts_ms == 1001);
    CHECK(rows[1].seq == 4 && rows[1].kind == OUTBOX_EVENT && rows[1].device == NULL);
    CHECK(rows[2].seq == 1 && rows[2].kind == OUTBOX_READING && rows[2].ts_ms == 1000 && rows[2].body == NULL);
    CHECK(rows[3].seq == 3 && rows[3].ts_ms == 1002);
    /* Each reading carries its three points in profile order: level ok, decimals ok, total
     * offline (stored as NULL). */
    CHECK(rows[2].nvalues == 3 && rows[3].nvalues == 3);
    if (rows[2].nvalues == 3 && rows[3].nvalues == 3) {
        CHECK(!strcmp(rows[2].values[0].point, "level") && rows[2].values[0].value == 0.5);
        CHECK(rows[2].values[0].quality == Q_OK);
        CHECK(!strcmp(rows[2].values[1].point, "decimals") && rows[2].values[1].value == 2);
        CHECK(!strcmp(rows[2].values[2].point, "total") && rows[2].values[2].quality == Q_OFFLINE);
        CHECK(isnan(rows[2].values[2].value));
        CHECK(rows[3].values[0].value == 0.75);
    }
    CHECK(cur.event == 4 && cur.reading == 3);
    /* Full snapshots, as every poll was before report by exception. */
    CHECK(rows[2].full && rows[2].snapshot_ts == 1000 && rows[3].full && rows[3].snapshot_ts == 1002);
    /* The cursor skips what is in flight */
    CHECK(store_fetch_unsent(s, &cur, rows, 8) == 0);


    /* A window of two takes the events alone */
    struct outbox_cursor cur2 = {0, 0};
    CHECK(store_fetch_unsent(s, &cur2, rows, 2) == 2 && rows[0].seq == 2 && rows[1].seq == 4);
    CHECK(cur2.reading == 0);

    /* Acknowledged rows are marked in the transaction, durable at commit */
    CHECK(store_mark_sent(s, 2) == 0);
    CHECK(store_mark_sent(s, 4) == 0);
    CHECK(store_mark_sent(s, 1) == 0);
    CHECK(store_mark_sent(s, 9) == -1); /* never handed out */
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE sent = 1") == 0);
    CHECK(store_commit(s) == 0);
    /* The reading acknowledged from memory was never written */
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE sent = 1") == 2);
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE kind = 1") == 0);
    struct store_memory_stats ms;
    store_memory_stats(s, &ms);
    CHECK(ms.held == 1 && ms.acked == 1 && ms.spills == 0 && ms.spilled == 0 && ms.bytes > 0);

    struct store_backlog bl;
    CHECK(store_backlog(s, &bl) == 0);
    CHECK(bl.rows == 1 && bl.oldest_seq == 3 && bl.oldest_ts_ms == 1002);

    /* After a reconnect the cursor starts over: only the unacknowledged row comes back */
    struct outbox_cursor again = {0, 0};
    CHECK(store_fetch_unsent(s, &again, rows, 8) == 1 && rows[0].seq == 3);

    /* Marks of consecutive seqs coalesce; a later row is not marked by the range */
    m->ts_ms = 1004;
    for (int i = 0; i < 3; i++)
        CHECK(store_append_reading(s, &dev, m, &seq) == 0); /* 5, 6, 7 */
    /* Spilled (not acknowledged in time): one row per poll, its values in the body */
    CHECK(store_spill_due_in(s, clock_mono_ms()) > 0);
    CHECK(store_spill(s) == 0);
    CHECK(store_spill_due_in(s, clock_mono_ms()) == -1);
    store_memory_stats(s, &ms);
    CHECK(ms.held == 0 && ms.spills == 1 && ms.spilled == 4 && ms.bytes == 0);
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE kind = 1 AND body IS NOT NULL") == 4);
    CHECK(count(path, "SELECT count(*) FROM readings") == 0);
    struct outbox_cursor stored = {0, 0};
    CHECK(store_fetch_unsent(s, &stored, rows, 8) == 4 && rows[0].seq == 3 && rows[3].seq == 7);
    CHECK(rows[0].nvalues == 3 && rows[0].values[0].value == 0.75 && rows[0].values[2].quality == Q_OFFLINE);
    CHECK(!strcmp(rows[0].values[1].point, "decimals") && rows[0].values[1].value == 2);
    CHECK(store_mark_sent(s, 5) == 0 && store_mark_sent(s, 6) == 0);
    CHECK(store_commit(s) == 0);
    char unsent[64];
    text(path, "SELECT group_concat(seq) FROM (SELECT seq FROM outbox WHERE sent = 0 ORDER BY seq)", unsent,
         sizeof unsent);
    CHECK_MSG(strcmp(unsent, "3,7") == 0, "unsent seqs \"%s\" (3 and 7 expected)", unsent);
    store_close(s);
    msg_free(m);
    remove_db(path);
}

static long long meta_evicted(const char *path)
{
    return count(path, "SELECT value FROM meta WHERE key = 'evicted_unsent'");
}

/* Report by exception: a row holding part of its poll keeps the time of its device's last full
 * snapshot, and only the points given; a full one reads back with its own time. */
static void test_partial_rows(void)
{
    char path[96];
    struct store *s = fresh_store(path, sizeof path, "partial");
    struct msg *m = reading(1000, 0.5);
    int64_t seq;
    CHECK(store_append_reading(s, &dev, m, &seq) == 0 && seq == 1);
    m->ts_ms = 1500;
    m->values[0] = 0.6;
    m->quality[1] = Q_UNREAD;
    m->quality[2] = Q_UNREAD;
    CHECK(store_append_partial(s, &dev, m, 1000, &seq) == 0 && seq == 2);
    CHECK(store_commit(s) == 0);
    struct outbox_row rows[4];
    struct outbox_cursor cur = {0, 0};
    CHECK(store_fetch_unsent(s, &cur, rows, 4) == 2);
    CHECK(rows[0].full && rows[0].snapshot_ts == 1000 && rows[0].nvalues == 3);
    CHECK(!rows[1].full && rows[1].snapshot_ts == 1000 && rows[1].ts_ms == 1500 && rows[1].nvalues == 1);
    CHECK(rows[1].nvalues == 1 && !strcmp(rows[1].values[0].point, "level") && rows[1].values[0].value == 0.6);
    /* Spilled to the file (the broker did not take them), they read back the same. */
    CHECK(store_spill(s) == 0);
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE kind = 1 AND snapshot_ts IS NULL") == 1);
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE kind = 1 AND snapshot_ts = 1000") == 1);
    cur = (struct outbox_cursor){0, 0};
    CHECK(store_fetch_unsent(s, &cur, rows, 4) == 2);
    CHECK(rows[0].full && rows[0].snapshot_ts == 1000 && rows[0].nvalues == 3);
    CHECK(!rows[1].full && rows[1].snapshot_ts == 1000 && rows[1].ts_ms == 1500 && rows[1].nvalues == 1);
    CHECK(!strcmp(rows[1].values[0].point, "level") && rows[1].values[0].value == 0.6);
    msg_free(m);
    store_close(s);
    remove_db(path);
}

/* Retention with a 1 MB file: sent readings go first, then the oldest unsent ones; events stay. */
static void test_eviction_order(void)
{
    char path[96];
    temp_path(path, sizeof path, "evict");
    struct store *s;
    struct diag err;
    diag_clear(&err);
    CHECK(store_open(path, &s, &err) == 0);
    CHECK(store_register(s, &cfg, &err) == 0);
    CHECK(store_set_limits(s, 1, 0) == 0);
    struct msg *m = reading(5000, 1.0);
    int64_t seq, event_seq;
    /* 500 readings sent, one state event (unsent), then unsent readings until the file fills */
    for (int i = 0; i < 500; i++)
        CHECK(store_append_reading(s, &dev, m, &seq) == 0);
    CHECK(store_spill(s) == 0);
    CHECK(store_append_event(s, &dev, OUTBOX_DEVICE_STATE, 5001, "{\"state\":\"offline\"}", &event_seq) == 0);
    CHECK(store_commit(s) == 0);
    for (int64_t q = 1; q <= 500; q++)
        store_mark_sent(s, q);
    CHECK(store_commit(s) == 0);
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE sent = 1") == 500);

    struct store_usage u;
    int guard = 0;
    int64_t evicted_now = 0;
    do {
        for (int i = 0; i < 100; i++)
            CHECK(store_append_reading(s, &dev, m, &seq) == 0);
        CHECK(store_spill(s) == 0);
        evicted_now = store_enforce_limits(s, 6000);
        CHECK(evicted_now >= 0);
        CHECK(store_commit(s) == 0);
        store_usage(s, &u);
    } while (u.evicted_unsent == 0 && ++guard < 1000);
    CHECK(u.evicted_unsent > 0);
    CHECK(evicted_now >= 0);
    CHECK(u.evicted_sent == 500);
    CHECK(u.max_bytes == 1048576);
    CHECK(u.file_bytes <= 1048576);
    CHECK(u.used_bytes <= 1048576 * 80 / 100);
    CHECK(u.used_bytes >= 1048576 * 70 / 100); /* no more evicted than the target needs */
    /* Every sent reading is gone, the event is still there, and what is left of the unsent
     * readings is one run ending at the newest: the oldest went first. */
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE sent = 1") == 0);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM outbox WHERE seq = %lld AND kind = 2", (long long)event_seq);
    CHECK(count(path, sql) == 1);
    long long lo = count(path, "SELECT min(seq) FROM outbox WHERE kind = 1");
    long long hi = count(path, "SELECT max(seq) FROM outbox WHERE kind = 1");
    long long nr = count(path, "SELECT count(*) FROM outbox WHERE kind = 1");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM outbox WHERE kind <> 1 AND seq BETWEEN %lld AND %lld", lo, hi);
    long long others = count(path, sql); /* overflow events written between readings */
    CHECK(hi == (long long)store_last_seq(s) || hi == (long long)store_last_seq(s) - 1);
    CHECK(hi - lo + 1 == nr + others);
    CHECK(lo > event_seq);
    /* readings evicted = readings written - readings left: 500 sent + 100 per round, unsent */
    CHECK(count(path, "SELECT count(*) FROM readings r LEFT JOIN outbox o ON o.seq = r.seq WHERE o.seq IS NULL") == 0);
    CHECK(meta_evicted(path) == u.evicted_unsent);
    /* Each overflow is one event; together they count every unsent reading evicted */
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE kind = 3 AND body LIKE '{\"event\":\"buffer_overflow\"%'") >= 1);
    CHECK(count(path, "SELECT sum(json_extract(body, '$.evicted')) FROM outbox WHERE kind = 3") == u.evicted_unsent);
    CHECK(count(path, "SELECT max(json_extract(body, '$.evicted_total')) FROM outbox WHERE kind = 3") ==
          u.evicted_unsent);
    int64_t total = u.evicted_unsent;
    store_close(s);

    /* The count survives a restart */
    CHECK(store_open(path, &s, &err) == 0);
    CHECK(store_register(s, &cfg, &err) == 0);
    store_usage(s, &u);
    CHECK(u.evicted_unsent == total);
    store_close(s);
    msg_free(m);
    remove_db(path);
}

/* A file at its ceiling never stops the writer: an insert that hits it evicts and succeeds. */
static void test_full_file(void)
{
    char path[96];
    temp_path(path, sizeof path, "full");
    struct store *s;
    struct diag err;
    diag_clear(&err);
    CHECK(store_open(path, &s, &err) == 0);
    CHECK(store_register(s, &cfg, &err) == 0);
    CHECK(store_set_limits(s, 1, 0) == 0);
    struct msg *m = reading(7000, 3.0);
    int64_t seq = 0, failures = 0;
    /* Never calling store_enforce_limits: only the SQLITE_FULL path can make room. 1 MB holds
     * a few thousand of these rows; 30000 must overflow it several times. */
    for (int i = 0; i < 30000; i++) {
        if (store_append_reading(s, &dev, m, &seq) < 0)
            failures++;
        if (i % 500 == 499)
            CHECK(store_commit(s) == 0);
    }
    CHECK(store_spill(s) == 0);
    CHECK(failures == 0);
    struct store_usage u;
    store_usage(s, &u);
    CHECK(u.evicted_unsent > 0);
    CHECK(u.file_bytes <= 1048576);
    CHECK(u.write_errors == 0 && u.lost_rows == 0);
    /* Readings left + readings evicted = readings written */
    long long left = count(path, "SELECT count(*) FROM outbox WHERE kind = 1");
    CHECK(left + u.evicted_unsent == 30000);
    CHECK(count(path, "SELECT max(seq) FROM outbox") == (long long)store_last_seq(s));

    /* A row larger than the headroom hits the ceiling itself: SQLite rolls the transaction back
     * (SQLITE_FULL), the store evicts and writes it again. The 300 kB body is past the 20 %
     * headroom of 1 MB, and the file was just brought under 90 %. */
    CHECK(store_append_event(s, NULL, OUTBOX_EVENT, 7000, "{}", &seq) == 0); /* pending, lost in the rollback */
    size_t big = 300 * 1024;
    char *body = malloc(big + 32);
    snprintf(body, 32, "{\"event\":\"big\",\"pad\":\"");
    size_t at = strlen(body);
    memset(body + at, 'x', big);
    snprintf(body + at + big, 8, "\"}");
    int64_t before = u.evicted_unsent;
    CHECK(store_append_event(s, NULL, OUTBOX_EVENT, 7001, body, &seq) == 0);
    CHECK(store_commit(s) == 0);
    store_usage(s, &u);
    CHECK(u.lost_rows == 1 && u.rollbacks >= 1);
    CHECK(u.evicted_unsent > before);
    CHECK(u.file_bytes <= 1048576);
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE kind = 3 AND length(body) > 300000") == 1);
    free(body);
    store_close(s);
    msg_free(m);
    remove_db(path);
}

/* Retention by age deletes sent rows only */
static void test_expire(void)
{
    char path[96];
    temp_path(path, sizeof path, "expire");
    struct store *s;
    struct diag err;
    diag_clear(&err);
    CHECK(store_open(path, &s, &err) == 0);
    CHECK(store_register(s, &cfg, &err) == 0);
    CHECK(store_set_limits(s, 0, 2) == 0);
    int64_t day = 86400000, now = 100 * day, seq;
    struct msg *m = reading(now - 3 * day, 1.0); /* seq 1: old, will be sent */
    CHECK(store_append_reading(s, &dev, m, &seq) == 0);
    CHECK(store_append_reading(s, &dev, m, &seq) == 0); /* seq 2: old, unsent */
    m->ts_ms = now - day;
    CHECK(store_append_reading(s, &dev, m, &seq) == 0); /* seq 3: recent, sent */
    CHECK(store_spill(s) == 0);
    store_mark_sent(s, 1);
    store_mark_sent(s, 3);
    CHECK(store_commit(s) == 0);
    CHECK(store_expire(s, now, 1000) == 1);
    CHECK(store_commit(s) == 0);
    CHECK(count(path, "SELECT group_concat(seq) FROM outbox") == 2); /* "2,3" reads as 2 */
    CHECK(count(path, "SELECT count(*) FROM outbox") == 2);
    CHECK(count(path, "SELECT count(*) FROM readings WHERE seq = 1") == 0);
    store_close(s);
    msg_free(m);
    remove_db(path);
}

static int collect_json(void *ctx, const char *json)
{
    char *buf = ctx;
    size_t used = strlen(buf);
    snprintf(buf + used, 1024 - used, "%s|", json);
    return 0;
}

static int collect_day(void *ctx, const char *device, int64_t day_start_ms, const char *json)
{
    char *buf = ctx;
    size_t used = strlen(buf);
    snprintf(buf + used, 1024 - used, "%s@%lld=%s|", device, (long long)day_start_ms, json);
    return 0;
}

static void test_alerts_and_reports(void)
{
    char path[96];
    temp_path(path, sizeof path, "alerts");
    /* A file of schema version 2 (as the previous release left it) is migrated: its rows stay. */
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db,
                 "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
                 "CREATE TABLE devices(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, driver TEXT, location TEXT);"
                 "CREATE TABLE points(id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id),"
                 "  name TEXT NOT NULL, unit TEXT, UNIQUE(device_id, name));"
                 "CREATE TABLE outbox(seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, device_id INTEGER,"
                 "  ts INTEGER NOT NULL, sent INTEGER NOT NULL DEFAULT 0, body TEXT);"
                 "CREATE TABLE readings(seq INTEGER NOT NULL, point_id INTEGER NOT NULL, value REAL,"
                 "  quality INTEGER NOT NULL, PRIMARY KEY(seq, point_id)) WITHOUT ROWID;"
                 "CREATE INDEX outbox_unsent_kind ON outbox(kind, seq) WHERE sent = 0;"
                 "INSERT INTO outbox(seq, kind, ts, body) VALUES(7, 3, 5, '{}');"
                 "PRAGMA user_version = 2;",
                 NULL, NULL, NULL);
    sqlite3_close(db);
    struct store *s;
    struct diag err;
    diag_clear(&err);
    CHECK(store_open(path, &s, &err) == 0);
    CHECK(store_register(s, &cfg, &err) == 0);
    CHECK(count(path, "PRAGMA user_version") == 7);
    CHECK(store_last_seq(s) == 7);

    struct store_alert a = {"manhole-3:high_level:1000", "manhole-3", "high_level", "major", "raised", 1000, "",
                            0, 0, "sewage-om", 1000 + 240 * 60000, 0, "{\"id\":\"a\"}"};
    struct store_alert b = {"manhole-3:comm_lost:2000", "manhole-3", "comm_lost", "minor", "raised", 2000, "",
                            0, 0, "", 0, 0, "{\"id\":\"b\"}"};
    int64_t seq;
    CHECK(store_put_alert(s, &a) == 0);
    CHECK(store_put_alert(s, &b) == 0);
    CHECK(store_append_event(s, &dev, OUTBOX_ALERT, 1000, "{\"event\":\"raised\"}", &seq) == 0 && seq == 8);
    CHECK(store_put_report_day(s, "manhole-3", 500, "{\"n\":1}") == 0);
    /* Not visible before the group commit: the alert rows and their events go together. */
    CHECK(count(path, "SELECT count(*) FROM alerts") == 0);
    CHECK(store_commit(s) == 0);
    CHECK(count(path, "SELECT count(*) FROM alerts WHERE cleared_ts IS NULL") == 2);
    CHECK(count(path, "SELECT count(*) FROM alerts WHERE acked_by IS NULL AND contract IS NULL") == 1);
    CHECK(count(path, "SELECT respond_by_ts FROM alerts WHERE rule = 'high_level'") == 1000 + 240 * 60000);
    /* Acknowledged, then cleared: the same row, replaced. */
    a.state = "acknowledged";
    a.acked_by = "wang";
    a.acked_ts = 3000;
    CHECK(store_put_alert(s, &a) == 0);
    b.state = "cleared";
    b.cleared_ts = 4000;
    CHECK(store_put_alert(s, &b) == 0);
    CHECK(store_put_report_day(s, "manhole-3", 500, "{\"n\":2}") == 0);
    /* A report row is an event-class row: fetched before readings, never evicted. */
    CHECK(store_append_event(s, &dev, OUTBOX_REPORT, 86400000, "{\"report\":\"daily\"}", &seq) == 0 && seq == 9);
    CHECK(store_commit(s) == 0);
    CHECK(count(path, "SELECT count(*) FROM alerts") == 2);
    CHECK(count(path, "SELECT acked_ts FROM alerts WHERE state = 'acknowledged' AND acked_by = 'wang'") == 3000);
    char buf[1024] = "";
    CHECK(store_active_alerts(s, collect_json, buf) == 1);
    CHECK(strcmp(buf, "{\"id\":\"a\"}|") == 0);
    buf[0] = '\0';
    CHECK(store_report_days(s, collect_day, buf) == 1);
    CHECK(strcmp(buf, "manhole-3@500={\"n\":2}|") == 0);
    struct outbox_row rows[4];
    struct outbox_cursor cur = {0, 0};
    CHECK(store_fetch_unsent(s, &cur, rows, 4) == 3);
    CHECK(rows[1].seq == 8 && rows[1].kind == OUTBOX_ALERT);
    CHECK(rows[2].seq == 9 && rows[2].kind == OUTBOX_REPORT && !strcmp(rows[2].body, "{\"report\":\"daily\"}"));
    /* Retention of 2 days: a cleared alert is still kept at day 10, for the month's reports
     * (STORE_HISTORY_DAYS); past those it goes (cleared at 4 s), the active one stays. */
    CHECK(store_set_limits(s, 0, 2) == 0);
    CHECK(store_expire(s, 10 * 86400000LL, 100) == 0); /* no sent row: only alerts go */
    CHECK(store_commit(s) == 0);
    CHECK(count(path, "SELECT count(*) FROM alerts") == 2);
    CHECK(store_expire(s, (STORE_HISTORY_DAYS + 1) * 86400000LL, 100) == 0);
    CHECK(store_commit(s) == 0);
    CHECK(count(path, "SELECT count(*) FROM alerts") == 1);
    CHECK(count(path, "SELECT count(*) FROM alerts WHERE rule = 'high_level'") == 1);
    store_close(s);
    remove_db(path);
}

/* Seqs after a crash: readings held in memory are lost, their seqs are never handed out again,
 * and the start after it tells the range they may lie in; a clean stop writes them and tells
 * nothing. */
static void test_unclean_stop(void)
{
    char path[96];
    temp_path(path, sizeof path, "crash");
    struct diag err;
    diag_clear(&err);
    pid_t pid = fork();
    if (pid == 0) {
        struct store *c;
        int64_t seq;
        struct msg *m = reading(1000, 1.0);
        if (store_open(path, &c, &err) < 0 || store_register(c, &cfg, &err) < 0)
            _exit(2);
        for (int i = 0; i < 3; i++)
            store_append_reading(c, &dev, m, &seq); /* 1, 2, 3 */
        store_mark_sent(c, 1);
        store_append_event(c, &dev, OUTBOX_DEVICE_STATE, 1001, "{\"state\":\"online\"}", &seq); /* 4 */
        store_commit(c);
        store_append_reading(c, &dev, m, &seq); /* 5 */
        _exit(seq == 5 ? 0 : 3); /* no close: a crash */
    }
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(count(path, "SELECT count(*) FROM outbox") == 1); /* the event alone */

    struct store *s;
    CHECK(store_open(path, &s, &err) == 0);
    CHECK(store_register(s, &cfg, &err) == 0);
    int64_t from, to, seq;
    store_skipped(s, &from, &to);
    CHECK_MSG(from == 2 && to >= 5, "skipped %lld..%lld", (long long)from, (long long)to);
    CHECK(store_last_seq(s) == to + 1); /* the seq_skipped event */
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM outbox WHERE kind = 3 AND json_extract(body, '$.event') = 'seq_skipped' AND "
             "json_extract(body, '$.from') = 2 AND json_extract(body, '$.to') = %lld AND "
             "json_extract(body, '$.reason') = 'unclean_stop' AND json_extract(body, '$.at_risk_ms') > 0",
             (long long)to);
    CHECK(count(path, sql) == 1);
    struct msg *m = reading(2000, 2.0);
    CHECK(store_append_reading(s, &dev, m, &seq) == 0 && seq == to + 2);
    store_close(s); /* clean: the reading is written, nothing to tell next time */
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE kind = 1") == 1);

    CHECK(store_open(path, &s, &err) == 0);
    CHECK(store_register(s, &cfg, &err) == 0);
    store_skipped(s, &from, &to);
    CHECK(from == 0 && to == 0);
    CHECK(store_append_reading(s, &dev, m, &to) == 0 && to == seq + 1);
    store_close(s);
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE kind = 3") == 1);
    msg_free(m);
    remove_db(path);
}

/* A file of schema 3 with readings waiting to be sent: after the migration they are sent
 * with their values as they were stored, before the readings of the new form. */
static void test_old_rows(void)
{
    char path[96];
    temp_path(path, sizeof path, "old");
    struct store *s;
    struct diag err;
    diag_clear(&err);
    CHECK(store_open(path, &s, &err) == 0);
    CHECK(store_register(s, &cfg, &err) == 0);
    store_close(s);
    sqlite3 *db;
    sqlite3_open(path, &db);
    CHECK(sqlite3_exec(db,
                       "INSERT INTO outbox(seq, kind, device_id, ts) VALUES(1, 1, 1, 500), (2, 1, 1, 600);"
                       "INSERT INTO readings VALUES(1, 1, 0.5, 0), (1, 2, NULL, 2), (2, 1, 0.25, 0);"
                       "INSERT OR REPLACE INTO meta(key, value) VALUES('seq_reserved', 2), ('last_seq', 2);",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(store_open(path, &s, &err) == 0);
    CHECK(store_register(s, &cfg, &err) == 0);
    struct msg *m = reading(700, 0.125);
    int64_t seq;
    CHECK(store_append_reading(s, &dev, m, &seq) == 0 && seq == 3);
    CHECK(store_spill(s) == 0);
    struct outbox_row rows[4];
    struct outbox_cursor cur = {0, 0};
    CHECK(store_fetch_unsent(s, &cur, rows, 4) == 3);
    CHECK(rows[0].seq == 1 && rows[0].nvalues == 2 && rows[0].values[0].value == 0.5);
    CHECK(rows[0].values[1].quality == Q_OFFLINE && !strcmp(rows[0].values[1].point, "decimals"));
    CHECK(rows[1].seq == 2 && rows[1].nvalues == 1 && rows[1].values[0].value == 0.25);
    CHECK(rows[2].seq == 3 && rows[2].nvalues == 3 && rows[2].values[0].value == 0.125);
    CHECK(count(path, "SELECT count(*) FROM reading_values") == 6);
    CHECK(count(path, "SELECT count(*) FROM reading_values WHERE seq = 3 AND point = 'total' AND quality = 2 "
                      "AND value IS NULL") == 1);
    store_close(s);
    msg_free(m);
    remove_db(path);
}

int main(void)
{
    setup();
    char path[] = "/tmp/caretaker-test-store-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    unlink(path);

    struct store *s;
    struct diag err;
    diag_clear(&err);
    CHECK(store_open(path, &s, &err) == 0);
    CHECK(store_register(s, &cfg, &err) == 0);
    CHECK(count(path, "PRAGMA user_version") == 7);
    CHECK(count(path, "SELECT count(*) FROM points") == 3);

    struct msg *m = msg_new(MSG_READING, 0, 1700000000123LL, 3);
    m->values[0] = 0.82;
    m->quality[0] = Q_OK;
    m->values[1] = NAN;
    m->quality[1] = Q_INVALID;
    m->values[2] = NAN;
    m->quality[2] = 0xff; /* not part of this poll */
    int64_t seq1, seq2;
    CHECK(store_append_reading(s, &dev, m, &seq1) == 0);
    CHECK(seq1 == 1);
    /* Held in memory: nothing written, no transaction to commit */
    CHECK(!store_in_transaction(s));
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE kind = 1") == 0);
    CHECK(store_spill(s) == 0);
    /* One row for the poll, its two points in its body */
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE kind = 1") == 1);
    CHECK(count(path, "SELECT count(*) FROM readings") == 0);
    CHECK(count(path, "SELECT count(*) FROM reading_values") == 2);
    CHECK(count(path, "SELECT count(*) FROM reading_values WHERE device='manhole-3' AND point='level' "
                      "AND value=0.82 AND quality=0 AND ts=1700000000123") == 1);
    /* An invalid value is stored without a number */
    CHECK(count(path, "SELECT count(*) FROM reading_values WHERE point='decimals' AND value IS NULL "
                      "AND quality=1") == 1);

    CHECK(store_append_event(s, &dev, OUTBOX_DEVICE_STATE, 1700000000200LL, "{\"state\":\"offline\"}", &seq2) == 0);
    CHECK(seq2 == 2);
    store_close(s);

    /* Restart: seq continues after the last one, even when old rows were deleted */
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "DELETE FROM readings; DELETE FROM outbox;", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK(store_open(path, &s, &err) == 0);
    CHECK(store_register(s, &cfg, &err) == 0);
    CHECK(store_last_seq(s) == 2);
    CHECK(store_append_reading(s, &dev, m, &seq1) == 0);
    CHECK(seq1 == 3);
    store_close(s); /* closing commits what is pending */
    CHECK(count(path, "SELECT count(*) FROM outbox WHERE seq = 3") == 1);
    CHECK(count(path, "SELECT count(*) FROM points") == 3); /* registered once, not twice */
    msg_free(m);

    /* A database from a newer Caretaker is refused and left as it is */
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    diag_clear(&err);
    CHECK(store_open(path, &s, &err) == -1);
    CHECK_CONTAINS(err.msg, "schema version 99 is newer");
    CHECK(count(path, "PRAGMA user_version") == 99);

    remove_db(path);

    test_outbox();
    test_partial_rows();
    test_eviction_order();
    test_full_file();
    test_expire();
    test_alerts_and_reports();
    test_unclean_stop();
    test_old_rows();
    return check_report();
}
