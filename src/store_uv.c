/* store_uv.c - the hiredis <-> libuv adapter (see store_uv.h).
 *
 * hiredis calls the ev hooks (addRead, delRead, addWrite, delWrite,
 * cleanup) to say which events it wants; we keep the union in `events`
 * and (re)start one uv_poll_t.  cleanup runs when hiredis frees the
 * context: both handles are closed and the struct freed in the last close
 * callback, never before.
 *
 * Writes: hiredis asks for a write with every command.  Once connected,
 * the first attempt needs no POLLOUT: an idle handle runs
 * redisAsyncHandleWrite() once at the start of the next loop iteration,
 * so every command queued by this iteration's callbacks goes out in one
 * write(), without the two epoll_ctl() and the extra iteration of waiting
 * for a writable socket.  Only what that write leaves over (the socket
 * buffer is full: Redis is slow or stopped) waits for POLLOUT, and while
 * it waits, further commands join it there. */
#include <stdbool.h>
#include <stdlib.h>

#include "store_uv.h"
#include "xalloc.h"

struct store_uv {
    uv_poll_t          poll;
    uv_idle_t          flush;   /* the first write attempt of a batch */
    redisAsyncContext *ac;      /* not owned; NULL after cleanup */
    int                events;  /* UV_READABLE | UV_WRITABLE polled for */
    bool               flushing;/* in the flush: a rest waits for POLLOUT */
    int                open;    /* handles not closed yet */
};

static void store_uv_on_poll(uv_poll_t *h, int status, int events)
{
    struct store_uv *p = h->data;

    /* An error (POLLERR, POLLHUP, EBADF): let hiredis find it by reading
     * and writing, as hiredis >= 1.0's adapter does. */
    int ev = status < 0 ? p->events : events;
    if (p->ac != NULL && (ev & UV_READABLE))
        redisAsyncHandleRead(p->ac);
    if (p->ac != NULL && (ev & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
}

static void store_uv_update(struct store_uv *p, int events)
{
    if (events == p->events)
        return;
    p->events = events;
    if (events != 0)
        uv_poll_start(&p->poll, events, store_uv_on_poll);
    else
        uv_poll_stop(&p->poll);
}

static void store_uv_add_read(void *arg)
{
    struct store_uv *p = arg;
    store_uv_update(p, p->events | UV_READABLE);
}

static void store_uv_del_read(void *arg)
{
    struct store_uv *p = arg;
    store_uv_update(p, p->events & ~UV_READABLE);
}

static void store_uv_on_flush(uv_idle_t *h)
{
    struct store_uv *p = h->data;

    uv_idle_stop(h);
    if (p->ac != NULL) {
        p->flushing = true;
        redisAsyncHandleWrite(p->ac);   /* may run cleanup: p lives on */
        p->flushing = false;
    }
}

static void store_uv_add_write(void *arg)
{
    struct store_uv *p = arg;

    if (p->events & UV_WRITABLE)        /* waiting for room already */
        return;
    /* connecting (POLLOUT says the connect is done), or a write left a
     * rest: wait for the socket; else write at the next iteration */
    if (!p->flushing && p->ac != NULL && (p->ac->c.flags & REDIS_CONNECTED))
        uv_idle_start(&p->flush, store_uv_on_flush);
    else
        store_uv_update(p, p->events | UV_WRITABLE);
}

static void store_uv_del_write(void *arg)
{
    struct store_uv *p = arg;
    uv_idle_stop(&p->flush);
    store_uv_update(p, p->events & ~UV_WRITABLE);
}

static void store_uv_on_closed(uv_handle_t *h)
{
    struct store_uv *p = h->data;
    if (--p->open == 0)
        free(p);
}

static void store_uv_cleanup(void *arg)
{
    struct store_uv *p = arg;
    p->ac = NULL;
    p->events = 0;
    uv_close((uv_handle_t *)&p->poll, store_uv_on_closed);
    uv_close((uv_handle_t *)&p->flush, store_uv_on_closed);
}

int store_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data != NULL)
        return UV_EINVAL;
    struct store_uv *p = xcalloc(1, sizeof *p);
    int rc = uv_poll_init(loop, &p->poll, ac->c.fd);
    if (rc != 0) {
        free(p);
        return rc;
    }
    uv_idle_init(loop, &p->flush);      /* cannot fail */
    p->open = 2;
    p->poll.data = p;
    p->flush.data = p;
    p->ac = ac;
    ac->ev.addRead = store_uv_add_read;
    ac->ev.delRead = store_uv_del_read;
    ac->ev.addWrite = store_uv_add_write;
    ac->ev.delWrite = store_uv_del_write;
    ac->ev.cleanup = store_uv_cleanup;
    ac->ev.data = p;
    return 0;
}
