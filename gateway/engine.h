/* engine: the rules of every configured device, behind the few calls the core thread makes —
 * feed a queue message, tick, move a work order's stage, list, restore. Owns one rules_device per device. */
#ifndef CARETAKER_ENGINE_H
#define CARETAKER_ENGINE_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "alerts.h"
#include "diag.h"
#include "model.h"
#include "queue.h"
#include "rules.h"

struct engine;

/* Binds every device of cfg to its profile's rules, with the device's params and the contract
 * covering it. opt NULL takes rules_options_default. now_ms: wall time watching starts. Returns
 * NULL with err set when a device's params make a rule's duration or window invalid. cfg must
 * outlive the engine. */
struct engine *engine_new(const struct config *cfg, const struct rules_options *opt, int64_t now_ms, struct diag *err);
void engine_free(struct engine *e);

/* One message from the pollers' queue: MSG_READING feeds the device's rules, MSG_DEVICE_OFFLINE
 * and MSG_DEVICE_ONLINE drive communication lost; others are ignored. Events go to sink. */
void engine_handle(struct engine *e, const struct msg *m, const struct alert_sink *sink);

/* Time-driven transitions (escalations, communication lost, stale()); call about once a second
 * with the wall clock. */
void engine_tick(struct engine *e, int64_t now_ms, const struct alert_sink *sink);

/* cmd/ack, cmd/on_site, cmd/resolve: 0 done, 1 the alert is already at that stage, 2 it is past
 * it (stages never go back), -1 no active alert with that id (rules_stage). */
int engine_stage(struct engine *e, const char *alert_id, enum stage stage, const char *by, const char *name,
                 const char *note, int64_t now_ms, const struct alert_sink *sink);

/* The device whose active alert has this id (what decides who may acknowledge it), or NULL. */
const struct device *engine_alert_device(const struct engine *e, const char *alert_id);

/* Copies the active alert with this id to *out: 0, or -1 when none has it. */
int engine_alert(const struct engine *e, const char *alert_id, struct alert *out);

/* Active alerts of all devices: up to max copied, the total returned. */
int engine_active(const struct engine *e, struct alert *out, int max);

/* At start, before the first message: puts back the active alerts saved before the restart
 * (no event for them: they are not raised again). An alert whose device or rule no longer
 * exists is cleared with an ALERT_CLEARED event at now_ms. Returns how many were put back. */
int engine_restore(struct engine *e, const struct alert *a, int n, int64_t now_ms, const struct alert_sink *sink);

/* Reads a JSON array of payload_alert objects (the store's saved active alerts) and restores it; entries that do not
 * read back are skipped and counted in *bad. */
int engine_restore_json(struct engine *e, const cJSON *arr, int64_t now_ms, const struct alert_sink *sink, int *bad);

/* The clock synchronized: corrects the times recorded in the unsynchronized span (rules.h,
 * rules_shift). Returns how many active alerts changed; engine_active then lists them corrected. */
struct timebase_step;
int engine_shift(struct engine *e, const struct timebase_step *st);

/* Changes whenever the active list changes: republish alerts/active when it differs. */
uint64_t engine_generation(const struct engine *e);

#endif
