/* config.c - the option table: load, validate, default, describe.
 *
 * Owns every struct config: config_load() builds one from a file and hands
 * it out with refs == 1; config_unref() frees it (strings, class and limit
 * arrays, compiled allow/deny lists) when the last reference goes.
 *
 * Data flow of config_load():
 *   file --read (<= CONFIG_FILE_MAX bytes)--> buffer --FNV-1a--> cfg->hash
 *   buffer --json_loadb(JSON_REJECT_DUPLICATES)--> json_t tree
 *     (a syntax error is placed by jansson's byte offset)
 *   every table row's default --> struct config
 *   json_t tree --walked against the tables below, in file order--> fields
 *     (unknown keys, wrong types, bad values: first error wins)
 *   cross-key checks (classes exist, max_request >= max_line, ...)
 *   lists.allow / lists.deny strings --list_add()--> compiled struct list
 * On error the half-built config is freed; the error is one line
 * "FILE:LINE:COL: KEY.PATH: what is wrong".  jansson places only syntax
 * errors, so cfg_locate() re-scans the (valid) text for the path of the
 * offending key or value: nothing is indexed unless an error occurs.
 *
 * One table per JSON object drives parsing, defaults, ranges, freeing and
 * config_keys() (STYLE §2.7).  A key that starts with "//" ("//",
 * "//limits", ...) is a comment in every object, the class map included;
 * its value must be a string or an array of strings.
 *
 * Value grammar (documented for operators in the README option list):
 *   duration  "<digits><unit>", unit ms|s|m|h|d: "250ms" "30s" "10m" "1h"
 *             "7d".  No sign, fraction, spaces or combinations ("1h30m" is
 *             "90m"); a bare JSON number is refused, because "is 600
 *             seconds or milliseconds?" is exactly the mistake to avoid.
 *   *_ms      a JSON integer of milliseconds (redis.timeout_ms, ...).
 *   mode      a string of octal digits, "0660"; at most 07777.
 *   instant   RFC 3339, "2026-12-01T00:00:00Z" or "...T00:00:00.5+02:00";
 *             'T' may be 't' or ' ', 'Z' may be 'z'; after 1970.
 *   keyword   every enumerated value (actions, log.*, count, key,
 *             identities.*) is matched ignoring ASCII case: "DEFER" and
 *             "defer" are one action.  Names of classes and limits are
 *             case-sensitive.
 *   text      a reply text: printable ASCII, shorter than CONFIG_TEXT_MAX
 *             bytes, "4xx 4.d.d ..." or "5xx 5.d.d ...": a 4xx/5xx SMTP
 *             code, a space, an RFC 3463 enhanced code of the same class,
 *             a space, some words.  Placeholders, replaced by decision.c:
 *               %a  the address (identity)        %n  the number N
 *               %l  the limit's name              %u  the unit (messages,
 *               %p  the period ("1h")                 recipients, bytes)
 *               %r  the time until it frees up    %%  a literal '%'
 *             any other '%' sequence is an error.  The 200-byte bound is
 *             on the text as configured; decision.c bounds the result. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <jansson.h>

#include "config.h"
#include "list.h"
#include "log.h"
#include "xalloc.h"

#define CFG_SEC  INT64_C(1000)
#define CFG_MIN  (60 * CFG_SEC)
#define CFG_HOUR (60 * CFG_MIN)
#define CFG_DAY  (24 * CFG_HOUR)

#define CFG_NAME_MAX     64     /* class and limit names */
#define CFG_SUN_PATH_MAX 107    /* sun_path[108] less the NUL */
#define CFG_DEPTH_MAX    8      /* deepest path the tables can produce */
#define CFG_LIMITS_MAX   64     /* limits of one class (one script call) */
#define CFG_SHOW_MAX     48     /* bytes of a value quoted in an error */
#define CFG_EXACT_MAX    INT64_C(9007199254740991) /* 2^53-1: exact in Lua */

enum cfg_type {
    CFG_BOOL,           /* bool */
    CFG_UINT,           /* uint64_t: a JSON integer in [min, max] */
    CFG_INT,            /* int64_t: a JSON integer in [min, max] */
    CFG_MS,             /* int64_t: a JSON integer of ms in [min, max] */
    CFG_DUR,            /* int64_t ms: a duration string in [min, max] ms */
    CFG_STR,            /* char *: a string that passes .check */
    CFG_TEXT,           /* char *: a reply text */
    CFG_ENUM,           /* an enum (or bool) field: one of .names */
    CFG_MODE,           /* unsigned: a string of octal digits, <= max */
    CFG_LIST,           /* struct strlist: strings that pass .check */
    CFG_TIME,           /* int64_t Unix ms: an RFC 3339 instant */
    CFG_NUM,            /* double: a JSON number > 0 and <= max */
    CFG_SEP,            /* char: false (0), true ('+') or "+" "-" "_" "=" */
    CFG_OBJ,            /* an object: rows .sub, fields at base + off */
    CFG_CLASSES,        /* "classes": name -> class object */
    CFG_LIMITS,         /* a class's "limits": array of limit objects */
};

#define CFG_F_REQUIRED 0x1u     /* the key must be present */
#define CFG_F_RESTART  0x2u     /* only a restart applies it; shown by
                                   config_keys(), compared by main.c */
#define CFG_F_LATE     0x4u     /* aliases another row's field and wins
                                   whatever its place in the file */
#define CFG_F_PRESENCE 0x8u     /* CFG_OBJ: sets auto_suspend.enabled */
#define CFG_F_UNIQUE   0x10u    /* CFG_LIST: no entry twice */

struct cfg_name {
    const char *name;
    int         value;
};

/* NULL if s is fine, else why not (a phrase after the quoted value). */
typedef const char *cfg_check_fn(const char *s);

struct cfg_opt {
    const char            *key;
    enum cfg_type          type;
    size_t                 off, size;  /* the field, from the base */
    const char            *def;        /* as in the file; NULL = none */
    int64_t                min, max;   /* integers; ms for durations */
    unsigned               flags;      /* CFG_F_* */
    const struct cfg_opt  *sub;        /* CFG_OBJ, CFG_CLASSES, CFG_LIMITS */
    const struct cfg_name *names;      /* CFG_ENUM */
    cfg_check_fn          *check;      /* CFG_STR, CFG_LIST items */
    int                  (*parse)(const char *s, int *v); /* CFG_ENUM */
};

/* One step of a key path: an object key, or (key == NULL) an index. */
struct cfg_comp {
    const char *key;
    size_t      idx;
};

enum cfg_at { CFG_AT_VALUE, CFG_AT_KEY, CFG_AT_PARENT };

/* One config_load() call; lives on its stack. */
struct cfg_ctx {
    const char     *file;           /* the caller's path */
    const char     *text;           /* borrowed: the file's bytes */
    size_t          len;
    char           *err;            /* the caller's buffer */
    size_t          errlen;
    struct cfg_comp path[CFG_DEPTH_MAX]; /* where the walk is; keys are */
    size_t          depth;               /* borrowed from the tree/tables */
    struct config  *cfg;            /* being built; freed on error */
    const struct cfg_opt *late_row; /* CFG_F_LATE: applied after the walk */
    json_t         *late_val;       /* borrowed from the tree */
};

/* ---- checks of string values ------------------------------------------ */

static const char *cfg_chk_name(const char *s);
static const char *cfg_chk_user(const char *s);
static const char *cfg_chk_word(const char *s);
static const char *cfg_chk_prefix(const char *s);
static const char *cfg_chk_path(const char *s);
static const char *cfg_chk_listen(const char *s);
static const char *cfg_chk_redis(const char *s);
static const char *cfg_chk_hostport(const char *s);
static const char *cfg_chk_header(const char *s);
static const char *cfg_chk_mailaddr(const char *s);
static const char *cfg_chk_entry(const char *s);
static int cfg_parse_level(const char *s, int *v);

/* ---- the tables -------------------------------------------------------- */

#define CF(m) offsetof(struct config, m), sizeof(((struct config *)0)->m)
#define CC(m) offsetof(struct config_class, m), \
              sizeof(((struct config_class *)0)->m)
#define CL(m) offsetof(struct config_limit, m), \
              sizeof(((struct config_limit *)0)->m)
#define CA(m) offsetof(struct config_auto_suspend, m), \
              sizeof(((struct config_auto_suspend *)0)->m)
#define CS(m) offsetof(struct config_listsrc, m), \
              sizeof(((struct config_listsrc *)0)->m)
#define NOFF  0, 0

/* Rows name only the columns they use; the rest are zero. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static const struct cfg_name cfg_actions_failure[] = {
    { "DUNNO", ACTION_DUNNO }, { "DEFER", ACTION_DEFER }, { NULL, 0 } };
static const struct cfg_name cfg_actions_limit[] = {
    { "DEFER", ACTION_DEFER }, { "REJECT", ACTION_REJECT },
    { "HOLD", ACTION_HOLD }, { NULL, 0 } };
static const struct cfg_name cfg_actions_suspended[] = {
    { "REJECT", ACTION_REJECT }, { "HOLD", ACTION_HOLD }, { NULL, 0 } };
static const struct cfg_name cfg_counts[] = {
    { "messages", LIMIT_MESSAGES }, { "recipients", LIMIT_RECIPIENTS },
    { "bytes", LIMIT_BYTES }, { NULL, 0 } };
static const struct cfg_name cfg_keys_limit[] = {
    { "account", LIMIT_KEY_ACCOUNT },
    { "client_address", LIMIT_KEY_CLIENT_ADDRESS },
    { "sender_domain", LIMIT_KEY_SENDER_DOMAIN }, { NULL, 0 } };
static const struct cfg_name cfg_log_targets[] = {
    { "syslog", LOG_T_SYSLOG }, { "stderr", LOG_T_STDERR }, { NULL, 0 } };
/* Shown in errors and config_keys(); log_level_parse() decides, and also
 * takes "warn" and "err". */
