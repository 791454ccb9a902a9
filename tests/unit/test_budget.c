/* test_budget: a budget of 3 events per 60 s window, fed at times worked out by hand. */
#include "budget.h"
#include "check.h"

struct step {
    int64_t now_ms;
    bool allowed;
    uint32_t held;  /* told with an event let through: how many were held back before it */
};

static const struct step steps[] = {
    {1000, true, 0},   /* the first event opens a window at 1000 */
    {1001, true, 0},   {1002, true, 0},
    {1003, false, 0},  /* the fourth in the window is held back */
    {30000, false, 0}, {60999, false, 0},
    {61000, true, 3},  /* a new window: let through, telling the three held back */
    {61001, true, 0},  {61002, true, 0}, {61003, false, 0},
    {500000, true, 1}, /* long quiet: a fresh window */
    {400000, true, 0}, /* a clock that went back starts a window too */
};

int main(void)
{
    struct budget b = {0};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        uint32_t held = 99;
        bool ok = budget_take(&b, steps[i].now_ms, 60000, 3, &held);
        CHECK_MSG(ok == steps[i].allowed, "step %zu at %lld ms: %s", i, (long long)steps[i].now_ms,
                  ok ? "let through" : "held back");
        if (ok)
            CHECK_MSG(held == steps[i].held, "step %zu: %u held told, expected %u", i, held, steps[i].held);
    }
    /* held may be NULL; a budget of 0 lets nothing through */
    struct budget none = {0};
    CHECK(!budget_take(&none, 5, 1000, 0, NULL) && none.held == 1);
    CHECK(budget_take(&b, 1000000, 60000, 3, NULL));
    return check_report();
}
