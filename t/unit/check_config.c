/* check_config.c - config.c: the shipped example, every default, every
 * error kind with its exact line:column and key path, every bound at N and
 * one past it, durations, instants, comments, references.
 *
 * Each test runs in its own fork with a fresh directory /tmp/cfg.XXXXXX
 * (removed by the teardown); configs are written there.  JSON in this file
 * is written with ' for " (t_json() swaps them) to keep columns readable. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "../lib/tfix.h"
#include "config.h"
#include "list.h"
#include "log.h"

static char t_dir[64];
static char t_path[128];
static char t_err[1024];

static void t_setup(void)
{
    snprintf(t_dir, sizeof t_dir, "/tmp/cfg.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t_dir));
    snprintf(t_path, sizeof t_path, "%s/outpost.json", t_dir);
}

static void t_teardown(void)
{
    unlink(t_path);
    rmdir(t_dir);
}

static void t_write_raw(const char *text, size_t len)
{
    FILE *f = fopen(t_path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* Writes json with every ' turned into ". */
static void t_write(const char *json)
{
    char *s = strdup(json);
    ck_assert_ptr_nonnull(s);
    for (char *p = s; *p != '\0'; p++)
        if (*p == '\'')
            *p = '"';
    t_write_raw(s, strlen(s));
    free(s);
}

static struct config *t_load_ok(const char *json)
{
    struct config *cfg = NULL;
    t_write(json);
    t_err[0] = '\0';
    if (config_load(t_path, &cfg, t_err, sizeof t_err) != 0)
        ck_abort_msg("config_load failed: %s", t_err);
    ck_assert_ptr_nonnull(cfg);
    return cfg;
}

/* Loads json, which must fail; returns the error after "PATH:". */
static const char *t_load_err(const char *json)
{
    struct config *cfg = (struct config *)1;
    size_t n = strlen(t_path);

    t_write(json);
    t_err[0] = '\0';
    ck_assert_int_eq(config_load(t_path, &cfg, t_err, sizeof t_err), -1);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strncmp(t_err, t_path, n) == 0 && t_err[n] == ':',
                  "error does not start with the file: %s", t_err);
    ck_assert_msg(strchr(t_err, '\n') == NULL, "error has a newline: %s", t_err);
    return t_err + n + 1;
}

#define t_expect_err(json, want) do {                                        \
        const char *got_ = t_load_err(json);                                 \
        ck_assert_msg(strcmp(got_, want) == 0, "got  %s\nwant %s", got_, want); \
    } while (0)

#define t_expect_prefix(json, want) do {                                     \
        const char *got_ = t_load_err(json);                                 \
        ck_assert_msg(strncmp(got_, want, strlen(want)) == 0,                \
                      "got  %s\nwant %s...", got_, want);                    \
    } while (0)

#define MINI "'default_class':'a','classes':{'a':{}}"

/* ---- the shipped example ----------------------------------------------- */

START_TEST(test_shipped_policy)
{
    const char *dir = getenv("T_POLICY");
    char path[512];
    struct config *cfg = NULL;
    const struct config_class *k;

    ck_assert_msg(dir != NULL, "T_POLICY is not set");
    snprintf(path, sizeof path, "%s/outpost.json", dir);
    if (config_load(path, &cfg, t_err, sizeof t_err) != 0)
        ck_abort_msg("%s", t_err);
    ck_assert_uint_eq(cfg->listen.n, 1);
    ck_assert_str_eq(cfg->listen.v[0], "unix:/var/spool/postfix/outpost/outpost.sock");
    ck_assert_str_eq(cfg->default_class, "standard");
    ck_assert_str_eq(cfg->unauthenticated_class, "unauth");
    ck_assert_int_eq(cfg->failure_action, ACTION_DUNNO);
    ck_assert_int_eq(cfg->identities.mode, IDENTITY_OFF);
    ck_assert_int_eq(cfg->log.target, LOG_T_SYSLOG);
    ck_assert_uint_eq(list_size(cfg->allow.compiled), 0);
    ck_assert_uint_eq(list_size(cfg->deny.compiled), 0);
    ck_assert_ptr_null(cfg->metrics_listen);
    ck_assert_ptr_nonnull(config_class_find(cfg, "trial"));
    ck_assert_ptr_nonnull(config_class_find(cfg, "bulk"));
    k = config_class_find(cfg, "standard");
    ck_assert_ptr_nonnull(k);
    ck_assert_uint_eq(k->nlimits, 2);
    ck_assert_int_eq(k->limits[0].count, LIMIT_MESSAGES);
    ck_assert_uint_eq(k->limits[0].max, 200);
    ck_assert_int_eq(k->limits[0].per_ms, 3600000);
    ck_assert_int_eq(k->limits[1].count, LIMIT_RECIPIENTS);
    ck_assert_uint_eq(k->limits[1].max, 2000);
    ck_assert_int_eq(k->limits[1].per_ms, 86400000);
    ck_assert_uint_eq(k->max_recipients_per_message, 100);
    ck_assert(k->auto_suspend.enabled);
    k = config_class_find(cfg, "unauth");
    ck_assert_int_eq(k->limits[0].key, LIMIT_KEY_CLIENT_ADDRESS);
    config_unref(cfg);
}
END_TEST

/* ---- defaults ---------------------------------------------------------- */

