/* test_publish_order: the publisher's ordering rules without a broker or a device — libmosquitto
 * replaced at link time by stub_mosquitto.c, the store a real SQLite file. Readings held in
 * memory leave at once, rows of other kinds only once committed, and committed alerts and events
 * go before readings; a row is
 * marked sent on its acknowledgement, and one the broker refuses (an MQTT 5 reason code) stays
 * unsent and goes again. In contract v2, readings wait in a batch while alerts go at once; one
 * acknowledgement marks every row of a batch sent, one refusal leaves them all unsent. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "publish.h"
#include "queue.h"
#include "store.h"
#include "stub_mosquitto.h"

static struct profile prof;
static struct device dev;
static struct device *devs[1] = {&dev};
static struct bus_config bus;
static struct config cfg;

static void setup(const char *db)
{
    snprintf(prof.driver, sizeof prof.driver, "level/test");
    prof.npoints = 1;
    snprintf(prof.points[0].name, NAME_MAX_LEN, "level");
    prof.points[0].table = TABLE_HOLDING;
    snprintf(dev.id, sizeof dev.id, "manhole-3");
    dev.profile = &prof;
    bus.ndevices = 1;
    bus.devices = &dev;
    cfg.nbuses = 1;
    cfg.buses = &bus;
    cfg.ndevices = 1;
    cfg.devices = devs;
    snprintf(cfg.gateway_id, sizeof cfg.gateway_id, "gw-01");
    snprintf(cfg.store.path, sizeof cfg.store.path, "%s", db);
    cfg.has_mqtt = true;
    struct mqtt_config *m = &cfg.mqtt;
    snprintf(m->host, sizeof m->host, "127.0.0.1");
    m->port = 1883;
    m->qos = 1;
    m->keepalive_s = 30;
    m->protocol = 5;
    m->inflight = 10;
    m->metrics_s = 60;
    snprintf(m->client_id, sizeof m->client_id, "caretaker-test");
    snprintf(m->topic_prefix, sizeof m->topic_prefix, "caretaker/hongmei/gw-01");
}

static int64_t reading(struct store *s, double level)
{
    struct msg *m = msg_new(MSG_READING, 0, clock_wall_ms(), 1);
    m->values[0] = level;
    m->quality[0] = Q_OK;
    int64_t seq = 0;
    CHECK(store_append_reading(s, &dev, m, &seq) == 0);
    msg_free(m);
    return seq;
}

static long long unsent(struct store *s)
{
    struct store_backlog b;
    CHECK(store_backlog(s, &b) == 0);
    return (long long)b.rows;
}

int main(void)
{
    char db[] = "/tmp/ct-publish-XXXXXX";
    int fd = mkstemp(db);
    close(fd);
    unlink(db);
    setup(db);
    struct store *s = NULL;
    struct diag err;
    diag_clear(&err);
    CHECK_MSG(store_open(db, &s, &err) == 0 && store_register(s, &cfg, &err) == 0, "%s", err.msg);
    struct publisher *p = NULL;
    CHECK_MSG(publish_new(&cfg, s, clock_wall_ms(), &p, &err) == 0, "%s", err.msg);
    if (!s || !p) {
        store_close(s);
        return check_report();
    }

    publish_io(p, 0, clock_mono_ms());
    CHECK(stub.connects == 1);
    stub_connack(0);
    CHECK(publish_connected(p));
    int first = stub.npub; /* the online status went out at the connect */
    CHECK(stub_find("/status", 0) && strstr(stub_find("/status", 0)->payload, "\"online\""));

    /* Appended: the reading is held in memory and leaves at once; the alert, appended after it,
     * leaves only once committed. */
    int64_t r1 = reading(s, 0.5);
    int64_t ev = 0;
    CHECK(store_append_event(s, &dev, OUTBOX_ALERT, clock_wall_ms(),
                             "{\"event\":\"raised\",\"id\":\"manhole-3:high_level:1\"}", &ev) == 0);
    CHECK(ev > r1);
    CHECK(publish_pump(p) == 1 && stub.npub == first + 1);
    CHECK(store_commit(s) == 0);
    CHECK(publish_pump(p) == 1 && stub.npub == first + 2);
    const struct stub_publish *r = &stub.pub[first], *a = &stub.pub[first + 1];
    CHECK_MSG(strstr(a->topic, "/alerts") && strstr(a->payload, "\"raised\""), "second: %s", a->topic);
    CHECK_MSG(strstr(r->topic, "/devices/manhole-3/readings") && strstr(r->payload, "\"level\":0.5"),
              "first: %s %s", r->topic, r->payload);

    /* The broker refuses the reading (not authorized) and takes the alert: only the alert is
     * sent; the reading stays unsent (held, then written). */
    stub_ack(r->mid, 0x87);
    stub_ack(a->mid, 0);
    CHECK(store_commit(s) == 0);
    CHECK(unsent(s) == 1);
    struct publish_stats st;
    publish_get_stats(p, &st);
    CHECK(st.acked == 1 && st.refused == 1 && st.inflight == 0);

    /* Nothing more is sent until the refused row's retry comes round (a minute); a new
     * reading goes at once, and the refused one is not lost meanwhile. */
    int64_t r2 = reading(s, 0.6);
    CHECK(store_commit(s) == 0);
    CHECK(publish_pump(p) == 1);
    const struct stub_publish *r2p = &stub.pub[stub.npub - 1];
    CHECK(strstr(r2p->payload, "\"level\":0.6") != NULL);
    stub_ack(r2p->mid, 0);
    CHECK(store_commit(s) == 0);
    CHECK(unsent(s) == 1);
    (void)r2;
    publish_free(p);

    /* v2: a fresh publisher (a new connection takes the outbox from the start, the refused
     * reading included), readings held for the batch window. */
    cfg.mqtt.payload = 2;
    cfg.mqtt.batch_ms = 60000;
    cfg.mqtt.inflight = 2;
    CHECK_MSG(publish_new(&cfg, s, clock_wall_ms(), &p, &err) == 0, "%s", err.msg);
    publish_io(p, 0, clock_mono_ms());
    stub_connack(0);
    int64_t seqs[3];
    for (int i = 0; i < 3; i++)
        seqs[i] = reading(s, 1 + i);
    CHECK(store_commit(s) == 0);
    int before = stub.npub;
    CHECK(publish_pump(p) == 0 && stub.npub == before);

    /* An alert committed while the batch waits goes at once, alone, on its v1 topic. */
    CHECK(store_append_event(s, &dev, OUTBOX_ALERT, clock_wall_ms(),
                             "{\"event\":\"raised\",\"id\":\"manhole-3:high_level:2\"}", &ev) == 0);
    CHECK(store_commit(s) == 0);
    CHECK(publish_pump(p) == 1 && stub.npub == before + 1);
    const struct stub_publish *alert = &stub.pub[before];
    CHECK_MSG(strstr(alert->topic, "/alerts") && strstr(alert->payload, "\"v\":1"), "%s", alert->topic);

    /* Due (batch_ms 0 sends what is there): one message with the four readings, each with its
     * seq, on <prefix>/v2/readings. */
    cfg.mqtt.batch_ms = 0;
    CHECK(publish_pump(p) == 1 && stub.npub == before + 2);
    const struct stub_publish *bat = &stub.pub[before + 1];
    CHECK_MSG(!strcmp(bat->topic, "caretaker/hongmei/gw-01/v2/readings") && !bat->retain, "%s", bat->topic);
    static const char opening[] =
        "{\"v\":2,\"gateway\":\"gw-01\",\"devices\":[{\"device\":\"manhole-3\",\"points\":[\"level\"],\"readings\":[";
    CHECK_MSG(strncmp(bat->payload, opening, sizeof opening - 1) == 0, "%s", bat->payload);
    char want[64];
    snprintf(want, sizeof want, "{\"seq\":%lld,", (long long)r1);
    CHECK_CONTAINS(bat->payload, want);
    for (int i = 0; i < 3; i++) {
        snprintf(want, sizeof want, "{\"seq\":%lld,", (long long)seqs[i]);
        CHECK_CONTAINS(bat->payload, want);
    }
    publish_get_stats(p, &st);
    CHECK(st.inflight == 2); /* messages, not rows: the window of 2 is full */

    /* An alert committed while the window is full waits for room and is not skipped: the
     * cursor goes back to it. */
    CHECK(store_append_event(s, &dev, OUTBOX_ALERT, clock_wall_ms(),
                             "{\"event\":\"raised\",\"id\":\"manhole-3:high_level:3\"}", &ev) == 0);
    reading(s, 9);
    CHECK(store_commit(s) == 0);
    CHECK(publish_pump(p) == 0 && stub.npub == before + 2);
    stub_ack(alert->mid, 0);
    CHECK(publish_pump(p) == 1 && stub.npub == before + 3); /* the alert; the reading waits for room */
    const struct stub_publish *alert3 = &stub.pub[before + 2];
    CHECK_MSG(strstr(alert3->topic, "/alerts") && strstr(alert3->payload, "high_level:3"), "%s", alert3->payload);

    /* Refused: all four stay unsent. The alerts acknowledged: sent. */
    stub_ack(bat->mid, 0x97);
    stub_ack(alert3->mid, 0);
    CHECK(store_commit(s) == 0);
    CHECK(unsent(s) == 5); /* the four refused and the reading waiting */
    publish_get_stats(p, &st);
    CHECK(st.refused == 4 && st.acked == 2 && st.inflight == 0);

    /* The waiting reading and two new ones in one message, acknowledged: all marked sent. */
    reading(s, 7);
    reading(s, 8);
    CHECK(store_commit(s) == 0);
    CHECK(publish_pump(p) == 1);
    const struct stub_publish *three = &stub.pub[stub.npub - 1];
    CHECK_MSG(strstr(three->topic, "/v2/readings") && strstr(three->payload, "\"seq\":9,") &&
                  strstr(three->payload, "\"values\":[9],\"full\":true,") &&
                  strstr(three->payload, "\"values\":[7],\"full\":true,") &&
                  strstr(three->payload, "\"values\":[8],\"full\":true,") && strstr(three->payload, "}]}]}"),
              "%s", three->payload);
    stub_ack(three->mid, 0);
    CHECK(store_commit(s) == 0);
    CHECK(unsent(s) == 4);

    publish_free(p);
    store_close(s);
    unlink(db);
    char side[sizeof db + 8];
    snprintf(side, sizeof side, "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db);
    unlink(side);
    return check_report();
}
