/* test_reports: the day's figures of an elevator and a flow meter driven by a fake clock in
 * Asia/Shanghai (UTC+8, no DST): local midnight is 16:00 UTC, the day's report goes out then,
 * counts survive a save and restore in the middle of the day, and a day that ended while the
 * daemon was down is reported at start; a pump's time in a state, rises and mean over a day
 * and its midnight; a day saved in the layout of before reads back. Every figure below is
 * worked out by hand. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "payload.h"
#include "reports.h"

/* 2024-06-01 00:00 +08:00 = 2024-05-31 16:00 UTC. Days from 1970-01-01 to 2024-05-31: 54 years
 * with 13 leap days (1972..2020) = 54 * 365 + 13 = 19723, plus Jan..May 2024 = 31+29+31+30+31 =
 * 152 minus 1 for the 31st not yet over = 151 → 19874 days; 19874 * 86400 = 1717113600 s at
 * 2024-05-31 00:00 UTC, + 16 h = 1717171200 s. */
#define DAY1 1717171200000LL           /* 2024-06-01 00:00 in Shanghai */
#define DAY2 (DAY1 + 86400000LL)       /* 2024-06-02 00:00 */
#define H(x) ((int64_t)(x) * 3600000LL)
#define MIN(x) ((int64_t)(x) * 60000LL)

static struct profile lift_p, flow_p;
static struct device lift, flow;
static struct device *devs[2] = {&lift, &flow};
static struct config cfg;
/* A device of its own config with one point of each newer kind: a run flag (time_in), a speed
 * (rises) and a level (mean), polled every minute. */
static struct profile pump_p;
static struct device pump;
static struct device *pump_devs[1] = {&pump};
static struct config pump_cfg;

static void add_point(struct profile *p, const char *name, const char *unit, const char *as, enum report_how how)
{
    struct point *pt = &p->points[p->npoints++];
    snprintf(pt->name, sizeof pt->name, "%s", name);
    snprintf(pt->unit, sizeof pt->unit, "%s", unit);
    snprintf(pt->report_as, sizeof pt->report_as, "%s", as);
    pt->report_how = how;
}

static void setup(void)
{
    snprintf(lift_p.kind, sizeof lift_p.kind, "elevator");
    add_point(&lift_p, "runs", "", "runs", REPORT_DELTA);                     /* 0 */
    add_point(&lift_p, "door_cycles", "", "door_cycles", REPORT_DELTA);       /* 1 */
    add_point(&lift_p, "running_hours", "h", "running_hours", REPORT_DELTA);  /* 2 */
    add_point(&lift_p, "speed", "m/s", "", REPORT_NONE);                      /* 3: in no figure */
    snprintf(flow_p.kind, sizeof flow_p.kind, "sewage.flow");
    add_point(&flow_p, "flow", "m3/h", "peak_flow", REPORT_PEAK);             /* 0 */
    add_point(&flow_p, "forward_total", "m3", "volume", REPORT_DELTA);        /* 1 */
    snprintf(pump_p.kind, sizeof pump_p.kind, "sewage.pump");
    add_point(&pump_p, "running", "", "running_hours", REPORT_TIME_IN);       /* 0 */
    add_point(&pump_p, "speed", "m/s", "runs", REPORT_RISES);                 /* 1 */
    add_point(&pump_p, "level", "m", "mean_level", REPORT_MEAN);              /* 2 */
    snprintf(pump.id, sizeof pump.id, "pump-1");
    pump.profile = &pump_p;
    pump.poll_ms = 60000; /* a state holds 3 polls: 180 s */
    snprintf(pump_cfg.timezone, sizeof pump_cfg.timezone, "Asia/Shanghai");
    pump_cfg.ndevices = 1;
    pump_cfg.devices = pump_devs;
    snprintf(lift.id, sizeof lift.id, "lift-1");
    snprintf(lift.location, sizeof lift.location, "3幢1单元");
    lift.profile = &lift_p;
    lift.index = 0;
    snprintf(flow.id, sizeof flow.id, "fm-2");
    flow.profile = &flow_p;
    flow.index = 1;
    snprintf(cfg.timezone, sizeof cfg.timezone, "Asia/Shanghai");
    cfg.ndevices = 2;
    cfg.devices = devs;
}

