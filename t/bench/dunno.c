/* dunno.c - the protocol floor: a policy server that answers DUNNO.
 *
 *   dunno unix:PATH|inet:HOST:PORT [--max-connections N]
 *
 * It speaks only the framing of the Postfix policy protocol (REFERENCE
 * §1.1): every request, ended by an empty line, gets "action=DUNNO\n\n";
 * the attributes are not even looked at.  policybench against it measures
 * the cost of the client, the socket and one libuv round trip, the floor
 * below which no policy server can go on this machine.
 *
 * Bounds, as a real server has them: a line of at most DUNNO_LINE_MAX
 * bytes, a request of at most DUNNO_REQUEST_MAX, at most DUNNO_OUTPUT_MAX
 * unsent reply bytes per connection (a client that does not read is
 * closed), at most --max-connections connections (default 100000; past it
 * a new one is closed at once).  Requests that arrive together (a client
 * that pipelines, which Postfix never does) get their replies in one write.
 *
 * It prints "dunno: listening on ENDPOINT" on stdout once it accepts
 * connections (with the real port for inet:HOST:0), and on SIGTERM or
 * SIGINT closes everything, removes its UNIX socket and exits 0.  A stale
 * socket file at PATH is replaced; any other file there is an error. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#define DUNNO_LINE_MAX     8192
#define DUNNO_REQUEST_MAX  65536
#define DUNNO_OUTPUT_MAX   65536
#define DUNNO_READ_MAX     65536         /* bytes of one read */

static const char reply[] = "action=DUNNO\n\n";
#define REPLY_LEN (sizeof reply - 1)
#define REPLIES_BLOCK 64                 /* replies written with one buffer */

struct server;

struct client {
    union {
        uv_handle_t h;
        uv_stream_t s;
        uv_pipe_t   pipe;
        uv_tcp_t    tcp;
    } u;
    struct server *srv;
    struct client *next, *prev;
    size_t line;                        /* bytes of the current line */
    size_t request;                     /* bytes of the current request */
    bool   closing;
};

struct server {
    uv_loop_t   *loop;
    union {
        uv_handle_t h;
        uv_stream_t s;
        uv_pipe_t   pipe;
        uv_tcp_t    tcp;
    } l;
    bool         is_unix;
    char         path[108];
    uv_signal_t  sigterm, sigint;
    struct client *clients;             /* doubly linked */
    size_t       nclients, max_clients;
    char         replies[REPLIES_BLOCK * REPLY_LEN];
    char         rbuf[DUNNO_READ_MAX];  /* shared: data is never kept */
};

static void client_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    struct server *srv = c->srv;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->clients = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->nclients--;
    free(c);
}

static void client_close(struct client *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close(&c->u.h, client_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct client *c = h->data;
    (void)hint;
    *buf = uv_buf_init(c->srv->rbuf, sizeof c->srv->rbuf);
}

static void on_write(uv_write_t *req, int status)
{
    struct client *c = req->data;
    free(req);
    if (status < 0)
        client_close(c);
}

/* Writes n replies: at once if the socket takes them, else queued. */
static void client_reply(struct client *c, size_t n)
{
    struct server *srv = c->srv;
    while (n > 0 && !c->closing) {
        size_t k = n < REPLIES_BLOCK ? n : REPLIES_BLOCK;
        n -= k;
        uv_buf_t buf = uv_buf_init(srv->replies, (unsigned)(k * REPLY_LEN));
        if (uv_stream_get_write_queue_size(&c->u.s) == 0) {
            int w = uv_try_write(&c->u.s, &buf, 1);
            if (w == (int)buf.len)
                continue;
            if (w < 0 && w != UV_EAGAIN) {
                client_close(c);
                return;
            }
            if (w > 0)
                buf = uv_buf_init(buf.base + w, buf.len - (unsigned)w);
        }
        if (uv_stream_get_write_queue_size(&c->u.s) + buf.len > DUNNO_OUTPUT_MAX) {
            fprintf(stderr, "dunno: a client does not read its replies; closing it\n");
            client_close(c);
            return;
        }
        uv_write_t *req = malloc(sizeof *req);
        if (req == NULL) {
            client_close(c);
            return;
        }
        req->data = c;
        if (uv_write(req, &c->u.s, &buf, 1, on_write) != 0) {  /* the buffer is static */
            free(req);
            client_close(c);
            return;
        }
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct client *c = s->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        client_close(c);
        return;
    }
    size_t done = 0;
    for (ssize_t i = 0; i < nread; i++) {
        c->request++;
        if (buf->base[i] != '\n') {
            c->line++;
        } else if (c->line > 0) {
            c->line = 0;
        } else {                        /* an empty line ends the request */
            done++;
            c->request = 0;
            continue;
        }
        if (c->line > DUNNO_LINE_MAX || c->request > DUNNO_REQUEST_MAX) {
            fprintf(stderr, "dunno: request or line too long; closing the connection\n");
            client_close(c);
            return;
        }
    }
    if (done > 0)
        client_reply(c, done);
}

static void on_connection(uv_stream_t *l, int status)
{
    struct server *srv = l->data;
    if (status < 0)
        return;
    struct client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return;
    c->srv = srv;
    if (srv->is_unix)
        uv_pipe_init(srv->loop, &c->u.pipe, 0);
    else
        uv_tcp_init(srv->loop, &c->u.tcp);
    c->u.h.data = c;
    c->next = srv->clients;
    if (srv->clients != NULL)
        srv->clients->prev = c;
    srv->clients = c;
    srv->nclients++;
    if (uv_accept(l, &c->u.s) != 0) {
        client_close(c);
        return;
    }
    if (srv->nclients > srv->max_clients) {
        client_close(c);
        return;
    }
    if (!srv->is_unix)
        uv_tcp_nodelay(&c->u.tcp, 1);
    if (uv_read_start(&c->u.s, on_alloc, on_read) != 0)
        client_close(c);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct server *srv = sig->data;
    (void)signum;
    uv_close(&srv->l.h, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    for (struct client *c = srv->clients; c != NULL; c = c->next)
        client_close(c);
    if (srv->is_unix)
        unlink(srv->path);
}

static int listen_unix(struct server *srv, const char *path, char *name, size_t namelen)
{
    struct stat st;
    if (strlen(path) >= sizeof srv->path) {
        fprintf(stderr, "dunno: socket path too long: %s\n", path);
        return -1;
    }
    snprintf(srv->path, sizeof srv->path, "%s", path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "dunno: %s exists and is not a socket\n", path);
            return -1;
        }
        unlink(path);
    }
    srv->is_unix = true;
    uv_pipe_init(srv->loop, &srv->l.pipe, 0);
    int rc = uv_pipe_bind(&srv->l.pipe, path);
    if (rc == 0) {
        chmod(path, 0666);
        rc = uv_listen(&srv->l.s, 4096, on_connection);
    }
    if (rc != 0) {
        fprintf(stderr, "dunno: %s: %s\n", path, uv_strerror(rc));
        return -1;
    }
    snprintf(name, namelen, "unix:%s", path);
    return 0;
}

