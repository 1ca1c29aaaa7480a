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

/* Longest key: prefix (64) + "{a:" + 3 x REQUEST_ACCOUNT_MAX (256) + "}:" +
 * suffix, rounded up. */
#define KEYS_MAX 1024

/* Per-account keys ("susp", "audit", ...). */
#define KEYS_SUSP  "susp"       /* HASH reason by at until note */
#define KEYS_AUDIT "audit"      /* LIST of JSON entries, newest first, capped */

/* Writes "PREFIX{a:ACCOUNT}:SUFFIX"; returns its length, or 0 if it does
 * not fit (cannot happen within the documented bounds). */
size_t keys_account(char out[KEYS_MAX], const char *prefix, const char *account,
                    const char *suffix);
/* Writes "PREFIX{TAG}:NAME" (NAME may be NULL: "PREFIX{TAG}"). */
size_t keys_global(char out[KEYS_MAX], const char *prefix, const char *tag,
                   const char *name);
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
