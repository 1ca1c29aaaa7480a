/* ctl.c - outpostctl, the admin CLI (SPEC §8).
 *
 *   outpostctl [-c FILE] [--json] COMMAND ...
 *     check-config [FILE]                 validate a configuration file
 *     query [--socket EP] NAME=VALUE...   send one policy request to a
 *                                         running outpostd, print the action
 *     suspend, reinstate, suspended, allow|deny add|remove|list, show, init,
 *     class, override, reset, identity,   Redis administration (admin.c)
 *     verdict, events
 *     stats [--metrics HOST:PORT]         the daemon's counters, read from its
 *                                         metrics listener (GET /metrics)
 *
 * Exit codes (a contract for scripts): 0 done (query: the answer lets the
 * mail through), 1 refused (query: REJECT, DEFER, HOLD, 4xx or 5xx) or not
 * found (reinstate of an account that is not suspended, add of an entry
 * already present, remove of an absent one, override --clear of a limit
 * without an override in force, identity verify or remove without a
 * grant, identity adopt of an address not observed, identity import with
 * bad lines), 2 usage or configuration error (also: a class or limit the
 * configuration does not have, reset of a limit keyed by client_address
 * or sender_domain, an address that is not one), 3 the service is unreachable
 * (query: outpostd; stats: the metrics listener; the Redis commands:
 * Redis down, timed out, or AUTH refused); stats without metrics.listen
 * or --metrics is 2.  reset deleting nothing (no counter existed) is 0: the
 * counters are at zero as asked.
 *
 * The query client is plain blocking POSIX I/O with a 10 s timeout: it sends
 * one request, reads one reply (at most CTL_REPLY_MAX bytes) and closes.
 * The Redis commands load the configuration, check their arguments (before
 * any connection), open one admin connection (admin.h), make one change or
 * read, print it (human text, or one JSON value with --json) and close;
 * every state change goes through the outpost Functions, so its audit
 * entry and event are written by Redis.  Text read back from Redis is
 * printed with control bytes escaped.
 *
 * verdict only appends to the verdict stream (XADD): every outpostd
 * consumes that stream as one consumer group and applies each verdict
 * exactly once, so outpostctl never applies one itself.  events reads the
 * events stream (XREVRANGE); with --follow it then blocks in XREAD BLOCK
 * CTL_FOLLOW_BLOCK_MS, the socket timeout above that, until SIGINT or
 * SIGTERM, whose handler only sets a flag and shuts the socket down
 * (admin_interrupt()), so the blocking read ends at once and the command
 * exits 0.
 *
 * identity import streams its file: each line (at most CTL_LINE_MAX bytes)
 * is checked as it is read, bad ones reported as FILE:LINE and skipped,
 * and good ones sent ADMIN_ID_BATCH at a time as one pipeline of
 * outpost_identity calls (admin_identity_batch()), so memory stays bounded
 * whatever the file's size. */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "admin.h"
#include "config.h"
#include "identity.h"
#include "keys.h"
#include "list.h"
#include "protocol.h"

#define CTL_OK          0
#define CTL_REFUSED     1
#define CTL_USAGE       2
#define CTL_UNREACHABLE 3

#define CTL_REPLY_MAX   4096
#define CTL_TIMEOUT_S   10
#define CTL_ATTRS_MAX   64
#define CTL_TEXT_MAX    512     /* bytes of --reason, --note, a list VALUE */
#define CTL_BY_MAX      64      /* bytes of --by */
#define CTL_VALUE_MAX   1024    /* bytes of a normalised list value */

struct ctl {
    const char *config_path;    /* -c, or CONFIG_DEFAULT_PATH */
    bool        json;
};

static void ctl_usage(FILE *f)
{
    fprintf(f,
        "usage: outpostctl [-c FILE] [--json] COMMAND ...\n"
        "  check-config [FILE]                  check a configuration file\n"
        "  query [--socket EP] NAME=VALUE...    send a policy request to outpostd\n"
        "                                       (EP: unix:PATH, PATH or inet:HOST:PORT)\n"
        "  show ACCOUNT                         class, limits with usage, suspension,\n"
        "                                       identities, audit trail\n"
        "  suspend ACCOUNT --reason TEXT [--for DURATION] [--by LOGIN] [--note TEXT]\n"
        "                                       (DURATION: 30s, 10m, 1h, 7d;\n"
        "                                       default: until reinstated)\n"
        "  reinstate ACCOUNT [--by LOGIN] [--note TEXT]\n"
        "  suspended                            list suspended accounts\n"
        "  allow|deny add KIND VALUE [--by LOGIN]\n"
        "  allow|deny remove KIND VALUE [--by LOGIN]\n"
        "  allow|deny list                      the list's entries in Redis\n"
        "                                       (KIND: account, client, sender, domain)\n"
        "  init                                 mark this Redis as holding outpost's data\n"
        "  class ACCOUNT                        the account's class\n"
        "  class ACCOUNT CLASS [--by LOGIN]     set it (CLASS: a class of the configuration)\n"
        "  class ACCOUNT --default [--by LOGIN] remove it: default_class applies\n"
        "  override ACCOUNT LIMIT MAX [--for DURATION] [--by LOGIN]\n"
        "                                       MAX (0 blocks the limit) instead of the\n"
        "                                       class's, until removed or for DURATION\n"
        "  override ACCOUNT LIMIT --clear [--by LOGIN]\n"
        "  reset ACCOUNT [LIMIT] [--by LOGIN]   delete the account's counters (of every\n"
        "                                       limit keyed by account of its class, or of\n"
        "                                       LIMIT)\n"
        "  stats [--metrics HOST:PORT]          the daemon's counters, from its metrics\n"
        "                                       listener (default: metrics.listen)\n"
        "  identity add ACCOUNT ADDRESS [--for DURATION] [--by LOGIN]\n"
        "                                       grant a sender address (pending until\n"
        "                                       verified; ADDRESS @DOMAIN: the domain)\n"
        "  identity verify ACCOUNT ADDRESS [--for DURATION] [--by LOGIN]\n"
        "                                       the grant authorizes (--for 0s: no expiry)\n"
        "  identity remove ACCOUNT ADDRESS [--by LOGIN]\n"
        "  identity list ACCOUNT                the account's grants\n"
        "  identity who ADDRESS                 the accounts holding ADDRESS\n"
        "  identity observed [ACCOUNT]          unauthorised sender addresses seen\n"
        "  identity adopt ACCOUNT [ADDRESS...] [--verified] [--by LOGIN]\n"
        "                                       grant observed addresses (all, or these)\n"
        "  identity import [FILE|-] [--by LOGIN]\n"
        "                                       lines \"ACCOUNT ADDRESS [verified]\"\n"
        "  verdict ACCOUNT [--weight W] [--recipients N] [--queue-id ID] [--ref TEXT]\n"
        "          [--source NAME]              report spam sent by ACCOUNT: queued on\n"
        "                                       the verdict stream, applied by outpostd\n"
        "                                       (W: 0 < W <= 1000, default 1; N <= 1000000)\n"
        "  events [--count N] [--follow] [--type TYPE] [--account ACCOUNT]\n"
        "                                       the last N events (default 20, at most\n"
        "                                       10000), oldest first, TYPE and ACCOUNT\n"
        "                                       among them; --follow: then the new ones\n"
        "                                       until interrupted\n"
        "--by defaults to $SUDO_USER, else the invoking user.\n"
        "exit: 0 done, 1 refused or not found (reinstate: not suspended; add:\n"
        "      already present; remove: not present; override --clear: no override;\n"
        "      identity verify|remove: no such grant; adopt: not observed; import:\n"
        "      bad lines), 2 usage/configuration error (unknown class or limit; reset\n"
        "      of a limit keyed by client address or sender domain; a bad address),\n"
        "      3 service unreachable (outpostd; its metrics listener; Redis down or\n"
        "      AUTH refused)\n");
}

static int ctl_check_config(struct ctl *ctl, int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : ctl->config_path;
    struct config *cfg;
    char err[512];

    if (argc > 2) {
        ctl_usage(stderr);
        return CTL_USAGE;
    }
    int rc = config_load(path, &cfg, err, sizeof err);
    if (ctl->json) {
        json_t *o = json_pack("{s:s, s:b}", "file", path, "ok", rc == 0);
        if (rc == 0)
            json_object_set_new(o, "hash", json_string(cfg->hash));
        else
            json_object_set_new(o, "error", json_string(err));
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
    } else if (rc == 0) {
        printf("%s: configuration ok (hash %s)\n", path, cfg->hash);
    } else {
        fprintf(stderr, "%s\n", err);
    }
    if (rc != 0)
        return CTL_USAGE;
    config_unref(cfg);
    return CTL_OK;
}

/* Connects to "unix:PATH", "PATH" or "inet:HOST:PORT"; fd or -1. */
static int ctl_connect(const char *ep, char *err, size_t errlen)
{
    struct timeval tv = { CTL_TIMEOUT_S, 0 };
    int fd = -1;

    if (strncmp(ep, "inet:", 5) == 0) {
        char host[256];
        const char *hp = ep + 5, *port;
        struct addrinfo hints, *res, *ai;
        int rc;

        if (config_split_hostport(hp, host, sizeof host, &port) != 0) {
            snprintf(err, errlen, "%s: bad endpoint", ep);
            return -1;
        }
        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
            snprintf(err, errlen, "%s: %s", ep, gai_strerror(rc));
            return -1;
        }
        for (ai = res; ai != NULL; ai = ai->ai_next) {
            fd = socket(ai->ai_family, ai->ai_socktype, 0);
            if (fd < 0)
                continue;
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
                break;
            close(fd);
            fd = -1;
        }
        if (fd < 0)
            snprintf(err, errlen, "%s: %s", ep, strerror(errno));
        freeaddrinfo(res);
    } else {
        const char *path = strncmp(ep, "unix:", 5) == 0 ? ep + 5 : ep;
        struct sockaddr_un sun;
        memset(&sun, 0, sizeof sun);
        sun.sun_family = AF_UNIX;
        if (strlen(path) >= sizeof sun.sun_path) {
            snprintf(err, errlen, "%s: path too long", path);
            return -1;
        }
        memcpy(sun.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
    }
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* A refusal: REJECT, DEFER, DEFER_IF_*, HOLD, DISCARD, 4xx or 5xx. */
static bool ctl_refused(const char *action)
{
    static const char *const words[] = { "REJECT", "DEFER", "HOLD", "DISCARD" };
    if ((action[0] == '4' || action[0] == '5') && action[1] >= '0' && action[1] <= '9')
        return true;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strncasecmp(action, words[i], strlen(words[i])) == 0)
            return true;
    return false;
}

static int ctl_query(struct ctl *ctl, int argc, char **argv)
{
    static const char *const defaults[][2] = {
        { "request", "smtpd_access_policy" }, { "protocol_state", "RCPT" },
        { "protocol_name", "ESMTP" }, { "client_address", "127.0.0.1" },
        { "client_name", "localhost" }, { "reverse_client_name", "localhost" },
        { "helo_name", "localhost" }, { "sender", "" }, { "recipient", "" },
        { "recipient_count", "0" }, { "queue_id", "" }, { "instance", "" },
        { "size", "0" }, { "sasl_method", "" }, { "sasl_username", "" },
        { "sasl_sender", "" },
    };
    const char *ep = NULL;
    const char *attrs[CTL_ATTRS_MAX];
    size_t nattrs = 0;
    char err[512];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
            ep = argv[++i];
            continue;
        }
        const char *eq = strchr(argv[i], '=');
        if (eq == NULL || eq == argv[i] || strchr(argv[i], '\n') != NULL
            || nattrs == CTL_ATTRS_MAX) {
            fprintf(stderr, "outpostctl: query: \"%s\" is not NAME=VALUE "
                            "(no newline; at most %d)\n", argv[i], CTL_ATTRS_MAX);
            return CTL_USAGE;
        }
        attrs[nattrs++] = argv[i];
    }

    struct config *cfg = NULL;
    if (ep == NULL) {
        if (config_load(ctl->config_path, &cfg, err, sizeof err) != 0) {
            fprintf(stderr, "outpostctl: %s (or give --socket)\n", err);
            return CTL_USAGE;
        }
        ep = cfg->listen.v[0];
    }

    /* the request: user attributes, then defaults for names not given */
    size_t cap = 64;
    for (size_t i = 0; i < nattrs; i++)
        cap += strlen(attrs[i]) + 1;
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        cap += strlen(defaults[i][0]) + strlen(defaults[i][1]) + 2;
    char *req = malloc(cap);
    size_t len = 0;
    if (req == NULL) {
        config_unref(cfg);
        return CTL_USAGE;
    }
    for (size_t i = 0; i < nattrs; i++)
        len += (size_t)snprintf(req + len, cap - len, "%s\n", attrs[i]);
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        size_t nl = strlen(defaults[i][0]);
        bool given = false;
        for (size_t j = 0; j < nattrs && !given; j++)
            given = strncmp(attrs[j], defaults[i][0], nl) == 0 && attrs[j][nl] == '=';
        if (!given)
            len += (size_t)snprintf(req + len, cap - len, "%s=%s\n", defaults[i][0],
                                    defaults[i][1]);
    }
    req[len++] = '\n';

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fd = ctl_connect(ep, err, sizeof err);
    char reply[CTL_REPLY_MAX + 1];
    size_t got = 0;
    int rc = CTL_UNREACHABLE;

    if (fd < 0) {
        fprintf(stderr, "outpostctl: cannot connect to %s\n", err);
        goto out;
    }
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, req + off, len - off);
        if (n <= 0) {
            fprintf(stderr, "outpostctl: write: %s\n", strerror(errno));
            goto out;
        }
        off += (size_t)n;
    }
    while (got < CTL_REPLY_MAX) {
        ssize_t n = read(fd, reply + got, CTL_REPLY_MAX - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        reply[got] = '\0';
        if (got >= 2 && strstr(reply, "\n\n") != NULL)
            break;
    }
    reply[got] = '\0';
    clock_gettime(CLOCK_MONOTONIC, &t1);
    char *end = strstr(reply, "\n\n");
    if (strncmp(reply, "action=", 7) != 0 || end == NULL) {
        fprintf(stderr, "outpostctl: no valid reply from %s (%zu bytes)\n", ep, got);
        goto out;
    }
    *end = '\0';
    const char *action = reply + 7;
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    rc = ctl_refused(action) ? CTL_REFUSED : CTL_OK;
    if (ctl->json) {
        json_t *o = json_pack("{s:s, s:s, s:b, s:f}", "endpoint", ep, "action", action,
                              "refused", rc == CTL_REFUSED, "ms", ms);
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
    } else {
        printf("%s\n", action);
    }
out:
    if (fd >= 0)
        close(fd);
    free(req);
    config_unref(cfg);
    return rc;
}

