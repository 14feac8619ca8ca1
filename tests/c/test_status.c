/*
 * Every status path of the C ABI: NULL for each pointer parameter of each function,
 * invalid UTF-8, malformed and invalid policies, profile errors, too-small buffers, unknown
 * handles, bad values, stale observations, duplicates, the queue, the callback, and that
 * out-parameters are untouched on failure. Run from tests/ffi_c.rs (also under valgrind).
 */
#include "test_common.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static const char BOT[] = "{\"id\": \"bot\", \"sector\": \"s0\", \"data\": \"public\","
                          " \"autonomy\": \"hitl\", \"users\": 10}";
static const char BIG[] = "{\"id\": \"big\", \"sector\": \"s9\", \"data\": \"public\","
                          " \"autonomy\": \"hitl\", \"users\": 10}";
static const char BAD_UTF8[] = "{\"id\": \"b\xc3\x28t\"}";

static const int64_t T = INT64_C(1000000);

#define SENTINEL_U32 UINT32_C(0xDEADBEEF)
#define SENTINEL_SIZE ((size_t)0xDEADBEEF)

static void test_version(void) {
    CHECK(airisk_abi_version() == AIRISK_ABI_VERSION);
    CHECK(strcmp(airisk_version(), AIRISK_VERSION_STRING) == 0);
    char v[64];
    snprintf(v, sizeof v, "%d.%d.%d", AIRISK_VERSION_MAJOR, AIRISK_VERSION_MINOR,
             AIRISK_VERSION_PATCH);
    CHECK(strncmp(airisk_version(), v, strlen(v)) == 0);
    CHECK(AIRISK_VERSION_NUMBER ==
          AIRISK_VERSION_MAJOR * 10000 + AIRISK_VERSION_MINOR * 100 + AIRISK_VERSION_PATCH);
#if AIRISK_VERSION_NUMBER < 100
#error "AIRISK_VERSION_NUMBER must be usable in #if"
#endif
}

static void test_status_str(void) {
    const airisk_status all[] = {
        AIRISK_OK,          AIRISK_ERR_NULL,           AIRISK_ERR_UTF8,
        AIRISK_ERR_JSON,    AIRISK_ERR_POLICY,         AIRISK_ERR_PROFILE,
        AIRISK_ERR_DUPLICATE, AIRISK_ERR_UNKNOWN_SYSTEM, AIRISK_ERR_UNKNOWN_SIGNAL,
        AIRISK_ERR_VALUE,   AIRISK_ERR_STALE,          AIRISK_ERR_PANIC,
        AIRISK_ERR_BUFFER,  AIRISK_ERR_LIMIT,          AIRISK_ERR_STATE,
        AIRISK_ERR_IO,      AIRISK_ERR_INVALID_ARGUMENT, AIRISK_ERR_INTERNAL,
        AIRISK_ERR_UNKNOWN_INCIDENT, AIRISK_ERR_NOT_DUE, AIRISK_ERR_PROHIBITED,
        AIRISK_ERR_SILENCE, AIRISK_ERR_RELOAD,
    };
    const size_t n = sizeof all / sizeof all[0];
    CHECK(AIRISK_OK == 0);
    CHECK(n == 23);
    for (size_t i = 0; i < n; i++) {
        CHECK(all[i] == (airisk_status)i); /* frozen, dense numbers */
        const char *s = airisk_status_str(all[i]);
        CHECK(s != NULL && strlen(s) > 0);
        CHECK(strcmp(s, "unknown status") != 0);
        for (size_t j = 0; j < i; j++) {
            CHECK(all[i] != all[j]);
            CHECK(strcmp(s, airisk_status_str(all[j])) != 0);
        }
    }
    CHECK(strstr(airisk_status_str(AIRISK_ERR_STALE), "AIRISK_ERR_STALE") != NULL);
    const int32_t unknown[] = {-1, 23, 99, 1000, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK(strcmp(airisk_status_str(unknown[i]), "unknown status") == 0);
    }
    CHECK(strcmp(airisk_level_str(AIRISK_LEVEL_NONE), "none") == 0);
    CHECK(strcmp(airisk_level_str(AIRISK_LEVEL_BLUE), "blue") == 0);
    CHECK(strcmp(airisk_level_str(AIRISK_LEVEL_YELLOW), "yellow") == 0);
    CHECK(strcmp(airisk_level_str(AIRISK_LEVEL_ORANGE), "orange") == 0);
    CHECK(strcmp(airisk_level_str(AIRISK_LEVEL_RED), "red") == 0);
    CHECK(strcmp(airisk_level_str(5), "unknown level") == 0);
    CHECK(strcmp(airisk_level_str(UINT32_MAX), "unknown level") == 0);
    CHECK(strcmp(airisk_action_str(AIRISK_ACTION_LOG), "log") == 0);
    CHECK(strcmp(airisk_action_str(AIRISK_ACTION_PUBLIC_NOTICE), "public_notice") == 0);
    CHECK(strcmp(airisk_action_str(AIRISK_ACTION_REPORT_REGULATOR), "report_regulator") == 0);
    CHECK(strcmp(airisk_action_str(0), "unknown action") == 0);
    CHECK(strcmp(airisk_action_str(3), "unknown action") == 0);
    CHECK(strcmp(airisk_action_str(256), "unknown action") == 0);

    const char *events[] = {"opened",   "escalated", "acknowledged", "report_filed",
                            "overdue",  "resolved",  "reopened",     "closed"};
    const uint32_t codes[] = {AIRISK_INCIDENT_OPENED,       AIRISK_INCIDENT_ESCALATED,
                              AIRISK_INCIDENT_ACKNOWLEDGED, AIRISK_INCIDENT_REPORT_FILED,
                              AIRISK_INCIDENT_OVERDUE,      AIRISK_INCIDENT_RESOLVED,
                              AIRISK_INCIDENT_REOPENED,     AIRISK_INCIDENT_CLOSED};
    for (size_t i = 0; i < 8; i++) {
        CHECK(codes[i] == i + 1);
        CHECK(strcmp(airisk_incident_event_str(codes[i]), events[i]) == 0);
    }
    CHECK(strcmp(airisk_incident_event_str(0), "unknown event") == 0);
    CHECK(strcmp(airisk_incident_event_str(9), "unknown event") == 0);
    CHECK(strcmp(airisk_report_str(AIRISK_REPORT_NONE), "none") == 0);
    CHECK(strcmp(airisk_report_str(AIRISK_REPORT_INITIAL), "initial") == 0);
    CHECK(strcmp(airisk_report_str(AIRISK_REPORT_UPDATE), "update") == 0);
    CHECK(strcmp(airisk_report_str(AIRISK_REPORT_FINAL), "final") == 0);
    CHECK(strcmp(airisk_report_str(AIRISK_DUE_ACK), "ack") == 0);
    CHECK(strcmp(airisk_report_str(5), "unknown report") == 0);
    /* Report and due kinds share their values. */
    CHECK(AIRISK_DUE_NONE == AIRISK_REPORT_NONE && AIRISK_DUE_INITIAL == AIRISK_REPORT_INITIAL);
    CHECK(AIRISK_DUE_UPDATE == AIRISK_REPORT_UPDATE && AIRISK_DUE_FINAL == AIRISK_REPORT_FINAL);
    CHECK(AIRISK_NO_LEVEL == UINT32_MAX && AIRISK_NO_RULE == UINT32_MAX);
}

