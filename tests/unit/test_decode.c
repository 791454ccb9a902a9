/* test_decode: word orders, types, bit fields, scaling and the decimals / sum / range pass, on hand-worked vectors. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "decode.h"

/* Registers are host values whose high byte is the first byte on the wire (as libmodbus
 * returns them). For a big-endian value A B C D [E F G H]:
 *   ABCD -> {AB, CD}         CDAB -> {CD, AB}          (64-bit: {GH, EF, CD, AB})
 *   BADC -> {BA, DC}         DCBA -> {DC, BA}          (64-bit: {HG, FE, DC, BA}) */
struct vec {
    const char *what;
    enum reg_table table;
    enum value_type type;
    enum word_order order;
    int8_t bit;
    uint8_t bits;
    uint16_t regs[4];
    double want;
};

#define WHOLE(what, type, order, want, ...) \
    {what, TABLE_HOLDING, type, order, -1, 0, {__VA_ARGS__}, want}
#define FIELD(what, type, order, bit, bits, want, ...) \
    {what, TABLE_HOLDING, type, order, bit, bits, {__VA_ARGS__}, want}

static const struct vec exact[] = {
    /* float32 123.456: 123.456 = 1.929 * 2^6; exponent 6 + 127 = 133 = 1000 0101b;
     * mantissa 0.929 * 2^23 = 7793016.8 -> 7793017 = 0x76E979;
     * 0 10000101 11101101110100101111001 = 0x42F6E979, A=42 B=F6 C=E9 D=79. */
    WHOLE("f32 abcd", VT_FLOAT32, ORDER_ABCD, 123.456f, 0x42F6, 0xE979),
    WHOLE("f32 cdab", VT_FLOAT32, ORDER_CDAB, 123.456f, 0xE979, 0x42F6),
    WHOLE("f32 badc", VT_FLOAT32, ORDER_BADC, 123.456f, 0xF642, 0x79E9),
    WHOLE("f32 dcba", VT_FLOAT32, ORDER_DCBA, 123.456f, 0x79E9, 0xF642),
    /* float32 -0.75: 0.75 = 1.1b * 2^-1, exponent 126 = 0111 1110b, sign 1:
     * 1 01111110 1000... = 0xBF400000. */
    WHOLE("f32 -0.75 abcd", VT_FLOAT32, ORDER_ABCD, -0.75, 0xBF40, 0x0000),
    WHOLE("f32 -0.75 cdab", VT_FLOAT32, ORDER_CDAB, -0.75, 0x0000, 0xBF40),

    /* int32 -2 = 0xFFFFFFFE (two's complement), A=FF B=FF C=FF D=FE. */
    WHOLE("i32 -2 abcd", VT_INT32, ORDER_ABCD, -2, 0xFFFF, 0xFFFE),
    WHOLE("i32 -2 cdab", VT_INT32, ORDER_CDAB, -2, 0xFFFE, 0xFFFF),
    WHOLE("i32 -2 badc", VT_INT32, ORDER_BADC, -2, 0xFFFF, 0xFEFF),
    WHOLE("i32 -2 dcba", VT_INT32, ORDER_DCBA, -2, 0xFEFF, 0xFFFF),
    /* uint32 0x12345678 = 305419896, A=12 B=34 C=56 D=78. */
    WHOLE("u32 abcd", VT_UINT32, ORDER_ABCD, 305419896.0, 0x1234, 0x5678),
    WHOLE("u32 cdab", VT_UINT32, ORDER_CDAB, 305419896.0, 0x5678, 0x1234),
    WHOLE("u32 badc", VT_UINT32, ORDER_BADC, 305419896.0, 0x3412, 0x7856),
    WHOLE("u32 dcba", VT_UINT32, ORDER_DCBA, 305419896.0, 0x7856, 0x3412),
    /* uint32 0xFFFFFFFE read unsigned = 4294967294 (the int32 -2 bytes). */
    WHOLE("u32 high bit", VT_UINT32, ORDER_ABCD, 4294967294.0, 0xFFFF, 0xFFFE),

    /* uint64 0x0011223344556677: highest set bit 52, so exact in a double;
     * 0x11223344556677 = 4822678189205111. Bytes A=00 B=11 C=22 D=33 E=44 F=55 G=66 H=77. */
    WHOLE("u64 abcd", VT_UINT64, ORDER_ABCD, 4822678189205111.0, 0x0011, 0x2233, 0x4455, 0x6677),
    WHOLE("u64 cdab", VT_UINT64, ORDER_CDAB, 4822678189205111.0, 0x6677, 0x4455, 0x2233, 0x0011),
    WHOLE("u64 badc", VT_UINT64, ORDER_BADC, 4822678189205111.0, 0x1100, 0x3322, 0x5544, 0x7766),
    WHOLE("u64 dcba", VT_UINT64, ORDER_DCBA, 4822678189205111.0, 0x7766, 0x5544, 0x3322, 0x1100),
    /* int64 -10^12: 10^12 = 0xE8D4A51000; 2^40 - 0xE8D4A51000 = 0x172B5AF000, so
     * -10^12 = 0xFFFFFF172B5AF000: A=FF B=FF C=FF D=17 E=2B F=5A G=F0 H=00. */
    WHOLE("i64 abcd", VT_INT64, ORDER_ABCD, -1e12, 0xFFFF, 0xFF17, 0x2B5A, 0xF000),
    WHOLE("i64 cdab", VT_INT64, ORDER_CDAB, -1e12, 0xF000, 0x2B5A, 0xFF17, 0xFFFF),
    WHOLE("i64 badc", VT_INT64, ORDER_BADC, -1e12, 0xFFFF, 0x17FF, 0x5A2B, 0x00F0),
    WHOLE("i64 dcba", VT_INT64, ORDER_DCBA, -1e12, 0x00F0, 0x5A2B, 0x17FF, 0xFFFF),
    /* float64 1.0: exponent 1023 = 0x3FF, mantissa 0 -> 0x3FF0000000000000. */
    WHOLE("f64 1 abcd", VT_FLOAT64, ORDER_ABCD, 1.0, 0x3FF0, 0, 0, 0),
    WHOLE("f64 1 cdab", VT_FLOAT64, ORDER_CDAB, 1.0, 0, 0, 0, 0x3FF0),
    WHOLE("f64 1 badc", VT_FLOAT64, ORDER_BADC, 1.0, 0xF03F, 0, 0, 0),
    WHOLE("f64 1 dcba", VT_FLOAT64, ORDER_DCBA, 1.0, 0, 0, 0, 0xF03F),
    /* float64 pi = 0x400921FB54442D18 (IEEE 754 double nearest pi), every word distinct. */
    WHOLE("f64 pi abcd", VT_FLOAT64, ORDER_ABCD, 3.141592653589793, 0x4009, 0x21FB, 0x5444, 0x2D18),
    WHOLE("f64 pi cdab", VT_FLOAT64, ORDER_CDAB, 3.141592653589793, 0x2D18, 0x5444, 0x21FB, 0x4009),
    WHOLE("f64 pi badc", VT_FLOAT64, ORDER_BADC, 3.141592653589793, 0x0940, 0xFB21, 0x4454, 0x182D),
    WHOLE("f64 pi dcba", VT_FLOAT64, ORDER_DCBA, 3.141592653589793, 0x182D, 0x4454, 0xFB21, 0x0940),

    /* int16 -100 = 0x10000 - 100 = 0xFF9C; BADC and DCBA send it as 9C FF. */
    WHOLE("i16 abcd", VT_INT16, ORDER_ABCD, -100, 0xFF9C),
    WHOLE("i16 cdab", VT_INT16, ORDER_CDAB, -100, 0xFF9C),
    WHOLE("i16 badc", VT_INT16, ORDER_BADC, -100, 0x9CFF),
    WHOLE("i16 dcba", VT_INT16, ORDER_DCBA, -100, 0x9CFF),
    /* the same bytes unsigned: 0xFF9C = 65436 */
    WHOLE("u16", VT_UINT16, ORDER_ABCD, 65436, 0xFF9C),
    WHOLE("u16 badc", VT_UINT16, ORDER_BADC, 65436, 0x9CFF),
    WHOLE("bool reg nonzero", VT_BOOL, ORDER_ABCD, 1, 0x0100),
    WHOLE("bool reg zero", VT_BOOL, ORDER_ABCD, 0, 0x0000),

    /* Status word 0x1A35 = 0001 1010 0011 0101b:
     * bit 0 = 1, bit 1 = 0, bit 2 = 1, bit 3 = 0, bits 4..7 = 0011 = 3,
     * bits 8..11 = 1010 = 0xA, bit 8 = 0, bit 9 = 1, bits 12..15 = 1. */
    FIELD("flag bit 0", VT_BOOL, ORDER_ABCD, 0, 1, 1, 0x1A35),
    FIELD("flag bit 1", VT_BOOL, ORDER_ABCD, 1, 1, 0, 0x1A35),
    FIELD("flag bit 3", VT_BOOL, ORDER_ABCD, 3, 1, 0, 0x1A35),
    FIELD("flag bit 8", VT_BOOL, ORDER_ABCD, 8, 1, 0, 0x1A35),
    FIELD("flag bit 9", VT_BOOL, ORDER_ABCD, 9, 1, 1, 0x1A35),
    FIELD("flag bit 12", VT_BOOL, ORDER_ABCD, 12, 1, 1, 0x1A35),
    FIELD("nibble bit 4", VT_UINT16, ORDER_ABCD, 4, 4, 3, 0x1A35),
    FIELD("nibble bit 8", VT_UINT16, ORDER_ABCD, 8, 4, 0xA, 0x1A35),
    /* a field is unsigned even on an int16 point: bits 8..15 = 0x1A = 26 */
    FIELD("byte bit 8 on int16", VT_INT16, ORDER_ABCD, 8, 8, 26, 0x1A35),
    /* bits 13..15 of 0xE000 = 111b = 7, not sign-extended */
    FIELD("top 3 bits on int16", VT_INT16, ORDER_ABCD, 13, 3, 7, 0xE000),
    /* byte-swapped device sends 35 1A; bits count in the value 0x1A35 after the swap */
    FIELD("nibble badc", VT_UINT16, ORDER_BADC, 4, 4, 3, 0x351A),
    FIELD("flag dcba bit 9", VT_BOOL, ORDER_DCBA, 9, 1, 1, 0x351A),
    FIELD("flag badc bit 1", VT_BOOL, ORDER_BADC, 1, 1, 0, 0x351A),

    /* coil and discrete input tables: regs[0] holds the bit */
    {"coil on", TABLE_COIL, VT_BOOL, ORDER_ABCD, -1, 0, {1}, 1},
    {"coil off", TABLE_COIL, VT_BOOL, ORDER_ABCD, -1, 0, {0}, 0},
    {"discrete on", TABLE_DISCRETE, VT_BOOL, ORDER_ABCD, -1, 0, {1}, 1},
    /* an input register decodes like a holding register */
    {"input u16", TABLE_INPUT, VT_UINT16, ORDER_ABCD, -1, 0, {0x04D2}, 1234},
};

