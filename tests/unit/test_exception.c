/* test_exception: report by exception's decision, poll by poll, with vectors worked by hand and
 * the poll time passed in: absolute and percent deadbands measured from the last value sent,
 * quality changes, states and counters on every change, the heartbeat at report_max, resets. */
#include <stdlib.h>

#include "check.h"
#include "exception.h"

enum { LEVEL, FLOW, DOOR, RUNS, NPTS };

static struct profile prof;       /* the device's profile, set up by main */
static struct exception_state st; /* what it last sent */
static bool full;                 /* whether the last poll run was a full snapshot */

static void set_up_profile(void)
{
    struct profile *p = &prof;
    p->npoints = NPTS;
    snprintf(p->points[LEVEL].name, NAME_MAX_LEN, "level");
    p->points[LEVEL].deadband = 0.01; /* m */
    snprintf(p->points[FLOW].name, NAME_MAX_LEN, "flow");
    p->points[FLOW].deadband = 2; /* % of the last sent */
    p->points[FLOW].deadband_pct = true;
    snprintf(p->points[DOOR].name, NAME_MAX_LEN, "door");
    p->points[DOOR].type = VT_BOOL;
    snprintf(p->points[RUNS].name, NAME_MAX_LEN, "runs");
}

struct poll {
    double v[NPTS];
    uint8_t q[NPTS];
};

/* One poll at t seconds, with report_max 60 s and a poll interval of 1 s (slack 0.5 s). Returns
 * the points sent as a string of their initials ("lfdr"; "-" for one not sent); sets full. */
static const char *run(double t, struct poll in)
{
    static char out[NPTS + 1];
    bool send[NPTS];
    int n = exception_filter(&st, &prof, 60000, 500, (int64_t)(t * 1000), in.v, in.q, send, &full);
    int counted = 0;
    for (int k = 0; k < NPTS; k++) {
        out[k] = send[k] ? "lfdr"[k] : '-';
        counted += send[k];
    }
    out[NPTS] = '\0';
    CHECK_MSG(n == counted, "returned %d, %d points marked", n, counted);
    return out;
}

#define OK {Q_OK, Q_OK, Q_OK, Q_OK}

static void test_deadbands(void)
{
    exception_reset(&st);
    /* First poll: a full snapshot whatever changed. */
    CHECK(strcmp(run(0, (struct poll){{1.000, 50, 0, 7}, OK}), "lfdr") == 0 && full);
    CHECK(st.snapshot_ts == 0 && st.primed);
    /* Same values: nothing goes out. */
    CHECK(strcmp(run(1, (struct poll){{1.000, 50, 0, 7}, OK}), "----") == 0 && !full);
    /* level +0.005 (inside 0.01), flow 50 -> 50.9 (1.8 %, inside 2 % of 50 = 1.0): nothing. */
    CHECK(strcmp(run(2, (struct poll){{1.005, 50.9, 0, 7}, OK}), "----") == 0);
    /* level 1.009: +0.009 from the last sent 1.000, still inside; flow 51.1: +1.1 > 1.0, sent. */
    CHECK(strcmp(run(3, (struct poll){{1.009, 51.1, 0, 7}, OK}), "-f--") == 0 && !full);
    CHECK(st.snapshot_ts == 0);
    /* Measured from the last sent, not the last polled: creeping 1.000 -> 1.009 -> 1.015 goes. */
    CHECK(strcmp(run(4, (struct poll){{1.015, 51.1, 0, 7}, OK}), "l---") == 0);
    /* Now 2 % of 51.1 = 1.022: 52.1 stays, 52.2 goes; level 1.020 is 0.005 from 1.015: stays. */
    CHECK(strcmp(run(5, (struct poll){{1.020, 52.1, 0, 7}, OK}), "----") == 0);
    CHECK(strcmp(run(6, (struct poll){{1.020, 52.2, 0, 7}, OK}), "-f--") == 0);
    /* A falling move counts the same: 1.015 - 0.011. */
    CHECK(strcmp(run(7, (struct poll){{1.004, 52.2, 0, 7}, OK}), "l---") == 0);
    /* A bool and a counter without deadband: every change, the smallest one too. */
    CHECK(strcmp(run(8, (struct poll){{1.004, 52.2, 1, 7}, OK}), "--d-") == 0);
    CHECK(strcmp(run(9, (struct poll){{1.004, 52.2, 1, 8}, OK}), "---r") == 0);
    /* Everything changed at once: every point goes, which is a full snapshot. */
    CHECK(strcmp(run(10, (struct poll){{2, 80, 0, 9}, OK}), "lfdr") == 0 && full);
    CHECK(st.snapshot_ts == 10000);
}

