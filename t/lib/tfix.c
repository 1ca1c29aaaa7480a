/* tfix.c - the fixture of the integration tests (see tfix.h). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tfix.h"

/* What main() registered (inherited by every test process), and the
 * shared copies of the current test case (made in the runner). */
static struct {
    struct tdaemon *daemons;
    int             nd;
    struct tredis  *redises;
    int             nr;
    size_t          extra_size;
    void          (*extra_reap)(void *);
    struct tdaemon *sd;                 /* shared: nd copies */
    struct tredis  *sr;                 /* shared: nr copies */
    void           *extra;              /* shared: extra_size bytes */
} fx;

void tfix_init(struct tdaemon *daemons, int ndaemons, struct tredis *redises, int nredis)
{
    fx.daemons = daemons;
    fx.nd = daemons != NULL && ndaemons > 0 ? ndaemons : 0;
    fx.redises = redises;
    fx.nr = redises != NULL && nredis > 0 ? nredis : 0;
}

void tfix_init_extra(size_t size, void (*reap)(void *extra))
{
    fx.extra_size = size;
    fx.extra_reap = reap;
}

void *tfix_extra(void)
{
    return fx.extra;
}

void tfix_setup(void)                   /* unchecked: in the runner */
{
    if (fx.nd > 0)
        fx.sd = tshared_alloc((size_t)fx.nd * sizeof *fx.sd);
    if (fx.nr > 0)
        fx.sr = tshared_alloc((size_t)fx.nr * sizeof *fx.sr);
    if (fx.extra_size > 0)
        fx.extra = tshared_alloc(fx.extra_size);
}

void tfix_reap(void)                    /* unchecked: in the runner */
{
    if (fx.extra != NULL && fx.extra_reap != NULL)
        fx.extra_reap(fx.extra);
    for (int i = 0; fx.sd != NULL && i < fx.nd; i++)
        tdaemon_reap(&fx.sd[i]);
    for (int i = 0; fx.sr != NULL && i < fx.nr; i++)
        tredis_reap(&fx.sr[i]);
    tshared_free(fx.sd, (size_t)fx.nd * sizeof *fx.sd);
    tshared_free(fx.sr, (size_t)fx.nr * sizeof *fx.sr);
    tshared_free(fx.extra, fx.extra_size);
    fx.sd = NULL;
    fx.sr = NULL;
    fx.extra = NULL;
}

void tfix_stop_all(void)                /* checked: in the test process */
{
    for (int i = 0; i < fx.nd; i++) {
        tdaemon_cleanup(&fx.daemons[i]);
        memset(&fx.daemons[i], 0, sizeof fx.daemons[i]);
        if (fx.sd != NULL)
            memset(&fx.sd[i], 0, sizeof fx.sd[i]);
    }
    for (int i = 0; i < fx.nr; i++) {
        tredis_stop(&fx.redises[i]);
        memset(&fx.redises[i], 0, sizeof fx.redises[i]);
        if (fx.sr != NULL)
            memset(&fx.sr[i], 0, sizeof fx.sr[i]);
    }
}

void tfix_track_daemon(const struct tdaemon *d)
{
    ptrdiff_t i = fx.daemons != NULL ? d - fx.daemons : -1;
    ck_assert_msg(i >= 0 && i < fx.nd && fx.sd != NULL,
                  "tfix_track_daemon: not a registered daemon, or no tfix_setup()");
    fx.sd[i] = *d;
}

void tfix_track_redis(const struct tredis *r)
{
    ptrdiff_t i = fx.redises != NULL ? r - fx.redises : -1;
    ck_assert_msg(i >= 0 && i < fx.nr && fx.sr != NULL,
                  "tfix_track_redis: not a registered redis-server, or no tfix_setup()");
    fx.sr[i] = *r;
}

void tfix_launch(struct tdaemon *d)
{
    tfix_track_daemon(d);
    tdaemon_launch(d);
    tfix_track_daemon(d);
}

void tfix_start_daemon(struct tdaemon *d, const char *listen_json, const char *extra)
{
    tdaemon_prepare(d, listen_json, extra);
    tfix_launch(d);
}

void tfix_start_redis(struct tredis *r, const char *const *args)
{
    tredis_start(r, args);
    tfix_track_redis(r);
}

void tfix_add(Suite *s, const char *name, const TTest *t, int timeout_s, void (*stop)(void))
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout_s);
    tcase_add_unchecked_fixture(tc, tfix_setup, tfix_reap);
    tcase_add_checked_fixture(tc, NULL, stop != NULL ? stop : tfix_stop_all);
    tcase_add_test(tc, t);
    suite_add_tcase(s, tc);
}

int tfix_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- helpers */

long tms_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void tsleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

const char *tvisn(const char *s, size_t n)
{
    static char bufs[4][2000];
    static int next;
    char *o = bufs[next++ & 3];
    size_t i = 0, j = 0;
    for (; s != NULL && i < n && j + 8 < sizeof bufs[0]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            j += (size_t)sprintf(o + j, "\\n");
        else if (c == '\r')
            j += (size_t)sprintf(o + j, "\\r");
        else if (c == '\t')
            j += (size_t)sprintf(o + j, "\\t");
        else if (c < 0x20 || c >= 0x7f)
            j += (size_t)sprintf(o + j, "\\x%02x", c);
        else
            o[j++] = (char)c;
    }
    if (s != NULL && i < n)
        j += (size_t)sprintf(o + j, "...");
    o[j] = '\0';
    return o;
}

const char *tvis(const char *s)
{
    return tvisn(s, s != NULL ? strlen(s) : 0);
}

