/* Snapshot / restore and the audit journal through the C ABI. */
#include "test_common.h"

#include <stdlib.h>
#include <unistd.h>

static const char P_A[] =
    "{\"id\": \"a\", \"sector\": \"s9\", \"data\": \"public\", \"autonomy\": \"hitl\", \"users\": 1}";

int main(void) {
    airisk_engine *e = test_engine();
    if (!e) {
        return 1;
    }
    uint32_t a = test_register(e, P_A);
    uint32_t g = 0, k = 0;
    CHECK_OK(airisk_signal(e, "g", 1, &g));
    CHECK_OK(airisk_signal(e, "k", 1, &k));
    airisk_level lvl = 99;
    CHECK_OK(airisk_observe(e, a, g, 12.0, 1000, &lvl));
    CHECK(lvl == AIRISK_LEVEL_YELLOW);
    CHECK_OK(airisk_observe(e, a, k, 1.0, 1500, &lvl));

    /* Size query, too small, NULLs, then the real snapshot. */
    size_t need = 0;
    CHECK_STATUS(AIRISK_ERR_BUFFER, airisk_snapshot(e, NULL, 0, &need));
    CHECK(need > 64);
    unsigned char small[8];
    size_t got = 12345;
    CHECK_STATUS(AIRISK_ERR_BUFFER, airisk_snapshot(e, small, sizeof small, &got));
    CHECK(got == need);
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_snapshot(NULL, small, sizeof small, &got));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_snapshot(e, NULL, 10, &got));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_snapshot(e, small, sizeof small, NULL));
    unsigned char *buf = malloc(need);
    size_t len = 0;
    CHECK_OK(airisk_snapshot(e, buf, need, &len));
    CHECK(len == need);

    /* Restore under the same policy: same levels, same seq continuation. */
    airisk_engine *r = NULL;
    CHECK_OK(airisk_engine_restore(TEST_POLICY, strlen(TEST_POLICY), buf, len, &r));
    airisk_level l1 = 9, l2 = 9;
    CHECK_OK(airisk_system_level(e, a, &l1));
    CHECK_OK(airisk_system_level(r, a, &l2));
    CHECK(l1 == l2 && l1 == AIRISK_LEVEL_YELLOW);
    airisk_stats s1, s2;
    CHECK_OK(airisk_engine_stats(e, &s1));
    CHECK_OK(airisk_engine_stats(r, &s2));
    CHECK(s1.observed == s2.observed && s1.transitions == s2.transitions);
    CHECK(s2.systems == 1);
    CHECK(s1.journal_errors == 0 && s2.journal_errors == 0);
    airisk_transition t[8];
    size_t n1 = 0, n2 = 0;
    CHECK_OK(airisk_poll(e, t, 8, &n1));
    CHECK_OK(airisk_poll(r, t, 8, &n2));
    CHECK(n1 == n2 && n2 > 0);
    CHECK(n2 > 0 && strcmp(t[0].system_id, "a") == 0);
    CHECK_OK(airisk_observe(r, a, g, 30.0, 2000, &lvl));
    CHECK(lvl == AIRISK_LEVEL_RED);

    /* Refusals: another policy, corrupt bytes, NULLs; the out-pointer is untouched. */
    airisk_engine *bad = (airisk_engine *)0x1;
    CHECK_STATUS(AIRISK_ERR_STATE, airisk_engine_restore(NULL, 0, buf, len, &bad));
    CHECK_DETAIL_HAS("different policy");
    buf[len / 2] ^= 0x40;
    CHECK_STATUS(AIRISK_ERR_STATE, airisk_engine_restore(TEST_POLICY, strlen(TEST_POLICY), buf, len, &bad));
    CHECK_DETAIL_HAS("corrupt");
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_engine_restore(TEST_POLICY, strlen(TEST_POLICY), NULL, 4, &bad));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_engine_restore(TEST_POLICY, strlen(TEST_POLICY), buf, len, NULL));
    CHECK(bad == (airisk_engine *)0x1);
    free(buf);

    /* Journal. */
    char path[256];
    snprintf(path, sizeof path, "/tmp/airisk-c-journal-%d.jsonl", (int)getpid());
    unlink(path);
    CHECK_OK(airisk_journal_open(r, path, strlen(path), 1));
    uint32_t b = test_register(r,
        "{\"id\": \"b\", \"sector\": \"s0\", \"data\": \"public\", \"autonomy\": \"hitl\", \"users\": 1}");
    CHECK_OK(airisk_observe(r, b, g, 25.0, 3000, &lvl));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_journal_open(r, NULL, 3, 1));
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_journal_open(r, "\xff\xfe", 2, 1));
    CHECK_STATUS(AIRISK_ERR_IO, airisk_journal_open(r, "/nonexistent-dir/x", 18, 1));
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    int lines = 0;
    if (f) {
        int c;
        while ((c = fgetc(f)) != EOF) {
            lines += c == '\n';
        }
        fclose(f);
    }
    CHECK(lines >= 3); /* register b, rule + system transitions */
    /* A tampered journal is refused. */
    f = fopen(path, "r+");
    if (f) {
        fseek(f, 20, SEEK_SET);
        fputc('X', f);
        fclose(f);
    }
    CHECK_STATUS(AIRISK_ERR_STATE, airisk_journal_open(e, path, strlen(path), 0));
    CHECK_DETAIL_HAS("line 1");
    unlink(path);

    airisk_engine_free(r);
    airisk_engine_free(e);
    return test_summary("test_state");
}
