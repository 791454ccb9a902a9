/* decode: Modbus registers to typed, scaled values; pure functions, no I/O, no allocation. */
#ifndef CARETAKER_DECODE_H
#define CARETAKER_DECODE_H

#include <stdint.h>

#include "model.h"

/* Decodes point p from regs, where regs[0] is the register at p->address (for coil and
 * discrete tables regs[0] holds the bit as 0 or 1). Applies bit field, type, word order,
 * scale and offset. Returns Q_OK with *v set, or Q_INVALID for NaN and infinities
 * (*v is then left NAN). Range and decimals are applied later by decode_finish. */
enum quality decode_point(const struct point *p, const uint16_t *regs, double *v);

/* Second pass over one poll of a device, once every wire point has been decoded:
 * divides by 10^decimals where a point takes its decimal places from another point,
 * computes derived sums, then marks values outside [min, max] invalid.
 * values[] and quality[] are indexed like pr->points; quality entries other than Q_OK
 * are left alone (their values are NAN); a derived point is computed when its entry comes in
 * as Q_OK, and takes the quality of a term that is not Q_OK. */
void decode_finish(const struct profile *pr, double *values, uint8_t *quality);

#endif
