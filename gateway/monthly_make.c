/* monthly_make: gathers a month's records from the store for monthly_compute and writes the
 * report with payload_monthly_report; puts back at start what the day counts and the
 * maintenance interval go on from; finds the visit a cmd/visit names. */
#include "monthly_make.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monthly.h"
#include "reports.h"

struct gathered {
    cJSON *alerts;
    struct store_device_day *days;
    int ndays, days_cap;
    struct store_visit *visits;
    int nvisits, visits_cap;
    int oom;
};

static int take_alert(void *ctx, const char *json)
{
    struct gathered *g = ctx;
    cJSON *o = cJSON_Parse(json);
    if (o && !cJSON_AddItemToArray(g->alerts, o)) {
        cJSON_Delete(o);
        g->oom = 1;
    }
    return 0; /* a record that does not parse is left out, the others still count */
}

/* Appends one item to a growing array; -1 out of memory. */
static int grow(void **arr, int *n, int *cap, size_t size, const void *item)
{
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 64;
        void *p = realloc(*arr, (size_t)c * size);
        if (!p)
            return -1;
        *arr = p;
        *cap = c;
    }
    memcpy((char *)*arr + (size_t)*n * size, item, size);
    (*n)++;
    return 0;
}

static int take_day(void *ctx, const struct store_device_day *d)
{
    struct gathered *g = ctx;
    if (grow((void **)&g->days, &g->ndays, &g->days_cap, sizeof *d, d) < 0) {
        g->oom = 1;
        return -1;
    }
    return 0;
}

static int take_visit(void *ctx, const struct store_visit *v)
{
    struct gathered *g = ctx;
    if (grow((void **)&g->visits, &g->nvisits, &g->visits_cap, sizeof *v, v) < 0) {
        g->oom = 1;
        return -1;
    }
    return 0;
}

int monthly_make(struct store *s, const struct config *cfg, const struct contract *k, const char *month, int64_t now_ms,
                 struct jbuf *out, char *err, size_t n)
{
    struct monthly_input in = {.contract = k->id,
                               .contractor = k->contractor,
                               .timezone = cfg->timezone,
                               .now = now_ms,
                               .min_visit_ms = MAINTENANCE_MIN_MS};
    if (monthly_bounds(month, &in.from, &in.to) < 0) {
        snprintf(err, n, "month: \"%s\" is not a month (expected YYYY-MM, as \"2026-11\")", month);
        return -1;
    }
    if (in.to > now_ms) {
        snprintf(err, n, "month: %s has not ended (local time, %s): its report comes at its end", month, cfg->timezone);
        return -1;
    }
    if (in.to < now_ms - (int64_t)STORE_HISTORY_DAYS * 86400000) {
        snprintf(err, n, "month: %s is older than the %d days the store keeps for reports", month, STORE_HISTORY_DAYS);
        return -1;
    }
    snprintf(in.month, sizeof in.month, "%s", month);
    struct gathered g = {.alerts = cJSON_CreateArray()};
    struct monthly_device *devs = calloc((size_t)cfg->ndevices + 1, sizeof *devs);
    int rc = -1;
    if (!g.alerts || !devs)
        goto oom;
    for (int i = 0; i < cfg->ndevices; i++) {
        const struct device *d = cfg->devices[i];
        if (alert_contract_for(cfg, d) == k)
            devs[in.ndevices++] =
                (struct monthly_device){d->id, d->location, d->profile ? d->profile->kind : "", &d->asset};
    }
    if (store_alerts_between(s, in.from, in.to, take_alert, &g) < 0 ||
        store_device_days(s, in.from, in.to, take_day, &g) < 0 ||
        store_visits(s, NULL, in.from, in.to, take_visit, &g) < 0) {
        snprintf(err, n, "the store cannot be read for %s", month);
        goto done;
    }
    if (g.oom)
        goto oom;
    in.devices = devs;
    in.alerts = g.alerts;
    in.days = g.days;
    in.ndays = g.ndays;
    in.visits = g.visits;
    in.nvisits = g.nvisits;
    struct monthly_report r;
    if (monthly_compute(&in, &r) < 0)
        goto oom;
    rc = payload_monthly_report(out, cfg->gateway_id, now_ms, &r);
    monthly_free(&r);
    if (rc < 0)
        goto oom;
    goto done;
oom:
    snprintf(err, n, "out of memory making the report of %s", month);
    rc = -1;
done:
    cJSON_Delete(g.alerts);
    free(g.days);
    free(g.visits);
    free(devs);
    return rc;
}

