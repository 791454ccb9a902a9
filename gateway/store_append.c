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
    s->last_seq = s->committed_seq;
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
    s->pending_since = clock_mono_ms();
    return 0;
}

int store__step_reset(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

/* Returns an SQLite result code; on success the row is in the open transaction. */
int store__insert_outbox(struct store *s, enum outbox_kind kind, int device, int64_t ts, const char *body,
                         int64_t snapshot_ts, int64_t *seq_out)
{
    int64_t seq = s->last_seq + 1;
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
    int rc = store__step_reset(st);
    if (rc != SQLITE_DONE)
        return rc;
    s->last_seq = seq;
    s->pending++;
    s->pending_msgs++;
    *seq_out = seq;
    return SQLITE_OK;
}

/* Takes back a row whose values could not all be written, so no half reading is ever sent. */
static void discard_row(struct store *s, int64_t seq, int values)
{
    if (!s->in_tx || sqlite3_get_autocommit(s->db))
        return;
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM readings WHERE seq = %" PRId64 "; DELETE FROM outbox WHERE seq = %" PRId64,
             seq, seq);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK) {
        s->last_seq = seq - 1;
        s->pending -= 1 + values;
        s->pending_msgs--;
    }
}

static int append_reading_once(struct store *s, const struct device *d, const struct msg *m, int64_t snapshot_ts,
                               int64_t *seq_out)
{
    if (store__begin(s) < 0)
        return SQLITE_ERROR;
    int64_t seq;
    int rc = store__insert_outbox(s, OUTBOX_READING, d->index, m->ts_ms, NULL, snapshot_ts, &seq);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_stmt *st = s->ins_reading;
    const int64_t *rows = s->point_row[d->index];
    int written = 0;
    for (int k = 0; k < m->npoints; k++) {
        if (m->quality[k] == Q_UNREAD)
            continue;
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_int64(st, 2, rows[k]);
        if (m->quality[k] == Q_OK && isfinite(m->values[k]))
            sqlite3_bind_double(st, 3, m->values[k]);
        else
            sqlite3_bind_null(st, 3);
        sqlite3_bind_int(st, 4, m->quality[k] == Q_OK && !isfinite(m->values[k]) ? Q_INVALID : m->quality[k]);
        rc = store__step_reset(st);
        if (rc != SQLITE_DONE) {
            discard_row(s, seq, written);
            return rc;
        }
        written++;
        s->pending++;
    }
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
    int64_t seq = 0;
    if (s->in_tx && s->pending_msgs % CHECK_EVERY == CHECK_EVERY - 1 && store_enforce_limits(s, m->ts_ms) < 0)
        store__check_rolled_back(s);
    int rc = append_reading_once(s, d, m, snapshot_ts, &seq);
    for (int i = 0; rc == SQLITE_FULL && i < (int)NELEM(full_targets) && store__ceiling(s) > 0; i++) {
        store__check_rolled_back(s);
        if (store__evict(s, s->cap_pages * full_targets[i] / 100, m->ts_ms) >= 0 && store_commit(s) == 0)
            rc = append_reading_once(s, d, m, snapshot_ts, &seq);
    }
    if (rc != SQLITE_OK)
        return store__write_failed(s, rc, "insert reading");
    if (seq_out)
        *seq_out = seq;
    return 0;
}

int store_append_event(struct store *s, const struct device *d, enum outbox_kind kind, int64_t ts_ms,
                       const char *json_body, int64_t *seq_out)
{
    int64_t seq = 0;
    int dev = d ? d->index : -1;
    int rc = store__begin(s) < 0 ? SQLITE_ERROR : store__insert_outbox(s, kind, dev, ts_ms, json_body, 0, &seq);
    for (int i = 0; rc == SQLITE_FULL && i < (int)NELEM(full_targets) && store__ceiling(s) > 0; i++) {
        store__check_rolled_back(s);
        if (store__evict(s, s->cap_pages * full_targets[i] / 100, ts_ms) >= 0 && store_commit(s) == 0)
            rc = store__begin(s) < 0 ? SQLITE_ERROR : store__insert_outbox(s, kind, dev, ts_ms, json_body, 0, &seq);
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
    sqlite3_bind_int64(s->set_last_seq, 1, s->last_seq);
    int rc = store__step_reset(s->set_last_seq);
    if (rc == SQLITE_DONE)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        log_err("store: commit failed: %s", sqlite3_errmsg(s->db));
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        /* The rolled-back seqs were never published; handing them out again keeps seq gapless. */
        rolled_back(s);
        s->write_errors++;
        return -1;
    }
    s->in_tx = 0;
    s->pending = 0;
    s->pending_msgs = 0;
    s->committed_seq = s->last_seq;
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
    return s->committed_seq;
}

uint64_t store_rollbacks(const struct store *s)
{
    return s->rollbacks;
}
