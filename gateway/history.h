/* history: the recent past of a device's points, as much as its rules ask for — one bounded
 * ring per (point, window) pair, and the time of each point's last valid value.
 *
 * A series keeps HISTORY_BUCKETS buckets of window / (HISTORY_BUCKETS - 2) each; a bucket sums
 * up the samples that fall in it (first, last, min, max, sum, count, changes). With polls at
 * least one bucket apart (the usual case: a 60 s window has 0.64 s buckets) every sample has
 * its own bucket and the functions are exact; with faster polls a window may reach back up to
 * one bucket further. Memory is fixed at creation: nothing is allocated after history_new.
 *
 * Windows are closed, [now - window, now]. A window function is unknown (NaN) until the series
 * reaches back to the window's start, so no rule judges a window it has only partly seen
 * (after a start, delta(x, 600) is unknown for ten minutes).
 *
 * A daily series (hour_avg) keeps, instead, one cell per local clock hour for the last 31 days:
 * the sum and count of the samples in that hour, so a value can be set against the same hour of
 * each of the days before ("the same hour's 7-day baseline"). */
#ifndef CARETAKER_HISTORY_H
#define CARETAKER_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#define HISTORY_BUCKETS 96

struct history;

struct history_spec {
    int point;
    int64_t win_ms;
    int daily; /* 1: hour-of-day cells for hour_avg, not a ring of buckets */
};

/* npoints: points of the profile; specs: the (point, window) pairs the rules use (duplicates
 * are merged). start_ms: when watching began, the reference of stale() for a point never read.
 * NULL when out of memory. */
struct history *history_new(int npoints, const struct history_spec *specs, int nspecs, int64_t start_ms);
void history_free(struct history *h);

/* The series serving (point, win_ms), or -1. Looked up once when rules are bound. */
int history_series(const struct history *h, int point, int64_t win_ms);

/* The same for a daily series when daily is 1. */
int history_series_of(const struct history *h, int point, int64_t win_ms, int daily);

/* Records a valid value of point at ts_ms (timestamps must not go back; an older one is
 * dropped). Invalid values are simply not recorded. */
void history_add(struct history *h, int point, int64_t ts_ms, double v);

/* Seconds since point's last valid value, or since start_ms when it never had one. */
double history_stale_s(const struct history *h, int point, int64_t now_ms);

/* Window functions of series s at now_ms (NaN when unknown):
 * delta:   newest value - value of the newest sample at or before now - window;
 * rate:    that delta divided by the seconds between the two samples (per second);
 * changes: how many times the value differed from the sample before it, within the window;
 * min, max, avg: over the samples within the window. */
double history_delta(const struct history *h, int s, int64_t now_ms);
double history_rate(const struct history *h, int s, int64_t now_ms);
double history_changes(const struct history *h, int s, int64_t now_ms);
double history_min(const struct history *h, int s, int64_t now_ms);
double history_max(const struct history *h, int s, int64_t now_ms);
double history_avg(const struct history *h, int s, int64_t now_ms);

/* Daily series: the mean, over each of the window's whole days before today, of that day's
 * average in the local clock hour now_ms falls in. NaN unless every one of those days has
 * samples in that hour (or the window is shorter than a day). */
double history_hour_avg(const struct history *h, int s, int64_t now_ms);

/* Bytes held, for the gateway's own metrics. */
size_t history_bytes(const struct history *h);

/* Moves the samples recorded in an unsynchronized span by the correction synchronization
 * brought (timebase.h); hourly cells of that span are dropped, their local hours being unknown. */
struct timebase_step;
void history_shift(struct history *h, const struct timebase_step *st);

#endif
