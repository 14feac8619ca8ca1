/* Snapshot / restore and the audit journal through the C ABI. */
#include "test_common.h"

#include <stdlib.h>
#include <unistd.h>

static const char P_A[] =
    "{\"id\": \"a\", \"sector\": \"s9\", \"data\": \"public\", \"autonomy\": \"hitl\", \"users\": 1}";

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* Moves system "b" from `from` to `to` (same policy) with airisk_snapshot_system /
 * airisk_restore_system, checking the buffer conventions and the refusals. */
static void test_system_snapshot(airisk_engine *from, airisk_engine *to) {
    uint32_t b = 99;
    CHECK_OK(airisk_system_lookup(from, "b", 1, &b));
    airisk_level before = 99;
    CHECK_OK(airisk_system_level(from, b, &before));
    CHECK(before == AIRISK_LEVEL_YELLOW);

    size_t need = 12345;
    CHECK_STATUS(AIRISK_ERR_BUFFER, airisk_snapshot_system(from, b, NULL, 0, &need));
    CHECK(need > 32 && need != 12345);
    unsigned char *buf = malloc(need + 1);
    if (!buf) {
        CHECK(0);
        return;
    }
    memset(buf, 0xEE, need + 1);
    size_t got = 0;
    CHECK_STATUS(AIRISK_ERR_BUFFER, airisk_snapshot_system(from, b, buf, need - 1, &got));
    CHECK(got == need && buf[0] == 0xEE);
    CHECK_OK(airisk_snapshot_system(from, b, buf, need + 1, &got));
    CHECK(got == need && buf[need] == 0xEE);

    uint32_t h = 77;
    /* Registered there already: duplicate. */
    CHECK_STATUS(AIRISK_ERR_DUPLICATE, airisk_restore_system(from, buf, got, &h));
    /* Truncated or corrupt bytes are refused. */
    CHECK_STATUS(AIRISK_ERR_STATE, airisk_restore_system(to, buf, got - 1, &h));
    buf[got / 2] ^= 0x10;
    CHECK_STATUS(AIRISK_ERR_STATE, airisk_restore_system(to, buf, got, &h));
    buf[got / 2] ^= 0x10;
    /* Another policy: the system would be migrated, but the default policy does not
     * accept its profile. */
    airisk_engine *other = NULL;
    CHECK_OK(airisk_engine_new_default(&other));
    CHECK_STATUS(AIRISK_ERR_RELOAD, airisk_restore_system(other, buf, got, &h));
    CHECK_DETAIL_HAS("does not accept");
    airisk_engine_free(other);
    CHECK(h == 77);

    CHECK_OK(airisk_restore_system(to, buf, got, &h));
    CHECK(h != 77);
    airisk_level after = 99;
    CHECK_OK(airisk_system_level(to, h, &after));
    CHECK(after == before);
    /* Its transitions carry its id; the copy's rule levels match. */
    airisk_rule_level l1[2], l2[2];
    size_t n1 = 0, n2 = 0;
    CHECK_OK(airisk_rule_levels(from, b, l1, 2, &n1));
    CHECK_OK(airisk_rule_levels(to, h, l2, 2, &n2));
    CHECK(n1 == 2 && n2 == 2 && l1[1].level == l2[1].level);
    uint32_t g = 0;
    CHECK_OK(airisk_signal(to, "g", 1, &g));
    CHECK_OK(airisk_observe(to, h, g, 0.0, 7000, &after));
    CHECK(after == AIRISK_LEVEL_NONE);
    airisk_transition t[8];
    size_t n = 0;
    CHECK_OK(airisk_poll(to, t, 8, &n));
    CHECK(n >= 1 && strcmp(t[0].system_id, "b") == 0);
    free(buf);
}

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

    /* Refusals: another policy that does not accept the profiles (the migration is
     * refused), corrupt bytes, NULLs; the out-pointer is untouched. */
    airisk_engine *bad = (airisk_engine *)0x1;
    CHECK_STATUS(AIRISK_ERR_RELOAD, airisk_engine_restore(NULL, 0, buf, len, &bad));
    CHECK_DETAIL_HAS("does not accept");
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

    /* Journal sync and close: a closed journal records nothing more. */
    CHECK_OK(airisk_journal_open(r, path, strlen(path), 0));
    CHECK_OK(airisk_observe(r, b, g, 0.0, 4000, &lvl));
    CHECK_OK(airisk_journal_sync(r));
    long size_open = file_size(path);
    CHECK(size_open > 0);
    CHECK_OK(airisk_journal_close(r));
    CHECK_OK(airisk_journal_close(r)); /* nothing open: nothing to do */
    CHECK_OK(airisk_journal_sync(r));
    CHECK_OK(airisk_observe(r, b, g, 25.0, 5000, &lvl));
    CHECK(file_size(path) == size_open);
    airisk_stats js;
    CHECK_OK(airisk_engine_stats(r, &js));
    CHECK(js.journal_errors == 0);

    /* A new journal only: an existing file, even empty, is refused and left untouched,
     * and the journal already open stays open. */
    CHECK_STATUS(AIRISK_ERR_IO, airisk_journal_create(r, path, strlen(path), 0));
    CHECK_DETAIL_HAS("already exists");
    CHECK_DETAIL_HAS(path);
    CHECK(file_size(path) == size_open);
    unlink(path);
    CHECK_OK(airisk_journal_create(r, path, strlen(path), 0));
    long size_new = file_size(path);
    CHECK(size_new > 0); /* the session marker */
    CHECK_OK(airisk_observe(r, b, g, 0.0, 6000, &lvl)); /* yellow -> none */
    CHECK_OK(airisk_journal_sync(r));
    long size_rec = file_size(path);
    CHECK(size_rec > size_new);
    char other[300];
    snprintf(other, sizeof other, "%s.empty", path);
    FILE *empty = fopen(other, "w");
    CHECK(empty != NULL);
    if (empty) {
        fclose(empty);
    }
    CHECK_STATUS(AIRISK_ERR_IO, airisk_journal_create(r, other, strlen(other), 0));
    CHECK(file_size(other) == 0);
    CHECK_OK(airisk_observe(r, b, g, 25.0, 6500, &lvl)); /* none -> yellow */
    CHECK_OK(airisk_journal_sync(r));
    CHECK(file_size(path) > size_rec); /* still journaling into the first one */
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_journal_create(NULL, path, strlen(path), 0));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_journal_create(r, NULL, 3, 0));
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_journal_create(r, "\xff\xfe", 2, 0));
    CHECK_OK(airisk_journal_close(r));
    unlink(other);
    unlink(path);

    test_system_snapshot(r, e);
    airisk_engine_free(r);
    airisk_engine_free(e);
    return test_summary("test_state");
}
