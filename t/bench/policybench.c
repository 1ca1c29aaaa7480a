/* policybench.c - load generator for the Postfix policy protocol.
 *
 * One libuv thread drives N persistent connections to a policy server
 * (outpostd, or t/bench/dunno for the protocol floor) over a UNIX or TCP
 * socket and prints throughput, latency percentiles, replies by action and
 * errors.  Not part of `make check`; t/bench/run drives it.
 *
 * Load models:
 *   closed loop (default)  every connection keeps one request in flight, as
 *                          Postfix does (REFERENCE §1.1: one request at a
 *                          time per connection); latency = reply - send.
 *   open loop (--rate R)   request i is due at t0 + i/R whatever the server
 *                          does; a due request goes out on an idle
 *                          connection, or waits in the backlog until one is
 *                          free; latency = reply - due time, so a slow
 *                          server cannot hide its queueing (no "coordinated
 *                          omission").  The backlog is a range of indices,
 *                          so it costs no memory.  On Linux a timerfd wakes
 *                          the loop at the due time with microsecond
 *                          precision (libuv timers have 1 ms granularity);
 *                          --tick US makes it wake at most every US and send
 *                          what fell due meanwhile (their latency still
 *                          counts from each one's due time, the wait
 *                          included): a wake-up per request cost the
 *                          generator as much CPU as outpostd and Redis
 *                          together, on the cores they share.
 *
 * Requests look like Postfix 3.7's (REFERENCE §1.2-§1.4: the 29 attributes
 * it sends, filled in as at RCPT and END-OF-MESSAGE).  Each connection
 * plays one smtpd process: it runs simulated messages one after another.
 * A message belongs to one account (uniform or Zipf-distributed over
 * PREFIX0..PREFIXN-1, --prefix, default "acct"; its envelope sender is
 * --sender with %a the account and %n its number, default
 * "%a@example.com", "" the null sender), has an `instance` unique to this run and a queue_id
 * that is empty at its first RCPT.  Each request is RCPT or
 * END-OF-MESSAGE with the --mix weights: an RCPT adds a recipient to the
 * current message (at most BENCH_RCPT_MAX, then a new message starts, as
 * if the client gave up); an END-OF-MESSAGE ends it with recipient_count
 * = the RCPTs sent (or a drawn count when none were: an EOM-only mix) and
 * its final size.  A fresh instance + queue_id per message means
 * outpostd's END-OF-MESSAGE dedupe never hits.
 *
 * Bounds: --duration and --requests (measured requests, whichever comes
 * first; warmup requests are not counted), a per-request timeout
 * (--timeout, default 5 s: the connection is closed and reopened, since
 * the protocol has no request ids), a drain after the end bounded by that
 * timeout, replies of at most BENCH_REPLY_MAX bytes.  Latencies go into a
 * log-linear histogram (128 sub-buckets per power of two: < 0.8 % error),
 * fixed size whatever the run length.
 *
 * Errors (counted while measuring): connect failures, connections closed
 * by the server, malformed replies (not exactly "action=...\n\n", a CR,
 * bytes nobody asked for, too long), timeouts, write failures, and in
 * open loop the due requests never sent before the drain ended. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/timerfd.h>
#endif

#include <uv.h>

#define BENCH_REQ_MAX     2048      /* bytes of one request we build */
#define BENCH_REPLY_MAX   1024      /* bytes of one reply we accept */
#define BENCH_RCPT_MAX    50        /* RCPTs of one simulated message */
#define BENCH_CONN_MAX    1000000
#define BENCH_ZIPF_MAX    10000000  /* accounts with a Zipf table (8 B each) */
#define BENCH_ACCT_MAX    100000000
#define BENCH_SWEEP_MS    50        /* timeout and reconnect sweep */
#define BENCH_RETRY_MS    100       /* reconnect delay after a failed connect */
#define BENCH_CONNECT_MS  10000     /* all connections up within this, or go */
#define BENCH_SAMPLE_MAX  160       /* bytes kept of the first reply per class */
#define BENCH_PREFIX_MAX  32        /* bytes of --prefix */
#define BENCH_SENDER_MAX  200       /* bytes of --sender and of a sender made from it */

/* ---- clock and random numbers ------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: small, fast, good enough for load shapes. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)     /* [0, 1) */
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

static uint32_t rng_below(uint64_t *s, uint32_t n)     /* [0, n) */
{
    return (uint32_t)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

/* ---- latency histogram --------------------------------------------------
 * Values in ns.  v < 256 is exact; above, the top 8 bits of v (its leading
 * one and 7 more) pick one of 128 sub-buckets of its power of two:
 * index = shift * 128 + (v >> shift), shift = log2(v) - 7. */
#define HIST_SUB_BITS  7
#define HIST_SUB       (1u << HIST_SUB_BITS)
#define HIST_MAX_SHIFT 34                       /* up to 2^42 ns, ~73 min */
#define HIST_NB        ((HIST_MAX_SHIFT + 2) * HIST_SUB)

struct hist {
    uint64_t n, max, min;
    double   sum;
    uint64_t b[HIST_NB];
};

static unsigned hist_index(uint64_t v)
{
    if (v < 2 * HIST_SUB)
        return (unsigned)v;
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
    if (shift > HIST_MAX_SHIFT)
        return HIST_NB - 1;
    return shift * HIST_SUB + (unsigned)(v >> shift);
}

/* The middle of bucket i. */
static uint64_t hist_value(unsigned i)
{
    if (i < 2 * HIST_SUB)
        return i;
    unsigned shift = i / HIST_SUB - 1;
    uint64_t top = i - shift * HIST_SUB;
    return (top << shift) + ((1ull << shift) >> 1);
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    if (h->n == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->n++;
    h->sum += (double)v;
}

/* The value at quantile q (0..1), never above the maximum seen. */
static uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->n);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_NB; i++) {
        seen += h->b[i];
        if (seen >= want) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v < h->min ? h->min : v;
        }
    }
    return h->max;
}

/* ---- configuration ------------------------------------------------------ */

enum ep_kind { EP_UNIX, EP_INET };

