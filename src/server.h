/* server.h - listeners: UNIX sockets (owner, group, mode) and TCP.
 *
 * server_listen() binds every `listen` entry of the config while the
 * process may still be root: it creates a missing socket directory, removes
 * a stale socket file (never a live one, never a non-socket), sets the
 * socket's owner, group and mode.  Accepted clients go to conn.c; past
 * max_connections a client is accepted and closed at once, with a log line,
 * so that it never waits in the backlog for Postfix's timeout.
 * server_stop() closes the listeners, removes the socket files it created,
 * lets busy connections answer (at most SERVER_DRAIN_MS) and calls back
 * when everything is closed. */
#ifndef OUTPOST_SERVER_H
#define OUTPOST_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include <uv.h>

struct config;
struct decision_env;
struct server;

/* How long a stopping server waits for pending requests to be answered. */
#define SERVER_DRAIN_MS 5000

struct server *server_new(uv_loop_t *loop, struct config *const *cfg,
                          struct decision_env *env);
/* Binds and listens on every entry of cfg->listen.  uid/gid own a socket
 * directory created here (the daemon's user, after dropping root).
 * 0, or -1 with a one-line reason in err (nothing stays bound then). */
int server_listen(struct server *s, uid_t uid, gid_t gid, char *err, size_t errlen);
void server_stop(struct server *s, void (*done)(void *arg), void *arg);
void server_free(struct server *s);     /* after done was called, or unstarted */
size_t server_connections(const struct server *s);
uint64_t server_refused_total(const struct server *s);  /* past max_connections */

#endif
