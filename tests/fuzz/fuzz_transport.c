/* fuzz_transport: a hostile peer's reply bytes through the real transport_read of every
 * transport — RTU on a pty, Modbus TCP on a loopback connection, RTU over a DTU that
 * registered on the real listener — so any read or copy past a buffer, whatever frame causes
 * it, is caught, not one frame.
 * Input: flags, table, count, then the peer's bytes. flags bits 0-1: transport (0 and 3 RTU,
 * 1 TCP, 2 DTU); bit 2: TCP, the request's transaction id over the first two bytes; bit 3:
 * a CRC-16/MODBUS of the bytes after them; bit 4: the bytes sent 64 times over (a stream the
 * next request's flush meets). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Short, so a partial frame costs little; long enough for a pty or loopback round trip. */
#define TIMEOUT_MS 5
#define MAX_BYTES 1024

enum { K_RTU, K_TCP, K_DTU, NKINDS };

struct side {
    struct bus_config cfg;
    struct transport *t;
    int peer;   /* our end of the wire: pty master, accepted socket, the DTU's socket */
    int listen; /* TCP: the server socket the transport dials */
};

static struct side sides[NKINDS];

/* One reply for the peer thread to send once the request is in. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int posted, served;
    int fd, flags;
    uint8_t bytes[MAX_BYTES + 2];
    size_t len;
} job = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void send_some(int fd, const uint8_t *b, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, b + done, n - done);
        if (w <= 0)
            return; /* full (non-blocking) or gone: what did not fit is not sent */
        done += (size_t)w;
    }
}

static void *peer_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&job.lock);
    for (;;) {
        while (!job.posted)
            pthread_cond_wait(&job.cond, &job.lock);
        /* The request comes within the transport's timeout or not at all (a flush may refuse
         * first); the lock is held so the job cannot change under us. */
        struct pollfd p = {.fd = job.fd, .events = POLLIN};
        uint8_t req[MBRTU_MAX + 16];
        if (poll(&p, 1, TIMEOUT_MS * 5) > 0) {
            ssize_t r = read(job.fd, req, sizeof req);
            if (r > 0) {
                if ((job.flags & 4) && job.len >= 2 && r >= 2)
                    memcpy(job.bytes, req, 2);
                for (int i = 0; i < ((job.flags & 16) ? 64 : 1); i++)
                    send_some(job.fd, job.bytes, job.len);
            }
        }
        job.posted = 0;
        job.served = 1;
        pthread_cond_broadcast(&job.cond);
    }
    return NULL;
}

static void bus_common(struct bus_config *c, enum bus_type type, const char *id)
{
    memset(c, 0, sizeof *c);
    c->type = type;
    snprintf(c->id, sizeof c->id, "%s", id);
    c->timeout_ms = TIMEOUT_MS;
}

static int loopback_listener(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 8) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
        abort();
    *port = ntohs(sa.sin_port);
    return fd;
}

/* The DTU's configuration and registration, in one place for when registering changes. */
static const char dtu_registration[] = "FUZZDTU01";

static void dtu_config(struct bus_config *c, int port)
{
    bus_common(c, BUS_DTU, "fuzz-dtu");
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = port;
    snprintf(c->dtu_id, sizeof c->dtu_id, "%s", dtu_registration);
    c->register_len = (int)strlen(dtu_registration);
    memcpy(c->register_packet, dtu_registration, (size_t)c->register_len);
    c->heartbeat_len = 2;
    memcpy(c->heartbeat, "HB", 2);
}

