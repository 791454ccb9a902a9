/* publish: libmosquitto driven from the core's poll loop (no libmosquitto thread).
 *
 * Invariants:
 * - A row is marked sent only when the broker acknowledged it (PUBACK for QoS 1, PUBCOMP for
 *   QoS 2) or, at QoS 0, when it was written to the socket: the on_publish callback. An MQTT 5
 *   acknowledgement with a failure reason (not authorized, quota exceeded...) is a refusal, not
 *   a delivery: the row stays unsent and the outbox is scanned again REFUSED_RETRY_MS later
 *   (doubling up to REFUSED_RETRY_MAX_MS while refusals go on; a new connection starts over).
 * - Each connection is a fresh client object. libmosquitto would resend its own unacknowledged
 *   messages after a reconnect; instead the rows in flight simply stay unsent in the store and
 *   the cursor starts over, so the outbox alone decides what goes out, oldest first.
 * - At most `window` messages are in flight; the mid → seqs table is sized for it, so memory
 *   does not grow with the backlog. A message is one row (contract v1, and every row but
 *   readings in v2) or a v2 batch of readings: its acknowledgement marks each of its rows sent,
 *   its refusal leaves them all unsent.
 * - v2 readings wait at most batch_ms in the open batch for others to share their message;
 *   every other row goes at once, ahead of the batch. The open batch is only rendered text and
 *   seqs: the rows it holds are still unsent in the store, and a lost connection or a rescan
 *   drops it, so they are taken again (perhaps into other batches) from the store.
 * - TLS, once configured, is set on every client before connecting: there is no path that
 *   connects in plaintext, and a failed handshake is a failed connect.
 */
#include "publish.h"

#include <errno.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "clock.h"
#include "commands.h"
#include "log.h"
#include "payload.h"
#include "secret_file.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define CONNECT_TIMEOUT_MS 15000 /* TCP, TLS handshake and CONNACK together */
#define MISC_EVERY_MS 1000       /* keepalive checks; keepalive_s is at least 5 */
/* A row the broker refused is offered again this long after: a denied topic costs one batch a
 * minute, not a loop. */
#define REFUSED_RETRY_MS 60000
#define REFUSED_RETRY_MAX_MS 3600000
/* mosquitto's default max_inflight_messages (20) less one for metrics and replies, which go
 * at the same QoS outside the window. */
#define QOS2_V311_SAFE_INFLIGHT 19
#define WINDOW_MAX 32768 /* leaves mids (1..65535) free for status, metrics, replies */
#define STATUS_QOS 1     /* status and its Last Will: always acknowledged */
#define PASSWORD_MAX 1024
/* A v2 batch's body at most: a few hundred readings, where the bytes per reading have long
 * stopped falling (docs/performance.md), well under a broker's usual max_packet_size (256 KiB
 * in config/mosquitto) and quick to resend if a 4G link drops it unacknowledged. Lowered to
 * what the broker announces (MQTT 5 Maximum Packet Size) less the topic and framing. */
#define BATCH_MAX_BYTES 32768
#define PUBLISH_FRAMING 16 /* fixed header, topic length, packet id, properties length */
/* Rows taken from the store per query while batching: a batch's worth at typical sizes. */
#define BATCH_FETCH_ROWS 512
#define SYSTEM_CA_DIR "/etc/ssl/certs"

enum pstate { P_IDLE, P_CONNECTING, P_CONNECTED };

/* A message in flight and the rows it carries. */
struct slot {
    int mid;
    int n;         /* rows: 0 for an empty slot */
    int64_t seq;   /* the row, when n is 1 */
    int64_t *seqs; /* a batch's rows (owned), when n is more */
};

struct publisher {
    const struct config *cfg;
    const struct mqtt_config *m;
    struct store *store;
    int64_t started_ts;
    char *password;
    struct mosquitto *mosq;
    enum pstate state;
    bool lost; /* set by callbacks; acted on after the loop call returns */
    int lost_rc;
    bool just_connected;
    bool stopping;
    int64_t next_attempt, attempt_started, last_misc, backoff;
    uint64_t rng;
    /* in flight: open addressing on mid, capacity a power of two >= 2 x window */
    struct slot *slots;
    uint32_t mask;
    int inflight, window;
    struct outbox_cursor cur;
    uint64_t seen_rollbacks;
    bool rescan, more;
    int64_t scanned_upto;
    struct outbox_row *rows;
    int fetch_max; /* rows per store query */
    struct jbuf topic, body;
    /* the message being handed to mosquitto_publish: at QoS 0 it may be written (and reported)
     * before mosquitto_publish returns */
    bool publishing, cur_done;
    int cur_mid;
    struct slot cur_msg;
    /* contract v2: the open batch of readings, since batch_opened (monotonic ms) */
    bool batching;
    struct batch batch;
    int64_t batch_opened;
    size_t batch_max;    /* body bytes, after what the broker announced */
    uint32_t broker_max; /* its Maximum Packet Size; 0: none announced */
    char batch_topic[TEXT_MAX_LEN + 16];
    int stop_mid;
    bool stop_acked;
    publish_command_fn on_cmd;
    void *cmd_ctx;
    char cmd_prefix[TEXT_MAX_LEN + 8];
    size_t cmd_prefix_len;
    char status_topic[TEXT_MAX_LEN + 8];
    struct complaint complaint;
    struct complaint refusal_complaint;
    int64_t refused_retry_at; /* monotonic ms of the next scan for refused rows; 0: none pending */
    int64_t refused_backoff;  /* the wait before the scan after the next refusal */
    struct publish_stats stats;
    char lib_err[200]; /* libmosquitto's first error line of the attempt (OpenSSL's reason) */
};

