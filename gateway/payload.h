/* payload: the topics and JSON bodies of every MQTT message the gateway sends (docs/mqtt.md is
 * the contract). Pure: rows and figures in, bytes out; nothing here touches the network. */
#ifndef CARETAKER_PAYLOAD_H
#define CARETAKER_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alerts.h"
#include "bus.h"
#include "monthly.h"
#include "reports.h"
#include "store.h"

/* The contract version, "v" in every payload. Raised only for a change a consumer could
 * misread; adding a member is not one. */
#define PAYLOAD_VERSION 1

/* A growing byte buffer; after an allocation failure it stays empty and oom is set. */
struct jbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

void jbuf_reset(struct jbuf *b);
void jbuf_free(struct jbuf *b);
void jbuf_put(struct jbuf *b, const char *s, size_t n);
void jbuf_puts(struct jbuf *b, const char *s);

/* A JSON string: quotes, escapes, and any invalid UTF-8 byte replaced by U+FFFD, so the
 * payload is valid JSON whatever a name holds. */
void payload_string(struct jbuf *b, const char *s);
/* A number in the shortest form that reads back to the same double; null when not finite. */
void payload_number(struct jbuf *b, double v);
void payload_int(struct jbuf *b, int64_t v);

/* The topic of an outbox row under prefix, and whether it is retained. */
void payload_row_topic(struct jbuf *b, const char *prefix, const struct outbox_row *r);
bool payload_row_retained(const struct outbox_row *r);
/* The body of an outbox row: {"v","gateway","seq","ts","device"} and then the readings'
 * values / invalid / offline, or the members of the row's stored JSON body. Returns 0, or -1
 * when out of memory. */
int payload_row(struct jbuf *b, const char *gateway, const struct outbox_row *r);

/* ---- contract v2 readings (mqtt.payload "v2"): many readings, one message ----
 * {"v":2,"gateway":..,"devices":[{"device":..,"points":[names],"readings":[{"seq","ts",
 * "values":[numbers aligned with points]},...]},...]}: batch.c puts the pieces together. */
#define PAYLOAD_BATCH_VERSION 2
/* Resets b to the message's opening: {"v":2,"gateway":"..","devices":[ */
void payload_batch_head(struct jbuf *b, const char *gateway);
/* Appends a device group's opening, for readings of r's device and points in r's order:
 * {"device":"..","points":[..],"readings":[ */
void payload_batch_group(struct jbuf *b, const struct outbox_row *r);
/* Appends one reading of its group: {"seq","ts","values":[..]} — a value null when the point's
 * was not good — and "invalid" / "offline" by name as in v1. 0, or -1 when out of memory. */
int payload_batch_reading(struct jbuf *b, const struct outbox_row *r);

/* <prefix>/<suffix> */
void payload_topic(struct jbuf *b, const char *prefix, const char *suffix);

/* status: "online" (with version and started_ts), or "offline"; ts_ms 0 leaves ts out (the
 * Last Will is fixed at connect time, so it carries no time). */
int payload_status(struct jbuf *b, const char *gateway, const char *state, const char *version, int64_t started_ts,
                   int64_t ts_ms);

struct payload_device {
    const char *id;
    struct device_stats stats;
};

struct payload_metrics {
    int64_t ts_ms;
    int64_t started_ts_ms;
    int ndevices;
    const struct payload_device *devices;
    struct store_backlog backlog;
    struct store_usage store;
    uint64_t queue_dropped;
    long rss_kb;
    uint64_t mqtt_connects;
    uint64_t mqtt_published;
    uint64_t mqtt_acked;
    uint64_t mqtt_refused;
    int mqtt_inflight;
    uint64_t commands_accepted;
    uint64_t commands_refused;
    uint64_t commands_replies_held; /* refusals not answered: over the identity's budget */
    uint64_t commands_log_held;     /* refusals not logged: over the log's budget */
    uint64_t dtu_refused;           /* DTU connections refused before registering */
    uint64_t dtu_claims_refused;    /* right registrations refused: the current link answers */
    uint64_t dtu_takeovers;
};
int payload_metrics(struct jbuf *b, const char *gateway, const struct payload_metrics *m);

/* The reply to a command: ok with a result text, or refused with an error; id (the request's
 * correlation id) is left out when NULL. */
