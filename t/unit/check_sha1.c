/* check_sha1.c - sha1_hex() against the FIPS 180 examples and the
 * padding edges (55, 56, 63, 64, 65, 119, 120, 128 bytes: one or two
 * padding blocks), one million 'a' (many blocks). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/tfix.h"
#include "sha1.h"

static void expect(const char *data, size_t len, const char *want)
{
    char got[41];
    sha1_hex(data, len, got);
    ck_assert_str_eq(got, want);
}

START_TEST(fips)
{
    expect("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    expect("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    expect("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
           "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}
END_TEST

START_TEST(padding)
{
    static const struct { size_t n; const char *want; } v[] = {
        { 55, "cef734ba81a024479e09eb5a75b6ddae62e6abf1" },
        { 56, "901305367c259952f4e7af8323f480d59f81335b" },
        { 63, "0ddc4e0cccd9a12850deb5abb0853a4425559fec" },
        { 64, "bb2fa3ee7afb9f54c6dfb5d021f14b1ffe40c163" },
        { 65, "78c741ddc482e4cdf8c474a0876347a0905b6233" },
        { 119, "4300320394f7ee239bcdce7d3b8bcee173a0cd5c" },
        { 120, "ceb2821639c4b6dcb10bce0e522ca2e608ce056d" },
        { 128, "150fa3fbdc899bd0b8f95a9fb6027f564d953762" },
    };
    char x[128];
    memset(x, 'x', sizeof x);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        expect(x, v[i].n, v[i].want);
}
END_TEST

START_TEST(million)
{
    char *a = malloc(1000000);
    ck_assert_ptr_nonnull(a);
    memset(a, 'a', 1000000);
    expect(a, 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    free(a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sha1");
    TCase *tc = tcase_create("hex");
    tcase_add_test(tc, fips);
    tcase_add_test(tc, padding);
    tcase_add_test(tc, million);
    suite_add_tcase(s, tc);
    return tfix_run(s);
}
