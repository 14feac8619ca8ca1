/*
 * Policy reload, batched observations and silences through the C ABI: every status path
 * and NULL pointer of airisk_engine_reload, airisk_last_reload_report, airisk_observe_many,
 * airisk_silence and airisk_unsilence; what a reload keeps and resets as seen from C; a
 * snapshot restored under a changed policy; and two threads observing while a third
 * reloads back and forth (the number of reloads is the program's first argument; the run
 * under valgrind uses fewer).
 */
#include "test_common.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* TEST_POLICY with one text replaced by another of the same length (malloc'd). */
static char *variant(const char *from, const char *to) {
    size_t n = strlen(TEST_POLICY);
    char *p = (char *)malloc(n + 1);
    memcpy(p, TEST_POLICY, n + 1);
    char *at = strstr(p, from);
    CHECK(at != NULL && strlen(from) == strlen(to));
    if (at != NULL) {
        memcpy(at, to, strlen(to));
    }
    return p;
}

static const char *PROFILE = "{\"id\": \"a\", \"sector\": \"s0\", \"data\": \"public\","
                             " \"autonomy\": \"hitl\", \"users\": 1}";

static size_t poll_all(airisk_engine *e, airisk_transition *t, size_t cap) {
    size_t n = 0;
    CHECK_OK(airisk_poll(e, t, cap, &n));
    return n;
}

/* The last reload report as JSON, malloc'd, through a size query. */
static char *report_json(airisk_engine *e) {
    size_t need = 0, got = 0;
    CHECK_STATUS(AIRISK_ERR_BUFFER, airisk_last_reload_report(e, NULL, 0, &need));
    char *buf = (char *)malloc(need + 1);
    CHECK_OK(airisk_last_reload_report(e, buf, need + 1, &got));
    CHECK(got == need && buf[need] == '\0' && strlen(buf) == need);
    return buf;
}

static void test_nulls(void) {
    airisk_engine *e = test_engine();
    uint32_t a = test_register(e, PROFILE), g = 0;
    CHECK_OK(airisk_signal(e, "g", 1, &g));
    airisk_reload_report r;
    memset(&r, 0xAB, sizeof r);
    const uint64_t marker = r.kept;
    size_t n = 77;
    char buf[8] = "xxxxxxx";
    airisk_level lvl = 99;
    const uint32_t sig[1] = {g};
    const double val[1] = {1.0};
    const char *sil = "{\"id\": \"s\", \"starts\": 0, \"ends\": 1}";
    const char bad[] = {'{', (char)0xff, '}'};

    CHECK_STATUS(AIRISK_ERR_NULL, airisk_engine_reload(NULL, TEST_POLICY, strlen(TEST_POLICY), &r));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_engine_reload(e, NULL, 5, &r));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_engine_reload(e, NULL, 0, &r));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_engine_reload(e, TEST_POLICY, strlen(TEST_POLICY), NULL));
    CHECK_DETAIL_HAS("`out` is NULL");
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_engine_reload(e, bad, sizeof bad, &r));
    CHECK(r.kept == marker);

    CHECK_STATUS(AIRISK_ERR_NULL, airisk_last_reload_report(NULL, buf, sizeof buf, &n));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_last_reload_report(e, NULL, sizeof buf, &n));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_last_reload_report(e, buf, sizeof buf, NULL));
    CHECK(n == 77 && buf[0] == 'x');

    CHECK_STATUS(AIRISK_ERR_NULL, airisk_observe_many(NULL, a, sig, val, 1, 0, &lvl));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_observe_many(e, a, NULL, val, 1, 0, &lvl));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_observe_many(e, a, sig, NULL, 1, 0, &lvl));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_observe_many(e, a, sig, val, 1, 0, NULL));
    CHECK(lvl == 99);

    CHECK_STATUS(AIRISK_ERR_NULL, airisk_silence(NULL, sil, strlen(sil)));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_silence(e, NULL, 3));
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_silence(e, bad, sizeof bad));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_unsilence(NULL, "s", 1));
    CHECK_STATUS(AIRISK_ERR_NULL, airisk_unsilence(e, NULL, 1));
    CHECK_STATUS(AIRISK_ERR_UTF8, airisk_unsilence(e, bad, sizeof bad));

    airisk_stats st;
    CHECK_OK(airisk_engine_stats(e, &st));
    CHECK(st.observed == 0 && st.transitions == 0);
    airisk_engine_free(e);
}

