/*
 * test_logline - one operational log line (common/logline.c): a JSON line
 * parses back to the message it was given, whatever bytes the message
 * holds; a text line carries time, ident and level; the journal's priority
 * prefix is the level's syslog priority; level and format names parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "logline.h"

static void line_to(FILE *out, int level, rk_log_format format, bool journal, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void line_to(FILE *out, int level, rk_log_format format, bool journal, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rk_log_vline(out, "renkei-test", level, format, journal, fmt, ap);
    va_end(ap);
}

/* One line written into a malloc'd string. */
static char *one_line(int level, rk_log_format format, bool journal, const char *msg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    line_to(out, level, format, journal, "%s", msg);
    fclose(out);
    return buf;
}

static void test_json_round_trip(void **state)
{
    static const char msg[] = "a \"quoted\" path C:\\dir, a tab\t, a bell \x07 and\nsecond line";
    json_error_t err;
    json_t *o;
    char *line = one_line(RK_LOG_WARNING, RK_LOG_JSON, false, msg);
    (void)state;

    /* one line: the newline of the message is escaped */
    assert_non_null(strchr(line, '\n'));
    assert_int_equal(strchr(line, '\n') - line + 1, (long)strlen(line));
    o = json_loads(line, 0, &err);
    if (o == NULL)
        fail_msg("not JSON (%s): %s", err.text, line);
    assert_string_equal(json_string_value(json_object_get(o, "message")), msg);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "warning");
    assert_int_equal(json_integer_value(json_object_get(o, "priority")), 4);
    assert_string_equal(json_string_value(json_object_get(o, "ident")), "renkei-test");
    assert_int_equal(strlen(json_string_value(json_object_get(o, "time"))),
                     strlen("2026-11-23T13:40:00.123Z"));
    json_decref(o);
    free(line);
}

static void test_text_and_journal(void **state)
{
    int y, mo, d, h, mi, s;
    char *line = one_line(RK_LOG_NOTICE, RK_LOG_TEXT, false, "listening");
    (void)state;

    assert_int_equal(sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2dZ ", &y, &mo, &d, &h, &mi, &s), 6);
    assert_non_null(strstr(line, "Z renkei-test: notice: listening\n"));
    free(line);
    /* the journal: its priority first, no time of our own */
    line = one_line(RK_LOG_ERR, RK_LOG_TEXT, true, "cannot bind");
    assert_string_equal(line, "<3>renkei-test: error: cannot bind\n");
    free(line);
    line = one_line(RK_LOG_DEBUG, RK_LOG_JSON, true, "x");
    assert_memory_equal(line, "<7>{", 4);
    free(line);
}

static void test_long_message_stays_one_line(void **state)
{
    char *msg = malloc(10000), *line;
    json_error_t err;
    json_t *o;
    (void)state;
    assert_non_null(msg);
    memset(msg, '"', 9999); /* each escaped to two bytes */
    msg[9999] = '\0';
    line = one_line(RK_LOG_INFO, RK_LOG_JSON, false, msg);
    assert_int_equal(strchr(line, '\n') - line + 1, (long)strlen(line));
    o = json_loads(line, 0, &err);
    if (o == NULL)
        fail_msg("a cut message is not JSON (%s)", err.text);
    assert_true(strlen(json_string_value(json_object_get(o, "message"))) > 1000);
    json_decref(o);
    free(line);
    free(msg);
}

static void test_names(void **state)
{
    int level = -1;
    rk_log_format f = RK_LOG_TEXT;
    (void)state;
    assert_true(rk_log_level_parse("error", &level) && level == RK_LOG_ERR);
    assert_true(rk_log_level_parse("warn", &level) && level == RK_LOG_WARNING);
    assert_true(rk_log_level_parse("debug", &level) && level == RK_LOG_DEBUG);
    assert_false(rk_log_level_parse("verbose", &level));
    assert_true(rk_log_format_parse("json", &f) && f == RK_LOG_JSON);
    assert_false(rk_log_format_parse("JSON", &f));
    /* not the journal: no JOURNAL_STREAM, or another file's */
    unsetenv("JOURNAL_STREAM");
    assert_false(rk_log_is_journal(stderr));
    setenv("JOURNAL_STREAM", "1:1", 1);
    assert_false(rk_log_is_journal(stderr));
    unsetenv("JOURNAL_STREAM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_text_and_journal),
        cmocka_unit_test(test_long_message_stays_one_line),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
