/* profile: driver profile JSON (a device model's register map) to struct profile, checked strictly.
 * Invariant: a profile that loads has unique point names, addresses that fit the Modbus address
 * space, types that suit their table, and decimals/sum references resolved to point indices. */
#include "profile.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json_util.h"
#include "rules_compile.h"
#include "array.h"

/* Indexed by enum value_type, enum reg_table and enum word_order. */
static const char *const type_names[] = {"bool",  "int16",  "uint16",  "int32",  "uint32",
                                         "int64", "uint64", "float32", "float64"};
static const char *const order_names[] = {"ABCD", "CDAB", "BADC", "DCBA"};

static const char *const top_keys[] = {"driver", "kind",   "description", "manual", "address_base",
                                       "params", "points", "rules",       "codes",  "max_read_registers",
                                       "inputs"};
static const char *const input_keys[] = {"unit", "doc"};
static const char *const point_keys[] = {"name",  "table",         "address", "type",   "order",   "unit",
                                         "scale", "offset",        "min",     "max",    "doc",     "bit",
                                         "bits",  "decimals_from", "sum",     "report", "deadband"};
static const char *const report_keys[] = {"as", "how"};
/* Indexed by enum report_how, REPORT_NONE first (never written in a profile). */
static const char *const report_hows[] = {"", "delta", "peak", "mean", "time_in", "rises"};
/* Members every daily report has (docs/mqtt.md): a figure may not take their names. */
static const char *const report_fixed[] = {"v",        "gateway",          "seq",
                                           "ts",       "device",           "report",
                                           "day",      "timezone",         "from_ts",
                                           "to_ts",    "location",         "kind",
                                           "readings", "first_reading_ts", "last_reading_ts",
                                           "units",    "minutes_in_alarm", "faults"};
static const char *const param_keys[] = {"default", "unit", "doc"};

/* Point and param names are identifiers in rule expressions ("level > params.high_m"), hence
 * a letter first. */
static bool ident_ok(const char *s)
{
    return s[0] >= 'a' && s[0] <= 'z' && json_name_ok(s, "_");
}

bool profile_driver_name_ok(const char *driver)
{
    size_t n = strlen(driver);
    if (n == 0 || n >= NAME_MAX_LEN || driver[0] == '/' || driver[n - 1] == '/' || strstr(driver, "//"))
        return false;
    for (const char *s = driver; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '/'))
            return false;
    }
    return true;
}

/* A key that makes no sense on this point: names the key and why, e.g. "order" on a coil. */
static int refuse_key(struct jctx *c, const cJSON *obj, const char *const *keys, size_t n, const char *why)
{
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, keys[i]);
        if (v) {
            char t[64];
            json_value_text(v, t, sizeof t);
            return json_fail_key(c, keys[i], "\"%s\": %s is not allowed here (%s)", keys[i], t, why);
        }
    }
    return 0;
}

static int parse_sum_shape(struct jctx *c, const cJSON *sum)
{
    size_t mark = json_enter_key(c, "sum");
    int rc = json_expect_type(c, sum, cJSON_Array, "an array of 1..4 point names");
    int n = rc ? 0 : cJSON_GetArraySize(sum);
    if (!rc && (n < 1 || n > MAX_SUM_TERMS))
        rc = json_fail(c, "%d terms (expected 1..%d point names)", n, MAX_SUM_TERMS);
    json_leave(c, mark);
    return rc;
}

static int parse_derived(struct jctx *c, const cJSON *obj, struct point *pt)
{
    static const char *const not_derived[] = {"table", "address", "type", "order", "bit", "bits", "decimals_from"};
    static const char *const unscaled[] = {"scale", "offset"};
    if (refuse_key(c, obj, not_derived, NELEM(not_derived),
                   "a point with \"sum\" is computed from other points, not read from a register"))
        return -1;
    if (refuse_key(c, obj, unscaled, NELEM(unscaled), "a sum is not scaled; scale its terms instead"))
        return -1;
    if (parse_sum_shape(c, cJSON_GetObjectItemCaseSensitive(obj, "sum")))
        return -1;
    pt->table = TABLE_DERIVED;
    pt->type = VT_FLOAT64;
    pt->address = 0;
    pt->order = ORDER_ABCD;
    pt->bit = -1;
    pt->bits = 0;
    pt->scale = 1;
    pt->offset = 0;
    return 0;
}

