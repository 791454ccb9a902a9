/* stub_mosquitto: the broker side of the link-time libmosquitto stand-in (stub_mosquitto.c). */
#ifndef CARETAKER_STUB_MOSQUITTO_H
#define CARETAKER_STUB_MOSQUITTO_H

#include <mosquitto.h>
#include <stdbool.h>

#define STUB_MAX_PUB 64

struct stub_publish {
    char topic[256];
    char payload[2048];
    int mid, qos;
    bool retain;
};

struct stub_state {
    void *obj;                  /* the publisher, as libmosquitto would hand it to callbacks */
    int clients, connects, next_mid, npub;
    struct stub_publish pub[STUB_MAX_PUB];
};

extern struct stub_state stub;

/* The broker answers the CONNECT (0: accepted), or acknowledges message mid with an MQTT 5
 * reason code (0 success, >= 0x80 a refusal). */
void stub_connack(int rc);
void stub_ack(int mid, int reason);
/* The first message published at or after index from whose topic ends with suffix. */
const struct stub_publish *stub_find(const char *suffix, int from);

#endif
