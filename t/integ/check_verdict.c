/* check_verdict.c - the spam verdict stream (SPEC §7; doc/keys.md "Spam
 * verdicts (SPEC §7)" and "Events"; src/verdict.c; the Functions
 * outpost_verdict, outpost_verdict_dead and outpost_reinstate of
 * policy/outpost.lua).
 *
 * Real redis-server, real outpostd processes (two sharing one Redis where
 * it matters).  Verdicts are written as doc/keys.md tells scanners to write
 * them: `redis-cli XADD P{verdicts} * account A [weight W] [recipients N]
 * ...` (hiredis, pipelined, for the 10,000 of the exactly-once test); what
 * outpostd made of them is checked by real policy requests to the daemons'
 * sockets (a suspended account gets SUSP_TEXT) and by reading the keys the
 * contract names (P{a:A}:susp, :strikes, :audit, P{events},
 * P{verdicts}:dead, the consumer group).
 *
 *   threshold       K-1 verdicts do not suspend, the K-th does, at once on
 *                   both daemons; reason/by/note, strikes used up, events,
 *                   audit, metrics summed over the daemons
 *   weight          recipients_per_weight and the weight field; a class
 *                   without auto_suspend never suspends
 *   window          verdicts older than `within` (by their entry id) keep
 *                   no strike; strikes leave the window as time passes
 *   temporary       auto_suspend.for: the suspension lifts by itself
 *   reinstate       FCALL outpost_reinstate 5 ...: actor and note in the
 *                   audit list and the event, strikes from zero
 *   malformed       bad entries are acknowledged into P{verdicts}:dead with
 *                   an error, logged, and do not stop good ones
 *   exactly_once    10,000 verdicts, two daemons, one SIGKILLed mid-way and
 *                   restarted, 50 entries left pending by a consumer that
 *                   never acknowledges: every verdict applied exactly once
 *   before_daemon   a verdict written while no outpostd runs is applied
 *                   once one starts (the group is created from 0)
 *
 * Cleanup as in check_store.c / check_limits.c (t/lib/tfix.h): daemons and
 * redis-servers are copied into memory shared with the runner, whose
 * unchecked teardown reaps exactly those PIDs when a failed assertion ended
 * the test process.
 * A passing test stops its daemons with SIGTERM and wants exit status 0
 * and no sanitizer report in their logs.  Every wait is bounded. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "../lib/tfix.h"

#define NDAEMONS 2
#define NREDIS 1
#define TIMEOUT_S 120

#define PFX "outpost:"
#define K_STREAM PFX "{verdicts}"
#define K_DEAD PFX "{verdicts}:dead"
#define K_EVENTS PFX "{events}"
#define K_IDX PFX "{idx}:suspended"
#define GROUP "outpost"
#define EVMAX "100000"
#define SUSP_TEXT "550 5.7.1 Account suspended; contact support"

/* ---- cleanup (t/lib/tfix.h) */

static struct tdaemon daemons[NDAEMONS];
static struct tredis redises[NREDIS];
static redisContext *rcx;               /* the test's own Redis connection */
static void *mem[4];                    /* big arrays of a test */
static char killed_log[NDAEMONS][160];  /* logs of SIGKILLed instances */

static void all_stop(void)              /* checked: in the test process */
{
    if (rcx != NULL)
        redisFree(rcx);
    rcx = NULL;
    for (size_t i = 0; i < sizeof mem / sizeof mem[0]; i++) {
        free(mem[i]);
        mem[i] = NULL;
    }
    tfix_stop_all();
}

/* ---- small helpers */

/* P{a:ACCOUNT}:what (accounts here need no escaping). */
static const char *akey(const char *account, const char *what)
{
    static char bufs[8][256];
    static int next;
    char *o = bufs[next++ & 7];
    snprintf(o, sizeof bufs[0], PFX "{a:%s}:%s", account, what);
    return o;
}

/* ---- the test's own Redis connection (hiredis) */

static void hconnect(const struct tredis *r)
{
    rcx = redisConnectUnix(r->sock);
    ck_assert_msg(rcx != NULL && rcx->err == 0, "hiredis: connect %s: %s", r->sock,
                  rcx != NULL ? rcx->errstr : "out of memory");
}

/* One command; a Redis error fails the test unless may_fail. */
static redisReply *hcmdv(bool may_fail, int argc, const char **argv, const size_t *lens)
{
    redisReply *rp = redisCommandArgv(rcx, argc, argv, lens);
    ck_assert_msg(rp != NULL, "%s %s: hiredis: %s", argv[0], argc > 1 ? argv[1] : "",
                  rcx->errstr);
    ck_assert_msg(may_fail || rp->type != REDIS_REPLY_ERROR, "%s %s: Redis error \"%s\"",
                  argv[0], argc > 1 ? argv[1] : "", rp->str);
    return rp;
}

static int hargs(const char **argv, int max, const char *a0, va_list ap)
{
    int n = 0;
    argv[n++] = a0;
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
        ck_assert_int_lt(n, max);
        argv[n++] = a;
    }
    return n;
}

/* hcmd("ZCARD", key, NULL) */
static redisReply *hcmd(const char *a0, ...)
{
    const char *argv[64];
    va_list ap;
    va_start(ap, a0);
    int n = hargs(argv, 64, a0, ap);
    va_end(ap);
    return hcmdv(false, n, argv, NULL);
}

static long long hint(const char *a0, ...)
{
    const char *argv[64];
    va_list ap;
    va_start(ap, a0);
    int n = hargs(argv, 64, a0, ap);
    va_end(ap);
    redisReply *rp = hcmdv(false, n, argv, NULL);
    ck_assert_msg(rp->type == REDIS_REPLY_INTEGER, "%s %s: not an integer reply (type %d)",
                  a0, n > 1 ? argv[1] : "", rp->type);
    long long v = rp->integer;
    freeReplyObject(rp);
    return v;
}

/* Redis TIME in ms. */
static long long redis_now_ms(void)
{
    redisReply *rp = hcmd("TIME", (char *)NULL);
    ck_assert(rp->type == REDIS_REPLY_ARRAY && rp->elements == 2);
    long long ms = strtoll(rp->element[0]->str, NULL, 10) * 1000
                 + strtoll(rp->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(rp);
    return ms;
}

/* The value of field name in a flat [f, v, ...] array reply, or NULL. */
static const redisReply *flat_get(const redisReply *a, const char *name)
{
    for (size_t i = 0; a != NULL && a->type == REDIS_REPLY_ARRAY && i + 1 < a->elements;
         i += 2)
        if (a->element[i]->type == REDIS_REPLY_STRING && strcmp(a->element[i]->str, name) == 0)
            return a->element[i + 1];
    return NULL;
}

/* HGET of the suspension record; "" when absent (static, 4 buffers). */
static const char *susp_field(const char *account, const char *field)
{
    static char bufs[4][512];
    static int next;
    char *o = bufs[next++ & 3];
    redisReply *rp = hcmd("HGET", akey(account, "susp"), field, (char *)NULL);
    snprintf(o, sizeof bufs[0], "%s", rp->type == REDIS_REPLY_STRING ? rp->str : "");
    freeReplyObject(rp);
    return o;
}

static bool suspended_in_redis(const char *account)
{
    return hint("EXISTS", akey(account, "susp"), (char *)NULL) == 1;
}

/* Polls HGETALL P{a:A}:susp until it is not empty (timeout_ms at most). */
static bool wait_suspended(const char *account, long timeout_ms)
{
    long until = tms_mono() + timeout_ms;
    do {
        redisReply *rp = hcmd("HGETALL", akey(account, "susp"), (char *)NULL);
        bool yes = rp->type == REDIS_REPLY_ARRAY && rp->elements > 0;
        freeReplyObject(rp);
        if (yes)
            return true;
        tsleep_ms(5);
    } while (tms_mono() < until);
    return false;
}

/* ---- the consumer group */

/* True when every entry of the stream was delivered to the group and
 * acknowledged: last-delivered-id == last-generated-id, pending 0.  why
 * gets the state otherwise. */
static bool group_settled(char *why, size_t cap)
{
    const char *a1[] = { "XINFO", "STREAM", K_STREAM };
    redisReply *st = hcmdv(true, 3, a1, NULL);
    if (st->type == REDIS_REPLY_ERROR) {
        snprintf(why, cap, "XINFO STREAM: %s", st->str);
        freeReplyObject(st);
        return false;
    }
    const redisReply *gen = flat_get(st, "last-generated-id");
    ck_assert_ptr_nonnull(gen);
    const char *a2[] = { "XINFO", "GROUPS", K_STREAM };
    redisReply *gr = hcmdv(false, 3, a2, NULL);
    bool ok = false;
    snprintf(why, cap, "no group \"" GROUP "\" on " K_STREAM);
    for (size_t i = 0; gr->type == REDIS_REPLY_ARRAY && i < gr->elements; i++) {
        const redisReply *name = flat_get(gr->element[i], "name");
        if (name == NULL || strcmp(name->str, GROUP) != 0)
            continue;
        const redisReply *pend = flat_get(gr->element[i], "pending");
        const redisReply *del = flat_get(gr->element[i], "last-delivered-id");
        ck_assert(pend != NULL && del != NULL);
        ok = pend->integer == 0 && strcmp(del->str, gen->str) == 0;
        snprintf(why, cap, "pending %lld, last-delivered-id %s, last-generated-id %s",
                 pend->integer, del->str, gen->str);
    }
    freeReplyObject(gr);
    freeReplyObject(st);
    return ok;
}

static void wait_settled(long timeout_ms, const char *what)
{
    char why[256];
    long until = tms_mono() + timeout_ms;
    while (!group_settled(why, sizeof why)) {
        ck_assert_msg(tms_mono() < until, "%s: the verdicts were not all applied within %ld "
                      "ms: %s\ndaemon 0 log tail:\n%s", what, timeout_ms, why,
                      tlog_tail(&daemons[0]));
        tsleep_ms(10);
    }
}

/* XPENDING P{verdicts} GROUP: the count of the summary. */
static long long xpending(void)
{
    redisReply *rp = hcmd("XPENDING", K_STREAM, GROUP, (char *)NULL);
    ck_assert(rp->type == REDIS_REPLY_ARRAY && rp->elements >= 1
              && rp->element[0]->type == REDIS_REPLY_INTEGER);
    long long n = rp->element[0]->integer;
    freeReplyObject(rp);
    return n;
}

/* ---- events (P{events}) */

/* The json fields of the events of type for account ('*': any), oldest
 * first; ARGV[3] 'n': only their number. */
static const char *const EV_SCRIPT =
    "local out = {}\n"
    "for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do\n"
    "  local f, t, a, j = e[2], nil, nil, nil\n"
    "  for i = 1, #f, 2 do\n"
    "    if f[i] == 'type' then t = f[i + 1] elseif f[i] == 'account' then a = f[i + 1]\n"
    "    elseif f[i] == 'json' then j = f[i + 1] end\n"
    "  end\n"
    "  if t == ARGV[1] and (ARGV[2] == '*' or a == ARGV[2]) then out[#out + 1] = j end\n"
    "end\n"
    "if ARGV[3] == 'n' then return #out end\n"
    "return out\n";

static long long events_count(const char *type, const char *account)
{
    return hint("EVAL", EV_SCRIPT, "1", K_EVENTS, type, account, "n", (char *)NULL);
}

static redisReply *events_json(const char *type, const char *account)
{
    redisReply *rp = hcmd("EVAL", EV_SCRIPT, "1", K_EVENTS, type, account, "a", (char *)NULL);
    ck_assert(rp->type == REDIS_REPLY_ARRAY);
    return rp;
}

static json_t *jparse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    ck_assert_msg(j != NULL && json_is_object(j), "not a JSON object (%s): %s", e.text,
                  tvis(s));
    return j;
}

