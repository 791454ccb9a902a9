/* maintenance: each elevator's visit under way, the start of its interval, and its
 * maintenance_overdue alert while active. */
#include "maintenance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timebase.h"
#include "workorder.h"

struct watch {
    const struct device *dev;
    bool elevator;
    int days;
    int64_t since; /* the interval runs from here; 0 until the store told */
    bool open;
    struct store_visit visit;
    bool active;
    struct alert overdue;
};

struct maintenance {
    const struct config *cfg;
    int n;
    struct watch *w;
    uint64_t gen;
};

/* The device's own param when its config sets it, else the contract's, else the profile's. */
static int days_of(const struct config *cfg, const struct device *d)
{
    for (int i = 0; i < d->nparams; i++)
        if (!strcmp(d->params[i].name, "maintenance_days") && d->params[i].value >= 1)
            return (int)d->params[i].value;
    const struct contract *k = alert_contract_for(cfg, d);
    if (k && k->maintenance_days > 0)
        return k->maintenance_days;
    double v;
    if (device_param(d, "maintenance_days", &v) == 0 && v >= 1)
        return (int)v;
    return MAINTENANCE_DAYS_DEFAULT;
}

struct maintenance *maintenance_new(const struct config *cfg)
{
    struct maintenance *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cfg = cfg;
    m->n = cfg->ndevices;
    m->w = calloc((size_t)m->n + 1, sizeof *m->w);
    if (!m->w) {
        free(m);
        return NULL;
    }
    for (int i = 0; i < m->n; i++) {
        const struct device *d = cfg->devices[i];
        m->w[i].dev = d;
        m->w[i].elevator = d->profile && !strncmp(d->profile->kind, "elevator", 8) &&
                           (d->profile->kind[8] == '\0' || d->profile->kind[8] == '.');
        m->w[i].days = days_of(cfg, d);
    }
    return m;
}

void maintenance_free(struct maintenance *m)
{
    if (!m)
        return;
    free(m->w);
    free(m);
}

static struct watch *watch_of(const struct maintenance *m, int device)
{
    return device >= 0 && device < m->n && m->w[device].elevator ? &m->w[device] : NULL;
}

bool maintenance_watched(const struct maintenance *m, int device)
{
    return watch_of(m, device) != NULL;
}

int maintenance_days(const struct maintenance *m, int device)
{
    const struct watch *w = watch_of(m, device);
    return w ? w->days : 0;
}

void maintenance_set_since(struct maintenance *m, int device, int64_t since)
{
    struct watch *w = watch_of(m, device);
    if (w && since > w->since)
        w->since = since;
}

static struct watch *watch_named(struct maintenance *m, const char *id)
{
    for (int i = 0; i < m->n; i++)
        if (m->w[i].elevator && !strcmp(m->w[i].dev->id, id))
            return &m->w[i];
    return NULL;
}

void maintenance_restore_visit(struct maintenance *m, const struct store_visit *v)
{
    struct watch *w = watch_named(m, v->device);
    if (!w || v->end_ts || strcmp(v->kind, "maintenance") != 0)
        return;
    w->visit = *v;
    w->open = true;
}

int maintenance_restore_alert(struct maintenance *m, const struct alert *a)
{
    if (strcmp(a->rule, MAINTENANCE_RULE) != 0)
        return -1;
    struct watch *w = watch_named(m, a->device);
    if (!w)
        return -1; /* its elevator is gone: left to the engine, which clears it as of no device */
    w->overdue = *a;
    w->active = true;
    m->gen++;
    return 0;
}

void maintenance_take_saved(struct maintenance *m, cJSON *saved)
{
    cJSON *o = saved->child;
    while (o) {
        cJSON *next = o->next;
        struct alert a;
        const cJSON *rule = cJSON_GetObjectItemCaseSensitive(o, "rule");
        if (cJSON_IsString(rule) && !strcmp(rule->valuestring, MAINTENANCE_RULE) && alert_from_json(o, &a) == 0 &&
            maintenance_restore_alert(m, &a) == 0)
            cJSON_Delete(cJSON_DetachItemViaPointer(saved, o));
        o = next;
    }
}

struct store_visit *maintenance_visit_start(struct maintenance *m, int device, int64_t ts)
{
    struct watch *w = watch_of(m, device);
    if (!w)
        return NULL;
    if (w->open && w->visit.start_ts <= ts)
        return &w->visit; /* a start seen again (after a restart in inspection): the same visit */
    memset(&w->visit, 0, sizeof w->visit);
    snprintf(w->visit.device, sizeof w->visit.device, "%s", w->dev->id);
    snprintf(w->visit.kind, sizeof w->visit.kind, "maintenance");
    w->visit.start_ts = ts;
    w->open = true;
    return &w->visit;
}

struct store_visit *maintenance_open_visit(struct maintenance *m, int device)
{
    struct watch *w = watch_of(m, device);
    return w && w->open ? &w->visit : NULL;
}

static void emit(struct maintenance *m, struct watch *w, enum alert_event_kind kind, int64_t ts,
                 const struct alert_sink *sink)
{
    struct alert_event ev = {.kind = kind, .ts = ts, .alert = w->overdue};
    m->gen++;
    if (sink)
        sink->emit(sink->ctx, &ev);
}

