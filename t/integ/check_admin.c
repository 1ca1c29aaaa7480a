/* check_admin.c - outpostctl's Redis commands ($OUTPOSTCTL), the outpost
 * Functions (policy/outpost.lua) and the decision script
 * (policy/decide.lua) against a private redis-server per test.
 *
 * What is checked is what doc/keys.md promises an operator: the exact keys
 * and fields (escaped account names included), that `redis-cli FCALL` with
 * the documented command line does what outpostctl does, the canonical
 * client form and clientlens counts, the rule order of decide.lua, the
 * classes, overrides, counter resets and the window arithmetic of
 * outpost_usage (doc/keys.md "Rate limits") as `show` reports them, sender
 * identities (grants on both sides of the ids/who pair, also after a
 * random sequence of changes, observed senders, adopt, bulk import),
 * verdicts and events (the exact verdict stream entry at and past each
 * bound, events filtered and followed until SIGTERM, the strikes window
 * of show, auto-suspensions, the documented outpostctl ACL user), and
 * outpostctl's exit codes (0 done, 1 refused or not found, 2 usage or
 * configuration error, 3 Redis unreachable or AUTH refused).
 *
 * Each test starts its own redis-server (tfix_start_redis(), t/lib/tfix.h)
 * and so copies its struct tredis into memory shared with Check's runner,
 * so that when an assertion ends the test process at once, the unchecked
 * teardown in the runner still stops that redis-server (by the PID it
 * started, after checking it is a redis-server) and removes its directory.
 * A passing test stops it itself (tfix_stop_all()).  Every wait loop is
 * bounded. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "../lib/tfix.h"
#include "sha1.h"

#define TIMEOUT_S 60
#define P "outpost:"
#define IDX P "{idx}:suspended"
#define EVENTS P "{events}"
#define MARKER P "{meta}:marker"

static struct tredis rs;                /* the test process's own (tfix.h) */
static char cfgpath[192];               /* the test's config file */

/* ---- helpers */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v != NULL, "%s is not set (run through make check)", name);
    return v;
}

/* Writes the test's config: Redis on rs.sock plus `redis_extra` inside the
 * "redis" object (may be "" or start with ", "), policy_dir $T_POLICY. */
static void write_config_addr(const char *address, const char *redis_extra)
{
    char text[2048];
    if (rs.dir[0] != '\0')             /* else the caller chose cfgpath */
        snprintf(cfgpath, sizeof cfgpath, "%s/outpost.json", rs.dir);
    snprintf(text, sizeof text,
             "{\n"
             "  \"redis\": {\"address\": \"%s\"%s},\n"
             "  \"policy_dir\": \"%s\",\n"
             "  \"default_class\": \"standard\",\n"
             "  \"classes\": {\"standard\": {}}\n"
             "}\n", address, redis_extra, env("T_POLICY"));
    tfile_write(cfgpath, text);
}

/* Classes with limits of every kind, for class/override/reset/show. */
#define CLASSES \
    "{\"standard\": {\"limits\": [" \
    "{\"name\": \"msgs\", \"count\": \"messages\", \"max\": 100, \"per\": \"1h\"}, " \
    "{\"name\": \"rcpts\", \"count\": \"recipients\", \"max\": 1000, \"per\": \"1d\"}, " \
    "{\"name\": \"ip\", \"key\": \"client_address\", \"max\": 50, \"per\": \"1h\"}]}, " \
    "\"bulk\": {\"limits\": [" \
    "{\"name\": \"msgs\", \"max\": 10000, \"per\": \"1h\"}, " \
    "{\"name\": \"bytes\", \"count\": \"bytes\", \"max\": 100000000, \"per\": \"1d\", " \
    "\"shadow\": true}, " \
    "{\"name\": \"dom\", \"key\": \"sender_domain\", \"max\": 500, \"per\": \"1h\", " \
    "\"action\": \"REJECT\"}]}, " \
    "\"anon\": {\"limits\": [" \
    "{\"name\": \"ip\", \"key\": \"client_address\", \"max\": 20, \"per\": \"1h\"}]}}"

/* The test's config with CLASSES (default standard, unauthenticated anon). */
static void write_config_limits(void)
{
    char text[4096];
    snprintf(cfgpath, sizeof cfgpath, "%s/outpost.json", rs.dir);
    snprintf(text, sizeof text,
             "{\n"
             "  \"redis\": {\"address\": \"unix:%s\"},\n"
             "  \"policy_dir\": \"%s\",\n"
             "  \"default_class\": \"standard\",\n"
             "  \"unauthenticated_class\": \"anon\",\n"
             "  \"classes\": %s\n"
             "}\n", rs.sock, env("T_POLICY"), CLASSES);
    tfile_write(cfgpath, text);
}

static void write_config(const char *redis_extra)
{
    char addr[160];
    snprintf(addr, sizeof addr, "unix:%s", rs.sock);
    write_config_addr(addr, redis_extra);
}

static char out[16384], err[8192];      /* of the last ctl() run */

/* outpostctl -c cfgpath ARGS... (NULL-terminated) into out and err. */
static int ctl(const char *a0, ...)
{
    va_list ap;
    va_start(ap, a0);
    int rc = tctl_v(out, sizeof out, err, sizeof err, cfgpath, a0, ap);
    va_end(ap);
    return rc;
}

static void expect_exit(int got, int want, const char *what)
{
    texpect_exit(got, want, what, out, err);
}

/* redis-cli ARGS... into a static buffer (trimmed). */
static char cli_out[16384];
#define CLI(...) (tredis_cli(&rs, cli_out, sizeof cli_out, __VA_ARGS__, (char *)NULL), \
                  cli_out)

static void expect_cli(const char *got, const char *want, const char *what)
{
    ck_assert_msg(strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"", what, got, want);
}

static json_t *parse(const char *text, const char *what)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    ck_assert_msg(j != NULL, "%s: \"%s\" is not JSON (%s)", what, text, je.text);
    return j;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sorts the lines of s in place (HKEYS output, order-free compare). */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sorted_lines(const char *in, char *outbuf, size_t cap)
{
    char *copy = strdup(in), *lines[64], *save = NULL;
    size_t n = 0;
    for (char *l = strtok_r(copy, "\n", &save); l != NULL && n < 64;
         l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    qsort(lines, n, sizeof lines[0], cmp_str);
    outbuf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strncat(outbuf, lines[i], cap - strlen(outbuf) - 2);
        strcat(outbuf, "\n");
    }
    free(copy);
}

/* ---- suspension */

START_TEST(test_suspend_record)
{
    tfix_start_redis(&rs, NULL);
    write_config("");
    long long t0 = now_ms();
    expect_exit(ctl("suspend", "Alice", "--reason", "phished password", "--by", "support1",
                    "--note", "ticket 42", NULL), 0, "suspend Alice");

    const char *k = P "{a:alice}:susp";
    expect_cli(CLI("HGET", k, "reason"), "phished password", "susp reason");
    expect_cli(CLI("HGET", k, "by"), "support1", "susp by");
    expect_cli(CLI("HGET", k, "until"), "0", "susp until");
    expect_cli(CLI("HGET", k, "note"), "ticket 42", "susp note");
    long long at = atoll(CLI("HGET", k, "at"));
    ck_assert_msg(at >= t0 - 5000 && at <= now_ms() + 5000, "susp at %lld: want Redis "
                  "TIME in ms (about %lld)", at, t0);
    expect_cli(CLI("HLEN", k), "5", "susp has 5 fields");
    expect_cli(CLI("PTTL", k), "-1", "an indefinite suspension has no TTL");
    expect_cli(CLI("ZSCORE", IDX, "alice"), "inf", "index score");
    expect_cli(CLI("LLEN", P "{a:alice}:audit"), "1", "audit length");
    json_t *a = parse(CLI("LINDEX", P "{a:alice}:audit", "0"), "audit entry");
    ck_assert_str_eq(json_string_value(json_object_get(a, "op")), "suspend");
    ck_assert_str_eq(json_string_value(json_object_get(a, "reason")), "phished password");
    ck_assert_str_eq(json_string_value(json_object_get(a, "by")), "support1");
    ck_assert_int_eq(json_integer_value(json_object_get(a, "at")), at);
    ck_assert_int_eq(json_integer_value(json_object_get(a, "until")), 0);
    json_decref(a);
    expect_cli(CLI("XLEN", EVENTS), "1", "events");
    CLI("XREVRANGE", EVENTS, "+", "-", "COUNT", "1");
    /* doc/keys.md "Events": v 1, type suspended (3a8ee74 renamed it) */
    ck_assert_msg(strstr(cli_out, "\nv\n1\ntype\nsuspended\naccount\nalice\njson\n{")
                  != NULL, "event fields: got \"%s\", want v 1, type suspended, account "
                  "alice, json", cli_out);

    /* suspending again replaces the record and says so in the audit */
    expect_exit(ctl("suspend", "alice", "--reason", "spam run", NULL), 0, "suspend again");
    expect_cli(CLI("HGET", k, "reason"), "spam run", "replaced reason");
    expect_cli(CLI("HGET", k, "note"), "", "replaced note");
    a = parse(CLI("LINDEX", P "{a:alice}:audit", "0"), "audit entry 2");
    ck_assert_int_eq(json_integer_value(json_object_get(a, "replaced")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(a, "old_reason")), "phished password");
    json_decref(a);
    tfix_stop_all();
}
END_TEST

START_TEST(test_fcall_same)
{
    tfix_start_redis(&rs, NULL);
    write_config("");
    expect_exit(ctl("suspend", "bob", "--reason", "phished password", "--by", "support1",
                    NULL), 0, "suspend bob");
    /* exactly the command line of doc/keys.md */
    CLI("FCALL", "outpost_suspend", "4", P "{a:carol}:susp", P "{a:carol}:audit",
        P "{idx}:suspended", P "{events}", "carol", "phished password", "support1", "0",
        "", "100000");
    ck_assert_msg(strchr(cli_out, '\n') != NULL && strstr(cli_out, "ERR") == NULL,
                  "FCALL outpost_suspend: got \"%s\", want at and until", cli_out);

    char fb[512], fc[512];
    sorted_lines(CLI("HKEYS", P "{a:bob}:susp"), fb, sizeof fb);
    sorted_lines(CLI("HKEYS", P "{a:carol}:susp"), fc, sizeof fc);
    ck_assert_str_eq(fb, fc);
    static const char *const same[] = { "reason", "by", "until", "note" };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        char vb[sizeof cli_out];
        memcpy(vb, CLI("HGET", P "{a:bob}:susp", same[i]), sizeof vb);
        expect_cli(CLI("HGET", P "{a:carol}:susp", same[i]), vb, same[i]);
    }
    expect_cli(CLI("ZSCORE", IDX, "carol"), "inf", "FCALL index entry");
    expect_cli(CLI("ZSCORE", IDX, "bob"), "inf", "outpostctl index entry");
    expect_cli(CLI("LLEN", P "{a:carol}:audit"), "1", "FCALL audit");
    expect_cli(CLI("XLEN", EVENTS), "2", "two events");

    /* and outpostctl sees the FCALL suspension like its own */
    expect_exit(ctl("show", "carol", NULL), 0, "show carol");
    ck_assert_msg(strstr(out, "suspended") && strstr(out, "phished password"),
                  "show carol: got \"%s\"", out);
    /* the documented reinstate line */
    expect_cli(CLI("FCALL", "outpost_reinstate", "4", P "{a:carol}:susp",
                   P "{a:carol}:audit", P "{idx}:suspended", P "{events}", "carol",
                   "support1", "password reset", "100000"), "1", "FCALL reinstate");
    expect_cli(CLI("EXISTS", P "{a:carol}:susp"), "0", "reinstated by FCALL");
    /* bad input is an error reply, nothing written */
    CLI("FCALL", "outpost_suspend", "4", P "{a:x}:susp", P "{a:x}:audit", IDX, EVENTS,
        "x", "r", "me", "-5", "", "100");
    ck_assert_msg(strncmp(cli_out, "ERR outpost:", 12) == 0, "FOR_MS -5: got \"%s\"",
                  cli_out);
    expect_cli(CLI("EXISTS", P "{a:x}:susp"), "0", "nothing written on bad input");
    /* keys that do not belong to the account (an unescaped name) */
    CLI("FCALL", "outpost_suspend", "4", P "{a:Jo Doe}:susp", P "{a:Jo Doe}:audit", IDX,
        EVENTS, "Jo Doe", "r", "me", "0", "", "100");
    ck_assert_msg(strncmp(cli_out, "ERR outpost:", 12) == 0
                  && strstr(cli_out, "{a:Jo%20Doe}:susp") != NULL,
                  "unescaped keys: got \"%s\", want an error naming the right key", cli_out);
    expect_cli(CLI("EXISTS", P "{a:Jo Doe}:susp"), "0", "nothing written for bad keys");
    CLI("FCALL", "outpost_list_add", "3", P "{lists}:deny:sender",
        P "{lists}:deny:clientlens", EVENTS, "deny", "client",
        "00000000000000000000ffffc0000200/120", "192.0.2.0/24", "me", "100");
    ck_assert_msg(strncmp(cli_out, "ERR outpost:", 12) == 0, "list kind and key differ: "
                  "got \"%s\"", cli_out);
    expect_cli(CLI("XLEN", EVENTS), "3", "no event for refused calls");
    tfix_stop_all();
}
END_TEST

START_TEST(test_suspend_expiry)
{
    tfix_start_redis(&rs, NULL);
    write_config("");
    expect_exit(ctl("suspend", "dave", "--reason", "cooling off", "--for", "1s", NULL), 0,
                "suspend --for 1s");
    long pttl = atol(CLI("PTTL", P "{a:dave}:susp"));
    ck_assert_msg(pttl > 0 && pttl <= 1000, "PTTL %ld, want 1..1000", pttl);
    const char *score = CLI("ZSCORE", IDX, "dave");
    ck_assert_msg(atoll(score) > 1000000000000LL && strstr(score, "inf") == NULL,
                  "index score \"%s\", want the expiry in ms", score);
    expect_exit(ctl("suspended", NULL), 0, "suspended");
    ck_assert_msg(strstr(out, "dave") != NULL, "suspended: want dave; got \"%s\"", out);

    bool gone = false;
    for (int i = 0; i < 30 && !gone; i++) {         /* 3 s at most */
        usleep(100000);
        expect_exit(ctl("--json", "suspended", NULL), 0, "suspended --json");
        gone = strstr(out, "dave") == NULL;
    }
    ck_assert_msg(gone, "dave still listed 3 s after a 1 s suspension: %s", out);
    expect_cli(CLI("EXISTS", P "{a:dave}:susp"), "0", "expired susp key");
    expect_cli(CLI("ZSCORE", IDX, "dave"), "", "pruned index entry");
    expect_exit(ctl("reinstate", "dave", NULL), 1, "reinstate an expired suspension");
    tfix_stop_all();
}
END_TEST

START_TEST(test_reinstate)
{
    tfix_start_redis(&rs, NULL);
    write_config("");
    expect_exit(ctl("suspend", "erin", "--reason", "r1", NULL), 0, "suspend erin");
    /* strikes collected before: a reinstated account starts from zero */
    CLI("ZADD", P "{a:erin}:strikes", "1", "1-0 1");
    expect_exit(ctl("reinstate", "erin", "--by", "support2", "--note", "reset", NULL), 0,
                "reinstate erin");
    expect_cli(CLI("EXISTS", P "{a:erin}:susp"), "0", "susp key gone");
    expect_cli(CLI("EXISTS", P "{a:erin}:strikes"), "0", "strikes gone");
    expect_cli(CLI("ZSCORE", IDX, "erin"), "", "index entry gone");
    expect_cli(CLI("LLEN", P "{a:erin}:audit"), "2", "audit entries");
    json_t *a = parse(CLI("LINDEX", P "{a:erin}:audit", "0"), "reinstate audit");
    ck_assert_str_eq(json_string_value(json_object_get(a, "op")), "reinstate");
    ck_assert_str_eq(json_string_value(json_object_get(a, "by")), "support2");
    ck_assert_str_eq(json_string_value(json_object_get(a, "note")), "reset");
    ck_assert_str_eq(json_string_value(json_object_get(a, "reason")), "r1");
    json_decref(a);
    expect_exit(ctl("reinstate", "erin", NULL), 1, "reinstate again");
    expect_cli(CLI("LLEN", P "{a:erin}:audit"), "2", "no audit for a no-op");
    expect_exit(ctl("--json", "reinstate", "erin", NULL), 1, "--json reinstate again");
    json_t *o = parse(out, "--json reinstate");
    ck_assert(json_is_false(json_object_get(o, "reinstated")));
    json_decref(o);
    expect_cli(CLI("XLEN", EVENTS), "2", "events: suspend, reinstate");
    tfix_stop_all();
}
END_TEST

START_TEST(test_suspended_list)
{
    tfix_start_redis(&rs, NULL);
    write_config("");
    expect_exit(ctl("suspended", NULL), 0, "suspended, none");
    ck_assert_msg(strstr(out, "no account") != NULL, "suspended, none: got \"%s\"", out);
    expect_exit(ctl("suspend", "alice", "--reason", "phished password", "--by", "support1",
                    NULL), 0, "suspend alice");
    expect_exit(ctl("suspend", "frank", "--reason", "bulk spam", "--for", "2h", NULL), 0,
                "suspend frank");
    expect_exit(ctl("suspended", NULL), 0, "suspended");
    ck_assert_msg(strstr(out, "alice") && strstr(out, "phished password")
                  && strstr(out, "ago by support1") && strstr(out, "until reinstated")
                  && strstr(out, "frank") && strstr(out, "bulk spam"),
                  "suspended: got \"%s\"", out);
    expect_exit(ctl("suspended", "--json", NULL), 0, "suspended --json");
    json_t *arr = parse(out, "suspended --json");
    ck_assert_msg(json_is_array(arr) && json_array_size(arr) == 2, "want 2: %s", out);
    size_t i;
    json_t *e;
    int seen = 0;
    json_array_foreach(arr, i, e) {
        const char *acc = json_string_value(json_object_get(e, "account"));
        ck_assert_ptr_nonnull(acc);
        ck_assert(json_is_integer(json_object_get(e, "at")));
        ck_assert(json_is_integer(json_object_get(e, "until")));
        if (strcmp(acc, "alice") == 0) {
            ck_assert_str_eq(json_string_value(json_object_get(e, "reason")),
                             "phished password");
            ck_assert_int_eq(json_integer_value(json_object_get(e, "until")), 0);
            seen |= 1;
        } else if (strcmp(acc, "frank") == 0) {
            ck_assert_int_gt(json_integer_value(json_object_get(e, "until")), 0);
            seen |= 2;
        }
    }
    json_decref(arr);
    ck_assert_int_eq(seen, 3);

    /* show: the suspension, the audit trail; an unknown account is fine */
    expect_exit(ctl("show", "ALICE", NULL), 0, "show ALICE");
    ck_assert_msg(strstr(out, "alice: suspended") && strstr(out, "audit"),
                  "show: got \"%s\"", out);
    expect_exit(ctl("show", "nobody-here", NULL), 0, "show unknown");
    ck_assert_msg(strstr(out, "not suspended") != NULL, "show unknown: got \"%s\"", out);
    expect_exit(ctl("--json", "show", "alice", NULL), 0, "show --json");
    json_t *o = parse(out, "show --json");
    ck_assert(json_is_true(json_object_get(o, "suspended")));
    ck_assert_int_eq(json_array_size(json_object_get(o, "audit")), 1);
    json_decref(o);
    tfix_stop_all();
}
END_TEST

