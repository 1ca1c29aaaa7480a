/* admin.c - synchronous Redis administration for outpostctl (see admin.h).
 *
 * Data flow: admin_open() connects (hiredis, blocking, with the configured
 * connect timeout, then a per-command timeout of at least 2 s), sends AUTH
 * and SELECT; each admin_* operation builds its keys with keys.c, sends its
 * commands with redisCommandArgv() (every value a separate, length-counted
 * argument) and turns the replies into C values or new jansson values.
 *
 * Pipelines (redisAppendCommandArgv(), then one redisGetReply() per
 * command) serve the bulk identity import and the listings over an index
 * (suspended, observed); every command appended is read back before the
 * function returns, unless the connection failed.  Index members whose
 * observed hash is gone are removed under WATCH, so that a hash written by
 * decide.lua meanwhile keeps its member.
 *
 * The one blocking read, XREAD BLOCK of admin_events_after(), raises the
 * socket timeout above its BLOCK time for that call only, so a quiet
 * stream is an empty answer, not a timeout; admin_interrupt() shuts the
 * socket down from a signal handler to end it early.
 *
 * Ownership: struct admin owns its redisContext; the config is borrowed.
 * Every redisReply is freed by the function that received it; every json_t
 * handed out belongs to the caller.  The password is wiped from the stack
 * after AUTH.
 *
 * Failures: no connection, an I/O error or a timeout is ADMIN_UNREACHABLE
 * (the context is then unusable; hiredis reports a timeout as an I/O
 * error); AUTH refused (WRONGPASS, NOAUTH, ...) is ADMIN_UNREACHABLE with a
 * message naming AUTH; an "ERR outpost: ..." reply (a Function refused an
 * argument) or a library that cannot be loaded is ADMIN_INVALID; LOADING,
 * BUSY and MASTERDOWN (Redis cannot serve now) are ADMIN_UNREACHABLE; any
 * other error reply is ADMIN_REFUSED. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "admin.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "utf8.h"
#include "xalloc.h"

#define ADMIN_ARGS_MAX   160    /* arguments of one FCALL (outpost_usage:
                                   ADMIN_USAGE_MAX keys + 1 + ADMIN_USAGE_MAX) */
#define ADMIN_AUDIT_SHOW 20     /* audit entries shown */
#define ADMIN_PIPELINE   256    /* HGETALLs in flight while listing */

struct admin {
    redisContext        *c;     /* owned */
    const struct config *cfg;   /* borrowed */
};

/* ---- small helpers ---------------------------------------------------- */

/* Copies a reply's text into err, control bytes shown as '?'. */
static void admin_errcpy(char *err, size_t errlen, const char *what,
                         const char *s, size_t len)
{
    char clean[256];
    size_t n = len < sizeof clean - 1 ? len : sizeof clean - 1;
    for (size_t i = 0; i < n; i++)
        clean[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    clean[n] = '\0';
    snprintf(err, errlen, "%s: %s", what, clean);
}

static bool admin_prefixed(const redisReply *r, const char *p)
{
    size_t n = strlen(p);
    return r->len >= n && memcmp(r->str, p, n) == 0;
}

/* The status of an error reply. */
static enum admin_status admin_classify(const redisReply *r, const char *what,
                                        char *err, size_t errlen)
{
    static const char *const auth[] = { "NOAUTH", "WRONGPASS", "ERR invalid password",
                                        "ERR AUTH", "ERR Client sent AUTH" };
    static const char *const busy[] = { "LOADING", "BUSY", "MASTERDOWN" };

    for (size_t i = 0; i < sizeof auth / sizeof auth[0]; i++) {
        if (admin_prefixed(r, auth[i])) {
            admin_errcpy(err, errlen, "Redis AUTH failed", r->str, r->len);
            return ADMIN_UNREACHABLE;
        }
    }
    admin_errcpy(err, errlen, what, r->str, r->len);
    for (size_t i = 0; i < sizeof busy / sizeof busy[0]; i++)
        if (admin_prefixed(r, busy[i]))
            return ADMIN_UNREACHABLE;
    if (admin_prefixed(r, "ERR outpost:"))
        return ADMIN_INVALID;
    return ADMIN_REFUSED;
}

/* Sends one command; returns its reply, error replies included, or NULL
 * with *st = ADMIN_UNREACHABLE. */
static redisReply *admin_raw(struct admin *a, int argc, const char **argv,
                             const size_t *lens, enum admin_status *st,
                             char *err, size_t errlen)
{
    size_t l[ADMIN_ARGS_MAX + 4];
    if (lens == NULL) {
        if (argc > (int)(sizeof l / sizeof l[0]))
            log_panic("admin: %d arguments", argc);
        for (int i = 0; i < argc; i++)
            l[i] = strlen(argv[i]);
        lens = l;
    }
    redisReply *r = a->c->err ? NULL : redisCommandArgv(a->c, argc, argv, lens);
    if (r == NULL) {
        snprintf(err, errlen, "Redis %s: %s: %s", a->cfg->redis.address, argv[0],
                 a->c->err ? a->c->errstr : "no reply");
        *st = ADMIN_UNREACHABLE;
    }
    return r;
}

/* Sends one command; returns a non-error reply, or NULL with *st set. */
static redisReply *admin_cmd(struct admin *a, int argc, const char **argv,
                             enum admin_status *st, char *err, size_t errlen)
{
    redisReply *r = admin_raw(a, argc, argv, NULL, st, err, errlen);
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        char what[64];
        snprintf(what, sizeof what, "Redis %s", argv[0]);
        *st = admin_classify(r, what, err, errlen);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static enum admin_status admin_badreply(redisReply *r, const char *what,
                                        char *err, size_t errlen)
{
    snprintf(err, errlen, "Redis %s: unexpected reply (type %d)", what,
             r ? r->type : -1);
    freeReplyObject(r);
    return ADMIN_REFUSED;
}

/* A decimal integer (a whole string); false if it is none. */
static bool admin_int(const char *s, size_t len, int64_t *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* A JSON string of arbitrary bytes: invalid UTF-8 becomes U+FFFD. */
static json_t *admin_jstr(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j != NULL)
        return j;
    char *buf = xmalloc(3 * n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len((const unsigned char *)s + i, n - i);
        if (k == 0) {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, s + i, k);
            o += k;
            i += k;
        }
    }
    j = json_stringn(buf, o);
    free(buf);
    return j != NULL ? j : json_string("");
}

/* An integer field as a JSON integer, anything else as a string. */
static json_t *admin_jnum(const char *s, size_t n)
{
    int64_t v;
    return admin_int(s, n, &v) ? json_integer(v) : admin_jstr(s, n);
}

/* A stored JSON object (audit entry, list entry); something else comes
 * back as {"raw": "..."}. */
static json_t *admin_jdecode(const char *s, size_t n)
{
    json_error_t jerr;
    json_t *j = json_loadb(s, n, 0, &jerr);
    if (j != NULL && json_is_object(j))
        return j;
    json_decref(j);
    return json_pack("{s:o}", "raw", admin_jstr(s, n));
}

/* A flat HGETALL reply as a JSON object: at/until as integers. */
static json_t *admin_jhash(const redisReply *r)
{
    json_t *o = json_object();
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        json_t *key = admin_jstr(f->str, f->len);
        const char *k = json_string_value(key);
        bool num = strcmp(k, "at") == 0 || strcmp(k, "until") == 0;
        json_object_set_new(o, k, num ? admin_jnum(v->str, v->len)
                                      : admin_jstr(v->str, v->len));
        json_decref(key);
    }
    return o;
}

/* ---- connection ------------------------------------------------------- */

void admin_close(struct admin *a)
{
    if (a == NULL)
        return;
    if (a->c != NULL)
        redisFree(a->c);
    free(a);
}

static struct timeval admin_tv(int64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    return tv;
}

redisContext *admin_connect_addr(const char *addr, struct timeval tv)
{
    char host[256];
    const char *port;

    if (strncmp(addr, "unix:", 5) == 0)
        return redisConnectUnixWithTimeout(addr + 5, tv);
    if (config_split_hostport(addr, host, sizeof host, &port) != 0)
        return NULL;
    char *end;
    long p = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || p < 1 || p > 65535)
        return NULL;
    return redisConnectWithTimeout(host, (int)p, tv);
}

enum admin_status admin_open(const struct config *cfg, struct admin **out,
                             char *err, size_t errlen)
{
    struct admin *a = xmalloc(sizeof *a);
    enum admin_status st = ADMIN_OK;
    char pw[CONFIG_PASSWORD_MAX + 1];

    *out = NULL;
    a->cfg = cfg;
    a->c = admin_connect_addr(cfg->redis.address, admin_tv(cfg->redis.connect_timeout_ms));
    if (a->c == NULL || a->c->err) {
        snprintf(err, errlen, "Redis %s unreachable: %s", cfg->redis.address,
                 a->c ? a->c->errstr : "bad address or out of memory");
        admin_close(a);
        return ADMIN_UNREACHABLE;
    }
    int64_t t = cfg->redis.timeout_ms > ADMIN_TIMEOUT_MIN_MS ? cfg->redis.timeout_ms
                                                              : ADMIN_TIMEOUT_MIN_MS;
    if (redisSetTimeout(a->c, admin_tv(t)) != REDIS_OK) {
        snprintf(err, errlen, "Redis %s: cannot set a timeout", cfg->redis.address);
        admin_close(a);
        return ADMIN_UNREACHABLE;
    }

    if (config_read_password(cfg, pw, sizeof pw, err, errlen) != 0) {
        admin_close(a);
        return ADMIN_INVALID;
    }
    if (pw[0] != '\0' || cfg->redis.username != NULL) {
        const char *argv[3] = { "AUTH" };
        int argc = 1;
        if (cfg->redis.username != NULL)
            argv[argc++] = cfg->redis.username;
        argv[argc++] = pw;
        redisReply *r = admin_raw(a, argc, argv, NULL, &st, err, errlen);
        memset(pw, 0, sizeof pw);
        if (r == NULL) {
            admin_close(a);
            return st;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            admin_errcpy(err, errlen, "Redis AUTH failed", r->str, r->len);
            freeReplyObject(r);
            admin_close(a);
            return ADMIN_UNREACHABLE;
        }
        freeReplyObject(r);
    }
    if (cfg->redis.db != 0) {
        char db[24];
        snprintf(db, sizeof db, "%lld", (long long)cfg->redis.db);
        const char *argv[2] = { "SELECT", db };
        redisReply *r = admin_cmd(a, 2, argv, &st, err, errlen);
        if (r == NULL) {
            admin_close(a);
            return st;
        }
        freeReplyObject(r);
    }
    *out = a;
    return ADMIN_OK;
}