struct store_visit *maintenance_visit_end(struct maintenance *m, int device, int64_t ts, const struct alert_sink *sink)
{
    struct watch *w = watch_of(m, device);
    if (!w || !w->open)
        return NULL;
    w->open = false;
    w->visit.end_ts = ts > w->visit.start_ts ? ts : w->visit.start_ts;
    if (w->visit.end_ts - w->visit.start_ts >= MAINTENANCE_MIN_MS) {
        if (w->visit.end_ts > w->since)
            w->since = w->visit.end_ts;
        if (w->active) {
            /* The visit is the work the overdue alert asked for: on site at its start, resolved
             * at its end, by whoever announced it. */
            struct alert *a = &w->overdue;
            if (workorder_stage(a, STAGE_ON_SITE, w->visit.by, w->visit.name, "", w->visit.start_ts) == 0)
                emit(m, w, ALERT_ON_SITE, w->visit.start_ts, sink);
            if (workorder_stage(a, STAGE_RESOLVE, w->visit.by, w->visit.name, w->visit.note, w->visit.end_ts) == 0)
                emit(m, w, ALERT_RESOLVED, w->visit.end_ts, sink);
            w->active = false;
            a->cleared_ts = ts;
            workorder_close(a, ts);
            emit(m, w, ALERT_CLEARED, ts, sink);
        }
    }
    return &w->visit;
}

static struct watch *active_with_id(const struct maintenance *m, const char *alert_id)
{
    for (int i = 0; i < m->n; i++)
        if (m->w[i].active && !strcmp(m->w[i].overdue.id, alert_id))
            return &m->w[i];
    return NULL;
}

const struct device *maintenance_alert_device(const struct maintenance *m, const char *alert_id)
{
    const struct watch *w = active_with_id(m, alert_id);
    return w ? w->dev : NULL;
}

int maintenance_stage(struct maintenance *m, const char *alert_id, enum stage stage, const char *by, const char *name,
                      const char *note, int64_t now_ms, const struct alert_sink *sink)
{
    struct watch *w = active_with_id(m, alert_id);
    if (!w)
        return -1;
    int rc = workorder_stage(&w->overdue, stage, by, name, note, now_ms);
    if (rc == 0)
        emit(m, w, workorder_event_of(stage), now_ms, sink);
    return rc;
}

static void raise_overdue(struct maintenance *m, struct watch *w, int64_t now, const struct alert_sink *sink)
{
    struct alert *a = &w->overdue;
    memset(a, 0, sizeof *a);
    snprintf(a->device, sizeof a->device, "%s", w->dev->id);
    snprintf(a->rule, sizeof a->rule, "%s", MAINTENANCE_RULE);
    snprintf(a->id, sizeof a->id, "%s:%s:%lld", a->device, a->rule, (long long)now);
    a->severity = SEV_MAJOR;
    a->value = NAN;
    a->raised_ts = now;
    snprintf(a->message_zh, sizeof a->message_zh, "超过 %d 天未维保（检修模式不少于 %d 分钟）", w->days,
             MAINTENANCE_MIN_MS / 60000);
    snprintf(a->message_en, sizeof a->message_en,
             "No maintenance visit (inspection mode for %d min or more) in %d days", MAINTENANCE_MIN_MS / 60000,
             w->days);
    const struct contract *k = alert_contract_for(m->cfg, w->dev);
    if (k) {
        snprintf(a->contract, sizeof a->contract, "%s", k->id);
        snprintf(a->contractor, sizeof a->contractor, "%s", k->contractor);
    }
    workorder_open(a, k);
    w->active = true;
    emit(m, w, ALERT_RAISED, now, sink);
}

int maintenance_shift(struct maintenance *m, const struct timebase_step *st)
{
    int changed = 0;
    for (int i = 0; i < m->n; i++) {
        struct watch *w = &m->w[i];
        w->since = timebase_correct(st, w->since);
        if (w->open)
            w->visit.start_ts = timebase_correct(st, w->visit.start_ts);
        if (w->active && alert_shift(&w->overdue, st))
            changed++;
    }
    if (changed)
        m->gen++;
    return changed;
}

void maintenance_tick(struct maintenance *m, int64_t now_ms, const struct alert_sink *sink)
{
    for (int i = 0; i < m->n; i++) {
        struct watch *w = &m->w[i];
        if (w->elevator && w->since && !w->active && now_ms - w->since >= (int64_t)w->days * 86400000)
            raise_overdue(m, w, now_ms, sink);
        else if (w->active && workorder_escalate(&w->overdue, alert_contract_for(m->cfg, w->dev), now_ms,
                                                 (int64_t)m->cfg->alerts.escalate_every_s * 1000))
            emit(m, w, ALERT_ESCALATED, now_ms, sink);
    }
}

int maintenance_active(const struct maintenance *m, struct alert *out, int max)
{
    int n = 0;
    for (int i = 0; i < m->n; i++) {
        if (!m->w[i].active)
            continue;
        if (n < max)
            out[n] = m->w[i].overdue;
        n++;
    }
    return n;
}

uint64_t maintenance_generation(const struct maintenance *m)
{
    return m->gen;
}
