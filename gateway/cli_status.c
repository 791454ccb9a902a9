/* cli_status: `caretaker status` — reads the store with its own queries, read-only.
 *
 * Promise to the daemon: the file is opened SQLITE_OPEN_READONLY (WAL lets a reader in while
 * the daemon writes; a reader never blocks the writer), each query is a short read
 * transaction, and nothing is created — not even the file when it is missing. Only the
 * columns of docs/store.md are relied on; a column or table added later (outbox.sent flags,
 * an alerts table) is used when present and its absence is said in plain words. */
#include "cli_status.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store_schema.h"

#define MAX_DEVICES 4096

void status_usage(FILE *out)
{
    fprintf(out, "usage: caretaker status -c FILE   (the store named by the config's store.path)\n"
                 "       caretaker status --db PATH (a store file directly)\n"
                 "\n"
                 "Shows, from the local database, without disturbing a running daemon:\n"
                 "  - each device: online or offline (its latest state change), the time of its last\n"
                 "    reading and how long ago that was;\n"
                 "  - the values of each device's last reading (invalid: NaN or out of the point's\n"
                 "    range; offline: the read failed);\n"
                 "  - the backlog: messages stored but not yet acknowledged by the MQTT broker\n"
                 "    (a backlog that grows means the broker is unreachable; nothing is lost);\n"
                 "  - the active alerts.\n"
                 "The file is opened read-only; status may run at any time, as any user who can\n"
                 "read the file and its directory.\n"
                 "\n"
                 "examples:\n"
                 "  caretaker status -c /etc/caretaker/caretaker.json\n"
                 "  caretaker status --db /var/lib/caretaker/caretaker.db\n"
                 "\n"
                 "Exit status: 0 shown, 1 the store cannot be read, 2 bad command line.\n");
}

static void format_time(int64_t ts_ms, int64_t now_ms, char *out, size_t n)
{
    time_t t = (time_t)(ts_ms / 1000);
    struct tm tm;
    char when[32];
    localtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    int64_t age = (now_ms - ts_ms) / 1000;
    if (age < 0)
        snprintf(out, n, "%s", when);
    else if (age < 120)
        snprintf(out, n, "%s (%lld s ago)", when, (long long)age);
    else if (age < 7200)
        snprintf(out, n, "%s (%lld min ago)", when, (long long)(age / 60));
    else if (age < 172800)
        snprintf(out, n, "%s (%lld h ago)", when, (long long)(age / 3600));
    else
        snprintf(out, n, "%s (%lld days ago)", when, (long long)(age / 86400));
}

static int has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st;
    int yes = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    yes = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return yes;
}

static int has_column(sqlite3 *db, const char *table, const char *column)
{
    char sql[128];
    sqlite3_stmt *st;
    int yes = 0;
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    while (!yes && sqlite3_step(st) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(st, 1);
        yes = c && strcmp(c, column) == 0;
    }
    sqlite3_finalize(st);
    return yes;
}

struct dev_row {
    int64_t id;
    char name[128];
    char driver[128];
    char location[256];
    int64_t state_seq, reading_seq, reading_ts;
};

/* Latest seq per device among outbox rows of kind (and, for readings, with a good value). */
static void latest_by_device(sqlite3 *db, int kind, struct dev_row *devs, int n, int reading)
{
    static const char *const sql[] = {
        "SELECT device_id, max(seq) FROM outbox WHERE kind = ?1 GROUP BY device_id",
        /* the offline marker is a reading row too; "last reading" means the last one read */
        "SELECT o.device_id, max(o.seq), o.ts FROM outbox o WHERE o.kind = ?1 AND (EXISTS "
        "(SELECT 1 FROM readings r WHERE r.seq = o.seq AND r.quality = 0) OR EXISTS "
        /* a buffered poll's body: [point_id,value] for a good value, [point_id,null,quality] else */
        "(SELECT 1 FROM json_each(o.body) j WHERE json_array_length(j.value) = 2)) GROUP BY o.device_id"};
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql[reading], -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int(st, 1, kind);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t dev = sqlite3_column_int64(st, 0);
        for (int i = 0; i < n; i++) {
            if (devs[i].id != dev)
                continue;
            if (reading) {
                devs[i].reading_seq = sqlite3_column_int64(st, 1);
                devs[i].reading_ts = sqlite3_column_int64(st, 2);
            } else {
                devs[i].state_seq = sqlite3_column_int64(st, 1);
            }
        }
    }
    sqlite3_finalize(st);
}

