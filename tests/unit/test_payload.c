/* test_payload: the exact bytes of every kind of MQTT payload and topic, for rows made by hand —
 * numbers in their shortest exact form, qualities, names with quotes, control characters,
 * Chinese text and broken UTF-8; alert events, the retained alerts/active list and daily reports. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "payload.h"

#define GW "gw-01"
#define PREFIX "caretaker/hongmei/gw-01"

static struct jbuf b;

static int valid_json(const char *s)
{
    cJSON *j = cJSON_ParseWithOpts(s, NULL, 1);
    cJSON_Delete(j);
    return j != NULL;
}

#define CHECK_JSON(got, want)                                                                    \
    do {                                                                                         \
        CHECK_MSG(strcmp((got), (want)) == 0, "\n  got  %s\n  want %s", (got), (want));          \
        CHECK_MSG(valid_json(got), "not valid JSON: %s", (got));                                 \
    } while (0)

#define CHECK_STR(got, want) CHECK_MSG(strcmp((got), (want)) == 0, "\n  got  %s\n  want %s", (got), (want))

static const char *number(double v)
{
    jbuf_reset(&b);
    payload_number(&b, v);
    return b.p;
}

static void test_numbers(void)
{
    CHECK_JSON(number(0.82), "0.82");
    /* float32 0.82 is 13757317 x 2^-24 = 0.819999992847442626953125: 15 digits (...443) read
     * back as another double (ulp 1.1e-16), 16 digits (...4426) as this one. */
    CHECK_JSON(number((double)0.82f), "0.8199999928474426");
    CHECK_JSON(number(2), "2");
    CHECK_JSON(number(-0.0), "0");
    CHECK_JSON(number(-2.5), "-2.5");
    CHECK_JSON(number(123456.75), "123456.75");   /* int32 123456 + float32 fraction 0.75 */
    CHECK_JSON(number(4294967295.0), "4294967295"); /* uint32 max */
    CHECK_JSON(number(1e20), "1e+20");            /* past 2^53: printed as a double */
    /* 1/3 = 0.333333333333333314829616256247...: 16 digits are the shortest that read back */
    CHECK_JSON(number(1.0 / 3.0), "0.3333333333333333");
    CHECK_JSON(number(NAN), "null");
    CHECK_JSON(number(INFINITY), "null");
    jbuf_reset(&b);
    payload_int(&b, INT64_MIN);
    CHECK_JSON(b.p, "-9223372036854775808");
}

static const char *string(const char *s)
{
    jbuf_reset(&b);
    payload_string(&b, s);
    return b.p;
}