static struct point make_point(enum reg_table table, enum value_type type, enum word_order order)
{
    struct point p;
    memset(&p, 0, sizeof p);
    p.table = table;
    p.type = type;
    p.order = order;
    p.bit = -1;
    p.scale = 1.0;
    p.decimals_from = -1;
    return p;
}

/* Decodes from a heap copy exactly as long as the point, so a read past it trips ASan. */
static enum quality decode_exact(const struct point *p, const uint16_t *regs, double *v)
{
    int n = (p->table == TABLE_COIL || p->table == TABLE_DISCRETE) ? 1 : point_width(p);
    uint16_t *copy = malloc((size_t)n * sizeof *copy);
    if (!copy)
        abort();
    memcpy(copy, regs, (size_t)n * sizeof *copy);
    enum quality q = decode_point(p, copy, v);
    free(copy);
    return q;
}

static void test_exact_vectors(void)
{
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        const struct vec *t = &exact[i];
        struct point p = make_point(t->table, t->type, t->order);
        p.bit = t->bit;
        p.bits = t->bits;
        double v = -12345;
        enum quality q = decode_exact(&p, t->regs, &v);
        CHECK_MSG(q == Q_OK && v == t->want, "%s: quality %d, got %.17g, want %.17g", t->what,
                  (int)q, v, t->want);
    }
}

