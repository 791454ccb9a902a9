/* sim_profile: loads driver profiles and a scenario file into plain structs the simulator serves. */
#ifndef SIM_PROFILE_H
#define SIM_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_encode.h"

#define SIM_NAME_MAX 64
#define SIM_PATH_MAX 512
#define SIM_CMD_MAX 256
#define SIM_MAX_DIRS 16

/* One point of a profile, addresses already 0-based. */
struct sim_point {
    char name[SIM_NAME_MAX];
    bool derived;           /* "sum": not on the wire, never encoded */
    enum sim_table table;
    uint16_t address;
    enum sim_type type;
    enum sim_order order;
    int bit;                /* -1: whole value; else lowest bit of a field in one register */
    int bits;
    double scale, offset;
    int decimals_from;      /* index of the point holding decimal places, or -1 */
};

struct sim_profile {
    char driver[SIM_NAME_MAX * 2];
    char path[SIM_PATH_MAX];
    int npoints;
    struct sim_point *points;
};

/* Registers (or bits) span of a point on the wire: 0 for derived points. */
int sim_point_span(const struct sim_point *p);

/* Index of the point called name, or -1. */
int sim_profile_find(const struct sim_profile *pr, const char *name);

enum sim_motion_kind { SIM_WAVE, SIM_RAMP, SIM_COUNTER };

/* A point whose value follows the clock. wave: a=base, b=amplitude, c=period_s.
 * ramp: a=from, b=to, c=over_s, d=at_s. counter: a=step, c=every_s (value = start + a*floor(t/c)). */
struct sim_motion {
    int point;
    enum sim_motion_kind kind;
    double a, b, c, d;
};

struct sim_range {
    enum sim_table table;
    uint32_t address;
    uint32_t count;
};

struct sim_value {
    int point;
    double value;
};

struct sim_device_spec {
    int unit;
    const struct sim_profile *profile;
    int nvalues;
    struct sim_value *values;
    int nmotions;
    struct sim_motion *motions;
    int nholes;
    struct sim_range *holes;
    int nextras;
    struct sim_range *extras;   /* readable ranges beyond the profile's points */
    char behave[SIM_CMD_MAX];   /* the words after "behave <unit>", checked at load */
};

/* A command of the stdin vocabulary, played at_s seconds after start; checked at load. */
struct sim_step {
    double at_s;
    char cmd[SIM_CMD_MAX];
};

struct sim_scenario {
    char path[SIM_PATH_MAX];
    int ndirs;
    char dirs[SIM_MAX_DIRS][SIM_PATH_MAX];
    int nprofiles;
    struct sim_profile *profiles[256];
    int ndevices;
    struct sim_device_spec *devices;
    int nsteps;
    struct sim_step *steps;     /* sorted by at_s, ties in file order */
};

/* Loads one profile file. On error returns -1 with err naming file, JSON path and value. */
int sim_profile_load(const char *path, const char *driver, struct sim_profile *out,
                     char *err, size_t errlen);
void sim_profile_free(struct sim_profile *pr);

/* Loads the scenario at path. Profiles are looked up as <dir>/<driver>.json in the
 * scenario's "drivers_dirs" (relative to the scenario file), then in extra_dirs.
 * Returns 0, or -1 with err filled; *out is then empty. */
int sim_scenario_load(const char *path, const char *const *extra_dirs, int nextra,
                      struct sim_scenario *out, char *err, size_t errlen);
void sim_scenario_free(struct sim_scenario *s);

#endif