static int parse_bits(struct jctx *c, const cJSON *obj, struct point *pt)
{
    int bit = -1, bits = 0;
    int has_bit = json_get_int(c, obj, "bit", 0, 15, -1, false, &bit);
    if (has_bit < 0)
        return -1;
    int has_bits = json_get_int(c, obj, "bits", 1, 16, 1, false, &bits);
    if (has_bits < 0)
        return -1;
    if (has_bits && !has_bit)
        return json_fail_key(c, "bits", "%d without \"bit\" (expected \"bit\": the lowest bit of the field)", bits);
    if (has_bit && pt->type != VT_BOOL && pt->type != VT_INT16 && pt->type != VT_UINT16)
        return json_fail_key(c, "bit", "%d on a %s (expected a bit field of a bool, int16 or uint16)", bit,
                             type_names[pt->type]);
    if (pt->table == TABLE_COIL || pt->table == TABLE_DISCRETE)
        return 0;
    if (pt->type == VT_BOOL && !has_bit)
        return json_fail_key(c, "bit", "missing (expected 0..15: a bool read from a register is one of its bits)");
    if (pt->type == VT_BOOL && bits != 1)
        return json_fail_key(c, "bits", "%d on a bool (expected 1, or a uint16 for a wider field)", bits);
    if (has_bit && bit + bits > 16)
        return json_fail_key(c, "bits", "%d from bit %d runs past bit 15 (expected bit + bits <= 16)", bits, bit);
    pt->bit = (int8_t)bit;
    pt->bits = has_bit ? (uint8_t)bits : 0;
    return 0;
}

static int parse_wire(struct jctx *c, const cJSON *obj, int base, struct point *pt)
{
    int table, type, order, address;
    if (json_get_enum(c, obj, "table", reg_table_names, REG_TABLES_ON_WIRE, "table", 0, true, &table) < 0)
        return -1;
    pt->table = (enum reg_table)table;
    bool bit_table = pt->table == TABLE_COIL || pt->table == TABLE_DISCRETE;
    /* A coil or discrete input is a bool by nature, so its type may be left out. */
    if (json_get_enum(c, obj, "type", type_names, NELEM(type_names), "type", VT_BOOL, !bit_table, &type) < 0)
        return -1;
    pt->type = (enum value_type)type;
    if (bit_table) {
        static const char *const no_bits[] = {"order", "bit", "bits", "scale", "offset", "decimals_from"};
        if (pt->type != VT_BOOL)
            return json_fail_key(c, "type", "\"%s\" in table \"%s\" (expected \"bool\": a %s holds one bit)",
                                 type_names[pt->type], reg_table_name(pt->table), reg_table_name(pt->table));
        if (refuse_key(c, obj, no_bits, NELEM(no_bits), "a coil or discrete input is a single bit"))
            return -1;
    }
    if (json_get_int(c, obj, "address", base, 65535 + base, 0, true, &address) < 0)
        return -1;
    address -= base;
    int width = point_width(pt);
    if (address + width - 1 > 65535)
        return json_fail_key(c, "address", "%d: the %d registers of a %s run past 65535", address + base, width,
                             type_names[pt->type]);
    pt->address = (uint16_t)address;
    if (json_get_enum(c, obj, "order", order_names, NELEM(order_names), "word order", ORDER_ABCD, false, &order) < 0)
        return -1;
    pt->order = (enum word_order)order;
    if (parse_bits(c, obj, pt))
        return -1;
    if (pt->type == VT_BOOL) {
        static const char *const no_scale[] = {"scale", "offset", "decimals_from"};
        if (refuse_key(c, obj, no_scale, NELEM(no_scale), "a bool is 0 or 1"))
            return -1;
    }
    int has = json_get_number(c, obj, "scale", 1, false, &pt->scale);
    if (has < 0)
        return -1;
    if (pt->scale == 0)
        return json_fail_key(c, "scale", "0 (expected a nonzero number: value = raw * scale + offset)");
    if (json_get_number(c, obj, "offset", 0, false, &pt->offset) < 0)
        return -1;
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(obj, "decimals_from");
    if (dec && !cJSON_IsString(dec)) {
        size_t mark = json_enter_key(c, "decimals_from");
        json_expect_type(c, dec, cJSON_String, "the name of an integer point holding the decimal places");
        json_leave(c, mark);
        return -1;
    }
    return 0;
}

