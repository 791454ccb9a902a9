/* test_commands: the validation table of commands — each row the topic after cmd/ (verb and
 * identity), a payload, and the verdict expected from docs/mqtt.md (accepted, or refused with
 * these words) — and who may give which. */
#include <stdlib.h>

#include "check.h"
#include "commands.h"

struct row {
    const char *name;
    const char *payload;
    int retained;
    const char *error;  /* NULL: accepted */
    const char *id;     /* the correlation id the reply must carry, or NULL */
};

static const struct row table[] = {
    /* accepted */
    {"ack/ops", "{\"alert_id\":\"a-17\",\"by\":\"wang\"}", 0, NULL, NULL},
    {"ack/ops", "{\"alert_id\":\"a-17\",\"by\":\"\xe7\x8e\x8b\xe5\xb8\x88\xe5\x82\x85\",\"note\":\"on site\\nreset\","
            "\"id\":\"r-1\"}", 0, NULL, "r-1"},
    {"reload/ops", "{}", 0, NULL, NULL},
    {"reload/ops", " {\"id\":\"r-2\"} ", 0, NULL, "r-2"},
    {"on_site/ops", "{\"alert_id\":\"a-17\",\"by\":\"wang\",\"note\":\"arrived\"}", 0, NULL, NULL},
    {"resolve/lift-co", "{\"alert_id\":\"a-17\",\"id\":\"r-5\"}", 0, NULL, "r-5"},
    {"resolve/ops", "{\"alert_id\":\"a-17\",\"stage\":\"resolve\"}", 0,
     "unknown key \"stage\" (expected id, alert_id, by, note)", NULL},
    {"on_site/ops", "{}", 0, "alert_id: missing", NULL},
    {"resolve/ops", "{\"alert_id\":\"a-17\"}", 1, "retained command refused", NULL},
    {"onsite/ops", "{}", 0, "unknown command (expected ack, on_site, resolve, reload, visit or report)", NULL},
    /* the command word */
    {"status/ops", "{}", 0, "unknown command (expected ack, on_site, resolve, reload, visit or report)", NULL},
    {"ACK/ops", "{}", 0, "unknown command", NULL},
    {"/ops", "{}", 0, "unknown command", NULL},
    /* the identity: the sender's MQTT user name, one topic level */
    {"ack", "{}", 0, "topic: no identity after the verb", NULL},
    {"reload/", "{}", 0, "topic: the identity is not an MQTT user name", NULL},
    {"reload/ops/x", "{}", 0, "topic: the identity is not", NULL},
    {"reload/\xe7\x8e\x8b", "{}", 0, "topic: the identity is not", NULL},
    {"reload/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "{}", 0, "topic: the identity", NULL},
    {"reload/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "{}", 0, NULL, NULL},
    {"reload/Li.Wei@lift-co_2", "{}", 0, NULL, NULL},
    /* the payload as a whole */
    {"reload/ops", "", 0, "empty payload (expected a JSON object)", NULL},
    {"reload/ops", "{}", 1, "retained command refused", NULL},
    {"ack/ops", "{\"alert_id\":\"a-1\",\"by\":\"wang\",\"id\":\"r-9\"}", 1, "retained command refused", "r-9"},
    {"reload/ops", "[]", 0, "payload: [...] is an array (expected a JSON object)", NULL},
    {"reload/ops", "\"reload\"", 0, "(expected a JSON object)", NULL},
    {"reload/ops", "{", 0, "payload:1:2: invalid JSON: unexpected end of text", NULL},
    {"reload/ops", "{} x", 0, "payload:1:4: invalid JSON near \"x\"", NULL},
    {"reload/ops", "{\"id\":\"a\",\"id\":\"b\"}", 0, "duplicate", NULL},
    {"reload/ops", "{\"id\":\"\xff\"}", 0, "invalid UTF-8 byte 0xFF", NULL},
    /* keys and types */
    {"reload/ops", "{\"path\":\"/tmp/x.json\",\"id\":\"r-3\"}", 0, "unknown key \"path\" (expected id)", "r-3"},
    {"ack/ops", "{\"alert_id\":\"a-1\"}", 0, NULL, NULL}, /* by is a display name, optional */
    {"ack/ops", "{\"by\":\"wang\"}", 0, "alert_id: missing (expected a string)", NULL},
    {"ack/ops", "{\"alert_id\":17,\"by\":\"wang\",\"id\":\"r-4\"}", 0, "alert_id: 17 is a number (expected a string)",
     "r-4"},
    {"ack/ops", "{\"alert_id\":\"a-1\",\"by\":null}", 0, "by: null (expected a string)", NULL},
    {"ack/ops", "{\"alert_id\":\"a-1\",\"by\":[\"wang\"]}", 0, "by: [...] is an array (expected a string)", NULL},
    {"ack/ops", "{\"alert_id\":\"\",\"by\":\"wang\"}", 0, "alert_id: \"\" is empty", NULL},
    {"ack/ops", "{\"alert_id\":\"a-1\",\"by\":\"wang\",\"Note\":\"x\"}", 0,
     "unknown key \"Note\" (expected id, alert_id, by, note)", NULL},
    {"ack/ops", "{\"alert_id\":\"a\\u0000b\",\"by\":\"wang\"}", 0, "\\u0000 in a string", NULL},
    {"ack/ops", "{\"alert_id\":\"a-1\",\"by\":\"wa\\tng\"}", 0, "by: holds a control character", NULL},
    /* visits and monthly reports */
    {"visit/lift-co", "{\"device\":\"lift-1\",\"kind\":\"maintenance\",\"by\":\"wang\",\"note\":\"15-day items\"}", 0,
     NULL, NULL},
    {"visit/drain-co", "{\"device\":\"mh-3\",\"kind\":\"cleaning\"}", 0, NULL, NULL},
    {"visit/drain-co", "{\"device\":\"mh-3\",\"kind\":\"repair\"}", 0,
     "kind: \"repair\" is not a visit (expected maintenance, patrol or cleaning)", NULL},
    {"visit/drain-co", "{\"kind\":\"patrol\"}", 0, "device: missing (expected a string)", NULL},
    {"report/ops", "{\"month\":\"2026-11\",\"contract\":\"elevator-om\",\"id\":\"q\"}", 0, NULL, "q"},
    {"report/ops", "{\"month\":\"2026-11\"}", 0, "contract: missing (expected a string)", NULL},
    /* an id that is not valid is not echoed */
    {"reload/ops", "{\"id\":5}", 0, "id: 5 is a number (expected a string)", NULL},
};

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* Lengths at and past each bound: 160 bytes for alert ids, 64 for other ids, 512 for a note,
 * 4096 for a payload. */
static void test_bounds(void)
{
    struct command c;
    char err[256], p[8192];
    char *id64 = repeat('i', 160), *id65 = repeat('i', 161), *note512 = repeat('n', 512), *note513 = repeat('n', 513);
    snprintf(p, sizeof p, "{\"alert_id\":\"%s\",\"by\":\"wang\",\"note\":\"%s\"}", id64, note512);
    CHECK(commands_parse("ack/ops", p, strlen(p), false, &c, err, sizeof err) == 0);
    CHECK(strlen(c.alert_id) == 160 && strlen(c.note) == 512 && !strcmp(c.by, "wang"));
    snprintf(p, sizeof p, "{\"alert_id\":\"%s\",\"by\":\"wang\"}", id65);
    CHECK(commands_parse("ack/ops", p, strlen(p), false, &c, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "alert_id: 161 bytes long (expected at most 160)");
    snprintf(p, sizeof p, "{\"alert_id\":\"a\",\"by\":\"wang\",\"note\":\"%s\"}", note513);
    CHECK(commands_parse("ack/ops", p, strlen(p), false, &c, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "note: 513 bytes long (expected at most 512)");
    /* 64 three-byte characters are 192 bytes: bounds count bytes */
    char cjk[256] = "";
    for (int i = 0; i < 22; i++)
        strcat(cjk, "\xe7\x8e\x8b");
    snprintf(p, sizeof p, "{\"alert_id\":\"a\",\"by\":\"%s\"}", cjk);
    CHECK(commands_parse("ack/ops", p, strlen(p), false, &c, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "by: 66 bytes long");
    /* payload of 4097 bytes: "{}" then spaces */
    memset(p, ' ', 4097);
    p[0] = '{';
    p[1] = '}';
    CHECK(commands_parse("reload/ops", p, 4097, false, &c, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "payload of 4097 bytes (expected at most 4096)");
    CHECK(commands_parse("reload/ops", p, 4096, false, &c, err, sizeof err) == 0);
    /* a topic word longer than the reply keeps is cut, on a character boundary */
    char longname[128] = "";
    for (int i = 0; i < 20; i++)
        strcat(longname, "\xe7\x8e\x8b"); /* 60 bytes */
    strcat(longname, "/ops");
    CHECK(commands_parse(longname, "{}", 2, false, &c, err, sizeof err) == -1);
    CHECK(strlen(c.name) == 30); /* 32 would split the 11th character: 10 whole ones kept */
    free(id64);
    free(id65);
    free(note512);
    free(note513);
}

/* Who may give what: an admin anything; a contractor acks under its own contracts only. */
static void test_permit(void)
{
    struct commander who[2] = {{.identity = "ops", .role = ROLE_ADMIN},
                               {.identity = "lift-co", .role = ROLE_CONTRACTOR, .ncontracts = 2,
                                .contracts = {"elevator-om", "pilot-fast"}}};
    struct commands_config cc = {.ncommanders = 2, .commanders = who};
    struct contract lift = {.id = "elevator-om"}, fast = {.id = "pilot-fast"}, sewage = {.id = "sewage-om"};
    CHECK(commands_commander(&cc, "ops") == &who[0] && commands_commander(&cc, "lift-co") == &who[1]);
    CHECK(commands_commander(&cc, "Ops") == NULL && commands_commander(&cc, "") == NULL);
    struct command ack = {.kind = CMD_ACK, .name = "ack"}, reload = {.kind = CMD_RELOAD, .name = "reload"};
    char err[256];
    CHECK(commands_permit(&who[0], &ack, &sewage, err, sizeof err) == 0);
    CHECK(commands_permit(&who[0], &ack, NULL, err, sizeof err) == 0);
    CHECK(commands_permit(&who[0], &reload, NULL, err, sizeof err) == 0);
    CHECK(commands_permit(&who[1], &ack, &lift, err, sizeof err) == 0);
    CHECK(commands_permit(&who[1], &ack, &fast, err, sizeof err) == 0);
    CHECK(commands_permit(&who[1], &ack, &sewage, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "lift-co is a contractor and this alert is under contract \"sewage-om\", not one of its own");
    CHECK(commands_permit(&who[1], &ack, NULL, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "no contract covers this alert's device: only an admin may ack it");
    CHECK(commands_permit(&who[1], &reload, NULL, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "lift-co is a contractor: only an admin may reload");
    /* the later stages of a work order: as the ack */
    struct command on_site = {.kind = CMD_ON_SITE, .name = "on_site"}, resolve = {.kind = CMD_RESOLVE, .name = "resolve"};
    CHECK(commands_permit(&who[0], &resolve, NULL, err, sizeof err) == 0);
    CHECK(commands_permit(&who[1], &on_site, &lift, err, sizeof err) == 0);
    CHECK(commands_permit(&who[1], &resolve, &fast, err, sizeof err) == 0);
    CHECK(commands_permit(&who[1], &on_site, &sewage, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "this alert is under contract \"sewage-om\", not one of its own");
    CHECK(commands_permit(&who[1], &resolve, NULL, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "only an admin may resolve it");
    /* Visits of its own devices and reports of its own contracts. */
    struct command visit = {.kind = CMD_VISIT, .name = "visit"}, report = {.kind = CMD_REPORT, .name = "report"};
    CHECK(commands_permit(&who[1], &visit, &lift, err, sizeof err) == 0);
    CHECK(commands_permit(&who[1], &visit, &sewage, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "lift-co is a contractor and this device is under contract \"sewage-om\", not one of its own");
    CHECK(commands_permit(&who[1], &report, &fast, err, sizeof err) == 0);
    CHECK(commands_permit(&who[1], &report, &sewage, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "lift-co is a contractor and contract \"sewage-om\" is not one of its own");
    CHECK(commands_permit(&who[0], &report, &sewage, err, sizeof err) == 0);
}

int main(void)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const struct row *r = &table[i];
        struct command c;
        char err[256] = "";
        int rc = commands_parse(r->name, r->payload, strlen(r->payload), r->retained, &c, err, sizeof err);
        if (!r->error) {
            CHECK_MSG(rc == 0, "row %zu (%s %s) refused: %s", i, r->name, r->payload, err);
        } else {
            CHECK_MSG(rc == -1, "row %zu (%s %s) accepted", i, r->name, r->payload);
            CHECK_MSG(strstr(err, r->error) != NULL, "row %zu: \"%s\" does not contain \"%s\"", i, err, r->error);
        }
        if (r->id)
            CHECK_MSG(c.has_id && !strcmp(c.id, r->id), "row %zu: id \"%s\", expected \"%s\"", i, c.id, r->id);
        else
            CHECK_MSG(!c.has_id, "row %zu: id \"%s\" echoed", i, c.id);
        CHECK(strncmp(c.name, r->name, strcspn(r->name, "/")) == 0 && strlen(c.name) == strcspn(r->name, "/"));
        const char *slash = strchr(r->name, '/');
        CHECK_MSG(!strcmp(c.identity, !slash || (r->error && strstr(r->error, "topic:")) ? "" : slash + 1),
                  "row %zu: identity \"%s\"", i, c.identity);
    }
    /* the fields of an accepted ack */
    struct command c;
    char err[256];
    const char *p = "{\"alert_id\":\"a-17\",\"by\":\"wang\",\"note\":\"ok\"}";
    CHECK(commands_parse("ack/ops", p, strlen(p), false, &c, err, sizeof err) == 0);
    CHECK(c.kind == CMD_ACK && !strcmp(c.alert_id, "a-17") && !strcmp(c.by, "wang") && !strcmp(c.note, "ok"));
    CHECK(commands_parse("reload/ops", "{}", 2, false, &c, err, sizeof err) == 0 && c.kind == CMD_RELOAD);
    p = "{\"alert_id\":\"a-17\",\"note\":\"\u5230\u573a\"}";
    CHECK(commands_parse("on_site/ops", p, strlen(p), false, &c, err, sizeof err) == 0);
    CHECK(c.kind == CMD_ON_SITE && commands_is_stage(c.kind) && !strcmp(c.note, "\xe5\x88\xb0\xe5\x9c\xba"));
    CHECK(commands_parse("resolve/ops", p, strlen(p), false, &c, err, sizeof err) == 0 && c.kind == CMD_RESOLVE);
    CHECK(!commands_is_stage(CMD_RELOAD) && !commands_is_stage(CMD_UNKNOWN));
    test_bounds();
    test_permit();
    return check_report();
}
