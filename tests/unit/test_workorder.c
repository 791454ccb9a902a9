/* test_workorder: the stage machine of an alert under contract, with times worked out by hand —
 * due times per stage, met, skipped and backward stages, escalation naming the missed stage and
 * the party of its level, the outcome at clear. */
#include "check.h"
#include "workorder.h"

static const int64_t T0 = 1700000000000; /* the raise */
#define MIN(m) ((int64_t)(m) * 60000)

/* The contract of the brief's example: critical 5 / 30 / 120 min, three parties. */
static struct contract lift(void)
{
    struct contract k = {.id = "elevator-om", .contractor = "某电梯维保公司"};
    k.due_s[SEV_CRITICAL][STAGE_ACK] = 5 * 60;
    k.due_s[SEV_CRITICAL][STAGE_ON_SITE] = 30 * 60;
    k.due_s[SEV_CRITICAL][STAGE_RESOLVE] = 120 * 60;
    k.nparties = 3;
    k.parties[0] = (struct escalation_party){1, "维保公司值班主管", "lift-co-duty", false};
    k.parties[1] = (struct escalation_party){2, "物业/社区", "estate-office", false};
    k.parties[2] = (struct escalation_party){3, "区住建局", "district-housing", true};
    return k;
}

static struct alert raised(const struct contract *k, enum severity sev)
{
    struct alert a = {.raised_ts = T0, .severity = sev};
    workorder_open(&a, k);
    return a;
}

static void test_on_time(void)
{
    struct contract k = lift();
    struct alert a = raised(&k, SEV_CRITICAL);
    CHECK(a.stages[STAGE_ACK].due_ts == T0 + MIN(5) && a.respond_by_ts == T0 + MIN(5));
    CHECK(a.stages[STAGE_ON_SITE].due_ts == T0 + MIN(30) && a.stages[STAGE_RESOLVE].due_ts == T0 + MIN(120));
    CHECK(a.next_escalation_ts == T0 + MIN(5) && workorder_current(&a) == -1);
    CHECK(a.stages[STAGE_ACK].met == MET_UNKNOWN);
    /* 接单 at 3 min, 到场 at 25, 处置完成 at 100: each by its due time */
    CHECK(workorder_stage(&a, STAGE_ACK, "lift-co", "王师傅", "", T0 + MIN(3)) == 0);
    CHECK(a.acked && a.acked_ts == T0 + MIN(3) && strcmp(a.acked_by, "lift-co") == 0);
    CHECK(a.stages[STAGE_ACK].met == MET_YES && a.next_escalation_ts == T0 + MIN(30));
    CHECK(workorder_stage(&a, STAGE_ACK, "lift-co", "", "", T0 + MIN(4)) == 1); /* again: already */
    CHECK(a.acked_ts == T0 + MIN(3));
    CHECK(workorder_escalate(&a, &k, T0 + MIN(29), 0) == 0);
    CHECK(workorder_stage(&a, STAGE_ON_SITE, "lift-co", "王师傅", "到场", T0 + MIN(25)) == 0);
    CHECK(a.next_escalation_ts == T0 + MIN(120) && strcmp(a.stages[STAGE_ON_SITE].note, "到场") == 0);
    CHECK(workorder_stage(&a, STAGE_RESOLVE, "lift-co", "王师傅", "已解救", T0 + MIN(100)) == 0);
    CHECK(a.next_escalation_ts == 0 && workorder_current(&a) == STAGE_RESOLVE);
    for (int s = 0; s < STAGE_COUNT; s++)
        CHECK(a.stages[s].met == MET_YES);
    CHECK(workorder_stage(&a, STAGE_ON_SITE, "lift-co", "", "", T0 + MIN(101)) == 2); /* backwards */
    CHECK(workorder_stage(&a, STAGE_ACK, "lift-co", "", "", T0 + MIN(101)) == 2);
    /* the passenger is out and the condition clears at 101 min */
    workorder_close(&a, T0 + MIN(101));
    CHECK(a.outcome == OUTCOME_RESOLVED && a.escalation == 0 && a.nescalated == 0);
}

