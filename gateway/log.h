/* log: one sink on stderr with <N> priority prefixes (journald keeps the levels), and a
 * complain/release pair so a repeating failure is logged at growing intervals and its
 * recovery once. */
#ifndef CARETAKER_LOG_H
#define CARETAKER_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* syslog(3) priorities; named apart from <syslog.h> so both can be included. */
enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARNING = 4, LOG_LVL_NOTICE = 5, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

void log_set_level(enum log_level max_level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* A failure that may repeat every poll. The first occurrence is logged at once, then the
 * interval doubles up to an hour, and each logged line says how many were held back. */
struct complaint {
    int64_t next_ms;
    int64_t interval_ms;
    uint32_t held_back;
    bool active;
};

/* Returns true when the caller should log now; *held_back gets the count suppressed since
 * the last logged line. */
bool log_complain(struct complaint *c, int64_t now_ms, uint32_t *held_back);

/* Returns true once, on the first call after a complaint, so the recovery is logged once. */
bool log_release(struct complaint *c);

#endif