struct options {
    enum ep_kind kind;
    char         endpoint[256];         /* as given, for the summary */
    char         path[108];             /* EP_UNIX */
    struct sockaddr_storage sa;         /* EP_INET */
    unsigned     connections;
    uint64_t     requests;              /* 0: no count bound */
    double       duration, warmup, timeout;
    unsigned     w_rcpt, w_eom;
    uint32_t     accounts;
    double       zipf;                  /* 0: uniform */
    double       rate;                  /* 0: closed loop */
    uint64_t     tick_ns;               /* open loop: least gap between wake-ups */
    uint64_t     seed;
    bool         json;
    char         prefix[BENCH_PREFIX_MAX + 1];      /* account names: PREFIXN */
    char         sender[BENCH_SENDER_MAX + 1];      /* pattern: %a, %n, %% */
};

/* ---- the run ------------------------------------------------------------ */

enum act { ACT_DUNNO, ACT_OK, ACT_4XX, ACT_5XX, ACT_HOLD, ACT_OTHER, ACT_N };
static const char *const act_names[ACT_N] = { "DUNNO", "OK", "4xx", "5xx", "HOLD", "other" };
static const char *const act_keys[ACT_N] = { "dunno", "ok", "4xx", "5xx", "hold", "other" };

enum err { ERR_CONNECT, ERR_CLOSED, ERR_MALFORMED, ERR_TIMEOUT, ERR_WRITE, ERR_UNSENT, ERR_N };
static const char *const err_names[ERR_N] = {
    "connect", "closed", "malformed", "timeout", "write", "unsent"
};

enum phase { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE };

enum cstate { C_CLOSED, C_CONNECTING, C_READY, C_BUSY, C_CLOSING };

struct bench;

/* The simulated message a connection is in the middle of. */
struct msg {
    bool     open;
    uint32_t account;
    uint32_t rcpts;             /* RCPT requests sent for it */
    uint32_t first_rcpt;        /* id of its first recipient's address */
    uint32_t seq;               /* this connection's message number */
    uint64_t qid;               /* queue_id number, unique in the run */
    uint64_t size;
    struct timeval tv;          /* start, for the instance */
};

struct conn {
    union {
        uv_handle_t h;
        uv_stream_t s;
        uv_pipe_t   pipe;
        uv_tcp_t    tcp;
    } u;
    uv_connect_t creq;
    uv_write_t   wreq;
    struct bench *b;
    unsigned     idx;
    enum cstate  state;
    bool         was_connecting;        /* the close ends a failed connect */
    bool         measured;              /* the request in flight counts */
    bool         eom;                   /* ... and is an END-OF-MESSAGE */
    uint64_t     t_due;                 /* latency origin of that request */
    uint64_t     t_sent;                /* for the timeout */
    uint64_t     retry_at;              /* C_CLOSED: reconnect from then on */
    struct msg   m;
    size_t       rlen;
    char         rbuf[BENCH_REPLY_MAX];
    char         wbuf[BENCH_REQ_MAX];
};

struct bench {
    struct options o;
    uv_loop_t     *loop;
    uv_timer_t     sweep;
    uv_signal_t    sigint, sigterm;
    struct conn   *conns;
    unsigned      *idle;                /* open loop: idle connections (stack) */
    unsigned       nidle;
    double        *zipf_cdf;            /* accounts entries, or NULL */
    uint64_t       rng;
    uint64_t       qid_base;
    enum phase     phase;
    bool           issuing;             /* new requests may start */
    uint64_t       t_start, t_measure, t_stop_issue, t_last;
    uint64_t       t_warmup_end, t_deadline, t_drain_end;
    unsigned       connected;           /* connections in C_READY/C_BUSY */
    unsigned       up_at_start;         /* connected when the load began */
    uint64_t       connects;            /* successful connects, all phases */
    unsigned       busy;

    /* open loop */
#ifdef __linux__
    int            tfd;
    uv_poll_t      tpoll;
#else
    uv_timer_t     ttimer;
#endif
    uint64_t       ol_t0;
    uint64_t       ol_next;             /* next index to send */
    uint64_t       ol_from;             /* first measured index */
    uint64_t       ol_limit;            /* indices < this are scheduled */
    uint64_t       ol_backlog_max;

    /* results (measured requests only, except the *_all counters) */
    struct hist    lat;
    uint64_t       sent, replies, by_stage[2];
    uint64_t       acts[ACT_N], errs[ERR_N];
    uint64_t       replies_all, sent_all;
    char           sample[ACT_N][BENCH_SAMPLE_MAX];
};

static void conn_open(struct bench *b, struct conn *c);
static void conn_fail(struct conn *c, enum err e);
static void conn_send(struct conn *c, uint64_t t_due, bool measured);
static void bench_check_done(struct bench *b);
static void ol_tick(struct bench *b);
static uint64_t ol_due(const struct bench *b, uint64_t i);

/* ---- requests ----------------------------------------------------------- */

