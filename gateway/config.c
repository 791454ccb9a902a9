/* config: the site's JSON config file to a validated struct config, with the profiles it uses.
 * Two passes, so each error is judged where it can be: parse_* check each field on its own
 * (type, range, unknown keys), check_* then judge fields against each other and against the
 * driver profiles. Reads only the config file, the profile files and the DTUs' secret files;
 * never the database. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "array.h"
#include "config_commands.h"
#include "config_contracts.h"
#include "json_util.h"
#include "profile.h"
#include "rules.h"
#include "secret_file.h"

/* The time zone database is checked only where installed: a minimal image may lack it, and
 * then the name is used as given. */
#define ZONEINFO_DIR "/usr/share/zoneinfo"

/* An integer field: name, bounds and default in one row, read into base + off. */
struct int_field {
    const char *key;
    int lo, hi, def;
    size_t off;
};

static int read_ints(struct jctx *c, const cJSON *obj, const struct int_field *f, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++)
        if (json_get_int(c, obj, f[i].key, f[i].lo, f[i].hi, f[i].def, false, (int *)((char *)base + f[i].off)) < 0)
            return -1;
    return 0;
}

static const char *const root_keys[] = {"site", "gateway", "store", "mqtt", "alerts", "contracts", "commands", "buses"};
static const char *const site_keys[] = {"id", "name", "timezone"};
static const char *const gateway_keys[] = {"id", "drivers_dirs"};
static const char *const store_keys[] = {"path", "max_mb", "retention_days", "commit_ms", "batch"};
static const char *const mqtt_keys[] = {"host",      "port",         "qos",      "keepalive_s",   "protocol",
                                        "client_id", "topic_prefix", "username", "password_file", "inflight",
                                        "tls",       "metrics_s",    "payload",  "batch_ms"};
static const char *const tls_keys[] = {"ca_file", "cert_file", "key_file", "insecure_skip_verify", "tls_version"};
/* The lowest TLS version offered; 1.0 and 1.1 are refused by name, not as a typo. */
static const char *const tls_versions[] = {"tlsv1.2", "tlsv1.3"};
static const char *const tls_versions_old[] = {"tlsv1.1", "tlsv1.0", "tlsv1", "sslv3"};
static const char *const contract_keys[] = {
    "id", "contractor", "covers", "respond_minutes", "respond_seconds", "deadlines", "escalation", "maintenance_days"};
static const char *const alerts_keys[] = {"escalate_every_s", "flap_max", "flap_window_s", "flap_hold_s",
                                          "comm_lost_s"};
static const char *const severity_keys[] = {"critical", "major", "minor", "info"};
static const char *const bus_common_keys[] = {"id",      "type",          "timeout_ms",     "retries",
                                              "max_gap", "offline_after", "backoff_max_ms", "devices"};
static const char *const bus_rtu_keys[] = {"port",      "baud",  "parity", "data_bits",
                                           "stop_bits", "rs485", "rts",    "frame_delay_ms"};
static const char *const bus_tcp_keys[] = {"host", "port"};
static const char *const bus_dtu_keys[] = {"listen",    "port",        "dtu_id", "register_pattern",
                                           "heartbeat", "secret_file", "allow",  "insecure_no_secret"};
static const char *const device_keys[] = {"id",      "unit",   "driver", "poll_ms", "location",    "timeout_ms",
                                          "retries", "params", "inputs", "asset",   "report_max_s"};
static const char *const asset_keys[] = {"registration_code", "number", "lat", "lon"};

static const struct int_field store_ints[] = {
    {"max_mb", 1, 1048576, 512, offsetof(struct store_config, max_mb)},
    {"retention_days", 1, 3650, 90, offsetof(struct store_config, retention_days)},
    {"commit_ms", 10, 10000, 250, offsetof(struct store_config, commit_ms)},
    {"batch", 1, 100000, 1000, offsetof(struct store_config, batch)},
};

static const struct int_field mqtt_ints[] = {
    {"qos", 0, 2, 1, offsetof(struct mqtt_config, qos)},
    {"keepalive_s", 5, 3600, 30, offsetof(struct mqtt_config, keepalive_s)},
    {"inflight", 1, 65535, 100, offsetof(struct mqtt_config, inflight)},
    {"metrics_s", 1, 3600, 60, offsetof(struct mqtt_config, metrics_s)},
    {"batch_ms", 0, 60000, 0, offsetof(struct mqtt_config, batch_ms)},
};

/* The same defaults as the rules' own (rules.h), which apply without an "alerts" section. */
static const struct int_field alerts_ints[] = {
    {"escalate_every_s", 0, 604800, RULES_DEFAULT_ESCALATE_EVERY_S, offsetof(struct alerts_config, escalate_every_s)},
    {"flap_max", 1, 15, RULES_DEFAULT_FLAP_MAX, offsetof(struct alerts_config, flap_max)},
    {"flap_window_s", 1, 86400, RULES_DEFAULT_FLAP_WINDOW_S, offsetof(struct alerts_config, flap_window_s)},
    {"flap_hold_s", 0, 86400, RULES_DEFAULT_FLAP_HOLD_S, offsetof(struct alerts_config, flap_hold_s)},
    {"comm_lost_s", 1, 86400, RULES_DEFAULT_COMM_LOST_S, offsetof(struct alerts_config, comm_lost_s)},
};

/* timeout_ms is read apart: its default depends on the bus type. */
static const struct int_field bus_ints[] = {
    {"retries", 0, 10, 1, offsetof(struct bus_config, retries)},
    {"max_gap", 0, 124, 10, offsetof(struct bus_config, max_gap)},
    {"offline_after", 1, 100, 3, offsetof(struct bus_config, offline_after)},
    {"backoff_max_ms", 1000, 3600000, 60000, offsetof(struct bus_config, backoff_max_ms)},
};

static const struct int_field rtu_ints[] = {
    {"data_bits", 7, 8, 8, offsetof(struct bus_config, data_bits)},
    {"stop_bits", 1, 2, 1, offsetof(struct bus_config, stop_bits)},
};

/* Every rate both termios (<asm-generic/termbits.h>) and libmodbus 3.1.6's table take. */
static const int bauds[] = {110,     300,     600,     1200,    2400,    4800,    9600,   19200,
                            38400,   57600,   115200,  230400,  460800,  500000,  576000, 921600,
                            1000000, 1152000, 1500000, 2500000, 3000000, 3500000, 4000000};

/* The rts key's words, by enum rtu_rts. */
static const char *const rts_names[] = {"none", "up", "down"};
_Static_assert(RTS_NONE == 0 && RTS_UP == 1 && RTS_DOWN == 2, "rts_names is indexed by enum rtu_rts");

#define ID_RULE "a-z, 0-9, _ and -"

struct loader {
    struct jctx c;
    char dir[PATH_MAX_LEN]; /* the config file's directory, for relative paths; "" = as given */
    const char *installed;
    struct config *cfg;
};

static int get_id(struct jctx *c, const cJSON *obj, const char *key, char *out, size_t n)
{
    if (json_get_string(c, obj, key, NULL, true, "an id of " ID_RULE, out, n) < 0)
        return -1;
    if (!json_name_ok(out, "_-"))
        return json_fail_key(c, key, "\"%s\" is not a valid id (expected " ID_RULE ", starting with a letter or digit)",
                             out);
    return 0;
}

/* A relative path in the config means relative to the config file, not to the daemon's cwd.
 * Errors name the current path. */
static int resolve_path(struct loader *l, const char *raw, char *out)
{
    if (raw[0] == '/' || !l->dir[0]) {
        if (strlen(raw) >= PATH_MAX_LEN)
            return json_fail(&l->c, "\"%.60s...\" is too long (at most %d bytes)", raw, PATH_MAX_LEN - 1);
        snprintf(out, PATH_MAX_LEN, "%s", raw);
        return 0;
    }
    int w = snprintf(out, PATH_MAX_LEN, "%s/%s", l->dir, raw);
    if (w < 0 || w >= PATH_MAX_LEN)
        return json_fail(&l->c, "\"%.60s\" relative to %.60s is too long (at most %d bytes)", raw, l->dir,
                         PATH_MAX_LEN - 1);
    return 0;
}

