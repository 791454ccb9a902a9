/* transport_dtu: Modbus RTU over a TCP connection that a 4G DTU opens to us ("transparent
 * transmission"). We are the server: the DTU sits behind carrier NAT, connects, sends its
 * registration packet (IMEI, ICCID or a configured literal), then heartbeats, and carries RTU
 * frames both ways. It is known by its registration id, never by its socket.
 *
 * Design (docs/dtu.md): one listener thread per listening address, shared by every DTU bus
 * on it (and by `caretaker probe --dtu-listen`), started by the first transport that asks and
 * stopped with the last. The listener only accepts and reads registrations; each registered
 * id has a slot holding its current connection. A bus's poller takes its own dup() of the
 * slot's socket, so the listener can replace a connection at any time without closing a
 * descriptor under the poller's feet: shutdown() on the old socket wakes the poller, which
 * then finds the new one.
 *
 * Invariants: one connection per id — a second connection claiming an id replaces the first,
 * which is closed and logged (a DTU that redialled after a NAT timeout leaves a dead socket
 * behind; the newest is the live one). One request outstanding per DTU (its RS-485 side is
 * half duplex); input left from before a request (heartbeats, late replies) is dropped before
 * it is sent. */
#include "transport.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* A DTU sends its registration at once on connecting (practice: within a second); a
 * connection that says nothing recognisable for this long is closed. */
#define REGISTER_TIMEOUT_MS 15000
#define MAX_PENDING 32
#define REG_BUF 128

struct dtu_listener;

struct dtu_slot {
    struct dtu_listener *ls;
    char owner[NAME_MAX_LEN];           /* bus id, for logs */
    char id[DTU_ID_MAX_LEN];
    uint8_t reg[DTU_LITERAL_MAX];
    size_t reglen;
    int fd;                             /* current connection, -1 none (hub_lock) */
    uint64_t gen;                       /* bumped on every new connection (hub_lock) */
    char peer[64];
    struct dtu_slot *next;
};

struct pending_conn {
    int fd;
    char peer[64];
    int64_t deadline;
    uint8_t buf[REG_BUF];
    size_t len;
};

struct dtu_listener {
    char host[TEXT_MAX_LEN];
    int port;
    char name[80];                      /* "0.0.0.0:9000", for logs */
    int fd;
    int wake[2];
    pthread_t thread;
    struct dtu_slot *slots;
    struct pending_conn pend[MAX_PENDING];
    int npend;
    struct complaint unknown;
    struct dtu_listener *next;
};

static pthread_mutex_t hub_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dtu_listener *listeners;

struct dtu {
    struct transport base;
    const struct bus_config *cfg;
    struct dtu_slot *slot;
    int fd;                             /* our dup of slot->fd */
    uint64_t gen;
    struct mbrtu_skip skip;
    uint8_t buf[MBRTU_MAX * 2];
    size_t have;
};

static void peer_name(const struct sockaddr_storage *sa, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    snprintf(out, n, "%s:%d", host, port);
}

/* The registration as it reads in a log: printable ASCII as is, other bytes as \xNN. */
static void printable(const uint8_t *b, size_t n, char *out, size_t outlen)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 5 < outlen; i++)
        k += (size_t)(isprint(b[i]) && b[i] != '"' && b[i] != '\\' ? snprintf(out + k, outlen - k, "%c", b[i])
                                                                     : snprintf(out + k, outlen - k, "\\x%02x", b[i]));
    out[k] = '\0';
}

/* Longest slot whose registration packet opens buf and is followed by nothing, or by a byte
 * that cannot continue an id (so "86800000000001" does not claim "868000000000012").
 * Sets *undecided when more bytes could still make a match. hub_lock held. */
static struct dtu_slot *match_registration(struct dtu_listener *ls, const uint8_t *buf, size_t len, int *undecided)
{
    struct dtu_slot *best = NULL;
    *undecided = 0;
    for (struct dtu_slot *s = ls->slots; s; s = s->next) {
        size_t m = len < s->reglen ? len : s->reglen;
        if (memcmp(buf, s->reg, m) != 0)
            continue;
        if (len < s->reglen) {
            *undecided = 1;
            continue;
        }
        if (len > s->reglen && isalnum(buf[s->reglen]))
            continue;
        if (!best || s->reglen > best->reglen)
            best = s;
    }
    return best;
}

static void pending_drop(struct dtu_listener *ls, int i, int close_fd)
{
    if (close_fd)
        close(ls->pend[i].fd);
    ls->pend[i] = ls->pend[--ls->npend];
}

