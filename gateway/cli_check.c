/* cli_check: read plans and bus load estimates for `caretaker check`. */
#include "cli_check.h"

#include "plan.h"

static double rtu_char_ms(const struct bus_config *b)
{
    int bits = 1 + b->data_bits + (b->parity != 'N' ? 1 : 0) + b->stop_bits;
    return bits * 1000.0 / b->baud;
}

double check_cycle_ms(const struct bus_config *b, const struct device *d)
{
    struct read_plan plan;
    if (plan_build(d->profile, b->max_gap, &plan) < 0)
        return 0;
    if (b->type == BUS_TCP)
        return plan.nblocks * CHECK_TCP_ROUNDTRIP_MS;
    double ch = rtu_char_ms(b);
    double silence = b->baud > 19200 ? 1.75 : 3.5 * ch;
    if (b->frame_delay_us / 1000.0 > silence)
        silence = b->frame_delay_us / 1000.0;
    double t = 0;
    for (int i = 0; i < plan.nblocks; i++)
        t += plan_block_rtu_bytes(&plan.blocks[i]) * ch + 2 * silence + CHECK_RTU_TURNAROUND_MS +
             (b->type == BUS_DTU ? CHECK_DTU_ROUNDTRIP_MS : 0);
    return t;
}

static void print_device(FILE *out, const struct bus_config *b, const struct device *d)
{
    struct read_plan plan;
    const struct profile *p = d->profile;
    fprintf(out, "  %s  unit %d  %s  every %d ms%s%s\n", d->id, d->unit, d->driver, d->poll_ms,
            d->location[0] ? "  " : "", d->location);
    if (plan_build(p, b->max_gap, &plan) < 0) {
        fprintf(out, "    (no read plan: a point does not fit one Modbus read)\n");
        return;
    }
    for (int i = 0; i < plan.nblocks; i++) {
        const struct read_block *blk = &plan.blocks[i];
        fprintf(out, "    read %s %u..%u (%u): ", reg_table_words(blk->table, true), blk->start,
                blk->start + blk->count - 1, blk->count);
        for (int k = 0; k < blk->npoints; k++)
            fprintf(out, "%s%s", k ? ", " : "", p->points[plan.order[blk->first + k]].name);
        fputc('\n', out);
    }
    for (int k = 0; k < p->npoints; k++)
        if (p->points[k].table == TABLE_DERIVED)
            fprintf(out, "    computed: %s\n", p->points[k].name);
    fprintf(out, "    %d reads, %d bytes on the wire per cycle (one read per point: %d)\n", plan.nblocks,
            plan_rtu_bytes(&plan), plan_rtu_bytes_per_point(p));
}

int check_print(FILE *out, const struct config *cfg)
{
    int overloaded = 0;
    fprintf(out, "config %s: site %s, gateway %s, %d buses, %d devices\n", cfg->path, cfg->site_id, cfg->gateway_id,
            cfg->nbuses, cfg->ndevices);
    for (int i = 0; i < cfg->nbuses; i++) {
        const struct bus_config *b = &cfg->buses[i];
        if (b->type == BUS_RTU)
            fprintf(out, "bus %s: rtu %s %d %d%c%d, timeout %d ms, %d retries\n", b->id, b->port, b->baud, b->data_bits,
                    b->parity, b->stop_bits, b->timeout_ms, b->retries);
        else if (b->type == BUS_DTU)
            fprintf(out,
                    "bus %s: dtu \"%s\" connecting to %s:%d, line %d %d%c%d, timeout %d ms, %d retries\n"
                    "  registers with %s; from %s\n",
                    b->id, b->dtu_id, b->listen_host, b->listen_port, b->baud, b->data_bits, b->parity, b->stop_bits,
                    b->timeout_ms, b->retries,
                    b->secret_len ? "its id and the secret in secret_file"
                                  : "its id alone (insecure_no_secret: anyone who has read its label can register "
                                    "as it)",
                    b->nallow ? "the addresses in allow" : "any address");
        else
            fprintf(out, "bus %s: tcp %s:%d, timeout %d ms, %d retries\n", b->id, b->host, b->tcp_port, b->timeout_ms,
                    b->retries);
        double load = 0, cycle = 0;
        int shortest = 0;
        for (int k = 0; k < b->ndevices; k++) {
            const struct device *d = &b->devices[k];
            print_device(out, b, d);
            double t = check_cycle_ms(b, d);
            cycle += t;
            load += t / d->poll_ms;
            if (!shortest || d->poll_ms < shortest)
                shortest = d->poll_ms;
        }
        fprintf(out,
                "  estimated: one cycle of all devices %.1f ms on the %s; shortest poll %d ms; bus load %.1f %%%s\n",
                cycle, b->type == BUS_TCP ? "network" : "line", shortest, load * 100,
                load > 1.0 ? "  OVERLOADED: polls will be skipped; lengthen poll_ms or split the line" : "");
        if (load > 1.0)
            overloaded++;
    }
    return overloaded;
}