/* Must run first: no call on this thread has failed yet. */
static void test_last_error_initially_empty(void) {
    char buf[8];
    memset(buf, 'x', sizeof buf);
    CHECK(airisk_last_error(NULL, 0) == 0);
    CHECK(airisk_last_error(buf, sizeof buf) == 0);
    CHECK(buf[0] == '\0');
    CHECK(buf[1] == 'x');
}

static void test_last_error_buffer(void) {
    airisk_engine *out = (airisk_engine *)&out; /* sentinel */
    CHECK_STATUS(AIRISK_ERR_JSON, airisk_engine_new("{", 1, &out));
    CHECK(out == (airisk_engine *)&out);
    size_t n = airisk_last_error(NULL, 0);
    CHECK(n > 10);
    char full[1024];
    CHECK(airisk_last_error(full, sizeof full) == n);
    CHECK(strlen(full) == n);
    CHECK(strstr(full, "JSON") != NULL);

    /* cap 0: nothing written, even with a buffer. */
    char small[8];
    memset(small, 'x', sizeof small);
    CHECK(airisk_last_error(small, 0) == n);
    CHECK(small[0] == 'x');
    /* cap 1: only the NUL. */
    CHECK(airisk_last_error(small, 1) == n);
    CHECK(small[0] == '\0' && small[1] == 'x');
    /* cap 5: 4 bytes and the NUL; nothing past cap. */
    memset(small, 'x', sizeof small);
    CHECK(airisk_last_error(small, 5) == n);
    CHECK(strlen(small) == 4);
    CHECK(strncmp(small, full, 4) == 0);
    CHECK(small[5] == 'x');
    /* NULL buffer with a non-zero cap: nothing written, length returned. */
    CHECK(airisk_last_error(NULL, 100) == n);

    /* A successful call does not clear the detail (like errno). */
    CHECK(airisk_abi_version() == AIRISK_ABI_VERSION);
    airisk_engine *e = NULL;
    CHECK_OK(airisk_engine_new_default(&e));
    CHECK(airisk_last_error(NULL, 0) == n);
    airisk_engine_free(e);
}

static void test_engine_new(void) {
    airisk_engine *const sentinel = (airisk_engine *)&sentinel;
    airisk_engine *out = sentinel;

    CHECK_STATUS(AIRISK_ERR_NULL, airisk_engine_new(NULL, 10, &out));
    CHECK(out == sentinel);
    CHECK_DETAIL_HAS("policy_json");
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_engine_new(NULL, 0, &out));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_engine_new(TEST_POLICY, strlen(TEST_POLICY), NULL));
    CHECK_DETAIL_HAS("out");
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_engine_new_default(NULL));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_engine_new_with_capacity(NULL, 0, 10, &out));
    CHECK_STATUS(AIRISK_ERR_NULL,
                 airisk_engine_new_with_capacity(TEST_POLICY, strlen(TEST_POLICY), 10, NULL));
    CHECK(out == sentinel);

    /* Invalid UTF-8. */
    const char bad[] = "{\"schema\": 1, \"name\": \"\xff\xfe\"}";
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_engine_new(bad, strlen(bad), &out));
    CHECK_DETAIL_HAS("UTF-8");
    CHECK(out == sentinel);

    /* Malformed JSON, with line and column. */
    const char malformed[] = "{\"schema\": 1,\n \"grades\": [}";
    CHECK_STATUS(AIRISK_ERR_JSON, airisk_engine_new(malformed, strlen(malformed), &out));
    CHECK_DETAIL_HAS("line 2");
    CHECK_STATUS(AIRISK_ERR_JSON, airisk_engine_new("", 0, &out));
    /* Duplicate keys are malformed. */
    const char dup[] = "{\"schema\": 1, \"schema\": 1}";
    CHECK_STATUS(AIRISK_ERR_JSON, airisk_engine_new(dup, strlen(dup), &out));
    CHECK(out == sentinel);

    /* Parses, fails validation: thresholds decrease. The detail names the JSON path. */
    char invalid[sizeof TEST_POLICY + 16];
    strcpy(invalid, TEST_POLICY);
    char *p = strstr(invalid, "\"high\": [1, 2, 3, 4]");
    CHECK(p != NULL);
    if (p) {
        memcpy(p, "\"high\": [4, 3, 2, 1]", strlen("\"high\": [4, 3, 2, 1]"));
    }
    CHECK_STATUS(AIRISK_ERR_POLICY, airisk_engine_new(invalid, strlen(invalid), &out));
    CHECK_DETAIL_HAS("rules[0].thresholds.high");
    CHECK_DETAIL_HAS("must not decrease");
    CHECK(out == sentinel);
    /* An unknown field anywhere is a policy error naming its path. */
    const char unknown_field[] = "{\"schema\": 1, \"colour\": \"red\"}";
    CHECK_STATUS(AIRISK_ERR_POLICY,
                 airisk_engine_new(unknown_field, strlen(unknown_field), &out));
    CHECK_DETAIL_HAS("colour");
    /* The length is honoured: a valid policy followed by garbage beyond len. */
    char padded[sizeof TEST_POLICY + 8];
    memcpy(padded, TEST_POLICY, sizeof TEST_POLICY - 1);
    memcpy(padded + sizeof TEST_POLICY - 1, "garbage", 8);
    airisk_engine *e = NULL;
    CHECK_OK(airisk_engine_new(padded, sizeof TEST_POLICY - 1, &e));
    CHECK(e != NULL);
    airisk_engine_free(e);
    /* Too large: limit. */
    size_t huge = (size_t)5 << 20;
    char *big = malloc(huge);
    if (big) {
        memset(big, ' ', huge);
        big[0] = '{';
        big[huge - 1] = '}';
        CHECK_STATUS(AIRISK_ERR_LIMIT, airisk_engine_new(big, huge, &out));
        CHECK(out == sentinel);
        free(big);
    }

    airisk_engine_free(NULL); /* no-op */
}

