/*
 * The offsets of the ABI structs' fields equal the committed table tests/c/abi_layout.h
 * (LP64 targets): fields keep their offsets across ABI versions. The table's Rust twin is
 * in tests/ffi_c.rs.
 */
#include "test_common.h"

#include <stddef.h>
#include <stdint.h>

int main(void) {
#if UINTPTR_MAX == UINT64_MAX
    int fields = 0;
#define AIRISK_LAYOUT(type, field, offset, since)                                          \
    do {                                                                                   \
        fields++;                                                                          \
        CHECK(since >= 1 && since <= AIRISK_ABI_VERSION);                                  \
        if (offsetof(type, field) != (offset)) {                                           \
            fprintf(stderr, "%s.%s: offset %zu, the table says %d\n", #type, #field,       \
                    offsetof(type, field), (offset));                                      \
            CHECK(offsetof(type, field) == (offset));                                      \
        }                                                                                  \
    } while (0);
#include "abi_layout.h"
#undef AIRISK_LAYOUT
    CHECK(fields > 60);
    /* The last field of each struct ends where the struct does (up to alignment), so a
     * field appended without a line in the table is noticed from C too. */
    CHECK(sizeof(airisk_classification) == 40);
    CHECK(sizeof(airisk_stats) == 72);
    CHECK(sizeof(airisk_observation) == 24);
    CHECK(sizeof(airisk_transition) == 184);
    CHECK(sizeof(airisk_incident_event) == 184);
    CHECK(sizeof(airisk_rule_level) == 16);
    CHECK(sizeof(airisk_reload_report) == 80);
#else
    printf("not an LP64 target: layout table not checked\n");
#endif
    return test_summary("test_layout");
}
