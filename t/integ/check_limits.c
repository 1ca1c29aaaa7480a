/* check_limits.c - the rate limits (SPEC §4, §6; doc/keys.md "Rate limits",
 * "The decision script", "The undo script").
 *
 * 1. The reference model.  policy/decide.lua is driven directly on a
 *    private redis-server (hiredis, pipelined) with the test clock
 *    ARGV[6], its KEYS and ARGV built exactly as src/decision.c builds
 *    them (13 fixed keys + one counter key per limit, flags "e" for an
 *    END-OF-MESSAGE count and "r" for a RCPT check, class line
 *    "standard\t0\tR", limit lines
 *    "standard\tNAME\tCOUNT\tMAX\tPER_MS\tD\t0\tKEYIDX").
 *    Random arrival times (seeded; the seed is printed, and
 *    T_LIMITS_SEED=N replays it) with bursts at bucket edges, at the
 *    moments old units leave the window, and idle gaps longer than P.  A
 *    model keeps every admitted (time, units).  After every step:
 *      (a) no interval (s-P, s] of any admitted time s holds more than N;
 *      (b) a refusal ('limit') only when (t-P-w, t], w = ceil(P/60), holds
 *          enough that admitting u more would exceed N (doc/keys.md: the
 *          window is at most P + w; SPEC §6: "the last P plus one
 *          resolution step"), also for the refusal 1 ms before t +
 *          RETRY_MS (d);
 *      (c) 'exceeds' only for u > N;
 *      (d) RETRY_MS > 0; at t + RETRY_MS the same request is admitted and
 *          1 ms earlier still refused (asked as RCPT checks, which write
 *          nothing), and the model agrees that admitting it at t +
 *          RETRY_MS keeps (a);
 *      (e) a RCPT check (one step in four) changes no key (DUMP, DBSIZE)
 *          and answers as the END-OF-MESSAGE that follows;
 *    plus: a refusal changes nothing (all-or-nothing, two limits at
 *    once); every bucket field holds exactly the units the model admitted
 *    in that bucket, none older than b-60; counter TTL in [61 w, P + w +
 *    60 s]; dedupe ('dup') and undo.lua; TTLs and idle keys; a change of
 *    the bucket width resets a counter; the refusal horizon for periods
 *    that 60 does not divide.
 * 2. Concurrency: one redis-server, two outpostd with 50 connections each,
 *    3000 END-OF-MESSAGE requests of one account against "1000 per 10m":
 *    exactly 1000 DUNNO, the rest 450 4.7.1, counter sum 1000.
 * 3. Through outpostd: the per-message recipient cap, shadow limits,
 *    idempotent END-OF-MESSAGE, refused messages consume nothing, RCPT
 *    never counts, one message above a limit, overrides and class through
 *    redis-cli, the limit text, undo of a late count.
 *
 * Cleanup as in check_store.c (t/lib/tfix.h): daemons and redis-servers
 * are copied into memory shared with the runner, whose unchecked teardown
 * reaps exactly those PIDs when a failed assertion ended the test process. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "../lib/tfix.h"
#include "sha1.h"

#define NDAEMONS 2
#define NREDIS 1
#define TIMEOUT_S 180

#define PFX "outpost:"
#define DEFER_TEXT "451 4.3.0 Policy service unavailable; try again later"

/* ---- cleanup (t/lib/tfix.h) */

static struct tdaemon daemons[NDAEMONS];
static struct tredis redises[NREDIS];
static redisContext *rcx;               /* part 1's connection */
static void *model_mem[3];              /* part 1's model arrays */

static void all_stop(void)              /* checked: in the test process */
{
    if (rcx != NULL)
        redisFree(rcx);
    rcx = NULL;
    for (size_t i = 0; i < sizeof model_mem / sizeof model_mem[0]; i++) {
        free(model_mem[i]);
        model_mem[i] = NULL;
    }
    tfix_stop_all();
}

/* ---- small helpers */

/* splitmix64 */
static uint64_t rnd_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* 0 .. n-1 (n >= 1) */
static long long rnd_below(uint64_t *s, long long n)
{
    return n <= 1 ? 0 : (long long)(rnd_next(s) % (uint64_t)n);
}

/* The seed of a run: T_LIMITS_SEED, else the clock and the PID. */
static uint64_t seed_make(void)
{
    const char *e = getenv("T_LIMITS_SEED");
    if (e != NULL && *e != '\0')
        return strtoull(e, NULL, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec
               ^ ((uint64_t)getpid() << 32);
    return s % 1000000000000ULL;       /* short enough to type */
}

/* ==== 1. decide.lua directly ============================================ */

static redisContext *hconnect(const struct tredis *r)
{
    redisContext *c = redisConnectUnix(r->sock);
    ck_assert_msg(c != NULL && c->err == 0, "hiredis: connect %s: %s", r->sock,
                  c != NULL ? c->errstr : "out of memory");
    return c;
}

/* Commands sent in one batch (one round trip), replies taken in order. */
#define PIPE_MAX 64
struct pipe {
    redisContext *c;
    int           n;
    redisReply   *r[PIPE_MAX];
};

static void p_argv(struct pipe *p, int argc, const char **argv)
{
    ck_assert_int_lt(p->n, PIPE_MAX);
    ck_assert_int_eq(redisAppendCommandArgv(p->c, argc, argv, NULL), REDIS_OK);
    p->n++;
}

static int p_cmd(struct pipe *p, const char *a0, const char *a1, const char *a2)
{
    const char *argv[3] = { a0, a1, a2 };
    p_argv(p, a2 != NULL ? 3 : a1 != NULL ? 2 : 1, argv);
    return p->n - 1;
}

static void p_run(struct pipe *p, const char *what)
{
    for (int i = 0; i < p->n; i++) {
        void *rp = NULL;
        ck_assert_msg(redisGetReply(p->c, &rp) == REDIS_OK && rp != NULL,
                      "%s: hiredis: %s", what, p->c->errstr);
        p->r[i] = rp;
        ck_assert_msg(p->r[i]->type != REDIS_REPLY_ERROR, "%s: command %d of the batch: "
                      "Redis error \"%s\"", what, i, p->r[i]->str);
    }
}

static void p_free(struct pipe *p)
{
    for (int i = 0; i < p->n; i++)
        freeReplyObject(p->r[i]);
    p->n = 0;
}

/* One command (array of strings), its reply. */
static redisReply *hcmd(redisContext *c, const char *what, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    ck_assert_msg(r != NULL, "%s: hiredis: %s", what, c->errstr);
    ck_assert_msg(r->type != REDIS_REPLY_ERROR, "%s: Redis error \"%s\"", what, r->str);
    return r;
}

static long long hint(redisContext *c, const char *cmd, const char *key)
{
    const char *argv[2] = { cmd, key };
    redisReply *r = hcmd(c, cmd, key != NULL ? 2 : 1, argv);
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "%s %s: not an integer reply", cmd,
                  key ? key : "");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* Loads policy/<file>: undo.lua with SCRIPT LOAD (out gets its SHA1),
 * decide.lua with FUNCTION LOAD (out gets the library's name, which is the
 * decision Function's). */
static void load_lua(redisContext *c, const char *file, char out[41])
{
    const char *dir = getenv("T_POLICY");
    char path[512];
    bool lib = strcmp(file, "decide.lua") == 0;
    ck_assert_msg(dir != NULL, "T_POLICY is not set (the policy/ directory)");
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *body = tfile_read(path);
    ck_assert_msg(body != NULL, "cannot read %s", path);
    const char *argv[4] = { "FUNCTION", "LOAD", "REPLACE", body };
    const char *sargv[3] = { "SCRIPT", "LOAD", body };
    redisReply *r = lib ? hcmd(c, "FUNCTION LOAD", 4, argv) : hcmd(c, "SCRIPT LOAD", 3, sargv);
    free(body);
    ck_assert_msg(r->type == REDIS_REPLY_STRING && (lib ? r->len > 0 && r->len < 41
                                                        : r->len == 40),
                  "%s %s: bad reply", lib ? "FUNCTION LOAD" : "SCRIPT LOAD", file);
    memcpy(out, r->str, r->len + 1);
    freeReplyObject(r);
}

/* Starts r, connects rcx to it and loads the decision Function (its name
 * into fn): the start of every test that calls decide.lua itself. */
static void start_decide(struct tredis *r, char fn[41])
{
    tfix_start_redis(r, NULL);
    rcx = hconnect(r);
    load_lua(rcx, "decide.lua", fn);
}

/* What decision.c passes for one request: the account, class "standard"
 * (class line "c\tstandard\t0\tR" of the configuration text), its limit
 * lines (without their "l\t") and counter keys. */
#define DSPEC_MAX 4
struct dspec {
    char account[64];
    int  nlim;
    char line[DSPEC_MAX][160];         /* limit lines */
    char ctr[DSPEC_MAX][128];          /* KEYS[14 + i] */
};

static void dspec_init(struct dspec *sp, const char *account)
{
    memset(sp, 0, sizeof *sp);
    snprintf(sp->account, sizeof sp->account, "%s", account);
}

/* Adds a limit of class standard with its own counter key; its index. */
static int dspec_limit(struct dspec *sp, const char *name, char cnt, long long max,
                       long long per, int shadow_flag)
{
    ck_assert_int_lt(sp->nlim, DSPEC_MAX);
    int i = sp->nlim++;
    snprintf(sp->line[i], sizeof sp->line[i], "standard\t%s\t%c\t%lld\t%lld\tD\t%d\t%d",
             name, cnt, max, per, shadow_flag, 14 + i);
    char key[128];
    snprintf(key, sizeof key, PFX "{a:%s}:rl:%s", sp->account, name);
    memcpy(sp->ctr[i], key, sizeof key);
    return i;
}

/* The END-OF-MESSAGE dedupe key of (instance, queue_id). */
static void eom_key(char *out, size_t cap, const struct dspec *sp, const char *instance,
                    const char *qid)
{
    snprintf(out, cap, PFX "{a:%s}:eom:%s:%s", sp->account, instance, qid);
}

static const char *const list_keys[10] = {
    PFX "{lists}:allow:account", PFX "{lists}:allow:client", PFX "{lists}:allow:clientlens",
    PFX "{lists}:allow:sender", PFX "{lists}:allow:domain", PFX "{lists}:deny:account",
    PFX "{lists}:deny:client", PFX "{lists}:deny:clientlens", PFX "{lists}:deny:sender",
    PFX "{lists}:deny:domain",
};

/* Appends one FCALL of decide.lua's Function (fn) as decision_ask_redis()
 * sends it (no events line, no identity), with the configuration text
 * always there (outpostd sends it only when the Function asks):
 * eomkey NULL is a RCPT check (flags "r", KEYS[13] the acct key), else an
 * END-OF-MESSAGE (flags "e").  units: messages, recipients, bytes. */
static int p_decide(struct pipe *p, const char *fn, const struct dspec *sp,
                    const char *eomkey, long long now, const long long units[3])
{
    char susp[128], acct[128], nkeys[16], snow[24], um[24], ur[24], ub[24];
    char sender[96], text[64 + DSPEC_MAX * 170], id[41];
    const char *argv[80];
    int n = 0;

    snprintf(susp, sizeof susp, PFX "{a:%s}:susp", sp->account);
    snprintf(acct, sizeof acct, PFX "{a:%s}:acct", sp->account);
    snprintf(nkeys, sizeof nkeys, "%d", 13 + sp->nlim);
    snprintf(snow, sizeof snow, "%lld", now);
    snprintf(um, sizeof um, "%lld", units[0]);
    snprintf(ur, sizeof ur, "%lld", units[1]);
    snprintf(ub, sizeof ub, "%lld", units[2]);
    snprintf(sender, sizeof sender, "%s@example.net", sp->account);
    size_t tl = (size_t)snprintf(text, sizeof text, "outpost-decide 2\nc\tstandard\t0\tR\n");
    for (int i = 0; i < sp->nlim; i++)
        tl += (size_t)snprintf(text + tl, sizeof text - tl, "l\t%s\n", sp->line[i]);
    ck_assert_uint_lt(tl, sizeof text);
    sha1_hex(text, tl, id);

    argv[n++] = "FCALL";
    argv[n++] = fn;
    argv[n++] = nkeys;
    argv[n++] = susp;                                   /* KEYS[1] */
    for (int i = 0; i < 10; i++)
        argv[n++] = list_keys[i];                       /* KEYS[2..11] */
    argv[n++] = acct;                                   /* KEYS[12] */
    argv[n++] = eomkey != NULL ? eomkey : acct;         /* KEYS[13] */
    for (int i = 0; i < sp->nlim; i++)
        argv[n++] = sp->ctr[i];                         /* KEYS[14..] */
    argv[n++] = sp->account;                            /* ARGV[1] */
    argv[n++] = "00000000000000000000ffffcb007105";     /* 203.0.113.5 */
    argv[n++] = sender;
    argv[n++] = "example.net";
    argv[n++] = eomkey != NULL ? "e" : "r";
    argv[n++] = snow;                                   /* ARGV[6]: the test clock */
    argv[n++] = um;
    argv[n++] = ur;
    argv[n++] = ub;
    argv[n++] = "standard";                             /* ARGV[10] */
    argv[n++] = id;                                     /* ARGV[11] */
    argv[n++] = "";                                     /* ARGV[12]: none absent */
    argv[n++] = "";                                     /* ARGV[13]: no identity */
    argv[n++] = text;                                   /* ARGV[14] */
    p_argv(p, n, argv);
    return p->n - 1;
}

/* decide.lua's reply, as strings. */
struct sreply {
    int  n;
    char v[12][96];
};

static void sreply_take(const redisReply *r, struct sreply *out, const char *what)
{
    memset(out, 0, sizeof *out);
    ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->elements <= 12,
                  "%s: decide.lua's reply is not an array of 1..12 (type %d)", what, r->type);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS)
            snprintf(out->v[i], sizeof out->v[i], "%s", e->str);
        else if (e->type == REDIS_REPLY_INTEGER)
            snprintf(out->v[i], sizeof out->v[i], "%lld", e->integer);
        else
            snprintf(out->v[i], sizeof out->v[i], "<type %d>", e->type);
        out->n++;
    }
}

/* "limit msgs D 10 60000 m 1234" (rotating buffers) */
static const char *sreply_str(const struct sreply *s)
{
    static char bufs[4][600];
    static int next;
    char *o = bufs[next++ & 3];
    size_t j = 0;
    o[0] = '\0';
    for (int i = 0; i < s->n && j + 100 < sizeof bufs[0]; i++)
        j += (size_t)snprintf(o + j, sizeof bufs[0] - j, "%s%s", i ? " " : "", s->v[i]);
    return o;
}

static bool is(const struct sreply *s, const char *what)
{
    return s->n > 0 && strcmp(s->v[0], what) == 0;
}

/* One decide.lua call on its own (a batch of one). */
static void decide1(redisContext *c, const char *fn, const struct dspec *sp,
                    const char *eomkey, long long now, const long long units[3],
                    struct sreply *out, const char *what)
{
    struct pipe p = { .c = c };
    p_decide(&p, fn, sp, eomkey, now, units);
    p_run(&p, what);
    sreply_take(p.r[0], out, what);
    p_free(&p);
}

static bool same_bulk(const redisReply *a, const redisReply *b)
{
    if (a->type != b->type)
        return false;
    if (a->type == REDIS_REPLY_NIL)
        return true;
    if (a->type == REDIS_REPLY_INTEGER)
        return a->integer == b->integer;
    return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
}

/* HGETALL key as (field, value) sums: the bucket units (all fields but
 * "w", the running figures t, o, n and the event time e) and w ("" if
 * absent). */
