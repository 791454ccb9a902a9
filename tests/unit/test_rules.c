/* test_rules: rule compilation errors, and every step of the alert life cycle on a fake clock —
 * on-delay, sample count, hysteresis and minimum clear time, unknown data, suppression,
 * escalation times and levels, acknowledgement, flapping, one-shot events, communication lost,
 * restore without a second raise — then the engine over a hand-built config. */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "engine.h"
#include "payload.h"
#include "profile.h"
#include "rules.h"
#include "workorder.h"

#define MAX_EVENTS 64

struct recorder {
    int n;
    struct alert_event ev[MAX_EVENTS];
};

static void record(void *ctx, const struct alert_event *ev)
{
    struct recorder *r = ctx;
    if (r->n < MAX_EVENTS)
        r->ev[r->n] = *ev;
    r->n++;
}

static struct recorder rec;
static const struct alert_sink sink = {record, &rec};

static const int64_t t0 = 1700000000000;
#define S(x) ((int64_t)((x) * 1000.0))

/* Points: 0 level, 1 door, 2 mode. */
#define POINTS                                                                                                  \
    "'points':[{'name':'level','table':'holding','address':0,'type':'float32'},"                               \
    "{'name':'door','table':'holding','address':2,'type':'bool','bit':0},"                                     \
    "{'name':'mode','table':'holding','address':3,'type':'uint16'}]"

static const char profile_text[] =
    "{'driver':'test/x','kind':'sewage.level',"
    "'params':{'high_m':{'default':1.0},'high_for_s':{'default':30},'comm_lost_s':{'default':60}},"
    POINTS ","
    "'codes':{'mode':{'0':'正常','1':{'zh':'检修','en':'inspection'}}},"
    "'rules':["
    "{'id':'high','when':'level > params.high_m','clear':'level < params.high_m - 0.1',"
    " 'for_s':'params.high_for_s','clear_for_s':20,'severity':'major','suppress':'mode == 1',"
    " 'message':{'zh':'液位高 {level} m','en':'Level high: {level} m (limit {params.high_m})'}},"
    "{'id':'visit','kind':'event','when':'mode == 1','severity':'info',"
    " 'message':{'zh':'{mode.text}','en':'Mode now {mode.text}'}},"
    "{'id':'door_twice','when':'door','for_samples':2,'severity':'critical',"
    " 'message':{'zh':'门','en':'door'}},"
    "{'id':'flappy','when':'level > 5','severity':'minor','message':{'zh':'f','en':'f'}}]}";

static struct profile prof;

static const char *q(const char *s)
{
    static char buf[8192];
    size_t i = 0;
    for (; s[i] && i + 1 < sizeof buf; i++)
        buf[i] = s[i] == '\'' ? '"' : s[i];
    buf[i] = '\0';
    return buf;
}

static void load(void)
{
    struct diag d;
    diag_clear(&d);
    const char *t = q(profile_text);
    if (profile_parse(t, strlen(t), "drivers/test/x.json", &prof, &d)) {
        fprintf(stderr, "%s\n", d.msg);
        exit(1);
    }
}

static struct contract contract = {.id = "c1", .contractor = "某维保公司", .respond_minutes = {30, 240, 1440, 0}};

static struct rules_options options(void)
{
    struct rules_options o;
    rules_options_default(&o);
    o.escalate_every_ms = S(600);
    o.flap_max = 2;
    o.flap_window_ms = S(600);
    o.flap_hold_ms = S(300);
    return o;
}

static struct rules_device *device(const char *id)
{
    struct rules_options o = options();
    struct diag d;
    diag_clear(&d);
    struct rules_device *dev = rules_device_new(&prof, id, NULL, &contract, &o, t0, &d);
    if (!dev)
        fprintf(stderr, "%s\n", d.msg);
    return dev;
}

/* One poll; NAN marks a point whose sample is invalid. */
static void feed(struct rules_device *d, int64_t ts, double level, double door, double mode)
{
    double v[3] = {level, door, mode};
    uint8_t qual[3];
    for (int i = 0; i < 3; i++)
        qual[i] = isnan(v[i]) ? Q_INVALID : Q_OK;
    rules_feed(d, ts, v, qual, 3, &sink);
}

static int count(enum alert_event_kind kind, const char *rule)
{
    int n = 0;
    for (int i = 0; i < rec.n && i < MAX_EVENTS; i++)
        if (rec.ev[i].kind == kind && strcmp(rec.ev[i].alert.rule, rule) == 0)
            n++;
    return n;
}

static const struct alert_event *last_event(void)
{
    return rec.n > 0 && rec.n <= MAX_EVENTS ? &rec.ev[rec.n - 1] : NULL;
}