enum admin_status admin_account_norm(const struct config *cfg, const char *in,
                                     char out[REQUEST_ACCOUNT_MAX + 1],
                                     char *err, size_t errlen)
{
    size_t len = strlen(in);
    while (len > 0 && (*in == ' ' || (*in >= '\t' && *in <= '\r'))) {
        in++;
        len--;
    }
    while (len > 0 && (in[len - 1] == ' ' || (in[len - 1] >= '\t' && in[len - 1] <= '\r')))
        len--;
    if (len == 0 || len > REQUEST_ACCOUNT_MAX) {
        snprintf(err, errlen, "an account is 1 to %d bytes", REQUEST_ACCOUNT_MAX);
        return ADMIN_INVALID;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x20 || c == 0x7f) {
            snprintf(err, errlen, "an account has no control characters");
            return ADMIN_INVALID;
        }
        out[i] = cfg->account_lowercase && c >= 'A' && c <= 'Z' ? (char)(c + 32) : (char)c;
    }
    out[len] = '\0';
    return ADMIN_OK;
}

enum admin_status admin_text_check(const char *what, const char *s, size_t max,
                                   bool empty_ok, char *err, size_t errlen)
{
    size_t n = strlen(s);
    if ((n == 0 && !empty_ok) || n > max) {
        snprintf(err, errlen, "%s: %s to %zu bytes", what, empty_ok ? "0" : "1", max);
        return ADMIN_INVALID;
    }
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = utf8_len((const unsigned char *)s + i, n - i);
        if (c < 0x20 || c == 0x7f || k == 0) {
            snprintf(err, errlen, "%s: not UTF-8 text without control characters",
                     what);
            return ADMIN_INVALID;
        }
        i += k;
    }
    return ADMIN_OK;
}

enum admin_status admin_now(struct admin *a, int64_t *now_ms, char *err, size_t errlen)
{
    const char *argv[1] = { "TIME" };
    enum admin_status st = ADMIN_OK;
    redisReply *r = admin_cmd(a, 1, argv, &st, err, errlen);
    int64_t s, us;

    if (r == NULL)
        return st;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_STRING
        || !admin_int(r->element[0]->str, r->element[0]->len, &s)
        || !admin_int(r->element[1]->str, r->element[1]->len, &us))
        return admin_badreply(r, "TIME", err, errlen);
    freeReplyObject(r);
    *now_ms = s * 1000 + us / 1000;
    return ADMIN_OK;
}

/* ---- Functions -------------------------------------------------------- */

/* FUNCTION LOAD REPLACE <policy_dir>/outpost.lua. */
static enum admin_status admin_load_library(struct admin *a, char *err, size_t errlen)
{
    char path[4096];
    enum admin_status st = ADMIN_OK;

    snprintf(path, sizeof path, "%s/outpost.lua", a->cfg->policy_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "policy_dir: %s: %s", path, strerror(errno));
        return ADMIN_INVALID;
    }
    char *code = xmalloc(ADMIN_LIBRARY_MAX + 1);
    size_t len = 0;
    ssize_t n = 0;
    while (len <= ADMIN_LIBRARY_MAX
           && (n = read(fd, code + len, ADMIN_LIBRARY_MAX + 1 - len)) > 0)
        len += (size_t)n;
    int e = errno;
    close(fd);
    if (n < 0 || len > ADMIN_LIBRARY_MAX || len == 0) {
        snprintf(err, errlen, "policy_dir: %s: %s", path,
                 n < 0 ? strerror(e) : len == 0 ? "empty" : "too large");
        free(code);
        return ADMIN_INVALID;
    }
    const char *argv[4] = { "FUNCTION", "LOAD", "REPLACE", code };
    size_t lens[4] = { 8, 4, 7, len };
    redisReply *r = admin_raw(a, 4, argv, lens, &st, err, errlen);
    free(code);
    if (r == NULL)
        return st;
    if (r->type == REDIS_REPLY_ERROR) {
        char what[4200];
        snprintf(what, sizeof what, "Redis FUNCTION LOAD %s", path);
        st = admin_classify(r, what, err, errlen);
        freeReplyObject(r);
        return st == ADMIN_REFUSED ? ADMIN_INVALID : st;
    }
    freeReplyObject(r);
    return ADMIN_OK;
}

/* FCALL fn nkeys keys... args...; a missing library is loaded from
 * policy_dir and the call retried once.  Returns a non-error reply, or
 * NULL with *st set. */
static redisReply *admin_fcall(struct admin *a, const char *fn, int nkeys,
                               const char *const *keys, int nargs,
                               const char *const *args, enum admin_status *st,
                               char *err, size_t errlen)
{
    const char *argv[ADMIN_ARGS_MAX + 3];
    char nk[16];
    int argc = 0;

    if (nkeys + nargs > ADMIN_ARGS_MAX)
        log_panic("admin_fcall %s: %d arguments", fn, nkeys + nargs);
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[argc++] = "FCALL";
    argv[argc++] = fn;
    argv[argc++] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[argc++] = args[i];

    for (int attempt = 0; attempt < 2; attempt++) {
        redisReply *r = admin_raw(a, argc, argv, NULL, st, err, errlen);
        if (r == NULL)
            return NULL;
        if (r->type != REDIS_REPLY_ERROR)
            return r;
        if (attempt == 0 && admin_prefixed(r, "ERR Function not found")) {
            freeReplyObject(r);
            if ((*st = admin_load_library(a, err, errlen)) != ADMIN_OK)
                return NULL;
            continue;
        }
        char what[96];
        snprintf(what, sizeof what, "Redis FCALL %s", fn);
        *st = admin_classify(r, what, err, errlen);
        freeReplyObject(r);
        return NULL;
    }
    return NULL;                        /* not reached */
}

/* The keys of the suspension Functions (strikes: outpost_reinstate's fifth). */
struct admin_akeys {
    char susp[KEYS_MAX], audit[KEYS_MAX], idx[KEYS_MAX], events[KEYS_MAX];
    char strikes[KEYS_MAX];
};

static enum admin_status admin_account_keys(const struct admin *a, const char *account,
                                            struct admin_akeys *k, char *err,
                                            size_t errlen)
{
    const char *p = a->cfg->redis.prefix;
    if (keys_account(k->susp, p, account, KEYS_SUSP) == 0
        || keys_account(k->audit, p, account, KEYS_AUDIT) == 0
        || keys_global(k->idx, p, "idx", "suspended") == 0
        || keys_global(k->events, p, "events", NULL) == 0
        || keys_account(k->strikes, p, account, KEYS_STRIKES) == 0) {
        snprintf(err, errlen, "account too long for a key");
        return ADMIN_INVALID;
    }
    return ADMIN_OK;
}

static void admin_evmax(const struct admin *a, char out[24])
{
    snprintf(out, 24, "%llu", (unsigned long long)a->cfg->events.max_length);
}

enum admin_status admin_suspend(struct admin *a, const char *account,
                                const char *reason, int64_t for_ms,
                                const char *by, const char *note,
                                int64_t *at, int64_t *until,
                                char *err, size_t errlen)
{
    struct admin_akeys k;
    char fm[24], evmax[24];
    enum admin_status st;

    if ((st = admin_account_keys(a, account, &k, err, errlen)) != ADMIN_OK)
        return st;
    snprintf(fm, sizeof fm, "%lld", (long long)for_ms);
    admin_evmax(a, evmax);
    const char *keys[4] = { k.susp, k.audit, k.idx, k.events };
    const char *args[6] = { account, reason, by, fm, note ? note : "", evmax };
    redisReply *r = admin_fcall(a, "outpost_suspend", 4, keys, 6, args, &st, err, errlen);
    if (r == NULL)
        return st;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_INTEGER
        || r->element[1]->type != REDIS_REPLY_INTEGER)
        return admin_badreply(r, "FCALL outpost_suspend", err, errlen);
    *at = r->element[0]->integer;
    *until = r->element[1]->integer;
    freeReplyObject(r);
    return ADMIN_OK;
}

/* An FCALL that answers 1 (done) or 0 (nothing to do: ADMIN_REFUSED with
 * `refusal` in err). */
static enum admin_status admin_fcall_flag(struct admin *a, const char *fn, int nkeys,
                                          const char *const *keys, int nargs,
                                          const char *const *args, const char *refusal,
                                          char *err, size_t errlen)
{
    enum admin_status st;
    char what[64];
    redisReply *r = admin_fcall(a, fn, nkeys, keys, nargs, args, &st, err, errlen);

    if (r == NULL)
        return st;
    if (r->type != REDIS_REPLY_INTEGER) {
        snprintf(what, sizeof what, "FCALL %s", fn);
        return admin_badreply(r, what, err, errlen);
    }
    bool done = r->integer == 1;
    freeReplyObject(r);
    if (!done) {
        snprintf(err, errlen, "%s", refusal);
        return ADMIN_REFUSED;
    }
    return ADMIN_OK;
}

enum admin_status admin_reinstate(struct admin *a, const char *account,
                                  const char *by, const char *note,
                                  char *err, size_t errlen)
{
    struct admin_akeys k;
    char evmax[24];
    enum admin_status st;

    if ((st = admin_account_keys(a, account, &k, err, errlen)) != ADMIN_OK)
        return st;
    admin_evmax(a, evmax);
    /* the fifth key: a reinstated account starts from zero strikes */
    const char *keys[5] = { k.susp, k.audit, k.idx, k.events, k.strikes };
    const char *args[4] = { account, by, note ? note : "", evmax };
    return admin_fcall_flag(a, "outpost_reinstate", 5, keys, 4, args, "not suspended", err, errlen);
}

/* Looks up one HGETALL reply of the pipeline and appends the record. */
static void admin_suspended_add(json_t *arr, const redisReply *member,
                                const redisReply *score, const redisReply *h)
{
    if (h == NULL || h->type != REDIS_REPLY_ARRAY || h->elements == 0)
        return;                         /* expired or reinstated meanwhile */
    json_t *o = admin_jhash(h);
    json_object_set_new(o, "account", admin_jstr(member->str, member->len));
    if (json_object_get(o, "until") == NULL) {
        bool inf = score->len >= 3 && memcmp(score->str + score->len - 3, "inf", 3) == 0;
        int64_t u = 0;
        if (!inf)
            admin_int(score->str, score->len, &u);
        json_object_set_new(o, "until", json_integer(u));
    }
    json_array_append_new(arr, o);
}

enum admin_status admin_suspended(struct admin *a, json_t **out, char *err, size_t errlen)
{
    char idx[KEYS_MAX], now_s[32];
    int64_t now;
    enum admin_status st;

