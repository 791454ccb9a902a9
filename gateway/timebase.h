/* timebase: the time the gateway records. The wall clock while the kernel says it is
 * synchronized; while it is not (a box without a battery-backed clock boots in 1970 and keeps
 * that until NTP answers), the wall clock as it was when the span began, carried forward by the
 * monotonic clock, so a step of the wall clock moves nothing. When synchronization arrives, the
 * step between the two is what every time recorded in the span must be corrected by. */
#ifndef CARETAKER_TIMEBASE_H
#define CARETAKER_TIMEBASE_H

#include <stdbool.h>
#include <stdint.h>

struct timebase {
    bool synced;
    int64_t offset;      /* wall - monotonic when the last unsynchronized span began */
    int64_t span_lo;     /* recorded time at the start of that span */
    int64_t synced_mono; /* monotonic time synchronization was seen (0: never lost) */
    int64_t delta_ms;    /* the correction it brought */
};

/* The correction synchronization brought: times recorded in [lo, hi] are off by delta_ms. */
struct timebase_step {
    int64_t delta_ms;
    int64_t lo, hi;
};

void timebase_init(struct timebase *t, bool synced, int64_t wall_ms, int64_t mono_ms);

/* Feeds the kernel's synchronization state. Returns 1 when synchronization just arrived (the
 * correction in *step), 0 otherwise; losing it starts a new span. */
int timebase_update(struct timebase *t, bool synced, int64_t wall_ms, int64_t mono_ms, struct timebase_step *step);

/* The time to record for something read at wall_ms / mono_ms (the two clocks read together),
 * by a thread that may not have seen the latest update: a read made before synchronization was
 * seen is held and corrected like the span it belongs to. */
int64_t timebase_time(const struct timebase *t, int64_t wall_ms, int64_t mono_ms);

/* A recorded time inside the step's span, corrected; any other time unchanged. */
int64_t timebase_correct(const struct timebase_step *s, int64_t ts_ms);
bool timebase_in_span(const struct timebase_step *s, int64_t ts_ms);

#endif
