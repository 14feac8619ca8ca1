/*
 * Concurrency through the C ABI: two threads observe (each its own systems, every
 * observation causing transitions) while a third polls; every transition must arrive
 * exactly once (no seq gap, nothing dropped, per-system chains consistent). Then the same
 * with a callback that calls back into the engine. Bounded: a fixed number of
 * observations per thread.
 */
#include "test_common.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define OBSERVERS 2
#define SYSTEMS_PER_OBSERVER 4
#define STEPS 2500 /* observations per system */
#define SYSTEMS (OBSERVERS * SYSTEMS_PER_OBSERVER)
/* Each observation of g flips g-max between none and yellow: a rule and a system
 * transition. */
#define EXPECTED ((uint64_t)SYSTEMS * STEPS * 2)

static const int64_t T0 = INT64_C(1700000000000);

struct shared {
    airisk_engine *e;
    uint32_t systems[SYSTEMS];
    uint32_t g;
    /* Per seq: how many times it was received. */
    unsigned char *seen;
    /* Per system: its last level seen (rule scope), to check chains. */
    airisk_level rule_level[SYSTEMS];
    uint64_t received;
    uint64_t out_of_range;
    uint64_t broken_chains;
    uint64_t reentrant_failures;
    int observers_done;
    pthread_mutex_t lock;
};

struct observer_arg {
    struct shared *sh;
    int index;
    int failures;
};

static void record(struct shared *sh, const airisk_transition *t) {
    pthread_mutex_lock(&sh->lock);
    sh->received++;
    if (t->seq == 0 || t->seq > EXPECTED) {
        sh->out_of_range++;
    } else {
        sh->seen[t->seq]++;
    }
    if (t->rule != AIRISK_NO_RULE && t->system < SYSTEMS) {
        /* A system's transitions are delivered in order, so each starts where the last
         * ended. */
        if (t->from != sh->rule_level[t->system]) {
            sh->broken_chains++;
        }
        sh->rule_level[t->system] = t->to;
    }
    pthread_mutex_unlock(&sh->lock);
}

static void *observer(void *p) {
    struct observer_arg *a = (struct observer_arg *)p;
    struct shared *sh = a->sh;
    for (int step = 0; step < STEPS; step++) {
        for (int i = 0; i < SYSTEMS_PER_OBSERVER; i++) {
            uint32_t sys = sh->systems[a->index * SYSTEMS_PER_OBSERVER + i];
            /* One bucket per step; alternately 25 (yellow) and 0 (none). */
            double v = (step % 2 == 0) ? 25.0 : 0.0;
            airisk_level lvl;
            if (airisk_observe(sh->e, sys, sh->g, v, T0 + (int64_t)step * 1000, &lvl) !=
                AIRISK_OK) {
                a->failures++;
            } else if (lvl != ((step % 2 == 0) ? AIRISK_LEVEL_YELLOW : AIRISK_LEVEL_NONE)) {
                a->failures++;
            }
        }
    }
    pthread_mutex_lock(&sh->lock);
    sh->observers_done++;
    pthread_mutex_unlock(&sh->lock);
    return NULL;
}

static void *poller(void *p) {
    struct shared *sh = (struct shared *)p;
    airisk_transition buf[64];
    for (long rounds = 0; rounds < 100000000L; rounds++) {
        pthread_mutex_lock(&sh->lock);
        int done = sh->observers_done == OBSERVERS;
        pthread_mutex_unlock(&sh->lock);
        size_t n = 0;
        if (airisk_poll(sh->e, buf, 64, &n) != AIRISK_OK) {
            break;
        }
        for (size_t i = 0; i < n; i++) {
            record(sh, &buf[i]);
        }
        /* Stop once the observers are done and the queue was empty after that. */
        if (done && n == 0) {
            break;
        }
    }
    return NULL;
}

static int setup(struct shared *sh, size_t queue) {
    memset(sh, 0, sizeof *sh);
    pthread_mutex_init(&sh->lock, NULL);
    if (airisk_engine_new_with_capacity(TEST_POLICY, strlen(TEST_POLICY), queue, &sh->e) !=
        AIRISK_OK) {
        fprintf(stderr, "engine: %s\n", last_error());
        return 0;
    }
    for (int i = 0; i < SYSTEMS; i++) {
        char p[160];
        snprintf(p, sizeof p,
                 "{\"id\": \"sys-%d\", \"sector\": \"s0\", \"data\": \"public\","
                 " \"autonomy\": \"hitl\", \"users\": 1}",
                 i);
        sh->systems[i] = test_register(sh->e, p);
        CHECK(sh->systems[i] == (uint32_t)i);
    }
    CHECK_OK(airisk_signal(sh->e, "g", 1, &sh->g));
    sh->seen = calloc((size_t)EXPECTED + 1, 1);
    return sh->seen != NULL;
}