/* "report": {"as": member, "how": ...}: which member of the daily report the point feeds. */
static int parse_report(struct jctx *c, const cJSON *obj, struct profile *p, int i)
{
    const cJSON *rep;
    if (json_get_child(c, obj, "report", cJSON_Object, false, &rep) < 0)
        return -1;
    if (!rep)
        return 0;
    struct point *pt = &p->points[i];
    size_t mark = json_enter_key(c, "report");
    int how;
    if (json_check_keys(c, rep, report_keys, NELEM(report_keys)) ||
        json_get_string(c, rep, "as", NULL, true, "the report member's name, like \"volume\"", pt->report_as,
                        sizeof pt->report_as) < 0 ||
        json_get_enum(c, rep, "how", report_hows + 1, NELEM(report_hows) - 1, "report how", 0, true, &how) < 0)
        return -1;
    pt->report_how = (enum report_how)(how + 1);
    size_t n = strlen(pt->report_as);
    if (!ident_ok(pt->report_as) || (n >= 3 && strcmp(pt->report_as + n - 3, "_ts") == 0))
        return json_fail_key(c, "as",
                             "\"%s\" is not a valid member name (expected a-z, 0-9 and _, starting with a letter, "
                             "not ending in _ts: a peak's time is <as>_ts)",
                             pt->report_as);
    for (size_t k = 0; k < NELEM(report_fixed); k++)
        if (strcmp(pt->report_as, report_fixed[k]) == 0)
            return json_fail_key(c, "as", "\"%s\" is a member every daily report has (expected another name)",
                                 pt->report_as);
    int figures = 1;
    for (int k = 0; k < i; k++) {
        if (p->points[k].report_how == REPORT_NONE)
            continue;
        figures++;
        if (strcmp(p->points[k].report_as, pt->report_as) == 0)
            return json_fail_key(c, "as", "\"%s\" is already fed by points[%d] (expected one point per member)",
                                 pt->report_as, k);
    }
    if (figures > REPORT_FIGURES_MAX)
        return json_fail(c, "a %dth point in the daily report (expected at most %d per profile)", figures,
                         REPORT_FIGURES_MAX);
    bool by_value = pt->report_how == REPORT_DELTA || pt->report_how == REPORT_PEAK || pt->report_how == REPORT_MEAN;
    if (by_value && pt->type == VT_BOOL)
        return json_fail_key(c, "how",
                             "\"%s\" of a bool (expected a numeric point; a flag reports \"time_in\" "
                             "or \"rises\")",
                             report_hows[pt->report_how]);
    json_leave(c, mark);
    return 0;
}

static int parse_point(struct jctx *c, const cJSON *obj, int base, struct profile *p, int i)
{
    struct point *pt = &p->points[i];
    memset(pt, 0, sizeof *pt);
    pt->bit = -1;
    pt->decimals_from = -1;
    pt->scale = 1;
    if (json_expect_type(c, obj, cJSON_Object, "an object describing one point"))
        return -1;
    if (json_check_keys(c, obj, point_keys, NELEM(point_keys)))
        return -1;
    if (json_get_string(c, obj, "name", NULL, true, "a point name", pt->name, sizeof pt->name) < 0)
        return -1;
    if (!ident_ok(pt->name))
        return json_fail_key(c, "name", "\"%s\" is not a valid name (expected a-z, 0-9 and _, starting with a letter)",
                             pt->name);
    for (int k = 0; k < i; k++)
        if (strcmp(p->points[k].name, pt->name) == 0)
            return json_fail_key(c, "name", "\"%s\" is already the name of points[%d] (expected a unique name)",
                                 pt->name, k);
    if (json_get_string(c, obj, "unit", "", false, "a unit", pt->unit, sizeof pt->unit) < 0)
        return -1;
    const char *doc;
    if (json_get_text(c, obj, "doc", false, &doc) < 0)
        return -1;
    int rc = cJSON_GetObjectItemCaseSensitive(obj, "sum") ? parse_derived(c, obj, pt) : parse_wire(c, obj, base, pt);
    if (rc)
        return -1;
    if ((pt->table == TABLE_HOLDING || pt->table == TABLE_INPUT) && point_width(pt) > p->max_read_registers)
        return json_fail_key(c, "type", "a %s takes %d registers, more than the profile's max_read_registers %d",
                             type_names[pt->type], point_width(pt), p->max_read_registers);
    int has_min = json_get_number(c, obj, "min", 0, false, &pt->min);
    if (has_min < 0)
        return -1;
    int has_max = json_get_number(c, obj, "max", 0, false, &pt->max);
    if (has_max < 0)
        return -1;
    pt->has_min = has_min == 1;
    pt->has_max = has_max == 1;
    if (pt->has_min && pt->has_max && pt->min > pt->max)
        return json_fail_key(c, "max", "%.15g is below min %.15g (expected min <= max)", pt->max, pt->min);
    return parse_report(c, obj, p, i);
}

