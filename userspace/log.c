// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *const level_names[] = {
	[LOG_ERR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

/*
 * "EPOCH.mmm LEVEL message\n" in one write(2), so lines from several
 * threads or processes sharing the file never interleave.  One event, one
 * line: a control character in the message (libbpf's multi-line output, a
 * stray newline in a peer-supplied string) becomes a space, and a trailing
 * newline is dropped.  Overlong messages are cut at the buffer's end.
 */
static void stderr_hook(enum log_level level, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	int head, n;
	size_t len;

	clock_gettime(CLOCK_REALTIME, &ts);
	head = snprintf(line, sizeof(line), "%lld.%03ld %-5s ", (long long)ts.tv_sec,
			ts.tv_nsec / 1000000, level_names[level]);
	if (head < 0 || (size_t)head >= sizeof(line))
		return;
	n = vsnprintf(line + head, sizeof(line) - (size_t)head, fmt, ap);
	if (n < 0)
		return;
	len = strlen(line);
	while (len > (size_t)head && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	for (size_t i = (size_t)head; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	line[len++] = '\n';
	/* Nothing sensible to do if stderr is gone. */
	if (write(STDERR_FILENO, line, len) < 0)
		return;
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

int log_set_level_str(const char *s)
{
	enum log_level level;
	int err;

	err = log_level_parse(s, &level);
	if (!err)
		log_set_level(level);
	return err;
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