/* What the callbacks got. */
struct got {
    int n;
    int device[8];
    int64_t end[8];
    cJSON *body[8];
    char saved_dev[4][NAME_MAX_LEN];
    int64_t saved_start[4];
    char *saved[4];
    int nsaved;
};

/* The report as it is stored and published (payload_daily_report), parsed back. */
static void on_report(void *ctx, int device, const struct daily_report *rep)
{
    struct got *g = ctx;
    if (g->n == 8)
        return;
    struct jbuf b = {0};
    CHECK(payload_daily_report(&b, rep) == 0);
    g->device[g->n] = device;
    g->end[g->n] = rep->to_ts;
    g->body[g->n] = cJSON_Parse(b.p);
    CHECK(g->body[g->n] != NULL);
    g->n++;
    jbuf_free(&b);
}

static void on_save(void *ctx, const char *device, int64_t day_start_ms, const char *json)
{
    struct got *g = ctx;
    if (g->nsaved == 4)
        return;
    snprintf(g->saved_dev[g->nsaved], NAME_MAX_LEN, "%s", device);
    g->saved_start[g->nsaved] = day_start_ms;
    g->saved[g->nsaved++] = strdup(json);
}

static void got_free(struct got *g)
{
    for (int i = 0; i < g->n; i++)
        cJSON_Delete(g->body[i]);
    for (int i = 0; i < g->nsaved; i++)
        free(g->saved[i]);
    memset(g, 0, sizeof *g);
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void lift_poll(struct reports *r, int64_t ts, double runs, double doors, double hours, struct got *g)
{
    double v[4] = {runs, doors, hours, 0.5};
    uint8_t q[4] = {Q_OK, Q_OK, Q_OK, Q_OK};
    reports_reading(r, 0, ts, v, q, 4, on_report, g);
}

static void flow_poll(struct reports *r, int64_t ts, double f, double total, struct got *g)
{
    double v[2] = {f, total};
    uint8_t q[2] = {Q_OK, Q_OK};
    reports_reading(r, 1, ts, v, q, 2, on_report, g);
}

static struct alert_event alert_ev(enum alert_event_kind k, int64_t ts, const char *rule, enum severity s)
{
    struct alert_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = k;
    ev.ts = ts;
    snprintf(ev.alert.rule, sizeof ev.alert.rule, "%s", rule);
    ev.alert.severity = s;
    return ev;
}

static void test_day_bounds(void)
{
    /* 15:59:59.999 UTC on 2024-05-31 is 23:59:59.999 on the 31st in Shanghai */
    CHECK(reports_day_start(DAY1 - 1) == DAY1 - 86400000LL);
    CHECK(reports_day_start(DAY1) == DAY1);
    CHECK(reports_day_start(DAY1 + H(23) + MIN(59)) == DAY1);
    CHECK(reports_day_end(DAY1) == DAY2);
}

static void test_elevator_day(void)
{
    struct got g = {0};
    struct reports *r = reports_new(&cfg, DAY1 + H(1));
    /* 01:00 runs 100, doors 200, hours 10; 08:00 130/265/11; the counter is replaced at 09:00 and
     * reads 5 (a reset: nothing added), 12:00 reads 25 (+20). Runs: 30 + 20 = 50; doors: 65 + 15
     * (200 → 265 → 280) = 80; hours: 10 → 11 → 11.5 = 1.5. An invalid poll adds nothing. */
    lift_poll(r, DAY1 + H(1), 100, 200, 10, &g);
    lift_poll(r, DAY1 + H(8), 130, 265, 11, &g);
    lift_poll(r, DAY1 + H(9), 5, 265, 11, &g);
    double v[4] = {NAN, 999, 12, 0};
    uint8_t q[4] = {Q_OFFLINE, Q_INVALID, Q_INVALID, Q_OFFLINE};
    reports_reading(r, 0, DAY1 + H(10), v, q, 4, on_report, &g);
    lift_poll(r, DAY1 + H(12), 25, 280, 11.5, &g);
    /* Faults: overspeed raised twice, door failure once; an info alert and an occurrence are no
     * faults. Minutes in alarm: overspeed 10:00-10:30 and door failure 10:15-11:00 overlap: in
     * alarm from 10:00 to 11:00 = 60 min; overspeed again from 23:50 to past midnight: 10 min
     * more in this day = 70. */
    struct alert_event e1 = alert_ev(ALERT_RAISED, DAY1 + H(10), "overspeed", SEV_CRITICAL);
    struct alert_event e2 = alert_ev(ALERT_RAISED, DAY1 + H(10) + MIN(15), "door_failure", SEV_MINOR);
    struct alert_event e3 = alert_ev(ALERT_CLEARED, DAY1 + H(10) + MIN(30), "overspeed", SEV_CRITICAL);
    struct alert_event e4 = alert_ev(ALERT_CLEARED, DAY1 + H(11), "door_failure", SEV_MINOR);
    struct alert_event e5 = alert_ev(ALERT_RAISED, DAY1 + H(12), "out_of_service", SEV_INFO);
    struct alert_event e6 = alert_ev(ALERT_OCCURRED, DAY1 + H(12), "mode_change", SEV_MINOR);
    struct alert_event e7 = alert_ev(ALERT_RAISED, DAY1 + H(23) + MIN(50), "overspeed", SEV_CRITICAL);
    const struct alert_event *evs[] = {&e1, &e2, &e3, &e4, &e5, &e6, &e7};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        reports_alert(r, 0, evs[i], on_report, &g);
    reports_tick(r, DAY2 - 1, on_report, &g);
    CHECK(g.n == 0);
    reports_tick(r, DAY2 + 500, on_report, &g);
    CHECK(g.n == 2); /* both devices, the flow meter with nothing read */
    CHECK(g.device[0] == 0 && g.end[0] == DAY2);
    const cJSON *b = g.body[0];
    CHECK(b != NULL);
    CHECK_NEAR(num(b, "runs"), 50, 0);
    CHECK_NEAR(num(b, "door_cycles"), 80, 0);
    CHECK_NEAR(num(b, "running_hours"), 1.5, 1e-12);
    CHECK_NEAR(num(b, "minutes_in_alarm"), 70, 1e-9);
    CHECK_NEAR(num(b, "readings"), 4, 0);
    CHECK_NEAR(num(b, "from_ts"), (double)DAY1, 0);
    CHECK_NEAR(num(b, "to_ts"), (double)DAY2, 0);
    CHECK_NEAR(num(b, "first_reading_ts"), (double)(DAY1 + H(1)), 0);
    CHECK_NEAR(num(b, "last_reading_ts"), (double)(DAY1 + H(12)), 0);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(b, "faults");
    CHECK_NEAR(num(f, "overspeed"), 2, 0);
    CHECK_NEAR(num(f, "door_failure"), 1, 0);
    CHECK(cJSON_GetArraySize(f) == 2);
    const cJSON *day = cJSON_GetObjectItemCaseSensitive(b, "day");
    CHECK(cJSON_IsString(day) && strcmp(day->valuestring, "2024-06-01") == 0);
    CHECK(cJSON_GetObjectItemCaseSensitive(b, "volume") == NULL);    /* no totalizer on a lift */
    CHECK(cJSON_GetObjectItemCaseSensitive(b, "peak_flow") == NULL);
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(b, "location");
    CHECK(cJSON_IsString(loc) && strcmp(loc->valuestring, "3幢1单元") == 0);
    const cJSON *nothing = g.body[1];
    CHECK_NEAR(num(nothing, "readings"), 0, 0);
    CHECK_NEAR(num(nothing, "volume"), 0, 0);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(nothing, "peak_flow")));
    got_free(&g);
    /* The next day starts in alarm (overspeed still active): cleared at 00:20 = 20 min. */
    struct alert_event e8 = alert_ev(ALERT_CLEARED, DAY2 + MIN(20), "overspeed", SEV_CRITICAL);
    reports_alert(r, 0, &e8, on_report, &g);
    reports_tick(r, DAY2 + 86400000LL, on_report, &g);
    CHECK(g.n == 2);
    CHECK_NEAR(num(g.body[0], "minutes_in_alarm"), 20, 1e-9);
    CHECK_NEAR(num(g.body[0], "runs"), 0, 0);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(g.body[0], "faults")) == 0);
    got_free(&g);
    reports_free(r);
}