/* Why a point may not have a deadband, or NULL when it may. */
static const char *no_deadband_why(const struct point *pt, const cJSON *codes)
{
    if (pt->type == VT_BOOL)
        return "a bool is a state";
    if (pt->bit >= 0)
        return "a bit field is a state or a code";
    if (codes && cJSON_GetObjectItemCaseSensitive(codes, pt->name))
        return "a point with a code table is a code";
    if (pt->table == TABLE_DERIVED)
        return "a sum is a totalizer, a counter";
    if (pt->report_how == REPORT_DELTA)
        return "a point the daily report counts by \"delta\" is a counter";
    return NULL;
}

/* "deadband": a number >= 0 in the point's unit, or a string "<number>%" of the last sent value.
 * Only a measured value has one: a state, a code or a counter is sent on every change, since a
 * change of one of them too small to tell is no change of it at all. */
static int parse_deadband(struct jctx *c, const cJSON *obj, const cJSON *codes, struct point *pt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "deadband");
    if (!v)
        return 0;
    char t[64];
    json_value_text(v, t, sizeof t);
    static const char *const expected =
        "expected a number >= 0 in the point's unit, like 0.01, or a percent of the last sent value, like \"0.5%\"";
    if (cJSON_IsNumber(v)) {
        pt->deadband = v->valuedouble;
    } else if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        char *end;
        size_t n = strlen(s);
        pt->deadband = n > 1 && s[n - 1] == '%' ? strtod(s, &end) : NAN;
        if (!isfinite(pt->deadband) || end != s + n - 1 ||
            !(isdigit((unsigned char)s[0]) || s[0] == '.' || s[0] == '-'))
            return json_fail_key(c, "deadband", "%s is not a deadband (%s)", t, expected);
        if (pt->deadband > 100)
            return json_fail_key(c, "deadband", "%s is more than 100 %% of the value (%s)", t, expected);
        pt->deadband_pct = true;
    } else {
        return json_fail_key(c, "deadband", "%s is not a deadband (%s)", t, expected);
    }
    if (!(pt->deadband >= 0) || !isfinite(pt->deadband))
        return json_fail_key(c, "deadband", "%s is negative (%s)", t, expected);
    const char *what = no_deadband_why(pt, codes);
    if (what)
        return json_fail_key(c, "deadband", "%s on \"%s\": %s, sent on every change (expected no deadband)", t,
                             pt->name, what);
    return 0;
}

/* After the code tables are known: each point's deadband, and whether the point may have one. */
static int parse_deadbands(struct jctx *c, const cJSON *points, const cJSON *codes, struct profile *p)
{
    size_t mark = json_enter_key(c, "points");
    int i = 0;
    for (const cJSON *obj = points->child; obj; obj = obj->next, i++) {
        size_t m2 = json_enter_index(c, i);
        if (parse_deadband(c, obj, codes, &p->points[i]))
            return -1;
        json_leave(c, m2);
    }
    json_leave(c, mark);
    return 0;
}

