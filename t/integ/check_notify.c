/* check_notify.c - the notifier outpost-notify ($OUTPOST_NOTIFY, built from
 * contrib/notify/) against a private redis-server per test and a sendmail
 * stand-in.
 *
 * Events are written the way doc/keys.md "Events" documents them:
 * `redis-cli XADD outpost:{events} * v 1 type T account A json '{...}'`.
 * The stand-in (a shell script the test writes into its directory) keeps
 * message N in sm/mail/N.msg and its arguments in sm/mail/N.argv; a file
 * sm/fail makes it exit 75 without keeping anything; a file sm/hang-at
 * holding N makes call N write its PID to sm/hang.pid and sleep.  The
 * checks read those files: recipients per kind, at most one mail per
 * (account, kind) per notifier.window and again after it, no duplicate
 * across a crash and a restart, failures left pending and retried, given
 * up after 5 deliveries, malformed entries acknowledged, no header
 * injection, templates, the long-running loop (retry, reconnect, SIGTERM)
 * and exit codes.
 *
 * Most tests run the notifier with --once (exit 0: all handled, 1: left
 * pending, 2: usage/configuration, 3: Redis failed); its stderr log is
 * appended to the test's notify.log.  Under the sanitizer build a leak or
 * an ASan/UBSan report changes the exit status, so every run's status is
 * checked.  Started as root, the notifier drops to nobody (the config
 * says so), hence the world-writable sm/ directory.
 *
 * Cleanup (t/lib/tfix.h): each test's redis-server, notifier and hanging
 * stand-in are copied into memory shared with Check's runner; if an
 * assertion ends the test process at once, the unchecked teardown kills
 * exactly those PIDs (after checking what they run) and removes the
 * directories.  A passing test stops them itself.  Every wait is bounded. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tfix.h"

#define TIMEOUT_S 90
#define EVENTS "outpost:{events}"
#define GROUP "outpost-notify"
#define SUPPORT "support@example.org"
#define FROM "outpost@example.org"
#define AT "1764000000000"              /* 2025-11-24T16:00:00Z */
#define MAILS_MAX 64

/* What the runner must be able to clean up besides the redis-server
 * (T.r, registered with tfix_init()): tfix_extra(). */
struct shadow {
    pid_t notifier;                     /* a background or --once run */
    char  dir[64];
};

/* The test process's own state. */
static struct {
    struct tredis r;
    char  dir[64];                      /* the test's directory */
    char  sm[128];                      /* dir/sm: the stand-in's files (0777) */
    char  cfg[128];                     /* dir/notify.json */
    char  log[128];                     /* dir/notify.log: every run's stderr */
    pid_t bg;                           /* a notifier running in the background */
} T;

static struct shadow *shared(void)
{
    return tfix_extra();
}

/* True if /proc/PID/FILE starts with want (cmdline: argv[0]; comm). */
static bool proc_is(pid_t pid, const char *file, const char *want)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, file);
    char *s = tfile_read(path);
    bool yes = s != NULL && strncmp(s, want, strlen(want)) == 0;
    free(s);
    return yes;
}

/* Kills pid (SIGKILL) if it still runs `what`, and reaps it if it is ours. */
static void kill_checked(pid_t pid, const char *file, const char *what)
{
    if (pid <= 0 || !proc_is(pid, file, what))
        return;
    kill(pid, SIGKILL);
    for (int i = 0; i < 200 && proc_is(pid, file, what); i++) {
        waitpid(pid, NULL, WNOHANG);
        tsleep_ms(10);
    }
    waitpid(pid, NULL, WNOHANG);
}

/* The hanging stand-in (a `sleep`), if any. */
static void kill_hang(const char *sm)
{
    char path[160];
    snprintf(path, sizeof path, "%s/hang.pid", sm);
    char *s = tfile_read(path);
    if (s != NULL)
        kill_checked((pid_t)atol(s), "comm", "sleep");
    free(s);
    unlink(path);
}

/* tfix_reap()'s hook, in the runner (the redis-server is reaped next). */
static void shared_reap(void *extra)
{
    struct shadow *shadow = extra;
    kill_checked(shadow->notifier, "cmdline", "outpost-notify");
    if (shadow->dir[0] != '\0') {
        char sm[128];
        snprintf(sm, sizeof sm, "%s/sm", shadow->dir);
        kill_hang(sm);
        tdir_remove(shadow->dir);
    }
}

static void all_stop(void)              /* checked: in the test process */
{
    if (T.bg > 0) {
        kill(T.bg, SIGKILL);
        waitpid(T.bg, NULL, 0);
        T.bg = 0;
    }
    if (T.sm[0] != '\0')
        kill_hang(T.sm);
    tfix_stop_all();                    /* T.r */
    tdir_remove(T.dir);
    memset(&T, 0, sizeof T);
    memset(shared(), 0, sizeof *shared());
}

/* ---- setup ------------------------------------------------------------ */

static const char standin[] =
    "#!/bin/sh\n"
    "# sendmail stand-in of t/integ/check_notify.c\n"
    "d='%s'\n"
    "n=$(( $(cat \"$d/count\" 2>/dev/null || echo 0) + 1 ))\n"
    "echo \"$n\" > \"$d/count\"\n"
    "if [ -f \"$d/hang-at\" ] && [ \"$(cat \"$d/hang-at\")\" = \"$n\" ]; then\n"
    "    echo $$ > \"$d/hang.pid\"\n"
    "    exec sleep 120\n"
    "fi\n"
    "if [ -f \"$d/fail\" ]; then\n"
    "    cat > /dev/null\n"
    "    exit 75\n"
    "fi\n"
    "printf '%%s\\n' \"$@\" > \"$d/mail/$n.argv\"\n"
    "cat > \"$d/mail/$n.tmp\" && mv \"$d/mail/$n.tmp\" \"$d/mail/$n.msg\"\n";

/* Writes the config: Redis at `redis_json` (the inside of the "redis"
 * object; NULL: the private server's socket), notifier settings
 * `notifier` (inside of the object, after sendmail and from; may be ""). */
