/* config_contracts: a contract's deadlines per stage and its escalation chain. Stages are due
 * in their order (ack, then arrival, then resolution), and the chain's levels run 1, 2, ...
 * with a name and exactly one of an identity (an MQTT user name) or a topic level each, so a
 * party's topic is always one level the broker's ACL can name. */
#include "config_contracts.h"

#include <stdio.h>
#include <string.h>

#include "array.h"
#include "config_commands.h"

static const char *const severity_keys[] = {"critical", "major", "minor", "info"};
/* By stage (enum stage in alerts.h), minutes then seconds. */
static const char *const due_keys[] = {"ack_min", "arrive_min", "resolve_min", "ack_s", "arrive_s", "resolve_s"};
static const char *const party_keys[] = {"level", "name", "identity", "topic"};

#define MAX_DUE_MIN 100000
#define MAX_DUE_S 6000000

static int parse_severity(struct jctx *c, const cJSON *obj, int sev, struct contract *k)
{
    if (json_check_keys(c, obj, due_keys, NELEM(due_keys)))
        return -1;
    /* The ack deadline of respond_* takes part in the order too. */
    int prev = k->respond_s[sev];
    const char *prev_key = prev ? "respond_minutes/respond_seconds ack" : NULL;
    for (int s = 0; s < 3; s++) {
        int m = 0, secs = 0;
        if (json_get_int(c, obj, due_keys[s], 1, MAX_DUE_MIN, 0, false, &m) < 0 ||
            json_get_int(c, obj, due_keys[s + 3], 1, MAX_DUE_S, 0, false, &secs) < 0)
            return -1;
        /* seconds win, as respond_seconds over respond_minutes: a trial's stricter pledge */
        int v = secs ? secs : m * 60;
        const char *given = secs ? due_keys[s + 3] : due_keys[s];
        k->due_s[sev][s] = v;
        if (!v)
            continue;
        if (s == 0 && k->respond_s[sev])
            return json_fail_key(c, given,
                                 "the %s ack deadline is also given by respond_minutes or respond_seconds "
                                 "(expected it in one place)",
                                 severity_keys[sev]);
        if (v < prev)
            return json_fail_key(c, given, "%d s is before the %s deadline of %d s (expected ack <= arrive <= resolve)",
                                 v, prev_key, prev);
        prev = v;
        prev_key = given;
    }
    return 0;
}

static int parse_deadlines(struct jctx *c, const cJSON *obj, struct contract *k)
{
    const cJSON *dl;
    if (json_get_child(c, obj, "deadlines", cJSON_Object, false, &dl) < 0)
        return -1;
    if (!dl)
        return 0;
    size_t mark = json_enter_key(c, "deadlines");
    if (json_check_keys(c, dl, severity_keys, NELEM(severity_keys)))
        return -1;
    for (int sev = 0; sev < 4; sev++) {
        const cJSON *one;
        if (json_get_child(c, dl, severity_keys[sev], cJSON_Object, false, &one) < 0)
            return -1;
        if (!one)
            continue;
        size_t m2 = json_enter_key(c, severity_keys[sev]);
        if (parse_severity(c, one, sev, k))
            return -1;
        json_leave(c, m2);
    }
    json_leave(c, mark);
    return 0;
}

static int parse_party(struct jctx *c, const cJSON *obj, int i, struct escalation_party *p)
{
    if (json_expect_type(c, obj, cJSON_Object,
                         "an object {\"level\", \"name\", and \"identity\" or \"topic\"} naming one party") ||
        json_check_keys(c, obj, party_keys, NELEM(party_keys)) ||
        json_get_int(c, obj, "level", 1, CONTRACT_MAX_PARTIES, 0, true, &p->level) < 0 ||
        json_get_string(c, obj, "name", NULL, true, "the party's name, as people know it", p->name, sizeof p->name) < 0)
        return -1;
    if (p->level != i + 1)
        return json_fail_key(c, "level", "%d at position %d of the chain (expected levels 1, 2, ... in order)",
                             p->level, i + 1);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "identity");
    const cJSON *topic = cJSON_GetObjectItemCaseSensitive(obj, "topic");
    if (!id == !topic)
        return json_fail(c,
                         "%s (expected exactly one of \"identity\", the party's MQTT user name, or \"topic\", "
                         "the last level of the topic it reads)",
                         id ? "both \"identity\" and \"topic\" given" : "neither \"identity\" nor \"topic\" given");
    const char *key = id ? "identity" : "topic";
    p->is_topic = topic != NULL;
    if (json_get_string(c, obj, key, NULL, true, "one MQTT topic level", p->identity, sizeof p->identity) < 0)
        return -1;
    if (!config_identity_ok(p->identity))
        return json_fail_key(c, key,
                             "\"%s\" is not one topic level this gateway publishes on (expected 1 to 63 of "
                             "A-Z, a-z, 0-9, _, -, . and @)",
                             p->identity);
    return 0;
}

static int parse_escalation(struct jctx *c, const cJSON *obj, struct contract *k)
{
    const cJSON *arr;
    if (json_get_child(c, obj, "escalation", cJSON_Array, false, &arr) < 0)
        return -1;
    if (!arr)
        return 0;
    size_t mark = json_enter_key(c, "escalation");
    int n = cJSON_GetArraySize(arr);
    if (n < 1 || n > CONTRACT_MAX_PARTIES)
        return json_fail(c, "%d parties (expected 1 to %d, level 1 first)", n, CONTRACT_MAX_PARTIES);
    int i = 0;
    for (const cJSON *v = arr->child; v; v = v->next, i++) {
        size_t m2 = json_enter_index(c, i);
        if (parse_party(c, v, i, &k->parties[i]))
            return -1;
        k->nparties = i + 1;
        json_leave(c, m2);
    }
    json_leave(c, mark);
    return 0;
}

int config_parse_contract_terms(struct jctx *c, const cJSON *obj, struct contract *k)
{
    return parse_deadlines(c, obj, k) || parse_escalation(c, obj, k) ? -1 : 0;
}
