/* config.h - the configuration: one JSON file, one option table.
 *
 * config_load() reads a file into a fresh, immutable struct config: every key
 * of SPEC §8 is parsed, defaulted and validated from one table in config.c,
 * errors name file:line:column.  The daemon holds the current config by
 * reference; a reload builds a new one apart and swaps it, and requests keep
 * a reference to the config they started with (config_ref/config_unref).
 * Nobody modifies a struct config after config_load() returned it. */
#ifndef OUTPOST_CONFIG_H
#define OUTPOST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

struct list;                    /* list.h: compiled allow/deny entries */

#ifndef OUTPOST_SYSCONFDIR
#define OUTPOST_SYSCONFDIR "/etc"
#endif
#define CONFIG_DEFAULT_PATH OUTPOST_SYSCONFDIR "/outpost/outpost.json"

/* Defaults of the input bounds (SPEC §8 protocol.*). */
#define PROTO_LINE_MAX        8192
#define PROTO_REQUEST_MAX     65536
#define PROTO_ATTRS_MAX       256
#define PROTO_OUTPUT_MAX      65536
#define CONFIG_MAX_CONNECTIONS 4096
#define CONFIG_FILE_MAX       (4 * 1024 * 1024)   /* bytes of config file */
#define CONFIG_TEXT_MAX       200  /* a reply text is shorter (SPEC §3) */

enum action { ACTION_DUNNO, ACTION_DEFER, ACTION_REJECT, ACTION_HOLD };
enum limit_count { LIMIT_MESSAGES, LIMIT_RECIPIENTS, LIMIT_BYTES };
enum limit_key { LIMIT_KEY_ACCOUNT, LIMIT_KEY_CLIENT_ADDRESS,
                 LIMIT_KEY_SENDER_DOMAIN };
enum identity_mode { IDENTITY_OFF, IDENTITY_MONITOR, IDENTITY_ENFORCE };
enum identity_stage { IDENTITY_STAGE_RCPT, IDENTITY_STAGE_MAIL };

struct strlist {
    char  **v;                  /* owned, each owned */
    size_t  n;
};

struct config_limit {
    char            *name;      /* owned; unique within its class */
    enum limit_count count;     /* default LIMIT_MESSAGES */
    enum limit_key   key;       /* default LIMIT_KEY_ACCOUNT */
    uint64_t         max;       /* >= 1 */
    int64_t          per_ms;    /* period, >= 1000 */
    enum action      action;    /* DEFER (default), REJECT or HOLD */
    char            *text;      /* owned; NULL = texts.limit */
    bool             shadow;
};

struct config_auto_suspend {
    bool     enabled;           /* the key was present */
    double   verdicts;          /* K > 0 */
    int64_t  within_ms;         /* default 24h */
    int64_t  for_ms;            /* 0 = until reinstated */
    double   recipients_per_weight; /* 0 = weight is always 1 */
};

struct config_class {
    char                *name;  /* owned */
    struct config_limit *limits;/* owned array */
    size_t               nlimits;
    uint64_t             max_recipients_per_message; /* 0 = no cap */
    enum action          suspended_action;           /* REJECT or HOLD */
    struct config_auto_suspend auto_suspend;
};

struct config_listsrc {         /* the strings as written, for display */
    struct strlist accounts, clients, senders, sender_domains;
};

struct config {
    int      refs;              /* config_ref/config_unref */
    char    *path;              /* owned; the file it came from */
    char     hash[17];          /* FNV-1a 64 of the file bytes, hex */

    struct strlist listen;      /* "unix:PATH" | "inet:HOST:PORT" */
    struct {
        unsigned mode;          /* default 0660 */
        char    *owner;         /* owned; NULL = the daemon's user */
        char    *group;         /* owned; default "postfix" */
    } socket;
    char    *user;              /* owned; default "outpost" */
    char    *group;             /* owned; NULL = the user's primary group */
    uint64_t max_connections;   /* default 4096, 1..1000000 */
    int64_t  idle_timeout_ms;   /* default 600s; >= 1s */

    struct {
        uint64_t max_line;      /* 8192; 64..1 MiB */
        uint64_t max_request;   /* 65536; >= max_line, <= 16 MiB */
        uint64_t max_attributes;/* 256; 1..100000 */
        uint64_t max_output;    /* 65536; 256..16 MiB */
    } protocol;

    struct {
        enum log_target target; /* default syslog */
        enum log_level  level;  /* default info */
        enum log_format format; /* default text */
        int             facility; /* syslog LOG_MAIL by default */
    } log;

    struct {
        char   *address;        /* owned; default "127.0.0.1:6379" */
        char   *username;       /* owned or NULL */
        char   *password_file;  /* owned or NULL */
        int64_t db;             /* 0..15 (a larger Redis may have more: 0..1023) */
        char   *prefix;         /* owned; default "outpost:" */
        int64_t timeout_ms;     /* 250; 10..30000 */
        int64_t connect_timeout_ms; /* 1000; 10..60000 */
        int64_t max_in_flight;  /* 10000; 1..1000000: calls sent, unanswered */
        int64_t batch_max;      /* 32; 1..1000: requests per FCALL */
    } redis;

    enum action failure_action; /* DUNNO (default) or DEFER */

    struct {
        uint64_t size;          /* 10000 */
        int64_t  ttl_ms;        /* 5m */
    } suspension_cache;

