/* list.h - allow/deny lists: accounts, client addresses/CIDRs, senders,
 * sender domains.
 *
 * A struct list is built once (by config.c from the static lists of the
 * configuration) and then only read.  Matching rules:
 *   account  exact byte match; the caller normalises both sides the same way
 *   client   IPv4 or IPv6 address, or CIDR ("192.0.2.0/24", "2001:db8::/32");
 *            an IPv4-mapped IPv6 client (::ffff:a.b.c.d) matches IPv4 entries
 *   sender   whole address, ASCII case-insensitive, surrounding <> ignored
 *   domain   the sender's domain, ASCII case-insensitive; "example.com"
 *            matches exactly that domain, ".example.com" every subdomain of
 *            it (not the domain itself); a leading "@" is ignored */
#ifndef OUTPOST_LIST_H
#define OUTPOST_LIST_H

#include <stdbool.h>
#include <stddef.h>

enum list_kind { LIST_ACCOUNT, LIST_CLIENT, LIST_SENDER, LIST_DOMAIN };
#define LIST_KINDS 4

struct list;

struct list *list_new(void);
void list_free(struct list *l);                       /* NULL is fine */

/* Adds one entry.  0, or -1 with a one-line reason in err
 * ("not an IP address or CIDR", "empty entry", ...). */
int list_add(struct list *l, enum list_kind kind, const char *value,
             char *err, size_t errlen);

/* Looks up a request.  Any argument may be NULL or "" (not matched).  Sender
 * and sender-domain entries are consulted only when with_sender is true (the
 * allow list passes false for authenticated requests, SPEC §5 step 1).
 * Returns true and the kind that matched, first in the order account,
 * client, sender, domain. */
bool list_match(const struct list *l, const char *account,
                const char *client_address, const char *sender,
                bool with_sender, enum list_kind *matched);

const char *list_kind_name(enum list_kind kind);   /* "account", ... */
/* "account" -> LIST_ACCOUNT, ...; also "clients", "senders",
 * "sender_domains" and "domains".  0 or -1. */
int list_kind_parse(const char *name, enum list_kind *out);

/* The form in which Redis list entries are stored and looked up
 * (doc/keys.md): account trimmed (and lower-cased when lower is true);
 * client "HEX32/LEN" (keys_client_canon); sender without <> and
 * lower-cased; domain without a leading '@', lower-cased ('.' prefix kept:
 * every subdomain).  Writes out[cap]; 0, or -1 with a reason in err. */
int list_norm(enum list_kind kind, const char *value, bool lower,
              char *out, size_t cap, char *err, size_t errlen);
size_t list_size(const struct list *l);

#endif