static int get_path(struct loader *l, const cJSON *obj, const char *key, bool required, const char *what, char *out)
{
    char raw[PATH_MAX_LEN];
    int rc = json_get_string(&l->c, obj, key, NULL, required, what, raw, sizeof raw);
    if (rc <= 0)
        return rc;
    size_t mark = json_enter_key(&l->c, key);
    rc = resolve_path(l, raw, out);
    json_leave(&l->c, mark);
    return rc ? -1 : 1;
}

static int parse_timezone(struct jctx *c, const cJSON *site, char *tz, size_t n)
{
    if (json_get_string(c, site, "timezone", "Asia/Shanghai", false, "a time zone name like \"Asia/Shanghai\"", tz, n) <
        0)
        return -1;
    bool ok = tz[0] != '/' && !strstr(tz, "..");
    for (const char *s = tz; *s && ok; s++)
        ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("/_+-", *s);
    if (!ok)
        return json_fail_key(c, "timezone", "\"%s\" is not a time zone name (expected a name like \"Asia/Shanghai\")",
                             tz);
    struct stat st;
    if (stat(ZONEINFO_DIR, &st) == 0 && S_ISDIR(st.st_mode)) {
        char p[PATH_MAX_LEN];
        int w = snprintf(p, sizeof p, "%s/%s", ZONEINFO_DIR, tz);
        if (w < 0 || (size_t)w >= sizeof p || stat(p, &st) != 0 || !S_ISREG(st.st_mode))
            return json_fail_key(c, "timezone", "\"%s\" is not in %s (expected a name like \"Asia/Shanghai\")", tz,
                                 ZONEINFO_DIR);
    }
    return 0;
}

static int parse_site(struct loader *l, const cJSON *root)
{
    struct jctx *c = &l->c;
    const cJSON *site;
    if (json_get_child(c, root, "site", cJSON_Object, true, &site) < 0)
        return -1;
    size_t mark = json_enter_key(c, "site");
    if (json_check_keys(c, site, site_keys, NELEM(site_keys)) ||
        get_id(c, site, "id", l->cfg->site_id, sizeof l->cfg->site_id) ||
        json_get_string(c, site, "name", "", false, "the site's name", l->cfg->site_name, sizeof l->cfg->site_name) <
            0 ||
        parse_timezone(c, site, l->cfg->timezone, sizeof l->cfg->timezone))
        return -1;
    json_leave(c, mark);
    return 0;
}

static int parse_gateway(struct loader *l, const cJSON *root)
{
    struct jctx *c = &l->c;
    struct config *cfg = l->cfg;
    const cJSON *gw, *dirs;
    if (json_get_child(c, root, "gateway", cJSON_Object, true, &gw) < 0)
        return -1;
    size_t mark = json_enter_key(c, "gateway");
    if (json_check_keys(c, gw, gateway_keys, NELEM(gateway_keys)) ||
        get_id(c, gw, "id", cfg->gateway_id, sizeof cfg->gateway_id) ||
        json_get_child(c, gw, "drivers_dirs", cJSON_Array, false, &dirs) < 0)
        return -1;
    if (dirs) {
        size_t m2 = json_enter_key(c, "drivers_dirs");
        /* one place is kept for the installed directory, searched last */
        int n = cJSON_GetArraySize(dirs);
        if (n > MAX_DRIVER_DIRS - 1)
            return json_fail(c, "%d directories (expected at most %d)", n, MAX_DRIVER_DIRS - 1);
        int i = 0;
        for (const cJSON *d = dirs->child; d; d = d->next, i++) {
            size_t m3 = json_enter_index(c, i);
            if (json_expect_type(c, d, cJSON_String, "a directory path"))
                return -1;
            if (!d->valuestring[0])
                return json_fail(c, "\"\" is empty (expected a directory path)");
            if (resolve_path(l, d->valuestring, cfg->driver_dirs[i]))
                return -1;
            json_leave(c, m3);
        }
        cfg->ndriver_dirs = n;
        json_leave(c, m2);
    }
    json_leave(c, mark);
    return 0;
}

static int parse_store(struct loader *l, const cJSON *root)
{
    struct jctx *c = &l->c;
    struct store_config *s = &l->cfg->store;
    const cJSON *obj;
    if (json_get_child(c, root, "store", cJSON_Object, true, &obj) < 0)
        return -1;
    size_t mark = json_enter_key(c, "store");
    if (json_check_keys(c, obj, store_keys, NELEM(store_keys)) ||
        get_path(l, obj, "path", true, "the database file's path", s->path) < 0 ||
        read_ints(c, obj, store_ints, NELEM(store_ints), s))
        return -1;
    json_leave(c, mark);
    return 0;
}

static int parse_tls_version(struct jctx *c, const cJSON *obj, struct tls_config *t)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "tls_version");
    for (size_t i = 0; v && cJSON_IsString(v) && i < NELEM(tls_versions_old); i++)
        if (!strcmp(v->valuestring, tls_versions_old[i]))
            return json_fail_key(c, "tls_version",
                                 "\"%s\" is older than TLS 1.2, the lowest accepted (expected \"tlsv1.2\", the "
                                 "default, which offers 1.2 and 1.3, or \"tlsv1.3\")",
                                 v->valuestring);
    int i;
    if (json_get_enum(c, obj, "tls_version", tls_versions, NELEM(tls_versions), "TLS version name", 0, false, &i) < 0)
        return -1;
    t->tls_version = tls_versions[i];
    return 0;
}

static int parse_tls(struct loader *l, const cJSON *obj, struct tls_config *t)
{
    struct jctx *c = &l->c;
    size_t mark = json_enter_key(c, "tls");
    if (json_check_keys(c, obj, tls_keys, NELEM(tls_keys)) ||
        json_get_bool(c, obj, "insecure_skip_verify", false, &t->insecure_skip_verify) < 0)
        return -1;
    int has_ca = get_path(l, obj, "ca_file", false, "the CA certificate file", t->ca_file);
    int has_cert = has_ca < 0 ? -1 : get_path(l, obj, "cert_file", false, "the client certificate file", t->cert_file);
    int has_key = has_cert < 0 ? -1 : get_path(l, obj, "key_file", false, "the client key file", t->key_file);
    if (has_key < 0 || parse_tls_version(c, obj, t) < 0)
        return -1;
    /* Refuse early what the TLS library would only refuse at connect time, or worse, accept.
     * No ca_file is fine: the system's CAs are used (a broker with a public certificate). */
    if (has_cert && !has_key)
        return json_fail_key(c, "key_file", "missing while cert_file is \"%s\" (expected both or neither)",
                             t->cert_file);
    if (has_key && !has_cert)
        return json_fail_key(c, "cert_file", "missing while key_file is \"%s\" (expected both or neither)",
                             t->key_file);
    t->enabled = true;
    json_leave(c, mark);
    return 0;
}

static int topic_prefix_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && s[0] != '/' && s[n - 1] != '/' && !strpbrk(s, "+#");
}

static int parse_mqtt(struct loader *l, const cJSON *root)
{
    struct jctx *c = &l->c;
    struct config *cfg = l->cfg;
    struct mqtt_config *m = &cfg->mqtt;
    const cJSON *obj, *tls;
    int rc = json_get_child(c, root, "mqtt", cJSON_Object, false, &obj);
    if (rc <= 0)
        return rc;
    cfg->has_mqtt = true;
    size_t mark = json_enter_key(c, "mqtt");
    static const char *const protocols[] = {"3.1.1", "5"};
    /* v1 stays the default: a consumer written for it would find its topics silent under v2. */
    static const char *const payloads[] = {"v1", "v2"};
    int proto, payload;
    if (json_check_keys(c, obj, mqtt_keys, NELEM(mqtt_keys)) ||
        json_get_child(c, obj, "tls", cJSON_Object, false, &tls) < 0 || (tls && parse_tls(l, tls, &m->tls)) ||
        json_get_string(c, obj, "host", "127.0.0.1", false, "a host name or address", m->host, sizeof m->host) < 0 ||
        json_get_int(c, obj, "port", 1, 65535, tls ? 8883 : 1883, false, &m->port) < 0 ||
        read_ints(c, obj, mqtt_ints, NELEM(mqtt_ints), m) ||
        json_get_enum(c, obj, "protocol", protocols, NELEM(protocols), "protocol version", 1, false, &proto) < 0 ||
        json_get_enum(c, obj, "payload", payloads, NELEM(payloads), "payload version", 0, false, &payload) < 0 ||
        json_get_string(c, obj, "username", NULL, false, "a user name", m->username, sizeof m->username) < 0 ||
        get_path(l, obj, "password_file", false, "the file holding the password", m->password_file) < 0)
        return -1;
    if (m->password_file[0] && !m->username[0])
        return json_fail_key(c, "password_file", "\"%s\" is set without mqtt.username (expected both)",
                             m->password_file);
    m->protocol = proto == 0 ? 3 : 5;
    m->payload = payload + 1;
    int has = json_get_string(c, obj, "client_id", NULL, false, "a client id", m->client_id, sizeof m->client_id);
    if (has < 0)
        return -1;
    if (!has) {
        int w = snprintf(m->client_id, sizeof m->client_id, "caretaker-%s-%s", cfg->site_id, cfg->gateway_id);
        if (w < 0 || (size_t)w >= sizeof m->client_id)
            return json_fail_key(c, "client_id", "missing, and the default is too long (expected a client id)");
    }
    has = json_get_string(c, obj, "topic_prefix", NULL, false, "a topic prefix like \"caretaker/site/gw\"",
                          m->topic_prefix, sizeof m->topic_prefix);
    if (has < 0)
        return -1;
    if (!has)
        snprintf(m->topic_prefix, sizeof m->topic_prefix, "caretaker/%s/%s", cfg->site_id, cfg->gateway_id);
    else if (!topic_prefix_ok(m->topic_prefix))
        return json_fail_key(c, "topic_prefix",
                             "\"%s\" is not a topic prefix (expected levels joined by /, no leading or trailing /, "
                             "no + or #)",
                             m->topic_prefix);
    json_leave(c, mark);
    return 0;
}

