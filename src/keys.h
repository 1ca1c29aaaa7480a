/* keys.h - the Redis key schema (doc/keys.md): the only place that spells
 * key names.
 *
 * Every key starts with redis.prefix.  The keys of one account share the
 * hash tag {a:ACCOUNT}, so that they live in one Redis Cluster slot; the
 * shared lists use {lists}, the indexes {idx}, the marker {meta}.  Account
 * names are untrusted: keys_escape() %XX-encodes every byte that could end
 * the hash tag or confuse a reader ('{', '}', '%', controls, space, bytes
 * >= 0x7f), and keys are always sent as separate arguments, never pasted
 * into a command or a script. */
#ifndef OUTPOST_KEYS_H
#define OUTPOST_KEYS_H

#include <stddef.h>

#include "config.h"             /* enum limit_key */

/* Longest key: prefix (64) + "{a:" + 3 x REQUEST_ACCOUNT_MAX (256) + "}:" +
 * suffix, rounded up. */
#define KEYS_MAX 1024

/* Per-account keys ("susp", "audit", ...). */
#define KEYS_SUSP  "susp"       /* HASH reason by at until note */
#define KEYS_AUDIT "audit"      /* LIST of JSON entries, newest first, capped */
#define KEYS_ACCT  "acct"       /* HASH class, ovr:LIMIT, ovr_until:LIMIT */
#define KEYS_STRIKES "strikes"  /* ZSET "ID WEIGHT" scored by the verdict's ms */
#define KEYS_IDS   "ids"        /* HASH ADDRESS|@DOMAIN -> grant JSON */
#define KEYS_OBSERVED "observed"/* HASH ADDRESS -> {count, first, last, ev} */

/* Writes "PREFIX{a:ACCOUNT}:SUFFIX"; returns its length, or 0 if it does
 * not fit (cannot happen within the documented bounds). */
size_t keys_account(char out[KEYS_MAX], const char *prefix, const char *account,
                    const char *suffix);
/* Writes "PREFIX{TAG}:NAME" (NAME may be NULL: "PREFIX{TAG}"). */
size_t keys_global(char out[KEYS_MAX], const char *prefix, const char *tag,
                   const char *name);
/* The reverse index of an identity "PREFIX{id:ADDRESS}:who" (ADDRESS, an
 * address or "@domain" in normal form, escaped like an account).  Length
 * or 0. */
size_t keys_who(char out[KEYS_MAX], const char *prefix, const char *address);
/* A rate-limit counter hash (doc/keys.md "Rate limits"):
 *   LIMIT_KEY_ACCOUNT         "PREFIX{a:ID}:rl:LIMIT"   (ID the account)
 *   LIMIT_KEY_CLIENT_ADDRESS  "PREFIX{c:ID}:rl:LIMIT"   (ID the client HEX32)
 *   LIMIT_KEY_SENDER_DOMAIN   "PREFIX{d:ID}:rl:LIMIT"   (ID the domain)
 * ID and LIMIT are written through keys_escape().  Returns the length, or 0
 * if it does not fit. */
size_t keys_counter(char out[KEYS_MAX], const char *prefix, enum limit_key kind,
                    const char *id, const char *limit);
/* The END-OF-MESSAGE dedupe key "PREFIX{a:ACCOUNT}:eom:INSTANCE:QUEUE_ID",
 * all three escaped (ACCOUNT "" when unauthenticated: "{a:}").  Length or
 * 0. */
size_t keys_eom(char out[KEYS_MAX], const char *prefix, const char *account,
                const char *instance, const char *queue_id);
/* %XX-encodes in into out (at most cap - 1 bytes); returns the length or
 * 0 if it did not fit. */
size_t keys_escape(char *out, size_t cap, const char *in);

/* The client address as the lists store it: 32 lower-case hex digits of
 * the IPv6 address (IPv4 as ::ffff:a.b.c.d).  0, or -1 if not an address. */
int keys_client_hex(const char *ip, char out[33]);
/* A list entry "ADDR[/LEN]" in canonical form "HEX32/LEN" (LEN counted in
 * the 128-bit space, IPv4 + 96), address bits past LEN cleared.  0 or -1. */
int keys_client_canon(const char *cidr, char out[40]);

#endif