static void write_config_redis(const char *redis_json, const char *notifier)
{
    char redis[512], text[4096];
    if (redis_json == NULL) {
        snprintf(redis, sizeof redis, "\"address\": \"unix:%s\"", T.r.sock);
        redis_json = redis;
    }
    snprintf(text, sizeof text,
             "{\n"
             "  \"default_class\": \"standard\",\n"
             "  \"classes\": {\"standard\": {}},\n"
             "  %s\n"
             "  \"log\": {\"target\": \"stderr\", \"level\": \"debug\"},\n"
             "  \"redis\": {%s},\n"
             "  \"notifier\": {\"sendmail\": \"%s/sendmail\", \"from\": \"" FROM "\"%s%s}\n"
             "}\n",
             geteuid() == 0 ? "\"user\": \"nobody\", \"group\": \"nogroup\"," : "",
             redis_json, T.dir, notifier[0] != '\0' ? ", " : "", notifier);
    tfile_write(T.cfg, text);
}

static void write_config(const char *notifier)
{
    write_config_redis(NULL, notifier);
}

/* A redis-server, the directory, the stand-in and the config. */
static void setup(const char *notifier)
{
    char path[160], mail[160];

    memset(&T, 0, sizeof T);
    tfix_start_redis(&T.r, NULL);
    tdir_make(T.dir);
    snprintf(shared()->dir, sizeof shared()->dir, "%s", T.dir);
    snprintf(T.sm, sizeof T.sm, "%s/sm", T.dir);
    snprintf(T.cfg, sizeof T.cfg, "%s/notify.json", T.dir);
    snprintf(T.log, sizeof T.log, "%s/notify.log", T.dir);
    snprintf(mail, sizeof mail, "%s/mail", T.sm);
    ck_assert_int_eq(mkdir(T.sm, 0777), 0);
    ck_assert_int_eq(mkdir(mail, 0777), 0);
    chmod(T.sm, 0777);
    chmod(mail, 0777);

    char *script = malloc(sizeof standin + sizeof T.sm);
    sprintf(script, standin, T.sm);
    snprintf(path, sizeof path, "%s/sendmail", T.dir);
    tfile_write(path, script);
    free(script);
    ck_assert_int_eq(chmod(path, 0755), 0);
    write_config(notifier);
}

/* ---- running the notifier --------------------------------------------- */

/* Starts it with -c T.cfg -n consumer (and --once), stderr appended to
 * T.log. */
static pid_t spawn(const char *consumer, bool once)
{
    const char *bin = getenv("OUTPOST_NOTIFY");
    ck_assert_msg(bin != NULL, "OUTPOST_NOTIFY is not set (run through make check)");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(T.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
        }
        execl(bin, "outpost-notify", "-c", T.cfg, "-n", consumer, once ? "--once" : (char *)NULL,
              (char *)NULL);
        _exit(127);
    }
    shared()->notifier = pid;
    return pid;
}

/* The last 1200 bytes of the log, for failure messages (static; Check
 * cuts messages at 4 KiB). */
static const char *log_tail(void)
{
    return tfile_tail(T.log, 1200);
}

/* Waits (timeout_ms) for pid; its wait status, or -1 if it did not exit
 * (then it is killed). */
static int wait_exit(pid_t pid, int timeout_ms)
{
    int st = -1;
    long until = tms_mono() + timeout_ms;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (tms_mono() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            shared()->notifier = 0;
            return -1;
        }
        tsleep_ms(5);
    }
    shared()->notifier = 0;
    return st;
}

/* Runs --once to its end (30 s at most); returns the exit code, failing
 * on a signal or a timeout. */
static int run_once(const char *consumer)
{
    char buf[64];
    int st = wait_exit(spawn(consumer, true), 30000);
    ck_assert_msg(st != -1 && WIFEXITED(st), "outpost-notify --once -n %s: %s\nlog:\n%s",
                  consumer, tstatus_str(st, buf, sizeof buf), log_tail());
    return WEXITSTATUS(st);
}

static void expect_once(const char *consumer, int want, const char *what)
{
    int got = run_once(consumer);
    ck_assert_msg(got == want, "%s: outpost-notify --once exit %d, want %d\nlog:\n%s", what, got,
                  want, log_tail());
}

static int log_count(const char *needle)
{
    return tfile_count(T.log, needle);
}

static bool log_wait(const char *needle, int count, int timeout_ms)
{
    long until = tms_mono() + timeout_ms;
    do {
        if (log_count(needle) >= count)
            return true;
        tsleep_ms(20);
    } while (tms_mono() < until);
    return false;
}

/* ---- Redis ------------------------------------------------------------ */

/* XADD of one event as doc/keys.md writes it; returns nothing (the id is
 * not needed). */
static void xadd(const char *type, const char *account, const char *json)
{
    char out[256];
    int rc = tredis_cli(&T.r, out, sizeof out, "XADD", EVENTS, "*", "v", "1", "type", type,
                        "account", account, "json", json, (char *)NULL);
    ck_assert_msg(rc == 0 && strchr(out, '-') != NULL, "XADD %s %s: %s", type, account, out);
}

/* An event of `type` for `account` (plain text, no quotes), `fields` more
 * JSON members (",\"reason\":\"x\"" or ""). */
static void event(const char *type, const char *account, const char *fields)
{
    char json[2048];
    snprintf(json, sizeof json, "{\"v\":1,\"type\":\"%s\",\"account\":\"%s\",\"at\":" AT "%s}",
             type, account, fields);
    xadd(type, account, json);
}

static void suspended(const char *account, const char *reason)
{
    char f[512];
    snprintf(f, sizeof f, ",\"op\":\"suspend\",\"by\":\"auto\",\"reason\":\"%s\",\"until\":0,"
             "\"note\":\"\"", reason);
    event("suspended", account, f);
}

/* The number of entries pending in the group (XPENDING summary). */
static long pending(void)
{
    char out[1024];
    int rc = tredis_cli(&T.r, out, sizeof out, "XPENDING", EVENTS, GROUP, (char *)NULL);
    ck_assert_msg(rc == 0, "XPENDING: %s", out);
    return atol(out);
}

static void expect_pending(long want, const char *what)
{
    long got = pending();
    ck_assert_msg(got == want, "%s: %ld entries pending, want %ld\nlog:\n%s", what, got, want,
                  log_tail());
}

/* ---- the mails the stand-in kept --------------------------------------- */

static struct {
    int   n;
    char *msg[MAILS_MAX];               /* message text, in call order */
    char *argv[MAILS_MAX];
} M;

static void mails_free(void)
{
    for (int i = 0; i < M.n; i++) {
        free(M.msg[i]);
        free(M.argv[i]);
    }
    M.n = 0;
}