/* respond_minutes and respond_seconds: one object of severities each; seconds win for a
 * severity given in both (a short deadline for a trial, or for tests, without a second contract
 * format). */
static int parse_respond(struct jctx *c, const cJSON *obj, struct contract *k)
{
    const cJSON *rm, *rs;
    if (json_get_child(c, obj, "respond_minutes", cJSON_Object, false, &rm) < 0 ||
        json_get_child(c, obj, "respond_seconds", cJSON_Object, false, &rs) < 0)
        return -1;
    if (rm) {
        size_t mark = json_enter_key(c, "respond_minutes");
        if (json_check_keys(c, rm, severity_keys, NELEM(severity_keys)))
            return -1;
        for (size_t s = 0; s < NELEM(severity_keys); s++)
            if (json_get_int(c, rm, severity_keys[s], 0, 100000, 0, false, &k->respond_minutes[s]) < 0)
                return -1;
        json_leave(c, mark);
    }
    for (size_t s = 0; s < NELEM(severity_keys); s++)
        k->respond_s[s] = k->respond_minutes[s] * 60;
    if (rs) {
        size_t mark = json_enter_key(c, "respond_seconds");
        if (json_check_keys(c, rs, severity_keys, NELEM(severity_keys)))
            return -1;
        for (size_t s = 0; s < NELEM(severity_keys); s++) {
            int v = 0;
            if (json_get_int(c, rs, severity_keys[s], 1, 6000000, 0, false, &v) < 0)
                return -1;
            if (v > 0)
                k->respond_s[s] = v;
        }
        json_leave(c, mark);
    }
    return 0;
}

static int parse_alerts(struct loader *l, const cJSON *root)
{
    struct jctx *c = &l->c;
    const cJSON *obj;
    if (json_get_child(c, root, "alerts", cJSON_Object, false, &obj) < 0)
        return -1;
    size_t mark = json_enter_key(c, "alerts");
    /* Without the section every knob takes its default (cJSON finds no key in NULL). */
    if ((obj && json_check_keys(c, obj, alerts_keys, NELEM(alerts_keys))) ||
        read_ints(c, obj, alerts_ints, NELEM(alerts_ints), &l->cfg->alerts))
        return -1;
    json_leave(c, mark);
    return 0;
}

static int parse_contract(struct jctx *c, const cJSON *obj, struct contract *k)
{
    const cJSON *covers;
    if (json_expect_type(c, obj, cJSON_Object, "an object describing one contract") ||
        json_check_keys(c, obj, contract_keys, NELEM(contract_keys)) || get_id(c, obj, "id", k->id, sizeof k->id) ||
        json_get_string(c, obj, "contractor", NULL, true, "the contractor's name", k->contractor,
                        sizeof k->contractor) < 0 ||
        json_get_child(c, obj, "covers", cJSON_Array, true, &covers) < 0 || parse_respond(c, obj, k) ||
        config_parse_contract_terms(c, obj, k) ||
        json_get_int(c, obj, "maintenance_days", 1, 366, 0, false, &k->maintenance_days) < 0)
        return -1;
    size_t mark = json_enter_key(c, "covers");
    int n = cJSON_GetArraySize(covers);
    if (n < 1)
        return json_fail(c, "[] is empty (expected device kinds like \"elevator\" or device ids)");
    k->covers = calloc((size_t)n, sizeof *k->covers);
    if (!k->covers)
        return json_fail(c, "out of memory");
    int i = 0;
    for (const cJSON *v = covers->child; v; v = v->next, i++) {
        size_t m2 = json_enter_index(c, i);
        if (json_expect_type(c, v, cJSON_String, "a device kind or a device id"))
            return -1;
        if (strlen(v->valuestring) >= NAME_MAX_LEN || !json_name_ok(v->valuestring, "_-."))
            return json_fail(c, "\"%.60s\" is not a device kind or id (expected a-z, 0-9, _, - and .)", v->valuestring);
        memcpy(k->covers[i], v->valuestring, strlen(v->valuestring) + 1);
        k->ncovers = i + 1;
        json_leave(c, m2);
    }
    json_leave(c, mark);
    return 0;
}

static int parse_contracts(struct loader *l, const cJSON *root)
{
    struct jctx *c = &l->c;
    const cJSON *arr;
    int rc = json_get_child(c, root, "contracts", cJSON_Array, false, &arr);
    if (rc <= 0)
        return rc;
    int n = cJSON_GetArraySize(arr);
    if (n == 0)
        return 0;
    l->cfg->contracts = calloc((size_t)n, sizeof *l->cfg->contracts);
    if (!l->cfg->contracts)
        return json_fail_key(c, "contracts", "out of memory");
    size_t mark = json_enter_key(c, "contracts");
    int i = 0;
    for (const cJSON *obj = arr->child; obj; obj = obj->next, i++) {
        size_t m2 = json_enter_index(c, i);
        l->cfg->ncontracts = i + 1;
        if (parse_contract(c, obj, &l->cfg->contracts[i]))
            return -1;
        json_leave(c, m2);
    }
    json_leave(c, mark);
    return 0;
}

static int parse_device_params(struct jctx *c, const cJSON *obj, struct device *d)
{
    const cJSON *params;
    if (json_get_child(c, obj, "params", cJSON_Object, false, &params) < 0)
        return -1;
    if (!params)
        return 0;
    size_t mark = json_enter_key(c, "params");
    for (const cJSON *v = params->child; v; v = v->next) {
        if (d->nparams == MAX_PARAMS)
            return json_fail(c, "more than %d params", MAX_PARAMS);
        struct param *p = &d->params[d->nparams];
        if (strlen(v->string) >= sizeof p->name)
            return json_fail_key(c, v->string, "\"%.60s...\" is too long for a param name", v->string);
        snprintf(p->name, sizeof p->name, "%s", v->string);
        if (json_get_number(c, params, v->string, 0, true, &p->value) < 0)
            return -1;
        d->nparams++;
    }
    json_leave(c, mark);
    return 0;
}

/* "inputs": {"downstream_level": "manhole-4.level"}; checked against the profiles and the other
 * devices once all are loaded (check_inputs). Kept in the order given until then. */
static int parse_device_inputs(struct jctx *c, const cJSON *obj, struct device *d)
{
    const cJSON *inputs;
    if (json_get_child(c, obj, "inputs", cJSON_Object, false, &inputs) < 0)
        return -1;
    if (!inputs)
        return 0;
    size_t mark = json_enter_key(c, "inputs");
    int n = 0;
    for (const cJSON *v = inputs->child; v; v = v->next, n++) {
        if (n == MAX_INPUTS)
            return json_fail(c, "more than %d inputs", MAX_INPUTS);
        struct input_bind *b = &d->inputs[n];
        if (strlen(v->string) >= sizeof b->name)
            return json_fail_key(c, v->string, "\"%.60s...\" is too long for an input name", v->string);
        snprintf(b->name, sizeof b->name, "%s", v->string);
        if (json_get_string(c, inputs, v->string, NULL, true, "\"<device id>.<point>\"", b->source, sizeof b->source) <
            0)
            return -1;
    }
    json_leave(c, mark);
    return 0;
}

