/* log.h - levels, syslog or stderr, text or JSON lines, escaping.
 *
 * The process has one log destination, as syslog(3) itself has: its state
 * lives in log.c and is changed only by log_setup() (start and reload).
 * Every value that came from Postfix, Redis or a file goes through
 * log_esc() before it is logged, so no peer can forge or flood a line. */
#ifndef OUTPOST_LOG_H
#define OUTPOST_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_L_DEBUG, LOG_L_INFO, LOG_L_NOTICE, LOG_L_WARN, LOG_L_ERR };
enum log_target { LOG_T_STDERR, LOG_T_SYSLOG };
enum log_format { LOG_F_TEXT, LOG_F_JSON };

/* log_esc(): at most LOG_ESC_CUT input bytes, each at most 4 output bytes
 * ("\xHH"), plus quotes, "..." and NUL. */
#define LOG_ESC_CUT 128
#define LOG_ESC_SIZE (LOG_ESC_CUT * 4 + 8)

/* facility is a syslog LOG_* facility; ident is kept by pointer. */
void log_setup(enum log_target target, enum log_level level,
               enum log_format format, int facility, const char *ident);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_close(void);

/* Quote s[0..len) into out: controls, '"', '\\' and bytes >= 0x7f escaped,
 * cut after LOG_ESC_CUT bytes with "..." appended. Returns out. */
const char *log_esc(char out[LOG_ESC_SIZE], const char *s, size_t len);
/* The same for a C string; NULL logs as "". */
const char *log_escs(char out[LOG_ESC_SIZE], const char *s);

/* Level names: "debug", "info", "notice", "warning", "error". */
int log_level_parse(const char *name, enum log_level *out);

#define log_at(lvl, ...) \
    do { if (log_enabled(lvl)) log_msg(lvl, __VA_ARGS__); } while (0)
#define log_debug(...)  log_at(LOG_L_DEBUG, __VA_ARGS__)
#define log_info(...)   log_at(LOG_L_INFO, __VA_ARGS__)
#define log_notice(...) log_at(LOG_L_NOTICE, __VA_ARGS__)
#define log_warn(...)   log_at(LOG_L_WARN, __VA_ARGS__)
#define log_err(...)    log_at(LOG_L_ERR, __VA_ARGS__)

/* A broken invariant: log and abort. */
void log_panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