static int listen_inet(struct server *srv, const char *hostport, char *name, size_t namelen)
{
    char host[256];
    const char *port;
    if (hostport[0] == '[') {
        const char *close = strchr(hostport, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - hostport) >= sizeof host)
            return -1;
        memcpy(host, hostport + 1, (size_t)(close - hostport - 1));
        host[close - hostport - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(hostport, ':');
        if (colon == NULL || (size_t)(colon - hostport) >= sizeof host)
            return -1;
        memcpy(host, hostport, (size_t)(colon - hostport));
        host[colon - hostport] = '\0';
        port = colon + 1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL) {
        fprintf(stderr, "dunno: cannot resolve %s\n", hostport);
        return -1;
    }
    uv_tcp_init(srv->loop, &srv->l.tcp);
    int rc = uv_tcp_bind(&srv->l.tcp, res->ai_addr, 0);
    freeaddrinfo(res);
    if (rc == 0)
        rc = uv_listen(&srv->l.s, 4096, on_connection);
    if (rc != 0) {
        fprintf(stderr, "dunno: %s: %s\n", hostport, uv_strerror(rc));
        return -1;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char addr[64] = "?";
    int bound_port = 0;
    if (uv_tcp_getsockname(&srv->l.tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&ss;
            uv_ip6_name(a6, addr, sizeof addr);
            bound_port = ntohs(a6->sin6_port);
            snprintf(name, namelen, "inet:[%s]:%d", addr, bound_port);
            return 0;
        }
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&ss;
        uv_ip4_name(a4, addr, sizeof addr);
        bound_port = ntohs(a4->sin_port);
    }
    snprintf(name, namelen, "inet:%s:%d", addr, bound_port);
    return 0;
}

static void raise_nofile(size_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

int main(int argc, char **argv)
{
    static struct server server;        /* the read buffer is 64 KiB */
    struct server *srv = &server;
    const char *endpoint = NULL;
    char name[300];

    srv->max_clients = 100000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--max-connections") == 0 && i + 1 < argc) {
            char *end;
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || v < 1 || v > 1000000) {
                fprintf(stderr, "dunno: bad --max-connections\n");
                return 2;
            }
            srv->max_clients = v;
        } else if (endpoint == NULL && argv[i][0] != '-') {
            endpoint = argv[i];
        } else {
            endpoint = NULL;
            break;
        }
    }
    if (endpoint == NULL) {
        fprintf(stderr, "usage: dunno unix:PATH|inet:HOST:PORT [--max-connections N]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(srv->max_clients + 64);
    for (size_t i = 0; i < REPLIES_BLOCK; i++)
        memcpy(srv->replies + i * REPLY_LEN, reply, REPLY_LEN);

    srv->loop = uv_default_loop();
    int rc;
    if (strncmp(endpoint, "unix:", 5) == 0)
        rc = listen_unix(srv, endpoint + 5, name, sizeof name);
    else if (endpoint[0] == '/')
        rc = listen_unix(srv, endpoint, name, sizeof name);
    else if (strncmp(endpoint, "inet:", 5) == 0)
        rc = listen_inet(srv, endpoint + 5, name, sizeof name);
    else
        rc = -1;
    if (rc != 0) {
        fprintf(stderr, "dunno: cannot listen on %s\n", endpoint);
        return 1;
    }
    srv->l.h.data = srv;
    uv_signal_init(srv->loop, &srv->sigterm);
    uv_signal_init(srv->loop, &srv->sigint);
    srv->sigterm.data = srv->sigint.data = srv;
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv->sigint, on_signal, SIGINT);
    printf("dunno: listening on %s\n", name);
    fflush(stdout);
    uv_run(srv->loop, UV_RUN_DEFAULT);
    uv_loop_close(srv->loop);
    return 0;
}
