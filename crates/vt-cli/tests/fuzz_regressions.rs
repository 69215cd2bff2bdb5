//! The checks of the fuzz target `input_lines` (`fuzz/checks/`) over its committed seed corpus
//! (see `fuzz/checks/corpus.rs`).

#[path = "../../../fuzz/checks/corpus.rs"]
mod corpus;
#[path = "../../../fuzz/checks/input_lines.rs"]
mod input_lines;

use corpus::replay;

#[test]
fn input_lines_seed_corpus_holds_the_fuzz_invariants() {
    replay("input_lines", input_lines::check);
}