static void test_reload(void) {
    airisk_engine *e = test_engine();
    uint32_t a = test_register(e, PROFILE), g = 0, k = 0;
    CHECK_OK(airisk_signal(e, "g", 1, &g));
    CHECK_OK(airisk_signal(e, "k", 1, &k));
    airisk_level lvl = 0;
    CHECK_OK(airisk_observe(e, a, g, 25.0, 1000, &lvl)); /* g-max: yellow */
    CHECK_OK(airisk_observe(e, a, k, 1.0, 1000, &lvl));  /* k-sum: blue */
    CHECK(lvl == AIRISK_LEVEL_YELLOW);
    airisk_transition t[16];
    poll_all(e, t, 16);

    /* Before any reload the report is JSON null. */
    char *json = report_json(e);
    CHECK(strcmp(json, "null") == 0);
    free(json);

    airisk_reload_report r;
    memset(&r, 0xAB, sizeof r);
    const uint64_t marker = r.kept;
    /* Malformed, invalid (with its path), refused: nothing changes. */
    CHECK_STATUS(AIRISK_ERR_JSON, airisk_engine_reload(e, "{\"schema\":", 10, &r));
    char *invalid = variant("\"window_ms\": 10000", "\"window_ms\": -1000");
    CHECK_STATUS(AIRISK_ERR_POLICY, airisk_engine_reload(e, invalid, strlen(invalid), &r));
    CHECK_DETAIL_HAS("rules[0].window_ms");
    free(invalid);
    /* s0 gone from the sectors: the registered profile is invalid under it. */
    char *strict = variant("\"s0\": 0,", "\"s8\": 0,");
    CHECK_STATUS(AIRISK_ERR_RELOAD, airisk_engine_reload(e, strict, strlen(strict), &r));
    CHECK_DETAIL_HAS("does not accept 1 registered system(s): a: ");
    free(strict);
    CHECK(r.kept == marker);
    CHECK(poll_all(e, t, 16) == 0);
    CHECK_OK(airisk_system_level(e, a, &lvl));
    CHECK(lvl == AIRISK_LEVEL_YELLOW);

    /* g-max's low thresholds change: it is reset (yellow -> none, reason policy_reload),
     * k-sum is kept (still blue). */
    char *tuned = variant("[10, 20, 30, 40]", "[10, 20, 30, 45]");
    CHECK_OK(airisk_engine_reload(e, tuned, strlen(tuned), &r));
    CHECK(r.systems == 1 && r.kept == 1 && r.reset == 1 && r.added == 0 && r.removed == 0);
    CHECK(r.regraded == 0 && r.silences_removed == 0 && r.transitions == 1);
    CHECK(r.from_fingerprint != r.to_fingerprint && r.to_fingerprint != 0);
    size_t n = poll_all(e, t, 16);
    CHECK(n == 2);
    CHECK(t[0].rule == 1 && strcmp(t[0].rule_id, "g-max") == 0);
    CHECK(t[0].from == AIRISK_LEVEL_YELLOW && t[0].to == AIRISK_LEVEL_NONE);
    CHECK(t[0].reason != NULL && strcmp(t[0].reason, "policy_reload") == 0);
    CHECK(t[0].silenced == NULL && t[0].inhibited_by == NULL);
    CHECK(t[0].ts_ms == 1000 && t[0].actions == 0 && isnan(t[0].value));
    CHECK(t[1].rule == AIRISK_NO_RULE && t[1].to == AIRISK_LEVEL_BLUE && t[1].reason == NULL);
    airisk_rule_level levels[2];
    CHECK_OK(airisk_rule_levels(e, a, levels, 2, &n));
    CHECK(n == 2 && levels[0].level == AIRISK_LEVEL_BLUE && levels[1].level == AIRISK_LEVEL_NONE);

    json = report_json(e);
    CHECK(strstr(json, "\"kept\":[\"k-sum\"]") != NULL);
    CHECK(strstr(json, "\"rule\":\"g-max\"") != NULL);
    CHECK(strstr(json, "\"why\":\"thresholds\"") != NULL);
    CHECK(strstr(json, "\"transitions\":1") != NULL);
    /* Buffer conventions: exactly the length is too small (room for the NUL); nothing
     * written, the length reported. */
    size_t len = strlen(json), got = 0;
    char *small = (char *)malloc(len);
    memset(small, 'x', len);
    CHECK_STATUS(AIRISK_ERR_BUFFER, airisk_last_reload_report(e, small, len, &got));
    CHECK(got == len && small[0] == 'x' && small[len - 1] == 'x');
    free(small);
    free(json);

    /* Signal indexes stay valid; the new thresholds apply (45 for red). */
    uint32_t g2 = 0;
    CHECK_OK(airisk_signal(e, "g", 1, &g2));
    CHECK(g2 == g);
    CHECK_OK(airisk_observe(e, a, g, 42.0, 2000, &lvl));
    CHECK(lvl == AIRISK_LEVEL_ORANGE);
    poll_all(e, t, 16);

    /* Reloading the same policy again changes nothing and emits nothing. */
    CHECK_OK(airisk_engine_reload(e, tuned, strlen(tuned), &r));
    CHECK(r.kept == 2 && r.reset == 0 && r.transitions == 0);
    CHECK(poll_all(e, t, 16) == 0);

    /* A snapshot restored under the original policy migrates back (g-max reset again). */
    size_t need = 0;
    CHECK_STATUS(AIRISK_ERR_BUFFER, airisk_snapshot(e, NULL, 0, &need));
    uint8_t *snap = (uint8_t *)malloc(need);
    CHECK_OK(airisk_snapshot(e, snap, need, &need));
    airisk_engine *back = NULL;
    CHECK_OK(airisk_engine_restore(TEST_POLICY, strlen(TEST_POLICY), snap, need, &back));
    n = poll_all(back, t, 16);
    CHECK(n == 2 && t[0].reason != NULL && strcmp(t[0].rule_id, "g-max") == 0);
    CHECK(t[0].from == AIRISK_LEVEL_ORANGE && t[0].to == AIRISK_LEVEL_NONE);
    json = report_json(back);
    CHECK(strstr(json, "\"why\":\"thresholds\"") != NULL);
    free(json);
    airisk_engine_free(back);
    free(snap);
    free(tuned);
    airisk_engine_free(e);
}

