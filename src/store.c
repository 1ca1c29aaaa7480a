/* store.c - the Redis link (see store.h).
 *
 * States:  DOWN --(backoff timer)--> RESOLVING (uv_getaddrinfo, host names
 * only) --> CONNECTING (redisAsyncConnect*, commands of the handshake
 * already queued: AUTH, SELECT, FUNCTION LOAD REPLACE (both libraries),
 * SCRIPT LOAD, CONFIG
 * GET maxmemory-policy, EXISTS marker) --(last handshake reply)--> READY.
 * One timer bounds CONNECTING+handshake (redis.connect_timeout_ms); any
 * failure goes back to DOWN and arms the backoff timer (100 ms doubling to
 * 2 s, +-20 % jitter; reset once READY).  State changes are logged once;
 * a repeated identical error is logged again at most once a minute.
 *
 * Calls: store_eval() formats its arguments (RESP) into a struct store_call
 * (kept for a resend), links it at the tail of s->calls (send order), takes a
 * reference on the request and sends EVALSHA.  store_decide()
 * does the same but queues the call (s->queue) instead of sending it; a
 * prepare and a check handle, started while the queue is not empty, empty
 * it at the end of the loop iteration (the check phase, after the I/O
 * callbacks; the prepare phase, before the loop would block, for calls
 * queued by a timer): store_flush() cuts it into batches of at most
 * redis.batch_max calls, each one FCALL NAME_batch (struct store_batch,
 * the hiredis callback's data), composed from the group's shared part
 * (struct store_gfmt, formatted once per configuration) and each call's
 * own keys and arguments.  A batch is answered by one array, one element
 * per call, which store_on_batch() hands to each call as its own reply.  The single deadline
 * timer walks the list: calls past their deadline are answered ok == false
 * (the reply, when it comes, is dropped); if the oldest call is 2 x
 * timeout_ms old the connection is dropped, which makes hiredis answer
 * every call with NULL.  A call is freed only in its hiredis callback,
 * because hiredis 0.14 cannot cancel a command.
 *
 * hiredis rules kept here (REFERENCE §2.1): never free the context inside
 * its connect callback (drop_later() defers through a zero timer); after
 * the connect-failure and disconnect callbacks hiredis frees the context
 * itself, so s->ac is cleared there; every reply callback copes with
 * reply == NULL. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "request.h"
#include "store.h"
#include "store_uv.h"
#include "xalloc.h"

#define STORE_FILE_MAX (1024 * 1024)    /* bytes of one Lua file of policy_dir */

enum store_state { ST_DOWN, ST_RESOLVING, ST_CONNECTING, ST_READY, ST_STOPPED };

/* Handshake steps, passed as the reply callbacks' privdata. */
enum store_step { STEP_AUTH = 1, STEP_SELECT, STEP_FUNCTION, STEP_SCRIPT,
                  STEP_SCRIPT_LAST = STEP_SCRIPT + STORE_NLUA - 1,
                  STEP_POLICY, STEP_MARKER };

/* The Lua files of policy_dir: decide.lua is a Functions library of its
 * own (called with FCALL, the function named like the library on its
 * first line "#!lua name=NAME"), undo.lua a script (EVALSHA). */
static const char *const store_files[STORE_NLUA] = { "decide.lua", "undo.lua" };
static const bool store_is_function[STORE_NLUA] = { true, false };
#define STORE_LIBRARY "outpost.lua"
#define STORE_FN_MAX  64                /* bytes of a library's name */
/* "*N\r\n$7\r\nEVALSHA\r\n$40\r\nSHA\r\n$K\r\nNKEYS\r\n" */
#define STORE_HEAD_MAX 128

struct store_call {
    struct store      *s;
    struct store_call *next, *prev;     /* in s->calls, send order */
    struct request    *rq;              /* one reference, or NULL (raw) */
    store_cb          *cb;              /* NULL for a raw command */
    store_raw_cb      *raw;             /* store_command()'s callback */
    store_cb          *late;            /* or NULL: a reply after the deadline */
    void              *arg;             /* for cb and late; not owned */
    uint64_t           sent_ms;         /* uv_now() */
    uint64_t           sent_ns;         /* uv_hrtime(): the round-trip time */
    uint64_t           deadline_ms;
    uint64_t           stale_ms;        /* past it, the link is dropped */
    bool               answered;        /* cb has run */
    bool               retried;         /* NOSCRIPT resend done */
    struct store_call *qnext;           /* store_decide(): in s->queue, not sent yet */
    enum store_lua  which;
    int                argc, nkeys;
    size_t             args_len;        /* bytes of the arguments in buf */
    size_t             keys_len;        /* store_decide(): of which its keys' */
    /* store_eval(): STORE_HEAD_MAX bytes of room, then the arguments as
     * RESP bulk strings: each send writes the header (array length,
     * EVALSHA SHA NKEYS) right before them and hands hiredis one
     * formatted command.  store_decide(): no room, the call's own keys
     * then its own arguments, copied into its batch's command. */
    char               buf[];
};

/* A store_group formatted (RESP bulk strings): the shared keys, the shared
 * arguments, the on-demand last one.  Referenced by the store while it is
 * the current group and by every batch sent with it. */
struct store_gfmt {
    unsigned  refs;
    uint64_t  gen;
    int       nkeys, nargs, own_keys, own_args;
    size_t    keys_len, args_len, last_len;
    char     *keys, *args, *last;       /* into data */
    char      data[];
};

/* One FCALL NAME_batch in flight: its calls in send order. */
struct store_batch {
    struct store      *s;
    struct store_gfmt *g;               /* a reference */
    bool               retried;         /* "Function not found" resend done */
    bool               with_last;       /* the configuration text is sent */
    size_t             n;
    struct store_call *c[];
};

struct store {
    enum store_role       role;
    const char           *name;         /* "redis" or "redis (verdicts)": logs */
    uv_loop_t            *loop;
    struct config *const *cfg;          /* the daemon's current config */
    redisAsyncContext    *ac;           /* NULL when DOWN/RESOLVING */
    enum store_state      state;
    uv_timer_t            retry;        /* backoff */
    uv_timer_t            connecting;   /* connect + handshake deadline */
    uv_timer_t            deadline;     /* calls' deadlines */
    uv_timer_t            health;       /* marker check while READY */
    uv_timer_t            dropper;      /* drop_later() */
    uv_getaddrinfo_t      gai;
    bool                  gai_busy;
    char                  port[8];      /* for the resolved TCP address */
    const char           *drop_why;     /* static; for dropper */
    unsigned              backoff_ms;
    uint64_t              rnd;          /* xorshift state for jitter */