static void test_null_pointers(airisk_engine *e) {
    uint32_t u = SENTINEL_U32;
    size_t sz = SENTINEL_SIZE;
    airisk_level lvl = SENTINEL_U32;
    airisk_classification cls = {SENTINEL_U32, -7, NULL, true, NULL, NULL};
    airisk_stats st0, st;
    char buf[64] = "untouched";
    airisk_transition tr[2];
    airisk_observation ob = {0, 0, 1.0, T};

    CHECK_OK(airisk_engine_stats(e, &st0));

    /* airisk_classify */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_classify(NULL, BOT, strlen(BOT), &cls));
    CHECK_DETAIL_HAS("`e`");
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_classify(e, NULL, strlen(BOT), &cls));
    CHECK_DETAIL_HAS("profile_json");
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_classify(e, BOT, strlen(BOT), NULL));
    CHECK(cls.grade == SENTINEL_U32 && cls.score == -7 && cls.grade_id == NULL);
    CHECK(cls.prohibited && cls.prohibited_id == NULL);

    /* airisk_classify_explain */
    CHECK_STATUS(AIRISK_ERR_NULL,
                 airisk_classify_explain(NULL, BOT, strlen(BOT), buf, sizeof buf, &sz));
    CHECK_STATUS(AIRISK_ERR_NULL,
                 airisk_classify_explain(e, NULL, strlen(BOT), buf, sizeof buf, &sz));
    CHECK_STATUS(AIRISK_ERR_NULL,
                 airisk_classify_explain(e, BOT, strlen(BOT), buf, sizeof buf, NULL));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_classify_explain(e, BOT, strlen(BOT), NULL, 10, &sz));
    CHECK_DETAIL_HAS("buf");
    CHECK(sz == SENTINEL_SIZE && strcmp(buf, "untouched") == 0);

    /* airisk_register: nothing is registered when a pointer is NULL. */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_register(NULL, BOT, strlen(BOT), &u));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_register(e, NULL, strlen(BOT), &u));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_register(e, BOT, strlen(BOT), NULL));
    CHECK_DETAIL_HAS("out_system");
    CHECK(u == SENTINEL_U32);

    /* airisk_deregister */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_deregister(NULL, 0));

    /* airisk_system_lookup */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_system_lookup(NULL, "bot", 3, &u));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_system_lookup(e, NULL, 3, &u));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_system_lookup(e, "bot", 3, NULL));

    /* airisk_signal */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_signal(NULL, "k", 1, &u));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_signal(e, NULL, 1, &u));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_signal(e, NULL, 0, &u));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_signal(e, "k", 1, NULL));
    CHECK(u == SENTINEL_U32);

    /* airisk_observe */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_observe(NULL, 0, 1, 1.0, T, &lvl));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_observe(e, 0, 1, 1.0, T, NULL));
    CHECK_DETAIL_HAS("out_level");

    /* airisk_observe_named */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_observe_named(NULL, "bot", 3, "k", 1, 1.0, T, &lvl));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_observe_named(e, NULL, 3, "k", 1, 1.0, T, &lvl));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_observe_named(e, "bot", 3, NULL, 1, 1.0, T, &lvl));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_observe_named(e, "bot", 3, "k", 1, 1.0, T, NULL));
    CHECK(lvl == SENTINEL_U32);

    /* airisk_observe_batch: obs may be NULL only when n is 0. */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_observe_batch(NULL, &ob, 1, &sz));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_observe_batch(e, NULL, 1, &sz));
    CHECK_DETAIL_HAS("obs");
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_observe_batch(e, &ob, 1, NULL));
    CHECK(sz == SENTINEL_SIZE);
    CHECK_OK(airisk_observe_batch(e, NULL, 0, &sz));
    CHECK(sz == 0);
    sz = SENTINEL_SIZE;

    /* airisk_tick */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_tick(NULL, T));

    /* airisk_poll: out may be NULL only when cap is 0. */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_poll(NULL, tr, 2, &sz));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_poll(e, NULL, 2, &sz));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_poll(e, tr, 2, NULL));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_poll(e, NULL, 0, NULL));
    CHECK(sz == SENTINEL_SIZE);

    /* airisk_set_callback: a NULL callback is allowed (returns to the queue). */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_set_callback(NULL, NULL, NULL));
    CHECK_OK(airisk_set_callback(e, NULL, NULL));

    /* airisk_system_level */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_system_level(NULL, 0, &lvl));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_system_level(e, 0, NULL));
    CHECK(lvl == SENTINEL_U32);

    /* airisk_engine_stats */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_engine_stats(NULL, &st));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_engine_stats(e, NULL));

    /* airisk_update_profile */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_update_profile(NULL, 0, BOT, strlen(BOT), &cls));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_update_profile(e, 0, NULL, strlen(BOT), &cls));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_update_profile(e, 0, BOT, strlen(BOT), NULL));
    CHECK(cls.grade == SENTINEL_U32 && cls.score == -7 && cls.grade_id == NULL);

    /* airisk_rule_levels: out may be NULL only when cap is 0. */
    airisk_rule_level rl[2] = {{SENTINEL_U32, SENTINEL_U32, NULL}, {0, 0, NULL}};
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_rule_levels(NULL, 0, rl, 2, &sz));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_rule_levels(e, 0, NULL, 2, &sz));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_rule_levels(e, 0, rl, 2, NULL));
    CHECK(sz == SENTINEL_SIZE && rl[0].rule == SENTINEL_U32);

    /* airisk_journal_sync, airisk_journal_close */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_journal_sync(NULL));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_journal_close(NULL));

    /* airisk_snapshot_system, airisk_restore_system */
    unsigned char bytes[8] = {0};
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_snapshot_system(NULL, 0, bytes, 8, &sz));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_snapshot_system(e, 0, NULL, 8, &sz));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_snapshot_system(e, 0, bytes, 8, NULL));
    CHECK(sz == SENTINEL_SIZE);
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_restore_system(NULL, bytes, 8, &u));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_restore_system(e, NULL, 8, &u));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_restore_system(e, NULL, 0, &u));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_restore_system(e, bytes, 8, NULL));
    CHECK(u == SENTINEL_U32);

    /* airisk_poll_incidents: out may be NULL only when cap is 0. */
    airisk_incident_event ev[2];
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_poll_incidents(NULL, ev, 2, &sz));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_poll_incidents(e, NULL, 2, &sz));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_poll_incidents(e, ev, 2, NULL));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_poll_incidents(e, NULL, 0, NULL));
    CHECK(sz == SENTINEL_SIZE);
    CHECK_OK(airisk_poll_incidents(e, NULL, 0, &sz));
    CHECK(sz == 0);
    sz = SENTINEL_SIZE;

    /* airisk_set_incident_callback: a NULL callback is allowed (returns to the queue). */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_set_incident_callback(NULL, NULL, NULL));
    CHECK_OK(airisk_set_incident_callback(e, NULL, NULL));

    /* airisk_acknowledge, airisk_file_report: every string is required (may be empty). */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_acknowledge(NULL, "x/c/1", 5, T, "me", 2));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_acknowledge(e, NULL, 5, T, "me", 2));
    CHECK_DETAIL_HAS("incident");
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_acknowledge(e, "x/c/1", 5, T, NULL, 0));
    CHECK_DETAIL_HAS("`by`");
    CHECK_STATUS(AIRISK_ERR_NULL,
                 airisk_file_report(NULL, "x/c/1", 5, AIRISK_REPORT_INITIAL, T, "r", 1));
    CHECK_STATUS(AIRISK_ERR_NULL,
                 airisk_file_report(e, NULL, 5, AIRISK_REPORT_INITIAL, T, "r", 1));
    CHECK_STATUS(AIRISK_ERR_NULL,
                 airisk_file_report(e, "x/c/1", 5, AIRISK_REPORT_INITIAL, T, NULL, 0));
    CHECK_DETAIL_HAS("reference");

    /* Nothing above changed the engine. */
    CHECK_OK(airisk_engine_stats(e, &st));
    CHECK(memcmp(&st, &st0, sizeof st) == 0);
}

