/* sim_device: one simulated unit — its register image, holes, behaviour, counters and
 * the execution of request PDUs against that image.
 * Invariant: every wire point's registers lie inside its table's image and are mapped
 * unless a hole was declared on them, so encoding never needs a bounds check at run time. */
#include "sim_device.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_cmd.h"

/* Modbus Application Protocol v1.1b3, section 7. */
#define EXC_ILLEGAL_FUNCTION 0x01
#define EXC_ILLEGAL_ADDRESS 0x02
#define EXC_ILLEGAL_VALUE 0x03

/* Quantity limits, section 6: read coils/inputs 0x7D0, read registers 0x7D,
 * write multiple coils 0x7B0, write multiple registers 0x7B. */
#define MAX_READ_BITS 2000
#define MAX_READ_REGS 125
#define MAX_WRITE_BITS 1968
#define MAX_WRITE_REGS 123

__attribute__((format(printf, 3, 4)))
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

struct span {
    uint32_t lo, hi;            /* [lo, hi) */
};

static void grow(struct span *s, uint32_t lo, uint32_t hi)
{
    if (s->hi == 0 && s->lo == 0) {
        s->lo = lo;
        s->hi = hi;
        return;
    }
    if (lo < s->lo)
        s->lo = lo;
    if (hi > s->hi)
        s->hi = hi;
}

static int build_images(struct sim_device *d, const struct sim_device_spec *spec)
{
    const struct sim_profile *pr = spec->profile;
    struct span hull[SIM_NTABLES], all[SIM_NTABLES];
    memset(hull, 0, sizeof hull);

    for (int i = 0; i < pr->npoints; i++) {
        const struct sim_point *p = &pr->points[i];
        int w = sim_point_span(p);
        if (w > 0)
            grow(&hull[p->table], p->address, (uint32_t)p->address + (uint32_t)w);
    }
    memcpy(all, hull, sizeof all);
    for (int i = 0; i < spec->nextras; i++) {
        const struct sim_range *r = &spec->extras[i];
        grow(&all[r->table], r->address, r->address + r->count);
    }
    for (int t = 0; t < SIM_NTABLES; t++) {
        struct sim_image *im = &d->img[t];
        im->lo = all[t].lo;
        im->n = all[t].hi - all[t].lo;
        if (im->n == 0)
            continue;
        im->val = calloc(im->n, sizeof *im->val);
        im->cell = calloc(im->n, sizeof *im->cell);
        if (!im->val || !im->cell)
            return -1;
        for (uint32_t a = hull[t].lo; a < hull[t].hi; a++)
            im->cell[a - im->lo] = SIM_CELL_MAPPED;
    }
    for (int i = 0; i < spec->nextras; i++) {
        const struct sim_range *r = &spec->extras[i];
        struct sim_image *im = &d->img[r->table];
        for (uint32_t a = r->address; a < r->address + r->count; a++)
            im->cell[a - im->lo] = SIM_CELL_MAPPED;
    }
    return 0;
}

/* Decimal places are a small non-negative count on every device seen; anything else
 * would make 10^n overflow the register types long before it meant anything. */
static int decimals_of(const struct sim_device *d, const struct sim_point *p, double *out,
                       char *err, size_t errlen)
{
    *out = 0.0;
    if (p->decimals_from < 0)
        return 0;
    double dec = d->values[p->decimals_from];
    if (!isfinite(dec) || dec != floor(dec) || dec < 0.0 || dec > 18.0) {
        fail(err, errlen, "%s: decimals point %s holds %g, not 0..18", p->name,
             d->profile->points[p->decimals_from].name, dec);
        return -1;
    }
    *out = dec;
    return 0;
}

static int encode(struct sim_device *d, int idx, double value, char *err, size_t errlen)
{
    const struct sim_point *p = &d->profile->points[idx];
    struct sim_image *im = &d->img[p->table];
    uint16_t *at = &im->val[p->address - im->lo];
    double dec;

    if (p->derived) {
        fail(err, errlen, "%s is derived (not on the wire)", p->name);
        return -1;
    }
    if (p->table == SIM_COIL || p->table == SIM_DISCRETE) {
        *at = (value != 0.0 && !isnan(value)) ? 1 : 0;
        return 0;
    }
    if (decimals_of(d, p, &dec, err, errlen) < 0)
        return -1;
    double raw = sim_encode_unscale(value, p->scale, p->offset, dec);
    if (p->bit >= 0) {
        if (sim_encode_field(p->type, p->order, p->bit, p->bits, raw, at) < 0) {
            fail(err, errlen, "%s: %g (raw %g) does not fit a %d-bit field", p->name, value, raw,
                 p->bits);
            return -1;
        }
        return 0;
    }
    uint16_t regs[4];
    int nw = sim_encode_raw(p->type, p->order, raw, regs);
    if (nw < 0) {
        fail(err, errlen, "%s: %g (raw %g) does not fit the point's type", p->name, value, raw);
        return -1;
    }
    memcpy(at, regs, (size_t)nw * sizeof regs[0]);
    return 0;
}

