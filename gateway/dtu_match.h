/* dtu_match: which configured DTU a registration packet names. Pure — the bytes received and
 * the packets expected in, an index out — so it is unit-tested and fuzzed alone.
 *
 * A packet is the bus's register_pattern filled in: {id} with its dtu_id, {secret} with the
 * bytes of its secret_file. Everything but the secret is public (printed on the DTU's box);
 * the secret's bytes are compared in constant time, and the answer never says how close a
 * wrong packet came: a caller that treats every non-match alike leaves nothing to guess by. */
#ifndef CARETAKER_DTU_MATCH_H
#define CARETAKER_DTU_MATCH_H

#include <stddef.h>
#include <stdint.h>

struct dtu_expect {
    const uint8_t *packet; /* the whole packet expected */
    size_t len;
    size_t secret_off; /* where the secret's bytes stand in packet */
    size_t secret_len; /* 0: no secret */
};

/* Index of the expected packet that buf[0..len) carries whole, followed by nothing or by a
 * byte that cannot continue an id or a secret (anything but a letter or digit), so
 * "86812003456789" never claims "868120034567891"; the longest of several wins. -1 when none.
 * *claimed (optional) gets the index of the longest expected packet with a secret whose public
 * part before the secret opens buf — who a connection says it is, for a log line — or -1. */
int dtu_match(const struct dtu_expect *e, int n, const uint8_t *buf, size_t len, int *claimed);

/* Whether some expected packet longer than buf[0..len) begins with it: a registration that
 * arrived in pieces ("1234", then "5") may yet become that longer one, so a match on what came
 * so far is not final. The bytes are compared in constant time (a secret may be among them). */
int dtu_match_incomplete(const struct dtu_expect *e, int n, const uint8_t *buf, size_t len);

/* How many leading bytes of a packet that matched nothing may go in a log: all of them when
 * no expected packet has a secret, else no more than the shortest public part before a
 * secret, so a DTU whose secret changed does not have its old one written to the log. */
size_t dtu_match_loggable(const struct dtu_expect *e, int n, size_t len);

/* Constant-time equality of a[0..n) and b[0..n): the time does not depend on where they differ. */
int dtu_same_secret(const uint8_t *a, const uint8_t *b, size_t n);

#endif
