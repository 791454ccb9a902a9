/* test_config: the example config loads with its defaults filled in; every kind of config mistake
 * is refused with a message naming the file, the exact JSON path and the offending value. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "json_util.h"
#include "profile.h"

static char src[512], drivers[600];

/* Test texts are written with ' for " to stay readable; no test value contains a quote. */
static const char *q(const char *s)
{
    static char buf[8192];
    size_t i = 0;
    for (; s[i] && i + 1 < sizeof buf; i++)
        buf[i] = s[i] == '\'' ? '"' : s[i];
    buf[i] = '\0';
    return buf;
}

#define HEAD "{'site':{'id':'hm'},'gateway':{'id':'gw'},'store':{'path':'/tmp/ct.db'},"
#define LEVEL "{'id':'manhole-3','unit':1,'driver':'level/ultrasonic-generic'}"
#define LIFT "{'id':'lift-1','unit':1,'driver':'elevator/generic'}"
#define RTU(devs) "{'id':'rs485-1','type':'rtu','port':'/dev/ttyS1','devices':[" devs "]}"
#define TCP(devs) "{'id':'lifts','type':'tcp','host':'10.0.0.2','devices':[" devs "]}"

static struct config *parse_ok(int line, const char *text, const char *path)
{
    struct config *c = NULL;
    struct diag d;
    diag_clear(&d);
    const char *t = q(text);
    int rc = config_parse(t, strlen(t), path, drivers, &c, &d);
    CHECK_MSG(rc == 0 && c, "line %d: %s", line, d.msg);
    return c;
}

static void expect_error(int line, const char *text, const char *n1, const char *n2)
{
    struct config *c = (struct config *)1;
    struct diag d;
    diag_clear(&d);
    const char *t = q(text);
    int rc = config_parse(t, strlen(t), "site.json", drivers, &c, &d);
    CHECK_MSG(rc == -1 && c == NULL, "line %d: parsed, expected an error containing %s", line, n1);
    CHECK_MSG(strncmp(d.msg, "site.json:", 10) == 0, "line %d: message does not start with the file: %s", line,
              d.msg);
    CHECK_MSG(strstr(d.msg, n1) != NULL, "line %d: \"%s\" does not contain \"%s\"", line, d.msg, n1);
    if (n2)
        CHECK_MSG(strstr(d.msg, n2) != NULL, "line %d: \"%s\" does not contain \"%s\"", line, d.msg, n2);
    if (rc == 0)
        config_free(c);
}

#define OK(text, path) parse_ok(__LINE__, text, path)
#define ERR(text, n1, n2) expect_error(__LINE__, text, n1, n2)

static void test_example(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/config/example.json", src);
    struct config *c = NULL;
    struct diag d;
    diag_clear(&d);
    CHECK_MSG(config_load(path, drivers, &c, &d) == 0, "%s", d.msg);
    if (!c)
        return;
    CHECK(strcmp(c->site_id, "hongmei") == 0 && strcmp(c->site_name, "红梅新村") == 0);
    CHECK(strcmp(c->timezone, "Asia/Shanghai") == 0 && strcmp(c->gateway_id, "gw-01") == 0);
    /* the config's directory first (absent here: searched in vain, not an error), installed last */
    CHECK(c->ndriver_dirs == 2 && strcmp(c->driver_dirs[0], "/etc/caretaker/drivers") == 0);
    CHECK(strcmp(c->driver_dirs[1], drivers) == 0);
    CHECK(strcmp(c->store.path, "/var/lib/caretaker/caretaker.db") == 0 && c->store.max_mb == 512);
    CHECK(c->store.retention_days == 90 && c->store.commit_ms == 250 && c->store.batch == 1000);
    CHECK(c->has_mqtt && c->mqtt.port == 8883 && c->mqtt.qos == 1 && c->mqtt.protocol == 5);
    CHECK(c->mqtt.keepalive_s == 30 && c->mqtt.inflight == 100);
    CHECK(strcmp(c->mqtt.client_id, "caretaker-hongmei-gw-01") == 0);
    CHECK(strcmp(c->mqtt.topic_prefix, "caretaker/hongmei/gw-01") == 0);
    CHECK(c->mqtt.tls.enabled && strcmp(c->mqtt.tls.ca_file, "/etc/caretaker/ca.pem") == 0);
    CHECK(!c->mqtt.tls.insecure_skip_verify && c->mqtt.tls.cert_file[0] == '\0');
    CHECK(strcmp(c->mqtt.password_file, "/etc/caretaker/mqtt.pass") == 0);
    CHECK(c->ncontracts == 2 && c->contracts[0].ncovers == 1 && strcmp(c->contracts[0].covers[0], "elevator") == 0);
    CHECK(c->contracts[0].respond_minutes[0] == 30 && c->contracts[0].respond_minutes[2] == 1440);
    CHECK(c->contracts[0].respond_minutes[3] == 0);
    /* work orders: arrival within 30 min of a trapped passenger, two parties to escalate to */
    CHECK(c->contracts[0].due_s[0][1] == 1800 && c->contracts[0].due_s[0][2] == 7200 && c->contracts[0].nparties == 2);
    CHECK(c->contracts[1].due_s[1][1] == 4 * 3600 && c->contracts[1].nparties == 0);
    const struct commands_config *cc = &c->commands;
    CHECK(cc->reload_interval_s == 30 && cc->refusals_per_minute == 10 && cc->ncommanders == 3);
    CHECK(strcmp(cc->commanders[0].identity, "ops-admin") == 0 && cc->commanders[0].role == ROLE_ADMIN);
    CHECK(strcmp(cc->commanders[1].identity, "lift-co") == 0 && cc->commanders[1].role == ROLE_CONTRACTOR);
    CHECK(cc->commanders[1].ncontracts == 1 && strcmp(cc->commanders[1].contracts[0], "elevator-om") == 0);
    CHECK(c->source_hash != 0);
    CHECK(c->nbuses == 2 && c->ndevices == 4);
    const struct bus_config *rtu = &c->buses[0], *tcp = &c->buses[1];
    CHECK(rtu->type == BUS_RTU && rtu->baud == 9600 && rtu->parity == 'N' && rtu->data_bits == 8);
    CHECK(rtu->stop_bits == 1 && !rtu->rs485 && rtu->rts == RTS_NONE && rtu->frame_delay_us == 0 &&
          rtu->timeout_ms == 300);
    CHECK(rtu->max_gap == 10 && rtu->offline_after == 3 && rtu->backoff_max_ms == 60000 && rtu->retries == 1);
    CHECK(tcp->type == BUS_TCP && tcp->tcp_port == 502 && tcp->timeout_ms == 1000);
    CHECK(strcmp(tcp->host, "192.168.10.20") == 0);
    for (int i = 0; i < c->ndevices; i++)
        CHECK(c->devices[i]->index == i);
    CHECK(c->devices[1] == &rtu->devices[1] && c->devices[2] == &tcp->devices[0]);
    const struct device *level = c->devices[0], *lift1 = c->devices[2], *lift2 = c->devices[3];
    CHECK(strcmp(level->location, "3号楼北侧窨井") == 0 && level->poll_ms == 5000);
    CHECK(level->report_max_s < 0); /* not given: the profile's, else the default */
    CHECK(level->timeout_ms == 300 && level->retries == 1 && lift1->timeout_ms == 1000);
    /* two elevators, one profile: three profiles for four devices */
    CHECK(c->nprofiles == 3 && lift1->profile == lift2->profile && lift1->profile != NULL);
    CHECK(strcmp(level->profile->kind, "sewage.level") == 0);
    double v = 0;
    CHECK(device_param(level, "rim_m", &v) == 0 && v == 2.1);    /* override */
    CHECK(device_param(level, "pipe_d_m", &v) == 0 && v == 0.4); /* profile default */
    CHECK(device_param(lift2, "top_floor", &v) == 0 && v == 7);
    CHECK(device_param(lift1, "top_floor", &v) == 0 && v == 6);
    CHECK(device_param(level, "nope", &v) == -1);
    config_free(c);
}

