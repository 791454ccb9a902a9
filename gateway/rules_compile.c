/* rules_compile: a profile's "rules" and "codes" checked and compiled at load into a rule_set;
 * every error names the profile, the rule and the column. Running them is rules.c. */
#include "rules_compile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"

static const char *const rule_keys[] = {"id",          "kind",        "when",     "clear",   "for_s",
                                        "clear_for_s", "for_samples", "severity", "message", "suppress",
                                        "doc",         "times",       "within_s"};
static const char *const kind_names[] = {"condition", "event"};
static const char *const severity_names[] = {"critical", "major", "minor", "info"};

static int compile_text(struct jctx *c, const struct profile *p, const cJSON *obj, const char *key, bool const_only,
                        bool required, struct expr *out, bool *present)
{
    const char *text;
    int rc = json_get_text(c, obj, key, required, &text);
    if (rc < 0)
        return -1;
    if (present)
        *present = rc == 1;
    if (rc == 0)
        return 0;
    int col;
    char msg[256];
    if (expr_compile(text, p, const_only, out, &col, msg, sizeof msg))
        return json_fail_key(c, key, "column %d: %s", col, msg);
    return 0;
}

static void default_params(const struct profile *p, double *params)
{
    for (int i = 0; i < p->nparams; i++)
        params[i] = p->params[i].value;
}

/* for_s and clear_for_s: a number, or a string of numbers and params ("params.trapped_s"). */
static int compile_duration(struct jctx *c, const struct profile *p, const cJSON *obj, const char *key,
                            struct expr *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char text[64];
    if (!v || cJSON_IsNumber(v)) {
        double s = v ? v->valuedouble : 0;
        if (!(s >= 0 && s <= RULES_MAX_DURATION_S))
            return json_fail_key(c, key, "%.15g (expected 0 to %.0f seconds)", s, RULES_MAX_DURATION_S);
        snprintf(text, sizeof text, "%.17g", s);
        int col;
        char msg[128];
        return expr_compile(text, p, true, out, &col, msg, sizeof msg) ? json_fail_key(c, key, "%s", msg) : 0;
    }
    if (!cJSON_IsString(v)) {
        size_t mark = json_enter_key(c, key);
        json_expect_type(c, v, cJSON_String, "seconds: a number, or params like \"params.trapped_s\"");
        json_leave(c, mark);
        return -1;
    }
    if (compile_text(c, p, obj, key, true, true, out, NULL))
        return -1;
    double params[MAX_PARAMS];
    default_params(p, params);
    double s = expr_eval_const(out, params);
    if (!(s >= 0 && s <= RULES_MAX_DURATION_S))
        return json_fail_key(c, key, "\"%s\" is %.15g with the profile's defaults (expected 0 to %.0f seconds)",
                             v->valuestring, s, RULES_MAX_DURATION_S);
    return 0;
}

/* A history window that is not positive with the profile's own defaults is a mistake of the
 * profile, caught at load rather than when a device is bound. */
static int check_windows(struct jctx *c, const struct profile *p, const char *key, const struct expr *e)
{
    double params[MAX_PARAMS];
    default_params(p, params);
    int64_t win[EXPR_MAX_WINDOWS];
    int bad;
    if (expr_windows(e, params, win, &bad))
        return json_fail_key(c, key,
                             "window of history function %d is not 0 < seconds <= %.0f with the profile's "
                             "defaults",
                             bad + 1, RULES_MAX_DURATION_S);
    return 0;
}

static const struct code_table *find_table(const struct rule_set *rs, const char *name)
{
    for (int i = 0; rs && i < rs->ntables; i++)
        if (strcmp(rs->tables[i].name, name) == 0)
            return &rs->tables[i];
    return NULL;
}

/* Placeholders of a message must name what exists: a point, params.x, or point.text with a code
 * table of the point's name. */
