//! Policy parsing + validation: any input gives a policy or an error, never a panic; a
//! policy that validates round-trips through its canonical source.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = airisk::Policy::from_json(text) {
            let again = airisk::Policy::from_value(p.source().clone()).expect("a valid policy stays valid");
            assert_eq!(again.fingerprint(), p.fingerprint());
            let e = airisk::Engine::new(p);
            e.tick(0);
        }
    }
});
