/* test_expr: rule expressions — precedence and associativity, bit operators, unknown
 * propagation, history functions through the evaluator, and compile errors with their column. */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "expr.h"
#include "history.h"
#include "profile.h"

static struct profile prof;

/* Points by index: 0 a, 1 b, 2 status, 3 door_open, 4 level; then input 0, down_level, as 5. */
static const char profile_text[] =
    "{\"driver\":\"test/x\",\"kind\":\"test\","
    "\"params\":{\"high_m\":{\"default\":1.2},\"win_s\":{\"default\":10}},"
    "\"inputs\":{\"down_level\":{\"unit\":\"m\",\"doc\":\"the next manhole\"}},"
    "\"points\":["
    "{\"name\":\"a\",\"table\":\"holding\",\"address\":0,\"type\":\"int16\"},"
    "{\"name\":\"b\",\"table\":\"holding\",\"address\":1,\"type\":\"int16\"},"
    "{\"name\":\"status\",\"table\":\"holding\",\"address\":2,\"type\":\"uint16\"},"
    "{\"name\":\"door_open\",\"table\":\"holding\",\"address\":2,\"type\":\"bool\",\"bit\":0},"
    "{\"name\":\"level\",\"table\":\"holding\",\"address\":3,\"type\":\"float32\"}]}";

static double values[6];
static double params[2] = {1.2, 10};

static double eval_at(const char *text, const struct history *h, const int *series, int64_t now)
{
    static struct expr e;
    int col;
    char msg[256];
    if (expr_compile(text, &prof, false, &e, &col, msg, sizeof msg)) {
        fprintf(stderr, "compile failed: %s: column %d: %s\n", text, col, msg);
        check_failed++;
        return -12345;
    }
    struct expr_env env = {values, params, h, series, now};
    return expr_eval(&e, &env);
}

static double ev(const char *text)
{
    return eval_at(text, NULL, NULL, 0);
}

#define EQ(text, want) CHECK_MSG(ev(text) == (want), "%s = %.17g, expected %.17g", text, ev(text), (double)(want))
#define UNKNOWN(text) CHECK_MSG(isnan(ev(text)), "%s = %.17g, expected unknown", text, ev(text))

static void test_arithmetic_and_precedence(void)
{
    values[0] = 6; /* a */
    values[1] = 4; /* b */
    values[2] = 6; /* status = 0b110 */
    values[3] = 1;
    values[4] = 1.5;
    EQ("1 + 2 * 3", 7);
    EQ("(1 + 2) * 3", 9);
    EQ("10 - 4 - 3", 3);      /* left to right: (10-4)-3 */
    EQ("2 * 3 % 4", 2);       /* (2*3) % 4 = 6 % 4 */
    EQ("7 / 2", 3.5);
    EQ("-2 * 3", -6);
    EQ("- 3 - -2", -1);
    EQ("1.5e1 + .5", 15.5);
    EQ("a * b - a / b", 22.5); /* 24 - 1.5 */
    EQ("params.high_m * 2", 2.4);
    EQ("1 + 2 == 3 and 2 * 2 == 4", 1);
    EQ("1 < 2 && 3 < 2 || 1", 1);      /* (1<2 && 3<2) || 1 */
    EQ("0 || 1 && 0", 0);              /* 0 || (1 && 0) */
    EQ("not 0 and 1", 1);
    EQ("!1 == 0", 1);                  /* (!1) == 0 */
    EQ("a >= 6 && b != 4", 0);
    EQ("a <= 6 && b > 3.99", 1);
    EQ("true + true", 2);
    EQ("abs(b - a)", 2);
}

static void test_bit_operators(void)
{
    EQ("status & 4 == 4", 1);     /* & binds tighter than ==: (6 & 4) == 4 */
    EQ("status & 1", 0);
    EQ("1 | 2 ^ 3 & 1", 3);       /* 3&1 = 1; 2^1 = 3; 1|3 = 3 */
    EQ("3 ^ 5", 6);               /* 011 ^ 101 = 110 */
    EQ("1 << 4 >> 2", 4);         /* 16 >> 2 */
    EQ("~0 & 0xff", 255);
    EQ("0x10 + 1", 17);
    EQ("0xFFFF >> 12", 15);
    EQ("-8 >> 1", -4);            /* arithmetic shift: sign kept */
    EQ("status >> 1 & 3", 3);     /* shift first: 6>>1 = 3, 3&3 = 3 */
    UNKNOWN("1 << 64");
    UNKNOWN("1.5e300 & 1");       /* beyond 2^53: not an integer we can trust */
}

