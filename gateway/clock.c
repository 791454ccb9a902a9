/* clock: thin wrappers over clock_gettime and clock_nanosleep. */
#include "clock.h"

#include <errno.h>
#include <time.h>

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

void clock_sleep_until(int64_t deadline, const atomic_int *stop)
{
    for (;;) {
        if (stop && atomic_load(stop))
            return;
        int64_t now = clock_mono_ms();
        if (now >= deadline)
            return;
        int64_t step = deadline - now;
        if (stop && step > 50)
            step = 50;
        struct timespec ts = {.tv_sec = step / 1000, .tv_nsec = (step % 1000) * 1000000};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
            ;
    }
}