static int mails_load(void)
{
    char path[192];
    mails_free();
    snprintf(path, sizeof path, "%s/count", T.sm);
    char *c = tfile_read(path);
    int calls = c != NULL ? atoi(c) : 0;
    free(c);
    for (int i = 1; i <= calls && M.n < MAILS_MAX; i++) {
        snprintf(path, sizeof path, "%s/mail/%d.msg", T.sm, i);
        char *m = tfile_read(path);
        if (m == NULL)
            continue;
        snprintf(path, sizeof path, "%s/mail/%d.argv", T.sm, i);
        M.msg[M.n] = m;
        M.argv[M.n++] = tfile_read(path);
    }
    return M.n;
}

/* The header block of a message ("\n" + header + "\n"), malloc'd, so that
 * "\nName: " finds a header line. */
static char *header_of(const char *msg)
{
    const char *end = strstr(msg, "\n\n");
    size_t n = end != NULL ? (size_t)(end - msg) : strlen(msg);
    char *h = malloc(n + 3);
    h[0] = '\n';
    memcpy(h + 1, msg, n);
    h[n + 1] = '\n';
    h[n + 2] = '\0';
    return h;
}

/* Mails whose To: is exactly <addr>. */
static int mails_to(const char *addr)
{
    char want[320];
    int k = 0;
    snprintf(want, sizeof want, "\nTo: <%s>\n", addr);
    for (int i = 0; i < M.n; i++) {
        char *h = header_of(M.msg[i]);
        k += strstr(h, want) != NULL;
        free(h);
    }
    return k;
}

/* The first mail to addr whose text contains needle (NULL: any); -1 if
 * none. */
static int mail_find(const char *addr, const char *needle)
{
    char want[320];
    snprintf(want, sizeof want, "\nTo: <%s>\n", addr);
    for (int i = 0; i < M.n; i++) {
        char *h = header_of(M.msg[i]);
        bool to = strstr(h, want) != NULL;
        free(h);
        if (to && (needle == NULL || strstr(M.msg[i], needle) != NULL))
            return i;
    }
    return -1;
}

/* The mails (their first 2400 bytes) for failure messages. */
static const char *all_mails(void)
{
    static char buf[2400];
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < M.n && o + 64 < sizeof buf; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "---- mail %d\n%.*s", i + 1,
                              (int)(sizeof buf - o - 32), M.msg[i]);
    return buf;
}

static void expect_to(const char *addr, int want, const char *what)
{
    int got = mails_to(addr);
    ck_assert_msg(got == want, "%s: %d mails to <%s>, want %d\nmails:\n%s\nlog:\n%s", what, got,
                  addr, want, all_mails(), log_tail());
}

static void expect_total(int want, const char *what)
{
    ck_assert_msg(M.n == want, "%s: %d mails, want %d\nmails:\n%s\nlog:\n%s", what, M.n, want,
                  all_mails(), log_tail());
}

/* ---- 1. recipients per kind --------------------------------------------- */

START_TEST(test_recipients)
{
    setup("\"support_address\": \"" SUPPORT "\"");
    expect_once("n1", 0, "first start (creates the group)");
    ck_assert_int_eq(log_count("group outpost-notify (created)"), 1);

    suspended("alice@example.com", "spam run");
    suspended("bob", "no address");                     /* not an address: support only */
    event("verdict", "carol@example.com", ",\"weight\":1.5,\"recipients\":40,\"queue_id\":\"4QxZ\","
          "\"ref\":\"rspamd\",\"source\":\"rspamd\",\"strikes\":2,\"suspended\":0,\"id\":\"1-0\"");
    event("identity_violation", "dave@example.com",
          ",\"op\":\"identity_violation\",\"address\":\"ceo@example.com\",\"mode\":\"enforce\","
          "\"count\":3");
    event("identity_violation", "gina@example.com",
          ",\"op\":\"identity_violation\",\"address\":\"boss@example.com\",\"mode\":\"monitor\","
          "\"count\":1");
    event("limit_reached", "erin@example.com", ",\"limit\":\"msgs-hour\",\"class\":\"standard\","
          "\"key\":\"account\",\"max\":100,\"per\":3600000");
    event("limit_reached", "frank", ",\"limit\":\"msgs-hour\",\"class\":\"standard\","
          "\"key\":\"account\",\"max\":100,\"per\":3600000");
    event("reinstated", "hank@example.com", ",\"op\":\"reinstate\",\"by\":\"jo\",\"note\":\"\","
          "\"reason\":\"old\"");
    event("class", "alice@example.com", ",\"op\":\"class\",\"by\":\"jo\",\"class\":\"bulk\"");
    event("list_add", "", ",\"op\":\"list_add\",\"list\":\"deny\",\"kind\":\"client\","
          "\"value\":\"192.0.2.1\",\"text\":\"\",\"by\":\"jo\"");
    event("init", "", ",\"op\":\"init\",\"by\":\"jo\",\"version\":\"0.1.0\"");

    expect_once("n1", 0, "eleven events");
    expect_pending(0, "after --once");
    mails_load();
    expect_to("alice@example.com", 1, "suspended alice");
    expect_to("dave@example.com", 1, "identity_violation dave (enforce)");
    expect_to("gina@example.com", 1, "identity_violation gina (monitor)");
    expect_to("erin@example.com", 1, "limit_reached erin");
    expect_to("hank@example.com", 1, "reinstated hank");
    expect_to("carol@example.com", 0, "verdict: never the account");
    /* support: suspended alice, suspended bob, verdict carol, limit frank
     * (no address: support instead), reinstated hank */
    expect_to(SUPPORT, 5, "support");
    expect_total(10, "all");

    ck_assert_msg(mail_find(SUPPORT, "Subject: outpost: bob suspended by auto\n") >= 0,
                  "support mail about bob\n%s", all_mails());
    ck_assert_msg(mail_find(SUPPORT, "Subject: outpost: spam verdict for carol@example.com\n")
                  >= 0, "verdict mail\n%s", all_mails());
    ck_assert_msg(mail_find(SUPPORT, "Subject: outpost: frank reached limit msgs-hour\n") >= 0,
                  "limit mail about frank to support\n%s", all_mails());
    ck_assert_msg(mail_find("dave@example.com", "was refused") >= 0
                  && mail_find("dave@example.com", "ceo@example.com") >= 0,
                  "enforce wording for dave\n%s", all_mails());
    ck_assert_msg(mail_find("gina@example.com", "was delivered.") >= 0
                  && mail_find("gina@example.com", "will be enforced from") >= 0,
                  "monitor wording for gina (enforcement coming)\n%s", all_mails());
    ck_assert_msg(mail_find("alice@example.com", "Reason:          spam run\n") >= 0
                  && mail_find("alice@example.com", "2025-11-24T16:00:00Z") >= 0
                  && mail_find("alice@example.com", "when reinstated by support") >= 0,
                  "alice's mail: reason, time in RFC 3339, until 0\n%s", all_mails());
    ck_assert_msg(mail_find("erin@example.com", "at\nmost 100 per 1h.") >= 0,
                  "erin's limit mail: max and period\n%s", all_mails());

    /* every mail: the headers the notifier promises, sendmail's arguments */
    for (int i = 0; i < M.n; i++) {
        char *h = header_of(M.msg[i]);
        ck_assert_msg(strstr(h, "\nFrom: outpost <" FROM ">\n") != NULL
                      && strstr(h, "\nAuto-Submitted: auto-generated\n") != NULL
                      && strstr(h, "\nContent-Type: text/plain; charset=utf-8\n") != NULL
                      && strstr(h, "\nMessage-ID: <outpost.") != NULL
                      && strstr(h, "\nDate: ") != NULL && strstr(h, "\nSubject: ") != NULL,
                      "mail %d headers:\n%s", i + 1, h);
        ck_assert_msg(M.argv[i] != NULL && strcmp(M.argv[i], "-t\n-i\n-f\n" FROM "\n") == 0,
                      "mail %d: sendmail arguments \"%s\", want -t -i -f " FROM, i + 1,
                      M.argv[i] ? M.argv[i] : "(none)");
        bool acct = strstr(h, "\nTo: <" SUPPORT ">\n") == NULL;
        ck_assert_msg(acct == (strstr(h, "\nReply-To: <" SUPPORT ">\n") != NULL),
                      "mail %d: Reply-To support on mails to accounts only:\n%s", i + 1, h);
        free(h);
    }
    mails_free();
}
END_TEST