static uint32_t pick_account(struct bench *b)
{
    if (b->zipf_cdf == NULL)
        return rng_below(&b->rng, b->o.accounts);
    double u = rng_unit(&b->rng);
    uint32_t lo = 0, hi = b->o.accounts - 1;
    while (lo < hi) {                   /* first entry with cdf > u */
        uint32_t mid = lo + (hi - lo) / 2;
        if (b->zipf_cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Message sizes: mostly a few KiB, a long tail up to 25 MB. */
static uint64_t pick_size(struct bench *b)
{
    double u = rng_unit(&b->rng);
    double v = 800.0 - log(1.0 - u) * 20000.0;
    if (rng_below(&b->rng, 20) == 0)
        v *= 20.0;                      /* attachments */
    return v > 25e6 ? 25000000u : (uint64_t)v;
}

static void msg_start(struct bench *b, struct conn *c)
{
    struct msg *m = &c->m;
    m->open = true;
    m->account = pick_account(b);
    m->rcpts = 0;
    m->first_rcpt = 0;
    m->seq++;
    m->qid = b->qid_base + b->sent_all;
    m->size = pick_size(b);
    gettimeofday(&m->tv, NULL);
}

/* The envelope sender of account number a: o->sender with %a the account
 * name, %n its number and %% a percent sign (checked by parse_sender);
 * cut at cap - 1 bytes. */
static void make_sender(const struct options *o, uint32_t a, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = o->sender; *p != '\0' && n + 1 < cap; p++) {
        char tmp[BENCH_PREFIX_MAX + 16];
        const char *add = tmp;
        if (*p != '%') {
            tmp[0] = *p;
            tmp[1] = '\0';
        } else if (*++p == 'a') {
            snprintf(tmp, sizeof tmp, "%s%" PRIu32, o->prefix, a);
        } else if (*p == 'n') {
            snprintf(tmp, sizeof tmp, "%" PRIu32, a);
        } else {
            add = "%";
        }
        for (; *add != '\0' && n + 1 < cap; add++)
            out[n++] = *add;
    }
    out[n] = '\0';
}

/* Builds the next request of connection c into c->wbuf; sets c->eom. */
static size_t build_request(struct bench *b, struct conn *c)
{
    uint64_t total = (uint64_t)b->o.w_rcpt + b->o.w_eom;
    bool eom = rng_below(&b->rng, (uint32_t)total) >= b->o.w_rcpt;
    struct msg *m = &c->m;

    if (!m->open || (!eom && m->rcpts >= BENCH_RCPT_MAX))
        msg_start(b, c);

    char recipient[96] = "", queue_id[24] = "";
    uint64_t rcount = 0;
    if (eom) {
        rcount = m->rcpts;
        uint32_t rid = m->first_rcpt;
        if (rcount == 0) {              /* EOM without RCPTs: draw a count */
            rid = (uint32_t)rng_next(&b->rng);
            rcount = rng_below(&b->rng, 10) < 6 ? 1 : 2 + rng_below(&b->rng, 9);
        }
        if (rcount == 1)                /* Postfix: only with one recipient */
            snprintf(recipient, sizeof recipient, "rcpt%" PRIu32 "@d%" PRIu32 ".example.org",
                     rid % 100000u, rid % 997u);
    } else {
        uint32_t rid = (uint32_t)rng_next(&b->rng);
        if (m->rcpts == 0)
            m->first_rcpt = rid;
        snprintf(recipient, sizeof recipient, "rcpt%" PRIu32 "@d%" PRIu32 ".example.org",
                 rid % 100000u, rid % 997u);
    }
    if (eom || m->rcpts > 0)            /* empty at the first RCPT */
        snprintf(queue_id, sizeof queue_id, "%010" PRIX64, m->qid & (uint64_t)0xFFFFFFFFFFu);

    uint32_t a = m->account;
    char sender[BENCH_SENDER_MAX + 1];
    make_sender(&b->o, a, sender, sizeof sender);
    unsigned o1 = (a >> 16) & 255u, o2 = (a >> 8) & 255u, o3 = a & 255u;
    int n = snprintf(c->wbuf, sizeof c->wbuf,
        "request=smtpd_access_policy\n"
        "protocol_state=%s\n"
        "protocol_name=ESMTP\n"
        "client_address=10.%u.%u.%u\n"
        "client_name=host-%u-%u-%u.dsl.example.net\n"
        "client_port=%u\n"
        "reverse_client_name=host-%u-%u-%u.dsl.example.net\n"
        "server_address=192.0.2.25\n"
        "server_port=587\n"
        "helo_name=[10.%u.%u.%u]\n"
        "sender=%s\n"
        "recipient=%s\n"
        "recipient_count=%" PRIu64 "\n"
        "queue_id=%s\n"
        "instance=%x.%lx.%lx.%x\n"
        "size=%" PRIu64 "\n"
        "etrn_domain=\n"
        "stress=\n"
        "sasl_method=PLAIN\n"
        "sasl_username=%s%" PRIu32 "\n"
        "sasl_sender=\n"
        "ccert_subject=\n"
        "ccert_issuer=\n"
        "ccert_fingerprint=\n"
        "ccert_pubkey_fingerprint=\n"
        "encryption_protocol=TLSv1.3\n"
        "encryption_cipher=TLS_AES_256_GCM_SHA384\n"
        "encryption_keysize=256\n"
        "policy_context=\n"
        "\n",
        eom ? "END-OF-MESSAGE" : "RCPT",
        o1, o2, o3, o1, o2, o3, 1024u + (unsigned)(a % 60000u), o1, o2, o3, o1, o2, o3,
        sender, recipient, rcount, queue_id,
        0x1000u + c->idx, (unsigned long)m->tv.tv_sec, (unsigned long)m->tv.tv_usec,
        m->seq, m->size, b->o.prefix, a);
    if (eom)
        m->open = false;
    else
        m->rcpts++;
    c->eom = eom;
    return n < 0 || (size_t)n >= sizeof c->wbuf ? 0 : (size_t)n;
}

/* ---- replies ------------------------------------------------------------ */

static enum act classify(const char *v, size_t len)
{
    size_t w = 0;
    while (w < len && v[w] != ' ' && v[w] != '\t')
        w++;
    if (w == 3 && v[0] >= '1' && v[0] <= '9' && v[1] >= '0' && v[1] <= '9'
        && v[2] >= '0' && v[2] <= '9')
        return v[0] == '4' ? ACT_4XX : v[0] == '5' ? ACT_5XX : ACT_OTHER;
    if (w == 5 && strncasecmp(v, "DUNNO", 5) == 0)
        return ACT_DUNNO;
    if (w == 2 && strncasecmp(v, "OK", 2) == 0)
        return ACT_OK;
    if (w == 4 && strncasecmp(v, "HOLD", 4) == 0)
        return ACT_HOLD;
    if (w >= 5 && strncasecmp(v, "DEFER", 5) == 0)
        return ACT_4XX;                 /* DEFER, DEFER_IF_PERMIT, ... */
    if (w == 6 && strncasecmp(v, "REJECT", 6) == 0)
        return ACT_5XX;
    return ACT_OTHER;
}

/* A complete reply in c->rbuf[0..end) (end includes "\n\n"). */
static void conn_reply(struct conn *c, size_t end)
{
    struct bench *b = c->b;
    const char *r = c->rbuf;
    size_t line = end - 2;              /* "action=VALUE" */
    if (end < c->rlen || line < 7 || memcmp(r, "action=", 7) != 0
        || memchr(r, '\n', line) != NULL || memchr(r, '\r', line) != NULL) {
        conn_fail(c, ERR_MALFORMED);
        return;
    }
    uint64_t now = now_ns();
    enum act a = classify(r + 7, line - 7);
    b->replies_all++;
    if (c->measured) {
        b->replies++;
        b->by_stage[c->eom ? 1 : 0]++;
        b->acts[a]++;
        hist_add(&b->lat, now - c->t_due);
        b->t_last = now;
        if (a != ACT_DUNNO && b->sample[a][0] == '\0') {
            size_t n = line - 7 < BENCH_SAMPLE_MAX - 1 ? line - 7 : BENCH_SAMPLE_MAX - 1;
            memcpy(b->sample[a], r + 7, n);
            b->sample[a][n] = '\0';
        }
    }
    c->rlen = 0;
    c->state = C_READY;
    b->busy--;

    if (b->o.rate > 0) {                /* open loop: the backlog first */
        if (b->issuing && b->ol_next < b->ol_limit && ol_due(b, b->ol_next) <= now) {
            uint64_t i = b->ol_next++;
            conn_send(c, ol_due(b, i), i >= b->ol_from);
        } else {
            b->idle[b->nidle++] = c->idx;
        }
    } else if (b->issuing) {
        conn_send(c, 0, b->phase == PH_MEASURE);
    }
    bench_check_done(b);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)hint;
    *buf = uv_buf_init(c->rbuf + c->rlen, (unsigned)(sizeof c->rbuf - c->rlen));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    (void)buf;
    if (nread == 0 || c->state == C_CLOSING)
        return;
    if (nread < 0) {
        conn_fail(c, ERR_CLOSED);
        return;
    }
    if (c->state != C_BUSY) {           /* bytes nobody asked for */
        conn_fail(c, ERR_MALFORMED);
        return;
    }
    size_t from = c->rlen > 0 ? c->rlen - 1 : 0;
    c->rlen += (size_t)nread;
    for (size_t i = from; i + 1 < c->rlen; i++) {
        if (c->rbuf[i] == '\n' && c->rbuf[i + 1] == '\n') {
            conn_reply(c, i + 2);
            return;
        }
    }
    if (c->rlen >= sizeof c->rbuf)
        conn_fail(c, ERR_MALFORMED);
}

/* ---- sending ------------------------------------------------------------ */

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0 && c->state != C_CLOSING && c->state != C_CLOSED)
        conn_fail(c, ERR_WRITE);
}

