/* dtu_match: registration packets against the packets expected (see dtu_match.h). */
#include "dtu_match.h"

#include <string.h>

static int id_char(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int dtu_same_secret(const uint8_t *a, const uint8_t *b, size_t n)
{
    /* volatile: the loop must run to the end whatever the first difference */
    volatile uint8_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint8_t)(a[i] ^ b[i]);
    return diff == 0;
}

static size_t public_len(const struct dtu_expect *x)
{
    return x->secret_len ? x->secret_off : x->len;
}

int dtu_match(const struct dtu_expect *e, int n, const uint8_t *buf, size_t len, int *claimed)
{
    int best = -1, who = -1;
    for (int i = 0; i < n; i++) {
        const struct dtu_expect *x = &e[i];
        size_t pub = public_len(x);
        if (len < pub || memcmp(buf, x->packet, pub) != 0)
            continue;
        if (x->secret_len && pub > 0 && (who < 0 || pub > public_len(&e[who])))
            who = i;
        if (len < x->len)
            continue;
        if (x->secret_len) {
            size_t after = x->secret_off + x->secret_len;
            int ok = dtu_same_secret(buf + x->secret_off, x->packet + x->secret_off, x->secret_len);
            if (!ok || memcmp(buf + after, x->packet + after, x->len - after) != 0)
                continue;
        }
        if (len > x->len && id_char(buf[x->len]))
            continue;
        if (best < 0 || x->len > e[best].len)
            best = i;
    }
    if (claimed)
        *claimed = who;
    return best;
}

int dtu_match_incomplete(const struct dtu_expect *e, int n, const uint8_t *buf, size_t len)
{
    int more = 0;
    for (int i = 0; i < n; i++)
        /* constant time over the whole prefix: it may reach into a secret */
        more |= e[i].len > len && dtu_same_secret(buf, e[i].packet, len);
    return more;
}

size_t dtu_match_loggable(const struct dtu_expect *e, int n, size_t len)
{
    size_t cap = len;
    for (int i = 0; i < n; i++)
        if (e[i].secret_len && e[i].secret_off < cap)
            cap = e[i].secret_off;
    return cap;
}
