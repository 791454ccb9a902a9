/* clock: thin wrappers over clock_gettime and the kernel's NTP state. */
#include "clock.h"

#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

static int64_t read_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
    return read_ms(CLOCK_MONOTONIC);
}

int64_t clock_wall_ms(void)
{
    return read_ms(CLOCK_REALTIME);
}

int clock_synchronized(int *unknown)
{
    struct timex tx = {.modes = 0};
    int rc = adjtimex(&tx);
    if (unknown)
        *unknown = 0;
    if (rc != -1)
        return rc != TIME_ERROR && !(tx.status & STA_UNSYNC);
    if (access("/run/systemd/timesync/synchronized", F_OK) == 0)
        return 1;
    if (access("/run/systemd/timesync", F_OK) == 0)
        return 0; /* timesyncd runs and has not synchronized yet */
    if (unknown)
        *unknown = 1;
    return 1;
}
