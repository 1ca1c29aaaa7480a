/* verdict.h - outpostd's consumer of the spam verdict stream (SPEC §7;
 * doc/keys.md "Spam verdicts").
 *
 * Scanners and feedback-loop processors XADD verdicts to P{verdicts}; every
 * outpostd reads that stream as one consumer group (verdicts.group), on a
 * Redis link of its own, so that a blocking read never delays a decision.
 * Each verdict is applied by the Function outpost_verdict, which also
 * acknowledges it in the same atomic call: a verdict is applied exactly
 * once cluster-wide, and one left pending by a dead instance is claimed
 * (XAUTOCLAIM after verdicts.claim_idle) and applied by another.  A
 * malformed verdict is acknowledged into P{verdicts}:dead with the reason,
 * never retried forever. */
#ifndef OUTPOST_VERDICT_H
#define OUTPOST_VERDICT_H

#include <stdint.h>

#include <uv.h>

struct config;
struct metrics_buf;
struct verdict;

#define VERDICT_BATCH      100      /* entries per read or claim */
#define VERDICT_BLOCK_MS   1000     /* BLOCK of one XREADGROUP */
#define VERDICT_RETRY_MS   1000     /* after a failed step */
#define VERDICT_POLL_MS    100      /* while the link is not up yet */
#define VERDICT_FIELDS_MAX 64       /* field/value pairs of one entry */
#define VERDICT_VALUE_MAX  1024     /* bytes of one value */

struct verdict_stats {
    uint64_t applied;               /* outpost_verdict applied it */
    uint64_t suspended;             /* ... and that suspended the account */
    uint64_t duplicate;             /* already applied elsewhere */
    uint64_t dead;                  /* malformed: into the dead-letter stream */
    uint64_t claimed;               /* taken over from a dead consumer */
    uint64_t errors;                /* Redis errors and timeouts */
};

/* cfg is the daemon's current-config slot (read at every step). */
struct verdict *verdict_new(uv_loop_t *loop, struct config *const *cfg);
void verdict_start(struct verdict *v);
/* After a reload (a changed group is created on the next step; changed
 * redis.* settings reconnect the link). */
void verdict_reconfigure(struct verdict *v, const struct config *old);
/* Stops reading; a batch in flight is answered by Redis or dropped (its
 * entries stay pending and are claimed later).  Closes every handle. */
void verdict_stop(struct verdict *v);
void verdict_free(struct verdict *v);       /* after verdict_stop + loop end */

const struct verdict_stats *verdict_stats(const struct verdict *v);
/* Prometheus lines: outpost_verdicts_total{result} and the link's calls. */
void verdict_render(const struct verdict *v, struct metrics_buf *b);

#endif
