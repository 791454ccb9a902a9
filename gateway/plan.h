/* plan: turns a device's points into the fewest Modbus reads, and learns the holes in its map. */
#ifndef CARETAKER_PLAN_H
#define CARETAKER_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

/* Modbus Application Protocol v1.1b3: FC 03/04 quantity 1..125 (6.3, 6.4), FC 01/02 1..2000 (6.1, 6.2). */
#define PLAN_MAX_REGS 125
#define PLAN_MAX_BITS 2000

struct read_block {
    uint8_t table;    /* enum reg_table */
    uint16_t start;   /* first address read */
    uint16_t count;   /* registers (or bits) read */
    uint16_t first;   /* index into read_plan.order of the block's first point */
    uint16_t npoints; /* points order[first .. first+npoints) are served by this block */
};

struct read_plan {
    int nblocks;
    struct read_block blocks[MAX_POINTS];
    int norder;
    uint16_t order[MAX_POINTS]; /* point indices sorted by table, address */
    bool missing[MAX_POINTS];   /* indexed by point index: the device said it does not exist */
};

/* Builds the plan for a profile's wire points (derived points are skipped). Points in the same
 * table are merged while the read stays within the protocol limit and the gap between them is
 * at most max_gap registers (bits for coil tables: max_gap * 16). Returns 0, or -1 if the
 * profile has a point no read can hold. */
int plan_build(const struct profile *p, int max_gap, struct read_plan *out);

/* Block i was answered with exception 02 (illegal data address). Splits it in two halves of its
 * points (each re-spanned tightly), or, when every point of the block occupies the same
 * registers, marks those points missing and removes the block. The result is remembered in the
 * plan, so later cycles do not send the failing read again. Returns the number of points newly
 * marked missing and writes their indices to missing_out (room for MAX_POINTS), or -1 when
 * i is not a block of the plan. */
int plan_split(struct read_plan *plan, const struct profile *p, int i, int *missing_out);

/* Bytes one read costs on the wire, request plus normal response, in RTU framing
 * (address + PDU + CRC); for TCP add 6 bytes of MBAP header less 2 of CRC, each way. */
int plan_block_rtu_bytes(const struct read_block *b);

/* Sum over the plan's blocks, and what one read per point would cost instead. */
int plan_rtu_bytes(const struct read_plan *plan);
int plan_rtu_bytes_per_point(const struct profile *p);

#endif
