/* store_append: the group-commit transaction — readings and events appended, commits,
 * rollbacks told, acknowledgements written back. */
#include "store_internal.h"

static const int full_targets[] = {EVICT_LOW_PCT, 50, 0};

/* A failed statement may have rolled the whole transaction back (SQLITE_FULL, IOERR, NOMEM do):
 * its rows are gone and their seqs free again, and acknowledgements written in it are lost. */
static void rolled_back(struct store *s)
{
    if (s->pending_msgs)
        log_err("store: %d messages lost in a rolled-back transaction", s->pending_msgs);
    s->lost_rows += (uint64_t)s->pending_msgs;
    s->rollbacks++;
    s->in_tx = 0;
    s->pending = 0;
    s->pending_msgs = 0;
    s->pending_durable = 0;
    s->first_pending_durable = 0;
    /* The seqs rolled back are not handed out again (readings in memory may hold higher ones);
     * the reservation written in the transaction is gone, so the next seq writes it again. */
    s->reserved = s->reserved_committed;
    store__mem_rolled_back(s);
    s->evicted_unsent = s->evicted_unsent_committed;
    s->overflow_n = s->overflow_n_committed; /* the rows evicted came back with the rollback */
    s->overflow_first_ts = s->overflow_first_ts_committed;
    s->overflow_last_ts = s->overflow_last_ts_committed;
    s->mark_lo = s->mark_hi = 0;
}

void store__check_rolled_back(struct store *s)
{
    if (s->in_tx && sqlite3_get_autocommit(s->db))
        rolled_back(s);
}

