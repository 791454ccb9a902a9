/* main: the command line — parses arguments and wires config, check and the core; nothing else. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_check.h"
#include "config.h"
#include "core.h"
#include "log.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: caretaker COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  run -c FILE      poll the buses of FILE into the store until SIGTERM or SIGINT\n"
            "  check -c FILE    validate FILE and the driver profiles it uses; print each device's\n"
            "                   planned reads and each bus's estimated load; exit 1 on any error\n"
            "  version          print the version\n"
            "\n"
            "options:\n"
            "  -c, --config FILE   the site's config file\n"
            "  -d, --drivers DIR   installed driver profiles (default %s)\n"
            "  -v, --verbose       log debug messages too\n"
            "  -h, --help          this text\n",
            CARETAKER_DRIVERS_DIR);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("caretaker %s\n", CARETAKER_VERSION);
        return 0;
    }
    if (strcmp(cmd, "run") && strcmp(cmd, "check")) {
        fprintf(stderr, "caretaker: unknown command \"%s\" (expected run, check or version)\n", cmd);
        return 2;
    }
    const char *config_path = NULL;
    const char *drivers = getenv("CARETAKER_DRIVERS_DIR");
    if (!drivers)
        drivers = CARETAKER_DRIVERS_DIR;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"drivers", required_argument, NULL, 'd'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int o;
    optind = 2;
    while ((o = getopt_long(argc, argv, "c:d:vh", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            config_path = optarg;
            break;
        case 'd':
            drivers = optarg;
            break;
        case 'v':
            log_set_level(LOG_LVL_DEBUG);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!config_path) {
        fprintf(stderr, "caretaker %s: missing -c FILE\n", cmd);
        return 2;
    }
    struct config *cfg = NULL;
    struct diag err;
    diag_clear(&err);
    if (config_load(config_path, drivers, &cfg, &err) < 0) {
        /* Refuse before anything else is touched: no store is opened on a bad config. */
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int rc;
    if (!strcmp(cmd, "check")) {
        check_print(stdout, cfg);
        printf("OK\n");
        rc = 0;
    } else {
        rc = core_run(cfg);
    }
    config_free(cfg);
    return rc;
}
