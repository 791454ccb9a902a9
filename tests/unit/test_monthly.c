/* Unit tests of the month's computation (monthly.c), vectors worked out by hand: November 2026
 * in Asia/Shanghai runs from 2026-10-31 16:00 UTC to 2026-11-30 16:00 UTC. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "daycounts.h"
#include "maintenance.h"
#include "monthly.h"
#include "payload.h"
#include "timebase.h"

#define F 1793462400000LL  /* 2026-11-01 00:00 in Shanghai */
#define TO 1796054400000LL /* 2026-12-01 00:00 */
#define DAY 86400000LL
#define S 1000LL

static struct monthly_input input(cJSON *alerts)
{
    struct monthly_input in = {.contract = "lift-om",
                               .contractor = "某电梯公司",
                               .timezone = "Asia/Shanghai",
                               .month = "2026-11",
                               .from = F,
                               .to = TO,
                               .now = TO + 5 * DAY,
                               .alerts = alerts,
                               .min_visit_ms = 30 * 60 * S};
    return in;
}

static void add(cJSON *arr, const char *fmt, long long raised)
{
    char json[1024];
    snprintf(json, sizeof json, fmt, raised);
    cJSON_AddItemToArray(arr, cJSON_Parse(json));
}

/* A record from before stages: ack from acked_ts against respond_by_ts, outcome from cleared_ts. */
static void legacy(cJSON *arr, const char *rule, const char *sev, long long raised_s, long long ack_s,
                   long long clear_s, int escalation, const char *contract)
{
    char json[512], acked[24] = "null", cleared[24] = "null";
    long long r = F + raised_s * S;
    if (ack_s)
        snprintf(acked, sizeof acked, "%lld", r + ack_s * S);
    if (clear_s)
        snprintf(cleared, sizeof cleared, "%lld", r + clear_s * S);
    snprintf(json, sizeof json,
             "{\"id\":\"lift-1:%s:%lld\",\"device\":\"lift-1\",\"rule\":\"%s\",\"severity\":\"%s\",\"raised_ts\":%lld,"
             "\"respond_by_ts\":%lld,\"acked_ts\":%s,\"cleared_ts\":%s,\"escalation\":%d,\"contract\":\"%s\"}",
             rule, r, rule, sev, r, r + 100 * S, acked, cleared, escalation, contract);
    cJSON *o = cJSON_Parse(json);
    CHECK_MSG(o != NULL, "bad vector %s", json);
    cJSON_AddItemToArray(arr, o);
}

static void test_legacy(void)
{
    cJSON *a = cJSON_CreateArray();
    legacy(a, "door_failure", "minor", 1000, 30, 2000, 0, "lift-om");             /* on time 30 s, resolved */
    legacy(a, "door_failure", "minor", 3000, 60, 0, 0, "lift-om");                /* on time 60 s, active */
    legacy(a, "overspeed", "critical", 5000, 120, 0, 1, "lift-om");               /* late 120 s, level 1 */
    legacy(a, "overspeed", "critical", 7000, 300, 0, 2, "lift-om");               /* late 300 s, levels 1 and 2 */
    legacy(a, "power_failure", "major", 9000, 0, 50, 0, "lift-om");               /* cleared before due: not counted */
    legacy(a, "power_failure", "major", 11000, 0, 500, 0, "lift-om");             /* never acked, due passed: late */
    legacy(a, "door_failure", "minor", 11000, 30, 0, 0, "drain-om");              /* another contract */
    legacy(a, "door_failure", "minor", -100, 30, 0, 0, "lift-om");                /* raised in October */
    legacy(a, "stop_outside_zone", "major", 30 * 86400 - 60, 0, 0, 0, "lift-om"); /* due in December: open */
    struct monthly_input in = input(a);
    struct monthly_report r;
    CHECK(monthly_compute(&in, &r) == 0);
    CHECK(r.alerts == 7);
    CHECK(r.ncounts == 4);
    CHECK(!strcmp(r.counts[0].rule, "door_failure") && r.counts[0].count == 2);
    CHECK(!strcmp(r.counts[1].rule, "overspeed") && !strcmp(r.counts[1].severity, "critical") &&
          r.counts[1].count == 2);
    CHECK(!strcmp(r.counts[2].rule, "power_failure") && r.counts[2].count == 2);
    CHECK(!strcmp(r.counts[3].rule, "stop_outside_zone") && r.counts[3].count == 1);
    const struct monthly_stage *ack = &r.stages[0];
    CHECK(ack->on_time == 2 && ack->late == 3 && ack->open == 1 && ack->done == 4);
    CHECK_NEAR(ack->median_s, 90, 1e-9); /* 30, 60, 120, 300 */
    CHECK_NEAR(ack->worst_s, 300, 1e-9);
    CHECK(r.stages[1].done == 0 && r.stages[1].on_time + r.stages[1].late + r.stages[1].open == 0);
    CHECK(isnan(r.stages[1].median_s));
    CHECK(r.self_cleared == 2 && r.resolved == 1);
    CHECK(r.max_level == 2 && r.escalations[1] == 2 && r.escalations[2] == 1);
    CHECK(r.nincidents == 0);
    monthly_free(&r);
    cJSON_Delete(a);
}

