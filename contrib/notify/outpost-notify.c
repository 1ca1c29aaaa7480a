/* outpost-notify.c - the contrib notifier: entries of the events stream
 * P{events} (doc/keys.md "Events") become mail to the account concerned
 * and to support, through the local sendmail (SPEC §7).
 *
 *   outpost-notify [-c FILE] [-n CONSUMER] [--once]
 *
 * Data flow.  main() loads the daemon's own configuration file
 * (config_load: redis.*, notifier.*, log.*, user/group) and, started as
 * root, drops to `user`.  notify_run() keeps one blocking hiredis
 * connection (AUTH, SELECT, a timeout on every command) and joins the
 * consumer group notifier.group on P{events}, creating it at "$" (so a
 * first start mails nothing about history).  Every round reads
 *   1. after each (re)connect: its own pending entries (XREADGROUP ... 0),
 *   2. its own failed entries whose retry delay is over (XPENDING IDLE +
 *      XCLAIM; the delay doubles with the delivery count, up to 60 s),
 *   3. entries of other consumers idle past NOTIFY_CLAIM_IDLE_MS
 *      (XAUTOCLAIM: a notifier that died mid-way),
 *   4. new entries (XREADGROUP ... >, BLOCK NOTIFY_BLOCK_MS),
 * and passes each to notify_entry():
 *
 *   fields v/type/account/json (untrusted: bounded, checked)
 *     -> notify_kinds[]: who gets mail (the account, support, nobody)
 *     -> per mail: BEGIN script: the last mail time of (account, kind,
 *        audience) in the HASH P{a:ACCOUNT}:notified, and a lock
 *        P{a:ACCOUNT}:notifying:KIND:AUDIENCE while sendmail runs
 *     -> template (built-in, or notifier.template_dir) filled with
 *        cleaned, bounded event values; headers checked
 *     -> sendmail -t -i -f FROM (fork/execv, message on a pipe, deadline)
 *     -> END script: record the mail's time (PEXPIRE window), unlock
 *   -> XACK.  A failed mail leaves the entry pending (retried later);
 *      after NOTIFY_ATTEMPTS_MAX deliveries it is acknowledged with an
 *      error line, so one bad entry cannot hold the stream.
 *
 * A crash between END and XACK is harmless: the time is recorded right
 * after sendmail succeeded, and checked before every mail.  (A crash while
 * sendmail runs, or a lost connection between sendmail and END, can repeat
 * that one mail: sendmail and Redis cannot be one transaction.)
 *
 * Signals: SIGTERM/SIGINT finish the entry in hand and exit 0 (a blocking
 * read is cut short); SIGHUP loads the configuration again before the next
 * round (kept if invalid) and reconnects.
 *
 * Ownership: struct notify owns its config reference and redisContext;
 * every redisReply is freed by the function that received it; an entry's
 * json_t lives for one notify_entry() call; a message buffer for one mail.
 * contrib/README and outpost-notify(8) describe the behaviour for
 * operators. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "admin.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "utf8.h"
#include "xalloc.h"

/* Exit codes. */
#define NOTIFY_EXIT_OK          0   /* stopped by a signal; --once: all handled */
#define NOTIFY_EXIT_PENDING     1   /* --once: entries left pending (mail failed) */
#define NOTIFY_EXIT_USAGE       2   /* usage or configuration error */
#define NOTIFY_EXIT_UNREACHABLE 3   /* --once: Redis unreachable or failing */

/* Stream reading. */
#define NOTIFY_BATCH            100     /* entries per read, claim, XPENDING */
#define NOTIFY_BLOCK_MS         5000    /* XREADGROUP BLOCK */
#define NOTIFY_CLAIM_IDLE_MS    60000   /* others' entries idle this long are claimed */
#define NOTIFY_RETRY_MIN_MS     5000    /* first retry of a failed mail ... */
#define NOTIFY_RETRY_MAX_MS     60000   /* ... doubling up to this */
#define NOTIFY_ATTEMPTS_MAX     5       /* deliveries before a failing entry is dropped */
#define NOTIFY_RETRY_PAGES      10      /* XPENDING pages looked at per round */
#define NOTIFY_ONCE_PAGES       1000    /* --once: bound on reads of new entries */

/* Redis connection. */
#define NOTIFY_TIMEOUT_MIN_MS   2000    /* per command, at least (redis.timeout_ms) */
#define NOTIFY_BACKOFF_MIN_MS   250     /* reconnect delay after a failure ... */
#define NOTIFY_BACKOFF_MAX_MS   10000   /* ... doubling up to this */
#define NOTIFY_ARGS_MAX         (NOTIFY_BATCH + 8)

/* Untrusted input and output bounds. */
#define NOTIFY_V_MAX            8       /* bytes of the v field */
#define NOTIFY_TYPE_MAX         64      /* bytes of the type field */
#define NOTIFY_ACCOUNT_MAX      256     /* bytes of an account (REQUEST_ACCOUNT_MAX) */
#define NOTIFY_JSON_MAX         (64 * 1024) /* bytes of the json field */
#define NOTIFY_ID_MAX           41      /* bytes of a stream entry id */
#define NOTIFY_VALUE_MAX        512     /* bytes of one value put into a mail */
#define NOTIFY_NAME_MAX         32      /* bytes of a placeholder name */
#define NOTIFY_SUBJECT_MAX      512     /* bytes of a subject, filled */
#define NOTIFY_MESSAGE_MAX      (64 * 1024) /* bytes of a whole message */
#define NOTIFY_LINE_MAX         998     /* bytes of a body line (RFC 5322) */
#define NOTIFY_TEMPLATE_MAX     (16 * 1024) /* bytes of a template file */
#define NOTIFY_ADDRESS_MAX      254     /* bytes of a mail address */
#define NOTIFY_LOCAL_MAX        64      /* bytes of its local part */
#define NOTIFY_CONSUMER_MAX     64      /* bytes of a consumer name */
#define NOTIFY_HOST_MAX         245     /* bytes of the host name: "outpost@" + it
                                           is an address */

/* sendmail. */
#define NOTIFY_SENDMAIL_MS      30000   /* deadline of one sendmail run */
#define NOTIFY_LOCK_MS          (NOTIFY_SENDMAIL_MS + 30000) /* lock lifetime */
#define NOTIFY_FD_CLOSE_MAX     65536   /* the child closes fds 3..this */

/* Per-account keys of the notifier (doc/keys.md "Notifier"); built with
 * keys_account() like every other key. */
#define KEYS_NOTIFIED  "notified"   /* HASH KIND:AUDIENCE -> ms of the last mail */
#define KEYS_NOTIFYING "notifying"  /* STRING lock "notifying:KIND:AUDIENCE" */

enum notify_aud { NOTIFY_AUD_ACCOUNT, NOTIFY_AUD_SUPPORT };
static const char *const notify_aud_names[] = { "account", "support" };

/* What one entry came to; larger is worse (notify_entry() keeps the worst
 * of its mails). */
enum notify_outcome {
    NOTIFY_ACK,                 /* done (mailed, skipped, nothing to do): XACK */
    NOTIFY_BUSY,                /* another notifier mails the same now: retry */
    NOTIFY_FAILED,              /* sendmail or a Redis error reply: retry */
    NOTIFY_LOST                 /* the connection is gone: end the round */
};

/* Event types that mail someone.  Every other type is acknowledged
 * without mail. */
struct notify_kind {
    const char *type;           /* the event type, also the window's KIND */
    bool        account;        /* mail the account (support if it is no address) */
    bool        support;        /* mail notifier.support_address */
};
static const struct notify_kind notify_kinds[] = {
    { "suspended",          true,  true  },
    { "reinstated",         true,  true  },
    { "verdict",            false, true  },
    { "identity_violation", true,  false },
    { "limit_reached",      true,  false },
};

/* The built-in templates: NAME-AUDIENCE, as the files of template_dir.
 * NAME is the event type, except identity_violation: identity_enforce or
 * identity_monitor after the event's mode. */
struct notify_builtin {
    const char *name;
    enum notify_aud aud;
    const char *subject;
    const char *body;
};

#define NOTIFY_SIGNATURE "\n-- \nThis message was sent automatically by outpost, the mail\n" \
    "submission policy service of %{hostname}.\n"

