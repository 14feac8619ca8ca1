/*
 * airisk_metrics through the C ABI, under the incidents policy of test_common.h: the size
 * query, a buffer too small by one byte and by half (AIRISK_ERR_BUFFER, the needed length
 * returned, nothing written to the buffer and nothing past cap), the exact fit (the text
 * and its NUL), label escaping of a system id, and the NULL paths. Run from tests/ffi_c.rs
 * (also under valgrind).
 */
#include "test_common.h"

#include <stdint.h>
#include <stdlib.h>

static const char SYS_A[] = "{\"id\": \"a\", \"sector\": \"s0\", \"data\": \"public\","
                            " \"autonomy\": \"hitl\", \"users\": 1}";
/* Id: q"u\o (a quote and a backslash to escape). */
static const char SYS_Q[] = "{\"id\": \"q\\\"u\\\\o\", \"sector\": \"s9\", \"data\": \"public\","
                            " \"autonomy\": \"hitl\", \"users\": 1}";

#define CANARY 0xA5
#define SLACK 64

/* A buffer of cap + SLACK bytes, all CANARY. */
static unsigned char *canary_buf(size_t cap) {
    unsigned char *b = malloc(cap + SLACK);
    if (b) {
        memset(b, CANARY, cap + SLACK);
    }
    return b;
}

static int untouched(const unsigned char *b, size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
        if (b[i] != CANARY) {
            fprintf(stderr, "  byte %zu was written\n", i);
            return 0;
        }
    }
    return 1;
}

int main(void) {
    airisk_engine *e = test_incident_engine();
    if (!e) {
        return 1;
    }
    uint32_t a = test_register(e, SYS_A);
    uint32_t q = test_register(e, SYS_Q);
    uint32_t g = 0, h = 0;
    CHECK_OK(airisk_signal(e, "g", 1, &g));
    CHECK_OK(airisk_signal(e, "h", 1, &h));
    airisk_level lv = 0;
    CHECK_OK(airisk_observe(e, a, g, 4.0, 10000, &lv)); /* a: g-max red, an incident */
    CHECK(lv == AIRISK_LEVEL_RED);
    CHECK_OK(airisk_observe(e, q, h, 2.0, 10000, &lv)); /* q: h-max yellow */

    /* Size query. */
    size_t need = 0;
    CHECK_STATUS(AIRISK_ERR_BUFFER, airisk_metrics(e, NULL, 0, &need));
    CHECK(need > 500);
    CHECK_DETAIL_HAS("bytes");

    /* Too small by one (no room for the NUL) and by half: nothing written at all. */
    size_t sizes[2] = {need, need / 2};
    for (int k = 0; k < 2; k++) {
        size_t cap = sizes[k];
        unsigned char *b = canary_buf(cap);
        if (!b) {
            CHECK(0);
            break;
        }
        size_t len = 7;
        CHECK_STATUS(AIRISK_ERR_BUFFER, airisk_metrics(e, (char *)b, cap, &len));
        CHECK(len == need);
        CHECK(untouched(b, 0, cap + SLACK));
        free(b);
    }

    /* Exact fit: the text, its NUL, nothing after. */
    unsigned char *b = canary_buf(need + 1);
    if (b) {
        size_t len = 0;
        CHECK_OK(airisk_metrics(e, (char *)b, need + 1, &len));
        CHECK(len == need);
        CHECK(b[len] == 0);
        CHECK(strlen((const char *)b) == len);
        CHECK(untouched(b, need + 1, need + 1 + SLACK));
        const char *t = (const char *)b;
        CHECK(strstr(t, "airisk_system_level{system=\"a\",grade=\"low\"} 4\n") != NULL);
        CHECK(strstr(t, "airisk_system_level{system=\"q\\\"u\\\\o\",grade=\"high\"} 2\n") != NULL);
        CHECK(strstr(t, "airisk_rule_level{system=\"a\",rule=\"g-max\",category=\"c1\"} 4\n") !=
              NULL);
        CHECK(strstr(t, "# TYPE airisk_transitions counter\n") != NULL);
        CHECK(strstr(t, "airisk_transitions_total{to=\"red\"} 2\n") != NULL);
        CHECK(strstr(t, "airisk_incidents_open{severity=\"major\"} 1\n") != NULL);
        CHECK(len > 6 && strcmp(t + len - 6, "# EOF\n") == 0);
        free(b);
    }

    /* NULL paths: nothing written through out_len. */
    size_t len = 12345;
    char small[8];
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_metrics(NULL, small, sizeof small, &len));
    CHECK(len == 12345);
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_metrics(e, small, sizeof small, NULL));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_metrics(e, NULL, 16, &len));
    CHECK(len == 12345);

    airisk_engine_free(e);
    return test_summary("test_metrics");
}
