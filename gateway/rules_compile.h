/* rules_compile: a profile's rules and code tables compiled at load (struct rule_set, rules.h). */
#ifndef CARETAKER_RULES_COMPILE_H
#define CARETAKER_RULES_COMPILE_H

#include <cjson/cJSON.h>

#include "json_util.h"
#include "rules.h"

/* Compiles the "rules" array (and reads the "codes" tables, either may be NULL) of profile p,
 * whose points and params are already parsed. Errors go through c, so they read
 * "<file>: rules[2].when: column 14: unknown point ...". Returns 0 and *out, or -1. */
int rules_compile(struct jctx *c, const struct profile *p, const cJSON *rules, const cJSON *codes,
                  struct rule_set **out);

#endif
