/* verdict.c - the spam verdict consumer (see verdict.h).
 *
 * One step at a time, driven by replies and one timer:
 *
 *   link READY?  no -> timer (VERDICT_RETRY_MS)
 *     group not created on this link yet -> XGROUP CREATE P{verdicts} GROUP 0
 *                                           MKSTREAM (BUSYGROUP is fine)
 *     claim due (every claim_idle / 2)   -> XAUTOCLAIM P{verdicts} GROUP ME
 *                                           claim_idle 0-0 COUNT 100
 *     after a full claim scan             -> FCALL outpost_verdict_prune: drop
 *                                           consumers of processes gone
 *     otherwise                          -> XREADGROUP GROUP GROUP ME COUNT 100
 *                                           BLOCK 1000 STREAMS P{verdicts} >
 *   entries -> each checked here (fields, bounds, the account normalised as
 *              the daemon keys it) -> FCALL outpost_verdict (applies and
 *              acknowledges) or outpost_verdict_dead (acknowledges into the
 *              dead-letter stream), all sent at once;
 *   the last reply of the batch -> the next step at once.
 *
 * A step that fails (timeout, error, link lost) waits VERDICT_RETRY_MS and
 * starts over; entries it did not finish stay pending in the group and are
 * read again by XAUTOCLAIM, here or on another instance.  Applying twice is
 * impossible: outpost_verdict acknowledges inside the same atomic call and
 * does nothing for an entry that is no longer pending.
 *
 * Ownership: struct verdict owns its link (a second struct store, role
 * STREAM) and its timer; a batch in flight is counted in v->inflight only,
 * the replies' data is used inside their callbacks and not kept. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "admin.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "verdict.h"
#include "xalloc.h"

enum verdict_state { V_IDLE, V_BUSY, V_STOPPED };

struct verdict {
    uv_loop_t            *loop;
    struct config *const *cfg;
    struct store         *link;         /* owned; role STREAM */
    uv_timer_t            timer;        /* the next step after a pause */
    enum verdict_state    state;
    uint64_t              link_gen;     /* the link's connects when the group
                                           was created; 0 = not yet */
    char                 *group;        /* owned; the group created */
    uint64_t              next_claim_ms;
    bool                  prune_due;    /* a full claim scan ended: prune next */
    int                   inflight;     /* FCALLs of the batch not answered */
    bool                  batch_failed;
    char                  consumer[160];
    char                  last_err[256];/* verdict_error(): repeats suppressed */
    uint64_t              last_err_ms, suppressed;
    struct verdict_stats  st;
};

static void verdict_step(struct verdict *v);

struct verdict *verdict_new(uv_loop_t *loop, struct config *const *cfg)
{
    struct verdict *v = xcalloc(1, sizeof *v);
    char host[128] = "";
    v->loop = loop;
    v->cfg = cfg;
    v->link = store_new(loop, cfg, STORE_ROLE_STREAM);
    uv_timer_init(loop, &v->timer);
    v->timer.data = v;
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof host, "outpostd");
    /* one consumer per process: a restarted instance is a new consumer, and
     * what the old one left pending is claimed after claim_idle */
    snprintf(v->consumer, sizeof v->consumer, "%.100s:%ld", host, (long)getpid());
    return v;
}

const struct verdict_stats *verdict_stats(const struct verdict *v)
{
    return &v->st;
}

static void verdict_on_timer(uv_timer_t *t)
{
    verdict_step(t->data);
}

/* The step failed or there is nothing to do: try again after a pause. */
static void verdict_pause(struct verdict *v)
{
    if (v->state == V_STOPPED)
        return;
    v->state = V_IDLE;
    uv_timer_start(&v->timer, verdict_on_timer, VERDICT_RETRY_MS, 0);
}

/* The next step now (from a reply callback: through the timer, so that the
 * stack unwinds first). */
static void verdict_next(struct verdict *v)
{
    if (v->state == V_STOPPED)
        return;
    v->state = V_IDLE;
    uv_timer_start(&v->timer, verdict_on_timer, 0, 0);
}

/* Counted always; logged once per distinct message and then at most once a
 * minute (a Redis that refuses every read, e.g. an ACL without the stream
 * commands, must not write a line per second). */
