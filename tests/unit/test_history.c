/* test_history: bucketed rings — windows worked out by hand, coverage before a window is full,
 * bounded memory under fast polling, timestamps that go back — and the daily hour cells. */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "history.h"

static const int64_t t0 = 1700000000000;

static void test_step_window(void)
{
    /* Samples every second at 0..20 s: 0 until 12 s, 5 from 13 to 15 s, 0 again from 16 s.
     * Window 10 s at now = 20 s covers [10, 20]: changes 12->13 (0->5) and 15->16 (5->0) = 2;
     * max 5, min 0; delta = v(20) - v(10) = 0; avg = (3 * 5) / 11 samples. */
    struct history_spec spec = {0, 10000, 0};
    struct history *h = history_new(1, &spec, 1, t0);
    int s = history_series(h, 0, 10000);
    CHECK(s == 0 && history_series(h, 0, 5000) == -1);
    for (int t = 0; t <= 20; t++)
        history_add(h, 0, t0 + t * 1000, t >= 13 && t <= 15 ? 5 : 0);
    int64_t now = t0 + 20000;
    CHECK(history_changes(h, s, now) == 2);
    CHECK(history_max(h, s, now) == 5 && history_min(h, s, now) == 0);
    CHECK(history_delta(h, s, now) == 0);
    CHECK_NEAR(history_avg(h, s, now), 15.0 / 11.0, 1e-12);
    /* at 25 s with no new sample, the window [15, 25] still holds 15 (5) and 16..20 (0) */
    CHECK(history_max(h, s, t0 + 25000) == 5);
    CHECK(history_changes(h, s, t0 + 25000) == 1);
    /* at 26 s it holds only 16..20: no change, max 0 */
    CHECK(history_changes(h, s, t0 + 26000) == 0 && history_max(h, s, t0 + 26000) == 0);
    history_free(h);
}

static void test_coverage(void)
{
    /* A window is unknown until the series reaches back to its start: first sample at 2 s,
     * window 10 s: unknown at 11.999 s, known at 12 s. */
    struct history_spec spec = {0, 10000, 0};
    struct history *h = history_new(1, &spec, 1, t0);
    for (int t = 2; t <= 12; t++)
        history_add(h, 0, t0 + t * 1000, 100 + t);
    CHECK(isnan(history_delta(h, 0, t0 + 11999)));
    CHECK(isnan(history_min(h, 0, t0 + 11999)));
    CHECK(isnan(history_changes(h, 0, t0 + 11999)));
    /* at 12 s: reference is the sample at 2 s (102), newest 112: delta 10, rate 1 /s */
    CHECK(history_delta(h, 0, t0 + 12000) == 10);
    CHECK(history_rate(h, 0, t0 + 12000) == 1);
    /* stale: never read points count from start; read ones from their last valid value */
    CHECK(history_stale_s(h, 0, t0 + 15500) == 3.5);
    history_free(h);
    struct history *h2 = history_new(2, NULL, 0, t0);
    CHECK(history_stale_s(h2, 1, t0 + 600000) == 600);
    history_add(h2, 1, t0 + 1000, NAN); /* an invalid value is not a reading */
    CHECK(history_stale_s(h2, 1, t0 + 600000) == 600);
    history_free(h2);
}

static void test_rate_of_counter(void)
{
    /* A totalizer read every 5 s rising 0.5 m3 per sample: rate over 60 s = 6 m3 / 60 s =
     * 0.1 m3/s (360 m3/h). A drop of the counter gives a negative delta. */
    struct history_spec spec = {0, 60000, 0};
    struct history *h = history_new(1, &spec, 1, t0);
    for (int k = 0; k <= 24; k++)
        history_add(h, 0, t0 + k * 5000, 1000 + 0.5 * k);
    CHECK_NEAR(history_rate(h, 0, t0 + 120000), 0.1, 1e-12);
    CHECK(history_delta(h, 0, t0 + 120000) == 6);
    history_add(h, 0, t0 + 125000, 900);
    CHECK(history_delta(h, 0, t0 + 125000) < 0);
    history_free(h);
}

static void test_bounded_under_fast_polls(void)
{
    /* Window 94 s: buckets of 1 s (94 s / 94). Polls every 250 ms put 4 samples in each bucket;
     * 20000 samples later memory is what it was, and min/max over the window are still exact:
     * value = sample number, so over the last 94 s (376 samples, plus the bucket straddling the
     * window's start) max is the last sample and min at most one bucket (4 samples) early. */
    struct history_spec spec = {0, 94000, 0};
    struct history *h = history_new(1, &spec, 1, t0);
    size_t before = history_bytes(h);
    int last = 19999;
    for (int k = 0; k <= last; k++)
        history_add(h, 0, t0 + (int64_t)k * 250, k);
    CHECK(history_bytes(h) == before);
    int64_t now = t0 + (int64_t)last * 250;
    CHECK(history_max(h, 0, now) == last);
    double lo = history_min(h, 0, now);
    CHECK_MSG(lo >= last - 376 - 4 && lo <= last - 376, "min %.17g", lo);
    /* a timestamp going back is dropped */
    history_add(h, 0, now - 10000, -1);
    CHECK(history_min(h, 0, now) == lo);
    history_free(h);
}

/* hour_avg over 3 days (TZ UTC). Day d = 1, 2, 3 from midnight m: at 10:00 and 10:30 the values
 * 10d and 10d + 2 (hour mean 10d + 1: 11, 21, 31), at 11:00 the value 100. On day 4 at 10:45 the
 * baseline is (11 + 21 + 31) / 3 = 21; at 11:15 it is 100; at 12:00 no day had samples: unknown.
 * With day 2's 10 o'clock samples missing the 10:45 baseline is unknown too. */
static void test_hour_avg(void)
{
    setenv("TZ", "UTC0", 1);
    tzset();
    const int64_t m = 1699920000000; /* 2023-11-14 00:00 UTC */
    const int64_t H = 3600000, D = 24 * H;
    for (int gap = 0; gap <= 1; gap++) {
        struct history_spec spec = {0, 3 * 86400000, 1};
        struct history *h = history_new(1, &spec, 1, m);
        int s = history_series_of(h, 0, 3 * 86400000, 1);
        CHECK(s == 0 && history_series_of(h, 0, 3 * 86400000, 0) == -1);
        for (int d = 1; d <= 3; d++) {
            if (!(gap && d == 2)) {
                history_add(h, 0, m + d * D + 10 * H, 10.0 * d);
                history_add(h, 0, m + d * D + 10 * H + H / 2, 10.0 * d + 2);
            }
            history_add(h, 0, m + d * D + 11 * H, 100);
        }
        double at1045 = history_hour_avg(h, s, m + 4 * D + 10 * H + 3 * H / 4);
        if (gap)
            CHECK_MSG(isnan(at1045), "%.17g", at1045);
        else
            CHECK_MSG(at1045 == 21, "%.17g", at1045);
        CHECK(history_hour_avg(h, s, m + 4 * D + 11 * H + H / 4) == 100);
        CHECK(isnan(history_hour_avg(h, s, m + 4 * D + 12 * H)));
        history_free(h);
    }
}

int main(void)
{
    test_step_window();
    test_coverage();
    test_rate_of_counter();
    test_bounded_under_fast_polls();
    test_hour_avg();
    return check_report();
}