    struct store_call    *head, *tail;  /* calls in flight */
    size_t                ncalls;
    struct store_call    *queue, *queue_tail;   /* store_decide(), not sent */
    struct store_gfmt    *group;        /* the current one (a reference) or NULL */
    uv_prepare_t          flush_prepare;
    uv_check_t            flush_check;
    char                 *fbuf;         /* owned; a batch's command is formatted
                                           here (hiredis copies it): grows, kept */
    size_t                fbuf_cap;

    char                 *body[STORE_NLUA];  /* owned texts of the Lua files */
    size_t                body_len[STORE_NLUA];
    char                  sha[STORE_NLUA][41];  /* scripts */
    char                  fn[STORE_NLUA][STORE_FN_MAX + 1]; /* Functions */
    char                  fn_batch[STORE_FN_MAX + sizeof "_batch"];
    char                 *library;      /* owned; the Functions library */
    size_t                library_len;

    bool                  state_lost;   /* marker missing */
    bool                  hs_failed;    /* a handshake step failed: the
                                           replies still queued are ignored */
    bool                  was_ready;    /* for "connection lost" vs "cannot connect" */
    char                  last_err[256];
    uint64_t              last_err_ms;
    unsigned long         suppressed;
    struct store_stats    st;
};

static void store_connect(struct store *s);
static void store_schedule(struct store *s);

/* ---- logging state changes once ------------------------------------- */

static void store_fail_log(struct store *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void store_fail_log(struct store *s, const char *fmt, ...)
{
    char msg[sizeof s->last_err];
    va_list ap;
    uint64_t now = uv_now(s->loop);

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (strcmp(msg, s->last_err) == 0 && now - s->last_err_ms < 60000) {
        s->suppressed++;
        return;
    }
    if (s->suppressed > 0 && strcmp(msg, s->last_err) == 0)
        log_err("%s: %s (%lu more times)", s->name, msg, s->suppressed);
    else
        log_err("%s: %s", s->name, msg);
    snprintf(s->last_err, sizeof s->last_err, "%s", msg);
    s->last_err_ms = now;
    s->suppressed = 0;
}

/* ---- set-up ----------------------------------------------------------- */

struct store *store_new(uv_loop_t *loop, struct config *const *cfg, enum store_role role)
{
    struct store *s = xcalloc(1, sizeof *s);
    s->role = role;
    s->name = role == STORE_ROLE_DECIDE ? "redis" : "redis (verdicts)";
    s->loop = loop;
    s->cfg = cfg;
    s->state = ST_DOWN;
    s->backoff_ms = STORE_BACKOFF_MIN_MS;
    s->rnd = uv_hrtime() | 1;
    uv_timer_init(loop, &s->retry);
    uv_timer_init(loop, &s->connecting);
    uv_timer_init(loop, &s->deadline);
    uv_timer_init(loop, &s->health);
    uv_timer_init(loop, &s->dropper);
    uv_prepare_init(loop, &s->flush_prepare);
    uv_check_init(loop, &s->flush_check);
    s->retry.data = s->connecting.data = s->deadline.data = s->health.data =
        s->dropper.data = s->flush_prepare.data = s->flush_check.data = s;
    s->gai.data = s;
    return s;
}

bool store_ready(const struct store *s)
{
    return s->state == ST_READY;
}

bool store_state_lost(const struct store *s)
{
    return s->state_lost;
}

const struct store_stats *store_stats(const struct store *s)
{
    return &s->st;
}

/* Reads dir/name (at most STORE_FILE_MAX bytes) into a new buffer. */
static char *store_read_file(const char *dir, const char *name, size_t *len)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_err("redis: cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size > STORE_FILE_MAX) {
        log_err("redis: %s: empty or larger than %d bytes", path, STORE_FILE_MAX);
        close(fd);
        return NULL;
    }
    char *buf = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != (size_t)st.st_size) {
        log_err("redis: %s: short read", path);
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

/* The NAME of a library's first line "#!lua name=NAME" into fn; -1 if
 * there is no such line or NAME is not 1..STORE_FN_MAX of [A-Za-z0-9_]. */
static int store_library_name(const char *body, char fn[STORE_FN_MAX + 1])
{
    static const char shebang[] = "#!lua name=";
    size_t n = 0;

    if (strncmp(body, shebang, sizeof shebang - 1) != 0)
        return -1;
    for (const char *p = body + sizeof shebang - 1; *p != '\n' && *p != '\0'; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9') || *p == '_';
        if (!ok || n == STORE_FN_MAX)
            return -1;
        fn[n++] = *p;
    }
    fn[n] = '\0';
    return n > 0 ? 0 : -1;
}

/* Scripts are read again at every connect: an upgrade of policy/ applies
 * at the next reconnect or reload. */
static int store_load_files(struct store *s)
{
    const char *dir = (*s->cfg)->policy_dir;
    for (int i = 0; i < STORE_NLUA; i++) {
        size_t len;
        char *b = store_read_file(dir, store_files[i], &len);
        if (b == NULL)
            return -1;
        if (store_is_function[i] && store_library_name(b, s->fn[i]) != 0) {
            log_err("redis: %s/%s: the first line is not \"#!lua name=NAME\" "
                    "(NAME: 1 to %d letters, digits or _)", dir, store_files[i], STORE_FN_MAX);
            free(b);
            return -1;
        }
        free(s->body[i]);
        s->body[i] = b;
        s->body_len[i] = len;
    }
    snprintf(s->fn_batch, sizeof s->fn_batch, "%s_batch", s->fn[STORE_DECIDE]);
    size_t len;
    char *lib = store_read_file(dir, STORE_LIBRARY, &len);
    if (lib == NULL)
        return -1;
    free(s->library);
    s->library = lib;
    s->library_len = len;
    return 0;
}

/* ---- dropping and reconnecting --------------------------------------- */

/* Not from inside a hiredis connect callback (see drop_later). */
static void store_drop(struct store *s, const char *why)
{
    redisAsyncContext *ac = s->ac;

    uv_timer_stop(&s->connecting);
    uv_timer_stop(&s->health);
    if (s->state == ST_READY) {
        s->st.disconnects++;
        log_err("%s: connection lost: %s", s->name, why);
        s->last_err[0] = '\0';
    }
    s->state = s->state == ST_STOPPED ? ST_STOPPED : ST_DOWN;
    s->ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac);    /* pending calls are answered with NULL now */
    store_schedule(s);
}

static void store_on_dropper(uv_timer_t *t)
{
    struct store *s = t->data;
    store_drop(s, s->drop_why ? s->drop_why : "dropped");
}

static void store_drop_later(struct store *s, const char *why)
{
    s->drop_why = why;
    uv_timer_start(&s->dropper, store_on_dropper, 0, 0);
}

static void store_on_retry(uv_timer_t *t)
{
    store_connect(t->data);
}