/* The last event of type for account, parsed (the caller json_decref()s). */
static json_t *last_event(const char *type, const char *account)
{
    redisReply *rp = events_json(type, account);
    ck_assert_msg(rp->elements > 0, "no \"%s\" event for %s in " K_EVENTS, type, account);
    json_t *j = jparse(rp->element[rp->elements - 1]->str);
    freeReplyObject(rp);
    return j;
}

static const char *jstr(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_string(v), "JSON field \"%s\" is not a string in %s", key,
                  tvis(json_dumps(o, JSON_COMPACT)));
    return json_string_value(v);
}

static double jnum(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_number(v), "JSON field \"%s\" is not a number", key);
    return json_number_value(v);
}

/* ---- writing verdicts the documented way */

/* redis-cli XADD P{verdicts} * FIELD VALUE ... (NULL-terminated); id gets
 * the entry id. */
static void xadd_cli(const struct tredis *r, char id[64], ...)
{
    const char *a[40];
    int n = 0;
    va_list ap;
    a[n++] = "XADD";
    a[n++] = K_STREAM;
    a[n++] = "*";
    va_start(ap, id);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        ck_assert_int_lt(n, 38);
        a[n++] = s;
    }
    va_end(ap);
    for (; n < 40; n++)
        a[n] = NULL;
    char out[256];
    int rc = tredis_cli(r, out, sizeof out, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
                        a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17],
                        a[18], a[19], a[20], a[21], a[22], a[23], (char *)NULL);
    ck_assert_msg(rc == 0 && strchr(out, '-') != NULL && strstr(out, "ERR") == NULL,
                  "redis-cli XADD: exit %d, \"%s\"", rc, tvis(out));
    ck_assert_uint_lt(strlen(out), 64);
    memcpy(id, out, strlen(out) + 1);
}

/* ---- daemons */

static void start_redis(struct tredis *r)
{
    tfix_start_redis(r, NULL);
    hconnect(r);
}

/* "redis": {...} for r with the deadline timeout_ms, then `more` (empty,
 * or ending in a comma). */
static void cfg_extra_timeout(char *out, size_t cap, const struct tredis *r, int timeout_ms,
                              const char *more)
{
    snprintf(out, cap, "\"redis\": {\"address\": \"unix:%s\", \"timeout_ms\": %d,"
             " \"connect_timeout_ms\": 2000},\n  %s", r->sock, timeout_ms, more);
}

static void cfg_extra(char *out, size_t cap, const struct tredis *r, const char *more)
{
    cfg_extra_timeout(out, cap, r, 2000, more);
}

/* Both of the daemon's Redis links are up (its log says so). */
static void wait_connected(const struct tdaemon *d)
{
    long off = 0;
    texpect_log(d, &off, "redis: connected to", 10000, "outpostd's Redis link");
    off = 0;
    texpect_log(d, &off, "redis (verdicts): connected to", 10000, "outpostd's verdict link");
}

/* A daemon with the classes given (default_class "standard"). */
static void start_daemon(struct tdaemon *d, const char *extra, const char *classes)
{
    tdaemon_prepare_classes(d, NULL, extra, "standard", classes);
    tfix_launch(d);
    wait_connected(d);
}

/* SIGKILL: no cleanup of any kind, as a crash or the OOM killer. */
static void kill_daemon(struct tdaemon *d)
{
    int st;
    ck_assert_int_gt(d->pid, 0);
    ck_assert_int_eq(kill(d->pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(d->pid, &st, 0), d->pid);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "outpostd status %d", st);
    d->pid = 0;
    tfix_track_daemon(d);
}

/* The same config started again (its old log kept as LOG.killed). */
static void relaunch_daemon(struct tdaemon *d)
{
    int i = (int)(d - daemons);
    snprintf(killed_log[i], sizeof killed_log[i], "%s.killed", d->log);
    ck_assert_int_eq(rename(d->log, killed_log[i]), 0);
    tfix_launch(d);
    wait_connected(d);
}

/* Exit status 0 after SIGTERM, no sanitizer report in the log, nor in the
 * log of an instance SIGKILLed before. */
static void expect_clean_stop(struct tdaemon *d)
{
    int i = (int)(d - daemons);
    texpect_clean_stop_san(d);
    ck_assert_msg(killed_log[i][0] == '\0' || !tfile_has_sanitizer(killed_log[i]),
                  "a sanitizer report in %s", killed_log[i]);
    killed_log[i][0] = '\0';
}

/* One RCPT request of account; its action. */
static void ask(int fd, const char *account, char *got, size_t cap)
{
    char attrs[1024];
    snprintf(attrs, sizeof attrs, "protocol_state=RCPT\nclient_address=203.0.113.5\n"
             "sasl_username=%s\nsender=%s@example.net\nrecipient=rcpt@example.com\n",
             account, account);
    tquery(fd, attrs, got, cap);
}

static void expect_reply(const struct tdaemon *d, int fd, const char *account,
                         const char *want, const char *what)
{
    char got[512];
    ask(fd, account, got, sizeof got);
    ck_assert_msg(strcmp(got, want) == 0, "%s: RCPT of %s to daemon %d: got \"%s\", want "
                  "\"%s\"\nlog tail:\n%s", what, account, (int)(d - daemons), tvis(got), want,
                  tlog_tail(d));
}

/* ---- metrics */

/* outpost_verdicts_total{result="RESULT"} of the daemon's /metrics. */
static long long metric_verdicts(int port, const char *result)
{
    const char *page = thttp(port, "GET /metrics HTTP/1.0\r\n\r\n");
    char name[128];
    snprintf(name, sizeof name, "\noutpost_verdicts_total{result=\"%s\"} ", result);
    const char *p = strstr(page, name);
    ck_assert_msg(p != NULL, "no %s in the metrics page", name + 1);
    return strtoll(p + strlen(name), NULL, 10);
}

/* ==== K-1 verdicts do not suspend, the K-th does, on every instance ===== */