static void test_stages(void)
{
    cJSON *a = cJSON_CreateArray();
    long long b1 = F + 20000 * S, b2 = F + 30000 * S;
    char json[1024];
    snprintf(
        json, sizeof json,
        "{\"id\":\"lift-2:trapped_passenger:%lld\",\"device\":\"lift-2\",\"rule\":\"trapped_passenger\","
        "\"severity\":\"critical\",\"contract\":\"lift-om\",\"raised_ts\":%lld,\"acked_ts\":%lld,"
        "\"cleared_ts\":%lld,\"escalation\":3,\"outcome\":\"resolved\",\"escalated_to\":[{\"level\":1,"
        "\"name\":\"站长\",\"identity\":\"ops\"}],\"stages\":{\"ack\":{\"due_ts\":%lld,\"ts\":%lld,\"by\":\"wang\","
        "\"met\":true},\"on_site\":{\"due_ts\":%lld,\"ts\":%lld,\"met\":true},\"resolve\":{\"due_ts\":%lld,"
        "\"ts\":%lld,\"met\":null}}}",
        b1, b1, b1 + 120 * S, b1 + 2400 * S, b1 + 300 * S, b1 + 120 * S, b1 + 1800 * S, b1 + 1500 * S, b1 + 3600 * S,
        b1 + 2400 * S);
    cJSON_AddItemToArray(a, cJSON_Parse(json));
    snprintf(json, sizeof json,
             "{\"id\":\"lift-2:trapped_passenger:%lld\",\"device\":\"lift-2\",\"rule\":\"trapped_passenger\","
             "\"severity\":\"critical\",\"contract\":\"lift-om\",\"raised_ts\":%lld,\"acked_ts\":%lld,"
             "\"cleared_ts\":%lld,\"escalation\":0,\"outcome\":\"self_cleared\",\"escalated_to\":[],"
             "\"stages\":{\"ack\":{\"due_ts\":%lld,\"ts\":%lld,\"met\":false},\"on_site\":{\"due_ts\":%lld,\"ts\":null,"
             "\"met\":null},\"resolve\":{\"due_ts\":null,\"ts\":null,\"met\":null}}}",
             b2, b2, b2 + 600 * S, b2 + 900 * S, b2 + 300 * S, b2 + 600 * S, b2 + 1800 * S);
    cJSON_AddItemToArray(a, cJSON_Parse(json));
    CHECK(cJSON_GetArraySize(a) == 2 && a->child && a->child->next);
    struct monthly_input in = input(a);
    struct monthly_report r;
    CHECK(monthly_compute(&in, &r) == 0);
    CHECK(r.alerts == 2);
    CHECK(r.stages[0].on_time == 1 && r.stages[0].late == 1 && r.stages[0].open == 0);
    CHECK_NEAR(r.stages[0].median_s, 360, 1e-9); /* 120 and 600 */
    CHECK_NEAR(r.stages[0].worst_s, 600, 1e-9);
    /* b2 cleared before its on-site deadline: not counted */
    CHECK(r.stages[1].on_time == 1 && r.stages[1].late == 0 && r.stages[1].open == 0);
    CHECK_NEAR(r.stages[1].median_s, 1500, 1e-9);
    CHECK(r.stages[2].on_time == 1 && r.stages[2].late == 0 && r.stages[2].open == 0);
    CHECK(r.self_cleared == 1 && r.resolved == 1);
    /* escalated_to wins over the count "escalation" */
    CHECK(r.max_level == 1 && r.escalations[1] == 1);
    CHECK(r.nincidents == 2);
    CHECK(r.incidents[0].raised == b1 && r.incidents[0].acknowledged == b1 + 120 * S &&
          r.incidents[0].on_site == b1 + 1500 * S && r.incidents[0].resolved == b1 + 2400 * S);
    CHECK(r.incidents[1].acknowledged == b2 + 600 * S && r.incidents[1].on_site == 0 && r.incidents[1].resolved == 0);
    monthly_free(&r);
    cJSON_Delete(a);
}

