/* rules: a profile's rules compiled at load (rule_set), and their instances on one device with
 * the alert life cycle (rules_device). Pure: time comes in with every call, nothing sleeps or
 * reads a clock, so tests drive it with a fake clock.
 *
 * Life of a condition rule on a device (one alert at a time per rule and device):
 *
 *   idle ──when true──► pending ──true for for_s and for_samples polls──► raised ─ack, on_site, resolve─►
 *    ▲                   │ when false, unknown or suppressed                 │          (workorder.h)
 *    └───────────────────┘                                                   ▼             │
 *    └──────────────────── cleared ◄── clear true for clear_for_s ───────────┴─────────────┘
 *
 * - unknown (a point invalid or offline) neither raises nor clears, and restarts the pending and
 *   clearing timers; after a restart every point is unknown until read again.
 * - suppress: while it is (known) true the rule does not raise, and its raised alert does not
 *   escalate; it may still clear.
 * - escalation: a work-order stage not done by its due time (the first is respond_by_ts, the
 *   ack), the alert escalates (level 1), then again at the next stage's due time or every
 *   escalate_every_ms (level 2, 3 ...) while a stage is overdue, until cleared (workorder.h).
 * - flapping: when an alert is about to clear and its rule raised more than flap_max times in the
 *   last flap_window_ms, it is held raised with flapping set, and clears only once its clear
 *   condition has held for flap_hold_ms (or clear_for_s if longer).
 * - event rules (kind "event") fire once each time `when` becomes true — after it was seen
 *   false, so a restart or a gap in data never fires one — and hold no alert.
 * - communication lost is a built-in rule, "comm_lost" (minor): raised when the device is
 *   offline and has had no valid reading for the profile param comm_lost_s (default 60 s),
 *   cleared when it is back. */
#ifndef CARETAKER_RULES_H
#define CARETAKER_RULES_H

#include <stdint.h>

#include "alerts.h"
#include "diag.h"
#include "expr.h"
#include "model.h"

#define RULES_MAX 64
#define RULES_COMM_LOST "comm_lost"
#define RULES_TIMES_MAX 10
/* Longest on-delay, clear delay or window a rule may ask for. */
#define RULES_MAX_DURATION_S (31.0 * 86400)

enum rule_kind { RULE_CONDITION, RULE_EVENT };

struct rule_def {
    char id[NAME_MAX_LEN];
    enum rule_kind kind;
    enum severity severity;
    struct expr when, clear, suppress;
    bool has_clear, has_suppress;
    struct expr for_s, clear_for_s; /* constants of numbers and params */
    int for_samples;
    int times; /* occurrences (each held for_s) within within_s that raise; 1: the first */
    struct expr within_s;
    char message_zh[TEXT_MAX_LEN];
    char message_en[TEXT_MAX_LEN];
};

/* A code's text in Chinese and in English: a profile writes {"zh": ..., "en": ...}, or one
 * string for both (a unit name, a code without words). */
struct code_entry {
    int64_t code;
    char text[TEXT_MAX_LEN];    /* Chinese, or the one text */
    char text_en[TEXT_MAX_LEN]; /* English; empty: text serves both */
};

struct code_table {
    char name[NAME_MAX_LEN];
    int n;
    struct code_entry *entries;
};

struct rule_set {
    int nrules;
    struct rule_def *rules;
    int ntables;
    struct code_table *tables;
};

void rules_set_free(struct rule_set *rs);

/* Text of code in table name, in English when en, else in Chinese; NULL when none. */
const char *rules_code_text(const struct rule_set *rs, const char *table, int64_t code, bool en);

/* Knobs of the life cycle that are not per rule (the core fills them from the config). */
struct rules_options {
    int64_t escalate_every_ms; /* re-escalation interval; 0 = escalate once */
    int flap_max;              /* raises within flap_window_ms above which an alert is flapping */
    int64_t flap_window_ms;
    int64_t flap_hold_ms;
    int64_t comm_lost_ms; /* when the profile has no comm_lost_s param */
};

/* Defaults, in the config's units (section "alerts" of the config takes the same): escalate
 * every 30 min; more than 3 raises in 10 min is flapping, held until clear for 10 min;
 * communication lost after 60 s. */