static void test_scale_offset(void)
{
    /* belt speed in mm/s as uint16, manual says "x 0.001 m/s": raw 1500 -> 1.5 m/s */
    struct point p = make_point(TABLE_HOLDING, VT_UINT16, ORDER_ABCD);
    p.scale = 0.001;
    double v;
    uint16_t r1[] = {1500};
    CHECK(decode_exact(&p, r1, &v) == Q_OK);
    CHECK_NEAR(v, 1.5, 1e-12);

    /* temperature: raw 523 tenths with offset -40 degC: 52.3 - 40 = 12.3 */
    p.scale = 0.1;
    p.offset = -40;
    uint16_t r2[] = {523};
    CHECK(decode_exact(&p, r2, &v) == Q_OK);
    CHECK_NEAR(v, 12.3, 1e-9);

    /* negative raw with scale: int16 0xFF38 = -200, x 0.01 = -2.0 */
    p = make_point(TABLE_INPUT, VT_INT16, ORDER_ABCD);
    p.scale = 0.01;
    uint16_t r3[] = {0xFF38};
    CHECK(decode_exact(&p, r3, &v) == Q_OK);
    CHECK_NEAR(v, -2.0, 1e-12);

    /* a flag with scale 1 offset 0 stays 0/1; a scaled nibble: 0x1A35 bits 8..11 = 10, x 0.5 = 5 */
    p = make_point(TABLE_HOLDING, VT_UINT16, ORDER_ABCD);
    p.bit = 8;
    p.bits = 4;
    p.scale = 0.5;
    uint16_t r4[] = {0x1A35};
    CHECK(decode_exact(&p, r4, &v) == Q_OK);
    CHECK(v == 5.0);
}