/* A month whose last three days the box was off: unavailable, not missing data. */
static void test_days_visits(void)
{
    static struct monthly_device devs[] = {{"lift-1", "1幢", "elevator", NULL}, {"lift-2", "2幢", "elevator", NULL}};
    struct store_device_day days[64];
    int n = 0;
    days[n++] = (struct store_device_day){"lift-1", F - DAY, DAY, DAY, 24, 24}; /* October: not this month */
    for (int d = 0; d < 27; d++)
        days[n++] = (struct store_device_day){"lift-1", F + d * DAY, DAY, DAY, 24, d == 5 ? 20 : 24};
    for (int d = 0; d < 30; d++)
        days[n++] = (struct store_device_day){"lift-2", F + d * DAY, DAY, DAY / 2, 24, 0};
    struct store_visit visits[] = {
        {.device = "lift-1", .kind = "maintenance", .start_ts = F - 3600 * S, .end_ts = F + 600 * S},
        {.device = "lift-1", .kind = "maintenance", .start_ts = F + DAY, .end_ts = F + DAY + 45 * 60 * S},
        {.device = "lift-2", .kind = "patrol", .start_ts = F + 3 * DAY, .end_ts = F + 3 * DAY},
        {.device = "lift-1", .kind = "maintenance", .start_ts = F + 10 * DAY, .end_ts = F + 10 * DAY + 10 * 60 * S},
    };
    cJSON *a = cJSON_CreateArray();
    add(a,
        "{\"id\":\"o1\",\"device\":\"lift-2\",\"rule\":\"maintenance_overdue\",\"severity\":\"major\","
        "\"contract\":\"lift-om\",\"raised_ts\":%lld,\"cleared_ts\":1793592000000}",
        F - 2 * DAY); /* cleared at F + 1.5 days */
    add(a,
        "{\"id\":\"o2\",\"device\":\"lift-2\",\"rule\":\"maintenance_overdue\",\"severity\":\"major\","
        "\"contract\":\"lift-om\",\"raised_ts\":%lld,\"cleared_ts\":null}",
        F + 28 * DAY); /* active past the month's end */
    struct monthly_input in = input(a);
    in.ndevices = 2;
    in.devices = devs;
    in.ndays = n;
    in.days = days;
    in.nvisits = 4;
    in.visits = visits;
    struct monthly_report r;
    CHECK(monthly_compute(&in, &r) == 0);
    CHECK(r.alerts == 1); /* o1 was raised in October */
    const struct monthly_device_figures *l1 = &r.devices[0], *l2 = &r.devices[1];
    CHECK_NEAR(l1->availability, 0.9, 1e-12);
    CHECK_NEAR(l1->up_share, 0.9, 1e-12);
    CHECK(l1->polls_due == 648 && l1->polls_ok == 644);
    CHECK_NEAR(l1->completeness, 644.0 / 648.0, 1e-12);
    CHECK_NEAR(l2->availability, 0.5, 1e-12);
    CHECK(l2->polls_due == 720 && l2->polls_ok == 0 && l2->completeness == 0);
    CHECK(l1->visits == 2 && l1->maintenance_visits == 2 && l1->maintenance_long == 1);
    CHECK_NEAR(l1->maintenance_minutes, 55, 1e-9);
    CHECK(l2->visits == 1 && l2->maintenance_visits == 0);
    CHECK(r.nvisits == 3);
    CHECK_NEAR(l1->overdue_days, 0, 1e-12);
    CHECK_NEAR(l2->overdue_days, 3.5, 1e-9); /* 1.5 days of o1, 2 of o2 */
    /* The body as published: shares to 1e-4, none due is null, a stage without times is null. */
    struct jbuf b = {0};
    CHECK(payload_monthly_report(&b, "gw-01", TO + 1000, &r) == 0);
    CHECK_CONTAINS(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":0,\"ts\":1796054401000,\"report\":\"monthly\","
                        "\"month\":\"2026-11\",\"timezone\":\"Asia/Shanghai\",\"contract\":\"lift-om\"");
    CHECK_CONTAINS(b.p, "\"labels\":{\"alerts\":\"告警 alerts\",");
    CHECK_CONTAINS(b.p, "\"device\":\"lift-1\",\"location\":\"1幢\",\"kind\":\"elevator\",\"polls_due\":648,"
                        "\"polls_ok\":644,\"visits\":2,\"maintenance_visits\":2,\"maintenance_visits_long\":1,"
                        "\"availability\":0.9,\"gateway_up\":0.9,\"completeness\":0.9938,\"maintenance_minutes\":55,"
                        "\"overdue_days\":0}");
    CHECK_CONTAINS(b.p, "\"on_site\":{\"on_time\":0,\"late\":0,\"open\":0,\"median_s\":null,\"worst_s\":null}");
    CHECK_CONTAINS(b.p, "\"kind\":\"patrol\",\"by\":\"\",\"name\":\"\",\"note\":\"\",\"start_ts\":1793721600000,"
                        "\"end_ts\":1793721600000,\"minutes\":0}");
    CHECK_CONTAINS(b.p, "\"escalations\":[],");
    cJSON *parsed = cJSON_Parse(b.p);
    CHECK(parsed != NULL);
    cJSON_Delete(parsed);
    jbuf_free(&b);
    monthly_free(&r);
    cJSON_Delete(a);
}

