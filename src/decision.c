/* decision.c - the rule order of SPEC §5 (see decision.h).
 *
 *   request -> bad?              -> DUNNO, rule "protocol" (logged)
 *           -> not RCPT/EOM?     -> DUNNO, rule "stage"    (never counted)
 *           -> static allow list -> DUNNO, rule "allow:<kind>"
 *           -> static deny list  -> remembered (the Redis allow list may
 *                                   still exempt the request)
 *           -> policy/decide.lua, one EVALSHA:
 *                Redis allow list       -> DUNNO, "allow:redis:<kind>"
 *                static deny            -> texts.deny, "deny:<kind>"
 *                Redis deny list        -> texts.deny, "deny:redis:<kind>"
 *                suspended              -> texts.suspended (REJECT or HOLD)
 *                otherwise              -> DUNNO, "default"
 *           -> no answer from Redis: static deny, cached suspension, or
 *              failure_action, rule "failure"
 * decision_finish() writes the reply through conn.c and logs one line. */
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "conn.h"
#include "decision.h"
#include "keys.h"
#include "list.h"
#include "log.h"
#include "request.h"
#include "store.h"
#include "suspend.h"

static const char *const decision_allow_rules[LIST_KINDS] = {
    "allow:account", "allow:client", "allow:sender", "allow:domain"
};
static const char *const decision_deny_rules[LIST_KINDS] = {
    "deny:account", "deny:client", "deny:sender", "deny:domain"
};

/* The Redis lists, in the order of decide.lua's KEYS[2..11]. */
static const char *const decision_list_keys[10] = {
    "allow:account", "allow:client", "allow:clientlens", "allow:sender", "allow:domain",
    "deny:account", "deny:client", "deny:clientlens", "deny:sender", "deny:domain",
};