/* ---- 2. no support_address --------------------------------------------- */

START_TEST(test_no_support)
{
    setup("");
    expect_once("n1", 0, "first start");
    suspended("alice@example.com", "x");
    suspended("bob", "x");
    event("verdict", "carol@example.com", ",\"weight\":1,\"strikes\":1,\"suspended\":0");
    event("limit_reached", "frank", ",\"limit\":\"l\",\"max\":1,\"per\":1000");
    expect_once("n1", 0, "four events, no support_address");
    expect_pending(0, "all acknowledged");
    mails_load();
    expect_to("alice@example.com", 1, "alice");
    expect_total(1, "only alice");
    ck_assert_msg(log_count("no recipient") == 3, "want 3 \"no recipient\" lines\n%s",
                  log_tail());
    mails_free();
}
END_TEST

/* ---- 3. one mail per (account, kind) per window ------------------------- */

START_TEST(test_window)
{
    setup("\"support_address\": \"" SUPPORT "\", \"window\": \"1h\"");
    expect_once("n1", 0, "first start");
    for (int i = 0; i < 3; i++)
        suspended("alice@example.com", "again");
    expect_once("n1", 0, "three suspensions");
    mails_load();
    expect_to("alice@example.com", 1, "3 x suspended alice");
    expect_to(SUPPORT, 1, "3 x suspended alice, support");

    /* later, another run: still within the window */
    suspended("alice@example.com", "once more");
    expect_once("n1", 0, "a fourth suspension");
    /* a different kind, and a different account, still mail */
    event("reinstated", "alice@example.com", ",\"by\":\"jo\",\"note\":\"\",\"reason\":\"x\"");
    suspended("bob@example.com", "x");
    expect_once("n2", 0, "reinstated alice, suspended bob (another consumer)");
    expect_pending(0, "all acknowledged");
    mails_load();
    expect_to("alice@example.com", 2, "suspended + reinstated");
    expect_to("bob@example.com", 1, "bob");
    expect_to(SUPPORT, 3, "support: alice suspended, alice reinstated, bob suspended");
    expect_total(6, "all");
    ck_assert_int_eq(log_count("is within notifier.window"), 6);

    /* the record, as doc/keys.md documents it */
    char out[256];
    tredis_cli(&T.r, out, sizeof out, "HGET", "outpost:{a:alice@example.com}:notified",
               "suspended:account", (char *)NULL);
    ck_assert_msg(atoll(out) > 1000000000000LL, "notified suspended:account = \"%s\"", out);
    tredis_cli(&T.r, out, sizeof out, "PTTL", "outpost:{a:alice@example.com}:notified",
               (char *)NULL);
    ck_assert_msg(atol(out) > 3500000 && atol(out) <= 3600000, "PTTL of notified = %s", out);
    tredis_cli(&T.r, out, sizeof out, "EXISTS",
               "outpost:{a:alice@example.com}:notifying:suspended:account", (char *)NULL);
    ck_assert_msg(strcmp(out, "0") == 0, "the lock is gone after the mail: EXISTS = %s", out);
    mails_free();
}
END_TEST

/* ---- 4. the window ends ------------------------------------------------- */

START_TEST(test_window_expiry)
{
    setup("\"window\": \"1s\"");
    expect_once("n1", 0, "first start");
    suspended("alice@example.com", "one");
    suspended("alice@example.com", "two");
    expect_once("n1", 0, "two at once");
    mails_load();
    expect_to("alice@example.com", 1, "two suspensions within 1 s");

    /* the record expires with the window (PEXPIRE); wait for it */
    char out[64] = "1";
    long until = tms_mono() + 5000;
    while (strcmp(out, "0") != 0 && tms_mono() < until) {
        tsleep_ms(50);
        tredis_cli(&T.r, out, sizeof out, "EXISTS", "outpost:{a:alice@example.com}:notified",
                   (char *)NULL);
    }
    ck_assert_msg(strcmp(out, "0") == 0, "notified record still there 5 s after a 1 s window");
    suspended("alice@example.com", "three");
    expect_once("n1", 0, "after the window");
    mails_load();
    expect_to("alice@example.com", 2, "a suspension after the window");
    ck_assert_msg(mail_find("alice@example.com", "Reason:          three") >= 0,
                  "the second mail is about the third event\n%s", all_mails());
    mails_free();
}
END_TEST