static void test_on_delay_escalation_ack_clear(void)
{
    rec.n = 0;
    struct rules_device *d = device("lv1");
    /* for_s = params.high_for_s = 30 s: true from t0, raised at the first poll 30 s later */
    feed(d, t0, 1.2, 0, 0);
    feed(d, t0 + S(10), 1.3, 0, 0);
    feed(d, t0 + S(29.999), 1.3, 0, 0);
    CHECK(rec.n == 0);
    feed(d, t0 + S(30), 1.2, 0, 0);
    CHECK(rec.n == 1 && count(ALERT_RAISED, "high") == 1);
    const struct alert_event *e = last_event();
    int64_t raised = t0 + S(30);
    char id[64];
    snprintf(id, sizeof id, "lv1:high:%lld", (long long)raised);
    CHECK(e && strcmp(e->alert.id, id) == 0 && e->ts == raised && e->alert.severity == SEV_MAJOR);
    CHECK(e && strcmp(e->alert.contract, "c1") == 0 && strcmp(e->alert.contractor, "某维保公司") == 0);
    /* major: 240 minutes to respond */
    int64_t respond_by = raised + S(240 * 60);
    CHECK(e && e->alert.respond_by_ts == respond_by);
    CHECK(e && strcmp(e->alert.message_en, "Level high: 1.2 m (limit 1)") == 0);
    CHECK(e && strcmp(e->alert.message_zh, "液位高 1.2 m") == 0);
    CHECK(e && strcmp(e->alert.point, "level") == 0 && e->alert.value == 1.2);
    /* still true: no second raise */
    feed(d, t0 + S(40), 1.4, 0, 0);
    CHECK(rec.n == 1);
    /* escalation: at respond_by, then every 600 s */
    rules_tick(d, respond_by - 1, &sink);
    CHECK(rec.n == 1);
    rules_tick(d, respond_by, &sink);
    CHECK(rec.n == 2 && last_event()->kind == ALERT_ESCALATED && last_event()->alert.escalation == 1);
    rules_tick(d, respond_by + S(599), &sink);
    CHECK(rec.n == 2);
    rules_tick(d, respond_by + S(600), &sink);
    CHECK(rec.n == 3 && last_event()->alert.escalation == 2);
    CHECK(last_event()->alert.next_escalation_ts == respond_by + S(1200));
    /* acknowledged: no more escalation */
    int64_t ack_at = respond_by + S(700);
    CHECK(rules_stage(d, id, STAGE_ACK, "wang", NULL, NULL, ack_at, &sink) == 0);
    CHECK(rec.n == 4 && last_event()->kind == ALERT_ACKNOWLEDGED && strcmp(last_event()->alert.acked_by, "wang") == 0);
    CHECK(last_event()->alert.acked_ts == ack_at);
    CHECK(rules_stage(d, id, STAGE_ACK, "li", NULL, NULL, ack_at + 1, &sink) == 1 && rec.n == 4);
    CHECK(rules_stage(d, "lv1:high:1", STAGE_ACK, "li", NULL, NULL, ack_at + 1, &sink) == -1);
    rules_tick(d, respond_by + S(1300), &sink);
    CHECK(rec.n == 4);
    struct alert act[4];
    CHECK(rules_active(d, act, 4) == 1 && act[0].acked && act[0].escalation == 2);
    /* hysteresis: 0.95 is below the limit but not below 0.9: nothing clears */
    int64_t t = respond_by + S(2000);
    feed(d, t, 0.95, 0, 0);
    feed(d, t + S(60), 0.95, 0, 0);
    CHECK(rec.n == 4);
    /* clear_for_s 20: clear true at t+100, an unknown sample at t+110 restarts the timer,
     * true again from t+115: cleared at t+135, not before */
    feed(d, t + S(100), 0.85, 0, 0);
    feed(d, t + S(110), NAN, 0, 0);
    feed(d, t + S(115), 0.85, 0, 0);
    feed(d, t + S(134.999), 0.85, 0, 0);
    CHECK(rec.n == 4);
    feed(d, t + S(135), 0.85, 0, 0);
    CHECK(rec.n == 5 && last_event()->kind == ALERT_CLEARED && strcmp(last_event()->alert.id, id) == 0);
    CHECK(last_event()->alert.cleared_ts == t + S(135) && !last_event()->alert.flapping);
    CHECK(rules_active(d, act, 4) == 0);
    rules_device_free(d);
}

static void test_pending_reset_and_unknown(void)
{
    rec.n = 0;
    struct rules_device *d = device("lv2");
    /* true 20 s, false once, then true again: the 30 s count restarts */
    feed(d, t0, 1.2, 0, 0);
    feed(d, t0 + S(20), 0.5, 0, 0);
    feed(d, t0 + S(25), 1.2, 0, 0);
    feed(d, t0 + S(50), 1.2, 0, 0);
    CHECK(rec.n == 0);
    feed(d, t0 + S(55), 1.2, 0, 0);
    CHECK(count(ALERT_RAISED, "high") == 1);
    rules_device_free(d);

    /* unknown level never raises however long it lasts, and restarts the count */
    rec.n = 0;
    d = device("lv3");
    for (int k = 0; k < 20; k++)
        feed(d, t0 + S(k * 10), NAN, 0, 0);
    feed(d, t0 + S(200), 1.2, 0, 0);
    feed(d, t0 + S(210), NAN, 0, 0);
    feed(d, t0 + S(235), 1.2, 0, 0);
    CHECK(rec.n == 0);
    feed(d, t0 + S(265), 1.2, 0, 0);
    CHECK(rec.n == 1);
    rules_device_free(d);
}

static void test_suppression(void)
{
    rec.n = 0;
    struct rules_device *d = device("lv4");
    /* inspection mode (mode 1): high level for 10 minutes raises nothing (the mode event is
     * not armed yet either: mode was never seen other than 1) */
    for (int k = 0; k <= 60; k++)
        feed(d, t0 + S(k * 10), 1.5, 0, 1);
    CHECK(rec.n == 0);
    /* back to normal: the on-delay starts from there */
    feed(d, t0 + S(610), 1.5, 0, 0);
    feed(d, t0 + S(639), 1.5, 0, 0);
    CHECK(rec.n == 0);
    feed(d, t0 + S(640), 1.5, 0, 0);
    CHECK(rec.n == 1 && count(ALERT_RAISED, "high") == 1);
    int64_t respond_by = t0 + S(640) + S(240 * 60);
    /* suppressed again while raised: the deadline passes without escalation */
    feed(d, t0 + S(700), 1.5, 0, 1);
    CHECK(count(ALERT_OCCURRED, "visit") == 1); /* 0 -> 1 seen: a maintenance visit */
    rules_tick(d, respond_by + S(1), &sink);
    rules_tick(d, respond_by + S(900), &sink);
    CHECK(count(ALERT_ESCALATED, "high") == 0);
    /* suppression ends: one escalation at once, the next 600 s later */
    feed(d, respond_by + S(1000), 1.5, 0, 0);
    CHECK(count(ALERT_ESCALATED, "high") == 1 && last_event()->ts == respond_by + S(1000));
    CHECK(last_event()->alert.next_escalation_ts == respond_by + S(1600));
    rules_device_free(d);
}

static void test_event_rule(void)
{
    rec.n = 0;
    struct rules_device *d = device("lv5");
    /* first sample already in mode 1: the edge was not seen, nothing fires */
    feed(d, t0, 0.5, 0, 1);
    feed(d, t0 + S(1), 0.5, 0, 1);
    CHECK(count(ALERT_OCCURRED, "visit") == 0);
    feed(d, t0 + S(2), 0.5, 0, 0);
    feed(d, t0 + S(3), 0.5, 0, 1);
    CHECK(count(ALERT_OCCURRED, "visit") == 1);
    const struct alert_event *e = last_event();
    /* each message takes the code's text in its own language */
    CHECK(e && strcmp(e->alert.message_en, "Mode now inspection") == 0);
    CHECK(e && strcmp(e->alert.message_zh, "检修") == 0);
    CHECK(e && e->alert.severity == SEV_INFO && e->alert.respond_by_ts == 0); /* info: 0 minutes = none */
    feed(d, t0 + S(4), 0.5, 0, 1);
    /* unknown in between does not make a new edge */
    feed(d, t0 + S(5), 0.5, 0, NAN);
    feed(d, t0 + S(6), 0.5, 0, 1);
    CHECK(count(ALERT_OCCURRED, "visit") == 1);
    struct alert act[2];
    CHECK(rules_active(d, act, 2) == 0);
    rules_device_free(d);
}

