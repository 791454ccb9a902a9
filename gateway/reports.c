/* reports: per-device accumulators of the local day and the daily report made of them.
 *
 * Invariants: a device's accumulators cover [day_start, day_end) of one local day; a reading
 * or tick at or past day_end first reports the day and starts the one it falls in; a counter's
 * last value carries over from day to day (and across restarts), so no increase is counted
 * twice or lost at a boundary; a time_in state read before midnight counts, within its hold,
 * up to midnight in the day that ends and from midnight in the next. A saved day written before
 * figures came from the profile reads back whole: counters and peaks keep their layout, keyed
 * by member, and the newer kinds of figure ("states") are absent there and start at zero. */
#include "reports.h"
#include "timebase.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

/* A state read is held until the next reading, but no longer than this many polls (at least
 * HOLD_MIN_MS): past it the device was silent or the daemon down, and the state is unknown. */
#define HOLD_POLLS 3
#define HOLD_MIN_MS 60000

#define MAX_FAULT_RULES REPORT_FAULT_RULES_MAX

/* One point feeding the report, as its profile's "report" key says. */
struct figure {
    int point; /* index in the profile */
    enum report_how how;
    const char *as; /* the member */
    /* carried from day to day (and across restarts) */
    int has_last;
    double last;        /* the last valid value */
    int64_t last_ts;    /* time_in: when it was read */
    int64_t counted_to; /* time_in: held time counted up to here */
    /* the day's */
    double sum;  /* delta: increases; mean: values; time_in: ms non-zero; rises: count */
    int64_t n;   /* mean: valid readings */
    double peak; /* peak: NaN until a valid reading */
    int64_t peak_ts;
};

struct fault {
    char rule[NAME_MAX_LEN];
    int count;
};

struct day {
    const struct device *dev;
    int64_t start, end;
    int nfig;
    struct figure f[REPORT_FIGURES_MAX];
    int64_t hold_ms;
    int active;          /* alerts of severity minor or above now active */
    int64_t alarm_since; /* while active: where the current stretch in alarm is counted from */
    int64_t alarm_ms;    /* in alarm this day, stretches closed so far */
    int nfaults;
    struct fault faults[MAX_FAULT_RULES];
    int64_t readings, first_ts, last_ts;
    int dirty;
};

struct reports {
    const struct config *cfg;
    int n;
    struct day *days; /* by device->index */
};

