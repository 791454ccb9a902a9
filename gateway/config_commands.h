/* config_commands: the "commands" section — who may command the gateway (identity → role)
 * and the limits on what commands may cost. */
#ifndef CARETAKER_CONFIG_COMMANDS_H
#define CARETAKER_CONFIG_COMMANDS_H

#include <cjson/cJSON.h>

#include "json_util.h"
#include "model.h"

/* Reads root's "commands" into cfg->commands (defaults when absent). Runs after the contracts
 * are read: a contractor's contract ids must name contracts of cfg. Returns 0, or -1 with the
 * error at its JSON path. */
int config_parse_commands(struct jctx *c, const cJSON *root, struct config *cfg);

/* True when s can be a commander's identity: 1..63 bytes of A-Z a-z 0-9 _ - . @ — a single
 * MQTT topic level that the broker's %u substitution accepts. */
bool config_identity_ok(const char *s);

#endif
