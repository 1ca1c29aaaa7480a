/* request.h - one policy request, from its last byte read to its reply.
 *
 * request_new() copies the values of a complete request out of the
 * connection's parser into one allocation, so the request can outlive its
 * connection (a Redis reply may arrive after Postfix hung up).  It is
 * reference counted: the connection holds one reference while the request
 * is pending, and every asynchronous operation (a Redis call, a deadline
 * timer) holds one of its own.  The first party to answer sets `answered`;
 * later answers are dropped.  conn_close() sets `conn` to NULL. */
#ifndef OUTPOST_REQUEST_H
#define OUTPOST_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol.h"

struct conn;
struct config;

enum stage { STAGE_RCPT, STAGE_EOM, STAGE_DATA, STAGE_VRFY, STAGE_MAIL, STAGE_OTHER };

/* Longest account name kept; a longer sasl_username is cut for logging but
 * the request is marked bad (it cannot be a real login). */
#define REQUEST_ACCOUNT_MAX 256

struct request {
    int            refs;
    struct conn   *conn;        /* not owned; NULL once the connection closed */
    struct config *cfg;         /* a reference taken by request_new() */
    uint64_t       conn_id;     /* for log lines */
    uint64_t       start_ns;    /* uv_hrtime() when the request was complete */
    bool           answered;    /* a reply was produced (sent or not) */
    const char    *answer_rule; /* decision.c: the rule of that reply */
    enum stage     stage;
    const char    *bad;         /* static reason when the request is not valid
                                   (answered DUNNO, never evaluated), or NULL */
    const char    *attr[PA_MAX];/* into strings[]; "" when absent, never NULL */
    const char    *account;     /* normalised sasl_username, "" if none */
    uint64_t       recipient_count;
    uint64_t       size;
    int            static_deny; /* decision.c: the static deny entry kind
                                   (enum list_kind) that matched, or -1 */
    uint64_t       rcpt_units;  /* conn.c, at RCPT: distinct recipients of this
                                   instance on this connection, this one included */
    uint64_t       rcpt_hash;   /* conn.c: this RCPT's recipient, hashed */
    bool           rcpt_new;    /* conn.c: it was new to the instance (a refusal
                                   takes it back) */
    bool           id_first;    /* conn.c: the first RCPT of the instance on
                                   this connection (or a MAIL request): the
                                   sender identity is recorded here */
    char           strings[];   /* all values, NUL-terminated, owned */
};

/* st is PROTO_DONE or PROTO_BADREQ; takes a reference on cfg. */
struct request *request_new(const struct proto *p, enum proto_status st,
                            struct config *cfg, struct conn *conn,
                            uint64_t conn_id, uint64_t now_ns);
struct request *request_ref(struct request *rq);
void request_unref(struct request *rq);             /* NULL is fine */

const char *request_stage_name(const struct request *rq);

#endif
