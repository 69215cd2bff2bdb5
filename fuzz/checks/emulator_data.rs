//! What must hold when any bytes are loaded as an emulator data file: no panic; a file is
//! taken whole or refused whole with an error naming it; every report taken is found by its
//! SHA-256; loading the same file again replaces, never duplicates.
//!
//! Shared by the fuzz target `emulator_data` and by
//! crates/vt-emulator/tests/fuzz_regressions.rs.

use vt_emulator::Dataset;
use vt_model::ResourceKind;

/// Panics when an invariant does not hold for `data`.
pub(crate) fn check(data: &[u8]) {
    let mut dataset = Dataset::new();
    let added = match dataset.add_json("fuzz.json", data) {
        Ok(added) => added,
        Err(error) => {
            assert!(error.is_data(), "{error:?}");
            let message = error.to_string();
            assert!(message.starts_with("fuzz.json: "), "{message:?}");
            assert!(dataset.is_empty(), "a refused file added reports");
            return;
        }
    };
    let answers = vt_model::decode_body(data)
        .expect("what the dataset takes decodes")
        .into_answers();
    assert_eq!(added, answers.len());
    assert!(!dataset.is_empty() && dataset.len() <= added);
    for answer in &answers {
        let report = answer.as_found().expect("only found reports are taken");
        if ResourceKind::detect(&report.sha256).is_some() {
            assert!(
                dataset.contains(&report.sha256),
                "{:?} not found",
                report.sha256
            );
        }
    }
    let reports = dataset.len();
    assert_eq!(dataset.add_json("again.json", data).ok(), Some(added));
    assert_eq!(
        dataset.len(),
        reports,
        "a file loaded twice duplicated reports"
    );
}