static const struct notify_builtin notify_builtins[] = {
  { "suspended", NOTIFY_AUD_ACCOUNT,
    "Your mail account %{account} has been suspended",
    "Hello,\n\n"
    "sending mail from your account %{account} has been suspended.\n\n"
    "Reason:          %{reason}\n"
    "Suspended at:    %{at}\n"
    "The suspension ends: %{until}\n\n"
    "Until then, mail you submit is refused.  If you think this is a\n"
    "mistake, please contact support.\n" NOTIFY_SIGNATURE },
  { "suspended", NOTIFY_AUD_SUPPORT,
    "outpost: %{account} suspended by %{by}",
    "The account %{account} has been suspended.\n\n"
    "Reason:   %{reason}\n"
    "By:       %{by}\n"
    "At:       %{at}\n"
    "Ends:     %{until}\n"
    "Note:     %{note}\n"
    "Event:    %{event_id}\n\n"
    "outpostctl show and outpostctl reinstate act on it.  At most one such\n"
    "mail per account is sent per %{window}.\n" NOTIFY_SIGNATURE },
  { "reinstated", NOTIFY_AUD_ACCOUNT,
    "Your mail account %{account} has been reinstated",
    "Hello,\n\n"
    "your account %{account} may send mail again: its suspension was\n"
    "lifted at %{at}.\n" NOTIFY_SIGNATURE },
  { "reinstated", NOTIFY_AUD_SUPPORT,
    "outpost: %{account} reinstated by %{by}",
    "The account %{account} has been reinstated.\n\n"
    "By:     %{by}\n"
    "At:     %{at}\n"
    "Note:   %{note}\n"
    "The suspension was for: %{reason}\n"
    "Event:  %{event_id}\n" NOTIFY_SIGNATURE },
  { "verdict", NOTIFY_AUD_SUPPORT,
    "outpost: spam verdict for %{account}",
    "A spam verdict was reported for the account %{account}.\n\n"
    "Weight:     %{weight}\n"
    "Recipients: %{recipients}\n"
    "Queue id:   %{queue_id}\n"
    "Reference:  %{ref}\n"
    "Source:     %{source}\n"
    "Strikes in the window, this one included: %{strikes}\n"
    "Suspended by this verdict: %{suspended}\n"
    "At:         %{at}\n"
    "Verdict:    %{id}\n"
    "Event:      %{event_id}\n\n"
    "Later verdicts for this account are not mailed for %{window}.\n"
    NOTIFY_SIGNATURE },
  { "identity_enforce", NOTIFY_AUD_ACCOUNT,
    "Mail from %{account} refused: sender %{address} is not registered",
    "Hello,\n\n"
    "a message submitted from your account %{account} used the sender\n"
    "address %{address}, which is not registered for your account.  It\n"
    "was refused, as is all mail with a sender address not registered for\n"
    "the account.\n\n"
    "If you need to send as %{address}, please ask support to register\n"
    "it for your account.\n" NOTIFY_SIGNATURE },
  { "identity_monitor", NOTIFY_AUD_ACCOUNT,
    "Sender %{address} is not registered for %{account}",
    "Hello,\n\n"
    "a message submitted from your account %{account} used the sender\n"
    "address %{address}, which is not registered for your account.  It\n"
    "was delivered.\n\n"
    "Registered sender addresses will be enforced from %{enforce_from}:\n"
    "from then on, mail with a sender address not registered for the\n"
    "account is refused.  If you need to send as %{address}, please ask\n"
    "support to register it for your account.\n" NOTIFY_SIGNATURE },
  { "identity_enforce", NOTIFY_AUD_SUPPORT,
    "outpost: %{account} refused as %{address}",
    "The account %{account} tried to send as %{address}, which is not\n"
    "registered for it; the message was refused (identities.mode enforce).\n"
    "The account is not a mail address, so it was not told.\n\n"
    "Uses so far: %{count}\n"
    "At:          %{at}\n"
    "Event:       %{event_id}\n" NOTIFY_SIGNATURE },
  { "identity_monitor", NOTIFY_AUD_SUPPORT,
    "outpost: %{account} sent as unregistered %{address}",
    "The account %{account} sent as %{address}, which is not registered\n"
    "for it; the message was delivered (monitor mode; enforcement from\n"
    "%{enforce_from}).  The account is not a mail address, so it was not\n"
    "told.\n\n"
    "Uses so far: %{count}\n"
    "At:          %{at}\n"
    "Event:       %{event_id}\n" NOTIFY_SIGNATURE },
  { "limit_reached", NOTIFY_AUD_ACCOUNT,
    "Sending limit reached for %{account}",
    "Hello,\n\n"
    "your account %{account} reached its sending limit \"%{limit}\": at\n"
    "most %{max} per %{per}.  Further mail is deferred until your recent\n"
    "use falls below the limit; mail servers retry deferred mail by\n"
    "themselves.\n\n"
    "At: %{at}\n" NOTIFY_SIGNATURE },
  { "limit_reached", NOTIFY_AUD_SUPPORT,
    "outpost: %{account} reached limit %{limit}",
    "The account %{account} reached the limit %{limit} of class %{class}\n"
    "(at most %{max} per %{per}, counted by %{key}).  The account is not a\n"
    "mail address, so it was not told.\n\n"
    "At:    %{at}\n"
    "Event: %{event_id}\n" NOTIFY_SIGNATURE },
};

/* BEGIN: KEYS notified lock; ARGV field window_ms owner lock_ms.
 * {0, last}: mailed within the window; {2, 0}: another owner holds the
 * lock; {1, 0}: go (the lock is ours until END or lock_ms). */
static const char notify_lua_begin[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '')\n"
    "if last and now - last < tonumber(ARGV[2]) then return {0, last} end\n"
    "if not redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then\n"
    "  if redis.call('GET', KEYS[2]) ~= ARGV[3] then return {2, 0} end\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[4])\n"
    "end\n"
    "return {1, 0}\n";

/* END: KEYS notified lock; ARGV field window_ms owner sent.  sent "1":
 * records Redis' time now; the lock is released if it is still ours. */
static const char notify_lua_end[] =
    "if ARGV[4] == '1' then\n"
    "  local t = redis.call('TIME')\n"
    "  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "  redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', now))\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "end\n"
    "if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end\n"
    "return 1\n";

/* Set by the signal handlers, read by the loop. */
static volatile sig_atomic_t notify_stop;
static volatile sig_atomic_t notify_reload;
static volatile sig_atomic_t notify_block_fd = -1;  /* the socket while blocked */

struct notify {
    struct config *cfg;             /* owned reference */
    const char    *cfg_path;        /* borrowed: argv */
    redisContext  *c;               /* owned; NULL while disconnected */
    int64_t        timeout_ms;      /* the socket timeout set on c */
    char           key[KEYS_MAX];   /* P{events} */
    char           consumer[NOTIFY_CONSUMER_MAX + 1];
    char           hostname[NOTIFY_HOST_MAX + 1]; /* sanitised */
    char           from[NOTIFY_ADDRESS_MAX + 1];
    char           claim_cursor[NOTIFY_ID_MAX + 2]; /* XAUTOCLAIM start */
    bool           once;            /* --once */
    unsigned long  left_pending;    /* entries this run left pending */
};

/* One entry, while notify_entry() works on it.  Pointers into the reply. */
struct notify_ev {
    const char *id;                 /* checked stream id */
    const char *type;               /* NUL-terminated copy in type_buf */
    char        type_buf[NOTIFY_TYPE_MAX + 1];
    char        account[NOTIFY_ACCOUNT_MAX + 1]; /* no NUL inside */
    json_t     *json;               /* owned; an object */
};

/* A bounded output buffer: what does not fit is dropped, `full` says so. */
struct notify_buf {
    char  *p;                       /* owned; cap + 1 bytes */
    size_t len, cap;
    size_t col;                     /* bytes since the last '\n' (wrap) */
    bool   wrap;                    /* break lines at NOTIFY_LINE_MAX */
    bool   full;
};

/* ---- small helpers ---------------------------------------------------- */

