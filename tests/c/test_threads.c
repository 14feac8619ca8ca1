/*
 * Concurrency through the C ABI: two threads observe (each its own systems, every
 * observation causing transitions) while a third polls; every transition must arrive
 * exactly once (no seq gap, nothing dropped, per-system chains consistent). Then the same
 * with a callback that calls back into the engine. Then, under an incidents policy, a
 * third thread polls incident events while the two observe: every event arrives exactly
 * once, and each system's events form its incidents' life cycles in order. Bounded: a
 * fixed number of observations per thread.
 */
#include "test_common.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define OBSERVERS 2
#define SYSTEMS_PER_OBSERVER 4
/* Observations per system (even): 2500, or the program's first argument (the run under
 * valgrind uses fewer). */
static int steps = 2500;
#define STEPS steps
#define SYSTEMS (OBSERVERS * SYSTEMS_PER_OBSERVER)
/* Each observation of g flips g-max between none and yellow: a rule and a system
 * transition. */
#define EXPECTED ((uint64_t)SYSTEMS * STEPS * 2)
/* Under the incidents policy each even step opens an incident (orange: minor, not
 * reportable) and the odd step after it resolves and closes it: three events. */
#define EXPECTED_INCIDENT_EVENTS ((uint64_t)SYSTEMS * (STEPS / 2) * 3)

static const int64_t T0 = INT64_C(1700000000000);

