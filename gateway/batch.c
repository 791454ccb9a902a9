/* batch: readings grouped by device as they come, so the body needs no sorting at render and
 * its length is known before each reading is taken (the bound is checked, never overrun).
 * Within a group the readings keep the order they were added: oldest first. A device whose
 * points changed (a reload with another profile) gets a second group: values are positional. */
#include "batch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int batch_init(struct batch *b, const char *gateway)
{
    memset(b, 0, sizeof *b);
    payload_batch_head(&b->head, gateway);
    b->bytes = b->head.len + 2; /* the closing ]} */
    return b->head.oom ? -1 : 0;
}

static struct batch_group *find_group(struct batch *b, const char *key, size_t len)
{
    /* A batch holds a site's devices, tens to a few hundred: a scan costs less than a table. */
    for (int i = 0; i < b->ngroups; i++)
        if (b->groups[i].key_len == len && !memcmp(b->groups[i].items.p, key, len))
            return &b->groups[i];
    return NULL;
}

static int grow(void **p, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return 0;
    int n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, (size_t)n * size);
    if (!q)
        return -1;
    /* groups past the old end start empty: their buffers are reused by later batches */
    memset((char *)q + (size_t)*cap * size, 0, (size_t)(n - *cap) * size);
    *p = q;
    *cap = n;
    return 0;
}

int batch_add(struct batch *b, const struct outbox_row *r, size_t max_bytes)
{
    struct jbuf *s = &b->scratch;
    jbuf_reset(s);
    if (payload_batch_reading(s, r) < 0)
        return -1;
    size_t at = s->len; /* the reading, then the opening of its group */
    payload_batch_group(s, r);
    if (s->oom)
        return -1;
    const char *key = s->p + at;
    size_t key_len = s->len - at;
    struct batch_group *g = find_group(b, key, key_len);
    /* in a group: a comma and the reading; a new group: its opening, the reading, ]} and the
     * comma before it */
    size_t extra = g ? at + 1 : key_len + at + 2 + (b->ngroups ? 1 : 0);
    if (b->nseqs > 0 && b->bytes + extra > max_bytes)
        return 1;
    if (grow((void **)&b->seqs, &b->seq_cap, b->nseqs + 1, sizeof *b->seqs) < 0)
        return -1;
    bool fresh = !g;
    if (fresh) {
        if (grow((void **)&b->groups, &b->group_cap, b->ngroups + 1, sizeof *b->groups) < 0)
            return -1;
        g = &b->groups[b->ngroups];
        jbuf_reset(&g->items);
        jbuf_put(&g->items, key, key_len);
        g->key_len = key_len;
    } else {
        jbuf_put(&g->items, ",", 1);
    }
    jbuf_put(&g->items, s->p, at);
    if (g->items.oom)
        return -1;
    if (fresh)
        b->ngroups++;
    b->seqs[b->nseqs++] = r->seq;
    b->bytes += extra;
    return 0;
}

int batch_count(const struct batch *b)
{
    return b->nseqs;
}

const int64_t *batch_seqs(const struct batch *b)
{
    return b->seqs;
}

size_t batch_bytes(const struct batch *b)
{
    return b->bytes;
}

int batch_render(const struct batch *b, struct jbuf *out)
{
    jbuf_reset(out);
    jbuf_put(out, b->head.p, b->head.len);
    for (int i = 0; i < b->ngroups; i++) {
        if (i)
            jbuf_put(out, ",", 1);
        jbuf_put(out, b->groups[i].items.p, b->groups[i].items.len);
        jbuf_put(out, "]}", 2);
    }
    jbuf_put(out, "]}", 2);
    return out->oom ? -1 : 0;
}

void batch_clear(struct batch *b)
{
    b->ngroups = 0;
    b->nseqs = 0;
    b->bytes = b->head.len + 2;
}

void batch_free(struct batch *b)
{
    for (int i = 0; i < b->group_cap; i++)
        jbuf_free(&b->groups[i].items);
    free(b->groups);
    free(b->seqs);
    jbuf_free(&b->head);
    jbuf_free(&b->scratch);
    memset(b, 0, sizeof *b);
}
