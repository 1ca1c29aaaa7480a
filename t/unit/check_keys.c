/* check_keys.c - the key names of keys.c (doc/keys.md): their exact
 * spelling, the escaping of untrusted parts, and the KEYS_MAX bound,
 * crossed by one byte for every kind of key. */
#include <check.h>
#include <string.h>

#include "../lib/tfix.h"
#include "keys.h"

static void expect(size_t n, const char *got, const char *want)
{
    ck_assert_str_eq(got, want);
    ck_assert_uint_eq(n, strlen(want));
}

START_TEST(names)
{
    char k[KEYS_MAX];
    expect(keys_account(k, "outpost:", "alice", KEYS_SUSP), k, "outpost:{a:alice}:susp");
    expect(keys_account(k, "", "", KEYS_ACCT), k, "{a:}:acct");
    expect(keys_global(k, "p:", "lists", "allow:account"), k, "p:{lists}:allow:account");
    expect(keys_global(k, "p:", "events", NULL), k, "p:{events}");
    expect(keys_counter(k, "p:", LIMIT_KEY_ACCOUNT, "alice", "msgs"), k, "p:{a:alice}:rl:msgs");
    expect(keys_counter(k, "p:", LIMIT_KEY_CLIENT_ADDRESS, "00000000000000000000ffffc0000201",
                        "ip"), k, "p:{c:00000000000000000000ffffc0000201}:rl:ip");
    expect(keys_counter(k, "p:", LIMIT_KEY_SENDER_DOMAIN, "example.com", "dom"), k,
           "p:{d:example.com}:rl:dom");
    expect(keys_who(k, "p:", "bob@example.com"), k, "p:{id:bob@example.com}:who");
    expect(keys_eom(k, "p:", "alice", "1a2.3", "4B7"), k, "p:{a:alice}:eom:1a2.3:4B7");
    expect(keys_eom(k, "p:", "", "", ""), k, "p:{a:}:eom::");
}
END_TEST

/* what could end the hash tag or confuse a reader is %XX */
START_TEST(escaped)
{
    char k[KEYS_MAX];
    expect(keys_account(k, "p:", "a}b{c d%\x01\x7f\xc3\xa9", KEYS_IDS), k,
           "p:{a:a%7Db%7Bc%20d%25%01%7F%C3%A9}:ids");
    expect(keys_counter(k, "p:", LIMIT_KEY_ACCOUNT, "x}", "l{"), k, "p:{a:x%7D}:rl:l%7B");
    expect(keys_eom(k, "p:", "a b", "i}", "q{"), k, "p:{a:a%20b}:eom:i%7D:q%7B");
    expect(keys_who(k, "p:", "@ex ample"), k, "p:{id:@ex%20ample}:who");
}
END_TEST

/* A key of exactly KEYS_MAX - 1 bytes fits, one more byte does not (0,
 * never a cut key), whichever part makes it long, escaped or not. */
START_TEST(bound)
{
    char k[KEYS_MAX], part[KEYS_MAX + 8];
    const size_t fixed_acct = strlen("p:{a:}:susp");
    memset(part, 'x', sizeof part);

    part[KEYS_MAX - 1 - fixed_acct] = '\0';
    ck_assert_uint_eq(keys_account(k, "p:", part, KEYS_SUSP), KEYS_MAX - 1);
    ck_assert_uint_eq(strlen(k), KEYS_MAX - 1);
    memset(part, 'x', sizeof part);
    part[KEYS_MAX - fixed_acct] = '\0';
    ck_assert_uint_eq(keys_account(k, "p:", part, KEYS_SUSP), 0);

    /* escaped: "%20" counts three bytes; 1 + 3 more than fits */
    memset(part, 'x', sizeof part);
    part[KEYS_MAX - 1 - fixed_acct - 2] = '\0';
    part[0] = ' ';
    ck_assert_uint_eq(keys_account(k, "p:", part, KEYS_SUSP), KEYS_MAX - 1);
    memset(part, 'x', sizeof part);
    part[KEYS_MAX - fixed_acct - 2] = '\0';
    part[0] = ' ';
    ck_assert_uint_eq(keys_account(k, "p:", part, KEYS_SUSP), 0);

    /* the prefix, then the suffix, make it long */
    memset(part, 'x', sizeof part);
    part[KEYS_MAX - 1 - strlen("{a:a}:susp")] = '\0';
    ck_assert_uint_eq(keys_account(k, part, "a", KEYS_SUSP), KEYS_MAX - 1);
    ck_assert_uint_eq(keys_account(k, part, "ab", KEYS_SUSP), 0);
    memset(part, 'x', sizeof part);
    part[KEYS_MAX - 1 - strlen("p:{a:a}:")] = '\0';
    ck_assert_uint_eq(keys_account(k, "p:", "a", part), KEYS_MAX - 1);
    ck_assert_uint_eq(keys_account(k, "p:", "ab", part), 0);

    const size_t fixed_ctr = strlen("p:{a:}:rl:l");
    memset(part, 'x', sizeof part);
    part[KEYS_MAX - 1 - fixed_ctr] = '\0';
    ck_assert_uint_eq(keys_counter(k, "p:", LIMIT_KEY_ACCOUNT, part, "l"), KEYS_MAX - 1);
    ck_assert_uint_eq(keys_counter(k, "p:", LIMIT_KEY_ACCOUNT, part, "lm"), 0);

    const size_t fixed_eom = strlen("p:{a:a}:eom:i:");
    memset(part, 'x', sizeof part);
    part[KEYS_MAX - 1 - fixed_eom] = '\0';
    ck_assert_uint_eq(keys_eom(k, "p:", "a", "i", part), KEYS_MAX - 1);
    ck_assert_uint_eq(keys_eom(k, "p:", "a", "ij", part), 0);

    const size_t fixed_who = strlen("p:{id:}:who");
    memset(part, 'x', sizeof part);
    part[KEYS_MAX - 1 - fixed_who] = '\0';
    ck_assert_uint_eq(keys_who(k, "p:", part), KEYS_MAX - 1);
    ck_assert_uint_eq(keys_who(k, "pq:", part), 0);
    ck_assert_uint_eq(keys_who(k, "p:", ""), 0);        /* no address: no key */

    memset(part, 'x', sizeof part);
    part[KEYS_MAX - 1 - strlen("p:{t}:")] = '\0';
    ck_assert_uint_eq(keys_global(k, "p:", "t", part), KEYS_MAX - 1);
    ck_assert_uint_eq(keys_global(k, "p:", "tu", part), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keys");
    TCase *tc = tcase_create("keys");
    tcase_add_test(tc, names);
    tcase_add_test(tc, escaped);
    tcase_add_test(tc, bound);
    suite_add_tcase(s, tc);
    return tfix_run(s);
}