/* "asset": what the device is filed under; lat and lon come together. */
static int parse_asset(struct jctx *c, const cJSON *obj, struct device_asset *a)
{
    const cJSON *o;
    int rc = json_get_child(c, obj, "asset", cJSON_Object, false, &o);
    if (rc <= 0)
        return rc;
    size_t mark = json_enter_key(c, "asset");
    if (json_check_keys(c, o, asset_keys, NELEM(asset_keys)) ||
        json_get_string(c, o, "registration_code", "", false, "the registration code (注册代码)", a->registration_code,
                        sizeof a->registration_code) < 0 ||
        json_get_string(c, o, "number", "", false, "the asset number", a->number, sizeof a->number) < 0)
        return -1;
    bool has_lat = cJSON_GetObjectItemCaseSensitive(o, "lat") != NULL;
    bool has_lon = cJSON_GetObjectItemCaseSensitive(o, "lon") != NULL;
    if (has_lat != has_lon)
        return json_fail_key(c, has_lat ? "lat" : "lon", "given without \"%s\" (expected both, in WGS-84 degrees)",
                             has_lat ? "lon" : "lat");
    if (has_lat) {
        if (json_get_number(c, o, "lat", 0, true, &a->lat) < 0 || json_get_number(c, o, "lon", 0, true, &a->lon) < 0)
            return -1;
        if (!(a->lat >= -90 && a->lat <= 90))
            return json_fail_key(c, "lat", "%.6g is not a latitude (expected -90..90 degrees)", a->lat);
        if (!(a->lon >= -180 && a->lon <= 180))
            return json_fail_key(c, "lon", "%.6g is not a longitude (expected -180..180 degrees)", a->lon);
        a->has_position = true;
    }
    json_leave(c, mark);
    return 0;
}

static int parse_device(struct jctx *c, const cJSON *obj, const struct bus_config *b, struct device *d)
{
    /* Behind a DTU is an RS-485 line: RTU addressing. */
    bool rtu = b->type != BUS_TCP;
    if (json_expect_type(c, obj, cJSON_Object, "an object describing one device") ||
        json_check_keys(c, obj, device_keys, NELEM(device_keys)) || get_id(c, obj, "id", d->id, sizeof d->id) ||
        json_get_int(c, obj, "unit", rtu ? 1 : 0, rtu ? 247 : 255, 0, true, &d->unit) < 0 ||
        json_get_string(c, obj, "driver", NULL, true, "a driver name like \"level/ultrasonic-generic\"", d->driver,
                        sizeof d->driver) < 0)
        return -1;
    if (!profile_driver_name_ok(d->driver))
        return json_fail_key(
            c, "driver", "\"%s\" is not a driver name (expected segments of a-z, 0-9, _ and - joined by /)", d->driver);
    if (json_get_int(c, obj, "poll_ms", 50, 86400000, 5000, false, &d->poll_ms) < 0 ||
        json_get_string(c, obj, "location", "", false, "where the device is", d->location, sizeof d->location) < 0 ||
        json_get_int(c, obj, "timeout_ms", 10, 60000, b->timeout_ms, false, &d->timeout_ms) < 0 ||
        json_get_int(c, obj, "retries", 0, 10, b->retries, false, &d->retries) < 0 || parse_device_params(c, obj, d) ||
        parse_device_inputs(c, obj, d) || parse_asset(c, obj, &d->asset))
        return -1;
    int has = json_get_number(c, obj, "report_max_s", -1, false, &d->report_max_s);
    if (has < 0)
        return -1;
    if (has && !(d->report_max_s >= 0 && d->report_max_s <= 86400))
        return json_fail_key(c, "report_max_s",
                             "%.15g seconds between full snapshots (expected 0..86400; 0: every poll)",
                             d->report_max_s);
    return 0;
}

static bool in_list(const char *key, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, list[i]) == 0)
            return true;
    return false;
}

/* Keys of another bus type get their own message: "baud" on a TCP bus is not a typo. */
static int check_bus_keys(struct jctx *c, const cJSON *obj, enum bus_type type)
{
    static const char *const names[] = {"rtu", "tcp", "dtu"};
    static const char *const *const lists[] = {bus_rtu_keys, bus_tcp_keys, bus_dtu_keys};
    static const size_t sizes[] = {NELEM(bus_rtu_keys), NELEM(bus_tcp_keys), NELEM(bus_dtu_keys)};
    const char *all[NELEM(bus_common_keys) + NELEM(bus_rtu_keys) + NELEM(bus_dtu_keys)];
    size_t n = 0;
    for (size_t i = 0; i < NELEM(bus_common_keys); i++)
        all[n++] = bus_common_keys[i];
    for (size_t i = 0; i < sizes[type]; i++)
        all[n++] = lists[type][i];
    for (const cJSON *m = obj->child; m; m = m->next) {
        if (in_list(m->string, all, n))
            continue;
        char owners[32] = "";
        for (int t = 0; t < 3; t++)
            if (t != (int)type && in_list(m->string, lists[t], sizes[t]))
                snprintf(owners + strlen(owners), sizeof owners - strlen(owners), "%s%s", owners[0] ? " and " : "",
                         names[t]);
        if (owners[0])
            return json_fail_key(c, m->string, "\"%s\" applies to %s buses only (this bus is %s)", m->string, owners,
                                 names[type]);
    }
    return json_check_keys(c, obj, all, n);
}

int config_baud_supported(int baud, char *list, size_t n)
{
    for (size_t i = 0; i < NELEM(bauds); i++)
        if (bauds[i] == baud)
            return 1;
    if (list && n)
        list[0] = '\0';
    for (size_t i = 0, used = 0; list && i < NELEM(bauds) && used < n; i++)
        used += (size_t)snprintf(list + used, n - used, "%s%d", i ? ", " : "", bauds[i]);
    return 0;
}

int config_rts_mode(const char *name)
{
    for (size_t i = 0; i < NELEM(rts_names); i++)
        if (strcmp(name, rts_names[i]) == 0)
            return (int)i;
    return -1;
}

static int parse_rtu(struct jctx *c, const cJSON *obj, struct bus_config *b)
{
    static const char *const parities[] = {"N", "E", "O"};
    int parity, delay_ms;
    if (json_get_string(c, obj, "port", NULL, true, "a serial device path like \"/dev/ttyS1\"", b->port,
                        sizeof b->port) < 0)
        return -1;
    if (b->port[0] != '/')
        return json_fail_key(c, "port", "\"%s\" is not a device path (expected a path like \"/dev/ttyS1\")", b->port);
    if (json_get_int(c, obj, "baud", 1, 10000000, 9600, false, &b->baud) < 0)
        return -1;
    char list[256];
    if (!config_baud_supported(b->baud, list, sizeof list))
        return json_fail_key(c, "baud", "%d is not a supported baud rate (expected one of %s)", b->baud, list);
    if (json_get_enum(c, obj, "parity", parities, NELEM(parities), "parity", 0, false, &parity) < 0 ||
        read_ints(c, obj, rtu_ints, NELEM(rtu_ints), b) || json_get_bool(c, obj, "rs485", false, &b->rs485) < 0 ||
        json_get_enum(c, obj, "rts", rts_names, NELEM(rts_names), "mode for RTS", RTS_NONE, false, &b->rts) < 0 ||
        json_get_int(c, obj, "frame_delay_ms", 0, 1000, 0, false, &delay_ms) < 0)
        return -1;
    b->parity = parities[parity][0];
    b->frame_delay_us = delay_ms * 1000;
    return 0;
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT"; the host must be a numeric address (the box binds it). */
static int parse_listen(struct jctx *c, const char *text, struct bus_config *b)
{
    const char *colon = strrchr(text, ':');
    const char *what = "expected \"ADDRESS:PORT\" like \"0.0.0.0:9000\", or \":9000\"";
    if (!colon)
        return json_fail_key(c, "listen", "\"%s\" has no port (%s)", text, what);
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 1 || port > 65535)
        return json_fail_key(c, "listen", "\"%s\": the port is not a number 1..65535 (%s)", text, what);
    size_t hl = (size_t)(colon - text);
    char host[TEXT_MAX_LEN];
    if (hl >= 2 && text[0] == '[' && text[hl - 1] == ']') {
        text++;
        hl -= 2;
    }
    if (hl >= sizeof host)
        return json_fail_key(c, "listen", "\"%s\": the address is too long (%s)", text, what);
    memcpy(host, text, hl);
    host[hl] = '\0';
    if (hl == 0)
        snprintf(host, sizeof host, "0.0.0.0");
    unsigned char addr[16];
    if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1)
        return json_fail_key(c, "listen", "\"%s\" is not a numeric IPv4 or IPv6 address (%s)", host, what);
    snprintf(b->listen_host, sizeof b->listen_host, "%s", host);
    b->listen_port = (int)port;
    return 0;
}