/* ---- lists */

static void check_lists(const char *l)
{
    char key[128], lens[128], what[128];
    snprintf(lens, sizeof lens, P "{lists}:%s:clientlens", l);

    snprintf(what, sizeof what, "%s add account", l);
    expect_exit(ctl(l, "add", "account", " Carol ", "--by", "ops1", NULL), 0, what);
    snprintf(key, sizeof key, P "{lists}:%s:account", l);
    json_t *v = parse(CLI("HGET", key, "carol"), "account entry");
    ck_assert_str_eq(json_string_value(json_object_get(v, "by")), "ops1");
    ck_assert(json_is_integer(json_object_get(v, "at")));
    json_decref(v);

    snprintf(key, sizeof key, P "{lists}:%s:client", l);
    expect_exit(ctl(l, "add", "client", "192.0.2.0/24", NULL), 0, "add 192.0.2.0/24");
    v = parse(CLI("HGET", key, "00000000000000000000ffffc0000200/120"), "client entry");
    ck_assert_str_eq(json_string_value(json_object_get(v, "text")), "192.0.2.0/24");
    json_decref(v);
    expect_cli(CLI("HGET", lens, "120"), "1", "clientlens 120 after one");
    expect_exit(ctl(l, "add", "client", "192.0.2.77/24", NULL), 1,
                "the same network again (already present)");
    expect_cli(CLI("HGET", lens, "120"), "1", "clientlens unchanged by a duplicate");
    expect_exit(ctl(l, "add", "client", "198.51.100.0/24", NULL), 0, "add 198.51.100.0/24");
    expect_cli(CLI("HGET", lens, "120"), "2", "clientlens 120 after two");
    expect_exit(ctl(l, "add", "client", "2001:DB8::/32", NULL), 0, "add 2001:db8::/32");
    expect_cli(CLI("HEXISTS", key, "20010db8000000000000000000000000/32"), "1", "v6 field");
    expect_cli(CLI("HGET", lens, "32"), "1", "clientlens 32");
    expect_exit(ctl(l, "add", "client", "2001:db8::1", NULL), 0, "add a v6 host");
    expect_cli(CLI("HEXISTS", key, "20010db8000000000000000000000001/128"), "1",
               "v6 host field");
    expect_exit(ctl(l, "add", "client", "192.0.2.0/33", NULL), 2, "bad CIDR /33");
    expect_exit(ctl(l, "add", "client", "not-an-ip", NULL), 2, "not an address");
    expect_exit(ctl(l, "add", "colour", "red", NULL), 2, "bad kind");

    snprintf(key, sizeof key, P "{lists}:%s:sender", l);
    expect_exit(ctl(l, "add", "sender", "<Bob@Example.COM>", NULL), 0, "add sender");
    expect_cli(CLI("HEXISTS", key, "bob@example.com"), "1", "sender field");
    snprintf(key, sizeof key, P "{lists}:%s:domain", l);
    expect_exit(ctl(l, "add", "domain", ".Example.NET", NULL), 0, "add .domain");
    expect_cli(CLI("HEXISTS", key, ".example.net"), "1", "domain field");

    expect_exit(ctl(l, "list", NULL), 0, "list");
    ck_assert_msg(strstr(out, "192.0.2.0/24") && strstr(out, "carol")
                  && strstr(out, "bob@example.com") && strstr(out, ".example.net"),
                  "%s list: got \"%s\"", l, out);
    expect_exit(ctl("--json", l, "list", NULL), 0, "list --json");
    json_t *o = parse(out, "list --json");
    ck_assert_int_eq(json_array_size(json_object_get(o, "account")), 1);
    ck_assert_int_eq(json_array_size(json_object_get(o, "client")), 4);
    ck_assert_int_eq(json_array_size(json_object_get(o, "sender")), 1);
    ck_assert_int_eq(json_array_size(json_object_get(o, "domain")), 1);
    json_decref(o);

    /* removal: counts go down, the length field disappears at 0 */
    snprintf(key, sizeof key, P "{lists}:%s:client", l);
    expect_exit(ctl(l, "remove", "client", "192.0.2.0/24", NULL), 0, "remove /24");
    expect_cli(CLI("HGET", lens, "120"), "1", "clientlens 120 after a removal");
    expect_exit(ctl(l, "remove", "client", "198.51.100.0/24", NULL), 0, "remove 2nd /24");
    expect_cli(CLI("HEXISTS", lens, "120"), "0", "clientlens 120 gone at 0");
    expect_cli(CLI("HGET", lens, "32"), "1", "clientlens 32 untouched");
    expect_exit(ctl(l, "remove", "client", "198.51.100.0/24", NULL), 1, "remove absent");
    expect_exit(ctl(l, "remove", "sender", "nobody@example.com", NULL), 1,
                "remove absent sender");
    expect_exit(ctl(l, "remove", "account", "CAROL", NULL), 0, "remove account");
    snprintf(key, sizeof key, P "{lists}:%s:account", l);
    expect_cli(CLI("EXISTS", key), "0", "account list empty");
    expect_exit(ctl(l, "remove", "sender", "bob@example.com", NULL), 0, "remove sender");
    expect_exit(ctl(l, "remove", "domain", ".example.net", NULL), 0, "remove domain");
}

START_TEST(test_lists)
{
    tfix_start_redis(&rs, NULL);
    write_config("");
    check_lists("deny");
    check_lists("allow");
    /* list entries for other kinds never touch clientlens */
    sorted_lines(CLI("HKEYS", P "{lists}:deny:clientlens"), out, sizeof out);
    ck_assert_str_eq(out, "128\n32\n");
    /* 2 lists x (7 adds + 5 removes); refused ones write nothing */
    expect_cli(CLI("XLEN", EVENTS), "24", "one event per change");
    expect_exit(ctl("deny", "add", "client", NULL), 2, "deny add without a value");
    expect_exit(ctl("deny", "frobnicate", NULL), 2, "deny with a bad verb");
    tfix_stop_all();
}
END_TEST

/* ---- decide.lua */

static char *decide_body;

/* FCALL of decide.lua's Function (FUNCTION LOAD of decide_body first,
 * in test_decide) with the keys of the given (escaped) account key part,
 * at RCPT, with a configuration text without classes or limits (doc/keys.md
 * "The decision Function": then an admitted request answers "ok", class
 * "", counted "0", and a suspension carries the default action R). */
static const char *decide(const char *esc_account, const char *account, const char *hex,
                          const char *sender, const char *domain, const char *flags)
{
    char susp[300], acct[300], eom[300];
    snprintf(susp, sizeof susp, P "{a:%s}:susp", esc_account);
    snprintf(acct, sizeof acct, P "{a:%s}:acct", esc_account);
    snprintf(eom, sizeof eom, P "{a:%s}:eom:i:q", esc_account);
    char id[41];
    sha1_hex("outpost-decide 2\n", 17, id);
    return CLI("FCALL", tdecide_fn(), "13", susp,
               P "{lists}:allow:account", P "{lists}:allow:client",
               P "{lists}:allow:clientlens", P "{lists}:allow:sender",
               P "{lists}:allow:domain",
               P "{lists}:deny:account", P "{lists}:deny:client",
               P "{lists}:deny:clientlens", P "{lists}:deny:sender",
               P "{lists}:deny:domain", acct, eom,
               account, hex, sender, domain, flags, "", "1", "1", "0", "", id, "", "",
               "outpost-decide 2\n");
}

#define OK "ok\n\n0"               /* admitted, no class, not counted */

#define V4(h) "00000000000000000000ffff" h
#define NOHEX ""

START_TEST(test_decide)
{
    char path[512];
    tfix_start_redis(&rs, NULL);
    write_config("");
    snprintf(path, sizeof path, "%s/decide.lua", env("T_POLICY"));
    decide_body = tfile_read(path);
    ck_assert_msg(decide_body != NULL, "cannot read %s", path);
    CLI("FUNCTION", "LOAD", "REPLACE", decide_body);
    ck_assert_msg(strcmp(cli_out, tdecide_fn()) == 0, "FUNCTION LOAD decide.lua: got \"%s\"",
                  tvis(cli_out));

    /* empty lists */
    expect_cli(decide("alice", "alice", V4("0a000001"), "a@b.example", "b.example", ""),
               OK, "empty lists");

    /* deny client v4 /24 (120), /21 (117, odd), v6 /32 */
    expect_exit(ctl("deny", "add", "client", "192.0.2.0/24", NULL), 0, "deny /24");
    expect_exit(ctl("deny", "add", "client", "198.51.96.0/21", NULL), 0, "deny /21");
    expect_exit(ctl("deny", "add", "client", "2001:db8::/32", NULL), 0, "deny v6 /32");
    expect_cli(decide("alice", "alice", V4("c0000237"), "", "", ""),
               "deny:client\n" V4("c0000200") "/120", "192.0.2.55 in /24");
    expect_cli(decide("alice", "alice", V4("c0000301"), "", "", ""), OK,
               "192.0.3.1 outside /24");
    expect_cli(decide("alice", "alice", V4("c63367ff"), "", "", ""),
               "deny:client\n" V4("c6336000") "/117", "198.51.103.255 in /21");
    expect_cli(decide("alice", "alice", V4("c6336000"), "", "", ""),
               "deny:client\n" V4("c6336000") "/117", "198.51.96.0 in /21");
    expect_cli(decide("alice", "alice", V4("c6336801"), "", "", ""), OK,
               "198.51.104.1 outside /21");
    expect_cli(decide("alice", "alice", V4("c6335fff"), "", "", ""), OK,
               "198.51.95.255 outside /21");
    expect_cli(decide("", "", "20010db8ffff00000000000000000001", "", "", ""),
               "deny:client\n20010db8000000000000000000000000/32", "2001:db8:ffff::1");
    expect_cli(decide("", "", "20010db9000000000000000000000001", "", "", ""), OK,
               "2001:db9::1");
    expect_cli(decide("", "", NOHEX, "", "", ""), OK, "no client address");

    /* allow beats deny: a /128 inside a denied /24; an account on both */
    expect_exit(ctl("allow", "add", "client", "192.0.2.7", NULL), 0, "allow host");
    expect_cli(decide("alice", "alice", V4("c0000207"), "", "", ""), "allow:client",
               "allowed host in denied net");
    expect_exit(ctl("deny", "add", "account", "mallory", NULL), 0, "deny mallory");
    expect_cli(decide("mallory", "mallory", NOHEX, "", "", ""), "deny:account\nmallory",
               "denied account");
    expect_exit(ctl("allow", "add", "account", "mallory", NULL), 0, "allow mallory");
    expect_cli(decide("mallory", "mallory", V4("c0000237"), "", "", ""), "allow:account",
               "allowed account beats denied client");

    /* sender / domain allow entries: unauthenticated only */
    expect_exit(ctl("allow", "add", "sender", "good@example.org", NULL), 0, "allow sender");
    expect_exit(ctl("deny", "add", "domain", "example.org", NULL), 0, "deny domain");
    expect_cli(decide("", "", NOHEX, "good@example.org", "example.org", ""),
               "allow:sender", "unauthenticated allowed sender");
    expect_cli(decide("bob", "bob", NOHEX, "good@example.org", "example.org", ""),
               "deny:domain\nexample.org", "authenticated: the allow sender is ignored");
    expect_exit(ctl("allow", "add", "domain", ".trusted.test", NULL), 0, "allow .domain");
    expect_cli(decide("", "", NOHEX, "x@mail.trusted.test", "mail.trusted.test", ""),
               "allow:domain", "allowed parent domain, unauthenticated");
    expect_cli(decide("bob", "bob", NOHEX, "x@mail.trusted.test", "mail.trusted.test", ""),
               OK, "allowed domain ignored when authenticated");

    /* parent-domain deny entries match subdomains, not the domain itself */
    expect_exit(ctl("deny", "add", "domain", ".example.net", NULL), 0, "deny .example.net");
    expect_cli(decide("bob", "bob", NOHEX, "x@a.b.example.net", "a.b.example.net", ""),
               "deny:domain\n.example.net", "deep subdomain");
    expect_cli(decide("bob", "bob", NOHEX, "x@example.net", "example.net", ""), OK,
               ".example.net does not match example.net");
    expect_exit(ctl("deny", "add", "sender", "spam@x.test", NULL), 0, "deny sender");
    expect_cli(decide("bob", "bob", NOHEX, "spam@x.test", "x.test", ""),
               "deny:sender\nspam@x.test", "denied sender, authenticated");

    /* the static deny flag: after the allow list, before everything else */
    expect_cli(decide("bob", "bob", NOHEX, "", "", "d"), "deny:static", "flag d");
    expect_cli(decide("mallory", "mallory", NOHEX, "", "", "d"), "allow:account",
               "flag d, allowed account");

    /* suspension: a name that needs escaping, set by outpostctl */
    expect_exit(ctl("suspend", "A}b c", "--reason", "phished", NULL), 0, "suspend a}b c");
    expect_cli(decide("a%7Db%20c", "a}b c", NOHEX, "", "", ""), "suspended\nphished\n0\nR",
               "suspended until reinstated");
    expect_cli(decide("bob", "bob", NOHEX, "", "", ""), OK, "bob not suspended");
    /* until in the past (a record without TTL, as after a late expiry) */
    char past[32], future[32];
    snprintf(past, sizeof past, "%lld", now_ms() - 60000);
    snprintf(future, sizeof future, "%lld", now_ms() + 3600000);
    CLI("HSET", P "{a:old}:susp", "reason", "r", "by", "x", "at", "1", "until", past,
        "note", "");
    expect_cli(decide("old", "old", NOHEX, "", "", ""), OK, "expired suspension");
    CLI("HSET", P "{a:old}:susp", "until", future);
    char want[64];
    snprintf(want, sizeof want, "suspended\nr\n%s\nR", future);
    expect_cli(decide("old", "old", NOHEX, "", "", ""), want, "suspension until later");
    CLI("HSET", P "{a:old}:susp", "until", "0");
    expect_cli(decide("old", "old", NOHEX, "", "", ""), "suspended\nr\n0\nR", "until 0");
    /* a deny entry decides before the suspension */
    expect_cli(decide("a%7Db%20c", "a}b c", NOHEX, "spam@x.test", "x.test", ""),
               "deny:sender\nspam@x.test", "deny before suspension");

    /* the configuration: asked for when not kept (before anything is read
     * or written), checked against its SHA-1, parsed; errors, not decisions */
#define DECIDE_CFG(id, ...) CLI("FCALL", tdecide_fn(), "13", P "{a:old}:susp", \
        P "{lists}:allow:account", P "{lists}:allow:client", \
        P "{lists}:allow:clientlens", P "{lists}:allow:sender", \
        P "{lists}:allow:domain", P "{lists}:deny:account", \
        P "{lists}:deny:client", P "{lists}:deny:clientlens", \
        P "{lists}:deny:sender", P "{lists}:deny:domain", \
        P "{a:old}:acct", P "{a:old}:acct", \
        "old", "", "", "", "r", "", "1", "1", "0", "", id, "", "" __VA_ARGS__)
    char id1[41], id2[41];
    sha1_hex("outpost-decide 1\n", 17, id1);
    sha1_hex("outpost-decide 2\nc\tx\t0\tR\n", 25, id2);
    DECIDE_CFG(id2);
    ck_assert_msg(strncmp(cli_out, "OUTPOSTCFG", 10) == 0,
                  "a configuration not kept, without its text: got \"%s\"", tvis(cli_out));
    DECIDE_CFG(id2, , "outpost-decide 2\nc\tx\t0\tS\n");
    ck_assert_msg(strstr(cli_out, "not the one of its SHA-1") != NULL,
                  "a text that is not the SHA-1's: got \"%s\", want the error", tvis(cli_out));
    DECIDE_CFG(id1, , "outpost-decide 1\n");
    ck_assert_msg(strstr(cli_out, "configuration text: the first line") != NULL,
                  "a text of another layout: got \"%s\", want the error", tvis(cli_out));
    expect_cli(DECIDE_CFG(id2, , "outpost-decide 2\nc\tx\t0\tR\n"), "suspended\nr\n0\nR",
               "a configuration sent with its SHA-1");
    expect_cli(DECIDE_CFG(id2), "suspended\nr\n0\nR", "the same, kept: no text needed");
#undef DECIDE_CFG
    free(decide_body);
    decide_body = NULL;
    tfix_stop_all();
}
END_TEST

/* ---- classes, overrides, counters */

#define ACCT(a) P "{a:" a "}:acct"
#define AUDIT(a) P "{a:" a "}:audit"
#define RL(a, l) P "{a:" a "}:rl:" l

/* The newest audit entry of an account key (decoded; caller frees). */
static json_t *last_audit(const char *key)
{
    return parse(CLI("LINDEX", key, "0"), key);
}

static long long redis_now_ms(void)
{
    long long sec = 0, usec = 0;
    ck_assert_msg(sscanf(CLI("TIME"), "%lld\n%lld", &sec, &usec) == 2, "TIME: \"%s\"",
                  cli_out);
    return sec * 1000 + usec / 1000;
}

