// The C++17 wrapper include/airisk.hpp: RAII and moves, exceptions carrying the status and
// the detail, string_view inputs, poll copies, classification, callbacks; incidents,
// display names, prohibited uses, update_profile, rule_levels, snapshots and the journal;
// reload, observe_many and silences.
#include "airisk.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <type_traits>
#include <vector>

#include "test_common.h"

static_assert(!std::is_copy_constructible_v<airisk::Engine>, "Engine is move-only");
static_assert(!std::is_copy_assignable_v<airisk::Engine>, "Engine is move-only");
static_assert(std::is_nothrow_move_constructible_v<airisk::Engine>, "noexcept move");
static_assert(std::is_nothrow_move_assignable_v<airisk::Engine>, "noexcept move");

namespace {

constexpr std::string_view kBot =
    R"({"id": "bot", "sector": "s0", "data": "public", "autonomy": "hitl", "users": 1})";
constexpr std::string_view kBig =
    R"({"id": "big", "sector": "s9", "data": "public", "autonomy": "hitl", "users": 1})";

template <typename F> airisk_status status_of(F &&f) {
    try {
        f();
    } catch (const airisk::Error &e) {
        return e.status();
    }
    return AIRISK_OK;
}

void test_errors() {
    // A policy that parses but fails validation: the exception carries the JSON path.
    std::string bad(TEST_POLICY);
    bad.replace(bad.find("\"high\": [1, 2, 3, 4]"), 20, "\"high\": [4, 3, 2, 1]");
    try {
        airisk::Engine e(bad);
        CHECK(false);
    } catch (const airisk::Error &e) {
        CHECK(e.status() == AIRISK_ERR_POLICY);
        CHECK(e.detail().find("rules[0].thresholds.high") != std::string::npos);
        CHECK(std::string(e.what()).find("AIRISK_ERR_POLICY") != std::string::npos);
    }
    CHECK(status_of([] { airisk::Engine e("{"); }) == AIRISK_ERR_JSON);
    CHECK(status_of([] { airisk::Engine e{std::string_view()}; }) == AIRISK_ERR_JSON);
    CHECK(status_of([] { airisk::Engine e("\xff"); }) == AIRISK_ERR_UTF8);
    CHECK(airisk::last_error().find("UTF-8") != std::string::npos);
}

void test_wrapper() {
    airisk::Engine e(TEST_POLICY);
    CHECK(static_cast<bool>(e));
    const uint32_t bot = e.register_system(kBot);
    const uint32_t big = e.register_system(kBig);
    CHECK(bot == 0 && big == 1);
    CHECK(e.system("big") == big);
    CHECK(status_of([&] { e.register_system(kBot); }) == AIRISK_ERR_DUPLICATE);
    CHECK(status_of([&] { e.system("nobody"); }) == AIRISK_ERR_UNKNOWN_SYSTEM);
    CHECK(status_of([&] { e.signal("nothing"); }) == AIRISK_ERR_UNKNOWN_SIGNAL);
    CHECK(status_of([&] { e.observe(bot, 1, NAN, 1000); }) == AIRISK_ERR_VALUE);
    CHECK(status_of([&] { e.observe(77, 1, 1.0, 1000); }) == AIRISK_ERR_UNKNOWN_SYSTEM);
    CHECK(status_of([&] { e.register_system(""); }) == AIRISK_ERR_JSON);

    airisk::Classification c = e.classify(kBig);
    CHECK(c.grade == 1 && c.score == 9 && c.grade_id == "high");
    std::string explain = e.classify_explain(kBig);
    CHECK(explain.front() == '{' && explain.back() == '}');
    CHECK(explain.find("\"factors\"") != std::string::npos);
    CHECK(status_of([&] { e.classify_explain("{\"id\": 1}"); }) == AIRISK_ERR_PROFILE);

    const uint32_t k = e.signal("k");
    CHECK(e.observe(bot, k, 1.0, 1000) == airisk::Level::Blue);
    CHECK(e.observe("bot", "k", 1.0, 1001) == airisk::Level::Yellow);
    CHECK(e.system_level(bot) == airisk::Level::Yellow);
    CHECK(e.observe_batch({{big, k, 3.0, 1002}, {big, k, NAN, 1003}}) == 1);

    // poll copies: the strings outlive the engine.
    std::vector<airisk::Transition> all;
    for (;;) {
        std::vector<airisk::Transition> some = e.poll(3);
        CHECK(some.size() <= 3);
        if (some.empty()) {
            break;
        }
        all.insert(all.end(), some.begin(), some.end());
    }
    CHECK(e.poll(0).empty());
    CHECK(all.size() == 6);
    for (size_t i = 0; i < all.size(); i++) {
        CHECK(all[i].seq == i + 1);
    }
    CHECK(all[0].rule_id == "k-sum" && all[0].category == "c1" && all[0].basis == "B1");
    CHECK(all[0].to == airisk::Level::Blue && all[0].has(AIRISK_ACTION_LOG));
    CHECK(all[1].is_system_scope() && all[1].rule_id.empty() && std::isnan(all[1].value));
    CHECK(all[4].system_id == "big" && all[4].grade_id == "high");
    CHECK(all[4].to == airisk::Level::Orange);
    CHECK((all[4].action_names() ==
           std::vector<std::string>{"notify_operator", "human_review", "throttle"}));

    airisk::Stats st = e.stats();
    CHECK(st.transitions == 6 && st.systems == 2 && st.rejected_invalid >= 3);

    // Moves transfer ownership; the moved-from engine is empty.
    airisk::Engine moved(std::move(e));
    CHECK(!e && moved);
    CHECK(moved.system_level(bot) == airisk::Level::Yellow);
    airisk::Engine other = airisk::Engine::with_default_policy();
    other = std::move(moved);
    CHECK(!moved && other);
    other.deregister(bot);
    CHECK(status_of([&] { other.system_level(bot); }) == AIRISK_ERR_UNKNOWN_SYSTEM);
    CHECK(all[0].system_id == "bot");
}

void test_callback() {
    airisk::Engine e(TEST_POLICY);
    const uint32_t bot = e.register_system(kBot);
    std::vector<airisk::Transition> got;
    e.set_callback([&](const airisk_transition &t) {
        got.emplace_back(t);
        // Re-entrant call through the wrapper.
        (void)e.system_level(t.system);
    });
    e.observe(bot, 1, 1.0, 1000);
    CHECK(got.size() == 2 && e.poll().empty());
    // Replacing the callback, then moving the engine: the callback stays valid.
    int count = 0;
    e.set_callback([&](const airisk_transition &) { count++; });
    airisk::Engine moved(std::move(e));
    moved.observe(bot, 1, 1.0, 1001);
    CHECK(count == 2 && got.size() == 2);
    moved.set_callback(nullptr);
    moved.observe(bot, 1, 1.0, 1002);
    CHECK(count == 2 && moved.poll().size() == 2);
}

constexpr std::string_view kA =
    R"({"id": "a", "sector": "s0", "data": "public", "autonomy": "hitl", "users": 1})";
constexpr std::string_view kBanned =
    R"({"id": "a", "sector": "s9", "data": "public", "autonomy": "auto", "users": 1})";

void test_incidents() {
    airisk::Engine e(TEST_INCIDENT_POLICY);
    const uint32_t a = e.register_system(kA);
    const uint32_t g = e.signal("g");
    CHECK(e.observe(a, g, 3.0, 1000) == airisk::Level::Orange);

    // Names on transitions.
    std::vector<airisk::Transition> tr = e.poll();
    CHECK(tr.size() == 2);
    CHECK(tr[0].rule_name.en == "Rule g" && tr[0].category_name.en == "Cat one");
    CHECK(tr[0].grade_name.en == "Low" && !tr[0].grade_name.zh.empty());
    CHECK(tr[1].is_system_scope() && tr[1].rule_name.empty() && !tr[1].grade_name.empty());

    std::vector<airisk::IncidentEvent> evs = e.poll_incidents();
    CHECK(evs.size() == 1);
    const airisk::IncidentEvent o = evs.at(0); // a copy: evs is reassigned below
    CHECK(o.seq == 1 && o.event == airisk::IncidentEventKind::Opened);
    CHECK(std::string(airisk::event_name(o.event)) == "opened");
    CHECK(o.incident == "a/c1/1" && o.system == a && o.system_id == "a");
    CHECK(o.category == "c1" && o.severity == "minor" && !o.reportable);
    CHECK(o.operator_type == "other" && o.due == airisk::DueKind::None);
    CHECK(o.due_by == INT64_MIN && o.has_rule() && o.rule_id == "g-max");
    CHECK(o.level == airisk::Level::Orange && !o.late.has_value());
    CHECK(o.report == airisk::ReportKind::None && o.basis == "IB");
    CHECK(o.category_name.en == "Cat one" && o.severity_name.en == "General");
    CHECK(o.rule_name.en == "Rule g");

    e.observe(a, g, 4.0, 2000); // escalated: reportable, initial report due
    e.acknowledge(o.incident, 2500, "ops");
    CHECK(status_of([&] { e.acknowledge(o.incident, 2600, "ops"); }) == AIRISK_ERR_NOT_DUE);
    CHECK(status_of([&] { e.acknowledge("a/c1/9", 2600, "ops"); }) ==
          AIRISK_ERR_UNKNOWN_INCIDENT);
    CHECK(status_of([&] { e.file_report(o.incident, airisk::ReportKind::None, 1, ""); }) ==
          AIRISK_ERR_INVALID_ARGUMENT);
    CHECK(status_of([&] { e.file_report(o.incident, airisk::ReportKind::Final, 1, ""); }) ==
          AIRISK_ERR_NOT_DUE);
    evs = e.poll_incidents(1);
    CHECK(evs.size() == 1 && evs[0].event == airisk::IncidentEventKind::Escalated);
    CHECK(evs[0].due == airisk::DueKind::Initial && evs[0].reportable);
    e.file_report(o.incident, airisk::report_for(evs[0].due), 3000, "R-1");
    evs = e.poll_incidents();
    CHECK(evs.size() == 2);
    if (evs.size() == 2) {
        CHECK(evs[0].event == airisk::IncidentEventKind::Acknowledged && evs[0].by == "ops");
        CHECK(!evs[0].has_rule() && !evs[0].level.has_value());
        CHECK(evs[1].event == airisk::IncidentEventKind::ReportFiled);
        CHECK(evs[1].report == airisk::ReportKind::Initial && evs[1].late == false);
        CHECK(evs[1].reference == "R-1");
        CHECK(std::string(airisk::report_name(evs[1].report)) == "initial");
    }

    // The incident callback files the final report on resolution (re-entrant).
    std::vector<airisk::IncidentEvent> got;
    e.set_incident_callback([&](const airisk_incident_event &ev) {
        got.emplace_back(ev);
        if (ev.event == AIRISK_INCIDENT_RESOLVED) {
            e.file_report(ev.incident, airisk::ReportKind::Final, ev.ts_ms, "F");
        }
    });
    e.tick(10000);
    CHECK(got.size() == 3);
    if (got.size() == 3) {
        CHECK(got[0].event == airisk::IncidentEventKind::Resolved);
        CHECK(got[0].level == airisk::Level::None && got[0].due == airisk::DueKind::Final);
        CHECK(got[1].event == airisk::IncidentEventKind::ReportFiled);
        CHECK(got[2].event == airisk::IncidentEventKind::Closed);
    }
    // Replaced, then moved: the callbacks stay valid.
    int count = 0;
    e.set_incident_callback([&](const airisk_incident_event &) { count++; });
    airisk::Engine moved(std::move(e));
    moved.observe(a, g, 3.0, 11000);
    CHECK(count == 1 && moved.poll_incidents().empty());
    moved.set_incident_callback(nullptr);
    moved.observe(a, g, 0.0, 12000);
    CHECK(count == 1 && moved.poll_incidents().size() == 2); // resolved, closed
    airisk::Stats st = moved.stats();
    CHECK(st.incident_events == 10 && st.incidents_dropped == 0);
}

void test_prohibited_and_profiles() {
    airisk::Engine e(TEST_INCIDENT_POLICY);
    airisk::Classification c = e.classify(kBanned);
    CHECK(c.prohibited && c.prohibited_id == "p1" && c.prohibited_basis == "PB");
    CHECK(status_of([&] { e.register_system(kBanned); }) == AIRISK_ERR_PROHIBITED);
    const uint32_t a = e.register_system(kA);
    CHECK(status_of([&] { e.update_profile(a, kBanned); }) == AIRISK_ERR_PROHIBITED);
    c = e.update_profile(
        a, R"({"id": "a", "sector": "s9", "data": "public", "autonomy": "hitl", "users": 1})");
    CHECK(!c.prohibited && c.grade == 1 && c.grade_id == "high" && c.prohibited_id.empty());
    CHECK(status_of([&] { e.update_profile(a + 1, kA); }) == AIRISK_ERR_UNKNOWN_SYSTEM);

    e.observe(a, e.signal("h"), 2.0, 1000);
    std::vector<airisk::RuleLevel> levels = e.rule_levels(a);
    CHECK(levels.size() == 2);
    if (levels.size() == 2) {
        CHECK(levels[0].rule == 0 && levels[0].rule_id == "g-max");
        CHECK(levels[0].level == airisk::Level::None);
        CHECK(levels[1].rule_id == "h-max" && levels[1].level == airisk::Level::Yellow);
    }
    CHECK(status_of([&] { e.rule_levels(a + 1); }) == AIRISK_ERR_UNKNOWN_SYSTEM);
}

void test_state() {
    airisk::Engine e(TEST_INCIDENT_POLICY);
    const uint32_t a = e.register_system(kA);
    e.observe(a, e.signal("g"), 3.0, 1000);

    // The whole engine.
    std::vector<uint8_t> snap = e.snapshot();
    CHECK(snap.size() > 32);
    airisk::Engine r = airisk::Engine::restore(TEST_INCIDENT_POLICY, snap);
    CHECK(r.system_level(a) == airisk::Level::Orange);
    CHECK(r.poll_incidents().size() == 1); // the queued event came along
    // Under the default policy the state would be migrated, but its profile is invalid
    // there: the restore is refused.
    CHECK(status_of([&] { airisk::Engine::restore("", snap); }) == AIRISK_ERR_RELOAD);

    // One system, moved to another engine.
    std::vector<uint8_t> one = e.snapshot_system(a);
    CHECK(!one.empty());
    CHECK(status_of([&] { e.restore_system(one); }) == AIRISK_ERR_DUPLICATE);
    airisk::Engine other(TEST_INCIDENT_POLICY);
    const uint32_t moved = other.restore_system(one);
    CHECK(other.system_level(moved) == airisk::Level::Orange);
    CHECK(status_of([&] { other.snapshot_system(moved + 1); }) == AIRISK_ERR_UNKNOWN_SYSTEM);
    // Its incident moved too: it can be acknowledged there.
    other.acknowledge("a/c1/1", 2000, "ops");
    CHECK(other.poll_incidents().size() == 1);

    // The journal.
    std::string path = "/tmp/airisk-hpp-journal-" + std::to_string(getpid()) + ".jsonl";
    std::remove(path.c_str());
    other.journal_open(path, 0);
    other.observe(moved, other.signal("g"), 0.0, 3000);
    other.journal_sync();
    other.journal_close();
    other.journal_close();
    CHECK(other.stats().journal_errors == 0);
    CHECK(status_of([&] { other.journal_open("/nonexistent-dir/j", 1); }) == AIRISK_ERR_IO);
    // A new journal only: the existing file is refused and left as it was.
    CHECK(status_of([&] { other.journal_create(path, 0); }) == AIRISK_ERR_IO);
    std::remove(path.c_str());
    other.journal_create(path, 0);
    other.journal_close();
    CHECK(status_of([&] { other.journal_create(path, 0); }) == AIRISK_ERR_IO);
    std::remove(path.c_str());
}

void test_reload_batches_silences() {
    airisk::Engine e(TEST_POLICY);
    const uint32_t bot = e.register_system(kBot);
    const uint32_t g = e.signal("g"), k = e.signal("k");
    CHECK(e.last_reload_report() == "null");
    // A batch: g-max yellow and k-sum blue together.
    CHECK(e.observe_many(bot, {g, k}, {25.0, 1.0}, 1000) == airisk::Level::Yellow);
    CHECK(e.poll().size() == 3);
    CHECK(status_of([&] { e.observe_many(bot, {g, g}, {1.0, 2.0}, 1000); }) ==
          AIRISK_ERR_VALUE);
    CHECK(status_of([&] { e.observe_many(bot, {g}, {1.0, 2.0}, 1000); }) ==
          AIRISK_ERR_INVALID_ARGUMENT);
    CHECK(e.observe_many(bot, nullptr, nullptr, 0, 1000) == airisk::Level::Yellow);

    // g-max's low thresholds change: reset with the reason, k-sum kept.
    std::string tuned(TEST_POLICY);
    tuned.replace(tuned.find("[10, 20, 30, 40]"), 16, "[10, 20, 30, 45]");
    CHECK(status_of([&] { e.reload("{"); }) == AIRISK_ERR_JSON);
    const airisk::ReloadReport r = e.reload(tuned);
    CHECK(r.kept == 1 && r.reset == 1 && r.transitions == 1 && r.systems == 1);
    std::vector<airisk::Transition> t = e.poll();
    CHECK(t.size() == 2);
    if (t.size() == 2) {
        CHECK(t[0].rule_id == "g-max" && t[0].reason == "policy_reload");
        CHECK(t[0].to == airisk::Level::None && !t[0].is_muted());
        CHECK(t[1].is_system_scope() && t[1].reason.empty());
    }
    CHECK(e.last_reload_report().find("\"why\":\"thresholds\"") != std::string::npos);

    // Silences: the transition is muted and names the silence.
    CHECK(status_of([&] { e.silence(R"({"id": "x", "starts": 5, "ends": 5})"); }) ==
          AIRISK_ERR_SILENCE);
    CHECK(status_of([&] { e.unsilence("x"); }) == AIRISK_ERR_SILENCE);
    e.silence(R"({"id": "maint", "system": "bot", "starts": 0, "ends": 5000, "by": "ops"})");
    e.observe(bot, g, 35.0, 2000);
    t = e.poll();
    CHECK(!t.empty());
    for (const airisk::Transition &x : t) {
        CHECK(x.silenced == "maint" && x.is_muted() && x.actions == AIRISK_ACTION_LOG);
    }
    e.unsilence("maint");
}

} // namespace

