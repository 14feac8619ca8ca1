/*
 * Incidents, prohibited uses and display names through the C ABI, under the incidents
 * policy of test_common.h: every field of the events, acknowledgement and filing with
 * their status paths (unknown incident, not due, bad kind), overdue and late filings,
 * the incident callback (re-entrant, in emission order among the transitions), the
 * bounded incident queue, the incident counters, and prohibited profiles. Run from
 * tests/ffi_c.rs (also under valgrind).
 */
#include "test_common.h"

#include <stdint.h>
#include <stdlib.h>

static const char SYS_A[] = "{\"id\": \"a\", \"sector\": \"s0\", \"data\": \"public\","
                            " \"autonomy\": \"hitl\", \"users\": 1}";
static const char SYS_B[] = "{\"id\": \"b\", \"sector\": \"s0\", \"data\": \"public\","
                            " \"autonomy\": \"hitl\", \"users\": 1, \"operator_type\": \"cii\"}";
static const char BANNED[] = "{\"id\": \"a\", \"sector\": \"s9\", \"data\": \"public\","
                             " \"autonomy\": \"auto\", \"users\": 1}";

static const int64_t T = INT64_C(1000000);
static const int64_t HOUR = INT64_C(3600000);

#define SENTINEL_U32 UINT32_C(0xDEADBEEF)

#define STREQ(p, s) ((p) != NULL && strcmp((p), (s)) == 0)

/* Polls exactly one incident event into *ev; false (and a failed check) otherwise. */
static int poll_one(airisk_engine *e, airisk_incident_event *ev) {
    airisk_incident_event buf[4];
    size_t n = 99;
    CHECK_OK(airisk_poll_incidents(e, buf, 4, &n));
    CHECK(n == 1);
    if (n != 1) {
        fprintf(stderr, "  expected one incident event, got %zu\n", n);
        return 0;
    }
    *ev = buf[0];
    return 1;
}

static void drain_transitions(airisk_engine *e) {
    airisk_transition tr[16];
    size_t n = 0;
    do {
        CHECK_OK(airisk_poll(e, tr, 16, &n));
    } while (n > 0);
}