    *out = NULL;
    if (keys_global(idx, a->cfg->redis.prefix, "idx", "suspended") == 0) {
        snprintf(err, errlen, "redis.prefix too long");
        return ADMIN_INVALID;
    }
    if ((st = admin_now(a, &now, err, errlen)) != ADMIN_OK)
        return st;
    /* prune members whose finite expiry passed; +inf stays */
    snprintf(now_s, sizeof now_s, "(%lld", (long long)now);
    const char *prune[4] = { "ZREMRANGEBYSCORE", idx, "-inf", now_s };
    redisReply *r = admin_cmd(a, 4, prune, &st, err, errlen);
    if (r == NULL)
        return st;
    freeReplyObject(r);

    const char *range[5] = { "ZRANGE", idx, "0", "-1", "WITHSCORES" };
    redisReply *z = admin_cmd(a, 5, range, &st, err, errlen);
    if (z == NULL)
        return st;
    if (z->type != REDIS_REPLY_ARRAY || z->elements % 2 != 0)
        return admin_badreply(z, "ZRANGE", err, errlen);

    json_t *arr = json_array();
    size_t n = z->elements / 2;
    for (size_t base = 0; base < n; base += ADMIN_PIPELINE) {
        size_t end = base + ADMIN_PIPELINE < n ? base + ADMIN_PIPELINE : n;
        bool sent[ADMIN_PIPELINE] = { false }, oom = false;
        for (size_t i = base; i < end; i++) {
            const redisReply *m = z->element[2 * i];
            char key[KEYS_MAX];
            sent[i - base] = m->type == REDIS_REPLY_STRING && strlen(m->str) == m->len
                && keys_account(key, a->cfg->redis.prefix, m->str, KEYS_SUSP) != 0;
            if (!sent[i - base])
                continue;               /* not a name outpost could write */
            const char *argv[2] = { "HGETALL", key };
            size_t lens[2] = { 7, strlen(key) };
            if (redisAppendCommandArgv(a->c, 2, argv, lens) != REDIS_OK) {
                sent[i - base] = false;
                oom = true;
            }
        }
        for (size_t i = base; i < end; i++) {
            if (!sent[i - base])
                continue;
            void *rv = NULL;
            if (redisGetReply(a->c, &rv) != REDIS_OK || rv == NULL) {
                snprintf(err, errlen, "Redis %s: HGETALL: %s", a->cfg->redis.address,
                         a->c->errstr[0] ? a->c->errstr : "no reply");
                json_decref(arr);
                freeReplyObject(z);
                return ADMIN_UNREACHABLE;
            }
            admin_suspended_add(arr, z->element[2 * i], z->element[2 * i + 1], rv);
            freeReplyObject(rv);
        }
        if (oom) {
            snprintf(err, errlen, "Redis %s: HGETALL: out of memory",
                     a->cfg->redis.address);
            json_decref(arr);
            freeReplyObject(z);
            return ADMIN_UNREACHABLE;
        }
    }
    freeReplyObject(z);
    *out = json_pack("{s:I, s:o}", "now", (json_int_t)now, "suspended", arr);
    return ADMIN_OK;
}

/* ---- lists ------------------------------------------------------------ */

static enum admin_status admin_list_keys(const struct admin *a, bool deny,
                                         enum list_kind kind, char entries[KEYS_MAX],
                                         char lens[KEYS_MAX], char events[KEYS_MAX],
                                         char *err, size_t errlen)
{
    char name[32], lname[32];
    const char *l = deny ? "deny" : "allow";
    snprintf(name, sizeof name, "%s:%s", l, list_kind_name(kind));
    snprintf(lname, sizeof lname, "%s:clientlens", l);
    if (keys_global(entries, a->cfg->redis.prefix, "lists", name) == 0
        || keys_global(lens, a->cfg->redis.prefix, "lists", lname) == 0
        || keys_global(events, a->cfg->redis.prefix, "events", NULL) == 0) {
        snprintf(err, errlen, "redis.prefix too long");
        return ADMIN_INVALID;
    }
    return ADMIN_OK;
}

enum admin_status admin_list_add(struct admin *a, bool deny,
                                 enum list_kind kind, const char *value,
                                 const char *text, const char *by,
                                 char *err, size_t errlen)
{
    char ek[KEYS_MAX], lk[KEYS_MAX], vk[KEYS_MAX], evmax[24];
    enum admin_status st;

    if ((st = admin_list_keys(a, deny, kind, ek, lk, vk, err, errlen)) != ADMIN_OK)
        return st;
    admin_evmax(a, evmax);
    const char *keys[3] = { ek, lk, vk };
    const char *args[6] = { deny ? "deny" : "allow", list_kind_name(kind), value,
                            text, by, evmax };
    return admin_fcall_flag(a, "outpost_list_add", 3, keys, 6, args, "already present", err, errlen);
}

enum admin_status admin_list_remove(struct admin *a, bool deny,
                                    enum list_kind kind, const char *value,
                                    const char *by, char *err, size_t errlen)
{
    char ek[KEYS_MAX], lk[KEYS_MAX], vk[KEYS_MAX], evmax[24];
    enum admin_status st;

    if ((st = admin_list_keys(a, deny, kind, ek, lk, vk, err, errlen)) != ADMIN_OK)
        return st;
    admin_evmax(a, evmax);
    const char *keys[3] = { ek, lk, vk };
    const char *args[5] = { deny ? "deny" : "allow", list_kind_name(kind), value, by,
                            evmax };
    return admin_fcall_flag(a, "outpost_list_remove", 3, keys, 5, args, "not present", err, errlen);
}

struct admin_pair {
    const redisReply *f, *v;    /* a field and its value, in one HGETALL */
};

static int admin_pair_cmp(const void *x, const void *y)
{
    const redisReply *a = ((const struct admin_pair *)x)->f;
    const redisReply *b = ((const struct admin_pair *)y)->f;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->str, b->str, n);
    return c != 0 ? c : (a->len > b->len) - (a->len < b->len);
}

/* The string (field, value) pairs of an HGETALL reply sorted by field, in
 * a new array the caller frees (NULL when there are none); *m their
 * number. */
static struct admin_pair *admin_sorted_pairs(const redisReply *h, size_t *m)
{
    size_t n = h->elements / 2;
    *m = 0;
    if (n == 0)
        return NULL;
    struct admin_pair *pairs = xmalloc(n * sizeof *pairs);
    for (size_t i = 0; i < n; i++) {
        const redisReply *f = h->element[2 * i], *v = h->element[2 * i + 1];
        if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
            pairs[(*m)++] = (struct admin_pair){ f, v };
    }
    qsort(pairs, *m, sizeof *pairs, admin_pair_cmp);
    return pairs;
}

/* One HGETALL of list entries as a JSON array sorted by value. */
static json_t *admin_list_entries(const redisReply *h)
{
    json_t *arr = json_array();
    size_t m;
    struct admin_pair *pairs = admin_sorted_pairs(h, &m);
    for (size_t i = 0; i < m; i++) {
        json_t *e = admin_jdecode(pairs[i].v->str, pairs[i].v->len);
        json_object_set_new(e, "value", admin_jstr(pairs[i].f->str, pairs[i].f->len));
        json_array_append_new(arr, e);
    }
    free(pairs);
    return arr;
}

enum admin_status admin_list_get(struct admin *a, bool deny, json_t **out,
                                 char *err, size_t errlen)
{
    static const enum list_kind kinds[LIST_KINDS] = { LIST_ACCOUNT, LIST_CLIENT,
                                                      LIST_SENDER, LIST_DOMAIN };
    enum admin_status st;
    json_t *o = json_object();

    *out = NULL;
    for (int i = 0; i < LIST_KINDS; i++) {
        char ek[KEYS_MAX], lk[KEYS_MAX], vk[KEYS_MAX];
        if ((st = admin_list_keys(a, deny, kinds[i], ek, lk, vk, err, errlen)) != ADMIN_OK) {
            json_decref(o);
            return st;
        }
        const char *argv[2] = { "HGETALL", ek };
        redisReply *r = admin_cmd(a, 2, argv, &st, err, errlen);
        if (r == NULL) {
            json_decref(o);
            return st;
        }
        if (r->type != REDIS_REPLY_ARRAY) {
            json_decref(o);
            return admin_badreply(r, "HGETALL", err, errlen);
        }
        json_object_set_new(o, list_kind_name(kinds[i]), admin_list_entries(r));
        freeReplyObject(r);
    }
    *out = o;
    return ADMIN_OK;
}

/* ---- marker, show ----------------------------------------------------- */

enum admin_status admin_init(struct admin *a, const char *by, int64_t *at,
                             char *err, size_t errlen)
{
    char marker[KEYS_MAX], events[KEYS_MAX];
    enum admin_status st;

    if (keys_global(marker, a->cfg->redis.prefix, "meta", "marker") == 0
        || keys_global(events, a->cfg->redis.prefix, "events", NULL) == 0) {
        snprintf(err, errlen, "redis.prefix too long");
        return ADMIN_INVALID;
    }
    char evmax[24];
    snprintf(evmax, sizeof evmax, "%llu", (unsigned long long)a->cfg->events.max_length);
    const char *keys[2] = { marker, events };
    const char *args[2] = { by, evmax };
    redisReply *r = admin_fcall(a, "outpost_init", 2, keys, 2, args, &st, err, errlen);
    if (r == NULL)
        return st;
    if (r->type != REDIS_REPLY_INTEGER)
        return admin_badreply(r, "FCALL outpost_init", err, errlen);
    *at = r->integer;
    freeReplyObject(r);
    return ADMIN_OK;
}

/* ---- classes, overrides, counters ------------------------------------ */

static const char *const admin_count_names[] = { "messages", "recipients", "bytes" };
static const char *const admin_key_names[] = { "account", "client_address",
                                               "sender_domain" };

/* The three keys of outpost_class and outpost_override. */
struct admin_ckeys {
    char acct[KEYS_MAX], audit[KEYS_MAX], events[KEYS_MAX];
};

static enum admin_status admin_acct_keys(const struct admin *a, const char *account,
                                         struct admin_ckeys *k, char *err, size_t errlen)
{
    const char *p = a->cfg->redis.prefix;
    if (keys_account(k->acct, p, account, KEYS_ACCT) == 0
        || keys_account(k->audit, p, account, KEYS_AUDIT) == 0
        || keys_global(k->events, p, "events", NULL) == 0) {
        snprintf(err, errlen, "account too long for a key");
        return ADMIN_INVALID;
    }
    return ADMIN_OK;
}

