/* core: the main loop around poll(): the queue's eventfd, a signalfd, the publisher's socket,
 * and the timers (group commit, rules tick, metrics, retention). Signals are blocked in every
 * thread (the pollers inherit the mask) and read here alone.
 *
 * Order at start: store open and limits set, the site's time zone set, rules engine built and
 * the active alerts and report days saved before a restart put back, publisher set up and its
 * first connect begun, pollers started, then READY. Order at stop: pollers stopped, queue
 * drained, commit, the publisher given a bounded time to flush, acknowledgements committed,
 * store closed (which writes the readings still held in memory: a clean stop loses none).
 *
 * Readings are held in memory by the store and written only when the broker has not
 * acknowledged them within the store's spill bound; the loop's timer for that is set only while
 * some are held, and the group-commit timer only while durable rows are pending.
 *
 * Alerts: every event the engine emits is an outbox row (kind 4) and an update of its alerts
 * row, in the same group-commit transaction, so a commit keeps both or neither: an event is
 * never lost, and a restart finds exactly the alerts its last events left active. The retained
 * alerts/active list is state, not a row: it is published directly whenever the engine's
 * generation moved, once the events behind it are committed, and again at every connect, so
 * the latest list wins after a reconnect. An escalation is also published at once on
 * escalations/<party>, for the party it names (not stored: the stored one is on alerts). */
#include "core.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "bus.h"
#include "clock.h"
#include "commands.h"
#include "config.h"
#include "daycounts.h"
#include "dtu_listener.h"
#include "engine.h"
#include "exception.h"
#include "log.h"
#include "maintenance.h"
#include "monthly_make.h"
#include "payload.h"
#include "publish.h"
#include "queue.h"
#include "reports.h"
#include "sd.h"
#include "store.h"
#include "timebase.h"
#include "workorder.h"

#define QUEUE_CAPACITY 4096
#define DRAIN_MAX 256
#define EXPIRE_EVERY_MS 600000 /* retention_days is coarse; one pass per 10 minutes */
#define EXPIRE_BATCH 10000     /* rows per pass, so a first pass over a year stays short */
#define STOP_FLUSH_MS 2000
#define TICK_MS 1000 /* rules' time-driven transitions and the report day's end */
/* The day's report accumulators are written this often (and at a day's end and a stop): readings
 * are mostly never written now, so this is what keeps them. A crash costs at most this much of
 * the day's counts; at the reference site a save of every device's day writes about 70 KiB, so
 * once a minute alone would be 100 MiB a day of flash, once in 5 minutes 20 MiB. */
#define REPORT_SAVE_MS 300000
#define REFUSAL_WINDOW_MS 60000 /* commands.refusals_per_minute counts in this window */

/* The day counts under way (availability, completeness) reach the store this often, in the
 * same commit as the report's accumulators: flash wears with every write. A crash costs at most
 * this much of a day's counts. */
#define DAYS_SAVE_MS REPORT_SAVE_MS
/* A month-end report the broker did not take is tried again after this, with its log line. */
#define MONTHLY_RETRY_MS 60000

/* When the last reload was applied (monotonic ms; 0: none yet). It outlives a core: a reload
 * ends one core_run and starts the next, and the limit on reloads must span them. */
static int64_t last_reload_ms;

struct command_counts {
    uint64_t accepted, refused, replies_held, log_held;
};

struct core {
    struct config *cfg;
    struct store *store;
    struct queue *q;
    struct bus **buses;
    int nbuses;
    struct publisher *pub;
    int64_t started_ts;
    int64_t next_metrics;
    int64_t next_expire;
    int watchdog_ms; /* 0: systemd's watchdog is off */
    int64_t next_watchdog;
    int64_t *last_ok_ts;          /* by device index: wall ms of the last poll with a good value */
    struct exception_state *sent; /* by device index: what its reading rows last carried */
    uint64_t sent_rollbacks;      /* store_rollbacks when sent[] was last known to be stored */
    struct jbuf out;
    struct engine *engine;
    struct reports *reports;
    struct alert_sink sink;
    struct jbuf alert_body;
    struct jbuf alert_row;  /* an alert as its row keeps it */
    struct jbuf party_body; /* an escalation as its party's topic gets it */
    struct jbuf report_body;
    struct budget refusal_log;       /* refusal lines, all identities together */
    struct budget *refusal_replies;  /* by commander, cfg->commands.commanders' order */
    struct budget refusal_strangers; /* replies to every identity the config does not know */
    struct command_counts cmds;
    uint64_t active_gen; /* engine generation the alerts table and alerts/active follow */
    bool active_dirty;   /* alerts/active to publish */
    int64_t active_seq;  /* seq of the newest alert event: committed before the list goes */
    int64_t next_tick;
    int64_t next_report_save;
    bool reports_due;    /* the report accumulators go into the next commit */
    bool reload;         /* a valid config is waiting: stop, and core_run says CORE_RELOAD */
    struct config *next; /* that config, parsed and checked once, handed to the caller */

    /* The month's supervision: each device's counts of the day (availability), visits and
     * maintenance_overdue, and the last month whose reports went out. */
    struct daycounts *days;
    struct maintenance *maint;
    int64_t next_days_save;
    int64_t monthly_done;
    int64_t monthly_retry; /* monotonic: after a report the broker did not take, try again then */
};

/* The time the gateway records (timebase.h). It outlives a core: a reload while the clock is
 * unsynchronized must not move the time held. */
static struct timebase timebase;
static bool timebase_started;
/* A fresh install's last month reported was set from a time held before the clock synchronized
 * (1970 on a box without a clock): set again from the corrected time at the sync, or the month
 * before the install would be reported as owed. Outlives a core, as the time held does. */
static bool monthly_mark_held;

static int64_t core_now(void)
{
    return timebase_time(&timebase, clock_wall_ms(), clock_mono_ms());
}

static const struct device *device_by_id(const struct config *cfg, const char *id)
{
    for (int i = 0; i < cfg->ndevices; i++)
        if (strcmp(cfg->devices[i]->id, id) == 0)
            return cfg->devices[i];
    return NULL;
}

static void report_emit(void *ctx, int device, const struct daily_report *rep)
{
    struct core *c = ctx;
    const struct device *d = c->cfg->devices[device];
    c->reports_due = true;
    if (payload_daily_report(&c->report_body, rep) < 0) {
        log_err("reports: %s: out of memory writing the daily report", d->id);
        return;
    }
    if (store_append_event(c->store, d, OUTBOX_REPORT, rep->to_ts, c->report_body.p, NULL) == 0)
        log_info("reports: %s: daily report up to %" PRId64 " stored", d->id, rep->to_ts);
}

static void report_save(void *ctx, const char *device, int64_t day_start_ms, const char *json)
{
    struct core *c = ctx;
    store_put_report_day(c->store, device, day_start_ms, json);
}

static void day_save(void *ctx, const struct store_device_day *d)
{
    struct core *c = ctx;
    store_put_device_day(c->store, d);
}

static const char *alert_state(const struct alert *a)
{
    return a->cleared_ts ? "cleared" : a->acked ? "acknowledged" : "raised";
}

