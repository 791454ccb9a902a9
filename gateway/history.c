/* history: bounded rings of bucketed samples per (point, window), and last-valid times per point.
 * Invariant: a series' buckets are in time order, newest at head, each starting at least one
 * bucket width after the one before; nothing is allocated after history_new. */
#include "history.h"
#include "timebase.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAILY_DAYS 31
#define DAILY_CELLS ((DAILY_DAYS + 1) * 24)

/* One local clock hour of a daily series: hour_no counts local hours since the epoch. */
struct hour_cell {
    int64_t hour_no;
    double sum;
    uint32_t n;
};

struct bucket {
    int64_t t0, t1; /* first and last sample */
    double v0, v1;  /* their values */
    double lo, hi, sum;
    uint32_t n;
    uint32_t changes; /* value changes between samples inside the bucket */
    uint8_t link;     /* 1 when v0 differs from the previous bucket's v1 */
};

struct series {
    int point;
    int64_t win_ms, width_ms;
    int head, count;
    struct bucket b[HISTORY_BUCKETS];
    struct hour_cell *cells; /* daily series only: DAILY_CELLS, by hour_no modulo */
};

struct history {
    int npoints, nseries;
    int64_t start_ms;
    int64_t *last_ok_ms; /* by point; 0 = never */
    struct series *series;
};

struct history *history_new(int npoints, const struct history_spec *specs, int nspecs, int64_t start_ms)
{
    struct history *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->npoints = npoints;
    h->start_ms = start_ms;
    h->last_ok_ms = calloc((size_t)(npoints > 0 ? npoints : 1), sizeof *h->last_ok_ms);
    h->series = calloc((size_t)(nspecs > 0 ? nspecs : 1), sizeof *h->series);
    if (!h->last_ok_ms || !h->series) {
        history_free(h);
        return NULL;
    }
    for (int i = 0; i < nspecs; i++) {
        if (specs[i].point < 0 || specs[i].point >= npoints || specs[i].win_ms <= 0)
            continue;
        if (history_series_of(h, specs[i].point, specs[i].win_ms, specs[i].daily) >= 0)
            continue;
        struct series *s = &h->series[h->nseries++];
        s->point = specs[i].point;
        s->win_ms = specs[i].win_ms;
        if (specs[i].daily) {
            s->cells = calloc(DAILY_CELLS, sizeof *s->cells);
            if (!s->cells) {
                history_free(h);
                return NULL;
            }
            for (int k = 0; k < DAILY_CELLS; k++)
                s->cells[k].hour_no = -1;
        }
        /* B - 2 buckets span the window, so the ring also holds the sample just before it. */
        s->width_ms = (specs[i].win_ms + HISTORY_BUCKETS - 3) / (HISTORY_BUCKETS - 2);
        if (s->width_ms < 1)
            s->width_ms = 1;
        s->head = -1;
    }
    return h;
}

void history_free(struct history *h)
{
    if (!h)
        return;
    for (int i = 0; h->series && i < h->nseries; i++)
        free(h->series[i].cells);
    free(h->last_ok_ms);
    free(h->series);
    free(h);
}

int history_series_of(const struct history *h, int point, int64_t win_ms, int daily)
{
    for (int i = 0; i < h->nseries; i++)
        if (h->series[i].point == point && h->series[i].win_ms == win_ms && !h->series[i].cells == !daily)
            return i;
    return -1;
}

int history_series(const struct history *h, int point, int64_t win_ms)
{
    return history_series_of(h, point, win_ms, 0);
}

/* Local clock hours since the epoch: the site's zone (TZ) at that moment. */
static int64_t local_hour_no(int64_t ts_ms)
{
    time_t secs = (time_t)(ts_ms / 1000);
    struct tm tm;
    if (!localtime_r(&secs, &tm))
        return -1;
    int64_t local = (int64_t)secs + (int64_t)tm.tm_gmtoff;
    return local >= 0 ? local / 3600 : (local - 3599) / 3600;
}