int64_t reports_day_start(int64_t ts_ms)
{
    time_t t = (time_t)(ts_ms >= 0 ? ts_ms / 1000 : (ts_ms - 999) / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000;
}

int64_t reports_day_end(int64_t day_start_ms)
{
    time_t t = (time_t)(day_start_ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    /* A day on, at midnight: mktime normalises the date and, with tm_isdst -1, finds the
     * offset in force then, so a day with a DST change is 23 or 25 hours long. */
    tm.tm_mday += 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000;
}

static void day_begin(struct day *d, int64_t start)
{
    d->start = start;
    d->end = reports_day_end(start);
    for (int k = 0; k < d->nfig; k++) {
        d->f[k].sum = 0;
        d->f[k].n = 0;
        d->f[k].peak = NAN;
        d->f[k].peak_ts = 0;
    }
    d->alarm_ms = 0;
    if (d->active > 0)
        d->alarm_since = start;
    d->nfaults = 0;
    d->readings = d->first_ts = d->last_ts = 0;
    d->dirty = 1;
}

struct reports *reports_new(const struct config *cfg, int64_t now_ms)
{
    struct reports *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->cfg = cfg;
    r->n = cfg->ndevices;
    r->days = calloc((size_t)(r->n ? r->n : 1), sizeof *r->days);
    if (!r->days) {
        free(r);
        return NULL;
    }
    int64_t start = reports_day_start(now_ms);
    for (int i = 0; i < r->n; i++) {
        struct day *d = &r->days[i];
        d->dev = cfg->devices[i];
        const struct profile *p = d->dev->profile;
        for (int k = 0; p && k < p->npoints && d->nfig < REPORT_FIGURES_MAX; k++)
            if (p->points[k].report_how != REPORT_NONE)
                d->f[d->nfig++] =
                    (struct figure){.point = k, .how = p->points[k].report_how, .as = p->points[k].report_as};
        int64_t hold = (int64_t)d->dev->poll_ms * HOLD_POLLS;
        d->hold_ms = hold > HOLD_MIN_MS ? hold : HOLD_MIN_MS;
        day_begin(d, start);
    }
    return r;
}

void reports_free(struct reports *r)
{
    if (!r)
        return;
    free(r->days);
    free(r);
}

/* Rounded to 1e-9: increases summed in a double carry binary noise (0.1 + 0.2) that a report
 * should not show. */
static double tidy(double v)
{
    return isfinite(v) ? round(v * 1e9) / 1e9 : v;
}

static int64_t alarm_ms_until(const struct day *d, int64_t t)
{
    int64_t ms = d->alarm_ms;
    if (d->active > 0 && t > d->alarm_since)
        ms += t - d->alarm_since;
    return ms;
}

static void report_of(const struct reports *r, const struct day *d, struct daily_report *rep)
{
    memset(rep, 0, sizeof *rep);
    time_t t = (time_t)(d->start / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(rep->day, sizeof rep->day, "%Y-%m-%d", &tm);
    const struct profile *p = d->dev->profile;
    rep->timezone = r->cfg->timezone;
    rep->location = d->dev->location;
    rep->asset = &d->dev->asset;
    rep->kind = p ? p->kind : "";
    rep->from_ts = d->start;
    rep->to_ts = d->end;
    rep->readings = d->readings;
    rep->first_ts = d->readings ? d->first_ts : 0;
    rep->last_ts = d->readings ? d->last_ts : 0;
    for (int k = 0; k < d->nfig; k++) {
        const struct figure *f = &d->f[k];
        const char *unit = p->points[f->point].unit;
        switch (f->how) {
        case REPORT_PEAK:
            rep->peaks[rep->npeaks++] =
                (struct report_figure){f->as, f->peak, isfinite(f->peak) ? f->peak_ts : 0, unit};
            continue;
        case REPORT_MEAN:
            rep->counters[rep->ncounters++] =
                (struct report_figure){f->as, f->n ? tidy(f->sum / (double)f->n) : NAN, 0, unit};
            continue;
        case REPORT_TIME_IN:
            rep->counters[rep->ncounters++] = (struct report_figure){f->as, tidy(f->sum / 3600000.0), 0, "h"};
            continue;
        case REPORT_RISES:
            unit = "";
            break;
        case REPORT_DELTA:
        case REPORT_NONE:
            break;
        }
        rep->counters[rep->ncounters++] = (struct report_figure){f->as, tidy(f->sum), 0, unit};
    }
    rep->minutes_in_alarm = tidy((double)alarm_ms_until(d, d->end) / 60000.0);
    for (int k = 0; k < d->nfaults; k++) {
        rep->faults[k].rule = d->faults[k].rule;
        rep->faults[k].count = d->faults[k].count;
    }
    rep->nfaults = d->nfaults;
}

/* Time in a state: the non-zero state last read counts up to t, but no further than hold_ms
 * past that reading. */
static void time_upto(struct figure *f, int64_t t, int64_t hold_ms)
{
    if (!f->has_last || f->last == 0)
        return;
    int64_t until = t < f->last_ts + hold_ms ? t : f->last_ts + hold_ms;
    if (until > f->counted_to) {
        f->sum += (double)(until - f->counted_to);
        f->counted_to = until;
    }
}

/* Reports the day of d and begins the one holding ts. */
static void roll(struct reports *r, struct day *d, int64_t ts, report_emit_fn emit, void *ctx)
{
    for (int k = 0; k < d->nfig; k++)
        if (d->f[k].how == REPORT_TIME_IN)
            time_upto(&d->f[k], d->end, d->hold_ms);
    if (emit) {
        struct daily_report rep;
        report_of(r, d, &rep);
        emit(ctx, (int)(d - r->days), &rep);
    }
    int64_t next = ts < d->end ? d->end : reports_day_start(ts);
    day_begin(d, next);
}

static struct day *day_at(struct reports *r, int device, int64_t ts, report_emit_fn emit, void *ctx)
{
    if (device < 0 || device >= r->n)
        return NULL;
    struct day *d = &r->days[device];
    if (ts >= d->end)
        roll(r, d, ts, emit, ctx);
    return d;
}

static void figure_reading(struct figure *f, int64_t ts, double v, int64_t hold_ms)
{
    switch (f->how) {
    case REPORT_DELTA: /* a counter that went down was reset: counting goes on from its new value */
        if (f->has_last && v > f->last)
            f->sum += v - f->last;
        break;
    case REPORT_PEAK:
        if (!(v <= f->peak)) { /* NaN (none yet) compares false */
            f->peak = v;
            f->peak_ts = ts;
        }
        break;
    case REPORT_MEAN:
        f->sum += v;
        f->n++;
        break;
    case REPORT_TIME_IN:
        time_upto(f, ts, hold_ms);
        f->last_ts = f->counted_to = ts;
        break;
    case REPORT_RISES:
        if (f->has_last && f->last == 0 && v != 0)
            f->sum += 1;
        break;
    case REPORT_NONE:
        break;
    }
    f->last = v;
    f->has_last = 1;
}

void reports_reading(struct reports *r, int device, int64_t ts_ms, const double *values, const uint8_t *quality,
                     int npoints, report_emit_fn emit, void *ctx)
{
    struct day *d = day_at(r, device, ts_ms, emit, ctx);
    if (!d)
        return;
    int any = 0;
    for (int k = 0; k < d->nfig; k++) {
        struct figure *f = &d->f[k];
        if (f->point >= npoints || quality[f->point] != Q_OK || !isfinite(values[f->point]))
            continue;
        figure_reading(f, ts_ms, values[f->point], d->hold_ms);
        any = 1;
    }
    for (int k = 0; !any && k < npoints; k++)
        any = quality[k] == Q_OK;
    if (!any)
        return;
    if (!d->readings)
        d->first_ts = ts_ms;
    d->last_ts = ts_ms;
    d->readings++;
    d->dirty = 1;
}

static void count_fault(struct day *d, const char *rule)
{
    for (int k = 0; k < d->nfaults; k++) {
        if (strcmp(d->faults[k].rule, rule) == 0) {
            d->faults[k].count++;
            return;
        }
    }
    if (d->nfaults == MAX_FAULT_RULES)
        return;
    snprintf(d->faults[d->nfaults].rule, sizeof d->faults[d->nfaults].rule, "%s", rule);
    d->faults[d->nfaults++].count = 1;
}

void reports_alert(struct reports *r, int device, const struct alert_event *ev, report_emit_fn emit, void *ctx)
{
    if (ev->alert.severity == SEV_INFO || (ev->kind != ALERT_RAISED && ev->kind != ALERT_CLEARED))
        return;
    struct day *d = day_at(r, device, ev->ts, emit, ctx);
    if (!d)
        return;
    int64_t ts = ev->ts < d->start ? d->start : ev->ts;
    if (ev->kind == ALERT_RAISED) {
        count_fault(d, ev->alert.rule);
        if (d->active++ == 0)
            d->alarm_since = ts;
    } else if (d->active > 0 && --d->active == 0 && ts > d->alarm_since) {
        d->alarm_ms += ts - d->alarm_since;
    }
    d->dirty = 1;
}

void reports_set_active(struct reports *r, int device, int active, int64_t now_ms)
{
    if (device < 0 || device >= r->n)
        return;
    struct day *d = &r->days[device];
    int64_t ts = now_ms < d->start ? d->start : now_ms;
    if (d->active > 0 && active == 0 && ts > d->alarm_since)
        d->alarm_ms += ts - d->alarm_since;
    else if (d->active == 0 && active > 0)
        d->alarm_since = ts;
    if (d->active != active)
        d->dirty = 1;
    d->active = active;
}

void reports_tick(struct reports *r, int64_t now_ms, report_emit_fn emit, void *ctx)
{
    for (int i = 0; i < r->n; i++)
        day_at(r, i, now_ms, emit, ctx);
}

/* ---- saving and restoring ---- */

static char *state_json(const struct day *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *cs = cJSON_AddObjectToObject(o, "counters");
    cJSON *ps = cJSON_AddObjectToObject(o, "peaks");
    cJSON *ss = cJSON_AddObjectToObject(o, "states");
    cJSON *fs = cJSON_AddObjectToObject(o, "faults");
    if (!o || !cs || !ps || !ss || !fs) {
        cJSON_Delete(o);
        return NULL;
    }
    for (int k = 0; k < d->nfig; k++) {
        const struct figure *f = &d->f[k];
        if (f->how == REPORT_PEAK) {
            if (!isfinite(f->peak))
                continue;
            cJSON *p = cJSON_AddObjectToObject(ps, f->as);
            cJSON_AddNumberToObject(p, "value", f->peak);
            cJSON_AddNumberToObject(p, "ts", (double)f->peak_ts);
            continue;
        }
        cJSON *c = cJSON_AddObjectToObject(f->how == REPORT_DELTA ? cs : ss, f->as);
        cJSON_AddNumberToObject(c, "sum", f->sum);
        if (f->has_last)
            cJSON_AddNumberToObject(c, "last", f->last);
        if (f->how == REPORT_MEAN)
            cJSON_AddNumberToObject(c, "n", (double)f->n);
        if (f->how == REPORT_TIME_IN && f->has_last) {
            cJSON_AddNumberToObject(c, "last_ts", (double)f->last_ts);
            cJSON_AddNumberToObject(c, "counted_to", (double)f->counted_to);
        }
    }
    for (int k = 0; k < d->nfaults; k++)
        cJSON_AddNumberToObject(fs, d->faults[k].rule, d->faults[k].count);
    cJSON_AddNumberToObject(o, "active", d->active);
    cJSON_AddNumberToObject(o, "alarm_since", (double)d->alarm_since);
    cJSON_AddNumberToObject(o, "alarm_ms", (double)d->alarm_ms);
    cJSON_AddNumberToObject(o, "readings", (double)d->readings);
    cJSON_AddNumberToObject(o, "first_ts", (double)d->first_ts);
    cJSON_AddNumberToObject(o, "last_ts", (double)d->last_ts);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

void reports_save(struct reports *r, report_save_fn fn, void *ctx)
{
    for (int i = 0; i < r->n; i++) {
        struct day *d = &r->days[i];
        if (!d->dirty)
            continue;
        char *json = state_json(d);
        if (!json)
            continue; /* out of memory: saved again at the next commit */
        fn(ctx, d->dev->id, d->start, json);
        cJSON_free(json);
        d->dirty = 0;
    }
}

/* A number member within [lo, hi], or -1. */
static int get_num(const cJSON *o, const char *key, double lo, double hi, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return -1;
    *out = v->valuedouble;
    return 0;
}

#define TS_MAX 9.0e15
#define COUNT_MAX 1.0e15

/* A figure's saved accumulators, from the object of its kind (counters, peaks or states). A
 * figure absent there (a day saved before the profile reported it) starts at zero. */
static int read_figure(struct figure *f, const cJSON *kind)
{
    const cJSON *c = cJSON_IsObject(kind) ? cJSON_GetObjectItemCaseSensitive(kind, f->as) : NULL;
    if (!c)
        return 0;
    double v, ts, n;
    if (f->how == REPORT_PEAK) {
        if (get_num(c, "value", -HUGE_VAL, HUGE_VAL, &v) || get_num(c, "ts", 0, TS_MAX, &ts))
            return -1;
        f->peak = v;
        f->peak_ts = (int64_t)ts;
        return 0;
    }
    double lo = f->how == REPORT_MEAN ? -HUGE_VAL : 0;
    if (get_num(c, "sum", lo, HUGE_VAL, &f->sum))
        return -1;
    if (f->how == REPORT_MEAN) {
        if (get_num(c, "n", 0, COUNT_MAX, &n))
            return -1;
        f->n = (int64_t)n;
    }
    if (get_num(c, "last", -HUGE_VAL, HUGE_VAL, &v) == 0) {
        f->last = v;
        f->has_last = 1;
    }
    if (f->how == REPORT_TIME_IN && f->has_last) {
        double to;
        if (get_num(c, "last_ts", 0, TS_MAX, &ts) || get_num(c, "counted_to", ts, TS_MAX, &to))
            return -1;
        f->last_ts = (int64_t)ts;
        f->counted_to = (int64_t)to;
    }
    return 0;
}

static int read_state(struct day *d, const cJSON *o)
{
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(o, "counters");
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(o, "peaks");
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(o, "states"); /* none in days saved before it */
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(o, "faults");
    double active, since, alarm, readings, first, last;
    if (!cJSON_IsObject(cs) || !cJSON_IsObject(ps) || !cJSON_IsObject(fs) || (ss && !cJSON_IsObject(ss)) ||
        get_num(o, "active", 0, 1000, &active) || get_num(o, "alarm_since", 0, TS_MAX, &since) ||
        get_num(o, "alarm_ms", 0, TS_MAX, &alarm) || get_num(o, "readings", 0, COUNT_MAX, &readings) ||
        get_num(o, "first_ts", 0, TS_MAX, &first) || get_num(o, "last_ts", 0, TS_MAX, &last))
        return -1;
    for (int k = 0; k < d->nfig; k++)
        if (read_figure(&d->f[k], d->f[k].how == REPORT_DELTA ? cs : d->f[k].how == REPORT_PEAK ? ps : ss))
            return -1;
    d->nfaults = 0;
    for (const cJSON *f = fs->child; f; f = f->next) {
        if (!cJSON_IsNumber(f) || !f->string || strlen(f->string) >= NAME_MAX_LEN || !(f->valuedouble >= 0) ||
            f->valuedouble > 1e9 || d->nfaults == MAX_FAULT_RULES)
            return -1;
        snprintf(d->faults[d->nfaults].rule, NAME_MAX_LEN, "%s", f->string);
        d->faults[d->nfaults++].count = (int)f->valuedouble;
    }
    d->active = (int)active;
    d->alarm_since = (int64_t)since;
    d->alarm_ms = (int64_t)alarm;
    d->readings = (int64_t)readings;
    d->first_ts = (int64_t)first;
    d->last_ts = (int64_t)last;
    return 0;
}

int reports_restore(struct reports *r, const char *device, int64_t day_start_ms, const char *json, int64_t now_ms,
                    report_emit_fn emit, void *ctx)
{
    struct day *d = NULL;
    for (int i = 0; i < r->n && !d; i++)
        if (strcmp(r->days[i].dev->id, device) == 0)
            d = &r->days[i];
    if (!d)
        return -1;
    cJSON *o = cJSON_Parse(json);
    struct day saved = *d;
    day_begin(d, day_start_ms);
    int rc = o ? read_state(d, o) : -1;
    cJSON_Delete(o);
    if (rc < 0) {
        *d = saved;
        return -1;
    }
    d->dirty = 1;
    if (now_ms >= d->end)
        roll(r, d, now_ms, emit, ctx);
    return 0;
}

void reports_shift(struct reports *r, const struct timebase_step *st)
{
    for (int i = 0; i < r->n; i++) {
        struct day *d = &r->days[i];
        if (!d->dev)
            continue;
        for (int k = 0; k < d->nfig; k++) {
            d->f[k].last_ts = timebase_correct(st, d->f[k].last_ts);
            d->f[k].counted_to = timebase_correct(st, d->f[k].counted_to);
            d->f[k].peak_ts = timebase_correct(st, d->f[k].peak_ts);
        }
        d->alarm_since = timebase_correct(st, d->alarm_since);
        d->first_ts = timebase_correct(st, d->first_ts);
        d->last_ts = timebase_correct(st, d->last_ts);
        if (d->end > st->lo && d->start <= st->hi) {
            int64_t from = d->start > st->lo ? d->start : st->lo;
            d->start = reports_day_start(from + st->delta_ms);
            d->end = reports_day_end(d->start);
            d->dirty = 1;
        }
    }
}
