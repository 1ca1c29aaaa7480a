/* admin.h - synchronous Redis administration for outpostctl.
 *
 * One blocking hiredis connection made from a const struct config (address,
 * AUTH with ACL user and password file, database), used by one command and
 * closed.  Every state change goes through the Functions of the "outpost"
 * library (policy/outpost.lua, doc/keys.md), exactly as `redis-cli FCALL`
 * would make it; a Function missing from Redis is loaded from
 * <policy_dir>/outpost.lua and the call retried once.  Reads (lists,
 * suspended accounts, audit trail, sender identities, strikes, events) are
 * plain commands; so is a spam verdict, which is only appended to the
 * verdict stream (XADD) for outpostd to apply.
 * Two operations pipeline: the bulk identity import (ADMIN_ID_BATCH calls
 * sent, then their replies read) and the observed-senders listing (HGETALL
 * per index member, ADMIN_PIPELINE at a time).
 *
 * Results that have a shape are returned as new jansson values owned by the
 * caller (json_decref()); strings read from Redis are made valid UTF-8
 * (invalid bytes become U+FFFD) so the values can always be printed as JSON.
 *
 * Every function returns an enum admin_status whose values are outpostctl's
 * exit codes, and on anything but ADMIN_OK writes one line to err. */
#ifndef OUTPOST_ADMIN_H
#define OUTPOST_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "list.h"
#include "request.h"            /* REQUEST_ACCOUNT_MAX */

struct config;
struct admin;                   /* opaque: the connection and its config */

enum admin_status {
    ADMIN_OK = 0,
    ADMIN_REFUSED = 1,          /* not found, already present, refused by Redis */
    ADMIN_INVALID = 2,          /* bad argument, bad configuration, bad library */
    ADMIN_UNREACHABLE = 3       /* connect, I/O, timeout, AUTH failure */
};

#define ADMIN_TIMEOUT_MIN_MS 2000   /* per command, at least (timeout_ms) */
#define ADMIN_LIBRARY_MAX (1024 * 1024) /* bytes of outpost.lua */

/* A blocking hiredis connection to redis.address ("unix:PATH",
 * "[V6]:PORT" or "HOST:PORT") with the connect timeout tv, or NULL when
 * the address does not parse (or out of memory).  For admin_open() and
 * the notifier, which both talk to Redis synchronously. */
redisContext *admin_connect_addr(const char *addr, struct timeval tv);

/* Connects, authenticates and selects redis.db.  cfg must outlive the
 * connection.  On success *out is a new connection. */
enum admin_status admin_open(const struct config *cfg, struct admin **out,
                             char *err, size_t errlen);
void admin_close(struct admin *a);          /* NULL is fine */

/* The account as the daemon keys it: surrounding whitespace trimmed,
 * lower-cased when account.lowercase; 1..REQUEST_ACCOUNT_MAX bytes, no
 * control byte (< 0x20, 0x7f).  ADMIN_OK or ADMIN_INVALID. */
enum admin_status admin_account_norm(const struct config *cfg, const char *in,
                                     char out[REQUEST_ACCOUNT_MAX + 1],
                                     char *err, size_t errlen);

/* A free text given by an operator (reason, note, login, list text):
 * valid UTF-8, no control character, at most max bytes (empty only when
 * empty_ok).  ADMIN_OK or ADMIN_INVALID with "WHAT: ..." in err. */
enum admin_status admin_text_check(const char *what, const char *s, size_t max,
                                   bool empty_ok, char *err, size_t errlen);

/* Redis TIME in ms. */
enum admin_status admin_now(struct admin *a, int64_t *now_ms, char *err,
                            size_t errlen);

/* outpost_suspend; for_ms 0 = until reinstated.  *at and *until (0 =
 * until reinstated) as Redis recorded them. */
enum admin_status admin_suspend(struct admin *a, const char *account,
                                const char *reason, int64_t for_ms,
                                const char *by, const char *note,
                                int64_t *at, int64_t *until,
                                char *err, size_t errlen);
/* outpost_reinstate: ADMIN_OK, or ADMIN_REFUSED if it was not suspended. */
enum admin_status admin_reinstate(struct admin *a, const char *account,
                                  const char *by, const char *note,
                                  char *err, size_t errlen);