static int64_t notify_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms, cut short by SIGTERM/SIGINT. */
static void notify_sleep(int64_t ms)
{
    int64_t until = notify_now_ms() + ms;
    while (!notify_stop) {
        int64_t left = until - notify_now_ms();
        if (left <= 0)
            return;
        struct timespec ts = { (time_t)(left / 1000), (long)(left % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
}

static void notify_buf_init(struct notify_buf *b, size_t cap, bool wrap)
{
    b->p = xmalloc(cap + 1);
    b->len = 0;
    b->cap = cap;
    b->col = 0;
    b->wrap = wrap;
    b->full = false;
    b->p[0] = '\0';
}

static void notify_buf_free(struct notify_buf *b)
{
    free(b->p);
    b->p = NULL;
}

static void notify_buf_add(struct notify_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool brk = b->wrap && s[i] != '\n' && b->col >= NOTIFY_LINE_MAX;
        if (b->len + (brk ? 2 : 1) > b->cap) {
            b->full = true;
            break;
        }
        if (brk) {
            b->p[b->len++] = '\n';
            b->col = 0;
        }
        b->p[b->len++] = s[i];
        b->col = s[i] == '\n' ? 0 : b->col + 1;
    }
    b->p[b->len] = '\0';
}

static void notify_buf_str(struct notify_buf *b, const char *s)
{
    notify_buf_add(b, s, strlen(s));
}

/* Copies untrusted text s[0..n) into out[cap]: control bytes (CR and LF
 * included) and DEL become ' ', invalid UTF-8 '?'; cut at cap - 1 bytes on
 * a character boundary.  Returns the length. */
static size_t notify_clean(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = utf8_len((const unsigned char *)s + i, n - i);
        if (k == 0) {
            out[o++] = '?';
            i++;
        } else if (k == 1) {
            out[o++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
            i++;
        } else {
            if (o + k + 1 > cap)
                break;
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        }
    }
    out[o] = '\0';
    return o;
}

/* "2026-01-02T03:04:05Z" for Unix ms. */
static void notify_rfc3339(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "%lld", (long long)ms);
}

/* A plausible mail address: RFC 5322 dot-atom "local@domain" in ASCII,
 * at most 254 bytes, exactly one '@'.  This is what goes into To: and to
 * sendmail -t, so no space, control byte, ',', ';', '<', '>', '"', '(',
 * ')', ':', '\\', '[' or ']': the header cannot name a second recipient. */
static bool notify_is_address(const char *s)
{
    static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
    size_t n = strlen(s);
    const char *at = strchr(s, '@');

    if (n < 3 || n > NOTIFY_ADDRESS_MAX || at == NULL || strchr(at + 1, '@') != NULL)
        return false;
    size_t local = (size_t)(at - s);
    if (local == 0 || local > NOTIFY_LOCAL_MAX || s[0] == '.' || at[-1] == '.')
        return false;
    for (size_t i = 0; i < local; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                  || (c != '\0' && strchr(atext, c) != NULL) || c == '.';
        if (!ok || (c == '.' && s[i + 1] == '.'))
            return false;
    }
    const char *d = at + 1;
    size_t label = 0;
    if (*d == '\0' || *d == '.')
        return false;
    for (; *d != '\0'; d++) {
        unsigned char c = (unsigned char)*d;
        if (c == '.') {
            if (label == 0 || d[1] == '\0')
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                   || c == '-') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return true;
}

/* A stream entry id "MS-SEQ" (digits), bounded. */
static bool notify_is_id(const redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING || r->len < 3 || r->len > NOTIFY_ID_MAX)
        return false;
    size_t dash = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->str[i] == '-' && dash == 0 && i > 0 && i + 1 < r->len)
            dash = i;
        else if (r->str[i] < '0' || r->str[i] > '9')
            return false;
    }
    return dash != 0;
}

/* Copies a checked id (notify_is_id) after prefix ("" or "("). */
static void notify_idcpy(char out[NOTIFY_ID_MAX + 2], const char *prefix, const redisReply *r)
{
    size_t p = strlen(prefix);
    memcpy(out, prefix, p);
    memcpy(out + p, r->str, r->len);
    out[p + r->len] = '\0';
}

/* ---- Redis ------------------------------------------------------------ */

static void notify_drop(struct notify *n)
{
    if (n->c != NULL)
        redisFree(n->c);
    n->c = NULL;
}

static struct timeval notify_tv(int64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    return tv;
}

static int64_t notify_cmd_timeout(const struct notify *n)
{
    return n->cfg->redis.timeout_ms > NOTIFY_TIMEOUT_MIN_MS ? n->cfg->redis.timeout_ms
                                                            : NOTIFY_TIMEOUT_MIN_MS;
}

/* Sends one command with a deadline of the command timeout + extra_ms.
 * Returns the reply (error replies included), or NULL after an I/O error
 * or a timeout: logged, and the connection is dropped. */
static redisReply *notify_raw(struct notify *n, int64_t extra_ms, int argc, const char **argv)
{
    size_t lens[NOTIFY_ARGS_MAX];
    if (n->c == NULL)
        return NULL;
    if (argc > NOTIFY_ARGS_MAX)
        log_panic("notify: %d arguments", argc);
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    int64_t t = notify_cmd_timeout(n) + extra_ms;
    if (t != n->timeout_ms) {
        if (redisSetTimeout(n->c, notify_tv(t)) != REDIS_OK) {
            log_err("redis %s: cannot set a timeout", n->cfg->redis.address);
            notify_drop(n);
            return NULL;
        }
        n->timeout_ms = t;
    }
    redisReply *r = redisCommandArgv(n->c, argc, argv, lens);
    if (r == NULL) {
        if (notify_stop)                /* our signal handler cut it short */
            log_debug("redis %s: %s: %s", n->cfg->redis.address, argv[0], n->c->errstr);
        else
            log_err("redis %s: %s: %s", n->cfg->redis.address, argv[0],
                    n->c->errstr[0] != '\0' ? n->c->errstr : "no reply");
        notify_drop(n);
    }
    return r;
}

/* As notify_raw(); an error reply is logged and freed, NULL returned and
 * the connection kept (n->c tells the two cases apart). */
static redisReply *notify_cmd(struct notify *n, int64_t extra_ms, int argc, const char **argv)
{
    redisReply *r = notify_raw(n, extra_ms, argc, argv);
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        char esc[LOG_ESC_SIZE];
        log_err("redis %s: %s: %s", n->cfg->redis.address, argv[0],
                log_esc(esc, r->str, r->len));
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Connects, authenticates, selects the database and makes sure the
 * consumer group exists.  0, or -1 (logged; n->c is NULL). */
static int notify_connect(struct notify *n)
{
    const struct config *cfg = n->cfg;
    char pw[CONFIG_PASSWORD_MAX + 1], err[512];

    n->c = admin_connect_addr(cfg->redis.address, notify_tv(cfg->redis.connect_timeout_ms));
    if (n->c == NULL || n->c->err) {
        log_err("redis %s: cannot connect: %s", cfg->redis.address,
                n->c != NULL ? n->c->errstr : "bad address or out of memory");
        notify_drop(n);
        return -1;
    }
    n->timeout_ms = -1;                 /* notify_raw() sets it */

    if (config_read_password(cfg, pw, sizeof pw, err, sizeof err) != 0) {
        log_err("%s", err);
        notify_drop(n);
        return -1;
    }
    if (pw[0] != '\0' || cfg->redis.username != NULL) {
        const char *argv[3] = { "AUTH" };
        int argc = 1;
        if (cfg->redis.username != NULL)
            argv[argc++] = cfg->redis.username;
        argv[argc++] = pw;
        redisReply *r = notify_cmd(n, 0, argc, argv);
        memset(pw, 0, sizeof pw);
        if (r == NULL) {
            notify_drop(n);
            return -1;
        }
        freeReplyObject(r);
    }
    if (cfg->redis.db != 0) {
        char db[24];
        snprintf(db, sizeof db, "%lld", (long long)cfg->redis.db);
        const char *argv[] = { "SELECT", db };
        redisReply *r = notify_cmd(n, 0, 2, argv);
        if (r == NULL) {
            notify_drop(n);
            return -1;
        }
        freeReplyObject(r);
    }

    /* "$": a first start does not mail about history. */
    const char *argv[] = { "XGROUP", "CREATE", n->key, cfg->notifier.group, "$", "MKSTREAM" };
    redisReply *r = notify_raw(n, 0, 6, argv);
    if (r == NULL)
        return -1;
    bool created = r->type != REDIS_REPLY_ERROR;
    if (!created && (r->len < 9 || memcmp(r->str, "BUSYGROUP", 9) != 0)) {
        char esc[LOG_ESC_SIZE];
        log_err("redis %s: XGROUP CREATE: %s", cfg->redis.address, log_esc(esc, r->str, r->len));
        freeReplyObject(r);
        notify_drop(n);
        return -1;
    }
    freeReplyObject(r);
    log_info("connected to redis %s: stream %s, group %s%s, consumer %s", cfg->redis.address,
             n->key, cfg->notifier.group, created ? " (created)" : "", n->consumer);
    return 0;
}

/* ---- templates -------------------------------------------------------- */

struct notify_tpl {
    char       *file;               /* owned: the file's text, or NULL (built-in) */
    const char *subject;            /* into file or a built-in */
    size_t      subject_len;
    const char *body;
    size_t      body_len;
};

static const struct notify_builtin *notify_builtin_find(const char *name, enum notify_aud aud)
{
    for (size_t i = 0; i < sizeof notify_builtins / sizeof notify_builtins[0]; i++)
        if (notify_builtins[i].aud == aud && strcmp(notify_builtins[i].name, name) == 0)
            return &notify_builtins[i];
    return NULL;
}

/* Reads template_dir/NAME-AUDIENCE.txt into t; 0, or -1 when there is no
 * usable file (a problem other than absence is logged). */
static int notify_tpl_file(const struct notify *n, const char *name, enum notify_aud aud,
                           struct notify_tpl *t)
{
    char path[4096 + 64];
    int fd;

    if (n->cfg->notifier.template_dir == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/%s-%s.txt", n->cfg->notifier.template_dir, name,
             notify_aud_names[aud]);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno != ENOENT)
            log_warn("template %s: %s; using the built-in one", path, strerror(errno));
        return -1;
    }
    char *text = xmalloc(NOTIFY_TEMPLATE_MAX + 2);
    size_t len = 0;
    ssize_t k;
    while (len <= NOTIFY_TEMPLATE_MAX
           && (k = read(fd, text + len, NOTIFY_TEMPLATE_MAX + 1 - len)) != 0) {
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            log_warn("template %s: %s; using the built-in one", path, strerror(errno));
            close(fd);
            free(text);
            return -1;
        }
        len += (size_t)k;
    }
    close(fd);
    text[len] = '\0';
    const char *why = NULL;
    if (len > NOTIFY_TEMPLATE_MAX)
        why = "longer than 16 KiB";
    else if (memchr(text, '\0', len) != NULL)
        why = "holds a NUL byte";
    else if (strncasecmp(text, "Subject:", 8) != 0)
        why = "its first line is not \"Subject: ...\"";
    if (why != NULL) {
        log_warn("template %s: %s; using the built-in one", path, why);
        free(text);
        return -1;
    }
    const char *s = text + 8, *eol = strchr(s, '\n');
    while (*s == ' ' || *s == '\t')
        s++;
    t->file = text;
    t->subject = s;
    t->subject_len = eol != NULL ? (size_t)(eol - s) : strlen(s);
    t->body = eol != NULL ? eol + 1 : s + t->subject_len;
    if (t->body[0] == '\n')
        t->body += 1;
    else if (t->body[0] == '\r' && t->body[1] == '\n')
        t->body += 2;
    t->body_len = strlen(t->body);
    return 0;
}

