/* reports: each device's figures of the local day and the daily report made of them at local
 * midnight. Pure: time comes in with every call, the zone is the process's (TZ, set once at
 * start), so tests drive it with a fake clock.
 *
 * The figures are those the profile's points declare ("report": {"as", "how"}, drivers/README.md);
 * no point name is known here. Each figure is made from the point's valid readings:
 *   delta    a counter: the day's sum of increases between readings (a counter that goes down
 *            was reset: it adds nothing, and counting goes on from its new value);
 *   peak     the day's highest value and when it was read (member <as>_ts);
 *   mean     the mean of the day's readings, each reading weighing the same (polls are regular);
 *   time_in  hours the point read non-zero: a state holds from one reading to the next, at most
 *            3 polls (and at least 60 s) past its reading, beyond which it is unknown and not
 *            counted (the device silent, the daemon down);
 *   rises    how many times the point went from zero to non-zero (starts of a pump, runs of a
 *            lift from its speed).
 * Faults are the raised alerts of the day by rule (severity info excluded); minutes in alarm
 * is the time the device had at least one active alert of severity minor or above.
 *
 * A restart loses nothing: the accumulators (with each counter's and state's last value) are
 * saved with reports_save in the group commit and read back with reports_restore, so increases
 * while the daemon was down are counted at the first reading after it. */
#ifndef CARETAKER_REPORTS_H
#define CARETAKER_REPORTS_H

#include <stdint.h>

#include "alerts.h"
#include "model.h"

struct reports;

#define REPORT_FAULT_RULES_MAX 80

/* One figure of a day: a sum, mean or count (runs, volume, running_hours...) or a peak with its
 * time. */
struct report_figure {
    const char *member; /* "runs", "peak_flow": the report's member */
    double value;       /* NaN: none read (a peak or mean of a day without a valid reading) */
    int64_t ts;         /* peaks: when it was read; 0 for the others */
    const char *unit;   /* the point's unit from the profile, "" when none */
};

/* A finished day of one device, as docs/mqtt.md's reports/daily has it; payload_daily_report
 * writes it. Pointers are valid during the emit call only. */
struct daily_report {
    char day[16]; /* local date, "2024-06-01" */
    const char *timezone, *location, *kind;
    const struct device_asset *asset;    /* what the device is filed under (may be empty) */
    int64_t from_ts, to_ts;              /* local midnights */
    int64_t readings, first_ts, last_ts; /* first/last: 0 when no reading */
    int ncounters, npeaks;
    struct report_figure counters[REPORT_FIGURES_MAX], peaks[REPORT_FIGURES_MAX]; /* peaks: how "peak" */
    double minutes_in_alarm;
    int nfaults;
    struct {
        const char *rule;
        int count;
    } faults[REPORT_FAULT_RULES_MAX];
};

/* A finished day of one device (rep->to_ts is the local midnight that ended it). */
typedef void (*report_emit_fn)(void *ctx, int device, const struct daily_report *rep);
/* Saving one device's accumulators of the day under way. */
typedef void (*report_save_fn)(void *ctx, const char *device, int64_t day_start_ms, const char *json);

/* Local midnight at or before ts_ms, and the one after day_start_ms (23, 24 or 25 h later). */
int64_t reports_day_start(int64_t ts_ms);
int64_t reports_day_end(int64_t day_start_ms);

/* Accumulators for every device of cfg, each starting the day of now_ms; NULL when out of
 * memory. cfg must outlive it. */
struct reports *reports_new(const struct config *cfg, int64_t now_ms);
void reports_free(struct reports *r);

/* Puts back what reports_save wrote before a restart. A saved day that has ended by now_ms is
 * reported at once (emit) and a new day begins, keeping the counters' last values. Returns 0,
 * or -1 when the device is unknown or the json does not read back (the day starts afresh). */
int reports_restore(struct reports *r, const char *device, int64_t day_start_ms, const char *json, int64_t now_ms,
                    report_emit_fn emit, void *ctx);

/* The number of active alerts (severity minor or above) the device holds now, after the
 * engine restored its alerts: minutes in alarm go on from there. */
void reports_set_active(struct reports *r, int device, int active, int64_t now_ms);

/* One poll of a device (values and quality by point index, as on the queue). */
void reports_reading(struct reports *r, int device, int64_t ts_ms, const double *values, const uint8_t *quality,
                     int npoints, report_emit_fn emit, void *ctx);

/* An alert event of a device: raised counts a fault, raised and cleared move minutes in alarm. */
void reports_alert(struct reports *r, int device, const struct alert_event *ev, report_emit_fn emit, void *ctx);

/* Midnight passed: every device's day is reported, also those that sent nothing. */
void reports_tick(struct reports *r, int64_t now_ms, report_emit_fn emit, void *ctx);

/* Hands the accumulators of every device changed since the last save to fn. */
void reports_save(struct reports *r, report_save_fn fn, void *ctx);

/* The clock synchronized (timebase.h): a day counted in the unsynchronized span becomes the
 * corrected day it was really counted in, with every time in it corrected. */
struct timebase_step;
void reports_shift(struct reports *r, const struct timebase_step *st);

#endif