static int assign(struct sim_device *d, int idx, double value, char *err, size_t errlen)
{
    if (encode(d, idx, value, err, errlen) < 0)
        return -1;
    d->values[idx] = value;
    for (int i = 0; i < d->profile->npoints; i++) {
        if (d->profile->points[i].decimals_from == idx &&
            encode(d, i, d->values[i], err, errlen) < 0)
            return -1;
    }
    return 0;
}

int sim_device_init(struct sim_device *d, const struct sim_device_spec *spec, char *err,
                    size_t errlen)
{
    const struct sim_profile *pr = spec->profile;

    memset(d, 0, sizeof *d);
    d->unit = spec->unit;
    d->profile = pr;
    d->values = calloc((size_t)pr->npoints + 1, sizeof *d->values);
    d->nmotions = spec->nmotions;
    d->motions = calloc((size_t)spec->nmotions + 1, sizeof *d->motions);
    d->motion_start = calloc((size_t)spec->nmotions + 1, sizeof *d->motion_start);
    d->motion_on = calloc((size_t)spec->nmotions + 1, 1);
    if (!d->values || !d->motions || !d->motion_start || !d->motion_on ||
        build_images(d, spec) < 0) {
        fail(err, errlen, "unit %d: out of memory", d->unit);
        return -1;
    }
    /* An all-zero register decodes to the offset, so that is the starting value. */
    for (int i = 0; i < pr->npoints; i++)
        d->values[i] = pr->points[i].offset;
    for (int i = 0; i < spec->nvalues; i++) {
        char e[200];
        if (assign(d, spec->values[i].point, spec->values[i].value, e, sizeof e) < 0) {
            fail(err, errlen, "unit %d: values: %s", d->unit, e);
            return -1;
        }
    }
    for (int i = 0; i < spec->nholes; i++)
        sim_device_hole(d, spec->holes[i].table, spec->holes[i].address, spec->holes[i].count);
    if (spec->nmotions)
        memcpy(d->motions, spec->motions, (size_t)spec->nmotions * sizeof *d->motions);
    for (int i = 0; i < d->nmotions; i++) {
        d->motion_on[i] = 1;
        d->motion_start[i] = d->values[d->motions[i].point];
    }

    char line[SIM_CMD_MAX + 32], e[160];
    struct sim_cmd cmd;
    snprintf(line, sizeof line, "behave %d %s", d->unit, spec->behave);
    if (sim_cmd_parse(line, &cmd, e, sizeof e) < 0) {
        fail(err, errlen, "unit %d: behave: %s", d->unit, e);
        return -1;
    }
    d->behave = cmd.behave;
    return 0;
}

void sim_device_free(struct sim_device *d)
{
    for (int t = 0; t < SIM_NTABLES; t++) {
        free(d->img[t].val);
        free(d->img[t].cell);
    }
    free(d->values);
    free(d->motions);
    free(d->motion_start);
    free(d->motion_on);
    memset(d, 0, sizeof *d);
}

int sim_device_set(struct sim_device *d, int point, double value, char *err, size_t errlen)
{
    if (point < 0 || point >= d->profile->npoints) {
        fail(err, errlen, "no such point");
        return -1;
    }
    for (int i = 0; i < d->nmotions; i++)
        if (d->motions[i].point == point)
            d->motion_on[i] = 0;
    return assign(d, point, value, err, errlen);
}

int sim_device_raw(struct sim_device *d, enum sim_table t, uint32_t address, uint16_t value,
                   char *err, size_t errlen)
{
    struct sim_image *im = &d->img[t];
    if (address < im->lo || address >= im->lo + im->n ||
        im->cell[address - im->lo] == SIM_CELL_OUT) {
        fail(err, errlen, "%s %u is outside unit %d's map", sim_table_name(t), address, d->unit);
        return -1;
    }
    if ((t == SIM_COIL || t == SIM_DISCRETE) && value > 1) {
        fail(err, errlen, "a %s holds 0 or 1", sim_table_name(t));
        return -1;
    }
    im->val[address - im->lo] = value;
    return 0;
}

