/* check_store.c - outpostd against a real Redis (SPEC §5, §9; doc/keys.md).
 *
 * Each test starts its own redis-server (tlib's tredis: a UNIX socket in a
 * fresh /tmp directory, no persistence) and the real daemon ($OUTPOSTD)
 * configured for it with short deadlines (redis.timeout_ms 200,
 * connect_timeout_ms 500), changes Redis state the way an operator does
 * (redis-cli FCALL of the outpost Functions, exactly as doc/keys.md
 * writes them), and checks the daemon's answers and its decision log
 * lines (rule=...).
 *
 * Cleanup (t/lib/tfix.h): a failed assertion ends the test process at
 * once (fork mode); Check then SIGKILLs its process group (daemon and
 * redis-server with it) and the unchecked teardown, run by the runner,
 * reaps what is left from shared copies (tdaemon_reap(), tredis_reap():
 * only PIDs started here).
 * A passing test stops the daemon with SIGTERM and wants exit status 0
 * (under the sanitizer build: no leak, no ASan report), then stops its
 * redis-servers (SIGCONT first: a test may have stopped one).
 *
 * Timing: every wait is a bounded poll with generous limits; nothing
 * asserts a precise duration. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tfix.h"

#define NDAEMONS 1
#define NREDIS 2
#define TIMEOUT_S 60

#define DENY_TEXT "550 5.7.1 Sending refused by policy"
#define SUSP_TEXT "550 5.7.1 Account suspended; contact support"
#define DEFER_TEXT "451 4.3.0 Policy service unavailable; try again later"

/* The test process's own daemons and redis-servers (tfix_init(): their
 * copies live in memory shared with the runner). */
static struct tdaemon daemons[NDAEMONS];
static struct tredis redises[NREDIS];

static void monitor_stop(void);

static void all_stop(void)              /* checked: in the test process */
{
    monitor_stop();
    tfix_stop_all();
}

/* ---- helpers */

/* The daemon's "redis" object for r, then `more` (other top-level keys,
 * each ending with a comma). */
static void redis_extra(char *out, size_t cap, const char *address, const char *redis_more,
                        const char *more)
{
    snprintf(out, cap,
             "\"redis\": {\"address\": \"%s\", \"timeout_ms\": 200,"
             " \"connect_timeout_ms\": 500%s%s},\n  %s",
             address, redis_more[0] ? ", " : "", redis_more, more);
}

static void redis_extra_unix(char *out, size_t cap, const struct tredis *r, const char *more)
{
    char addr[160];
    snprintf(addr, sizeof addr, "unix:%s", r->sock);
    redis_extra(out, cap, addr, "", more);
}

/* Waits until the daemon has a Redis connection (handshake done). */
static void wait_connected(const struct tdaemon *d, long *off)
{
    texpect_log(d, off, "redis: connected to", 5000, "connecting to Redis");
}

/* Starts r and d (d on r's UNIX socket, with more JSON members) and waits
 * until d has its Redis connection. */
static void start_up(struct tredis *r, struct tdaemon *d, const char *more, long *off)
{
    char extra[1024];
    tfix_start_redis(r, NULL);
    redis_extra_unix(extra, sizeof extra, r, more);
    tfix_start_daemon(d, NULL, extra);
    wait_connected(d, off);
}

/* Finds the decision line of queue id qid (the log from *off on, waiting
 * timeout_ms at most); rule gets its rule ("" if none), line the text
 * after "queue_id=...".  *off moves past it (requests on one connection
 * are logged in order).  False if there was no such line. */
static bool decision_rule(const struct tdaemon *d, long *off, const char *qid,
                          char *rule, size_t rcap, char *line, size_t lcap, int timeout_ms)
{
    char needle[160];
    long o = *off;
    rule[0] = line[0] = '\0';
    snprintf(needle, sizeof needle, "queue_id=\"%s\" action=", qid);
    if (!tdaemon_log_wait_from(d, &o, needle, timeout_ms))
        return false;
    FILE *f = fopen(d->log, "r");
    if (f == NULL)
        return false;
    if (fseek(f, o, SEEK_SET) != 0 || fgets(line, (int)lcap, f) == NULL)
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    const char *p = strstr(line, " rule=");
    if (p != NULL) {
        p += 6;
        size_t n = strcspn(p, " ");
        snprintf(rule, rcap, "%.*s", (int)n, p);
    }
    *off = o;
    return true;
}

/* One request with queue_id=qid + attrs ("name=value\n"...); returns the
 * action in got and the logged rule in rule. */
static void ask(const struct tdaemon *d, int fd, long *off, const char *qid, const char *attrs,
                char *got, size_t gcap, char *rule, size_t rcap)
{
    char req[2048], line[1024];
    snprintf(req, sizeof req, "queue_id=%s\n%s", qid, attrs);
    tquery(fd, req, got, gcap);
    if (got[0] == '\0') {
        rule[0] = '\0';
        return;
    }
    decision_rule(d, off, qid, rule, rcap, line, sizeof line, 5000);
}

/* ask() and want exactly action and rule. */
static void expect_decision(const struct tdaemon *d, int fd, long *off, const char *qid,
                            const char *attrs, const char *want, const char *want_rule,
                            const char *what)
{
    char got[512], rule[128];
    ask(d, fd, off, qid, attrs, got, sizeof got, rule, sizeof rule);
    ck_assert_msg(strcmp(got, want) == 0,
                  "%s (queue_id %s): got action \"%s\", want \"%s\" (rule logged: \"%s\")"
                  "\nlog tail:\n%s", what, qid, tvis(got), want, rule, tlog_tail(d));
    ck_assert_msg(strcmp(rule, want_rule) == 0,
                  "%s (queue_id %s): got rule \"%s\", want \"%s\"\nlog tail:\n%s",
                  what, qid, rule, want_rule, tlog_tail(d));
}

/* Asks on fd every 50 ms (timeout_ms at most) until the answer is want
 * with rule want_rule; returns how many requests that took. */
static int poll_decision(const struct tdaemon *d, int fd, long *off, const char *qid_base,
                         const char *attrs, const char *want, const char *want_rule,
                         int timeout_ms, const char *what)
{
    char got[512] = "", rule[128] = "", qid[96];
    long until = tms_mono() + timeout_ms;
    int n = 0;
    for (;;) {
        snprintf(qid, sizeof qid, "%s-%d", qid_base, n++);
        ask(d, fd, off, qid, attrs, got, sizeof got, rule, sizeof rule);
        if (strcmp(got, want) == 0 && strcmp(rule, want_rule) == 0)
            return n;
        ck_assert_msg(got[0] != '\0', "%s: no answer to request %s (connection closed?)"
                      "\nlog tail:\n%s", what, qid, tlog_tail(d));
        ck_assert_msg(tms_mono() < until,
                      "%s: want \"%s\" rule=%s within %d ms; after %d requests the last "
                      "got \"%s\" rule=%s\nlog tail:\n%s", what, want, want_rule, timeout_ms,
                      n, tvis(got), rule, tlog_tail(d));
        tsleep_ms(50);
    }
}

/* redis-cli must succeed without an error reply. */
static void cli_ok(int rc, const char *out, const char *what)
{
    ck_assert_msg(rc == 0 && strncmp(out, "ERR", 3) != 0 && strstr(out, "(error)") == NULL
                  && strstr(out, "WRONGTYPE") == NULL && strstr(out, "NOSCRIPT") == NULL,
                  "redis-cli %s: exit %d, output \"%s\"", what, rc, tvis(out));
}

/* The FCALL command lines of doc/keys.md (prefix outpost:, EVMAX 100000). */
static void fcall_suspend(const struct tredis *r, const char *account, const char *for_ms)
{
    char susp[300], audit[300], out[512];
    snprintf(susp, sizeof susp, "outpost:{a:%s}:susp", account);
    snprintf(audit, sizeof audit, "outpost:{a:%s}:audit", account);
    int rc = tredis_cli(r, out, sizeof out, "FCALL", "outpost_suspend", "4", susp, audit,
                        "outpost:{idx}:suspended", "outpost:{events}", account,
                        "phished password", "support1", for_ms, "", "100000", (char *)NULL);
    cli_ok(rc, out, "FCALL outpost_suspend");
}

