/* keys.c - the Redis key schema (see keys.h and doc/keys.md). */
#include <arpa/inet.h>
#include <stdbool.h>
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

/* A key being built in out[KEYS_MAX] by appending (no printf: a request
 * formats about seven keys); bad once a part did not fit with its NUL. */
struct keys_buf {
    char  *out;
    size_t len;
    bool   bad;
};

static void keys_put(struct keys_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->bad || b->len + n >= KEYS_MAX) {
        b->bad = true;
        return;
    }
    memcpy(b->out + b->len, s, n);
    b->len += n;
}

/* s escaped (keys_escape(); "" is fine). */
static void keys_put_esc(struct keys_buf *b, const char *s)
{
    if (b->bad)
        return;
    size_t n = keys_escape(b->out + b->len, KEYS_MAX - b->len, s);
    if (n == 0 && s[0] != '\0')
        b->bad = true;
    b->len += n;
}

/* The key's length, or 0 when it does not fit in KEYS_MAX with its NUL. */
static size_t keys_end(struct keys_buf *b)
{
    if (b->bad)
        return 0;
    b->out[b->len] = '\0';
    return b->len;
}

size_t keys_account(char out[KEYS_MAX], const char *prefix, const char *account,
                    const char *suffix)
{
    struct keys_buf b = { out, 0, false };
    keys_put(&b, prefix);
    keys_put(&b, "{a:");
    keys_put_esc(&b, account);
    keys_put(&b, "}:");
    keys_put(&b, suffix);
    return keys_end(&b);
}

size_t keys_global(char out[KEYS_MAX], const char *prefix, const char *tag,
                   const char *name)
{
    struct keys_buf b = { out, 0, false };
    keys_put(&b, prefix);
    keys_put(&b, "{");
    keys_put(&b, tag);
    keys_put(&b, "}");
    if (name != NULL) {
        keys_put(&b, ":");
        keys_put(&b, name);
    }
    return keys_end(&b);
}

size_t keys_counter(char out[KEYS_MAX], const char *prefix, enum limit_key kind,
                    const char *id, const char *limit)
{
    struct keys_buf b = { out, 0, false };
    keys_put(&b, prefix);
    keys_put(&b, kind == LIMIT_KEY_CLIENT_ADDRESS ? "{c:"
                 : kind == LIMIT_KEY_SENDER_DOMAIN ? "{d:" : "{a:");
    keys_put_esc(&b, id);
    keys_put(&b, "}:rl:");
    keys_put_esc(&b, limit);
    return keys_end(&b);
}

size_t keys_who(char out[KEYS_MAX], const char *prefix, const char *address)
{
    struct keys_buf b = { out, 0, address[0] == '\0' };
    keys_put(&b, prefix);
    keys_put(&b, "{id:");
    keys_put_esc(&b, address);
    keys_put(&b, "}:who");
    return keys_end(&b);
}

size_t keys_eom(char out[KEYS_MAX], const char *prefix, const char *account,
                const char *instance, const char *queue_id)
{
    struct keys_buf b = { out, 0, false };
    keys_put(&b, prefix);
    keys_put(&b, "{a:");
    keys_put_esc(&b, account);
    keys_put(&b, "}:eom:");
    keys_put_esc(&b, instance);
    keys_put(&b, ":");
    keys_put_esc(&b, queue_id);
    return keys_end(&b);
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