/* The suspended accounts, after pruning expired index members: *out is
 * {"now": ms, "suspended": [{"account", "reason", "by", "at", "until",
 * "note"}, ...]} in index order (soonest expiry first, then indefinite).
 * An index member whose record vanished meanwhile is left out. */
enum admin_status admin_suspended(struct admin *a, json_t **out,
                                  char *err, size_t errlen);

/* outpost_list_add / outpost_list_remove of one normalised value (text:
 * the entry as written).  ADMIN_OK, or ADMIN_REFUSED when it was already
 * present (add) or absent (remove). */
enum admin_status admin_list_add(struct admin *a, bool deny,
                                 enum list_kind kind, const char *value,
                                 const char *text, const char *by,
                                 char *err, size_t errlen);
enum admin_status admin_list_remove(struct admin *a, bool deny,
                                    enum list_kind kind, const char *value,
                                    const char *by, char *err, size_t errlen);
/* All entries of one list: *out is {"account": [...], "client": [...],
 * "sender": [...], "domain": [...]}, each entry {"value", "text", "by",
 * "at"}, sorted by value. */
enum admin_status admin_list_get(struct admin *a, bool deny, json_t **out,
                                 char *err, size_t errlen);

/* outpost_init: writes the state marker; *at as recorded. */
enum admin_status admin_init(struct admin *a, const char *by, int64_t *at,
                             char *err, size_t errlen);

/* ---- classes, overrides, counters (doc/keys.md "Rate limits") ---------- */

#define ADMIN_NAME_MAX 64           /* bytes of a class or limit name */
#define ADMIN_EXACT_MAX INT64_C(9007199254740991)  /* 2^53-1: largest MAX */

/* The class stored in the account's acct hash, as stored: "" when none
 * (default_class applies).  A stored value that is not a name (too long,
 * ...) is returned as "?"; admin_show says more. */
enum admin_status admin_class_get(struct admin *a, const char *account,
                                  char cls[ADMIN_NAME_MAX + 1],
                                  char *err, size_t errlen);
/* outpost_class: cls "" removes the field (default_class applies again).
 * The caller checks that cls is a class of the configuration. */
enum admin_status admin_class_set(struct admin *a, const char *account,
                                  const char *cls, const char *by,
                                  char *err, size_t errlen);

/* outpost_override: max (0..ADMIN_EXACT_MAX; 0 blocks the limit) for the
 * limit name; for_ms 0 = no expiry.  *until is the expiry recorded (0 =
 * none). */
enum admin_status admin_override_set(struct admin *a, const char *account,
                                     const char *limit, uint64_t max,
                                     int64_t for_ms, const char *by,
                                     int64_t *until, char *err, size_t errlen);
/* outpost_override with MAX "": ADMIN_OK, or ADMIN_REFUSED when no
 * override of that limit was in force (an expired one is removed too). */
enum admin_status admin_override_clear(struct admin *a, const char *account,
                                       const char *limit, const char *by,
                                       char *err, size_t errlen);

/* outpost_reset.  limit NULL: the counters of every limit keyed by account
 * of the account's current class (its stored class if the configuration
 * has it, else default_class).  limit given: that limit's counter; it must
 * be a limit of some class (its kind taken from the account's class if it
 * has it, else from the first class that does), and keyed by account:
 * ADMIN_INVALID with a message otherwise (client_address / sender_domain
 * counters are not the account's).  *out is {"account", "class", "limit"
 * (null for all), "limits": [names reset], "deleted": counter keys that
 * existed}; deleting nothing is ADMIN_OK with deleted 0. */
enum admin_status admin_reset(struct admin *a, const char *account,
                              const char *limit, const char *by, json_t **out,
                              char *err, size_t errlen);

/* outpost_usage: for n counter keys (n <= ADMIN_USAGE_MAX) with periods
 * per_ms[i], at now_ms (-1: Redis TIME), out[i] = the units in the
 * window, the bucket width and the ms until the oldest non-empty bucket
 * leaves the window (0 when used is 0). */
#define ADMIN_USAGE_MAX 64
struct admin_usage {
    int64_t used, w_ms, free_next_ms;
};
enum admin_status admin_usage(struct admin *a, size_t n, const char *const *keys,
                              const int64_t *per_ms, int64_t now_ms,
                              struct admin_usage *out, char *err, size_t errlen);