static void fcall_reinstate(const struct tredis *r, const char *account)
{
    char susp[300], audit[300], out[512];
    snprintf(susp, sizeof susp, "outpost:{a:%s}:susp", account);
    snprintf(audit, sizeof audit, "outpost:{a:%s}:audit", account);
    int rc = tredis_cli(r, out, sizeof out, "FCALL", "outpost_reinstate", "4", susp, audit,
                        "outpost:{idx}:suspended", "outpost:{events}", account, "support1",
                        "password reset", "100000", (char *)NULL);
    cli_ok(rc, out, "FCALL outpost_reinstate");
    ck_assert_msg(strcmp(out, "1") == 0, "FCALL outpost_reinstate %s: got \"%s\", want 1",
                  account, tvis(out));
}

/* FCALL outpost_list_add / outpost_list_remove: list L, kind K, value. */
static void fcall_list(const struct tredis *r, bool add, const char *l, const char *k,
                       const char *value, const char *text)
{
    char key[128], lens[128], out[512];
    int rc;
    snprintf(key, sizeof key, "outpost:{lists}:%s:%s", l, k);
    snprintf(lens, sizeof lens, "outpost:{lists}:%s:clientlens", l);
    if (add)
        rc = tredis_cli(r, out, sizeof out, "FCALL", "outpost_list_add", "3", key, lens,
                        "outpost:{events}", l, k, value, text, "support1", "100000",
                        (char *)NULL);
    else
        rc = tredis_cli(r, out, sizeof out, "FCALL", "outpost_list_remove", "3", key, lens,
                        "outpost:{events}", l, k, value, "support1", "100000",
                        (char *)NULL);
    cli_ok(rc, out, add ? "FCALL outpost_list_add" : "FCALL outpost_list_remove");
    ck_assert_msg(strcmp(out, "1") == 0, "FCALL outpost_list_%s %s %s %s: got \"%s\", want 1",
                  add ? "add" : "remove", l, k, value, tvis(out));
}

/* The outpost Functions library into a Redis outpostd has not seen yet. */
/* FUNCTION LOAD REPLACE of policy/<file> (a library). */
static void load_library(const struct tredis *r, const char *file)
{
    const char *dir = getenv("T_POLICY");
    char path[512], out[256];
    ck_assert_msg(dir != NULL, "T_POLICY is not set (the policy/ directory)");
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *lib = tfile_read(path);
    ck_assert_msg(lib != NULL, "cannot read %s", path);
    int rc = tredis_cli(r, out, sizeof out, "FUNCTION", "LOAD", "REPLACE", lib, (char *)NULL);
    free(lib);
    cli_ok(rc, out, "FUNCTION LOAD REPLACE");
}

static void load_functions(const struct tredis *r)
{
    load_library(r, "outpost.lua");
}

/* calls= of "cmdstat_NAME:" in INFO commandstats text (0 if absent). */
static long cmd_calls(const char *info, const char *name)
{
    char needle[96];
    snprintf(needle, sizeof needle, "cmdstat_%s:calls=", name);
    const char *p = strstr(info, needle);
    return p ? strtol(p + strlen(needle), NULL, 10) : 0;
}

/* failed_calls of command name in INFO commandstats (0 if not there). */
static long cmd_failed(const char *info, const char *name)
{
    char needle[96];
    snprintf(needle, sizeof needle, "cmdstat_%s:calls=", name);
    const char *p = strstr(info, needle);
    const char *eol = p ? strchr(p, '\n') : NULL;
    const char *f = p ? strstr(p, "failed_calls=") : NULL;
    return f && (eol == NULL || f < eol) ? strtol(f + 13, NULL, 10) : 0;
}

/* Sum of calls of every command but those named in skip (a command
 * "config|resetstat" is skipped by "config"); the others are listed in
 * which. */
static long other_calls(const char *info, const char *const *skip, char *which, size_t cap)
{
    long sum = 0;
    which[0] = '\0';
    for (const char *p = info; (p = strstr(p, "cmdstat_")) != NULL;) {
        p += 8;
        size_t n = strcspn(p, ":|");
        bool skipped = false;
        for (const char *const *s = skip; *s != NULL; s++)
            if (strlen(*s) == n && strncasecmp(p, *s, n) == 0)
                skipped = true;
        const char *c = strstr(p, ":calls=");
        long calls = c ? strtol(c + 7, NULL, 10) : 0;
        if (!skipped && calls > 0) {
            sum += calls;
            size_t l = strlen(which);
            size_t m = strcspn(p, ",\r\n");
            snprintf(which + l, cap - l, "%s%.*s", l ? "; " : "", (int)m, p);
        }
    }
    return sum;
}

static void info_commandstats(const struct tredis *r, char *out, size_t cap)
{
    int rc = tredis_cli(r, out, cap, "INFO", "commandstats", (char *)NULL);
    cli_ok(rc, out, "INFO commandstats");
}

static void reset_stats(const struct tredis *r)
{
    char out[64];
    cli_ok(tredis_cli(r, out, sizeof out, "CONFIG", "RESETSTAT", (char *)NULL), out,
           "CONFIG RESETSTAT");
}

#define RCPT(client, account, sender) \
    "protocol_state=RCPT\nclient_address=" client "\nsasl_username=" account \
    "\nsender=" sender "\nrecipient=rcpt@example.com\n"

/* ---- 1. suspension through FCALL, reinstatement, expiry */

START_TEST(test_suspend_reinstate)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    long off = 0;

    start_up(r, d, "", &off);
    int fd = txconnect(d);

    expect_decision(d, fd, &off, "Q1a", RCPT("203.0.113.5", "alice", "alice@example.net"),
                    "DUNNO", "default", "alice before any suspension");
    fcall_suspend(r, "alice", "0");
    expect_decision(d, fd, &off, "Q1b", RCPT("203.0.113.5", "alice", "alice@example.net"),
                    SUSP_TEXT, "suspended", "alice suspended through FCALL outpost_suspend");
    expect_decision(d, fd, &off, "Q1c", RCPT("203.0.113.5", "ALICE", "alice@example.net"),
                    SUSP_TEXT, "suspended", "sasl_username=ALICE (account.lowercase)");
    expect_decision(d, fd, &off, "Q1d", RCPT("203.0.113.5", " Alice ", "x@example.org"),
                    SUSP_TEXT, "suspended", "sasl_username=\" Alice \", another sender");
    expect_decision(d, fd, &off, "Q1e",
                    "protocol_state=END-OF-MESSAGE\nclient_address=203.0.113.5\n"
                    "sasl_username=alice\nsender=alice@example.net\nrecipient_count=1\n"
                    "size=1000\n", SUSP_TEXT, "suspended", "alice at END-OF-MESSAGE");
    expect_decision(d, fd, &off, "Q1f", RCPT("203.0.113.5", "bob", "bob@example.net"),
                    "DUNNO", "default", "bob is not suspended");
    fcall_reinstate(r, "alice");
    expect_decision(d, fd, &off, "Q1g", RCPT("203.0.113.5", "alice", "alice@example.net"),
                    "DUNNO", "default", "alice reinstated through FCALL outpost_reinstate");

    /* a temporary suspension lifts by itself */
    fcall_suspend(r, "carol", "1000");
    long t0 = tms_mono();
    expect_decision(d, fd, &off, "Q1h", RCPT("203.0.113.5", "carol", "carol@example.net"),
                    SUSP_TEXT, "suspended", "carol suspended for 1000 ms");
    poll_decision(d, fd, &off, "Q1i", RCPT("203.0.113.5", "carol", "carol@example.net"),
                  "DUNNO", "default", 5000, "carol's 1 s suspension expiring");
    ck_assert_msg(tms_mono() - t0 >= 500, "carol's 1 s suspension lifted after %ld ms only",
                  tms_mono() - t0);
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 2. the Redis allow/deny lists */

