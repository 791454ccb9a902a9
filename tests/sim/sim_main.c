/* sim_main: caretaker-sim's command line and its single poll loop — stdin commands,
 * scenario steps, value motions at 10 Hz, and the wire transports (TCP, RTU, a DTU). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim_cmd.h"
#include "sim_device.h"
#include "sim_link.h"
#include "sim_profile.h"

#define TICK_NS 100000000       /* values over time move at 10 Hz */
#define MAX_POLL (128 + 3)

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void usage(FILE *f)
{
    fputs("usage: caretaker-sim [--tcp PORT] [--rtu PATH [--baud N] [--parity N|E|O]\n"
          "                     [--stop-bits 1|2] [--byte-timing]] [--drivers DIR]...\n"
          "                     [--dtu HOST:PORT --dtu-id ID [--dtu-heartbeat TEXT]\n"
          "                     [--dtu-heartbeat-ms N]] [--seed N] [--hold] SCENARIO.json\n"
          "Serves the scenario's devices over Modbus TCP on 127.0.0.1, Modbus RTU on a serial\n"
          "device or pty, and/or as a 4G DTU that connects to HOST:PORT, sends ID, then\n"
          "heartbeats, and carries RTU frames. Prints \"READY tcp=<port> rtu=<path>\n"
          "dtu=<host:port>\" once listening, then takes commands on stdin, one a line (see\n"
          "tests/sim/README.md).\n", f);
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

struct options {
    struct sim_link_config link;
    const char *scenario;
    const char *drivers[SIM_MAX_DIRS];
    int ndrivers;
    bool hold;
};

static int parse_args(int argc, char **argv, struct options *o)
{
    long v;
    memset(o, 0, sizeof *o);
    o->link.baud = 9600;
    o->link.parity = 'N';
    o->link.stop_bits = 1;
    o->link.seed = 1;
    o->link.dtu_heartbeat_ms = 1000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--byte-timing") == 0) {
            o->link.byte_timing = true;
            continue;
        } else if (strcmp(a, "--hold") == 0) {
            o->hold = true;
            continue;
        } else if (a[0] != '-') {
            if (o->scenario) {
                fprintf(stderr, "caretaker-sim: one scenario only (got %s and %s)\n",
                        o->scenario, a);
                return -1;
            }
            o->scenario = a;
            continue;
        }
        if (!next) {
            fprintf(stderr, "caretaker-sim: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--tcp") == 0) {
            if (parse_int(next, 0, 65535, &v) < 0) {
                fprintf(stderr, "caretaker-sim: --tcp: \"%s\" is not a port 0..65535\n", next);
                return -1;
            }
            o->link.tcp = true;
            o->link.tcp_port = (int)v;
        } else if (strcmp(a, "--rtu") == 0) {
            o->link.rtu_path = next;
        } else if (strcmp(a, "--baud") == 0) {
            if (parse_int(next, 1, 4000000, &v) < 0) {
                fprintf(stderr, "caretaker-sim: --baud: \"%s\" is not a baud rate\n", next);
                return -1;
            }
            o->link.baud = (int)v;
        } else if (strcmp(a, "--parity") == 0) {
            if (strlen(next) != 1 || !strchr("NEO", next[0])) {
                fprintf(stderr, "caretaker-sim: --parity: expected N, E or O, got \"%s\"\n", next);
                return -1;
            }
            o->link.parity = next[0];
        } else if (strcmp(a, "--stop-bits") == 0) {
            if (parse_int(next, 1, 2, &v) < 0) {
                fprintf(stderr, "caretaker-sim: --stop-bits: expected 1 or 2, got \"%s\"\n", next);
                return -1;
            }
            o->link.stop_bits = (int)v;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_int(next, 1, 2147483647, &v) < 0) {
                fprintf(stderr, "caretaker-sim: --seed: expected 1..2147483647, got \"%s\"\n",
                        next);
                return -1;
            }
            o->link.seed = (uint64_t)v;
        } else if (strcmp(a, "--dtu") == 0) {
            static char host[64];
            const char *colon = strrchr(next, ':');
            struct in_addr ia;
            size_t hl = colon ? (size_t)(colon - next) : 0;
            if (!colon || hl == 0 || hl >= sizeof host || parse_int(colon + 1, 1, 65535, &v) < 0) {
                fprintf(stderr, "caretaker-sim: --dtu: expected IPV4:PORT, got \"%s\"\n", next);
                return -1;
            }
            memcpy(host, next, hl);
            host[hl] = '\0';
            if (inet_pton(AF_INET, host, &ia) != 1) {
                fprintf(stderr, "caretaker-sim: --dtu: \"%s\" is not an IPv4 address\n", host);
                return -1;
            }
            o->link.dtu_host = host;
            o->link.dtu_port = (int)v;
        } else if (strcmp(a, "--dtu-id") == 0) {
            if (!*next || strlen(next) > 128) {
                fprintf(stderr, "caretaker-sim: --dtu-id: expected 1..128 characters\n");
                return -1;
            }
            o->link.dtu_id = next;
        } else if (strcmp(a, "--dtu-heartbeat") == 0) {
            if (!*next || strlen(next) > 128) {
                fprintf(stderr, "caretaker-sim: --dtu-heartbeat: expected 1..128 characters\n");
                return -1;
            }
            o->link.dtu_heartbeat = next;
        } else if (strcmp(a, "--dtu-heartbeat-ms") == 0) {
            if (parse_int(next, 10, 3600000, &v) < 0) {
                fprintf(stderr, "caretaker-sim: --dtu-heartbeat-ms: expected 10..3600000, got \"%s\"\n",
                        next);
                return -1;
            }
            o->link.dtu_heartbeat_ms = (int)v;
        } else if (strcmp(a, "--drivers") == 0) {
            if (o->ndrivers == SIM_MAX_DIRS) {
                fprintf(stderr, "caretaker-sim: at most %d --drivers\n", SIM_MAX_DIRS);
                return -1;
            }
            o->drivers[o->ndrivers++] = next;
        } else {
            fprintf(stderr, "caretaker-sim: unknown option %s\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (!o->scenario) {
        fprintf(stderr, "caretaker-sim: no scenario file given\n");
        usage(stderr);
        return -1;
    }
    if (!o->link.tcp && !o->link.rtu_path && !o->link.dtu_host) {
        fprintf(stderr, "caretaker-sim: give --tcp PORT, --rtu PATH, --dtu HOST:PORT or several\n");
        return -1;
    }
    if (o->link.dtu_host && !o->link.dtu_id) {
        fprintf(stderr, "caretaker-sim: --dtu needs --dtu-id ID, the registration it sends\n");
        return -1;
    }
    return 0;
}