static void verdict_error(struct verdict *v, const char *what, const redisReply *r,
                          const char *why)
{
    char e[LOG_ESC_SIZE], msg[sizeof v->last_err];
    uint64_t now = uv_now(v->loop);

    v->st.errors++;
    if (r != NULL && r->type == REDIS_REPLY_ERROR)
        snprintf(msg, sizeof msg, "%s: %s", what, log_escs(e, r->str));
    else if (why != NULL && strcmp(why, "not connected") != 0)
        snprintf(msg, sizeof msg, "%s: %s", what, why);
    else
        return;
    if (strcmp(msg, v->last_err) == 0 && now - v->last_err_ms < 60000) {
        v->suppressed++;
        return;
    }
    if (v->suppressed > 0 && strcmp(msg, v->last_err) == 0)
        log_err("verdicts: %s (%llu more times)", msg, (unsigned long long)v->suppressed);
    else
        log_err("verdicts: %s", msg);
    snprintf(v->last_err, sizeof v->last_err, "%s", msg);
    v->last_err_ms = now;
    v->suppressed = 0;
}

/* ---- one entry ---------------------------------------------------------- */

/* The value of field name in a flat [f, v, f, v, ...] array, or NULL. */
static const redisReply *verdict_field(const redisReply *fv, const char *name)
{
    for (size_t i = 0; i + 1 < fv->elements; i += 2) {
        const redisReply *f = fv->element[i];
        if (f->type == REDIS_REPLY_STRING && strcmp(f->str, name) == 0)
            return fv->element[i + 1];
    }
    return NULL;
}

/* A bounded printable string value ("" when absent); NULL if bad. */
static const char *verdict_text(const redisReply *val, size_t max)
{
    if (val == NULL)
        return "";
    if (val->type != REDIS_REPLY_STRING || val->len > max)
        return NULL;
    for (size_t i = 0; i < val->len; i++) {
        unsigned char c = (unsigned char)val->str[i];
        if (c < 0x20 || c == 0x7f)
            return NULL;
    }
    return val->str;
}

/* "123" or "1.5": digits, at most one '.', a digit on each side of it. */
static bool verdict_decimal(const char *s)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 12)
        return false;
    if (s[n] == '\0')
        return true;
    if (s[n] != '.')
        return false;
    size_t f = strspn(s + n + 1, "0123456789");
    return f > 0 && f <= 12 && s[n + 1 + f] == '\0';
}

static void verdict_on_applied(const redisReply *r, const char *why, void *arg);
static void verdict_on_dead(const redisReply *r, const char *why, void *arg);

/* A carrier for one FCALL's reply: the consumer and the entry id. */
struct verdict_call {
    struct verdict *v;
    char            id[48];
    char            account[REQUEST_ACCOUNT_MAX + 1];
};

static void verdict_send(struct verdict *v, int argc, const char **argv, const size_t *lens,
                         store_raw_cb *cb, const char *id, const char *account)
{
    const char *why;
    struct verdict_call *c = xcalloc(1, sizeof *c);
    c->v = v;
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->account, sizeof c->account, "%s", account);
    if (store_command(v->link, argc, argv, lens, (uint64_t)(*v->cfg)->redis.timeout_ms, cb, c,
                      &why) != 0) {
        free(c);
        verdict_error(v, "cannot send FCALL", NULL, why);
        v->batch_failed = true;
        return;
    }
    v->inflight++;
}

/* A malformed entry: into the dead-letter stream, with its fields (at most
 * VERDICT_FIELDS_MAX pairs, values cut to VERDICT_VALUE_MAX bytes). */
static void verdict_dead(struct verdict *v, const char *id, const redisReply *fv,
                         const char *reason)
{
    const struct config *cfg = *v->cfg;
    char stream[KEYS_MAX], dead[KEYS_MAX], events[KEYS_MAX], e1[LOG_ESC_SIZE];
    const char *argv[9 + 2 * VERDICT_FIELDS_MAX];
    size_t lens[9 + 2 * VERDICT_FIELDS_MAX];
    int n = 0;

    keys_global(stream, cfg->redis.prefix, "verdicts", NULL);
    keys_global(dead, cfg->redis.prefix, "verdicts", "dead");
    keys_global(events, cfg->redis.prefix, "events", NULL);
#define VERDICT_ARG(s, l) do { argv[n] = (s); lens[n] = (l); n++; } while (0)
    VERDICT_ARG("FCALL", 5);
    VERDICT_ARG("outpost_verdict_dead", 20);
    VERDICT_ARG("3", 1);
    VERDICT_ARG(stream, strlen(stream));
    VERDICT_ARG(dead, strlen(dead));
    VERDICT_ARG(events, strlen(events));
    VERDICT_ARG(cfg->verdicts.group, strlen(cfg->verdicts.group));
    VERDICT_ARG(id, strlen(id));
    VERDICT_ARG(reason, strlen(reason));
    for (size_t i = 0; fv != NULL && i + 1 < fv->elements && i < 2 * VERDICT_FIELDS_MAX;
         i += 2) {
        const redisReply *f = fv->element[i], *val = fv->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
            continue;
        VERDICT_ARG(f->str, f->len > VERDICT_VALUE_MAX ? VERDICT_VALUE_MAX : f->len);
        VERDICT_ARG(val->str, val->len > VERDICT_VALUE_MAX ? VERDICT_VALUE_MAX : val->len);
    }
#undef VERDICT_ARG
    log_warn("verdicts: malformed verdict %s: %s; moved to %s", log_escs(e1, id), reason,
             dead);
    verdict_send(v, n, argv, lens, verdict_on_dead, id, "");
}

