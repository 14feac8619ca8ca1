//! Profile parsing + classification under the default policy: an error or a grade whose
//! rank is at least every floor that held and at least the score grade.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(p) = airisk::Profile::from_json(text) else { return };
    let policy = airisk::Policy::default_policy();
    if let Ok(c) = airisk::classify(&policy, &p) {
        assert!(c.grade_rank >= c.score_grade_rank);
        for f in &c.floors {
            assert!(c.grade_rank >= f.grade);
        }
        assert_eq!(c.factors.iter().map(|f| f.points).sum::<i64>(), c.score);
    }
});