static uint64_t t_fnv(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

START_TEST(test_defaults)
{
    static const char json[] = "{'default_class':'a','classes':{'a':{}}}";
    struct config *cfg = t_load_ok(json);
    const struct config_class *k;
    char want[17], text[sizeof json];

    ck_assert_int_eq(cfg->refs, 1);
    ck_assert_str_eq(cfg->path, t_path);
    memcpy(text, json, sizeof json);
    for (char *p = text; *p != '\0'; p++)
        if (*p == '\'')
            *p = '"';
    snprintf(want, sizeof want, "%016" PRIx64, t_fnv(text));
    ck_assert_str_eq(cfg->hash, want);

    ck_assert_uint_eq(cfg->listen.n, 1);
    ck_assert_str_eq(cfg->listen.v[0], "unix:/var/spool/postfix/outpost/outpost.sock");
    ck_assert_uint_eq(cfg->socket.mode, 0660);
    ck_assert_ptr_null(cfg->socket.owner);
    ck_assert_str_eq(cfg->socket.group, "postfix");
    ck_assert_str_eq(cfg->user, "outpost");
    ck_assert_ptr_null(cfg->group);
    ck_assert_uint_eq(cfg->max_connections, CONFIG_MAX_CONNECTIONS);
    ck_assert_int_eq(cfg->idle_timeout_ms, 600000);

    ck_assert_uint_eq(cfg->protocol.max_line, PROTO_LINE_MAX);
    ck_assert_uint_eq(cfg->protocol.max_request, PROTO_REQUEST_MAX);
    ck_assert_uint_eq(cfg->protocol.max_attributes, PROTO_ATTRS_MAX);
    ck_assert_uint_eq(cfg->protocol.max_output, PROTO_OUTPUT_MAX);

    ck_assert_int_eq(cfg->log.target, LOG_T_SYSLOG);
    ck_assert_int_eq(cfg->log.level, LOG_L_INFO);
    ck_assert_int_eq(cfg->log.format, LOG_F_TEXT);
    ck_assert_int_eq(cfg->log.facility, LOG_MAIL);

    ck_assert_str_eq(cfg->redis.address, "127.0.0.1:6379");
    ck_assert_ptr_null(cfg->redis.username);
    ck_assert_ptr_null(cfg->redis.password_file);
    ck_assert_int_eq(cfg->redis.db, 0);
    ck_assert_str_eq(cfg->redis.prefix, "outpost:");
    ck_assert_int_eq(cfg->redis.timeout_ms, 250);
    ck_assert_int_eq(cfg->redis.connect_timeout_ms, 1000);
    ck_assert_int_eq(cfg->redis.max_in_flight, 10000);
    ck_assert_int_eq(cfg->redis.batch_max, 32);

    ck_assert_int_eq(cfg->failure_action, ACTION_DUNNO);
    ck_assert_uint_eq(cfg->suspension_cache.size, 10000);
    ck_assert_int_eq(cfg->suspension_cache.ttl_ms, 300000);
    ck_assert(cfg->account_lowercase);

    ck_assert_str_eq(cfg->default_class, "a");
    ck_assert_ptr_null(cfg->unauthenticated_class);
    ck_assert_uint_eq(cfg->nclasses, 1);
    k = config_class_find(cfg, "a");
    ck_assert_ptr_eq(k, &cfg->classes[0]);
    ck_assert_str_eq(k->name, "a");
    ck_assert_uint_eq(k->nlimits, 0);
    ck_assert_uint_eq(k->max_recipients_per_message, 0);
    ck_assert_int_eq(k->suspended_action, ACTION_REJECT);
    ck_assert(!k->auto_suspend.enabled);
    ck_assert_ptr_null(config_class_find(cfg, "b"));

    ck_assert_uint_eq(cfg->allow.src.accounts.n + cfg->allow.src.clients.n +
                      cfg->allow.src.senders.n + cfg->allow.src.sender_domains.n, 0);
    ck_assert_uint_eq(cfg->deny.src.accounts.n + cfg->deny.src.clients.n +
                      cfg->deny.src.senders.n + cfg->deny.src.sender_domains.n, 0);
    ck_assert_ptr_nonnull(cfg->allow.compiled);
    ck_assert_ptr_nonnull(cfg->deny.compiled);
    ck_assert_uint_eq(list_size(cfg->allow.compiled), 0);
    ck_assert_uint_eq(list_size(cfg->deny.compiled), 0);

    ck_assert_int_eq(cfg->identities.mode, IDENTITY_OFF);
    ck_assert_int_eq(cfg->identities.enforce_from_ms, 0);
    ck_assert(cfg->identities.null_sender_allow);
    ck_assert(cfg->identities.domain_grants);
    ck_assert(!cfg->identities.local_part_sensitive);
    ck_assert_int_eq(cfg->identities.plus_separator, 0);
    ck_assert_ptr_null(cfg->identities.prepend_header);
    ck_assert_int_eq(cfg->identities.event_window_ms, 3600000);

    ck_assert_str_eq(cfg->verdicts.group, "outpost");
    ck_assert_int_eq(cfg->verdicts.claim_idle_ms, 60000);
    ck_assert_uint_eq(cfg->events.max_length, 100000);

    ck_assert_str_eq(cfg->texts.deny, "550 5.7.1 Sending refused by policy");
    ck_assert_str_eq(cfg->texts.suspended, "550 5.7.1 Account suspended; contact support");
    ck_assert_str_eq(cfg->texts.identity, "553 5.7.1 Not authorized to send as <%a>");
    ck_assert_str_eq(cfg->texts.recipients,
                     "452 4.5.3 Too many recipients (at most %n per message)");
    ck_assert_str_eq(cfg->texts.limit,
                     "450 4.7.1 Limit %l reached (%n %u per %p); try again in %r");
    ck_assert_str_eq(cfg->texts.failure,
                     "451 4.3.0 Policy service unavailable; try again later");

    ck_assert_ptr_null(cfg->metrics_listen);
    ck_assert_ptr_null(cfg->notifier.support_address);
    ck_assert_ptr_null(cfg->notifier.from);
    ck_assert_int_eq(cfg->notifier.window_ms, 3600000);
    ck_assert_str_eq(cfg->notifier.sendmail, "/usr/sbin/sendmail");
    config_unref(cfg);
}
END_TEST

/* ---- every key set ----------------------------------------------------- */

START_TEST(test_all_keys)
{
    struct config *cfg = t_load_ok(
        "{'listen': ['unix:/run/outpost/o.sock', 'inet:127.0.0.1:10040',"
        "            'inet:[::1]:0'],"
        " 'socket': {'mode': '0600', 'owner': 'outpost', 'group': 'mail'},"
        " 'user': 'nobody', 'group': 'nogroup',"
        " 'max_connections': 10, 'idle_timeout': '90s',"
        " 'protocol': {'max_line': 1000, 'max_request': 2000,"
        "              'max_attributes': 30, 'max_output': 4096},"
        " 'log': {'target': 'STDERR', 'level': 'Warn', 'format': 'json',"
        "         'facility': 'local3'},"
        " 'redis': {'address': '[2001:db8::1]:6380', 'username': 'op',"
        "           'password_file': '/etc/outpost/redis.pw', 'db': 3,"
        "           'prefix': 'op1:', 'timeout_ms': 100, 'connect_timeout_ms': 500},"
        " 'failure_text': '451 4.3.0 Try later, %% busy',"
        " 'failure_action': 'defer',"
        " 'suspension_cache': {'size': 0, 'ttl': '1m'},"
        " 'account': {'lowercase': true},"
        " 'default_class': 'std', 'unauthenticated_class': 'anon',"
        " 'classes': {"
        "   'std': {'limits': [{'name': 'm1', 'max': 10, 'per': '1h'},"
        "                      {'name': 'r.d', 'count': 'recipients', 'key': 'account',"
        "                       'max': 100, 'per': '1d', 'action': 'reject',"
        "                       'text': '550 5.7.1 Over %l: %n %u per %p', 'shadow': true}],"
        "           'max_recipients_per_message': 50, 'suspended_action': 'HOLD',"
        "           'auto_suspend': {'verdicts': 2.5, 'within': '12h', 'for': '7d',"
        "                            'recipients_per_weight': 10}},"
        "   'anon': {'limits': [{'name': 'b', 'count': 'bytes', 'key': 'sender_domain',"
        "                        'max': 9007199254740991, 'per': '30s', 'action': 'Hold'}]}},"
        " 'lists': {'allow': {'accounts': ['Alice'], 'clients': ['192.0.2.0/24'],"
        "                     'senders': ['x@example.net'], 'sender_domains': ['.example.org']},"
        "           'deny': {'accounts': ['mallory'], 'clients': ['2001:db8::/32'],"
        "                    'senders': [], 'sender_domains': ['spam.example']}},"
        " 'identities': {'mode': 'enforce', 'enforce_from': '2026-12-01T00:00:00.5+02:00',"
        "                'null_sender': 'deny', 'domain_grants': false,"
        "                'local_part_case': 'sensitive', 'strip_plus_tag': '-',"
        "                'prepend_header': 'X-Outpost-Warning', 'event_window': '10m'},"
        " 'verdicts': {'group': 'g2', 'claim_idle': '5m'},"
        " 'events': {'max_length': 5000},"
        " 'texts': {'deny': '554 5.7.1 No', 'suspended': '550 5.7.1 Suspended',"
        "           'identity': '553 5.7.1 Not <%a>', 'recipients': '452 4.5.3 Max %n',"
        "           'limit': '451 4.7.1 %l: retry in %r', 'failure': '451 4.3.0 Ignored'},"
        " 'metrics': {'listen': '127.0.0.1:9180'},"
        " 'notifier': {'support_address': 'support@example.net', 'from': 'outpost@example.net',"
        "              'window': '2h', 'sendmail': '/usr/lib/sendmail'}}");
    const struct config_class *k;
    enum list_kind kind;

    ck_assert_uint_eq(cfg->listen.n, 3);
    ck_assert_str_eq(cfg->listen.v[2], "inet:[::1]:0");
    ck_assert_uint_eq(cfg->socket.mode, 0600);
    ck_assert_str_eq(cfg->socket.owner, "outpost");
    ck_assert_str_eq(cfg->socket.group, "mail");
    ck_assert_str_eq(cfg->user, "nobody");
    ck_assert_str_eq(cfg->group, "nogroup");
    ck_assert_uint_eq(cfg->max_connections, 10);
    ck_assert_int_eq(cfg->idle_timeout_ms, 90000);
    ck_assert_uint_eq(cfg->protocol.max_line, 1000);
    ck_assert_uint_eq(cfg->protocol.max_request, 2000);
    ck_assert_uint_eq(cfg->protocol.max_attributes, 30);
    ck_assert_uint_eq(cfg->protocol.max_output, 4096);
    ck_assert_int_eq(cfg->log.target, LOG_T_STDERR);
    ck_assert_int_eq(cfg->log.level, LOG_L_WARN);
    ck_assert_int_eq(cfg->log.format, LOG_F_JSON);
    ck_assert_int_eq(cfg->log.facility, LOG_LOCAL3);
    ck_assert_str_eq(cfg->redis.address, "[2001:db8::1]:6380");
    ck_assert_str_eq(cfg->redis.username, "op");
    ck_assert_str_eq(cfg->redis.password_file, "/etc/outpost/redis.pw");
    ck_assert_int_eq(cfg->redis.db, 3);
    ck_assert_str_eq(cfg->redis.prefix, "op1:");
    ck_assert_int_eq(cfg->redis.timeout_ms, 100);
    ck_assert_int_eq(cfg->redis.connect_timeout_ms, 500);
    ck_assert_int_eq(cfg->failure_action, ACTION_DEFER);
    /* failure_text wins over texts.failure, whatever the order */
    ck_assert_str_eq(cfg->texts.failure, "451 4.3.0 Try later, %% busy");
    ck_assert_uint_eq(cfg->suspension_cache.size, 0);
    ck_assert_int_eq(cfg->suspension_cache.ttl_ms, 60000);

    ck_assert_uint_eq(cfg->nclasses, 2);
    ck_assert_str_eq(cfg->classes[0].name, "std");     /* file order */
    ck_assert_str_eq(cfg->classes[1].name, "anon");
    k = config_class_find(cfg, "std");
    ck_assert_uint_eq(k->nlimits, 2);
    ck_assert_str_eq(k->limits[0].name, "m1");
    ck_assert_int_eq(k->limits[0].count, LIMIT_MESSAGES);
    ck_assert_int_eq(k->limits[0].key, LIMIT_KEY_ACCOUNT);
    ck_assert_uint_eq(k->limits[0].max, 10);
    ck_assert_int_eq(k->limits[0].per_ms, 3600000);
    ck_assert_int_eq(k->limits[0].action, ACTION_DEFER);
    ck_assert_ptr_null(k->limits[0].text);
    ck_assert(!k->limits[0].shadow);
    ck_assert_str_eq(k->limits[1].name, "r.d");
    ck_assert_int_eq(k->limits[1].count, LIMIT_RECIPIENTS);
    ck_assert_int_eq(k->limits[1].action, ACTION_REJECT);
    ck_assert_str_eq(k->limits[1].text, "550 5.7.1 Over %l: %n %u per %p");
    ck_assert(k->limits[1].shadow);
    ck_assert_uint_eq(k->max_recipients_per_message, 50);
    ck_assert_int_eq(k->suspended_action, ACTION_HOLD);
    ck_assert(k->auto_suspend.enabled);
    ck_assert(k->auto_suspend.verdicts == 2.5);
    ck_assert_int_eq(k->auto_suspend.within_ms, 12 * 3600000);
    ck_assert_int_eq(k->auto_suspend.for_ms, 7 * 86400000LL);
    ck_assert(k->auto_suspend.recipients_per_weight == 10);
    k = config_class_find(cfg, "anon");
    ck_assert_int_eq(k->limits[0].count, LIMIT_BYTES);
    ck_assert_int_eq(k->limits[0].key, LIMIT_KEY_SENDER_DOMAIN);
    ck_assert_uint_eq(k->limits[0].max, UINT64_C(9007199254740991));
    ck_assert_int_eq(k->limits[0].per_ms, 30000);
    ck_assert_int_eq(k->limits[0].action, ACTION_HOLD);
    ck_assert(!k->auto_suspend.enabled);

    ck_assert_str_eq(cfg->allow.src.accounts.v[0], "Alice");     /* as written */
    ck_assert(list_match(cfg->allow.compiled, "alice", NULL, NULL, false, &kind));
    ck_assert_int_eq(kind, LIST_ACCOUNT);
    ck_assert(list_match(cfg->allow.compiled, NULL, "192.0.2.9", NULL, false, &kind));
    ck_assert(list_match(cfg->allow.compiled, NULL, NULL, "x@example.net", true, &kind));
    ck_assert(list_match(cfg->deny.compiled, NULL, "2001:db8::7", NULL, false, &kind));
    ck_assert(list_match(cfg->deny.compiled, NULL, NULL, "a@spam.example", true, &kind));
    ck_assert_int_eq(kind, LIST_DOMAIN);
    ck_assert(!list_match(cfg->deny.compiled, "alice", "192.0.2.9", NULL, true, &kind));

    ck_assert_int_eq(cfg->identities.mode, IDENTITY_ENFORCE);
    ck_assert_int_eq(cfg->identities.enforce_from_ms, INT64_C(1796076000500));
    ck_assert(!cfg->identities.null_sender_allow);
    ck_assert(!cfg->identities.domain_grants);
    ck_assert(cfg->identities.local_part_sensitive);
    ck_assert_int_eq(cfg->identities.plus_separator, '-');
    ck_assert_str_eq(cfg->identities.prepend_header, "X-Outpost-Warning");
    ck_assert_int_eq(cfg->identities.event_window_ms, 600000);
    ck_assert_str_eq(cfg->verdicts.group, "g2");
    ck_assert_int_eq(cfg->verdicts.claim_idle_ms, 300000);
    ck_assert_uint_eq(cfg->events.max_length, 5000);
    ck_assert_str_eq(cfg->texts.deny, "554 5.7.1 No");
    ck_assert_str_eq(cfg->texts.suspended, "550 5.7.1 Suspended");
    ck_assert_str_eq(cfg->texts.identity, "553 5.7.1 Not <%a>");
    ck_assert_str_eq(cfg->texts.recipients, "452 4.5.3 Max %n");
    ck_assert_str_eq(cfg->texts.limit, "451 4.7.1 %l: retry in %r");
    ck_assert_str_eq(cfg->metrics_listen, "127.0.0.1:9180");
    ck_assert_str_eq(cfg->notifier.support_address, "support@example.net");
    ck_assert_str_eq(cfg->notifier.from, "outpost@example.net");
    ck_assert_int_eq(cfg->notifier.window_ms, 7200000);
    ck_assert_str_eq(cfg->notifier.sendmail, "/usr/lib/sendmail");
    config_unref(cfg);
}
END_TEST

START_TEST(test_lowercase_off)
{
    struct config *cfg = t_load_ok(
        "{" MINI ", 'account': {'lowercase': false},"
        " 'lists': {'deny': {'accounts': ['Bob']}}}");
    enum list_kind kind;

    ck_assert(!cfg->account_lowercase);
    ck_assert(list_match(cfg->deny.compiled, "Bob", NULL, NULL, false, &kind));
    ck_assert(!list_match(cfg->deny.compiled, "bob", NULL, NULL, false, &kind));
    config_unref(cfg);
}
END_TEST

START_TEST(test_strip_plus_tag)
{
    struct config *cfg = t_load_ok("{" MINI ", 'identities': {'strip_plus_tag': true}}");
    ck_assert_int_eq(cfg->identities.plus_separator, '+');
    config_unref(cfg);
    t_expect_err("{" MINI ", 'identities': {'strip_plus_tag': '++'}}",
                 "1:75: identities.strip_plus_tag: \"++\" is not one of \"+\", \"-\", \"_\", \"=\"");
}
END_TEST

/* ---- errors: each kind with its exact place ----------------------------- */

START_TEST(test_err_syntax_trailing_comma)
{
    t_expect_err("{\n  'default_class': 'a',\n}\n",
                 "3:1: string or '}' expected near '}'");
}
END_TEST

START_TEST(test_err_syntax_other)
{
    t_expect_err("{'default_class': tru}", "1:19: invalid token near 'tru'");
    t_expect_err("{'default_class': 'a'", "1:22: '}' expected near end of file");
    t_expect_err("", "1:1: '[' or '{' expected near end of file");
    t_expect_err("{\n 'a': 'x\xff'}", "2:8: unable to decode byte 0xff near '\"x'");
}
END_TEST

START_TEST(test_err_duplicate_key)
{
    t_expect_err("{\n  'default_class': 'a',\n  'default_class': 'b'\n}",
                 "3:3: duplicate object key near '\"default_class\"'");
}
END_TEST

START_TEST(test_err_unknown_key)
{
    t_expect_err("{" MINI ",\n 'log': {'levle': 'debug'}}",
                 "2:10: log.levle: unknown key (did you mean \"level\"?)");
    t_expect_err("{" MINI ",\n 'classes2': 1}", "2:2: classes2: unknown key (did you mean \"classes\"?)");
    t_expect_err("{" MINI ",\n 'zzz': 1}", "2:2: zzz: unknown key");
    t_expect_err("{'default_class':'a','classes':{'a':{\n"
                 "  'limits': [{'name': 'x', 'max': 1, 'per': '1h', 'burst': 2}]}}}",
                 "2:51: classes.a.limits[0].burst: unknown key");
}
END_TEST

START_TEST(test_err_wrong_type)
{
    t_expect_err("{" MINI ",\n  'redis': {'timeout_ms': '250'}}",
                 "2:27: redis.timeout_ms: expected an integer, got a string");
    t_expect_err("{" MINI ", 'account': {'lowercase': 'yes'}}",
                 "1:67: account.lowercase: expected true or false, got a string");
    t_expect_err("{" MINI ", 'listen': 'unix:/x/y'}",
                 "1:52: listen: expected an array of strings, got a string");
    t_expect_err("{" MINI ", 'listen': ['unix:/x/y', 5]}",
                 "1:66: listen[1]: expected a string, got an integer");
    t_expect_err("{" MINI ", 'idle_timeout': 600}",
                 "1:58: idle_timeout: expected a duration string such as \"30s\", got an integer");
    t_expect_err("{" MINI ", 'redis': {'timeout_ms': 2.5}}",
                 "1:66: redis.timeout_ms: expected an integer, got a number");
    t_expect_err("{" MINI ", 'log': null}", "1:49: log: expected an object, got null");
    t_expect_err("{'default_class':'a','classes':{'a':[]}}",
                 "1:37: classes.a: expected an object, got an array");
    t_expect_err("{'default_class':'a','classes':[]}",
                 "1:32: classes: expected an object of classes, got an array");
    t_expect_err("[1]", "1:1: the top level must be an object");
}
END_TEST


START_TEST(test_err_below_min)
{
    /* the example of STYLE §2.7 */
    t_expect_err("{\n  " MINI ",\n  'redis': {'timeout_ms': 0}\n}",
                 "3:27: redis.timeout_ms: 0 is below the minimum 10");
    t_expect_err("{" MINI ", 'redis': {'db': -1}}",
                 "1:58: redis.db: -1 is below the minimum 0");
}
END_TEST

START_TEST(test_err_above_max)
{
    t_expect_err("{" MINI ",\n 'redis': {'connect_timeout_ms': 60001}}",
                 "2:34: redis.connect_timeout_ms: 60001 is above the maximum 60000");
    t_expect_err("{" MINI ", 'suspension_cache': {'ttl': '2d'}}",
                 "1:70: suspension_cache.ttl: \"2d\" is above the maximum 1d");
}
END_TEST

START_TEST(test_err_bad_duration)
{
    t_expect_err("{" MINI ", 'idle_timeout': '10 min'}",
                 "1:58: idle_timeout: \"10 min\" is not a duration "
                 "(digits and one unit: ms, s, m, h or d)");
    t_expect_err("{" MINI ", 'idle_timeout': '1h30m'}",
                 "1:58: idle_timeout: \"1h30m\" is not a duration "
                 "(digits and one unit: ms, s, m, h or d)");
    t_expect_err("{" MINI ", 'idle_timeout': '999ms'}",
                 "1:58: idle_timeout: \"999ms\" is below the minimum 1s");
}
END_TEST

START_TEST(test_err_period_zero)
{
    t_expect_err("{'default_class': 'standard', 'classes': {'standard': {'limits': [\n"
                 "  {'name': 'a', 'max': 1, 'per': '1h'},\n"
                 "  {'name': 'b', 'max': 1, 'per': '0s'}]}}}",
                 "3:34: classes.standard.limits[1].per: \"0s\" is not a positive duration");
}
END_TEST

START_TEST(test_err_max_zero)
{
    t_expect_err("{'default_class': 'a', 'classes': {'a': {'limits': [\n"
                 "  {'name': 'a', 'max': 0, 'per': '1h'}]}}}",
                 "2:24: classes.a.limits[0].max: 0 is below the minimum 1");
}
END_TEST

START_TEST(test_err_undefined_class)
{
    t_expect_err("{'classes': {'a': {}},\n 'default_class': 'gold'}",
                 "2:19: default_class: \"gold\" is not a defined class");
    t_expect_err("{" MINI ", 'unauthenticated_class': 'b'}",
                 "1:67: unauthenticated_class: \"b\" is not a defined class");
    t_expect_err("{'default_class': 'a'}",
                 "1:19: default_class: \"a\" is not a defined class");
}
END_TEST

START_TEST(test_err_missing_required)
{
    t_expect_err("{'classes': {'a': {}}}", "1:1: default_class: required key is missing");
    t_expect_err("\n  {'classes': {'a': {}}}", "2:3: default_class: required key is missing");
    t_expect_err("{'default_class': 'a', 'classes': {'a': {'limits': [\n"
                 "  {'name': 'x', 'per': '1h'}]}}}",
                 "2:3: classes.a.limits[0].max: required key is missing");
    t_expect_err("{'default_class': 'a', 'classes': {'a': {\n"
                 "  'auto_suspend': {'within': '1h'}}}}",
                 "2:19: classes.a.auto_suspend.verdicts: required key is missing");
}
END_TEST

START_TEST(test_err_unknown_enum)
{
    t_expect_err("{'default_class': 'a', 'classes': {'a': {'limits': [\n"
                 "  {'name': 'x', 'max': 1, 'per': '1h', 'action': 'BOUNCE'}]}}}",
                 "2:50: classes.a.limits[0].action: \"BOUNCE\" is not one of DEFER, REJECT, HOLD");
    t_expect_err("{" MINI ", 'failure_action': 'REJECT'}",
                 "1:60: failure_action: \"REJECT\" is not one of DUNNO, DEFER");
    t_expect_err("{" MINI ", 'log': {'level': 'verbose'}}",
                 "1:59: log.level: \"verbose\" is not one of debug, info, notice, warning, error");
    t_expect_err("{" MINI ", 'log': {'facility': 'kern'}}",
                 "1:62: log.facility: \"kern\" is not one of mail, daemon, user, local0, "
                 "local1, local2, local3, local4, local5, local6, local7");
    t_expect_err("{'default_class':'a','classes':{'a':{'suspended_action':'DEFER'}}}",
                 "1:57: classes.a.suspended_action: \"DEFER\" is not one of REJECT, HOLD");
}
END_TEST

START_TEST(test_err_bad_cidr)
{
    /* the second element gets its own column */
    t_expect_prefix("{" MINI ",\n 'lists': {'deny': {'clients': ['192.0.2.0/24', '10.0.0.0/33']}}}",
                    "2:49: lists.deny.clients[1]: ");
    t_expect_prefix("{" MINI ",\n 'lists': {'allow': {'clients': ['::1', 'localhost']}}}",
                    "2:41: lists.allow.clients[1]: ");
    t_expect_err("{" MINI ",\n 'lists': {'deny': {'senders': ['']}}}",
                 "2:33: lists.deny.senders[0]: \"\" must be 1 to 512 bytes");
}
END_TEST

START_TEST(test_err_bad_listen)
{
    t_expect_err("{" MINI ", 'listen': ['tcp:127.0.0.1:9']}",
                 "1:53: listen[0]: \"tcp:127.0.0.1:9\" is not unix:/ABSOLUTE/PATH or "
                 "inet:HOST:PORT ([IPv6]:PORT)");
    t_expect_err("{" MINI ", 'listen': ['unix:/a', 'inet:::1:9']}",
                 "1:64: listen[1]: \"inet:::1:9\" is not unix:/ABSOLUTE/PATH or "
                 "inet:HOST:PORT ([IPv6]:PORT)");
    t_expect_err("{" MINI ", 'listen': ['inet:localhost:65536']}",
                 "1:53: listen[0]: \"inet:localhost:65536\" is not unix:/ABSOLUTE/PATH or "
                 "inet:HOST:PORT ([IPv6]:PORT)");
    t_expect_err("{" MINI ", 'listen': ['unix:relative.sock']}",
                 "1:53: listen[0]: \"unix:relative.sock\" is not unix:/ABSOLUTE/PATH "
                 "(at most 107 bytes)");
    t_expect_err("{" MINI ", 'listen': []}", "1:52: listen: the list must not be empty");
    t_expect_err("{" MINI ", 'listen': ['unix:/a', 'unix:/a']}",
                 "1:64: listen[1]: \"unix:/a\" is listed twice");
}
END_TEST

START_TEST(test_listen_sun_path)
{
    char json[512], path[120];
    struct config *cfg;

    memset(path, 'p', sizeof path);
    path[0] = '/';
    path[107] = '\0';                   /* 107 bytes: fits sun_path */
    snprintf(json, sizeof json, "{" MINI ", 'listen': ['unix:%s']}", path);
    cfg = t_load_ok(json);
    config_unref(cfg);
    path[107] = 'p';
    path[108] = '\0';
    snprintf(json, sizeof json, "{" MINI ", 'listen': ['unix:%s']}", path);
    t_expect_prefix(json, "1:53: listen[0]: ");
}
END_TEST

START_TEST(test_err_bad_text)
{
    t_expect_err("{" MINI ", 'texts': {'deny': 'Go away'}}",
                 "1:60: texts.deny: \"Go away\" must start with a 4xx or 5xx code and an "
                 "enhanced code of the same class, e.g. \"550 5.7.1 Refused\"");
    t_expect_err("{" MINI ", 'texts': {'deny': '550 4.7.1 Mismatch'}}",
                 "1:60: texts.deny: \"550 4.7.1 Mismatch\" must start with a 4xx or 5xx code "
                 "and an enhanced code of the same class, e.g. \"550 5.7.1 Refused\"");
    t_expect_err("{" MINI ", 'texts': {'deny': '250 2.0.0 Ok'}}",
                 "1:60: texts.deny: \"250 2.0.0 Ok\" must start with a 4xx or 5xx code and "
                 "an enhanced code of the same class, e.g. \"550 5.7.1 Refused\"");
    t_expect_err("{" MINI ", 'texts': {'deny': '550 5.7.1 Zugriff f\xc3\xbcr dich verweigert'}}",
                 "1:60: texts.deny: \"550 5.7.1 Zugriff f\\xc3\\xbcr dich verweigert\" "
                 "contains a byte that is not printable ASCII");
    t_expect_err("{" MINI ", 'texts': {'deny': '550 5.7.1 Tab\\there'}}",
                 "1:60: texts.deny: \"550 5.7.1 Tab\\x09here\" "
                 "contains a byte that is not printable ASCII");
    t_expect_err("{" MINI ", 'texts': {'limit': '450 4.7.1 Limit %s'}}",
                 "1:61: texts.limit: \"450 4.7.1 Limit %s\" has an unknown placeholder "
                 "(known: %a %n %l %u %p %r %%)");
    t_expect_err("{" MINI ", 'texts': {'limit': '450 4.7.1 100%'}}",
                 "1:61: texts.limit: \"450 4.7.1 100%\" has an unknown placeholder "
                 "(known: %a %n %l %u %p %r %%)");
    t_expect_err("{" MINI ", 'failure_text': '451 4.3.0 '}",
                 "1:58: failure_text: \"451 4.3.0 \" has no words after the codes");
    t_expect_err("{'default_class': 'a', 'classes': {'a': {'limits': [\n"
                 "  {'name': 'x', 'max': 1, 'per': '1h', 'text': '450 4.7.1234 x'}]}}}",
                 "2:48: classes.a.limits[0].text: \"450 4.7.1234 x\" must start with a 4xx "
                 "or 5xx code and an enhanced code of the same class, e.g. \"550 5.7.1 Refused\"");
}
END_TEST

START_TEST(test_err_unauth_account_limit)
{
    /* an explicit key: at the key's value */
    t_expect_err("{'default_class': 'a', 'unauthenticated_class': 'u', 'classes': {'a': {},\n"
                 " 'u': {'limits': [{'name': 'c', 'max': 1, 'per': '1h', 'key': 'client_address'},\n"
                 "                  {'name': 'x', 'max': 1, 'per': '1h', 'key': 'account'}]}}}",
                 "3:63: classes.u.limits[1].key: the unauthenticated_class \"u\" cannot key "
                 "a limit by account (use client_address or sender_domain)");
    /* the default key (account): at the limit */
    t_expect_err("{'default_class': 'a', 'unauthenticated_class': 'u', 'classes': {'a': {},\n"
                 " 'u': {'limits': [{'name': 'x', 'max': 1, 'per': '1h'}]}}}",
                 "2:19: classes.u.limits[0].key: the unauthenticated_class \"u\" cannot key "
                 "a limit by account (use client_address or sender_domain)");
}
END_TEST

START_TEST(test_err_duplicate_limit)
{
    t_expect_err("{'default_class': 'a', 'classes': {'a': {'limits': [\n"
                 "  {'name': 'hour', 'max': 1, 'per': '1h'},\n"
                 "  {'name': 'hour', 'max': 2, 'per': '1d'}]}}}",
                 "3:12: classes.a.limits[1].name: \"hour\" is already a limit of this class");
    t_expect_err("{'default_class': 'a', 'classes': {'a': {'limits': [\n"
                 "  {'name': 'an hour', 'max': 1, 'per': '1h'}]}}}",
                 "2:12: classes.a.limits[0].name: \"an hour\" is not a valid name "
                 "(1 to 64 of A-Z a-z 0-9 _ . -)");
}
END_TEST

START_TEST(test_err_bad_class_name)
{
    t_expect_err("{'default_class': 'a', 'classes': {'a': {},\n  'gold plan': {}}}",
                 "2:3: classes.\"gold plan\": class name \"gold plan\" is not a valid name "
                 "(1 to 64 of A-Z a-z 0-9 _ . -)");
}
END_TEST

START_TEST(test_err_enforce_from)
{
    t_expect_err("{" MINI ",\n 'identities': {'enforce_from': '2026-02-29T00:00:00Z'}}",
                 "2:33: identities.enforce_from: \"2026-02-29T00:00:00Z\" is not an RFC 3339 "
                 "date-time such as \"2026-12-01T00:00:00Z\"");
    t_expect_prefix("{" MINI ", 'identities': {'enforce_from': '2026-12-01'}}",
                    "1:73: identities.enforce_from: \"2026-12-01\" is not an RFC 3339");
    t_expect_prefix("{" MINI ", 'identities': {'enforce_from': '2026-12-01T00:00:00'}}",
                    "1:73: identities.enforce_from: ");
    t_expect_prefix("{" MINI ", 'identities': {'enforce_from': '2026-12-01T24:00:00Z'}}",
                    "1:73: identities.enforce_from: ");
    t_expect_prefix("{" MINI ", 'identities': {'enforce_from': '2026-12-01T00:00:00+2:00'}}",
                    "1:73: identities.enforce_from: ");
    t_expect_prefix("{" MINI ", 'identities': {'enforce_from': '2026-12-01T00:00:00.Z'}}",
                    "1:73: identities.enforce_from: ");
    t_expect_err("{" MINI ", 'identities': {'enforce_from': '1969-12-31T23:59:59Z'}}",
                 "1:73: identities.enforce_from: \"1969-12-31T23:59:59Z\" is not after 1970");
}
END_TEST

START_TEST(test_enforce_from_forms)
{
    static const struct { const char *s; int64_t ms; } ok[] = {
        { "2026-12-01T00:00:00Z", INT64_C(1796083200000) },
        { "2026-12-01t00:00:00z", INT64_C(1796083200000) },
        { "2026-12-01 00:00:00Z", INT64_C(1796083200000) },
        { "2026-12-01T02:00:00+02:00", INT64_C(1796083200000) },
        { "2026-12-01T00:00:00.5+02:00", INT64_C(1796076000500) },
        { "2024-02-29T23:59:59.123456-05:30", INT64_C(1709270999123) },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char json[256];
        struct config *cfg;
        snprintf(json, sizeof json, "{" MINI ", 'identities': {'enforce_from': '%s'}}",
                 ok[i].s);
        cfg = t_load_ok(json);
        ck_assert_msg(cfg->identities.enforce_from_ms == ok[i].ms, "%s: %" PRId64,
                      ok[i].s, cfg->identities.enforce_from_ms);
        config_unref(cfg);
    }
}
END_TEST

START_TEST(test_err_socket_mode)
{
    t_expect_err("{" MINI ",\n 'socket': {'mode': '0999'}}",
                 "2:21: socket.mode: \"0999\" is not an octal mode such as \"0660\"");
    t_expect_err("{" MINI ", 'socket': {'mode': '010000'}}",
                 "1:61: socket.mode: \"010000\" is not an octal mode such as \"0660\"");
    t_expect_err("{" MINI ", 'socket': {'mode': 660}}",
                 "1:61: socket.mode: expected a string of octal digits such as \"0660\", "
                 "got an integer");
    struct config *cfg = t_load_ok("{" MINI ", 'socket': {'mode': '07777'}}");
    ck_assert_uint_eq(cfg->socket.mode, 07777);
    config_unref(cfg);
}
END_TEST

START_TEST(test_err_addresses)
{
    t_expect_err("{" MINI ", 'redis': {'address': 'localhost'}}",
                 "1:63: redis.address: \"localhost\" is not HOST:PORT, [IPv6]:PORT or "
                 "unix:/ABSOLUTE/PATH");
    t_expect_err("{" MINI ", 'redis': {'address': 'localhost:0'}}",
                 "1:63: redis.address: \"localhost:0\" is not HOST:PORT, [IPv6]:PORT or "
                 "unix:/ABSOLUTE/PATH");
    t_expect_err("{" MINI ", 'redis': {'address': '[::g]:6379'}}",
                 "1:63: redis.address: \"[::g]:6379\" is not HOST:PORT, [IPv6]:PORT or "
                 "unix:/ABSOLUTE/PATH");
    t_expect_err("{" MINI ", 'redis': {'prefix': 'a{b}:'}}",
                 "1:62: redis.prefix: \"a{b}:\" may hold only printable ASCII without "
                 "spaces, '{' or '}'");
    t_expect_err("{" MINI ", 'metrics': {'listen': '9180'}}",
                 "1:64: metrics.listen: \"9180\" is not HOST:PORT or [IPv6]:PORT");
    t_expect_err("{" MINI ", 'redis': {'password_file': 'pw.txt'}}",
                 "1:69: redis.password_file: \"pw.txt\" is not an absolute path");
    t_expect_err("{" MINI ", 'notifier': {'from': 'outpost'}}",
                 "1:63: notifier.from: \"outpost\" is not a mail address (local@domain)");
    t_expect_err("{" MINI ", 'user': 'out post'}",
                 "1:50: user: \"out post\" is not a valid user or group name");
    t_expect_err("{" MINI ", 'identities': {'prepend_header': 'X-Bad:'}}",
                 "1:75: identities.prepend_header: \"X-Bad:\" is not a header field name "
                 "(printable ASCII, no ':' or space)");
    struct config *cfg = t_load_ok("{" MINI ", 'redis': {'address': 'unix:/run/redis/r.sock'}}");
    ck_assert_str_eq(cfg->redis.address, "unix:/run/redis/r.sock");
    config_unref(cfg);
}
END_TEST

START_TEST(test_err_protocol_cross)
{
    t_expect_err("{" MINI ", 'protocol': {'max_line': 4096, 'max_request': 2048}}",
                 "1:88: protocol.max_request: 2048 is below protocol.max_line (4096)");
    t_expect_err("{" MINI ", 'protocol': {'max_line': 100000}}",
                 "1:67: protocol.max_line: 100000 is above protocol.max_request (65536)");
}
END_TEST

START_TEST(test_err_comment_type)
{
    t_expect_err("{" MINI ", 'log': {'//': 5}}",
                 "1:56: log.//: a comment must be a string or an array of strings");
    t_expect_err("{" MINI ", '//': ['a', 1]}",
                 "1:48: //: a comment must be a string or an array of strings");
}
END_TEST

START_TEST(test_err_unreadable)
{
    struct config *cfg = (struct config *)1;
    char want[256];

    snprintf(t_err, sizeof t_err, "x");
    ck_assert_int_eq(config_load("/nonexistent/outpost.json", &cfg, t_err, sizeof t_err), -1);
    ck_assert_ptr_null(cfg);
    snprintf(want, sizeof want, "/nonexistent/outpost.json:0:0: cannot open: %s",
             strerror(ENOENT));
    ck_assert_str_eq(t_err, want);
    ck_assert_int_eq(config_load(t_dir, &cfg, t_err, sizeof t_err), -1);
    ck_assert_msg(strstr(t_err, ":0:0: cannot read: ") != NULL, "%s", t_err);
}
END_TEST

/* A bad file leaves nothing behind and gives the first error in file
 * order. */
START_TEST(test_err_first_wins)
{
    t_expect_err("{'redis': {'db': 99999}, 'log': {'level': 'x'}}",
                 "1:18: redis.db: 99999 is above the maximum 1023");
}
END_TEST

/* ---- every bound: N accepted, N+1 rejected ------------------------------ */

/* Builds {MINI, "a": {"b": V}} (or {"a": V}) from a dotted path. */
static void t_json_at(char *out, size_t outlen, const char *path, const char *value)
{
    char head[256], tail[64] = "";
    const char *dot = strchr(path, '.');
    const char *extra = "";

    if (strcmp(path, "protocol.max_line") == 0)
        extra = ", 'max_request': 16777216";
    else if (strcmp(path, "protocol.max_request") == 0)
        extra = ", 'max_line': 64";
    if (dot == NULL) {
        snprintf(head, sizeof head, "'%s': %s", path, value);
    } else {
        snprintf(head, sizeof head, "'%.*s': {'%s': %s%s}", (int)(dot - path), path,
                 dot + 1, value, extra);
    }
    snprintf(out, outlen, "{" MINI ", %s%s}", head, tail);
}

struct t_bound {
    char path[128];
    char type[16];
    long long min, max;
};

struct t_bounds {
    struct t_bound b[64];
    size_t n;
};

static void t_collect(const char *path, const char *type, const char *def, void *arg)
{
    struct t_bounds *bs = arg;
    struct t_bound *b = &bs->b[bs->n];
    char lo[32], hi[32];
    int64_t ms;

    (void)def;
    if (strchr(path, '*') != NULL || strchr(path, '[') != NULL)
        return;
    if (sscanf(type, "%15s %lld..%lld", b->type, &b->min, &b->max) == 3 &&
        (strcmp(b->type, "uint") == 0 || strcmp(b->type, "int") == 0 ||
         strcmp(b->type, "ms") == 0)) {
        snprintf(b->path, sizeof b->path, "%s", path);
        bs->n++;
    } else if (sscanf(type, "duration %31[^.]..%31[^, ]", lo, hi) == 2) {
        snprintf(b->type, sizeof b->type, "duration");
        ck_assert_int_eq(config_parse_duration(lo, &ms), 0);
        b->min = ms;
        ck_assert_int_eq(config_parse_duration(hi, &ms), 0);
        b->max = ms;
        snprintf(b->path, sizeof b->path, "%s", path);
        bs->n++;
    }
    ck_assert_uint_lt(bs->n, 64);
}

static void t_bound_try(const struct t_bound *b, long long v, bool ok)
{
    char json[1024], value[64];
    struct config *cfg;

    if (strcmp(b->type, "duration") == 0)
        snprintf(value, sizeof value, "'%lldms'", v);
    else
        snprintf(value, sizeof value, "%lld", v);
    t_json_at(json, sizeof json, b->path, value);
    if (ok) {
        cfg = t_load_ok(json);
        config_unref(cfg);
        return;
    }
    const char *err = t_load_err(json);
    char want[256];
    snprintf(want, sizeof want, "%s: ", b->path);
    ck_assert_msg(strstr(err, want) != NULL, "%s: %s", b->path, err);
    ck_assert_msg(strstr(err, v < b->min ? "below the minimum" : "above the maximum") != NULL ||
                  strstr(err, "not a positive duration") != NULL, "%s: %s", b->path, err);
}

START_TEST(test_bounds_table)
{
    static const char *const must[] = {
        "protocol.max_line", "protocol.max_request", "protocol.max_attributes",
        "protocol.max_output", "max_connections", "redis.timeout_ms",
        "redis.connect_timeout_ms", "redis.max_in_flight", "redis.batch_max", "redis.db",
        "idle_timeout",
        "suspension_cache.size", "suspension_cache.ttl", "events.max_length",
    };
    struct t_bounds bs = { .n = 0 };

    config_keys(t_collect, &bs);
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        size_t j;
        for (j = 0; j < bs.n; j++)
            if (strcmp(bs.b[j].path, must[i]) == 0)
                break;
        ck_assert_msg(j < bs.n, "%s has no range in config_keys()", must[i]);
    }
    for (size_t j = 0; j < bs.n; j++) {
        const struct t_bound *b = &bs.b[j];
        /* uint keys with a minimum of 0 have no "min - 1" JSON can reach
         * as an unsigned value; -1 is still refused */
        t_bound_try(b, b->min - 1, false);
        t_bound_try(b, b->min, true);
        t_bound_try(b, b->max, true);
        t_bound_try(b, b->max + 1, false);
    }
}
END_TEST