static const struct cfg_name cfg_log_levels[] = {
    { "debug", LOG_L_DEBUG }, { "info", LOG_L_INFO },
    { "notice", LOG_L_NOTICE }, { "warning", LOG_L_WARN },
    { "error", LOG_L_ERR }, { NULL, 0 } };
static const struct cfg_name cfg_log_formats[] = {
    { "text", LOG_F_TEXT }, { "json", LOG_F_JSON }, { NULL, 0 } };
static const struct cfg_name cfg_facilities[] = {
    { "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
    { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
    { "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
    { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
    { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 }, { NULL, 0 } };
static const struct cfg_name cfg_id_modes[] = {
    { "off", IDENTITY_OFF }, { "monitor", IDENTITY_MONITOR },
    { "enforce", IDENTITY_ENFORCE }, { NULL, 0 } };
static const struct cfg_name cfg_null_sender[] = {
    { "allow", 1 }, { "deny", 0 }, { NULL, 0 } };
static const struct cfg_name cfg_id_stages[] = {
    { "rcpt", IDENTITY_STAGE_RCPT }, { "mail", IDENTITY_STAGE_MAIL }, { NULL, 0 } };
static const struct cfg_name cfg_lp_case[] = {
    { "insensitive", 0 }, { "sensitive", 1 }, { NULL, 0 } };

static const struct cfg_opt cfg_auto_suspend_opts[] = {
 /* key                      type     field                     default min  max */
  { "verdicts",              CFG_NUM, CA(verdicts),             NULL,   0, 1000000,
    CFG_F_REQUIRED },
  { "within",                CFG_DUR, CA(within_ms),            "24h",  CFG_SEC, 30 * CFG_DAY, 0 },
  { "for",                   CFG_DUR, CA(for_ms),               NULL,   CFG_SEC, 366 * CFG_DAY, 0 },
  { "recipients_per_weight", CFG_NUM, CA(recipients_per_weight), NULL,  0, 1000000, 0 },
  { NULL }
};

static const struct cfg_opt cfg_limit_opts[] = {
  { "name",   CFG_STR,  CL(name),   NULL,    0, 0, CFG_F_REQUIRED, .check = cfg_chk_name },
  { "count",  CFG_ENUM, CL(count),  "messages", 0, 0, 0, .names = cfg_counts },
  { "key",    CFG_ENUM, CL(key),    "account", 0, 0, 0, .names = cfg_keys_limit },
  { "max",    CFG_UINT, CL(max),    NULL,    1, CFG_EXACT_MAX, CFG_F_REQUIRED },
  { "per",    CFG_DUR,  CL(per_ms), NULL,    CFG_SEC, 366 * CFG_DAY, CFG_F_REQUIRED },
  { "action", CFG_ENUM, CL(action), "DEFER", 0, 0, 0, .names = cfg_actions_limit },
  { "text",   CFG_TEXT, CL(text),   NULL,    0, 0, 0 },
  { "shadow", CFG_BOOL, CL(shadow), "false", 0, 0, 0 },
  { NULL }
};

static const struct cfg_opt cfg_class_opts[] = {
  { "limits",           CFG_LIMITS, CC(limits), NULL, 0, 0, 0, .sub = cfg_limit_opts },
  { "max_recipients_per_message", CFG_UINT, CC(max_recipients_per_message),
                                    NULL, 1, 1000000, 0 },
  { "suspended_action", CFG_ENUM,   CC(suspended_action), "REJECT", 0, 0, 0,
    .names = cfg_actions_suspended },
  { "auto_suspend",     CFG_OBJ,    CC(auto_suspend), NULL, 0, 0, CFG_F_PRESENCE,
    .sub = cfg_auto_suspend_opts },
  { NULL }
};

static const struct cfg_opt cfg_socket_opts[] = {
  { "mode",  CFG_MODE, CF(socket.mode),  "0660",    0, 07777, CFG_F_RESTART },
  { "owner", CFG_STR,  CF(socket.owner), NULL,      0, 0, CFG_F_RESTART, .check = cfg_chk_user },
  { "group", CFG_STR,  CF(socket.group), "postfix", 0, 0, CFG_F_RESTART, .check = cfg_chk_user },
  { NULL }
};

static const struct cfg_opt cfg_protocol_opts[] = {
  { "max_line",       CFG_UINT, CF(protocol.max_line),       "8192",  64, 1 << 20, 0 },
  { "max_request",    CFG_UINT, CF(protocol.max_request),    "65536", 64, 16 << 20, 0 },
  { "max_attributes", CFG_UINT, CF(protocol.max_attributes), "256",   1, 100000, 0 },
  { "max_output",     CFG_UINT, CF(protocol.max_output),     "65536", 256, 16 << 20, 0 },
  { NULL }
};

static const struct cfg_opt cfg_log_opts[] = {
  { "target",   CFG_ENUM, CF(log.target),   "syslog", 0, 0, 0, .names = cfg_log_targets },
  { "level",    CFG_ENUM, CF(log.level),    "info",   0, 0, 0, .names = cfg_log_levels,
    .parse = cfg_parse_level },
  { "format",   CFG_ENUM, CF(log.format),   "text",   0, 0, 0, .names = cfg_log_formats },
  { "facility", CFG_ENUM, CF(log.facility), "mail",   0, 0, 0, .names = cfg_facilities },
  { NULL }
};

static const struct cfg_opt cfg_redis_opts[] = {
  { "address",            CFG_STR, CF(redis.address), "127.0.0.1:6379", 0, 0, 0,
    .check = cfg_chk_redis },
  { "username",           CFG_STR, CF(redis.username), NULL, 0, 0, 0, .check = cfg_chk_word },
  { "password_file",      CFG_STR, CF(redis.password_file), NULL, 0, 0, 0,
    .check = cfg_chk_path },
  { "db",                 CFG_INT, CF(redis.db), "0", 0, 1023, 0 },
  { "prefix",             CFG_STR, CF(redis.prefix), "outpost:", 0, 0, 0,
    .check = cfg_chk_prefix },
  { "timeout_ms",         CFG_MS,  CF(redis.timeout_ms), "250", 10, 30000, 0 },
  { "connect_timeout_ms", CFG_MS,  CF(redis.connect_timeout_ms), "1000", 10, 60000, 0 },
  { "max_in_flight",      CFG_INT, CF(redis.max_in_flight), "10000", 1, 1000000, 0 },
  { "batch_max",          CFG_INT, CF(redis.batch_max), "32", 1, 1000, 0 },
  { NULL }
};

static const struct cfg_opt cfg_suspension_cache_opts[] = {
  { "size", CFG_UINT, CF(suspension_cache.size),   "10000", 0, 10000000, 0 },
  { "ttl",  CFG_DUR,  CF(suspension_cache.ttl_ms), "5m",    CFG_SEC, CFG_DAY, 0 },
  { NULL }
};

static const struct cfg_opt cfg_account_opts[] = {
  { "lowercase", CFG_BOOL, CF(account_lowercase), "true", 0, 0, 0 },
  { NULL }
};

static const struct cfg_opt cfg_listsrc_opts[] = {
  { "accounts",       CFG_LIST, CS(accounts),       NULL, 0, 0, 0, .check = cfg_chk_entry },
  { "clients",        CFG_LIST, CS(clients),        NULL, 0, 0, 0, .check = cfg_chk_entry },
  { "senders",        CFG_LIST, CS(senders),        NULL, 0, 0, 0, .check = cfg_chk_entry },
  { "sender_domains", CFG_LIST, CS(sender_domains), NULL, 0, 0, 0, .check = cfg_chk_entry },
  { NULL }
};

static const struct cfg_opt cfg_lists_opts[] = {
  { "allow", CFG_OBJ, CF(allow.src), NULL, 0, 0, 0, .sub = cfg_listsrc_opts },
  { "deny",  CFG_OBJ, CF(deny.src),  NULL, 0, 0, 0, .sub = cfg_listsrc_opts },
  { NULL }
};

static const struct cfg_opt cfg_identities_opts[] = {
  { "mode",           CFG_ENUM, CF(identities.mode), "off", 0, 0, 0, .names = cfg_id_modes },
  { "enforce_from",   CFG_TIME, CF(identities.enforce_from_ms), NULL, 0, 0, 0 },
  { "null_sender",    CFG_ENUM, CF(identities.null_sender_allow), "allow", 0, 0, 0,
    .names = cfg_null_sender },
  { "domain_grants",  CFG_BOOL, CF(identities.domain_grants), "true", 0, 0, 0 },
  { "local_part_case", CFG_ENUM, CF(identities.local_part_sensitive), "insensitive",
    0, 0, 0, .names = cfg_lp_case },
  { "strip_plus_tag", CFG_SEP,  CF(identities.plus_separator), "false", 0, 0, 0 },
  { "prepend_header", CFG_STR,  CF(identities.prepend_header), NULL, 0, 0, 0,
    .check = cfg_chk_header },
  { "event_window",   CFG_DUR,  CF(identities.event_window_ms), "1h",
    CFG_SEC, 30 * CFG_DAY, 0 },
  { "stage",          CFG_ENUM, CF(identities.stage), "rcpt", 0, 0, 0, .names = cfg_id_stages },
  { "observed_max",   CFG_UINT, CF(identities.observed_max), "100", 1, 10000, 0 },
  { "observed_ttl",   CFG_DUR,  CF(identities.observed_ttl_ms), "30d",
    CFG_HOUR, 365 * CFG_DAY, 0 },
  { NULL }
};

static const struct cfg_opt cfg_verdicts_opts[] = {
  { "group",      CFG_STR, CF(verdicts.group), "outpost", 0, 0, 0, .check = cfg_chk_word },
  { "claim_idle", CFG_DUR, CF(verdicts.claim_idle_ms), "60s", CFG_SEC, CFG_DAY, 0 },
  { NULL }
};

static const struct cfg_opt cfg_events_opts[] = {
  { "max_length", CFG_UINT, CF(events.max_length), "100000", 1, 1000000000, 0 },
  { "limit_window", CFG_DUR, CF(events.limit_window_ms), "1h", CFG_SEC, 30 * CFG_DAY, 0 },
  { NULL }
};

static const struct cfg_opt cfg_texts_opts[] = {
  { "deny",       CFG_TEXT, CF(texts.deny),
    "550 5.7.1 Sending refused by policy", 0, 0, 0 },
  { "suspended",  CFG_TEXT, CF(texts.suspended),
    "550 5.7.1 Account suspended; contact support", 0, 0, 0 },
  { "identity",   CFG_TEXT, CF(texts.identity),
    "553 5.7.1 Not authorized to send as <%a>", 0, 0, 0 },
  { "recipients", CFG_TEXT, CF(texts.recipients),
    "452 4.5.3 Too many recipients (at most %n per message)", 0, 0, 0 },
  { "limit",      CFG_TEXT, CF(texts.limit),
    "450 4.7.1 Limit %l reached (%n %u per %p); try again in %r", 0, 0, 0 },
  { "failure",    CFG_TEXT, CF(texts.failure),
    "451 4.3.0 Policy service unavailable; try again later", 0, 0, 0 },
  { "recipients_final", CFG_TEXT, CF(texts.recipients_final),
    "550 5.5.3 Too many recipients (at most %n per message)", 0, 0, 0 },
  { "exceeds",    CFG_TEXT, CF(texts.exceeds),
    "550 5.7.1 Message exceeds limit %l (%n %u per %p)", 0, 0, 0 },
  { NULL }
};

static const struct cfg_opt cfg_metrics_opts[] = {
  { "listen", CFG_STR, CF(metrics_listen), NULL, 0, 0, CFG_F_RESTART,
    .check = cfg_chk_hostport },
  { NULL }
};

static const struct cfg_opt cfg_notifier_opts[] = {
  { "support_address", CFG_STR, CF(notifier.support_address), NULL, 0, 0, 0,
    .check = cfg_chk_mailaddr },
  { "from",     CFG_STR, CF(notifier.from), NULL, 0, 0, 0, .check = cfg_chk_mailaddr },
  { "window",   CFG_DUR, CF(notifier.window_ms), "1h", CFG_SEC, 30 * CFG_DAY, 0 },
  { "sendmail", CFG_STR, CF(notifier.sendmail), "/usr/sbin/sendmail", 0, 0, 0,
    .check = cfg_chk_path },
  { "group",    CFG_STR, CF(notifier.group), "outpost-notify", 0, 0, 0,
    .check = cfg_chk_word },
  { "template_dir", CFG_STR, CF(notifier.template_dir), NULL, 0, 0, 0,
    .check = cfg_chk_path },
  { NULL }
};

/* The file's top level.  Objects of plain settings keep their fields at
 * absolute offsets in struct config (row offset 0 for the object itself);
 * allow/deny are one sub-table at two bases. */
static const struct cfg_opt cfg_top_opts[] = {
  { "listen",          CFG_LIST, CF(listen),
    "unix:/var/spool/postfix/outpost/outpost.sock", 0, 0,
    CFG_F_RESTART | CFG_F_UNIQUE,
    .check = cfg_chk_listen },
  { "socket",          CFG_OBJ,  NOFF, NULL, 0, 0, 0, .sub = cfg_socket_opts },
  { "user",            CFG_STR,  CF(user),  "outpost", 0, 0, CFG_F_RESTART,
    .check = cfg_chk_user },
  { "group",           CFG_STR,  CF(group), NULL, 0, 0, CFG_F_RESTART,
    .check = cfg_chk_user },
  { "max_connections", CFG_UINT, CF(max_connections), "4096", 1, 1000000, 0 },
  { "idle_timeout",    CFG_DUR,  CF(idle_timeout_ms), "600s", CFG_SEC, CFG_DAY, 0 },
  { "protocol",        CFG_OBJ,  NOFF, NULL, 0, 0, 0, .sub = cfg_protocol_opts },
  { "log",             CFG_OBJ,  NOFF, NULL, 0, 0, 0, .sub = cfg_log_opts },
  { "redis",           CFG_OBJ,  NOFF, NULL, 0, 0, 0, .sub = cfg_redis_opts },
  { "failure_action",  CFG_ENUM, CF(failure_action), "DUNNO", 0, 0, 0,
    .names = cfg_actions_failure },
  { "failure_text",    CFG_TEXT, CF(texts.failure), NULL, 0, 0, CFG_F_LATE },
  { "suspension_cache", CFG_OBJ, NOFF, NULL, 0, 0, 0, .sub = cfg_suspension_cache_opts },
  { "account",         CFG_OBJ,  NOFF, NULL, 0, 0, 0, .sub = cfg_account_opts },
  { "default_class",   CFG_STR,  CF(default_class), NULL, 0, 0, CFG_F_REQUIRED,
    .check = cfg_chk_name },
  { "unauthenticated_class", CFG_STR, CF(unauthenticated_class), NULL, 0, 0, 0,
    .check = cfg_chk_name },
  { "classes",         CFG_CLASSES, NOFF, NULL, 0, 0, 0, .sub = cfg_class_opts },
  { "lists",           CFG_OBJ,  NOFF, NULL, 0, 0, 0, .sub = cfg_lists_opts },
  { "identities",      CFG_OBJ,  NOFF, NULL, 0, 0, 0, .sub = cfg_identities_opts },
  { "verdicts",        CFG_OBJ,  NOFF, NULL, 0, 0, 0, .sub = cfg_verdicts_opts },
  { "events",          CFG_OBJ,  NOFF, NULL, 0, 0, 0, .sub = cfg_events_opts },
  { "texts",           CFG_OBJ,  NOFF, NULL, 0, 0, 0, .sub = cfg_texts_opts },
  { "metrics",         CFG_OBJ,  NOFF, NULL, 0, 0, 0, .sub = cfg_metrics_opts },
  { "notifier",        CFG_OBJ,  NOFF, NULL, 0, 0, 0, .sub = cfg_notifier_opts },
  { "policy_dir",      CFG_STR,  CF(policy_dir), OUTPOST_POLICYDIR, 0, 0, 0,
    .check = cfg_chk_path },
  { NULL }
};

#pragma GCC diagnostic pop

/* Enum fields are stored through memcpy by size: a bool or an int-sized
 * enum. */
_Static_assert(sizeof(enum action) == sizeof(int), "enum size");
_Static_assert(sizeof(enum limit_count) == sizeof(int), "enum size");
_Static_assert(sizeof(enum limit_key) == sizeof(int), "enum size");
_Static_assert(sizeof(enum identity_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum identity_stage) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_target) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_format) == sizeof(int), "enum size");

/* ---- small helpers ----------------------------------------------------- */

static int cfg_tolower(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

static bool cfg_strcaseeq(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++)
        if (cfg_tolower((unsigned char)*a) != cfg_tolower((unsigned char)*b))
            return false;
    return *a == *b;
}

static bool cfg_isdigit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static bool cfg_isalnum(int ch)
{
    return cfg_isdigit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool cfg_is_comment(const char *key)
{
    return key[0] == '/' && key[1] == '/';
}

static void cfg_strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void cfg_str_set(char **field, const char *s)
{
    free(*field);
    *field = s != NULL ? xstrdup(s) : NULL;
}

/* Quotes s for an error line: printable ASCII kept, the rest "\xHH",
 * cut after CFG_SHOW_MAX bytes. */
static void cfg_show(char *out, size_t outlen, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, n = 0;

    if (outlen < 8) {
        if (outlen > 0)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (; *s != '\0' && o + 8 < outlen; s++, n++) {
        unsigned char ch = (unsigned char)*s;
        if (n == CFG_SHOW_MAX) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\') {
            if (ch == '"' || ch == '\\') {
                out[o++] = '\\';
                out[o++] = (char)ch;
            } else {
                out[o++] = '\\';
                out[o++] = 'x';
                out[o++] = hex[ch >> 4];
                out[o++] = hex[ch & 15];
            }
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* ---- durations and instants -------------------------------------------- */

int config_parse_duration(const char *s, int64_t *ms)
{
    static const struct { const char *unit; int64_t ms; } units[] = {
        { "ms", 1 }, { "s", CFG_SEC }, { "m", CFG_MIN }, { "h", CFG_HOUR },
        { "d", CFG_DAY },
    };
    uint64_t n = 0;
    const char *p = s;

    if (s == NULL || !cfg_isdigit((unsigned char)*p))
        return -1;
    for (; cfg_isdigit((unsigned char)*p); p++) {
        uint64_t digit = (uint64_t)(*p - '0');
        if (n > ((uint64_t)INT64_MAX - digit) / 10)
            return -1;
        n = n * 10 + digit;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].unit) != 0)
            continue;
        if (n > (uint64_t)(INT64_MAX / units[i].ms))
            return -1;
        *ms = (int64_t)n * units[i].ms;
        return 0;
    }
    return -1;
}

void config_format_duration(int64_t ms, char *out, size_t outlen)
{
    static const struct { const char *unit; uint64_t ms; } units[] = {
        { "d", CFG_DAY }, { "h", CFG_HOUR }, { "m", CFG_MIN }, { "s", CFG_SEC },
    };
    uint64_t m = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    const char *sign = ms < 0 ? "-" : "";

    if (m == 0) {
        snprintf(out, outlen, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (m % units[i].ms == 0) {
            snprintf(out, outlen, "%s%" PRIu64 "%s", sign, m / units[i].ms,
                     units[i].unit);
            return;
        }
    }
    snprintf(out, outlen, "%s%" PRIu64 "ms", sign, m);
}

static int cfg_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!cfg_isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t cfg_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* RFC 3339 date-time -> Unix ms; fractions beyond ms are cut. */
static int cfg_parse_time(const char *s, int64_t *ms)
{
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0, sign = 0;
    const char *p = s;

    if (cfg_digits(&p, 4, &y) || *p++ != '-' || cfg_digits(&p, 2, &mo) ||
        *p++ != '-' || cfg_digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (cfg_digits(&p, 2, &h) || *p++ != ':' || cfg_digits(&p, 2, &mi) ||
        *p++ != ':' || cfg_digits(&p, 2, &sec))
        return -1;
    if (*p == '.') {
        int n = 0;
        for (p++; cfg_isdigit((unsigned char)*p); p++, n++)
            if (n < 3)
                frac = frac * 10 + (*p - '0');
        if (n == 0)
            return -1;
        for (; n < 3; n++)
            frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (cfg_digits(&p, 2, &oh) || *p++ != ':' || cfg_digits(&p, 2, &om))
            return -1;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 ||
        d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
        sec > 60 || oh > 23 || om > 59)
        return -1;
    int64_t t = cfg_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    t -= sign * (oh * 3600 + om * 60);
    *ms = t * 1000 + frac;
    return 0;
}

/* ---- string checks ----------------------------------------------------- */

static const char *cfg_chk_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CFG_NAME_MAX)
        return "is not a valid name (1 to 64 of A-Z a-z 0-9 _ . -)";
    for (; *s != '\0'; s++)
        if (!cfg_isalnum((unsigned char)*s) && strchr("_.-", *s) == NULL)
            return "is not a valid name (1 to 64 of A-Z a-z 0-9 _ . -)";
    return NULL;
}

static const char *cfg_chk_user(const char *s)
{
    static const char why[] = "is not a valid user or group name";
    size_t n = strlen(s);
    if (n == 0 || n > 32 || s[0] == '-')
        return why;
    for (size_t i = 0; i < n; i++)
        if (!cfg_isalnum((unsigned char)s[i]) && strchr("_.-", s[i]) == NULL &&
            !(s[i] == '$' && i == n - 1))
            return why;
    return NULL;
}

static const char *cfg_chk_word(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return "must be 1 to 128 printable ASCII characters without spaces";
    for (; *s != '\0'; s++)
        if (*s <= 0x20 || *s > 0x7e)
            return "must be 1 to 128 printable ASCII characters without spaces";
    return NULL;
}

static const char *cfg_chk_prefix(const char *s)
{
    if (strlen(s) > 64)
        return "is longer than 64 bytes";
    for (; *s != '\0'; s++)
        if (*s <= 0x20 || *s > 0x7e || *s == '{' || *s == '}')
            return "may hold only printable ASCII without spaces, '{' or '}'";
    return NULL;
}

static bool cfg_path_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n < 2 || n > max || s[0] != '/')
        return false;
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static const char *cfg_chk_path(const char *s)
{
    return cfg_path_ok(s, 4095) ? NULL : "is not an absolute path";
}

/* HOST of HOST:PORT: a name or IPv4 address, or "[IPv6]". */
static bool cfg_host_ok(const char *s, size_t n)
{
    char buf[INET6_ADDRSTRLEN + 1];
    unsigned char addr[16];

    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        if (n - 2 == 0 || n - 2 >= sizeof buf)
            return false;
        memcpy(buf, s + 1, n - 2);
        buf[n - 2] = '\0';
        return inet_pton(AF_INET6, buf, addr) == 1;
    }
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!cfg_isalnum((unsigned char)s[i]) && strchr("-._", s[i]) == NULL)
            return false;
    return true;
}

