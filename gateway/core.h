/* core: the core thread — drains the pollers' queue into the store with group commits, and
 * handles signals; it owns the store (and, later, rules and publisher). */
#ifndef CARETAKER_CORE_H
#define CARETAKER_CORE_H

#include "model.h"

/* Runs until SIGTERM or SIGINT, then stops the pollers, commits what it holds and returns 0;
 * returns 1 when the store cannot be opened. cfg stays owned by the caller. */
int core_run(struct config *cfg);

#endif
