/* list.c - allow/deny lists (see list.h for the matching rules).
 *
 * Strings are kept in sorted arrays (inserted in order, searched with
 * bsearch); client entries are (family, address bytes, prefix length)
 * compared bit-wise.  The list owns copies of everything it was given. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "list.h"
#include "xalloc.h"

#define LIST_ENTRY_MAX 1024     /* bytes of one entry */

struct list_strs {
    char  **v;                  /* owned, sorted by strcmp */
    size_t  n, cap;
};

struct list_net {
    int      v6;                /* 0: 4 bytes used, 1: 16 bytes */
    unsigned prefix;            /* 0..32 or 0..128 */
    uint8_t  addr[16];          /* masked to prefix */
};

struct list {
    struct list_strs accounts;
    struct list_strs senders;   /* lower-cased, without <> */
    struct list_strs domains;   /* lower-cased exact domains */
    struct list_strs parents;   /* lower-cased, leading '.' kept: subdomains */
    struct list_net *nets;      /* owned */
    size_t           nnets, capnets;
};

static const char *const list_kind_names[LIST_KINDS] = {
    "account", "client", "sender", "domain"
};

const char *list_kind_name(enum list_kind kind)
{
    return (unsigned)kind < LIST_KINDS ? list_kind_names[kind] : "?";
}

struct list *list_new(void)
{
    return xcalloc(1, sizeof(struct list));
}

static void list_strs_free(struct list_strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

void list_free(struct list *l)
{
    if (l == NULL)
        return;
    list_strs_free(&l->accounts);
    list_strs_free(&l->senders);
    list_strs_free(&l->domains);
    list_strs_free(&l->parents);
    free(l->nets);
    free(l);
}

size_t list_size(const struct list *l)
{
    return l->accounts.n + l->senders.n + l->domains.n + l->parents.n + l->nnets;
}

/* Index of the first element >= s; *found tells whether it is equal. */
static size_t list_strs_pos(const struct list_strs *st, const char *s, int *found)
{
    size_t lo = 0, hi = st->n;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->v[mid], s);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void list_strs_add(struct list_strs *st, const char *s, size_t len)
{
    char *copy = xstrndup(s, len);
    int found;
    size_t at = list_strs_pos(st, copy, &found);
    if (found) {                /* a duplicate entry changes nothing */
        free(copy);
        return;
    }
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 8;
        st->v = xrealloc(st->v, st->cap * sizeof *st->v);
    }
    memmove(st->v + at + 1, st->v + at, (st->n - at) * sizeof *st->v);
    st->v[at] = copy;
    st->n++;
}

static int list_strs_has(const struct list_strs *st, const char *s)
{
    int found;
    if (st->n == 0)
        return 0;
    list_strs_pos(st, s, &found);
    return found;
}

static void list_lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Parses "a.b.c.d", "v6", with optional "/len"; 0 or -1. */
static int list_parse_net(const char *value, struct list_net *net)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(value, '/');
    size_t alen = slash ? (size_t)(slash - value) : strlen(value);
    unsigned maxbits;

    if (alen == 0 || alen >= sizeof buf)
        return -1;
    memcpy(buf, value, alen);
    buf[alen] = '\0';
    memset(net, 0, sizeof *net);
    if (inet_pton(AF_INET, buf, net->addr) == 1) {
        net->v6 = 0;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, buf, net->addr) == 1) {
        net->v6 = 1;
        maxbits = 128;
    } else {
        return -1;
    }
    net->prefix = maxbits;
    if (slash != NULL) {
        const char *p = slash + 1;
        unsigned v = 0;
        if (*p == '\0' || strlen(p) > 3)
            return -1;
        for (; *p; p++) {
            if (!isdigit((unsigned char)*p))
                return -1;
            v = v * 10 + (unsigned)(*p - '0');
        }
        if (v > maxbits)
            return -1;
        net->prefix = v;
    }
    for (unsigned bit = net->prefix; bit < maxbits; bit++)
        net->addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
    return 0;
}