/* ---- Redis administration (admin.h) ------------------------------------ */

/* Options of the Redis commands. */
#define CTL_O_REASON 1u
#define CTL_O_FOR    2u
#define CTL_O_BY     4u
#define CTL_O_NOTE   8u
#define CTL_O_CLEAR  16u        /* flags, without a value */
#define CTL_O_DEFAULT 32u
#define CTL_O_VERIFIED 64u
#define CTL_O_WEIGHT 128u       /* verdict */
#define CTL_O_RCPTS  256u
#define CTL_O_QID    512u
#define CTL_O_REF    1024u
#define CTL_O_SOURCE 2048u
#define CTL_O_COUNT  4096u      /* events */
#define CTL_O_TYPE   8192u
#define CTL_O_ACCOUNT 16384u
#define CTL_O_FOLLOW 32768u     /* a flag */
#define CTL_POS_MAX  102        /* identity adopt ACCOUNT + 100 addresses */

struct ctl_args {
    const char *reason, *for_, *by, *note;     /* NULL when not given */
    const char *weight, *recipients, *queue_id, *ref, *source;
    const char *count, *type, *account;
    bool        clear, def, verified, follow;  /* --clear, --default, ... */
    const char *pos[CTL_POS_MAX];              /* positional, after the command */
    int         npos;
};

/* Splits argv (argv[0] the command) into the options in `allowed`
 * ("--name VALUE" or "--name=VALUE", anywhere; "--json" too; "--" ends the
 * options) and min..max positional arguments.  CTL_OK or CTL_USAGE. */
static int ctl_args_parse(struct ctl *ctl, int argc, char **argv, unsigned allowed,
                          int min, int max, struct ctl_args *a)
{
    const struct {
        const char *name; unsigned bit; const char **dst; bool *flag;
    } opts[] = {
        { "reason", CTL_O_REASON, &a->reason, NULL }, { "for", CTL_O_FOR, &a->for_, NULL },
        { "by", CTL_O_BY, &a->by, NULL }, { "note", CTL_O_NOTE, &a->note, NULL },
        { "clear", CTL_O_CLEAR, NULL, &a->clear },
        { "default", CTL_O_DEFAULT, NULL, &a->def },
        { "verified", CTL_O_VERIFIED, NULL, &a->verified },
        { "weight", CTL_O_WEIGHT, &a->weight, NULL },
        { "recipients", CTL_O_RCPTS, &a->recipients, NULL },
        { "queue-id", CTL_O_QID, &a->queue_id, NULL }, { "ref", CTL_O_REF, &a->ref, NULL },
        { "source", CTL_O_SOURCE, &a->source, NULL },
        { "count", CTL_O_COUNT, &a->count, NULL }, { "type", CTL_O_TYPE, &a->type, NULL },
        { "account", CTL_O_ACCOUNT, &a->account, NULL },
        { "follow", CTL_O_FOLLOW, NULL, &a->follow },
    };
    bool options = true;

    a->reason = a->for_ = a->by = a->note = NULL;
    a->weight = a->recipients = a->queue_id = a->ref = a->source = NULL;
    a->count = a->type = a->account = NULL;
    a->clear = a->def = a->verified = a->follow = false;
    a->npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (options && strcmp(s, "--") == 0) {
            options = false;
            continue;
        }
        if (options && strcmp(s, "--json") == 0) {
            ctl->json = true;
            continue;
        }
        if (options && strncmp(s, "--", 2) == 0) {
            const char *eq = strchr(s, '=');
            size_t nl = eq ? (size_t)(eq - s - 2) : strlen(s + 2);
            size_t k = 0;
            while (k < sizeof opts / sizeof opts[0]
                   && !((opts[k].bit & allowed) && strlen(opts[k].name) == nl
                        && strncmp(s + 2, opts[k].name, nl) == 0))
                k++;
            if (k == sizeof opts / sizeof opts[0]) {
                fprintf(stderr, "outpostctl: %s: unknown option \"%s\"\n", argv[0], s);
                return CTL_USAGE;
            }
            if (opts[k].flag != NULL) {
                if (eq != NULL) {
                    fprintf(stderr, "outpostctl: %s: %.*s takes no value\n", argv[0],
                            (int)(eq - s), s);
                    return CTL_USAGE;
                }
                *opts[k].flag = true;
                continue;
            }
            if (eq == NULL && i + 1 == argc) {
                fprintf(stderr, "outpostctl: %s: %s needs a value\n", argv[0], s);
                return CTL_USAGE;
            }
            *opts[k].dst = eq ? eq + 1 : argv[++i];
            continue;
        }
        if (a->npos == max || a->npos == CTL_POS_MAX) {
            fprintf(stderr, "outpostctl: %s: unexpected argument \"%s\"\n", argv[0], s);
            return CTL_USAGE;
        }
        a->pos[a->npos++] = s;
    }
    if (a->npos < min) {
        fprintf(stderr, "outpostctl: %s: missing argument\n", argv[0]);
        ctl_usage(stderr);
        return CTL_USAGE;
    }
    return CTL_OK;
}

static int ctl_config(const struct ctl *ctl, struct config **cfg)
{
    char err[512];
    if (config_load(ctl->config_path, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "outpostctl: %s\n", err);
        *cfg = NULL;
        return CTL_USAGE;
    }
    return CTL_OK;
}

static int ctl_admin(const struct config *cfg, struct admin **adm)
{
    char err[512];
    enum admin_status st = admin_open(cfg, adm, err, sizeof err);
    if (st != ADMIN_OK)
        fprintf(stderr, "outpostctl: %s\n", err);
    return (int)st;
}

/* Reports a failed admin call; returns its exit code. */
static int ctl_fail(enum admin_status st, const char *err)
{
    fprintf(stderr, "outpostctl: %s\n", err);
    return (int)st;
}