/* HGETALL of the account's acct hash (an array reply), or NULL with *st. */
static redisReply *admin_acct_read(struct admin *a, const char *acct,
                                   enum admin_status *st, char *err, size_t errlen)
{
    const char *argv[2] = { "HGETALL", acct };
    redisReply *r = admin_cmd(a, 2, argv, st, err, errlen);
    if (r != NULL && r->type != REDIS_REPLY_ARRAY) {
        *st = admin_badreply(r, "HGETALL", err, errlen);
        return NULL;
    }
    return r;
}

/* The value of one field of a flat [field, value, ...] array (an HGETALL
 * reply, a stream entry's fields), or NULL. */
static const redisReply *admin_hfield(const redisReply *h, const char *field)
{
    size_t n = strlen(field);
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i], *v = h->element[i + 1];
        if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING
            && f->len == n && memcmp(f->str, field, n) == 0)
            return v;
    }
    return NULL;
}

/* The class in effect for an acct hash, as decide.lua picks it: the stored
 * class if the configuration has it, else default_class.  *stored is the
 * stored field (NULL when none). */
static const struct config_class *admin_class_of(const struct config *cfg,
                                                 const redisReply *h,
                                                 const redisReply **stored)
{
    const redisReply *v = admin_hfield(h, "class");
    *stored = v;
    if (v != NULL && v->len <= ADMIN_NAME_MAX && strlen(v->str) == v->len) {
        const struct config_class *c = config_class_find(cfg, v->str);
        if (c != NULL)
            return c;
    }
    return config_class_find(cfg, cfg->default_class);
}

/* The override of limit in force at now: true with *max and *until (0 =
 * none), as decide.lua reads them (an unreadable expiry is none; an
 * unreadable max no override). */
static bool admin_override_of(const redisReply *h, const char *limit, int64_t now,
                              int64_t *max, int64_t *until)
{
    char f[ADMIN_NAME_MAX + 16];
    snprintf(f, sizeof f, "ovr:%s", limit);
    const redisReply *m = admin_hfield(h, f);
    snprintf(f, sizeof f, "ovr_until:%s", limit);
    const redisReply *u = admin_hfield(h, f);
    *until = 0;
    if (m == NULL || !admin_int(m->str, m->len, max) || *max < 0)
        return false;
    if (u != NULL && !admin_int(u->str, u->len, until))
        *until = 0;
    return *until <= 0 || *until > now;
}

enum admin_status admin_class_get(struct admin *a, const char *account,
                                  char cls[ADMIN_NAME_MAX + 1], char *err, size_t errlen)
{
    struct admin_ckeys k;
    enum admin_status st;

    cls[0] = '\0';
    if ((st = admin_acct_keys(a, account, &k, err, errlen)) != ADMIN_OK)
        return st;
    const char *argv[3] = { "HGET", k.acct, "class" };
    redisReply *r = admin_cmd(a, 3, argv, &st, err, errlen);
    if (r == NULL)
        return st;
    if (r->type == REDIS_REPLY_STRING) {
        if (r->len >= 1 && r->len <= ADMIN_NAME_MAX && strlen(r->str) == r->len)
            memcpy(cls, r->str, r->len + 1);
        else
            snprintf(cls, ADMIN_NAME_MAX + 1, "?");
    } else if (r->type != REDIS_REPLY_NIL) {
        return admin_badreply(r, "HGET", err, errlen);
    }
    freeReplyObject(r);
    return ADMIN_OK;
}

enum admin_status admin_class_set(struct admin *a, const char *account,
                                  const char *cls, const char *by,
                                  char *err, size_t errlen)
{
    struct admin_ckeys k;
    char evmax[24];
    enum admin_status st;

    if ((st = admin_acct_keys(a, account, &k, err, errlen)) != ADMIN_OK)
        return st;
    admin_evmax(a, evmax);
    const char *keys[3] = { k.acct, k.audit, k.events };
    const char *args[4] = { account, cls, by, evmax };
    return admin_fcall_flag(a, "outpost_class", 3, keys, 4, args, "class not set", err,
                            errlen);
}

enum admin_status admin_override_set(struct admin *a, const char *account,
                                     const char *limit, uint64_t max, int64_t for_ms,
                                     const char *by, int64_t *until,
                                     char *err, size_t errlen)
{
    struct admin_ckeys k;
    char evmax[24], ms[24], fm[24], field[ADMIN_NAME_MAX + 16];
    enum admin_status st;

    *until = 0;
    if ((st = admin_acct_keys(a, account, &k, err, errlen)) != ADMIN_OK)
        return st;
    admin_evmax(a, evmax);
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)max);
    snprintf(fm, sizeof fm, "%lld", (long long)for_ms);
    const char *keys[3] = { k.acct, k.audit, k.events };
    const char *args[6] = { account, limit, ms, fm, by, evmax };
    if ((st = admin_fcall_flag(a, "outpost_override", 3, keys, 6, args, "override not set",
                               err, errlen)) != ADMIN_OK || for_ms == 0)
        return st;
    snprintf(field, sizeof field, "ovr_until:%s", limit);
    const char *argv[3] = { "HGET", k.acct, field };
    redisReply *r = admin_cmd(a, 3, argv, &st, err, errlen);
    if (r == NULL)
        return st;
    if (r->type == REDIS_REPLY_STRING)
        admin_int(r->str, r->len, until);
    freeReplyObject(r);
    return ADMIN_OK;
}

enum admin_status admin_override_clear(struct admin *a, const char *account,
                                       const char *limit, const char *by,
                                       char *err, size_t errlen)
{
    struct admin_ckeys k;
    char evmax[24], refusal[ADMIN_NAME_MAX + 48];
    enum admin_status st;

    if ((st = admin_acct_keys(a, account, &k, err, errlen)) != ADMIN_OK)
        return st;
    admin_evmax(a, evmax);
    snprintf(refusal, sizeof refusal, "no override of limit %s", limit);
    const char *keys[3] = { k.acct, k.audit, k.events };
    const char *args[6] = { account, limit, "", "0", by, evmax };
    return admin_fcall_flag(a, "outpost_override", 3, keys, 6, args, refusal, err, errlen);
}

/* The limit called name: of cls if it has one, else of the first class
 * that does; NULL if none. */
static const struct config_limit *admin_limit_find(const struct config *cfg,
                                                   const struct config_class *cls,
                                                   const char *name)
{
    for (size_t i = 0; cls != NULL && i < cls->nlimits; i++)
        if (strcmp(cls->limits[i].name, name) == 0)
            return &cls->limits[i];
    for (size_t c = 0; c < cfg->nclasses; c++)
        for (size_t i = 0; i < cfg->classes[c].nlimits; i++)
            if (strcmp(cfg->classes[c].limits[i].name, name) == 0)
                return &cfg->classes[c].limits[i];
    return NULL;
}

enum admin_status admin_reset(struct admin *a, const char *account, const char *limit,
                              const char *by, json_t **out, char *err, size_t errlen)
{
    struct admin_ckeys k;
    const char *p = a->cfg->redis.prefix;
    enum admin_status st;
    const redisReply *stored;

    *out = NULL;
    if ((st = admin_acct_keys(a, account, &k, err, errlen)) != ADMIN_OK)
        return st;
    redisReply *h = admin_acct_read(a, k.acct, &st, err, errlen);
    if (h == NULL)
        return st;
    const struct config_class *cls = admin_class_of(a->cfg, h, &stored);
    freeReplyObject(h);

    /* the counter keys: at most one per limit of the class */
    const struct config_limit *one = NULL;
    size_t n = 0, cap = limit != NULL ? 1 : cls != NULL ? cls->nlimits : 0;
    char (*ckeys)[KEYS_MAX] = cap > 0 ? xmalloc(cap * sizeof *ckeys) : NULL;
    json_t *names = json_array();
    if (limit != NULL) {
        one = admin_limit_find(a->cfg, cls, limit);
        if (one == NULL) {
            snprintf(err, errlen, "limit %s: not a limit of any class", limit);
            st = ADMIN_INVALID;
            goto fail;
        }
        if (one->key != LIMIT_KEY_ACCOUNT) {
            snprintf(err, errlen, "limit %s is keyed by %s: its counters are not the "
                     "account's; nothing reset", limit, admin_key_names[one->key]);
            st = ADMIN_INVALID;
            goto fail;
        }
    }
    for (size_t i = 0; i < cap; i++) {
        const struct config_limit *l = one != NULL ? one : &cls->limits[i];
        if (l->key != LIMIT_KEY_ACCOUNT)
            continue;
        if (keys_counter(ckeys[n], p, LIMIT_KEY_ACCOUNT, account, l->name) == 0) {
            snprintf(err, errlen, "account too long for a key");
            st = ADMIN_INVALID;
            goto fail;
        }
        json_array_append_new(names, json_string(l->name));
        n++;
    }

    const char **keys = xmalloc((2 + n) * sizeof *keys);
    char evmax[24];
    keys[0] = k.audit;
    keys[1] = k.events;
    for (size_t i = 0; i < n; i++)
        keys[2 + i] = ckeys[i];
    admin_evmax(a, evmax);
    const char *args[4] = { account, limit != NULL ? limit : "", by, evmax };
    redisReply *r = admin_fcall(a, "outpost_reset", (int)(2 + n), keys, 4, args, &st,
                                err, errlen);
    free(keys);
    if (r == NULL)
        goto fail;
    if (r->type != REDIS_REPLY_INTEGER) {
        st = admin_badreply(r, "FCALL outpost_reset", err, errlen);
        goto fail;
    }
    *out = json_pack("{s:o, s:s?, s:s?, s:o, s:I}", "account",
                     admin_jstr(account, strlen(account)), "class",
                     cls != NULL ? cls->name : NULL, "limit", limit, "limits", names,
                     "deleted", (json_int_t)r->integer);
    if (limit == NULL)
        json_object_set_new(*out, "limit", json_null());
    freeReplyObject(r);
    free(ckeys);
    return ADMIN_OK;
fail:
    json_decref(names);
    free(ckeys);
    return st;
}

enum admin_status admin_usage(struct admin *a, size_t n, const char *const *keys,
                              const int64_t *per_ms, int64_t now_ms,
                              struct admin_usage *out, char *err, size_t errlen)
{
    char nums[ADMIN_USAGE_MAX + 1][24];
    const char *args[ADMIN_USAGE_MAX + 1];
    enum admin_status st;

