/* server.c - listeners (see server.h).
 *
 * Ownership: the server owns its listener array and the handles in it, the
 * conn_set (and through it every connection) and the drain timer.  It
 * frees nothing a callback may still touch: server_free() runs only after
 * uv_run() has returned or before anything was started. */
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "log.h"
#include "server.h"
#include "xalloc.h"

struct listener {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t    tcp;
        uv_pipe_t   pipe;
    } h;
    struct server *srv;
    bool           tcp;
    bool           open;        /* the handle was initialised */
    char          *path;        /* owned; the UNIX socket we created, or NULL */
    dev_t          dev;         /* of that socket file, to remove only ours */
    ino_t          ino;
    char           name[160];   /* "unix:/path" or "inet:[::1]:10040" */
};

struct server {
    uv_loop_t       *loop;
    struct config *const *cfg;
    struct listener *ls;        /* owned array */
    size_t           nls;
    struct conn_set  conns;
    uv_timer_t       drain;     /* running while stopping */
    bool             drain_open;
    int              closing;   /* handles whose close callback is due */
    void           (*done)(void *arg);
    void            *done_arg;
    uint64_t         refused;   /* connections refused since the last log */
    uint64_t         refused_total;
    uint64_t         refused_log_ms; /* uv_now() of that log line */
};

struct server *server_new(uv_loop_t *loop, struct config *const *cfg,
                          struct decision_env *env)
{
    struct server *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->cfg = cfg;
    conn_set_init(&s->conns, loop, cfg, env);
    return s;
}

size_t server_connections(const struct server *s)
{
    return s->conns.n;
}

uint64_t server_refused_total(const struct server *s)
{
    return s->refused_total;
}

/* Past max_connections: accept, close at once, log at most once a second. */
static void server_refuse(struct server *s, struct listener *l)
{
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t    tcp;
        uv_pipe_t   pipe;
    } *h = xmalloc(sizeof *h);
    int rc = l->tcp ? uv_tcp_init(s->loop, &h->tcp) : uv_pipe_init(s->loop, &h->pipe, 0);

    if (rc != 0) {
        free(h);
        return;
    }
    if (uv_accept(&l->h.stream, &h->stream) == 0) {
        s->refused++;
        s->refused_total++;
    }
    uv_close(&h->handle, (uv_close_cb)free);

    uint64_t now = uv_now(s->loop);
    if (s->refused > 0 && (s->refused_log_ms == 0 || now - s->refused_log_ms >= 1000)) {
        log_warn("%s: max_connections (%llu) reached: refused %llu connection%s",
                 l->name, (unsigned long long)(*s->cfg)->max_connections,
                 (unsigned long long)s->refused, s->refused == 1 ? "" : "s");
        s->refused = 0;
        s->refused_log_ms = now;
    }
}

static void server_on_connection(uv_stream_t *ls, int status)
{
    struct listener *l = ls->data;
    struct server *s = l->srv;

    if (status < 0) {
        log_err("%s: accept: %s", l->name, uv_strerror(status));
        return;
    }
    if (s->conns.draining)
        return;
    if (s->conns.n >= (*s->cfg)->max_connections) {
        server_refuse(s, l);
        return;
    }
    int rc = conn_accept(&s->conns, ls, l->tcp);
    if (rc != 0)
        log_err("%s: accept: %s", l->name, uv_strerror(rc));
}

/* Removes a stale socket file; refuses a live socket or another file. */
static int server_clear_path(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a socket; not removing it", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
        close(fd);
        snprintf(err, errlen, "%s is in use by a running process", path);
        return -1;
    }
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (fd < 0 || (e != ECONNREFUSED && e != ENOENT)) {
        snprintf(err, errlen, "%s: cannot tell whether it is in use: %s", path,
                 strerror(fd < 0 ? errno : e));
        return -1;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
        return -1;
    }
    log_notice("removed stale socket %s", path);
    return 0;
}

