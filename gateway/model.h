/* model: the shared vocabulary of Caretaker — points, profiles, devices, buses, the whole config.
 * Plain data, filled by profile.c and config.c, read by everyone else; nothing here allocates.
 * model.c holds the few lookups over it that several modules share. */
#ifndef CARETAKER_MODEL_H
#define CARETAKER_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

#define NAME_MAX_LEN 64  /* ids of site, gateway, bus, device, point, param, driver */
#define TEXT_MAX_LEN 192 /* free text: locations, contractor names, messages (UTF-8) */
#define PATH_MAX_LEN 256
#define MAX_POINTS 128 /* per profile */
#define MAX_PARAMS 64  /* per profile, and overrides per device */
#define MAX_SUM_TERMS 4
#define MAX_INPUTS 8 /* values of other devices a profile's rules may read */
#define MAX_DRIVER_DIRS 8

/* Modbus data model tables (Modbus Application Protocol v1.1b3, section 4.3). */
enum reg_table {
    TABLE_COIL = 0,     /* FC 1, bits, read-write */
    TABLE_DISCRETE = 1, /* FC 2, bits, read-only */
    TABLE_INPUT = 2,    /* FC 4, 16-bit registers, read-only */
    TABLE_HOLDING = 3,  /* FC 3, 16-bit registers, read-write */
    TABLE_DERIVED = 4,  /* not on the wire: computed from other points (sum) */
};

enum value_type {
    VT_BOOL,
    VT_INT16,
    VT_UINT16,
    VT_INT32,
    VT_UINT32,
    VT_INT64,
    VT_UINT64,
    VT_FLOAT32,
    VT_FLOAT64,
};

/* Byte order of a multi-register value, named by where the bytes of the big-endian value
 * A B C D (A most significant) sit on the wire: ABCD = high word first, CDAB = low word
 * first ("word swapped"), BADC = bytes swapped in each word, DCBA = fully reversed.
 * For 64-bit values the same pattern extends: ABCD = ABCDEFGH, CDAB = GHEFCDAB (words reversed),
 * BADC = BADCFEHG, DCBA = HGFEDCBA. For 16-bit values only the byte swap matters. */
enum word_order { ORDER_ABCD, ORDER_CDAB, ORDER_BADC, ORDER_DCBA };

/* Stored with each reading (0..2). Q_UNREAD marks, inside one poll, a point not read in it (one
 * the device lacks): it is neither stored nor published. */
enum quality { Q_OK = 0, Q_INVALID = 1, Q_OFFLINE = 2, Q_UNREAD = 0xff };

/* How a point feeds the daily report (the point's "report" key; reports.h says what each
 * figure is). REPORT_NONE: it feeds none. */
enum report_how { REPORT_NONE, REPORT_DELTA, REPORT_PEAK, REPORT_MEAN, REPORT_TIME_IN, REPORT_RISES };
#define REPORT_FIGURES_MAX 8 /* per profile */

struct point {
    char name[NAME_MAX_LEN];
    char unit[16];
    enum reg_table table;
    uint16_t address; /* protocol address, 0-based, after the profile's "base" */
    enum value_type type;
    enum word_order order;
    int8_t bit;   /* -1: whole value; else lowest bit of a field inside a register */
    uint8_t bits; /* width of that field (1 for a flag, 4 for a nibble) */
    double scale; /* value = raw * scale + offset */
    double offset;
    bool has_min, has_max; /* outside [min, max] the value is stored as invalid */
    double min, max;
    int16_t decimals_from; /* index of a point holding decimal places: value /= 10^that; -1 none */
    uint8_t nsum;          /* TABLE_DERIVED: value = sum of these points' values */
    int16_t sum[MAX_SUM_TERMS];
    enum report_how report_how;
    char report_as[NAME_MAX_LEN]; /* the daily report's member it feeds ("volume") */
    /* Report by exception (exception.h): the largest change of the value that is not sent, in the
     * point's unit, or in percent of the last sent value when deadband_pct. 0: every change. */
    double deadband;
    bool deadband_pct;
};

