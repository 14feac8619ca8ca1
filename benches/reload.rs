//! Policy reload with 10 000 registered systems (default policy, systems cloned from the
//! seed profiles, each with a watermark and windows from 100 000 observations): the time
//! of `Engine::reload`, and the pause an observer on another thread sees meanwhile.
//!
//! Two reloads alternate, 20 times each: the default policy with one rule's thresholds for
//! one grade tuned (that rule resets for the systems of that grade, every other rule is
//! kept), and the default policy back. A second thread observes systems in random order
//! the whole time and records the longest single `observe` call that overlapped a reload
//! and, as the reference, the longest one that did not.
//!
//! `cargo bench --bench reload` prints one table (wall-clock times: run it on a quiet
//! machine). Set `AIRISK_BENCH_RELOAD_SYSTEMS` to change the number of systems.

mod common;
use airisk::Policy;
use common::*;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const T0: i64 = 1_764_374_400_000;
const ROUNDS: usize = 20;

fn tuned() -> Policy {
    let mut doc: serde_json::Value =
        serde_json::from_str(airisk::DEFAULT_POLICY_JSON).expect("default policy");
    let grade = doc["grades"][2]["id"]
        .as_str()
        .expect("a third grade")
        .to_owned();
    let t = &mut doc["rules"][0]["thresholds"][&grade];
    for x in t.as_array_mut().expect("thresholds") {
        if let Some(f) = x.as_f64() {
            *x = serde_json::json!(f * 0.8);
        }
    }
    Policy::from_value(doc).expect("valid")
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let n: usize = std::env::var("AIRISK_BENCH_RELOAD_SYSTEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (engine, hs) = engine_with(n);
    let evs = stream(&engine, &hs, 1 << 20, 7);
    for (k, (h, s, v)) in evs.iter().take(100_000).enumerate() {
        black_box(engine.observe(*h, *s, *v, T0 + k as i64).expect("observe"));
    }
    let engine = Arc::new(engine);
    let (base, tuned) = (Policy::default_policy(), tuned());

    let reloading = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let during = Arc::new(AtomicU64::new(0));
    let outside = Arc::new(AtomicU64::new(0));
    let observer = {
        let (e, reloading, done, during, outside) = (
            engine.clone(),
            reloading.clone(),
            done.clone(),
            during.clone(),
            outside.clone(),
        );
        std::thread::spawn(move || {
            let mut k = 100_000usize;
            let mut calls = 0u64;
            while !done.load(Ordering::Relaxed) {
                let (h, s, v) = evs[k & ((1 << 20) - 1)];
                k += 1;
                let before = reloading.load(Ordering::Acquire);
                let t = Instant::now();
                black_box(e.observe(h, s, v, T0 + k as i64).expect("observe"));
                let d = t.elapsed().as_nanos() as u64;
                let overlapped = before || reloading.load(Ordering::Acquire);
                let slot = if overlapped { &during } else { &outside };
                slot.fetch_max(d, Ordering::Relaxed);
                calls += 1;
            }
            calls
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let mut times = Vec::with_capacity(2 * ROUNDS);
    let mut kept = 0;
    for i in 0..2 * ROUNDS {
        let p = if i % 2 == 0 {
            tuned.clone()
        } else {
            base.clone()
        };
        reloading.store(true, Ordering::Release);
        let t = Instant::now();
        let report = engine.reload(p).expect("reload");
        times.push(t.elapsed());
        reloading.store(false, Ordering::Release);
        kept = report.kept.len();
        std::thread::sleep(Duration::from_millis(20));
    }
    done.store(true, Ordering::Relaxed);
    let calls = observer.join().expect("observer");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "reload of {n} systems (default policy <-> one threshold tuned), {} reloads:",
        times.len()
    );
    println!(
        "  reload time        min {:.2} ms   median {:.2} ms   max {:.2} ms",
        ms(*times.iter().min().expect("times")),
        ms(percentile(&mut times, 0.5)),
        ms(*times.iter().max().expect("times"))
    );
    println!(
        "  observer (other thread, {calls} observations): longest call during a reload {:.2} ms, outside reloads {:.3} ms",
        during.load(Ordering::Relaxed) as f64 / 1e6,
        outside.load(Ordering::Relaxed) as f64 / 1e6
    );
    println!("  rules kept for every system by the last reload: {kept}");
    println!(
        "  state: {} bytes per system",
        engine.state_bytes_per_system()
    );
}
