/* protocol.c - the Postfix policy wire format (see protocol.h).
 *
 * proto_feed() copies input line by line into p->buf, so a request is kept
 * whole and its values can be handed out as C strings: each line's '='
 * and LF are overwritten with NUL as the line completes.  Bounds are
 * checked as bytes arrive, so a peer can never make buf grow past
 * max_request + 1 bytes. */
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "xalloc.h"

#define PROTO_BUF_START 1024

/* The names and their lengths: a line's name is compared by length first
 * (most of the 25-30 lines of a request are other names). */
static const struct {
    const char *name;
    size_t len;
} proto_names[PA_MAX] = {
#define PROTO_NAME(s) { s, sizeof s - 1 }
    [PA_REQUEST] = PROTO_NAME("request"),
    [PA_PROTOCOL_STATE] = PROTO_NAME("protocol_state"),
    [PA_PROTOCOL_NAME] = PROTO_NAME("protocol_name"),
    [PA_HELO_NAME] = PROTO_NAME("helo_name"),
    [PA_QUEUE_ID] = PROTO_NAME("queue_id"),
    [PA_SENDER] = PROTO_NAME("sender"),
    [PA_RECIPIENT] = PROTO_NAME("recipient"),
    [PA_RECIPIENT_COUNT] = PROTO_NAME("recipient_count"),
    [PA_CLIENT_ADDRESS] = PROTO_NAME("client_address"),
    [PA_CLIENT_NAME] = PROTO_NAME("client_name"),
    [PA_REVERSE_CLIENT_NAME] = PROTO_NAME("reverse_client_name"),
    [PA_CLIENT_PORT] = PROTO_NAME("client_port"),
    [PA_INSTANCE] = PROTO_NAME("instance"),
    [PA_SASL_METHOD] = PROTO_NAME("sasl_method"),
    [PA_SASL_USERNAME] = PROTO_NAME("sasl_username"),
    [PA_SASL_SENDER] = PROTO_NAME("sasl_sender"),
    [PA_SIZE] = PROTO_NAME("size"),
    [PA_POLICY_CONTEXT] = PROTO_NAME("policy_context"),
    [PA_SERVER_ADDRESS] = PROTO_NAME("server_address"),
    [PA_SERVER_PORT] = PROTO_NAME("server_port"),
#undef PROTO_NAME
};

const char *proto_attr_name(enum proto_attr a)
{
    return (unsigned)a < PA_MAX ? proto_names[a].name : "?";
}

const char *proto_strerror(enum proto_status st)
{
    switch (st) {
    case PROTO_MORE:     return "incomplete request";
    case PROTO_DONE:     return "ok";
    case PROTO_BADREQ:   return "not a policy request";
    case PROTO_ELINE:    return "line too long";
    case PROTO_EREQUEST: return "request too long";
    case PROTO_EATTRS:   return "too many attributes";
    case PROTO_ENUL:     return "NUL byte in request";
    }
    return "unknown error";
}

void proto_init(struct proto *p, const struct proto_limits *lim)
{
    memset(p, 0, sizeof *p);
    p->lim = *lim;
}

void proto_free(struct proto *p)
{
    free(p->buf);
    p->buf = NULL;
    p->cap = p->len = 0;
}

void proto_reset(struct proto *p)
{
    p->len = p->line = p->nattrs = 0;
    p->dups = 0;
    p->bad = NULL;
    memset(p->val, 0, sizeof p->val);
}

static void proto_reserve(struct proto *p, size_t need)
{
    if (need <= p->cap)
        return;
    size_t cap = p->cap ? p->cap : PROTO_BUF_START;
    while (cap < need)
        cap *= 2;
    if (cap > p->lim.max_request + 1)
        cap = p->lim.max_request + 1;
    p->buf = xrealloc(p->buf, cap);
    p->cap = cap;
}

/* A whole line is in buf[p->line .. p->len), its LF not stored. */
static void proto_line(struct proto *p)
{
    char *s = p->buf + p->line;
    size_t n = p->len - p->line;
    char *eq = memchr(s, '=', n);

    p->buf[p->len++] = '\0';            /* the LF's place */
    if (eq == NULL || eq == s) {
        if (p->bad == NULL)
            p->bad = eq == NULL ? "attribute line without '='"
                                : "attribute with an empty name";
        return;
    }
    *eq = '\0';
    size_t namelen = (size_t)(eq - s);
    for (int a = 0; a < PA_MAX; a++) {
        if (proto_names[a].len == namelen && memcmp(s, proto_names[a].name, namelen) == 0) {
            if (p->val[a] != 0)
                p->dups++;
            else
                p->val[a] = (uint32_t)(eq + 1 - p->buf) + 1;
            return;
        }
    }
}

static enum proto_status proto_end(struct proto *p)
{
    if (p->bad == NULL) {
        if (p->val[PA_REQUEST] == 0)
            p->bad = "no request attribute";
        else if (strcmp(proto_get(p, PA_REQUEST), "smtpd_access_policy") != 0)
            p->bad = "request is not smtpd_access_policy";
    }
    return p->bad ? PROTO_BADREQ : PROTO_DONE;
}

enum proto_status proto_feed(struct proto *p, const char *data, size_t len,
                             size_t *used)
{
    size_t i = 0;

    while (i < len) {
        const char *lf = memchr(data + i, '\n', len - i);
        size_t seg = lf ? (size_t)(lf - (data + i)) : len - i;
        size_t linelen = p->len - p->line + seg;

        if (memchr(data + i, '\0', seg) != NULL) {
            *used = i;
            return PROTO_ENUL;
        }
        if (linelen > p->lim.max_line) {
            *used = i;
            return PROTO_ELINE;
        }
        /* +1: the LF of a line, or the empty line's LF */
        if (p->len + seg + (lf ? 1 : 0) > p->lim.max_request) {
            *used = i;
            return PROTO_EREQUEST;
        }
        if (seg > 0) {
            proto_reserve(p, p->len + seg + 1);
            memcpy(p->buf + p->len, data + i, seg);
            p->len += seg;
        }
        i += seg;
        if (lf == NULL)
            break;
        i++;                            /* the LF */
        if (p->len == p->line) {        /* an empty line ends the request */
            proto_reserve(p, p->len + 1);
            p->buf[p->len++] = '\0';
            *used = i;
            return proto_end(p);
        }
        if (++p->nattrs > p->lim.max_attributes) {
            *used = i;
            return PROTO_EATTRS;
        }
        proto_reserve(p, p->len + 1);
        proto_line(p);
        p->line = p->len;
    }
    *used = len;
    return PROTO_MORE;
}

const char *proto_get(const struct proto *p, enum proto_attr a)
{
    if ((unsigned)a >= PA_MAX || p->val[a] == 0)
        return "";
    return p->buf + p->val[a] - 1;
}

size_t proto_reply(char out[PROTO_REPLY_MAX], const char *text)
{
    size_t o = sizeof "action=" - 1;

    memcpy(out, "action=", o);
    for (size_t i = 0; text[i] != '\0' && i < PROTO_TEXT_MAX; i++) {
        unsigned char c = (unsigned char)text[i];
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[o++] = '\n';
    out[o++] = '\n';
    return o;
}