static int check_message(struct jctx *c, const struct profile *p, const struct rule_set *rs, const char *key,
                         const char *text)
{
    for (const char *s = text; (s = strchr(s, '{')) != NULL;) {
        const char *end = strchr(s, '}');
        if (!end)
            return json_fail_key(c, key, "\"{\" without \"}\" (expected {point}, {point.text} or {params.name})");
        char name[NAME_MAX_LEN + 16];
        size_t n = (size_t)(end - s - 1);
        if (n == 0 || n >= sizeof name)
            return json_fail_key(c, key,
                                 "empty or too long placeholder (expected {point}, {point.text} or "
                                 "{params.name})");
        memcpy(name, s + 1, n);
        name[n] = '\0';
        bool ok;
        if (strncmp(name, "params.", 7) == 0) {
            ok = false;
            for (int i = 0; i < p->nparams; i++)
                ok = ok || strcmp(p->params[i].name, name + 7) == 0;
        } else if (n > 5 && strcmp(name + n - 5, ".text") == 0) {
            name[n - 5] = '\0';
            ok = profile_point_index(p, name) >= 0 && find_table(rs, name) != NULL;
            if (profile_point_index(p, name) >= 0 && !ok)
                return json_fail_key(c, key, "{%s.text}: no code table \"%s\" in \"codes\"", name, name);
            name[n - 5] = '.';
        } else {
            ok = profile_point_index(p, name) >= 0;
        }
        if (!ok)
            return json_fail_key(c, key, "{%s} names no point or param of this profile", name);
        s = end + 1;
    }
    return 0;
}

static int compile_message(struct jctx *c, const struct profile *p, const struct rule_set *rs, const cJSON *obj,
                           struct rule_def *r)
{
    static const char *const msg_keys[] = {"zh", "en"};
    const cJSON *m;
    if (json_get_child(c, obj, "message", cJSON_Object, true, &m) < 0)
        return -1;
    size_t mark = json_enter_key(c, "message");
    if (json_check_keys(c, m, msg_keys, NELEM(msg_keys)) ||
        json_get_string(c, m, "zh", NULL, true, "the message in Chinese", r->message_zh, sizeof r->message_zh) < 0 ||
        json_get_string(c, m, "en", NULL, true, "the message in English", r->message_en, sizeof r->message_en) < 0 ||
        check_message(c, p, rs, "zh", r->message_zh) || check_message(c, p, rs, "en", r->message_en))
        return -1;
    json_leave(c, mark);
    return 0;
}

static int compile_rule(struct jctx *c, const struct profile *p, struct rule_set *rs, const cJSON *obj, int i)
{
    struct rule_def *r = &rs->rules[i];
    if (json_check_keys(c, obj, rule_keys, NELEM(rule_keys)) ||
        json_get_string(c, obj, "id", NULL, true, "a rule id", r->id, sizeof r->id) < 0)
        return -1;
    if (!(r->id[0] >= 'a' && r->id[0] <= 'z') || !json_name_ok(r->id, "_"))
        return json_fail_key(c, "id", "\"%s\" is not a valid id (expected a-z, 0-9 and _, starting with a letter)",
                             r->id);
    if (strcmp(r->id, RULES_COMM_LOST) == 0)
        return json_fail_key(c, "id", "\"%s\" is the built-in communication-lost rule (expected another id)", r->id);
    for (int k = 0; k < i; k++)
        if (strcmp(rs->rules[k].id, r->id) == 0)
            return json_fail_key(c, "id", "\"%s\" is already the id of rules[%d] (expected a unique id)", r->id, k);
    int kind, sev;
    if (json_get_enum(c, obj, "kind", kind_names, NELEM(kind_names), "kind", RULE_CONDITION, false, &kind) < 0 ||
        json_get_enum(c, obj, "severity", severity_names, NELEM(severity_names), "severity", 0, true, &sev) < 0)
        return -1;
    r->kind = (enum rule_kind)kind;
    r->severity = (enum severity)sev;
    if (compile_text(c, p, obj, "when", false, true, &r->when, NULL) || check_windows(c, p, "when", &r->when) ||
        compile_text(c, p, obj, "clear", false, false, &r->clear, &r->has_clear) ||
        check_windows(c, p, "clear", &r->clear) ||
        compile_text(c, p, obj, "suppress", false, false, &r->suppress, &r->has_suppress) ||
        check_windows(c, p, "suppress", &r->suppress))
        return -1;
    if (!r->when.uses_points)
        return json_fail_key(c, "when", "names no point (expected a condition on the device's data)");
    if (r->kind == RULE_EVENT) {
        static const char *const no_event[] = {"clear", "clear_for_s"};
        for (size_t k = 0; k < NELEM(no_event); k++)
            if (cJSON_GetObjectItemCaseSensitive(obj, no_event[k]))
                return json_fail_key(c, no_event[k], "not allowed on an event rule (it fires once and holds no alert)");
    }
    if (compile_duration(c, p, obj, "for_s", &r->for_s) || compile_duration(c, p, obj, "clear_for_s", &r->clear_for_s))
        return -1;
    if (json_get_int(c, obj, "for_samples", 1, 100, 1, false, &r->for_samples) < 0 ||
        json_get_int(c, obj, "times", 1, RULES_TIMES_MAX, 1, false, &r->times) < 0 ||
        compile_duration(c, p, obj, "within_s", &r->within_s))
        return -1;
    bool has_within = cJSON_GetObjectItemCaseSensitive(obj, "within_s") != NULL;
    if (r->times > 1 && !has_within)
        return json_fail_key(c, "within_s", "missing (expected the window in which the %d occurrences count)",
                             r->times);
    if (r->times == 1 && has_within)
        return json_fail_key(c, "within_s", "applies only with \"times\" above 1");
    const char *doc;
    if (json_get_text(c, obj, "doc", false, &doc) < 0)
        return -1;
    return compile_message(c, p, rs, obj, r);
}