/* ---- the in-flight table ---- */

static const int64_t *slot_seqs(const struct slot *s)
{
    return s->n > 1 ? s->seqs : &s->seq;
}

static void slot_put(struct publisher *p, const struct slot *s)
{
    uint32_t i = (uint32_t)s->mid & p->mask;
    while (p->slots[i].n)
        i = (i + 1) & p->mask;
    p->slots[i] = *s;
    p->inflight++;
}

/* Removes mid and returns its slot (n 0 if unknown; the caller frees seqs), shifting later
 * entries of the run back so no tombstones are needed. */
static struct slot slot_take(struct publisher *p, int mid)
{
    uint32_t i = (uint32_t)mid & p->mask;
    while (p->slots[i].n && p->slots[i].mid != mid)
        i = (i + 1) & p->mask;
    struct slot found = p->slots[i];
    if (!found.n)
        return found;
    p->inflight--;
    uint32_t j = i;
    for (;;) {
        p->slots[i].n = 0;
        for (;;) {
            j = (j + 1) & p->mask;
            if (!p->slots[j].n)
                return found;
            uint32_t home = (uint32_t)p->slots[j].mid & p->mask;
            /* the entry at j may stay unless its home lies cyclically outside (i, j] */
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays)
                break;
        }
        p->slots[i] = p->slots[j];
        i = j;
    }
}

static void slots_clear(struct publisher *p)
{
    for (uint32_t i = 0; i <= p->mask; i++)
        if (p->slots[i].n > 1)
            free(p->slots[i].seqs);
    memset(p->slots, 0, ((size_t)p->mask + 1) * sizeof *p->slots);
    p->inflight = 0;
}

/* ---- callbacks (run inside mosquitto_loop_* and mosquitto_publish) ---- */