START_TEST(test_bounds_class)
{
    static const struct { const char *head, *tail; } tmpl[] = {
        { "{'default_class': 'a', 'classes': {'a': {'max_recipients_per_message': ", "}}}" },
        { "{'default_class': 'a', 'classes': {'a': {'limits': [{'name': 'x', 'per': '1h', "
          "'max': ", "}]}}}" },
        { "{'default_class': 'a', 'classes': {'a': {'limits': [{'name': 'x', 'max': 1, "
          "'per': ", "}]}}}" },
        { "{'default_class': 'a', 'classes': {'a': {'auto_suspend': {'verdicts': ", "}}}}" },
    };
    static const struct { int t; const char *v; bool ok; } cases[] = {
        { 0, "0", false }, { 0, "1", true }, { 0, "1000000", true }, { 0, "1000001", false },
        { 1, "0", false }, { 1, "1", true }, { 1, "9007199254740991", true },
        { 1, "9007199254740992", false },
        { 2, "'999ms'", false }, { 2, "'1s'", true }, { 2, "'366d'", true },
        { 2, "'367d'", false },
        { 3, "0", false }, { 3, "0.001", true }, { 3, "1000000", true },
        { 3, "1000000.5", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[512];
        snprintf(json, sizeof json, "%s%s%s", tmpl[cases[i].t].head, cases[i].v,
                 tmpl[cases[i].t].tail);
        if (cases[i].ok) {
            config_unref(t_load_ok(json));
        } else {
            const char *err = t_load_err(json);
            ck_assert_msg(strstr(err, "classes.a.") != NULL, "%s", err);
        }
    }
    /* a class holds at most 64 limits */
    for (int n = 64; n <= 65; n++) {
        char *json = malloc(64 * 1024);
        size_t o = 0;
        ck_assert_ptr_nonnull(json);
        o += (size_t)sprintf(json + o, "{'default_class': 'a', 'classes': {'a': {'limits': [");
        for (int i = 0; i < n; i++)
            o += (size_t)sprintf(json + o, "%s{'name': 'l%d', 'max': 1, 'per': '1h'}",
                                 i > 0 ? "," : "", i);
        sprintf(json + o, "]}}}");
        if (n == 64) {
            struct config *cfg = t_load_ok(json);
            ck_assert_uint_eq(cfg->classes[0].nlimits, 64);
            config_unref(cfg);
        } else {
            ck_assert_str_eq(t_load_err(json),
                             "1:52: classes.a.limits: a class has at most 64 limits");
        }
        free(json);
    }
}
END_TEST

START_TEST(test_bounds_text)
{
    char text[256], json[512];
    struct config *cfg;

    memset(text, 'x', sizeof text);
    memcpy(text, "450 4.7.1 ", 10);
    text[CONFIG_TEXT_MAX - 1] = '\0';           /* 199 bytes */
    snprintf(json, sizeof json, "{" MINI ", 'texts': {'limit': '%s'}}", text);
    cfg = t_load_ok(json);
    ck_assert_uint_eq(strlen(cfg->texts.limit), 199);
    config_unref(cfg);
    snprintf(json, sizeof json, "{'default_class': 'a', 'classes': {'a': {'limits': "
             "[{'name': 'x', 'max': 1, 'per': '1h', 'text': '%s'}]}}}", text);
    config_unref(t_load_ok(json));

    text[CONFIG_TEXT_MAX - 1] = 'x';
    text[CONFIG_TEXT_MAX] = '\0';               /* 200 bytes */
    snprintf(json, sizeof json, "{" MINI ", 'texts': {'limit': '%s'}}", text);
    t_expect_prefix(json, "1:61: texts.limit: \"450 4.7.1 xxx");
    ck_assert_msg(strstr(t_err, "is too long (a reply text must be shorter than 200 bytes)")
                  != NULL, "%s", t_err);
    snprintf(json, sizeof json, "{'default_class': 'a', 'classes': {'a': {'limits': "
             "[{'name': 'x', 'max': 1, 'per': '1h', 'text': '%s'}]}}}", text);
    t_expect_prefix(json, "1:98: classes.a.limits[0].text: ");
}
END_TEST

START_TEST(test_bounds_file_size)
{
    static const char head[] = "{\"default_class\":\"a\",\"classes\":{\"a\":{}}}";
    char *buf = malloc(CONFIG_FILE_MAX + 2);
    struct config *cfg = NULL;

    ck_assert_ptr_nonnull(buf);
    memset(buf, ' ', CONFIG_FILE_MAX + 1);
    memcpy(buf, head, sizeof head - 1);
    t_write_raw(buf, CONFIG_FILE_MAX);              /* N bytes: loads */
    if (config_load(t_path, &cfg, t_err, sizeof t_err) != 0)
        ck_abort_msg("%s", t_err);
    config_unref(cfg);
    cfg = NULL;
    t_write_raw(buf, CONFIG_FILE_MAX + 1);          /* N+1 bytes: refused */
    ck_assert_int_eq(config_load(t_path, &cfg, t_err, sizeof t_err), -1);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(t_err, ":0:0: the file is larger than 4194304 bytes") != NULL,
                  "%s", t_err);
    free(buf);
}
END_TEST