static bool cfg_hostport_ok(const char *s, long minport)
{
    const char *colon = strrchr(s, ':');
    long port = 0;

    if (colon == NULL || !cfg_host_ok(s, (size_t)(colon - s)))
        return false;
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5)
        return false;
    for (; *p != '\0'; p++) {
        if (!cfg_isdigit((unsigned char)*p))
            return false;
        port = port * 10 + (*p - '0');
    }
    return port >= minport && port <= 65535;
}

static const char *cfg_chk_listen(const char *s)
{
    if (strncmp(s, "unix:", 5) == 0)
        return cfg_path_ok(s + 5, CFG_SUN_PATH_MAX) ? NULL :
               "is not unix:/ABSOLUTE/PATH (at most 107 bytes)";
    if (strncmp(s, "inet:", 5) == 0 && cfg_hostport_ok(s + 5, 0))
        return NULL;
    return "is not unix:/ABSOLUTE/PATH or inet:HOST:PORT ([IPv6]:PORT)";
}

static const char *cfg_chk_redis(const char *s)
{
    if (strncmp(s, "unix:", 5) == 0)
        return cfg_path_ok(s + 5, CFG_SUN_PATH_MAX) ? NULL :
               "is not unix:/ABSOLUTE/PATH (at most 107 bytes)";
    return cfg_hostport_ok(s, 1) ? NULL :
           "is not HOST:PORT, [IPv6]:PORT or unix:/ABSOLUTE/PATH";
}

