/* check_daemon.c - outpostd over its real sockets (SPEC §3, §8, §9;
 * STYLE §2.3: every bound at N served, at N+1 logged and closed).
 *
 * Each test starts the real daemon ($OUTPOSTD, through tlib) with a config
 * made for it in a fresh /tmp directory, speaks Postfix's policy protocol
 * to it as raw bytes and stops it again.  A test that fails an assertion
 * dies at once (fork mode): its daemon is SIGKILLed by Check with the
 * test's process group, and the unchecked teardown, run by the runner,
 * removes what is left (tdaemon_reap() on shared copies, t/lib/tfix.h).
 * A test that passes ends with texpect_clean_stop(): SIGTERM must give exit
 * status 0, which under the sanitizer build also means no leak and no ASan
 * report.
 *
 * Load loops are bounded in count and time; only PIDs started here are
 * signalled. */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tfix.h"

#define NSLOTS 2
#define TIMEOUT_S 60

static struct tdaemon daemons[NSLOTS];  /* the test process's own (tfix.h) */

/* ---- helpers */

static void expect_log(const struct tdaemon *d, const char *needle)
{
    long off = 0;
    texpect_log(d, &off, needle, 5000, "log");
}

static void expect_action(int fd, const char *attrs, const char *want, const char *what)
{
    char got[512];
    tquery(fd, attrs, got, sizeof got);
    ck_assert_msg(strcmp(got, want) == 0, "%s: got action \"%s\", want \"%s\"",
                  what, tvis(got), want);
}

/* Reads until EOF or reset; true if that came within timeout_ms.  What was
 * read (at most cap - 1 bytes) is in got. */
static bool read_until_closed(int fd, int timeout_ms, char *got, size_t cap, size_t *len)
{
    long until = tms_mono() + timeout_ms;
    *len = 0;
    got[0] = '\0';
    for (;;) {
        char buf[4096];
        struct pollfd p = { fd, POLLIN, 0 };
        long left = until - tms_mono();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return true;
        size_t take = (size_t)n < cap - 1 - *len ? (size_t)n : cap - 1 - *len;
        memcpy(got + *len, buf, take);
        *len += take;
        got[*len] = '\0';
    }
}

/* The daemon must close fd within 2 s without having sent a reply. */
static void expect_closed_no_reply(int fd, const char *what)
{
    char got[256];
    size_t n;
    bool closed = read_until_closed(fd, 2000, got, sizeof got, &n);
    ck_assert_msg(closed, "%s: want the connection closed within 2 s; it is still "
                  "open (read \"%s\")", what, tvisn(got, n));
    ck_assert_msg(n == 0, "%s: want no reply before the close; got \"%s\"", what,
                  tvisn(got, n));
}

/* Reads until n replies ("\n\n") have arrived; returns bytes (-1 on
 * timeout or EOF before that). */
static ssize_t read_replies(int fd, int n, char *out, size_t cap, int timeout_ms)
{
    size_t got = 0;
    long until = tms_mono() + timeout_ms;
    out[0] = '\0';
    for (;;) {
        int seen = 0;
        for (const char *p = out; (p = strstr(p, "\n\n")) != NULL; p += 2)
            seen++;
        if (seen >= n)
            return (ssize_t)got;
        struct pollfd pf = { fd, POLLIN, 0 };
        long left = until - tms_mono();
        if (got + 1 >= cap || left <= 0 || poll(&pf, 1, (int)left) <= 0)
            return -1;
        ssize_t r = recv(fd, out + got, cap - 1 - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        out[got] = '\0';
    }
}

static void expect_raw_reply(int fd, const char *want, const char *what)
{
    char got[1024];
    ssize_t n = tread_reply(fd, got, sizeof got, 5000);
    ck_assert_msg(n == (ssize_t)strlen(want) && memcmp(got, want, strlen(want)) == 0,
                  "%s: got %zd bytes \"%s\", want exactly \"%s\"", what, n,
                  n > 0 ? tvisn(got, (size_t)n) : "", tvis(want));
}

static void raise_nofile(rlim_t want)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    ck_assert_msg(setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= want,
                  "RLIMIT_NOFILE: need %lu descriptors, hard limit is %lu",
                  (unsigned long)want, (unsigned long)rl.rlim_max);
}

/* A realistic RCPT request as Postfix sends it. */
static const char rcpt_req[] =
    "request=smtpd_access_policy\n"
    "protocol_state=RCPT\n"
    "protocol_name=ESMTP\n"
    "client_address=198.51.100.7\n"
    "client_name=mail.example.net\n"
    "reverse_client_name=mail.example.net\n"
    "helo_name=mail.example.net\n"
    "sender=ann@example.net\n"
    "recipient=bob@example.com\n"
    "recipient_count=0\n"
    "queue_id=\n"
    "instance=1a2b.6565f0a1.4c2d1.0\n"
    "size=0\n"
    "sasl_method=PLAIN\n"
    "sasl_username=ann\n"
    "\n";

#define DUNNO_REPLY "action=DUNNO\n\n"
#define DENY_TEXT "550 5.7.1 Sending refused by policy"
#define DENY_REPLY "action=" DENY_TEXT "\n\n"
#define REQ_HEAD "request=smtpd_access_policy\n"
#define DENY_TEST_NET "\"lists\": {\"deny\": {\"clients\": [\"192.0.2.0/24\"]}},"

/* ---- 1. many requests on one connection */