START_TEST(test_redis_lists)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    long off = 0;
    static const struct {
        const char *attrs, *want, *rule, *why;
    } cases[] = {
        { RCPT("198.51.100.7", "", "ann@example.net"), DENY_TEXT, "deny:redis:client",
          "unauthenticated client in a Redis-denied network" },
        { RCPT("::ffff:198.51.100.7", "", "ann@example.net"), DENY_TEXT, "deny:redis:client",
          "IPv4-mapped client in a Redis-denied network" },
        { RCPT("198.51.100.7", "bob", "bob@example.net"), DENY_TEXT, "deny:redis:client",
          "authenticated client in a Redis-denied network" },
        { RCPT("198.51.100.7", "vip", "vip@example.net"), "DUNNO", "allow:redis:account",
          "Redis-allowed account beats a Redis-denied client" },
        { RCPT("192.0.2.9", "vip", "vip@example.net"), "DUNNO", "allow:redis:account",
          "Redis-allowed account beats a STATIC denied client" },
        { RCPT("192.0.2.9", "bob", "bob@example.net"), DENY_TEXT, "deny:client",
          "static denied client, account not allowed" },
        { RCPT("203.0.113.5", "", "ok@spam.example"), "DUNNO", "allow:redis:sender",
          "unauthenticated, Redis-allowed sender (its domain is denied)" },
        { RCPT("203.0.113.5", "bob", "ok@spam.example"), DENY_TEXT, "deny:redis:domain",
          "authenticated: the allowed sender does not apply; its domain is denied" },
        { RCPT("203.0.113.5", "", "x@SPAM.example"), DENY_TEXT, "deny:redis:domain",
          "Redis-denied sender domain, other case" },
        { RCPT("203.0.113.5", "bob", "Bad@Example.org"), DENY_TEXT, "deny:redis:sender",
          "Redis-denied sender, other case" },
        { RCPT("203.0.113.5", "Mallory", "m@example.net"), DENY_TEXT, "deny:redis:account",
          "Redis-denied account, other case" },
        { RCPT("2001:db8::5", "", "ann@example.net"), "DUNNO", "allow:redis:client",
          "Redis-allowed IPv6 network" },
        { RCPT("203.0.113.5", "bob", "bob@example.net"), "DUNNO", "default",
          "nothing listed" },
    };
    char qid[32], what[256];

    start_up(r, d, "\"lists\": {\"deny\": {\"clients\": [\"192.0.2.0/24\"]}},", &off);

    /* canonical client forms of doc/keys.md */
    fcall_list(r, true, "deny", "client", "00000000000000000000ffffc6336400/120",
               "198.51.100.0/24");
    fcall_list(r, true, "allow", "client", "20010db8000000000000000000000000/32",
               "2001:db8::/32");
    fcall_list(r, true, "allow", "account", "vip", "vip");
    fcall_list(r, true, "deny", "account", "mallory", "mallory");
    fcall_list(r, true, "allow", "sender", "ok@spam.example", "ok@spam.example");
    fcall_list(r, true, "deny", "domain", "spam.example", "spam.example");
    fcall_list(r, true, "deny", "sender", "bad@example.org", "bad@example.org");

    char lens[256];
    cli_ok(tredis_cli(r, lens, sizeof lens, "HGET", "outpost:{lists}:deny:clientlens", "120",
                      (char *)NULL), lens, "HGET deny:clientlens 120");
    ck_assert_msg(strcmp(lens, "1") == 0, "deny:clientlens 120: got \"%s\", want 1",
                  tvis(lens));

    int fd = txconnect(d);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(qid, sizeof qid, "Q2-%zu", i);
        snprintf(what, sizeof what, "case %zu (%s)", i, cases[i].why);
        expect_decision(d, fd, &off, qid, cases[i].attrs, cases[i].want, cases[i].rule, what);
    }
    /* removing the network entry lifts it at once */
    fcall_list(r, false, "deny", "client", "00000000000000000000ffffc6336400/120", NULL);
    expect_decision(d, fd, &off, "Q2-rm", RCPT("198.51.100.7", "", "ann@example.net"),
                    "DUNNO", "default", "client after outpost_list_remove");
    cli_ok(tredis_cli(r, lens, sizeof lens, "HEXISTS", "outpost:{lists}:deny:clientlens",
                      "120", (char *)NULL), lens, "HEXISTS deny:clientlens 120");
    ck_assert_msg(strcmp(lens, "0") == 0, "deny:clientlens 120 after the last remove: "
                  "HEXISTS got \"%s\", want 0", tvis(lens));
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 3. exactly one Redis command per evaluated request */

/* INFO commandstats also counts the commands a Function runs (decide.lua's
 * EXISTS, HMGET, TIME, ...), so which client sent what is checked with
 * MONITOR, where those appear as "[0 lua]". */
static pid_t monitor_pid;               /* the test process's redis-cli MONITOR */

static void monitor_stop(void)
{
    if (monitor_pid > 0) {
        kill(monitor_pid, SIGTERM);
        waitpid(monitor_pid, NULL, 0);
        monitor_pid = 0;
    }
}

/* Starts redis-cli MONITOR on r with stdout into path; returns once it
 * has answered OK (5 s). */
static void monitor_start(const struct tredis *r, const char *path)
{
    unlink(path);               /* "OK" below must be this MONITOR's */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nul = open("/dev/null", O_RDWR);
        if (fd < 0 || nul < 0)
            _exit(127);
        dup2(nul, 0);
        dup2(fd, 1);
        dup2(nul, 2);
        execlp("redis-cli", "redis-cli", "-s", r->sock, "MONITOR", (char *)NULL);
        _exit(127);
    }
    monitor_pid = pid;
    long until = tms_mono() + 5000;
    while (!tfile_contains(path, "OK")) {
        ck_assert_msg(tms_mono() < until, "redis-cli MONITOR did not answer OK within 5 s");
        tsleep_ms(10);
    }
}

/* Counts the client commands (not "[0 lua]") in MONITOR output: *decide
 * gets the FCALLs of the decision Function; returns the number of the
 * others but INFO, CONFIG and EXISTS (the health check) and the verdict
 * stream reads, listed in which. */
