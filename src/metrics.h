/* metrics.h - counters, a latency histogram, and the Prometheus endpoint.
 *
 * struct metrics holds the daemon's counters; the modules that see an
 * event bump them (decision.c: requests, decisions, failure actions,
 * latency; conn.c: protocol errors; daemon.c: reloads).  Gauges and
 * counters kept elsewhere (store statistics, open connections) are read
 * when the page is rendered.  metrics_http_* serves `GET /metrics` in
 * Prometheus text format on metrics.listen: a minimal HTTP/1.0 responder,
 * one request per connection, request head at most METRICS_REQ_MAX bytes
 * and METRICS_TIMEOUT_MS, at most METRICS_CONNS_MAX clients at once;
 * anything but GET /metrics gets 404. */
#ifndef OUTPOST_METRICS_H
#define OUTPOST_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"

#define METRICS_RULES_MAX  48
#define METRICS_BUCKETS    14
#define METRICS_STAGES     6   /* enum stage: RCPT .. MAIL, other */
#define METRICS_REQ_MAX    4096
#define METRICS_TIMEOUT_MS 5000
#define METRICS_CONNS_MAX  16
#define METRICS_PAGE_MAX   (256 * 1024)

/* A latency histogram in microseconds (bucket bounds in metrics.c). */
struct metrics_hist {
    uint64_t b[METRICS_BUCKETS + 1];    /* per bucket; the last is +Inf */
    uint64_t count, sum_us;
};
void metrics_hist_add(struct metrics_hist *h, uint64_t us);

struct metrics {
    uint64_t requests[METRICS_STAGES]; /* by enum stage */
    uint64_t decisions[4];          /* by enum action */
    struct {
        char       *rule;           /* owned copy */
        uint64_t    n;
    } rules[METRICS_RULES_MAX];     /* more distinct rules are not counted */
    size_t   nrules;
    uint64_t failure_actions;
    uint64_t protocol_errors;       /* connections closed for bad input */
    uint64_t bad_requests;          /* answered DUNNO without evaluation */
    uint64_t reloads, reload_failures;
    struct metrics_hist latency;    /* decision time */
};

void metrics_decision(struct metrics *m, int stage, enum action a,
                      const char *rule, uint64_t us);
void metrics_free(struct metrics *m);       /* the rule names */

/* A bounded text buffer for the page. */
struct metrics_buf {
    char  *p;                       /* owned */
    size_t len, cap;                /* cap <= METRICS_PAGE_MAX */
};
void metrics_printf(struct metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A histogram as Prometheus NAME_bucket/_sum/_count in seconds. */
void metrics_hist_render(struct metrics_buf *b, const char *name, const char *help,
                         const struct metrics_hist *h);
/* HELP/TYPE lines and the counters of struct metrics. */
void metrics_render(const struct metrics *m, struct metrics_buf *b);

struct metrics_http;
typedef void metrics_page_fn(void *arg, struct metrics_buf *b);
/* Listens on "HOST:PORT" / "[v6]:PORT"; NULL and err on failure. */
struct metrics_http *metrics_http_start(uv_loop_t *loop, const char *hostport,
                                        metrics_page_fn *page, void *arg,
                                        char *err, size_t errlen);
/* Closes the listener and clients; frees itself when all closed. */
void metrics_http_stop(struct metrics_http *h);

#endif
