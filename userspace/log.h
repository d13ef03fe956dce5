/* SPDX-License-Identifier: MIT */
/*
 * Logging hook.  The library never prints: it calls pr_warn/pr_info/pr_debug,
 * which go to the one function the binary installs with log_set_hook().  The
 * default hook writes one line per event to stderr:
 *
 *   1717171717.123 info  login ok user=alice observed=198.18.0.11:40000 session=3
 *
 * wall-clock seconds with milliseconds, the level padded to 5, then the
 * message: a short phrase followed by key=value fields (values without
 * spaces).  Control characters in a message become spaces, so an event is
 * always exactly one line.  Nothing the server does per packet logs above
 * LOG_DEBUG.
 */
#ifndef PINHOLE_LOG_H
#define PINHOLE_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_ERR = 0,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

typedef void (*log_hook_fn)(enum log_level level, const char *fmt, va_list ap);

/* Install @hook (NULL restores the default stderr hook). */
void log_set_hook(log_hook_fn hook);
/* Messages above @level are discarded before formatting. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error|warn|info|debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
/*
 * Set the level from its name, as a --log-level option gives it.  Returns 0,
 * or -EINVAL for a name log_level_parse() rejects (the level stays as it was).
 */
int log_set_level_str(const char *s);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define pr_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