START_TEST(test_threshold)
{
    struct tredis *r = &redises[0];
    char extra[1024], id[4][64];
    const char *classes = "{\"standard\": {\"auto_suspend\": {\"verdicts\": 3}}}";

    start_redis(r);
    cfg_extra(extra, sizeof extra, r, "\"metrics\": {\"listen\": \"127.0.0.1:0\"},");
    start_daemon(&daemons[0], extra, classes);
    start_daemon(&daemons[1], extra, classes);
    int fd0 = txconnect(&daemons[0]), fd1 = txconnect(&daemons[1]);
    int port0 = tmetrics_port(&daemons[0]), port1 = tmetrics_port(&daemons[1]);

    expect_reply(&daemons[0], fd0, "alice", "DUNNO", "alice before any verdict");
    expect_reply(&daemons[1], fd1, "alice", "DUNNO", "alice before any verdict");

    /* K-1 = 2 verdicts: the second spelled as sasl_username may be */
    xadd_cli(r, id[0], "account", "alice", "queue_id", "4Qx1", "ref", "rspamd:1",
             "source", "rspamd", (char *)NULL);
    xadd_cli(r, id[1], "account", " ALICE ", "source", "fbl", (char *)NULL);
    wait_settled(10000, "2 verdicts");
    ck_assert_int_eq(events_count("verdict", "alice"), 2);
    ck_assert_msg(!suspended_in_redis("alice"), "alice suspended after K-1 = 2 verdicts");
    ck_assert_int_eq(hint("ZCARD", akey("alice", "strikes"), (char *)NULL), 2);
    ck_assert_int_eq(hint("ZCARD", akey(" ALICE ", "strikes"), (char *)NULL), 0);
    expect_reply(&daemons[0], fd0, "alice", "DUNNO", "alice after 2 of 3 verdicts");
    expect_reply(&daemons[1], fd1, "alice", "DUNNO", "alice after 2 of 3 verdicts");
    json_t *ev = last_event("verdict", "alice");
    ck_assert_str_eq(jstr(ev, "id"), id[1]);
    ck_assert_str_eq(jstr(ev, "source"), "fbl");
    ck_assert_int_eq((long long)jnum(ev, "strikes"), 2);
    ck_assert_int_eq((long long)jnum(ev, "suspended"), 0);
    json_decref(ev);
    redisReply *all = events_json("verdict", "alice");
    ev = jparse(all->element[0]->str);
    freeReplyObject(all);
    ck_assert_str_eq(jstr(ev, "id"), id[0]);
    ck_assert_str_eq(jstr(ev, "queue_id"), "4Qx1");
    ck_assert_str_eq(jstr(ev, "ref"), "rspamd:1");
    ck_assert_str_eq(jstr(ev, "source"), "rspamd");
    ck_assert_str_eq(jstr(ev, "account"), "alice");
    ck_assert_int_eq((long long)jnum(ev, "weight"), 1);
    ck_assert_int_eq((long long)jnum(ev, "strikes"), 1);
    ck_assert_int_eq((long long)jnum(ev, "v"), 1);
    json_decref(ev);

    /* the K-th: suspended, and the very next request on each daemon is refused */
    xadd_cli(r, id[2], "account", "alice", (char *)NULL);
    ck_assert_msg(wait_suspended("alice", 10000), "alice not suspended within 10 s after "
                  "the 3rd verdict (K = 3)\nlog tail:\n%s", tlog_tail(&daemons[0]));
    expect_reply(&daemons[0], fd0, "alice", SUSP_TEXT, "alice right after the K-th verdict");
    expect_reply(&daemons[1], fd1, "alice", SUSP_TEXT, "alice right after the K-th verdict");
    expect_reply(&daemons[0], fd0, "bob", "DUNNO", "bob has no verdict");

    /* the record (within, default 24h, as people write it) */
    ck_assert_str_eq(susp_field("alice", "reason"), "auto: 3 verdicts in 24h");
    ck_assert_str_eq(susp_field("alice", "by"), "auto");
    ck_assert_str_eq(susp_field("alice", "until"), "0");
    char note[96];
    snprintf(note, sizeof note, "verdict %s", id[2]);
    ck_assert_str_eq(susp_field("alice", "note"), note);
    ck_assert_int_eq(hint("EXISTS", akey("alice", "strikes"), (char *)NULL), 0);
    ck_assert_int_eq(hint("PTTL", akey("alice", "susp"), (char *)NULL), -1);
    redisReply *rp = hcmd("ZSCORE", K_IDX, "alice", (char *)NULL);
    ck_assert_msg(rp->type == REDIS_REPLY_STRING && strcmp(rp->str, "inf") == 0,
                  "ZSCORE " K_IDX " alice: want inf");
    freeReplyObject(rp);

    /* events: 3 verdict, 1 suspended */
    wait_settled(10000, "3 verdicts");
    ck_assert_int_eq(events_count("verdict", "alice"), 3);
    ck_assert_int_eq(events_count("suspended", "alice"), 1);
    ev = last_event("verdict", "alice");
    ck_assert_str_eq(jstr(ev, "id"), id[2]);
    ck_assert_int_eq((long long)jnum(ev, "strikes"), 3);
    ck_assert_int_eq((long long)jnum(ev, "suspended"), 1);
    json_decref(ev);
    ev = last_event("suspended", "alice");
    ck_assert_str_eq(jstr(ev, "by"), "auto");
    ck_assert_str_eq(jstr(ev, "op"), "suspend");
    ck_assert_str_eq(jstr(ev, "reason"), "auto: 3 verdicts in 24h");
    ck_assert_str_eq(jstr(ev, "note"), note);
    ck_assert_str_eq(jstr(ev, "verdict"), id[2]);
    ck_assert_int_eq((long long)jnum(ev, "until"), 0);
    json_decref(ev);
    /* the audit list: the suspension on top of the three verdicts */
    rp = hcmd("LRANGE", akey("alice", "audit"), "0", "-1", (char *)NULL);
    ck_assert_int_eq(rp->elements, 4);
    ev = jparse(rp->element[0]->str);
    ck_assert_str_eq(jstr(ev, "op"), "suspend");
    ck_assert_str_eq(jstr(ev, "by"), "auto");
    json_decref(ev);
    for (int i = 1; i < 4; i++) {
        ev = jparse(rp->element[i]->str);
        ck_assert_str_eq(jstr(ev, "op"), "verdict");
        ck_assert_str_eq(jstr(ev, "id"), id[3 - i]);
        json_decref(ev);
    }
    freeReplyObject(rp);

    /* a verdict for a suspended account: recorded, no second suspension */
    char at[64];
    snprintf(at, sizeof at, "%s", susp_field("alice", "at"));
    xadd_cli(r, id[3], "account", "alice", (char *)NULL);
    wait_settled(10000, "a 4th verdict");
    ck_assert_int_eq(events_count("verdict", "alice"), 4);
    ck_assert_int_eq(events_count("suspended", "alice"), 1);
    ck_assert_str_eq(susp_field("alice", "at"), at);
    ck_assert_int_eq(hint("ZCARD", akey("alice", "strikes"), (char *)NULL), 1);

    /* 4 applied, 1 suspended, over both instances; no duplicate, no dead */
    long long applied = metric_verdicts(port0, "applied") + metric_verdicts(port1, "applied");
    long long susp = metric_verdicts(port0, "suspended") + metric_verdicts(port1, "suspended");
    long long dup = metric_verdicts(port0, "duplicate") + metric_verdicts(port1, "duplicate");
    long long dead = metric_verdicts(port0, "dead") + metric_verdicts(port1, "dead");
    ck_assert_msg(applied == 4 && susp == 1 && dup == 0 && dead == 0, "metrics over the two "
                  "daemons: applied %lld suspended %lld duplicate %lld dead %lld; want 4 1 0 "
                  "0", applied, susp, dup, dead);
    ck_assert_int_eq(xpending(), 0);

    close(fd0);
    close(fd1);
    expect_clean_stop(&daemons[0]);
    expect_clean_stop(&daemons[1]);
}
END_TEST

/* ==== weight: recipients_per_weight and the weight field ================ */

