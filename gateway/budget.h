/* budget: at most so many events per fixed window, counting the ones held back — for what a
 * stranger can cause at will and must not turn into unbounded log lines or messages. */
#ifndef CARETAKER_BUDGET_H
#define CARETAKER_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

struct budget {
    int64_t window_start; /* ms; 0 before the first event */
    uint32_t used;        /* events let through in this window */
    uint32_t held;        /* events held back since the last one let through */
};

/* True when one more event fits the window of window_ms that holds now_ms; then *held (if not
 * NULL) gets how many were held back since the previous event let through, and the count
 * starts again. False counts this event as held back. */
bool budget_take(struct budget *b, int64_t now_ms, int64_t window_ms, uint32_t max, uint32_t *held);

#endif
