/* dtu_listener: one thread per listening address, shared by every DTU bus on it (and by
 * `caretaker probe --dtu-listen`), started by the first slot that joins and stopped with the
 * last. It accepts, reads registrations, and hands a connection to the slot it names; it never
 * reads from a registered connection: each bus's poller does its own I/O on its own dup() of
 * the socket, so the listener can replace a connection at any time without closing a
 * descriptor under the poller's feet (shutdown() on the old socket wakes the poller, which then
 * finds the new one).
 *
 * Trust (docs/dtu.md, "Trust"):
 * - A source address outside every joined bus's allow list is closed at once, without a byte.
 * - A registration counts only whole, with its secret (dtu_match, constant time), from an
 *   address the bus allows. Anything else — a wrong id, a right id with a wrong secret, a
 *   half-sent packet, silence — is held until DTU_REGISTER_TIMEOUT_MS and closed then: the
 *   peer learns nothing from how long it was kept.
 * - One connection per id. A rightful second one takes over only while the current one is
 *   silent (its poller's last exchange on it went unanswered, or none came for quiet_ms);
 *   it waits for the current one's next poll to tell (a DTU that redialled after its NAT
 *   mapping died gets in without redialling again), and is refused if that is answered. One
 *   claim waits per id: a newer one closes it. A current connection its peer closed is seen at
 *   once (polled, never read) and frees the id. Every takeover is a dtu_replaced event;
 *   DTU_CONTESTED_COUNT of them within the window raise dtu_contested.
 * - A match that a longer expected packet still begins with waits briefly for more bytes.
 * - Connections still registering are capped per listener and per source address; a new one
 *   pushes out the oldest that has not proven a secret, so idle connections cannot lock a real
 *   DTU out, nor close its claim. Every refusal is logged through log_complain: a flood costs
 *   a few lines, not one per connection.
 *
 * Threads: the pending table belongs to the listener thread alone; slots are shared with the
 * pollers under dtu_hub_lock. */
#include "dtu_listener.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "dtu_match.h"

#define REG_BUF (DTU_REGISTER_MAX + 32)
/* While a rightful claim waits for the current connection to fall silent, the poller's verdict
 * is looked at this often. */
#define CLAIM_CHECK_MS 100
/* A rightful claim is held until the current connection's next poll has told whether it still
 * answers (its quiet_ms), at least the registration timeout, at most this long; a DTU whose
 * bus polls less often redials to try again. */
#define CLAIM_HOLD_MAX_MS 120000
/* Accepted per turn of the loop, so registrations already sent are read between bursts. */
#define ACCEPT_BURST 16
/* A registration that matches, while a longer expected packet still begins with it, waits this
 * long for the rest ("1234", then "5") before it is taken for the shorter one. */
#define PIECES_GRACE_MS 500
/* accept() out of descriptors or memory: the listening socket stays readable, so it is left
 * unwatched this long rather than spun on. */
#define ACCEPT_BACKOFF_MS 1000

struct pending_conn {
    int fd;
    struct sockaddr_storage sa;
    char peer[64];
    int64_t since; /* accepted (monotonic): the oldest goes first */
    int64_t deadline;
    uint8_t buf[REG_BUF];
    size_t len;
    bool claiming;                /* its packet is right; the current connection still answers:
                                   * nothing more is read from it. Never pushed out for room */
    const struct dtu_slot *claim; /* while claiming: the slot claimed (compared, never read) */
    bool superseded;              /* a newer right claim of the same slot came: closed */
    int64_t hold_until;           /* while claiming: when it is refused */
    int64_t settle;               /* a match that may yet grow: decided then; 0 none */
};