    if (n > ADMIN_USAGE_MAX)
        log_panic("admin_usage: %zu keys", n);
    if (n == 0)
        return ADMIN_OK;
    if (now_ms < 0)
        nums[0][0] = '\0';
    else
        snprintf(nums[0], sizeof nums[0], "%lld", (long long)now_ms);
    args[0] = nums[0];
    for (size_t i = 0; i < n; i++) {
        snprintf(nums[i + 1], sizeof nums[i + 1], "%lld", (long long)per_ms[i]);
        args[i + 1] = nums[i + 1];
    }
    redisReply *r = admin_fcall(a, "outpost_usage", (int)n, keys, (int)n + 1, args, &st,
                                err, errlen);
    if (r == NULL)
        return st;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n)
        return admin_badreply(r, "FCALL outpost_usage", err, errlen);
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 3
            || e->element[0]->type != REDIS_REPLY_INTEGER
            || e->element[1]->type != REDIS_REPLY_INTEGER
            || e->element[2]->type != REDIS_REPLY_INTEGER)
            return admin_badreply(r, "FCALL outpost_usage", err, errlen);
        out[i] = (struct admin_usage){ e->element[0]->integer, e->element[1]->integer,
                                       e->element[2]->integer };
    }
    freeReplyObject(r);
    return ADMIN_OK;
}

/* ---- sender identities ------------------------------------------------ */

#define ADMIN_PRUNE_MAX 128     /* index members pruned per WATCH/MULTI/EXEC */

static const char *const admin_id_ops[] = { "add", "verify", "grant", "remove" };

/* The six keys of outpost_identity (6 KiB: heap or one at a time). */
struct admin_ikeys {
    char ids[KEYS_MAX], who[KEYS_MAX], audit[KEYS_MAX], events[KEYS_MAX],
         observed[KEYS_MAX], obsidx[KEYS_MAX];
};

static enum admin_status admin_identity_keys(const struct admin *a, const char *account,
                                             const char *address, struct admin_ikeys *k,
                                             char *err, size_t errlen)
{
    const char *p = a->cfg->redis.prefix;
    if (keys_account(k->ids, p, account, KEYS_IDS) == 0
        || keys_who(k->who, p, address) == 0
        || keys_account(k->audit, p, account, KEYS_AUDIT) == 0
        || keys_global(k->events, p, "events", NULL) == 0
        || keys_account(k->observed, p, account, KEYS_OBSERVED) == 0
        || keys_global(k->obsidx, p, "idx", "observed") == 0) {
        snprintf(err, errlen, "account or address too long for a key");
        return ADMIN_INVALID;
    }
    return ADMIN_OK;
}

/* FOR_MS of outpost_identity: "" keeps the expiry. */
static void admin_for_ms(int64_t for_ms, char out[24])
{
    if (for_ms < 0)
        out[0] = '\0';
    else
        snprintf(out, 24, "%lld", (long long)for_ms);
}

enum admin_status admin_identity(struct admin *a, enum admin_id_op op,
                                 const char *account, const char *address,
                                 int64_t for_ms, const char *by, int *result,
                                 char *err, size_t errlen)
{
    struct admin_ikeys *k = xmalloc(sizeof *k);
    char evmax[24], fm[24];
    enum admin_status st;

    *result = ADMIN_ID_FAILED;
    if ((st = admin_identity_keys(a, account, address, k, err, errlen)) != ADMIN_OK) {
        free(k);
        return st;
    }
    admin_evmax(a, evmax);
    admin_for_ms(for_ms, fm);
    const char *keys[6] = { k->ids, k->who, k->audit, k->events, k->observed, k->obsidx };
    const char *args[6] = { admin_id_ops[op], account, address, fm, by, evmax };
    redisReply *r = admin_fcall(a, "outpost_identity", 6, keys, 6, args, &st, err, errlen);
    free(k);
    if (r == NULL)
        return st;
    if (r->type != REDIS_REPLY_INTEGER || r->integer < -1 || r->integer > 1)
        return admin_badreply(r, "FCALL outpost_identity", err, errlen);
    *result = (int)r->integer;
    freeReplyObject(r);
    return ADMIN_OK;
}

/* Records the failure of item i in a batch: an unreachable Redis wins,
 * else the lowest index. */
static void admin_batch_fail(enum admin_status *st, size_t *failed, size_t i,
                             enum admin_status s, const char *msg, char *err,
                             size_t errlen)
{
    if (*st == ADMIN_UNREACHABLE)
        return;
    if (s == ADMIN_UNREACHABLE || *st == ADMIN_OK || i < *failed) {
        *st = s;
        *failed = i;
        snprintf(err, errlen, "%s", msg);
    }
}

enum admin_status admin_identity_batch(struct admin *a, struct admin_id_item *items,
                                       size_t n, const char *by, size_t *failed,
                                       char *err, size_t errlen)
{
    struct admin_ikeys *k = xmalloc(sizeof *k);
    bool send[ADMIN_ID_BATCH];
    char evmax[24], msg[512];
    enum admin_status st = ADMIN_OK;

    if (n > ADMIN_ID_BATCH)
        log_panic("admin_identity_batch: %zu items", n);
    *failed = n;
    admin_evmax(a, evmax);
    for (size_t i = 0; i < n; i++) {
        items[i].result = ADMIN_ID_FAILED;
        send[i] = true;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        bool missing = false;
        for (size_t i = 0; i < n; i++) {
            if (!send[i])
                continue;
            enum admin_status ks = admin_identity_keys(a, items[i].account, items[i].address,
                                                       k, msg, sizeof msg);
            if (ks != ADMIN_OK) {
                admin_batch_fail(&st, failed, i, ks, msg, err, errlen);
                send[i] = false;
                continue;
            }
            const char *argv[15] = { "FCALL", "outpost_identity", "6", k->ids, k->who,
                                     k->audit, k->events, k->observed, k->obsidx,
                                     items[i].verified ? "grant" : "add",
                                     items[i].account, items[i].address, "", by, evmax };
            if (a->c->err || redisAppendCommandArgv(a->c, 15, argv, NULL) != REDIS_OK) {
                snprintf(msg, sizeof msg, "Redis %s: FCALL: %s", a->cfg->redis.address,
                         a->c->err ? a->c->errstr : "out of memory");
                admin_batch_fail(&st, failed, i, ADMIN_UNREACHABLE, msg, err, errlen);
                free(k);
                return st;
            }
        }
        for (size_t i = 0; i < n; i++) {
            if (!send[i])
                continue;
            void *rv = NULL;
            if (redisGetReply(a->c, &rv) != REDIS_OK || rv == NULL) {
                snprintf(msg, sizeof msg, "Redis %s: FCALL: %s", a->cfg->redis.address,
                         a->c->err ? a->c->errstr : "no reply");
                admin_batch_fail(&st, failed, i, ADMIN_UNREACHABLE, msg, err, errlen);
                free(k);
                return st;
            }
            redisReply *r = rv;
            send[i] = false;
            if (r->type == REDIS_REPLY_INTEGER && (r->integer == 0 || r->integer == 1)) {
                items[i].result = (int)r->integer;
            } else if (r->type == REDIS_REPLY_ERROR && attempt == 0
                       && admin_prefixed(r, "ERR Function not found")) {
                send[i] = missing = true;
            } else if (r->type == REDIS_REPLY_ERROR) {
                enum admin_status s = admin_classify(r, "Redis FCALL outpost_identity",
                                                     msg, sizeof msg);
                admin_batch_fail(&st, failed, i, s, msg, err, errlen);
            } else {
                snprintf(msg, sizeof msg, "Redis FCALL outpost_identity: unexpected reply "
                         "(type %d)", r->type);
                admin_batch_fail(&st, failed, i, ADMIN_REFUSED, msg, err, errlen);
            }
            freeReplyObject(r);
        }
        if (!missing)
            break;
        enum admin_status ls = admin_load_library(a, msg, sizeof msg);
        if (ls != ADMIN_OK) {
            for (size_t i = 0; i < n; i++)
                if (send[i]) {
                    admin_batch_fail(&st, failed, i, ls, msg, err, errlen);
                    break;
                }
            break;
        }
    }
    free(k);
    return st;
}

/* An integer member of a decoded object (a real, as cjson may write large
 * numbers, truncated); 0 when absent or not a number. */
static int64_t admin_jget_int(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return 0;
}

/* One stored grant (a field and its JSON value of ids or who) as shown at
 * now: {NAME_KEY: field, "state", "until", "at", "by", ...}. */
static json_t *admin_grant(const char *name_key, const redisReply *f, const redisReply *v,
                           int64_t now)
{
    static const char *const times[] = { "at", "until", "verified_at" };
    json_t *o = json_object();
    json_t *g = admin_jdecode(v->str, v->len);

    json_object_set_new(o, name_key, admin_jstr(f->str, f->len));
    if (json_object_size(g) == 1 && json_object_get(g, "raw") != NULL) {
        json_object_set_new(o, "state", json_string("unreadable"));
        json_object_update(o, g);
        json_decref(g);
        return o;
    }
    const char *stored = json_string_value(json_object_get(g, "state"));
    json_t *state = json_string(stored != NULL ? stored : "unreadable");
    int64_t until = admin_jget_int(g, "until");
    json_object_set_new(o, "state", state);
    json_object_update_missing(o, g);
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
        if (json_object_get(g, times[i]) != NULL || strcmp(times[i], "until") == 0)
            json_object_set_new(o, times[i], json_integer(admin_jget_int(g, times[i])));
    if (until > 0 && until <= now) {
        json_object_set_new(o, "stored_state", json_incref(state));
        json_object_set_new(o, "state", json_string("expired"));
    }
    json_decref(g);
    return o;
}

/* An HGETALL of ids or who as a JSON array of grants sorted by field. */
static json_t *admin_grants(const redisReply *h, const char *name_key, int64_t now)
{
    json_t *arr = json_array();
    size_t m;
    struct admin_pair *pairs = admin_sorted_pairs(h, &m);
    for (size_t i = 0; i < m; i++)
        json_array_append_new(arr, admin_grant(name_key, pairs[i].f, pairs[i].v, now));
    free(pairs);
    return arr;
}

/* HGETALL key (an array reply), or NULL with *st. */
static redisReply *admin_hgetall(struct admin *a, const char *key, enum admin_status *st,
                                 char *err, size_t errlen)
{
    const char *argv[2] = { "HGETALL", key };
    redisReply *r = admin_cmd(a, 2, argv, st, err, errlen);
    if (r != NULL && r->type != REDIS_REPLY_ARRAY) {
        *st = admin_badreply(r, "HGETALL", err, errlen);
        return NULL;
    }
    return r;
}

/* The grants in one hash at Redis TIME: *out {NAME_KEY: name, "now",
 * LIST_KEY: [...]}. */
