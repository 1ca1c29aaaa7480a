/* tlib.h - helpers shared by the Check tests: temporary directories, files,
 * a real outpostd started and stopped by PID, and a policy client.
 *
 * Every test that starts something stops it: tdaemon_stop() sends SIGTERM
 * to the PID it started and waits for it (SIGKILL after 10 s).  Paths live
 * in a fresh mkdtemp() directory under /tmp (UNIX socket paths must stay
 * short), removed by tdir_remove(). */
#ifndef OUTPOST_TLIB_H
#define OUTPOST_TLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A fresh directory /tmp/opt.XXXXXX, mode 0755; out must hold 64 bytes. */
void tdir_make(char *out);
void tdir_remove(const char *dir);
void tfile_write(const char *path, const char *content);
/* Reads a whole file (at most 1 MiB) into a malloc'd string; NULL if absent. */
char *tfile_read(const char *path);

struct tdaemon {
    pid_t pid;
    char  dir[64];              /* the test's directory */
    char  sock[128];            /* dir/outpost.sock */
    char  cfg[128];             /* dir/outpost.json */
    char  log[128];             /* dir/outpostd.log (its stderr) */
    int   status;               /* exit status after tdaemon_stop() */
};

/* The JSON config text the harness writes: listen on d->sock, and when
 * run as root, user/group "nobody"/"nogroup" with the directory owned by
 * nobody; `extra` is spliced into the top-level object (may be "" or
 * start with a key: "\"max_connections\": 5,").  Returns malloc'd text. */
char *tdaemon_config(const struct tdaemon *d, const char *extra);
/* Makes d->dir, writes the config, starts $OUTPOSTD -f -c cfg with stderr
 * to d->log, waits until the socket accepts connections (5 s at most;
 * failure is a test failure). */
void tdaemon_start(struct tdaemon *d, const char *extra);
/* Rewrites the config file (for reload tests). */
void tdaemon_rewrite(const struct tdaemon *d, const char *extra);
/* SIGTERM, wait; returns the wait status; removes nothing. */
int tdaemon_stop(struct tdaemon *d);
/* Stop (if running) and remove the directory. */
void tdaemon_cleanup(struct tdaemon *d);
/* Waits until the log contains needle (5 s at most); true if it did. */
bool tdaemon_log_wait(const struct tdaemon *d, const char *needle);
/* VmRSS of the daemon in KiB. */
long tdaemon_rss_kb(const struct tdaemon *d);

/* Client side. */
int tconnect_unix(const char *path);            /* fd or -1 */
int tconnect_tcp(const char *host, int port);   /* fd or -1 */
/* Writes all of buf; false on error (EPIPE etc.). */
bool twrite_all(int fd, const char *buf, size_t len);
/* Reads until "\n\n" or EOF or timeout; returns bytes read (0 on EOF,
 * -1 on timeout/error); out is NUL-terminated. */
ssize_t tread_reply(int fd, char *out, size_t cap, int timeout_ms);
/* True if the peer closed (EOF or reset) within timeout_ms. */
bool tpeer_closed(int fd, int timeout_ms);
/* Sends "request=smtpd_access_policy\n" + attrs ("name=value\n"...) + "\n"
 * and returns the reply's action value in out ("" on failure). */
void tquery(int fd, const char *attrs, char *out, size_t cap);

/* Daemons a fork-mode test leaves behind.  A failed assertion ends the test
 * process at once, so its checked teardown never runs; Check then SIGKILLs
 * the test's process group, but the directory stays.  Copy each struct
 * tdaemon, once prepared and again once started, into tshared_alloc()
 * memory made by an unchecked setup (so the runner process sees what the
 * test wrote), and call tdaemon_reap() on the copies from the unchecked
 * teardown.  (Not the struct itself: tdaemon_start() does d->pid = fork(),
 * and the child's 0 would land in the shared copy too.) */
void *tshared_alloc(size_t size);               /* MAP_SHARED, zeroed */
void tshared_free(void *p, size_t size);
/* If d->pid is still a live outpostd: SIGTERM, SIGKILL after 5 s.  Then
 * removes d->dir and clears d. */
void tdaemon_reap(struct tdaemon *d);

/* Like tdaemon_config(), with the top-level "listen" given as JSON text
 * (an array: "[\"inet:127.0.0.1:0\"]"); NULL means tdaemon_config(). */
char *tdaemon_config_listen(const struct tdaemon *d, const char *listen_json,
                            const char *extra);
/* The first half of tdaemon_start(): fills d (directory, paths, owner as
 * tdaemon_start() does) and writes the config; starts nothing. */
void tdaemon_prepare(struct tdaemon *d, const char *listen_json, const char *extra);
/* The second half, for a prepared d: starts $OUTPOSTD -f -c d->cfg with
 * stderr to d->log and waits (5 s at most) until the log says the loop
 * runs ("outpostd VERSION started"), so listeners are up, privileges are
 * dropped and signals are handled.  Failure is a test failure. */
void tdaemon_launch(struct tdaemon *d);
/* tdaemon_prepare() + tdaemon_launch(): a daemon with custom listeners. */
void tdaemon_start_listen(struct tdaemon *d, const char *listen_json,
                          const char *extra);
