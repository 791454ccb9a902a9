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