static void test_observe_many(void) {
    airisk_engine *e = test_engine();
    uint32_t a = test_register(e, PROFILE), g = 0, k = 0, nn = 0;
    CHECK_OK(airisk_signal(e, "g", 1, &g));
    CHECK_OK(airisk_signal(e, "k", 1, &k));
    CHECK_OK(airisk_signal(e, "n", 1, &nn));
    airisk_level lvl = 99;
    /* n = 0: a no-op, NULL arrays allowed. */
    CHECK_OK(airisk_observe_many(e, a, NULL, NULL, 0, 0, &lvl));
    CHECK(lvl == AIRISK_LEVEL_NONE);
    lvl = 99;
    {
        const uint32_t s[2] = {g, k};
        const double v[2] = {25.0, 1.0};
        CHECK_STATUS(AIRISK_ERR_UNKNOWN_SYSTEM, airisk_observe_many(e, a + 1, s, v, 2, 0, &lvl));
    }
    {
        const uint32_t s[2] = {g, 1000};
        const double v[2] = {25.0, 1.0};
        CHECK_STATUS(AIRISK_ERR_UNKNOWN_SIGNAL, airisk_observe_many(e, a, s, v, 2, 0, &lvl));
    }
    {
        const uint32_t s[2] = {g, g};
        const double v[2] = {25.0, 1.0};
        CHECK_STATUS(AIRISK_ERR_VALUE, airisk_observe_many(e, a, s, v, 2, 0, &lvl));
        CHECK_DETAIL_HAS("more than once");
    }
    {
        const uint32_t s[2] = {g, k};
        const double v[2] = {NAN, 1.0};
        CHECK_STATUS(AIRISK_ERR_VALUE, airisk_observe_many(e, a, s, v, 2, 0, &lvl));
        const double w[2] = {25.0, -1.0};
        CHECK_STATUS(AIRISK_ERR_VALUE, airisk_observe_many(e, a, s, w, 2, 0, &lvl));
    }
    {
        const uint32_t s[2] = {g, k};
        const double v[2] = {25.0, 1.0};
        CHECK_STATUS(AIRISK_ERR_INVALID_ARGUMENT,
                     airisk_observe_many(e, a, s, v, SIZE_MAX / 2, 0, &lvl));
    }
    CHECK(lvl == 99);
    airisk_stats st;
    CHECK_OK(airisk_engine_stats(e, &st));
    CHECK(st.observed == 0);
    {
        /* Applied together: g-max yellow and k-sum blue, evaluated once each. */
        const uint32_t s[3] = {k, nn, g};
        const double v[3] = {1.0, 5.0, 25.0};
        CHECK_OK(airisk_observe_many(e, a, s, v, 3, 20000, &lvl));
        CHECK(lvl == AIRISK_LEVEL_YELLOW);
    }
    {
        /* g's ring is one bucket: 20 s back is stale, and the whole batch is refused. */
        const uint32_t s[2] = {k, g};
        const double v[2] = {1.0, 1.0};
        CHECK_STATUS(AIRISK_ERR_STALE, airisk_observe_many(e, a, s, v, 2, 0, &lvl));
        CHECK(lvl == AIRISK_LEVEL_YELLOW);
    }
    CHECK_OK(airisk_engine_stats(e, &st));
    CHECK(st.observed == 3 && st.rejected_stale == 2);
    airisk_transition t[8];
    size_t n = poll_all(e, t, 8);
    CHECK(n == 3); /* k-sum, g-max, the system line */
    airisk_engine_free(e);
}

