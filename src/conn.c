/* conn.c - one Postfix connection (see conn.h).
 *
 *   read (shared rbuf) -> conn_input -> proto_feed
 *        PROTO_MORE    keep reading (idle timer restarted on every read)
 *        PROTO_E*      log the peer and 64 escaped bytes, close
 *        DONE/BADREQ   request_new, decision_start; reading goes on
 *   bytes that arrive while a request is pending (a client that does not
 *   wait, Postfix never) are kept in held[], and only then reading stops
 *   until the reply: so a well-behaved client costs no epoll_ctl pair per
 *   request (half of outpostd's system calls).  An end of file while a
 *   request is pending (a client that half-closed after writing it) waits
 *   for the reply, which is written before the connection is closed.
 *   decision_finish -> conn_reply -> uv_try_write / uv_write (copy)
 *        unsent bytes > protocol.max_output: close (client does not read)
 *        bytes read past the request (held[]) are fed next, then reading
 *        resumes.
 *
 * Ownership: the conn owns its two handles and frees itself in the last
 * close callback; it owns one reference on its pending request and clears
 * rq->conn at close so a late answer finds no connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "decision.h"
#include "log.h"
#include "protocol.h"
#include "request.h"
#include "xalloc.h"

struct conn {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t    tcp;
        uv_pipe_t   pipe;
    } h;                        /* the client socket */
    uv_timer_t       idle;      /* idle_timeout, restarted on every read */
    struct conn_set *set;       /* not owned */
    struct conn     *next, *prev; /* in set->head */
    uint64_t         id;
    char             peer[64];  /* "unix" or "ADDR:PORT", for logs */
    struct proto     proto;
    struct request  *rq;        /* pending request (one reference) or NULL */
    char            *held;      /* owned; bytes read past a pending request */
    size_t           held_len;
    int              handles;   /* open handles; freed when it reaches 0 */
    bool             closing;
    bool             reading;
    bool             in_input;  /* conn_input() is on the stack */
    bool             partial;   /* some bytes of a request have arrived */
    bool             linger;    /* close once the queued reply is written */
    bool             eof;       /* the client half-closed with a request pending */
    struct conn_rcpts {         /* recipients of the current message */
        char     *instance;     /* owned; Postfix's instance, or NULL */
        uint64_t *set;          /* owned; open addressing, 0 = empty slot */
        size_t    cap, n;       /* cap a power of two, n <= CONN_RCPTS_MAX */
        uint64_t  overflow;     /* recipients past CONN_RCPTS_MAX */
        bool      id_seen;      /* the sender identity was looked at */
    } rcpts;
};

struct conn_write {
    uv_write_t req;
    size_t     len;
    char       data[PROTO_REPLY_MAX];
};

static void conn_read_start(struct conn *c);
static void conn_read_stop(struct conn *c);
static void conn_input(struct conn *c, const char *data, size_t len);

void conn_set_init(struct conn_set *set, uv_loop_t *loop,
                   struct config *const *cfg, struct decision_env *env)
{
    memset(set, 0, sizeof *set);
    set->loop = loop;
    set->cfg = cfg;
    set->env = env;
    set->next_id = 1;
}

static const struct config *conn_cfg(const struct conn *c)
{
    return *c->set->cfg;
}

static void conn_limits(const struct config *cfg, struct proto_limits *lim)
{
    lim->max_line = cfg->protocol.max_line;
    lim->max_request = cfg->protocol.max_request;
    lim->max_attributes = cfg->protocol.max_attributes;
}

static void conn_on_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->handles > 0)
        return;
    free(c);
}

void conn_close(struct conn *c, const char *why)
{
    struct conn_set *set = c->set;

    if (c->closing)
        return;
    c->closing = true;
    if (why != NULL)
        log_info("conn=%llu peer=%s closed: %s", (unsigned long long)c->id,
                 c->peer, why);
    else
        log_debug("conn=%llu peer=%s closed", (unsigned long long)c->id, c->peer);

    if (c->rq != NULL) {
        c->rq->conn = NULL;
        request_unref(c->rq);
        c->rq = NULL;
    }
    free(c->held);
    c->held = NULL;
    free(c->rcpts.instance);
    free(c->rcpts.set);
    memset(&c->rcpts, 0, sizeof c->rcpts);
    proto_free(&c->proto);

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        set->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    set->n--;

    uv_close(&c->h.handle, conn_on_closed);
    uv_close((uv_handle_t *)&c->idle, conn_on_closed);

    if (set->draining && set->n == 0 && set->on_empty != NULL)
        set->on_empty(set);
}