static const char *cfg_chk_hostport(const char *s)
{
    return cfg_hostport_ok(s, 0) ? NULL : "is not HOST:PORT or [IPv6]:PORT";
}

static const char *cfg_chk_header(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return "is not a header field name (1 to 64 characters)";
    for (; *s != '\0'; s++)
        if (*s <= 0x20 || *s > 0x7e || *s == ':')
            return "is not a header field name (printable ASCII, no ':' or space)";
    return NULL;
}

static const char *cfg_chk_mailaddr(const char *s)
{
    const char *at = strrchr(s, '@');
    size_t n = strlen(s);

    if (n < 3 || n > 254 || at == NULL || at == s || at[1] == '\0')
        return "is not a mail address (local@domain)";
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f || *s == '<' || *s == '>')
            return "is not a mail address (local@domain)";
    return NULL;
}

static const char *cfg_chk_entry(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 512)
        return "must be 1 to 512 bytes";
    if (s[0] == ' ' || s[n - 1] == ' ')
        return "has surrounding spaces";
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return "contains a control character";
    return NULL;
}

/* A reply text; see the file header. */
static const char *cfg_chk_text(const char *s)
{
    size_t n = strlen(s);

    if (n >= CONFIG_TEXT_MAX)
        return "is too long (a reply text must be shorter than 200 bytes)";
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return "contains a byte that is not printable ASCII";
    /* "DNN D.N{1,3}.N{1,3} " */
    const char *p = s;
    if ((p[0] != '4' && p[0] != '5') || !cfg_isdigit((unsigned char)p[1]) ||
        !cfg_isdigit((unsigned char)p[2]) || p[3] != ' ' || p[4] != p[0] ||
        p[5] != '.')
        goto code;
    p += 6;
    for (int part = 0; part < 2; part++) {
        int k = 0;
        while (cfg_isdigit((unsigned char)*p) && k < 4) {
            p++;
            k++;
        }
        if (k < 1 || k > 3 || *p != (part == 0 ? '.' : ' '))
            goto code;
        p++;
    }
    if (*p == '\0' || *p == ' ')
        return "has no words after the codes";
    for (; *p != '\0'; p++) {
        if (*p != '%')
            continue;
        p++;
        if (*p == '\0' || strchr("anlupr%", *p) == NULL)
            return "has an unknown placeholder (known: %a %n %l %u %p %r %%)";
    }
    return NULL;
code:
    return "must start with a 4xx or 5xx code and an enhanced code of the same "
           "class, e.g. \"550 5.7.1 Refused\"";
}

static int cfg_parse_level(const char *s, int *v)
{
    enum log_level l;
    if (log_level_parse(s, &l) != 0)
        return -1;
    *v = (int)l;
    return 0;
}

/* ---- positions: where a key path sits in the text ----------------------- */

static size_t cfg_ws(const char *t, size_t len, size_t i)
{
    while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
        i++;
    return i;
}

static size_t cfg_skip_string(const char *t, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (t[i] == '\\')
            i++;
        else if (t[i] == '"')
            return i + 1;
    }
    return len;
}

