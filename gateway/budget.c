/* budget: a fixed-window counter. A window starts at the first event after the last one ran
 * out, so a quiet budget costs nothing and a flood gets max events per window_ms, no more. */
#include "budget.h"

bool budget_take(struct budget *b, int64_t now_ms, int64_t window_ms, uint32_t max, uint32_t *held)
{
    if (b->window_start == 0 || now_ms - b->window_start >= window_ms || now_ms < b->window_start) {
        b->window_start = now_ms ? now_ms : 1;
        b->used = 0;
    }
    if (b->used >= max) {
        b->held++;
        return false;
    }
    b->used++;
    if (held)
        *held = b->held;
    b->held = 0;
    return true;
}