static void verdict_entry(struct verdict *v, const redisReply *entry)
{
    const struct config *cfg = *v->cfg;
    char err[256], account[REQUEST_ACCOUNT_MAX + 1];

    if (entry == NULL || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2
        || entry->element[0]->type != REDIS_REPLY_STRING || entry->element[0]->len >= 48)
        return;                 /* not an entry (a deleted one in a claim) */
    const char *id = entry->element[0]->str;
    const redisReply *fv = entry->element[1];
    if (fv->type != REDIS_REPLY_ARRAY) {
        verdict_dead(v, id, NULL, "no fields");
        return;
    }
    if (fv->elements > 2 * VERDICT_FIELDS_MAX) {
        verdict_dead(v, id, fv, "more than 64 fields");
        return;
    }
    const redisReply *a = verdict_field(fv, "account");
    const char *acc = verdict_text(a, REQUEST_ACCOUNT_MAX * 2);
    if (acc == NULL || acc[0] == '\0') {
        verdict_dead(v, id, fv, "no account, or one with control bytes or too long");
        return;
    }
    if (admin_account_norm(cfg, acc, account, err, sizeof err) != ADMIN_OK) {
        verdict_dead(v, id, fv, "account is not valid");
        return;
    }
    const char *w = verdict_text(verdict_field(fv, "weight"), 32);
    const char *rc = verdict_text(verdict_field(fv, "recipients"), 32);
    const char *qid = verdict_text(verdict_field(fv, "queue_id"), 64);
    const char *ref = verdict_text(verdict_field(fv, "ref"), 256);
    const char *src = verdict_text(verdict_field(fv, "source"), 64);
    if (w == NULL || rc == NULL || qid == NULL || ref == NULL || src == NULL) {
        verdict_dead(v, id, fv, "a field is too long or has control bytes");
        return;
    }
    char *end;
    double weight = 1;
    if (w[0] != '\0') {
        /* plain decimals only: strtod would take " 5", "0x10", "1e2", "inf" */
        weight = verdict_decimal(w) ? strtod(w, &end) : -1;
        if (!(weight > 0 && weight <= 1000)) {
            verdict_dead(v, id, fv, "weight is not a number from 0 (exclusive) to 1000");
            return;
        }
    }
    unsigned long long rcpts = 0;
    if (rc[0] != '\0') {
        rcpts = strspn(rc, "0123456789") == strlen(rc) && strlen(rc) <= 7
              ? strtoull(rc, &end, 10) : ULLONG_MAX;
        if (rcpts > 1000000) {
            verdict_dead(v, id, fv, "recipients is not an integer from 0 to 1000000");
            return;
        }
    }

    /* outpost_verdict: 7 keys, 11 arguments, one line per class */
    char stream[KEYS_MAX], strikes[KEYS_MAX], acct[KEYS_MAX], susp[KEYS_MAX];
    char audit[KEYS_MAX], idx[KEYS_MAX], events[KEYS_MAX];
    char wbuf[32], rbuf[24], evmax[24], ncls[24];
    if (!keys_account(strikes, cfg->redis.prefix, account, KEYS_STRIKES)
        || !keys_account(acct, cfg->redis.prefix, account, KEYS_ACCT)
        || !keys_account(susp, cfg->redis.prefix, account, KEYS_SUSP)
        || !keys_account(audit, cfg->redis.prefix, account, KEYS_AUDIT)) {
        verdict_dead(v, id, fv, "account does not fit in a key");
        return;
    }
    keys_global(stream, cfg->redis.prefix, "verdicts", NULL);
    keys_global(idx, cfg->redis.prefix, "idx", "suspended");
    keys_global(events, cfg->redis.prefix, "events", NULL);
    snprintf(wbuf, sizeof wbuf, "%.6g", weight);
    snprintf(rbuf, sizeof rbuf, "%llu", rcpts);
    snprintf(evmax, sizeof evmax, "%llu", (unsigned long long)cfg->events.max_length);
    snprintf(ncls, sizeof ncls, "%zu", cfg->nclasses);

    size_t nargs = 24 + cfg->nclasses;
    if (nargs > STORE_ARGS_MAX) {
        verdict_dead(v, id, fv, "too many classes for one call");
        return;
    }
    const char *argv[nargs];
    size_t lens[nargs];
    char (*lines)[256] = xcalloc(cfg->nclasses + 1, sizeof *lines);
    int n = 0;
#define VERDICT_ARG(s) do { argv[n] = (s); lens[n] = strlen(argv[n]); n++; } while (0)
    VERDICT_ARG("FCALL");
    VERDICT_ARG("outpost_verdict");
    VERDICT_ARG("7");
    VERDICT_ARG(stream);
    VERDICT_ARG(strikes);
    VERDICT_ARG(acct);
    VERDICT_ARG(susp);
    VERDICT_ARG(audit);
    VERDICT_ARG(idx);
    VERDICT_ARG(events);
    VERDICT_ARG(cfg->verdicts.group);
    VERDICT_ARG(id);
    VERDICT_ARG(account);
    VERDICT_ARG(wbuf);
    VERDICT_ARG(rbuf);
    VERDICT_ARG(qid);
    VERDICT_ARG(ref);
    VERDICT_ARG(src);
    VERDICT_ARG(cfg->default_class);
    VERDICT_ARG(evmax);
    VERDICT_ARG(ncls);
    for (size_t i = 0; i < cfg->nclasses; i++) {
        const struct config_class *k = &cfg->classes[i];
        const struct config_auto_suspend *as = &k->auto_suspend;
        char within[32];
        int64_t wms = as->within_ms > 0 ? as->within_ms : 86400000;
        if (wms % 3600000 == 0 && wms <= 48 * 3600000LL)   /* "24h", as people say */
            snprintf(within, sizeof within, "%lldh", (long long)(wms / 3600000));
        else
            config_format_duration(wms, within, sizeof within);
        snprintf(lines[i], sizeof lines[i], "%s\t%.15g\t%lld\t%lld\t%.15g\t%s", k->name,
                 as->enabled ? as->verdicts : 0.0,
                 (long long)(as->within_ms > 0 ? as->within_ms : 86400000),
                 (long long)as->for_ms, as->recipients_per_weight, within);
        VERDICT_ARG(lines[i]);
    }
#undef VERDICT_ARG
    verdict_send(v, n, argv, lens, verdict_on_applied, id, account);
    free(lines);
}

