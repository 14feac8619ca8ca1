//! Gives Rego its best shot: times `rego/classify.rego` and `rego/level.rego` beside the
//! other ways of writing the same decision in `rego/variants/` (`classify-*.rego`,
//! `level-*.rego`), after checking that each gives the same answers on the bench inputs
//! (and, for levels, on the agreement sweep), under the Rego VM and the interpreter.
//!
//! `cargo run --release --example variants`

use airisk_peer_bench::*;
use regorus::Value;
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::vm::RegoVM;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

const RULE: &str = "hallucination-rate";

fn time(
    name: &str,
    entry: &str,
    f: &Path,
    inputs: &[Value],
    check: &[Value],
    reference: &mut Rego,
) {
    let mut e = regorus::Engine::new();
    e.add_policy(f.display().to_string(), std::fs::read_to_string(f).unwrap())
        .unwrap();
    e.add_data(rego_data()).unwrap();
    let compiled = e.compile_with_entrypoint(&entry.into()).unwrap();
    let mut vm = RegoVM::new();
    vm.load_program(Compiler::compile_from_policy(&compiled, &[entry]).unwrap());
    vm.set_data(rego_data()).unwrap();
    for i in inputs.iter().chain(check) {
        vm.set_input(i.clone());
        assert_eq!(vm.execute().unwrap(), reference.eval_vm(i), "{f:?} on {i}");
    }
    let n = 20_000;
    let t = Instant::now();
    for k in 0..n {
        vm.set_input(inputs[k % inputs.len()].clone());
        black_box(vm.execute().unwrap());
    }
    let vm_ns = t.elapsed().as_nanos() as f64 / n as f64;
    let n = 4_000;
    let t = Instant::now();
    for k in 0..n {
        e.set_input(inputs[k % inputs.len()].clone());
        black_box(e.eval_rule(entry.into()).unwrap());
    }
    let it_ns = t.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "{name:<40} Rego VM {:>8.2} µs   interpreter {:>8.2} µs",
        vm_ns / 1e3,
        it_ns / 1e3
    );
}

fn files(prefix: &str, main: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rego");
    let mut v: Vec<_> = std::fs::read_dir(dir.join("variants"))
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    v.sort();
    v.insert(0, dir.join(main));
    v
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let name = |f: &Path| f.strip_prefix(root).unwrap().display().to_string();

    let profiles: Vec<Value> = seed_profiles()
        .iter()
        .map(|(_, p)| profile_input(p))
        .collect();
    let mut reference = Rego::classify();
    for f in files("classify-", "classify.rego") {
        let n = name(&f);
        time(
            &n,
            "data.airisk.classify.result",
            &f,
            &profiles,
            &[],
            &mut reference,
        );
    }

    let grades = ["low", "general", "significant", "major", "critical"];
    let inputs: Vec<Value> = grades
        .iter()
        .flat_map(|g| (0..16).map(move |k| level_input(RULE, g, k as f64 * 0.025)))
        .collect();
    let sweep: Vec<Value> = grades
        .iter()
        .flat_map(|g| {
            sweep_values(RULE, g)
                .into_iter()
                .map(move |v| level_input(RULE, g, v))
        })
        .collect();
    let mut reference = Rego::level();
    for f in files("level-", "level.rego") {
        let n = name(&f);
        time(
            &n,
            "data.airisk.level.level",
            &f,
            &inputs,
            &sweep,
            &mut reference,
        );
    }
}
