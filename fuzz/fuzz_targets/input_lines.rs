//! Fuzz target `input_lines`: the invariants are in `fuzz/checks/input_lines.rs`, shared with the replay
//! test that CI runs. Run with `cargo xtask fuzz input_lines`.
#![no_main]

#[path = "../checks/input_lines.rs"]
mod checks;

use vt_model::Resource;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