START_TEST(test_weight)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024], id[64], out[256];
    const char *classes =
        "{\"standard\": {\"auto_suspend\": {\"verdicts\": 3, \"recipients_per_weight\": 10}},"
        " \"bulk\": {}}";

    start_redis(r);
    cfg_extra(extra, sizeof extra, r, "");
    start_daemon(d, extra, classes);
    int fd = txconnect(d);

    /* one spam to 20 recipients: 1 x (1 + 20/10) = 3 = K */
    xadd_cli(r, id, "account", "bob", "recipients", "20", (char *)NULL);
    ck_assert_msg(wait_suspended("bob", 10000), "bob not suspended by one verdict to 20 "
                  "recipients (weight 3, K 3)\nlog tail:\n%s", tlog_tail(d));
    expect_reply(d, fd, "bob", SUSP_TEXT, "bob after one verdict of weight 3");
    wait_settled(10000, "bob");
    json_t *ev = last_event("verdict", "bob");
    ck_assert_int_eq((long long)jnum(ev, "weight"), 3);
    ck_assert_int_eq((long long)jnum(ev, "recipients"), 20);
    ck_assert_int_eq((long long)jnum(ev, "suspended"), 1);
    json_decref(ev);

    /* 19 recipients: 2.9, below K */
    xadd_cli(r, id, "account", "nina", "recipients", "19", (char *)NULL);
    wait_settled(10000, "nina");
    ck_assert_msg(!suspended_in_redis("nina"), "nina suspended by a verdict of weight 2.9");
    ev = last_event("verdict", "nina");
    ck_assert_msg(jnum(ev, "weight") > 2.899 && jnum(ev, "weight") < 2.901, "weight %g, want "
                  "2.9", jnum(ev, "weight"));
    json_decref(ev);
    expect_reply(d, fd, "nina", "DUNNO", "nina with strikes 2.9 of 3");

    /* the weight field multiplies: 0.5 x (1 + 20/10) = 1.5 */
    xadd_cli(r, id, "account", "carol", "weight", "0.5", "recipients", "20", (char *)NULL);
    wait_settled(10000, "carol");
    ck_assert_msg(!suspended_in_redis("carol"), "carol suspended by weight 1.5");
    ev = last_event("verdict", "carol");
    ck_assert_msg(jnum(ev, "weight") > 1.499 && jnum(ev, "weight") < 1.501, "weight %g, want "
                  "1.5", jnum(ev, "weight"));
    json_decref(ev);
    redisReply *rp = hcmd("ZRANGE", akey("carol", "strikes"), "0", "-1", (char *)NULL);
    char member[96];
    snprintf(member, sizeof member, "%s 1.5", id);
    ck_assert_msg(rp->elements == 1 && strcmp(rp->element[0]->str, member) == 0,
                  "carol's strikes: want the one member \"%s\"", member);
    freeReplyObject(rp);
    expect_reply(d, fd, "carol", "DUNNO", "carol with strikes 1.5 of 3");
    /* 1 x (1 + 5/10) = 1.5 more: 3, suspended */
    xadd_cli(r, id, "account", "carol", "weight", "1", "recipients", "5", (char *)NULL);
    ck_assert_msg(wait_suspended("carol", 10000), "carol not suspended at 1.5 + 1.5");
    ev = last_event("verdict", "carol");
    ck_assert_msg(jnum(ev, "strikes") > 2.999 && jnum(ev, "strikes") < 3.001, "strikes %g, "
                  "want 3", jnum(ev, "strikes"));
    json_decref(ev);

    /* 2 x (1 + 5/10) = 3: one verdict */
    xadd_cli(r, id, "account", "dave", "weight", "2", "recipients", "5", (char *)NULL);
    ck_assert_msg(wait_suspended("dave", 10000), "dave not suspended by weight 2 x 1.5");
    expect_reply(d, fd, "dave", SUSP_TEXT, "dave after one verdict of weight 3");
    /* weight 2 alone: 2 < 3 */
    xadd_cli(r, id, "account", "erin", "weight", "2", (char *)NULL);
    wait_settled(10000, "erin");
    ck_assert_msg(!suspended_in_redis("erin"), "erin suspended by weight 2 (K 3)");
    expect_reply(d, fd, "erin", "DUNNO", "erin with strikes 2 of 3");

    /* a class without auto_suspend: strikes are counted, never a suspension */
    int rc = tredis_cli(r, out, sizeof out, "FCALL", "outpost_class", "3", akey("frank", "acct"),
                        akey("frank", "audit"), K_EVENTS, "frank", "bulk", "support1", EVMAX,
                        (char *)NULL);
    ck_assert_msg(rc == 0 && strcmp(out, "1") == 0, "FCALL outpost_class: %s", tvis(out));
    xadd_cli(r, id, "account", "frank", "recipients", "1000", (char *)NULL);
    xadd_cli(r, id, "account", "frank", "weight", "1000", (char *)NULL);
    wait_settled(10000, "frank");
    ck_assert_msg(!suspended_in_redis("frank"), "frank (class bulk, no auto_suspend) "
                  "suspended");
    ev = last_event("verdict", "frank");
    ck_assert_int_eq((long long)jnum(ev, "weight"), 1000);     /* bulk has no rpw */
    ck_assert_int_eq((long long)jnum(ev, "strikes"), 1001);
    json_decref(ev);
    expect_reply(d, fd, "frank", "DUNNO", "frank of class bulk");

    close(fd);
    expect_clean_stop(d);
}
END_TEST

/* ==== the window ========================================================= */

START_TEST(test_window)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024], id[64], old[2][64], out[256];
    const char *classes =
        "{\"standard\": {\"auto_suspend\": {\"verdicts\": 3, \"within\": \"1h\"}},"
        " \"short\": {\"auto_suspend\": {\"verdicts\": 2, \"within\": \"2s\"}}}";

    start_redis(r);
    /* a fresh stream: the old ids first (ids must increase) */
    long long old_ms = redis_now_ms() - 2 * 3600 * 1000;
    snprintf(old[0], sizeof old[0], "%lld-0", old_ms);
    snprintf(old[1], sizeof old[1], "%lld-1", old_ms);
    for (int i = 0; i < 2; i++) {
        int rc = tredis_cli(r, out, sizeof out, "XADD", K_STREAM, old[i], "account", "alice",
                            "ref", "two hours ago", (char *)NULL);
        ck_assert_msg(rc == 0 && strcmp(out, old[i]) == 0, "XADD %s: %s", old[i], tvis(out));
    }
    cfg_extra(extra, sizeof extra, r, "");
    start_daemon(d, extra, classes);
    int fd = txconnect(d);
    wait_settled(10000, "2 verdicts 2 h old");
    ck_assert_int_eq(events_count("verdict", "alice"), 2);     /* applied ... */
    ck_assert_int_eq(hint("ZCARD", akey("alice", "strikes"), (char *)NULL), 0); /* no strike */
    json_t *ev = last_event("verdict", "alice");
    ck_assert_str_eq(jstr(ev, "id"), old[1]);
    ck_assert_int_eq((long long)jnum(ev, "strikes"), 0);
    json_decref(ev);

    /* two new ones: 2 of 3 (with the old ones it would be 4) */
    xadd_cli(r, id, "account", "alice", (char *)NULL);
    xadd_cli(r, id, "account", "alice", (char *)NULL);
    wait_settled(10000, "2 new verdicts");
    ck_assert_msg(!suspended_in_redis("alice"), "alice suspended: verdicts older than "
                  "`within` (1h) counted");
    ck_assert_int_eq(hint("ZCARD", akey("alice", "strikes"), (char *)NULL), 2);
    expect_reply(d, fd, "alice", "DUNNO", "alice with 2 strikes in the hour, 2 older");
    xadd_cli(r, id, "account", "alice", (char *)NULL);
    ck_assert_msg(wait_suspended("alice", 10000), "alice not suspended by the 3rd verdict "
                  "of the hour");
    ck_assert_str_eq(susp_field("alice", "reason"), "auto: 3 verdicts in 1h");
    expect_reply(d, fd, "alice", SUSP_TEXT, "alice after 3 verdicts in 1h");

    /* strikes leave the window as time passes (class short: 2 in 2s) */
    int rc = tredis_cli(r, out, sizeof out, "FCALL", "outpost_class", "3", akey("sam", "acct"),
                        akey("sam", "audit"), K_EVENTS, "sam", "short", "support1", EVMAX,
                        (char *)NULL);
    ck_assert_msg(rc == 0 && strcmp(out, "1") == 0, "FCALL outpost_class: %s", tvis(out));
    xadd_cli(r, id, "account", "sam", (char *)NULL);
    long t0 = tms_mono();
    wait_settled(10000, "sam's first verdict");
    ck_assert_int_eq(hint("ZCARD", akey("sam", "strikes"), (char *)NULL), 1);
    long long pttl = hint("PTTL", akey("sam", "strikes"), (char *)NULL);
    ck_assert_msg(pttl > 0 && pttl <= 2000, "strikes PTTL %lld, want within (2000 ms)", pttl);
    if (tms_mono() - t0 < 2300)
        tsleep_ms(2300 - (tms_mono() - t0));
    xadd_cli(r, id, "account", "sam", (char *)NULL);
    wait_settled(10000, "sam's second verdict, 2.3 s later");
    ck_assert_msg(!suspended_in_redis("sam"), "sam suspended: a verdict 2.3 s old counted in "
                  "a 2 s window");
    ev = last_event("verdict", "sam");
    ck_assert_int_eq((long long)jnum(ev, "strikes"), 1);
    json_decref(ev);
    xadd_cli(r, id, "account", "sam", (char *)NULL);
    ck_assert_msg(wait_suspended("sam", 10000), "sam not suspended by 2 verdicts in 2 s");
    ck_assert_str_eq(susp_field("sam", "reason"), "auto: 2 verdicts in 2s");
    expect_reply(d, fd, "sam", SUSP_TEXT, "sam after 2 verdicts in 2s");

    close(fd);
    expect_clean_stop(d);
}
END_TEST

/* ==== auto_suspend.for: a temporary suspension ========================== */

