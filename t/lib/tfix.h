/* tfix.h - the fixture of the integration tests (t/integ, t/e2e): the
 * daemons and redis-servers a test starts, kept where Check's runner can
 * reap them, and the small helpers such tests share (clock, sleep, text
 * for failure messages, log tails, a clean stop).  Builds on tlib.h.
 *
 * Why: a failed assertion ends the test process at once (fork mode), so
 * its checked teardown never runs; Check SIGKILLs the test's process
 * group, but directories stay, and a process that left the group would
 * stay too.  So every struct tdaemon / struct tredis a test prepares or
 * starts is copied (tfix_track_*()) into memory shared with the runner,
 * and the runner's unchecked teardown (tfix_reap()) stops exactly those
 * PIDs (tdaemon_reap(), tredis_reap(): only a live outpostd or
 * redis-server) and removes their directories.  A passing test stops its
 * processes in the checked teardown (tfix_stop_all()).
 *
 * Use: the test file keeps its own arrays and registers them once from
 * main(); each test case gets the fixtures from tfix_add():
 *
 *     static struct tdaemon daemons[2];
 *     static struct tredis redises[1];
 *     ...
 *     tfix_init(daemons, 2, redises, 1);
 *     tfix_add(s, "name", test_name, TIMEOUT_S, NULL);
 *     return tfix_run(s);
 *
 * Processes of other kinds (a notifier, Postfix) go into tfix_extra(),
 * shared memory of the file's own, reaped by the file's hook. */
#ifndef OUTPOST_TFIX_H
#define OUTPOST_TFIX_H

#include <check.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "tlib.h"

/* ---- the fixture */

/* Registers the test process's own daemons and redis-servers (either
 * array may be NULL with a count of 0).  Call once, from main(). */
void tfix_init(struct tdaemon *daemons, int ndaemons, struct tredis *redises, int nredis);
/* Optional, from main() too: `size` bytes more of shared memory
 * (tfix_extra(), zeroed per test case), and the hook the runner calls on
 * it in tfix_reap() before the daemons and redis-servers are reaped. */
void tfix_init_extra(size_t size, void (*reap)(void *extra));
void *tfix_extra(void);

/* Unchecked fixture (runs in the runner): makes the shared copies, and
 * reaps from them (then frees them). */
void tfix_setup(void);
void tfix_reap(void);
/* Checked teardown (in the test process), also fine to call by hand: each
 * registered daemon tdaemon_cleanup(), each redis-server tredis_stop(),
 * then both they and their shared copies are cleared.  tfix_extra() is
 * left to the file. */
void tfix_stop_all(void);

/* Copies d (an element of the registered array) to its shared slot: after
 * tdaemon_prepare() (the directory), after a start (the PID), after a stop. */
void tfix_track_daemon(const struct tdaemon *d);
void tfix_track_redis(const struct tredis *r);
/* Tracks d, tdaemon_launch(d), tracks it again: for a prepared d. */
void tfix_launch(struct tdaemon *d);
/* tdaemon_prepare(d, listen_json, extra) + tfix_launch(d). */
void tfix_start_daemon(struct tdaemon *d, const char *listen_json, const char *extra);
/* tredis_start(r, args) + tfix_track_redis(r). */
void tfix_start_redis(struct tredis *r, const char *const *args);

/* A test case of its own named `name` holding test t: timeout_s, the
 * unchecked fixture above, and `stop` as the checked teardown (NULL:
 * tfix_stop_all; a file's own one calls tfix_stop_all() itself). */
void tfix_add(Suite *s, const char *name, const TTest *t, int timeout_s, void (*stop)(void));
/* Runs the suite (CK_ENV) and frees it; EXIT_SUCCESS if no test failed,
 * else EXIT_FAILURE. */
int tfix_run(Suite *s);

/* ---- helpers */

long tms_mono(void);                    /* CLOCK_MONOTONIC in ms */
void tsleep_ms(long ms);                /* nanosleep, resumed after EINTR */
/* After kill(pid, SIGSTOP), which the kernel delivers when pid next runs:
 * waits (timeout_ms at most) until pid is stopped; false if it is not. */
bool tproc_stopped(pid_t pid, int timeout_ms);

/* Text made visible for a failure message: \n \r \t escaped, other
 * control and non-ASCII bytes as \xNN, cut ("...") at about 2000 bytes;
 * NULL gives "".  Four rotating static buffers, so one message can show
 * four values. */
const char *tvis(const char *s);
const char *tvisn(const char *s, size_t n);     /* n bytes, NULs too */

/* The last `max` bytes (at most 3000) of the file at path, in a static
 * buffer (a failing assertion leaks nothing); "" if there is none. */
const char *tfile_tail(const char *path, size_t max);
/* Occurrences of needle in the file (its first MiB, as tfile_read()). */
int tfile_count(const char *path, const char *needle);
/* True if the file holds a sanitizer report (ASan, LSan, UBSan). */
bool tfile_has_sanitizer(const char *path);
/* The last 3000 bytes of d's log: tfile_tail(d->log, 3000). */
const char *tlog_tail(const struct tdaemon *d);
/* Waits (timeout_ms) for needle in d's log from *off on (*off then moves
 * past it); fails naming `what`, with the log's tail, otherwise. */
void texpect_log(const struct tdaemon *d, long *off, const char *needle, int timeout_ms,
                 const char *what);

/* SIGTERM (tdaemon_stop()), tracked again: want exit status 0 (under the
 * sanitizer build that also means no leak and no ASan/UBSan report). */
void texpect_clean_stop(struct tdaemon *d);
/* texpect_clean_stop(), and no sanitizer report in d's log either. */
void texpect_clean_stop_san(struct tdaemon *d);

/* The decision Function's name: NAME of the first line "#!lua name=NAME"
 * of $T_POLICY/decide.lua (outpostd calls the function named like its
 * library), in a static buffer; failure is a test failure. */
const char *tdecide_fn(void);

/* Runs $OUTPOSTCTL [-c cfg] a0 ARGS... (the rest NULL-terminated, at most
 * TCTL_ARGS_MAX in all) for at most 20 s; its stdout into out, stderr into
 * err (either may be NULL with a capacity of 0).  Returns the exit code;
 * a signal, a timeout or too many arguments is a test failure.  cfg NULL:
 * no -c. */
#define TCTL_ARGS_MAX 28
int tctl(char *out, size_t outcap, char *err, size_t errcap, const char *cfg,
         const char *a0, ...);
int tctl_v(char *out, size_t outcap, char *err, size_t errcap, const char *cfg,
           const char *a0, va_list ap);
/* got == want, else a failure naming what, with that run's out and err. */
void texpect_exit(int got, int want, const char *what, const char *out, const char *err);

/* tconnect_unix(d->sock); failure is a test failure. */
int txconnect(const struct tdaemon *d);

/* The port of d's metrics listener, from its log line "metrics on
 * http://127.0.0.1:PORT" (waited for 5 s; failure is a test failure). */
int tmetrics_port(const struct tdaemon *d);
/* One HTTP exchange with 127.0.0.1:port: req sent, the response read to
 * EOF (at most 128 KiB), returned in a static buffer. */
const char *thttp(int port, const char *req);

#endif
