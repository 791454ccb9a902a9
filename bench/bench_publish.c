/* bench_publish: draining a backlog to a real broker — N stored readings (a long outage), then a
 * local mosquitto comes up and the publisher sends them all, QoS 1, marked sent on PUBACK, while
 * new polls keep arriving. Prints the time until every backlog row is acknowledged, CPU us per
 * published reading (this process only; the broker runs apart) and RSS.
 *
 * usage: bench_publish [READINGS [POLLS_PER_S [INFLIGHT [DB]]]]   (1000000, 200, 1000) */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pwd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "publish.h"
#include "queue.h"
#include "store.h"

#define POINTS 8
#define DEVICES 20

static double now_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        return -1;
    close(fd);
    return ntohs(sa.sin_port);
}

static int accepting(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A local broker on a free loopback port, with no subscriber: it acknowledges and drops. */
static pid_t start_broker(int port, const char *dir)
{
    char conf[600];
    snprintf(conf, sizeof conf, "%s/bench-mosquitto.conf", dir);
    FILE *f = fopen(conf, "w");
    if (!f)
        return -1;
    struct passwd *pw = getpwuid(getuid());
    fprintf(f, "user %s\nlistener %d 127.0.0.1\nallow_anonymous true\nlog_type error\n", pw ? pw->pw_name : "root",
            port);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("mosquitto", "mosquitto", "-c", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && pid > 0; i++) { /* up to 5 s */
        if (accepting(port))
            return pid;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    if (pid > 0)
        kill(pid, SIGTERM);
    return -1;
}

static void make_profile(struct profile *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->driver, sizeof p->driver, "bench/level");
    static const char *const names[POINTS] = {"level",  "distance", "temperature", "decimals",
                                              "status", "echo_lost", "flow",       "forward_total"};
    for (int i = 0; i < POINTS; i++) {
        snprintf(p->points[i].name, sizeof p->points[i].name, "%s", names[i]);
        p->points[i].table = TABLE_HOLDING;
    }
    p->npoints = POINTS;
}

/* One poll: a level and a distance from float32 registers, a temperature in tenths, counters. */
static void fill_msg(struct msg *m, long n)
{
    float level = 0.8f + (float)(n % 100) * 0.001f;
    m->values[0] = level;
    m->values[1] = 3.0f - level;
    m->values[2] = (double)(180 + n % 50) * 0.1;
    m->values[3] = 3;
    m->values[4] = (double)(n % 4);
    m->values[5] = 0;
    m->values[6] = 12.5 + (double)(n % 20) * 0.25;
    m->values[7] = 123456 + (double)n / 100;
    for (int k = 0; k < POINTS; k++)
        m->quality[k] = Q_OK;
}

int main(int argc, char **argv)
{
    long backlog = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    long live_rate = argc > 2 ? strtol(argv[2], NULL, 10) : 200;
    int inflight = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 1000;
    const char *path = argc > 4 ? argv[4] : "/tmp/caretaker-bench-publish.db";
    if (backlog < 1 || live_rate < 0 || inflight < 1) {
        fprintf(stderr, "usage: bench_publish [READINGS [POLLS_PER_S [INFLIGHT [DB]]]]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    static struct profile prof;
    make_profile(&prof);
    static struct device devs[DEVICES];
    struct device *ptrs[DEVICES];
    struct bus_config bus = {.ndevices = DEVICES, .devices = devs};
    snprintf(bus.id, sizeof bus.id, "bench");
    for (int i = 0; i < DEVICES; i++) {
        snprintf(devs[i].id, sizeof devs[i].id, "manhole-%d", i);
        devs[i].profile = &prof;
        devs[i].index = i;
        ptrs[i] = &devs[i];
    }
    static struct config cfg;
    cfg.nbuses = 1;
    cfg.buses = &bus;
    cfg.ndevices = DEVICES;
    cfg.devices = ptrs;
    snprintf(cfg.gateway_id, sizeof cfg.gateway_id, "gw-bench");
    cfg.has_mqtt = true;
    struct mqtt_config *mq = &cfg.mqtt;
    snprintf(mq->host, sizeof mq->host, "127.0.0.1");
    mq->qos = 1;
    mq->keepalive_s = 30;
    mq->protocol = 3;
    mq->inflight = inflight;
    snprintf(mq->client_id, sizeof mq->client_id, "caretaker-bench");
    snprintf(mq->topic_prefix, sizeof mq->topic_prefix, "caretaker/bench/gw-bench");

    /* 1. The backlog, written through the store as the core writes it */
    char aux[600];
    unlink(path);
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    struct store *s;
    struct diag err;
    diag_clear(&err);
    if (store_open(path, &s, &err) < 0 || store_register(s, &cfg, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    struct msg *m = msg_new(MSG_READING, 0, 0, POINTS);
    double w0 = now_s(CLOCK_MONOTONIC);
    int64_t ts = 1700000000000LL;
    for (long n = 0; n < backlog; n++) {
        m->device = (int)(n % DEVICES);
        m->ts_ms = ts + n * 50;
        fill_msg(m, n);
        store_append_reading(s, &devs[m->device], m, NULL);
        if (store_pending_rows(s) >= 20000)
            store_commit(s);
    }
    store_commit(s);
    /* Reopened, so the fill's write-ahead log is checkpointed away, as it would have been
     * over the hours a real backlog takes to build up. */
    store_close(s);
    if (store_open(path, &s, &err) < 0 || store_register(s, &cfg, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    double wfill = now_s(CLOCK_MONOTONIC) - w0;
    printf("backlog: %ld readings of %d values stored in %.1f s (%.0f readings/s)\n", backlog, POINTS, wfill,
           backlog / wfill);

    /* 2. The broker comes up; the publisher drains while polls keep arriving */
    int port = free_port();
    pid_t broker = port > 0 ? start_broker(port, "/tmp") : -1;
    if (broker < 0) {
        fprintf(stderr, "bench: cannot start mosquitto\n");
        return 1;
    }
    mq->port = port;
    struct publisher *p;
    if (publish_new(&cfg, s, clock_wall_ms(), &p, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        kill(broker, SIGTERM);
        return 1;
    }
    int64_t last_backlog_seq = store_committed_seq(s);
    long live = 0;
    double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    double next_poll = t0, next_report = t0 + 5;
    struct publish_stats st = {0};
    for (;;) {
        double now = now_s(CLOCK_MONOTONIC);
        /* live polls at the given rate, appended in the loop as the core thread does */
        while (live_rate && now >= next_poll) {
            m->device = (int)(live % DEVICES);
            m->ts_ms = clock_wall_ms();
            fill_msg(m, live);
            store_append_reading(s, &devs[m->device], m, NULL);
            live++;
            next_poll += 1.0 / (double)live_rate;
        }
        if (store_in_transaction(s) && clock_mono_ms() - store_pending_since_ms(s) >= 250)
            store_commit(s);
        short ev = 0;
        int fd = publish_fd(p, &ev);
        int timeout = publish_timeout_ms(p, clock_mono_ms());
        if (timeout > 5)
            timeout = 5;
        struct pollfd pf = {.fd = fd, .events = ev};
        int r = poll(&pf, fd >= 0 ? 1 : 0, timeout);
        publish_io(p, r > 0 ? pf.revents : 0, clock_mono_ms());
        publish_pump(p);
        publish_get_stats(p, &st);
        if (now >= next_report) {
            printf("  %.0f s: %llu acknowledged, %d in flight\n", now - t0, (unsigned long long)st.acked, st.inflight);
            fflush(stdout);
            next_report += 5;
        }
        if (st.acked >= (uint64_t)backlog) {
            store_commit(s);
            struct store_backlog bl;
            store_backlog(s, &bl);
            if (bl.oldest_seq == 0 || bl.oldest_seq > last_backlog_seq)
                break;
        }
        if (now - t0 > 600) {
            fprintf(stderr, "bench: gave up after 600 s\n");
            break;
        }
    }
    double wall = now_s(CLOCK_MONOTONIC) - t0, cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("drain: %ld backlog readings acknowledged in %.2f s (%.0f msg/s), %ld live polls meanwhile; "
           "%llu published in all, %.2f us CPU per published reading; window %d; max RSS %ld KiB\n",
           backlog, wall, (double)st.acked / wall, live, (unsigned long long)st.published, cpu * 1e6 / st.published,
           inflight, rss_kib());
    publish_stop(p, 2000);
    store_commit(s);
    publish_free(p);
    store_close(s);
    msg_free(m);
    kill(broker, SIGTERM);
    waitpid(broker, NULL, 0);
    unlink(path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
    return 0;
}
