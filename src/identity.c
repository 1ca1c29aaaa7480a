/* identity.c - the normal form of a sender identity (see identity.h).
 *
 *   "  <Alice+News@Example.COM.> "
 *      -> trim, <>      "Alice+News@Example.COM."
 *      -> split at @    local "Alice+News", domain "Example.COM."
 *      -> domain        "example.com"
 *      -> local part    "alice+news" (insensitive), "alice" (strip "+")
 *      -> "alice@example.com"
 *
 * Pure: no I/O, no allocation. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "identity.h"

static int identity_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static char identity_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

enum identity_form identity_norm(const struct config *cfg, const char *in, bool domain_ok,
                                 char out[IDENTITY_ADDR_MAX + 1], char *err, size_t errlen)
{
    const char *s = in;
    size_t len = strlen(in);

    while (len > 0 && identity_space((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len > 0 && identity_space((unsigned char)s[len - 1]))
        len--;
    if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
        s++;
        len -= 2;
        while (len > 0 && identity_space((unsigned char)*s)) {
            s++;
            len--;
        }
        while (len > 0 && identity_space((unsigned char)s[len - 1]))
            len--;
    }
    if (len == 0) {
        snprintf(err, errlen, "empty address");
        return IDENTITY_BAD;
    }
    if (len > IDENTITY_ADDR_MAX) {
        snprintf(err, errlen, "address longer than %d bytes", IDENTITY_ADDR_MAX);
        return IDENTITY_BAD;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == ' ') {
            snprintf(err, errlen, "address contains a %s at byte %zu",
                     c == ' ' ? "space" : "control byte", i + 1);
            return IDENTITY_BAD;
        }
    }
    size_t at = len;
    for (size_t i = len; i-- > 0;)
        if (s[i] == '@') {
            at = i;
            break;
        }
    if (at == len) {
        snprintf(err, errlen, "address has no '@'");
        return IDENTITY_BAD;
    }
    size_t dlen = len - at - 1;
    const char *dom = s + at + 1;
    if (dlen > 0 && dom[dlen - 1] == '.')
        dlen--;
    if (dlen == 0 || dom[0] == '.') {
        snprintf(err, errlen, "address has no domain after '@'");
        return IDENTITY_BAD;
    }
    if (at == 0 && !domain_ok) {
        snprintf(err, errlen, "address has no local part before '@'");
        return IDENTITY_BAD;
    }

    size_t llen = at;
    char sep = cfg->identities.plus_separator;
    if (sep != '\0')
        for (size_t i = 1; i < llen; i++)
            if (s[i] == sep) {
                llen = i;
                break;
            }
    size_t o = 0;
    for (size_t i = 0; i < llen; i++)
        out[o++] = cfg->identities.local_part_sensitive ? s[i] : identity_lower(s[i]);
    out[o++] = '@';
    for (size_t i = 0; i < dlen; i++)
        out[o++] = identity_lower(dom[i]);
    out[o] = '\0';
    return at == 0 ? IDENTITY_DOMAIN : IDENTITY_ADDRESS;
}