static long monitor_count(const char *path, long *decide, char *which, size_t cap)
{
    char *text = tfile_read(path);
    long other = 0;
    char fcall[96];
    snprintf(fcall, sizeof fcall, "FCALL\" \"%s_batch\"", tdecide_fn());
    *decide = 0;
    which[0] = '\0';
    for (char *line = text; line != NULL && *line != '\0';) {
        char *eol = strchr(line, '\n');
        if (eol != NULL)
            *eol = '\0';
        const char *b = strchr(line, '[');
        const char *e = b ? strstr(b, "] \"") : NULL;
        if (e != NULL && strncmp(b, "[0 lua]", 7) != 0) {
            const char *cmd = e + 3;
            size_t n = strcspn(cmd, "\"");
            if (strncasecmp(cmd, fcall, strlen(fcall)) == 0) {
                (*decide)++;
            } else if (!(n == 4 && strncasecmp(cmd, "info", 4) == 0)
                       && !(n == 6 && strncasecmp(cmd, "config", 6) == 0)
                       && !(n == 6 && strncasecmp(cmd, "exists", 6) == 0)
                       /* the verdict consumer's own link (t/integ/check_verdict):
                        * it never carries a decision */
                       && !(n == 6 && strncasecmp(cmd, "xgroup", 6) == 0)
                       && !(n == 10 && strncasecmp(cmd, "xautoclaim", 10) == 0)
                       && !(n == 10 && strncasecmp(cmd, "xreadgroup", 10) == 0)
                       && !(n == 5 && strncasecmp(cmd, "fcall", 5) == 0
                            && strncmp(cmd + 8, "outpost_verdict_prune\"", 22) == 0)) {
                other++;
                size_t l = strlen(which);
                if (l + 100 < cap)
                    snprintf(which + l, cap - l, "%s%.80s", l ? " | " : "", cmd);
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    free(text);
    return other;
}

/* Waits (2 s at most) until MONITOR has shown want decision FCALLs, then
 * stops it and checks: exactly want of them, no other client command. */
static void monitor_expect(const char *path, long want, const char *what)
{
    char which[2048];
    long decide = 0, other = 0;
    long until = tms_mono() + 2000;
    do {
        other = monitor_count(path, &decide, which, sizeof which);
        if (decide >= want)
            break;
        tsleep_ms(20);
    } while (tms_mono() < until);
    tsleep_ms(50);              /* a stray extra command would show now */
    monitor_stop();
    other = monitor_count(path, &decide, which, sizeof which);
    ck_assert_msg(decide == want, "%s: MONITOR saw %ld FCALL %s_batch from clients, want %ld",
                  what, decide, tdecide_fn(), want);
    ck_assert_msg(other == 0, "%s: MONITOR saw %ld other client commands, want 0: %s",
                  what, other, which);
}


START_TEST(test_one_command_per_request)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    /* commandstats: what decide.lua runs inside counts too (MONITOR below
     * tells client commands from the Function's) */
    static const char *const skip[] = { "fcall", "info", "config", "exists", "hexists",
                                        "hkeys", "hmget", "time", "monitor", "hgetall",
                                        "get", "set", "hset", "hincrby", "hdel", "del",
                                        "pexpire",
                                        /* the verdict consumer's own link */
                                        "xgroup", "xautoclaim", "xreadgroup",
                                        /* and what its outpost_verdict_prune runs
                                         * (MONITOR shows any other FCALL) */
                                        "xinfo", NULL };
    char info[8192], others[2048], got[256], req[512], mon[160];
    long off = 0;

    start_up(r, d, "", &off);
    int fd = txconnect(d);
    snprintf(mon, sizeof mon, "%s/monitor.out", r->dir);
    /* the first call of a configuration carries its text once more (the
     * Function answers OUTPOSTCFG): test_config_text; not counted here */
    tquery(fd, "protocol_state=RCPT\nclient_address=203.0.113.1\nsasl_username=w\n"
           "sender=w@example.net\nrecipient=r@example.com\nqueue_id=Q3W\n", got, sizeof got);
    ck_assert_msg(strcmp(got, "DUNNO") == 0, "warm-up: got \"%s\"", tvis(got));

    reset_stats(r);
    monitor_start(r, mon);
    for (int i = 0; i < 200; i++) {
        char acct[32] = "";
        if (i % 2)              /* half authenticated, half not */
            snprintf(acct, sizeof acct, "user%d", i);
        snprintf(req, sizeof req,
                 "protocol_state=RCPT\nclient_address=203.0.113.%d\nsasl_username=%s\n"
                 "sender=u%d@example.net\nrecipient=r%d@example.com\nqueue_id=Q3-%d\n",
                 i % 250, acct, i, i, i);
        tquery(fd, req, got, sizeof got);
        ck_assert_msg(strcmp(got, "DUNNO") == 0, "RCPT request %d: got \"%s\", want DUNNO"
                      "\nlog tail:\n%s", i, tvis(got), tlog_tail(d));
    }
    monitor_expect(mon, 200, "200 RCPT requests");
    info_commandstats(r, info, sizeof info);
    /* FCALL: the 200 decisions, and any prune of the verdict consumer
     * (MONITOR counted the decisions exactly) */
    long fcalls = cmd_calls(info, "fcall");
    long other = other_calls(info, skip, others, sizeof others);
    ck_assert_msg(fcalls >= 200 && fcalls <= 202, "200 RCPT requests: got %ld FCALL calls, "
                  "want 200\n%s", fcalls, tvis(info));
    ck_assert_msg(other == 0, "200 RCPT requests: want no other Redis command; got %ld: %s",
                  other, others);

    /* END-OF-MESSAGE: one each; DATA and VRFY: none */
    reset_stats(r);
    monitor_start(r, mon);
    for (int i = 0; i < 20; i++) {
        snprintf(req, sizeof req,
                 "protocol_state=END-OF-MESSAGE\nclient_address=203.0.113.9\n"
                 "sasl_username=eom%d\nsender=e%d@example.net\nrecipient=\n"
                 "recipient_count=2\nsize=%d\nqueue_id=Q3E-%d\n", i, i, 1000 + i, i);
        tquery(fd, req, got, sizeof got);
        ck_assert_msg(strcmp(got, "DUNNO") == 0, "END-OF-MESSAGE %d: got \"%s\"", i, tvis(got));
        snprintf(req, sizeof req,
                 "protocol_state=DATA\nclient_address=203.0.113.9\nsasl_username=eom%d\n"
                 "sender=e%d@example.net\nrecipient_count=2\nqueue_id=Q3D-%d\n", i, i, i);
        tquery(fd, req, got, sizeof got);
        ck_assert_msg(strcmp(got, "DUNNO") == 0, "DATA %d: got \"%s\"", i, tvis(got));
        snprintf(req, sizeof req,
                 "protocol_state=VRFY\nclient_address=203.0.113.9\nrecipient=v%d@example.com\n",
                 i);
        tquery(fd, req, got, sizeof got);
        ck_assert_msg(strcmp(got, "DUNNO") == 0, "VRFY %d: got \"%s\"", i, tvis(got));
    }
    monitor_expect(mon, 20, "END-OF-MESSAGE/DATA/VRFY requests");
    info_commandstats(r, info, sizeof info);
    fcalls = cmd_calls(info, "fcall");
    other = other_calls(info, skip, others, sizeof others);
    ck_assert_msg(fcalls >= 20 && fcalls <= 22, "20 END-OF-MESSAGE + 20 DATA + 20 VRFY "
                  "requests: got %ld FCALL calls, want 20\n%s", fcalls, tvis(info));
    ck_assert_msg(other == 0, "END-OF-MESSAGE/DATA/VRFY: want no other Redis command; got "
                  "%ld: %s", other, others);
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 4. a stopped (SIGSTOP) Redis */

static void stopped_redis(bool defer)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    const char *fail_text = defer ? DEFER_TEXT : "DUNNO";
    char got[512], rule[128], qid[32];
    long off = 0;
    int fds[3];

    start_up(r, d, defer ? "\"failure_action\": \"DEFER\", \"suspension_cache\": "
             "{\"ttl\": \"30s\"},"
             : "\"suspension_cache\": {\"ttl\": \"30s\"},", &off);
    fcall_suspend(r, "mallory", "0");
    for (int i = 0; i < 3; i++) {
        fds[i] = txconnect(d);
        snprintf(qid, sizeof qid, "Q4a-%d", i);
        expect_decision(d, fds[i], &off, qid, RCPT("203.0.113.5", "bob", "bob@example.net"),
                        "DUNNO", "default", "bob before Redis is stopped");
    }
    expect_decision(d, fds[0], &off, "Q4m", RCPT("203.0.113.5", "mallory", "m@example.net"),
                    SUSP_TEXT, "suspended", "mallory, suspended, before Redis is stopped");

    ck_assert_int_eq(kill(r->pid, SIGSTOP), 0);
    /* a client that half-closes right after its request (printf ... | nc
     * does) still gets the reply, at the deadline, then the end: the
     * request is pending when the end of file comes, as the link to the
     * stopped Redis is not dropped yet */
    int hc = txconnect(d);
    char req[512], rep[512], want[128];
    int rn = snprintf(req, sizeof req, "request=smtpd_access_policy\nqueue_id=Q4h\n%s\n",
                      RCPT("203.0.113.5", "bob", "bob@example.net"));
    ck_assert(twrite_all(hc, req, (size_t)rn));
    ck_assert_int_eq(shutdown(hc, SHUT_WR), 0);
    snprintf(want, sizeof want, "action=%s\n\n", fail_text);
    ssize_t hn = tread_reply(hc, rep, sizeof rep, 5000);
    ck_assert_msg(hn > 0 && strcmp(rep, want) == 0, "a request, then the client half-closes "
                  "with Redis stopped: got \"%s\", want \"%s\"\nlog tail:\n%s",
                  hn > 0 ? tvis(rep) : "(nothing)", tvis(want), tlog_tail(d));
    ck_assert_msg(tpeer_closed(hc, 5000), "after the reply to a half-closed client: want "
                  "the connection closed");
    close(hc);
    if (defer) {
        /* a second request written while the first is pending (outpostd
         * reads on): kept, answered after the first, in order; DATA is
         * answered without Redis, so the order shows in the texts */
        int pc = txconnect(d);
        rn = snprintf(req, sizeof req, "request=smtpd_access_policy\nqueue_id=Q4p\n%s\n",
                      RCPT("203.0.113.5", "bob", "bob@example.net"));
        ck_assert(twrite_all(pc, req, (size_t)rn));
        tsleep_ms(50);
        static const char data[] = "request=smtpd_access_policy\nprotocol_state=DATA\n\n";
        ck_assert(twrite_all(pc, data, sizeof data - 1));
        char two[1024];
        size_t tl = 0;
        long until = tms_mono() + 5000;
        while (tms_mono() < until && tl + 1 < sizeof two) {
            ssize_t k = tread_reply(pc, two + tl, sizeof two - tl, 1000);
            if (k > 0)
                tl += (size_t)k;
            if (tl > 0 && strstr(two, "\n\naction=") != NULL && strstr(two + tl - 2, "\n\n"))
                break;
        }
        ck_assert_msg(strcmp(two, "action=" DEFER_TEXT "\n\naction=DUNNO\n\n") == 0,
                      "a request pending at the stopped Redis, then DATA on the same "
                      "connection: got \"%s\", want the failure action, then DUNNO",
                      tvis(two));
        close(pc);
    }
    for (int i = 0; i < 20; i++) {
        snprintf(qid, sizeof qid, "Q4s-%d", i);
        long t0 = tms_mono();
        ask(d, fds[i % 3], &off, qid, RCPT("203.0.113.5", "bob", "bob@example.net"), got,
            sizeof got, rule, sizeof rule);
        long took = tms_mono() - t0;
        ck_assert_msg(strcmp(got, fail_text) == 0 && strcmp(rule, "failure") == 0,
                      "request %d on connection %d with Redis stopped: got \"%s\" rule=%s, "
                      "want \"%s\" rule=failure\nlog tail:\n%s", i, i % 3 + 1, tvis(got), rule,
                      fail_text, tlog_tail(d));
        ck_assert_msg(took < 2000, "request %d with Redis stopped: answered after %ld ms, "
                      "want < 2000 (redis.timeout_ms is 200)", i, took);
        tsleep_ms(75);  /* ~1.5 s stopped: reconnects time out in the handshake too */
    }
    /* the connections are still open */
    for (int i = 0; i < 3; i++) {
        snprintf(qid, sizeof qid, "Q4o-%d", i);
        expect_decision(d, fds[i], &off, qid, RCPT("203.0.113.6", "bob", "bob@example.net"),
                        fail_text, "failure", "another request on a connection kept open");
    }
    /* the last known suspension still holds */
    expect_decision(d, fds[1], &off, "Q4mc", RCPT("203.0.113.5", "mallory", "m@example.net"),
                    SUSP_TEXT, "suspended:cache", "mallory while Redis is stopped");
    texpect_log(d, &(long){ 0 }, "redis: connection lost", 3000,
             "a stopped Redis: the link is dropped after 2 x timeout_ms");

    ck_assert_int_eq(kill(r->pid, SIGCONT), 0);
    poll_decision(d, fds[2], &off, "Q4c", RCPT("203.0.113.5", "bob", "bob@example.net"),
                  "DUNNO", "default", 5000, "after SIGCONT");
    expect_decision(d, fds[0], &off, "Q4mr", RCPT("203.0.113.5", "mallory", "m@example.net"),
                    SUSP_TEXT, "suspended", "mallory after SIGCONT");
    expect_decision(d, fds[1], &off, "Q4b", RCPT("203.0.113.5", "bob", "bob@example.net"),
                    "DUNNO", "default", "bob on connection 2 after SIGCONT");
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    texpect_clean_stop(d);
}

START_TEST(test_redis_stopped_dunno)
{
    stopped_redis(false);
}
END_TEST

START_TEST(test_redis_stopped_defer)
{
    stopped_redis(true);
}
END_TEST

/* ---- 5. Redis killed and started again on the same socket */

START_TEST(test_redis_restart)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char got[512], rule[128], s[64];
    long off = 0;

    start_up(r, d, "", &off);
    int fd = txconnect(d);
    expect_decision(d, fd, &off, "Q5a", RCPT("203.0.113.5", "bob", "bob@example.net"),
                    "DUNNO", "default", "before Redis is killed");

    int st = tredis_kill(r, SIGTERM);
    tfix_track_redis(r);
    ck_assert_msg(st != -1 && WIFEXITED(st), "redis-server after SIGTERM: %s",
                  tstatus_str(st, s, sizeof s));
    long lost = off;
    texpect_log(d, &lost, "redis: connection lost", 5000, "Redis killed");
    for (int i = 0; i < 3; i++) {
        char qid[32];
        snprintf(qid, sizeof qid, "Q5d-%d", i);
        long t0 = tms_mono();
        ask(d, fd, &off, qid, RCPT("203.0.113.5", "bob", "bob@example.net"), got, sizeof got,
            rule, sizeof rule);
        long took = tms_mono() - t0;
        ck_assert_msg(strcmp(got, "DUNNO") == 0 && strcmp(rule, "failure") == 0,
                      "request with Redis down: got \"%s\" rule=%s, want DUNNO rule=failure"
                      "\nlog tail:\n%s", tvis(got), rule, tlog_tail(d));
        ck_assert_msg(took < 1000, "request with Redis down: answered after %ld ms, want "
                      "< 1000 (no connection: the failure action applies at once)", took);
    }

    tredis_restart(r);
    tfix_track_redis(r);
    poll_decision(d, fd, &off, "Q5r", RCPT("203.0.113.5", "bob", "bob@example.net"),
                  "DUNNO", "default", 5000, "Redis started again on the same socket");
    /* the Functions were loaded again: an FCALL works on the new Redis */
    fcall_suspend(r, "bob", "0");
    expect_decision(d, fd, &off, "Q5s", RCPT("203.0.113.5", "bob", "bob@example.net"),
                    SUSP_TEXT, "suspended", "suspended on the new Redis");
    int nlost = tfile_count(d->log, "redis: connection lost");
    int nconn = tfile_count(d->log, "redis: connected to");
    ck_assert_msg(nlost == 1, "log: \"connection lost\" %d times, want 1\n%s", nlost,
                  tlog_tail(d));
    ck_assert_msg(nconn == 2, "log: \"redis: connected to\" %d times, want 2\n%s", nconn,
                  tlog_tail(d));
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 6. the decision Function deleted (FUNCTION DELETE, as after FUNCTION
 * FLUSH or a restore without it): "Function not found", FUNCTION LOAD,
 * the call again */

START_TEST(test_function_flush)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char info[8192], out[64];
    long off = 0;

    start_up(r, d, "", &off);
    int fd = txconnect(d);
    fcall_suspend(r, "mallory", "0");
    expect_decision(d, fd, &off, "Q6a", RCPT("203.0.113.5", "mallory", "m@example.net"),
                    SUSP_TEXT, "suspended", "mallory before FUNCTION DELETE");

    reset_stats(r);
    cli_ok(tredis_cli(r, out, sizeof out, "FUNCTION", "DELETE", tdecide_fn(), (char *)NULL),
           out, "FUNCTION DELETE");
    expect_decision(d, fd, &off, "Q6b", RCPT("203.0.113.5", "mallory", "m@example.net"),
                    SUSP_TEXT, "suspended", "mallory just after FUNCTION DELETE");
    info_commandstats(r, info, sizeof info);
    long load = cmd_calls(info, "function|load");
    ck_assert_msg(load == 1, "after FUNCTION DELETE and one request: got %ld FUNCTION LOAD, "
                  "want 1\n%s", load, tvis(info));
    /* loaded again: the next ones are plain FCALLs */
    expect_decision(d, fd, &off, "Q6c", RCPT("203.0.113.5", "bob", "bob@example.net"),
                    "DUNNO", "default", "bob after the FUNCTION LOAD");
    expect_decision(d, fd, &off, "Q6d", RCPT("203.0.113.5", "mallory", "m@example.net"),
                    SUSP_TEXT, "suspended", "mallory after the FUNCTION LOAD");
    info_commandstats(r, info, sizeof info);
    long load2 = cmd_calls(info, "function|load"), fcalls = cmd_calls(info, "fcall");
    /* the first request: not found; loaded, sent again: OUTPOSTCFG (the
     * new library keeps no configuration); sent with the text */
    ck_assert_msg(load2 == 1 && fcalls >= 5 && fcalls <= 6, "after 3 requests: got FUNCTION "
                  "LOAD %ld, FCALL %ld; want 1 and 5 (one not found, one OUTPOSTCFG)\n%s",
                  load2, fcalls, tvis(info));
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 7. AUTH with an ACL user and a password file */

/* Stops d (exit status 0 wanted) and clears it for the next start. */
static void daemon_done(struct tdaemon *d)
{
    texpect_clean_stop(d);
    tdaemon_cleanup(d);
    memset(d, 0, sizeof *d);
    tfix_track_daemon(d);
}

/* A daemon with user ops and the password in badpath (wrong): requests
 * get the failure action, the link never counts as connected, and "AUTH
 * failed" is logged once, not at every retry (~2.5 s of retries: 100 ms
 * doubling). */
static void wrong_password(struct tdaemon *d, const char *addr, const char *badpath,
                           const char *setting)
{
    char extra[2048], more[512], got[512], rule[128], qid[32];
    long off = 0;

    snprintf(more, sizeof more, "\"username\": \"ops\", \"password_file\": \"%s\"", badpath);
    redis_extra(extra, sizeof extra, addr, more, "");
    tfix_start_daemon(d, NULL, extra);
    texpect_log(d, &off, "AUTH failed", 5000, "a wrong password");
    int fd = txconnect(d);
    off = 0;
    long until = tms_mono() + 2500;
    for (int i = 0; tms_mono() < until; i++) {
        snprintf(qid, sizeof qid, "Q7w-%d", i);
        ask(d, fd, &off, qid, RCPT("203.0.113.5", "bob", "bob@example.net"), got,
            sizeof got, rule, sizeof rule);
        ck_assert_msg(strcmp(got, "DUNNO") == 0 && strcmp(rule, "failure") == 0,
                      "%s, request %d with a wrong Redis password: got \"%s\" rule=%s, want "
                      "DUNNO rule=failure\nlog tail:\n%s", setting, i, tvis(got), rule,
                      tlog_tail(d));
        tsleep_ms(100);
    }
    int nconn = tfile_count(d->log, "redis: connected to");
    ck_assert_msg(nconn == 0, "%s, wrong password for ops: \"connected\" logged %d times, "
                  "want 0\nlog tail:\n%s", setting, nconn, tlog_tail(d));
    int nauth = tfile_count(d->log, "AUTH failed");
    ck_assert_msg(nauth >= 1 && nauth <= 2, "%s, wrong password for ops, ~2.5 s of retries: "
                  "\"AUTH failed\" logged %d times, want 1 (at most 2)\nlog tail:\n%s",
                  setting, nauth, tlog_tail(d));
    close(fd);
    texpect_clean_stop(d);
}

START_TEST(test_auth)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[2048], addr[160], more[512], path[160], badpath[160], defpath[160];
    char out[256];
    long off = 0;

    tfix_start_redis(r, NULL);
    cli_ok(tredis_cli(r, out, sizeof out, "ACL", "SETUSER", "ops", "on", ">pw", "~*", "&*",
                      "+@all", (char *)NULL), out, "ACL SETUSER ops");
    cli_ok(tredis_cli(r, out, sizeof out, "CONFIG", "SET", "requirepass", "defpw",
                      (char *)NULL), out, "CONFIG SET requirepass");
    /* in r's directory (0755): readable by nobody, as tfile_write() makes 0644 */
    snprintf(path, sizeof path, "%s/ops.pw", r->dir);
    snprintf(badpath, sizeof badpath, "%s/wrong.pw", r->dir);
    snprintf(defpath, sizeof defpath, "%s/default.pw", r->dir);
    tfile_write(path, "pw\n");
    tfile_write(badpath, "not-the-password\n");
    tfile_write(defpath, "defpw\n");
    snprintf(addr, sizeof addr, "unix:%s", r->sock);

    /* the right password for the ACL user ops */
    snprintf(more, sizeof more, "\"username\": \"ops\", \"password_file\": \"%s\"", path);
    redis_extra(extra, sizeof extra, addr, more, "");
    tfix_start_daemon(d, NULL, extra);
    wait_connected(d, &off);
    int fd = txconnect(d);
    expect_decision(d, fd, &off, "Q7a", RCPT("203.0.113.5", "bob", "bob@example.net"),
                    "DUNNO", "default", "AUTH ops with the right password");
    close(fd);
    daemon_done(d);

    /* the default user's password (AUTH with one argument) */
    snprintf(more, sizeof more, "\"password_file\": \"%s\"", defpath);
    redis_extra(extra, sizeof extra, addr, more, "");
    tfix_start_daemon(d, NULL, extra);
    off = 0;
    wait_connected(d, &off);
    fd = txconnect(d);
    expect_decision(d, fd, &off, "Q7b", RCPT("203.0.113.5", "bob", "bob@example.net"),
                    "DUNNO", "default", "AUTH (default user) with the right password");
    close(fd);
    daemon_done(d);

    wrong_password(d, addr, badpath, "requirepass set");
}
END_TEST

/* The default user needs no password: a failed AUTH as ops leaves the
 * connection working as "default", so the rest of the handshake succeeds;
 * the link must still not come up (nor flap up and down). */
START_TEST(test_auth_default_nopass)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char addr[160], badpath[160], out[256];

    tfix_start_redis(r, NULL);
    cli_ok(tredis_cli(r, out, sizeof out, "ACL", "SETUSER", "ops", "on", ">pw", "~*", "&*",
                      "+@all", (char *)NULL), out, "ACL SETUSER ops");
    snprintf(badpath, sizeof badpath, "%s/wrong.pw", r->dir);
    tfile_write(badpath, "not-the-password\n");
    snprintf(addr, sizeof addr, "unix:%s", r->sock);
    wrong_password(d, addr, badpath, "no requirepass");
}
END_TEST

