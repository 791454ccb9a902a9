/* bench_e2e_sub: the counting subscriber of the end-to-end benchmarks — counts what a broker
 * delivers (messages, and values inside them: "a value counts as a reading") and, per topic,
 * which polls of a window arrived, so a runner can tell delivered readings/s and whether every
 * reading the load should have produced arrived.
 *
 * usage: bench_e2e_sub HOST PORT TOPIC...   (subscribes at QoS 1, prints READY after SUBACK)
 * stdin, one command a line, one reply line each:
 *   count              -> COUNT <messages> <values> <unparsed>
 *   arm T0_MS T1_MS    -> OK; from now on, keep per topic the messages read at the source in
 *                         [T0, T1) (Unix ms)
 *   span P_MS          -> SPAN <topics> <values> <expected> <untracked>: topics seen in the
 *                         armed window, values in them, values a poller every P_MS would have
 *                         produced on those topics over the window (see span_expected), and
 *                         messages of the window left out because the topic table was full
 *   quit               -> exits 0
 *
 * Payloads understood (anything else counts as one message, zero values, "unparsed"):
 *   {"ts":<ms>,...,"values":{"a":1,...}}  Caretaker's readings and the Node-RED flow's: one value
 *                                         per member of "values" (members are numbers)
 *   <seconds>:<value>[:<value>...]        collectd's mqtt plugin: one value per field */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

/* Enough for 600 Caretaker devices or 50 collectd hosts of 14 topics each, with room to
 * keep probe chains short. */
#define TOPICS 8192
#define TOPIC_MAX 160

struct topic_stat {
    char name[TOPIC_MAX];
    long long first, last;  /* source times (ms) of the first and last message in the window */
    long long messages, values;
    long max_values;        /* values of a full poll on this topic */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long long messages, values, unparsed, untracked;
static long long arm_t0, arm_t1 = -1;
static struct topic_stat topics[TOPICS];
static int ntopics;
static int subscribed;
static pthread_cond_t subscribed_cond = PTHREAD_COND_INITIALIZER;

/* Members of the flat object starting at p (just past its '{'): the colons before its '}'.
 * Values are numbers, so no string or nesting can hide a colon or a brace. */
static long count_members(const char *p, const char *end)
{
    long n = 0;
    for (; p < end && *p != '}'; p++)
        if (*p == ':')
            n++;
    return n;
}

/* Returns values found; *ts_ms is the source time or -1. */
static long parse_payload(const char *p, int len, long long *ts_ms)
{
    const char *end = p + len;
    *ts_ms = -1;
    if (len > 0 && p[0] == '{') {
        /* The payload is not NUL-terminated; memmem keeps the scan inside it. */
        const char *v = memmem(p, (size_t)len, "\"values\":{", 10);
        const char *t = memmem(p, (size_t)len, "\"ts\":", 5);
        if (!v)
            return -1;
        if (t) {
            char buf[32];
            size_t n = (size_t)(end - (t + 5));
            if (n > sizeof buf - 1)
                n = sizeof buf - 1;
            memcpy(buf, t + 5, n);
            buf[n] = '\0';
            char *stop;
            errno = 0;
            long long ms = strtoll(buf, &stop, 10);
            if (errno == 0 && stop != buf)
                *ts_ms = ms;
        }
        return count_members(v + 10, end);
    }
    char buf[256];
    if (len <= 0 || (size_t)len >= sizeof buf)
        return -1;
    memcpy(buf, p, (size_t)len);
    buf[len] = '\0';
    char *stop;
    errno = 0;
    double s = strtod(buf, &stop);
    if (errno != 0 || stop == buf || *stop != ':')
        return -1;
    *ts_ms = (long long)(s * 1000.0);
    long n = 0;
    for (const char *q = stop; *q; q++)
        if (*q == ':')
            n++;
    return n;
}

/* FNV-1a over the topic; open addressing, so a lookup is a short probe. */
static struct topic_stat *topic_slot(const char *name)
{
    size_t len = strlen(name);
    if (len >= TOPIC_MAX)
        return NULL;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 16777619u;
    for (int probe = 0; probe < TOPICS; probe++) {
        struct topic_stat *t = &topics[(h + (uint32_t)probe) % TOPICS];
        if (t->name[0] == '\0') {
            if (ntopics >= TOPICS / 2)
                return NULL;    /* keep probes short rather than fill the table */
            memcpy(t->name, name, len + 1);
            ntopics++;
            return t;
        }
        if (strcmp(t->name, name) == 0)
            return t;
    }
    return NULL;
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    (void)m;
    (void)ud;
    long long ts;
    long n = parse_payload(msg->payload, msg->payloadlen, &ts);
    pthread_mutex_lock(&lock);
    messages++;
    if (n < 0) {
        unparsed++;
    } else {
        values += n;
        if (arm_t1 >= 0 && ts >= arm_t0 && ts < arm_t1) {
            struct topic_stat *t = topic_slot(msg->topic);
            if (!t) {
                untracked++;
            } else {
                if (t->messages == 0 || ts < t->first)
                    t->first = ts;
                if (t->messages == 0 || ts > t->last)
                    t->last = ts;
                t->messages++;
                t->values += n;
                if (n > t->max_values)
                    t->max_values = n;
            }
        }
    }
    pthread_mutex_unlock(&lock);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int qos_count, const int *granted)
{
    (void)m;
    (void)ud;
    (void)mid;
    (void)qos_count;
    (void)granted;
    pthread_mutex_lock(&lock);
    subscribed++;
    pthread_cond_broadcast(&subscribed_cond);
    pthread_mutex_unlock(&lock);
}

/* Polls a topic should have delivered in [arm_t0, arm_t1) at one every p_ms, from what did
 * arrive: the span between its first and last message in whole periods (rounded, so the
 * jitter of a source time costs nothing, while a poller slower than its interval shows as
 * short even when no single poll is missing), plus the whole periods before the first and
 * after the last, which were not delivered at all. */
static double span_expected(const struct topic_stat *t, double p_ms)
{
    double polls = round((double)(t->last - t->first) / p_ms) + 1.0
                   + floor((double)(t->first - arm_t0) / p_ms)
                   + floor((double)(arm_t1 - 1 - t->last) / p_ms);
    return polls * (double)t->max_values;
}

static void reply_span(double p_ms)
{
    long long seen = 0, vals = 0;
    double expected = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < TOPICS; i++) {
        const struct topic_stat *t = &topics[i];
        if (t->name[0] == '\0' || t->messages == 0)
            continue;
        seen++;
        vals += t->values;
        expected += span_expected(t, p_ms);
    }
    printf("SPAN %lld %lld %.1f %lld\n", seen, vals, expected, untracked);
    pthread_mutex_unlock(&lock);
}