static void store_schedule(struct store *s)
{
    if (s->state == ST_STOPPED)
        return;
    /* +-20 % jitter so that many MTAs do not reconnect in step */
    s->rnd ^= s->rnd << 13;
    s->rnd ^= s->rnd >> 7;
    s->rnd ^= s->rnd << 17;
    uint64_t span = s->backoff_ms * 2 / 5 + 1;
    uint64_t delay = s->backoff_ms - s->backoff_ms / 5 + s->rnd % span;
    uv_timer_start(&s->retry, store_on_retry, delay, 0);
    s->backoff_ms = s->backoff_ms * 2 > STORE_BACKOFF_MAX_MS ? STORE_BACKOFF_MAX_MS
                                                            : s->backoff_ms * 2;
}

static void store_on_connect_deadline(uv_timer_t *t)
{
    struct store *s = t->data;
    store_fail_log(s, "cannot connect to %s: no answer within %lld ms",
                   (*s->cfg)->redis.address,
                   (long long)(*s->cfg)->redis.connect_timeout_ms);
    if (s->state == ST_RESOLVING && s->gai_busy) {
        uv_cancel((uv_req_t *)&s->gai);   /* its callback then does nothing */
        s->state = ST_DOWN;
        store_schedule(s);
        return;
    }
    store_drop(s, "connect timeout");
}

/* ---- the handshake ----------------------------------------------------- */

static void store_on_marker(redisAsyncContext *ac, void *reply, void *arg);

static void store_check_marker(struct store *s)
{
    char key[KEYS_MAX];
    const char *argv[2] = { "EXISTS", key };
    size_t lens[2] = { 6, keys_global(key, (*s->cfg)->redis.prefix, "meta", "marker") };
    redisAsyncCommandArgv(s->ac, store_on_marker, NULL, 2, argv, lens);
}

static void store_on_health(uv_timer_t *t)
{
    struct store *s = t->data;
    if (s->state == ST_READY && s->ac != NULL)
        store_check_marker(s);
}

static void store_set_marker(struct store *s, bool present)
{
    if (!present && !s->state_lost) {
        char key[KEYS_MAX];
        keys_global(key, (*s->cfg)->redis.prefix, "meta", "marker");
        log_err("redis: ALARM: state marker %s is missing: this Redis was emptied, "
                "replaced, or never initialised; identity enforcement falls back to "
                "monitor until an operator runs `outpostctl init`", key);
    } else if (present && s->state_lost) {
        log_notice("redis: state marker present again; alarm cleared");
    }
    s->state_lost = !present;
}

static void store_on_marker(redisAsyncContext *ac, void *reply, void *arg)
{
    struct store *s = ac->data;
    redisReply *r = reply;
    (void)arg;
    if (r == NULL || ac != s->ac || s->hs_failed || r->type != REDIS_REPLY_INTEGER)
        return;
    store_set_marker(s, r->integer > 0);
}

static void store_ready_now(struct store *s)
{
    const struct config *cfg = *s->cfg;
    uv_timer_stop(&s->connecting);
    s->state = ST_READY;
    s->backoff_ms = STORE_BACKOFF_MIN_MS;
    s->st.connects++;
    s->was_ready = true;
    s->last_err[0] = '\0';
    s->suppressed = 0;
    log_notice("%s: connected to %s (db %lld), %s loaded", s->name, cfg->redis.address,
               (long long)cfg->redis.db, s->role == STORE_ROLE_DECIDE ? "Functions and scripts" : "Functions");
    if (s->role == STORE_ROLE_DECIDE)
        uv_timer_start(&s->health, store_on_health, STORE_HEALTH_MS, STORE_HEALTH_MS);
}

static void store_on_handshake(redisAsyncContext *ac, void *reply, void *arg)
{
    struct store *s = ac->data;
    redisReply *r = reply;
    enum store_step step = (enum store_step)(uintptr_t)arg;

    if (r == NULL || ac != s->ac || s->hs_failed)
        return;                 /* the connection is going away */
    if (r->type == REDIS_REPLY_ERROR) {
        char e[LOG_ESC_SIZE];
        switch (step) {
        case STEP_POLICY:       /* CONFIG may be forbidden by ACLs: fine */
            log_info("redis: cannot read maxmemory-policy: %s", log_escs(e, r->str));
            return;
        case STEP_AUTH:
            store_fail_log(s, "AUTH failed%s%s: %s",
                           (*s->cfg)->redis.username ? " for user " : "",
                           (*s->cfg)->redis.username ? (*s->cfg)->redis.username : "",
                           log_escs(e, r->str));
            break;
        case STEP_SELECT:
            store_fail_log(s, "SELECT %lld failed: %s", (long long)(*s->cfg)->redis.db,
                           log_escs(e, r->str));
            break;
        case STEP_FUNCTION:
            store_fail_log(s, "FUNCTION LOAD %s/%s failed: %s", (*s->cfg)->policy_dir,
                           STORE_LIBRARY, log_escs(e, r->str));
            break;
        default:
            if (step >= STEP_SCRIPT && step <= STEP_SCRIPT_LAST)
                store_fail_log(s, "%s %s/%s failed: %s",
                               store_is_function[step - STEP_SCRIPT] ? "FUNCTION LOAD"
                                                                     : "SCRIPT LOAD",
                               (*s->cfg)->policy_dir, store_files[step - STEP_SCRIPT],
                               log_escs(e, r->str));
            else
                store_fail_log(s, "handshake step %d failed: %s", (int)step,
                               log_escs(e, r->str));
            break;
        }
        s->hs_failed = true;    /* one failure, one log line, no READY */
        store_drop_later(s, "handshake failed");
        return;
    }
    if (step >= STEP_SCRIPT && step <= STEP_SCRIPT_LAST && store_is_function[step - STEP_SCRIPT]) {
        int i = (int)(step - STEP_SCRIPT);
        if (r->type != REDIS_REPLY_STRING || strcmp(r->str, s->fn[i]) != 0) {
            store_fail_log(s, "FUNCTION LOAD %s did not load library %s", store_files[i],
                           s->fn[i]);
            s->hs_failed = true;
            store_drop_later(s, "handshake failed");
        }
        return;
    }
    if (step >= STEP_SCRIPT && step <= STEP_SCRIPT_LAST) {
        int i = (int)(step - STEP_SCRIPT);
        if (r->type != REDIS_REPLY_STRING || r->len != 40) {
            store_fail_log(s, "SCRIPT LOAD %s gave no SHA1", store_files[i]);
            s->hs_failed = true;
            store_drop_later(s, "handshake failed");
            return;
        }
        memcpy(s->sha[i], r->str, 40);
        s->sha[i][40] = '\0';
        return;
    }
    switch (step) {
    case STEP_POLICY:
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2
            && r->element[1]->type == REDIS_REPLY_STRING
            && strcmp(r->element[1]->str, "noeviction") != 0) {
            char e[LOG_ESC_SIZE];
            log_warn("redis: maxmemory-policy is %s: Redis may evict outpost's keys "
                     "(counters, suspensions); set it to noeviction",
                     log_escs(e, r->element[1]->str));
        }
        break;
    case STEP_FUNCTION:
        if (s->role == STORE_ROLE_STREAM)
            store_ready_now(s);
        break;
    case STEP_MARKER:
        if (r->type == REDIS_REPLY_INTEGER)
            store_set_marker(s, r->integer > 0);
        store_ready_now(s);
        break;
    default:
        break;
    }
}

