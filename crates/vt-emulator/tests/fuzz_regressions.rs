//! The checks of the fuzz target `emulator_data` (`fuzz/checks/`) over its committed seed
//! corpus (see `fuzz/checks/corpus.rs`).

#[path = "../../../fuzz/checks/corpus.rs"]
mod corpus;
#[path = "../../../fuzz/checks/emulator_data.rs"]
mod emulator_data;

use corpus::replay;

#[test]
fn emulator_data_seed_corpus_holds_the_fuzz_invariants() {
    replay("emulator_data", emulator_data::check);
}