/* The alert's row keeps its published form (payload_alert), read back at start. */
static void save_alert(struct core *c, const struct alert *a)
{
    const struct device *d = device_by_id(c->cfg, a->device);
    if (payload_alert(&c->alert_row, a, d ? d->location : "") < 0) {
        log_err("alerts: %s: out of memory saving it", a->id);
        return;
    }
    struct store_alert row = {a->id,          a->device,    a->rule,          alert_severity_name(a->severity),
                              alert_state(a), a->raised_ts, a->acked_by,      a->acked_ts,
                              a->escalation,  a->contract,  a->respond_by_ts, a->cleared_ts,
                              c->alert_row.p};
    store_put_alert(c->store, &row);
}

/* An escalation also goes where the party it is for reads: <prefix>/escalations/<identity>,
 * the same message as on alerts (same seq), so a broker ACL pattern can give each party what
 * concerns it. Sent now, not stored: the stored one is the alerts event. */
static void tell_party(struct core *c, const struct alert_event *ev, const struct device *d, int64_t seq)
{
    const struct alert *a = &ev->alert;
    if (!c->pub || a->nescalated == 0)
        return;
    char topic[32 + NAME_MAX_LEN];
    snprintf(topic, sizeof topic, "escalations/%s", a->escalated_to[a->nescalated - 1].identity);
    struct outbox_row row = {
        .seq = seq, .kind = OUTBOX_ALERT, .ts_ms = ev->ts, .device = d ? d->id : NULL, .body = c->alert_body.p};
    if (payload_row(&c->party_body, c->cfg->gateway_id, &row) == 0 &&
        publish_direct(c->pub, topic, c->party_body.p, c->party_body.len, false) < 0)
        log_warn("alerts: %s: escalation level %d not sent to %s (broker not connected); it is on alerts", a->id,
                 a->escalation, topic);
}

/* A visit's row, and its event (at its start, at its end, when someone tells who made it). */
static void save_visit(struct core *c, const struct device *d, struct store_visit *v)
{
    if (store_put_visit(c->store, v) < 0)
        return;
    if (payload_visit_body(&c->out, v) == 0)
        store_append_event(c->store, d, OUTBOX_EVENT, v->end_ts ? v->end_ts : v->start_ts, c->out.p, NULL);
}

/* An elevator's inspection events are its maintenance visits. */
static void inspection(struct core *c, const struct device *d, const struct alert_event *ev)
{
    struct store_visit *v = NULL;
    if (!strcmp(ev->alert.rule, "inspection_start"))
        v = maintenance_visit_start(c->maint, d->index, ev->ts);
    else if (!strcmp(ev->alert.rule, "inspection_end"))
        v = maintenance_visit_end(c->maint, d->index, ev->ts, &c->sink);
    if (v)
        save_visit(c, d, v);
}

/* The alert sink: one outbox row per event, the alert's row brought up to date, the day's
 * report told. */
static void on_alert(void *ctx, const struct alert_event *ev)
{
    struct core *c = ctx;
    const struct alert *a = &ev->alert;
    const struct device *d = device_by_id(c->cfg, a->device);
    char level[64 + TEXT_MAX_LEN] = "";
    if (ev->kind == ALERT_ESCALATED)
        snprintf(level, sizeof level, ", level %d: %s missed%s%s", a->escalation,
                 a->escalation_stage > 0 ? alert_stage_name((enum stage)(a->escalation_stage - 1)) : "?",
                 a->nescalated ? ", for " : "", a->nescalated ? a->escalated_to[a->nescalated - 1].name : "");
    log_notice("alerts: %s: %s %s (%s%s) %s", a->device, a->rule, alert_event_name(ev->kind),
               alert_severity_name(a->severity), level, a->id);
    if (ev->kind != ALERT_OCCURRED)
        save_alert(c, a);
    int stage = workorder_stage_of(ev->kind);
    const struct alert_stage *st = stage >= 0 ? &a->stages[stage] : NULL;
    if (payload_alert_event(&c->alert_body, ev, d ? d->location : "", st ? st->note : NULL,
                            ev->kind == ALERT_ACKNOWLEDGED ? st->name : NULL, d == NULL) < 0) {
        log_err("alerts: %s: out of memory writing its %s event", a->id, alert_event_name(ev->kind));
        return;
    }
    int64_t seq = 0;
    if (store_append_event(c->store, d, OUTBOX_ALERT, ev->ts, c->alert_body.p, &seq) == 0) {
        c->active_seq = seq;
        if (ev->kind == ALERT_ESCALATED)
            tell_party(c, ev, d, seq);
    }
    /* An overdue maintenance is the contractor's lapse, not the device's fault or alarm. */
    if (d && strcmp(a->rule, MAINTENANCE_RULE) != 0)
        reports_alert(c->reports, d->index, ev, report_emit, c);
    if (d && ev->kind == ALERT_OCCURRED)
        inspection(c, d, ev);
}

/* After anything that may have changed the active list: the rows of the active alerts follow
 * it (a flapping flag changes no event), and alerts/active is due. */
static void follow_engine(struct core *c)
{
    uint64_t g = engine_generation(c->engine) + maintenance_generation(c->maint);
    if (g == c->active_gen)
        return;
    c->active_gen = g;
    c->active_dirty = true;
    int n = engine_active(c->engine, NULL, 0);
    struct alert *list = calloc((size_t)(n ? n : 1), sizeof *list);
    if (!list)
        return;
    n = engine_active(c->engine, list, n);
    for (int i = 0; i < n; i++)
        save_alert(c, &list[i]);
    free(list);
}

static void publish_active(struct core *c)
{
    if (!c->pub || !c->active_dirty || !publish_connected(c->pub) || store_committed_seq(c->store) < c->active_seq)
        return;
    /* The rules' alerts and the maintenance interval's. */
    int ne = engine_active(c->engine, NULL, 0), nm = maintenance_active(c->maint, NULL, 0), n = ne + nm;
    struct alert *list = calloc((size_t)n + 1, sizeof *list);
    const char **locs = calloc((size_t)n + 1, sizeof *locs);
    if (list && locs) {
        ne = engine_active(c->engine, list, ne);
        n = ne + maintenance_active(c->maint, list + ne, nm);
        for (int i = 0; i < n; i++) {
            const struct device *d = device_by_id(c->cfg, list[i].device);
            locs[i] = d ? d->location : "";
        }
        if (payload_alerts_active(&c->out, c->cfg->gateway_id, core_now(), c->active_seq, list, locs, n) == 0 &&
            publish_direct(c->pub, "alerts/active", c->out.p, c->out.len, true) > 0)
            c->active_dirty = false;
    }
    free(list);
    free(locs);
}