static void test_bounds(void)
{
    int64_t from, to;
    CHECK(monthly_bounds("2026-11", &from, &to) == 0 && from == F && to == TO);
    CHECK(monthly_bounds("2026-12", &from, &to) == 0 && from == TO && to == 1798732800000LL);
    const char *bad[] = {"2026-13", "2026-1", "26-11", "2026-11x", "2026/11", "", "2026-00", "2026-+1", "2026- 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(monthly_bounds(bad[i], &from, &to) == -1, "\"%s\" taken", bad[i]);
    char m[16];
    monthly_name(TO - 1, m, sizeof m);
    CHECK(!strcmp(m, "2026-11"));
    monthly_name(TO, m, sizeof m);
    CHECK(!strcmp(m, "2026-12"));
    /* An alert at 15:59:59.999 UTC on the 30th is November's; one at 16:00 is December's. */
    cJSON *a = cJSON_CreateArray();
    add(a, "{\"rule\":\"overspeed\",\"severity\":\"critical\",\"contract\":\"lift-om\",\"raised_ts\":%lld}", TO - 1);
    add(a, "{\"rule\":\"overspeed\",\"severity\":\"critical\",\"contract\":\"lift-om\",\"raised_ts\":%lld}", TO);
    struct monthly_input in = input(a);
    struct monthly_report r;
    CHECK(monthly_compute(&in, &r) == 0 && r.alerts == 1);
    CHECK(r.stages[0].open == 1); /* no ack, no due, active at the month's end */
    monthly_free(&r);
    cJSON_Delete(a);
}

/* Day counts: time between ticks split at local midnight; a step of more than 31 days counts
 * nothing; polls due are time run over the poll interval. */
static struct store_device_day saved[8];
static int nsaved;

static void save(void *ctx, const struct store_device_day *d)
{
    (void)ctx;
    if (nsaved < 8)
        saved[nsaved++] = *d;
}

