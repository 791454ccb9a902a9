/* fuzz_commands: commands as anyone on the broker could publish them — the first byte picks
 * the topic after cmd/ (verb and identity) and the retain flag, the rest is the payload. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every field is a NUL-terminated string within its bound; plain fields hold no control
 * characters, the note no control characters but line breaks and tabs. */
static void check_field(const char *s, size_t max, int text)
{
    size_t n = strnlen(s, max + 1);
    if (n > max)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0x7f || (c < 0x20 && !(text && (c == '\n' || c == '\t'))))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"ack/ops",
                                        "reload/ops",
                                        "status/ops",
                                        "",
                                        "ack/extra/x",
                                        "ack",
                                        "reload/",
                                        "a-very-long-command-word-beyond-thirty-two-bytes/ops",
                                        "确认确认确认确认确认确认/ops",
                                        "ack/确认",
                                        "on_site/ops",
                                        "resolve/ops",
                                        "resolve/",
                                        "on_site",
                                        "visit/ops",
                                        "report/ops"};
    if (size < 1)
        return 0;
    const char *name = names[(data[0] >> 1) % (sizeof names / sizeof names[0])];
    bool retained = data[0] & 1;
    /* An exact-size copy, so a read past the payload's end is caught. */
    size_t len = size - 1;
    uint8_t *payload = malloc(len ? len : 1);
    if (!payload)
        return 0;
    memcpy(payload, data + 1, len);
    struct command cmd;
    char err[256];
    err[0] = '\0';
    int rc = commands_parse(name, payload, len, retained, &cmd, err, sizeof err);
    check_field(cmd.name, CMD_NAME_MAX, 0);
    check_field(cmd.identity, CMD_ID_MAX, 0);
    if (strncmp(cmd.name, name, strlen(cmd.name)) != 0 || strchr(cmd.name, '/') || strchr(cmd.identity, '/'))
        abort();
    if (cmd.has_id) {
        check_field(cmd.id, CMD_ID_MAX, 0);
        if (cmd.id[0] == '\0')
            abort();
    }
    if (rc < 0) {
        if (err[0] == '\0')
            abort();
    } else {
        if (rc != 0 || retained || len == 0 || len > CMD_MAX_PAYLOAD || strcmp(cmd.identity, "ops") != 0)
            abort();
        if (commands_is_stage(cmd.kind)) {
            const char *want = cmd.kind == CMD_ACK ? "ack/ops" : cmd.kind == CMD_ON_SITE ? "on_site/ops" : "resolve/ops";
            if (strcmp(name, want) != 0 || cmd.alert_id[0] == '\0')
                abort();
            check_field(cmd.alert_id, CMD_ALERT_ID_MAX, 0);
            check_field(cmd.by, CMD_ID_MAX, 0);
            check_field(cmd.note, CMD_NOTE_MAX, 1);
        } else if (cmd.kind == CMD_VISIT) {
            if (strcmp(name, "visit/ops") != 0 || cmd.device[0] == '\0' || cmd.visit_kind[0] == '\0')
                abort();
            check_field(cmd.device, CMD_ID_MAX, 0);
            check_field(cmd.visit_kind, sizeof cmd.visit_kind - 1, 0);
            check_field(cmd.by, CMD_ID_MAX, 0);
            check_field(cmd.note, CMD_NOTE_MAX, 1);
        } else if (cmd.kind == CMD_REPORT) {
            if (strcmp(name, "report/ops") != 0 || cmd.month[0] == '\0' || cmd.contract[0] == '\0')
                abort();
            check_field(cmd.month, sizeof cmd.month - 1, 0);
            check_field(cmd.contract, CMD_ID_MAX, 0);
        } else if (cmd.kind != CMD_RELOAD || strcmp(name, "reload/ops") != 0) {
            abort();
        }
    }
    free(payload);
    return 0;
}