static void test_for_samples(void)
{
    rec.n = 0;
    struct rules_device *d = device("lv6");
    feed(d, t0, 0.5, 1, 0);
    CHECK(rec.n == 0);
    feed(d, t0 + S(0.5), 0.5, 0, 0);
    feed(d, t0 + S(1), 0.5, 1, 0);
    CHECK(rec.n == 0);
    feed(d, t0 + S(1.5), 0.5, 1, 0);
    CHECK(rec.n == 1 && count(ALERT_RAISED, "door_twice") == 1);
    /* critical: 30 minutes */
    CHECK(last_event()->alert.respond_by_ts == t0 + S(1.5) + S(30 * 60));
    rules_device_free(d);
    /* A deadline in seconds (respond_seconds) wins over the minutes: raised + 90 s. */
    rec.n = 0;
    contract.respond_s[SEV_CRITICAL] = 90;
    d = device("lv6s");
    feed(d, t0, 0.5, 1, 0);
    feed(d, t0 + S(0.5), 0.5, 1, 0);
    CHECK(rec.n == 1 && last_event()->alert.respond_by_ts == t0 + S(0.5) + S(90));
    CHECK(last_event()->alert.next_escalation_ts == t0 + S(0.5) + S(90));
    contract.respond_s[SEV_CRITICAL] = 0;
    rules_device_free(d);
}

static void test_flapping(void)
{
    rec.n = 0;
    struct rules_device *d = device("lv7");
    /* flap_max 2: the third raise within 600 s is held raised when it would clear */
    int64_t t = t0;
    for (int k = 0; k < 2; k++) {
        feed(d, t, 6, 0, 0);
        feed(d, t + S(10), 4, 0, 0);
        t += S(20);
    }
    CHECK(count(ALERT_RAISED, "flappy") == 2 && count(ALERT_CLEARED, "flappy") == 2);
    feed(d, t, 6, 0, 0);
    uint64_t g = rules_generation(d);
    feed(d, t + S(10), 4, 0, 0);
    CHECK(count(ALERT_RAISED, "flappy") == 3 && count(ALERT_CLEARED, "flappy") == 2);
    CHECK(rules_generation(d) != g);
    /* (levels above 5 also hold "high" raised: look for flappy among the active) */
    struct alert act[4];
    int n = rules_active(d, act, 4), held = 0;
    for (int i = 0; i < n && i < 4; i++)
        held += strcmp(act[i].rule, "flappy") == 0 && act[i].flapping;
    CHECK(held == 1);
    /* back and forth while held: no new raise; clears after 300 s of clear condition */
    feed(d, t + S(20), 6, 0, 0);
    feed(d, t + S(30), 4, 0, 0);
    feed(d, t + S(329), 4, 0, 0);
    CHECK(count(ALERT_RAISED, "flappy") == 3 && count(ALERT_CLEARED, "flappy") == 2);
    feed(d, t + S(330), 4, 0, 0);
    CHECK(count(ALERT_CLEARED, "flappy") == 3 && last_event()->alert.flapping);
    rules_device_free(d);
}

static void test_comm_lost(void)
{
    rec.n = 0;
    struct rules_device *d = device("lv8");
    feed(d, t0, 0.5, 0, 0);
    /* declared offline 10 s after the last reading; comm_lost_s = 60 from that reading */
    rules_offline(d, t0 + S(10), &sink);
    rules_tick(d, t0 + S(59.999), &sink);
    CHECK(rec.n == 0);
    rules_tick(d, t0 + S(60), &sink);
    CHECK(rec.n == 1 && count(ALERT_RAISED, "comm_lost") == 1);
    CHECK(last_event()->alert.severity == SEV_MINOR && strcmp(last_event()->alert.message_en, "Communication lost") == 0);
    CHECK(last_event()->alert.respond_by_ts == t0 + S(60) + S(1440 * 60));
    /* offline: every point unknown, so no other rule fires from the last values */
    rules_tick(d, t0 + S(120), &sink);
    CHECK(rec.n == 1);
    rules_online(d, t0 + S(130), &sink);
    CHECK(rec.n == 2 && last_event()->kind == ALERT_CLEARED && strcmp(last_event()->alert.rule, "comm_lost") == 0);
    /* a short outage (back before 60 s) raises nothing */
    feed(d, t0 + S(190), 0.5, 0, 0);
    rules_offline(d, t0 + S(200), &sink);
    feed(d, t0 + S(210), 0.5, 0, 0);
    rules_tick(d, t0 + S(400), &sink);
    CHECK(rec.n == 2);
    rules_device_free(d);
}

/* An alert as the store keeps it: its published form, parsed. */
static cJSON *alert_object(const struct alert *a)
{
    struct jbuf b = {0};
    CHECK(payload_alert(&b, a, "") == 0);
    cJSON *o = cJSON_Parse(b.p);
    jbuf_free(&b);
    return o;
}

static void test_restore(void)
{
    rec.n = 0;
    struct rules_device *d = device("lv9");
    feed(d, t0, 1.2, 0, 0);
    feed(d, t0 + S(30), 1.2, 0, 0);
    CHECK(rec.n == 1);
    struct alert saved;
    CHECK(rules_active(d, &saved, 1) == 1);
    /* persisted in its published form and read back */
    cJSON *j = alert_object(&saved);
    struct alert back;
    CHECK(j && alert_from_json(j, &back) == 0);
    CHECK(strcmp(back.id, saved.id) == 0 && back.respond_by_ts == saved.respond_by_ts && back.value == 1.2);
    cJSON_Delete(j);
    rules_device_free(d);

    /* restart: the alert comes back without an event; the condition is still true when read
     * again: not raised twice; then it clears under its old id */
    rec.n = 0;
    d = device("lv9");
    CHECK(rules_restore(d, &back) == 0);
    CHECK(rules_restore(d, &back) == -1);
    int64_t t = t0 + S(3600);
    feed(d, t, 1.3, 0, 0);
    feed(d, t + S(60), 1.3, 0, 0);
    CHECK(rec.n == 0);
    struct alert act[2];
    CHECK(rules_active(d, act, 2) == 1 && strcmp(act[0].id, saved.id) == 0);
    feed(d, t + S(100), 0.5, 0, 0);
    feed(d, t + S(120), 0.5, 0, 0);
    CHECK(rec.n == 1 && last_event()->kind == ALERT_CLEARED && strcmp(last_event()->alert.id, saved.id) == 0);
    /* escalation of a restored unacknowledged alert follows its saved deadline */
    rec.n = 0;
    struct rules_device *d2 = device("lv9");
    CHECK(rules_restore(d2, &back) == 0);
    rules_tick(d2, back.respond_by_ts, &sink);
    CHECK(rec.n == 1 && last_event()->kind == ALERT_ESCALATED && last_event()->alert.escalation == 1);
    rules_device_free(d2);
    rules_device_free(d);
}

/* A work order mid-way — stages, escalation to a named party, outcome — reads back as it was;
 * a record from before work orders (no "stages") gets its ack stage from acked_*. */