/* ---- durations --------------------------------------------------------- */

START_TEST(test_duration_parse)
{
    static const struct { const char *s; int64_t ms; } ok[] = {
        { "0s", 0 }, { "0ms", 0 }, { "250ms", 250 }, { "30s", 30000 },
        { "10m", 600000 }, { "1h", 3600000 }, { "7d", 604800000 },
        { "90s", 90000 }, { "007s", 7000 },
        { "9223372036854775807ms", INT64_MAX },
        { "106751991167d", INT64_C(106751991167) * 86400000 },
    };
    static const char *const bad[] = {
        "", "s", "10", "-1s", "+1s", "1.5h", "1h30m", "10 s", " 10s", "10s ",
        "10S", "10sec", "1w", "9223372036854775808ms", "106751991168d",
        "99999999999999999999999s", "ms",
    };
    int64_t ms;

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ms = -1;
        ck_assert_msg(config_parse_duration(ok[i].s, &ms) == 0, "%s", ok[i].s);
        ck_assert_msg(ms == ok[i].ms, "%s: %" PRId64, ok[i].s, ms);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(config_parse_duration(bad[i], &ms) == -1, "\"%s\" accepted", bad[i]);
    ck_assert_int_eq(config_parse_duration(NULL, &ms), -1);
}
END_TEST

