/* metrics.c - counters and the Prometheus endpoint (see metrics.h).
 *
 * HTTP: accept -> read the request head into a per-client buffer (at most
 * METRICS_REQ_MAX bytes, METRICS_TIMEOUT_MS) -> on the first blank line
 * build the whole response (page rendered by the daemon's callback) ->
 * write -> close.  Ownership: the server owns its listener and clients;
 * each client frees itself after both its handles closed; the server
 * frees itself when the listener and every client are closed. */
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "xalloc.h"

static const uint64_t metrics_bounds_us[METRICS_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
    500000, 1000000, 5000000,
};
static const char *const metrics_stages[METRICS_STAGES] = {
    "RCPT", "END-OF-MESSAGE", "DATA", "VRFY", "MAIL", "other" };

void metrics_decision(struct metrics *m, int stage, enum action a,
                      const char *rule, uint64_t us)
{
    size_t i;

    if (stage >= 0 && stage < METRICS_STAGES)
        m->requests[stage]++;
    if ((unsigned)a < 4)
        m->decisions[a]++;
    for (i = 0; i < m->nrules && strcmp(m->rules[i].rule, rule) != 0; i++)
        ;
    if (i == m->nrules && i < METRICS_RULES_MAX) {
        m->rules[i].rule = xstrdup(rule);
        m->nrules++;
    }
    if (i < m->nrules)
        m->rules[i].n++;
    metrics_hist_add(&m->latency, us);
}

void metrics_hist_add(struct metrics_hist *h, uint64_t us)
{
    size_t i;
    for (i = 0; i < METRICS_BUCKETS && us > metrics_bounds_us[i]; i++)
        ;
    h->b[i]++;
    h->count++;
    h->sum_us += us;
}

void metrics_hist_render(struct metrics_buf *b, const char *name, const char *help,
                         const struct metrics_hist *h)
{
    metrics_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < METRICS_BUCKETS; i++) {
        cum += h->b[i];
        metrics_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
                       (double)metrics_bounds_us[i] / 1e6, (unsigned long long)cum);
    }
    cum += h->b[METRICS_BUCKETS];
    metrics_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n",
                   name, (unsigned long long)cum, name, (double)h->sum_us / 1e6, name,
                   (unsigned long long)h->count);
}

void metrics_free(struct metrics *m)
{
    for (size_t i = 0; i < m->nrules; i++)
        free(m->rules[i].rule);
    m->nrules = 0;
}

void metrics_printf(struct metrics_buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = b->p ? vsnprintf(b->p + b->len, room, fmt, ap) : -1;
        va_end(ap);
        if (b->p != NULL && n >= 0 && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        if (b->cap >= METRICS_PAGE_MAX)
            return;                     /* the page is cut, never unbounded */
        b->cap = b->cap ? b->cap * 2 : 8192;
        if (b->cap > METRICS_PAGE_MAX)
            b->cap = METRICS_PAGE_MAX;
        b->p = xrealloc(b->p, b->cap);
    }
}

