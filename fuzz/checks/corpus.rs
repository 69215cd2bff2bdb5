//! The replay of a fuzz target's committed seed corpus (`fuzz/corpus/<target>/`) through its
//! checks, so that CI guards what fuzzing established without running the fuzzer (which needs
//! nightly: `cargo xtask fuzz`, see docs/reliability.md).
//!
//! Shared by the `tests/fuzz_regressions.rs` of the crates, each of which sits two folders
//! below the workspace root.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Every input of `fuzz/corpus/<target>/`, by path.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            (path, data)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no seeds in {}", dir.display());
    inputs
}

/// Runs `check` on every seed of `target`, naming the seed that fails.
pub(crate) fn replay(target: &str, check: fn(&[u8])) {
    for (path, data) in corpus(target) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("?");
            panic!("{}: {message}", path.display());
        }
    }
}