static long long jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_integer(v), "\"%s\" is not an integer in %s", key,
                  json_dumps(o, JSON_COMPACT));
    return (long long)json_integer_value(v);
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    ck_assert_msg(v != NULL, "\"%s\" is not a string", key);
    return v;
}

/* The limit called name in a `show --json` object. */
static json_t *limit_of(json_t *show, const char *name)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(show, "limits"), i, l)
        if (strcmp(json_string_value(json_object_get(l, "name")), name) == 0)
            return l;
    ck_abort_msg("show: no limit %s", name);
    return NULL;
}

/* The line of out that contains what (copied into line). */
static const char *line_with(const char *text, const char *what, char *line, size_t cap)
{
    const char *p = strstr(text, what);
    ck_assert_msg(p != NULL, "want \"%s\" in:\n%s", what, text);
    const char *b = p, *e = strchr(p, '\n');
    while (b > text && b[-1] != '\n')
        b--;
    size_t n = e ? (size_t)(e - b) : strlen(b);
    n = n < cap - 1 ? n : cap - 1;
    memcpy(line, b, n);
    line[n] = '\0';
    return line;
}

START_TEST(test_class)
{
    tfix_start_redis(&rs, NULL);
    write_config_limits();
    expect_exit(ctl("class", "Alice", NULL), 0, "class, none stored");
    ck_assert_msg(strcmp(out, "alice: (default: standard)\n") == 0, "class: got \"%s\"", out);
    expect_exit(ctl("class", "Alice", "bulk", "--by", "support1", NULL), 0, "class bulk");
    expect_cli(CLI("HGET", ACCT("alice"), "class"), "bulk", "class field");
    expect_cli(CLI("HLEN", ACCT("alice")), "1", "acct has only class");
    json_t *a = last_audit(AUDIT("alice"));
    ck_assert_str_eq(jstr(a, "op"), "class");
    ck_assert_str_eq(jstr(a, "class"), "bulk");
    ck_assert_str_eq(jstr(a, "old_class"), "");
    ck_assert_str_eq(jstr(a, "by"), "support1");
    ck_assert(jint(a, "at") > 1000000000000LL);
    json_decref(a);
    CLI("XREVRANGE", EVENTS, "+", "-", "COUNT", "1");
    ck_assert_msg(strstr(cli_out, "\nclass\naccount\nalice\njson\n{") != NULL,
                  "class event: got \"%s\"", cli_out);
    expect_exit(ctl("class", "alice", NULL), 0, "class get");
    ck_assert_str_eq(out, "alice: bulk\n");
    expect_exit(ctl("--json", "class", "alice", NULL), 0, "class --json");
    json_t *o = parse(out, "class --json");
    ck_assert_str_eq(jstr(o, "class"), "bulk");
    ck_assert(json_is_false(json_object_get(o, "class_default")));
    json_decref(o);

    /* a class the configuration does not have; CLASS and --default */
    expect_exit(ctl("class", "alice", "gold", NULL), 2, "unknown class");
    ck_assert_msg(strstr(err, "gold") && strstr(err, "standard"), "stderr: %s", err);
    expect_exit(ctl("class", "alice", "bulk", "--default", NULL), 2, "CLASS and --default");
    expect_exit(ctl("class", "alice", "--default=x", NULL), 2, "--default takes no value");
    expect_cli(CLI("HGET", ACCT("alice"), "class"), "bulk", "unchanged by refusals");
    expect_cli(CLI("XLEN", EVENTS), "1", "no event for refusals");

    /* back to the default */
    expect_exit(ctl("class", "alice", "--default", NULL), 0, "class --default");
    expect_cli(CLI("EXISTS", ACCT("alice")), "0", "class field removed");
    a = last_audit(AUDIT("alice"));
    ck_assert_str_eq(jstr(a, "class"), "");
    ck_assert_str_eq(jstr(a, "old_class"), "bulk");
    json_decref(a);
    expect_exit(ctl("--json", "class", "alice", NULL), 0, "class --json, default");
    o = parse(out, "class --json default");
    ck_assert_str_eq(jstr(o, "class"), "standard");
    ck_assert(json_is_true(json_object_get(o, "class_default")));
    json_decref(o);
    expect_exit(ctl("--json", "show", "alice", NULL), 0, "show --json");
    o = parse(out, "show --json");
    ck_assert_str_eq(jstr(o, "class"), "standard");
    ck_assert(json_is_true(json_object_get(o, "class_default")));
    json_decref(o);

    /* the documented FCALL line; a key of the wrong account */
    expect_cli(CLI("FCALL", "outpost_class", "3", ACCT("carol"), AUDIT("carol"), EVENTS,
                   "carol", "bulk", "support1", "100000"), "1", "FCALL outpost_class");
    expect_exit(ctl("class", "carol", NULL), 0, "class carol");
    ck_assert_str_eq(out, "carol: bulk\n");
    CLI("FCALL", "outpost_class", "3", ACCT("Jo Doe"), AUDIT("Jo Doe"), EVENTS, "Jo Doe",
        "bulk", "x", "100");
    ck_assert_msg(strncmp(cli_out, "ERR outpost:", 12) == 0
                  && strstr(cli_out, "{a:Jo%20Doe}:acct"), "bad keys: \"%s\"", cli_out);
    CLI("FCALL", "outpost_class", "3", ACCT("carol"), AUDIT("carol"), EVENTS, "carol",
        "no spaces", "x", "100");
    ck_assert_msg(strncmp(cli_out, "ERR outpost:", 12) == 0, "bad class: \"%s\"", cli_out);

    /* a stored class the configuration does not have: default_class applies */
    CLI("HSET", ACCT("dave"), "class", "legacy");
    expect_exit(ctl("class", "dave", NULL), 0, "class dave");
    ck_assert_msg(strstr(out, "legacy") && strstr(out, "default: standard"), "got %s", out);
    expect_exit(ctl("--json", "show", "dave", NULL), 0, "show dave");
    o = parse(out, "show dave");
    ck_assert_str_eq(jstr(o, "class"), "standard");
    ck_assert_str_eq(jstr(o, "class_stored"), "legacy");
    json_decref(o);
    tfix_stop_all();
}
END_TEST

