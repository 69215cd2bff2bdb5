//! Fuzz target `emulator_data`: the invariants are in `fuzz/checks/emulator_data.rs`, shared with the replay
//! test that CI runs. Run with `cargo xtask fuzz emulator_data`.
#![no_main]

#[path = "../checks/emulator_data.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
