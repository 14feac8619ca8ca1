/*
 * airisk.hpp — a small header-only C++17 wrapper over the airisk C ABI (airisk.h).
 * SPDX-License-Identifier: Apache-2.0
 *
 *   airisk::Engine engine = airisk::Engine::with_default_policy();
 *   uint32_t bot = engine.register_system(R"({"id": "bot", "sector": "finance", ...})");
 *   uint32_t n = engine.signal("interactions");
 *   engine.observe(bot, n, 1.0, now_ms);
 *   for (const airisk::Transition &t : engine.poll()) { ... }
 *
 * Every failing call throws airisk::Error, which carries the airisk_status and the
 * detail from airisk_last_error(). Engine is move-only (RAII over airisk_engine *) and,
 * like the C engine, safe to use from many threads at once (except destruction and
 * moving).
 */
#ifndef AIRISK_HPP
#define AIRISK_HPP

#include "airisk.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace airisk {

/** Warning levels, with the values of the AIRISK_LEVEL_* constants. */
enum class Level : uint32_t {
    None = AIRISK_LEVEL_NONE,
    Blue = AIRISK_LEVEL_BLUE,
    Yellow = AIRISK_LEVEL_YELLOW,
    Orange = AIRISK_LEVEL_ORANGE,
    Red = AIRISK_LEVEL_RED,
};

/** "none", "blue", "yellow", "orange", "red" (or "unknown level"). */
inline const char *level_name(Level level) noexcept {
    return airisk_level_str(static_cast<uint32_t>(level));
}

/** The detail of this thread's last failed airisk call (airisk_last_error). */
inline std::string last_error() {
    size_t n = airisk_last_error(nullptr, 0);
    std::string s(n + 1, '\0');
    airisk_last_error(s.data(), s.size());
    s.resize(n);
    return s;
}

/** A failed airisk call: its status and the detail of airisk_last_error(). */
class Error : public std::runtime_error {
public:
    Error(airisk_status status, const std::string &detail)
        : std::runtime_error(detail.empty() ? std::string(airisk_status_str(status))
                                            : std::string(airisk_status_str(status)) +
                                                  " — " + detail),
          status_(status), detail_(detail) {}

    /** The AIRISK_ERR_* status. */
    airisk_status status() const noexcept { return status_; }
    /** The detail alone (what() also carries the status name). */
    const std::string &detail() const noexcept { return detail_; }

private:
    airisk_status status_;
    std::string detail_;
};

namespace detail {
inline void check(airisk_status s) {
    if (s != AIRISK_OK) {
        throw Error(s, last_error());
    }
}
/* A string_view's data() may be NULL for an empty view; airisk wants a pointer. */
inline const char *ptr(std::string_view s) noexcept { return s.data() ? s.data() : ""; }
inline std::string str(const char *s) { return s ? std::string(s) : std::string(); }
} // namespace detail

/** An owning copy of an airisk_transition (strings copied, valid after the engine). */
struct Transition {
    uint64_t seq = 0;
    int64_t ts_ms = 0;
    uint32_t system = 0;
    /** Rule index, or AIRISK_NO_RULE for a system-scope transition. */
    uint32_t rule = AIRISK_NO_RULE;
    Level from = Level::None;
    Level to = Level::None;
    uint32_t grade = 0;
    /** NaN when absent (empty window, system scope). */
    double value = NAN;
    /** NaN when absent (a change to none, system scope). */
    double threshold = NAN;
    /** AIRISK_ACTION_* bits. */
    uint32_t actions = 0;
    /** Seconds; -1 for none. */
    int64_t report_within_s = -1;
    std::string system_id;
    /** Empty for system scope. */
    std::string rule_id;
    /** Empty for system scope. */
    std::string category;
    /** Empty where absent. */
    std::string basis;
    std::string grade_id;