static void test_utf8(airisk_engine *e) {
    uint32_t u = SENTINEL_U32;
    airisk_level lvl = SENTINEL_U32;
    airisk_classification cls = {SENTINEL_U32, -7, NULL, true, NULL, NULL};
    size_t sz = SENTINEL_SIZE;
    char buf[64];
    const char bad[] = "k\x80";
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_register(e, BAD_UTF8, strlen(BAD_UTF8), &u));
    CHECK_DETAIL_HAS("profile_json");
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_classify(e, BAD_UTF8, strlen(BAD_UTF8), &cls));
    CHECK_STATUS(AIRISK_ERR_UTF8,
                 airisk_classify_explain(e, BAD_UTF8, strlen(BAD_UTF8), buf, sizeof buf, &sz));
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_signal(e, bad, 2, &u));
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_system_lookup(e, bad, 2, &u));
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_observe_named(e, bad, 2, "k", 1, 1.0, T, &lvl));
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_observe_named(e, "bot", 3, bad, 2, 1.0, T, &lvl));
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_update_profile(e, 0, BAD_UTF8, strlen(BAD_UTF8), &cls));
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_acknowledge(e, bad, 2, T, "me", 2));
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_acknowledge(e, "bot/c/1", 7, T, bad, 2));
    CHECK_STATUS(AIRISK_ERR_UTF8,
                 airisk_file_report(e, bad, 2, AIRISK_REPORT_INITIAL, T, "r", 1));
    CHECK_STATUS(AIRISK_ERR_UTF8,
                 airisk_file_report(e, "bot/c/1", 7, AIRISK_REPORT_INITIAL, T, bad, 2));
    CHECK(u == SENTINEL_U32 && lvl == SENTINEL_U32 && sz == SENTINEL_SIZE);
    CHECK(cls.grade == SENTINEL_U32 && cls.grade_id == NULL);
    /* A truncated multi-byte sequence at the end of the given length. */
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_signal(e, "\xe4\xb8", 2, &u));
    /* Strings are (pointer, length): the NUL is an ordinary byte, "k\0" is not "k". */
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SIGNAL, airisk_signal(e, "k\0", 2, &u));
    CHECK_OK(airisk_signal(e, "kx", 1, &u));
    CHECK(u == 1);
}

static void test_profiles(airisk_engine *e) {
    uint32_t u = SENTINEL_U32;
    airisk_classification cls = {SENTINEL_U32, -7, NULL, true, NULL, NULL};
    const char missing[] = "{\"id\": \"x\", \"data\": \"public\", \"autonomy\": \"hitl\","
                           " \"users\": 1}";
    CHECK_STATUS(AIRISK_ERR_PROFILE, airisk_register(e, missing, strlen(missing), &u));
    CHECK_DETAIL_HAS("sector");
    const char unknown_sector[] = "{\"id\": \"x\", \"sector\": \"casino\", \"data\": \"public\","
                                  " \"autonomy\": \"hitl\", \"users\": 1}";
    CHECK_STATUS(AIRISK_ERR_PROFILE,
                 airisk_classify(e, unknown_sector, strlen(unknown_sector), &cls));
    CHECK_DETAIL_HAS("sector");
    CHECK_DETAIL_HAS("casino");
    const char extra[] = "{\"id\": \"x\", \"sector\": \"s0\", \"data\": \"public\","
                         " \"autonomy\": \"hitl\", \"users\": 1, \"colour\": 1}";
    CHECK_STATUS(AIRISK_ERR_PROFILE, airisk_register(e, extra, strlen(extra), &u));
    CHECK_DETAIL_HAS("colour");
    const char bad_id[] = "{\"id\": \"\", \"sector\": \"s0\", \"data\": \"public\","
                          " \"autonomy\": \"hitl\", \"users\": 1}";
    CHECK_STATUS(AIRISK_ERR_PROFILE, airisk_register(e, bad_id, strlen(bad_id), &u));
    CHECK_DETAIL_HAS("id");
    CHECK_STATUS(AIRISK_ERR_JSON, airisk_register(e, "{\"id\":", 6, &u));
    CHECK_STATUS(AIRISK_ERR_JSON, airisk_register(e, "", 0, &u));
    CHECK(u == SENTINEL_U32);
    CHECK(cls.grade == SENTINEL_U32 && cls.score == -7 && cls.grade_id == NULL);

    CHECK_OK(airisk_classify(e, BOT, strlen(BOT), &cls));
    CHECK(cls.grade == 0 && cls.score == 0 && strcmp(cls.grade_id, "low") == 0);
    CHECK_OK(airisk_classify(e, BIG, strlen(BIG), &cls));
    CHECK(cls.grade == 1 && cls.score == 9 && strcmp(cls.grade_id, "high") == 0);
}