/* "online", "offline" or "unknown" from a device-state row's body, and its time. */
static void device_state(sqlite3 *db, int64_t seq, char *state, size_t n, int64_t *ts)
{
    sqlite3_stmt *st;
    snprintf(state, n, "unknown");
    *ts = 0;
    if (!seq || sqlite3_prepare_v2(db, "SELECT body, ts FROM outbox WHERE seq = ?1", -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, seq);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *body = (const char *)sqlite3_column_text(st, 0);
        *ts = sqlite3_column_int64(st, 1);
        cJSON *j = body ? cJSON_Parse(body) : NULL;
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "state");
        if (cJSON_IsString(s) && s->valuestring)
            snprintf(state, n, "%s", s->valuestring);
        cJSON_Delete(j);
    }
    sqlite3_finalize(st);
}

static void print_readings(FILE *out, sqlite3 *db, const struct dev_row *d, int64_t now_ms)
{
    sqlite3_stmt *st;
    char when[64];
    format_time(d->reading_ts, now_ms, when, sizeof when);
    fprintf(out, "  %s at %s\n", d->name, when);
    if (sqlite3_prepare_v2(
            db,
            "SELECT p.name, p.unit, r.value, r.quality, p.id FROM readings r JOIN points p ON p.id = r.point_id "
            "WHERE r.seq = ?1 UNION ALL SELECT p.name, p.unit, json_extract(j.value, '$[1]'),"
            " coalesce(json_extract(j.value, '$[2]'), 0), p.id FROM outbox o JOIN json_each(o.body) j"
            " JOIN points p ON p.id = json_extract(j.value, '$[0]') WHERE o.seq = ?1 AND o.kind = 1 ORDER BY 5",
            -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, d->reading_seq);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *unit = (const char *)sqlite3_column_text(st, 1);
        int q = sqlite3_column_int(st, 3);
        if (q == 0 && sqlite3_column_type(st, 2) != SQLITE_NULL)
            fprintf(out, "    %-24s %.10g%s%s\n", name ? name : "?", sqlite3_column_double(st, 2),
                    unit && unit[0] ? " " : "", unit ? unit : "");
        else
            fprintf(out, "    %-24s (%s)\n", name ? name : "?", q == 1 ? "invalid" : q == 2 ? "offline" : "no value");
    }
    sqlite3_finalize(st);
}