static void test_silences(void) {
    airisk_engine *e = test_engine();
    uint32_t a = test_register(e, PROFILE), g = 0;
    CHECK_OK(airisk_signal(e, "g", 1, &g));
#define SIL(json) airisk_silence(e, json, strlen(json))
    CHECK_STATUS(AIRISK_ERR_JSON, SIL("{\"id\": "));
    CHECK_STATUS(AIRISK_ERR_JSON, SIL("{\"id\": \"a\", \"id\": \"b\", \"starts\": 0, \"ends\": 1}"));
    CHECK_STATUS(AIRISK_ERR_SILENCE, SIL("{\"id\": \"a\", \"ends\": 1}"));
    CHECK_DETAIL_HAS("starts");
    CHECK_STATUS(AIRISK_ERR_SILENCE, SIL("{\"id\": \"a\", \"starts\": 0, \"ends\": 1, \"x\": 1}"));
    CHECK_STATUS(AIRISK_ERR_SILENCE, SIL("{\"id\": \"a\", \"starts\": 5, \"ends\": 5}"));
    CHECK_DETAIL_HAS("ends");
    CHECK_STATUS(AIRISK_ERR_SILENCE, SIL("{\"id\": \"a\", \"rule\": \"g-mix\", \"starts\": 0, \"ends\": 5}"));
    CHECK_DETAIL_HAS("g-max");
    CHECK_STATUS(AIRISK_ERR_SILENCE, SIL("{\"id\": \"a\", \"category\": \"c9\", \"starts\": 0, \"ends\": 5}"));
    CHECK_STATUS(AIRISK_ERR_SILENCE, airisk_unsilence(e, "none", 4));
    CHECK_DETAIL_HAS("none");
    /* A matcher-free silence of system a from 0 to 2 s mutes its rule and system lines. */
    CHECK_OK(SIL("{\"id\": \"maint\", \"system\": \"a\", \"starts\": 0, \"ends\": 2000,"
                 " \"reason\": \"upgrade\", \"by\": \"ops\"}"));
    airisk_level lvl = 0;
    CHECK_OK(airisk_observe(e, a, g, 45.0, 1000, &lvl));
    CHECK(lvl == AIRISK_LEVEL_RED); /* levels are never muted */
    airisk_transition t[8];
    size_t n = poll_all(e, t, 8);
    CHECK(n == 2);
    for (size_t i = 0; i < n; i++) {
        CHECK(t[i].silenced != NULL && strcmp(t[i].silenced, "maint") == 0);
        CHECK(t[i].actions == AIRISK_ACTION_LOG);
        CHECK(t[i].inhibited_by == NULL && t[i].reason == NULL);
    }
    /* Ends is exclusive. */
    CHECK_OK(airisk_observe(e, a, g, 5.0, 2000, &lvl));
    n = poll_all(e, t, 8);
    CHECK(n == 2 && t[0].silenced == NULL && t[0].actions == 0);
    CHECK_OK(airisk_unsilence(e, "maint", 5));
    CHECK_STATUS(AIRISK_ERR_SILENCE, airisk_unsilence(e, "maint", 5));
#undef SIL
    airisk_engine_free(e);
}