static void test_flow_restart(void)
{
    struct got g = {0};
    struct reports *r = reports_new(&cfg, DAY1 + H(6));
    /* 06:00 total 1000.25 m3 flow 3.5; 07:00 1012.75, 9.25 m3/h (the peak); save; "restart". */
    flow_poll(r, DAY1 + H(6), 3.5, 1000.25, &g);
    flow_poll(r, DAY1 + H(7), 9.25, 1012.75, &g);
    reports_save(r, on_save, &g);
    CHECK(g.nsaved == 2); /* both changed since the start */
    int fi = strcmp(g.saved_dev[0], "fm-2") == 0 ? 0 : 1;
    CHECK(strcmp(g.saved_dev[fi], "fm-2") == 0 && g.saved_start[fi] == DAY1);
    char *saved = strdup(g.saved[fi]);
    int64_t start = g.saved_start[fi];
    reports_free(r);
    got_free(&g);
    r = reports_new(&cfg, DAY1 + H(9));
    CHECK(reports_restore(r, "fm-2", start, saved, DAY1 + H(9), on_report, &g) == 0);
    CHECK(g.n == 0);
    /* While down the totalizer went on to 1030.0; the first poll after counts it:
     * volume = (1012.75 - 1000.25) + (1030.0 - 1012.75) = 12.5 + 17.25 = 29.75 m3. */
    flow_poll(r, DAY1 + H(9), 4.0, 1030.0, &g);
    reports_save(r, on_save, &g);
    CHECK(g.nsaved == 2); /* the meter, and the lift's fresh day */
    /* Saving again with nothing new hands nothing over. */
    reports_save(r, on_save, &g);
    CHECK(g.nsaved == 2);
    reports_tick(r, DAY2, on_report, &g);
    CHECK(g.n == 2);
    const cJSON *b = g.device[0] == 1 ? g.body[0] : g.body[1];
    CHECK_NEAR(num(b, "volume"), 29.75, 1e-9);
    CHECK_NEAR(num(b, "peak_flow"), 9.25, 0);
    CHECK_NEAR(num(b, "peak_flow_ts"), (double)(DAY1 + H(7)), 0);
    CHECK_NEAR(num(b, "readings"), 3, 0);
    const cJSON *units = cJSON_GetObjectItemCaseSensitive(b, "units");
    const cJSON *vu = cJSON_GetObjectItemCaseSensitive(units, "volume");
    CHECK(cJSON_IsString(vu) && strcmp(vu->valuestring, "m3") == 0);
    got_free(&g);
    reports_free(r);

    /* Down across midnight, with the 07:00 save the last one: the saved day (June 1st) is
     * reported at the start on June 2nd, 03:00, and the new day counts from the last saved value:
     * 1012.75 → 1031.5 = 18.75 m3 on June 2nd (what flowed while down is not lost). */
    r = reports_new(&cfg, DAY2 + H(3));
    CHECK(reports_restore(r, "fm-2", start, saved, DAY2 + H(3), on_report, &g) == 0);
    CHECK(g.n == 1 && g.device[0] == 1 && g.end[0] == DAY2);
    CHECK_NEAR(num(g.body[0], "volume"), 12.5, 1e-9); /* as saved at 07:00 */
    flow_poll(r, DAY2 + H(3), 2.0, 1031.5, &g);
    reports_tick(r, DAY2 + 86400000LL, on_report, &g);
    CHECK(g.n == 3);
    const cJSON *b2 = g.device[1] == 1 ? g.body[1] : g.body[2];
    CHECK_NEAR(num(b2, "volume"), 18.75, 1e-9);
    CHECK_NEAR(num(b2, "peak_flow"), 2.0, 0);
    got_free(&g);
    /* What does not read back is refused, and the day goes on untouched. */
    CHECK(reports_restore(r, "fm-2", DAY2, "{\"counters\":5}", DAY2, on_report, &g) == -1);
    CHECK(reports_restore(r, "no-such", DAY2, saved, DAY2, on_report, &g) == -1);
    CHECK(reports_restore(r, "fm-2", DAY2, "not json", DAY2, on_report, &g) == -1);
    CHECK(g.n == 0);
    free(saved);
    reports_free(r);
}