struct param {
    char name[NAME_MAX_LEN];
    double value;
};

/* A value a profile's rules read from another device ("inputs.<name>"): the level of the next
 * manhole downstream, a rain gauge. Which device and point feed it is the config's choice. In
 * rules an input is point npoints + its index, so history functions apply to it as well. */
struct input_decl {
    char name[NAME_MAX_LEN];
    char unit[16];
};

/* A device's binding of one input of its profile; by the profile's input index. */
struct input_bind {
    char name[NAME_MAX_LEN]; /* the input's name, as the config gave it */
    bool bound;
    int device;                    /* config->devices index of the source */
    int point;                     /* point index in the source's profile */
    char source[NAME_MAX_LEN * 2]; /* "device.point" as the config wrote it */
};

struct rule_set;

struct profile {
    char driver[NAME_MAX_LEN]; /* "level/ultrasonic-generic" */
    char kind[NAME_MAX_LEN];   /* "sewage.level", "elevator" */
    char path[PATH_MAX_LEN];   /* file it came from, for errors */
    uint64_t source_hash;      /* of the file's bytes: a reload of unchanged files is a no-op */
    int npoints;
    struct point points[MAX_POINTS];
    int nparams;
    struct param params[MAX_PARAMS]; /* defaults; a device may override */
    int max_read_registers;          /* most registers the device answers in one read (FC 03/04) */
    int ninputs;
    struct input_decl inputs[MAX_INPUTS];
    /* its rules compiled, with its code tables (rules.h); NULL when it has none */
    struct rule_set *ruleset;
};

/* What a city platform files a device under (一梯一档 / 一井一档): the elevator's registration
 * code (注册代码, the 96333 code), the owner's asset number, where it stands. All optional. */
struct device_asset {
    char registration_code[NAME_MAX_LEN];
    char number[NAME_MAX_LEN];
    bool has_position;
    double lat, lon; /* WGS-84 degrees */
};

struct device {
    char id[NAME_MAX_LEN];
    char location[TEXT_MAX_LEN];
    struct device_asset asset;
    int unit; /* Modbus unit id (slave address) */
    char driver[NAME_MAX_LEN];
    const struct profile *profile;
    int poll_ms;
    int timeout_ms; /* inherits the bus's when not set */
    int retries;
    /* A full snapshot of every point at least this often (report by exception, exception.h);
     * < 0 when the config leaves it to the profile's param report_max_s, else the default. */
    double report_max_s;
    int nparams;
    struct param params[MAX_PARAMS];      /* overrides of profile params */
    struct input_bind inputs[MAX_INPUTS]; /* by profile input index; unbound inputs are unknown */
    int index;                            /* position in config->devices order, stable for a config */
};

/* BUS_DTU: Modbus RTU frames over a TCP connection that a 4G DTU opens to us (docs/dtu.md). */
enum bus_type { BUS_RTU, BUS_TCP, BUS_DTU };

/* Who drives an RS-485 adapter's transmitter enable on RTS: nobody (the adapter itself, or the
 * driver in RS-485 mode), or we, raising it (up) or lowering it (down) while a request leaves. */
enum rtu_rts { RTS_NONE, RTS_UP, RTS_DOWN };

#define DTU_ID_MAX_LEN 64  /* registration id: IMEI (15 digits), ICCID (19-20) or a literal */
#define DTU_LITERAL_MAX 64 /* registration pattern and heartbeat, in bytes */
#define DTU_SECRET_MIN 8   /* registration secret, in bytes: short enough to type into a DTU */
#define DTU_SECRET_MAX 64
#define DTU_REGISTER_MAX (DTU_LITERAL_MAX + DTU_ID_MAX_LEN + DTU_SECRET_MAX) /* the packet filled in */
#define DTU_ALLOW_MAX 16 /* address blocks in a DTU bus's allow list */