START_TEST(test_temporary)
{
    struct tredis *r = &redises[0];
    char extra[1024], id[64], got[512];
    const char *classes =
        "{\"standard\": {\"auto_suspend\": {\"verdicts\": 1, \"for\": \"2s\"}}}";

    start_redis(r);
    cfg_extra(extra, sizeof extra, r, "");
    start_daemon(&daemons[0], extra, classes);
    start_daemon(&daemons[1], extra, classes);
    int fd0 = txconnect(&daemons[0]), fd1 = txconnect(&daemons[1]);

    xadd_cli(r, id, "account", "carol", (char *)NULL);
    ck_assert_msg(wait_suspended("carol", 10000), "carol not suspended (K 1)");
    long t0 = tms_mono();
    expect_reply(&daemons[0], fd0, "carol", SUSP_TEXT, "carol suspended for 2 s");
    expect_reply(&daemons[1], fd1, "carol", SUSP_TEXT, "carol suspended for 2 s");
    long long at = strtoll(susp_field("carol", "at"), NULL, 10);
    long long untl = strtoll(susp_field("carol", "until"), NULL, 10);
    ck_assert_msg(at > 0 && untl - at == 2000, "at %lld until %lld: want until = at + 2000",
                  at, untl);
    long long pttl = hint("PTTL", akey("carol", "susp"), (char *)NULL);
    ck_assert_msg(pttl > 0 && pttl <= 2000, "PTTL of the record %lld, want (0, 2000]", pttl);
    wait_settled(10000, "carol");
    json_t *ev = last_event("suspended", "carol");
    ck_assert_int_eq((long long)jnum(ev, "until"), untl);
    ck_assert_str_eq(jstr(ev, "reason"), "auto: 1 verdicts in 24h");
    json_decref(ev);

    /* it lifts by itself: poll daemon 0, then daemon 1 agrees at once */
    long until = tms_mono() + 8000;
    for (;;) {
        ask(fd0, "carol", got, sizeof got);
        if (strcmp(got, "DUNNO") == 0)
            break;
        ck_assert_msg(strcmp(got, SUSP_TEXT) == 0, "carol: got \"%s\"", tvis(got));
        ck_assert_msg(tms_mono() < until, "carol's 2 s suspension did not lift within 8 s");
        tsleep_ms(50);
    }
    long waited = tms_mono() - t0;
    ck_assert_msg(waited >= 1500, "carol's 2 s suspension lifted after %ld ms", waited);
    expect_reply(&daemons[1], fd1, "carol", "DUNNO", "carol after her suspension expired");
    ck_assert_msg(!suspended_in_redis("carol"), "the expired record is still there");

    close(fd0);
    close(fd1);
    expect_clean_stop(&daemons[0]);
    expect_clean_stop(&daemons[1]);
}
END_TEST

/* ==== reinstate: actor and note, strikes from zero ====================== */

START_TEST(test_reinstate)
{
    struct tredis *r = &redises[0];
    char extra[1024], id[64], out[256];
    const char *classes = "{\"standard\": {\"auto_suspend\": {\"verdicts\": 3}}}";

    start_redis(r);
    cfg_extra(extra, sizeof extra, r, "");
    start_daemon(&daemons[0], extra, classes);
    start_daemon(&daemons[1], extra, classes);
    int fd0 = txconnect(&daemons[0]), fd1 = txconnect(&daemons[1]);

    for (int i = 0; i < 3; i++)
        xadd_cli(r, id, "account", "alice", (char *)NULL);
    ck_assert_msg(wait_suspended("alice", 10000), "alice not suspended by 3 verdicts");
    /* one more while suspended: a strike that the reinstatement must clear */
    xadd_cli(r, id, "account", "alice", (char *)NULL);
    wait_settled(10000, "4 verdicts");
    ck_assert_int_eq(hint("ZCARD", akey("alice", "strikes"), (char *)NULL), 1);
    expect_reply(&daemons[0], fd0, "alice", SUSP_TEXT, "alice suspended");

    /* a refused call (empty BY) writes nothing: the strike stays */
    int rc = tredis_cli(r, out, sizeof out, "FCALL", "outpost_reinstate", "5",
                        akey("alice", "susp"), akey("alice", "audit"), K_IDX, K_EVENTS,
                        akey("alice", "strikes"), "alice", "", "checked", EVMAX, (char *)NULL);
    ck_assert_msg(strstr(out, "empty by") != NULL, "FCALL outpost_reinstate with BY \"\": "
                  "\"%s\"", tvis(out));
    ck_assert_msg(hint("ZCARD", akey("alice", "strikes"), (char *)NULL) == 1
                  && suspended_in_redis("alice"), "a refused outpost_reinstate changed the "
                  "strikes or the suspension");

    /* exactly as doc/keys.md writes it, with the fifth key */
    rc = tredis_cli(r, out, sizeof out, "FCALL", "outpost_reinstate", "5",
                        akey("alice", "susp"), akey("alice", "audit"), K_IDX, K_EVENTS,
                        akey("alice", "strikes"), "alice", "support1", "checked", EVMAX,
                        (char *)NULL);
    ck_assert_msg(rc == 0 && strcmp(out, "1") == 0, "FCALL outpost_reinstate: exit %d, \"%s\"",
                  rc, tvis(out));
    expect_reply(&daemons[0], fd0, "alice", "DUNNO", "alice reinstated");
    expect_reply(&daemons[1], fd1, "alice", "DUNNO", "alice reinstated");
    ck_assert_int_eq(hint("EXISTS", akey("alice", "strikes"), (char *)NULL), 0);
    redisReply *rp = hcmd("ZSCORE", K_IDX, "alice", (char *)NULL);
    ck_assert_msg(rp->type == REDIS_REPLY_NIL, "alice still in " K_IDX);
    freeReplyObject(rp);

    rp = hcmd("LRANGE", akey("alice", "audit"), "0", "0", (char *)NULL);
    ck_assert_int_eq(rp->elements, 1);
    json_t *ev = jparse(rp->element[0]->str);
    freeReplyObject(rp);
    ck_assert_str_eq(jstr(ev, "op"), "reinstate");
    ck_assert_str_eq(jstr(ev, "by"), "support1");
    ck_assert_str_eq(jstr(ev, "note"), "checked");
    ck_assert_str_eq(jstr(ev, "reason"), "auto: 3 verdicts in 24h");
    json_decref(ev);
    ck_assert_int_eq(events_count("reinstated", "alice"), 1);
    ev = last_event("reinstated", "alice");
    ck_assert_str_eq(jstr(ev, "op"), "reinstate");
    ck_assert_str_eq(jstr(ev, "by"), "support1");
    ck_assert_str_eq(jstr(ev, "note"), "checked");
    ck_assert_str_eq(jstr(ev, "account"), "alice");
    ck_assert_str_eq(jstr(ev, "reason"), "auto: 3 verdicts in 24h");
    json_decref(ev);

    /* from zero: K-1 = 2 new verdicts do not suspend (with the strike left
     * over from before they would: 1 + 2 = 3) */
    xadd_cli(r, id, "account", "alice", (char *)NULL);
    xadd_cli(r, id, "account", "alice", (char *)NULL);
    wait_settled(10000, "2 verdicts after the reinstatement");
    ck_assert_msg(!suspended_in_redis("alice"), "alice suspended again by 2 verdicts after "
                  "being reinstated: strikes did not start from zero");
    expect_reply(&daemons[0], fd0, "alice", "DUNNO", "alice, 2 verdicts after reinstatement");
    expect_reply(&daemons[1], fd1, "alice", "DUNNO", "alice, 2 verdicts after reinstatement");
    xadd_cli(r, id, "account", "alice", (char *)NULL);
    ck_assert_msg(wait_suspended("alice", 10000), "alice not suspended again by the 3rd");
    expect_reply(&daemons[1], fd1, "alice", SUSP_TEXT, "alice, 3 verdicts after reinstatement");
    ck_assert_int_eq(events_count("suspended", "alice"), 2);

    close(fd0);
    close(fd1);
    expect_clean_stop(&daemons[0]);
    expect_clean_stop(&daemons[1]);
}
END_TEST

/* ==== malformed verdicts ================================================= */

struct bad {
    const char *what;
    const char *account;        /* NULL: no account field */
    const char *field, *value;  /* one more field (NULL: none) */
    char        id[64];
};