/* ---- 8. the state marker */

START_TEST(test_marker)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char out[256];
    long off = 0;

    start_up(r, d, "", &off);
    long a = 0;
    texpect_log(d, &a, "ALARM", 3000, "no marker at connect");

    /* what an operator does: outpostctl init (plain SET without it) */
    const char *ctl = getenv("OUTPOSTCTL");
    if (ctl != NULL) {
        char err[512], st[64];
        char *argv[] = { (char *)ctl, "-c", d->cfg, "init", NULL };
        int rc = trun(argv, out, sizeof out, err, sizeof err, 10000);
        ck_assert_msg(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0,
                      "outpostctl init: got %s, want exit 0; stdout \"%s\", stderr \"%s\"",
                      tstatus_str(rc, st, sizeof st), tvis(out), tvis(err));
    } else {
        cli_ok(tredis_cli(r, out, sizeof out, "SET", "outpost:{meta}:marker", "x",
                          (char *)NULL), out, "SET marker");
    }
    texpect_log(d, &a, "alarm cleared", 7000, "marker written by outpostctl init");
    int nalarm = tfile_count(d->log, "ALARM");
    ck_assert_msg(nalarm == 1, "ALARM logged %d times before FLUSHALL, want 1\n%s", nalarm,
                  tlog_tail(d));

    cli_ok(tredis_cli(r, out, sizeof out, "FLUSHALL", (char *)NULL), out, "FLUSHALL");
    texpect_log(d, &a, "ALARM", 7000, "marker gone after FLUSHALL");
    /* decisions go on meanwhile */
    int fd = txconnect(d);
    expect_decision(d, fd, &off, "Q8a", RCPT("203.0.113.5", "bob", "bob@example.net"),
                    "DUNNO", "default", "a request with the alarm raised");
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 9. many reconnects, no leak */

