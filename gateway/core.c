/* core: the main loop around poll(): the queue's eventfd, a signalfd and the group-commit timer.
 * Signals are blocked in every thread (the pollers inherit the mask) and read here alone. */
#include "core.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "bus.h"
#include "clock.h"
#include "log.h"
#include "queue.h"
#include "store.h"

#define QUEUE_CAPACITY 4096
#define DRAIN_MAX 256

struct core {
    struct config *cfg;
    struct store *store;
    struct queue *q;
    struct bus **buses;
    uint64_t store_errors;
};

static void handle_state(struct core *c, const struct msg *m)
{
    const struct device *d = c->cfg->devices[m->device];
    char body[160];
    int online = m->kind == MSG_DEVICE_ONLINE;
    snprintf(body, sizeof body, "{\"state\":\"%s\",\"errors\":%d}", online ? "online" : "offline", m->errors);
    if (store_append_event(c->store, d, OUTBOX_DEVICE_STATE, m->ts_ms, body, NULL) < 0)
        c->store_errors++;
    if (online)
        return;
    /* Mark the gap in every series of the device, so a chart shows where data stops. */
    const struct profile *p = d->profile;
    struct msg *gap = msg_new(MSG_READING, m->device, m->ts_ms, p->npoints);
    if (!gap)
        return;
    for (int k = 0; k < p->npoints; k++) {
        gap->values[k] = NAN;
        gap->quality[k] = Q_OFFLINE;
    }
    if (store_append_reading(c->store, d, gap, NULL) < 0)
        c->store_errors++;
    msg_free(gap);
}

static void handle(struct core *c, const struct msg *m)
{
    const struct device *d = c->cfg->devices[m->device];
    switch (m->kind) {
    case MSG_READING:
        if (store_append_reading(c->store, d, m, NULL) < 0)
            c->store_errors++;
        break;
    case MSG_DEVICE_ONLINE:
    case MSG_DEVICE_OFFLINE:
        handle_state(c, m);
        break;
    case MSG_POINT_MISSING: {
        char body[200];
        snprintf(body, sizeof body, "{\"event\":\"point_missing\",\"point\":\"%s\"}",
                 d->profile->points[m->point].name);
        if (store_append_event(c->store, d, OUTBOX_EVENT, m->ts_ms, body, NULL) < 0)
            c->store_errors++;
        break;
    }
    }
}

/* Drains the queue; returns the number of messages handled. */
static int drain(struct core *c)
{
    struct msg *batch[DRAIN_MAX];
    int total = 0, n;
    while ((n = queue_pop_many(c->q, batch, DRAIN_MAX)) > 0) {
        for (int i = 0; i < n; i++) {
            handle(c, batch[i]);
            msg_free(batch[i]);
        }
        total += n;
        if (store_pending_rows(c->store) >= c->cfg->store.batch)
            store_commit(c->store);
    }
    return total;
}

static int commit_due_in(const struct core *c)
{
    if (store_pending_rows(c->store) == 0)
        return -1;
    int64_t left = store_pending_since_ms(c->store) + c->cfg->store.commit_ms - clock_mono_ms();
    return left < 0 ? 0 : (int)left;
}

int core_run(struct config *cfg)
{
    struct core c = {.cfg = cfg};
    struct diag err;
    diag_clear(&err);
    int rc = 1, sfd = -1, started = 0;

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

    if (store_open(cfg->store.path, &c.store, &err) < 0 || store_register(c.store, cfg, &err) < 0) {
        log_err("%s", err.msg);
        goto out;
    }
    c.q = queue_new(QUEUE_CAPACITY);
    c.buses = calloc((size_t)cfg->nbuses + 1, sizeof *c.buses);
    if (!c.q || !c.buses || sfd < 0) {
        log_err("core: cannot set up: %s", strerror(errno));
        goto out;
    }
    for (int i = 0; i < cfg->nbuses; i++) {
        if (bus_start(&cfg->buses[i], c.q, &c.buses[i]) < 0)
            goto out;
        started++;
    }
    log_notice("caretaker %s: site %s, gateway %s: %d buses, %d devices, store %s (seq %lld)", CARETAKER_VERSION,
               cfg->site_id, cfg->gateway_id, cfg->nbuses, cfg->ndevices, cfg->store.path,
               (long long)store_last_seq(c.store));

    for (;;) {
        struct pollfd fds[2] = {{.fd = queue_fd(c.q), .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        int r = poll(fds, 2, commit_due_in(&c));
        if (r < 0 && errno != EINTR) {
            log_err("core: poll: %s", strerror(errno));
            break;
        }
        if (fds[0].revents & POLLIN)
            drain(&c);
        if (commit_due_in(&c) == 0)
            store_commit(c.store);
        if (fds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGHUP) {
                    log_notice("core: SIGHUP: reload is not supported yet; keeping the running config");
                    continue;
                }
                log_notice("core: %s, stopping", strsignal((int)si.ssi_signo));
                break;
            }
        }
    }
    rc = 0;
out:
    /* Stop the pollers first, so every reading they took is in the queue, then keep it all. */
    for (int i = 0; i < started; i++)
        bus_stop(c.buses[i]);
    if (c.q && c.store)
        drain(&c);
    if (c.store && store_commit(c.store) < 0)
        rc = 1;
    if (c.store)
        log_notice("core: stopped at seq %lld", (long long)store_last_seq(c.store));
    store_close(c.store);
    queue_free(c.q);
    free(c.buses);
    if (sfd >= 0)
        close(sfd);
    return rc;
}
