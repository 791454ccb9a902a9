/* fuzz_dtureg: a DTU's registration against the packets expected (dtu_match), checked against
 * a plain reference: a match is a whole expected packet at the start, followed by nothing or by
 * a byte that cannot continue it, and the longest such; what may be logged never reaches into
 * a secret; whether a longer packet still begins with what came.
 * Input: count of expected packets (1..4), then for each its length and the secret's offset and
 * length (one byte each, taken modulo what fits), then the packets' bytes, then the received
 * bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dtu_match.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int continues(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int reference(const struct dtu_expect *e, int n, const uint8_t *buf, size_t len)
{
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (len < e[i].len || memcmp(buf, e[i].packet, e[i].len) != 0)
            continue;
        if (len > e[i].len && continues(buf[e[i].len]))
            continue;
        if (best < 0 || e[i].len > e[best].len)
            best = i;
    }
    return best;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int n = 1 + data[0] % 4;
    if (size < 1 + (size_t)n * 3)
        return 0;
    struct dtu_expect e[4];
    const uint8_t *p = data + 1 + n * 3, *end = data + size;
    size_t need = 0;
    for (int i = 0; i < n; i++)
        need += data[1 + i * 3] % 48;
    if ((size_t)(end - p) < need)
        return 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *h = data + 1 + i * 3;
        size_t len = h[0] % 48;
        size_t off = len ? h[1] % (len + 1) : 0;
        size_t slen = len - off ? h[2] % (len - off + 1) : 0;
        /* copied to the heap at its exact size: a read past the packet is caught */
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy)
            abort();
        memcpy(copy, p, len);
        e[i] = (struct dtu_expect){copy, len, off, slen};
        p += len;
    }
    size_t len = (size_t)(end - p);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    memcpy(buf, p, len);
    int claimed = -2;
    int got = dtu_match(e, n, buf, len, &claimed);
    int want = reference(e, n, buf, len);
    /* ties in length may pick either; the packet must be the same length and match */
    if ((got < 0) != (want < 0) || (got >= 0 && e[got].len != e[want].len))
        abort();
    if (claimed < -1 || claimed >= n)
        abort();
    if (claimed >= 0 && (!e[claimed].secret_len || e[claimed].secret_off == 0 || len < e[claimed].secret_off ||
                         memcmp(buf, e[claimed].packet, e[claimed].secret_off) != 0))
        abort();
    /* may yet grow: some longer packet begins with what came */
    int more = 0;
    for (int i = 0; i < n; i++)
        more |= e[i].len > len && memcmp(buf, e[i].packet, len) == 0;
    if (dtu_match_incomplete(e, n, buf, len) != more)
        abort();
    size_t show = dtu_match_loggable(e, n, len);
    if (show > len)
        abort();
    for (int i = 0; i < n; i++)
        if (e[i].secret_len && show > e[i].secret_off)
            abort();
    for (int i = 0; i < n; i++)
        free((void *)e[i].packet);
    free(buf);
    return 0;
}
