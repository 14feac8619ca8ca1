// airisk.h included from C++ (cpp_compat: extern "C" linkage), no wrapper.
#include "airisk.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace {
int failures = 0;
void check(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "C++ check failed: %s\n", what);
        failures++;
    }
}

struct Collected {
    int n = 0;
    std::string last_system;
};

extern "C" void collect(const airisk_transition *t, void *user) {
    auto *c = static_cast<Collected *>(user);
    c->n++;
    c->last_system = t->system_id;
}

extern "C" void count_incident(const airisk_incident_event *ev, void *user) {
    auto *n = static_cast<int *>(user);
    *n += ev->seq > 0 ? 1 : 0;
}
} // namespace

int main() {
    airisk_engine *e = nullptr;
    check(airisk_engine_new_default(&e) == AIRISK_OK, "engine_new_default");
    const std::string profile = R"({"id": "cpp", "sector": "finance", "data": "personal",
        "autonomy": "human_in_the_loop", "users": 100})";
    uint32_t h = 99;
    check(airisk_register(e, profile.data(), profile.size(), &h) == AIRISK_OK, "register");
    check(h == 0, "first handle is 0");
    uint32_t incidents = 0;
    check(airisk_signal(e, "safety_incidents", std::strlen("safety_incidents"), &incidents) ==
              AIRISK_OK,
          "signal");
    Collected c;
    check(airisk_set_callback(e, collect, &c) == AIRISK_OK, "set_callback");
    int incident_events = 0;
    check(airisk_set_incident_callback(e, count_incident, &incident_events) == AIRISK_OK,
          "set_incident_callback");
    airisk_level lvl = AIRISK_LEVEL_NONE;
    check(airisk_observe(e, h, incidents, 1.0, 1764374400000LL, &lvl) == AIRISK_OK, "observe");
    check(lvl > AIRISK_LEVEL_NONE, "an incident raises the level");
    check(c.n >= 2 && c.last_system == "cpp", "callback from C++");
    airisk_stats st{};
    check(airisk_engine_stats(e, &st) == AIRISK_OK &&
              st.incident_events == static_cast<uint64_t>(incident_events),
          "incident callback from C++");
    check(airisk_observe(e, h, incidents, -1.0, 1764374400000LL, &lvl) == AIRISK_ERR_VALUE,
          "negative counter");
    char buf[256];
    check(airisk_last_error(buf, sizeof buf) > 0 && std::strstr(buf, "counter") != nullptr,
          "last_error");
    airisk_engine_free(e);
    if (failures == 0) {
        std::printf("test_header_cpp: ok\n");
    }
    return failures == 0 ? 0 : 1;
}
