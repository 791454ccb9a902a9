/* sim_cmd: the control vocabulary (stdin lines and scenario steps) — parse, then execute. */
#ifndef SIM_CMD_H
#define SIM_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "sim_device.h"

enum sim_cmd_kind { SIM_CMD_SET, SIM_CMD_RAW, SIM_CMD_BEHAVE, SIM_CMD_HOLE, SIM_CMD_STATS,
                    SIM_CMD_QUIT };

struct sim_cmd {
    enum sim_cmd_kind kind;
    int unit;
    char point[SIM_NAME_MAX];   /* set */
    double value;               /* set */
    enum sim_table table;       /* raw, hole */
    uint32_t address;           /* raw, hole */
    uint32_t count;             /* hole */
    uint16_t word;              /* raw */
    struct sim_behaviour behave;
    bool received;              /* stats: count requests received instead of answered */
};

/* Parses one command line:
 *   set <unit> <point> <value> | raw <unit> <table> <address> <u16> |
 *   behave <unit> ok|silent|garbage|slow <ms>|exception <code>|truncate |
 *   hole <unit> <table> <address> <count> | stats [received] | quit
 * Returns 0, or -1 with err saying what is wrong. */
int sim_cmd_parse(const char *line, struct sim_cmd *out, char *err, size_t errlen);

enum { SIM_CMD_FAILED = -1, SIM_CMD_DONE = 0, SIM_CMD_EXIT = 1 };

/* Executes c on the fleet and writes the one-line reply (without newline): "OK",
 * "ERR <reason>" or, for stats, "STATS <unit>:<n>,<unit>:<n>..." where n counts the
 * well-formed replies sent (or, with "received", the requests that reached the unit).
 * Returns SIM_CMD_DONE, SIM_CMD_FAILED, or SIM_CMD_EXIT for quit. */
int sim_cmd_exec(const struct sim_cmd *c, struct sim_fleet *f, char *reply, size_t len);

#endif
