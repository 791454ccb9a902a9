/* test_plan: coalescing rules, protocol limits, bisection of refused reads, RTU byte counts. */
#include <stdbool.h>
#include <stdint.h>

#include "check.h"
#include "plan.h"

static struct profile pr;
static struct read_plan plan;

static void reset(void)
{
    memset(&pr, 0, sizeof pr);
    memset(&plan, 0, sizeof plan);
}

static int add(enum reg_table table, unsigned address, enum value_type type)
{
    int i = pr.npoints++;
    struct point *p = &pr.points[i];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "p%d", i);
    p->table = table;
    p->address = (uint16_t)address;
    p->type = type;
    p->bit = -1;
    p->scale = 1;
    p->decimals_from = -1;
    return i;
}

static int add_field(unsigned address, int bit, int bits)
{
    int i = add(TABLE_HOLDING, address, bits == 1 ? VT_BOOL : VT_UINT16);
    pr.points[i].bit = (int8_t)bit;
    pr.points[i].bits = (uint8_t)bits;
    return i;
}

static bool block_is(int i, enum reg_table table, unsigned start, unsigned count, unsigned npoints)
{
    if (i >= plan.nblocks)
        return false;
    const struct read_block *b = &plan.blocks[i];
    return b->table == table && b->start == start && b->count == count && b->npoints == npoints;
}

#define CHECK_BLOCK(i_, table_, start_, count_, npoints_)                                      \
    CHECK_MSG(block_is(i_, table_, start_, count_, npoints_),                                \
              "block %d: table %d start %d count %d npoints %d", i_,                         \
              (i_) < plan.nblocks ? plan.blocks[i_].table : -1,                              \
              (i_) < plan.nblocks ? plan.blocks[i_].start : -1,                              \
              (i_) < plan.nblocks ? plan.blocks[i_].count : -1,                              \
              (i_) < plan.nblocks ? plan.blocks[i_].npoints : -1)

static void test_adjacent_and_gaps(void)
{
    /* uint16 at 0, uint16 at 1, float32 at 2..3: one read of 4 registers */
    reset();
    add(TABLE_HOLDING, 0, VT_UINT16);
    add(TABLE_HOLDING, 1, VT_UINT16);
    add(TABLE_HOLDING, 2, VT_FLOAT32);
    CHECK(plan_build(&pr, 0, &plan) == 0);
    CHECK(plan.nblocks == 1);
    CHECK_BLOCK(0, TABLE_HOLDING, 0, 4, 3);
    CHECK(plan.norder == 3);

    /* gap of 2 unused registers (1, 2) between 0 and 3: bridged with max_gap 2, not with 1 */
    reset();
    add(TABLE_HOLDING, 0, VT_UINT16);
    add(TABLE_HOLDING, 3, VT_UINT16);
    CHECK(plan_build(&pr, 2, &plan) == 0);
    CHECK(plan.nblocks == 1);
    CHECK_BLOCK(0, TABLE_HOLDING, 0, 4, 2);
    CHECK(plan_build(&pr, 1, &plan) == 0);
    CHECK(plan.nblocks == 2);
    CHECK_BLOCK(0, TABLE_HOLDING, 0, 1, 1);
    CHECK_BLOCK(1, TABLE_HOLDING, 3, 1, 1);

    /* the gap counts from the end of the previous point's span: float32 at 10 ends at 11,
     * uint16 at 14 leaves 12, 13 unused = gap 2 */
    reset();
    add(TABLE_INPUT, 10, VT_FLOAT32);
    add(TABLE_INPUT, 14, VT_UINT16);
    CHECK(plan_build(&pr, 2, &plan) == 0);
    CHECK(plan.nblocks == 1);
    CHECK_BLOCK(0, TABLE_INPUT, 10, 5, 2);
    CHECK(plan_build(&pr, 1, &plan) == 0);
    CHECK(plan.nblocks == 2);

    /* max_gap 0 still joins touching points; negative max_gap acts as 0 */
    CHECK(plan_build(&pr, -5, &plan) == 0);
    CHECK(plan.nblocks == 2);

    /* points given out of order are sorted; the table changes the read (FC 4 before FC 3
     * because input = 2 < holding = 3), even for neighbouring addresses */
    reset();
    int h1 = add(TABLE_HOLDING, 1, VT_UINT16);
    int i0 = add(TABLE_INPUT, 0, VT_UINT16);
    int h0 = add(TABLE_HOLDING, 0, VT_UINT16);
    add(TABLE_DERIVED, 0, VT_FLOAT64); /* not on the wire */
    CHECK(plan_build(&pr, 10, &plan) == 0);
    CHECK(plan.norder == 3);
    CHECK(plan.order[0] == i0 && plan.order[1] == h0 && plan.order[2] == h1);
    CHECK(plan.nblocks == 2);
    CHECK_BLOCK(0, TABLE_INPUT, 0, 1, 1);
    CHECK_BLOCK(1, TABLE_HOLDING, 0, 2, 2);
    CHECK(plan.blocks[1].first == 1);
}