struct dtu_listener {
    char host[TEXT_MAX_LEN];
    int port;
    char name[80]; /* "0.0.0.0:9000", for logs */
    int fd;
    int wake[2];
    bool stop; /* (hub) */
    pthread_t thread;
    struct dtu_slot *slots; /* (hub) */
    struct pending_conn pend[DTU_PENDING_MAX];
    int npend;
    /* Refusals, each kind logged at growing intervals, so one kind's flood does not hide
     * another's first line; the totals go in every line. */
    struct complaint silent, unknown, impostor, crowded, outsider;
    uint64_t n_silent, n_unknown, n_impostor, n_crowded, n_outsider;
    struct complaint accept_failed;
    int64_t accept_paused_until; /* accept() ran out of descriptors or memory: not before */
    struct dtu_listener *next;
};

pthread_mutex_t dtu_hub_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dtu_listener *listeners;
/* Since the process started, over every listener: read by the core thread for metrics. */
static atomic_uint_fast64_t total_refused, total_claims_refused, total_takeovers;

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
    snprintf(out, n, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                  sizeof(struct in6_addr)) == 0;
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

static int nslots(const struct dtu_listener *ls)
{
    int n = 0;
    for (const struct dtu_slot *s = ls->slots; s; s = s->next)
        n++;
    return n;
}

/* The expected packets of the listener's slots, in slot order. dtu_hub_lock held. */
static void expectations(const struct dtu_listener *ls, struct dtu_expect *e, struct dtu_slot **by, int n)
{
    int i = 0;
    for (struct dtu_slot *s = ls->slots; s && i < n; s = s->next, i++) {
        const struct bus_config *c = s->cfg;
        e[i] = (struct dtu_expect){c->register_packet, (size_t)c->register_len, (size_t)c->secret_off,
                                   (size_t)c->secret_len};
        by[i] = s;
    }
}

/* Whether some joined bus lets this address in. dtu_hub_lock held. */
static bool admitted(const struct dtu_listener *ls, const struct sockaddr_storage *sa)
{
    for (const struct dtu_slot *s = ls->slots; s; s = s->next)
        if (!s->cfg->nallow || cidr_match_any(s->cfg->allow, s->cfg->nallow, (const struct sockaddr *)sa))
            return true;
    return false;
}

/* Whether the slot's current connection was closed by its peer (or reset). Looked at without
 * reading: the poller owns what arrives on it. dtu_hub_lock held. */