static size_t cfg_skip_value(const char *t, size_t len, size_t i)
{
    size_t depth = 0;

    if (i >= len)
        return len;
    if (t[i] == '"')
        return cfg_skip_string(t, len, i);
    if (t[i] != '{' && t[i] != '[') {
        while (i < len && strchr(",]} \t\r\n", t[i]) == NULL)
            i++;
        return i;
    }
    while (i < len) {
        if (t[i] == '"') {
            i = cfg_skip_string(t, len, i);
            continue;
        }
        if (t[i] == '{' || t[i] == '[')
            depth++;
        else if ((t[i] == '}' || t[i] == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return len;
}

static unsigned cfg_hex4(const char *p)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int ch = p[k];
        v <<= 4;
        if (cfg_isdigit(ch))
            v |= (unsigned)(ch - '0');
        else
            v |= (unsigned)(cfg_tolower(ch) - 'a' + 10);
    }
    return v;
}

/* Decodes the JSON string at t[i] ('"') into out (at least as long as the
 * raw string); returns the offset after it. */
static size_t cfg_decode_string(const char *t, size_t len, size_t i, char *out)
{
    size_t o = 0;

    for (i++; i < len && t[i] != '"'; i++) {
        if (t[i] != '\\') {
            out[o++] = t[i];
            continue;
        }
        i++;
        switch (t[i]) {
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            unsigned cp = cfg_hex4(t + i + 1);
            i += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && i + 6 < len && t[i + 1] == '\\') {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (cfg_hex4(t + i + 3) - 0xdc00);
                i += 6;
            }
            if (cp < 0x80) {
                out[o++] = (char)cp;
            } else if (cp < 0x800) {
                out[o++] = (char)(0xc0 | cp >> 6);
                out[o++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                out[o++] = (char)(0xe0 | cp >> 12);
                out[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
                out[o++] = (char)(0x80 | (cp & 0x3f));
            } else {
                out[o++] = (char)(0xf0 | cp >> 18);
                out[o++] = (char)(0x80 | (cp >> 12 & 0x3f));
                out[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
                out[o++] = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default: out[o++] = t[i]; break;  /* " \ / */
        }
    }
    out[o] = '\0';
    return i + 1;
}

/* Byte offset of the value at path[0..n) (or of its key when want_key) in a
 * text that jansson accepted.  If the path is not found (it always is), the
 * deepest container reached. */
static size_t cfg_locate(const char *t, size_t len, const struct cfg_comp *path,
                         size_t n, bool want_key)
{
    size_t i = cfg_ws(t, len, 0);

    for (size_t d = 0; d < n; d++) {
        size_t start = i;
        bool found = false;

        if (i >= len || (t[i] != '{' && t[i] != '['))
            return start;
        bool obj = t[i] == '{';
        i++;
        for (size_t idx = 0; !found; idx++) {
            size_t keypos = 0;
            i = cfg_ws(t, len, i);
            if (i >= len || t[i] == '}' || t[i] == ']')
                return start;
            if (obj) {
                size_t end = cfg_skip_string(t, len, i);
                char *key = xmalloc(end - i + 1);
                keypos = i;
                cfg_decode_string(t, len, i, key);
                found = path[d].key != NULL && strcmp(key, path[d].key) == 0;
                free(key);
                i = cfg_ws(t, len, end);
                i = cfg_ws(t, len, i + 1);          /* ':' */
            } else {
                found = path[d].key == NULL && path[d].idx == idx;
            }
            if (found) {
                if (d + 1 == n && want_key && obj)
                    return keypos;
                break;
            }
            i = cfg_ws(t, len, cfg_skip_value(t, len, i));
            if (i < len && t[i] == ',')
                i++;
        }
    }
    return i;
}

static void cfg_linecol(const char *t, size_t len, size_t off,
                        unsigned long *line, unsigned long *col)
{
    size_t bol = 0;
    *line = 1;
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++)
        if (t[i] == '\n') {
            (*line)++;
            bol = i + 1;
        }
    *col = off - bol + 1;
}

/* ---- errors ------------------------------------------------------------ */

static void cfg_path_show(char *out, size_t outlen, const struct cfg_comp *path,
                          size_t n)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t d = 0; d < n && o + 1 < outlen; d++) {
        int w;
        if (path[d].key == NULL) {
            w = snprintf(out + o, outlen - o, "[%zu]", path[d].idx);
        } else {
            char q[CFG_SHOW_MAX * 4 + 8];
            const char *k = path[d].key;
            bool plain = *k != '\0';
            for (const char *p = k; *p != '\0'; p++)
                if (*p <= 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
                    plain = false;
            if (!plain || strlen(k) > CFG_SHOW_MAX) {
                cfg_show(q, sizeof q, k);
                k = q;
            }
            w = snprintf(out + o, outlen - o, "%s%s", d > 0 ? "." : "", k);
        }
        if (w < 0)
            break;
        o += (size_t)w;
    }
}

__attribute__((format(printf, 3, 4)))
static int cfg_fail(struct cfg_ctx *c, enum cfg_at at, const char *fmt, ...)
{
    char what[512], where[512];
    unsigned long line, col;
    va_list ap;
    size_t n = c->depth;

    if (at == CFG_AT_PARENT && n > 0)
        n--;
    size_t off = cfg_locate(c->text, c->len, c->path, n, at == CFG_AT_KEY);
    cfg_linecol(c->text, c->len, off, &line, &col);
    cfg_path_show(where, sizeof where, c->path, c->depth);
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (where[0] == '\0')
        snprintf(c->err, c->errlen, "%s:%lu:%lu: %s", c->file, line, col, what);
    else
        snprintf(c->err, c->errlen, "%s:%lu:%lu: %s: %s", c->file, line, col,
                 where, what);
    return -1;
}

static void cfg_push_key(struct cfg_ctx *c, const char *key)
{
    if (c->depth >= CFG_DEPTH_MAX)
        log_panic("config: key path deeper than %d", CFG_DEPTH_MAX);
    c->path[c->depth].key = key;
    c->path[c->depth].idx = 0;
    c->depth++;
}

static void cfg_push_idx(struct cfg_ctx *c, size_t idx)
{
    if (c->depth >= CFG_DEPTH_MAX)
        log_panic("config: key path deeper than %d", CFG_DEPTH_MAX);
    c->path[c->depth].key = NULL;
    c->path[c->depth].idx = idx;
    c->depth++;
}

static void cfg_pop(struct cfg_ctx *c)
{
    c->depth--;
}

static const char *cfg_jtype(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:  return "an object";
    case JSON_ARRAY:   return "an array";
    case JSON_STRING:  return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL:    return "a number";
    case JSON_TRUE:
    case JSON_FALSE:   return "a boolean";
    default:           return "null";
    }
}

static int cfg_wrong_type(struct cfg_ctx *c, const char *want, const json_t *v)
{
    return cfg_fail(c, CFG_AT_VALUE, "expected %s, got %s", want, cfg_jtype(v));
}

static int cfg_bad_string(struct cfg_ctx *c, const char *s, const char *why)
{
    char q[CFG_SHOW_MAX * 4 + 8];
    cfg_show(q, sizeof q, s);
    return cfg_fail(c, CFG_AT_VALUE, "%s %s", q, why);
}

/* Edit distance of short strings, for "did you mean". */
static size_t cfg_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[CFG_NAME_MAX + 1];

    if (la > CFG_NAME_MAX || lb > CFG_NAME_MAX)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int cfg_unknown_key(struct cfg_ctx *c, const struct cfg_opt *tab,
                           const char *key)
{
    const char *best = NULL;
    size_t bestd = 3;

    for (const struct cfg_opt *o = tab; o->key != NULL; o++) {
        size_t d = cfg_distance(key, o->key);
        if (d < bestd) {
            bestd = d;
            best = o->key;
        }
    }
    if (best != NULL && strlen(key) >= 3)
        return cfg_fail(c, CFG_AT_KEY, "unknown key (did you mean \"%s\"?)", best);
    return cfg_fail(c, CFG_AT_KEY, "unknown key");
}

/* ---- defaults and freeing, driven by the tables ------------------------ */

static size_t cfg_field_size(enum cfg_type t)
{
    switch (t) {
    case CFG_BOOL: return sizeof(bool);
    case CFG_UINT: return sizeof(uint64_t);
    case CFG_INT: case CFG_MS: case CFG_DUR: case CFG_TIME: return sizeof(int64_t);
    case CFG_STR: case CFG_TEXT: return sizeof(char *);
    case CFG_MODE: return sizeof(unsigned);
    case CFG_LIST: return sizeof(struct strlist);
    case CFG_NUM: return sizeof(double);
    case CFG_SEP: return sizeof(char);
    default: return 0;      /* ENUM: bool or int; OBJ, CLASSES, LIMITS */
    }
}

static const struct cfg_name *cfg_name_find(const struct cfg_name *names,
                                            const char *s)
{
    for (; names->name != NULL; names++)
        if (cfg_strcaseeq(names->name, s))
            return names;
    return NULL;
}

static void cfg_store_enum(char *p, size_t size, int v)
{
    if (size == sizeof(bool)) {
        bool b = v != 0;
        memcpy(p, &b, sizeof b);
    } else if (size == sizeof(int)) {
        memcpy(p, &v, sizeof v);
    } else {
        log_panic("config: enum field of %zu bytes", size);
    }
}

/* Sets every defaulted field of tab at base from the row's default text;
 * a default that does not parse is a bug in the table. */
static void cfg_defaults(const struct cfg_opt *tab, char *base)
{
    for (const struct cfg_opt *o = tab; o->key != NULL; o++) {
        char *p = base + o->off;
        size_t want = cfg_field_size(o->type);

        if (want != 0 && want != o->size)
            log_panic("config: row %s: field of %zu bytes, type wants %zu",
                      o->key, o->size, want);
        if (o->flags & CFG_F_LATE)
            continue;
        if (o->type == CFG_OBJ) {
            cfg_defaults(o->sub, p);
            continue;
        }
        if (o->def == NULL)
            continue;
        switch (o->type) {
        case CFG_BOOL:
            *(bool *)(void *)p = strcmp(o->def, "true") == 0;
            break;
        case CFG_UINT:
            *(uint64_t *)(void *)p = strtoull(o->def, NULL, 10);
            break;
        case CFG_INT:
        case CFG_MS:
            *(int64_t *)(void *)p = strtoll(o->def, NULL, 10);
            break;
        case CFG_DUR:
            if (config_parse_duration(o->def, (int64_t *)(void *)p) != 0)
                log_panic("config: row %s: bad default", o->key);
            break;
        case CFG_STR:
        case CFG_TEXT:
            cfg_str_set((char **)(void *)p, o->def);
            break;
        case CFG_ENUM: {
            const struct cfg_name *nm = cfg_name_find(o->names, o->def);
            if (nm == NULL)
                log_panic("config: row %s: bad default", o->key);
            cfg_store_enum(p, o->size, nm->value);
            break;
        }
        case CFG_MODE:
            *(unsigned *)(void *)p = (unsigned)strtoul(o->def, NULL, 8);
            break;
        case CFG_LIST: {
            struct strlist *l = (struct strlist *)(void *)p;
            l->v = xmalloc(sizeof *l->v);
            l->v[0] = xstrdup(o->def);
            l->n = 1;
            break;
        }
        case CFG_SEP:
            *p = strcmp(o->def, "true") == 0 ? '+' : 0;
            break;
        default:
            log_panic("config: row %s: type has no default", o->key);
        }
    }
}

static void cfg_release(const struct cfg_opt *tab, char *base);

static void cfg_release_class(struct config_class *k)
{
    cfg_release(cfg_class_opts, (char *)k);
    free(k->name);
}

static void cfg_release(const struct cfg_opt *tab, char *base)
{
    for (const struct cfg_opt *o = tab; o->key != NULL; o++) {
        char *p = base + o->off;

        if (o->flags & CFG_F_LATE)
            continue;
        switch (o->type) {
        case CFG_STR:
        case CFG_TEXT:
            free(*(char **)(void *)p);
            *(char **)(void *)p = NULL;
            break;
        case CFG_LIST:
            cfg_strlist_free((struct strlist *)(void *)p);
            break;
        case CFG_OBJ:
            cfg_release(o->sub, p);
            break;
        case CFG_CLASSES: {
            struct config *cfg = (struct config *)(void *)base;
            for (size_t i = 0; i < cfg->nclasses; i++)
                cfg_release_class(&cfg->classes[i]);
            free(cfg->classes);
            cfg->classes = NULL;
            cfg->nclasses = 0;
            break;
        }
        case CFG_LIMITS: {
            struct config_class *k = (struct config_class *)(void *)base;
            for (size_t i = 0; i < k->nlimits; i++)
                cfg_release(o->sub, (char *)&k->limits[i]);
            free(k->limits);
            k->limits = NULL;
            k->nlimits = 0;
            break;
        }
        default:
            break;
        }
    }
}

/* ---- the walk ---------------------------------------------------------- */

static int cfg_object(struct cfg_ctx *c, const struct cfg_opt *tab,
                      json_t *obj, char *base);

static int cfg_comment(struct cfg_ctx *c, json_t *v)
{
    size_t i;
    json_t *e;

    if (json_is_string(v))
        return 0;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e)
            if (!json_is_string(e))
                break;
        if (i == json_array_size(v))
            return 0;
    }
    return cfg_fail(c, CFG_AT_VALUE,
                    "a comment must be a string or an array of strings");
}