int payload_reply(struct jbuf *b, const char *gateway, int64_t ts_ms, const char *cmd, const char *id, bool ok,
                  const char *text);

/* The stored body of a dtu_replaced event (an outbox row of kind OUTBOX_EVENT, no device):
 * {"event", "bus", "dtu_id", "old_peer", "new_peer", "recent"}. Returns 0, or -1 when out of memory. */
int payload_dtu_replaced(struct jbuf *b, const struct dtu_takeover *t);

/* The stored bodies of outbox rows the payload head is put around (payload_row): a device's
 * state ({"state", "last_ok_ts" (null when 0: none since the start), "errors", and where it is:
 * "bus", "location", "driver", "kind", "unit", and "asset" when the config gives one), and the
 * events point_missing and buffer_overflow (docs/mqtt.md, "event"). 0, or -1 out of memory. */
struct payload_device_info {
    const char *bus, *location, *driver, *kind;
    int unit;
    const struct device_asset *asset; /* may be NULL */
};
int payload_device_state_body(struct jbuf *b, const struct payload_device_info *dev, bool online, int64_t last_ok_ts,
                              int errors);
int payload_point_missing_body(struct jbuf *b, const char *point);
/* The clock's NTP state changed (timebase.h): "clock_unsynchronized" when a span without it
 * begins (from_ts), "clock_synchronized" when it ends, with the correction that times recorded
 * in [from_ts, to_ts] needed. */
int payload_clock_body(struct jbuf *b, bool synced, int64_t from_ts, int64_t to_ts, int64_t step_ms);
int payload_buffer_overflow_body(struct jbuf *b, int64_t evicted, int64_t evicted_total, int64_t first_ts,
                                 int64_t last_ts, int64_t max_mb);

/* The stored body of a daily report (the members after the head of reports/daily in
 * docs/mqtt.md). 0, or -1 out of memory. */
int payload_daily_report(struct jbuf *b, const struct daily_report *r);

/* The monthly report of a contract (docs/mqtt.md, "monthly report"): the head with seq 0 (it
 * is made from the store, not an outbox row), ts, then the month's figures. 0, or -1 out of
 * memory. */
/* The stored body of a visit event (docs/mqtt.md, "event"): {"event":"visit", "kind", "by",
 * "name", "note", "start_ts", "end_ts" (null under way), "minutes"}. */
int payload_visit_body(struct jbuf *b, const struct store_visit *v);

int payload_monthly_report(struct jbuf *b, const char *gateway, int64_t ts_ms, const struct monthly_report *r);

/* One alert as a JSON object, {"device", then the members of an alert event but "event"}: the
 * form of each entry of alerts/active, and what the store keeps of an active alert, read back
 * by alert_from_json at start. */
int payload_alert(struct jbuf *b, const struct alert *a, const char *location);

/* The stored body of an alert event (an outbox row of kind OUTBOX_ALERT): {"event", "id",
 * "location", "rule", "severity", "message" {zh, en}, "point", "value", "raised_ts", "contract",
 * "contractor", "respond_by_ts", "escalation", "next_escalation_ts", "acked", "acked_by",
 * "acked_ts", "flapping", "cleared_ts", "stages", "outcome", "escalation_stage",
 * "escalated_to"} and "note" (of a stage event) and "acked_name" (the display name an
 * acknowledgement gave; acked_by is the identity that sent it) when given, and on "escalated"
 * the "escalated" {stage, level, name, identity or topic} it is for. The
 * row's head adds v, gateway, seq, ts and device; with_device puts "device" in the body, for
 * an alert of a device no longer configured (its row has no device). Returns 0, or -1 when
 * out of memory. */
int payload_alert_event(struct jbuf *b, const struct alert_event *ev, const char *location, const char *note,
                        const char *by_name, bool with_device);

/* The retained alerts/active message: the head with seq 0 (it is state, not an outbox row),
 * ts, last_alert_seq (the seq of the newest alert event it reflects, to order it against the
 * events), count and alerts [{device and the members of an alert event but event}].
 * locations[i] is the location of list[i]'s device. */
int payload_alerts_active(struct jbuf *b, const char *gateway, int64_t ts_ms, int64_t seq, const struct alert *list,
                          const char *const *locations, int n);

#endif
