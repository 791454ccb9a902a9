/* exception: report by exception's decision for one poll (exception.h). */
#include "exception.h"

#include <math.h>

void exception_reset(struct exception_state *st)
{
    st->primed = false;
    st->snapshot_ts = 0;
    for (int k = 0; k < MAX_POINTS; k++) {
        st->value[k] = NAN;
        st->quality[k] = Q_UNREAD;
    }
}

int64_t exception_report_max_ms(const struct device *d)
{
    double s = d->report_max_s;
    if (s < 0 && device_param(d, "report_max_s", &s) < 0)
        s = EXCEPTION_REPORT_MAX_S;
    return s > 0 ? (int64_t)llround(s * 1000) : 0;
}

/* A good value that is not finite is stored and published as invalid: judged the same here. */
static uint8_t effective_quality(double v, uint8_t q)
{
    return q == Q_OK && !isfinite(v) ? Q_INVALID : q;
}

static bool beyond_deadband(const struct point *pt, double last, double now)
{
    double band = pt->deadband_pct ? fabs(last) * pt->deadband / 100 : pt->deadband;
    return fabs(now - last) > band;
}

int exception_filter(struct exception_state *st, const struct profile *p, int64_t report_max_ms, int64_t slack_ms,
                     int64_t ts_ms, const double *values, const uint8_t *quality, bool *send, bool *full)
{
    bool due = !st->primed || report_max_ms <= 0 || ts_ms < st->snapshot_ts ||
               ts_ms - st->snapshot_ts >= report_max_ms - slack_ms;
    int read = 0, sent = 0;
    for (int k = 0; k < p->npoints; k++) {
        send[k] = false;
        if (quality[k] == Q_UNREAD)
            continue;
        read++;
        uint8_t q = effective_quality(values[k], quality[k]);
        send[k] = due || q != st->quality[k] || (q == Q_OK && beyond_deadband(&p->points[k], st->value[k], values[k]));
        if (!send[k])
            continue;
        sent++;
        st->quality[k] = q;
        st->value[k] = values[k];
    }
    *full = sent > 0 && sent == read;
    if (*full) {
        st->primed = true;
        st->snapshot_ts = ts_ms;
    }
    return sent;
}
