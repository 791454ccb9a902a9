/* payload: JSON written by hand into a reused buffer — the drain of a day's backlog renders
 * millions of readings, and a tree per message (cJSON) costs more than the publish itself.
 * Every payload is valid JSON whatever the names hold (escaped, invalid UTF-8 replaced). */
#include "payload.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"

void jbuf_reset(struct jbuf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->p)
        b->p[0] = '\0';
}

void jbuf_free(struct jbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static bool reserve(struct jbuf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return true;
    if (b->oom)
        return false;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void jbuf_put(struct jbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void jbuf_puts(struct jbuf *b, const char *s)
{
    jbuf_put(b, s, strlen(s));
}

#define PUT_LIT(b, lit) jbuf_put((b), (lit), sizeof(lit) - 1)

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if the bytes there are not one
 * (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF). */
static int utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

void payload_string(struct jbuf *b, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    /* Worst case 6 bytes out per byte in (\u00XX), plus the quotes. */
    size_t n = strlen(str);
    if (!reserve(b, n * 6 + 2))
        return;
    char *o = b->p + b->len;
    *o++ = '"';
    while (*s) {
        unsigned char c = *s;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
            s++;
            continue;
        }
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            s++;
            continue;
        }
        if (c < 0x20) {
            const char *esc = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;
            if (esc) {
                *o++ = esc[0];
                *o++ = esc[1];
            } else {
                memcpy(o, "\\u00", 4);
                o[4] = hex[c >> 4];
                o[5] = hex[c & 15];
                o += 6;
            }
            s++;
            continue;
        }
        int len = utf8_len(s);
        if (len == 0) {
            memcpy(o, "\xef\xbf\xbd", 3); /* U+FFFD REPLACEMENT CHARACTER */
            o += 3;
            s++;
        } else {
            memcpy(o, s, (size_t)len);
            o += len;
            s += len;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
}

void payload_int(struct jbuf *b, int64_t v)
{
    char tmp[24], *e = tmp + sizeof tmp, *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    jbuf_put(b, p, (size_t)(e - p));
}

void payload_number(struct jbuf *b, double v)
{
    if (!isfinite(v)) {
        PUT_LIT(b, "null");
        return;
    }
    /* Most meter values are whole after scaling: counters, registers, flags. Below 2^53 every
     * integer is exact, so it is written as one, and -0 as 0. */
    if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v) {
        payload_int(b, (int64_t)v);
        return;
    }
    char tmp[32];
    int n = 0;
    for (int digits = 15; digits <= 17; digits++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", digits, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    jbuf_put(b, tmp, (size_t)n);
}

static void key(struct jbuf *b, const char *k)
{
    /* keys are the contract's own words: plain ASCII, no escaping needed */
    jbuf_put(b, ",\"", 2);
    jbuf_puts(b, k);
    jbuf_put(b, "\":", 2);
}

/* {"v":1,"gateway":"..","seq":n — the head every payload shares; seq 0 for messages that do
 * not come from the outbox (status, metrics, replies). */
static void head(struct jbuf *b, const char *gateway, int64_t seq)
{
    PUT_LIT(b, "{\"v\":");
    payload_int(b, PAYLOAD_VERSION);
    key(b, "gateway");
    payload_string(b, gateway);
    key(b, "seq");
    payload_int(b, seq);
}

static int done(struct jbuf *b)
{
    jbuf_put(b, "}", 1);
    return b->oom ? -1 : 0;
}

/* A topic level from a name: '/', '+' and '#' would change the topic's shape. */
static void topic_level(struct jbuf *b, const char *s)
{
    size_t at = b->len;
    jbuf_puts(b, s);
    if (b->oom)
        return;
    for (char *p = b->p + at; *p; p++)
        if (*p == '/' || *p == '+' || *p == '#')
            *p = '_';
}

void payload_topic(struct jbuf *b, const char *prefix, const char *suffix)
{
    jbuf_puts(b, prefix);
    jbuf_put(b, "/", 1);
    jbuf_puts(b, suffix);
}

void payload_row_topic(struct jbuf *b, const char *prefix, const struct outbox_row *r)
{
    jbuf_puts(b, prefix);
    switch (r->kind) {
    case OUTBOX_READING:
    case OUTBOX_DEVICE_STATE:
        if (r->device) {
            PUT_LIT(b, "/devices/");
            topic_level(b, r->device);
            if (r->kind == OUTBOX_READING)
                PUT_LIT(b, "/readings");
            else
                PUT_LIT(b, "/state");
            return;
        }
        PUT_LIT(b, "/events");
        return;
    case OUTBOX_ALERT:
        PUT_LIT(b, "/alerts");
        return;
    case OUTBOX_REPORT:
        /* one topic per device, so the broker keeps each device's latest report for a late reader */
        PUT_LIT(b, "/reports/daily");
        if (r->device) {
            PUT_LIT(b, "/");
            topic_level(b, r->device);
        }
        return;
    case OUTBOX_EVENT:
        break;
    }
    PUT_LIT(b, "/events");
}

bool payload_row_retained(const struct outbox_row *r)
{
    return (r->kind == OUTBOX_DEVICE_STATE || r->kind == OUTBOX_REPORT) && r->device;
}

static void name_list(struct jbuf *b, const char *k, const struct outbox_row *r, int quality)
{
    int first = 1;
    for (int i = 0; i < r->nvalues; i++) {
        const struct outbox_value *v = &r->values[i];
        int q = v->quality == Q_OK && !isfinite(v->value) ? Q_INVALID : v->quality;
        if (q != quality)
            continue;
        if (first) {
            key(b, k);
            jbuf_put(b, "[", 1);
        } else {
            jbuf_put(b, ",", 1);
        }
        first = 0;
        payload_string(b, v->point);
    }
    if (!first)
        jbuf_put(b, "]", 1);
}

/* What a reading says after its values, alike in v1 and v2: "invalid" and "offline" when not
 * empty. A member added to readings is added here, once for both. */
static void reading_tail(struct jbuf *b, const struct outbox_row *r)
{
    name_list(b, "invalid", r, Q_INVALID);
    name_list(b, "offline", r, Q_OFFLINE);
    /* Report by exception: what a consumer needs to rebuild the series (docs/mqtt.md). */
    key(b, "full");
    jbuf_puts(b, r->full ? "true" : "false");
    key(b, "snapshot_ts");
    payload_int(b, r->full ? r->ts_ms : r->snapshot_ts);
    if (r->clock_unsynced) { /* ts is held time: see the clock_synchronized event */
        key(b, "clock");
        PUT_LIT(b, "\"unsynced\"");
    }
}

/* v1: "values" by point name, then the tail. */
static void reading_members(struct jbuf *b, const struct outbox_row *r)
{
    key(b, "values");
    jbuf_put(b, "{", 1);
    int first = 1;
    for (int i = 0; i < r->nvalues; i++) {
        const struct outbox_value *v = &r->values[i];
        if (v->quality != Q_OK || !isfinite(v->value))
            continue;
        if (!first)
            jbuf_put(b, ",", 1);
        first = 0;
        payload_string(b, v->point);
        jbuf_put(b, ":", 1);
        payload_number(b, v->value);
    }
    jbuf_put(b, "}", 1);
    reading_tail(b, r);
}

int payload_row(struct jbuf *b, const char *gateway, const struct outbox_row *r)
{
    jbuf_reset(b);
    head(b, gateway, r->seq);
    key(b, "ts");
    payload_int(b, r->ts_ms);
    if (r->device) {
        key(b, "device");
        payload_string(b, r->device);
    }
    if (r->kind != OUTBOX_READING) {
        /* The stored body is an object the core wrote; its members follow the head. */
        const char *body = r->body ? r->body : "{}";
        while (*body == ' ')
            body++;
        if (*body == '{') {
            const char *in = body + 1;
            while (*in == ' ')
                in++;
            if (*in != '}' && *in) {
                jbuf_put(b, ",", 1);
                jbuf_puts(b, in);
                return b->oom ? -1 : 0;
            }
        }
        return done(b);
    }
    reading_members(b, r);
    return done(b);
}

void payload_batch_head(struct jbuf *b, const char *gateway)
{
    jbuf_reset(b);
    PUT_LIT(b, "{\"v\":");
    payload_int(b, PAYLOAD_BATCH_VERSION);
    key(b, "gateway");
    payload_string(b, gateway);
    key(b, "devices");
    jbuf_put(b, "[", 1);
}

void payload_batch_group(struct jbuf *b, const struct outbox_row *r)
{
    PUT_LIT(b, "{\"device\":");
    payload_string(b, r->device);
    key(b, "points");
    jbuf_put(b, "[", 1);
    for (int i = 0; i < r->nvalues; i++) {
        if (i)
            jbuf_put(b, ",", 1);
        payload_string(b, r->values[i].point);
    }
    jbuf_put(b, "]", 1);
    key(b, "readings");
    jbuf_put(b, "[", 1);
}

int payload_batch_reading(struct jbuf *b, const struct outbox_row *r)
{
    PUT_LIT(b, "{\"seq\":");
    payload_int(b, r->seq);
    key(b, "ts");
    payload_int(b, r->ts_ms);
    key(b, "values");
    jbuf_put(b, "[", 1);
    for (int i = 0; i < r->nvalues; i++) {
        const struct outbox_value *v = &r->values[i];
        if (i)
            jbuf_put(b, ",", 1);
        if (v->quality == Q_OK && isfinite(v->value))
            payload_number(b, v->value);
        else
            PUT_LIT(b, "null"); /* named in invalid or offline */
    }
    jbuf_put(b, "]", 1);
    reading_tail(b, r);
    return done(b);
}

int payload_status(struct jbuf *b, const char *gateway, const char *state, const char *version, int64_t started_ts,
                   int64_t ts_ms)
{
    jbuf_reset(b);
    head(b, gateway, 0);
    if (ts_ms) {
        key(b, "ts");
        payload_int(b, ts_ms);
    }
    key(b, "state");
    payload_string(b, state);
    if (version) {
        key(b, "version");
        payload_string(b, version);
    }
    if (started_ts) {
        key(b, "started_ts");
        payload_int(b, started_ts);
    }
    return done(b);
}

static void counter(struct jbuf *b, const char *k, uint64_t v)
{
    key(b, k);
    payload_int(b, (int64_t)(v > INT64_MAX ? INT64_MAX : v));
}

struct named_count {
    const char *name;
    uint64_t v;
};

/* ,"name":{"a":1,"b":2}: a group of counters of metrics. */
static void counter_group(struct jbuf *b, const char *name, const struct named_count *c, size_t n)
{
    key(b, name);
    jbuf_put(b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            jbuf_put(b, ",", 1);
        payload_string(b, c[i].name);
        jbuf_put(b, ":", 1);
        payload_int(b, (int64_t)(c[i].v > INT64_MAX ? INT64_MAX : c[i].v));
    }
    jbuf_put(b, "}", 1);
}

int payload_metrics(struct jbuf *b, const char *gateway, const struct payload_metrics *m)
{
    jbuf_reset(b);
    head(b, gateway, 0);
    key(b, "ts");
    payload_int(b, m->ts_ms);
    key(b, "uptime_s");
    payload_int(b, (m->ts_ms - m->started_ts_ms) / 1000);
    key(b, "devices");
    jbuf_put(b, "{", 1);
    for (int i = 0; i < m->ndevices; i++) {
        const struct device_stats *st = &m->devices[i].stats;
        if (i)
            jbuf_put(b, ",", 1);
        payload_string(b, m->devices[i].id);
        jbuf_put(b, ":{\"polls_ok\":", 13);
        payload_int(b, (int64_t)st->polls_ok);
        counter(b, "polls_failed", st->polls_failed);
        counter(b, "timeouts", st->timeouts);
        counter(b, "bad_replies", st->bad_replies);
        counter(b, "exceptions", st->exceptions);
        counter(b, "skipped", st->skipped);
        counter(b, "replies", st->replies);
        counter(b, "rtt_us_total", st->rtt_us_total);
        counter(b, "rtt_us_last", st->rtt_us_last);
        counter(b, "rtt_us_max", st->rtt_us_max);
        jbuf_put(b, "}", 1);
    }
    jbuf_put(b, "}", 1);
    key(b, "backlog");
    jbuf_put(b, "{\"rows\":", 8);
    payload_int(b, m->backlog.rows);
    key(b, "oldest_seq");
    payload_int(b, m->backlog.oldest_seq);
    key(b, "oldest_age_s");
    payload_int(b, m->backlog.rows && m->ts_ms > m->backlog.oldest_ts_ms ? (m->ts_ms - m->backlog.oldest_ts_ms) / 1000
                                                                         : 0);
    jbuf_put(b, "}", 1);
    key(b, "store");
    jbuf_put(b, "{\"used_bytes\":", 14);
    payload_int(b, m->store.used_bytes);
    key(b, "file_bytes");
    payload_int(b, m->store.file_bytes);
    key(b, "max_bytes");
    payload_int(b, m->store.max_bytes);
    key(b, "evicted_unsent");
    payload_int(b, m->store.evicted_unsent);
    key(b, "evicted_sent");
    payload_int(b, m->store.evicted_sent);
    key(b, "expired");
    payload_int(b, m->store.expired);
    counter(b, "write_errors", m->store.write_errors);
    counter(b, "lost_rows", m->store.lost_rows);
    jbuf_put(b, "}", 1);
    counter(b, "queue_dropped", m->queue_dropped);
    key(b, "rss_kb");
    payload_int(b, m->rss_kb);
    const struct named_count mqtt[] = {{"connects", m->mqtt_connects},
                                       {"published", m->mqtt_published},
                                       {"acked", m->mqtt_acked},
                                       {"refused", m->mqtt_refused},
                                       {"inflight", (uint64_t)m->mqtt_inflight}};
    const struct named_count commands[] = {{"accepted", m->commands_accepted},
                                           {"refused", m->commands_refused},
                                           {"replies_held", m->commands_replies_held},
                                           {"log_held", m->commands_log_held}};
    const struct named_count dtu[] = {
        {"refused", m->dtu_refused}, {"claims_refused", m->dtu_claims_refused}, {"takeovers", m->dtu_takeovers}};
    counter_group(b, "mqtt", mqtt, sizeof mqtt / sizeof mqtt[0]);
    counter_group(b, "commands", commands, sizeof commands / sizeof commands[0]);
    counter_group(b, "dtu", dtu, sizeof dtu / sizeof dtu[0]);
    return done(b);
}

int payload_reply(struct jbuf *b, const char *gateway, int64_t ts_ms, const char *cmd, const char *id, bool ok,
                  const char *text)
{
    jbuf_reset(b);
    head(b, gateway, 0);
    key(b, "ts");
    payload_int(b, ts_ms);
    key(b, "cmd");
    payload_string(b, cmd);
    if (id) {
        key(b, "id");
        payload_string(b, id);
    }
    key(b, "ok");
    if (ok)
        PUT_LIT(b, "true");
    else
        PUT_LIT(b, "false");
    if (text) {
        key(b, ok ? "result" : "error");
        payload_string(b, text);
    }
    return done(b);
}

/* ---- alerts ---- */

static void ts_or_null(struct jbuf *b, int64_t ts)
{
    if (ts > 0)
        payload_int(b, ts);
    else
        PUT_LIT(b, "null");
}

/* The members of an alert after the first (each led by a comma), as docs/mqtt.md lists them. */
/* "level", "name", then "identity" or "topic" of an escalation party, after an opening brace. */
static void party_members(struct jbuf *b, int level, const char *name, const char *identity, bool is_topic)
{
    PUT_LIT(b, "\"level\":");
    payload_int(b, level);
    key(b, "name");
    payload_string(b, name);
    key(b, is_topic ? "topic" : "identity");
    payload_string(b, identity);
}

static void string_or_null(struct jbuf *b, const char *s)
{
    if (s)
        payload_string(b, s);
    else
        PUT_LIT(b, "null");
}

/* The work order (workorder.h): "stages" {ack, on_site, resolve}, "outcome",
 * "escalation_stage", "escalated_to". */
static void work_members(struct jbuf *b, const struct alert *a)
{
    key(b, "stages");
    for (int s = 0; s < STAGE_COUNT; s++) {
        const struct alert_stage *st = &a->stages[s];
        jbuf_put(b, s ? "," : "{", 1);
        payload_string(b, alert_stage_name((enum stage)s));
        PUT_LIT(b, ":{\"due_ts\":");
        ts_or_null(b, st->due_ts);
        key(b, "ts");
        ts_or_null(b, st->ts);
        key(b, "by");
        payload_string(b, st->by);
        key(b, "name");
        payload_string(b, st->name);
        key(b, "note");
        payload_string(b, st->note);
        key(b, "met");
        jbuf_puts(b, st->met == MET_YES ? "true" : st->met == MET_NO ? "false" : "null");
        jbuf_put(b, "}", 1);
    }
    jbuf_put(b, "}", 1);
    key(b, "outcome");
    string_or_null(b, alert_outcome_name(a->outcome));
    key(b, "escalation_stage");
    string_or_null(b, a->escalation_stage > 0 ? alert_stage_name((enum stage)(a->escalation_stage - 1)) : NULL);
    key(b, "escalated_to");
    jbuf_put(b, "[", 1);
    for (int i = 0; i < a->nescalated; i++) {
        const struct alert_escalation *e = &a->escalated_to[i];
        jbuf_put(b, i ? ",{" : "{", i ? 2 : 1);
        party_members(b, e->level, e->name, e->identity, e->is_topic);
        key(b, "stage");
        payload_string(b, alert_stage_name(e->stage));
        key(b, "ts");
        payload_int(b, e->ts);
        jbuf_put(b, "}", 1);
    }
    jbuf_put(b, "]", 1);
}

static void alert_members(struct jbuf *b, const struct alert *a, const char *location)
{
    key(b, "id");
    payload_string(b, a->id);
    key(b, "location");
    payload_string(b, location ? location : "");
    key(b, "rule");
    payload_string(b, a->rule);
    key(b, "severity");
    payload_string(b, alert_severity_name(a->severity));
    key(b, "message");
    PUT_LIT(b, "{\"zh\":");
    payload_string(b, a->message_zh);
    PUT_LIT(b, ",\"en\":");
    payload_string(b, a->message_en);
    PUT_LIT(b, "}");
    key(b, "point");
    payload_string(b, a->point);
    key(b, "value");
    payload_number(b, a->value);
    key(b, "raised_ts");
    payload_int(b, a->raised_ts);
    key(b, "contract");
    payload_string(b, a->contract);
    key(b, "contractor");
    payload_string(b, a->contractor);
    key(b, "respond_by_ts");
    ts_or_null(b, a->respond_by_ts);
    key(b, "escalation");
    payload_int(b, a->escalation);
    key(b, "next_escalation_ts");
    ts_or_null(b, a->next_escalation_ts);
    key(b, "acked");
    jbuf_puts(b, a->acked ? "true" : "false");
    key(b, "acked_by");
    payload_string(b, a->acked_by);
    key(b, "acked_ts");
    ts_or_null(b, a->acked_ts);
    key(b, "flapping");
    jbuf_puts(b, a->flapping ? "true" : "false");
    key(b, "cleared_ts");
    ts_or_null(b, a->cleared_ts);
    work_members(b, a);
}

/* ,"asset":{...} when the config files the device under anything; nothing otherwise. */
static void asset_member(struct jbuf *b, const struct device_asset *a)
{
    if (!a || (!a->registration_code[0] && !a->number[0] && !a->has_position))
        return;
    key(b, "asset");
    jbuf_put(b, "{", 1);
    int n = 0;
    const char *const texts[][2] = {{"registration_code", a->registration_code}, {"number", a->number}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        if (!texts[i][1][0])
            continue;
        if (n++)
            jbuf_put(b, ",", 1);
        payload_string(b, texts[i][0]);
        jbuf_put(b, ":", 1);
        payload_string(b, texts[i][1]);
    }
    if (a->has_position) {
        if (n++)
            jbuf_put(b, ",", 1);
        PUT_LIT(b, "\"lat\":");
        payload_number(b, a->lat);
        PUT_LIT(b, ",\"lon\":");
        payload_number(b, a->lon);
    }
    jbuf_put(b, "}", 1);
}

int payload_device_state_body(struct jbuf *b, const struct payload_device_info *dev, bool online, int64_t last_ok_ts,
                              int errors)
{
    jbuf_reset(b);
    PUT_LIT(b, "{\"state\":");
    payload_string(b, online ? "online" : "offline");
    key(b, "last_ok_ts");
    ts_or_null(b, last_ok_ts);
    key(b, "errors");
    payload_int(b, errors);
    const char *const texts[][2] = {
        {"bus", dev->bus}, {"location", dev->location}, {"driver", dev->driver}, {"kind", dev->kind}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        key(b, texts[i][0]);
        payload_string(b, texts[i][1] ? texts[i][1] : "");
    }
    key(b, "unit");
    payload_int(b, dev->unit);
    asset_member(b, dev->asset);
    return done(b);
}

int payload_point_missing_body(struct jbuf *b, const char *point)
{
    jbuf_reset(b);
    PUT_LIT(b, "{\"event\":\"point_missing\",\"point\":");
    payload_string(b, point);
    return done(b);
}

int payload_clock_body(struct jbuf *b, bool synced, int64_t from_ts, int64_t to_ts, int64_t step_ms)
{
    jbuf_reset(b);
    if (!synced) {
        PUT_LIT(b, "{\"event\":\"clock_unsynchronized\",\"from_ts\":");
        payload_int(b, from_ts);
        return done(b);
    }
    PUT_LIT(b, "{\"event\":\"clock_synchronized\",\"step_ms\":");
    payload_int(b, step_ms);
    PUT_LIT(b, ",\"from_ts\":");
    payload_int(b, from_ts);
    PUT_LIT(b, ",\"to_ts\":");
    payload_int(b, to_ts);
    return done(b);
}

int payload_buffer_overflow_body(struct jbuf *b, int64_t evicted, int64_t evicted_total, int64_t first_ts,
                                 int64_t last_ts, int64_t max_mb)
{
    const struct {
        const char *name;
        int64_t v;
    } members[] = {{"evicted", evicted},
                   {"evicted_total", evicted_total},
                   {"first_ts", first_ts},
                   {"last_ts", last_ts},
                   {"max_mb", max_mb}};
    jbuf_reset(b);
    PUT_LIT(b, "{\"event\":\"buffer_overflow\"");
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        key(b, members[i].name);
        payload_int(b, members[i].v);
    }
    return done(b);
}

int payload_daily_report(struct jbuf *b, const struct daily_report *r)
{
    jbuf_reset(b);
    PUT_LIT(b, "{\"report\":\"daily\",\"day\":");
    payload_string(b, r->day);
    const char *const texts[][2] = {{"timezone", r->timezone}, {"location", r->location}, {"kind", r->kind}};
    key(b, "from_ts");
    payload_int(b, r->from_ts);
    key(b, "to_ts");
    payload_int(b, r->to_ts);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        key(b, texts[i][0]);
        payload_string(b, texts[i][1]);
    }
    asset_member(b, r->asset);
    key(b, "readings");
    payload_int(b, r->readings);
    key(b, "first_reading_ts");
    ts_or_null(b, r->first_ts);
    key(b, "last_reading_ts");
    ts_or_null(b, r->last_ts);
    for (int k = 0; k < r->ncounters; k++) {
        key(b, r->counters[k].member);
        payload_number(b, r->counters[k].value);
    }
    for (int k = 0; k < r->npeaks; k++) {
        char ts_key[NAME_MAX_LEN + 4];
        snprintf(ts_key, sizeof ts_key, "%s_ts", r->peaks[k].member);
        key(b, r->peaks[k].member);
        payload_number(b, r->peaks[k].value);
        key(b, ts_key);
        ts_or_null(b, r->peaks[k].ts);
    }
    key(b, "units");
    jbuf_put(b, "{", 1);
    int n = 0;
    for (int set = 0; set < 2; set++) {
        const struct report_figure *f = set ? r->peaks : r->counters;
        for (int k = 0; k < (set ? r->npeaks : r->ncounters); k++) {
            if (!f[k].unit || !f[k].unit[0])
                continue;
            if (n++)
                jbuf_put(b, ",", 1);
            payload_string(b, f[k].member);
            jbuf_put(b, ":", 1);
            payload_string(b, f[k].unit);
        }
    }
    jbuf_put(b, "}", 1);
    key(b, "minutes_in_alarm");
    payload_number(b, r->minutes_in_alarm);
    key(b, "faults");
    jbuf_put(b, "{", 1);
    for (int k = 0; k < r->nfaults; k++) {
        if (k)
            jbuf_put(b, ",", 1);
        payload_string(b, r->faults[k].rule);
        jbuf_put(b, ":", 1);
        payload_int(b, r->faults[k].count);
    }
    jbuf_put(b, "}", 1);
    return done(b);
}

static void alert_object(struct jbuf *b, const struct alert *a, const char *location)
{
    PUT_LIT(b, "{\"device\":");
    payload_string(b, a->device);
    alert_members(b, a, location);
    PUT_LIT(b, "}");
}

int payload_alert(struct jbuf *b, const struct alert *a, const char *location)
{
    jbuf_reset(b);
    alert_object(b, a, location);
    return b->oom ? -1 : 0;
}

int payload_dtu_replaced(struct jbuf *b, const struct dtu_takeover *t)
{
    const char *const members[][2] = {
        {"bus", t->bus}, {"dtu_id", t->dtu_id}, {"old_peer", t->old_peer}, {"new_peer", t->new_peer}};
    jbuf_reset(b);
    PUT_LIT(b, "{\"event\":\"dtu_replaced\"");
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        key(b, members[i][0]);
        payload_string(b, members[i][1]);
    }
    key(b, "recent");
    payload_int(b, t->recent);
    return done(b);
}