/* A device that answers only short reads (max_read_registers): no read is planned longer, a
 * point is never split across two reads, and bit tables keep their own limit. */
static void test_device_read_limit(void)
{
    reset();
    pr.max_read_registers = 4;
    for (unsigned a = 0; a < 8; a++)
        add(TABLE_HOLDING, a, VT_UINT16);
    CHECK(plan_build(&pr, 10, &plan) == 0);
    CHECK(plan.nblocks == 2);
    CHECK_BLOCK(0, TABLE_HOLDING, 0, 4, 4);
    CHECK_BLOCK(1, TABLE_HOLDING, 4, 4, 4);

    /* uint16 at 0..2, float32 at 3..4: the float would end a 5-register read, so it starts its own */
    reset();
    pr.max_read_registers = 4;
    add(TABLE_HOLDING, 0, VT_UINT16);
    add(TABLE_HOLDING, 1, VT_UINT16);
    add(TABLE_HOLDING, 2, VT_UINT16);
    add(TABLE_HOLDING, 3, VT_FLOAT32);
    CHECK(plan_build(&pr, 0, &plan) == 0);
    CHECK(plan.nblocks == 2);
    CHECK_BLOCK(0, TABLE_HOLDING, 0, 3, 3);
    CHECK_BLOCK(1, TABLE_HOLDING, 3, 2, 1);

    /* one register per request, as some elevator controllers take */
    reset();
    pr.max_read_registers = 1;
    add(TABLE_INPUT, 10, VT_UINT16);
    add(TABLE_INPUT, 11, VT_UINT16);
    add(TABLE_COIL, 0, VT_BOOL);
    add(TABLE_COIL, 1, VT_BOOL);
    CHECK(plan_build(&pr, 10, &plan) == 0);
    CHECK(plan.nblocks == 3);
    CHECK_BLOCK(0, TABLE_COIL, 0, 2, 2);
    CHECK_BLOCK(1, TABLE_INPUT, 10, 1, 1);
    CHECK_BLOCK(2, TABLE_INPUT, 11, 1, 1);
}

