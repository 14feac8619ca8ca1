// The C++17 wrapper include/airisk.hpp: RAII and moves, exceptions carrying the status and
// the detail, string_view inputs, poll copies, classification, callbacks.
#include "airisk.hpp"

#include <cmath>
#include <cstdio>
#include <string>
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

} // namespace

int main() {
    try {
        test_errors();
        test_wrapper();
        test_callback();
    } catch (const airisk::Error &e) {
        std::fprintf(stderr, "unexpected airisk::Error %d: %s\n", e.status(), e.what());
        return 1;
    }
    return test_summary("test_hpp");
}