int payload_alert_event(struct jbuf *b, const struct alert_event *ev, const char *location, const char *note,
                        const char *by_name, bool with_device)
{
    jbuf_reset(b);
    PUT_LIT(b, "{\"event\":");
    payload_string(b, alert_event_name(ev->kind));
    if (with_device) {
        key(b, "device");
        payload_string(b, ev->alert.device);
    }
    alert_members(b, &ev->alert, location);
    if (note && note[0]) {
        key(b, "note");
        payload_string(b, note);
    }
    if (by_name && by_name[0]) {
        key(b, "acked_name");
        payload_string(b, by_name);
    }
    /* Whom this escalation is for: the highest party reached (the chain's top once past it). */
    const struct alert *a = &ev->alert;
    if (ev->kind == ALERT_ESCALATED && a->escalation_stage > 0) {
        key(b, "escalated");
        PUT_LIT(b, "{\"stage\":");
        payload_string(b, alert_stage_name((enum stage)(a->escalation_stage - 1)));
        if (a->nescalated > 0) {
            const struct alert_escalation *e = &a->escalated_to[a->nescalated - 1];
            jbuf_put(b, ",", 1);
            party_members(b, e->level, e->name, e->identity, e->is_topic);
        }
        jbuf_put(b, "}", 1);
    }
    return done(b);
}

