/* exception: report by exception — of one poll of a device, which points go out and whether
 * the poll is a full snapshot. Pure: no clock, no I/O; the caller keeps one state per device.
 *
 * What goes out changes, never what is judged: the rules and the daily report see every poll;
 * this only thins what is appended to the outbox as a reading row. A point goes out when its
 * quality changed (ok, invalid, offline), or when it is good and its value moved by more than
 * its deadband (point.deadband) from the value last sent. Every point goes out — a full
 * snapshot — at the first poll after a reset (start, device online or offline, clock sync) and once
 * report_max has passed since the last full snapshot: the heartbeat proving the values still
 * hold. A poll in which every point read goes out is a full snapshot too. */
#ifndef CARETAKER_EXCEPTION_H
#define CARETAKER_EXCEPTION_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

/* Seconds between full snapshots when neither the device nor its profile says (report_max_s). */
#define EXCEPTION_REPORT_MAX_S 300

/* What a device last sent, by point index. */
struct exception_state {
    bool primed;         /* a full snapshot went out since the last reset */
    int64_t snapshot_ts; /* poll time (wall ms) of the last full snapshot */
    double value[MAX_POINTS];
    uint8_t quality[MAX_POINTS]; /* enum quality; Q_UNREAD: never sent since the reset */
};

/* Forgets what was sent: the next poll is a full snapshot. */
void exception_reset(struct exception_state *st);

/* The most time between two full snapshots of d, in ms: devices[].report_max_s, else its
 * profile's param report_max_s, else EXCEPTION_REPORT_MAX_S. 0: every poll is a full snapshot. */
int64_t exception_report_max_ms(const struct device *d);

/* Decides for one poll of a device of profile p taken at ts_ms (values and quality by point
 * index; Q_UNREAD points are not in the poll). A full snapshot is due when report_max_ms - slack_ms
 * has passed since the last (slack: half a poll interval, so a heartbeat equal to the poll
 * interval makes every poll full despite jitter), or when the wall clock went back past it.
 * Sets send[k] for the points that go out and *full, and brings st up to date with what goes
 * out. Returns how many points go out: 0 means no reading row at all. */
int exception_filter(struct exception_state *st, const struct profile *p, int64_t report_max_ms, int64_t slack_ms,
                     int64_t ts_ms, const double *values, const uint8_t *quality, bool *send, bool *full);

#endif
