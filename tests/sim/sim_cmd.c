/* sim_cmd: the control vocabulary (stdin lines and scenario steps) — parse, then execute. */
#include "sim_cmd.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 8

__attribute__((format(printf, 3, 4)))
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Whole number in [lo, hi]; decimal or 0x hex, nothing trailing. */
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

static int split(char *line, char *w[MAX_WORDS])
{
    int n = 0;
    for (char *tok = strtok(line, " \t\r\n"); tok; tok = strtok(NULL, " \t\r\n")) {
        if (n == MAX_WORDS)
            return -1;
        w[n++] = tok;
    }
    return n;
}

static int parse_behave(char **w, int n, struct sim_behaviour *b, char *err, size_t errlen)
{
    long v;
    b->arg = 0;
    if (n == 1 && strcmp(w[0], "ok") == 0) {
        b->kind = SIM_BEHAVE_OK;
    } else if (n == 1 && strcmp(w[0], "silent") == 0) {
        b->kind = SIM_BEHAVE_SILENT;
    } else if (n == 1 && strcmp(w[0], "garbage") == 0) {
        b->kind = SIM_BEHAVE_GARBAGE;
    } else if (n == 1 && strcmp(w[0], "truncate") == 0) {
        b->kind = SIM_BEHAVE_TRUNCATE;
    } else if (n == 2 && strcmp(w[0], "slow") == 0) {
        if (parse_long(w[1], 0, 600000, &v) < 0) {
            fail(err, errlen, "slow: \"%s\" is not a delay of 0..600000 ms", w[1]);
            return -1;
        }
        b->kind = SIM_BEHAVE_SLOW;
        b->arg = (int)v;
    } else if (n == 2 && strcmp(w[0], "exception") == 0) {
        if (parse_long(w[1], 1, 255, &v) < 0) {
            fail(err, errlen, "exception: \"%s\" is not a code of 1..255", w[1]);
            return -1;
        }
        b->kind = SIM_BEHAVE_EXCEPTION;
        b->arg = (int)v;
    } else {
        fail(err, errlen, "behave takes ok, silent, garbage, slow <ms>, exception <code> or "
             "truncate");
        return -1;
    }
    return 0;
}

