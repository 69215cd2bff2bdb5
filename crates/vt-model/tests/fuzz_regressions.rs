//! The checks of the fuzz targets `decode_body` and `resource_parse` (`fuzz/checks/`) over
//! their committed seed corpora (see `fuzz/checks/corpus.rs`).

#[path = "../../../fuzz/checks/corpus.rs"]
mod corpus;
#[path = "../../../fuzz/checks/decode_body.rs"]
mod decode_body;
#[path = "../../../fuzz/checks/resource_parse.rs"]
mod resource_parse;

use corpus::replay;

#[test]
fn decode_body_seed_corpus_holds_the_fuzz_invariants() {
    replay("decode_body", decode_body::check);
}

#[test]
fn resource_parse_seed_corpus_holds_the_fuzz_invariants() {
    replay("resource_parse", resource_parse::check);
}
