/* main: the command line — picks the command, parses its options, wires config, check, probe,
 * status and the core; nothing else. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_check.h"
#include "cli_probe.h"
#include "cli_status.h"
#include "clock.h"
#include "config.h"
#include "core.h"
#include "log.h"
#include "publish.h"

/* The installed profiles; a binary run from its build tree (its own path inside the build
 * directory it was built in) uses the source tree's instead, so `build/gateway/caretaker check
 * -c config/example.json` works as is. An installed binary never looks there. */
static const char *default_drivers(void)
{
    const char *d = getenv("CARETAKER_DRIVERS_DIR");
    if (d)
        return d;
#if defined(CARETAKER_SOURCE_DRIVERS_DIR) && defined(CARETAKER_BUILD_DIR)
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    size_t blen = strlen(CARETAKER_BUILD_DIR);
    if (n > 0) {
        self[n] = '\0';
        if (strncmp(self, CARETAKER_BUILD_DIR, blen) == 0 && self[blen] == '/')
            return CARETAKER_SOURCE_DRIVERS_DIR;
    }
#endif
    return CARETAKER_DRIVERS_DIR;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: caretaker COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  run -c FILE       poll the buses of FILE into the store until SIGTERM or SIGINT\n"
            "  check -c FILE     validate FILE and the driver profiles it uses; print each device's\n"
            "                    planned reads and each bus's estimated load; exit 1 on any error\n"
            "  probe LINK ...    read registers from a live meter, or scan a line's unit ids\n"
            "  status -c FILE    devices, last readings, backlog and active alerts from the store\n"
            "  version           print the version (also --version)\n"
            "  help COMMAND      what a command does, its options and examples\n"
            "\n"
            "options of run, check and status:\n"
            "  -c, --config FILE   the site's config file\n"
            "  -d, --drivers DIR   installed driver profiles (default %s)\n"
            "  -v, --verbose       log debug messages too\n"
            "\n"
            "`caretaker COMMAND --help` is the same as `caretaker help COMMAND`.\n",
            CARETAKER_DRIVERS_DIR);
}

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: caretaker run -c FILE [-d DIR] [-v]\n"
            "\n"
            "Runs the gateway in the foreground: one poller per bus of FILE, readings into the\n"
            "store, messages to the MQTT broker. Logs go to stderr, each line with a <N> priority\n"
            "prefix that journald keeps as the level. Stops on SIGTERM or SIGINT after committing\n"
            "what it holds; SIGHUP checks the config again. A config with any error is refused\n"
            "before anything is opened (run `caretaker check -c FILE` to see why).\n"
            "\n"
            "options:\n"
            "  -c, --config FILE   the site's config file (see docs/config.md)\n"
            "  -d, --drivers DIR   installed driver profiles (default %s)\n"
            "  -v, --verbose       log debug messages too\n"
            "\n"
            "example:\n"
            "  caretaker run -c /etc/caretaker/caretaker.json\n",
            CARETAKER_DRIVERS_DIR);
}

static void check_usage(FILE *out)
{
    fprintf(out,
            "usage: caretaker check -c FILE [-d DIR]\n"
            "\n"
            "Validates FILE and every driver profile it uses, without touching the store or a\n"
            "serial port. An error names the file, the JSON path and what was expected:\n"
            "  caretaker.json: buses[0].devices[2].unit: 7 is already the unit of device ...\n"
            "The broker's files are checked as a run checks them at start: the CA and\n"
            "certificate readable, the key and password files readable and private to the\n"
            "service (run the check as its user: sudo -u caretaker caretaker check ...).\n"
            "On success prints each device's planned reads (which registers in how many\n"
            "requests) and each bus's estimated load against its poll intervals, then OK.\n"
            "\n"
            "options:\n"
            "  -c, --config FILE   the site's config file\n"
            "  -d, --drivers DIR   installed driver profiles (default %s)\n"
            "\n"
            "example:\n"
            "  caretaker check -c /etc/caretaker/caretaker.json && systemctl reload caretaker\n"
            "\n"
            "Exit status: 0 valid, 1 errors found, 2 bad command line.\n",
            CARETAKER_DRIVERS_DIR);
}

static void version_usage(FILE *out)
{
    fprintf(out, "usage: caretaker version | caretaker --version\n\nPrints \"caretaker\" and the version.\n");
}