static void daily_add(struct series *s, int64_t ts_ms, double v)
{
    int64_t hn = local_hour_no(ts_ms);
    if (hn < 0)
        return;
    struct hour_cell *c = &s->cells[hn % DAILY_CELLS];
    if (c->hour_no != hn)
        *c = (struct hour_cell){hn, 0, 0};
    c->sum += v;
    c->n++;
}

double history_hour_avg(const struct history *h, int si, int64_t now_ms)
{
    if (si < 0 || si >= h->nseries || !h->series[si].cells)
        return NAN;
    const struct series *s = &h->series[si];
    int64_t days = s->win_ms / 86400000;
    if (days > DAILY_DAYS)
        days = DAILY_DAYS;
    int64_t hn = local_hour_no(now_ms);
    if (days < 1 || hn < 0)
        return NAN;
    double acc = 0;
    for (int64_t k = 1; k <= days; k++) {
        int64_t want = hn - 24 * k;
        if (want < 0)
            return NAN;
        const struct hour_cell *c = &s->cells[want % DAILY_CELLS];
        if (c->hour_no != want || c->n == 0)
            return NAN;
        acc += c->sum / c->n;
    }
    return acc / (double)days;
}

/* k-th newest bucket (0 = newest). */
static const struct bucket *nth(const struct series *s, int k)
{
    return &s->b[(s->head - k + HISTORY_BUCKETS) % HISTORY_BUCKETS];
}

static void series_add(struct series *s, int64_t ts, double v)
{
    if (s->count > 0) {
        struct bucket *last = &s->b[s->head];
        if (ts < last->t1)
            return;
        if (ts - last->t0 < s->width_ms) {
            if (v != last->v1)
                last->changes++;
            last->t1 = ts;
            last->v1 = v;
            if (v < last->lo)
                last->lo = v;
            if (v > last->hi)
                last->hi = v;
            last->sum += v;
            last->n++;
            return;
        }
    }
    uint8_t link = s->count > 0 && v != s->b[s->head].v1;
    s->head = (s->head + 1) % HISTORY_BUCKETS;
    if (s->count < HISTORY_BUCKETS)
        s->count++;
    struct bucket *b = &s->b[s->head];
    *b = (struct bucket){ts, ts, v, v, v, v, v, 1, 0, link};
}

void history_add(struct history *h, int point, int64_t ts_ms, double v)
{
    if (point < 0 || point >= h->npoints || v != v)
        return;
    if (ts_ms >= h->last_ok_ms[point])
        h->last_ok_ms[point] = ts_ms;
    for (int i = 0; i < h->nseries; i++) {
        if (h->series[i].point != point)
            continue;
        if (h->series[i].cells)
            daily_add(&h->series[i], ts_ms, v);
        else
            series_add(&h->series[i], ts_ms, v);
    }
}

double history_stale_s(const struct history *h, int point, int64_t now_ms)
{
    if (point < 0 || point >= h->npoints)
        return NAN;
    int64_t since = h->last_ok_ms[point] ? h->last_ok_ms[point] : h->start_ms;
    return now_ms > since ? (double)(now_ms - since) / 1000.0 : 0.0;
}

/* The series when it reaches back to the window's start, else NULL. */
static const struct series *covered(const struct history *h, int si, int64_t now_ms)
{
    if (si < 0 || si >= h->nseries)
        return NULL;
    const struct series *s = &h->series[si];
    if (s->count == 0 || nth(s, s->count - 1)->t0 > now_ms - s->win_ms)
        return NULL;
    return s;
}

/* The reference sample of delta and rate: newest at or before the window's start. */
static int reference(const struct series *s, int64_t cut, int64_t *t, double *v)
{
    for (int k = 0; k < s->count; k++) {
        const struct bucket *b = nth(s, k);
        if (b->t1 <= cut) {
            *t = b->t1;
            *v = b->v1;
            return 0;
        }
    }
    const struct bucket *oldest = nth(s, s->count - 1);
    *t = oldest->t0;
    *v = oldest->v0;
    return 0;
}