START_TEST(test_override)
{
    tfix_start_redis(&rs, NULL);
    write_config_limits();
    expect_exit(ctl("override", "alice", "msgs", "5", "--by", "support1", NULL), 0,
                "override msgs 5");
    ck_assert_str_eq(out, "alice: msgs max 5 until removed\n");
    expect_cli(CLI("HGET", ACCT("alice"), "ovr:msgs"), "5", "ovr field");
    expect_cli(CLI("HEXISTS", ACCT("alice"), "ovr_until:msgs"), "0", "no expiry");
    json_t *a = last_audit(AUDIT("alice"));
    ck_assert_str_eq(jstr(a, "op"), "override");
    ck_assert_str_eq(jstr(a, "limit"), "msgs");
    ck_assert_int_eq(jint(a, "max"), 5);
    ck_assert_int_eq(jint(a, "until"), 0);
    json_decref(a);
    expect_exit(ctl("--json", "show", "alice", NULL), 0, "show");
    json_t *o = parse(out, "show");
    json_t *l = limit_of(o, "msgs");
    ck_assert_int_eq(jint(l, "max"), 5);
    ck_assert_int_eq(jint(l, "class_max"), 100);
    ck_assert_int_eq(jint(json_object_get(l, "override"), "until"), 0);
    json_decref(o);

    /* with an expiry, then without again */
    long long t0 = redis_now_ms();
    expect_exit(ctl("--json", "override", "alice", "msgs", "6", "--for", "1h", NULL), 0,
                "override --for 1h");
    o = parse(out, "override --json");
    long long until = jint(o, "until");
    ck_assert_int_eq(jint(o, "max"), 6);
    json_decref(o);
    ck_assert_msg(until >= t0 + 3600000 && until <= t0 + 3600000 + 5000, "until %lld", until);
    ck_assert_int_eq(atoll(CLI("HGET", ACCT("alice"), "ovr_until:msgs")), until);
    a = last_audit(AUDIT("alice"));
    ck_assert_int_eq(jint(a, "until"), until);
    ck_assert_int_eq(jint(a, "old_max"), 5);
    json_decref(a);
    expect_exit(ctl("override", "alice", "msgs", "7", NULL), 0, "override, no expiry");
    expect_cli(CLI("HEXISTS", ACCT("alice"), "ovr_until:msgs"), "0", "expiry removed");

    /* MAX: 0 (blocks) .. 2^53-1 */
    expect_exit(ctl("override", "alice", "rcpts", "0", NULL), 0, "MAX 0");
    expect_exit(ctl("--json", "show", "alice", NULL), 0, "show");
    o = parse(out, "show");
    ck_assert_int_eq(jint(limit_of(o, "rcpts"), "max"), 0);
    ck_assert_int_eq(jint(limit_of(o, "rcpts"), "remaining"), 0);
    json_decref(o);
    expect_exit(ctl("override", "alice", "rcpts", "9007199254740991", NULL), 0, "2^53-1");
    expect_cli(CLI("HGET", ACCT("alice"), "ovr:rcpts"), "9007199254740991", "exact");
    a = last_audit(AUDIT("alice"));
    ck_assert(jint(a, "max") == 9007199254740991LL);
    json_decref(a);
    static const char *const bad[] = { "-1", "1.5", "abc", "9007199254740992", "", "1e3" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_exit(ctl("override", "alice", "msgs", bad[i], NULL), 2, bad[i]);
    expect_exit(ctl("override", "alice", "nope", "5", NULL), 2, "unknown limit");
    ck_assert_msg(strstr(err, "nope") != NULL, "stderr: %s", err);
    expect_exit(ctl("override", "alice", "msgs", "5", "--clear", NULL), 2, "MAX and --clear");
    expect_exit(ctl("override", "alice", "msgs", "--clear", "--for", "1h", NULL), 2,
                "--clear --for");
    expect_exit(ctl("override", "alice", "msgs", NULL), 2, "no MAX");
    expect_exit(ctl("override", "alice", "msgs", "5", "--for", "ever", NULL), 2, "--for ever");
    expect_exit(ctl("override", "alice", "msgs", "5", "--for", "36501d", NULL), 2,
                "more than 100 years");
    expect_cli(CLI("HGET", ACCT("alice"), "ovr:msgs"), "7", "unchanged by refusals");
    /* a limit of another class is still a limit: the override waits */
    expect_exit(ctl("override", "alice", "bytes", "9", NULL), 0, "limit of class bulk");
    expect_exit(ctl("show", "alice", NULL), 0, "show");
    ck_assert_msg(strstr(out, "override of bytes: 9") && strstr(out, "not a limit of this"),
                  "show: %s", out);

    /* clear */
    long long nev = atoll(CLI("XLEN", EVENTS));
    expect_exit(ctl("override", "alice", "msgs", "--clear", "--by", "support2", NULL), 0,
                "clear");
    expect_cli(CLI("HEXISTS", ACCT("alice"), "ovr:msgs"), "0", "ovr cleared");
    a = last_audit(AUDIT("alice"));
    ck_assert_str_eq(jstr(a, "op"), "override_clear");
    ck_assert_int_eq(jint(a, "old_max"), 7);
    ck_assert_str_eq(jstr(a, "by"), "support2");
    json_decref(a);
    expect_exit(ctl("override", "alice", "msgs", "--clear", NULL), 1, "clear again");
    ck_assert_msg(strstr(err, "no override") != NULL, "stderr: %s", err);
    expect_exit(ctl("--json", "override", "alice", "msgs", "--clear", NULL), 1,
                "--json clear again");
    o = parse(out, "clear --json");
    ck_assert(json_is_false(json_object_get(o, "cleared")));
    json_decref(o);
    char want[32];
    snprintf(want, sizeof want, "%lld", nev + 1);
    expect_cli(CLI("XLEN", EVENTS), want, "one event for the one clear");

    /* an expiring override: gone from show within 3 s of its 1 s */
    expect_exit(ctl("override", "alice", "msgs", "7", "--for", "1s", NULL), 0, "--for 1s");
    expect_exit(ctl("--json", "show", "alice", NULL), 0, "show");
    o = parse(out, "show");
    ck_assert_int_eq(jint(limit_of(o, "msgs"), "max"), 7);
    json_decref(o);
    bool gone = false;
    for (int i = 0; i < 30 && !gone; i++) {
        usleep(100000);
        expect_exit(ctl("--json", "show", "alice", NULL), 0, "show");
        o = parse(out, "show");
        l = limit_of(o, "msgs");
        gone = jint(l, "max") == 100 && json_object_get(l, "override") == NULL
               && json_object_get(json_object_get(o, "overrides"), "msgs") == NULL;
        json_decref(o);
    }
    ck_assert_msg(gone, "override still shown 3 s after a 1 s override: %s", out);
    expect_exit(ctl("override", "alice", "msgs", "--clear", NULL), 1, "clear an expired one");
    expect_cli(CLI("HEXISTS", ACCT("alice"), "ovr:msgs"), "0", "expired fields removed");

    /* the documented FCALL line */
    expect_cli(CLI("FCALL", "outpost_override", "3", ACCT("carol"), AUDIT("carol"), EVENTS,
                   "carol", "msgs", "500", "86400000", "support1", "100000"), "1",
               "FCALL outpost_override");
    expect_cli(CLI("HGET", ACCT("carol"), "ovr:msgs"), "500", "FCALL ovr");
    CLI("FCALL", "outpost_override", "3", ACCT("carol"), AUDIT("carol"), EVENTS,
        "carol", "msgs", "-1", "0", "support1", "100000");
    ck_assert_msg(strncmp(cli_out, "ERR outpost:", 12) == 0, "MAX -1: \"%s\"", cli_out);
    tfix_stop_all();
}
END_TEST

START_TEST(test_reset)
{
    char b[32], bd[32], ipkey[128];
    tfix_start_redis(&rs, NULL);
    write_config_limits();
    long long now = redis_now_ms();
    snprintf(b, sizeof b, "%lld", now / 60000);
    snprintf(bd, sizeof bd, "%lld", now / 1440000);
    snprintf(ipkey, sizeof ipkey, P "{c:%s}:rl:ip", "00000000000000000000ffffc0000201");
    CLI("HSET", RL("alice", "msgs"), "w", "60000", b, "3");
    CLI("HSET", RL("alice", "rcpts"), "w", "1440000", bd, "4");
    CLI("HSET", RL("alice", "bytes"), "w", "1440000", bd, "1000");
    CLI("HSET", ipkey, "w", "60000", b, "1");
    CLI("HSET", RL("bob", "msgs"), "w", "60000", b, "3");

    expect_exit(ctl("reset", "alice", "ip", NULL), 2, "reset a client-keyed limit");
    ck_assert_msg(strstr(err, "client_address") != NULL, "stderr: %s", err);
    expect_exit(ctl("reset", "alice", "nope", NULL), 2, "reset an unknown limit");
    expect_cli(CLI("EXISTS", RL("alice", "msgs"), RL("alice", "rcpts"), ipkey), "3",
               "nothing deleted by refusals");
    expect_cli(CLI("LLEN", AUDIT("alice")), "0", "no audit for refusals");

    expect_exit(ctl("reset", "alice", "msgs", "--by", "support1", NULL), 0, "reset msgs");
    ck_assert_msg(strstr(out, "msgs reset (1 counter deleted)") != NULL, "got %s", out);
    expect_cli(CLI("EXISTS", RL("alice", "msgs")), "0", "msgs deleted");
    expect_cli(CLI("EXISTS", RL("alice", "rcpts")), "1", "rcpts kept");
    json_t *a = last_audit(AUDIT("alice"));
    ck_assert_str_eq(jstr(a, "op"), "reset");
    ck_assert_str_eq(jstr(a, "limit"), "msgs");
    ck_assert_int_eq(jint(a, "deleted"), 1);
    ck_assert_str_eq(jstr(a, "by"), "support1");
    json_decref(a);

    CLI("HSET", RL("alice", "msgs"), "w", "60000", b, "3");
    expect_exit(ctl("--json", "reset", "alice", NULL), 0, "reset all");
    json_t *o = parse(out, "reset --json");
    ck_assert_int_eq(jint(o, "deleted"), 2);
    ck_assert(json_is_null(json_object_get(o, "limit")));
    ck_assert_str_eq(jstr(o, "class"), "standard");
    ck_assert_int_eq(json_array_size(json_object_get(o, "limits")), 2);
    json_decref(o);
    expect_cli(CLI("EXISTS", RL("alice", "msgs"), RL("alice", "rcpts")), "0",
               "the class's account counters deleted");
    expect_cli(CLI("EXISTS", ipkey), "1", "client counter kept");
    expect_cli(CLI("EXISTS", RL("bob", "msgs")), "1", "another account's counter kept");
    expect_cli(CLI("EXISTS", RL("alice", "bytes")), "1", "a counter of another class kept");

    expect_cli(CLI("LLEN", AUDIT("alice")), "2", "audit: two resets");
    expect_exit(ctl("reset", "alice", NULL), 0, "reset, nothing counted");
    ck_assert_msg(strstr(out, "nothing to reset") != NULL, "got %s", out);
    expect_cli(CLI("LLEN", AUDIT("alice")), "2", "no audit for a no-op");

    expect_exit(ctl("reset", "alice", "bytes", NULL), 0, "reset a limit of another class");
    expect_cli(CLI("EXISTS", RL("alice", "bytes")), "0", "bytes deleted");

    expect_exit(ctl("class", "bob", "bulk", NULL), 0, "bob bulk");
    expect_exit(ctl("reset", "bob", "dom", NULL), 2, "reset a domain-keyed limit");
    ck_assert_msg(strstr(err, "sender_domain") != NULL, "stderr: %s", err);
    expect_exit(ctl("reset", "bob", NULL), 0, "reset bob (bulk)");
    expect_cli(CLI("EXISTS", RL("bob", "msgs")), "0", "bob msgs deleted");

    /* the documented FCALL line; keys of another account */
    CLI("HSET", RL("carol", "msgs"), "w", "60000", b, "1");
    expect_cli(CLI("FCALL", "outpost_reset", "4", AUDIT("carol"), EVENTS,
                   RL("carol", "msgs"), RL("carol", "rcpts"), "carol", "", "support1",
                   "100000"), "1", "FCALL outpost_reset");
    CLI("HSET", RL("carol", "msgs"), "w", "60000", b, "1");
    CLI("FCALL", "outpost_reset", "3", AUDIT("carol"), EVENTS, RL("bob", "msgs"), "carol",
        "", "x", "100");
    ck_assert_msg(strncmp(cli_out, "ERR outpost:", 12) == 0, "other account: \"%s\"",
                  cli_out);
    CLI("FCALL", "outpost_reset", "3", AUDIT("carol"), EVENTS, RL("carol", "msgs"),
        "carol", "rcpts", "x", "100");
    ck_assert_msg(strncmp(cli_out, "ERR outpost:", 12) == 0, "other limit: \"%s\"",
                  cli_out);
    expect_cli(CLI("EXISTS", RL("carol", "msgs")), "1", "nothing deleted by bad calls");
    tfix_stop_all();
}
END_TEST

START_TEST(test_usage_math)
{
    tfix_start_redis(&rs, NULL);
    write_config_limits();
    char path[512];
    snprintf(path, sizeof path, "%s/outpost.lua", env("T_POLICY"));
    char *lib = tfile_read(path);
    ck_assert_msg(lib != NULL, "cannot read %s", path);
    expect_cli(CLI("FUNCTION", "LOAD", "REPLACE", lib), "outpost", "FUNCTION LOAD");
    free(lib);
    /* per 1h: w 60000; now 6000030: b 100, lo = floor((now-P+1)/w) = 40,
     * window 40..100 and, as decide.lua counts, 101 above b (Redis' clock
     * went back); bucket k leaves at (k+1)w + P - 1 */
    CLI("HSET", "k:in", "w", "60000", "100", "3", "99", "4", "40", "5", "39", "100",
        "101", "7");
    CLI("HSET", "k:wrongw", "w", "1000", "100", "3", "99", "4");
    CLI("HSET", "k:zero", "w", "60000", "41", "0", "45", "2", "30", "9");
    CLI("HSET", "k:day", "w", "1440000", "4", "1", "0", "2");
    CLI("HSET", "k:odd", "w", "1017", "5899", "6");
    expect_cli(CLI("FCALL_RO", "outpost_usage", "6", "k:in", "k:wrongw", "k:missing",
                   "k:zero", "k:day", "k:odd", "6000030", "3600000", "3600000", "3600000",
                   "3600000", "86400000", "61000"),
               "19\n60000\n59969\n"         /* 3+4+5+7; 40 leaves at 41w+P-1 */
               "0\n60000\n0\n"              /* w differs: empty */
               "0\n60000\n0\n"              /* no hash */
               "2\n60000\n359969\n"         /* 41 is empty: 45 frees first */
               "3\n1440000\n81839969\n"     /* b 4: 0 and 4 in; 0 leaves at w+P-1 */
               "6\n1017\n61269",            /* w ceil(61000/60), b 5899: (b+1)w+P-1-now */
               "outpost_usage");
    /* now "" = Redis TIME; a bucket at the current minute frees in <= 61 w */
    char bk[32];
    long long now = redis_now_ms();
    snprintf(bk, sizeof bk, "%lld", now / 60000);
    CLI("HSET", "k:now", "w", "60000", bk, "4");
    CLI("FCALL_RO", "outpost_usage", "1", "k:now", "", "3600000");
    long long used, w, fn;
    ck_assert_msg(sscanf(cli_out, "%lld\n%lld\n%lld", &used, &w, &fn) == 3, "%s", cli_out);
    ck_assert_int_eq(used, 4);
    ck_assert_msg(fn > 60 * 60000 - 5000 && fn <= 61 * 60000, "free_next %lld", fn);
    /* bad calls */
    CLI("FCALL_RO", "outpost_usage", "1", "k:in", "6000030");
    ck_assert_msg(strncmp(cli_out, "ERR outpost:", 12) == 0, "no PER_MS: \"%s\"", cli_out);
    CLI("FCALL_RO", "outpost_usage", "1", "k:in", "6000030", "0");
    ck_assert_msg(strncmp(cli_out, "ERR outpost:", 12) == 0, "PER_MS 0: \"%s\"", cli_out);
    CLI("FCALL_RO", "outpost_usage", "1", "k:in", "soon", "60000");
    ck_assert_msg(strncmp(cli_out, "ERR outpost:", 12) == 0, "NOW_MS: \"%s\"", cli_out);
    tfix_stop_all();
}
END_TEST

START_TEST(test_show_limits)
{
    char b[32], b30[32], line[512];
    tfix_start_redis(&rs, NULL);
    write_config_limits();
    long long now = redis_now_ms();
    snprintf(b, sizeof b, "%lld", now / 60000);
    snprintf(b30, sizeof b30, "%lld", now / 60000 - 30);
    CLI("HSET", RL("alice", "msgs"), "w", "60000", b, "3", b30, "2");
    CLI("HSET", RL("alice", "rcpts"), "w", "1000", b, "9");         /* stale width */
    expect_exit(ctl("override", "alice", "rcpts", "7", "--for", "2h", NULL), 0, "override");

    expect_exit(ctl("show", "alice", NULL), 0, "show");
    ck_assert_msg(strstr(out, "alice: not suspended\nclass: standard (default)\nlimits:\n"),
                  "show: %s", out);
    line_with(out, "  msgs ", line, sizeof line);
    const char *p = strstr(line, "100 messages per 1h  used 5, remaining 95, next frees in ");
    ck_assert_msg(p != NULL, "msgs line: %s", line);
    int mins = 0;
    char unit = 0;
    ck_assert_msg(sscanf(strstr(p, " in ") + 4, "%d%c", &mins, &unit) == 2 && unit == 'm'
                  && mins >= 29 && mins <= 31, "frees in: %s", line);
    line_with(out, "  rcpts ", line, sizeof line);
    ck_assert_msg(strstr(line, "7 recipients per 1d (override until ")
                  && strstr(line, ", in 2h; class: 1000)  used 0, remaining 7  (DEFER)")
                  && !strstr(line, "frees"), "rcpts line: %s", line);
    line_with(out, "  ip ", line, sizeof line);
    ck_assert_msg(strstr(line, "50 messages per 1h  keyed by client address")
                  && !strstr(line, "used"), "ip line: %s", line);
    ck_assert_msg(strstr(out, "audit trail (newest first):\n") != NULL, "audit: %s", out);

    expect_exit(ctl("--json", "show", "alice", NULL), 0, "show --json");
    json_t *o = parse(out, "show --json");
    ck_assert(json_is_false(json_object_get(o, "suspended")));
    ck_assert_int_eq(json_array_size(json_object_get(o, "audit")), 1);
    json_t *l = limit_of(o, "msgs");
    ck_assert_str_eq(jstr(l, "count"), "messages");
    ck_assert_str_eq(jstr(l, "key"), "account");
    ck_assert_str_eq(jstr(l, "per"), "1h");
    ck_assert_int_eq(jint(l, "per_ms"), 3600000);
    ck_assert_int_eq(jint(l, "max"), 100);
    ck_assert_int_eq(jint(l, "used"), 5);
    ck_assert_int_eq(jint(l, "remaining"), 95);
    ck_assert_int_eq(jint(l, "w_ms"), 60000);
    long long fn = jint(l, "free_next_ms");
    ck_assert_msg(fn > 29 * 60000 && fn <= 31 * 60000, "free_next_ms %lld", fn);
    ck_assert(json_is_false(json_object_get(l, "shadow")));
    l = limit_of(o, "rcpts");
    ck_assert_int_eq(jint(l, "used"), 0);
    ck_assert_int_eq(jint(l, "remaining"), 7);
    ck_assert_int_eq(jint(l, "free_next_ms"), 0);
    long long until = jint(json_object_get(l, "override"), "until");
    ck_assert_msg(until >= now + 7200000 && until <= now + 7200000 + 10000, "until %lld",
                  until);
    l = limit_of(o, "ip");
    ck_assert_str_eq(jstr(l, "key"), "client_address");
    ck_assert_int_eq(jint(l, "max"), 50);
    ck_assert_ptr_null(json_object_get(l, "used"));
    ck_assert_ptr_null(json_object_get(l, "remaining"));
    json_decref(o);

    /* remaining never below 0 */
    expect_exit(ctl("override", "alice", "msgs", "2", NULL), 0, "override msgs 2");
    expect_exit(ctl("--json", "show", "alice", NULL), 0, "show --json");
    o = parse(out, "show --json");
    ck_assert_int_eq(jint(limit_of(o, "msgs"), "remaining"), 0);
    ck_assert_int_eq(jint(limit_of(o, "msgs"), "used"), 5);
    json_decref(o);

    /* class bulk: shadow, sender_domain, action */
    expect_exit(ctl("class", "bob", "bulk", NULL), 0, "bob bulk");
    expect_exit(ctl("suspend", "bob", "--reason", "spam run", NULL), 0, "suspend bob");
    expect_exit(ctl("show", "bob", NULL), 0, "show bob");
    ck_assert_msg(strstr(out, "bob: suspended") && strstr(out, "\nclass: bulk\n"),
                  "show bob: %s", out);
    line_with(out, "  bytes ", line, sizeof line);
    ck_assert_msg(strstr(line, "100000000 bytes per 1d  used 0, remaining 100000000  "
                         "[shadow]  (DEFER)"), "bytes line: %s", line);
    line_with(out, "  dom ", line, sizeof line);
    ck_assert_msg(strstr(line, "500 messages per 1h  keyed by sender domain  (REJECT)"),
                  "dom line: %s", line);
    expect_exit(ctl("--json", "show", "bob", NULL), 0, "show bob --json");
    o = parse(out, "show bob");
    ck_assert(json_is_true(json_object_get(limit_of(o, "bytes"), "shadow")));
    ck_assert_str_eq(jstr(limit_of(o, "dom"), "key"), "sender_domain");
    ck_assert(json_is_true(json_object_get(o, "suspended")));
    json_decref(o);
    tfix_stop_all();
}
END_TEST

/* ---- connection, AUTH */

START_TEST(test_unreachable)
{
    snprintf(cfgpath, sizeof cfgpath, "/tmp/outpost-admin-%ld.json", (long)getpid());
    write_config_addr("unix:/nonexistent/outpost-redis.sock", "");
    expect_exit(ctl("suspended", NULL), 3, "suspended, no Redis");
    ck_assert_msg(strstr(err, "unreachable") != NULL, "want \"unreachable\": %s", err);
    expect_exit(ctl("suspend", "alice", "--reason", "x", NULL), 3, "suspend, no Redis");
    expect_exit(ctl("deny", "list", NULL), 3, "deny list, no Redis");
    /* argument errors come before any connection */
    expect_exit(ctl("suspend", "alice", NULL), 2, "suspend without --reason");
    expect_exit(ctl("suspend", "a\nb", "--reason", "x", NULL), 2, "control byte");
    char longname[300];
    memset(longname, 'x', 257);
    longname[257] = '\0';
    expect_exit(ctl("show", longname, NULL), 2, "257-byte account");
    longname[256] = '\0';
    expect_exit(ctl("show", longname, NULL), 3, "256-byte account is fine");
    expect_exit(ctl("suspend", "alice", "--reason", "x", "--for", "ever", NULL), 2,
                "bad duration");
    expect_exit(ctl("suspend", "   ", "--reason", "x", NULL), 2, "blank account");
    /* verdict and events (SPEC §7) */
    expect_exit(ctl("verdict", "alice", "--weight", "2", NULL), 3, "verdict, no Redis");
    ck_assert_msg(strstr(err, "unreachable") != NULL, "verdict: want \"unreachable\": %s",
                  err);
    expect_exit(ctl("verdict", "alice", "--weight", "1000.1", NULL), 2,
                "verdict arguments are checked first");
    expect_exit(ctl("events", NULL), 3, "events, no Redis");
    expect_exit(ctl("events", "--follow", NULL), 3, "events --follow, no Redis");
    expect_exit(ctl("events", "--count", "10001", NULL), 2, "events --count checked first");
    unlink(cfgpath);
}
END_TEST

START_TEST(test_auth)
{
    char pwbad[192], pwgood[192], pwops[192], extra[512];
    tfix_start_redis(&rs, NULL);
    /* tredis_start waits for an unauthenticated PING, so the password is
     * set once it runs (the same as --requirepass for what is tested) */
    expect_cli(CLI("CONFIG", "SET", "requirepass", "s3cret"), "OK", "requirepass");
    snprintf(pwbad, sizeof pwbad, "%s/pw.bad", rs.dir);
    snprintf(pwgood, sizeof pwgood, "%s/pw.good", rs.dir);
    snprintf(pwops, sizeof pwops, "%s/pw.ops", rs.dir);
    tfile_write(pwbad, "wrong\n");
    tfile_write(pwgood, "s3cret\n");
    tfile_write(pwops, "pw");

    write_config("");
    expect_exit(ctl("suspended", NULL), 3, "no password");
    ck_assert_msg(strstr(err, "AUTH") != NULL, "no password: want AUTH in \"%s\"", err);

    snprintf(extra, sizeof extra, ", \"password_file\": \"%s\"", pwbad);
    write_config(extra);
    expect_exit(ctl("suspended", NULL), 3, "wrong password");
    ck_assert_msg(strstr(err, "AUTH") != NULL, "wrong password: want AUTH in \"%s\"", err);

    snprintf(extra, sizeof extra, ", \"password_file\": \"%s\"", pwgood);
    write_config(extra);
    expect_exit(ctl("suspend", "alice", "--reason", "x", NULL), 0, "right password");

    CLI("-a", "s3cret", "--no-auth-warning", "ACL", "SETUSER", "ops", "on", ">pw", "~*",
        "&*", "+@all");
    expect_cli(cli_out, "OK", "ACL SETUSER");
    snprintf(extra, sizeof extra, ", \"username\": \"ops\", \"password_file\": \"%s\"",
             pwops);
    write_config(extra);
    expect_exit(ctl("reinstate", "alice", NULL), 0, "ACL user ops");
    snprintf(extra, sizeof extra, ", \"username\": \"ops\", \"password_file\": \"%s\"",
             pwbad);
    write_config(extra);
    expect_exit(ctl("suspended", NULL), 3, "ACL user, wrong password");
    ck_assert_msg(strstr(err, "AUTH") != NULL, "ACL: want AUTH in \"%s\"", err);

    snprintf(extra, sizeof extra, ", \"password_file\": \"%s/missing\"", rs.dir);
    write_config(extra);
    expect_exit(ctl("suspended", NULL), 2, "unreadable password file: configuration");
    tfix_stop_all();
}
END_TEST

/* ---- marker, library loading */

START_TEST(test_init)
{
    tfix_start_redis(&rs, NULL);
    write_config("");
    expect_exit(ctl("init", "--by", "admin1", NULL), 0, "init");
    json_t *m = parse(CLI("GET", MARKER), "marker");
    ck_assert_int_eq(json_integer_value(json_object_get(m, "version")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(m, "by")), "admin1");
    ck_assert(json_integer_value(json_object_get(m, "at")) > 1000000000000LL);
    json_decref(m);
    expect_cli(CLI("XLEN", EVENTS), "1", "init event");
    expect_exit(ctl("--json", "init", NULL), 0, "init --json");
    json_t *o = parse(out, "init --json");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "version")), 1);
    json_decref(o);

    /* the library is loaded when missing, also after FUNCTION FLUSH */
    expect_cli(CLI("FUNCTION", "FLUSH"), "OK", "FUNCTION FLUSH");
    expect_exit(ctl("deny", "add", "sender", "x@y.test", NULL), 0, "add after flush");
    ck_assert_msg(strstr(CLI("FUNCTION", "LIST"), "outpost_list_add") != NULL,
                  "library not reloaded: %s", cli_out);

    /* a policy_dir without outpost.lua is a configuration error */
    expect_cli(CLI("FUNCTION", "FLUSH"), "OK", "FUNCTION FLUSH");
    char text[1024];
    snprintf(text, sizeof text,
             "{\"redis\": {\"address\": \"unix:%s\"}, \"policy_dir\": \"%s\","
             " \"default_class\": \"s\", \"classes\": {\"s\": {}}}\n", rs.sock, rs.dir);
    tfile_write(cfgpath, text);
    expect_exit(ctl("init", NULL), 2, "no outpost.lua");
    ck_assert_msg(strstr(err, "outpost.lua") != NULL, "want the path: %s", err);
    tfix_stop_all();
}
END_TEST

/* ---- untrusted names */

static void round_trip(const char *account, const char *esc)
{
    char susp[300], audit[300];
    snprintf(susp, sizeof susp, P "{a:%s}:susp", esc);
    snprintf(audit, sizeof audit, P "{a:%s}:audit", esc);

    expect_exit(ctl("suspend", account, "--reason", "weird", NULL), 0, "suspend");
    expect_cli(CLI("EXISTS", susp), "1", susp);
    expect_cli(CLI("ZSCORE", IDX, account), "inf", "index member unescaped");
    expect_exit(ctl("--json", "show", account, NULL), 0, "show");
    json_t *o = parse(out, "show --json");
    ck_assert_str_eq(json_string_value(json_object_get(o, "account")), account);
    ck_assert(json_is_true(json_object_get(o, "suspended")));
    json_decref(o);
    expect_exit(ctl("--json", "suspended", NULL), 0, "suspended");
    ck_assert_msg(strstr(out, "weird") != NULL, "suspended --json: %s", out);
    expect_exit(ctl("reinstate", account, NULL), 0, "reinstate");
    expect_cli(CLI("EXISTS", susp), "0", "reinstated");
    expect_cli(CLI("LLEN", audit), "2", audit);
}

START_TEST(test_untrusted_names)
{
    tfix_start_redis(&rs, NULL);
    write_config("");
    round_trip("evil}x{y", "evil%7Dx%7By");
    round_trip("a b%c", "a%20b%25c");
    char keys[2048];
    sorted_lines(CLI("KEYS", "*"), keys, sizeof keys);
    ck_assert_str_eq(keys, P "{a:a%20b%25c}:audit\n" P "{a:evil%7Dx%7By}:audit\n"
                     P "{events}\n");
    expect_exit(ctl("suspend", "tab\tinside", "--reason", "x", NULL), 2, "tab in name");
    expect_exit(ctl("suspend", "ok", "--reason", "line\nbreak", NULL), 2, "newline in reason");
    tfix_stop_all();
}
END_TEST