struct bus_config {
    char id[NAME_MAX_LEN];
    enum bus_type type;
    /* rtu */
    char port[PATH_MAX_LEN];
    int baud;
    char parity; /* 'N', 'E', 'O' */
    int data_bits;
    int stop_bits;
    bool rs485;         /* ask the driver for RS-485 mode (TIOCSRS485) where supported */
    int rts;            /* enum rtu_rts */
    int frame_delay_us; /* extra silence between frames beyond the 3.5 char time */
    /* tcp */
    char host[TEXT_MAX_LEN];
    int tcp_port;
    /* polling */
    int timeout_ms;     /* per request */
    int retries;        /* extra attempts per read before the cycle counts as failed */
    int max_gap;        /* registers of gap a read may bridge to merge two points */
    int offline_after;  /* failed cycles before the device is declared offline */
    int backoff_max_ms; /* ceiling of the offline probe interval */
    /* dtu: we listen; the DTU connects and is known by the id it registers with */
    char listen_host[TEXT_MAX_LEN]; /* address to bind, "0.0.0.0" by default */
    int listen_port;
    char dtu_id[DTU_ID_MAX_LEN];
    uint8_t register_packet[DTU_REGISTER_MAX]; /* register_pattern with {id} and {secret} filled in */
    int register_len;
    int secret_off, secret_len; /* where the secret stands in register_packet; 0 len: none */
    char secret_file[PATH_MAX_LEN];
    bool insecure_no_secret; /* the id alone registers: spelled out, never the default */
    int nallow;              /* 0: any source address */
    struct cidr allow[DTU_ALLOW_MAX];
    uint8_t heartbeat[DTU_LITERAL_MAX]; /* empty: heartbeats are told apart by shape */
    int heartbeat_len;
    int ndevices;
    struct device *devices;
};

/* One level of a contract's escalation chain: who hears of a missed stage. identity is an MQTT
 * user name, or, when is_topic, only the last level of the topic it is published on (a party
 * that reads through a bridge rather than with a user of its own). */
#define CONTRACT_MAX_PARTIES 5
struct escalation_party {
    int level; /* 1, 2, ... in order */
    char name[TEXT_MAX_LEN];
    char identity[NAME_MAX_LEN];
    bool is_topic;
};

struct contract {
    char id[NAME_MAX_LEN];
    char contractor[TEXT_MAX_LEN];
    int ncovers;
    char (*covers)[NAME_MAX_LEN]; /* device kinds ("elevator", "sewage") or device ids */
    int respond_minutes[4];       /* by severity: critical, major, minor, info; 0 = none */
    int respond_s[4];             /* the same in seconds, what deadlines use: respond_seconds when
                                   * given for the severity, else respond_minutes x 60; 0 = none */
    /* Work-order deadlines by severity and stage (ack, on site, resolved), seconds after the
     * raise; 0 = none. The ack column is respond_s's when "deadlines" gives none. */
    int due_s[4][3];
    int nparties; /* the escalation chain, level 1 first */
    struct escalation_party parties[CONTRACT_MAX_PARTIES];
    int maintenance_days; /* longest interval between maintenance visits; 0 = the device's */
};

struct tls_config {
    bool enabled;
    char ca_file[PATH_MAX_LEN];
    char cert_file[PATH_MAX_LEN];
    char key_file[PATH_MAX_LEN];
    bool insecure_skip_verify; /* must be spelled out; never the default */
    const char *tls_version;   /* libmosquitto's lowest version: "tlsv1.2" (default) or "tlsv1.3" */
};

struct mqtt_config {
    char host[TEXT_MAX_LEN];
    int port;
    int qos;
    int keepalive_s;
    int protocol; /* 3 = 3.1.1, 5 */
    char client_id[NAME_MAX_LEN * 2];
    char topic_prefix[TEXT_MAX_LEN];
    char username[NAME_MAX_LEN];
    char password_file[PATH_MAX_LEN];
    struct tls_config tls;
    int inflight;  /* publish window */
    int metrics_s; /* how often metrics are published while connected */
    int payload;   /* contract version of the readings: 1 (one message per poll) or 2 (batches) */
    int batch_ms;  /* v2: the longest a reading waits for others to share its message; 0 = none */
};

struct store_config {
    char path[PATH_MAX_LEN];
    int max_mb;
    int retention_days;
    int commit_ms; /* group commit interval */
    int batch;     /* rows that force a commit before the interval */
};