START_TEST(test_malformed)
{
    struct tredis *r = &redises[0];
    char extra[1024], id[64];
    const char *classes = "{\"standard\": {\"auto_suspend\": {\"verdicts\": 1}}}";
    char qid65[66], acct300[301], ref2000[2001];
    memset(qid65, 'q', 65);
    qid65[65] = '\0';
    memset(acct300, 'k', 300);
    acct300[300] = '\0';
    memset(ref2000, 'r', 2000);
    ref2000[2000] = '\0';
    struct bad bads[] = {
        { "no account", NULL, "weight", "1", "" },
        { "empty account", "", NULL, NULL, "" },
        { "blank account", "   ", NULL, NULL, "" },
        { "weight abc", "bob", "weight", "abc", "" },
        { "weight 0", "bob", "weight", "0", "" },
        { "weight over 1000", "bob", "weight", "1001", "" },
        { "recipients -1", "carol", "recipients", "-1", "" },
        { "recipients over 1000000", "carol", "recipients", "1000001", "" },
        { "recipients 1.5", "carol", "recipients", "1.5", "" },
        { "recipients +5", "carol", "recipients", "+5", "" },
        { "weight 0x10", "bob", "weight", "0x10", "" },
        { "weight 1e2", "bob", "weight", "1e2", "" },
        { "weight with a space", "bob", "weight", " 5", "" },
        { "queue_id of 65 bytes", "dave", "queue_id", qid65, "" },
        { "account with a control byte", "gr\001ace", NULL, NULL, "" },
        { "account of 300 bytes", acct300, NULL, NULL, "" },
        { "ref of 2000 bytes", "ivan", "ref", ref2000, "" },
    };
    const int nbad = (int)(sizeof bads / sizeof bads[0]);

    start_redis(r);
    cfg_extra(extra, sizeof extra, r, "");
    start_daemon(&daemons[0], extra, classes);
    start_daemon(&daemons[1], extra, classes);
    int fd0 = txconnect(&daemons[0]), fd1 = txconnect(&daemons[1]);

    for (int i = 0; i < nbad; i++) {
        struct bad *b = &bads[i];
        if (b->account == NULL)
            xadd_cli(r, b->id, b->field, b->value, "ref", b->what, (char *)NULL);
        else if (b->field == NULL)
            xadd_cli(r, b->id, "account", b->account, "ref", b->what, (char *)NULL);
        else
            xadd_cli(r, b->id, "account", b->account, b->field, b->value, (char *)NULL);
    }
    /* 65 field/value pairs (hiredis: more arguments than redis-cli takes here) */
    const char *argv[3 + 130];
    char fbuf[65][16], vbuf[65][16];
    int n = 0;
    argv[n++] = "XADD";
    argv[n++] = K_STREAM;
    argv[n++] = "*";
    argv[n++] = "account";
    argv[n++] = "hank";
    for (int i = 1; i < 65; i++) {
        snprintf(fbuf[i], sizeof fbuf[i], "f%d", i);
        snprintf(vbuf[i], sizeof vbuf[i], "v%d", i);
        argv[n++] = fbuf[i];
        argv[n++] = vbuf[i];
    }
    redisReply *rp = hcmdv(false, n, argv, NULL);
    char id65[64];
    snprintf(id65, sizeof id65, "%s", rp->str);
    freeReplyObject(rp);
    /* a good one after all of them */
    xadd_cli(r, id, "account", "alice", (char *)NULL);

    ck_assert_msg(wait_suspended("alice", 10000), "alice's good verdict after %d malformed "
                  "ones was not applied within 10 s\nlog tail:\n%s", nbad + 1,
                  tlog_tail(&daemons[0]));
    expect_reply(&daemons[0], fd0, "alice", SUSP_TEXT, "alice after the malformed verdicts");
    expect_reply(&daemons[1], fd1, "alice", SUSP_TEXT, "alice after the malformed verdicts");
    wait_settled(10000, "malformed verdicts");
    ck_assert_int_eq(xpending(), 0);
    ck_assert_int_eq(hint("XLEN", K_DEAD, (char *)NULL), nbad + 1);
    ck_assert_int_eq(events_count("verdict", "*"), 1);
    for (int i = 0; i < 5; i++) {
        const char *who[] = { "bob", "carol", "dave", "ivan", "hank" };
        ck_assert_msg(!suspended_in_redis(who[i]) && hint("EXISTS", akey(who[i], "strikes"),
                      (char *)NULL) == 0, "%s: a malformed verdict was applied", who[i]);
    }

    /* each in the dead-letter stream: id, error, its fields */
    rp = hcmd("XRANGE", K_DEAD, "-", "+", (char *)NULL);
    ck_assert_int_eq(rp->elements, nbad + 1);
    for (int i = 0; i <= nbad; i++) {
        const char *want_id = i < nbad ? bads[i].id : id65;
        const redisReply *fv = NULL;
        for (size_t k = 0; k < rp->elements; k++) {
            const redisReply *f = flat_get(rp->element[k]->element[1], "id");
            if (f != NULL && strcmp(f->str, want_id) == 0)
                fv = rp->element[k]->element[1];
        }
        ck_assert_msg(fv != NULL, "%s (%s): not in " K_DEAD,
                      i < nbad ? bads[i].what : "65 fields", want_id);
        ck_assert_msg(fv->element[0]->type == REDIS_REPLY_STRING
                      && strcmp(fv->element[0]->str, "id") == 0
                      && strcmp(fv->element[2]->str, "error") == 0
                      && fv->element[3]->len > 0, "%s: the dead entry does not start with id "
                      "and error", want_id);
        if (i == nbad) {
            ck_assert_msg(fv->elements == 2 * (2 + 64), "65 fields: the dead entry has %zu "
                          "pairs, want id, error and 64", fv->elements / 2);
            ck_assert_msg(strstr(fv->element[3]->str, "64") != NULL, "error \"%s\"",
                          fv->element[3]->str);
            continue;
        }
        struct bad *b = &bads[i];
        const redisReply *acc = flat_get(fv, "account");
        if (b->account == NULL)
            ck_assert_msg(acc == NULL, "%s: an account in the dead entry", b->what);
        else
            ck_assert_msg(acc != NULL && strcmp(acc->str, b->account) == 0,
                          "%s: account not kept in the dead entry", b->what);
        if (b->field != NULL) {
            const redisReply *v = flat_get(fv, b->field);
            ck_assert_msg(v != NULL, "%s: field %s not kept", b->what, b->field);
            if (strlen(b->value) > 1024)
                ck_assert_msg(v->len == 1024, "%s: value of %zu bytes kept, want cut to 1024",
                              b->what, v->len);
            else
                ck_assert_str_eq(v->str, b->value);
        }
        /* logged by whichever daemon took it */
        char needle[96];
        snprintf(needle, sizeof needle, "malformed verdict \"%s\":", b->id);
        if (!tfile_contains(daemons[0].log, needle) && !tfile_contains(daemons[1].log, needle)) {
            fprintf(stderr, "--- daemon 0 log tail:\n%s\n", tlog_tail(&daemons[0]));
            fprintf(stderr, "--- daemon 1 log tail:\n%s\n", tlog_tail(&daemons[1]));
            ck_abort_msg("%s: no log line \"%s\" in either daemon's log", b->what, needle);
        }
    }
    freeReplyObject(rp);

    close(fd0);
    close(fd1);
    expect_clean_stop(&daemons[0]);
    expect_clean_stop(&daemons[1]);
}
END_TEST

/* ==== exactly once under failure ======================================== */

#define EO_TOTAL 10000
#define EO_ACCOUNTS 500
#define EO_CHUNK 250
#define EO_KILL_AT 3000
#define EO_GHOST 50
#define EO_RESTART_AT 6000
#define EO_DEADLINE_MS 30000
#define EO_KILL_TRIES 100               /* at most 100 x 40 more appended */
#define EO_STALL_AT 8000

struct eid {
    uint64_t ms, seq;
};

static int eid_cmp(const void *a, const void *b)
{
    const struct eid *x = a, *y = b;
    if (x->ms != y->ms)
        return x->ms < y->ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : 0;
}

static struct eid eid_parse(const char *s, const char *what)
{
    struct eid e;
    char *end;
    e.ms = strtoull(s, &end, 10);
    ck_assert_msg(*end == '-', "%s: \"%s\" is not an entry id", what, tvis(s));
    e.seq = strtoull(end + 1, &end, 10);
    ck_assert_msg(*end == '\0' || *end == ' ', "%s: \"%s\" is not an entry id", what, tvis(s));
    return e;
}

/* got (n ids, sorted here) is exactly the set want (EO_TOTAL, sorted). */
static void eids_same(struct eid *got, size_t n, const struct eid *want, const char *what)
{
    qsort(got, n, sizeof *got, eid_cmp);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(eid_cmp(&got[i - 1], &got[i]) != 0, "%s: entry %" PRIu64 "-%" PRIu64
                      " appears more than once", what, got[i].ms, got[i].seq);
    ck_assert_msg(n == EO_TOTAL, "%s: %zu distinct entries, want %d", what, n, EO_TOTAL);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(eid_cmp(&got[i], &want[i]) == 0, "%s: entry %" PRIu64 "-%" PRIu64
                      " is not one of the verdicts appended", what, got[i].ms, got[i].seq);
}

static void eo_append(struct eid *ids, int *n, int count)
{
    char acct[32], ref[32];
    for (int i = 0; i < count; i++) {
        int k = *n + i;
        snprintf(acct, sizeof acct, "u%03d", k % EO_ACCOUNTS);
        snprintf(ref, sizeof ref, "r%d", k);
        const char *argv[] = { "XADD", K_STREAM, "*", "account", acct, "ref", ref,
                               "source", "check_verdict" };
        ck_assert_int_eq(redisAppendCommandArgv(rcx, 9, argv, NULL), REDIS_OK);
    }
    for (int i = 0; i < count; i++) {
        void *v = NULL;
        ck_assert_msg(redisGetReply(rcx, &v) == REDIS_OK && v != NULL, "XADD: hiredis: %s",
                      rcx->errstr);
        redisReply *rp = v;
        ck_assert_msg(rp->type == REDIS_REPLY_STRING, "XADD: %s", rp->str);
        ids[*n + i] = eid_parse(rp->str, "XADD");
        freeReplyObject(rp);
    }
    *n += count;
}

/* EO_GHOST more, and in the same transaction EO_GHOST entries (the oldest
 * not delivered yet) read by a consumer that never acknowledges, as an
 * instance dying between read and FCALL: only a claim gets them applied. */
