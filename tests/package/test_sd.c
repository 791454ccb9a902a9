/* test_sd: the notify messages and the watchdog interval, read back from a socket that stands
 * in for systemd's NOTIFY_SOCKET. */
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "sd.h"

/* Reads the one datagram the last call must have sent; "" when there is none. The send is
 * complete when sd_notify returns, so no wait is needed. */
static const char *received(int fd)
{
    static char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void set_watchdog(const char *usec, long pid)
{
    char p[32];
    snprintf(p, sizeof p, "%ld", pid);
    setenv("WATCHDOG_USEC", usec, 1);
    setenv("WATCHDOG_PID", p, 1);
}

int main(void)
{
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    unsetenv("NOTIFY_SOCKET");
    /* Not started by systemd: nothing to tell, and that is not an error. */
    CHECK(sd_ready("idle") == 0);
    CHECK(sd_watchdog_interval_ms() == 0);

    /* An abstract socket ('@' in NOTIFY_SOCKET, NUL in sun_path) leaves no file behind. */
    char name[64];
    snprintf(name, sizeof name, "@caretaker-test-sd-%ld", (long)getpid());
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path + 1, name + 1, strlen(name) - 1);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) < 0) {
        perror("test_sd: socket");
        return 1;
    }
    setenv("NOTIFY_SOCKET", name, 1);

#ifdef HAVE_SYSTEMD
    CHECK(sd_ready("polling 2 buses") == 0);
    CHECK(strcmp(received(fd), "READY=1\nSTATUS=polling 2 buses") == 0);
    CHECK(sd_ready(NULL) == 0);
    CHECK(strcmp(received(fd), "READY=1") == 0);
    sd_watchdog_ping();
    CHECK(strcmp(received(fd), "WATCHDOG=1") == 0);
    sd_stopping();
    CHECK(strcmp(received(fd), "STOPPING=1") == 0);

    /* WatchdogSec=30s: systemd passes WATCHDOG_USEC=30000000; half is 15000000 us = 15000 ms. */
    set_watchdog("30000000", (long)getpid());
    CHECK(sd_watchdog_interval_ms() == 15000);
    /* Computed in microseconds before rounding: 3001 us / 2 = 1500 us, rounded up to 2 ms
     * (halving 3 ms after truncating to milliseconds would give 1). */
    set_watchdog("3001", (long)getpid());
    CHECK(sd_watchdog_interval_ms() == 2);
    /* 1500 us / 2 = 750 us: below a millisecond, still not 0, which would mean "off". */
    set_watchdog("1500", (long)getpid());
    CHECK(sd_watchdog_interval_ms() == 1);
    /* The watchdog of another process (a child that inherited the environment) is not ours. */
    set_watchdog("30000000", (long)getpid() + 1);
    CHECK(sd_watchdog_interval_ms() == 0);
    set_watchdog("thirty", (long)getpid());
    CHECK(sd_watchdog_interval_ms() == 0);
#else
    /* Without libsystemd every call is a no-op, even with systemd's variables set. */
    CHECK(sd_ready("polling 2 buses") == 0);
    sd_watchdog_ping();
    sd_stopping();
    CHECK(strcmp(received(fd), "") == 0);
    set_watchdog("30000000", (long)getpid());
    CHECK(sd_watchdog_interval_ms() == 0);
#endif
    close(fd);
    return check_report();
}
