// monitor.cpp — examples/c/monitor.c through the C++17 wrapper include/airisk.hpp:
// default policy, two AI applications, 90 minutes of observations, transitions with their
// names and response actions, the incidents they open (acknowledged, initial reports
// filed). Errors are airisk::Error exceptions.
//
// Build (static library; see README "Linking from C/C++"):
//   c++ -std=c++17 -Wall -Wextra -I include examples/cpp/monitor.cpp
//       target/release/libairisk.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o monitor_cpp
#include "airisk.hpp"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace {

constexpr std::string_view kTriageBot = R"({
    "id": "triage-bot", "name": "Hospital triage chatbot", "sector": "healthcare_clinical",
    "capabilities": ["generative", "automated_decision"], "data": "sensitive_personal",
    "autonomy": "human_on_the_loop", "users": 50000, "vulnerable_groups": ["patients"],
    "mitigations": ["human_review_process"]})";

constexpr std::string_view kRobot = R"({
    "id": "warehouse-robot", "sector": "embodied_robotics",
    "capabilities": ["physical_actuation"], "data": "personal", "autonomy": "autonomous",
    "users": 200})";

constexpr int64_t kT0 = INT64_C(1764374400000); // 2025-11-29T00:00:00Z
constexpr int64_t kMinute = 60000;

void print(const airisk::Transition &t) {
    std::cout << '#' << t.seq << " t+" << (t.ts_ms - kT0) / kMinute << "min " << t.system_id
              << " [" << t.grade_id << "] ";
    if (t.is_system_scope()) {
        std::cout << "system level";
    } else {
        std::cout << "rule " << t.rule_id << " (" << t.category << ")";
    }
    std::cout << ": " << airisk::level_name(t.from) << " -> " << airisk::level_name(t.to);
    if (!std::isnan(t.value)) {
        std::cout << "  value " << t.value;
    }
    if (!std::isnan(t.threshold)) {
        std::cout << " >= " << t.threshold;
    }
    std::cout << "\n      actions:";
    for (const std::string &a : t.action_names()) {
        std::cout << ' ' << a;
    }
    std::cout << '\n';
    if (!t.rule_name.empty()) {
        std::cout << "      " << t.rule_name.zh << " · " << t.rule_name.en << '\n';
    }
}

// Prints an incident event; acknowledges an opened incident and files a report as soon as
// one is due (the times are the operator's: filing moves no clock).
void handle(airisk::Engine &engine, const airisk::IncidentEvent &ev) {
    std::cout << '!' << ev.seq << " t+" << (ev.ts_ms - kT0) / kMinute << "min incident "
              << ev.incident << ' ' << airisk::event_name(ev.event) << ": " << ev.severity;
    if (!ev.severity_name.zh.empty()) {
        std::cout << " (" << ev.severity_name.zh << ')';
    }
    std::cout << (ev.reportable ? ", reportable" : ", not reportable");
    if (ev.event == airisk::IncidentEventKind::ReportFiled) {
        std::cout << ", " << airisk::report_name(ev.report) << " report " << ev.reference;
    }
    if (ev.due != airisk::DueKind::None) {
        std::cout << "; " << airisk::due_name(ev.due) << " report due by t+"
                  << (ev.due_by - kT0) / kMinute << "min";
    }
    std::cout << '\n';
    if (ev.event == airisk::IncidentEventKind::Opened) {
        engine.acknowledge(ev.incident, ev.ts_ms + 5 * kMinute, "on-call");
    }
    const bool raised = ev.event == airisk::IncidentEventKind::Opened ||
                        ev.event == airisk::IncidentEventKind::Escalated;
    if (raised && airisk::report_for(ev.due) != airisk::ReportKind::None) {
        static int reports = 0;
        char reference[32];
        std::snprintf(reference, sizeof reference, "CAC-2025-%04d", ++reports);
        engine.file_report(ev.incident, airisk::report_for(ev.due), ev.ts_ms + 30 * kMinute,
                           reference);
    }
}

size_t drain_incidents(airisk::Engine &engine) {
    size_t total = 0;
    for (;;) {
        std::vector<airisk::IncidentEvent> batch = engine.poll_incidents(8);
        for (const airisk::IncidentEvent &ev : batch) {
            handle(engine, ev);
        }
        total += batch.size();
        if (batch.empty()) {
            return total;
        }
    }
}

size_t drain(airisk::Engine &engine) {
    size_t total = 0;
    for (;;) {
        std::vector<airisk::Transition> batch = engine.poll(16);
        for (const airisk::Transition &t : batch) {
            print(t);
        }
        total += batch.size();
        if (batch.empty()) {
            return total;
        }
    }
}

} // namespace

int main() {
    try {
        airisk::Engine engine = airisk::Engine::with_default_policy();
        std::cout << "airisk " << airisk_version() << '\n';

        for (std::string_view p : {kTriageBot, kRobot}) {
            airisk::Classification c = engine.classify(p);
            std::cout << "grade " << c.grade_id << " (score " << c.score << ")\n";
        }
        const uint32_t bot = engine.register_system(kTriageBot);
        const uint32_t robot = engine.register_system(kRobot);

        const uint32_t interactions = engine.signal("interactions");
        const uint32_t hallucinations = engine.signal("hallucination_flagged");
        const uint32_t heartbeat = engine.signal("heartbeat");
        const uint32_t operations = engine.signal("operations");

        size_t transitions = 0, incident_events = 0;
        for (int64_t m = 0; m < 90; m++) {
            const int64_t ts = kT0 + m * kMinute;
            size_t accepted = engine.observe_batch({
                {bot, heartbeat, 1.0, ts},
                {bot, interactions, 60.0, ts + 1000},
                {bot, hallucinations, m < 30 ? 1.0 : 9.0, ts + 2000},
                {robot, operations, 30.0, ts + 3000},
            });
            if (accepted != 4) {
                std::cerr << "observation rejected: " << airisk::last_error() << '\n';
                return 1;
            }
            if (m < 60) {
                engine.observe(robot, heartbeat, 1.0, ts);
            }
            if (m == 45) {
                // By name: slower (hashes both strings), handy off the hot path.
                airisk::Level l = engine.observe("warehouse-robot", "safety_incidents", 1.0,
                                                 ts + 4000);
                std::cout << "-- safety incident observed; robot level now "
                          << airisk::level_name(l) << '\n';
            }
            transitions += drain(engine);
            incident_events += drain_incidents(engine);
        }
        engine.tick(kT0 + 95 * kMinute);
        transitions += drain(engine);
        incident_events += drain_incidents(engine);

        // A rejected observation throws, with the status and the detail.
        try {
            engine.observe(bot, interactions, -1.0, kT0 + 95 * kMinute);
        } catch (const airisk::Error &e) {
            std::cout << "rejected as expected: " << e.what() << '\n';
        }

        airisk::Stats st = engine.stats();
        std::cout << "final levels: triage-bot " << airisk::level_name(engine.system_level(bot))
                  << ", warehouse-robot " << airisk::level_name(engine.system_level(robot))
                  << "\nstats: " << st.observed << " observed, " << st.transitions
                  << " transitions (" << transitions << " polled), " << st.incident_events
                  << " incident events (" << incident_events << " polled), "
                  << st.dropped + st.incidents_dropped << " dropped\n";
        return transitions > 0 && st.transitions == transitions && incident_events > 0 &&
                       st.incident_events == incident_events
                   ? 0
                   : 1;
    } catch (const airisk::Error &e) {
        std::cerr << "airisk error " << e.status() << ": " << e.what() << '\n';
        return 1;
    }
}
