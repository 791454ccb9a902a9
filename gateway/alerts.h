/* alerts: the alert record and the events of its life (raised, escalated, acknowledged,
 * cleared, and one-shot occurrences), the contract that covers a device, and their JSON. */
#ifndef CARETAKER_ALERTS_H
#define CARETAKER_ALERTS_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "model.h"

/* Indexed like contract.respond_minutes. */
enum severity { SEV_CRITICAL = 0, SEV_MAJOR = 1, SEV_MINOR = 2, SEV_INFO = 3 };

enum alert_event_kind {
    ALERT_RAISED,
    ALERT_ESCALATED,
    ALERT_ACKNOWLEDGED,
    ALERT_CLEARED,
    ALERT_OCCURRED, /* a one-shot event rule fired (a mode change): never active, never acked */
};

#define ALERT_ID_LEN (NAME_MAX_LEN * 2 + 24)

/* One alert, as published and as persisted. Times are wall-clock Unix milliseconds; 0 = none. */
struct alert {
    char id[ALERT_ID_LEN]; /* "<device>:<rule>:<raised_ts>": stable, unique per device and rule */
    char device[NAME_MAX_LEN];
    char rule[NAME_MAX_LEN];
    enum severity severity;
    char message_zh[TEXT_MAX_LEN];
    char message_en[TEXT_MAX_LEN];
    char point[NAME_MAX_LEN]; /* the point the value is of ("" when none) */
    double value;             /* its value when raised (NaN when unknown) */
    int64_t raised_ts;
    char contract[NAME_MAX_LEN]; /* "" when no contract covers the device */
    char contractor[TEXT_MAX_LEN];
    int64_t respond_by_ts;      /* raised_ts + the contract's minutes for the severity; 0 = none */
    int escalation;             /* 0 until the deadline passes unacknowledged, then 1, 2 ... */
    int64_t next_escalation_ts; /* when the next escalation is due; 0 = none */
    bool acked;
    char acked_by[NAME_MAX_LEN];
    int64_t acked_ts;
    bool flapping; /* held raised: it raised and cleared too often (see rules.h) */
    int64_t cleared_ts;
};

struct alert_event {
    enum alert_event_kind kind;
    int64_t ts;
    struct alert alert; /* the alert after the transition */
};

/* Where events go: the core stores each in the outbox, then publishes it. */
struct alert_sink {
    void (*emit)(void *ctx, const struct alert_event *ev);
    void *ctx;
};

const char *alert_severity_name(enum severity s);
/* "critical", "major", "minor", "info" to enum; -1 when none. */
int alert_severity_parse(const char *s);
const char *alert_event_name(enum alert_event_kind k);

/* The contract covering device d: one naming the device id wins over one naming its kind, and
 * a longer kind ("sewage.level") over a shorter one ("sewage"); the first in the config wins
 * a tie. NULL when none covers it. */
const struct contract *alert_contract_for(const struct config *cfg, const struct device *d);

/* Reads back an alert in its published form (payload_alert: what the store keeps of each
 * active alert); members it does not know, such as "location", are ignored. Returns 0, or -1
 * when a member is missing or of the wrong type. */
int alert_from_json(const cJSON *obj, struct alert *a);

/* Corrects an alert's times after the clock synchronized (timebase.h): one raised in the
 * unsynchronized span moves whole, deadlines with it; one raised before keeps its times but those
 * recorded in the span. Returns whether any time changed. */
struct timebase_step;
bool alert_shift(struct alert *a, const struct timebase_step *st);

#endif