int store__begin(struct store *s)
{
    if (s->in_tx)
        return 0;
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        log_err("store: cannot begin a transaction: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    s->in_tx = 1;
    s->pending = 0;
    s->pending_msgs = 0;
    s->pending_durable = 0;
    s->first_pending_durable = 0;
    s->pending_since = clock_mono_ms();
    return 0;
}

int store__step_reset(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

int store__set_meta(struct store *s, const char *key, int64_t value)
{
    sqlite3_bind_text(s->set_meta, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->set_meta, 2, value);
    int rc = store__step_reset(s->set_meta);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int store__reserve(struct store *s)
{
    if (s->last_seq + 1 <= s->reserved)
        return 0;
    /* One small write per SEQ_BLOCK seqs: after a crash, seqs go on above it. Seqs past the
     * durable reservation are not published before it commits (store__horizon). */
    int64_t want = s->last_seq + SEQ_BLOCK;
    if (store__begin(s) < 0 || store__set_meta(s, "seq_reserved", want) != SQLITE_OK) {
        store__check_rolled_back(s);
        return -1;
    }
    s->reserved = want;
    s->pending++;
    s->pending_durable++;
    return 0;
}

int store__next_seq(struct store *s, int64_t *seq)
{
    if (store__reserve(s) < 0)
        return -1;
    *seq = ++s->last_seq;
    return 0;
}

int64_t store__horizon(const struct store *s)
{
    int64_t h = s->first_pending_durable ? s->first_pending_durable - 1 : s->last_seq;
    return h < s->reserved_committed ? h : s->reserved_committed;
}

int store__insert_at(struct store *s, int64_t seq, enum outbox_kind kind, int device, int64_t ts, const char *body,
                     int64_t snapshot_ts, int flags)
{
    sqlite3_stmt *st = s->ins_outbox;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int(st, 2, (int)kind);
    if (device >= 0 && device < s->ndevices)
        sqlite3_bind_int64(st, 3, s->device_row[device]);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_int64(st, 4, ts);
    if (body)
        sqlite3_bind_text(st, 5, body, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    if (snapshot_ts)
        sqlite3_bind_int64(st, 6, snapshot_ts);
    else
        sqlite3_bind_null(st, 6);
    if (flags)
        sqlite3_bind_int(st, 7, flags);
    else
        sqlite3_bind_null(st, 7);
    int rc = store__step_reset(st);
    if (rc != SQLITE_DONE)
        return rc;
    s->pending++;
    return SQLITE_OK;
}

/* Returns an SQLite result code; on success the row is in the open transaction. A seq whose
 * row fails is not handed out again. */
int store__insert_outbox(struct store *s, enum outbox_kind kind, int device, int64_t ts, const char *body,
                         int64_t *seq_out)
{
    int64_t seq;
    if (store__next_seq(s, &seq) < 0)
        return SQLITE_ERROR;
    int rc = store__insert_at(s, seq, kind, device, ts, body, 0, 0);
    if (rc != SQLITE_OK)
        return rc;
    s->pending_msgs++; /* lost in a rollback; a spilled reading goes back to memory instead */
    s->pending_durable++;
    if (!s->first_pending_durable)
        s->first_pending_durable = seq;
    *seq_out = seq;
    return SQLITE_OK;
}

/* Where a write that hit the ceiling brings the file before it is tried again: the usual
 * low-water mark, then deeper for a row larger than the headroom. The eviction is committed
 * before the retry, so a retry that fails again does not take it back. */

/* A write that failed: a full file evicts at once and is tried again; anything else (or a
 * second failure) loses this one message, counted. */
int store__write_failed(struct store *s, int rc, const char *what)
{
    store__check_rolled_back(s);
    s->write_errors++;
    uint32_t held = 0;
    if (log_complain(&s->write_complaint, clock_mono_ms(), &held))
        log_err("store: %s failed: %s (%" PRIu64 " write errors so far)", what, sqlite3_errstr(rc), s->write_errors);
    (void)held;
    return -1;
}

int store_append_reading(struct store *s, const struct device *d, const struct msg *m, int64_t *seq_out)
{
    return store_append_partial(s, d, m, 0, seq_out);
}

int store_append_partial(struct store *s, const struct device *d, const struct msg *m, int64_t snapshot_ts,
                         int64_t *seq_out)
{
    int64_t seq;
    if (store__next_seq(s, &seq) < 0)
        return store__write_failed(s, SQLITE_ERROR, "reserve seqs");
    if (store__mem_put(s, d, m, seq, snapshot_ts) < 0) {
        s->lost_rows++;
        return store__write_failed(s, SQLITE_NOMEM, "hold a reading");
    }
    if (seq_out)
        *seq_out = seq;
    return 0;
}

int store__make_room(struct store *s, int attempt, int64_t now_wall_ms)
{
    if (attempt >= (int)NELEM(full_targets) || store__ceiling(s) <= 0)
        return 0;
    store__check_rolled_back(s);
    return store__evict(s, s->cap_pages * full_targets[attempt] / 100, now_wall_ms) >= 0 && store_commit(s) == 0;
}

int store_append_event(struct store *s, const struct device *d, enum outbox_kind kind, int64_t ts_ms,
                       const char *json_body, int64_t *seq_out)
{
    int64_t seq = 0;
    int dev = d ? d->index : -1;
    int rc = store__begin(s) < 0 ? SQLITE_ERROR : store__insert_outbox(s, kind, dev, ts_ms, json_body, &seq);
    for (int i = 0; rc == SQLITE_FULL; i++) {
        if (!store__make_room(s, i, ts_ms))
            break;
        rc = store__begin(s) < 0 ? SQLITE_ERROR : store__insert_outbox(s, kind, dev, ts_ms, json_body, &seq);
    }
    if (rc != SQLITE_OK)
        return store__write_failed(s, rc, "insert event");
    if (seq_out)
        *seq_out = seq;
    return 0;
}

int store__flush_marks(struct store *s)
{
    if (!s->mark_hi)
        return 0;
    sqlite3_bind_int64(s->mark_range, 1, s->mark_lo);
    sqlite3_bind_int64(s->mark_range, 2, s->mark_hi);
    int rc = store__step_reset(s->mark_range);
    s->mark_lo = s->mark_hi = 0;
    if (rc != SQLITE_DONE) {
        /* The rows stay unsent and go out again: a duplicate, never a loss. */
        log_err("store: cannot mark rows sent: %s", sqlite3_errstr(rc));
        store__check_rolled_back(s);
        return -1;
    }
    return 0;
}

int store_commit(struct store *s)
{
    if (!s->in_tx)
        return 0;
    store__flush_marks(s);
    if (!s->in_tx) /* the flush failed and took the transaction with it */
        return -1;
    int rc = SQLITE_OK;
    if (s->first_pending_durable) {
        /* Where a crash could start losing readings held in memory: told at the next start.
         * Written with rows that are written anyway, never alone (see store_skipped). */
        int64_t seq = 0, ts;
        rc = store__set_meta(s, "unsafe_from", store__mem_oldest(s, &seq, &ts) ? seq : s->last_seq + 1);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        log_err("store: commit failed: %s", sqlite3_errmsg(s->db));
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        rolled_back(s);
        s->write_errors++;
        return -1;
    }
    s->in_tx = 0;
    s->pending = 0;
    s->pending_msgs = 0;
    s->pending_durable = 0;
    s->first_pending_durable = 0;
    s->committed_seq = s->last_seq;
    s->reserved_committed = s->reserved;
    store__mem_committed(s);
    if (s->disk_tight)
        sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (log_release(&s->write_complaint))
        log_notice("store: writing again");
    s->evicted_unsent_committed = s->evicted_unsent;
    s->overflow_n_committed = s->overflow_n;
    s->overflow_first_ts_committed = s->overflow_first_ts;
    s->overflow_last_ts_committed = s->overflow_last_ts;
    return 0;
}

int store_in_transaction(const struct store *s)
{
    return s->in_tx;
}

int store_pending_rows(const struct store *s)
{
    return s->in_tx ? s->pending : 0;
}

int64_t store_pending_since_ms(const struct store *s)
{
    return s->pending_since;
}

int64_t store_last_seq(const struct store *s)
{
    return s->last_seq;
}

int64_t store_committed_seq(const struct store *s)
{
    return store__horizon(s);
}

int store_durable_pending(const struct store *s)
{
    return s->in_tx && (s->pending_durable > 0 || s->mark_hi > 0);
}

uint64_t store_rollbacks(const struct store *s)
{
    return s->rollbacks;
}