/* The alert life cycle's site-wide knobs (section "alerts"); rules_options is filled from it. */
struct alerts_config {
    int escalate_every_s; /* re-escalation interval after respond_by; 0 = escalate once */
    int flap_max;         /* raises within flap_window_s above which an alert is flapping */
    int flap_window_s;
    int flap_hold_s;
    int comm_lost_s; /* when a profile has no comm_lost_s param */
};

/* Who may command the gateway (section "commands"): the identity is the MQTT user name, which
 * the broker's ACL puts in the command's topic (<prefix>/cmd/<verb>/<identity>). */
#define COMMANDER_MAX_CONTRACTS 8
enum commander_role { ROLE_ADMIN, ROLE_CONTRACTOR };

struct commander {
    char identity[NAME_MAX_LEN];
    enum commander_role role;
    int ncontracts; /* contractor: the ids of the contracts it answers for */
    char contracts[COMMANDER_MAX_CONTRACTS][NAME_MAX_LEN];
};

struct commands_config {
    int reload_interval_s;   /* least time between two reloads by command */
    int refusals_per_minute; /* refusal replies per identity, and refusal log lines */
    int ncommanders;
    struct commander *commanders;
};

struct config {
    char path[PATH_MAX_LEN];
    uint64_t source_hash; /* of the config file's bytes and of every profile's, in order */
    char site_id[NAME_MAX_LEN];
    char site_name[TEXT_MAX_LEN];
    char timezone[NAME_MAX_LEN];
    char gateway_id[NAME_MAX_LEN];
    int ndriver_dirs;
    char driver_dirs[MAX_DRIVER_DIRS][PATH_MAX_LEN];
    struct store_config store;
    struct mqtt_config mqtt;
    bool has_mqtt;
    struct alerts_config alerts;
    int ncontracts;
    struct contract *contracts;
    struct commands_config commands;
    int nbuses;
    struct bus_config *buses;
    int ndevices;            /* all devices of all buses */
    struct device **devices; /* by device->index */
    int nprofiles;
    struct profile **profiles; /* loaded profiles, owned by the config */
};

/* Number of 16-bit registers a point occupies (1 bit for coil/discrete tables counts as 1). */
static inline int point_width(const struct point *p)
{
    switch (p->type) {
    case VT_BOOL:
    case VT_INT16:
    case VT_UINT16:
        return 1;
    case VT_INT32:
    case VT_UINT32:
    case VT_FLOAT32:
        return 2;
    case VT_INT64:
    case VT_UINT64:
    case VT_FLOAT64:
        return 4;
    }
    return 1;
}

/* Index of the point called name in p, or -1: the one lookup by name that the profile loader,
 * rule expressions and input bindings share. */
int profile_point_index(const struct profile *p, const char *name);

/* "coil", "discrete", "input" or "holding": a register table as profiles and logs name it
 * (indexed by enum reg_table; "derived" for TABLE_DERIVED). */
#define REG_TABLES_ON_WIRE 4
extern const char *const reg_table_names[REG_TABLES_ON_WIRE];
const char *reg_table_name(int table);
/* The same in words for people: "holding register(s)", "discrete input(s)". */
const char *reg_table_words(int table, bool plural);

/* How well a contract's cover (a device id, or a device kind at a dot boundary: "sewage"
 * covers "sewage.level") matches device d: 0 not at all, the kind's length, or more for the
 * id itself. The contract of a device is the best-scoring one (alerts.c); the config check
 * asks only whether a cover matches anything. */
size_t contract_cover_score(const char *cover, const struct device *d);

/* The value of param name on device d: the device's override, else its profile's default.
 * 0, or -1 when the profile has no such param. device_params fills out[i] for each profile
 * param i, as the rules read them. */
int device_param(const struct device *d, const char *name, double *value);
void device_params(const struct device *d, double *out);

/* The bus whose devices[] holds d, or NULL. */
const struct bus_config *device_bus(const struct config *cfg, const struct device *d);

#endif
