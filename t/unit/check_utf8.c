/* check_utf8.c - utf8_len(): every sequence length at its bounds, and the
 * invalid forms (overlong, surrogates, past U+10FFFF, cut short, stray
 * continuation bytes). */
#include <check.h>

#include "../lib/tfix.h"
#include "utf8.h"

#define L(s) utf8_len((const unsigned char *)(s), sizeof(s) - 1)

START_TEST(valid)
{
    ck_assert_uint_eq(L("A"), 1);
    ck_assert_uint_eq(L("\x7f"), 1);
    ck_assert_uint_eq(L("\xc2\x80"), 2);            /* U+0080 */
    ck_assert_uint_eq(L("\xdf\xbf"), 2);            /* U+07FF */
    ck_assert_uint_eq(L("\xe0\xa0\x80"), 3);        /* U+0800 */
    ck_assert_uint_eq(L("\xed\x9f\xbf"), 3);        /* U+D7FF */
    ck_assert_uint_eq(L("\xee\x80\x80"), 3);        /* U+E000 */
    ck_assert_uint_eq(L("\xef\xbf\xbf"), 3);        /* U+FFFF */
    ck_assert_uint_eq(L("\xf0\x90\x80\x80"), 4);    /* U+10000 */
    ck_assert_uint_eq(L("\xf4\x8f\xbf\xbf"), 4);    /* U+10FFFF */
}
END_TEST

START_TEST(invalid)
{
    ck_assert_uint_eq(L("\x80"), 0);                /* stray continuation */
    ck_assert_uint_eq(L("\xc0\xaf"), 0);            /* overlong '/' */
    ck_assert_uint_eq(L("\xc1\xbf"), 0);
    ck_assert_uint_eq(L("\xe0\x9f\xbf"), 0);        /* overlong U+07FF */
    ck_assert_uint_eq(L("\xed\xa0\x80"), 0);        /* surrogate U+D800 */
    ck_assert_uint_eq(L("\xed\xbf\xbf"), 0);        /* surrogate U+DFFF */
    ck_assert_uint_eq(L("\xf0\x8f\xbf\xbf"), 0);    /* overlong U+FFFF */
    ck_assert_uint_eq(L("\xf4\x90\x80\x80"), 0);    /* U+110000 */
    ck_assert_uint_eq(L("\xf5\x80\x80\x80"), 0);
    ck_assert_uint_eq(L("\xff"), 0);
    ck_assert_uint_eq(L("\xc3"), 0);                /* cut short */
    ck_assert_uint_eq(L("\xe2\x82"), 0);
    ck_assert_uint_eq(L("\xf0\x9f\x98"), 0);
    ck_assert_uint_eq(L("\xc3\x28"), 0);            /* not a continuation */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("len");
    tcase_add_test(tc, valid);
    tcase_add_test(tc, invalid);
    suite_add_tcase(s, tc);
    return tfix_run(s);
}
