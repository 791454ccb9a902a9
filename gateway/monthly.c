/* monthly: a contract's month made of the store's records. Nothing here reads a clock or the
 * store: the same records give the same report, whenever and however often it is made. */
#include "monthly.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const monthly_stage_names[MONTHLY_STAGES] = {"ack", "on_site", "resolve"};

int monthly_bounds(const char *month, int64_t *from, int64_t *to)
{
    /* Digits only: %d alone would take "2026-+1" or "2026- 1" for January, under that label. */
    if (!month || strlen(month) != 7 || month[4] != '-')
        return -1;
    for (int i = 0; i < 7; i++)
        if (i != 4 && (month[i] < '0' || month[i] > '9'))
            return -1;
    int y = atoi(month), m = atoi(month + 5);
    if (y < 1970 || m < 1 || m > 12)
        return -1;
    struct tm a = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = 1, .tm_isdst = -1};
    struct tm b = {.tm_year = y - 1900, .tm_mon = m, .tm_mday = 1, .tm_isdst = -1}; /* mktime wraps month 12 */
    time_t ta = mktime(&a), tb = mktime(&b);
    if (ta == (time_t)-1 || tb == (time_t)-1)
        return -1;
    *from = (int64_t)ta * 1000;
    *to = (int64_t)tb * 1000;
    return 0;
}

void monthly_name(int64_t ts, char *out, size_t n)
{
    time_t t = (time_t)(ts >= 0 ? ts / 1000 : (ts - 999) / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, n, "%Y-%m", &tm);
}

int64_t monthly_previous(int64_t ts, char *month, size_t n)
{
    int64_t from, to;
    monthly_name(ts, month, n);
    if (monthly_bounds(month, &from, &to) < 0)
        return 0;
    monthly_name(from - 1, month, n);
    return monthly_bounds(month, &from, &to) < 0 ? 0 : from;
}

/* A time member: a number > 0, else 0 (absent, null, 0). */
static int64_t ts_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (int64_t)v->valuedouble : 0;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
}

/* One stage of an alert: whether the record has it, when due and when done (0: not). met:
 * 1 true, 0 false, -1 absent or null. */
struct stage_view {
    int present;
    int64_t due, done;
    int met;
};

static struct stage_view stage_of(const cJSON *a, int k)
{
    struct stage_view v = {0, 0, 0, -1};
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(a, "stages");
    const cJSON *s = cJSON_IsObject(stages) ? cJSON_GetObjectItemCaseSensitive(stages, monthly_stage_names[k]) : NULL;
    if (cJSON_IsObject(s)) {
        const cJSON *met = cJSON_GetObjectItemCaseSensitive(s, "met");
        v = (struct stage_view){1, ts_of(s, "due_ts"), ts_of(s, "ts"), cJSON_IsBool(met) ? cJSON_IsTrue(met) : -1};
    } else if (!cJSON_IsObject(stages) && k == 0) { /* a record from before stages: the ack */
        v = (struct stage_view){1, ts_of(a, "respond_by_ts"), ts_of(a, "acked_ts"), -1};
    }
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n) and gives its median (the mean of the middle two for an even n) and worst. */
static void median_worst(double *v, int n, double *median, double *worst)
{
    if (n == 0) {
        *median = *worst = NAN;
        return;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    *worst = v[n - 1];
}

static void count_rule(struct monthly_report *r, const char *rule, const char *sev)
{
    for (int i = 0; i < r->ncounts; i++) {
        if (!strcmp(r->counts[i].rule, rule) && !strcmp(r->counts[i].severity, sev)) {
            r->counts[i].count++;
            return;
        }
    }
    struct monthly_count *c = &r->counts[r->ncounts++];
    snprintf(c->rule, sizeof c->rule, "%s", rule);
    snprintf(c->severity, sizeof c->severity, "%s", sev);
    c->count = 1;
}

static int cmp_count(const void *a, const void *b)
{
    const struct monthly_count *x = a, *y = b;
    int c = strcmp(x->rule, y->rule);
    return c ? c : alert_severity_parse(x->severity) - alert_severity_parse(y->severity);
}

static void count_escalations(struct monthly_report *r, const cJSON *a)
{
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(a, "escalated_to");
    if (cJSON_IsArray(to)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, to)
        {
            const cJSON *lv = cJSON_GetObjectItemCaseSensitive(e, "level");
            if (cJSON_IsNumber(lv) && lv->valueint >= 1 && lv->valueint <= MONTHLY_LEVELS_MAX)
                r->escalations[lv->valueint]++;
        }
        return;
    }
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "escalation");
    for (int l = 1; cJSON_IsNumber(n) && l <= n->valueint && l <= MONTHLY_LEVELS_MAX; l++)
        r->escalations[l]++;
}

