/* store_retention: the size ceiling (max_mb or the disk), eviction of readings, the
 * buffer_overflow event, and expiry of old sent rows. */
#include "store_internal.h"

#include "payload.h"

/* The ceiling: max_mb, or less when the filesystem would fill first — the pages the file has
 * plus those the free space can still hold. Measured each time, as other files on the disk
 * come and go. */
int64_t store__ceiling(struct store *s)
{
    int64_t cap = s->max_pages, pages = 0;
    struct statvfs v;
    s->disk_tight = 0;
    if (statvfs(sqlite3_db_filename(s->db, "main"), &v) == 0 && store__query_int(s, "PRAGMA page_count", &pages) == 0) {
        int64_t avail = (int64_t)v.f_bavail * (int64_t)v.f_frsize;
        int64_t disk_cap = pages + (avail - DISK_RESERVE_BYTES) / s->page_size;
        s->disk_tight = avail < DISK_TIGHT_BYTES;
        if (disk_cap < 1)
            disk_cap = 1;
        if (cap <= 0 || disk_cap < cap)
            cap = disk_cap;
    }
    s->cap_pages = cap;
    return cap;
}

static int64_t used_pages(struct store *s)
{
    int64_t pages = 0, free_pages = 0;
    if (store__query_int(s, "PRAGMA page_count", &pages) < 0 ||
        store__query_int(s, "PRAGMA freelist_count", &free_pages) < 0)
        return -1;
    return pages - free_pages;
}

void store_usage(struct store *s, struct store_usage *out)
{
    memset(out, 0, sizeof *out);
    int64_t pages = 0;
    store__query_int(s, "PRAGMA page_count", &pages);
    int64_t used = used_pages(s);
    out->used_bytes = used > 0 ? used * s->page_size : 0;
    out->file_bytes = pages * s->page_size;
    out->max_bytes = s->max_pages * s->page_size;
    out->evicted_unsent = s->evicted_unsent;
    out->evicted_sent = s->evicted_sent;
    out->expired = s->expired;
    out->write_errors = s->write_errors;
    out->lost_rows = s->lost_rows;
    out->rollbacks = s->rollbacks;
}

static int run_bound(struct store *s, const char *sql, int64_t a, int64_t b)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sqlite3_errcode(s->db);
    sqlite3_bind_int64(st, 1, a);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, b);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Deletes up to limit oldest readings that are sent (sent=1) or not (sent=0), with their values.
 * Returns how many; *first_ts / *last_ts get their time span. The SQL names sent literally so
 * the partial index of unsent rows serves the unsent case. */
static int64_t delete_oldest_readings(struct store *s, int sent, int64_t limit, int64_t *first_ts, int64_t *last_ts)
{
    static const char *const pick[2] = {
        "SELECT max(seq), count(*), min(ts), max(ts) FROM (SELECT seq, ts FROM outbox WHERE sent = 0 AND kind = 1"
        " ORDER BY seq LIMIT ?1)",
        "SELECT max(seq), count(*), min(ts), max(ts) FROM (SELECT seq, ts FROM outbox WHERE sent = 1 AND kind = 1"
        " ORDER BY seq LIMIT ?1)"};
    static const char *const del_values[2] = {
        "DELETE FROM readings WHERE seq IN (SELECT seq FROM outbox WHERE sent = 0 AND kind = 1 AND seq <= ?1)",
        "DELETE FROM readings WHERE seq IN (SELECT seq FROM outbox WHERE sent = 1 AND kind = 1 AND seq <= ?1)"};
    static const char *const del_rows[2] = {"DELETE FROM outbox WHERE sent = 0 AND kind = 1 AND seq <= ?1",
                                            "DELETE FROM outbox WHERE sent = 1 AND kind = 1 AND seq <= ?1"};
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, pick[sent], -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, limit);
    int64_t upto = 0, n = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        upto = sqlite3_column_int64(st, 0);
        n = sqlite3_column_int64(st, 1);
        *first_ts = sqlite3_column_int64(st, 2);
        *last_ts = sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    if (n == 0)
        return 0;
    if (run_bound(s, del_values[sent], upto, 0) != SQLITE_OK || run_bound(s, del_rows[sent], upto, 0) != SQLITE_OK)
        return -1;
    return n;
}

/* The buffer_overflow event for the unsent readings evicted since the last one, when one is
 * due. */
static int overflow_event(struct store *s, int64_t now_wall_ms)
{
    int64_t now = clock_mono_ms();
    if (!s->overflow_n || now < s->next_overflow_event_ms)
        return 0;
    struct jbuf body = {0};
    int rc = payload_buffer_overflow_body(&body, s->overflow_n, s->evicted_unsent, s->overflow_first_ts,
                                          s->overflow_last_ts, s->max_pages * s->page_size / 1048576);
    int64_t seq;
    if (rc == 0 && store__begin(s) == 0)
        rc = store__insert_outbox(s, OUTBOX_EVENT, -1, now_wall_ms, body.p, &seq) == SQLITE_OK ? 0 : -1;
    else
        rc = -1;
    jbuf_free(&body);
    if (rc < 0) {
        store__check_rolled_back(s);
        return -1;
    }
    s->overflow_n = 0;
    s->next_overflow_event_ms = now + OVERFLOW_EVENT_EVERY_MS;
    return 0;
}

