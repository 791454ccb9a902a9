/* core: the core thread — drains the pollers' queue into the store with group commits, runs
 * the rules and the daily reports on it, pumps the outbox to the broker, answers commands and
 * handles signals; it owns the store, the rules engine, the reports and the publisher. */
#ifndef CARETAKER_CORE_H
#define CARETAKER_CORE_H

#include <stdbool.h>

#include "model.h"

/* Returned by core_run when a reload (SIGHUP or cmd/reload) found the config file on disk
 * valid: it has stopped cleanly, and the caller runs again on that config, which core_run
 * parsed and checked once and hands over in *next (the caller's to free). */
#define CORE_RELOAD 3

/* Runs until SIGTERM or SIGINT, then stops the pollers, commits what it holds, flushes the
 * publisher and returns 0; returns 1 when the store cannot be opened or the broker settings
 * cannot be used (unreadable TLS files, a world-readable password file). SIGHUP or cmd/reload
 * validates the config file again: a bad one is refused and the run goes on; a good one ends
 * the run the same clean way, returning CORE_RELOAD. reloaded: this run follows one (the store
 * is opened without reading every page again). cfg stays owned by the caller. */
int core_run(struct config *cfg, bool reloaded, struct config **next);

#endif