START_TEST(test_duration_format)
{
    static const struct { int64_t ms; const char *s; } cases[] = {
        { 0, "0s" }, { 1, "1ms" }, { 250, "250ms" }, { 1000, "1s" }, { 1500, "1500ms" },
        { 90000, "90s" }, { 60000, "1m" }, { 5400000, "90m" }, { 3600000, "1h" },
        { 86400000, "1d" }, { 172800000, "2d" }, { 90000000, "25h" }, { -5000, "-5s" },
        { INT64_MAX, "9223372036854775807ms" },
    };
    char buf[32];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t back;
        config_format_duration(cases[i].ms, buf, sizeof buf);
        ck_assert_str_eq(buf, cases[i].s);
        if (cases[i].ms >= 0) {             /* round trip */
            ck_assert_int_eq(config_parse_duration(buf, &back), 0);
            ck_assert_int_eq(back, cases[i].ms);
        }
    }
    /* every ms value formats back to itself */
    for (int64_t ms = 0; ms < 200000; ms += 997) {
        int64_t back;
        config_format_duration(ms, buf, sizeof buf);
        ck_assert_int_eq(config_parse_duration(buf, &back), 0);
        ck_assert_int_eq(back, ms);
    }
    config_format_duration(3600000, buf, 3);        /* truncated, terminated */
    ck_assert_str_eq(buf, "1h");
    config_format_duration(36000000, buf, 3);
    ck_assert_str_eq(buf, "10");
}
END_TEST

