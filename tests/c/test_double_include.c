/* The header compiles on its own, twice in one translation unit (include guard), and
 * declares everything a C program needs without other includes. */
#include "airisk.h"
#include "airisk.h"

#if !defined(AIRISK_H)
#error "include guard AIRISK_H missing"
#endif
#if AIRISK_ABI_VERSION < 2
#error "AIRISK_ABI_VERSION"
#endif

int main(void) {
    airisk_engine *e = 0;
    airisk_stats st;
    airisk_transition t;
    airisk_observation o = {0, 0, 1.0, 0};
    airisk_classification c;
    airisk_transition_cb cb = 0;
    airisk_incident_event ev;
    airisk_rule_level rl;
    airisk_incident_cb icb = 0;
    size_t n = 0;
    int ok = 1;
    (void)t;
    (void)c;
    (void)o;
    (void)ev;
    (void)rl;
    ok &= airisk_abi_version() == AIRISK_ABI_VERSION;
    ok &= airisk_engine_new_default(&e) == AIRISK_OK;
    ok &= airisk_set_callback(e, cb, 0) == AIRISK_OK;
    ok &= airisk_engine_stats(e, &st) == AIRISK_OK && st.systems == 0;
    ok &= airisk_poll(e, 0, 0, &n) == AIRISK_OK && n == 0;
    ok &= airisk_set_incident_callback(e, icb, 0) == AIRISK_OK;
    ok &= airisk_poll_incidents(e, 0, 0, &n) == AIRISK_OK && n == 0;
    ok &= AIRISK_NO_RULE == UINT32_MAX;
    ok &= sizeof(bool) >= 1; /* stdbool.h is included by the header */
    airisk_engine_free(e);
    return ok ? 0 : 1;
}
