/* monthly_make: a contract's monthly report, its records read from the store and its body
 * written (monthly.h computes, payload.c writes). The same store gives the same report, at the
 * month's end or asked for later. */
#ifndef CARETAKER_MONTHLY_MAKE_H
#define CARETAKER_MONTHLY_MAKE_H

#include <stddef.h>
#include <stdint.h>

#include "payload.h"
#include "store.h"

/* The report of month ("2026-11") for contract k into out. Returns 0, or -1 with err saying
 * why (a month not ended by now_ms, one older than the store keeps, a store that cannot be
 * read, out of memory). */
int monthly_make(struct store *s, const struct config *cfg, const struct contract *k, const char *month,
                 int64_t now_ms, struct jbuf *out, char *err, size_t n);

#endif
