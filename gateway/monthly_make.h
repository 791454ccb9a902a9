/* monthly_make: the month's records between the store and the modules — a contract's monthly
 * report made of them (monthly.h computes, payload.c writes; the same store gives the same
 * report, at the month's end or asked for later), what the day counts and the maintenance
 * interval go on from after a start, and the visit a cmd/visit names. */
#ifndef CARETAKER_MONTHLY_MAKE_H
#define CARETAKER_MONTHLY_MAKE_H

#include <stddef.h>
#include <stdint.h>

#include "daycounts.h"
#include "maintenance.h"
#include "payload.h"
#include "store.h"

/* The meta mark of the local midnight starting the last month whose reports went out. */
#define MONTHLY_REPORTED_MARK "monthly_reported"

/* The report of month ("2026-11") for contract k into out. Returns 0, or -1 with err saying
 * why (a month not ended by now_ms, one older than the store keeps, a store that cannot be
 * read, out of memory). */
int monthly_make(struct store *s, const struct config *cfg, const struct contract *k, const char *month, int64_t now_ms,
                 struct jbuf *out, char *err, size_t n);

/* At start: today's counts of each device, each elevator's interval (from its last visit long
 * enough, else its first registration, recorded now on a fresh install), a visit under way,
 * and the last month reported (on a fresh install the month before now's: none is owed).
 * Returns 0, 1 when that mark was set now (a fresh install), or -1 when the store cannot be
 * read. */
int monthly_restore(struct store *s, const struct config *cfg, struct daycounts *dc, struct maintenance *m,
                    int64_t now_ms, int64_t *reported);

/* After a clock sync moved days under way (daycounts_shift): today's saved counts added to
 * them. Returns 0, or -1 when the store cannot be read. */
int monthly_merge_days(struct store *s, struct daycounts *dc, int64_t now_ms);

/* The visit a cmd/visit of kind for device d names: an elevator's maintenance visit under way,
 * else the last one that ended within a day (copied into scratch); a patrol or cleaning made
 * now (in scratch). NULL with err saying why when there is none. */
struct store_visit *monthly_named_visit(struct store *s, struct maintenance *m, const struct device *d,
                                        const char *kind, int64_t now_ms, struct store_visit *scratch, char *err,
                                        size_t n);

#endif
