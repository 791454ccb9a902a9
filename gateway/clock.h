/* clock: monotonic time for schedules and wall time for sample timestamps, in milliseconds. */
#ifndef CARETAKER_CLOCK_H
#define CARETAKER_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>

int64_t clock_mono_ms(void);
int64_t clock_wall_ms(void);
/* Sleeps until the monotonic deadline, or returns early when *stop becomes nonzero
 * (checked at least every 50 ms). */
void clock_sleep_until(int64_t deadline_mono_ms, const atomic_int *stop);

#endif