#define RULES_DEFAULT_ESCALATE_EVERY_S 1800
#define RULES_DEFAULT_FLAP_MAX 3
#define RULES_DEFAULT_FLAP_WINDOW_S 600
#define RULES_DEFAULT_FLAP_HOLD_S 600
#define RULES_DEFAULT_COMM_LOST_S 60
void rules_options_default(struct rules_options *o);

struct rules_device;

/* Binds the rules of profile p (compiled in p->ruleset; a profile without rules gets only
 * comm_lost) to one device: params[i] is the device's value of profile param i, k the contract
 * covering it (or NULL). start_ms is when watching starts (the reference of stale()). Fails
 * when a duration or window is not positive with this device's params, naming the device and
 * the rule. */
struct rules_device *rules_device_new(const struct profile *p, const char *device_id, const double *params,
                                      const struct contract *k, const struct rules_options *opt, int64_t start_ms,
                                      struct diag *err);
void rules_device_free(struct rules_device *d);

/* One poll: values[i] and quality[i] of point i (Q_OK or not), read at ts_ms. A reading also
 * means the device answers (clears communication lost). */
void rules_feed(struct rules_device *d, int64_t ts_ms, const double *values, const uint8_t *quality, int npoints,
                const struct alert_sink *sink);

/* The bus declared the device offline / back online. Offline makes every point unknown. */
/* The current values of the profile's inputs (another device's points, NaN when unknown), read
 * by the next rules_feed or rules_tick; rules_feed also keeps them in history. */
void rules_set_inputs(struct rules_device *d, const double *values, int n);

/* The current value of one of the device's points: NaN when unknown (not read since the start,
 * invalid, or the device offline). */
double rules_value(const struct rules_device *d, int point);

void rules_offline(struct rules_device *d, int64_t ts_ms, const struct alert_sink *sink);
void rules_online(struct rules_device *d, int64_t ts_ms, const struct alert_sink *sink);

/* Time alone: escalations, communication lost, rules using stale(). Call at least every second. */
void rules_tick(struct rules_device *d, int64_t now_ms, const struct alert_sink *sink);

/* A work-order stage of the alert with this id, done at now_ms by identity by (name and note
 * optional): 0 done (one ALERT_ACKNOWLEDGED, ALERT_ON_SITE or ALERT_RESOLVED event), 1 the
 * alert is already at that stage, 2 it is past it (no event for either), -1 no such active
 * alert on this device. */
int rules_stage(struct rules_device *d, const char *alert_id, enum stage stage, const char *by, const char *name,
                const char *note, int64_t now_ms, const struct alert_sink *sink);

/* True when this device has an active alert with this id; rules_get also copies it to *out. */
bool rules_holds(const struct rules_device *d, const char *alert_id);
bool rules_get(const struct rules_device *d, const char *alert_id, struct alert *out);

/* Copies up to max active alerts (raised or acknowledged, not cleared) into out; returns how
 * many are active (may exceed max). */
int rules_active(const struct rules_device *d, struct alert *out, int max);

/* Puts back an alert saved before a restart, as active, without any event: it is not raised
 * again, and it clears once its clear condition is read true. Returns 0, or -1 when this
 * device has no such rule or already holds an alert for it. */
int rules_restore(struct rules_device *d, const struct alert *a);

/* Bumped on every change of the active list (raise, ack, escalation, flapping, clear). */
uint64_t rules_generation(const struct rules_device *d);

/* Renders a message template: {point} its value now, {point.text} the text of its value from
 * the code table of the same name (in English when en: a Chinese message gets no English words
 * from a table), {params.x} a param. Unknown values read "?". */
void rules_render(const struct profile *p, const struct rule_set *rs, const char *tmpl, const double *values,
                  const double *params, bool en, char *out, size_t n);

/* Synchronization of the clock arrived: every time recorded in the unsynchronized span (on-delays,
 * windows, the active alerts' times and deadlines) is corrected (timebase.h); alerts raised
 * before the span keep theirs. Returns how many active alerts changed. */
struct timebase_step;
int rules_shift(struct rules_device *d, const struct timebase_step *st);

#endif
