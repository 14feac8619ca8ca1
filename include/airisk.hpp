/*
 * airisk.hpp — a small header-only C++17 wrapper over the airisk C ABI (airisk.h).
 * SPDX-License-Identifier: Apache-2.0
 *
 *   airisk::Engine engine = airisk::Engine::with_default_policy();
 *   uint32_t bot = engine.register_system(R"({"id": "bot", "sector": "finance", ...})");
 *   uint32_t n = engine.signal("interactions");
 *   engine.observe(bot, n, 1.0, now_ms);
 *   for (const airisk::Transition &t : engine.poll()) { ... }
 *   for (const airisk::IncidentEvent &ev : engine.poll_incidents()) { ... }
 *   airisk::ReloadReport r = engine.reload(tuned_policy_json);  // keeps what still holds
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
#include <optional>
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

/** What happened to an incident, with the values of the AIRISK_INCIDENT_* constants. */
enum class IncidentEventKind : uint32_t {
    Opened = AIRISK_INCIDENT_OPENED,
    Escalated = AIRISK_INCIDENT_ESCALATED,
    Acknowledged = AIRISK_INCIDENT_ACKNOWLEDGED,
    ReportFiled = AIRISK_INCIDENT_REPORT_FILED,
    Overdue = AIRISK_INCIDENT_OVERDUE,
    Resolved = AIRISK_INCIDENT_RESOLVED,
    Reopened = AIRISK_INCIDENT_REOPENED,
    Closed = AIRISK_INCIDENT_CLOSED,
};

/** A report to the regulator, with the values of the AIRISK_REPORT_* constants. */
enum class ReportKind : uint32_t {
    None = AIRISK_REPORT_NONE,
    Initial = AIRISK_REPORT_INITIAL,
    Update = AIRISK_REPORT_UPDATE,
    Final = AIRISK_REPORT_FINAL,
};

/** What an incident owes, with the values of the AIRISK_DUE_* constants. */
enum class DueKind : uint32_t {
    None = AIRISK_DUE_NONE,
    Initial = AIRISK_DUE_INITIAL,
    Update = AIRISK_DUE_UPDATE,
    Final = AIRISK_DUE_FINAL,
    Ack = AIRISK_DUE_ACK,
};

/** "opened", "escalated", ..., "closed" (or "unknown event"). */
inline const char *event_name(IncidentEventKind kind) noexcept {
    return airisk_incident_event_str(static_cast<uint32_t>(kind));
}

/** "none", "initial", "update", "final" (or "unknown report"). */
inline const char *report_name(ReportKind kind) noexcept {
    return airisk_report_str(static_cast<uint32_t>(kind));
}

/** "none", "initial", "update", "final", "ack" (or "unknown report"). */
inline const char *due_name(DueKind kind) noexcept {
    return airisk_report_str(static_cast<uint32_t>(kind));
}