static void print_backlog(FILE *out, sqlite3 *db, int64_t now_ms)
{
    static const char *const kinds[OUTBOX_KIND_LAST + 1] = {[OUTBOX_READING] = "readings",
                                                            [OUTBOX_DEVICE_STATE] = "device states",
                                                            [OUTBOX_EVENT] = "events",
                                                            [OUTBOX_ALERT] = "alerts",
                                                            [OUTBOX_REPORT] = "reports"};
    sqlite3_stmt *st;
    if (!has_column(db, "outbox", "sent")) {
        fprintf(out, "backlog: not recorded in this store (no sent flags)\n");
        return;
    }
    if (sqlite3_prepare_v2(db, "SELECT kind, count(*), min(ts) FROM outbox WHERE sent = 0 GROUP BY kind ORDER BY kind",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(out, "backlog: cannot be read: %s\n", sqlite3_errmsg(db));
        return;
    }
    int64_t total = 0, oldest = 0;
    char parts[256] = "";
    while (sqlite3_step(st) == SQLITE_ROW) {
        int kind = sqlite3_column_int(st, 0);
        int64_t n = sqlite3_column_int64(st, 1), ts = sqlite3_column_int64(st, 2);
        total += n;
        if (!oldest || ts < oldest)
            oldest = ts;
        size_t used = strlen(parts);
        if (kind >= 1 && kind <= OUTBOX_KIND_LAST)
            snprintf(parts + used, sizeof parts - used, "%s%lld %s", used ? ", " : "", (long long)n, kinds[kind]);
        else
            snprintf(parts + used, sizeof parts - used, "%s%lld of kind %d", used ? ", " : "", (long long)n, kind);
    }
    sqlite3_finalize(st);
    if (total == 0) {
        fprintf(out, "backlog: none (every stored message has been acknowledged by the broker)\n");
        return;
    }
    char when[64];
    format_time(oldest, now_ms, when, sizeof when);
    fprintf(out, "backlog: %lld messages not yet acknowledged by the broker (%s), oldest from %s\n", (long long)total,
            parts, when);
}

static void print_alert_json(FILE *out, const cJSON *a, int64_t now_ms)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(a, "device");
    const cJSON *sev = cJSON_GetObjectItemCaseSensitive(a, "severity");
    const cJSON *raised = cJSON_GetObjectItemCaseSensitive(a, "raised_ts");
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(a, "respond_by_ts");
    const cJSON *acked = cJSON_GetObjectItemCaseSensitive(a, "acked");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(a, "message");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(msg, "en");
    const cJSON *zh = cJSON_GetObjectItemCaseSensitive(msg, "zh");
    char when[64] = "?", due[64] = "";
    if (cJSON_IsNumber(raised))
        format_time((int64_t)raised->valuedouble, now_ms, when, sizeof when);
    if (cJSON_IsNumber(by) && by->valuedouble > 0)
        format_time((int64_t)by->valuedouble, now_ms, due, sizeof due);
    fprintf(out, "  %-8s %s: %s%s%s, raised %s%s%s%s\n", cJSON_IsString(sev) ? sev->valuestring : "?",
            cJSON_IsString(dev) ? dev->valuestring : "?", cJSON_IsString(en) ? en->valuestring : "",
            cJSON_IsString(zh) ? " / " : "", cJSON_IsString(zh) ? zh->valuestring : "", when,
            due[0] ? ", respond by " : "", due, cJSON_IsTrue(acked) ? ", acknowledged" : "");
    if (cJSON_IsString(id))
        fprintf(out, "           id %s\n", id->valuestring);
}

/* Active alerts from the outbox's alert events: the latest event of each alert id, unless it
 * is a clearing or a one-shot occurrence. Used when no table of alerts exists. */
static int alerts_from_events(FILE *out, sqlite3 *db, int64_t now_ms)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT body FROM outbox WHERE kind = ?1 ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int(st, 1, OUTBOX_ALERT);
    cJSON *latest = cJSON_CreateObject();
    while (latest && sqlite3_step(st) == SQLITE_ROW) {
        const char *body = (const char *)sqlite3_column_text(st, 0);
        cJSON *ev = body ? cJSON_Parse(body) : NULL;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
        if (cJSON_IsString(id) && id->valuestring) {
            cJSON_DeleteItemFromObjectCaseSensitive(latest, id->valuestring);
            cJSON_AddItemToObject(latest, id->valuestring, ev);
        } else {
            cJSON_Delete(ev);
        }
    }
    sqlite3_finalize(st);
    int n = 0;
    for (const cJSON *ev = latest ? latest->child : NULL; ev; ev = ev->next) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ev, "event");
        if (cJSON_IsString(kind) &&
            (strcmp(kind->valuestring, "cleared") == 0 || strcmp(kind->valuestring, "occurred") == 0))
            continue;
        if (n++ == 0)
            fprintf(out, "active alerts (from the alert events in the store):\n");
        print_alert_json(out, ev, now_ms);
    }
    cJSON_Delete(latest);
    return n;
}

/* An alerts table: rows not cleared, each shown from its saved record when it has one, else by
 * its columns. */
static int alerts_from_table(FILE *out, sqlite3 *db, int64_t now_ms)
{
    sqlite3_stmt *st;
    if (has_column(db, "alerts", "json") &&
        sqlite3_prepare_v2(db, "SELECT json FROM alerts WHERE cleared_ts IS NULL ORDER BY raised_ts", -1, &st, NULL) ==
            SQLITE_OK) {
        int n = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *json = (const char *)sqlite3_column_text(st, 0);
            cJSON *a = json ? cJSON_Parse(json) : NULL;
            if (n++ == 0)
                fprintf(out, "active alerts:\n");
            print_alert_json(out, a, now_ms);
            cJSON_Delete(a);
        }
        sqlite3_finalize(st);
        return n;
    }
    const char *sql = has_column(db, "alerts", "cleared_ts")
                          ? "SELECT * FROM alerts WHERE cleared_ts IS NULL OR cleared_ts = 0"
                          : "SELECT * FROM alerts";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n++ == 0)
            fprintf(out, "active alerts:\n");
        fprintf(out, " ");
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const char *v = (const char *)sqlite3_column_text(st, c);
            fprintf(out, " %s=%s", sqlite3_column_name(st, c), v ? v : "-");
        }
        fprintf(out, "\n");
    }
    sqlite3_finalize(st);
    return n;
}

