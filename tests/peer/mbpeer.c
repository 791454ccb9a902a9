/* mbpeer: a Modbus server built only on libmodbus's own server side (modbus_mapping_new,
 * modbus_receive, modbus_reply), serving the registers and bits given on its command line over
 * Modbus TCP or RTU — a device nobody here wrote, for the daemon's integration tests.
 *
 * usage: mbpeer --tcp | --rtu DEVICE [--baud N] [--parity N|E|O] [--unit N]
 *               [--set TABLE:ADDRESS=V[,V...]]...
 * TABLE is holding, input, coil or discrete; values are decimal or 0x hex, one per register
 * (or bit) from ADDRESS on. Every address of every table exists (zero unless set).
 * Ready: with --tcp it prints "port N" (a free loopback port) on stdout, with --rtu "ready". */
#include <errno.h>
#include <modbus.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NADDR 0x10000

static void usage(const char *why)
{
    fprintf(stderr, "mbpeer: %s\nusage: mbpeer --tcp | --rtu DEVICE [--baud N] [--parity N|E|O] [--unit N] "
                    "[--set TABLE:ADDRESS=V[,V...]]...\n",
            why);
    exit(2);
}

static long number(const char *s, long lo, long hi, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (errno || end == s || (*end && *end != ',') || v < lo || v > hi) {
        fprintf(stderr, "mbpeer: %s: \"%s\" is not a number in %ld..%ld\n", what, s, lo, hi);
        exit(2);
    }
    return v;
}

/* "holding:600=0xCCCD,0x3E4C" into the map. */
static void set_values(modbus_mapping_t *map, const char *spec)
{
    static const char *const tables[] = {"holding", "input", "coil", "discrete"};
    const char *colon = strchr(spec, ':'), *eq = strchr(spec, '=');
    if (!colon || !eq || eq < colon)
        usage("--set wants TABLE:ADDRESS=V[,V...]");
    size_t t = 0;
    while (t < 4 && (strlen(tables[t]) != (size_t)(colon - spec) || strncmp(spec, tables[t], (size_t)(colon - spec))))
        t++;
    if (t == 4)
        usage("--set: the table is holding, input, coil or discrete");
    char addr[16];
    snprintf(addr, sizeof addr, "%.*s", (int)(eq - colon - 1), colon + 1);
    long a = number(addr, 0, NADDR - 1, "--set address");
    for (const char *v = eq + 1; *v; a++) {
        if (a >= NADDR)
            usage("--set: values run past address 65535");
        long x = number(v, 0, t < 2 ? 0xFFFF : 1, "--set value");
        if (t == 0)
            map->tab_registers[a] = (uint16_t)x;
        else if (t == 1)
            map->tab_input_registers[a] = (uint16_t)x;
        else if (t == 2)
            map->tab_bits[a] = (uint8_t)x;
        else
            map->tab_input_bits[a] = (uint8_t)x;
        v = strchr(v, ',') ? strchr(v, ',') + 1 : v + strlen(v);
    }
}

/* Answers requests on the connected ctx until the link fails. */
static void serve(modbus_t *ctx, modbus_mapping_t *map)
{
    uint8_t req[MODBUS_MAX_ADU_LENGTH];
    for (;;) {
        int rc = modbus_receive(ctx, req);
        if (rc > 0) {
            modbus_reply(ctx, req, rc, map);
        } else if (rc < 0 && errno != EMBBADCRC && errno != EMBBADDATA && errno != ETIMEDOUT) {
            return;
        }
    }
}

static int tcp_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
        return -1;
    return ntohs(sa.sin_port);
}

int main(int argc, char **argv)
{
    const char *rtu = NULL;
    int tcp = 0, baud = 9600, unit = 1;
    char parity = 'N';
    modbus_mapping_t *map = modbus_mapping_new(NADDR, NADDR, NADDR, NADDR);
    if (!map) {
        fprintf(stderr, "mbpeer: %s\n", modbus_strerror(errno));
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--tcp") == 0) {
            tcp = 1;
            continue;
        }
        if (!next)
            usage("an option lacks its value");
        if (strcmp(argv[i], "--rtu") == 0)
            rtu = next;
        else if (strcmp(argv[i], "--baud") == 0)
            baud = (int)number(next, 1, 4000000, "--baud");
        else if (strcmp(argv[i], "--parity") == 0 && strlen(next) == 1 && strchr("NEO", next[0]))
            parity = next[0];
        else if (strcmp(argv[i], "--unit") == 0)
            unit = (int)number(next, 1, 247, "--unit");
        else if (strcmp(argv[i], "--set") == 0)
            set_values(map, next);
        else
            usage("unknown option");
        i++;
    }
    if (tcp == !!rtu)
        usage("one of --tcp and --rtu");
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (rtu) {
        modbus_t *ctx = modbus_new_rtu(rtu, baud, parity, 8, 1);
        if (!ctx || modbus_set_slave(ctx, unit) < 0 || modbus_connect(ctx) < 0) {
            fprintf(stderr, "mbpeer: %s: %s\n", rtu, modbus_strerror(errno));
            return 1;
        }
        printf("ready\n");
        serve(ctx, map);
        fprintf(stderr, "mbpeer: %s: %s\n", rtu, modbus_strerror(errno));
        return 1;
    }
    /* Port 0: the kernel picks a free one, read back from the listening socket. */
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", 0);
    int listener = ctx ? modbus_tcp_listen(ctx, 1) : -1;
    if (listener < 0) {
        fprintf(stderr, "mbpeer: listen: %s\n", modbus_strerror(errno));
        return 1;
    }
    printf("port %d\n", tcp_port(listener));
    for (;;) {
        if (modbus_tcp_accept(ctx, &listener) < 0) {
            fprintf(stderr, "mbpeer: accept: %s\n", modbus_strerror(errno));
            return 1;
        }
        serve(ctx, map);
        /* The client went away: close its connection and take the next. */
        close(modbus_get_socket(ctx));
        modbus_set_socket(ctx, -1);
    }
}
