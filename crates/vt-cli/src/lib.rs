//! The `vt` command line tool: `vt file report` for analysts and scripts, with table, JSON,
//! JSON Lines and CSV output. It is the only crate of the workspace that prints, reads the
//! environment or a config file, or uses `anyhow`.
//!
//! Nearly everything is in the binary (`src/main.rs` and its modules): command-line parsing
//! (`cli`), key and dirs (`config`), input validation and spooling (`input`), `--hash`
//! (`hash`), the lookups (`report`, over `vt-api`), the four formats (`output`), logging and
//! the progress bar (`ui`). The user documentation is `docs/cli.md`.
//!
//! This library target holds only what must be reachable from outside the binary: [`list`],
//! the reader of `--input` lists, which the binary uses and the fuzz target
//! `fuzz/fuzz_targets/input_lines.rs` drives with arbitrary bytes.
#![deny(missing_docs)]

pub mod list;