static void test_limits(void)
{
    /* FC 3 reads at most 125 registers: 0 .. 124 is exactly 125 */
    reset();
    add(TABLE_HOLDING, 0, VT_UINT16);
    add(TABLE_HOLDING, 124, VT_UINT16);
    CHECK(plan_build(&pr, 200, &plan) == 0);
    CHECK(plan.nblocks == 1);
    CHECK_BLOCK(0, TABLE_HOLDING, 0, 125, 2);

    /* a float32 at 124 needs 124..125: 126 registers from 0, so a second read */
    reset();
    add(TABLE_HOLDING, 0, VT_UINT16);
    add(TABLE_HOLDING, 124, VT_FLOAT32);
    CHECK(plan_build(&pr, 200, &plan) == 0);
    CHECK(plan.nblocks == 2);
    CHECK_BLOCK(0, TABLE_HOLDING, 0, 1, 1);
    CHECK_BLOCK(1, TABLE_HOLDING, 124, 2, 1);

    /* FC 1 reads at most 2000 coils: 0 .. 1999 in one, 2000 starts another
     * (max_gap 200 registers = 3200 bits, so only the quantity limit splits) */
    reset();
    add(TABLE_COIL, 0, VT_BOOL);
    add(TABLE_COIL, 1999, VT_BOOL);
    CHECK(plan_build(&pr, 200, &plan) == 0);
    CHECK(plan.nblocks == 1);
    CHECK_BLOCK(0, TABLE_COIL, 0, 2000, 2);
    add(TABLE_COIL, 2000, VT_BOOL);
    CHECK(plan_build(&pr, 200, &plan) == 0);
    CHECK(plan.nblocks == 2);
    CHECK_BLOCK(1, TABLE_COIL, 2000, 1, 1);

    /* bit tables bridge max_gap * 16 bits: coil 0 and coil 17 leave bits 1..16 = 16 unused */
    reset();
    add(TABLE_DISCRETE, 0, VT_BOOL);
    add(TABLE_DISCRETE, 17, VT_BOOL);
    CHECK(plan_build(&pr, 1, &plan) == 0);
    CHECK(plan.nblocks == 1);
    CHECK_BLOCK(0, TABLE_DISCRETE, 0, 18, 2);
    pr.points[1].address = 18; /* 17 unused bits */
    CHECK(plan_build(&pr, 1, &plan) == 0);
    CHECK(plan.nblocks == 2);

    /* coils and discrete inputs are different reads */
    reset();
    add(TABLE_COIL, 0, VT_BOOL);
    add(TABLE_DISCRETE, 1, VT_BOOL);
    CHECK(plan_build(&pr, 10, &plan) == 0);
    CHECK(plan.nblocks == 2);

    /* the last register is 65535: a float32 there would need 65536 */
    reset();
    add(TABLE_HOLDING, 65535, VT_UINT16);
    CHECK(plan_build(&pr, 0, &plan) == 0);
    CHECK_BLOCK(0, TABLE_HOLDING, 65535, 1, 1);
    pr.points[0].type = VT_FLOAT32;
    CHECK(plan_build(&pr, 0, &plan) == -1);

    /* 128 points in 128 separate reads fit the plan */
    reset();
    for (int k = 0; k < MAX_POINTS; k++)
        add(TABLE_HOLDING, (unsigned)k * 10, VT_UINT16);
    CHECK(plan_build(&pr, 0, &plan) == 0);
    CHECK(plan.nblocks == MAX_POINTS);
}

static void test_shared_register(void)
{
    /* status word 10 holds three fields; register 11 a counter: one read of 2 registers */
    reset();
    add_field(10, 0, 1);
    add(TABLE_HOLDING, 11, VT_UINT16);
    add_field(10, 4, 4);
    add_field(10, 8, 4);
    CHECK(plan_build(&pr, 0, &plan) == 0);
    CHECK(plan.nblocks == 1);
    CHECK_BLOCK(0, TABLE_HOLDING, 10, 2, 4);
    /* overlapping spans: a float32 at 20..21 and a uint16 alias of 21 */
    reset();
    add(TABLE_INPUT, 20, VT_FLOAT32);
    add(TABLE_INPUT, 21, VT_UINT16);
    CHECK(plan_build(&pr, 0, &plan) == 0);
    CHECK_BLOCK(0, TABLE_INPUT, 20, 2, 2);
}

/* A device whose map lacks some registers: a read touching one of them gets exception 02. */
static bool refused(const struct read_block *b, const unsigned *holes, int nholes)
{
    for (int h = 0; h < nholes; h++)
        if (holes[h] >= b->start && holes[h] < (unsigned)b->start + b->count)
            return true;
    return false;
}

/* One poll cycle as a poller runs it: read every block, split the refused ones. Returns the
 * number of splits; collects points marked missing. */
static int poll_until_clean(const unsigned *holes, int nholes, int *missing, int *nmissing)
{
    int splits = 0;
    *nmissing = 0;
    for (int i = 0; i < plan.nblocks;) {
        if (!refused(&plan.blocks[i], holes, nholes)) {
            i++;
            continue;
        }
        int out[MAX_POINTS];
        int n = plan_split(&plan, &pr, i, out);
        splits++;
        for (int k = 0; k < n; k++)
            missing[(*nmissing)++] = out[k];
        if (splits > 100)
            break;
    }
    return splits;
}

