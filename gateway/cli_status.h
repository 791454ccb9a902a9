/* cli_status: `caretaker status` — devices, last readings, backlog and active alerts, read from
 * the store while the daemon runs, without disturbing it. */
#ifndef CARETAKER_CLI_STATUS_H
#define CARETAKER_CLI_STATUS_H

#include <stdint.h>
#include <stdio.h>

/* Prints the status of the store at db_path to out. now_ms (wall clock) is what ages are
 * measured from. Opens the file read-only and never writes, never creates it, never takes a
 * write lock. Returns 0, or -1 with a message on stderr (no such file, not a store). */
int status_print(FILE *out, const char *db_path, int64_t now_ms);

void status_usage(FILE *out);

#endif