/* One account: *out is {"account", "now", "suspended": bool,
 * "suspension": {reason, by, at, until, note} (only when suspended),
 * "audit": [the 20 newest audit entries, decoded],
 * "class": the class in effect, "class_default": true when the account
 * has none stored, "class_stored": the stored value when the
 * configuration does not have it (then class is default_class),
 * "limits": [{"name", "count" (messages|recipients|bytes), "key"
 * (account|client_address|sender_domain), "max" (in effect), "class_max",
 * "per_ms", "per" ("1h"), "action", "shadow": bool, "override": {"max",
 * "until" (0 = none)} when one is in force, and for limits keyed by
 * account: "used", "remaining", "w_ms", "free_next_ms" (0: nothing to
 * free)}, ...] in configuration order,
 * "overrides": {LIMIT: {"max", "until"}} every override in force (also of
 * limits the class does not have),
 * "strikes": {"sum" (the weights of the strikes within the window, to
 * 3 decimals), "count" (those strikes), "threshold" (the class's
 * auto_suspend.verdicts, null without auto_suspend), "within_ms" (its
 * auto_suspend.within; 24h without)}, read from P{a:A}:strikes (at most
 * ADMIN_STRIKES_MAX members; unreadable members are not counted),
 * "identities": the grants as admin_identity_list() gives them,
 * "observed": the number of observed sender addresses,
 * "observed_overflow": uses of further addresses not recorded}. */
enum admin_status admin_show(struct admin *a, const char *account,
                             json_t **out, char *err, size_t errlen);

/* ---- spam verdicts and events (doc/keys.md "Spam verdicts", "Events") -- */

#define ADMIN_VERDICTS_MAXLEN 100000    /* XADD P{verdicts} MAXLEN ~ this */
#define ADMIN_STRIKES_MAX     10000     /* strikes members read by show */
#define ADMIN_EVENTS_MAX      10000     /* events read by one call */
#define ADMIN_EVENT_JSON_MAX  65536     /* bytes of an event's json decoded;
                                           a longer one is shown cut as "raw" */
#define ADMIN_STREAM_ID_MAX   48        /* bytes of a stream entry id, NUL included */

/* One verdict as the consumer (src/verdict.c) accepts it, checked by the
 * caller: account in admin_account_norm() form; weight and recipients the
 * decimal text to write, NULL when not given (then the field is left
 * out); queue_id and ref NULL when not given; source always written. */
struct admin_verdict {
    const char *account;        /* borrowed, all of them */
    const char *weight, *recipients, *queue_id, *ref;
    const char *source;
};

/* XADD P{verdicts} MAXLEN ~ ADMIN_VERDICTS_MAXLEN * account A [weight W]
 * [recipients N] [queue_id ID] [ref TEXT] source S; id is the new entry's
 * id.  It is applied by an outpostd (the consumer group), not here. */
enum admin_status admin_verdict_add(struct admin *a, const struct admin_verdict *v,
                                    char id[ADMIN_STREAM_ID_MAX], char *err,
                                    size_t errlen);

/* Events as outpostctl prints them: each entry of P{events} becomes the
 * object of its "json" field (decoded if it is a JSON object of at most
 * ADMIN_EVENT_JSON_MAX bytes, else {"raw": its first 1024 bytes}), with
 * "id" set to the entry id, "type" and "account" taken from the entry's
 * fields when the json lacks them, and the json's own "id", if any (a
 * verdict event's verdict entry), kept as "TYPE_id" ("verdict_id").
 *
 * admin_events_last: the newest n (1 <= n <= ADMIN_EVENTS_MAX) entries,
 * XREVRANGE; *out an array of them oldest first; last is set to the newest
 * entry's id (left as it was when the stream is empty or missing). */
enum admin_status admin_events_last(struct admin *a, size_t n, json_t **out,
                                    char last[ADMIN_STREAM_ID_MAX], char *err,
                                    size_t errlen);
/* admin_events_after: XREAD COUNT n BLOCK block_ms STREAMS P{events} last:
 * *out the entries after last (oldest first; empty when none came within
 * block_ms); last advanced to the newest.  The connection's read timeout
 * is raised to block_ms plus the command timeout for this call only. */
enum admin_status admin_events_after(struct admin *a, int64_t block_ms, size_t n,
                                     json_t **out, char last[ADMIN_STREAM_ID_MAX],
                                     char *err, size_t errlen);