static void test_arrival_late(void)
{
    struct contract k = lift();
    struct alert a = raised(&k, SEV_CRITICAL);
    const int64_t every = MIN(10);
    CHECK(workorder_stage(&a, STAGE_ACK, "lift-co", "", "", T0 + MIN(2)) == 0);
    /* nobody by 30 min: level 1 for on_site, then every 10 min: level 2 at 40, level 3 at 50 */
    CHECK(workorder_escalate(&a, &k, T0 + MIN(30) - 1, every) == 0);
    CHECK(workorder_escalate(&a, &k, T0 + MIN(30), every) == 1);
    CHECK(a.escalation == 1 && a.escalation_stage == 1 + STAGE_ON_SITE && a.nescalated == 1);
    CHECK(a.escalated_to[0].level == 1 && strcmp(a.escalated_to[0].identity, "lift-co-duty") == 0);
    CHECK(a.escalated_to[0].ts == T0 + MIN(30) && a.escalated_to[0].stage == STAGE_ON_SITE);
    CHECK(a.stages[STAGE_ON_SITE].met == MET_NO && a.stages[STAGE_ACK].met == MET_YES);
    CHECK(a.next_escalation_ts == T0 + MIN(40));
    CHECK(workorder_escalate(&a, &k, T0 + MIN(40), every) == 1 && a.escalation == 2 && a.nescalated == 2);
    CHECK(strcmp(a.escalated_to[1].name, "物业/社区") == 0 && a.escalated_to[1].ts == T0 + MIN(40));
    /* arrived at 45, late: no escalation until the resolve deadline at 120 */
    CHECK(workorder_stage(&a, STAGE_ON_SITE, "lift-co", "", "", T0 + MIN(45)) == 0);
    CHECK(a.stages[STAGE_ON_SITE].met == MET_NO && a.next_escalation_ts == T0 + MIN(120));
    CHECK(workorder_escalate(&a, &k, T0 + MIN(50), every) == 0 && a.escalation == 2);
    /* not resolved by 120: level 3, the top; at 130 level 4 names the top party again, once */
    CHECK(workorder_escalate(&a, &k, T0 + MIN(120), every) == 1);
    CHECK(a.escalation == 3 && a.escalation_stage == 1 + STAGE_RESOLVE && a.nescalated == 3);
    CHECK(a.escalated_to[2].is_topic && strcmp(a.escalated_to[2].identity, "district-housing") == 0);
    CHECK(workorder_escalate(&a, &k, T0 + MIN(130), every) == 1 && a.escalation == 4 && a.nescalated == 3);
    workorder_close(&a, T0 + MIN(135));
    CHECK(a.outcome == OUTCOME_RESOLVED && a.stages[STAGE_RESOLVE].met == MET_NO && a.next_escalation_ts == 0);
}