/* Looks a referenced point up by name: exists, with a suggestion when it does not. */
static int resolve_ref(struct jctx *c, const struct profile *p, const char *name)
{
    int k = profile_point_index(p, name);
    if (k >= 0)
        return k;
    const char *names[MAX_POINTS];
    for (int i = 0; i < p->npoints; i++)
        names[i] = p->points[i].name;
    const char *near = json_suggest(name, names, (size_t)p->npoints);
    if (near)
        json_fail(c, "\"%.60s\" is not a point of this profile (did you mean \"%s\"?)", name, near);
    else
        json_fail(c, "\"%.60s\" is not a point of this profile (expected the name of a point)", name);
    return -1;
}

static bool is_integer_type(enum value_type t)
{
    return t == VT_INT16 || t == VT_UINT16 || t == VT_INT32 || t == VT_UINT32 || t == VT_INT64 || t == VT_UINT64;
}

/* Second pass, once every name is known: a point may refer to one declared after it. */
static int resolve_refs(struct jctx *c, const cJSON *points, struct profile *p)
{
    int i = 0;
    for (const cJSON *obj = points->child; obj; obj = obj->next, i++) {
        struct point *pt = &p->points[i];
        size_t mark = json_enter_index(c, i);
        const cJSON *dec = cJSON_GetObjectItemCaseSensitive(obj, "decimals_from");
        if (dec) {
            size_t m2 = json_enter_key(c, "decimals_from");
            int k = resolve_ref(c, p, dec->valuestring);
            if (k < 0)
                return -1;
            const struct point *t = &p->points[k];
            if (k == i || t->table == TABLE_DERIVED || !is_integer_type(t->type) || t->decimals_from >= 0)
                return json_fail(c, "\"%s\" is a %s%s (expected a plain integer point read from the device)",
                                 dec->valuestring, t->table == TABLE_DERIVED ? "derived " : "",
                                 k == i ? "reference to this point itself" : type_names[t->type]);
            pt->decimals_from = (int16_t)k;
            json_leave(c, m2);
        }
        const cJSON *sum = cJSON_GetObjectItemCaseSensitive(obj, "sum");
        if (sum) {
            size_t m2 = json_enter_key(c, "sum");
            int j = 0;
            for (const cJSON *term = sum->child; term; term = term->next, j++) {
                size_t m3 = json_enter_index(c, j);
                if (json_expect_type(c, term, cJSON_String, "a point name"))
                    return -1;
                int k = resolve_ref(c, p, term->valuestring);
                if (k < 0)
                    return -1;
                if (p->points[k].table == TABLE_DERIVED)
                    return json_fail(c, "\"%s\" is itself a derived point (expected a point read from the device)",
                                     term->valuestring);
                if (p->points[k].type == VT_BOOL)
                    return json_fail(c, "\"%s\" is a bool (expected a numeric point)", term->valuestring);
                pt->sum[j] = (int16_t)k;
                json_leave(c, m3);
            }
            pt->nsum = (uint8_t)j;
            json_leave(c, m2);
        }
        json_leave(c, mark);
    }
    return 0;
}

static int parse_points(struct jctx *c, const cJSON *points, int base, struct profile *p)
{
    size_t mark = json_enter_key(c, "points");
    int n = cJSON_GetArraySize(points);
    if (n < 1 || n > MAX_POINTS) {
        json_fail(c, "%d points (expected 1..%d)", n, MAX_POINTS);
        return -1;
    }
    int i = 0;
    for (const cJSON *obj = points->child; obj; obj = obj->next, i++) {
        size_t m2 = json_enter_index(c, i);
        if (parse_point(c, obj, base, p, i))
            return -1;
        p->npoints = i + 1;
        json_leave(c, m2);
    }
    if (resolve_refs(c, points, p))
        return -1;
    json_leave(c, mark);
    return 0;
}

