/* diag: an error message buffer that loaders fill and callers print; owns nothing else. */
#ifndef CARETAKER_DIAG_H
#define CARETAKER_DIAG_H

#include <stddef.h>

/* Errors from loaders name where (file, JSON path) and what (value, rule).
 * The first error set wins: later calls do not overwrite it, so the root cause survives. */
struct diag {
    char msg[1024];
    int set;
};

void diag_clear(struct diag *d);
void diag_set(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Levenshtein distance, bounded: returns >limit as soon as it is known to exceed it.
 * Used for "did you mean" suggestions on keys, drivers and params. */
int diag_edit_distance(const char *a, const char *b, int limit);

/* Picks the closest of candidates[0..n) to word, or NULL if none is close enough. */
const char *diag_closest(const char *word, const char *const *candidates, size_t n);

#endif