static void notify_tpl_get(const struct notify *n, const char *name, enum notify_aud aud,
                           struct notify_tpl *t)
{
    memset(t, 0, sizeof *t);
    if (notify_tpl_file(n, name, aud, t) == 0)
        return;
    const struct notify_builtin *b = notify_builtin_find(name, aud);
    if (b == NULL)
        log_panic("notify: no built-in template %s-%s", name, notify_aud_names[aud]);
    t->subject = b->subject;
    t->subject_len = strlen(b->subject);
    t->body = b->body;
    t->body_len = strlen(b->body);
}

/* The value of placeholder `name` for ev, cleaned and bounded, into
 * out[NOTIFY_VALUE_MAX + 1].  Unknown or absent: "". */
static void notify_value(const struct notify *n, const struct notify_ev *ev, const char *name,
                         char *out)
{
    char raw[NOTIFY_VALUE_MAX + 64];
    const char *v = raw;

    raw[0] = '\0';
    if (strcmp(name, "account") == 0) {
        v = ev->account;
    } else if (strcmp(name, "event_id") == 0) {
        v = ev->id;
    } else if (strcmp(name, "type") == 0) {
        v = ev->type;
    } else if (strcmp(name, "hostname") == 0) {
        v = n->hostname;
    } else if (strcmp(name, "support") == 0) {
        v = n->cfg->notifier.support_address != NULL ? n->cfg->notifier.support_address : "";
    } else if (strcmp(name, "window") == 0) {
        config_format_duration(n->cfg->notifier.window_ms, raw, sizeof raw);
    } else if (strcmp(name, "enforce_from") == 0) {
        if (n->cfg->identities.enforce_from_ms > 0)
            notify_rfc3339(n->cfg->identities.enforce_from_ms, raw, sizeof raw);
        else
            snprintf(raw, sizeof raw, "a date to be announced");
    } else {
        json_t *j = json_object_get(ev->json, name);
        bool is_time = strcmp(name, "at") == 0 || strcmp(name, "until") == 0;
        if (json_is_string(j)) {
            notify_clean(out, NOTIFY_VALUE_MAX + 1, json_string_value(j), json_string_length(j));
            return;
        } else if (json_is_integer(j)) {
            long long x = (long long)json_integer_value(j);
            if (x == 0 && strcmp(name, "until") == 0)
                snprintf(raw, sizeof raw, "when reinstated by support");
            else if (is_time && x > 0)
                notify_rfc3339(x, raw, sizeof raw);
            else if (strcmp(name, "per") == 0 && x > 0)
                config_format_duration(x, raw, sizeof raw);
            else if ((strcmp(name, "suspended") == 0 || strcmp(name, "replaced") == 0)
                     && (x == 0 || x == 1))
                snprintf(raw, sizeof raw, "%s", x ? "yes" : "no");
            else
                snprintf(raw, sizeof raw, "%lld", x);
        } else if (json_is_real(j)) {
            snprintf(raw, sizeof raw, "%g", json_real_value(j));
        } else if (json_is_boolean(j)) {
            snprintf(raw, sizeof raw, "%s", json_is_true(j) ? "yes" : "no");
        }
    }
    notify_clean(out, NOTIFY_VALUE_MAX + 1, v, strlen(v));
}

/* Appends template text t[0..len) with its placeholders %{name} filled;
 * carriage returns of the template are dropped. */
static void notify_fill(struct notify_buf *b, const struct notify *n, const struct notify_ev *ev,
                        const char *t, size_t len)
{
    char name[NOTIFY_NAME_MAX + 1], val[NOTIFY_VALUE_MAX + 1];
    size_t i = 0;

    while (i < len && !b->full) {
        if (t[i] == '\r') {
            i++;
            continue;
        }
        if (t[i] != '%' || i + 1 >= len || t[i + 1] != '{') {
            size_t j = i;
            while (j < len && t[j] != '%' && t[j] != '\r')
                j++;
            if (j == i)
                j++;
            notify_buf_add(b, t + i, j - i);
            i = j;
            continue;
        }
        size_t k = i + 2, m = 0;
        while (k < len && m < NOTIFY_NAME_MAX
               && ((t[k] >= 'a' && t[k] <= 'z') || (t[k] >= '0' && t[k] <= '9') || t[k] == '_'))
            name[m++] = t[k++];
        if (m == 0 || k >= len || t[k] != '}') {
            notify_buf_add(b, t + i, 1);        /* not a placeholder: literal */
            i++;
            continue;
        }
        name[m] = '\0';
        notify_value(n, ev, name, val);
        notify_buf_str(b, val);
        i = k + 1;
    }
}

/* ---- the message ------------------------------------------------------ */

static void notify_b64(struct notify_buf *b, const unsigned char *s, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        q[0] = tab[(v >> 18) & 63];
        q[1] = tab[(v >> 12) & 63];
        q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? tab[v & 63] : '=';
        notify_buf_add(b, q, 4);
    }
}

/* "Subject: TEXT\n": text is cleaned again (a template file's first line
 * may hold anything); non-ASCII text becomes RFC 2047 encoded words of at
 * most 45 bytes each (75 characters), one per folded line. */
static void notify_subject(struct notify_buf *b, const char *text, size_t len)
{
    char clean[NOTIFY_SUBJECT_MAX + 1];
    size_t n = notify_clean(clean, sizeof clean, text, len);
    bool ascii = true;
    for (size_t i = 0; i < n; i++)
        ascii = ascii && (unsigned char)clean[i] < 0x80;

    notify_buf_str(b, "Subject: ");
    if (ascii) {
        notify_buf_add(b, clean, n);
        notify_buf_str(b, "\n");
        return;
    }
    for (size_t i = 0; i < n;) {
        size_t k = i;
        while (k < n) {
            size_t c = utf8_len((const unsigned char *)clean + k, n - k);
            if (c == 0)
                c = 1;
            if (k + c - i > 45)
                break;
            k += c;
        }
        if (i > 0)
            notify_buf_str(b, "\n ");
        notify_buf_str(b, "=?UTF-8?B?");
        notify_b64(b, (const unsigned char *)clean + i, k - i);
        notify_buf_str(b, "?=");
        i = k;
    }
    notify_buf_str(b, "\n");
}