/* ---- sender identities (doc/keys.md "Sender identities") */

#define OBSIDX P "{idx}:observed"

/* The test's config with the given "identities" object (JSON text). */
static void write_config_ids(const char *identities)
{
    char text[2048];
    snprintf(cfgpath, sizeof cfgpath, "%s/outpost.json", rs.dir);
    snprintf(text, sizeof text,
             "{\n"
             "  \"redis\": {\"address\": \"unix:%s\"},\n"
             "  \"policy_dir\": \"%s\",\n"
             "  \"default_class\": \"standard\",\n"
             "  \"classes\": {\"standard\": {}},\n"
             "  \"identities\": %s\n"
             "}\n", rs.sock, env("T_POLICY"), identities);
    tfile_write(cfgpath, text);
}

/* The JSON of the newest event (XREVRANGE ... COUNT 1), checked to be of
 * type `type`; the caller decrefs. */
static json_t *last_event(const char *type)
{
    CLI("XREVRANGE", EVENTS, "+", "-", "COUNT", "1");
    char want[64];
    snprintf(want, sizeof want, "\ntype\n%s\n", type);
    ck_assert_msg(strstr(cli_out, want) != NULL, "newest event: want type %s, got \"%s\"",
                  type, cli_out);
    const char *j = strstr(cli_out, "\njson\n");
    ck_assert_msg(j != NULL, "event without json: \"%s\"", cli_out);
    return parse(j + 6, "event json");
}

/* The element of a JSON array of objects whose `key` is `value`, or NULL. */
static json_t *find_by(const json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
        if (strcmp(json_string_value(json_object_get(e, key)), value) == 0)
            return e;
    return NULL;
}

START_TEST(test_identity_commands)
{
    tfix_start_redis(&rs, NULL);
    write_config_ids("{\"strip_plus_tag\": \"+\"}");

    /* add: the address in normal form on both sides, pending */
    expect_exit(ctl("identity", "add", "Alice", "<Bob+x@Example.COM>", "--by", "support1",
                    NULL), 0, "identity add");
    ck_assert_msg(strstr(out, "alice: bob@example.com added") != NULL, "add: got \"%s\"",
                  out);
    json_t *g = parse(CLI("HGET", P "{a:alice}:ids", "bob@example.com"), "ids value");
    ck_assert_str_eq(jstr(g, "state"), "pending");
    ck_assert_str_eq(jstr(g, "by"), "support1");
    ck_assert_int_eq(json_integer_value(json_object_get(g, "until")), 0);
    json_decref(g);
    char ids_v[sizeof cli_out];
    snprintf(ids_v, sizeof ids_v, "%s", CLI("HGET", P "{a:alice}:ids", "bob@example.com"));
    expect_cli(CLI("HGET", P "{id:bob@example.com}:who", "alice"), ids_v,
               "who holds the same JSON as ids");
    json_t *ev = last_event("identity_add");
    ck_assert_str_eq(jstr(ev, "by"), "support1");
    ck_assert_str_eq(jstr(ev, "account"), "alice");
    ck_assert_str_eq(jstr(ev, "address"), "bob@example.com");
    json_decref(ev);
    json_t *au = parse(CLI("LINDEX", P "{a:alice}:audit", "0"), "audit");
    ck_assert_str_eq(jstr(au, "op"), "identity_add");
    ck_assert_str_eq(jstr(au, "by"), "support1");
    json_decref(au);

    /* add again, in another spelling: already granted */
    expect_exit(ctl("identity", "add", "alice", "BOB@example.com.", NULL), 1, "add twice");
    ck_assert_msg(strstr(err, "already granted") != NULL, "add twice: got \"%s\"", err);
    expect_exit(ctl("--json", "identity", "add", "alice", "bob@example.com", NULL), 1,
                "add twice --json");
    json_t *o = parse(out, "add --json");
    ck_assert(json_is_false(json_object_get(o, "changed")));
    ck_assert_str_eq(jstr(o, "error"), "already granted");
    ck_assert_str_eq(jstr(json_object_get(o, "grant"), "state"), "pending");
    json_decref(o);
    expect_cli(CLI("XLEN", EVENTS), "1", "no event for a refused add");

    /* list and who */
    expect_exit(ctl("identity", "list", "alice", NULL), 0, "list");
    ck_assert_msg(strstr(out, "alice: 1 identity") && strstr(out, "bob@example.com")
                  && strstr(out, "pending") && strstr(out, "by support1"),
                  "list: got \"%s\"", out);
    expect_exit(ctl("identity", "who", "<BOB@example.com>", NULL), 0, "who");
    ck_assert_msg(strstr(out, "bob@example.com: granted to 1 account")
                  && strstr(out, "alice") && strstr(out, "pending"), "who: got \"%s\"", out);

    /* verify: pending -> verified; again: nothing changed, exit 0 */
    expect_exit(ctl("identity", "verify", "alice", "bob@example.com", "--by", "support2",
                    NULL), 0, "verify");
    ck_assert_msg(strstr(out, "verified") != NULL, "verify: got \"%s\"", out);
    ev = last_event("identity_verify");
    ck_assert_str_eq(jstr(ev, "by"), "support2");
    ck_assert_str_eq(jstr(ev, "state"), "verified");
    ck_assert_str_eq(jstr(ev, "old_state"), "pending");
    json_decref(ev);
    expect_cli(CLI("XLEN", EVENTS), "2", "events after verify");
    expect_exit(ctl("identity", "verify", "alice", "bob@example.com", NULL), 0,
                "verify again");
    ck_assert_msg(strstr(out, "unchanged") != NULL, "verify again: got \"%s\"", out);
    expect_cli(CLI("XLEN", EVENTS), "2", "no event when nothing changed");
    expect_exit(ctl("identity", "verify", "alice", "carl@example.com", NULL), 1,
                "verify without a grant");
    ck_assert_msg(strstr(err, "no grant") != NULL, "verify none: got \"%s\"", err);
    expect_exit(ctl("--json", "identity", "list", "alice", NULL), 0, "list --json");
    o = parse(out, "list --json");
    json_t *e = find_by(json_object_get(o, "identities"), "address", "bob@example.com");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(jstr(e, "state"), "verified");
    ck_assert_str_eq(jstr(e, "by"), "support1");
    ck_assert_str_eq(jstr(e, "verified_by"), "support2");
    ck_assert(json_is_integer(json_object_get(e, "at")));
    ck_assert_int_eq(json_integer_value(json_object_get(e, "until")), 0);
    json_decref(o);
    expect_exit(ctl("--json", "identity", "who", "bob@example.com", NULL), 0, "who --json");
    o = parse(out, "who --json");
    ck_assert_int_eq(json_array_size(json_object_get(o, "accounts")), 1);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(o, "accounts"), 0), "account"),
                     "alice");
    ck_assert_str_eq(jstr(json_array_get(json_object_get(o, "accounts"), 0), "state"),
                     "verified");
    json_decref(o);

    /* show lists the identities and the observed count */
    expect_exit(ctl("show", "alice", NULL), 0, "show");
    ck_assert_msg(strstr(out, "identities:") && strstr(out, "bob@example.com")
                  && strstr(out, "observed sender addresses: 0"), "show: got \"%s\"", out);
    expect_exit(ctl("--json", "show", "alice", NULL), 0, "show --json");
    o = parse(out, "show --json");
    e = json_array_get(json_object_get(o, "identities"), 0);
    ck_assert_str_eq(jstr(e, "address"), "bob@example.com");
    ck_assert_str_eq(jstr(e, "state"), "verified");
    ck_assert_str_eq(jstr(e, "by"), "support1");
    ck_assert(json_is_integer(json_object_get(e, "at"))
              && json_is_integer(json_object_get(e, "until")));
    ck_assert_int_eq(json_integer_value(json_object_get(o, "observed")), 0);
    json_decref(o);

    /* domain grants: "@domain", its own reverse index */
    expect_exit(ctl("identity", "add", "alice", "@Example.ORG.", "--by", "support1", NULL), 0,
                "add a domain grant");
    expect_cli(CLI("HEXISTS", P "{a:alice}:ids", "@example.org"), "1", "domain field");
    expect_cli(CLI("HEXISTS", P "{id:@example.org}:who", "alice"), "1", "domain who");
    expect_exit(ctl("identity", "verify", "alice", "@example.org", NULL), 0, "verify domain");
    expect_exit(ctl("identity", "who", "@example.org", NULL), 0, "who domain");
    ck_assert_msg(strstr(out, "alice") && strstr(out, "verified"), "who @: got \"%s\"", out);
    ck_assert_msg(strstr(err, "warning") == NULL, "no warning by default: \"%s\"", err);

    /* remove: both sides; again: exit 1 */
    expect_exit(ctl("identity", "remove", "alice", "bob@example.com", "--by", "support3",
                    NULL), 0, "remove");
    expect_cli(CLI("HEXISTS", P "{a:alice}:ids", "bob@example.com"), "0", "ids field gone");
    expect_cli(CLI("EXISTS", P "{id:bob@example.com}:who"), "0", "who key gone");
    ev = last_event("identity_remove");
    ck_assert_str_eq(jstr(ev, "by"), "support3");
    json_decref(ev);
    expect_exit(ctl("identity", "remove", "alice", "bob@example.com", NULL), 1,
                "remove again");
    expect_exit(ctl("identity", "who", "bob@example.com", NULL), 0, "who, none");
    ck_assert_msg(strstr(out, "granted to no account") != NULL, "who none: \"%s\"", out);
    expect_exit(ctl("identity", "list", "nobody", NULL), 0, "list, none");
    ck_assert_msg(strstr(out, "no identities") != NULL, "list none: \"%s\"", out);

    /* domain grants ignored by the configuration: accepted, with a warning */
    write_config_ids("{\"domain_grants\": false}");
    expect_exit(ctl("identity", "add", "alice", "@example.net", NULL), 0,
                "domain grant, domain_grants false");
    ck_assert_msg(strstr(err, "warning") && strstr(err, "domain_grants"),
                  "want a warning: \"%s\"", err);
    expect_cli(CLI("HEXISTS", P "{a:alice}:ids", "@example.net"), "1", "stored anyway");

    /* bad addresses and usage: exit 2, nothing written */
    char addr[300];
    memset(addr, 'a', sizeof addr);
    memcpy(addr + 254 - 12, "@example.com", 13);             /* 254 bytes */
    ck_assert_int_eq(strlen(addr), 254);
    expect_exit(ctl("identity", "add", "alice", addr, NULL), 0, "254-byte address");
    expect_cli(CLI("HEXISTS", P "{a:alice}:ids", addr), "1", "254-byte field");
    memset(addr, 'a', sizeof addr);
    memcpy(addr + 255 - 12, "@example.com", 13);             /* 255 bytes */
    expect_exit(ctl("identity", "add", "alice", addr, NULL), 2, "255-byte address");
    ck_assert_msg(strstr(err, "254") != NULL, "255 bytes: got \"%s\"", err);
    expect_exit(ctl("identity", "add", "alice", "no-at-sign", NULL), 2, "no @");
    ck_assert_msg(strstr(err, "'@'") != NULL, "no @: got \"%s\"", err);
    expect_exit(ctl("identity", "add", "alice", "a\x01z@example.com", NULL), 2,
                "control byte");
    expect_exit(ctl("identity", "add", "alice", "a b@example.com", NULL), 2, "space");
    expect_exit(ctl("identity", "add", "alice", "x@", NULL), 2, "no domain");
    expect_exit(ctl("identity", "who", "", NULL), 2, "empty address");
    expect_exit(ctl("identity", "add", "alice", NULL), 2, "add without an address");
    expect_exit(ctl("identity", "add", "alice", "a@b.test", "--verified", NULL), 2,
                "add --verified is not an option");
    expect_exit(ctl("identity", "frobnicate", NULL), 2, "unknown subcommand");
    expect_exit(ctl("identity", NULL), 2, "no subcommand");
    expect_exit(ctl("identity", "add", "alice", "a@b.test", "--for", "soon", NULL), 2,
                "bad --for");
    expect_cli(CLI("HLEN", P "{a:alice}:ids"), "3", "nothing written by refused commands");
    tfix_stop_all();
}
END_TEST

START_TEST(test_identity_expiry)
{
    tfix_start_redis(&rs, NULL);
    write_config_ids("{}");
    expect_exit(ctl("identity", "add", "ann", "ann@example.com", "--for", "1500ms", NULL), 0,
                "add --for 1500ms");
    expect_exit(ctl("identity", "verify", "ann", "ann@example.com", NULL), 0,
                "verify keeps the expiry");
    json_t *g = parse(CLI("HGET", P "{a:ann}:ids", "ann@example.com"), "grant");
    json_int_t at = json_integer_value(json_object_get(g, "at"));
    json_int_t until = json_integer_value(json_object_get(g, "until"));
    ck_assert_msg(until == at + 1500, "until %lld, want at %lld + 1500", (long long)until,
                  (long long)at);
    ck_assert_str_eq(jstr(g, "state"), "verified");
    json_decref(g);
    expect_exit(ctl("identity", "list", "ann", NULL), 0, "list before expiry");
    ck_assert_msg(strstr(out, "verified") && strstr(out, "until 20"), "list: \"%s\"", out);

    bool expired = false;
    for (int i = 0; i < 40 && !expired; i++) {          /* 4 s at most */
        expect_exit(ctl("--json", "identity", "list", "ann", NULL), 0, "list --json");
        json_t *o = parse(out, "list --json");
        json_t *e = json_array_get(json_object_get(o, "identities"), 0);
        expired = strcmp(jstr(e, "state"), "expired") == 0;
        if (expired) {
            ck_assert_str_eq(jstr(e, "stored_state"), "verified");
            ck_assert_int_eq(json_integer_value(json_object_get(e, "until")), until);
            ck_assert(json_integer_value(json_object_get(o, "now")) >= until);
        }
        json_decref(o);
        if (!expired)
            usleep(100000);
    }
    ck_assert_msg(expired, "grant not shown as expired 4 s after a 1.5 s grant: %s", out);
    expect_exit(ctl("identity", "who", "ann@example.com", NULL), 0, "who, expired");
    ck_assert_msg(strstr(out, "expired") != NULL, "who: \"%s\"", out);
    /* the grant stays until removed; --for 0s removes the expiry */
    expect_cli(CLI("HEXISTS", P "{a:ann}:ids", "ann@example.com"), "1", "expired grant kept");
    expect_exit(ctl("identity", "verify", "ann", "ann@example.com", "--for", "0s", NULL), 0,
                "verify --for 0s");
    expect_exit(ctl("--json", "identity", "list", "ann", NULL), 0, "list after --for 0s");
    json_t *o = parse(out, "list --json");
    json_t *e = json_array_get(json_object_get(o, "identities"), 0);
    ck_assert_str_eq(jstr(e, "state"), "verified");
    ck_assert_int_eq(json_integer_value(json_object_get(e, "until")), 0);
    json_decref(o);
    /* --for on verify sets a new expiry */
    expect_exit(ctl("identity", "verify", "ann", "ann@example.com", "--for", "1d", NULL), 0,
                "verify --for 1d");
    g = parse(CLI("HGET", P "{a:ann}:ids", "ann@example.com"), "grant");
    long long u = (long long)json_integer_value(json_object_get(g, "until"));
    ck_assert_msg(u > now_ms() + 86400000LL - 60000 && u < now_ms() + 86400000LL + 60000,
                  "until %lld: want about a day from now", u);
    json_decref(g);
    tfix_stop_all();
}
END_TEST

/* ---- a random sequence: ids and who never disagree */

#define R_ACCOUNTS 3
#define R_ADDRS    6
#define R_STEPS    300

enum { R_NONE, R_PENDING, R_VERIFIED };
static const char *const r_accounts[R_ACCOUNTS] = { "ann", "bob", "cy" };
static const char *const r_addrs[R_ADDRS] = {
    "a@example.com", "b@example.com", "c@example.net", "d@example.net", "e@example.org",
    "@example.org",
};
static const char *const r_states[] = { "none", "pending", "verified" };

/* One hash (redis-cli HGETALL output, field and value lines) looked up. */
static const char *r_hget(const char *hgetall, const char *field, char *val, size_t cap)
{
    char *copy = strdup(hgetall), *save = NULL;
    const char *found = NULL;
    for (char *f = strtok_r(copy, "\n", &save); f != NULL; f = strtok_r(NULL, "\n", &save)) {
        char *v = strtok_r(NULL, "\n", &save);
        if (v != NULL && strcmp(f, field) == 0) {
            snprintf(val, cap, "%s", v);
            found = val;
            break;
        }
    }
    free(copy);
    return found;
}

/* The number of fields of an HGETALL output. */
static int r_fields(const char *hgetall)
{
    int lines = 0;
    if (hgetall[0] == '\0')
        return 0;
    for (const char *p = hgetall; *p; p++)
        lines += *p == '\n';
    return (lines + 1) / 2;
}

