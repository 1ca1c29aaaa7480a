/* check_protocol.c - the policy wire format, with no I/O (STYLE §2.2). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/tfix.h"
#include "protocol.h"

static const struct proto_limits lim_default = { 8192, 65536, 256 };

static const char req1[] =
    "request=smtpd_access_policy\n"
    "protocol_state=RCPT\n"
    "sasl_username=ann\n"
    "sender=ann@example.net\n"
    "client_address=192.0.2.7\n"
    "unknown_attribute=whatever\n"
    "recipient=bob@example.com\n"
    "\n";

START_TEST(split_every_byte)
{
    size_t n = sizeof req1 - 1;
    for (size_t cut = 1; cut < n; cut++) {
        struct proto p;
        size_t used;
        proto_init(&p, &lim_default);
        ck_assert_int_eq(proto_feed(&p, req1, cut, &used), PROTO_MORE);
        ck_assert_uint_eq(used, cut);
        ck_assert_int_eq(proto_feed(&p, req1 + cut, n - cut, &used), PROTO_DONE);
        ck_assert_uint_eq(used, n - cut);
        ck_assert_str_eq(proto_get(&p, PA_SASL_USERNAME), "ann");
        ck_assert_str_eq(proto_get(&p, PA_SENDER), "ann@example.net");
        ck_assert_str_eq(proto_get(&p, PA_PROTOCOL_STATE), "RCPT");
        ck_assert_str_eq(proto_get(&p, PA_RECIPIENT), "bob@example.com");
        ck_assert_str_eq(proto_get(&p, PA_CLIENT_ADDRESS), "192.0.2.7");
        ck_assert_str_eq(proto_get(&p, PA_QUEUE_ID), "");
        proto_free(&p);
    }
}
END_TEST

START_TEST(split_every_pair_of_cuts)
{
    /* three chunks: every (i, j) split point gives the same request */
    size_t n = sizeof req1 - 1;
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j < n; j++) {
            struct proto p;
            size_t used;
            enum proto_status st;
            proto_init(&p, &lim_default);
            ck_assert_int_eq(proto_feed(&p, req1, i, &used), PROTO_MORE);
            st = proto_feed(&p, req1 + i, j - i, &used);
            ck_assert_int_eq(st, PROTO_MORE);
            ck_assert_int_eq(proto_feed(&p, req1 + j, n - j, &used), PROTO_DONE);
            ck_assert_str_eq(proto_get(&p, PA_SASL_USERNAME), "ann");
            ck_assert_str_eq(proto_get(&p, PA_RECIPIENT), "bob@example.com");
            proto_free(&p);
        }
    }
}
END_TEST

START_TEST(one_byte_at_a_time_and_leftover)
{
    char two[2 * sizeof req1];
    size_t n = sizeof req1 - 1, used;
    memcpy(two, req1, n);
    memcpy(two + n, req1, n);

    struct proto p;
    proto_init(&p, &lim_default);
    /* both requests in one chunk: the first stops at its empty line */
    ck_assert_int_eq(proto_feed(&p, two, 2 * n, &used), PROTO_DONE);
    ck_assert_uint_eq(used, n);
    proto_reset(&p);
    ck_assert_int_eq(proto_feed(&p, two + used, 2 * n - used, &used), PROTO_DONE);
    ck_assert_uint_eq(used, n);
    ck_assert_str_eq(proto_get(&p, PA_SENDER), "ann@example.net");
    proto_reset(&p);
    for (size_t i = 0; i < n; i++) {
        enum proto_status st = proto_feed(&p, req1 + i, 1, &used);
        ck_assert_int_eq(st, i + 1 == n ? PROTO_DONE : PROTO_MORE);
        ck_assert_uint_eq(used, 1);
    }
    ck_assert_str_eq(proto_get(&p, PA_SASL_USERNAME), "ann");
    proto_free(&p);
}
END_TEST

static enum proto_status feed_all(struct proto_limits lim, const char *in, size_t len)
{
    struct proto p;
    size_t used;
    proto_init(&p, &lim);
    enum proto_status st = proto_feed(&p, in, len, &used);
    proto_free(&p);
    return st;
}