int payload_alerts_active(struct jbuf *b, const char *gateway, int64_t ts_ms, int64_t seq, const struct alert *list,
                          const char *const *locations, int n)
{
    jbuf_reset(b);
    head(b, gateway, 0);
    key(b, "ts");
    payload_int(b, ts_ms);
    key(b, "last_alert_seq");
    payload_int(b, seq);
    key(b, "count");
    payload_int(b, n);
    key(b, "alerts");
    jbuf_put(b, "[", 1);
    for (int i = 0; i < n; i++) {
        if (i)
            jbuf_put(b, ",", 1);
        alert_object(b, &list[i], locations ? locations[i] : "");
    }
    jbuf_put(b, "]", 1);
    return done(b);
}

/* ---- the monthly report ---- */

/* A member of an object: first opens it without a comma. */
static void member(struct jbuf *b, const char *k, bool first)
{
    jbuf_put(b, first ? "\"" : ",\"", first ? 1 : 2);
    jbuf_puts(b, k);
    jbuf_put(b, "\":", 2);
}

/* A share or a count of days, rounded to what a report shows (4 or 2 decimals). */
static void rounded(struct jbuf *b, double v, double scale)
{
    payload_number(b, isfinite(v) ? round(v * scale) / scale : v);
}

/* Each section's label, Chinese first with English beside, as the report is read. */
static const char *const monthly_labels[][2] = {
    {"alerts", "告警 alerts"},
    {"stages", "工单环节 work-order stages"},
    {"ack", "响应 acknowledged"},
    {"on_site", "到场 on site"},
    {"resolve", "处置 resolved"},
    {"self_cleared", "自行恢复 self-cleared"},
    {"escalations", "升级 escalations"},
    {"devices", "设备 devices"},
    {"availability", "在线率 availability"},
    {"completeness", "数据完整率 data completeness"},
    {"visits", "维保记录 maintenance visits"},
    {"overdue_days", "超期天数 overdue days"},
    {"trapped", "困人事件 trapped passengers"},
    {"raised_ts", "接警 raised"},
    {"acknowledged_ts", "出动 dispatched"},
    {"on_site_ts", "抵达 on site"},
    {"resolved_ts", "解救 rescued"},
};