/* Dials the listener as the DTU and registers. The socket, or -1. */
static int dtu_dial(int port)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        write(fd, dtu_registration, sizeof dtu_registration - 1) != (ssize_t)(sizeof dtu_registration - 1)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static void setup(void)
{
    log_set_level(LOG_LVL_ERR);
    /* The peer writes to connections the transport has just closed. */
    signal(SIGPIPE, SIG_IGN);
    struct side *r = &sides[K_RTU];
    r->peer = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (r->peer < 0 || grantpt(r->peer) < 0 || unlockpt(r->peer) < 0)
        abort();
    bus_common(&r->cfg, BUS_RTU, "fuzz-rtu");
    snprintf(r->cfg.port, sizeof r->cfg.port, "%s", ptsname(r->peer));
    r->cfg.baud = 115200;
    r->cfg.data_bits = 8;
    r->cfg.parity = 'N';
    r->cfg.stop_bits = 1;

    struct side *c = &sides[K_TCP];
    bus_common(&c->cfg, BUS_TCP, "fuzz-tcp");
    snprintf(c->cfg.host, sizeof c->cfg.host, "127.0.0.1");
    c->listen = loopback_listener(&c->cfg.tcp_port);
    c->peer = -1;

    /* A free port for the DTU listener: taken and let go (nothing else here binds ports). */
    struct side *d = &sides[K_DTU];
    int port, probe = loopback_listener(&port);
    close(probe);
    dtu_config(&d->cfg, port);
    d->peer = -1;

    for (int k = 0; k < NKINDS; k++)
        if (!(sides[k].t = transport_new(&sides[k].cfg)))
            abort();
    pthread_t th;
    if (pthread_create(&th, NULL, peer_thread, NULL) != 0)
        abort();
}

/* Connects the transport of kind k if it is not, with its peer end. 0, or -1. */
static int ensure_connected(int k)
{
    struct side *s = &sides[k];
    if (s->t->connected)
        return 0;
    if (k == K_RTU)
        return transport_connect(s->t);
    if (k == K_TCP) {
        if (s->peer >= 0)
            close(s->peer);
        s->peer = -1;
        if (transport_connect(s->t) < 0)
            return -1;
        s->peer = accept4(s->listen, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        return s->peer < 0 ? -1 : 0;
    }
    /* DTU: its connection may still stand (only our side was closed); else dial again and
     * wait for the listener to take the registration. The first connect starts the listener. */
    if (transport_connect(s->t) == 0)
        return s->peer >= 0 ? 0 : -1;
    if (s->peer >= 0)
        close(s->peer);
    s->peer = dtu_dial(s->cfg.listen_port);
    if (s->peer < 0)
        return -1;
    for (int64_t until = clock_mono_ms() + 2000; clock_mono_ms() < until;) {
        if (transport_connect(s->t) == 0)
            return 0;
        poll(NULL, 0, 1);
    }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    if (size < 3 || size - 3 > MAX_BYTES)
        return 0;
    int flags = data[0], k = (flags & 3) == 3 ? K_RTU : flags & 3;
    int table = data[1] & 3;
    uint16_t count = (uint16_t)(1 + data[2] % 125);
    struct side *s = &sides[k];
    if (ensure_connected(k) < 0)
        return 0;

    pthread_mutex_lock(&job.lock);
    job.fd = s->peer;
    job.flags = flags;
    job.len = size - 3;
    memcpy(job.bytes, data + 3, job.len);
    if (flags & 8) {
        uint16_t crc = mbrtu_crc16(job.bytes, job.len);
        job.bytes[job.len++] = (uint8_t)(crc & 0xFF);
        job.bytes[job.len++] = (uint8_t)(crc >> 8);
    }
    job.posted = 1;
    job.served = 0;
    pthread_cond_broadcast(&job.cond);
    pthread_mutex_unlock(&job.lock);

    uint16_t regs[125];
    uint8_t bits[125];
    int exc = -1;
    enum mb_status st = transport_read(s->t, 1, table, 0, count, TIMEOUT_MS, regs, bits, &exc);

    pthread_mutex_lock(&job.lock);
    while (!job.served)
        pthread_cond_wait(&job.cond, &job.lock);
    pthread_mutex_unlock(&job.lock);

    /* Every outcome is one of the five, and each but a good reply says why. */
    switch (st) {
    case MB_OK:
        break;
    case MB_EXCEPTION:
    case MB_TIMEOUT:
    case MB_BAD:
    case MB_LINK:
        if (s->t->err[0] == '\0')
            abort();
        break;
    default:
        abort();
    }
    return 0;
}
