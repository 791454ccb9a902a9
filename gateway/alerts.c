/* alerts: names, contract matching and reading back the stored form of alerts (written by payload.c). */
#include "alerts.h"
#include "timebase.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const severity_names[] = {"critical", "major", "minor", "info"};
static const char *const event_names[] = {"raised", "escalated", "acknowledged", "cleared", "occurred"};

const char *alert_severity_name(enum severity s)
{
    return (unsigned)s < 4 ? severity_names[s] : "unknown";
}

int alert_severity_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, severity_names[i]) == 0)
            return i;
    return -1;
}

const char *alert_event_name(enum alert_event_kind k)
{
    return (unsigned)k < 5 ? event_names[k] : "unknown";
}

const struct contract *alert_contract_for(const struct config *cfg, const struct device *d)
{
    const struct contract *best = NULL;
    size_t best_score = 0;
    for (int i = 0; i < cfg->ncontracts; i++) {
        const struct contract *k = &cfg->contracts[i];
        for (int j = 0; j < k->ncovers; j++) {
            size_t s = contract_cover_score(k->covers[j], d);
            if (s > best_score) {
                best_score = s;
                best = k;
            }
        }
    }
    return best;
}

static int get_str(const cJSON *o, const char *key, char *out, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= n)
        return -1;
    snprintf(out, n, "%s", v->valuestring);
    return 0;
}

static int get_i64(const cJSON *o, const char *key, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNull(v)) {
        *out = 0;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < 9.0e15))
        return -1;
    *out = (int64_t)v->valuedouble;
    return 0;
}

int alert_from_json(const cJSON *o, struct alert *a)
{
    memset(a, 0, sizeof *a);
    char sev[16];
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "message");
    if (!cJSON_IsObject(o) || get_str(o, "id", a->id, sizeof a->id) ||
        get_str(o, "device", a->device, sizeof a->device) || get_str(o, "rule", a->rule, sizeof a->rule) ||
        get_str(o, "severity", sev, sizeof sev) || get_str(msg, "zh", a->message_zh, sizeof a->message_zh) ||
        get_str(msg, "en", a->message_en, sizeof a->message_en) || get_str(o, "point", a->point, sizeof a->point) ||
        get_str(o, "contract", a->contract, sizeof a->contract) ||
        get_str(o, "contractor", a->contractor, sizeof a->contractor) ||
        get_str(o, "acked_by", a->acked_by, sizeof a->acked_by) || get_i64(o, "raised_ts", &a->raised_ts) ||
        get_i64(o, "respond_by_ts", &a->respond_by_ts) || get_i64(o, "next_escalation_ts", &a->next_escalation_ts) ||
        get_i64(o, "acked_ts", &a->acked_ts) || get_i64(o, "cleared_ts", &a->cleared_ts))
        return -1;
    int s = alert_severity_parse(sev);
    if (s < 0)
        return -1;
    a->severity = (enum severity)s;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value");
    a->value = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    int64_t esc;
    if (get_i64(o, "escalation", &esc) || esc > 1000000)
        return -1;
    a->escalation = (int)esc;
    const cJSON *acked = cJSON_GetObjectItemCaseSensitive(o, "acked");
    const cJSON *flap = cJSON_GetObjectItemCaseSensitive(o, "flapping");
    if (!cJSON_IsBool(acked) || !cJSON_IsBool(flap))
        return -1;
    a->acked = cJSON_IsTrue(acked);
    a->flapping = cJSON_IsTrue(flap);
    return 0;
}

static bool move(int64_t *t, const struct timebase_step *st, bool whole)
{
    if (*t == 0 || !(whole || timebase_in_span(st, *t)))
        return false;
    *t += st->delta_ms;
    return st->delta_ms != 0;
}

bool alert_shift(struct alert *a, const struct timebase_step *st)
{
    bool whole = timebase_in_span(st, a->raised_ts);
    bool changed = move(&a->raised_ts, st, whole);
    changed |= move(&a->respond_by_ts, st, whole);
    changed |= move(&a->next_escalation_ts, st, whole);
    changed |= move(&a->acked_ts, st, whole);
    changed |= move(&a->cleared_ts, st, whole);
    return changed;
}
