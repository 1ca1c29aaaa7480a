/* daemon.h - the process context of outpostd: the one place that holds
 * mutable state shared by the modules (loop, current config, server).
 *
 * Life: daemon_init() (as root: loads nothing, binds the listeners of the
 * config it is given), then main.c drops privileges, then daemon_run()
 * installs the signal watchers and runs the loop until SIGTERM/SIGINT has
 * drained every connection; it returns the exit code. */
#ifndef OUTPOST_DAEMON_H
#define OUTPOST_DAEMON_H

#include <stdbool.h>
#include <sys/types.h>

#include <uv.h>

#include "decision.h"

struct config;
struct server;
struct store;
struct suspend_cache;
struct verdict;

struct daemon {
    uv_loop_t      loop;
    struct config *cfg;         /* the current config: one reference */
    char          *config_path; /* owned */
    bool           foreground;  /* -f: log to stderr whatever log.target says */
    struct server *server;      /* owned */
    struct store  *store;       /* owned; the Redis link */
    struct verdict *verdict;    /* owned; the verdict stream consumer */
    struct suspend_cache *cache;/* owned; last-known suspensions */
    struct decision_env env;    /* points at the three above */
    struct metrics_http *metrics_http; /* owned; NULL when metrics.listen is off */
    uv_signal_t    sig_hup, sig_term, sig_int;
    bool           signals_open;
    bool           stopping;
};

/* Takes over the reference cfg; binds.  0 or -1 (logged). */
int daemon_init(struct daemon *d, struct config *cfg, const char *path,
                bool foreground, uid_t uid, gid_t gid);
int daemon_run(struct daemon *d);
/* Releases everything; after daemon_run(), or after a failed daemon_init(). */
int daemon_fini(struct daemon *d);

/* Applies log.* of cfg (and -f). */
void daemon_log_setup(const struct config *cfg, bool foreground);

#endif