/* Sends the next request on the idle connection c. */
static void conn_send(struct conn *c, uint64_t t_due, bool measured)
{
    struct bench *b = c->b;
    size_t len = build_request(b, c);
    if (len == 0) {                     /* cannot happen: the buffer fits */
        fprintf(stderr, "policybench: request too long\n");
        exit(2);
    }
    uint64_t now = now_ns();
    c->state = C_BUSY;
    c->measured = measured;
    c->t_sent = now;
    c->t_due = t_due != 0 ? t_due : now;
    c->rlen = 0;
    b->busy++;
    b->sent_all++;
    if (measured) {
        b->sent++;
        if (b->o.rate <= 0 && b->o.requests > 0 && b->sent >= b->o.requests)
            b->issuing = false;         /* closed loop: count bound reached */
    }
    uv_buf_t buf = uv_buf_init(c->wbuf, (unsigned)len);
    int n = uv_try_write(&c->u.s, &buf, 1);
    if (n == (int)len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        conn_fail(c, ERR_WRITE);
        return;
    }
    if (n > 0)
        buf = uv_buf_init(c->wbuf + n, (unsigned)(len - (size_t)n));
    c->wreq.data = c;
    if (uv_write(&c->wreq, &c->u.s, &buf, 1, on_write) != 0)
        conn_fail(c, ERR_WRITE);
}

/* ---- connections -------------------------------------------------------- */

static void on_close(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct bench *b = c->b;
    c->state = C_CLOSED;
    c->retry_at = now_ns() + (c->was_connecting ? BENCH_RETRY_MS * 1000000ull : 0);
    c->m.open = false;
    bench_check_done(b);
}

/* Closes c after an error; the sweep reopens it. */
static void conn_fail(struct conn *c, enum err e)
{
    struct bench *b = c->b;
    if (c->state == C_CLOSING || c->state == C_CLOSED)
        return;
    bool measured = c->state == C_BUSY && c->measured;
    if (measured || (b->phase == PH_MEASURE && e != ERR_TIMEOUT))
        b->errs[e]++;
    if (c->state == C_BUSY)
        b->busy--;
    if (c->state == C_READY || c->state == C_BUSY)
        b->connected--;
    if (c->state == C_READY && b->o.rate > 0) {     /* off the idle stack */
        for (unsigned i = 0; i < b->nidle; i++) {
            if (b->idle[i] == c->idx) {
                b->idle[i] = b->idle[--b->nidle];
                break;
            }
        }
    }
    c->was_connecting = c->state == C_CONNECTING;
    c->state = C_CLOSING;
    uv_close(&c->u.h, on_close);
}