/* Strips surrounding whitespace and one pair of <> from an address. */
static const char *list_trim_addr(const char *s, size_t *len)
{
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
        s++;
        n -= 2;
    }
    *len = n;
    return s;
}

/* Whether value is a valid entry of kind, exactly as list_add() takes it:
 * 0, or -1 with the reason in err.  *net receives a client entry parsed;
 * *v and *len what a sender or domain entry keeps (before lower-casing).
 * Stores nothing: list_norm() checks every request's sender with it. */
static int list_check(enum list_kind kind, const char *value, struct list_net *net,
                      const char **v, size_t *len, char *err, size_t errlen)
{
    size_t n = strlen(value);

    if (n == 0) {
        snprintf(err, errlen, "empty %s entry", list_kind_name(kind));
        return -1;
    }
    if (n > LIST_ENTRY_MAX) {
        snprintf(err, errlen, "%s entry longer than %d bytes",
                 list_kind_name(kind), LIST_ENTRY_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c < 0x20 || c == 0x7f) {
            snprintf(err, errlen, "%s entry contains a control character",
                     list_kind_name(kind));
            return -1;
        }
    }
    *v = value;
    *len = n;
    switch (kind) {
    case LIST_ACCOUNT:
        return 0;
    case LIST_CLIENT:
        if (list_parse_net(value, net) != 0) {
            snprintf(err, errlen, "\"%.64s\" is not an IP address or CIDR", value);
            return -1;
        }
        return 0;
    case LIST_SENDER: {
        const char *a = list_trim_addr(value, len);
        const char *at = memchr(a, '@', *len);
        if (*len == 0 || at == NULL || at == a + *len - 1) {
            snprintf(err, errlen, "\"%.64s\" is not an address (local@domain)", value);
            return -1;
        }
        *v = a;
        return 0;
    }
    case LIST_DOMAIN: {
        const char *d = value;
        if (*d == '@') {
            d++;
            n--;
        }
        if (n == 0 || strchr(d, '@') != NULL || strchr(d, ' ') != NULL
            || (d[0] == '.' && n == 1)) {
            snprintf(err, errlen, "\"%.64s\" is not a domain", value);
            return -1;
        }
        *v = d;
        *len = n;
        return 0;
    }
    }
    snprintf(err, errlen, "unknown list kind");
    return -1;
}

int list_add(struct list *l, enum list_kind kind, const char *value,
             char *err, size_t errlen)
{
    struct list_net net;
    const char *v;
    size_t len;
    char tmp[LIST_ENTRY_MAX + 1];

    if (list_check(kind, value, &net, &v, &len, err, errlen) != 0)
        return -1;
    switch (kind) {
    case LIST_ACCOUNT:
        list_strs_add(&l->accounts, v, len);
        break;
    case LIST_CLIENT:
        if (l->nnets == l->capnets) {
            l->capnets = l->capnets ? l->capnets * 2 : 8;
            l->nets = xrealloc(l->nets, l->capnets * sizeof *l->nets);
        }
        l->nets[l->nnets++] = net;
        break;
    case LIST_SENDER:
    case LIST_DOMAIN:
        memcpy(tmp, v, len);
        tmp[len] = '\0';
        list_lower(tmp);
        if (kind == LIST_SENDER)
            list_strs_add(&l->senders, tmp, len);
        else
            list_strs_add(tmp[0] == '.' ? &l->parents : &l->domains, tmp, len);
        break;
    }
    return 0;
}