static long long bucket_sum(redisContext *c, const char *key, char *w, size_t wcap)
{
    const char *argv[2] = { "HGETALL", key };
    redisReply *r = hcmd(c, "HGETALL", 2, argv);
    long long sum = 0;
    if (w != NULL)
        snprintf(w, wcap, "%s", "");
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str;
        if (strcmp(f, "w") == 0) {
            if (w != NULL)
                snprintf(w, wcap, "%s", r->element[i + 1]->str);
        } else if (strcmp(f, "t") != 0 && strcmp(f, "o") != 0 && strcmp(f, "n") != 0
                   && strcmp(f, "e") != 0) {
            sum += strtoll(r->element[i + 1]->str, NULL, 10);   /* a bucket */
        }
    }
    freeReplyObject(r);
    return sum;
}

/* ---- the model */

#define MAXLIM 2

/* A run that has not yet admitted and refused enough after its nominal
 * steps goes on, up to this many times them. */
#define MODEL_STEPS_MAX 4

struct mlim {
    const char *name;
    char        cnt;            /* 'm', 'r', 'b' */
    long long   max, per;
};

struct mrun {
    const char *what;
    int         nlim;
    struct mlim lim[MAXLIM];
    int         steps;
    int         exceeds_pct;    /* weighted units above N, percent */
};

struct model {
    const struct mrun *run;
    struct dspec       sp;
    const char        *fn;
    redisContext      *c;
    long long          w[MAXLIM];
    int                ui[MAXLIM];      /* units index: 0 m, 1 r, 2 b */
    long long          gap;             /* mean spacing that saturates */
    long long          fill[MAXLIM];    /* arrivals that fill a window */
    long long         *et;              /* admitted: times (non-decreasing) */
    long long        (*eu)[MAXLIM];     /* admitted: units per limit */
    size_t             nev, cap;
    uint64_t           seed, rng;
    long long          t0, t;
    int                step;
    long long          units[3];
    long               n_ok, n_limit, n_exceeds, n_rcpt, n_retry;
};

static long long ceil_div(long long a, long long b)
{
    return (a + b - 1) / b;
}

static long long floor_div(long long a, long long b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Fails with the run, seed, step, time and the recent admissions. */
__attribute__((format(printf, 2, 3), noreturn))
static void mfail(const struct model *m, const char *fmt, ...)
{
    static char buf[6000];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    size_t j = k > 0 && (size_t)k < sizeof buf ? (size_t)k : strlen(buf);
    j += (size_t)snprintf(buf + j, sizeof buf - j,
                          "\n  run \"%s\" seed=%" PRIu64 " (replay: T_LIMITS_SEED=%" PRIu64
                          ") step %d, t = T0+%lld (T0 = %lld), units m=%lld r=%lld b=%lld",
                          m->run->what, m->seed, m->seed, m->step, m->t - m->t0, m->t0,
                          m->units[0], m->units[1], m->units[2]);
    for (int i = 0; i < m->run->nlim && j < sizeof buf; i++)
        j += (size_t)snprintf(buf + j, sizeof buf - j, "\n  limit %s: N=%lld P=%lld w=%lld "
                              "count %c", m->run->lim[i].name, m->run->lim[i].max,
                              m->run->lim[i].per, m->w[i], m->run->lim[i].cnt);
    j += (size_t)snprintf(buf + j, sizeof buf - j, "\n  last admissions (T0+time: units):");
    size_t from = m->nev > 16 ? m->nev - 16 : 0;
    for (size_t i = from; i < m->nev && j + 80 < sizeof buf; i++) {
        j += (size_t)snprintf(buf + j, sizeof buf - j, " %lld:", m->et[i] - m->t0);
        for (int l = 0; l < m->run->nlim; l++)
            j += (size_t)snprintf(buf + j, sizeof buf - j, "%s%lld", l ? "/" : "",
                                  m->eu[i][l]);
    }
    ck_abort_msg("%s", buf);
}

/* Units of limit l admitted in (lo, hi]. */
static long long msum(const struct model *m, int l, long long lo, long long hi)
{
    long long s = 0;
    for (size_t i = m->nev; i-- > 0 && m->et[i] > lo;)
        if (m->et[i] <= hi)
            s += m->eu[i][l];
    return s;
}

/* Units of limit l admitted in bucket k (of width w). */
static long long mbucket(const struct model *m, int l, long long k)
{
    long long s = 0, w = m->w[l];
    for (size_t i = m->nev; i-- > 0 && floor_div(m->et[i], w) >= k;)
        if (floor_div(m->et[i], w) == k)
            s += m->eu[i][l];
    return s;
}

/* (a): for every admitted time s, (s-P, s] holds at most N. */
static void mcheck_sliding(const struct model *m)
{
    for (int l = 0; l < m->run->nlim; l++) {
        long long per = m->run->lim[l].per, max = m->run->lim[l].max, sum = 0;
        size_t lo = 0;
        for (size_t i = 0; i < m->nev; i++) {
            sum += m->eu[i][l];
            while (m->et[lo] <= m->et[i] - per)
                sum -= m->eu[lo++][l];
            if (sum > max)
                mfail(m, "(a) VIOLATED: limit %s admitted %lld units in (T0+%lld, T0+%lld], "
                      "an interval of length P=%lld; N=%lld", m->run->lim[l].name, sum,
                      m->et[i] - per - m->t0, m->et[i] - m->t0, per, max);
        }
    }
}

static void madmit(struct model *m, long long t)
{
    if (m->nev == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->et = realloc(m->et, m->cap * sizeof *m->et);
        m->eu = realloc(m->eu, m->cap * sizeof *m->eu);
        ck_assert(m->et != NULL && m->eu != NULL);
        model_mem[0] = m->et;
        model_mem[1] = m->eu;
    }
    m->et[m->nev] = t;
    for (int l = 0; l < m->run->nlim; l++)
        m->eu[m->nev][l] = m->units[m->ui[l]];
    m->nev++;
}

static int mlimit_index(const struct model *m, const char *name)
{
    for (int l = 0; l < m->run->nlim; l++)
        if (strcmp(m->run->lim[l].name, name) == 0)
            return l;
    return -1;
}

/* (b) for a refusal at time t naming limit name. */
static void mcheck_refusal(const struct model *m, const struct sreply *s, long long t,
                           const char *when)
{
    int l = mlimit_index(m, s->v[1]);
    if (l < 0)
        mfail(m, "%s: reply %s names no limit of the class", when, sreply_str(s));
    const struct mlim *L = &m->run->lim[l];
    long long u = m->units[m->ui[l]];
    long long held = msum(m, l, t - L->per - m->w[l], t);
    if (held + u <= L->max)
        mfail(m, "(b) refusal too early at T0+%lld (%s): reply %s, but (t-P-w, t] = "
              "(T0+%lld, T0+%lld] holds only %lld units of %s and %lld + u=%lld <= N=%lld "
              "(the doc promises a window of at most P + w, w=%lld)",
              t - m->t0, when, sreply_str(s), t - L->per - m->w[l] - m->t0, t - m->t0,
              held, L->name, held, u, L->max, m->w[l]);
}

/* The fields of limit l's counter hash: only w and buckets b-60..b, each
 * holding exactly the units the model admitted in it. */
static void mcheck_buckets(const struct model *m, int l, const redisReply *h, long long t)
{
    long long w = m->w[l], b = floor_div(t, w);
    bool saw_w = false;
    long long rt = -1, ro = LLONG_MAX, rn = LLONG_MIN, sum = 0, lo = LLONG_MAX, hi = LLONG_MIN;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const char *f = h->element[i]->str, *v = h->element[i + 1]->str;
        if (strcmp(f, "w") == 0) {
            saw_w = true;
            if (strtoll(v, NULL, 10) != w)
                mfail(m, "counter %s: w = %s, want %lld", m->sp.ctr[l], v, w);
            continue;
        }
        /* the running figures: checked against the buckets below */
        if (strcmp(f, "t") == 0 || strcmp(f, "o") == 0 || strcmp(f, "n") == 0) {
            long long x = strtoll(v, NULL, 10);
            *(f[0] == 't' ? &rt : f[0] == 'o' ? &ro : &rn) = x;
            continue;
        }
        char *end;
        long long k = strtoll(f, &end, 10);
        if (*end != '\0' || k < b - 60 || k > b)
            mfail(m, "counter %s holds field \"%s\" at bucket b=%lld: want only w and the "
                  "buckets b-60..b (older ones deleted at a count)", m->sp.ctr[l], f, b);
        long long want = mbucket(m, l, k);
        if (strtoll(v, NULL, 10) != want)
            mfail(m, "counter %s bucket %lld (T0+%lld..) holds %s units, the model admitted "
                  "%lld in it", m->sp.ctr[l], k, k * w - m->t0, v, want);
        sum += want;
        lo = k < lo ? k : lo;
        hi = k > hi ? k : hi;
    }
    if (!saw_w)
        mfail(m, "counter %s has no w field after a count", m->sp.ctr[l]);
    /* t is exactly the sum of the buckets held; o and n bound them */
    if (rt != sum || ro > lo || rn < hi)
        mfail(m, "counter %s: t=%lld o=%lld n=%lld, but its buckets hold %lld units in "
              "%lld..%lld (want t = that sum, o <= the lowest, n >= the highest)",
              m->sp.ctr[l], rt, ro, rn, sum, lo, hi);
}

/* The next arrival time (>= t): bursts at one ms, bucket edges (k*w-1,
 * k*w, k*w+1), the moments admitted units leave the window (P and P + w
 * after them, the end of their bucket's 61 w), idle gaps longer than P.
 * While a window is less than 3/4 full, arrivals come fast, so that
 * every limit is driven into refusals whatever N/P. */
static long long mnext_time(struct model *m, long long t)
{
    uint64_t *g = &m->rng;
    int l = (int)rnd_below(g, m->run->nlim);
    long long w = m->w[l], per = m->run->lim[l].per, gap = m->gap;
    long long r = rnd_below(g, 1000);
    bool low = msum(m, l, t - per, t) < m->run->lim[l].max * 3 / 4;

    if (r < 120)                                   /* the same ms */
        return t;
    if (low && r < 700)                            /* filling up */
        return t + rnd_below(g, gap / 4 + 2);
    if (r < 400)                                   /* small steps */
        return t + rnd_below(g, gap / 2 + 2);
    if (r < 600) {                                 /* the next bucket edge(s) */
        long long k = floor_div(t, w) + 1 + (rnd_below(g, 3) == 0 ? rnd_below(g, 3) : 0);
        long long c = k * w - 1 + rnd_below(g, 3);
        return c >= t ? c : t;
    }
    if (r < 850 && m->nev > 0) {                   /* an admitted unit leaving */
        size_t first = m->nev;
        while (first > 0 && m->et[first - 1] > t - per - 2 * w)
            first--;
        if (first < m->nev) {
            size_t left = m->nev - first;
            size_t e = first + (size_t)rnd_below(g, (long long)(left < 4 ? left : 4));
            long long base = m->et[e], c;
            switch (rnd_below(g, 3)) {
            case 0:  c = base + per - 1 + rnd_below(g, 3); break;
            case 1:  c = base + per + w - 1 + rnd_below(g, 3); break;
            default: c = (floor_div(base, w) + 61) * w - 1 + rnd_below(g, 3); break;
            }
            return c >= t ? c : t + rnd_below(g, gap + 1);
        }
    }
    /* rare big steps: about once per 8 fillings of the window */
    long long big = rnd_below(g, 16 * m->fill[l]);
    if (big == 0)                                  /* idle longer than P */
        return t + per + w + rnd_below(g, per);
    if (big == 1)
        return t + rnd_below(g, per / 2 + 1);
    return t + rnd_below(g, 2 * gap + 2);
}

static void munits(struct model *m)
{
    uint64_t *g = &m->rng;
    m->units[0] = 1;
    m->units[1] = 1 + rnd_below(g, 3);
    m->units[2] = 1 + rnd_below(g, 1000);
    for (int l = 0; l < m->run->nlim; l++) {
        const struct mlim *L = &m->run->lim[l];
        if (L->cnt == 'm')
            continue;
        long long u;
        if (rnd_below(g, 100) < m->run->exceeds_pct)
            u = L->max + 1 + rnd_below(g, L->max / 2 + 1);     /* 'exceeds' */
        else
            u = 1 + rnd_below(g, L->max / 3 > 1 ? L->max / 3 : 1);
        m->units[m->ui[l]] = u;
    }
}

/* One step: maybe a RCPT check (e), then the END-OF-MESSAGE, in one
 * batch with the counters' DUMP before and after. */
