/* config_contracts: the work-order terms of one contract — "deadlines" per severity and stage,
 * and the "escalation" chain of named parties. */
#ifndef CARETAKER_CONFIG_CONTRACTS_H
#define CARETAKER_CONFIG_CONTRACTS_H

#include <cjson/cJSON.h>

#include "json_util.h"
#include "model.h"

/* Reads obj's (one contract's) "deadlines" and "escalation" into k, after its respond_minutes
 * and respond_seconds: an ack deadline given both ways for a severity is refused. Returns 0,
 * or -1 with the error at its JSON path. */
int config_parse_contract_terms(struct jctx *c, const cJSON *obj, struct contract *k);

#endif