struct shared {
    airisk_engine *e;
    uint32_t systems[SYSTEMS];
    uint32_t g;
    /* The value of even steps, and the level it gives (odd steps observe 0: none). */
    double on_value;
    airisk_level on_level;
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
            /* One bucket per step; alternately on_value and 0 (none). */
            double v = (step % 2 == 0) ? sh->on_value : 0.0;
            airisk_level lvl;
            if (airisk_observe(sh->e, sys, sh->g, v, T0 + (int64_t)step * 1000, &lvl) !=
                AIRISK_OK) {
                a->failures++;
            } else if (lvl != ((step % 2 == 0) ? sh->on_level : AIRISK_LEVEL_NONE)) {
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

static int setup_with(struct shared *sh, const char *policy, size_t queue) {
    memset(sh, 0, sizeof *sh);
    pthread_mutex_init(&sh->lock, NULL);
    sh->on_value = 25.0; /* g-max of TEST_POLICY: yellow */
    sh->on_level = AIRISK_LEVEL_YELLOW;
    if (airisk_engine_new_with_capacity(policy, strlen(policy), queue, &sh->e) != AIRISK_OK) {
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

static int setup(struct shared *sh, size_t queue) {
    return setup_with(sh, TEST_POLICY, queue);
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

/* Incident events polled by one thread while two observe. */
struct incident_shared {
    struct shared *sh;
    unsigned char *seen;       /* per incident seq: times received */
    uint32_t next[SYSTEMS];    /* per system: expected next event (0 opened, 1 resolved, 2 closed) */
    uint32_t number[SYSTEMS];  /* per system: the current incident's n */
    uint64_t received;
    uint64_t transitions;
    uint64_t out_of_range;
    uint64_t broken;
};

static void record_incident(struct incident_shared *is, const airisk_incident_event *ev) {
    static const airisk_incident_event_kind cycle[3] = {
        AIRISK_INCIDENT_OPENED, AIRISK_INCIDENT_RESOLVED, AIRISK_INCIDENT_CLOSED};
    is->received++;
    if (ev->seq == 0 || ev->seq > EXPECTED_INCIDENT_EVENTS || ev->system >= SYSTEMS) {
        is->out_of_range++;
        return;
    }
    is->seen[ev->seq]++;
    uint32_t s = ev->system;
    if (is->next[s] == 0) {
        is->number[s]++;
    }
    char want[64];
    snprintf(want, sizeof want, "sys-%u/c1/%u", (unsigned)s, (unsigned)is->number[s]);
    if (ev->event != cycle[is->next[s]] || strcmp(ev->incident, want) != 0 ||
        strcmp(ev->category, "c1") != 0 || ev->reportable || ev->due != AIRISK_DUE_NONE) {
        if (is->broken++ < 5) {
            fprintf(stderr, "  system %u: got %s %s, want %s %s\n", (unsigned)s,
                    airisk_incident_event_str(ev->event), ev->incident,
                    airisk_incident_event_str(cycle[is->next[s]]), want);
        }
    }
    is->next[s] = (is->next[s] + 1) % 3;
}

static void *incident_poller(void *p) {
    struct incident_shared *is = (struct incident_shared *)p;
    struct shared *sh = is->sh;
    airisk_incident_event buf[64];
    airisk_transition tbuf[64];
    for (long rounds = 0; rounds < 100000000L; rounds++) {
        pthread_mutex_lock(&sh->lock);
        int done = sh->observers_done == OBSERVERS;
        pthread_mutex_unlock(&sh->lock);
        size_t n = 0, nt = 0;
        if (airisk_poll_incidents(sh->e, buf, 64, &n) != AIRISK_OK ||
            airisk_poll(sh->e, tbuf, 64, &nt) != AIRISK_OK) {
            break;
        }
        /* Only this thread touches `is`; events of one system come in seq order. */
        for (size_t i = 0; i < n; i++) {
            record_incident(is, &buf[i]);
        }
        is->transitions += nt;
        if (done && n == 0 && nt == 0) {
            break;
        }
    }
    return NULL;
}

static void test_incident_threads(void) {
    struct shared sh;
    if (!setup_with(&sh, TEST_INCIDENT_POLICY, 65536)) {
        CHECK(0);
        return;
    }
    sh.on_value = 3.0; /* g-max: orange, an incident opens */
    sh.on_level = AIRISK_LEVEL_ORANGE;
    struct incident_shared is;
    memset(&is, 0, sizeof is);
    is.sh = &sh;
    is.seen = calloc((size_t)EXPECTED_INCIDENT_EVENTS + 1, 1);
    if (!is.seen) {
        CHECK(0);
        return;
    }
    pthread_t obs[OBSERVERS], pol;
    struct observer_arg args[OBSERVERS];
    CHECK(pthread_create(&pol, NULL, incident_poller, &is) == 0);
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

    uint64_t missing = 0, duplicated = 0;
    for (uint64_t s = 1; s <= EXPECTED_INCIDENT_EVENTS; s++) {
        missing += is.seen[s] == 0;
        duplicated += is.seen[s] > 1;
    }
    airisk_stats st;
    CHECK_OK(airisk_engine_stats(sh.e, &st));
    if (missing || duplicated || is.out_of_range || is.broken) {
        fprintf(stderr,
                "incident events: received %llu, missing %llu, duplicated %llu,"
                " out of range %llu, broken %llu\n",
                (unsigned long long)is.received, (unsigned long long)missing,
                (unsigned long long)duplicated, (unsigned long long)is.out_of_range,
                (unsigned long long)is.broken);
    }
    CHECK(is.received == EXPECTED_INCIDENT_EVENTS);
    CHECK(missing == 0 && duplicated == 0 && is.out_of_range == 0 && is.broken == 0);
    for (int s = 0; s < SYSTEMS; s++) {
        CHECK(is.next[s] == 0 && is.number[s] == (uint32_t)(STEPS / 2));
    }
    CHECK(st.incident_events == EXPECTED_INCIDENT_EVENTS && st.incidents_dropped == 0);
    CHECK(is.transitions == EXPECTED && st.transitions == EXPECTED && st.dropped == 0);
    airisk_engine_free(sh.e);
    free(sh.seen);
    free(is.seen);
    pthread_mutex_destroy(&sh.lock);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        steps = atoi(argv[1]);
        if (steps < 2 || steps % 2 != 0) {
            fprintf(stderr, "usage: %s [STEPS (even, >= 2)]\n", argv[0]);
            return 2;
        }
    }
    test_poll_threads();
    test_callback_threads();
    test_incident_threads();
    return test_summary("test_threads");
}
