/* store_visits: what a month's report is made of besides the alerts — visits, each device's
 * counts of each local day, when a device was first registered — and the marks of what was
 * reported. Rows are few (a device a day, a visit a fortnight), so statements are prepared per
 * call. */
#include "store_internal.h"

static void copy_col(char *dst, size_t n, sqlite3_stmt *st, int col)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    snprintf(dst, n, "%s", v ? v : "");
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v && v[0])
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* One write in the open transaction; a failure is counted like any other write's. */
static int write_done(struct store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store__write_failed(s, rc, what);
    s->pending++;
    return 0;
}

static int prepare_write(struct store *s, const char *sql, sqlite3_stmt **st)
{
    if (store__begin(s) < 0)
        return -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return store__write_failed(s, sqlite3_errcode(s->db), sql);
    return 0;
}

/* Runs a query of rows between ?1 and ?2 (and, when it has a ?3, of device), handing each row
 * to row (which returns -1 to stop). Returns the rows seen, or -1. */
static int walk(struct store *s, const char *sql, int64_t from, int64_t to, const char *device,
                int (*row)(void *ctx, sqlite3_stmt *st), void *ctx)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    if (sqlite3_bind_parameter_count(st) >= 3)
        bind_text(st, 3, device);
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        if (row(ctx, st) < 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

/* The caller's callback and context, for walk's row functions. */
struct walk_to {
    store_visit_fn visit;
    store_device_day_fn day;
    store_alert_fn alert;
    void *ctx;
};

int store_put_visit(struct store *s, struct store_visit *v)
{
    sqlite3_stmt *st;
    if (prepare_write(s,
                      v->id
                          ? "UPDATE visits SET device = ?1, kind = ?2, start_ts = ?3, end_ts = ?4, by = ?5, name = ?6,"
                            " note = ?7 WHERE id = ?8"
                          : "INSERT INTO visits(device, kind, start_ts, end_ts, by, name, note)"
                            " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                      &st) < 0)
        return -1;
    sqlite3_bind_text(st, 1, v->device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, v->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, v->start_ts);
    if (v->end_ts)
        sqlite3_bind_int64(st, 4, v->end_ts);
    else
        sqlite3_bind_null(st, 4);
    bind_text(st, 5, v->by);
    bind_text(st, 6, v->name);
    bind_text(st, 7, v->note);
    if (v->id)
        sqlite3_bind_int64(st, 8, v->id);
    if (write_done(s, st, "save visit") < 0)
        return -1;
    if (!v->id)
        v->id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

static int visit_row(void *ctx, sqlite3_stmt *st)
{
    const struct walk_to *w = ctx;
    struct store_visit v = {.id = sqlite3_column_int64(st, 0),
                            .start_ts = sqlite3_column_int64(st, 3),
                            .end_ts = sqlite3_column_int64(st, 4)};
    copy_col(v.device, sizeof v.device, st, 1);
    copy_col(v.kind, sizeof v.kind, st, 2);
    copy_col(v.by, sizeof v.by, st, 5);
    copy_col(v.name, sizeof v.name, st, 6);
    copy_col(v.note, sizeof v.note, st, 7);
    return w->visit(w->ctx, &v);
}

int store_visits(struct store *s, const char *device, int64_t from, int64_t to, store_visit_fn fn, void *ctx)
{
    struct walk_to w = {.visit = fn, .ctx = ctx};
    return walk(s,
                "SELECT id, device, kind, start_ts, end_ts, by, name, note FROM visits"
                " WHERE start_ts < ?2 AND (end_ts IS NULL OR end_ts >= ?1) AND (?3 IS NULL OR device = ?3)"
                " ORDER BY start_ts, id",
                from, to, device, visit_row, &w);
}

int store_last_long_visit(struct store *s, const char *device, const char *kind, int64_t min_ms, int64_t *end_ts)
{
    sqlite3_stmt *st;
    *end_ts = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT max(end_ts) FROM visits WHERE device = ?1 AND kind = ?2 AND end_ts IS NOT NULL"
                           " AND end_ts - start_ts >= ?3",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, min_ms);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *end_ts = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

int store_put_device_day(struct store *s, const struct store_device_day *d)
{
    sqlite3_stmt *st;
    if (prepare_write(s,
                      "INSERT OR REPLACE INTO device_day(device, day_start, up_ms, online_ms, polls_due, polls_ok)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                      &st) < 0)
        return -1;
    sqlite3_bind_text(st, 1, d->device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, d->day_start);
    sqlite3_bind_int64(st, 3, d->up_ms);
    sqlite3_bind_int64(st, 4, d->online_ms);
    sqlite3_bind_double(st, 5, d->polls_due);
    sqlite3_bind_int64(st, 6, d->polls_ok);
    return write_done(s, st, "save device day");
}

static int day_row(void *ctx, sqlite3_stmt *st)
{
    const struct walk_to *w = ctx;
    struct store_device_day d = {.day_start = sqlite3_column_int64(st, 1),
                                 .up_ms = sqlite3_column_int64(st, 2),
                                 .online_ms = sqlite3_column_int64(st, 3),
                                 .polls_due = sqlite3_column_double(st, 4),
                                 .polls_ok = sqlite3_column_int64(st, 5)};
    copy_col(d.device, sizeof d.device, st, 0);
    return w->day(w->ctx, &d);
}

int store_device_days(struct store *s, int64_t from, int64_t to, store_device_day_fn fn, void *ctx)
{
    struct walk_to w = {.day = fn, .ctx = ctx};
    return walk(s,
                "SELECT device, day_start, up_ms, online_ms, polls_due, polls_ok FROM device_day"
                " WHERE day_start >= ?1 AND day_start < ?2 ORDER BY device, day_start",
                from, to, NULL, day_row, &w);
}

int store_device_since(struct store *s, const char *device, int64_t now_ms, int64_t *since)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT ts FROM device_since WHERE device = ?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *since = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE || prepare_write(s, "INSERT INTO device_since(device, ts) VALUES(?1, ?2)", &st) < 0)
        return -1;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    *since = now_ms;
    return write_done(s, st, "save device registration");
}

static int alert_row(void *ctx, sqlite3_stmt *st)
{
    const struct walk_to *w = ctx;
    const char *json = (const char *)sqlite3_column_text(st, 0);
    return json ? w->alert(w->ctx, json) : 0;
}

int store_alerts_between(struct store *s, int64_t from, int64_t to, store_alert_fn fn, void *ctx)
{
    struct walk_to w = {.alert = fn, .ctx = ctx};
    return walk(s,
                "SELECT json FROM alerts WHERE raised_ts < ?2 AND (cleared_ts IS NULL OR cleared_ts >= ?1)"
                " ORDER BY raised_ts, id",
                from, to, NULL, alert_row, &w);
}

int store_get_mark(struct store *s, const char *key, int64_t *value)
{
    sqlite3_stmt *st;
    *value = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_set_mark(struct store *s, const char *key, int64_t value)
{
    sqlite3_stmt *st;
    if (prepare_write(s, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", &st) < 0)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, value);
    return write_done(s, st, "save mark");
}

int store_correct_times(struct store *s, int64_t lo, int64_t hi, int64_t delta_ms)
{
    static const char *const sql[] = {
        "UPDATE device_since SET ts = ts + ?3 WHERE ts BETWEEN ?1 AND ?2",
        "UPDATE visits SET start_ts = start_ts + ?3 WHERE start_ts BETWEEN ?1 AND ?2",
        "UPDATE visits SET end_ts = end_ts + ?3 WHERE end_ts BETWEEN ?1 AND ?2",
    };
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
        sqlite3_stmt *st;
        if (prepare_write(s, sql[i], &st) < 0)
            return -1;
        sqlite3_bind_int64(st, 1, lo);
        sqlite3_bind_int64(st, 2, hi);
        sqlite3_bind_int64(st, 3, delta_ms);
        if (write_done(s, st, "correct the times of the unsynchronized span") < 0)
            return -1;
    }
    return 0;
}