static int ctl_account(const struct config *cfg, const char *in,
                       char out[REQUEST_ACCOUNT_MAX + 1])
{
    char err[256];
    if (admin_account_norm(cfg, in, out, err, sizeof err) != ADMIN_OK) {
        fprintf(stderr, "outpostctl: account: %s\n", err);
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* --by, else $SUDO_USER, else the invoking user's name. */
static int ctl_by(const char *given, char out[CTL_BY_MAX + 1])
{
    const char *sudo = getenv("SUDO_USER");
    const struct passwd *pw;
    char err[256];

    if (given != NULL)
        snprintf(out, CTL_BY_MAX + 1, "%s", given);
    else if (sudo != NULL && sudo[0] != '\0')
        snprintf(out, CTL_BY_MAX + 1, "%s", sudo);
    else if ((pw = getpwuid(getuid())) != NULL)
        snprintf(out, CTL_BY_MAX + 1, "%s", pw->pw_name);
    else
        snprintf(out, CTL_BY_MAX + 1, "uid:%ld", (long)getuid());
    if (admin_text_check("--by", given ? given : out, CTL_BY_MAX, false, err,
                         sizeof err) != ADMIN_OK) {
        fprintf(stderr, "outpostctl: %s\n", err);
        return CTL_USAGE;
    }
    return CTL_OK;
}

static int ctl_text(const char *what, const char *s, bool empty_ok)
{
    char err[256];
    if (admin_text_check(what, s, CTL_TEXT_MAX, empty_ok, err, sizeof err) != ADMIN_OK) {
        fprintf(stderr, "outpostctl: %s\n", err);
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* Prints s with control bytes as \xNN; returns the columns used (bytes). */
static size_t ctl_put(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            printf("\\x%02x", *p);
            w += 4;
        } else {
            putchar(*p);
            w++;
        }
    }
    return w;
}

static void ctl_pad(size_t used, size_t width)
{
    for (; used < width; used++)
        putchar(' ');
}

static size_t ctl_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        w += *p < 0x20 || *p == 0x7f ? 4 : 1;
    return w;
}

static const char *ctl_jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static int64_t ctl_jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* "2026-03-01T10:00:00Z" */
static void ctl_when(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld ms", (long long)ms);
}

/* "45s", "12m", "5h", "3d" (rounded down). */
static void ctl_age(int64_t ms, char out[32])
{
    long long s = ms > 0 ? (long long)(ms / 1000) : 0;
    if (s < 120)
        snprintf(out, 32, "%llds", s);
    else if (s < 120 * 60)
        snprintf(out, 32, "%lldm", s / 60);
    else if (s < 48 * 3600)
        snprintf(out, 32, "%lldh", s / 3600);
    else
        snprintf(out, 32, "%lldd", s / 86400);
}

static int ctl_json_out(json_t *o, int rc)
{
    json_dumpf(o, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(o);
    return rc;
}

/* "suspended 2h ago by support1 until reinstated: phished password" */
static void ctl_susp_line(const json_t *rec, int64_t now)
{
    char age[32], when[32];
    int64_t until = ctl_jint(rec, "until");

    ctl_age(now - ctl_jint(rec, "at"), age);
    printf("suspended %s ago by ", age);
    ctl_put(ctl_jstr(rec, "by"));
    if (until == 0) {
        printf(" until reinstated: ");
    } else {
        ctl_when(until, when);
        ctl_age(until - now, age);
        printf(" until %s (in %s): ", when, age);
    }
    ctl_put(ctl_jstr(rec, "reason"));
}

static int ctl_suspend(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct config *cfg = NULL;
    struct admin *adm = NULL;
    char account[REQUEST_ACCOUNT_MAX + 1], by[CTL_BY_MAX + 1], err[512];
    int64_t for_ms = 0, at, until;
    int rc;

    if ((rc = ctl_args_parse(ctl, argc, argv, CTL_O_REASON | CTL_O_FOR | CTL_O_BY
                             | CTL_O_NOTE, 1, 1, &a)) != CTL_OK)
        return rc;
    if (a.reason == NULL) {
        fprintf(stderr, "outpostctl: suspend: --reason TEXT is required\n");
        return CTL_USAGE;
    }
    if (a.for_ != NULL && (config_parse_duration(a.for_, &for_ms) != 0 || for_ms <= 0)) {
        fprintf(stderr, "outpostctl: suspend: --for \"%s\" is not a duration "
                        "(30s, 10m, 1h, 7d)\n", a.for_);
        return CTL_USAGE;
    }
    if ((rc = ctl_text("--reason", a.reason, false)) != CTL_OK
        || (rc = ctl_text("--note", a.note ? a.note : "", true)) != CTL_OK
        || (rc = ctl_by(a.by, by)) != CTL_OK
        || (rc = ctl_config(ctl, &cfg)) != CTL_OK)
        return rc;
    if ((rc = ctl_account(cfg, a.pos[0], account)) != CTL_OK
        || (rc = ctl_admin(cfg, &adm)) != CTL_OK)
        goto out;
    enum admin_status st = admin_suspend(adm, account, a.reason, for_ms, by,
                                         a.note ? a.note : "", &at, &until, err,
                                         sizeof err);
    if (st != ADMIN_OK) {
        rc = ctl_fail(st, err);
        goto out;
    }
    if (ctl->json) {
        rc = ctl_json_out(json_pack("{s:s, s:b, s:s, s:s, s:I, s:I, s:s}", "account",
                                    account, "suspended", 1, "reason", a.reason, "by", by,
                                    "at", (json_int_t)at, "until", (json_int_t)until,
                                    "note", a.note ? a.note : ""), CTL_OK);
    } else {
        char when[32];
        ctl_put(account);
        if (until == 0) {
            printf(" suspended until reinstated: ");
        } else {
            ctl_when(until, when);
            printf(" suspended for %s, until %s: ", a.for_, when);
        }
        ctl_put(a.reason);
        putchar('\n');
    }
out:
    admin_close(adm);
    config_unref(cfg);
    return rc;
}

static int ctl_reinstate(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct config *cfg = NULL;
    struct admin *adm = NULL;
    char account[REQUEST_ACCOUNT_MAX + 1], by[CTL_BY_MAX + 1], err[512];
    int rc;

    if ((rc = ctl_args_parse(ctl, argc, argv, CTL_O_BY | CTL_O_NOTE, 1, 1, &a)) != CTL_OK
        || (rc = ctl_text("--note", a.note ? a.note : "", true)) != CTL_OK
        || (rc = ctl_by(a.by, by)) != CTL_OK
        || (rc = ctl_config(ctl, &cfg)) != CTL_OK)
        return rc;
    if ((rc = ctl_account(cfg, a.pos[0], account)) != CTL_OK
        || (rc = ctl_admin(cfg, &adm)) != CTL_OK)
        goto out;
    enum admin_status st = admin_reinstate(adm, account, by, a.note ? a.note : "", err,
                                           sizeof err);
    if (st != ADMIN_OK && st != ADMIN_REFUSED) {
        rc = ctl_fail(st, err);
        goto out;
    }
    rc = (int)st;
    if (ctl->json) {
        ctl_json_out(json_pack("{s:s, s:b}", "account", account, "reinstated",
                               st == ADMIN_OK), rc);
    } else if (st == ADMIN_OK) {
        ctl_put(account);
        printf(" reinstated\n");
    } else {
        fprintf(stderr, "outpostctl: reinstate: account is not suspended\n");
    }
out:
    admin_close(adm);
    config_unref(cfg);
    return rc;
}

static int ctl_suspended(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct config *cfg = NULL;
    struct admin *adm = NULL;
    json_t *res = NULL;
    char err[512];
    int rc;

    if ((rc = ctl_args_parse(ctl, argc, argv, 0, 0, 0, &a)) != CTL_OK
        || (rc = ctl_config(ctl, &cfg)) != CTL_OK)
        return rc;
    if ((rc = ctl_admin(cfg, &adm)) != CTL_OK)
        goto out;
    enum admin_status st = admin_suspended(adm, &res, err, sizeof err);
    if (st != ADMIN_OK) {
        rc = ctl_fail(st, err);
        goto out;
    }
    json_t *list = json_object_get(res, "suspended");
    int64_t now = ctl_jint(res, "now");
    size_t i, width = 0;
    json_t *rec;
    if (ctl->json) {
        ctl_json_out(json_incref(list), CTL_OK);
        goto out;
    }
    json_array_foreach(list, i, rec) {
        size_t w = ctl_width(ctl_jstr(rec, "account"));
        width = w > width ? w : width;
    }
    json_array_foreach(list, i, rec) {
        ctl_pad(ctl_put(ctl_jstr(rec, "account")), width + 2);
        ctl_susp_line(rec, now);
        putchar('\n');
    }
    if (json_array_size(list) == 0)
        printf("no account is suspended\n");
out:
    json_decref(res);
    admin_close(adm);
    config_unref(cfg);
    return rc;
}

/* Prints at most max bytes of s as ctl_put() does, "..." when cut;
 * returns the columns used. */
static size_t ctl_putn(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return ctl_put(s);
    char *cut = strndup(s, max);
    if (cut == NULL)
        return 0;
    size_t w = ctl_put(cut);
    free(cut);
    return w + (size_t)printf("...");
}

#define CTL_SHOW_MAX 256        /* bytes of one value from Redis per field shown */

/* " id ID  weight 2.5  recipients 50  strikes 4  [suspended the account]
 * queue_id: Q  ref: R  source: S" of a verdict audit entry or event (its
 * verdict entry id under key idkey, then "id"). */
static void ctl_verdict_text(const json_t *e, const char *idkey)
{
    static const char *const texts[] = { "queue_id", "ref", "source" };
    const char *id = ctl_jstr(e, idkey);
    if (id[0] == '\0')
        id = ctl_jstr(e, "id");
    printf(" id ");
    ctl_putn(id, 64);
    if (json_is_number(json_object_get(e, "weight")))
        printf("  weight %.6g", json_number_value(json_object_get(e, "weight")));
    if (ctl_jint(e, "recipients") > 0)
        printf("  recipients %lld", (long long)ctl_jint(e, "recipients"));
    if (json_is_number(json_object_get(e, "strikes")))
        printf("  strikes %.6g", json_number_value(json_object_get(e, "strikes")));
    if (ctl_jint(e, "suspended") == 1)
        printf("  [suspended the account]");
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const char *v = ctl_jstr(e, texts[i]);
        if (v[0] != '\0') {
            printf("  %s: ", texts[i]);
            ctl_putn(v, CTL_SHOW_MAX);
        }
    }
}

/* One audit entry: "2026-03-01T10:00:00Z  suspend    by support1  reason: ..." */
static void ctl_audit_line(const json_t *e)
{
    static const char *const details[] = { "limit", "address", "state", "old_state",
                                           "reason", "note", "old_reason" };
    static const char *const numbers[] = { "max", "old_max", "deleted" };
    char when[32];

    if (json_object_get(e, "raw") != NULL) {
        printf("  (not JSON) ");
        ctl_put(ctl_jstr(e, "raw"));
        putchar('\n');
        return;
    }
    ctl_when(ctl_jint(e, "at"), when);
    printf("  %s  ", when);
    ctl_pad(ctl_put(ctl_jstr(e, "op")), 10);
    if (strcmp(ctl_jstr(e, "op"), "verdict") == 0) {
        ctl_verdict_text(e, "verdict_id");
        putchar('\n');
        return;
    }
    printf(" by ");
    ctl_put(ctl_jstr(e, "by"));
    if (json_object_get(e, "until") != NULL && strcmp(ctl_jstr(e, "op"), "suspend") == 0) {
        int64_t until = ctl_jint(e, "until");
        ctl_when(until, when);
        printf("  until %s", until == 0 ? "reinstated" : when);
    }
    if (strcmp(ctl_jstr(e, "op"), "class") == 0) {
        printf("  class: ");
        ctl_put(ctl_jstr(e, "class")[0] ? ctl_jstr(e, "class") : "(default)");
        printf(" (was ");
        ctl_put(ctl_jstr(e, "old_class")[0] ? ctl_jstr(e, "old_class") : "default");
        putchar(')');
    }
    for (size_t i = 0; i < sizeof details / sizeof details[0]; i++) {
        const char *v = ctl_jstr(e, details[i]);
        if (v[0] != '\0') {
            printf("  %s: ", details[i]);
            ctl_put(v);
        }
    }
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
        if (json_is_integer(json_object_get(e, numbers[i])))
            printf("  %s: %lld", numbers[i], (long long)ctl_jint(e, numbers[i]));
    /* an auto-suspension: the weighted sum that reached the threshold */
    if (json_is_number(json_object_get(e, "strikes")))
        printf("  strikes: %.6g", json_number_value(json_object_get(e, "strikes")));
    if ((strcmp(ctl_jstr(e, "op"), "override") == 0
         || strncmp(ctl_jstr(e, "op"), "identity_", 9) == 0) && ctl_jint(e, "until") > 0) {
        ctl_when(ctl_jint(e, "until"), when);
        printf("  until %s", when);
    }
    putchar('\n');
}


/* "45s", "12m", "5h", "3d" for a time ahead (rounded up to the second, so
 * never "0s" for something still ahead). */
static void ctl_in(int64_t ms, char out[32])
{
    ctl_age(ms > 0 ? (ms + 999) / 1000 * 1000 : 0, out);
}

/* "class: standard (default)", or "class: bulk", or "class: standard
 * (stored class "old" is not in the configuration)". */
static void ctl_class_line(const json_t *res)
{
    const json_t *cls = json_object_get(res, "class");
    printf("class: ");
    if (!json_is_string(cls)) {
        printf("none (default_class is not in the configuration)");
    } else if (json_is_true(json_object_get(res, "class_default"))) {
        ctl_put(json_string_value(cls));
        printf(" (default)");
    } else {
        ctl_put(json_string_value(cls));
    }
    if (json_object_get(res, "class_stored") != NULL) {
        printf(" (stored class \"");
        ctl_put(ctl_jstr(res, "class_stored"));
        printf("\" is not in the configuration; default_class applies)");
    }
    putchar('\n');
}

/* " (override until 2026-03-01T10:00:00Z, in 2h; class: 1000)" */
static void ctl_override_text(const json_t *ovr, int64_t class_max, int64_t now)
{
    char when[32], in[32];
    int64_t until = ctl_jint(ovr, "until");
    printf(" (override");
    if (until > 0) {
        ctl_when(until, when);
        ctl_in(until - now, in);
        printf(" until %s, in %s", when, in);
    }
    if (class_max >= 0)
        printf("; class: %lld", (long long)class_max);
    putchar(')');
}

/* show: the class and each limit with its usage. */
static void ctl_show_limits(const json_t *res)
{
    const json_t *limits = json_object_get(res, "limits");
    const json_t *ovrs = json_object_get(res, "overrides");
    int64_t now = ctl_jint(res, "now");
    size_t i, width = 0;
    const json_t *l;
    const char *name;
    json_t *o;

    ctl_class_line(res);
    if (json_array_size(limits) == 0)
        printf("limits: none\n");
    else
        printf("limits:\n");
    json_array_foreach(limits, i, l) {
        size_t w = ctl_width(ctl_jstr(l, "name"));
        width = w > width ? w : width;
    }
    json_array_foreach(limits, i, l) {
        char in[32];
        const char *key = ctl_jstr(l, "key");
        const json_t *ovr = json_object_get(l, "override");
        printf("  ");
        ctl_pad(ctl_put(ctl_jstr(l, "name")), width + 2);
        printf("%lld %s per %s", (long long)ctl_jint(l, "max"), ctl_jstr(l, "count"),
               ctl_jstr(l, "per"));
        if (ovr != NULL)
            ctl_override_text(ovr, ctl_jint(l, "class_max"), now);
        if (strcmp(key, "account") != 0) {
            printf("  keyed by %s", strcmp(key, "client_address") == 0
                                    ? "client address" : "sender domain");
        } else if (json_object_get(l, "used") != NULL) {
            printf("  used %lld, remaining %lld", (long long)ctl_jint(l, "used"),
                   (long long)ctl_jint(l, "remaining"));
            if (ctl_jint(l, "free_next_ms") > 0) {
                ctl_in(ctl_jint(l, "free_next_ms"), in);
                printf(", next frees in %s", in);
            }
        }
        if (json_is_true(json_object_get(l, "shadow")))
            printf("  [shadow]");
        printf("  (%s)\n", ctl_jstr(l, "action"));
    }
    /* overrides of limits the class does not have */
    json_object_foreach((json_t *)ovrs, name, o) {
        bool in_class = false;
        json_array_foreach(limits, i, l)
            in_class = in_class || strcmp(ctl_jstr(l, "name"), name) == 0;
        if (in_class)
            continue;
        printf("  override of ");
        ctl_put(name);
        printf(": %lld", (long long)ctl_jint(o, "max"));
        ctl_override_text(o, -1, now);
        printf(", not a limit of this class\n");
    }
}

/* "24h" for whole hours up to 48 (as the auto-suspension reason says it),
 * else config_format_duration(). */
static void ctl_within(int64_t ms, char out[32])
{
    if (ms % 3600000 == 0 && ms <= 48 * INT64_C(3600000))
        snprintf(out, 32, "%lldh", (long long)(ms / 3600000));
    else
        config_format_duration(ms, out, 32);
}

/* show: "strikes 2.5 of 3 in 24h (2 verdicts)"; without auto_suspend
 * "strikes 1 in 24h (1 verdict; no auto_suspend in this class)". */
static void ctl_show_strikes(const json_t *res)
{
    const json_t *s = json_object_get(res, "strikes");
    const json_t *thr = json_object_get(s, "threshold");
    int64_t count = ctl_jint(s, "count");
    char within[32];

    if (s == NULL)
        return;
    ctl_within(ctl_jint(s, "within_ms"), within);
    printf("strikes %.6g", json_number_value(json_object_get(s, "sum")));
    if (json_is_number(thr))
        printf(" of %.6g", json_number_value(thr));
    printf(" in %s", within);
    if (count > 0)
        printf(" (%lld verdict%s%s", (long long)count, count == 1 ? "" : "s",
               json_is_number(thr) ? ")" : "; ");
    else if (!json_is_number(thr))
        printf(" (");
    printf("%s\n", json_is_number(thr) ? "" : "no auto_suspend in this class)");
}

static void ctl_grant_lines(const json_t *arr, const char *name_key);

/* show: the account's sender identities and observed addresses. */
static void ctl_show_identities(const json_t *res)
{
    const json_t *ids = json_object_get(res, "identities");
    int64_t nobs = ctl_jint(res, "observed"), over = ctl_jint(res, "observed_overflow");

    if (json_array_size(ids) == 0)
        printf("identities: none\n");
    else
        printf("identities:\n");
    ctl_grant_lines(ids, "address");
    printf("observed sender addresses: %lld", (long long)nobs);
    if (over > 0)
        printf(" (%lld more uses not recorded)", (long long)over);
    if (nobs > 0 || over > 0) {
        printf(" (outpostctl identity observed ");
        ctl_put(ctl_jstr(res, "account"));
        putchar(')');
    }
    putchar('\n');
}

static int ctl_show(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct config *cfg = NULL;
    struct admin *adm = NULL;
    json_t *res = NULL;
    char account[REQUEST_ACCOUNT_MAX + 1], err[512];
    int rc;

    if ((rc = ctl_args_parse(ctl, argc, argv, 0, 1, 1, &a)) != CTL_OK
        || (rc = ctl_config(ctl, &cfg)) != CTL_OK)
        return rc;
    if ((rc = ctl_account(cfg, a.pos[0], account)) != CTL_OK
        || (rc = ctl_admin(cfg, &adm)) != CTL_OK)
        goto out;
    enum admin_status st = admin_show(adm, account, &res, err, sizeof err);
    if (st != ADMIN_OK) {
        rc = ctl_fail(st, err);
        goto out;
    }
    if (ctl->json) {
        ctl_json_out(json_incref(res), CTL_OK);
        goto out;
    }
    json_t *susp = json_object_get(res, "suspension");
    json_t *audit = json_object_get(res, "audit");
    ctl_put(account);
    printf(": ");
    if (susp != NULL) {
        char when[32];
        ctl_susp_line(susp, ctl_jint(res, "now"));
        ctl_when(ctl_jint(susp, "at"), when);
        printf("\n  since %s\n", when);
        if (ctl_jstr(susp, "note")[0] != '\0') {
            printf("  note: ");
            ctl_put(ctl_jstr(susp, "note"));
            putchar('\n');
        }
    } else {
        printf("not suspended\n");
    }
    ctl_show_limits(res);
    ctl_show_strikes(res);
    ctl_show_identities(res);
    if (json_array_size(audit) == 0) {
        printf("audit trail: none\n");
    } else {
        size_t i;
        json_t *e;
        printf("audit trail (newest first):\n");
        json_array_foreach(audit, i, e)
            ctl_audit_line(e);
    }
out:
    json_decref(res);
    admin_close(adm);
    config_unref(cfg);
    return rc;
}

/* allow|deny add|remove KIND VALUE, allow|deny list */
static int ctl_list(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct config *cfg = NULL;
    struct admin *adm = NULL;
    json_t *res = NULL;
    char by[CTL_BY_MAX + 1], value[CTL_VALUE_MAX + 1], err[512];
    bool deny = strcmp(argv[0], "deny") == 0;
    enum list_kind kind = LIST_ACCOUNT;
    enum admin_status st;
    int rc;

    if ((rc = ctl_args_parse(ctl, argc, argv, CTL_O_BY, 1, 3, &a)) != CTL_OK)
        return rc;
    const char *verb = a.pos[0];
    bool list = strcmp(verb, "list") == 0, add = strcmp(verb, "add") == 0;
    if (!(list && a.npos == 1) && !((add || strcmp(verb, "remove") == 0) && a.npos == 3)) {
        fprintf(stderr, "outpostctl: %s: want add KIND VALUE, remove KIND VALUE "
                        "or list\n", argv[0]);
        ctl_usage(stderr);
        return CTL_USAGE;
    }
    if (!list && list_kind_parse(a.pos[1], &kind) != 0) {
        fprintf(stderr, "outpostctl: %s: \"%s\" is not a kind (account, client, "
                        "sender, domain)\n", argv[0], a.pos[1]);
        return CTL_USAGE;
    }
    if ((!list && ((rc = ctl_text("VALUE", a.pos[2], false)) != CTL_OK
                   || (rc = ctl_by(a.by, by)) != CTL_OK))
        || (rc = ctl_config(ctl, &cfg)) != CTL_OK)
        return rc;
    if (!list) {
        if (list_norm(kind, a.pos[2], cfg->account_lowercase, value, sizeof value, err,
                      sizeof err) != 0) {
            fprintf(stderr, "outpostctl: %s %s: %s\n", argv[0], a.pos[1], err);
            rc = CTL_USAGE;
            goto out;
        }
        if (kind == LIST_ACCOUNT && (rc = ctl_account(cfg, value, value)) != CTL_OK)
            goto out;
    }
    if ((rc = ctl_admin(cfg, &adm)) != CTL_OK)
        goto out;

    if (list) {
        st = admin_list_get(adm, deny, &res, err, sizeof err);
        if (st != ADMIN_OK) {
            rc = ctl_fail(st, err);
            goto out;
        }
        if (ctl->json) {
            json_object_set_new(res, "list", json_string(argv[0]));
            ctl_json_out(json_incref(res), CTL_OK);
            goto out;
        }
        size_t width = 0, n = 0, i;
        const char *k;
        json_t *entries, *e;
        json_object_foreach(res, k, entries) {
            json_array_foreach(entries, i, e) {
                size_t w = ctl_width(strcmp(k, "client") == 0 ? ctl_jstr(e, "text")
                                                              : ctl_jstr(e, "value"));
                width = w > width ? w : width;
            }
        }
        json_object_foreach(res, k, entries) {
            json_array_foreach(entries, i, e) {
                char when[32];
                bool client = strcmp(k, "client") == 0;
                printf("%s ", argv[0]);
                ctl_pad(ctl_put(k), 8);
                ctl_pad(ctl_put(client ? ctl_jstr(e, "text") : ctl_jstr(e, "value")),
                        width + 2);
                ctl_when(ctl_jint(e, "at"), when);
                printf("added %s by ", when);
                ctl_put(ctl_jstr(e, "by"));
                if (client) {
                    printf("  [");
                    ctl_put(ctl_jstr(e, "value"));
                    putchar(']');
                }
                putchar('\n');
                n++;
            }
        }
        if (n == 0)
            printf("the %s list has no entries in Redis\n", argv[0]);
        goto out;
    }

    if (add)
        st = admin_list_add(adm, deny, kind, value, a.pos[2], by, err, sizeof err);
    else
        st = admin_list_remove(adm, deny, kind, value, by, err, sizeof err);
    if (st != ADMIN_OK && st != ADMIN_REFUSED) {
        rc = ctl_fail(st, err);
        goto out;
    }
    rc = (int)st;
    if (ctl->json) {
        ctl_json_out(json_pack("{s:s, s:s, s:s, s:s, s:b}", "list", argv[0], "kind",
                               list_kind_name(kind), "value", value, "text", a.pos[2],
                               add ? "added" : "removed", st == ADMIN_OK), rc);
    } else if (st == ADMIN_OK) {
        printf("%s %s ", argv[0], list_kind_name(kind));
        ctl_put(kind == LIST_CLIENT ? a.pos[2] : value);
        if (kind == LIST_CLIENT)
            printf(" [%s]", value);
        printf(add ? " added\n" : " removed\n");
    } else {
        fprintf(stderr, "outpostctl: %s %s %s: %s\n", argv[0], list_kind_name(kind),
                value, add ? "already present" : "not present");
    }
out:
    json_decref(res);
    admin_close(adm);
    config_unref(cfg);
    return rc;
}

static int ctl_init(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct config *cfg = NULL;
    struct admin *adm = NULL;
    char by[CTL_BY_MAX + 1], err[512], when[32];
    int64_t at;
    int rc;

    if ((rc = ctl_args_parse(ctl, argc, argv, CTL_O_BY, 0, 0, &a)) != CTL_OK
        || (rc = ctl_by(a.by, by)) != CTL_OK
        || (rc = ctl_config(ctl, &cfg)) != CTL_OK)
        return rc;
    if ((rc = ctl_admin(cfg, &adm)) != CTL_OK)
        goto out;
    enum admin_status st = admin_init(adm, by, &at, err, sizeof err);
    if (st != ADMIN_OK) {
        rc = ctl_fail(st, err);
        goto out;
    }
    if (ctl->json) {
        ctl_json_out(json_pack("{s:I, s:s, s:i}", "at", (json_int_t)at, "by", by,
                               "version", 1), CTL_OK);
    } else {
        ctl_when(at, when);
        printf("state marker written (%s by ", when);
        ctl_put(by);
        printf("): this Redis holds outpost's data\n");
    }
out:
    admin_close(adm);
    config_unref(cfg);
    return rc;
}


/* The class NAME of the configuration, or NULL with a message. */
static const struct config_class *ctl_class_known(const struct config *cfg,
                                                  const char *name)
{
    const struct config_class *c = config_class_find(cfg, name);
    if (c != NULL)
        return c;
    fprintf(stderr, "outpostctl: class \"");
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, stderr);
    fprintf(stderr, "\" is not in the configuration (classes:");
    for (size_t i = 0; i < cfg->nclasses; i++)
        fprintf(stderr, " %s", cfg->classes[i].name);
    fprintf(stderr, ")\n");
    return NULL;
}