void metrics_render(const struct metrics *m, struct metrics_buf *b)
{
    metrics_printf(b, "# HELP outpost_requests_total Policy requests by protocol_state.\n"
                      "# TYPE outpost_requests_total counter\n");
    for (int i = 0; i < METRICS_STAGES; i++)
        metrics_printf(b, "outpost_requests_total{stage=\"%s\"} %llu\n", metrics_stages[i],
                       (unsigned long long)m->requests[i]);
    metrics_printf(b, "# HELP outpost_decisions_total Replies by action.\n"
                      "# TYPE outpost_decisions_total counter\n");
    for (int a = 0; a < 4; a++)
        metrics_printf(b, "outpost_decisions_total{action=\"%s\"} %llu\n",
                       config_action_name((enum action)a), (unsigned long long)m->decisions[a]);
    metrics_printf(b, "# HELP outpost_rule_decisions_total Replies by the rule that decided.\n"
                      "# TYPE outpost_rule_decisions_total counter\n");
    for (size_t i = 0; i < m->nrules; i++)
        metrics_printf(b, "outpost_rule_decisions_total{rule=\"%s\"} %llu\n", m->rules[i].rule,
                       (unsigned long long)m->rules[i].n);
    metrics_printf(b, "# HELP outpost_failure_actions_total Requests answered with "
                      "failure_action because Redis could not answer.\n"
                      "# TYPE outpost_failure_actions_total counter\n"
                      "outpost_failure_actions_total %llu\n",
                   (unsigned long long)m->failure_actions);
    metrics_printf(b, "# HELP outpost_protocol_errors_total Connections closed for bad input.\n"
                      "# TYPE outpost_protocol_errors_total counter\n"
                      "outpost_protocol_errors_total %llu\n"
                      "# HELP outpost_bad_requests_total Requests answered DUNNO unevaluated.\n"
                      "# TYPE outpost_bad_requests_total counter\n"
                      "outpost_bad_requests_total %llu\n",
                   (unsigned long long)m->protocol_errors, (unsigned long long)m->bad_requests);
    metrics_printf(b, "# HELP outpost_config_reloads_total Configuration reloads by result.\n"
                      "# TYPE outpost_config_reloads_total counter\n"
                      "outpost_config_reloads_total{result=\"ok\"} %llu\n"
                      "outpost_config_reloads_total{result=\"failed\"} %llu\n",
                   (unsigned long long)m->reloads, (unsigned long long)m->reload_failures);
    metrics_hist_render(b, "outpost_decision_seconds",
                        "Time from a request's last byte to its reply.", &m->latency);
}

/* ---- the HTTP/1.0 responder ------------------------------------------- */

struct metrics_http {
    uv_tcp_t          listener;
    uv_loop_t        *loop;
    metrics_page_fn  *page;
    void             *arg;
    int               clients;      /* open clients */
    int               handles;      /* listener + clients' handles open */
    int               stopping;
    struct metrics_client *head;
};

struct metrics_client {
    uv_tcp_t              tcp;
    uv_timer_t            timer;
    uv_write_t            wreq;
    struct metrics_http  *h;
    struct metrics_client *next, *prev;
    char                 *out;      /* owned response */
    size_t                len;
    int                   handles;
    int                   closing;
    int                   answered;
    size_t                inlen;    /* bytes of the request head in in[] */
    char                  in[METRICS_REQ_MAX + 1];
};

static void metrics_http_maybe_free(struct metrics_http *h)
{
    if (h->stopping && h->handles == 0)
        free(h);
}

static void metrics_client_closed(uv_handle_t *hd)
{
    struct metrics_client *c = hd->data;
    struct metrics_http *h = c->h;
    if (--c->handles > 0)
        return;
    free(c->out);
    free(c);
    h->handles--;
    metrics_http_maybe_free(h);
}

static void metrics_client_close(struct metrics_client *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->h->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->h->clients--;
    uv_close((uv_handle_t *)&c->tcp, metrics_client_closed);
    uv_close((uv_handle_t *)&c->timer, metrics_client_closed);
}

static void metrics_on_timeout(uv_timer_t *t)
{
    metrics_client_close(t->data);
}

static void metrics_on_written(uv_write_t *w, int status)
{
    (void)status;
    metrics_client_close(w->data);
}

static void metrics_respond(struct metrics_client *c, int ok)
{
    struct metrics_buf body = { 0 }, all = { 0 };

    c->answered = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (ok)
        c->h->page(c->h->arg, &body);
    else
        metrics_printf(&body, "not found\n");
    metrics_printf(&all, "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\n\r\n",
                   ok ? "200 OK" : "404 Not Found",
                   ok ? "text/plain; version=0.0.4" : "text/plain", body.len);
    if (body.len > 0) {
        size_t need = all.len + body.len;
        all.p = xrealloc(all.p, need);
        memcpy(all.p + all.len, body.p, body.len);
        all.len = need;
    }
    free(body.p);
    c->out = all.p;
    c->len = all.len;
    uv_buf_t b = uv_buf_init(c->out, (unsigned)c->len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, metrics_on_written) != 0)
        metrics_client_close(c);
}

