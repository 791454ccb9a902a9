/* sim_profile: loads driver profiles and a scenario file into plain structs the simulator serves.
 * Unknown keys are ignored: validating profiles is the gateway's job, serving them is ours. */
#include "sim_profile.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_cmd.h"

__attribute__((format(printf, 3, 4)))
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static cJSON *read_json(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                fail(err, errlen, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got < 4096)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        fail(err, errlen, "%s: read error", path);
        return NULL;
    }
    buf[len] = '\0';
    cJSON *root = cJSON_ParseWithLength(buf, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at ? (long)(at - buf) : -1;
        fail(err, errlen, "%s: not valid JSON (near byte %ld)", path, off);
    }
    free(buf);
    return root;
}

/* Reads an optional number member; returns 1 when present, 0 when absent, -1 on a wrong type. */
static int opt_number(const cJSON *obj, const char *key, double *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it)
        return 0;
    if (!cJSON_IsNumber(it))
        return -1;
    *out = it->valuedouble;
    return 1;
}

/* Whole number in [lo, hi]; the JSON value is a double, so integrality is checked. */
static int int_in(double v, long lo, long hi, long *out)
{
    if (!isfinite(v) || v != floor(v) || v < (double)lo || v > (double)hi)
        return -1;
    *out = (long)v;
    return 0;
}

int sim_point_span(const struct sim_point *p)
{
    if (p->derived)
        return 0;
    if (p->table == SIM_COIL || p->table == SIM_DISCRETE || p->bit >= 0)
        return 1;
    return sim_type_words(p->type);
}

int sim_profile_find(const struct sim_profile *pr, const char *name)
{
    for (int i = 0; i < pr->npoints; i++)
        if (strcmp(pr->points[i].name, name) == 0)
            return i;
    return -1;
}

static int load_point(const cJSON *jp, int i, long base, struct sim_point *p,
                      char *dec_from, const char *path, char *err, size_t errlen)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(jp, "name");
    double d;
    long l;

    memset(p, 0, sizeof *p);
    p->bit = -1;
    p->scale = 1.0;
    p->decimals_from = -1;
    dec_from[0] = '\0';
    if (!cJSON_IsString(name) || !name->valuestring[0] ||
        strlen(name->valuestring) >= SIM_NAME_MAX) {
        fail(err, errlen, "%s: points[%d].name: expected a string of 1..%d characters", path, i,
             SIM_NAME_MAX - 1);
        return -1;
    }
    strcpy(p->name, name->valuestring);
    if (cJSON_GetObjectItemCaseSensitive(jp, "sum")) {
        p->derived = true;
        return 0;
    }

    const cJSON *t = cJSON_GetObjectItemCaseSensitive(jp, "table");
    if (!cJSON_IsString(t) || sim_table_parse(t->valuestring, &p->table) < 0) {
        fail(err, errlen, "%s: points[%d].table: expected holding, input, coil or discrete", path,
             i);
        return -1;
    }
    if (opt_number(jp, "address", &d) != 1 || int_in(d, base, 65535 + base, &l) < 0) {
        fail(err, errlen, "%s: points[%d].address: expected an integer %ld..%ld", path, i, base,
             65535 + base);
        return -1;
    }
    p->address = (uint16_t)(l - base);

    bool bit_table = p->table == SIM_COIL || p->table == SIM_DISCRETE;
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(jp, "type");
    if (!ty) {
        p->type = bit_table ? SIM_BOOL : SIM_UINT16;
    } else if (!cJSON_IsString(ty) || sim_type_parse(ty->valuestring, &p->type) < 0) {
        fail(err, errlen, "%s: points[%d].type: expected bool, int16, uint16, int32, uint32, "
             "int64, uint64, float32 or float64", path, i);
        return -1;
    }
    if (bit_table && p->type != SIM_BOOL) {
        fail(err, errlen, "%s: points[%d].type: a %s point must be bool", path, i,
             sim_table_name(p->table));
        return -1;
    }
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(jp, "order");
    if (o && (!cJSON_IsString(o) || sim_order_parse(o->valuestring, &p->order) < 0)) {
        fail(err, errlen, "%s: points[%d].order: expected ABCD, CDAB, BADC or DCBA", path, i);
        return -1;
    }

    int has_bit = opt_number(jp, "bit", &d);
    if (has_bit < 0 || (has_bit && int_in(d, 0, 15, &l) < 0)) {
        fail(err, errlen, "%s: points[%d].bit: expected an integer 0..15", path, i);
        return -1;
    }
    if (has_bit)
        p->bit = (int)l;
    int has_bits = opt_number(jp, "bits", &d);
    if (has_bits < 0 || (has_bits && int_in(d, 1, 16, &l) < 0)) {
        fail(err, errlen, "%s: points[%d].bits: expected an integer 1..16", path, i);
        return -1;
    }
    if (has_bits) {
        p->bits = (int)l;
        if (p->bit < 0)
            p->bit = 0;
    } else {
        p->bits = 1;
    }
    if (p->bit >= 0 && (bit_table || p->bit + p->bits > 16)) {
        fail(err, errlen, "%s: points[%d]: bit field %d+%d does not fit one register", path, i,
             p->bit, p->bits);
        return -1;
    }
    if (p->bit < 0 && (uint32_t)p->address + (uint32_t)sim_point_span(p) > 65536) {
        fail(err, errlen, "%s: points[%d].address: value runs past register 65535", path, i);
        return -1;
    }
    if (opt_number(jp, "scale", &p->scale) < 0 || !isfinite(p->scale) || p->scale == 0.0) {
        fail(err, errlen, "%s: points[%d].scale: expected a non-zero number", path, i);
        return -1;
    }
    if (opt_number(jp, "offset", &p->offset) < 0 || !isfinite(p->offset)) {
        fail(err, errlen, "%s: points[%d].offset: expected a number", path, i);
        return -1;
    }
    const cJSON *df = cJSON_GetObjectItemCaseSensitive(jp, "decimals_from");
    if (df) {
        if (!cJSON_IsString(df) || strlen(df->valuestring) >= SIM_NAME_MAX) {
            fail(err, errlen, "%s: points[%d].decimals_from: expected a point name", path, i);
            return -1;
        }
        strcpy(dec_from, df->valuestring);
    }
    return 0;
}