/* Members of a report section from tables: whole numbers, and numbers rounded to 1/scale. The
 * first of an object is written without its comma. */
struct named_int {
    const char *k;
    int64_t v;
};
struct named_num {
    const char *k;
    double v, scale;
};

static void put_ints(struct jbuf *b, const struct named_int *m, size_t n, bool first)
{
    for (size_t i = 0; i < n; i++) {
        member(b, m[i].k, first && i == 0);
        payload_int(b, m[i].v);
    }
}

static void put_nums(struct jbuf *b, const struct named_num *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        member(b, m[i].k, false);
        rounded(b, m[i].v, m[i].scale);
    }
}

static void monthly_stages(struct jbuf *b, const struct monthly_report *r)
{
    jbuf_put(b, "{", 1);
    for (int k = 0; k < MONTHLY_STAGES; k++) {
        const struct monthly_stage *s = &r->stages[k];
        const struct named_int counts[] = {{"on_time", s->on_time}, {"late", s->late}, {"open", s->open}};
        const struct named_num times[] = {{"median_s", s->median_s, 1000}, {"worst_s", s->worst_s, 1000}};
        member(b, monthly_stage_names[k], k == 0);
        jbuf_put(b, "{", 1);
        put_ints(b, counts, NELEM(counts), true);
        put_nums(b, times, NELEM(times));
        jbuf_put(b, "}", 1);
    }
    jbuf_put(b, "}", 1);
}