static void test_unknown_propagates(void)
{
    values[4] = NAN; /* level invalid in this sample */
    UNKNOWN("level > 1");
    UNKNOWN("!(level > 1)");
    UNKNOWN("level > 1 && 1");
    EQ("level > 1 && 0", 0);      /* false whatever level is */
    EQ("level > 1 || 1", 1);      /* true whatever level is */
    UNKNOWN("level > 1 || 0");
    UNKNOWN("level + 1 == 2");
    UNKNOWN("abs(level)");
    UNKNOWN("level & 1");
    UNKNOWN("1 / 0");
    UNKNOWN("5 % 0");
    UNKNOWN("level != level");
    values[4] = 1.5;
    EQ("level > 1", 1);
}

static void test_history_functions(void)
{
    /* Point a sampled once a second, value = seconds since t0 for 0..20 s. Window 10 s
     * (params.win_s). At t = 20 s: delta = a(20) - a(10) = 10; rate = 10 / 10 s = 1 /s;
     * min, max, avg over [10, 20] = 10, 20, 15; changes between neighbours inside [10, 20]:
     * 10->11 ... 19->20 = 10. stale(b): b last read at 3 s, so 17 s at 20 s. */
    const int64_t t0 = 1700000000000;
    struct history_spec spec = {0, 10000, 0};
    struct history *h = history_new(5, &spec, 1, t0);
    for (int t = 0; t <= 20; t++)
        history_add(h, 0, t0 + t * 1000, t);
    history_add(h, 1, t0 + 3000, 42);
    int series[EXPR_MAX_WINDOWS];
    for (int k = 0; k < EXPR_MAX_WINDOWS; k++)
        series[k] = 0;
    int64_t now = t0 + 20000;
    CHECK(eval_at("delta(a, params.win_s)", h, series, now) == 10);
    CHECK(eval_at("rate(a, 10)", h, series, now) == 1);
    CHECK(eval_at("min(a, 10) == 10 && max(a, 10) == 20 && avg(a, 10) == 15", h, series, now) == 1);
    CHECK(eval_at("changes(a, 10)", h, series, now) == 10);
    CHECK(eval_at("stale(b)", h, series, now) == 17);
    CHECK(eval_at("stale(level)", h, series, now) == 20); /* never read: since start */
    CHECK(eval_at("max(a, 10) - min(a, 10) < 0.5", h, series, now) == 0);
    /* two windows in one expression get their own series index */
    struct expr e;
    int col;
    char msg[128];
    CHECK(expr_compile("delta(a, 10) > 0 && rate(b, params.win_s * 6) > 0", &prof, false, &e, &col, msg,
                       sizeof msg) == 0);
    int64_t win[EXPR_MAX_WINDOWS];
    int bad = -1;
    CHECK(e.nwin == 2 && expr_windows(&e, params, win, &bad) == 0 && win[0] == 10000 && win[1] == 60000);
    CHECK(e.win[0].point == 0 && e.win[1].point == 1 && e.first_point == 0);
    double zero[2] = {1.2, 0};
    CHECK(expr_compile("delta(a, params.win_s)", &prof, false, &e, &col, msg, sizeof msg) == 0);
    CHECK(expr_windows(&e, zero, win, &bad) == -1 && bad == 0);
    history_free(h);
}

/* Compiles text expecting failure at column col with a message containing needle. */
static void expect_error(const char *text, bool const_only, int want_col, const char *needle)
{
    struct expr e;
    int col = -1;
    char msg[256] = "";
    int rc = expr_compile(text, &prof, const_only, &e, &col, msg, sizeof msg);
    CHECK_MSG(rc == -1, "%s: compiled, expected an error", text);
    CHECK_MSG(col == want_col, "%s: column %d, expected %d (%s)", text, col, want_col, msg);
    CHECK_MSG(strstr(msg, needle) != NULL, "%s: \"%s\" does not contain \"%s\"", text, msg, needle);
}

/* hour(): the local hour with minutes as a fraction. 1700000000 s is 2023-11-14 22:13:20 UTC,
 * 2023-11-15 06:13:20 in Shanghai (UTC+8, no summer time). */
static void test_hour(void)
{
    setenv("TZ", "UTC0", 1);
    tzset();
    CHECK(eval_at("hour() >= 22.2 && hour() < 22.25", NULL, NULL, 1700000000000) == 1);
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    CHECK(eval_at("hour() >= 6.2 && hour() < 6.25", NULL, NULL, 1700000000000) == 1);
    struct expr e;
    int col;
    char msg[128];
    CHECK(expr_compile("hour() > 8", &prof, false, &e, &col, msg, sizeof msg) == 0 && e.uses_stale);
}

