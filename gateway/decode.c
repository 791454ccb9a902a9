/* decode: registers to scaled values (decode_point) and the per-poll pass for decimals, sums and ranges
 * (decode_finish). */
#include "decode.h"

#include <math.h>
#include <string.h>

/* The enum values of word_order are chosen so that bit 0 means "words reversed" (CDAB, DCBA)
 * and bit 1 means "bytes swapped inside each word" (BADC, DCBA); decode_point relies on it. */
_Static_assert(ORDER_ABCD == 0 && ORDER_CDAB == 1 && ORDER_BADC == 2 && ORDER_DCBA == 3,
               "word_order bits: 1 = words reversed, 2 = bytes swapped");

/* Puts the register words back into one big-endian integer A B C D ... (A most significant),
 * whatever order the device sent them in. A register's high byte is its first byte on the wire. */
static inline uint64_t assemble(const uint16_t *regs, int n, enum word_order order)
{
    unsigned rev = (unsigned)order & 1u;
    unsigned swap = ((unsigned)order >> 1) & 1u;
    uint64_t raw = 0;
    for (int k = 0; k < n; k++) {
        uint16_t w = regs[rev ? n - 1 - k : k];
        w = swap ? (uint16_t)((w << 8) | (w >> 8)) : w;
        raw = (raw << 16) | w;
    }
    return raw;
}

static inline double as_float32(uint64_t raw)
{
    uint32_t u = (uint32_t)raw;
    float f;
    memcpy(&f, &u, sizeof f);
    return (double)f;
}

static inline double as_float64(uint64_t raw)
{
    double d;
    memcpy(&d, &raw, sizeof d);
    return d;
}

enum quality decode_point(const struct point *p, const uint16_t *regs, double *v)
{
    double x;
    if (p->table == TABLE_COIL || p->table == TABLE_DISCRETE) {
        x = regs[0] != 0;
    } else {
        int n = point_width(p);
        uint64_t raw = assemble(regs, n, p->order);
        if (p->bit >= 0) {
            /* A field is read as unsigned whatever the type; the masks keep shifts defined
             * even for a profile that slipped through with an absurd bit or width. */
            unsigned bits = p->bits & 63u;
            uint64_t mask = bits ? (~UINT64_C(0) >> (64 - bits)) : 0;
            raw = (raw >> ((unsigned)p->bit & 63u)) & mask;
            x = p->type == VT_BOOL ? (double)(raw != 0) : (double)raw;
        } else {
            switch (p->type) {
            case VT_BOOL:
                x = raw != 0;
                break;
            case VT_INT16:
                x = (int16_t)(uint16_t)raw;
                break;
            case VT_UINT16:
                x = (uint16_t)raw;
                break;
            case VT_INT32:
                x = (int32_t)(uint32_t)raw;
                break;
            case VT_UINT32:
                x = (uint32_t)raw;
                break;
            case VT_INT64:
                x = (double)(int64_t)raw;
                break;
            case VT_UINT64:
                x = (double)raw;
                break;
            case VT_FLOAT32:
                x = as_float32(raw);
                break;
            case VT_FLOAT64:
                x = as_float64(raw);
                break;
            default:
                x = NAN;
                break;
            }
        }
    }
    x = x * p->scale + p->offset;
    if (!isfinite(x)) {
        *v = NAN;
        return Q_INVALID;
    }
    *v = x;
    return Q_OK;
}

static void set_invalid(double *values, uint8_t *quality, int i)
{
    values[i] = NAN;
    quality[i] = Q_INVALID;
}

/* Dividing by an exact power of ten (rather than multiplying by 0.01) gives the double
 * nearest to the printed reading: 1234 / 100 is exactly the double 12.34. */
static const double pow10_table[10] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

static void apply_decimals(const struct profile *pr, double *values, uint8_t *quality)
{
    for (int i = 0; i < pr->npoints; i++) {
        int d = pr->points[i].decimals_from;
        if (d < 0 || quality[i] != Q_OK)
            continue;
        if (d >= pr->npoints || quality[d] != Q_OK) {
            set_invalid(values, quality, i);
            continue;
        }
        double places = values[d];
        if (!(places >= 0 && places <= 9) || places != floor(places)) {
            set_invalid(values, quality, i);
            continue;
        }
        values[i] /= pow10_table[(int)places];
    }
}

/* Sums run in point order, so a sum may use an earlier sum but not a later one (not yet
 * computed). A term that is not Q_OK passes its quality on: offline stays offline. */
static void apply_sums(const struct profile *pr, double *values, uint8_t *quality)
{
    for (int i = 0; i < pr->npoints; i++) {
        const struct point *pt = &pr->points[i];
        if (pt->table != TABLE_DERIVED || pt->nsum == 0 || quality[i] != Q_OK)
            continue;
        double sum = 0;
        uint8_t q = Q_OK;
        int nterms = pt->nsum <= MAX_SUM_TERMS ? pt->nsum : MAX_SUM_TERMS;
        for (int k = 0; k < nterms; k++) {
            int t = pt->sum[k];
            if (t < 0 || t >= pr->npoints || t == i || (t > i && pr->points[t].table == TABLE_DERIVED)) {
                q = Q_INVALID;
                break;
            }
            if (quality[t] != Q_OK) {
                q = quality[t];
                break;
            }
            sum += values[t];
        }
        if (q == Q_OK && !isfinite(sum))
            q = Q_INVALID;
        if (q != Q_OK) {
            values[i] = NAN;
            quality[i] = q;
        } else {
            values[i] = sum;
        }
    }
}

static void apply_ranges(const struct profile *pr, double *values, uint8_t *quality)
{
    for (int i = 0; i < pr->npoints; i++) {
        const struct point *pt = &pr->points[i];
        if (quality[i] != Q_OK)
            continue;
        if ((pt->has_min && values[i] < pt->min) || (pt->has_max && values[i] > pt->max))
            set_invalid(values, quality, i);
    }
}

/* Ranges come last so they judge the value a user sees, after decimals and sums. A term out
 * of its own range is marked invalid, but a sum already built from it stands: a sum that must
 * be bounded gets its own min and max. */
void decode_finish(const struct profile *pr, double *values, uint8_t *quality)
{
    apply_decimals(pr, values, quality);
    apply_sums(pr, values, quality);
    apply_ranges(pr, values, quality);
}
