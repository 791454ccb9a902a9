/* engine: one rules_device per configured device, indexed like config->devices. */
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "workorder.h"

struct engine {
    const struct config *cfg;
    int n;
    struct rules_device **dev; /* by device->index */
    uint64_t gen_extra;        /* restores and removals, which no device counts */
};

struct engine *engine_new(const struct config *cfg, const struct rules_options *opt, int64_t now_ms, struct diag *err)
{
    struct engine *e = calloc(1, sizeof *e);
    if (!e) {
        diag_set(err, "rules: out of memory");
        return NULL;
    }
    e->cfg = cfg;
    e->n = cfg->ndevices;
    e->dev = calloc((size_t)(e->n ? e->n : 1), sizeof *e->dev);
    if (!e->dev) {
        diag_set(err, "rules: out of memory");
        engine_free(e);
        return NULL;
    }
    for (int i = 0; i < e->n; i++) {
        const struct device *d = cfg->devices[i];
        if (!d->profile)
            continue;
        double params[MAX_PARAMS];
        device_params(d, params);
        e->dev[i] = rules_device_new(d->profile, d->id, params, alert_contract_for(cfg, d), opt, now_ms, err);
        if (!e->dev[i]) {
            engine_free(e);
            return NULL;
        }
    }
    return e;
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    for (int i = 0; e->dev && i < e->n; i++)
        rules_device_free(e->dev[i]);
    free(e->dev);
    free(e);
}

/* A device's inputs from the current values of the devices that feed them. */
static void fill_inputs(struct engine *e, int i)
{
    const struct device *dv = e->cfg->devices[i];
    int n = dv->profile ? dv->profile->ninputs : 0;
    if (n == 0)
        return;
    double v[MAX_INPUTS];
    for (int k = 0; k < n; k++) {
        const struct input_bind *b = &dv->inputs[k];
        v[k] = b->bound && b->device >= 0 && b->device < e->n && e->dev[b->device]
                   ? rules_value(e->dev[b->device], b->point)
                   : NAN;
    }
    rules_set_inputs(e->dev[i], v, n);
}

void engine_handle(struct engine *e, const struct msg *m, const struct alert_sink *sink)
{
    if (m->device < 0 || m->device >= e->n || !e->dev[m->device])
        return;
    struct rules_device *d = e->dev[m->device];
    switch (m->kind) {
    case MSG_READING:
        fill_inputs(e, m->device);
        rules_feed(d, m->ts_ms, m->values, m->quality, m->npoints, sink);
        break;
    case MSG_DEVICE_OFFLINE:
        rules_offline(d, m->ts_ms, sink);
        break;
    case MSG_DEVICE_ONLINE:
        rules_online(d, m->ts_ms, sink);
        break;
    default:
        break;
    }
}

void engine_tick(struct engine *e, int64_t now_ms, const struct alert_sink *sink)
{
    for (int i = 0; i < e->n; i++) {
        if (e->dev[i]) {
            fill_inputs(e, i);
            rules_tick(e->dev[i], now_ms, sink);
        }
    }
}

int engine_shift(struct engine *e, const struct timebase_step *st)
{
    int changed = 0;
    for (int i = 0; i < e->n; i++)
        if (e->dev[i])
            changed += rules_shift(e->dev[i], st);
    return changed;
}

int engine_stage(struct engine *e, const char *alert_id, enum stage stage, const char *by, const char *name,
                 const char *note, int64_t now_ms, const struct alert_sink *sink)
{
    for (int i = 0; i < e->n; i++) {
        if (!e->dev[i])
            continue;
        int rc = rules_stage(e->dev[i], alert_id, stage, by, name, note, now_ms, sink);
        if (rc >= 0)
            return rc;
    }
    return -1;
}

const struct device *engine_alert_device(const struct engine *e, const char *alert_id)
{
    for (int i = 0; i < e->n; i++)
        if (e->dev[i] && rules_holds(e->dev[i], alert_id))
            return e->cfg->devices[i];
    return NULL;
}

int engine_alert(const struct engine *e, const char *alert_id, struct alert *out)
{
    for (int i = 0; i < e->n; i++)
        if (e->dev[i] && rules_get(e->dev[i], alert_id, out))
            return 0;
    return -1;
}

int engine_active(const struct engine *e, struct alert *out, int max)
{
    int total = 0;
    for (int i = 0; i < e->n; i++) {
        if (!e->dev[i])
            continue;
        int room = max - total > 0 ? max - total : 0;
        total += rules_active(e->dev[i], out ? out + (total < max ? total : max) : NULL, room);
    }
    return total;
}

int engine_restore(struct engine *e, const struct alert *a, int n, int64_t now_ms, const struct alert_sink *sink)
{
    int placed = 0;
    for (int k = 0; k < n; k++) {
        int rc = -1;
        for (int i = 0; i < e->n && rc < 0; i++)
            if (e->dev[i] && strcmp(e->cfg->devices[i]->id, a[k].device) == 0)
                rc = rules_restore(e->dev[i], &a[k]);
        if (rc == 0) {
            placed++;
            continue;
        }
        /* Its device or rule is gone from the config or profile: close it, so no consumer keeps
         * an alert open that nothing will ever clear. */
        e->gen_extra++;
        if (sink && sink->emit) {
            struct alert_event ev = {ALERT_CLEARED, now_ms, a[k]};
            ev.alert.cleared_ts = now_ms;
            workorder_close(&ev.alert, now_ms);
            sink->emit(sink->ctx, &ev);
        }
    }
    return placed;
}

int engine_restore_json(struct engine *e, const cJSON *arr, int64_t now_ms, const struct alert_sink *sink, int *bad)
{
    int placed = 0;
    *bad = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, arr)
    {
        struct alert a;
        if (alert_from_json(item, &a)) {
            (*bad)++;
            continue;
        }
        placed += engine_restore(e, &a, 1, now_ms, sink);
    }
    return placed;
}

uint64_t engine_generation(const struct engine *e)
{
    uint64_t g = e->gen_extra;
    for (int i = 0; i < e->n; i++)
        if (e->dev[i])
            g += rules_generation(e->dev[i]);
    return g;
}