static void test_events(void) {
    airisk_engine *e = test_incident_engine();
    if (!e) {
        CHECK(0);
        return;
    }
    uint32_t a = test_register(e, SYS_A);
    uint32_t b = test_register(e, SYS_B);
    uint32_t g = 0, h = 0;
    CHECK_OK(airisk_signal(e, "g", 1, &g));
    CHECK_OK(airisk_signal(e, "h", 1, &h));
    airisk_level lvl;
    airisk_incident_event ev;
    size_t n = 99;

    /* Orange: the incident opens (minor, not reportable, nothing due). */
    CHECK_OK(airisk_observe(e, a, g, 3.0, T, &lvl));
    CHECK(lvl == AIRISK_LEVEL_ORANGE);
    CHECK_OK(airisk_poll_incidents(e, NULL, 0, &n)); /* cap 0: nothing dequeued */
    CHECK(n == 0);
    if (poll_one(e, &ev)) {
        CHECK(ev.seq == 1 && ev.ts_ms == T);
        CHECK(ev.event == AIRISK_INCIDENT_OPENED);
        CHECK(strcmp(airisk_incident_event_str(ev.event), "opened") == 0);
        CHECK(ev.system == a && STREQ(ev.system_id, "a"));
        CHECK(STREQ(ev.incident, "a/c1/1"));
        CHECK(STREQ(ev.category, "c1"));
        CHECK(STREQ(ev.severity, "minor") && ev.severity_rank == 0 && !ev.reportable);
        CHECK(STREQ(ev.operator_type, "other"));
        CHECK(ev.due == AIRISK_DUE_NONE && ev.due_by == INT64_MIN);
        CHECK(ev.rule == 0 && STREQ(ev.rule_id, "g-max") && ev.level == AIRISK_LEVEL_ORANGE);
        CHECK(STREQ(ev.basis, "IB"));
        CHECK(ev.report == AIRISK_REPORT_NONE && ev.late == -1);
        CHECK(ev.reference == NULL && ev.by == NULL);
        CHECK(STREQ(ev.category_name_zh, "\xe7\xb1\xbb\xe4\xb8\x80"));
        CHECK(STREQ(ev.category_name_en, "Cat one"));
        CHECK(STREQ(ev.severity_name_zh, "\xe4\xb8\x80\xe8\x88\xac"));
        CHECK(STREQ(ev.severity_name_en, "General"));
        CHECK(STREQ(ev.rule_name_zh, "\xe8\xa7\x84\xe5\x88\x99g"));
        CHECK(STREQ(ev.rule_name_en, "Rule g"));
    }
    const char *incident_a = ev.incident;

    /* The transitions carry the display names; the system scope only the grade's. */
    airisk_transition tr[4];
    CHECK_OK(airisk_poll(e, tr, 4, &n));
    CHECK(n == 2);
    if (n == 2) {
        CHECK(tr[0].rule == 0 && tr[0].to == AIRISK_LEVEL_ORANGE);
        CHECK(tr[0].report_within_s == -1); /* deadlines live on incidents */
        CHECK(STREQ(tr[0].grade_name_zh, "\xe4\xbd\x8e") && STREQ(tr[0].grade_name_en, "Low"));
        CHECK(STREQ(tr[0].rule_name_zh, "\xe8\xa7\x84\xe5\x88\x99g"));
        CHECK(STREQ(tr[0].rule_name_en, "Rule g"));
        CHECK(STREQ(tr[0].category_name_zh, "\xe7\xb1\xbb\xe4\xb8\x80"));
        CHECK(STREQ(tr[0].category_name_en, "Cat one"));
        CHECK(tr[1].rule == AIRISK_NO_RULE && STREQ(tr[1].grade_name_en, "Low"));
        CHECK(tr[1].rule_name_zh == NULL && tr[1].rule_name_en == NULL);
        CHECK(tr[1].category_name_zh == NULL && tr[1].category_name_en == NULL);
    }

    /* Red: escalated, reportable; the initial report is due within 1 h. */
    CHECK_OK(airisk_observe(e, a, g, 4.0, T + 1000, &lvl));
    if (poll_one(e, &ev)) {
        CHECK(ev.seq == 2 && ev.event == AIRISK_INCIDENT_ESCALATED);
        CHECK(STREQ(ev.severity, "major") && ev.severity_rank == 1 && ev.reportable);
        CHECK(ev.severity_name_zh == NULL && ev.severity_name_en == NULL);
        CHECK(ev.due == AIRISK_DUE_INITIAL && ev.due_by == T + 1000 + HOUR);
        CHECK(ev.level == AIRISK_LEVEL_RED);
        CHECK(ev.incident == incident_a); /* one string per incident id */
    }

    /* System b (operator type cii), category c2: no display names. */
    CHECK_OK(airisk_observe(e, b, h, 3.0, T, &lvl));
    if (poll_one(e, &ev)) {
        CHECK(ev.seq == 3 && ev.event == AIRISK_INCIDENT_OPENED && ev.system == b);
        CHECK(STREQ(ev.incident, "b/c2/1") && STREQ(ev.operator_type, "cii"));
        CHECK(ev.rule == 1 && STREQ(ev.rule_id, "h-max"));
        CHECK(ev.category_name_zh == NULL && ev.category_name_en == NULL);
        CHECK(ev.rule_name_zh == NULL && ev.rule_name_en == NULL);
        CHECK(STREQ(ev.severity_name_en, "General"));
    }

    /* Acknowledgement: once. */
    CHECK_OK(airisk_acknowledge(e, "a/c1/1", 6, T + 2000, "ops", 3));
    if (poll_one(e, &ev)) {
        CHECK(ev.seq == 4 && ev.event == AIRISK_INCIDENT_ACKNOWLEDGED && ev.ts_ms == T + 2000);
        CHECK(STREQ(ev.by, "ops") && ev.reference == NULL);
        CHECK(ev.rule == AIRISK_NO_RULE && ev.rule_id == NULL && ev.level == AIRISK_NO_LEVEL);
        CHECK(ev.rule_name_zh == NULL && ev.rule_name_en == NULL);
        CHECK(ev.due == AIRISK_DUE_INITIAL); /* never the acknowledgement */
    }
    CHECK_STATUS(AIRISK_ERR_NOT_DUE, airisk_acknowledge(e, "a/c1/1", 6, T + 2500, "x", 1));
    CHECK_DETAIL_HAS("already acknowledged");
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_INCIDENT, airisk_acknowledge(e, "a/c1/2", 6, T, "x", 1));
    CHECK_DETAIL_HAS("a/c1/2");
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_INCIDENT, airisk_acknowledge(e, "a/c9/1", 6, T, "x", 1));
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_INCIDENT, airisk_acknowledge(e, "zz", 2, T, "x", 1));
    /* The length is honoured: "a/c1/1" followed by more bytes. */
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_INCIDENT, airisk_acknowledge(e, "a/c1/1x", 7, T, "x", 1));

    /* Filing: only what is owed. */
    CHECK_STATUS(AIRISK_ERR_NOT_DUE,
                 airisk_file_report(e, "a/c1/1", 6, AIRISK_REPORT_FINAL, T + 3000, "R", 1));
    CHECK_DETAIL_HAS("final");
    CHECK_STATUS(AIRISK_ERR_NOT_DUE,
                 airisk_file_report(e, "a/c1/1", 6, AIRISK_REPORT_UPDATE, T + 3000, "R", 1));
    CHECK_STATUS(AIRISK_ERR_NOT_DUE, /* b is not reportable */
                 airisk_file_report(e, "b/c2/1", 6, AIRISK_REPORT_INITIAL, T + 3000, "R", 1));
    CHECK_STATUS(AIRISK_ERR_INVALID_ARGUMENT,
                 airisk_file_report(e, "a/c1/1", 6, 7, T + 3000, "R", 1));
    CHECK_OK(airisk_file_report(e, "a/c1/1", 6, AIRISK_REPORT_INITIAL, T + 3000, "R-1", 3));
    if (poll_one(e, &ev)) {
        CHECK(ev.seq == 5 && ev.event == AIRISK_INCIDENT_REPORT_FILED && ev.ts_ms == T + 3000);
        CHECK(ev.report == AIRISK_REPORT_INITIAL && ev.late == 0);
        CHECK(STREQ(ev.reference, "R-1") && ev.by == NULL);
        CHECK(ev.due == AIRISK_DUE_NONE && ev.due_by == INT64_MIN);
    }
    CHECK_STATUS(AIRISK_ERR_NOT_DUE,
                 airisk_file_report(e, "a/c1/1", 6, AIRISK_REPORT_INITIAL, T + 4000, "R", 1));

    /* Deadlines run on event time: b is not acknowledged within 60 s. */
    CHECK_OK(airisk_observe(e, b, h, 3.0, T + 61000, &lvl));
    if (poll_one(e, &ev)) {
        CHECK(ev.seq == 6 && ev.event == AIRISK_INCIDENT_OVERDUE && ev.ts_ms == T + 61000);
        CHECK(ev.due == AIRISK_DUE_ACK && ev.due_by == T + 60000);
        CHECK(strcmp(airisk_report_str(ev.due), "ack") == 0);
        CHECK(ev.rule == AIRISK_NO_RULE && ev.level == AIRISK_NO_LEVEL);
    }
    /* b turns red: reportable, initial report within 10 min (cii); it is missed, then
     * filed late, with an empty reference. */
    CHECK_OK(airisk_observe(e, b, h, 4.0, T + 62000, &lvl));
    if (poll_one(e, &ev)) {
        CHECK(ev.seq == 7 && ev.event == AIRISK_INCIDENT_ESCALATED && ev.reportable);
        CHECK(ev.due == AIRISK_DUE_INITIAL && ev.due_by == T + 662000);
    }
    CHECK_OK(airisk_observe(e, b, h, 4.0, T + 662000, &lvl));
    if (poll_one(e, &ev)) {
        CHECK(ev.seq == 8 && ev.event == AIRISK_INCIDENT_OVERDUE);
        CHECK(ev.due == AIRISK_DUE_INITIAL && ev.due_by == T + 662000);
    }
    CHECK_OK(airisk_file_report(e, "b/c2/1", 6, AIRISK_REPORT_INITIAL, T + 662000, "", 0));
    if (poll_one(e, &ev)) {
        CHECK(ev.seq == 9 && ev.event == AIRISK_INCIDENT_REPORT_FILED && ev.late == 1);
        CHECK(STREQ(ev.reference, ""));
    }
    airisk_incident_event none[2];
    CHECK_OK(airisk_poll_incidents(e, none, 2, &n));
    CHECK(n == 0);

    airisk_stats st;
    CHECK_OK(airisk_engine_stats(e, &st));
    CHECK(st.incident_events == 9 && st.incidents_dropped == 0);
    drain_transitions(e);
    airisk_engine_free(e);
}

