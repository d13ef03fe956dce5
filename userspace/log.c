// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const char *const level_names[] = {
	[LOG_ERR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

static void stderr_hook(enum log_level level, const char *fmt, va_list ap)
{
	struct timespec ts;
	char line[1024];

	clock_gettime(CLOCK_REALTIME, &ts);
	vsnprintf(line, sizeof(line), fmt, ap);
	/* One write per line so lines from several processes do not interleave. */
	fprintf(stderr, "%lld.%03ld %-5s %s\n", (long long)ts.tv_sec, ts.tv_nsec / 1000000,
		level_names[level], line);
}

static log_hook_fn hook = stderr_hook;
static enum log_level max_level = LOG_INFO;

void log_set_hook(log_hook_fn fn)
{
	hook = fn ? fn : stderr_hook;
}

void log_set_level(enum log_level level)
{
	max_level = level;
}

enum log_level log_get_level(void)
{
	return max_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(s, level_names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	hook(level, fmt, ap);
	va_end(ap);
}