static void test_not_finite(void)
{
    struct point p = make_point(TABLE_HOLDING, VT_FLOAT32, ORDER_ABCD);
    double v = 0;
    /* 0x7FC00000: exponent all ones, mantissa non-zero -> quiet NaN */
    uint16_t nan32[] = {0x7FC0, 0x0000};
    CHECK(decode_exact(&p, nan32, &v) == Q_INVALID);
    CHECK(isnan(v));
    /* 0x7F800000: exponent all ones, mantissa zero -> +Inf; 0xFF800000 -> -Inf */
    v = 0;
    uint16_t inf32[] = {0x7F80, 0x0000};
    CHECK(decode_exact(&p, inf32, &v) == Q_INVALID);
    CHECK(isnan(v));
    uint16_t ninf32[] = {0xFF80, 0x0000};
    CHECK(decode_exact(&p, ninf32, &v) == Q_INVALID);
    /* word-swapped NaN: only invalid when read in the right order; 0x00007FC0 in ABCD is a
     * tiny denormal, valid */
    uint16_t nan_cdab[] = {0x0000, 0x7FC0};
    p.order = ORDER_CDAB;
    CHECK(decode_exact(&p, nan_cdab, &v) == Q_INVALID);
    p.order = ORDER_ABCD;
    CHECK(decode_exact(&p, nan_cdab, &v) == Q_OK);
    /* float64 0x7FF8000000000000 = NaN */
    p = make_point(TABLE_HOLDING, VT_FLOAT64, ORDER_ABCD);
    uint16_t nan64[] = {0x7FF8, 0, 0, 0};
    CHECK(decode_exact(&p, nan64, &v) == Q_INVALID);
    CHECK(isnan(v));
    /* a finite float scaled past the double range becomes Inf: 0x7F7FFFFF = FLT_MAX ~3.4e38,
     * x 1e300 overflows */
    p = make_point(TABLE_HOLDING, VT_FLOAT32, ORDER_ABCD);
    p.scale = 1e300;
    uint16_t big[] = {0x7F7F, 0xFFFF};
    CHECK(decode_exact(&p, big, &v) == Q_INVALID);
}

