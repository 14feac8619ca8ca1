/*
 * monitor.c — the airisk C ABI end to end: create an engine with the default policy,
 * register two AI applications, stream 90 minutes of observations, poll the warning
 * transitions and print them with their names and response actions, poll the incidents
 * they open, acknowledge them and file the initial reports the regulator is owed, free the
 * engine.
 *
 * Build against an installed airisk (scripts/install.sh; README "Linking from C/C++"):
 *   cc -std=c11 -Wall -Wextra examples/c/monitor.c $(pkg-config --cflags --libs airisk) \
 *      -Wl,-rpath,"$(pkg-config --variable=libdir airisk)" -o monitor
 * or, against a static-only install (scripts/install.sh --no-shared):
 *   cc -std=c11 -Wall -Wextra examples/c/monitor.c \
 *      $(pkg-config --static --cflags --libs airisk) -o monitor
 */
#include "airisk.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exits with the status and airisk_last_error() detail when a call fails. */
#define CHECK(call)                                                                        \
    do {                                                                                   \
        airisk_status s_ = (call);                                                         \
        if (s_ != AIRISK_OK) {                                                             \
            char detail_[512];                                                             \
            airisk_last_error(detail_, sizeof detail_);                                    \
            fprintf(stderr, "%s:%d: %s failed: %s\n  %s\n", __FILE__, __LINE__, #call,     \
                    airisk_status_str(s_), detail_);                                       \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

static const char *TRIAGE_BOT =
    "{\"id\": \"triage-bot\", \"name\": \"Hospital triage chatbot\","
    " \"sector\": \"healthcare_clinical\","
    " \"capabilities\": [\"generative\", \"automated_decision\"],"
    " \"data\": \"sensitive_personal\", \"autonomy\": \"human_on_the_loop\","
    " \"users\": 50000, \"vulnerable_groups\": [\"patients\"],"
    " \"mitigations\": [\"human_review_process\"]}";

static const char *ROBOT =
    "{\"id\": \"warehouse-robot\", \"sector\": \"embodied_robotics\","
    " \"capabilities\": [\"physical_actuation\"], \"data\": \"personal\","
    " \"autonomy\": \"autonomous\", \"users\": 200}";

static const int64_t T0 = INT64_C(1764374400000); /* 2025-11-29T00:00:00Z */
static const int64_t MINUTE = 60000;

static uint32_t signal_of(const airisk_engine *e, const char *name) {
    uint32_t s = 0;
    CHECK(airisk_signal(e, name, strlen(name), &s));
    return s;
}

static uint32_t register_profile(airisk_engine *e, const char *profile) {
    airisk_classification c;
    uint32_t h = 0;
    CHECK(airisk_classify(e, profile, strlen(profile), &c));
    CHECK(airisk_register(e, profile, strlen(profile), &h));
    printf("registered system %" PRIu32 ": grade %s (rank %" PRIu32 ", score %" PRId32 ")\n",
           h, c.grade_id, c.grade, c.score);
    return h;
}

static void print_transition(const airisk_transition *t) {
    printf("#%-3" PRIu64 " t+%3" PRId64 "min %-15s [%s] ", t->seq, (t->ts_ms - T0) / MINUTE,
           t->system_id, t->grade_id);
    if (t->rule == AIRISK_NO_RULE) {
        printf("system level");
    } else {
        printf("rule %s (%s)", t->rule_id, t->category ? t->category : "-");
    }
    printf(": %s -> %s", airisk_level_str(t->from), airisk_level_str(t->to));
    if (!isnan(t->value)) {
        printf("  value %.4g", t->value);
    }
    if (!isnan(t->threshold)) {
        printf(" >= %.4g", t->threshold);
    }
    printf("\n      actions:");
    if (t->actions == 0) {
        printf(" (none)");
    }
    for (uint32_t bit = AIRISK_ACTION_LOG; bit <= AIRISK_ACTION_PUBLIC_NOTICE; bit <<= 1) {
        if (t->actions & bit) {
            printf(" %s", airisk_action_str(bit));
        }
    }
    printf("\n");
    /* Display names, where the policy gives them (NULL otherwise). */
    if (t->rule_name_zh && t->rule_name_en) {
        printf("      %s · %s", t->rule_name_zh, t->rule_name_en);
        if (t->category_name_zh && t->category_name_en) {
            printf(" (%s · %s)", t->category_name_zh, t->category_name_en);
        }
        printf("\n");
    }
    if (t->basis) {
        printf("      basis: %s\n", t->basis);
    }
}

/* Prints an incident event; acknowledges a newly opened incident and files a report as
 * soon as one is due (filing moves no clock: the times are the operator's). */
static void handle_incident(airisk_engine *e, const airisk_incident_event *ev) {
    printf("!%-3" PRIu64 " t+%3" PRId64 "min incident %s %s: %s", ev->seq,
           (ev->ts_ms - T0) / MINUTE, ev->incident, airisk_incident_event_str(ev->event),
           ev->severity);
    if (ev->severity_name_zh) {
        printf(" (%s)", ev->severity_name_zh);
    }
    printf(", %s", ev->reportable ? "reportable" : "not reportable");
    if (ev->event == AIRISK_INCIDENT_ACKNOWLEDGED) {
        printf(", by %s", ev->by);
    }
    if (ev->event == AIRISK_INCIDENT_REPORT_FILED) {
        printf(", %s report %s%s", airisk_report_str(ev->report), ev->reference,
               ev->late == 1 ? " (late)" : "");
    }
    if (ev->due != AIRISK_DUE_NONE) {
        printf("; %s report due by t+%" PRId64 "min", airisk_report_str(ev->due),
               (ev->due_by - T0) / MINUTE);
    }
    printf("\n");
    if (ev->event == AIRISK_INCIDENT_OPENED) {
        CHECK(airisk_acknowledge(e, ev->incident, strlen(ev->incident), ev->ts_ms + 5 * MINUTE,
                                 "on-call", 7));
    }
    /* Opening or escalating a reportable incident makes a report due. */
    if ((ev->event == AIRISK_INCIDENT_OPENED || ev->event == AIRISK_INCIDENT_ESCALATED) &&
        (ev->due == AIRISK_DUE_INITIAL || ev->due == AIRISK_DUE_UPDATE)) {
        static int reports = 0;
        char reference[32];
        snprintf(reference, sizeof reference, "CAC-2025-%04d", ++reports);
        /* AIRISK_DUE_INITIAL and _UPDATE are also the report kinds. */
        CHECK(airisk_file_report(e, ev->incident, strlen(ev->incident), ev->due,
                                 ev->ts_ms + 30 * MINUTE, reference, strlen(reference)));
    }
}

/* Polls every queued incident event (and those handling them causes); returns how many. */
static size_t drain_incidents(airisk_engine *e) {
    airisk_incident_event buf[8];
    size_t total = 0, n = 0;
    do {
        CHECK(airisk_poll_incidents(e, buf, sizeof buf / sizeof buf[0], &n));
        for (size_t i = 0; i < n; i++) {
            handle_incident(e, &buf[i]);
        }
        total += n;
    } while (n > 0);
    return total;
}

/* Polls every queued transition; returns how many there were. */
static size_t drain(airisk_engine *e) {
    airisk_transition buf[16];
    size_t total = 0, n = 0;
    do {
        CHECK(airisk_poll(e, buf, sizeof buf / sizeof buf[0], &n));
        for (size_t i = 0; i < n; i++) {
            print_transition(&buf[i]);
        }
        total += n;
    } while (n > 0);
    return total;
}

int main(void) {
    printf("airisk %s (ABI %" PRIu32 ")\n", airisk_version(), airisk_abi_version());
    if (airisk_abi_version() != AIRISK_ABI_VERSION) {
        fprintf(stderr, "header and library ABI versions differ\n");
        return 1;
    }

    airisk_engine *e = NULL;
    CHECK(airisk_engine_new_default(&e));

    uint32_t bot = register_profile(e, TRIAGE_BOT);
    uint32_t robot = register_profile(e, ROBOT);

    uint32_t interactions = signal_of(e, "interactions");
    uint32_t hallucinations = signal_of(e, "hallucination_flagged");
    uint32_t heartbeat = signal_of(e, "heartbeat");
    uint32_t operations = signal_of(e, "operations");
    uint32_t incidents = signal_of(e, "safety_incidents");

    size_t transitions = 0, incident_events = 0;
    for (int64_t m = 0; m < 90; m++) {
        int64_t ts = T0 + m * MINUTE;
        /* The chatbot answers 60 questions a minute; from minute 30 on, 9 of them are
         * flagged as hallucinated (15 %) instead of 1. */
        airisk_observation batch[4] = {
            {bot, heartbeat, 1.0, ts},
            {bot, interactions, 60.0, ts + 1000},
            {bot, hallucinations, m < 30 ? 1.0 : 9.0, ts + 2000},
            {robot, operations, 30.0, ts + 3000},
        };
        size_t accepted = 0;
        CHECK(airisk_observe_batch(e, batch, 4, &accepted));
        if (accepted != 4) {
            char detail[256];
            airisk_last_error(detail, sizeof detail);
            fprintf(stderr, "observation rejected: %s\n", detail);
            return 1;
        }
        airisk_level level;
        /* The robot stops sending heartbeats after minute 60. */
        if (m < 60) {
            CHECK(airisk_observe(e, robot, heartbeat, 1.0, ts, &level));
        }
        /* One physical-safety incident at minute 45. */
        if (m == 45) {
            CHECK(airisk_observe(e, robot, incidents, 1.0, ts + 4000, &level));
            printf("-- safety incident observed; robot level now %s\n",
                   airisk_level_str(level));
        }
        transitions += drain(e);
        incident_events += drain_incidents(e);
    }
    /* No more data: advance the clock so silence rules see the missing heartbeats. */
    CHECK(airisk_tick(e, T0 + 95 * MINUTE));
    transitions += drain(e);
    incident_events += drain_incidents(e);

    airisk_level bot_level, robot_level;
    CHECK(airisk_system_level(e, bot, &bot_level));
    CHECK(airisk_system_level(e, robot, &robot_level));
    airisk_stats st;
    CHECK(airisk_engine_stats(e, &st));
    printf("final levels: triage-bot %s, warehouse-robot %s\n", airisk_level_str(bot_level),
           airisk_level_str(robot_level));
    printf("stats: %" PRIu64 " observed, %" PRIu64 " transitions (%zu polled), %" PRIu64
           " incident events (%zu polled), %" PRIu64 " dropped, %" PRIu64 " stale, %" PRIu64
           " invalid\n",
           st.observed, st.transitions, transitions, st.incident_events, incident_events,
           st.dropped + st.incidents_dropped, st.rejected_stale, st.rejected_invalid);

    airisk_engine_free(e);
    return transitions > 0 && st.transitions == transitions && incident_events > 0 &&
                   st.incident_events == incident_events
               ? 0
               : 1;
}