static void pump_poll(struct reports *r, int64_t ts, double running, double speed, double level, struct got *g)
{
    double v[3] = {running, speed, level};
    uint8_t q[3] = {Q_OK, Q_OK, isnan(level) ? Q_INVALID : Q_OK};
    reports_reading(r, 0, ts, v, q, 3, on_report, g);
}

/* time_in, rises and mean over a day and across its midnight, with a restart in the middle. */
static void test_states_day(void)
{
    struct got g = {0};
    struct reports *r = reports_new(&pump_cfg, DAY1 + H(1));
    /*            running  speed  level
     * 01:00:00   1        0.8    1.0   first reading: no rise (nothing known before it)
     * 01:02:00   1        0      2.0   running 01:00-01:02: 120 s
     * 01:04:00   0        0.5    bad   running 01:02-01:04: 120 s; rise 1; level not counted
     * 02:00:00   1        1.0    3.0   -- saved, restarted at 02:05 --
     * 02:10:00   0        0      0.5   600 s since 02:00 is past the 180 s hold: 180 s
     * 23:59:00   1        1.2    1.5   rise 2
     * 00:01:00   0        0      0.25  (June 2nd) held 23:59-00:01: 60 s each side of midnight
     * June 1st: running 120 + 120 + 180 + 60 = 480 s = 2/15 h; runs 2; mean level (1.0 + 2.0 +
     * 3.0 + 0.5 + 1.5) / 5 = 1.6. June 2nd: 60 s = 1/60 h; runs 0; mean level 0.25. */
    pump_poll(r, DAY1 + H(1), 1, 0.8, 1.0, &g);
    pump_poll(r, DAY1 + H(1) + MIN(2), 1, 0, 2.0, &g);
    pump_poll(r, DAY1 + H(1) + MIN(4), 0, 0.5, NAN, &g);
    pump_poll(r, DAY1 + H(2), 1, 1.0, 3.0, &g);
    reports_save(r, on_save, &g);
    CHECK(g.nsaved == 1);
    char *saved = strdup(g.saved[0]);
    reports_free(r);
    got_free(&g);
    r = reports_new(&pump_cfg, DAY1 + H(2) + MIN(5));
    CHECK(reports_restore(r, "pump-1", DAY1, saved, DAY1 + H(2) + MIN(5), on_report, &g) == 0);
    free(saved);
    pump_poll(r, DAY1 + H(2) + MIN(10), 0, 0, 0.5, &g);
    pump_poll(r, DAY1 + H(23) + MIN(59), 1, 1.2, 1.5, &g);
    CHECK(g.n == 0);
    pump_poll(r, DAY2 + MIN(1), 0, 0, 0.25, &g);
    CHECK(g.n == 1 && g.end[0] == DAY2);
    CHECK_NEAR(num(g.body[0], "running_hours"), 480.0 / 3600.0, 1e-9);
    CHECK_NEAR(num(g.body[0], "runs"), 2, 0);
    CHECK_NEAR(num(g.body[0], "mean_level"), 1.6, 1e-9);
    const cJSON *units = cJSON_GetObjectItemCaseSensitive(g.body[0], "units");
    const cJSON *hu = cJSON_GetObjectItemCaseSensitive(units, "running_hours");
    const cJSON *mu = cJSON_GetObjectItemCaseSensitive(units, "mean_level");
    CHECK(cJSON_IsString(hu) && strcmp(hu->valuestring, "h") == 0);
    CHECK(cJSON_IsString(mu) && strcmp(mu->valuestring, "m") == 0);
    CHECK(cJSON_GetObjectItemCaseSensitive(units, "runs") == NULL); /* a count has no unit */
    reports_tick(r, DAY2 + 86400000LL, on_report, &g);
    CHECK(g.n == 2);
    CHECK_NEAR(num(g.body[1], "running_hours"), 60.0 / 3600.0, 1e-9);
    CHECK_NEAR(num(g.body[1], "runs"), 0, 0);
    CHECK_NEAR(num(g.body[1], "mean_level"), 0.25, 0);
    /* A day without a reading has no mean, and a state last read long ago holds no time. */
    reports_tick(r, DAY2 + 2 * 86400000LL, on_report, &g);
    CHECK(g.n == 3);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(g.body[2], "mean_level")));
    CHECK_NEAR(num(g.body[2], "running_hours"), 0, 0);
    got_free(&g);
    reports_free(r);
}