static void test_daycounts(void)
{
    struct device dev = {.id = "lift-1", .poll_ms = 1000};
    struct device *devs[] = {&dev};
    struct config cfg = {.ndevices = 1, .devices = devs};
    struct daycounts *dc = daycounts_new(&cfg, F - 10 * S); /* 23:59:50 on 31 October */
    CHECK(dc != NULL);
    daycounts_tick(dc, F - 5 * S, save, NULL); /* 5 s run, offline */
    const uint8_t good[2] = {Q_OFFLINE, Q_OK}, bad[2] = {Q_INVALID, Q_OFFLINE};
    daycounts_poll(dc, 0, good, 2); /* online from here */
    daycounts_poll(dc, 0, bad, 2);
    daycounts_tick(dc, F + 20 * S, save, NULL);
    CHECK(nsaved == 1 && saved[0].day_start == F - DAY && saved[0].up_ms == 10 * S && saved[0].online_ms == 5 * S &&
          saved[0].polls_ok == 1);
    CHECK_NEAR(saved[0].polls_due, 10, 1e-9);
    daycounts_online(dc, 0, false);
    daycounts_tick(dc, F + 30 * S, save, NULL);
    daycounts_save(dc, save, NULL);
    CHECK(nsaved == 2 && saved[1].day_start == F && saved[1].up_ms == 30 * S && saved[1].online_ms == 20 * S &&
          saved[1].polls_ok == 0);
    /* the clock set 40 days on: nothing counted, the days in between never begun */
    daycounts_tick(dc, F + 40 * DAY, save, NULL);
    daycounts_tick(dc, F + 40 * DAY + 7 * S, save, NULL);
    daycounts_save(dc, save, NULL);
    CHECK(nsaved == 4 && saved[2].day_start == F && saved[2].up_ms == 30 * S);
    CHECK(saved[3].day_start == F + 40 * DAY && saved[3].up_ms == 7 * S && saved[3].online_ms == 0);
    /* a saved day of today goes on after a restart; one of another day is left as it was */
    struct daycounts *again = daycounts_new(&cfg, F + 40 * DAY + 10 * S);
    daycounts_restore(again, &saved[0], F + 40 * DAY + 10 * S);
    daycounts_restore(again, &saved[3], F + 40 * DAY + 10 * S);
    daycounts_tick(again, F + 40 * DAY + 12 * S, save, NULL);
    daycounts_save(again, save, NULL);
    CHECK(nsaved == 5 && saved[4].day_start == F + 40 * DAY && saved[4].up_ms == 9 * S);
    /* A box booted at 1970-01-01 08:00 (Shanghai 16:00), unsynchronized for 60 s, then NTP: the
     * minute run belongs to the real day (1 November, F + 5 h), which goes on from there. */
    struct daycounts *boot = daycounts_new(&cfg, 28800000);
    daycounts_tick(boot, 28800000 + 60 * S, save, NULL);
    struct timebase_step st = {.delta_ms = F + 5 * 3600 * S - (28800000 + 60 * S), .lo = 28800000,
                               .hi = 28800000 + 60 * S};
    daycounts_shift(boot, &st);
    daycounts_tick(boot, F + 5 * 3600 * S + 30 * S, save, NULL);
    daycounts_save(boot, save, NULL);
    CHECK(nsaved == 6 && saved[5].day_start == F && saved[5].up_ms == 90 * S);
    daycounts_free(boot);
    daycounts_free(dc);
    daycounts_free(again);
}

/* The clock synchronized (daycounts_shift): a box that booted in 1970 counted its first minute
 * in 1970's day; it belongs to the corrected day, with what that day had before the restart. A
 * day that began before the span keeps its counts where they are. */