static void test_defaults_and_relative_paths(void)
{
    struct config *c = OK("{'site':{'id':'hm'},'gateway':{'id':'gw','drivers_dirs':['local/drivers']},"
                          "'store':{'path':'data/ct.db'},'mqtt':{}}",
                          "/srv/site/caretaker.json");
    if (c) {
        CHECK(strcmp(c->store.path, "/srv/site/data/ct.db") == 0);
        CHECK(strcmp(c->driver_dirs[0], "/srv/site/local/drivers") == 0);
        CHECK(c->has_mqtt && strcmp(c->mqtt.host, "127.0.0.1") == 0 && c->mqtt.port == 1883);
        CHECK(!c->mqtt.tls.enabled && c->mqtt.protocol == 5);
        /* v1 readings unless asked: an upgrade never silences a v1 consumer */
        CHECK(c->mqtt.payload == 1 && c->mqtt.batch_ms == 0);
        CHECK(strcmp(c->mqtt.topic_prefix, "caretaker/hm/gw") == 0);
        CHECK(strcmp(c->timezone, "Asia/Shanghai") == 0);
        /* a gateway may be commissioned before its buses */
        CHECK(c->nbuses == 0 && c->ndevices == 0 && c->nprofiles == 0);
        config_free(c);
    }
    c = OK(HEAD "'mqtt':{'protocol':'3.1.1','tls':{'insecure_skip_verify':true}},"
                "'buses':[{'id':'b','type':'rtu','port':'/dev/ttyUSB0','baud':19200,'parity':'E',"
                "'stop_bits':2,'rs485':true,'frame_delay_ms':5,'devices':[" LEVEL "]},"
                "{'id':'t','type':'tcp','host':'h','port':1502,'devices':[{'id':'x','unit':0,"
                "'driver':'elevator/generic','timeout_ms':2500,'retries':0}]}]}",
           "caretaker.json");
    if (c) {
        CHECK(c->mqtt.protocol == 3 && c->mqtt.port == 8883 && c->mqtt.tls.enabled);
        CHECK(c->buses[0].baud == 19200 && c->buses[0].parity == 'E' && c->buses[0].stop_bits == 2);
        CHECK(c->buses[0].rs485 && c->buses[0].frame_delay_us == 5000);
        CHECK(c->buses[1].tcp_port == 1502 && c->devices[1]->unit == 0);
        CHECK(c->devices[1]->timeout_ms == 2500 && c->devices[1]->retries == 0);
        config_free(c);
    }
    /* TLS without a CA file verifies against the system's CAs; TLS 1.2 is the floor unless 1.3 asked */
    /* report_max_s: seconds, a fraction allowed (the poll interval of a 500 ms elevator). */
    c = OK(HEAD "'buses':[" RTU("{'id':'m','unit':1,'driver':'level/ultrasonic-generic','report_max_s':0.5}") "]}",
           "caretaker.json");
    if (c)
        CHECK(c->devices[0]->report_max_s == 0.5);
    config_free(c);
    c = OK(HEAD "'mqtt':{'tls':{}}}", "caretaker.json");
    if (c) {
        CHECK(c->mqtt.tls.enabled && !c->mqtt.tls.insecure_skip_verify && c->mqtt.tls.ca_file[0] == '\0');
        CHECK(c->mqtt.tls.tls_version && strcmp(c->mqtt.tls.tls_version, "tlsv1.2") == 0);
        config_free(c);
    }
    c = OK(HEAD "'mqtt':{'tls':{'tls_version':'tlsv1.3'}}}", "caretaker.json");
    if (c) {
        CHECK(strcmp(c->mqtt.tls.tls_version, "tlsv1.3") == 0);
        config_free(c);
    }
    /* the ends of the baud table, and RTS driven by us either way */
    c = OK(HEAD "'buses':[{'id':'a','type':'rtu','port':'/dev/ttyS1','baud':110,'rts':'up','devices':[" LEVEL "]},"
                "{'id':'b','type':'rtu','port':'/dev/ttyS2','baud':4000000,'rts':'down','devices':[{'id':'m2','unit':2,'driver':'level/ultrasonic-generic'}]}]}",
           "caretaker.json");
    if (c) {
        CHECK(c->buses[0].baud == 110 && c->buses[0].rts == RTS_UP);
        CHECK(c->buses[1].baud == 4000000 && c->buses[1].rts == RTS_DOWN);
        config_free(c);
    }
}