static void test_work_order_record(void)
{
    struct contract k = contract;
    k.due_s[SEV_MAJOR][STAGE_ON_SITE] = 4 * 3600;
    k.nparties = 1;
    k.parties[0] = (struct escalation_party){1, "物业/社区", "estate-office", false};
    struct alert a = {.id = "lv1:high:1", .device = "lv1", .rule = "high", .severity = SEV_MAJOR, .raised_ts = t0};
    a.value = NAN;
    workorder_open(&a, &k);
    CHECK(workorder_stage(&a, STAGE_ACK, "drain-co", "王工", "在路上\n20 分钟", t0 + S(60)) == 0);
    CHECK(workorder_escalate(&a, &k, t0 + S(4 * 3600), 0) == 1);
    cJSON *j = alert_object(&a);
    struct alert back;
    CHECK(j && alert_from_json(j, &back) == 0);
    CHECK(back.acked && back.acked_ts == t0 + S(60) && strcmp(back.stages[STAGE_ACK].note, "在路上\n20 分钟") == 0);
    CHECK(strcmp(back.stages[STAGE_ACK].name, "王工") == 0 && back.stages[STAGE_ACK].met == MET_YES);
    CHECK(back.stages[STAGE_ON_SITE].due_ts == t0 + S(4 * 3600) && back.stages[STAGE_ON_SITE].met == MET_NO);
    CHECK(back.stages[STAGE_RESOLVE].due_ts == 0 && back.stages[STAGE_RESOLVE].met == MET_UNKNOWN);
    CHECK(back.escalation == 1 && back.escalation_stage == 1 + STAGE_ON_SITE && back.nescalated == 1);
    CHECK(strcmp(back.escalated_to[0].identity, "estate-office") == 0 && back.escalated_to[0].ts == t0 + S(4 * 3600));
    CHECK(back.outcome == OUTCOME_NONE);
    workorder_close(&back, t0 + S(5 * 3600));
    cJSON_Delete(j);
    j = alert_object(&back);
    struct alert closed;
    CHECK(j && alert_from_json(j, &closed) == 0 && closed.outcome == OUTCOME_SELF_CLEARED);
    /* the old form */
    cJSON_DeleteItemFromObject(j, "stages");
    cJSON_DeleteItemFromObject(j, "outcome");
    cJSON_DeleteItemFromObject(j, "escalation_stage");
    cJSON_DeleteItemFromObject(j, "escalated_to");
    CHECK(alert_from_json(j, &closed) == 0);
    CHECK(closed.stages[STAGE_ACK].ts == t0 + S(60) && strcmp(closed.stages[STAGE_ACK].by, "drain-co") == 0);
    CHECK(closed.stages[STAGE_ACK].due_ts == closed.respond_by_ts && closed.nescalated == 0);
    /* a stage of the wrong type does not read back */
    cJSON_AddItemToObject(j, "stages", cJSON_CreateString("ack"));
    CHECK(alert_from_json(j, &closed) == -1);
    cJSON_Delete(j);
}

/* Loads a profile text expecting an error containing needle. */
static void expect_error(const char *text, const char *needle)
{
    struct profile p;
    struct diag d;
    diag_clear(&d);
    const char *t = q(text);
    CHECK_MSG(profile_parse(t, strlen(t), "drivers/test/x.json", &p, &d) == -1, "loaded: %s", text);
    CHECK_MSG(strstr(d.msg, needle) != NULL, "\"%s\" does not contain \"%s\"", d.msg, needle);
}

#define HEAD "{'driver':'test/x','kind':'elevator','params':{'t':{'default':5}}," POINTS ",'rules':["
#define GOOD "{'id':'ok','when':'door','severity':'minor','message':{'zh':'a','en':'b'}}"

static void test_compile_errors(void)
{
    expect_error(HEAD GOOD "," GOOD "," "{'id':'x','when':'door && levl > 1','severity':'minor','message':{'zh':'a','en':'b'}}]}",
                 "drivers/test/x.json: rules[1].id: \"ok\" is already the id of rules[0]");
    expect_error(HEAD GOOD ",{'id':'b','when':'door','severity':'minor','message':{'zh':'a','en':'b'}},"
                 "{'id':'c','when':'door && levl > 1','severity':'minor','message':{'zh':'a','en':'b'}}]}",
                 "drivers/test/x.json: rules[2].when: column 9: unknown point \"levl\" (did you mean \"level\"?)");
    expect_error(HEAD "{'id':'a','when':'door','severity':'urgent','message':{'zh':'a','en':'b'}}]}",
                 "rules[0].severity: \"urgent\" is not a severity");
    expect_error(HEAD "{'id':'a','when':'door','severity':'minor','times':3,'message':{'zh':'a','en':'b'}}]}",
                 "rules[0].within_s: missing (expected the window in which the 3 occurrences count)");
    expect_error(HEAD "{'id':'a','when':'door','severity':'minor','within_s':60,'message':{'zh':'a','en':'b'}}]}",
                 "rules[0].within_s: applies only with \"times\" above 1");
    expect_error(HEAD "{'id':'a','when':'door','severity':'minor','times':11,'within_s':60,'message':{'zh':'a','en':'b'}}]}",
                 "rules[0].times: 11 is out of range");
    expect_error(HEAD "{'id':'a','when':'door','severity':'minor','message':{'zh':'{lvl}','en':'b'}}]}",
                 "rules[0].message.zh: {lvl} names no point or param");
    expect_error(HEAD "{'id':'a','when':'door','severity':'minor','message':{'zh':'{door.text}','en':'b'}}]}",
                 "{door.text}: no code table \"door\"");
    expect_error(HEAD "{'id':'a','when':'door','severity':'minor','message':{'en':'b'}}]}",
                 "rules[0].message.zh: missing");
    expect_error(HEAD "{'id':'a','when':'door','severity':'minor','for_s':-1,'message':{'zh':'a','en':'b'}}]}",
                 "rules[0].for_s: -1 (expected 0 to");
    expect_error(HEAD "{'id':'a','when':'door','severity':'minor','for_s':'params.t - 10','message':{'zh':'a','en':'b'}}]}",
                 "rules[0].for_s: \"params.t - 10\" is -5 with the profile's defaults");
    expect_error(HEAD "{'id':'a','when':'door','severity':'minor','for_s':'level','message':{'zh':'a','en':'b'}}]}",
                 "rules[0].for_s: column 1: point \"level\" here");
    expect_error(HEAD "{'id':'a','when':'delta(level, params.t - 5) > 0','severity':'minor','message':{'zh':'a','en':'b'}}]}",
                 "rules[0].when: window of history function 1 is not 0 < seconds");
    expect_error(HEAD "{'id':'a','when':'1 > 0','severity':'minor','message':{'zh':'a','en':'b'}}]}",
                 "rules[0].when: names no point");
    expect_error(HEAD "{'id':'a','kind':'event','when':'door','clear':'!door','severity':'minor','message':{'zh':'a','en':'b'}}]}",
                 "rules[0].clear: not allowed on an event rule");
    expect_error(HEAD "{'id':'comm_lost','when':'door','severity':'minor','message':{'zh':'a','en':'b'}}]}",
                 "built-in communication-lost rule");
    expect_error(HEAD "{'id':'a','when':'door','severity':'minor','for_sec':3,'message':{'zh':'a','en':'b'}}]}",
                 "rules[0].for_sec: unknown key \"for_sec\" (did you mean \"for_s\"?)");
    expect_error(HEAD "{'id':'a','when':'door','severity':'minor','suppress':'mode = 1','message':{'zh':'a','en':'b'}}]}",
                 "rules[0].suppress: column 6: \"=\" is not an operator");
}