static void store_send(struct store *s, enum store_step step, int argc,
                       const char **argv, const size_t *lens)
{
    redisAsyncCommandArgv(s->ac, store_on_handshake, (void *)(uintptr_t)step,
                          argc, argv, lens);
}

static void store_handshake(struct store *s)
{
    const struct config *cfg = *s->cfg;
    char pw[CONFIG_PASSWORD_MAX + 2], err[512], db[24], key[KEYS_MAX];

    if (cfg->redis.password_file != NULL) {
        if (config_read_password(cfg, pw, sizeof pw, err, sizeof err) != 0) {
            store_fail_log(s, "%s", err);
            s->hs_failed = true;
            store_drop_later(s, "no password");
            return;
        }
        const char *argv[3] = { "AUTH", cfg->redis.username, pw };
        size_t lens[3] = { 4, cfg->redis.username ? strlen(cfg->redis.username) : 0,
                           strlen(pw) };
        if (cfg->redis.username != NULL)
            store_send(s, STEP_AUTH, 3, argv, lens);
        else {
            argv[1] = pw;
            lens[1] = lens[2];
            store_send(s, STEP_AUTH, 2, argv, lens);
        }
        memset(pw, 0, sizeof pw);
    }
    if (cfg->redis.db != 0) {
        snprintf(db, sizeof db, "%lld", (long long)cfg->redis.db);
        const char *argv[2] = { "SELECT", db };
        size_t lens[2] = { 6, strlen(db) };
        store_send(s, STEP_SELECT, 2, argv, lens);
    }
    {
        const char *argv[4] = { "FUNCTION", "LOAD", "REPLACE", s->library };
        size_t lens[4] = { 8, 4, 7, s->library_len };
        store_send(s, STEP_FUNCTION, 4, argv, lens);
    }
    if (s->role == STORE_ROLE_STREAM)
        return;                 /* no scripts, no marker: see store_role */
    for (int i = 0; i < STORE_NLUA; i++) {
        if (store_is_function[i]) {
            const char *argv[4] = { "FUNCTION", "LOAD", "REPLACE", s->body[i] };
            size_t lens[4] = { 8, 4, 7, s->body_len[i] };
            store_send(s, (enum store_step)(STEP_SCRIPT + i), 4, argv, lens);
        } else {
            const char *argv[3] = { "SCRIPT", "LOAD", s->body[i] };
            size_t lens[3] = { 6, 4, s->body_len[i] };
            store_send(s, (enum store_step)(STEP_SCRIPT + i), 3, argv, lens);
        }
    }
    {
        const char *argv[3] = { "CONFIG", "GET", "maxmemory-policy" };
        size_t lens[3] = { 6, 3, 16 };
        store_send(s, STEP_POLICY, 3, argv, lens);
    }
    {
        const char *argv[2] = { "EXISTS", key };
        size_t lens[2] = { 6, keys_global(key, cfg->redis.prefix, "meta", "marker") };
        store_send(s, STEP_MARKER, 2, argv, lens);
    }
}

static void store_on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct store *s = ac->data;

    if (ac != s->ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        s->ac = NULL;
        s->state = ST_DOWN;
        uv_timer_stop(&s->connecting);
        store_fail_log(s, "cannot connect to %s: %s", (*s->cfg)->redis.address,
                       ac->c.errstr[0] ? ac->c.errstr : "error");
        store_schedule(s);
    }
}

static void store_on_disconnect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct store *s = ac->data;
    (void)status;

    if (ac != s->ac)
        return;                 /* we dropped it ourselves */
    /* hiredis frees the context after this callback */
    s->ac = NULL;
    uv_timer_stop(&s->connecting);
    uv_timer_stop(&s->health);
    if (s->state == ST_READY) {
        s->st.disconnects++;
        log_err("%s: connection lost: %s", s->name, ac->c.errstr[0] ? ac->c.errstr : "closed");
    } else {
        store_fail_log(s, "connection to %s closed during the handshake: %s",
                       (*s->cfg)->redis.address, ac->c.errstr[0] ? ac->c.errstr : "closed");
    }
    s->state = ST_DOWN;
    store_schedule(s);
}

static void store_attach(struct store *s, redisAsyncContext *ac)
{
    if (ac == NULL || ac->err) {
        store_fail_log(s, "cannot connect to %s: %s", (*s->cfg)->redis.address,
                       ac ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        s->state = ST_DOWN;
        uv_timer_stop(&s->connecting);
        store_schedule(s);
        return;
    }
    int rc = store_uv_attach(ac, s->loop);
    if (rc != 0) {
        store_fail_log(s, "cannot watch the Redis socket: %s", uv_strerror(rc));
        redisAsyncFree(ac);
        s->state = ST_DOWN;
        uv_timer_stop(&s->connecting);
        store_schedule(s);
        return;
    }
    ac->data = s;
    s->ac = ac;
    s->hs_failed = false;
    s->state = ST_CONNECTING;
    redisAsyncSetConnectCallback(ac, store_on_connect);
    redisAsyncSetDisconnectCallback(ac, store_on_disconnect);
    store_handshake(s);         /* written by hiredis once connected */
}

static void store_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct store *s = req->data;
    char ip[INET6_ADDRSTRLEN] = "";

    s->gai_busy = false;
    if (status == UV_ECANCELED || s->state != ST_RESOLVING) {
        uv_freeaddrinfo(res);
        return;
    }
    if (status != 0 || res == NULL) {
        uv_freeaddrinfo(res);
        store_fail_log(s, "cannot resolve %s: %s", (*s->cfg)->redis.address,
                       uv_strerror(status));
        s->state = ST_DOWN;
        uv_timer_stop(&s->connecting);
        store_schedule(s);
        return;
    }
    if (res->ai_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, ip, sizeof ip);
    else
        uv_ip4_name((struct sockaddr_in *)res->ai_addr, ip, sizeof ip);
    uv_freeaddrinfo(res);
    store_attach(s, redisAsyncConnect(ip, atoi(s->port)));
}