static void attach(struct dtu_listener *ls, int i, struct dtu_slot *s)
{
    struct pending_conn *p = &ls->pend[i];
    int old = s->fd;
    char old_peer[64];
    snprintf(old_peer, sizeof old_peer, "%s", s->peer);
    s->fd = p->fd;
    s->gen++;
    snprintf(s->peer, sizeof s->peer, "%s", p->peer);
    if (old >= 0) {
        /* Wakes a poller blocked on its dup of the old socket; the descriptor is ours to close. */
        shutdown(old, SHUT_RDWR);
        close(old);
        log_notice("bus %s: DTU %s: new connection from %s replaces the one from %s, which is closed", s->owner,
                   s->id, p->peer, old_peer);
    } else {
        log_notice("bus %s: DTU %s: registered from %s (listening on %s)", s->owner, s->id, p->peer, ls->name);
    }
    log_release(&ls->unknown);
    pending_drop(ls, i, 0);
}

static void reject(struct dtu_listener *ls, int i, const char *why)
{
    struct pending_conn *p = &ls->pend[i];
    char text[REG_BUF * 4 + 1];
    uint32_t held;
    printable(p->buf, p->len, text, sizeof text);
    if (log_complain(&ls->unknown, clock_mono_ms(), &held))
        log_warn("dtu %s: connection from %s %s \"%s\"; closed (%u similar held back)", ls->name, p->peer, why, text,
                 held);
    pending_drop(ls, i, 1);
}

static void pending_read(struct dtu_listener *ls, int i)
{
    struct pending_conn *p = &ls->pend[i];
    ssize_t r = recv(p->fd, p->buf + p->len, sizeof p->buf - p->len, MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        log_debug("dtu %s: connection from %s closed before it registered", ls->name, p->peer);
        pending_drop(ls, i, 1);
        return;
    }
    p->len += (size_t)r;
    int undecided;
    pthread_mutex_lock(&hub_lock);
    struct dtu_slot *s = match_registration(ls, p->buf, p->len, &undecided);
    if (s)
        attach(ls, i, s);
    else if (!undecided || p->len == sizeof p->buf)
        reject(ls, i, "sent a registration no bus expects:");
    pthread_mutex_unlock(&hub_lock);
}

static void accept_all(struct dtu_listener *ls)
{
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(ls->fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        char peer[64];
        peer_name(&sa, peer, sizeof peer);
        if (ls->npend == MAX_PENDING) {
            log_warn("dtu %s: %d connections already waiting to register; refused %s", ls->name, MAX_PENDING, peer);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        struct pending_conn *p = &ls->pend[ls->npend++];
        p->fd = fd;
        p->len = 0;
        p->deadline = clock_mono_ms() + REGISTER_TIMEOUT_MS;
        snprintf(p->peer, sizeof p->peer, "%s", peer);
    }
}

static void *listener_thread(void *arg)
{
    struct dtu_listener *ls = arg;
    for (;;) {
        struct pollfd pfd[MAX_PENDING + 2];
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = ls->wake[0], .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = ls->fd, .events = POLLIN};
        int64_t now = clock_mono_ms(), next = now + 1000;
        for (int i = 0; i < ls->npend; i++) {
            pfd[n++] = (struct pollfd){.fd = ls->pend[i].fd, .events = POLLIN};
            if (ls->pend[i].deadline < next)
                next = ls->pend[i].deadline;
        }
        int np = ls->npend;
        int r = poll(pfd, (nfds_t)n, next > now ? (int)(next - now) : 0);
        if (r < 0 && errno != EINTR)
            break;
        if (pfd[0].revents)
            break;
        /* Pending entries move when one is dropped: walk from the end. */
        for (int i = np - 1; i >= 0; i--)
            if (pfd[2 + i].revents)
                pending_read(ls, i);
        now = clock_mono_ms();
        for (int i = ls->npend - 1; i >= 0; i--)
            if (ls->pend[i].deadline <= now)
                reject(ls, i, ls->pend[i].len ? "did not finish registering within 15 s; it sent" :
                                                "sent nothing within 15 s:");
        if (pfd[1].revents)
            accept_all(ls);
    }
    for (int i = ls->npend - 1; i >= 0; i--)
        pending_drop(ls, i, 1);
    return NULL;
}