static void test_errors(void)
{
    /* unknown keys, with a suggestion or the list of keys */
    ERR(HEAD "'buses':[" RTU("{'id':'m','unit':1,'driver':'level/ultrasonic-generic','pol_ms':500}") "]}",
        "site.json: buses[0].devices[0].pol_ms: unknown key \"pol_ms\" (did you mean \"poll_ms\"?)", NULL);
    ERR(HEAD "'mqtt':{'hots':'a'}}", "mqtt.hots: unknown key \"hots\" (did you mean \"host\"?)", NULL);
    ERR(HEAD "'colour':1}", "colour: unknown key \"colour\" (expected one of site, gateway, store", NULL);
    ERR(HEAD "'buses':[" TCP("" LIFT) "," "{'id':'b2','type':'tcp','host':'h','baud':9600,'devices':[" LEVEL "]}]}",
        "buses[1].baud: \"baud\" applies to rtu buses only (this bus is tcp)", NULL);

    /* wrong types name the type found and the one expected */
    ERR(HEAD "'buses':[" RTU(LEVEL) "," TCP("{'id':'l','unit':1,'driver':'elevator/generic','poll_ms':'5000'}") "]}",
        "site.json: buses[1].devices[0].poll_ms: \"5000\" is a string (expected an integer 50..86400000)", NULL);
    ERR(HEAD "'mqtt':{'tls':{'ca_file':'/ca','insecure_skip_verify':'yes'}}}",
        "mqtt.tls.insecure_skip_verify: \"yes\" is a string (expected true or false)", NULL);
    ERR("{'site':{'id':'hm'},'gateway':{'id':'gw'},'store':'/tmp/x.db'}",
        "store: \"/tmp/x.db\" is a string (expected an object)", NULL);
    ERR(HEAD "'buses':{}}", "buses: {...} is an object (expected an array)", NULL);

    /* out of range */
    ERR(HEAD "'buses':[" RTU("{'id':'m','unit':1,'driver':'level/ultrasonic-generic','poll_ms':10}") "]}",
        "buses[0].devices[0].poll_ms: 10 is out of range (expected an integer 50..86400000)", NULL);
    ERR(HEAD "'buses':[" RTU("{'id':'m','unit':1,'driver':'level/ultrasonic-generic','report_max_s':-1}") "]}",
        "buses[0].devices[0].report_max_s: -1 seconds between full snapshots (expected 0..86400; 0: every poll)",
        NULL);
    ERR(HEAD "'buses':[" RTU("{'id':'m','unit':1,'driver':'level/ultrasonic-generic','report_max_s':'60'}") "]}",
        "buses[0].devices[0].report_max_s: \"60\" is a string", NULL);
    ERR(HEAD "'buses':[" RTU("{'id':'m','unit':248,'driver':'level/ultrasonic-generic'}") "]}",
        "buses[0].devices[0].unit: 248 is out of range (expected an integer 1..247)", NULL);
    ERR(HEAD "'buses':[{'id':'b','type':'rtu','port':'/dev/ttyS1','baud':14400,'devices':[" LEVEL "]}]}",
        "buses[0].baud: 14400 is not a supported baud rate", NULL);
    /* a rate the kernel takes but libmodbus 3.1.6 would open at 9600 */
    ERR(HEAD "'buses':[{'id':'b','type':'rtu','port':'/dev/ttyS1','baud':2000000,'devices':[" LEVEL "]}]}",
        "buses[0].baud: 2000000 is not a supported baud rate (expected one of 110, 300,", "4000000)");
    ERR(HEAD "'buses':[{'id':'b','type':'rtu','port':'/dev/ttyS1','rts':'on','devices':[" LEVEL "]}]}",
        "buses[0].rts: \"on\" is not a mode for RTS (expected one of none, up, down", NULL);
    ERR(HEAD "'buses':[" TCP(LEVEL) "," "{'id':'b2','type':'tcp','host':'h','rts':'up','devices':[]}]}",
        "buses[1].rts: \"rts\" applies to rtu buses only (this bus is tcp)", NULL);
    ERR(HEAD "'buses':[{'id':'b','type':'rtu','port':'/dev/ttyS1','parity':'n','devices':[" LEVEL "]}]}",
        "buses[0].parity: \"n\" is not a parity (expected one of N, E, O; did you mean \"N\"?)", NULL);
    ERR(HEAD "'mqtt':{'qos':3}}", "mqtt.qos: 3 is out of range (expected an integer 0..2)", NULL);
    ERR(HEAD "'mqtt':{'protocol':'4'}}", "mqtt.protocol: \"4\" is not a protocol version (expected one of 3.1.1, 5",
        NULL);
    ERR(HEAD "'mqtt':{'payload':'v3'}}", "mqtt.payload: \"v3\" is not a payload version (expected one of v1, v2",
        NULL);
    ERR(HEAD "'mqtt':{'payload':'v2','batch_ms':-1}}", "mqtt.batch_ms: -1 is out of range (expected an integer 0..60000)",
        NULL);
    ERR(HEAD "'mqtt':{'topic_prefix':'caretaker/#'}}", "mqtt.topic_prefix: \"caretaker/#\" is not a topic prefix",
        NULL);
    ERR("{'site':{'id':'hm'},'gateway':{'id':'gw'},'store':{'path':'/x','max_mb':0}}",
        "store.max_mb: 0 is out of range (expected an integer 1..1048576)", NULL);
    ERR(HEAD "'contracts':[{'id':'c','contractor':'x','covers':['elevator'],'respond_minutes':{'critical':-5}}]}",
        "contracts[0].respond_minutes.critical: -5 is out of range (expected an integer 0..100000)", NULL);
    ERR("{'site':{'id':'Hong Mei'},'gateway':{'id':'gw'},'store':{'path':'/x'}}",
        "site.id: \"Hong Mei\" is not a valid id", NULL);
    struct stat st;
    if (stat("/usr/share/zoneinfo/Asia/Shanghai", &st) == 0)
        ERR("{'site':{'id':'hm','timezone':'Asia/Shangai'},'gateway':{'id':'gw'},'store':{'path':'/x'}}",
            "site.timezone: \"Asia/Shangai\" is not in /usr/share/zoneinfo", NULL);

    /* missing required fields */
    ERR("{'site':{'name':'x'},'gateway':{'id':'gw'},'store':{'path':'/x'}}",
        "site.id: missing (expected an id of a-z, 0-9, _ and -)", NULL);
    ERR("{'site':{'id':'hm'},'gateway':{'id':'gw'}}", "site.json: store: missing (expected an object)", NULL);
    ERR(HEAD "'buses':[{'id':'b','type':'rtu','devices':[" LEVEL "]}]}",
        "buses[0].port: missing (expected a serial device path", NULL);
    ERR(HEAD "'buses':[" TCP("{'id':'l','unit':1}") "]}", "buses[0].devices[0].driver: missing", NULL);
    ERR(HEAD "'buses':[{'id':'b','port':'/dev/ttyS1','devices':[" LEVEL "]}]}",
        "buses[0].type: missing (expected a bus type: one of rtu, tcp, dtu)", NULL);

    /* uniqueness across the file */
    ERR(HEAD "'buses':[" RTU(LEVEL) "," TCP("{'id':'manhole-3','unit':1,'driver':'elevator/generic'}") "]}",
        "buses[1].devices[0].id: \"manhole-3\" is already the id of buses[0].devices[0]", NULL);
    ERR(HEAD "'buses':[" RTU(LEVEL ",{'id':'m2','unit':1,'driver':'level/ultrasonic-generic'}") "]}",
        "buses[0].devices[1].unit: 1 is already the unit of device \"manhole-3\"", NULL);
    ERR(HEAD "'buses':[" TCP(LIFT) "," TCP("{'id':'lift-2','unit':2,'driver':'elevator/generic'}") "]}",
        "buses[1].id: \"lifts\" is already the id of buses[0]", NULL);
    ERR(HEAD "'buses':[" RTU(LEVEL) ",{'id':'b2','type':'rtu','port':'/dev/ttyS1','devices':["
             "{'id':'m2','unit':2,'driver':'level/ultrasonic-generic'}]}]}",
        "buses[1].port: \"/dev/ttyS1\" is already the port of bus \"rs485-1\"", NULL);
    ERR(HEAD "'contracts':[{'id':'om','contractor':'a','covers':['x']},{'id':'om','contractor':'b','covers':['y']}]}",
        "contracts[1].id: \"om\" is already the id of contracts[0]", NULL);

    /* drivers and their params */
    ERR(HEAD "'buses':[" RTU("{'id':'m','unit':1,'driver':'level/ultrasonic-genric'}") "]}",
        "site.json: buses[0].devices[0].driver: no profile \"level/ultrasonic-genric\" "
        "(did you mean \"level/ultrasonic-generic\"?)",
        NULL);
    ERR(HEAD "'buses':[" RTU("{'id':'m','unit':1,'driver':'pump/none'}") "]}",
        "buses[0].devices[0].driver: no profile \"pump/none\"", NULL);
    ERR(HEAD "'buses':[" RTU("{'id':'m','unit':1,'driver':'level/ultrasonic-generic','params':{'hgih_m':1.5}}") "]}",
        "buses[0].devices[0].params.hgih_m: \"hgih_m\" is not a param of level/ultrasonic-generic "
        "(did you mean \"high_m\"?)",
        NULL);
    ERR(HEAD "'buses':[" RTU("{'id':'m','unit':1,'driver':'level/ultrasonic-generic','params':{'high_m':'1.5'}}") "]}",
        "buses[0].devices[0].params.high_m: \"1.5\" is a string (expected a number)", NULL);
    /* A param the gateway reads itself has its range where the device sets it too: 0 would fall
     * back to 15 days unsaid, 2.5 would be cut to 2, 1e12 is no int. */
#define LIFT_DAYS(v)                                                                                                   \
    "'buses':[" TCP("{'id':'lift-1','unit':1,'driver':'elevator/generic','params':{'maintenance_days':" v "}}") "]}"
    ERR(HEAD LIFT_DAYS("0"),
        "buses[0].devices[0].params.maintenance_days: 0 days between maintenance visits (expected a whole number "
        "1..366)",
        NULL);
    ERR(HEAD LIFT_DAYS("2.5"), "buses[0].devices[0].params.maintenance_days: 2.5 days", NULL);
    ERR(HEAD LIFT_DAYS("1e12"), "buses[0].devices[0].params.maintenance_days: 1000000000000 days", NULL);
    struct config *lift = OK(HEAD LIFT_DAYS("30"), "site.json");
    config_free(lift);

    /* TLS refused before any connection is tried */
    ERR(HEAD "'mqtt':{'tls':{'tls_version':'tlsv1.1'}}}",
        "mqtt.tls.tls_version: \"tlsv1.1\" is older than TLS 1.2, the lowest accepted", NULL);
    ERR(HEAD "'mqtt':{'tls':{'tls_version':'sslv3'}}}", "mqtt.tls.tls_version: \"sslv3\" is older than TLS 1.2",
        NULL);
    ERR(HEAD "'mqtt':{'tls':{'tls_version':'TLSv1.2'}}}", "mqtt.tls.tls_version: \"TLSv1.2\" is not a TLS version name",
        "tlsv1.2, tlsv1.3");
    ERR(HEAD "'mqtt':{'username':'','password_file':'/p'}}", "mqtt.username: \"\" is empty", NULL);
    ERR(HEAD "'mqtt':{'password_file':'/p'}}",
        "mqtt.password_file: \"/p\" is set without mqtt.username (expected both)", NULL);
    ERR(HEAD "'mqtt':{'tls':{'ca_file':'/ca.pem','cert_file':'/c.pem'}}}",
        "mqtt.tls.key_file: missing while cert_file is \"/c.pem\" (expected both or neither)", NULL);
    ERR(HEAD "'mqtt':{'tls':{'ca_file':'/ca.pem','key_file':'/k.pem'}}}",
        "mqtt.tls.cert_file: missing while key_file is \"/k.pem\"", NULL);

    /* the text itself */
    /* line 3 is `  "store": {"path": "/x",}}`: two spaces, "store": (cols 3-10), a space, {"path":
     * (12-19), a space, "/x" (21-24), "," (25), "}" (26), "}" (27). cJSON, wanting a key after the
     * comma, stops one character past the "}" it could not take, so the message points at 27. */
    ERR("{'site':{'id':'hm'},\n 'gateway':{'id':'gw'},\n  'store': {'path': '/x',}}",
        "site.json:3:27: invalid JSON near \"}\"", NULL);
    ERR("{'site':{'id':'hm'}", "site.json:1:20: invalid JSON: unexpected end of text", NULL);
    ERR(HEAD "'buses':[" RTU("{'id':'m','unit':1,'unit':2,'driver':'level/ultrasonic-generic'}") "]}",
        "buses[0].devices[0].unit: duplicate key \"unit\"", NULL);
    ERR("  \n", "site.json: file is empty", NULL);
    ERR("{} x", "site.json:1:4: invalid JSON near \"x\"", NULL);
    /* {"site":{"id":"hm","name":" is 27 characters; the truncated 3-byte sequence starts at 28 */
    ERR("{'site':{'id':'hm','name':'\xe7\xba'}}", "site.json:1:28: invalid UTF-8 byte 0xE7", NULL);

    /* who may command: identities, roles, and contracts that exist */
#define OM "'contracts':[{'id':'elevator-om','contractor':'x','covers':['elevator']}],"
    ERR(HEAD OM "'commands':{'commanders':{'lift-co':{'role':'contractor','contracts':['elevator-mo']}}}}",
        "commands.commanders.lift-co.contracts[0]: \"elevator-mo\" is not the id of a contract of this config "
        "(did you mean \"elevator-om\"?)", NULL);
    ERR(HEAD OM "'commands':{'commanders':{'lift-co':{'role':'contractor'}}}}",
        "commands.commanders.lift-co.contracts: missing", NULL);
    ERR(HEAD OM "'commands':{'commanders':{'ops':{'role':'admin','contracts':['elevator-om']}}}}",
        "commands.commanders.ops.contracts: given for an admin", NULL);
    ERR(HEAD OM "'commands':{'commanders':{'ops':{'role':'root'}}}}",
        "commands.commanders.ops.role: \"root\" is not a role (expected one of admin, contractor)", NULL);
    ERR(HEAD OM "'commands':{'commanders':{'a/b':{'role':'admin'}}}}",
        "\"a/b\" is not an identity (expected the MQTT user name", NULL);
    ERR(HEAD OM "'commands':{'commanders':{'ops':{'role':'admin'}},'reload_interval_s':0}}",
        "commands.reload_interval_s: 0 is out of range (expected an integer 1..86400)", NULL);
    ERR(HEAD OM "'commands':{'commanders':[]}}", "commands.commanders: [...] is an array (expected an object)", NULL);
    ERR(HEAD OM "'commands':{'comanders':{}}}", "commands.comanders: unknown key \"comanders\" (did you mean", NULL);
#undef OM

    /* contracts must cover something that exists */
    ERR(HEAD "'contracts':[{'id':'om','contractor':'x','covers':['elevater']}],'buses':[" TCP(LIFT) "]}",
        "contracts[0].covers: [\"elevater\"] covers no device of this config (did you mean \"elevator\"?)", NULL);
    ERR(HEAD "'contracts':[{'id':'om','contractor':'x','covers':['sewage']}],'buses':[" TCP(LIFT) "]}",
        "contracts[0].covers: [\"sewage\"] covers no device", NULL);
    /* "sewage" covers the kind "sewage.level" at the dot; "sew" does not */
    ERR(HEAD "'contracts':[{'id':'om','contractor':'x','covers':['sew']}],'buses':[" RTU(LEVEL) "]}",
        "contracts[0].covers: [\"sew\"] covers no device", NULL);
    struct config *c = OK(HEAD "'contracts':[{'id':'om','contractor':'x','covers':['sewage','lift-1']}],"
                               "'buses':[" RTU(LEVEL) "]}",
                          "site.json");
    config_free(c);
    ERR(HEAD "'contracts':[{'id':'om','contractor':'x','covers':[]}]}", "contracts[0].covers: [] is empty", NULL);

    /* a bus must have devices */
    ERR(HEAD "'buses':[" TCP("") "]}", "site.json: buses[0].devices: [] is empty (expected at least one device", NULL);
    ERR(HEAD "'buses':[{'id':'b','type':'tcp','host':'h'}]}", "buses[0].devices: missing (expected an array)", NULL);
}

