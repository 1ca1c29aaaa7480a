/* ctl.c - outpostctl, the admin CLI (SPEC §8).
 *
 *   outpostctl [-c FILE] [--json] COMMAND ...
 *     check-config [FILE]                 validate a configuration file
 *     query [--socket EP] NAME=VALUE...   send one policy request to a
 *                                         running outpostd, print the action
 *     suspend, reinstate, suspended, allow|deny add|remove|list, show, init
 *                                         Redis administration (admin.c)
 *
 * Exit codes (a contract for scripts): 0 done (query: the answer lets the
 * mail through), 1 refused (query: REJECT, DEFER, HOLD, 4xx or 5xx) or not
 * found (reinstate of an account that is not suspended, add of an entry
 * already present, remove of an absent one), 2 usage or configuration
 * error, 3 the service is unreachable (query: outpostd; the Redis
 * commands: Redis down, timed out, or AUTH refused).
 *
 * The query client is plain blocking POSIX I/O with a 10 s timeout: it sends
 * one request, reads one reply (at most CTL_REPLY_MAX bytes) and closes.
 * The Redis commands load the configuration, check their arguments (before
 * any connection), open one admin connection (admin.h), make one change or
 * read, print it (human text, or one JSON value with --json) and close;
 * every state change goes through the outpost Functions, so its audit
 * entry and event are written by Redis.  Text read back from Redis is
 * printed with control bytes escaped. */
#include <errno.h>
#include <netdb.h>
#include <pwd.h>
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
        "  show ACCOUNT                         suspension and audit trail\n"
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
        "--by defaults to $SUDO_USER, else the invoking user.\n"
        "exit: 0 done, 1 refused or not found (reinstate: not suspended; add:\n"
        "      already present; remove: not present), 2 usage/configuration error,\n"
        "      3 service unreachable (outpostd; Redis down or AUTH refused)\n");
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
#define CTL_POS_MAX  4

struct ctl_args {
    const char *reason, *for_, *by, *note;     /* NULL when not given */
    const char *pos[CTL_POS_MAX];              /* positional, after the command */
    int         npos;
};

/* Splits argv (argv[0] the command) into the options in `allowed`
 * ("--name VALUE" or "--name=VALUE", anywhere; "--json" too; "--" ends the
 * options) and min..max positional arguments.  CTL_OK or CTL_USAGE. */
static int ctl_args_parse(struct ctl *ctl, int argc, char **argv, unsigned allowed,
                          int min, int max, struct ctl_args *a)
{
    const struct { const char *name; unsigned bit; const char **dst; } opts[] = {
        { "reason", CTL_O_REASON, &a->reason }, { "for", CTL_O_FOR, &a->for_ },
        { "by", CTL_O_BY, &a->by }, { "note", CTL_O_NOTE, &a->note },
    };
    bool options = true;

    a->reason = a->for_ = a->by = a->note = NULL;
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

/* One audit entry: "2026-03-01T10:00:00Z  suspend    by support1  reason: ..." */
static void ctl_audit_line(const json_t *e)
{
    static const char *const details[] = { "reason", "note", "old_reason" };
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
    printf(" by ");
    ctl_put(ctl_jstr(e, "by"));
    if (json_object_get(e, "until") != NULL && strcmp(ctl_jstr(e, "op"), "suspend") == 0) {
        int64_t until = ctl_jint(e, "until");
        ctl_when(until, when);
        printf("  until %s", until == 0 ? "reinstated" : when);
    }
    for (size_t i = 0; i < sizeof details / sizeof details[0]; i++) {
        const char *v = ctl_jstr(e, details[i]);
        if (v[0] != '\0') {
            printf("  %s: ", details[i]);
            ctl_put(v);
        }
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

static const struct {
    const char *name;
    int (*run)(struct ctl *ctl, int argc, char **argv);
} ctl_commands[] = {
    { "show", ctl_show }, { "suspend", ctl_suspend }, { "reinstate", ctl_reinstate },
    { "suspended", ctl_suspended }, { "allow", ctl_list }, { "deny", ctl_list },
    { "init", ctl_init },
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
