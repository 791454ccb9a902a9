/* store_outbox: unsent rows fetched in publishing order (events before readings), marked sent
 * on acknowledgement, and the backlog counted. */
#include "store_internal.h"

int store__grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *p = realloc(*buf, n * elem);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

static size_t arena_add(struct store *s, const char *text, size_t len)
{
    if (store__grow((void **)&s->arena, &s->arena_cap, s->arena_len + len + 1, 1) < 0)
        return SIZE_MAX;
    size_t off = s->arena_len;
    memcpy(s->arena + off, text, len);
    s->arena[off + len] = '\0';
    s->arena_len += len + 1;
    return off;
}

static int fetch_events(struct store *s, struct outbox_cursor *c, struct outbox_row *rows, int max)
{
    sqlite3_stmt *st = s->fetch_events;
    sqlite3_bind_int64(st, 1, c->event);
    sqlite3_bind_int64(st, 2, store__horizon(s));
    sqlite3_bind_int(st, 3, max);
    int n = 0;
    while (n < max && sqlite3_step(st) == SQLITE_ROW) {
        struct outbox_row *r = &rows[n];
        memset(r, 0, sizeof *r);
        r->seq = sqlite3_column_int64(st, 0);
        r->kind = (enum outbox_kind)sqlite3_column_int(st, 1);
        r->device = sqlite3_column_type(st, 2) == SQLITE_NULL
                        ? NULL
                        : store__name_of(&s->dev_names, sqlite3_column_int64(st, 2));
        r->ts_ms = sqlite3_column_int64(st, 3);
        const char *body = (const char *)sqlite3_column_text(st, 4);
        s->slots[n].body_off = arena_add(s, body ? body : "{}", body ? (size_t)sqlite3_column_bytes(st, 4) : 2);
        s->slots[n].val_off = 0;
        if (s->slots[n].body_off == SIZE_MAX)
            break;
        c->event = r->seq;
        n++;
    }
    sqlite3_reset(st);
    return n;
}

/* The values of one stored reading: its body (compact form), or for a row written before
 * bodies held them, its rows in `readings`. */
static int stored_values(struct store *s, struct outbox_row *r, struct fetch_slot *slot)
{
    slot->val_off = s->nvals;
    if (slot->body_off != SIZE_MAX) {
        int n = store__decode_values(s, s->arena + slot->body_off);
        if (n < 0) {
            log_err("store: seq %" PRId64 ": its values do not read back; sent without them", r->seq);
            s->nvals = slot->val_off;
            n = 0;
        }
        r->nvalues = n;
        slot->body_off = SIZE_MAX;
        return 0;
    }
    sqlite3_stmt *st = s->fetch_values;
    sqlite3_bind_int64(st, 1, r->seq);
    sqlite3_bind_int64(st, 2, r->seq);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (store__grow((void **)&s->vals, &s->vals_cap, s->nvals + 1, sizeof *s->vals) < 0)
            break;
        struct outbox_value *v = &s->vals[s->nvals++];
        v->point = store__name_of(&s->point_names, sqlite3_column_int64(st, 1));
        v->value = sqlite3_column_type(st, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 2);
        v->quality = sqlite3_column_int(st, 3);
        r->nvalues++;
    }
    sqlite3_reset(st);
    return 0;
}

/* Stored readings first, then those held in memory: every seq in memory is above every stored
 * reading's, so the two together come oldest first. */