/* The body bytes a batch may take on this connection. */
static size_t batch_limit(const struct publisher *p)
{
    size_t max = BATCH_MAX_BYTES;
    size_t overhead = strlen(p->batch_topic) + PUBLISH_FRAMING;
    if (p->broker_max && p->broker_max < max + overhead)
        max = p->broker_max > overhead ? p->broker_max - overhead : 1;
    return max;
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags, const mosquitto_property *props)
{
    (void)flags;
    struct publisher *p = obj;
    if (rc != 0) {
        log_err("mqtt: %s:%d refused the connection: %s", p->m->host, p->m->port,
                p->m->protocol == 5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc));
        p->lost = true;
        p->lost_rc = MOSQ_ERR_CONN_REFUSED;
        return;
    }
    p->state = P_CONNECTED;
    p->stats.connects++;
    /* What the broker takes at most (MQTT 5 CONNACK; none on 3.1.1): libmosquitto refuses a
     * larger PUBLISH, so batches are closed below it. */
    p->broker_max = 0;
    if (props)
        mosquitto_property_read_int32(props, MQTT_PROP_MAXIMUM_PACKET_SIZE, &p->broker_max, false);
    p->batch_max = batch_limit(p);
    p->backoff = BACKOFF_MIN_MS;
    p->refused_backoff = REFUSED_RETRY_MS;
    p->just_connected = true;
    if (log_release(&p->complaint) || p->stats.connects == 1)
        log_notice("mqtt: connected to %s:%d (MQTT %s%s) as %s", p->m->host, p->m->port,
                   p->m->protocol == 5 ? "5" : "3.1.1", p->m->tls.enabled ? ", TLS" : "", p->m->client_id);
    /* cmd/<verb>/<identity>: exactly two levels, what the broker's ACL pattern allows. */
    char sub[TEXT_MAX_LEN + 16];
    snprintf(sub, sizeof sub, "%s+/+", p->cmd_prefix);
    if (mosquitto_subscribe(mosq, NULL, sub, 1) != MOSQ_ERR_SUCCESS)
        log_err("mqtt: cannot subscribe to %s", sub);
    struct jbuf b = {0};
    if (payload_status(&b, p->cfg->gateway_id, "online", CARETAKER_VERSION, p->started_ts, clock_wall_ms()) == 0)
        mosquitto_publish(mosq, NULL, p->status_topic, (int)b.len, b.p, STATUS_QOS, true);
    jbuf_free(&b);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    struct publisher *p = obj;
    p->lost = true;
    if (!p->lost_rc)
        p->lost_rc = rc ? rc : MOSQ_ERR_CONN_LOST;
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason, const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    struct publisher *p = obj;
    struct slot msg;
    bool owned = !(p->publishing && mid == p->cur_mid);
    if (!owned) {
        p->cur_done = true;
        msg = p->cur_msg; /* its seqs stay the sender's to free */
    } else {
        if (p->stop_mid && mid == p->stop_mid)
            p->stop_acked = true;
        msg = slot_take(p, mid);
    }
    if (!msg.n)
        return;
    const int64_t *seqs = slot_seqs(&msg);
    if (reason >= MQTT_RC_UNSPECIFIED) {
        /* Refused by the broker (its ACL, a quota): not delivered. Kept unsent, sent again at
         * the next scan of the outbox, which a refusal schedules. */
        p->stats.refused += (uint64_t)msg.n;
        /* The next scan a minute later, then at doubling intervals up to an hour while the
         * broker keeps refusing: a topic it denies for good costs a pass of its rows an hour,
         * not a growing stream ahead of the live rows. */
        if (!p->refused_retry_at) {
            p->refused_retry_at = clock_mono_ms() + p->refused_backoff;
            p->refused_backoff =
                p->refused_backoff * 2 > REFUSED_RETRY_MAX_MS ? REFUSED_RETRY_MAX_MS : p->refused_backoff * 2;
        }
        uint32_t held = 0;
        if (log_complain(&p->refusal_complaint, clock_mono_ms(), &held)) {
            if (msg.n == 1)
                log_warn("mqtt: the broker refused message seq %" PRId64 ": %s; kept, sent again later "
                         "(%" PRIu64 " rows refused so far)",
                         seqs[0], mosquitto_reason_string(reason), p->stats.refused);
            else
                log_warn("mqtt: the broker refused a batch of %d readings (seq %" PRId64 " to %" PRId64 "): %s; "
                         "kept, sent again later (%" PRIu64 " rows refused so far)",
                         msg.n, seqs[0], seqs[msg.n - 1], mosquitto_reason_string(reason), p->stats.refused);
        }
    } else {
        p->stats.acked += (uint64_t)msg.n;
        for (int i = 0; i < msg.n; i++)
            store_mark_sent(p->store, seqs[i]);
    }
    if (owned && msg.n > 1)
        free(msg.seqs);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    (void)mosq;
    struct publisher *p = obj;
    if (!msg->topic || strncmp(msg->topic, p->cmd_prefix, p->cmd_prefix_len) != 0)
        return;
    if (p->on_cmd)
        p->on_cmd(p->cmd_ctx, msg->topic + p->cmd_prefix_len, msg->payload,
                  msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0, msg->retain);
}

static void on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
    (void)mosq;
    struct publisher *p = obj;
    /* The first error of an attempt is the cause ("host name verification failed"); those
     * after it are OpenSSL's consequences ("certificate verify failed"). */
    if ((level & MOSQ_LOG_ERR) && !p->lib_err[0])
        snprintf(p->lib_err, sizeof p->lib_err, "%s", str);
}

/* An encrypted key would make OpenSSL ask on the terminal; a daemon has none. */
static int no_key_password(char *buf, int size, int rwflag, void *userdata)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)userdata;
    return 0;
}

/* ---- connection ---- */

static uint32_t jitter(struct publisher *p, uint32_t range)
{
    /* xorshift64: spreads the reconnects of many gateways after a broker restart */
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return range ? (uint32_t)(p->rng % range) : 0;
}

static const char *why(struct publisher *p, int rc, int err_no, char *buf, size_t n)
{
    if (rc == MOSQ_ERR_ERRNO)
        return strerror(err_no);
    if (rc == MOSQ_ERR_CONN_REFUSED)
        return "the broker refused the connection (reason above)";
    if (rc == MOSQ_ERR_TLS) {
        snprintf(buf, n, "TLS handshake failed (%s)",
                 p->lib_err[0] ? p->lib_err : "certificate not trusted, wrong host name, or not a TLS listener");
        return buf;
    }
    return mosquitto_strerror(rc);
}