/* A small profile for the second pass. */
static int add(struct profile *pr, enum reg_table table, enum value_type type)
{
    int i = pr->npoints++;
    pr->points[i] = make_point(table, type, ORDER_ABCD);
    return i;
}

static void test_decimals(void)
{
    static struct profile pr;
    memset(&pr, 0, sizeof pr);
    /* level as int16 with a separate "decimal places" register:
     * raw 1234 with 2 places -> 12.34 (1234 / 10^2) */
    int level = add(&pr, TABLE_HOLDING, VT_INT16);
    int places = add(&pr, TABLE_HOLDING, VT_UINT16);
    int neg = add(&pr, TABLE_HOLDING, VT_INT16);
    pr.points[level].decimals_from = (int16_t)places;
    pr.points[neg].decimals_from = (int16_t)places;
    pr.points[level].has_max = true;
    pr.points[level].max = 20; /* 12.34 passes; raw 1234 would not: ranges come after decimals */

    double v[3];
    uint8_t q[3];
    uint16_t r_level[] = {1234}, r_neg[] = {0xFB2E}; /* 0x10000 - 0xFB2E = 0x4D2 = 1234 -> -1234 */
    struct {
        uint16_t places;
        uint8_t want_q;
        double want_level, want_neg;
    } cases[] = {
        {2, Q_OK, 12.34, -12.34},
        {0, Q_INVALID, NAN, -1234}, /* 0 places: 1234 > max 20, level invalid by range */
        {3, Q_OK, 1.234, -1.234},
        {9, Q_OK, 1234e-9, -1234e-9},
        {10, Q_INVALID, NAN, NAN}, /* only 0..9 places make sense */
        {11, Q_INVALID, NAN, NAN},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint16_t r_places[] = {cases[c].places};
        q[level] = (uint8_t)decode_exact(&pr.points[level], r_level, &v[level]);
        q[places] = (uint8_t)decode_exact(&pr.points[places], r_places, &v[places]);
        q[neg] = (uint8_t)decode_exact(&pr.points[neg], r_neg, &v[neg]);
        decode_finish(&pr, v, q);
        CHECK_MSG(q[level] == cases[c].want_q, "places %u: quality %d", cases[c].places, q[level]);
        if (cases[c].want_q == Q_OK)
            CHECK_MSG(v[level] == cases[c].want_level, "places %u: %.17g", cases[c].places, v[level]);
        else
            CHECK(isnan(v[level]));
        if (isnan(cases[c].want_neg))
            CHECK(q[neg] == Q_INVALID && isnan(v[neg]));
        else
            CHECK_MSG(q[neg] == Q_OK && v[neg] == cases[c].want_neg, "places %u: %.17g",
                      cases[c].places, v[neg]);
        CHECK(q[places] == Q_OK); /* the places register itself is untouched */
    }

    /* places that are not an integer (2.5 after scaling) -> invalid */
    pr.points[places].scale = 0.5;
    uint16_t r5[] = {5};
    q[level] = (uint8_t)decode_exact(&pr.points[level], r_level, &v[level]);
    q[places] = (uint8_t)decode_exact(&pr.points[places], r5, &v[places]);
    q[neg] = Q_OFFLINE;
    v[neg] = NAN;
    decode_finish(&pr, v, q);
    CHECK(q[level] == Q_INVALID && isnan(v[level]));
    CHECK(q[neg] == Q_OFFLINE); /* not Q_OK on entry: left alone */
    pr.points[places].scale = 1;

    /* places register itself invalid (offline) -> the level is invalid */
    q[level] = (uint8_t)decode_exact(&pr.points[level], r_level, &v[level]);
    q[places] = Q_INVALID;
    v[places] = NAN;
    q[neg] = Q_OK;
    v[neg] = -1234;
    decode_finish(&pr, v, q);
    CHECK(q[level] == Q_INVALID && isnan(v[level]));
    CHECK(q[neg] == Q_INVALID && isnan(v[neg]));
}