int sim_profile_load(const char *path, const char *driver, struct sim_profile *out,
                     char *err, size_t errlen)
{
    int rc = -1;
    char (*dec_from)[SIM_NAME_MAX] = NULL;
    cJSON *root = read_json(path, err, errlen);

    memset(out, 0, sizeof *out);
    if (!root)
        return -1;
    snprintf(out->driver, sizeof out->driver, "%s", driver);
    snprintf(out->path, sizeof out->path, "%s", path);

    double d;
    long base = 0;
    int has = opt_number(root, "address_base", &d);
    if (has < 0 || (has && int_in(d, 0, 1, &base) < 0)) {
        fail(err, errlen, "%s: address_base: expected 0 or 1", path);
        goto out;
    }
    const cJSON *pts = cJSON_GetObjectItemCaseSensitive(root, "points");
    if (!cJSON_IsArray(pts) || cJSON_GetArraySize(pts) == 0) {
        fail(err, errlen, "%s: points: expected a non-empty array", path);
        goto out;
    }
    int n = cJSON_GetArraySize(pts);
    out->points = calloc((size_t)n, sizeof *out->points);
    dec_from = calloc((size_t)n, sizeof *dec_from);
    if (!out->points || !dec_from) {
        fail(err, errlen, "%s: out of memory", path);
        goto out;
    }
    int i = 0;
    const cJSON *jp;
    cJSON_ArrayForEach(jp, pts) {
        if (!cJSON_IsObject(jp)) {
            fail(err, errlen, "%s: points[%d]: expected an object", path, i);
            goto out;
        }
        if (load_point(jp, i, base, &out->points[i], dec_from[i], path, err, errlen) < 0)
            goto out;
        if (sim_profile_find(out, out->points[i].name) >= 0) {
            fail(err, errlen, "%s: points[%d].name: duplicate \"%s\"", path, i,
                 out->points[i].name);
            goto out;
        }
        out->npoints = ++i;
    }
    for (i = 0; i < n; i++) {
        if (!dec_from[i][0])
            continue;
        int k = sim_profile_find(out, dec_from[i]);
        if (k < 0 || k == i || out->points[k].derived) {
            fail(err, errlen, "%s: points[%d].decimals_from: \"%s\" is not another wire point",
                 path, i, dec_from[i]);
            goto out;
        }
        out->points[i].decimals_from = k;
    }
    rc = 0;
out:
    free(dec_from);
    cJSON_Delete(root);
    if (rc < 0)
        sim_profile_free(out);
    return rc;
}