/* true if some class of the configuration has a limit NAME; else false
 * with a message. */
static bool ctl_limit_known(const struct config *cfg, const char *name)
{
    for (size_t c = 0; c < cfg->nclasses; c++)
        for (size_t i = 0; i < cfg->classes[c].nlimits; i++)
            if (strcmp(cfg->classes[c].limits[i].name, name) == 0)
                return true;
    fprintf(stderr, "outpostctl: limit \"");
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, stderr);
    fprintf(stderr, "\" is not a limit of any class of the configuration\n");
    return false;
}

/* class ACCOUNT, class ACCOUNT CLASS, class ACCOUNT --default */
static int ctl_class(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct config *cfg = NULL;
    struct admin *adm = NULL;
    char account[REQUEST_ACCOUNT_MAX + 1], by[CTL_BY_MAX + 1], err[512];
    char stored[ADMIN_NAME_MAX + 1];
    enum admin_status st;
    int rc;

    if ((rc = ctl_args_parse(ctl, argc, argv, CTL_O_BY | CTL_O_DEFAULT, 1, 2, &a)) != CTL_OK)
        return rc;
    bool set = a.npos == 2 || a.def;
    if (a.def && a.npos == 2) {
        fprintf(stderr, "outpostctl: class: give CLASS or --default, not both\n");
        return CTL_USAGE;
    }
    if ((set && (rc = ctl_by(a.by, by)) != CTL_OK)
        || (rc = ctl_config(ctl, &cfg)) != CTL_OK)
        return rc;
    if ((rc = ctl_account(cfg, a.pos[0], account)) != CTL_OK)
        goto out;
    if (a.npos == 2 && ctl_class_known(cfg, a.pos[1]) == NULL) {
        rc = CTL_USAGE;
        goto out;
    }
    if ((rc = ctl_admin(cfg, &adm)) != CTL_OK)
        goto out;
    if (set)
        st = admin_class_set(adm, account, a.def ? "" : a.pos[1], by, err, sizeof err);
    else
        st = admin_class_get(adm, account, stored, err, sizeof err);
    if (st != ADMIN_OK) {
        rc = ctl_fail(st, err);
        goto out;
    }
    if (set)
        snprintf(stored, sizeof stored, "%s", a.def ? "" : a.pos[1]);
    bool def = stored[0] == '\0';
    bool known = !def && config_class_find(cfg, stored) != NULL;
    const char *effective = known ? stored : cfg->default_class;
    if (ctl->json) {
        json_t *o = json_pack("{s:s, s:s, s:b}", "account", account, "class", effective,
                              "class_default", def);
        if (!def && !known)
            json_object_set_new(o, "class_stored", json_string(stored));
        if (set)
            json_object_set_new(o, "by", json_string(by));
        ctl_json_out(o, CTL_OK);
    } else {
        ctl_put(account);
        if (set && def)
            printf(": class removed (default: %s)\n", cfg->default_class);
        else if (set)
            printf(": class set to %s\n", stored);
        else if (def)
            printf(": (default: %s)\n", cfg->default_class);
        else if (known)
            printf(": %s\n", stored);
        else {
            printf(": ");
            ctl_put(stored);
            printf(" (not in the configuration; default: %s applies)\n",
                   cfg->default_class);
        }
    }
out:
    admin_close(adm);
    config_unref(cfg);
    return rc;
}

/* MAX: decimal digits, 0..2^53-1. */
static int ctl_max(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 16 || strspn(s, "0123456789") != n
        || (*out = strtoull(s, NULL, 10)) > (uint64_t)ADMIN_EXACT_MAX) {
        fprintf(stderr, "outpostctl: override: MAX \"%s\" is not an integer from 0 to "
                        "%lld\n", s, (long long)ADMIN_EXACT_MAX);
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* override ACCOUNT LIMIT MAX [--for DURATION], override ACCOUNT LIMIT --clear */
static int ctl_override(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct config *cfg = NULL;
    struct admin *adm = NULL;
    char account[REQUEST_ACCOUNT_MAX + 1], by[CTL_BY_MAX + 1], err[512];
    int64_t for_ms = 0, until = 0;
    uint64_t max = 0;
    enum admin_status st;
    int rc;

    if ((rc = ctl_args_parse(ctl, argc, argv, CTL_O_FOR | CTL_O_BY | CTL_O_CLEAR, 2, 3,
                             &a)) != CTL_OK)
        return rc;
    if (a.clear ? a.npos != 2 || a.for_ != NULL : a.npos != 3) {
        fprintf(stderr, "outpostctl: override: want ACCOUNT LIMIT MAX [--for DURATION] "
                        "or ACCOUNT LIMIT --clear\n");
        return CTL_USAGE;
    }
    if (!a.clear && (rc = ctl_max(a.pos[2], &max)) != CTL_OK)
        return rc;
    if (a.for_ != NULL && (config_parse_duration(a.for_, &for_ms) != 0 || for_ms <= 0)) {
        fprintf(stderr, "outpostctl: override: --for \"%s\" is not a duration "
                        "(30s, 10m, 1h, 7d)\n", a.for_);
        return CTL_USAGE;
    }
    if ((rc = ctl_by(a.by, by)) != CTL_OK || (rc = ctl_config(ctl, &cfg)) != CTL_OK)
        return rc;
    if ((rc = ctl_account(cfg, a.pos[0], account)) != CTL_OK)
        goto out;
    if (!ctl_limit_known(cfg, a.pos[1])) {
        rc = CTL_USAGE;
        goto out;
    }
    if ((rc = ctl_admin(cfg, &adm)) != CTL_OK)
        goto out;
    if (a.clear)
        st = admin_override_clear(adm, account, a.pos[1], by, err, sizeof err);
    else
        st = admin_override_set(adm, account, a.pos[1], max, for_ms, by, &until, err,
                                sizeof err);
    if (st != ADMIN_OK && !(a.clear && st == ADMIN_REFUSED)) {
        rc = ctl_fail(st, err);
        goto out;
    }
    rc = (int)st;
    if (ctl->json) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "account", account, "limit", a.pos[1],
                              "by", by);
        if (a.clear) {
            json_object_set_new(o, "cleared", json_boolean(st == ADMIN_OK));
        } else {
            json_object_set_new(o, "max", json_integer((json_int_t)max));
            json_object_set_new(o, "until", json_integer(until));
        }
        ctl_json_out(o, rc);
    } else if (a.clear && st == ADMIN_OK) {
        ctl_put(account);
        printf(": override of %s removed (the class's max applies)\n", a.pos[1]);
    } else if (a.clear) {
        fprintf(stderr, "outpostctl: override: %s has no override of %s\n", account,
                a.pos[1]);
    } else {
        char when[32];
        ctl_put(account);
        printf(": %s max %llu", a.pos[1], (unsigned long long)max);
        if (until > 0) {
            ctl_when(until, when);
            printf(" for %s, until %s\n", a.for_, when);
        } else {
            printf(" until removed\n");
        }
    }
out:
    admin_close(adm);
    config_unref(cfg);
    return rc;
}

/* reset ACCOUNT [LIMIT] */
static int ctl_reset(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct config *cfg = NULL;
    struct admin *adm = NULL;
    json_t *res = NULL;
    char account[REQUEST_ACCOUNT_MAX + 1], by[CTL_BY_MAX + 1], err[512];
    int rc;

    if ((rc = ctl_args_parse(ctl, argc, argv, CTL_O_BY, 1, 2, &a)) != CTL_OK
        || (rc = ctl_by(a.by, by)) != CTL_OK
        || (rc = ctl_config(ctl, &cfg)) != CTL_OK)
        return rc;
    const char *limit = a.npos == 2 ? a.pos[1] : NULL;
    if ((rc = ctl_account(cfg, a.pos[0], account)) != CTL_OK)
        goto out;
    if (limit != NULL && !ctl_limit_known(cfg, limit)) {
        rc = CTL_USAGE;
        goto out;
    }
    if ((rc = ctl_admin(cfg, &adm)) != CTL_OK)
        goto out;
    enum admin_status st = admin_reset(adm, account, limit, by, &res, err, sizeof err);
    if (st != ADMIN_OK) {
        rc = ctl_fail(st, err);
        goto out;
    }
    if (ctl->json) {
        ctl_json_out(json_incref(res), CTL_OK);
        goto out;
    }
    json_t *names = json_object_get(res, "limits"), *n;
    size_t i;
    ctl_put(account);
    if (json_array_size(names) == 0) {
        printf(": class %s has no limit keyed by account: nothing to reset\n",
               ctl_jstr(res, "class"));
        goto out;
    }
    printf(": ");
    json_array_foreach(names, i, n)
        printf("%s%s", i > 0 ? ", " : "", json_string_value(n));
    if (ctl_jint(res, "deleted") > 0)
        printf(" reset (%lld counter%s deleted)\n", (long long)ctl_jint(res, "deleted"),
               ctl_jint(res, "deleted") == 1 ? "" : "s");
    else
        printf(": nothing counted, nothing to reset\n");
out:
    json_decref(res);
    admin_close(adm);
    config_unref(cfg);
    return rc;
}

/* ---- verdict, events (SPEC §7; doc/keys.md "Spam verdicts", "Events") -- */

#define CTL_WEIGHT_MAX      32      /* bytes of --weight (the consumer's bound) */
#define CTL_RCPTS_MAX       1000000 /* --recipients */
#define CTL_QID_MAX         64      /* bytes of --queue-id */
#define CTL_REF_MAX         256     /* bytes of --ref */
#define CTL_SOURCE_MAX      64      /* bytes of --source */
#define CTL_EVENTS_DEFAULT  20      /* events --count */
#define CTL_FOLLOW_BLOCK_MS 5000    /* XREAD BLOCK of events --follow */
#define CTL_FOLLOW_BATCH    100     /* entries per XREAD */
#define CTL_TYPE_MAX        64      /* bytes of events --type */