static void teardown(struct publisher *p, int64_t now, const char *reason)
{
    bool was_connected = p->state == P_CONNECTED;
    if (p->mosq) {
        mosquitto_destroy(p->mosq);
        p->mosq = NULL;
    }
    p->state = P_IDLE;
    p->lost = false;
    p->lost_rc = 0;
    /* Rows in flight were not acknowledged: they are still unsent in the store, and the
     * cursor starting over sends them again, oldest first, on the next connection. */
    slots_clear(p);
    batch_clear(&p->batch);
    memset(&p->cur, 0, sizeof p->cur);
    p->more = true;
    p->scanned_upto = 0;
    p->rescan = false;
    int64_t delay = p->backoff / 2 + jitter(p, (uint32_t)(p->backoff / 2 + 1));
    p->next_attempt = now + delay;
    p->backoff = p->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff * 2;
    if (p->stopping)
        return;
    uint32_t held = 0;
    if (was_connected)
        log_warn("mqtt: connection to %s:%d lost: %s; reconnecting in %.1f s", p->m->host, p->m->port, reason,
                 (double)delay / 1000);
    else if (log_complain(&p->complaint, now, &held))
        log_warn("mqtt: cannot connect to %s:%d: %s; retrying in %.1f s%s", p->m->host, p->m->port, reason,
                 (double)delay / 1000, held ? " (failures since the last message not logged)" : "");
}

/* MQTT 5: the Maximum Packet Size in CONNECT makes the broker drop a larger message for us
 * instead of sending it, and libmosquitto would otherwise take in a whole packet of any size
 * before a command's own limit could be checked. The library has no asynchronous connect that
 * takes properties, but it keeps the CONNECT properties of mosquitto_connect_bind_v5 on the
 * client for every later connect; called without a host, it keeps them and connects nowhere
 * (MOSQ_ERR_INVAL), and mosquitto_connect_async then sends them. */
static int limit_packets(struct mosquitto *mosq, char *err, size_t n)
{
    mosquitto_property *props = NULL;
    int rc = mosquitto_property_add_int32(&props, MQTT_PROP_MAXIMUM_PACKET_SIZE, CMD_MAX_PACKET);
    if (rc == MOSQ_ERR_SUCCESS) {
        rc = mosquitto_connect_bind_v5(mosq, NULL, 0, 60, NULL, props);
        rc = rc == MOSQ_ERR_INVAL ? MOSQ_ERR_SUCCESS : rc == MOSQ_ERR_SUCCESS ? MOSQ_ERR_UNKNOWN : rc;
    }
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, n, "cannot set the maximum packet size: %s", mosquitto_strerror(rc));
        return -1;
    }
    return 0;
}

static int setup_client(struct publisher *p, struct mosquitto *mosq, char *err, size_t n)
{
    const struct mqtt_config *m = p->m;
    int rc =
        mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, m->protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, p->window);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, n, "options: %s", mosquitto_strerror(rc));
        return -1;
    }
    struct jbuf will = {0};
    if (payload_status(&will, p->cfg->gateway_id, "offline", NULL, 0, 0) < 0 ||
        mosquitto_will_set(mosq, p->status_topic, (int)will.len, will.p, STATUS_QOS, true) != MOSQ_ERR_SUCCESS) {
        jbuf_free(&will);
        snprintf(err, n, "cannot set the Last Will");
        return -1;
    }
    jbuf_free(&will);
    if (m->username[0] && mosquitto_username_pw_set(mosq, m->username, p->password) != MOSQ_ERR_SUCCESS) {
        snprintf(err, n, "cannot set the user name");
        return -1;
    }
    const struct tls_config *t = &m->tls;
    if (t->enabled) {
        /* Without a CA file the broker is checked against the system's store: OpenSSL's
         * default paths (SSL_CERT_FILE, SSL_CERT_DIR or the distribution's), and
         * /etc/ssl/certs, which libmosquitto wants named when no CA file is given. With one,
         * that CA alone is trusted. insecure_skip_verify turns verification off. */
        rc = t->ca_file[0] ? MOSQ_ERR_SUCCESS : mosquitto_int_option(mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_tls_set(mosq, t->ca_file[0] ? t->ca_file : NULL, t->ca_file[0] ? NULL : SYSTEM_CA_DIR,
                                   t->cert_file[0] ? t->cert_file : NULL, t->key_file[0] ? t->key_file : NULL,
                                   no_key_password);
        /* "tlsv1.2" is a floor (1.2 and 1.3 are offered), "tlsv1.3" allows 1.3 alone. */
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_tls_opts_set(mosq, t->insecure_skip_verify ? 0 : 1, t->tls_version, NULL);
        if (rc == MOSQ_ERR_SUCCESS && t->insecure_skip_verify)
            rc = mosquitto_tls_insecure_set(mosq, true);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, n, "TLS set-up: %s", mosquitto_strerror(rc));
            return -1;
        }
    }
    if (m->protocol == 5 && limit_packets(mosq, err, n) < 0)
        return -1;
    mosquitto_connect_v5_callback_set(mosq, on_connect);
    mosquitto_disconnect_callback_set(mosq, on_disconnect);
    mosquitto_publish_v5_callback_set(mosq, on_publish);
    mosquitto_message_callback_set(mosq, on_message);
    mosquitto_log_callback_set(mosq, on_log);
    return 0;
}