void test_metrics() {
    airisk::Engine e(TEST_POLICY);
    const uint32_t bot = e.register_system(kBot);
    e.observe(bot, e.signal("k"), 3.0, 1000); // k-sum: orange
    std::string text = e.metrics();
    CHECK(text.find("airisk_system_level{system=\"bot\",grade=\"low\"} 3\n") !=
          std::string::npos);
    CHECK(text.find("airisk_rule_level{system=\"bot\",rule=\"k-sum\",category=\"c1\"} 3\n") !=
          std::string::npos);
    CHECK(text.find("# TYPE airisk_observations counter\nairisk_observations_total 1\n") !=
          std::string::npos);
    CHECK(text.size() > 6 && text.compare(text.size() - 6, 6, "# EOF\n") == 0);
    // Into a string that starts too small, then again into the same string: same text,
    // its capacity reused.
    std::string reused;
    e.metrics(reused);
    CHECK(reused == text);
    const char *before = reused.data();
    e.metrics(reused);
    CHECK(reused == text && reused.data() == before);
}

int main() {
    try {
        test_metrics();
        test_errors();
        test_wrapper();
        test_callback();
        test_incidents();
        test_prohibited_and_profiles();
        test_state();
        test_reload_batches_silences();
    } catch (const airisk::Error &e) {
        std::fprintf(stderr, "unexpected airisk::Error %d: %s\n", e.status(), e.what());
        return 1;
    }
    return test_summary("test_hpp");
}
