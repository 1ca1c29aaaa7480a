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

/* One account: *out is {"account", "now", "suspended": bool,
 * "suspension": {reason, by, at, until, note} (only when suspended),
 * "audit": [the 20 newest audit entries, decoded]}. */
enum admin_status admin_show(struct admin *a, const char *account,
                             json_t **out, char *err, size_t errlen);

#endif