/* ---- replies ------------------------------------------------------------ */

static void verdict_call_done(struct verdict *v)
{
    if (--v->inflight > 0 || v->state == V_STOPPED)
        return;
    if (v->batch_failed)
        verdict_pause(v);
    else
        verdict_next(v);
}

static void verdict_on_applied(const redisReply *r, const char *why, void *arg)
{
    struct verdict_call *c = arg;
    struct verdict *v = c->v;
    char ea[LOG_ESC_SIZE], ei[LOG_ESC_SIZE];

    if (v->state == V_STOPPED) {
        free(c);
        v->inflight--;
        return;
    }
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1
        || r->element[0]->type != REDIS_REPLY_INTEGER) {
        verdict_error(v, "outpost_verdict", r, why ? why : "unexpected reply");
        v->batch_failed = true;
    } else if (r->element[0]->integer == 0) {
        v->st.duplicate++;
    } else {
        const char *strikes = r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING
                            ? r->element[1]->str : "?";
        bool susp = r->elements > 2 && r->element[2]->type == REDIS_REPLY_INTEGER
                    && r->element[2]->integer == 1;
        v->st.applied++;
        if (susp) {
            v->st.suspended++;
            log_notice("verdicts: account=%s suspended automatically (strikes=%s, "
                       "verdict %s)", log_escs(ea, c->account), strikes,
                       log_escs(ei, c->id));
        } else {
            log_info("verdicts: verdict %s for account=%s applied (strikes=%s)",
                     log_escs(ei, c->id), log_escs(ea, c->account), strikes);
        }
    }
    free(c);
    verdict_call_done(v);
}