/* ---- 5. a failing sendmail: pending, mailed on the next run ------------ */

START_TEST(test_sendmail_fails)
{
    char flag[192], out[256];
    setup("\"support_address\": \"" SUPPORT "\"");
    expect_once("n1", 0, "first start");
    snprintf(flag, sizeof flag, "%s/fail", T.sm);
    tfile_write(flag, "");
    suspended("alice@example.com", "x");
    expect_once("n1", 1, "sendmail fails: left pending");
    expect_pending(1, "after a failed sendmail");
    mails_load();
    expect_total(0, "nothing kept by the failing stand-in");
    ck_assert_msg(log_count("sendmail") >= 2 && log_count(": exit 75; left pending") == 2,
                  "the failure is logged\n%s", log_tail());
    tredis_cli(&T.r, out, sizeof out, "EXISTS", "outpost:{a:alice@example.com}:notified",
               "outpost:{a:alice@example.com}:notifying:suspended:account",
               "outpost:{a:alice@example.com}:notifying:suspended:support", (char *)NULL);
    ck_assert_msg(strcmp(out, "0") == 0, "no record, no lock after a failure: EXISTS = %s", out);

    unlink(flag);
    expect_once("n1", 0, "sendmail works again");
    expect_pending(0, "after the retry");
    mails_load();
    expect_to("alice@example.com", 1, "retried");
    expect_to(SUPPORT, 1, "retried, support");
    expect_total(2, "all");
    mails_free();
}
END_TEST

/* ---- 6. given up after 5 deliveries ------------------------------------ */

START_TEST(test_give_up)
{
    char flag[192];
    setup("");
    expect_once("n1", 0, "first start");
    snprintf(flag, sizeof flag, "%s/fail", T.sm);
    tfile_write(flag, "");
    suspended("alice@example.com", "x");
    for (int i = 1; i <= 4; i++) {
        char what[64];
        snprintf(what, sizeof what, "failing run %d", i);
        expect_once("n1", 1, what);
        expect_pending(1, what);
    }
    expect_once("n1", 0, "fifth failing run: given up");
    expect_pending(0, "given up: acknowledged");
    ck_assert_msg(log_count("giving up after 5 deliveries") == 1, "the error line\n%s",
                  log_tail());
    unlink(flag);
    expect_once("n1", 0, "sendmail works again");
    mails_load();
    expect_total(0, "the dropped entry is not mailed");
}
END_TEST

/* ---- 7. no duplicate across a crash and a restart ----------------------- */

START_TEST(test_restart_no_duplicate)
{
    char hang[192], pidf[192];
    setup("");
    expect_once("n1", 0, "first start");
    suspended("alice@example.com", "x");
    suspended("bob@example.com", "x");
    suspended("carol@example.com", "x");
    snprintf(hang, sizeof hang, "%s/hang-at", T.sm);
    snprintf(pidf, sizeof pidf, "%s/hang.pid", T.sm);
    tfile_write(hang, "2");

    /* the second sendmail hangs: kill -9 the notifier meanwhile */
    pid_t pid = spawn("n1", true);
    long until = tms_mono() + 15000;
    char *s = NULL;
    while ((s = tfile_read(pidf)) == NULL && tms_mono() < until)
        tsleep_ms(20);
    ck_assert_msg(s != NULL, "the second sendmail did not start\n%s", log_tail());
    free(s);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int st = wait_exit(pid, 5000);
    ck_assert_msg(st != -1 && WIFSIGNALED(st), "killed notifier");
    kill_hang(T.sm);
    unlink(hang);
    mails_load();
    expect_total(1, "before the crash");
    expect_pending(2, "bob and carol were delivered, not acknowledged");

    expect_once("n1", 0, "restart with the same consumer name");
    expect_pending(0, "after the restart");
    mails_load();
    expect_to("alice@example.com", 1, "alice exactly once");
    expect_to("bob@example.com", 1, "bob exactly once");
    expect_to("carol@example.com", 1, "carol exactly once");
    expect_total(3, "all");

    /* a crash after the mail was recorded but before XACK: the entry is
     * pending with the record written; the next run must not mail again */
    char out[512];
    suspended("dave@example.com", "x");
    tredis_cli(&T.r, out, sizeof out, "XREADGROUP", "GROUP", GROUP, "n1", "COUNT", "10",
               "STREAMS", EVENTS, ">", (char *)NULL);
    ck_assert_msg(strstr(out, "dave@example.com") != NULL, "delivered to n1: %s", out);
    tredis_cli(&T.r, out, sizeof out, "EVAL",
               "local t = redis.call('TIME') redis.call('HSET', KEYS[1], ARGV[1], "
               "string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))) return 1",
               "1", "outpost:{a:dave@example.com}:notified", "suspended:account", (char *)NULL);
    ck_assert_msg(strcmp(out, "1") == 0, "record written: %s", out);
    expect_pending(1, "dave pending");
    expect_once("n1", 0, "restart after a crash between record and XACK");
    expect_pending(0, "dave acknowledged");
    mails_load();
    expect_to("dave@example.com", 0, "dave: already mailed before the crash");
    mails_free();
}
END_TEST

/* ---- 8. another notifier mailing the same thing ------------------------- */

START_TEST(test_lock_busy)
{
    char out[128];
    setup("");
    expect_once("n1", 0, "first start");
    tredis_cli(&T.r, out, sizeof out, "SET",
               "outpost:{a:alice@example.com}:notifying:suspended:account", "other 1-0", "PX",
               "60000", (char *)NULL);
    suspended("alice@example.com", "x");
    expect_once("n1", 1, "locked by another notifier: left pending");
    expect_pending(1, "locked");
    ck_assert_int_eq(log_count("another notifier is mailing it now"), 1);
    mails_load();
    expect_total(0, "nothing while locked");
    tredis_cli(&T.r, out, sizeof out, "DEL",
               "outpost:{a:alice@example.com}:notifying:suspended:account", (char *)NULL);
    expect_once("n1", 0, "lock released");
    mails_load();
    expect_to("alice@example.com", 1, "mailed once the lock is gone");
    mails_free();
}
END_TEST

/* ---- 9. malformed entries ----------------------------------------------- */

/* XADD with the fields given (a NULL-free list of strings). */
#define XADD_FIELDS(what, ...)                                                     \
    do {                                                                           \
        char xo_[256];                                                             \
        int xr_ = tredis_cli(&T.r, xo_, sizeof xo_, "XADD", EVENTS, "*", __VA_ARGS__, \
                             (char *)NULL);                                        \
        ck_assert_msg(xr_ == 0 && strchr(xo_, '-') != NULL, "XADD (%s): %s", what, xo_); \
    } while (0)