static void handle_state(struct core *c, const struct msg *m)
{
    const struct device *d = c->cfg->devices[m->device];
    bool online = m->kind == MSG_DEVICE_ONLINE;
    if (online)
        c->last_ok_ts[m->device] = m->ts_ms;
    /* The first poll after either change is a full snapshot; the gap row below is one already. */
    exception_reset(&c->sent[m->device]);
    const struct bus_config *b = device_bus(c->cfg, d);
    struct payload_device_info info = {b ? b->id : "", d->location, d->driver, d->profile ? d->profile->kind : "",
                                       d->unit,        &d->asset};
    if (payload_device_state_body(&c->out, &info, online, c->last_ok_ts[m->device], m->errors) == 0)
        store_append_event(c->store, d, OUTBOX_DEVICE_STATE, m->ts_ms, c->out.p, NULL);
    if (m->kind == MSG_DEVICE_ONLINE)
        return;
    /* Mark the gap in every series of the device, so a chart shows where data stops. */
    const struct profile *p = d->profile;
    struct msg *gap = msg_new(MSG_READING, m->device, m->ts_ms, p->npoints);
    if (!gap)
        return;
    gap->clock_unsynced = m->clock_unsynced;
    for (int k = 0; k < p->npoints; k++) {
        gap->values[k] = NAN;
        gap->quality[k] = Q_OFFLINE;
    }
    store_append_reading(c->store, d, gap, NULL);
    msg_free(gap);
}

static void raise_gateway_alert(struct core *c, const char *rule, enum severity sev, const char *zh, const char *en);

/* Report by exception: of a poll, only what changed beyond its deadband goes into the outbox,
 * and nothing at all when nothing did; every point once report_max_s has passed. */
static void append_reading(struct core *c, const struct device *d, const struct msg *m)
{
    bool send[MAX_POINTS], full;
    /* Rows rolled back never leave the box: what sent[] says was sent may not have been. */
    if (store_rollbacks(c->store) != c->sent_rollbacks) {
        c->sent_rollbacks = store_rollbacks(c->store);
        for (int i = 0; i < c->cfg->ndevices; i++)
            exception_reset(&c->sent[i]);
    }
    struct exception_state *st = &c->sent[m->device];
    int n = exception_filter(st, d->profile, exception_report_max_ms(d), d->poll_ms / 2, m->ts_ms, m->values,
                             m->quality, send, &full);
    if (n == 0)
        return;
    /* A failed write is counted by the store (metrics: store.write_errors); polling goes on, and
     * the next poll is a full snapshot. */
    if (full) {
        if (store_append_reading(c->store, d, m, NULL) < 0)
            exception_reset(st);
        return;
    }
    struct msg *part = msg_new(MSG_READING, m->device, m->ts_ms, m->npoints);
    if (!part) {
        log_err("core: %s: out of memory writing a reading", d->id);
        exception_reset(st);
        return;
    }
    for (int k = 0; k < m->npoints; k++) {
        part->values[k] = m->values[k];
        part->quality[k] = send[k] ? m->quality[k] : Q_UNREAD;
    }
    part->clock_unsynced = m->clock_unsynced;
    if (store_append_partial(c->store, d, part, st->snapshot_ts, NULL) < 0)
        exception_reset(st);
    msg_free(part);
}

/* A DTU's silent connection was taken over: an event naming both peers; the takeover that makes
 * the id contested also raises a one-shot alert of the gateway (docs/alerts.md). */
static void handle_takeover(struct core *c, const struct msg *m)
{
    const struct dtu_takeover *t = m->takeover;
    struct jbuf body = {0};
    if (payload_dtu_replaced(&body, t) == 0)
        store_append_event(c->store, NULL, OUTBOX_EVENT, m->ts_ms, body.p, NULL);
    else
        log_err("bus %s: out of memory writing a dtu_replaced event", t->bus);
    jbuf_free(&body);
    if (!t->contested)
        return;
    char zh[TEXT_MAX_LEN], en[TEXT_MAX_LEN];
    snprintf(zh, sizeof zh, "DTU %.40s（总线 %.32s）%d 分钟内被新连接接管 %d 次，可能有人冒充", t->dtu_id, t->bus,
             DTU_CONTESTED_WINDOW_MS / 60000, t->recent);
    snprintf(en, sizeof en, "DTU %.40s (bus %.32s) taken over %d times in %d min: someone may be impersonating it",
             t->dtu_id, t->bus, t->recent, DTU_CONTESTED_WINDOW_MS / 60000);
    raise_gateway_alert(c, "dtu_contested", SEV_MAJOR, zh, en);
}

static void handle(struct core *c, const struct msg *m)
{
    if (m->kind == MSG_DTU_REPLACED) {
        handle_takeover(c, m);
        return;
    }
    const struct device *d = c->cfg->devices[m->device];
    switch (m->kind) {
    case MSG_READING:
        for (int k = 0; k < m->npoints; k++) {
            if (m->quality[k] == Q_OK) {
                c->last_ok_ts[m->device] = m->ts_ms;
                break;
            }
        }
        daycounts_poll(c->days, m->device, m->quality, m->npoints);
        reports_reading(c->reports, m->device, m->ts_ms, m->values, m->quality, m->npoints, report_emit, c);
        engine_handle(c->engine, m, &c->sink);
        follow_engine(c);
        /* After the alert events it raised: a reading is published from memory at once, but not
         * past a durable row still uncommitted (store_fetch_unsent), so the alert goes first. */
        append_reading(c, d, m);
        break;
    case MSG_DEVICE_ONLINE:
    case MSG_DEVICE_OFFLINE:
        daycounts_online(c->days, m->device, m->kind == MSG_DEVICE_ONLINE);
        handle_state(c, m);
        engine_handle(c->engine, m, &c->sink);
        follow_engine(c);
        break;
    case MSG_DTU_REPLACED:
        break;
    case MSG_POINT_MISSING:
        if (payload_point_missing_body(&c->out, d->profile->points[m->point].name) == 0)
            store_append_event(c->store, d, OUTBOX_EVENT, m->ts_ms, c->out.p, NULL);
        break;
    }
}

/* The day's report accumulators go into the commit when they are due: with the daily report a
 * day's end emitted (the report and the new day kept together, so a restart neither loses nor
 * repeats it), every REPORT_SAVE_MS, and at a stop. Not with every commit: readings are mostly
 * never written, and every device's day in each alert's commit would cost more than the alert. */
static int commit_all(struct core *c)
{
    if (c->reports && c->reports_due) {
        reports_save(c->reports, report_save, c);
        c->reports_due = false;
    }
    return store_commit(c->store);
}

static void commit(struct core *c)
{
    commit_all(c);
    /* Checked after each commit: the file's size only grows by what a commit wrote. */
    store_enforce_limits(c->store, core_now());
}

/* Drains the queue; returns the number of messages handled. */
static int drain(struct core *c)
{
    struct msg *batch[DRAIN_MAX];
    int total = 0, n;
    while ((n = queue_pop_many(c->q, batch, DRAIN_MAX)) > 0) {
        for (int i = 0; i < n; i++) {
            batch[i]->ts_ms = timebase_time(&timebase, batch[i]->ts_ms, batch[i]->mono_ms);
            batch[i]->clock_unsynced = !timebase.synced;
            handle(c, batch[i]);
            msg_free(batch[i]);
        }
        total += n;
        if (store_pending_rows(c->store) >= c->cfg->store.batch)
            commit(c);
    }
    return total;
}

