/* check_log.c - escaping of untrusted values in log lines (log_esc). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "../lib/tfix.h"
#include "log.h"

START_TEST(escapes)
{
    char out[LOG_ESC_SIZE];
    ck_assert_str_eq(log_escs(out, "ann"), "\"ann\"");
    ck_assert_str_eq(log_escs(out, NULL), "\"\"");
    ck_assert_str_eq(log_escs(out, "a\"b\\c"), "\"a\\\"b\\\\c\"");
    ck_assert_str_eq(log_escs(out, "x\ny\rz\t"), "\"x\\x0ay\\x0dz\\x09\"");
    ck_assert_str_eq(log_escs(out, "\x7f\xff"), "\"\\x7f\\xff\"");
    ck_assert_str_eq(log_esc(out, "a\0b", 3), "\"a\\x00b\"");
}
END_TEST

START_TEST(forged_line_cannot_escape)
{
    char out[LOG_ESC_SIZE];
    log_escs(out, "alice action=DUNNO\ndecision conn=1 action=REJECT");
    ck_assert(strchr(out, '\n') == NULL);
    ck_assert_str_eq(out, "\"alice action=DUNNO\\x0adecision conn=1 action=REJECT\"");
}
END_TEST

START_TEST(cut_at_bound)
{
    char in[LOG_ESC_CUT + 2], out[LOG_ESC_SIZE], want[LOG_ESC_CUT + 8];
    memset(in, 'a', sizeof in);
    in[LOG_ESC_CUT] = '\0';                     /* exactly the bound: whole */
    snprintf(want, sizeof want, "\"%s\"", in);
    ck_assert_str_eq(log_escs(out, in), want);
    in[LOG_ESC_CUT] = 'b';                      /* one more: cut, marked */
    in[LOG_ESC_CUT + 1] = '\0';
    in[LOG_ESC_CUT] = '\0';
    snprintf(want, sizeof want, "\"%s...\"", in);
    in[LOG_ESC_CUT] = 'b';
    ck_assert_str_eq(log_escs(out, in), want);
}
END_TEST

START_TEST(worst_case_fits)
{
    char in[1000], out[LOG_ESC_SIZE];
    memset(in, 0x01, sizeof in);
    log_esc(out, in, sizeof in);
    ck_assert_uint_eq(strlen(out), 2 + LOG_ESC_CUT * 4 + 3);
    ck_assert_uint_lt(strlen(out), LOG_ESC_SIZE);
}
END_TEST

START_TEST(levels)
{
    enum log_level l;
    ck_assert_int_eq(log_level_parse("debug", &l), 0);
    ck_assert_int_eq(l, LOG_L_DEBUG);
    ck_assert_int_eq(log_level_parse("warning", &l), 0);
    ck_assert_int_eq(l, LOG_L_WARN);
    ck_assert_int_eq(log_level_parse("error", &l), 0);
    ck_assert_int_eq(l, LOG_L_ERR);
    ck_assert_int_eq(log_level_parse("loud", &l), -1);
    log_setup(LOG_T_STDERR, LOG_L_WARN, LOG_F_TEXT, 0, "test");
    ck_assert(!log_enabled(LOG_L_INFO));
    ck_assert(log_enabled(LOG_L_ERR));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, escapes);
    tcase_add_test(tc, forged_line_cannot_escape);
    tcase_add_test(tc, cut_at_bound);
    tcase_add_test(tc, worst_case_fits);
    tcase_add_test(tc, levels);
    suite_add_tcase(s, tc);
    return tfix_run(s);
}
