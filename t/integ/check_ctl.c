/* check_ctl.c - outpostctl ($OUTPOSTCTL) as scripts use it: its output and
 * its exit codes (SPEC §8: 0 done, 1 refused, 2 usage or configuration
 * error, 3 unreachable), against a real outpostd ($OUTPOSTD) where a
 * command needs one.
 *
 * Each test that starts a daemon keeps it in a slot shared with Check's
 * runner, so that the unchecked teardown removes what a failed test left
 * (t/lib/tfix.h); a passing test stops it and wants exit status 0. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "../lib/tfix.h"

#define NSLOTS 1
#define TIMEOUT_S 60
#define DENY_TEXT "550 5.7.1 Sending refused by policy"
#define DENY_TEST_NET "\"lists\": {\"deny\": {\"clients\": [\"192.0.2.0/24\"]}},"

static struct tdaemon daemons[NSLOTS];  /* the test process's own (tfix.h) */

/* Output of the last ctl() run. */
static char out[8192], err[8192];

/* outpostctl ARGS... (NULL-terminated) into out and err. */
static int ctl(const char *a0, ...)
{
    va_list ap;
    va_start(ap, a0);
    int rc = tctl_v(out, sizeof out, err, sizeof err, NULL, a0, ap);
    va_end(ap);
    return rc;
}

static void expect_exit(int got, int want, const char *what)
{
    texpect_exit(got, want, what, out, err);
}

/* "PATH:LINE:COL:" in text, with the given line and a column >= 1. */
static void expect_location(const char *text, const char *path, int line, const char *what)
{
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s:", path);
    const char *p = strstr(text, prefix);
    ck_assert_msg(p != NULL, "%s: want \"%sLINE:COL: ...\"; got \"%s\"", what, prefix, text);
    char *end;
    long l = strtol(p + strlen(prefix), &end, 10);
    ck_assert_msg(*end == ':', "%s: no line after \"%s\" in \"%s\"", what, prefix, text);
    long c = strtol(end + 1, &end, 10);
    ck_assert_msg(*end == ':' && l == line && c >= 1, "%s: got location %ld:%ld, want "
                  "line %d and a column (in \"%s\")", what, l, c, line, text);
}

static const char bad_config[] =
    "{\n"
    "  \"listen\": [\"unix:/tmp/outpost-nowhere.sock\"],\n"
    "  \"idle_timeout\": \"0s\",\n"
    "  \"default_class\": \"standard\",\n"
    "  \"classes\": {\"standard\": {}}\n"
    "}\n";

/* ---- check-config */

START_TEST(test_check_config)
{
    struct tdaemon *d = &daemons[0];
    char bad[192];

    tdaemon_prepare(d, NULL, DENY_TEST_NET);
    tfix_track_daemon(d);
    expect_exit(ctl("check-config", d->cfg, NULL), 0, "check-config on a good file");
    ck_assert_msg(strstr(out, "ok") != NULL, "check-config on a good file: stdout "
                  "\"%s\", want it to say ok", out);

    snprintf(bad, sizeof bad, "%s/bad.json", d->dir);
    tfile_write(bad, bad_config);
    expect_exit(ctl("check-config", bad, NULL), 2, "check-config on a bad file");
    expect_location(err, bad, 3, "check-config on idle_timeout 0s");
    ck_assert_msg(strstr(err, "idle_timeout") != NULL, "check-config: want the message "
                  "to name idle_timeout; got \"%s\"", err);

    /* -c FILE is the default file of check-config */
    expect_exit(ctl("-c", bad, "check-config", NULL), 2, "-c BAD check-config");
    expect_exit(ctl("-c", d->cfg, "check-config", NULL), 0, "-c GOOD check-config");

    /* --json: an object scripts can read */
    expect_exit(ctl("--json", "check-config", bad, NULL), 2, "--json check-config bad");
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    ck_assert_msg(o != NULL && json_is_object(o), "--json check-config: stdout \"%s\" "
                  "is not a JSON object (%s)", out, je.text);
    json_t *ok = json_object_get(o, "ok");
    json_t *e = json_object_get(o, "error");
    bool good = json_is_false(ok) && json_is_string(e)
                && strstr(json_string_value(e), "idle_timeout") != NULL;
    json_decref(o);
    ck_assert_msg(good, "--json check-config bad: got %s, want \"ok\": false and an "
                  "\"error\" naming idle_timeout", out);

    expect_exit(ctl("check-config", "/nonexistent/outpost.json", NULL), 2,
                "check-config on a missing file");
}
END_TEST

/* ---- query */

START_TEST(test_query_dunno)
{
    struct tdaemon *d = &daemons[0];
    char ep[192];

    tfix_start_daemon(d, NULL, DENY_TEST_NET);
    snprintf(ep, sizeof ep, "unix:%s", d->sock);
    expect_exit(ctl("query", "--socket", ep, "sasl_username=alice", NULL), 0,
                "query sasl_username=alice");
    ck_assert_msg(strcmp(out, "DUNNO\n") == 0, "query sasl_username=alice: stdout \"%s\", "
                  "want \"DUNNO\\n\"", out);
    /* a bare PATH is an endpoint too */
    expect_exit(ctl("query", "--socket", d->sock, "sasl_username=alice", NULL), 0,
                "query --socket PATH");
    texpect_clean_stop(d);      /* then its log is complete */
    ck_assert_msg(tfile_contains(d->log, "account=\"alice\""), "the daemon's log has no "
                  "decision for account alice");
}
END_TEST