static void monthly_device(struct jbuf *b, const struct monthly_device_figures *f)
{
    const struct named_int counts[] = {{"polls_due", f->polls_due},
                                       {"polls_ok", f->polls_ok},
                                       {"visits", f->visits},
                                       {"maintenance_visits", f->maintenance_visits},
                                       {"maintenance_visits_long", f->maintenance_long}};
    const struct named_num figures[] = {{"availability", f->availability, 1e4},
                                        {"gateway_up", f->up_share, 1e4},
                                        {"completeness", f->completeness, 1e4},
                                        {"maintenance_minutes", f->maintenance_minutes, 10},
                                        {"overdue_days", f->overdue_days, 100}};
    PUT_LIT(b, "{\"device\":");
    payload_string(b, f->dev->id);
    key(b, "location");
    payload_string(b, f->dev->location ? f->dev->location : "");
    key(b, "kind");
    payload_string(b, f->dev->kind ? f->dev->kind : "");
    asset_member(b, f->dev->asset); /* filed by its registration code (一梯一档 / 一井一档) */
    put_ints(b, counts, NELEM(counts), false);
    put_nums(b, figures, NELEM(figures));
    jbuf_put(b, "}", 1);
}

/* A visit's members after the first, each led by a comma. */
static void visit_members(struct jbuf *b, const struct store_visit *v)
{
    const char *const texts[][2] = {{"kind", v->kind}, {"by", v->by}, {"name", v->name}, {"note", v->note}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        key(b, texts[i][0]);
        payload_string(b, texts[i][1]);
    }
    key(b, "start_ts");
    payload_int(b, v->start_ts);
    key(b, "end_ts");
    ts_or_null(b, v->end_ts);
    key(b, "minutes");
    if (v->end_ts)
        rounded(b, (double)(v->end_ts - v->start_ts) / 60000.0, 10);
    else
        PUT_LIT(b, "null");
}

