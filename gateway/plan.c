/* plan: coalesces a profile's wire points into read blocks, bisects blocks the device refuses,
 * and counts what a plan costs on an RTU line.
 * Invariants: order[] holds the wire points sorted by (table, address, width, index), so points
 * with the same span are neighbours; every block serves a non-empty run of order[] in one table,
 * and its start/count cover exactly the spans of its points and the gaps between them. */
#include "plan.h"

#include <string.h>

static bool is_bit_table(enum reg_table t)
{
    return t == TABLE_COIL || t == TABLE_DISCRETE;
}

static bool is_wire_table(enum reg_table t)
{
    return t == TABLE_COIL || t == TABLE_DISCRETE || t == TABLE_INPUT || t == TABLE_HOLDING;
}

/* Registers (or bits) a point occupies in its table. */
static int span_width(const struct point *pt)
{
    return is_bit_table(pt->table) ? 1 : point_width(pt);
}

static long span_end(const struct point *pt)
{
    return (long)pt->address + span_width(pt) - 1;
}

static bool same_span(const struct point *a, const struct point *b)
{
    return a->table == b->table && a->address == b->address && span_width(a) == span_width(b);
}

static int point_cmp(const struct profile *p, int ia, int ib)
{
    const struct point *a = &p->points[ia], *b = &p->points[ib];
    if (a->table != b->table)
        return a->table < b->table ? -1 : 1;
    if (a->address != b->address)
        return a->address < b->address ? -1 : 1;
    if (span_width(a) != span_width(b))
        return span_width(a) < span_width(b) ? -1 : 1;
    return ia < ib ? -1 : (ia > ib);
}

static int table_limit(const struct profile *p, enum reg_table t)
{
    if (is_bit_table(t))
        return PLAN_MAX_BITS;
    return p->max_read_registers > 0 && p->max_read_registers < PLAN_MAX_REGS ? p->max_read_registers : PLAN_MAX_REGS;
}

/* Sets start and count of b from the points it serves. */
static void respan(struct read_block *b, const struct read_plan *plan, const struct profile *p)
{
    const struct point *first = &p->points[plan->order[b->first]];
    long end = span_end(first);
    for (int k = 1; k < b->npoints; k++) {
        long e = span_end(&p->points[plan->order[b->first + k]]);
        if (e > end)
            end = e;
    }
    b->table = (uint8_t)first->table;
    b->start = first->address;
    b->count = (uint16_t)(end - first->address + 1);
}

/* How far a cut before the k-th of n points is from the middle, in half-points. */
static int off_middle(int k, int n)
{
    int d = 2 * k - n;
    return d < 0 ? -d : d;
}

int plan_build(const struct profile *p, int max_gap, struct read_plan *out)
{
    memset(out, 0, sizeof *out);
    if (p->npoints < 0 || p->npoints > MAX_POINTS)
        return -1;
    if (max_gap < 0)
        max_gap = 0;

    for (int i = 0; i < p->npoints; i++) {
        const struct point *pt = &p->points[i];
        if (pt->table == TABLE_DERIVED)
            continue;
        if (!is_wire_table(pt->table) || span_end(pt) > 0xFFFF)
            return -1;
        /* insertion sort: at most MAX_POINTS, stable, no allocation */
        int k = out->norder++;
        while (k > 0 && point_cmp(p, out->order[k - 1], i) > 0) {
            out->order[k] = out->order[k - 1];
            k--;
        }
        out->order[k] = (uint16_t)i;
    }

    struct read_block *cur = NULL;
    long cur_end = 0;
    for (int k = 0; k < out->norder; k++) {
        const struct point *pt = &p->points[out->order[k]];
        if (cur) {
            long gap = (long)pt->address - cur_end - 1;
            long limit_gap = is_bit_table(pt->table) ? (long)max_gap * 16 : max_gap;
            long end = span_end(pt) > cur_end ? span_end(pt) : cur_end;
            if (pt->table == cur->table && gap <= limit_gap && end - cur->start + 1 <= table_limit(p, pt->table)) {
                cur->npoints++;
                cur_end = end;
                cur->count = (uint16_t)(end - cur->start + 1);
                continue;
            }
        }
        cur = &out->blocks[out->nblocks++];
        cur->table = (uint8_t)pt->table;
        cur->start = pt->address;
        cur->first = (uint16_t)k;
        cur->npoints = 1;
        cur_end = span_end(pt);
        cur->count = (uint16_t)(cur_end - pt->address + 1);
    }
    return 0;
}

int plan_split(struct read_plan *plan, const struct profile *p, int i, int *missing_out)
{
    if (i < 0 || i >= plan->nblocks)
        return -1;
    struct read_block b = plan->blocks[i];

    /* Points with equal spans are neighbours in order[], so the candidate cuts are the places
     * where the span changes; pick the one nearest the middle. */
    int cut = 0;
    for (int k = 1; k < b.npoints; k++) {
        const struct point *prev = &p->points[plan->order[b.first + k - 1]];
        const struct point *next = &p->points[plan->order[b.first + k]];
        if (same_span(prev, next))
            continue;
        if (cut == 0 || off_middle(k, b.npoints) < off_middle(cut, b.npoints))
            cut = k;
    }

    if (cut == 0) {
        for (int k = 0; k < b.npoints; k++) {
            int idx = plan->order[b.first + k];
            plan->missing[idx] = true;
            missing_out[k] = idx;
        }
        memmove(&plan->blocks[i], &plan->blocks[i + 1], (size_t)(plan->nblocks - i - 1) * sizeof plan->blocks[0]);
        plan->nblocks--;
        return b.npoints;
    }

    memmove(&plan->blocks[i + 2], &plan->blocks[i + 1], (size_t)(plan->nblocks - i - 1) * sizeof plan->blocks[0]);
    plan->nblocks++;
    struct read_block *lo = &plan->blocks[i], *hi = &plan->blocks[i + 1];
    lo->first = b.first;
    lo->npoints = (uint16_t)cut;
    hi->first = (uint16_t)(b.first + cut);
    hi->npoints = (uint16_t)(b.npoints - cut);
    respan(lo, plan, p);
    respan(hi, plan, p);
    return 0;
}

int plan_block_rtu_bytes(const struct read_block *b)
{
    /* request: unit, fc, start (2), quantity (2), CRC (2);
     * response: unit, fc, byte count, data, CRC (2) — Modbus over Serial Line v1.02, 2.5.1 */
    int data = is_bit_table((enum reg_table)b->table) ? (b->count + 7) / 8 : 2 * b->count;
    return 8 + 5 + data;
}

int plan_rtu_bytes(const struct read_plan *plan)
{
    int total = 0;
    for (int i = 0; i < plan->nblocks; i++)
        total += plan_block_rtu_bytes(&plan->blocks[i]);
    return total;
}

int plan_rtu_bytes_per_point(const struct profile *p)
{
    int total = 0;
    for (int i = 0; i < p->npoints && i < MAX_POINTS; i++) {
        const struct point *pt = &p->points[i];
        if (!is_wire_table(pt->table))
            continue;
        struct read_block b = {.table = (uint8_t)pt->table, .start = pt->address, .count = (uint16_t)span_width(pt)};
        total += plan_block_rtu_bytes(&b);
    }
    return total;
}