/* Brings the pages in use down to target_pages; see store_enforce_limits. */
int64_t store__evict(struct store *s, int64_t target_pages, int64_t now_wall_ms)
{
    if (store__begin(s) < 0 || store__flush_marks(s) < 0)
        return -1;
    int64_t used = used_pages(s), chunk = EVICT_CHUNK_MIN, sent_n = 0, unsent_n = 0;
    int64_t first_ts = 0, last_ts = 0, a, b;
    for (int sent = 1; sent >= 0 && used > target_pages; sent--) {
        while (used > target_pages) {
            int64_t before = used;
            int64_t n = delete_oldest_readings(s, sent, chunk, &a, &b);
            if (n < 0) {
                store__check_rolled_back(s);
                return -1;
            }
            if (n == 0)
                break;
            if (sent) {
                sent_n += n;
            } else {
                if (!unsent_n)
                    first_ts = a;
                last_ts = b;
                unsent_n += n;
            }
            used = used_pages(s);
            /* The next chunk from the pages the last one freed, so no more rows go than the
             * target needs (unsent rows are the only copy); pages free only once empty, so a
             * chunk that freed nothing just doubles. */
            int64_t freed = before - used;
            chunk = freed > 0 ? (used - target_pages) * n / freed + 1 : chunk * 2;
            chunk = chunk < EVICT_CHUNK_MIN ? EVICT_CHUNK_MIN : chunk > EVICT_CHUNK_MAX ? EVICT_CHUNK_MAX : chunk;
        }
    }
    s->evicted_sent += sent_n;
    if (sent_n)
        log_notice("store: evicted %" PRId64 " sent readings to stay under %" PRId64 " kB%s", sent_n,
                   s->cap_pages * s->page_size / 1024, s->cap_pages < s->max_pages ? " (the disk is nearly full)" : "");
    if (!unsent_n)
        return 0;
    s->evicted_unsent += unsent_n;
    if (!s->overflow_n)
        s->overflow_first_ts = first_ts;
    s->overflow_last_ts = last_ts;
    s->overflow_n += unsent_n;
    uint32_t held = 0;
    if (log_complain(&s->overflow_complaint, clock_mono_ms(), &held))
        log_err("store: buffer overflow: evicted %" PRId64 " unsent readings (%" PRId64 " in all) from %" PRId64
                " to %" PRId64 "%s",
                unsent_n, s->evicted_unsent, first_ts, last_ts,
                s->cap_pages < s->max_pages || s->max_pages <= 0 ? ": the disk is nearly full" : "");
    if (run_bound(s, "INSERT OR REPLACE INTO meta(key, value) VALUES('evicted_unsent', ?1)", s->evicted_unsent, 0) !=
        SQLITE_OK) {
        store__check_rolled_back(s);
        return -1;
    }
    if (overflow_event(s, now_wall_ms) < 0)
        return -1;
    return unsent_n;
}

int store_flush_overflow(struct store *s, int64_t now_wall_ms)
{
    s->next_overflow_event_ms = 0;
    return overflow_event(s, now_wall_ms);
}

int64_t store_enforce_limits(struct store *s, int64_t now_wall_ms)
{
    if (overflow_event(s, now_wall_ms) < 0)
        return -1;
    int64_t cap = store__ceiling(s);
    if (cap <= 0)
        return 0;
    int64_t used = used_pages(s);
    if (used < 0)
        return -1;
    if (used * 100 < cap * EVICT_HIGH_PCT)
        return 0;
    return store__evict(s, cap * EVICT_LOW_PCT / 100, now_wall_ms);
}

int64_t store_expire(struct store *s, int64_t now_wall_ms, int max)
{
    if (s->retention_days <= 0 || max <= 0)
        return 0;
    int64_t cutoff = now_wall_ms - (int64_t)s->retention_days * 86400000;
    if (store__begin(s) < 0 || store__flush_marks(s) < 0)
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT max(seq), count(*) FROM (SELECT seq FROM outbox WHERE sent = 1 AND ts < ?1"
                           " ORDER BY seq LIMIT ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, cutoff);
    sqlite3_bind_int(st, 2, max);
    int64_t upto = 0, n = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        upto = sqlite3_column_int64(st, 0);
        n = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    /* Cleared alerts are history like sent rows, never the active ones; with visits and device
     * days they are kept at least STORE_HISTORY_DAYS, what the month's reports are made of. */
    int64_t history =
        s->retention_days > STORE_HISTORY_DAYS ? cutoff : now_wall_ms - (int64_t)STORE_HISTORY_DAYS * 86400000;
    if (run_bound(s, "DELETE FROM alerts WHERE cleared_ts IS NOT NULL AND cleared_ts < ?1", history, 0) != SQLITE_OK ||
        run_bound(s, "DELETE FROM visits WHERE end_ts IS NOT NULL AND end_ts < ?1", history, 0) != SQLITE_OK ||
        run_bound(s, "DELETE FROM device_day WHERE day_start < ?1", history, 0) != SQLITE_OK) {
        store__check_rolled_back(s);
        return -1;
    }
    if (!n)
        return 0;
    if (run_bound(s,
                  "DELETE FROM readings WHERE seq IN (SELECT seq FROM outbox WHERE sent = 1 AND ts < ?1 AND seq <= ?2)",
                  cutoff, upto) != SQLITE_OK ||
        run_bound(s, "DELETE FROM outbox WHERE sent = 1 AND ts < ?1 AND seq <= ?2", cutoff, upto) != SQLITE_OK) {
        store__check_rolled_back(s);
        return -1;
    }
    s->expired += n;
    return n;
}
