/* workorder: the stages of an alert that a contract sets deadlines for — 接单 (ack), 到场
 * (on site), 处置完成 (resolve) — their due times, whether each was met, escalation to the
 * contract's named parties when one is missed, and the outcome when the alert clears. Pure:
 * every call takes the time, so tests drive it with hand-worked times.
 *
 *   raised ──ack──► acknowledged ──on_site──► on site ──resolve──► resolved
 *     │  └───────────on_site (implies ack)──────┘                     │
 *     │  └───────────────────────resolve (implies both)───────────────┤
 *     ▼                                                               ▼
 *   cleared before anyone arrived: outcome self_cleared     cleared: outcome resolved
 *
 * - Stages only go forward: a later stage fills the skipped ones with its own time; the stage
 *   the alert is at again is "already" (no change); an earlier one is refused.
 * - An escalation is due at next_escalation_ts while some stage not done is past its due time;
 *   it names the latest such stage and the party of its level (the chain's top once past it).
 *   The next one is due at the next stage's due time or escalate_every after this one,
 *   whichever is first (every 0: only at due times).
 * - met: MET_YES done by due_ts, MET_NO done late or not done at due_ts, else MET_UNKNOWN
 *   (not due yet, no due time, or the alert cleared before it came due). */
#ifndef CARETAKER_WORKORDER_H
#define CARETAKER_WORKORDER_H

#include <stdbool.h>
#include <stdint.h>

#include "alerts.h"
#include "model.h"

/* At the raise (a->raised_ts and a->severity set): the stages' due times from contract k (NULL:
 * none), respond_by_ts, and the first escalation at the first due time. */
void workorder_open(struct alert *a, const struct contract *k);

/* A stage done at now by identity by (display name and note may be "" or NULL). Returns 0 done
 * (the event to emit is workorder_event_of(s)), 1 the alert is already at stage s (nothing
 * changed), 2 it is past s (nothing changed: stages never go back). */
int workorder_stage(struct alert *a, enum stage s, const char *by, const char *name, const char *note, int64_t now);

/* The stage the alert is at: the latest one done, or -1. */
int workorder_current(const struct alert *a);

/* At now, with re-escalation every every_ms (0: once per missed stage): 1 when the alert
 * escalated (escalation, escalation_stage, escalated_to, next_escalation_ts updated), else 0.
 * The caller does not call it while the alert is suppressed or not active. */
int workorder_escalate(struct alert *a, const struct contract *k, int64_t now, int64_t every_ms);

/* The alert cleared at now: outcome resolved when someone arrived (on site or resolved), else
 * self_cleared; met judged at now and kept; no escalation any more. */
void workorder_close(struct alert *a, int64_t now);

/* Judges met of every stage at now. Returns true when any changed. */
bool workorder_judge(struct alert *a, int64_t now);

/* The alert event of a stage: ALERT_ACKNOWLEDGED, ALERT_ON_SITE, ALERT_RESOLVED. */
enum alert_event_kind workorder_event_of(enum stage s);

/* The stage an event is of (the one just done), or -1 for other events. */
int workorder_stage_of(enum alert_event_kind k);

#endif
