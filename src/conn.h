/* conn.h - Postfix connections: buffers, idle timer, replies, close.
 *
 * A struct conn_set is every open connection of one server; server.c
 * embeds it and calls conn_accept() for each new client.  Each connection
 * reads into the set's shared buffer, feeds protocol.c, starts one request
 * at a time (reading stops while it is pending) and writes the reply that
 * decision.c hands to conn_reply().  Bounds (SPEC §8, from the current
 * config at each request): protocol.max_line/max_request/max_attributes via
 * the parser, protocol.max_output of unsent reply bytes, idle_timeout. */
#ifndef OUTPOST_CONN_H
#define OUTPOST_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct config;
struct conn;
struct decision_env;

/* One read() at most; the parser copies, so this is only a window. */
#define CONN_READ_MAX 65536
/* Distinct recipients remembered per message (instance) and connection for
 * the per-message cap (SPEC §4); past it every RCPT counts as new, which
 * errs towards the cap.  Postfix's own smtpd_recipient_limit is 1000. */
#define CONN_RCPTS_MAX 10000

struct conn_set {
    uv_loop_t     *loop;        /* not owned */
    struct config *const *cfg;  /* the daemon's current config */
    struct decision_env *env;   /* not owned; for decision_start() */
    struct conn   *head;        /* every open connection; each owned */
    size_t         n;
    uint64_t       next_id;     /* connection ids for logs, from 1 */
    bool           draining;    /* shutting down: close each once idle */
    void         (*on_empty)(struct conn_set *set); /* draining and n == 0 */
    void          *data;        /* for on_empty */
    char           rbuf[CONN_READ_MAX]; /* shared by all reads */
};

void conn_set_init(struct conn_set *set, uv_loop_t *loop,
                   struct config *const *cfg, struct decision_env *env);
/* Close idle connections now, busy ones as soon as they have replied. */
void conn_set_drain(struct conn_set *set);
/* Close all now (a pending request's reply is then dropped). */
void conn_set_close_all(struct conn_set *set, const char *why);

/* Accepts one pending connection of listener; 0 or a libuv error. */
int conn_accept(struct conn_set *set, uv_stream_t *listener, bool tcp);

/* Sends "action=TEXT\n\n" for the pending request and goes on reading.
 * refused: the request was refused (a refused RCPT is not a recipient). */
void conn_reply(struct conn *c, const char *text, bool refused);

/* Closes now; the reason is logged (NULL: a normal end, logged at debug). */
void conn_close(struct conn *c, const char *why);

#endif