static void test_files(void)
{
    struct config *c = (struct config *)1;
    struct diag d;
    diag_clear(&d);
    CHECK(config_load("/nonexistent/caretaker.json", drivers, &c, &d) == -1 && c == NULL);
    CHECK_CONTAINS(d.msg, "/nonexistent/caretaker.json: cannot open: No such file or directory");

    /* a profile that does not load: the device's path first, then the profile's own error;
     * the config's drivers_dirs ["../profiles"] is relative to the config file */
    char path[700];
    snprintf(path, sizeof path, "%s/tests/data/config/broken-profile.json", src);
    diag_clear(&d);
    CHECK(config_load(path, drivers, &c, &d) == -1);
    CHECK_CONTAINS(d.msg, "broken-profile.json: buses[0].devices[0].driver: profile \"broken/bad-type\" does not load: ");
    CHECK_CONTAINS(d.msg, "/tests/data/config/../profiles/broken/bad-type.json: points[0].type: \"float\" is not a type");

    char tmp[] = "/tmp/ct-config-XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    snprintf(path, sizeof path, "%s/empty.json", tmp);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    diag_clear(&d);
    CHECK(config_load(path, drivers, &c, &d) == -1);
    CHECK_CONTAINS(d.msg, "empty.json: file is empty");
    unlink(path);
    diag_clear(&d);
    CHECK(config_load(tmp, drivers, &c, &d) == -1);
    CHECK_CONTAINS(d.msg, "not a regular file");
    rmdir(tmp);
}

