/* sim_encode: engineering values to register words, written from the Modbus and IEEE 754 definitions. */
#ifndef SIM_ENCODE_H
#define SIM_ENCODE_H

#include <stdbool.h>
#include <stdint.h>

/* The four Modbus data tables (Modbus Application Protocol v1.1b3, section 4.3). */
enum sim_table { SIM_COIL, SIM_DISCRETE, SIM_INPUT, SIM_HOLDING, SIM_NTABLES };

enum sim_type {
    SIM_BOOL, SIM_INT16, SIM_UINT16, SIM_INT32, SIM_UINT32,
    SIM_INT64, SIM_UINT64, SIM_FLOAT32, SIM_FLOAT64,
};

/* Where the bytes A B C D ... of the big-endian value land on the wire. */
enum sim_order { SIM_ABCD, SIM_CDAB, SIM_BADC, SIM_DCBA };

/* Name lookups for profiles and commands; return 0, or -1 for an unknown name. */
int sim_table_parse(const char *s, enum sim_table *out);
int sim_type_parse(const char *s, enum sim_type *out);
int sim_order_parse(const char *s, enum sim_order *out);
const char *sim_table_name(enum sim_table t);

/* Registers a whole value of this type occupies (1 for bool and 16-bit types). */
int sim_type_words(enum sim_type t);

/* Encodes raw (already scaled, not yet rounded) as type in order into regs[0..words).
 * Integers are rounded half away from zero. Returns the word count, or -1 when raw
 * does not fit the type (NaN for an integer, out of range). */
int sim_encode_raw(enum sim_type t, enum sim_order order, double raw, uint16_t regs[4]);

/* Writes raw into the field of width bits starting at bit of *reg (read-modify-write).
 * For BADC and DCBA the register is byte-swapped before and after, so the field is
 * numbered in the device's own view of the word. Signed types take a two's complement
 * field. Returns 0, or -1 when raw does not fit the field. */
int sim_encode_field(enum sim_type t, enum sim_order order, int bit, int bits, double raw,
                     uint16_t *reg);

/* Engineering value to the raw number on the wire: multiplies by 10^decimals (pass 0
 * when the point has no decimals register), removes offset, divides by scale. */
double sim_encode_unscale(double value, double scale, double offset, double decimals);

#endif