static void r_compare(unsigned seed, int step, int model[R_ACCOUNTS][R_ADDRS])
{
    char *ids[R_ACCOUNTS], *who[R_ADDRS], key[256], v1[1024], v2[1024];

    for (int a = 0; a < R_ACCOUNTS; a++) {
        snprintf(key, sizeof key, P "{a:%s}:ids", r_accounts[a]);
        ids[a] = strdup(CLI("HGETALL", key));
    }
    for (int d = 0; d < R_ADDRS; d++) {
        snprintf(key, sizeof key, P "{id:%s}:who", r_addrs[d]);
        who[d] = strdup(CLI("HGETALL", key));
    }
    for (int a = 0; a < R_ACCOUNTS; a++) {
        int n = 0;
        for (int d = 0; d < R_ADDRS; d++) {
            const char *x = r_hget(ids[a], r_addrs[d], v1, sizeof v1);
            const char *y = r_hget(who[d], r_accounts[a], v2, sizeof v2);
            n += model[a][d] != R_NONE;
            ck_assert_msg((x == NULL) == (model[a][d] == R_NONE) && (x == NULL) == (y == NULL),
                          "seed %u step %d: %s/%s: ids %s, who %s, model %s", seed, step,
                          r_accounts[a], r_addrs[d], x ? x : "(none)", y ? y : "(none)",
                          r_states[model[a][d]]);
            if (x == NULL)
                continue;
            ck_assert_msg(strcmp(x, y) == 0, "seed %u step %d: %s/%s: ids \"%s\" but who "
                          "\"%s\"", seed, step, r_accounts[a], r_addrs[d], x, y);
            json_t *g = parse(x, "grant");
            ck_assert_msg(strcmp(jstr(g, "state"), r_states[model[a][d]]) == 0,
                          "seed %u step %d: %s/%s: state %s, model %s", seed, step,
                          r_accounts[a], r_addrs[d], jstr(g, "state"),
                          r_states[model[a][d]]);
            json_decref(g);
        }
        ck_assert_msg(r_fields(ids[a]) == n, "seed %u step %d: %s has %d ids fields, "
                      "model %d", seed, step, r_accounts[a], r_fields(ids[a]), n);
    }
    for (int d = 0; d < R_ADDRS; d++) {
        int n = 0;
        for (int a = 0; a < R_ACCOUNTS; a++)
            n += model[a][d] != R_NONE;
        ck_assert_msg(r_fields(who[d]) == n, "seed %u step %d: %s has %d who fields, "
                      "model %d", seed, step, r_addrs[d], r_fields(who[d]), n);
    }
    for (int a = 0; a < R_ACCOUNTS; a++)
        free(ids[a]);
    for (int d = 0; d < R_ADDRS; d++)
        free(who[d]);

    /* and outpostctl's view: list of every account, who of every address */
    int seen[R_ACCOUNTS][R_ADDRS];
    memset(seen, 0, sizeof seen);
    for (int a = 0; a < R_ACCOUNTS; a++) {
        expect_exit(ctl("--json", "identity", "list", r_accounts[a], NULL), 0, "list");
        json_t *o = parse(out, "list --json"), *e;
        size_t i;
        json_array_foreach(json_object_get(o, "identities"), i, e) {
            int d = 0;
            while (d < R_ADDRS && strcmp(r_addrs[d], jstr(e, "address")) != 0)
                d++;
            ck_assert_msg(d < R_ADDRS && strcmp(jstr(e, "state"),
                                                r_states[model[a][d]]) == 0,
                          "seed %u step %d: list %s: %s %s, model %s", seed, step,
                          r_accounts[a], jstr(e, "address"), jstr(e, "state"),
                          d < R_ADDRS ? r_states[model[a][d]] : "(unknown address)");
            seen[a][d] |= 1;
        }
        json_decref(o);
    }
    for (int d = 0; d < R_ADDRS; d++) {
        expect_exit(ctl("--json", "identity", "who", r_addrs[d], NULL), 0, "who");
        json_t *o = parse(out, "who --json"), *e;
        size_t i;
        json_array_foreach(json_object_get(o, "accounts"), i, e) {
            int a = 0;
            while (a < R_ACCOUNTS && strcmp(r_accounts[a], jstr(e, "account")) != 0)
                a++;
            ck_assert_msg(a < R_ACCOUNTS && strcmp(jstr(e, "state"),
                                                   r_states[model[a][d]]) == 0,
                          "seed %u step %d: who %s: %s %s, model %s", seed, step,
                          r_addrs[d], jstr(e, "account"), jstr(e, "state"),
                          a < R_ACCOUNTS ? r_states[model[a][d]] : "(unknown account)");
            seen[a][d] |= 2;
        }
        json_decref(o);
    }
    for (int a = 0; a < R_ACCOUNTS; a++)
        for (int d = 0; d < R_ADDRS; d++)
            ck_assert_msg(seen[a][d] == (model[a][d] == R_NONE ? 0 : 3),
                          "seed %u step %d: %s/%s: list %s, who %s, model %s", seed, step,
                          r_accounts[a], r_addrs[d], seen[a][d] & 1 ? "has it" : "not",
                          seen[a][d] & 2 ? "has it" : "not", r_states[model[a][d]]);
}

START_TEST(test_identity_random)
{
    const char *s = getenv("T_SEED");
    unsigned seed = s != NULL ? (unsigned)strtoul(s, NULL, 10)
                              : (unsigned)time(NULL) ^ (unsigned)getpid();
    int model[R_ACCOUNTS][R_ADDRS];
    char what[512], spelled[64];

    memset(model, 0, sizeof model);
    srand(seed);
    tfix_start_redis(&rs, NULL);
    write_config_ids("{}");
    for (int step = 0; step < R_STEPS; step++) {
        int a = rand() % R_ACCOUNTS, d = rand() % R_ADDRS, op = rand() % 3;
        static const char *const verbs[] = { "add", "verify", "remove" };
        /* now and then another spelling of the same address */
        if (rand() % 4 == 0) {
            snprintf(spelled, sizeof spelled, " <%s> ", r_addrs[d]);
            for (char *p = strchr(spelled, '@'); p != NULL && *p; p++)
                *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        } else {
            snprintf(spelled, sizeof spelled, "%s", r_addrs[d]);
        }
        int want, *m = &model[a][d];
        switch (op) {
        case 0: want = *m == R_NONE ? 0 : 1; if (*m == R_NONE) *m = R_PENDING; break;
        case 1: want = *m == R_NONE ? 1 : 0; if (*m != R_NONE) *m = R_VERIFIED; break;
        default: want = *m == R_NONE ? 1 : 0; *m = R_NONE; break;
        }
        snprintf(what, sizeof what, "seed %u (T_SEED=%u to repeat) step %d: identity %s %s "
                 "\"%s\"", seed, seed, step, verbs[op], r_accounts[a], spelled);
        expect_exit(ctl("identity", verbs[op], r_accounts[a], spelled, "--by", "rnd", NULL),
                    want, what);
        if (step % 100 == 99)
            r_compare(seed, step, model);
    }
    r_compare(seed, R_STEPS, model);
    tfix_stop_all();
}
END_TEST

/* ---- observed senders, adopt */

/* HSET of one observed address in decide.lua's format. */
static void observe(const char *account, const char *addr, int count, long long first,
                    long long last)
{
    char key[256], v[256];
    snprintf(key, sizeof key, P "{a:%s}:observed", account);
    snprintf(v, sizeof v, "{\"count\":%d,\"first\":%lld,\"last\":%lld,\"ev\":%lld}", count,
             first, last, first);
    CLI("HSET", key, addr, v);
    ck_assert_msg(strcmp(cli_out, "1") == 0 || strcmp(cli_out, "0") == 0, "HSET: %s",
                  cli_out);
}

START_TEST(test_identity_observed)
{
    char score[32], key[128];
    long long t = now_ms();
    tfix_start_redis(&rs, NULL);
    write_config_ids("{\"mode\": \"monitor\"}");

    expect_exit(ctl("identity", "observed", NULL), 0, "observed, none");
    ck_assert_msg(strstr(out, "no observed sender addresses") != NULL, "none: \"%s\"", out);

    observe("carol", "x@example.net", 3, t - 5000, t - 1000);
    observe("carol", "y@example.net", 1, t - 3000, t - 3000);
    CLI("HSET", P "{a:carol}:observed", "overflow", "4");
    observe("dave", "z@example.org", 7, t - 9000, t - 500);
    observe("fading", "f@example.com", 1, t - 7000, t - 7000);
    CLI("PEXPIRE", P "{a:fading}:observed", "50");
    struct { const char *acc; long long at; } members[] = {
        { "carol", t - 1000 }, { "dave", t - 500 }, { "ghost", t - 8000 },
        { "fading", t - 7000 },
    };
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        snprintf(score, sizeof score, "%lld", members[i].at);
        CLI("ZADD", OBSIDX, score, members[i].acc);
    }
    bool gone = false;
    for (int i = 0; i < 50 && !gone; i++) {             /* 5 s at most */
        gone = strcmp(CLI("EXISTS", P "{a:fading}:observed"), "0") == 0;
        if (!gone)
            usleep(100000);
    }
    ck_assert_msg(gone, "the 50 ms observed hash did not expire");

    expect_exit(ctl("identity", "observed", NULL), 0, "observed");
    const char *pd = strstr(out, "dave: 1 address"), *pc = strstr(out, "carol: 2 addresses");
    ck_assert_msg(pd && pc && pd < pc, "observed: want dave (newest) then carol: \"%s\"", out);
    ck_assert_msg(strstr(out, "x@example.net") && strstr(out, "3 uses")
                  && strstr(out, "4 more uses not recorded")
                  && strstr(out, "2 index entries") && strstr(out, "z@example.org")
                  && strstr(out, "ghost") == NULL && strstr(out, "fading") == NULL,
                  "observed: got \"%s\"", out);
    expect_cli(CLI("ZSCORE", OBSIDX, "ghost"), "", "deleted hash: pruned");
    expect_cli(CLI("ZSCORE", OBSIDX, "fading"), "", "expired hash: pruned");
    expect_cli(CLI("ZCARD", OBSIDX), "2", "carol and dave stay");

    expect_exit(ctl("--json", "identity", "observed", NULL), 0, "observed --json");
    json_t *o = parse(out, "observed --json");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "pruned")), 0);
    json_t *arr = json_object_get(o, "observed");
    ck_assert_int_eq(json_array_size(arr), 2);
    ck_assert_str_eq(jstr(json_array_get(arr, 0), "account"), "dave");
    json_t *c = json_array_get(arr, 1);
    ck_assert_str_eq(jstr(c, "account"), "carol");
    ck_assert_int_eq(json_integer_value(json_object_get(c, "overflow")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "last")), t - 1000);
    json_t *x = json_array_get(json_object_get(c, "addresses"), 0);
    ck_assert_str_eq(jstr(x, "address"), "x@example.net");          /* most recent */
    ck_assert_int_eq(json_integer_value(json_object_get(x, "count")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(x, "first")), t - 5000);
    json_decref(o);

    expect_exit(ctl("identity", "observed", "Carol", NULL), 0, "observed carol");
    ck_assert_msg(strstr(out, "carol: 2 addresses") && strstr(out, "y@example.net")
                  && strstr(out, "dave") == NULL, "observed carol: \"%s\"", out);
    expect_exit(ctl("identity", "observed", "nobody", NULL), 0, "observed nobody");
    ck_assert_msg(strstr(out, "no observed") != NULL, "observed nobody: \"%s\"", out);
    expect_exit(ctl("--json", "show", "carol", NULL), 0, "show carol --json");
    o = parse(out, "show --json");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "observed")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "observed_overflow")), 4);
    json_decref(o);
    expect_exit(ctl("show", "carol", NULL), 0, "show carol");
    ck_assert_msg(strstr(out, "observed sender addresses: 2") != NULL, "show: \"%s\"", out);

    /* adopt names what was not observed and changes nothing */
    expect_exit(ctl("identity", "adopt", "carol", "x@example.net", "q@example.net", NULL), 1,
                "adopt an address not observed");
    ck_assert_msg(strstr(err, "q@example.net") && strstr(err, "nothing adopted"),
                  "adopt: \"%s\"", err);
    expect_cli(CLI("EXISTS", P "{a:carol}:ids"), "0", "nothing granted");
    expect_cli(CLI("HLEN", P "{a:carol}:observed"), "3", "nothing unobserved");
    expect_exit(ctl("identity", "adopt", "carol", "bad-address", NULL), 2, "adopt bad");

    /* adopt every observed address: pending grants, no longer observed */
    expect_exit(ctl("identity", "adopt", "carol", "--by", "helpdesk", NULL), 0, "adopt all");
    ck_assert_msg(strstr(out, "x@example.net adopted (pending") && strstr(out, "y@example.net"),
                  "adopt all: \"%s\"", out);
    for (int i = 0; i < 2; i++) {
        const char *ad = i ? "y@example.net" : "x@example.net";
        json_t *g = parse(CLI("HGET", P "{a:carol}:ids", ad), "adopted grant");
        ck_assert_str_eq(jstr(g, "state"), "pending");
        ck_assert_str_eq(jstr(g, "by"), "helpdesk");
        json_decref(g);
        snprintf(key, sizeof key, P "{id:%s}:who", ad);
        expect_cli(CLI("HEXISTS", key, "carol"), "1", "adopted: who");
        expect_cli(CLI("HEXISTS", P "{a:carol}:observed", ad), "0", "adopted: unobserved");
    }
    /* only the overflow count was left: the hash and its index entry go */
    expect_cli(CLI("EXISTS", P "{a:carol}:observed"), "0", "observed hash gone");
    expect_cli(CLI("ZSCORE", P "{idx}:observed", "carol"), "", "index entry gone");
    expect_exit(ctl("identity", "adopt", "carol", NULL), 1, "adopt, nothing observed");

    /* adopt --verified one address, in another spelling */
    expect_exit(ctl("--json", "identity", "adopt", "dave", "<Z@Example.ORG>", "--verified",
                    "--by", "helpdesk", NULL), 0, "adopt --verified");
    o = parse(out, "adopt --json");
    ck_assert_str_eq(jstr(o, "state"), "verified");
    ck_assert_str_eq(jstr(json_array_get(json_object_get(o, "adopted"), 0), "address"),
                     "z@example.org");
    ck_assert(json_is_true(json_object_get(json_array_get(json_object_get(o, "adopted"), 0),
                                           "changed")));
    json_decref(o);
    json_t *g = parse(CLI("HGET", P "{a:dave}:ids", "z@example.org"), "adopted verified");
    ck_assert_str_eq(jstr(g, "state"), "verified");
    json_decref(g);
    expect_cli(CLI("EXISTS", P "{a:dave}:observed"), "0", "dave: nothing observed left");
    expect_cli(CLI("ZSCORE", OBSIDX, "dave"), "", "dave left the index");
    json_t *ev = last_event("identity_grant");
    ck_assert_str_eq(jstr(ev, "by"), "helpdesk");
    ck_assert_str_eq(jstr(ev, "address"), "z@example.org");
    json_decref(ev);
    /* an observed address not in normal form (written by hand) is skipped */
    observe("erin", "Upper@Example.NET", 1, t - 100, t - 100);
    expect_exit(ctl("identity", "adopt", "erin", NULL), 1, "adopt, nothing adoptable");
    ck_assert_msg(strstr(err, "skipped observed \"Upper@Example.NET\"")
                  && strstr(err, "that can be adopted"), "adopt erin: \"%s\"", err);
    expect_cli(CLI("EXISTS", P "{a:erin}:ids"), "0", "erin: nothing granted");
    CLI("DEL", P "{a:erin}:observed");
    expect_exit(ctl("identity", "observed", NULL), 0, "observed after adopting");
    ck_assert_msg(strstr(out, "dave") == NULL && strstr(out, "carol") == NULL
                  && strstr(out, "no observed sender addresses") != NULL,
                  "observed after adopt: \"%s\"", out);
    tfix_stop_all();
}
END_TEST

/* ---- bulk import */

START_TEST(test_identity_import)
{
    char path[192], path2[192], line[5000], *text;
    size_t cap = 16384, len = 0;
    tfix_start_redis(&rs, NULL);
    write_config_ids("{\"strip_plus_tag\": \"+\"}");
    snprintf(path, sizeof path, "%s/grants.txt", rs.dir);

    text = malloc(cap);
#define ADD(...) (len += (size_t)snprintf(text + len, cap - len, __VA_ARGS__))
    ADD("# grants from the old system\n");                  /* 1 */
    ADD("\n");                                              /* 2 */
    ADD("ann ann@example.com verified\n");                  /* 3 granted */
    ADD("ann <Ann+list@Example.COM>\n");                    /* 4 unchanged */
    ADD("bob bob@example.com\n");                           /* 5 granted, pending */
    ADD("bob\n");                                           /* 6 bad */
    ADD("bob no-at-sign\n");                                /* 7 bad */
    ADD("Cy @Example.org verified\n");                      /* 8 granted */
    ADD("cy cy@example.org maybe\n");                       /* 9 bad */
    ADD("  \t  \n");                                        /* 10 blank */
    snprintf(line, sizeof line, "dee dee@example.com verified");
    memset(line + strlen(line), ' ', 4096 - strlen(line));  /* exactly 4096 bytes */
    line[4096] = '\0';
    ADD("%s\n", line);                                      /* 11 granted */
    snprintf(line, sizeof line, "eve eve@example.com verified");
    memset(line + strlen(line), ' ', 4097 - strlen(line));  /* 4097 bytes */
    line[4097] = '\0';
    ADD("%s\n", line);                                      /* 12 bad: too long */
    ADD("a b c d\n");                                       /* 13 bad */
    ADD("fay\tfay@example.com\tverified\r\n");              /* 14 granted */
    ADD("gus gus@example.com");                             /* 15 granted, no newline */
#undef ADD
    tfile_write(path, text);
    free(text);

    expect_exit(ctl("identity", "import", path, "--by", "importer", NULL), 1,
                "import with bad lines");
    ck_assert_msg(strstr(out, "6 granted, 1 unchanged, 5 bad lines") != NULL,
                  "import summary: got \"%s\"", out);
    static const int bad[] = { 6, 7, 9, 12, 13 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[256];
        snprintf(want, sizeof want, "%s:%d: ", path, bad[i]);
        ck_assert_msg(strstr(err, want) != NULL, "want \"%s\" in stderr \"%s\"", want, err);
    }
    ck_assert_msg(strstr(err, ":12: longer than 4096 bytes") != NULL, "long: \"%s\"", err);
    ck_assert_msg(strstr(err, ":7: address") != NULL, "address: \"%s\"", err);
    static const int good[] = { 1, 2, 3, 4, 5, 8, 10, 11, 14, 15 };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char nope[256];
        snprintf(nope, sizeof nope, "%s:%d: ", path, good[i]);
        ck_assert_msg(strstr(err, nope) == NULL, "line %d reported: \"%s\"", good[i], err);
    }
    static const struct { const char *acc, *addr, *state; } want[] = {
        { "ann", "ann@example.com", "verified" }, { "bob", "bob@example.com", "pending" },
        { "cy", "@example.org", "verified" }, { "dee", "dee@example.com", "verified" },
        { "fay", "fay@example.com", "verified" }, { "gus", "gus@example.com", "pending" },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char key[128];
        snprintf(key, sizeof key, P "{a:%s}:ids", want[i].acc);
        json_t *g = parse(CLI("HGET", key, want[i].addr), want[i].addr);
        ck_assert_str_eq(jstr(g, "state"), want[i].state);
        ck_assert_str_eq(jstr(g, "by"), "importer");
        json_decref(g);
        snprintf(key, sizeof key, P "{id:%s}:who", want[i].addr);
        expect_cli(CLI("HLEN", key), "1", "imported: who");
    }
    expect_cli(CLI("EXISTS", P "{a:eve}:ids"), "0", "the long line was not imported");
    expect_cli(CLI("HLEN", P "{a:ann}:ids"), "1", "ann: one grant");
    expect_cli(CLI("XLEN", EVENTS), "6", "one event per grant");
    json_t *ev = last_event("identity_add");
    ck_assert_str_eq(jstr(ev, "by"), "importer");
    ck_assert_str_eq(jstr(ev, "address"), "gus@example.com");
    json_decref(ev);

    /* again: nothing changes */
    expect_exit(ctl("--json", "identity", "import", path, NULL), 1, "import again");
    json_t *o = parse(out, "import --json");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "granted")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "unchanged")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "bad")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "lines")), 12);
    json_decref(o);
    expect_cli(CLI("XLEN", EVENTS), "6", "no events for unchanged grants");

    /* a clean file, from stdin, with the library flushed: exit 0, reloaded */
    snprintf(path2, sizeof path2, "%s/clean.txt", rs.dir);
    text = malloc(64 * 2500);
    len = 0;
    for (int i = 0; i < 2500; i++)          /* more than one pipeline batch */
        len += (size_t)sprintf(text + len, "user%d u%d@example.net%s\n", i % 500, i,
                               i % 2 ? " verified" : "");
    tfile_write(path2, text);
    free(text);
    expect_cli(CLI("FUNCTION", "FLUSH"), "OK", "FUNCTION FLUSH");
    char script[1024];
    snprintf(script, sizeof script, "exec \"$0\" -c \"$1\" identity import - < \"$2\"");
    char *argv[] = { "/bin/sh", "-c", script, (char *)env("OUTPOSTCTL"), cfgpath, path2, NULL };
    char s[64];
    int st = trun(argv, out, sizeof out, err, sizeof err, 60000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "import - : %s; stdout \"%s\" stderr \"%s\"", tstatus_str(st, s, sizeof s),
                  out, err);
    ck_assert_msg(strstr(out, "2500 granted, 0 unchanged, 0 bad lines") != NULL,
                  "import - : got \"%s\"", out);
    expect_cli(CLI("HLEN", P "{a:user7}:ids"), "5", "user7: 5 grants");
    json_t *g = parse(CLI("HGET", P "{a:user7}:ids", "u7@example.net"), "u7");
    ck_assert_str_eq(jstr(g, "state"), "verified");
    json_decref(g);

    expect_exit(ctl("identity", "import", "/nonexistent/grants.txt", NULL), 2,
                "import of a missing file");
    expect_exit(ctl("identity", "import", path, path2, NULL), 2, "two files");
    tfix_stop_all();
}
END_TEST