/* Builds the whole message for one mail into b (NOTIFY_MESSAGE_MAX). */
static void notify_message(const struct notify *n, const struct notify_ev *ev,
                           const char *tpl_name, enum notify_aud aud, const char *to,
                           struct notify_buf *b)
{
    struct notify_tpl t;
    struct notify_buf subj;
    char line[NOTIFY_ADDRESS_MAX + NOTIFY_HOST_MAX + 128];
    char date[64];
    time_t now = time(NULL);
    struct tm tm;

    notify_tpl_get(n, tpl_name, aud, &t);

    /* Header: every value in it is ours or checked (addresses by
     * notify_is_address() or config.c, the id by notify_is_id(), the host
     * name sanitised); the subject is cleaned and encoded. */
    snprintf(line, sizeof line, "From: outpost <%s>\n", n->from);
    notify_buf_str(b, line);
    snprintf(line, sizeof line, "To: <%s>\n", to);
    notify_buf_str(b, line);
    if (aud == NOTIFY_AUD_ACCOUNT && n->cfg->notifier.support_address != NULL) {
        snprintf(line, sizeof line, "Reply-To: <%s>\n", n->cfg->notifier.support_address);
        notify_buf_str(b, line);
    }
    notify_buf_init(&subj, NOTIFY_SUBJECT_MAX, false);
    notify_fill(&subj, n, ev, t.subject, t.subject_len);
    notify_subject(b, subj.p, subj.len);
    notify_buf_free(&subj);
    if (gmtime_r(&now, &tm) != NULL && strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000",
                                                &tm) > 0) {
        snprintf(line, sizeof line, "Date: %s\n", date);
        notify_buf_str(b, line);
    }
    /* The same entry and audience give the same Message-ID: a repeated
     * mail (crash during sendmail) can be recognised. */
    snprintf(line, sizeof line, "Message-ID: <outpost.%s.%s.%s@%s>\n", ev->id,
             notify_aud_names[aud], ev->type, n->hostname);
    notify_buf_str(b, line);
    notify_buf_str(b, "Auto-Submitted: auto-generated\n"
                      "MIME-Version: 1.0\n"
                      "Content-Type: text/plain; charset=utf-8\n"
                      "Content-Transfer-Encoding: 8bit\n");
    snprintf(line, sizeof line, "X-Outpost-Event: %s %s\n\n", ev->type, ev->id);
    notify_buf_str(b, line);

    b->wrap = true;
    b->col = 0;
    notify_fill(b, n, ev, t.body, t.body_len);
    if (b->full) {              /* cut: room for a newline, on a whole character */
        if (b->len > 0)
            b->len--;
        while (b->len > 0 && ((unsigned char)b->p[b->len - 1] & 0xc0) == 0x80)
            b->len--;
        if (b->len > 0 && (unsigned char)b->p[b->len - 1] >= 0xc0)
            b->len--;
        b->full = false;
    }
    if (b->len > 0 && b->p[b->len - 1] != '\n')
        notify_buf_str(b, "\n");
    free(t.file);
}

/* ---- sendmail --------------------------------------------------------- */

/* Runs notifier.sendmail -t -i -f FROM with msg on its stdin: no shell,
 * NOTIFY_SENDMAIL_MS for all of it, then SIGKILL.  0 when it exited 0;
 * -1 otherwise, with the reason in why. */
static int notify_sendmail(const struct notify *n, const char *msg, size_t len,
                           char *why, size_t whylen)
{
    int fds[2];
    char *const argv[] = { n->cfg->notifier.sendmail, "-t", "-i", "-f", (char *)n->from, NULL };

    if (pipe(fds) != 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        return -1;
    }
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        if (dup2(fds[0], 0) < 0)
            _exit(126);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0 && null != 1) {
            dup2(null, 1);
            close(null);
        }
        long max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > NOTIFY_FD_CLOSE_MAX)
            max = NOTIFY_FD_CLOSE_MAX;
        for (int fd = 3; fd < max; fd++)
            close(fd);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[0]);

    int64_t until = notify_now_ms() + NOTIFY_SENDMAIL_MS;
    int wfd = fds[1];
    fcntl(wfd, F_SETFL, fcntl(wfd, F_GETFL) | O_NONBLOCK);
    size_t off = 0;
    bool wrote = true;
    while (off < len) {
        int64_t left = until - notify_now_ms();
        struct pollfd p = { wfd, POLLOUT, 0 };
        if (left <= 0) {
            wrote = false;
            break;
        }
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno != EINTR) {
            wrote = false;
            break;
        }
        if (pr <= 0)
            continue;
        ssize_t k = write(wfd, msg + off, len - off);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k < 0) {                    /* EPIPE: it exited without reading */
            wrote = false;
            break;
        }
        off += (size_t)k;
    }
    close(wfd);

    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && notify_now_ms() < until) {
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        snprintf(why, whylen, "no exit within %d s; killed", NOTIFY_SENDMAIL_MS / 1000);
        return -1;
    }
    if (w < 0) {
        snprintf(why, whylen, "waitpid: %s", strerror(errno));
        return -1;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && wrote)
        return 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        snprintf(why, whylen, "exit 127 (cannot run %s?)", argv[0]);
    else if (WIFEXITED(st))
        snprintf(why, whylen, "exit %d%s", WEXITSTATUS(st),
                 wrote ? "" : " before reading the whole message");
    else if (WIFSIGNALED(st))
        snprintf(why, whylen, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(why, whylen, "wait status 0x%x", (unsigned)st);
    return -1;
}

/* ---- one entry -------------------------------------------------------- */

/* The fields of an entry: each name once; v, type, account, json present
 * and bounded.  Fills ev (not json) and the json text; NULL, or what is
 * wrong (why: for the log). */
static const char *notify_fields(const redisReply *f, struct notify_ev *ev,
                                 const char **json, size_t *json_len, char *why, size_t whylen)
{
    static const char *const names[] = { "v", "type", "account", "json" };
    const redisReply *got[4] = { NULL, NULL, NULL, NULL };
    static const size_t max[4] = { NOTIFY_V_MAX, NOTIFY_TYPE_MAX, NOTIFY_ACCOUNT_MAX,
                                   NOTIFY_JSON_MAX };

    if (f->elements % 2 != 0)
        return "an odd number of field elements";
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            return "a field that is not a string";
        for (size_t j = 0; j < 4; j++) {
            if (k->len == strlen(names[j]) && memcmp(k->str, names[j], k->len) == 0) {
                if (got[j] != NULL) {
                    snprintf(why, whylen, "field %s given twice", names[j]);
                    return why;
                }
                got[j] = v;
            }
        }
    }
    for (size_t j = 0; j < 4; j++) {
        if (got[j] == NULL) {
            snprintf(why, whylen, "no field %s", names[j]);
            return why;
        }
        if (got[j]->len > max[j]) {
            snprintf(why, whylen, "field %s longer than %zu bytes", names[j], max[j]);
            return why;
        }
    }
    if (got[0]->len != 1 || got[0]->str[0] != '1') {
        char esc[LOG_ESC_SIZE];
        snprintf(why, whylen, "unknown schema version v=%s",
                 log_esc(esc, got[0]->str, got[0]->len));
        return why;
    }
    if (got[1]->len == 0 || memchr(got[1]->str, '\0', got[1]->len) != NULL)
        return "an empty type or a NUL byte in it";
    if (memchr(got[2]->str, '\0', got[2]->len) != NULL)
        return "a NUL byte in the account";
    memcpy(ev->type_buf, got[1]->str, got[1]->len);
    ev->type_buf[got[1]->len] = '\0';
    ev->type = ev->type_buf;
    memcpy(ev->account, got[2]->str, got[2]->len);
    ev->account[got[2]->len] = '\0';
    *json = got[3]->str;
    *json_len = got[3]->len;
    return NULL;
}

/* Mails one audience about ev, unless (account, kind, audience) was mailed
 * within notifier.window.  The outcome of this mail. */