void sim_profile_free(struct sim_profile *pr)
{
    free(pr->points);
    pr->points = NULL;
    pr->npoints = 0;
}

/* ---- scenario ---- */

/* Driver names become file paths: keep them to a safe alphabet and out of "..". */
static int driver_name_ok(const char *s)
{
    if (!s[0] || s[0] == '/' || strstr(s, "..") || strlen(s) >= SIM_NAME_MAX * 2)
        return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '/' || *c == '-' || *c == '_' || *c == '.'))
            return 0;
    return 1;
}

static const struct sim_profile *get_profile(struct sim_scenario *s, const char *driver,
                                             const char *where, char *err, size_t errlen)
{
    for (int i = 0; i < s->nprofiles; i++)
        if (strcmp(s->profiles[i]->driver, driver) == 0)
            return s->profiles[i];
    if (!driver_name_ok(driver)) {
        fail(err, errlen, "%s: %s.driver: \"%s\" is not a driver name", s->path, where, driver);
        return NULL;
    }
    if (s->nprofiles >= (int)(sizeof s->profiles / sizeof s->profiles[0])) {
        fail(err, errlen, "%s: %s.driver: too many drivers", s->path, where);
        return NULL;
    }
    for (int i = 0; i < s->ndirs; i++) {
        char file[SIM_PATH_MAX * 2];
        snprintf(file, sizeof file, "%s/%s.json", s->dirs[i], driver);
        FILE *f = fopen(file, "rb");
        if (!f)
            continue;
        fclose(f);
        struct sim_profile *pr = calloc(1, sizeof *pr);
        if (!pr) {
            fail(err, errlen, "out of memory");
            return NULL;
        }
        if (sim_profile_load(file, driver, pr, err, errlen) < 0) {
            free(pr);
            return NULL;
        }
        s->profiles[s->nprofiles++] = pr;
        return pr;
    }
    fail(err, errlen, "%s: %s.driver: no profile \"%s\" in any of %d drivers dirs", s->path,
         where, driver, s->ndirs);
    return NULL;
}

static int add_dir(struct sim_scenario *s, const char *base_dir, const char *dir, char *err,
                   size_t errlen)
{
    if (s->ndirs >= SIM_MAX_DIRS) {
        fail(err, errlen, "%s: too many drivers dirs (at most %d)", s->path, SIM_MAX_DIRS);
        return -1;
    }
    int n;
    if (dir[0] == '/' || !base_dir)
        n = snprintf(s->dirs[s->ndirs], SIM_PATH_MAX, "%s", dir);
    else
        n = snprintf(s->dirs[s->ndirs], SIM_PATH_MAX, "%s/%s", base_dir, dir);
    if (n < 0 || n >= SIM_PATH_MAX) {
        fail(err, errlen, "%s: drivers dir \"%s\": path too long", s->path, dir);
        return -1;
    }
    s->ndirs++;
    return 0;
}

static int load_ranges(const cJSON *arr, const char *where, struct sim_range **out, int *nout,
                       const char *path, char *err, size_t errlen)
{
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr)) {
        fail(err, errlen, "%s: %s: expected an array of {table, address, count}", path, where);
        return -1;
    }
    int n = cJSON_GetArraySize(arr), i = 0;
    *out = calloc((size_t)n + 1, sizeof **out);
    if (!*out) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        struct sim_range *r = &(*out)[i];
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "table");
        double d;
        long a, c = 1;
        if (!cJSON_IsString(t) || sim_table_parse(t->valuestring, &r->table) < 0) {
            fail(err, errlen, "%s: %s[%d].table: expected holding, input, coil or discrete", path,
                 where, i);
            return -1;
        }
        if (opt_number(it, "address", &d) != 1 || int_in(d, 0, 65535, &a) < 0) {
            fail(err, errlen, "%s: %s[%d].address: expected an integer 0..65535", path, where, i);
            return -1;
        }
        int has = opt_number(it, "count", &d);
        if (has < 0 || (has && int_in(d, 1, 65536 - a, &c) < 0)) {
            fail(err, errlen, "%s: %s[%d].count: expected an integer 1..%ld", path, where, i,
                 65536 - a);
            return -1;
        }
        r->address = (uint32_t)a;
        r->count = (uint32_t)c;
        *nout = ++i;
    }
    return 0;
}