static void eo_ghost(struct eid *ids, int *n)
{
    char acct[32];
    const char *multi[] = { "MULTI" };
    ck_assert_int_eq(redisAppendCommandArgv(rcx, 1, multi, NULL), REDIS_OK);
    for (int i = 0; i < EO_GHOST; i++) {
        snprintf(acct, sizeof acct, "u%03d", (*n + i) % EO_ACCOUNTS);
        const char *argv[] = { "XADD", K_STREAM, "*", "account", acct, "ref", "ghost" };
        ck_assert_int_eq(redisAppendCommandArgv(rcx, 7, argv, NULL), REDIS_OK);
    }
    const char *rd[] = { "XREADGROUP", "GROUP", GROUP, "ghost", "COUNT", "50", "STREAMS",
                         K_STREAM, ">" };
    ck_assert_int_eq(redisAppendCommandArgv(rcx, 9, rd, NULL), REDIS_OK);
    const char *exec[] = { "EXEC" };
    ck_assert_int_eq(redisAppendCommandArgv(rcx, 1, exec, NULL), REDIS_OK);
    for (int i = 0; i < EO_GHOST + 3; i++) {
        void *v = NULL;
        ck_assert_msg(redisGetReply(rcx, &v) == REDIS_OK && v != NULL, "MULTI: hiredis: %s",
                      rcx->errstr);
        redisReply *rp = v;
        ck_assert_msg(rp->type != REDIS_REPLY_ERROR, "MULTI/EXEC: %s", rp->str);
        if (i == EO_GHOST + 2) {        /* EXEC */
            ck_assert(rp->type == REDIS_REPLY_ARRAY && rp->elements == EO_GHOST + 1);
            for (int k = 0; k < EO_GHOST; k++)
                ids[*n + k] = eid_parse(rp->element[k]->str, "XADD in MULTI");
            const redisReply *x = rp->element[EO_GHOST];
            ck_assert_msg(x->type == REDIS_REPLY_ARRAY && x->elements == 1
                          && x->element[0]->element[1]->elements == EO_GHOST,
                          "the ghost consumer did not read exactly its %d entries", EO_GHOST);
        }
        freeReplyObject(rp);
    }
    *n += EO_GHOST;
}

/* The entries pending for the consumers whose name ends in suffix. */
static int consumer_pending(const char *suffix)
{
    int n = 0;
    size_t sl = strlen(suffix);
    redisReply *rp = hcmd("XPENDING", K_STREAM, GROUP, (char *)NULL);
    for (size_t i = 0; rp->elements == 4 && rp->element[3]->type == REDIS_REPLY_ARRAY
                       && i < rp->element[3]->elements; i++) {
        const char *c = rp->element[3]->element[i]->element[0]->str;
        size_t cl = strlen(c);
        if (cl > sl && strcmp(c + cl - sl, suffix) == 0)
            n += atoi(rp->element[3]->element[i]->element[1]->str);
    }
    freeReplyObject(rp);
    return n;
}

/* Stops d (SIGSTOP) at moments of the stream's flow until it is caught
 * holding entries it read but did not apply yet; returns how many, with
 * d stopped.  *n grows by what is appended meanwhile. */
static int eo_catch(struct tdaemon *d, struct eid *ids, int *n, int *tries)
{
    pid_t pid = d->pid;
    int st, held;
    char me[32];
    snprintf(me, sizeof me, ":%ld", (long)pid);
    for (;;) {
        (*tries)++;
        ck_assert_int_eq(kill(pid, SIGSTOP), 0);
        ck_assert_int_eq(waitpid(pid, &st, WUNTRACED), pid);
        ck_assert(WIFSTOPPED(st));
        tsleep_ms(20);          /* what it had sent is executed by now */
        held = consumer_pending(me);
        if (held > 0 || *tries >= EO_KILL_TRIES)
            break;
        ck_assert_int_eq(kill(pid, SIGCONT), 0);
        eo_append(ids, n, 1 + *tries % 40);
    }
    ck_assert_msg(held > 0, "instance %d never caught holding entries in %d tries",
                  (int)(d - daemons), *tries);
    return held;
}

START_TEST(test_exactly_once)
{
    struct tredis *r = &redises[0];
    char extra[1024], why[256];
    const char *classes = "{\"standard\": {\"auto_suspend\": {\"verdicts\": 1000000}}}";
    struct eid *ids = calloc(EO_TOTAL, sizeof *ids);
    struct eid *got = calloc(EO_TOTAL + 1, sizeof *got);
    ck_assert(ids != NULL && got != NULL);
    mem[0] = ids;
    mem[1] = got;

    start_redis(r);
    /* a deadline longer than the stall below: the stalled instance's FCALLs
     * reach Redis when it resumes, they do not time out first */
    cfg_extra_timeout(extra, sizeof extra, r, 10000, "\"verdicts\": {\"claim_idle\": \"1s\"},"
              " \"events\": {\"max_length\": 1000000},"
              " \"metrics\": {\"listen\": \"127.0.0.1:0\"},");
    start_daemon(&daemons[0], extra, classes);
    start_daemon(&daemons[1], extra, classes);
    /* the group exists once a daemon has read (the ghost reads in it) */
    long until = tms_mono() + 10000;
    while (!group_settled(why, sizeof why)) {
        ck_assert_msg(tms_mono() < until, "no consumer group within 10 s: %s", why);
        tsleep_ms(10);
    }

    long t0 = tms_mono();
    int n = 0, killed_pending = -1, kill_tries = 0, stall_held = -1, stall_tries = 0;
    while (n < EO_TOTAL) {
        if (n == EO_KILL_AT) {
            /* instance 1 dies holding entries: caught between reading
             * entries and applying them (its consumer, HOST:PID, has some
             * pending), SIGKILLed there */
            killed_pending = eo_catch(&daemons[1], ids, &n, &kill_tries);
            kill_daemon(&daemons[1]);
            eo_ghost(ids, &n);
        }
        if (n == EO_STALL_AT) {
            /* instance 0 stalls holding entries longer than claim_idle:
             * instance 1 claims and applies them; then instance 0 resumes
             * and sends its FCALLs for them, which must change nothing */
            char me[32];
            snprintf(me, sizeof me, ":%ld", (long)daemons[0].pid);
            stall_held = eo_catch(&daemons[0], ids, &n, &stall_tries);
            long t_stall = tms_mono();
            while (consumer_pending(me) > 0) {
                ck_assert_msg(tms_mono() - t_stall < 10000, "entries of a stalled instance "
                              "not claimed within 10 s (claim_idle 1s)");
                tsleep_ms(20);
            }
            ck_assert_int_eq(kill(daemons[0].pid, SIGCONT), 0);
        }
        if (n == EO_RESTART_AT)
            relaunch_daemon(&daemons[1]);
        int left = EO_TOTAL - n, c = EO_CHUNK;
        if (n < EO_KILL_AT && EO_KILL_AT - n < c)
            c = EO_KILL_AT - n;
        if (n < EO_RESTART_AT && EO_RESTART_AT - n < c)
            c = EO_RESTART_AT - n;
        if (n < EO_STALL_AT && EO_STALL_AT - n < c)
            c = EO_STALL_AT - n;
        eo_append(ids, &n, c < left ? c : left);
    }
    long t_appended = tms_mono() - t0;

    /* everything applied: nothing pending, one verdict event per entry */
    long long nev = -1;
    until = tms_mono() + EO_DEADLINE_MS;
    for (;;) {
        bool settled = group_settled(why, sizeof why);
        if (settled) {
            nev = events_count("verdict", "*");
            if (nev >= EO_TOTAL)
                break;
        }
        ck_assert_msg(tms_mono() < until, "%d verdicts, one instance SIGKILLed: not all "
                      "applied within %d ms: %s; %lld verdict events\nlog tail of daemon "
                      "0:\n%s", EO_TOTAL, EO_DEADLINE_MS, why, nev, tlog_tail(&daemons[0]));
        tsleep_ms(100);
    }
    long t_done = tms_mono() - t0;
    ck_assert_int_eq(xpending(), 0);
    ck_assert_msg(nev == EO_TOTAL, "%lld verdict events for %d verdicts", nev, EO_TOTAL);
    ck_assert_int_eq(hint("XLEN", K_DEAD, (char *)NULL), 0);
    ck_assert_int_eq(hint("ZCARD", K_IDX, (char *)NULL), 0);

    qsort(ids, EO_TOTAL, sizeof *ids, eid_cmp);
    /* the verdict events: each entry exactly once */
    redisReply *rp = events_json("verdict", "*");
    ck_assert_int_eq(rp->elements, EO_TOTAL);
    for (size_t i = 0; i < rp->elements; i++) {
        json_t *ev = jparse(rp->element[i]->str);
        got[i] = eid_parse(jstr(ev, "id"), "verdict event");
        json_decref(ev);
    }
    freeReplyObject(rp);
    eids_same(got, EO_TOTAL, ids, "verdict events");

    /* the strikes: sum of ZCARD exactly EO_TOTAL, each entry once */
    size_t ng = 0;
    long long zsum = 0;
    for (int a = 0; a < EO_ACCOUNTS; a++) {
        char acct[32];
        snprintf(acct, sizeof acct, "u%03d", a);
        zsum += hint("ZCARD", akey(acct, "strikes"), (char *)NULL);
        rp = hcmd("ZRANGE", akey(acct, "strikes"), "0", "-1", (char *)NULL);
        for (size_t i = 0; i < rp->elements; i++) {
            ck_assert_msg(ng < EO_TOTAL, "more than %d strikes", EO_TOTAL);
            got[ng++] = eid_parse(rp->element[i]->str, "strike member");
            const char *w = strchr(rp->element[i]->str, ' ');
            ck_assert_msg(w != NULL && strcmp(w, " 1") == 0, "strike member \"%s\": want "
                          "weight 1", rp->element[i]->str);
        }
        freeReplyObject(rp);
    }
    ck_assert_msg(zsum == EO_TOTAL, "sum of ZCARD strikes over %d accounts: %lld, want %d",
                  EO_ACCOUNTS, zsum, EO_TOTAL);
    eids_same(got, ng, ids, "strikes");

    /* the ghost's entries were taken over by a claim */
    ck_assert_msg(tfile_contains(daemons[0].log, "verdicts: claimed ")
                  || tfile_contains(daemons[1].log, "verdicts: claimed "),
                  "no daemon logged a claim of the entries the ghost consumer left pending");
    /* the stalled instance's FCALLs for the entries claimed from it did
     * reach Redis, and were refused there */
    long long dup0 = metric_verdicts(tmetrics_port(&daemons[0]), "duplicate");
    ck_assert_msg(dup0 >= stall_held, "instance 0 stalled holding %d entries that were "
                  "claimed and applied elsewhere; its own calls for them: %lld refused as "
                  "duplicates, want all", stall_held, dup0);
    fprintf(stderr, "check_verdict: exactly_once: %d verdicts appended in %ld ms (instance 1 "
            "SIGKILLed after %d holding %d pending (try %d), restarted at %d; %d left "
            "pending by a consumer that never acknowledges; instance 0 stalled after %d "
            "holding %d (try %d), %lld duplicates refused), all applied once after %ld ms\n",
            EO_TOTAL, t_appended, EO_KILL_AT, killed_pending, kill_tries, EO_RESTART_AT,
            EO_GHOST, EO_STALL_AT, stall_held, stall_tries, dup0, t_done);

    expect_clean_stop(&daemons[0]);
    expect_clean_stop(&daemons[1]);
}
END_TEST