    bool account_lowercase;     /* account.lowercase, default true */

    char *default_class;        /* owned; required; names a class */
    char *unauthenticated_class;/* owned or NULL; names a class */
    struct config_class *classes;  /* owned array, file order */
    size_t nclasses;

    struct {
        struct config_listsrc src;
        struct list *compiled;  /* owned; list.h */
    } allow, deny;

    struct {
        enum identity_mode mode;      /* off */
        int64_t  enforce_from_ms;     /* Unix ms; 0 = not set */
        bool     null_sender_allow;   /* null_sender: allow (true) | deny */
        bool     domain_grants;       /* true */
        bool     local_part_sensitive;/* local_part_case: sensitive */
        char     plus_separator;      /* strip_plus_tag: 0 = off, else the separator */
        char    *prepend_header;      /* owned or NULL */
        int64_t  event_window_ms;     /* 1h */
        enum identity_stage stage;    /* rcpt: at the first RCPT of a message;
                                         mail: at MAIL (smtpd_delay_reject=no) */
        uint64_t observed_max;        /* 100 observed addresses per account */
        int64_t  observed_ttl_ms;     /* 30d after the last one */
    } identities;

    struct {
        char   *group;          /* owned; "outpost" */
        int64_t claim_idle_ms;  /* 60s */
    } verdicts;

    struct {
        uint64_t max_length;    /* 100000 */
        int64_t  limit_window_ms; /* 1h: one limit_reached event per counter */
    } events;

    struct {                    /* all owned; defaults from SPEC §5;
                                   placeholders: %a address, %n number,
                                   %l limit, %u unit, %p period,
                                   %r retry-after, %% '%' (config.c) */
        char *deny;             /* "550 5.7.1 Sending refused by policy" */
        char *suspended;        /* "550 5.7.1 Account suspended; contact support" */
        char *identity;         /* "553 5.7.1 Not authorized to send as <%a>" */
        char *recipients;       /* "452 4.5.3 Too many recipients (at most %n per message)" */
        char *limit;            /* "450 4.7.1 Limit %l reached (%n %u per %p); try again in %r" */
        char *recipients_final; /* "550 5.5.3 Too many recipients ..." at END-OF-MESSAGE */
        char *exceeds;          /* "550 5.7.1 Message exceeds limit %l (%n %u per %p)" */
        char *failure;          /* "451 4.3.0 Policy service unavailable; try again later";
                                   top-level failure_text overrides it */
    } texts;

    char *metrics_listen;       /* owned or NULL (off) */

    struct {
        char   *support_address;/* owned or NULL */
        char   *from;           /* owned or NULL */
        int64_t window_ms;      /* 1h */
        char   *sendmail;       /* owned; "/usr/sbin/sendmail" */
        char   *group;          /* owned; "outpost-notify": its consumer group */
        char   *template_dir;   /* owned or NULL: built-in templates */
    } notifier;

    char *policy_dir;           /* owned; where decide.lua and outpost.lua
                                   are; default $(pkgdatadir) */
};

#ifndef OUTPOST_POLICYDIR
#define OUTPOST_POLICYDIR "/usr/local/share/outpost"
#endif
#define CONFIG_PASSWORD_MAX 512         /* bytes of redis.password_file */

/* Load and validate path.  On success *out is a new config with refs == 1
 * and 0 is returned.  On failure -1 is returned and err holds one line
 * "FILE:LINE:COL: KEY: what is wrong" (line/col of the offending value, or
 * of the syntax error; 0:0 when the file cannot be read). */
int config_load(const char *path, struct config **out, char *err, size_t errlen);

/* Reads redis.password_file (one line; a final newline is dropped) into
 * out[cap] (cap <= CONFIG_PASSWORD_MAX + 1).  No file configured: out = ""
 * and 0.  -1 with a reason in err otherwise.  Read at every connect, so a
 * changed password applies without a reload. */
int config_read_password(const struct config *cfg, char *out, size_t cap,
                         char *err, size_t errlen);

struct config *config_ref(struct config *cfg);
void config_unref(struct config *cfg);      /* NULL is fine */

const struct config_class *config_class_find(const struct config *cfg,
                                             const char *name);

/* "250ms" "30s" "10m" "1h" "7d": digits and exactly one unit; no sign,
 * no bare number, no combination ("1h30m").  Returns 0 and *ms, or -1. */
int config_parse_duration(const char *s, int64_t *ms);
/* Formats ms as the shortest exact duration string ("90s", "1h"). */
void config_format_duration(int64_t ms, char *out, size_t outlen);

const char *config_action_name(enum action a);

/* Splits "HOST:PORT" or "[V6]:PORT" into host (at most cap - 1 bytes) and
 * a pointer to the port text.  0, or -1 when it is not of that form. */
int config_split_hostport(const char *hp, char *host, size_t cap, const char **port);

/* The option table, flattened, for documentation and tests: calls fn for
 * every key path ("redis.timeout_ms", "classes.*.limits[].max", ...).
 * type reads "uint 10..30000", "duration 1s..1d", "enum DUNNO|DEFER",
 * "string", ... plus ", required" / ", restart" (a reload keeps the old
 * value); def is the default as written in the file, "" if none. */
void config_keys(void (*fn)(const char *path, const char *type,
                            const char *def, void *arg), void *arg);

#endif