/* Incident callback: events arrive on the causing thread, right after the transition that
 * caused them; the callback files the final report of a resolved incident (re-entrant). */
struct cb_log {
    airisk_engine *e;
    char entries[32][48];
    int n;
    uint64_t last_seq;
    int seq_errors;
    int filed_failures;
};

static void log_entry(struct cb_log *log, const char *text) {
    if (log->n < 32) {
        snprintf(log->entries[log->n], sizeof log->entries[0], "%s", text);
    }
    log->n++;
}

static void on_transition(const airisk_transition *t, void *user) {
    char line[48];
    snprintf(line, sizeof line, "t %s %s", t->rule_id ? t->rule_id : "system",
             airisk_level_str(t->to));
    log_entry((struct cb_log *)user, line);
}

static void on_incident(const airisk_incident_event *ev, void *user) {
    struct cb_log *log = (struct cb_log *)user;
    char line[48];
    snprintf(line, sizeof line, "i %s %s", ev->incident, airisk_incident_event_str(ev->event));
    log_entry(log, line);
    if (ev->seq != log->last_seq + 1) {
        log->seq_errors++;
    }
    log->last_seq = ev->seq;
    if (ev->event == AIRISK_INCIDENT_RESOLVED && ev->due == AIRISK_DUE_FINAL) {
        /* The due kind is the report kind to file. */
        if (airisk_file_report(log->e, ev->incident, strlen(ev->incident), ev->due,
                               ev->ts_ms, "final", 5) != AIRISK_OK) {
            log->filed_failures++;
        }
    }
}