static void test_classify_explain(airisk_engine *e) {
    size_t len = SENTINEL_SIZE;
    /* Size query: cap 0, buf NULL. */
    CHECK_STATUS(AIRISK_ERR_BUFFER, airisk_classify_explain(e, BIG, strlen(BIG), NULL, 0, &len));
    CHECK(len != SENTINEL_SIZE && len > 20);
    CHECK_DETAIL_HAS("bytes");
    /* cap == len is one short (the NUL): BUFFER, buffer untouched. */
    char *buf = malloc(len + 1);
    if (!buf) {
        CHECK(0);
        return;
    }
    memset(buf, 'x', len + 1);
    size_t need = len;
    len = SENTINEL_SIZE;
    CHECK_STATUS(AIRISK_ERR_BUFFER, airisk_classify_explain(e, BIG, strlen(BIG), buf, need, &len));
    CHECK(len == need);
    CHECK(buf[0] == 'x' && buf[need] == 'x');
    /* Enough room. */
    len = SENTINEL_SIZE;
    CHECK_OK(airisk_classify_explain(e, BIG, strlen(BIG), buf, need + 1, &len));
    CHECK(len == need && strlen(buf) == need);
    CHECK(buf[0] == '{' && buf[need - 1] == '}');
    CHECK(strstr(buf, "\"grade\":\"high\"") != NULL);
    CHECK(strstr(buf, "\"score\":9") != NULL);
    CHECK(strstr(buf, "\"factors\"") != NULL);
    CHECK(strstr(buf, "\"s9\"") != NULL);
    free(buf);
    /* Errors other than BUFFER leave out_len alone. */
    len = SENTINEL_SIZE;
    CHECK_STATUS(AIRISK_ERR_JSON, airisk_classify_explain(e, "{", 1, NULL, 0, &len));
    CHECK(len == SENTINEL_SIZE);
}

static void test_unknown_handles(airisk_engine *e, uint32_t bot) {
    airisk_level lvl = SENTINEL_U32;
    uint32_t u = SENTINEL_U32;
    airisk_stats before, after;
    CHECK_OK(airisk_engine_stats(e, &before));
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM, airisk_observe(e, 999, 1, 1.0, T, &lvl));
    CHECK_DETAIL_HAS("999");
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM, airisk_observe(e, UINT32_MAX, 1, 1.0, T, &lvl));
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SIGNAL, airisk_observe(e, bot, 3, 1.0, T, &lvl));
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SIGNAL, airisk_observe(e, bot, UINT32_MAX, 1.0, T, &lvl));
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM, airisk_system_level(e, 999, &lvl));
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM, airisk_deregister(e, 999));
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM,
                 airisk_observe_named(e, "nobody", 6, "k", 1, 1.0, T, &lvl));
    CHECK_DETAIL_HAS("nobody");
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SIGNAL,
                 airisk_observe_named(e, "bot", 3, "nothing", 7, 1.0, T, &lvl));
    CHECK_DETAIL_HAS("nothing");
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SIGNAL, airisk_signal(e, "nothing", 7, &u));
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM, airisk_system_lookup(e, "nobody", 6, &u));
    CHECK(lvl == SENTINEL_U32 && u == SENTINEL_U32);
    airisk_classification cls = {SENTINEL_U32, -7, NULL, true, NULL, NULL};
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM, airisk_update_profile(e, 999, BOT, strlen(BOT), &cls));
    CHECK(cls.grade == SENTINEL_U32 && cls.score == -7);
    airisk_rule_level rl[2];
    size_t n = SENTINEL_SIZE;
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM, airisk_rule_levels(e, 999, rl, 2, &n));
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM, airisk_rule_levels(e, 999, NULL, 0, &n));
    unsigned char buf[8];
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM, airisk_snapshot_system(e, 999, buf, 8, &n));
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM, airisk_snapshot_system(e, 999, NULL, 0, &n));
    CHECK(n == SENTINEL_SIZE);
    /* No incidents under a policy without an incidents section. */
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_INCIDENT, airisk_acknowledge(e, "bot/c1/1", 8, T, "me", 2));
    CHECK_DETAIL_HAS("bot/c1/1");
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_INCIDENT,
                 airisk_file_report(e, "bot/c1/1", 8, AIRISK_REPORT_INITIAL, T, "", 0));
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_INCIDENT,
                 airisk_acknowledge(e, "nobody/c1/1", 11, T, "me", 2));
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_INCIDENT, airisk_acknowledge(e, "", 0, T, "", 0));
    /* An unknown report kind is an invalid argument, whatever the incident. */
    CHECK_STATUS(AIRISK_ERR_INVALID_ARGUMENT,
                 airisk_file_report(e, "bot/c1/1", 8, AIRISK_REPORT_NONE, T, "", 0));
    CHECK_DETAIL_HAS("kind");
    CHECK_STATUS(AIRISK_ERR_INVALID_ARGUMENT,
                 airisk_file_report(e, "bot/c1/1", 8, AIRISK_DUE_ACK, T, "", 0));
    CHECK_STATUS(AIRISK_ERR_INVALID_ARGUMENT,
                 airisk_file_report(e, "bot/c1/1", 8, UINT32_MAX, T, "", 0));
    CHECK_OK(airisk_engine_stats(e, &after));
    CHECK(after.rejected_invalid == before.rejected_invalid + 4);
    CHECK(after.observed == before.observed);

    CHECK_OK(airisk_system_lookup(e, "bot", 3, &u));
    CHECK(u == bot);
}