static void test_daycounts_sync(void)
{
    struct device dev = {.id = "lift-1", .poll_ms = 1000};
    struct device *devs[] = {&dev};
    struct config cfg = {.ndevices = 1, .devices = devs};
    const uint8_t good[1] = {Q_OK};
    /* saved before the restart: 1 h of 3 November run, 50 min of it online */
    struct store_device_day before = {.device = "lift-1",
                                      .day_start = F + 2 * DAY,
                                      .up_ms = 3600 * S,
                                      .online_ms = 3000 * S,
                                      .polls_due = 3600,
                                      .polls_ok = 3000};
    struct store_device_day other = before;
    other.day_start = F + DAY;
    nsaved = 0;
    struct daycounts *dc = daycounts_new(&cfg, 0); /* held: 1970-01-01 08:00 in Shanghai */
    daycounts_restore(dc, &before, 0);             /* not the held day: left */
    daycounts_poll(dc, 0, good, 1);
    daycounts_tick(dc, 60 * S, save, NULL);
    /* synchronized: the minute held at [0, 60 s] was 01:00 to 01:01 on 3 November */
    struct timebase_step st = {.delta_ms = F + 2 * DAY + 3600 * S, .lo = 0, .hi = 60 * S};
    daycounts_shift(dc, &st);
    daycounts_merge(dc, &other); /* another day's row adds nothing */
    daycounts_merge(dc, &before);
    daycounts_merge(dc, &before); /* nor the same row twice */
    daycounts_tick(dc, st.hi + st.delta_ms + 2 * S, save, NULL);
    daycounts_save(dc, save, NULL);
    CHECK_MSG(nsaved == 1, "%d days saved", nsaved);
    CHECK_MSG(saved[0].day_start == F + 2 * DAY, "day %lld", (long long)saved[0].day_start);
    CHECK_MSG(saved[0].up_ms == 3662 * S && saved[0].online_ms == 3062 * S && saved[0].polls_ok == 3001,
              "up %lld online %lld ok %lld", (long long)saved[0].up_ms, (long long)saved[0].online_ms,
              (long long)saved[0].polls_ok);
    CHECK_NEAR(saved[0].polls_due, 3662, 1e-9);
    daycounts_free(dc);

    /* Running since 09:00 on 3 November; the span began at 23:59 and the sync moved it 2 min on:
     * the day is not moved, its saved row of the next day is not added, and the next day counts from
     * the last tick as corrected. */
    nsaved = 0;
    dc = daycounts_new(&cfg, F + 2 * DAY + 9 * 3600 * S);
    daycounts_tick(dc, F + 3 * DAY - 60 * S, save, NULL);
    struct timebase_step late = {.delta_ms = 120 * S, .lo = F + 3 * DAY - 60 * S, .hi = F + 3 * DAY - 60 * S};
    daycounts_shift(dc, &late);
    struct store_device_day next = before;
    next.day_start = F + 3 * DAY;
    daycounts_merge(dc, &next);
    daycounts_tick(dc, F + 3 * DAY + 120 * S, save, NULL); /* the last tick was at 00:01 */
    daycounts_save(dc, save, NULL);
    CHECK_MSG(nsaved == 2 && saved[0].day_start == F + 2 * DAY && saved[0].up_ms == 15 * 3600 * S - 60 * S &&
                  saved[1].day_start == F + 3 * DAY && saved[1].up_ms == 60 * S,
              "%d days; up %lld then %lld", nsaved, (long long)saved[0].up_ms, (long long)saved[1].up_ms);
    daycounts_free(dc);
}

/* The maintenance interval: maintenance_days from the device's own param, else its contract's,
 * else the profile's; overdue when the days pass without a visit of 30 min; a visit of 30 min
 * clears it, a shorter one does not; a sewage device is not watched. */
static struct alert_event events[16];
static int nevents;

static void sink_emit(void *ctx, const struct alert_event *ev)
{
    (void)ctx;
    if (nevents < 16)
        events[nevents++] = *ev;
}