static void conn_on_idle(uv_timer_t *t)
{
    struct conn *c = t->data;

    if (c->rq != NULL) {        /* a request in flight has its own deadline */
        uv_timer_start(&c->idle, conn_on_idle,
                       (uint64_t)conn_cfg(c)->idle_timeout_ms, 0);
        return;
    }
    conn_close(c, c->partial ? "idle timeout in the middle of a request"
                             : "idle timeout");
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)suggested;
    buf->base = c->set->rbuf;
    buf->len = sizeof c->set->rbuf;
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;

    if (nread == 0)             /* EAGAIN */
        return;
    if (nread < 0) {
        if (nread == UV_EOF && c->rq != NULL) {
            c->eof = true;              /* the reply first (conn_reply) */
            conn_read_stop(c);
        } else if (nread == UV_EOF && !c->partial)
            conn_close(c, NULL);        /* Postfix hung up between requests */
        else if (nread == UV_EOF)
            conn_close(c, "end of file in the middle of a request");
        else
            conn_close(c, uv_strerror((int)nread));
        return;
    }
    uv_timer_start(&c->idle, conn_on_idle,
                   (uint64_t)conn_cfg(c)->idle_timeout_ms, 0);
    conn_input(c, buf->base, (size_t)nread);
}

static void conn_read_start(struct conn *c)
{
    if (c->reading || c->closing)
        return;
    int rc = uv_read_start(&c->h.stream, conn_alloc, conn_on_read);
    if (rc != 0) {
        conn_close(c, uv_strerror(rc));
        return;
    }
    c->reading = true;
}

static void conn_read_stop(struct conn *c)
{
    if (!c->reading)
        return;
    uv_read_stop(&c->h.stream);
    c->reading = false;
}

/* Logs a framing error with 64 escaped bytes of what came in. */
static void conn_bad_input(struct conn *c, enum proto_status st,
                           const char *data, size_t len)
{
    char e[LOG_ESC_SIZE];
    const struct proto *p = &c->proto;
    const char *show = data;
    size_t n = len;

    if (st != PROTO_ENUL && p->len > p->line) {  /* the line so far */
        show = p->buf + p->line;
        n = p->len - p->line;
    }
    log_warn("conn=%llu peer=%s protocol error: %s (max_line=%zu "
             "max_request=%zu max_attributes=%zu) near %s",
             (unsigned long long)c->id, c->peer, proto_strerror(st),
             p->lim.max_line, p->lim.max_request, p->lim.max_attributes,
             log_esc(e, show, n > 64 ? 64 : n));
}


/* ---- recipients of the current message (per-message cap) -------------- */

static uint64_t conn_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;               /* 0 marks an empty slot */
}

static void conn_rcpts_reset(struct conn_rcpts *r, const char *instance)
{
    free(r->instance);
    r->instance = instance ? xstrdup(instance) : NULL;
    if (r->set != NULL)
        memset(r->set, 0, r->cap * sizeof *r->set);
    r->n = 0;
    r->overflow = 0;
    r->id_seen = false;
}

/* Linear probing; deletion by backward shift keeps probes correct. */
static size_t conn_rcpts_find(const struct conn_rcpts *r, uint64_t h)
{
    size_t i = h & (r->cap - 1);
    while (r->set[i] != 0 && r->set[i] != h)
        i = (i + 1) & (r->cap - 1);
    return i;
}

static bool conn_rcpts_add(struct conn_rcpts *r, uint64_t h)
{
    if (r->n >= CONN_RCPTS_MAX) {
        r->overflow++;
        return true;
    }
    if (r->cap == 0 || (r->n + 1) * 2 > r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        uint64_t *old = r->set;
        size_t ocap = r->cap;
        r->set = xcalloc(ncap, sizeof *r->set);
        r->cap = ncap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i] != 0)
                r->set[conn_rcpts_find(r, old[i])] = old[i];
        free(old);
    }
    size_t i = conn_rcpts_find(r, h);
    if (r->set[i] == h)
        return false;
    r->set[i] = h;
    r->n++;
    return true;
}