static void monthly_visit(struct jbuf *b, const struct store_visit *v)
{
    PUT_LIT(b, "{\"device\":");
    payload_string(b, v->device);
    visit_members(b, v);
    jbuf_put(b, "}", 1);
}

int payload_visit_body(struct jbuf *b, const struct store_visit *v)
{
    jbuf_reset(b);
    PUT_LIT(b, "{\"event\":\"visit\"");
    visit_members(b, v);
    return done(b);
}

static void monthly_incident(struct jbuf *b, const struct monthly_incident *x)
{
    PUT_LIT(b, "{\"id\":");
    payload_string(b, x->id);
    key(b, "device");
    payload_string(b, x->device);
    const struct {
        const char *k;
        int64_t v;
    } times[] = {{"raised_ts", x->raised},
                 {"acknowledged_ts", x->acknowledged},
                 {"on_site_ts", x->on_site},
                 {"resolved_ts", x->resolved}};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        key(b, times[i].k);
        ts_or_null(b, times[i].v);
    }
    jbuf_put(b, "}", 1);
}

int payload_monthly_report(struct jbuf *b, const char *gateway, int64_t ts_ms, const struct monthly_report *r)
{
    const struct monthly_input *in = r->in;
    jbuf_reset(b);
    head(b, gateway, 0);
    key(b, "ts");
    payload_int(b, ts_ms);
    PUT_LIT(b, ",\"report\":\"monthly\"");
    const char *const texts[][2] = {
        {"month", in->month}, {"timezone", in->timezone}, {"contract", in->contract}, {"contractor", in->contractor}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        key(b, texts[i][0]);
        payload_string(b, texts[i][1] ? texts[i][1] : "");
    }
    const struct named_int bounds[] = {{"from_ts", in->from}, {"to_ts", in->to}};
    put_ints(b, bounds, NELEM(bounds), false);
    key(b, "labels");
    jbuf_put(b, "{", 1);
    for (size_t i = 0; i < sizeof monthly_labels / sizeof monthly_labels[0]; i++) {
        member(b, monthly_labels[i][0], i == 0);
        payload_string(b, monthly_labels[i][1]);
    }
    PUT_LIT(b, "},\"alerts\":{\"total\":");
    payload_int(b, r->alerts);
    key(b, "by_rule");
    jbuf_put(b, "[", 1);
    for (int i = 0; i < r->ncounts; i++) {
        jbuf_puts(b, i ? ",{\"rule\":" : "{\"rule\":");
        payload_string(b, r->counts[i].rule);
        key(b, "severity");
        payload_string(b, r->counts[i].severity);
        key(b, "count");
        payload_int(b, r->counts[i].count);
        jbuf_put(b, "}", 1);
    }
    PUT_LIT(b, "]}");
    key(b, "stages");
    monthly_stages(b, r);
    const struct named_int outcomes[] = {{"self_cleared", r->self_cleared}, {"resolved", r->resolved}};
    put_ints(b, outcomes, NELEM(outcomes), false);
    key(b, "escalations");
    jbuf_put(b, "[", 1);
    for (int l = 1; l <= r->max_level; l++) {
        const struct named_int level[] = {{"level", l}, {"count", r->escalations[l]}};
        jbuf_puts(b, l > 1 ? ",{" : "{");
        put_ints(b, level, NELEM(level), true);
        jbuf_put(b, "}", 1);
    }
    PUT_LIT(b, "],\"devices\":[");
    for (int i = 0; i < r->ndevices; i++) {
        if (i)
            jbuf_put(b, ",", 1);
        monthly_device(b, &r->devices[i]);
    }
    PUT_LIT(b, "],\"visits\":[");
    for (int i = 0; i < r->nvisits; i++) {
        if (i)
            jbuf_put(b, ",", 1);
        monthly_visit(b, r->visits[i]);
    }
    PUT_LIT(b, "],\"trapped\":[");
    for (int i = 0; i < r->nincidents; i++) {
        if (i)
            jbuf_put(b, ",", 1);
        monthly_incident(b, &r->incidents[i]);
    }
    jbuf_put(b, "]", 1);
    return done(b);
}