/* Runs $OUTPOSTD -f -c d->cfg once more with stderr to logpath and waits
 * for it to exit (timeout_ms at most; then it is killed and -1 returned).
 * Returns the wait status.  d->pid is not touched. */
int tdaemon_run_wait(const struct tdaemon *d, const char *logpath, int timeout_ms);
/* A start that is expected to fail: tdaemon_prepare(d, NULL, extra); if
 * pre_existing is not NULL, a regular file with that content is put at
 * d->sock; then runs the daemon as tdaemon_run_wait(d, d->log, 10000).
 * Returns the wait status (-1: it did not exit and was killed). */
int tdaemon_run_fail(struct tdaemon *d, const char *extra, const char *pre_existing);

/* True if the file contains needle anywhere (files of any size). */
bool tfile_contains(const char *path, const char *needle);
/* Waits (timeout_ms at most) until the log, from byte *offset on, contains
 * needle; then sets *offset just past it and returns true.  For logs that
 * may grow past tfile_read()'s 1 MiB, and to find a line newer than one
 * seen before. */
bool tdaemon_log_wait_from(const struct tdaemon *d, long *offset,
                           const char *needle, int timeout_ms);
/* The last `max` bytes of the log, malloc'd (for failure messages). */
char *tdaemon_log_tail(const struct tdaemon *d, size_t max);
/* The same for any file ("" if it cannot be read). */
char *tfile_tail_dup(const char *path, size_t max);

/* Runs argv (argv[0] a path) with stdin from /dev/null, capturing stdout
 * and stderr (each cut at cap - 1 bytes and NUL-terminated; out or err may
 * be NULL to discard).  Kills it after timeout_ms.  Returns the wait
 * status, or -1 on timeout or when it cannot be started. */
int trun(char *const argv[], char *out, size_t outcap, char *err, size_t errcap,
         int timeout_ms);
/* "exit 3", "signal 9 (Killed)", "timeout": for got/want messages. */
const char *tstatus_str(int status, char *buf, size_t cap);

/* Copies $T_POLICY's Lua files into dir/policy (readable by the user the
 * daemon drops to); out gets that path. */
void tpolicy_copy(const char *dir, char *out, size_t cap);

/* A private redis-server: UNIX socket in its own directory, no TCP
 * (--port 0), no persistence (--save ''), stopped by PID. */
struct tredis {
    pid_t pid;
    char  dir[64];
    char  sock[128];            /* dir/redis.sock */
    char  log[128];
};
/* Starts redis-server (from $PATH, or $REDIS_SERVER) with the extra
 * arguments (NULL-terminated list, may be NULL), waits until PING answers
 * (5 s).  A missing redis-server is a test failure, never a skip. */
void tredis_start(struct tredis *r, const char *const *args);
void tredis_stop(struct tredis *r);     /* SIGTERM, wait; removes dir */
/* Runs redis-cli -s SOCK ARGS... (NULL-terminated); stdout into out
 * (trimmed); returns the exit status. */
int tredis_cli(const struct tredis *r, char *out, size_t cap, ...);

/* ---- more of the private redis-server (t/integ/check_store.c) */

/* The state letter of pid in /proc/PID/stat (R, S, T, Z, ...), or '\0'
 * when there is no such process. */
char tproc_state(pid_t pid);

/* Sends sig to the redis-server r started (SIGCONT first, so a stopped one
 * sees it), waits for it (SIGKILL after 5 s), clears r->pid; keeps r->dir
 * and r->sock, so that tredis_restart() can start a new one there.
 * Returns the wait status (-1: no process). */
int tredis_kill(struct tredis *r, int sig);
/* Starts a new redis-server, as tredis_start() with no extra arguments, on
 * the same directory, socket path and log as before (r->pid must be 0,
 * e.g. after tredis_kill()); waits until PING answers (5 s). */
void tredis_restart(struct tredis *r);
/* As tredis_restart() with extra arguments (NULL-terminated, may be NULL). */
void tredis_restart_args(struct tredis *r, const char *const *args);
/* For the unchecked teardown, on a shared copy (see tdaemon_reap()): if
 * r->pid is still a live redis-server, SIGCONT + SIGTERM, SIGKILL after
 * 5 s; then removes r->dir and clears r.  Signals no other PID. */
void tredis_reap(struct tredis *r);

/* ---- configs with classes of their own (t/integ/check_limits.c) */

/* tdaemon_config_listen(d, listen_json, extra) with the caller's
 * "default_class" (a class name) and "classes" (classes_json: the whole
 * JSON object, "{\"standard\": {\"limits\": [...]}}") instead of the
 * harness's "standard" / {"standard": {}}.  Returns malloc'd text. */
char *tdaemon_config_classes(const struct tdaemon *d, const char *listen_json,
                             const char *extra, const char *default_class,
                             const char *classes_json);
/* tdaemon_prepare(d, listen_json, extra), then the config file written
 * with tdaemon_config_classes(); starts nothing. */
void tdaemon_prepare_classes(struct tdaemon *d, const char *listen_json, const char *extra,
                             const char *default_class, const char *classes_json);

#endif