static int device_index(const struct monthly_input *in, const char *id)
{
    for (int i = 0; i < in->ndevices; i++)
        if (!strcmp(in->devices[i].id, id))
            return i;
    return -1;
}

/* Days of maintenance_overdue within the month, added to its device. */
static void overdue(struct monthly_report *r, const cJSON *a, int dev)
{
    const struct monthly_input *in = r->in;
    int64_t from = ts_of(a, "raised_ts"), to = ts_of(a, "cleared_ts");
    if (!to || to > in->to)
        to = in->to < in->now ? in->to : in->now;
    if (from < in->from)
        from = in->from;
    if (dev >= 0 && to > from)
        r->devices[dev].overdue_days += (double)(to - from) / 86400000.0;
}

static void incident(struct monthly_report *r, const cJSON *a, const struct stage_view *sv, int64_t cleared)
{
    struct monthly_incident *x = &r->incidents[r->nincidents++];
    snprintf(x->id, sizeof x->id, "%s", str_of(a, "id"));
    snprintf(x->device, sizeof x->device, "%s", str_of(a, "device"));
    x->raised = ts_of(a, "raised_ts");
    x->acknowledged = sv[0].done;
    x->on_site = sv[1].present ? sv[1].done : 0;
    x->resolved = sv[2].present ? sv[2].done : cleared;
}

/* One alert raised in the month: its rule, stages, outcome, escalations. */
static void take_alert(struct monthly_report *r, const cJSON *a, double *elapsed[MONTHLY_STAGES])
{
    const struct monthly_input *in = r->in;
    int64_t raised = ts_of(a, "raised_ts"), cleared = ts_of(a, "cleared_ts");
    int64_t horizon = in->to < in->now ? in->to : in->now;
    r->alerts++;
    count_rule(r, str_of(a, "rule"), str_of(a, "severity"));
    struct stage_view sv[MONTHLY_STAGES];
    for (int k = 0; k < MONTHLY_STAGES; k++) {
        sv[k] = stage_of(a, k);
        if (!sv[k].present)
            continue;
        struct monthly_stage *st = &r->stages[k];
        if (sv[k].done) {
            bool ok = sv[k].met >= 0 ? sv[k].met == 1 : !sv[k].due || sv[k].done <= sv[k].due;
            ok ? st->on_time++ : st->late++;
            elapsed[k][st->done++] = (double)(sv[k].done - raised) / 1000.0;
            continue;
        }
        int64_t end = cleared && cleared < horizon ? cleared : horizon;
        if (sv[k].due && sv[k].due < end)
            st->late++;
        else if (!cleared || cleared >= horizon)
            st->open++;
    }
    const cJSON *outcome = cJSON_GetObjectItemCaseSensitive(a, "outcome");
    if (cJSON_IsString(outcome)) {
        r->self_cleared += !strcmp(outcome->valuestring, "self_cleared");
        r->resolved += !strcmp(outcome->valuestring, "resolved");
    } else if (!cJSON_GetObjectItemCaseSensitive(a, "stages") && cleared) {
        /* before outcomes were kept: cleared unacknowledged is cleared by itself */
        sv[0].done ? r->resolved++ : r->self_cleared++;
    }
    count_escalations(r, a);
    if (!strcmp(str_of(a, "rule"), MONTHLY_TRAPPED_RULE))
        incident(r, a, sv, cleared);
}

