/* cli_probe: `caretaker probe` — commissioning: read a few registers from a live device over
 * RTU, TCP or a DTU and show them every way a meter may mean them, or scan the unit ids of a line. */
#ifndef CARETAKER_CLI_PROBE_H
#define CARETAKER_CLI_PROBE_H

#include <stdint.h>
#include <stdio.h>

/* Runs the command; argv[0] is "probe". Returns the exit status: 0 read (or some unit
 * answered the scan), 1 no valid answer, 2 bad command line. */
int probe_main(int argc, char **argv);

void probe_usage(FILE *out);

/* Prints the registers regs[0..count) read from address start: each in hex, unsigned and
 * signed, then each consecutive pair as float32, int32 and uint32 in the four word orders. */
void probe_print_registers(FILE *out, uint16_t start, const uint16_t *regs, int count);

#endif
