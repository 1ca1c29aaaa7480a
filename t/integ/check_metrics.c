/* check_metrics.c - the Prometheus endpoint of outpostd (metrics.listen):
 * counters after real requests, 404 for anything else, and the bounds of
 * the HTTP responder (request head size, clients at once); outpostctl
 * stats reading it. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/tfix.h"

/* The test's daemon and redis-server; tfix.h keeps copies shared with the
 * runner for reaping. */
static struct tdaemon daemons[1];
static struct tredis redises[1];

START_TEST(counters_and_404)
{
    struct tdaemon *d = &daemons[0];
    tdaemon_prepare(d, NULL, "\"metrics\": {\"listen\": \"127.0.0.1:0\"},"
                    " \"lists\": {\"deny\": {\"clients\": [\"192.0.2.0/24\"]}},");
    tfix_launch(d);
    int port = tmetrics_port(d);

    int fd = tconnect_unix(d->sock);
    char action[256];
    tquery(fd, "protocol_state=RCPT\nclient_address=192.0.2.1\n", action, sizeof action);
    ck_assert_str_eq(action, "550 5.7.1 Sending refused by policy");
    tquery(fd, "protocol_state=DATA\n", action, sizeof action);
    ck_assert_str_eq(action, "DUNNO");
    tquery(fd, "protocol_state=RCPT\nsasl_username=a\n", action, sizeof action);
    ck_assert_str_eq(action, "DUNNO");          /* no Redis: failure action */
    close(fd);

    const char *page = thttp(port, "GET /metrics HTTP/1.0\r\n\r\n");
    ck_assert_msg(strncmp(page, "HTTP/1.0 200 OK\r\n", 17) == 0, "got %.80s", page);
    const char *want[] = {
        "outpost_requests_total{stage=\"RCPT\"} 2\n",
        "outpost_requests_total{stage=\"DATA\"} 1\n",
        "outpost_decisions_total{action=\"REJECT\"} 1\n",
        "outpost_rule_decisions_total{rule=\"deny:client\"} 1\n",
        "outpost_rule_decisions_total{rule=\"stage\"} 1\n",
        "outpost_failure_actions_total 1\n",
        "outpost_decision_seconds_count 3\n",
        "outpost_redis_up 0\n",
        "outpost_config_info{hash=\"",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(page, want[i]) != NULL, "missing %s in:\n%s", want[i], page);

    page = thttp(port, "GET /other HTTP/1.0\r\n\r\n");
    ck_assert_msg(strncmp(page, "HTTP/1.0 404 ", 13) == 0, "got %.80s", page);
    page = thttp(port, "POST /metrics HTTP/1.0\r\n\r\n");
    ck_assert_msg(strncmp(page, "HTTP/1.0 404 ", 13) == 0, "got %.80s", page);

    /* a reload cannot move the listener: it says so, and keeps serving */
    long off = 0;
    tdaemon_rewrite(d, "\"metrics\": {\"listen\": \"127.0.0.1:1\"},");
    ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
    ck_assert_msg(tdaemon_log_wait_from(d, &off, "reload: metrics.listen changes take "
                                        "effect at restart", 5000), "no reload warning");
    page = thttp(port, "GET /metrics HTTP/1.0\r\n\r\n");
    ck_assert_msg(strncmp(page, "HTTP/1.0 200 OK", 15) == 0, "after reload: %.80s", page);
    tfix_stop_all();
}
END_TEST

/* With a real Redis: every script call Redis answered is in the round-trip
 * histogram (outpost_redis_seconds), and MAIL requests are counted as such
 * (they reach Redis only with identities.stage "mail"). */