/* The engine over a config built by hand: two devices, a contract by kind, one by id. */
static void test_engine(void)
{
    rec.n = 0;
    struct device d1 = {0}, d2 = {0};
    snprintf(d1.id, sizeof d1.id, "mh-1");
    snprintf(d2.id, sizeof d2.id, "mh-2");
    d1.profile = d2.profile = &prof;
    d2.index = 1;
    d2.nparams = 1;
    snprintf(d2.params[0].name, sizeof d2.params[0].name, "high_m");
    d2.params[0].value = 2.0; /* override: mh-2's limit is 2 m */
    struct device *devs[2] = {&d1, &d2};
    char cov_kind[1][NAME_MAX_LEN] = {"sewage"};
    char cov_id[1][NAME_MAX_LEN] = {"mh-2"};
    struct contract ks[2] = {
        {.id = "drain", .contractor = "甲公司", .ncovers = 1, .covers = cov_kind, .respond_minutes = {240, 240, 1440}},
        {.id = "special", .contractor = "乙公司", .ncovers = 1, .covers = cov_id, .respond_minutes = {60, 120, 600}}};
    struct config cfg = {0};
    cfg.ndevices = 2;
    cfg.devices = devs;
    cfg.ncontracts = 2;
    cfg.contracts = ks;
    struct rules_options o = options();
    struct diag err;
    diag_clear(&err);
    struct engine *e = engine_new(&cfg, &o, t0, &err);
    CHECK(e != NULL);
    if (!e)
        return;
    struct msg *m = calloc(1, sizeof *m + 3 * sizeof(double) + 3);
    double vals[3] = {1.5, 0, 0};
    uint8_t qual[3] = {Q_OK, Q_OK, Q_OK};
    m->kind = MSG_READING;
    m->npoints = 3;
    m->values = vals;
    m->quality = qual;
    for (int dev = 0; dev < 2; dev++) {
        m->device = dev;
        m->ts_ms = t0;
        engine_handle(e, m, &sink);
        m->ts_ms = t0 + S(30);
        engine_handle(e, m, &sink);
    }
    /* 1.5 m is high for mh-1 (1.0) but not for mh-2 (2.0) */
    CHECK(rec.n == 1 && strcmp(last_event()->alert.device, "mh-1") == 0);
    CHECK(strcmp(last_event()->alert.contract, "drain") == 0);
    CHECK(engine_active(e, NULL, 0) == 1);
    /* mh-2 is covered by its own contract, more specific than the kind */
    CHECK(alert_contract_for(&cfg, &d2) == &ks[1] && alert_contract_for(&cfg, &d1) == &ks[0]);
    /* offline mh-2 for 60 s: comm_lost under contract "special", minor: 600 minutes */
    m->kind = MSG_DEVICE_OFFLINE;
    m->device = 1;
    m->ts_ms = t0 + S(60);
    engine_handle(e, m, &sink);
    engine_tick(e, t0 + S(90), &sink);
    CHECK(rec.n == 2 && strcmp(last_event()->alert.rule, "comm_lost") == 0);
    CHECK(last_event()->alert.respond_by_ts == t0 + S(90) + S(600 * 60));
    char id[ALERT_ID_LEN];
    snprintf(id, sizeof id, "%s", last_event()->alert.id);
    uint64_t g = engine_generation(e);
    CHECK(engine_stage(e, id, STAGE_ACK, "ops", NULL, NULL, t0 + S(100), &sink) == 0 && engine_generation(e) != g);
    CHECK(engine_stage(e, "nope", STAGE_ACK, "ops", NULL, NULL, t0 + S(100), &sink) == -1);
    /* saved as the core saves them: each active alert in its published form (payload_alert) */
    struct alert now_active[4];
    int nact = engine_active(e, now_active, 4);
    cJSON *active = cJSON_CreateArray();
    for (int i = 0; i < nact && i < 4; i++)
        cJSON_AddItemToArray(active, alert_object(&now_active[i]));
    CHECK(cJSON_GetArraySize(active) == 2);
    engine_free(e);

    /* restart: both come back without events; one saved for a device no longer configured
     * is cleared */
    rec.n = 0;
    e = engine_new(&cfg, &o, t0 + S(200), &err);
    cJSON *gone = alert_object(&(struct alert){.id = "old:high:1", .device = "old", .rule = "high"});
    cJSON_AddItemToArray(active, gone);
    int bad = -1;
    CHECK(engine_restore_json(e, active, t0 + S(200), &sink, &bad) == 2 && bad == 0);
    CHECK(rec.n == 1 && last_event()->kind == ALERT_CLEARED && strcmp(last_event()->alert.id, "old:high:1") == 0);
    CHECK(engine_active(e, NULL, 0) == 2);
    cJSON_Delete(active);
    /* mh-2 answers again: its communication-lost alert clears */
    m->kind = MSG_READING;
    m->device = 1;
    m->ts_ms = t0 + S(210);
    engine_handle(e, m, &sink);
    CHECK(rec.n == 2 && last_event()->kind == ALERT_CLEARED && strcmp(last_event()->alert.id, id) == 0);
    free(m);
    engine_free(e);
}


/* ---- shipped profiles driven with hand-made samples ------------------------------------------ */

struct sampler {
    struct profile p;
    struct rules_device *d;
    double v[MAX_POINTS];
    uint8_t q[MAX_POINTS];
};

static int load_shipped(struct sampler *s, const char *driver)
{
    const char *src = getenv("CARETAKER_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/drivers/%s.json", src ? src : ".", driver);
    struct diag d;
    diag_clear(&d);
    if (profile_load_file(path, &s->p, &d)) {
        CHECK_MSG(0, "%s", d.msg);
        return -1;
    }
    struct rules_options o = options();
    s->d = rules_device_new(&s->p, "dev", NULL, &contract, &o, t0, &d);
    CHECK_MSG(s->d != NULL, "%s", d.msg);
    for (int i = 0; i < MAX_POINTS; i++) {
        s->v[i] = 0;
        s->q[i] = Q_OK;
    }
    return s->d ? 0 : -1;
}