static void test_percent_of_zero(void)
{
    exception_reset(&st);
    run(0, (struct poll){{0, 0, 0, 0}, OK});
    /* A percent of 0 is 0: any change of flow from 0 goes. */
    CHECK(strcmp(run(1, (struct poll){{0, 0.001, 0, 0}, OK}), "-f--") == 0);
}

static void test_quality(void)
{
    exception_reset(&st);
    run(0, (struct poll){{1, 50, 0, 7}, OK});
    /* level's read fails: sent (as offline), even with its value unchanged. */
    CHECK(strcmp(run(1, (struct poll){{NAN, 50, 0, 7}, {Q_OFFLINE, Q_OK, Q_OK, Q_OK}}), "l---") == 0);
    /* Still offline: nothing new. */
    CHECK(strcmp(run(2, (struct poll){{NAN, 50, 0, 7}, {Q_OFFLINE, Q_OK, Q_OK, Q_OK}}), "----") == 0);
    /* Back with the same value as before: the quality changed, so it goes. */
    CHECK(strcmp(run(3, (struct poll){{1, 50, 0, 7}, OK}), "l---") == 0);
    /* ok -> invalid (out of range) and a good value that is not finite count as invalid alike. */
    CHECK(strcmp(run(4, (struct poll){{1, INFINITY, 0, 7}, OK}), "-f--") == 0);
    CHECK(strcmp(run(5, (struct poll){{1, 50, 0, 7}, {Q_OK, Q_INVALID, Q_OK, Q_OK}}), "----") == 0);
    /* A point not read in the poll (the device lacks it) is neither sent nor needed for a full one. */
    CHECK(strcmp(run(6, (struct poll){{3, 90, 1, 0}, {Q_OK, Q_OK, Q_OK, Q_UNREAD}}), "lfd-") == 0 && full);
}

static void test_heartbeat(void)
{
    exception_reset(&st);
    run(100, (struct poll){{1, 50, 0, 7}, OK});
    run(130, (struct poll){{2, 50, 0, 7}, OK}); /* a partial row does not move it */
    /* 59.4 s after the snapshot: not yet (due at 60 - 0.5 s of slack). */
    CHECK(strcmp(run(159.4, (struct poll){{2, 50, 0, 7}, OK}), "----") == 0 && !full);
    CHECK(strcmp(run(159.5, (struct poll){{2, 50, 0, 7}, OK}), "lfdr") == 0 && full);
    CHECK(st.snapshot_ts == 159500);
    /* The next one counts from there. */
    CHECK(strcmp(run(200, (struct poll){{2, 50, 0, 7}, OK}), "----") == 0);
    CHECK(strcmp(run(219, (struct poll){{2, 50, 0, 7}, OK}), "lfdr") == 0);
    /* The wall clock set back (NTP after a power cut): a snapshot at once, not an hour's silence. */
    CHECK(strcmp(run(100, (struct poll){{2, 50, 0, 7}, OK}), "lfdr") == 0 && full);
    /* A reset (the device went offline or came back): the next poll is a full snapshot. */
    exception_reset(&st);
    CHECK(strcmp(run(101, (struct poll){{2, 50, 0, 7}, OK}), "lfdr") == 0 && full);
    /* report_max 0, or equal to the poll interval: every poll is full, as without the filter. */
    bool send[NPTS];
    struct poll same = {{2, 50, 0, 7}, OK};
    CHECK(exception_filter(&st, &prof, 0, 500, 102000, same.v, same.q, send, &full) == NPTS && full);
    CHECK(exception_filter(&st, &prof, 1000, 500, 102999 - 200, same.v, same.q, send, &full) == NPTS && full);
}

static void test_report_max_source(void)
{
    struct profile *p = calloc(1, sizeof *p);
    struct device d = {.profile = p, .report_max_s = -1};
    CHECK(exception_report_max_ms(&d) == EXCEPTION_REPORT_MAX_S * 1000);
    p->nparams = 1;
    snprintf(p->params[0].name, NAME_MAX_LEN, "report_max_s");
    p->params[0].value = 120;
    CHECK(exception_report_max_ms(&d) == 120000);
    d.report_max_s = 0.5;
    CHECK(exception_report_max_ms(&d) == 500);
    d.report_max_s = 0;
    CHECK(exception_report_max_ms(&d) == 0);
    free(p);
}

int main(void)
{
    set_up_profile();
    test_deadbands();
    test_percent_of_zero();
    test_quality();
    test_heartbeat();
    test_report_max_source();
    return check_report();
}