START_TEST(test_reconnect_cycles)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char out[64], qid[32];
    long off = 0;
    int kills = 0, requests = 0;
    long t0 = tms_mono();

    start_up(r, d, "", &off);
    int fd = txconnect(d);
    for (int i = 0; i < 100; i++) {
        /* the daemon's link is up: a normal decision came back */
        snprintf(qid, sizeof qid, "Q9-%d", i);
        requests += poll_decision(d, fd, &off, qid,
                                  RCPT("203.0.113.5", "bob", "bob@example.net"), "DUNNO",
                                  "default", 3000, "reconnect cycle");
        int rc = tredis_cli(r, out, sizeof out, "CLIENT", "KILL", "TYPE", "normal",
                            (char *)NULL);
        cli_ok(rc, out, "CLIENT KILL TYPE normal");
        /* the decision link (up: a decision just came back), and the verdict
         * stream's link unless it is between a kill and its reconnect */
        ck_assert_msg(strcmp(out, "1") == 0 || strcmp(out, "2") == 0, "cycle %d: CLIENT "
                      "KILL TYPE normal killed \"%s\" clients, want the daemon's 1 or 2",
                      i, tvis(out));
        kills++;
        snprintf(qid, sizeof qid, "Q9k-%d", i);
        char got[256], rule[64];
        ask(d, fd, &off, qid, RCPT("203.0.113.5", "bob", "bob@example.net"), got, sizeof got,
            rule, sizeof rule);
        requests++;
        ck_assert_msg(strcmp(got, "DUNNO") == 0
                      && (strcmp(rule, "default") == 0 || strcmp(rule, "failure") == 0),
                      "cycle %d: request just after CLIENT KILL: got \"%s\" rule=%s, want "
                      "DUNNO (rule default or failure)\nlog tail:\n%s", i, tvis(got), rule,
                      tlog_tail(d));
        ck_assert_msg(tms_mono() - t0 < 50000, "100 reconnect cycles: only %d done after "
                      "50 s", i);
    }
    snprintf(qid, sizeof qid, "Q9-end");
    poll_decision(d, fd, &off, qid, RCPT("203.0.113.5", "bob", "bob@example.net"), "DUNNO",
                  "default", 3000, "after the last kill");
    close(fd);
    int nconn = tfile_count(d->log, "redis: connected to");
    int nlost = tfile_count(d->log, "redis: connection lost");
    ck_assert_msg(nconn >= 101, "after %d kills: \"connected\" logged %d times, want >= 101"
                  "\n%s", kills, nconn, tlog_tail(d));
    ck_assert_msg(nlost >= 100, "after %d kills: \"connection lost\" logged %d times, want "
                  ">= 100\n%s", kills, nlost, tlog_tail(d));
    texpect_clean_stop(d);
    (void)requests;
}
END_TEST