START_TEST(test_sequential_1000)
{
    struct tdaemon *d = &daemons[0];
    tfix_start_daemon(d, NULL, "");
    int fd = txconnect(d);
    char got[256];

    for (int i = 0; i < 1000; i++) {
        ck_assert_msg(twrite_all(fd, rcpt_req, sizeof rcpt_req - 1),
                      "request %d of 1000: write: %s", i + 1, strerror(errno));
        ssize_t n = tread_reply(fd, got, sizeof got, 5000);
        if (i == 0)
            ck_assert_msg(n > 0 && memchr(got, '\r', (size_t)n) == NULL,
                          "first reply: got \"%s\", want LF line ends only",
                          n > 0 ? tvisn(got, (size_t)n) : "");
        ck_assert_msg(n == 14 && memcmp(got, DUNNO_REPLY, 14) == 0,
                      "request %d of 1000: got %zd bytes \"%s\", want exactly "
                      "\"action=DUNNO\\n\\n\" (14 bytes)", i + 1, n,
                      n > 0 ? tvisn(got, (size_t)n) : "");
    }
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 2. many connections at once, each kept open */

#define NCONC 500

/* One request on each of fds[0..n), then every reply collected by poll(). */
static void concurrent_round(const int *fds, int n, int round)
{
    static char bufs[NCONC][64];
    static size_t lens[NCONC];
    static bool done[NCONC];
    char req[512];

    for (int i = 0; i < n; i++) {
        int len = snprintf(req, sizeof req,
                           REQ_HEAD "protocol_state=RCPT\nclient_address=198.51.100.%d\n"
                           "sasl_username=user%d\nrecipient=r%d@example.com\n\n",
                           i % 250 + 1, i, round);
        ck_assert_msg(twrite_all(fds[i], req, (size_t)len),
                      "round %d, connection %d: write: %s", round, i, strerror(errno));
        lens[i] = 0;
        bufs[i][0] = '\0';
        done[i] = false;
    }

    static struct pollfd pf[NCONC];
    static int idx[NCONC];
    int left = n;
    long until = tms_mono() + 20000;
    while (left > 0 && tms_mono() < until) {
        int np = 0;
        for (int i = 0; i < n; i++)
            if (!done[i]) {
                pf[np].fd = fds[i];
                pf[np].events = POLLIN;
                pf[np].revents = 0;
                idx[np++] = i;
            }
        int r = poll(pf, (nfds_t)np, 1000);
        ck_assert_msg(r >= 0 || errno == EINTR, "poll: %s", strerror(errno));
        for (int k = 0; k < np && r > 0; k++) {
            if (pf[k].revents == 0)
                continue;
            int i = idx[k];
            ssize_t got = recv(fds[i], bufs[i] + lens[i], sizeof bufs[i] - 1 - lens[i], 0);
            ck_assert_msg(got > 0, "round %d, connection %d: closed by the daemon "
                          "before its reply (recv %zd: %s); got \"%s\"", round, i, got,
                          got < 0 ? strerror(errno) : "EOF", tvisn(bufs[i], lens[i]));
            lens[i] += (size_t)got;
            bufs[i][lens[i]] = '\0';
            if (strstr(bufs[i], "\n\n") != NULL || lens[i] + 1 >= sizeof bufs[i]) {
                done[i] = true;
                left--;
            }
        }
    }
    ck_assert_msg(left == 0, "round %d: %d of %d connections got no reply within 20 s",
                  round, left, n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(strcmp(bufs[i], DUNNO_REPLY) == 0,
                      "round %d, connection %d: got \"%s\", want \"action=DUNNO\\n\\n\"",
                      round, i, tvisn(bufs[i], lens[i]));
}

START_TEST(test_concurrent_500)
{
    struct tdaemon *d = &daemons[0];
    static int fds[NCONC];

    raise_nofile(NCONC + 100);
    tfix_start_daemon(d, NULL, "");
    for (int i = 0; i < NCONC; i++) {
        fds[i] = tconnect_unix(d->sock);
        ck_assert_msg(fds[i] >= 0, "connection %d of %d: connect: %s", i + 1, NCONC,
                      strerror(errno));
    }
    concurrent_round(fds, NCONC, 1);
    concurrent_round(fds, NCONC, 2);        /* the same, still open, connections */
    expect_log(d, "(500 open)");
    for (int i = 0; i < NCONC; i++)
        close(fds[i]);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 3. bad input on one connection, the others unaffected */

START_TEST(test_malformed_isolated)
{
    struct tdaemon *d = &daemons[0];
    static const char nul_req[] = REQ_HEAD "protocol_state=RCPT\nsender=a\0b@example.net\n\n";
    static const char norequest[] = "protocol_state=RCPT\nsasl_username=bee\n\n";
    static const char noequals[] = REQ_HEAD "protocol_state=RCPT\nthis line has no equals sign\n\n";
    const char *ok_attrs = "protocol_state=RCPT\nsasl_username=dan\n";

    tfix_start_daemon(d, NULL, "");
    int a = txconnect(d), b = txconnect(d), c = txconnect(d), dd = txconnect(d);

    expect_action(dd, ok_attrs, "DUNNO", "conn D before");
    twrite_all(a, nul_req, sizeof nul_req - 1);     /* may fail: A gets closed */
    expect_closed_no_reply(a, "conn A (NUL byte inside a request)");
    expect_action(dd, ok_attrs, "DUNNO", "conn D after A's NUL");

    ck_assert_msg(twrite_all(b, norequest, sizeof norequest - 1), "conn B: write");
    expect_raw_reply(b, DUNNO_REPLY, "conn B (no request= attribute)");
    expect_action(b, ok_attrs, "DUNNO", "conn B: a valid request after the bad one");
    expect_action(dd, ok_attrs, "DUNNO", "conn D after B");

    ck_assert_msg(twrite_all(c, noequals, sizeof noequals - 1), "conn C: write");
    expect_raw_reply(c, DUNNO_REPLY, "conn C (a line without '=')");
    expect_action(c, ok_attrs, "DUNNO", "conn C: a valid request after the bad one");
    expect_action(dd, ok_attrs, "DUNNO", "conn D after C");
    expect_action(b, ok_attrs, "DUNNO", "conn B still open at the end");

    expect_log(d, "protocol error");
    expect_log(d, "NUL byte");
    expect_log(d, "bad request");
    close(a);
    close(b);
    close(c);
    close(dd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 4. every bound at N (served) and N + 1 (logged, closed) */

/* A request of exactly `total` bytes (every LF, the final empty line's
 * included): the request line, then unknown attributes of at most
 * `line_max` bytes each.  Returns its length. */
static size_t request_of_size(char *out, size_t total, size_t line_max)
{
    size_t o = (size_t)sprintf(out, REQ_HEAD);
    size_t rem = total - o - 1;             /* attribute lines, LFs included */
    char name = 'a';

    while (rem > 0) {
        size_t l = rem;                     /* this line's bytes with its LF */
        if (l > line_max + 1)
            l = rem - (line_max + 1) >= 8 ? line_max + 1 : rem - 8;
        o += (size_t)sprintf(out + o, "x%c=", name++);
        memset(out + o, 'v', l - 4);
        o += l - 4;
        out[o++] = '\n';
        rem -= l;
    }
    out[o++] = '\n';
    out[o] = '\0';
    ck_assert_uint_eq(o, total);
    return o;
}

START_TEST(test_bound_max_line)
{
    struct tdaemon *d = &daemons[0];
    char req[512], line[128];

    tfix_start_daemon(d, NULL, "\"protocol\": {\"max_line\": 100},");
    int fd = txconnect(d);

    /* "sender=" + 93 bytes: a line of exactly 100 bytes, LF excluded */
    memcpy(line, "sender=", 7);
    memset(line + 7, 'a', 93);
    line[100] = '\0';
    int n = snprintf(req, sizeof req, REQ_HEAD "%s\n\n", line);
    ck_assert_msg(twrite_all(fd, req, (size_t)n), "write: %s", strerror(errno));
    expect_raw_reply(fd, DUNNO_REPLY, "a line of 100 bytes with max_line=100");

    memset(line + 7, 'a', 94);
    line[101] = '\0';
    n = snprintf(req, sizeof req, REQ_HEAD "%s\n\n", line);
    twrite_all(fd, req, (size_t)n);         /* may fail once the daemon closed */
    expect_closed_no_reply(fd, "a line of 101 bytes with max_line=100");
    expect_log(d, "line too long");
    close(fd);

    fd = txconnect(d);                      /* the daemon serves on */
    expect_action(fd, "protocol_state=RCPT\n", "DUNNO", "a new connection after the close");
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

START_TEST(test_bound_max_request)
{
    struct tdaemon *d = &daemons[0];
    char req[512];

    tfix_start_daemon(d, NULL, "\"protocol\": {\"max_line\": 100, \"max_request\": 300},");
    int fd = txconnect(d);

    size_t n = request_of_size(req, 300, 100);
    ck_assert_msg(twrite_all(fd, req, n), "write: %s", strerror(errno));
    expect_raw_reply(fd, DUNNO_REPLY, "a request of 300 bytes with max_request=300");

    n = request_of_size(req, 301, 100);
    twrite_all(fd, req, n);
    expect_closed_no_reply(fd, "a request of 301 bytes with max_request=300");
    expect_log(d, "request too long");
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

START_TEST(test_bound_max_attributes)
{
    struct tdaemon *d = &daemons[0];
    static const char five[] = REQ_HEAD "protocol_state=RCPT\nsender=a@example.net\n"
                               "recipient=b@example.com\nsasl_username=ann\n\n";
    static const char six[] = REQ_HEAD "protocol_state=RCPT\nsender=a@example.net\n"
                              "recipient=b@example.com\nsasl_username=ann\n"
                              "client_address=198.51.100.7\n\n";

    tfix_start_daemon(d, NULL, "\"protocol\": {\"max_attributes\": 5},");
    int fd = txconnect(d);
    ck_assert_msg(twrite_all(fd, five, sizeof five - 1), "write: %s", strerror(errno));
    expect_raw_reply(fd, DUNNO_REPLY, "5 attribute lines with max_attributes=5");
    twrite_all(fd, six, sizeof six - 1);
    expect_closed_no_reply(fd, "6 attribute lines with max_attributes=5");
    expect_log(d, "too many attributes");
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

START_TEST(test_bound_max_connections)
{
    struct tdaemon *d = &daemons[0];
    int fds[5];
    char what[64];

    tfix_start_daemon(d, NULL, "\"max_connections\": 5,");
    for (int i = 0; i < 5; i++) {
        fds[i] = txconnect(d);
        snprintf(what, sizeof what, "connection %d of max_connections=5", i + 1);
        expect_action(fds[i], "protocol_state=RCPT\n", "DUNNO", what);
    }
    int sixth = tconnect_unix(d->sock);
    ck_assert_msg(sixth >= 0, "6th connection: want accepted (then closed), got "
                  "connect error %s", strerror(errno));
    ck_assert_msg(tpeer_closed(sixth, 2000),
                  "6th connection with max_connections=5: want closed within 2 s");
    close(sixth);
    expect_log(d, "max_connections");
    for (int i = 0; i < 5; i++) {
        snprintf(what, sizeof what, "connection %d after the refusal", i + 1);
        expect_action(fds[i], "protocol_state=RCPT\n", "DUNNO", what);
    }

    close(fds[0]);
    /* the daemon sees the close in its own time: retry for 2 s at most */
    char got[64] = "";
    long until = tms_mono() + 2000;
    do {
        usleep(50000);
        int fd = txconnect(d);
        tquery(fd, "protocol_state=RCPT\n", got, sizeof got);
        close(fd);
    } while (strcmp(got, "DUNNO") != 0 && tms_mono() < until);
    ck_assert_msg(strcmp(got, "DUNNO") == 0, "a new connection after one of 5 closed: "
                  "got \"%s\", want \"DUNNO\"", tvis(got));
    for (int i = 1; i < 5; i++)
        close(fds[i]);
    texpect_clean_stop(d);
}
END_TEST

START_TEST(test_bound_max_output)
{
    struct tdaemon *d = &daemons[0];
    static const char one[] = REQ_HEAD "protocol_state=RCPT\nsasl_username=deaf\n\n";
    enum { PER_CHUNK = 1000, MAX_CHUNKS = 200 };    /* 200,000 requests at most */
    size_t chunk_len = (sizeof one - 1) * PER_CHUNK;
    char *chunk = malloc(chunk_len);

    for (int i = 0; i < PER_CHUNK; i++)
        memcpy(chunk + (size_t)i * (sizeof one - 1), one, sizeof one - 1);
    tfix_start_daemon(d, NULL, "\"protocol\": {\"max_output\": 256},");
    int good = txconnect(d);
    expect_action(good, "protocol_state=RCPT\n", "DUNNO", "the reading connection, before");

    int deaf = txconnect(d);
    struct timeval tv = { 5, 0 };
    setsockopt(deaf, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    bool failed = false;
    int err = 0, chunks = 0;
    long until = tms_mono() + 20000;
    while (chunks < MAX_CHUNKS && tms_mono() < until) {
        if (!twrite_all(deaf, chunk, chunk_len)) {
            failed = true;
            err = errno;
            break;
        }
        chunks++;
    }
    free(chunk);
    ck_assert_msg(failed && (err == EPIPE || err == ECONNRESET),
                  "a client that never reads, after %d x %d pipelined requests: want "
                  "the daemon to close it (EPIPE/ECONNRESET); got %s", chunks, PER_CHUNK,
                  failed ? strerror(err) : "every write accepted");
    expect_log(d, "does not read its replies");
    expect_action(good, "protocol_state=RCPT\n", "DUNNO", "the reading connection, after");
    char got[64];
    size_t n;
    ck_assert_msg(read_until_closed(deaf, 5000, got, sizeof got, &n),
                  "the deaf connection: want EOF after its buffered replies");
    close(deaf);
    close(good);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 5. idle timeout */

START_TEST(test_idle_timeout)
{
    struct tdaemon *d = &daemons[0];
    static const char half[] = REQ_HEAD "protocol_state=RCPT\nsender=";

    tfix_start_daemon(d, NULL, "\"idle_timeout\": \"1s\",");
    int idle = txconnect(d), halfway = txconnect(d), busy = txconnect(d);
    ck_assert(twrite_all(halfway, half, sizeof half - 1));
    /* a connection that talks every 250 ms is never idle */
    for (int i = 0; i < 10; i++) {
        expect_action(busy, "protocol_state=RCPT\n", "DUNNO", "a busy connection");
        usleep(250000);
    }
    ck_assert_msg(tpeer_closed(idle, 5000),
                  "an idle connection with idle_timeout=1s: want closed within 5 s");
    ck_assert_msg(tpeer_closed(halfway, 5000), "a connection silent after half a "
                  "request with idle_timeout=1s: want closed within 5 s");
    expect_action(busy, "protocol_state=RCPT\n", "DUNNO", "the busy connection at the end");
    expect_log(d, "idle timeout");
    expect_log(d, "idle timeout in the middle of a request");
    close(idle);
    close(halfway);
    close(busy);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 6. framing: split writes, several requests in one write */

START_TEST(test_split_and_pipelined)
{
    struct tdaemon *d = &daemons[0];
    static const char denied[] = REQ_HEAD "protocol_state=RCPT\nclient_address=192.0.2.9\n\n";
    static const char allowed[] = REQ_HEAD "protocol_state=RCPT\nclient_address=198.51.100.7\n\n";
    char buf[2048], got[2048];

    tfix_start_daemon(d, NULL, DENY_TEST_NET);
    int fd = txconnect(d);

    for (size_t i = 0; i < sizeof rcpt_req - 1; i++) {
        ck_assert_msg(twrite_all(fd, rcpt_req + i, 1), "byte %zu: write: %s", i,
                      strerror(errno));
        if (i % 4 == 0)
            usleep(500);                    /* let the daemon read them apart */
    }
    expect_raw_reply(fd, DUNNO_REPLY, "a request sent 1 byte per write");

    int n = snprintf(buf, sizeof buf, "%s%s", denied, allowed);
    ck_assert(twrite_all(fd, buf, (size_t)n));
    ssize_t r = read_replies(fd, 2, got, sizeof got, 5000);
    ck_assert_msg(r > 0 && strcmp(got, DENY_REPLY DUNNO_REPLY) == 0,
                  "two requests (denied, allowed) in one write: got \"%s\", want \"%s\"",
                  r > 0 ? tvisn(got, (size_t)r) : "(timeout)", tvis(DENY_REPLY DUNNO_REPLY));

    /* three and a half requests in one write, the rest of the fourth later */
    n = snprintf(buf, sizeof buf, "%s%s%s%.30s", allowed, denied, allowed, denied);
    ck_assert(twrite_all(fd, buf, (size_t)n));
    r = read_replies(fd, 3, got, sizeof got, 5000);
    ck_assert_msg(r > 0 && strcmp(got, DUNNO_REPLY DENY_REPLY DUNNO_REPLY) == 0,
                  "three requests and a half in one write: got \"%s\", want \"%s\"",
                  r > 0 ? tvisn(got, (size_t)r) : "(timeout)",
                  tvis(DUNNO_REPLY DENY_REPLY DUNNO_REPLY));
    ck_assert(twrite_all(fd, denied + 30, sizeof denied - 1 - 30));
    expect_raw_reply(fd, DENY_REPLY, "the rest of the fourth request");
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 7. static allow/deny lists (SPEC §5 steps 1-2) */

START_TEST(test_static_lists)
{
    struct tdaemon *d = &daemons[0];
    static const struct {
        const char *attrs, *want, *rule, *why;
    } cases[] = {
        { "client_address=192.0.2.9\n", DENY_TEXT, "deny:client", "denied network" },
        { "client_address=192.0.2.7\n", "DUNNO", "allow:client", "allow wins over deny" },
        { "client_address=2001:db8::1\n", DENY_TEXT, "deny:client", "denied IPv6 network" },
        { "client_address=::ffff:192.0.2.9\n", DENY_TEXT, "deny:client",
          "IPv4-mapped IPv6 client in a denied IPv4 network" },
        { "client_address=198.51.100.7\nsasl_username=Mallory\n", DENY_TEXT,
          "deny:account", "denied account, other case (account.lowercase)" },
        { "client_address=198.51.100.7\nsasl_username= MALLORY \n", DENY_TEXT,
          "deny:account", "denied account with surrounding spaces" },
        { "client_address=192.0.2.9\nsasl_username=vip\n", "DUNNO", "allow:account",
          "allowed account from a denied network" },
        { "client_address=198.51.100.7\nsender=ok@spam.example\n", "DUNNO",
          "allow:sender", "allowed sender, unauthenticated" },
        { "client_address=198.51.100.7\nsasl_username=bob\nsender=ok@spam.example\n",
          DENY_TEXT, "deny:domain",
          "allowed sender does not apply when authenticated; its domain is denied" },
        { "client_address=198.51.100.7\nsender=x@SPAM.example\n", DENY_TEXT,
          "deny:domain", "denied sender domain, other case" },
        { "client_address=198.51.100.7\nsender=bad@example.org\n", DENY_TEXT,
          "deny:sender", "denied sender" },
        { "client_address=198.51.100.7\nsasl_username=alice\nsender=alice@example.net\n",
          "DUNNO", "failure",
          "nothing listed; these tests run without Redis: failure_action DUNNO" },
    };
    char attrs[512], what[256], needle[64];

    tfix_start_daemon(d, NULL,
        "\"lists\": {"
        " \"deny\": {\"clients\": [\"192.0.2.0/24\", \"2001:db8::/32\"],"
        "  \"accounts\": [\"mallory\"], \"senders\": [\"bad@example.org\"],"
        "  \"sender_domains\": [\"spam.example\"]},"
        " \"allow\": {\"accounts\": [\"vip\"], \"clients\": [\"192.0.2.7\"],"
        "  \"senders\": [\"ok@spam.example\"]}},");
    int fd = txconnect(d);
    size_t ncases = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < ncases; i++) {
        snprintf(attrs, sizeof attrs, "protocol_state=RCPT\nqueue_id=QL%zu\n%s", i,
                 cases[i].attrs);
        snprintf(what, sizeof what, "case %zu (%s)", i, cases[i].why);
        expect_action(fd, attrs, cases[i].want, what);
    }
    /* only RCPT and END-OF-MESSAGE are evaluated */
    expect_action(fd, "protocol_state=DATA\nqueue_id=QDATA\nclient_address=192.0.2.9\n",
                  "DUNNO", "DATA stage from a denied network");
    expect_action(fd, "protocol_state=VRFY\nclient_address=192.0.2.9\n", "DUNNO",
                  "VRFY stage from a denied network");
    expect_action(fd, "protocol_state=END-OF-MESSAGE\nqueue_id=QEOM\n"
                  "client_address=192.0.2.9\nrecipient_count=1\nsize=100\n",
                  DENY_TEXT, "END-OF-MESSAGE stage from a denied network");

    /* one decision line per request, naming the rule; they are written in
     * order, just after each reply */
    long off = 0;
    ck_assert_msg(tdaemon_log_wait_from(d, &off, "queue_id=\"QEOM\"", 5000),
                  "no decision line for the last request; log:\n%s", tlog_tail(d));
    char *text = tfile_read(d->log);
    ck_assert_msg(text != NULL, "no log %s", d->log);
    for (size_t i = 0; i <= ncases + 1; i++) {
        const char *rule = i < ncases ? cases[i].rule : i == ncases ? "stage" : "deny:client";
        if (i < ncases)
            snprintf(needle, sizeof needle, "queue_id=\"QL%zu\"", i);
        else
            snprintf(needle, sizeof needle, "queue_id=\"%s\"", i == ncases ? "QDATA" : "QEOM");
        char *line = strstr(text, needle);
        char *eol = line ? strchr(line, '\n') : NULL;
        if (eol != NULL)
            *eol = '\0';
        char want[64];
        snprintf(want, sizeof want, " rule=%s ", rule);
        bool ok = line != NULL && strstr(line, want) != NULL;
        char msg[600];
        snprintf(msg, sizeof msg, "%s", line ? line : "(no such line)");
        if (eol != NULL)
            *eol = '\n';
        if (!ok)
            free(text);
        ck_assert_msg(ok, "decision line for %s: want \"%s\"; got %s", needle, want, msg);
    }
    free(text);
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 8. SIGHUP while requests flow */

struct flow {
    atomic_long ok;             /* requests answered DUNNO */
    atomic_long fail;           /* anything else */
    atomic_int  stop;           /* set by the test */
    char        first_fail[256];
};

/* The flowing client: a child process asking on two connections in turn
 * until told to stop (30 s and 200,000 requests at most). */
static void flow_run(struct flow *f, int c1, int c2)
{
    long until = tms_mono() + 30000;
    char got[256];
    for (long i = 0; i < 200000 && !atomic_load(&f->stop) && tms_mono() < until; i++) {
        int fd = i % 2 ? c2 : c1;
        tquery(fd, "protocol_state=RCPT\nclient_address=198.51.100.7\n"
                   "sasl_username=flow\n", got, sizeof got);
        if (strcmp(got, "DUNNO") != 0) {
            snprintf(f->first_fail, sizeof f->first_fail,
                     "request %ld on connection %d: got \"%.100s\"", i, (int)(i % 2) + 1,
                     got);
            atomic_fetch_add(&f->fail, 1);
            _exit(1);
        }
        atomic_fetch_add(&f->ok, 1);
    }
    _exit(0);
}

/* Waits until the flow has answered `more` further requests (10 s max). */
static void flow_wait(const struct flow *f, long more, const char *when)
{
    long want = atomic_load(&f->ok) + more;
    long until = tms_mono() + 10000;
    while (atomic_load(&f->ok) < want && atomic_load(&f->fail) == 0 && tms_mono() < until)
        usleep(5000);
    ck_assert_msg(atomic_load(&f->fail) == 0, "%s: the flowing client failed: %s", when,
                  f->first_fail);
    ck_assert_msg(atomic_load(&f->ok) >= want, "%s: the flowing client got %ld of %ld "
                  "answers within 10 s", when, atomic_load(&f->ok), want);
}

START_TEST(test_sighup_reload)
{
    struct tdaemon *d = &daemons[0];
    struct flow *f = tshared_alloc(sizeof *f);
    long off = 0;
    char s[64];

    tfix_start_daemon(d, NULL, "");
    int c1 = txconnect(d), c2 = txconnect(d), old = txconnect(d);
    expect_action(old, "protocol_state=RCPT\nclient_address=10.0.0.1\n", "DUNNO",
                  "10.0.0.1 before the reload");
    pid_t kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0)
        flow_run(f, c1, c2);
    flow_wait(f, 20, "before SIGHUP");

    /* a good file: the new deny entry applies to old and new connections */
    tdaemon_rewrite(d, "\"lists\": {\"deny\": {\"clients\": [\"10.0.0.1\"]}},");
    ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
    ck_assert_msg(tdaemon_log_wait_from(d, &off, "configuration reloaded", 5000),
                  "want \"configuration reloaded\" within 5 s after SIGHUP; log:\n%s",
                  tlog_tail(d));
    expect_action(old, "protocol_state=RCPT\nclient_address=10.0.0.1\n", DENY_TEXT,
                  "10.0.0.1 after the reload, connection opened before it");
    int fresh = txconnect(d);
    expect_action(fresh, "protocol_state=RCPT\nclient_address=10.0.0.1\n", DENY_TEXT,
                  "10.0.0.1 after the reload, new connection");
    flow_wait(f, 20, "after the good reload");

    /* a bad file: refused, the running configuration stays */
    tfile_write(d->cfg, "{\n  \"listen\": [ this is not JSON\n");
    ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
    ck_assert_msg(tdaemon_log_wait_from(d, &off, "reload refused", 5000),
                  "want \"reload refused\" within 5 s after SIGHUP with a bad file; "
                  "log:\n%s", tlog_tail(d));
    expect_action(old, "protocol_state=RCPT\nclient_address=10.0.0.1\n", DENY_TEXT,
                  "10.0.0.1 after the refused reload (old config kept)");
    expect_action(fresh, "protocol_state=RCPT\nclient_address=198.51.100.7\n", "DUNNO",
                  "another client after the refused reload");
    flow_wait(f, 20, "after the refused reload");

    atomic_store(&f->stop, 1);
    int st;
    ck_assert_int_eq(waitpid(kid, &st, 0), kid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 && atomic_load(&f->fail) == 0,
                  "flowing client: got %s, %ld failures (%s), want exit 0, no failure",
                  tstatus_str(st, s, sizeof s), atomic_load(&f->fail), f->first_fail);
    /* the flowing connections were never closed */
    expect_action(c1, "protocol_state=RCPT\n", "DUNNO", "flow connection 1 at the end");
    expect_action(c2, "protocol_state=RCPT\n", "DUNNO", "flow connection 2 at the end");
    tshared_free(f, sizeof *f);
    close(c1);
    close(c2);
    close(old);
    close(fresh);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 9. SIGTERM */

START_TEST(test_sigterm)
{
    struct tdaemon *d = &daemons[0];
    struct stat st;
    char s[64];

    tfix_start_daemon(d, NULL, "");
    int idle = txconnect(d);
    expect_action(idle, "protocol_state=RCPT\n", "DUNNO", "before SIGTERM");
    int halfway = txconnect(d);
    ck_assert(twrite_all(halfway, REQ_HEAD, sizeof REQ_HEAD - 1));
    int status = tdaemon_stop(d);
    tfix_track_daemon(d);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "outpostd after SIGTERM: got %s, want exit 0\n--- log ---\n%s",
                  tstatus_str(status, s, sizeof s), tlog_tail(d));
    ck_assert_msg(lstat(d->sock, &st) != 0 && errno == ENOENT,
                  "socket %s after SIGTERM: want removed, it still exists", d->sock);
    ck_assert_msg(tpeer_closed(idle, 1000), "an idle connection: want closed at exit");
    ck_assert_msg(tpeer_closed(halfway, 1000), "a half request: want closed at exit");
    expect_log(d, "received SIGTERM");
    expect_log(d, "outpostd stopped");
    close(idle);
    close(halfway);
}
END_TEST

/* ---- 10. memory stays bounded under an endless line */

START_TEST(test_endless_line_rss)
{
    struct tdaemon *d = &daemons[0];
    enum { CHUNK = 1 << 16 };
    const size_t total = 64u << 20;
    char *x = malloc(CHUNK);

    memset(x, 'x', CHUNK);
    tfix_start_daemon(d, NULL, "");
    int warm = txconnect(d);
    expect_action(warm, "protocol_state=RCPT\n", "DUNNO", "warm-up");
    long before = tdaemon_rss_kb(d);

    int fd = txconnect(d);
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ck_assert(twrite_all(fd, REQ_HEAD "sender=", sizeof REQ_HEAD - 1 + 7));
    size_t sent = 0;
    int err = 0;
    long until = tms_mono() + 20000;
    while (sent < total && tms_mono() < until) {
        if (!twrite_all(fd, x, CHUNK)) {
            err = errno;
            break;
        }
        sent += CHUNK;
    }
    free(x);
    ck_assert_msg(err == EPIPE || err == ECONNRESET, "an endless line: want the "
                  "daemon to close the connection; after %zu bytes got %s", sent,
                  err ? strerror(err) : "every write accepted");
    long after = tdaemon_rss_kb(d);
    ck_assert_msg(after - before < 8 * 1024, "VmRSS: %ld KiB before, %ld KiB after "
                  "%zu bytes of one line; want growth < 8 MiB", before, after, sent);
    expect_log(d, "line too long");
    expect_action(warm, "protocol_state=RCPT\n", "DUNNO", "the other connection, after");
    int again = txconnect(d);
    expect_action(again, "protocol_state=RCPT\n", "DUNNO", "a new connection, after");
    close(again);
    close(fd);
    close(warm);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 11. what lies at the socket path */

START_TEST(test_stale_socket_removed)
{
    struct tdaemon *d = &daemons[0];
    struct sockaddr_un sun;
    struct stat st;

    tdaemon_prepare(d, NULL, "");
    tfix_track_daemon(d);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    ck_assert(strlen(d->sock) < sizeof sun.sun_path);
    memcpy(sun.sun_path, d->sock, strlen(d->sock));
    ck_assert_msg(bind(s, (struct sockaddr *)&sun, sizeof sun) == 0, "bind %s: %s",
                  d->sock, strerror(errno));
    close(s);                               /* the file stays: a stale socket */
    ck_assert(lstat(d->sock, &st) == 0 && S_ISSOCK(st.st_mode));

    tdaemon_launch(d);
    expect_log(d, "removed stale socket");
    int fd = txconnect(d);
    expect_action(fd, "protocol_state=RCPT\n", "DUNNO", "after replacing a stale socket");
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

START_TEST(test_path_is_regular_file)
{
    struct tdaemon *d = &daemons[0];
    char s[64];

    int st = tdaemon_run_fail(d, "", "precious data\n");
    tfix_track_daemon(d);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
                  "start with a regular file at the socket path: got %s, want exit 1\n"
                  "--- log ---\n%s", tstatus_str(st, s, sizeof s), tlog_tail(d));
    expect_log(d, "not a socket");
    char *text = tfile_read(d->sock);
    bool kept = text != NULL && strcmp(text, "precious data\n") == 0;
    free(text);
    ck_assert_msg(kept, "the regular file at %s: want it left untouched", d->sock);
}
END_TEST

START_TEST(test_second_instance_refused)
{
    struct tdaemon *d = &daemons[0];
    char log2[192], s[64];
    struct stat st;

    tfix_start_daemon(d, NULL, "");
    snprintf(log2, sizeof log2, "%s/second.log", d->dir);
    int status = tdaemon_run_wait(d, log2, 10000);
    char *text = tfile_read(log2);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", text ? text : "(no output)");
    bool in_use = text != NULL && strstr(text, "in use") != NULL;
    free(text);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1,
                  "a second daemon on the same socket: got %s, want exit 1; output:\n%s",
                  tstatus_str(status, s, sizeof s), msg);
    ck_assert_msg(in_use, "a second daemon on the same socket: want a message with "
                  "\"in use\"; got:\n%s", msg);
    ck_assert_msg(lstat(d->sock, &st) == 0 && S_ISSOCK(st.st_mode),
                  "the first daemon's socket %s: want it still there", d->sock);
    int fd = txconnect(d);
    expect_action(fd, "protocol_state=RCPT\n", "DUNNO", "the first daemon, after");
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 12. TCP listeners, IPv4 and IPv6 */

static int listened_port(const struct tdaemon *d, const char *prefix)
{
    char needle[64];
    long off = 0;
    snprintf(needle, sizeof needle, "listening on %s", prefix);
    ck_assert_msg(tdaemon_log_wait_from(d, &off, needle, 5000),
                  "want a log line \"%sPORT\"; log:\n%s", needle, tlog_tail(d));
    char *text = tfile_read(d->log);
    char *p = text ? strstr(text, needle) : NULL;
    long port = p ? strtol(p + strlen(needle), NULL, 10) : 0;
    free(text);
    ck_assert_msg(port > 0 && port < 65536, "%s: no port in the log", needle);
    return (int)port;
}

START_TEST(test_inet_listeners)
{
    struct tdaemon *d = &daemons[0];

    tfix_start_daemon(d, "[\"inet:127.0.0.1:0\", \"inet:[::1]:0\"]", DENY_TEST_NET);
    int p4 = listened_port(d, "inet:127.0.0.1:");
    int p6 = listened_port(d, "inet:[::1]:");

    int fd4 = tconnect_tcp("127.0.0.1", p4);
    ck_assert_msg(fd4 >= 0, "connect 127.0.0.1:%d: %s", p4, strerror(errno));
    int fd6 = tconnect_tcp("::1", p6);
    ck_assert_msg(fd6 >= 0, "connect [::1]:%d: %s", p6, strerror(errno));
    expect_action(fd4, "protocol_state=RCPT\nsasl_username=ann\n", "DUNNO", "over IPv4");
    expect_action(fd6, "protocol_state=RCPT\nsasl_username=ann\n", "DUNNO", "over IPv6");
    expect_action(fd4, "protocol_state=RCPT\nclient_address=192.0.2.9\n", DENY_TEXT,
                  "a denied client over IPv4");
    expect_action(fd6, "protocol_state=RCPT\nclient_address=192.0.2.9\n", DENY_TEXT,
                  "a denied client over IPv6");
    expect_log(d, "peer=127.0.0.1:");
    expect_log(d, "peer=[::1]:");
    close(fd4);
    close(fd6);
    texpect_clean_stop(d);
}
END_TEST

/* ---- 13. privileges and socket permissions (as root) */

/* The four ids of a "Uid:" or "Gid:" line of /proc/PID/status. */
static void proc_ids(const char *status, const char *key, long ids[4])
{
    const char *p = strstr(status, key);
    ck_assert_msg(p != NULL, "no %s line in /proc/PID/status", key);
    char *end = (char *)p + strlen(key);
    for (int i = 0; i < 4; i++)
        ids[i] = strtol(end, &end, 10);
}

START_TEST(test_privilege_drop)
{
    struct tdaemon *d = &daemons[0];
    char path[64];
    struct stat st;
    long ids[4];

    if (geteuid() != 0) {
        fprintf(stderr, "test_privilege_drop: not root, nothing to check\n");
        return;
    }
    struct passwd *pw = getpwnam("nobody");
    struct group *gr = getgrnam("nogroup");
    ck_assert_msg(pw != NULL && gr != NULL, "need user nobody and group nogroup");
    uid_t nobody = pw->pw_uid;
    gid_t nogroup = gr->gr_gid;

    tfix_start_daemon(d, NULL, "");
    int fd = txconnect(d);
    expect_action(fd, "protocol_state=RCPT\n", "DUNNO", "before looking");  /* loop runs */
    snprintf(path, sizeof path, "/proc/%ld/status", (long)d->pid);
    char *status = tfile_read(path);
    ck_assert_msg(status != NULL, "cannot read %s", path);
    char statusc[4096];
    snprintf(statusc, sizeof statusc, "%s", status);
    free(status);

    proc_ids(statusc, "\nUid:", ids);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(ids[i] == (long)nobody, "daemon Uid (real, effective, saved, fs): "
                      "got %ld %ld %ld %ld, want all %ld (nobody)", ids[0], ids[1],
                      ids[2], ids[3], (long)nobody);
    proc_ids(statusc, "\nGid:", ids);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(ids[i] == (long)nogroup, "daemon Gid: got %ld %ld %ld %ld, want "
                      "all %ld (nogroup)", ids[0], ids[1], ids[2], ids[3], (long)nogroup);
    const char *g = strstr(statusc, "\nGroups:");
    ck_assert_msg(g != NULL, "no Groups line");
    const char *q = g + 8;
    for (;;) {
        char *end;
        long v = strtol(q, &end, 10);
        if (end == q)
            break;
        ck_assert_msg(v != 0, "daemon supplementary groups still include 0 (root)");
        q = end;
    }

    ck_assert_msg(lstat(d->sock, &st) == 0 && S_ISSOCK(st.st_mode), "no socket at %s",
                  d->sock);
    ck_assert_msg((st.st_mode & 07777) == 0660, "socket mode: got %04o, want 0660",
                  (unsigned)(st.st_mode & 07777));
    ck_assert_msg(st.st_gid == nogroup, "socket group: got %ld, want %ld (nogroup)",
                  (long)st.st_gid, (long)nogroup);
    ck_assert_msg(st.st_uid == nobody, "socket owner: got %ld, want %ld (nobody, the "
                  "daemon's user)", (long)st.st_uid, (long)nobody);
    close(fd);
    texpect_clean_stop(d);      /* as nobody it can still remove its socket */
}
END_TEST

/* ---- 14. outpostd -t */

/* Expects "PATH:LINE:COL:" in text with the given line and a column >= 1. */
static void expect_location(const char *text, const char *path, int line, const char *what)
{
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s:", path);
    const char *p = strstr(text, prefix);
    ck_assert_msg(p != NULL, "%s: want \"%sLINE:COL: ...\"; got \"%s\"", what, prefix,
                  tvis(text));
    char *end;
    long l = strtol(p + strlen(prefix), &end, 10);
    ck_assert_msg(*end == ':', "%s: no line number after \"%s\" in \"%s\"", what, prefix,
                  tvis(text));
    long c = strtol(end + 1, &end, 10);
    ck_assert_msg(*end == ':' && l == line && c >= 1, "%s: got location %ld:%ld, want "
                  "line %d and a column (in \"%s\")", what, l, c, line, tvis(text));
}

START_TEST(test_check_config_flag)
{
    struct tdaemon *d = &daemons[0];
    static const struct {
        const char *text, *mentions, *why;
        int line;
    } bad[] = {
        { "{\n  \"listen\": [\"unix:/tmp/x.sock\"],\n  \"max_connections\": 0,\n"
          "  \"default_class\": \"standard\",\n  \"classes\": {\"standard\": {}}\n}\n",
          "max_connections", "max_connections 0", 3 },
        { "{\n  \"listen\": [\"unix:/tmp/x.sock\"],\n  \"max_conections\": 5,\n"
          "  \"default_class\": \"standard\",\n  \"classes\": {\"standard\": {}}\n}\n",
          "max_conections", "an unknown key", 3 },
        { "{\n  \"idle_timeout\": \"1s\",\n  \"max_connections\": 5,,\n"
          "  \"default_class\": \"standard\"\n}\n", NULL, "a syntax error", 3 },
        { "{\n  \"listen\": [\"unix:/tmp/x.sock\"],\n  \"default_class\": \"gold\",\n"
          "  \"classes\": {\"standard\": {}}\n}\n", "gold", "a class that does not exist", 3 },
    };
    const char *bin = getenv("OUTPOSTD");
    char out[4096], err[4096], s[64], path[192];

    ck_assert_msg(bin != NULL, "OUTPOSTD is not set");
    tdaemon_prepare(d, NULL, "\"idle_timeout\": \"30s\",");
    tfix_track_daemon(d);
    char *argv[] = { (char *)bin, "-t", "-c", d->cfg, NULL };
    int st = trun(argv, out, sizeof out, err, sizeof err, 10000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "outpostd -t on a good file: got %s, want exit 0; stderr \"%s\"",
                  tstatus_str(st, s, sizeof s), tvis(err));
    ck_assert_msg(strstr(out, "ok") != NULL, "outpostd -t on a good file: stdout "
                  "\"%s\", want it to say ok", tvis(out));

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "%s/bad%zu.json", d->dir, i);
        tfile_write(path, bad[i].text);
        char *argb[] = { (char *)bin, "-t", "-c", path, NULL };
        st = trun(argb, out, sizeof out, err, sizeof err, 10000);
        ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
                      "outpostd -t on %s: got %s, want exit 1", bad[i].why,
                      tstatus_str(st, s, sizeof s));
        expect_location(err, path, bad[i].line, bad[i].why);
        ck_assert_msg(bad[i].mentions == NULL || strstr(err, bad[i].mentions) != NULL,
                      "outpostd -t on %s: want the message to name \"%s\"; got \"%s\"",
                      bad[i].why, bad[i].mentions, tvis(err));
    }
}
END_TEST

/* ---- the suite */

int main(void)
{
    Suite *s = suite_create("daemon");

    tfix_init(daemons, NSLOTS, NULL, 0);

    tfix_add(s, "sequential_1000", test_sequential_1000, TIMEOUT_S, NULL);
    tfix_add(s, "concurrent_500", test_concurrent_500, TIMEOUT_S, NULL);
    tfix_add(s, "malformed_isolated", test_malformed_isolated, TIMEOUT_S, NULL);
    tfix_add(s, "bound_max_line", test_bound_max_line, TIMEOUT_S, NULL);
    tfix_add(s, "bound_max_request", test_bound_max_request, TIMEOUT_S, NULL);
    tfix_add(s, "bound_max_attributes", test_bound_max_attributes, TIMEOUT_S, NULL);
    tfix_add(s, "bound_max_connections", test_bound_max_connections, TIMEOUT_S, NULL);
    tfix_add(s, "bound_max_output", test_bound_max_output, TIMEOUT_S, NULL);
    tfix_add(s, "idle_timeout", test_idle_timeout, TIMEOUT_S, NULL);
    tfix_add(s, "split_and_pipelined", test_split_and_pipelined, TIMEOUT_S, NULL);
    tfix_add(s, "static_lists", test_static_lists, TIMEOUT_S, NULL);
    tfix_add(s, "sighup_reload", test_sighup_reload, TIMEOUT_S, NULL);
    tfix_add(s, "sigterm", test_sigterm, TIMEOUT_S, NULL);
    tfix_add(s, "endless_line_rss", test_endless_line_rss, TIMEOUT_S, NULL);
    tfix_add(s, "stale_socket_removed", test_stale_socket_removed, TIMEOUT_S, NULL);
    tfix_add(s, "path_is_regular_file", test_path_is_regular_file, TIMEOUT_S, NULL);
    tfix_add(s, "second_instance_refused", test_second_instance_refused, TIMEOUT_S, NULL);
    tfix_add(s, "inet_listeners", test_inet_listeners, TIMEOUT_S, NULL);
    tfix_add(s, "privilege_drop", test_privilege_drop, TIMEOUT_S, NULL);
    tfix_add(s, "check_config_flag", test_check_config_flag, TIMEOUT_S, NULL);

    return tfix_run(s);
}