/* A request whose one long line "sender=xxx..." is exactly n bytes long. */
static char *line_request(size_t n, size_t *len)
{
    const char *head = "request=smtpd_access_policy\n";
    size_t hl = strlen(head);
    char *buf = malloc(hl + n + 3);
    memcpy(buf, head, hl);
    memcpy(buf + hl, "sender=", 7);
    memset(buf + hl + 7, 'x', n - 7);
    buf[hl + n] = '\n';
    buf[hl + n + 1] = '\n';
    *len = hl + n + 2;
    return buf;
}

START_TEST(bound_line)
{
    size_t len;
    char *in = line_request(8192, &len);
    ck_assert_int_eq(feed_all(lim_default, in, len), PROTO_DONE);
    free(in);
    in = line_request(8193, &len);
    ck_assert_int_eq(feed_all(lim_default, in, len), PROTO_ELINE);
    /* detected without the LF: an endless line is cut off at once */
    ck_assert_int_eq(feed_all(lim_default, in, len - 2), PROTO_ELINE);
    free(in);
}
END_TEST

START_TEST(bound_request)
{
    /* many short lines: exactly max_request bytes, then one more */
    struct proto_limits lim = { 8192, 65536, 100000 };
    size_t cap = 70000, len = 0;
    char *buf = malloc(cap);
    len += (size_t)sprintf(buf, "request=smtpd_access_policy\n");
    while (len + 1 + 12 <= 65536)       /* "x=123456789\n" = 12 bytes */
        len += (size_t)sprintf(buf + len, "x=123456789\n");
    size_t pad = 65536 - 1 - len;       /* room left for one line + "\n" */
    ck_assert_uint_ge(pad, 3);
    buf[len] = 'y';
    buf[len + 1] = '=';
    memset(buf + len + 2, 'z', pad - 3);
    buf[len + pad - 1] = '\n';
    len += pad;
    buf[len++] = '\n';
    ck_assert_uint_eq(len, 65536);
    ck_assert_int_eq(feed_all(lim, buf, len), PROTO_DONE);
    /* one byte more in the last line */
    memmove(buf + len - 2, buf + len - 3, 3);
    buf[len - 3] = 'z';
    len++;
    ck_assert_int_eq(feed_all(lim, buf, len), PROTO_EREQUEST);
    free(buf);
}
END_TEST

START_TEST(bound_attributes)
{
    struct proto_limits lim = { 8192, 65536, 256 };
    char buf[256 * 8 + 64];
    size_t len = (size_t)sprintf(buf, "request=smtpd_access_policy\n");
    for (int i = 1; i < 256; i++)
        len += (size_t)sprintf(buf + len, "a=%d\n", i);
    buf[len] = '\n';
    ck_assert_int_eq(feed_all(lim, buf, len + 1), PROTO_DONE);
    len += (size_t)sprintf(buf + len, "a=x\n");
    buf[len] = '\n';
    ck_assert_int_eq(feed_all(lim, buf, len + 1), PROTO_EATTRS);
}
END_TEST

START_TEST(nul_byte)
{
    static const char in[] = "request=smtpd_access_policy\nsender=a\0b\n\n";
    ck_assert_int_eq(feed_all(lim_default, in, sizeof in - 1), PROTO_ENUL);
}
END_TEST

START_TEST(cr_is_data)
{
    static const char in[] = "request=smtpd_access_policy\r\nsender=a\r\n\r\n\n";
    struct proto p;
    size_t used;
    proto_init(&p, &lim_default);
    /* "request=smtpd_access_policy\r" is not the policy request; "\r" is a
     * line without '=': the request is complete but bad */
    ck_assert_int_eq(proto_feed(&p, in, sizeof in - 1, &used), PROTO_BADREQ);
    ck_assert_str_eq(proto_get(&p, PA_SENDER), "a\r");
    proto_free(&p);
}
END_TEST

