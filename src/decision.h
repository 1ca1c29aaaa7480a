/* decision.h - the rule order of SPEC §5, for one request.
 *
 * decision_start() evaluates a complete request.  Local rules (static
 * allow list, stage, bad input) answer at once; everything else costs one
 * Redis call (policy/decide.lua through store.c) whose answer, or failure,
 * arrives later in a store callback.  Either way decision_finish() (in
 * decision.c) is the one exit: it sends the reply if the connection is still there, logs the
 * one decision line and ignores every answer after the first.
 *
 * When Redis cannot answer (down, late, error): a static deny entry still
 * refuses, an account in the last-known suspension cache is still
 * refused, anything else gets failure_action (DUNNO, or DEFER with
 * texts.failure), logged at most once a second with a count. */
#ifndef OUTPOST_DECISION_H
#define OUTPOST_DECISION_H

#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "metrics.h"
#include "protocol.h"

struct decision_spec;
struct request;
struct store;
struct suspend_cache;

/* What decisions need from the daemon; owned by the daemon. */
struct decision_env {
    uv_loop_t            *loop;     /* not owned */
    struct store         *store;    /* not owned */
    struct suspend_cache *cache;    /* not owned */
    struct metrics        metrics;  /* counters of every decision */
    struct decision_spec *spec;     /* owned; the configuration text for
                                       decide.lua and its SHA-1, per config */
    uint64_t              spec_gen;     /* specs made so far (store_group.gen) */
    uint64_t              fail_log_ms;  /* uv_now() of the last failure log */
    uint64_t              fail_unlogged;/* failures since then */
};

struct decision {
    enum action action;                 /* for counting: DUNNO, DEFER, ... */
    const char *rule;                   /* "default", "deny:client", ...: static,
                                           or rulebuf ("limit:NAME") */
    char        rulebuf[96];
    char        text[PROTO_TEXT_MAX + 1]; /* what follows "action=" */
};

/* Placeholders in reply texts (config.c validates them):
 * %a address, %n number, %l limit name, %u unit, %p period, %r retry-after,
 * %% a percent sign. */
struct decision_vars {
    const char *address, *limit, *unit, *period, *retry;
    unsigned long long number;
};

void decision_start(struct decision_env *env, struct request *rq);
/* Frees what the env owns (the spec cache, metrics' rule names). */
void decision_env_fini(struct decision_env *env);

/* Expands tmpl into out (at most PROTO_TEXT_MAX bytes, cut there). */
void decision_format(char out[PROTO_TEXT_MAX + 1], const char *tmpl,
                     const struct decision_vars *v);

#endif
