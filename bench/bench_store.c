/* bench_store: the hot path from registers to disk — decode a device's points, hold them in the
 * store's memory tier and write them to SQLite (as with no broker), or have each acknowledged at
 * once (a broker keeping up) — in readings/s, CPU us per reading and file bytes per poll; and, for
 * a config, the bytes on the wire of the planned reads against one read per point. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "decode.h"
#include "plan.h"
#include "queue.h"
#include "store.h"

#define POINTS 14
#define DEVICES 50

static double now_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A meter of 14 values in every type the decoder handles, in mixed word orders. */
static void make_profile(struct profile *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->driver, sizeof p->driver, "bench/meter");
    snprintf(p->kind, sizeof p->kind, "sewage.flow");
    static const enum value_type types[POINTS] = {VT_FLOAT32, VT_FLOAT32, VT_INT32, VT_FLOAT32, VT_UINT16,
                                                  VT_INT16,   VT_UINT32,  VT_FLOAT64, VT_BOOL, VT_BOOL,
                                                  VT_UINT16,  VT_INT16,   VT_FLOAT32, VT_UINT32};
    int addr = 0;
    for (int i = 0; i < POINTS; i++) {
        struct point *pt = &p->points[i];
        snprintf(pt->name, sizeof pt->name, "v%d", i);
        pt->table = TABLE_HOLDING;
        pt->type = types[i];
        pt->order = (enum word_order)(i % 4);
        pt->bit = pt->type == VT_BOOL ? (int8_t)(i % 16) : -1;
        pt->bits = 1;
        pt->scale = i == 4 ? 0.1 : 1.0;
        pt->decimals_from = -1;
        pt->address = (uint16_t)addr;
        addr += point_width(pt);
    }
    p->npoints = POINTS;
}

static long rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void bench_decode_store(const char *path, long polls, int acked)
{
    static struct profile prof;
    make_profile(&prof);
    struct device devs[DEVICES];
    struct device *ptrs[DEVICES];
    memset(devs, 0, sizeof devs);
    struct bus_config bus = {.ndevices = DEVICES, .devices = devs};
    snprintf(bus.id, sizeof bus.id, "bench");
    for (int i = 0; i < DEVICES; i++) {
        snprintf(devs[i].id, sizeof devs[i].id, "meter-%d", i);
        snprintf(devs[i].driver, sizeof devs[i].driver, "bench/meter");
        devs[i].profile = &prof;
        devs[i].index = i;
        devs[i].poll_ms = 1000;
        ptrs[i] = &devs[i];
    }
    struct config cfg = {.nbuses = 1, .buses = &bus, .ndevices = DEVICES, .devices = ptrs};
    struct diag err;
    diag_clear(&err);
    struct store *s;
    unlink(path);
    if (store_open(path, &s, &err) < 0 || store_register(s, &cfg, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        exit(1);
    }
    struct read_plan plan;
    plan_build(&prof, 10, &plan);
    uint16_t regs[64];
    for (int i = 0; i < 64; i++)
        regs[i] = (uint16_t)(0x4120 + i * 7);

    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    long readings = 0;
    for (long n = 0; n < polls; n++) {
        const struct device *d = &devs[n % DEVICES];
        struct msg *m = msg_new(MSG_READING, d->index, 1700000000000LL + n, POINTS);
        regs[0] = (uint16_t)n;
        for (int k = 0; k < POINTS; k++) {
            const struct point *pt = &prof.points[k];
            m->quality[k] = (uint8_t)decode_point(pt, &regs[pt->address], &m->values[k]);
        }
        decode_finish(&prof, m->values, m->quality);
        int64_t seq = 0;
        store_append_reading(s, d, m, &seq);
        if (acked) /* a broker that acknowledges at once: the publisher's store_mark_sent */
            store_mark_sent(s, seq);
        msg_free(m);
        readings += POINTS;
        /* Commits as the core does: by batch size (1000 rows by default), and whatever durable
         * is pending (here a new block of seqs) at once, for its timer; readings held in memory
         * are written when the tier is full (4096 polls or 1 MiB), as with no broker. */
        if (store_pending_rows(s) >= 1000 || store_durable_pending(s))
            store_commit(s);
    }
    store_commit(s);
    double w = now_s(CLOCK_MONOTONIC) - w0, c = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    store_close(s);
    struct stat st;
    long long bytes = stat(path, &st) == 0 ? (long long)st.st_size : 0;
    printf("decode+store%s: %ld polls x %d values = %ld readings in %.2f s: %.0f readings/s, %.3f us CPU per reading, "
           "max RSS %ld KiB; file %lld bytes, %.1f per poll\n",
           acked ? " (each acknowledged at once)" : "", polls, POINTS, readings, w, readings / w, c * 1e6 / readings,
           rss_kib(), bytes, (double)bytes / polls);
    unlink(path);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
}

static void bench_wire(const char *config_path, const char *drivers)
{
    struct config *cfg;
    struct diag err;
    diag_clear(&err);
    if (config_load(config_path, drivers, &cfg, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return;
    }
    long planned = 0, per_point = 0, values = 0;
    for (int i = 0; i < cfg->ndevices; i++) {
        const struct device *d = cfg->devices[i];
        struct read_plan plan;
        const struct bus_config *b = NULL;
        for (int k = 0; k < cfg->nbuses; k++)
            if (d >= cfg->buses[k].devices && d < cfg->buses[k].devices + cfg->buses[k].ndevices)
                b = &cfg->buses[k];
        plan_build(d->profile, b ? b->max_gap : 10, &plan);
        planned += plan_rtu_bytes(&plan);
        per_point += plan_rtu_bytes_per_point(d->profile);
        values += d->profile->npoints;
    }
    printf("wire (%s): %d devices, %ld values per cycle: planned reads %ld bytes (%.1f per value), "
           "one read per point %ld bytes (%.1f per value)\n",
           config_path, cfg->ndevices, values, planned, (double)planned / values, per_point,
           (double)per_point / values);
    config_free(cfg);
}

int main(int argc, char **argv)
{
    long polls = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    const char *db = argc > 2 ? argv[2] : "/tmp/caretaker-bench.db";
    bench_decode_store(db, polls, 0);
    bench_decode_store(db, polls, 1);
    const char *src = getenv("CARETAKER_SOURCE_DIR");
    char cfg[512], drv[512];
    snprintf(cfg, sizeof cfg, "%s/config/example.json", src ? src : ".");
    snprintf(drv, sizeof drv, "%s/drivers", src ? src : ".");
    bench_wire(cfg, drv);
    return 0;
}