static int fetch_readings(struct store *s, struct outbox_cursor *c, struct outbox_row *rows, int first, int max)
{
    int64_t upto = store__horizon(s);
    sqlite3_stmt *st = s->fetch_readings;
    sqlite3_bind_int64(st, 1, c->reading);
    sqlite3_bind_int64(st, 2, upto);
    sqlite3_bind_int(st, 3, max - first);
    int n = first;
    while (n < max && sqlite3_step(st) == SQLITE_ROW) {
        struct outbox_row *r = &rows[n];
        memset(r, 0, sizeof *r);
        r->seq = sqlite3_column_int64(st, 0);
        r->kind = OUTBOX_READING;
        r->device = store__name_of(&s->dev_names, sqlite3_column_int64(st, 1));
        r->ts_ms = sqlite3_column_int64(st, 2);
        r->full = sqlite3_column_type(st, 4) == SQLITE_NULL;
        r->snapshot_ts = r->full ? r->ts_ms : sqlite3_column_int64(st, 4);
        r->clock_unsynced = (sqlite3_column_int(st, 5) & STORE_FLAG_CLOCK_UNSYNCED) != 0;
        const char *body = (const char *)sqlite3_column_text(st, 3);
        s->slots[n].body_off = body ? arena_add(s, body, (size_t)sqlite3_column_bytes(st, 3)) : SIZE_MAX;
        if (body && s->slots[n].body_off == SIZE_MAX)
            break;
        n++;
    }
    sqlite3_reset(st);
    for (int i = first; i < n; i++)
        stored_values(s, &rows[i], &s->slots[i]);
    int64_t after = n > first ? rows[n - 1].seq : c->reading;
    n = store__mem_fetch(s, after, upto, rows, n, max);
    if (n > first)
        c->reading = rows[n - 1].seq;
    return n;
}

int store_fetch_unsent(struct store *s, struct outbox_cursor *c, struct outbox_row *rows, int max)
{
    if (max <= 0)
        return 0;
    if (s->in_tx && store__flush_marks(s) < 0)
        return -1;
    if (store__grow((void **)&s->slots, &s->slots_cap, (size_t)max, sizeof *s->slots) < 0)
        return -1;
    s->nvals = 0;
    s->arena_len = 0;
    int n = fetch_events(s, c, rows, max);
    if (n < max)
        n = fetch_readings(s, c, rows, n, max);
    /* The buffers may have moved while they grew: pointers are set once they are final. */
    for (int i = 0; i < n; i++) {
        rows[i].body = s->slots[i].body_off == SIZE_MAX ? NULL : s->arena + s->slots[i].body_off;
        rows[i].values = rows[i].nvalues ? s->vals + s->slots[i].val_off : NULL;
    }
    return n;
}

int store_mark_sent(struct store *s, int64_t seq)
{
    if (seq <= 0 || seq > store__horizon(s))
        return -1;
    if (store__mem_ack(s, seq))
        return 0; /* held in memory: dropped, nothing to write */
    if (s->mark_hi && seq == s->mark_hi + 1) {
        s->mark_hi = seq;
        return 0;
    }
    if (store__begin(s) < 0)
        return -1;
    int rc = store__flush_marks(s);
    if (!s->in_tx && store__begin(s) < 0)
        return -1;
    s->mark_lo = s->mark_hi = seq;
    return rc;
}

int store_backlog(struct store *s, struct store_backlog *out)
{
    memset(out, 0, sizeof *out);
    if (s->in_tx && store__flush_marks(s) < 0)
        return -1;
    int64_t mem_seq = 0, mem_ts = 0;
    int held = store__mem_oldest(s, &mem_seq, &mem_ts);
    if (store__query_int(s, "SELECT count(*) FROM outbox WHERE sent = 0", &out->rows) < 0)
        return -1;
    if (!out->rows) {
        out->rows = held;
        out->oldest_seq = mem_seq;
        out->oldest_ts_ms = mem_ts;
        return 0;
    }
    out->rows += held;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT min(seq) FROM outbox WHERE sent = 0 AND kind = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    for (int kind = OUTBOX_READING; kind <= OUTBOX_REPORT; kind++) {
        sqlite3_bind_int(st, 1, kind);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
            int64_t seq = sqlite3_column_int64(st, 0);
            if (!out->oldest_seq || seq < out->oldest_seq)
                out->oldest_seq = seq;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (held && (!out->oldest_seq || mem_seq < out->oldest_seq)) {
        out->oldest_seq = mem_seq;
        out->oldest_ts_ms = mem_ts;
        return 0;
    }
    char sql[80];
    snprintf(sql, sizeof sql, "SELECT ts FROM outbox WHERE seq = %" PRId64, out->oldest_seq);
    return store__query_int(s, sql, &out->oldest_ts_ms);
}
