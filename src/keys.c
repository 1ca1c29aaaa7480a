/* keys.c - the Redis key schema (see keys.h and doc/keys.md). */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

size_t keys_escape(char *out, size_t cap, const char *in)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '{' || *p == '}' || *p == '%') {
            if (o + 3 >= cap)
                return 0;
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        } else {
            if (o + 1 >= cap)
                return 0;
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
    return o;
}

size_t keys_account(char out[KEYS_MAX], const char *prefix, const char *account,
                    const char *suffix)
{
    char esc[KEYS_MAX];
    if (keys_escape(esc, sizeof esc, account) == 0 && account[0] != '\0')
        return 0;
    int n = snprintf(out, KEYS_MAX, "%s{a:%s}:%s", prefix, esc, suffix);
    return n > 0 && n < KEYS_MAX ? (size_t)n : 0;
}

size_t keys_global(char out[KEYS_MAX], const char *prefix, const char *tag,
                   const char *name)
{
    int n = name ? snprintf(out, KEYS_MAX, "%s{%s}:%s", prefix, tag, name)
                 : snprintf(out, KEYS_MAX, "%s{%s}", prefix, tag);
    return n > 0 && n < KEYS_MAX ? (size_t)n : 0;
}

/* keys_escape() that also accepts "" (and fails only when it does not fit). */
static int keys_esc(char out[KEYS_MAX], const char *in)
{
    return keys_escape(out, KEYS_MAX, in) != 0 || in[0] == '\0' ? 0 : -1;
}

size_t keys_counter(char out[KEYS_MAX], const char *prefix, enum limit_key kind,
                    const char *id, const char *limit)
{
    char eid[KEYS_MAX], elim[KEYS_MAX];
    const char *tag = kind == LIMIT_KEY_CLIENT_ADDRESS ? "c"
                    : kind == LIMIT_KEY_SENDER_DOMAIN ? "d" : "a";
    if (keys_esc(eid, id) != 0 || keys_esc(elim, limit) != 0)
        return 0;
    int n = snprintf(out, KEYS_MAX, "%s{%s:%s}:rl:%s", prefix, tag, eid, elim);
    return n > 0 && n < KEYS_MAX ? (size_t)n : 0;
}

size_t keys_who(char out[KEYS_MAX], const char *prefix, const char *address)
{
    char ea[KEYS_MAX];
    if (address[0] == '\0' || keys_esc(ea, address) != 0)
        return 0;
    int n = snprintf(out, KEYS_MAX, "%s{id:%s}:who", prefix, ea);
    return n > 0 && n < KEYS_MAX ? (size_t)n : 0;
}

size_t keys_eom(char out[KEYS_MAX], const char *prefix, const char *account,
                const char *instance, const char *queue_id)
{
    char ea[KEYS_MAX], ei[KEYS_MAX], eq[KEYS_MAX];
    if (keys_esc(ea, account) != 0 || keys_esc(ei, instance) != 0
        || keys_esc(eq, queue_id) != 0)
        return 0;
    int n = snprintf(out, KEYS_MAX, "%s{a:%s}:eom:%s:%s", prefix, ea, ei, eq);
    return n > 0 && n < KEYS_MAX ? (size_t)n : 0;
}

static int keys_addr16(const char *ip, uint8_t a[16], int *v4)
{
    uint8_t b[4];
    if (inet_pton(AF_INET, ip, b) == 1) {
        memset(a, 0, 10);
        a[10] = a[11] = 0xff;
        memcpy(a + 12, b, 4);
        *v4 = 1;
        return 0;
    }
    *v4 = 0;
    return inet_pton(AF_INET6, ip, a) == 1 ? 0 : -1;
}

static void keys_hex(const uint8_t a[16], char out[33])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[a[i] >> 4];
        out[2 * i + 1] = hex[a[i] & 15];
    }
    out[32] = '\0';
}

int keys_client_hex(const char *ip, char out[33])
{
    uint8_t a[16];
    int v4;
    if (ip == NULL || strlen(ip) >= INET6_ADDRSTRLEN || keys_addr16(ip, a, &v4) != 0)
        return -1;
    keys_hex(a, out);
    return 0;
}

int keys_client_canon(const char *cidr, char out[40])
{
    char ip[INET6_ADDRSTRLEN];
    const char *slash = strchr(cidr, '/');
    size_t alen = slash ? (size_t)(slash - cidr) : strlen(cidr);
    uint8_t a[16];
    int v4;
    long len;

    if (alen == 0 || alen >= sizeof ip)
        return -1;
    memcpy(ip, cidr, alen);
    ip[alen] = '\0';
    if (keys_addr16(ip, a, &v4) != 0)
        return -1;
    if (slash == NULL) {
        len = 128;
    } else {
        char *end;
        if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
            return -1;
        len = strtol(slash + 1, &end, 10);
        if (*end != '\0' || len > (v4 ? 32 : 128))
            return -1;
        if (v4)
            len += 96;
    }
    for (long bit = len; bit < 128; bit++)
        a[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
    keys_hex(a, out);
    snprintf(out + 32, 8, "/%d", (int)(len & 0xff));   /* len <= 128 */
    return 0;
}
