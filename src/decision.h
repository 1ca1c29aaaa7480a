/* decision.h - the rule order of SPEC §5, for one request.
 *
 * decision_start() evaluates a complete request and, when the answer is
 * known, calls decision_finish().  Today every rule is local (static
 * allow/deny lists), so the answer comes at once; the Redis steps will make
 * some answers arrive later, from store callbacks, through the same
 * decision_finish(), which sends the reply if the connection is still there,
 * logs the one decision line and ignores every answer after the first. */
#ifndef OUTPOST_DECISION_H
#define OUTPOST_DECISION_H

#include "config.h"
#include "protocol.h"

struct request;

struct decision {
    enum action action;                 /* for counting: DUNNO, DEFER, ... */
    const char *rule;                   /* static: "default", "deny:client", ... */
    char        text[PROTO_TEXT_MAX + 1]; /* what follows "action=" */
};

/* Placeholders in reply texts (config.c validates them):
 * %a address, %n number, %l limit name, %u unit, %p period, %r retry-after,
 * %% a percent sign. */
struct decision_vars {
    const char *address, *limit, *unit, *period, *retry;
    unsigned long long number;
};

void decision_start(struct request *rq);
void decision_finish(struct request *rq, const struct decision *d);

/* Expands tmpl into out (at most PROTO_TEXT_MAX bytes, cut there). */
void decision_format(char out[PROTO_TEXT_MAX + 1], const char *tmpl,
                     const struct decision_vars *v);

#endif
