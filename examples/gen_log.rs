//! Writes a deterministic synthetic event log for throughput runs (`benches/replay.sh`):
//! fleets of the example profiles observed every simulated minute, with ticks, episodes that
//! make rules rise and fall, and a few deliberately wrong lines (unknown system, stale
//! observation, malformed line). The generator is the one `airisk-nats gen` uses, compiled
//! here without the NATS member's dependencies.
//!
//! ```sh
//! cargo run --release --example gen_log -- SYSTEMS EVENTS [SEED] > events.jsonl
//! ```

#[allow(dead_code)]
#[path = "../airisk-nats/src/generate.rs"]
mod generate;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| -> Option<u64> {
        match args.get(i) {
            None => Some(default),
            Some(s) => s.parse().ok(),
        }
    };
    let (Some(systems), Some(events), Some(seed)) = (num(0, 10_000), num(1, 1_000_000), num(2, 1))
    else {
        eprintln!("usage: gen_log [SYSTEMS [EVENTS [SEED]]] > events.jsonl");
        return ExitCode::from(2);
    };
    let o = generate::GenOptions {
        systems: systems as usize,
        events,
        seed,
        with_errors: true,
    };
    let mut w = BufWriter::new(io::stdout().lock());
    match generate::generate(&o, &mut w).and_then(|r| w.flush().map(|()| r)) {
        Ok(r) => {
            eprintln!(
                "gen_log: {} lines ({} ticks) over {} simulated minutes for {} systems",
                r.lines, r.ticks, r.minutes, systems
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen_log: {e}");
            ExitCode::FAILURE
        }
    }
}