static void test_values(airisk_engine *e, uint32_t bot) {
    uint32_t k = SENTINEL_U32, g = SENTINEL_U32;
    airisk_level lvl = SENTINEL_U32;
    airisk_stats before, after;
    CHECK_OK(airisk_signal(e, "k", 1, &k));
    CHECK_OK(airisk_signal(e, "g", 1, &g));
    CHECK(k == 1 && g == 2);
    CHECK_OK(airisk_engine_stats(e, &before));
    CHECK_STATUS(AIRISK_ERR_VALUE, airisk_observe(e, bot, k, NAN, T, &lvl));
    CHECK_DETAIL_HAS("not finite");
    CHECK_STATUS(AIRISK_ERR_VALUE, airisk_observe(e, bot, k, INFINITY, T, &lvl));
    CHECK_STATUS(AIRISK_ERR_VALUE, airisk_observe(e, bot, k, -INFINITY, T, &lvl));
    CHECK_STATUS(AIRISK_ERR_VALUE, airisk_observe(e, bot, g, NAN, T, &lvl));
    CHECK_STATUS(AIRISK_ERR_VALUE, airisk_observe(e, bot, k, -1.0, T, &lvl));
    CHECK_DETAIL_HAS("counter");
    CHECK_STATUS(AIRISK_ERR_VALUE, airisk_observe(e, bot, k, 1.0, INT64_MIN, &lvl));
    CHECK_STATUS(AIRISK_ERR_VALUE, airisk_observe_named(e, "bot", 3, "k", 1, -0.5, T, &lvl));
    CHECK(lvl == SENTINEL_U32);
    CHECK_OK(airisk_engine_stats(e, &after));
    CHECK(after.rejected_invalid == before.rejected_invalid + 7);
    CHECK(after.observed == before.observed);
    /* A gauge may be negative. */
    CHECK_OK(airisk_observe(e, bot, g, -3.5, T, &lvl));
    CHECK(lvl == AIRISK_LEVEL_NONE);
}

static void test_stale(airisk_engine *e) {
    uint32_t s = test_register(e, "{\"id\": \"stale\", \"sector\": \"s0\", \"data\": \"public\","
                                  " \"autonomy\": \"hitl\", \"users\": 1}");
    airisk_level lvl = SENTINEL_U32;
    airisk_stats before, after;
    /* k keeps 10 buckets of 1 s. The watermark goes to 100 s. */
    CHECK_OK(airisk_observe(e, s, 0, 1.0, 100000, &lvl));
    CHECK_OK(airisk_engine_stats(e, &before));
    lvl = SENTINEL_U32;
    CHECK_STATUS(AIRISK_ERR_STALE, airisk_observe(e, s, 1, 0.0, 90000, &lvl));
    CHECK_DETAIL_HAS("stale");
    CHECK_STATUS(AIRISK_ERR_STALE, airisk_observe(e, s, 1, 0.0, -5, &lvl));
    CHECK(lvl == SENTINEL_U32);
    CHECK_OK(airisk_engine_stats(e, &after));
    CHECK(after.rejected_stale == before.rejected_stale + 2);
    /* Late but inside the ring: accepted. */
    CHECK_OK(airisk_observe(e, s, 1, 0.0, 91000, &lvl));
    /* In a batch, the stale one is skipped, the others applied. */
    airisk_observation obs[3] = {{s, 1, 0.0, 95000}, {s, 1, 0.0, 1000}, {s, 1, 0.0, 96000}};
    size_t accepted = SENTINEL_SIZE;
    CHECK_OK(airisk_observe_batch(e, obs, 3, &accepted));
    CHECK(accepted == 2);
    CHECK_DETAIL_HAS("obs[1]");
    CHECK_DETAIL_HAS("stale");
    CHECK_OK(airisk_deregister(e, s));
}

static void test_duplicate(airisk_engine *e) {
    const char p[] = "{\"id\": \"dup\", \"sector\": \"s0\", \"data\": \"public\","
                     " \"autonomy\": \"hitl\", \"users\": 1}";
    uint32_t a = test_register(e, p);
    uint32_t b = SENTINEL_U32;
    airisk_stats st;
    CHECK_OK(airisk_engine_stats(e, &st));
    uint64_t systems = st.systems;
    CHECK_STATUS(AIRISK_ERR_DUPLICATE, airisk_register(e, p, strlen(p), &b));
    CHECK_DETAIL_HAS("dup");
    CHECK(b == SENTINEL_U32);
    CHECK_OK(airisk_engine_stats(e, &st));
    CHECK(st.systems == systems);
    /* Deregistered: its handle is dead, its id free again (under a new handle). */
    CHECK_OK(airisk_deregister(e, a));
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM, airisk_deregister(e, a));
    airisk_level lvl;
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM, airisk_observe(e, a, 1, 1.0, T, &lvl));
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM, airisk_system_level(e, a, &lvl));
    b = test_register(e, p);
    CHECK(b != a && b != SENTINEL_U32);
    CHECK_OK(airisk_deregister(e, b));
}

/* airisk_update_profile and airisk_rule_levels. */
static void test_update_profile_and_rule_levels(void) {
    airisk_engine *e = test_engine();
    if (!e) {
        CHECK(0);
        return;
    }
    uint32_t bot = test_register(e, BOT);
    airisk_level lvl;
    CHECK_OK(airisk_observe(e, bot, 2, 12.0, T, &lvl)); /* g-max: blue for low */
    CHECK(lvl == AIRISK_LEVEL_BLUE);

    /* Buffer conventions: size query, too small (nothing written), enough. */
    airisk_rule_level rl[3];
    memset(rl, 0xAB, sizeof rl);
    size_t n = SENTINEL_SIZE;
    CHECK_STATUS(AIRISK_ERR_BUFFER, airisk_rule_levels(e, bot, NULL, 0, &n));
    CHECK(n == 2);
    CHECK_DETAIL_HAS("2 rules");
    n = SENTINEL_SIZE;
    CHECK_STATUS(AIRISK_ERR_BUFFER, airisk_rule_levels(e, bot, rl, 1, &n));
    CHECK(n == 2 && rl[0].rule == 0xABABABABu);
    CHECK_OK(airisk_rule_levels(e, bot, rl, 3, &n));
    CHECK(n == 2);
    CHECK(rl[0].rule == 0 && rl[0].level == AIRISK_LEVEL_NONE && strcmp(rl[0].rule_id, "k-sum") == 0);
    CHECK(rl[1].rule == 1 && rl[1].level == AIRISK_LEVEL_BLUE &&
          strcmp(rl[1].rule_id, "g-max") == 0);
    CHECK(rl[2].rule == 0xABABABABu);

    /* A new profile: grade high, whose g-max thresholds are lower. Rule states are kept
     * until the next evaluation. */
    airisk_classification c = {SENTINEL_U32, -7, NULL, true, NULL, NULL};
    const char up[] = "{\"id\": \"bot\", \"sector\": \"s9\", \"data\": \"public\","
                      " \"autonomy\": \"hitl\", \"users\": 10}";
    CHECK_OK(airisk_update_profile(e, bot, up, strlen(up), &c));
    CHECK(c.grade == 1 && c.score == 9 && strcmp(c.grade_id, "high") == 0);
    CHECK(!c.prohibited && c.prohibited_id == NULL && c.prohibited_basis == NULL);
    CHECK_OK(airisk_system_level(e, bot, &lvl));
    CHECK(lvl == AIRISK_LEVEL_BLUE);
    CHECK_OK(airisk_observe(e, bot, 2, 12.0, T + 1, &lvl)); /* high: 12 >= 10 is yellow */
    CHECK(lvl == AIRISK_LEVEL_YELLOW);
    airisk_transition tr[8];
    CHECK_OK(airisk_poll(e, tr, 8, &n));
    CHECK(n >= 3 && strcmp(tr[n - 1].grade_id, "high") == 0);

    /* Refusals change nothing: another id, a profile error, malformed JSON. */
    c.grade = SENTINEL_U32;
    const char other[] = "{\"id\": \"other\", \"sector\": \"s0\", \"data\": \"public\","
                         " \"autonomy\": \"hitl\", \"users\": 10}";
    CHECK_STATUS(AIRISK_ERR_PROFILE, airisk_update_profile(e, bot, other, strlen(other), &c));
    CHECK_DETAIL_HAS("id");
    CHECK_STATUS(AIRISK_ERR_PROFILE, airisk_update_profile(e, bot, "{\"id\": 1}", 9, &c));
    CHECK_STATUS(AIRISK_ERR_JSON, airisk_update_profile(e, bot, "{", 1, &c));
    CHECK(c.grade == SENTINEL_U32);
    CHECK_OK(airisk_classify(e, up, strlen(up), &c));
    CHECK(c.grade == 1);
    airisk_engine_free(e);
}

