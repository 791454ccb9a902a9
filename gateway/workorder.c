/* workorder: the stage machine of alerts under contract (see workorder.h for the life cycle).
 * Invariants: stages are done in order, so stages[i].ts != 0 implies stages[j].ts != 0 for
 * j < i, and the times never decrease along the stages; acked, acked_by, acked_ts and
 * respond_by_ts always equal stages[STAGE_ACK]'s; escalated_to holds each party once, lowest
 * level first. */
#include "workorder.h"

#include <stdio.h>
#include <string.h>

static int64_t min_set(int64_t a, int64_t b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    return a < b ? a : b;
}

/* The earliest due time after now of a stage not done; 0 when none. */
static int64_t next_due(const struct alert *a, int64_t now)
{
    int64_t t = 0;
    for (int s = 0; s < STAGE_COUNT; s++)
        if (!a->stages[s].ts && a->stages[s].due_ts > now)
            t = min_set(t, a->stages[s].due_ts);
    return t;
}

/* The latest stage not done whose due time has come, or -1. */
static int missed(const struct alert *a, int64_t now)
{
    int m = -1;
    for (int s = 0; s < STAGE_COUNT; s++)
        if (!a->stages[s].ts && a->stages[s].due_ts && a->stages[s].due_ts <= now)
            m = s;
    return m;
}

static void mirror_ack(struct alert *a)
{
    const struct alert_stage *k = &a->stages[STAGE_ACK];
    a->respond_by_ts = k->due_ts;
    a->acked = k->ts != 0;
    a->acked_ts = k->ts;
    snprintf(a->acked_by, sizeof a->acked_by, "%s", k->by);
}

static int due_s(const struct contract *k, enum severity sev, int s)
{
    if (!k || (unsigned)sev > SEV_INFO)
        return 0;
    if (k->due_s[sev][s] > 0)
        return k->due_s[sev][s];
    if (s != STAGE_ACK)
        return 0;
    /* respond_s is what a loaded config fills; a contract built without it counts in minutes */
    return k->respond_s[sev] > 0 ? k->respond_s[sev] : k->respond_minutes[sev] * 60;
}

void workorder_open(struct alert *a, const struct contract *k)
{
    memset(a->stages, 0, sizeof a->stages);
    a->outcome = OUTCOME_NONE;
    a->escalation_stage = 0;
    a->nescalated = 0;
    a->next_escalation_ts = 0;
    for (int s = 0; s < STAGE_COUNT; s++) {
        int secs = due_s(k, a->severity, s);
        a->stages[s].due_ts = secs > 0 ? a->raised_ts + (int64_t)secs * 1000 : 0;
        a->stages[s].met = MET_UNKNOWN;
    }
    mirror_ack(a);
    a->next_escalation_ts = next_due(a, a->raised_ts - 1);
}

int workorder_current(const struct alert *a)
{
    int cur = -1;
    for (int s = 0; s < STAGE_COUNT; s++)
        if (a->stages[s].ts)
            cur = s;
    return cur;
}

bool workorder_judge(struct alert *a, int64_t now)
{
    bool changed = false;
    for (int s = 0; s < STAGE_COUNT; s++) {
        struct alert_stage *st = &a->stages[s];
        enum stage_met m = MET_UNKNOWN;
        if (st->due_ts && st->ts)
            m = st->ts <= st->due_ts ? MET_YES : MET_NO;
        else if (st->due_ts && now >= st->due_ts)
            m = MET_NO;
        changed |= m != st->met;
        st->met = m;
    }
    return changed;
}

int workorder_stage(struct alert *a, enum stage s, const char *by, const char *name, const char *note, int64_t now)
{
    int cur = workorder_current(a);
    if ((int)s == cur)
        return 1;
    if ((int)s < cur)
        return 2;
    /* Done out of order by the clock (a command stamped before an earlier stage): never before it. */
    int64_t at = cur >= 0 && a->stages[cur].ts > now ? a->stages[cur].ts : now;
    for (int i = cur + 1; i <= (int)s; i++) {
        struct alert_stage *st = &a->stages[i];
        st->ts = at;
        snprintf(st->by, sizeof st->by, "%s", by ? by : "");
        snprintf(st->name, sizeof st->name, "%s", name ? name : "");
        /* The note is the commanded stage's; a skipped stage only takes its time. */
        snprintf(st->note, sizeof st->note, "%s", i == (int)s && note ? note : "");
    }
    mirror_ack(a);
    /* A stage still overdue keeps the escalation already planned for it; else the next due. */
    int64_t keep = missed(a, at) >= 0 ? a->next_escalation_ts : 0;
    a->next_escalation_ts = min_set(keep, next_due(a, at));
    workorder_judge(a, at);
    return 0;
}

static void reach_party(struct alert *a, const struct contract *k, int stage, int64_t now)
{
    if (!k || k->nparties == 0)
        return;
    int lvl = a->escalation < k->nparties ? a->escalation : k->nparties;
    const struct escalation_party *p = &k->parties[lvl - 1];
    if (a->nescalated > 0 && a->escalated_to[a->nescalated - 1].level >= p->level)
        return;
    if (a->nescalated == CONTRACT_MAX_PARTIES)
        return;
    struct alert_escalation *e = &a->escalated_to[a->nescalated++];
    e->level = p->level;
    snprintf(e->name, sizeof e->name, "%s", p->name);
    snprintf(e->identity, sizeof e->identity, "%s", p->identity);
    e->is_topic = p->is_topic;
    e->stage = (enum stage)stage;
    e->ts = now;
}

int workorder_escalate(struct alert *a, const struct contract *k, int64_t now, int64_t every_ms)
{
    if (!a->next_escalation_ts || now < a->next_escalation_ts)
        return 0;
    int m = missed(a, now);
    if (m < 0) {
        a->next_escalation_ts = next_due(a, now);
        return 0;
    }
    a->escalation++;
    a->escalation_stage = m + 1;
    reach_party(a, k, m, now);
    int64_t again = 0;
    if (every_ms > 0) {
        again = a->next_escalation_ts + every_ms;
        /* after a long suppression or a restart: one escalation now, not a burst */
        if (again <= now)
            again = now + every_ms;
    }
    a->next_escalation_ts = min_set(again, next_due(a, now));
    workorder_judge(a, now);
    return 1;
}

void workorder_close(struct alert *a, int64_t now)
{
    a->outcome = a->stages[STAGE_ON_SITE].ts ? OUTCOME_RESOLVED : OUTCOME_SELF_CLEARED;
    a->next_escalation_ts = 0;
    workorder_judge(a, now);
}

enum alert_event_kind workorder_event_of(enum stage s)
{
    return s == STAGE_ACK ? ALERT_ACKNOWLEDGED : s == STAGE_ON_SITE ? ALERT_ON_SITE : ALERT_RESOLVED;
}

int workorder_stage_of(enum alert_event_kind k)
{
    return k == ALERT_ACKNOWLEDGED ? STAGE_ACK
           : k == ALERT_ON_SITE    ? STAGE_ON_SITE
           : k == ALERT_RESOLVED   ? STAGE_RESOLVE
                                   : -1;
}