static void start_connect(struct publisher *p, int64_t now)
{
    char err[256];
    p->lost = false;
    p->lost_rc = 0;
    p->mosq = mosquitto_new(p->m->client_id, true, p);
    if (!p->mosq) {
        teardown(p, now, "cannot create the client (out of memory)");
        return;
    }
    if (setup_client(p, p->mosq, err, sizeof err) < 0) {
        teardown(p, now, err);
        return;
    }
    p->state = P_CONNECTING;
    p->attempt_started = now;
    p->last_misc = now;
    /* Non-blocking: the TCP connect completes (or fails) on the socket, seen by poll. Name
     * resolution alone may block (give an address, or a name in /etc/hosts, on a 4G box). */
    p->lib_err[0] = '\0';
    int rc = mosquitto_connect_async(p->mosq, p->m->host, p->m->port, p->m->keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
        char buf[256];
        teardown(p, now, why(p, rc, errno, buf, sizeof buf));
    }
}

/* ---- life ---- */

/* The files libmosquitto opens at each connect, checked once before the first: readable, and
 * the key as private as the password. */
static int check_readable(const char *key, const char *path, struct diag *err)
{
    if (path[0] && access(path, R_OK) < 0) {
        diag_set(err, "mqtt.tls.%s %s: cannot read: %s", key, path, strerror(errno));
        return -1;
    }
    return 0;
}

static int check_tls_files(const struct tls_config *t, struct diag *err)
{
    if (check_readable("ca_file", t->ca_file, err) < 0 || check_readable("cert_file", t->cert_file, err) < 0)
        return -1;
    if (t->key_file[0]) {
        int fd = secret_file_open("mqtt.tls.key_file", t->key_file, err);
        if (fd < 0)
            return -1;
        close(fd);
    }
    return 0;
}

/* Everything but the store: what `caretaker check` and the start of a run both refuse. */
static int publisher_make(const struct config *cfg, struct publisher **out, struct diag *err)
{
    const struct mqtt_config *m = &cfg->mqtt;
    if (check_tls_files(&m->tls, err) < 0)
        return -1;
    struct publisher *p = calloc(1, sizeof *p);
    if (!p) {
        diag_set(err, "mqtt: out of memory");
        return -1;
    }
    mosquitto_lib_init(); /* undone in publish_free */
    size_t password_len;
    if (m->password_file[0] &&
        secret_file_read("mqtt.password_file", m->password_file, PASSWORD_MAX, &p->password, &password_len, err) < 0) {
        publish_free(p);
        return -1;
    }
    p->cfg = cfg;
    p->m = m;
    p->window = m->inflight < 1 ? 1 : m->inflight > WINDOW_MAX ? WINDOW_MAX : m->inflight;
    p->batching = m->payload == 2;
    p->fetch_max = p->batching && p->window < BATCH_FETCH_ROWS ? BATCH_FETCH_ROWS : p->window;
    snprintf(p->batch_topic, sizeof p->batch_topic, "%s/v2/readings", m->topic_prefix);
    uint32_t cap = 16;
    while (cap < (uint32_t)p->window * 2)
        cap *= 2;
    p->mask = cap - 1;
    p->slots = calloc(cap, sizeof *p->slots);
    p->rows = calloc((size_t)p->fetch_max, sizeof *p->rows);
    if (!p->slots || !p->rows || batch_init(&p->batch, cfg->gateway_id) < 0) {
        diag_set(err, "mqtt: out of memory for a window of %d", p->window);
        publish_free(p);
        return -1;
    }
    snprintf(p->cmd_prefix, sizeof p->cmd_prefix, "%s/cmd/", m->topic_prefix);
    p->cmd_prefix_len = strlen(p->cmd_prefix);
    snprintf(p->status_topic, sizeof p->status_topic, "%s/status", m->topic_prefix);
    p->backoff = BACKOFF_MIN_MS;
    p->refused_backoff = REFUSED_RETRY_MS;
    p->batch_max = batch_limit(p);
    p->rng = (uint64_t)clock_wall_ms() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    p->more = true;
    /* A client that cannot even be set up (a CA file that is not a certificate...) is a config
     * error, refused now rather than retried forever. */
    struct mosquitto *probe = mosquitto_new(m->client_id, true, p);
    char why_not[256] = "out of memory";
    if (!probe || setup_client(p, probe, why_not, sizeof why_not) < 0) {
        diag_set(err, "mqtt: %s", why_not);
        mosquitto_destroy(probe);
        publish_free(p);
        return -1;
    }
    mosquitto_destroy(probe);
    *out = p;
    return 0;
}

int publish_check(const struct config *cfg, struct diag *err)
{
    struct publisher *p = NULL;
    if (publisher_make(cfg, &p, err) < 0)
        return -1;
    publish_free(p);
    return 0;
}