static void conn_rcpts_del(struct conn_rcpts *r, uint64_t h)
{
    if (r->overflow > 0) {
        r->overflow--;
        return;
    }
    if (r->cap == 0)
        return;
    size_t i = conn_rcpts_find(r, h);
    if (r->set[i] != h)
        return;
    r->set[i] = 0;
    r->n--;
    for (size_t j = (i + 1) & (r->cap - 1); r->set[j] != 0; j = (j + 1) & (r->cap - 1)) {
        uint64_t v = r->set[j];
        r->set[j] = 0;
        r->set[conn_rcpts_find(r, v)] = v;
    }
}

/* At RCPT: the distinct recipients of the request's instance so far. */
static void conn_rcpts_note(struct conn *c, struct request *rq)
{
    struct conn_rcpts *r = &c->rcpts;
    const char *inst = rq->attr[PA_INSTANCE];

    if (rq->stage == STAGE_EOM) {           /* the message is complete */
        conn_rcpts_reset(r, NULL);
        return;
    }
    if (rq->stage == STAGE_MAIL) {          /* one request per transaction */
        rq->id_first = true;
        return;
    }
    if (rq->stage != STAGE_RCPT || rq->bad != NULL)
        return;
    if (r->instance == NULL || strcmp(r->instance, inst) != 0)
        conn_rcpts_reset(r, inst);
    rq->rcpt_hash = conn_hash(rq->attr[PA_RECIPIENT]);
    rq->rcpt_new = conn_rcpts_add(r, rq->rcpt_hash);
    rq->rcpt_units = r->n + r->overflow;
    rq->id_first = !r->id_seen;
    r->id_seen = true;
}

static void conn_input(struct conn *c, const char *data, size_t len)
{
    c->in_input = true;
    while (!c->closing && len > 0) {
        size_t used = 0;

        if (c->rq != NULL) {            /* keep the rest for later */
            char *h = xmalloc(len);
            memcpy(h, data, len);
            free(c->held);
            c->held = h;
            c->held_len = len;
            conn_read_stop(c);
            break;
        }
        enum proto_status st = proto_feed(&c->proto, data, len, &used);
        if (st == PROTO_MORE) {
            c->partial = true;
            break;
        }
        if (st < 0) {
            conn_bad_input(c, st, data + used, len - used);
            c->set->env->metrics.protocol_errors++;
            conn_close(c, proto_strerror(st));
            break;
        }
        data += used;
        len -= used;
        c->partial = false;

        struct config *cfg = *c->set->cfg;
        c->rq = request_new(&c->proto, st, cfg, c, c->id, uv_hrtime());
        proto_reset(&c->proto);
        conn_limits(cfg, &c->proto.lim);        /* a reload applies now */
        conn_rcpts_note(c, c->rq);
        decision_start(c->set->env, c->rq);
        /* decision_start() may have answered (and even closed) already */
        if (c->closing)
            break;
    }
    c->in_input = false;
}

static void conn_on_written(uv_write_t *req, int status)
{
    struct conn_write *w = (struct conn_write *)req;
    struct conn *c = req->handle->data;

    if (status < 0 && status != UV_ECANCELED && !c->closing)
        conn_close(c, uv_strerror(status));
    else if (c->linger && !c->closing
             && uv_stream_get_write_queue_size(&c->h.stream) == 0)
        conn_close(c, NULL);
    free(w);
}

