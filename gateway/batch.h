/* batch: the contract v2 readings message being filled — readings grouped by device (and its
 * list of points), each with its own seq, under a byte bound. Pure: rows in, one JSON body and its seqs out.
 *
 * Life: batch_init (the gateway's head rendered once) → batch_add until it says full or the
 * caller's time is up → batch_render, batch_seqs → batch_clear → ... → batch_free. */
#ifndef CARETAKER_BATCH_H
#define CARETAKER_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "payload.h"

struct batch_group {
    size_t key_len;    /* the group's opening, {"device":..,"points":[..],"readings":[ , is its key */
    struct jbuf items; /* the opening, then the readings joined by commas; ]} is written at render */
};

struct batch {
    struct jbuf head; /* {"v":2,"gateway":"..","devices":[ */
    struct batch_group *groups;
    int ngroups, group_cap;
    int64_t *seqs; /* in the order added: the store's, oldest first */
    int nseqs, seq_cap;
    size_t bytes; /* the rendered body's length, kept as readings are added */
    struct jbuf scratch;
};

int batch_init(struct batch *b, const char *gateway);
/* Adds a reading row (its device must not be NULL) to the group of its device and points,
 * opening one when there is none. Returns 0 when added; 1 when it would take
 * the body past max_bytes — nothing added, render and clear first (a batch that is empty takes
 * one reading whatever its size); -1 when out of memory (nothing added). */
int batch_add(struct batch *b, const struct outbox_row *r, size_t max_bytes);
int batch_count(const struct batch *b);
const int64_t *batch_seqs(const struct batch *b);
size_t batch_bytes(const struct batch *b);
/* The whole body into out (reset first). 0, or -1 when out of memory. */
int batch_render(const struct batch *b, struct jbuf *out);
/* Empties it, keeping its memory for the next. */
void batch_clear(struct batch *b);
void batch_free(struct batch *b);

#endif