static void set(struct sampler *s, const char *name, double v)
{
    int k = profile_point_index(&s->p, name);
    CHECK_MSG(k >= 0, "no point %s", name);
    if (k >= 0)
        s->v[k] = v;
}

static void poll_at(struct sampler *s, int64_t ts)
{
    rules_feed(s->d, ts, s->v, s->q, s->p.npoints, &sink);
}

static void drop(struct sampler *s)
{
    rules_device_free(s->d);
    profile_release(&s->p);
}

/* The car of scenario car-stuck: moving up, occupied, door closed, outside the zone at floor 3;
 * polls every second; it stops at t = 2 s. trapped_s = 30: every sample in [now - 30, now] must
 * be stopped and out of the zone, so the first such window is [2, 32]: raised at 32 s, not at
 * 31 s. stop_outside_zone (15 s from the first stopped sample at 2 s) comes first, at 17 s. */
static void test_elevator_trapped(void)
{
    struct sampler s;
    rec.n = 0;
    if (load_shipped(&s, "elevator/generic"))
        return;
    set(&s, "mode", 0);
    set(&s, "moving", 1);
    set(&s, "dir_up", 1);
    set(&s, "door_closed", 1);
    set(&s, "occupied", 1);
    set(&s, "safety_circuit", 1);
    set(&s, "door_lock", 1);
    set(&s, "mains_power", 1);
    set(&s, "floor", 3);
    set(&s, "speed", 1.0);
    for (int t = 0; t <= 31; t++) {
        if (t == 2) {
            set(&s, "moving", 0);
            set(&s, "dir_up", 0);
            set(&s, "speed", 0);
        }
        poll_at(&s, t0 + S(t));
        if (t == 16)
            CHECK(count(ALERT_RAISED, "stop_outside_zone") == 0);
        if (t == 17)
            CHECK(count(ALERT_RAISED, "stop_outside_zone") == 1);
    }
    CHECK(count(ALERT_RAISED, "trapped_passenger") == 0);
    poll_at(&s, t0 + S(32));
    CHECK(count(ALERT_RAISED, "trapped_passenger") == 1);
    const struct alert_event *e = last_event();
    CHECK(e && e->alert.severity == SEV_CRITICAL && e->alert.respond_by_ts == t0 + S(32) + S(30 * 60));
    CHECK(e && strcmp(e->alert.message_en, "Passenger trapped: occupied car stopped near floor 3 with the door closed") == 0);
    /* inspection mode: nothing new, and the raised alert does not escalate at its deadline */
    set(&s, "mode", 1);
    poll_at(&s, t0 + S(33));
    CHECK(count(ALERT_OCCURRED, "inspection_start") == 1);
    rules_tick(s.d, t0 + S(32) + S(30 * 60), &sink);
    CHECK(count(ALERT_ESCALATED, "trapped_passenger") == 0);
    /* rescued: the door opens at the floor; cleared 5 s later */
    set(&s, "mode", 0);
    set(&s, "door_zone", 1);
    set(&s, "door_open", 1);
    set(&s, "door_closed", 0);
    for (int t = 40; t <= 45; t++)
        poll_at(&s, t0 + S(t));
    CHECK(count(ALERT_CLEARED, "trapped_passenger") == 1 && count(ALERT_OCCURRED, "inspection_end") == 1);
    drop(&s);
}

static void test_elevator_door_and_speed(void)
{
    struct sampler s;
    rec.n = 0;
    if (load_shipped(&s, "elevator/generic"))
        return;
    set(&s, "mode", 0);
    set(&s, "door_zone", 1);
    set(&s, "door_closed", 1);
    set(&s, "door_lock", 1);
    set(&s, "safety_circuit", 1);
    set(&s, "mains_power", 1);
    set(&s, "floor", 2);
    poll_at(&s, t0);
    /* door-lock circuit opens while moving: one sample is not enough, two are */
    set(&s, "moving", 1);
    set(&s, "door_zone", 0);
    set(&s, "door_lock", 0);
    poll_at(&s, t0 + S(0.5));
    set(&s, "door_lock", 1);
    poll_at(&s, t0 + S(1));
    CHECK(count(ALERT_RAISED, "door_open_moving") == 0);
    set(&s, "door_lock", 0);
    poll_at(&s, t0 + S(1.5));
    poll_at(&s, t0 + S(2));
    CHECK(count(ALERT_RAISED, "door_open_moving") == 1);
    set(&s, "door_lock", 1);
    /* overspeed: rated 1.0 x 1.2 = 1.2 m/s; 1.19 never, 1.25 in two samples */
    set(&s, "speed", 1.19);
    poll_at(&s, t0 + S(3));
    poll_at(&s, t0 + S(4));
    CHECK(count(ALERT_RAISED, "overspeed") == 0);
    set(&s, "speed", 1.25);
    poll_at(&s, t0 + S(5));
    CHECK(count(ALERT_RAISED, "overspeed") == 0);
    poll_at(&s, t0 + S(6));
    CHECK(count(ALERT_RAISED, "overspeed") == 1 && last_event()->alert.value == 1.25);
    /* fault code text from the profile's table */
    set(&s, "fault_code", 6);
    poll_at(&s, t0 + S(7));
    CHECK(count(ALERT_RAISED, "controller_fault") == 1);
    CHECK(strcmp(last_event()->alert.message_en, "Controller fault 6: levelling fault") == 0);
    CHECK(strcmp(last_event()->alert.message_zh, "控制器故障码 6：平层故障") == 0);
    drop(&s);
}

static void test_level_alarms(void)
{
    struct sampler s;
    rec.n = 0;
    if (load_shipped(&s, "level/ultrasonic-generic"))
        return;
    /* pipe_d_m 0.4 with surcharge_ratio 1.0 would fire at 0.4 m: a deep pipe for this test */
    s.d = (rules_device_free(s.d), NULL);
    double params[MAX_PARAMS];
    for (int i = 0; i < s.p.nparams; i++)
        params[i] = strcmp(s.p.params[i].name, "pipe_d_m") == 0 ? 3.0 : s.p.params[i].value;
    struct rules_options o = options();
    struct diag d;
    diag_clear(&d);
    s.d = rules_device_new(&s.p, "mh", params, &contract, &o, t0, &d);
    if (!s.d)
        return;
    set(&s, "decimals", 2);
    set(&s, "level", 1.0);
    poll_at(&s, t0);
    /* high_m 1.2: two samples at or above */
    set(&s, "level", 1.25);
    poll_at(&s, t0 + S(5));
    CHECK(count(ALERT_RAISED, "high_level") == 0);
    poll_at(&s, t0 + S(10));
    CHECK(count(ALERT_RAISED, "high_level") == 1 && last_event()->alert.severity == SEV_MAJOR);
    /* rim 2.5: level 2.1 leaves 0.4 m (< 0.5: major); 2.35 leaves 0.15 m (< 0.2: critical) */
    set(&s, "level", 2.1);
    poll_at(&s, t0 + S(15));
    poll_at(&s, t0 + S(20));
    CHECK(count(ALERT_RAISED, "overflow_risk") == 1 && count(ALERT_RAISED, "overflow_imminent") == 0);
    CHECK(last_event()->alert.severity == SEV_MAJOR);
    set(&s, "level", 2.35);
    poll_at(&s, t0 + S(25));
    poll_at(&s, t0 + S(30));
    CHECK(count(ALERT_RAISED, "overflow_imminent") == 1 && last_event()->alert.severity == SEV_CRITICAL);
    CHECK(strcmp(last_event()->alert.message_en, "Overflow imminent: less than 0.2 m below the rim (level 2.35 m)") == 0);
    /* an invalid level (echo lost) raises none of them again and clears none */
    s.q[profile_point_index(&s.p, "level")] = Q_INVALID;
    int before = rec.n;
    poll_at(&s, t0 + S(35));
    CHECK(rec.n == before);
    drop(&s);
}