static void test_poll_and_transitions(void) {
    airisk_engine *e = test_engine();
    if (!e) {
        CHECK(0);
        return;
    }
    uint32_t bot = test_register(e, BOT);
    airisk_transition tr[4];
    size_t n = SENTINEL_SIZE;

    /* cap 0: out may be NULL; nothing is dequeued. */
    CHECK_OK(airisk_poll(e, NULL, 0, &n));
    CHECK(n == 0);

    airisk_level lvl = SENTINEL_U32;
    CHECK_OK(airisk_observe(e, bot, 1, 1.0, T, &lvl)); /* k-sum: none -> blue, + system */
    CHECK(lvl == AIRISK_LEVEL_BLUE);
    n = SENTINEL_SIZE;
    CHECK_OK(airisk_poll(e, NULL, 0, &n));
    CHECK(n == 0);
    n = SENTINEL_SIZE;
    CHECK_OK(airisk_poll(e, tr, 0, &n));
    CHECK(n == 0);

    memset(tr, 0, sizeof tr);
    CHECK_OK(airisk_poll(e, tr, 1, &n));
    CHECK(n == 1);
    CHECK(tr[0].seq == 1);
    CHECK(tr[0].ts_ms == T);
    CHECK(tr[0].system == bot);
    CHECK(tr[0].rule == 0);
    CHECK(tr[0].from == AIRISK_LEVEL_NONE && tr[0].to == AIRISK_LEVEL_BLUE);
    CHECK(tr[0].grade == 0);
    CHECK(tr[0].value == 1.0 && tr[0].threshold == 1.0);
    CHECK(tr[0].actions == AIRISK_ACTION_LOG);
    CHECK(tr[0].report_within_s == -1);
    CHECK(tr[0].system_id && strcmp(tr[0].system_id, "bot") == 0);
    CHECK(tr[0].rule_id && strcmp(tr[0].rule_id, "k-sum") == 0);
    CHECK(tr[0].category && strcmp(tr[0].category, "c1") == 0);
    CHECK(tr[0].basis && strcmp(tr[0].basis, "B1") == 0);
    CHECK(tr[0].grade_id && strcmp(tr[0].grade_id, "low") == 0);
    /* The test policy names nothing: every display name is NULL. */
    CHECK(tr[0].grade_name_zh == NULL && tr[0].grade_name_en == NULL);
    CHECK(tr[0].rule_name_zh == NULL && tr[0].rule_name_en == NULL);
    CHECK(tr[0].category_name_zh == NULL && tr[0].category_name_en == NULL);

    CHECK_OK(airisk_poll(e, tr, 4, &n));
    CHECK(n == 1);
    CHECK(tr[0].seq == 2);
    CHECK(tr[0].rule == AIRISK_NO_RULE);
    CHECK(tr[0].rule_id == NULL && tr[0].category == NULL && tr[0].basis == NULL);
    CHECK(isnan(tr[0].value) && isnan(tr[0].threshold));
    CHECK(tr[0].from == AIRISK_LEVEL_NONE && tr[0].to == AIRISK_LEVEL_BLUE);
    CHECK(strcmp(tr[0].system_id, "bot") == 0 && strcmp(tr[0].grade_id, "low") == 0);
    const char *system_id = tr[0].system_id;

    CHECK_OK(airisk_poll(e, tr, 4, &n));
    CHECK(n == 0);

    /* Yellow: its response. A gauge rule without basis has basis NULL. */
    CHECK_OK(airisk_observe(e, bot, 1, 1.0, T + 1, &lvl));
    CHECK(lvl == AIRISK_LEVEL_YELLOW);
    CHECK_OK(airisk_observe(e, bot, 2, 25.0, T + 2, &lvl)); /* g-max: none -> yellow */
    CHECK_OK(airisk_poll(e, tr, 4, &n));
    CHECK(n == 3);
    CHECK(tr[0].seq == 3 && tr[1].seq == 4 && tr[2].seq == 5);
    CHECK(tr[0].to == AIRISK_LEVEL_YELLOW && tr[0].rule == 0);
    CHECK(tr[0].actions == (AIRISK_ACTION_LOG | AIRISK_ACTION_NOTIFY_OPERATOR));
    CHECK(tr[0].report_within_s == 14400);
    CHECK(tr[1].rule == AIRISK_NO_RULE && tr[1].to == AIRISK_LEVEL_YELLOW);
    CHECK(tr[2].rule == 1 && strcmp(tr[2].rule_id, "g-max") == 0);
    CHECK(strcmp(tr[2].category, "c2") == 0 && tr[2].basis == NULL);
    CHECK(tr[2].value == 25.0 && tr[2].threshold == 20.0);

    /* tick: the window empties, levels fall; a change to none carries no actions. */
    CHECK_OK(airisk_tick(e, T + 60000));
    CHECK_OK(airisk_poll(e, tr, 4, &n));
    CHECK(n >= 2);
    for (size_t i = 0; i < n; i++) {
        CHECK(tr[i].to == AIRISK_LEVEL_NONE);
        CHECK(tr[i].actions == 0 && tr[i].report_within_s == -1);
        CHECK(isnan(tr[i].threshold));
    }
    CHECK_OK(airisk_system_level(e, bot, &lvl));
    CHECK(lvl == AIRISK_LEVEL_NONE);

    /* Strings stay valid after deregistration (valgrind checks the read). */
    CHECK_OK(airisk_deregister(e, bot));
    CHECK(strcmp(system_id, "bot") == 0);

    airisk_stats st;
    CHECK_OK(airisk_engine_stats(e, &st));
    CHECK(st.transitions >= 7 && st.dropped == 0 && st.systems == 0);
    airisk_engine_free(e);
}