static int commit_due_in(const struct core *c)
{
    if (!store_in_transaction(c->store))
        return -1;
    int64_t left = store_pending_since_ms(c->store) + c->cfg->store.commit_ms - clock_mono_ms();
    return left < 0 ? 0 : (int)left;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void publish_metrics(struct core *c)
{
    struct payload_metrics m = {.ts_ms = clock_wall_ms(), .started_ts_ms = c->started_ts};
    struct payload_device *devs = calloc((size_t)c->cfg->ndevices + 1, sizeof *devs);
    if (!devs)
        return;
    for (int i = 0; i < c->nbuses; i++) {
        const struct bus_config *b = &c->cfg->buses[i];
        for (int j = 0; j < b->ndevices; j++) {
            devs[m.ndevices].id = b->devices[j].id;
            bus_device_stats(c->buses[i], j, &devs[m.ndevices].stats);
            m.ndevices++;
        }
    }
    m.devices = devs;
    store_backlog(c->store, &m.backlog);
    store_usage(c->store, &m.store);
    m.queue_dropped = queue_dropped(c->q);
    m.rss_kb = rss_kb();
    struct publish_stats ps;
    publish_get_stats(c->pub, &ps);
    m.mqtt_connects = ps.connects;
    m.mqtt_published = ps.published;
    m.mqtt_acked = ps.acked;
    m.mqtt_refused = ps.refused;
    m.mqtt_inflight = ps.inflight;
    m.commands_accepted = c->cmds.accepted;
    m.commands_refused = c->cmds.refused;
    m.commands_replies_held = c->cmds.replies_held;
    m.commands_log_held = c->cmds.log_held;
    struct dtu_counts dc;
    dtu_listener_counts(&dc);
    m.dtu_refused = dc.refused;
    m.dtu_claims_refused = dc.claims_refused;
    m.dtu_takeovers = dc.takeovers;
    if (payload_metrics(&c->out, c->cfg->gateway_id, &m) == 0)
        publish_direct(c->pub, "metrics", c->out.p, c->out.len, false);
    free(devs);
}

/* Validates the config file as it is now on disk, as `caretaker check` would; a bad file is
 * refused and the running config goes on untouched. A good one is applied by stopping
 * cleanly (every reading committed) and starting again on it in the same process: everything
 * that must survive is in the store already, exactly as across a restart. With keep_same, files
 * that hash as the running ones were read from are not applied: a restart would only drop
 * every DTU connection and the rules' history for nothing. Returns 0 applying, 1 unchanged, -1
 * refused; msg says which and why. */
static int reload_check(struct core *c, bool keep_same, char *msg, size_t n)
{
    struct config *fresh = NULL;
    struct diag err;
    diag_clear(&err);
    /* The installed drivers directory is the last of the running config's list (config_load
     * adds it last and skips it when already there), so passing it again gives the same list. */
    const char *installed = c->cfg->ndriver_dirs ? c->cfg->driver_dirs[c->cfg->ndriver_dirs - 1] : NULL;
    if (config_load(c->cfg->path, installed, &fresh, &err) < 0) {
        snprintf(msg, n, "%s", err.msg);
        return -1;
    }
    /* A reload never changes which store the gateway keeps: its seqs and unsent rows are there. */
    if (strcmp(fresh->store.path, c->cfg->store.path) != 0) {
        snprintf(msg, n,
                 "%s: store.path changed from \"%s\" to \"%s\": a reload keeps the store; restart the daemon to move "
                 "to another",
                 c->cfg->path, c->cfg->store.path, fresh->store.path);
        config_free(fresh);
        return -1;
    }
    if (keep_same && fresh->source_hash == c->cfg->source_hash) {
        snprintf(msg, n, "unchanged: %s and its %d profiles are as running; nothing restarted", c->cfg->path,
                 fresh->nprofiles);
        config_free(fresh);
        return 1;
    }
    snprintf(
        msg, n,
        "%s is valid: applying it (%d buses, %d devices); pollers and the broker connection restart, the store stays",
        c->cfg->path, fresh->nbuses, fresh->ndevices);
    config_free(c->next); /* a second reload in the same turn: the newer file wins */
    c->next = fresh;
    c->reload = true;
    last_reload_ms = clock_mono_ms();
    return 0;
}

/* Text from the network, made safe for one log line. */
static void printable(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < n; i++)
        dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
    dst[i] = '\0';
}

/* Replies go to <prefix>/reply/<identity>, outside cmd/: whoever may read replies (a
 * dashboard) need not be able to command, and a commander's ACL can let it read its own. */
static void reply(struct core *c, const struct command *cmd, bool ok, const char *text)
{
    char topic[16 + CMD_ID_MAX];
    snprintf(topic, sizeof topic, "reply/%s", cmd->identity);
    if (payload_reply(&c->out, c->cfg->gateway_id, core_now(), cmd->name, cmd->has_id ? cmd->id : NULL, ok, text) == 0)
        publish_direct(c->pub, topic, c->out.p, c->out.len, false);
}

/* A refusal is counted always, logged and answered within budgets: anyone on the broker can
 * send them as fast as it lets them through. A topic without a valid identity gets no reply:
 * there is nobody to address it to. */
static void refuse(struct core *c, const struct command *cmd, const char *why)
{
    const struct commands_config *cc = &c->cfg->commands;
    int64_t now = clock_mono_ms();
    uint32_t held = 0;
    c->cmds.refused++;
    if (budget_take(&c->refusal_log, now, REFUSAL_WINDOW_MS, (uint32_t)cc->refusals_per_minute, &held)) {
        char name[CMD_NAME_MAX + 1], who[CMD_ID_MAX + 1], text[1200], more[80] = "";
        printable(name, sizeof name, cmd->name);
        printable(who, sizeof who, cmd->identity[0] ? cmd->identity : "?");
        printable(text, sizeof text, why);
        if (held)
            snprintf(more, sizeof more, " (%u refusals before this one not logged)", held);
        log_warn("commands: cmd/%s/%s refused: %s%s", name, who, text, more);
    } else {
        c->cmds.log_held++;
    }
    if (!cmd->identity[0])
        return;
    const struct commander *k = commands_commander(cc, cmd->identity);
    struct budget *b = k && c->refusal_replies ? &c->refusal_replies[k - cc->commanders] : &c->refusal_strangers;
    if (budget_take(b, now, REFUSAL_WINDOW_MS, (uint32_t)cc->refusals_per_minute, NULL))
        reply(c, cmd, false, why);
    else
        c->cmds.replies_held++;
}

