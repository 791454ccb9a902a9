/* clock: monotonic time for schedules and wall time for sample timestamps, in milliseconds. */
#ifndef CARETAKER_CLOCK_H
#define CARETAKER_CLOCK_H

#include <stdint.h>

int64_t clock_mono_ms(void);
int64_t clock_wall_ms(void);

#endif
