/* config: the site's JSON config file to validated structs; every error names its JSON path. */
#ifndef CARETAKER_CONFIG_H
#define CARETAKER_CONFIG_H

#include <stddef.h>

#include "diag.h"
#include "model.h"

/* Loads and validates path, then loads each profile its devices use, searching the config's
 * gateway.drivers_dirs first and installed_drivers_dir last. Checks every field (type, range,
 * unknown keys with "did you mean") and every cross-field rule (unique ids, unit ids per bus,
 * drivers that exist, params the profile knows, contracts that cover something).
 * Returns 0 and *out, or -1 with err naming "<file>: <json.path>: <what>". Reads no other file
 * but DTU buses' secret files. */
int config_load(const char *path, const char *installed_drivers_dir, struct config **out, struct diag *err);

/* Same, from text already in memory (path is used in messages and to resolve relative paths). */
int config_parse(const char *text, size_t len, const char *path, const char *installed_drivers_dir, struct config **out,
                 struct diag *err);

void config_free(struct config *c);

/* A DTU bus's registration packet: pattern with {id} filled with b->dtu_id and {secret} with
 * the secret read from b->secret_file (none when it is ""), into b->register_packet,
 * register_len, secret_off and secret_len. Returns 0, or -1 with err naming the key
 * (register_pattern, secret_file) and the rule; the secret itself never enters a message. */
int config_dtu_register(struct bus_config *b, const char *pattern, struct diag *err);

/* 1 when an RTU bus takes baud: every rate both termios and libmodbus 3.1.6 know (libmodbus
 * opens any other at 9600 without a word). When not, list (n bytes, may be NULL) gets them all
 * for a message. */
int config_baud_supported(int baud, char *list, size_t n);

/* The enum rtu_rts an rts word ("none", "up", "down") names, or -1. */
int config_rts_mode(const char *name);

#endif