/* Two observers and a reloader. */
static int reloads = 1000;
#define STEPS 3000

struct shared {
    airisk_engine *e;
    uint32_t systems[2];
    uint32_t g, k;
    const char *policies[2];
    uint64_t accepted[2];
    int failures;
    pthread_mutex_t lock;
    /* Rule-scope transitions of the two systems, as received; checked in seq order after
       the threads end (callbacks run on the thread that caused the output, with no engine
       lock held, so a reload's transitions and an observer's may reach the callback in
       either order; their seq says which came first). */
    struct rec *recs;
    size_t nrecs, cap;
    uint64_t overflow;
    uint64_t received;
};

struct rec {
    uint64_t seq;
    uint32_t system;
    int rule; /* 0 k-sum, 1 g-max */
    airisk_level from, to;
};

static int by_seq(const void *a, const void *b) {
    uint64_t x = ((const struct rec *)a)->seq, y = ((const struct rec *)b)->seq;
    return (x > y) - (x < y);
}

static void on_transition(const airisk_transition *t, void *user) {
    struct shared *sh = (struct shared *)user;
    pthread_mutex_lock(&sh->lock);
    sh->received++;
    if (t->rule != AIRISK_NO_RULE && t->system < 2) {
        if (sh->nrecs < sh->cap) {
            struct rec *r = &sh->recs[sh->nrecs++];
            r->seq = t->seq;
            r->system = t->system;
            r->rule = strcmp(t->rule_id, "g-max") == 0;
            r->from = t->from;
            r->to = t->to;
        } else {
            sh->overflow++;
        }
    }
    pthread_mutex_unlock(&sh->lock);
}

struct arg {
    struct shared *sh;
    int i;
};

static void *observer(void *p) {
    struct arg *a = (struct arg *)p;
    struct shared *sh = a->sh;
    for (int step = 0; step < STEPS; step++) {
        airisk_level lvl;
        int64_t ts = (int64_t)step * 300;
        airisk_status s;
        if (step % 3 == 0) {
            const uint32_t sig[2] = {sh->g, sh->k};
            const double val[2] = {(double)((step * 7 + a->i) % 50), 1.0};
            s = airisk_observe_many(sh->e, sh->systems[a->i], sig, val, 2, ts, &lvl);
            if (s == AIRISK_OK) {
                sh->accepted[a->i] += 2;
            }
        } else {
            s = airisk_observe(sh->e, sh->systems[a->i], sh->g,
                               (double)((step * 13 + a->i) % 50), ts, &lvl);
            if (s == AIRISK_OK) {
                sh->accepted[a->i] += 1;
            }
        }
        if (s != AIRISK_OK) {
            sh->failures++;
        }
    }
    return NULL;
}