static void store_connect(struct store *s)
{
    const struct config *cfg = *s->cfg;
    const char *addr = cfg->redis.address;
    char host[256];
    const char *port;

    if (s->state == ST_STOPPED || s->state == ST_CONNECTING || s->state == ST_READY
        || s->state == ST_RESOLVING)
        return;
    if (s->gai_busy) {          /* a cancelled lookup has not called back yet */
        store_schedule(s);
        return;
    }
    if (store_load_files(s) != 0) {
        store_schedule(s);
        return;
    }
    uv_timer_start(&s->connecting, store_on_connect_deadline,
                   (uint64_t)cfg->redis.connect_timeout_ms, 0);
    if (strncmp(addr, "unix:", 5) == 0) {
        store_attach(s, redisAsyncConnectUnix(addr + 5));
        return;
    }
    if (config_split_hostport(addr, host, sizeof host, &port) != 0) {
        store_fail_log(s, "redis.address %s is not HOST:PORT", addr);   /* config.c checked */
        uv_timer_stop(&s->connecting);
        store_schedule(s);
        return;
    }
    snprintf(s->port, sizeof s->port, "%s", port);
    unsigned char tmp[16];
    if (inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1) {
        store_attach(s, redisAsyncConnect(host, atoi(port)));
        return;
    }
    /* a host name: resolve without blocking the loop (hiredis would call
     * getaddrinfo() itself, blocking) */
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    s->state = ST_RESOLVING;
    s->gai_busy = true;
    int rc = uv_getaddrinfo(s->loop, &s->gai, store_on_resolved, host, port, &hints);
    if (rc != 0) {
        s->gai_busy = false;
        s->state = ST_DOWN;
        uv_timer_stop(&s->connecting);
        store_fail_log(s, "cannot resolve %s: %s", addr, uv_strerror(rc));
        store_schedule(s);
    }
}

void store_start(struct store *s)
{
    store_connect(s);
}

static bool store_str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

void store_reconfigure(struct store *s, const struct config *old)
{
    const struct config *cfg = *s->cfg;
    if (store_str_eq(old->redis.address, cfg->redis.address)
        && store_str_eq(old->redis.username, cfg->redis.username)
        && store_str_eq(old->redis.password_file, cfg->redis.password_file)
        && old->redis.db == cfg->redis.db
        && store_str_eq(old->redis.prefix, cfg->redis.prefix)
        && store_str_eq(old->policy_dir, cfg->policy_dir))
        return;
    log_notice("%s: settings changed, reconnecting to %s", s->name, cfg->redis.address);
    s->backoff_ms = STORE_BACKOFF_MIN_MS;
    if (s->state == ST_RESOLVING && s->gai_busy)
        uv_cancel((uv_req_t *)&s->gai);
    s->was_ready = false;
    store_drop(s, "settings changed");
    uv_timer_stop(&s->retry);
    store_connect(s);
}

/* ---- calls ------------------------------------------------------------- */

/* -1 (counted as refused, *why set) when a call of argc arguments cannot
 * be taken: redis.max_in_flight calls are in flight, or argc is out of
 * 1..STORE_ARGS_MAX. */
static int store_full(struct store *s, int argc, const char **why)
{
    if (s->ncalls >= (size_t)(*s->cfg)->redis.max_in_flight) {
        s->st.refused++;
        *why = "too many calls in flight";
        return -1;
    }
    if (argc < 1 || argc > STORE_ARGS_MAX) {
        s->st.refused++;
        *why = "too many arguments";
        return -1;
    }
    return 0;
}

static void store_unlink(struct store *s, struct store_call *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        s->tail = c->prev;
    s->ncalls--;
}

static void store_answer_fail(struct store_call *c, const char *why)
{
    struct store_reply r = { .ok = false, .why = why };
    c->answered = true;
    if (c->raw != NULL)
        c->raw(NULL, why, c->arg);
    else
        c->cb(c->rq, &r, c->arg);
}

static void store_arm_deadline(struct store *s);

static void store_on_deadline(uv_timer_t *t)
{
    struct store *s = t->data;
    uint64_t now = uv_now(s->loop);

    for (struct store_call *c = s->head; c != NULL; c = c->next) {
        if (c->answered)
            continue;
        if (c->deadline_ms > now)
            break;
        s->st.timeouts++;
        store_answer_fail(c, "timeout");
    }
    /* A Redis that answers nothing (stopped, wedged): rebuild the link. */
    if (s->head != NULL && s->ac != NULL && now >= s->head->stale_ms)
        store_drop(s, "no reply within 2 x redis.timeout_ms; reconnecting");
    store_arm_deadline(s);
}

static void store_arm_deadline(struct store *s)
{
    uint64_t now = uv_now(s->loop), when = UINT64_MAX;

    for (struct store_call *c = s->head; c != NULL; c = c->next) {
        if (!c->answered) {
            when = c->deadline_ms;
            break;
        }
    }
    if (s->head != NULL && s->ac != NULL && s->head->stale_ms < when)
        when = s->head->stale_ms;
    if (when == UINT64_MAX) {
        uv_timer_stop(&s->deadline);
        return;
    }
    uv_timer_start(&s->deadline, store_on_deadline, when > now ? when - now : 0, 0);
}

static void store_on_reply(redisAsyncContext *ac, void *reply, void *arg);
static void store_link(struct store *s, struct store_call *c);

/* The reply to a FUNCTION LOAD sent before a resend: only an error is
 * news (the resent call then fails too, and says so). */
static void store_on_reload(redisAsyncContext *ac, void *reply, void *arg)
{
    struct store *s = ac->data;
    redisReply *r = reply;
    (void)arg;
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        char e[LOG_ESC_SIZE];
        store_fail_log(s, "FUNCTION LOAD %s/%s failed: %s", (*s->cfg)->policy_dir,
                       store_files[STORE_DECIDE], log_escs(e, r->str));
    }
}