void sim_device_hole(struct sim_device *d, enum sim_table t, uint32_t address, uint32_t count)
{
    struct sim_image *im = &d->img[t];
    for (uint32_t a = address; a < address + count && a < 65536; a++)
        if (a >= im->lo && a < im->lo + im->n && im->cell[a - im->lo] != SIM_CELL_OUT)
            im->cell[a - im->lo] = SIM_CELL_HOLE;
}

void sim_device_tick(struct sim_device *d, double t_s)
{
    for (int i = 0; i < d->nmotions; i++) {
        const struct sim_motion *m = &d->motions[i];
        double v;
        if (!d->motion_on[i])
            continue;
        switch (m->kind) {
        case SIM_WAVE:
            v = m->a + m->b * sin(2.0 * M_PI * t_s / m->c);
            break;
        case SIM_RAMP:
            if (t_s <= m->d)
                v = m->a;
            else if (m->c <= 0.0 || t_s >= m->d + m->c)
                v = m->b;
            else
                v = m->a + (m->b - m->a) * (t_s - m->d) / m->c;
            break;
        case SIM_COUNTER:
        default:
            v = d->motion_start[i] + m->a * floor(t_s / m->c);
            break;
        }
        char e[200];
        if (assign(d, m->point, v, e, sizeof e) < 0) {
            /* Stop rather than repeat the same complaint ten times a second. */
            fprintf(stderr, "sim: unit %d: motion stopped: %s\n", d->unit, e);
            d->motion_on[i] = 0;
        }
    }
}

/* ---- request execution ---- */

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static size_t exception(uint8_t fc, uint8_t code, uint8_t *reply)
{
    reply[0] = (uint8_t)(fc | 0x80);
    reply[1] = code;
    return 2;
}

/* Every address of [addr, addr + qty) mapped in table t. */
static int range_ok(const struct sim_device *d, enum sim_table t, uint32_t addr, uint32_t qty)
{
    const struct sim_image *im = &d->img[t];
    if (addr + qty > 65536 || addr < im->lo || addr + qty > im->lo + im->n)
        return 0;
    for (uint32_t a = addr; a < addr + qty; a++)
        if (im->cell[a - im->lo] != SIM_CELL_MAPPED)
            return 0;
    return 1;
}

static size_t read_bits(struct sim_device *d, enum sim_table t, const uint8_t *pdu, size_t n,
                        uint8_t *reply)
{
    if (n != 5)
        return exception(pdu[0], EXC_ILLEGAL_VALUE, reply);
    uint32_t addr = be16(pdu + 1), qty = be16(pdu + 3);
    if (qty < 1 || qty > MAX_READ_BITS)
        return exception(pdu[0], EXC_ILLEGAL_VALUE, reply);
    if (!range_ok(d, t, addr, qty))
        return exception(pdu[0], EXC_ILLEGAL_ADDRESS, reply);
    const struct sim_image *im = &d->img[t];
    size_t nbytes = (qty + 7) / 8;
    reply[0] = pdu[0];
    reply[1] = (uint8_t)nbytes;
    memset(reply + 2, 0, nbytes);
    /* Section 6.1: the first requested coil is the LSB of the first data byte. */
    for (uint32_t i = 0; i < qty; i++)
        if (im->val[addr + i - im->lo])
            reply[2 + i / 8] |= (uint8_t)(1u << (i % 8));
    return 2 + nbytes;
}

static size_t read_regs(struct sim_device *d, enum sim_table t, const uint8_t *pdu, size_t n,
                        uint8_t *reply)
{
    if (n != 5)
        return exception(pdu[0], EXC_ILLEGAL_VALUE, reply);
    uint32_t addr = be16(pdu + 1), qty = be16(pdu + 3);
    if (qty < 1 || qty > MAX_READ_REGS)
        return exception(pdu[0], EXC_ILLEGAL_VALUE, reply);
    if (!range_ok(d, t, addr, qty))
        return exception(pdu[0], EXC_ILLEGAL_ADDRESS, reply);
    const struct sim_image *im = &d->img[t];
    reply[0] = pdu[0];
    reply[1] = (uint8_t)(2 * qty);
    for (uint32_t i = 0; i < qty; i++) {
        uint16_t v = im->val[addr + i - im->lo];
        reply[2 + 2 * i] = (uint8_t)(v >> 8);
        reply[3 + 2 * i] = (uint8_t)v;
    }
    return 2 + 2 * qty;
}

