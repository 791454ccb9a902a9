/* test_store: the SQLite file — schema, group commit visibility, seq continuity across restarts,
 * quality of values, and refusal of a newer schema. */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
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
    CHECK(count(path, "PRAGMA user_version") == 1);
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
    CHECK(store_pending_rows(s) == 3); /* one outbox row + two readings */
    /* Group commit: nothing is visible to readers before the commit */
    CHECK(count(path, "SELECT count(*) FROM readings") == 0);
    CHECK(store_commit(s) == 0);
    CHECK(count(path, "SELECT count(*) FROM readings") == 2);
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

    unlink(path);
    char aux[64];
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
    return check_report();
}
