//! Fuzz target `decode_body`: the invariants are in `fuzz/checks/decode_body.rs`, shared with the replay
//! test that CI runs. Run with `cargo xtask fuzz decode_body`.
#![no_main]

#[path = "../checks/decode_body.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
