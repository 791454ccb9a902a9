/* sim_link: the wire side — a Modbus TCP server, an RTU serial line and a 4G DTU (a client
 * that connects out, registers, sends heartbeats and carries RTU frames over its socket), all
 * feeding requests to the fleet and sending replies, immediately or when a timer says so.
 * Nothing here blocks: a slow unit's reply waits in the pending list while other
 * connections and units are served; the RTU line's bytes leave through a paced queue. */
#include "sim_link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sim_frame.h"

#define MAX_CONNS 128
#define MAX_PENDING 512
#define RTU_QUEUE 32
#define CONN_IN 1024
#define CONN_OUT_MAX (1 << 20)  /* a client that stops reading is dropped past this */

enum { SLOT_LISTEN, SLOT_RTU, SLOT_CONN };

struct conn {
    int fd;
    uint64_t id;
    bool dtu;                   /* our connection out to a gateway: RTU frames, not MBAP */
    bool stale;                 /* a DTU connection we abandoned (left open, never answered) */
    uint8_t in[CONN_IN];
    size_t inlen;
    uint8_t *out;
    size_t outlen, outcap;
};

/* A reply waiting for its time: a slow unit's, or any RTU reply under byte timing. */
struct pending {
    int64_t due;
    uint64_t conn_id;           /* 0: the RTU line */
    struct sim_device *dev;     /* counted as answered when sent, if well formed */
    bool well_formed;
    size_t len;
    uint8_t adu[SIM_ADU_MAX];
};

struct rtu_frame {
    int64_t start;              /* when its first byte may start leaving */
    size_t len, sent;
    uint8_t b[SIM_ADU_MAX];
};

struct sim_link {
    struct sim_fleet *fleet;
    struct sim_link_config cfg;
    uint64_t rng;
    unsigned garbage_turn;

    int listen_fd;
    int port;
    struct conn *conns[MAX_CONNS];
    int nconns;
    uint64_t next_conn_id;

    int rtu_fd;
    int64_t byte_ns;            /* one character on the line; 0 without byte timing */
    int64_t gap_ns;             /* silence that ends a frame (3.5 characters, floored) */
    int64_t t35_ns;             /* the spec's 3.5 character time, for turnaround */
    uint8_t rbuf[1024];
    size_t rlen;
    int64_t last_rx;
    int64_t line_free;          /* when the last queued RTU byte will have left */
    struct rtu_frame rq[RTU_QUEUE];
    int rq_head, rq_count;

    struct pending pend[MAX_PENDING];
    int npend;

    /* DTU client mode */
    uint64_t dtu_conn;          /* the live DTU connection; 0 none */
    bool dtu_auto;              /* redial when the gateway drops us, as a DTU does */
    bool dtu_hb_before_reply;
    int64_t dtu_next_connect;   /* INT64_MAX: none planned */
    int64_t dtu_next_hb;
    unsigned dtu_connects, dtu_dropped, dtu_stale_closed;

    /* what each pollfd handed out by sim_link_prepare stands for */
    int slot_kind[MAX_CONNS + 2];
    uint64_t slot_id[MAX_CONNS + 2];
};

__attribute__((format(printf, 3, 4)))
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int64_t sim_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* xorshift64: garbage only has to look random and be the same on every run. */
static uint32_t rng_next(struct sim_link *l)
{
    uint64_t x = l->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    l->rng = x;
    return (uint32_t)(x >> 32);
}

/* ---- TCP ---- */

static struct conn *conn_by_id(struct sim_link *l, uint64_t id)
{
    for (int i = 0; i < l->nconns; i++)
        if (l->conns[i]->id == id)
            return l->conns[i];
    return NULL;
}

#define DTU_REDIAL_NS 200000000

static void conn_drop(struct sim_link *l, struct conn *c)
{
    if (c->dtu && c->id == l->dtu_conn) {
        /* The gateway closed our live connection: a DTU redials. */
        l->dtu_conn = 0;
        l->dtu_dropped++;
        if (l->dtu_auto)
            l->dtu_next_connect = sim_now_ns() + DTU_REDIAL_NS;
    } else if (c->dtu && c->stale) {
        l->dtu_stale_closed++;
    }
    for (int i = 0; i < l->nconns; i++) {
        if (l->conns[i] == c) {
            close(c->fd);
            free(c->out);
            free(c);
            l->conns[i] = l->conns[--l->nconns];
            return;
        }
    }
}