/* A day saved by the reporter before figures came from the profile (point names fixed in the
 * code) has the same layout for counters and peaks: it reads back whole. */
static void test_old_saved_day(void)
{
    static const char old[] =
        "{\"counters\":{\"volume\":{\"sum\":12.5,\"last\":1012.75}},\"peaks\":{\"peak_flow\":{\"value\":9.25,"
        "\"ts\":1717196400000}},\"faults\":{\"empty_pipe\":1},\"active\":0,\"alarm_since\":0,\"alarm_ms\":0,"
        "\"readings\":2,\"first_ts\":1717192800000,\"last_ts\":1717196400000}";
    struct got g = {0};
    struct reports *r = reports_new(&cfg, DAY1 + H(9));
    CHECK(reports_restore(r, "fm-2", DAY1, old, DAY1 + H(9), on_report, &g) == 0);
    flow_poll(r, DAY1 + H(9), 4.0, 1030.0, &g); /* 12.5 + (1030 - 1012.75) = 29.75 */
    reports_tick(r, DAY2, on_report, &g);
    const cJSON *b = g.device[0] == 1 ? g.body[0] : g.body[1];
    CHECK_NEAR(num(b, "volume"), 29.75, 1e-9);
    CHECK_NEAR(num(b, "peak_flow"), 9.25, 0);
    CHECK_NEAR(num(b, "peak_flow_ts"), 1717196400000.0, 0);
    CHECK_NEAR(num(b, "readings"), 3, 0);
    CHECK_NEAR(num(cJSON_GetObjectItemCaseSensitive(b, "faults"), "empty_pipe"), 1, 0);
    got_free(&g);
    reports_free(r);
}

/* After a restart the engine's active alerts set the count: minutes in alarm go on. */
static void test_set_active(void)
{
    struct got g = {0};
    struct reports *r = reports_new(&cfg, DAY1 + H(20));
    /* active from 20:00 (restored) until a clear at 21:30: 90 min. */
    reports_set_active(r, 1, 1, DAY1 + H(20));
    struct alert_event c = alert_ev(ALERT_CLEARED, DAY1 + H(21) + MIN(30), "high_level", SEV_MAJOR);
    reports_alert(r, 1, &c, on_report, &g);
    reports_tick(r, DAY2, on_report, &g);
    const cJSON *b = g.device[0] == 1 ? g.body[0] : g.body[1];
    CHECK_NEAR(num(b, "minutes_in_alarm"), 90, 1e-9);
    got_free(&g);
    reports_free(r);
}

int main(void)
{
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    setup();
    test_day_bounds();
    test_elevator_day();
    test_flow_restart();
    test_set_active();
    test_states_day();
    test_old_saved_day();
    return check_report();
}
