/* expr: rule expression compiler (precedence climbing to postfix code) and evaluator.
 * Invariant: compiled code is well formed — every instruction finds its operands on the stack,
 * the stack never exceeds EXPR_MAX_STACK, and every index it holds is in range for the profile
 * it was compiled against — so evaluation checks nothing and cannot fail. */
#include "expr.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "history.h"
#include "json_util.h"
#include "model.h"
#include "array.h"

enum op {
    OP_CONST,
    OP_POINT,
    OP_PARAM,
    OP_NEG,
    OP_NOT,
    OP_BNOT,
    OP_ABS,
    OP_KNOWN,
    OP_HOUR,
    OP_HOURAVG,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_EQ,
    OP_NE,
    OP_AND,
    OP_OR,
    OP_BAND,
    OP_BOR,
    OP_BXOR,
    OP_SHL,
    OP_SHR,
    OP_STALE,
    OP_RATE,
    OP_DELTA,
    OP_CHANGES,
    OP_MIN,
    OP_MAX,
    OP_AVG,
};

enum tok { T_END, T_NUM, T_IDENT, T_OP, T_LP, T_RP, T_COMMA, T_BAD };

/* Binary operators by level, loosest first. Comparisons do not chain. */
enum { L_OR, L_AND, L_CMP, L_BOR, L_BXOR, L_BAND, L_SHIFT, L_ADD, L_MUL, L_UNARY };

struct binop {
    const char *text;
    int level;
    enum op op;
};

static const struct binop binops[] = {
    {"||", L_OR, OP_OR},  {"or", L_OR, OP_OR},  {"&&", L_AND, OP_AND}, {"and", L_AND, OP_AND},  {"==", L_CMP, OP_EQ},
    {"!=", L_CMP, OP_NE}, {"<=", L_CMP, OP_LE}, {">=", L_CMP, OP_GE},  {"<<", L_SHIFT, OP_SHL}, {">>", L_SHIFT, OP_SHR},
    {"<", L_CMP, OP_LT},  {">", L_CMP, OP_GT},  {"|", L_BOR, OP_BOR},  {"^", L_BXOR, OP_BXOR},  {"&", L_BAND, OP_BAND},
    {"+", L_ADD, OP_ADD}, {"-", L_ADD, OP_SUB}, {"*", L_MUL, OP_MUL},  {"/", L_MUL, OP_DIV},    {"%", L_MUL, OP_MOD},
};

struct func {
    const char *name;
    enum op op;
    int nargs;      /* 1: f(point) or f(expr); 2: f(point, window seconds) */
    bool point_arg; /* first argument must be a point name */
};

static const struct func funcs[] = {
    {"abs", OP_ABS, 1, false},        {"known", OP_KNOWN, 1, false},     {"hour", OP_HOUR, 0, false},
    {"stale", OP_STALE, 1, true},     {"rate", OP_RATE, 2, true},        {"delta", OP_DELTA, 2, true},
    {"changes", OP_CHANGES, 2, true}, {"min", OP_MIN, 2, true},          {"max", OP_MAX, 2, true},
    {"avg", OP_AVG, 2, true},         {"hour_avg", OP_HOURAVG, 2, true},
};

#define OPS_NAMES "abs, known, hour, stale, rate, delta, changes, min, max, avg, hour_avg"

struct parser {
    const char *src;
    size_t len, pos;
    enum tok tok;
    size_t tstart, tlen; /* current token's span */
    double num;
    const struct binop *bop; /* current token as a binary operator, or NULL */
    const struct profile *p;
    bool const_only;
    struct expr *e;
    int depth;
    int maxdepth;
    int err_col;
    char *msg;
    size_t msgn;
    int nest;
};

static int column(const struct parser *ps, size_t at)
{
    int col = 1;
    for (size_t i = 0; i < at && i < ps->len; i++)
        if (((unsigned char)ps->src[i] & 0xC0) != 0x80)
            col++;
    return col;
}