static void write_file(const char *path, const char *text, const char *more)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fputs(more, f);
        fclose(f);
    }
}

static uint64_t hash_of(const char *path)
{
    struct config *c = NULL;
    struct diag d;
    diag_clear(&d);
    CHECK_MSG(config_load(path, drivers, &c, &d) == 0, "%s", d.msg);
    uint64_t h = c ? c->source_hash : 0;
    config_free(c);
    return h;
}

/* What a reload compares: the bytes of the config and of every profile it loads. */
static void test_source_hash(void)
{
    char tmp[] = "/tmp/ct-hash-XXXXXX", dir[64], cfg[96], prof[128], from[700];
    CHECK(mkdtemp(tmp) != NULL);
    snprintf(dir, sizeof dir, "%s/level", tmp);
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(from, sizeof from, "%s/level/ultrasonic-generic.json", drivers);
    size_t len;
    struct diag d;
    diag_clear(&d);
    char *profile = json_read_file(from, &len, &d);
    CHECK_MSG(profile != NULL, "%s", d.msg);
    if (!profile)
        return;
    snprintf(prof, sizeof prof, "%s/level/ultrasonic-generic.json", tmp);
    snprintf(cfg, sizeof cfg, "%s/site.json", tmp);
    const char *text = "{\"site\":{\"id\":\"hm\"},\"gateway\":{\"id\":\"gw\",\"drivers_dirs\":[\".\"]},"
                       "\"store\":{\"path\":\"/tmp/ct.db\"},\"buses\":[{\"id\":\"b\",\"type\":\"tcp\","
                       "\"host\":\"h\",\"devices\":[{\"id\":\"m\",\"unit\":1,"
                       "\"driver\":\"level/ultrasonic-generic\"}]}]}";
    write_file(prof, profile, "");
    write_file(cfg, text, "");
    uint64_t h1 = hash_of(cfg);
    CHECK(h1 != 0 && hash_of(cfg) == h1);
    write_file(prof, profile, "\n"); /* the profile changed by one byte */
    uint64_t h2 = hash_of(cfg);
    CHECK(h2 != h1);
    write_file(cfg, text, " "); /* the config changed by one byte */
    CHECK(hash_of(cfg) != h2 && hash_of(cfg) != h1);
    free(profile);
    unlink(cfg);
    unlink(prof);
    rmdir(dir);
    rmdir(tmp);
}

#define DTU(extra, devs) "{'id':'dtu-1','type':'dtu','insecure_no_secret':true," extra ",'devices':[" devs "]}"

static void test_dtu(void)
{
    /* defaults: bound on every address, the id itself as the registration, no heartbeat,
     * a 4G timeout, RTU unit ids */
    struct config *c = OK(HEAD "'buses':[" DTU("'port':9000,'dtu_id':'868120034567891'", LEVEL) "]}", "c.json");
    if (c) {
        const struct bus_config *b = &c->buses[0];
        CHECK(b->type == BUS_DTU && b->listen_port == 9000 && strcmp(b->listen_host, "0.0.0.0") == 0);
        CHECK(strcmp(b->dtu_id, "868120034567891") == 0 && b->register_len == 15);
        CHECK(memcmp(b->register_packet, "868120034567891", 15) == 0 && b->heartbeat_len == 0);
        CHECK(b->timeout_ms == 2000 && b->retries == 1 && b->offline_after == 3);
        config_free(c);
    }
    /* listen address, a pattern around the id, a text and a hex heartbeat; two DTUs on one port */
    c = OK(HEAD "'buses':[" DTU("'listen':'127.0.0.1:9001','dtu_id':'89860412345678901234',"
                                "'register_pattern':'REG{id};','heartbeat':'hex:FE 01 0a','timeout_ms':5000", LEVEL)
                "," "{'id':'dtu-2','type':'dtu','listen':'127.0.0.1:9001','dtu_id':'pump-house',"
                "'heartbeat':'www.usr.cn','insecure_no_secret':true,'devices':[" LIFT "]}]}",
           "c.json");
    if (c) {
        const struct bus_config *b = &c->buses[0];
        CHECK(strcmp(b->listen_host, "127.0.0.1") == 0 && b->listen_port == 9001 && b->timeout_ms == 5000);
        /* "REG" + 20 digits + ";" */
        CHECK(b->register_len == 24 && memcmp(b->register_packet, "REG89860412345678901234;", 24) == 0);
        CHECK(b->heartbeat_len == 3 && b->heartbeat[0] == 0xFE && b->heartbeat[1] == 0x01 && b->heartbeat[2] == 0x0A);
        CHECK(c->buses[1].heartbeat_len == 10 && memcmp(c->buses[1].heartbeat, "www.usr.cn", 10) == 0);
        config_free(c);
    }
    c = OK(HEAD "'buses':[" DTU("'listen':'[::1]:9002','dtu_id':'x1'", LEVEL) "]}", "c.json");
    if (c) {
        CHECK(strcmp(c->buses[0].listen_host, "::1") == 0 && c->buses[0].listen_port == 9002);
        config_free(c);
    }
    c = OK(HEAD "'buses':[" DTU("'listen':':9003','dtu_id':'x1'", LEVEL) "]}", "c.json");
    if (c) {
        CHECK(strcmp(c->buses[0].listen_host, "0.0.0.0") == 0 && c->buses[0].listen_port == 9003);
        config_free(c);
    }

    ERR(HEAD "'buses':[" DTU("'dtu_id':'868120034567891'", LEVEL) "]}",
        "buses[0].listen: missing (expected \"listen\": \"0.0.0.0:PORT\" or \"port\": PORT", NULL);
    ERR(HEAD "'buses':[" DTU("'port':9000,'listen':':9000','dtu_id':'a'", LEVEL) "]}",
        "buses[0].port: 9000 given with \"listen\"", NULL);
    ERR(HEAD "'buses':[" DTU("'port':9000", LEVEL) "]}", "buses[0].dtu_id: missing", NULL);
    ERR(HEAD "'buses':[" DTU("'listen':'0.0.0.0','dtu_id':'a'", LEVEL) "]}", "buses[0].listen: \"0.0.0.0\" has no port",
        NULL);
    ERR(HEAD "'buses':[" DTU("'listen':'0.0.0.0:70000','dtu_id':'a'", LEVEL) "]}",
        "buses[0].listen: \"0.0.0.0:70000\": the port is not a number 1..65535", NULL);
    ERR(HEAD "'buses':[" DTU("'listen':'gateway.local:9000','dtu_id':'a'", LEVEL) "]}",
        "buses[0].listen: \"gateway.local\" is not a numeric IPv4 or IPv6 address", NULL);
    ERR(HEAD "'buses':[" DTU("'port':9000,'dtu_id':'868 120'", LEVEL) "]}",
        "buses[0].dtu_id: \"868 120\" has a space", NULL);
    ERR(HEAD "'buses':[" DTU("'port':9000,'dtu_id':'a','register_pattern':'REG'", LEVEL) "]}",
        "buses[0]: register_pattern \"REG\" must hold {id} exactly once", NULL);
    ERR(HEAD "'buses':[" DTU("'port':9000,'dtu_id':'a','heartbeat':'hex:F'", LEVEL) "]}",
        "buses[0].heartbeat: \"hex:F\" is not whole hex bytes", NULL);
    ERR(HEAD "'buses':[" DTU("'port':9000,'dtu_id':'a','heartbeat':'hex:zz'", LEVEL) "]}",
        "buses[0].heartbeat: \"hex:zz\" is not hex bytes", NULL);
    ERR(HEAD "'buses':[" DTU("'port':9000,'dtu_id':'a','baud':9600", LEVEL) "]}",
        "buses[0].baud: \"baud\" applies to rtu buses only (this bus is dtu)", NULL);
    ERR(HEAD "'buses':[" DTU("'port':9000,'dtu_id':'a','host':'h'", LEVEL) "]}",
        "buses[0].host: \"host\" applies to tcp buses only (this bus is dtu)", NULL);
    ERR(HEAD "'buses':[" TCP("" LIFT) "," "{'id':'t2','type':'tcp','host':'h','dtu_id':'a','devices':[" LEVEL "]}]}",
        "buses[1].dtu_id: \"dtu_id\" applies to dtu buses only (this bus is tcp)", NULL);
    /* RS-485 behind the DTU: RTU unit ids */
    ERR(HEAD "'buses':[" DTU("'port':9000,'dtu_id':'a'", "{'id':'m','unit':0,'driver':'level/ultrasonic-generic'}")
        "]}",
        "buses[0].devices[0].unit: 0 is out of range (expected an integer 1..247)", NULL);
    /* one port: same address, distinct registrations */
    ERR(HEAD "'buses':[" DTU("'port':9000,'dtu_id':'a'", LEVEL) ","
             "{'id':'d2','type':'dtu','listen':'127.0.0.1:9000','dtu_id':'b','insecure_no_secret':true,"
             "'devices':[" LIFT "]}]}",
        "buses[1].listen: \"127.0.0.1:9000\": port 9000 is already listened on at 0.0.0.0 by bus \"dtu-1\"", NULL);
    ERR(HEAD "'buses':[" DTU("'port':9000,'dtu_id':'a'", LEVEL) ","
             "{'id':'d2','type':'dtu','port':9000,'dtu_id':'a','insecure_no_secret':true,'register_pattern':'R{id}',"
             "'devices':[" LIFT "]}]}",
        "buses[1].dtu_id: \"a\" is already the DTU of bus \"dtu-1\" (buses[0]) on port 9000", NULL);
}