const char *tfile_tail(const char *path, size_t max)
{
    static char buf[3001];
    char *t = tfile_tail_dup(path, max < sizeof buf ? max : sizeof buf - 1);
    snprintf(buf, sizeof buf, "%s", t != NULL ? t : "");
    free(t);
    return buf;
}

const char *tdecide_fn(void)
{
    static char name[65];
    const char *dir = getenv("T_POLICY");
    char path[512];

    if (name[0] != '\0')
        return name;
    ck_assert_msg(dir != NULL, "T_POLICY is not set (run through make check)");
    snprintf(path, sizeof path, "%s/decide.lua", dir);
    char *text = tfile_read(path);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    int n = 0;
    int ok = sscanf(text, "#!lua name=%64[A-Za-z0-9_]%n", name, &n) == 1
             && (text[n] == '\n' || text[n] == '\0');
    free(text);
    ck_assert_msg(ok, "%s: the first line is not \"#!lua name=NAME\"", path);
    return name;
}

int tfile_count(const char *path, const char *needle)
{
    char *text = tfile_read(path);
    int n = 0;
    for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL;
         p += strlen(needle))
        n++;
    free(text);
    return n;
}

bool tfile_has_sanitizer(const char *path)
{
    return tfile_contains(path, "runtime error") || tfile_contains(path, "AddressSanitizer")
        || tfile_contains(path, "LeakSanitizer");
}

const char *tlog_tail(const struct tdaemon *d)
{
    return tfile_tail(d->log, 3000);
}

void texpect_log(const struct tdaemon *d, long *off, const char *needle, int timeout_ms,
                 const char *what)
{
    ck_assert_msg(tdaemon_log_wait_from(d, off, needle, timeout_ms),
                  "%s: want a log line containing \"%s\" within %d ms; log tail:\n%s",
                  what, needle, timeout_ms, tlog_tail(d));
}

void texpect_clean_stop(struct tdaemon *d)
{
    char s[64];
    int st = tdaemon_stop(d);
    tfix_track_daemon(d);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "outpostd after SIGTERM: got %s, want exit 0\n--- log ---\n%s",
                  tstatus_str(st, s, sizeof s), tlog_tail(d));
}

void texpect_clean_stop_san(struct tdaemon *d)
{
    texpect_clean_stop(d);
    ck_assert_msg(!tfile_has_sanitizer(d->log), "a sanitizer report in %s:\n%s", d->log,
                  tlog_tail(d));
}

int txconnect(const struct tdaemon *d)
{
    int fd = tconnect_unix(d->sock);
    ck_assert_msg(fd >= 0, "connect %s: %s", d->sock, strerror(errno));
    return fd;
}

int tmetrics_port(const struct tdaemon *d)
{
    long off = 0;
    const char *tag = "metrics on http://127.0.0.1:";
    ck_assert_msg(tdaemon_log_wait_from(d, &off, tag, 5000), "no metrics line in the log");
    char *log = tfile_read(d->log);
    const char *p = strstr(log, tag);
    int port = atoi(p + strlen(tag));
    free(log);
    ck_assert_int_gt(port, 0);
    return port;
}

const char *thttp(int port, const char *req)
{
    static char out[131072];
    int fd = tconnect_tcp("127.0.0.1", port);
    ck_assert_int_ge(fd, 0);
    ck_assert(twrite_all(fd, req, strlen(req)));
    size_t got = 0;
    ssize_t n;
    while (got + 1 < sizeof out && (n = read(fd, out + got, sizeof out - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(fd);
    return out;
}

/* ---- outpostctl */

int tctl_v(char *out, size_t outcap, char *err, size_t errcap, const char *cfg,
           const char *a0, va_list ap)
{
    const char *bin = getenv("OUTPOSTCTL");
    ck_assert_msg(bin != NULL, "OUTPOSTCTL is not set (run through make check)");
    char *argv[1 + 2 + TCTL_ARGS_MAX + 1];
    int n = 0;
    argv[n++] = (char *)bin;
    if (cfg != NULL) {
        argv[n++] = "-c";
        argv[n++] = (char *)cfg;
    }
    argv[n++] = (char *)a0;
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
        ck_assert_msg(n < 1 + 2 + TCTL_ARGS_MAX, "outpostctl %s: more than %d arguments",
                      a0, TCTL_ARGS_MAX);
        argv[n++] = (char *)a;
    }
    argv[n] = NULL;
    char s[64];
    int st = trun(argv, out, outcap, err, errcap, 20000);
    ck_assert_msg(st != -1 && WIFEXITED(st), "outpostctl %s ...: got %s, want an exit "
                  "code; stderr \"%s\"", a0, tstatus_str(st, s, sizeof s),
                  err != NULL ? err : "");
    return WEXITSTATUS(st);
}

int tctl(char *out, size_t outcap, char *err, size_t errcap, const char *cfg,
         const char *a0, ...)
{
    va_list ap;
    va_start(ap, a0);
    int rc = tctl_v(out, outcap, err, errcap, cfg, a0, ap);
    va_end(ap);
    return rc;
}

void texpect_exit(int got, int want, const char *what, const char *out, const char *err)
{
    ck_assert_msg(got == want, "%s: got exit %d, want %d\nstdout: %s\nstderr: %s", what,
                  got, want, out ? out : "", err ? err : "");
}

bool tproc_stopped(pid_t pid, int timeout_ms)
{
    long until = tms_mono() + timeout_ms;
    for (;;) {
        char st = tproc_state(pid);
        if (st == 'T' || st == 't')
            return true;
        if (st == '\0' || tms_mono() >= until)
            return false;
        tsleep_ms(2);
    }
}