struct sim {
    struct sim_scenario sc;
    struct sim_fleet fleet;
    struct sim_link *link;
    int64_t t0;
    bool held;                  /* --hold: the scenario's clock stands at 0 until "play" */
    int next_step;
    int64_t next_tick;
    bool moving;                /* any wave, ramp or counter at all */
    char line[4096];
    size_t linelen;
    bool stdin_open;
    bool quit;
};

/* Runs one command line and prints its reply; quiet (stderr only) for scenario steps. */
static void run_line(struct sim *s, const char *line, bool from_stdin)
{
    static char reply[8192];
    char err[200];
    struct sim_cmd c;

    if (strncmp(line, "dtu", 3) == 0 && (line[3] == ' ' || line[3] == '\0')) {
        sim_link_dtu_cmd(s->link, line + 3, reply, sizeof reply);
    } else if (strcmp(line, "play") == 0) {
        /* The scenario starts now: steps and motions count their seconds from here. */
        if (s->held) {
            s->held = false;
            s->t0 = s->next_tick = sim_now_ns();
            snprintf(reply, sizeof reply, "OK");
        } else {
            snprintf(reply, sizeof reply, "ERR play: the scenario is already playing (--hold holds it)");
        }
    } else if (sim_cmd_parse(line, &c, err, sizeof err) < 0) {
        snprintf(reply, sizeof reply, "ERR %s", err);
    } else if (sim_cmd_exec(&c, &s->fleet, reply, sizeof reply) == SIM_CMD_EXIT) {
        s->quit = true;
    }
    if (from_stdin) {
        printf("%s\n", reply);
        fflush(stdout);
    } else if (strncmp(reply, "OK", 2) != 0) {
        fprintf(stderr, "sim: step \"%s\": %s\n", line, reply);
    }
}

static void read_stdin(struct sim *s)
{
    ssize_t r = read(STDIN_FILENO, s->line + s->linelen, sizeof s->line - s->linelen);
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (r <= 0) {
        /* Tests may close stdin: keep serving until a signal says stop. */
        s->stdin_open = false;
        return;
    }
    s->linelen += (size_t)r;
    char *start = s->line, *nl;
    while (!s->quit && (nl = memchr(start, '\n', s->linelen - (size_t)(start - s->line)))) {
        *nl = '\0';
        if (nl > start && nl[-1] == '\r')
            nl[-1] = '\0';
        if (*start)
            run_line(s, start, true);
        start = nl + 1;
    }
    s->linelen -= (size_t)(start - s->line);
    memmove(s->line, start, s->linelen);
    if (s->linelen == sizeof s->line) {
        printf("ERR line too long\n");
        fflush(stdout);
        s->linelen = 0;
    }
}