/* Shuts the connection's socket down, so that a blocking call returns
 * (ADMIN_UNREACHABLE) and every later one fails.  Async-signal-safe: for a
 * SIGTERM handler while admin_events_after() waits. */
void admin_interrupt(struct admin *a);

/* ---- sender identities (doc/keys.md "Sender identities") ------------- */

#define ADMIN_ID_BATCH 1000         /* outpost_identity calls in one pipeline */

enum admin_id_op { ADMIN_ID_ADD, ADMIN_ID_VERIFY, ADMIN_ID_GRANT, ADMIN_ID_REMOVE };

/* What outpost_identity answered for one call. */
#define ADMIN_ID_CHANGED    1       /* something changed (audit, event written) */
#define ADMIN_ID_UNCHANGED  0       /* add: held already; verify/grant: as asked */
#define ADMIN_ID_NONE     (-1)      /* verify, remove: there was no grant */
#define ADMIN_ID_FAILED   (-2)      /* not answered, or an error reply */

/* outpost_identity OP for one account (admin_account_norm()) and address
 * (identity_norm(): "local@domain" or "@domain").  for_ms < 0 keeps the
 * grant's expiry (none for a new grant), 0 removes it, > 0 expires the
 * grant for_ms from now.  ADMIN_OK whenever the Function answered; *result
 * is then ADMIN_ID_CHANGED, _UNCHANGED or _NONE (the caller decides what
 * is a refusal). */
enum admin_status admin_identity(struct admin *a, enum admin_id_op op,
                                 const char *account, const char *address,
                                 int64_t for_ms, const char *by, int *result,
                                 char *err, size_t errlen);

/* One line of a bulk import. */
struct admin_id_item {
    const char *account;        /* borrowed; admin_account_norm() form */
    const char *address;        /* borrowed; identity_norm() form */
    bool        verified;       /* op grant, else add (pending) */
    int         result;         /* out: ADMIN_ID_CHANGED, _UNCHANGED or _FAILED */
};

/* outpost_identity add|grant for items[0..n-1] (n <= ADMIN_ID_BATCH),
 * pipelined: every call is sent, then every reply read (a missing library
 * is loaded and the calls it refused sent once more).  ADMIN_OK when every
 * item was answered; else the status of the first failure, *failed its
 * index and err its reason.  After ADMIN_UNREACHABLE the connection is
 * unusable; after an error reply the other items were still answered. */
enum admin_status admin_identity_batch(struct admin *a, struct admin_id_item *items,
                                       size_t n, const char *by, size_t *failed,
                                       char *err, size_t errlen);

/* The grants of an account: *out is {"account", "now", "identities":
 * [{"address", "state", "until", "at", "by"[, "verified_at",
 * "verified_by"][, "stored_state"]}, ...]} sorted by address.  "state" is
 * "pending", "verified" or, when until (ms, 0 = none) has passed at Redis
 * TIME, "expired" (then "stored_state" is what Redis holds); a value that
 * is not a grant has state "unreadable" and "raw". */
enum admin_status admin_identity_list(struct admin *a, const char *account,
                                      json_t **out, char *err, size_t errlen);
/* The accounts holding an address (or "@domain"): *out is {"address",
 * "now", "accounts": [{"account", "state", ...as above}]} sorted by
 * account. */
enum admin_status admin_identity_who(struct admin *a, const char *address,
                                     json_t **out, char *err, size_t errlen);
/* The grant of one address of an account as stored (decoded), *out NULL
 * when there is none. */
enum admin_status admin_identity_get(struct admin *a, const char *account,
                                     const char *address, json_t **out,
                                     char *err, size_t errlen);
/* Unauthorised sender addresses seen by decide.lua: of one account, or
 * (account NULL) of every account of the index P{idx}:observed, most
 * recent first.  Index members whose observed hash is gone (expired or
 * deleted) are removed from the index (WATCH/MULTI: a hash written
 * meanwhile keeps its member).  *out is {"now", "pruned": members removed,
 * "observed": [{"account", "last", "overflow", "addresses": [{"address",
 * "count", "first", "last"}, ...] (most recent first)}, ...]}; an account
 * with nothing observed is left out. */
enum admin_status admin_identity_observed(struct admin *a, const char *account,
                                          json_t **out, char *err, size_t errlen);

#endif