/* Replies of decide.lua and the rules they become. */
static const struct {
    const char *reply;
    const char *rule;
    bool        deny;
} decision_redis_rules[] = {
    { "allow:account", "allow:redis:account", false },
    { "allow:client", "allow:redis:client", false },
    { "allow:sender", "allow:redis:sender", false },
    { "allow:domain", "allow:redis:domain", false },
    { "deny:account", "deny:redis:account", true },
    { "deny:client", "deny:redis:client", true },
    { "deny:sender", "deny:redis:sender", true },
    { "deny:domain", "deny:redis:domain", true },
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

static void decision_finish(struct decision_env *env, struct request *rq,
                            const struct decision *d);

static void decision_dunno(struct decision *d, const char *rule)
{
    d->action = ACTION_DUNNO;
    d->rule = rule;
    memcpy(d->text, "DUNNO", sizeof "DUNNO");
}

static void decision_deny(const struct request *rq, struct decision *d, const char *rule)
{
    struct decision_vars v = { .address = rq->attr[PA_SENDER] };
    d->action = ACTION_REJECT;
    d->rule = rule;
    decision_format(d->text, rq->cfg->texts.deny, &v);
}

/* The suspended answer of the account's class.  Until accounts carry a
 * class in Redis (the limits issue), that is default_class. */
static void decision_suspended(const struct request *rq, struct decision *d,
                               const char *rule)
{
    const struct config *cfg = rq->cfg;
    const struct config_class *k = config_class_find(cfg, cfg->default_class);
    struct decision_vars v = { .address = rq->attr[PA_SENDER] };
    char text[PROTO_TEXT_MAX + 1];

    decision_format(text, cfg->texts.suspended, &v);
    d->rule = rule;
    if (k != NULL && k->suspended_action == ACTION_HOLD) {
        /* HOLD's text is only logged by Postfix; cut to fit */
        d->action = ACTION_HOLD;
        memcpy(d->text, "HOLD ", 5);
        size_t n = strlen(text);
        if (n > PROTO_TEXT_MAX - 5)
            n = PROTO_TEXT_MAX - 5;
        memcpy(d->text + 5, text, n);
        d->text[5 + n] = '\0';
    } else {
        d->action = ACTION_REJECT;
        memcpy(d->text, text, sizeof text);
    }
}

/* Redis gave no answer: SPEC §9. */
static void decision_failed(struct decision_env *env, struct request *rq, const char *why)
{
    const struct config *cfg = rq->cfg;
    struct decision d;
    uint64_t now = uv_now(env->loop);

    if (rq->static_deny >= 0) {
        decision_deny(rq, &d, decision_deny_rules[rq->static_deny]);
    } else if (rq->account[0] != '\0' && suspend_cache_has(env->cache, rq->account, now)) {
        decision_suspended(rq, &d, "suspended:cache");
    } else {
        env->metrics.failure_actions++;
        env->fail_unlogged++;
        if (env->fail_log_ms == 0 || now - env->fail_log_ms >= 1000) {
            log_err("redis unavailable (%s): failure action %s for %llu request%s",
                    why, config_action_name(cfg->failure_action),
                    (unsigned long long)env->fail_unlogged,
                    env->fail_unlogged == 1 ? "" : "s");
            env->fail_log_ms = now;
            env->fail_unlogged = 0;
        }
        if (cfg->failure_action == ACTION_DEFER) {
            d.action = ACTION_DEFER;
            d.rule = "failure";
            decision_format(d.text, cfg->texts.failure, NULL);
        } else {
            decision_dunno(&d, "failure");
        }
    }
    decision_finish(env, rq, &d);
}

static void decision_on_store(struct request *rq, const struct store_reply *r, void *arg)
{
    struct decision_env *env = arg;
    const char *what = r->ok && r->n > 0 ? r->v[0] : NULL;
    struct decision d;

    if (rq->answered)
        return;
    if (what == NULL) {
        decision_failed(env, rq, r->ok ? "empty reply" : r->why);
        return;
    }
    if (strcmp(what, "ok") == 0) {
        if (rq->account[0] != '\0')
            suspend_cache_del(env->cache, rq->account);
        decision_dunno(&d, "default");
    } else if (strcmp(what, "suspended") == 0) {
        const struct config *cfg = rq->cfg;
        suspend_cache_put(env->cache, rq->account, uv_now(env->loop),
                          (uint64_t)cfg->suspension_cache.ttl_ms,
                          (size_t)cfg->suspension_cache.size);
        decision_suspended(rq, &d, "suspended");
    } else if (strcmp(what, "deny:static") == 0 && rq->static_deny >= 0) {
        decision_deny(rq, &d, decision_deny_rules[rq->static_deny]);
    } else {
        size_t i, n = sizeof decision_redis_rules / sizeof decision_redis_rules[0];
        for (i = 0; i < n && strcmp(what, decision_redis_rules[i].reply) != 0; i++)
            ;
        if (i == n) {
            char e[LOG_ESC_SIZE];
            log_err("decide.lua gave an unknown answer %s", log_escs(e, what));
            decision_failed(env, rq, "unknown answer");
            return;
        }
        if (decision_redis_rules[i].deny)
            decision_deny(rq, &d, decision_redis_rules[i].rule);
        else
            decision_dunno(&d, decision_redis_rules[i].rule);
    }
    decision_finish(env, rq, &d);
}

/* Builds decide.lua's keys and arguments (doc/keys.md) and sends it. */
static void decision_ask_redis(struct decision_env *env, struct request *rq)
{
    const struct config *cfg = rq->cfg;
    char keys[11][KEYS_MAX];
    char client[33] = "", sender[1040], err[128];
    const char *argv[16];
    size_t lens[16];
    const char *domain = "";
    const char *why;

    keys_account(keys[0], cfg->redis.prefix, rq->account, KEYS_SUSP);
    for (int i = 0; i < 10; i++)
        keys_global(keys[i + 1], cfg->redis.prefix, "lists", decision_list_keys[i]);
    if (keys_client_hex(rq->attr[PA_CLIENT_ADDRESS], client) != 0)
        client[0] = '\0';
    if (rq->attr[PA_SENDER][0] == '\0'
        || list_norm(LIST_SENDER, rq->attr[PA_SENDER], true, sender, sizeof sender,
                     err, sizeof err) != 0)
        sender[0] = '\0';
    const char *at = strrchr(sender, '@');
    if (at != NULL)
        domain = at + 1;

    int n = 0;
    for (int i = 0; i < 11; i++) {
        argv[n] = keys[i];
        lens[n++] = strlen(keys[i]);
    }
    argv[n] = rq->account;
    lens[n++] = strlen(rq->account);
    argv[n] = client;
    lens[n++] = strlen(client);
    argv[n] = sender;
    lens[n++] = strlen(sender);
    argv[n] = domain;
    lens[n++] = strlen(domain);
    argv[n] = rq->static_deny >= 0 ? "d" : "";
    lens[n++] = rq->static_deny >= 0 ? 1 : 0;

    if (store_eval(env->store, STORE_DECIDE, rq, n, argv, lens, 11,
                   decision_on_store, env, &why) != 0)
        decision_failed(env, rq, why);
}

void decision_start(struct decision_env *env, struct request *rq)
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
        env->metrics.bad_requests++;
        decision_dunno(&d, "protocol");
        decision_finish(env, rq, &d);
    } else if (rq->stage != STAGE_RCPT && rq->stage != STAGE_EOM) {
        decision_dunno(&d, "stage");
        decision_finish(env, rq, &d);
    } else if (list_match(cfg->allow.compiled, account, client, sender,
                          !authenticated, &kind)) {
        decision_dunno(&d, decision_allow_rules[kind]);
        decision_finish(env, rq, &d);
    } else {
        if (list_match(cfg->deny.compiled, account, client, sender, true, &kind))
            rq->static_deny = (int)kind;
        decision_ask_redis(env, rq);
    }
    request_unref(rq);
}

static void decision_finish(struct decision_env *env, struct request *rq,
                            const struct decision *d)
{
    char ea[LOG_ESC_SIZE], ec[LOG_ESC_SIZE], es[LOG_ESC_SIZE], eq[LOG_ESC_SIZE];
    char et[LOG_ESC_SIZE];

    if (rq->answered)
        return;
    rq->answered = true;
    if (rq->conn != NULL)
        conn_reply(rq->conn, d->text);

    uint64_t us = (uv_hrtime() - rq->start_ns) / 1000;
    metrics_decision(&env->metrics, (int)rq->stage, d->action, d->rule, us);
    if (!log_enabled(LOG_L_INFO))
        return;
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