/* The id of the first entry in redis-cli's XREADGROUP output (the lines
 * key, id, field, value, ...), into id[64]. */
static void first_id(const char *out, char *id)
{
    const char *p = strchr(out, '\n');
    ck_assert_msg(p != NULL, "XREADGROUP: \"%s\"", out);
    p++;
    size_t n = strcspn(p, "\n");
    ck_assert_msg(n > 2 && n < 64, "XREADGROUP: \"%s\"", out);
    memcpy(id, p, n);
    id[n] = '\0';
}

START_TEST(test_malformed)
{
    static char big[400];
    setup("\"support_address\": \"" SUPPORT "\"");
    expect_once("n1", 0, "first start");
    memset(big, 'a', sizeof big - 20);
    snprintf(big + sizeof big - 20, 20, "@example.com");

    XADD_FIELDS("no json", "v", "1", "type", "suspended", "account", "a@example.com");
    XADD_FIELDS("bad json", "v", "1", "type", "suspended", "account", "a@example.com",
                "json", "{not json");
    XADD_FIELDS("array", "v", "1", "type", "suspended", "account", "a@example.com",
                "json", "[1, 2]");
    XADD_FIELDS("v 2", "v", "2", "type", "suspended", "account", "a@example.com", "json", "{}");
    XADD_FIELDS("no v", "type", "suspended", "account", "a@example.com", "json", "{}");
    XADD_FIELDS("long account", "v", "1", "type", "suspended", "account", big, "json", "{}");
    XADD_FIELDS("type twice", "v", "1", "type", "suspended", "type", "verdict", "account",
                "a@example.com", "json", "{}");
    XADD_FIELDS("empty type", "v", "1", "type", "", "account", "a@example.com", "json", "{}");
    XADD_FIELDS("bad mode", "v", "1", "type", "identity_violation", "account", "a@example.com",
                "json", "{\"mode\":\"sometimes\"}");
    XADD_FIELDS("duplicate JSON key", "v", "1", "type", "suspended", "account", "a@example.com",
                "json", "{\"reason\":\"a\",\"reason\":\"b\"}");
    suspended("alice@example.com", "fine");

    expect_once("n1", 0, "ten malformed entries and a good one");
    expect_pending(0, "malformed entries are acknowledged");
    ck_assert_msg(log_count("malformed entry") == 10, "ten \"malformed entry\" lines, got %d\n%s",
                  log_count("malformed entry"), log_tail());
    ck_assert_int_eq(log_count("malformed entry: no field json"), 1);
    ck_assert_int_eq(log_count("malformed entry: unknown schema version v=\"2\""), 1);
    ck_assert_int_eq(log_count("malformed entry: no field v"), 1);
    ck_assert_int_eq(log_count("malformed entry: field account longer than 256 bytes"), 1);
    ck_assert_int_eq(log_count("malformed entry: field type given twice"), 1);
    ck_assert_int_eq(log_count("malformed entry: json is not a JSON object"), 3);
    ck_assert_int_eq(log_count("malformed entry: an empty type"), 1);
    ck_assert_int_eq(log_count("malformed entry: mode is not monitor or enforce"), 1);
    mails_load();
    expect_to("alice@example.com", 1, "the good entry after the bad ones");
    expect_to(SUPPORT, 1, "support, about alice");
    expect_total(2, "only the good entry");

    /* an entry trimmed away while pending: acknowledged */
    char out[1024], id[64];
    suspended("bob@example.com", "x");
    tredis_cli(&T.r, out, sizeof out, "XREADGROUP", "GROUP", GROUP, "n1", "COUNT", "10",
               "STREAMS", EVENTS, ">", (char *)NULL);
    first_id(out, id);
    char gone[1024];
    tredis_cli(&T.r, gone, sizeof gone, "XDEL", EVENTS, id, (char *)NULL);
    ck_assert_msg(strcmp(gone, "1") == 0, "XDEL %s: %s", id, gone);
    expect_pending(1, "a deleted entry still pending");
    expect_once("n1", 0, "the deleted entry");
    expect_pending(0, "the deleted entry acknowledged");
    ck_assert_int_eq(log_count("is no longer in the stream"), 1);
    mails_free();
}
END_TEST

/* ---- 10. header injection ----------------------------------------------- */

START_TEST(test_header_injection)
{
    setup("\"support_address\": \"" SUPPORT "\"");
    expect_once("n1", 0, "first start");
    /* an account with CR LF: not an address, so support only; the values
     * with CR LF go into Subject and body */
    xadd("suspended", "alice@example.com\r\nBcc: x@evil.example",
         "{\"v\":1,\"type\":\"suspended\",\"account\":\"alice@example.com\\r\\nBcc: "
         "x@evil.example\",\"at\":" AT ",\"by\":\"auto\",\"reason\":\"r\",\"until\":0}");
    xadd("suspended", "mallory@example.com",
         "{\"v\":1,\"type\":\"suspended\",\"account\":\"mallory@example.com\",\"at\":" AT ","
         "\"by\":\"x\\nCc: z@evil.example\",\"reason\":\"r\\r\\nBcc: y@evil.example\\r\\n\","
         "\"until\":0}");
    xadd("suspended", "zoe@example.com",
         "{\"v\":1,\"type\":\"suspended\",\"account\":\"zoe@example.com\",\"at\":" AT ","
         "\"by\":\"Zo\\u00eb \\u2603\",\"reason\":\"r\",\"until\":0}");
    xadd("suspended", "a@b@example.com", "{\"by\":\"x\",\"reason\":\"r\"}");
    xadd("suspended", "x@example.com,evil@example.net", "{\"by\":\"x\",\"reason\":\"r\"}");
    expect_once("n1", 0, "hostile values");
    expect_pending(0, "all acknowledged");
    mails_load();
    expect_to("mallory@example.com", 1, "mallory");
    expect_to("zoe@example.com", 1, "zoe");
    expect_to(SUPPORT, 5, "support: all five");
    expect_total(7, "no other recipient");

    for (int i = 0; i < M.n; i++) {
        char *h = header_of(M.msg[i]);
        ck_assert_msg(strchr(M.msg[i], '\r') == NULL, "mail %d holds a CR:\n%s", i + 1,
                      M.msg[i]);
        /* every header line is one the notifier writes, or a folded one */
        static const char *const names[] = { "From: ", "To: ", "Reply-To: ", "Subject: ",
            "Date: ", "Message-ID: ", "Auto-Submitted: ", "MIME-Version: ", "Content-Type: ",
            "Content-Transfer-Encoding: ", "X-Outpost-Event: ", " " };
        for (char *line = h + 1; *line != '\0';) {
            char *nl = strchr(line, '\n');
            if (nl == line)
                break;
            bool known = false;
            for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
                known = known || strncmp(line, names[k], strlen(names[k])) == 0;
            ck_assert_msg(known, "mail %d: unexpected header line \"%.*s\"\n%s", i + 1,
                          (int)(nl - line), line, h);
            line = nl + 1;
        }
        ck_assert_msg(strstr(h, "\nBcc:") == NULL && strstr(h, "\nCc:") == NULL,
                      "mail %d: Bcc/Cc header\n%s", i + 1, h);
        free(h);
    }
    ck_assert_msg(mail_find(SUPPORT, "Subject: outpost: alice@example.com  Bcc: x@evil.example "
                            "suspended by auto\n") >= 0,
                  "the account's CR LF became spaces in the subject\n%s", all_mails());
    ck_assert_msg(mail_find("mallory@example.com", "Reason:          r  Bcc: y@evil.example  \n")
                  >= 0, "the reason's CR LF became spaces in the body\n%s", all_mails());
    ck_assert_msg(mail_find(SUPPORT, "Subject: =?UTF-8?B?") >= 0,
                  "a non-ASCII subject is RFC 2047 encoded\n%s", all_mails());
}
END_TEST

