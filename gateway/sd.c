/* sd: sd_notify messages for Type=notify and the watchdog; compiled to no-ops without
 * libsystemd (HAVE_SYSTEMD unset), so the daemon also builds and runs where there is none. */
#include "sd.h"

#include <limits.h>
#include <stdint.h>
#include <time.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

int sd_ready(const char *status)
{
    /* unset_environment=0: the variables stay for sd_watchdog_interval_ms(), which may be
     * asked later. */
    int r = status ? sd_notifyf(0, "READY=1\nSTATUS=%s", status) : sd_notify(0, "READY=1");
    return r < 0 ? -1 : 0;
}

void sd_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

void sd_reloading(void)
{
    /* MONOTONIC_USEC lets a systemd that knows Type=notify-reload match it to the request. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
               (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
}

int sd_watchdog_interval_ms(void)
{
    uint64_t usec = 0;
    /* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is this process. */
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return 0;
    /* Halve in microseconds, then round up to whole milliseconds: a WATCHDOG_USEC below 2 ms
     * must still give a nonzero interval, since 0 means "off" to the caller. */
    uint64_t ms = (usec / 2 + 999) / 1000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

void sd_watchdog_ping(void)
{
    sd_notify(0, "WATCHDOG=1");
}

#else

int sd_ready(const char *status)
{
    (void)status;
    return 0;
}

void sd_stopping(void)
{
}

void sd_reloading(void)
{
}

int sd_watchdog_interval_ms(void)
{
    return 0;
}

void sd_watchdog_ping(void)
{
}

#endif