START_TEST(test_identity_unreachable)
{
    char addr[300];
    snprintf(cfgpath, sizeof cfgpath, "/tmp/outpost-admin-%ld.json", (long)getpid());
    write_config_addr("unix:/nonexistent/outpost-redis.sock", "");
    expect_exit(ctl("identity", "list", "alice", NULL), 3, "list, no Redis");
    expect_exit(ctl("identity", "add", "alice", "a@example.com", NULL), 3, "add, no Redis");
    expect_exit(ctl("identity", "observed", NULL), 3, "observed, no Redis");
    expect_exit(ctl("identity", "import", cfgpath, NULL), 3, "import, no Redis");
    /* arguments are checked before connecting */
    memset(addr, 'a', sizeof addr);
    memcpy(addr + 254 - 12, "@example.com", 13);
    expect_exit(ctl("identity", "who", addr, NULL), 3, "254-byte address: valid");
    memset(addr, 'a', sizeof addr);
    memcpy(addr + 255 - 12, "@example.com", 13);
    expect_exit(ctl("identity", "who", addr, NULL), 2, "255-byte address");
    expect_exit(ctl("identity", "verify", "alice", "x", NULL), 2, "no @");
    unlink(cfgpath);
}
END_TEST

/* ---- verdict, events (SPEC §7, outpostctl part) */

#define VERDICTS P "{verdicts}"

/* The test's config with auto_suspend in class standard (3 within 1h) and
 * none in bulk; redis_extra as write_config(). */
static void write_config_verdicts(const char *redis_extra)
{
    char text[2048];
    snprintf(cfgpath, sizeof cfgpath, "%s/outpost.json", rs.dir);
    snprintf(text, sizeof text,
             "{\n"
             "  \"redis\": {\"address\": \"unix:%s\"%s},\n"
             "  \"policy_dir\": \"%s\",\n"
             "  \"default_class\": \"standard\",\n"
             "  \"classes\": {\"standard\": {\"auto_suspend\": {\"verdicts\": 3, "
             "\"within\": \"1h\"}}, \"bulk\": {}}\n"
             "}\n", rs.sock, redis_extra, env("T_POLICY"));
    tfile_write(cfgpath, text);
}

/* The id of "verdict ID queued for ..." in out. */
static void queued_id(char *id, size_t cap)
{
    ck_assert_msg(sscanf(out, "verdict %63s queued for ", id) == 1 && cap > 64,
                  "verdict: got \"%s\"", out);
    ck_assert_msg(strchr(id, '-') != NULL, "verdict: \"%s\" is not an entry id", id);
}