static enum notify_outcome notify_mail(struct notify *n, const struct notify_ev *ev,
                                       const char *tpl_name, enum notify_aud aud,
                                       const char *to)
{
    char hkey[KEYS_MAX], lkey[KEYS_MAX], lsuffix[160], field[128], owner[160];
    char win[24], lockms[24], why[256];
    char e1[LOG_ESC_SIZE], e2[LOG_ESC_SIZE];

    snprintf(field, sizeof field, "%s:%s", ev->type, notify_aud_names[aud]);
    snprintf(lsuffix, sizeof lsuffix, "%s:%s", KEYS_NOTIFYING, field);
    if (keys_account(hkey, n->cfg->redis.prefix, ev->account, KEYS_NOTIFIED) == 0
        || keys_account(lkey, n->cfg->redis.prefix, ev->account, lsuffix) == 0)
        log_panic("notify: account key does not fit");  /* bounded by NOTIFY_ACCOUNT_MAX */
    snprintf(owner, sizeof owner, "%s %s", n->consumer, ev->id);
    snprintf(win, sizeof win, "%lld", (long long)n->cfg->notifier.window_ms);
    snprintf(lockms, sizeof lockms, "%d", NOTIFY_LOCK_MS);
    log_esc(e1, ev->account, strlen(ev->account));

    const char *begin[] = { "EVAL", notify_lua_begin, "2", hkey, lkey, field, win, owner, lockms };
    redisReply *r = notify_cmd(n, 0, 9, begin);
    if (r == NULL)
        return n->c == NULL ? NOTIFY_LOST : NOTIFY_FAILED;
    long long go = -1, last = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2
        && r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER) {
        go = r->element[0]->integer;
        last = r->element[1]->integer;
    }
    freeReplyObject(r);
    if (go == 0) {
        char at[40];
        notify_rfc3339(last, at, sizeof at);
        log_info("notify: id=%s type=%s account=%s audience=%s: not mailed, last mail %s "
                 "is within notifier.window", ev->id, ev->type, e1, notify_aud_names[aud], at);
        return NOTIFY_ACK;
    }
    if (go == 2) {
        log_notice("notify: id=%s type=%s account=%s audience=%s: another notifier is "
                   "mailing it now; left pending", ev->id, ev->type, e1, notify_aud_names[aud]);
        return NOTIFY_BUSY;
    }
    if (go != 1) {
        log_err("notify: id=%s: unexpected reply to the BEGIN script", ev->id);
        return NOTIFY_FAILED;
    }

    struct notify_buf msg;
    notify_buf_init(&msg, NOTIFY_MESSAGE_MAX, false);
    notify_message(n, ev, tpl_name, aud, to, &msg);
    int rc = notify_sendmail(n, msg.p, msg.len, why, sizeof why);
    notify_buf_free(&msg);

    const char *end[] = { "EVAL", notify_lua_end, "2", hkey, lkey, field, win, owner,
                          rc == 0 ? "1" : "0" };
    r = notify_cmd(n, 0, 9, end);
    if (r != NULL)
        freeReplyObject(r);
    log_esc(e2, to, strlen(to));
    if (rc != 0) {
        log_warn("notify: id=%s type=%s account=%s audience=%s to=%s: sendmail %s: %s; "
                 "left pending", ev->id, ev->type, e1, notify_aud_names[aud], e2,
                 n->cfg->notifier.sendmail, why);
        return n->c == NULL ? NOTIFY_LOST : NOTIFY_FAILED;
    }
    log_info("notify: mailed id=%s type=%s account=%s audience=%s to=%s template=%s",
             ev->id, ev->type, e1, notify_aud_names[aud], e2, tpl_name);
    if (r == NULL)      /* mailed, but not recorded: the entry stays pending */
        return n->c == NULL ? NOTIFY_LOST : NOTIFY_FAILED;
    return NOTIFY_ACK;
}

/* One entry: id (checked) and its field array (NULL or nil: the entry was
 * deleted or trimmed while pending). */
static enum notify_outcome notify_entry(struct notify *n, const char *id, const redisReply *f)
{
    struct notify_ev ev;
    char why[128], e1[LOG_ESC_SIZE], e2[LOG_ESC_SIZE];
    const char *json;
    size_t json_len;

    if (f == NULL || f->type != REDIS_REPLY_ARRAY) {
        log_info("notify: id=%s is no longer in the stream (trimmed); acknowledged", id);
        return NOTIFY_ACK;
    }
    memset(&ev, 0, sizeof ev);
    ev.id = id;
    const char *bad = notify_fields(f, &ev, &json, &json_len, why, sizeof why);
    if (bad != NULL) {
        log_warn("notify: id=%s malformed entry: %s; acknowledged", id, bad);
        return NOTIFY_ACK;
    }
    log_esc(e1, ev.account, strlen(ev.account));
    const struct notify_kind *kind = NULL;
    for (size_t i = 0; i < sizeof notify_kinds / sizeof notify_kinds[0]; i++)
        if (strcmp(notify_kinds[i].type, ev.type) == 0)
            kind = &notify_kinds[i];
    if (kind == NULL) {
        log_debug("notify: id=%s type=%s account=%s: no mail for this type; acknowledged", id,
                  log_escs(e2, ev.type), e1);
        return NOTIFY_ACK;
    }

    json_error_t jerr;
    ev.json = json_loadb(json, json_len, JSON_REJECT_DUPLICATES, &jerr);
    if (ev.json == NULL || !json_is_object(ev.json)) {
        log_warn("notify: id=%s type=%s account=%s malformed entry: json is not a JSON "
                 "object (%s); acknowledged", id, ev.type, e1,
                 ev.json == NULL ? log_escs(e2, jerr.text) : "another JSON value");
        json_decref(ev.json);
        return NOTIFY_ACK;
    }
    const char *tpl_name = ev.type;
    if (strcmp(ev.type, "identity_violation") == 0) {
        const char *mode = json_string_value(json_object_get(ev.json, "mode"));
        if (mode != NULL && strcmp(mode, "monitor") == 0)
            tpl_name = "identity_monitor";
        else if (mode != NULL && strcmp(mode, "enforce") == 0)
            tpl_name = "identity_enforce";
        else {
            log_warn("notify: id=%s type=%s account=%s malformed entry: mode is not "
                     "monitor or enforce; acknowledged", id, ev.type, e1);
            json_decref(ev.json);
            return NOTIFY_ACK;
        }
    }

    /* Who: the account when it is an address (else support in its place),
     * support when the kind says so; support at most once. */
    const char *support = n->cfg->notifier.support_address;
    struct { enum notify_aud aud; const char *to; } mails[2];
    size_t nmails = 0;
    bool is_addr = notify_is_address(ev.account);
    if (kind->account && is_addr) {
        mails[nmails].aud = NOTIFY_AUD_ACCOUNT;
        mails[nmails++].to = ev.account;
    }
    if (support != NULL && (kind->support || (kind->account && !is_addr))) {
        mails[nmails].aud = NOTIFY_AUD_SUPPORT;
        mails[nmails++].to = support;
    }
    if (nmails == 0) {
        log_info("notify: id=%s type=%s account=%s: no recipient (%s); acknowledged", id,
                 ev.type, e1, kind->account
                     ? "the account is not a mail address and notifier.support_address is unset"
                     : "notifier.support_address is unset");
        json_decref(ev.json);
        return NOTIFY_ACK;
    }

    enum notify_outcome worst = NOTIFY_ACK;
    for (size_t i = 0; i < nmails && worst != NOTIFY_LOST; i++) {
        enum notify_outcome o = notify_mail(n, &ev, tpl_name, mails[i].aud, mails[i].to);
        if (o > worst)
            worst = o;
    }
    json_decref(ev.json);
    return worst;
}

/* ---- the stream ------------------------------------------------------- */

static int notify_ack(struct notify *n, const char *id)
{
    const char *argv[] = { "XACK", n->key, n->cfg->notifier.group, id };
    redisReply *r = notify_cmd(n, 0, 4, argv);
    if (r == NULL) {
        notify_drop(n);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* The delivery count of our pending entry id: >= 1, 0 when it is no
 * longer pending, -1 when Redis failed (connection dropped). */
static long long notify_deliveries(struct notify *n, const char *id)
{
    const char *argv[] = { "XPENDING", n->key, n->cfg->notifier.group, id, id, "1" };
    redisReply *r = notify_cmd(n, 0, 6, argv);
    if (r == NULL) {
        notify_drop(n);
        return -1;
    }
    long long d = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1
        && r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 4
        && r->element[0]->element[3]->type == REDIS_REPLY_INTEGER)
        d = r->element[0]->element[3]->integer;
    freeReplyObject(r);
    return d;
}

/* Handles one entry of a read or claim reply ([id, fields]) and
 * acknowledges it when done.  0, or -1 when the connection is gone. */
static int notify_handle(struct notify *n, const redisReply *e, char *last_id, size_t cap)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !notify_is_id(e->element[0])) {
        log_err("redis %s: an entry that is not [id, fields]; reconnecting",
                n->cfg->redis.address);
        notify_drop(n);
        return -1;
    }
    char id[NOTIFY_ID_MAX + 2];
    notify_idcpy(id, "", e->element[0]);
    if (last_id != NULL)
        snprintf(last_id, cap, "%s", id);

    switch (notify_entry(n, id, e->element[1])) {
    case NOTIFY_ACK:
        return notify_ack(n, id);
    case NOTIFY_BUSY:
        n->left_pending++;
        return 0;
    case NOTIFY_FAILED: {
        long long d = notify_deliveries(n, id);
        if (d < 0)
            return -1;
        if (d >= NOTIFY_ATTEMPTS_MAX) {
            log_err("notify: id=%s: giving up after %lld deliveries; acknowledged without "
                    "mail", id, d);
            return notify_ack(n, id);
        }
        n->left_pending++;
        return 0;
    }
    case NOTIFY_LOST:
        break;
    }
    return -1;
}