START_TEST(bad_requests)
{
    struct { const char *in; const char *why; } cases[] = {
        { "protocol_state=RCPT\n\n", "no request attribute" },
        { "request=other\n\n", "request is not smtpd_access_policy" },
        { "request=smtpd_access_policy\nnoequals\n\n", "attribute line without '='" },
        { "request=smtpd_access_policy\n=value\n\n", "attribute with an empty name" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct proto p;
        size_t used;
        proto_init(&p, &lim_default);
        ck_assert_int_eq(proto_feed(&p, cases[i].in, strlen(cases[i].in), &used),
                         PROTO_BADREQ);
        ck_assert_str_eq(p.bad, cases[i].why);
        /* a bad request is still framed: the parser goes on */
        proto_reset(&p);
        ck_assert_int_eq(proto_feed(&p, req1, sizeof req1 - 1, &used), PROTO_DONE);
        proto_free(&p);
    }
}
END_TEST

START_TEST(duplicates_first_wins)
{
    static const char in[] = "request=smtpd_access_policy\nsender=first@x\n"
                             "sender=second@x\nsender=\n\n";
    struct proto p;
    size_t used;
    proto_init(&p, &lim_default);
    ck_assert_int_eq(proto_feed(&p, in, sizeof in - 1, &used), PROTO_DONE);
    ck_assert_str_eq(proto_get(&p, PA_SENDER), "first@x");
    ck_assert_uint_eq(p.dups, 2);
    proto_free(&p);
}
END_TEST

START_TEST(empty_values_and_equals_in_value)
{
    static const char in[] = "request=smtpd_access_policy\nsender=\n"
                             "sasl_username=a=b\n\n";
    struct proto p;
    size_t used;
    proto_init(&p, &lim_default);
    ck_assert_int_eq(proto_feed(&p, in, sizeof in - 1, &used), PROTO_DONE);
    ck_assert_str_eq(proto_get(&p, PA_SENDER), "");
    ck_assert_str_eq(proto_get(&p, PA_SASL_USERNAME), "a=b");
    proto_free(&p);
}
END_TEST

START_TEST(reply_format)
{
    char out[PROTO_REPLY_MAX];
    size_t n = proto_reply(out, "DUNNO");
    ck_assert_uint_eq(n, 14);
    ck_assert(memcmp(out, "action=DUNNO\n\n", 14) == 0);

    n = proto_reply(out, "550 5.7.1 bad\r\nx\001\xff");
    ck_assert(memcmp(out, "action=550 5.7.1 bad??x??\n\n", n) == 0);
}
END_TEST

START_TEST(reply_cap)
{
    char text[400], out[PROTO_REPLY_MAX];
    memset(text, 'a', sizeof text);
    text[PROTO_TEXT_MAX] = '\0';                /* 199 bytes: kept */
    size_t n = proto_reply(out, text);
    ck_assert_uint_eq(n, 7 + PROTO_TEXT_MAX + 2);
    text[PROTO_TEXT_MAX] = 'b';                 /* 200 bytes: cut to 199 */
    text[PROTO_TEXT_MAX + 1] = '\0';
    n = proto_reply(out, text);
    ck_assert_uint_eq(n, 7 + PROTO_TEXT_MAX + 2);
    ck_assert_int_eq(out[n - 3], 'a');
    ck_assert(memcmp(out + n - 2, "\n\n", 2) == 0);
    for (size_t i = 0; i < n - 2; i++)
        ck_assert(out[i] != '\r' && out[i] != '\n');
}
END_TEST

int main(void)
{
    Suite *s = suite_create("protocol");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, split_every_byte);
    tcase_add_test(tc, split_every_pair_of_cuts);
    tcase_add_test(tc, one_byte_at_a_time_and_leftover);
    tcase_add_test(tc, bound_line);
    tcase_add_test(tc, bound_request);
    tcase_add_test(tc, bound_attributes);
    tcase_add_test(tc, nul_byte);
    tcase_add_test(tc, cr_is_data);
    tcase_add_test(tc, bad_requests);
    tcase_add_test(tc, duplicates_first_wins);
    tcase_add_test(tc, empty_values_and_equals_in_value);
    tcase_add_test(tc, reply_format);
    tcase_add_test(tc, reply_cap);
    suite_add_tcase(s, tc);
    return tfix_run(s);
}