static int parse_params(struct jctx *c, const cJSON *params, struct profile *p)
{
    size_t mark = json_enter_key(c, "params");
    int n = cJSON_GetArraySize(params);
    if (n > MAX_PARAMS)
        return json_fail(c, "%d params (expected at most %d)", n, MAX_PARAMS);
    for (const cJSON *obj = params->child; obj; obj = obj->next) {
        size_t m2 = json_enter_key(c, obj->string);
        if (!ident_ok(obj->string) || strlen(obj->string) >= NAME_MAX_LEN)
            return json_fail(c, "\"%.60s\" is not a valid param name (expected a-z, 0-9 and _, starting with a letter)",
                             obj->string);
        if (json_expect_type(c, obj, cJSON_Object, "an object with \"default\""))
            return -1;
        if (json_check_keys(c, obj, param_keys, NELEM(param_keys)))
            return -1;
        struct param *pa = &p->params[p->nparams];
        snprintf(pa->name, sizeof pa->name, "%s", obj->string);
        if (json_get_number(c, obj, "default", 0, true, &pa->value) < 0)
            return -1;
        char why[160];
        if (profile_param_out_of_range(pa->name, pa->value, why, sizeof why))
            return json_fail_key(c, "default", "%s", why);
        const char *text;
        if (json_get_text(c, obj, "unit", false, &text) < 0 || json_get_text(c, obj, "doc", false, &text) < 0)
            return -1;
        p->nparams++;
        json_leave(c, m2);
    }
    json_leave(c, mark);
    return 0;
}

bool profile_param_out_of_range(const char *name, double v, char *why, size_t n)
{
    if (strcmp(name, "report_max_s") == 0 && !(v >= 0 && v <= 86400)) {
        snprintf(why, n, "%.15g seconds between full snapshots (expected 0..86400; 0: every poll)", v);
        return true;
    }
    /* Whole days: the interval is counted in them, and the contract's key is an integer. */
    if (strcmp(name, "maintenance_days") == 0 && !(v >= 1 && v <= 366 && v == floor(v))) {
        snprintf(why, n, "%.15g days between maintenance visits (expected a whole number 1..366)", v);
        return true;
    }
    return false;
}

/* Inputs: values of other devices the rules read as inputs.<name>; the config binds each. */
static int parse_inputs(struct jctx *c, const cJSON *inputs, struct profile *p)
{
    size_t mark = json_enter_key(c, "inputs");
    int n = cJSON_GetArraySize(inputs);
    if (n > MAX_INPUTS)
        return json_fail(c, "%d inputs (expected at most %d)", n, MAX_INPUTS);
    for (const cJSON *obj = inputs->child; obj; obj = obj->next) {
        size_t m2 = json_enter_key(c, obj->string);
        if (!ident_ok(obj->string) || strlen(obj->string) >= NAME_MAX_LEN)
            return json_fail(c, "\"%.60s\" is not a valid input name (expected a-z, 0-9 and _, starting with a letter)",
                             obj->string);
        if (json_expect_type(c, obj, cJSON_Object, "an object with \"unit\" and \"doc\"") ||
            json_check_keys(c, obj, input_keys, NELEM(input_keys)))
            return -1;
        struct input_decl *in = &p->inputs[p->ninputs];
        snprintf(in->name, sizeof in->name, "%s", obj->string);
        const char *text;
        if (json_get_string(c, obj, "unit", "", false, "a unit", in->unit, sizeof in->unit) < 0 ||
            json_get_text(c, obj, "doc", false, &text) < 0)
            return -1;
        p->ninputs++;
        json_leave(c, m2);
    }
    json_leave(c, mark);
    return 0;
}

/* Code tables ("fault": {"0": {"zh": "无故障", "en": "no fault"}, "12": "..."}) are read by the
 * rules module from the profile text; here only their shape is checked, so a typo fails at load
 * and not at alarm time. */
static int check_codes(struct jctx *c, const cJSON *codes)
{
    size_t mark = json_enter_key(c, "codes");
    for (const cJSON *table = codes->child; table; table = table->next) {
        size_t m2 = json_enter_key(c, table->string);
        if (json_expect_type(c, table, cJSON_Object, "an object of code: text"))
            return -1;
        for (const cJSON *e = table->child; e; e = e->next) {
            const char *s = e->string;
            const char *digits = s[0] == '-' ? s + 1 : s;
            bool ok = *digits && strlen(digits) <= 10;
            for (const char *d = digits; *d && ok; d++)
                ok = *d >= '0' && *d <= '9';
            if (!ok)
                return json_fail_key(c, s, "\"%.60s\" is not a code (expected an integer written as a string)", s);
            size_t m3 = json_enter_key(c, s);
            if (cJSON_IsObject(e)) {
                static const char *const langs[] = {"zh", "en"};
                const char *text;
                if (json_check_keys(c, e, langs, NELEM(langs)) || json_get_text(c, e, "zh", true, &text) < 0 ||
                    json_get_text(c, e, "en", true, &text) < 0)
                    return -1;
            } else if (json_expect_type(c, e, cJSON_String, "the text of the code, or {\"zh\": ..., \"en\": ...}")) {
                return -1;
            }
            json_leave(c, m3);
        }
        json_leave(c, m2);
    }
    json_leave(c, mark);
    return 0;
}