static void test_missing_data(void)
{
    struct sampler s;
    rec.n = 0;
    if (load_shipped(&s, "level/radar-float"))
        return;
    /* never read: counted from start; 600 s minor, 1800 s major, 3600 s critical */
    rules_tick(s.d, t0 + S(599.999), &sink);
    CHECK(rec.n == 0);
    rules_tick(s.d, t0 + S(600), &sink);
    CHECK(count(ALERT_RAISED, "missing_data_minor") == 1);
    rules_tick(s.d, t0 + S(1800), &sink);
    CHECK(count(ALERT_RAISED, "missing_data_major") == 1 && count(ALERT_RAISED, "missing_data_critical") == 0);
    rules_tick(s.d, t0 + S(3600), &sink);
    CHECK(count(ALERT_RAISED, "missing_data_critical") == 1);
    /* a valid level clears all three */
    set(&s, "level", 0.8);
    poll_at(&s, t0 + S(3700));
    CHECK(count(ALERT_CLEARED, "missing_data_minor") == 1 && count(ALERT_CLEARED, "missing_data_critical") == 1);
    drop(&s);
}

static void test_flow_alarms(void)
{
    struct sampler s;
    rec.n = 0;
    if (load_shipped(&s, "flow/electromagnetic-generic"))
        return;
    /* totalizer every 60 s; window 600 s: it goes back at 660 s */
    for (int k = 0; k <= 10; k++) {
        set(&s, "flow", 12);
        set(&s, "forward_total", 1000 + 0.2 * k);
        poll_at(&s, t0 + S(60 * k));
    }
    CHECK(count(ALERT_RAISED, "totalizer_anomaly") == 0);
    set(&s, "forward_total", 999);
    poll_at(&s, t0 + S(660));
    CHECK(count(ALERT_RAISED, "totalizer_anomaly") == 1);
    set(&s, "empty_pipe", 1);
    poll_at(&s, t0 + S(670));
    poll_at(&s, t0 + S(680));
    CHECK(count(ALERT_RAISED, "empty_pipe") == 1);
    drop(&s);
}

/* Inputs of other devices: rain_ingress needs rain (bound) and flow above 1.5 x its 7-day
 * average for 1800 s. A week of 10 m3/h every 10 min, then 30 m3/h: without rain, or with the
 * rain unknown, nothing; with rain = 1 from 7 d + 1 h, raised once 1800 s of it have passed. */
static void test_inputs_rain(void)
{
    struct sampler s;
    rec.n = 0;
    if (load_shipped(&s, "flow/electromagnetic-generic"))
        return;
    const int64_t week = 7 * 86400;
    double rain = 0;
    int64_t t = 0;
    for (; t <= week; t += 600) {
        set(&s, "flow", t % 1200 ? 9.5 : 10.5); /* averages 10, and is no flat line */
        rules_set_inputs(s.d, &rain, 1);
        poll_at(&s, t0 + S(t));
    }
    rec.n = 0; /* a week of escalations of whatever else was raised is not this test's */
    set(&s, "flow", 30);
    for (; t <= week + 3600; t += 600) {
        rules_set_inputs(s.d, &rain, 1);
        poll_at(&s, t0 + S(t));
    }
    CHECK(count(ALERT_RAISED, "rain_ingress") == 0);
    rain = NAN;
    for (; t <= week + 7200; t += 600) {
        rules_set_inputs(s.d, &rain, 1);
        poll_at(&s, t0 + S(t));
    }
    CHECK(count(ALERT_RAISED, "rain_ingress") == 0);
    rain = 1; /* from week + 7800 s: pending there, raised at week + 9600 s, not at week + 9000 s */
    for (; t <= week + 9000; t += 600) {
        rules_set_inputs(s.d, &rain, 1);
        poll_at(&s, t0 + S(t));
    }
    CHECK(count(ALERT_RAISED, "rain_ingress") == 0);
    rules_set_inputs(s.d, &rain, 1);
    poll_at(&s, t0 + S(week + 9600));
    CHECK(count(ALERT_RAISED, "rain_ingress") == 1);
    drop(&s);
}

/* suspected_blockage_trend: level rising >= 0.05 m/h while the flow downstream (input 1)
 * falls, over 1800 s, for 600 s. Level rising with the flow steady: nothing. */
static void test_inputs_blockage_trend(void)
{
    struct sampler s;
    rec.n = 0;
    if (load_shipped(&s, "level/ultrasonic-generic"))
        return;
    double in[2] = {NAN, 20}; /* downstream_level unknown: suspected_blockage stays silent */
    int64_t t = 0;
    for (; t <= 3600; t += 60) {
        set(&s, "level", 0.5 + 0.2 * (double)t / 3600);
        rules_set_inputs(s.d, in, 2);
        poll_at(&s, t0 + S(t));
    }
    CHECK(count(ALERT_RAISED, "suspected_blockage_trend") == 0);
    for (; t <= 7200; t += 60) {
        set(&s, "level", 0.5 + 0.2 * (double)t / 3600);
        in[1] = 20 - (double)(t - 3600) / 360;
        rules_set_inputs(s.d, in, 2);
        poll_at(&s, t0 + S(t));
    }
    CHECK(count(ALERT_RAISED, "suspected_blockage_trend") == 1);
    CHECK(count(ALERT_RAISED, "suspected_blockage") == 0);
    drop(&s);
}

/* dry_weather_flow on a storm pipe with the rain input bound: dry means no rain above rain_min
 * over dry_hours (here 1 h). Rain at 0.5 h, then dry: not raised until an hour after the rain
 * (and dry_flow_s, 600 s, of flow); with the input unknown, the rain param (0) decides. */