int publish_new(const struct config *cfg, struct store *s, int64_t started_ts_ms, struct publisher **out,
                struct diag *err)
{
    struct publisher *p = NULL;
    if (publisher_make(cfg, &p, err) < 0)
        return -1;
    p->store = s;
    p->started_ts = started_ts_ms;
    p->seen_rollbacks = store_rollbacks(s);
    if (cfg->mqtt.tls.enabled && cfg->mqtt.tls.insecure_skip_verify)
        log_warn("mqtt: tls.insecure_skip_verify is set: the broker's certificate is not verified");
    /* MQTT 3.1.1 has no reason code in PUBREC: a broker over its in-flight quota for QoS 2
     * (mosquitto's max_inflight_messages, 20 by default) drops the excess and still completes
     * the exchange, so the gateway would mark lost rows sent. MQTT 5 announces the quota. */
    if (cfg->mqtt.protocol != 5 && cfg->mqtt.qos == 2 && cfg->mqtt.inflight > QOS2_V311_SAFE_INFLIGHT)
        log_warn("mqtt: qos 2 over MQTT 3.1.1 with inflight %d: a broker that limits QoS 2 messages in flight "
                 "(mosquitto: max_inflight_messages, 20 by default) drops the excess without telling a 3.1.1 "
                 "client; set mqtt.inflight to %d or less, raise the broker's limit, or use protocol \"5\"",
                 cfg->mqtt.inflight, QOS2_V311_SAFE_INFLIGHT);
    *out = p;
    return 0;
}

void publish_set_command_handler(struct publisher *p, publish_command_fn fn, void *ctx)
{
    p->on_cmd = fn;
    p->cmd_ctx = ctx;
}

int publish_fd(const struct publisher *p, short *events)
{
    if (!p->mosq)
        return -1;
    int fd = mosquitto_socket(p->mosq);
    if (fd < 0)
        return -1;
    *events = POLLIN;
    if (mosquitto_want_write(p->mosq))
        *events |= POLLOUT;
    return fd;
}

int publish_timeout_ms(const struct publisher *p, int64_t now)
{
    int64_t t;
    if (!p->mosq) {
        t = p->next_attempt - now;
    } else {
        t = p->last_misc + MISC_EVERY_MS - now;
        if (p->state == P_CONNECTING && p->attempt_started + CONNECT_TIMEOUT_MS - now < t)
            t = p->attempt_started + CONNECT_TIMEOUT_MS - now;
        /* a batch waiting for room in the window goes when an acknowledgement makes some */
        if (batch_count(&p->batch) > 0 && p->inflight < p->window && p->batch_opened + p->m->batch_ms - now < t)
            t = p->batch_opened + p->m->batch_ms - now;
    }
    return t < 0 ? 0 : t > 60000 ? 60000 : (int)t;
}

void publish_io(struct publisher *p, short revents, int64_t now)
{
    if (p->mosq) {
        int rc = MOSQ_ERR_SUCCESS;
        if (revents & (POLLIN | POLLERR | POLLHUP))
            rc = mosquitto_loop_read(p->mosq, 1);
        if (rc == MOSQ_ERR_SUCCESS && !p->lost && (revents & POLLOUT))
            rc = mosquitto_loop_write(p->mosq, 1);
        if (rc == MOSQ_ERR_SUCCESS && !p->lost && now - p->last_misc >= MISC_EVERY_MS) {
            p->last_misc = now;
            rc = mosquitto_loop_misc(p->mosq);
        }
        int saved = errno;
        if (rc != MOSQ_ERR_SUCCESS || p->lost) {
            /* A refused CONNACK is the cause; the read error that follows is its consequence. */
            if (rc == MOSQ_ERR_SUCCESS || p->lost_rc == MOSQ_ERR_CONN_REFUSED)
                rc = p->lost_rc;
            char buf[256];
            teardown(p, now, why(p, rc, saved, buf, sizeof buf));
        } else if (p->state == P_CONNECTING && now - p->attempt_started >= CONNECT_TIMEOUT_MS) {
            teardown(p, now, "no answer within 15 s");
        }
    }
    if (!p->mosq && !p->stopping && now >= p->next_attempt)
        start_connect(p, now);
}

/* Hands one message carrying n rows (seqs ascending) to libmosquitto. 0 when it was taken
 * (or is too large for the broker, and left unsent), -1 when the connection is lost. */