static void test_sums(void)
{
    static struct profile pr;
    memset(&pr, 0, sizeof pr);
    /* totalizer split in an int32 integer part and a float32 fractional part:
     * 123456 = 0x0001E240 -> ABCD {0x0001, 0xE240};
     * 0.75 = 1.1b * 2^-1 -> 0 01111110 100.. = 0x3F400000, sent low word first (CDAB) {0x0000, 0x3F40};
     * total 123456.75, exact in a double. */
    int whole = add(&pr, TABLE_INPUT, VT_INT32);
    int frac = add(&pr, TABLE_INPUT, VT_FLOAT32);
    pr.points[frac].order = ORDER_CDAB;
    pr.points[frac].has_min = true;
    pr.points[frac].min = 0;
    pr.points[frac].has_max = true;
    pr.points[frac].max = 1;
    int total = add(&pr, TABLE_DERIVED, VT_FLOAT64);
    pr.points[total].nsum = 2;
    pr.points[total].sum[0] = (int16_t)whole;
    pr.points[total].sum[1] = (int16_t)frac;

    double v[3];
    uint8_t q[3];
    uint16_t r_whole[] = {0x0001, 0xE240}, r_frac[] = {0x0000, 0x3F40};
    q[whole] = (uint8_t)decode_exact(&pr.points[whole], r_whole, &v[whole]);
    q[frac] = (uint8_t)decode_exact(&pr.points[frac], r_frac, &v[frac]);
    q[total] = Q_OK;
    v[total] = 0;
    CHECK(v[whole] == 123456 && v[frac] == 0.75);
    decode_finish(&pr, v, q);
    CHECK_MSG(q[total] == Q_OK && v[total] == 123456.75, "total %.17g q %d", v[total], q[total]);

    /* a NaN fraction (0x7FC00000, CDAB {0x0000, 0x7FC0}) makes the sum invalid */
    uint16_t r_nan[] = {0x0000, 0x7FC0};
    q[whole] = (uint8_t)decode_exact(&pr.points[whole], r_whole, &v[whole]);
    q[frac] = (uint8_t)decode_exact(&pr.points[frac], r_nan, &v[frac]);
    q[total] = Q_OK;
    CHECK(q[frac] == Q_INVALID);
    decode_finish(&pr, v, q);
    CHECK(q[total] == Q_INVALID && isnan(v[total]));
    CHECK(q[whole] == Q_OK && v[whole] == 123456);

    /* a term offline passes offline on */
    q[whole] = Q_OFFLINE;
    v[whole] = NAN;
    q[frac] = (uint8_t)decode_exact(&pr.points[frac], r_frac, &v[frac]);
    q[total] = Q_OK;
    decode_finish(&pr, v, q);
    CHECK(q[total] == Q_OFFLINE && isnan(v[total]));

    /* the sum uses terms after decimals: whole part 1234 with 2 places = 12.34, + 0.75 = 13.09;
     * the fraction 1.5 (0x3FC00000: 1.1b * 2^0) is over its max 1: invalid itself, but only
     * after the sum used it (ranges come last) -> 12.34 + 1.5 = 13.84 */
    int places = add(&pr, TABLE_HOLDING, VT_UINT16);
    pr.points[whole].decimals_from = (int16_t)places;
    double v4[4];
    uint8_t q4[4];
    uint16_t r_1234[] = {0x0000, 0x04D2}, r_2[] = {2}, r_15[] = {0x0000, 0x3FC0};
    q4[whole] = (uint8_t)decode_exact(&pr.points[whole], r_1234, &v4[whole]);
    q4[frac] = (uint8_t)decode_exact(&pr.points[frac], r_frac, &v4[frac]);
    q4[places] = (uint8_t)decode_exact(&pr.points[places], r_2, &v4[places]);
    q4[total] = Q_OK;
    decode_finish(&pr, v4, q4);
    CHECK(q4[total] == Q_OK);
    CHECK_NEAR(v4[total], 13.09, 1e-12);
    q4[whole] = (uint8_t)decode_exact(&pr.points[whole], r_1234, &v4[whole]);
    q4[frac] = (uint8_t)decode_exact(&pr.points[frac], r_15, &v4[frac]);
    q4[places] = (uint8_t)decode_exact(&pr.points[places], r_2, &v4[places]);
    q4[total] = Q_OK;
    decode_finish(&pr, v4, q4);
    CHECK(q4[frac] == Q_INVALID && isnan(v4[frac]));
    CHECK(q4[total] == Q_OK);
    CHECK_NEAR(v4[total], 13.84, 1e-12);

    /* the sum's own range: max 13.5 -> 13.84 invalid */
    pr.points[total].has_max = true;
    pr.points[total].max = 13.5;
    q4[frac] = (uint8_t)decode_exact(&pr.points[frac], r_15, &v4[frac]);
    q4[whole] = (uint8_t)decode_exact(&pr.points[whole], r_1234, &v4[whole]);
    q4[total] = Q_OK;
    decode_finish(&pr, v4, q4);
    CHECK(q4[total] == Q_INVALID && isnan(v4[total]));

    /* a term index outside the profile makes the sum invalid, not a crash */
    pr.points[total].has_max = false;
    pr.points[total].sum[1] = 99;
    q4[whole] = (uint8_t)decode_exact(&pr.points[whole], r_1234, &v4[whole]);
    q4[total] = Q_OK;
    decode_finish(&pr, v4, q4);
    CHECK(q4[total] == Q_INVALID);
}