int status_print(FILE *out, const char *db_path, int64_t now_ms)
{
    struct stat sb;
    if (stat(db_path, &sb) < 0) {
        fprintf(stderr, "caretaker status: %s: %s (has the daemon run with this config yet?)\n", db_path,
                strerror(errno));
        return -1;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        fprintf(stderr, "caretaker status: %s: %s\n", db_path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    /* The daemon checkpoints now and then; wait for it rather than fail. */
    sqlite3_busy_timeout(db, 5000);
    if (!has_table(db, "devices") || !has_table(db, "outbox") || !has_table(db, "readings") ||
        !has_table(db, "points")) {
        fprintf(stderr, "caretaker status: %s: not a Caretaker store (%s)\n", db_path,
                sqlite3_errcode(db) == SQLITE_OK ? "its tables are missing" : sqlite3_errmsg(db));
        sqlite3_close(db);
        return -1;
    }
    /* One read transaction: every figure below is of the same moment. */
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    struct dev_row *devs = calloc(MAX_DEVICES, sizeof *devs);
    int n = 0;
    sqlite3_stmt *st;
    if (devs && sqlite3_prepare_v2(db, "SELECT id, name, driver, location FROM devices ORDER BY name", -1, &st, NULL) ==
                    SQLITE_OK) {
        while (n < MAX_DEVICES && sqlite3_step(st) == SQLITE_ROW) {
            devs[n].id = sqlite3_column_int64(st, 0);
            const char *name = (const char *)sqlite3_column_text(st, 1);
            const char *drv = (const char *)sqlite3_column_text(st, 2);
            const char *loc = (const char *)sqlite3_column_text(st, 3);
            snprintf(devs[n].name, sizeof devs[n].name, "%s", name ? name : "?");
            snprintf(devs[n].driver, sizeof devs[n].driver, "%s", drv ? drv : "");
            snprintf(devs[n].location, sizeof devs[n].location, "%s", loc ? loc : "");
            n++;
        }
        sqlite3_finalize(st);
    }
    latest_by_device(db, OUTBOX_DEVICE_STATE, devs, n, 0);
    latest_by_device(db, OUTBOX_READING, devs, n, 1);

    fprintf(out, "store %s\n\ndevices (%d):\n", db_path, n);
    for (int i = 0; i < n; i++) {
        char state[32], when[64] = "never", since[64] = "";
        int64_t state_ts;
        device_state(db, devs[i].state_seq, state, sizeof state, &state_ts);
        if (devs[i].reading_seq)
            format_time(devs[i].reading_ts, now_ms, when, sizeof when);
        if (state_ts)
            format_time(state_ts, now_ms, since, sizeof since);
        fprintf(out, "  %-20s %-8s last reading %s\n", devs[i].name, state, when);
        fprintf(out, "  %-20s %s%s%s%s%s\n", "", devs[i].driver, devs[i].location[0] ? ", " : "", devs[i].location,
                since[0] ? (strcmp(state, "online") == 0 ? ", online since " : ", offline since ") : "", since);
    }
    fprintf(out, "\nlast readings:\n");
    int shown = 0;
    for (int i = 0; i < n; i++) {
        if (devs[i].reading_seq) {
            print_readings(out, db, &devs[i], now_ms);
            shown++;
        }
    }
    if (!shown)
        fprintf(out, "  none yet\n");
    fprintf(out, "\n");
    print_backlog(out, db, now_ms);
    int alerts = has_table(db, "alerts") ? alerts_from_table(out, db, now_ms) : alerts_from_events(out, db, now_ms);
    if (alerts == 0)
        fprintf(out, "active alerts: none\n");
    else if (alerts < 0)
        fprintf(out, "active alerts: cannot be read: %s\n", sqlite3_errmsg(db));
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    free(devs);
    sqlite3_close(db);
    return 0;
}
