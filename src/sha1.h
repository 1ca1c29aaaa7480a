/* sha1.h - SHA-1 (FIPS 180-4) of a buffer, as 40 lower-case hex digits.
 *
 * Only to name a text the way Redis' redis.sha1hex() does (the decision
 * Function keeps the configuration text under that name); not for
 * anything that needs a secure digest. */
#ifndef OUTPOST_SHA1_H
#define OUTPOST_SHA1_H

#include <stddef.h>

void sha1_hex(const void *data, size_t len, char out[41]);

#endif