START_TEST(test_verdict_cmd)
{
    char id[80], want[2048], ref[300], big[300];
    tfix_start_redis(&rs, NULL);
    write_config("");

    /* every bound at its maximum: weight 1000, recipients 1000000, ref 256 */
    memset(ref, 'r', 256);
    ref[256] = '\0';
    expect_exit(ctl("verdict", " Alice ", "--weight", "1000", "--recipients", "1000000",
                    "--queue-id", "4Xk2b3", "--ref", ref, "--source", "scanner1", NULL), 0,
                "verdict at the bounds");
    queued_id(id, sizeof id);
    ck_assert_msg(strstr(out, "queued for alice; outpostd applies it within a second")
                  != NULL, "verdict: got \"%s\"", out);
    snprintf(want, sizeof want, "%s\naccount\nalice\nweight\n1000\nrecipients\n1000000\n"
             "queue_id\n4Xk2b3\nref\n%s\nsource\nscanner1", id, ref);
    expect_cli(CLI("XRANGE", VERDICTS, "-", "+"), want, "the entry written");

    /* only what is given, and the default source */
    expect_exit(ctl("--json", "verdict", "bob", "--weight", "0.5", NULL), 0,
                "verdict --json");
    json_t *o = parse(out, "verdict --json");
    ck_assert_str_eq(jstr(o, "account"), "bob");
    ck_assert_str_eq(jstr(o, "stream"), VERDICTS);
    ck_assert_msg(strncmp(jstr(o, "source"), "outpostctl", 10) == 0, "source \"%s\"",
                  jstr(o, "source"));
    ck_assert(json_real_value(json_object_get(o, "weight")) == 0.5);
    ck_assert_ptr_null(json_object_get(o, "recipients"));
    snprintf(want, sizeof want, "%s\naccount\nbob\nweight\n0.5\nsource\n%s",
             jstr(o, "id"), jstr(o, "source"));
    expect_cli(CLI("XRANGE", VERDICTS, jstr(o, "id"), jstr(o, "id")), want,
               "the entry written, defaults");
    json_decref(o);
    expect_exit(ctl("verdict", "carol", "--recipients", "0", "--weight", "0.001",
                    "--ref", "", NULL), 0, "recipients 0, weight 0.001, empty ref");
    expect_cli(CLI("XLEN", VERDICTS), "3", "three verdicts");

    /* one past each bound: exit 2, nothing written */
    static const char *const bad[][2] = {
        { "--weight", "0" }, { "--weight", "1000.1" }, { "--weight", "-1" },
        { "--weight", "1e2" }, { "--weight", "" }, { "--weight", "." },
        { "--weight", "1." }, { "--weight", "1.2.3" }, { "--weight", "nan" },
        { "--recipients", "1000001" }, { "--recipients", "-1" }, { "--recipients", "1.5" },
        { "--recipients", "" }, { "--ref", NULL }, { "--queue-id", NULL },
        { "--source", NULL }, { "--source", "" }, { "--ref", "a\001b" },
        { "--queue-id", "q\nq" }, { "--source", "s\x7f" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *v = bad[i][1];
        char what[128];
        if (v == NULL) {                /* one byte over its maximum */
            size_t n = strcmp(bad[i][0], "--ref") == 0 ? 257 : 65;
            memset(big, 'x', n);
            big[n] = '\0';
            v = big;
        }
        snprintf(what, sizeof what, "verdict %s \"%.20s\" (%zu bytes)", bad[i][0], v,
                 strlen(v));
        expect_exit(ctl("verdict", "dave", bad[i][0], v, NULL), 2, what);
    }
    expect_exit(ctl("verdict", "da\001ve", NULL), 2, "account with a control byte");
    expect_exit(ctl("verdict", NULL), 2, "no account");
    expect_exit(ctl("verdict", "dave", "--by", "x", NULL), 2, "unknown option");
    memset(big, 'x', 64);
    big[64] = '\0';
    expect_exit(ctl("verdict", "erin", "--queue-id", big, "--source", big, NULL), 0,
                "queue-id and source of 64 bytes");
    expect_cli(CLI("XLEN", VERDICTS), "4", "bad verdicts wrote nothing");
    tfix_stop_all();
}
END_TEST

/* Writes an events entry by hand in the documented format (v 1). */
static void event_by_hand(const char *type, const char *account, const char *json)
{
    CLI("XADD", EVENTS, "*", "v", "1", "type", type, "account", account, "json", json);
    ck_assert_msg(strchr(cli_out, '-') != NULL, "XADD event: \"%s\"", cli_out);
}

/* The number of lines of s. */
static int nlines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

START_TEST(test_events_cmd)
{
    tfix_start_redis(&rs, NULL);
    write_config_limits();
    expect_exit(ctl("events", NULL), 0, "events, none");
    ck_assert_msg(strstr(out, "no events") != NULL, "events, none: got \"%s\"", out);

    expect_exit(ctl("suspend", "alice", "--reason", "phished password", "--by", "support1",
                    NULL), 0, "suspend");
    expect_exit(ctl("reinstate", "alice", "--by", "support2", "--note", "pw reset", NULL),
                0, "reinstate");
    expect_exit(ctl("class", "alice", "bulk", "--by", "ops", NULL), 0, "class");
    expect_exit(ctl("identity", "add", "alice", "sales@example.com", "--by", "ops", NULL),
                0, "identity add");
    event_by_hand("verdict", "bob", "{\"v\":1,\"type\":\"verdict\",\"account\":\"bob\","
                  "\"at\":1795000000000,\"id\":\"1794999999999-0\",\"weight\":2.5,"
                  "\"recipients\":50,\"queue_id\":\"4Xk2b3\",\"ref\":\"spamtrap hit\","
                  "\"source\":\"rspamd\",\"strikes\":4,\"suspended\":1}");

    /* the last 3, oldest first */
    expect_exit(ctl("events", "--count", "3", NULL), 0, "events --count 3");
    ck_assert_msg(nlines(out) == 3, "events --count 3: want 3 lines, got \"%s\"", out);
    const char *c = strstr(out, "  class "), *i = strstr(out, "  identity_add ");
    const char *v = strstr(out, "  verdict ");
    ck_assert_msg(c != NULL && i != NULL && v != NULL && c < i && i < v && c > out
                  && strstr(out, "  suspended ") == NULL && strstr(out, "reinstated") == NULL,
                  "events --count 3: want class, identity_add, verdict in that order, "
                  "got \"%s\"", out);
    ck_assert_msg(strstr(out, "alice  op: class  by: ops  class: bulk") != NULL
                  && strstr(out, "address: sales@example.com  state: pending") != NULL,
                  "admin change lines: got \"%s\"", out);
    ck_assert_msg(strstr(out, "bob  id 1794999999999-0  weight 2.5  recipients 50  "
                              "strikes 4  [suspended the account]  queue_id: 4Xk2b3  "
                              "ref: spamtrap hit  source: rspamd") != NULL,
                  "verdict line: got \"%s\"", out);
    /* time: RFC 3339 UTC from "at" (1795000000000 ms) */
    ck_assert_msg(strstr(out, "2026-11-18T11:06:40Z  verdict") != NULL,
                  "verdict time: got \"%s\"", out);
    ck_assert_msg(out[4] == '-' && out[10] == 'T' && out[19] == 'Z', "time: \"%s\"", out);

    /* JSON lines: the event's json plus its entry id */
    char ids[16384];
    memcpy(ids, CLI("XREVRANGE", EVENTS, "+", "-", "COUNT", "3"), sizeof ids);
    expect_exit(ctl("--json", "events", "--count", "3", NULL), 0, "events --json");
    ck_assert_int_eq(nlines(out), 3);
    static const char *const types[] = { "class", "identity_add", "verdict" };
    char *save = NULL, *copy = strdup(out);
    int k = 0;
    for (char *l = strtok_r(copy, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        json_t *e = parse(l, "an events --json line");
        ck_assert_str_eq(jstr(e, "type"), types[k]);
        ck_assert_str_eq(jstr(e, "account"), k < 2 ? "alice" : "bob");
        ck_assert_msg(strstr(ids, jstr(e, "id"))
                      != NULL && strchr(jstr(e, "id"), '-') != NULL,
                      "id \"%s\" is not one of the entries \"%s\"", jstr(e, "id"), ids);
        ck_assert_int_eq(jint(e, "v"), 1);
        if (k == 0)
            ck_assert_str_eq(jstr(e, "by"), "ops");
        if (k == 2) {   /* the verdict's own id, kept */
            ck_assert_str_eq(jstr(e, "verdict_id"), "1794999999999-0");
            ck_assert(json_real_value(json_object_get(e, "weight")) == 2.5);
        }
        json_decref(e);
        k++;
    }
    free(copy);
    ck_assert_int_eq(k, 3);

    /* filters, client-side, among the last N */
    expect_exit(ctl("events", "--type", "suspended", NULL), 0, "--type suspended");
    ck_assert_msg(nlines(out) == 1 && strstr(out, "  suspended           alice  by: support1  "
                                                  "until: reinstated  reason: phished "
                                                  "password") != NULL,
                  "--type suspended: got \"%s\"", out);
    expect_exit(ctl("events", "--type", "reinstated", NULL), 0, "--type reinstated");
    ck_assert_msg(nlines(out) == 1 && strstr(out, "reinstated          alice  by: support2  "
                                                  "note: pw reset") != NULL,
                  "--type reinstated: got \"%s\"", out);
    expect_exit(ctl("events", "--account", " ALICE ", NULL), 0, "--account ALICE");
    ck_assert_msg(nlines(out) == 4 && strstr(out, "bob") == NULL, "--account: got \"%s\"",
                  out);
    expect_exit(ctl("events", "--account", "bob", "--type", "verdict", "--json", NULL), 0,
                "--account bob --type verdict");
    ck_assert_int_eq(nlines(out), 1);
    json_decref(parse(out, "filtered line"));
    expect_exit(ctl("events", "--count", "2", "--type", "suspended", NULL), 0,
                "--type among the last 2");
    ck_assert_msg(strstr(out, "no matching event among the last 2") != NULL, "got \"%s\"",
                  out);

    /* untrusted values: control bytes escaped, non-JSON shown raw, cut */
    char big[2000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    event_by_hand("limit_reached", "ev\001il", "{\"limit\":\"msgs\\u001b[2J\","
                  "\"class\":\"standard\"}");
    event_by_hand("mystery\n", "x", big);
    expect_exit(ctl("events", "--count", "2", NULL), 0, "untrusted events");
    ck_assert_msg(strstr(out, "limit_reached       ev\\x01il  limit: msgs\\x1b[2J  "
                              "class: standard") != NULL
                  && strstr(out, "mystery\\x0a") != NULL && strstr(out, "(not JSON) zzz")
                  != NULL && strchr(out, '\001') == NULL && strchr(out, '\033') == NULL,
                  "untrusted: got \"%s\"", out);
    ck_assert_msg(strlen(out) < 1200, "a value is cut: got %zu bytes", strlen(out));
    expect_exit(ctl("events", "--count", "1", "--json", NULL), 0, "raw --json");
    json_t *raw = parse(out, "raw event");
    ck_assert_str_eq(jstr(raw, "type"), "mystery\n");
    ck_assert_int_eq(strlen(jstr(raw, "raw")), 1024);
    json_decref(raw);

    /* --count bounds */
    expect_exit(ctl("events", "--count", "10000", NULL), 0, "--count 10000");
    ck_assert_int_eq(nlines(out), 7);
    expect_exit(ctl("events", "--count", "10001", NULL), 2, "--count 10001");
    expect_exit(ctl("events", "--count", "x", NULL), 2, "--count x");
    expect_exit(ctl("events", "--type", "", NULL), 2, "--type empty");
    expect_exit(ctl("events", "extra", NULL), 2, "a positional argument");
    tfix_stop_all();
}
END_TEST

/* Starts outpostctl -c cfgpath ARGS... (NULL-terminated) in the background,
 * stdout to outpath, stderr to outpath + ".err"; returns its PID. */
static pid_t ctl_bg(const char *outpath, const char *a0, ...)
{
    char *argv[24], errpath[256];
    int n = 0;
    va_list ap;

    argv[n++] = (char *)env("OUTPOSTCTL");
    argv[n++] = "-c";
    argv[n++] = cfgpath;
    argv[n++] = (char *)a0;
    va_start(ap, a0);
    for (const char *a; n < 23 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    snprintf(errpath, sizeof errpath, "%s.err", outpath);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fi = open("/dev/null", O_RDONLY);
        if (fo < 0 || fe < 0 || fi < 0)
            _exit(126);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Waits (timeout_ms at most) for pid to exit; its wait status, or -1 after
 * killing it. */
static int wait_exit(pid_t pid, int timeout_ms)
{
    int st;
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

/* Waits (5 s at most) until the file holds `lines` lines; returns its text
 * (malloc'd). */
static char *wait_lines(const char *path, int lines)
{
    char *s = NULL;
    for (int i = 0; i < 500; i++) {
        free(s);
        s = tfile_read(path);
        if (s != NULL && nlines(s) >= lines)
            return s;
        usleep(10000);
    }
    ck_abort_msg("%s: want %d lines within 5 s, got \"%s\"", path, lines, s ? s : "");
    return NULL;
}

/* Waits (5 s at most) until a client of rs is blocked in XREAD. */
static void wait_xread(void)
{
    for (int i = 0; i < 500; i++) {
        if (strstr(CLI("CLIENT", "LIST"), "cmd=xread") != NULL)
            return;
        usleep(10000);
    }
    ck_abort_msg("no client blocked in XREAD within 5 s: \"%s\"", cli_out);
}

START_TEST(test_events_follow)
{
    char path[256], s[64];
    tfix_start_redis(&rs, NULL);
    write_config("");
    snprintf(path, sizeof path, "%s/follow.out", rs.dir);
    event_by_hand("init", "", "{\"v\":1,\"type\":\"init\",\"account\":\"\",\"op\":\"init\","
                  "\"by\":\"old\",\"version\":1,\"at\":1795000000000}");

    /* SIGTERM: the last event, then each new one, then exit 0 */
    pid_t pid = ctl_bg(path, "events", "--follow", "--count", "1", NULL);
    wait_xread();
    event_by_hand("suspended", "alice", "{\"v\":1,\"type\":\"suspended\",\"account\":"
                  "\"alice\",\"op\":\"suspend\",\"by\":\"support1\",\"reason\":\"spam run\","
                  "\"until\":0,\"note\":\"\",\"at\":1795000001000}");
    event_by_hand("reinstated", "alice", "{\"v\":1,\"type\":\"reinstated\",\"account\":"
                  "\"alice\",\"op\":\"reinstate\",\"by\":\"support2\",\"note\":\"ok\","
                  "\"reason\":\"spam run\",\"at\":1795000002000}");
    char *text = wait_lines(path, 3);
    ck_assert_msg(strstr(text, "init                -  op: init  by: old  version: 1\n")
                  != NULL
                  && strstr(text, "suspended           alice  by: support1  until: "
                                  "reinstated  reason: spam run\n") != NULL
                  && strstr(text, "reinstated          alice  by: support2  note: ok  "
                                  "reason: spam run\n") != NULL
                  && strstr(text, "init") < strstr(text, "suspended")
                  && strstr(text, "suspended") < strstr(text, "reinstated"),
                  "events --follow: got \"%s\"", text);
    free(text);
    kill(pid, SIGTERM);
    int st = wait_exit(pid, 5000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "events --follow after SIGTERM: got %s, want exit 0",
                  tstatus_str(st, s, sizeof s));

    /* SIGINT, JSON lines, filters, --count 0: only new events */
    pid = ctl_bg(path, "--json", "events", "--follow", "--count", "0", "--type",
                 "suspended", NULL);
    wait_xread();
    event_by_hand("reinstated", "bob", "{\"v\":1,\"type\":\"reinstated\"}");
    event_by_hand("suspended", "bob", "{\"v\":1,\"type\":\"suspended\",\"by\":\"auto\"}");
    text = wait_lines(path, 1);
    json_t *e = parse(text, "events --follow --json");
    ck_assert_str_eq(jstr(e, "type"), "suspended");
    ck_assert_str_eq(jstr(e, "account"), "bob");       /* from the entry's field */
    ck_assert_str_eq(jstr(e, "by"), "auto");
    ck_assert(strchr(jstr(e, "id"), '-') != NULL);
    json_decref(e);
    free(text);
    kill(pid, SIGINT);
    st = wait_exit(pid, 5000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "events --follow after SIGINT: got %s, want exit 0",
                  tstatus_str(st, s, sizeof s));

    /* Redis goes away while it waits: exit 3 (it stays blocked 5 s a read,
     * so this is bounded by the socket timeout: 5 s + 2 s) */
    pid = ctl_bg(path, "events", "--follow", NULL);
    wait_xread();
    tredis_kill(&rs, SIGKILL);
    tfix_track_redis(&rs);
    st = wait_exit(pid, 10000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 3,
                  "events --follow, Redis killed: got %s, want exit 3",
                  tstatus_str(st, s, sizeof s));
    tfix_stop_all();
}
END_TEST

/* FCALL outpost_verdict for the pending entry id, as outpostd makes it
 * (one class line: standard, K 3, within 1h, until reinstated). */
static void apply_verdict(const char *id, const char *account, const char *weight,
                          const char *ref)
{
    char strikes[128], acct[128], susp[128], audit[128];
    snprintf(strikes, sizeof strikes, P "{a:%s}:strikes", account);
    snprintf(acct, sizeof acct, P "{a:%s}:acct", account);
    snprintf(susp, sizeof susp, P "{a:%s}:susp", account);
    snprintf(audit, sizeof audit, P "{a:%s}:audit", account);
    CLI("XREADGROUP", "GROUP", "outpost", "t1", "COUNT", "100", "STREAMS", VERDICTS, ">");
    CLI("FCALL", "outpost_verdict", "7", VERDICTS, strikes, acct, susp, audit, IDX, EVENTS,
        "outpost", id, account, weight, "0", "q1", ref, "outpostctl", "standard", "100000",
        "1", "standard\t3\t3600000\t0\t0\t1h");
    ck_assert_msg(strncmp(cli_out, "1\n", 2) == 0, "FCALL outpost_verdict: \"%s\"",
                  cli_out);
}

START_TEST(test_show_strikes)
{
    char id[80], m1[64], m2[64], m3[64];
    tfix_start_redis(&rs, NULL);
    write_config_verdicts("");

    expect_exit(ctl("show", "carol", NULL), 0, "show, no strikes");
    ck_assert_msg(strstr(out, "\nstrikes 0 of 3 in 1h\n") != NULL, "got \"%s\"", out);

    /* two strikes inside the window, one older, one unreadable member */
    long long now = redis_now_ms();
    snprintf(m1, sizeof m1, "%lld", now - 1000);
    snprintf(m2, sizeof m2, "%lld", now - 2000);
    snprintf(m3, sizeof m3, "%lld", now - 2 * 3600000LL);
    CLI("ZADD", P "{a:carol}:strikes", m1, "1-0 1.5", m2, "2-0 1", m3, "3-0 5", m2, "junk");
    expect_cli(cli_out, "4", "ZADD strikes");
    expect_exit(ctl("show", "carol", NULL), 0, "show strikes");
    ck_assert_msg(strstr(out, "\nstrikes 2.5 of 3 in 1h (2 verdicts)\n") != NULL,
                  "show strikes: got \"%s\"", out);
    expect_exit(ctl("--json", "show", "carol", NULL), 0, "show --json strikes");
    json_t *o = parse(out, "show --json");
    json_t *s = json_object_get(o, "strikes");
    ck_assert(json_real_value(json_object_get(s, "sum")) == 2.5);
    ck_assert_int_eq(jint(s, "count"), 2);
    ck_assert(json_number_value(json_object_get(s, "threshold")) == 3);
    ck_assert_int_eq(jint(s, "within_ms"), 3600000);
    json_decref(o);

    /* a class without auto_suspend: 24 h, no threshold */
    expect_exit(ctl("class", "carol", "bulk", NULL), 0, "class bulk");
    expect_exit(ctl("show", "carol", NULL), 0, "show strikes, bulk");
    ck_assert_msg(strstr(out, "\nstrikes 7.5 in 24h (3 verdicts; no auto_suspend in this "
                              "class)\n") != NULL, "show strikes, bulk: got \"%s\"", out);
    expect_exit(ctl("--json", "show", "carol", NULL), 0, "show --json, bulk");
    o = parse(out, "show --json, bulk");
    s = json_object_get(o, "strikes");
    ck_assert(json_is_null(json_object_get(s, "threshold")));
    ck_assert_int_eq(jint(s, "within_ms"), 86400000);
    json_decref(o);
    expect_exit(ctl("class", "carol", "--default", NULL), 0, "class default");

    /* a verdict through the stream and outpost_verdict: it reaches 3 and
     * suspends; show renders both audit entries */
    CLI("XGROUP", "CREATE", VERDICTS, "outpost", "0", "MKSTREAM");
    expect_exit(ctl("verdict", "carol", "--ref", "spamtrap <x@example.com>", NULL), 0,
                "verdict carol");
    queued_id(id, sizeof id);
    apply_verdict(id, "carol", "1", "spamtrap <x@example.com>");
    expect_exit(ctl("show", "carol", NULL), 0, "show after the auto-suspension");
    char want[512];
    ck_assert_msg(strstr(out, "carol: suspended 0s ago by auto until reinstated: auto: 3 "
                              "verdicts in 1h") != NULL, "show: got \"%s\"", out);
    ck_assert_msg(strstr(out, "\nstrikes 0 of 3 in 1h\n") != NULL,
                  "strikes used up: got \"%s\"", out);
    snprintf(want, sizeof want, "  suspend    by auto  until reinstated  reason: auto: 3 "
             "verdicts in 1h  note: verdict %s  strikes: 3.5\n", id);
    ck_assert_msg(strstr(out, want) != NULL, "auto-suspension audit: want \"%s\" in \"%s\"",
                  want, out);
    snprintf(want, sizeof want, "  verdict    id %s  weight 1  strikes 3.5  [suspended the "
             "account]  queue_id: q1  ref: spamtrap <x@example.com>  source: outpostctl\n",
             id);
    ck_assert_msg(strstr(out, want) != NULL, "verdict audit: want \"%s\" in \"%s\"", want,
                  out);
    ck_assert_msg(strstr(out, "  suspend ") < strstr(out, "  verdict "),
                  "audit newest first: \"%s\"", out);
    expect_exit(ctl("--json", "show", "carol", NULL), 0, "show --json audit");
    o = parse(out, "show --json");
    json_t *a0 = json_array_get(json_object_get(o, "audit"), 0);
    json_t *a1 = json_array_get(json_object_get(o, "audit"), 1);
    ck_assert_str_eq(jstr(a0, "by"), "auto");
    ck_assert_str_eq(jstr(a1, "op"), "verdict");
    ck_assert_str_eq(jstr(a1, "id"), id);
    json_decref(o);
    tfix_stop_all();
}
END_TEST

START_TEST(test_auto_suspended)
{
    tfix_start_redis(&rs, NULL);
    write_config("");
    expect_exit(ctl("suspend", "erin", "--reason", "phished", "--by", "support1", NULL), 0,
                "suspend erin (loads the library)");
    /* an auto-suspension as outpost_verdict writes it, by redis-cli */
    CLI("FCALL", "outpost_suspend", "4", P "{a:dave}:susp", P "{a:dave}:audit", IDX, EVENTS,
        "dave", "auto: 3 verdicts in 24h", "auto", "3600000", "verdict 1795000000000-0",
        "100000");
    ck_assert_msg(strchr(cli_out, '\n') != NULL, "FCALL outpost_suspend: \"%s\"", cli_out);
    expect_exit(ctl("suspended", NULL), 0, "suspended");
    ck_assert_msg(strstr(out, "dave  suspended 0s ago by auto until ") != NULL
                  && strstr(out, " (in 59m): auto: 3 verdicts in 24h\n") != NULL
                  && strstr(out, "erin  suspended 0s ago by support1 until reinstated: "
                                 "phished\n") != NULL, "suspended: got \"%s\"", out);
    expect_exit(ctl("--json", "suspended", NULL), 0, "suspended --json");
    json_t *arr = parse(out, "suspended --json");
    ck_assert_int_eq(json_array_size(arr), 2);
    json_t *d = json_array_get(arr, 0);                 /* soonest expiry first */
    ck_assert_str_eq(jstr(d, "account"), "dave");
    ck_assert_str_eq(jstr(d, "by"), "auto");
    ck_assert_str_eq(jstr(d, "reason"), "auto: 3 verdicts in 24h");
    ck_assert_str_eq(jstr(d, "note"), "verdict 1795000000000-0");
    ck_assert_int_eq(jint(d, "until") - jint(d, "at"), 3600000);
    ck_assert_int_eq(json_object_size(d), 6);
    json_decref(arr);
    tfix_stop_all();
}
END_TEST

/* The documented outpostctl ACL user (doc/operations.md, "Securing Redis
 * across hosts"), with password "pw": every command of this part runs as
 * that user and ACL LOG stays empty. */
START_TEST(test_verdict_events_acl)
{
    char path[256], pw[256], extra[512], s[64];
    tfix_start_redis(&rs, NULL);
    snprintf(path, sizeof path, "%s/operations.md", env("T_DOC"));
    char *doc = tfile_read(path);
    ck_assert_msg(doc != NULL, "cannot read %s", path);
    char *line = strstr(doc, "\n    ACL SETUSER outpostctl ");
    ck_assert_msg(line != NULL, "%s: no \"ACL SETUSER outpostctl\" line", path);
    line += 5;
    line[strcspn(line, "\n")] = '\0';
    const char *argv[128];
    int argc = 0;
    for (char *save = NULL, *w = strtok_r(line, " ", &save); w != NULL && argc < 128;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = strcmp(w, ">LONG-RANDOM-2") == 0 ? ">pw" : w;
    ck_assert_int_lt(argc, 128);
    redisContext *rc = redisConnectUnix(rs.sock);
    ck_assert_msg(rc != NULL && !rc->err, "connect to %s", rs.sock);
    redisReply *r = redisCommandArgv(rc, argc, argv, NULL);
    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_STATUS, "ACL SETUSER: %s",
                  r && r->str ? r->str : "no reply");
    freeReplyObject(r);
    redisFree(rc);
    free(doc);

    snprintf(pw, sizeof pw, "%s/pw.ctl", rs.dir);
    tfile_write(pw, "pw\n");
    snprintf(extra, sizeof extra, ", \"username\": \"outpostctl\", \"password_file\": "
             "\"%s\"", pw);
    write_config_verdicts(extra);
    expect_cli(CLI("ACL", "LOG", "RESET"), "OK", "ACL LOG RESET");

    expect_exit(ctl("verdict", "alice", "--weight", "2", "--recipients", "3", "--queue-id",
                    "q", "--ref", "r", NULL), 0, "verdict as outpostctl");
    expect_exit(ctl("suspend", "alice", "--reason", "x", NULL), 0, "suspend");
    expect_exit(ctl("reinstate", "alice", NULL), 0, "reinstate");
    CLI("ZADD", P "{a:alice}:strikes", "+inf", "1-0 1");
    expect_exit(ctl("show", "alice", NULL), 0, "show as outpostctl");
    expect_exit(ctl("suspended", NULL), 0, "suspended as outpostctl");
    expect_exit(ctl("events", NULL), 0, "events as outpostctl");
    ck_assert_int_eq(nlines(out), 2);
    expect_exit(ctl("--json", "events", "--type", "suspended", "--account", "alice", NULL),
                0, "events --json as outpostctl");
    snprintf(path, sizeof path, "%s/follow.out", rs.dir);
    pid_t pid = ctl_bg(path, "events", "--follow", "--count", "0", NULL);
    wait_xread();
    expect_exit(ctl("suspend", "bob", "--reason", "y", NULL), 0, "suspend bob");
    free(wait_lines(path, 1));
    kill(pid, SIGTERM);
    int st = wait_exit(pid, 5000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "events --follow as outpostctl: %s", tstatus_str(st, s, sizeof s));
    expect_cli(CLI("ACL", "LOG"), "", "ACL LOG after every command");
    tfix_stop_all();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("admin");
    tfix_init(NULL, 0, &rs, 1);
    tfix_add(s, "suspend_record", test_suspend_record, TIMEOUT_S, NULL);
    tfix_add(s, "fcall_same", test_fcall_same, TIMEOUT_S, NULL);
    tfix_add(s, "suspend_expiry", test_suspend_expiry, TIMEOUT_S, NULL);
    tfix_add(s, "reinstate", test_reinstate, TIMEOUT_S, NULL);
    tfix_add(s, "suspended_list", test_suspended_list, TIMEOUT_S, NULL);
    tfix_add(s, "lists", test_lists, TIMEOUT_S, NULL);
    tfix_add(s, "decide", test_decide, TIMEOUT_S, NULL);
    tfix_add(s, "unreachable", test_unreachable, TIMEOUT_S, NULL);
    tfix_add(s, "auth", test_auth, TIMEOUT_S, NULL);
    tfix_add(s, "init", test_init, TIMEOUT_S, NULL);
    tfix_add(s, "untrusted_names", test_untrusted_names, TIMEOUT_S, NULL);
    tfix_add(s, "class", test_class, TIMEOUT_S, NULL);
    tfix_add(s, "override", test_override, TIMEOUT_S, NULL);
    tfix_add(s, "reset", test_reset, TIMEOUT_S, NULL);
    tfix_add(s, "usage_math", test_usage_math, TIMEOUT_S, NULL);
    tfix_add(s, "show_limits", test_show_limits, TIMEOUT_S, NULL);
    tfix_add(s, "identity_commands", test_identity_commands, TIMEOUT_S, NULL);
    tfix_add(s, "identity_expiry", test_identity_expiry, TIMEOUT_S, NULL);
    tfix_add(s, "identity_random", test_identity_random, TIMEOUT_S, NULL);
    tfix_add(s, "identity_observed", test_identity_observed, TIMEOUT_S, NULL);
    tfix_add(s, "identity_import", test_identity_import, TIMEOUT_S, NULL);
    tfix_add(s, "identity_unreachable", test_identity_unreachable, TIMEOUT_S, NULL);
    tfix_add(s, "verdict_cmd", test_verdict_cmd, TIMEOUT_S, NULL);
    tfix_add(s, "events_cmd", test_events_cmd, TIMEOUT_S, NULL);
    tfix_add(s, "events_follow", test_events_follow, TIMEOUT_S, NULL);
    tfix_add(s, "show_strikes", test_show_strikes, TIMEOUT_S, NULL);
    tfix_add(s, "auto_suspended", test_auto_suspended, TIMEOUT_S, NULL);
    tfix_add(s, "verdict_events_acl", test_verdict_events_acl, TIMEOUT_S, NULL);

    return tfix_run(s);
}