/* cmd/ack, cmd/on_site, cmd/resolve: one stage of a work order (workorder.h). */
static void command_stage(struct core *c, const struct command *cmd, const struct commander *who)
{
    static const char *const done[] = {"acknowledged", "on site", "resolved"};
    char err[1024];
    enum stage stage = cmd->kind == CMD_ACK ? STAGE_ACK : cmd->kind == CMD_ON_SITE ? STAGE_ON_SITE : STAGE_RESOLVE;
    const struct device *d = engine_alert_device(c->engine, cmd->alert_id);
    bool overdue = !d && (d = maintenance_alert_device(c->maint, cmd->alert_id)) != NULL;
    if (!d) {
        snprintf(err, sizeof err, "unknown alert \"%s\"", cmd->alert_id);
        refuse(c, cmd, err);
        return;
    }
    if (commands_permit(who, cmd, alert_contract_for(c->cfg, d), err, sizeof err) < 0) {
        refuse(c, cmd, err);
        return;
    }
    int rc =
        overdue
            ? maintenance_stage(c->maint, cmd->alert_id, stage, cmd->identity, cmd->by, cmd->note, core_now(), &c->sink)
            : engine_stage(c->engine, cmd->alert_id, stage, cmd->identity, cmd->by, cmd->note, core_now(), &c->sink);
    follow_engine(c);
    char shown_id[CMD_ALERT_ID_MAX + 1];
    printable(shown_id, sizeof shown_id, cmd->alert_id);
    if (rc == 2) {
        struct alert a;
        int cur = engine_alert(c->engine, cmd->alert_id, &a) == 0 ? workorder_current(&a) : -1;
        snprintf(err, sizeof err, "alert \"%s\" is already %s: stages do not go back (ack, on_site, resolve)",
                 cmd->alert_id, cur >= 0 ? done[cur] : "past this stage");
        refuse(c, cmd, err);
        return;
    }
    c->cmds.accepted++;
    log_notice("commands: alert \"%s\" %s%s by %s", shown_id, rc ? "was already " : "", done[stage], cmd->identity);
    snprintf(err, sizeof err, "%s%s \"%s\"", rc ? "already " : "", done[stage], cmd->alert_id);
    reply(c, cmd, true, err);
}

static void command_reload(struct core *c, const struct command *cmd, const struct commander *who)
{
    char err[1024];
    if (commands_permit(who, cmd, NULL, err, sizeof err) < 0) {
        refuse(c, cmd, err);
        return;
    }
    int64_t gap = (int64_t)c->cfg->commands.reload_interval_s * 1000, since = clock_mono_ms() - last_reload_ms;
    if (last_reload_ms && since < gap) {
        snprintf(err, sizeof err, "at most one reload per %d s: the last was applied %lld s ago; try again in %lld s",
                 c->cfg->commands.reload_interval_s, (long long)(since / 1000),
                 (long long)((gap - since + 999) / 1000));
        refuse(c, cmd, err);
        return;
    }
    int rc = reload_check(c, true, err, sizeof err);
    if (rc < 0) {
        char why[1100];
        snprintf(why, sizeof why, "reload refused, keeping the running config: %s", err);
        refuse(c, cmd, why);
        return;
    }
    c->cmds.accepted++;
    char text[1200];
    printable(text, sizeof text, err);
    log_notice("commands: reload by %s: %s", cmd->identity, text);
    reply(c, cmd, true, err);
}

/* cmd/visit: who made an elevator's maintenance visit (the one under way, or the last one
 * ended within a day), or a patrol or cleaning of any device, recorded as made now. */
static void command_visit(struct core *c, const struct command *cmd, const struct commander *who)
{
    char err[1024];
    const struct device *d = device_by_id(c->cfg, cmd->device);
    if (!d) {
        snprintf(err, sizeof err, "device: \"%s\" is not a device of this gateway", cmd->device);
        refuse(c, cmd, err);
        return;
    }
    if (commands_permit(who, cmd, alert_contract_for(c->cfg, d), err, sizeof err) < 0) {
        refuse(c, cmd, err);
        return;
    }
    struct store_visit scratch;
    struct store_visit *v =
        monthly_named_visit(c->store, c->maint, d, cmd->visit_kind, core_now(), &scratch, err, sizeof err);
    if (!v) {
        refuse(c, cmd, err);
        return;
    }
    snprintf(v->by, sizeof v->by, "%s", cmd->identity);
    if (cmd->by[0])
        snprintf(v->name, sizeof v->name, "%s", cmd->by);
    if (cmd->note[0])
        snprintf(v->note, sizeof v->note, "%s", cmd->note);
    save_visit(c, d, v);
    c->cmds.accepted++;
    log_notice("commands: %s visit of %s recorded by %s", cmd->visit_kind, d->id, cmd->identity);
    snprintf(err, sizeof err, "%s visit of %s recorded", cmd->visit_kind, d->id);
    reply(c, cmd, true, err);
}

static const struct contract *contract_by_id(const struct config *cfg, const char *id)
{
    for (int i = 0; i < cfg->ncontracts; i++)
        if (!strcmp(cfg->contracts[i].id, id))
            return &cfg->contracts[i];
    return NULL;
}

/* The monthly report of contract k on reports/monthly/<contract>: retained at the month's end,
 * not when asked for a past month (the latest month stays the one the broker keeps). Returns
 * 1 published, 0 not (err says why). */
static int publish_monthly(struct core *c, const struct contract *k, const char *month, bool retain, char *err,
                           size_t n)
{
    struct jbuf body = {0};
    char topic[32 + NAME_MAX_LEN];
    snprintf(topic, sizeof topic, "reports/monthly/%s", k->id);
    int rc = monthly_make(c->store, c->cfg, k, month, core_now(), &body, err, n);
    if (rc == 0 && publish_direct(c->pub, topic, body.p, body.len, retain) <= 0) {
        snprintf(err, n, "the broker did not take the report of %s", month);
        rc = -1;
    }
    jbuf_free(&body);
    return rc == 0;
}

static void command_report(struct core *c, const struct command *cmd, const struct commander *who)
{
    char err[1024];
    const struct contract *k = contract_by_id(c->cfg, cmd->contract);
    if (!k) {
        snprintf(err, sizeof err, "contract: \"%s\" is not a contract of this gateway's config", cmd->contract);
        refuse(c, cmd, err);
        return;
    }
    if (commands_permit(who, cmd, k, err, sizeof err) < 0 ||
        !publish_monthly(c, k, cmd->month, false, err, sizeof err)) {
        refuse(c, cmd, err);
        return;
    }
    c->cmds.accepted++;
    log_notice("commands: monthly report of %s for %s sent to %s", cmd->month, k->id, cmd->identity);
    snprintf(err, sizeof err, "monthly report of %s for %s published on reports/monthly/%s", cmd->month, k->id, k->id);
    reply(c, cmd, true, err);
}

/* At the site's month end (or at the first chance after, the broker connected), every
 * contract's report of the month that ended. Made from the store, so waiting changes nothing. */
static void monthly_due(struct core *c, int64_t wall)
{
    char month[16], err[256];
    int64_t from = monthly_previous(wall, month, sizeof month);
    if (from <= c->monthly_done || !c->pub || !publish_connected(c->pub) || clock_mono_ms() < c->monthly_retry)
        return;
    int sent = 0;
    for (int i = 0; i < c->cfg->ncontracts; i++) {
        if (publish_monthly(c, &c->cfg->contracts[i], month, true, err, sizeof err))
            sent++;
        else
            log_warn("reports: monthly report of %s for %s: %s", month, c->cfg->contracts[i].id, err);
    }
    if (sent < c->cfg->ncontracts) {
        c->monthly_retry = clock_mono_ms() + MONTHLY_RETRY_MS; /* every contract's again: retained, harmless */
        return;
    }
    log_info("reports: monthly reports of %s published (%d contracts)", month, sent);
    c->monthly_done = from;
    store_set_mark(c->store, MONTHLY_REPORTED_MARK, from);
}