static void write_secret(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    CHECK(chmod(path, mode) == 0);
}

#define SDTU(extra) "{'id':'dtu-1','type':'dtu','port':9000,'dtu_id':'868120034567891'," extra ",'devices':[" LEVEL "]}"

/* A DTU's secret: required unless spelled out otherwise, read from a private file into the
 * registration packet, never quoted in an error; the allow list of address blocks. */
static void test_dtu_trust(void)
{
    char dir[] = "/tmp/ct-dtu-XXXXXX", good[600], open_file[600], shorty[600], spaced[600], text[4096];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(good, sizeof good, "%s/good.secret", dir);
    snprintf(open_file, sizeof open_file, "%s/open.secret", dir);
    snprintf(shorty, sizeof shorty, "%s/short.secret", dir);
    snprintf(spaced, sizeof spaced, "%s/spaced.secret", dir);
    write_secret(good, "Xk3-pQ9z!w\n", 0600);
    write_secret(open_file, "Xk3-pQ9z!w\n", 0644);
    write_secret(shorty, "Xk3\n", 0640);
    write_secret(spaced, "Xk3 pQ9z!w\n", 0600);

    /* secure by default: a DTU bus says how it is trusted */
    ERR(HEAD "'buses':[" SDTU("'heartbeat':'HB'") "]}",
        "buses[0].secret_file: missing (expected \"secret_file\": a private file holding the DTU's registration "
        "secret", "\"insecure_no_secret\": true");
    /* the default pattern puts the secret after the id */
    snprintf(text, sizeof text, HEAD "'buses':[" SDTU("'secret_file':'%s','allow':['10.64.0.0/16','2001:db8::/32',"
                                                      "'127.0.0.1']") "]}", good);
    struct config *c = OK(text, "c.json");
    if (c) {
        const struct bus_config *b = &c->buses[0];
        CHECK(b->register_len == 26 && memcmp(b->register_packet, "868120034567891:Xk3-pQ9z!w", 26) == 0);
        CHECK(b->secret_off == 16 && b->secret_len == 10 && !b->insecure_no_secret);
        CHECK(b->nallow == 3 && b->allow[0].family == AF_INET && b->allow[0].bits == 16);
        CHECK(b->allow[1].family == AF_INET6 && b->allow[1].bits == 32 && b->allow[2].bits == 32);
        config_free(c);
    }
    /* a rotated secret is a change a reload applies: the config's hash covers it */
    uint64_t before, after;
    c = OK(text, "c.json");
    before = c ? c->source_hash : 0;
    config_free(c);
    write_secret(good, "Zr8-mW2q#t\n", 0600);
    c = OK(text, "c.json");
    after = c ? c->source_hash : 0;
    config_free(c);
    CHECK(before && after && before != after);
    write_secret(good, "Xk3-pQ9z!w\n", 0600);
    snprintf(text, sizeof text, HEAD "'buses':[" SDTU("'secret_file':'%s','register_pattern':'REG{secret}#{id}'")
             "]}", good);
    c = OK(text, "c.json");
    if (c) {
        const struct bus_config *b = &c->buses[0];
        CHECK(b->register_len == 29 && memcmp(b->register_packet, "REGXk3-pQ9z!w#868120034567891", 29) == 0);
        CHECK(b->secret_off == 3 && b->secret_len == 10);
        config_free(c);
    }
    /* the file's rules, as for the MQTT password; the secret never in the message */
    struct { const char *file, *extra, *m1, *m2; } bad[] = {
        {open_file, "", "buses[0]: secret_file /", "open.secret: readable by every user (mode 0644); refusing to use it"},
        {shorty, "", "the secret is 3 bytes (expected 8..64 printable ASCII", NULL},
        {spaced, "", "the secret is 10 bytes with a space or a byte outside printable ASCII", NULL},
        {"/nonexistent/x.secret", "", "secret_file /nonexistent/x.secret: cannot open", NULL},
        {good, ",'insecure_no_secret':true", "buses[0].insecure_no_secret: true given with \"secret_file\"", NULL},
        {good, ",'register_pattern':'{id}'", "register_pattern \"{id}\" must hold {secret} exactly once", NULL},
        {good, ",'allow':['10.64.1.9/16']", "buses[0].allow[0]: \"10.64.1.9/16\" has address bits set past its prefix",
         NULL},
        {good, ",'allow':['10.64.0.0/33']", "buses[0].allow[0]: \"10.64.0.0/33\" has a prefix length that is not 0..32",
         NULL},
        {good, ",'allow':['gw.local']", "buses[0].allow[0]: \"gw.local\" is not a numeric IPv4 or IPv6 address", NULL},
        {good, ",'allow':[]", "buses[0].allow: has 0 entries (expected 1..16 address blocks", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, HEAD "'buses':[" SDTU("'secret_file':'%s'%s") "]}", bad[i].file, bad[i].extra);
        struct config *cc = NULL;
        struct diag d;
        diag_clear(&d);
        char *json = strdup(text);
        for (char *q = json; *q; q++)
            if (*q == '\'')
                *q = '"';
        CHECK(config_parse(json, strlen(json), "c.json", drivers, &cc, &d) == -1);
        CHECK_CONTAINS(d.msg, bad[i].m1);
        if (bad[i].m2)
            CHECK_CONTAINS(d.msg, bad[i].m2);
        CHECK_MSG(!strstr(d.msg, "pQ9z"), "the secret leaked into: %s", d.msg);
        config_free(cc);
        free(json);
    }
    ERR(HEAD "'buses':[" SDTU("'insecure_no_secret':true,'register_pattern':'{id}:{secret}'") "]}",
        "register_pattern \"{id}:{secret}\" holds {secret} but the bus has no secret_file", NULL);
    unlink(good);
    unlink(open_file);
    unlink(shorty);
    unlink(spaced);
    rmdir(dir);
}