static void mstep(struct model *m)
{
    struct pipe p = { .c = m->c };
    int nl = m->run->nlim;
    char eomkey[160], inst[32], qid[32];
    bool rcpt = rnd_below(&m->rng, 4) == 0;
    int i_rdb0 = -1, i_rd0 = -1, i_rcpt = -1, i_rdb1 = -1, i_rd1 = -1;

    snprintf(inst, sizeof inst, "i%d", m->step);
    snprintf(qid, sizeof qid, "Q%d", m->step);
    eom_key(eomkey, sizeof eomkey, &m->sp, inst, qid);
    if (rcpt) {
        i_rdb0 = p_cmd(&p, "DBSIZE", NULL, NULL);
        i_rd0 = p.n;
        for (int l = 0; l < nl; l++)
            p_cmd(&p, "DUMP", m->sp.ctr[l], NULL);
        i_rcpt = p_decide(&p, m->fn, &m->sp, NULL, m->t, m->units);
        i_rdb1 = p_cmd(&p, "DBSIZE", NULL, NULL);
        i_rd1 = p.n;
        for (int l = 0; l < nl; l++)
            p_cmd(&p, "DUMP", m->sp.ctr[l], NULL);
    }
    int i_db0 = p_cmd(&p, "DBSIZE", NULL, NULL), i_d0 = p.n;
    for (int l = 0; l < nl; l++)
        p_cmd(&p, "DUMP", m->sp.ctr[l], NULL);
    int i_eom = p_decide(&p, m->fn, &m->sp, eomkey, m->t, m->units);
    int i_db1 = p_cmd(&p, "DBSIZE", NULL, NULL), i_d1 = p.n;
    for (int l = 0; l < nl; l++)
        p_cmd(&p, "DUMP", m->sp.ctr[l], NULL);
    int i_ttl = p.n;
    for (int l = 0; l < nl; l++)
        p_cmd(&p, "PTTL", m->sp.ctr[l], NULL);
    int i_h = p.n;
    for (int l = 0; l < nl; l++)
        p_cmd(&p, "HGETALL", m->sp.ctr[l], NULL);
    int i_ettl = p_cmd(&p, "PTTL", eomkey, NULL);
    p_run(&p, "model step");

    struct sreply s, rs;
    sreply_take(p.r[i_eom], &s, "END-OF-MESSAGE");

    if (rcpt) {                                     /* (e) */
        m->n_rcpt++;
        sreply_take(p.r[i_rcpt], &rs, "RCPT");
        if (!same_bulk(p.r[i_rdb0], p.r[i_rdb1]))
            mfail(m, "(e) a RCPT check changed the number of keys: %lld -> %lld",
                  p.r[i_rdb0]->integer, p.r[i_rdb1]->integer);
        for (int l = 0; l < nl; l++)
            if (!same_bulk(p.r[i_rd0 + l], p.r[i_rd1 + l]))
                mfail(m, "(e) a RCPT check changed counter %s (DUMP differs); reply %s",
                      m->sp.ctr[l], sreply_str(&rs));
        bool agree = rs.n == s.n;
        for (int i = 0; agree && i < s.n; i++)
            if (strcmp(rs.v[i], s.v[i]) != 0 && !(i == 2 && is(&s, "ok")))
                agree = false;
        if (!agree || (is(&rs, "ok") && strcmp(rs.v[2], "0") != 0))
            mfail(m, "(e) the RCPT check answered %s, the END-OF-MESSAGE right after it %s "
                  "(same time, same units; want the same verdict, COUNTED 0 at RCPT)",
                  sreply_str(&rs), sreply_str(&s));
    }

    bool unchanged = same_bulk(p.r[i_db0], p.r[i_db1]);
    for (int l = 0; l < nl; l++)
        unchanged = unchanged && same_bulk(p.r[i_d0 + l], p.r[i_d1 + l]);

    if (is(&s, "ok")) {
        m->n_ok++;
        if (s.n != 3 || strcmp(s.v[1], "standard") != 0 || strcmp(s.v[2], "1") != 0)
            mfail(m, "END-OF-MESSAGE admitted with reply %s; want \"ok standard 1\"",
                  sreply_str(&s));
        madmit(m, m->t);
        mcheck_sliding(m);                          /* (a) */
        for (int l = 0; l < nl; l++) {
            long long ttl = p.r[i_ttl + l]->integer, w = m->w[l];
            long long per = m->run->lim[l].per;
            if (ttl < 61 * w || ttl > per + w + 60000)
                mfail(m, "counter %s: PTTL %lld after a count; want 61 w = %lld .. P + w + "
                      "60 s = %lld", m->sp.ctr[l], ttl, 61 * w, per + w + 60000);
            mcheck_buckets(m, l, p.r[i_h + l], m->t);
        }
        long long ettl = p.r[i_ettl]->integer;
        if (ettl <= 0 || ettl > 600000)
            mfail(m, "dedupe key %s: PTTL %lld; want 1 .. 600000", eomkey, ettl);
    } else if (is(&s, "limit")) {
        m->n_limit++;
        if (!unchanged)
            mfail(m, "a refused END-OF-MESSAGE (%s) changed Redis (DBSIZE or a counter's "
                  "DUMP): a refused message must consume nothing", sreply_str(&s));
        int l = s.n == 8 ? mlimit_index(m, s.v[1]) : -1;
        if (l < 0)
            mfail(m, "reply %s: want limit NAME ACTION MAX PER_MS COUNT RETRY_MS CLASS with a "
                  "NAME of the class", sreply_str(&s));
        const struct mlim *L = &m->run->lim[l];
        char want[128];
        snprintf(want, sizeof want, "limit %s D %lld %lld %c ", L->name, L->max, L->per,
                 L->cnt);
        if (strncmp(sreply_str(&s), want, strlen(want)) != 0)
            mfail(m, "reply %s; want it to start \"%s\"", sreply_str(&s), want);
        mcheck_refusal(m, &s, m->t, "the END-OF-MESSAGE");     /* (b) */
        char *end;
        long long retry = strtoll(s.v[6], &end, 10);
        if (*end != '\0' || retry <= 0)                         /* (d) */
            mfail(m, "(d) RETRY_MS \"%s\" in %s: want a positive integer", s.v[6],
                  sreply_str(&s));
        for (int k = 0; k < nl; k++) {
            const struct mlim *K = &m->run->lim[k];
            long long at = m->t + retry;
            long long held = msum(m, k, at - K->per, at);
            if (held + m->units[m->ui[k]] > K->max)
                mfail(m, "(d) RETRY_MS %lld: at T0+%lld limit %s still holds %lld units in "
                      "(t-P, t]; admitting u=%lld more would exceed N=%lld", retry,
                      at - m->t0, K->name, held, m->units[m->ui[k]], K->max);
        }
        /* the script itself, 1 ms before and at t + RETRY_MS */
        struct pipe q = { .c = m->c };
        int i_b = p_decide(&q, m->fn, &m->sp, NULL, m->t + retry - 1, m->units);
        int i_a = p_decide(&q, m->fn, &m->sp, NULL, m->t + retry, m->units);
        p_run(&q, "retry check");
        struct sreply sb, sa;
        sreply_take(q.r[i_b], &sb, "RCPT at t + RETRY_MS - 1");
        sreply_take(q.r[i_a], &sa, "RCPT at t + RETRY_MS");
        p_free(&q);
        m->n_retry++;
        if (!is(&sa, "ok"))
            mfail(m, "(d) refused with %s; the same request at t + RETRY_MS = T0+%lld "
                  "(nothing else arrived) got %s, want ok", sreply_str(&s),
                  m->t + retry - m->t0, sreply_str(&sa));
        if (!is(&sb, "limit"))
            mfail(m, "(d) refused with %s; the same request at t + RETRY_MS - 1 = T0+%lld "
                  "got %s: RETRY_MS is longer than needed", sreply_str(&s),
                  m->t + retry - 1 - m->t0, sreply_str(&sb));
        mcheck_refusal(m, &sb, m->t + retry - 1, "a RCPT check at t + RETRY_MS - 1");
    } else if (is(&s, "exceeds")) {
        m->n_exceeds++;
        if (!unchanged)
            mfail(m, "an 'exceeds' END-OF-MESSAGE (%s) changed Redis", sreply_str(&s));
        int l = s.n == 7 ? mlimit_index(m, s.v[1]) : -1;
        if (l < 0)
            mfail(m, "reply %s: want exceeds NAME ACTION MAX PER_MS COUNT CLASS", sreply_str(&s));
        if (m->units[m->ui[l]] <= m->run->lim[l].max)                 /* (c) */
            mfail(m, "(c) 'exceeds' (%s) for u=%lld <= N=%lld", sreply_str(&s),
                  m->units[m->ui[l]], m->run->lim[l].max);
    } else {
        mfail(m, "END-OF-MESSAGE: unexpected reply %s", sreply_str(&s));
    }
    if (!is(&s, "ok") && !is(&s, "exceeds")) {
        /* exceeds comes first: no limit's u may be above its N here */
        for (int l = 0; l < nl; l++)
            if (m->units[m->ui[l]] > m->run->lim[l].max)
                mfail(m, "(c) u=%lld > N=%lld for %s but the reply is %s, not exceeds",
                      m->units[m->ui[l]], m->run->lim[l].max, m->run->lim[l].name,
                      sreply_str(&s));
    }
    p_free(&p);
}

static void model_run(const struct mrun *run)
{
    struct tredis *r = &redises[0];
    struct model *m = calloc(1, sizeof *m);
    char fn[41];
    long t_start = tms_mono();

    ck_assert_ptr_nonnull(m);
    model_mem[2] = m;
    start_decide(r, fn);
    m->run = run;
    m->c = rcx;
    m->fn = fn;
    m->seed = seed_make();
    m->rng = m->seed;
    dspec_init(&m->sp, "model");
    long long gap = -1;
    for (int l = 0; l < run->nlim; l++) {
        const struct mlim *L = &run->lim[l];
        dspec_limit(&m->sp, L->name, L->cnt, L->max, L->per, 0);
        m->w[l] = ceil_div(L->per, 60);
        m->ui[l] = L->cnt == 'm' ? 0 : L->cnt == 'r' ? 1 : 2;
        long long mean = L->cnt == 'm' ? 1 : (1 + (L->max / 3 > 1 ? L->max / 3 : 1)) / 2 + 1;
        long long g = L->per * mean / L->max;
        m->fill[l] = L->max / mean > 1 ? L->max / mean : 1;
        if (gap < 0 || g < gap)
            gap = g;
    }
    m->gap = gap > 0 ? gap : 1;
    /* a realistic clock at a random offset from the buckets */
    m->t0 = m->t = 1700000000000LL + rnd_below(&m->rng, 1000000000LL);

    /* The run must exercise both sides of every limit: at least a tenth
     * of its nominal steps admitted and a fortieth refused.  How many
     * refusals a seed yields is a random walk near saturation (msgs
     * 100/1h: 136 to 865 of 6000 over 21 seeds), so a run that has not
     * reached both floors after its nominal steps goes on until it has,
     * up to MODEL_STEPS_MAX times as many; only a generator that really
     * fails to drive a limit into refusals fails here. */
    long want_ok = run->steps / 10, want_limit = run->steps / 40;
    int max_steps = run->steps * MODEL_STEPS_MAX;
    for (m->step = 0; m->step < max_steps; m->step++) {
        if (m->step >= run->steps && m->n_ok >= want_ok && m->n_limit >= want_limit)
            break;
        m->t = mnext_time(m, m->t);
        munits(m);
        mstep(m);
    }
    fprintf(stderr, "check_limits: model \"%s\": seed=%" PRIu64 " steps=%d admitted=%ld "
            "limit=%ld exceeds=%ld rcpt-checks=%ld retry-checks=%ld simulated=%lld ms "
            "wall=%ld ms\n", run->what, m->seed, m->step, m->n_ok, m->n_limit,
            m->n_exceeds, m->n_rcpt, m->n_retry, m->t - m->t0, tms_mono() - t_start);
    if (m->n_ok < want_ok || m->n_limit < want_limit)
        mfail(m, "the run admitted %ld and refused %ld in %d steps (want at least %ld and "
              "%ld): too few of either to prove anything", m->n_ok, m->n_limit, m->step,
              want_ok, want_limit);
    if (run->exceeds_pct > 0 && m->n_exceeds == 0)
        mfail(m, "the run produced no 'exceeds'");
}

static const struct mrun model_runs[] = {
    { "msgs 10/1m", 1, { { "msgs", 'm', 10, 60000 } }, 4000, 0 },
    { "rcpts 10/1m", 1, { { "rcpts", 'r', 10, 60000 } }, 4000, 4 },
    { "msgs 100/1h", 1, { { "msgs", 'm', 100, 3600000 } }, 6000, 0 },
    { "bytes 100/1h", 1, { { "bytes", 'b', 100, 3600000 } }, 4000, 4 },
    { "msgs 7/1s", 1, { { "msgs", 'm', 7, 1000 } }, 4000, 0 },
    { "rcpts 7/1s", 1, { { "rcpts", 'r', 7, 1000 } }, 4000, 4 },
    { "msgs 10/1m + rcpts 100/1h", 2,
      { { "msgs", 'm', 10, 60000 }, { "rcpts", 'r', 100, 3600000 } }, 4000, 3 },
};

/* One test case per run (not a loop test: each must have its own
 * unchecked fixture, so that a failed run's PIDs are reaped). */
#define MODEL_TEST(i) \
    START_TEST(test_model_##i) \
    { \
        model_run(&model_runs[i]); \
    } \
    END_TEST
MODEL_TEST(0)
MODEL_TEST(1)
MODEL_TEST(2)
MODEL_TEST(3)
MODEL_TEST(4)
MODEL_TEST(5)
MODEL_TEST(6)

/* ---- 1b. the refusal horizon: doc/keys.md promises a window of at least
 * P and at most P + w (w = ceil(P/60)).  N units at t0 (at a bucket's
 * start, or its last ms): one more at t0+P-1 must be refused (hard
 * guarantee), at t0+P+w admitted; a refusal at t0 asks to retry within
 * P + w. */
START_TEST(test_horizon)
{
    static const long long pers[] = { 1000, 7000, 10000, 60000, 600000, 3600000, 86400000 };
    struct tredis *r = &redises[0];
    char fn[41], bad[4000] = "";
    size_t nb = 0;
    int fails = 0;

    start_decide(r, fn);
    for (size_t i = 0; i < sizeof pers / sizeof pers[0]; i++) {
        for (int end = 0; end < 2; end++) {
            long long per = pers[i], w = ceil_div(per, 60), max = 3;
            long long t0 = (1700000000000LL / w + 7) * w + (end ? w - 1 : 0);
            const long long units[3] = { 1, 1, 1 };
            char acct[32], ek[160], q[16], what[64];
            struct dspec sp;
            struct sreply s;
            snprintf(acct, sizeof acct, "hz%zu%c", i, end ? 'e' : 's');
            dspec_init(&sp, acct);
            dspec_limit(&sp, "msgs", 'm', max, per, 0);
            for (int k = 0; k < max; k++) {
                snprintf(q, sizeof q, "Q%d", k);
                eom_key(ek, sizeof ek, &sp, "i", q);
                decide1(rcx, fn, &sp, ek, t0, units, &s, "fill");
                ck_assert_msg(is(&s, "ok"), "P=%lld: message %d at t0: %s", per, k,
                              sreply_str(&s));
            }
            snprintf(what, sizeof what, "P=%lld w=%lld t0=%s of a bucket", per, w,
                     end ? "last ms" : "first ms");
            decide1(rcx, fn, &sp, NULL, t0, units, &s, "at t0");
            long long retry = is(&s, "limit") && s.n == 8 ? strtoll(s.v[6], NULL, 10) : -1;
            ck_assert_msg(retry > 0, "%s: at t0: %s, want limit with RETRY_MS > 0", what,
                          sreply_str(&s));
            if (retry > per + w) {
                fails++;
                nb += (size_t)snprintf(bad + nb, sizeof bad - nb, "\n  %s: RETRY_MS at t0 "
                                       "is %lld > P + w = %lld", what, retry, per + w);
            }
            decide1(rcx, fn, &sp, NULL, t0 + per - 1, units, &s, "at t0+P-1");
            ck_assert_msg(is(&s, "limit"), "%s: VIOLATION: one more at t0+P-1 got %s: N+1 "
                          "units in an interval of length P", what, sreply_str(&s));
            decide1(rcx, fn, &sp, NULL, t0 + per + w, units, &s, "at t0+P+w");
            if (!is(&s, "ok")) {
                fails++;
                nb += (size_t)snprintf(bad + nb, sizeof bad - nb, "\n  %s: one more at "
                                       "t0+P+w = t0+%lld got %s, want ok (the %lld units "
                                       "are P + w old)", what, per + w, sreply_str(&s), max);
            }
        }
    }
    ck_assert_msg(fails == 0, "refusals later than one step w = ceil(P/60) after P "
                  "(doc/keys.md \"The window\"):%s", bad);
}
END_TEST

/* ---- 1c. dedupe and undo.lua */

START_TEST(test_dedupe_undo)
{
    struct tredis *r = &redises[0];
    char fn[41], undo[41], k1[160], ek[160], q[16], w[16];
    struct dspec sp;
    struct sreply s;
    long long t = 1700000000000LL + 12345;
    const long long u5[3] = { 1, 5, 100 }, u1[3] = { 1, 1, 100 };

    start_decide(r, fn);
    load_lua(rcx, "undo.lua", undo);
    dspec_init(&sp, "dd");
    dspec_limit(&sp, "msgs", 'm', 10, 60000, 0);
    dspec_limit(&sp, "rcpts", 'r', 100, 3600000, 0);
    eom_key(k1, sizeof k1, &sp, "inst1", "Q1");

    decide1(rcx, fn, &sp, k1, t, u5, &s, "first count");
    ck_assert_msg(is(&s, "ok") && strcmp(s.v[2], "1") == 0, "first count: %s",
                  sreply_str(&s));
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[0], w, sizeof w), 1);
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[1], w, sizeof w), 5);

    /* the same END-OF-MESSAGE again: dup, nothing counted */
    const char *dump0[2] = { "DUMP", sp.ctr[0] }, *dump1[2] = { "DUMP", sp.ctr[1] };
    redisReply *a0 = hcmd(rcx, "DUMP", 2, dump0), *a1 = hcmd(rcx, "DUMP", 2, dump1);
    decide1(rcx, fn, &sp, k1, t + 5, u5, &s, "repeated count");
    ck_assert_msg(s.n == 3 && is(&s, "ok") && strcmp(s.v[1], "standard") == 0
                  && strcmp(s.v[2], "dup") == 0,
                  "the same END-OF-MESSAGE (same eom key) again: %s, want \"ok standard dup\"",
                  sreply_str(&s));
    redisReply *b0 = hcmd(rcx, "DUMP", 2, dump0), *b1 = hcmd(rcx, "DUMP", 2, dump1);
    ck_assert_msg(same_bulk(a0, b0) && same_bulk(a1, b1),
                  "a repeated END-OF-MESSAGE changed a counter");
    freeReplyObject(a0);
    freeReplyObject(a1);
    freeReplyObject(b0);
    freeReplyObject(b1);

    /* exhaust msgs; the repeated message is still admitted, uncounted */
    for (int k = 2; k <= 10; k++) {
        snprintf(q, sizeof q, "Q%d", k);
        eom_key(ek, sizeof ek, &sp, "inst1", q);
        decide1(rcx, fn, &sp, ek, t + 10 + k, u1, &s, "fill");
        ck_assert_msg(is(&s, "ok"), "message %d: %s", k, sreply_str(&s));
    }
    eom_key(ek, sizeof ek, &sp, "inst1", "Q11");
    decide1(rcx, fn, &sp, ek, t + 30, u1, &s, "11th");
    ck_assert_msg(is(&s, "limit") && strcmp(s.v[1], "msgs") == 0, "11th message: %s",
                  sreply_str(&s));
    decide1(rcx, fn, &sp, k1, t + 31, u5, &s, "dup at the limit");
    ck_assert_msg(is(&s, "ok") && strcmp(s.v[2], "dup") == 0,
                  "a repeat of a counted message while the limit is exhausted: %s, want ok "
                  "dup", sreply_str(&s));
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[0], w, sizeof w), 10);
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[1], w, sizeof w), 14);

    /* undo.lua: subtracts exactly the record, once */
    const char *uargv[6] = { "EVALSHA", undo, "3", k1, sp.ctr[0], sp.ctr[1] };
    redisReply *ur = hcmd(rcx, "undo.lua", 6, uargv);
    ck_assert_msg(ur->type == REDIS_REPLY_INTEGER && ur->integer == 1,
                  "undo.lua: want integer 1");
    freeReplyObject(ur);
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[0], w, sizeof w), 9);
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[1], w, sizeof w), 9);
    const char *gargv[2] = { "GET", k1 };
    redisReply *gr = hcmd(rcx, "GET", 2, gargv);
    ck_assert_msg(gr->type == REDIS_REPLY_STRING && strcmp(gr->str, "[]") == 0,
                  "dedupe key after undo: want \"[]\"");
    freeReplyObject(gr);
    long long ttl = hint(rcx, "PTTL", k1);
    ck_assert_msg(ttl > 0 && ttl <= 600000, "dedupe key after undo: PTTL %lld, want its "
                  "TTL kept", ttl);
    ur = hcmd(rcx, "undo.lua again", 6, uargv);
    ck_assert_msg(ur->type == REDIS_REPLY_INTEGER && ur->integer == 0,
                  "undo.lua a second time: want 0 (nothing left to undo)");
    freeReplyObject(ur);
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[0], w, sizeof w), 9);
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[1], w, sizeof w), 9);

    /* an undone message counts again when it comes back */
    decide1(rcx, fn, &sp, k1, t + 40, u5, &s, "after undo");
    ck_assert_msg(is(&s, "ok") && strcmp(s.v[2], "1") == 0,
                  "the undone message again: %s, want ok standard 1", sreply_str(&s));
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[0], w, sizeof w), 10);
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[1], w, sizeof w), 14);

    /* keys with '"' and '\' (keys.c leaves both as they are): the record
     * is JSON naming them exactly, and undo.lua takes it back */
    struct dspec sq;
    dspec_init(&sq, "q\"b\\s");
    dspec_limit(&sq, "msgs", 'm', 10, 60000, 0);
    dspec_limit(&sq, "rcpts", 'r', 100, 3600000, 0);
    eom_key(k1, sizeof k1, &sq, "inst1", "Q1");
    decide1(rcx, fn, &sq, k1, t + 50, u5, &s, "quoted account");
    ck_assert_msg(is(&s, "ok") && strcmp(s.v[2], "1") == 0, "quoted account: %s",
                  sreply_str(&s));
    gr = hcmd(rcx, "GET", 2, gargv);
    ck_assert_msg(gr->type == REDIS_REPLY_STRING, "quoted account: no dedupe record");
    json_error_t je;
    json_t *rec = json_loads(gr->str, 0, &je);
    ck_assert_msg(rec != NULL, "quoted account: the record is not JSON (%s): %s", je.text,
                  gr->str);
    const char *want[2][2] = { { sq.ctr[0], "1" }, { sq.ctr[1], "5" } };
    ck_assert_msg(json_is_array(rec) && json_array_size(rec) == 2, "record %s", gr->str);
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(rec, i);
        ck_assert_msg(json_is_array(e) && json_array_size(e) == 3
                      && json_is_string(json_array_get(e, 0))
                      && strcmp(json_string_value(json_array_get(e, 0)), want[i][0]) == 0
                      && json_is_string(json_array_get(e, 2))
                      && strcmp(json_string_value(json_array_get(e, 2)), want[i][1]) == 0,
                      "record entry %zu of %s: want [%s, BUCKET, %s]", i, gr->str,
                      want[i][0], want[i][1]);
    }
    json_decref(rec);
    freeReplyObject(gr);
    const char *qargv[6] = { "EVALSHA", undo, "3", k1, sq.ctr[0], sq.ctr[1] };
    ur = hcmd(rcx, "undo.lua quoted", 6, qargv);
    ck_assert_msg(ur->type == REDIS_REPLY_INTEGER && ur->integer == 1,
                  "undo.lua of the quoted account: want integer 1");
    freeReplyObject(ur);
    ck_assert_int_eq(bucket_sum(rcx, sq.ctr[0], w, sizeof w), 0);
    ck_assert_int_eq(bucket_sum(rcx, sq.ctr[1], w, sizeof w), 0);
}
END_TEST

