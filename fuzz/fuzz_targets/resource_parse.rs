//! Fuzz target `resource_parse`: the invariants are in `fuzz/checks/resource_parse.rs`, shared with the replay
//! test that CI runs. Run with `cargo xtask fuzz resource_parse`.
#![no_main]

#[path = "../checks/resource_parse.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