START_TEST(redis_round_trip)
{
    struct tredis *r = &redises[0];
    tfix_start_redis(r, NULL);
    char extra[512];
    snprintf(extra, sizeof extra, "\"metrics\": {\"listen\": \"127.0.0.1:0\"},"
             " \"redis\": {\"address\": \"unix:%s\"},"
             " \"identities\": {\"mode\": \"monitor\", \"stage\": \"mail\"},", r->sock);
    struct tdaemon *d = &daemons[0];
    tdaemon_prepare(d, NULL, extra);
    tfix_launch(d);
    int port = tmetrics_port(d);
    long off = 0;
    ck_assert_msg(tdaemon_log_wait_from(d, &off, "redis: connected to", 5000),
                  "not connected to Redis");

    int fd = tconnect_unix(d->sock);
    char action[256];
    tquery(fd, "protocol_state=MAIL\nsasl_username=a\nsender=a@example.com\n",
           action, sizeof action);
    ck_assert_str_eq(action, "DUNNO");
    tquery(fd, "protocol_state=MAIL\nsender=a@example.com\n", action, sizeof action);
    ck_assert_str_eq(action, "DUNNO");          /* unauthenticated: not asked */
    for (int i = 0; i < 3; i++) {
        tquery(fd, "protocol_state=RCPT\nsasl_username=a\nrecipient=b@example.org\n",
               action, sizeof action);
        ck_assert_str_eq(action, "DUNNO");
    }
    tquery(fd, "protocol_state=DATA\nsasl_username=a\n", action, sizeof action);
    ck_assert_str_eq(action, "DUNNO");
    close(fd);

    const char *page = thttp(port, "GET /metrics HTTP/1.0\r\n\r\n");
    const char *want[] = {
        "outpost_requests_total{stage=\"MAIL\"} 2\n",
        "outpost_requests_total{stage=\"RCPT\"} 3\n",
        "outpost_requests_total{stage=\"DATA\"} 1\n",
        "outpost_rule_decisions_total{rule=\"stage\"} 2\n",
        "outpost_rule_decisions_total{rule=\"default\"} 4\n",
        "outpost_redis_calls_total{outcome=\"replied\"} 4\n",
        /* one at a time: a batch each */
        "outpost_redis_batches_total 4\n",
        "outpost_redis_batched_calls_total 4\n",
        "outpost_redis_seconds_count 4\n",
        "outpost_redis_seconds_bucket{le=\"+Inf\"} 4\n",
        "# TYPE outpost_redis_seconds histogram\n",
        "outpost_decision_seconds_count 6\n",
        "outpost_redis_up 1\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(page, want[i]) != NULL, "missing %s in:\n%s", want[i], page);
    /* and outpostctl stats' line of them */
    char out[8192], err[1024], ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
    int rc = tctl(out, sizeof out, err, sizeof err, d->cfg, "stats", "--metrics", ep,
                  (char *)NULL);
    ck_assert_msg(rc == 0, "stats: exit %d: %s", rc, err);
    ck_assert_msg(strstr(out, "redis FCALLs 4 for 4 decision calls (1 per FCALL)\n") != NULL,
                  "got:\n%s", out);
    tfix_stop_all();
}
END_TEST

START_TEST(bounds)
{
    struct tdaemon *d = &daemons[0];
    tdaemon_prepare(d, NULL, "\"metrics\": {\"listen\": \"127.0.0.1:0\"},");
    tfix_launch(d);
    int port = tmetrics_port(d);

    /* a head of exactly METRICS_REQ_MAX (4096) bytes is answered ... */
    char req[5000];
    memset(req, 'x', sizeof req);
    memcpy(req, "GET /metrics HTTP/1.0\r\nX-Pad: ", 30);
    memcpy(req + 4096 - 4, "\r\n\r\n", 4);
    req[4096] = '\0';
    const char *page = thttp(port, req);
    ck_assert_msg(strncmp(page, "HTTP/1.0 200 OK", 15) == 0, "4096 bytes: got %.80s", page);
    /* ... one byte more without the blank line is cut off unanswered */
    memset(req, 'x', sizeof req);
    memcpy(req, "GET /metrics HTTP/1.0\r\nX-Pad: ", 30);
    req[4097] = '\0';
    page = thttp(port, req);
    ck_assert_msg(page[0] == '\0', "4097 bytes: got %.80s", page);

    /* 16 silent clients are held; the 17th is closed at once; all are
     * closed after the 5 s timeout; the endpoint still answers */
    int fds[17];
    for (int i = 0; i < 17; i++) {
        fds[i] = tconnect_tcp("127.0.0.1", port);
        ck_assert_int_ge(fds[i], 0);
    }
    ck_assert_msg(tpeer_closed(fds[16], 2000), "17th client not closed");
    ck_assert_msg(!tpeer_closed(fds[0], 500), "1st client closed early");
    ck_assert_msg(tpeer_closed(fds[0], 8000), "silent client not closed after the timeout");
    for (int i = 0; i < 17; i++)
        close(fds[i]);
    page = thttp(port, "GET /metrics HTTP/1.0\r\n\r\n");
    ck_assert_msg(strncmp(page, "HTTP/1.0 200 OK", 15) == 0, "after: got %.80s", page);
    tdaemon_cleanup(d);
    ck_assert_msg(WIFEXITED(d->status) && WEXITSTATUS(d->status) == 0, "exit status %d",
                  d->status);
    tfix_stop_all();
}
END_TEST

static long long jget(const json_t *root, const char *name, const char *label)
{
    const json_t *v = json_object_get(root, name);
    if (label != NULL)
        v = json_object_get(v, label);
    ck_assert_msg(json_is_integer(v), "%s{%s} missing or not an integer", name,
                  label ? label : "");
    return (long long)json_integer_value(v);
}

/* outpostctl stats: the exact counters after a known sequence; exit 3 when
 * the endpoint is gone, 2 without metrics.listen and --metrics. */
START_TEST(ctl_stats)
{
    struct tdaemon *d = &daemons[0];
    tdaemon_prepare(d, NULL, "\"metrics\": {\"listen\": \"127.0.0.1:0\"},"
                    " \"lists\": {\"deny\": {\"clients\": [\"192.0.2.0/24\"]}},");
    tfix_launch(d);
    int port = tmetrics_port(d);
    char ep[64], out[65536], err[4096];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", port);

    int fd = tconnect_unix(d->sock);
    char action[256];
    tquery(fd, "protocol_state=RCPT\nclient_address=192.0.2.1\n", action, sizeof action);
    ck_assert_str_eq(action, "550 5.7.1 Sending refused by policy");
    tquery(fd, "protocol_state=RCPT\nclient_address=192.0.2.2\n", action, sizeof action);
    ck_assert_str_eq(action, "550 5.7.1 Sending refused by policy");
    tquery(fd, "protocol_state=DATA\n", action, sizeof action);
    ck_assert_str_eq(action, "DUNNO");
    tquery(fd, "protocol_state=END-OF-MESSAGE\nsasl_username=a\n", action, sizeof action);
    ck_assert_str_eq(action, "DUNNO");          /* no Redis: failure action */
    tquery(fd, "protocol_state=VRFY\n", action, sizeof action);
    ck_assert_str_eq(action, "DUNNO");
    close(fd);

    int rc = tctl(out, sizeof out, err, sizeof err, d->cfg, "stats", "--json",
                     "--metrics", ep, (char *)NULL);
    ck_assert_msg(rc == 0, "stats --json: exit %d: %s", rc, err);
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    ck_assert_msg(root != NULL, "not JSON (%s): %s", jerr.text, out);
    ck_assert_int_eq(jget(root, "outpost_requests_total", "RCPT"), 2);
    ck_assert_int_eq(jget(root, "outpost_requests_total", "END-OF-MESSAGE"), 1);
    ck_assert_int_eq(jget(root, "outpost_requests_total", "DATA"), 1);
    ck_assert_int_eq(jget(root, "outpost_requests_total", "VRFY"), 1);
    ck_assert_int_eq(jget(root, "outpost_requests_total", "other"), 0);
    ck_assert_int_eq(jget(root, "outpost_requests_total", "MAIL"), 0);
    ck_assert_int_eq(jget(root, "outpost_redis_seconds_count", NULL), 0);
    ck_assert_int_eq(jget(root, "outpost_decisions_total", "REJECT"), 2);
    ck_assert_int_eq(jget(root, "outpost_decisions_total", "DUNNO"), 3);
    ck_assert_int_eq(jget(root, "outpost_decisions_total", "DEFER"), 0);
    ck_assert_int_eq(jget(root, "outpost_rule_decisions_total", "deny:client"), 2);
    ck_assert_int_eq(jget(root, "outpost_rule_decisions_total", "stage"), 2);
    ck_assert_int_eq(jget(root, "outpost_rule_decisions_total", "failure"), 1);
    ck_assert_int_eq(jget(root, "outpost_failure_actions_total", NULL), 1);
    ck_assert_int_eq(jget(root, "outpost_decision_seconds_count", NULL), 5);
    ck_assert_int_eq(jget(root, "outpost_decision_seconds_bucket", "+Inf"), 5);
    ck_assert_int_eq(jget(root, "outpost_redis_up", NULL), 0);
    /* every RCPT and END-OF-MESSAGE tries Redis, which is not there */
    ck_assert_int_eq(jget(root, "outpost_redis_calls_total", "refused"), 3);
    ck_assert_int_eq(jget(root, "outpost_config_reloads_total", "ok"), 0);
    ck_assert_int_eq(json_object_size(json_object_get(root, "outpost_config_info")), 1);
    json_decref(root);

    /* the human summary */
    rc = tctl(out, sizeof out, err, sizeof err, d->cfg, "stats", "--metrics", ep,
                 (char *)NULL);
    ck_assert_msg(rc == 0, "stats: exit %d: %s", rc, err);
    ck_assert_msg(strstr(out, "requests     5: RCPT 2, END-OF-MESSAGE 1, DATA 1, VRFY 1")
                  != NULL, "got:\n%s", out);
    ck_assert_msg(strstr(out, "top rules    deny:client 2, stage 2, failure 1\n") != NULL,
                  "got:\n%s", out);
    ck_assert_msg(strstr(out, "redis        DOWN") != NULL, "got:\n%s", out);
    ck_assert_msg(strstr(out, "redis FCALLs none yet\n") != NULL, "got:\n%s", out);
    ck_assert_msg(strstr(out, "latency      p50 ") != NULL, "got:\n%s", out);
    ck_assert_msg(strstr(out, "redis rtt    no replies yet\n") != NULL, "got:\n%s", out);
    ck_assert_msg(strstr(out, "verdicts     applied 0, ") != NULL, "got:\n%s", out);

    /* the daemon gone: unreachable */
    ck_assert_int_eq(tdaemon_stop(d), 0);
    rc = tctl(out, sizeof out, err, sizeof err, d->cfg, "stats", "--metrics", ep,
                 (char *)NULL);
    ck_assert_msg(rc == 3, "stats, daemon stopped: exit %d: %s", rc, err);
    rc = tctl(out, sizeof out, err, sizeof err, NULL, "--json", "-c", d->cfg, "stats",
                 "--metrics", ep, (char *)NULL);
    ck_assert_msg(rc == 3, "stats --json, daemon stopped: exit %d: %s", rc, err);
    /* no metrics.listen and no --metrics: a configuration error */
    char *text = tdaemon_config(d, "");
    tfile_write(d->cfg, text);
    free(text);
    rc = tctl(out, sizeof out, err, sizeof err, d->cfg, "stats", (char *)NULL);
    ck_assert_msg(rc == 2, "stats without metrics.listen: exit %d: %s", rc, err);
    tfix_stop_all();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    tfix_init(daemons, 1, redises, 1);
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, tfix_setup, tfix_reap);
    tcase_add_test(tc, counters_and_404);
    tcase_add_test(tc, bounds);
    tcase_add_test(tc, ctl_stats);
    tcase_add_test(tc, redis_round_trip);
    suite_add_tcase(s, tc);
    return tfix_run(s);
}
