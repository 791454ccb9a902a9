/* maintenance: maintenance visits of elevators and the rule of TSG T5002's interval. A visit
 * is the car in inspection mode (the profile's inspection_start / inspection_end events), from
 * start to end; who made it is told by cmd/visit. No visit of at least MAINTENANCE_MIN_MS within
 * maintenance_days raises maintenance_overdue (major) against the device's contract; such a
 * visit clears it. The interval of a device never visited starts at its first registration in
 * the store. Pure: times come with every call; the core stores the visits and the events.
 *
 * maintenance_days: the device's param when its config sets one, else its contract's, else
 * the profile's default (15). */
#ifndef CARETAKER_MAINTENANCE_H
#define CARETAKER_MAINTENANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "alerts.h"
#include "model.h"
#include "store.h"

#define MAINTENANCE_MIN_MS (30 * 60000)
#define MAINTENANCE_RULE "maintenance_overdue"
#define MAINTENANCE_DAYS_DEFAULT 15

struct maintenance;

/* Watches every elevator of cfg (profile kind "elevator..."). cfg must outlive it. */
struct maintenance *maintenance_new(const struct config *cfg);
void maintenance_free(struct maintenance *m);

/* Whether the device is watched (an elevator), and its interval in days. */
bool maintenance_watched(const struct maintenance *m, int device);
int maintenance_days(const struct maintenance *m, int device);

/* At start, from the store: where the device's interval starts (the end of its last long
 * enough visit, else its first registration), a visit under way, an active overdue alert
 * (returns 0 when it is now held here, -1 when it is not one, or its elevator is gone). */
void maintenance_set_since(struct maintenance *m, int device, int64_t since);
void maintenance_restore_visit(struct maintenance *m, const struct store_visit *v);
int maintenance_restore_alert(struct maintenance *m, const struct alert *a);

/* Takes the maintenance_overdue alerts out of a JSON array of saved alerts (the store's active
 * ones, before the engine reads them: it would clear an alert of a rule it does not know). One
 * of an elevator no longer configured stays in it, and the engine clears it. */
void maintenance_take_saved(struct maintenance *m, cJSON *saved);

/* Inspection began / ended: the visit to store (its row id is kept in it), or NULL when the
 * device is not watched or (at end) none was under way. An end that makes the visit long
 * enough restarts the interval and clears an overdue alert through sink. */
struct store_visit *maintenance_visit_start(struct maintenance *m, int device, int64_t ts);
struct store_visit *maintenance_visit_end(struct maintenance *m, int device, int64_t ts, const struct alert_sink *sink);
/* The visit under way of a device, or NULL. */
struct store_visit *maintenance_open_visit(struct maintenance *m, int device);

/* A stage (cmd/ack, on_site, resolve) of an overdue alert, a work order like the rules' alerts:
 * the device it is of (NULL: no active one has that id), and the stage itself: as
 * workorder_stage (0 done, event through sink; 1 already; 2 past it), -1 unknown. */
const struct device *maintenance_alert_device(const struct maintenance *m, const char *alert_id);
int maintenance_stage(struct maintenance *m, const char *alert_id, enum stage stage, const char *by, const char *name,
                      const char *note, int64_t now_ms, const struct alert_sink *sink);

/* The clock synchronized (timebase.h): intervals, visits under way and overdue alerts recorded
 * in the unsynchronized span are corrected. Returns how many overdue alerts changed. */
struct timebase_step;
int maintenance_shift(struct maintenance *m, const struct timebase_step *st);

/* Raises maintenance_overdue where the interval has passed. */
void maintenance_tick(struct maintenance *m, int64_t now_ms, const struct alert_sink *sink);

/* Active overdue alerts: up to max copied, the total returned; the generation changes with
 * the list. */
int maintenance_active(const struct maintenance *m, struct alert *out, int max);
uint64_t maintenance_generation(const struct maintenance *m);

#endif