/* c is connected and idle: give it work if there is any. */
static void conn_ready(struct conn *c)
{
    struct bench *b = c->b;
    c->state = C_READY;
    if (b->phase == PH_CONNECT || !b->issuing) {
        if (b->o.rate > 0)
            b->idle[b->nidle++] = c->idx;
        return;
    }
    if (b->o.rate > 0) {
        b->idle[b->nidle++] = c->idx;
        ol_tick(b);
    } else {
        conn_send(c, 0, b->phase == PH_MEASURE);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    struct bench *b = c->b;
    if (c->state != C_CONNECTING)
        return;
    if (status < 0) {
        conn_fail(c, ERR_CONNECT);
        return;
    }
    if (uv_read_start(&c->u.s, on_alloc, on_read) != 0) {
        conn_fail(c, ERR_CONNECT);
        return;
    }
    b->connected++;
    b->connects++;
    conn_ready(c);
}

static void conn_open(struct bench *b, struct conn *c)
{
    c->state = C_CONNECTING;
    c->rlen = 0;
    c->creq.data = c;
    if (b->o.kind == EP_UNIX) {
        uv_pipe_init(b->loop, &c->u.pipe, 0);
        c->u.h.data = c;
        uv_pipe_connect(&c->creq, &c->u.pipe, b->o.path, on_connect);
        return;
    }
    uv_tcp_init(b->loop, &c->u.tcp);
    c->u.h.data = c;
    uv_tcp_nodelay(&c->u.tcp, 1);
    int rc = uv_tcp_connect(&c->creq, &c->u.tcp, (const struct sockaddr *)&b->o.sa, on_connect);
    if (rc != 0) {
        c->was_connecting = true;
        if (b->phase == PH_MEASURE)
            b->errs[ERR_CONNECT]++;
        c->state = C_CLOSING;
        uv_close(&c->u.h, on_close);
    }
}

/* ---- open loop ---------------------------------------------------------- */

static uint64_t ol_due(const struct bench *b, uint64_t i)
{
    return b->ol_t0 + (uint64_t)((double)i * 1e9 / b->o.rate);
}

/* Sends every due request that has an idle connection, then arms the
 * wake-up for the next due one. */
static void ol_tick(struct bench *b)
{
    if (!b->issuing)
        return;
    uint64_t now = now_ns();
    /* Indices due by now: i with t0 + i/R <= now. */
    uint64_t due = (uint64_t)floor((double)(now - b->ol_t0) * b->o.rate / 1e9) + 1;
    if (due > b->ol_limit)
        due = b->ol_limit;
    while (b->ol_next < due && b->nidle > 0) {
        struct conn *c = &b->conns[b->idle[--b->nidle]];
        uint64_t i = b->ol_next++;
        conn_send(c, ol_due(b, i), i >= b->ol_from);
    }
    if (due > b->ol_next && due - b->ol_next > b->ol_backlog_max)
        b->ol_backlog_max = due - b->ol_next;
    if (due >= b->ol_limit)
        return;
    uint64_t next = ol_due(b, due);
    if (next < now + b->o.tick_ns)      /* what falls due meanwhile waits */
        next = now + b->o.tick_ns;
#ifdef __linux__
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = (time_t)(next / 1000000000u);
    its.it_value.tv_nsec = (long)(next % 1000000000u);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1;
    timerfd_settime(b->tfd, TFD_TIMER_ABSTIME, &its, NULL);
#else
    (void)next;                         /* the 1 ms repeating timer ticks */
#endif
}

#ifdef __linux__
static void on_tfd(uv_poll_t *p, int status, int events)
{
    struct bench *b = p->data;
    uint64_t expirations;
    (void)status;
    (void)events;
    if (read(b->tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
        return;
    ol_tick(b);
}
#else
static void on_ttimer(uv_timer_t *t)
{
    ol_tick(t->data);
}
#endif

/* ---- phases ------------------------------------------------------------- */

static void bench_finish(struct bench *b)
{
    b->phase = PH_DONE;
    b->issuing = false;
    uv_timer_stop(&b->sweep);
    uv_close((uv_handle_t *)&b->sweep, NULL);
    uv_close((uv_handle_t *)&b->sigint, NULL);
    uv_close((uv_handle_t *)&b->sigterm, NULL);
    if (b->o.rate > 0) {
#ifdef __linux__
        uv_poll_stop(&b->tpoll);
        uv_close((uv_handle_t *)&b->tpoll, NULL);
#else
        uv_close((uv_handle_t *)&b->ttimer, NULL);
#endif
        if (b->ol_limit != UINT64_MAX && b->ol_limit > b->ol_next)  /* due, never sent */
            b->errs[ERR_UNSENT] += b->ol_limit - (b->ol_next > b->ol_from
                                                  ? b->ol_next : b->ol_from);
    }
    for (unsigned i = 0; i < b->o.connections; i++) {
        struct conn *c = &b->conns[i];
        if (c->state == C_CONNECTING || c->state == C_READY || c->state == C_BUSY) {
            c->state = C_CLOSING;
            uv_close(&c->u.h, NULL);
        }
    }
}

static void bench_stop_issuing(struct bench *b)
{
    if (b->phase != PH_MEASURE)
        return;
    uint64_t now = now_ns();
    b->phase = PH_DRAIN;
    b->t_stop_issue = now;
    b->t_drain_end = now + (uint64_t)(b->o.timeout * 1e9) + 1000000000u;
    if (b->o.rate > 0) {
        /* Nothing due after now; what is due still goes out. */
        uint64_t due = (uint64_t)floor((double)(now - b->ol_t0) * b->o.rate / 1e9) + 1;
        if (due < b->ol_limit)
            b->ol_limit = due;
        ol_tick(b);
        if (b->ol_next >= b->ol_limit)
            b->issuing = false;
    } else {
        b->issuing = false;
    }
    bench_check_done(b);
}

static void bench_check_done(struct bench *b)
{
    if (b->o.rate <= 0 && b->phase == PH_MEASURE && !b->issuing)
        bench_stop_issuing(b);         /* closed loop: count bound reached */
    if (b->o.rate > 0 && b->phase == PH_MEASURE && b->ol_next >= b->ol_limit)
        bench_stop_issuing(b);
    if (b->phase != PH_DRAIN)
        return;
    if (b->o.rate > 0 && b->ol_next >= b->ol_limit)
        b->issuing = false;
    if (!b->issuing && b->busy == 0)
        bench_finish(b);
}

static void bench_measure(struct bench *b)
{
    uint64_t now = now_ns();
    b->phase = PH_MEASURE;
    b->t_measure = now;
    b->t_last = now;
    b->t_deadline = now + (uint64_t)(b->o.duration * 1e9);
    /* What happened before does not count. */
    for (int e = 0; e < ERR_N; e++)
        b->errs[e] = 0;
    if (b->o.rate > 0) {
        b->ol_from = (uint64_t)ceil((double)(now - b->ol_t0) * b->o.rate / 1e9);
        if (b->ol_from < b->ol_next)
            b->ol_from = b->ol_next;
        /* Both bounds as an index: the first request not due before the
         * deadline, and the request count. */
        b->ol_limit = (uint64_t)ceil((double)(b->t_deadline - b->ol_t0) * b->o.rate / 1e9);
        if (b->o.requests > 0 && b->ol_from + b->o.requests < b->ol_limit)
            b->ol_limit = b->ol_from + b->o.requests;
        b->ol_backlog_max = 0;
    }
}

static void bench_begin(struct bench *b)
{
    uint64_t now = now_ns();
    b->phase = PH_WARMUP;
    b->issuing = true;
    b->up_at_start = b->connected;
    b->t_warmup_end = now + (uint64_t)(b->o.warmup * 1e9);
    if (b->o.rate > 0) {
        b->ol_t0 = now;
        b->ol_next = 0;
        b->ol_from = UINT64_MAX;
        b->ol_limit = UINT64_MAX;
    }
    if (b->o.warmup <= 0)
        bench_measure(b);
    if (b->o.rate > 0) {
        ol_tick(b);
        return;
    }
    for (unsigned i = 0; i < b->o.connections && b->issuing; i++) {
        struct conn *c = &b->conns[i];
        if (c->state == C_READY)
            conn_send(c, 0, b->phase == PH_MEASURE);
    }
}

/* Every BENCH_SWEEP_MS: phase changes, timeouts, reconnects. */
static void on_sweep(uv_timer_t *t)
{
    struct bench *b = t->data;
    uint64_t now = now_ns();

    if (b->phase == PH_CONNECT) {
        if (b->connected == b->o.connections
            || now - b->t_start > BENCH_CONNECT_MS * 1000000ull) {
            if (b->connected == 0) {
                fprintf(stderr, "policybench: cannot connect to %s\n", b->o.endpoint);
                bench_finish(b);
                return;
            }
            if (b->connected < b->o.connections)
                fprintf(stderr, "policybench: only %u of %u connections up; going on\n",
                        b->connected, b->o.connections);
            bench_begin(b);
        }
    } else if (b->phase == PH_WARMUP && now >= b->t_warmup_end) {
        bench_measure(b);
    }
    if (b->phase == PH_MEASURE && now >= b->t_deadline)
        bench_stop_issuing(b);
    if (b->phase == PH_DRAIN && now >= b->t_drain_end) {
        bench_finish(b);
        return;
    }
    if (b->phase == PH_DONE)
        return;

    /* Requests sent above (phase changes) are younger than now. */
    uint64_t limit = (uint64_t)(b->o.timeout * 1e9);
    for (unsigned i = 0; i < b->o.connections; i++) {
        struct conn *c = &b->conns[i];
        if (c->state == C_BUSY && now > c->t_sent && now - c->t_sent > limit)
            conn_fail(c, ERR_TIMEOUT);
        else if (c->state == C_CLOSED && now >= c->retry_at && b->phase != PH_DRAIN)
            conn_open(b, c);
    }
    bench_check_done(b);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct bench *b = s->data;
    (void)signum;
    if (b->phase == PH_MEASURE) {
        bench_stop_issuing(b);
    } else if (b->phase != PH_DONE) {
        b->phase = PH_DRAIN;
        bench_finish(b);
    }
}

/* ---- output ------------------------------------------------------------- */

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
         + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void report(const struct bench *b)
{
    const struct options *o = &b->o;
    uint64_t end = b->t_last > b->t_measure ? b->t_last : b->t_measure;
    if (b->t_stop_issue > end && b->replies == 0)
        end = b->t_stop_issue;
    double secs = (double)(end - b->t_measure) / 1e9;
    double rps = secs > 0 ? (double)b->replies / secs : 0;
    uint64_t errors = 0;
    for (int e = 0; e < ERR_N; e++)
        errors += b->errs[e];
    const struct hist *h = &b->lat;
    double mean = h->n ? h->sum / (double)h->n / 1e6 : 0;
    char skew[32];
    if (o->zipf > 0)
        snprintf(skew, sizeof skew, "zipf:%g", o->zipf);
    else
        snprintf(skew, sizeof skew, "uniform");

    if (o->json) {
        printf("{\"endpoint\":");
        json_string(o->endpoint);
        printf(",\"prefix\":");
        json_string(o->prefix);
        printf(",\"sender\":");
        json_string(o->sender);
        printf(",\"mode\":\"%s\",\"rate\":%g,\"connections\":%u,\"up_at_start\":%u,"
               "\"mix\":{\"rcpt\":%u,\"eom\":%u},\"accounts\":%" PRIu32 ",\"skew\":\"%s\","
               "\"warmup\":%g,\"requests\":%" PRIu64 ",\"sent\":%" PRIu64 ","
               "\"seconds\":%.3f,\"rps\":%.1f,"
               "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p99.9\":%.3f,"
               "\"max\":%.3f,\"mean\":%.3f},\"stages\":{\"rcpt\":%" PRIu64 ",\"eom\":%" PRIu64 "},"
               "\"actions\":{",
               o->rate > 0 ? "open" : "closed", o->rate, o->connections, b->up_at_start,
               o->w_rcpt, o->w_eom, o->accounts, skew, o->warmup, b->replies, b->sent, secs,
               rps, ms(hist_quantile(h, 0.50)), ms(hist_quantile(h, 0.90)),
               ms(hist_quantile(h, 0.99)), ms(hist_quantile(h, 0.999)), ms(h->max), mean,
               b->by_stage[0], b->by_stage[1]);
        for (int a = 0; a < ACT_N; a++)
            printf("%s\"%s\":%" PRIu64, a ? "," : "", act_keys[a], b->acts[a]);
        printf("},\"errors\":{\"total\":%" PRIu64, errors);
        for (int e = 0; e < ERR_N; e++)
            printf(",\"%s\":%" PRIu64, err_names[e], b->errs[e]);
        printf("},\"first\":{");
        for (int a = 0, n = 0; a < ACT_N; a++) {
            if (b->sample[a][0] == '\0')
                continue;
            printf("%s\"%s\":", n++ ? "," : "", act_keys[a]);
            json_string(b->sample[a]);
        }
        printf("},\"replies_all\":%" PRIu64 ",\"sent_all\":%" PRIu64 ",\"connects\":%" PRIu64
               ",\"backlog_max\":%" PRIu64 ",\"client_cpu_s\":%.3f}\n",
               b->replies_all, b->sent_all, b->connects, b->ol_backlog_max, cpu_seconds());
        return;
    }
    printf("policybench: %s, %u connections (%u up at start, %" PRIu64 " connects) to %s\n",
           o->rate > 0 ? "open loop" : "closed loop", o->connections, b->up_at_start,
           b->connects, o->endpoint);
    printf("  load       mix rcpt=%u,eom=%u, %" PRIu32 " accounts %s%s %s, sender \"%s\","
           " warmup %g s", o->w_rcpt, o->w_eom, o->accounts, o->prefix,
           o->accounts > 1 ? "0.." : "0", skew, o->sender, o->warmup);
    if (o->rate > 0)
        printf(", rate %g req/s (backlog max %" PRIu64 ")", o->rate, b->ol_backlog_max);
    printf("\n  requests   %" PRIu64 " in %.3f s = %.0f req/s (RCPT %" PRIu64
           ", END-OF-MESSAGE %" PRIu64 ")\n", b->replies, secs, rps, b->by_stage[0],
           b->by_stage[1]);
    printf("  latency ms p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (mean %.3f)\n",
           ms(hist_quantile(h, 0.50)), ms(hist_quantile(h, 0.90)), ms(hist_quantile(h, 0.99)),
           ms(hist_quantile(h, 0.999)), ms(h->max), mean);
    printf("  actions   ");
    for (int a = 0; a < ACT_N; a++)
        printf(" %s %" PRIu64, act_names[a], b->acts[a]);
    printf("\n  errors     %" PRIu64 " (", errors);
    for (int e = 0; e < ERR_N; e++)
        printf("%s%s %" PRIu64, e ? ", " : "", err_names[e], b->errs[e]);
    printf(")\n  client     %.2f CPU-s for %" PRIu64 " replies (warmup included)\n",
           cpu_seconds(), b->replies_all);
    for (int a = 0; a < ACT_N; a++)
        if (b->sample[a][0] != '\0')
            printf("  first %-5s action=%s\n", act_names[a], b->sample[a]);
}

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: policybench --socket unix:PATH|inet:HOST:PORT [options]\n"
        "  --connections N     persistent connections (default 50)\n"
        "  --duration SECONDS  measuring time bound (default 10; 600 with --requests)\n"
        "  --requests N        measured request bound (default none)\n"
        "  --warmup SECONDS    load before measuring, not counted (default 1)\n"
        "  --mix rcpt=R,eom=E  weights of RCPT and END-OF-MESSAGE requests (default 1,0)\n"
        "  --accounts N        account population PREFIX0..PREFIXN-1 (default 10000)\n"
        "  --prefix PREFIX     account names' prefix, [A-Za-z0-9._-] (default acct)\n"
        "  --sender PATTERN    envelope sender: %%a the account, %%n its number, %%%% a\n"
        "                      percent sign; \"\" the null sender (default %%a@example.com)\n"
        "  --skew uniform|zipf:S  account popularity (default uniform)\n"
        "  --rate R            open loop: R requests/s in all (default: closed loop)\n"
        "  --tick US           open loop: wake at most every US microseconds and send\n"
        "                      what fell due meanwhile (default 0: at each due time)\n"
        "  --timeout SECONDS   per-request timeout (default 5)\n"
        "  --seed N            random seed (default 1)\n"
        "  --json              one-line JSON summary\n");
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

static bool parse_endpoint(struct options *o, const char *s)
{
    snprintf(o->endpoint, sizeof o->endpoint, "%s", s);
    if (strncmp(s, "unix:", 5) == 0 || s[0] == '/') {
        const char *p = s[0] == '/' ? s : s + 5;
        if (*p == '\0' || strlen(p) >= sizeof o->path)
            return false;
        o->kind = EP_UNIX;
        snprintf(o->path, sizeof o->path, "%s", p);
        return true;
    }
    if (strncmp(s, "inet:", 5) != 0)
        return false;
    char host[256];
    const char *p = s + 5, *port;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - p - 1) >= sizeof host)
            return false;
        memcpy(host, p + 1, (size_t)(close - p - 1));
        host[close - p - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(p, ':');
        if (colon == NULL || (size_t)(colon - p) >= sizeof host)
            return false;
        memcpy(host, p, (size_t)(colon - p));
        host[colon - p] = '\0';
        port = colon + 1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (*host == '\0' || *port == '\0' || getaddrinfo(host, port, &hints, &res) != 0
        || res == NULL)
        return false;
    memcpy(&o->sa, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    o->kind = EP_INET;
    return true;
}

/* --prefix: 1..BENCH_PREFIX_MAX bytes of [A-Za-z0-9._-]. */
static bool parse_prefix(struct options *o, const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > BENCH_PREFIX_MAX || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        "abcdefghijklmnopqrstuvwxyz0123456789._-") != n)
        return false;
    memcpy(o->prefix, s, n + 1);
    return true;
}