/* The point a values/waves/ramps/counters key names: must exist and be on the wire. */
static int wire_point(const struct sim_profile *pr, const char *name, const char *where,
                      const char *path, char *err, size_t errlen)
{
    int k = sim_profile_find(pr, name);
    if (k < 0 || pr->points[k].derived) {
        fail(err, errlen, "%s: %s.%s: %s point of %s", path, where, name,
             k < 0 ? "no such" : "derived (not on the wire), not a", pr->driver);
        return -1;
    }
    return k;
}

/* Reads the numbers of one motion object; a NaN default marks a required key. */
static int motion_numbers(const cJSON *m, const char *const keys[4], const double defs[4],
                          double v[4], const char *where, const char *path, char *err,
                          size_t errlen)
{
    for (int j = 0; j < 4; j++) {
        if (!keys[j])
            continue;
        int has = opt_number(m, keys[j], &v[j]);
        if (has == 0 && !isnan(defs[j])) {
            v[j] = defs[j];
        } else if (has != 1 || !isfinite(v[j])) {
            fail(err, errlen, "%s: %s.%s: expected a number", path, where, keys[j]);
            return -1;
        }
    }
    return 0;
}

static int load_motions(const cJSON *dev, const char *dwhere, struct sim_device_spec *ds,
                        const char *path, char *err, size_t errlen)
{
    static const char *const kinds[3] = { "waves", "ramps", "counters" };
    static const char *const keys[3][4] = {
        { "base", "amplitude", "period_s", NULL },
        { "from", "to", "over_s", "at_s" },
        { "step", NULL, "every_s", NULL },
    };
    static const double defs[3][4] = {
        { NAN, NAN, NAN, NAN }, { NAN, NAN, NAN, 0.0 }, { 1.0, NAN, NAN, NAN },
    };
    int total = 0;
    for (int k = 0; k < 3; k++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(dev, kinds[k]);
        if (o && !cJSON_IsObject(o)) {
            fail(err, errlen, "%s: %s.%s: expected an object of point name to settings", path,
                 dwhere, kinds[k]);
            return -1;
        }
        total += o ? cJSON_GetArraySize(o) : 0;
    }
    ds->motions = calloc((size_t)total + 1, sizeof *ds->motions);
    if (!ds->motions) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    for (int k = 0; k < 3; k++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(dev, kinds[k]);
        const cJSON *m;
        char where[160];
        snprintf(where, sizeof where, "%s.%s", dwhere, kinds[k]);
        cJSON_ArrayForEach(m, o) {
            int pt = wire_point(ds->profile, m->string, where, path, err, errlen);
            if (pt < 0)
                return -1;
            char mwhere[240];
            snprintf(mwhere, sizeof mwhere, "%s.%s", where, m->string);
            double v[4] = { 0, 0, 0, 0 };
            if (!cJSON_IsObject(m)) {
                fail(err, errlen, "%s: %s: expected an object", path, mwhere);
                return -1;
            }
            if (motion_numbers(m, keys[k], defs[k], v, mwhere, path, err, errlen) < 0)
                return -1;
            if ((k != 1 && v[2] <= 0.0) || (k == 1 && (v[2] < 0.0 || v[3] < 0.0))) {
                fail(err, errlen, "%s: %s.%s: %g is not a usable duration", path, mwhere,
                     keys[k][2], v[2]);
                return -1;
            }
            struct sim_motion *mo = &ds->motions[ds->nmotions++];
            mo->point = pt;
            mo->kind = (enum sim_motion_kind)k;
            mo->a = v[0];
            mo->b = v[1];
            mo->c = v[2];
            mo->d = v[3];
        }
    }
    return 0;
}