/* The alert life cycle's knobs and response deadlines in seconds. */
/* A device's inputs: bound by the profile's input index to another device's point; every way
 * of naming them wrongly is refused with the path. */
/* What a city files a device under: optional, checked like the rest. */
static void test_asset(void)
{
    struct config *c = OK(HEAD "'buses':[" TCP("{'id':'lift-1','unit':1,'driver':'elevator/generic','asset':"
                                               "{'registration_code':'31103101002019120001','number':'HM-E-03',"
                                               "'lat':31.2304,'lon':121.4737}}") "]}",
                          "caretaker.json");
    if (c) {
        const struct device_asset *a = &c->devices[0]->asset;
        CHECK(strcmp(a->registration_code, "31103101002019120001") == 0 && strcmp(a->number, "HM-E-03") == 0);
        CHECK(a->has_position && a->lat == 31.2304 && a->lon == 121.4737);
        config_free(c);
    }
    ERR(HEAD "'buses':[" TCP("{'id':'l','unit':1,'driver':'elevator/generic','asset':{'lat':31.2}}") "]}",
        "buses[0].devices[0].asset.lat: given without \"lon\"", NULL);
    ERR(HEAD "'buses':[" TCP("{'id':'l','unit':1,'driver':'elevator/generic','asset':{'lat':131.2,'lon':1}}") "]}",
        "buses[0].devices[0].asset.lat: 131.2 is not a latitude", NULL);
    ERR(HEAD "'buses':[" TCP("{'id':'l','unit':1,'driver':'elevator/generic','asset':{'code':'x'}}") "]}",
        "buses[0].devices[0].asset.code: unknown key", NULL);
}

static void test_inputs(void)
{
    struct config *c = OK(HEAD "'buses':[" TCP("{'id':'up','unit':1,'driver':'level/ultrasonic-generic','inputs':"
                                               "{'downstream_flow':'fm.flow','downstream_level':'down.level'}},"
                                               "{'id':'down','unit':2,'driver':'level/radar-float'},"
                                               "{'id':'fm','unit':3,'driver':'flow/electromagnetic-generic'}") "]}",
                          "site.json");
    if (c) {
        const struct device *up = c->devices[0];
        const struct profile *p = up->profile;
        CHECK(p->ninputs == 2 && strcmp(p->inputs[0].name, "downstream_level") == 0 &&
              strcmp(p->inputs[1].name, "downstream_flow") == 0);
        /* by the profile's order, not the config's */
        CHECK(up->inputs[0].bound && up->inputs[0].device == 1 &&
              up->inputs[0].point == profile_point_index(c->devices[1]->profile, "level"));
        CHECK(up->inputs[1].bound && up->inputs[1].device == 2 &&
              up->inputs[1].point == profile_point_index(c->devices[2]->profile, "flow"));
        CHECK(!c->devices[1]->inputs[0].bound && !c->devices[1]->inputs[1].bound);
        config_free(c);
    }
    ERR(HEAD "'buses':[" TCP("{'id':'up','unit':1,'driver':'level/ultrasonic-generic','inputs':{'downstream_levl':'down.level'}},"
                             "{'id':'down','unit':2,'driver':'level/radar-float'}") "]}",
        "buses[0].devices[0].inputs.downstream_levl: \"downstream_levl\" is not an input of this device's profile "
        "(did you mean \"downstream_level\"?)", NULL);
    ERR(HEAD "'buses':[" TCP("{'id':'up','unit':1,'driver':'level/ultrasonic-generic','inputs':{'downstream_level':'down'}}") "]}",
        "buses[0].devices[0].inputs.downstream_level: \"down\" is not \"<device id>.<point>\"", NULL);
    ERR(HEAD "'buses':[" TCP("{'id':'up','unit':1,'driver':'level/ultrasonic-generic','inputs':{'downstream_level':'dwn.level'}}") "]}",
        "inputs.downstream_level: \"dwn.level\": no device \"dwn\" in this config", NULL);
    ERR(HEAD "'buses':[" TCP("{'id':'up','unit':1,'driver':'level/ultrasonic-generic','inputs':{'downstream_level':'down.levle'}},"
                             "{'id':'down','unit':2,'driver':'level/radar-float'}") "]}",
        "inputs.downstream_level: \"down.levle\": the profile of that device has no point \"levle\"", NULL);
    ERR(HEAD "'buses':[" TCP("{'id':'lift','unit':1,'driver':'elevator/generic','inputs':{'rain':'lift.floor'}}") "]}",
        "inputs.rain: \"rain\" is not an input of elevator/generic (expected one it declares under \"inputs\")", NULL);
    ERR(HEAD "'buses':[" TCP("{'id':'up','unit':1,'driver':'level/ultrasonic-generic','inputs':{'downstream_level':5}}") "]}",
        "inputs.downstream_level: 5 is a number", NULL);
}