/* ---- 11. templates ------------------------------------------------------ */

START_TEST(test_templates)
{
    char dir[160], path[224], notifier[512];
    setup("");
    snprintf(dir, sizeof dir, "%s/tpl", T.dir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/suspended-account.txt", dir);
    tfile_write(path, "Subject: Hi %{account}%{nosuch}!\n\nReason=%{reason}\nUntil=%{until}\n"
                      "At=%{at}\nLiteral %{ and 100% and %{x\nWindow=%{window}\n");
    snprintf(path, sizeof path, "%s/suspended-support.txt", dir);
    tfile_write(path, "no subject line\nbody\n");
    snprintf(path, sizeof path, "%s/reinstated-account.txt", dir);
    tfile_write(path, "Subject: back\n");
    snprintf(notifier, sizeof notifier, "\"support_address\": \"" SUPPORT "\", "
             "\"template_dir\": \"%s\", \"window\": \"2h\"", dir);
    write_config(notifier);
    expect_once("n1", 0, "first start");
    suspended("alice@example.com", "too much");
    event("reinstated", "bob@example.com", ",\"by\":\"jo\",\"note\":\"\",\"reason\":\"x\"");
    expect_once("n1", 0, "with templates");
    mails_load();
    expect_total(4, "alice, support, bob, support");
    int i = mail_find("alice@example.com", NULL);
    ck_assert_msg(i >= 0, "alice\n%s", all_mails());
    const char *want = "Subject: Hi alice@example.com!\n";
    ck_assert_msg(strstr(M.msg[i], want) != NULL, "want \"%s\" in\n%s", want, M.msg[i]);
    want = "\n\nReason=too much\nUntil=when reinstated by support\nAt=2025-11-24T16:00:00Z\n"
           "Literal %{ and 100% and %{x\nWindow=2h\n";
    ck_assert_msg(strstr(M.msg[i], want) != NULL, "want body\n%s\nin\n%s", want, M.msg[i]);
    ck_assert_msg(mail_find(SUPPORT, "Subject: outpost: alice@example.com suspended by auto\n")
                  >= 0, "a bad template file: the built-in one\n%s", all_mails());
    ck_assert_msg(log_count("its first line is not \"Subject: ...\"; using the built-in one")
                  == 1, "the bad template is logged\n%s", log_tail());
    i = mail_find("bob@example.com", "Subject: back\n");
    ck_assert_msg(i >= 0, "bob: a template with an empty body\n%s", all_mails());
    mails_free();
}
END_TEST

/* ---- 12. the long-running loop: retry, reconnect, SIGTERM ---------------- */

START_TEST(test_loop)
{
    char flag[192];
    setup("");
    T.bg = spawn("live", false);
    ck_assert_msg(log_wait("group outpost-notify (created), consumer live", 1, 10000),
                  "connected\n%s", log_tail());

    suspended("alice@example.com", "x");
    long until = tms_mono() + 10000;
    while (mails_load() < 1 && tms_mono() < until)
        tsleep_ms(20);
    expect_to("alice@example.com", 1, "mailed by the running notifier");

    /* a failure, retried by the loop after its delay (5 s) */
    snprintf(flag, sizeof flag, "%s/fail", T.sm);
    tfile_write(flag, "");
    suspended("bob@example.com", "x");
    ck_assert_msg(log_wait(": exit 75; left pending", 1, 10000), "failure\n%s", log_tail());
    unlink(flag);
    until = tms_mono() + 20000;
    while (mails_load() < 2 && tms_mono() < until)
        tsleep_ms(50);
    expect_to("bob@example.com", 1, "retried by the loop");
    /* the mail is written before the entry is acknowledged: wait for that */
    until = tms_mono() + 5000;
    while (pending() != 0 && tms_mono() < until)
        tsleep_ms(20);
    expect_pending(0, "after the retry");

    /* Redis restarts (empty: no persistence): reconnect, group created */
    tredis_kill(&T.r, SIGKILL);
    tfix_track_redis(&T.r);
    tredis_restart(&T.r);
    tfix_track_redis(&T.r);
    ck_assert_msg(log_wait("group outpost-notify (created), consumer live", 2, 20000),
                  "reconnected\n%s", log_tail());
    suspended("carol@example.com", "x");
    until = tms_mono() + 10000;
    while (mails_load() < 3 && tms_mono() < until)
        tsleep_ms(20);
    expect_to("carol@example.com", 1, "after Redis restarted");

    /* SIGTERM while blocked in XREADGROUP: exit 0 at once */
    tsleep_ms(200);
    long t0 = tms_mono();
    ck_assert_int_eq(kill(T.bg, SIGTERM), 0);
    int st = wait_exit(T.bg, 10000);
    T.bg = 0;
    char buf[64];
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "SIGTERM: %s\n%s", tstatus_str(st, buf, sizeof buf), log_tail());
    ck_assert_msg(tms_mono() - t0 < 3000, "SIGTERM took %ld ms", tms_mono() - t0);
    ck_assert_int_eq(log_count("outpost-notify stopped (exit 0)"), 1);
    mails_free();
}
END_TEST