static int fail_at(struct parser *ps, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(struct parser *ps, size_t at, const char *fmt, ...)
{
    if (ps->err_col)
        return -1;
    ps->err_col = column(ps, at);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->msg, ps->msgn, fmt, ap);
    va_end(ap);
    return -1;
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int lex_number(struct parser *ps)
{
    const char *s = ps->src;
    size_t i = ps->pos;
    char buf[64];
    if (s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        i += 2;
        size_t d = i;
        while (i < ps->len && is_hex(s[i]))
            i++;
        if (i == d || i - d > 13)
            return fail_at(ps, ps->pos, "bad hex number (expected 0x and 1 to 13 hex digits)");
        memcpy(buf, s + d, i - d);
        buf[i - d] = '\0';
        ps->num = (double)strtoull(buf, NULL, 16);
    } else {
        while (i < ps->len && is_digit(s[i]))
            i++;
        if (i < ps->len && s[i] == '.') {
            i++;
            while (i < ps->len && is_digit(s[i]))
                i++;
        }
        if (i < ps->len && (s[i] == 'e' || s[i] == 'E')) {
            size_t e = i + 1;
            if (e < ps->len && (s[e] == '+' || s[e] == '-'))
                e++;
            if (e < ps->len && is_digit(s[e])) {
                i = e;
                while (i < ps->len && is_digit(s[i]))
                    i++;
            }
        }
        if (i - ps->pos >= sizeof buf)
            return fail_at(ps, ps->pos, "number too long");
        memcpy(buf, s + ps->pos, i - ps->pos);
        buf[i - ps->pos] = '\0';
        ps->num = strtod(buf, NULL);
    }
    if (i < ps->len && is_ident_char(s[i]))
        return fail_at(ps, i, "unexpected \"%c\" after a number", s[i]);
    if (!isfinite(ps->num))
        return fail_at(ps, ps->pos, "number out of range");
    ps->tok = T_NUM;
    ps->tlen = i - ps->pos;
    ps->pos = i;
    return 0;
}

static const struct binop *find_binop(const char *s, size_t n)
{
    for (size_t k = 0; k < NELEM(binops); k++)
        if (strlen(binops[k].text) == n && memcmp(binops[k].text, s, n) == 0)
            return &binops[k];
    return NULL;
}

/* Reads the next token into ps; -1 on a character no token starts with. */
static int next(struct parser *ps)
{
    while (ps->pos < ps->len && (ps->src[ps->pos] == ' ' || ps->src[ps->pos] == '\t' || ps->src[ps->pos] == '\n' ||
                                 ps->src[ps->pos] == '\r'))
        ps->pos++;
    ps->tstart = ps->pos;
    ps->bop = NULL;
    ps->tlen = 0;
    if (ps->pos >= ps->len) {
        ps->tok = T_END;
        return 0;
    }
    const char *s = ps->src + ps->pos;
    char c = s[0];
    if (is_digit(c) || (c == '.' && ps->pos + 1 < ps->len && is_digit(s[1])))
        return lex_number(ps);
    if (is_ident_start(c)) {
        size_t n = 0;
        while (ps->pos + n < ps->len && (is_ident_char(s[n]) || s[n] == '.'))
            n++;
        ps->tok = T_IDENT;
        ps->tlen = n;
        ps->pos += n;
        ps->bop = find_binop(s, n); /* "and", "or" */
        if (ps->bop)
            ps->tok = T_OP;
        return 0;
    }
    ps->tlen = 1;
    switch (c) {
    case '(':
        ps->tok = T_LP;
        ps->pos++;
        return 0;
    case ')':
        ps->tok = T_RP;
        ps->pos++;
        return 0;
    case ',':
        ps->tok = T_COMMA;
        ps->pos++;
        return 0;
    default:
        break;
    }
    if (ps->pos + 1 < ps->len) {
        const struct binop *two = find_binop(s, 2);
        if (two) {
            ps->tok = T_OP;
            ps->bop = two;
            ps->tlen = 2;
            ps->pos += 2;
            return 0;
        }
    }
    if (c == '!' || c == '~' || c == '=') {
        if (c == '=')
            return fail_at(ps, ps->pos, "\"=\" is not an operator (expected \"==\" to compare)");
        ps->tok = T_OP;
        ps->pos++;
        return 0;
    }
    const struct binop *one = find_binop(s, 1);
    if (one) {
        ps->tok = T_OP;
        ps->bop = one;
        ps->pos++;
        return 0;
    }
    if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
        return fail_at(ps, ps->pos, "unexpected character (expected an operator, a number or a name)");
    return fail_at(ps, ps->pos, "unexpected \"%c\" (expected an operator, a number or a name)", c);
}

static bool tok_is(const struct parser *ps, const char *text)
{
    size_t n = strlen(text);
    return ps->tlen == n && memcmp(ps->src + ps->tstart, text, n) == 0;
}

static int emit(struct parser *ps, enum op op, int arg, int push)
{
    if (ps->e->ncode >= EXPR_MAX_CODE)
        return fail_at(ps, ps->tstart, "expression too long (at most %d operations)", EXPR_MAX_CODE);
    ps->e->code[ps->e->ncode++] = (struct expr_ins){(uint8_t)op, 0, (uint16_t)arg};
    ps->depth += push;
    if (ps->depth > ps->maxdepth)
        ps->maxdepth = ps->depth;
    if (ps->depth > EXPR_MAX_STACK)
        return fail_at(ps, ps->tstart, "expression nested too deeply");
    return 0;
}

static int emit_const(struct parser *ps, double v)
{
    for (int i = 0; i < ps->e->nconst; i++)
        if (ps->e->consts[i] == v)
            return emit(ps, OP_CONST, i, 1);
    if (ps->e->nconst >= EXPR_MAX_CONSTS)
        return fail_at(ps, ps->tstart, "too many numbers (at most %d different)", EXPR_MAX_CONSTS);
    ps->e->consts[ps->e->nconst] = v;
    return emit(ps, OP_CONST, ps->e->nconst++, 1);
}

static int parse_level(struct parser *ps, int level);

/* inputs.<name>: a value of another device, point npoints + its index (model.h). */
static int input_ref(struct parser *ps, const char *name, size_t at)
{
    const struct profile *p = ps->p;
    const char *names[MAX_INPUTS];
    for (int i = 0; i < p->ninputs; i++) {
        if (strcmp(p->inputs[i].name, name) == 0)
            return p->npoints + i;
        names[i] = p->inputs[i].name;
    }
    const char *near = json_suggest(name, names, (size_t)p->ninputs);
    if (near)
        return fail_at(ps, at, "unknown input \"inputs.%s\" (did you mean \"inputs.%s\"?)", name, near);
    return fail_at(ps, at, "unknown input \"inputs.%s\" (expected an input declared in the profile's \"inputs\")",
                   name);
}

static int point_ref(struct parser *ps, const char *name, size_t at)
{
    if (strncmp(name, "inputs.", 7) == 0)
        return input_ref(ps, name + 7, at);
    int k = profile_point_index(ps->p, name);
    if (k >= 0)
        return k;
    const char *names[MAX_POINTS];
    for (int i = 0; i < ps->p->npoints; i++)
        names[i] = ps->p->points[i].name;
    const char *near = json_suggest(name, names, (size_t)ps->p->npoints);
    if (near)
        return fail_at(ps, at, "unknown point \"%s\" (did you mean \"%s\"?)", name, near);
    return fail_at(ps, at, "unknown point \"%s\" (expected a point of the profile, or params.<name>)", name);
}

static int param_ref(struct parser *ps, const char *name, size_t at)
{
    for (int i = 0; i < ps->p->nparams; i++)
        if (strcmp(ps->p->params[i].name, name) == 0)
            return i;
    const char *names[MAX_PARAMS];
    for (int i = 0; i < ps->p->nparams; i++)
        names[i] = ps->p->params[i].name;
    const char *near = json_suggest(name, names, (size_t)ps->p->nparams);
    if (near)
        return fail_at(ps, at, "unknown param \"params.%s\" (did you mean \"params.%s\"?)", name, near);
    return fail_at(ps, at, "unknown param \"params.%s\" (expected a param declared in the profile's \"params\")", name);
}

static int expect(struct parser *ps, enum tok t, const char *what)
{
    if (ps->tok != t) {
        if (ps->tok == T_END)
            return fail_at(ps, ps->tstart, "unexpected end (expected %s)", what);
        return fail_at(ps, ps->tstart, "unexpected \"%.*s\" (expected %s)", (int)ps->tlen, ps->src + ps->tstart, what);
    }
    return next(ps);
}

/* The window argument: compiled like any expression, then moved out of the main code, since
 * it is evaluated once per device when rules are bound, not per poll. */
static int parse_window(struct parser *ps, int *wstart, int *wlen)
{
    size_t at = ps->tstart;
    int start = ps->e->ncode;
    if (parse_level(ps, L_OR))
        return -1;
    int n = ps->e->ncode - start;
    for (int i = start; i < ps->e->ncode; i++) {
        enum op op = (enum op)ps->e->code[i].op;
        if (op == OP_POINT || op >= OP_STALE)
            return fail_at(ps, at,
                           "a window must be seconds from numbers and params (not points or functions of "
                           "history)");
    }
    if (ps->e->nwcode + n > EXPR_MAX_WCODE)
        return fail_at(ps, at, "window expressions too long");
    memcpy(&ps->e->wcode[ps->e->nwcode], &ps->e->code[start], (size_t)n * sizeof ps->e->code[0]);
    *wstart = ps->e->nwcode;
    *wlen = n;
    ps->e->nwcode += n;
    ps->e->ncode = start;
    ps->depth--;
    return 0;
}

static int parse_call(struct parser *ps, const char *name, size_t at)
{
    const struct func *f = NULL;
    for (size_t k = 0; k < NELEM(funcs); k++)
        if (strcmp(funcs[k].name, name) == 0)
            f = &funcs[k];
    if (!f) {
        const char *names[NELEM(funcs)];
        for (size_t k = 0; k < NELEM(funcs); k++)
            names[k] = funcs[k].name;
        const char *near = json_suggest(name, names, NELEM(funcs));
        if (near)
            return fail_at(ps, at, "unknown function \"%s\" (did you mean \"%s\"?)", name, near);
        return fail_at(ps, at, "unknown function \"%s\" (expected one of " OPS_NAMES ")", name);
    }
    if (ps->const_only && f->point_arg)
        return fail_at(ps, at, "%s() here (expected numbers and params only)", name);
    if (next(ps))
        return -1; /* past "(" */
    if (!f->point_arg && f->nargs == 0) {
        if (ps->const_only)
            return fail_at(ps, at, "%s() here (expected numbers and params only)", name);
        if (expect(ps, T_RP, "\")\" (it takes no argument)"))
            return -1;
        ps->e->uses_stale = true; /* its value moves with the clock: re-evaluated every second */
        return emit(ps, f->op, 0, 1);
    }
    if (!f->point_arg) {
        if (parse_level(ps, L_OR) || expect(ps, T_RP, "\")\""))
            return -1;
        return emit(ps, f->op, 0, 0);
    }
    size_t pat = ps->tstart;
    if (ps->tok != T_IDENT)
        return fail_at(ps, pat, "%s() takes a point name first (e.g. %s(level%s))", name, name,
                       f->nargs == 2 ? ", 60" : "");
    char pname[NAME_MAX_LEN];
    if (ps->tlen >= sizeof pname ||
        (memchr(ps->src + ps->tstart, '.', ps->tlen) && (ps->tlen < 8 || memcmp(ps->src + ps->tstart, "inputs.", 7))))
        return fail_at(ps, pat, "%s() takes a point name first (or inputs.<name>)", name);
    memcpy(pname, ps->src + ps->tstart, ps->tlen);
    pname[ps->tlen] = '\0';
    int point = point_ref(ps, pname, pat);
    if (point < 0 || next(ps))
        return -1;
    if (f->nargs == 1) {
        if (expect(ps, T_RP, "\")\""))
            return -1;
        ps->e->uses_stale = true;
        ps->e->uses_points = true;
        if (ps->e->first_point < 0)
            ps->e->first_point = point;
        return emit(ps, f->op, point, 1);
    }
    if (expect(ps, T_COMMA, "\",\" and a window in seconds"))
        return -1;
    int ws = 0, wl = 0; /* set by parse_window whenever it succeeds */
    if (parse_window(ps, &ws, &wl) || expect(ps, T_RP, "\")\""))
        return -1;
    if (ps->e->nwin >= EXPR_MAX_WINDOWS)
        return fail_at(ps, at, "too many functions of history (at most %d)", EXPR_MAX_WINDOWS);
    ps->e->win[ps->e->nwin] = (struct expr_window){(uint16_t)point, (uint16_t)ws, (uint16_t)wl, f->op == OP_HOURAVG};
    ps->e->uses_points = true;
    if (ps->e->first_point < 0)
        ps->e->first_point = point;
    return emit(ps, f->op, ps->e->nwin++, 1);
}

static int parse_primary(struct parser *ps)
{
    size_t at = ps->tstart;
    if (ps->tok == T_NUM) {
        double v = ps->num;
        return emit_const(ps, v) || next(ps) ? -1 : 0;
    }
    if (ps->tok == T_LP) {
        if (++ps->nest > EXPR_MAX_STACK)
            return fail_at(ps, at, "parentheses nested too deeply");
        if (next(ps) || parse_level(ps, L_OR) || expect(ps, T_RP, "\")\""))
            return -1;
        ps->nest--;
        return 0;
    }
    if (ps->tok != T_IDENT) {
        if (ps->tok == T_END)
            return fail_at(ps, at, "unexpected end (expected a number, a name or \"(\")");
        return fail_at(ps, at, "unexpected \"%.*s\" (expected a number, a name or \"(\")", (int)ps->tlen,
                       ps->src + ps->tstart);
    }
    char name[NAME_MAX_LEN + 8];
    if (ps->tlen >= sizeof name)
        return fail_at(ps, at, "name too long");
    memcpy(name, ps->src + ps->tstart, ps->tlen);
    name[ps->tlen] = '\0';
    if (next(ps))
        return -1;
    if (ps->tok == T_LP)
        return parse_call(ps, name, at);
    if (strcmp(name, "true") == 0)
        return emit_const(ps, 1);
    if (strcmp(name, "false") == 0)
        return emit_const(ps, 0);
    if (strncmp(name, "params.", 7) == 0) {
        int k = param_ref(ps, name + 7, at);
        return k < 0 ? -1 : emit(ps, OP_PARAM, k, 1);
    }
    if (strchr(name, '.') && strncmp(name, "inputs.", 7) != 0)
        return fail_at(ps, at, "\"%s\" is not a name (expected a point, params.<name> or inputs.<name>)", name);
    if (ps->const_only)
        return fail_at(ps, at, "point \"%s\" here (expected numbers and params only)", name);
    int k = point_ref(ps, name, at);
    if (k < 0)
        return -1;
    ps->e->uses_points = true;
    if (ps->e->first_point < 0)
        ps->e->first_point = k;
    return emit(ps, OP_POINT, k, 1);
}

static int parse_unary(struct parser *ps)
{
    if (ps->tok == T_OP &&
        (tok_is(ps, "-") || tok_is(ps, "!") || tok_is(ps, "~") || tok_is(ps, "not") || tok_is(ps, "+"))) {
        enum op op = tok_is(ps, "-") ? OP_NEG : tok_is(ps, "~") ? OP_BNOT : tok_is(ps, "+") ? OP_CONST : OP_NOT;
        if (++ps->nest > EXPR_MAX_STACK)
            return fail_at(ps, ps->tstart, "expression nested too deeply");
        if (next(ps) || parse_unary(ps))
            return -1;
        ps->nest--;
        return op == OP_CONST ? 0 : emit(ps, op, 0, 0);
    }
    if (tok_is(ps, "not") && ps->tok == T_IDENT) {
        if (next(ps) || parse_unary(ps))
            return -1;
        return emit(ps, OP_NOT, 0, 0);
    }
    return parse_primary(ps);
}

static int parse_level(struct parser *ps, int level)
{
    if (level == L_UNARY)
        return parse_unary(ps);
    if (parse_level(ps, level + 1))
        return -1;
    while (ps->tok == T_OP && ps->bop && ps->bop->level == level) {
        const struct binop *b = ps->bop;
        if (next(ps) || parse_level(ps, level + 1) || emit(ps, b->op, 0, -1))
            return -1;
        if (level == L_CMP && ps->tok == T_OP && ps->bop && ps->bop->level == L_CMP)
            return fail_at(ps, ps->tstart, "comparisons do not chain (write a < b && b < c)");
    }
    return 0;
}

int expr_compile(const char *text, const struct profile *p, bool const_only, struct expr *out, int *col, char *msg,
                 size_t msgn)
{
    memset(out, 0, sizeof *out);
    out->first_point = -1;
    struct parser ps = {0};
    ps.src = text;
    ps.len = strlen(text);
    ps.p = p;
    ps.const_only = const_only;
    ps.e = out;
    ps.msg = msg;
    ps.msgn = msgn;
    if (msgn)
        msg[0] = '\0';
    *col = 0;
    if (ps.len > EXPR_MAX_TEXT) {
        *col = 1;
        snprintf(msg, msgn, "expression of %zu bytes (at most %d)", ps.len, EXPR_MAX_TEXT);
        return -1;
    }
    int rc = next(&ps);
    if (!rc && ps.tok == T_END)
        rc = fail_at(&ps, 0, "empty expression");
    if (!rc)
        rc = parse_level(&ps, L_OR);
    if (!rc && ps.tok != T_END)
        rc = fail_at(&ps, ps.tstart, "unexpected \"%.*s\" (expected an operator or the end)", (int)ps.tlen,
                     ps.src + ps.tstart);
    if (rc) {
        *col = ps.err_col ? ps.err_col : 1;
        return -1;
    }
    return 0;
}

/* Integer view of a value for bit operators: whole numbers up to 2^53 only. */
static bool to_int(double v, int64_t *out)
{
    if (!(v >= -9007199254740992.0 && v <= 9007199254740992.0))
        return false;
    *out = (int64_t)v;
    return true;
}

static double bitop(enum op op, double a, double b)
{
    int64_t x, y;
    if (!to_int(a, &x) || !to_int(b, &y))
        return NAN;
    switch (op) {
    case OP_BAND:
        return (double)(x & y);
    case OP_BOR:
        return (double)(x | y);
    case OP_BXOR:
        return (double)(x ^ y);
    case OP_SHL:
        if (y < 0 || y > 63)
            return NAN;
        return (double)(int64_t)((uint64_t)x << y);
    case OP_SHR:
        if (y < 0 || y > 63)
            return NAN;
        /* arithmetic shift spelled out: >> of a negative value is implementation-defined */
        return (double)(x >= 0 ? x >> y : ~(~x >> y));
    default:
        return NAN;
    }
}

static double cmp(enum op op, double a, double b)
{
    if (a != a || b != b)
        return NAN;
    switch (op) {
    case OP_LT:
        return a < b;
    case OP_LE:
        return a <= b;
    case OP_GT:
        return a > b;
    case OP_GE:
        return a >= b;
    case OP_EQ:
        return a == b;
    default:
        return a != b;
    }
}

static double run(const struct expr *e, const struct expr_ins *code, int n, const struct expr_env *env)
{
    double st[EXPR_MAX_STACK + 1];
    int sp = 0;
    for (int i = 0; i < n; i++) {
        const struct expr_ins *in = &code[i];
        double a, b;
        switch ((enum op)in->op) {
        case OP_CONST:
            st[sp++] = e->consts[in->arg];
            break;
        case OP_POINT:
            st[sp++] = env->values ? env->values[in->arg] : NAN;
            break;
        case OP_PARAM:
            st[sp++] = env->params ? env->params[in->arg] : NAN;
            break;
        case OP_NEG:
            st[sp - 1] = -st[sp - 1];
            break;
        case OP_NOT:
            a = st[sp - 1];
            st[sp - 1] = a != a ? NAN : (a == 0);
            break;
        case OP_BNOT: {
            int64_t x;
            st[sp - 1] = to_int(st[sp - 1], &x) ? (double)~x : NAN;
            break;
        }
        case OP_ABS:
            st[sp - 1] = fabs(st[sp - 1]);
            break;
        /* never unknown itself: lets a rule fall back when an input is not bound or not read */
        case OP_KNOWN:
            st[sp - 1] = st[sp - 1] == st[sp - 1] ? 1 : 0;
            break;
        case OP_HOUR: {
            /* the site's local time: the daemon runs in the site's zone (TZ set at start) */
            time_t secs = (time_t)(env->now_ms / 1000);
            struct tm tm;
            st[sp++] = localtime_r(&secs, &tm) ? tm.tm_hour + tm.tm_min / 60.0 : NAN;
            break;
        }
        case OP_STALE:
            st[sp++] = env->hist ? history_stale_s(env->hist, in->arg, env->now_ms) : NAN;
            break;
        case OP_RATE:
        case OP_DELTA:
        case OP_CHANGES:
        case OP_MIN:
        case OP_MAX:
        case OP_AVG:
        case OP_HOURAVG: {
            int s = env->series ? env->series[in->arg] : -1;
            double v = NAN;
            if (env->hist && s >= 0) {
                switch ((enum op)in->op) {
                case OP_RATE:
                    v = history_rate(env->hist, s, env->now_ms);
                    break;
                case OP_DELTA:
                    v = history_delta(env->hist, s, env->now_ms);
                    break;
                case OP_CHANGES:
                    v = history_changes(env->hist, s, env->now_ms);
                    break;
                case OP_MIN:
                    v = history_min(env->hist, s, env->now_ms);
                    break;
                case OP_MAX:
                    v = history_max(env->hist, s, env->now_ms);
                    break;
                case OP_HOURAVG:
                    v = history_hour_avg(env->hist, s, env->now_ms);
                    break;
                default:
                    v = history_avg(env->hist, s, env->now_ms);
                    break;
                }
            }
            st[sp++] = v;
            break;
        }
        default:
            b = st[--sp];
            a = st[sp - 1];
            switch ((enum op)in->op) {
            case OP_ADD:
                st[sp - 1] = a + b;
                break;
            case OP_SUB:
                st[sp - 1] = a - b;
                break;
            case OP_MUL:
                st[sp - 1] = a * b;
                break;
            case OP_DIV:
                st[sp - 1] = b == 0 ? NAN : a / b;
                break;
            case OP_MOD:
                st[sp - 1] = b == 0 ? NAN : fmod(a, b);
                break;
            case OP_AND:
                st[sp - 1] = (a == 0 || b == 0) ? 0 : (a != a || b != b) ? NAN : 1;
                break;
            case OP_OR:
                st[sp - 1] = ((a == a && a != 0) || (b == b && b != 0)) ? 1 : (a != a || b != b) ? NAN : 0;
                break;
            case OP_BAND:
            case OP_BOR:
            case OP_BXOR:
            case OP_SHL:
            case OP_SHR:
                st[sp - 1] = bitop((enum op)in->op, a, b);
                break;
            default:
                st[sp - 1] = cmp((enum op)in->op, a, b);
                break;
            }
            break;
        }
    }
    return sp == 1 ? st[0] : NAN;
}

double expr_eval(const struct expr *e, const struct expr_env *env)
{
    return run(e, e->code, e->ncode, env);
}

double expr_eval_const(const struct expr *e, const double *params)
{
    struct expr_env env = {NULL, params, NULL, NULL, 0};
    return run(e, e->code, e->ncode, &env);
}

int expr_windows(const struct expr *e, const double *params, int64_t *win_ms, int *bad)
{
    struct expr_env env = {NULL, params, NULL, NULL, 0};
    for (int k = 0; k < e->nwin; k++) {
        double s = run(e, &e->wcode[e->win[k].wstart], e->win[k].wlen, &env);
        if (!(s > 0 && s <= 31.0 * 86400)) {
            *bad = k;
            return -1;
        }
        win_ms[k] = (int64_t)llround(s * 1000.0);
        if (win_ms[k] < 1)
            win_ms[k] = 1;
    }
    return 0;
}
