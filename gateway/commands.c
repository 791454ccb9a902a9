/* commands: strict validation of command topics and payloads, and who may give them. A
 * command comes from the network, from whoever can publish on the broker: sizes are bounded,
 * every key is known, every type exact, and a retained command (which the broker would replay
 * at every connect) is refused. Who sent it is the topic's identity level, never the payload. */
#include "commands.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "array.h"
#include "config_commands.h"
#include "diag.h"
#include "json_util.h"

struct spec {
    const char *key;
    bool required;
    size_t max; /* bytes */
    bool text;  /* free text: may hold line breaks; else no control characters at all */
    size_t offset;
};

/* ack, on_site and resolve: the stages of a work order. */
static const struct spec stage_keys[] = {
    {"id", false, CMD_ID_MAX, false, offsetof(struct command, id)},
    {"alert_id", true, CMD_ALERT_ID_MAX, false, offsetof(struct command, alert_id)},
    {"by", false, CMD_ID_MAX, false, offsetof(struct command, by)},
    {"note", false, CMD_NOTE_MAX, true, offsetof(struct command, note)},
};
static const struct spec reload_keys[] = {
    {"id", false, CMD_ID_MAX, false, offsetof(struct command, id)},
};
static const struct spec visit_keys[] = {
    {"id", false, CMD_ID_MAX, false, offsetof(struct command, id)},
    {"device", true, CMD_ID_MAX, false, offsetof(struct command, device)},
    {"kind", true, sizeof((struct command *)0)->visit_kind - 1, false, offsetof(struct command, visit_kind)},
    {"by", false, CMD_ID_MAX, false, offsetof(struct command, by)},
    {"note", false, CMD_NOTE_MAX, true, offsetof(struct command, note)},
};
static const struct spec report_keys[] = {
    {"id", false, CMD_ID_MAX, false, offsetof(struct command, id)},
    {"month", true, sizeof((struct command *)0)->month - 1, false, offsetof(struct command, month)},
    {"contract", true, CMD_ID_MAX, false, offsetof(struct command, contract)},
};
static const char *const visit_kinds[] = {"maintenance", "patrol", "cleaning"};

static int fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Copies the topic word, cut at CMD_NAME_MAX bytes on a character boundary. */
static void copy_name(char *out, const char *name)
{
    size_t k = strnlen(name, CMD_NAME_MAX + 1);
    if (k > CMD_NAME_MAX) {
        k = CMD_NAME_MAX;
        while (k > 0 && ((unsigned char)name[k] & 0xC0) == 0x80)
            k--;
    }
    memcpy(out, name, k);
    out[k] = '\0';
}

static bool has_control(const char *s, bool text)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 && !(text && (c == '\n' || c == '\t')))
            return true;
        if (c == 0x7f)
            return true;
    }
    return false;
}

static int check_string(const cJSON *v, const struct spec *sp, char *dst, char *err, size_t n)
{
    if (!cJSON_IsString(v) || !v->valuestring) {
        char what[96];
        json_describe(v, what, sizeof what);
        return fail(err, n, "%s: %s (expected a string)", sp->key, what);
    }
    size_t len = strlen(v->valuestring);
    if (len == 0)
        return fail(err, n, "%s: \"\" is empty (expected a non-empty string)", sp->key);
    if (len > sp->max)
        return fail(err, n, "%s: %zu bytes long (expected at most %zu)", sp->key, len, sp->max);
    if (has_control(v->valuestring, sp->text))
        return fail(err, n, "%s: holds a control character (expected plain text)", sp->key);
    memcpy(dst, v->valuestring, len + 1);
    return 0;
}

static int check_object(const cJSON *root, const struct spec *keys, size_t nkeys, struct command *out, char *err,
                        size_t n)
{
    /* The correlation id first, so every later refusal can carry it. */
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (id) {
        if (check_string(id, &keys[0], out->id, err, n) < 0)
            return -1;
        out->has_id = true;
    }
    for (const cJSON *m = root->child; m; m = m->next) {
        size_t i = 0;
        while (i < nkeys && strcmp(m->string, keys[i].key) != 0)
            i++;
        if (i == nkeys) {
            char list[128] = "";
            for (size_t k = 0; k < nkeys; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", keys[k].key);
            char shown[CMD_NAME_MAX + 1];
            copy_name(shown, m->string);
            return fail(err, n, "unknown key \"%s\" (expected %s)", shown, list);
        }
    }
    for (size_t i = 1; i < nkeys; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[i].key);
        if (!v) {
            if (keys[i].required)
                return fail(err, n, "%s: missing (expected a string)", keys[i].key);
            continue;
        }
        if (check_string(v, &keys[i], (char *)out + keys[i].offset, err, n) < 0)
            return -1;
    }
    return 0;
}

