/* cidr: IPv4 and IPv6 address blocks ("10.64.0.0/16", "2001:db8::/32", or one address) and
 * whether a peer's address lies in one. Pure: text and socket addresses in, answers out. */
#ifndef CARETAKER_CIDR_H
#define CARETAKER_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CIDR_TEXT_MAX 64 /* "ffff:...:ffff/128" with room to spare */

struct cidr {
    int family;       /* AF_INET or AF_INET6 */
    int bits;         /* prefix length: 0..32 or 0..128 */
    uint8_t addr[16]; /* network address, host bits zero (4 bytes used for IPv4) */
};

/* Parses "ADDRESS/BITS" or "ADDRESS" (all bits). Host bits set below the prefix are refused,
 * since "10.64.1.9/16" is more likely a typo than a block. 0, or -1 with why (a phrase for
 * an error message) set. */
int cidr_parse(const char *text, struct cidr *out, const char **why);

/* Whether addr lies in c. An IPv4 peer seen on an IPv6 socket (::ffff:a.b.c.d) is taken as
 * the IPv4 address it is, so one list serves both kinds of listener. */
bool cidr_match(const struct cidr *c, const struct sockaddr *addr);

/* Whether addr lies in any of list[0..n). */
bool cidr_match_any(const struct cidr *list, int n, const struct sockaddr *addr);

#endif