/* --sender: printable ASCII without spaces, %a %n %% only, and short
 * enough that every expansion fits. */
static bool parse_sender(struct options *o, const char *s)
{
    size_t len = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p <= ' ' || *p > '~')
            return false;
        if (*p == '%') {
            p++;
            if (*p == 'a')
                len += BENCH_PREFIX_MAX + 10;
            else if (*p == 'n')
                len += 10;
            else if (*p == '%')
                len++;
            else
                return false;
        } else {
            len++;
        }
    }
    if (len > BENCH_SENDER_MAX)
        return false;
    memcpy(o->sender, s, strlen(s) + 1);
    return true;
}

static bool parse_mix(struct options *o, const char *s)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    unsigned r = 0, e = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        uint64_t v;
        if (strncmp(tok, "rcpt=", 5) == 0 && parse_u64(tok + 5, 0, 1000000, &v))
            r = (unsigned)v;
        else if (strncmp(tok, "eom=", 4) == 0 && parse_u64(tok + 4, 0, 1000000, &v))
            e = (unsigned)v;
        else
            return false;
    }
    if (r + e == 0)
        return false;
    o->w_rcpt = r;
    o->w_eom = e;
    return true;
}

static void parse_options(struct options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "socket", required_argument, NULL, 's' },
        { "connections", required_argument, NULL, 'c' },
        { "requests", required_argument, NULL, 'n' },
        { "duration", required_argument, NULL, 'd' },
        { "warmup", required_argument, NULL, 'w' },
        { "mix", required_argument, NULL, 'm' },
        { "accounts", required_argument, NULL, 'a' },
        { "skew", required_argument, NULL, 'k' },
        { "rate", required_argument, NULL, 'r' },
        { "tick", required_argument, NULL, 'T' },
        { "timeout", required_argument, NULL, 't' },
        { "seed", required_argument, NULL, 'S' },
        { "json", no_argument, NULL, 'j' },
        { "prefix", required_argument, NULL, 'P' },
        { "sender", required_argument, NULL, 'F' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    bool have_socket = false, have_duration = false, ok = true;
    uint64_t v;
    int ch, li = 0;

    memset(o, 0, sizeof *o);
    o->connections = 50;
    o->duration = 10;
    o->warmup = 1;
    o->timeout = 5;
    o->w_rcpt = 1;
    o->accounts = 10000;
    o->seed = 1;
    memcpy(o->prefix, "acct", 5);
    memcpy(o->sender, "%a@example.com", 15);
    while (ok && (ch = getopt_long(argc, argv, "", longopts, &li)) != -1) {
        switch (ch) {
        case 's': ok = have_socket = parse_endpoint(o, optarg); break;
        case 'c': ok = parse_u64(optarg, 1, BENCH_CONN_MAX, &v); o->connections = (unsigned)v; break;
        case 'n': ok = parse_u64(optarg, 1, UINT64_MAX / 2, &o->requests); break;
        case 'd': ok = have_duration = parse_double(optarg, 0.001, 86400, &o->duration); break;
        case 'w': ok = parse_double(optarg, 0, 3600, &o->warmup); break;
        case 'm': ok = parse_mix(o, optarg); break;
        case 'a': ok = parse_u64(optarg, 1, BENCH_ACCT_MAX, &v); o->accounts = (uint32_t)v; break;
        case 'k':
            if (strcmp(optarg, "uniform") == 0)
                o->zipf = 0;
            else
                ok = strncmp(optarg, "zipf:", 5) == 0
                     && parse_double(optarg + 5, 0.01, 10, &o->zipf);
            break;
        case 'r': ok = parse_double(optarg, 0.001, 1e8, &o->rate); break;
        case 'T': ok = parse_u64(optarg, 0, 1000000, &v); o->tick_ns = v * 1000; break;
        case 't': ok = parse_double(optarg, 0.001, 3600, &o->timeout); break;
        case 'S': ok = parse_u64(optarg, 0, UINT64_MAX, &o->seed); break;
        case 'j': o->json = true; break;
        case 'P': ok = parse_prefix(o, optarg); break;
        case 'F': ok = parse_sender(o, optarg); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
        if (!ok) {
            fprintf(stderr, "policybench: bad value for --%s: %s\n", longopts[li].name, optarg);
            exit(2);
        }
    }
    if (optind < argc || !have_socket) {
        usage(stderr);
        exit(2);
    }
    if (o->zipf > 0 && o->accounts > BENCH_ZIPF_MAX) {
        fprintf(stderr, "policybench: --skew zipf takes at most %u accounts\n", BENCH_ZIPF_MAX);
        exit(2);
    }
    if (o->requests > 0 && !have_duration)
        o->duration = 600;              /* a safety bound */
}

/* The soft limit of open files must cover the connections. */
static void raise_nofile(unsigned conns)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)conns + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want) {
        fprintf(stderr, "policybench: %u connections need %llu open files; the limit is %llu "
                "(raise ulimit -n)\n", conns, (unsigned long long)want,
                (unsigned long long)rl.rlim_cur);
        exit(2);
    }
}

