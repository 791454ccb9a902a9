/* commands: what arrives under <prefix>/cmd/<verb>/<identity> — strict validation of each
 * command's topic and JSON into a struct, and who may give it; acting on it is the core's.
 * Anything not exactly as documented is refused.
 *
 * The identity is the sender's MQTT user name: the broker's ACL (pattern write
 * <prefix>/cmd/+/%u) lets each user publish only under its own name, so the topic says who
 * sent the command, not the payload. */
#ifndef CARETAKER_COMMANDS_H
#define CARETAKER_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

#define CMD_MAX_PAYLOAD 4096 /* bytes; a command is a few short strings */
/* The largest MQTT packet the gateway takes (sent as the MQTT 5 Maximum Packet Size, so the
 * broker drops a larger command instead of sending it): a payload of CMD_MAX_PAYLOAD, a topic
 * of up to TEXT_MAX_LEN + 100 bytes, and room for properties. */
#define CMD_MAX_PACKET 8192
#define CMD_NAME_MAX 32 /* the command word echoed in a reply, cut to this */
#define CMD_ID_MAX 64   /* request id, who acknowledged */
/* Alert ids are "<device>:<rule>:<raised ms>": two names of up to 63 bytes, 13 digits, 2 colons. */
#define CMD_ALERT_ID_MAX 160
#define CMD_NOTE_MAX 512

/* CMD_ACK, CMD_ON_SITE and CMD_RESOLVE are the stages of a work order (workorder.h), in order,
 * and take the same payload. */
enum command_kind { CMD_UNKNOWN, CMD_ACK, CMD_RELOAD, CMD_ON_SITE, CMD_RESOLVE, CMD_VISIT, CMD_REPORT };

struct command {
    enum command_kind kind;
    char name[CMD_NAME_MAX + 1];   /* the verb: the topic level after cmd/, as the reply names it */
    char identity[CMD_ID_MAX + 1]; /* the level after the verb; "" when the topic had no valid one */
    bool has_id;
    char id[CMD_ID_MAX + 1];             /* "id": the request's correlation id, echoed in the reply */
    char alert_id[CMD_ALERT_ID_MAX + 1]; /* a stage (ack, on_site, resolve) */
    char by[CMD_ID_MAX + 1];             /* a stage, visit: optional, a display name; who did it is identity */
    char note[CMD_NOTE_MAX + 1];         /* a stage, visit: optional */
    char device[CMD_ID_MAX + 1];         /* visit */
    char visit_kind[16];                 /* visit: "maintenance", "patrol" or "cleaning" */
    char month[16];                      /* report: "2026-11" */
    char contract[CMD_ID_MAX + 1];       /* report */
};

/* Validates a command: topic is what follows "<prefix>/cmd/" ("<verb>/<identity>"), payload
 * its bytes (not NUL-terminated). Returns 0 with *out filled, or -1 with err saying why, in
 * words fit for the reply. Even on error out->name is set, out->identity when the topic held a
 * valid one (else there is nobody to reply to), and out->id when the payload carried one. */
int commands_parse(const char *topic, const void *payload, size_t len, bool retained, struct command *out, char *err,
                   size_t errn);

/* The commander with this identity, or NULL: nobody the config lets command. */
const struct commander *commands_commander(const struct commands_config *cc, const char *identity);

/* True for the commands that move a work order's stage (ack, on_site, resolve). */
bool commands_is_stage(enum command_kind k);

/* Whether who may give cmd. covering is the contract that covers the alert's device (a stage),
 * the visited device (visit), or the contract named (report); NULL: none. An admin may do
 * everything; a contractor may give the stages of the alerts its own contracts cover, record
 * visits and ask reports under them, and not reload. Returns 0, or -1 with err the reason fit
 * for the reply. */
int commands_permit(const struct commander *who, const struct command *cmd, const struct contract *covering, char *err,
                    size_t errn);

#endif
