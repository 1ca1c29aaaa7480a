/* check_identity.c - sender identities through the real daemon (SPEC §1
 * item 2, §5 step 4; doc/keys.md "Sender identities"; the identities.* keys
 * of doc/configuration.md).
 *
 * Each test starts a private redis-server and one to three outpostd
 * ($OUTPOSTD) configured for it with an "identities" object of its own,
 * creates grants the way doc/keys.md documents them (`redis-cli FCALL
 * outpost_identity 6 ...`, never outpostctl's identity commands), sends
 * real policy requests over the daemon's UNIX socket and checks the
 * answers, the keys decide.lua writes (observed senders, their index, the
 * events stream) and the daemon's log lines.  Enforcement needs the state
 * marker: `outpostctl init` writes it before the daemon connects (without
 * it outpostd falls back to monitor, which one test checks).
 *
 * Time is Redis TIME: expiries and event windows are waited for by polling
 * TIME (bounded), never by sleeping a fixed amount and hoping.
 *
 * Cleanup as in check_store.c / check_limits.c (t/lib/tfix.h): daemons and
 * redis-servers are copied into memory shared with the runner, whose
 * unchecked teardown reaps exactly those PIDs when a failed assertion ended
 * the test process.
 * A passing test stops every daemon with SIGTERM and wants exit status 0
 * (under the sanitizer build: no leak, no ASan/UBSan report). */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "../lib/tfix.h"

#define NDAEMONS 3
#define NREDIS 1
#define TIMEOUT_S 60

#define PFX "outpost:"
#define EVENTS PFX "{events}"
#define OBSIDX PFX "{idx}:observed"
#define EVMAX "100000"
#define NA(addr) "553 5.7.1 Not authorized to send as <" addr ">"
#define HDR "X-Outpost-Identity"
#define PREPEND(account, addr) \
    "PREPEND " HDR ": account " account " is not authorized to send as <" addr ">"

/* ---- cleanup (t/lib/tfix.h) */

static struct tdaemon daemons[NDAEMONS];
static struct tredis redises[NREDIS];
static redisContext *rc;                /* the test's own Redis connection */
static redisContext *mon;               /* a MONITOR connection */
static int fds[NDAEMONS] = { -1, -1, -1 };