static void test_alerts_and_deadlines(void)
{
    /* Without an "alerts" section: 30 min re-escalation, more than 3 raises in 10 min is
     * flapping, held 10 min, communication lost after 60 s. */
    struct config *c = OK(HEAD "'contracts':[{'id':'e','contractor':'x','covers':['elevator'],"
                               "'respond_minutes':{'critical':30,'major':240}}]}",
                          "site.json");
    if (c) {
        CHECK(c->alerts.escalate_every_s == 1800 && c->alerts.flap_max == 3 && c->alerts.flap_window_s == 600);
        CHECK(c->alerts.flap_hold_s == 600 && c->alerts.comm_lost_s == 60);
        /* minutes x 60: 30 min = 1800 s, 240 min = 14400 s; severities not given have none */
        CHECK(c->contracts[0].respond_s[0] == 1800 && c->contracts[0].respond_s[1] == 14400);
        CHECK(c->contracts[0].respond_s[2] == 0 && c->contracts[0].respond_s[3] == 0);
        config_free(c);
    }
    /* Seconds win for the severities they give; the others keep their minutes. */
    c = OK(HEAD "'alerts':{'escalate_every_s':2,'flap_max':5,'comm_lost_s':90},"
                "'contracts':[{'id':'e','contractor':'x','covers':['lift-1'],"
                "'respond_minutes':{'critical':30,'major':240},'respond_seconds':{'critical':2}}]}",
           "site.json");
    if (c) {
        CHECK(c->alerts.escalate_every_s == 2 && c->alerts.flap_max == 5 && c->alerts.comm_lost_s == 90);
        CHECK(c->alerts.flap_window_s == 600);
        CHECK(c->contracts[0].respond_s[0] == 2 && c->contracts[0].respond_s[1] == 14400);
        CHECK(c->contracts[0].respond_minutes[0] == 30);
        config_free(c);
    }
    c = OK(HEAD "'alerts':{'escalate_every_s':0}}", "site.json"); /* escalate once */
    if (c) {
        CHECK(c->alerts.escalate_every_s == 0);
        config_free(c);
    }
    ERR(HEAD "'alerts':{'escalate_every':2}}",
        "site.json: alerts.escalate_every: unknown key \"escalate_every\" (did you mean \"escalate_every_s\"?)", NULL);
    ERR(HEAD "'alerts':{'flap_max':0}}", "alerts.flap_max: 0 is out of range (expected an integer 1..15)", NULL);
    ERR(HEAD "'alerts':{'comm_lost_s':1.5}}", "alerts.comm_lost_s: 1.5 is not an integer", NULL);
    ERR(HEAD "'alerts':[]}", "alerts: [...] is an array (expected an object)", NULL);
    ERR(HEAD "'contracts':[{'id':'c','contractor':'x','covers':['elevator'],'respond_seconds':{'critical':0}}]}",
        "contracts[0].respond_seconds.critical: 0 is out of range (expected an integer 1..6000000)", NULL);
    ERR(HEAD "'contracts':[{'id':'c','contractor':'x','covers':['elevator'],'respond_seconds':{'urgent':5}}]}",
        "contracts[0].respond_seconds.urgent: unknown key \"urgent\"", NULL);
}

/* Work-order terms: deadlines per severity and stage, and the named escalation chain. */
static void test_work_order_terms(void)
{
#define K "'contracts':[{'id':'e','contractor':'x','covers':['elevator'],"
    struct config *c = OK(HEAD K "'respond_minutes':{'major':60},"
                               "'deadlines':{'critical':{'ack_min':5,'arrive_min':30,'resolve_min':120},"
                               "'major':{'arrive_s':7200}},"
                               "'escalation':[{'level':1,'name':'维保公司值班主管','identity':'lift-co-duty'},"
                               "{'level':2,'name':'物业/社区','identity':'estate-office'},"
                               "{'level':3,'name':'区住建局','topic':'district-housing'}]}]}",
                          "site.json");
    if (c) {
        const struct contract *k = &c->contracts[0]; /* due_s[severity][stage]: critical 0, major 1 */
        CHECK(k->due_s[0][0] == 300 && k->due_s[0][1] == 1800 &&
              k->due_s[0][2] == 7200);
        /* major: the ack from respond_minutes, arrival from deadlines, no resolve deadline */
        CHECK(k->respond_s[1] == 3600 && k->due_s[1][0] == 0 && k->due_s[1][1] == 7200 &&
              k->due_s[1][2] == 0);
        CHECK(k->nparties == 3 && k->parties[0].level == 1 && strcmp(k->parties[0].identity, "lift-co-duty") == 0);
        CHECK(strcmp(k->parties[1].name, "物业/社区") == 0 && !k->parties[1].is_topic);
        CHECK(k->parties[2].is_topic && strcmp(k->parties[2].identity, "district-housing") == 0);
        config_free(c);
    }
    ERR(HEAD K "'deadlines':{'critical':{'arive_min':30}}}]}",
        "contracts[0].deadlines.critical.arive_min: unknown key \"arive_min\" (did you mean \"arrive_min\"?)", NULL);
    ERR(HEAD K "'deadlines':{'urgent':{'ack_min':3}}}]}", "contracts[0].deadlines.urgent: unknown key \"urgent\"",
        NULL);
    ERR(HEAD K "'deadlines':{'critical':{'ack_min':30,'arrive_min':5}}}]}",
        "contracts[0].deadlines.critical.arrive_min: 300 s is before the ack_min deadline of 1800 s", NULL);
    ERR(HEAD K "'respond_minutes':{'critical':30},'deadlines':{'critical':{'arrive_min':10}}}]}",
        "contracts[0].deadlines.critical.arrive_min: 600 s is before the respond_minutes/respond_seconds ack deadline "
        "of 1800 s",
        NULL);
    ERR(HEAD K "'respond_minutes':{'major':240},'deadlines':{'major':{'arrive_s':3600}}}]}",
        "contracts[0].deadlines.major.arrive_s: 3600 s is before the respond_minutes/respond_seconds ack deadline", NULL);
    ERR(HEAD K "'deadlines':{'major':{'arrive_min':60,'resolve_s':60}}}]}",
        "contracts[0].deadlines.major.resolve_s: 60 s is before the arrive_min deadline of 3600 s", NULL);
    ERR(HEAD K "'respond_minutes':{'critical':5},'deadlines':{'critical':{'ack_min':5}}}]}",
        "contracts[0].deadlines.critical.ack_min: the critical ack deadline is also given by respond_minutes", NULL);
    ERR(HEAD K "'deadlines':{'critical':{'resolve_s':0}}}]}",
        "contracts[0].deadlines.critical.resolve_s: 0 is out of range (expected an integer 1..6000000)", NULL);
    ERR(HEAD K "'escalation':[{'level':2,'name':'物业','identity':'estate'}]}]}",
        "contracts[0].escalation[0].level: 2 at position 1 of the chain (expected levels 1, 2, ... in order)", NULL);
    ERR(HEAD K "'escalation':[{'level':1,'identity':'estate'}]}]}", "contracts[0].escalation[0].name: missing", NULL);
    ERR(HEAD K "'escalation':[{'level':1,'name':'物业','identity':'estate office'}]}]}",
        "contracts[0].escalation[0].identity: \"estate office\" is not one topic level", NULL);
    ERR(HEAD K "'escalation':[{'level':1,'name':'物业','identity':'a/#'}]}]}",
        "contracts[0].escalation[0].identity: \"a/#\" is not one topic level", NULL);
    ERR(HEAD K "'escalation':[{'level':1,'name':'物业'}]}]}",
        "contracts[0].escalation[0]: neither \"identity\" nor \"topic\" given", NULL);
    ERR(HEAD K "'escalation':[{'level':1,'name':'物业','identity':'a','topic':'b'}]}]}",
        "contracts[0].escalation[0]: both \"identity\" and \"topic\" given", NULL);
    ERR(HEAD K "'escalation':[{'level':1,'name':'物业','user':'a'}]}]}",
        "contracts[0].escalation[0].user: unknown key \"user\"", NULL);
    ERR(HEAD K "'escalation':[]}]}", "contracts[0].escalation: 0 parties (expected 1 to 5, level 1 first)", NULL);
#undef K
}

int main(void)
{
    const char *s = getenv("CARETAKER_SOURCE_DIR");
    snprintf(src, sizeof src, "%s", s ? s : ".");
    snprintf(drivers, sizeof drivers, "%s/drivers", src);
    test_example();
    test_defaults_and_relative_paths();
    test_errors();
    test_files();
    test_source_hash();
    test_dtu();
    test_dtu_trust();
    test_alerts_and_deadlines();
    test_work_order_terms();
    test_inputs();
    test_asset();
    return check_report();
}