static void test_maintenance(void)
{
    static struct profile lift_p = {
        .kind = "elevator", .nparams = 1, .params = {{"maintenance_days", MAINTENANCE_DAYS_DEFAULT}}};
    static struct profile drain_p = {.kind = "sewage.level"};
    struct device a = {.id = "lift-a", .profile = &lift_p, .index = 0};
    struct device b = {
        .id = "lift-b", .profile = &lift_p, .index = 1, .nparams = 1, .params = {{"maintenance_days", 7}}};
    struct device c = {.id = "mh-1", .profile = &drain_p, .index = 2};
    struct device *devs[] = {&a, &b, &c};
    char covers[1][NAME_MAX_LEN] = {"elevator"};
    struct contract k = {.id = "lift-om",
                         .contractor = "某电梯公司",
                         .ncovers = 1,
                         .covers = covers,
                         .respond_s = {0, 3600, 0, 0},
                         .maintenance_days = 10};
    struct config cfg = {.ndevices = 3, .devices = devs, .ncontracts = 1, .contracts = &k};
    struct maintenance *m = maintenance_new(&cfg);
    struct alert_sink sink = {sink_emit, NULL};
    CHECK(m && maintenance_watched(m, 0) && maintenance_watched(m, 1) && !maintenance_watched(m, 2));
    CHECK(maintenance_days(m, 0) == 10 && maintenance_days(m, 1) == 7); /* the contract's; the device's own */
    maintenance_set_since(m, 0, F);
    maintenance_set_since(m, 1, F);
    maintenance_tick(m, F + 7 * DAY - 1, &sink);
    CHECK(nevents == 0);
    maintenance_tick(m, F + 7 * DAY, &sink);
    CHECK(nevents == 1 && events[0].kind == ALERT_RAISED && !strcmp(events[0].alert.device, "lift-b") &&
          events[0].alert.severity == SEV_MAJOR && !strcmp(events[0].alert.contract, "lift-om") &&
          events[0].alert.respond_by_ts == F + 7 * DAY + 3600 * S);
    /* a 29-minute visit of lift-b clears nothing, a 30-minute one does */
    CHECK(maintenance_visit_start(m, 1, F + 8 * DAY) != NULL);
    const struct store_visit *v = maintenance_visit_end(m, 1, F + 8 * DAY + 29 * 60 * S, &sink);
    CHECK(v && v->start_ts == F + 8 * DAY && v->end_ts == F + 8 * DAY + 29 * 60 * S && nevents == 1);
    CHECK(maintenance_active(m, NULL, 0) == 1);
    maintenance_visit_start(m, 1, F + 9 * DAY);
    CHECK(maintenance_stage(m, events[0].alert.id, STAGE_ACK, "lift-co", NULL, NULL, F + 9 * DAY + 60 * S, &sink) ==
              0 &&
          nevents == 2 && events[1].kind == ALERT_ACKNOWLEDGED);
    maintenance_visit_end(m, 1, F + 9 * DAY + 30 * 60 * S, &sink);
    /* the visit is the work order's arrival (its start) and resolution (its end) */
    CHECK(nevents == 5 && events[2].kind == ALERT_ON_SITE && events[2].ts == F + 9 * DAY &&
          events[3].kind == ALERT_RESOLVED && events[3].ts == F + 9 * DAY + 30 * 60 * S &&
          events[4].kind == ALERT_CLEARED && events[4].alert.outcome == OUTCOME_RESOLVED &&
          maintenance_active(m, NULL, 0) == 0);
    /* lift-a at its 10 days; lift-b's interval now runs from its visit's end */
    maintenance_tick(m, F + 10 * DAY, &sink);
    CHECK(nevents == 6 && !strcmp(events[5].alert.device, "lift-a"));
    /* lift-b not yet due again; lift-a's ack came not within the contract's hour: escalated, once
     * (escalate_every_s 0) */
    maintenance_tick(m, F + 9 * DAY + 30 * 60 * S + 7 * DAY - 1, &sink);
    CHECK(nevents == 7 && events[6].kind == ALERT_ESCALATED && !strcmp(events[6].alert.device, "lift-a") &&
          events[6].alert.escalation == 1);
    maintenance_tick(m, F + 9 * DAY + 30 * 60 * S + 7 * DAY - 1, &sink);
    CHECK(nevents == 7);
    maintenance_tick(m, F + 9 * DAY + 30 * 60 * S + 7 * DAY, &sink); /* lift-b's 7 days from its visit */
    CHECK(nevents == 8 && events[7].kind == ALERT_RAISED && !strcmp(events[7].alert.device, "lift-b"));
    CHECK(maintenance_visit_end(m, 2, F, &sink) == NULL && maintenance_visit_start(m, 2, F) == NULL);
    maintenance_free(m);
}

int main(void)
{
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    test_legacy();
    test_stages();
    test_days_visits();
    test_bounds();
    test_daycounts();
    test_daycounts_sync();
    test_maintenance();
    return check_report();
}
