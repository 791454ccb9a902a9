/* expr: rule expressions over a device's points and params — compiled once to a small stack
 * bytecode, evaluated per poll with no allocation and no name lookup.
 *
 * Values are doubles; "unknown" is NaN. A point whose current sample is invalid or offline is
 * unknown, and unknown propagates: arithmetic and comparisons on it are unknown, `!unknown` is
 * unknown, `unknown && false` is false and `unknown || true` is true (three-valued logic). A
 * rule fires or clears only on a known result, so nothing is raised from data not yet read. */
#ifndef CARETAKER_EXPR_H
#define CARETAKER_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define EXPR_MAX_CODE 160 /* instructions of one expression */
#define EXPR_MAX_CONSTS 48
#define EXPR_MAX_WINDOWS 12 /* history function calls of one expression */
#define EXPR_MAX_WCODE 64   /* instructions of all window arguments together */
#define EXPR_MAX_STACK 32
#define EXPR_MAX_TEXT 1024

struct history;

/* One history function call: its point, and where its window argument's code sits in wcode.
 * The window is a constant of numbers and params, resolved per device (params differ). */
struct expr_window {
    uint16_t point;
    uint16_t wstart, wlen;
    uint8_t daily; /* hour_avg: served by a daily series */
};

struct expr_ins {
    uint8_t op;
    uint8_t pad;
    uint16_t arg; /* constant, point, param or window index, by op */
};

struct expr {
    int ncode, nconst, nwin, nwcode;
    struct expr_ins code[EXPR_MAX_CODE];
    double consts[EXPR_MAX_CONSTS];
    struct expr_window win[EXPR_MAX_WINDOWS];
    struct expr_ins wcode[EXPR_MAX_WCODE];
    bool uses_stale;  /* its value changes with time alone: re-evaluated on the clock tick */
    bool uses_points; /* false for a constant of numbers and params */
    int first_point;  /* the first point named, for an alert's "value"; -1 when none */
};

/* What an evaluation reads. values[i] is point i of the current sample (NaN when unknown);
 * params[i] is the device's effective value of profile param i; series[k] is the history
 * series (history_series) bound to window k of this expression. */
struct expr_env {
    const double *values;
    const double *params;
    const struct history *hist;
    const int *series;
    int64_t now_ms;
};

/* Compiles text against the profile's point and param names. const_only refuses points and
 * history functions (durations such as for_s). On error returns -1 with *col the 1-based
 * column (in characters) and msg what is wrong, e.g. `unknown point "door_opn" (did you mean
 * "door_open"?)`. */
int expr_compile(const char *text, const struct profile *p, bool const_only, struct expr *out, int *col, char *msg,
                 size_t msgn);

/* Evaluates; NaN when unknown. Pure: reads env only. */
double expr_eval(const struct expr *e, const struct expr_env *env);

/* A constant expression's value for these params (NaN when it needs what is unknown). */
double expr_eval_const(const struct expr *e, const double *params);

/* Resolves each history window of e to milliseconds for these params. Returns 0, or -1 when a
 * window is not a positive number of seconds (at most 31 days); *bad is then its index. */
int expr_windows(const struct expr *e, const double *params, int64_t *win_ms, int *bad);

/* Truth of an evaluated value: 1 true, 0 false, -1 unknown. */
static inline int expr_truth(double v)
{
    return v != v ? -1 : v != 0;
}

#endif
