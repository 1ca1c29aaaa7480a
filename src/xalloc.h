/* xalloc.h - allocation that cannot fail.
 *
 * Like Postfix's mymalloc() and Redis' zmalloc(): on out-of-memory the
 * process logs and aborts, so callers never test for NULL.  Every buffer
 * sized by a peer is bounded before it reaches these functions. */
#ifndef OUTPOST_XALLOC_H
#define OUTPOST_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