static void test_strings(void)
{
    CHECK_JSON(string("manhole-3"), "\"manhole-3\"");
    /* UTF-8 passes through as it is: 红 = U+7EA2 = e7 ba a2, 梅 = U+6885 = e6 a2 85 */
    CHECK_JSON(string("\xe7\xba\xa2\xe6\xa2\x85-3"), "\"\xe7\xba\xa2\xe6\xa2\x85-3\"");
    CHECK_JSON(string("a\"b\\c\td\n"), "\"a\\\"b\\\\c\\td\\n\"");
    CHECK_JSON(string("x\x01y\x1f"), "\"x\\u0001y\\u001f\"");
    /* Broken UTF-8 becomes U+FFFD (ef bf bd) per bad byte: a stray continuation byte, an
     * overlong NUL (c0 80: two bad bytes), a lone lead byte at the end, an encoded surrogate
     * (ed a0 80: ed may not be followed by a0, so ed, a0 and 80 are each bad). */
    CHECK_JSON(string("a\x80z"), "\"a\xef\xbf\xbdz\"");
    CHECK_JSON(string("\xc0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    CHECK_JSON(string("end\xe7"), "\"end\xef\xbf\xbd\"");
    CHECK_JSON(string("\xed\xa0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    /* U+10FFFF (f4 8f bf bf) is the last code point; f4 90 would be past it */
    CHECK_JSON(string("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"");
    CHECK_JSON(string("\xf4\x90\x80\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
}

static void test_reading(void)
{
    struct outbox_value vals[] = {
        {"level", 0.82, Q_OK},
        {"decimals", 2, Q_OK},
        {"temperature", NAN, Q_INVALID},
        {"status", NAN, Q_OFFLINE},
        {"distance", INFINITY, Q_OK}, /* cannot be stored so, but must not make bad JSON */
    };
    struct outbox_row r = {.seq = 42, .kind = OUTBOX_READING, .ts_ms = 1700000000123LL, .device = "manhole-3",
                           .nvalues = 5, .values = vals, .full = 1, .snapshot_ts = 1700000000123LL};
    CHECK(payload_row(&b, GW, &r) == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":42,\"ts\":1700000000123,\"device\":\"manhole-3\","
                    "\"values\":{\"level\":0.82,\"decimals\":2},\"invalid\":[\"temperature\",\"distance\"],"
                    "\"offline\":[\"status\"],\"full\":true,\"snapshot_ts\":1700000000123}");
    CHECK(!payload_row_retained(&r));
    jbuf_reset(&b);
    payload_row_topic(&b, PREFIX, &r);
    CHECK_STR(b.p, "caretaker/hongmei/gw-01/devices/manhole-3/readings");

    /* All ok: no invalid or offline member. A Chinese device name (旧 = U+65E7 = e6 97 a7). */
    r.nvalues = 2;
    r.device = "\xe6\x97\xa7-1";
    r.seq = 1;
    r.ts_ms = 0;
    CHECK(payload_row(&b, GW, &r) == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":1,\"ts\":0,\"device\":\"\xe6\x97\xa7-1\","
                    "\"values\":{\"level\":0.82,\"decimals\":2},\"full\":true,\"snapshot_ts\":0}");

    /* Report by exception: a row with only the points that moved names its last full snapshot. */
    r.full = 0;
    r.ts_ms = 1700000000623LL;
    r.snapshot_ts = 1700000000123LL;
    r.nvalues = 1;
    CHECK(payload_row(&b, GW, &r) == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":1,\"ts\":1700000000623,\"device\":\"\xe6\x97\xa7-1\","
                    "\"values\":{\"level\":0.82},\"full\":false,\"snapshot_ts\":1700000000123}");
    /* Taken before the clock synchronized: marked, its ts to be corrected by the announced step. */
    r.clock_unsynced = true;
    CHECK(payload_row(&b, GW, &r) == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":1,\"ts\":1700000000623,\"device\":\"\xe6\x97\xa7-1\","
                    "\"values\":{\"level\":0.82},\"full\":false,\"snapshot_ts\":1700000000123,\"clock\":\"unsynced\"}");
    r.clock_unsynced = false;
    r.full = 1;
    r.ts_ms = 0;

    /* A poll where every read failed: empty values, all offline */
    r.nvalues = 1;
    r.values = &vals[3];
    CHECK(payload_row(&b, GW, &r) == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":1,\"ts\":0,\"device\":\"\xe6\x97\xa7-1\","
                    "\"values\":{},\"offline\":[\"status\"],\"full\":true,\"snapshot_ts\":0}");

    /* A name that would change the topic's shape */
    r.device = "a/b+c#";
    jbuf_reset(&b);
    payload_row_topic(&b, PREFIX, &r);
    CHECK_STR(b.p, "caretaker/hongmei/gw-01/devices/a_b_c_/readings");
}

static void test_events(void)
{
    struct outbox_row st = {.seq = 7, .kind = OUTBOX_DEVICE_STATE, .ts_ms = 1700000000500LL, .device = "manhole-3",
                            .body = "{\"state\":\"offline\",\"last_ok_ts\":1700000000000,\"errors\":3}"};
    CHECK(payload_row(&b, GW, &st) == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":7,\"ts\":1700000000500,\"device\":\"manhole-3\","
                    "\"state\":\"offline\",\"last_ok_ts\":1700000000000,\"errors\":3}");
    CHECK(payload_row_retained(&st));
    jbuf_reset(&b);
    payload_row_topic(&b, PREFIX, &st);
    CHECK_STR(b.p, "caretaker/hongmei/gw-01/devices/manhole-3/state");

    struct outbox_row ev = {.seq = 8, .kind = OUTBOX_EVENT, .ts_ms = 5,
                            .body = "{\"event\":\"buffer_overflow\",\"evicted\":10}"};
    CHECK(payload_row(&b, GW, &ev) == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":8,\"ts\":5,\"event\":\"buffer_overflow\",\"evicted\":10}");
    CHECK(!payload_row_retained(&ev));
    jbuf_reset(&b);
    payload_row_topic(&b, PREFIX, &ev);
    CHECK_STR(b.p, "caretaker/hongmei/gw-01/events");

    ev.body = "{}";
    CHECK(payload_row(&b, GW, &ev) == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":8,\"ts\":5}");

    struct outbox_row al = {.seq = 9, .kind = OUTBOX_ALERT, .ts_ms = 6, .device = "lift-b3u1",
                            .body = "{\"event\":\"raised\",\"id\":\"a-1\"}"};
    CHECK(payload_row(&b, GW, &al) == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":9,\"ts\":6,\"device\":\"lift-b3u1\","
                    "\"event\":\"raised\",\"id\":\"a-1\"}");
    jbuf_reset(&b);
    payload_row_topic(&b, PREFIX, &al);
    CHECK_STR(b.p, "caretaker/hongmei/gw-01/alerts");
}

/* The bodies the store keeps for device states and events, written by hand from docs/mqtt.md. */
static void test_bodies(void)
{
    jbuf_reset(&b);
    struct payload_device_info info = {"rs485-1", "3号楼北侧窨井", "level/ultrasonic-generic", "sewage.level", 7, NULL};
    CHECK(payload_device_state_body(&b, &info, false, 1700000000000, 3) == 0);
    CHECK_STR(b.p, "{\"state\":\"offline\",\"last_ok_ts\":1700000000000,\"errors\":3,\"bus\":\"rs485-1\","
                   "\"location\":\"3号楼北侧窨井\",\"driver\":\"level/ultrasonic-generic\",\"kind\":\"sewage.level\","
                   "\"unit\":7}");
    CHECK(payload_device_state_body(&b, &info, true, 0, 0) == 0);
    CHECK(strstr(b.p, "{\"state\":\"online\",\"last_ok_ts\":null,\"errors\":0,") == b.p);
    /* with what a city files the device under: only the members the config gave */
    struct device_asset asset = {.registration_code = "31103101002019120001", .has_position = true,
                                 .lat = 31.2304, .lon = 121.4737};
    info.asset = &asset;
    CHECK(payload_device_state_body(&b, &info, true, 0, 0) == 0);
    CHECK(strstr(b.p, ",\"unit\":7,\"asset\":{\"registration_code\":\"31103101002019120001\",\"lat\":31.2304,"
                      "\"lon\":121.4737}}") != NULL);
    CHECK(payload_point_missing_body(&b, "temperature") == 0);
    CHECK_STR(b.p, "{\"event\":\"point_missing\",\"point\":\"temperature\"}");
    CHECK(payload_buffer_overflow_body(&b, 2048, 4096, 1699990000000, 1699990102350, 512) == 0);
    CHECK_STR(b.p, "{\"event\":\"buffer_overflow\",\"evicted\":2048,\"evicted_total\":4096,"
                   "\"first_ts\":1699990000000,\"last_ts\":1699990102350,\"max_mb\":512}");
    struct daily_report r = {.day = "2024-06-01", .timezone = "Asia/Shanghai", .location = "3幢1单元",
                             .kind = "elevator", .from_ts = 1717171200000, .to_ts = 1717257600000,
                             .readings = 2, .first_ts = 1717171200312, .last_ts = 0, .ncounters = 1,
                             .counters = {{"runs", 214, 0, ""}}, .npeaks = 1,
                             .peaks = {{"peak_level", 0.8, 1717203600000, "m"}}, .minutes_in_alarm = 12.5,
                             .nfaults = 1, .faults = {{"door_failure", 1}}};
    CHECK(payload_daily_report(&b, &r) == 0);
    CHECK_STR(b.p, "{\"report\":\"daily\",\"day\":\"2024-06-01\",\"from_ts\":1717171200000,"
                   "\"to_ts\":1717257600000,\"timezone\":\"Asia/Shanghai\",\"location\":\"3幢1单元\","
                   "\"kind\":\"elevator\",\"readings\":2,\"first_reading_ts\":1717171200312,"
                   "\"last_reading_ts\":null,\"runs\":214,\"peak_level\":0.8,\"peak_level_ts\":1717203600000,"
                   "\"units\":{\"peak_level\":\"m\"},\"minutes_in_alarm\":12.5,\"faults\":{\"door_failure\":1}}");
}

static void test_status_reply_metrics(void)
{
    CHECK(payload_status(&b, GW, "online", "0.1.0", 1700000000000LL, 1700000000100LL) == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":0,\"ts\":1700000000100,\"state\":\"online\","
                    "\"version\":\"0.1.0\",\"started_ts\":1700000000000}");
    CHECK(payload_status(&b, GW, "offline", NULL, 0, 0) == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":0,\"state\":\"offline\"}");

    CHECK(payload_reply(&b, GW, 5, "ack", "r1", false, "unknown alert \"a-1\"") == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":0,\"ts\":5,\"cmd\":\"ack\",\"id\":\"r1\",\"ok\":false,"
                    "\"error\":\"unknown alert \\\"a-1\\\"\"}");
    CHECK(payload_reply(&b, GW, 6, "reload", NULL, true, "validated") == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":0,\"ts\":6,\"cmd\":\"reload\",\"ok\":true,"
                    "\"result\":\"validated\"}");

    struct payload_device devs[2] = {{.id = "manhole-3", .stats = {.polls_ok = 10, .polls_failed = 2, .timeouts = 2,
                                                                   .replies = 10, .rtt_us_total = 182000,
                                                                   .rtt_us_last = 17500, .rtt_us_max = 24100}},
                                     {.id = "flow-main", .stats = {.polls_ok = 12}}};
    struct payload_metrics m = {.ts_ms = 1700000060000LL, .started_ts_ms = 1700000000000LL, .ndevices = 2,
                                .devices = devs, .backlog = {.rows = 3, .oldest_seq = 17,
                                                             .oldest_ts_ms = 1700000030000LL},
                                .store = {.used_bytes = 4096, .file_bytes = 8192, .max_bytes = 1048576,
                                          .evicted_unsent = 5},
                                .rss_kb = 2048, .mqtt_connects = 1, .mqtt_published = 40, .mqtt_acked = 37, .mqtt_refused = 2,
                                .mqtt_inflight = 3, .commands_accepted = 2, .commands_refused = 5000, .dtu_refused = 150, .dtu_claims_refused = 1, .dtu_takeovers = 3,
                                .commands_replies_held = 4990, .commands_log_held = 4989};
    CHECK(payload_metrics(&b, GW, &m) == 0);
    CHECK_JSON(b.p,
               "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":0,\"ts\":1700000060000,\"uptime_s\":60,\"devices\":{"
               "\"manhole-3\":{\"polls_ok\":10,\"polls_failed\":2,\"timeouts\":2,\"bad_replies\":0,\"exceptions\":0,"
               "\"skipped\":0,\"replies\":10,\"rtt_us_total\":182000,\"rtt_us_last\":17500,\"rtt_us_max\":24100},"
               "\"flow-main\":{\"polls_ok\":12,\"polls_failed\":0,\"timeouts\":0,\"bad_replies\":0,"
               "\"exceptions\":0,\"skipped\":0,\"replies\":0,\"rtt_us_total\":0,\"rtt_us_last\":0,\"rtt_us_max\":0}},\"backlog\":{\"rows\":3,\"oldest_seq\":17,\"oldest_age_s\":30},"
               "\"store\":{\"used_bytes\":4096,\"file_bytes\":8192,\"max_bytes\":1048576,\"evicted_unsent\":5,"
               "\"evicted_sent\":0,\"expired\":0,\"write_errors\":0,\"lost_rows\":0},\"queue_dropped\":0,"
               "\"rss_kb\":2048,\"mqtt\":{\"connects\":1,\"published\":40,\"acked\":37,\"refused\":2,\"inflight\":3},"
               "\"commands\":{\"accepted\":2,\"refused\":5000,\"replies_held\":4990,\"log_held\":4989},\"dtu\":{\"refused\":150,\"claims_refused\":1,\"takeovers\":3}}");
}

static void test_alerts(void)
{
    struct alert_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = ALERT_ESCALATED;
    ev.ts = 1700001800000LL;
    struct alert *a = &ev.alert;
    snprintf(a->id, sizeof a->id, "lift-b3u1:trapped_passenger:1700000000000");
    snprintf(a->device, sizeof a->device, "lift-b3u1");
    snprintf(a->rule, sizeof a->rule, "trapped_passenger");
    a->severity = SEV_CRITICAL;
    snprintf(a->message_zh, sizeof a->message_zh, "困人");
    snprintf(a->message_en, sizeof a->message_en, "Passenger \"trapped\"");
    snprintf(a->point, sizeof a->point, "occupied");
    a->value = 1;
    a->raised_ts = 1700000000000LL;
    snprintf(a->contract, sizeof a->contract, "elevator-om");
    snprintf(a->contractor, sizeof a->contractor, "维保");
    /* raised + 30 min = 1700000000000 + 1800000 */
    a->respond_by_ts = 1700001800000LL;
    a->escalation = 1;
    a->next_escalation_ts = 1700003600000LL;
    /* the work order: the ack missed, level 1 told; arrival due at 30 min too */
    a->stages[STAGE_ACK].due_ts = a->respond_by_ts;
    a->stages[STAGE_ACK].met = MET_NO;
    a->stages[STAGE_ON_SITE].due_ts = 1700001800000LL;
    a->escalation_stage = 1 + STAGE_ACK;
    a->nescalated = 1;
    a->escalated_to[0] = (struct alert_escalation){1, "值班主管", "lift-co-duty", false, STAGE_ACK, 1700001800000LL};
    CHECK(payload_alert_event(&b, &ev, "3幢1单元", NULL, NULL, false) == 0);
    CHECK_JSON(b.p, "{\"event\":\"escalated\",\"id\":\"lift-b3u1:trapped_passenger:1700000000000\","
                    "\"location\":\"3幢1单元\",\"rule\":\"trapped_passenger\",\"severity\":\"critical\","
                    "\"message\":{\"zh\":\"困人\",\"en\":\"Passenger \\\"trapped\\\"\"},\"point\":\"occupied\","
                    "\"value\":1,\"raised_ts\":1700000000000,\"contract\":\"elevator-om\",\"contractor\":\"维保\","
                    "\"respond_by_ts\":1700001800000,\"escalation\":1,\"next_escalation_ts\":1700003600000,"
                    "\"acked\":false,\"acked_by\":\"\",\"acked_ts\":null,\"flapping\":false,\"cleared_ts\":null,"
                    "\"stages\":{\"ack\":{\"due_ts\":1700001800000,\"ts\":null,\"by\":\"\",\"name\":\"\",\"note\":\"\","
                    "\"met\":false},\"on_site\":{\"due_ts\":1700001800000,\"ts\":null,\"by\":\"\",\"name\":\"\","
                    "\"note\":\"\",\"met\":null},\"resolve\":{\"due_ts\":null,\"ts\":null,\"by\":\"\",\"name\":\"\","
                    "\"note\":\"\",\"met\":null}},\"outcome\":null,\"escalation_stage\":\"ack\","
                    "\"escalated_to\":[{\"level\":1,\"name\":\"值班主管\",\"identity\":\"lift-co-duty\","
                    "\"stage\":\"ack\",\"ts\":1700001800000}],\"escalated\":{\"stage\":\"ack\",\"level\":1,"
                    "\"name\":\"值班主管\",\"identity\":\"lift-co-duty\"}}");
    /* Acknowledged with a note, of a device no longer configured (device in the body), value unknown */
    ev.kind = ALERT_ACKNOWLEDGED;
    a->acked = true;
    snprintf(a->acked_by, sizeof a->acked_by, "wang");
    a->acked_ts = 1700001900000LL;
    a->next_escalation_ts = 0;
    a->value = NAN;
    a->respond_by_ts = 0;
    memset(a->stages, 0, sizeof a->stages);
    a->stages[STAGE_ACK] = (struct alert_stage){0, 1700001900000LL, "wang", "王工", "on site", MET_UNKNOWN};
    a->escalated_to[0].is_topic = true;
    CHECK(payload_alert_event(&b, &ev, "", "on site", "王工", true) == 0);
    CHECK_JSON(b.p, "{\"event\":\"acknowledged\",\"device\":\"lift-b3u1\","
                    "\"id\":\"lift-b3u1:trapped_passenger:1700000000000\",\"location\":\"\","
                    "\"rule\":\"trapped_passenger\",\"severity\":\"critical\","
                    "\"message\":{\"zh\":\"困人\",\"en\":\"Passenger \\\"trapped\\\"\"},\"point\":\"occupied\","
                    "\"value\":null,\"raised_ts\":1700000000000,\"contract\":\"elevator-om\",\"contractor\":\"维保\","
                    "\"respond_by_ts\":null,\"escalation\":1,\"next_escalation_ts\":null,"
                    "\"acked\":true,\"acked_by\":\"wang\",\"acked_ts\":1700001900000,\"flapping\":false,"
                    "\"cleared_ts\":null,\"stages\":{\"ack\":{\"due_ts\":null,\"ts\":1700001900000,\"by\":\"wang\","
                    "\"name\":\"王工\",\"note\":\"on site\",\"met\":null},\"on_site\":{\"due_ts\":null,\"ts\":null,"
                    "\"by\":\"\",\"name\":\"\",\"note\":\"\",\"met\":null},\"resolve\":{\"due_ts\":null,\"ts\":null,"
                    "\"by\":\"\",\"name\":\"\",\"note\":\"\",\"met\":null}},\"outcome\":null,"
                    "\"escalation_stage\":\"ack\",\"escalated_to\":[{\"level\":1,\"name\":\"值班主管\","
                    "\"topic\":\"lift-co-duty\",\"stage\":\"ack\",\"ts\":1700001800000}],"
                    "\"note\":\"on site\",\"acked_name\":\"王工\"}");

    /* The retained list: empty, then one alert */
    CHECK(payload_alerts_active(&b, GW, 1700002000000LL, 0, NULL, NULL, 0) == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":0,\"ts\":1700002000000,\"last_alert_seq\":0,"
                    "\"count\":0,\"alerts\":[]}");
    struct alert one;
    memset(&one, 0, sizeof one);
    snprintf(one.id, sizeof one.id, "m:high_level:5");
    snprintf(one.device, sizeof one.device, "m");
    snprintf(one.rule, sizeof one.rule, "high_level");
    one.severity = SEV_MAJOR;
    one.value = 1.25;
    one.raised_ts = 5;
    const char *locs[] = {"北"};
    CHECK(payload_alerts_active(&b, GW, 6, 42, &one, locs, 1) == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":0,\"ts\":6,\"last_alert_seq\":42,\"count\":1,"
                    "\"alerts\":[{\"device\":\"m\",\"id\":\"m:high_level:5\",\"location\":\"北\","
                    "\"rule\":\"high_level\",\"severity\":\"major\",\"message\":{\"zh\":\"\",\"en\":\"\"},"
                    "\"point\":\"\",\"value\":1.25,\"raised_ts\":5,\"contract\":\"\",\"contractor\":\"\","
                    "\"respond_by_ts\":null,\"escalation\":0,\"next_escalation_ts\":null,\"acked\":false,"
                    "\"acked_by\":\"\",\"acked_ts\":null,\"flapping\":false,\"cleared_ts\":null,"
                    "\"stages\":{\"ack\":{\"due_ts\":null,\"ts\":null,\"by\":\"\",\"name\":\"\",\"note\":\"\","
                    "\"met\":null},\"on_site\":{\"due_ts\":null,\"ts\":null,\"by\":\"\",\"name\":\"\",\"note\":\"\","
                    "\"met\":null},\"resolve\":{\"due_ts\":null,\"ts\":null,\"by\":\"\",\"name\":\"\",\"note\":\"\","
                    "\"met\":null}},\"outcome\":null,\"escalation_stage\":null,\"escalated_to\":[]}]}");

    /* A daily report row: a topic per device, retained, the stored body after the head */
    struct outbox_row rep = {.seq = 12, .kind = OUTBOX_REPORT, .ts_ms = 1717257600000LL, .device = "lift-b3u1",
                             .body = "{\"report\":\"daily\",\"runs\":50}"};
    CHECK(payload_row(&b, GW, &rep) == 0);
    CHECK_JSON(b.p, "{\"v\":1,\"gateway\":\"gw-01\",\"seq\":12,\"ts\":1717257600000,\"device\":\"lift-b3u1\","
                    "\"report\":\"daily\",\"runs\":50}");
    CHECK(payload_row_retained(&rep));
    jbuf_reset(&b);
    payload_row_topic(&b, PREFIX, &rep);
    CHECK_STR(b.p, "caretaker/hongmei/gw-01/reports/daily/lift-b3u1");
}

int main(void)
{
    test_numbers();
    test_strings();
    test_reading();
    test_events();
    test_bodies();
    test_status_reply_metrics();
    test_alerts();
    jbuf_free(&b);
    return check_report();
}