static void test_inputs_dry_weather(void)
{
    struct sampler s;
    rec.n = 0;
    if (load_shipped(&s, "flow/electromagnetic-generic"))
        return;
    double params[MAX_PARAMS];
    for (int i = 0; i < s.p.nparams; i++) {
        const char *n = s.p.params[i].name;
        params[i] = !strcmp(n, "storm_pipe") ? 1 : !strcmp(n, "dry_hours") ? 1 : !strcmp(n, "dry_flow_s") ? 600
                                                                                : s.p.params[i].value;
    }
    struct diag d;
    diag_clear(&d);
    struct rules_options o = options();
    rules_device_free(s.d);
    s.d = rules_device_new(&s.p, "dev", params, &contract, &o, t0, &d);
    CHECK_MSG(s.d != NULL, "%s", d.msg);
    if (!s.d)
        return;
    set(&s, "flow", 2);
    for (int64_t t = 0; t <= 7200; t += 60) {
        double rain = t == 1800 ? 3.0 : 0;
        rules_set_inputs(s.d, &rain, 1);
        poll_at(&s, t0 + S(t));
        /* the rain at 1800 s is in the 1 h window until 5400 s; raised 600 s after that */
        if (t == 5940)
            CHECK(count(ALERT_RAISED, "dry_weather_flow") == 0);
    }
    CHECK(count(ALERT_RAISED, "dry_weather_flow") == 1);
    drop(&s);
}

/* out_of_service counts daytime only: with TZ UTC, t0 is 22:13:20; no run from t0 on, polled
 * every 600 s. The 8 h window is known from 06:13 but judged only from 06:00 + 8 h = 14:00:
 * not raised at 13:53:20 (t0 + 56400 s), raised at 14:03:20 (t0 + 57000 s); a run clears it. */
static void test_out_of_service_daytime(void)
{
    setenv("TZ", "UTC0", 1);
    tzset();
    struct sampler s;
    if (load_shipped(&s, "elevator/generic"))
        return;
    const char *healthy[] = {"door_zone", "door_closed", "safety_circuit", "door_lock", "mains_power"};
    for (size_t i = 0; i < sizeof healthy / sizeof healthy[0]; i++)
        set(&s, healthy[i], 1);
    set(&s, "runs", 500);
    for (int64_t t = 0; t <= 56400; t += 600) {
        if (t == 50400)
            rec.n = 0;
        poll_at(&s, t0 + S(t));
    }
    CHECK(count(ALERT_RAISED, "out_of_service") == 0);
    poll_at(&s, t0 + S(57000));
    CHECK(count(ALERT_RAISED, "out_of_service") == 1);
    set(&s, "runs", 501);
    poll_at(&s, t0 + S(57600));
    CHECK(count(ALERT_CLEARED, "out_of_service") == 1);
    drop(&s);
}

/* sudden_drop against the same clock hour (TZ UTC; t0 is 22:13:20): flow 20 m3/h from 06:00 to
 * 22:00 and 4 m3/h at night, polled every 10 min from midnight for 8 days. Against a 7-day average of all hours
 * (about 14.7) every night would be a "drop" below half of it; against the same hour it is not:
 * nothing raised. On day 8 at 10:00 the flow falls to 6 (below 0.5 x 20): raised 30 min later. */
static void test_sudden_drop_same_hour(void)
{
    setenv("TZ", "UTC0", 1);
    tzset();
    struct sampler s;
    rec.n = 0;
    if (load_shipped(&s, "flow/electromagnetic-generic"))
        return;
    const int64_t midnight = 6400; /* s from t0 to the next 00:00 UTC */
    const int64_t drop_at = midnight + 7 * 86400 + 10 * 3600;
    int raised_before = -1;
    for (int64_t t = midnight; t <= drop_at + 3600; t += 600) {
        int64_t hour = ((t - midnight) % 86400 + 86400) % 86400 / 3600;
        set(&s, "flow", t >= drop_at ? 6 : hour >= 6 && hour < 22 ? 20 : 4);
        set(&s, "forward_total", 1000 + (double)t / 3600); /* no totalizer anomaly in the way */
        if (t == drop_at - 600)
            raised_before = count(ALERT_RAISED, "sudden_drop");
        poll_at(&s, t0 + S(t));
        if (t == drop_at + 1200)
            CHECK(count(ALERT_RAISED, "sudden_drop") == 0);
    }
    CHECK_MSG(raised_before == 0, "raised %d times before the drop (at night, against the all-hours mean?)",
              raised_before);
    CHECK(count(ALERT_RAISED, "sudden_drop") == 1);
    drop(&s);
}

/* door_failure counts failed movements: the door between its limits at a floor for 15 s is one;
 * three within 600 s raise. Failures at 0, 100 and 800 s: the first has left the window when
 * the third comes, so nothing; then failures at 900 s and 1000 s make three within 600 s
 * (800, 900, 1000): raised when the last has held 15 s, at 1015 s. */
static void test_door_failure_times(void)
{
    struct sampler s;
    rec.n = 0;
    if (load_shipped(&s, "elevator/generic"))
        return;
    const char *healthy[] = {"door_zone", "door_closed", "safety_circuit", "door_lock", "mains_power"};
    for (size_t i = 0; i < sizeof healthy / sizeof healthy[0]; i++)
        set(&s, healthy[i], 1);
    const int fail_at[] = {0, 100, 800, 900, 1000};
    for (int t = 0; t <= 1100; t++) {
        bool failing = false;
        for (size_t k = 0; k < sizeof fail_at / sizeof fail_at[0]; k++)
            failing = failing || (t >= fail_at[k] && t < fail_at[k] + 20);
        set(&s, "door_closed", !failing);
        if (t == 1014)
            CHECK(count(ALERT_RAISED, "door_failure") == 0);
        poll_at(&s, t0 + S(t));
    }
    CHECK(count(ALERT_RAISED, "door_failure") == 1);
    const struct alert_event *e = NULL;
    for (int i = 0; i < rec.n && i < MAX_EVENTS; i++)
        if (rec.ev[i].kind == ALERT_RAISED && strcmp(rec.ev[i].alert.rule, "door_failure") == 0)
            e = &rec.ev[i];
    CHECK(e && e->alert.raised_ts == t0 + S(1015));
    drop(&s);
}

int main(void)
{
    load();
    contract.covers = NULL;
    test_on_delay_escalation_ack_clear();
    test_pending_reset_and_unknown();
    test_suppression();
    test_event_rule();
    test_for_samples();
    test_flapping();
    test_comm_lost();
    test_restore();
    test_work_order_record();
    test_compile_errors();
    test_engine();
    test_elevator_trapped();
    test_elevator_door_and_speed();
    test_level_alarms();
    test_missing_data();
    test_flow_alarms();
    test_inputs_rain();
    test_inputs_blockage_trend();
    test_inputs_dry_weather();
    test_out_of_service_daytime();
    test_sudden_drop_same_hour();
    test_door_failure_times();
    profile_release(&prof);
    return check_report();
}
