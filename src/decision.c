/* decision.c - the rule order of SPEC §5 (see decision.h).
 *
 *   request -> bad?              -> DUNNO, rule "protocol" (logged)
 *           -> not RCPT/EOM?     -> DUNNO, rule "stage"    (never counted)
 *           -> static allow list -> DUNNO, rule "allow:<kind>"
 *           -> static deny list  -> remembered (the Redis allow list may
 *                                   still exempt the request)
 *           -> policy/decide.lua, one FCALL of its Function:
 *                Redis allow list       -> DUNNO, "allow:redis:<kind>"
 *                static deny            -> texts.deny, "deny:<kind>"
 *                Redis deny list        -> texts.deny, "deny:redis:<kind>"
 *                suspended              -> texts.suspended (REJECT or HOLD)
 *                sender not authorized  -> enforce: texts.identity, "identity";
 *                                          monitor: goes on, logged, and at
 *                                          the first RCPT maybe a PREPEND
 *                recipient cap          -> texts.recipients (RCPT) or
 *                                          texts.recipients_final, "recipients"
 *                a limit refuses        -> texts.limit or the limit's text,
 *                                          DEFER/REJECT/HOLD, "limit:<name>"
 *                one message > a limit  -> texts.exceeds, "exceeds:<name>"
 *                otherwise              -> DUNNO, "default" (at
 *                                          END-OF-MESSAGE: counted)
 * The classes and limits of the config are one text formatted once per
 * config (struct decision_spec); each call carries its SHA-1, and the text
 * itself only when the Function does not have it yet (store.c resends the
 * call with it on the answer OUTPOSTCFG).  A count whose
 * reply comes after the client was told DEFER by failure_action is undone
 * with policy/undo.lua.
 *           -> no answer from Redis: static deny, cached suspension, or
 *              failure_action, rule "failure"
 * decision_finish() writes the reply through conn.c and logs one line. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "conn.h"
#include "decision.h"
#include "identity.h"
#include "keys.h"
#include "list.h"
#include "log.h"
#include "request.h"
#include "sha1.h"
#include "store.h"
#include "suspend.h"
#include "xalloc.h"

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

/* A batch's shared keys and arguments (before R and NK), and what each
 * request adds: its keys susp, acct, eom, ids, observed, then its counter
 * keys; its arguments as listed in decision_ask_redis(). */
#define DECISION_GROUP_KEYS 12
#define DECISION_GROUP_N    (DECISION_GROUP_KEYS + 2)
#define DECISION_OWN_KEYS   5           /* then the counter keys */
#define DECISION_OWN_ARGS   11

/* decide.lua's view of the classes and limits of one config (doc/keys.md
 * "The configuration text"): one text, which the Function parses once and
 * keeps under its SHA-1 (every call carries the SHA-1, the text only when
 * the Function asks for it); and the distinct counter keys the limits
 * need. */
struct decision_spec {
    struct config *cfg;         /* a reference: the config it describes */
    char          *text;        /* owned: the configuration text */
    char           id[41];      /* its SHA-1, as redis.sha1hex() */
    struct {
        enum limit_key kind;
        const char    *name;    /* into cfg */
    }             *ctr;         /* owned; the counter keys, KEYS[14..] */
    size_t         nctr;
    char          *keybuf;      /* owned; (3 + nctr) x KEYS_MAX: a request's
                                   own keys (decision_keys), reused by every
                                   request, as store_decide() copies them */
    char           lists[10][KEYS_MAX]; /* P{lists}:..., KEYS[2..11] */
    char           evkey[KEYS_MAX];     /* P{events} */
    char           obsidx[KEYS_MAX];    /* P{idx}:observed */
    /* what every request of this config shares in a batch (doc/keys.md
     * "The batch"): the lists, P{events}, P{idx}:observed; the SHA-1 and
     * the test clock (""); the text on demand.  Pointing into sp. */
    const char    *gargv[DECISION_GROUP_N];
    size_t         glens[DECISION_GROUP_N];
    struct store_group group;
};

