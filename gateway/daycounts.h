/* daycounts: each device's counts of the local day under way — how long the gateway ran, how
 * long the device was online, polls due and polls that read a valid value — which a month's
 * availability and data completeness are made of (monthly.h). Pure: the wall time comes with
 * every call, the zone is the process's.
 *
 * Time is counted between calls of daycounts_tick (about once a second): the span since the
 * last tick is time the gateway ran, and time online for each device online at it. A span
 * longer than DAYCOUNTS_STEP_MAX_MS, or backwards, is a clock set, not time run: it counts
 * nothing. A span is split at local midnights. Polls due are the time run over the device's
 * poll interval. Days the gateway was off have no time run: unavailable, and no poll due. */
#ifndef CARETAKER_DAYCOUNTS_H
#define CARETAKER_DAYCOUNTS_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"
#include "store.h"
#include "timebase.h"

#define DAYCOUNTS_STEP_MAX_MS (31LL * 86400000)

struct daycounts;

/* A day to keep (the day closed, or the one under way at a save). */
typedef void (*daycounts_save_fn)(void *ctx, const struct store_device_day *d);

/* Counts for every device of cfg, starting at now_ms (no time before it). NULL out of memory. */
struct daycounts *daycounts_new(const struct config *cfg, int64_t now_ms);
void daycounts_free(struct daycounts *dc);

/* Goes on from a day saved before a restart, when it is the day of now (else it was closed). */
void daycounts_restore(struct daycounts *dc, const struct store_device_day *d, int64_t now_ms);

/* The clock synchronized: the time counted in the step's span belongs to the day it corrects
 * to, not to the day it was held in (a box without a clock boots in 1970 and its saved day of
 * today is not restored). A day so moved is added the counts saved under its new day by the
 * next daycounts_merge; a day not moved keeps its own, which are newer than any saved. */
void daycounts_shift(struct daycounts *dc, const struct timebase_step *st);
void daycounts_merge(struct daycounts *dc, const struct store_device_day *d);

/* A poll's result (its points' quality: a valid value of any point makes it a poll made), and
 * the device's state as the pollers tell it. */
void daycounts_poll(struct daycounts *dc, int device, const uint8_t *quality, int npoints);
void daycounts_online(struct daycounts *dc, int device, bool online);

/* Counts the span since the last tick; a day that ended is handed to save and a new begun. */
void daycounts_tick(struct daycounts *dc, int64_t now_ms, daycounts_save_fn save, void *ctx);

/* Hands every device's day under way to save (a periodic save, and at stop). */
void daycounts_save(struct daycounts *dc, daycounts_save_fn save, void *ctx);

#endif