static enum admin_status admin_grants_read(struct admin *a, const char *key,
                                           const char *name_key, const char *name,
                                           const char *list_key, const char *item_key,
                                           json_t **out, char *err, size_t errlen)
{
    enum admin_status st;
    int64_t now;

    *out = NULL;
    if ((st = admin_now(a, &now, err, errlen)) != ADMIN_OK)
        return st;
    redisReply *h = admin_hgetall(a, key, &st, err, errlen);
    if (h == NULL)
        return st;
    *out = json_pack("{s:o, s:I, s:o}", name_key, admin_jstr(name, strlen(name)), "now",
                     (json_int_t)now, list_key, admin_grants(h, item_key, now));
    freeReplyObject(h);
    return ADMIN_OK;
}

enum admin_status admin_identity_list(struct admin *a, const char *account,
                                      json_t **out, char *err, size_t errlen)
{
    char ids[KEYS_MAX];

    *out = NULL;
    if (keys_account(ids, a->cfg->redis.prefix, account, KEYS_IDS) == 0) {
        snprintf(err, errlen, "account too long for a key");
        return ADMIN_INVALID;
    }
    return admin_grants_read(a, ids, "account", account, "identities", "address", out,
                             err, errlen);
}

enum admin_status admin_identity_who(struct admin *a, const char *address,
                                     json_t **out, char *err, size_t errlen)
{
    char who[KEYS_MAX];

    *out = NULL;
    if (keys_who(who, a->cfg->redis.prefix, address) == 0) {
        snprintf(err, errlen, "address too long for a key");
        return ADMIN_INVALID;
    }
    return admin_grants_read(a, who, "address", address, "accounts", "account", out,
                             err, errlen);
}

enum admin_status admin_identity_get(struct admin *a, const char *account,
                                     const char *address, json_t **out,
                                     char *err, size_t errlen)
{
    char ids[KEYS_MAX];
    enum admin_status st;

    *out = NULL;
    if (keys_account(ids, a->cfg->redis.prefix, account, KEYS_IDS) == 0) {
        snprintf(err, errlen, "account too long for a key");
        return ADMIN_INVALID;
    }
    const char *argv[3] = { "HGET", ids, address };
    redisReply *r = admin_cmd(a, 3, argv, &st, err, errlen);
    if (r == NULL)
        return st;
    if (r->type == REDIS_REPLY_STRING)
        *out = admin_jdecode(r->str, r->len);
    else if (r->type != REDIS_REPLY_NIL)
        return admin_badreply(r, "HGET", err, errlen);
    freeReplyObject(r);
    return ADMIN_OK;
}

/* Most recent first, then by address. */
static int admin_observed_cmp(const void *x, const void *y)
{
    const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    int64_t la = admin_jget_int(a, "last"), lb = admin_jget_int(b, "last");
    if (la != lb)
        return la > lb ? -1 : 1;
    return strcmp(json_string_value(json_object_get(a, "address")),
                  json_string_value(json_object_get(b, "address")));
}

/* One observed hash (HGETALL) as {"account", "last", "overflow",
 * "addresses"}; NULL when it is empty. */
static json_t *admin_observed_entry(const char *account, size_t alen, const redisReply *h)
{
    size_t n = h->elements / 2, m = 0;
    int64_t overflow = 0, last = 0;

    if (n == 0)
        return NULL;
    json_t **v = xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        const redisReply *f = h->element[2 * i], *val = h->element[2 * i + 1];
        if (f->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
            continue;
        if (f->len == 8 && memcmp(f->str, "overflow", 8) == 0) {
            if (!admin_int(val->str, val->len, &overflow))
                overflow = 0;
            continue;
        }
        json_t *e = json_object();
        json_t *d = admin_jdecode(val->str, val->len);
        json_object_set_new(e, "address", admin_jstr(f->str, f->len));
        json_object_update(e, d);
        json_decref(d);
        static const char *const nums[] = { "count", "first", "last" };
        for (size_t j = 0; j < sizeof nums / sizeof nums[0]; j++)
            json_object_set_new(e, nums[j], json_integer(admin_jget_int(e, nums[j])));
        if (admin_jget_int(e, "last") > last)
            last = admin_jget_int(e, "last");
        v[m++] = e;
    }
    qsort(v, m, sizeof *v, admin_observed_cmp);
    json_t *arr = json_array();
    for (size_t i = 0; i < m; i++)
        json_array_append_new(arr, v[i]);
    free(v);
    return json_pack("{s:o, s:I, s:I, s:o}", "account", admin_jstr(account, alen), "last",
                     (json_int_t)last, "overflow", (json_int_t)overflow, "addresses", arr);
}

/* Removes from the index idx those of the m (<= ADMIN_PRUNE_MAX) members
 * whose observed hash (keys[i]) still does not exist, unless one of these
 * hashes is written meanwhile (WATCH: the transaction is then dropped and
 * nothing pruned this time).  Adds the number removed to *pruned. */
static enum admin_status admin_prune(struct admin *a, const char *idx,
                                     const redisReply *const *members,
                                     const char *const *keys, size_t m, int64_t *pruned,
                                     char *err, size_t errlen)
{
    const char *argv[ADMIN_PRUNE_MAX + 2];
    size_t lens[ADMIN_PRUNE_MAX + 2];
    bool gone[ADMIN_PRUNE_MAX];
    size_t ngone = 0;
    enum admin_status st;
    redisReply *r;

    if (m == 0)
        return ADMIN_OK;
    if (m > ADMIN_PRUNE_MAX)
        log_panic("admin_prune: %zu members", m);
    argv[0] = "WATCH";
    for (size_t i = 0; i < m; i++)
        argv[1 + i] = keys[i];
    if ((r = admin_cmd(a, (int)m + 1, argv, &st, err, errlen)) == NULL)
        return st;
    freeReplyObject(r);
    for (size_t i = 0; i < m; i++) {
        const char *ex[2] = { "EXISTS", keys[i] };
        if (redisAppendCommandArgv(a->c, 2, ex, NULL) != REDIS_OK) {
            snprintf(err, errlen, "Redis %s: EXISTS: out of memory", a->cfg->redis.address);
            return ADMIN_UNREACHABLE;
        }
    }
    for (size_t i = 0; i < m; i++) {
        void *rv = NULL;
        if (redisGetReply(a->c, &rv) != REDIS_OK || rv == NULL) {
            snprintf(err, errlen, "Redis %s: EXISTS: %s", a->cfg->redis.address,
                     a->c->err ? a->c->errstr : "no reply");
            return ADMIN_UNREACHABLE;
        }
        r = rv;
        gone[i] = r->type == REDIS_REPLY_INTEGER && r->integer == 0;
        ngone += gone[i];
        freeReplyObject(r);
    }
    const char *one[1] = { ngone == 0 ? "UNWATCH" : "MULTI" };
    if ((r = admin_cmd(a, 1, one, &st, err, errlen)) == NULL)
        return st;
    freeReplyObject(r);
    if (ngone == 0)
        return ADMIN_OK;
    size_t argc = 0;
    argv[argc] = "ZREM";
    lens[argc++] = 4;
    argv[argc] = idx;
    lens[argc++] = strlen(idx);
    for (size_t i = 0; i < m; i++) {
        if (gone[i]) {
            argv[argc] = members[i]->str;
            lens[argc++] = members[i]->len;
        }
    }
    if ((r = admin_raw(a, (int)argc, argv, lens, &st, err, errlen)) == NULL)
        return st;
    freeReplyObject(r);                 /* QUEUED (an error is EXEC's to report) */
    const char *exec[1] = { "EXEC" };
    if ((r = admin_cmd(a, 1, exec, &st, err, errlen)) == NULL)
        return st;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1
        && r->element[0]->type == REDIS_REPLY_INTEGER)
        *pruned += r->element[0]->integer;
    else if (r->type != REDIS_REPLY_NIL)
        return admin_badreply(r, "EXEC", err, errlen);
    freeReplyObject(r);
    return ADMIN_OK;
}

/* The observed hashes of the index members z->element[base..end-1]
 * (end - base <= ADMIN_PIPELINE): HGETALLs pipelined, entries appended to
 * arr, members without a hash pruned. */
static enum admin_status admin_observed_chunk(struct admin *a, const char *idx,
                                              const redisReply *z, size_t base, size_t end,
                                              json_t *arr, int64_t *pruned,
                                              char *err, size_t errlen)
{
    char (*keys)[KEYS_MAX] = xmalloc(ADMIN_PIPELINE * sizeof *keys);
    const char *gkeys[ADMIN_PIPELINE];
    const redisReply *gone[ADMIN_PIPELINE];
    bool sent[ADMIN_PIPELINE] = { false };
    enum admin_status st = ADMIN_OK;
    size_t ngone = 0;

    for (size_t i = base; i < end; i++) {
        const redisReply *m = z->element[i];
        sent[i - base] = m->type == REDIS_REPLY_STRING && strlen(m->str) == m->len
            && keys_account(keys[i - base], a->cfg->redis.prefix, m->str,
                            KEYS_OBSERVED) != 0;
        if (!sent[i - base])
            continue;                   /* not a name outpost could write */
        const char *argv[2] = { "HGETALL", keys[i - base] };
        if (redisAppendCommandArgv(a->c, 2, argv, NULL) != REDIS_OK) {
            snprintf(err, errlen, "Redis %s: HGETALL: out of memory", a->cfg->redis.address);
            st = ADMIN_UNREACHABLE;
            goto out;
        }
    }
    for (size_t i = base; i < end; i++) {
        if (!sent[i - base])
            continue;
        void *rv = NULL;
        if (redisGetReply(a->c, &rv) != REDIS_OK || rv == NULL) {
            snprintf(err, errlen, "Redis %s: HGETALL: %s", a->cfg->redis.address,
                     a->c->err ? a->c->errstr : "no reply");
            st = ADMIN_UNREACHABLE;
            goto out;
        }
        redisReply *h = rv;
        const redisReply *m = z->element[i];
        json_t *e = h->type == REDIS_REPLY_ARRAY ? admin_observed_entry(m->str, m->len, h)
                                                 : NULL;
        if (e != NULL) {
            json_array_append_new(arr, e);
        } else if (h->type == REDIS_REPLY_ARRAY) {
            gkeys[ngone] = keys[i - base];
            gone[ngone++] = m;
        }
        freeReplyObject(h);
    }
    for (size_t done = 0; done < ngone;) {
        size_t m = ngone - done < ADMIN_PRUNE_MAX ? ngone - done : ADMIN_PRUNE_MAX;
        if ((st = admin_prune(a, idx, gone + done, gkeys + done, m, pruned, err,
                              errlen)) != ADMIN_OK)
            goto out;
        done += m;
    }
out:
    free(keys);
    return st;
}