/* Decimal digits of n, written backwards from end; returns the first. */
static char *store_udec(char *end, size_t n)
{
    do {
        *--end = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    return end;
}

/* Bytes of a RESP length line of n ("*3\r\n", "$5\r\n"). */
static size_t store_len_len(size_t n)
{
    char d[24];
    return 1 + (size_t)(d + sizeof d - store_udec(d + sizeof d, n)) + 2;
}

/* Bytes of s (n bytes) as a RESP bulk string. */
static size_t store_bulk_len(size_t n)
{
    return store_len_len(n) + n + 2;
}

/* Writes a RESP length line, type then n ("*3\r\n", "$5\r\n"), at o;
 * returns the end. */
static char *store_put_len(char *o, char type, size_t n)
{
    char d[24];
    char *p = store_udec(d + sizeof d, n);
    *o++ = type;
    memcpy(o, p, (size_t)(d + sizeof d - p));
    o += d + sizeof d - p;
    *o++ = '\r';
    *o++ = '\n';
    return o;
}

/* Writes s (n bytes) as a RESP bulk string at o; returns the end. */
static char *store_put_bulk(char *o, const char *s, size_t n)
{
    o = store_put_len(o, '$', n);
    memcpy(o, s, n);
    o += n;
    *o++ = '\r';
    *o++ = '\n';
    return o;
}

/* Sends c: EVALSHA of a script.  again: the call was answered NOSCRIPT
 * (Redis restarted, flushed, failed over): the script is sent whole (EVAL
 * caches it).  The arguments were formatted once by store_eval(); only
 * the header is written here (hiredis copies the command into its output
 * buffer). */
static int store_send_call(struct store *s, struct store_call *c, bool again)
{
    size_t args = c->args_len;
    int argc = c->argc;
    char nkeys[24];
    const char *nk = store_udec(nkeys + sizeof nkeys, (size_t)c->nkeys);
    size_t nklen = (size_t)(nkeys + sizeof nkeys - nk);
    const char *cmd = again ? "EVAL" : "EVALSHA";
    size_t cmdlen = again ? 4 : 7;
    const char *name = again ? s->body[c->which] : s->sha[c->which];
    size_t namelen = again ? s->body_len[c->which] : 40;
    size_t need = store_len_len((size_t)argc + 3) + store_bulk_len(cmdlen)
                + store_bulk_len(namelen) + store_bulk_len(nklen);
    char *big = NULL, *at;
    if (need <= STORE_HEAD_MAX) {
        at = c->buf + STORE_HEAD_MAX - need;
    } else {                    /* EVAL with the script's text: rare */
        big = xmalloc(need + args);
        memcpy(big + need, c->buf + STORE_HEAD_MAX, args);
        at = big;
    }
    char *o = store_put_len(at, '*', (size_t)argc + 3);
    o = store_put_bulk(o, cmd, cmdlen);
    o = store_put_bulk(o, name, namelen);
    store_put_bulk(o, nk, nklen);
    int rc = redisAsyncFormattedCommand(s->ac, store_on_reply, c, at, need + args);
    free(big);
    return rc == REDIS_OK ? 0 : -1;
}

/* Hands r (the call's own reply; NULL: none, then why_none says why, or
 * "connection lost") to c: to its callback, or to late if the callback
 * already ran with a timeout. */
static void store_deliver(struct store *s, struct store_call *c, const redisReply *r,
                          const char *why_none)
{
    if (c->answered && c->late == NULL)
        return;
    struct store_reply out = { .ok = false };
    char num[STORE_REPLY_MAX][24];
    if (r == NULL) {
        out.why = why_none != NULL ? why_none : "connection lost";
    } else if (r->type == REDIS_REPLY_ERROR) {
        char e[LOG_ESC_SIZE];
        s->st.errors++;
        store_fail_log(s, "script error: %s", log_escs(e, r->str));
        out.why = "script error";
    } else if (r->type == REDIS_REPLY_ARRAY || r->type == REDIS_REPLY_INTEGER) {
        out.ok = true;
        if (r->type == REDIS_REPLY_INTEGER) {
            snprintf(num[0], sizeof num[0], "%lld", r->integer);
            out.v[out.n++] = num[0];
        }
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements
                           && i < STORE_REPLY_MAX; i++) {
            const redisReply *e = r->element[i];
            if (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) {
                out.v[i] = e->str;
            } else if (e->type == REDIS_REPLY_INTEGER) {
                snprintf(num[i], sizeof num[i], "%lld", e->integer);
                out.v[i] = num[i];
            } else {
                out.v[i] = "";
            }
            out.n++;
        }
        s->st.replies++;
        metrics_hist_add(&s->st.rtt, (uv_hrtime() - c->sent_ns) / 1000);
    } else {
        out.why = "unexpected reply type";
        s->st.errors++;
    }
    if (!c->answered) {
        c->answered = true;
        c->cb(c->rq, &out, c->arg);
    } else if (out.ok) {
        c->late(c->rq, &out, c->arg);
    }
}

/* The end of a call: out of s->calls, its request let go. */
static void store_finish(struct store *s, struct store_call *c)
{
    store_unlink(s, c);
    request_unref(c->rq);
    free(c);
}

/* Whether r is the error "PREFIX..." on s's current link: the answers
 * (NOSCRIPT, "Function not found", OUTPOSTCFG) after which a call, or a
 * batch, that did not run is sent once more. */
static bool store_err_is(const struct store *s, const redisAsyncContext *ac,
                         const redisReply *r, const char *prefix)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && ac == s->ac
        && strncmp(r->str, prefix, strlen(prefix)) == 0;
}

static void store_on_reply(redisAsyncContext *ac, void *reply, void *arg)
{
    struct store_call *c = arg;
    struct store *s = c->s;
    redisReply *r = reply;

    if (c->raw != NULL) {       /* store_command(): the reply as it is */
        if (!c->answered) {
            c->answered = true;
            if (r != NULL) {
                s->st.replies++;
                metrics_hist_add(&s->st.rtt, (uv_hrtime() - c->sent_ns) / 1000);
            }
            c->raw(r, r == NULL ? "connection lost" : NULL, c->arg);
        }
        store_unlink(s, c);
        free(c);
        return;
    }

    if (!c->retried && store_err_is(s, ac, r, "NOSCRIPT")) {
        /* it did not run: send it once more, whole */
        c->retried = true;
        s->st.resent++;
        if (store_send_call(s, c, true) == 0)
            return;
    }
    store_deliver(s, c, r, NULL);
    store_finish(s, c);
}

/* A call of argc arguments (keys first), formatted as RESP bulk strings
 * after head bytes of room for the command's header; not sent, not
 * linked. */
static struct store_call *store_call_new(struct store *s, enum store_lua which, size_t head,
                                         int argc, const char *const *argv,
                                         const size_t *lens, int nkeys, store_cb *cb,
                                         store_cb *late, void *arg)
{
    size_t total = 0;
    for (int i = 0; i < argc; i++)
        total += store_bulk_len(lens[i]);
    struct store_call *c = xmalloc(sizeof *c + head + total);
    memset(c, 0, sizeof *c);
    c->s = s;
    c->cb = cb;
    c->late = late;
    c->arg = arg;
    c->which = which;
    c->argc = argc;
    c->nkeys = nkeys;
    c->args_len = total;
    char *o = c->buf + head;
    for (int i = 0; i < argc; i++)
        o = store_put_bulk(o, argv[i], lens[i]);
    return c;
}

