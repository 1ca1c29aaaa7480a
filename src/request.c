/* request.c - one policy request (see request.h).
 *
 * All values live in the flexible strings[] member: one allocation per
 * request, sized from the parser's buffer, freed by the last unref. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "request.h"
#include "xalloc.h"

static enum stage request_stage(const char *s)
{
    if (strcmp(s, "RCPT") == 0)
        return STAGE_RCPT;
    if (strcmp(s, "END-OF-MESSAGE") == 0)
        return STAGE_EOM;
    if (strcmp(s, "DATA") == 0)
        return STAGE_DATA;
    if (strcmp(s, "VRFY") == 0)
        return STAGE_VRFY;
    if (strcmp(s, "MAIL") == 0)
        return STAGE_MAIL;
    return STAGE_OTHER;
}

/* Decimal, at most 19 digits; "" is 0 (SPEC §3: absent numbers). */
static int request_number(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = 0;
    for (; *s; s++, n++) {
        if (!isdigit((unsigned char)*s) || n >= 19)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

struct request *request_new(const struct proto *p, enum proto_status st,
                            struct config *cfg, struct conn *conn,
                            uint64_t conn_id, uint64_t now_ns)
{
    size_t total = 0, len[PA_MAX];

    for (int a = 0; a < PA_MAX; a++) {
        len[a] = strlen(proto_get(p, a));
        total += len[a] + 1;
    }
    total += len[PA_SASL_USERNAME] + 1;         /* the normalised account */

    struct request *rq = xmalloc(sizeof *rq + total);
    memset(rq, 0, sizeof *rq);
    rq->refs = 1;
    rq->conn = conn;
    rq->cfg = config_ref(cfg);
    rq->conn_id = conn_id;
    rq->start_ns = now_ns;
    rq->static_deny = -1;

    char *o = rq->strings;
    for (int a = 0; a < PA_MAX; a++) {
        memcpy(o, proto_get(p, a), len[a] + 1);
        rq->attr[a] = o;
        o += len[a] + 1;
    }

    /* The account: surrounding whitespace removed, lower-cased by default
     * (account.lowercase) so that "Alice" and "alice" are one account. */
    const char *u = rq->attr[PA_SASL_USERNAME];
    size_t ulen = len[PA_SASL_USERNAME];
    while (ulen > 0 && isspace((unsigned char)*u)) {
        u++;
        ulen--;
    }
    while (ulen > 0 && isspace((unsigned char)u[ulen - 1]))
        ulen--;
    for (size_t i = 0; i < ulen; i++)
        o[i] = cfg->account_lowercase ? (char)tolower((unsigned char)u[i]) : u[i];
    o[ulen] = '\0';
    rq->account = o;

    rq->stage = request_stage(rq->attr[PA_PROTOCOL_STATE]);
    if (st != PROTO_DONE)
        rq->bad = p->bad ? p->bad : "not a policy request";
    else if (request_number(rq->attr[PA_RECIPIENT_COUNT], &rq->recipient_count) != 0)
        rq->bad = "recipient_count is not a number";
    else if (request_number(rq->attr[PA_SIZE], &rq->size) != 0)
        rq->bad = "size is not a number";
    else if (ulen > REQUEST_ACCOUNT_MAX)
        rq->bad = "sasl_username too long";
    return rq;
}

struct request *request_ref(struct request *rq)
{
    rq->refs++;
    return rq;
}

void request_unref(struct request *rq)
{
    if (rq == NULL || --rq->refs > 0)
        return;
    config_unref(rq->cfg);
    free(rq);
}

/* A static name, safe to log unescaped: the peer's value only if known. */
const char *request_stage_name(const struct request *rq)
{
    static const char *const known[] = {
        "RCPT", "END-OF-MESSAGE", "DATA", "VRFY", "CONNECT", "EHLO", "HELO",
        "MAIL", "ETRN"
    };
    const char *s = rq->attr[PA_PROTOCOL_STATE];
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(s, known[i]) == 0)
            return known[i];
    return *s ? "unknown" : "-";
}