int sim_cmd_parse(const char *line, struct sim_cmd *out, char *err, size_t errlen)
{
    char buf[SIM_CMD_MAX + 64];
    char *w[MAX_WORDS];
    long v;

    memset(out, 0, sizeof *out);
    if (strlen(line) >= sizeof buf) {
        fail(err, errlen, "line too long");
        return -1;
    }
    strcpy(buf, line);
    int n = split(buf, w);
    if (n <= 0) {
        fail(err, errlen, n < 0 ? "too many words" : "empty command");
        return -1;
    }
    if (strcmp(w[0], "stats") == 0) {
        if (n > 2 || (n == 2 && strcmp(w[1], "received") != 0)) {
            fail(err, errlen, "usage: stats [received]");
            return -1;
        }
        out->kind = SIM_CMD_STATS;
        out->received = n == 2;
        return 0;
    }
    if (strcmp(w[0], "quit") == 0) {
        if (n != 1) {
            fail(err, errlen, "quit takes no arguments");
            return -1;
        }
        out->kind = SIM_CMD_QUIT;
        return 0;
    }
    static const char *const with_unit[] = { "set", "raw", "behave", "hole" };
    bool known = false;
    for (size_t i = 0; i < sizeof with_unit / sizeof with_unit[0]; i++)
        known = known || strcmp(w[0], with_unit[i]) == 0;
    if (!known) {
        fail(err, errlen, "unknown command \"%s\" (set, raw, behave, hole, stats, quit)", w[0]);
        return -1;
    }
    if (n < 2 || parse_long(w[1], 0, 255, &v) < 0) {
        fail(err, errlen, "%s: expected a unit id 0..255 after the command", w[0]);
        return -1;
    }
    out->unit = (int)v;

    if (strcmp(w[0], "set") == 0) {
        char *end;
        if (n != 4) {
            fail(err, errlen, "usage: set <unit> <point> <value>");
            return -1;
        }
        if (strlen(w[2]) >= SIM_NAME_MAX) {
            fail(err, errlen, "point name too long");
            return -1;
        }
        errno = 0;
        out->value = strtod(w[3], &end);
        if (errno == ERANGE || end == w[3] || *end) {
            fail(err, errlen, "\"%s\" is not a number", w[3]);
            return -1;
        }
        out->kind = SIM_CMD_SET;
        strcpy(out->point, w[2]);
        return 0;
    }
    if (strcmp(w[0], "behave") == 0) {
        out->kind = SIM_CMD_BEHAVE;
        return parse_behave(w + 2, n - 2, &out->behave, err, errlen);
    }
    if (strcmp(w[0], "raw") == 0 || strcmp(w[0], "hole") == 0) {
        bool raw = w[0][0] == 'r';
        long a, x;
        if (n != 5) {
            fail(err, errlen, raw ? "usage: raw <unit> <table> <address> <u16value>"
                                  : "usage: hole <unit> <table> <address> <count>");
            return -1;
        }
        if (sim_table_parse(w[2], &out->table) < 0) {
            fail(err, errlen, "\"%s\" is not holding, input, coil or discrete", w[2]);
            return -1;
        }
        if (parse_long(w[3], 0, 65535, &a) < 0) {
            fail(err, errlen, "\"%s\" is not an address 0..65535", w[3]);
            return -1;
        }
        if (parse_long(w[4], raw ? 0 : 1, raw ? 65535 : 65536 - a, &x) < 0) {
            fail(err, errlen, raw ? "\"%s\" is not a value 0..65535"
                                  : "\"%s\" is not a count that stays inside 0..65535", w[4]);
            return -1;
        }
        out->kind = raw ? SIM_CMD_RAW : SIM_CMD_HOLE;
        out->address = (uint32_t)a;
        if (raw)
            out->word = (uint16_t)x;
        else
            out->count = (uint32_t)x;
        return 0;
    }
    fail(err, errlen, "unknown command \"%s\"", w[0]);    /* not reached: checked above */
    return -1;
}

static int stats(struct sim_fleet *f, bool received, char *reply, size_t len)
{
    size_t used = (size_t)snprintf(reply, len, "STATS");
    for (int i = 0; i < f->n && used < len; i++) {
        uint64_t n = received ? f->dev[i].received : f->dev[i].answered;
        used += (size_t)snprintf(reply + used, len - used, "%s%d:%llu", i ? "," : " ",
                                 f->dev[i].unit, (unsigned long long)n);
    }
    return SIM_CMD_DONE;
}

int sim_cmd_exec(const struct sim_cmd *c, struct sim_fleet *f, char *reply, size_t len)
{
    char e[200];

    if (c->kind == SIM_CMD_STATS)
        return stats(f, c->received, reply, len);
    if (c->kind == SIM_CMD_QUIT) {
        snprintf(reply, len, "OK");
        return SIM_CMD_EXIT;
    }
    struct sim_device *d = sim_fleet_find(f, c->unit);
    if (!d) {
        snprintf(reply, len, "ERR no unit %d", c->unit);
        return SIM_CMD_FAILED;
    }
    switch (c->kind) {
    case SIM_CMD_SET: {
        int k = sim_profile_find(d->profile, c->point);
        if (k < 0) {
            snprintf(reply, len, "ERR unit %d (%s) has no point %s", c->unit, d->profile->driver,
                     c->point);
            return SIM_CMD_FAILED;
        }
        if (sim_device_set(d, k, c->value, e, sizeof e) < 0) {
            snprintf(reply, len, "ERR %s", e);
            return SIM_CMD_FAILED;
        }
        break;
    }
    case SIM_CMD_RAW:
        if (sim_device_raw(d, c->table, c->address, c->word, e, sizeof e) < 0) {
            snprintf(reply, len, "ERR %s", e);
            return SIM_CMD_FAILED;
        }
        break;
    case SIM_CMD_BEHAVE:
        d->behave = c->behave;
        break;
    case SIM_CMD_HOLE:
        sim_device_hole(d, c->table, c->address, c->count);
        break;
    default:
        break;
    }
    snprintf(reply, len, "OK");
    return SIM_CMD_DONE;
}