static int send_message(struct publisher *p, const char *topic, const struct jbuf *body, bool retain,
                        const int64_t *seqs, int n)
{
    struct slot msg = {.n = n, .seq = seqs[0]};
    if (n > 1) {
        msg.seqs = malloc((size_t)n * sizeof *msg.seqs);
        if (!msg.seqs) {
            p->lost = true;
            p->lost_rc = MOSQ_ERR_NOMEM;
            return -1;
        }
        memcpy(msg.seqs, seqs, (size_t)n * sizeof *msg.seqs);
    }
    p->publishing = true;
    p->cur_done = false;
    p->cur_msg = msg;
    int rc = mosquitto_publish(p->mosq, &p->cur_mid, topic, (int)body->len, body->p, p->m->qos, retain);
    p->publishing = false;
    msg.mid = p->cur_mid;
    if (rc == MOSQ_ERR_SUCCESS && !p->cur_done) {
        slot_put(p, &msg); /* the slot owns seqs now */
        msg.n = 0;
    }
    if (msg.n > 1)
        free(msg.seqs);
    if (rc == MOSQ_ERR_OVERSIZE_PACKET || rc == MOSQ_ERR_PAYLOAD_SIZE) {
        /* The broker will never take it; it stays unsent, retried on the next connection. */
        log_err("mqtt: seq %" PRId64 " (%zu bytes) is larger than the broker accepts", seqs[0], body->len);
        return 0;
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        p->lost = true;
        p->lost_rc = rc;
        return -1;
    }
    p->stats.published += (uint64_t)n;
    return 0;
}

static int send_row(struct publisher *p, const struct outbox_row *r)
{
    jbuf_reset(&p->topic);
    payload_row_topic(&p->topic, p->m->topic_prefix, r);
    if (payload_row(&p->body, p->cfg->gateway_id, r) < 0 || p->topic.oom)
        return -1;
    return send_message(p, p->topic.p, &p->body, payload_row_retained(r), &r->seq, 1);
}

/* The open batch as one message; it is empty after, whatever came of it. */
static int send_batch(struct publisher *p)
{
    int rc = batch_render(&p->batch, &p->body) < 0
                 ? -1
                 : send_message(p, p->batch_topic, &p->body, false, batch_seqs(&p->batch), batch_count(&p->batch));
    batch_clear(&p->batch);
    return rc;
}

/* Puts a reading in the open batch, sending the batch first when the reading would take it
 * past its bound. 0 when taken, 1 when the window has no room for the full batch (the reading
 * was not taken), -1 when the connection is lost. */
static int batch_take(struct publisher *p, const struct outbox_row *r)
{
    int rc = batch_add(&p->batch, r, p->batch_max);
    if (rc == 1) {
        if (p->inflight >= p->window)
            return 1;
        if (send_batch(p) < 0)
            return -1;
        rc = batch_add(&p->batch, r, p->batch_max);
    }
    if (rc < 0) {
        p->lost = true;
        p->lost_rc = MOSQ_ERR_NOMEM;
        return -1;
    }
    if (batch_count(&p->batch) == 1)
        p->batch_opened = clock_mono_ms();
    return 0;
}

/* Rows fetched and not handed on (the window filled): the cursor goes back to the first of
 * each class among them, so the next query returns them again. */
static void untake(struct publisher *p, const struct outbox_row *rows, int n)
{
    int64_t event = 0, reading = 0;
    for (int i = 0; i < n; i++) {
        int64_t *first = rows[i].kind == OUTBOX_READING ? &reading : &event;
        if (!*first || rows[i].seq < *first)
            *first = rows[i].seq;
    }
    if (event)
        p->cur.event = event - 1;
    if (reading)
        p->cur.reading = reading - 1;
    p->more = true;
}

/* Whether the open batch goes now: its time is up, or nothing may wait (batch_ms 0, a stop). */
static bool batch_due(const struct publisher *p, int64_t now)
{
    return batch_count(&p->batch) > 0 &&
           (p->stopping || p->m->batch_ms == 0 || now - p->batch_opened >= p->m->batch_ms);
}

int publish_pump(struct publisher *p)
{
    if (p->state != P_CONNECTED || !p->mosq || p->lost)
        return 0;
    uint64_t rb = store_rollbacks(p->store);
    if (rb != p->seen_rollbacks) {
        /* Acknowledgements written in the rolled-back transaction were lost: once nothing is
         * in flight, start over from the oldest unsent row. */
        p->seen_rollbacks = rb;
        p->rescan = true;
    }
    if (p->refused_retry_at && clock_mono_ms() >= p->refused_retry_at) {
        p->refused_retry_at = 0;
        p->rescan = true;
    }
    if (p->rescan) {
        if (p->inflight)
            return 0;
        batch_clear(&p->batch); /* its rows are taken again with the rest */
        memset(&p->cur, 0, sizeof p->cur);
        p->rescan = false;
        p->more = true;
    }
    int sent = 0;
    while (p->inflight < p->window && !p->lost) {
        int64_t hi = store_committed_seq(p->store);
        if (!p->more && hi <= p->scanned_upto)
            break;
        int room = p->window - p->inflight;
        /* While a backlog drains, refill in batches of a quarter window: one query for many
         * rows, not one per acknowledgement. Live rows (little in flight) go at once. */
        if (p->more && p->inflight > 0 && room < p->window / 4)
            break;
        /* v1: a row per message, so no more rows than room; v2 readings share messages. */
        int want = p->batching ? p->fetch_max : room;
        int n = store_fetch_unsent(p->store, &p->cur, p->rows, want);
        if (n < 0)
            break;
        p->more = n == want;
        if (!p->more)
            p->scanned_upto = hi;
        int i = 0;
        for (; i < n; i++) {
            const struct outbox_row *r = &p->rows[i];
            if (p->batching && r->kind == OUTBOX_READING && r->device) {
                int rc = batch_take(p, r);
                if (rc < 0)
                    return sent;
                if (rc > 0)
                    break;
                continue;
            }
            if (p->inflight >= p->window)
                break;
            if (send_row(p, r) < 0)
                return sent;
            sent++;
        }
        if (i < n) {
            untake(p, p->rows + i, n - i);
            break;
        }
        if (n == 0)
            break;
    }
    if (!p->lost && p->inflight < p->window && batch_due(p, clock_mono_ms()) && send_batch(p) == 0)
        sent++;
    return sent;
}