static void on_command(void *ctx, const char *topic, const void *payload, size_t len, bool retained)
{
    struct core *c = ctx;
    struct command cmd;
    char err[1024];
    if (commands_parse(topic, payload, len, retained, &cmd, err, sizeof err) < 0) {
        refuse(c, &cmd, err);
        return;
    }
    const struct commander *who = commands_commander(&c->cfg->commands, cmd.identity);
    if (!who) {
        snprintf(err, sizeof err, "identity \"%s\" may not command this gateway (it is not in commands.commanders)",
                 cmd.identity);
        refuse(c, &cmd, err);
        return;
    }
    if (commands_is_stage(cmd.kind))
        command_stage(c, &cmd, who);
    else if (cmd.kind == CMD_RELOAD)
        command_reload(c, &cmd, who);
    else if (cmd.kind == CMD_VISIT)
        command_visit(c, &cmd, who);
    else if (cmd.kind == CMD_REPORT)
        command_report(c, &cmd, who);
}

static int min_timeout(int a, int b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static int until(int64_t when, int64_t now)
{
    return when <= now ? 0 : when - now > 600000 ? 600000 : (int)(when - now);
}

static void clock_event(struct core *c, bool synced, int64_t from_ts, int64_t to_ts, int64_t step_ms)
{
    if (payload_clock_body(&c->out, synced, from_ts, to_ts, step_ms) == 0)
        store_append_event(c->store, NULL, OUTBOX_EVENT, core_now(), c->out.p, NULL);
}

static int restore_alert(void *ctx, const char *json);

/* The rows of alerts that were in the span and are no longer held (cleared, the work order
 * closed): the monthly report is made of them, so they are corrected as the active ones are.
 * Before engine_shift, which saves the active ones corrected: none is corrected twice. */
static void correct_past_alerts(struct core *c, const struct timebase_step *st)
{
    cJSON *rows = cJSON_CreateArray();
    if (!rows || store_alerts_between(c->store, st->lo, st->hi + 1, restore_alert, rows) < 0) {
        log_err("alerts: cannot read the alerts of the unsynchronized span; their times are left held");
        cJSON_Delete(rows);
        return;
    }
    const cJSON *o;
    cJSON_ArrayForEach(o, rows)
    {
        struct alert a, held;
        if (alert_from_json(o, &a) < 0 || engine_alert(c->engine, a.id, &held) == 0 ||
            maintenance_alert_device(c->maint, a.id))
            continue;
        if (alert_shift(&a, st))
            save_alert(c, &a);
    }
    cJSON_Delete(rows);
}

/* The clock synchronized: what was recorded while it was not is corrected — the rules' times and
 * the active alerts' deadlines (saved again), the rows of alerts closed in the span, the day's
 * report and day counts (a day moved takes the counts saved under it before a restart), a fresh
 * install's last month reported, the devices' last good polls (and the next poll of each is a
 * full snapshot) — and an event tells consumers the step, for the readings already sent with
 * held times. */
static void clock_synchronized_now(struct core *c, const struct timebase_step *st)
{
    log_notice("clock: synchronized; times recorded since %" PRId64 " corrected by %+" PRId64 " ms", st->lo,
               st->delta_ms);
    correct_past_alerts(c, st);
    engine_shift(c->engine, st);
    maintenance_shift(c->maint, st);
    store_correct_times(c->store, st->lo, st->hi, st->delta_ms);
    follow_engine(c); /* the alerts corrected are saved and alerts/active sent again */
    reports_shift(c->reports, st);
    c->reports_due = true;
    if (monthly_mark_held) {
        char month[16];
        c->monthly_done = monthly_previous(core_now(), month, sizeof month);
        store_set_mark(c->store, MONTHLY_REPORTED_MARK, c->monthly_done);
        monthly_mark_held = false;
    }
    daycounts_shift(c->days, st);
    if (monthly_merge_days(c->store, c->days, core_now()) < 0)
        log_err("reports: cannot read today's saved day counts; the day goes on without them");
    for (int i = 0; i < c->cfg->ndevices; i++) {
        c->last_ok_ts[i] = timebase_correct(st, c->last_ok_ts[i]);
        /* A partial reading names its snapshot by ts: none after the sync names one of held
         * time, which a consumer has corrected. The next poll is a full snapshot. */
        exception_reset(&c->sent[i]);
    }
    clock_event(c, true, st->lo + st->delta_ms, st->hi + st->delta_ms, st->delta_ms);
}

/* Asked once a tick: the kernel's NTP state, and what follows when it changes. */
static void check_clock(struct core *c)
{
    struct timebase_step st;
    bool was = timebase.synced;
    if (timebase_update(&timebase, clock_synchronized(NULL), clock_wall_ms(), clock_mono_ms(), &st) == 1) {
        clock_synchronized_now(c, &st);
    } else if (was && !timebase.synced) {
        log_warn("clock: no longer synchronized (NTP); times are held to the monotonic clock until it is");
        clock_event(c, false, timebase.span_lo, 0, 0);
    }
}

/* One turn of the loop: returns 1 to go on, 0 on a stop signal, -1 on a poll error. */
static int turn(struct core *c, int sfd)
{
    struct pollfd fds[3] = {{.fd = queue_fd(c->q), .events = POLLIN}, {.fd = sfd, .events = POLLIN}, {.fd = -1}};
    int64_t now = clock_mono_ms();
    int timeout = commit_due_in(c);
    if (c->pub) {
        short ev = 0;
        int fd = publish_fd(c->pub, &ev);
        if (fd >= 0) {
            fds[2].fd = fd;
            fds[2].events = ev;
        }
        timeout = min_timeout(timeout, publish_timeout_ms(c->pub, now));
        if (publish_connected(c->pub))
            timeout = min_timeout(timeout, until(c->next_metrics, now));
    }
    timeout = min_timeout(timeout, store_spill_due_in(c->store, now));
    timeout = min_timeout(timeout, until(c->next_expire, now));
    timeout = min_timeout(timeout, until(c->next_tick, now));
    timeout = min_timeout(timeout, until(c->next_report_save, now));
    if (c->watchdog_ms)
        timeout = min_timeout(timeout, until(c->next_watchdog, now));
    int r = poll(fds, 3, timeout);
    if (r < 0 && errno != EINTR) {
        log_err("core: poll: %s", strerror(errno));
        return -1;
    }
    if (r < 0)
        return 1;
    if (fds[0].revents & POLLIN)
        drain(c);
    now = clock_mono_ms();
    if (now >= c->next_tick) {
        check_clock(c);
        int64_t wall = core_now();
        engine_tick(c->engine, wall, &c->sink);
        reports_tick(c->reports, wall, report_emit, c);
        daycounts_tick(c->days, wall, day_save, c);
        maintenance_tick(c->maint, wall, &c->sink);
        if (now >= c->next_days_save) {
            daycounts_save(c->days, day_save, c);
            c->next_days_save = now + DAYS_SAVE_MS;
        }
        follow_engine(c);
        monthly_due(c, wall);
        c->next_tick = now + TICK_MS;
    }
    if (commit_due_in(c) == 0)
        commit(c);
    now = clock_mono_ms();
    /* Readings the broker has not acknowledged in time (or all of them, while it is away) go to
     * the file; the limits are checked after, as after any commit. */
    if (store_spill_due_in(c->store, now) == 0) {
        store_spill(c->store);
        store_enforce_limits(c->store, core_now());
    }
    if (now >= c->next_report_save) {
        c->reports_due = true;
        commit(c);
        c->next_report_save = now + REPORT_SAVE_MS;
    }
    if (c->pub) {
        publish_io(c->pub, fds[2].fd >= 0 ? fds[2].revents : 0, now);
        bool fresh = publish_take_connected(c->pub);
        if (fresh)
            c->active_dirty = true; /* a retained list may be older than ours, or gone */
        if (fresh || (publish_connected(c->pub) && now >= c->next_metrics)) {
            publish_metrics(c);
            c->next_metrics = now + (int64_t)c->cfg->mqtt.metrics_s * 1000;
        }
        publish_pump(c->pub);
        publish_active(c);
    }
    /* Pinged from the loop itself: a loop stuck anywhere above stops the pings. */
    if (c->watchdog_ms && now >= c->next_watchdog) {
        sd_watchdog_ping();
        c->next_watchdog = now + c->watchdog_ms;
    }
    if (now >= c->next_expire) {
        /* Retention is judged by the clock: not while it is unsynchronized, when it may be months
         * ahead and take the history the monthly reports are made of (alerts, visits, day
         * counts). Asked again a minute later. */
        int64_t n = timebase.synced ? store_expire(c->store, core_now(), EXPIRE_BATCH) : 0;
        if (n > 0)
            log_info("store: %" PRId64 " sent rows past retention deleted", n);
        c->next_expire = now + (n == EXPIRE_BATCH ? 1000 : timebase.synced ? EXPIRE_EVERY_MS : 60000);
    }
    if (fds[1].revents & POLLIN) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
            if (si.ssi_signo == SIGHUP) {
                char msg[1024];
                if (reload_check(c, false, msg, sizeof msg) < 0)
                    log_warn("core: SIGHUP: config refused, keeping the running config: %s", msg);
                else
                    log_notice("core: SIGHUP: %s", msg);
                return c->reload ? 0 : 1;
            }
            log_notice("core: %s, stopping", strsignal((int)si.ssi_signo));
            c->reload = false; /* a stop asked for wins over a reload asked for in the same turn */
            return 0;
        }
    }
    return c->reload ? 0 : 1; /* cmd/reload, answered above: stop to start again */
}

