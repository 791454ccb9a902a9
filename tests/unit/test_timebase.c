/* test_timebase: held time while the clock is unsynchronized and the correction at the sync,
 * with times worked out by hand (a box booting at 1970-01-01 08:00:00 UTC = 28 800 000 ms). */
#include "check.h"
#include "alerts.h"
#include "timebase.h"

int main(void)
{
    struct timebase t;
    struct timebase_step st = {0};
    /* Boot: wall 28 800 000, monotonic 5 000; the kernel says unsynchronized. */
    timebase_init(&t, false, 28800000, 5000);
    CHECK(timebase_time(&t, 28800000, 5000) == 28800000);
    /* 10 s later a wrong step of the wall clock (fake-hwclock) moves nothing held. */
    CHECK(timebase_time(&t, 1500000000000, 15000) == 28810000);
    CHECK(timebase_update(&t, false, 1500000000000, 15000, &st) == 0);
    /* 60 s after boot NTP steps to 2026-12-05 02:00:00 (1 796 450 400 000) and synchronizes. */
    CHECK(timebase_update(&t, true, 1796450400000, 65000, &st) == 1);
    CHECK(st.delta_ms == 1796450400000 - 28860000);
    CHECK(st.lo == 28800000 && st.hi == 28860000);
    CHECK(timebase_correct(&st, 28830000) == 1796450370000); /* 30 s after boot */
    CHECK(timebase_correct(&st, 1796000000000) == 1796000000000); /* before the span: kept */
    CHECK(timebase_correct(&st, 28799999) == 28799999);
    /* Now the wall clock is the time; a poll read at monotonic 64 000 (before the sync was seen)
     * with the wall clock still in 1970 is held and corrected like its span. */
    CHECK(timebase_time(&t, 1796450401000, 66000) == 1796450401000);
    CHECK(timebase_time(&t, 28859000, 64000) == 1796450399000);
    CHECK(timebase_update(&t, true, 1796450402000, 67000, &st) == 0);

    /* An alert raised in the span moves whole, its deadline with it; one raised before the span
     * (put back from the store) keeps its times but the ack recorded in the span. */
    struct timebase_step s = {.delta_ms = 1000000, .lo = 100, .hi = 200};
    static struct alert a = {.raised_ts = 150, .respond_by_ts = 150 + 1800000, .next_escalation_ts = 150 + 1800000, .acked_ts = 180};
    a.stages[STAGE_ACK] = (struct alert_stage){.due_ts = 150 + 1800000, .ts = 180};
    a.stages[STAGE_ON_SITE].due_ts = 150 + 3600000;
    CHECK(alert_shift(&a, &s));
    CHECK(a.raised_ts == 1000150 && a.respond_by_ts == 2800150 && a.next_escalation_ts == 2800150 && a.acked_ts == 1000180);
    CHECK(a.stages[STAGE_ACK].due_ts == 2800150 && a.stages[STAGE_ACK].ts == 1000180);
    CHECK(a.stages[STAGE_ON_SITE].due_ts == 4600150 && a.stages[STAGE_ON_SITE].ts == 0);
    CHECK(a.cleared_ts == 0 && a.stages[STAGE_RESOLVE].due_ts == 0);
    static struct alert b = {.raised_ts = 50, .respond_by_ts = 1800050, .acked_ts = 190};
    CHECK(alert_shift(&b, &s));
    CHECK(b.raised_ts == 50 && b.respond_by_ts == 1800050 && b.acked_ts == 1000190);
    static struct alert c = {.raised_ts = 50, .respond_by_ts = 60};
    CHECK(!alert_shift(&c, &s));
    return check_report();
}
