/* core: the core thread — drains the pollers' queue into the store with group commits, runs
 * the rules and the daily reports on it, pumps the outbox to the broker, answers commands and
 * handles signals; it owns the store, the rules engine, the reports and the publisher. */
#ifndef CARETAKER_CORE_H
#define CARETAKER_CORE_H

#include "model.h"

/* Runs until SIGTERM or SIGINT, then stops the pollers, commits what it holds, flushes the
 * publisher and returns 0; returns 1 when the store cannot be opened or the broker settings
 * cannot be used (unreadable TLS files, a world-readable password file). SIGHUP validates the
 * config file again. cfg stays owned by the caller. */
int core_run(struct config *cfg);

#endif