static void test_skips_and_misses(void)
{
    struct contract k = lift();
    /* on site with no ack: the ack is taken at the same time; after its due time, so not met */
    struct alert a = raised(&k, SEV_CRITICAL);
    CHECK(workorder_escalate(&a, &k, T0 + MIN(5), 0) == 1 && a.escalation_stage == 1 + STAGE_ACK);
    CHECK(a.next_escalation_ts == T0 + MIN(30)); /* every 0: once per stage, the next at its due time */
    CHECK(workorder_stage(&a, STAGE_ON_SITE, "lift-co", "李", "", T0 + MIN(12)) == 0);
    CHECK(a.acked && a.stages[STAGE_ACK].ts == T0 + MIN(12) && strcmp(a.stages[STAGE_ACK].by, "lift-co") == 0);
    CHECK(a.stages[STAGE_ACK].met == MET_NO && a.stages[STAGE_ON_SITE].met == MET_YES);
    CHECK(a.next_escalation_ts == T0 + MIN(120));
    /* both deadlines missed while nobody answered: the latest missed stage is named */
    struct alert b = raised(&k, SEV_CRITICAL);
    CHECK(workorder_escalate(&b, &k, T0 + MIN(5), MIN(60)) == 1);
    CHECK(b.next_escalation_ts == T0 + MIN(30)); /* arrival's due time comes before 5 + 60 */
    CHECK(workorder_escalate(&b, &k, T0 + MIN(30), MIN(60)) == 1 && b.escalation_stage == 1 + STAGE_ON_SITE);
    CHECK(b.escalation == 2 && b.next_escalation_ts == T0 + MIN(90));
    /* acked late at 40: arrival still overdue, so its planned re-escalation stays */
    CHECK(workorder_stage(&b, STAGE_ACK, "ops", "", "", T0 + MIN(40)) == 0 && b.next_escalation_ts == T0 + MIN(90));
    /* resolved in one step: every stage taken at once */
    CHECK(workorder_stage(&b, STAGE_RESOLVE, "ops", "", "远程复位", T0 + MIN(50)) == 0);
    CHECK(b.stages[STAGE_ON_SITE].ts == T0 + MIN(50) && strcmp(b.stages[STAGE_ON_SITE].note, "") == 0);
    CHECK(strcmp(b.stages[STAGE_RESOLVE].note, "远程复位") == 0 && b.next_escalation_ts == 0);
    CHECK(b.stages[STAGE_RESOLVE].met == MET_YES && b.stages[STAGE_ON_SITE].met == MET_NO);
}

static void test_self_cleared(void)
{
    /* drainage: blockage arrive 4 h, clear 24 h; it clears by itself after 1 h, nobody came */
    struct contract k = {.id = "sewage-om"};
    k.due_s[SEV_MAJOR][STAGE_ON_SITE] = 4 * 3600;
    k.due_s[SEV_MAJOR][STAGE_RESOLVE] = 24 * 3600;
    k.respond_s[SEV_MAJOR] = 30 * 60;
    struct alert a = raised(&k, SEV_MAJOR);
    CHECK(a.stages[STAGE_ACK].due_ts == T0 + MIN(30) && a.stages[STAGE_ON_SITE].due_ts == T0 + MIN(240));
    CHECK(workorder_stage(&a, STAGE_ACK, "drain-co", "", "", T0 + MIN(10)) == 0);
    workorder_close(&a, T0 + MIN(60));
    CHECK(a.outcome == OUTCOME_SELF_CLEARED && a.next_escalation_ts == 0);
    /* never came due: not judged */
    CHECK(a.stages[STAGE_ACK].met == MET_YES && a.stages[STAGE_ON_SITE].met == MET_UNKNOWN &&
          a.stages[STAGE_RESOLVE].met == MET_UNKNOWN);
    /* no contract: no due times, nothing to escalate, stages still recorded */
    struct alert b = raised(NULL, SEV_MINOR);
    CHECK(b.next_escalation_ts == 0 && b.stages[STAGE_ACK].due_ts == 0);
    CHECK(workorder_stage(&b, STAGE_ON_SITE, "ops", "", "", T0 + 1) == 0 && b.stages[STAGE_ON_SITE].met == MET_UNKNOWN);
    /* respond_minutes alone (a contract built without the loader) gives the ack deadline */
    struct contract old = {.id = "old", .respond_minutes = {30, 240, 1440, 0}};
    struct alert c = raised(&old, SEV_MINOR);
    CHECK(c.stages[STAGE_ACK].due_ts == T0 + MIN(1440) && c.stages[STAGE_ON_SITE].due_ts == 0);
}

int main(void)
{
    test_on_time();
    test_arrival_late();
    test_skips_and_misses();
    test_self_cleared();
    return check_report();
}
