//! Event-line parsing and application: any bytes give an event or a line error, never a
//! panic; a replayer fed arbitrary lines keeps its invariants.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = airisk::replay::parse_line(data);
    let mut r = airisk::replay::Replayer::new(airisk::Policy::default_policy());
    let mut ok = 0u64;
    let mut bad = 0u64;
    for line in data.split(|b| *b == b'\n') {
        match r.apply_line(line) {
            Ok(Some(_)) => ok += 1,
            Ok(None) => {}
            Err(_) => bad += 1,
        }
    }
    let s = r.engine().stats();
    assert!(s.observed <= ok);
    let _ = bad;
});