static int read_codes(struct jctx *c, const cJSON *codes, struct rule_set *rs)
{
    int n = cJSON_GetArraySize(codes);
    rs->tables = calloc((size_t)(n ? n : 1), sizeof *rs->tables);
    if (!rs->tables)
        return json_fail_key(c, "codes", "out of memory");
    for (const cJSON *t = codes->child; t; t = t->next) {
        struct code_table *ct = &rs->tables[rs->ntables++];
        if (strlen(t->string) >= sizeof ct->name)
            return json_fail_key(c, "codes", "table name \"%.60s\" too long", t->string);
        snprintf(ct->name, sizeof ct->name, "%s", t->string);
        int m = cJSON_GetArraySize(t);
        ct->entries = calloc((size_t)(m ? m : 1), sizeof *ct->entries);
        if (!ct->entries)
            return json_fail_key(c, "codes", "out of memory");
        for (const cJSON *e = t->child; e; e = e->next) {
            /* shape (an integer key; a string, or an object of zh and en strings) was checked by
             * the profile loader */
            struct code_entry *ce = &ct->entries[ct->n++];
            ce->code = strtoll(e->string, NULL, 10);
            const cJSON *zh = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "zh") : e;
            const cJSON *en = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "en") : NULL;
            snprintf(ce->text, sizeof ce->text, "%s", cJSON_IsString(zh) ? zh->valuestring : "");
            snprintf(ce->text_en, sizeof ce->text_en, "%s", cJSON_IsString(en) ? en->valuestring : "");
        }
    }
    return 0;
}

int rules_compile(struct jctx *c, const struct profile *p, const cJSON *rules, const cJSON *codes,
                  struct rule_set **out)
{
    *out = NULL;
    struct rule_set *rs = calloc(1, sizeof *rs);
    if (!rs)
        return json_fail(c, "out of memory");
    if (codes && read_codes(c, codes, rs)) {
        rules_set_free(rs);
        return -1;
    }
    int n = rules ? cJSON_GetArraySize(rules) : 0;
    if (n > RULES_MAX) {
        rules_set_free(rs);
        return json_fail_key(c, "rules", "%d rules (expected at most %d)", n, RULES_MAX);
    }
    rs->rules = calloc((size_t)(n ? n : 1), sizeof *rs->rules);
    if (!rs->rules) {
        rules_set_free(rs);
        return json_fail_key(c, "rules", "out of memory");
    }
    size_t mark = json_enter_key(c, "rules");
    int i = 0;
    for (const cJSON *r = rules ? rules->child : NULL; r; r = r->next, i++) {
        size_t m2 = json_enter_index(c, i);
        if (compile_rule(c, p, rs, r, i)) {
            rules_set_free(rs);
            return -1;
        }
        rs->nrules = i + 1;
        json_leave(c, m2);
    }
    json_leave(c, mark);
    *out = rs;
    return 0;
}

void rules_set_free(struct rule_set *rs)
{
    if (!rs)
        return;
    for (int i = 0; i < rs->ntables; i++)
        free(rs->tables[i].entries);
    free(rs->tables);
    free(rs->rules);
    free(rs);
}

const char *rules_code_text(const struct rule_set *rs, const char *table, int64_t code, bool en)
{
    const struct code_table *t = find_table(rs, table);
    for (int i = 0; t && i < t->n; i++)
        if (t->entries[i].code == code)
            return en && t->entries[i].text_en[0] ? t->entries[i].text_en : t->entries[i].text;
    return NULL;
}