struct restoring {
    struct daycounts *dc;
    struct maintenance *m;
    int64_t now;
    bool merge;
};

static int restore_day(void *ctx, const struct store_device_day *d)
{
    struct restoring *r = ctx;
    if (r->merge)
        daycounts_merge(r->dc, d);
    else
        daycounts_restore(r->dc, d, r->now);
    return 0;
}

static int restore_days(struct store *s, struct daycounts *dc, int64_t now_ms, bool merge)
{
    struct restoring r = {dc, NULL, now_ms, merge};
    int64_t day = reports_day_start(now_ms);
    return store_device_days(s, day, day + 1, restore_day, &r);
}

int monthly_merge_days(struct store *s, struct daycounts *dc, int64_t now_ms)
{
    return restore_days(s, dc, now_ms, true);
}

static int restore_visit(void *ctx, const struct store_visit *v)
{
    struct restoring *r = ctx;
    maintenance_restore_visit(r->m, v);
    return 0;
}

int monthly_restore(struct store *s, const struct config *cfg, struct daycounts *dc, struct maintenance *m,
                    int64_t now_ms, int64_t *reported)
{
    struct restoring r = {dc, m, now_ms, false};
    if (restore_days(s, dc, now_ms, false) < 0 || store_visits(s, NULL, now_ms, now_ms + 1, restore_visit, &r) < 0 ||
        store_get_mark(s, MONTHLY_REPORTED_MARK, reported) < 0)
        return -1;
    for (int i = 0; i < cfg->ndevices; i++) {
        const char *id = cfg->devices[i]->id;
        int64_t since = 0, visit = 0;
        if (store_device_since(s, id, now_ms, &since) < 0 ||
            store_last_long_visit(s, id, "maintenance", MAINTENANCE_MIN_MS, &visit) < 0)
            return -1;
        maintenance_set_since(m, i, since > visit ? since : visit);
    }
    if (!*reported) {
        char month[16];
        *reported = monthly_previous(now_ms, month, sizeof month);
        store_set_mark(s, MONTHLY_REPORTED_MARK, *reported);
        return 1;
    }
    return 0;
}

static int last_maintenance(void *ctx, const struct store_visit *v)
{
    if (!strcmp(v->kind, "maintenance"))
        *(struct store_visit *)ctx = *v;
    return 0;
}

struct store_visit *monthly_named_visit(struct store *s, struct maintenance *m, const struct device *d,
                                        const char *kind, int64_t now_ms, struct store_visit *scratch, char *err,
                                        size_t n)
{
    memset(scratch, 0, sizeof *scratch);
    if (strcmp(kind, "maintenance") != 0) {
        snprintf(scratch->device, sizeof scratch->device, "%s", d->id);
        snprintf(scratch->kind, sizeof scratch->kind, "%s", kind);
        scratch->start_ts = scratch->end_ts = now_ms;
        return scratch;
    }
    if (!maintenance_watched(m, d->index)) {
        snprintf(err, n,
                 "kind: %s is not an elevator: its maintenance visit is not told by an inspection mode "
                 "(expected patrol or cleaning)",
                 d->id);
        return NULL;
    }
    struct store_visit *v = maintenance_open_visit(m, d->index);
    if (v)
        return v;
    if (store_visits(s, d->id, now_ms - 86400000, now_ms + 1, last_maintenance, scratch) >= 0 && scratch->id)
        return scratch;
    snprintf(err, n,
             "no maintenance visit of %s under way or ended in the last 24 h: a visit begins when the car enters "
             "inspection mode",
             d->id);
    return NULL;
}