static int cfg_integer(struct cfg_ctx *c, const struct cfg_opt *o, json_t *v,
                       int64_t *out)
{
    if (!json_is_integer(v))
        return cfg_wrong_type(c, "an integer", v);
    long long n = json_integer_value(v);
    if (n < o->min)
        return cfg_fail(c, CFG_AT_VALUE, "%lld is below the minimum %lld", n,
                        (long long)o->min);
    if (n > o->max)
        return cfg_fail(c, CFG_AT_VALUE, "%lld is above the maximum %lld", n,
                        (long long)o->max);
    *out = n;
    return 0;
}

static int cfg_enum(struct cfg_ctx *c, const struct cfg_opt *o, const char *s,
                    int *out)
{
    char names[256], q[CFG_SHOW_MAX * 4 + 8];
    size_t n = 0;

    if (o->parse != NULL) {
        char low[32];
        size_t i;
        for (i = 0; s[i] != '\0' && i + 1 < sizeof low; i++)
            low[i] = (char)cfg_tolower((unsigned char)s[i]);
        low[i] = '\0';
        if (s[i] == '\0' && o->parse(low, out) == 0)
            return 0;
    } else {
        const struct cfg_name *nm = cfg_name_find(o->names, s);
        if (nm != NULL) {
            *out = nm->value;
            return 0;
        }
    }
    names[0] = '\0';
    for (const struct cfg_name *nm = o->names; nm->name != NULL; nm++) {
        int w = snprintf(names + n, sizeof names - n, "%s%s",
                         n > 0 ? ", " : "", nm->name);
        if (w < 0 || (size_t)w >= sizeof names - n)
            break;
        n += (size_t)w;
    }
    cfg_show(q, sizeof q, s);
    return cfg_fail(c, CFG_AT_VALUE, "%s is not one of %s", q, names);
}

static int cfg_list(struct cfg_ctx *c, const struct cfg_opt *o, json_t *v,
                    struct strlist *l)
{
    size_t i;
    json_t *e;

    if (!json_is_array(v))
        return cfg_wrong_type(c, "an array of strings", v);
    cfg_strlist_free(l);
    l->v = xcalloc(json_array_size(v) + 1, sizeof *l->v);
    json_array_foreach(v, i, e) {
        const char *s = json_string_value(e), *why;
        cfg_push_idx(c, i);
        if (s == NULL)
            return cfg_wrong_type(c, "a string", e);
        if (o->check != NULL && (why = o->check(s)) != NULL)
            return cfg_bad_string(c, s, why);
        for (size_t k = 0; (o->flags & CFG_F_UNIQUE) && k < l->n; k++)
            if (strcmp(l->v[k], s) == 0)
                return cfg_bad_string(c, s, "is listed twice");
        l->v[l->n++] = xstrdup(s);
        cfg_pop(c);
    }
    return 0;
}

static int cfg_class_list(struct cfg_ctx *c, json_t *v, struct config *cfg)
{
    const char *name, *why;
    json_t *e;

    if (!json_is_object(v))
        return cfg_wrong_type(c, "an object of classes", v);
    cfg->classes = xcalloc(json_object_size(v) + 1, sizeof *cfg->classes);
    json_object_foreach(v, name, e) {
        struct config_class *k;

        cfg_push_key(c, name);
        if (cfg_is_comment(name)) {
            if (cfg_comment(c, e) != 0)
                return -1;
            cfg_pop(c);
            continue;
        }
        if ((why = cfg_chk_name(name)) != NULL) {
            char q[CFG_SHOW_MAX * 4 + 8];
            cfg_show(q, sizeof q, name);
            return cfg_fail(c, CFG_AT_KEY, "class name %s %s", q, why);
        }
        if (!json_is_object(e))
            return cfg_wrong_type(c, "an object", e);
        k = &cfg->classes[cfg->nclasses++];
        k->name = xstrdup(name);
        cfg_defaults(cfg_class_opts, (char *)k);
        if (cfg_object(c, cfg_class_opts, e, (char *)k) != 0)
            return -1;
        cfg_pop(c);
    }
    return 0;
}

static int cfg_limit_list(struct cfg_ctx *c, const struct cfg_opt *o, json_t *v,
                          struct config_class *k)
{
    size_t i;
    json_t *e;

    if (!json_is_array(v))
        return cfg_wrong_type(c, "an array of limits", v);
    if (json_array_size(v) > CFG_LIMITS_MAX)
        return cfg_fail(c, CFG_AT_VALUE, "a class has at most %d limits",
                        CFG_LIMITS_MAX);
    k->limits = xcalloc(json_array_size(v) + 1, sizeof *k->limits);
    json_array_foreach(v, i, e) {
        struct config_limit *l;

        cfg_push_idx(c, i);
        if (!json_is_object(e))
            return cfg_wrong_type(c, "an object", e);
        l = &k->limits[k->nlimits++];
        cfg_defaults(o->sub, (char *)l);
        if (cfg_object(c, o->sub, e, (char *)l) != 0)
            return -1;
        for (size_t j = 0; j + 1 < k->nlimits; j++) {
            if (strcmp(k->limits[j].name, l->name) == 0) {
                cfg_push_key(c, "name");
                return cfg_bad_string(c, l->name, "is already a limit of this class");
            }
        }
        cfg_pop(c);
    }
    return 0;
}

