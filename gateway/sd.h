/* sd: the daemon's side of systemd's notify protocol (READY, STOPPING, WATCHDOG); every call
 * is a no-op when built without libsystemd or when not started by systemd. */
#ifndef CARETAKER_SD_H
#define CARETAKER_SD_H

/* Tells systemd the service is up (Type=notify) and sets the status line `systemctl status`
 * shows. Call once, after the config is loaded, the store is open and the first broker
 * attempt is made, so a failed start is seen as a failed start. status may be NULL.
 * Returns 0, also when there is nobody to tell, or -1 when the message could not be sent. */
int sd_ready(const char *status);

/* Tells systemd the service is shutting down, so the stop is not taken for a crash. */
void sd_stopping(void);

/* Tells systemd a reload is under way; the next sd_ready() ends it. */
void sd_reloading(void);

/* How often to send sd_watchdog_ping(), in milliseconds: half of WATCHDOG_USEC, so one late
 * ping still arrives in time. 0 when the watchdog is off or meant for another process. */
int sd_watchdog_interval_ms(void);

/* Tells systemd the main loop is alive. Call from a timer of the core loop, never from a
 * thread of its own, so a stuck loop stops the pings and systemd restarts the service. */
void sd_watchdog_ping(void);

#endif
