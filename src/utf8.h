/* utf8.h - the one UTF-8 check of outpost: how long the valid sequence at
 * a position is.  Used wherever untrusted bytes from Redis or an operator
 * must become valid text (admin.c for JSON output and argument checks,
 * the notifier for mail headers and bodies). */
#ifndef OUTPOST_UTF8_H
#define OUTPOST_UTF8_H

#include <stddef.h>

/* Length (1..4) of the valid, shortest-form UTF-8 sequence at p (n > 0
 * bytes left), or 0 if the bytes there are not one (overlong forms,
 * surrogates and code points past U+10FFFF are invalid). */
size_t utf8_len(const unsigned char *p, size_t n);

#endif