static void verdict_on_dead(const redisReply *r, const char *why, void *arg)
{
    struct verdict_call *c = arg;
    struct verdict *v = c->v;

    if (v->state == V_STOPPED) {
        free(c);
        v->inflight--;
        return;
    }
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        verdict_error(v, "outpost_verdict_dead", r, why ? why : "unexpected reply");
        v->batch_failed = true;
    } else if (r->integer == 1) {
        v->st.dead++;
    } else {
        v->st.duplicate++;
    }
    free(c);
    verdict_call_done(v);
}

/* The entries of a read or a claim: all sent at once. */
static void verdict_batch(struct verdict *v, const redisReply *entries)
{
    v->inflight = 1;            /* held while sending: no early "done" */
    v->batch_failed = false;
    for (size_t i = 0; entries != NULL && entries->type == REDIS_REPLY_ARRAY
                       && i < entries->elements; i++)
        verdict_entry(v, entries->element[i]);
    verdict_call_done(v);
}

static void verdict_on_read(const redisReply *r, const char *why, void *arg)
{
    struct verdict *v = arg;
    if (v->state == V_STOPPED)
        return;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        verdict_error(v, "XREADGROUP", r, why);
        if (r != NULL && strncmp(r->str, "NOGROUP", 7) == 0)
            v->link_gen = 0;    /* the group (or the stream) was deleted */
        verdict_pause(v);
        return;
    }
    /* nil: nothing within BLOCK; else [[stream, [entry, ...]]] */
    const redisReply *entries = NULL;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1
        && r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2)
        entries = r->element[0]->element[1];
    verdict_batch(v, entries);
}

static void verdict_on_claim(const redisReply *r, const char *why, void *arg)
{
    struct verdict *v = arg;
    if (v->state == V_STOPPED)
        return;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        verdict_error(v, "XAUTOCLAIM", r, why ? why : "unexpected reply");
        if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOGROUP", 7) == 0)
            v->link_gen = 0;
        verdict_pause(v);
        return;
    }
    const redisReply *entries = r->element[1];
    const struct config *cfg = *v->cfg;
    /* the cursor "0-0" means the whole pending list was scanned */
    bool more = r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "0-0");
    if (!more) {
        v->next_claim_ms = uv_now(v->loop) + (uint64_t)cfg->verdicts.claim_idle_ms / 2;
        v->prune_due = true;
    }
    if (entries->type == REDIS_REPLY_ARRAY && entries->elements > 0) {
        v->st.claimed += entries->elements;
        log_notice("verdicts: claimed %zu verdict%s left pending by another consumer",
                   entries->elements, entries->elements == 1 ? "" : "s");
    }
    verdict_batch(v, entries);
}

static void verdict_on_prune(const redisReply *r, const char *why, void *arg)
{
    struct verdict *v = arg;
    if (v->state == V_STOPPED)
        return;
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        verdict_error(v, "outpost_verdict_prune", r, why ? why : "unexpected reply");
        verdict_pause(v);
        return;
    }
    if (r->integer > 0)
        log_notice("verdicts: removed %lld consumer%s of instances gone (nothing pending)",
                   r->integer, r->integer == 1 ? "" : "s");
    verdict_next(v);
}

static void verdict_on_group(const redisReply *r, const char *why, void *arg)
{
    struct verdict *v = arg;
    if (v->state == V_STOPPED)
        return;
    if (r == NULL || (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0)) {
        verdict_error(v, "XGROUP CREATE", r, why);
        verdict_pause(v);
        return;
    }
    v->link_gen = store_stats(v->link)->connects;
    free(v->group);
    v->group = xstrdup((*v->cfg)->verdicts.group);
    verdict_next(v);
}

/* ---- the step ----------------------------------------------------------- */