/* Queues len bytes; returns 0, or -1 when the connection was closed. */
static int conn_write(struct conn *c, const char *data, size_t len)
{
    uv_stream_t *s = &c->h.stream;

    if (uv_stream_get_write_queue_size(s) == 0) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write(s, &b, 1);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
            conn_close(c, uv_strerror(n));
            return -1;
        }
    }
    if (len == 0)
        return 0;

    struct conn_write *w = xmalloc(sizeof *w);
    memcpy(w->data, data, len);
    w->len = len;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, s, &b, 1, conn_on_written);
    if (rc != 0) {
        free(w);
        conn_close(c, uv_strerror(rc));
        return -1;
    }
    if (uv_stream_get_write_queue_size(s) > conn_cfg(c)->protocol.max_output) {
        log_warn("conn=%llu peer=%s does not read its replies: more than "
                 "%llu bytes unsent", (unsigned long long)c->id, c->peer,
                 (unsigned long long)conn_cfg(c)->protocol.max_output);
        conn_close(c, "output buffer full");
        return -1;
    }
    return 0;
}

void conn_reply(struct conn *c, const char *text, bool refused)
{
    char out[PROTO_REPLY_MAX];
    size_t n = proto_reply(out, text);

    if (c->closing || c->rq == NULL)
        return;
    if (refused && c->rq->rcpt_new)     /* Postfix rejects that recipient */
        conn_rcpts_del(&c->rcpts, c->rq->rcpt_hash);
    request_unref(c->rq);
    c->rq = NULL;
    if (conn_write(c, out, n) != 0)
        return;
    if (c->set->draining || c->eof) {   /* close once it is sent */
        if (uv_stream_get_write_queue_size(&c->h.stream) == 0)
            conn_close(c, NULL);
        else
            c->linger = true;
        return;
    }
    if (c->in_input)            /* conn_input's loop goes on by itself */
        return;
    if (c->held != NULL) {
        char *h = c->held;
        size_t hl = c->held_len;
        c->held = NULL;
        c->held_len = 0;
        conn_input(c, h, hl);
        free(h);
    }
    if (c->rq == NULL)
        conn_read_start(c);
}

static void conn_peer(struct conn *c, bool tcp)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (!tcp || uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(c->peer, sizeof c->peer, tcp ? "tcp" : "unix");
        return;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, host, sizeof host);
        port = ntohs(a->sin6_port);
        snprintf(c->peer, sizeof c->peer, "[%s]:%d", host, port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, host, sizeof host);
        port = ntohs(a->sin_port);
        snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
    }
}

int conn_accept(struct conn_set *set, uv_stream_t *listener, bool tcp)
{
    const struct config *cfg = *set->cfg;
    struct conn *c = xcalloc(1, sizeof *c);
    int rc;

    c->set = set;
    rc = tcp ? uv_tcp_init(set->loop, &c->h.tcp) : uv_pipe_init(set->loop, &c->h.pipe, 0);
    if (rc != 0) {
        free(c);
        return rc;
    }
    c->h.handle.data = c;
    c->handles = 1;
    rc = uv_accept(listener, &c->h.stream);
    if (rc != 0) {
        c->closing = true;
        uv_close(&c->h.handle, conn_on_closed);
        return rc;
    }
    uv_timer_init(set->loop, &c->idle);
    c->idle.data = c;
    c->handles = 2;
    c->id = set->next_id++;
    if (tcp)
        uv_tcp_nodelay(&c->h.tcp, 1);
    conn_peer(c, tcp);

    struct proto_limits lim;
    conn_limits(cfg, &lim);
    proto_init(&c->proto, &lim);

    c->next = set->head;
    if (set->head != NULL)
        set->head->prev = c;
    set->head = c;
    set->n++;

    log_debug("conn=%llu peer=%s connected (%zu open)", (unsigned long long)c->id,
              c->peer, set->n);
    uv_timer_start(&c->idle, conn_on_idle, (uint64_t)cfg->idle_timeout_ms, 0);
    conn_read_start(c);
    return 0;
}

void conn_set_drain(struct conn_set *set)
{
    struct conn *c, *next;

    set->draining = true;
    if (set->n == 0) {
        if (set->on_empty != NULL)
            set->on_empty(set);
        return;
    }
    /* the last conn_close() calls on_empty */
    for (c = set->head; c != NULL; c = next) {
        next = c->next;
        if (c->rq == NULL)
            conn_close(c, NULL);
        else
            conn_read_stop(c);
    }
}

void conn_set_close_all(struct conn_set *set, const char *why)
{
    while (set->head != NULL)
        conn_close(set->head, why);
}