static bool hung_up(const struct dtu_slot *s)
{
    struct pollfd pfd = {.fd = s->fd, .events = POLLRDHUP};
    return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static bool slot_alive(const struct dtu_slot *s, int64_t now)
{
    return s->fd >= 0 && s->last_answered && now - s->last_ms <= s->quiet_ms;
}

/* The DTU closed its connection itself (it redials at once): the slot forgets it, as its
 * poller would on its next exchange, so the redial registers rather than takes over. */
static void forget_if_hung_up(struct dtu_slot *s)
{
    if (s->fd < 0 || !hung_up(s))
        return;
    log_info("bus %s: DTU %s: the connection from %s was closed by the DTU", s->cfg->id, s->cfg->dtu_id, s->peer);
    /* Wakes a poller blocked on its dup; the descriptor is ours to close. */
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    s->fd = -1;
    s->gen++;
}

static void pending_drop(struct dtu_listener *ls, int i)
{
    close(ls->pend[i].fd);
    ls->pend[i] = ls->pend[--ls->npend];
}

static void refused(struct dtu_listener *ls, struct complaint *c, uint64_t *count, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One refusal more: counted, and logged when the complaint allows. */
static void refused(struct dtu_listener *ls, struct complaint *c, uint64_t *count, const char *fmt, ...)
{
    uint32_t held;
    ++*count;
    atomic_fetch_add(&total_refused, 1);
    if (!log_complain(c, clock_mono_ms(), &held))
        return;
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    log_warn("dtu %s: %s (%u similar held back, %llu since start)", ls->name, what, held, (unsigned long long)*count);
}

/* Counts this takeover among the slot's latest; returns how many fall within the window and
 * sets *contested when this one makes the id contested (once per window). */
static int count_takeover(struct dtu_slot *s, int64_t now, int *contested)
{
    s->takeovers[s->ntakeovers++ % DTU_CONTESTED_COUNT] = now;
    int recent = 0;
    for (int k = 0; k < DTU_CONTESTED_COUNT && k < s->ntakeovers; k++)
        recent += now - s->takeovers[k] < DTU_CONTESTED_WINDOW_MS;
    *contested =
        recent >= DTU_CONTESTED_COUNT && (!s->contested_ms || now - s->contested_ms >= DTU_CONTESTED_WINDOW_MS);
    if (*contested)
        s->contested_ms = now;
    return recent;
}

static void tell_takeover(struct dtu_slot *s, const char *old_peer, const char *new_peer, int recent, int contested)
{
    if (!s->events)
        return;
    struct msg *m = msg_new_takeover(clock_wall_ms());
    if (!m)
        return;
    struct dtu_takeover *t = m->takeover;
    snprintf(t->bus, sizeof t->bus, "%s", s->cfg->id);
    snprintf(t->dtu_id, sizeof t->dtu_id, "%s", s->cfg->dtu_id);
    snprintf(t->old_peer, sizeof t->old_peer, "%s", old_peer);
    snprintf(t->new_peer, sizeof t->new_peer, "%s", new_peer);
    t->recent = recent;
    t->contested = contested;
    /* Never wait: the listener must not stall behind a slow store. */
    if (queue_push(s->events, m, 0) < 0) {
        log_err("bus %s: queue full, dropped the dtu_replaced event of DTU %s", s->cfg->id, s->cfg->dtu_id);
        msg_free(m);
    }
}

/* Gives the pending connection i to slot s. dtu_hub_lock held. */
static void attach(struct dtu_listener *ls, int i, struct dtu_slot *s, int64_t now)
{
    struct pending_conn *p = &ls->pend[i];
    int old = s->fd;
    char old_peer[64];
    snprintf(old_peer, sizeof old_peer, "%s", s->peer);
    s->fd = p->fd;
    s->gen++;
    s->last_ms = now;
    s->last_answered = true;
    snprintf(s->peer, sizeof s->peer, "%s", p->peer);
    if (old >= 0) {
        /* Wakes a poller blocked on its dup of the old socket; the descriptor is ours to close. */
        shutdown(old, SHUT_RDWR);
        close(old);
        int contested, recent = count_takeover(s, now, &contested);
        atomic_fetch_add(&total_takeovers, 1);
        log_notice("bus %s: DTU %s: new connection from %s replaces the one from %s, which is closed", s->cfg->id,
                   s->cfg->dtu_id, p->peer, old_peer);
        tell_takeover(s, old_peer, p->peer, recent, contested);
    } else {
        log_notice("bus %s: DTU %s: registered from %s (listening on %s)", s->cfg->id, s->cfg->dtu_id, p->peer,
                   ls->name);
    }
    log_release(&s->refused);
    ls->pend[i] = ls->pend[--ls->npend];
}

/* One right claim per slot: an older one still waiting is closed for the newer (a DTU dials
 * again when its last attempt went nowhere, so the newest is the one it is still on). */
static void supersede(struct dtu_listener *ls, int i, const struct dtu_slot *s)
{
    for (int j = 0; j < ls->npend; j++) {
        struct pending_conn *o = &ls->pend[j];
        if (j == i || !o->claiming || o->claim != s)
            continue;
        o->claiming = false;
        o->superseded = true;
        log_info("bus %s: DTU %s: the waiting connection from %s is closed for a newer one from %s", s->cfg->id,
                 s->cfg->dtu_id, o->peer, ls->pend[i].peer);
    }
}

/* Decides pending connection i on what it has sent so far: attached, left to wait, or (only
 * at its deadline) refused. */
static void judge(struct dtu_listener *ls, int i, int64_t now)
{
    struct pending_conn *p = &ls->pend[i];
    if (p->superseded) {
        atomic_fetch_add(&total_claims_refused, 1);
        pending_drop(ls, i);
        return;
    }
    pthread_mutex_lock(&dtu_hub_lock);
    int n = nslots(ls), claimed = -1;
    struct dtu_expect e[n ? n : 1];
    struct dtu_slot *by[n ? n : 1];
    expectations(ls, e, by, n);
    int k = dtu_match(e, n, p->buf, p->len, &claimed);
    if (k >= 0 && !p->claiming && now < p->deadline && dtu_match_incomplete(e, n, p->buf, p->len)) {
        /* Perhaps the first piece of a longer packet: decided when the rest comes, or at settle. */
        if (!p->settle)
            p->settle = now + PIECES_GRACE_MS < p->deadline ? now + PIECES_GRACE_MS : p->deadline;
        if (now < p->settle) {
            pthread_mutex_unlock(&dtu_hub_lock);
            return;
        }
    }
    p->settle = 0;
    struct dtu_slot *s = k >= 0 ? by[k] : NULL;
    if (s && s->cfg->nallow && !cidr_match_any(s->cfg->allow, s->cfg->nallow, (const struct sockaddr *)&p->sa))
        s = NULL; /* another bus on the port let it in; this one does not */
    bool fresh = s && !p->claiming;
    if (fresh) {
        /* Only a connection that knows the secret is held longer: it tells nothing to others. */
        int64_t hold =
            s->quiet_ms + CLAIM_CHECK_MS < CLAIM_HOLD_MAX_MS ? s->quiet_ms + CLAIM_CHECK_MS : CLAIM_HOLD_MAX_MS;
        p->hold_until = now + hold > p->deadline ? now + hold : p->deadline;
        supersede(ls, i, s);
    }
    p->claiming = s != NULL;
    p->claim = s;
    bool expired = now >= (p->claiming ? p->hold_until : p->deadline);
    if (s)
        forget_if_hung_up(s);
    if (s && !slot_alive(s, now)) {
        attach(ls, i, s, now);
        pthread_mutex_unlock(&dtu_hub_lock);
        return;
    }
    if (!expired) {
        if (fresh)
            log_info("bus %s: DTU %s: connection from %s waits up to %lld s for the current one from %s to fall "
                     "silent",
                     s->cfg->id, s->cfg->dtu_id, p->peer, (long long)(p->hold_until - now + 999) / 1000, s->peer);
        pthread_mutex_unlock(&dtu_hub_lock);
        return;
    }
    if (s) {
        uint32_t held;
        atomic_fetch_add(&total_claims_refused, 1);
        if (log_complain(&s->refused, clock_mono_ms(), &held))
            log_warn("bus %s: DTU %s: connection from %s refused: the current one from %s still answers its polls "
                     "(%u similar held back)",
                     s->cfg->id, s->cfg->dtu_id, p->peer, s->peer, held);
    } else if (p->len == 0) {
        refused(ls, &ls->silent, &ls->n_silent, "connection from %s sent nothing within %d s; closed", p->peer,
                DTU_REGISTER_TIMEOUT_MS / 1000);
    } else if (k >= 0) {
        uint32_t held;
        if (log_complain(&by[k]->refused, clock_mono_ms(), &held))
            log_warn("bus %s: DTU %s: connection from %s refused: its address is not in the bus's allow list (%u "
                     "similar held back)",
                     by[k]->cfg->id, by[k]->cfg->dtu_id, p->peer, held);
    } else if (claimed >= 0) {
        refused(ls, &ls->impostor, &ls->n_impostor,
                "connection from %s claimed DTU %s (bus %s) without its secret; closed", p->peer,
                by[claimed]->cfg->dtu_id, by[claimed]->cfg->id);
    } else {
        char text[REG_BUF * 4 + 1];
        size_t show = dtu_match_loggable(e, n, p->len);
        printable(p->buf, show, text, sizeof text);
        refused(ls, &ls->unknown, &ls->n_unknown,
                "connection from %s sent a registration no bus expects: \"%s%s\" (%zu bytes); closed", p->peer, text,
                show < p->len ? "..." : "", p->len);
    }
    pthread_mutex_unlock(&dtu_hub_lock);
    pending_drop(ls, i);
}

static void pending_read(struct dtu_listener *ls, int i, int64_t now)
{
    struct pending_conn *p = &ls->pend[i];
    uint8_t scratch[256];
    bool full = p->len == sizeof p->buf;
    /* Full and matching nothing: what comes on is dropped, and it waits for its deadline. */
    ssize_t r = full ? recv(p->fd, scratch, sizeof scratch, MSG_DONTWAIT)
                     : recv(p->fd, p->buf + p->len, sizeof p->buf - p->len, MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        log_debug("dtu %s: connection from %s closed before it registered", ls->name, p->peer);
        pending_drop(ls, i);
        return;
    }
    if (full)
        return;
    p->len += (size_t)r;
    judge(ls, i, now);
}

/* Index of the oldest pending connection that has not proven a secret (a claim is never pushed
 * out: idle connections from the DTU's own address, behind carrier NAT, would close its
 * rightful redial), of this host only when sa is given, and how many there are; -1 none. */
static int oldest(const struct dtu_listener *ls, const struct sockaddr_storage *sa, int *count)
{
    int best = -1;
    *count = 0;
    for (int i = 0; i < ls->npend; i++) {
        if (ls->pend[i].claiming || (sa && !same_host(&ls->pend[i].sa, sa)))
            continue;
        ++*count;
        if (best < 0 || ls->pend[i].since < ls->pend[best].since)
            best = i;
    }
    return best;
}

/* Closes the oldest unproven pending connection when the newcomer's address, or the table, is
 * full. False when the table holds nothing but claims: then the newcomer is the one refused. */
static bool make_room(struct dtu_listener *ls, const struct sockaddr_storage *sa, const char *newcomer)
{
    int n, i = oldest(ls, sa, &n), cap = DTU_PENDING_PER_ADDRESS;
    const char *where = "from its address";
    if (n < DTU_PENDING_PER_ADDRESS) {
        if (ls->npend < DTU_PENDING_MAX)
            return true;
        i = oldest(ls, NULL, &n);
        cap = DTU_PENDING_MAX;
        where = "in all";
    }
    if (i < 0) {
        refused(ls, &ls->crowded, &ls->n_crowded,
                "%d connections were waiting, each with a right registration; closed the new one from %s",
                DTU_PENDING_MAX, newcomer);
        return false;
    }
    refused(ls, &ls->crowded, &ls->n_crowded,
            "%d connections %s were waiting to register; closed the oldest, from %s, for one from %s", cap, where,
            ls->pend[i].peer, newcomer);
    pending_drop(ls, i);
    return true;
}

static void accept_some(struct dtu_listener *ls, int64_t now)
{
    for (int k = 0; k < ACCEPT_BURST; k++) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        memset(&sa, 0, sizeof sa);
        int fd = accept4(ls->fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                int e = errno;
                uint32_t held;
                ls->accept_paused_until = now + ACCEPT_BACKOFF_MS;
                if (log_complain(&ls->accept_failed, now, &held))
                    log_err("dtu %s: cannot accept connections: %s; trying again in %d s (%u similar held back)",
                            ls->name, strerror(e), ACCEPT_BACKOFF_MS / 1000, held);
            }
            return;
        }
        char peer[64];
        peer_name(&sa, peer, sizeof peer);
        pthread_mutex_lock(&dtu_hub_lock);
        bool in = admitted(ls, &sa);
        pthread_mutex_unlock(&dtu_hub_lock);
        if (!in) {
            /* Not a byte back: an address no bus allows learns nothing of what listens here. */
            close(fd);
            refused(ls, &ls->outsider, &ls->n_outsider, "connection from %s, an address no bus allows; closed", peer);
            continue;
        }
        if (!make_room(ls, &sa, peer)) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        int i = ls->npend++;
        struct pending_conn *p = &ls->pend[i];
        p->fd = fd;
        p->sa = sa;
        p->len = 0;
        p->claiming = false;
        p->claim = NULL;
        p->superseded = false;
        p->settle = 0;
        p->since = now;
        p->deadline = now + DTU_REGISTER_TIMEOUT_MS;
        snprintf(p->peer, sizeof p->peer, "%s", peer);
        /* A DTU sends its registration with the connection: often it is already here. */
        pending_read(ls, i, now);
    }
}

