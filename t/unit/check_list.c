/* check_list.c - allow/deny list matching (list.h). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "../lib/tfix.h"
#include "list.h"

static struct list *build(void)
{
    static const struct { enum list_kind k; const char *v; } e[] = {
        { LIST_ACCOUNT, "alice" },
        { LIST_CLIENT, "192.0.2.0/24" },
        { LIST_CLIENT, "198.51.100.7" },
        { LIST_CLIENT, "2001:db8::/32" },
        { LIST_CLIENT, "10.1.2.3/31" },
        { LIST_SENDER, "<Boss@Example.COM>" },
        { LIST_DOMAIN, "@spam.example" },
        { LIST_DOMAIN, ".sub.example" },
    };
    struct list *l = list_new();
    char err[128];
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++)
        ck_assert_msg(list_add(l, e[i].k, e[i].v, err, sizeof err) == 0, "%s: %s",
                      e[i].v, err);
    return l;
}

static int match(const struct list *l, const char *acct, const char *client,
                 const char *sender, bool with_sender)
{
    enum list_kind k;
    return list_match(l, acct, client, sender, with_sender, &k) ? (int)k : -1;
}

START_TEST(accounts)
{
    struct list *l = build();
    ck_assert_int_eq(match(l, "alice", NULL, NULL, true), LIST_ACCOUNT);
    ck_assert_int_eq(match(l, "alic", NULL, NULL, true), -1);
    ck_assert_int_eq(match(l, "alice2", NULL, NULL, true), -1);
    ck_assert_int_eq(match(l, "", NULL, NULL, true), -1);
    list_free(l);
}
END_TEST

START_TEST(clients)
{
    struct list *l = build();
    ck_assert_int_eq(match(l, NULL, "192.0.2.0", NULL, true), LIST_CLIENT);
    ck_assert_int_eq(match(l, NULL, "192.0.2.255", NULL, true), LIST_CLIENT);
    ck_assert_int_eq(match(l, NULL, "192.0.3.0", NULL, true), -1);
    ck_assert_int_eq(match(l, NULL, "198.51.100.7", NULL, true), LIST_CLIENT);
    ck_assert_int_eq(match(l, NULL, "198.51.100.8", NULL, true), -1);
    ck_assert_int_eq(match(l, NULL, "10.1.2.2", NULL, true), LIST_CLIENT);
    ck_assert_int_eq(match(l, NULL, "10.1.2.3", NULL, true), LIST_CLIENT);
    ck_assert_int_eq(match(l, NULL, "10.1.2.4", NULL, true), -1);
    ck_assert_int_eq(match(l, NULL, "2001:db8:ffff::1", NULL, true), LIST_CLIENT);
    ck_assert_int_eq(match(l, NULL, "2001:db9::1", NULL, true), -1);
    ck_assert_int_eq(match(l, NULL, "::ffff:192.0.2.9", NULL, true), LIST_CLIENT);
    ck_assert_int_eq(match(l, NULL, "not-an-ip", NULL, true), -1);
    ck_assert_int_eq(match(l, NULL, "", NULL, true), -1);
    list_free(l);
}
END_TEST

START_TEST(senders_and_domains)
{
    struct list *l = build();
    ck_assert_int_eq(match(l, NULL, NULL, "boss@example.com", true), LIST_SENDER);
    ck_assert_int_eq(match(l, NULL, NULL, "<BOSS@example.com>", true), LIST_SENDER);
    ck_assert_int_eq(match(l, NULL, NULL, "boss@example.com", false), -1);
    ck_assert_int_eq(match(l, NULL, NULL, "x@Spam.Example", true), LIST_DOMAIN);
    ck_assert_int_eq(match(l, NULL, NULL, "x@a.spam.example", true), -1);
    ck_assert_int_eq(match(l, NULL, NULL, "x@a.sub.example", true), LIST_DOMAIN);
    ck_assert_int_eq(match(l, NULL, NULL, "x@b.a.sub.example", true), LIST_DOMAIN);
    ck_assert_int_eq(match(l, NULL, NULL, "x@sub.example", true), -1);
    ck_assert_int_eq(match(l, NULL, NULL, "", true), -1);        /* null sender */
    ck_assert_int_eq(match(l, NULL, NULL, "nodomain", true), -1);
    list_free(l);
}
END_TEST

START_TEST(order_account_first)
{
    struct list *l = build();
    ck_assert_int_eq(match(l, "alice", "192.0.2.1", "x@spam.example", true), LIST_ACCOUNT);
    ck_assert_int_eq(match(l, "bob", "192.0.2.1", "x@spam.example", true), LIST_CLIENT);
    list_free(l);
}
END_TEST