/* inputs.<name> reads another device's value, placed after the points; it is unknown like a
 * point when not bound, and history functions take it. */
static void test_inputs(void)
{
    values[4] = 1.5;
    values[5] = 0.25;
    EQ("level - inputs.down_level", 1.25);
    EQ("level - inputs.down_level >= 1", 1);
    values[5] = NAN;
    UNKNOWN("level - inputs.down_level >= 1");
    EQ("a > 100 && inputs.down_level > 0", 0); /* unknown && false */
    /* known() is the one way to ask: it is never unknown itself */
    EQ("known(inputs.down_level)", 0);
    EQ("!known(inputs.down_level) || inputs.down_level > 1", 1);
    EQ("known(level) && known(level * 2)", 1);
    values[4] = values[5] = 0;
    struct expr e;
    int col;
    char msg[128];
    CHECK(expr_compile("rate(inputs.down_level, params.win_s) < 0", &prof, false, &e, &col, msg, sizeof msg) == 0);
    CHECK(e.nwin == 1 && e.win[0].point == 5 && e.first_point == 5);
    CHECK(expr_compile("inputs.down_level > 1", &prof, false, &e, &col, msg, sizeof msg) == 0);
    CHECK(e.code[0].arg == 5 && e.uses_points);
}

static void test_compile_errors(void)
{
    expect_error("door_opn && a", false, 1, "unknown point \"door_opn\" (did you mean \"door_open\"?)");
    expect_error("a > 1 && door_opn", false, 10, "did you mean \"door_open\"?");
    expect_error("a > params.hihg_m", false, 5, "unknown param \"params.hihg_m\" (did you mean \"params.high_m\"?)");
    expect_error("a > > 1", false, 5, "unexpected \">\"");
    expect_error("(a > 1", false, 7, "unexpected end (expected \")\")");
    expect_error("a = 1", false, 3, "\"=\" is not an operator");
    expect_error("1 < a < 2", false, 7, "comparisons do not chain");
    expect_error("rate(a)", false, 7, "expected \",\" and a window");
    expect_error("delta(a, b)", false, 10, "a window must be seconds from numbers and params");
    expect_error("delta(1, 10)", false, 7, "takes a point name first");
    expect_error("foo(a)", false, 1, "unknown function \"foo\"");
    expect_error("chnages(a, 5)", false, 1, "did you mean \"changes\"?");
    expect_error("a $ 1", false, 3, "unexpected \"$\"");
    expect_error("", false, 1, "empty expression");
    expect_error("a > inputs.down_lvl", false, 5, "unknown input \"inputs.down_lvl\" (did you mean \"inputs.down_level\"?)");
    expect_error("inputs.rain > 0", false, 1, "expected an input declared in the profile's \"inputs\"");
    expect_error("inputs.down_level", true, 1, "point \"inputs.down_level\" here (expected numbers and params only)");
    expect_error("delta(other.x, 10)", false, 7, "takes a point name first (or inputs.<name>)");
    expect_error("hour(3)", false, 6, "expected \")\" (it takes no argument)");
    expect_error("hour() > 3", true, 1, "hour() here (expected numbers and params only)");
    expect_error("a 1", false, 3, "unexpected \"1\" (expected an operator or the end)");
    expect_error("12abc", false, 3, "after a number");
    expect_error("a + 1", true, 1, "point \"a\" here (expected numbers and params only)");
    expect_error("stale(a) > 1", true, 1, "stale() here");
    /* columns count characters, not bytes: the two-byte "é" is one column */
    expect_error("1 + \xc3\xa9", false, 5, "unexpected character");
    struct expr e;
    int col;
    char msg[64];
    CHECK(expr_compile("params.high_m * 60", &prof, true, &e, &col, msg, sizeof msg) == 0);
    CHECK(expr_eval_const(&e, params) == 72);
    CHECK(!e.uses_points && !e.uses_stale);
}

int main(void)
{
    struct diag d;
    diag_clear(&d);
    if (profile_parse(profile_text, strlen(profile_text), "drivers/test/x.json", &prof, &d)) {
        fprintf(stderr, "%s\n", d.msg);
        return 1;
    }
    test_arithmetic_and_precedence();
    test_bit_operators();
    test_unknown_propagates();
    test_history_functions();
    test_inputs();
    test_hour();
    test_compile_errors();
    profile_release(&prof);
    return check_report();
}
