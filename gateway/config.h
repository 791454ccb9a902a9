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
 * Returns 0 and *out, or -1 with err naming "<file>: <json.path>: <what>". Touches no other file. */
int config_load(const char *path, const char *installed_drivers_dir, struct config **out, struct diag *err);

/* Same, from text already in memory (path is used in messages and to resolve relative paths). */
int config_parse(const char *text, size_t len, const char *path, const char *installed_drivers_dir,
                 struct config **out, struct diag *err);

void config_free(struct config *c);

/* 1 when an RTU bus takes baud: every rate both termios and libmodbus 3.1.6 know (libmodbus
 * opens any other at 9600 without a word). When not, list (n bytes, may be NULL) gets them all
 * for a message. */
int config_baud_supported(int baud, char *list, size_t n);

/* The enum rtu_rts an rts word ("none", "up", "down") names, or -1. */
int config_rts_mode(const char *name);

/* Effective value of a param for a device: its override, else the profile default.
 * Returns 0, or -1 if the profile has no such param. */
int config_param(const struct device *d, const char *name, double *value);

#endif