/* ---- 10. Redis over TCP: IPv4, a host name, IPv6 */

/* A loopback port free on 127.0.0.1 and ::1 (bound, then closed). */
static int free_port(void)
{
    for (int tries = 0; tries < 50; tries++) {
        struct sockaddr_in a;
        socklen_t len = sizeof a;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge(fd, 0);
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        int port = ntohs(a.sin_port);
        close(fd);

        struct sockaddr_in6 b;
        memset(&b, 0, sizeof b);
        b.sin6_family = AF_INET6;
        b.sin6_addr = in6addr_loopback;
        b.sin6_port = htons((uint16_t)port);
        fd = socket(AF_INET6, SOCK_STREAM, 0);
        ck_assert_int_ge(fd, 0);
        int ok = bind(fd, (struct sockaddr *)&b, sizeof b) == 0;
        close(fd);
        if (ok)
            return port;
    }
    ck_abort_msg("no loopback port free on both 127.0.0.1 and ::1");
    return -1;
}

START_TEST(test_tcp)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024], port[16], addr[3][64], what[256];

    snprintf(port, sizeof port, "%d", free_port());
    const char *args[] = { "--port", port, "--bind", "127.0.0.1", "::1", NULL };
    tfix_start_redis(r, args);
    snprintf(addr[0], sizeof addr[0], "127.0.0.1:%s", port);
    snprintf(addr[1], sizeof addr[1], "localhost:%s", port);
    snprintf(addr[2], sizeof addr[2], "[::1]:%s", port);
    for (int i = 0; i < 3; i++) {
        long off = 0;
        char needle[256], qid[32];
        redis_extra(extra, sizeof extra, addr[i], "", "");
        tfix_start_daemon(d, NULL, extra);
        snprintf(needle, sizeof needle, "redis: connected to %s", addr[i]);
        snprintf(what, sizeof what, "redis.address %s", addr[i]);
        texpect_log(d, &off, needle, 5000, what);
        int fd = txconnect(d);
        snprintf(qid, sizeof qid, "Q10-%d", i);
        expect_decision(d, fd, &off, qid, RCPT("203.0.113.5", "bob", "bob@example.net"),
                        "DUNNO", "default", what);
        close(fd);
        daemon_done(d);
    }
}
END_TEST

/* ---- 11. SIGHUP switches to another Redis */

START_TEST(test_sighup_switch)
{
    struct tredis *r1 = &redises[0], *r2 = &redises[1];
    struct tdaemon *d = &daemons[0];
    char extra[1024];
    long off = 0;

    tfix_start_redis(r1, NULL);
    tfix_start_redis(r2, NULL);
    load_functions(r2);
    fcall_suspend(r2, "mallory", "0");

    redis_extra_unix(extra, sizeof extra, r1, "");
    tfix_start_daemon(d, NULL, extra);
    wait_connected(d, &off);
    int fd = txconnect(d);
    expect_decision(d, fd, &off, "Q11a", RCPT("203.0.113.5", "mallory", "m@example.net"),
                    "DUNNO", "default", "mallory on the first Redis");

    redis_extra_unix(extra, sizeof extra, r2, "");
    tdaemon_rewrite(d, extra);
    ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
    texpect_log(d, &off, "settings changed", 5000, "SIGHUP with another redis.address");
    char needle[200];
    snprintf(needle, sizeof needle, "redis: connected to unix:%s", r2->sock);
    long c = 0;
    texpect_log(d, &c, needle, 5000, "SIGHUP: connecting to the second Redis");
    poll_decision(d, fd, &off, "Q11b", RCPT("203.0.113.5", "mallory", "m@example.net"),
                  SUSP_TEXT, "suspended", 5000, "mallory, suspended on the second Redis");
    expect_decision(d, fd, &off, "Q11c", RCPT("203.0.113.5", "bob", "bob@example.net"),
                    "DUNNO", "default", "bob on the second Redis");
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 12. the configuration text travels only when the Function lacks it:
 * the first call after outpostd starts, after any FUNCTION LOAD of the
 * decision library (another MTA connecting), after a reload with another
 * configuration; each such call is answered OUTPOSTCFG and sent once more
 * with the text, and decides right. */

/* One RCPT of mallory (suspended): want the suspension's answer; then the
 * FCALLs (calls, failed) since the last reset_stats must be as given
 * (a prune of the verdict consumer may add one call). */
static void config_step(struct tdaemon *d, const struct tredis *r, int fd, long *off,
                        const char *qid, long calls, long failed, const char *what)
{
    char info[8192];
    expect_decision(d, fd, off, qid, RCPT("203.0.113.5", "mallory", "m@example.net"),
                    SUSP_TEXT, "suspended", what);
    info_commandstats(r, info, sizeof info);
    long c = cmd_calls(info, "fcall"), f = cmd_failed(info, "fcall");
    ck_assert_msg((c == calls || c == calls + 1) && f == failed, "%s: FCALL calls %ld, "
                  "failed %ld; want %ld and %ld\n%s", what, c, f, calls, failed, tvis(info));
}

START_TEST(test_config_text)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024];
    long off = 0;

    start_up(r, d, "", &off);
    int fd = txconnect(d);
    fcall_suspend(r, "mallory", "0");
    reset_stats(r);
    config_step(d, r, fd, &off, "Q12a", 2, 1, "the first request: asked for the text");
    reset_stats(r);
    config_step(d, r, fd, &off, "Q12b", 1, 0, "the second: one call");
    config_step(d, r, fd, &off, "Q12c", 2, 0, "the third: one call");

    load_library(r, "decide.lua");              /* as another MTA at its connect */
    reset_stats(r);
    config_step(d, r, fd, &off, "Q12d", 2, 1, "after FUNCTION LOAD: asked again");
    config_step(d, r, fd, &off, "Q12e", 3, 1, "and kept again");

    redis_extra_unix(extra, sizeof extra, r, "\"events\": {\"limit_window\": \"2s\"},");
    tdaemon_rewrite(d, extra);
    ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
    texpect_log(d, &off, "configuration reloaded", 5000, "SIGHUP with another events line");
    reset_stats(r);
    config_step(d, r, fd, &off, "Q12f", 2, 1, "another configuration: asked for it");
    config_step(d, r, fd, &off, "Q12g", 3, 1, "another configuration, kept");
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 13. Redis over maxmemory refuses the decision Function as a whole
 * (no allow-oom: a full Redis is not pushed further): every decision goes
 * the failure way, as with Redis down, logged once; back when it has room */

START_TEST(test_oom)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char out[256];
    long off = 0;

    start_up(r, d, "\"failure_action\": \"DEFER\", "
             "\"suspension_cache\": {\"ttl\": \"30s\"},", &off);
    int fd = txconnect(d);
    fcall_suspend(r, "mallory", "0");
    expect_decision(d, fd, &off, "Q13a", RCPT("203.0.113.5", "mallory", "m@example.net"),
                    SUSP_TEXT, "suspended", "mallory before the OOM");
    expect_decision(d, fd, &off, "Q13b", RCPT("203.0.113.5", "bob", "bob@example.net"),
                    "DUNNO", "default", "bob before the OOM");

    cli_ok(tredis_cli(r, out, sizeof out, "CONFIG", "SET", "maxmemory", "1", (char *)NULL), out,
           "CONFIG SET maxmemory 1");
    long log0 = off;
    for (int i = 0; i < 5; i++) {
        char qid[16];
        snprintf(qid, sizeof qid, "Q13c%d", i);
        expect_decision(d, fd, &off, qid, RCPT("203.0.113.5", "bob", "bob@example.net"),
                        DEFER_TEXT, "failure", "bob while Redis is over maxmemory");
    }
    expect_decision(d, fd, &off, "Q13d", RCPT("203.0.113.5", "mallory", "m@example.net"),
                    SUSP_TEXT, "suspended:cache", "mallory while Redis is over maxmemory");
    texpect_log(d, &log0, "script error: \"OOM command not allowed", 2000,
                "the OOM is logged");
    ck_assert_msg(!tdaemon_log_wait_from(d, &log0, "script error: \"OOM", 200),
                  "the OOM logged more than once for 6 requests:\n%s", tlog_tail(d));

    cli_ok(tredis_cli(r, out, sizeof out, "CONFIG", "SET", "maxmemory", "0", (char *)NULL), out,
           "CONFIG SET maxmemory 0");
    expect_decision(d, fd, &off, "Q13e", RCPT("203.0.113.5", "bob", "bob@example.net"),
                    "DUNNO", "default", "bob once Redis has room again");
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 14. redis.max_in_flight: with Redis stopped, 3 calls in flight fill
 * a limit of 3; the 4th request gets the failure action at once, logged
 * "too many calls in flight"; the 3 get theirs at their deadline */

