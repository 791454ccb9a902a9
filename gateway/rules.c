/* rules: a profile's compiled rules run per device — timers, suppression, escalation, flapping
 * and the alert records. See rules.h for the life cycle; compiling is rules_compile.c.
 * Invariant: a rule instance holds at most one active alert; an active alert leaves only by
 * one ALERT_CLEARED event; nothing here raises an alert from an unknown value. */
#include "rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "timebase.h"
#include "workorder.h"

#define FLAP_RING 16

/* ---- messages ---------------------------------------------------------------------------- */

/* Appends s, cutting at a UTF-8 character boundary when out is full. */
static void append(char *out, size_t n, size_t *used, const char *s)
{
    size_t len = strlen(s);
    if (*used + len >= n) {
        len = n - 1 - *used;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(out + *used, s, len);
    *used += len;
    out[*used] = '\0';
}

static void format_value(double v, char *buf, size_t n)
{
    if (v != v)
        snprintf(buf, n, "?");
    else
        snprintf(buf, n, "%.6g", v);
}

void rules_render(const struct profile *p, const struct rule_set *rs, const char *tmpl, const double *values,
                  const double *params, bool en, char *out, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    const char *s = tmpl;
    while (*s && used + 1 < n) {
        const char *open = strchr(s, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            append(out, n, &used, s);
            return;
        }
        char lit[TEXT_MAX_LEN * 2];
        size_t ln = (size_t)(open - s) < sizeof lit - 1 ? (size_t)(open - s) : sizeof lit - 1;
        memcpy(lit, s, ln);
        lit[ln] = '\0';
        append(out, n, &used, lit);
        char name[NAME_MAX_LEN + 16];
        size_t nn = (size_t)(close - open - 1) < sizeof name - 1 ? (size_t)(close - open - 1) : sizeof name - 1;
        memcpy(name, open + 1, nn);
        name[nn] = '\0';
        char buf[TEXT_MAX_LEN];
        snprintf(buf, sizeof buf, "?");
        if (strncmp(name, "params.", 7) == 0) {
            for (int i = 0; i < p->nparams; i++)
                if (strcmp(p->params[i].name, name + 7) == 0)
                    format_value(params ? params[i] : p->params[i].value, buf, sizeof buf);
        } else if (nn > 5 && strcmp(name + nn - 5, ".text") == 0) {
            name[nn - 5] = '\0';
            int k = profile_point_index(p, name);
            double v = k >= 0 && values ? values[k] : NAN;
            const char *t = v == v && fabs(v) < 9e15 ? rules_code_text(rs, name, (int64_t)v, en) : NULL;
            if (t)
                snprintf(buf, sizeof buf, "%s", t);
            else
                format_value(v, buf, sizeof buf);
        } else {
            int k = profile_point_index(p, name);
            format_value(k >= 0 && values ? values[k] : NAN, buf, sizeof buf);
        }
        append(out, n, &used, buf);
        s = close + 1;
    }
}

/* ---- instances on a device ------------------------------------------------------------------ */

enum rstate { RS_IDLE, RS_PENDING, RS_ACTIVE };

/* Window series of one expression, bound to the device's history. */
struct bound {
    int series[EXPR_MAX_WINDOWS];
};

struct rinst {
    const struct rule_def *def; /* NULL: the built-in communication-lost rule */
    int64_t for_ms, clear_for_ms;
    struct bound when, clear, suppress;
    bool stale_driven; /* some expression uses stale(): evaluated on ticks too */
    enum rstate st;
    int64_t pending_since;
    int true_count;
    int64_t clear_since; /* -1: the clear condition is not (known) true */
    bool armed;          /* event rules: seen false since the last firing */
    int64_t within_ms;
    int64_t occ[RULES_TIMES_MAX]; /* times the condition held its on-delay, oldest first */
    int nocc;
    bool counted; /* the condition's present spell is already in occ */
    bool suppressed;
    struct alert a;
    int64_t raises[FLAP_RING]; /* raise times, newest at raises_head */
    int raises_head, nraises;
};

struct rules_device {
    const struct profile *p;
    const struct rule_set *rs;
    char id[NAME_MAX_LEN];
    double params[MAX_PARAMS];
    const struct contract *k;
    struct rules_options opt;
    struct history *hist;
    int npoints;
    double values[MAX_POINTS + MAX_INPUTS]; /* current sample, then the inputs; NaN unknown */
    int64_t last_reading_ms;
    int64_t start_ms;
    bool offline;
    int ninst;
    struct rinst *inst; /* rules in profile order, then comm_lost */
    uint64_t gen;
};

void rules_options_default(struct rules_options *o)
{
    o->escalate_every_ms = (int64_t)RULES_DEFAULT_ESCALATE_EVERY_S * 1000;
    o->flap_max = RULES_DEFAULT_FLAP_MAX;
    o->flap_window_ms = (int64_t)RULES_DEFAULT_FLAP_WINDOW_S * 1000;
    o->flap_hold_ms = (int64_t)RULES_DEFAULT_FLAP_HOLD_S * 1000;
    o->comm_lost_ms = (int64_t)RULES_DEFAULT_COMM_LOST_S * 1000;
}

static int collect_specs(const struct expr *e, const int64_t *win, struct history_spec *specs, int n)
{
    for (int k = 0; k < e->nwin; k++)
        specs[n++] = (struct history_spec){e->win[k].point, win[k], e->win[k].daily};
    return n;
}

static int bind_expr(struct rules_device *d, const struct expr *e, struct bound *b, struct history_spec *specs,
                     int *nspecs, bool collect, const char *rule, const char *what, struct diag *err)
{
    int64_t win[EXPR_MAX_WINDOWS];
    int bad;
    if (expr_windows(e, d->params, win, &bad)) {
        diag_set(err,
                 "device %s: rule %s: %s: window of history function %d is not 0 < seconds <= %.0f with this "
                 "device's params",
                 d->id, rule, what, bad + 1, RULES_MAX_DURATION_S);
        return -1;
    }
    if (collect) {
        *nspecs = collect_specs(e, win, specs, *nspecs);
        return 0;
    }
    for (int k = 0; k < e->nwin; k++)
        b->series[k] = history_series_of(d->hist, e->win[k].point, win[k], e->win[k].daily);
    return 0;
}

static int duration_ms(struct rules_device *d, const struct expr *e, const char *rule, const char *what, int64_t *out,
                       struct diag *err)
{
    double s = expr_eval_const(e, d->params);
    if (!(s >= 0 && s <= RULES_MAX_DURATION_S)) {
        diag_set(err, "device %s: rule %s: %s is %.15g with this device's params (expected 0 to %.0f seconds)", d->id,
                 rule, what, s, RULES_MAX_DURATION_S);
        return -1;
    }
    *out = (int64_t)llround(s * 1000.0);
    return 0;
}

/* Two passes over the rules: the first collects the (point, window) pairs so the history is
 * sized once, the second binds each window to its series. */
static int bind_all(struct rules_device *d, bool collect, struct history_spec *specs, int *nspecs, struct diag *err)
{
    for (int i = 0; d->rs && i < d->rs->nrules; i++) {
        const struct rule_def *r = &d->rs->rules[i];
        struct rinst *in = &d->inst[i];
        if (bind_expr(d, &r->when, &in->when, specs, nspecs, collect, r->id, "when", err) ||
            bind_expr(d, &r->clear, &in->clear, specs, nspecs, collect, r->id, "clear", err) ||
            bind_expr(d, &r->suppress, &in->suppress, specs, nspecs, collect, r->id, "suppress", err))
            return -1;
    }
    return 0;
}

static void init_alert_base(struct rinst *in)
{
    memset(&in->a, 0, sizeof in->a);
    in->a.value = NAN;
}

struct rules_device *rules_device_new(const struct profile *p, const char *device_id, const double *params,
                                      const struct contract *k, const struct rules_options *opt, int64_t start_ms,
                                      struct diag *err)
{
    struct rules_device *d = calloc(1, sizeof *d);
    if (!d) {
        diag_set(err, "device %s: out of memory", device_id);
        return NULL;
    }
    d->p = p;
    d->rs = p->ruleset;
    snprintf(d->id, sizeof d->id, "%s", device_id);
    for (int i = 0; i < p->nparams; i++)
        d->params[i] = params ? params[i] : p->params[i].value;
    d->k = k;
    if (opt)
        d->opt = *opt;
    else
        rules_options_default(&d->opt);
    if (d->opt.flap_max >= FLAP_RING)
        d->opt.flap_max = FLAP_RING - 1;
    d->npoints = p->npoints;
    for (int i = 0; i < MAX_POINTS + MAX_INPUTS; i++)
        d->values[i] = NAN;
    d->start_ms = start_ms;
    int nrules = d->rs ? d->rs->nrules : 0;
    d->ninst = nrules + 1;
    d->inst = calloc((size_t)d->ninst, sizeof *d->inst);
    int cap = nrules * 3 * EXPR_MAX_WINDOWS + 1;
    struct history_spec *specs = calloc((size_t)cap, sizeof *specs);
    int nspecs = 0;
    if (!d->inst || !specs) {
        free(specs);
        diag_set(err, "device %s: out of memory", device_id);
        rules_device_free(d);
        return NULL;
    }
    if (bind_all(d, true, specs, &nspecs, err)) {
        free(specs);
        rules_device_free(d);
        return NULL;
    }
    d->hist = history_new(p->npoints + p->ninputs, specs, nspecs, start_ms);
    free(specs);
    if (!d->hist) {
        diag_set(err, "device %s: out of memory", device_id);
        rules_device_free(d);
        return NULL;
    }
    bind_all(d, false, NULL, NULL, err);
    for (int i = 0; i < nrules; i++) {
        const struct rule_def *r = &d->rs->rules[i];
        struct rinst *in = &d->inst[i];
        in->def = r;
        in->stale_driven = r->when.uses_stale || r->clear.uses_stale || r->suppress.uses_stale;
        if (duration_ms(d, &r->for_s, r->id, "for_s", &in->for_ms, err) ||
            duration_ms(d, &r->clear_for_s, r->id, "clear_for_s", &in->clear_for_ms, err) ||
            duration_ms(d, &r->within_s, r->id, "within_s", &in->within_ms, err)) {
            rules_device_free(d);
            return NULL;
        }
    }
    struct rinst *cl = &d->inst[nrules];
    cl->for_ms = d->opt.comm_lost_ms;
    for (int i = 0; i < p->nparams; i++)
        if (strcmp(p->params[i].name, "comm_lost_s") == 0 && d->params[i] >= 0 && d->params[i] <= RULES_MAX_DURATION_S)
            cl->for_ms = (int64_t)llround(d->params[i] * 1000.0);
    for (int i = 0; i < d->ninst; i++) {
        d->inst[i].clear_since = -1;
        init_alert_base(&d->inst[i]);
    }
    return d;
}

void rules_device_free(struct rules_device *d)
{
    if (!d)
        return;
    history_free(d->hist);
    free(d->inst);
    free(d);
}

uint64_t rules_generation(const struct rules_device *d)
{
    return d->gen;
}

static const char *rule_id(const struct rinst *in)
{
    return in->def ? in->def->id : RULES_COMM_LOST;
}

static void emit(struct rules_device *d, const struct alert_sink *sink, enum alert_event_kind kind, int64_t ts,
                 const struct alert *a)
{
    if (kind != ALERT_OCCURRED)
        d->gen++;
    if (!sink || !sink->emit)
        return;
    struct alert_event ev;
    ev.kind = kind;
    ev.ts = ts;
    ev.alert = *a;
    sink->emit(sink->ctx, &ev);
}

/* Fills the record of a new alert (or a one-shot occurrence) from the current sample. */
static void make_alert(struct rules_device *d, struct rinst *in, int64_t ts)
{
    struct alert *a = &in->a;
    init_alert_base(in);
    snprintf(a->id, sizeof a->id, "%s:%s:%lld", d->id, rule_id(in), (long long)ts);
    snprintf(a->device, sizeof a->device, "%s", d->id);
    snprintf(a->rule, sizeof a->rule, "%s", rule_id(in));
    a->raised_ts = ts;
    if (in->def) {
        a->severity = in->def->severity;
        rules_render(d->p, d->rs, in->def->message_zh, d->values, d->params, false, a->message_zh,
                     sizeof a->message_zh);
        rules_render(d->p, d->rs, in->def->message_en, d->values, d->params, true, a->message_en, sizeof a->message_en);
        int fp = in->def->when.first_point;
        if (fp >= 0 && fp < d->npoints) {
            snprintf(a->point, sizeof a->point, "%s", d->p->points[fp].name);
            a->value = d->values[fp];
        } else if (fp >= d->npoints) {
            snprintf(a->point, sizeof a->point, "inputs.%.50s", d->p->inputs[fp - d->npoints].name);
            a->value = d->values[fp];
        }
    } else {
        a->severity = SEV_MINOR;
        snprintf(a->message_zh, sizeof a->message_zh, "通讯中断");
        snprintf(a->message_en, sizeof a->message_en, "Communication lost");
    }
    if (d->k) {
        snprintf(a->contract, sizeof a->contract, "%s", d->k->id);
        snprintf(a->contractor, sizeof a->contractor, "%s", d->k->contractor);
    }
    workorder_open(a, d->k);
}

static void raise_alert(struct rules_device *d, struct rinst *in, int64_t ts, const struct alert_sink *sink)
{
    make_alert(d, in, ts);
    if (in->def && in->def->kind == RULE_EVENT) {
        in->st = RS_IDLE;
        in->armed = false;
        emit(d, sink, ALERT_OCCURRED, ts, &in->a);
        return;
    }
    in->st = RS_ACTIVE;
    in->clear_since = -1;
    in->raises_head = (in->raises_head + 1) % FLAP_RING;
    in->raises[in->raises_head] = ts;
    if (in->nraises < FLAP_RING)
        in->nraises++;
    emit(d, sink, ALERT_RAISED, ts, &in->a);
}

static int recent_raises(const struct rules_device *d, const struct rinst *in, int64_t now)
{
    int n = 0;
    for (int k = 0; k < in->nraises; k++)
        if (in->raises[(in->raises_head - k + FLAP_RING) % FLAP_RING] >= now - d->opt.flap_window_ms)
            n++;
    return n;
}

/* The clear condition has been true since clear_since: clear, or hold a flapping alert. */
static void try_clear(struct rules_device *d, struct rinst *in, int64_t now, const struct alert_sink *sink)
{
    if (now - in->clear_since < in->clear_for_ms)
        return;
    if (!in->a.flapping && in->def && recent_raises(d, in, now) > d->opt.flap_max) {
        in->a.flapping = true;
        d->gen++;
    }
    if (in->a.flapping) {
        int64_t hold = d->opt.flap_hold_ms > in->clear_for_ms ? d->opt.flap_hold_ms : in->clear_for_ms;
        if (now - in->clear_since < hold)
            return;
    }
    in->a.cleared_ts = now;
    workorder_close(&in->a, now);
    in->st = RS_IDLE;
    in->clear_since = -1;
    in->pending_since = 0;
    in->true_count = 0;
    emit(d, sink, ALERT_CLEARED, now, &in->a);
}

static void escalate(struct rules_device *d, struct rinst *in, int64_t now, const struct alert_sink *sink)
{
    if (in->st != RS_ACTIVE || in->suppressed)
        return;
    if (workorder_escalate(&in->a, d->k, now, d->opt.escalate_every_ms))
        emit(d, sink, ALERT_ESCALATED, now, &in->a);
    else if (workorder_judge(&in->a, now))
        d->gen++; /* a stage came due without an escalation (none planned): the record says so */
}

/* One evaluation of a rule: w, c, s are the truths of when, clear and suppress (-1 unknown). */
static void step(struct rules_device *d, struct rinst *in, int w, int c, int s, int64_t now,
                 const struct alert_sink *sink)
{
    in->suppressed = s == 1;
    bool event = in->def->kind == RULE_EVENT;
    if (in->st == RS_ACTIVE) {
        if (c == 1) {
            if (in->clear_since < 0)
                in->clear_since = now;
            try_clear(d, in, now, sink);
        } else {
            in->clear_since = -1;
        }
        return;
    }
    if (event && w == 0)
        in->armed = true;
    if (w != 1 || in->suppressed || (event && !in->armed)) {
        if (event && w == 1)
            in->armed = false; /* true while suppressed: this edge is spent */
        in->st = RS_IDLE;
        in->true_count = 0;
        in->counted = false;
        return;
    }
    if (in->st == RS_IDLE) {
        in->st = RS_PENDING;
        in->pending_since = now;
        in->true_count = 0;
    }
    in->true_count++;
    if (now - in->pending_since < in->for_ms || in->true_count < in->def->for_samples)
        return;
    if (in->def->times > 1) {
        /* Each spell of the condition, held its on-delay, is one occurrence; the alert waits
         * for `times` of them within within_s (a door that fails once may just be held). */
        if (!in->counted) {
            if (in->nocc == RULES_TIMES_MAX) {
                memmove(in->occ, in->occ + 1, sizeof in->occ[0] * (RULES_TIMES_MAX - 1));
                in->nocc--;
            }
            in->occ[in->nocc++] = now;
            in->counted = true;
        }
        int keep = 0;
        for (int k = 0; k < in->nocc; k++)
            if (in->occ[k] >= now - in->within_ms)
                in->occ[keep++] = in->occ[k];
        in->nocc = keep;
        if (in->nocc < in->def->times)
            return;
        in->nocc = 0;
    }
    raise_alert(d, in, now, sink);
}

static void evaluate(struct rules_device *d, struct rinst *in, int64_t now, const struct alert_sink *sink)
{
    const struct rule_def *r = in->def;
    struct expr_env env = {d->values, d->params, d->hist, in->when.series, now};
    int w = expr_truth(expr_eval(&r->when, &env));
    int c;
    if (r->has_clear) {
        env.series = in->clear.series;
        c = expr_truth(expr_eval(&r->clear, &env));
    } else {
        c = w < 0 ? -1 : !w;
    }
    int s = 0;
    if (r->has_suppress) {
        env.series = in->suppress.series;
        s = expr_truth(expr_eval(&r->suppress, &env));
    }
    step(d, in, w, c, s, now, sink);
}

static void comm_check(struct rules_device *d, int64_t now, const struct alert_sink *sink)
{
    struct rinst *cl = &d->inst[d->ninst - 1];
    if (cl->st != RS_PENDING)
        return;
    int64_t since = d->last_reading_ms ? d->last_reading_ms : d->start_ms;
    if (now - since >= cl->for_ms)
        raise_alert(d, cl, now, sink);
}

static void comm_back(struct rules_device *d, int64_t now, const struct alert_sink *sink)
{
    struct rinst *cl = &d->inst[d->ninst - 1];
    d->offline = false;
    if (cl->st == RS_PENDING) {
        cl->st = RS_IDLE;
    } else if (cl->st == RS_ACTIVE) {
        cl->clear_since = now;
        try_clear(d, cl, now, sink);
    }
}

void rules_feed(struct rules_device *d, int64_t ts_ms, const double *values, const uint8_t *quality, int npoints,
                const struct alert_sink *sink)
{
    int n = npoints < d->npoints ? npoints : d->npoints;
    for (int i = 0; i < d->npoints; i++) {
        bool ok = i < n && quality[i] == Q_OK && values[i] == values[i];
        d->values[i] = ok ? values[i] : NAN;
        if (ok)
            history_add(d->hist, i, ts_ms, values[i]);
    }
    /* The inputs as the engine set them for this sample, kept in history like points. */
    for (int k = 0; k < d->p->ninputs; k++) {
        double v = d->values[d->npoints + k];
        if (v == v)
            history_add(d->hist, d->npoints + k, ts_ms, v);
    }
    d->last_reading_ms = ts_ms;
    comm_back(d, ts_ms, sink);
    for (int i = 0; i < d->ninst - 1; i++)
        evaluate(d, &d->inst[i], ts_ms, sink);
    for (int i = 0; i < d->ninst; i++)
        escalate(d, &d->inst[i], ts_ms, sink);
}

void rules_set_inputs(struct rules_device *d, const double *values, int n)
{
    for (int k = 0; k < n && k < d->p->ninputs; k++)
        d->values[d->npoints + k] = values[k];
}

double rules_value(const struct rules_device *d, int point)
{
    return point >= 0 && point < d->npoints ? d->values[point] : NAN;
}

void rules_offline(struct rules_device *d, int64_t ts_ms, const struct alert_sink *sink)
{
    for (int i = 0; i < d->npoints; i++)
        d->values[i] = NAN;
    d->offline = true;
    struct rinst *cl = &d->inst[d->ninst - 1];
    if (cl->st == RS_IDLE) {
        cl->st = RS_PENDING;
        cl->pending_since = ts_ms;
    }
    comm_check(d, ts_ms, sink);
}

void rules_online(struct rules_device *d, int64_t ts_ms, const struct alert_sink *sink)
{
    comm_back(d, ts_ms, sink);
}

void rules_tick(struct rules_device *d, int64_t now_ms, const struct alert_sink *sink)
{
    for (int i = 0; i < d->ninst - 1; i++)
        if (d->inst[i].stale_driven)
            evaluate(d, &d->inst[i], now_ms, sink);
    comm_check(d, now_ms, sink);
    for (int i = 0; i < d->ninst; i++)
        escalate(d, &d->inst[i], now_ms, sink);
}

int rules_stage(struct rules_device *d, const char *alert_id, enum stage stage, const char *by, const char *name,
                const char *note, int64_t now_ms, const struct alert_sink *sink)
{
    for (int i = 0; i < d->ninst; i++) {
        struct rinst *in = &d->inst[i];
        if (in->st != RS_ACTIVE || strcmp(in->a.id, alert_id) != 0)
            continue;
        int rc = workorder_stage(&in->a, stage, by, name, note, now_ms);
        if (rc == 0)
            emit(d, sink, workorder_event_of(stage), now_ms, &in->a);
        return rc;
    }
    return -1;
}

bool rules_get(const struct rules_device *d, const char *alert_id, struct alert *out)
{
    for (int i = 0; i < d->ninst; i++)
        if (d->inst[i].st == RS_ACTIVE && strcmp(d->inst[i].a.id, alert_id) == 0) {
            if (out)
                *out = d->inst[i].a;
            return true;
        }
    return false;
}

bool rules_holds(const struct rules_device *d, const char *alert_id)
{
    return rules_get(d, alert_id, NULL);
}

int rules_active(const struct rules_device *d, struct alert *out, int max)
{
    int n = 0;
    for (int i = 0; i < d->ninst; i++) {
        if (d->inst[i].st != RS_ACTIVE)
            continue;
        if (n < max)
            out[n] = d->inst[i].a;
        n++;
    }
    return n;
}

int rules_restore(struct rules_device *d, const struct alert *a)
{
    for (int i = 0; i < d->ninst; i++) {
        struct rinst *in = &d->inst[i];
        if (strcmp(rule_id(in), a->rule) != 0)
            continue;
        if (in->st == RS_ACTIVE || (in->def && in->def->kind == RULE_EVENT))
            return -1;
        in->a = *a;
        in->st = RS_ACTIVE;
        in->clear_since = -1;
        in->nraises = 0;
        if (!in->def) {
            /* communication is judged afresh: pending until a reading or an offline event */
            d->offline = false;
        }
        d->gen++;
        return 0;
    }
    return -1;
}

int rules_shift(struct rules_device *d, const struct timebase_step *st)
{
    int changed = 0;
    d->last_reading_ms = timebase_correct(st, d->last_reading_ms);
    d->start_ms = timebase_correct(st, d->start_ms);
    history_shift(d->hist, st);
    for (int i = 0; i < d->ninst; i++) {
        struct rinst *in = &d->inst[i];
        in->pending_since = timebase_correct(st, in->pending_since);
        if (in->clear_since >= 0)
            in->clear_since = timebase_correct(st, in->clear_since);
        for (int k = 0; k < in->nocc; k++)
            in->occ[k] = timebase_correct(st, in->occ[k]);
        for (int k = 0; k < in->nraises; k++)
            in->raises[k] = timebase_correct(st, in->raises[k]);
        if (in->st == RS_ACTIVE && alert_shift(&in->a, st))
            changed++;
    }
    if (changed)
        d->gen++;
    return changed;
}