enum admin_status admin_identity_observed(struct admin *a, const char *account,
                                          json_t **out, char *err, size_t errlen)
{
    char key[KEYS_MAX];
    int64_t now, pruned = 0;
    enum admin_status st;
    json_t *arr;

    *out = NULL;
    if ((account != NULL && keys_account(key, a->cfg->redis.prefix, account,
                                         KEYS_OBSERVED) == 0)
        || (account == NULL && keys_global(key, a->cfg->redis.prefix, "idx",
                                           "observed") == 0)) {
        snprintf(err, errlen, "account too long for a key");
        return ADMIN_INVALID;
    }
    if ((st = admin_now(a, &now, err, errlen)) != ADMIN_OK)
        return st;
    arr = json_array();
    if (account != NULL) {
        redisReply *h = admin_hgetall(a, key, &st, err, errlen);
        if (h == NULL) {
            json_decref(arr);
            return st;
        }
        json_t *e = admin_observed_entry(account, strlen(account), h);
        if (e != NULL)
            json_array_append_new(arr, e);
        freeReplyObject(h);
    } else {
        /* most recent first; ZRANGE ... REV needs no other ACL command */
        const char *range[5] = { "ZRANGE", key, "0", "-1", "REV" };
        redisReply *z = admin_cmd(a, 5, range, &st, err, errlen);
        if (z == NULL) {
            json_decref(arr);
            return st;
        }
        if (z->type != REDIS_REPLY_ARRAY) {
            json_decref(arr);
            return admin_badreply(z, "ZRANGE", err, errlen);
        }
        for (size_t base = 0; base < z->elements && st == ADMIN_OK; base += ADMIN_PIPELINE) {
            size_t end = base + ADMIN_PIPELINE < z->elements ? base + ADMIN_PIPELINE
                                                             : z->elements;
            st = admin_observed_chunk(a, key, z, base, end, arr, &pruned, err, errlen);
        }
        freeReplyObject(z);
        if (st != ADMIN_OK) {
            json_decref(arr);
            return st;
        }
    }
    *out = json_pack("{s:I, s:I, s:o}", "now", (json_int_t)now, "pruned",
                     (json_int_t)pruned, "observed", arr);
    return ADMIN_OK;
}

/* show: the account's grants and how many addresses it was seen using. */
static enum admin_status admin_show_identities(struct admin *a, const char *account,
                                               int64_t now, json_t *o,
                                               char *err, size_t errlen)
{
    char ids[KEYS_MAX], obs[KEYS_MAX];
    enum admin_status st;
    int64_t overflow = 0;

    if (keys_account(ids, a->cfg->redis.prefix, account, KEYS_IDS) == 0
        || keys_account(obs, a->cfg->redis.prefix, account, KEYS_OBSERVED) == 0) {
        snprintf(err, errlen, "account too long for a key");
        return ADMIN_INVALID;
    }
    redisReply *h = admin_hgetall(a, ids, &st, err, errlen);
    if (h == NULL)
        return st;
    json_object_set_new(o, "identities", admin_grants(h, "address", now));
    freeReplyObject(h);

    const char *hlen[2] = { "HLEN", obs };
    redisReply *n = admin_cmd(a, 2, hlen, &st, err, errlen);
    if (n == NULL)
        return st;
    if (n->type != REDIS_REPLY_INTEGER)
        return admin_badreply(n, "HLEN", err, errlen);
    const char *hget[3] = { "HGET", obs, "overflow" };
    redisReply *v = admin_cmd(a, 3, hget, &st, err, errlen);
    if (v == NULL) {
        freeReplyObject(n);
        return st;
    }
    if (v->type == REDIS_REPLY_STRING && !admin_int(v->str, v->len, &overflow))
        overflow = 0;
    json_object_set_new(o, "observed", json_integer(n->integer - (v->type ==
                                                                  REDIS_REPLY_STRING)));
    json_object_set_new(o, "observed_overflow", json_integer(overflow));
    freeReplyObject(n);
    freeReplyObject(v);
    return ADMIN_OK;
}

/* The weight of a strikes member "ID WEIGHT" (as outpost_verdict writes
 * it: digits and a dot); false if it is not one. */
static bool admin_strike_weight(const redisReply *m, double *w)
{
    char buf[32];
    size_t n = 0;

    if (m->type != REDIS_REPLY_STRING)
        return false;
    while (n < m->len && m->str[m->len - 1 - n] != ' ')
        n++;
    if (n == 0 || n == m->len || n >= sizeof buf)
        return false;
    memcpy(buf, m->str + m->len - n, n);
    buf[n] = '\0';
    if (strspn(buf, "0123456789.") != n || strchr(buf, '.') != strrchr(buf, '.'))
        return false;
    char *end;
    *w = strtod(buf, &end);
    return *end == '\0' && *w >= 0;
}

/* show: the strikes within the window of the account's class (the
 * members outpost_verdict would count now: score >= now - within). */
static enum admin_status admin_show_strikes(struct admin *a, const char *account,
                                            const struct config_class *cls, int64_t now,
                                            json_t *o, char *err, size_t errlen)
{
    char key[KEYS_MAX], min[32], lim[24];
    enum admin_status st;
    const struct config_auto_suspend *as = cls != NULL ? &cls->auto_suspend : NULL;
    int64_t within = as != NULL && as->within_ms > 0 ? as->within_ms : 86400000;

    if (keys_account(key, a->cfg->redis.prefix, account, KEYS_STRIKES) == 0) {
        snprintf(err, errlen, "account too long for a key");
        return ADMIN_INVALID;
    }
    snprintf(min, sizeof min, "%lld", (long long)(now - within));
    snprintf(lim, sizeof lim, "%d", ADMIN_STRIKES_MAX);
    const char *argv[8] = { "ZRANGE", key, min, "+inf", "BYSCORE", "LIMIT", "0", lim };
    redisReply *r = admin_cmd(a, 8, argv, &st, err, errlen);
    if (r == NULL)
        return st;
    if (r->type != REDIS_REPLY_ARRAY)
        return admin_badreply(r, "ZRANGE", err, errlen);
    double sum = 0, w;
    int64_t count = 0;
    for (size_t i = 0; i < r->elements; i++) {
        if (admin_strike_weight(r->element[i], &w)) {
            sum += w;
            count++;
        }
    }
    freeReplyObject(r);
    json_t *s = json_pack("{s:f, s:I, s:I}", "sum", floor(sum * 1000 + 0.5) / 1000,
                          "count", (json_int_t)count, "within_ms", (json_int_t)within);
    json_object_set_new(s, "threshold", as != NULL && as->enabled
                                        ? json_real(as->verdicts) : json_null());
    json_object_set_new(o, "strikes", s);
    return ADMIN_OK;
}

/* show: the class, the overrides and the limits with their usage. */
static enum admin_status admin_show_limits(struct admin *a, const char *account,
                                           int64_t now, json_t *o,
                                           char *err, size_t errlen)
{
    struct admin_ckeys k;
    enum admin_status st;
    const redisReply *stored;

    if ((st = admin_acct_keys(a, account, &k, err, errlen)) != ADMIN_OK)
        return st;
    redisReply *h = admin_acct_read(a, k.acct, &st, err, errlen);
    if (h == NULL)
        return st;
    const struct config_class *cls = admin_class_of(a->cfg, h, &stored);
    json_object_set_new(o, "class", cls ? json_string(cls->name) : json_null());
    json_object_set_new(o, "class_default", json_boolean(stored == NULL));
    if (stored != NULL && (cls == NULL || strlen(cls->name) != stored->len
                           || memcmp(cls->name, stored->str, stored->len) != 0))
        json_object_set_new(o, "class_stored", admin_jstr(stored->str, stored->len));

    /* every override in force, also of limits the class does not have */
    json_t *ovr = json_object();
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i];
        int64_t max, until;
        if (f->type != REDIS_REPLY_STRING || f->len <= 4 || f->len > 4 + ADMIN_NAME_MAX
            || memcmp(f->str, "ovr:", 4) != 0 || strlen(f->str) != f->len)
            continue;
        if (admin_override_of(h, f->str + 4, now, &max, &until))
            json_object_set_new(ovr, f->str + 4, json_pack("{s:I, s:I}", "max",
                                (json_int_t)max, "until", (json_int_t)until));
    }

    json_t *limits = json_array();
    const char *ukeys[ADMIN_USAGE_MAX];
    char (*ukbuf)[KEYS_MAX] = xmalloc(ADMIN_USAGE_MAX * sizeof *ukbuf);
    int64_t uper[ADMIN_USAGE_MAX];
    json_t *uobj[ADMIN_USAGE_MAX];
    size_t nu = 0;
    for (size_t i = 0; cls != NULL && i < cls->nlimits; i++) {
        const struct config_limit *l = &cls->limits[i];
        char per[32];
        int64_t max = (int64_t)l->max, omax, until;
        config_format_duration(l->per_ms, per, sizeof per);
        json_t *e = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:b}", "name", l->name,
                              "count", admin_count_names[l->count], "key",
                              admin_key_names[l->key], "class_max", (json_int_t)l->max,
                              "per_ms", (json_int_t)l->per_ms, "per", per, "action",
                              config_action_name(l->action), "shadow", l->shadow);
        if (admin_override_of(h, l->name, now, &omax, &until)) {
            max = omax;
            json_object_set_new(e, "override", json_pack("{s:I, s:I}", "max",
                                (json_int_t)omax, "until", (json_int_t)until));
        }
        json_object_set_new(e, "max", json_integer(max));
        if (l->key == LIMIT_KEY_ACCOUNT && nu < ADMIN_USAGE_MAX
            && keys_counter(ukbuf[nu], a->cfg->redis.prefix, LIMIT_KEY_ACCOUNT, account,
                            l->name) != 0) {
            ukeys[nu] = ukbuf[nu];
            uper[nu] = l->per_ms;
            uobj[nu++] = e;
        }
        json_array_append_new(limits, e);
    }
    freeReplyObject(h);
    if ((st = admin_show_strikes(a, account, cls, now, o, err, errlen)) != ADMIN_OK) {
        free(ukbuf);
        json_decref(ovr);
        json_decref(limits);
        return st;
    }

    struct admin_usage u[ADMIN_USAGE_MAX];
    st = admin_usage(a, nu, ukeys, uper, now, u, err, errlen);
    free(ukbuf);
    if (st != ADMIN_OK) {
        json_decref(ovr);
        json_decref(limits);
        return st;
    }
    for (size_t i = 0; i < nu; i++) {
        json_int_t max = json_integer_value(json_object_get(uobj[i], "max"));
        json_int_t rem = max - (json_int_t)u[i].used;
        json_object_set_new(uobj[i], "used", json_integer(u[i].used));
        json_object_set_new(uobj[i], "remaining", json_integer(rem > 0 ? rem : 0));
        json_object_set_new(uobj[i], "w_ms", json_integer(u[i].w_ms));
        json_object_set_new(uobj[i], "free_next_ms", json_integer(u[i].free_next_ms));
    }
    json_object_set_new(o, "limits", limits);
    json_object_set_new(o, "overrides", ovr);
    return ADMIN_OK;
}