/* Handles an array of entries; stops at a signal.  The number handled, or
 * -1 when the connection is gone. */
static long notify_entries(struct notify *n, const redisReply *a, char *last_id, size_t cap)
{
    long done = 0;
    for (size_t i = 0; i < a->elements && !notify_stop; i++, done++) {
        if (a->element[i]->type == REDIS_REPLY_NIL)     /* XCLAIM of a deleted entry */
            continue;
        if (notify_handle(n, a->element[i], last_id, cap) != 0)
            return -1;
    }
    return done;
}

/* The entries of an XREADGROUP reply [[key, [entry...]]]; NULL for nil. */
static const redisReply *notify_read_entries(struct notify *n, const redisReply *r, bool *bad)
{
    *bad = false;
    if (r->type == REDIS_REPLY_NIL)
        return NULL;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1
        && r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2
        && r->element[0]->element[1]->type == REDIS_REPLY_ARRAY)
        return r->element[0]->element[1];
    log_err("redis %s: XREADGROUP: unexpected reply (type %d); reconnecting",
            n->cfg->redis.address, r->type);
    notify_drop(n);
    *bad = true;
    return NULL;
}

/* XREADGROUP GROUP g c COUNT 100 [BLOCK ms] STREAMS key from: the number
 * of entries handled (0: none), or -1 when the connection is gone. */
static long notify_read(struct notify *n, const char *from, int64_t block_ms, char *last_id,
                        size_t cap)
{
    char count[16], block[24];
    const char *argv[12] = { "XREADGROUP", "GROUP", n->cfg->notifier.group, n->consumer,
                             "COUNT", count };
    int argc = 6;
    snprintf(count, sizeof count, "%d", NOTIFY_BATCH);
    if (block_ms > 0) {
        snprintf(block, sizeof block, "%lld", (long long)block_ms);
        argv[argc++] = "BLOCK";
        argv[argc++] = block;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = n->key;
    argv[argc++] = from;

    if (block_ms > 0 && n->c != NULL)
        notify_block_fd = n->c->fd;
    if (notify_stop) {                  /* SIGTERM came before the fd was set */
        notify_block_fd = -1;
        return 0;
    }
    redisReply *r = notify_cmd(n, block_ms, argc, argv);
    notify_block_fd = -1;
    if (r == NULL) {
        if (notify_stop)
            return 0;
        notify_drop(n);
        return -1;
    }
    bool bad;
    const redisReply *a = notify_read_entries(n, r, &bad);
    long done = bad ? -1 : a == NULL ? 0 : notify_entries(n, a, last_id, cap);
    freeReplyObject(r);
    return done;
}

/* Our own pending entries, all of them (after a (re)connect and for
 * --once).  0, or -1. */
static int notify_history(struct notify *n)
{
    char cursor[NOTIFY_ID_MAX + 2] = "0";
    for (;;) {
        char last[NOTIFY_ID_MAX + 2] = "";
        long done = notify_read(n, cursor, 0, last, sizeof last);
        if (done < 0)
            return -1;
        if (done == 0 || notify_stop)
            return 0;
        snprintf(cursor, sizeof cursor, "%s", last);
    }
}

/* The retry delay of an entry delivered `deliveries` times. */
static int64_t notify_retry_delay(long long deliveries)
{
    int64_t d = NOTIFY_RETRY_MIN_MS;
    for (long long i = 1; i < deliveries && d < NOTIFY_RETRY_MAX_MS; i++)
        d *= 2;
    return d < NOTIFY_RETRY_MAX_MS ? d : NOTIFY_RETRY_MAX_MS;
}

/* Our own pending entries whose retry delay is over: XPENDING (IDLE, our
 * consumer) pages, then XCLAIM of the due ones to ourselves.  0, or -1. */
static int notify_retry(struct notify *n)
{
    char start[NOTIFY_ID_MAX + 2] = "-", idle[24], count[16];
    snprintf(idle, sizeof idle, "%d", NOTIFY_RETRY_MIN_MS);
    snprintf(count, sizeof count, "%d", NOTIFY_BATCH);

    for (int page = 0; page < NOTIFY_RETRY_PAGES && !notify_stop; page++) {
        const char *argv[] = { "XPENDING", n->key, n->cfg->notifier.group, "IDLE", idle,
                               start, "+", count, n->consumer };
        redisReply *r = notify_cmd(n, 0, 9, argv);
        if (r == NULL) {
            notify_drop(n);
            return -1;
        }
        if (r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return 0;
        }
        const char *claim[NOTIFY_ARGS_MAX] = { "XCLAIM", n->key, n->cfg->notifier.group,
                                               n->consumer, idle };
        int argc = 5;
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *p = r->element[i];
            if (p->type != REDIS_REPLY_ARRAY || p->elements != 4 || !notify_is_id(p->element[0])
                || p->element[2]->type != REDIS_REPLY_INTEGER
                || p->element[3]->type != REDIS_REPLY_INTEGER)
                continue;
            notify_idcpy(start, "(", p->element[0]);
            if (p->element[2]->integer >= notify_retry_delay(p->element[3]->integer))
                claim[argc++] = p->element[0]->str;
        }
        size_t got = r->elements;
        long done = 0;
        if (argc > 5) {
            redisReply *c = notify_cmd(n, 0, argc, claim);
            if (c == NULL) {
                freeReplyObject(r);
                notify_drop(n);
                return -1;
            }
            done = c->type == REDIS_REPLY_ARRAY ? notify_entries(n, c, NULL, 0) : 0;
            freeReplyObject(c);
        }
        freeReplyObject(r);
        if (done < 0)
            return -1;
        if (got < NOTIFY_BATCH)
            return 0;
    }
    return 0;
}

/* Entries of other consumers idle past NOTIFY_CLAIM_IDLE_MS (a notifier
 * that died), one XAUTOCLAIM page from the saved cursor.  The number
 * handled (the cursor back at 0-0 and nothing claimed: 0), or -1. */
static long notify_autoclaim(struct notify *n, bool *wrapped)
{
    char idle[24], count[16];
    snprintf(idle, sizeof idle, "%d", NOTIFY_CLAIM_IDLE_MS);
    snprintf(count, sizeof count, "%d", NOTIFY_BATCH);
    const char *argv[] = { "XAUTOCLAIM", n->key, n->cfg->notifier.group, n->consumer, idle,
                           n->claim_cursor, "COUNT", count };
    redisReply *r = notify_cmd(n, 0, 8, argv);
    if (r == NULL) {
        notify_drop(n);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || !notify_is_id(r->element[0])
        || r->element[1]->type != REDIS_REPLY_ARRAY) {
        log_err("redis %s: XAUTOCLAIM: unexpected reply; reconnecting", n->cfg->redis.address);
        freeReplyObject(r);
        notify_drop(n);
        return -1;
    }
    notify_idcpy(n->claim_cursor, "", r->element[0]);
    *wrapped = strcmp(n->claim_cursor, "0-0") == 0;
    if (r->element[1]->elements > 0)
        log_info("notify: claimed %zu entries idle for more than %d s", r->element[1]->elements,
                 NOTIFY_CLAIM_IDLE_MS / 1000);
    long done = notify_entries(n, r->element[1], NULL, 0);
    freeReplyObject(r);
    return done;
}

/* ---- the process ------------------------------------------------------ */

static void notify_on_stop(int sig)
{
    int e = errno;
    (void)sig;
    notify_stop = 1;
    if (notify_block_fd >= 0)           /* cut a blocking XREADGROUP short */
        shutdown(notify_block_fd, SHUT_RDWR);
    errno = e;
}

static void notify_on_hup(int sig)
{
    (void)sig;
    notify_reload = 1;
}