static int load_device(struct sim_scenario *s, const cJSON *dev, int i, char *err, size_t errlen)
{
    struct sim_device_spec *ds = &s->devices[i];
    char where[64];
    double d;
    long unit;

    snprintf(where, sizeof where, "devices[%d]", i);
    if (!cJSON_IsObject(dev)) {
        fail(err, errlen, "%s: %s: expected an object", s->path, where);
        return -1;
    }
    if (opt_number(dev, "unit", &d) != 1 || int_in(d, 1, 255, &unit) < 0) {
        fail(err, errlen, "%s: %s.unit: expected an integer 1..255", s->path, where);
        return -1;
    }
    for (int j = 0; j < i; j++) {
        if (s->devices[j].unit == unit) {
            fail(err, errlen, "%s: %s.unit: %ld already used by devices[%d]", s->path, where, unit,
                 j);
            return -1;
        }
    }
    ds->unit = (int)unit;
    const cJSON *drv = cJSON_GetObjectItemCaseSensitive(dev, "driver");
    if (!cJSON_IsString(drv)) {
        fail(err, errlen, "%s: %s.driver: expected a string", s->path, where);
        return -1;
    }
    ds->profile = get_profile(s, drv->valuestring, where, err, errlen);
    if (!ds->profile)
        return -1;

    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(dev, "values");
    if (vals) {
        if (!cJSON_IsObject(vals)) {
            fail(err, errlen, "%s: %s.values: expected an object of point name to value", s->path,
                 where);
            return -1;
        }
        ds->values = calloc((size_t)cJSON_GetArraySize(vals) + 1, sizeof *ds->values);
        if (!ds->values) {
            fail(err, errlen, "out of memory");
            return -1;
        }
        const cJSON *v;
        char vw[96];
        snprintf(vw, sizeof vw, "%s.values", where);
        cJSON_ArrayForEach(v, vals) {
            int pt = wire_point(ds->profile, v->string, vw, s->path, err, errlen);
            if (pt < 0)
                return -1;
            if (cJSON_IsBool(v)) {
                ds->values[ds->nvalues].value = cJSON_IsTrue(v) ? 1.0 : 0.0;
            } else if (cJSON_IsNumber(v)) {
                ds->values[ds->nvalues].value = v->valuedouble;
            } else {
                fail(err, errlen, "%s: %s.%s: expected a number or a boolean", s->path, vw,
                     v->string);
                return -1;
            }
            ds->values[ds->nvalues++].point = pt;
        }
    }
    if (load_motions(dev, where, ds, s->path, err, errlen) < 0)
        return -1;
    char rw[96];
    snprintf(rw, sizeof rw, "%s.holes", where);
    if (load_ranges(cJSON_GetObjectItemCaseSensitive(dev, "holes"), rw, &ds->holes, &ds->nholes,
                    s->path, err, errlen) < 0)
        return -1;
    snprintf(rw, sizeof rw, "%s.extra", where);
    if (load_ranges(cJSON_GetObjectItemCaseSensitive(dev, "extra"), rw, &ds->extras,
                    &ds->nextras, s->path, err, errlen) < 0)
        return -1;

    const cJSON *b = cJSON_GetObjectItemCaseSensitive(dev, "behave");
    snprintf(ds->behave, sizeof ds->behave, "ok");
    if (b) {
        char line[SIM_CMD_MAX + 32], cerr[160];
        struct sim_cmd cmd;
        if (!cJSON_IsString(b) || strlen(b->valuestring) >= SIM_CMD_MAX) {
            fail(err, errlen, "%s: %s.behave: expected a string", s->path, where);
            return -1;
        }
        snprintf(line, sizeof line, "behave %d %s", ds->unit, b->valuestring);
        if (sim_cmd_parse(line, &cmd, cerr, sizeof cerr) < 0) {
            fail(err, errlen, "%s: %s.behave: \"%s\": %s", s->path, where, b->valuestring, cerr);
            return -1;
        }
        snprintf(ds->behave, sizeof ds->behave, "%s", b->valuestring);
    }
    return 0;
}

static int step_cmp(const void *a, const void *b)
{
    const struct sim_step *x = a, *y = b;
    return (x->at_s > y->at_s) - (x->at_s < y->at_s);
}

