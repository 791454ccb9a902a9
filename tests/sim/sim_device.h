/* sim_device: one simulated unit — its register image, holes, behaviour, counters and
 * the execution of request PDUs against that image. */
#ifndef SIM_DEVICE_H
#define SIM_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "sim_profile.h"

enum sim_behave { SIM_BEHAVE_OK, SIM_BEHAVE_SILENT, SIM_BEHAVE_GARBAGE, SIM_BEHAVE_SLOW,
                  SIM_BEHAVE_EXCEPTION, SIM_BEHAVE_TRUNCATE };

struct sim_behaviour {
    enum sim_behave kind;
    int arg;                    /* slow: delay in ms; exception: the code */
};

enum sim_cell { SIM_CELL_OUT = 0, SIM_CELL_MAPPED, SIM_CELL_HOLE };

/* One table's image over [lo, lo + n): every address in it is either mapped (readable,
 * 0 when no point covers it), a declared hole, or outside the device's map. */
struct sim_image {
    uint32_t lo, n;
    uint16_t *val;              /* registers, or 0/1 for bit tables */
    uint8_t *cell;              /* enum sim_cell */
};

struct sim_device {
    int unit;
    const struct sim_profile *profile;
    struct sim_image img[SIM_NTABLES];
    double *values;             /* engineering value last encoded, per point */
    int nmotions;
    struct sim_motion *motions;
    double *motion_start;       /* counters: value at start */
    unsigned char *motion_on;   /* cleared by a "set" of the point, so tests take over */
    struct sim_behaviour behave;
    uint64_t received;          /* requests addressed to this unit with a valid frame */
    uint64_t answered;          /* well-formed replies sent (normal or exception) */
};

/* Builds the image from a spec: map = for each table, from the lowest to the highest
 * address any point covers, plus the spec's extra ranges; then holes, values, behaviour. */
int sim_device_init(struct sim_device *d, const struct sim_device_spec *spec, char *err,
                    size_t errlen);
void sim_device_free(struct sim_device *d);

/* Encodes an engineering value into the point's registers (and re-encodes the points
 * taking their decimals from it). Stops any motion of the point. Returns 0 or -1. */
int sim_device_set(struct sim_device *d, int point, double value, char *err, size_t errlen);

/* Writes one raw word (0/1 for bit tables) at a mapped address or a hole. */
int sim_device_raw(struct sim_device *d, enum sim_table t, uint32_t address, uint16_t value,
                   char *err, size_t errlen);

/* Declares [address, address + count) a hole; addresses outside the map stay outside. */
void sim_device_hole(struct sim_device *d, enum sim_table t, uint32_t address, uint32_t count);

/* Moves every active wave, ramp and counter to time t_s after start. */
void sim_device_tick(struct sim_device *d, double t_s);

/* Executes the request PDU on the image, regardless of behaviour, and writes the reply
 * PDU (normal or exception) into reply (SIM_PDU_MAX bytes). Returns its length. */
size_t sim_device_execute(struct sim_device *d, const uint8_t *pdu, size_t n, uint8_t *reply);

/* What the transport must do with a request: counts it, applies the behaviour. */
struct sim_answer {
    enum sim_behave how;
    int delay_ms;
    size_t len;
    uint8_t pdu[256];
};
void sim_device_answer(struct sim_device *d, const uint8_t *pdu, size_t n, struct sim_answer *a);

struct sim_fleet {
    int n;
    struct sim_device *dev;
};

struct sim_device *sim_fleet_find(struct sim_fleet *f, int unit);

#endif
