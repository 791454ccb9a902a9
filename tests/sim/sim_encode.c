/* sim_encode: engineering values to register words, written from the Modbus and IEEE 754 definitions. */
#include "sim_encode.h"

#include <math.h>
#include <string.h>

static const char *const table_names[SIM_NTABLES] = { "coil", "discrete", "input", "holding" };

static const char *const type_names[] = {
    "bool", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64",
};

static const char *const order_names[] = { "ABCD", "CDAB", "BADC", "DCBA" };

static int lookup(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int sim_table_parse(const char *s, enum sim_table *out)
{
    int i = lookup(s, table_names, SIM_NTABLES);
    if (i < 0)
        return -1;
    *out = (enum sim_table)i;
    return 0;
}

int sim_type_parse(const char *s, enum sim_type *out)
{
    int i = lookup(s, type_names, (int)(sizeof type_names / sizeof type_names[0]));
    if (i < 0)
        return -1;
    *out = (enum sim_type)i;
    return 0;
}

int sim_order_parse(const char *s, enum sim_order *out)
{
    int i = lookup(s, order_names, 4);
    if (i < 0)
        return -1;
    *out = (enum sim_order)i;
    return 0;
}

const char *sim_table_name(enum sim_table t)
{
    return (unsigned)t < SIM_NTABLES ? table_names[t] : "?";
}

int sim_type_words(enum sim_type t)
{
    switch (t) {
    case SIM_INT32: case SIM_UINT32: case SIM_FLOAT32: return 2;
    case SIM_INT64: case SIM_UINT64: case SIM_FLOAT64: return 4;
    default: return 1;
    }
}

static uint16_t swap16(uint16_t w)
{
    return (uint16_t)((w >> 8) | (w << 8));
}

/* Integer range check done in double before any conversion, since converting an
 * out-of-range double to an integer type is undefined. Bounds are exact powers of two. */
static int fits(double r, double lo, double hi_excl)
{
    return !isnan(r) && r >= lo && r < hi_excl;
}

/* Big-endian bytes of the value: b[0] is A, the most significant byte. */
static int to_bytes(enum sim_type t, double raw, uint8_t b[8])
{
    uint64_t u = 0;
    int n = 2 * sim_type_words(t);
    double r = round(raw);

    switch (t) {
    case SIM_BOOL:
        u = (raw != 0.0 && !isnan(raw)) ? 1 : 0;
        break;
    case SIM_INT16:
        if (!fits(r, -32768.0, 32768.0))
            return -1;
        u = (uint16_t)(int16_t)r;
        break;
    case SIM_UINT16:
        if (!fits(r, 0.0, 65536.0))
            return -1;
        u = (uint16_t)r;
        break;
    case SIM_INT32:
        if (!fits(r, -2147483648.0, 2147483648.0))
            return -1;
        u = (uint32_t)(int32_t)r;
        break;
    case SIM_UINT32:
        if (!fits(r, 0.0, 4294967296.0))
            return -1;
        u = (uint32_t)r;
        break;
    case SIM_INT64:
        if (!fits(r, -9223372036854775808.0, 9223372036854775808.0))
            return -1;
        u = (uint64_t)(int64_t)r;
        break;
    case SIM_UINT64:
        if (!fits(r, 0.0, 18446744073709551616.0))
            return -1;
        u = (uint64_t)r;
        break;
    case SIM_FLOAT32: {
        if (isfinite(raw) && fabs(raw) > 3.4028234663852886e38)
            return -1;
        float f = (float)raw;
        uint32_t bits32;
        memcpy(&bits32, &f, sizeof bits32);
        u = bits32;
        break;
    }
    case SIM_FLOAT64:
        memcpy(&u, &raw, sizeof u);
        break;
    }
    for (int i = n - 1; i >= 0; i--) {
        b[i] = (uint8_t)(u & 0xFF);
        u >>= 8;
    }
    return n;
}

int sim_encode_raw(enum sim_type t, enum sim_order order, double raw, uint16_t regs[4])
{
    uint8_t b[8];
    int n = to_bytes(t, raw, b);
    if (n < 0)
        return -1;
    int nw = n / 2;
    uint16_t w[4];
    for (int i = 0; i < nw; i++)
        w[i] = (uint16_t)(b[2 * i] << 8 | b[2 * i + 1]);
    for (int i = 0; i < nw; i++) {
        switch (order) {
        case SIM_ABCD: regs[i] = w[i]; break;
        case SIM_CDAB: regs[i] = w[nw - 1 - i]; break;
        case SIM_BADC: regs[i] = swap16(w[i]); break;
        case SIM_DCBA: regs[i] = swap16(w[nw - 1 - i]); break;
        }
    }
    return nw;
}

int sim_encode_field(enum sim_type t, enum sim_order order, int bit, int bits, double raw,
                     uint16_t *reg)
{
    if (bit < 0 || bits < 1 || bit + bits > 16)
        return -1;
    uint32_t mask = (1u << bits) - 1u;
    uint32_t field;
    if (t == SIM_BOOL) {
        field = (raw != 0.0 && !isnan(raw)) ? 1u : 0u;
    } else {
        double r = round(raw);
        bool is_signed = t == SIM_INT16 || t == SIM_INT32 || t == SIM_INT64;
        double lo = is_signed ? -ldexp(1.0, bits - 1) : 0.0;
        double hi = is_signed ? ldexp(1.0, bits - 1) : ldexp(1.0, bits);
        if (!fits(r, lo, hi))
            return -1;
        field = (uint32_t)(int32_t)r & mask;
    }
    bool swapped = order == SIM_BADC || order == SIM_DCBA;
    uint16_t v = swapped ? swap16(*reg) : *reg;
    v = (uint16_t)((v & ~(mask << bit)) | (field << bit));
    *reg = swapped ? swap16(v) : v;
    return 0;
}

double sim_encode_unscale(double value, double scale, double offset, double decimals)
{
    double v = decimals != 0.0 ? value * pow(10.0, decimals) : value;
    return (v - offset) / scale;
}
