/* identity.h - the normal form of a sender identity (SPEC §1 item 2, §5
 * step 4; doc/identities.md).
 *
 * One function, used the same way by outpostctl when it grants and by
 * outpostd when it checks a request's sender, so that both sides of a
 * comparison are always spelled alike.  The grants themselves live in
 * Redis (doc/keys.md "Sender identities"); policy/decide.lua compares. */
#ifndef OUTPOST_IDENTITY_H
#define OUTPOST_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

struct config;

#define IDENTITY_ADDR_MAX 254   /* bytes of an address (RFC 5321 path limit) */

enum identity_form {
    IDENTITY_BAD = -1,          /* not an address: err says why */
    IDENTITY_ADDRESS = 0,       /* local@domain */
    IDENTITY_DOMAIN = 1         /* "@domain": a grant of the whole domain */
};

/* Normalises in according to cfg's identities.* keys:
 *   - surrounding whitespace, then one pair of <>, then whitespace inside
 *     them are removed; what is left must be 1..254 bytes with no space
 *     and no control byte (< 0x20, 0x7f);
 *   - it splits at the last '@': the domain must not be empty; the local
 *     part must not be empty unless domain_ok, where "@domain" is a
 *     domain grant;
 *   - the domain is ASCII lower-cased and one trailing '.' dropped; other
 *     bytes (UTF-8, IDNA U-labels) are kept and compared byte-wise;
 *   - the local part is ASCII lower-cased unless local_part_case is
 *     "sensitive", and with strip_plus_tag everything from the first
 *     separator (not at its start) to the '@' is removed.
 * Returns the form and writes out (NUL-terminated), or IDENTITY_BAD with a
 * one-line reason in err. */
enum identity_form identity_norm(const struct config *cfg, const char *in, bool domain_ok,
                                 char out[IDENTITY_ADDR_MAX + 1], char *err, size_t errlen);

#endif
