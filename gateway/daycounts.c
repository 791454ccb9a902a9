/* daycounts: each device's counts of the local day, time and polls, kept per day.
 *
 * Invariant: a device's counts cover [day.day_start, day_end) and time up to last_tick; time
 * between ticks is put in the day it fell in, split at midnight. */
#include "daycounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports.h"
#include "timebase.h"

struct dev_day {
    struct store_device_day day;
    int64_t day_end;
    int poll_ms;
    bool online;
    int64_t begun; /* when the counts of this day began: its midnight, or a start within it */
    bool moved;    /* daycounts_shift put the day elsewhere: its saved counts are added */
};

struct daycounts {
    int n;
    int64_t last_tick;
    struct dev_day *devs;
};

static void begin(struct dev_day *d, int64_t day_start)
{
    d->day.day_start = day_start;
    d->day.up_ms = d->day.online_ms = d->day.polls_ok = 0;
    d->day.polls_due = 0;
    d->day_end = reports_day_end(day_start);
    d->begun = day_start;
}

struct daycounts *daycounts_new(const struct config *cfg, int64_t now_ms)
{
    struct daycounts *dc = calloc(1, sizeof *dc);
    if (!dc)
        return NULL;
    dc->n = cfg->ndevices;
    dc->last_tick = now_ms;
    dc->devs = calloc((size_t)dc->n + 1, sizeof *dc->devs);
    if (!dc->devs) {
        free(dc);
        return NULL;
    }
    int64_t start = reports_day_start(now_ms);
    for (int i = 0; i < dc->n; i++) {
        struct dev_day *d = &dc->devs[i];
        snprintf(d->day.device, sizeof d->day.device, "%s", cfg->devices[i]->id);
        d->poll_ms = cfg->devices[i]->poll_ms > 0 ? cfg->devices[i]->poll_ms : 1000;
        begin(d, start);
        d->begun = now_ms;
    }
    return dc;
}

void daycounts_free(struct daycounts *dc)
{
    if (!dc)
        return;
    free(dc->devs);
    free(dc);
}

void daycounts_restore(struct daycounts *dc, const struct store_device_day *d, int64_t now_ms)
{
    if (d->day_start != reports_day_start(now_ms))
        return;
    for (int i = 0; i < dc->n; i++) {
        if (strcmp(dc->devs[i].day.device, d->device) == 0) {
            dc->devs[i].day = *d;
            dc->devs[i].day_end = reports_day_end(d->day_start);
            dc->devs[i].begun = d->day_start;
        }
    }
}

void daycounts_merge(struct daycounts *dc, const struct store_device_day *d)
{
    for (int i = 0; i < dc->n; i++) {
        struct dev_day *dd = &dc->devs[i];
        if (dd->moved && dd->day.day_start == d->day_start && strcmp(dd->day.device, d->device) == 0) {
            dd->day.up_ms += d->up_ms;
            dd->day.online_ms += d->online_ms;
            dd->day.polls_due += d->polls_due;
            dd->day.polls_ok += d->polls_ok;
            dd->moved = false;
        }
    }
}

void daycounts_shift(struct daycounts *dc, const struct timebase_step *st)
{
    dc->last_tick = timebase_correct(st, dc->last_tick);
    for (int i = 0; i < dc->n; i++) {
        struct dev_day *d = &dc->devs[i];
        d->moved = false;
        /* Only a day counted wholly in the span: one that began before holds synchronized time
         * too, and the few minutes of a span that ran past its midnight stay in it. */
        if (!timebase_in_span(st, d->begun))
            continue;
        int64_t start = reports_day_start(d->begun + st->delta_ms);
        if (start == d->day.day_start)
            continue;
        d->begun += st->delta_ms;
        d->day.day_start = start;
        d->day_end = reports_day_end(start);
        d->moved = true;
    }
}

void daycounts_poll(struct daycounts *dc, int device, const uint8_t *quality, int npoints)
{
    if (device < 0 || device >= dc->n)
        return;
    bool ok = false;
    for (int k = 0; k < npoints && !ok; k++)
        ok = quality[k] == Q_OK;
    if (ok) {
        dc->devs[device].day.polls_ok++;
        dc->devs[device].online = true;
    }
}

void daycounts_online(struct daycounts *dc, int device, bool online)
{
    if (device >= 0 && device < dc->n)
        dc->devs[device].online = online;
}

static void count(struct dev_day *d, int64_t ms)
{
    d->day.up_ms += ms;
    if (d->online)
        d->day.online_ms += ms;
    d->day.polls_due += (double)ms / d->poll_ms;
}

void daycounts_tick(struct daycounts *dc, int64_t now_ms, daycounts_save_fn save, void *ctx)
{
    int64_t from = dc->last_tick, step = now_ms - from;
    dc->last_tick = now_ms;
    for (int i = 0; i < dc->n; i++) {
        struct dev_day *d = &dc->devs[i];
        int64_t t = step > 0 && step <= DAYCOUNTS_STEP_MAX_MS ? from : now_ms;
        if (now_ms < d->day.day_start) { /* the clock was set back past midnight */
            save(ctx, &d->day);
            begin(d, reports_day_start(now_ms));
        }
        while (now_ms >= d->day_end) {
            if (t < d->day_end) {
                count(d, d->day_end - t);
                t = d->day_end;
            }
            save(ctx, &d->day);
            begin(d, t > d->day_end ? reports_day_start(t) : d->day_end);
            if (t < d->day.day_start)
                t = d->day.day_start;
        }
        if (now_ms > t)
            count(d, now_ms - t);
    }
}

void daycounts_save(struct daycounts *dc, daycounts_save_fn save, void *ctx)
{
    for (int i = 0; i < dc->n; i++)
        save(ctx, &dc->devs[i].day);
}