static size_t write_single(struct sim_device *d, const uint8_t *pdu, size_t n, uint8_t *reply)
{
    enum sim_table t = pdu[0] == 5 ? SIM_COIL : SIM_HOLDING;
    if (n != 5)
        return exception(pdu[0], EXC_ILLEGAL_VALUE, reply);
    uint32_t addr = be16(pdu + 1);
    uint16_t v = be16(pdu + 3);
    /* Section 6.5: a coil is written with 0xFF00 (on) or 0x0000 (off), nothing else. */
    if (t == SIM_COIL && v != 0xFF00 && v != 0x0000)
        return exception(pdu[0], EXC_ILLEGAL_VALUE, reply);
    if (!range_ok(d, t, addr, 1))
        return exception(pdu[0], EXC_ILLEGAL_ADDRESS, reply);
    d->img[t].val[addr - d->img[t].lo] = t == SIM_COIL ? (v ? 1 : 0) : v;
    memcpy(reply, pdu, 5);
    return 5;
}

static size_t write_multiple(struct sim_device *d, const uint8_t *pdu, size_t n, uint8_t *reply)
{
    bool coils = pdu[0] == 15;
    enum sim_table t = coils ? SIM_COIL : SIM_HOLDING;
    if (n < 6)
        return exception(pdu[0], EXC_ILLEGAL_VALUE, reply);
    uint32_t addr = be16(pdu + 1), qty = be16(pdu + 3), bc = pdu[5];
    uint32_t max = coils ? MAX_WRITE_BITS : MAX_WRITE_REGS;
    uint32_t want = coils ? (qty + 7) / 8 : 2 * qty;
    if (qty < 1 || qty > max || bc != want || n != 6 + bc)
        return exception(pdu[0], EXC_ILLEGAL_VALUE, reply);
    if (!range_ok(d, t, addr, qty))
        return exception(pdu[0], EXC_ILLEGAL_ADDRESS, reply);
    struct sim_image *im = &d->img[t];
    for (uint32_t i = 0; i < qty; i++) {
        uint16_t v = coils ? (uint16_t)((pdu[6 + i / 8] >> (i % 8)) & 1)
                           : be16(pdu + 6 + 2 * i);
        im->val[addr + i - im->lo] = v;
    }
    memcpy(reply, pdu, 5);
    return 5;
}

size_t sim_device_execute(struct sim_device *d, const uint8_t *pdu, size_t n, uint8_t *reply)
{
    if (n < 1)
        return 0;
    switch (pdu[0]) {
    case 1: return read_bits(d, SIM_COIL, pdu, n, reply);
    case 2: return read_bits(d, SIM_DISCRETE, pdu, n, reply);
    case 3: return read_regs(d, SIM_HOLDING, pdu, n, reply);
    case 4: return read_regs(d, SIM_INPUT, pdu, n, reply);
    case 5: case 6: return write_single(d, pdu, n, reply);
    case 15: case 16: return write_multiple(d, pdu, n, reply);
    default: return exception(pdu[0], EXC_ILLEGAL_FUNCTION, reply);
    }
}

void sim_device_answer(struct sim_device *d, const uint8_t *pdu, size_t n, struct sim_answer *a)
{
    d->received++;
    a->how = d->behave.kind;
    a->delay_ms = 0;
    a->len = 0;
    switch (d->behave.kind) {
    case SIM_BEHAVE_SILENT:
        /* A dead device does not execute writes either. */
        return;
    case SIM_BEHAVE_EXCEPTION:
        a->len = exception(n ? pdu[0] : 0, (uint8_t)d->behave.arg, a->pdu);
        return;
    case SIM_BEHAVE_SLOW:
        a->delay_ms = d->behave.arg;
        break;
    default:
        break;
    }
    a->len = sim_device_execute(d, pdu, n, a->pdu);
}

struct sim_device *sim_fleet_find(struct sim_fleet *f, int unit)
{
    for (int i = 0; i < f->n; i++)
        if (f->dev[i].unit == unit)
            return &f->dev[i];
    return NULL;
}