static void all_stop(void)              /* checked: in the test process */
{
    if (rc != NULL)
        redisFree(rc);
    rc = NULL;
    if (mon != NULL)
        redisFree(mon);
    mon = NULL;
    for (int i = 0; i < NDAEMONS; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
    tfix_stop_all();
}

/* ---- small helpers */

/* ---- Redis: the test's own connection (hiredis) */

static void start_redis(void)
{
    struct tredis *r = &redises[0];
    tfix_start_redis(r, NULL);
    rc = redisConnectUnix(r->sock);
    ck_assert_msg(rc != NULL && rc->err == 0, "hiredis: connect %s: %s", r->sock,
                  rc != NULL ? rc->errstr : "out of memory");
}

/* A command of string arguments (NULL-terminated); its reply, never an
 * error reply.  The caller frees it. */
static redisReply *R(const char *a0, ...)
{
    const char *argv[32];
    int n = 0;
    va_list ap;
    argv[n++] = a0;
    va_start(ap, a0);
    for (const char *a; n < 32 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = a;
    va_end(ap);
    redisReply *r = redisCommandArgv(rc, n, argv, NULL);
    ck_assert_msg(r != NULL, "hiredis: %s: %s", a0, rc->errstr);
    ck_assert_msg(r->type != REDIS_REPLY_ERROR, "Redis %s %s: error \"%s\"", a0,
                  n > 1 ? argv[1] : "", r->str);
    return r;
}

static long long R_int(const char *a0, const char *a1, const char *a2)
{
    redisReply *r = R(a0, a1, a2, (char *)NULL);
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "Redis %s %s: not an integer reply",
                  a0, a1);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* HGET: malloc'd string, or NULL for a missing field. */
static char *R_hget(const char *key, const char *field)
{
    redisReply *r = R("HGET", key, field, (char *)NULL);
    char *v = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    freeReplyObject(r);
    return v;
}

/* Redis TIME in ms. */
static long long redis_ms(void)
{
    redisReply *r = R("TIME", (char *)NULL);
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    long long ms = strtoll(r->element[0]->str, NULL, 10) * 1000
                 + strtoll(r->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(r);
    return ms;
}

/* Polls Redis TIME (5 s at most) until it is >= ms. */
static void wait_redis_time(long long ms, const char *what)
{
    long until = tms_mono() + 5000;
    long long now;
    while ((now = redis_ms()) < ms) {
        ck_assert_msg(tms_mono() < until, "%s: Redis TIME %lld did not reach %lld within 5 s",
                      what, now, ms);
        tsleep_ms(ms - now > 50 ? 50 : ms - now + 1);
    }
}

/* A JSON object (must parse); the caller decrefs it. */
static json_t *jparse(const char *text, const char *what)
{
    json_error_t e;
    json_t *j = text != NULL ? json_loads(text, 0, &e) : NULL;
    ck_assert_msg(j != NULL && json_is_object(j), "%s: not a JSON object: \"%s\"", what,
                  tvis(text));
    return j;
}

static long long jint(const json_t *o, const char *name, const char *what)
{
    json_t *v = json_object_get(o, name);
    ck_assert_msg(json_is_integer(v), "%s: field \"%s\" is not an integer", what, name);
    return json_integer_value(v);
}

static const char *jstr(const json_t *o, const char *name, const char *what)
{
    json_t *v = json_object_get(o, name);
    ck_assert_msg(json_is_string(v), "%s: field \"%s\" is not a string", what, name);
    return json_string_value(v);
}

/* The fields of a hash, as a sorted, comma-separated list ("a,b"). */
static void hash_fields(const char *key, char *out, size_t cap)
{
    redisReply *r = R("HKEYS", key, (char *)NULL);
    ck_assert(r->type == REDIS_REPLY_ARRAY);
    const char *names[64];
    size_t n = r->elements < 64 ? r->elements : 64;
    for (size_t i = 0; i < n; i++)
        names[i] = r->element[i]->str;
    for (size_t i = 1; i < n; i++)          /* insertion sort */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s%s",
                                i ? "," : "", names[i]);
    freeReplyObject(r);
}

/* The entries of P{events} of type `type` (and account, if not NULL):
 * their "json" field parsed, in stream order, into out (at most max);
 * returns how many there are. */
static int events_of(const char *type, const char *account, json_t **out, int max)
{
    redisReply *r = R("XRANGE", EVENTS, "-", "+", (char *)NULL);
    ck_assert(r->type == REDIS_REPLY_ARRAY);
    int n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *fv = r->element[i]->element[1];
        const char *t = NULL, *a = NULL, *js = NULL;
        for (size_t k = 0; k + 1 < fv->elements; k += 2) {
            const char *f = fv->element[k]->str, *v = fv->element[k + 1]->str;
            if (strcmp(f, "type") == 0)
                t = v;
            else if (strcmp(f, "account") == 0)
                a = v;
            else if (strcmp(f, "json") == 0)
                js = v;
        }
        if (t == NULL || strcmp(t, type) != 0)
            continue;
        if (account != NULL && (a == NULL || strcmp(a, account) != 0))
            continue;
        if (n < max && out != NULL)
            out[n] = jparse(js, "event json");
        n++;
    }
    freeReplyObject(r);
    return n;
}

static void jfree(json_t **v, int n, int max)
{
    for (int i = 0; i < n && i < max; i++)
        json_decref(v[i]);
}

/* The keys that match pattern (KEYS: a private, small Redis). */
static long long count_keys(const char *pattern)
{
    redisReply *r = R("KEYS", pattern, (char *)NULL);
    long long n = (long long)r->elements;
    freeReplyObject(r);
    return n;
}

/* ---- the documented command line: redis-cli FCALL outpost_identity */

/* FCALL outpost_identity 6 ... OP ACCOUNT ADDRESS FOR_MS BY EVMAX through
 * redis-cli, exactly as doc/keys.md writes it; its integer reply. */
static long long fcall_identity(const char *op, const char *account, const char *addr,
                                const char *for_ms)
{
    char ids[256], who[512], audit[256], obs[256], out[512];
    snprintf(ids, sizeof ids, PFX "{a:%s}:ids", account);
    snprintf(who, sizeof who, PFX "{id:%s}:who", addr);
    snprintf(audit, sizeof audit, PFX "{a:%s}:audit", account);
    snprintf(obs, sizeof obs, PFX "{a:%s}:observed", account);
    int rcode = tredis_cli(&redises[0], out, sizeof out, "FCALL", "outpost_identity", "6",
                           ids, who, audit, EVENTS, obs, OBSIDX, op, account, addr, for_ms,
                           "support1", EVMAX, (char *)NULL);
    char *end = NULL;
    long long v = strtoll(out, &end, 10);
    ck_assert_msg(rcode == 0 && end != out && *end == '\0',
                  "redis-cli FCALL outpost_identity %s %s %s \"%s\": exit %d, output \"%s\"",
                  op, account, addr, for_ms, rcode, tvis(out));
    return v;
}

static void grant(const char *account, const char *addr)
{
    long long v = fcall_identity("grant", account, addr, "");
    ck_assert_msg(v == 1, "FCALL outpost_identity grant %s %s: got %lld, want 1", account,
                  addr, v);
}

/* The grant's JSON from P{a:ACCOUNT}:ids (must exist). */
static json_t *grant_json(const char *account, const char *addr)
{
    char key[256];
    snprintf(key, sizeof key, PFX "{a:%s}:ids", account);
    char *v = R_hget(key, addr);
    ck_assert_msg(v != NULL, "HGET %s %s: no grant", key, addr);
    json_t *j = jparse(v, "grant");
    free(v);
    return j;
}

/* ---- the daemon */

/* Writes d's config (Redis r, identities = ids_json) and, with init,
 * writes the state marker with `outpostctl -c CFG init` before the daemon
 * starts; then starts it and waits until it is connected to Redis. */
static void start_daemon(int i, const char *ids_json, bool init)
{
    struct tdaemon *d = &daemons[i];
    char extra[2048];
    snprintf(extra, sizeof extra,
             "\"redis\": {\"address\": \"unix:%s\", \"timeout_ms\": 2000,"
             " \"connect_timeout_ms\": 2000},\n  \"identities\": %s,",
             redises[0].sock, ids_json);
    tdaemon_prepare(d, NULL, extra);
    tfix_track_daemon(d);
    if (init) {
        const char *ctl = getenv("OUTPOSTCTL");
        char out[512], err[512], st[64];
        ck_assert_msg(ctl != NULL, "OUTPOSTCTL is not set (run through make check)");
        char *argv[] = { (char *)ctl, "-c", d->cfg, "init", NULL };
        int rcode = trun(argv, out, sizeof out, err, sizeof err, 10000);
        ck_assert_msg(rcode != -1 && WIFEXITED(rcode) && WEXITSTATUS(rcode) == 0,
                      "outpostctl init: got %s, want exit 0; stdout \"%s\", stderr \"%s\"",
                      tstatus_str(rcode, st, sizeof st), tvis(out), tvis(err));
    }
    tfix_launch(d);
    long off = 0;
    texpect_log(d, &off, "redis: connected to", 10000, "outpostd's Redis link");
    if (init)
        ck_assert_msg(!tfile_contains(d->log, "ALARM"),
                      "the state marker was written, yet outpostd raised its alarm:\n%s",
                      tlog_tail(d));
    fds[i] = txconnect(d);
}

static void expect_clean_stop(int i)
{
    if (fds[i] >= 0)
        close(fds[i]);
    fds[i] = -1;
    texpect_clean_stop_san(&daemons[i]);
}

static void stop_all(void)
{
    for (int i = 0; i < NDAEMONS; i++)
        if (daemons[i].pid > 0)
            expect_clean_stop(i);
}

/* One request to daemon i: protocol_state `state` (RCPT, MAIL,
 * END-OF-MESSAGE); account NULL sends no sasl_username; instance NULL no
 * instance.  Its action must be `want` exactly. */
static void expect(int i, const char *state, const char *account, const char *sender,
                   const char *instance, const char *rcpt, const char *want,
                   const char *what)
{
    char attrs[2048], got[1024];
    size_t n = 0;
    n += (size_t)snprintf(attrs + n, sizeof attrs - n,
                          "protocol_state=%s\nprotocol_name=ESMTP\n"
                          "client_address=203.0.113.5\nclient_name=mx.example.net\n"
                          "helo_name=mx.example.net\n", state);
    if (account != NULL)
        n += (size_t)snprintf(attrs + n, sizeof attrs - n,
                              "sasl_method=PLAIN\nsasl_username=%s\n", account);
    n += (size_t)snprintf(attrs + n, sizeof attrs - n, "sender=%s\n", sender);
    if (instance != NULL)
        n += (size_t)snprintf(attrs + n, sizeof attrs - n, "instance=%s\n", instance);
    bool eom = strcmp(state, "END-OF-MESSAGE") == 0;
    snprintf(attrs + n, sizeof attrs - n, "recipient=%s\nqueue_id=%s\n"
             "recipient_count=%d\nsize=%d\n", rcpt != NULL ? rcpt : "",
             eom ? "4XyZ1" : "", eom ? 1 : 0, eom ? 1000 : 0);
    tquery(fds[i], attrs, got, sizeof got);
    ck_assert_msg(strcmp(got, want) == 0,
                  "%s: %s of %s as \"%s\" (instance %s) to daemon %d: got \"%s\", want "
                  "\"%s\"\nlog tail:\n%s", what, state, account ? account : "(none)",
                  tvis(sender), instance ? instance : "(none)", i, tvis(got), want,
                  tlog_tail(&daemons[i]));
}

#define RCPT(i, acct, sender, inst, want, what) \
    expect(i, "RCPT", acct, sender, inst, "rcpt1@example.org", want, what)

/* One message: RCPTs to n recipients, all answered `first` then `rest`,
 * then END-OF-MESSAGE (DUNNO). */
static void message(int i, const char *account, const char *sender, const char *instance,
                    int n, const char *first, const char *rest, const char *what)
{
    for (int k = 0; k < n; k++) {
        char rcpt[64];
        snprintf(rcpt, sizeof rcpt, "rcpt%d@example.org", k + 1);
        expect(i, "RCPT", account, sender, instance, rcpt, k == 0 ? first : rest, what);
    }
    expect(i, "END-OF-MESSAGE", account, sender, instance, "", "DUNNO", what);
}

/* The observed record of account/addr (NULL: absent); decref'd by caller. */
static json_t *observed(const char *account, const char *addr)
{
    char key[256];
    snprintf(key, sizeof key, PFX "{a:%s}:observed", account);
    char *v = R_hget(key, addr);
    if (v == NULL)
        return NULL;
    json_t *j = jparse(v, "observed record");
    free(v);
    return j;
}

static long long observed_count(const char *account, const char *addr)
{
    json_t *j = observed(account, addr);
    if (j == NULL)
        return 0;
    long long c = jint(j, "count", "observed record");
    json_decref(j);
    return c;
}

/* ZSCORE P{idx}:observed ACCOUNT: -1 if absent. */
static long long obs_index(const char *account)
{
    redisReply *r = R("ZSCORE", OBSIDX, account, (char *)NULL);
    long long v = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    freeReplyObject(r);
    return v;
}

static const char *ENFORCE = "{\"mode\": \"enforce\"}";

/* ==== the tests ========================================================== */

/* A pending grant does not authorize; the verified one does; removed, it
 * no longer does. */
START_TEST(test_pending_verified)
{
    start_redis();
    start_daemon(0, ENFORCE, true);

    ck_assert_int_eq(fcall_identity("add", "alice", "sales@example.com", ""), 1);
    json_t *g = grant_json("alice", "sales@example.com");
    ck_assert_str_eq(jstr(g, "state", "grant"), "pending");
    json_decref(g);
    RCPT(0, "alice", "sales@example.com", "I1", NA("sales@example.com"), "pending grant");
    RCPT(0, "alice", "Sales@Example.COM", "I2", NA("sales@example.com"),
         "pending grant, other spelling (the reply names the normal form)");

    ck_assert_int_eq(fcall_identity("verify", "alice", "sales@example.com", ""), 1);
    g = grant_json("alice", "sales@example.com");
    ck_assert_str_eq(jstr(g, "state", "grant"), "verified");
    json_decref(g);
    RCPT(0, "alice", "sales@example.com", "I3", "DUNNO", "verified grant");
    message(0, "alice", "sales@example.com", "I4", 3, "DUNNO", "DUNNO",
            "verified grant, a whole message");
    RCPT(0, "bob", "sales@example.com", "I5", NA("sales@example.com"),
         "another account, no grant");

    ck_assert_int_eq(fcall_identity("remove", "alice", "sales@example.com", ""), 1);
    RCPT(0, "alice", "sales@example.com", "I6", NA("sales@example.com"), "grant removed");
    stop_all();
}
END_TEST

/* One address, two accounts: both may use it, a third may not; the
 * reverse index lists exactly the two. */
START_TEST(test_shared_address)
{
    start_redis();
    start_daemon(0, ENFORCE, true);

    grant("alice", "team@example.com");
    grant("bob", "team@example.com");
    RCPT(0, "alice", "team@example.com", "I1", "DUNNO", "alice, granted");
    RCPT(0, "bob", "team@example.com", "I2", "DUNNO", "bob, granted");
    RCPT(0, "carol", "team@example.com", "I3", NA("team@example.com"), "carol, not granted");

    char f[512];
    hash_fields(PFX "{id:team@example.com}:who", f, sizeof f);
    ck_assert_msg(strcmp(f, "alice,bob") == 0, "HGETALL P{id:team@example.com}:who: fields "
                  "\"%s\", want \"alice,bob\"", f);
    for (int k = 0; k < 2; k++) {
        const char *acct = k ? "bob" : "alice";
        char *v = R_hget(PFX "{id:team@example.com}:who", acct);
        json_t *j = jparse(v, "who");
        ck_assert_str_eq(jstr(j, "state", "who"), "verified");
        json_decref(j);
        free(v);
    }
    /* one holder removed: the other still may */
    ck_assert_int_eq(fcall_identity("remove", "alice", "team@example.com", ""), 1);
    RCPT(0, "alice", "team@example.com", "I4", NA("team@example.com"), "alice, removed");
    RCPT(0, "bob", "team@example.com", "I5", "DUNNO", "bob, still granted");
    hash_fields(PFX "{id:team@example.com}:who", f, sizeof f);
    ck_assert_str_eq(f, "bob");
    stop_all();
}
END_TEST

/* "@example.com" covers every local part at that domain, not its
 * subdomains; identities.domain_grants false ignores it. */
START_TEST(test_domain_grant)
{
    start_redis();
    start_daemon(0, ENFORCE, true);
    start_daemon(1, "{\"mode\": \"enforce\", \"domain_grants\": false}", false);

    grant("alice", "@example.com");
    RCPT(0, "alice", "anyone@example.com", "I1", "DUNNO", "domain grant");
    RCPT(0, "alice", "Someone.Else@EXAMPLE.COM", "I2", "DUNNO", "domain grant, upper case");
    RCPT(0, "alice", "x@sub.example.com", "I3", NA("x@sub.example.com"),
         "domain grant, subdomain");
    RCPT(0, "alice", "x@notexample.com", "I4", NA("x@notexample.com"),
         "domain grant, a domain ending alike");
    RCPT(0, "alice", "x@example.org", "I5", NA("x@example.org"), "domain grant, other domain");
    RCPT(0, "bob", "x@example.com", "I6", NA("x@example.com"), "domain grant of another account");
    RCPT(1, "alice", "anyone@example.com", "I7", NA("anyone@example.com"),
         "domain_grants false");
    /* an address grant still counts there */
    grant("alice", "one@example.com");
    RCPT(1, "alice", "one@example.com", "I8", "DUNNO", "domain_grants false, address grant");
    stop_all();
}
END_TEST

/* A grant with FOR_MS authorizes until Redis TIME passes its `until`. */
START_TEST(test_expiry)
{
    start_redis();
    start_daemon(0, ENFORCE, true);

    long long t0 = redis_ms();
    ck_assert_int_eq(fcall_identity("grant", "alice", "temp@example.com", "1500"), 1);
    json_t *g = grant_json("alice", "temp@example.com");
    long long until = jint(g, "until", "grant");
    json_decref(g);
    ck_assert_msg(until >= t0 + 1500 && until <= redis_ms() + 1500,
                  "until %lld, want Redis time of the grant + 1500 (t0 %lld)", until, t0);
    RCPT(0, "alice", "temp@example.com", "I1", "DUNNO", "before the grant expires");
    ck_assert_msg(redis_ms() < until, "the first request took longer than 1.5 s: "
                  "the test proves nothing");
    wait_redis_time(until + 1, "grant expiry");
    RCPT(0, "alice", "temp@example.com", "I2", NA("temp@example.com"), "after it expired");
    /* an expired grant stays until removed */
    g = grant_json("alice", "temp@example.com");
    ck_assert_str_eq(jstr(g, "state", "grant"), "verified");
    json_decref(g);
    /* FOR_MS 0 removes the expiry */
    ck_assert_int_eq(fcall_identity("grant", "alice", "temp@example.com", "0"), 1);
    RCPT(0, "alice", "temp@example.com", "I3", "DUNNO", "expiry removed");
    stop_all();
}
END_TEST

/* monitor: DUNNO; with prepend_header a PREPEND at the first RCPT of an
 * instance only; enforce refuses the same request. */
START_TEST(test_monitor_enforce)
{
    start_redis();
    start_daemon(0, "{\"mode\": \"monitor\"}", true);
    start_daemon(1, "{\"mode\": \"monitor\", \"prepend_header\": \"" HDR "\"}", false);
    start_daemon(2, ENFORCE, false);
    grant("alice", "alice@example.com");

    message(0, "alice", "x@other.test", "I1", 2, "DUNNO", "DUNNO", "monitor");
    /* PREPEND at the first RCPT, DUNNO at the second and at END-OF-MESSAGE */
    message(1, "alice", "x@other.test", "I2", 3, PREPEND("alice", "x@other.test"), "DUNNO",
            "monitor with prepend_header");
    message(1, "alice", "x@other.test", "I3", 2, PREPEND("alice", "x@other.test"), "DUNNO",
            "monitor with prepend_header, next instance");
    /* a new connection (a new smtpd) starts afresh */
    close(fds[1]);
    fds[1] = tconnect_unix(daemons[1].sock);
    ck_assert_int_ge(fds[1], 0);
    RCPT(1, "alice", "x@other.test", "I4", PREPEND("alice", "x@other.test"),
         "monitor with prepend_header, new connection");
    message(1, "alice", "alice@example.com", "I5", 2, "DUNNO", "DUNNO",
            "monitor with prepend_header, authorized sender");
    expect(1, "END-OF-MESSAGE", "alice", "y@other.test", "I6", "", "DUNNO",
           "END-OF-MESSAGE alone never gets PREPEND");
    message(2, "alice", "x@other.test", "I7", 2, NA("x@other.test"), NA("x@other.test"),
            "enforce");
    message(2, "alice", "alice@example.com", "I8", 2, "DUNNO", "DUNNO",
            "enforce, authorized sender");
    stop_all();
}
END_TEST

/* enforce_from one hour ahead of Redis TIME: behaves as monitor (logged
 * "early"); one hour ago: enforces. */
START_TEST(test_enforce_from)
{
    start_redis();
    long long now = redis_ms();
    char ids[2][256];
    for (int k = 0; k < 2; k++) {
        time_t t = (time_t)(now / 1000 + (k == 0 ? 3600 : -3600));
        struct tm tm;
        char iso[64];
        gmtime_r(&t, &tm);
        strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(ids[k], sizeof ids[k], "{\"mode\": \"enforce\", \"enforce_from\": \"%s\", "
                 "\"prepend_header\": \"" HDR "\"}", iso);
    }
    start_daemon(0, ids[0], true);
    start_daemon(1, ids[1], false);

    message(0, "alice", "x@other.test", "I1", 2, PREPEND("alice", "x@other.test"), "DUNNO",
            "enforce_from in the future");
    ck_assert_msg(tdaemon_log_wait(&daemons[0], "identity violation account=\"alice\" "),
                  "no violation logged:\n%s", tlog_tail(&daemons[0]));
    ck_assert_msg(tfile_contains(daemons[0].log, "mode=early"),
                  "enforce_from in the future: want mode=early in the log:\n%s",
                  tlog_tail(&daemons[0]));
    RCPT(1, "bob", "x@other.test", "I2", NA("x@other.test"), "enforce_from in the past");
    ck_assert_msg(tfile_contains(daemons[1].log, "mode=enforce"),
                  "enforce_from in the past: want mode=enforce in the log:\n%s",
                  tlog_tail(&daemons[1]));

    json_t *ev[4];
    int n = events_of("identity_violation", "alice", ev, 4);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(jstr(ev[0], "mode", "event"), "monitor");
    jfree(ev, n, 4);
    n = events_of("identity_violation", "bob", ev, 4);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(jstr(ev[0], "mode", "event"), "enforce");
    jfree(ev, n, 4);
    stop_all();
}
END_TEST

/* The normal form: case, <>, a trailing dot, local_part_case,
 * strip_plus_tag. */
START_TEST(test_normalisation)
{
    start_redis();
    start_daemon(0, ENFORCE, true);
    start_daemon(1, "{\"mode\": \"enforce\", \"local_part_case\": \"sensitive\"}", false);
    start_daemon(2, "{\"mode\": \"enforce\", \"strip_plus_tag\": \"+\"}", false);
    grant("alice", "bob@example.com");

    RCPT(0, "alice", "<Bob@EXAMPLE.com>", "I1", "DUNNO", "case and <>");
    RCPT(0, "alice", "bob@example.com.", "I2", "DUNNO", "a trailing dot");
    RCPT(0, "alice", "BOB@example.com", "I3", "DUNNO", "upper-case local part");
    RCPT(0, "alice", "bob+news@example.com", "I4", NA("bob+news@example.com"),
         "a +tag without strip_plus_tag");

    RCPT(1, "alice", "Bob@example.com", "I5", NA("Bob@example.com"),
         "local_part_case sensitive");
    RCPT(1, "alice", "bob@EXAMPLE.COM", "I6", "DUNNO",
         "local_part_case sensitive, the domain is still case-insensitive");
    /* with sensitive, a grant is stored as given */
    grant("alice", "Bob@example.com");
    char f[512];
    hash_fields(PFX "{a:alice}:ids", f, sizeof f);
    ck_assert_msg(strcmp(f, "Bob@example.com,bob@example.com") == 0,
                  "ids fields \"%s\", want both spellings", f);
    RCPT(1, "alice", "Bob@example.com", "I7", "DUNNO",
         "local_part_case sensitive, grant of that spelling");
    RCPT(1, "alice", "BOB@example.com", "I8", NA("BOB@example.com"),
         "local_part_case sensitive, a third spelling");

    RCPT(2, "alice", "bob+news@example.com", "I9", "DUNNO", "strip_plus_tag +");
    RCPT(2, "alice", "<Bob+News+More@Example.com>", "I10", "DUNNO",
         "strip_plus_tag +, cut at the first +");
    RCPT(2, "alice", "bob-news@example.com", "I11", NA("bob-news@example.com"),
         "strip_plus_tag +, another separator");
    stop_all();
}
END_TEST

/* null_sender allow: DUNNO; deny: refused in enforce, never recorded. */
START_TEST(test_null_sender)
{
    start_redis();
    start_daemon(0, ENFORCE, true);
    start_daemon(1, "{\"mode\": \"enforce\", \"null_sender\": \"deny\"}", false);
    start_daemon(2, "{\"mode\": \"monitor\", \"null_sender\": \"deny\", "
                 "\"prepend_header\": \"" HDR "\"}", false);

    RCPT(0, "alice", "", "I1", "DUNNO", "null sender, allow");
    RCPT(0, "alice", "<>", "I2", "DUNNO", "null sender <>, allow");
    RCPT(1, "alice", "", "I3", NA(""), "null sender, deny");
    RCPT(1, "alice", "<>", "I4", NA(""), "null sender <>, deny");
    RCPT(2, "alice", "", "I5", "PREPEND " HDR ": account alice is not authorized to send as <>",
         "null sender, deny, monitor");
    ck_assert_msg(tfile_contains(daemons[1].log, "address=\"(null sender)\" mode=enforce"),
                  "no violation logged for the null sender:\n%s", tlog_tail(&daemons[1]));
    ck_assert_int_eq(count_keys(PFX "*observed*"), 0);
    ck_assert_int_eq(events_of("identity_violation", NULL, NULL, 0), 0);
    stop_all();
}
END_TEST

/* A sender that is not an address: refused in enforce, DUNNO in monitor,
 * never recorded. */
START_TEST(test_malformed)
{
    start_redis();
    start_daemon(0, ENFORCE, true);
    start_daemon(1, "{\"mode\": \"monitor\"}", false);
    grant("alice", "@example.com");

    RCPT(0, "alice", "bob", "I1", NA("bob"), "no @");
    RCPT(0, "alice", "bob@", "I2", NA("bob@"), "no domain");
    RCPT(0, "alice", "@example.com", "I3", NA("@example.com"),
         "no local part (a domain grant is not a sender)");
    RCPT(1, "alice", "bob", "I4", "DUNNO", "no @, monitor");
    ck_assert_msg(tfile_contains(daemons[0].log, "address=\"(malformed)\" mode=enforce"),
                  "no violation logged for the malformed sender:\n%s", tlog_tail(&daemons[0]));
    ck_assert_msg(tfile_contains(daemons[1].log, "address=\"(malformed)\" mode=monitor"),
                  "no violation logged for the malformed sender (monitor):\n%s",
                  tlog_tail(&daemons[1]));
    ck_assert_int_eq(count_keys(PFX "*observed*"), 0);
    ck_assert_int_eq(events_of("identity_violation", NULL, NULL, 0), 0);
    stop_all();
}
END_TEST

/* No sasl_username: never identity-checked, nothing recorded. */
START_TEST(test_unauthenticated)
{
    start_redis();
    start_daemon(0, "{\"mode\": \"enforce\", \"null_sender\": \"deny\"}", true);
    start_daemon(1, "{\"mode\": \"enforce\", \"stage\": \"mail\"}", false);

    message(0, NULL, "x@other.test", "I1", 2, "DUNNO", "DUNNO", "no sasl_username");
    message(0, "", "x@other.test", "I2", 2, "DUNNO", "DUNNO", "empty sasl_username");
    message(0, "  ", "bob", "I3", 1, "DUNNO", "DUNNO", "blank sasl_username, malformed");
    RCPT(0, NULL, "", "I4", "DUNNO", "no sasl_username, null sender");
    expect(1, "MAIL", NULL, "x@other.test", NULL, "", "DUNNO", "no sasl_username at MAIL");
    /* the same request authenticated is refused: the daemon does check */
    RCPT(0, "alice", "x@other.test", "I5", NA("x@other.test"), "authenticated");
    expect(1, "MAIL", "alice", "x@other.test", NULL, "", NA("x@other.test"),
           "authenticated at MAIL");
    char f[512];
    hash_fields(PFX "{a:alice}:observed", f, sizeof f);
    ck_assert_str_eq(f, "x@other.test");
    ck_assert_int_eq(count_keys(PFX "*observed*"), 2);     /* alice's and the index */
    ck_assert_int_eq(events_of("identity_violation", NULL, NULL, 0), 1);
    stop_all();
}
END_TEST

/* Observed senders: counted once per message, JSON count/first/last, the
 * index, observed_max and `overflow`, the TTL. */
START_TEST(test_observed)
{
    start_redis();
    start_daemon(0, "{\"mode\": \"monitor\", \"observed_max\": 2, \"observed_ttl\": \"1h\"}",
                 true);
    grant("alice", "alice@example.com");

    long long t0 = redis_ms();
    message(0, "alice", "x@other.test", "I1", 3, "DUNNO", "DUNNO", "x, message 1");
    message(0, "alice", "alice@example.com", "I2", 2, "DUNNO", "DUNNO", "authorized");
    message(0, "alice", "X@Other.Test", "I3", 2, "DUNNO", "DUNNO", "x, message 2");
    message(0, "alice", "y@other.test", "I4", 4, "DUNNO", "DUNNO", "y, message 1");
    message(0, "alice", "x@other.test", "I5", 1, "DUNNO", "DUNNO", "x, message 3");
    long long t1 = redis_ms();

    char f[512];
    hash_fields(PFX "{a:alice}:observed", f, sizeof f);
    ck_assert_msg(strcmp(f, "x@other.test,y@other.test") == 0,
                  "observed fields \"%s\", want x and y", f);
    json_t *x = observed("alice", "x@other.test"), *y = observed("alice", "y@other.test");
    ck_assert_int_eq(jint(x, "count", "x"), 3);
    ck_assert_int_eq(jint(y, "count", "y"), 1);
    long long xf = jint(x, "first", "x"), xl = jint(x, "last", "x");
    long long yf = jint(y, "first", "y"), yl = jint(y, "last", "y");
    ck_assert_msg(t0 <= xf && xf <= yf && yf <= xl && xl <= t1 && yf == yl,
                  "first/last out of order: t0 %lld x %lld..%lld y %lld..%lld t1 %lld",
                  t0, xf, xl, yf, yl, t1);
    json_decref(x);
    json_decref(y);
    long long score = obs_index("alice");
    ck_assert_msg(score == xl, "ZSCORE P{idx}:observed alice: %lld, want x's last %lld",
                  score, xl);
    long long pttl = R_int("PTTL", PFX "{a:alice}:observed", NULL);
    ck_assert_msg(pttl > 3600000 - 60000 && pttl <= 3600000,
                  "PTTL of the observed hash %lld, want about 1h", pttl);

    /* full: a third address is counted in `overflow` only */
    message(0, "alice", "z@other.test", "I6", 2, "DUNNO", "DUNNO", "z, beyond observed_max");
    char *ov = R_hget(PFX "{a:alice}:observed", "overflow");
    ck_assert_msg(ov != NULL && strcmp(ov, "1") == 0, "overflow \"%s\", want 1", tvis(ov));
    free(ov);
    ck_assert_ptr_null(observed("alice", "z@other.test"));
    message(0, "alice", "w@other.test", "I7", 1, "DUNNO", "DUNNO", "w, beyond observed_max");
    ov = R_hget(PFX "{a:alice}:observed", "overflow");
    ck_assert_msg(ov != NULL && strcmp(ov, "2") == 0, "overflow \"%s\", want 2", tvis(ov));
    free(ov);
    /* a known address is still counted */
    message(0, "alice", "y@other.test", "I8", 1, "DUNNO", "DUNNO", "y, message 2");
    ck_assert_int_eq(observed_count("alice", "y@other.test"), 2);
    hash_fields(PFX "{a:alice}:observed", f, sizeof f);
    ck_assert_str_eq(f, "overflow,x@other.test,y@other.test");
    stop_all();
}
END_TEST

/* One event and one log line per account+address per event_window. */
START_TEST(test_events_window)
{
    start_redis();
    start_daemon(0, "{\"mode\": \"monitor\"}", true);
    start_daemon(1, "{\"mode\": \"monitor\", \"event_window\": \"1s\"}", false);

    for (int k = 0; k < 5; k++) {
        char inst[16];
        snprintf(inst, sizeof inst, "A%d", k);
        message(0, "alice", "bad@other.test", inst, 2, "DUNNO", "DUNNO", "5 messages");
    }
    json_t *ev[8];
    int n = events_of("identity_violation", "alice", ev, 8);
    ck_assert_msg(n == 1, "identity_violation events of alice: %d, want 1", n);
    ck_assert_str_eq(jstr(ev[0], "op", "event"), "identity_violation");
    ck_assert_str_eq(jstr(ev[0], "account", "event"), "alice");
    ck_assert_str_eq(jstr(ev[0], "address", "event"), "bad@other.test");
    ck_assert_str_eq(jstr(ev[0], "mode", "event"), "monitor");
    ck_assert_int_eq(jint(ev[0], "count", "event"), 1);
    jfree(ev, n, 8);
    ck_assert_int_eq(observed_count("alice", "bad@other.test"), 5);
    int lines = tfile_count(daemons[0].log, "identity violation account=\"alice\" ");
    ck_assert_msg(lines == 1, "violation log lines for alice: %d, want 1\n%s", lines,
                  tlog_tail(&daemons[0]));
    /* another address is another event */
    message(0, "alice", "bad2@other.test", "A5", 1, "DUNNO", "DUNNO", "another address");
    ck_assert_int_eq(events_of("identity_violation", "alice", NULL, 0), 2);
    ck_assert_int_eq(tfile_count(daemons[0].log, "identity violation account=\"alice\" "), 2);

    /* event_window 1s: a second event once it has passed */
    message(1, "bob", "bad@other.test", "B1", 1, "DUNNO", "DUNNO", "window 1s, first");
    message(1, "bob", "bad@other.test", "B2", 1, "DUNNO", "DUNNO", "window 1s, second");
    n = events_of("identity_violation", "bob", ev, 8);
    ck_assert_msg(n == 1, "bob's events within the window: %d, want 1", n);
    long long at = jint(ev[0], "at", "event");
    jfree(ev, n, 8);
    ck_assert_msg(redis_ms() < at + 1000, "two requests took longer than the 1 s window");
    wait_redis_time(at + 1000, "event window");
    message(1, "bob", "bad@other.test", "B3", 1, "DUNNO", "DUNNO", "window 1s, third");
    n = events_of("identity_violation", "bob", ev, 8);
    ck_assert_msg(n == 2, "bob's events after the window: %d, want 2", n);
    ck_assert_int_eq(jint(ev[1], "count", "event"), 3);
    ck_assert(jint(ev[1], "at", "event") >= at + 1000);
    jfree(ev, n, 8);
    lines = tfile_count(daemons[1].log, "identity violation account=\"bob\" ");
    ck_assert_msg(lines == 2, "violation log lines for bob: %d, want 2\n%s", lines,
                  tlog_tail(&daemons[1]));
    stop_all();
}
END_TEST

/* Adoption: an observed address granted through the Function leaves the
 * observed hash (and the index) and is authorized from then on. */
START_TEST(test_adoption)
{
    start_redis();
    start_daemon(0, "{\"mode\": \"monitor\", \"prepend_header\": \"" HDR "\"}", true);

    message(0, "alice", "new@example.com", "I1", 2, PREPEND("alice", "new@example.com"),
            "DUNNO", "before adoption, 1");
    message(0, "alice", "new@example.com", "I2", 1, PREPEND("alice", "new@example.com"),
            "DUNNO", "before adoption, 2");
    ck_assert_int_eq(observed_count("alice", "new@example.com"), 2);
    ck_assert(obs_index("alice") > 0);
    ck_assert_int_eq(events_of("identity_violation", "alice", NULL, 0), 1);

    grant("alice", "new@example.com");
    ck_assert_ptr_null(observed("alice", "new@example.com"));
    ck_assert_int_eq(R_int("EXISTS", PFX "{a:alice}:observed", NULL), 0);
    ck_assert_int_eq(obs_index("alice"), -1);
    json_t *ev[4];
    int n = events_of("identity_grant", "alice", ev, 4);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(jstr(ev[0], "address", "grant event"), "new@example.com");
    ck_assert_str_eq(jstr(ev[0], "state", "grant event"), "verified");
    jfree(ev, n, 4);

    int lines = tfile_count(daemons[0].log, "identity violation");
    message(0, "alice", "new@example.com", "I3", 2, "DUNNO", "DUNNO", "after adoption");
    ck_assert_ptr_null(observed("alice", "new@example.com"));
    ck_assert_int_eq(R_int("EXISTS", PFX "{a:alice}:observed", NULL), 0);
    ck_assert_int_eq(obs_index("alice"), -1);
    ck_assert_int_eq(events_of("identity_violation", "alice", NULL, 0), 1);
    ck_assert_int_eq(tfile_count(daemons[0].log, "identity violation"), lines);

    /* a pending grant (add) also removes the address from observed, but
     * does not authorize */
    message(0, "alice", "other@example.com", "I4", 1, PREPEND("alice", "other@example.com"),
            "DUNNO", "another address");
    message(0, "alice", "third@example.com", "I5", 1, PREPEND("alice", "third@example.com"),
            "DUNNO", "a third address");
    ck_assert_int_eq(fcall_identity("add", "alice", "other@example.com", ""), 1);
    ck_assert_ptr_null(observed("alice", "other@example.com"));
    ck_assert_int_eq(observed_count("alice", "third@example.com"), 1);
    ck_assert(obs_index("alice") > 0);          /* third@ is still observed */
    message(0, "alice", "other@example.com", "I6", 1, PREPEND("alice", "other@example.com"),
            "DUNNO", "pending after add");
    stop_all();
}
END_TEST

/* Enforce refusals are recorded as observed senders too. */
START_TEST(test_enforce_observed)
{
    start_redis();
    start_daemon(0, ENFORCE, true);

    message(0, "alice", "bad@other.test", "I1", 2, NA("bad@other.test"), NA("bad@other.test"),
            "enforce, 1");
    message(0, "alice", "bad@other.test", "I2", 1, NA("bad@other.test"), NA("bad@other.test"),
            "enforce, 2");
    ck_assert_int_eq(observed_count("alice", "bad@other.test"), 2);
    ck_assert(obs_index("alice") > 0);
    json_t *ev[4];
    int n = events_of("identity_violation", "alice", ev, 4);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(jstr(ev[0], "mode", "event"), "enforce");
    jfree(ev, n, 4);
    ck_assert_int_eq(tfile_count(daemons[0].log, "identity violation account=\"alice\" "), 1);
    ck_assert(tfile_contains(daemons[0].log, "mode=enforce event=1"));
    stop_all();
}
END_TEST

/* identities.stage mail: the MAIL request is checked (and counts as the
 * message's first request), RCPT requests are not. */
START_TEST(test_stage_mail)
{
    start_redis();
    start_daemon(0, "{\"mode\": \"enforce\", \"stage\": \"mail\"}", true);
    start_daemon(1, "{\"mode\": \"monitor\", \"stage\": \"mail\", "
                 "\"prepend_header\": \"" HDR "\"}", false);
    grant("alice", "alice@example.com");

    expect(0, "MAIL", "alice", "bad@other.test", NULL, "", NA("bad@other.test"),
           "MAIL, unauthorized");
    expect(0, "MAIL", "alice", "alice@example.com", NULL, "", "DUNNO", "MAIL, authorized");
    message(0, "alice", "bad@other.test", "I1", 2, "DUNNO", "DUNNO",
            "RCPT at stage mail: not checked");
    ck_assert_int_eq(observed_count("alice", "bad@other.test"), 1);
    expect(0, "MAIL", "alice", "bad@other.test", NULL, "", NA("bad@other.test"),
           "MAIL, unauthorized, again");
    ck_assert_int_eq(observed_count("alice", "bad@other.test"), 2);
    /* monitor at MAIL: DUNNO, no PREPEND (only at RCPT) */
    expect(1, "MAIL", "bob", "bad@other.test", NULL, "", "DUNNO", "MAIL, monitor");
    RCPT(1, "bob", "bad@other.test", "I2", "DUNNO", "RCPT at stage mail, monitor");
    ck_assert_int_eq(observed_count("bob", "bad@other.test"), 1);
    stop_all();
}
END_TEST

/* No state marker (Redis emptied, never initialised): enforce falls back
 * to monitor; once the marker is there, it enforces; emptied again, back
 * to monitor. */
START_TEST(test_marker)
{
    start_redis();
    start_daemon(0, ENFORCE, false);
    long off = 0;
    ck_assert_msg(tdaemon_log_wait_from(&daemons[0], &off, "ALARM", 3000),
                  "no alarm without a marker:\n%s", tlog_tail(&daemons[0]));

    RCPT(0, "alice", "bad@other.test", "I1", "DUNNO", "no marker: monitor");
    ck_assert_int_eq(observed_count("alice", "bad@other.test"), 1);
    json_t *ev[4];
    int n = events_of("identity_violation", "alice", ev, 4);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(jstr(ev[0], "mode", "event"), "monitor");
    jfree(ev, n, 4);

    /* the operator runs outpostctl init; the daemon's periodic check sees it */
    const char *ctl = getenv("OUTPOSTCTL");
    char out[512], err[512], st[64];
    ck_assert_msg(ctl != NULL, "OUTPOSTCTL is not set (run through make check)");
    char *argv[] = { (char *)ctl, "-c", daemons[0].cfg, "init", NULL };
    int rcode = trun(argv, out, sizeof out, err, sizeof err, 10000);
    ck_assert_msg(rcode != -1 && WIFEXITED(rcode) && WEXITSTATUS(rcode) == 0,
                  "outpostctl init: got %s; stderr \"%s\"", tstatus_str(rcode, st, sizeof st),
                  tvis(err));
    ck_assert_msg(tdaemon_log_wait_from(&daemons[0], &off, "alarm cleared", 8000),
                  "alarm not cleared after outpostctl init:\n%s", tlog_tail(&daemons[0]));
    RCPT(0, "alice", "bad@other.test", "I2", NA("bad@other.test"), "marker present: enforce");

    R_int("DEL", PFX "{meta}:marker", NULL);
    ck_assert_msg(tdaemon_log_wait_from(&daemons[0], &off, "ALARM", 8000),
                  "no alarm after the marker was deleted:\n%s", tlog_tail(&daemons[0]));
    RCPT(0, "alice", "bad@other.test", "I3", "DUNNO", "marker gone again: monitor");
    stop_all();
}
END_TEST

/* Still one Redis command (FCALL of the decision Function) per request
 * that reaches Redis, the identity's reads and writes included: MONITOR
 * shows every top-level command, and INFO commandstats counts FCALLs. */
static long long cmdstat_calls(const char *cmd)
{
    redisReply *r = R("INFO", "commandstats", (char *)NULL);
    char needle[64];
    snprintf(needle, sizeof needle, "cmdstat_%s:calls=", cmd);
    const char *p = strstr(r->str, needle);
    long long v = p != NULL ? strtoll(p + strlen(needle), NULL, 10) : 0;
    freeReplyObject(r);
    return v;
}

START_TEST(test_one_command)
{
    start_redis();
    start_daemon(0, "{\"mode\": \"monitor\", \"prepend_header\": \"" HDR "\"}", true);
    start_daemon(1, "{\"mode\": \"enforce\", \"stage\": \"mail\"}", false);
    grant("alice", "alice@example.com");

    mon = redisConnectUnix(redises[0].sock);
    ck_assert(mon != NULL && mon->err == 0);
    redisReply *ok = redisCommand(mon, "MONITOR");
    ck_assert(ok != NULL && ok->type == REDIS_REPLY_STATUS);
    freeReplyObject(ok);
    long long ev0 = cmdstat_calls("evalsha"), fc0 = cmdstat_calls("fcall");
    char decide[96];
    snprintf(decide, sizeof decide, "FCALL\" \"%s_batch\"", tdecide_fn());
    long long ro0 = cmdstat_calls("fcall_ro"), ea0 = cmdstat_calls("eval");

    int asked = 0;
    message(0, "alice", "alice@example.com", "I1", 2, "DUNNO", "DUNNO", "authorized");
    asked += 3;
    message(0, "alice", "x@other.test", "I2", 3, PREPEND("alice", "x@other.test"), "DUNNO",
            "unauthorized, first recorded");
    asked += 4;
    message(0, "alice", "x@other.test", "I3", 1, PREPEND("alice", "x@other.test"), "DUNNO",
            "unauthorized, recorded again");
    asked += 2;
    message(0, "alice", "", "I4", 1, "DUNNO", "DUNNO", "null sender");
    asked += 2;
    RCPT(0, "alice", "bob", "I5", PREPEND("alice", ""), "malformed");
    asked += 1;
    expect(0, "MAIL", "alice", "x@other.test", NULL, "", "DUNNO", "MAIL at stage rcpt");
    /* (no Redis at all) */
    expect(1, "MAIL", "alice", "x@other.test", NULL, "", NA("x@other.test"), "MAIL, enforce");
    asked += 1;
    expect(1, "MAIL", "alice", "alice@example.com", NULL, "", "DUNNO", "MAIL, authorized");
    asked += 1;
    message(1, "alice", "x@other.test", "I6", 2, "DUNNO", "DUNNO", "RCPT at stage mail");
    asked += 3;

    /* FCALL: one per request, and the verdict consumer's prunes (checked
     * against MONITOR below) */
    long long fcalls = cmdstat_calls("fcall") - fc0;
    ck_assert_int_eq(cmdstat_calls("evalsha") - ev0, 0);
    ck_assert_int_eq(cmdstat_calls("fcall_ro") - ro0, 0);
    ck_assert_int_eq(cmdstat_calls("eval") - ea0, 0);

    /* every top-level command MONITOR saw, up to our sentinel */
    redisReply *e = R("ECHO", "sentinel-c0ffee", (char *)NULL);
    freeReplyObject(e);
    struct timeval tv = { 5, 0 };
    redisSetTimeout(mon, tv);
    int decisions = 0, resent = 0, lua = 0, prunes = 0;
    for (;;) {
        void *rp = NULL;
        ck_assert_msg(redisGetReply(mon, &rp) == REDIS_OK && rp != NULL,
                      "MONITOR: no sentinel within 5 s: %s", mon->errstr);
        redisReply *m = rp;
        ck_assert(m->type == REDIS_REPLY_STATUS);
        bool done = strstr(m->str, "\"sentinel-c0ffee\"") != NULL;
        const char *cmd = strstr(m->str, "] \"");
        ck_assert_msg(cmd != NULL, "MONITOR line \"%s\"", tvis(m->str));
        cmd += 3;
        if (strstr(m->str, " lua] ") != NULL)
            lua++;
        else if (strncasecmp(cmd, decide, strlen(decide)) == 0
                 && strstr(cmd, "\"outpost-decide 2\\n") != NULL)
            resent++;           /* once more, with the configuration text */
        else if (strncasecmp(cmd, decide, strlen(decide)) == 0)
            decisions++;
        else if (strncasecmp(cmd, "FCALL\" \"outpost_verdict_prune\"", 30) == 0)
            prunes++;           /* the verdict consumer's own link */
        else
            ck_assert_msg(strncasecmp(cmd, "INFO\"", 5) == 0
                          || strncasecmp(cmd, "ECHO\"", 5) == 0
                          || strncasecmp(cmd, "EXISTS\"", 7) == 0
                          /* the verdict consumer's own link: no decision there */
                          || strncasecmp(cmd, "XREADGROUP\"", 11) == 0
                          || strncasecmp(cmd, "XAUTOCLAIM\"", 11) == 0
                          || strncasecmp(cmd, "XGROUP\"", 7) == 0,
                          "a top-level command besides the decision FCALL: \"%s\"",
                          tvis(m->str));
        freeReplyObject(m);
        if (done)
            break;
    }
    ck_assert_msg(decisions == asked, "MONITOR saw %d %s, want %d", decisions, decide, asked);
    /* the first call of each daemon: answered OUTPOSTCFG, sent again with
     * the configuration text (two configurations: one of each at most) */
    ck_assert_msg(resent >= 1 && resent <= 2, "MONITOR saw %d calls resent with the "
                  "configuration text, want 1 or 2 (one per daemon)", resent);
    ck_assert_msg(fcalls == asked + resent + prunes, "%lld FCALL during the requests, MONITOR "
                  "saw %d decisions, %d resent and %d prunes of the verdict consumer", fcalls,
                  asked, resent, prunes);
    ck_assert_msg(lua > 0, "MONITOR saw no command run by a script");
    stop_all();
}
END_TEST

/* ---- the suite */

int main(void)
{
    Suite *s = suite_create("identity");

    tfix_init(daemons, NDAEMONS, redises, NREDIS);

    tfix_add(s, "pending_verified", test_pending_verified, TIMEOUT_S, all_stop);
    tfix_add(s, "shared_address", test_shared_address, TIMEOUT_S, all_stop);
    tfix_add(s, "domain_grant", test_domain_grant, TIMEOUT_S, all_stop);
    tfix_add(s, "expiry", test_expiry, TIMEOUT_S, all_stop);
    tfix_add(s, "monitor_enforce", test_monitor_enforce, TIMEOUT_S, all_stop);
    tfix_add(s, "enforce_from", test_enforce_from, TIMEOUT_S, all_stop);
    tfix_add(s, "normalisation", test_normalisation, TIMEOUT_S, all_stop);
    tfix_add(s, "null_sender", test_null_sender, TIMEOUT_S, all_stop);
    tfix_add(s, "malformed", test_malformed, TIMEOUT_S, all_stop);
    tfix_add(s, "unauthenticated", test_unauthenticated, TIMEOUT_S, all_stop);
    tfix_add(s, "observed", test_observed, TIMEOUT_S, all_stop);
    tfix_add(s, "events_window", test_events_window, TIMEOUT_S, all_stop);
    tfix_add(s, "adoption", test_adoption, TIMEOUT_S, all_stop);
    tfix_add(s, "enforce_observed", test_enforce_observed, TIMEOUT_S, all_stop);
    tfix_add(s, "stage_mail", test_stage_mail, TIMEOUT_S, all_stop);
    tfix_add(s, "marker", test_marker, TIMEOUT_S, all_stop);
    tfix_add(s, "one_command", test_one_command, TIMEOUT_S, all_stop);

    return tfix_run(s);
}
