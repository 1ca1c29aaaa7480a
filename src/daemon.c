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
#include "metrics.h"
#include "server.h"
#include "store.h"
#include "suspend.h"
#include "verdict.h"
#include "xalloc.h"

void daemon_log_setup(const struct config *cfg, bool foreground)
{
    log_setup(foreground ? LOG_T_STDERR : cfg->log.target, cfg->log.level,
              cfg->log.format, cfg->log.facility, "outpostd");
}

static void daemon_on_signal(uv_signal_t *h, int signum);

/* The metrics page: decision counters, then what other modules keep. */
static void daemon_page(void *arg, struct metrics_buf *b)
{
    struct daemon *d = arg;
    const struct store_stats *st = store_stats(d->store);

    metrics_render(&d->env.metrics, b);
    metrics_printf(b,
        "# HELP outpost_connections Open Postfix connections.\n"
        "# TYPE outpost_connections gauge\n"
        "outpost_connections %zu\n"
        "# HELP outpost_connections_refused_total Connections closed at once past "
        "max_connections.\n# TYPE outpost_connections_refused_total counter\n"
        "outpost_connections_refused_total %llu\n",
        server_connections(d->server), (unsigned long long)server_refused_total(d->server));
    metrics_printf(b,
        "# HELP outpost_redis_up 1 when the Redis link is ready.\n"
        "# TYPE outpost_redis_up gauge\noutpost_redis_up %d\n"
        "# HELP outpost_redis_state_lost 1 while the state marker is missing (SPEC 9).\n"
        "# TYPE outpost_redis_state_lost gauge\noutpost_redis_state_lost %d\n",
        store_ready(d->store) ? 1 : 0, store_state_lost(d->store) ? 1 : 0);
    metrics_printf(b,
        "# HELP outpost_redis_calls_total Script calls by outcome.\n"
        "# TYPE outpost_redis_calls_total counter\n"
        "outpost_redis_calls_total{outcome=\"sent\"} %llu\n"
        "outpost_redis_calls_total{outcome=\"replied\"} %llu\n"
        "outpost_redis_calls_total{outcome=\"timeout\"} %llu\n"
        "outpost_redis_calls_total{outcome=\"error\"} %llu\n"
        "outpost_redis_calls_total{outcome=\"refused\"} %llu\n"
        "outpost_redis_calls_total{outcome=\"noscript\"} %llu\n"
        "# HELP outpost_redis_batches_total FCALLs of the decision Function's batch "
        "form sent.\n# TYPE outpost_redis_batches_total counter\n"
        "outpost_redis_batches_total %llu\n"
        "# HELP outpost_redis_batched_calls_total Decision calls those batches carried.\n"
        "# TYPE outpost_redis_batched_calls_total counter\n"
        "outpost_redis_batched_calls_total %llu\n"
        "# HELP outpost_redis_connects_total Successful connects (with handshake).\n"
        "# TYPE outpost_redis_connects_total counter\noutpost_redis_connects_total %llu\n"
        "# HELP outpost_redis_disconnects_total Ready connections lost.\n"
        "# TYPE outpost_redis_disconnects_total counter\noutpost_redis_disconnects_total %llu\n",
        (unsigned long long)st->calls, (unsigned long long)st->replies,
        (unsigned long long)st->timeouts, (unsigned long long)st->errors,
        (unsigned long long)st->refused, (unsigned long long)st->resent,
        (unsigned long long)st->batches, (unsigned long long)st->batched,
        (unsigned long long)st->connects, (unsigned long long)st->disconnects);
    metrics_hist_render(b, "outpost_redis_seconds",
                        "Round-trip time of the script calls Redis answered.", &st->rtt);
    verdict_render(d->verdict, b);
    metrics_printf(b,
        "# HELP outpost_suspension_cache_entries Accounts in the last-known suspension "
        "cache.\n# TYPE outpost_suspension_cache_entries gauge\n"
        "outpost_suspension_cache_entries %zu\n"
        "# HELP outpost_config_info The loaded configuration.\n"
        "# TYPE outpost_config_info gauge\n"
        "outpost_config_info{hash=\"%s\"} 1\n",
        suspend_cache_count(d->cache), d->cfg->hash);
}

int daemon_init(struct daemon *d, struct config *cfg, const char *path,
                bool foreground, uid_t uid, gid_t gid)
{
    char err[512];

    memset(d, 0, sizeof *d);
    uv_loop_init(&d->loop);
    d->cfg = cfg;
    d->config_path = xstrdup(path);
    d->foreground = foreground;
    d->store = store_new(&d->loop, &d->cfg, STORE_ROLE_DECIDE);
    d->verdict = verdict_new(&d->loop, &d->cfg);
    d->cache = suspend_cache_new();
    d->env.loop = &d->loop;
    d->env.store = d->store;
    d->env.cache = d->cache;
    d->server = server_new(&d->loop, &d->cfg, &d->env);
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
    if (cfg->metrics_listen != NULL) {
        d->metrics_http = metrics_http_start(&d->loop, cfg->metrics_listen, daemon_page,
                                             d, err, sizeof err);
        if (d->metrics_http == NULL) {
            log_err("%s", err);
            return -1;
        }
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
        d->env.metrics.reload_failures++;
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
    if (!daemon_str_eq(next->metrics_listen, d->cfg->metrics_listen))
        log_warn("reload: metrics.listen changes take effect at restart");

    struct config *old = d->cfg;
    d->cfg = next;
    daemon_log_setup(d->cfg, d->foreground);
    store_reconfigure(d->store, old);
    verdict_reconfigure(d->verdict, old);
    config_unref(old);
    d->env.metrics.reloads++;
    log_notice("configuration reloaded from %s (hash %s)", d->config_path, d->cfg->hash);
}

/* Connections are drained (their requests answered, Redis included):
 * now the Redis link can go. */
static void daemon_on_stopped(void *arg)
{
    struct daemon *d = arg;
    log_debug("all listeners and connections closed after %lu reload%s",
              (unsigned long)d->env.metrics.reloads,
              d->env.metrics.reloads == 1 ? "" : "s");
    store_stop(d->store);
}

static void daemon_stop(struct daemon *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    if (why != NULL)
        log_notice("%s, shutting down", why);
    server_stop(d->server, daemon_on_stopped, d);
    verdict_stop(d->verdict);   /* unfinished verdicts stay pending: claimed later */
    metrics_http_stop(d->metrics_http);
    d->metrics_http = NULL;
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
    store_start(d->store);
    verdict_start(d->verdict);
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
    store_free(d->store);
    verdict_free(d->verdict);
    suspend_cache_free(d->cache);
    decision_env_fini(&d->env);
    config_unref(d->cfg);
    free(d->config_path);
    memset(d, 0, sizeof *d);
    return rc;
}