static int load_steps(struct sim_scenario *s, const cJSON *steps, char *err, size_t errlen)
{
    if (!steps)
        return 0;
    if (!cJSON_IsArray(steps)) {
        fail(err, errlen, "%s: steps: expected an array of {at_s, cmd}", s->path);
        return -1;
    }
    s->steps = calloc((size_t)cJSON_GetArraySize(steps) + 1, sizeof *s->steps);
    if (!s->steps) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    const cJSON *st;
    int i = 0;
    cJSON_ArrayForEach(st, steps) {
        struct sim_step *sp = &s->steps[i];
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(st, "cmd");
        struct sim_cmd cmd;
        char cerr[160];
        if (opt_number(st, "at_s", &sp->at_s) != 1 || !isfinite(sp->at_s) || sp->at_s < 0) {
            fail(err, errlen, "%s: steps[%d].at_s: expected a number of seconds >= 0", s->path, i);
            return -1;
        }
        if (!cJSON_IsString(c) || strlen(c->valuestring) >= SIM_CMD_MAX) {
            fail(err, errlen, "%s: steps[%d].cmd: expected a command string", s->path, i);
            return -1;
        }
        if (sim_cmd_parse(c->valuestring, &cmd, cerr, sizeof cerr) < 0) {
            fail(err, errlen, "%s: steps[%d].cmd: \"%s\": %s", s->path, i, c->valuestring, cerr);
            return -1;
        }
        if (cmd.kind != SIM_CMD_STATS && cmd.kind != SIM_CMD_QUIT) {
            const struct sim_device_spec *ds = NULL;
            for (int j = 0; j < s->ndevices; j++)
                if (s->devices[j].unit == cmd.unit)
                    ds = &s->devices[j];
            if (!ds) {
                fail(err, errlen, "%s: steps[%d].cmd: no device with unit %d", s->path, i,
                     cmd.unit);
                return -1;
            }
            if (cmd.kind == SIM_CMD_SET &&
                wire_point(ds->profile, cmd.point, "steps.cmd", s->path, err, errlen) < 0)
                return -1;
        }
        snprintf(sp->cmd, sizeof sp->cmd, "%s", c->valuestring);
        s->nsteps = ++i;
    }
    /* qsort is not stable; at_s ties must keep file order, so sort by (at_s, index). */
    for (int a = 1; a < s->nsteps; a++) {
        struct sim_step tmp = s->steps[a];
        int b = a - 1;
        while (b >= 0 && step_cmp(&s->steps[b], &tmp) > 0) {
            s->steps[b + 1] = s->steps[b];
            b--;
        }
        s->steps[b + 1] = tmp;
    }
    return 0;
}

int sim_scenario_load(const char *path, const char *const *extra_dirs, int nextra,
                      struct sim_scenario *out, char *err, size_t errlen)
{
    int rc = -1;
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", path);
    cJSON *root = read_json(path, err, errlen);
    if (!root)
        return -1;

    char base_dir[SIM_PATH_MAX];
    snprintf(base_dir, sizeof base_dir, "%s", path);
    char *slash = strrchr(base_dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(base_dir, sizeof base_dir, ".");

    const cJSON *dirs = cJSON_GetObjectItemCaseSensitive(root, "drivers_dirs");
    if (dirs && !cJSON_IsArray(dirs)) {
        fail(err, errlen, "%s: drivers_dirs: expected an array of directory names", path);
        goto out;
    }
    const cJSON *dj;
    int di = 0;
    cJSON_ArrayForEach(dj, dirs) {
        if (!cJSON_IsString(dj)) {
            fail(err, errlen, "%s: drivers_dirs[%d]: expected a string", path, di);
            goto out;
        }
        if (add_dir(out, base_dir, dj->valuestring, err, errlen) < 0)
            goto out;
        di++;
    }
    for (int i = 0; i < nextra; i++)
        if (add_dir(out, NULL, extra_dirs[i], err, errlen) < 0)
            goto out;

    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(root, "devices");
    if (!cJSON_IsArray(devs) || cJSON_GetArraySize(devs) == 0) {
        fail(err, errlen, "%s: devices: expected a non-empty array", path);
        goto out;
    }
    out->devices = calloc((size_t)cJSON_GetArraySize(devs), sizeof *out->devices);
    if (!out->devices) {
        fail(err, errlen, "out of memory");
        goto out;
    }
    const cJSON *dev;
    cJSON_ArrayForEach(dev, devs) {
        int i = out->ndevices++;
        if (load_device(out, dev, i, err, errlen) < 0)
            goto out;
    }
    if (load_steps(out, cJSON_GetObjectItemCaseSensitive(root, "steps"), err, errlen) < 0)
        goto out;
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc < 0)
        sim_scenario_free(out);
    return rc;
}

void sim_scenario_free(struct sim_scenario *s)
{
    for (int i = 0; i < s->ndevices; i++) {
        free(s->devices[i].values);
        free(s->devices[i].motions);
        free(s->devices[i].holes);
        free(s->devices[i].extras);
    }
    free(s->devices);
    free(s->steps);
    for (int i = 0; i < s->nprofiles; i++) {
        sim_profile_free(s->profiles[i]);
        free(s->profiles[i]);
    }
    memset(s, 0, sizeof *s);
}
