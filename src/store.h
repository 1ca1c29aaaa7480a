/* store.h - the Redis link of outpostd: connect, AUTH, scripts, deadlines.
 *
 * One asynchronous connection (hiredis 0.14 on the libuv loop through
 * store_uv.c).  The store connects by itself and reconnects with capped,
 * jittered exponential backoff; on every connect it authenticates, selects
 * the database, loads the Functions libraries (policy/outpost.lua and the
 * decision library policy/decide.lua) and the undo script, and only then
 * is READY.  While not READY, store_decide() and store_eval() refuse at
 * once, so nothing queues without bound.
 *
 * store_decide() queues a decision call; all that were queued while the
 * loop ran its callbacks leave together as one FCALL of the decision
 * Function's batch form (NAME_batch, NAME on decide.lua's first line), up
 * to redis.batch_max requests each, at the end of that loop iteration: at
 * most one Redis command per policy request, fewer under load, and never
 * a wait for more to come.  An answer meaning the batch did not run
 * ("Function not found") makes it resend once after FUNCTION LOAD; so
 * does OUTPOSTCFG, the Function's "send the configuration text" (see
 * struct store_group).  store_eval() sends one EVALSHA of a script
 * (undo.lua), once more as EVAL after NOSCRIPT.  Every call has a
 * deadline (redis.timeout_ms): when it
 * passes, the callback runs with ok == false and the late reply is dropped
 * when it comes.  A connection whose oldest call is 2 x timeout_ms late
 * is dropped and rebuilt (a stopped or wedged Redis).  The request is
 * referenced by the call until hiredis is done with it, so a Postfix
 * connection may close at any time. */
#ifndef OUTPOST_STORE_H
#define OUTPOST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "metrics.h"            /* struct metrics_hist */

struct config;
struct redisReply;
struct request;
struct store;

#define STORE_REPLY_MAX    16       /* elements of a script reply kept */
#define STORE_ARGS_MAX     1024     /* keys + arguments of one call (of one
                                       request of a batch) */
#define STORE_BACKOFF_MIN_MS 100
#define STORE_BACKOFF_MAX_MS 2000
#define STORE_HEALTH_MS    5000     /* marker check while connected */

/* The Lua files of policy_dir a call runs: the decision Function
 * (decide.lua) and the undo script (undo.lua). */
enum store_lua { STORE_DECIDE, STORE_UNDO, STORE_NLUA };

struct store_reply {
    bool        ok;                 /* false: no answer; see why */
    const char *why;                /* !ok: "timeout", "connection lost", ... */
    size_t      n;                  /* ok: elements of the reply */
    const char *v[STORE_REPLY_MAX]; /* ok: NUL-terminated; valid during the callback */
};

/* Runs exactly once per accepted store_eval(), never inside store_eval(). */
typedef void store_cb(struct request *rq, const struct store_reply *r, void *arg);

struct store_stats {
    uint64_t calls, replies, timeouts, errors, refused;
    uint64_t resent;                /* sent again: NOSCRIPT, Function not
                                       found, OUTPOSTCFG (metric "noscript");
                                       a batch counts once */
    uint64_t batches;               /* FCALLs of the batch form sent (a
                                       resend not counted) */
    uint64_t batched;               /* the calls they carried */
    uint64_t connects, disconnects;
    struct metrics_hist rtt;        /* send to reply of each answered call */
};

/* What a link is for.  STORE_DECIDE: the decision link (handshake loads the
 * Functions and the scripts, reads maxmemory-policy and watches the state
 * marker).  STORE_STREAM: a second link for blocking stream reads (the
 * verdict consumer), so that a blocked XREADGROUP never delays a decision;
 * its handshake only authenticates, selects and loads the Functions. */
enum store_role { STORE_ROLE_DECIDE, STORE_ROLE_STREAM };

/* A raw command's answer: reply is NULL when there is none (timeout,
 * connection lost, not sent), then why says which; else the reply, valid
 * during the callback (an error reply included). */
typedef void store_raw_cb(const struct redisReply *reply, const char *why, void *arg);

struct store *store_new(uv_loop_t *loop, struct config *const *cfg, enum store_role role);
void store_start(struct store *s);
/* After a reload: reconnects when redis.* or policy_dir changed. */
void store_reconfigure(struct store *s, const struct config *old);
/* Closes the connection and every timer; pending calls get ok == false.
 * The loop then has nothing of the store's left open. */
void store_stop(struct store *s);
void store_free(struct store *s);           /* after store_stop + loop end */

bool store_ready(const struct store *s);
/* The state marker is missing (Redis emptied or replaced; SPEC §9). */
bool store_state_lost(const struct store *s);
const struct store_stats *store_stats(const struct store *s);

/* EVALSHA of the script which (not a Function: the decision goes through
 * store_decide()).  argv[0..nkeys) are keys, the rest arguments; lens[i]
 * their lengths (binary-safe); argc <= STORE_ARGS_MAX.  At most
 * redis.max_in_flight calls are in flight on a link (sent and not
 * answered by Redis, or answered by their deadline but not yet by Redis,
 * or queued by store_decide()); more are refused.  0: cb will run exactly once.
 * -1: refused now (not connected, too many in flight), cb will not run;
 * *why says why.  late (may be NULL) gets the reply that arrives after cb
 * already ran with a timeout (ok == true replies only): for undoing a
 * count whose caller was told to come back. */
int store_eval(struct store *s, enum store_lua which, struct request *rq,
               int argc, const char *const *argv, const size_t *lens,
               int nkeys, store_cb *cb, store_cb *late, void *arg,
               const char **why);

/* What every decision call of one configuration shares: decide.lua's
 * batch layout (doc/keys.md "The batch") sends it once per batch.  The
 * caller owns it; the store copies it when it sees a gen it has not seen
 * (so a new configuration must come with a new gen).  keys: the shared
 * keys; args: the shared arguments, before R and NK; last: the
 * configuration text, sent only when the Function answers OUTPOSTCFG
 * (then the whole batch once more, with it). */
struct store_group {
    uint64_t            gen;
    int                 nkeys, nargs;
    const char *const  *argv;           /* nkeys keys, then nargs arguments */
    const size_t       *lens;
    const char         *last;
    size_t              last_len;
    int                 own_keys;       /* NK: the keys of each call */
    int                 own_args;       /* the arguments of each call */
};

/* Queues one decision call of group g: argv/lens its g->own_keys keys,
 * then its g->own_args arguments.  Sent with the others queued in the
 * same loop iteration (see above); its deadline runs from now.  0: cb
 * runs exactly once, never inside this call (late as in store_eval).
 * -1: refused now (not connected, too many in flight), *why says why. */
int store_decide(struct store *s, struct request *rq, const struct store_group *g,
                 const char *const *argv, const size_t *lens,
                 store_cb *cb, store_cb *late, void *arg, const char **why);

/* Sends one command (argv/lens, binary-safe; argc <= STORE_ARGS_MAX) with
 * its own deadline timeout_ms (a blocking read: its BLOCK time plus
 * redis.timeout_ms).  0: cb runs exactly once, never inside this call.
 * -1: refused now (not ready, too many in flight), *why says why. */
int store_command(struct store *s, int argc, const char *const *argv, const size_t *lens,
                  uint64_t timeout_ms, store_raw_cb *cb, void *arg, const char **why);

#endif
