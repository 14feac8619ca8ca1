/* Shared helpers of the C tests: a tiny check macro and a small test policy. */
#ifndef AIRISK_TEST_COMMON_H
#define AIRISK_TEST_COMMON_H

#include "airisk.h"

#include <stdio.h>
#include <string.h>

static int g_failures = 0;
static int g_checks = 0;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        g_checks++;                                                                        \
        if (!(cond)) {                                                                     \
            g_failures++;                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);      \
        }                                                                                  \
    } while (0)

/* Checks that `call` returns `want`, printing both statuses and the detail if not. */
#define CHECK_STATUS(want, call)                                                           \
    do {                                                                                   \
        airisk_status got_ = (call);                                                       \
        g_checks++;                                                                        \
        if (got_ != (want)) {                                                              \
            char detail_[512];                                                             \
            airisk_last_error(detail_, sizeof detail_);                                    \
            g_failures++;                                                                  \
            fprintf(stderr, "%s:%d: %s\n  returned %s, expected %s\n  detail: %s\n",       \
                    __FILE__, __LINE__, #call, airisk_status_str(got_),                    \
                    airisk_status_str(want), detail_);                                     \
        }                                                                                  \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(AIRISK_OK, call)

/* The detail of this thread's last error, in a static buffer. */
static inline const char *last_error(void) {
    static char buf[4096];
    airisk_last_error(buf, sizeof buf);
    return buf;
}

#define CHECK_DETAIL_HAS(needle)                                                           \
    do {                                                                                   \
        const char *d_ = last_error();                                                     \
        g_checks++;                                                                        \
        if (strstr(d_, (needle)) == NULL) {                                                \
            g_failures++;                                                                  \
            fprintf(stderr, "%s:%d: last error lacks \"%s\": %s\n", __FILE__, __LINE__,   \
                    (needle), d_);                                                         \
        }                                                                                  \
    } while (0)

/*
 * A small policy: bucket 1 s; grades low / high (score >= 5; sector s9 scores 9);
 * signals n (counter, used by no rule), k (counter), g (gauge); rules
 *   0 "k-sum" (category c1, basis B1): sum of k over 10 s, thresholds 1 2 3 4;
 *   1 "g-max" (category c2, no basis): max of g over 1 s, low 10 20 30 40, high 5 10 15 20;
 *     an empty window clears it.
 */
static const char TEST_POLICY[] =
    "{\"schema\": 1,"
    " \"categories\": [{\"id\": \"c1\", \"basis\": \"B1\"}, {\"id\": \"c2\"}],"
    " \"grades\": [{\"id\": \"low\"}, {\"id\": \"high\", \"min_score\": 5}],"
    " \"classification\": {\"sectors\": {\"s0\": 0, \"s9\": 9}, \"data\": {\"public\": 0},"
    "   \"autonomy\": {\"hitl\": 0}},"
    " \"bucket_ms\": 1000,"
    " \"signals\": [{\"id\": \"n\", \"kind\": \"counter\"}, {\"id\": \"k\", \"kind\": \"counter\"},"
    "   {\"id\": \"g\", \"kind\": \"gauge\"}],"
    " \"rules\": ["
    "   {\"id\": \"k-sum\", \"category\": \"c1\", \"basis\": \"B1\", \"signal\": \"k\","
    "    \"aggregate\": \"sum\", \"window_ms\": 10000,"
    "    \"thresholds\": {\"low\": [1, 2, 3, 4], \"high\": [1, 2, 3, 4]}},"
    "   {\"id\": \"g-max\", \"category\": \"c2\", \"signal\": \"g\", \"aggregate\": \"max\","
    "    \"window_ms\": 1000, \"on_empty\": \"clear\","
    "    \"thresholds\": {\"low\": [10, 20, 30, 40], \"high\": [5, 10, 15, 20]}}],"
    " \"responses\": {\"levels\": {"
    "   \"blue\": {\"actions\": [\"log\"], \"report_within_s\": null},"
    "   \"yellow\": {\"actions\": [\"log\", \"notify_operator\"], \"report_within_s\": 14400},"
    "   \"orange\": {\"actions\": [\"notify_operator\", \"human_review\", \"throttle\"],"
    "     \"report_within_s\": 7200},"
    "   \"red\": {\"actions\": [\"notify_operator\", \"suspend\", \"report_regulator\"],"
    "     \"report_within_s\": 3600}}}}";

/*
 * A small incidents policy (the Rust twin is in src/ffi/tests.rs): bucket 1 s; grades low
 * (named) / high (score >= 5: sector s9); gauges g and h; rules
 *   0 "g-max" (category c1, named, basis B1): max of g over 1 s, thresholds 1 2 3 4;
 *   1 "h-max" (category c2, no names): max of h over 1 s, thresholds 1 2 3 4;
 * an empty window clears both. Incidents open at orange, severity "minor" (named; not
 * reportable), red makes them "major" (reportable): initial report within 1 h (operator
 * type "other", the default) or 10 min ("cii"), acknowledgement within 60 s, final report
 * within 2 h; basis IB. A profile in sector s9 with autonomy "auto" is prohibited (p1,
 * basis PB).
 */
static const char TEST_INCIDENT_POLICY[] =
    "{\"schema\": 1,"
    " \"categories\": [{\"id\": \"c1\", \"name\": {\"zh\": \"\xe7\xb1\xbb\xe4\xb8\x80\","
    "   \"en\": \"Cat one\"}}, {\"id\": \"c2\"}],"
    " \"grades\": [{\"id\": \"low\", \"name\": {\"zh\": \"\xe4\xbd\x8e\", \"en\": \"Low\"}},"
    "   {\"id\": \"high\", \"min_score\": 5}],"
    " \"classification\": {\"sectors\": {\"s0\": 0, \"s9\": 9}, \"data\": {\"public\": 0},"
    "   \"autonomy\": {\"hitl\": 0, \"auto\": 0},"
    "   \"prohibited\": [{\"id\": \"p1\", \"when\": {\"sectors\": [\"s9\"],"
    "     \"autonomy\": [\"auto\"]}, \"basis\": \"PB\"}]},"
    " \"bucket_ms\": 1000,"
    " \"signals\": [{\"id\": \"g\", \"kind\": \"gauge\"}, {\"id\": \"h\", \"kind\": \"gauge\"}],"
    " \"rules\": ["
    "   {\"id\": \"g-max\", \"name\": {\"zh\": \"\xe8\xa7\x84\xe5\x88\x99g\", \"en\": \"Rule g\"},"
    "    \"category\": \"c1\", \"basis\": \"B1\", \"signal\": \"g\", \"aggregate\": \"max\","
    "    \"window_ms\": 1000, \"on_empty\": \"clear\","
    "    \"thresholds\": {\"low\": [1, 2, 3, 4], \"high\": [1, 2, 3, 4]}},"
    "   {\"id\": \"h-max\", \"category\": \"c2\", \"signal\": \"h\", \"aggregate\": \"max\","
    "    \"window_ms\": 1000, \"on_empty\": \"clear\","
    "    \"thresholds\": {\"low\": [1, 2, 3, 4], \"high\": [1, 2, 3, 4]}}],"
    " \"responses\": {\"levels\": {\"blue\": {\"actions\": [\"log\"]},"
    "   \"orange\": {\"actions\": [\"notify_operator\"]},"
    "   \"red\": {\"actions\": [\"notify_operator\", \"suspend\"]}}},"
    " \"incidents\": {\"open_at\": \"orange\","
    "   \"severities\": [{\"id\": \"minor\", \"name\": {\"zh\": \"\xe4\xb8\x80\xe8\x88\xac\","
    "     \"en\": \"General\"}}, {\"id\": \"major\"}],"
    "   \"severity_by_level\": {\"orange\": \"minor\", \"red\": \"major\"},"
    "   \"report_at\": \"major\","
    "   \"operator_types\": [{\"id\": \"other\", \"initial_within_s\": 3600},"
    "     {\"id\": \"cii\", \"initial_within_s\": 600}],"
    "   \"ack_within_s\": 60, \"final_within_s\": 7200, \"basis\": \"IB\"}}";

static inline airisk_engine *test_engine(void) {
    airisk_engine *e = NULL;
    airisk_status s = airisk_engine_new(TEST_POLICY, strlen(TEST_POLICY), &e);
    if (s != AIRISK_OK) {
        fprintf(stderr, "cannot create the test engine: %s: %s\n", airisk_status_str(s),
                last_error());
        return NULL;
    }
    return e;
}

static inline airisk_engine *test_incident_engine(void) {
    airisk_engine *e = NULL;
    airisk_status s =
        airisk_engine_new(TEST_INCIDENT_POLICY, strlen(TEST_INCIDENT_POLICY), &e);
    if (s != AIRISK_OK) {
        fprintf(stderr, "cannot create the incident test engine: %s: %s\n",
                airisk_status_str(s), last_error());
        return NULL;
    }
    return e;
}

static inline uint32_t test_register(airisk_engine *e, const char *profile) {
    uint32_t h = UINT32_MAX;
    CHECK_OK(airisk_register(e, profile, strlen(profile), &h));
    return h;
}

static inline int test_summary(const char *name) {
    if (g_failures) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, g_failures, g_checks);
        return 1;
    }
    printf("%s: all %d checks passed\n", name, g_checks);
    return 0;
}

#endif /* AIRISK_TEST_COMMON_H */
