/* log.c - the process log: stderr or syslog, text or JSON lines.
 *
 * log_setup() sets where lines go; log_msg() formats one line into a bounded
 * stack buffer (LOG_LINE_MAX, longer lines are cut) and writes it with one
 * write(2) or one syslog(3) call.  The state below is the process's single
 * log destination, like syslog's own; only log_setup() changes it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 4096

static struct {
    enum log_target target;
    enum log_level  level;
    enum log_format format;
    int             facility;
    const char     *ident;
    int             syslog_open;
} log_st = { LOG_T_STDERR, LOG_L_INFO, LOG_F_TEXT, LOG_MAIL, "outpost", 0 };

static const char *const log_names[] = { "debug", "info", "notice", "warning",
                                         "error" };
static const int log_prio[] = { LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARNING,
                                LOG_ERR };

void log_setup(enum log_target target, enum log_level level,
               enum log_format format, int facility, const char *ident)
{
    if (log_st.syslog_open && (target != LOG_T_SYSLOG
                               || facility != log_st.facility
                               || ident != log_st.ident)) {
        closelog();
        log_st.syslog_open = 0;
    }
    log_st.target = target;
    log_st.level = level;
    log_st.format = format;
    log_st.facility = facility;
    log_st.ident = ident;
    if (target == LOG_T_SYSLOG && !log_st.syslog_open) {
        openlog(ident, LOG_PID | LOG_NDELAY, facility);
        log_st.syslog_open = 1;
    }
}

void log_close(void)
{
    if (log_st.syslog_open)
        closelog();
    log_st.syslog_open = 0;
}

bool log_enabled(enum log_level level)
{
    return level >= log_st.level;
}

int log_level_parse(const char *name, enum log_level *out)
{
    for (size_t i = 0; i < sizeof log_names / sizeof log_names[0]; i++) {
        if (strcmp(name, log_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcmp(name, "warn") == 0) {
        *out = LOG_L_WARN;
        return 0;
    }
    if (strcmp(name, "err") == 0) {
        *out = LOG_L_ERR;
        return 0;
    }
    return -1;
}

/* JSON-escapes s into out[0..cap); returns bytes written (no NUL). */
static size_t log_json_str(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s != '\0' && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}

static void log_emit(enum log_level level, const char *msg)
{
    if (log_st.target == LOG_T_SYSLOG) {
        if (log_st.format == LOG_F_JSON) {
            char j[LOG_LINE_MAX + 64];
            size_t n = (size_t)snprintf(j, sizeof j, "{\"level\":\"%s\",\"msg\":\"",
                                        log_names[level]);
            n += log_json_str(j + n, sizeof j - n - 3, msg);
            memcpy(j + n, "\"}", 3);
            syslog(log_st.facility | log_prio[level], "%s", j);
        } else {
            syslog(log_st.facility | log_prio[level], "%s", msg);
        }
        return;
    }

    char line[LOG_LINE_MAX + 128];
    struct timespec ts;
    struct tm tm;
    char when[96];
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    if (log_st.format == LOG_F_JSON) {
        n = (size_t)snprintf(line, sizeof line,
                             "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"",
                             when, log_names[level]);
        n += log_json_str(line + n, sizeof line - n - 3, msg);
        memcpy(line + n, "\"}\n", 3);
        n += 3;
    } else {
        int w = snprintf(line, sizeof line, "%s %s[%ld]: %s: %s\n", when,
                         log_st.ident, (long)getpid(), log_names[level], msg);
        n = w < 0 ? 0 : (size_t)w;
        if (n >= sizeof line) {
            n = sizeof line - 1;
            line[n - 1] = '\n';
        }
    }
    int saved = errno;
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;                        /* nowhere left to report a failure */
    errno = saved;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_emit(level, msg);
}

void log_panic(const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_emit(LOG_L_ERR, msg);
    abort();
}

const char *log_esc(char out[LOG_ESC_SIZE], const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, cut = len > LOG_ESC_CUT ? LOG_ESC_CUT : len;

    out[o++] = '"';
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    if (cut < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

const char *log_escs(char out[LOG_ESC_SIZE], const char *s)
{
    return log_esc(out, s ? s : "", s ? strlen(s) : 0);
}
