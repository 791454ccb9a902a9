/* alerts: the alert record and the events of its life (raised, escalated, acknowledged, on
 * site, resolved, cleared, and one-shot occurrences), the contract that covers a device, and
 * their JSON. The work-order stages in the record are moved only by workorder.c. */
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
    ALERT_ON_SITE,  /* someone arrived (到场) */
    ALERT_RESOLVED, /* the one on site says it is dealt with (处置完成) */
};

/* The stages of a work order, in the only order they may happen (接单, 到场, 处置完成). */
enum stage { STAGE_ACK = 0, STAGE_ON_SITE = 1, STAGE_RESOLVE = 2 };
#define STAGE_COUNT 3
#define STAGE_NAME_LEN 65  /* a display name, as cmd/<stage> takes it (CMD_ID_MAX + 1) */
#define STAGE_NOTE_LEN 513 /* a note, as cmd/<stage> takes it (CMD_NOTE_MAX + 1) */

/* met: whether a stage was done by its due time. */
enum stage_met { MET_UNKNOWN = 0, MET_NO, MET_YES }; /* a zeroed record is "not judged" */

struct alert_stage {
    int64_t due_ts;            /* 0 = the contract sets no deadline for it */
    int64_t ts;                /* when it was done; 0 = not yet */
    char by[NAME_MAX_LEN];     /* the identity that did it */
    char name[STAGE_NAME_LEN]; /* the display name it gave */
    char note[STAGE_NOTE_LEN];
    enum stage_met met; /* MET_UNKNOWN while not due (or no due time), and for a stage that never came due */
};

enum alert_outcome { OUTCOME_NONE = 0, OUTCOME_RESOLVED, OUTCOME_SELF_CLEARED };

/* One party an alert was escalated to: the first escalation that reached its level. */
struct alert_escalation {
    int level;
    char name[TEXT_MAX_LEN];
    char identity[NAME_MAX_LEN];
    bool is_topic;
    enum stage stage; /* the stage missed */
    int64_t ts;
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
    int64_t respond_by_ts;      /* = stages[STAGE_ACK].due_ts, kept for existing readers */
    int escalation;             /* 0 until a stage's deadline passes undone, then 1, 2 ... */
    int64_t next_escalation_ts; /* when the next escalation is due; 0 = none */
    bool acked;                 /* acked, acked_by and acked_ts mirror stages[STAGE_ACK] */
    char acked_by[NAME_MAX_LEN];
    int64_t acked_ts;
    bool flapping; /* held raised: it raised and cleared too often (see rules.h) */
    int64_t cleared_ts;
    struct alert_stage stages[STAGE_COUNT];
    enum alert_outcome outcome; /* set when it clears */
    int escalation_stage;       /* 1 + the stage the latest escalation named; 0 none (so a zeroed record has none) */
    int nescalated;             /* parties reached, lowest level first */
    struct alert_escalation escalated_to[CONTRACT_MAX_PARTIES];
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
/* "ack", "on_site", "resolve": the stage's key in the record and its command's verb. */
const char *alert_stage_name(enum stage s);
/* The stage named s, or -1. */
int alert_stage_parse(const char *s);
/* "resolved", "self_cleared", or NULL for OUTCOME_NONE. */
const char *alert_outcome_name(enum alert_outcome o);

/* The contract covering device d: one naming the device id wins over one naming its kind, and
 * a longer kind ("sewage.level") over a shorter one ("sewage"); the first in the config wins
 * a tie. NULL when none covers it. */
const struct contract *alert_contract_for(const struct config *cfg, const struct device *d);

/* Reads back an alert in its published form (payload_alert: what the store keeps of each
 * active alert); members it does not know, such as "location", are ignored. A record written
 * before work orders (no "stages") reads back with its ack stage taken from acked_* and
 * respond_by_ts. Returns 0, or -1 when a member is missing or of the wrong type. */
int alert_from_json(const cJSON *obj, struct alert *a);

/* Corrects an alert's times after the clock synchronized (timebase.h): one raised in the
 * unsynchronized span moves whole, deadlines with it; one raised before keeps its times but those
 * recorded in the span. Returns whether any time changed. */
struct timebase_step;
bool alert_shift(struct alert *a, const struct timebase_step *st);

#endif