static void ctl_eput(const char *s);

/* A text option of at most max bytes: UTF-8, no control byte. */
static int ctl_text_max(const char *what, const char *s, size_t max, bool empty_ok)
{
    char err[256];
    if (admin_text_check(what, s, max, empty_ok, err, sizeof err) != ADMIN_OK) {
        fprintf(stderr, "outpostctl: %s\n", err);
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* --weight: a decimal number ("2", "0.5"), 0 < W <= 1000. */
static int ctl_weight(const char *s, double *w)
{
    size_t n = strlen(s);
    const char *dot = strchr(s, '.');
    char *end;
    bool ok = n >= 1 && n <= CTL_WEIGHT_MAX && strspn(s, "0123456789.") == n
              && (dot == NULL || (dot == strrchr(s, '.') && dot != s && dot[1] != '\0'));
    *w = ok ? strtod(s, &end) : 0;
    if (!ok || *end != '\0' || !(*w > 0 && *w <= 1000)) {
        fprintf(stderr, "outpostctl: verdict: --weight \"");
        ctl_eput(s);
        fprintf(stderr, "\" is not a number from 0 (exclusive) to 1000\n");
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* --recipients: an integer 0..CTL_RCPTS_MAX; --count: 0..ADMIN_EVENTS_MAX. */
static int ctl_uint(const char *what, const char *s, unsigned long max, unsigned long *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 20 || strspn(s, "0123456789") != n
        || (*out = strtoul(s, NULL, 10)) > max) {
        fprintf(stderr, "outpostctl: %s \"", what);
        ctl_eput(s);
        fprintf(stderr, "\" is not an integer from 0 to %lu\n", max);
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* --source, else "outpostctl:LOGIN" ($SUDO_USER, else the invoking user),
 * else "outpostctl". */
static void ctl_source(const char *given, char out[CTL_SOURCE_MAX + 1])
{
    const char *user = getenv("SUDO_USER");
    const struct passwd *pw;
    char err[256];

    if (given != NULL) {
        snprintf(out, CTL_SOURCE_MAX + 1, "%s", given);
        return;
    }
    if ((user == NULL || user[0] == '\0') && (pw = getpwuid(getuid())) != NULL)
        user = pw->pw_name;
    int n = user != NULL ? snprintf(out, CTL_SOURCE_MAX + 1, "outpostctl:%s", user) : -1;
    if (n < 0 || n > CTL_SOURCE_MAX
        || admin_text_check("source", out, CTL_SOURCE_MAX, false, err, sizeof err) != ADMIN_OK)
        snprintf(out, CTL_SOURCE_MAX + 1, "outpostctl");
}

/* verdict ACCOUNT [--weight W] [--recipients N] [--queue-id ID] [--ref TEXT]
 * [--source NAME]: one XADD; every outpostd consumes the stream. */
static int ctl_verdict(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct config *cfg = NULL;
    struct admin *adm = NULL;
    char account[REQUEST_ACCOUNT_MAX + 1], source[CTL_SOURCE_MAX + 1];
    char id[ADMIN_STREAM_ID_MAX], key[KEYS_MAX], err[512];
    double weight = 1;
    unsigned long rcpts = 0;
    int rc;

    if ((rc = ctl_args_parse(ctl, argc, argv, CTL_O_WEIGHT | CTL_O_RCPTS | CTL_O_QID
                             | CTL_O_REF | CTL_O_SOURCE, 1, 1, &a)) != CTL_OK)
        return rc;
    if ((a.weight != NULL && (rc = ctl_weight(a.weight, &weight)) != CTL_OK)
        || (a.recipients != NULL
            && (rc = ctl_uint("verdict: --recipients", a.recipients, CTL_RCPTS_MAX,
                              &rcpts)) != CTL_OK)
        || (a.queue_id != NULL
            && (rc = ctl_text_max("--queue-id", a.queue_id, CTL_QID_MAX, true)) != CTL_OK)
        || (a.ref != NULL && (rc = ctl_text_max("--ref", a.ref, CTL_REF_MAX, true)) != CTL_OK)
        || (a.source != NULL
            && (rc = ctl_text_max("--source", a.source, CTL_SOURCE_MAX, false)) != CTL_OK)
        || (rc = ctl_config(ctl, &cfg)) != CTL_OK)
        return rc;
    ctl_source(a.source, source);
    if ((rc = ctl_account(cfg, a.pos[0], account)) != CTL_OK
        || (rc = ctl_admin(cfg, &adm)) != CTL_OK)
        goto out;
    struct admin_verdict v = { account, a.weight, a.recipients, a.queue_id, a.ref, source };
    enum admin_status st = admin_verdict_add(adm, &v, id, err, sizeof err);
    if (st != ADMIN_OK) {
        rc = ctl_fail(st, err);
        goto out;
    }
    if (ctl->json) {
        keys_global(key, cfg->redis.prefix, "verdicts", NULL);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "account", account,
                              "stream", key, "source", source);
        if (a.weight != NULL)
            json_object_set_new(o, "weight", json_real(weight));
        if (a.recipients != NULL)
            json_object_set_new(o, "recipients", json_integer((json_int_t)rcpts));
        if (a.queue_id != NULL)
            json_object_set_new(o, "queue_id", json_string(a.queue_id));
        if (a.ref != NULL)
            json_object_set_new(o, "ref", json_string(a.ref));
        ctl_json_out(o, CTL_OK);
    } else {
        printf("verdict %s queued for ", id);
        ctl_put(account);
        printf("; outpostd applies it within a second\n");
    }
out:
    admin_close(adm);
    config_unref(cfg);
    return rc;
}

/* What events prints per type after time, type and account: "name" a
 * text, "name#" a number, "name@" a time (left out when 0), "name!" a
 * suspension's end (0: "reinstated").  Other types: op and by. */
static const struct {
    const char *type, *fields;
} ctl_event_fields[] = {
    { "suspended", "by until! reason note old_reason" },
    { "reinstated", "by note reason" },
    { "identity_violation", "address mode count#" },
    { "limit_reached", "limit class key max#" },
    { "class", "op by class old_class" },
    { "override", "op by limit max# old_max# until@" },
    { "override_clear", "op by limit old_max#" },
    { "reset", "op by limit deleted#" },
    { "list_add", "op by list kind value" },
    { "list_remove", "op by list kind value" },
    { "identity_add", "op by address state until@" },
    { "identity_verify", "op by address state old_state until@" },
    { "identity_grant", "op by address state old_state until@" },
    { "identity_remove", "op by address old_state" },
    { "init", "op by version#" },
};

/* The event's time: its "at", else the ms of its entry id. */
static int64_t ctl_event_at(const json_t *e)
{
    const json_t *at = json_object_get(e, "at");
    if (json_is_number(at) && json_number_value(at) > 0)
        return (int64_t)json_number_value(at);
    return (int64_t)strtoll(ctl_jstr(e, "id"), NULL, 10);
}

/* One field of an event line, as ctl_event_fields describes it. */
static void ctl_event_field(const json_t *e, const char *name, char kind)
{
    const json_t *v = json_object_get(e, name);
    char when[32];

    if (kind == '#') {
        if (json_is_number(v))
            printf("  %s: %.15g", name, json_number_value(v));
    } else if (kind == '@' || kind == '!') {
        int64_t t = json_is_number(v) ? (int64_t)json_number_value(v) : -1;
        if (t > 0) {
            ctl_when(t, when);
            printf("  %s: %s", name, when);
        } else if (t == 0 && kind == '!') {
            printf("  %s: reinstated", name);
        }
    } else if (json_is_string(v) && json_string_length(v) > 0) {
        printf("  %s: ", name);
        ctl_putn(json_string_value(v), CTL_SHOW_MAX);
    }
}

/* "2026-03-01T10:00:00Z  suspended           alice  by: support1  ..." */
static void ctl_event_line(const json_t *e)
{
    const char *type = ctl_jstr(e, "type"), *account = ctl_jstr(e, "account");
    const char *fields = "op by";
    char when[32], buf[128];

    ctl_when(ctl_event_at(e), when);
    printf("%s  ", when);
    ctl_pad(ctl_putn(type, CTL_TYPE_MAX), 20);
    ctl_putn(account[0] != '\0' ? account : "-", CTL_SHOW_MAX);
    if (strcmp(type, "verdict") == 0) {
        printf(" ");
        ctl_verdict_text(e, "verdict_id");
        putchar('\n');
        return;
    }
    for (size_t i = 0; i < sizeof ctl_event_fields / sizeof ctl_event_fields[0]; i++)
        if (strcmp(type, ctl_event_fields[i].type) == 0)
            fields = ctl_event_fields[i].fields;
    for (const char *f = fields; *f != '\0';) {
        size_t n = strcspn(f, " ");
        if (n == 0) {
            f++;
            continue;
        }
        char kind = strchr("#@!", f[n - 1]) != NULL ? f[n - 1] : '\0';
        snprintf(buf, sizeof buf, "%.*s", (int)(kind ? n - 1 : n), f);
        ctl_event_field(e, buf, kind);
        f += n + (f[n] == ' ');
    }
    if (json_object_get(e, "raw") != NULL) {
        printf("  (not JSON) ");
        ctl_putn(ctl_jstr(e, "raw"), CTL_SHOW_MAX);
    }
    putchar('\n');
}

/* A string member equal to want (byte for byte, NULs included). */
static bool ctl_jeq(const json_t *o, const char *key, const char *want)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) && json_string_length(v) == strlen(want)
           && memcmp(json_string_value(v), want, strlen(want)) == 0;
}

/* Prints the events of arr from index `from` that pass the filters
 * (NULL: any); returns how many. */
static size_t ctl_events_print(const struct ctl *ctl, const json_t *arr, size_t from,
                               const char *type, const char *account)
{
    size_t printed = 0;
    for (size_t i = from; i < json_array_size(arr); i++) {
        const json_t *e = json_array_get(arr, i);
        if ((type != NULL && !ctl_jeq(e, "type", type))
            || (account != NULL && !ctl_jeq(e, "account", account)))
            continue;
        if (ctl->json) {
            json_dumpf(e, stdout, JSON_COMPACT);
            putchar('\n');
        } else {
            ctl_event_line(e);
        }
        printed++;
    }
    fflush(stdout);
    return printed;
}

static volatile sig_atomic_t ctl_stopped;   /* SIGINT or SIGTERM in --follow */
static struct admin *ctl_follow_adm;        /* the connection they interrupt */

static void ctl_on_stop(int sig)
{
    (void)sig;
    ctl_stopped = 1;
    admin_interrupt(ctl_follow_adm);        /* ends a blocking XREAD at once */
}

/* events [--count N] [--follow] [--type T] [--account A] */
static int ctl_events(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct config *cfg = NULL;
    struct admin *adm = NULL;
    json_t *arr = NULL;
    char account[REQUEST_ACCOUNT_MAX + 1], last[ADMIN_STREAM_ID_MAX] = "0-0", err[512];
    unsigned long count = CTL_EVENTS_DEFAULT;
    enum admin_status st;
    int rc;

    if ((rc = ctl_args_parse(ctl, argc, argv, CTL_O_COUNT | CTL_O_FOLLOW | CTL_O_TYPE
                             | CTL_O_ACCOUNT, 0, 0, &a)) != CTL_OK
        || (a.count != NULL
            && (rc = ctl_uint("events: --count", a.count, ADMIN_EVENTS_MAX, &count)) != CTL_OK)
        || (a.type != NULL && (rc = ctl_text_max("--type", a.type, CTL_TYPE_MAX, false))
            != CTL_OK)
        || (rc = ctl_config(ctl, &cfg)) != CTL_OK)
        return rc;
    if ((a.account != NULL && (rc = ctl_account(cfg, a.account, account)) != CTL_OK)
        || (rc = ctl_admin(cfg, &adm)) != CTL_OK)
        goto out;
    const char *acc = a.account != NULL ? account : NULL;
    if (a.follow) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = ctl_on_stop;        /* no SA_RESTART */
        sigemptyset(&sa.sa_mask);
        ctl_follow_adm = adm;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }

    /* one more than shown when none are: the id to follow from */
    st = admin_events_last(adm, count > 0 ? count : 1, &arr, last, err, sizeof err);
    if (st != ADMIN_OK) {
        rc = ctl_stopped ? CTL_OK : ctl_fail(st, err);
        goto out;
    }
    size_t shown = ctl_events_print(ctl, arr, count > 0 ? 0 : json_array_size(arr), a.type,
                                    acc);
    json_decref(arr);
    arr = NULL;
    if (!a.follow) {
        if (shown == 0 && !ctl->json)
            printf(a.type != NULL || acc != NULL ? "no matching event among the last %lu\n"
                                                 : "no events\n", count);
        goto out;
    }
    while (!ctl_stopped) {
        st = admin_events_after(adm, CTL_FOLLOW_BLOCK_MS, CTL_FOLLOW_BATCH, &arr, last, err,
                                sizeof err);
        if (st != ADMIN_OK) {
            if (!ctl_stopped)
                rc = ctl_fail(st, err);
            break;
        }
        ctl_events_print(ctl, arr, 0, a.type, acc);
        json_decref(arr);
        arr = NULL;
    }
out:
    json_decref(arr);
    if (a.follow) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        ctl_follow_adm = NULL;
    }
    admin_close(adm);
    config_unref(cfg);
    return rc;
}

/* ---- stats: the daemon's metrics page (metrics.listen) ----------------- */

#define CTL_STATS_TIMEOUT_MS 5000
#define CTL_STATS_MAX        (1024 * 1024)      /* bytes of the response */

static int64_t ctl_ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(deadline->tv_sec - now.tv_sec) * 1000
           + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* Waits for fd to be ready for `events` until the deadline; true if so. */