static int listener_open(struct dtu_listener *ls, char *err, size_t errlen)
{
    char service[16];
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
    snprintf(service, sizeof service, "%d", ls->port);
    int gai = getaddrinfo(ls->host, service, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", ls->name, gai_strerror(gai));
        return -1;
    }
    ls->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (ls->fd >= 0)
        setsockopt(ls->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ls->fd < 0 || bind(ls->fd, res->ai_addr, res->ai_addrlen) < 0 || listen(ls->fd, 64) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", ls->name, strerror(errno));
        if (ls->fd >= 0)
            close(ls->fd);
        ls->fd = -1;
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    if (pipe2(ls->wake, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        close(ls->fd);
        return -1;
    }
    if (pthread_create(&ls->thread, NULL, listener_thread, ls) != 0) {
        snprintf(err, errlen, "cannot start the listener thread");
        close(ls->fd);
        close(ls->wake[0]);
        close(ls->wake[1]);
        return -1;
    }
    return 0;
}

/* Registers the bus's id on its listening address, starting the listener if it is the first. */
static int slot_attach(struct dtu *d, char *err, size_t errlen)
{
    const struct bus_config *c = d->cfg;
    struct dtu_slot *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(s->owner, sizeof s->owner, "%s", c->id);
    snprintf(s->id, sizeof s->id, "%s", c->dtu_id);
    memcpy(s->reg, c->register_packet, (size_t)c->register_len);
    s->reglen = (size_t)c->register_len;
    s->fd = -1;
    pthread_mutex_lock(&hub_lock);
    struct dtu_listener *ls = listeners;
    while (ls && !(ls->port == c->listen_port && strcmp(ls->host, c->listen_host) == 0))
        ls = ls->next;
    for (struct dtu_slot *o = ls ? ls->slots : NULL; o; o = o->next) {
        if (o->reglen == s->reglen && memcmp(o->reg, s->reg, s->reglen) == 0) {
            snprintf(err, errlen, "DTU %s is already served by bus %s on %s", s->id, o->owner, ls->name);
            pthread_mutex_unlock(&hub_lock);
            free(s);
            return -1;
        }
    }
    if (!ls) {
        ls = calloc(1, sizeof *ls);
        if (!ls) {
            pthread_mutex_unlock(&hub_lock);
            free(s);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        snprintf(ls->host, sizeof ls->host, "%s", c->listen_host);
        ls->port = c->listen_port;
        snprintf(ls->name, sizeof ls->name, strchr(ls->host, ':') ? "[%.60s]:%d" : "%.60s:%d", ls->host, ls->port);
        if (listener_open(ls, err, errlen) < 0) {
            pthread_mutex_unlock(&hub_lock);
            free(ls);
            free(s);
            return -1;
        }
        ls->next = listeners;
        listeners = ls;
    }
    s->ls = ls;
    s->next = ls->slots;
    ls->slots = s;
    d->slot = s;
    pthread_mutex_unlock(&hub_lock);
    return 0;
}

static void slot_detach(struct dtu *d)
{
    struct dtu_slot *s = d->slot;
    if (!s)
        return;
    struct dtu_listener *ls = s->ls, *stop = NULL;
    pthread_mutex_lock(&hub_lock);
    for (struct dtu_slot **pp = &ls->slots; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    if (s->fd >= 0)
        close(s->fd);
    if (!ls->slots) {
        for (struct dtu_listener **pp = &listeners; *pp; pp = &(*pp)->next) {
            if (*pp == ls) {
                *pp = ls->next;
                break;
            }
        }
        stop = ls;
    }
    pthread_mutex_unlock(&hub_lock);
    free(s);
    d->slot = NULL;
    if (stop) {
        /* Joined outside hub_lock: the thread takes it to attach a connection. */
        (void)!write(stop->wake[1], "x", 1);
        pthread_join(stop->thread, NULL);
        close(stop->fd);
        close(stop->wake[0]);
        close(stop->wake[1]);
        free(stop);
    }
}

/* Takes the slot's current connection if it changed since we last looked. */
static void sync_fd(struct dtu *d)
{
    pthread_mutex_lock(&hub_lock);
    if (d->gen != d->slot->gen || (d->fd < 0 && d->slot->fd >= 0)) {
        if (d->fd >= 0)
            close(d->fd);
        d->fd = d->slot->fd >= 0 ? fcntl(d->slot->fd, F_DUPFD_CLOEXEC, 0) : -1;
        d->gen = d->slot->gen;
        d->have = 0;
    }
    pthread_mutex_unlock(&hub_lock);
}

/* Our connection died: forget it in the slot too, unless a newer one already took its place. */
static void connection_lost(struct dtu *d)
{
    pthread_mutex_lock(&hub_lock);
    if (d->slot->gen == d->gen && d->slot->fd >= 0) {
        close(d->slot->fd);
        d->slot->fd = -1;
    }
    pthread_mutex_unlock(&hub_lock);
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    d->have = 0;
}

static int dtu_connect(struct transport *t)
{
    struct dtu *d = (struct dtu *)t;
    if (!d->slot && slot_attach(d, t->err, sizeof t->err) < 0)
        return -1;
    sync_fd(d);
    if (d->fd < 0) {
        snprintf(t->err, sizeof t->err, "not connected (waiting for it to register on %s)", d->slot->ls->name);
        return -1;
    }
    return 0;
}

static void dtu_close(struct transport *t)
{
    struct dtu *d = (struct dtu *)t;
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    d->have = 0;
}

static int dtu_flush(struct transport *t)
{
    struct dtu *d = (struct dtu *)t;
    d->have = 0;
    if (d->fd < 0 || transport_drain(d->fd, t->err, sizeof t->err) == 0)
        return 0;
    /* A DTU that will not stop sending is dropped; it may register again. */
    connection_lost(d);
    return -1;
}

static enum mb_status dtu_transact(struct transport *t, uint8_t unit, const uint8_t *pdu, size_t n, int timeout_ms,
                                   uint8_t *rsp_unit, uint8_t *rsp, size_t rsp_cap, size_t *rsp_len)
{
    struct dtu *d = (struct dtu *)t;
    uint8_t frame[MBRTU_MAX];
    sync_fd(d);
    if (d->fd < 0) {
        snprintf(t->err, sizeof t->err, "DTU %s disconnected", d->cfg->dtu_id);
        return MB_LINK;
    }
    if (dtu_flush(t) < 0) {
        t->connected = 0;
        return MB_BAD;
    }
    size_t flen = mbrtu_wrap(unit, pdu, n, frame), done = 0;
    int64_t deadline = clock_mono_ms() + timeout_ms;
    while (done < flen) {
        ssize_t w = send(d->fd, frame + done, flen - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        int64_t left = deadline - clock_mono_ms();
        struct pollfd p = {.fd = d->fd, .events = POLLOUT};
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || left <= 0 || poll(&p, 1, (int)left) == 0) {
            snprintf(t->err, sizeof t->err, "DTU %s: cannot send: %s", d->cfg->dtu_id,
                     w < 0 && errno != EAGAIN ? strerror(errno) : "send buffer full");
            connection_lost(d);
            return MB_LINK;
        }
    }
    size_t off = 0, len = 0;
    enum mb_status st = transport_rtu_receive(d->fd, d->buf, sizeof d->buf, &d->have, unit, pdu[0], deadline, 1,
                                              &d->skip, &off, &len, t->err, sizeof t->err);
    if (st == MB_OK) {
        st = transport_rtu_unwrap(d->buf + off, len, rsp_unit, rsp, rsp_cap, rsp_len, t->err, sizeof t->err);
        d->have = 0;
    } else if (st == MB_LINK) {
        pthread_mutex_lock(&hub_lock);
        int replaced = d->slot->gen != d->gen;
        pthread_mutex_unlock(&hub_lock);
        if (replaced)
            snprintf(t->err, sizeof t->err, "DTU %s connected again; the request on its old connection is lost",
                     d->cfg->dtu_id);
        connection_lost(d);
    } else {
        d->have = 0;
    }
    return st;
}

static void dtu_destroy(struct transport *t)
{
    struct dtu *d = (struct dtu *)t;
    dtu_close(t);
    slot_detach(d);
    free(d);
}

static const struct transport_ops dtu_ops = {
    .kind = "dtu",
    .connect = dtu_connect,
    .close = dtu_close,
    .transact = dtu_transact,
    .flush = dtu_flush,
    .destroy = dtu_destroy,
};

struct transport *transport_dtu_new(const struct bus_config *cfg)
{
    struct dtu *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->base.ops = &dtu_ops;
    d->cfg = cfg;
    d->fd = -1;
    d->skip.lit[0] = cfg->heartbeat;
    d->skip.len[0] = (size_t)cfg->heartbeat_len;
    d->skip.lit[1] = cfg->register_packet;
    d->skip.len[1] = (size_t)cfg->register_len;
    snprintf(d->base.label, sizeof d->base.label, "DTU %s", cfg->dtu_id);
    return &d->base;
}