/* ---- comments, case, references, keys ---------------------------------- */

START_TEST(test_comments_everywhere)
{
    struct config *cfg = t_load_ok(
        "{'//': 'top', '//2': ['several', 'lines'],"
        " 'default_class': 'a',"
        " 'classes': {'//': 'classes map',"
        "   'a': {'//': 'a class',"
        "         'limits': [{'//': 'a limit', 'name': 'x', 'max': 1, 'per': '1h'}],"
        "         'auto_suspend': {'//': [], 'verdicts': 1}}},"
        " 'socket': {'//': ''}, 'protocol': {'//': 'p'}, 'log': {'//': 'l'},"
        " 'redis': {'//': 'r'}, 'suspension_cache': {'//': 's'},"
        " 'account': {'//': 'a'}, 'lists': {'//': 'l', 'allow': {'//': 'a'},"
        " 'deny': {'//': 'd'}}, 'identities': {'//': 'i'}, 'verdicts': {'//': 'v'},"
        " 'events': {'//': 'e'}, 'texts': {'//': 't'}, 'metrics': {'//': 'm'},"
        " 'notifier': {'//': 'n'}}");
    ck_assert_uint_eq(cfg->nclasses, 1);
    ck_assert_uint_eq(cfg->classes[0].nlimits, 1);
    config_unref(cfg);
}
END_TEST