/* ---- 1d. TTLs: every key decide.lua writes expires by itself; a counter
 * lives at least as long as any of its buckets counts (61 w) and at most
 * P + w + 60 s after the last count; RCPT checks never extend it. */
START_TEST(test_ttl_idle)
{
    struct tredis *r = &redises[0];
    char fn[41], ek[160], q[16];
    struct dspec sp;
    struct sreply s;
    long long t = 1700000000000LL + 777;
    const long long u[3] = { 1, 2, 3 };

    start_decide(r, fn);
    dspec_init(&sp, "idle");
    dspec_limit(&sp, "msgs", 'm', 10, 60000, 0);
    dspec_limit(&sp, "rcpts", 'r', 100, 3600000, 0);
    dspec_limit(&sp, "bytes", 'b', 7, 1000, 0);
    for (int k = 0; k < 2; k++) {
        snprintf(q, sizeof q, "Q%d", k);
        eom_key(ek, sizeof ek, &sp, "i", q);
        decide1(rcx, fn, &sp, ek, t + k, u, &s, "count");
        ck_assert_msg(is(&s, "ok"), "count %d: %s", k, sreply_str(&s));
    }
    static const long long pers[3] = { 60000, 3600000, 1000 };
    long long before[3];
    for (int l = 0; l < 3; l++) {
        long long w = ceil_div(pers[l], 60);
        before[l] = hint(rcx, "PTTL", sp.ctr[l]);
        ck_assert_msg(before[l] >= 61 * w && before[l] <= pers[l] + w + 60000,
                      "counter %s: PTTL %lld; want 61 w = %lld .. P + w + 60 s = %lld",
                      sp.ctr[l], before[l], 61 * w, pers[l] + w + 60000);
    }
    /* every key has a TTL: an idle account leaves nothing behind */
    const char *kargv[2] = { "KEYS", "*" };
    redisReply *keys = hcmd(rcx, "KEYS *", 2, kargv);
    ck_assert_int_eq(keys->elements, 5);            /* 3 counters, 2 dedupe keys */
    for (size_t i = 0; i < keys->elements; i++) {
        long long ttl = hint(rcx, "PTTL", keys->element[i]->str);
        ck_assert_msg(ttl > 0, "key %s has PTTL %lld: it would never vanish",
                      keys->element[i]->str, ttl);
    }
    freeReplyObject(keys);
    /* RCPT checks read only: no TTL is extended */
    tsleep_ms(20);
    for (int k = 0; k < 3; k++) {
        decide1(rcx, fn, &sp, NULL, t + 1000000 * k, u, &s, "rcpt");
        ck_assert_msg(is(&s, "ok") || is(&s, "limit"), "RCPT: %s", sreply_str(&s));
    }
    for (int l = 0; l < 3; l++) {
        long long now = hint(rcx, "PTTL", sp.ctr[l]);
        ck_assert_msg(now > 0 && now < before[l], "counter %s: PTTL %lld after RCPT checks, "
                      "%lld before: a RCPT check must not touch the TTL", sp.ctr[l], now,
                      before[l]);
    }
    /* a count that opens a new bucket sets the TTL afresh, also on the fast
     * path (msgs: w = 1 s, 5 buckets later, every bucket still in the
     * window); one that adds to an existing bucket leaves it (rcpts: w =
     * 60 s, the same bucket): the TTL set with that bucket outlasts it */
    tsleep_ms(30);
    long long mid[2] = { hint(rcx, "PTTL", sp.ctr[0]), hint(rcx, "PTTL", sp.ctr[1]) };
    eom_key(ek, sizeof ek, &sp, "i", "Q5");
    decide1(rcx, fn, &sp, ek, t + 5002, u, &s, "new bucket");
    ck_assert_msg(is(&s, "ok"), "new bucket: %s", sreply_str(&s));
    long long after[2] = { hint(rcx, "PTTL", sp.ctr[0]), hint(rcx, "PTTL", sp.ctr[1]) };
    ck_assert_msg(after[0] > mid[0], "msgs: PTTL %lld after a count in a new bucket, %lld "
                  "before: want it set afresh", after[0], mid[0]);
    ck_assert_msg(after[1] <= mid[1], "rcpts: PTTL %lld after a count in its current bucket, "
                  "%lld before: want it left", after[1], mid[1]);
    /* once expired (PEXPIRE stands in for idling), the account starts afresh */
    for (int l = 0; l < 3; l++) {
        const char *pargv[3] = { "PEXPIRE", sp.ctr[l], "1" };
        freeReplyObject(hcmd(rcx, "PEXPIRE", 3, pargv));
    }
    long until = tms_mono() + 5000;
    while ((hint(rcx, "EXISTS", sp.ctr[0]) || hint(rcx, "EXISTS", sp.ctr[1])
            || hint(rcx, "EXISTS", sp.ctr[2])) && tms_mono() < until)
        tsleep_ms(5);
    ck_assert_msg(hint(rcx, "EXISTS", sp.ctr[0]) == 0, "counter still there after PEXPIRE 1");
    eom_key(ek, sizeof ek, &sp, "i", "Q9");
    decide1(rcx, fn, &sp, ek, t + 10, u, &s, "after expiry");
    ck_assert_msg(is(&s, "ok"), "after expiry: %s", sreply_str(&s));
    char w[16];
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[0], w, sizeof w), 1);
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[1], w, sizeof w), 2);
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[2], w, sizeof w), 3);
}
END_TEST

/* ---- 1d'. a counter that does not exist yet (an account that has not sent
 * in the period): a RCPT check reads it as empty without writing it, at
 * the exact edge of each limit; a hash without a width (only the time of
 * a limit_reached event) is empty too. */
START_TEST(test_fresh_counter)
{
    struct tredis *r = &redises[0];
    char fn[41], w[16];
    struct dspec sp;
    struct sreply s;
    long long t = 1700000000000LL + 99;

    start_decide(r, fn);
    dspec_init(&sp, "fresh");
    dspec_limit(&sp, "msgs", 'm', 1, 60000, 0);
    dspec_limit(&sp, "rcpts", 'r', 3, 3600000, 0);
    dspec_limit(&sp, "bytes", 'b', 1000, 60000, 0);
    const long long edge[3] = { 1, 3, 1000 };
    decide1(rcx, fn, &sp, NULL, t, edge, &s, "RCPT at every edge");
    ck_assert_msg(is(&s, "ok"), "RCPT at max of every fresh limit: %s, want ok",
                  sreply_str(&s));
    const long long over[3] = { 1, 4, 1000 };
    decide1(rcx, fn, &sp, NULL, t, over, &s, "RCPT over one");
    ck_assert_msg(is(&s, "exceeds") && strcmp(s.v[1], "rcpts") == 0,
                  "RCPT with 4 recipients against 3: %s, want exceeds rcpts", sreply_str(&s));
    for (int l = 0; l < 3; l++)
        ck_assert_msg(hint(rcx, "EXISTS", sp.ctr[l]) == 0, "a RCPT check created %s",
                      sp.ctr[l]);
    /* only the limit_reached time: no width, no bucket: still empty */
    const char *eargv[4] = { "HSET", sp.ctr[0], "e", "1700000000000" };
    freeReplyObject(hcmd(rcx, "HSET e", 4, eargv));
    decide1(rcx, fn, &sp, NULL, t, edge, &s, "RCPT, e only");
    ck_assert_msg(is(&s, "ok"), "RCPT at the edge, hash with only e: %s, want ok",
                  sreply_str(&s));
    /* and the first count goes in whole */
    char ek[160];
    eom_key(ek, sizeof ek, &sp, "i", "F1");
    decide1(rcx, fn, &sp, ek, t, edge, &s, "first count");
    ck_assert_msg(is(&s, "ok") && strcmp(s.v[2], "1") == 0, "first count: %s, want ok "
                  "standard 1", sreply_str(&s));
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[0], w, sizeof w), 1);
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[1], w, sizeof w), 3);
    ck_assert_int_eq(bucket_sum(rcx, sp.ctr[2], w, sizeof w), 1000);
    decide1(rcx, fn, &sp, NULL, t + 1, edge, &s, "RCPT after the count");
    ck_assert_msg(is(&s, "limit"), "RCPT after the count: %s, want limit", sreply_str(&s));
}
END_TEST

/* ---- 1e. a changed period: another bucket width resets the counter, the
 * same width keeps it; a RCPT check with another width writes nothing. */
START_TEST(test_width_change)
{
    struct tredis *r = &redises[0];
    char fn[41], ek[160], q[16], w[16];
    struct dspec a, b, c;
    struct sreply s;
    long long t = 1700000000000LL + 4242;
    const long long u[3] = { 1, 1, 1 };
    int n = 0;

    start_decide(r, fn);
    dspec_init(&a, "wc");
    dspec_limit(&a, "msgs", 'm', 5, 60000, 0);          /* w = 1000 */
    dspec_init(&b, "wc");
    dspec_limit(&b, "msgs", 'm', 5, 120000, 0);         /* w = 2000 */
    dspec_init(&c, "wc");
    dspec_limit(&c, "msgs", 'm', 5, 59990, 0);          /* w = 1000 as well */

#define WC_EOM(sp, at, want) do { \
        snprintf(q, sizeof q, "Q%d", n++); \
        eom_key(ek, sizeof ek, (sp), "i", q); \
        decide1(rcx, fn, (sp), ek, (at), u, &s, "eom"); \
        ck_assert_msg(is(&s, (want)), "message %s at T+%lld: %s, want %s", q, \
                      (long long)((at) - t), sreply_str(&s), (want)); \
    } while (0)

    for (int k = 0; k < 5; k++)
        WC_EOM(&a, t, "ok");
    WC_EOM(&a, t, "limit");
    /* a RCPT check with the new width: admitted, nothing written */
    const char *dargv[2] = { "DUMP", a.ctr[0] };
    redisReply *d0 = hcmd(rcx, "DUMP", 2, dargv);
    decide1(rcx, fn, &b, NULL, t + 1, u, &s, "rcpt");
    ck_assert_msg(is(&s, "ok"), "RCPT with P changed to 120000: %s, want ok (another width "
                  "counts as empty)", sreply_str(&s));
    redisReply *d1 = hcmd(rcx, "DUMP", 2, dargv);
    ck_assert_msg(same_bulk(d0, d1), "a RCPT check with another width changed the counter");
    freeReplyObject(d0);
    freeReplyObject(d1);
    /* P = 120000: the counter starts afresh */
    WC_EOM(&b, t + 1, "ok");
    ck_assert_int_eq(bucket_sum(rcx, a.ctr[0], w, sizeof w), 1);
    ck_assert_str_eq(w, "2000");
    ck_assert_int_eq(hint(rcx, "HLEN", a.ctr[0]), 5);     /* w, one bucket, t, o, n */
    for (int k = 0; k < 4; k++)
        WC_EOM(&b, t + 2, "ok");
    WC_EOM(&b, t + 2, "limit");
    /* back to 60000: afresh again */
    WC_EOM(&a, t + 3, "ok");
    ck_assert_int_eq(bucket_sum(rcx, a.ctr[0], w, sizeof w), 1);
    ck_assert_str_eq(w, "1000");
    /* 59990 has the same width 1000: the counter stays */
    for (int k = 0; k < 4; k++)
        WC_EOM(&c, t + 4, "ok");
    WC_EOM(&c, t + 4, "limit");
    ck_assert_int_eq(bucket_sum(rcx, a.ctr[0], w, sizeof w), 5);