static void test_callback(void) {
    airisk_engine *e = test_incident_engine();
    if (!e) {
        CHECK(0);
        return;
    }
    struct cb_log log;
    memset(&log, 0, sizeof log);
    log.e = e;
    uint32_t a = test_register(e, SYS_A);
    CHECK_OK(airisk_set_callback(e, on_transition, &log));
    CHECK_OK(airisk_set_incident_callback(e, on_incident, &log));
    airisk_level lvl;
    CHECK_OK(airisk_observe(e, a, 0, 4.0, T, &lvl)); /* red at once: opened, reportable */
    CHECK_OK(airisk_file_report(e, "a/c1/1", 6, AIRISK_REPORT_INITIAL, T, "R", 1));
    CHECK_OK(airisk_tick(e, T + 5000)); /* the window empties: resolved, final filed, closed */
    const char *want[] = {
        "t g-max red",    "i a/c1/1 opened",   "t system red",
        "i a/c1/1 report_filed",
        "t g-max none",   "i a/c1/1 resolved", "i a/c1/1 report_filed",
        "i a/c1/1 closed", "t system none",
    };
    const int nwant = (int)(sizeof want / sizeof want[0]);
    CHECK(log.n == nwant);
    for (int i = 0; i < nwant && i < log.n; i++) {
        if (strcmp(log.entries[i], want[i]) != 0) {
            fprintf(stderr, "  callback %d: got \"%s\", want \"%s\"\n", i, log.entries[i],
                    want[i]);
            CHECK(0);
        }
    }
    CHECK(log.seq_errors == 0 && log.filed_failures == 0);
    /* Nothing went to the queues. */
    size_t n = 99;
    airisk_incident_event ev[2];
    CHECK_OK(airisk_poll_incidents(e, ev, 2, &n));
    CHECK(n == 0);
    /* Closed: it owes nothing and is unknown now; a new episode is a new incident. */
    CHECK_STATUS(AIRISK_ERR_UNKNOWN_INCIDENT, airisk_acknowledge(e, "a/c1/1", 6, T, "x", 1));
    CHECK_OK(airisk_set_incident_callback(e, NULL, &log));
    CHECK_OK(airisk_set_callback(e, NULL, NULL));
    CHECK_OK(airisk_observe(e, a, 0, 3.0, T + 6000, &lvl));
    CHECK_OK(airisk_poll_incidents(e, ev, 2, &n));
    CHECK(n == 1 && STREQ(ev[0].incident, "a/c1/2") && ev[0].seq == 6);
    CHECK(log.n == nwant);
    drain_transitions(e);
    airisk_engine_free(e);
}

/* A bounded incident queue: an event that finds it full is counted; its seq is skipped. */
static void test_queue_bounded(void) {
    airisk_engine *e = NULL;
    CHECK_OK(airisk_engine_new_with_capacity(TEST_INCIDENT_POLICY,
                                             strlen(TEST_INCIDENT_POLICY), 1, &e));
    if (!e) {
        return;
    }
    uint32_t a = test_register(e, SYS_A);
    airisk_level lvl;
    CHECK_OK(airisk_observe(e, a, 0, 3.0, T, &lvl));        /* opened: queued */
    CHECK_OK(airisk_observe(e, a, 0, 4.0, T + 1000, &lvl)); /* escalated: dropped */
    airisk_stats st;
    CHECK_OK(airisk_engine_stats(e, &st));
    CHECK(st.incident_events == 2 && st.incidents_dropped == 1);
    airisk_incident_event ev[2];
    size_t n = 0;
    CHECK_OK(airisk_poll_incidents(e, ev, 2, &n));
    CHECK(n == 1 && ev[0].seq == 1 && ev[0].event == AIRISK_INCIDENT_OPENED);
    CHECK_OK(airisk_acknowledge(e, "a/c1/1", 6, T + 1000, "x", 1));
    CHECK_OK(airisk_poll_incidents(e, ev, 2, &n));
    CHECK(n == 1 && ev[0].seq == 3); /* the gap shows the loss */
    airisk_engine_free(e);
}

