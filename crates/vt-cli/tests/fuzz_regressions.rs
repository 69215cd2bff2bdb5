//! The checks of the fuzz target `input_lines` (`fuzz/checks/`) over its committed seed corpus
//! (see `fuzz/checks/corpus.rs`).

#[path = "../../../fuzz/checks/corpus.rs"]
mod corpus;
#[path = "../../../fuzz/checks/input_lines.rs"]
mod input_lines;

use corpus::replay;
use vt_api::Resource;

#[test]
fn input_lines_seed_corpus_holds_the_fuzz_invariants() {
    replay("input_lines", input_lines::check);
}

#[test]
fn every_seed_holds_them_under_every_read_size_and_line_limit() {
    // The first byte of an input chooses the read size and the line limit: each seed list
    // (the bytes after it) is read in all 256 ways.
    replay("input_lines", |seed| {
        let list = seed.get(1..).unwrap_or_default();
        for control in 0..=u8::MAX {
            let mut data = Vec::with_capacity(list.len() + 1);
            data.push(control);
            data.extend_from_slice(list);
            input_lines::check(&data);
        }
    });
}

#[test]
fn the_real_line_limit_takes_4096_bytes_and_refuses_4097() {
    // Control byte 0x1f: reads of 32 bytes, the real limit (`MAX_LINE`), as docs/cli.md says.
    assert_eq!(vt_cli::list::MAX_LINE, 4096);
    for (len, accepted) in [(4096, true), (4097, false)] {
        let mut data = vec![0x1f];
        data.extend(std::iter::repeat_n(b'a', len));
        data.extend_from_slice(b"\n44d88612fea8a8f36de82e1278abb02f\n");
        input_lines::check(&data);
        let mut lines = vt_cli::list::ListReader::new(&data[1..], "list.txt");
        let first = lines.next_entry().unwrap();
        assert_eq!(first.is_ok(), accepted, "a line of {len} bytes");
        assert!(lines.next_entry().unwrap().is_ok(), "the next line is read");
    }
}