static int restore_alert(void *ctx, const char *json)
{
    cJSON *arr = ctx;
    cJSON *o = cJSON_Parse(json);
    if (o && !cJSON_AddItemToArray(arr, o))
        cJSON_Delete(o);
    return 0;
}

static int restore_report(void *ctx, const char *device, int64_t day_start_ms, const char *json)
{
    struct core *c = ctx;
    if (reports_restore(c->reports, device, day_start_ms, json, core_now(), report_emit, c) < 0 &&
        device_by_id(c->cfg, device))
        log_warn("reports: %s: the saved counts of the day do not read back; counting afresh", device);
    return 0;
}

/* The rules engine and the daily reports, with what was saved before a restart: the active
 * alerts come back without an event (they are not raised again), the day's counts go on. */
static int start_rules(struct core *c)
{
    const struct config *cfg = c->cfg;
    /* Report days end at the site's local midnight; the daemon runs in one zone. Set before
     * any thread starts (setenv is not thread-safe). */
    if (setenv("TZ", cfg->timezone, 1) == 0)
        tzset();
    struct rules_options opt;
    rules_options_default(&opt);
    opt.escalate_every_ms = (int64_t)cfg->alerts.escalate_every_s * 1000;
    opt.flap_max = cfg->alerts.flap_max;
    opt.flap_window_ms = (int64_t)cfg->alerts.flap_window_s * 1000;
    opt.flap_hold_ms = (int64_t)cfg->alerts.flap_hold_s * 1000;
    opt.comm_lost_ms = (int64_t)cfg->alerts.comm_lost_s * 1000;
    int64_t now = core_now();
    struct diag err;
    diag_clear(&err);
    c->sink = (struct alert_sink){on_alert, c};
    c->engine = engine_new(cfg, &opt, now, &err);
    c->reports = reports_new(cfg, now);
    c->days = daycounts_new(cfg, now);
    c->maint = maintenance_new(cfg);
    if (!c->engine || !c->reports || !c->days || !c->maint) {
        log_err("%s", err.msg[0] ? err.msg : "rules: out of memory");
        return -1;
    }
    cJSON *saved = cJSON_CreateArray();
    if (!saved || store_active_alerts(c->store, restore_alert, saved) < 0) {
        cJSON_Delete(saved);
        log_err("alerts: cannot read the active alerts saved in the store");
        return -1;
    }
    maintenance_take_saved(c->maint, saved);
    int bad = 0, n = cJSON_GetArraySize(saved);
    int placed = engine_restore_json(c->engine, saved, now, &c->sink, &bad);
    cJSON_Delete(saved);
    if (n)
        log_notice("alerts: %d active alerts put back from the store%s", placed,
                   placed + bad < n ? " (the others' device or rule is gone: cleared)" : "");
    if (bad)
        log_warn("alerts: %d saved alerts do not read back; they are left as they are", bad);
    store_report_days(c->store, restore_report, c);
    int fresh = monthly_restore(c->store, cfg, c->days, c->maint, now, &c->monthly_done);
    if (fresh < 0) {
        log_err("reports: cannot read the month's records from the store");
        return -1;
    }
    if (fresh && !timebase.synced)
        monthly_mark_held = true;
    c->next_days_save = clock_mono_ms() + DAYS_SAVE_MS;
    /* Minutes in alarm go on from the alerts active now. */
    int nact = engine_active(c->engine, NULL, 0);
    struct alert *list = calloc((size_t)(nact ? nact : 1), sizeof *list);
    if (list) {
        nact = engine_active(c->engine, list, nact);
        for (int i = 0; i < cfg->ndevices; i++) {
            int k = 0;
            for (int j = 0; j < nact; j++)
                k += list[j].severity != SEV_INFO && strcmp(list[j].device, cfg->devices[i]->id) == 0;
            reports_set_active(c->reports, i, k, now);
        }
        free(list);
    }
    c->active_dirty = true;
    follow_engine(c);
    return commit_all(c) < 0 ? -1 : 0;
}

/* A corrupt store found at start was moved aside: the history it held may be lost, which the
 * O&M company must hear of. A one-shot alert of the gateway itself: nothing to clear. */
static void report_moved_store(struct core *c)
{
    const char *moved = store_moved_aside(c->store, NULL);
    if (!moved)
        return;
    const char *slash = strrchr(moved, '/');
    const char *name = slash ? slash + 1 : moved; /* it lies beside the store */
    char zh[TEXT_MAX_LEN], en[TEXT_MAX_LEN];
    snprintf(zh, sizeof zh, "网关数据库损坏，已另存为 %.100s 并新建；未发送的数据可能丢失", name);
    snprintf(en, sizeof en, "Store corrupt: kept as %.100s, a fresh one made; unsent data may be lost", name);
    raise_gateway_alert(c, "store_corrupt", SEV_MAJOR, zh, en);
}