#undef WC_EOM
}
END_TEST

/* HGET key field as a number (-1 when absent). */
static long long hget_ll(redisContext *c, const char *key, const char *field)
{
    const char *argv[3] = { "HGET", key, field };
    redisReply *r = hcmd(c, "HGET", 3, argv);
    long long v = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    freeReplyObject(r);
    return v;
}

/* ---- 1f. Redis' clock goes back (an NTP step, a failover to a replica
 * whose clock is behind; doc/keys.md "The window"): what was counted at
 * the later time still counts, so the step lets nothing more through, and
 * a count at the earlier time keeps n (the highest bucket).  (The TTL
 * cannot be seen here: PEXPIRE runs on Redis' own clock, not the test's.) */
START_TEST(test_clock_back)
{
    struct tredis *r = &redises[0];
    char fn[41], ek[160], q[16];
    struct dspec sp;
    struct sreply s;
    const long long t = 1700000000000LL + 20777;        /* 20.777 s into a bucket */
    const long long back = t - 300000;                  /* 5 min earlier */
    const long long per = 3600000, w = 60000;
    const long long u[3] = { 1, 1, 1 };

    start_decide(r, fn);
    dspec_init(&sp, "cb");
    dspec_limit(&sp, "msgs", 'm', 4, per, 0);
    for (int k = 0; k < 3; k++) {
        snprintf(q, sizeof q, "C%d", k);
        eom_key(ek, sizeof ek, &sp, "i", q);
        decide1(rcx, fn, &sp, ek, t, u, &s, "count at t");
        ck_assert_msg(is(&s, "ok"), "message %d at t: %s, want ok", k, sreply_str(&s));
    }
    /* 5 minutes back, 3 of 4 used: one more is admitted, a second not */
    decide1(rcx, fn, &sp, NULL, back, u, &s, "RCPT back");
    ck_assert_msg(is(&s, "ok"), "RCPT 5 min back, 3 of 4 counted at the later time: %s, "
                  "want ok", sreply_str(&s));
    eom_key(ek, sizeof ek, &sp, "i", "C3");
    decide1(rcx, fn, &sp, ek, back, u, &s, "count back");
    ck_assert_msg(is(&s, "ok") && strcmp(s.v[2], "1") == 0, "the 4th message 5 min back: "
                  "%s, want ok, counted", sreply_str(&s));
    ck_assert_int_eq(hget_ll(rcx, sp.ctr[0], "t"), 4);
    ck_assert_msg(hget_ll(rcx, sp.ctr[0], "n") == floor_div(t, w), "n after a count 5 min "
                  "back: %lld, want the later bucket %lld", hget_ll(rcx, sp.ctr[0], "n"),
                  floor_div(t, w));
    /* the 5th: refused (at RCPT and END-OF-MESSAGE) until the later units
     * leave the window, which is more than P away now */
    decide1(rcx, fn, &sp, NULL, back + 1, u, &s, "RCPT 5th");
    ck_assert_msg(is(&s, "limit"), "RCPT of a 5th against 4, the clock 5 min back: %s, "
                  "want limit (the units counted at the later time count)", sreply_str(&s));
    eom_key(ek, sizeof ek, &sp, "i", "C4");
    decide1(rcx, fn, &sp, ek, back + 1, u, &s, "count 5th");
    ck_assert_msg(is(&s, "limit"), "a 5th message against 4, the clock 5 min back: %s, "
                  "want limit", sreply_str(&s));
    long long retry = strtoll(s.v[6], NULL, 10);
    ck_assert_msg(retry == floor_div(back, w) * w + w + per - 1 - (back + 1),
                  "retry after the refusal 5 min back: %lld ms, want when the oldest "
                  "bucket leaves", retry);
    ck_assert_int_eq(hget_ll(rcx, sp.ctr[0], "t"), 4);
}
END_TEST

/* ==== daemon helpers ===================================================== */

/* "redis": {...} for r with the given deadline, then `more`. */
static void redis_extra(char *out, size_t cap, const struct tredis *r, int timeout_ms,
                        const char *more)
{
    snprintf(out, cap, "\"redis\": {\"address\": \"unix:%s\", \"timeout_ms\": %d,"
             " \"connect_timeout_ms\": 2000},\n  %s", r->sock, timeout_ms, more);
}

/* A daemon with its own classes (default_class "standard"), connected to
 * Redis (its log says so) when this returns. */
static void start_daemon(struct tdaemon *d, const char *extra, const char *classes)
{
    long off = 0;
    tdaemon_prepare_classes(d, NULL, extra, "standard", classes);
    tfix_launch(d);
    texpect_log(d, &off, "redis: connected to", 10000, "outpostd's Redis link");
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

static void cli_ok(int rc, const char *out, const char *what)
{
    ck_assert_msg(rc == 0 && strncmp(out, "ERR", 3) != 0 && strstr(out, "(error)") == NULL
                  && strstr(out, "WRONGTYPE") == NULL,
                  "redis-cli %s: exit %d, output \"%s\"", what, rc, tvis(out));
}

/* The counter hash of account/limit through redis-cli HGETALL: the sum of
 * its bucket fields; raw (may be NULL) gets the output without the field
 * "e" (the time of the last limit_reached event, not a unit count). */
static long long ctr_sum(const struct tredis *r, const char *account, const char *limit,
                         char *raw, size_t rawcap)
{
    char key[256], out[8192];
    snprintf(key, sizeof key, PFX "{a:%s}:rl:%s", account, limit);
    int rc = tredis_cli(r, out, sizeof out, "HGETALL", key, (char *)NULL);
    cli_ok(rc, out, "HGETALL");
    long long sum = 0;
    size_t rl = 0;
    char *save = NULL, *field = NULL;
    int i = 0;
    if (raw != NULL)
        raw[0] = '\0';
    for (char *line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save), i++) {
        if (i % 2 == 0) {
            field = line;
            continue;
        }
        if (strcmp(field, "e") == 0 || strcmp(field, "t") == 0 || strcmp(field, "o") == 0
            || strcmp(field, "n") == 0)
            continue;       /* not buckets: the event time, the running figures */
        if (strcmp(field, "w") != 0)
            sum += strtoll(line, NULL, 10);
        if (raw != NULL && rl < rawcap)
            rl += (size_t)snprintf(raw + rl, rawcap - rl, "%s=%s\n", field, line);
    }
    return sum;
}

static void cli(const struct tredis *r, const char *what, const char *a1, const char *a2,
                const char *a3, const char *a4)
{
    char out[512];
    int rc = tredis_cli(r, out, sizeof out, a1, a2, a3, a4, (char *)NULL);
    cli_ok(rc, out, what);
}

/* One request: its action. */
static void ask(int fd, const char *attrs, char *got, size_t cap)
{
    tquery(fd, attrs, got, cap);
}

static void eom_attrs(char *out, size_t cap, const char *account, const char *instance,
                      const char *qid, int rcpts, long size)
{
    snprintf(out, cap, "protocol_state=END-OF-MESSAGE\nclient_address=203.0.113.5\n"
             "sasl_username=%s\nsender=%s@example.net\ninstance=%s\nqueue_id=%s\n"
             "recipient=%s\nrecipient_count=%d\nsize=%ld\n", account, account, instance,
             qid, rcpts == 1 ? "r0@example.org" : "", rcpts, size);
}

static void rcpt_attrs(char *out, size_t cap, const char *account, const char *instance,
                       const char *recipient)
{
    snprintf(out, cap, "protocol_state=RCPT\nclient_address=203.0.113.5\n"
             "sasl_username=%s\nsender=%s@example.net\ninstance=%s\nqueue_id=\n"
             "recipient=%s\nrecipient_count=0\nsize=0\n", account, account, instance,
             recipient);
}

static void expect_eom(const struct tdaemon *d, int fd, const char *account,
                       const char *instance, const char *qid, int rcpts, long size,
                       const char *want, bool prefix, const char *what)
{
    char attrs[1024], got[512];
    eom_attrs(attrs, sizeof attrs, account, instance, qid, rcpts, size);
    ask(fd, attrs, got, sizeof got);
    bool ok = prefix ? strncmp(got, want, strlen(want)) == 0 : strcmp(got, want) == 0;
    ck_assert_msg(ok, "%s: END-OF-MESSAGE %s/%s of %s (%d rcpts, %ld bytes): got \"%s\", "
                  "want %s\"%s\"\nlog tail:\n%s", what, instance, qid, account, rcpts, size,
                  tvis(got), prefix ? "a text starting " : "", want, tlog_tail(d));
}

static void expect_rcpt(const struct tdaemon *d, int fd, const char *account,
                        const char *instance, const char *recipient, const char *want,
                        bool prefix, const char *what)
{
    char attrs[1024], got[512];
    rcpt_attrs(attrs, sizeof attrs, account, instance, recipient);
    ask(fd, attrs, got, sizeof got);
    bool ok = prefix ? strncmp(got, want, strlen(want)) == 0 : strcmp(got, want) == 0;
    ck_assert_msg(ok, "%s: RCPT %s of %s (instance %s): got \"%s\", want %s\"%s\"\n"
                  "log tail:\n%s", what, recipient, account, instance, tvis(got),
                  prefix ? "a text starting " : "", want, tlog_tail(d));
}

/* ==== 2. two daemons, 100 connections, one account ====================== */

#define HAMMER_CONNS 50                 /* per daemon */
#define HAMMER_REQS 3000
#define HAMMER_MAX 1000
#define HAMMER_DEADLINE_MS 60000

struct hconn {
    int    fd;
    int    sent, done, todo;
    bool   busy;
    char   out[512];
    size_t olen, ooff;
    char   in[1024];
    size_t ilen;
};

START_TEST(test_concurrency)
{
    struct tredis *r = &redises[0];
    struct hconn *hc = calloc(2 * HAMMER_CONNS, sizeof *hc);
    struct pollfd pf[2 * HAMMER_CONNS];
    char extra[1024];
    const char *classes =
        "{\"standard\": {\"limits\": [{\"name\": \"msgs\", \"max\": 1000, \"per\": \"10m\"}]}}";
    const char *refusal = "450 4.7.1 Limit msgs reached (1000 messages per 10m); try again in ";
    long dunno = 0, refused = 0, other = 0, t_start;
    char first_other[256] = "";

    ck_assert_ptr_nonnull(hc);
    model_mem[0] = hc;
    tfix_start_redis(r, NULL);
    redis_extra(extra, sizeof extra, r, 2000, "");
    start_daemon(&daemons[0], extra, classes);
    start_daemon(&daemons[1], extra, classes);

    int nconn = 2 * HAMMER_CONNS;
    for (int i = 0; i < nconn; i++) {
        hc[i].fd = txconnect(&daemons[i % 2]);
        int fl = fcntl(hc[i].fd, F_GETFL);
        ck_assert_int_eq(fcntl(hc[i].fd, F_SETFL, fl | O_NONBLOCK), 0);
        hc[i].todo = HAMMER_REQS / nconn + (i < HAMMER_REQS % nconn ? 1 : 0);
    }
    t_start = tms_mono();
    long total_done = 0;
    while (total_done < HAMMER_REQS) {
        for (int i = 0; i < nconn; i++) {
            struct hconn *c = &hc[i];
            if (!c->busy && c->sent < c->todo) {
                c->olen = (size_t)snprintf(c->out, sizeof c->out,
                    "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\n"
                    "client_address=203.0.113.%d\nsasl_username=hammer\n"
                    "sender=hammer@example.net\ninstance=d%dc%dm%d\nqueue_id=Q%dC%dM%d\n"
                    "recipient=r@example.org\nrecipient_count=1\nsize=1000\n\n",
                    1 + i, i % 2, i, c->sent, i % 2, i, c->sent);
                c->ooff = 0;
                c->ilen = 0;
                c->busy = true;
                c->sent++;
            }
            pf[i].fd = c->fd;
            pf[i].events = (short)(c->busy && c->ooff < c->olen ? POLLOUT : 0)
                         | (c->busy ? POLLIN : 0);
            pf[i].revents = 0;
        }
        long left = HAMMER_DEADLINE_MS - (tms_mono() - t_start);
        ck_assert_msg(left > 0, "hammering: %ld of %d answered within %d ms (DUNNO %ld, "
                      "refused %ld, other %ld)", total_done, HAMMER_REQS, HAMMER_DEADLINE_MS,
                      dunno, refused, other);
        int n = poll(pf, (nfds_t)nconn, (int)(left < 1000 ? left : 1000));
        ck_assert_msg(n >= 0 || errno == EINTR, "poll: %s", strerror(errno));
        for (int i = 0; n > 0 && i < nconn; i++) {
            struct hconn *c = &hc[i];
            if (pf[i].revents == 0)
                continue;
            if ((pf[i].revents & POLLOUT) && c->ooff < c->olen) {
                ssize_t k = write(c->fd, c->out + c->ooff, c->olen - c->ooff);
                ck_assert_msg(k > 0 || errno == EAGAIN, "connection %d (daemon %d): write: "
                              "%s", i, i % 2, strerror(errno));
                if (k > 0)
                    c->ooff += (size_t)k;
            }
            if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t k = read(c->fd, c->in + c->ilen, sizeof c->in - 1 - c->ilen);
                ck_assert_msg(k != 0, "connection %d (daemon %d) closed by outpostd after "
                              "%d requests\nlog tail:\n%s", i, i % 2, c->done,
                              tlog_tail(&daemons[i % 2]));
                ck_assert_msg(k > 0 || errno == EAGAIN, "connection %d: read: %s", i,
                              strerror(errno));
                if (k < 0)
                    continue;
                c->ilen += (size_t)k;
                c->in[c->ilen] = '\0';
                char *end = strstr(c->in, "\n\n");
                if (end == NULL) {
                    ck_assert_msg(c->ilen < sizeof c->in - 1, "connection %d: reply too "
                                  "long: %s", i, tvis(c->in));
                    continue;
                }
                ck_assert_msg((size_t)(end + 2 - c->in) == c->ilen && c->ooff == c->olen,
                              "connection %d: more than one reply, or a reply before the "
                              "request was sent: \"%s\"", i, tvis(c->in));
                *end = '\0';
                const char *act = strncmp(c->in, "action=", 7) == 0 ? c->in + 7 : c->in;
                if (strcmp(act, "DUNNO") == 0) {
                    dunno++;
                } else if (strncmp(act, refusal, strlen(refusal)) == 0) {
                    refused++;
                } else {
                    if (other++ == 0)
                        snprintf(first_other, sizeof first_other, "%s", act);
                }
                c->busy = false;
                c->done++;
                total_done++;
            }
        }
    }
    long wall = tms_mono() - t_start;
    char raw[16384];
    long long sum = ctr_sum(r, "hammer", "msgs", raw, sizeof raw);
    char out[64];
    cli_ok(tredis_cli(r, out, sizeof out, "EVAL",
                      "return #redis.call('KEYS', ARGV[1])", "0", PFX "{a:hammer}:eom:*",
                      (char *)NULL), out, "EVAL KEYS");
    fprintf(stderr, "check_limits: concurrency: %d requests over %d connections to 2 "
            "daemons in %ld ms: DUNNO %ld, 450 %ld, other %ld; counter sum %lld; dedupe "
            "keys %s\n", HAMMER_REQS, nconn, wall, dunno, refused, other, sum, out);
    ck_assert_msg(other == 0, "%ld replies were neither DUNNO nor \"%s...\"; the first: "
                  "\"%s\"", other, refusal, tvis(first_other));
    ck_assert_msg(dunno == HAMMER_MAX && refused == HAMMER_REQS - HAMMER_MAX,
                  "limit %d per 10m, %d requests from 2 daemons: %ld DUNNO and %ld refused; "
                  "want exactly %d DUNNO", HAMMER_MAX, HAMMER_REQS, dunno, refused,
                  HAMMER_MAX);
    ck_assert_msg(sum == HAMMER_MAX, "counter sum %lld, want %d; HGETALL:\n%s", sum,
                  HAMMER_MAX, raw);
    ck_assert_msg(strtol(out, NULL, 10) == HAMMER_MAX, "%s dedupe keys, want one per "
                  "admitted message (%d): a refused one writes nothing", out, HAMMER_MAX);
    for (int k = 0; k < 2; k++)
        ck_assert_msg(!tfile_contains(daemons[k].log, "rule=failure"),
                      "daemon %d took the failure action; log tail:\n%s", k,
                      tlog_tail(&daemons[k]));
    for (int i = 0; i < nconn; i++)
        close(hc[i].fd);
    texpect_clean_stop(&daemons[0]);
    texpect_clean_stop(&daemons[1]);
}
END_TEST