int commands_parse(const char *topic, const void *payload, size_t len, bool retained, struct command *out, char *err,
                   size_t errn)
{
    memset(out, 0, sizeof *out);
    const char *slash = strchr(topic, '/');
    size_t verb = slash ? (size_t)(slash - topic) : strlen(topic);
    char name[CMD_NAME_MAX + 2]; /* one byte over, so copy_name sees a long verb and cuts it */
    snprintf(name, sizeof name, "%.*s", (int)(verb <= CMD_NAME_MAX ? verb : CMD_NAME_MAX + 1), topic);
    copy_name(out->name, name);
    /* The identity first: without one there is nobody to answer. */
    if (!slash)
        return fail(err, errn, "topic: no identity after the verb (expected cmd/<verb>/<identity>)");
    if (strlen(slash + 1) > CMD_ID_MAX || !config_identity_ok(slash + 1))
        return fail(err, errn,
                    "topic: the identity is not an MQTT user name this gateway takes "
                    "(expected cmd/<verb>/<identity>, the identity A-Z a-z 0-9 _ - . @)");
    snprintf(out->identity, sizeof out->identity, "%s", slash + 1);
    static const struct {
        const char *verb;
        enum command_kind kind;
    } verbs[] = {{"ack", CMD_ACK},       {"on_site", CMD_ON_SITE}, {"resolve", CMD_RESOLVE},
                 {"reload", CMD_RELOAD}, {"visit", CMD_VISIT},     {"report", CMD_REPORT}};
    for (size_t i = 0; i < NELEM(verbs) && out->kind == CMD_UNKNOWN; i++)
        if (verb == strlen(verbs[i].verb) && !strncmp(topic, verbs[i].verb, verb))
            out->kind = verbs[i].kind;
    if (out->kind == CMD_UNKNOWN)
        return fail(err, errn, "unknown command (expected ack, on_site, resolve, reload, visit or report)");
    if (len == 0)
        return fail(err, errn, "empty payload (expected a JSON object)");
    if (len > CMD_MAX_PAYLOAD)
        return fail(err, errn, "payload of %zu bytes (expected at most %d)", len, CMD_MAX_PAYLOAD);
    /* cJSON would end the string at an escaped NUL and hand back the part before it. */
    if (memmem(payload, len, "\\u0000", 6))
        return fail(err, errn, "payload: \\u0000 in a string (expected text without NUL)");
    struct diag d;
    diag_clear(&d);
    cJSON *root = json_parse(payload, len, "payload", &d);
    if (!root)
        return fail(err, errn, "%s", d.msg);
    int rc;
    if (!cJSON_IsObject(root)) {
        char what[96];
        json_describe(root, what, sizeof what);
        rc = fail(err, errn, "payload: %s (expected a JSON object)", what);
    } else if (commands_is_stage(out->kind)) {
        rc = check_object(root, stage_keys, NELEM(stage_keys), out, err, errn);
    } else if (out->kind == CMD_VISIT) {
        rc = check_object(root, visit_keys, NELEM(visit_keys), out, err, errn);
        size_t k = 0;
        while (rc == 0 && k < NELEM(visit_kinds) && strcmp(out->visit_kind, visit_kinds[k]) != 0)
            k++;
        if (rc == 0 && k == NELEM(visit_kinds))
            rc = fail(err, errn, "kind: \"%s\" is not a visit (expected maintenance, patrol or cleaning)",
                      out->visit_kind);
    } else if (out->kind == CMD_REPORT) {
        rc = check_object(root, report_keys, NELEM(report_keys), out, err, errn);
    } else {
        rc = check_object(root, reload_keys, NELEM(reload_keys), out, err, errn);
    }
    cJSON_Delete(root);
    /* Checked last, so the refusal carries the request's id. */
    if (rc == 0 && retained)
        rc = fail(err, errn, "retained command refused (publish commands without the retain flag)");
    return rc;
}

bool commands_is_stage(enum command_kind k)
{
    return k == CMD_ACK || k == CMD_ON_SITE || k == CMD_RESOLVE;
}

const struct commander *commands_commander(const struct commands_config *cc, const char *identity)
{
    for (int i = 0; i < cc->ncommanders; i++)
        if (strcmp(cc->commanders[i].identity, identity) == 0)
            return &cc->commanders[i];
    return NULL;
}

int commands_permit(const struct commander *who, const struct command *cmd, const struct contract *covering, char *err,
                    size_t errn)
{
    if (who->role == ROLE_ADMIN)
        return 0;
    if (cmd->kind == CMD_RELOAD || cmd->kind == CMD_UNKNOWN)
        return fail(err, errn, "%s is a contractor: only an admin may %s", who->identity, cmd->name);
    for (int i = 0; covering && i < who->ncontracts; i++)
        if (strcmp(who->contracts[i], covering->id) == 0)
            return 0;
    const char *what = commands_is_stage(cmd->kind) ? "this alert's device"
                       : cmd->kind == CMD_VISIT     ? "this device"
                                                    : NULL;
    if (!what)
        return fail(err, errn, "%s is a contractor and contract \"%s\" is not one of its own", who->identity,
                    covering ? covering->id : cmd->contract);
    if (!covering)
        return fail(err, errn, "%s is a contractor and no contract covers %s: only an admin may %s it", who->identity,
                    what, cmd->name);
    return fail(err, errn, "%s is a contractor and %s is under contract \"%s\", not one of its own", who->identity,
                commands_is_stage(cmd->kind) ? "this alert" : what, covering->id);
}
