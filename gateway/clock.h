/* clock: monotonic time for schedules and wall time for sample timestamps, in milliseconds. */
#ifndef CARETAKER_CLOCK_H
#define CARETAKER_CLOCK_H

#include <stdint.h>

int64_t clock_mono_ms(void);
int64_t clock_wall_ms(void);
/* Whether the kernel holds the wall clock synchronized (adjtimex: no STA_UNSYNC, no TIME_ERROR),
 * as an NTP client leaves it. When the kernel cannot be asked (a system-call filter), the flag
 * systemd-timesyncd leaves in /run answers; when neither can, 1 with *unknown set. */
int clock_synchronized(int *unknown);

#endif