/* The batch form directly (doc/keys.md "The batch"): two END-OF-MESSAGEs
 * of one account, limit 1, in one call: the second sees the first's count
 * and is refused; a third request whose counter is not a hash fails alone
 * (an error element); layouts that do not add up, or carry fewer counter
 * keys than the configuration has, are refused before anything is read. */
START_TEST(test_batch_direct)
{
    struct tredis *r = &redises[0];
    char fn[41], batch[64], id[41], text[256], out[64];
    const char *argv[80];
    start_decide(r, fn);
    snprintf(batch, sizeof batch, "%s_batch", fn);
    size_t tl = (size_t)snprintf(text, sizeof text, "outpost-decide 2\nc\tstandard\t0\tR\n"
                                 "l\tstandard\tmsgs\tm\t1\t3600000\tD\t0\t14\n");
    sha1_hex(text, tl, id);
    redisReply *x = redisCommand(rcx, "SET %s broken", PFX "{a:w}:rl:msgs");
    ck_assert(x != NULL && x->type == REDIS_REPLY_STATUS);
    freeReplyObject(x);

    /* 3 requests of 6 keys each: susp acct eom ids observed msgs */
    static const char *const acct[3] = { "v", "v", "w" };
    char keys[3][6][96];
    int n = 0;
    argv[n++] = "FCALL";
    argv[n++] = batch;
    argv[n++] = "30";                       /* 12 + 3 x 6 */
    for (int i = 0; i < 10; i++)
        argv[n++] = list_keys[i];
    argv[n++] = PFX "{events}";
    argv[n++] = PFX "{idx}:observed";
    for (int q = 0; q < 3; q++) {
        snprintf(keys[q][0], 96, PFX "{a:%s}:susp", acct[q]);
        snprintf(keys[q][1], 96, PFX "{a:%s}:acct", acct[q]);
        snprintf(keys[q][2], 96, PFX "{a:%s}:eom:i%d:Q%d", acct[q], q, q);
        snprintf(keys[q][3], 96, PFX "{a:%s}:acct", acct[q]);
        snprintf(keys[q][4], 96, PFX "{a:%s}:acct", acct[q]);
        snprintf(keys[q][5], 96, PFX "{a:%s}:rl:msgs", acct[q]);
        for (int k = 0; k < 6; k++)
            argv[n++] = keys[q][k];
    }
    argv[n++] = id;
    argv[n++] = "1000000000";               /* the test clock */
    argv[n++] = "3";
    argv[n++] = "6";
    for (int q = 0; q < 3; q++) {
        const char *a[11] = { acct[q], "", "x@example.net", "example.net", "e", "1", "1",
                              "100", "standard", "", "" };
        for (int k = 0; k < 11; k++)
            argv[n++] = a[k];
    }
    argv[n++] = text;
    redisReply *b = redisCommandArgv(rcx, n, argv, NULL);
    ck_assert_msg(b != NULL && b->type == REDIS_REPLY_ARRAY && b->elements == 3,
                  "batch of 3: want an array of 3, got type %d", b ? b->type : -1);
    struct sreply s0, s1;
    sreply_take(b->element[0], &s0, "request 1");
    sreply_take(b->element[1], &s1, "request 2");
    ck_assert_msg(is(&s0, "ok") && strcmp(s0.v[2], "1") == 0, "request 1: %s, want counted",
                  sreply_str(&s0));
    ck_assert_msg(is(&s1, "limit") && strcmp(s1.v[1], "msgs") == 0, "request 2 of the same "
                  "account, limit 1: %s, want limit msgs", sreply_str(&s1));
    ck_assert_msg(b->element[2]->type == REDIS_REPLY_ERROR
                  && strncmp(b->element[2]->str, "WRONGTYPE", 9) == 0,
                  "request 3 (a broken counter): type %d, want a WRONGTYPE error element",
                  b->element[2]->type);
    freeReplyObject(b);
    x = redisCommand(rcx, "HGET %s t", PFX "{a:v}:rl:msgs");
    ck_assert_msg(x != NULL && x->type == REDIS_REPLY_STRING && strcmp(x->str, "1") == 0,
                  "v's running total: want 1");
    freeReplyObject(x);

    /* bad layouts: NKEYS one short; NK 5 (no counter key) for a
     * configuration with one; nothing written */
    long long db0 = hint(rcx, "DBSIZE", NULL);
    snprintf(out, sizeof out, "%d", 29);
    argv[2] = out;
    b = redisCommandArgv(rcx, n - 1, argv, NULL);   /* (one key becomes an argument) */
    ck_assert_msg(b != NULL && b->type == REDIS_REPLY_ERROR
                  && strstr(b->str, "bad batch layout") != NULL,
                  "NKEYS 29 of 30: got type %d \"%s\"", b ? b->type : -1,
                  b && b->type == REDIS_REPLY_ERROR ? b->str : "");
    freeReplyObject(b);
    const char *one[40];
    int m = 0;
    one[m++] = "FCALL";
    one[m++] = batch;
    one[m++] = "17";                        /* 12 + 5 */
    for (int i = 0; i < 10; i++)
        one[m++] = list_keys[i];
    one[m++] = PFX "{events}";
    one[m++] = PFX "{idx}:observed";
    for (int k = 0; k < 5; k++)
        one[m++] = keys[0][k];
    one[m++] = id;
    one[m++] = "1000000000";
    one[m++] = "1";
    one[m++] = "5";
    const char *a[11] = { "v", "", "x@example.net", "example.net", "e", "1", "1", "100",
                          "standard", "", "" };
    for (int k = 0; k < 11; k++)
        one[m++] = a[k];
    b = redisCommandArgv(rcx, m, one, NULL);
    ck_assert_msg(b != NULL && b->type == REDIS_REPLY_ERROR
                  && strstr(b->str, "bad batch layout (0 counter keys") != NULL,
                  "NK 5 for a configuration with a counter: got type %d \"%s\"",
                  b ? b->type : -1, b && b->type == REDIS_REPLY_ERROR ? b->str : "");
    freeReplyObject(b);
    ck_assert_int_eq(hint(rcx, "DBSIZE", NULL), db0);
}
END_TEST

/* (b) batches: requests that arrive together go to Redis together (one
 * FCALL of the batch form per redis.batch_max of them) and are decided one
 * after the other, exactly as separate calls.  outpostd is stopped while
 * BATCH_N connections each write an END-OF-MESSAGE, so that after SIGCONT
 * it reads them all in one turn of its loop: BATCH_N - 1 of account b
 * (limit 2 per hour: exactly 2 admitted, the rest refused) and one of
 * account w, whose counter an operator broke (a string: WRONGTYPE), which
 * fails alone.  Then redis.batch_max 1 by SIGHUP: one FCALL per request. */
#define BATCH_N 20

/* The batch FCALLs Redis ran since batch_count_reset(): every command is
 * in the slow log (threshold 0), which names its function; INFO
 * commandstats would count the verdict consumer's FCALLs too. */
static void batch_count_reset(const struct tredis *r)
{
    char out[64];
    cli_ok(tredis_cli(r, out, sizeof out, "CONFIG", "SET", "slowlog-log-slower-than", "0",
                      (char *)NULL), out, "CONFIG SET");
    cli_ok(tredis_cli(r, out, sizeof out, "CONFIG", "SET", "slowlog-max-len", "1000",
                      (char *)NULL), out, "CONFIG SET");
    cli_ok(tredis_cli(r, out, sizeof out, "SLOWLOG", "RESET", (char *)NULL), out, "SLOWLOG");
}

static long batch_count(const struct tredis *r)
{
    size_t cap = 1 << 20;
    char *out = malloc(cap), name[96];
    long n = 0;
    ck_assert_ptr_nonnull(out);
    snprintf(name, sizeof name, "\n%s_batch\n", tdecide_fn());
    ck_assert_int_eq(tredis_cli(r, out, cap, "SLOWLOG", "GET", "1000", (char *)NULL), 0);
    for (const char *p = strstr(out, name); p != NULL; p = strstr(p + 1, name))
        n++;
    free(out);
    return n;
}

/* BATCH_N END-OF-MESSAGE requests written while d is stopped (queue ids
 * QB<round>-<i>; i == 0 is account w), then d continued; their replies. */
static void batch_round(struct tdaemon *d, int round, int fds[BATCH_N],
                        char rep[BATCH_N][512])
{
    ck_assert_int_eq(kill(d->pid, SIGSTOP), 0);
    /* stopped before the first byte is written: else, on a busy machine,
     * it may read a few before the signal takes it */
    ck_assert_msg(tproc_stopped(d->pid, 5000), "outpostd not stopped within 5 s");
    for (int i = 0; i < BATCH_N; i++) {
        char req[512];
        int n = snprintf(req, sizeof req,
                         "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\n"
                         "client_address=203.0.113.7\nsasl_username=%s\nsender=x@example.net\n"
                         "instance=b%d.%d\nqueue_id=QB%d-%d\nrecipient_count=1\nsize=100\n\n",
                         i == 0 ? "w" : "b", round, i, round, i);
        ck_assert(twrite_all(fds[i], req, (size_t)n));
    }
    tsleep_ms(100);             /* every request is in its socket */
    ck_assert_int_eq(kill(d->pid, SIGCONT), 0);
    for (int i = 0; i < BATCH_N; i++) {
        ck_assert_msg(tread_reply(fds[i], rep[i], 512, 5000) > 0, "round %d, request %d: no "
                      "answer\nlog tail:\n%s", round, i, tlog_tail(d));
        rep[i][strcspn(rep[i], "\n")] = '\0';
    }
}

START_TEST(test_batch)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    const char *classes =
        "{\"standard\": {\"limits\": [{\"name\": \"msgs\", \"max\": 2, \"per\": \"1h\"}]}}";
    const char *refusal = "action=450 4.7.1 Limit msgs reached (2 messages per 1h)";
    char extra[1024], out[256], rep[BATCH_N][512];
    int fds[BATCH_N];
    long off = 0;

    tfix_start_redis(r, NULL);
    snprintf(extra, sizeof extra, "\"redis\": {\"address\": \"unix:%s\", \"timeout_ms\": 2000,"
             " \"connect_timeout_ms\": 2000, \"batch_max\": 8},", r->sock);
    start_daemon(d, extra, classes);
    cli_ok(tredis_cli(r, out, sizeof out, "SET", PFX "{a:w}:rl:msgs", "broken", (char *)NULL),
           out, "SET");
    /* every connection accepted and read from (DATA: decided without
     * Redis) before the daemon is stopped: else one accepted after
     * SIGCONT is read a turn later */
    for (int i = 0; i < BATCH_N; i++) {
        fds[i] = txconnect(d);
        tquery(fds[i], "protocol_state=DATA\nclient_address=203.0.113.7\nsasl_username=c\n",
               out, sizeof out);
        ck_assert_msg(strcmp(out, "DUNNO") == 0, "connection %d: DATA: got \"%s\"", i,
                      tvis(out));
    }
    /* the configuration text reaches the Function (one OUTPOSTCFG resend) */
    tquery(fds[1], "protocol_state=RCPT\nclient_address=203.0.113.7\nsasl_username=c\n"
           "sender=c@example.net\nrecipient=r@example.org\n", out, sizeof out);
    ck_assert_msg(strcmp(out, "DUNNO") == 0, "warm-up: got \"%s\"", tvis(out));
    batch_count_reset(r);

    batch_round(d, 1, fds, rep);
    long fcalls = batch_count(r);
    int admitted = 0, refused = 0;
    for (int i = 1; i < BATCH_N; i++) {
        if (strcmp(rep[i], "action=DUNNO") == 0)
            admitted++;
        else if (strncmp(rep[i], refusal, strlen(refusal)) == 0)
            refused++;
        else
            ck_abort_msg("request %d of b: \"%s\", want DUNNO or \"%s...\"", i, tvis(rep[i]),
                         refusal);
    }
    ck_assert_msg(admitted == 2 && refused == BATCH_N - 3, "limit 2: %d admitted, %d refused "
                  "of %d in batches", admitted, refused, BATCH_N - 1);
    ck_assert_msg(ctr_sum(r, "b", "msgs", NULL, 0) == 2, "b's counter: %lld, want 2",
                  ctr_sum(r, "b", "msgs", NULL, 0));
    /* w: the failure action (DUNNO), logged; its batch's others stand */
    ck_assert_msg(strcmp(rep[0], "action=DUNNO") == 0, "w: got \"%s\"", tvis(rep[0]));
    texpect_log(d, &off, "queue_id=\"QB1-0\" action=DUNNO rule=failure", 5000,
                "w's request failed alone");
    ck_assert_msg(tfile_contains(d->log, "redis: script error: \"WRONGTYPE "),
                  "the WRONGTYPE error is logged\nlog tail:\n%s", tlog_tail(d));
    /* 20 read in one turn, batch_max 8: 3 FCALLs */
    ck_assert_msg(fcalls == (BATCH_N + 7) / 8, "%d requests read together, batch_max 8: "
                  "%ld FCALLs, want %d", BATCH_N, fcalls, (BATCH_N + 7) / 8);

    /* batch_max 1 (a reload: the same link) */
    snprintf(extra, sizeof extra, "\"redis\": {\"address\": \"unix:%s\", \"timeout_ms\": 2000,"
             " \"connect_timeout_ms\": 2000, \"batch_max\": 1},", r->sock);
    char *text = tdaemon_config_classes(d, NULL, extra, "standard", classes);
    tfile_write(d->cfg, text);
    free(text);
    ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
    texpect_log(d, &off, "configuration reloaded", 5000, "SIGHUP with batch_max 1");
    batch_count_reset(r);
    batch_round(d, 2, fds, rep);
    fcalls = batch_count(r);
    for (int i = 1; i < BATCH_N; i++)
        ck_assert_msg(strncmp(rep[i], refusal, strlen(refusal)) == 0, "round 2, request %d "
                      "of b: \"%s\", want the refusal", i, tvis(rep[i]));
    /* one per request (the configuration text is the same: no resend) */
    ck_assert_msg(fcalls == BATCH_N, "batch_max 1: %ld FCALLs for %d requests, want one each",
                  fcalls, BATCH_N);
    for (int i = 0; i < BATCH_N; i++)
        close(fds[i]);
    texpect_clean_stop(d);
}
END_TEST

