/* store_uv.h - our hiredis <-> libuv adapter.
 *
 * Debian 12's hiredis 0.14 ships adapters/libuv.h, which drops poll errors
 * (a connect to a closed port never completes) and leaks when
 * uv_poll_init() fails (REFERENCE §2.2).  This adapter reports a poll error
 * to hiredis as readiness, so hiredis reads the socket, sees the error and
 * runs its connect/disconnect callbacks; its memory is freed in the last
 * close callback of its handles.  Once connected, commands queued in one
 * loop iteration are written together at the start of the next, without
 * waiting for POLLOUT; only a rest that did not fit the socket does. */
#ifndef OUTPOST_STORE_UV_H
#define OUTPOST_STORE_UV_H

#include <hiredis/async.h>
#include <uv.h>

/* 0, or a libuv error (nothing attached, nothing leaked). */
int store_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