static void arm(long long t0, long long t1)
{
    pthread_mutex_lock(&lock);
    memset(topics, 0, sizeof topics);
    ntopics = 0;
    untracked = 0;
    arm_t0 = t0;
    arm_t1 = t1;
    pthread_mutex_unlock(&lock);
}

static int parse_port(const char *s, int *out)
{
    char *stop;
    errno = 0;
    long v = strtol(s, &stop, 10);
    if (errno != 0 || stop == s || *stop || v < 1 || v > 65535)
        return -1;
    *out = (int)v;
    return 0;
}

static int serve_stdin(void)
{
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        long long t0, t1;
        double p_ms;
        if (strncmp(line, "count", 5) == 0) {
            pthread_mutex_lock(&lock);
            printf("COUNT %lld %lld %lld\n", messages, values, unparsed);
            pthread_mutex_unlock(&lock);
        } else if (sscanf(line, "arm %lld %lld", &t0, &t1) == 2 && t1 > t0) {
            arm(t0, t1);
            printf("OK\n");
        } else if (sscanf(line, "span %lf", &p_ms) == 1 && p_ms > 0) {
            reply_span(p_ms);
        } else if (strncmp(line, "quit", 4) == 0) {
            return 0;
        } else {
            printf("ERR unknown command\n");
        }
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int port;
    if (argc < 4 || parse_port(argv[2], &port) < 0) {
        fprintf(stderr, "usage: bench_e2e_sub HOST PORT TOPIC...\n");
        return 2;
    }
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(NULL, true, NULL);
    if (!m)
        return 1;
    mosquitto_message_callback_set(m, on_message);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    int rc = mosquitto_connect(m, argv[1], port, 30);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bench_e2e_sub: connect %s:%d: %s\n", argv[1], port, mosquitto_strerror(rc));
        return 1;
    }
    for (int i = 3; i < argc; i++)
        if ((rc = mosquitto_subscribe(m, NULL, argv[i], 1)) != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "bench_e2e_sub: subscribe %s: %s\n", argv[i], mosquitto_strerror(rc));
            return 1;
        }
    if ((rc = mosquitto_loop_start(m)) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bench_e2e_sub: %s\n", mosquitto_strerror(rc));
        return 1;
    }
    pthread_mutex_lock(&lock);
    while (subscribed < argc - 3)
        pthread_cond_wait(&subscribed_cond, &lock);
    pthread_mutex_unlock(&lock);
    printf("READY\n");
    fflush(stdout);
    rc = serve_stdin();
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return rc;
}
