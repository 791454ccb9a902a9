/* log: stderr sink with journald priority prefixes, and rate limiting of repeated failures. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static enum log_level max_level = LOG_LVL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(enum log_level level)
{
    max_level = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > max_level)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    /* One write per line under a lock, so lines of poller threads never interleave. */
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "<%d>%s\n", (int)level, line);
    pthread_mutex_unlock(&log_lock);
}

#define COMPLAIN_FIRST_MS 10000
#define COMPLAIN_MAX_MS 3600000

bool log_complain(struct complaint *c, int64_t now_ms, uint32_t *held_back)
{
    if (!c->active) {
        c->active = true;
        c->interval_ms = COMPLAIN_FIRST_MS;
        c->next_ms = now_ms + c->interval_ms;
        c->held_back = 0;
        *held_back = 0;
        return true;
    }
    if (now_ms < c->next_ms) {
        c->held_back++;
        return false;
    }
    *held_back = c->held_back;
    c->held_back = 0;
    c->interval_ms *= 2;
    if (c->interval_ms > COMPLAIN_MAX_MS)
        c->interval_ms = COMPLAIN_MAX_MS;
    c->next_ms = now_ms + c->interval_ms;
    return true;
}

bool log_release(struct complaint *c)
{
    if (!c->active)
        return false;
    c->active = false;
    c->held_back = 0;
    return true;
}