enum admin_status admin_show(struct admin *a, const char *account, json_t **out,
                             char *err, size_t errlen)
{
    struct admin_akeys k;
    char last[8];
    int64_t now;
    enum admin_status st;

    *out = NULL;
    if ((st = admin_account_keys(a, account, &k, err, errlen)) != ADMIN_OK
        || (st = admin_now(a, &now, err, errlen)) != ADMIN_OK)
        return st;

    const char *hget[2] = { "HGETALL", k.susp };
    redisReply *h = admin_cmd(a, 2, hget, &st, err, errlen);
    if (h == NULL)
        return st;
    if (h->type != REDIS_REPLY_ARRAY)
        return admin_badreply(h, "HGETALL", err, errlen);
    snprintf(last, sizeof last, "%d", ADMIN_AUDIT_SHOW - 1);
    const char *lrange[4] = { "LRANGE", k.audit, "0", last };
    redisReply *l = admin_cmd(a, 4, lrange, &st, err, errlen);
    if (l == NULL) {
        freeReplyObject(h);
        return st;
    }
    if (l->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(h);
        return admin_badreply(l, "LRANGE", err, errlen);
    }

    json_t *o = json_pack("{s:o, s:I}", "account", admin_jstr(account, strlen(account)),
                          "now", (json_int_t)now);
    bool suspended = false;
    if (h->elements > 0) {
        json_t *s = admin_jhash(h);
        json_t *u = json_object_get(s, "until");
        json_int_t until = json_is_integer(u) ? json_integer_value(u) : 0;
        suspended = json_object_get(s, "reason") != NULL && (until == 0 || until > now);
        if (suspended)
            json_object_set_new(o, "suspension", s);
        else
            json_decref(s);
    }
    json_object_set_new(o, "suspended", json_boolean(suspended));
    json_t *audit = json_array();
    for (size_t i = 0; i < l->elements; i++)
        if (l->element[i]->type == REDIS_REPLY_STRING)
            json_array_append_new(audit, admin_jdecode(l->element[i]->str,
                                                       l->element[i]->len));
    json_object_set_new(o, "audit", audit);
    freeReplyObject(h);
    freeReplyObject(l);
    if ((st = admin_show_limits(a, account, now, o, err, errlen)) != ADMIN_OK
        || (st = admin_show_identities(a, account, now, o, err, errlen)) != ADMIN_OK) {
        json_decref(o);
        return st;
    }
    *out = o;
    return ADMIN_OK;
}

/* ---- spam verdicts and events ----------------------------------------- */

enum admin_status admin_verdict_add(struct admin *a, const struct admin_verdict *v,
                                    char id[ADMIN_STREAM_ID_MAX], char *err, size_t errlen)
{
    char key[KEYS_MAX], maxlen[24];
    const char *argv[18];
    int argc = 0;
    enum admin_status st;

    id[0] = '\0';
    if (keys_global(key, a->cfg->redis.prefix, "verdicts", NULL) == 0) {
        snprintf(err, errlen, "redis.prefix too long");
        return ADMIN_INVALID;
    }
    snprintf(maxlen, sizeof maxlen, "%d", ADMIN_VERDICTS_MAXLEN);
    argv[argc++] = "XADD";
    argv[argc++] = key;
    argv[argc++] = "MAXLEN";
    argv[argc++] = "~";
    argv[argc++] = maxlen;
    argv[argc++] = "*";
    argv[argc++] = "account";
    argv[argc++] = v->account;
    const char *opt[4][2] = { { "weight", v->weight }, { "recipients", v->recipients },
                              { "queue_id", v->queue_id }, { "ref", v->ref } };
    for (size_t i = 0; i < 4; i++) {
        if (opt[i][1] != NULL) {
            argv[argc++] = opt[i][0];
            argv[argc++] = opt[i][1];
        }
    }
    argv[argc++] = "source";
    argv[argc++] = v->source;
    redisReply *r = admin_cmd(a, argc, argv, &st, err, errlen);
    if (r == NULL)
        return st;
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len >= ADMIN_STREAM_ID_MAX)
        return admin_badreply(r, "XADD", err, errlen);
    memcpy(id, r->str, r->len + 1);
    freeReplyObject(r);
    return ADMIN_OK;
}

void admin_interrupt(struct admin *a)
{
    if (a != NULL && a->c != NULL && a->c->fd >= 0)
        shutdown(a->c->fd, SHUT_RDWR);
}

/* One events entry [id, [field, value, ...]] as documented in admin.h;
 * NULL if it is not an entry. */
static json_t *admin_event(const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
        || e->element[0]->type != REDIS_REPLY_STRING
        || e->element[0]->len >= ADMIN_STREAM_ID_MAX)
        return NULL;
    const redisReply *fv = e->element[1];
    const redisReply *js = NULL, *ty = NULL, *ac = NULL;
    if (fv->type == REDIS_REPLY_ARRAY) {
        js = admin_hfield(fv, "json");
        ty = admin_hfield(fv, "type");
        ac = admin_hfield(fv, "account");
    }
    json_t *o = NULL;
    if (js != NULL && js->len <= ADMIN_EVENT_JSON_MAX) {
        json_error_t jerr;
        o = json_loadb(js->str, js->len, 0, &jerr);
        if (o != NULL && !json_is_object(o)) {
            json_decref(o);
            o = NULL;
        }
    }
    if (o == NULL) {
        o = json_object();
        if (js != NULL)
            json_object_set_new(o, "raw", admin_jstr(js->str, js->len < 1024 ? js->len
                                                                          : 1024));
    }
    if (!json_is_string(json_object_get(o, "type")))
        json_object_set_new(o, "type", ty != NULL ? admin_jstr(ty->str, ty->len < 64
                                                                 ? ty->len : 64)
                                                  : json_string(""));
    if (!json_is_string(json_object_get(o, "account")))
        json_object_set_new(o, "account", ac != NULL ? admin_jstr(ac->str, ac->len < 1024
                                                                     ? ac->len : 1024)
                                                     : json_string(""));
    json_t *own = json_object_get(o, "id");
    if (own != NULL) {
        /* "verdict_id"; a type that is not a plain name: "event_id" */
        const char *t = json_string_value(json_object_get(o, "type"));
        char name[80];
        size_t tl = strlen(t);
        if (tl >= 1 && tl <= 32 && strspn(t, "abcdefghijklmnopqrstuvwxyz_") == tl)
            snprintf(name, sizeof name, "%s_id", t);
        else
            snprintf(name, sizeof name, "event_id");
        json_object_set(o, name, own);
    }
    json_object_set_new(o, "id", admin_jstr(e->element[0]->str, e->element[0]->len));
    return o;
}

/* Appends the event of entry e to arr and makes its id the last one read. */
static void admin_event_add(json_t *arr, const redisReply *e, char last[ADMIN_STREAM_ID_MAX])
{
    json_t *o = admin_event(e);
    if (o == NULL)
        return;
    memcpy(last, e->element[0]->str, e->element[0]->len);
    last[e->element[0]->len] = '\0';
    json_array_append_new(arr, o);
}

enum admin_status admin_events_last(struct admin *a, size_t n, json_t **out,
                                    char last[ADMIN_STREAM_ID_MAX], char *err,
                                    size_t errlen)
{
    char key[KEYS_MAX], cnt[24];
    enum admin_status st;

    *out = NULL;
    if (n < 1 || n > ADMIN_EVENTS_MAX)
        log_panic("admin_events_last: %zu events", n);
    if (keys_global(key, a->cfg->redis.prefix, "events", NULL) == 0) {
        snprintf(err, errlen, "redis.prefix too long");
        return ADMIN_INVALID;
    }
    snprintf(cnt, sizeof cnt, "%zu", n);
    const char *argv[6] = { "XREVRANGE", key, "+", "-", "COUNT", cnt };
    redisReply *r = admin_cmd(a, 6, argv, &st, err, errlen);
    if (r == NULL)
        return st;
    if (r->type != REDIS_REPLY_ARRAY)
        return admin_badreply(r, "XREVRANGE", err, errlen);
    json_t *arr = json_array();
    for (size_t i = r->elements; i-- > 0;)
        admin_event_add(arr, r->element[i], last);
    freeReplyObject(r);
    *out = arr;
    return ADMIN_OK;
}

enum admin_status admin_events_after(struct admin *a, int64_t block_ms, size_t n,
                                     json_t **out, char last[ADMIN_STREAM_ID_MAX],
                                     char *err, size_t errlen)
{
    char key[KEYS_MAX], cnt[24], blk[24];
    enum admin_status st;
    int64_t t = a->cfg->redis.timeout_ms > ADMIN_TIMEOUT_MIN_MS ? a->cfg->redis.timeout_ms
                                                                : ADMIN_TIMEOUT_MIN_MS;

    *out = NULL;
    if (n < 1 || n > ADMIN_EVENTS_MAX)
        log_panic("admin_events_after: %zu events", n);
    if (keys_global(key, a->cfg->redis.prefix, "events", NULL) == 0) {
        snprintf(err, errlen, "redis.prefix too long");
        return ADMIN_INVALID;
    }
    snprintf(cnt, sizeof cnt, "%zu", n);
    snprintf(blk, sizeof blk, "%lld", (long long)block_ms);
    /* the server answers within block_ms; the socket waits longer */
    if (!a->c->err && redisSetTimeout(a->c, admin_tv(block_ms + t)) != REDIS_OK) {
        snprintf(err, errlen, "Redis %s: cannot set a timeout", a->cfg->redis.address);
        return ADMIN_UNREACHABLE;
    }
    const char *argv[8] = { "XREAD", "COUNT", cnt, "BLOCK", blk, "STREAMS", key, last };
    redisReply *r = admin_cmd(a, 8, argv, &st, err, errlen);
    if (!a->c->err)
        redisSetTimeout(a->c, admin_tv(t));
    if (r == NULL)
        return st;
    json_t *arr = json_array();
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        *out = arr;
        return ADMIN_OK;
    }
    /* [[key, [entry, ...]]] */
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1
        || r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements != 2
        || r->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
        json_decref(arr);
        return admin_badreply(r, "XREAD", err, errlen);
    }
    const redisReply *entries = r->element[0]->element[1];
    for (size_t i = 0; i < entries->elements; i++)
        admin_event_add(arr, entries->element[i], last);
    freeReplyObject(r);
    *out = arr;
    return ADMIN_OK;
}