/* Every point not marked missing is served by exactly one block that covers its span. */
static bool plan_serves_rest(void)
{
    int served[MAX_POINTS] = {0};
    for (int i = 0; i < plan.nblocks; i++) {
        const struct read_block *b = &plan.blocks[i];
        for (int k = 0; k < b->npoints; k++) {
            int idx = plan.order[b->first + k];
            const struct point *p = &pr.points[idx];
            if (p->table != b->table || p->address < b->start ||
                p->address + point_width(p) > b->start + b->count)
                return false;
            served[idx]++;
        }
    }
    for (int idx = 0; idx < pr.npoints; idx++)
        if (pr.points[idx].table != TABLE_DERIVED && served[idx] != (plan.missing[idx] ? 0 : 1))
            return false;
    return true;
}

static void test_bisection(void)
{
    /* 8 contiguous uint16 at 100..107; the device has no register 105.
     * [100..107] refused -> [100..103] + [104..107]; [104..107] refused -> [104,105] + [106,107];
     * [104,105] refused -> [104] + [105]; [105] refused -> point missing. 4 splits <= 2*log2(8). */
    reset();
    int idx[8];
    for (int k = 0; k < 8; k++)
        idx[k] = add(TABLE_HOLDING, 100 + (unsigned)k, VT_UINT16);
    CHECK(plan_build(&pr, 0, &plan) == 0);
    CHECK(plan.nblocks == 1);
    unsigned holes[] = {105};
    int missing[MAX_POINTS], nmissing;
    int splits = poll_until_clean(holes, 1, missing, &nmissing);
    CHECK_MSG(splits == 4, "splits %d", splits);
    CHECK(nmissing == 1 && missing[0] == idx[5]);
    for (int k = 0; k < 8; k++)
        CHECK(plan.missing[idx[k]] == (k == 5));
    CHECK(plan_serves_rest());
    CHECK(plan.nblocks == 3);
    CHECK_BLOCK(0, TABLE_HOLDING, 100, 4, 4);
    CHECK_BLOCK(1, TABLE_HOLDING, 104, 1, 1);
    CHECK_BLOCK(2, TABLE_HOLDING, 106, 2, 2);
    /* a second cycle sends nothing that fails */
    CHECK(poll_until_clean(holes, 1, missing, &nmissing) == 0);

    /* the first and the last point missing, other blocks before and after untouched */
    reset();
    add(TABLE_INPUT, 0, VT_FLOAT32);
    for (int k = 0; k < 8; k++)
        idx[k] = add(TABLE_HOLDING, 200 + (unsigned)k, VT_UINT16);
    add(TABLE_HOLDING, 1000, VT_INT32);
    CHECK(plan_build(&pr, 0, &plan) == 0);
    CHECK(plan.nblocks == 3);
    unsigned holes2[] = {200, 207};
    splits = poll_until_clean(holes2, 2, missing, &nmissing);
    CHECK_MSG(splits <= 8, "splits %d", splits);
    CHECK(nmissing == 2);
    CHECK(plan.missing[idx[0]] && plan.missing[idx[7]]);
    CHECK(plan_serves_rest());
    CHECK_BLOCK(0, TABLE_INPUT, 0, 2, 1);
    CHECK_BLOCK(plan.nblocks - 1, TABLE_HOLDING, 1000, 2, 1);

    /* a hole in a bridged gap is routed around without losing a point:
     * points 0, 1, 3 joined over register 2 (max_gap 1), which the device lacks */
    reset();
    add(TABLE_HOLDING, 0, VT_UINT16);
    add(TABLE_HOLDING, 1, VT_UINT16);
    add(TABLE_HOLDING, 3, VT_UINT16);
    CHECK(plan_build(&pr, 1, &plan) == 0);
    CHECK(plan.nblocks == 1);
    unsigned holes3[] = {2};
    poll_until_clean(holes3, 1, missing, &nmissing);
    CHECK(nmissing == 0);
    CHECK(plan_serves_rest());
    for (int i = 0; i < plan.nblocks; i++)
        CHECK(!refused(&plan.blocks[i], holes3, 1));
}

