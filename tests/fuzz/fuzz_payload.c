/* fuzz_payload: names and texts made into JSON strings for MQTT payloads. Whatever the bytes,
 * the result parses as one JSON string; valid UTF-8 comes back unchanged. The same bytes, cut at
 * each ',', name the devices and points of readings put in v2 batches under a small bound: every
 * batch parses, holds as many readings as were added, and is as long as it said it would be. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "batch.h"
#include "payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. */
static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned min, cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* Readings in a v2 body; aborts on a shape the contract does not allow: each reading's values
 * as many as its group's points. */
static int readings_in(const cJSON *msg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, "v");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(msg, "devices");
    if (!cJSON_IsNumber(v) || v->valueint != 2 || !cJSON_IsArray(groups))
        abort();
    int n = 0;
    const cJSON *g, *r;
    cJSON_ArrayForEach(g, groups)
    {
        const cJSON *points = cJSON_GetObjectItemCaseSensitive(g, "points");
        const cJSON *rs = cJSON_GetObjectItemCaseSensitive(g, "readings");
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(g, "device")) || !cJSON_IsArray(points) ||
            !cJSON_IsArray(rs) || cJSON_GetArraySize(rs) < 1)
            abort();
        cJSON_ArrayForEach(r, rs)
        {
            const cJSON *vals = cJSON_GetObjectItemCaseSensitive(r, "values");
            if (!cJSON_IsArray(vals) || cJSON_GetArraySize(vals) != cJSON_GetArraySize(points))
                abort();
            n++;
        }
    }
    return n;
}

static void check_batch(const struct batch *b, struct jbuf *out)
{
    if (batch_render(b, out) < 0)
        return;
    cJSON *msg = cJSON_ParseWithLength(out->p, out->len);
    if (!msg || readings_in(msg) != batch_count(b) || batch_bytes(b) != out->len)
        abort();
    cJSON_Delete(msg);
}

/* Up to 16 readings, the i-th of device and point piece i of s (cut at ','), of qualities in
 * turn ok, invalid, offline. */
static void fuzz_batch(char *s, size_t size)
{
    struct batch b;
    struct jbuf out = {0};
    if (batch_init(&b, "gw-01") < 0)
        goto out;
    char *piece[16];
    int n = 0;
    for (char *p = s; n < 16 && p; n++) {
        piece[n] = p;
        p = strchr(p, ',');
        if (p)
            *p++ = '\0';
    }
    size_t bound = 64 + size * 4;
    for (int i = 0; i < n; i++) {
        struct outbox_value v = {piece[(i + 1) % n], (double)i / 3,
                                 i % 3 == 0   ? Q_OK
                                 : i % 3 == 1 ? Q_INVALID
                                              : Q_OFFLINE};
        struct outbox_row r = {.seq = i + 1,
                               .kind = OUTBOX_READING,
                               .ts_ms = 1700000000000LL + i,
                               .device = piece[i],
                               .nvalues = 1,
                               .values = &v};
        int rc = batch_add(&b, &r, bound);
        if (rc == 1) {
            if (batch_bytes(&b) > bound && batch_count(&b) > 1)
                abort();
            check_batch(&b, &out);
            batch_clear(&b);
            rc = batch_add(&b, &r, bound);
        }
        if (rc != 0)
            goto out;
    }
    check_batch(&b, &out);
out:
    jbuf_free(&out);
    batch_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    size_t n = strlen(s);
    struct jbuf b = {0};
    payload_string(&b, s);
    if (b.oom)
        goto out;
    cJSON *v = cJSON_ParseWithLength(b.p, b.len);
    if (!v || !cJSON_IsString(v))
        abort();
    if (valid_utf8((const unsigned char *)s, n) && strcmp(v->valuestring, s) != 0)
        abort();
    cJSON_Delete(v);
    fuzz_batch(s, size);
out:
    jbuf_free(&b);
    free(s);
    return 0;
}
