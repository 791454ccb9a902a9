/* monthly_make: gathers a month's records from the store for monthly_compute and writes the
 * report with payload_monthly_report. */
#include "monthly_make.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maintenance.h"
#include "monthly.h"

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

int monthly_make(struct store *s, const struct config *cfg, const struct contract *k, const char *month,
                 int64_t now_ms, struct jbuf *out, char *err, size_t n)
{
    struct monthly_input in = {.contract = k->id, .contractor = k->contractor, .timezone = cfg->timezone,
                               .now = now_ms, .min_visit_ms = MAINTENANCE_MIN_MS};
    if (monthly_bounds(month, &in.from, &in.to) < 0) {
        snprintf(err, n, "month: \"%s\" is not a month (expected YYYY-MM, as \"2026-11\")", month);
        return -1;
    }
    if (in.to > now_ms) {
        snprintf(err, n, "month: %s has not ended (local time, %s): its report comes at its end", month,
                 cfg->timezone);
        return -1;
    }
    if (in.to < now_ms - (int64_t)STORE_HISTORY_DAYS * 86400000) {
        snprintf(err, n, "month: %s is older than the %d days the store keeps for reports", month,
                 STORE_HISTORY_DAYS);
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
            devs[in.ndevices++] = (struct monthly_device){d->id, d->location, d->profile ? d->profile->kind : ""};
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
