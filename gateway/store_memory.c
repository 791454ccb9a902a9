/* store_memory: the memory tier — readings held until the broker acknowledges them, spilled to
 * the file in one transaction when not acknowledged within SPILL_MS or when the tier is full. */
#include "store_internal.h"

static struct mem_reading *at(const struct store *s, int i)
{
    return &s->mem.ring[(s->mem.head + i) % MEM_ROWS];
}

static size_t entry_bytes(int nvalues)
{
    return sizeof(struct mem_reading) + (size_t)nvalues * sizeof(struct mem_value);
}

/* Drops the entries at the head that need no more keeping: acknowledged, or spilled and
 * committed (when committed). */
static void prune(struct store *s, bool committed)
{
    struct mem_tier *t = &s->mem;
    while (t->n > 0) {
        struct mem_reading *e = at(s, 0);
        if (e->state == MEM_HELD || (e->state == MEM_SPILLED && !committed))
            break;
        t->bytes -= entry_bytes(e->nvalues);
        free(e->v);
        e->v = NULL;
        t->head = (t->head + 1) % MEM_ROWS;
        t->n--;
    }
}

/* The index of seq in the ring, or -1: seqs are increasing along it. */
static int find(const struct store *s, int64_t seq)
{
    int lo = 0, hi = s->mem.n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int64_t v = at(s, mid)->seq;
        if (v == seq)
            return mid;
        if (v < seq)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* The first index whose seq is above after. */
static int first_after(const struct store *s, int64_t after)
{
    int lo = 0, hi = s->mem.n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (at(s, mid)->seq <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int store__encode_values(struct jbuf *out, const struct mem_value *v, int n)
{
    jbuf_reset(out);
    jbuf_puts(out, "[");
    for (int k = 0; k < n; k++) {
        if (k)
            jbuf_puts(out, ",");
        jbuf_puts(out, "[");
        payload_int(out, v[k].point_row);
        jbuf_puts(out, ",");
        if (v[k].quality == Q_OK) {
            payload_number(out, v[k].value);
        } else {
            jbuf_puts(out, "null,");
            payload_int(out, v[k].quality);
        }
        jbuf_puts(out, "]");
    }
    jbuf_puts(out, "]");
    return out->oom ? -1 : 0;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

/* One [point_id,value] or [point_id,null,quality]; returns past it, or NULL. */
static const char *decode_one(struct store *s, const char *p)
{
    char *end;
    p = skip_ws(p);
    if (*p++ != '[')
        return NULL;
    long long id = strtoll(p, &end, 10);
    if (end == p)
        return NULL;
    p = skip_ws(end);
    if (*p++ != ',')
        return NULL;
    p = skip_ws(p);
    double value = NAN;
    int quality = Q_OK;
    if (strncmp(p, "null", 4) == 0) {
        p = skip_ws(p + 4);
        if (*p++ != ',')
            return NULL;
        long q = strtol(p, &end, 10);
        if (end == p || q < 0 || q > 255)
            return NULL;
        quality = (int)q;
        p = end;
    } else {
        value = strtod(p, &end);
        if (end == p)
            return NULL;
        p = end;
    }
    p = skip_ws(p);
    if (*p++ != ']')
        return NULL;
    struct outbox_value *v = &s->vals[s->nvals++];
    v->point = store__name_of(&s->point_names, id);
    v->value = value;
    v->quality = quality;
    return p;
}

int store__decode_values(struct store *s, const char *body)
{
    const char *p = skip_ws(body);
    if (*p++ != '[')
        return -1;
    int n = 0;
    p = skip_ws(p);
    if (*p == ']')
        return 0;
    for (;;) {
        if (store__grow((void **)&s->vals, &s->vals_cap, s->nvals + 1, sizeof *s->vals) < 0)
            return -1;
        if (!(p = decode_one(s, p)))
            return -1;
        n++;
        p = skip_ws(p);
        if (*p == ']')
            return n;
        if (*p++ != ',')
            return -1;
    }
}

/* Inserts every held reading in the open transaction; an SQLite code. */
static int spill_rows(struct store *s, int *spilled)
{
    struct mem_tier *t = &s->mem;
    struct jbuf body = {0};
    int rc = store__begin(s) < 0 ? SQLITE_ERROR : SQLITE_OK;
    for (int i = 0; i < t->n && rc == SQLITE_OK; i++) {
        struct mem_reading *e = at(s, i);
        if (e->state != MEM_HELD)
            continue;
        rc = store__encode_values(&body, e->v, e->nvalues) < 0
                 ? SQLITE_NOMEM
                 : store__insert_at(s, e->seq, OUTBOX_READING, e->device, e->ts_ms, body.p, e->snapshot_ts, e->flags);
        if (rc == SQLITE_OK) {
            e->state = MEM_SPILLED;
            t->held--;
            (*spilled)++;
        }
    }
    jbuf_free(&body);
    return rc;
}

/* Writes every held reading in one transaction and commits it; they leave memory once it is
 * durable. A full file evicts old readings first, as an append does; any other failure leaves
 * them held, tried again at the next spill. */
static int spill(struct store *s)
{
    if (!s->mem.held)
        return 0;
    int spilled = 0;
    int rc = spill_rows(s, &spilled);
    for (int i = 0; rc == SQLITE_FULL && store__make_room(s, i, clock_wall_ms()); i++)
        rc = spill_rows(s, &spilled);
    if (rc != SQLITE_OK) /* rows already inserted stay in the transaction, unless it was rolled back */
        return store__write_failed(s, rc, "spill readings");
    if (store_commit(s) < 0)
        return -1;
    s->mem.spills++;
    s->mem.spilled += (uint64_t)spilled;
    return 0;
}

int store_spill(struct store *s)
{
    return spill(s);
}

int store_spill_due_in(const struct store *s, int64_t now_mono_ms)
{
    for (int i = 0; i < s->mem.n; i++) {
        const struct mem_reading *e = at(s, i);
        if (e->state != MEM_HELD)
            continue;
        int64_t left = e->born_ms + SPILL_MS - now_mono_ms;
        return left < 0 ? 0 : (int)left;
    }
    return -1;
}

int store__mem_put(struct store *s, const struct device *d, const struct msg *m, int64_t seq, int64_t snapshot_ts)
{
    struct mem_tier *t = &s->mem;
    if (!t->ring && !(t->ring = calloc(MEM_ROWS, sizeof *t->ring)))
        return -1;
    int n = 0;
    for (int k = 0; k < m->npoints; k++)
        n += m->quality[k] != Q_UNREAD;
    if (t->n == MEM_ROWS || t->bytes + entry_bytes(n) > MEM_BYTES) {
        spill(s);
        prune(s, true);
    }
    if (t->n == MEM_ROWS) {
        /* The file refuses every write: the oldest held reading gives way, counted. */
        struct mem_reading *e = at(s, 0);
        if (e->state == MEM_HELD) {
            t->held--;
            t->dropped++;
            s->lost_rows++;
        }
        e->state = MEM_ACKED;
        prune(s, false);
        if (t->n == MEM_ROWS)
            return -1;
    }
    struct mem_value *v = calloc((size_t)(n ? n : 1), sizeof *v);
    if (!v)
        return -1;
    const int64_t *rows = s->point_row[d->index];
    int j = 0;
    for (int k = 0; k < m->npoints; k++) {
        if (m->quality[k] == Q_UNREAD)
            continue;
        v[j].point_row = rows[k];
        bool ok = m->quality[k] == Q_OK && isfinite(m->values[k]);
        v[j].value = ok ? m->values[k] : NAN;
        v[j].quality = m->quality[k] == Q_OK && !ok ? Q_INVALID : m->quality[k];
        j++;
    }
    struct mem_reading *e = at(s, t->n);
    *e = (struct mem_reading){.seq = seq,
                              .ts_ms = m->ts_ms,
                              .born_ms = clock_mono_ms(),
                              .snapshot_ts = snapshot_ts,
                              .flags = m->clock_unsynced ? STORE_FLAG_CLOCK_UNSYNCED : 0,
                              .device = d->index,
                              .nvalues = n,
                              .state = MEM_HELD,
                              .v = v};
    t->n++;
    t->held++;
    t->bytes += entry_bytes(n);
    return 0;
}

int store__mem_fetch(struct store *s, int64_t after, int64_t upto, struct outbox_row *rows, int first, int max)
{
    int n = first;
    for (int i = first_after(s, after); i < s->mem.n && n < max; i++) {
        const struct mem_reading *e = at(s, i);
        if (e->seq > upto)
            break;
        if (e->state != MEM_HELD)
            continue;
        if (store__grow((void **)&s->vals, &s->vals_cap, s->nvals + (size_t)e->nvalues, sizeof *s->vals) < 0)
            break;
        struct outbox_row *r = &rows[n];
        memset(r, 0, sizeof *r);
        r->seq = e->seq;
        r->kind = OUTBOX_READING;
        r->ts_ms = e->ts_ms;
        r->full = e->snapshot_ts == 0;
        r->snapshot_ts = r->full ? e->ts_ms : e->snapshot_ts;
        r->clock_unsynced = (e->flags & STORE_FLAG_CLOCK_UNSYNCED) != 0;
        r->device = e->device >= 0 && e->device < s->ndevices ? store__name_of(&s->dev_names, s->device_row[e->device])
                                                              : "unknown";
        s->slots[n].body_off = SIZE_MAX;
        s->slots[n].val_off = s->nvals;
        for (int k = 0; k < e->nvalues; k++) {
            struct outbox_value *v = &s->vals[s->nvals++];
            v->point = store__name_of(&s->point_names, e->v[k].point_row);
            v->value = e->v[k].value;
            v->quality = e->v[k].quality;
        }
        r->nvalues = e->nvalues;
        n++;
    }
    return n;
}

int store__mem_ack(struct store *s, int64_t seq)
{
    int i = find(s, seq);
    if (i < 0)
        return 0;
    struct mem_reading *e = at(s, i);
    if (e->state == MEM_SPILLED)
        return 0;
    if (e->state == MEM_HELD) {
        e->state = MEM_ACKED;
        s->mem.held--;
        s->mem.acked++;
    }
    prune(s, false);
    return 1;
}

void store__mem_committed(struct store *s)
{
    prune(s, true);
}

void store__mem_rolled_back(struct store *s)
{
    for (int i = 0; i < s->mem.n; i++) {
        struct mem_reading *e = at(s, i);
        if (e->state == MEM_SPILLED) {
            e->state = MEM_HELD;
            s->mem.held++;
        }
    }
}

int store__mem_oldest(const struct store *s, int64_t *seq, int64_t *ts_ms)
{
    for (int i = 0; i < s->mem.n; i++) {
        const struct mem_reading *e = at(s, i);
        if (e->state == MEM_HELD) {
            *seq = e->seq;
            *ts_ms = e->ts_ms;
            return s->mem.held;
        }
    }
    return 0;
}

void store_memory_stats(const struct store *s, struct store_memory_stats *out)
{
    out->held = s->mem.held;
    out->bytes = (int64_t)s->mem.bytes;
    out->spills = s->mem.spills;
    out->spilled = s->mem.spilled;
    out->acked = s->mem.acked;
    out->dropped = s->mem.dropped;
}

void store__mem_free(struct store *s)
{
    for (int i = 0; s->mem.ring && i < s->mem.n; i++)
        free(at(s, i)->v);
    free(s->mem.ring);
    memset(&s->mem, 0, sizeof s->mem);
}