/* ==== a verdict written before any outpostd ran ========================= */

START_TEST(test_before_daemon)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024], out[256];
    const char *classes = "{\"standard\": {\"auto_suspend\": {\"verdicts\": 1}}}";

    start_redis(r);
    /* with the cap doc/keys.md recommends */
    int rc = tredis_cli(r, out, sizeof out, "XADD", K_STREAM, "MAXLEN", "~", "100000", "*",
                        "account", "alice", "source", "early", (char *)NULL);
    ck_assert_msg(rc == 0 && strchr(out, '-') != NULL, "XADD: %s", tvis(out));
    char id[64];
    xadd_cli(r, id, "account", "bob", "weight", "abc", (char *)NULL);
    redisReply *rp = hcmd("XINFO", "GROUPS", K_STREAM, (char *)NULL);
    ck_assert_int_eq(rp->elements, 0);
    freeReplyObject(rp);
    tsleep_ms(200);
    ck_assert_msg(!suspended_in_redis("alice"), "alice suspended with no outpostd running");

    cfg_extra(extra, sizeof extra, r, "");
    start_daemon(d, extra, classes);
    int fd = txconnect(d);
    ck_assert_msg(wait_suspended("alice", 10000), "alice's verdict, written before outpostd "
                  "started, was not applied within 10 s\nlog tail:\n%s", tlog_tail(d));
    expect_reply(d, fd, "alice", SUSP_TEXT, "alice, verdict written before outpostd ran");
    wait_settled(10000, "verdicts written before outpostd ran");
    ck_assert_int_eq(hint("XLEN", K_DEAD, (char *)NULL), 1);
    ck_assert_int_eq(events_count("verdict", "alice"), 1);

    close(fd);
    expect_clean_stop(d);
}
END_TEST

/* ==== consumers of instances gone are pruned ============================ */

/* XINFO CONSUMERS of the group (an error reply while there is none). */
static redisReply *consumers(void)
{
    const char *argv[4] = { "XINFO", "CONSUMERS", K_STREAM, GROUP };
    size_t lens[4];
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(argv[i]);
    return hcmdv(true, 4, argv, lens);
}

/* Does XINFO CONSUMERS list name, or (name NULL) a consumer of a daemon
 * (HOST:PID)? */
static bool has_consumer(const char *name)
{
    redisReply *rp = consumers();
    bool found = false;
    for (size_t i = 0; rp->type == REDIS_REPLY_ARRAY && i < rp->elements; i++) {
        const redisReply *c = rp->element[i];
        for (size_t j = 0; j + 1 < c->elements; j += 2) {
            const char *v = c->element[j + 1]->str;
            if (strcmp(c->element[j]->str, "name") == 0
                && (name != NULL ? strcmp(v, name) == 0 : strchr(v, ':') != NULL))
                found = true;
        }
    }
    freeReplyObject(rp);
    return found;
}

/* "ghost" read and acknowledged (nothing pending): pruned once idle for 10
 * x claim_idle.  "stuck" holds a verdict it never applied: its entry is
 * claimed and applied once, and only then is it pruned too.  The daemon's
 * own consumer stays. */
START_TEST(test_prune_consumers)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024], id[64];

    start_redis(r);
    /* before any outpostd: the group, "stuck" holding carol's verdict, and
     * "ghost" with nothing */
    xadd_cli(r, id, "account", "carol", (char *)NULL);
    freeReplyObject(hcmd("XGROUP", "CREATE", K_STREAM, GROUP, "0", (char *)NULL));
    freeReplyObject(hcmd("XREADGROUP", "GROUP", GROUP, "stuck", "COUNT", "1", "STREAMS",
                         K_STREAM, ">", (char *)NULL));
    freeReplyObject(hcmd("XGROUP", "CREATECONSUMER", K_STREAM, GROUP, "ghost", (char *)NULL));
    ck_assert(has_consumer("ghost") && has_consumer("stuck"));
    ck_assert_int_eq(xpending(), 1);
    cfg_extra(extra, sizeof extra, r, "\"verdicts\": {\"claim_idle\": \"1s\"},");
    start_daemon(d, extra, "{\"standard\": {\"auto_suspend\": {\"verdicts\": 100}}}");
    long until = tms_mono() + 25000;
    while ((has_consumer("ghost") || has_consumer("stuck")) && tms_mono() < until)
        tsleep_ms(200);
    ck_assert_msg(!has_consumer("ghost") && !has_consumer("stuck"), "consumers of instances "
                  "gone not pruned within 25 s\nlog tail:\n%s", tlog_tail(d));
    ck_assert_msg(has_consumer(NULL), "the daemon's own consumer was pruned");
    ck_assert_int_eq(events_count("verdict", "carol"), 1);
    ck_assert_int_eq(xpending(), 0);
    expect_clean_stop(d);
}
END_TEST

/* ==== a Redis that refuses the stream commands ========================== */

/* An ACL without the stream commands (an outpostd user from before the
 * verdict consumer): decisions go on, the refusal is logged once, not
 * every second. */
START_TEST(test_refused_reads)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024], pwfile[256], out[256];

    start_redis(r);
    int rc = tredis_cli(r, out, sizeof out, "ACL", "SETUSER", "od", "on", ">pw", "~*", "&*",
                        "+@all", "-xgroup", "-xreadgroup", "-xautoclaim", (char *)NULL);
    ck_assert_msg(rc == 0 && strcmp(out, "OK") == 0, "ACL SETUSER: %s", tvis(out));
    snprintf(pwfile, sizeof pwfile, "%s/pw", r->dir);
    tfile_write(pwfile, "pw\n");
    char more[512];
    snprintf(more, sizeof more, "\"redis\": {\"address\": \"unix:%s\", \"username\": "
             "\"od\", \"password_file\": \"%s\"},", r->sock, pwfile);
    snprintf(extra, sizeof extra, "%s", more);
    start_daemon(d, extra, "{\"standard\": {}}");
    int fd = txconnect(d);
    tsleep_ms(3500);                    /* about three retries */
    expect_reply(d, fd, "bob", "DUNNO", "a decision while the stream reads are refused");
    char *text = tfile_read(d->log);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, "verdicts: XGROUP CREATE")) != NULL; p++)
        n++;
    free(text);
    ck_assert_msg(n == 1, "the refused XGROUP CREATE was logged %d times in 3.5 s, want 1\n"
                  "log tail:\n%s", n, tlog_tail(d));
    close(fd);
    expect_clean_stop(d);
}
END_TEST

/* ---- the suite */

int main(void)
{
    Suite *s = suite_create("verdict");

    tfix_init(daemons, NDAEMONS, redises, NREDIS);

    tfix_add(s, "threshold", test_threshold, TIMEOUT_S, all_stop);
    tfix_add(s, "weight", test_weight, TIMEOUT_S, all_stop);
    tfix_add(s, "window", test_window, TIMEOUT_S, all_stop);
    tfix_add(s, "temporary", test_temporary, TIMEOUT_S, all_stop);
    tfix_add(s, "reinstate", test_reinstate, TIMEOUT_S, all_stop);
    tfix_add(s, "malformed", test_malformed, TIMEOUT_S, all_stop);
    tfix_add(s, "exactly_once", test_exactly_once, TIMEOUT_S, all_stop);
    tfix_add(s, "before_daemon", test_before_daemon, TIMEOUT_S, all_stop);
    tfix_add(s, "refused_reads", test_refused_reads, TIMEOUT_S, all_stop);
    tfix_add(s, "prune_consumers", test_prune_consumers, TIMEOUT_S, all_stop);

    return tfix_run(s);
}