static int check_rules(struct jctx *c, const cJSON *rules)
{
    size_t mark = json_enter_key(c, "rules");
    int i = 0;
    for (const cJSON *r = rules->child; r; r = r->next, i++) {
        size_t m2 = json_enter_index(c, i);
        if (json_expect_type(c, r, cJSON_Object, "an object describing one rule"))
            return -1;
        json_leave(c, m2);
    }
    json_leave(c, mark);
    return 0;
}

static int parse_root(struct jctx *c, const cJSON *root, struct profile *p)
{
    if (json_expect_type(c, root, cJSON_Object, "an object: the profile"))
        return -1;
    if (json_check_keys(c, root, top_keys, NELEM(top_keys)))
        return -1;
    if (json_get_string(c, root, "driver", NULL, true, "a driver name like \"level/ultrasonic-generic\"", p->driver,
                        sizeof p->driver) < 0)
        return -1;
    if (!profile_driver_name_ok(p->driver))
        return json_fail_key(c, "driver",
                             "\"%s\" is not a valid driver name (expected segments of a-z, 0-9, _ and - joined by /)",
                             p->driver);
    if (json_get_string(c, root, "kind", NULL, true, "a kind like \"sewage.level\"", p->kind, sizeof p->kind) < 0)
        return -1;
    if (!json_name_ok(p->kind, "_.") || strstr(p->kind, "..") || p->kind[strlen(p->kind) - 1] == '.')
        return json_fail_key(
            c, "kind", "\"%s\" is not a valid kind (expected dotted words of a-z, 0-9 and _, like \"sewage.flow\")",
            p->kind);
    const char *text;
    if (json_get_text(c, root, "description", false, &text) < 0 || json_get_text(c, root, "manual", false, &text) < 0)
        return -1;
    int base;
    if (json_get_int(c, root, "address_base", 0, 1, 0, false, &base) < 0)
        return -1;
    /* Some controllers answer one register per request, or only short reads: the planner
     * must not merge past what the device takes. */
    if (json_get_int(c, root, "max_read_registers", 1, 125, 125, false, &p->max_read_registers) < 0)
        return -1;
    const cJSON *params, *points, *rules, *codes;
    if (json_get_child(c, root, "params", cJSON_Object, false, &params) < 0)
        return -1;
    if (params && parse_params(c, params, p))
        return -1;
    if (json_get_child(c, root, "points", cJSON_Array, true, &points) < 0)
        return -1;
    if (parse_points(c, points, base, p))
        return -1;
    const cJSON *inputs;
    if (json_get_child(c, root, "inputs", cJSON_Object, false, &inputs) < 0)
        return -1;
    if (inputs && parse_inputs(c, inputs, p))
        return -1;
    if (json_get_child(c, root, "codes", cJSON_Object, false, &codes) < 0)
        return -1;
    if (codes && check_codes(c, codes))
        return -1;
    if (parse_deadbands(c, points, codes, p))
        return -1;
    if (json_get_child(c, root, "rules", cJSON_Array, false, &rules) < 0)
        return -1;
    if (rules && check_rules(c, rules))
        return -1;
    /* Compiled here, so one bad rule refuses the whole profile, naming the rule and the column. */
    struct rule_set *rs;
    if (rules_compile(c, p, rules, codes, &rs))
        return -1;
    p->ruleset = rs;
    return 0;
}