static bool ctl_wait_fd(int fd, short events, const struct timespec *deadline)
{
    for (;;) {
        int64_t left = ctl_ms_left(deadline);
        if (left <= 0)
            return false;
        struct pollfd p = { fd, events, 0 };
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
}

/* GET /metrics from HOST:PORT within CTL_STATS_TIMEOUT_MS; the body of a
 * 200 response (malloc'd) or NULL with a message in err. */
static char *ctl_http_get(const char *hostport, char *err, size_t errlen)
{
    char host[256];
    const char *port;
    struct addrinfo hints, *res = NULL, *ai;
    struct timespec deadline;
    int fd = -1, rc;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += CTL_STATS_TIMEOUT_MS / 1000;
    if (config_split_hostport(hostport, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "%s: not HOST:PORT", hostport);
        return NULL;
    }
    /* a wildcard listener is reached on the loopback address */
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    else if (strcmp(host, "::") == 0)
        snprintf(host, sizeof host, "::1");
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        snprintf(err, errlen, "%s: %s", hostport, gai_strerror(rc));
        return NULL;
    }
    snprintf(err, errlen, "%s: no address", hostport);
    for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            int e = errno, soerr = 0;
            socklen_t sl = sizeof soerr;
            if (e == EINPROGRESS) {
                if (!ctl_wait_fd(fd, POLLOUT, &deadline))
                    e = ETIMEDOUT;
                else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
                    e = errno;
                else
                    e = soerr;
            }
            if (e != 0) {
                snprintf(err, errlen, "%s: %s", hostport, strerror(e));
                close(fd);
                fd = -1;
            }
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return NULL;

    static const char req[] = "GET /metrics HTTP/1.0\r\nAccept: text/plain\r\n\r\n";
    size_t off = 0, got = 0, cap = 65536;
    char *buf = NULL;
    while (off < sizeof req - 1) {
        if (!ctl_wait_fd(fd, POLLOUT, &deadline)) {
            snprintf(err, errlen, "%s: timed out sending the request", hostport);
            goto fail;
        }
        ssize_t n = write(fd, req + off, sizeof req - 1 - off);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "%s: write: %s", hostport, strerror(errno));
            goto fail;
        }
        off += (size_t)n;
    }
    if ((buf = malloc(cap + 1)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (;;) {
        if (!ctl_wait_fd(fd, POLLIN, &deadline)) {
            snprintf(err, errlen, "%s: no complete response within %d s", hostport,
                     CTL_STATS_TIMEOUT_MS / 1000);
            goto fail;
        }
        if (got == cap) {
            if (cap >= CTL_STATS_MAX + 4096) {
                snprintf(err, errlen, "%s: response larger than %d bytes", hostport,
                         CTL_STATS_MAX);
                goto fail;
            }
            cap *= 2;
            if (cap > CTL_STATS_MAX + 4096)
                cap = CTL_STATS_MAX + 4096;
            char *nb = realloc(buf, cap + 1);
            if (nb == NULL) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            buf = nb;
        }
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s: read: %s", hostport, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    if (memchr(buf, '\0', got) != NULL) {
        snprintf(err, errlen, "%s: binary response", hostport);
        free(buf);
        return NULL;
    }
    char *body = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) != 0 || strlen(buf) < 12 || body == NULL) {
        snprintf(err, errlen, "%s: not an HTTP response", hostport);
        free(buf);
        return NULL;
    }
    if (strncmp(buf + 8, " 200", 4) != 0) {
        char *eol = strpbrk(buf, "\r\n");
        *eol = '\0';
        snprintf(err, errlen, "%s: %.100s", hostport, buf);
        free(buf);
        return NULL;
    }
    if (strlen(body + 4) > CTL_STATS_MAX) {
        snprintf(err, errlen, "%s: response larger than %d bytes", hostport, CTL_STATS_MAX);
        free(buf);
        return NULL;
    }
    memmove(buf, body + 4, strlen(body + 4) + 1);
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

/* A sample value: an integer when it is one, else a real; +Inf, -Inf and
 * NaN (which JSON lacks) as strings. */
static json_t *ctl_sample_value(const char *s)
{
    char *end;
    if (strspn(s, "0123456789") == strlen(s) && strlen(s) <= 18)
        return json_integer((json_int_t)strtoll(s, NULL, 10));
    double v = strtod(s, &end);
    if (end == s || *end != '\0')
        return NULL;
    if (!isfinite(v))
        return json_string(s);
    return json_real(v);
}

/* Parses Prometheus text into {name: value} for samples without labels and
 * {name: {labels: value}} with them, where `labels` is the label's value
 * when there is one label, else the label text as sent (a="x",b="y").
 * Lines that do not parse are skipped. */
static json_t *ctl_metrics_parse(char *text)
{
    json_t *root = json_object();
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        size_t nl = strspn(line, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "0123456789_:");
        if (nl == 0)
            continue;
        char name[256], key[1024];
        if (nl >= sizeof name)
            continue;
        memcpy(name, line, nl);
        name[nl] = '\0';
        char *p = line + nl;
        bool labelled = false;
        if (*p == '{') {
            /* to the closing brace, outside quotes */
            char *q = p + 1;
            bool quoted = false;
            for (; *q != '\0' && (quoted || *q != '}'); q++) {
                if (quoted && *q == '\\' && q[1] != '\0')
                    q++;
                else if (*q == '"')
                    quoted = !quoted;
            }
            if (*q != '}' || (size_t)(q - p - 1) >= sizeof key)
                continue;
            char *eq = strchr(p + 1, '=');
            char *quote2 = NULL;
            /* one label k="v": its unescaped value */
            if (eq != NULL && eq < q && eq[1] == '"') {
                size_t k = 0;
                char *r = eq + 2;
                for (; r < q && *r != '"' && k + 1 < sizeof key; r++) {
                    if (*r == '\\' && r + 1 < q) {
                        r++;
                        key[k++] = *r == 'n' ? '\n' : *r;
                    } else {
                        key[k++] = *r;
                    }
                }
                key[k] = '\0';
                if (r < q && *r == '"')
                    quote2 = r;
            }
            if (quote2 == NULL || (quote2 + 1 != q && !(quote2[1] == ',' && quote2 + 2 == q))) {
                memcpy(key, p + 1, (size_t)(q - p - 1));     /* several labels */
                key[q - p - 1] = '\0';
            }
            labelled = true;
            p = q + 1;
        }
        p += strspn(p, " \t");
        char *ve = p + strcspn(p, " \t");
        *ve = '\0';                             /* a timestamp after it is ignored */
        json_t *v = ctl_sample_value(p);
        if (v == NULL)
            continue;
        if (!labelled) {
            json_object_set_new(root, name, v);
            continue;
        }
        json_t *o = json_object_get(root, name);
        if (!json_is_object(o)) {
            o = json_object();
            json_object_set_new(root, name, o);
        }
        json_object_set_new(o, key, v);
    }
    return root;
}

static double ctl_num(const json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        return strtod(s[0] == '+' ? s + 1 : s, NULL);
    }
    return json_number_value(v);
}

/* The q quantile of a histogram's buckets ({le: cumulative count}),
 * interpolated linearly within the bucket as Prometheus'
 * histogram_quantile() does; -1 when there are no observations. */
static double ctl_quantile(const json_t *buckets, double q)
{
    double total = 0, prev_le = 0, prev_n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)buckets, k, v)
        if (strcmp(k, "+Inf") == 0)
            total = ctl_num(v);
    if (total <= 0)
        return -1;
    double rank = q * total;
    json_object_foreach((json_t *)buckets, k, v) {
        double n = ctl_num(v);
        if (strcmp(k, "+Inf") == 0)
            return prev_le;             /* beyond the last finite bound */
        double le = strtod(k, NULL);
        if (n >= rank) {
            if (n <= prev_n)
                return le;
            return prev_le + (le - prev_le) * (rank - prev_n) / (n - prev_n);
        }
        prev_le = le;
        prev_n = n;
    }
    return prev_le;
}

/* "NAME v1, NAME v2" for every label of metric m (in the page's order). */
static void ctl_stats_labels(const json_t *root, const char *m, const char *none)
{
    const json_t *o = json_object_get(root, m);
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach((json_t *)o, k, v) {
        printf("%s", i++ > 0 ? ", " : "");
        ctl_put(k);
        printf(" %.15g", ctl_num(v));
    }
    if (i == 0)
        printf("%s", none);
    putchar('\n');
}

static double ctl_stat(const json_t *root, const char *m)
{
    return ctl_num(json_object_get(root, m));
}

static double ctl_stat_l(const json_t *root, const char *m, const char *label)
{
    return ctl_num(json_object_get(json_object_get(root, m), label));
}

struct ctl_rule { const char *name; double n; };

static int ctl_rule_cmp(const void *a, const void *b)
{
    const struct ctl_rule *x = a, *y = b;
    return x->n < y->n ? 1 : x->n > y->n ? -1 : strcmp(x->name, y->name);
}

static void ctl_stats_print(const json_t *root, const char *from)
{
    const json_t *cfg = json_object_get(root, "outpost_config_info");
    const char *hash = NULL;
    if (json_object_size(cfg) > 0)
        hash = json_object_iter_key(json_object_iter((json_t *)cfg));
    printf("outpostd metrics from %s", from);
    if (hash != NULL) {
        printf(" (config hash ");
        ctl_put(hash);
        printf(")");
    }
    printf("\n");

    double total = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(root, "outpost_requests_total"), k, v)
        total += ctl_num(v);
    printf("requests     %.15g: ", total);
    ctl_stats_labels(root, "outpost_requests_total", "none");
    printf("decisions    ");
    ctl_stats_labels(root, "outpost_decisions_total", "none");

    const json_t *rules = json_object_get(root, "outpost_rule_decisions_total");
    size_t nr = json_object_size(rules), i = 0;
    printf("top rules    ");
    if (nr == 0) {
        printf("none\n");
    } else {
        struct ctl_rule *r = calloc(nr, sizeof *r);
        if (r != NULL) {
            json_object_foreach((json_t *)rules, k, v) {
                r[i].name = k;
                r[i++].n = ctl_num(v);
            }
            qsort(r, nr, sizeof *r, ctl_rule_cmp);
            for (i = 0; i < nr && i < 5; i++) {
                printf("%s", i > 0 ? ", " : "");
                ctl_put(r[i].name);
                printf(" %.15g", r[i].n);
            }
            if (nr > 5)
                printf(" (%zu more)", nr - 5);
            putchar('\n');
            free(r);
        }
    }
    printf("failures     %.15g failure actions, %.15g protocol errors, %.15g bad requests\n",
           ctl_stat(root, "outpost_failure_actions_total"),
           ctl_stat(root, "outpost_protocol_errors_total"),
           ctl_stat(root, "outpost_bad_requests_total"));
    printf("redis        %s, state %s, %.15g connects, %.15g disconnects\n",
           ctl_stat(root, "outpost_redis_up") == 1 ? "up" : "DOWN",
           ctl_stat(root, "outpost_redis_state_lost") == 1 ? "LOST (marker missing)" : "ok",
           ctl_stat(root, "outpost_redis_connects_total"),
           ctl_stat(root, "outpost_redis_disconnects_total"));
    printf("redis calls  ");
    ctl_stats_labels(root, "outpost_redis_calls_total", "none");
    double batches = ctl_stat(root, "outpost_redis_batches_total");
    double batched = ctl_stat(root, "outpost_redis_batched_calls_total");
    if (batches > 0)
        printf("redis FCALLs %.15g for %.15g decision calls (%.3g per FCALL)\n", batches,
               batched, batched / batches);
    else
        printf("redis FCALLs none yet\n");
    printf("connections  %.15g open, %.15g refused\n", ctl_stat(root, "outpost_connections"),
           ctl_stat(root, "outpost_connections_refused_total"));
    const json_t *b = json_object_get(root, "outpost_decision_seconds_bucket");
    double p50 = ctl_quantile(b, 0.5), p99 = ctl_quantile(b, 0.99);
    if (p50 < 0)
        printf("latency      no decisions yet\n");
    else
        printf("latency      p50 %.3g ms, p99 %.3g ms (estimated from %.15g decisions)\n",
               p50 * 1e3, p99 * 1e3, ctl_stat(root, "outpost_decision_seconds_count"));
    b = json_object_get(root, "outpost_redis_seconds_bucket");
    p50 = ctl_quantile(b, 0.5);
    p99 = ctl_quantile(b, 0.99);
    if (p50 < 0)
        printf("redis rtt    no replies yet\n");
    else
        printf("redis rtt    p50 %.3g ms, p99 %.3g ms (estimated from %.15g replies)\n",
               p50 * 1e3, p99 * 1e3, ctl_stat(root, "outpost_redis_seconds_count"));
    printf("verdicts     ");
    ctl_stats_labels(root, "outpost_verdicts_total", "none");
    printf("reloads      %.15g ok, %.15g failed\n",
           ctl_stat_l(root, "outpost_config_reloads_total", "ok"),
           ctl_stat_l(root, "outpost_config_reloads_total", "failed"));
    printf("suspension cache %.15g accounts\n",
           ctl_stat(root, "outpost_suspension_cache_entries"));
}

/* stats [--metrics HOST:PORT] */
static int ctl_stats(struct ctl *ctl, int argc, char **argv)
{
    const char *ep = NULL;
    struct config *cfg = NULL;
    char err[512];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            ctl->json = true;
        } else if (strcmp(argv[i], "--metrics") == 0 && i + 1 < argc) {
            ep = argv[++i];
        } else if (strncmp(argv[i], "--metrics=", 10) == 0) {
            ep = argv[i] + 10;
        } else {
            fprintf(stderr, "outpostctl: stats: unexpected argument \"%s\"\n", argv[i]);
            return CTL_USAGE;
        }
    }
    if (ep == NULL) {
        if (config_load(ctl->config_path, &cfg, err, sizeof err) != 0) {
            fprintf(stderr, "outpostctl: %s (or give --metrics HOST:PORT)\n", err);
            return CTL_USAGE;
        }
        if (cfg->metrics_listen == NULL) {
            fprintf(stderr, "outpostctl: stats: metrics.listen is not set in %s "
                            "(or give --metrics HOST:PORT)\n", ctl->config_path);
            config_unref(cfg);
            return CTL_USAGE;
        }
        ep = cfg->metrics_listen;
    }
    char *page = ctl_http_get(ep, err, sizeof err);
    if (page == NULL) {
        fprintf(stderr, "outpostctl: stats: cannot read metrics from %s\n", err);
        config_unref(cfg);
        return CTL_UNREACHABLE;
    }
    json_t *root = ctl_metrics_parse(page);
    free(page);
    if (ctl->json) {
        json_dumpf(root, stdout, JSON_COMPACT | JSON_REAL_PRECISION(12));
        putchar('\n');
    } else {
        ctl_stats_print(root, ep);
    }
    json_decref(root);
    config_unref(cfg);
    return CTL_OK;
}

/* ---- sender identities (doc/keys.md "Sender identities") --------------- */

#define CTL_LINE_MAX  4096      /* bytes of an import line, without its newline */
#define CTL_ADOPT_MAX 100       /* addresses of one adopt */