START_TEST(test_keyword_case)
{
    struct config *cfg = t_load_ok(
        "{'default_class': 'a', 'failure_action': 'Defer',"
        " 'log': {'level': 'DEBUG', 'target': 'Stderr', 'facility': 'LOCAL7'},"
        " 'identities': {'mode': 'Monitor'},"
        " 'classes': {'a': {'suspended_action': 'hold', 'limits': ["
        "   {'name': 'x', 'count': 'Recipients', 'key': 'CLIENT_ADDRESS',"
        "    'max': 1, 'per': '1h', 'action': 'reject'}]}}}");
    ck_assert_int_eq(cfg->failure_action, ACTION_DEFER);
    ck_assert_int_eq(cfg->log.level, LOG_L_DEBUG);
    ck_assert_int_eq(cfg->log.target, LOG_T_STDERR);
    ck_assert_int_eq(cfg->log.facility, LOG_LOCAL7);
    ck_assert_int_eq(cfg->identities.mode, IDENTITY_MONITOR);
    ck_assert_int_eq(cfg->classes[0].suspended_action, ACTION_HOLD);
    ck_assert_int_eq(cfg->classes[0].limits[0].count, LIMIT_RECIPIENTS);
    ck_assert_int_eq(cfg->classes[0].limits[0].key, LIMIT_KEY_CLIENT_ADDRESS);
    ck_assert_int_eq(cfg->classes[0].limits[0].action, ACTION_REJECT);
    config_unref(cfg);
    /* names of classes are case-sensitive */
    t_expect_err("{'default_class': 'A', 'classes': {'a': {}}}",
                 "1:19: default_class: \"A\" is not a defined class");
}
END_TEST

START_TEST(test_ref_unref)
{
    struct config *cfg = t_load_ok("{" MINI "}");

    ck_assert_int_eq(cfg->refs, 1);
    ck_assert_ptr_eq(config_ref(cfg), cfg);
    ck_assert_int_eq(cfg->refs, 2);
    config_unref(cfg);
    ck_assert_int_eq(cfg->refs, 1);
    config_unref(cfg);                  /* freed: LSan sees no leak */
    config_unref(NULL);
}
END_TEST

START_TEST(test_action_names)
{
    ck_assert_str_eq(config_action_name(ACTION_DUNNO), "DUNNO");
    ck_assert_str_eq(config_action_name(ACTION_DEFER), "DEFER");
    ck_assert_str_eq(config_action_name(ACTION_REJECT), "REJECT");
    ck_assert_str_eq(config_action_name(ACTION_HOLD), "HOLD");
}
END_TEST

struct t_keys {
    char all[8192];
    size_t n;
};

static void t_keys_collect(const char *path, const char *type, const char *def, void *arg)
{
    struct t_keys *k = arg;
    ck_assert_ptr_nonnull(type);
    ck_assert_ptr_nonnull(def);
    ck_assert_uint_lt(strlen(k->all) + strlen(path) + 3, sizeof k->all);
    strcat(k->all, "|");
    strcat(k->all, path);
    k->n++;
}

