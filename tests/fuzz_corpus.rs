//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`) through the checks
//! the fuzz targets run, on stable and without libFuzzer: the check module of the fuzz
//! crate is compiled into this test as it is.

use std::panic;
use std::path::Path;

#[path = "../fuzz/src/checks.rs"]
#[allow(dead_code)]
mod checks;

#[test]
fn every_corpus_file_passes_its_targets_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut targets: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    targets.sort();
    assert!(!targets.is_empty(), "no corpus under {}", root.display());

    // Report every failing file, not only the first.
    let quiet = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    let mut replayed = 0;
    for dir in &targets {
        let target = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 name");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("a corpus directory")
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("a corpus file");
            let result = panic::catch_unwind(|| checks::run_target(target, &data));
            match result {
                Ok(true) => replayed += 1,
                Ok(false) => panic!("{} is not a fuzz target", dir.display()),
                Err(e) => {
                    let why = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures.push(format!("{}: {why}", file.display()));
                }
            }
        }
    }
    panic::set_hook(quiet);
    println!("replayed {} corpus files", replayed + failures.len());
    assert!(
        failures.is_empty(),
        "{} of {} corpus files fail:\n{}",
        failures.len(),
        replayed + failures.len(),
        failures.join("\n")
    );
}
