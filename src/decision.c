/* decision.c - the rule order of SPEC §5 (see decision.h).
 *
 *   request -> bad?              -> DUNNO, rule "protocol" (logged)
 *           -> not RCPT/EOM?     -> DUNNO, rule "stage"    (never counted)
 *           -> allow list        -> DUNNO, rule "allow:<kind>"
 *           -> deny list         -> texts.deny, rule "deny:<kind>"
 *           -> (suspension, identity, recipient cap, limits: Redis, later)
 *           -> DUNNO, rule "default"
 * decision_finish() writes the reply through conn.c and logs one line. */
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "conn.h"
#include "decision.h"
#include "list.h"
#include "log.h"
#include "request.h"

static const char *const decision_allow_rules[LIST_KINDS] = {
    "allow:account", "allow:client", "allow:sender", "allow:domain"
};
static const char *const decision_deny_rules[LIST_KINDS] = {
    "deny:account", "deny:client", "deny:sender", "deny:domain"
};

void decision_format(char out[PROTO_TEXT_MAX + 1], const char *tmpl,
                     const struct decision_vars *v)
{
    size_t o = 0;

    for (const char *t = tmpl; *t != '\0' && o < PROTO_TEXT_MAX; t++) {
        char num[24];
        const char *ins = NULL;

        if (*t != '%' || t[1] == '\0') {
            out[o++] = *t;
            continue;
        }
        switch (*++t) {
        case 'a': ins = v ? v->address : NULL; break;
        case 'l': ins = v ? v->limit : NULL; break;
        case 'u': ins = v ? v->unit : NULL; break;
        case 'p': ins = v ? v->period : NULL; break;
        case 'r': ins = v ? v->retry : NULL; break;
        case 'n':
            snprintf(num, sizeof num, "%llu", v ? v->number : 0ULL);
            ins = num;
            break;
        case '%': ins = "%"; break;
        default:  ins = ""; break;      /* config.c refuses these */
        }
        for (; ins != NULL && *ins != '\0' && o < PROTO_TEXT_MAX; ins++)
            out[o++] = *ins;
    }
    out[o] = '\0';
}

static void decision_dunno(struct decision *d, const char *rule)
{
    d->action = ACTION_DUNNO;
    d->rule = rule;
    memcpy(d->text, "DUNNO", sizeof "DUNNO");
}

void decision_start(struct request *rq)
{
    const struct config *cfg = rq->cfg;
    struct decision d;
    enum list_kind kind;
    const char *client = rq->attr[PA_CLIENT_ADDRESS];
    const char *sender = rq->attr[PA_SENDER];
    const char *account = rq->account;
    bool authenticated = account[0] != '\0';

    request_ref(rq);            /* answering may drop the connection's ref */
    if (rq->bad != NULL) {
        char e[LOG_ESC_SIZE];
        log_warn("conn=%llu bad request: %s (protocol_state=%s)",
                 (unsigned long long)rq->conn_id, rq->bad,
                 log_escs(e, rq->attr[PA_PROTOCOL_STATE]));
        decision_dunno(&d, "protocol");
    } else if (rq->stage != STAGE_RCPT && rq->stage != STAGE_EOM) {
        decision_dunno(&d, "stage");
    } else if (list_match(cfg->allow.compiled, account, client, sender,
                          !authenticated, &kind)) {
        decision_dunno(&d, decision_allow_rules[kind]);
    } else if (list_match(cfg->deny.compiled, account, client, sender, true, &kind)) {
        struct decision_vars v = { .address = sender };
        d.action = ACTION_REJECT;
        d.rule = decision_deny_rules[kind];
        decision_format(d.text, cfg->texts.deny, &v);
    } else {
        decision_dunno(&d, "default");
    }
    decision_finish(rq, &d);
    request_unref(rq);
}

void decision_finish(struct request *rq, const struct decision *d)
{
    char ea[LOG_ESC_SIZE], ec[LOG_ESC_SIZE], es[LOG_ESC_SIZE], eq[LOG_ESC_SIZE];
    char et[LOG_ESC_SIZE];

    if (rq->answered)
        return;
    rq->answered = true;
    if (rq->conn != NULL)
        conn_reply(rq->conn, d->text);

    if (!log_enabled(LOG_L_INFO))
        return;
    uint64_t us = (uv_hrtime() - rq->start_ns) / 1000;
    log_msg(LOG_L_INFO,
            "decision conn=%llu stage=%s account=%s client=%s sender=%s "
            "rcpts=%llu queue_id=%s action=%s rule=%s us=%llu%s%s",
            (unsigned long long)rq->conn_id, request_stage_name(rq),
            log_escs(ea, rq->account), log_escs(ec, rq->attr[PA_CLIENT_ADDRESS]),
            log_escs(es, rq->attr[PA_SENDER]),
            (unsigned long long)rq->recipient_count,
            log_escs(eq, rq->attr[PA_QUEUE_ID]), config_action_name(d->action),
            d->rule, (unsigned long long)us,
            d->action == ACTION_DUNNO ? "" : " text=",
            d->action == ACTION_DUNNO ? "" : log_escs(et, d->text));
}