static void test_prohibited(void) {
    airisk_engine *e = test_incident_engine();
    if (!e) {
        CHECK(0);
        return;
    }
    airisk_classification c = {SENTINEL_U32, -7, NULL, false, NULL, NULL};
    CHECK_OK(airisk_classify(e, BANNED, strlen(BANNED), &c));
    CHECK(c.prohibited && STREQ(c.prohibited_id, "p1") && STREQ(c.prohibited_basis, "PB"));
    CHECK(c.grade == 1 && c.score == 9 && STREQ(c.grade_id, "high"));
    uint32_t h = SENTINEL_U32;
    CHECK_STATUS(AIRISK_ERR_PROHIBITED, airisk_register(e, BANNED, strlen(BANNED), &h));
    CHECK_DETAIL_HAS("p1");
    CHECK(h == SENTINEL_U32);
    airisk_stats st;
    CHECK_OK(airisk_engine_stats(e, &st));
    CHECK(st.systems == 0);

    /* A registered system cannot be updated to a prohibited profile. */
    uint32_t a = test_register(e, SYS_A);
    c.grade = SENTINEL_U32;
    CHECK_STATUS(AIRISK_ERR_PROHIBITED, airisk_update_profile(e, a, BANNED, strlen(BANNED), &c));
    CHECK(c.grade == SENTINEL_U32);
    CHECK_OK(airisk_classify(e, SYS_A, strlen(SYS_A), &c));
    CHECK(!c.prohibited && c.prohibited_id == NULL && c.prohibited_basis == NULL);
    /* An unknown operator type is a profile error. */
    const char bad_type[] = "{\"id\": \"x\", \"sector\": \"s0\", \"data\": \"public\","
                            " \"autonomy\": \"hitl\", \"users\": 1, \"operator_type\": \"mayor\"}";
    CHECK_STATUS(AIRISK_ERR_PROFILE, airisk_register(e, bad_type, strlen(bad_type), &h));
    CHECK_DETAIL_HAS("operator_type");
    airisk_engine_free(e);
}

/* The default policy's first prohibited use (social scoring by a public authority with no
 * person deciding, seeds/README.md section 5): classify answers with the use and its basis,
 * register refuses it and registers nothing. */
static void test_prohibited_default_policy(void) {
    static const char social_score[] =
        "{\"id\": \"city-social-score\", \"sector\": \"government_services\","
        " \"capabilities\": [\"profiling\", \"automated_decision\"],"
        " \"data\": \"sensitive_personal\", \"autonomy\": \"autonomous\","
        " \"users\": 10000000}";
    airisk_engine *e = NULL;
    CHECK_OK(airisk_engine_new_default(&e));
    if (!e) {
        return;
    }
    airisk_classification c = {SENTINEL_U32, -7, NULL, false, NULL, NULL};
    CHECK_OK(airisk_classify(e, social_score, strlen(social_score), &c));
    CHECK(c.prohibited && STREQ(c.prohibited_id, "social-scoring-by-public-authority"));
    CHECK(c.prohibited_basis != NULL &&
          strncmp(c.prohibited_basis, "PIPL Art. 24 para. 3", 20) == 0);
    CHECK(c.grade == 3 && c.score == 15 && STREQ(c.grade_id, "major"));
    uint32_t h = SENTINEL_U32;
    CHECK_STATUS(AIRISK_ERR_PROHIBITED,
                 airisk_register(e, social_score, strlen(social_score), &h));
    CHECK_DETAIL_HAS("social-scoring-by-public-authority");
    CHECK(h == SENTINEL_U32);
    airisk_stats st;
    CHECK_OK(airisk_engine_stats(e, &st));
    CHECK(st.systems == 0);
    airisk_engine_free(e);
}

int main(void) {
    test_events();
    test_callback();
    test_queue_bounded();
    test_prohibited();
    test_prohibited_default_policy();
    return test_summary("test_incidents");
}