int publish_direct(struct publisher *p, const char *suffix, const char *payload, size_t len, bool retain)
{
    if (p->state != P_CONNECTED || !p->mosq || p->lost)
        return -1;
    struct jbuf t = {0};
    payload_topic(&t, p->m->topic_prefix, suffix);
    int mid = 0;
    int rc = t.oom ? MOSQ_ERR_NOMEM
                   : mosquitto_publish(p->mosq, &mid, t.p, (int)len, payload, retain ? STATUS_QOS : p->m->qos, retain);
    jbuf_free(&t);
    if (rc != MOSQ_ERR_SUCCESS)
        return -1;
    return mid;
}

bool publish_take_connected(struct publisher *p)
{
    bool v = p->just_connected;
    p->just_connected = false;
    return v;
}

bool publish_connected(const struct publisher *p)
{
    return p->state == P_CONNECTED;
}

void publish_get_stats(const struct publisher *p, struct publish_stats *out)
{
    *out = p->stats;
    out->inflight = p->inflight;
}

/* One round of the loop on the publisher's socket alone, for at most until deadline. */
static void wait_io(struct publisher *p, int64_t deadline)
{
    short ev = 0;
    int fd = publish_fd(p, &ev);
    int64_t now = clock_mono_ms();
    if (fd < 0 || now >= deadline)
        return;
    int64_t wait = deadline - now;
    if (wait > 100)
        wait = 100;
    struct pollfd pf = {.fd = fd, .events = ev};
    int r = poll(&pf, 1, (int)wait);
    publish_io(p, r > 0 ? pf.revents : 0, clock_mono_ms());
}

void publish_stop(struct publisher *p, int timeout_ms)
{
    p->stopping = true;
    if (!p->mosq)
        return;
    /* A connect still in progress is dropped: if the broker had taken it, it sends the Last
     * Will, which says offline just the same. */
    int64_t deadline = clock_mono_ms() + timeout_ms;
    /* The rows committed last (the pollers' final readings) go out too, within the time. */
    while (p->mosq && p->state == P_CONNECTED && clock_mono_ms() < deadline) {
        publish_pump(p);
        if (p->inflight == 0 && batch_count(&p->batch) == 0)
            break;
        wait_io(p, deadline);
    }
    if (p->mosq && p->state == P_CONNECTED) {
        if (p->inflight)
            log_warn("mqtt: stopping with %d messages unacknowledged; they go out again at the next start",
                     p->inflight);
        struct jbuf b = {0};
        payload_status(&b, p->cfg->gateway_id, "offline", CARETAKER_VERSION, p->started_ts, clock_wall_ms());
        int mid = b.oom ? -1 : publish_direct(p, "status", b.p, b.len, true);
        jbuf_free(&b);
        if (mid > 0) {
            p->stop_mid = mid;
            /* The offline status gets a moment of its own even when the flush used it all. */
            int64_t status_deadline = deadline > clock_mono_ms() + 1000 ? deadline : clock_mono_ms() + 1000;
            while (p->mosq && !p->stop_acked && clock_mono_ms() < status_deadline)
                wait_io(p, status_deadline);
        }
        if (p->mosq) {
            mosquitto_disconnect(p->mosq);
            int64_t flush_deadline = clock_mono_ms() + 500;
            while (p->mosq && mosquitto_want_write(p->mosq) && clock_mono_ms() < flush_deadline)
                wait_io(p, flush_deadline);
        }
        log_notice("mqtt: disconnected from %s:%d", p->m->host, p->m->port);
    }
    if (p->mosq) {
        mosquitto_destroy(p->mosq);
        p->mosq = NULL;
    }
    p->state = P_IDLE;
}

void publish_free(struct publisher *p)
{
    if (!p)
        return;
    if (p->mosq)
        mosquitto_destroy(p->mosq);
    secret_free(p->password, PASSWORD_MAX);
    if (p->slots)
        slots_clear(p);
    free(p->slots);
    free(p->rows);
    batch_free(&p->batch);
    jbuf_free(&p->topic);
    jbuf_free(&p->body);
    free(p);
    mosquitto_lib_cleanup();
}