/* "hex:fe 01" or "hex:FE01" for binary bytes; any other text is taken as its bytes. */
static int parse_literal(struct jctx *c, const char *key, const char *text, uint8_t *out, int *len)
{
    if (strncmp(text, "hex:", 4) != 0) {
        size_t l = strlen(text);
        if (l > DTU_LITERAL_MAX)
            return json_fail_key(c, key, "\"%.40s...\" is too long (expected at most %d bytes)", text, DTU_LITERAL_MAX);
        memcpy(out, text, l);
        *len = (int)l;
        return 0;
    }
    int n = 0, half = -1;
    for (const char *p = text + 4; *p; p++) {
        int v = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                : *p == ' '              ? -2
                                         : -1;
        if (v == -2 && half < 0)
            continue;
        if (v < 0 || (half < 0 && n == DTU_LITERAL_MAX))
            return json_fail_key(c, key,
                                 "\"%s\" is not hex bytes (expected \"hex:\" and up to %d pairs of hex digits, "
                                 "like \"hex:fe01\")",
                                 text, DTU_LITERAL_MAX);
        if (half < 0) {
            half = v;
        } else {
            out[n++] = (uint8_t)(half << 4 | v);
            half = -1;
        }
    }
    if (n == 0 || half >= 0)
        return json_fail_key(c, key, "\"%s\" is not whole hex bytes (expected pairs of hex digits, like \"hex:fe01\")",
                             text);
    *len = n;
    return 0;
}

/* register_pattern with {id} (exactly once) and {secret} (once when the bus has a secret, never
 * otherwise) filled in. */
static int fill_pattern(const char *pattern, const char *secret, size_t secret_len, struct bus_config *b,
                        struct diag *err)
{
    const char *id_at = strstr(pattern, "{id}"), *sec_at = strstr(pattern, "{secret}");
    if (!id_at || strstr(id_at + 1, "{id}")) {
        diag_set(err,
                 "register_pattern \"%s\" must hold {id} exactly once (expected the packet the DTU sends, like "
                 "\"REG{id}\" or \"{id}:{secret}\")",
                 pattern);
        return -1;
    }
    if (secret && (!sec_at || strstr(sec_at + 1, "{secret}"))) {
        diag_set(err,
                 "register_pattern \"%s\" must hold {secret} exactly once: the bus has a secret_file "
                 "(expected the packet the DTU sends, like \"{id}:{secret}\")",
                 pattern);
        return -1;
    }
    if (!secret && sec_at) {
        diag_set(err,
                 "register_pattern \"%s\" holds {secret} but the bus has no secret_file (expected "
                 "\"secret_file\": the file holding the DTU's secret)",
                 pattern);
        return -1;
    }
    size_t n = 0;
    for (const char *p = pattern; *p;) {
        const char *put = p;
        size_t len = 1, skip = 1;
        if (p == id_at) {
            put = b->dtu_id;
            len = strlen(b->dtu_id);
            skip = 4;
        } else if (p == sec_at) {
            put = secret;
            len = secret_len;
            skip = 8;
            b->secret_off = (int)n;
            b->secret_len = (int)secret_len;
        }
        if (n + len > DTU_REGISTER_MAX) {
            diag_set(err, "register_pattern \"%s\" filled in is longer than %d bytes", pattern, DTU_REGISTER_MAX);
            return -1;
        }
        memcpy(b->register_packet + n, put, len);
        n += len;
        p += skip;
    }
    b->register_len = (int)n;
    return 0;
}

int config_dtu_register(struct bus_config *b, const char *pattern, struct diag *err)
{
    b->secret_len = 0;
    if (!b->secret_file[0])
        return fill_pattern(pattern, NULL, 0, b, err);
    char *secret = NULL;
    size_t len = 0;
    if (secret_file_read("secret_file", b->secret_file, DTU_SECRET_MAX, &secret, &len, err) < 0)
        return -1;
    int rc = -1;
    size_t ok = 0;
    while (ok < len && secret[ok] > 0x20 && secret[ok] < 0x7f)
        ok++;
    if (len < DTU_SECRET_MIN || ok < len)
        diag_set(err,
                 "secret_file %s: the secret is %zu bytes%s (expected %d..%d printable ASCII characters without "
                 "spaces, as typed into the DTU)",
                 b->secret_file, len, ok < len ? " with a space or a byte outside printable ASCII" : "", DTU_SECRET_MIN,
                 DTU_SECRET_MAX);
    else
        rc = fill_pattern(pattern, secret, len, b, err);
    secret_free(secret, DTU_SECRET_MAX);
    return rc;
}

/* "allow": the source addresses the DTU may connect from, as address blocks. */
static int parse_allow(struct jctx *c, const cJSON *obj, struct bus_config *b)
{
    const cJSON *arr;
    int rc = json_get_child(c, obj, "allow", cJSON_Array, false, &arr);
    if (rc <= 0)
        return rc;
    size_t mark = json_enter_key(c, "allow");
    int n = cJSON_GetArraySize(arr), i = 0;
    if (n == 0 || n > DTU_ALLOW_MAX)
        return json_fail(c,
                         "has %d entries (expected 1..%d address blocks like \"10.64.0.0/16\"; leave \"allow\" "
                         "out to accept any address)",
                         n, DTU_ALLOW_MAX);
    for (const cJSON *v = arr->child; v; v = v->next, i++) {
        size_t m2 = json_enter_index(c, i);
        const char *why = NULL;
        if (json_expect_type(c, v, cJSON_String, "an address block like \"10.64.0.0/16\" or \"2001:db8::/32\""))
            return -1;
        if (cidr_parse(v->valuestring, &b->allow[i], &why) < 0)
            return json_fail(c,
                             "\"%.80s\" %s (expected an address block like \"10.64.0.0/16\" or "
                             "\"2001:db8::/32\", or one address)",
                             v->valuestring, why);
        json_leave(c, m2);
    }
    b->nallow = n;
    json_leave(c, mark);
    return 0;
}