static void *listener_thread(void *arg)
{
    struct dtu_listener *ls = arg;
    for (;;) {
        struct pollfd pfd[DTU_PENDING_MAX + 2];
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = ls->wake[0], .events = POLLIN};
        int64_t now = clock_mono_ms(), next = now + 1000;
        bool paused = now < ls->accept_paused_until;
        pfd[n++] = (struct pollfd){.fd = ls->fd, .events = paused ? 0 : POLLIN};
        if (paused && ls->accept_paused_until < next)
            next = ls->accept_paused_until;
        for (int i = 0; i < ls->npend; i++) {
            struct pending_conn *p = &ls->pend[i];
            /* A claim is decided on the packet it made: its heartbeats are left unread, but its
             * peer closing it is seen (POLLRDHUP: a FIN alone raises no POLLHUP). */
            pfd[n++] = (struct pollfd){.fd = p->fd, .events = p->claiming ? POLLRDHUP : POLLIN};
            int64_t due = p->claiming ? p->hold_until : p->deadline;
            if (due < next)
                next = due;
            if (p->claiming && now + CLAIM_CHECK_MS < next)
                next = now + CLAIM_CHECK_MS;
            if (p->settle && p->settle < next)
                next = p->settle;
            if (p->superseded)
                next = now;
        }
        int np = ls->npend;
        int r = poll(pfd, (nfds_t)n, next > now ? (int)(next - now) : 0);
        if (r < 0 && errno != EINTR) {
            log_err("dtu %s: poll: %s; no more DTUs are let in on this address", ls->name, strerror(errno));
            break;
        }
        if (pfd[0].revents) {
            char drain[16];
            (void)!read(ls->wake[0], drain, sizeof drain);
            pthread_mutex_lock(&dtu_hub_lock);
            bool stop = ls->stop;
            pthread_mutex_unlock(&dtu_hub_lock);
            if (stop)
                break;
        }
        now = clock_mono_ms();
        /* Pending entries move when one is dropped: walk from the end. */
        for (int i = np - 1; i >= 0; i--) {
            if (!pfd[2 + i].revents)
                continue;
            if (ls->pend[i].claiming)
                pending_drop(ls, i); /* hung up while it waited */
            else
                pending_read(ls, i, now);
        }
        for (int i = ls->npend - 1; i >= 0; i--)
            if (ls->pend[i].deadline <= now || ls->pend[i].claiming || ls->pend[i].superseded ||
                (ls->pend[i].settle && ls->pend[i].settle <= now))
                judge(ls, i, now);
        if ((pfd[1].revents & POLLIN) && now >= ls->accept_paused_until)
            accept_some(ls, now);
    }
    for (int i = ls->npend - 1; i >= 0; i--)
        pending_drop(ls, i);
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
    if (pipe2(ls->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
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

static int shortest_poll_ms(const struct bus_config *c)
{
    int m = 0;
    for (int i = 0; i < c->ndevices; i++)
        if (!m || c->devices[i].poll_ms < m)
            m = c->devices[i].poll_ms;
    return m;
}

struct dtu_slot *dtu_listener_join(const struct bus_config *c, struct queue *events, char *err, size_t errlen)
{
    struct dtu_slot *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = c;
    s->events = events;
    s->fd = -1;
    s->quiet_ms = shortest_poll_ms(c) + c->timeout_ms;
    pthread_mutex_lock(&dtu_hub_lock);
    struct dtu_listener *ls = listeners;
    while (ls && !(ls->port == c->listen_port && strcmp(ls->host, c->listen_host) == 0))
        ls = ls->next;
    for (struct dtu_slot *o = ls ? ls->slots : NULL; o; o = o->next) {
        if (strcmp(o->cfg->dtu_id, c->dtu_id) == 0) {
            snprintf(err, errlen, "DTU %s is already served by bus %s on %s", c->dtu_id, o->cfg->id, ls->name);
            pthread_mutex_unlock(&dtu_hub_lock);
            free(s);
            return NULL;
        }
    }
    if (!ls) {
        ls = calloc(1, sizeof *ls);
        if (!ls) {
            pthread_mutex_unlock(&dtu_hub_lock);
            free(s);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        snprintf(ls->host, sizeof ls->host, "%s", c->listen_host);
        ls->port = c->listen_port;
        snprintf(ls->name, sizeof ls->name, strchr(ls->host, ':') ? "[%.60s]:%d" : "%.60s:%d", ls->host, ls->port);
        /* The slot is in before the thread starts: its first connection finds it. */
        ls->slots = s;
        s->ls = ls;
        if (listener_open(ls, err, errlen) < 0) {
            pthread_mutex_unlock(&dtu_hub_lock);
            free(ls);
            free(s);
            return NULL;
        }
        ls->next = listeners;
        listeners = ls;
    } else {
        s->ls = ls;
        s->next = ls->slots;
        ls->slots = s;
    }
    if (!c->secret_len)
        log_warn("bus %s: DTU %s registers with its id alone (insecure_no_secret): anyone who has read its label "
                 "can connect in its name",
                 c->id, c->dtu_id);
    pthread_mutex_unlock(&dtu_hub_lock);
    return s;
}

void dtu_listener_leave(struct dtu_slot *s)
{
    if (!s)
        return;
    struct dtu_listener *ls = s->ls, *stop = NULL;
    pthread_mutex_lock(&dtu_hub_lock);
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
        ls->stop = true;
        stop = ls;
    }
    pthread_mutex_unlock(&dtu_hub_lock);
    free(s);
    if (stop) {
        /* Joined outside dtu_hub_lock: the thread takes it to attach a connection. */
        (void)!write(stop->wake[1], "x", 1);
        pthread_join(stop->thread, NULL);
        close(stop->fd);
        close(stop->wake[0]);
        close(stop->wake[1]);
        free(stop);
    }
}

const char *dtu_slot_where(const struct dtu_slot *s)
{
    return s->ls->name;
}

int dtu_slot_take(struct dtu_slot *s, uint64_t *gen, int *fd)
{
    int changed = 0;
    pthread_mutex_lock(&dtu_hub_lock);
    if (*gen != s->gen || (*fd < 0 && s->fd >= 0)) {
        if (*fd >= 0)
            close(*fd);
        *fd = s->fd >= 0 ? fcntl(s->fd, F_DUPFD_CLOEXEC, 0) : -1;
        *gen = s->gen;
        changed = 1;
    }
    pthread_mutex_unlock(&dtu_hub_lock);
    return changed;
}

void dtu_slot_lost(struct dtu_slot *s, uint64_t gen)
{
    pthread_mutex_lock(&dtu_hub_lock);
    if (s->gen == gen && s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    pthread_mutex_unlock(&dtu_hub_lock);
}

void dtu_slot_exchanged(struct dtu_slot *s, uint64_t gen, bool answered)
{
    pthread_mutex_lock(&dtu_hub_lock);
    if (s->gen == gen) {
        s->last_ms = clock_mono_ms();
        s->last_answered = answered;
    }
    pthread_mutex_unlock(&dtu_hub_lock);
}

void dtu_listener_counts(struct dtu_counts *out)
{
    out->refused = atomic_load(&total_refused);
    out->claims_refused = atomic_load(&total_claims_refused);
    out->takeovers = atomic_load(&total_takeovers);
}
