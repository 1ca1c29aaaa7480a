/* daemon.c - the outpostd process context (see daemon.h).
 *
 * Signals arrive through uv_signal_t watchers, so their work runs in the
 * loop, never in a signal handler:
 *   SIGHUP   load the file again into a new config; if it is valid, swap
 *            it in (settings that need a restart are reported and keep
 *            their old values); if not, log why and keep the old one.
 *            Requests in flight keep a reference to the config they began
 *            with; new requests see the new one.
 *   SIGTERM  stop listening, remove the socket files, let pending requests
 *   SIGINT   be answered, close everything, and let uv_run() return. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "server.h"
#include "xalloc.h"

void daemon_log_setup(const struct config *cfg, bool foreground)
{
    log_setup(foreground ? LOG_T_STDERR : cfg->log.target, cfg->log.level,
              cfg->log.format, cfg->log.facility, "outpostd");
}

static void daemon_on_signal(uv_signal_t *h, int signum);

int daemon_init(struct daemon *d, struct config *cfg, const char *path,
                bool foreground, uid_t uid, gid_t gid)
{
    char err[512];

    memset(d, 0, sizeof *d);
    uv_loop_init(&d->loop);
    d->cfg = cfg;
    d->config_path = xstrdup(path);
    d->foreground = foreground;
    d->server = server_new(&d->loop, &d->cfg);
    /* Watch the signals before the socket accepts anyone: a SIGTERM or
     * SIGHUP sent as soon as the socket answers must not kill us. */
    uv_signal_init(&d->loop, &d->sig_hup);
    uv_signal_init(&d->loop, &d->sig_term);
    uv_signal_init(&d->loop, &d->sig_int);
    d->sig_hup.data = d->sig_term.data = d->sig_int.data = d;
    uv_signal_start(&d->sig_hup, daemon_on_signal, SIGHUP);
    uv_signal_start(&d->sig_term, daemon_on_signal, SIGTERM);
    uv_signal_start(&d->sig_int, daemon_on_signal, SIGINT);
    d->signals_open = true;
    if (server_listen(d->server, uid, gid, err, sizeof err) != 0) {
        log_err("%s", err);
        return -1;
    }
    return 0;
}

static bool daemon_strlist_eq(const struct strlist *a, const struct strlist *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

static bool daemon_str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void daemon_reload(struct daemon *d)
{
    struct config *next;
    char err[512];

    if (config_load(d->config_path, &next, err, sizeof err) != 0) {
        d->reload_failures++;
        log_err("reload refused, keeping the running configuration: %s", err);
        return;
    }
    /* Bound sockets and the process's user cannot change without a restart. */
    if (!daemon_strlist_eq(&next->listen, &d->cfg->listen)
        || next->socket.mode != d->cfg->socket.mode
        || !daemon_str_eq(next->socket.owner, d->cfg->socket.owner)
        || !daemon_str_eq(next->socket.group, d->cfg->socket.group))
        log_warn("reload: listen and socket.* changes take effect at restart");
    if (!daemon_str_eq(next->user, d->cfg->user) || !daemon_str_eq(next->group, d->cfg->group))
        log_warn("reload: user and group changes take effect at restart");

    struct config *old = d->cfg;
    d->cfg = next;
    config_unref(old);
    d->reloads++;
    daemon_log_setup(d->cfg, d->foreground);
    log_notice("configuration reloaded from %s (hash %s)", d->config_path, d->cfg->hash);
}

static void daemon_on_stopped(void *arg)
{
    struct daemon *d = arg;
    log_debug("all listeners and connections closed after %lu reload%s",
              d->reloads, d->reloads == 1 ? "" : "s");
}

static void daemon_stop(struct daemon *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    if (why != NULL)
        log_notice("%s, shutting down", why);
    server_stop(d->server, daemon_on_stopped, d);
    if (d->signals_open) {
        d->signals_open = false;
        uv_close((uv_handle_t *)&d->sig_hup, NULL);
        uv_close((uv_handle_t *)&d->sig_term, NULL);
        uv_close((uv_handle_t *)&d->sig_int, NULL);
    }
}

static void daemon_on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    if (signum == SIGHUP)
        daemon_reload(d);
    else
        daemon_stop(d, signum == SIGINT ? "received SIGINT" : "received SIGTERM");
}

int daemon_run(struct daemon *d)
{
    log_notice("outpostd " PACKAGE_VERSION " started (config %s, hash %s)",
               d->config_path, d->cfg->hash);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    log_notice("outpostd stopped");
    return 0;
}

int daemon_fini(struct daemon *d)
{
    int rc = 0;

    if (d->server != NULL && !d->stopping) {
        /* a failed start: close what was opened, run the close callbacks */
        daemon_stop(d, NULL);
        uv_run(&d->loop, UV_RUN_DEFAULT);
    }
    if (uv_loop_close(&d->loop) != 0) {
        log_err("event loop still has open handles at exit");
        rc = -1;
    }
    server_free(d->server);
    config_unref(d->cfg);
    free(d->config_path);
    memset(d, 0, sizeof *d);
    return rc;
}