static void run_due(struct sim *s, int64_t now)
{
    double t = s->held ? 0.0 : (double)(now - s->t0) / 1e9;
    while (s->next_step < s->sc.nsteps && s->sc.steps[s->next_step].at_s <= t)
        run_line(s, s->sc.steps[s->next_step++].cmd, false);
    if (s->moving && now >= s->next_tick) {
        for (int i = 0; i < s->fleet.n; i++)
            sim_device_tick(&s->fleet.dev[i], t);
        while (s->next_tick <= now)
            s->next_tick += TICK_NS;
    }
}

static int64_t next_deadline(const struct sim *s)
{
    int64_t t = sim_link_deadline(s->link);
    if (s->moving && s->next_tick < t)
        t = s->next_tick;
    if (!s->held && s->next_step < s->sc.nsteps) {
        int64_t at = s->t0 + (int64_t)(s->sc.steps[s->next_step].at_s * 1e9);
        if (at < t)
            t = at;
    }
    return t;
}

static int setup(struct sim *s, const struct options *o)
{
    char err[1024];
    if (sim_scenario_load(o->scenario, o->drivers, o->ndrivers, &s->sc, err, sizeof err) < 0) {
        fprintf(stderr, "caretaker-sim: %s\n", err);
        return -1;
    }
    s->fleet.dev = calloc((size_t)s->sc.ndevices, sizeof *s->fleet.dev);
    if (!s->fleet.dev) {
        fprintf(stderr, "caretaker-sim: out of memory\n");
        return -1;
    }
    for (int i = 0; i < s->sc.ndevices; i++) {
        if (sim_device_init(&s->fleet.dev[i], &s->sc.devices[i], err, sizeof err) < 0) {
            s->fleet.n = i + 1;
            fprintf(stderr, "caretaker-sim: %s: devices[%d]: %s\n", o->scenario, i, err);
            return -1;
        }
        s->fleet.n = i + 1;
        if (s->fleet.dev[i].nmotions)
            s->moving = true;
    }
    s->link = sim_link_open(&o->link, &s->fleet, err, sizeof err);
    if (!s->link) {
        fprintf(stderr, "caretaker-sim: %s\n", err);
        return -1;
    }
    return 0;
}

static void teardown(struct sim *s)
{
    sim_link_close(s->link);
    for (int i = 0; i < s->fleet.n; i++)
        sim_device_free(&s->fleet.dev[i]);
    free(s->fleet.dev);
    sim_scenario_free(&s->sc);
}

int main(int argc, char **argv)
{
    struct options o;
    static struct sim s;
    sigset_t block, waitmask;

    if (parse_args(argc, argv, &o) < 0)
        return 2;

    /* Signals stay blocked except inside ppoll, so a SIGTERM can never slip in between
     * checking the flag and going to sleep. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGINT);

    if (setup(&s, &o) < 0) {
        teardown(&s);
        return 1;
    }
    s.stdin_open = true;
    s.held = o.hold;
    s.t0 = sim_now_ns();
    s.next_tick = s.t0;
    run_due(&s, s.t0);      /* values at t = 0 and steps at 0 s are in place before READY */

    printf("READY");
    if (sim_link_tcp_port(s.link) >= 0)
        printf(" tcp=%d", sim_link_tcp_port(s.link));
    if (o.link.rtu_path)
        printf(" rtu=%s", o.link.rtu_path);
    if (o.link.dtu_host)
        printf(" dtu=%s:%d", o.link.dtu_host, o.link.dtu_port);
    printf("\n");
    fflush(stdout);

    while (!s.quit && !stop_signal) {
        struct pollfd pfd[MAX_POLL];
        int n = 0, link_at;
        if (s.stdin_open)
            pfd[n++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
        link_at = n;
        n += sim_link_prepare(s.link, pfd + n, MAX_POLL - n);

        int64_t now = sim_now_ns(), due = next_deadline(&s);
        struct timespec ts, *tsp = NULL;
        if (due != INT64_MAX) {
            int64_t wait = due > now ? due - now : 0;
            ts.tv_sec = (time_t)(wait / 1000000000);
            ts.tv_nsec = (long)(wait % 1000000000);
            tsp = &ts;
        }
        int r = ppoll(pfd, (nfds_t)n, tsp, &waitmask);
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "caretaker-sim: poll: %s\n", strerror(errno));
            break;
        }
        if (stop_signal)
            break;
        now = sim_now_ns();
        if (r > 0) {
            if (s.stdin_open && link_at == 1 && pfd[0].revents)
                read_stdin(&s);
            sim_link_handle(s.link, pfd + link_at, n - link_at, now);
        }
        run_due(&s, now);
        sim_link_timers(s.link, now);
    }
    teardown(&s);
    return 0;
}