static int parse_dtu(struct loader *l, const cJSON *obj, struct bus_config *b)
{
    struct jctx *c = &l->c;
    char listen[TEXT_MAX_LEN], pattern[DTU_LITERAL_MAX * 2], hb[DTU_LITERAL_MAX * 3];
    int has_listen =
        json_get_string(c, obj, "listen", NULL, false, "\"ADDRESS:PORT\" like \"0.0.0.0:9000\"", listen, sizeof listen);
    int has_port = json_get_int(c, obj, "port", 1, 65535, 0, false, &b->listen_port);
    if (has_listen < 0 || has_port < 0)
        return -1;
    if (has_listen && has_port)
        return json_fail_key(c, "port",
                             "%d given with \"listen\" (expected one of them: \"listen\": \"0.0.0.0:%d\" "
                             "or \"port\": %d)",
                             b->listen_port, b->listen_port, b->listen_port);
    if (!has_listen && !has_port)
        return json_fail_key(c, "listen",
                             "missing (expected \"listen\": \"0.0.0.0:PORT\" or \"port\": PORT, where "
                             "the DTUs connect)");
    if (has_listen && parse_listen(c, listen, b))
        return -1;
    if (has_port)
        snprintf(b->listen_host, sizeof b->listen_host, "0.0.0.0");
    if (json_get_string(c, obj, "dtu_id", NULL, true, "the DTU's registration id: its IMEI, ICCID or configured text",
                        b->dtu_id, sizeof b->dtu_id) < 0)
        return -1;
    for (const char *p = b->dtu_id; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return json_fail_key(c, "dtu_id",
                                 "\"%s\" has a space or a character outside printable ASCII (expected "
                                 "the registration id as the DTU sends it, like \"868120034567891\")",
                                 b->dtu_id);
    int has_secret =
        get_path(l, obj, "secret_file", false, "the file holding the DTU's registration secret", b->secret_file);
    if (has_secret < 0 || json_get_bool(c, obj, "insecure_no_secret", false, &b->insecure_no_secret) < 0)
        return -1;
    if (has_secret && b->insecure_no_secret)
        return json_fail_key(c, "insecure_no_secret", "true given with \"secret_file\" (expected one of them)");
    /* The id is printed on the DTU's box: alone, it lets anyone who has seen the box feed
     * readings in the DTU's name. Going without a secret must be spelled out. */
    if (!has_secret && !b->insecure_no_secret)
        return json_fail_key(c, "secret_file",
                             "missing (expected \"secret_file\": a private file holding the "
                             "DTU's registration secret, sent as {secret} in register_pattern; or "
                             "\"insecure_no_secret\": true to let the id alone register, which "
                             "anyone who has read the DTU's label can send)");
    if (json_get_string(c, obj, "register_pattern", has_secret ? "{id}:{secret}" : "{id}", false,
                        "the registration packet, with {id} for the id and {secret} for the secret", pattern,
                        sizeof pattern) < 0)
        return -1;
    /* The secret is read now, so `caretaker check` refuses a bad file as `run` does, and a reload
     * picks up a new one. */
    struct diag d;
    diag_clear(&d);
    if (config_dtu_register(b, pattern, &d) < 0)
        return json_fail(c, "%s", d.msg);
    if (parse_allow(c, obj, b))
        return -1;
    int has_hb = json_get_string(c, obj, "heartbeat", NULL, false, "the DTU's heartbeat text, or \"hex:\" and bytes",
                                 hb, sizeof hb);
    if (has_hb < 0 || (has_hb && parse_literal(c, "heartbeat", hb, b->heartbeat, &b->heartbeat_len)))
        return -1;
    /* The serial side behind the DTU is set on the DTU itself; 9600 8N1 is what check's load
     * estimate assumes for it. */
    b->baud = 9600;
    b->parity = 'N';
    b->data_bits = 8;
    b->stop_bits = 1;
    return 0;
}

static int parse_bus(struct loader *l, const cJSON *obj, struct bus_config *b)
{
    struct jctx *c = &l->c;
    static const char *const types[] = {"rtu", "tcp", "dtu"};
    static const enum bus_type by_name[] = {BUS_RTU, BUS_TCP, BUS_DTU};
    int type;
    if (json_expect_type(c, obj, cJSON_Object, "an object describing one bus") ||
        json_get_enum(c, obj, "type", types, NELEM(types), "bus type", 0, true, &type) < 0)
        return -1;
    b->type = by_name[type];
    bool rtu = b->type == BUS_RTU;
    if (check_bus_keys(c, obj, b->type) || get_id(c, obj, "id", b->id, sizeof b->id))
        return -1;
    if (rtu) {
        if (parse_rtu(c, obj, b))
            return -1;
    } else if (b->type == BUS_DTU) {
        if (parse_dtu(l, obj, b))
            return -1;
    } else if (json_get_string(c, obj, "host", NULL, true, "a host name or address", b->host, sizeof b->host) < 0 ||
               json_get_int(c, obj, "port", 1, 65535, 502, false, &b->tcp_port) < 0) {
        return -1;
    }
    /* A serial line answers within tens of ms; a TCP link may cross a network; a DTU's reply
     * crosses 4G twice and its serial line once: seconds are normal. */
    int def_timeout = rtu ? 300 : b->type == BUS_DTU ? 2000 : 1000;
    if (json_get_int(c, obj, "timeout_ms", 10, 60000, def_timeout, false, &b->timeout_ms) < 0 ||
        read_ints(c, obj, bus_ints, NELEM(bus_ints), b))
        return -1;
    const cJSON *devs;
    if (json_get_child(c, obj, "devices", cJSON_Array, true, &devs) < 0)
        return -1;
    size_t mark = json_enter_key(c, "devices");
    int n = cJSON_GetArraySize(devs);
    if (n == 0)
        return json_fail(c, "[] is empty (expected at least one device; a bus without devices is left out)");
    b->devices = calloc((size_t)n, sizeof *b->devices);
    if (!b->devices)
        return json_fail(c, "out of memory");
    int i = 0;
    for (const cJSON *d = devs->child; d; d = d->next, i++) {
        size_t m2 = json_enter_index(c, i);
        b->ndevices = i + 1;
        if (parse_device(c, d, b, &b->devices[i]))
            return -1;
        json_leave(c, m2);
    }
    json_leave(c, mark);
    return 0;
}

static int parse_buses(struct loader *l, const cJSON *root)
{
    struct jctx *c = &l->c;
    const cJSON *arr;
    int rc = json_get_child(c, root, "buses", cJSON_Array, false, &arr);
    if (rc <= 0)
        return rc;
    int n = cJSON_GetArraySize(arr);
    if (n == 0)
        return 0;
    l->cfg->buses = calloc((size_t)n, sizeof *l->cfg->buses);
    if (!l->cfg->buses)
        return json_fail_key(c, "buses", "out of memory");
    size_t mark = json_enter_key(c, "buses");
    int i = 0;
    for (const cJSON *obj = arr->child; obj; obj = obj->next, i++) {
        size_t m2 = json_enter_index(c, i);
        l->cfg->nbuses = i + 1;
        if (parse_bus(l, obj, &l->cfg->buses[i]))
            return -1;
        json_leave(c, m2);
    }
    json_leave(c, mark);
    return 0;
}

/* Sets the path to buses[b].devices[d] (and .key when key is given). */
static void at_device(struct jctx *c, int b, int d, const char *key)
{
    json_leave(c, 0);
    json_enter_key(c, "buses");
    json_enter_index(c, b);
    if (d >= 0) {
        json_enter_key(c, "devices");
        json_enter_index(c, d);
    }
    if (key)
        json_enter_key(c, key);
}

static int check_unique(struct loader *l)
{
    struct jctx *c = &l->c;
    struct config *cfg = l->cfg;
    for (int i = 0; i < cfg->nbuses; i++) {
        const struct bus_config *b = &cfg->buses[i];
        for (int j = 0; j < i; j++) {
            const struct bus_config *o = &cfg->buses[j];
            if (strcmp(b->id, o->id) == 0) {
                at_device(c, i, -1, "id");
                return json_fail(c, "\"%s\" is already the id of buses[%d] (expected a unique bus id)", b->id, j);
            }
            /* DTUs sharing a listening port are told apart by their registration */
            if (b->type == BUS_DTU && o->type == BUS_DTU && b->listen_port == o->listen_port) {
                if (strcmp(b->listen_host, o->listen_host) != 0) {
                    at_device(c, i, -1, "listen");
                    return json_fail(c,
                                     "\"%s:%d\": port %d is already listened on at %s by bus \"%s\" (buses[%d]) "
                                     "(expected DTU buses sharing a port to share its address)",
                                     b->listen_host, b->listen_port, b->listen_port, o->listen_host, o->id, j);
                }
                /* one slot per id: two buses with one id would take each other's connections */
                if (strcmp(b->dtu_id, o->dtu_id) == 0 ||
                    (b->register_len == o->register_len &&
                     memcmp(b->register_packet, o->register_packet, (size_t)b->register_len) == 0)) {
                    at_device(c, i, -1, "dtu_id");
                    return json_fail(c,
                                     "\"%s\" is already the DTU of bus \"%s\" (buses[%d]) on port %d "
                                     "(expected one bus per DTU)",
                                     b->dtu_id, o->id, j, b->listen_port);
                }
            }
            /* two pollers on one serial line would interleave frames on a half-duplex bus */
            if (b->type == BUS_RTU && o->type == BUS_RTU && strcmp(b->port, o->port) == 0) {
                at_device(c, i, -1, "port");
                return json_fail(c,
                                 "\"%s\" is already the port of bus \"%s\" (buses[%d]) (expected one bus per "
                                 "serial port; put all its devices on that bus)",
                                 b->port, o->id, j);
            }
        }
        for (int d = 0; d < b->ndevices; d++) {
            const struct device *dv = &b->devices[d];
            for (int e = 0; e < d; e++) {
                if (b->devices[e].unit == dv->unit) {
                    at_device(c, i, d, "unit");
                    return json_fail(c,
                                     "%d is already the unit of device \"%s\" (buses[%d].devices[%d]) on this bus "
                                     "(expected a unique unit id per bus)",
                                     dv->unit, b->devices[e].id, i, e);
                }
            }
            for (int j = 0; j <= i; j++) {
                const struct bus_config *o = &cfg->buses[j];
                for (int e = 0; e < (j == i ? d : o->ndevices); e++) {
                    if (strcmp(o->devices[e].id, dv->id) == 0) {
                        at_device(c, i, d, "id");
                        return json_fail(c,
                                         "\"%s\" is already the id of buses[%d].devices[%d] (expected a unique "
                                         "device id across all buses)",
                                         dv->id, j, e);
                    }
                }
            }
        }
    }
    json_leave(c, 0);
    for (int i = 0; i < cfg->ncontracts; i++) {
        for (int j = 0; j < i; j++) {
            if (strcmp(cfg->contracts[i].id, cfg->contracts[j].id) == 0) {
                json_enter_key(c, "contracts");
                json_enter_index(c, i);
                json_enter_key(c, "id");
                return json_fail(c, "\"%s\" is already the id of contracts[%d] (expected a unique contract id)",
                                 cfg->contracts[i].id, j);
            }
        }
    }
    return 0;
}

static int unknown_driver(struct loader *l, const char *const *dirs, int ndirs, const char *driver)
{
    char(*names)[NAME_MAX_LEN] = NULL;
    int n = profile_list(dirs, ndirs, &names);
    const char *near = NULL;
    if (n > 0) {
        const char **cand = malloc((size_t)n * sizeof *cand);
        if (cand) {
            for (int i = 0; i < n; i++)
                cand[i] = names[i];
            near = json_suggest(driver, cand, (size_t)n);
            free(cand);
        }
    }
    if (near)
        json_fail(&l->c, "no profile \"%s\" (did you mean \"%s\"?)", driver, near);
    else if (ndirs > 0)
        json_fail(&l->c, "no profile \"%s\" (expected a file %s/%s.json%s)", driver, dirs[0], driver,
                  ndirs > 1 ? " or in the other drivers directories" : "");
    else
        json_fail(&l->c, "no profile \"%s\" (no drivers directory is configured)", driver);
    free(names);
    return -1;
}

static const struct profile *find_loaded(const struct config *cfg, const char *driver)
{
    for (int i = 0; i < cfg->nprofiles; i++)
        if (strcmp(cfg->profiles[i]->driver, driver) == 0)
            return cfg->profiles[i];
    return NULL;
}

/* Each profile is read once per config, however many devices use it. */
static int load_profile(struct loader *l, const char *const *dirs, int ndirs, struct device *d)
{
    struct config *cfg = l->cfg;
    d->profile = find_loaded(cfg, d->driver);
    if (d->profile)
        return 0;
    char path[PATH_MAX_LEN * 2];
    if (profile_find(dirs, ndirs, d->driver, path, sizeof path))
        return unknown_driver(l, dirs, ndirs, d->driver);
    struct profile **grown = realloc(cfg->profiles, (size_t)(cfg->nprofiles + 1) * sizeof *grown);
    if (!grown)
        return json_fail(&l->c, "out of memory");
    cfg->profiles = grown;
    struct profile *p = calloc(1, sizeof *p);
    if (!p)
        return json_fail(&l->c, "out of memory");
    struct diag sub;
    diag_clear(&sub);
    if (profile_load_file(path, p, &sub)) {
        free(p);
        return json_fail(&l->c, "profile \"%s\" does not load: %s", d->driver, sub.msg);
    }
    cfg->profiles[cfg->nprofiles++] = p;
    d->profile = p;
    return 0;
}

static int check_params(struct jctx *c, const struct device *d)
{
    const struct profile *p = d->profile;
    for (int i = 0; i < d->nparams; i++) {
        const char *name = d->params[i].name;
        bool known = false;
        const char *cand[MAX_PARAMS];
        for (int k = 0; k < p->nparams; k++) {
            cand[k] = p->params[k].name;
            known = known || strcmp(cand[k], name) == 0;
        }
        char why[160];
        if (known && profile_param_out_of_range(name, d->params[i].value, why, sizeof why)) {
            size_t mark = json_enter_key(c, "params");
            json_enter_key(c, name);
            json_fail(c, "%s", why);
            json_leave(c, mark);
            return -1;
        }
        if (known)
            continue;
        size_t mark = json_enter_key(c, "params");
        json_enter_key(c, name);
        const char *near = json_suggest(name, cand, (size_t)p->nparams);
        if (near)
            json_fail(c, "\"%s\" is not a param of %s (did you mean \"%s\"?)", name, p->driver, near);
        else if (p->nparams == 0)
            json_fail(c, "\"%s\" is not a param of %s (it declares none)", name, p->driver);
        else
            json_fail(c, "\"%s\" is not a param of %s (expected one of the params in %s)", name, p->driver, p->path);
        json_leave(c, mark);
        return -1;
    }
    return 0;
}

static int fail_input(struct jctx *c, const char *name, const char *fmt, const char *a, const char *b)
{
    size_t mark = json_enter_key(c, "inputs");
    json_enter_key(c, name);
    json_fail(c, fmt, a, b);
    json_leave(c, mark);
    return -1;
}

/* Each input the config binds: an input the profile declares, fed by a point of a configured
 * device. Afterwards d->inputs is indexed by the profile's inputs; those not given stay
 * unbound (unknown: the rules reading them neither raise nor clear on them). */
static int check_inputs(struct jctx *c, const struct config *cfg, struct device *d)
{
    const struct profile *p = d->profile;
    struct input_bind by_index[MAX_INPUTS];
    memset(by_index, 0, sizeof by_index);
    for (int i = 0; i < MAX_INPUTS && d->inputs[i].name[0]; i++) {
        const struct input_bind *b = &d->inputs[i];
        int k = -1;
        const char *cand[MAX_INPUTS];
        for (int j = 0; j < p->ninputs; j++) {
            cand[j] = p->inputs[j].name;
            if (strcmp(cand[j], b->name) == 0)
                k = j;
        }
        if (k < 0) {
            const char *near = json_suggest(b->name, cand, (size_t)p->ninputs);
            if (near)
                return fail_input(c, b->name, "\"%s\" is not an input of this device's profile (did you mean \"%s\"?)",
                                  b->name, near);
            return fail_input(c, b->name, "\"%s\" is not an input of %s (expected one it declares under \"inputs\")",
                              b->name, p->driver);
        }
        char dev[NAME_MAX_LEN * 2];
        snprintf(dev, sizeof dev, "%s", b->source);
        char *dot = strrchr(dev, '.');
        if (!dot || dot == dev || !dot[1])
            return fail_input(c, b->name, "\"%s\" is not \"<device id>.<point>\"%s", b->source, "");
        *dot = '\0';
        const char *point = dot + 1;
        const struct device *src = NULL;
        for (int j = 0; j < cfg->ndevices && !src; j++)
            if (strcmp(cfg->devices[j]->id, dev) == 0)
                src = cfg->devices[j];
        if (!src)
            return fail_input(c, b->name, "\"%s\": no device \"%s\" in this config", b->source, dev);
        int pt = profile_point_index(src->profile, point);
        if (pt < 0)
            return fail_input(c, b->name, "\"%s\": the profile of that device has no point \"%s\"", b->source, point);
        by_index[k] = *b;
        by_index[k].bound = true;
        by_index[k].device = src->index;
        by_index[k].point = pt;
    }
    memcpy(d->inputs, by_index, sizeof by_index);
    return 0;
}

static int check_devices(struct loader *l)
{
    struct config *cfg = l->cfg;
    const char *dirs[MAX_DRIVER_DIRS];
    for (int i = 0; i < cfg->ndriver_dirs; i++)
        dirs[i] = cfg->driver_dirs[i];
    for (int b = 0; b < cfg->nbuses; b++) {
        for (int d = 0; d < cfg->buses[b].ndevices; d++) {
            struct device *dv = &cfg->buses[b].devices[d];
            at_device(&l->c, b, d, "driver");
            if (load_profile(l, dirs, cfg->ndriver_dirs, dv))
                return -1;
            at_device(&l->c, b, d, NULL);
            if (check_params(&l->c, dv))
                return -1;
        }
    }
    /* Inputs name other devices, whose profiles are all loaded only now. */
    for (int b = 0; b < cfg->nbuses; b++) {
        for (int d = 0; d < cfg->buses[b].ndevices; d++) {
            at_device(&l->c, b, d, NULL);
            if (check_inputs(&l->c, cfg, &cfg->buses[b].devices[d]))
                return -1;
        }
    }
    json_leave(&l->c, 0);
    return 0;
}

static int check_contracts(struct loader *l)
{
    struct config *cfg = l->cfg;
    /* With no device yet (a gateway commissioned before its meters), nothing can be judged. */
    if (cfg->ndevices == 0)
        return 0;
    for (int i = 0; i < cfg->ncontracts; i++) {
        const struct contract *k = &cfg->contracts[i];
        bool any = false;
        for (int j = 0; j < k->ncovers && !any; j++)
            for (int d = 0; d < cfg->ndevices && !any; d++)
                any = contract_cover_score(k->covers[j], cfg->devices[d]) > 0;
        if (any)
            continue;
        /* Suggest from what exists: device ids, kinds, and the first word of each kind. */
        size_t ncand = (size_t)cfg->ndevices * 3;
        char(*words)[NAME_MAX_LEN] = calloc(ncand, NAME_MAX_LEN);
        const char **cand = calloc(ncand, sizeof *cand);
        const char *near = NULL;
        if (words && cand) {
            for (int d = 0; d < cfg->ndevices; d++) {
                const struct device *dv = cfg->devices[d];
                snprintf(words[3 * d], NAME_MAX_LEN, "%s", dv->id);
                snprintf(words[3 * d + 1], NAME_MAX_LEN, "%s", dv->profile->kind);
                snprintf(words[3 * d + 2], NAME_MAX_LEN, "%s", dv->profile->kind);
                char *dot = strchr(words[3 * d + 2], '.');
                if (dot)
                    *dot = '\0';
            }
            for (size_t w = 0; w < ncand; w++)
                cand[w] = words[w];
            near = json_suggest(k->covers[0], cand, ncand);
        }
        char list[256];
        size_t used = 0;
        list[0] = '\0';
        for (int j = 0; j < k->ncovers && used < sizeof list; j++) {
            int w = snprintf(list + used, sizeof list - used, "%s\"%s\"", j ? ", " : "", k->covers[j]);
            if (w < 0)
                break;
            used += (size_t)w;
        }
        json_leave(&l->c, 0);
        json_enter_key(&l->c, "contracts");
        json_enter_index(&l->c, i);
        json_enter_key(&l->c, "covers");
        if (near)
            json_fail(&l->c, "[%s] covers no device of this config (did you mean \"%s\"?)", list, near);
        else
            json_fail(&l->c,
                      "[%s] covers no device of this config (expected device kinds like \"elevator\" or "
                      "\"sewage\", or device ids)",
                      list);
        free(words);
        free(cand);
        return -1;
    }
    return 0;
}

static int index_devices(struct loader *l)
{
    struct config *cfg = l->cfg;
    int n = 0;
    for (int b = 0; b < cfg->nbuses; b++)
        n += cfg->buses[b].ndevices;
    if (n == 0)
        return 0;
    cfg->devices = calloc((size_t)n, sizeof *cfg->devices);
    if (!cfg->devices)
        return json_fail(&l->c, "out of memory");
    for (int b = 0; b < cfg->nbuses; b++) {
        for (int d = 0; d < cfg->buses[b].ndevices; d++) {
            struct device *dv = &cfg->buses[b].devices[d];
            dv->index = cfg->ndevices;
            cfg->devices[cfg->ndevices++] = dv;
        }
    }
    return 0;
}

/* The installed directory goes last, so a site's own directories can shadow an installed
 * model; a directory that does not exist is simply searched in vain. */
static void add_installed(struct config *cfg, const char *installed)
{
    if (!installed || !installed[0] || strlen(installed) >= PATH_MAX_LEN)
        return;
    for (int i = 0; i < cfg->ndriver_dirs; i++)
        if (strcmp(cfg->driver_dirs[i], installed) == 0)
            return;
    snprintf(cfg->driver_dirs[cfg->ndriver_dirs++], PATH_MAX_LEN, "%s", installed);
}

static int parse_root(struct loader *l, const cJSON *root)
{
    struct jctx *c = &l->c;
    if (json_expect_type(c, root, cJSON_Object, "an object: the site's config") ||
        json_check_keys(c, root, root_keys, NELEM(root_keys)) || parse_site(l, root) || parse_gateway(l, root) ||
        parse_store(l, root) || parse_mqtt(l, root) || parse_alerts(l, root) || parse_contracts(l, root) ||
        config_parse_commands(c, root, l->cfg) || parse_buses(l, root))
        return -1;
    add_installed(l->cfg, l->installed);
    if (index_devices(l) || check_unique(l) || check_devices(l) || check_contracts(l))
        return -1;
    return 0;
}

/* Folds the bytes of the file at path (at most 1 MiB; "" or unreadable: its name) into h. The
 * hash only tells a change apart; the files are checked where they are used. */
static uint64_t hash_file(uint64_t h, const char *path)
{
    if (!path[0])
        return h;
    FILE *f = fopen(path, "rb");
    if (!f)
        return json_hash(h, path, strlen(path));
    unsigned char buf[4096];
    size_t n, total = 0;
    while (total < 1048576 && (n = fread(buf, 1, sizeof buf, f)) > 0) {
        h = json_hash(h, buf, n);
        total += n;
    }
    explicit_bzero(buf, sizeof buf);
    fclose(f);
    return h;
}

int config_parse(const char *text, size_t len, const char *path, const char *installed_drivers_dir, struct config **out,
                 struct diag *err)
{
    *out = NULL;
    if (strlen(path) >= PATH_MAX_LEN) {
        diag_set(err, "%.80s...: path too long (at most %d bytes)", path, PATH_MAX_LEN - 1);
        return -1;
    }
    struct loader l;
    memset(&l, 0, sizeof l);
    json_ctx_init(&l.c, path, err);
    l.installed = installed_drivers_dir;
    const char *slash = strrchr(path, '/');
    if (slash == path)
        snprintf(l.dir, sizeof l.dir, "/");
    else if (slash)
        snprintf(l.dir, sizeof l.dir, "%.*s", (int)(slash - path), path);
    cJSON *root = json_parse(text, len, path, err);
    if (!root)
        return -1;
    l.cfg = calloc(1, sizeof *l.cfg);
    if (!l.cfg) {
        cJSON_Delete(root);
        diag_set(err, "%s: out of memory", path);
        return -1;
    }
    snprintf(l.cfg->path, sizeof l.cfg->path, "%s", path);
    int rc = parse_root(&l, root);
    cJSON_Delete(root);
    if (rc) {
        config_free(l.cfg);
        return -1;
    }
    /* What a reload compares: the bytes read, not the structs built from them — the config, its
     * profiles, and the files it names that hold secrets or certificates, so a rotated DTU
     * secret, password or key is a change a reload applies. */
    uint64_t h = json_hash(JSON_HASH_SEED, text, len);
    for (int i = 0; i < l.cfg->nprofiles; i++)
        h = json_hash(h, &l.cfg->profiles[i]->source_hash, sizeof l.cfg->profiles[i]->source_hash);
    for (int i = 0; i < l.cfg->nbuses; i++)
        h = json_hash(h, l.cfg->buses[i].register_packet, (size_t)l.cfg->buses[i].register_len);
    const struct mqtt_config *m = &l.cfg->mqtt;
    const char *const named[] = {m->password_file, m->tls.ca_file, m->tls.cert_file, m->tls.key_file};
    for (size_t i = 0; i < NELEM(named); i++)
        h = hash_file(h, named[i]);
    l.cfg->source_hash = h;
    *out = l.cfg;
    return 0;
}

int config_load(const char *path, const char *installed_drivers_dir, struct config **out, struct diag *err)
{
    *out = NULL;
    size_t len;
    char *text = json_read_file(path, &len, err);
    if (!text)
        return -1;
    int rc = config_parse(text, len, path, installed_drivers_dir, out, err);
    free(text);
    return rc;
}

void config_free(struct config *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nprofiles; i++) {
        profile_release(c->profiles[i]);
        free(c->profiles[i]);
    }
    free(c->profiles);
    for (int i = 0; i < c->nbuses; i++) {
        free(c->buses[i].devices);
        explicit_bzero(c->buses[i].register_packet, sizeof c->buses[i].register_packet);
    }
    free(c->buses);
    for (int i = 0; i < c->ncontracts; i++)
        free(c->contracts[i].covers);
    free(c->contracts);
    free(c->commands.commanders);
    free(c->devices);
    free(c);
}