    Transition() = default;
    explicit Transition(const airisk_transition &t)
        : seq(t.seq), ts_ms(t.ts_ms), system(t.system), rule(t.rule),
          from(static_cast<Level>(t.from)), to(static_cast<Level>(t.to)), grade(t.grade),
          value(t.value), threshold(t.threshold), actions(t.actions),
          report_within_s(t.report_within_s), system_id(detail::str(t.system_id)),
          rule_id(detail::str(t.rule_id)), category(detail::str(t.category)),
          basis(detail::str(t.basis)), grade_id(detail::str(t.grade_id)) {}

    bool is_system_scope() const noexcept { return rule == AIRISK_NO_RULE; }
    bool has(uint32_t action_bit) const noexcept { return (actions & action_bit) != 0; }
    /** The names of the actions, in bit order. */
    std::vector<std::string> action_names() const {
        std::vector<std::string> v;
        for (uint32_t bit = 1; bit != 0 && bit <= AIRISK_ACTION_PUBLIC_NOTICE; bit <<= 1) {
            if (actions & bit) {
                v.emplace_back(airisk_action_str(bit));
            }
        }
        return v;
    }
};

/** The grade of a profile. */
struct Classification {
    uint32_t grade = 0;
    int32_t score = 0;
    std::string grade_id;
};

using Stats = airisk_stats;
using Observation = airisk_observation;

/** RAII owner of an airisk_engine. Move-only. */
class Engine {
public:
    using Callback = std::function<void(const airisk_transition &)>;

    /** An engine for the policy JSON document; throws Error (AIRISK_ERR_JSON, _POLICY, ...). */
    explicit Engine(std::string_view policy_json, size_t queue_capacity = 65536) {
        detail::check(airisk_engine_new_with_capacity(detail::ptr(policy_json),
                                                      policy_json.size(), queue_capacity,
                                                      &e_));
    }

    /** An engine for the default policy compiled into the library. */
    static Engine with_default_policy() {
        airisk_engine *e = nullptr;
        detail::check(airisk_engine_new_default(&e));
        return Engine(e);
    }

    /** Takes ownership of an engine from airisk_engine_new*. */
    static Engine adopt(airisk_engine *e) noexcept { return Engine(e); }

    Engine(const Engine &) = delete;
    Engine &operator=(const Engine &) = delete;
    Engine(Engine &&other) noexcept
        : e_(std::exchange(other.e_, nullptr)), callback_(std::move(other.callback_)),
          retired_(std::move(other.retired_)) {}
    Engine &operator=(Engine &&other) noexcept {
        if (this != &other) {
            reset();
            e_ = std::exchange(other.e_, nullptr);
            callback_ = std::move(other.callback_);
            retired_ = std::move(other.retired_);
        }
        return *this;
    }
    ~Engine() { reset(); }

    /** The underlying C engine (still owned by this object). */
    airisk_engine *get() const noexcept { return e_; }
    explicit operator bool() const noexcept { return e_ != nullptr; }

    /** Registers a system from its profile JSON; returns its handle. */
    uint32_t register_system(std::string_view profile_json) {
        uint32_t h = 0;
        detail::check(
            airisk_register(e_, detail::ptr(profile_json), profile_json.size(), &h));
        return h;
    }

    void deregister(uint32_t system) { detail::check(airisk_deregister(e_, system)); }

    /** The handle of a registered system, by id. */
    uint32_t system(std::string_view id) const {
        uint32_t h = 0;
        detail::check(airisk_system_lookup(e_, detail::ptr(id), id.size(), &h));
        return h;
    }

    /** A signal's index, by name (look it up once, off the hot path). */
    uint32_t signal(std::string_view name) const {
        uint32_t s = 0;
        detail::check(airisk_signal(e_, detail::ptr(name), name.size(), &s));
        return s;
    }