static void verify(struct shared *sh, uint64_t extra_observed) {
    uint64_t missing = 0, duplicated = 0;
    for (uint64_t s = 1; s <= EXPECTED; s++) {
        if (sh->seen[s] == 0) {
            missing++;
        } else if (sh->seen[s] > 1) {
            duplicated++;
        }
    }
    airisk_stats st;
    CHECK_OK(airisk_engine_stats(sh->e, &st));
    if (missing || duplicated || sh->out_of_range || sh->broken_chains) {
        fprintf(stderr,
                "received %llu, missing %llu, duplicated %llu, out of range %llu,"
                " broken chains %llu\n",
                (unsigned long long)sh->received, (unsigned long long)missing,
                (unsigned long long)duplicated, (unsigned long long)sh->out_of_range,
                (unsigned long long)sh->broken_chains);
    }
    CHECK(sh->received == EXPECTED);
    CHECK(missing == 0 && duplicated == 0 && sh->out_of_range == 0);
    CHECK(sh->broken_chains == 0);
    CHECK(st.transitions == EXPECTED && st.dropped == 0);
    CHECK(st.observed == (uint64_t)SYSTEMS * STEPS + extra_observed);
}

static void test_poll_threads(void) {
    struct shared sh;
    if (!setup(&sh, 65536)) {
        CHECK(0);
        return;
    }
    pthread_t obs[OBSERVERS], pol;
    struct observer_arg args[OBSERVERS];
    CHECK(pthread_create(&pol, NULL, poller, &sh) == 0);
    for (int i = 0; i < OBSERVERS; i++) {
        args[i].sh = &sh;
        args[i].index = i;
        args[i].failures = 0;
        CHECK(pthread_create(&obs[i], NULL, observer, &args[i]) == 0);
    }
    for (int i = 0; i < OBSERVERS; i++) {
        pthread_join(obs[i], NULL);
        CHECK(args[i].failures == 0);
    }
    pthread_join(pol, NULL);
    verify(&sh, 0);
    airisk_engine_free(sh.e);
    free(sh.seen);
    pthread_mutex_destroy(&sh.lock);
}

/* Callback mode: transitions arrive on the observing threads; the callback calls back into
 * the engine (level, stats, an observation of a signal no rule uses, poll). */
static void on_transition(const airisk_transition *t, void *user) {
    struct shared *sh = (struct shared *)user;
    record(sh, t);
    airisk_level lvl;
    airisk_stats st;
    size_t n = 99;
    airisk_transition none[1];
    if (airisk_system_level(sh->e, t->system, &lvl) != AIRISK_OK ||
        airisk_engine_stats(sh->e, &st) != AIRISK_OK ||
        airisk_observe(sh->e, t->system, 0, 1.0, t->ts_ms, &lvl) != AIRISK_OK ||
        airisk_poll(sh->e, none, 1, &n) != AIRISK_OK || n != 0) {
        pthread_mutex_lock(&sh->lock);
        sh->reentrant_failures++;
        pthread_mutex_unlock(&sh->lock);
    }
}

static void test_callback_threads(void) {
    struct shared sh;
    if (!setup(&sh, 65536)) {
        CHECK(0);
        return;
    }
    CHECK_OK(airisk_set_callback(sh.e, on_transition, &sh));
    pthread_t obs[OBSERVERS];
    struct observer_arg args[OBSERVERS];
    for (int i = 0; i < OBSERVERS; i++) {
        args[i].sh = &sh;
        args[i].index = i;
        args[i].failures = 0;
        CHECK(pthread_create(&obs[i], NULL, observer, &args[i]) == 0);
    }
    for (int i = 0; i < OBSERVERS; i++) {
        pthread_join(obs[i], NULL);
        CHECK(args[i].failures == 0);
    }
    /* The callback observed signal n once per transition. */
    verify(&sh, EXPECTED);
    CHECK(sh.reentrant_failures == 0);
    /* Nothing went to the queue. */
    size_t n = 99;
    airisk_transition buf[4];
    CHECK_OK(airisk_poll(sh.e, buf, 4, &n));
    CHECK(n == 0);
    airisk_engine_free(sh.e);
    free(sh.seen);
    pthread_mutex_destroy(&sh.lock);
}

int main(void) {
    test_poll_threads();
    test_callback_threads();
    return test_summary("test_threads");
}