/* A one-shot alert of the gateway itself (device: the gateway id): nothing to clear. */
static void raise_gateway_alert(struct core *c, const char *rule, enum severity sev, const char *zh, const char *en)
{
    struct alert_event ev = {.kind = ALERT_OCCURRED, .ts = core_now()};
    struct alert *a = &ev.alert;
    snprintf(a->device, sizeof a->device, "%s", c->cfg->gateway_id);
    snprintf(a->rule, sizeof a->rule, "%s", rule);
    snprintf(a->id, sizeof a->id, "%s:%s:%lld", a->device, a->rule, (long long)ev.ts);
    a->severity = sev;
    snprintf(a->message_zh, sizeof a->message_zh, "%s", zh);
    snprintf(a->message_en, sizeof a->message_en, "%s", en);
    a->value = NAN;
    a->raised_ts = ev.ts;
    on_alert(c, &ev);
}

int core_run(struct config *cfg, bool reloaded, struct config **next)
{
    if (!timebase_started) {
        int unknown = 0;
        timebase_init(&timebase, clock_synchronized(&unknown), clock_wall_ms(), clock_mono_ms());
        timebase_started = true;
        if (unknown)
            log_warn(
                "clock: the kernel's NTP state cannot be read (adjtimex refused): times are taken as synchronized");
    }
    struct core c = {.cfg = cfg, .started_ts = core_now()};
    struct diag err;
    diag_clear(&err);
    int rc = 1, sfd = -1;

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    /* A broker that closes the socket mid-write must not kill the daemon. */
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

    /* A reload: systemd's watchdog runs on; the file was open a moment ago, not worth a full read. */
    if (reloaded)
        sd_watchdog_ping();
    if ((reloaded ? store_reopen : store_open)(cfg->store.path, &c.store, &err) < 0 ||
        store_register(c.store, cfg, &err) < 0 ||
        store_set_limits(c.store, cfg->store.max_mb, cfg->store.retention_days) < 0) {
        log_err("%s", err.msg[0] ? err.msg : "store: cannot set its limits");
        goto out;
    }
    c.q = queue_new(QUEUE_CAPACITY);
    c.buses = calloc((size_t)cfg->nbuses + 1, sizeof *c.buses);
    c.last_ok_ts = calloc((size_t)cfg->ndevices + 1, sizeof *c.last_ok_ts);
    c.sent = calloc((size_t)cfg->ndevices + 1, sizeof *c.sent);
    if (!c.q || !c.buses || !c.last_ok_ts || !c.sent || sfd < 0) {
        log_err("core: cannot set up: %s", strerror(errno));
        goto out;
    }
    for (int i = 0; i < cfg->ndevices; i++)
        exception_reset(&c.sent[i]);
    c.sent_rollbacks = store_rollbacks(c.store);
    /* A file over a lowered max_mb is brought down before anything is added to it. */
    store_enforce_limits(c.store, c.started_ts);
    store_commit(c.store);
    if (start_rules(&c) < 0)
        goto out;
    report_moved_store(&c);
    if (!reloaded && !timebase.synced) {
        log_warn("clock: not synchronized (NTP): times are held to the monotonic clock from %" PRId64
                 " and corrected when it synchronizes",
                 timebase.span_lo);
        clock_event(&c, false, timebase.span_lo, 0, 0);
    }
    if (commit_all(&c) < 0)
        goto out;
    if (cfg->has_mqtt) {
        if (publish_new(cfg, c.store, c.started_ts, &c.pub, &err) < 0) {
            log_err("%s", err.msg);
            goto out;
        }
        if (cfg->commands.ncommanders) {
            c.refusal_replies = calloc((size_t)cfg->commands.ncommanders, sizeof *c.refusal_replies);
            if (!c.refusal_replies) {
                log_err("core: cannot set up: out of memory");
                goto out;
            }
        }
        publish_set_command_handler(c.pub, on_command, &c);
        publish_io(c.pub, 0, clock_mono_ms()); /* the first connect attempt begins */
    }
    for (int i = 0; i < cfg->nbuses; i++) {
        if (bus_start(&cfg->buses[i], c.q, &c.buses[i]) < 0)
            goto out;
        c.nbuses++;
    }
    log_notice("caretaker %s: site %s, gateway %s: %d buses, %d devices, store %s (seq %lld)%s%s", CARETAKER_VERSION,
               cfg->site_id, cfg->gateway_id, cfg->nbuses, cfg->ndevices, cfg->store.path,
               (long long)store_last_seq(c.store), cfg->has_mqtt ? ", broker " : ", no broker",
               cfg->has_mqtt ? cfg->mqtt.host : "");
    char status[160];
    snprintf(status, sizeof status, "%d devices on %d buses%s", cfg->ndevices, cfg->nbuses,
             cfg->has_mqtt ? "; connecting to the broker" : "; no broker configured");
    sd_ready(status);
    c.next_metrics = clock_mono_ms() + (int64_t)cfg->mqtt.metrics_s * 1000;
    c.next_tick = clock_mono_ms() + TICK_MS;
    c.next_report_save = clock_mono_ms() + REPORT_SAVE_MS;
    /* The day's accumulators are saved at the first commit too: a run that crashes before its
     * first periodic save must not leave a day with nothing to close at the next start. */
    c.reports_due = true;
    c.next_expire = clock_mono_ms() + 5000;
    c.watchdog_ms = sd_watchdog_interval_ms();
    c.next_watchdog = clock_mono_ms();

    int r;
    while ((r = turn(&c, sfd)) > 0)
        ;
    if (c.reload)
        sd_reloading();
    else
        sd_stopping();
    rc = r < 0 ? 1 : c.reload ? CORE_RELOAD : 0;
out:
    /* Stop the pollers first, so every reading they took is in the queue, then keep it all. */
    for (int i = 0; i < c.nbuses; i++)
        bus_stop(c.buses[i]);
    if (c.q && c.store && c.engine)
        drain(&c);
    if (c.store)
        store_flush_overflow(c.store, core_now());
    if (c.store && c.days) { /* the day's counts up to the stop */
        daycounts_tick(c.days, core_now(), day_save, &c);
        daycounts_save(c.days, day_save, &c);
    }
    c.reports_due = true;
    if (c.store && commit_all(&c) < 0)
        rc = 1;
    if (c.pub) {
        publish_stop(c.pub, STOP_FLUSH_MS);
        store_commit(c.store); /* the acknowledgements that arrived while flushing */
        publish_free(c.pub);
    }
    if (c.store)
        log_notice("core: stopped at seq %lld", (long long)store_last_seq(c.store));
    store_close(c.store);
    engine_free(c.engine);
    reports_free(c.reports);
    daycounts_free(c.days);
    maintenance_free(c.maint);
    jbuf_free(&c.alert_body);
    jbuf_free(&c.alert_row);
    jbuf_free(&c.party_body);
    jbuf_free(&c.report_body);
    queue_free(c.q);
    free(c.buses);
    free(c.last_ok_ts);
    free(c.sent);
    free(c.refusal_replies);
    jbuf_free(&c.out);
    if (sfd >= 0)
        close(sfd);
    if (rc == CORE_RELOAD && next)
        *next = c.next;
    else
        config_free(c.next);
    return rc;
}
