/* ctl.c - outpostctl, the admin CLI (SPEC §8).
 *
 *   outpostctl [-c FILE] [--json] COMMAND ...
 *     check-config [FILE]                 validate a configuration file
 *     query [--socket EP] NAME=VALUE...   send one policy request to a
 *                                         running outpostd, print the action
 *
 * Exit codes (a contract for scripts): 0 done (query: the answer lets the
 * mail through), 1 refused (query: REJECT, DEFER, HOLD, 4xx or 5xx) or not
 * found, 2 usage or configuration error, 3 the service is unreachable
 * (query: outpostd; later commands: Redis).
 *
 * The query client is plain blocking POSIX I/O with a 10 s timeout: it sends
 * one request, reads one reply (at most CTL_REPLY_MAX bytes) and closes. */
#include <errno.h>
#include <netdb.h>
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

#include "config.h"
#include "protocol.h"

#define CTL_OK          0
#define CTL_REFUSED     1
#define CTL_USAGE       2
#define CTL_UNREACHABLE 3

#define CTL_REPLY_MAX   4096
#define CTL_TIMEOUT_S   10
#define CTL_ATTRS_MAX   64

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
        "exit: 0 done, 1 refused or not found, 2 usage/configuration error,\n"
        "      3 service unreachable\n");
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

        if (hp[0] == '[') {
            const char *end = strchr(hp, ']');
            if (end == NULL || end[1] != ':' || (size_t)(end - hp) > sizeof host) {
                snprintf(err, errlen, "%s: bad endpoint", ep);
                return -1;
            }
            snprintf(host, sizeof host, "%.*s", (int)(end - hp - 1), hp + 1);
            port = end + 2;
        } else {
            const char *colon = strrchr(hp, ':');
            if (colon == NULL || (size_t)(colon - hp) >= sizeof host) {
                snprintf(err, errlen, "%s: bad endpoint", ep);
                return -1;
            }
            snprintf(host, sizeof host, "%.*s", (int)(colon - hp), hp);
            port = colon + 1;
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
    fprintf(stderr, "outpostctl: unknown command \"%s\"\n", argv[i]);
    ctl_usage(stderr);
    return CTL_USAGE;
}