/* ==== 3. through outpostd =============================================== */

/* (a) the per-message recipient cap */
START_TEST(test_rcpt_cap)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024];
    const char *cap3 = "452 4.5.3 Too many recipients (at most 3 per message)";

    tfix_start_redis(r, NULL);
    redis_extra(extra, sizeof extra, r, 2000, "");
    start_daemon(d, extra, "{\"standard\": {\"max_recipients_per_message\": 3}}");
    int fd = txconnect(d);
    expect_rcpt(d, fd, "carol", "I1", "a@example.org", "DUNNO", false, "1st recipient");
    expect_rcpt(d, fd, "carol", "I1", "b@example.org", "DUNNO", false, "2nd recipient");
    expect_rcpt(d, fd, "carol", "I1", "c@example.org", "DUNNO", false, "3rd recipient");
    expect_rcpt(d, fd, "carol", "I1", "d@example.org", cap3, false, "4th recipient");
    expect_rcpt(d, fd, "carol", "I1", "c@example.org", "DUNNO", false,
                "the 3rd recipient again (not counted twice)");
    expect_rcpt(d, fd, "carol", "I1", "e@example.org", cap3, false,
                "a 5th recipient (the refused 4th did not count)");
    expect_rcpt(d, fd, "carol", "I2", "a@example.org", "DUNNO", false,
                "a new instance starts from zero: 1st");
    expect_rcpt(d, fd, "carol", "I2", "d@example.org", "DUNNO", false, "new instance: 2nd");
    expect_rcpt(d, fd, "carol", "I2", "e@example.org", "DUNNO", false, "new instance: 3rd");
    expect_rcpt(d, fd, "carol", "I2", "f@example.org", cap3, false, "new instance: 4th");
    expect_eom(d, fd, "carol", "I3", "Q3", 4, 1000,
               "550 5.5.3 Too many recipients (at most 3 per message)", false,
               "recipient_count 4 at END-OF-MESSAGE");
    expect_eom(d, fd, "carol", "I4", "Q4", 3, 1000, "DUNNO", false,
               "recipient_count 3 at END-OF-MESSAGE");
    /* another connection has its own memory */
    int fd2 = txconnect(d);
    expect_rcpt(d, fd2, "carol", "I1", "x@example.org", "DUNNO", false,
                "instance I1 on another connection");
    close(fd2);
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* (b) shadow limits: counted and logged, never refusing */
START_TEST(test_shadow)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024], q[16];
    long off = 0;

    tfix_start_redis(r, NULL);
    redis_extra(extra, sizeof extra, r, 2000, "");
    start_daemon(d, extra, "{\"standard\": {\"limits\": ["
                 "{\"name\": \"trial\", \"max\": 2, \"per\": \"1h\", \"shadow\": true},"
                 "{\"name\": \"tbytes\", \"count\": \"bytes\", \"max\": 1000, \"per\": \"1h\","
                 " \"shadow\": true}]}}");
    int fd = txconnect(d);
    for (int k = 0; k < 4; k++) {
        snprintf(q, sizeof q, "Q%d", k);
        expect_eom(d, fd, "sam", q, q, 1, 100, "DUNNO", false, "shadow limit trial");
    }
    ck_assert_msg(tdaemon_log_wait_from(d, &off, "shadow limit trial of class standard would "
                                        "refuse account=\"sam\"", 5000),
                  "no \"shadow limit trial ... would refuse\" log line; log tail:\n%s",
                  tlog_tail(d));
    ck_assert_int_eq(ctr_sum(r, "sam", "trial", NULL, 0), 4);      /* counted: all 4 */
    expect_rcpt(d, fd, "sam", "I9", "a@example.org", "DUNNO", false,
                "RCPT with the shadow limit exhausted");
    expect_eom(d, fd, "sam", "Ibig", "Qbig", 1, 5000, "DUNNO", false,
               "a message above a shadow bytes limit");
    off = 0;
    ck_assert_msg(tdaemon_log_wait_from(d, &off, "shadow limit tbytes of class standard would "
                                        "refuse", 5000),
                  "no \"shadow limit tbytes ... would refuse\" log line; log tail:\n%s",
                  tlog_tail(d));
    ck_assert_msg(!tfile_contains(d->log, "rule=limit:") && !tfile_contains(d->log,
                  "rule=exceeds:"), "a shadow limit refused; log tail:\n%s", tlog_tail(d));
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

#define LIMITS_3_10 \
    "{\"standard\": {\"limits\": [" \
    "{\"name\": \"msgs\", \"max\": 3, \"per\": \"1h\"}," \
    "{\"name\": \"rcpts\", \"count\": \"recipients\", \"max\": 10, \"per\": \"1h\"}]}}"

/* (c) the same END-OF-MESSAGE twice (Postfix's retry, on a new
 * connection) counts once */
START_TEST(test_eom_retry)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024];

    tfix_start_redis(r, NULL);
    redis_extra(extra, sizeof extra, r, 2000, "");
    start_daemon(d, extra, LIMITS_3_10);
    int fd = txconnect(d);
    expect_eom(d, fd, "rita", "I0", "Q0", 2, 100, "DUNNO", false, "a first message");
    long long m0 = ctr_sum(r, "rita", "msgs", NULL, 0), r0 = ctr_sum(r, "rita", "rcpts", NULL, 0);
    ck_assert_msg(m0 == 1 && r0 == 2, "after one message: msgs %lld rcpts %lld", m0, r0);
    expect_eom(d, fd, "rita", "I1", "Q1", 4, 100, "DUNNO", false, "the message");
    close(fd);
    fd = txconnect(d);
    expect_eom(d, fd, "rita", "I1", "Q1", 4, 100, "DUNNO", false, "the same message again");
    long long m1 = ctr_sum(r, "rita", "msgs", NULL, 0), r1 = ctr_sum(r, "rita", "rcpts", NULL, 0);
    ck_assert_msg(m1 == m0 + 1 && r1 == r0 + 4, "the same END-OF-MESSAGE twice: msgs %lld -> "
                  "%lld, rcpts %lld -> %lld; want +1 and +4 exactly", m0, m1, r0, r1);
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* Parses "try again in N s" / "N min" / "H h M min" at the end of text;
 * seconds, or -1. */
static long retry_seconds(const char *text)
{
    const char *p = strstr(text, "; try again in ");
    if (p == NULL)
        return -1;
    p += strlen("; try again in ");
    char *end;
    long a = strtol(p, &end, 10);
    if (end == p || a <= 0)
        return -1;
    if (strcmp(end, " s") == 0)
        return a;
    if (strcmp(end, " min") == 0)
        return a * 60;
    if (strncmp(end, " h ", 3) == 0) {
        const char *q = end + 3;
        long b = strtol(q, &end, 10);
        if (end != q && b >= 0 && b < 60 && strcmp(end, " min") == 0)
            return a * 3600 + b * 60;
    }
    return -1;
}

/* (d) a refused message consumes nothing (all limits); (e) RCPT never
 * counts; (h) the text of a refusal */
START_TEST(test_refused_consumes_nothing)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024], q[16], m_before[4096], r_before[4096], m_after[4096], r_after[4096];
    char attrs[1024], got[512];
    const char *limit_text = "450 4.7.1 Limit msgs reached (3 messages per 1h); try again in ";
    const char *rcpts_text = "450 4.7.1 Limit rcpts reached (10 recipients per 1h); try again in ";

    tfix_start_redis(r, NULL);
    redis_extra(extra, sizeof extra, r, 2000, "");
    start_daemon(d, extra, LIMITS_3_10);
    int fd = txconnect(d);

    /* (e) RCPT before anything was counted: no counter appears */
    for (int k = 0; k < 5; k++) {
        char rc[32];
        snprintf(rc, sizeof rc, "r%d@example.org", k);
        expect_rcpt(d, fd, "dora", "I0", rc, "DUNNO", false, "RCPT, nothing counted yet");
    }
    char out[64];
    cli_ok(tredis_cli(r, out, sizeof out, "DBSIZE", (char *)NULL), out, "DBSIZE");
    ck_assert_msg(strcmp(out, "0") == 0, "after 5 RCPT requests Redis holds %s keys, want 0",
                  out);

    /* all-or-nothing: 8 recipients fit, 8 + 5 > 10 refuses both limits */
    expect_eom(d, fd, "dora", "I1", "Q1", 8, 100, "DUNNO", false, "8 recipients");
    ctr_sum(r, "dora", "msgs", m_before, sizeof m_before);
    ctr_sum(r, "dora", "rcpts", r_before, sizeof r_before);
    expect_eom(d, fd, "dora", "I2", "Q2", 5, 100, rcpts_text, true, "5 more recipients");
    ctr_sum(r, "dora", "msgs", m_after, sizeof m_after);
    ctr_sum(r, "dora", "rcpts", r_after, sizeof r_after);
    ck_assert_msg(strcmp(m_before, m_after) == 0 && strcmp(r_before, r_after) == 0,
                  "a refused message changed a counter:\nmsgs %s -> %s\nrcpts %s -> %s",
                  tvis(m_before), tvis(m_after), tvis(r_before), tvis(r_after));

    expect_eom(d, fd, "dora", "I3", "Q3", 1, 100, "DUNNO", false, "2nd message");
    expect_eom(d, fd, "dora", "I4", "Q4", 1, 100, "DUNNO", false, "3rd message");
    ck_assert_int_eq(ctr_sum(r, "dora", "msgs", NULL, 0), 3);
    ck_assert_int_eq(ctr_sum(r, "dora", "rcpts", NULL, 0), 10);

    /* (d) msgs exhausted: refused, nothing consumed, again and again */
    ctr_sum(r, "dora", "msgs", m_before, sizeof m_before);
    ctr_sum(r, "dora", "rcpts", r_before, sizeof r_before);
    for (int k = 5; k < 8; k++) {
        snprintf(q, sizeof q, "Q%d", k);
        eom_attrs(attrs, sizeof attrs, "dora", q, q, 1, 100);
        ask(fd, attrs, got, sizeof got);
        /* (h) the text; the rcpts limit (also full) frees at the same time,
         * the reply names one of them */
        bool msgs = strncmp(got, limit_text, strlen(limit_text)) == 0;
        bool rcpts = strncmp(got, rcpts_text, strlen(rcpts_text)) == 0;
        ck_assert_msg(msgs || rcpts, "a message over the limits: got \"%s\", want \"%s...\" "
                      "(or the rcpts limit)", tvis(got), limit_text);
        long secs = retry_seconds(got);
        ck_assert_msg(secs >= 59 * 60 && secs <= 62 * 60, "\"%s\": \"try again in\" must be "
                      "followed by a positive duration of about the period (59..62 min)",
                      tvis(got));
        ck_assert_msg(strlen(got) < 200, "reply text of %zu bytes", strlen(got));
    }
    ctr_sum(r, "dora", "msgs", m_after, sizeof m_after);
    ctr_sum(r, "dora", "rcpts", r_after, sizeof r_after);
    ck_assert_msg(strcmp(m_before, m_after) == 0 && strcmp(r_before, r_after) == 0,
                  "refused messages changed a counter:\nmsgs %s -> %s\nrcpts %s -> %s",
                  tvis(m_before), tvis(m_after), tvis(r_before), tvis(r_after));

    /* (e) RCPT with the limits exhausted: refused, and nothing changes */
    expect_rcpt(d, fd, "dora", "I9", "a@example.org", "450 4.7.1 Limit ", true,
                "RCPT with the limits exhausted");
    expect_rcpt(d, fd, "dora", "I9", "b@example.org", "450 4.7.1 Limit ", true,
                "RCPT with the limits exhausted");
    ctr_sum(r, "dora", "msgs", m_after, sizeof m_after);
    ctr_sum(r, "dora", "rcpts", r_after, sizeof r_after);
    ck_assert_msg(strcmp(m_before, m_after) == 0 && strcmp(r_before, r_after) == 0,
                  "RCPT requests changed a counter");
    /* other stages: DUNNO, never counted */
    snprintf(attrs, sizeof attrs, "protocol_state=DATA\nclient_address=203.0.113.5\n"
             "sasl_username=dora\nsender=dora@example.net\ninstance=I9\nqueue_id=Q9\n"
             "recipient_count=1\nsize=0\n");
    ask(fd, attrs, got, sizeof got);
    ck_assert_msg(strcmp(got, "DUNNO") == 0, "DATA with the limits exhausted: got \"%s\", "
                  "want DUNNO", tvis(got));
    ctr_sum(r, "dora", "msgs", m_after, sizeof m_after);
    ctr_sum(r, "dora", "rcpts", r_after, sizeof r_after);
    ck_assert_msg(strcmp(m_before, m_after) == 0 && strcmp(r_before, r_after) == 0,
                  "a DATA request changed a counter");

    /* at RCPT the recipients so far of the message are checked (u = 1, 2,
     * 3 ...): 8 counted + 3 > 10 refuses the 3rd, and still nothing counts */
    expect_eom(d, fd, "rhea", "J0", "J0", 8, 100, "DUNNO", false, "rhea: 8 recipients");
    ctr_sum(r, "rhea", "rcpts", r_before, sizeof r_before);
    expect_rcpt(d, fd, "rhea", "J1", "a@example.org", "DUNNO", false, "rhea: 1st recipient");
    expect_rcpt(d, fd, "rhea", "J1", "b@example.org", "DUNNO", false, "rhea: 2nd recipient");
    expect_rcpt(d, fd, "rhea", "J1", "c@example.org", rcpts_text, true,
                "rhea: 3rd recipient (8 + 3 > 10)");
    expect_rcpt(d, fd, "rhea", "J1", "b@example.org", "DUNNO", false,
                "rhea: the 2nd recipient again");
    ctr_sum(r, "rhea", "rcpts", r_after, sizeof r_after);
    ck_assert_msg(strcmp(r_before, r_after) == 0, "RCPT requests changed rhea's counter");

    /* the message limit alone: a fresh account, 3 per 1h, the 4th names msgs */
    for (int k = 0; k < 3; k++) {
        snprintf(q, sizeof q, "E%d", k);
        expect_eom(d, fd, "emma", q, q, 1, 100, "DUNNO", false, "emma");
    }
    expect_eom(d, fd, "emma", "E3", "E3", 1, 100, limit_text, true, "emma's 4th message");
    eom_attrs(attrs, sizeof attrs, "emma", "E4", "E4", 1, 100);
    ask(fd, attrs, got, sizeof got);
    long secs = retry_seconds(got);
    ck_assert_msg(secs >= 59 * 60 && secs <= 62 * 60, "\"%s\": want \"try again in\" + "
                  "a positive duration of 59..62 min", tvis(got));
    fprintf(stderr, "check_limits: limit text: \"%s\"\n", got);
    ck_assert_int_eq(ctr_sum(r, "emma", "msgs", NULL, 0), 3);
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* (f) one message above a bytes limit: refused permanently */
START_TEST(test_exceeds)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024];

    tfix_start_redis(r, NULL);
    redis_extra(extra, sizeof extra, r, 2000, "");
    start_daemon(d, extra, "{\"standard\": {\"limits\": [{\"name\": \"size\", \"count\": "
                 "\"bytes\", \"max\": 1000, \"per\": \"1h\"}]}}");
    int fd = txconnect(d);
    expect_eom(d, fd, "fred", "I1", "Q1", 1, 1001,
               "550 5.7.1 Message exceeds limit size (1000 bytes per 1h)", false,
               "a message of 1001 bytes");
    char out[64];
    cli_ok(tredis_cli(r, out, sizeof out, "DBSIZE", (char *)NULL), out, "DBSIZE");
    ck_assert_msg(strcmp(out, "0") == 0, "a refused message wrote %s keys", out);
    expect_eom(d, fd, "fred", "I2", "Q2", 1, 1000, "DUNNO", false, "a message of 1000 bytes");
    ck_assert_int_eq(ctr_sum(r, "fred", "size", NULL, 0), 1000);
    expect_eom(d, fd, "fred", "I3", "Q3", 1, 1, "450 4.7.1 Limit size reached (1000 bytes "
               "per 1h); try again in ", true, "one more byte");
    expect_eom(d, fd, "fred", "I4", "Q4", 1, 1001, "550 5.7.1 Message exceeds limit size",
               true, "1001 bytes, the limit exhausted: still permanent");
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* (g) overrides and the class through redis-cli */
START_TEST(test_override_class)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024], q[16];
    const char *acct = PFX "{a:olga}:acct";
    int n = 0;

    tfix_start_redis(r, NULL);
    redis_extra(extra, sizeof extra, r, 2000, "");
    start_daemon(d, extra, "{\"standard\": {\"limits\": [{\"name\": \"msgs\", \"max\": 3, "
                 "\"per\": \"1h\"}]}, \"bulk\": {\"limits\": [{\"name\": \"msgs\", "
                 "\"max\": 8, \"per\": \"1h\"}]}}");
    int fd = txconnect(d);