static void test_ranges(void)
{
    static struct profile pr;
    memset(&pr, 0, sizeof pr);
    int a = add(&pr, TABLE_HOLDING, VT_INT16);
    pr.points[a].has_min = true;
    pr.points[a].min = -10;
    pr.points[a].has_max = true;
    pr.points[a].max = 10;
    int b = add(&pr, TABLE_HOLDING, VT_INT16); /* no range: anything goes */
    struct {
        int16_t raw;
        uint8_t want;
    } cases[] = {
        {-11, Q_INVALID}, {-10, Q_OK}, {0, Q_OK}, {10, Q_OK}, {11, Q_INVALID}, {-32768, Q_INVALID},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double v[2] = {cases[c].raw, cases[c].raw};
        uint8_t q[2] = {Q_OK, Q_OK};
        decode_finish(&pr, v, q);
        CHECK_MSG(q[a] == cases[c].want, "raw %d: quality %d", cases[c].raw, q[a]);
        CHECK(cases[c].want == Q_OK ? v[a] == cases[c].raw : isnan(v[a]));
        CHECK(q[b] == Q_OK && v[b] == cases[c].raw);
    }
    /* only a minimum */
    pr.points[a].has_max = false;
    double v[2] = {1e9, 0};
    uint8_t q[2] = {Q_OK, Q_OK};
    decode_finish(&pr, v, q);
    CHECK(q[a] == Q_OK && v[a] == 1e9);
}

int main(void)
{
    test_exact_vectors();
    test_scale_offset();
    test_not_finite();
    test_decimals();
    test_sums();
    test_ranges();
    return check_report();
}
