/* fuzz_expr: the rule expression compiler on arbitrary text, and whatever it accepts evaluated
 * against values, params and history taken from the same input. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "history.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A profile with the names the shipped drivers use, so the fuzzer reaches past name lookup. */
static const struct profile *fuzz_profile(void)
{
    static struct profile p;
    static int ready;
    static const char *const points[] = {"level", "flow", "total", "door_open", "floor", "status", "fault_code",
                                         "running"};
    static const char *const params[] = {"high_m", "low_m", "max_flow", "window_s"};
    static const double defaults[] = {1.2, 0.1, 40.0, 60.0};
    if (!ready) {
        memset(&p, 0, sizeof p);
        snprintf(p.driver, sizeof p.driver, "fuzz/expr");
        for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
            snprintf(p.points[i].name, sizeof p.points[i].name, "%s", points[i]);
            p.points[i].table = TABLE_HOLDING;
            p.points[i].address = (uint16_t)i;
            p.points[i].type = VT_UINT16;
            p.points[i].bit = -1;
            p.points[i].scale = 1;
            p.points[i].decimals_from = -1;
        }
        p.npoints = (int)(sizeof points / sizeof points[0]);
        for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
            snprintf(p.params[i].name, sizeof p.params[i].name, "%s", params[i]);
            p.params[i].value = defaults[i];
        }
        p.nparams = (int)(sizeof params / sizeof params[0]);
        ready = 1;
    }
    return &p;
}

/* The bytes after the expression's terminating NUL feed values; zeros when they run out. */
static double take(const uint8_t **p, const uint8_t *end)
{
    int16_t raw = 0;
    if (end - *p >= 2) {
        raw = (int16_t)((*p)[0] << 8 | (*p)[1]);
        *p += 2;
    }
    return raw == INT16_MIN ? NAN : raw / 16.0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > EXPR_MAX_TEXT + 256)
        return 0;
    const struct profile *p = fuzz_profile();
    bool const_only = data[0] & 1;
    const uint8_t *text_start = data + 1, *end = data + size;
    const uint8_t *nul = memchr(text_start, 0, (size_t)(end - text_start));
    size_t tlen = nul ? (size_t)(nul - text_start) : (size_t)(end - text_start);
    char *text = malloc(tlen + 1);
    if (!text)
        return 0;
    memcpy(text, text_start, tlen);
    text[tlen] = '\0';
    const uint8_t *rest = nul ? nul + 1 : end;

    struct expr *e = malloc(sizeof *e);
    if (!e) {
        free(text);
        return 0;
    }
    int col = 0;
    char msg[256] = "";
    if (expr_compile(text, p, const_only, e, &col, msg, sizeof msg) < 0) {
        /* A refusal points inside the text (or just past its end) and says why. */
        if (col < 1 || (size_t)col > tlen + 1 || msg[0] == '\0')
            abort();
        goto out;
    }
    if (e->ncode < 1 || e->ncode > EXPR_MAX_CODE || e->nconst > EXPR_MAX_CONSTS || e->nwin > EXPR_MAX_WINDOWS ||
        e->nwcode > EXPR_MAX_WCODE || (const_only && (e->uses_points || e->nwin > 0)))
        abort();

    double params[MAX_PARAMS];
    for (int i = 0; i < p->nparams; i++)
        params[i] = take(&rest, end);
    (void)expr_eval_const(e, params);

    int64_t win_ms[EXPR_MAX_WINDOWS];
    int bad = -1;
    if (expr_windows(e, params, win_ms, &bad) < 0) {
        if (bad < 0 || bad >= e->nwin)
            abort();
        goto out;
    }
    struct history_spec specs[EXPR_MAX_WINDOWS];
    for (int k = 0; k < e->nwin; k++) {
        specs[k].point = e->win[k].point;
        specs[k].win_ms = win_ms[k];
        specs[k].daily = e->win[k].daily;
        if (e->win[k].point >= p->npoints || win_ms[k] < 1)
            abort();
    }
    struct history *h = history_new(p->npoints, specs, e->nwin, 0);
    if (!h)
        goto out;
    int series[EXPR_MAX_WINDOWS];
    for (int k = 0; k < e->nwin; k++) {
        series[k] = history_series_of(h, specs[k].point, specs[k].win_ms, specs[k].daily);
        if (series[k] < 0)
            abort();
    }
    /* A few polls: each records every point in history, then evaluates at that time. */
    double values[MAX_POINTS];
    int64_t now = 0;
    for (int poll = 0; poll < 4; poll++) {
        double step = take(&rest, end);
        now += 1 + (step == step ? (int64_t)fabs(step) * 1000 : 0);
        for (int i = 0; i < p->npoints; i++) {
            values[i] = take(&rest, end);
            if (values[i] == values[i])
                history_add(h, i, now, values[i]);
        }
        struct expr_env env = {values, params, h, series, now};
        (void)expr_truth(expr_eval(e, &env));
    }
    history_free(h);
out:
    free(e);
    free(text);
    return 0;
}