static double *zipf_table(uint32_t n, double s)
{
    double *cdf = malloc((size_t)n * sizeof *cdf);
    if (cdf == NULL) {
        fprintf(stderr, "policybench: out of memory\n");
        exit(2);
    }
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        sum += pow((double)i + 1.0, -s);
        cdf[i] = sum;
    }
    for (uint32_t i = 0; i < n; i++)
        cdf[i] /= sum;
    cdf[n - 1] = 1.0;
    return cdf;
}

int main(int argc, char **argv)
{
    static struct bench bench;          /* the histogram is 36 KiB */
    struct bench *b = &bench;

    parse_options(&b->o, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(b->o.connections);

    b->loop = uv_default_loop();
    b->rng = b->o.seed ^ 0x6F7574706F7374ull;    /* "outpost" */
    {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        /* queue_id numbers: different in every run (they end up in dedupe keys) */
        b->qid_base = ((uint64_t)tv.tv_sec << 20 ^ (uint64_t)tv.tv_usec << 8) & 0xFFFFFFFFFFull;
    }
    if (b->o.zipf > 0)
        b->zipf_cdf = zipf_table(b->o.accounts, b->o.zipf);
    b->conns = calloc(b->o.connections, sizeof *b->conns);
    b->idle = calloc(b->o.connections, sizeof *b->idle);
    if (b->conns == NULL || b->idle == NULL) {
        fprintf(stderr, "policybench: out of memory\n");
        return 2;
    }
    if (b->o.rate > 0) {
#ifdef __linux__
        b->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (b->tfd < 0 || uv_poll_init(b->loop, &b->tpoll, b->tfd) != 0) {
            perror("policybench: timerfd");
            return 2;
        }
        b->tpoll.data = b;
        uv_poll_start(&b->tpoll, UV_READABLE, on_tfd);
#else
        uv_timer_init(b->loop, &b->ttimer);
        b->ttimer.data = b;
        uv_timer_start(&b->ttimer, on_ttimer, 1, 1);
#endif
    }
    uv_timer_init(b->loop, &b->sweep);
    b->sweep.data = b;
    uv_timer_start(&b->sweep, on_sweep, BENCH_SWEEP_MS, BENCH_SWEEP_MS);
    uv_signal_init(b->loop, &b->sigint);
    uv_signal_init(b->loop, &b->sigterm);
    b->sigint.data = b->sigterm.data = b;
    uv_signal_start(&b->sigint, on_signal, SIGINT);
    uv_signal_start(&b->sigterm, on_signal, SIGTERM);

    b->phase = PH_CONNECT;
    b->t_start = now_ns();
    for (unsigned i = 0; i < b->o.connections; i++) {
        b->conns[i].b = b;
        b->conns[i].idx = i;
        conn_open(b, &b->conns[i]);
    }
    uv_run(b->loop, UV_RUN_DEFAULT);

    /* 1: nothing measured (no server?) or not one reply. */
    int status = b->t_measure == 0 || b->replies == 0 ? 1 : 0;
    if (b->t_measure != 0)
        report(b);
    uv_loop_close(b->loop);
#ifdef __linux__
    if (b->o.rate > 0)
        close(b->tfd);
#endif
    free(b->conns);
    free(b->idle);
    free(b->zipf_cdf);
    return status;
}