static void take_days(struct monthly_report *r, double *due)
{
    const struct monthly_input *in = r->in;
    for (int i = 0; i < in->ndays; i++) {
        const struct store_device_day *d = &in->days[i];
        int k = device_index(in, d->device);
        if (k < 0 || d->day_start < in->from || d->day_start >= in->to)
            continue;
        struct monthly_device_figures *f = &r->devices[k];
        f->up_ms += d->up_ms;
        f->online_ms += d->online_ms;
        due[k] += d->polls_due;
        f->polls_ok += d->polls_ok;
    }
    double month = (double)(in->to - in->from);
    for (int k = 0; k < r->ndevices; k++) {
        struct monthly_device_figures *f = &r->devices[k];
        f->polls_due = llround(due[k]); /* time run over the interval: whole polls, nearest */
        f->availability = month > 0 ? (double)f->online_ms / month : NAN;
        f->up_share = month > 0 ? (double)f->up_ms / month : NAN;
        f->completeness = f->polls_due > 0 ? fmin(1.0, (double)f->polls_ok / (double)f->polls_due) : NAN;
    }
}

static void take_visits(struct monthly_report *r)
{
    const struct monthly_input *in = r->in;
    for (int i = 0; i < in->nvisits; i++) {
        const struct store_visit *v = &in->visits[i];
        int k = device_index(in, v->device);
        if (k < 0 || v->start_ts < in->from || v->start_ts >= in->to)
            continue;
        struct monthly_device_figures *f = &r->devices[k];
        r->visits[r->nvisits++] = v;
        f->visits++;
        if (strcmp(v->kind, "maintenance") != 0)
            continue;
        f->maintenance_visits++;
        if (v->end_ts > v->start_ts) {
            f->maintenance_minutes += (double)(v->end_ts - v->start_ts) / 60000.0;
            f->maintenance_long += v->end_ts - v->start_ts >= in->min_visit_ms;
        }
    }
}

int monthly_compute(const struct monthly_input *in, struct monthly_report *r)
{
    memset(r, 0, sizeof *r);
    r->in = in;
    int na = cJSON_GetArraySize(in->alerts);
    size_t slots = (size_t)(na ? na : 1);
    r->counts = calloc(slots, sizeof *r->counts);
    r->incidents = calloc(slots, sizeof *r->incidents);
    r->devices = calloc((size_t)in->ndevices + 1, sizeof *r->devices);
    r->visits = calloc((size_t)in->nvisits + 1, sizeof *r->visits);
    double *elapsed[MONTHLY_STAGES] = {0};
    double *due = calloc((size_t)in->ndevices + 1, sizeof *due); /* each device's, summed unrounded */
    int oom = !r->counts || !r->incidents || !r->devices || !r->visits || !due;
    for (int k = 0; k < MONTHLY_STAGES; k++)
        oom |= !(elapsed[k] = calloc(slots, sizeof(double)));
    if (!oom) {
        r->ndevices = in->ndevices;
        for (int k = 0; k < in->ndevices; k++)
            r->devices[k].dev = &in->devices[k];
        const cJSON *a;
        cJSON_ArrayForEach(a, in->alerts)
        {
            if (strcmp(str_of(a, "contract"), in->contract) != 0)
                continue;
            if (!strcmp(str_of(a, "rule"), MONTHLY_MAINTENANCE_RULE))
                overdue(r, a, device_index(in, str_of(a, "device")));
            int64_t raised = ts_of(a, "raised_ts");
            if (raised >= in->from && raised < in->to)
                take_alert(r, a, elapsed);
        }
        qsort(r->counts, (size_t)r->ncounts, sizeof *r->counts, cmp_count);
        for (int k = 0; k < MONTHLY_STAGES; k++)
            median_worst(elapsed[k], r->stages[k].done, &r->stages[k].median_s, &r->stages[k].worst_s);
        for (int l = 1; l <= MONTHLY_LEVELS_MAX; l++)
            if (r->escalations[l])
                r->max_level = l;
        take_days(r, due);
        take_visits(r);
    }
    for (int k = 0; k < MONTHLY_STAGES; k++)
        free(elapsed[k]);
    free(due);
    if (oom) {
        monthly_free(r);
        return -1;
    }
    return 0;
}

void monthly_free(struct monthly_report *r)
{
    free(r->counts);
    free(r->incidents);
    free(r->devices);
    free(r->visits);
    memset(r, 0, sizeof *r);
}