static void conn_flush(struct conn *c)
{
    while (c->outlen > 0) {
        ssize_t w = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;     /* EAGAIN: POLLOUT finishes it; errors show up as POLLERR/HUP */
        memmove(c->out, c->out + w, c->outlen - (size_t)w);
        c->outlen -= (size_t)w;
    }
}

static int conn_send(struct conn *c, const uint8_t *b, size_t n)
{
    if (c->outlen + n > c->outcap) {
        size_t cap = c->outcap ? c->outcap : 4096;
        while (cap < c->outlen + n)
            cap *= 2;
        if (cap > CONN_OUT_MAX)
            return -1;
        uint8_t *nb = realloc(c->out, cap);
        if (!nb)
            return -1;
        c->out = nb;
        c->outcap = cap;
    }
    memcpy(c->out + c->outlen, b, n);
    c->outlen += n;
    conn_flush(c);
    return 0;
}

static int tcp_open(struct sim_link *l, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    socklen_t slen = sizeof sa;
    int one = 1;

    l->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->listen_fd < 0) {
        fail(err, errlen, "tcp: socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(l->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)l->cfg.tcp_port);
    if (bind(l->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(l->listen_fd, 64) < 0 ||
        getsockname(l->listen_fd, (struct sockaddr *)&sa, &slen) < 0) {
        fail(err, errlen, "tcp: 127.0.0.1:%d: %s", l->cfg.tcp_port, strerror(errno));
        return -1;
    }
    l->port = ntohs(sa.sin_port);
    return 0;
}

static void tcp_accept(struct sim_link *l)
{
    for (;;) {
        int fd = accept4(l->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct conn *c = l->nconns < MAX_CONNS ? calloc(1, sizeof *c) : NULL;
        if (!c) {
            fprintf(stderr, "sim: tcp: refusing a connection: %d already open\n", l->nconns);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->id = ++l->next_conn_id;
        l->conns[l->nconns++] = c;
    }
}

/* ---- replies ---- */

static void rtu_enqueue(struct sim_link *l, const uint8_t *b, size_t n, int64_t earliest)
{
    if (l->rtu_fd < 0)
        return;
    if (l->rq_count == RTU_QUEUE) {
        fprintf(stderr, "sim: rtu: reply dropped, %d replies already queued\n", RTU_QUEUE);
        return;
    }
    struct rtu_frame *f = &l->rq[(l->rq_head + l->rq_count++) % RTU_QUEUE];
    int64_t start = earliest > l->line_free ? earliest : l->line_free;
    f->start = start;
    f->len = n;
    f->sent = 0;
    memcpy(f->b, b, n);
    /* Half duplex: the next frame may start only after this one and 3.5 characters of silence. */
    l->line_free = start + (int64_t)n * l->byte_ns + (l->byte_ns ? l->t35_ns : 0);
}

/* Sends or queues one finished ADU; counts it as answered once it is on its way. */
static void deliver(struct sim_link *l, uint64_t conn_id, struct sim_device *dev,
                    bool well_formed, const uint8_t *adu, size_t len, int64_t now)
{
    if (conn_id == 0) {
        rtu_enqueue(l, adu, len, now);
    } else {
        struct conn *c = conn_by_id(l, conn_id);
        if (!c)
            return;     /* the client left before a slow reply was due */
        const char *hb = l->cfg.dtu_heartbeat;
        int r = 0;
        if (c->dtu && l->dtu_hb_before_reply && hb)
            r = conn_send(c, (const uint8_t *)hb, strlen(hb));
        if (r < 0 || conn_send(c, adu, len) < 0) {
            fprintf(stderr, "sim: tcp: client not reading, dropped\n");
            conn_drop(l, c);
            return;
        }
    }
    if (well_formed && dev)
        dev->answered++;
}

/* Turns a correct reply into one of four kinds of garbage, in turn, so a test that
 * sends four requests sees every kind: random bytes, a broken check (bad CRC on RTU,
 * wrong transaction id on TCP), a wrong unit id, a wrong function code. */
static size_t garble(struct sim_link *l, bool rtu, uint8_t *adu, size_t len)
{
    size_t unit_at = rtu ? 0 : 6;
    unsigned kind = l->garbage_turn++ % 4;

    switch (kind) {
    case 0:
        len = 3 + rng_next(l) % 14;
        for (size_t i = 0; i < len; i++)
            adu[i] = (uint8_t)rng_next(l);
        return len;
    case 1:
        if (rtu)
            adu[len - 1] ^= 0x5A;
        else
            adu[0] ^= 0x5A;
        return len;
    case 2:
        adu[unit_at] = (uint8_t)(adu[unit_at] % 255 + 1);
        break;
    default:
        adu[unit_at + 1] = (uint8_t)((adu[unit_at + 1] & 0x80) | ((adu[unit_at + 1] + 1) & 0x7F));
        break;
    }
    if (rtu) {
        uint16_t c = sim_crc16(adu, len - 2);
        adu[len - 2] = (uint8_t)(c & 0xFF);
        adu[len - 1] = (uint8_t)(c >> 8);
    }
    return len;
}

/* One request for a served unit: apply the unit's behaviour, then send or schedule. */
static void serve(struct sim_link *l, uint64_t conn_id, uint16_t tid, struct sim_device *dev,
                  const uint8_t *pdu, size_t n, size_t req_len, int64_t now)
{
    struct sim_answer a;
    uint8_t adu[SIM_ADU_MAX];
    struct conn *dc = conn_id ? conn_by_id(l, conn_id) : NULL;
    bool rtu = conn_id == 0 || (dc && dc->dtu);

    sim_device_answer(dev, pdu, n, &a);
    if (a.how == SIM_BEHAVE_SILENT || a.len == 0)
        return;
    size_t len = rtu ? sim_rtu_wrap((uint8_t)dev->unit, a.pdu, a.len, adu)
                     : sim_tcp_wrap(tid, (uint8_t)dev->unit, a.pdu, a.len, adu);
    bool well_formed = true;
    if (a.how == SIM_BEHAVE_GARBAGE) {
        len = garble(l, rtu, adu, len);
        well_formed = false;
    } else if (a.how == SIM_BEHAVE_TRUNCATE) {
        len = len / 2;      /* the line goes quiet mid-frame */
        well_formed = false;
    }
    int64_t due = now + (int64_t)a.delay_ms * 1000000;
    if (rtu && l->byte_ns)
        /* The pty delivered the request at once; a real line would still be carrying it,
         * then the device waits 3.5 characters before it may answer. */
        due += (int64_t)req_len * l->byte_ns + l->t35_ns;
    if (due <= now) {
        deliver(l, conn_id, dev, well_formed, adu, len, now);
        return;
    }
    if (l->npend == MAX_PENDING) {
        fprintf(stderr, "sim: unit %d: reply dropped, %d replies already waiting\n", dev->unit,
                MAX_PENDING);
        return;
    }
    struct pending *p = &l->pend[l->npend++];
    p->due = due;
    p->conn_id = conn_id;
    p->dev = dev;
    p->well_formed = well_formed;
    p->len = len;
    memcpy(p->adu, adu, len);
}

/* RTU frames off a DTU connection. A stale one is read (to see the gateway close it) but
 * never answered: it stands for a socket the carrier's NAT has silently cut. */
static void dtu_parse(struct sim_link *l, struct conn *c, int64_t now)
{
    uint64_t id = c->id;
    if (c->stale) {
        c->inlen = 0;
        return;
    }
    while (c->inlen > 0) {
        size_t flen = 0;
        enum sim_rtu_scan s = sim_rtu_scan(c->in, c->inlen, &flen);
        if (s == SIM_RTU_NEED_MORE)
            return;
        if (s == SIM_RTU_FRAME) {
            struct sim_device *dev = c->in[0] ? sim_fleet_find(l->fleet, c->in[0]) : NULL;
            if (dev)
                serve(l, id, 0, dev, c->in + 1, flen - 3, flen, now);
            if (!conn_by_id(l, id))
                return;
        } else {
            flen = 1;
        }
        memmove(c->in, c->in + flen, c->inlen - flen);
        c->inlen -= flen;
    }
}

static void tcp_read(struct sim_link *l, struct conn *c, int64_t now)
{
    uint64_t id = c->id;
    ssize_t r = read(c->fd, c->in + c->inlen, sizeof c->in - c->inlen);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        conn_drop(l, c);
        return;
    }
    c->inlen += (size_t)r;
    if (c->dtu) {
        dtu_parse(l, c, now);
        return;
    }
    for (;;) {
        int len = sim_tcp_adu_len(c->in, c->inlen);
        if (len < 0) {
            fprintf(stderr, "sim: tcp: not a Modbus TCP header, closing the connection\n");
            conn_drop(l, c);
            return;
        }
        if (len == 0 || c->inlen < (size_t)len)
            return;
        struct sim_device *dev = sim_fleet_find(l->fleet, c->in[6]);
        if (dev)
            serve(l, id, (uint16_t)(c->in[0] << 8 | c->in[1]), dev, c->in + 7, (size_t)len - 7,
                  (size_t)len, now);
        /* serve may have dropped the connection (client not reading) */
        if (!conn_by_id(l, id))
            return;
        memmove(c->in, c->in + len, c->inlen - (size_t)len);
        c->inlen -= (size_t)len;
    }
}

/* ---- RTU ---- */

static int baud_speed(int baud, speed_t *out)
{
    static const struct { int baud; speed_t s; } table[] = {
        { 1200, B1200 }, { 2400, B2400 }, { 4800, B4800 }, { 9600, B9600 },
        { 19200, B19200 }, { 38400, B38400 }, { 57600, B57600 }, { 115200, B115200 },
        { 230400, B230400 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (table[i].baud == baud) {
            *out = table[i].s;
            return 0;
        }
    }
    return -1;
}

static int rtu_open(struct sim_link *l, char *err, size_t errlen)
{
    struct termios tio;
    speed_t sp;
    const struct sim_link_config *c = &l->cfg;

    if (baud_speed(c->baud, &sp) < 0) {
        fail(err, errlen, "rtu: baud %d not supported (1200..230400, standard rates)", c->baud);
        return -1;
    }
    l->rtu_fd = open(c->rtu_path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (l->rtu_fd < 0) {
        fail(err, errlen, "rtu: %s: %s", c->rtu_path, strerror(errno));
        return -1;
    }
    if (tcgetattr(l->rtu_fd, &tio) < 0) {
        fail(err, errlen, "rtu: %s: not a terminal: %s", c->rtu_path, strerror(errno));
        return -1;
    }
    cfmakeraw(&tio);
    cfsetispeed(&tio, sp);
    cfsetospeed(&tio, sp);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cflag &= ~(tcflag_t)(PARENB | PARODD | CSTOPB);
    if (c->parity != 'N')
        tio.c_cflag |= PARENB | (c->parity == 'O' ? PARODD : 0);
    if (c->stop_bits == 2)
        tio.c_cflag |= CSTOPB;
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    if (tcsetattr(l->rtu_fd, TCSANOW, &tio) < 0) {
        fail(err, errlen, "rtu: %s: tcsetattr: %s", c->rtu_path, strerror(errno));
        return -1;
    }
    tcflush(l->rtu_fd, TCIOFLUSH);

    /* Start bit + 8 data bits + parity + stop bits (Modbus over Serial Line 2.5.1). */
    int bits = 1 + 8 + (c->parity != 'N') + c->stop_bits;
    int64_t char_ns = (int64_t)bits * 1000000000 / c->baud;
    /* Above 19200 baud the spec fixes t3.5 at 1.75 ms (2.5.1.1). */
    l->t35_ns = c->baud > 19200 ? 1750000 : char_ns * 7 / 2;
    l->byte_ns = c->byte_timing ? char_ns : 0;
    /* A pty hands over bytes in bursts with no line timing at all, so the end of a frame
     * is only trusted after a silence well above 3.5 characters. */
    l->gap_ns = l->t35_ns > 20000000 ? l->t35_ns : 20000000;
    return 0;
}

static void rtu_line_lost(struct sim_link *l, const char *why)
{
    fprintf(stderr, "sim: rtu: %s: %s; serial line closed\n", l->cfg.rtu_path, why);
    close(l->rtu_fd);
    l->rtu_fd = -1;
    l->rq_count = 0;
}

static void rtu_frame(struct sim_link *l, const uint8_t *f, size_t len, int64_t now)
{
    uint8_t unit = f[0];
    const uint8_t *pdu = f + 1;
    size_t n = len - 3;

    if (unit == 0) {
        /* Broadcast (Modbus over Serial Line 2.1): writes reach every unit, nobody answers. */
        uint8_t fc = pdu[0], scratch[SIM_PDU_MAX];
        if (fc == 5 || fc == 6 || fc == 15 || fc == 16)
            for (int i = 0; i < l->fleet->n; i++)
                if (l->fleet->dev[i].behave.kind != SIM_BEHAVE_SILENT)
                    sim_device_execute(&l->fleet->dev[i], pdu, n, scratch);
        return;
    }
    struct sim_device *dev = sim_fleet_find(l->fleet, unit);
    if (dev)
        serve(l, 0, 0, dev, pdu, n, len, now);
}

/* Takes every complete frame off the front of the buffer. With line_idle, no more bytes
 * are coming for what is left, so an incomplete start is noise and is dropped too. */
static void rtu_parse(struct sim_link *l, bool line_idle, int64_t now)
{
    while (l->rlen > 0) {
        size_t flen = 0;
        enum sim_rtu_scan s = sim_rtu_scan(l->rbuf, l->rlen, &flen);
        if (s == SIM_RTU_NEED_MORE && !line_idle)
            return;
        if (s == SIM_RTU_FRAME) {
            rtu_frame(l, l->rbuf, flen, now);
        } else {
            flen = 1;
        }
        memmove(l->rbuf, l->rbuf + flen, l->rlen - flen);
        l->rlen -= flen;
    }
}

static void rtu_read(struct sim_link *l, int64_t now)
{
    for (;;) {
        if (l->rlen == sizeof l->rbuf) {
            /* Nothing framable in a full buffer: let the oldest byte go. */
            memmove(l->rbuf, l->rbuf + 1, --l->rlen);
        }
        ssize_t r = read(l->rtu_fd, l->rbuf + l->rlen, sizeof l->rbuf - l->rlen);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            break;
        if (r <= 0) {
            rtu_line_lost(l, r == 0 ? "end of file" : strerror(errno));
            return;
        }
        l->rlen += (size_t)r;
        l->last_rx = now;
        rtu_parse(l, false, now);
    }
}

/* Writes every byte of the queue that is due by now. */
static void rtu_pump(struct sim_link *l, int64_t now)
{
    while (l->rq_count > 0 && l->rtu_fd >= 0) {
        struct rtu_frame *f = &l->rq[l->rq_head];
        if (now < f->start)
            return;
        size_t due = f->len;
        if (l->byte_ns) {
            int64_t k = (now - f->start) / l->byte_ns;
            if (k < (int64_t)f->len)
                due = (size_t)k;
        }
        if (due > f->sent) {
            ssize_t w = write(l->rtu_fd, f->b + f->sent, due - f->sent);
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                rtu_line_lost(l, strerror(errno));
                return;
            }
            if (w > 0)
                f->sent += (size_t)w;
        }
        if (f->sent < f->len)
            return;
        l->rq_head = (l->rq_head + 1) % RTU_QUEUE;
        l->rq_count--;
    }
}

/* ---- DTU client ---- */

static void dtu_open(struct sim_link *l, int64_t now)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)l->cfg.dtu_port);
    inet_pton(AF_INET, l->cfg.dtu_host, &sa.sin_addr);
    l->dtu_next_connect = now + DTU_REDIAL_NS;
    struct conn *c = l->nconns < MAX_CONNS ? calloc(1, sizeof *c) : NULL;
    if (!c)
        return;
    /* Loopback: a blocking connect is refused or done at once. */
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (c->fd >= 0)
            close(c->fd);
        free(c);
        return;     /* the gateway is not listening (yet): dial again shortly */
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->dtu = true;
    c->id = ++l->next_conn_id;
    l->conns[l->nconns++] = c;
    l->dtu_conn = c->id;
    l->dtu_connects++;
    l->dtu_next_connect = INT64_MAX;
    l->dtu_next_hb = now + (int64_t)l->cfg.dtu_heartbeat_ms * 1000000;
    conn_send(c, (const uint8_t *)l->cfg.dtu_id, strlen(l->cfg.dtu_id));
}

int sim_link_dtu_cmd(struct sim_link *l, const char *args, char *reply, size_t len)
{
    char w[2][32] = {"", ""};
    int n = sscanf(args, "%31s %31s", w[0], w[1]);
    if (!l->cfg.dtu_host) {
        snprintf(reply, len, "ERR not a DTU (start with --dtu HOST:PORT)");
        return -1;
    }
    struct conn *cur = l->dtu_conn ? conn_by_id(l, l->dtu_conn) : NULL;
    int64_t now = sim_now_ns();
    if (n == 1 && strcmp(w[0], "connect") == 0) {
        l->dtu_auto = true;
        if (!cur)
            dtu_open(l, now);
    } else if (n == 1 && strcmp(w[0], "disconnect") == 0) {
        l->dtu_auto = false;
        l->dtu_conn = 0;
        if (cur)
            conn_drop(l, cur);
        l->dtu_next_connect = INT64_MAX;
    } else if (n == 1 && strcmp(w[0], "reconnect") == 0) {
        l->dtu_conn = 0;
        if (cur)
            conn_drop(l, cur);
        dtu_open(l, now);
    } else if (n == 1 && strcmp(w[0], "replace") == 0) {
        if (cur) {
            cur->stale = true;
            l->dtu_conn = 0;
        }
        dtu_open(l, now);
    } else if (n == 2 && strcmp(w[0], "heartbeat-before-reply") == 0 &&
               (strcmp(w[1], "on") == 0 || strcmp(w[1], "off") == 0)) {
        l->dtu_hb_before_reply = strcmp(w[1], "on") == 0;
    } else if (n == 1 && strcmp(w[0], "stats") == 0) {
        int stale = 0;
        for (int i = 0; i < l->nconns; i++)
            stale += l->conns[i]->dtu && l->conns[i]->stale;
        snprintf(reply, len, "DTU connects=%u connected=%d stale_open=%d stale_closed=%u dropped=%u",
                 l->dtu_connects, l->dtu_conn != 0, stale, l->dtu_stale_closed, l->dtu_dropped);
        return 0;
    } else {
        snprintf(reply, len, "ERR dtu takes connect, disconnect, reconnect, replace, "
                 "heartbeat-before-reply on|off or stats");
        return -1;
    }
    snprintf(reply, len, "OK");
    return 0;
}

/* ---- the link ---- */

struct sim_link *sim_link_open(const struct sim_link_config *cfg, struct sim_fleet *fleet,
                               char *err, size_t errlen)
{
    struct sim_link *l = calloc(1, sizeof *l);
    if (!l) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    l->cfg = *cfg;
    l->fleet = fleet;
    l->rng = cfg->seed ? cfg->seed : 0x9E3779B97F4A7C15ull;
    l->listen_fd = -1;
    l->port = -1;
    l->rtu_fd = -1;
    l->dtu_next_connect = cfg->dtu_host ? 0 : INT64_MAX;
    l->dtu_auto = cfg->dtu_host != NULL;
    if ((cfg->tcp && tcp_open(l, err, errlen) < 0) ||
        (cfg->rtu_path && rtu_open(l, err, errlen) < 0)) {
        sim_link_close(l);
        return NULL;
    }
    return l;
}

void sim_link_close(struct sim_link *l)
{
    if (!l)
        return;
    while (l->nconns > 0)
        conn_drop(l, l->conns[0]);
    if (l->listen_fd >= 0)
        close(l->listen_fd);
    if (l->rtu_fd >= 0)
        close(l->rtu_fd);
    free(l);
}

int sim_link_tcp_port(const struct sim_link *l)
{
    return l->port;
}

int sim_link_prepare(struct sim_link *l, struct pollfd *pfd, int max)
{
    int n = 0;
    if (max > MAX_CONNS + 2)
        max = MAX_CONNS + 2;
    if (l->listen_fd >= 0 && n < max) {
        pfd[n] = (struct pollfd){ .fd = l->listen_fd, .events = POLLIN };
        l->slot_kind[n++] = SLOT_LISTEN;
    }
    if (l->rtu_fd >= 0 && n < max) {
        short ev = POLLIN;
        if (l->rq_count > 0 && l->byte_ns == 0)
            ev |= POLLOUT;  /* unpaced bytes left over from a full pty buffer */
        pfd[n] = (struct pollfd){ .fd = l->rtu_fd, .events = ev };
        l->slot_kind[n++] = SLOT_RTU;
    }
    for (int i = 0; i < l->nconns && n < max; i++) {
        struct conn *c = l->conns[i];
        pfd[n] = (struct pollfd){ .fd = c->fd, .events = (short)(POLLIN | (c->outlen ? POLLOUT : 0)) };
        l->slot_kind[n] = SLOT_CONN;
        l->slot_id[n++] = c->id;
    }
    return n;
}

void sim_link_handle(struct sim_link *l, const struct pollfd *pfd, int n, int64_t now)
{
    for (int i = 0; i < n; i++) {
        if (!pfd[i].revents)
            continue;
        switch (l->slot_kind[i]) {
        case SLOT_LISTEN:
            tcp_accept(l);
            break;
        case SLOT_RTU:
            if (l->rtu_fd < 0)
                break;
            if (pfd[i].revents & POLLIN)
                rtu_read(l, now);
            else if (pfd[i].revents & (POLLHUP | POLLERR | POLLNVAL))
                rtu_line_lost(l, "hang-up");
            if (l->rtu_fd >= 0 && (pfd[i].revents & POLLOUT))
                rtu_pump(l, now);
            break;
        default: {
            struct conn *c = conn_by_id(l, l->slot_id[i]);
            if (!c)
                break;
            if (pfd[i].revents & POLLOUT)
                conn_flush(c);
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                tcp_read(l, c, now);
            break;
        }
        }
    }
}

int64_t sim_link_deadline(const struct sim_link *l)
{
    int64_t t = INT64_MAX;
    for (int i = 0; i < l->npend; i++)
        if (l->pend[i].due < t)
            t = l->pend[i].due;
    if (l->rtu_fd >= 0 && l->rlen > 0 && l->last_rx + l->gap_ns < t)
        t = l->last_rx + l->gap_ns;
    if (l->cfg.dtu_host && !l->dtu_conn && l->dtu_next_connect < t)
        t = l->dtu_next_connect;
    if (l->dtu_conn && l->cfg.dtu_heartbeat && l->cfg.dtu_heartbeat_ms > 0 && l->dtu_next_hb < t)
        t = l->dtu_next_hb;
    /* Unpaced bytes wait for POLLOUT instead; only paced ones need a timer. */
    if (l->rtu_fd >= 0 && l->rq_count > 0 && l->byte_ns) {
        const struct rtu_frame *f = &l->rq[l->rq_head];
        int64_t next = f->start + (int64_t)(f->sent + 1) * l->byte_ns;
        if (next < t)
            t = next;
    }
    return t;
}

void sim_link_timers(struct sim_link *l, int64_t now)
{
    /* Deliver due replies oldest first, so two replies due together keep their order. */
    for (;;) {
        int best = -1;
        for (int i = 0; i < l->npend; i++)
            if (l->pend[i].due <= now && (best < 0 || l->pend[i].due < l->pend[best].due))
                best = i;
        if (best < 0)
            break;
        struct pending p = l->pend[best];
        memmove(&l->pend[best], &l->pend[best + 1], (size_t)(l->npend - best - 1) * sizeof p);
        l->npend--;
        deliver(l, p.conn_id, p.dev, p.well_formed, p.adu, p.len, now);
    }
    if (l->rtu_fd >= 0 && l->rlen > 0 && now - l->last_rx >= l->gap_ns)
        rtu_parse(l, true, now);
    if (l->cfg.dtu_host && !l->dtu_conn && now >= l->dtu_next_connect)
        dtu_open(l, now);
    struct conn *dc = l->dtu_conn ? conn_by_id(l, l->dtu_conn) : NULL;
    if (dc && l->cfg.dtu_heartbeat && l->cfg.dtu_heartbeat_ms > 0 && now >= l->dtu_next_hb) {
        l->dtu_next_hb = now + (int64_t)l->cfg.dtu_heartbeat_ms * 1000000;
        if (conn_send(dc, (const uint8_t *)l->cfg.dtu_heartbeat, strlen(l->cfg.dtu_heartbeat)) < 0)
            conn_drop(l, dc);
    }
    if (l->rtu_fd >= 0)
        rtu_pump(l, now);
}