/* s on stderr: control bytes as '?', cut after 64 bytes with "...". */
static void ctl_eput(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
        if (n == 64) {
            fputs("...", stderr);
            return;
        }
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, stderr);
    }
}

/* An address argument in normal form (identity_norm(); "@domain" only when
 * domain_ok).  CTL_OK, or CTL_USAGE with a message.  A domain grant while
 * identities.domain_grants is false is accepted with a warning. */
static int ctl_address(const struct config *cfg, const char *what, const char *in,
                       bool domain_ok, char out[IDENTITY_ADDR_MAX + 1])
{
    char err[256];
    enum identity_form f = identity_norm(cfg, in, domain_ok, out, err, sizeof err);
    if (f == IDENTITY_BAD) {
        fprintf(stderr, "outpostctl: %s: address \"", what);
        ctl_eput(in);
        fprintf(stderr, "\": %s\n", err);
        return CTL_USAGE;
    }
    if (f == IDENTITY_DOMAIN && !cfg->identities.domain_grants) {
        fprintf(stderr, "outpostctl: warning: identities.domain_grants is false: outpostd "
                        "ignores the domain grant ");
        ctl_eput(out);
        fputc('\n', stderr);
    }
    return CTL_OK;
}

/* --for of add and verify: a duration, "0s" = no expiry; -1 when absent. */
static int ctl_id_for(const char *what, const char *s, int64_t *for_ms)
{
    *for_ms = -1;
    if (s != NULL && (config_parse_duration(s, for_ms) != 0 || *for_ms < 0)) {
        fprintf(stderr, "outpostctl: %s: --for \"", what);
        ctl_eput(s);
        fprintf(stderr, "\" is not a duration (30s, 10m, 1h, 7d; 0s: no expiry)\n");
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* "until 2026-03-01T10:00:00Z" or "no expiry" (or "expired 2026-..."). */
static size_t ctl_until(const json_t *g)
{
    char when[32];
    int64_t until = ctl_jint(g, "until");
    if (until == 0)
        return (size_t)printf("no expiry");
    ctl_when(until, when);
    return (size_t)printf("%s %s", strcmp(ctl_jstr(g, "state"), "expired") == 0
                                   ? "expired" : "until", when);
}

/* One grant: "  NAME  STATE     until ...  added WHEN by BY[, verified WHEN by BY]". */
static void ctl_grant_line(const json_t *g, const char *name_key, size_t width)
{
    char when[32];
    printf("  ");
    ctl_pad(ctl_put(ctl_jstr(g, name_key)), width + 2);
    ctl_pad(ctl_put(ctl_jstr(g, "state")), 10);
    if (strcmp(ctl_jstr(g, "state"), "unreadable") == 0) {
        printf("(not a grant) ");
        ctl_put(ctl_jstr(g, "raw"));
        putchar('\n');
        return;
    }
    ctl_pad(ctl_until(g), 28);
    ctl_when(ctl_jint(g, "at"), when);
    printf("added %s by ", when);
    ctl_put(ctl_jstr(g, "by"));
    if (json_object_get(g, "verified_at") != NULL) {
        ctl_when(ctl_jint(g, "verified_at"), when);
        printf(", verified %s by ", when);
        ctl_put(ctl_jstr(g, "verified_by"));
    }
    if (json_object_get(g, "stored_state") != NULL) {
        printf(" (");
        ctl_put(ctl_jstr(g, "stored_state"));
        putchar(')');
    }
    putchar('\n');
}

/* The grants of ids or who, aligned. */
static void ctl_grant_lines(const json_t *arr, const char *name_key)
{
    size_t i, width = 0;
    const json_t *g;
    json_array_foreach(arr, i, g) {
        size_t w = ctl_width(ctl_jstr(g, name_key));
        width = w > width ? w : width;
    }
    json_array_foreach(arr, i, g)
        ctl_grant_line(g, name_key, width);
}

/* What was parsed for an identity subcommand. */
struct ctl_id {
    const char *label;          /* "identity add", for messages */
    enum admin_id_op op;        /* add, verify, remove: which */
    struct config *cfg;         /* owned */
    struct admin *adm;          /* owned; NULL until connected */
    char by[CTL_BY_MAX + 1];
    char account[REQUEST_ACCOUNT_MAX + 1];
    char address[IDENTITY_ADDR_MAX + 1];
};

/* identity add|verify|remove ACCOUNT ADDRESS */
static int ctl_id_change(struct ctl *ctl, const struct ctl_args *a, struct ctl_id *id)
{
    static const char *const names[] = { "add", "verify", "grant", "remove" };
    static const char *const done[] = { "added", "verified", "granted", "removed" };
    enum admin_id_op op = id->op;
    char err[512];
    int64_t for_ms;
    int result, rc;
    json_t *grant = NULL;

    if ((rc = ctl_id_for(id->label, a->for_, &for_ms)) != CTL_OK
        || (rc = ctl_by(a->by, id->by)) != CTL_OK
        || (rc = ctl_config(ctl, &id->cfg)) != CTL_OK
        || (rc = ctl_account(id->cfg, a->pos[0], id->account)) != CTL_OK
        || (rc = ctl_address(id->cfg, id->label, a->pos[1], true, id->address)) != CTL_OK
        || (rc = ctl_admin(id->cfg, &id->adm)) != CTL_OK)
        return rc;
    enum admin_status st = admin_identity(id->adm, op, id->account, id->address, for_ms,
                                          id->by, &result, err, sizeof err);
    if (st == ADMIN_OK && op != ADMIN_ID_REMOVE)
        st = admin_identity_get(id->adm, id->account, id->address, &grant, err, sizeof err);
    if (st != ADMIN_OK)
        return ctl_fail(st, err);
    bool refused = result == ADMIN_ID_NONE || (op == ADMIN_ID_ADD
                                               && result == ADMIN_ID_UNCHANGED);
    rc = refused ? CTL_REFUSED : CTL_OK;
    if (ctl->json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s}", "account", id->account,
                              "address", id->address, "op", names[op],
                              "changed", result == ADMIN_ID_CHANGED, "by", id->by);
        if (refused)
            json_object_set_new(o, "error", json_string(result == ADMIN_ID_NONE
                                                        ? "no such grant"
                                                        : "already granted"));
        if (op != ADMIN_ID_REMOVE)
            json_object_set_new(o, "grant", grant != NULL ? json_incref(grant) : json_null());
        ctl_json_out(o, rc);
    } else if (result == ADMIN_ID_NONE) {
        fprintf(stderr, "outpostctl: %s: ", id->label);
        ctl_eput(id->account);
        fprintf(stderr, " has no grant of ");
        ctl_eput(id->address);
        fprintf(stderr, "%s\n", op == ADMIN_ID_VERIFY ? " (add it first)" : "");
    } else if (refused) {
        fprintf(stderr, "outpostctl: %s: already granted: ", id->label);
        ctl_eput(id->account);
        fprintf(stderr, " holds ");
        ctl_eput(id->address);
        fprintf(stderr, " (%s)\n", ctl_jstr(grant, "state"));
    } else {
        ctl_put(id->account);
        printf(": ");
        ctl_put(id->address);
        if (result == ADMIN_ID_UNCHANGED)
            printf(" unchanged (%s, ", ctl_jstr(grant, "state"));
        else
            printf(" %s (", done[op]);
        if (op == ADMIN_ID_REMOVE) {
            printf("no longer authorized)\n");
        } else {
            ctl_until(grant);
            printf(")%s\n", strcmp(ctl_jstr(grant, "state"), "pending") == 0
                            ? "; not authorized until verified" : "");
        }
    }
    json_decref(grant);
    return rc;
}

/* identity list ACCOUNT, identity who ADDRESS */
static int ctl_id_read(struct ctl *ctl, const struct ctl_args *a, struct ctl_id *id,
                       bool who)
{
    char err[512];
    json_t *res = NULL;
    int rc;

    if ((rc = ctl_config(ctl, &id->cfg)) != CTL_OK
        || (rc = who ? ctl_address(id->cfg, id->label, a->pos[0], true, id->address)
                     : ctl_account(id->cfg, a->pos[0], id->account)) != CTL_OK
        || (rc = ctl_admin(id->cfg, &id->adm)) != CTL_OK)
        return rc;
    enum admin_status st = who ? admin_identity_who(id->adm, id->address, &res, err,
                                                    sizeof err)
                               : admin_identity_list(id->adm, id->account, &res, err,
                                                     sizeof err);
    if (st != ADMIN_OK)
        return ctl_fail(st, err);
    if (ctl->json)
        return ctl_json_out(res, CTL_OK);
    const json_t *arr = json_object_get(res, who ? "accounts" : "identities");
    size_t n = json_array_size(arr);
    ctl_put(who ? id->address : id->account);
    if (n == 0)
        printf(who ? ": granted to no account\n" : ": no identities\n");
    else if (who)
        printf(": granted to %zu account%s\n", n, n == 1 ? "" : "s");
    else
        printf(": %zu identit%s\n", n, n == 1 ? "y" : "ies");
    ctl_grant_lines(arr, who ? "account" : "address");
    json_decref(res);
    return CTL_OK;
}

static int ctl_id_list(struct ctl *ctl, const struct ctl_args *a, struct ctl_id *id)
{
    return ctl_id_read(ctl, a, id, false);
}

static int ctl_id_who(struct ctl *ctl, const struct ctl_args *a, struct ctl_id *id)
{
    return ctl_id_read(ctl, a, id, true);
}

/* identity observed [ACCOUNT] */
static int ctl_id_observed(struct ctl *ctl, const struct ctl_args *a, struct ctl_id *id)
{
    char err[512], when[32];
    json_t *res = NULL, *acc;
    size_t i;
    int rc;

    if ((rc = ctl_config(ctl, &id->cfg)) != CTL_OK
        || (a->npos == 1 && (rc = ctl_account(id->cfg, a->pos[0], id->account)) != CTL_OK)
        || (rc = ctl_admin(id->cfg, &id->adm)) != CTL_OK)
        return rc;
    enum admin_status st = admin_identity_observed(id->adm, a->npos == 1 ? id->account
                                                                        : NULL,
                                                   &res, err, sizeof err);
    if (st != ADMIN_OK)
        return ctl_fail(st, err);
    if (ctl->json)
        return ctl_json_out(res, CTL_OK);
    const json_t *list = json_object_get(res, "observed");
    if (json_array_size(list) == 0) {
        if (a->npos == 1) {
            ctl_put(id->account);
            printf(": ");
        }
        printf("no observed sender addresses\n");
    }
    json_array_foreach(list, i, acc) {
        const json_t *addrs = json_object_get(acc, "addresses"), *e;
        size_t j, width = 0, n = json_array_size(addrs);
        ctl_put(ctl_jstr(acc, "account"));
        ctl_when(ctl_jint(acc, "last"), when);
        printf(": %zu address%s", n, n == 1 ? "" : "es");
        if (n > 0)
            printf(", last %s", when);
        if (ctl_jint(acc, "overflow") > 0)
            printf(" (%lld more uses not recorded: identities.observed_max)",
                   (long long)ctl_jint(acc, "overflow"));
        putchar('\n');
        json_array_foreach(addrs, j, e) {
            size_t w = ctl_width(ctl_jstr(e, "address"));
            width = w > width ? w : width;
        }
        json_array_foreach(addrs, j, e) {
            char first[32];
            printf("  ");
            ctl_pad(ctl_put(ctl_jstr(e, "address")), width + 2);
            ctl_when(ctl_jint(e, "first"), first);
            ctl_when(ctl_jint(e, "last"), when);
            printf("%6lld use%s  first %s  last %s\n", (long long)ctl_jint(e, "count"),
                   ctl_jint(e, "count") == 1 ? " " : "s", first, when);
        }
    }
    if (ctl_jint(res, "pruned") > 0)
        printf("(%lld index entr%s without a record removed)\n",
               (long long)ctl_jint(res, "pruned"), ctl_jint(res, "pruned") == 1 ? "y" : "ies");
    json_decref(res);
    return CTL_OK;
}

/* identity adopt ACCOUNT [ADDRESS...] [--verified] */
static int ctl_id_adopt(struct ctl *ctl, const struct ctl_args *a, struct ctl_id *id)
{
    char err[512], nerr[256];
    char (*addrs)[IDENTITY_ADDR_MAX + 1] = NULL;
    json_t *res = NULL, *e, *out = NULL;
    size_t n = 0, i;
    int rc;

    if ((rc = ctl_by(a->by, id->by)) != CTL_OK
        || (rc = ctl_config(ctl, &id->cfg)) != CTL_OK
        || (rc = ctl_account(id->cfg, a->pos[0], id->account)) != CTL_OK)
        return rc;
    /* the addresses given (at most CTL_ADOPT_MAX), checked before connecting */
    if ((addrs = malloc((size_t)a->npos * sizeof *addrs)) == NULL) {
        fprintf(stderr, "outpostctl: out of memory\n");
        return CTL_USAGE;
    }
    for (int k = 1; k < a->npos; k++)
        if ((rc = ctl_address(id->cfg, id->label, a->pos[k], false, addrs[n++])) != CTL_OK)
            goto out;
    if ((rc = ctl_admin(id->cfg, &id->adm)) != CTL_OK)
        goto out;
    enum admin_status st = admin_identity_observed(id->adm, id->account, &res, err,
                                                   sizeof err);
    if (st != ADMIN_OK) {
        rc = ctl_fail(st, err);
        goto out;
    }
    const json_t *observed = json_object_get(json_array_get(json_object_get(res, "observed"),
                                                            0), "addresses");
    out = json_pack("{s:s, s:s, s:s, s:[], s:[]}", "account", id->account, "state",
                    a->verified ? "verified" : "pending", "by", id->by, "adopted",
                    "skipped");
    if (n == 0) {
        /* every observed address (at most identities.observed_max) that is
         * in normal form under this configuration */
        free(addrs);
        if ((addrs = malloc((json_array_size(observed) + 1) * sizeof *addrs)) == NULL) {
            fprintf(stderr, "outpostctl: out of memory\n");
            rc = CTL_USAGE;
            goto out;
        }
        json_array_foreach(observed, i, e) {
            const char *s = ctl_jstr(e, "address");
            if (identity_norm(id->cfg, s, false, addrs[n], nerr, sizeof nerr)
                    == IDENTITY_ADDRESS && strcmp(addrs[n], s) == 0) {
                n++;
                continue;
            }
            fprintf(stderr, "outpostctl: %s: warning: skipped observed \"", id->label);
            ctl_eput(s);
            fprintf(stderr, "\": not an address in normal form under this configuration\n");
            json_array_append_new(json_object_get(out, "skipped"), json_string(s));
        }
        if (n == 0) {
            fprintf(stderr, "outpostctl: %s: ", id->label);
            ctl_eput(id->account);
            fprintf(stderr, " has no observed sender addresses%s\n",
                    json_array_size(observed) > 0 ? " that can be adopted" : "");
            rc = CTL_REFUSED;
            goto out;
        }
    } else {
        /* each must have been observed; else nothing is changed */
        bool all = true;
        for (size_t k = 0; k < n; k++) {
            bool seen = false;
            json_array_foreach(observed, i, e)
                seen = seen || strcmp(ctl_jstr(e, "address"), addrs[k]) == 0;
            if (!seen) {
                fprintf(stderr, "outpostctl: %s: ", id->label);
                ctl_eput(id->account);
                fprintf(stderr, " was not observed sending as ");
                ctl_eput(addrs[k]);
                fputc('\n', stderr);
                all = false;
            }
        }
        if (!all) {
            fprintf(stderr, "outpostctl: %s: nothing adopted\n", id->label);
            rc = CTL_REFUSED;
            goto out;
        }
    }
    for (size_t k = 0; k < n; k++) {
        int result;
        st = admin_identity(id->adm, a->verified ? ADMIN_ID_GRANT : ADMIN_ID_ADD,
                            id->account, addrs[k], -1, id->by, &result, err, sizeof err);
        if (st != ADMIN_OK) {
            rc = ctl_fail(st, err);
            goto out;
        }
        json_array_append_new(json_object_get(out, "adopted"),
                              json_pack("{s:s, s:b}", "address", addrs[k], "changed",
                                        result == ADMIN_ID_CHANGED));
        if (!ctl->json) {
            ctl_put(id->account);
            printf(": ");
            ctl_put(addrs[k]);
            if (result == ADMIN_ID_CHANGED)
                printf(" adopted (%s)\n", a->verified ? "verified"
                                                      : "pending; verify to authorize");
            else
                printf(" already granted; no longer listed as observed\n");
        }
    }
    if (ctl->json) {
        ctl_json_out(out, CTL_OK);
        out = NULL;
    }
    rc = CTL_OK;
out:
    json_decref(out);
    json_decref(res);
    free(addrs);
    return rc;
}