static void decision_spec_free(struct decision_spec *sp)
{
    if (sp == NULL)
        return;
    free(sp->text);
    free(sp->ctr);
    free(sp->keybuf);
    config_unref(sp->cfg);
    free(sp);
}

/* The first line of the configuration text: the layout decide.lua parses. */
#define DECISION_TEXT_HEADER "outpost-decide 2"

static const char decision_counts[] = { 'm', 'r', 'b' };   /* enum limit_count */
static const char *const decision_units[] = { "messages", "recipients", "bytes" };

/* Appends a formatted line to the growing text *buf (length *len). */
static void decision_text_add(char **buf, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void decision_text_add(char **buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    *buf = xrealloc(*buf, *len + (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(*buf + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
}

/* The counter key of limit l: its index in sp->ctr, added if new (sp->ctr
 * has room for every limit of the config). */
static size_t decision_spec_ctr(struct decision_spec *sp, const struct config_limit *l)
{
    size_t c;
    for (c = 0; c < sp->nctr; c++)
        if (sp->ctr[c].kind == l->key && strcmp(sp->ctr[c].name, l->name) == 0)
            return c;
    sp->ctr[c].kind = l->key;
    sp->ctr[c].name = l->name;
    sp->nctr++;
    return c;
}

static struct decision_spec *decision_spec_new(struct config *cfg, uint64_t gen)
{
    struct decision_spec *sp = xcalloc(1, sizeof *sp);
    size_t nlimits = 0, len = 0;

    sp->cfg = config_ref(cfg);
    for (size_t i = 0; i < cfg->nclasses; i++)
        nlimits += cfg->classes[i].nlimits;
    sp->ctr = xcalloc(nlimits + 1, sizeof *sp->ctr);
    for (size_t i = 0; i < cfg->nclasses; i++)
        for (size_t j = 0; j < cfg->classes[i].nlimits; j++)
            decision_spec_ctr(sp, &cfg->classes[i].limits[j]);
    /* the events key sits right after the counter keys: KEYS[14 + nctr] */
    decision_text_add(&sp->text, &len, "%s\ne\t%zu\t%llu\t%lld\n", DECISION_TEXT_HEADER,
                      14 + sp->nctr, (unsigned long long)cfg->events.max_length,
                      (long long)cfg->events.limit_window_ms);
    /* the identity keys follow the events key: KEYS[15 + nctr] */
    if (cfg->identities.mode != IDENTITY_OFF)
        decision_text_add(&sp->text, &len, "i\t%c\t%lld\t%d\t%lld\t%llu\t%lld\t%zu\n",
                          cfg->identities.mode == IDENTITY_ENFORCE ? 'e' : 'm',
                          (long long)cfg->identities.enforce_from_ms,
                          cfg->identities.domain_grants ? 1 : 0,
                          (long long)cfg->identities.event_window_ms,
                          (unsigned long long)cfg->identities.observed_max,
                          (long long)cfg->identities.observed_ttl_ms, 15 + sp->nctr);
    for (size_t i = 0; i < cfg->nclasses; i++) {
        const struct config_class *k = &cfg->classes[i];
        decision_text_add(&sp->text, &len, "c\t%s\t%llu\t%c\n", k->name,
                          (unsigned long long)k->max_recipients_per_message,
                          k->suspended_action == ACTION_HOLD ? 'H' : 'R');
    }
    for (size_t i = 0; i < cfg->nclasses; i++) {
        const struct config_class *k = &cfg->classes[i];
        for (size_t j = 0; j < k->nlimits; j++) {
            const struct config_limit *l = &k->limits[j];
            size_t c = decision_spec_ctr(sp, l);
            decision_text_add(&sp->text, &len, "l\t%s\t%s\t%c\t%llu\t%lld\t%c\t%d\t%zu\n",
                              k->name, l->name, decision_counts[l->count],
                              (unsigned long long)l->max, (long long)l->per_ms,
                              l->action == ACTION_REJECT ? 'R'
                              : l->action == ACTION_HOLD ? 'H' : 'D',
                              l->shadow ? 1 : 0, 14 + c);
        }
    }
    sha1_hex(sp->text, len, sp->id);
    sp->keybuf = xmalloc((3 + sp->nctr) * KEYS_MAX);
    for (int i = 0; i < 10; i++)
        keys_global(sp->lists[i], cfg->redis.prefix, "lists", decision_list_keys[i]);
    keys_global(sp->evkey, cfg->redis.prefix, "events", NULL);
    keys_global(sp->obsidx, cfg->redis.prefix, "idx", "observed");
    for (int i = 0; i < 10; i++)
        sp->gargv[i] = sp->lists[i];
    sp->gargv[10] = sp->evkey;
    sp->gargv[11] = sp->obsidx;
    sp->gargv[12] = sp->id;
    sp->gargv[13] = "";                 /* the test clock: never in production */
    for (int i = 0; i < DECISION_GROUP_N; i++)
        sp->glens[i] = strlen(sp->gargv[i]);
    sp->group = (struct store_group){
        .gen = gen, .nkeys = DECISION_GROUP_KEYS, .nargs = DECISION_GROUP_N - DECISION_GROUP_KEYS,
        .argv = sp->gargv, .lens = sp->glens, .last = sp->text, .last_len = len,
        .own_keys = DECISION_OWN_KEYS + (int)sp->nctr, .own_args = DECISION_OWN_ARGS,
    };
    return sp;
}

static struct decision_spec *decision_spec_get(struct decision_env *env, struct config *cfg)
{
    if (env->spec == NULL || env->spec->cfg != cfg) {
        decision_spec_free(env->spec);
        env->spec = decision_spec_new(cfg, ++env->spec_gen);
    }
    return env->spec;
}

void decision_env_fini(struct decision_env *env)
{
    decision_spec_free(env->spec);
    env->spec = NULL;
    metrics_free(&env->metrics);
}

/* A limit of a class, by name; NULL if the config has no such limit. */
static const struct config_limit *decision_limit_find(const struct config *cfg,
                                                      const char *klass, const char *name)
{
    const struct config_class *k = config_class_find(cfg, klass);
    for (size_t j = 0; k != NULL && j < k->nlimits; j++)
        if (strcmp(k->limits[j].name, name) == 0)
            return &k->limits[j];
    return NULL;
}

/* "45 s", "37 min", "2 h 5 min" (rounded up: never too early). */
static void decision_retry_text(long long ms, char *out, size_t cap)
{
    long long s = (ms + 999) / 1000;
    if (s < 1)
        s = 1;
    if (s < 60)
        snprintf(out, cap, "%lld s", s);
    else if (s < 3600)
        snprintf(out, cap, "%lld min", (s + 59) / 60);
    else
        snprintf(out, cap, "%lld h %lld min", s / 3600, (s % 3600 + 59) / 60);
}

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

/* The suspended answer: REJECT with texts.suspended, or HOLD (the
 * account's class's suspended_action, as decide.lua reports it; for the
 * cache, default_class's). */
static void decision_suspended(const struct request *rq, struct decision *d,
                               const char *rule, bool hold)
{
    const struct config *cfg = rq->cfg;
    struct decision_vars v = { .address = rq->attr[PA_SENDER] };
    char text[PROTO_TEXT_MAX + 1];

    decision_format(text, cfg->texts.suspended, &v);
    d->rule = rule;
    if (hold) {
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
        const struct config_class *k = config_class_find(cfg, cfg->default_class);
        decision_suspended(rq, &d, "suspended:cache",
                           k != NULL && k->suspended_action == ACTION_HOLD);
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

/* A refusal by limit: DEFER keeps the text ("450 4.7.1 ..."); REJECT and
 * HOLD keep its words after the codes ("550 5.7.1 words", "HOLD words"). */
static void decision_refusal(struct decision *d, char act, const char *text)
{
    const char *words = text;
    if ((text[0] == '4' || text[0] == '5') && text[3] == ' ') {
        words = strchr(text + 4, ' ');          /* after the enhanced code */
        words = words ? words + 1 : text + 4;
    }
    if (act == 'R') {
        d->action = ACTION_REJECT;
        snprintf(d->text, sizeof d->text, "550 5.7.1 %.*s", PROTO_TEXT_MAX - 10, words);
    } else if (act == 'H') {
        d->action = ACTION_HOLD;
        snprintf(d->text, sizeof d->text, "HOLD %.*s", PROTO_TEXT_MAX - 5, words);
    } else {
        d->action = ACTION_DEFER;
        snprintf(d->text, sizeof d->text, "%s", text);
    }
}

/* "limit", NAME, ACTION, MAX, PER_MS, COUNT, RETRY_MS, CLASS and
 * "exceeds", NAME, ACTION, MAX, PER_MS, COUNT, CLASS. */
static bool decision_limit(const struct request *rq, const struct store_reply *r,
                           struct decision *d, bool exceeds)
{
    const struct config *cfg = rq->cfg;
    char period[32], retry[48], text[PROTO_TEXT_MAX + 1];

    if (r->n < (exceeds ? 7u : 8u))
        return false;
    const struct config_limit *l = decision_limit_find(cfg, r->v[exceeds ? 6 : 7], r->v[1]);
    int cnt = r->v[5][0] == 'r' ? 1 : r->v[5][0] == 'b' ? 2 : 0;
    config_format_duration(strtoll(r->v[4], NULL, 10), period, sizeof period);
    decision_retry_text(exceeds ? 0 : strtoll(r->v[6], NULL, 10), retry, sizeof retry);
    struct decision_vars v = {
        .address = rq->attr[PA_SENDER], .limit = r->v[1], .unit = decision_units[cnt],
        .period = period, .retry = retry, .number = strtoull(r->v[3], NULL, 10),
    };
    decision_format(text, exceeds ? cfg->texts.exceeds
                          : l != NULL && l->text != NULL ? l->text : cfg->texts.limit, &v);
    if (exceeds) {
        d->action = ACTION_REJECT;
        snprintf(d->text, sizeof d->text, "%s", text);
    } else {
        decision_refusal(d, r->v[2][0], text);
    }
    snprintf(d->rulebuf, sizeof d->rulebuf, "%s:%s", exceeds ? "exceeds" : "limit", r->v[1]);
    d->rule = d->rulebuf;
    return true;
}

/* One line per identity violation: for a real address only when decide.lua
 * wrote its event (NEW: once per identities.event_window), for a null or
 * malformed sender every time (those are never recorded). */
static void decision_identity_log(const struct request *rq, const char *state,
                                  const char *addr, bool new)
{
    char ea[LOG_ESC_SIZE], es[LOG_ESC_SIZE], ed[LOG_ESC_SIZE];
    bool real = addr[0] != '\0' && strcmp(addr, "<>") != 0 && strcmp(addr, "!") != 0;

    if (real && !new)
        return;
    log_notice("identity violation account=%s sender=%s address=%s mode=%s%s",
               log_escs(ea, rq->account), log_escs(es, rq->attr[PA_SENDER]),
               log_escs(ed, strcmp(addr, "!") == 0 ? "(malformed)"
                            : strcmp(addr, "<>") == 0 ? "(null sender)" : addr),
               state, real ? " event=1" : "");
}

/* Monitor mode: the optional warning header, at the first RCPT of a
 * message only (Postfix refuses PREPEND at END-OF-MESSAGE). */
static void decision_prepend(const struct request *rq, struct decision *d, const char *addr)
{
    const char *h = rq->cfg->identities.prepend_header;
    if (h == NULL || rq->stage != STAGE_RCPT || !rq->id_first)
        return;
    snprintf(d->text, sizeof d->text, "PREPEND %s: account %.64s is not authorized to "
             "send as <%.80s>", h, rq->account,
             strcmp(addr, "!") == 0 || strcmp(addr, "<>") == 0 ? "" : addr);
}

static void decision_on_store(struct request *rq, const struct store_reply *r, void *arg)
{
    struct decision_env *env = arg;
    const struct config *cfg = rq->cfg;
    const char *what = r->ok && r->n > 0 ? r->v[0] : NULL;
    struct decision d;

    if (rq->answered)
        return;
    if (what == NULL) {
        decision_failed(env, rq, r->ok ? "empty reply" : r->why);
        return;
    }
    /* a monitored identity violation: "#identity", STATE, ADDRESS, NEW
     * after the rule's own elements (decide.lua; before shadow names) */
    size_t nv = r->n;           /* the elements before it */
    const char *const *idn = NULL;
    for (size_t i = 1; i + 3 < r->n; i++)
        if (strcmp(r->v[i], "#identity") == 0) {
            nv = i;
            idn = (const char *const *)&r->v[i + 1];
            break;
        }
    if (strcmp(what, "identity") == 0 && r->n >= 3) {
        decision_identity_log(rq, "enforce", r->v[1], r->v[2][0] == '1');
        struct decision_vars v = { .address = r->v[1][0] == '!' ? rq->attr[PA_SENDER]
                                            : strcmp(r->v[1], "<>") == 0 ? "" : r->v[1] };
        d.action = ACTION_REJECT;
        d.rule = "identity";
        decision_format(d.text, cfg->texts.identity, &v);
        decision_finish(env, rq, &d);
        return;
    }
    if (idn != NULL)
        decision_identity_log(rq, idn[0], idn[1], idn[2][0] == '1');
    if (strcmp(what, "ok") == 0) {
        if (rq->account[0] != '\0')
            suspend_cache_del(env->cache, rq->account);
        for (size_t i = 3; i < nv; i++) {
            char ea[LOG_ESC_SIZE];
            log_notice("shadow limit %s of class %s would refuse account=%s "
                       "client=%s stage=%s", r->v[i], r->n > 1 ? r->v[1] : "?",
                       log_escs(ea, rq->account), rq->attr[PA_CLIENT_ADDRESS][0]
                       ? rq->attr[PA_CLIENT_ADDRESS] : "-", request_stage_name(rq));
        }
        decision_dunno(&d, "default");
        if (idn != NULL)
            decision_prepend(rq, &d, idn[1]);
    } else if (strcmp(what, "suspended") == 0) {
        suspend_cache_put(env->cache, rq->account, uv_now(env->loop),
                          (uint64_t)cfg->suspension_cache.ttl_ms,
                          (size_t)cfg->suspension_cache.size);
        decision_suspended(rq, &d, "suspended", r->n > 3 && r->v[3][0] == 'H');
    } else if (strcmp(what, "recipients") == 0 && r->n > 1) {
        struct decision_vars v = { .address = rq->attr[PA_SENDER],
                                   .number = strtoull(r->v[1], NULL, 10) };
        bool eom = rq->stage == STAGE_EOM;
        d.action = eom ? ACTION_REJECT : ACTION_DEFER;
        d.rule = "recipients";
        decision_format(d.text, eom ? cfg->texts.recipients_final : cfg->texts.recipients, &v);
    } else if (strcmp(what, "limit") == 0 || strcmp(what, "exceeds") == 0) {
        if (!decision_limit(rq, r, &d, what[0] == 'e')) {
            decision_failed(env, rq, "short limit reply");
            return;
        }
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

/* Postfix's instance is "%x.%lx.%lx.%x", its queue ids are short. */
#define DECISION_ID_MAX 64

static bool decision_has_dedupe(const struct request *rq)
{
    const char *inst = rq->attr[PA_INSTANCE], *qid = rq->attr[PA_QUEUE_ID];
    return rq->stage == STAGE_EOM && inst[0] != '\0' && qid[0] != '\0'
           && strlen(inst) <= DECISION_ID_MAX && strlen(qid) <= DECISION_ID_MAX;
}

/* The client's HEX32 ("" if not an address), the sender lower-cased
 * without <> ("" for the null sender or a malformed one) and its domain. */
struct decision_ids {
    char        client[33];
    char        sender[1040];
    const char *domain;         /* into sender, or "" */
};

static void decision_ids(const struct request *rq, struct decision_ids *ids)
{
    char err[128];
    if (keys_client_hex(rq->attr[PA_CLIENT_ADDRESS], ids->client) != 0)
        ids->client[0] = '\0';
    if (rq->attr[PA_SENDER][0] == '\0'
        || list_norm(LIST_SENDER, rq->attr[PA_SENDER], true, ids->sender,
                     sizeof ids->sender, err, sizeof err) != 0)
        ids->sender[0] = '\0';
    const char *at = strrchr(ids->sender, '@');
    ids->domain = at != NULL ? at + 1 : "";
}

/* decide.lua's keys for rq (doc/keys.md): 13 + the spec's counter keys,
 * all pointing into sp (the request's own in sp->keybuf, valid until the
 * next call); false if a key does not fit. */
static bool decision_keys(const struct request *rq, struct decision_spec *sp,
                          const struct decision_ids *ids, char **keys)
{
    const struct config *cfg = rq->cfg;
    char *buf = sp->keybuf;                     /* KEYS 1, 12, 13, 14.. */
    size_t ok = 1;

    keys[0] = buf;
    for (int i = 0; i < 10; i++)
        keys[i + 1] = sp->lists[i];             /* the same for every request */
    for (size_t i = 11; i < 13 + sp->nctr; i++)
        keys[i] = buf + (i - 10) * KEYS_MAX;
    ok = ok && keys_account(keys[0], cfg->redis.prefix, rq->account, KEYS_SUSP);
    ok = ok && keys_account(keys[11], cfg->redis.prefix, rq->account, KEYS_ACCT);
    /* The dedupe key of a message; where there is none (RCPT, or Postfix's
     * instance or queue_id missing or longer than a real one can be) the
     * acct key stands in, unused (flag "n"): no key is ever "", so an ACL
     * user needs no access outside the prefix. */
    if (decision_has_dedupe(rq))
        ok = ok && keys_eom(keys[12], cfg->redis.prefix, rq->account, rq->attr[PA_INSTANCE],
                            rq->attr[PA_QUEUE_ID]);
    else
        memcpy(keys[12], keys[11], strlen(keys[11]) + 1);
    for (size_t c = 0; c < sp->nctr; c++) {
        const char *id = sp->ctr[c].kind == LIMIT_KEY_ACCOUNT ? rq->account
                       : sp->ctr[c].kind == LIMIT_KEY_CLIENT_ADDRESS ? ids->client
                       : ids->domain;
        if (id[0] != '\0')
            ok = ok && keys_counter(keys[13 + c], cfg->redis.prefix, sp->ctr[c].kind, id,
                                    sp->ctr[c].name);
        else                            /* absent (see decision_absent) */
            memcpy(keys[13 + c], keys[11], strlen(keys[11]) + 1);
    }
    return ok != 0;
}

/* A count that arrived after the client was told DEFER is taken back. */
static void decision_on_undone(struct request *rq, const struct store_reply *r, void *arg)
{
    char eq[LOG_ESC_SIZE];
    (void)arg;
    if (r->ok)
        log_notice("undid the late count of queue_id=%s (conn=%llu)",
                   log_escs(eq, rq->attr[PA_QUEUE_ID]), (unsigned long long)rq->conn_id);
    else
        log_err("could not undo the late count of queue_id=%s: %s",
                log_escs(eq, rq->attr[PA_QUEUE_ID]), r->why);
}

static void decision_on_late(struct request *rq, const struct store_reply *r, void *arg)
{
    struct decision_env *env = arg;
    const char *why;

    if (rq->stage != STAGE_EOM || r->n < 3 || strcmp(r->v[0], "ok") != 0
        || strcmp(r->v[2], "1") != 0 || rq->answer_rule == NULL
        || strcmp(rq->answer_rule, "failure") != 0 || rq->cfg->failure_action != ACTION_DEFER)
        return;             /* not counted now, or the client was not deferred */
    struct decision_spec *sp = decision_spec_get(env, rq->cfg);
    struct decision_ids ids;
    char *keys[13 + sp->nctr];
    decision_ids(rq, &ids);
    if (!decision_keys(rq, sp, &ids, keys))
        return;
    const char *argv[1 + sp->nctr];
    size_t lens[1 + sp->nctr];
    if (!decision_has_dedupe(rq))           /* no dedupe key: nothing to undo */
        return;
    argv[0] = keys[12];
    lens[0] = strlen(keys[12]);
    int n = 1;
    for (size_t c = 0; c < sp->nctr; c++) {
        if (strcmp(keys[13 + c], keys[11]) == 0)        /* absent */
            continue;
        argv[n] = keys[13 + c];
        lens[n++] = strlen(keys[13 + c]);
    }
    if (store_eval(env->store, STORE_UNDO, rq, n, argv, lens, n, decision_on_undone, NULL,
                   env, &why) != 0) {
        char eq[LOG_ESC_SIZE];
        log_err("could not undo the late count of queue_id=%s: %s",
                log_escs(eq, rq->attr[PA_QUEUE_ID]), why);
    }
}

/* The identity check of rq, if it has one (doc/keys.md "Sender
 * identities"): authenticated, identities.mode not off, at the configured
 * stage, and not a null sender that null_sender allows.  Then the keys
 * ids and observed (the observed index is sp->obsidx), and the address argument
 * (the normal form, "<>" a refused null sender, "!" not an address); the
 * rest of the check is in the configuration text's identity line. */
static bool decision_identity(const struct request *rq, char keys[2][KEYS_MAX],
                              char addr[IDENTITY_ADDR_MAX + 1])
{
    const struct config *cfg = rq->cfg;
    char err[128];
    const char *sender = rq->attr[PA_SENDER];

    if (rq->account[0] == '\0' || cfg->identities.mode == IDENTITY_OFF)
        return false;
    if (rq->stage != (cfg->identities.stage == IDENTITY_STAGE_MAIL ? STAGE_MAIL : STAGE_RCPT))
        return false;
    bool null = sender[0] == '\0' || strcmp(sender, "<>") == 0;
    if (null && cfg->identities.null_sender_allow)
        return false;
    if (null)
        memcpy(addr, "<>", 3);
    else if (identity_norm(cfg, sender, false, addr, err, sizeof err) != IDENTITY_ADDRESS)
        memcpy(addr, "!", 2);
    return keys_account(keys[0], cfg->redis.prefix, rq->account, KEYS_IDS)
        && keys_account(keys[1], cfg->redis.prefix, rq->account, KEYS_OBSERVED);
}

/* Builds a request's part of decide.lua's batch (doc/keys.md "The
 * batch") and queues it; its ids and observed keys, without an identity
 * check, and its dedupe key, without one, are the acct key (never read). */
static void decision_ask_redis(struct decision_env *env, struct request *rq)
{
    const struct config *cfg = rq->cfg;
    struct decision_spec *sp = decision_spec_get(env, rq->cfg);
    char idkeys[2][KEYS_MAX], idaddr[IDENTITY_ADDR_MAX + 1];
    bool id = decision_identity(rq, idkeys, idaddr);
    size_t argc = DECISION_OWN_KEYS + sp->nctr + DECISION_OWN_ARGS;
    struct decision_ids ids;
    char units_m[] = "1", units_r[24], units_b[24], flags[8];
    const char *why;

    if (argc > STORE_ARGS_MAX) {
        decision_failed(env, rq, "too many limits for one call");
        return;
    }
    char *keys[13 + sp->nctr];
    decision_ids(rq, &ids);
    if (!decision_keys(rq, sp, &ids, keys)) {
        decision_failed(env, rq, "a key is too long");
        return;
    }
    size_t f = 0;
    if (rq->static_deny >= 0)
        flags[f++] = 'd';
    flags[f++] = rq->stage == STAGE_EOM ? 'e' : rq->stage == STAGE_MAIL ? 'm' : 'r';
    if (!decision_has_dedupe(rq))
        flags[f++] = 'n';
    if (id && rq->id_first)
        flags[f++] = 'f';
    /* Redis emptied or replaced: nobody's grants are there (SPEC §9) */
    if (id && store_state_lost(env->store))
        flags[f++] = 'u';
    flags[f] = '\0';
    /* KEYS indexes of counters this request has no key for */
    char absent[STORE_ARGS_MAX * 5 + 1] = "";
    size_t al = 0;
    for (size_t c = 0; c < sp->nctr; c++)
        if (strcmp(keys[13 + c], keys[11]) == 0)
            al += (size_t)snprintf(absent + al, sizeof absent - al, "%s%zu", al ? "," : "",
                                   14 + c);
    snprintf(units_r, sizeof units_r, "%llu", (unsigned long long)(
             rq->stage == STAGE_EOM ? rq->recipient_count : rq->rcpt_units));
    snprintf(units_b, sizeof units_b, "%llu", (unsigned long long)rq->size);
    const char *klass = rq->account[0] != '\0' ? cfg->default_class
                      : cfg->unauthenticated_class ? cfg->unauthenticated_class : "";

    /* the batch layout (doc/keys.md "The batch"); the rest is the group */
    const char *argv[argc];
    size_t lens[argc];
    size_t n = 0;
#define DECISION_ARG(s) do { argv[n] = (s); lens[n] = strlen(argv[n]); n++; } while (0)
    DECISION_ARG(keys[0]);              /* susp */
    DECISION_ARG(keys[11]);             /* acct */
    DECISION_ARG(keys[12]);             /* eom, or acct standing in */
    DECISION_ARG(id ? idkeys[0] : keys[11]);    /* ids, or acct standing in */
    DECISION_ARG(id ? idkeys[1] : keys[11]);    /* observed, or acct */
    for (size_t c = 0; c < sp->nctr; c++)
        DECISION_ARG(keys[13 + c]);
    DECISION_ARG(rq->account);
    DECISION_ARG(ids.client);
    DECISION_ARG(ids.sender);
    DECISION_ARG(ids.domain);
    DECISION_ARG(flags);
    DECISION_ARG(units_m);
    DECISION_ARG(units_r);
    DECISION_ARG(units_b);
    DECISION_ARG(klass);
    DECISION_ARG(absent);
    DECISION_ARG(id ? idaddr : "");
#undef DECISION_ARG

    int rc = store_decide(env->store, rq, &sp->group, argv, lens, decision_on_store,
                          rq->stage == STAGE_EOM ? decision_on_late : NULL, env, &why);
    if (rc != 0)
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
    } else if (rq->stage != STAGE_RCPT && rq->stage != STAGE_EOM
               && !(rq->stage == STAGE_MAIL && authenticated
                    && cfg->identities.mode != IDENTITY_OFF
                    && cfg->identities.stage == IDENTITY_STAGE_MAIL)) {
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
    rq->answer_rule = d->rule == NULL ? NULL
                    : strcmp(d->rule, "failure") == 0 ? "failure" : "other";
    if (rq->conn != NULL)
        conn_reply(rq->conn, d->text, d->action != ACTION_DUNNO);

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
            strcmp(d->text, "DUNNO") == 0 ? "" : " text=",
            strcmp(d->text, "DUNNO") == 0 ? "" : log_escs(et, d->text));
}
