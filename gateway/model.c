/* model: the small lookups over the shared data model (model.h) that several modules need. */
#include "model.h"

#include <string.h>

int profile_point_index(const struct profile *p, const char *name)
{
    for (int i = 0; i < p->npoints; i++)
        if (strcmp(p->points[i].name, name) == 0)
            return i;
    return -1;
}

const char *const reg_table_names[REG_TABLES_ON_WIRE] = {"coil", "discrete", "input", "holding"};

const char *reg_table_name(int table)
{
    return table >= 0 && table < REG_TABLES_ON_WIRE ? reg_table_names[table] : "derived";
}

const char *reg_table_words(int table, bool plural)
{
    static const char *const words[REG_TABLES_ON_WIRE][2] = {{"coil", "coils"},
                                                             {"discrete input", "discrete inputs"},
                                                             {"input register", "input registers"},
                                                             {"holding register", "holding registers"}};
    return table >= 0 && table < REG_TABLES_ON_WIRE ? words[table][plural]
           : plural                                 ? "derived points"
                                                    : "derived point";
}

size_t contract_cover_score(const char *cover, const struct device *d)
{
    if (strcmp(cover, d->id) == 0)
        return 1000;
    const char *kind = d->profile ? d->profile->kind : "";
    size_t n = strlen(cover);
    if (n && strncmp(kind, cover, n) == 0 && (kind[n] == '\0' || kind[n] == '.'))
        return n;
    return 0;
}

int device_param(const struct device *d, const char *name, double *value)
{
    for (int i = 0; i < d->nparams; i++) {
        if (strcmp(d->params[i].name, name) == 0) {
            *value = d->params[i].value;
            return 0;
        }
    }
    const struct profile *p = d->profile;
    for (int i = 0; p && i < p->nparams; i++) {
        if (strcmp(p->params[i].name, name) == 0) {
            *value = p->params[i].value;
            return 0;
        }
    }
    return -1;
}

void device_params(const struct device *d, double *out)
{
    const struct profile *p = d->profile;
    for (int i = 0; i < p->nparams; i++)
        device_param(d, p->params[i].name, &out[i]);
}

const struct bus_config *device_bus(const struct config *cfg, const struct device *d)
{
    for (int i = 0; i < cfg->nbuses; i++) {
        const struct bus_config *b = &cfg->buses[i];
        if (d >= b->devices && d < b->devices + b->ndevices)
            return b;
    }
    return NULL;
}