/* c is in flight from now: it holds rq, its deadline runs, it is linked. */
static void store_call_start(struct store *s, struct store_call *c, struct request *rq)
{
    c->rq = request_ref(rq);
    c->sent_ms = uv_now(s->loop);
    c->sent_ns = uv_hrtime();
    c->deadline_ms = c->sent_ms + (uint64_t)(*s->cfg)->redis.timeout_ms;
    c->stale_ms = c->deadline_ms + (uint64_t)(*s->cfg)->redis.timeout_ms;
    store_link(s, c);
}

int store_eval(struct store *s, enum store_lua which, struct request *rq,
               int argc, const char *const *argv, const size_t *lens,
               int nkeys, store_cb *cb, store_cb *late, void *arg,
               const char **why)
{
    if (s->state != ST_READY || s->ac == NULL) {
        s->st.refused++;
        *why = "not connected";
        return -1;
    }
    if (store_full(s, argc, why) != 0)
        return -1;
    if (nkeys < 0 || nkeys > argc || store_is_function[which]) {   /* a caller's bug */
        s->st.refused++;
        *why = "bad call";
        return -1;
    }
    struct store_call *c = store_call_new(s, which, STORE_HEAD_MAX, argc, argv, lens, nkeys,
                                          cb, late, arg);
    if (store_send_call(s, c, false) != 0) {
        free(c);
        s->st.refused++;
        *why = "cannot send";
        return -1;
    }
    store_call_start(s, c, rq);
    return 0;
}

/* Appends c to the calls in flight (send order) and arms the deadline. */
static void store_link(struct store *s, struct store_call *c)
{
    c->prev = s->tail;
    if (s->tail != NULL)
        s->tail->next = c;
    else
        s->head = c;
    s->tail = c;
    s->ncalls++;
    s->st.calls++;
    if (!uv_is_active((uv_handle_t *)&s->deadline))
        store_arm_deadline(s);
}

int store_command(struct store *s, int argc, const char *const *argv, const size_t *lens,
                  uint64_t timeout_ms, store_raw_cb *cb, void *arg, const char **why)
{
    if (s->state != ST_READY || s->ac == NULL) {
        s->st.refused++;
        *why = "not connected";
        return -1;
    }
    if (store_full(s, argc, why) != 0)
        return -1;
    struct store_call *c = xcalloc(1, sizeof *c);
    c->s = s;
    c->raw = cb;
    c->arg = arg;
    if (redisAsyncCommandArgv(s->ac, store_on_reply, c, argc, (const char **)argv,
                              lens) != REDIS_OK) {
        free(c);
        s->st.refused++;
        *why = "cannot send";
        return -1;
    }
    c->sent_ms = uv_now(s->loop);
    c->sent_ns = uv_hrtime();
    c->deadline_ms = c->sent_ms + timeout_ms;
    c->stale_ms = c->deadline_ms + (uint64_t)(*s->cfg)->redis.timeout_ms;
    store_link(s, c);
    return 0;
}

/* ---- batches of decision calls ---------------------------------------- */

static void store_gfmt_unref(struct store_gfmt *g)
{
    if (g != NULL && --g->refs == 0)
        free(g);
}

/* g formatted, one reference. */
static struct store_gfmt *store_gfmt_new(const struct store_group *g)
{
    size_t kl = 0, al = 0, ll = store_bulk_len(g->last_len);
    for (int i = 0; i < g->nkeys; i++)
        kl += store_bulk_len(g->lens[i]);
    for (int i = g->nkeys; i < g->nkeys + g->nargs; i++)
        al += store_bulk_len(g->lens[i]);
    struct store_gfmt *f = xmalloc(sizeof *f + kl + al + ll);
    f->refs = 1;
    f->gen = g->gen;
    f->nkeys = g->nkeys;
    f->nargs = g->nargs;
    f->own_keys = g->own_keys;
    f->own_args = g->own_args;
    f->keys_len = kl;
    f->args_len = al;
    f->last_len = ll;
    f->keys = f->data;
    f->args = f->keys + kl;
    f->last = f->args + al;
    char *o = f->keys;
    for (int i = 0; i < g->nkeys + g->nargs; i++)
        o = store_put_bulk(o, g->argv[i], g->lens[i]);
    store_put_bulk(o, g->last, g->last_len);
    return f;
}

static void store_on_batch(redisAsyncContext *ac, void *reply, void *arg);

/* Sends b: FCALL NAME_batch NKEYS, the shared keys, every call's own keys,
 * the shared arguments, R, NK, every call's own arguments, and the
 * configuration text when b->with_last.  again: after "Function not
 * found", the library is loaded again first (the same link: Redis runs
 * the two in order). */
static int store_send_batch(struct store *s, struct store_batch *b, bool again)
{
    const struct store_gfmt *g = b->g;
    size_t own = 0, namelen = strlen(s->fn_batch);
    char d[3][24];
    const char *num[3];
    size_t numlen[3];
    size_t vals[3] = { (size_t)g->nkeys + b->n * (size_t)g->own_keys, b->n,
                       (size_t)g->own_keys };

    if (again) {
        const char *largv[4] = { "FUNCTION", "LOAD", "REPLACE", s->body[STORE_DECIDE] };
        size_t llens[4] = { 8, 4, 7, s->body_len[STORE_DECIDE] };
        if (redisAsyncCommandArgv(s->ac, store_on_reload, NULL, 4, largv, llens) != REDIS_OK)
            return -1;
    }
    for (int i = 0; i < 3; i++) {
        num[i] = store_udec(d[i] + sizeof d[i], vals[i]);
        numlen[i] = (size_t)(d[i] + sizeof d[i] - num[i]);
    }
    for (size_t i = 0; i < b->n; i++)
        own += b->c[i]->args_len;
    size_t argc = 3 + vals[0] + (size_t)g->nargs + 2 + b->n * (size_t)g->own_args
                + (b->with_last ? 1 : 0);
    size_t need = store_len_len(argc) + store_bulk_len(5) + store_bulk_len(namelen)
                + store_bulk_len(numlen[0]) + g->keys_len + g->args_len
                + store_bulk_len(numlen[1]) + store_bulk_len(numlen[2]) + own
                + (b->with_last ? g->last_len : 0);
    if (need > s->fbuf_cap) {
        s->fbuf_cap = need > 2 * s->fbuf_cap ? need : 2 * s->fbuf_cap;
        free(s->fbuf);
        s->fbuf = xmalloc(s->fbuf_cap);
    }
    char *buf = s->fbuf, *o = buf;
    o = store_put_len(o, '*', argc);
    o = store_put_bulk(o, "FCALL", 5);
    o = store_put_bulk(o, s->fn_batch, namelen);
    o = store_put_bulk(o, num[0], numlen[0]);
    memcpy(o, g->keys, g->keys_len);
    o += g->keys_len;
    for (size_t i = 0; i < b->n; i++) {
        memcpy(o, b->c[i]->buf, b->c[i]->keys_len);
        o += b->c[i]->keys_len;
    }
    memcpy(o, g->args, g->args_len);
    o += g->args_len;
    o = store_put_bulk(o, num[1], numlen[1]);
    o = store_put_bulk(o, num[2], numlen[2]);
    for (size_t i = 0; i < b->n; i++) {
        const struct store_call *c = b->c[i];
        memcpy(o, c->buf + c->keys_len, c->args_len - c->keys_len);
        o += c->args_len - c->keys_len;
    }
    if (b->with_last) {
        memcpy(o, g->last, g->last_len);
        o += g->last_len;
    }
    int rc = redisAsyncFormattedCommand(s->ac, store_on_batch, b, buf, (size_t)(o - buf));
    return rc == REDIS_OK ? 0 : -1;
}

