/* config_commands: the "commands" section. An identity is the MQTT user name the broker
 * authenticated; this file only says which names may do what. Everything not listed is
 * refused by the core, so an absent section means no command is taken. */
#include "config_commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"

#define IDENTITY_RULE "1 to 63 of A-Z, a-z, 0-9, _, -, . and @"

static const char *const commands_keys[] = {"reload_interval_s", "refusals_per_minute", "commanders"};
static const char *const commander_keys[] = {"role", "contracts"};
static const char *const role_names[] = {"admin", "contractor"};

bool config_identity_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= NAME_MAX_LEN)
        return false;
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("_-.@", ch)))
            return false;
    }
    return true;
}

static bool contract_known(const struct config *cfg, const char *id)
{
    for (int i = 0; i < cfg->ncontracts; i++)
        if (strcmp(cfg->contracts[i].id, id) == 0)
            return true;
    return false;
}

static int parse_contract_ids(struct jctx *c, const cJSON *obj, const struct config *cfg, struct commander *who)
{
    const cJSON *arr;
    if (who->role != ROLE_CONTRACTOR) {
        if (cJSON_GetObjectItemCaseSensitive(obj, "contracts"))
            return json_fail_key(c, "contracts", "given for an admin (expected it only with role \"contractor\")");
        return 0;
    }
    if (json_get_child(c, obj, "contracts", cJSON_Array, true, &arr) < 0)
        return -1;
    size_t mark = json_enter_key(c, "contracts");
    int n = cJSON_GetArraySize(arr);
    if (n < 1 || n > COMMANDER_MAX_CONTRACTS)
        return json_fail(c, "%d contract ids (expected 1 to %d ids of the config's contracts)", n,
                         COMMANDER_MAX_CONTRACTS);
    int i = 0;
    for (const cJSON *v = arr->child; v; v = v->next, i++) {
        size_t m2 = json_enter_index(c, i);
        if (json_expect_type(c, v, cJSON_String, "the id of one of the config's contracts"))
            return -1;
        if (!contract_known(cfg, v->valuestring)) {
            const char *ids[64];
            size_t nids = 0;
            for (int k = 0; k < cfg->ncontracts && nids < NELEM(ids); k++)
                ids[nids++] = cfg->contracts[k].id;
            const char *near = json_suggest(v->valuestring, ids, nids);
            char t[96];
            json_value_text(v, t, sizeof t);
            if (near)
                return json_fail(c, "%s is not the id of a contract of this config (did you mean \"%s\"?)", t, near);
            return json_fail(c, "%s is not the id of a contract of this config (expected an id from \"contracts\")", t);
        }
        snprintf(who->contracts[i], NAME_MAX_LEN, "%s", v->valuestring);
        who->ncontracts = i + 1;
        json_leave(c, m2);
    }
    json_leave(c, mark);
    return 0;
}

static int parse_commander(struct jctx *c, const cJSON *obj, const struct config *cfg, struct commander *who)
{
    int role;
    if (json_expect_type(c, obj, cJSON_Object,
                         "an object: {\"role\": \"admin\"} or {\"role\": \"contractor\", "
                         "\"contracts\": [...]}") ||
        json_check_keys(c, obj, commander_keys, NELEM(commander_keys)) ||
        json_get_enum(c, obj, "role", role_names, NELEM(role_names), "role", 0, true, &role) < 0)
        return -1;
    who->role = role == 0 ? ROLE_ADMIN : ROLE_CONTRACTOR;
    return parse_contract_ids(c, obj, cfg, who);
}

int config_parse_commands(struct jctx *c, const cJSON *root, struct config *cfg)
{
    struct commands_config *cc = &cfg->commands;
    const cJSON *obj, *map = NULL;
    if (json_get_child(c, root, "commands", cJSON_Object, false, &obj) < 0)
        return -1;
    size_t mark = json_enter_key(c, "commands");
    /* Without the section the limits take their defaults and nobody may command. */
    if ((obj && json_check_keys(c, obj, commands_keys, NELEM(commands_keys))) ||
        json_get_int(c, obj, "reload_interval_s", 1, 86400, 30, false, &cc->reload_interval_s) < 0 ||
        json_get_int(c, obj, "refusals_per_minute", 1, 1000, 10, false, &cc->refusals_per_minute) < 0 ||
        (obj && json_get_child(c, obj, "commanders", cJSON_Object, false, &map) < 0))
        return -1;
    int n = map ? cJSON_GetArraySize(map) : 0;
    if (n > 0) {
        cc->commanders = calloc((size_t)n, sizeof *cc->commanders);
        if (!cc->commanders)
            return json_fail_key(c, "commanders", "out of memory");
        size_t m2 = json_enter_key(c, "commanders");
        for (const cJSON *v = map->child; v; v = v->next) {
            size_t m3 = json_enter_key(c, v->string);
            if (!config_identity_ok(v->string))
                return json_fail(c, "\"%.64s\" is not an identity (expected the MQTT user name: " IDENTITY_RULE ")",
                                 v->string);
            struct commander *who = &cc->commanders[cc->ncommanders++];
            snprintf(who->identity, sizeof who->identity, "%s", v->string);
            if (parse_commander(c, v, cfg, who))
                return -1;
            json_leave(c, m3);
        }
        json_leave(c, m2);
    }
    json_leave(c, mark);
    return 0;
}
