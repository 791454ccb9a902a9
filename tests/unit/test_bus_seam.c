/* test_bus_seam: the poller's rules without a device — the transport replaced at link time
 * (the functions below are defined in this executable, so bus.c calls them instead of the
 * library's): a meter that answers is read and decoded on its schedule; one that never answers
 * is tried offline_after cycles of 1 + retries reads each, declared offline once, then only
 * probed with single-register reads. Counts, not clocks. */
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "check.h"
#include "clock.h"
#include "config.h"
#include "queue.h"
#include "transport.h"

/* ---- the stand-in transport: unit 1 answers, unit 2 never does ---- */

static struct transport fake = {.label = "fake"};
static atomic_int reads_ok, reads_dead, dead_wide_after_offline;
static atomic_bool dead_offline;

struct transport *transport_new(const struct bus_config *cfg)
{
    (void)cfg;
    return &fake;
}

void transport_free(struct transport *t)
{
    (void)t;
}

void transport_dtu_report_to(struct transport *t, struct queue *events)
{
    (void)t, (void)events;
}

int transport_connect(struct transport *t)
{
    t->connected = 1;
    return 0;
}

void transport_close(struct transport *t)
{
    t->connected = 0;
}

void transport_flush(struct transport *t)
{
    (void)t;
}

enum mb_status transport_read(struct transport *t, uint8_t unit, int table, uint16_t start, uint16_t count,
                              int timeout_ms, uint16_t *regs, uint8_t *bits, int *exception)
{
    (void)table, (void)timeout_ms, (void)bits;
    *exception = 0;
    if (unit == 2) {
        atomic_fetch_add(&reads_dead, 1);
        if (atomic_load(&dead_offline) && count > 1)
            atomic_fetch_add(&dead_wide_after_offline, 1);
        snprintf(t->err, sizeof t->err, "no reply");
        return MB_TIMEOUT;
    }
    atomic_fetch_add(&reads_ok, 1);
    /* The level meter's map (drivers/level/ultrasonic-generic.json): level int16 at 0 with its
     * decimals at 1 — 123 with 2 decimals is 1.23 m; distance float32 ABCD at 2..3: 0x3F400000
     * is 0.75; status bits at 4: bit 1 blind zone. */
    static const uint16_t map[6] = {123, 2, 0x3F40, 0x0000, 0x0002, 215};
    for (uint16_t i = 0; i < count; i++)
        regs[i] = (uint16_t)(start + i) < 6 ? map[start + i] : 0;
    return MB_OK;
}

/* ---- the test ---- */

static const char *site = "{\"site\":{\"id\":\"hm\"},\"gateway\":{\"id\":\"gw\"},\"store\":{\"path\":\"/tmp/ct-bus.db\"},"
                          "\"buses\":[{\"id\":\"lan\",\"type\":\"tcp\",\"host\":\"127.0.0.1\",\"timeout_ms\":10,"
                          "\"retries\":1,\"offline_after\":3,\"backoff_max_ms\":1000,\"devices\":["
                          "{\"id\":\"ok\",\"unit\":1,\"driver\":\"level/ultrasonic-generic\",\"poll_ms\":50},"
                          "{\"id\":\"dead\",\"unit\":2,\"driver\":\"level/ultrasonic-generic\",\"poll_ms\":50}]}]}";

static int point(const struct profile *p, const char *name)
{
    return profile_point_index(p, name);
}

int main(void)
{
    const char *src = getenv("CARETAKER_SOURCE_DIR");
    char drivers[600];
    snprintf(drivers, sizeof drivers, "%s/drivers", src ? src : "../..");
    struct config *cfg = NULL;
    struct diag err;
    diag_clear(&err);
    CHECK_MSG(config_parse(site, strlen(site), "site.json", drivers, &cfg, &err) == 0, "%s", err.msg);
    if (!cfg)
        return check_report();
    struct queue *q = queue_new(1024);
    struct bus *b = NULL;
    CHECK(bus_start(&cfg->buses[0], q, &b) == 0);

    int readings_ok = 0, offline_msgs = 0, reads_before_offline = -1;
    double level = 0, distance = 0, blind = -1;
    int64_t deadline = clock_mono_ms() + 20000;
    /* Until the dead meter is offline and has been probed a few times, and the good one read
     * at least 20 times. */
    while (clock_mono_ms() < deadline && (readings_ok < 20 || offline_msgs == 0 || atomic_load(&reads_dead) < 3 * 2 + 3)) {
        struct msg *m[32];
        int n = queue_pop_many(q, m, 32);
        for (int i = 0; i < n; i++) {
            const struct device *d = cfg->devices[m[i]->device];
            if (m[i]->kind == MSG_READING && strcmp(d->id, "ok") == 0) {
                readings_ok++;
                level = m[i]->values[point(d->profile, "level")];
                distance = m[i]->values[point(d->profile, "distance")];
                blind = m[i]->values[point(d->profile, "blind_zone")];
            }
            if (m[i]->kind == MSG_DEVICE_OFFLINE && strcmp(d->id, "dead") == 0 && offline_msgs++ == 0) {
                reads_before_offline = atomic_load(&reads_dead);
                atomic_store(&dead_offline, true);
            }
            msg_free(m[i]);
        }
        if (n == 0) {
            struct pollfd pfd = {.fd = queue_fd(q), .events = POLLIN}; /* woken by the next message */
            poll(&pfd, 1, 100);
        }
    }
    bus_stop(b);
    CHECK_MSG(readings_ok >= 20, "%d readings of the good meter", readings_ok);
    CHECK_MSG(level == 1.23 && distance == 0.75 && blind == 1, "level %g distance %g blind %g", level, distance,
              blind);
    /* offline_after 3 cycles of 1 + retries (1) reads each: exactly 6 reads, then offline once */
    CHECK_MSG(reads_before_offline == 6, "%d reads before offline", reads_before_offline);
    CHECK_MSG(offline_msgs == 1, "%d offline messages", offline_msgs);
    /* offline: probes only, each a single register */
    CHECK_MSG(atomic_load(&dead_wide_after_offline) == 0, "%d full reads of an offline meter",
              atomic_load(&dead_wide_after_offline));
    struct msg *m[64];
    int n;
    while ((n = queue_pop_many(q, m, 64)) > 0)
        for (int i = 0; i < n; i++)
            msg_free(m[i]);
    queue_free(q);
    config_free(cfg);
    return check_report();
}