/* One value of a known key; the path ends with its key. */
static int cfg_value(struct cfg_ctx *c, const struct cfg_opt *o, json_t *v,
                     char *base)
{
    char *p = base + o->off;
    const char *s = NULL, *why;
    int64_t n = 0;

    if (o->type == CFG_DUR || o->type == CFG_STR || o->type == CFG_TEXT ||
        o->type == CFG_ENUM || o->type == CFG_MODE || o->type == CFG_TIME) {
        s = json_string_value(v);
        if (s == NULL) {
            if (o->type == CFG_DUR)
                return cfg_wrong_type(c, "a duration string such as \"30s\"", v);
            if (o->type == CFG_MODE)
                return cfg_wrong_type(c, "a string of octal digits such as \"0660\"", v);
            return cfg_wrong_type(c, "a string", v);
        }
    }
    switch (o->type) {
    case CFG_BOOL:
        if (!json_is_boolean(v))
            return cfg_wrong_type(c, "true or false", v);
        *(bool *)(void *)p = json_is_true(v);
        return 0;
    case CFG_UINT:
        if (cfg_integer(c, o, v, &n) != 0)
            return -1;
        *(uint64_t *)(void *)p = (uint64_t)n;
        return 0;
    case CFG_INT:
    case CFG_MS:
        return cfg_integer(c, o, v, (int64_t *)(void *)p);
    case CFG_DUR: {
        char lim[32], q[CFG_SHOW_MAX * 4 + 8];
        cfg_show(q, sizeof q, s);
        if (config_parse_duration(s, &n) != 0)
            return cfg_fail(c, CFG_AT_VALUE, "%s is not a duration "
                            "(digits and one unit: ms, s, m, h or d)", q);
        if (n == 0 && o->min > 0)
            return cfg_fail(c, CFG_AT_VALUE, "%s is not a positive duration", q);
        if (n < o->min) {
            config_format_duration(o->min, lim, sizeof lim);
            return cfg_fail(c, CFG_AT_VALUE, "%s is below the minimum %s", q, lim);
        }
        if (n > o->max) {
            config_format_duration(o->max, lim, sizeof lim);
            return cfg_fail(c, CFG_AT_VALUE, "%s is above the maximum %s", q, lim);
        }
        *(int64_t *)(void *)p = n;
        return 0;
    }
    case CFG_STR:
        if (o->check != NULL && (why = o->check(s)) != NULL)
            return cfg_bad_string(c, s, why);
        cfg_str_set((char **)(void *)p, s);
        return 0;
    case CFG_TEXT:
        if ((why = cfg_chk_text(s)) != NULL)
            return cfg_bad_string(c, s, why);
        if (o->flags & CFG_F_LATE) {
            c->late_row = o;
            c->late_val = v;
            return 0;
        }
        cfg_str_set((char **)(void *)p, s);
        return 0;
    case CFG_ENUM: {
        int e;
        if (cfg_enum(c, o, s, &e) != 0)
            return -1;
        cfg_store_enum(p, o->size, e);
        return 0;
    }
    case CFG_MODE: {
        unsigned long m = 0;
        size_t len = strlen(s);
        bool ok = len >= 1 && len <= 5;
        for (const char *q = s; ok && *q != '\0'; q++) {
            ok = *q >= '0' && *q <= '7';
            m = m * 8 + (unsigned long)(*q - '0');
        }
        if (!ok || m > (unsigned long)o->max)
            return cfg_bad_string(c, s, "is not an octal mode such as \"0660\"");
        *(unsigned *)(void *)p = (unsigned)m;
        return 0;
    }
    case CFG_LIST:
        return cfg_list(c, o, v, (struct strlist *)(void *)p);
    case CFG_TIME:
        if (cfg_parse_time(s, &n) != 0)
            return cfg_bad_string(c, s, "is not an RFC 3339 date-time such as "
                                  "\"2026-12-01T00:00:00Z\"");
        if (n <= 0)
            return cfg_bad_string(c, s, "is not after 1970");
        *(int64_t *)(void *)p = n;
        return 0;
    case CFG_NUM: {
        if (!json_is_number(v))
            return cfg_wrong_type(c, "a number", v);
        double d = json_number_value(v);
        if (!(d > 0))
            return cfg_fail(c, CFG_AT_VALUE, "%g is not a positive number", d);
        if (d > (double)o->max)
            return cfg_fail(c, CFG_AT_VALUE, "%g is above the maximum %lld", d,
                            (long long)o->max);
        *(double *)(void *)p = d;
        return 0;
    }
    case CFG_SEP:
        if (json_is_boolean(v)) {
            *p = json_is_true(v) ? '+' : 0;
            return 0;
        }
        s = json_string_value(v);
        if (s == NULL)
            return cfg_wrong_type(c, "true, false or a separator string", v);
        if (strlen(s) != 1 || strchr("+-_=", s[0]) == NULL)
            return cfg_bad_string(c, s, "is not one of \"+\", \"-\", \"_\", \"=\"");
        *p = s[0];
        return 0;
    case CFG_OBJ:
        if (!json_is_object(v))
            return cfg_wrong_type(c, "an object", v);
        if (o->flags & CFG_F_PRESENCE)
            *(bool *)(void *)(p + offsetof(struct config_auto_suspend, enabled)) = true;
        return cfg_object(c, o->sub, v, p);
    case CFG_CLASSES:
        return cfg_class_list(c, v, (struct config *)(void *)base);
    case CFG_LIMITS:
        return cfg_limit_list(c, o, v, (struct config_class *)(void *)base);
    }
    return 0;
}

/* The members of obj against tab, in file order; then the required keys.
 * The path ends with obj's own key. */
static int cfg_object(struct cfg_ctx *c, const struct cfg_opt *tab,
                      json_t *obj, char *base)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v) {
        const struct cfg_opt *o;

        cfg_push_key(c, key);
        if (cfg_is_comment(key)) {
            if (cfg_comment(c, v) != 0)
                return -1;
            cfg_pop(c);
            continue;
        }
        for (o = tab; o->key != NULL; o++)
            if (strcmp(o->key, key) == 0)
                break;
        if (o->key == NULL)
            return cfg_unknown_key(c, tab, key);
        if (cfg_value(c, o, v, base) != 0)
            return -1;
        cfg_pop(c);
    }
    for (const struct cfg_opt *o = tab; o->key != NULL; o++) {
        if ((o->flags & CFG_F_REQUIRED) && json_object_get(obj, o->key) == NULL) {
            cfg_push_key(c, o->key);
            return cfg_fail(c, CFG_AT_PARENT, "required key is missing");
        }
    }
    return 0;
}

/* ---- checks across keys ------------------------------------------------ */

static json_t *cfg_get(json_t *root, const char *a, const char *b)
{
    json_t *v = json_object_get(root, a);
    return b != NULL && v != NULL ? json_object_get(v, b) : v;
}

static int cfg_check_classes(struct cfg_ctx *c, json_t *root)
{
    struct config *cfg = c->cfg;
    const struct config_class *k;
    char q[CFG_SHOW_MAX * 4 + 8];

    if (config_class_find(cfg, cfg->default_class) == NULL) {
        cfg_push_key(c, "default_class");
        cfg_show(q, sizeof q, cfg->default_class);
        return cfg_fail(c, CFG_AT_VALUE, "%s is not a defined class", q);
    }
    if (cfg->unauthenticated_class == NULL)
        return 0;
    cfg_push_key(c, "unauthenticated_class");
    k = config_class_find(cfg, cfg->unauthenticated_class);
    cfg_show(q, sizeof q, cfg->unauthenticated_class);
    if (k == NULL)
        return cfg_fail(c, CFG_AT_VALUE, "%s is not a defined class", q);
    cfg_pop(c);
    for (size_t i = 0; i < k->nlimits; i++) {
        if (k->limits[i].key != LIMIT_KEY_ACCOUNT)
            continue;
        json_t *lim = json_array_get(cfg_get(cfg_get(root, "classes", k->name),
                                             "limits", NULL), i);
        bool given = json_object_get(lim, "key") != NULL;
        cfg_push_key(c, "classes");
        cfg_push_key(c, k->name);
        cfg_push_key(c, "limits");
        cfg_push_idx(c, i);
        cfg_push_key(c, "key");
        return cfg_fail(c, given ? CFG_AT_VALUE : CFG_AT_PARENT,
                        "the unauthenticated_class %s cannot key a limit by "
                        "account (use client_address or sender_domain)", q);
    }
    return 0;
}

static int cfg_check_protocol(struct cfg_ctx *c, json_t *root)
{
    const struct config *cfg = c->cfg;

    if (cfg->protocol.max_request >= cfg->protocol.max_line)
        return 0;
    cfg_push_key(c, "protocol");
    if (cfg_get(root, "protocol", "max_request") != NULL) {
        cfg_push_key(c, "max_request");
        return cfg_fail(c, CFG_AT_VALUE, "%" PRIu64 " is below protocol.max_line "
                        "(%" PRIu64 ")", cfg->protocol.max_request,
                        cfg->protocol.max_line);
    }
    cfg_push_key(c, "max_line");
    return cfg_fail(c, CFG_AT_VALUE, "%" PRIu64 " is above protocol.max_request "
                    "(%" PRIu64 ")", cfg->protocol.max_line,
                    cfg->protocol.max_request);
}

static int cfg_compile_list(struct cfg_ctx *c, const char *which,
                            const struct config_listsrc *src, struct list *l)
{
    static const struct { const char *key; enum list_kind kind; size_t off; } kinds[] = {
        { "accounts", LIST_ACCOUNT, offsetof(struct config_listsrc, accounts) },
        { "clients", LIST_CLIENT, offsetof(struct config_listsrc, clients) },
        { "senders", LIST_SENDER, offsetof(struct config_listsrc, senders) },
        { "sender_domains", LIST_DOMAIN,
          offsetof(struct config_listsrc, sender_domains) },
    };

    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const struct strlist *sl =
            (const struct strlist *)(const void *)((const char *)src + kinds[k].off);
        for (size_t i = 0; i < sl->n; i++) {
            char why[256];
            char *v = xstrdup(sl->v[i]);
            int rc;

            if (kinds[k].kind == LIST_ACCOUNT && c->cfg->account_lowercase)
                for (char *p = v; *p != '\0'; p++)
                    *p = (char)cfg_tolower((unsigned char)*p);
            why[0] = '\0';
            rc = list_add(l, kinds[k].kind, v, why, sizeof why);
            free(v);
            if (rc == 0)
                continue;
            cfg_push_key(c, "lists");
            cfg_push_key(c, which);
            cfg_push_key(c, kinds[k].key);
            cfg_push_idx(c, i);
            for (char *p = why; *p != '\0'; p++)   /* keep one line */
                if (*p < 0x20 || *p > 0x7e)
                    *p = '?';
            return cfg_fail(c, CFG_AT_VALUE, "%s",
                            why[0] != '\0' ? why : "not a valid entry");
        }
    }
    return 0;
}

static int cfg_finish(struct cfg_ctx *c, json_t *root)
{
    struct config *cfg = c->cfg;

    if (c->late_row != NULL) {      /* failure_text beats texts.failure */
        cfg_str_set((char **)(void *)((char *)cfg + c->late_row->off),
                    json_string_value(c->late_val));
    }
    if (cfg->listen.n == 0) {
        cfg_push_key(c, "listen");
        return cfg_fail(c, CFG_AT_VALUE, "the list must not be empty");
    }
    if (cfg_check_protocol(c, root) != 0 || cfg_check_classes(c, root) != 0)
        return -1;
    cfg->allow.compiled = list_new();
    cfg->deny.compiled = list_new();
    if (cfg_compile_list(c, "allow", &cfg->allow.src, cfg->allow.compiled) != 0 ||
        cfg_compile_list(c, "deny", &cfg->deny.src, cfg->deny.compiled) != 0)
        return -1;
    return 0;
}

/* ---- loading ----------------------------------------------------------- */