START_TEST(test_max_in_flight)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024], got[512], rule[128], rep[1024];
    long off = 0;
    int fds[3];

    tfix_start_redis(r, NULL);
    /* timeout 1500 ms: the 3 stay in flight while the 4th is asked */
    snprintf(extra, sizeof extra, "\"redis\": {\"address\": \"unix:%s\", \"timeout_ms\": 1500,"
             " \"connect_timeout_ms\": 500, \"max_in_flight\": 3},\n  "
             "\"failure_action\": \"DEFER\",", r->sock);
    tfix_start_daemon(d, NULL, extra);
    wait_connected(d, &off);
    for (int i = 0; i < 3; i++)
        fds[i] = txconnect(d);
    int fd4 = txconnect(d);
    expect_decision(d, fd4, &off, "Q14a", RCPT("203.0.113.5", "bob", "bob@example.net"),
                    "DUNNO", "default", "bob before Redis is stopped");

    ck_assert_int_eq(kill(r->pid, SIGSTOP), 0);
    for (int i = 0; i < 3; i++) {
        char req[512];
        int n = snprintf(req, sizeof req, "request=smtpd_access_policy\nqueue_id=Q14b%d\n%s\n",
                         i, RCPT("203.0.113.5", "bob", "bob@example.net"));
        ck_assert(twrite_all(fds[i], req, (size_t)n));
    }
    tsleep_ms(200);                     /* the 3 are sent to the stopped Redis */
    long t0 = tms_mono();
    ask(d, fd4, &off, "Q14c", RCPT("203.0.113.5", "bob", "bob@example.net"), got, sizeof got,
        rule, sizeof rule);
    long took = tms_mono() - t0;
    ck_assert_msg(strcmp(got, DEFER_TEXT) == 0 && strcmp(rule, "failure") == 0,
                  "the 4th request: got \"%s\" rule=%s, want the failure action", tvis(got),
                  rule);
    ck_assert_msg(took < 1000, "the 4th request answered after %ld ms: want at once, not at "
                  "its deadline (1500 ms)", took);
    texpect_log(d, &(long){ 0 }, "redis unavailable (too many calls in flight)", 2000,
                "the refusal is logged");
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(tread_reply(fds[i], rep, sizeof rep, 5000) > 0, "request %d in flight: "
                      "no answer", i);
        ck_assert_msg(strncmp(rep, "action=" DEFER_TEXT "\n", 7 + strlen(DEFER_TEXT) + 1) == 0,
                      "request %d in flight: got \"%s\", want the failure action at its "
                      "deadline", i, tvis(rep));
    }
    ck_assert_int_eq(kill(r->pid, SIGCONT), 0);
    poll_decision(d, fd4, &off, "Q14d", RCPT("203.0.113.5", "bob", "bob@example.net"),
                  "DUNNO", "default", 5000, "after SIGCONT");
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    close(fd4);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 15. more calls than the socket to Redis holds: with Redis stopped,
 * outpostd's first write of a batch leaves a rest, which must wait for
 * POLLOUT and go out whole once Redis reads again (store_uv.c).  N
 * requests of about 1.3 KB each (long account and sender) are 3 x
 * net.core.wmem_default; all are answered by Redis after SIGCONT. */

START_TEST(test_socket_full)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024], req[2048], rep[512], acct[251], sender[251];
    long off = 0;
    long wmem = 212992;
    FILE *f = fopen("/proc/sys/net/core/wmem_default", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld", &wmem) != 1)
            wmem = 212992;
        fclose(f);
    }
    int n = (int)(3 * wmem / 1250) + 1;
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < (rlim_t)n + 64 && rl.rlim_max >= (rlim_t)n + 64) {
        rl.rlim_cur = (rlim_t)n + 64;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    ck_assert_msg(rl.rlim_cur >= (rlim_t)n + 64, "RLIMIT_NOFILE %llu: %d connections need "
                  "more", (unsigned long long)rl.rlim_cur, n);
    int *fds = calloc((size_t)n, sizeof *fds);
    ck_assert_ptr_nonnull(fds);

    tfix_start_redis(r, NULL);
    /* deadline 10 s: no call may fail while Redis is stopped */
    snprintf(extra, sizeof extra, "\"redis\": {\"address\": \"unix:%s\", \"timeout_ms\": 10000,"
             " \"connect_timeout_ms\": 500},\n  \"failure_action\": \"DEFER\",", r->sock);
    tfix_start_daemon(d, NULL, extra);
    wait_connected(d, &off);
    for (int i = 0; i < n; i++)
        fds[i] = txconnect(d);
    memset(acct, 'a', sizeof acct - 1);
    acct[sizeof acct - 1] = '\0';
    memset(sender, 's', sizeof sender - 1);
    sender[sizeof sender - 1] = '\0';
    memcpy(sender + sizeof sender - 13, "@example.net", 13);

    ck_assert_int_eq(kill(r->pid, SIGSTOP), 0);
    for (int i = 0; i < n; i++) {
        snprintf(acct, sizeof acct, "%05d", i);   /* a distinct account per request */
        acct[5] = 'a';
        int len = snprintf(req, sizeof req, "request=smtpd_access_policy\nqueue_id=Q15-%d\n"
                           "protocol_state=RCPT\nclient_address=203.0.113.5\n"
                           "sasl_username=%s\nsender=%s\nrecipient=r@example.com\n\n",
                           i, acct, sender);
        ck_assert(twrite_all(fds[i], req, (size_t)len));
    }
    tsleep_ms(500);                     /* all are in outpostd now, most unsent */
    ck_assert_int_eq(kill(r->pid, SIGCONT), 0);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        ssize_t got = tread_reply(fds[i], rep, sizeof rep, 9000);
        if (got > 0 && strcmp(rep, "action=DUNNO\n\n") == 0)
            ok++;
        else if (ok == i)               /* the first one that is not */
            fprintf(stderr, "check_store: socket_full: request %d got \"%s\"\n", i,
                    got > 0 ? tvis(rep) : "(nothing)");
    }
    ck_assert_msg(ok == n, "%d requests (%d bytes of Redis socket buffer): %d answered by "
                  "Redis, want all\nlog tail:\n%s", n, (int)wmem, ok, tlog_tail(d));
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    texpect_clean_stop(d);
}
END_TEST

/* ---- the suite */

int main(void)
{
    Suite *s = suite_create("store");

    tfix_init(daemons, NDAEMONS, redises, NREDIS);

    tfix_add(s, "suspend_reinstate", test_suspend_reinstate, TIMEOUT_S, all_stop);
    tfix_add(s, "redis_lists", test_redis_lists, TIMEOUT_S, all_stop);
    tfix_add(s, "one_command_per_request", test_one_command_per_request, TIMEOUT_S, all_stop);
    tfix_add(s, "redis_stopped_dunno", test_redis_stopped_dunno, TIMEOUT_S, all_stop);
    tfix_add(s, "redis_stopped_defer", test_redis_stopped_defer, TIMEOUT_S, all_stop);
    tfix_add(s, "redis_restart", test_redis_restart, TIMEOUT_S, all_stop);
    tfix_add(s, "function_flush", test_function_flush, TIMEOUT_S, all_stop);
    tfix_add(s, "config_text", test_config_text, TIMEOUT_S, all_stop);
    tfix_add(s, "oom", test_oom, TIMEOUT_S, all_stop);
    tfix_add(s, "max_in_flight", test_max_in_flight, TIMEOUT_S, all_stop);
    tfix_add(s, "socket_full", test_socket_full, TIMEOUT_S, all_stop);
    tfix_add(s, "auth", test_auth, TIMEOUT_S, all_stop);
    tfix_add(s, "auth_default_nopass", test_auth_default_nopass, TIMEOUT_S, all_stop);
    tfix_add(s, "marker", test_marker, TIMEOUT_S, all_stop);
    tfix_add(s, "reconnect_cycles", test_reconnect_cycles, TIMEOUT_S, all_stop);
    tfix_add(s, "tcp", test_tcp, TIMEOUT_S, all_stop);
    tfix_add(s, "sighup_switch", test_sighup_switch, TIMEOUT_S, all_stop);

    return tfix_run(s);
}