static void verdict_step(struct verdict *v)
{
    const struct config *cfg = *v->cfg;
    char stream[KEYS_MAX], idle[24], block[24], count[24];
    const char *why;
    int rc;

    if (v->state != V_IDLE)
        return;
    if (!store_ready(v->link)) {        /* look again soon: not an error */
        uv_timer_start(&v->timer, verdict_on_timer, VERDICT_POLL_MS, 0);
        return;
    }
    keys_global(stream, cfg->redis.prefix, "verdicts", NULL);
    snprintf(count, sizeof count, "%d", VERDICT_BATCH);
    const char *group = cfg->verdicts.group;
    v->state = V_BUSY;
    if (v->link_gen != store_stats(v->link)->connects || v->group == NULL
        || strcmp(v->group, group) != 0) {
        /* from 0: verdicts written before any outpostd ran are applied too */
        const char *argv[] = { "XGROUP", "CREATE", stream, group, "0", "MKSTREAM" };
        size_t lens[] = { 6, 6, strlen(stream), strlen(group), 1, 8 };
        rc = store_command(v->link, 6, argv, lens, (uint64_t)cfg->redis.timeout_ms,
                           verdict_on_group, v, &why);
    } else if (v->prune_due) {
        /* consumers of processes gone: nothing pending, idle 10 x claim_idle */
        snprintf(idle, sizeof idle, "%lld", (long long)cfg->verdicts.claim_idle_ms * 10);
        const char *argv[] = { "FCALL", "outpost_verdict_prune", "1", stream, group, idle,
                               v->consumer };
        size_t lens[7];
        for (int i = 0; i < 7; i++)
            lens[i] = strlen(argv[i]);
        v->prune_due = false;
        rc = store_command(v->link, 7, argv, lens, (uint64_t)cfg->redis.timeout_ms,
                           verdict_on_prune, v, &why);
    } else if (uv_now(v->loop) >= v->next_claim_ms) {
        snprintf(idle, sizeof idle, "%lld", (long long)cfg->verdicts.claim_idle_ms);
        const char *argv[] = { "XAUTOCLAIM", stream, group, v->consumer, idle, "0-0",
                               "COUNT", count };
        size_t lens[8];
        for (int i = 0; i < 8; i++)
            lens[i] = strlen(argv[i]);
        rc = store_command(v->link, 8, argv, lens, (uint64_t)cfg->redis.timeout_ms,
                           verdict_on_claim, v, &why);
    } else {
        snprintf(block, sizeof block, "%d", VERDICT_BLOCK_MS);
        const char *argv[] = { "XREADGROUP", "GROUP", group, v->consumer, "COUNT", count,
                               "BLOCK", block, "STREAMS", stream, ">" };
        size_t lens[11];
        for (int i = 0; i < 11; i++)
            lens[i] = strlen(argv[i]);
        rc = store_command(v->link, 11, argv, lens,
                           VERDICT_BLOCK_MS + (uint64_t)cfg->redis.timeout_ms,
                           verdict_on_read, v, &why);
    }
    if (rc != 0) {
        verdict_error(v, "cannot send", NULL, why);
        verdict_pause(v);
    }
}

void verdict_start(struct verdict *v)
{
    store_start(v->link);
    uv_timer_start(&v->timer, verdict_on_timer, VERDICT_POLL_MS, 0);   /* once it is up */
}

void verdict_reconfigure(struct verdict *v, const struct config *old)
{
    store_reconfigure(v->link, old);
}

void verdict_stop(struct verdict *v)
{
    if (v->state == V_STOPPED)
        return;
    v->state = V_STOPPED;
    store_stop(v->link);        /* answers what is in flight with NULL */
    uv_close((uv_handle_t *)&v->timer, NULL);
}

void verdict_free(struct verdict *v)
{
    if (v == NULL)
        return;
    store_free(v->link);
    free(v->group);
    free(v);
}

void verdict_render(const struct verdict *v, struct metrics_buf *b)
{
    const struct verdict_stats *s = &v->st;
    metrics_printf(b,
        "# HELP outpost_verdicts_total Spam verdicts handled by this instance, by result.\n"
        "# TYPE outpost_verdicts_total counter\n"
        "outpost_verdicts_total{result=\"applied\"} %llu\n"
        "outpost_verdicts_total{result=\"suspended\"} %llu\n"
        "outpost_verdicts_total{result=\"duplicate\"} %llu\n"
        "outpost_verdicts_total{result=\"dead\"} %llu\n"
        "outpost_verdicts_total{result=\"claimed\"} %llu\n"
        "outpost_verdicts_total{result=\"error\"} %llu\n"
        "# HELP outpost_verdicts_link_up 1 when the verdict stream's Redis link is ready.\n"
        "# TYPE outpost_verdicts_link_up gauge\noutpost_verdicts_link_up %d\n",
        (unsigned long long)s->applied, (unsigned long long)s->suspended,
        (unsigned long long)s->duplicate, (unsigned long long)s->dead,
        (unsigned long long)s->claimed, (unsigned long long)s->errors,
        store_ready(v->link) ? 1 : 0);
}