/** The report kind a due kind asks for; ReportKind::None for None and Ack. */
inline ReportKind report_for(DueKind due) noexcept {
    switch (due) {
    case DueKind::Initial:
        return ReportKind::Initial;
    case DueKind::Update:
        return ReportKind::Update;
    case DueKind::Final:
        return ReportKind::Final;
    default:
        return ReportKind::None;
    }
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

/** A display name from the policy, in Chinese and English; empty where absent. */
struct Name {
    std::string zh;
    std::string en;

    Name() = default;
    Name(const char *zh_, const char *en_) : zh(detail::str(zh_)), en(detail::str(en_)) {}
    bool empty() const noexcept { return zh.empty() && en.empty(); }
};

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
    /** Display names; empty where the policy gives none (rule and category: system scope). */
    Name grade_name;
    Name rule_name;
    Name category_name;
    /** The silence that muted it (actions reduced to log); empty when none did. */
    std::string silenced;
    /** The policy's inhibition that muted it; empty when none did. */
    std::string inhibited_by;
    /** "policy_reload" for a rule a reload reset or removed while above none; else empty. */
    std::string reason;

    Transition() = default;
    explicit Transition(const airisk_transition &t)
        : seq(t.seq), ts_ms(t.ts_ms), system(t.system), rule(t.rule),
          from(static_cast<Level>(t.from)), to(static_cast<Level>(t.to)), grade(t.grade),
          value(t.value), threshold(t.threshold), actions(t.actions),
          report_within_s(t.report_within_s), system_id(detail::str(t.system_id)),
          rule_id(detail::str(t.rule_id)), category(detail::str(t.category)),
          basis(detail::str(t.basis)), grade_id(detail::str(t.grade_id)),
          grade_name(t.grade_name_zh, t.grade_name_en),
          rule_name(t.rule_name_zh, t.rule_name_en),
          category_name(t.category_name_zh, t.category_name_en),
          silenced(detail::str(t.silenced)), inhibited_by(detail::str(t.inhibited_by)),
          reason(detail::str(t.reason)) {}

    bool is_system_scope() const noexcept { return rule == AIRISK_NO_RULE; }
    /** Whether a silence or an inhibition muted it. */
    bool is_muted() const noexcept { return !silenced.empty() || !inhibited_by.empty(); }
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

/** An owning copy of an airisk_incident_event (strings copied, valid after the engine). */
struct IncidentEvent {
    uint64_t seq = 0;
    int64_t ts_ms = 0;
    IncidentEventKind event = IncidentEventKind::Opened;
    uint32_t system = 0;
    std::string incident;
    std::string system_id;
    std::string category;
    std::string severity;
    uint32_t severity_rank = 0;
    bool reportable = false;
    std::string operator_type;
    /** The earliest report still owed (for Overdue: the one missed, maybe Ack). */
    DueKind due = DueKind::None;
    /** The deadline of due; INT64_MIN when due is None. */
    int64_t due_by = INT64_MIN;
    /** Rule index of the transition that caused the event, or AIRISK_NO_RULE. */
    uint32_t rule = AIRISK_NO_RULE;
    /** Empty without a rule. */
    std::string rule_id;
    /** That transition's new level; empty without a rule. */
    std::optional<Level> level;
    std::string basis;
    /** ReportFiled: which report (else None), whether late, the reference. */
    ReportKind report = ReportKind::None;
    std::optional<bool> late;
    std::string reference;
    /** Acknowledged: by whom. */
    std::string by;
    Name category_name;
    Name severity_name;
    Name rule_name;

    IncidentEvent() = default;
    explicit IncidentEvent(const airisk_incident_event &e)
        : seq(e.seq), ts_ms(e.ts_ms), event(static_cast<IncidentEventKind>(e.event)),
          system(e.system), incident(detail::str(e.incident)),
          system_id(detail::str(e.system_id)), category(detail::str(e.category)),
          severity(detail::str(e.severity)), severity_rank(e.severity_rank),
          reportable(e.reportable), operator_type(detail::str(e.operator_type)),
          due(static_cast<DueKind>(e.due)), due_by(e.due_by), rule(e.rule),
          rule_id(detail::str(e.rule_id)),
          level(e.level == AIRISK_NO_LEVEL ? std::nullopt
                                           : std::optional<Level>(static_cast<Level>(e.level))),
          basis(detail::str(e.basis)), report(static_cast<ReportKind>(e.report)),
          late(e.late < 0 ? std::nullopt : std::optional<bool>(e.late != 0)),
          reference(detail::str(e.reference)), by(detail::str(e.by)),
          category_name(e.category_name_zh, e.category_name_en),
          severity_name(e.severity_name_zh, e.severity_name_en),
          rule_name(e.rule_name_zh, e.rule_name_en) {}

    bool has_rule() const noexcept { return rule != AIRISK_NO_RULE; }
};

/** The grade of a profile, and the prohibited use it meets, if any. */
struct Classification {
    uint32_t grade = 0;
    int32_t score = 0;
    std::string grade_id;
    bool prohibited = false;
    /** Empty unless prohibited. */
    std::string prohibited_id;
    std::string prohibited_basis;

    Classification() = default;
    explicit Classification(const airisk_classification &c)
        : grade(c.grade), score(c.score), grade_id(detail::str(c.grade_id)),
          prohibited(c.prohibited), prohibited_id(detail::str(c.prohibited_id)),
          prohibited_basis(detail::str(c.prohibited_basis)) {}
};

/** The current level of one rule of a system. */
struct RuleLevel {
    uint32_t rule = 0;
    Level level = Level::None;
    std::string rule_id;
};

using Stats = airisk_stats;
using Observation = airisk_observation;
/** What a reload did, in numbers; the whole report is Engine::last_reload_report(). */
using ReloadReport = airisk_reload_report;

/** RAII owner of an airisk_engine. Move-only. */
class Engine {
public:
    using Callback = std::function<void(const airisk_transition &)>;
    using IncidentCallback = std::function<void(const airisk_incident_event &)>;

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

    /**
     * An engine restored from snapshot() bytes under the policy JSON (an empty policy_json:
     * the default policy). Under another policy than the snapshot's, the state is migrated
     * as reload() would (last_reload_report() says what it did); throws Error
     * (AIRISK_ERR_RELOAD) when that policy does not accept the snapshot's systems.
     */
    static Engine restore(std::string_view policy_json, const std::vector<uint8_t> &snapshot) {
        airisk_engine *e = nullptr;
        detail::check(airisk_engine_restore(policy_json.empty() ? nullptr : policy_json.data(),
                                            policy_json.size(), snapshot.data(),
                                            snapshot.size(), &e));
        return Engine(e);
    }

    Engine(const Engine &) = delete;
    Engine &operator=(const Engine &) = delete;
    Engine(Engine &&other) noexcept
        : e_(std::exchange(other.e_, nullptr)), callback_(std::move(other.callback_)),
          retired_(std::move(other.retired_)),
          incident_callback_(std::move(other.incident_callback_)),
          retired_incident_(std::move(other.retired_incident_)) {}
    Engine &operator=(Engine &&other) noexcept {
        if (this != &other) {
            reset();
            e_ = std::exchange(other.e_, nullptr);
            callback_ = std::move(other.callback_);
            retired_ = std::move(other.retired_);
            incident_callback_ = std::move(other.incident_callback_);
            retired_incident_ = std::move(other.retired_incident_);
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

    /**
     * Records several observations of one system at one time (signals[i] = values[i]),
     * then evaluates each rule that reads any of them once; any bad or stale entry
     * rejects the whole batch. Returns the system's level afterwards.
     */
    Level observe_many(uint32_t system, const uint32_t *signals, const double *values,
                       size_t n, int64_t ts_ms) {
        airisk_level l = AIRISK_LEVEL_NONE;
        detail::check(airisk_observe_many(e_, system, signals, values, n, ts_ms, &l));
        return static_cast<Level>(l);
    }

    /** observe_many() with two vectors of the same length (else AIRISK_ERR_INVALID_ARGUMENT). */
    Level observe_many(uint32_t system, const std::vector<uint32_t> &signals,
                       const std::vector<double> &values, int64_t ts_ms) {
        if (signals.size() != values.size()) {
            throw Error(AIRISK_ERR_INVALID_ARGUMENT,
                        "observe_many: signals and values differ in length");
        }
        return observe_many(system, signals.data(), values.data(), signals.size(), ts_ms);
    }

    void tick(int64_t now_ms) { detail::check(airisk_tick(e_, now_ms)); }

    /**
     * Replaces the policy in place (airisk_engine_reload): rules whose meaning is unchanged
     * keep their state, the others start empty; throws Error (AIRISK_ERR_JSON, _POLICY,
     * _RELOAD) and changes nothing when the policy is invalid or refused.
     */
    ReloadReport reload(std::string_view policy_json) {
        ReloadReport r{};
        detail::check(
            airisk_engine_reload(e_, detail::ptr(policy_json), policy_json.size(), &r));
        return r;
    }

    /** The last reload's whole report as JSON ("null" before any reload). */
    std::string last_reload_report() const {
        size_t len = 0;
        for (;;) {
            airisk_status s = airisk_last_reload_report(e_, nullptr, 0, &len);
            if (s != AIRISK_ERR_BUFFER) {
                detail::check(s);
            }
            std::string out(len + 1, '\0');
            s = airisk_last_reload_report(e_, out.data(), out.size(), &len);
            if (s == AIRISK_OK) {
                out.resize(len);
                return out;
            }
            if (s != AIRISK_ERR_BUFFER) { /* a reload in between: ask again */
                detail::check(s);
            }
        }
    }

    /** Sets (or replaces, by id) a silence given as JSON (airisk_silence). */
    void silence(std::string_view silence_json) {
        detail::check(airisk_silence(e_, detail::ptr(silence_json), silence_json.size()));
    }

    /** Removes a silence by id. */
    void unsilence(std::string_view id) {
        detail::check(airisk_unsilence(e_, detail::ptr(id), id.size()));
    }

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
        return Classification(c);
    }

    /** Re-classifies a registered system with a new profile (same id). */
    Classification update_profile(uint32_t system, std::string_view profile_json) {
        airisk_classification c{};
        detail::check(airisk_update_profile(e_, system, detail::ptr(profile_json),
                                            profile_json.size(), &c));
        return Classification(c);
    }

    /** The current level of every rule of a system, in rule order. */
    std::vector<RuleLevel> rule_levels(uint32_t system) const {
        size_t n = 0;
        airisk_status s = airisk_rule_levels(e_, system, nullptr, 0, &n);
        if (s != AIRISK_ERR_BUFFER) {
            detail::check(s);
        }
        std::vector<airisk_rule_level> buf(n);
        detail::check(airisk_rule_levels(e_, system, n ? buf.data() : nullptr, n, &n));
        std::vector<RuleLevel> out;
        out.reserve(n);
        for (size_t i = 0; i < n; i++) {
            out.push_back(RuleLevel{buf[i].rule, static_cast<Level>(buf[i].level),
                                    detail::str(buf[i].rule_id)});
        }
        return out;
    }

    /** Moves up to max queued incident events out, oldest first. */
    std::vector<IncidentEvent> poll_incidents(size_t max = 1024) {
        std::vector<airisk_incident_event> buf(max);
        size_t n = 0;
        detail::check(airisk_poll_incidents(e_, max ? buf.data() : nullptr, max, &n));
        return std::vector<IncidentEvent>(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
    }

    /**
     * Sends incident events to cb (on the causing thread, no engine lock held) instead of
     * the incident queue; an empty function returns to the queue. cb must not throw.
     */
    void set_incident_callback(IncidentCallback cb) {
        if (!cb) {
            detail::check(airisk_set_incident_callback(e_, nullptr, nullptr));
            incident_callback_.reset();
            return;
        }
        auto holder = std::make_unique<IncidentCallback>(std::move(cb));
        detail::check(
            airisk_set_incident_callback(e_, &Engine::incident_trampoline, holder.get()));
        if (incident_callback_) {
            retired_incident_.push_back(std::move(incident_callback_));
        }
        incident_callback_ = std::move(holder);
    }

    /** Acknowledges an incident at ts_ms (the caller's time), by `by`. */
    void acknowledge(std::string_view incident, int64_t ts_ms, std::string_view by) {
        detail::check(airisk_acknowledge(e_, detail::ptr(incident), incident.size(), ts_ms,
                                         detail::ptr(by), by.size()));
    }

    /** Files a report of an incident at ts_ms (the caller's time) with a reference. */
    void file_report(std::string_view incident, ReportKind kind, int64_t ts_ms,
                     std::string_view reference) {
        detail::check(airisk_file_report(e_, detail::ptr(incident), incident.size(),
                                         static_cast<uint32_t>(kind), ts_ms,
                                         detail::ptr(reference), reference.size()));
    }

    /** The whole engine's state, for restore(). */
    std::vector<uint8_t> snapshot() const {
        return read_bytes([this](uint8_t *buf, size_t cap, size_t *len) {
            return airisk_snapshot(e_, buf, cap, len);
        });
    }

    /** One system's state, for restore_system() (migrated there if the policy differs). */
    std::vector<uint8_t> snapshot_system(uint32_t system) const {
        return read_bytes([this, system](uint8_t *buf, size_t cap, size_t *len) {
            return airisk_snapshot_system(e_, system, buf, cap, len);
        });
    }

    /** Registers a system from snapshot_system() bytes; returns its new handle. */
    uint32_t restore_system(const std::vector<uint8_t> &bytes) {
        uint32_t h = 0;
        detail::check(airisk_restore_system(e_, bytes.data(), bytes.size(), &h));
        return h;
    }

    /** Opens (or continues) the audit journal at path; durability as airisk_journal_open. */
    void journal_open(std::string_view path, uint32_t durability = 1) {
        detail::check(airisk_journal_open(e_, detail::ptr(path), path.size(), durability));
    }
    /** Creates a new audit journal at path; throws (AIRISK_ERR_IO) if a file exists there. */
    void journal_create(std::string_view path, uint32_t durability = 1) {
        detail::check(airisk_journal_create(e_, detail::ptr(path), path.size(), durability));
    }
    void journal_sync() { detail::check(airisk_journal_sync(e_)); }
    void journal_close() { detail::check(airisk_journal_close(e_)); }

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

    /**
     * The engine's metrics in the OpenMetrics text format (airisk_metrics), for a
     * Prometheus scrape: serve as "application/openmetrics-text; version=1.0.0;
     * charset=utf-8".
     */
    std::string metrics() const {
        std::string out;
        metrics(out);
        return out;
    }

    /**
     * The same, written into out (replacing its contents) and reusing its capacity: no
     * allocation once out has held a text as long, e.g. when one string serves every
     * scrape.
     */
    void metrics(std::string &out) const {
        out.resize(out.capacity());
        size_t len = 0;
        /* data() is writable for size() + 1 chars, the last one for the NUL. */
        airisk_status s = airisk_metrics(e_, out.data(), out.size() + 1, &len);
        while (s == AIRISK_ERR_BUFFER) {
            /* Some slack: levels and counters may grow before the next call. */
            out.resize(len + len / 8 + 64);
            s = airisk_metrics(e_, out.data(), out.size() + 1, &len);
        }
        detail::check(s);
        out.resize(len);
    }

private:
    explicit Engine(airisk_engine *e) noexcept : e_(e) {}

    void reset() noexcept {
        airisk_engine_free(std::exchange(e_, nullptr));
        callback_.reset();
        retired_.clear();
        incident_callback_.reset();
        retired_incident_.clear();
    }

    static void trampoline(const airisk_transition *t, void *user) noexcept {
        (*static_cast<Callback *>(user))(*t);
    }

    static void incident_trampoline(const airisk_incident_event *ev, void *user) noexcept {
        (*static_cast<IncidentCallback *>(user))(*ev);
    }

    /* Size query, then copy; retried if the state grew in between. */
    template <typename F> static std::vector<uint8_t> read_bytes(F &&call) {
        size_t len = 0;
        airisk_status s = call(nullptr, 0, &len);
        for (;;) {
            if (s != AIRISK_ERR_BUFFER) {
                detail::check(s);
                return {};
            }
            std::vector<uint8_t> buf(len);
            s = call(buf.data(), buf.size(), &len);
            if (s == AIRISK_OK) {
                buf.resize(len);
                return buf;
            }
        }
    }

    airisk_engine *e_ = nullptr;
    std::unique_ptr<Callback> callback_;
    std::vector<std::unique_ptr<Callback>> retired_;
    std::unique_ptr<IncidentCallback> incident_callback_;
    std::vector<std::unique_ptr<IncidentCallback>> retired_incident_;
};

} // namespace airisk

#endif /* AIRISK_HPP */
