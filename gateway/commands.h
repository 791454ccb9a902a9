/* commands: what arrives under <prefix>/cmd/ — strict validation of each command's JSON into
 * a struct; acting on it is the core's. Anything not exactly as documented is refused. */
#ifndef CARETAKER_COMMANDS_H
#define CARETAKER_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

#define CMD_MAX_PAYLOAD 4096  /* bytes; a command is a few short strings */
#define CMD_NAME_MAX 32       /* the command word echoed in a reply, cut to this */
#define CMD_ID_MAX 64         /* request id, who acknowledged */
/* Alert ids are "<device>:<rule>:<raised ms>": two names of up to 63 bytes, 13 digits, 2 colons. */
#define CMD_ALERT_ID_MAX 160
#define CMD_NOTE_MAX 512

enum command_kind { CMD_UNKNOWN, CMD_ACK, CMD_RELOAD };

struct command {
    enum command_kind kind;
    char name[CMD_NAME_MAX + 1];   /* the topic level after cmd/, as the reply names it */
    bool has_id;
    char id[CMD_ID_MAX + 1];       /* "id": the request's correlation id, echoed in the reply */
    char alert_id[CMD_ALERT_ID_MAX + 1]; /* ack */
    char by[CMD_ID_MAX + 1];       /* ack: who acknowledged */
    char note[CMD_NOTE_MAX + 1];   /* ack, optional */
};

/* Validates a command: name is the topic after "<prefix>/cmd/", payload its bytes (not
 * NUL-terminated). Returns 0 with *out filled, or -1 with err saying why, in words fit for the
 * reply. Even on error out->name is set, and out->id when the payload carried a valid one. */
int commands_parse(const char *name, const void *payload, size_t len, bool retained, struct command *out, char *err,
                   size_t errn);

#endif