/* The key names of SPEC §8 are a contract. */
START_TEST(test_keys_contract)
{
    static const char *const spec[] = {
        "listen", "socket.mode", "socket.owner", "socket.group", "user", "group",
        "max_connections", "idle_timeout", "protocol.max_line", "protocol.max_request",
        "protocol.max_attributes", "protocol.max_output", "log.target", "log.level",
        "log.format", "log.facility", "redis.address", "redis.username",
        "redis.password_file", "redis.db", "redis.prefix", "redis.timeout_ms",
        "redis.connect_timeout_ms", "failure_action", "failure_text",
        "suspension_cache.size", "suspension_cache.ttl", "account.lowercase",
        "default_class", "unauthenticated_class", "classes.*.limits[].name",
        "classes.*.limits[].count", "classes.*.limits[].key", "classes.*.limits[].max",
        "classes.*.limits[].per", "classes.*.limits[].action", "classes.*.limits[].text",
        "classes.*.limits[].shadow", "classes.*.max_recipients_per_message",
        "classes.*.suspended_action", "classes.*.auto_suspend.verdicts",
        "classes.*.auto_suspend.within", "classes.*.auto_suspend.for",
        "classes.*.auto_suspend.recipients_per_weight",
        "lists.allow.accounts", "lists.allow.clients", "lists.allow.senders",
        "lists.allow.sender_domains", "lists.deny.accounts", "lists.deny.clients",
        "lists.deny.senders", "lists.deny.sender_domains", "identities.mode",
        "identities.enforce_from", "identities.null_sender", "identities.domain_grants",
        "identities.local_part_case", "identities.strip_plus_tag",
        "identities.prepend_header", "identities.event_window", "verdicts.group",
        "verdicts.claim_idle", "events.max_length", "texts.deny", "texts.suspended",
        "texts.identity", "texts.recipients", "texts.limit", "texts.failure",
        "metrics.listen", "notifier.support_address", "notifier.from",
        "notifier.window", "notifier.sendmail",
    };
    /* keys added to the contract (documented in doc/configuration.md) */
    static const char *const added[] = { "policy_dir", "texts.recipients_final",
                                          "texts.exceeds", "identities.stage",
                                          "identities.observed_max",
                                          "identities.observed_ttl",
                                          "events.limit_window", "notifier.group",
                                          "notifier.template_dir", "redis.max_in_flight",
                                          "redis.batch_max" };
    struct t_keys k = { .n = 0 };

    config_keys(t_keys_collect, &k);
    strcat(k.all, "|");
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
        char needle[128];
        snprintf(needle, sizeof needle, "|%s|", spec[i]);
        ck_assert_msg(strstr(k.all, needle) != NULL, "%s missing from config_keys()", spec[i]);
    }
    for (size_t i = 0; i < sizeof added / sizeof added[0]; i++) {
        char needle[128];
        snprintf(needle, sizeof needle, "|%s|", added[i]);
        ck_assert_msg(strstr(k.all, needle) != NULL, "%s missing from config_keys()", added[i]);
    }
    ck_assert_uint_eq(k.n, sizeof spec / sizeof spec[0] + sizeof added / sizeof added[0]);
}
END_TEST

/* doc/configuration.md documents every key of the table, with its default,
 * so the documentation cannot drift from what the parser accepts. */
struct doc_check {
    const char *doc;
    int missing;
};

static void doc_key(const char *path, const char *type, const char *def, void *arg)
{
    struct doc_check *dc = arg;
    char row[512];
    (void)type;
    /* a default set by ./configure is documented by name, not value */
    if (def != NULL && def[0] != '\0' && strcmp(def, OUTPOST_POLICYDIR) != 0) {
        char esc[256];
        size_t o = 0;
        for (const char *d = def; *d && o + 2 < sizeof esc; d++) {
            if (*d == '|')
                esc[o++] = '\\';
            esc[o++] = *d;
        }
        esc[o] = '\0';
        /* the type column is free text: match key and default separately */
        char keycol[256], defcol[300];
        snprintf(keycol, sizeof keycol, "| `%s` |", path);
        snprintf(defcol, sizeof defcol, "| `%s` |", esc);
        const char *at = strstr(dc->doc, keycol);
        const char *eol = at ? strchr(at, '\n') : NULL;
        const char *hit = at ? strstr(at, defcol) : NULL;
        if (at == NULL || hit == NULL || (eol != NULL && hit > eol)) {
            fprintf(stderr, "doc/configuration.md: no row for %s with default %s\n",
                    path, def);
            dc->missing++;
        }
    } else {
        snprintf(row, sizeof row, "| `%s` |", path);
        if (strstr(dc->doc, row) == NULL) {
            fprintf(stderr, "doc/configuration.md: no row for %s\n", path);
            dc->missing++;
        }
    }
}

START_TEST(test_keys_documented)
{
    const char *dir = getenv("T_DOC");
    char path[512];
    ck_assert_msg(dir != NULL, "T_DOC is not set (run through make check)");
    snprintf(path, sizeof path, "%s/configuration.md", dir);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char doc[1 << 16];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    doc[n] = '\0';
    fclose(f);
    struct doc_check dc = { doc, 0 };
    config_keys(doc_key, &dc);
    ck_assert_int_eq(dc.missing, 0);
}
END_TEST

START_TEST(test_split_hostport)
{
    char host[16];
    const char *port;
    ck_assert_int_eq(config_split_hostport("127.0.0.1:6379", host, sizeof host, &port), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_str_eq(port, "6379");
    ck_assert_int_eq(config_split_hostport("[::1]:10", host, sizeof host, &port), 0);
    ck_assert_str_eq(host, "::1");
    ck_assert_str_eq(port, "10");
    ck_assert_int_eq(config_split_hostport("[::1]10", host, sizeof host, &port), -1);
    ck_assert_int_eq(config_split_hostport("nohost", host, sizeof host, &port), -1);
    ck_assert_int_eq(config_split_hostport("h:", host, sizeof host, &port), -1);
    /* host of cap - 1 bytes fits, cap bytes does not */
    ck_assert_int_eq(config_split_hostport("aaaaaaaaaaaaaaa:1", host, sizeof host, &port), 0);
    ck_assert_int_eq(config_split_hostport("aaaaaaaaaaaaaaaa:1", host, sizeof host, &port), -1);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc;

    tc = tcase_create("load");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_add_test(tc, test_shipped_policy);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_all_keys);
    tcase_add_test(tc, test_lowercase_off);
    tcase_add_test(tc, test_strip_plus_tag);
    tcase_add_test(tc, test_enforce_from_forms);
    tcase_add_test(tc, test_listen_sun_path);
    tcase_add_test(tc, test_comments_everywhere);
    tcase_add_test(tc, test_keyword_case);
    tcase_add_test(tc, test_ref_unref);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_add_test(tc, test_err_syntax_trailing_comma);
    tcase_add_test(tc, test_err_syntax_other);
    tcase_add_test(tc, test_err_duplicate_key);
    tcase_add_test(tc, test_err_unknown_key);
    tcase_add_test(tc, test_err_wrong_type);
    tcase_add_test(tc, test_err_below_min);
    tcase_add_test(tc, test_err_above_max);
    tcase_add_test(tc, test_err_bad_duration);
    tcase_add_test(tc, test_err_period_zero);
    tcase_add_test(tc, test_err_max_zero);
    tcase_add_test(tc, test_err_undefined_class);
    tcase_add_test(tc, test_err_missing_required);
    tcase_add_test(tc, test_err_unknown_enum);
    tcase_add_test(tc, test_err_bad_cidr);
    tcase_add_test(tc, test_err_bad_listen);
    tcase_add_test(tc, test_err_bad_text);
    tcase_add_test(tc, test_err_unauth_account_limit);
    tcase_add_test(tc, test_err_duplicate_limit);
    tcase_add_test(tc, test_err_bad_class_name);
    tcase_add_test(tc, test_err_enforce_from);
    tcase_add_test(tc, test_err_socket_mode);
    tcase_add_test(tc, test_err_addresses);
    tcase_add_test(tc, test_err_protocol_cross);
    tcase_add_test(tc, test_err_comment_type);
    tcase_add_test(tc, test_err_unreadable);
    tcase_add_test(tc, test_err_first_wins);
    suite_add_tcase(s, tc);

    tc = tcase_create("bounds");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_bounds_table);
    tcase_add_test(tc, test_bounds_class);
    tcase_add_test(tc, test_bounds_text);
    tcase_add_test(tc, test_bounds_file_size);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_test(tc, test_duration_parse);
    tcase_add_test(tc, test_duration_format);
    tcase_add_test(tc, test_action_names);
    tcase_add_test(tc, test_keys_contract);
    tcase_add_test(tc, test_keys_documented);
    tcase_add_test(tc, test_split_hostport);
    suite_add_tcase(s, tc);
    return s;
}


int main(void)
{
    return tfix_run(config_suite());
}