/* One line of f into buf (NUL-terminated, without its newline and a CR
 * before it); the rest of a line longer than CTL_LINE_MAX bytes is read and
 * dropped.  Returns the line's length, -1 at the end of the file; *bad
 * names what is wrong with the line (NULL when nothing is). */
static long ctl_getline(FILE *f, char buf[CTL_LINE_MAX + 2], const char **bad)
{
    size_t len = 0;
    bool cut = false;
    int c;

    *bad = NULL;
    while ((c = getc_unlocked(f)) != EOF && c != '\n') {
        if (c == '\0')
            *bad = "contains a NUL byte";
        if (len < CTL_LINE_MAX + 1)
            buf[len++] = (char)c;
        else
            cut = true;
    }
    if (c == EOF && len == 0)
        return -1;
    if (!cut && len > 0 && buf[len - 1] == '\r')
        len--;
    if (cut || len > CTL_LINE_MAX)
        *bad = "longer than 4096 bytes";
    buf[len] = '\0';
    return (long)len;
}

/* The state of a bulk import. */
struct ctl_import {
    const char *name;           /* the file as given, "-" for stdin */
    struct admin_id_item items[ADMIN_ID_BATCH];     /* borrow from bufs */
    struct {
        char account[REQUEST_ACCOUNT_MAX + 1];
        char address[IDENTITY_ADDR_MAX + 1];
        long line;
    } bufs[ADMIN_ID_BATCH];
    size_t n;                   /* items waiting to be sent */
    long   granted, unchanged, bad, lines;
    long   failed_line;         /* 0, or the line Redis failed on */
    char   err[512];            /* why */
};

/* Sends the waiting items as one pipeline; ADMIN_OK or the failure. */
static enum admin_status ctl_import_flush(struct ctl_import *im, struct admin *adm,
                                          const char *by)
{
    size_t failed;
    enum admin_status st = ADMIN_OK;

    if (im->n == 0)
        return ADMIN_OK;
    st = admin_identity_batch(adm, im->items, im->n, by, &failed, im->err,
                              sizeof im->err);
    for (size_t i = 0; i < im->n; i++) {
        if (im->items[i].result == ADMIN_ID_CHANGED)
            im->granted++;
        else if (im->items[i].result == ADMIN_ID_UNCHANGED)
            im->unchanged++;
    }
    if (st != ADMIN_OK)
        im->failed_line = im->bufs[failed < im->n ? failed : im->n - 1].line;
    im->n = 0;
    return st;
}

/* A bad line: "FILE:LINE: reason" on stderr. */
static void ctl_import_bad(struct ctl_import *im, long line, const char *what,
                           const char *why)
{
    fprintf(stderr, "%s:%ld: %s%s\n", strcmp(im->name, "-") == 0 ? "<stdin>" : im->name,
            line, what, why);
    im->bad++;
}

/* identity import [FILE|-] */
static int ctl_id_import(struct ctl *ctl, const struct ctl_args *a, struct ctl_id *id)
{
    char line[CTL_LINE_MAX + 2], err[256];
    struct ctl_import *im;
    FILE *f = stdin;
    const char *bad;
    bool warned = false;
    long lineno = 0;
    int rc;

    if ((rc = ctl_by(a->by, id->by)) != CTL_OK
        || (rc = ctl_config(ctl, &id->cfg)) != CTL_OK)
        return rc;
    const char *name = a->npos == 1 ? a->pos[0] : "-";
    if (strcmp(name, "-") != 0 && (f = fopen(name, "r")) == NULL) {
        fprintf(stderr, "outpostctl: %s: %s: %s\n", id->label, name, strerror(errno));
        return CTL_USAGE;
    }
    if ((im = calloc(1, sizeof *im)) == NULL) {
        fprintf(stderr, "outpostctl: out of memory\n");
        if (f != stdin)
            fclose(f);
        return CTL_USAGE;
    }
    im->name = name;
    enum admin_status st = (enum admin_status)ctl_admin(id->cfg, &id->adm);
    while (st == ADMIN_OK && ctl_getline(f, line, &bad) >= 0) {
        char *field[4], *save = NULL;
        int nf = 0;
        lineno++;
        if (bad != NULL) {
            im->lines++;
            ctl_import_bad(im, lineno, bad, "");
            continue;
        }
        for (char *t = strtok_r(line, " \t", &save); t != NULL && nf < 4;
             t = strtok_r(NULL, " \t", &save))
            field[nf++] = t;
        if (nf == 0 || field[0][0] == '#')
            continue;
        im->lines++;
        if (nf < 2 || nf > 3) {
            ctl_import_bad(im, lineno, nf < 2 ? "want ACCOUNT ADDRESS [verified]"
                                              : "more than three fields", "");
            continue;
        }
        if (nf == 3 && strcmp(field[2], "verified") != 0) {
            ctl_import_bad(im, lineno, "the third field is not \"verified\"", "");
            continue;
        }
        struct admin_id_item *it = &im->items[im->n];
        if (admin_account_norm(id->cfg, field[0], im->bufs[im->n].account, err,
                               sizeof err) != ADMIN_OK) {
            ctl_import_bad(im, lineno, "account: ", err);
            continue;
        }
        enum identity_form form = identity_norm(id->cfg, field[1], true,
                                                im->bufs[im->n].address, err, sizeof err);
        if (form == IDENTITY_BAD) {
            ctl_import_bad(im, lineno, "address: ", err);
            continue;
        }
        if (form == IDENTITY_DOMAIN && !id->cfg->identities.domain_grants && !warned) {
            fprintf(stderr, "outpostctl: warning: identities.domain_grants is false: "
                            "outpostd ignores domain grants (first at line %ld)\n", lineno);
            warned = true;
        }
        it->account = im->bufs[im->n].account;
        it->address = im->bufs[im->n].address;
        it->verified = nf == 3;
        im->bufs[im->n++].line = lineno;
        if (im->n == ADMIN_ID_BATCH)
            st = ctl_import_flush(im, id->adm, id->by);
    }
    if (st == ADMIN_OK)
        st = ctl_import_flush(im, id->adm, id->by);
    bool rerr = ferror(f) != 0;
    if (f != stdin)
        fclose(f);
    if (id->adm == NULL) {                   /* not connected: ctl_admin said why */
        free(im);
        return (int)st;
    }
    if (st != ADMIN_OK)
        fprintf(stderr, "%s:%ld: %s; import stopped\n", strcmp(name, "-") == 0
                ? "<stdin>" : name, im->failed_line, im->err);
    else if (rerr)
        fprintf(stderr, "outpostctl: %s: %s: read error\n", id->label, name);
    rc = st != ADMIN_OK ? (int)st : rerr ? CTL_USAGE : im->bad > 0 ? CTL_REFUSED : CTL_OK;
    if (ctl->json) {
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "file", name,
                              "lines", (json_int_t)im->lines, "granted",
                              (json_int_t)im->granted, "unchanged", (json_int_t)im->unchanged,
                              "bad", (json_int_t)im->bad, "by", id->by);
        if (st != ADMIN_OK) {
            json_object_set_new(o, "error", json_string(im->err));
            json_object_set_new(o, "failed_line", json_integer(im->failed_line));
        }
        ctl_json_out(o, rc);
    } else {
        printf("%ld granted, %ld unchanged, %ld bad line%s%s\n", im->granted,
               im->unchanged, im->bad, im->bad == 1 ? "" : "s",
               st != ADMIN_OK ? " (stopped early)" : "");
    }
    free(im);
    return rc;
}

/* The identity subcommands: options, positional arguments, what runs. */
static const struct {
    const char *name, *label;   /* "add", "identity add" (for messages) */
    unsigned    opts;           /* CTL_O_* */
    int         min, max;       /* positional arguments */
    int       (*run)(struct ctl *, const struct ctl_args *, struct ctl_id *);
    enum admin_id_op op;        /* of ctl_id_change */
} ctl_id_subs[] = {
    { "add", "identity add", CTL_O_FOR | CTL_O_BY, 2, 2, ctl_id_change, ADMIN_ID_ADD },
    { "verify", "identity verify", CTL_O_FOR | CTL_O_BY, 2, 2, ctl_id_change,
      ADMIN_ID_VERIFY },
    { "remove", "identity remove", CTL_O_BY, 2, 2, ctl_id_change, ADMIN_ID_REMOVE },
    { "list", "identity list", 0, 1, 1, ctl_id_list, ADMIN_ID_ADD },
    { "who", "identity who", 0, 1, 1, ctl_id_who, ADMIN_ID_ADD },
    { "observed", "identity observed", 0, 0, 1, ctl_id_observed, ADMIN_ID_ADD },
    { "adopt", "identity adopt", CTL_O_BY | CTL_O_VERIFIED, 1, 1 + CTL_ADOPT_MAX,
      ctl_id_adopt, ADMIN_ID_ADD },
    { "import", "identity import", CTL_O_BY, 0, 1, ctl_id_import, ADMIN_ID_ADD },
};
#define CTL_ID_SUBS (sizeof ctl_id_subs / sizeof ctl_id_subs[0])

/* identity SUBCOMMAND ... */
static int ctl_identity(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct ctl_id id;
    char label[32];
    size_t s = 0;
    int i = 1, rc;

    while (i < argc && strcmp(argv[i], "--json") == 0) {
        ctl->json = true;
        i++;
    }
    while (i < argc && s < CTL_ID_SUBS && strcmp(argv[i], ctl_id_subs[s].name) != 0)
        s++;
    if (i == argc || s == CTL_ID_SUBS) {
        fprintf(stderr, "outpostctl: identity: want add, verify, remove, list, who, "
                        "observed, adopt or import\n");
        ctl_usage(stderr);
        return CTL_USAGE;
    }
    /* parsed as a command of its own whose name is "identity SUB" */
    snprintf(label, sizeof label, "%s", ctl_id_subs[s].label);
    char **av = malloc((size_t)(argc - i) * sizeof *av);
    if (av == NULL) {
        fprintf(stderr, "outpostctl: out of memory\n");
        return CTL_USAGE;
    }
    av[0] = label;
    for (int k = i + 1; k < argc; k++)
        av[k - i] = argv[k];
    rc = ctl_args_parse(ctl, argc - i, av, ctl_id_subs[s].opts, ctl_id_subs[s].min,
                        ctl_id_subs[s].max, &a);
    free(av);
    if (rc != CTL_OK)
        return rc;
    memset(&id, 0, sizeof id);
    id.label = ctl_id_subs[s].label;
    id.op = ctl_id_subs[s].op;
    rc = ctl_id_subs[s].run(ctl, &a, &id);
    admin_close(id.adm);
    config_unref(id.cfg);
    return rc;
}

static const struct {
    const char *name;
    int (*run)(struct ctl *ctl, int argc, char **argv);
} ctl_commands[] = {
    { "show", ctl_show }, { "suspend", ctl_suspend }, { "reinstate", ctl_reinstate },
    { "suspended", ctl_suspended }, { "allow", ctl_list }, { "deny", ctl_list },
    { "init", ctl_init }, { "class", ctl_class }, { "override", ctl_override },
    { "reset", ctl_reset }, { "stats", ctl_stats }, { "identity", ctl_identity },
    { "verdict", ctl_verdict }, { "events", ctl_events },
};

int main(int argc, char **argv)
{
    struct ctl ctl = { CONFIG_DEFAULT_PATH, false };
    int i = 1;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            ctl.config_path = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            ctl.json = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            ctl_usage(stdout);
            return CTL_OK;
        } else {
            ctl_usage(stderr);
            return CTL_USAGE;
        }
    }
    if (i == argc) {
        ctl_usage(stderr);
        return CTL_USAGE;
    }
    if (strcmp(argv[i], "check-config") == 0)
        return ctl_check_config(&ctl, argc - i, argv + i);
    if (strcmp(argv[i], "query") == 0)
        return ctl_query(&ctl, argc - i, argv + i);
    for (size_t c = 0; c < sizeof ctl_commands / sizeof ctl_commands[0]; c++)
        if (strcmp(argv[i], ctl_commands[c].name) == 0)
            return ctl_commands[c].run(&ctl, argc - i, argv + i);
    fprintf(stderr, "outpostctl: unknown command \"%s\"\n", argv[i]);
    ctl_usage(stderr);
    return CTL_USAGE;
}
