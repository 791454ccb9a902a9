/* store_alerts: alert rows and each device's report day, kept in the same transaction as the
 * events that change them. */
#include "store_internal.h"

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
    if (store__begin(s) < 0)
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
    int rc = store__step_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return store__write_failed(s, rc, "save alert");
    s->pending++;
    return 0;
}

/* Runs sql (one text parameter at most) and hands each row's first two columns to fn. */
static int each_row(struct store *s, const char *sql, const char *arg, int (*fn)(void *ctx, sqlite3_stmt *st),
                    void *ctx)
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
    return each_row(s, "SELECT json FROM alerts WHERE cleared_ts IS NULL ORDER BY raised_ts, id", NULL, alert_row, &w);
}

int store_put_report_day(struct store *s, const char *device, int64_t day_start_ms, const char *json)
{
    if (store__begin(s) < 0)
        return -1;
    sqlite3_stmt *st = s->put_report;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, day_start_ms);
    sqlite3_bind_text(st, 3, json, -1, SQLITE_STATIC);
    int rc = store__step_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return store__write_failed(s, rc, "save report day");
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