static int list_match_net(const struct list *l, const char *client)
{
    struct list_net c;
    uint8_t mapped[16];

    if (l->nnets == 0 || client == NULL || *client == '\0'
        || strlen(client) >= INET6_ADDRSTRLEN)
        return 0;
    memset(&c, 0, sizeof c);
    if (inet_pton(AF_INET, client, c.addr) == 1) {
        c.v6 = 0;
    } else if (inet_pton(AF_INET6, client, mapped) == 1) {
        static const uint8_t v4map[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (memcmp(mapped, v4map, 12) == 0) {
            c.v6 = 0;
            memcpy(c.addr, mapped + 12, 4);
        } else {
            c.v6 = 1;
            memcpy(c.addr, mapped, 16);
        }
    } else {
        return 0;
    }
    for (size_t i = 0; i < l->nnets; i++) {
        const struct list_net *n = &l->nets[i];
        unsigned full = n->prefix / 8, rest = n->prefix % 8;
        if (n->v6 != c.v6)
            continue;
        if (memcmp(n->addr, c.addr, full) != 0)
            continue;
        if (rest != 0) {
            uint8_t mask = (uint8_t)(0xffu << (8 - rest));
            if ((c.addr[full] & mask) != n->addr[full])
                continue;
        }
        return 1;
    }
    return 0;
}

bool list_match(const struct list *l, const char *account,
                const char *client_address, const char *sender,
                bool with_sender, enum list_kind *matched)
{
    char tmp[LIST_ENTRY_MAX + 1];

    if (l == NULL)
        return false;
    if (account != NULL && *account != '\0' && list_strs_has(&l->accounts, account)) {
        *matched = LIST_ACCOUNT;
        return true;
    }
    if (list_match_net(l, client_address)) {
        *matched = LIST_CLIENT;
        return true;
    }
    if (!with_sender || sender == NULL)
        return false;

    size_t len;
    const char *a = list_trim_addr(sender, &len);
    if (len == 0 || len > LIST_ENTRY_MAX)
        return false;
    memcpy(tmp, a, len);
    tmp[len] = '\0';
    list_lower(tmp);
    if (list_strs_has(&l->senders, tmp)) {
        *matched = LIST_SENDER;
        return true;
    }
    char *at = strrchr(tmp, '@');
    if (at == NULL || at[1] == '\0')
        return false;
    const char *dom = at + 1;
    if (list_strs_has(&l->domains, dom)) {
        *matched = LIST_DOMAIN;
        return true;
    }
    /* ".example.com" matches a.example.com, b.a.example.com, ... */
    for (const char *dot = strchr(dom, '.'); dot != NULL; dot = strchr(dot + 1, '.')) {
        if (list_strs_has(&l->parents, dot)) {
            *matched = LIST_DOMAIN;
            return true;
        }
    }
    return false;
}

int list_kind_parse(const char *name, enum list_kind *out)
{
    static const struct { const char *name; enum list_kind kind; } names[] = {
        { "account", LIST_ACCOUNT }, { "accounts", LIST_ACCOUNT },
        { "client", LIST_CLIENT }, { "clients", LIST_CLIENT },
        { "sender", LIST_SENDER }, { "senders", LIST_SENDER },
        { "domain", LIST_DOMAIN }, { "domains", LIST_DOMAIN },
        { "sender_domain", LIST_DOMAIN }, { "sender_domains", LIST_DOMAIN },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].kind;
            return 0;
        }
    }
    return -1;
}

int list_norm(enum list_kind kind, const char *value, bool lower,
              char *out, size_t cap, char *err, size_t errlen)
{
    struct list_net net;
    const char *v;
    size_t len;

    if (list_check(kind, value, &net, &v, &len, err, errlen) != 0)
        return -1;
    switch (kind) {
    case LIST_ACCOUNT:
        while (len > 0 && isspace((unsigned char)*v)) {
            v++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)v[len - 1]))
            len--;
        break;
    case LIST_CLIENT: {
        char canon[40];
        if (keys_client_canon(value, canon) != 0 || strlen(canon) >= cap) {
            snprintf(err, errlen, "\"%.64s\" is not an IP address or CIDR", value);
            return -1;
        }
        memcpy(out, canon, strlen(canon) + 1);
        return 0;
    }
    case LIST_SENDER:
    case LIST_DOMAIN:
        lower = true;
        break;
    }
    if (len == 0 || len >= cap) {
        snprintf(err, errlen, "%s entry is empty or too long", list_kind_name(kind));
        return -1;
    }
    memcpy(out, v, len);
    out[len] = '\0';
    if (lower)
        list_lower(out);
    return 0;
}