static void test_missing_register_of_fields(void)
{
    /* fields of status word 20 and a counter at 21; the device lacks register 20:
     * [20..21] refused -> cut where the span changes: [20 x3 fields] + [21];
     * [20] refused, all three fields share it -> all three missing, block removed */
    reset();
    int f0 = add_field(20, 0, 1);
    int f1 = add_field(20, 1, 1);
    int counter = add(TABLE_HOLDING, 21, VT_UINT16);
    int f2 = add_field(20, 4, 4);
    CHECK(plan_build(&pr, 0, &plan) == 0);
    int out[MAX_POINTS];
    CHECK(plan_split(&plan, &pr, 0, out) == 0);
    CHECK(plan.nblocks == 2);
    CHECK_BLOCK(0, TABLE_HOLDING, 20, 1, 3);
    CHECK_BLOCK(1, TABLE_HOLDING, 21, 1, 1);
    CHECK(plan_split(&plan, &pr, 0, out) == 3);
    bool seen[MAX_POINTS] = {false};
    for (int k = 0; k < 3; k++)
        seen[out[k]] = true;
    CHECK(seen[f0] && seen[f1] && seen[f2]);
    CHECK(plan.missing[f0] && plan.missing[f1] && plan.missing[f2] && !plan.missing[counter]);
    CHECK(plan.nblocks == 1);
    CHECK_BLOCK(0, TABLE_HOLDING, 21, 1, 1);
    CHECK(plan.order[plan.blocks[0].first] == counter);

    /* a single point refused: missing at once; the blocks after it move down */
    reset();
    int a = add(TABLE_HOLDING, 0, VT_FLOAT32);
    add(TABLE_HOLDING, 10, VT_FLOAT32);
    add(TABLE_HOLDING, 20, VT_FLOAT32);
    CHECK(plan_build(&pr, 0, &plan) == 0);
    CHECK(plan_split(&plan, &pr, 0, out) == 1 && out[0] == a);
    CHECK(plan.nblocks == 2);
    CHECK_BLOCK(0, TABLE_HOLDING, 10, 2, 1);
    CHECK_BLOCK(1, TABLE_HOLDING, 20, 2, 1);
    CHECK(plan_split(&plan, &pr, 2, out) == -1);
    CHECK(plan_split(&plan, &pr, -1, out) == -1);
}

static void test_rtu_bytes(void)
{
    /* FC 3, 10 registers: request 1 + 1 + 2 + 2 + 2 = 8;
     * response 1 + 1 + 1 + 20 + 2 = 25; 33 in all */
    struct read_block b = {.table = TABLE_HOLDING, .start = 0, .count = 10};
    CHECK(plan_block_rtu_bytes(&b) == 33);
    /* FC 3, 125 registers: 8 + (3 + 250 + 2) = 263 (the response is 255 of the 256-byte ADU) */
    b.count = 125;
    CHECK(plan_block_rtu_bytes(&b) == 263);
    /* FC 1, 10 coils: data ceil(10 / 8) = 2 bytes -> 8 + (3 + 2 + 2) = 15 */
    b = (struct read_block){.table = TABLE_COIL, .start = 0, .count = 10};
    CHECK(plan_block_rtu_bytes(&b) == 15);
    /* 8 coils fit one byte: 8 + (3 + 1 + 2) = 14; 2000 coils: 250 bytes -> 263 */
    b.count = 8;
    CHECK(plan_block_rtu_bytes(&b) == 14);
    b.count = 2000;
    CHECK(plan_block_rtu_bytes(&b) == 263);

    /* uint16 at 0, uint16 at 1, float32 at 2, a coil, a derived point:
     * per point: (8 + 3 + 2 + 2) * 2 + (8 + 3 + 4 + 2) + (8 + 3 + 1 + 2) = 30 + 17 + 14 = 61;
     * planned: holding 0..3 = 8 + 3 + 8 + 2 = 21, coil = 14; 35 */
    reset();
    add(TABLE_HOLDING, 0, VT_UINT16);
    add(TABLE_HOLDING, 1, VT_UINT16);
    add(TABLE_HOLDING, 2, VT_FLOAT32);
    add(TABLE_COIL, 5, VT_BOOL);
    add(TABLE_DERIVED, 0, VT_FLOAT64);
    CHECK(plan_rtu_bytes_per_point(&pr) == 61);
    CHECK(plan_build(&pr, 0, &plan) == 0);
    CHECK(plan_rtu_bytes(&plan) == 35);
}

int main(void)
{
    test_adjacent_and_gaps();
    test_limits();
    test_device_read_limit();
    test_shared_register();
    test_bisection();
    test_missing_register_of_fields();
    test_rtu_bytes();
    return check_report();
}
