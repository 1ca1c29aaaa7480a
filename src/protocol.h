/* protocol.h - the Postfix policy wire format, with no I/O.
 *
 * Bytes in: proto_feed() takes arbitrary chunks and returns PROTO_MORE until
 * the empty line that ends a request, then PROTO_DONE (or PROTO_BADREQ for a
 * complete request that is not a valid policy request) and tells how many
 * bytes it used; the rest belongs to the next request.  Values are then read
 * with proto_get() until proto_reset().  A negative status means the framing
 * can no longer be trusted: the caller logs and closes.
 *
 * Rules (SPEC §3, REFERENCE §1.1): lines end with LF only, CR is data;
 * "name=value"; unknown names are ignored; for a known name given twice the
 * first value wins (as Postfix's own reader does with replies) and the
 * duplicate is counted; a line without '=' or with an empty name makes the
 * request BADREQ, as does a missing or wrong request=smtpd_access_policy.
 *
 * Text out: proto_reply() writes "action=TEXT\n\n", TEXT cut to
 * PROTO_TEXT_MAX bytes and every byte outside printable ASCII replaced. */
#ifndef OUTPOST_PROTOCOL_H
#define OUTPOST_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

enum proto_attr {
    PA_REQUEST, PA_PROTOCOL_STATE, PA_PROTOCOL_NAME, PA_HELO_NAME,
    PA_QUEUE_ID, PA_SENDER, PA_RECIPIENT, PA_RECIPIENT_COUNT,
    PA_CLIENT_ADDRESS, PA_CLIENT_NAME, PA_REVERSE_CLIENT_NAME, PA_CLIENT_PORT,
    PA_INSTANCE, PA_SASL_METHOD, PA_SASL_USERNAME, PA_SASL_SENDER, PA_SIZE,
    PA_POLICY_CONTEXT, PA_SERVER_ADDRESS, PA_SERVER_PORT,
    PA_MAX
};

enum proto_status {
    PROTO_MORE     = 0,     /* all bytes used, request not complete */
    PROTO_DONE     = 1,     /* a complete, valid policy request */
    PROTO_BADREQ   = 2,     /* complete, but not a valid policy request */
    PROTO_ELINE    = -1,    /* a line longer than max_line */
    PROTO_EREQUEST = -2,    /* a request longer than max_request */
    PROTO_EATTRS   = -3,    /* more than max_attributes lines */
    PROTO_ENUL     = -4     /* a NUL byte */
};

/* The reply text after "action=" is at most this long (SPEC §3: < 200). */
#define PROTO_TEXT_MAX 199
#define PROTO_REPLY_MAX (sizeof "action=" - 1 + PROTO_TEXT_MAX + 2)

struct proto_limits {
    size_t max_line;            /* bytes of one line, LF excluded */
    size_t max_request;         /* bytes of one request, all LFs included */
    size_t max_attributes;      /* lines of one request, the empty one excluded */
};

struct proto {
    struct proto_limits lim;
    char    *buf;               /* owned; the request's bytes, grows to
                                   lim.max_request + 1 at most */
    size_t   len, cap;
    size_t   line;              /* offset where the current line starts */
    size_t   nattrs;            /* lines seen in this request */
    uint32_t val[PA_MAX];       /* offset + 1 of each known value; 0 = absent */
    unsigned dups;              /* known names seen more than once */
    const char *bad;            /* why the request is BADREQ (static text) */
};

void proto_init(struct proto *p, const struct proto_limits *lim);
void proto_free(struct proto *p);       /* frees buf; p can be re-inited */
/* Ready for the next request; keeps the buffer. */
void proto_reset(struct proto *p);

enum proto_status proto_feed(struct proto *p, const char *data, size_t len,
                             size_t *used);

/* The value of a known attribute after PROTO_DONE/BADREQ; "" when absent. */
const char *proto_get(const struct proto *p, enum proto_attr a);
const char *proto_attr_name(enum proto_attr a);
const char *proto_strerror(enum proto_status st);

/* Writes "action=TEXT\n\n" into out; returns its length. */
size_t proto_reply(char out[PROTO_REPLY_MAX], const char *text);

#endif