double history_delta(const struct history *h, int si, int64_t now_ms)
{
    const struct series *s = covered(h, si, now_ms);
    if (!s)
        return NAN;
    int64_t t;
    double v;
    reference(s, now_ms - s->win_ms, &t, &v);
    return nth(s, 0)->v1 - v;
}

double history_rate(const struct history *h, int si, int64_t now_ms)
{
    const struct series *s = covered(h, si, now_ms);
    if (!s)
        return NAN;
    int64_t t;
    double v;
    reference(s, now_ms - s->win_ms, &t, &v);
    const struct bucket *newest = nth(s, 0);
    if (newest->t1 <= t)
        return NAN;
    return (newest->v1 - v) * 1000.0 / (double)(newest->t1 - t);
}

double history_changes(const struct history *h, int si, int64_t now_ms)
{
    const struct series *s = covered(h, si, now_ms);
    if (!s)
        return NAN;
    int64_t cut = now_ms - s->win_ms;
    double n = 0;
    for (int k = 0; k < s->count; k++) {
        const struct bucket *b = nth(s, k);
        if (b->t1 < cut)
            break;
        n += b->changes;
        if (b->link && k + 1 < s->count && nth(s, k + 1)->t1 >= cut)
            n += 1;
    }
    return n;
}

enum agg { AGG_MIN, AGG_MAX, AGG_AVG };

static double aggregate(const struct history *h, int si, int64_t now_ms, enum agg how)
{
    const struct series *s = covered(h, si, now_ms);
    if (!s)
        return NAN;
    int64_t cut = now_ms - s->win_ms;
    double lo = INFINITY, hi = -INFINITY, sum = 0, n = 0;
    for (int k = 0; k < s->count; k++) {
        const struct bucket *b = nth(s, k);
        if (b->t1 < cut)
            break;
        if (b->lo < lo)
            lo = b->lo;
        if (b->hi > hi)
            hi = b->hi;
        sum += b->sum;
        n += b->n;
    }
    if (n == 0)
        return NAN;
    return how == AGG_MIN ? lo : how == AGG_MAX ? hi : sum / n;
}

double history_min(const struct history *h, int si, int64_t now_ms)
{
    return aggregate(h, si, now_ms, AGG_MIN);
}

double history_max(const struct history *h, int si, int64_t now_ms)
{
    return aggregate(h, si, now_ms, AGG_MAX);
}

double history_avg(const struct history *h, int si, int64_t now_ms)
{
    return aggregate(h, si, now_ms, AGG_AVG);
}

size_t history_bytes(const struct history *h)
{
    size_t n = sizeof *h + (size_t)h->npoints * sizeof *h->last_ok_ms + (size_t)h->nseries * sizeof *h->series;
    for (int i = 0; i < h->nseries; i++)
        if (h->series[i].cells)
            n += DAILY_CELLS * sizeof(struct hour_cell);
    return n;
}

void history_shift(struct history *h, const struct timebase_step *st)
{
    h->start_ms = timebase_correct(st, h->start_ms);
    for (int p = 0; p < h->npoints; p++)
        h->last_ok_ms[p] = timebase_correct(st, h->last_ok_ms[p]);
    for (int i = 0; i < h->nseries; i++) {
        struct series *s = &h->series[i];
        for (int k = 0; k < s->count; k++) {
            struct bucket *b = &s->b[(s->head - k + HISTORY_BUCKETS) % HISTORY_BUCKETS];
            b->t0 = timebase_correct(st, b->t0);
            b->t1 = timebase_correct(st, b->t1);
        }
        for (int k = 0; s->cells && k < DAILY_CELLS; k++)
            if (s->cells[k].hour_no >= 0 && timebase_in_span(st, s->cells[k].hour_no * 3600000))
                s->cells[k].hour_no = -1;
    }
}
