/*
 * The committed layout of the C ABI's structs on LP64 targets (64-bit Linux, macOS):
 * AIRISK_LAYOUT(struct, field, offset in bytes, ABI version that added the field).
 *
 * A line here never changes: fields are only ever appended to a struct, so every field
 * keeps its offset in every later ABI version (appending changes a struct's size, which is
 * why it bumps AIRISK_ABI_VERSION). A new field gets a new line. Checked with offsetof
 * from C (tests/c/test_layout.c) and with offset_of! from Rust (tests/ffi_c.rs), which
 * also checks that every field the header declares is listed.
 *
 * No include guard: include it after defining AIRISK_LAYOUT.
 */
AIRISK_LAYOUT(airisk_classification, grade, 0, 1)
AIRISK_LAYOUT(airisk_classification, score, 4, 1)
AIRISK_LAYOUT(airisk_classification, grade_id, 8, 1)
AIRISK_LAYOUT(airisk_classification, prohibited, 16, 2)
AIRISK_LAYOUT(airisk_classification, prohibited_id, 24, 2)
AIRISK_LAYOUT(airisk_classification, prohibited_basis, 32, 2)

AIRISK_LAYOUT(airisk_stats, observed, 0, 1)
AIRISK_LAYOUT(airisk_stats, rejected_stale, 8, 1)
AIRISK_LAYOUT(airisk_stats, rejected_invalid, 16, 1)
AIRISK_LAYOUT(airisk_stats, transitions, 24, 1)
AIRISK_LAYOUT(airisk_stats, dropped, 32, 1)
AIRISK_LAYOUT(airisk_stats, systems, 40, 1)
AIRISK_LAYOUT(airisk_stats, journal_errors, 48, 1)
AIRISK_LAYOUT(airisk_stats, incident_events, 56, 2)
AIRISK_LAYOUT(airisk_stats, incidents_dropped, 64, 2)

AIRISK_LAYOUT(airisk_observation, system, 0, 1)
AIRISK_LAYOUT(airisk_observation, signal, 4, 1)
AIRISK_LAYOUT(airisk_observation, value, 8, 1)
AIRISK_LAYOUT(airisk_observation, ts_ms, 16, 1)

AIRISK_LAYOUT(airisk_transition, seq, 0, 1)
AIRISK_LAYOUT(airisk_transition, ts_ms, 8, 1)
AIRISK_LAYOUT(airisk_transition, system, 16, 1)
AIRISK_LAYOUT(airisk_transition, rule, 20, 1)
AIRISK_LAYOUT(airisk_transition, from, 24, 1)
AIRISK_LAYOUT(airisk_transition, to, 28, 1)
AIRISK_LAYOUT(airisk_transition, grade, 32, 1)
AIRISK_LAYOUT(airisk_transition, value, 40, 1)
AIRISK_LAYOUT(airisk_transition, threshold, 48, 1)
AIRISK_LAYOUT(airisk_transition, actions, 56, 1)
AIRISK_LAYOUT(airisk_transition, report_within_s, 64, 1)
AIRISK_LAYOUT(airisk_transition, system_id, 72, 1)
AIRISK_LAYOUT(airisk_transition, rule_id, 80, 1)
AIRISK_LAYOUT(airisk_transition, category, 88, 1)
AIRISK_LAYOUT(airisk_transition, basis, 96, 1)
AIRISK_LAYOUT(airisk_transition, grade_id, 104, 1)
AIRISK_LAYOUT(airisk_transition, grade_name_zh, 112, 2)
AIRISK_LAYOUT(airisk_transition, grade_name_en, 120, 2)
AIRISK_LAYOUT(airisk_transition, rule_name_zh, 128, 2)
AIRISK_LAYOUT(airisk_transition, rule_name_en, 136, 2)
AIRISK_LAYOUT(airisk_transition, category_name_zh, 144, 2)
AIRISK_LAYOUT(airisk_transition, category_name_en, 152, 2)

AIRISK_LAYOUT(airisk_incident_event, seq, 0, 2)
AIRISK_LAYOUT(airisk_incident_event, ts_ms, 8, 2)
AIRISK_LAYOUT(airisk_incident_event, event, 16, 2)
AIRISK_LAYOUT(airisk_incident_event, system, 20, 2)
AIRISK_LAYOUT(airisk_incident_event, incident, 24, 2)
AIRISK_LAYOUT(airisk_incident_event, system_id, 32, 2)
AIRISK_LAYOUT(airisk_incident_event, category, 40, 2)
AIRISK_LAYOUT(airisk_incident_event, severity, 48, 2)
AIRISK_LAYOUT(airisk_incident_event, severity_rank, 56, 2)
AIRISK_LAYOUT(airisk_incident_event, reportable, 60, 2)
AIRISK_LAYOUT(airisk_incident_event, operator_type, 64, 2)
AIRISK_LAYOUT(airisk_incident_event, due, 72, 2)
AIRISK_LAYOUT(airisk_incident_event, due_by, 80, 2)
AIRISK_LAYOUT(airisk_incident_event, rule, 88, 2)
AIRISK_LAYOUT(airisk_incident_event, level, 92, 2)
AIRISK_LAYOUT(airisk_incident_event, rule_id, 96, 2)
AIRISK_LAYOUT(airisk_incident_event, basis, 104, 2)
AIRISK_LAYOUT(airisk_incident_event, report, 112, 2)
AIRISK_LAYOUT(airisk_incident_event, late, 116, 2)
AIRISK_LAYOUT(airisk_incident_event, reference, 120, 2)
AIRISK_LAYOUT(airisk_incident_event, by, 128, 2)
AIRISK_LAYOUT(airisk_incident_event, category_name_zh, 136, 2)
AIRISK_LAYOUT(airisk_incident_event, category_name_en, 144, 2)
AIRISK_LAYOUT(airisk_incident_event, severity_name_zh, 152, 2)
AIRISK_LAYOUT(airisk_incident_event, severity_name_en, 160, 2)
AIRISK_LAYOUT(airisk_incident_event, rule_name_zh, 168, 2)
AIRISK_LAYOUT(airisk_incident_event, rule_name_en, 176, 2)

AIRISK_LAYOUT(airisk_rule_level, rule, 0, 2)
AIRISK_LAYOUT(airisk_rule_level, level, 4, 2)
AIRISK_LAYOUT(airisk_rule_level, rule_id, 8, 2)