static void *reloader(void *p) {
    struct shared *sh = (struct shared *)p;
    for (int i = 0; i < reloads; i++) {
        const char *pol = sh->policies[i % 2];
        airisk_reload_report r;
        if (airisk_engine_reload(sh->e, pol, strlen(pol), &r) != AIRISK_OK) {
            sh->failures++;
        }
    }
    return NULL;
}

static void test_threads(void) {
    struct shared sh;
    memset(&sh, 0, sizeof sh);
    pthread_mutex_init(&sh.lock, NULL);
    sh.cap = 1u << 20;
    sh.recs = malloc(sh.cap * sizeof *sh.recs);
    CHECK(sh.recs != NULL);
    sh.e = test_engine();
    sh.systems[0] = test_register(sh.e, PROFILE);
    sh.systems[1] = test_register(sh.e, "{\"id\": \"b\", \"sector\": \"s9\", \"data\": \"public\","
                                        " \"autonomy\": \"hitl\", \"users\": 1}");
    CHECK(sh.systems[0] == 0 && sh.systems[1] == 1);
    CHECK_OK(airisk_signal(sh.e, "g", 1, &sh.g));
    CHECK_OK(airisk_signal(sh.e, "k", 1, &sh.k));
    char *tuned = variant("[5, 10, 15, 20]", "[5, 10, 15, 25]");
    sh.policies[0] = tuned;
    sh.policies[1] = TEST_POLICY;
    CHECK_OK(airisk_set_callback(sh.e, on_transition, &sh));
    pthread_t th[3];
    struct arg args[2] = {{&sh, 0}, {&sh, 1}};
    pthread_create(&th[0], NULL, observer, &args[0]);
    pthread_create(&th[1], NULL, observer, &args[1]);
    pthread_create(&th[2], NULL, reloader, &sh);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
    }
    CHECK(sh.failures == 0);
    airisk_stats st;
    CHECK_OK(airisk_engine_stats(sh.e, &st));
    CHECK(st.observed == sh.accepted[0] + sh.accepted[1]);
    CHECK(st.rejected_invalid == 0 && st.rejected_stale == 0);
    CHECK(st.transitions == sh.received && st.dropped == 0);
    /* In seq order, each rule's transitions form a chain: every one starts where the
       previous one of the same system and rule ended. */
    CHECK(sh.overflow == 0);
    qsort(sh.recs, sh.nrecs, sizeof *sh.recs, by_seq);
    airisk_level last[2][2] = {{AIRISK_LEVEL_NONE, AIRISK_LEVEL_NONE},
                               {AIRISK_LEVEL_NONE, AIRISK_LEVEL_NONE}};
    uint64_t broken = 0;
    for (size_t i = 0; i < sh.nrecs; i++) {
        const struct rec *r = &sh.recs[i];
        if (r->from != last[r->system][r->rule]) {
            broken++;
        }
        last[r->system][r->rule] = r->to;
        if (i > 0 && r->seq == sh.recs[i - 1].seq) {
            broken++; /* a seq given twice */
        }
    }
    CHECK(broken == 0);
    free(sh.recs);
    uint32_t g2 = 0;
    CHECK_OK(airisk_signal(sh.e, "g", 1, &g2));
    CHECK(g2 == sh.g);
    airisk_engine_free(sh.e);
    free(tuned);
    pthread_mutex_destroy(&sh.lock);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        reloads = atoi(argv[1]);
    }
    test_nulls();
    test_reload();
    test_observe_many();
    test_silences();
    test_threads();
    return test_summary("test_reload");
}
