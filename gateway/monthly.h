/* monthly: a contract's month, as the district supervises it (考核) — alerts by rule and
 * severity, how each work-order stage was kept, escalations, each device's availability and
 * data completeness, maintenance visits and overdue days, trapped-passenger incidents. Pure:
 * what the store holds comes in (alert records, device days, visits), the figures go out; the
 * month's bounds are local midnights in the process's zone (TZ, the site's).
 *
 * Alert records are read as the store keeps them (payload_alert's json). A record with
 * "stages" {ack, on_site, resolve: {due_ts, ts, met}} and "outcome" is read from those; one
 * without them from acked_ts / respond_by_ts (the ack stage only) and cleared_ts. A stage is
 *   on time  done by its due time (or "met": true, or no due time);
 *   late     done after it ("met": false), or never done though its due time passed while the
 *            alert was active;
 *   open     not done, the alert still active at the month's end and its due time not passed.
 * A stage neither done nor due before the alert cleared is not counted. Median and worst are
 * over the stages done, in seconds from raised_ts. */
#ifndef CARETAKER_MONTHLY_H
#define CARETAKER_MONTHLY_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "alerts.h"
#include "store.h"

#define MONTHLY_STAGES 3 /* ack, on_site, resolve */
#define MONTHLY_LEVELS_MAX 8
#define MONTHLY_MAINTENANCE_RULE "maintenance_overdue"
#define MONTHLY_TRAPPED_RULE "trapped_passenger"

extern const char *const monthly_stage_names[MONTHLY_STAGES];

/* A device the contract covers. */
struct monthly_device {
    const char *id, *location, *kind;
    const struct device_asset *asset; /* its registration code, number, position; NULL: none */
};

struct monthly_input {
    const char *contract, *contractor, *timezone;
    char month[8];    /* "2026-11" */
    int64_t from, to; /* local midnights: the first of the month and of the next */
    int64_t now;      /* when it is made: a stage not done is judged up to min(now, to) */
    int ndevices;
    const struct monthly_device *devices;
    const cJSON *alerts; /* array of alert records (any contract: those of contract are taken) */
    int ndays;
    const struct store_device_day *days;
    int nvisits;
    const struct store_visit *visits;
    int64_t min_visit_ms; /* a maintenance visit counts toward the interval when this long */
};

struct monthly_count {
    char rule[NAME_MAX_LEN];
    char severity[16];
    int count;
};

struct monthly_stage {
    int on_time, late, open;
    int done;
    double median_s, worst_s; /* NaN when none done */
};

struct monthly_device_figures {
    const struct monthly_device *dev;
    int64_t up_ms, online_ms;
    int64_t polls_due, polls_ok;
    double availability;                      /* online share of the month, 0..1 */
    double up_share;                          /* share of the month the gateway ran */
    double completeness;                      /* polls_ok / polls_due; NaN when none were due */
    int visits;                               /* every kind, started in the month */
    int maintenance_visits, maintenance_long; /* and those at least min_visit_ms long */
    double maintenance_minutes;
    double overdue_days; /* maintenance_overdue active in the month */
};

struct monthly_incident {
    char id[ALERT_ID_LEN];
    char device[NAME_MAX_LEN];
    int64_t raised, acknowledged, on_site, resolved; /* 0: not (yet) */
};

struct monthly_report {
    const struct monthly_input *in;
    int alerts; /* raised in the month */
    int ncounts;
    struct monthly_count *counts; /* by rule, then severity */
    struct monthly_stage stages[MONTHLY_STAGES];
    int self_cleared, resolved;
    int escalations[MONTHLY_LEVELS_MAX + 1]; /* [level]: alerts that reached it */
    int max_level;
    int ndevices;
    struct monthly_device_figures *devices;
    int nvisits;
    const struct store_visit **visits; /* of the contract's devices, started in the month */
    int nincidents;
    struct monthly_incident *incidents;
};

/* "2026-11" to its bounds; -1 when not a month. */
int monthly_bounds(const char *month, int64_t *from, int64_t *to);
/* The month holding ts, "2026-11" (n >= 8). */
void monthly_name(int64_t ts, char *out, size_t n);

/* The month before the one holding ts: its start, its name in month (n >= 8); 0 on error. */
int64_t monthly_previous(int64_t ts, char *month, size_t n);

/* 0, or -1 out of memory (out then holds nothing to free). */
int monthly_compute(const struct monthly_input *in, struct monthly_report *out);
void monthly_free(struct monthly_report *r);

#endif
