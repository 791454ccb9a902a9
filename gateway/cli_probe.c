/* cli_probe: `caretaker probe` — talks to one live device through the same transports the
 * daemon uses, so what commissioning sees is what polling will see. Decodes with the gateway's
 * own decode_point on points built here, so the word order picked from the table is the one
 * the driver profile needs. */
#include "cli_probe.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "decode.h"
#include "plan.h"
#include "transport.h"

struct probe_opts {
    struct bus_config bus;
    int have_link;
    int unit;
    int table;
    long address;
    int count;
    int timeout_ms;
    int scan_from, scan_to;
    int wait_s;
};

void probe_usage(FILE *out)
{
    fprintf(out, "usage: caretaker probe LINK [--unit N] [--table T] [--address A] [--count N] [--timeout MS]\n"
                 "       caretaker probe LINK --scan FIRST-LAST [--table T] [--address A] [--timeout MS]\n"
                 "\n"
                 "Reads registers from a live device and prints them in hex and decimal, and every\n"
                 "pair of registers as a 32-bit float and integer in all four word orders, so the\n"
                 "order a meter uses can be picked by eye (its manual's value will appear in one\n"
                 "row). Or, with --scan, asks each unit id of a line for one register and lists\n"
                 "who answered. Run it with the daemon stopped on that line: a serial port has\n"
                 "one master.\n"
                 "\n"
                 "LINK is one of:\n"
                 "  --rtu PATH [--baud N] [--parity N|E|O] [--data-bits 7|8] [--stop-bits 1|2] [--rs485]\n"
                 "        [--rts none|up|down]\n"
                 "        a serial port (default 9600 8N1)\n"
                 "  --tcp HOST[:PORT]\n"
                 "        a Modbus TCP device or gateway (default port 502)\n"
                 "  --dtu-listen [ADDRESS:]PORT --dtu-id ID (--dtu-secret-file FILE | --dtu-insecure)\n"
                 "               [--dtu-pattern PATTERN] [--wait S]\n"
                 "        wait up to S seconds (default 120) for the 4G DTU registering as ID to connect\n"
                 "        to this box on PORT, then talk RTU through it; ID is its registration id\n"
                 "        (often the IMEI, 15 digits), FILE the private file holding its secret, and\n"
                 "        PATTERN its registration packet (default \"{id}:{secret}\"; \"{id}\" with\n"
                 "        --dtu-insecure, which lets the id alone register)\n"
                 "\n"
                 "what to read:\n"
                 "  --unit N          unit id (slave address), default 1\n"
                 "  --table T         holding (FC 03, default), input (FC 04), coil (FC 01) or\n"
                 "                    discrete (FC 02)\n"
                 "  --address A       first address, 0-based as sent on the wire; decimal or 0x hex.\n"
                 "                    Manuals that number registers from 1 (REG0001, 40001) mean A-1.\n"
                 "  --count N         how many, default 2 (1..125 registers, 1..2000 bits)\n"
                 "  --timeout MS      per request; default 1000 (rtu 500, dtu 3000; scan: rtu 100,\n"
                 "                    tcp 300, dtu 2000)\n"
                 "  --scan FIRST-LAST unit ids to try, e.g. 1-247\n"
                 "\n"
                 "examples:\n"
                 "  caretaker probe --rtu /dev/ttyS1 --baud 9600 --unit 7 --address 0 --count 6\n"
                 "  caretaker probe --rtu /dev/ttyUSB0 --parity E --scan 1-247\n"
                 "  caretaker probe --tcp 192.168.10.20:502 --unit 1 --table input --address 0x1010 --count 4\n"
                 "  caretaker probe --dtu-listen 9000 --dtu-id 868120034567891 \\\n"
                 "                  --dtu-secret-file /etc/caretaker/dtu-3.secret --unit 2 --count 4\n"
                 "\n"
                 "reading the pairs: a level meter showing 1.23 m on its display whose registers\n"
                 "read 0x3F9D 0x70A4 prints 1.23 in the ABCD row: write \"order\": \"ABCD\" in the\n"
                 "profile. Exit status: 0 read, 1 no valid answer, 2 bad command line.\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int bad(const char *opt, const char *val, const char *expected)
{
    fprintf(stderr, "caretaker probe: %s \"%s\": expected %s\n", opt, val, expected);
    return -1;
}

/* "HOST:PORT", "[V6]:PORT", "HOST" (port def) into host and *port. */
static int split_host_port(const char *s, char *host, size_t n, int *port, int def)
{
    const char *colon = strrchr(s, ':');
    const char *close = strchr(s, ']');
    long p = def;
    size_t hl = strlen(s);
    if (colon && (!close || colon > close) && (s[0] == '[' || strchr(s, ':') == colon)) {
        if (parse_long(colon + 1, 1, 65535, &p) < 0)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    if (hl >= n)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

static int parse_opts(int argc, char **argv, struct probe_opts *o)
{
    enum {
        O_RTU = 256,
        O_BAUD,
        O_PARITY,
        O_DATA,
        O_STOP,
        O_RS485,
        O_RTS,
        O_TCP,
        O_LISTEN,
        O_ID,
        O_WAIT,
        O_UNIT,
        O_TABLE,
        O_ADDR,
        O_COUNT,
        O_TIMEOUT,
        O_SCAN,
        O_SECRET,
        O_PATTERN,
        O_INSECURE
    };
    static const struct option opts[] = {{"rtu", required_argument, NULL, O_RTU},
                                         {"baud", required_argument, NULL, O_BAUD},
                                         {"parity", required_argument, NULL, O_PARITY},
                                         {"data-bits", required_argument, NULL, O_DATA},
                                         {"stop-bits", required_argument, NULL, O_STOP},
                                         {"rs485", no_argument, NULL, O_RS485},
                                         {"rts", required_argument, NULL, O_RTS},
                                         {"tcp", required_argument, NULL, O_TCP},
                                         {"dtu-listen", required_argument, NULL, O_LISTEN},
                                         {"dtu-id", required_argument, NULL, O_ID},
                                         {"wait", required_argument, NULL, O_WAIT},
                                         {"unit", required_argument, NULL, O_UNIT},
                                         {"table", required_argument, NULL, O_TABLE},
                                         {"address", required_argument, NULL, O_ADDR},
                                         {"count", required_argument, NULL, O_COUNT},
                                         {"timeout", required_argument, NULL, O_TIMEOUT},
                                         {"scan", required_argument, NULL, O_SCAN},
                                         {"dtu-secret-file", required_argument, NULL, O_SECRET},
                                         {"dtu-pattern", required_argument, NULL, O_PATTERN},
                                         {"dtu-insecure", no_argument, NULL, O_INSECURE},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct bus_config *b = &o->bus;
    long v;
    int links = 0;
    char pattern[DTU_LITERAL_MAX * 2] = "";
    memset(o, 0, sizeof *o);
    snprintf(b->id, sizeof b->id, "probe");
    b->baud = 9600;
    b->parity = 'N';
    b->data_bits = 8;
    b->stop_bits = 1;
    o->unit = 1;
    o->table = TABLE_HOLDING;
    o->count = -1;
    o->wait_s = 120;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            probe_usage(stdout);
            exit(0);
        case O_RTU:
            b->type = BUS_RTU;
            snprintf(b->port, sizeof b->port, "%s", optarg);
            links++;
            break;
        case O_BAUD: {
            char list[256], want[280];
            if (parse_long(optarg, 1, 4000000, &v) < 0 || !config_baud_supported((int)v, NULL, 0)) {
                config_baud_supported(0, list, sizeof list);
                snprintf(want, sizeof want, "one of %s", list);
                return bad("--baud", optarg, want);
            }
            b->baud = (int)v;
            break;
        }
        case O_PARITY:
            if (strlen(optarg) != 1 || !strchr("NEO", optarg[0]))
                return bad("--parity", optarg, "N, E or O");
            b->parity = optarg[0];
            break;
        case O_DATA:
            if (parse_long(optarg, 7, 8, &v) < 0)
                return bad("--data-bits", optarg, "7 or 8");
            b->data_bits = (int)v;
            break;
        case O_STOP:
            if (parse_long(optarg, 1, 2, &v) < 0)
                return bad("--stop-bits", optarg, "1 or 2");
            b->stop_bits = (int)v;
            break;
        case O_RS485:
            b->rs485 = true;
            break;
        case O_RTS:
            if ((b->rts = config_rts_mode(optarg)) < 0)
                return bad("--rts", optarg, "none, up or down");
            break;
        case O_TCP:
            b->type = BUS_TCP;
            if (split_host_port(optarg, b->host, sizeof b->host, &b->tcp_port, 502) < 0 || !b->host[0])
                return bad("--tcp", optarg, "HOST or HOST:PORT");
            links++;
            break;
        case O_LISTEN: {
            b->type = BUS_DTU;
            char host[TEXT_MAX_LEN];
            int port = 0;
            if (parse_long(optarg, 1, 65535, &v) == 0) {
                snprintf(host, sizeof host, "0.0.0.0");
                port = (int)v;
            } else if (split_host_port(optarg, host, sizeof host, &port, 0) < 0 || port == 0) {
                return bad("--dtu-listen", optarg, "PORT or ADDRESS:PORT");
            }
            snprintf(b->listen_host, sizeof b->listen_host, "%s", host[0] ? host : "0.0.0.0");
            b->listen_port = port;
            links++;
            break;
        }
        case O_ID: {
            size_t l = strlen(optarg);
            if (l == 0 || l >= sizeof b->dtu_id || l > DTU_LITERAL_MAX)
                return bad("--dtu-id", optarg, "the DTU's registration id, 1..63 characters");
            snprintf(b->dtu_id, sizeof b->dtu_id, "%s", optarg);
            break;
        }
        case O_SECRET:
            if (strlen(optarg) >= sizeof b->secret_file)
                return bad("--dtu-secret-file", optarg, "a path shorter than 256 bytes");
            snprintf(b->secret_file, sizeof b->secret_file, "%s", optarg);
            break;
        case O_PATTERN:
            if (strlen(optarg) >= sizeof pattern)
                return bad("--dtu-pattern", optarg, "a registration pattern of at most 127 bytes");
            snprintf(pattern, sizeof pattern, "%s", optarg);
            break;
        case O_INSECURE:
            b->insecure_no_secret = true;
            break;
        case O_WAIT:
            if (parse_long(optarg, 1, 86400, &v) < 0)
                return bad("--wait", optarg, "seconds 1..86400");
            o->wait_s = (int)v;
            break;
        case O_UNIT:
            if (parse_long(optarg, 0, 255, &v) < 0)
                return bad("--unit", optarg, "a unit id 0..255");
            o->unit = (int)v;
            break;
        case O_TABLE: {
            int found = -1;
            for (int i = 0; i < REG_TABLES_ON_WIRE; i++)
                if (strcmp(optarg, reg_table_names[i]) == 0)
                    found = i;
            if (found < 0)
                return bad("--table", optarg, "holding, input, coil or discrete");
            o->table = found;
            break;
        }
        case O_ADDR:
            if (parse_long(optarg, 0, 65535, &v) < 0)
                return bad("--address", optarg, "an address 0..65535 (decimal, or hex as 0x1010)");
            o->address = v;
            break;
        case O_COUNT:
            if (parse_long(optarg, 1, 2000, &v) < 0)
                return bad("--count", optarg, "a count 1..125 (registers) or 1..2000 (bits)");
            o->count = (int)v;
            break;
        case O_TIMEOUT:
            if (parse_long(optarg, 10, 60000, &v) < 0)
                return bad("--timeout", optarg, "milliseconds 10..60000");
            o->timeout_ms = (int)v;
            break;
        case O_SCAN: {
            char *dash = strchr(optarg, '-');
            long lo, hi;
            if (dash) {
                *dash = '\0';
                int ok = parse_long(optarg, 0, 255, &lo) == 0 && parse_long(dash + 1, 0, 255, &hi) == 0 && lo <= hi;
                *dash = '-';
                if (!ok)
                    return bad("--scan", optarg, "FIRST-LAST unit ids like 1-247");
            } else if (parse_long(optarg, 0, 255, &lo) == 0) {
                hi = lo;
            } else {
                return bad("--scan", optarg, "FIRST-LAST unit ids like 1-247");
            }
            o->scan_from = (int)lo;
            o->scan_to = (int)hi;
            o->have_link |= 2;
            break;
        }
        default:
            fprintf(stderr, "caretaker probe: %s: %s (see caretaker probe --help)\n", argv[optind - 1],
                    c == ':' ? "needs a value" : "unknown option");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "caretaker probe: unexpected \"%s\" (see caretaker probe --help)\n", argv[optind]);
        return -1;
    }
    if (links != 1) {
        fprintf(stderr, "caretaker probe: %s (expected one of --rtu PATH, --tcp HOST[:PORT], --dtu-listen PORT)\n",
                links ? "more than one link given" : "no link given");
        return -1;
    }
    if (b->type == BUS_DTU && !b->dtu_id[0]) {
        fprintf(stderr, "caretaker probe: --dtu-listen needs --dtu-id ID, the registration id the DTU sends\n");
        return -1;
    }
    if (b->type == BUS_DTU && !b->secret_file[0] == !b->insecure_no_secret) {
        fprintf(stderr,
                "caretaker probe: --dtu-listen needs %s (expected --dtu-secret-file FILE, the private file "
                "holding the DTU's registration secret, or --dtu-insecure to let its id alone register)\n",
                b->insecure_no_secret ? "one of --dtu-secret-file and --dtu-insecure, not both" : "a secret");
        return -1;
    }
    if (b->type == BUS_DTU) {
        struct diag err;
        diag_clear(&err);
        if (!pattern[0])
            snprintf(pattern, sizeof pattern, "%s", b->secret_file[0] ? "{id}:{secret}" : "{id}");
        if (config_dtu_register(b, pattern, &err) < 0) {
            fprintf(stderr, "caretaker probe: %s\n", err.msg);
            return -1;
        }
    }
    int scan = o->have_link & 2;
    int bits = o->table == TABLE_COIL || o->table == TABLE_DISCRETE;
    if (o->count < 0)
        o->count = scan ? 1 : 2;
    if (o->count > (bits ? PLAN_MAX_BITS : PLAN_MAX_REGS) || o->address + o->count > 65536) {
        fprintf(stderr,
                "caretaker probe: --count %d from address %ld: one read takes at most %d %s, up to address 65535\n",
                o->count, o->address, bits ? PLAN_MAX_BITS : PLAN_MAX_REGS, bits ? "bits" : "registers");
        return -1;
    }
    if (b->type == BUS_RTU && !scan && (o->unit < 1 || o->unit > 247)) {
        fprintf(stderr,
                "caretaker probe: --unit %d: on a serial line units are 1..247 (0 is broadcast, never answered)\n",
                o->unit);
        return -1;
    }
    if (!o->timeout_ms) {
        if (scan)
            o->timeout_ms = b->type == BUS_RTU ? 100 : b->type == BUS_TCP ? 300 : 2000;
        else
            o->timeout_ms = b->type == BUS_RTU ? 500 : b->type == BUS_TCP ? 1000 : 3000;
    }
    b->timeout_ms = o->timeout_ms;
    return 0;
}

static const char *const order_names[] = {"ABCD", "CDAB", "BADC", "DCBA"};

static void print_value(FILE *out, const struct point *p, const uint16_t *regs, const char *fmt_ok, int width)
{
    double v;
    if (decode_point(p, regs, &v) == Q_OK)
        fprintf(out, fmt_ok, width, v);
    else
        fprintf(out, "%-*s", width, "NaN/inf");
}

void probe_print_registers(FILE *out, uint16_t start, const uint16_t *regs, int count)
{
    fprintf(out, "address   hex     unsigned  signed\n");
    for (int i = 0; i < count; i++)
        fprintf(out, "%7u   0x%04X  %8u  %6d\n", (unsigned)(start + i), regs[i], regs[i], (int16_t)regs[i]);
    if (count < 2)
        return;
    fprintf(out, "\npairs as 32-bit values (ABCD: high word first; CDAB: low word first; BADC, DCBA: bytes swapped)\n");
    fprintf(out, "address      order  float32          int32        uint32\n");
    for (int i = 0; i + 1 < count; i++) {
        for (int o = 0; o < 4; o++) {
            struct point p;
            memset(&p, 0, sizeof p);
            p.table = TABLE_HOLDING;
            p.bit = -1;
            p.scale = 1;
            p.decimals_from = -1;
            p.order = (enum word_order)o;
            char addr[24];
            snprintf(addr, sizeof addr, "%u-%u", (unsigned)(start + i), (unsigned)(start + i + 1));
            fprintf(out, "%-12s %s   ", o == 0 ? addr : "", order_names[o]);
            p.type = VT_FLOAT32;
            print_value(out, &p, regs + i, "%-*.7g", 15);
            fprintf(out, "  ");
            p.type = VT_INT32;
            print_value(out, &p, regs + i, "%*.0f", 11);
            fprintf(out, "  ");
            p.type = VT_UINT32;
            print_value(out, &p, regs + i, "%*.0f", 11);
            fprintf(out, "\n");
        }
    }
}

/* Connects; for a DTU waits until it has registered. */
static int open_link(struct transport *t, const struct probe_opts *o)
{
    if (transport_connect(t) == 0)
        return 0;
    if (o->bus.type != BUS_DTU || strncmp(t->err, "not connected", 13) != 0) {
        fprintf(stderr, "caretaker probe: %s: %s\n", t->label, t->err);
        return -1;
    }
    fprintf(stderr, "waiting up to %d s for DTU %s to connect to %s:%d ...\n", o->wait_s, o->bus.dtu_id,
            o->bus.listen_host, o->bus.listen_port);
    int64_t until = clock_mono_ms() + (int64_t)o->wait_s * 1000;
    while (clock_mono_ms() < until) {
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
        if (transport_connect(t) == 0) {
            fprintf(stderr, "DTU %s connected\n", o->bus.dtu_id);
            return 0;
        }
    }
    fprintf(stderr,
            "caretaker probe: DTU %s did not connect within %d s (check the DTU's server address, port "
            "and registration packet settings)\n",
            o->bus.dtu_id, o->wait_s);
    return -1;
}

static int run_read(struct transport *t, const struct probe_opts *o)
{
    static uint16_t regs[PLAN_MAX_REGS];
    static uint8_t bits[PLAN_MAX_BITS];
    int exc = 0;
    int64_t t0 = clock_mono_ms();
    enum mb_status st = transport_read(t, (uint8_t)o->unit, o->table, (uint16_t)o->address, (uint16_t)o->count,
                                       o->timeout_ms, regs, bits, &exc);
    int64_t ms = clock_mono_ms() - t0;
    printf("unit %d, %s %ld..%ld over %s %s: ", o->unit, reg_table_words(o->table, true), o->address,
           o->address + o->count - 1, t->ops->kind, t->label);
    if (st != MB_OK) {
        printf("%s after %lld ms: %s\n", mb_status_name(st), (long long)ms, t->err);
        if (st == MB_EXCEPTION && exc == MB_EXC_ILLEGAL_ADDRESS)
            printf("the unit is there, but not every address asked exists: try a smaller --count or another "
                   "--address\n");
        else if (st == MB_TIMEOUT && o->bus.type == BUS_RTU)
            printf("no answer: check the unit id (try --scan 1-247), baud rate, parity and the A/B wiring\n");
        return 1;
    }
    printf("%d in %lld ms\n\n", o->count, (long long)ms);
    if (o->table == TABLE_COIL || o->table == TABLE_DISCRETE) {
        printf("address   value\n");
        for (int i = 0; i < o->count; i++)
            printf("%7ld   %d\n", o->address + i, bits[i]);
    } else {
        probe_print_registers(stdout, (uint16_t)o->address, regs, o->count);
    }
    return 0;
}

static int run_scan(struct transport *t, const struct probe_opts *o)
{
    static uint16_t regs[PLAN_MAX_REGS];
    static uint8_t bits[PLAN_MAX_BITS];
    int found = 0;
    char list[1024] = "";
    printf("scanning units %d..%d over %s %s: one read of %s %ld, timeout %d ms each\n", o->scan_from, o->scan_to,
           t->ops->kind, t->label, reg_table_words(o->table, true), o->address, o->timeout_ms);
    for (int u = o->scan_from; u <= o->scan_to; u++) {
        if (o->bus.type == BUS_RTU && (u < 1 || u > 247))
            continue;
        if (!t->connected && transport_connect(t) < 0) {
            printf("unit %d: %s\n", u, t->err);
            return found ? 0 : 1;
        }
        int exc = 0;
        enum mb_status st =
            transport_read(t, (uint8_t)u, o->table, (uint16_t)o->address, 1, o->timeout_ms, regs, bits, &exc);
        if (st == MB_TIMEOUT)
            continue;
        if (st == MB_OK) {
            int bitwise = o->table == TABLE_COIL || o->table == TABLE_DISCRETE;
            printf("unit %d: answered, %s %ld = %u\n", u, reg_table_words(o->table, true), o->address,
                   bitwise ? bits[0] : regs[0]);
        } else if (st == MB_EXCEPTION) {
            printf("unit %d: answered with %s (the unit is there)\n", u, t->err);
        } else if (st == MB_BAD) {
            printf("unit %d: garbled reply (%s): a unit may be there at another baud rate or parity, or two units "
                   "share this id\n",
                   u, t->err);
            continue;
        } else {
            printf("unit %d: %s: %s\n", u, mb_status_name(st), t->err);
            continue;
        }
        found++;
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", found > 1 ? ", " : "", u);
    }
    if (found)
        printf("%d answered: %s\n", found, list);
    else
        printf("no unit answered\n");
    return found ? 0 : 1;
}

int probe_main(int argc, char **argv)
{
    struct probe_opts *o = calloc(1, sizeof *o);
    if (!o)
        return 1;
    if (parse_opts(argc, argv, o) < 0) {
        free(o);
        return 2;
    }
    struct transport *t = transport_new(&o->bus);
    int rc = 1;
    if (t && open_link(t, o) == 0)
        rc = (o->have_link & 2) ? run_scan(t, o) : run_read(t, o);
    transport_free(t);
    free(o);
    return rc;
}
