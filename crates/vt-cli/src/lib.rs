//! The `vt` command line tool: `vt file report` for analysts and scripts, with table, JSON,
//! JSON Lines and CSV output. It is the only crate of the workspace that prints, reads the
//! environment or a config file, or uses `anyhow`.
//!
//! The binary arrives with issue #5; this crate holds only its docs until then.
#![deny(missing_docs)]