/* A batch's reply: an array of one reply per call, in order.  The whole
 * batch is resent, once each, after "Function not found" and OUTPOSTCFG
 * (answered before anything is read or written).  An error for the whole
 * batch, or an array of another length, fails every call. */
static void store_on_batch(redisAsyncContext *ac, void *reply, void *arg)
{
    struct store_batch *b = arg;
    struct store *s = b->s;
    redisReply *r = reply;
    const char *why = NULL;

    if (!b->retried && store_err_is(s, ac, r, "ERR Function not found")) {
        b->retried = true;
        s->st.resent++;
        if (store_send_batch(s, b, true) == 0)
            return;
    }
    if (!b->with_last && store_err_is(s, ac, r, "OUTPOSTCFG")) {
        b->with_last = true;
        s->st.resent++;
        if (store_send_batch(s, b, false) == 0)
            return;
    }
    bool each = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == b->n;
    if (r == NULL) {
        why = "connection lost";
    } else if (r->type == REDIS_REPLY_ERROR) {   /* (errors count calls) */
        char e[LOG_ESC_SIZE];
        s->st.errors += b->n;
        store_fail_log(s, "script error: %s", log_escs(e, r->str));
        why = "script error";
    } else if (!each) {
        s->st.errors += b->n;
        store_fail_log(s, "a batch of %zu calls answered by a reply of type %d "
                       "and %zu elements", b->n, r->type, r->elements);
        why = "unexpected reply type";
    }
    for (size_t i = 0; i < b->n; i++) {
        store_deliver(s, b->c[i], each ? r->element[i] : NULL, why);
        store_finish(s, b->c[i]);
    }
    store_gfmt_unref(b->g);
    free(b);
}

/* Sends every queued call, in batches of at most redis.batch_max; a call
 * that cannot be sent (the link went down since it was queued) fails. */
static void store_flush(struct store *s)
{
    size_t max = (size_t)(*s->cfg)->redis.batch_max;

    uv_prepare_stop(&s->flush_prepare);
    uv_check_stop(&s->flush_check);
    while (s->queue != NULL) {
        size_t n = 0;
        for (struct store_call *c = s->queue; c != NULL && n < max; c = c->qnext)
            n++;
        struct store_batch *b = xmalloc(sizeof *b + n * sizeof b->c[0]);
        b->s = s;
        b->retried = b->with_last = false;
        b->n = n;
        for (size_t i = 0; i < n; i++) {
            b->c[i] = s->queue;
            s->queue = s->queue->qnext;
        }
        if (s->queue == NULL)
            s->queue_tail = NULL;
        b->g = s->group;
        b->g->refs++;
        if (s->state == ST_READY && s->ac != NULL && store_send_batch(s, b, false) == 0) {
            s->st.batches++;
            s->st.batched += n;
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            store_deliver(s, b->c[i], NULL, s->state == ST_READY && s->ac != NULL
                                            ? "cannot send" : "connection lost");
            store_finish(s, b->c[i]);
        }
        store_gfmt_unref(b->g);
        free(b);
    }
}

static void store_on_flush_prepare(uv_prepare_t *h)
{
    store_flush(h->data);
}

static void store_on_flush_check(uv_check_t *h)
{
    store_flush(h->data);
}

int store_decide(struct store *s, struct request *rq, const struct store_group *g,
                 const char *const *argv, const size_t *lens,
                 store_cb *cb, store_cb *late, void *arg, const char **why)
{
    int argc = g->own_keys + g->own_args;

    if (s->state != ST_READY || s->ac == NULL) {
        s->st.refused++;
        *why = "not connected";
        return -1;
    }
    if (store_full(s, argc, why) != 0)
        return -1;
    if (g->own_keys < 0 || g->own_args < 0 || g->nkeys < 0 || g->nargs < 0
        || g->nkeys + g->nargs > STORE_ARGS_MAX) {
        s->st.refused++;                /* a caller's bug, never sent */
        *why = "bad key count";
        return -1;
    }
    if (s->group == NULL || s->group->gen != g->gen) {
        store_flush(s);                 /* the queue is of the old group */
        store_gfmt_unref(s->group);
        s->group = store_gfmt_new(g);
    }
    struct store_call *c = store_call_new(s, STORE_DECIDE, 0, argc, argv, lens, g->own_keys,
                                          cb, late, arg);
    for (int i = 0; i < g->own_keys; i++)
        c->keys_len += store_bulk_len(lens[i]);
    store_call_start(s, c, rq);
    if (s->queue_tail != NULL)
        s->queue_tail->qnext = c;
    else
        s->queue = c;
    s->queue_tail = c;
    if (!uv_is_active((uv_handle_t *)&s->flush_check)) {
        uv_prepare_start(&s->flush_prepare, store_on_flush_prepare);
        uv_check_start(&s->flush_check, store_on_flush_check);
    }
    return 0;
}

/* ---- stop -------------------------------------------------------------- */

void store_stop(struct store *s)
{
    if (s->state == ST_STOPPED)
        return;
    if (s->gai_busy)
        uv_cancel((uv_req_t *)&s->gai);
    s->state = ST_STOPPED;
    store_flush(s);             /* the queued calls fail: not sent */
    redisAsyncContext *ac = s->ac;
    s->ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac);     /* answers the calls in flight with NULL */
    uv_close((uv_handle_t *)&s->retry, NULL);
    uv_close((uv_handle_t *)&s->connecting, NULL);
    uv_close((uv_handle_t *)&s->deadline, NULL);
    uv_close((uv_handle_t *)&s->health, NULL);
    uv_close((uv_handle_t *)&s->dropper, NULL);
    uv_close((uv_handle_t *)&s->flush_prepare, NULL);
    uv_close((uv_handle_t *)&s->flush_check, NULL);
}

void store_free(struct store *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < STORE_NLUA; i++)
        free(s->body[i]);
    free(s->library);
    free(s->fbuf);
    store_gfmt_unref(s->group);
    free(s);
}
