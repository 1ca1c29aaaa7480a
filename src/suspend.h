/* suspend.h - suspensions, on the daemon's side.
 *
 * The last-known suspension cache (SPEC §9): accounts that Redis recently
 * said are suspended, so that they stay blocked while Redis is briefly
 * unreachable.  At most suspension_cache.size entries (the oldest is
 * evicted), each trusted for suspension_cache.ttl after it was last seen.
 * A Redis answer "not suspended" removes the account at once.  (The
 * verdict-stream consumer joins this module in a later issue.) */
#ifndef OUTPOST_SUSPEND_H
#define OUTPOST_SUSPEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct suspend_cache;

struct suspend_cache *suspend_cache_new(void);
void suspend_cache_free(struct suspend_cache *sc);   /* NULL is fine */
/* now_ms is a monotonic clock (uv_now); size 0 keeps nothing. */
void suspend_cache_put(struct suspend_cache *sc, const char *account,
                       uint64_t now_ms, uint64_t ttl_ms, size_t size);
void suspend_cache_del(struct suspend_cache *sc, const char *account);
bool suspend_cache_has(struct suspend_cache *sc, const char *account, uint64_t now_ms);
size_t suspend_cache_count(const struct suspend_cache *sc);

#endif