/* ---- 13. entries of a dead consumer are claimed ------------------------- */

START_TEST(test_claim_dead)
{
    char out[1024], id[64];
    setup("");
    expect_once("n1", 0, "first start");
    suspended("alice@example.com", "x");
    tredis_cli(&T.r, out, sizeof out, "XREADGROUP", "GROUP", GROUP, "dead", "COUNT", "10",
               "STREAMS", EVENTS, ">", (char *)NULL);
    first_id(out, id);
    expect_once("n1", 0, "the entry belongs to another consumer, recently delivered");
    mails_load();
    expect_total(0, "not claimed while it is fresh");
    expect_pending(1, "the dead consumer's entry");
    /* make it look idle for 2 minutes (XCLAIM ... IDLE) */
    tredis_cli(&T.r, out, sizeof out, "XCLAIM", EVENTS, GROUP, "dead", "0", id, "IDLE",
               "120000", "JUSTID", (char *)NULL);
    expect_once("n1", 0, "claims it");
    expect_pending(0, "claimed and acknowledged");
    mails_load();
    expect_to("alice@example.com", 1, "mailed by the claiming notifier");
    mails_free();
}
END_TEST

/* ---- 14. exit codes, AUTH and database ---------------------------------- */

START_TEST(test_exit_codes)
{
    char redis[256], buf[64];
    setup("");
    /* Redis unreachable */
    snprintf(redis, sizeof redis, "\"address\": \"unix:%s/nothing.sock\"", T.dir);
    write_config_redis(redis, "");
    expect_once("n1", 3, "Redis unreachable");
    /* a bad configuration */
    tfile_write(T.cfg, "{\"notifier\": {\"window\": \"0s\"}}\n");
    expect_once("n1", 2, "bad configuration");
    /* a bad consumer name, an unknown option */
    write_config("");
    expect_once("bad name", 2, "consumer name with a space");
    const char *bin = getenv("OUTPOST_NOTIFY");
    char *argv[] = { (char *)bin, "--nonsense", NULL }, out[256], err[1024];
    int st = trun(argv, out, sizeof out, err, sizeof err, 10000);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2 && strstr(err, "usage:") != NULL,
                  "unknown option: %s, stderr %s", tstatus_str(st, buf, sizeof buf), err);
    expect_once("n1", 0, "good configuration");
}
END_TEST

START_TEST(test_auth_db)
{
    char redis[512], path[160], out[256];
    setup("");
    /* an ACL user for the notifier, a password for everyone else */
    int rc = tredis_cli(&T.r, out, sizeof out, "ACL", "SETUSER", "notify", "on", ">n0tify",
                        "~*", "&*", "+@all", (char *)NULL);
    ck_assert_msg(rc == 0 && strcmp(out, "OK") == 0, "ACL SETUSER: %s", out);
    rc = tredis_cli(&T.r, out, sizeof out, "CONFIG", "SET", "requirepass", "s3cret",
                    (char *)NULL);
    ck_assert_msg(rc == 0 && strcmp(out, "OK") == 0, "CONFIG SET requirepass: %s", out);
    snprintf(path, sizeof path, "%s/pw", T.dir);
    tfile_write(path, "n0tify\n");
    snprintf(redis, sizeof redis, "\"address\": \"unix:%s\", \"username\": \"notify\", "
             "\"password_file\": \"%s\", \"db\": 3", T.r.sock, path);
    write_config_redis(redis, "");
    expect_once("n1", 0, "AUTH notify and SELECT 3");
    rc = tredis_cli(&T.r, out, sizeof out, "--no-auth-warning", "-a", "s3cret", "-n", "3",
                    "XADD", EVENTS, "*", "v", "1", "type", "suspended", "account",
                    "alice@example.com", "json", "{\"by\":\"x\",\"reason\":\"r\"}",
                    (char *)NULL);
    ck_assert_msg(rc == 0 && strchr(out, '-') != NULL, "XADD in db 3: %s", out);
    expect_once("n1", 0, "an event in db 3");
    mails_load();
    expect_to("alice@example.com", 1, "mailed from db 3");
    tfile_write(path, "wrong\n");
    expect_once("n1", 3, "a wrong password");
    ck_assert_msg(log_count("AUTH: \"WRONGPASS") == 1, "AUTH refusal logged\n%s", log_tail());
    /* tredis_stop() signals the server; nothing more to undo */
    mails_free();
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

int main(void)
{
    Suite *s = suite_create("notify");

    tfix_init(NULL, 0, &T.r, 1);
    tfix_init_extra(sizeof(struct shadow), shared_reap);

    tfix_add(s, "recipients", test_recipients, TIMEOUT_S, all_stop);
    tfix_add(s, "no_support", test_no_support, TIMEOUT_S, all_stop);
    tfix_add(s, "window", test_window, TIMEOUT_S, all_stop);
    tfix_add(s, "window_expiry", test_window_expiry, TIMEOUT_S, all_stop);
    tfix_add(s, "sendmail_fails", test_sendmail_fails, TIMEOUT_S, all_stop);
    tfix_add(s, "give_up", test_give_up, TIMEOUT_S, all_stop);
    tfix_add(s, "restart_no_duplicate", test_restart_no_duplicate, TIMEOUT_S, all_stop);
    tfix_add(s, "lock_busy", test_lock_busy, TIMEOUT_S, all_stop);
    tfix_add(s, "malformed", test_malformed, TIMEOUT_S, all_stop);
    tfix_add(s, "header_injection", test_header_injection, TIMEOUT_S, all_stop);
    tfix_add(s, "templates", test_templates, TIMEOUT_S, all_stop);
    tfix_add(s, "loop", test_loop, TIMEOUT_S, all_stop);
    tfix_add(s, "claim_dead", test_claim_dead, TIMEOUT_S, all_stop);
    tfix_add(s, "exit_codes", test_exit_codes, TIMEOUT_S, all_stop);
    tfix_add(s, "auth_db", test_auth_db, TIMEOUT_S, all_stop);

    return tfix_run(s);
}