    /** Records an observation; returns the system's level afterwards. */
    Level observe(uint32_t system, uint32_t signal, double value, int64_t ts_ms) {
        airisk_level l = AIRISK_LEVEL_NONE;
        detail::check(airisk_observe(e_, system, signal, value, ts_ms, &l));
        return static_cast<Level>(l);
    }

    /** Records an observation by system id and signal name. */
    Level observe(std::string_view system_id, std::string_view signal, double value,
                  int64_t ts_ms) {
        airisk_level l = AIRISK_LEVEL_NONE;
        detail::check(airisk_observe_named(e_, detail::ptr(system_id), system_id.size(),
                                           detail::ptr(signal), signal.size(), value, ts_ms,
                                           &l));
        return static_cast<Level>(l);
    }

    /** Applies every valid observation, skips the rest; returns how many were applied. */
    size_t observe_batch(const std::vector<Observation> &obs) {
        size_t accepted = 0;
        detail::check(airisk_observe_batch(e_, obs.data(), obs.size(), &accepted));
        return accepted;
    }

    void tick(int64_t now_ms) { detail::check(airisk_tick(e_, now_ms)); }

    /** Moves up to max queued transitions out, oldest first. */
    std::vector<Transition> poll(size_t max = 1024) {
        std::vector<airisk_transition> buf(max);
        size_t n = 0;
        detail::check(airisk_poll(e_, max ? buf.data() : nullptr, max, &n));
        return std::vector<Transition>(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
    }

    /**
     * Sends transitions to cb (on the causing thread, no engine lock held) instead of the
     * queue; an empty function returns to the queue. cb must not throw: an exception
     * escaping it calls std::terminate.
     */
    void set_callback(Callback cb) {
        if (!cb) {
            detail::check(airisk_set_callback(e_, nullptr, nullptr));
            callback_.reset();
            return;
        }
        auto holder = std::make_unique<Callback>(std::move(cb));
        detail::check(airisk_set_callback(e_, &Engine::trampoline, holder.get()));
        /* The previous callback may still be running on another thread; keep it alive
         * until the engine goes away. */
        if (callback_) {
            retired_.push_back(std::move(callback_));
        }
        callback_ = std::move(holder);
    }

    Level system_level(uint32_t system) const {
        airisk_level l = AIRISK_LEVEL_NONE;
        detail::check(airisk_system_level(e_, system, &l));
        return static_cast<Level>(l);
    }

    Stats stats() const {
        Stats s{};
        detail::check(airisk_engine_stats(e_, &s));
        return s;
    }

    Classification classify(std::string_view profile_json) const {
        airisk_classification c{};
        detail::check(
            airisk_classify(e_, detail::ptr(profile_json), profile_json.size(), &c));
        return Classification{c.grade, c.score, detail::str(c.grade_id)};
    }

    /** The classification with its explanation (factors, floors, bases), as JSON. */
    std::string classify_explain(std::string_view profile_json) const {
        size_t len = 0;
        airisk_status s = airisk_classify_explain(e_, detail::ptr(profile_json),
                                                  profile_json.size(), nullptr, 0, &len);
        if (s != AIRISK_ERR_BUFFER) {
            detail::check(s);
        }
        std::string out(len + 1, '\0');
        detail::check(airisk_classify_explain(e_, detail::ptr(profile_json),
                                              profile_json.size(), out.data(), out.size(),
                                              &len));
        out.resize(len);
        return out;
    }

private:
    explicit Engine(airisk_engine *e) noexcept : e_(e) {}

    void reset() noexcept {
        airisk_engine_free(std::exchange(e_, nullptr));
        callback_.reset();
        retired_.clear();
    }

    static void trampoline(const airisk_transition *t, void *user) noexcept {
        (*static_cast<Callback *>(user))(*t);
    }

    airisk_engine *e_ = nullptr;
    std::unique_ptr<Callback> callback_;
    std::vector<std::unique_ptr<Callback>> retired_;
};

} // namespace airisk

#endif /* AIRISK_HPP */