/* The help of a command; returns 0, or 2 for a command that does not exist. */
static int command_help(const char *cmd, FILE *out)
{
    if (!strcmp(cmd, "run"))
        run_usage(out);
    else if (!strcmp(cmd, "check"))
        check_usage(out);
    else if (!strcmp(cmd, "probe"))
        probe_usage(out);
    else if (!strcmp(cmd, "status"))
        status_usage(out);
    else if (!strcmp(cmd, "version"))
        version_usage(out);
    else if (!strcmp(cmd, "help"))
        usage(out);
    else
        return 2;
    return 0;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

/* run, check and status share -c/-d/-v; status also takes --db. */
struct common_opts {
    const char *config;
    const char *drivers;
    const char *db;
};

static int parse_common(const char *cmd, int argc, char **argv, struct common_opts *o)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"drivers", required_argument, NULL, 'd'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"db", required_argument, NULL, 'D'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 2;
    opterr = 0;
    o->drivers = default_drivers();
    while ((c = getopt_long(argc, argv, ":c:d:v", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'd':
            o->drivers = optarg;
            break;
        case 'v':
            log_set_level(LOG_LVL_DEBUG);
            break;
        case 'D':
            if (strcmp(cmd, "status") == 0) {
                o->db = optarg;
                break;
            }
            /* fall through */
        default:
            fprintf(stderr, "caretaker %s: %s: %s (see caretaker help %s)\n", cmd, argv[optind - 1],
                    c == ':' ? "needs a value" : "unknown option", cmd);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "caretaker %s: unexpected \"%s\" (see caretaker help %s)\n", cmd, argv[optind], cmd);
        return -1;
    }
    return 0;
}

static int load_config(const struct common_opts *o, struct config **cfg)
{
    struct diag err;
    diag_clear(&err);
    if (config_load(o->config, o->drivers, cfg, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "help")) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        if (command_help(argv[2], stdout) != 0) {
            fprintf(stderr, "caretaker help: no command \"%s\" (expected run, check, probe, status or version)\n",
                    argv[2]);
            return 2;
        }
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("caretaker %s\n", CARETAKER_VERSION);
        return 0;
    }
    if (strcmp(cmd, "run") && strcmp(cmd, "check") && strcmp(cmd, "probe") && strcmp(cmd, "status")) {
        fprintf(stderr, "caretaker: unknown command \"%s\" (expected run, check, probe, status or version)\n", cmd);
        return 2;
    }
    if (wants_help(argc, argv) && strcmp(cmd, "probe") != 0)
        return command_help(cmd, stdout);
    if (!strcmp(cmd, "probe"))
        return probe_main(argc - 1, argv + 1);

    struct common_opts o = {0};
    if (parse_common(cmd, argc, argv, &o) < 0)
        return 2;
    if (!strcmp(cmd, "status")) {
        if (!o.db && !o.config) {
            fprintf(stderr, "caretaker status: give -c FILE (the config naming the store) or --db PATH\n");
            return 2;
        }
        struct config *cfg = NULL;
        if (!o.db && load_config(&o, &cfg) < 0)
            return 1;
        int rc = status_print(stdout, o.db ? o.db : cfg->store.path, clock_wall_ms()) == 0 ? 0 : 1;
        config_free(cfg);
        return rc;
    }
    if (!o.config) {
        fprintf(stderr, "caretaker %s: missing -c FILE\n", cmd);
        return 2;
    }
    struct config *cfg = NULL;
    /* Refuse before anything else is touched: no store is opened on a bad config. */
    if (load_config(&o, &cfg) < 0)
        return 1;
    int rc;
    if (!strcmp(cmd, "check")) {
        /* The broker's files are checked as the start of a run checks them: what check
         * passes, run does not refuse at start. */
        struct diag err;
        diag_clear(&err);
        if (cfg->has_mqtt && publish_check(cfg, &err) < 0) {
            fprintf(stderr, "%s: %s\n", cfg->path, err.msg);
            rc = 1;
        } else {
            check_print(stdout, cfg);
            printf("OK\n");
            rc = 0;
        }
    } else {
        struct config *next = NULL;
        rc = core_run(cfg, false, &next);
        /* A reload hands over the config it validated (parsed once, in the core). If that one
         * cannot start (a TLS file it names is unreadable...), the gateway goes back to the
         * config it was running rather than stop. */
        while (rc == CORE_RELOAD) {
            struct config *fresh = next;
            next = NULL;
            rc = core_run(fresh, true, &next);
            if (rc == 1) {
                log_err("core: reload: the new config could not start (above); going back to the running one");
                config_free(fresh);
                rc = core_run(cfg, true, &next);
                continue;
            }
            config_free(cfg);
            cfg = fresh;
        }
    }
    config_free(cfg);
    return rc;
}