static void notify_log_setup(const struct config *cfg)
{
    log_setup(cfg->log.target, cfg->log.level, cfg->log.format, cfg->log.facility,
              "outpost-notify");
}

/* Derives what comes from the configuration: the key, the From address. */
static void notify_configure(struct notify *n)
{
    if (keys_global(n->key, n->cfg->redis.prefix, "events", NULL) == 0)
        log_panic("notify: events key does not fit");
    if (n->cfg->notifier.from != NULL)
        snprintf(n->from, sizeof n->from, "%s", n->cfg->notifier.from);
    else
        snprintf(n->from, sizeof n->from, "outpost@%s", n->hostname);
}

/* SIGHUP: a valid file replaces the configuration, then reconnects. */
static void notify_do_reload(struct notify *n)
{
    struct config *cfg;
    char err[512];
    notify_reload = 0;
    if (config_load(n->cfg_path, &cfg, err, sizeof err) != 0) {
        log_err("reload refused, configuration kept: %s", err);
        return;
    }
    config_unref(n->cfg);
    n->cfg = cfg;
    notify_log_setup(cfg);
    notify_configure(n);
    notify_drop(n);
    snprintf(n->claim_cursor, sizeof n->claim_cursor, "0-0");
    log_notice("configuration reloaded from %s (hash %s)", cfg->path, cfg->hash);
}

/* The loop.  Returns the exit code. */
static int notify_run(struct notify *n)
{
    int64_t backoff = NOTIFY_BACKOFF_MIN_MS;
    bool fresh = false;                 /* connected: read our pending entries first */

    while (!notify_stop) {
        if (notify_reload)
            notify_do_reload(n);
        if (n->c == NULL) {
            if (notify_connect(n) != 0) {
                if (n->once)
                    return NOTIFY_EXIT_UNREACHABLE;
                log_info("redis: next attempt in %lld ms", (long long)backoff);
                notify_sleep(backoff);
                backoff = backoff * 2 < NOTIFY_BACKOFF_MAX_MS ? backoff * 2 : NOTIFY_BACKOFF_MAX_MS;
                continue;
            }
            fresh = true;
        }

        bool failed = false;
        if (fresh) {
            failed = notify_history(n) != 0;
            fresh = failed;
        }
        if (!failed && !n->once)
            failed = notify_retry(n) != 0;
        bool wrapped = false;
        for (long pages = 0; !failed && !notify_stop; pages++) {
            long k = notify_autoclaim(n, &wrapped);
            failed = k < 0;
            if (!n->once || wrapped || pages >= NOTIFY_ONCE_PAGES)
                break;
        }
        long got = 0;
        for (long pages = 0; !failed && !notify_stop; pages++) {
            got = notify_read(n, ">", n->once ? 0 : NOTIFY_BLOCK_MS, NULL, 0);
            failed = got < 0;
            if (!n->once || got == 0 || pages >= NOTIFY_ONCE_PAGES)
                break;
        }
        if (failed) {
            if (n->once)
                return NOTIFY_EXIT_UNREACHABLE;
            /* error replies keep the connection; drop it, so the next
             * round starts clean (and re-creates a vanished group) */
            notify_drop(n);
            log_info("redis: reconnecting in %lld ms", (long long)backoff);
            notify_sleep(backoff);
            backoff = backoff * 2 < NOTIFY_BACKOFF_MAX_MS ? backoff * 2 : NOTIFY_BACKOFF_MAX_MS;
            continue;
        }
        backoff = NOTIFY_BACKOFF_MIN_MS;
        if (n->once)
            break;
    }
    if (n->once && n->left_pending > 0) {
        log_notice("notify: %lu entries left pending for a later run", n->left_pending);
        return NOTIFY_EXIT_PENDING;
    }
    return NOTIFY_EXIT_OK;
}

/* Started as root: the configuration's user/group, as outpostd does. */
static int notify_drop_root(const struct config *cfg)
{
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(cfg->user);
    if (pw == NULL) {
        log_err("user: no such user \"%s\" (create it, or set \"user\" in %s)", cfg->user,
                cfg->path);
        return -1;
    }
    gid_t gid = pw->pw_gid;
    if (cfg->group != NULL) {
        struct group *gr = getgrnam(cfg->group);
        if (gr == NULL) {
            log_err("group: no such group \"%s\"", cfg->group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (pw->pw_uid == 0 && gid == 0)
        return 0;
    if (initgroups(cfg->user, gid) != 0 || setgid(gid) != 0 || setuid(pw->pw_uid) != 0) {
        log_err("cannot change to user %s: %s", cfg->user, strerror(errno));
        return -1;
    }
    if (pw->pw_uid != 0 && setuid(0) == 0) {
        log_err("privileges could be regained after dropping them; stopping");
        return -1;
    }
    log_info("running as user %s (uid %ld, gid %ld)", cfg->user, (long)pw->pw_uid, (long)gid);
    return 0;
}

/* The host name, reduced to [A-Za-z0-9.-] (it goes into headers). */
static void notify_hostname(char *out, size_t cap)
{
    char h[NOTIFY_HOST_MAX + 1];
    size_t o = 0;
    if (gethostname(h, sizeof h) != 0)
        h[0] = '\0';
    h[sizeof h - 1] = '\0';
    for (const char *p = h; *p != '\0' && o + 1 < cap; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
            || *p == '.' || *p == '-')
            out[o++] = *p;
    out[o] = '\0';
    if (o == 0 || out[0] == '.' || out[0] == '-' || out[o - 1] == '.')
        snprintf(out, cap, "localhost");
}

static bool notify_consumer_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NOTIFY_CONSUMER_MAX)
        return false;
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

static void notify_usage(FILE *f)
{
    fprintf(f, "usage: outpost-notify [-c FILE] [-n CONSUMER] [--once]\n"
               "  -c FILE      configuration file (default %s)\n"
               "  -n CONSUMER  consumer name in the group (default: the host name)\n"
               "  --once       handle what is pending and new, then exit\n"
               "               (0 all handled, 1 some left pending, 3 Redis failed)\n"
               "  -V           print the version\n", CONFIG_DEFAULT_PATH);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "once", no_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    struct notify n;
    const char *consumer = NULL;
    int opt;

    memset(&n, 0, sizeof n);
    n.cfg_path = CONFIG_DEFAULT_PATH;
    while ((opt = getopt_long(argc, argv, "c:n:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': n.cfg_path = optarg; break;
        case 'n': consumer = optarg; break;
        case 'o': n.once = true; break;
        case 'V': printf("outpost-notify %s\n", PACKAGE_VERSION); return NOTIFY_EXIT_OK;
        case 'h': notify_usage(stdout); return NOTIFY_EXIT_OK;
        default:  notify_usage(stderr); return NOTIFY_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        notify_usage(stderr);
        return NOTIFY_EXIT_USAGE;
    }
    notify_hostname(n.hostname, sizeof n.hostname);
    char host_consumer[NOTIFY_CONSUMER_MAX + 1];
    if (consumer == NULL) {             /* the host name, cut to a consumer name */
        size_t k = strnlen(n.hostname, NOTIFY_CONSUMER_MAX);
        memcpy(host_consumer, n.hostname, k);
        host_consumer[k] = '\0';
        consumer = host_consumer;
    }
    if (!notify_consumer_ok(consumer)) {
        fprintf(stderr, "outpost-notify: -n: a consumer name is 1 to %d printable ASCII "
                "characters without space\n", NOTIFY_CONSUMER_MAX);
        return NOTIFY_EXIT_USAGE;
    }
    memcpy(n.consumer, consumer, strlen(consumer) + 1);    /* checked: it fits */

    char err[512];
    if (config_load(n.cfg_path, &n.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "outpost-notify: %s\n", err);
        return NOTIFY_EXIT_USAGE;
    }
    notify_log_setup(n.cfg);
    notify_configure(&n);
    snprintf(n.claim_cursor, sizeof n.claim_cursor, "0-0");
    if (notify_drop_root(n.cfg) != 0) {
        config_unref(n.cfg);
        return NOTIFY_EXIT_USAGE;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = notify_on_stop;     /* no SA_RESTART: sleeps end early */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = notify_on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    log_info("outpost-notify " PACKAGE_VERSION " started (config %s, consumer %s%s)",
             n.cfg->path, n.consumer, n.once ? ", once" : "");
    int rc = notify_run(&n);
    log_info("outpost-notify stopped (exit %d)", rc);
    notify_drop(&n);
    config_unref(n.cfg);
    log_close();
    return rc;
}
