/* cidr: address blocks and membership (see cidr.h). */
#include "cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int cidr_parse(const char *text, struct cidr *out, const char **why)
{
    char host[CIDR_TEXT_MAX];
    const char *slash = strchr(text, '/');
    size_t hl = slash ? (size_t)(slash - text) : strlen(text);
    memset(out, 0, sizeof *out);
    if (hl == 0 || hl >= sizeof host) {
        *why = "is not an address";
        return -1;
    }
    memcpy(host, text, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        out->bits = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        out->bits = 128;
    } else {
        *why = "is not a numeric IPv4 or IPv6 address";
        return -1;
    }
    if (slash) {
        char *end;
        errno = 0;
        long bits = strtol(slash + 1, &end, 10);
        if (errno || end == slash + 1 || *end || slash[1] == '+' || slash[1] == '-' || bits < 0 || bits > out->bits) {
            *why = out->family == AF_INET ? "has a prefix length that is not 0..32"
                                          : "has a prefix length that is not 0..128";
            return -1;
        }
        out->bits = (int)bits;
    }
    size_t bytes = out->family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < bytes; i++) {
        int keep = out->bits - (int)i * 8;
        uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
        if (out->addr[i] & ~mask) {
            *why = "has address bits set past its prefix length (expected the block's first address)";
            return -1;
        }
    }
    return 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)whole) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool cidr_match(const struct cidr *c, const struct sockaddr *addr)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const uint8_t *a;
    int family = addr->sa_family;
    if (family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)addr)->sin_addr;
    } else if (family == AF_INET6) {
        a = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr;
        if (c->family == AF_INET && memcmp(a, v4mapped, sizeof v4mapped) == 0) {
            a += 12;
            family = AF_INET;
        }
    } else {
        return false;
    }
    return family == c->family && prefix_equal(a, c->addr, c->bits);
}

bool cidr_match_any(const struct cidr *list, int n, const struct sockaddr *addr)
{
    for (int i = 0; i < n; i++)
        if (cidr_match(&list[i], addr))
            return true;
    return false;
}