int profile_parse(const char *text, size_t len, const char *path, struct profile *out, struct diag *err)
{
    memset(out, 0, sizeof *out);
    if (strlen(path) >= sizeof out->path) {
        diag_set(err, "%.80s...: path too long (at most %zu bytes)", path, sizeof out->path - 1);
        return -1;
    }
    snprintf(out->path, sizeof out->path, "%s", path);
    cJSON *root = json_parse(text, len, path, err);
    if (!root)
        return -1;
    struct jctx c;
    json_ctx_init(&c, path, err);
    int rc = parse_root(&c, root, out);
    cJSON_Delete(root);
    if (rc)
        profile_release(out);
    return rc;
}

/* The file must sit where a lookup by its own driver name would find it: drivers/<driver>.json. */
static bool path_matches_driver(const char *path, const char *driver)
{
    size_t lp = strlen(path), ld = strlen(driver);
    if (lp < ld + 5 || strcmp(path + lp - 5, ".json") != 0)
        return false;
    size_t start = lp - 5 - ld;
    if (strncmp(path + start, driver, ld) != 0)
        return false;
    return start == 0 || path[start - 1] == '/';
}

int profile_load_file(const char *path, struct profile *out, struct diag *err)
{
    size_t len;
    char *text = json_read_file(path, &len, err);
    if (!text) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    int rc = profile_parse(text, len, path, out, err);
    out->source_hash = json_hash(JSON_HASH_SEED, text, len);
    free(text);
    if (rc)
        return -1;
    if (!path_matches_driver(path, out->driver)) {
        diag_set(err, "%s: driver: \"%s\" does not match the file's place (expected the file at <drivers dir>/%s.json)",
                 path, out->driver, out->driver);
        profile_release(out);
        return -1;
    }
    return 0;
}

int profile_find(const char *const *dirs, int ndirs, const char *driver, char *path_out, size_t n)
{
    if (!profile_driver_name_ok(driver))
        return -1;
    for (int i = 0; i < ndirs; i++) {
        if (!dirs[i] || !dirs[i][0])
            continue;
        int w = snprintf(path_out, n, "%s/%s.json", dirs[i], driver);
        if (w < 0 || (size_t)w >= n)
            continue;
        struct stat st;
        if (stat(path_out, &st) == 0 && S_ISREG(st.st_mode))
            return 0;
    }
    if (n)
        path_out[0] = '\0';
    return -1;
}

struct name_list {
    char (*names)[NAME_MAX_LEN];
    int n, cap;
};

static int list_add(struct name_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0)
            return 0; /* shadowed by an earlier directory */
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 32;
        void *grown = realloc(l->names, (size_t)cap * sizeof *l->names);
        if (!grown)
            return -1;
        l->names = grown;
        l->cap = cap;
    }
    snprintf(l->names[l->n++], NAME_MAX_LEN, "%s", name);
    return 0;
}

/* Depth is bounded: kind folders are one level deep, and a symlink loop must not hang a check. */
static int list_dir(const char *dir, const char *prefix, int depth, struct name_list *l)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char full[PATH_MAX_LEN * 2], name[NAME_MAX_LEN * 2];
        int w1 = snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        int w2 = snprintf(name, sizeof name, "%s%s%s", prefix, prefix[0] ? "/" : "", e->d_name);
        if (w1 < 0 || (size_t)w1 >= sizeof full || w2 < 0 || (size_t)w2 >= sizeof name)
            continue;
        struct stat st;
        if (stat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 4)
                rc = list_dir(full, name, depth + 1, l);
        } else if (S_ISREG(st.st_mode)) {
            size_t ln = strlen(name);
            if (ln > 5 && strcmp(name + ln - 5, ".json") == 0) {
                name[ln - 5] = '\0';
                if (profile_driver_name_ok(name))
                    rc = list_add(l, name);
            }
        }
    }
    closedir(d);
    return rc;
}

int profile_list(const char *const *dirs, int ndirs, char (**names)[NAME_MAX_LEN])
{
    struct name_list l = {NULL, 0, 0};
    for (int i = 0; i < ndirs; i++) {
        if (dirs[i] && dirs[i][0] && list_dir(dirs[i], "", 0, &l)) {
            free(l.names);
            *names = NULL;
            return -1;
        }
    }
    *names = l.names;
    return l.n;
}

void profile_release(struct profile *p)
{
    if (!p)
        return;
    rules_set_free(p->ruleset);
    p->ruleset = NULL;
}