static int server_lookup_ids(const struct config *cfg, uid_t uid, uid_t *ouid,
                             gid_t *ogid, char *err, size_t errlen)
{
    *ouid = uid;
    *ogid = (gid_t)-1;
    if (cfg->socket.owner != NULL) {
        struct passwd *pw = getpwnam(cfg->socket.owner);
        if (pw == NULL) {
            snprintf(err, errlen, "socket.owner: no user \"%.64s\"", cfg->socket.owner);
            return -1;
        }
        *ouid = pw->pw_uid;
    }
    if (cfg->socket.group != NULL) {
        struct group *gr = getgrnam(cfg->socket.group);
        if (gr == NULL) {
            snprintf(err, errlen, "socket.group: no group \"%.64s\"", cfg->socket.group);
            return -1;
        }
        *ogid = gr->gr_gid;
    }
    return 0;
}

/* Creates the socket's directory if it is missing: mode 0750, owned by the
 * daemon's user and the socket group (SPEC §3), so that the daemon can
 * still remove and recreate its socket after dropping root. */
static int server_make_dir(const char *path, uid_t uid, gid_t gid,
                           char *err, size_t errlen)
{
    char dir[sizeof ((struct sockaddr_un *)0)->sun_path];
    struct stat st;

    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    if (stat(dir, &st) == 0)
        return 0;
    if (mkdir(dir, 0750) != 0) {
        snprintf(err, errlen, "cannot create socket directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (geteuid() == 0 && chown(dir, uid, gid) != 0) {
        snprintf(err, errlen, "chown %s: %s", dir, strerror(errno));
        return -1;
    }
    log_notice("created socket directory %s", dir);
    return 0;
}

static int server_listen_unix(struct server *s, struct listener *l,
                              const char *path, uid_t uid, gid_t gid,
                              char *err, size_t errlen)
{
    const struct config *cfg = *s->cfg;
    uid_t ouid;
    gid_t ogid;
    struct stat st;
    int rc;

    if (server_lookup_ids(cfg, uid, &ouid, &ogid, err, errlen) != 0
        || server_make_dir(path, uid, ogid == (gid_t)-1 ? gid : ogid, err, errlen) != 0
        || server_clear_path(path, err, errlen) != 0)
        return -1;
    uv_pipe_init(s->loop, &l->h.pipe, 0);
    l->open = true;
    if ((rc = uv_pipe_bind(&l->h.pipe, path)) != 0) {
        snprintf(err, errlen, "%s: bind: %s", l->name, uv_strerror(rc));
        return -1;
    }
    l->path = xstrdup(path);
    if (lstat(path, &st) == 0) {
        l->dev = st.st_dev;
        l->ino = st.st_ino;
    }
    if (chmod(path, cfg->socket.mode) != 0) {
        snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
        return -1;
    }
    if ((geteuid() == 0 || cfg->socket.owner != NULL || cfg->socket.group != NULL)
        && chown(path, geteuid() == 0 || cfg->socket.owner ? ouid : (uid_t)-1, ogid) != 0) {
        snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int server_listen_inet(struct server *s, struct listener *l,
                              const char *hostport, char *err, size_t errlen)
{
    char host[256];
    const char *port;
    struct addrinfo hints, *res = NULL;
    int rc;

    if (config_split_hostport(hostport, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "%s: bad address", l->name);
        return -1;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    /* start-up only, before the loop runs: a blocking lookup is fine */
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        snprintf(err, errlen, "%s: %s", l->name, gai_strerror(rc));
        return -1;
    }
    uv_tcp_init(s->loop, &l->h.tcp);
    l->open = true;
    rc = uv_tcp_bind(&l->h.tcp, res->ai_addr,
                     res->ai_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    freeaddrinfo(res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: bind: %s", l->name, uv_strerror(rc));
        return -1;
    }
    return 0;
}

/* "inet:127.0.0.1:10040" with the port actually bound (for port 0). */
static void server_inet_name(struct listener *l)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char host[INET6_ADDRSTRLEN];

    if (uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, host, sizeof host);
        snprintf(l->name, sizeof l->name, "inet:[%s]:%d", host, ntohs(a->sin6_port));
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, host, sizeof host);
        snprintf(l->name, sizeof l->name, "inet:%s:%d", host, ntohs(a->sin_port));
    }
}

static void server_on_closed(uv_handle_t *h);

static void server_close_listeners(struct server *s)
{
    for (size_t i = 0; i < s->nls; i++) {
        struct listener *l = &s->ls[i];
        struct stat st;
        if (l->path != NULL) {
            /* remove the file only if it is still the socket we made */
            if (lstat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino
                && unlink(l->path) != 0)
                log_warn("cannot remove %s: %s", l->path, strerror(errno));
            free(l->path);
            l->path = NULL;
        }
        if (l->open) {
            l->open = false;
            s->closing++;
            uv_close(&l->h.handle, server_on_closed);
        }
    }
}

int server_listen(struct server *s, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    const struct config *cfg = *s->cfg;

    s->ls = xcalloc(cfg->listen.n, sizeof *s->ls);
    s->nls = cfg->listen.n;
    for (size_t i = 0; i < s->nls; i++) {
        struct listener *l = &s->ls[i];
        const char *e = cfg->listen.v[i];
        int rc;

        l->srv = s;
        l->h.handle.data = l;
        snprintf(l->name, sizeof l->name, "%s", e);
        if (strncmp(e, "unix:", 5) == 0) {
            rc = server_listen_unix(s, l, e + 5, uid, gid, err, errlen);
        } else if (strncmp(e, "inet:", 5) == 0) {
            l->tcp = true;
            rc = server_listen_inet(s, l, e + 5, err, errlen);
        } else {
            snprintf(err, errlen, "listen: unknown endpoint \"%.64s\"", e);
            rc = -1;
        }
        l->h.handle.data = l;
        if (rc == 0 && (rc = uv_listen(&l->h.stream, 511, server_on_connection)) != 0)
            snprintf(err, errlen, "%s: listen: %s", l->name, uv_strerror(rc));
        if (rc != 0) {
            server_close_listeners(s);
            return -1;
        }
        if (l->tcp)
            server_inet_name(l);
        log_notice("listening on %s", l->name);
    }
    return 0;
}

static void server_maybe_done(struct server *s)
{
    if (s->closing > 0 || s->conns.n > 0 || s->drain_open || s->done == NULL)
        return;
    void (*done)(void *) = s->done;
    s->done = NULL;
    done(s->done_arg);
}

static void server_on_closed(uv_handle_t *h)
{
    struct server *s = h->type == UV_TIMER ? h->data
                                           : ((struct listener *)h->data)->srv;
    s->closing--;
    server_maybe_done(s);
}

static void server_on_empty(struct conn_set *set)
{
    struct server *s = set->data;
    if (s->drain_open) {
        s->drain_open = false;
        s->closing++;
        uv_close((uv_handle_t *)&s->drain, server_on_closed);
    }
}

static void server_on_drain_timeout(uv_timer_t *t)
{
    struct server *s = t->data;
    log_warn("%zu connection%s still busy after %d ms; closing", s->conns.n,
             s->conns.n == 1 ? "" : "s", SERVER_DRAIN_MS);
    conn_set_close_all(&s->conns, "shutting down");
}

void server_stop(struct server *s, void (*done)(void *arg), void *arg)
{
    s->done = done;
    s->done_arg = arg;
    server_close_listeners(s);
    uv_timer_init(s->loop, &s->drain);
    s->drain.data = s;
    s->drain_open = true;
    uv_timer_start(&s->drain, server_on_drain_timeout, SERVER_DRAIN_MS, 0);
    s->conns.data = s;
    s->conns.on_empty = server_on_empty;
    conn_set_drain(&s->conns);
}

void server_free(struct server *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nls; i++)
        free(s->ls[i].path);
    free(s->ls);
    free(s);
}
