/* stub_mosquitto: a link-time stand-in for libmosquitto, so the publisher's ordering rules are
 * tested without a broker. Defined in the test executable, these functions take the place of
 * the shared library's; the test plays the broker through stub_connack and stub_ack and reads
 * what was published from stub_pub. */
#include "stub_mosquitto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct stub_state stub;

static struct {
    int fds[2];
    void (*on_connect)(struct mosquitto *, void *, int, int, const mosquitto_property *);
    void (*on_disconnect)(struct mosquitto *, void *, int);
    void (*on_publish)(struct mosquitto *, void *, int, int, const mosquitto_property *);
    void (*on_message)(struct mosquitto *, void *, const struct mosquitto_message *);
} cb;

static struct mosquitto *handle(void)
{
    return (struct mosquitto *)&stub;
}

void stub_connack(int rc)
{
    if (cb.on_connect)
        cb.on_connect(handle(), stub.obj, rc, 0, NULL);
}

void stub_ack(int mid, int reason)
{
    if (cb.on_publish)
        cb.on_publish(handle(), stub.obj, mid, reason, NULL);
}

const struct stub_publish *stub_find(const char *suffix, int from)
{
    size_t n = strlen(suffix);
    for (int i = from; i < stub.npub; i++) {
        size_t t = strlen(stub.pub[i].topic);
        if (t >= n && strcmp(stub.pub[i].topic + t - n, suffix) == 0)
            return &stub.pub[i];
    }
    return NULL;
}

int mosquitto_lib_init(void)
{
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_lib_cleanup(void)
{
    return MOSQ_ERR_SUCCESS;
}

struct mosquitto *mosquitto_new(const char *id, bool clean_session, void *obj)
{
    (void)id;
    (void)clean_session;
    stub.obj = obj;
    stub.clients++;
    return handle();
}

void mosquitto_destroy(struct mosquitto *mosq)
{
    (void)mosq;
    stub.clients--;
}

int mosquitto_int_option(struct mosquitto *mosq, enum mosq_opt_t option, int value)
{
    (void)mosq;
    (void)option;
    (void)value;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_will_set(struct mosquitto *mosq, const char *topic, int len, const void *payload, int qos, bool retain)
{
    (void)mosq, (void)topic, (void)len, (void)payload, (void)qos, (void)retain;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_username_pw_set(struct mosquitto *mosq, const char *username, const char *password)
{
    (void)mosq, (void)username, (void)password;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_connect_bind_v5(struct mosquitto *mosq, const char *host, int port, int keepalive,
                              const char *bind_address, const mosquitto_property *properties)
{
    (void)mosq, (void)port, (void)keepalive, (void)bind_address, (void)properties;
    /* As the library: with no host it keeps the properties for the next connect and says so
     * with MOSQ_ERR_INVAL (the publisher relies on this to send Maximum Packet Size). */
    return host ? MOSQ_ERR_SUCCESS : MOSQ_ERR_INVAL;
}

int mosquitto_connect_async(struct mosquitto *mosq, const char *host, int port, int keepalive)
{
    (void)mosq, (void)host, (void)port, (void)keepalive;
    stub.connects++;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_disconnect(struct mosquitto *mosq)
{
    (void)mosq;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_socket(struct mosquitto *mosq)
{
    (void)mosq;
    if (!cb.fds[0] && pipe(cb.fds) < 0)
        return -1;
    return cb.fds[0];
}

bool mosquitto_want_write(struct mosquitto *mosq)
{
    (void)mosq;
    return false;
}

int mosquitto_loop_read(struct mosquitto *mosq, int max_packets)
{
    (void)mosq, (void)max_packets;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_loop_write(struct mosquitto *mosq, int max_packets)
{
    (void)mosq, (void)max_packets;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_loop_misc(struct mosquitto *mosq)
{
    (void)mosq;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_subscribe(struct mosquitto *mosq, int *mid, const char *sub, int qos)
{
    (void)mosq, (void)sub, (void)qos;
    if (mid)
        *mid = ++stub.next_mid;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_publish(struct mosquitto *mosq, int *mid, const char *topic, int payloadlen, const void *payload,
                      int qos, bool retain)
{
    (void)mosq;
    int m = ++stub.next_mid;
    if (mid)
        *mid = m;
    if (stub.npub < STUB_MAX_PUB) {
        struct stub_publish *p = &stub.pub[stub.npub++];
        snprintf(p->topic, sizeof p->topic, "%s", topic);
        size_t n = (size_t)payloadlen < sizeof p->payload - 1 ? (size_t)payloadlen : sizeof p->payload - 1;
        memcpy(p->payload, payload, n);
        p->payload[n] = '\0';
        p->mid = m;
        p->qos = qos;
        p->retain = retain;
    }
    return MOSQ_ERR_SUCCESS;
}

void mosquitto_connect_v5_callback_set(struct mosquitto *mosq,
                                       void (*on_connect)(struct mosquitto *, void *, int, int,
                                                          const mosquitto_property *))
{
    (void)mosq;
    cb.on_connect = on_connect;
}

void mosquitto_disconnect_callback_set(struct mosquitto *mosq, void (*on_disconnect)(struct mosquitto *, void *, int))
{
    (void)mosq;
    cb.on_disconnect = on_disconnect;
}

void mosquitto_publish_v5_callback_set(struct mosquitto *mosq,
                                       void (*on_publish)(struct mosquitto *, void *, int, int,
                                                          const mosquitto_property *))
{
    (void)mosq;
    cb.on_publish = on_publish;
}

void mosquitto_message_callback_set(struct mosquitto *mosq,
                                    void (*on_message)(struct mosquitto *, void *, const struct mosquitto_message *))
{
    (void)mosq;
    cb.on_message = on_message;
}

void mosquitto_log_callback_set(struct mosquitto *mosq, void (*on_log)(struct mosquitto *, void *, int, const char *))
{
    (void)mosq, (void)on_log;
}

int mosquitto_property_add_int32(mosquitto_property **proplist, int identifier, uint32_t value)
{
    (void)proplist, (void)identifier, (void)value;
    return MOSQ_ERR_SUCCESS;
}

void mosquitto_property_free_all(mosquitto_property **properties)
{
    if (properties)
        *properties = NULL;
}

const char *mosquitto_strerror(int mosq_errno)
{
    (void)mosq_errno;
    return "stub error";
}

const char *mosquitto_reason_string(int reason_code)
{
    return reason_code >= 0x80 ? "refused (stub)" : "success (stub)";
}

const char *mosquitto_connack_string(int connack_code)
{
    (void)connack_code;
    return "stub";
}