static void test_dropped(void) {
    airisk_engine *e = NULL;
    CHECK_OK(airisk_engine_new_with_capacity(TEST_POLICY, strlen(TEST_POLICY), 1, &e));
    if (!e) {
        return;
    }
    uint32_t bot = test_register(e, BOT);
    airisk_level lvl;
    CHECK_OK(airisk_observe(e, bot, 1, 1.0, T, &lvl)); /* 2 transitions, room for 1 */
    airisk_stats st;
    CHECK_OK(airisk_engine_stats(e, &st));
    CHECK(st.transitions == 2 && st.dropped == 1);
    airisk_transition tr[2];
    size_t n = 0;
    CHECK_OK(airisk_poll(e, tr, 2, &n));
    CHECK(n == 1 && tr[0].seq == 1);
    CHECK_OK(airisk_observe(e, bot, 1, 1.0, T, &lvl));
    CHECK_OK(airisk_poll(e, tr, 2, &n));
    CHECK(n == 1 && tr[0].seq == 3); /* seq 2 was dropped: the gap shows it */
    airisk_engine_free(e);
}

struct cb_state {
    airisk_engine *e;
    int calls;
    uint64_t last_seq;
    int reentrant_ok;
    char first_rule[32];
};

static void on_transition(const airisk_transition *t, void *user) {
    struct cb_state *st = (struct cb_state *)user;
    st->calls++;
    st->last_seq = t->seq;
    if (st->calls == 1 && t->rule_id) {
        snprintf(st->first_rule, sizeof st->first_rule, "%s", t->rule_id);
    }
    /* Re-entrant calls are allowed: no engine lock is held. */
    airisk_level lvl;
    airisk_stats s;
    size_t n = 1;
    if (airisk_system_level(st->e, t->system, &lvl) == AIRISK_OK &&
        airisk_engine_stats(st->e, &s) == AIRISK_OK &&
        airisk_observe(st->e, t->system, 0, 1.0, t->ts_ms, &lvl) == AIRISK_OK &&
        airisk_poll(st->e, NULL, 0, &n) == AIRISK_OK && n == 0) {
        st->reentrant_ok++;
    }
}

static void test_callback(void) {
    airisk_engine *e = test_engine();
    if (!e) {
        CHECK(0);
        return;
    }
    struct cb_state st = {e, 0, 0, 0, ""};
    uint32_t bot = test_register(e, BOT);
    CHECK_OK(airisk_set_callback(e, on_transition, &st));
    airisk_level lvl;
    CHECK_OK(airisk_observe(e, bot, 1, 1.0, T, &lvl));
    CHECK(st.calls == 2 && st.last_seq == 2 && st.reentrant_ok == 2);
    CHECK(strcmp(st.first_rule, "k-sum") == 0);
    size_t n = SENTINEL_SIZE;
    airisk_transition tr[4];
    CHECK_OK(airisk_poll(e, tr, 4, &n));
    CHECK(n == 0);
    /* Back to the queue. */
    CHECK_OK(airisk_set_callback(e, NULL, &st));
    CHECK_OK(airisk_observe(e, bot, 1, 1.0, T, &lvl));
    CHECK(st.calls == 2);
    CHECK_OK(airisk_poll(e, tr, 4, &n));
    CHECK(n == 2 && tr[0].seq == 3);
    airisk_engine_free(e);
}

static void test_named_and_batch(void) {
    airisk_engine *e = test_engine();
    if (!e) {
        CHECK(0);
        return;
    }
    uint32_t bot = test_register(e, BOT);
    airisk_level lvl = SENTINEL_U32;
    CHECK_OK(airisk_observe_named(e, "bot", 3, "k", 1, 2.0, T, &lvl));
    CHECK(lvl == AIRISK_LEVEL_YELLOW);
    airisk_observation obs[5] = {
        {bot, 1, 1.0, T + 1},       /* ok: orange */
        {bot, 1, NAN, T + 2},       /* value */
        {999, 1, 1.0, T + 3},       /* unknown system */
        {bot, 7, 1.0, T + 4},       /* unknown signal */
        {bot, 1, 1.0, T + 5},       /* ok: red */
    };
    size_t accepted = SENTINEL_SIZE;
    CHECK_OK(airisk_observe_batch(e, obs, 5, &accepted));
    CHECK(accepted == 2);
    CHECK_DETAIL_HAS("3 of 5");
    CHECK_DETAIL_HAS("obs[1]");
    CHECK_OK(airisk_system_level(e, bot, &lvl));
    CHECK(lvl == AIRISK_LEVEL_RED);
    airisk_engine_free(e);
}

int main(void) {
    test_last_error_initially_empty();
    test_version();
    test_status_str();
    test_last_error_buffer();
    test_engine_new();

    airisk_engine *e = test_engine();
    if (!e) {
        return 1;
    }
    uint32_t bot = test_register(e, BOT);
    CHECK(bot == 0);
    test_null_pointers(e);
    test_utf8(e);
    test_profiles(e);
    test_classify_explain(e);
    test_unknown_handles(e, bot);
    test_values(e, bot);
    test_stale(e);
    test_duplicate(e);
    airisk_engine_free(e);

    test_poll_and_transitions();
    test_dropped();
    test_callback();
    test_named_and_batch();
    test_update_profile_and_rule_levels();
    return test_summary("test_status");
}
