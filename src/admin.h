/* admin.h - synchronous Redis administration for outpostctl.
 *
 * One blocking hiredis connection made from a const struct config (address,
 * AUTH with ACL user and password file, database), used by one command and
 * closed.  Every state change goes through the Functions of the "outpost"
 * library (policy/outpost.lua, doc/keys.md), exactly as `redis-cli FCALL`
 * would make it; a Function missing from Redis is loaded from
 * <policy_dir>/outpost.lua and the call retried once.  Reads (lists,
 * suspended accounts, audit trail) are plain commands.
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
 * limits the class does not have)}. */
enum admin_status admin_show(struct admin *a, const char *account,
                             json_t **out, char *err, size_t errlen);

#endif