static void metrics_alloc(uv_handle_t *hd, size_t sz, uv_buf_t *buf)
{
    struct metrics_client *c = hd->data;
    (void)sz;
    buf->base = c->in + c->inlen;
    buf->len = METRICS_REQ_MAX - c->inlen;
}

static void metrics_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct metrics_client *c = s->data;
    (void)buf;
    if (n < 0) {
        metrics_client_close(c);
        return;
    }
    if (c->answered)
        return;
    if (memchr(c->in + c->inlen, '\0', (size_t)n) != NULL) {  /* NUL: bad request */
        metrics_respond(c, 0);
        return;
    }
    c->inlen += (size_t)n;
    c->in[c->inlen] = '\0';
    if (strstr(c->in, "\r\n\r\n") == NULL && strstr(c->in, "\n\n") == NULL) {
        if (c->inlen >= METRICS_REQ_MAX)
            metrics_client_close(c);            /* head too large: cut off */
        return;
    }
    metrics_respond(c, strncmp(c->in, "GET /metrics ", 13) == 0
                       || strncmp(c->in, "GET /metrics\r", 13) == 0);
}

static void metrics_on_connection(uv_stream_t *ls, int status)
{
    struct metrics_http *h = ls->data;
    if (status < 0)
        return;
    struct metrics_client *c = xcalloc(1, sizeof *c);
    c->h = h;
    uv_tcp_init(h->loop, &c->tcp);
    uv_timer_init(h->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    h->handles++;
    c->next = h->head;
    if (h->head)
        h->head->prev = c;
    h->head = c;
    h->clients++;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0 || h->clients > METRICS_CONNS_MAX) {
        metrics_client_close(c);
        return;
    }
    uv_timer_start(&c->timer, metrics_on_timeout, METRICS_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&c->tcp, metrics_alloc, metrics_on_read);
}

static void metrics_listener_closed(uv_handle_t *hd)
{
    struct metrics_http *h = hd->data;
    h->handles--;
    metrics_http_maybe_free(h);
}

struct metrics_http *metrics_http_start(uv_loop_t *loop, const char *hostport,
                                        metrics_page_fn *page, void *arg,
                                        char *err, size_t errlen)
{
    char host[256];
    const char *port;
    struct addrinfo hints, *res = NULL;

    if (config_split_hostport(hostport, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "metrics.listen %s: not HOST:PORT", hostport);
        return NULL;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);     /* start-up only */
    if (rc != 0) {
        snprintf(err, errlen, "metrics.listen %s: %s", hostport, gai_strerror(rc));
        return NULL;
    }
    struct metrics_http *h = xcalloc(1, sizeof *h);
    h->loop = loop;
    h->page = page;
    h->arg = arg;
    uv_tcp_init(loop, &h->listener);
    h->listener.data = h;
    h->handles = 1;
    rc = uv_tcp_bind(&h->listener, res->ai_addr, 0);
    freeaddrinfo(res);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&h->listener, 64, metrics_on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "metrics.listen %s: %s", hostport, uv_strerror(rc));
        metrics_http_stop(h);
        return NULL;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char name[64] = "?";
    if (uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, name, sizeof name);
        else
            uv_ip4_name((struct sockaddr_in *)&ss, name, sizeof name);
        log_notice("metrics on http://%s%s%s:%d/metrics", ss.ss_family == AF_INET6 ? "[" : "",
                   name, ss.ss_family == AF_INET6 ? "]" : "",
                   ntohs(((struct sockaddr_in *)&ss)->sin_port));
    }
    return h;
}

void metrics_http_stop(struct metrics_http *h)
{
    if (h == NULL || h->stopping)
        return;
    h->stopping = 1;
    while (h->head != NULL)
        metrics_client_close(h->head);
    uv_close((uv_handle_t *)&h->listener, metrics_listener_closed);
}
