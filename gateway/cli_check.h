/* cli_check: what `caretaker check` prints for a valid config — each device's planned reads and
 * each bus's estimated time on the wire against its poll intervals. */
#ifndef CARETAKER_CLI_CHECK_H
#define CARETAKER_CLI_CHECK_H

#include <stdio.h>

#include "model.h"

/* Device turnaround assumed per request when estimating bus load (practice: meters answer in
 * 5-50 ms); and a LAN round trip for TCP. Estimates only, printed as such. */
#define CHECK_RTU_TURNAROUND_MS 10.0
#define CHECK_TCP_ROUNDTRIP_MS 5.0
/* A 4G DTU adds a mobile round trip to every read on the serial line behind it (practice: 50-150 ms). */
#define CHECK_DTU_ROUNDTRIP_MS 100.0

/* Estimated milliseconds one full poll cycle of d occupies its bus. */
double check_cycle_ms(const struct bus_config *b, const struct device *d);

/* Prints the plan and load of every bus. Returns the number of buses estimated over 100 %. */
int check_print(FILE *out, const struct config *cfg);

#endif
