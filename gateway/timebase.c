/* timebase: recorded time held to the monotonic clock while the wall clock is unsynchronized. */
#include "timebase.h"

void timebase_init(struct timebase *t, bool synced, int64_t wall_ms, int64_t mono_ms)
{
    t->synced = synced;
    t->offset = wall_ms - mono_ms;
    t->span_lo = wall_ms;
    t->synced_mono = 0;
    t->delta_ms = 0;
}

int timebase_update(struct timebase *t, bool synced, int64_t wall_ms, int64_t mono_ms, struct timebase_step *step)
{
    if (synced == t->synced)
        return 0;
    if (!synced) {
        timebase_init(t, false, wall_ms, mono_ms);
        return 0;
    }
    step->delta_ms = (wall_ms - mono_ms) - t->offset;
    step->lo = t->span_lo;
    step->hi = mono_ms + t->offset;
    t->synced = true;
    t->synced_mono = mono_ms;
    t->delta_ms = step->delta_ms;
    return 1;
}

int64_t timebase_time(const struct timebase *t, int64_t wall_ms, int64_t mono_ms)
{
    if (!t->synced)
        return mono_ms + t->offset;
    if (mono_ms < t->synced_mono)
        return mono_ms + t->offset + t->delta_ms;
    return wall_ms;
}

bool timebase_in_span(const struct timebase_step *s, int64_t ts_ms)
{
    return ts_ms >= s->lo && ts_ms <= s->hi;
}

int64_t timebase_correct(const struct timebase_step *s, int64_t ts_ms)
{
    return timebase_in_span(s, ts_ms) ? ts_ms + s->delta_ms : ts_ms;
}