/* The file's bytes, at most CONFIG_FILE_MAX of them. */
static int cfg_read(const char *path, char **out, size_t *outlen, char *err,
                    size_t errlen)
{
    size_t cap = 64 * 1024, len = 0;
    char *buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "%s:0:0: cannot open: %s", path, strerror(errno));
        return -1;
    }
    buf = xmalloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap > CONFIG_FILE_MAX)
                break;
            cap = cap * 2 > (size_t)CONFIG_FILE_MAX + 1 ? (size_t)CONFIG_FILE_MAX + 1
                                                        : cap * 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s:0:0: cannot read: %s", path, strerror(errno));
            close(fd);
            free(buf);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (len > CONFIG_FILE_MAX) {
        snprintf(err, errlen, "%s:0:0: the file is larger than %d bytes", path,
                 CONFIG_FILE_MAX);
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

static void cfg_hash(const char *buf, size_t len, char out[17])
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)buf[i];
        h *= UINT64_C(0x100000001b3);
    }
    snprintf(out, 17, "%016" PRIx64, h);
}

/* jansson reports the offset after the offending token; point at its
 * start, or at the end of the text for a premature end. */
static void cfg_syntax_error(const char *path, const char *buf, size_t len,
                             const json_error_t *je, char *err, size_t errlen)
{
    char text[JSON_ERROR_TEXT_LENGTH];
    size_t off = je->position > 0 ? (size_t)je->position : 0;
    unsigned long line, col;

    if (off > len)
        off = len;
    if (strstr(je->text, "end of file") == NULL &&
        strstr(je->text, "end of input") == NULL && off > 0) {
        size_t e = off - 1;
        if (buf[e] == '"' && e > 0) {
            size_t q = e;
            while (q > 0) {     /* back to the unescaped opening quote */
                size_t bs = 0;
                if (buf[--q] != '"')
                    continue;
                while (q >= bs + 1 && buf[q - bs - 1] == '\\')
                    bs++;
                if (bs % 2 == 0)
                    break;
            }
            off = q;
        } else if (cfg_isalnum((unsigned char)buf[e]) || strchr("+-.", buf[e]) != NULL) {
            while (e > 0 && (cfg_isalnum((unsigned char)buf[e - 1]) ||
                             strchr("+-.", buf[e - 1]) != NULL))
                e--;
            off = e;
        } else {
            off = e;
        }
    }
    cfg_linecol(buf, len, off, &line, &col);
    snprintf(text, sizeof text, "%s", je->text);
    for (char *p = text; *p != '\0'; p++)
        if (*p < 0x20 || *p > 0x7e)
            *p = '?';
    snprintf(err, errlen, "%s:%lu:%lu: %s", path, line, col, text);
}

int config_load(const char *path, struct config **out, char *err, size_t errlen)
{
    struct cfg_ctx c;
    json_error_t je;
    json_t *root;
    char *buf;
    size_t len;
    int rc;

    *out = NULL;
    if (cfg_read(path, &buf, &len, err, errlen) != 0)
        return -1;
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        cfg_syntax_error(path, buf, len, &je, err, errlen);
        free(buf);
        return -1;
    }
    memset(&c, 0, sizeof c);
    c.file = path;
    c.text = buf;
    c.len = len;
    c.err = err;
    c.errlen = errlen;
    c.cfg = xcalloc(1, sizeof *c.cfg);
    c.cfg->refs = 1;
    c.cfg->path = xstrdup(path);
    cfg_hash(buf, len, c.cfg->hash);
    cfg_defaults(cfg_top_opts, (char *)c.cfg);

    if (!json_is_object(root))
        rc = cfg_fail(&c, CFG_AT_VALUE, "the top level must be an object");
    else
        rc = cfg_object(&c, cfg_top_opts, root, (char *)c.cfg);
    if (rc == 0) {
        c.depth = 0;
        rc = cfg_finish(&c, root);
    }
    json_decref(root);
    free(buf);
    if (rc != 0) {
        config_unref(c.cfg);
        return -1;
    }
    *out = c.cfg;
    return 0;
}

struct config *config_ref(struct config *cfg)
{
    if (cfg->refs <= 0)
        log_panic("config_ref: refs %d", cfg->refs);
    cfg->refs++;
    return cfg;
}

void config_unref(struct config *cfg)
{
    if (cfg == NULL)
        return;
    if (cfg->refs <= 0)
        log_panic("config_unref: refs %d", cfg->refs);
    if (--cfg->refs > 0)
        return;
    cfg_release(cfg_top_opts, (char *)cfg);
    list_free(cfg->allow.compiled);
    list_free(cfg->deny.compiled);
    free(cfg->path);
    free(cfg);
}

const struct config_class *config_class_find(const struct config *cfg,
                                             const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->nclasses; i++)
        if (strcmp(cfg->classes[i].name, name) == 0)
            return &cfg->classes[i];
    return NULL;
}

const char *config_action_name(enum action a)
{
    switch (a) {
    case ACTION_DUNNO:  return "DUNNO";
    case ACTION_DEFER:  return "DEFER";
    case ACTION_REJECT: return "REJECT";
    case ACTION_HOLD:   return "HOLD";
    }
    return "?";
}

/* ---- config_keys ------------------------------------------------------- */

struct cfg_keys_ctx {
    void (*fn)(const char *path, const char *type, const char *def, void *arg);
    void *arg;
};

static void cfg_keys_type(const struct cfg_opt *o, char *out, size_t outlen)
{
    static const char *const base[] = {
        [CFG_BOOL] = "bool", [CFG_UINT] = "uint", [CFG_INT] = "int",
        [CFG_MS] = "ms", [CFG_DUR] = "duration", [CFG_STR] = "string",
        [CFG_TEXT] = "text", [CFG_ENUM] = "enum", [CFG_MODE] = "mode",
        [CFG_LIST] = "string list", [CFG_TIME] = "time", [CFG_NUM] = "number",
        [CFG_SEP] = "bool or separator",
    };
    size_t n = (size_t)snprintf(out, outlen, "%s", base[o->type]);
    char a[32], b[32];

    if (o->type == CFG_UINT || o->type == CFG_INT || o->type == CFG_MS) {
        n += (size_t)snprintf(out + n, outlen - n, " %lld..%lld",
                              (long long)o->min, (long long)o->max);
    } else if (o->type == CFG_DUR) {
        config_format_duration(o->min, a, sizeof a);
        config_format_duration(o->max, b, sizeof b);
        n += (size_t)snprintf(out + n, outlen - n, " %s..%s", a, b);
    } else if (o->type == CFG_NUM) {
        n += (size_t)snprintf(out + n, outlen - n, " >0..%lld", (long long)o->max);
    } else if (o->type == CFG_ENUM) {
        for (const struct cfg_name *nm = o->names; nm->name != NULL && n < outlen; nm++)
            n += (size_t)snprintf(out + n, outlen - n, "%s%s",
                                  nm == o->names ? " " : "|", nm->name);
    }
    if ((o->flags & CFG_F_REQUIRED) && n < outlen)
        n += (size_t)snprintf(out + n, outlen - n, ", required");
    if ((o->flags & CFG_F_RESTART) && n < outlen)
        n += (size_t)snprintf(out + n, outlen - n, ", restart");
    if ((o->flags & CFG_F_LATE) && n < outlen)
        snprintf(out + n, outlen - n, ", overrides texts.failure");
}

static void cfg_keys_walk(const struct cfg_keys_ctx *k, const char *prefix,
                          const struct cfg_opt *tab)
{
    for (const struct cfg_opt *o = tab; o->key != NULL; o++) {
        char path[256], type[256];

        switch (o->type) {
        case CFG_OBJ:
            snprintf(path, sizeof path, "%s%s.", prefix, o->key);
            cfg_keys_walk(k, path, o->sub);
            break;
        case CFG_CLASSES:
            snprintf(path, sizeof path, "%s%s.*.", prefix, o->key);
            cfg_keys_walk(k, path, o->sub);
            break;
        case CFG_LIMITS:
            snprintf(path, sizeof path, "%s%s[].", prefix, o->key);
            cfg_keys_walk(k, path, o->sub);
            break;
        default:
            snprintf(path, sizeof path, "%s%s", prefix, o->key);
            cfg_keys_type(o, type, sizeof type);
            k->fn(path, type, o->def != NULL ? o->def : "", k->arg);
            break;
        }
    }
}

void config_keys(void (*fn)(const char *path, const char *type,
                            const char *def, void *arg), void *arg)
{
    struct cfg_keys_ctx k = { fn, arg };
    cfg_keys_walk(&k, "", cfg_top_opts);
}

int config_read_password(const struct config *cfg, char *out, size_t cap,
                         char *err, size_t errlen)
{
    out[0] = '\0';
    if (cfg->redis.password_file == NULL)
        return 0;
    int fd = open(cfg->redis.password_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "redis.password_file: %s: %s",
                 cfg->redis.password_file, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, out, cap);
    int e = errno;
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "redis.password_file: %s: %s",
                 cfg->redis.password_file, strerror(e));
        return -1;
    }
    size_t len = (size_t)n;
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        len--;
    if ((size_t)n == cap || len == 0 || memchr(out, '\0', len) != NULL
        || memchr(out, '\n', len) != NULL) {
        snprintf(err, errlen, "redis.password_file: %s: %s",
                 cfg->redis.password_file,
                 (size_t)n == cap ? "longer than the limit"
                 : len == 0 ? "is empty" : "is not one line of text");
        memset(out, 0, cap);
        return -1;
    }
    out[len] = '\0';
    return 0;
}

int config_split_hostport(const char *hp, char *host, size_t cap, const char **port)
{
    const char *end, *colon;
    size_t n;

    if (hp[0] == '[') {
        end = strchr(hp, ']');
        if (end == NULL || end[1] != ':')
            return -1;
        n = (size_t)(end - hp - 1);
        hp++;
        colon = end + 1;
    } else {
        colon = strrchr(hp, ':');
        if (colon == NULL)
            return -1;
        n = (size_t)(colon - hp);
    }
    if (n >= cap || colon[1] == '\0')
        return -1;
    memcpy(host, hp, n);
    host[n] = '\0';
    *port = colon + 1;
    return 0;
}
