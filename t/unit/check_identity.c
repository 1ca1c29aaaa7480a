/* check_identity.c - identity_norm(), the one normal form of a sender
 * identity (src/identity.h): trimming, <>, case rules, +tag stripping,
 * domain grants, and every bound crossed (254 bytes kept, 255 refused;
 * control bytes, spaces, missing parts). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "../lib/tfix.h"
#include "config.h"
#include "identity.h"

static struct config cfg;

static void reset(bool sensitive, char sep)
{
    memset(&cfg, 0, sizeof cfg);
    cfg.identities.local_part_sensitive = sensitive;
    cfg.identities.plus_separator = sep;
}

/* The normal form of in, or "BAD" / "DOMAIN:<form>". */
static const char *norm(const char *in, bool domain_ok)
{
    static char out[IDENTITY_ADDR_MAX + 16];
    char addr[IDENTITY_ADDR_MAX + 1], err[128];
    enum identity_form f = identity_norm(&cfg, in, domain_ok, addr, err, sizeof err);
    if (f == IDENTITY_BAD) {
        ck_assert_msg(err[0] != '\0', "no reason for %s", in);
        return "BAD";
    }
    snprintf(out, sizeof out, "%s%s", f == IDENTITY_DOMAIN ? "DOMAIN:" : "", addr);
    return out;
}

START_TEST(forms)
{
    reset(false, 0);
    ck_assert_str_eq(norm("alice@example.com", false), "alice@example.com");
    ck_assert_str_eq(norm("  <Alice@Example.COM>  ", false), "alice@example.com");
    ck_assert_str_eq(norm("< Alice@Example.COM. >", false), "alice@example.com");
    ck_assert_str_eq(norm("alice+news@example.com", false), "alice+news@example.com");
    /* the last @ splits: a quoted local part may hold one */
    ck_assert_str_eq(norm("\"a@b\"@Example.com", false), "\"a@b\"@example.com");
    /* UTF-8 domain bytes kept, ASCII lower-cased */
    ck_assert_str_eq(norm("Jo@B\xc3\x9cRO.Example", false), "jo@b\xc3\x9cro.example");
    ck_assert_str_eq(norm("@Example.com", true), "DOMAIN:@example.com");
    ck_assert_str_eq(norm("@Example.com", false), "BAD");

    reset(true, 0);
    ck_assert_str_eq(norm("Alice@Example.COM", false), "Alice@example.com");

    reset(false, '+');
    ck_assert_str_eq(norm("Alice+News@example.com", false), "alice@example.com");
    ck_assert_str_eq(norm("alice+a+b@example.com", false), "alice@example.com");
    ck_assert_str_eq(norm("+tag@example.com", false), "+tag@example.com");
    ck_assert_str_eq(norm("alice-x@example.com", false), "alice-x@example.com");
    reset(false, '-');
    ck_assert_str_eq(norm("alice-x@example.com", false), "alice@example.com");
    ck_assert_str_eq(norm("@example.com", true), "DOMAIN:@example.com");
}
END_TEST

START_TEST(bad)
{
    reset(false, 0);
    ck_assert_str_eq(norm("", false), "BAD");
    ck_assert_str_eq(norm("   ", false), "BAD");
    ck_assert_str_eq(norm("<>", false), "BAD");
    ck_assert_str_eq(norm("alice", false), "BAD");
    ck_assert_str_eq(norm("alice@", false), "BAD");
    ck_assert_str_eq(norm("alice@.", false), "BAD");
    ck_assert_str_eq(norm("alice@.example.com", false), "BAD");
    ck_assert_str_eq(norm("al ice@example.com", false), "BAD");
    ck_assert_str_eq(norm("al\tice@example.com", false), "BAD");
    ck_assert_str_eq(norm("alice@exa\rmple.com", false), "BAD");
    ck_assert_str_eq(norm("alice@example.com\x7f", false), "BAD");
    ck_assert_str_eq(norm("alice\x01@example.com", false), "BAD");
}
END_TEST

START_TEST(bounds)
{
    char in[400];
    reset(false, 0);
    /* 254 bytes: kept; 255: refused (also inside <> and whitespace) */
    memset(in, 'a', 242);
    memcpy(in + 242, "@example.com", 13);
    ck_assert_uint_eq(strlen(in), 254);
    ck_assert_str_eq(norm(in, false), in);
    memset(in, 'a', 243);
    memcpy(in + 243, "@example.com", 13);
    ck_assert_uint_eq(strlen(in), 255);
    ck_assert_str_eq(norm(in, false), "BAD");
    char wrapped[420];
    memset(in, 'a', 242);
    memcpy(in + 242, "@example.com", 13);
    snprintf(wrapped, sizeof wrapped, "  <%s>  ", in);
    ck_assert_str_eq(norm(wrapped, false), in);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("identity");
    TCase *tc = tcase_create("norm");
    tcase_add_test(tc, forms);
    tcase_add_test(tc, bad);
    tcase_add_test(tc, bounds);
    suite_add_tcase(s, tc);
    return tfix_run(s);
}