START_TEST(test_query_refused)
{
    struct tdaemon *d = &daemons[0];
    char ep[192];

    tfix_start_daemon(d, NULL, DENY_TEST_NET);
    snprintf(ep, sizeof ep, "unix:%s", d->sock);
    expect_exit(ctl("query", "--socket", ep, "client_address=192.0.2.9", NULL), 1,
                "query from a denied client");
    ck_assert_msg(strcmp(out, DENY_TEXT "\n") == 0, "query from a denied client: stdout "
                  "\"%s\", want \"%s\\n\"", out, DENY_TEXT);
    texpect_clean_stop(d);
}
END_TEST

START_TEST(test_query_json)
{
    struct tdaemon *d = &daemons[0];
    char ep[192];
    json_error_t je;

    tfix_start_daemon(d, NULL, DENY_TEST_NET);
    snprintf(ep, sizeof ep, "unix:%s", d->sock);
    expect_exit(ctl("--json", "query", "--socket", ep, "sasl_username=alice", NULL), 0,
                "--json query");
    json_t *o = json_loads(out, 0, &je);
    ck_assert_msg(o != NULL && json_is_object(o), "--json query: stdout \"%s\" is not a "
                  "JSON object (%s)", out, je.text);
    json_t *a = json_object_get(o, "action");
    bool good = json_is_string(a) && strcmp(json_string_value(a), "DUNNO") == 0
                && json_is_false(json_object_get(o, "refused"));
    json_decref(o);
    ck_assert_msg(good, "--json query: got %s, want \"action\": \"DUNNO\", \"refused\": "
                  "false", out);

    expect_exit(ctl("--json", "query", "--socket", ep, "client_address=192.0.2.9", NULL),
                1, "--json query from a denied client");
    o = json_loads(out, 0, &je);
    ck_assert_msg(o != NULL, "--json query: stdout \"%s\" is not JSON", out);
    a = json_object_get(o, "action");
    good = json_is_string(a) && strcmp(json_string_value(a), DENY_TEXT) == 0
           && json_is_true(json_object_get(o, "refused"));
    json_decref(o);
    ck_assert_msg(good, "--json query, denied: got %s, want \"action\": \"%s\", "
                  "\"refused\": true", out, DENY_TEXT);
    texpect_clean_stop(d);
}
END_TEST

START_TEST(test_query_config_endpoint)
{
    struct tdaemon *d = &daemons[0];

    tfix_start_daemon(d, NULL, DENY_TEST_NET);
    /* no --socket: the first "listen" entry of -c FILE */
    expect_exit(ctl("-c", d->cfg, "query", "sasl_username=carol", NULL), 0,
                "-c CFG query (no --socket)");
    ck_assert_msg(strcmp(out, "DUNNO\n") == 0, "-c CFG query: stdout \"%s\", want "
                  "\"DUNNO\\n\"", out);
    expect_exit(ctl("-c", d->cfg, "query", "client_address=192.0.2.9", NULL), 1,
                "-c CFG query from a denied client");
    texpect_clean_stop(d);      /* then its log is complete */
    ck_assert_msg(tfile_contains(d->log, "account=\"carol\""), "-c CFG query: the "
                  "daemon of that config logged no decision for carol");
}
END_TEST

START_TEST(test_query_unreachable)
{
    struct tdaemon *d = &daemons[0];
    char ep[192];

    tdaemon_prepare(d, NULL, "");           /* a directory, and no daemon */
    tfix_track_daemon(d);
    snprintf(ep, sizeof ep, "unix:%s", d->sock);
    expect_exit(ctl("query", "--socket", ep, "sasl_username=alice", NULL), 3,
                "query to a socket nobody listens on");
    ck_assert_msg(err[0] != '\0', "query, unreachable: want a message on stderr");
    expect_exit(ctl("-c", d->cfg, "query", "sasl_username=alice", NULL), 3,
                "-c CFG query, its daemon not running");

    /* a closed TCP port as well */
    expect_exit(ctl("query", "--socket", "inet:127.0.0.1:1", "sasl_username=a", NULL), 3,
                "query to a closed TCP port");
}
END_TEST

START_TEST(test_query_usage)
{
    struct tdaemon *d = &daemons[0];
    char ep[192];

    tfix_start_daemon(d, NULL, "");
    snprintf(ep, sizeof ep, "unix:%s", d->sock);
    expect_exit(ctl("query", "--socket", ep, "notanattr", NULL), 2, "query notanattr");
    ck_assert_msg(strstr(err, "notanattr") != NULL, "query notanattr: want stderr to "
                  "name the argument; got \"%s\"", err);
    expect_exit(ctl("query", "--socket", ep, "=value", NULL), 2, "query =value");
    expect_exit(ctl("query", "--socket", ep, "a=b\nc=d", NULL), 2,
                "query with a newline in an argument");
    expect_exit(ctl("frobnicate", NULL), 2, "an unknown command");
    expect_exit(ctl("--no-such-option", "query", NULL), 2, "an unknown option");
    texpect_clean_stop(d);      /* then its log is complete */
    /* none of these reached the daemon */
    ck_assert_msg(!tfile_contains(d->log, "decision conn="), "a refused command line "
                  "still sent a request");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ctl");

    tfix_init(daemons, NSLOTS, NULL, 0);

    tfix_add(s, "check_config", test_check_config, TIMEOUT_S, NULL);
    tfix_add(s, "query_dunno", test_query_dunno, TIMEOUT_S, NULL);
    tfix_add(s, "query_refused", test_query_refused, TIMEOUT_S, NULL);
    tfix_add(s, "query_json", test_query_json, TIMEOUT_S, NULL);
    tfix_add(s, "query_config_endpoint", test_query_config_endpoint, TIMEOUT_S, NULL);
    tfix_add(s, "query_unreachable", test_query_unreachable, TIMEOUT_S, NULL);
    tfix_add(s, "query_usage", test_query_usage, TIMEOUT_S, NULL);

    return tfix_run(s);
}