#define OV_EOM(want, prefix, what) do { \
        snprintf(q, sizeof q, "Q%d", n++); \
        expect_eom(d, fd, "olga", q, q, 1, 100, (want), (prefix), (what)); \
    } while (0)
    for (int k = 0; k < 3; k++)
        OV_EOM("DUNNO", false, "class standard");
    OV_EOM("450 4.7.1 Limit msgs reached (3 messages per 1h)", true, "4th, class standard");
    cli(r, "HSET ovr:msgs 5", "HSET", acct, "ovr:msgs", "5");
    OV_EOM("DUNNO", false, "override 5: 4th");
    OV_EOM("DUNNO", false, "override 5: 5th");
    OV_EOM("450 4.7.1 Limit msgs reached (5 messages per 1h)", true, "override 5: 6th");
    cli(r, "HSET ovr_until:msgs past", "HSET", acct, "ovr_until:msgs", "1000000000000");
    OV_EOM("450 4.7.1 Limit msgs reached (3 messages per 1h)", true,
           "override expired (ovr_until in the past): the class's 3 again");
    cli(r, "HSET ovr_until:msgs future", "HSET", acct, "ovr_until:msgs", "9000000000000");
    OV_EOM("450 4.7.1 Limit msgs reached (5 messages per 1h)", true,
           "override until the future: 5 again");
    cli(r, "HDEL ovr", "HDEL", acct, "ovr:msgs", "ovr_until:msgs");
    cli(r, "HSET class bulk", "HSET", acct, "class", "bulk");
    for (int k = 5; k < 8; k++)
        OV_EOM("DUNNO", false, "class bulk (8 per 1h), the same counter");
    OV_EOM("450 4.7.1 Limit msgs reached (8 messages per 1h)", true, "class bulk: 9th");
    cli(r, "HSET class nosuch", "HSET", acct, "class", "nosuch");
    OV_EOM("450 4.7.1 Limit msgs reached (3 messages per 1h)", true,
           "a class the config does not have: default_class");
    ck_assert_int_eq(ctr_sum(r, "olga", "msgs", NULL, 0), 8);
#undef OV_EOM
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* A limit's own "text" is that of the account's class, also when
 * another class has a limit of the same name (and the same counter). */
START_TEST(test_class_limit_text)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024];

    tfix_start_redis(r, NULL);
    redis_extra(extra, sizeof extra, r, 2000, "");
    start_daemon(d, extra, "{\"standard\": {\"limits\": [{\"name\": \"msgs\", \"max\": 1, "
                 "\"per\": \"1h\", \"text\": \"450 4.7.1 standard: %n per %p\"}]}, "
                 "\"bulk\": {\"limits\": [{\"name\": \"msgs\", \"max\": 2, \"per\": \"1h\", "
                 "\"text\": \"450 4.7.1 bulk: %n per %p\"}]}}");
    cli(r, "HSET class bulk", "HSET", PFX "{a:bea}:acct", "class", "bulk");
    int fd = txconnect(d);
    expect_eom(d, fd, "sue", "S1", "S1", 1, 100, "DUNNO", false, "standard: 1st");
    expect_eom(d, fd, "sue", "S2", "S2", 1, 100, "450 4.7.1 standard: 1 per 1h", false,
               "standard: 2nd, the standard limit's text");
    expect_eom(d, fd, "bea", "B1", "B1", 1, 100, "DUNNO", false, "bulk: 1st");
    expect_eom(d, fd, "bea", "B2", "B2", 1, 100, "DUNNO", false, "bulk: 2nd");
    expect_eom(d, fd, "bea", "B3", "B3", 1, 100, "450 4.7.1 bulk: 2 per 1h", false,
               "class bulk: 3rd, the text of bulk's limit msgs");
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* limit_reached events: one per counter per events.limit_window, however
 * many requests are refused meanwhile; none for a shadow limit; the next
 * one once the window has passed. */
static int count_events(const struct tredis *r, const char *type)
{
    static char out[262144];
    int rc = tredis_cli(r, out, sizeof out, "XRANGE", PFX "{events}", "-", "+", (char *)NULL);
    cli_ok(rc, out, "XRANGE events");
    char needle[96];
    snprintf(needle, sizeof needle, "\ntype\n%s\n", type);
    int n = 0;
    for (const char *p = out; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

START_TEST(test_limit_events)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024], out[4096];

    tfix_start_redis(r, NULL);
    redis_extra(extra, sizeof extra, r, 2000, "\"events\": {\"limit_window\": \"2s\"},");
    start_daemon(d, extra, "{\"standard\": {\"limits\": ["
                 "{\"name\": \"msgs\", \"max\": 1, \"per\": \"1h\"},"
                 "{\"name\": \"trial\", \"max\": 1, \"per\": \"1h\", \"shadow\": true}]}}");
    int fd = txconnect(d);
    expect_eom(d, fd, "lee", "L1", "L1", 1, 100, "DUNNO", false, "1st message");
    ck_assert_int_eq(count_events(r, "limit_reached"), 0);
    for (int i = 0; i < 4; i++) {
        char inst[16];
        snprintf(inst, sizeof inst, "L2-%d", i);
        expect_rcpt(d, fd, "lee", inst, "x@example.org", "450 4.7.1 Limit msgs reached",
                    true, "refused at RCPT");
    }
    expect_eom(d, fd, "lee", "L3", "L3", 1, 100, "450 4.7.1 Limit msgs reached", true,
               "refused at END-OF-MESSAGE");
    ck_assert_msg(count_events(r, "limit_reached") == 1, "5 refusals in the window: %d "
                  "limit_reached events, want 1", count_events(r, "limit_reached"));
    int rc = tredis_cli(r, out, sizeof out, "XREVRANGE", PFX "{events}", "+", "-", "COUNT",
                        "1", (char *)NULL);
    cli_ok(rc, out, "XREVRANGE");
    ck_assert_msg(strstr(out, "\"limit\":\"msgs\"") && strstr(out, "\"account\":\"lee\"")
                  && strstr(out, "\"key\":\"account\"") && strstr(out, "\"max\":1")
                  && strstr(out, "\"class\":\"standard\""), "event: %s", tvis(out));
    /* the counter still holds 1 unit: 'e' is not a bucket */
    ck_assert_int_eq(ctr_sum(r, "lee", "msgs", NULL, 0), 1);
    /* past the window: one more */
    long t0 = tms_mono();
    while (count_events(r, "limit_reached") < 2 && tms_mono() - t0 < 6000) {
        expect_rcpt(d, fd, "lee", "L4", "y@example.org", "450 4.7.1 Limit msgs reached",
                    true, "refused after the window");
        tsleep_ms(250);
    }
    ck_assert_msg(count_events(r, "limit_reached") == 2, "after the window: %d events, want 2",
                  count_events(r, "limit_reached"));
    ck_assert_msg(tms_mono() - t0 >= 1000, "the second event came %ld ms after the first "
                  "checks, before the 2 s window", tms_mono() - t0);
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* (i) a count whose reply comes after the deadline, when the client was
 * told DEFER, is undone.  CLIENT PAUSE 300 ALL holds the script past
 * redis.timeout_ms 200 (the client is told DEFER) but not past 2 x 200 ms
 * (when outpostd would drop the link and the reply be lost).  Redis ends
 * a pause in its cron, every 1000/hz ms: with the default hz 10 a
 * "160 ms" pause lasts about 195 ms, hence --hz 100 (about +5 ms).  The
 * scenario is tried up to 3 times (a fresh account each time).  The
 * scripts are flushed first, so the undo also proves the resend of a
 * script whole (EVAL after NOSCRIPT). */
START_TEST(test_late_undo)
{
    struct tredis *r = &redises[0];
    struct tdaemon *d = &daemons[0];
    char extra[1024], notes[2048] = "", account[16], got[512], attrs[1024], needle[128];
    size_t nn = 0;
    bool done = false;
    int attempt;

    const char *hz[] = { "--hz", "100", NULL };
    tfix_start_redis(r, hz);
    redis_extra(extra, sizeof extra, r, 200, "\"failure_action\": \"DEFER\",");
    start_daemon(d, extra, LIMITS_3_10);
    int fd = txconnect(d);
    for (attempt = 1; attempt <= 3 && !done; attempt++) {
        long log_off = file_size(d->log), log_start = log_off;
        snprintf(account, sizeof account, "late%d", attempt);
        expect_eom(d, fd, account, "I0", "Q0", 2, 100, "DUNNO", false, "a first message");
        ck_assert_int_eq(ctr_sum(r, account, "msgs", NULL, 0), 1);
        char out[64];
        /* undo.lua is then answered NOSCRIPT and sent again whole (EVAL) */
        cli_ok(tredis_cli(r, out, sizeof out, "SCRIPT", "FLUSH", (char *)NULL), out,
               "SCRIPT FLUSH");
        cli_ok(tredis_cli(r, out, sizeof out, "CLIENT", "PAUSE", "300", "ALL", (char *)NULL),
               out, "CLIENT PAUSE");
        eom_attrs(attrs, sizeof attrs, account, "I1", "Qlate", 3, 100);
        ask(fd, attrs, got, sizeof got);
        if (strcmp(got, DEFER_TEXT) != 0) {
            nn += (size_t)snprintf(notes + nn, sizeof notes - nn, "\n  attempt %d: the "
                                   "paused count got \"%s\", not the failure action",
                                   attempt, tvis(got));
            tsleep_ms(300);
            continue;
        }
        /* the count of this attempt's account: queue ids repeat, so the
         * log is searched from this attempt's start */
        snprintf(needle, sizeof needle, "undid the late count of queue_id=\"Qlate\"");
        bool undone = tdaemon_log_wait_from(d, &log_off, needle, 3000);
        if (!undone) {
            long o = log_start;
            bool dropped = tdaemon_log_wait_from(d, &o, "no reply within 2 x", 10);
            nn += (size_t)snprintf(notes + nn, sizeof notes - nn, "\n  attempt %d: told "
                                   "DEFER, but no \"undid the late count\" within 3 s%s",
                                   attempt, dropped ? " (the link was dropped: the reply "
                                   "came too late)" : "");
            tsleep_ms(300);
            continue;
        }
        long long m = ctr_sum(r, account, "msgs", NULL, 0);
        long long rc = ctr_sum(r, account, "rcpts", NULL, 0);
        ck_assert_msg(m == 1 && rc == 2, "after the undo: msgs %lld rcpts %lld, want 1 and 2 "
                      "(as before the late count)", m, rc);
        char key[160];
        snprintf(key, sizeof key, PFX "{a:%s}:eom:I1:Qlate", account);
        cli_ok(tredis_cli(r, out, sizeof out, "GET", key, (char *)NULL), out, "GET");
        ck_assert_msg(strcmp(out, "[]") == 0, "dedupe key after the undo: \"%s\", want []",
                      tvis(out));
        /* Postfix tries the deferred message again: it counts now, once */
        expect_eom(d, fd, account, "I1", "Qlate", 3, 100, "DUNNO", false,
                   "the deferred message retried");
        m = ctr_sum(r, account, "msgs", NULL, 0);
        rc = ctr_sum(r, account, "rcpts", NULL, 0);
        ck_assert_msg(m == 2 && rc == 5, "after the retry: msgs %lld rcpts %lld, want 2 and 5",
                      m, rc);
        done = true;
    }
    fprintf(stderr, "check_limits: late undo: %s after %d attempt(s)%s\n",
            done ? "proved" : "NOT proved", attempt - 1, notes);
    ck_assert_msg(done, "no attempt produced a late count to undo:%s\nlog tail:\n%s", notes,
                  tlog_tail(d));
    close(fd);
    texpect_clean_stop(d);
}
END_TEST

/* ---- the suite */

int main(void)
{
    Suite *s = suite_create("limits");

    tfix_init(daemons, NDAEMONS, redises, NREDIS);

    tfix_add(s, "model_msgs_10_1m", test_model_0, TIMEOUT_S, all_stop);
    tfix_add(s, "model_rcpts_10_1m", test_model_1, TIMEOUT_S, all_stop);
    tfix_add(s, "model_msgs_100_1h", test_model_2, TIMEOUT_S, all_stop);
    tfix_add(s, "model_bytes_100_1h", test_model_3, TIMEOUT_S, all_stop);
    tfix_add(s, "model_msgs_7_1s", test_model_4, TIMEOUT_S, all_stop);
    tfix_add(s, "model_rcpts_7_1s", test_model_5, TIMEOUT_S, all_stop);
    tfix_add(s, "model_msgs_rcpts", test_model_6, TIMEOUT_S, all_stop);
    tfix_add(s, "horizon", test_horizon, TIMEOUT_S, all_stop);
    tfix_add(s, "dedupe_undo", test_dedupe_undo, TIMEOUT_S, all_stop);
    tfix_add(s, "ttl_idle", test_ttl_idle, TIMEOUT_S, all_stop);
    tfix_add(s, "fresh_counter", test_fresh_counter, TIMEOUT_S, all_stop);
    tfix_add(s, "width_change", test_width_change, TIMEOUT_S, all_stop);
    tfix_add(s, "clock_back", test_clock_back, TIMEOUT_S, all_stop);
    tfix_add(s, "concurrency", test_concurrency, TIMEOUT_S, all_stop);
    tfix_add(s, "rcpt_cap", test_rcpt_cap, TIMEOUT_S, all_stop);
    tfix_add(s, "shadow", test_shadow, TIMEOUT_S, all_stop);
    tfix_add(s, "eom_retry", test_eom_retry, TIMEOUT_S, all_stop);
    tfix_add(s, "refused_consumes_nothing", test_refused_consumes_nothing, TIMEOUT_S, all_stop);
    tfix_add(s, "exceeds", test_exceeds, TIMEOUT_S, all_stop);
    tfix_add(s, "override_class", test_override_class, TIMEOUT_S, all_stop);
    tfix_add(s, "class_limit_text", test_class_limit_text, TIMEOUT_S, all_stop);
    tfix_add(s, "late_undo", test_late_undo, TIMEOUT_S, all_stop);
    tfix_add(s, "limit_events", test_limit_events, TIMEOUT_S, all_stop);
    tfix_add(s, "batch", test_batch, TIMEOUT_S, all_stop);
    tfix_add(s, "batch_direct", test_batch_direct, TIMEOUT_S, all_stop);

    return tfix_run(s);
}