START_TEST(bad_entries)
{
    struct { enum list_kind k; const char *v; } bad[] = {
        { LIST_CLIENT, "192.0.2.0/33" }, { LIST_CLIENT, "2001:db8::/129" },
        { LIST_CLIENT, "192.0.2" }, { LIST_CLIENT, "host.example" },
        { LIST_CLIENT, "192.0.2.0/" }, { LIST_CLIENT, "192.0.2.0/2x" },
        { LIST_SENDER, "nodomain" }, { LIST_SENDER, "a@" },
        { LIST_DOMAIN, "a@b" }, { LIST_DOMAIN, "." }, { LIST_ACCOUNT, "" },
        { LIST_ACCOUNT, "a\nb" },
    };
    struct list *l = list_new();
    char err[128], out[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_msg(list_add(l, bad[i].k, bad[i].v, err, sizeof err) == -1,
                      "accepted %s", bad[i].v);
        ck_assert(err[0] != '\0');
        /* list_norm (each request's sender, outpostctl's list entries)
         * refuses exactly what list_add refuses */
        err[0] = '\0';
        ck_assert_msg(list_norm(bad[i].k, bad[i].v, true, out, sizeof out, err,
                                sizeof err) == -1, "normalised %s", bad[i].v);
        ck_assert(err[0] != '\0');
    }
    ck_assert_uint_eq(list_size(l), 0);
    list_free(l);
}
END_TEST

START_TEST(norm)
{
    struct { enum list_kind k; const char *v; bool lower; const char *want; } ok[] = {
        { LIST_ACCOUNT, "  Alice ", false, "Alice" },
        { LIST_ACCOUNT, "  Alice ", true, "alice" },
        { LIST_SENDER, "<Bob@Example.COM>", false, "bob@example.com" },
        { LIST_SENDER, "bob@example.com", false, "bob@example.com" },
        { LIST_DOMAIN, "@Example.COM", false, "example.com" },
        { LIST_DOMAIN, ".Example.com", false, ".example.com" },
        { LIST_CLIENT, "192.0.2.1", false, "00000000000000000000ffffc0000201/128" },
    };
    char out[64], err[128];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_msg(list_norm(ok[i].k, ok[i].v, ok[i].lower, out, sizeof out, err,
                                sizeof err) == 0, "%s: %s", ok[i].v, err);
        ck_assert_str_eq(out, ok[i].want);
    }
    /* the output bound: 15 bytes and the NUL fit in 16, 16 do not */
    ck_assert_int_eq(list_norm(LIST_SENDER, "abcdefghij@x.yz", true, out, 16, err,
                               sizeof err), 0);
    ck_assert_str_eq(out, "abcdefghij@x.yz");
    err[0] = '\0';
    ck_assert_int_eq(list_norm(LIST_SENDER, "abcdefghij@x.yzw", true, out, 16, err,
                               sizeof err), -1);
    ck_assert(err[0] != '\0');
}
END_TEST

START_TEST(entry_length_bound)
{
    char v[1100];
    char err[128];
    struct list *l = list_new();
    memset(v, 'a', sizeof v);
    v[1024] = '\0';                     /* 1024 bytes: accepted */
    ck_assert_int_eq(list_add(l, LIST_ACCOUNT, v, err, sizeof err), 0);
    v[1024] = 'a';
    v[1025] = '\0';                     /* 1025: refused */
    ck_assert_int_eq(list_add(l, LIST_ACCOUNT, v, err, sizeof err), -1);
    list_free(l);
}
END_TEST

START_TEST(many_entries_sorted)
{
    struct list *l = list_new();
    char err[128], v[32];
    for (int i = 999; i >= 0; i--) {
        snprintf(v, sizeof v, "user%d", i * 7919 % 1000);
        ck_assert_int_eq(list_add(l, LIST_ACCOUNT, v, err, sizeof err), 0);
    }
    ck_assert_uint_eq(list_size(l), 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(v, sizeof v, "user%d", i);
        ck_assert_int_eq(match(l, v, NULL, NULL, true), LIST_ACCOUNT);
    }
    ck_assert_int_eq(match(l, "user1000", NULL, NULL, true), -1);
    list_free(l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("list");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, accounts);
    tcase_add_test(tc, clients);
    tcase_add_test(tc, senders_and_domains);
    tcase_add_test(tc, order_account_first);
    tcase_add_test(tc, bad_entries);
    tcase_add_test(tc, norm);
    tcase_add_test(tc, entry_length_bound);
    tcase_add_test(tc, many_entries_sorted);
    suite_add_tcase(s, tc);
    return tfix_run(s);
}
