/* check_suspend.c - the last-known suspension cache: size bound (N kept,
 * N+1 evicts the oldest), ttl, removal, growth. */
#include <check.h>
#include <stdio.h>

#include "../lib/tfix.h"
#include "suspend.h"

START_TEST(size_bound)
{
    struct suspend_cache *sc = suspend_cache_new();
    char a[32];
    for (int i = 0; i < 100; i++) {             /* exactly the bound: all kept */
        snprintf(a, sizeof a, "user%d", i);
        suspend_cache_put(sc, a, 0, 1000, 100);
    }
    ck_assert_uint_eq(suspend_cache_count(sc), 100);
    ck_assert(suspend_cache_has(sc, "user0", 1));
    /* user0 was just seen again (has() does not refresh it); one more entry
     * evicts the oldest inserted: user0 */
    suspend_cache_put(sc, "user100", 0, 1000, 100);
    ck_assert_uint_eq(suspend_cache_count(sc), 100);
    ck_assert(!suspend_cache_has(sc, "user0", 1));
    ck_assert(suspend_cache_has(sc, "user1", 1));
    ck_assert(suspend_cache_has(sc, "user100", 1));
    /* putting an existing account again makes it the newest */
    suspend_cache_put(sc, "user1", 0, 1000, 100);
    suspend_cache_put(sc, "user101", 0, 1000, 100);
    ck_assert(suspend_cache_has(sc, "user1", 1));
    ck_assert(!suspend_cache_has(sc, "user2", 1));
    suspend_cache_free(sc);
}
END_TEST

START_TEST(ttl_and_delete)
{
    struct suspend_cache *sc = suspend_cache_new();
    suspend_cache_put(sc, "alice", 1000, 300000, 10);
    ck_assert(suspend_cache_has(sc, "alice", 1000 + 299999));
    ck_assert(!suspend_cache_has(sc, "alice", 1000 + 300000));   /* expired: dropped */
    ck_assert_uint_eq(suspend_cache_count(sc), 0);
    suspend_cache_put(sc, "bob", 0, 1000, 10);
    suspend_cache_del(sc, "bob");
    suspend_cache_del(sc, "nobody");
    ck_assert(!suspend_cache_has(sc, "bob", 1));
    suspend_cache_put(sc, "carol", 0, 1000, 0);                 /* size 0: off */
    ck_assert(!suspend_cache_has(sc, "carol", 1));
    suspend_cache_free(sc);
}
END_TEST

START_TEST(many_entries)
{
    struct suspend_cache *sc = suspend_cache_new();
    char a[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(a, sizeof a, "acct-%d", i);
        suspend_cache_put(sc, a, 0, 1000, 10000);
    }
    ck_assert_uint_eq(suspend_cache_count(sc), 10000);
    for (int i = 0; i < 20000; i++) {
        snprintf(a, sizeof a, "acct-%d", i);
        ck_assert_int_eq(suspend_cache_has(sc, a, 1), i >= 10000);
    }
    suspend_cache_free(sc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("suspend");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, size_bound);
    tcase_add_test(tc, ttl_and_delete);
    tcase_add_test(tc, many_entries);
    suite_add_tcase(s, tc);
    return tfix_run(s);
}
