/* suspend.c - the last-known suspension cache (see suspend.h).
 *
 * A chained hash table (FNV-1a, power-of-two buckets, grown at load 1)
 * plus a list in insertion order for eviction of the oldest entry.  Each
 * entry owns its account string (one allocation with the entry). */
#include <stdlib.h>
#include <string.h>

#include "suspend.h"
#include "xalloc.h"

struct suspend_entry {
    struct suspend_entry *chain;        /* next in its bucket */
    struct suspend_entry *older, *newer;/* insertion order */
    uint64_t              expires_ms;
    uint64_t              hash;
    char                  account[];
};

struct suspend_cache {
    struct suspend_entry **buckets;     /* owned array */
    size_t                 nbuckets;    /* power of two */
    size_t                 n;
    struct suspend_entry  *oldest, *newest;
};

static uint64_t suspend_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

struct suspend_cache *suspend_cache_new(void)
{
    struct suspend_cache *sc = xcalloc(1, sizeof *sc);
    sc->nbuckets = 64;
    sc->buckets = xcalloc(sc->nbuckets, sizeof *sc->buckets);
    return sc;
}

void suspend_cache_free(struct suspend_cache *sc)
{
    if (sc == NULL)
        return;
    for (struct suspend_entry *e = sc->oldest, *next; e != NULL; e = next) {
        next = e->newer;
        free(e);
    }
    free(sc->buckets);
    free(sc);
}

size_t suspend_cache_count(const struct suspend_cache *sc)
{
    return sc->n;
}

static struct suspend_entry **suspend_slot(struct suspend_cache *sc, const char *account,
                                           uint64_t h)
{
    struct suspend_entry **p = &sc->buckets[h & (sc->nbuckets - 1)];
    while (*p != NULL && ((*p)->hash != h || strcmp((*p)->account, account) != 0))
        p = &(*p)->chain;
    return p;
}

static void suspend_remove(struct suspend_cache *sc, struct suspend_entry **slot)
{
    struct suspend_entry *e = *slot;
    *slot = e->chain;
    if (e->older != NULL)
        e->older->newer = e->newer;
    else
        sc->oldest = e->newer;
    if (e->newer != NULL)
        e->newer->older = e->older;
    else
        sc->newest = e->older;
    sc->n--;
    free(e);
}

static void suspend_grow(struct suspend_cache *sc)
{
    size_t nb = sc->nbuckets * 2;
    struct suspend_entry **b = xcalloc(nb, sizeof *b);
    for (struct suspend_entry *e = sc->oldest; e != NULL; e = e->newer) {
        e->chain = b[e->hash & (nb - 1)];
        b[e->hash & (nb - 1)] = e;
    }
    free(sc->buckets);
    sc->buckets = b;
    sc->nbuckets = nb;
}

void suspend_cache_del(struct suspend_cache *sc, const char *account)
{
    struct suspend_entry **slot = suspend_slot(sc, account, suspend_hash(account));
    if (*slot != NULL)
        suspend_remove(sc, slot);
}

void suspend_cache_put(struct suspend_cache *sc, const char *account,
                       uint64_t now_ms, uint64_t ttl_ms, size_t size)
{
    uint64_t h = suspend_hash(account);

    suspend_cache_del(sc, account);             /* re-inserted as newest */
    if (size == 0)
        return;
    while (sc->n >= size && sc->oldest != NULL)
        suspend_remove(sc, suspend_slot(sc, sc->oldest->account, sc->oldest->hash));
    if (sc->n + 1 > sc->nbuckets)
        suspend_grow(sc);

    size_t len = strlen(account);
    struct suspend_entry *e = xmalloc(sizeof *e + len + 1);
    memcpy(e->account, account, len + 1);
    e->hash = h;
    e->expires_ms = now_ms + ttl_ms;
    e->chain = sc->buckets[h & (sc->nbuckets - 1)];
    sc->buckets[h & (sc->nbuckets - 1)] = e;
    e->newer = NULL;
    e->older = sc->newest;
    if (sc->newest != NULL)
        sc->newest->newer = e;
    else
        sc->oldest = e;
    sc->newest = e;
    sc->n++;
}

bool suspend_cache_has(struct suspend_cache *sc, const char *account, uint64_t now_ms)
{
    struct suspend_entry **slot = suspend_slot(sc, account, suspend_hash(account));
    if (*slot == NULL)
        return false;
    if ((*slot)->expires_ms <= now_ms) {
        suspend_remove(sc, slot);
        return false;
    }
    return true;
}
