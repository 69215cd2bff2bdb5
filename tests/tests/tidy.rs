//! Tidy tests: the invariants of ARCHITECTURE.md that a machine can check, held as ordinary
//! tests (rust-analyzer's habit), so that the map cannot drift from the code. Each rule is its
//! own test, and a failure names the edge, or the file and line, that breaks it.
//!
//! The crate graph comes from `cargo metadata --no-deps` (no network, no build); sources and
//! manifests are read as text. The source checks are textual, as rust-analyzer's tidy is:
//! comments (doc comments included) and `#[cfg(test)]` items are skipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// The crates of `crates/`, as ARCHITECTURE.md draws them. A new crate must be added to the
/// map, and here.
const CRATES: &[&str] = &[
    "vt-model",
    "vt-transport",
    "vt-api",
    "vt-server",
    "vt-emulator",
    "vt-gateway",
    "vt-cli",
];

/// The library crates: neither print nor leave a public item undocumented.
const LIBRARIES: &[&str] = &[
    "vt-model",
    "vt-transport",
    "vt-api",
    "vt-server",
    "vt-emulator",
    "vt-gateway",
];

/// The arrows of the bird's-eye view (user -> used), normal dependencies; there is no other.
const EDGES: &[(&str, &str)] = &[
    ("vt-cli", "vt-api"),
    ("vt-api", "vt-model"),
    ("vt-api", "vt-transport"),
    ("vt-emulator", "vt-model"),
    ("vt-emulator", "vt-server"),
    ("vt-gateway", "vt-api"),
    ("vt-gateway", "vt-server"),
];

/// Dev-dependencies between crates, for their tests only. A crate may also dev-depend on itself,
/// to turn on a feature its tests need (vt-transport's `test-util`, vt-cli's `testing-clock`).
const DEV_EDGES: &[(&str, &str)] = &[
    // Loopback tests against the emulator.
    ("vt-api", "vt-emulator"),
    ("vt-cli", "vt-emulator"),
    ("vt-gateway", "vt-emulator"),
    // `vt` through a gateway in front of the emulator.
    ("vt-cli", "vt-gateway"),
    // The replay transport and the conformance suite (`test-util`).
    ("vt-api", "vt-transport"),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
}

/// `cargo metadata --no-deps`, once.
fn metadata() -> &'static Value {
    static METADATA: OnceLock<Value> = OnceLock::new();
    METADATA.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(root())
            .output()
            .expect("cannot run cargo metadata");
        assert!(
            output.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
    })
}

fn packages() -> &'static [Value] {
    metadata()["packages"]
        .as_array()
        .expect("metadata has packages")
}

fn package(name: &str) -> &'static Value {
    packages()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package {name} in the workspace"))
}

/// A path relative to the workspace root, for messages.
fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn manifest(name: &str) -> PathBuf {
    PathBuf::from(
        package(name)["manifest_path"]
            .as_str()
            .expect("manifest_path"),
    )
}

/// The folder of a crate of `crates/`.
fn crate_dir(name: &str) -> PathBuf {
    manifest(name).parent().expect("a folder").to_path_buf()
}

/// One dependency of a workspace package: (to, kind), kind being "normal", "dev" or "build".
fn dependencies(name: &str) -> Vec<(&'static str, &'static str)> {
    package(name)["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .map(|d| {
            (
                d["name"].as_str().expect("dependency name"),
                d["kind"].as_str().unwrap_or("normal"),
            )
        })
        .collect()
}

#[test]
fn crates_are_the_ones_of_the_architecture_map() {
    let dir = root().join("crates");
    let found: BTreeSet<String> = packages()
        .iter()
        .filter(|p| Path::new(p["manifest_path"].as_str().unwrap_or_default()).starts_with(&dir))
        .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    let expected: BTreeSet<String> = CRATES.iter().map(|c| (*c).to_owned()).collect();
    assert_eq!(
        found, expected,
        "the crates of crates/ are not those of ARCHITECTURE.md: add the new crate to the \
         bird's-eye view and the codemap, and to CRATES / EDGES in tests/tests/tidy.rs"
    );
}

#[test]
fn crates_depend_on_each_other_only_along_the_architecture_edges() {
    let mut problems = Vec::new();
    let mut normal = BTreeSet::new();
    for &from in CRATES {
        let path = relative(&manifest(from));
        for (to, kind) in dependencies(from) {
            if !CRATES.contains(&to) {
                continue;
            }
            let allowed = match kind {
                "dev" => {
                    from == to || DEV_EDGES.contains(&(from, to)) || EDGES.contains(&(from, to))
                }
                _ => EDGES.contains(&(from, to)),
            };
            if kind != "dev" {
                normal.insert((from, to));
            }
            if !allowed {
                problems.push(format!(
                    "{path}: {from} -> {to} ({kind} dependency) is not an edge of ARCHITECTURE.md"
                ));
            }
        }
    }
    for &(from, to) in EDGES {
        if !normal.contains(&(from, to)) {
            problems.push(format!(
                "{}: {from} -> {to} is an edge of ARCHITECTURE.md, but {from} no longer depends \
                 on {to}: update the bird's-eye view and EDGES in tests/tests/tidy.rs",
                relative(&manifest(from))
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the crate graph drifted from ARCHITECTURE.md (allowed: {EDGES:?}; for tests also \
         {DEV_EDGES:?} and a crate on itself):\n{}",
        problems.join("\n")
    );
}

#[test]
fn vt_cli_reaches_the_other_crates_through_vt_api_alone() {
    let used: BTreeSet<(&str, &str)> = dependencies("vt-cli")
        .into_iter()
        .filter(|(to, _)| CRATES.contains(to) && *to != "vt-cli")
        .collect();
    let expected = BTreeSet::from([
        ("vt-api", "normal"),
        ("vt-emulator", "dev"),
        ("vt-gateway", "dev"),
    ]);
    assert_eq!(
        used,
        expected,
        "{}: vt-cli depends on vt-api alone (which re-exports vt_model and vt_transport), and \
         on vt-emulator and vt-gateway for its tests",
        relative(&manifest("vt-cli"))
    );
}

#[test]
fn library_crates_do_not_print() {
    const MACROS: &[&str] = &["print!", "println!", "eprint!", "eprintln!", "dbg!"];
    const STREAMS: &[&str] = &["io::stdout()", "io::stderr()"];
    let mut problems = Vec::new();
    for &name in LIBRARIES {
        let src = crate_dir(name).join("src");
        for file in rust_files(&src) {
            // The emulator's and the gateway's binaries may print: they are programs.
            if matches!(name, "vt-emulator" | "vt-gateway") && file == src.join("main.rs") {
                continue;
            }
            let text = read(&file);
            for (line_number, code) in code_lines(&text) {
                let hit = MACROS
                    .iter()
                    .find(|m| contains_macro(&code, m))
                    .or_else(|| STREAMS.iter().find(|s| code.contains(*s)));
                if let Some(hit) = hit {
                    problems.push(format!(
                        "{}:{line_number}: `{hit}` in {name}: {}",
                        relative(&file),
                        code.trim()
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "only vt-cli prints (ARCHITECTURE.md): library crates report through return values or \
         `tracing`, never stdout or stderr:\n{}",
        problems.join("\n")
    );
}

#[test]
fn vt_api_exposes_no_hyper_or_tokio_types() {
    let mut problems = Vec::new();
    // vt-api re-exports vt_transport (for vt-cli's HyperTransport), so vt-transport's public
    // items are vt-api's too.
    let files = ["vt-api", "vt-transport"]
        .iter()
        .flat_map(|name| rust_files(&crate_dir(name).join("src")));
    for file in files {
        let text = read(&file);
        for (line_number, signature) in public_signatures(&text) {
            if let Some(foreign) = ["hyper::", "tokio::"]
                .iter()
                .find(|f| signature.contains(*f))
            {
                problems.push(format!(
                    "{}:{line_number}: `{foreign}` in a public signature: {signature}",
                    relative(&file)
                ));
            }
        }
    }
    for (to, kind) in dependencies("vt-api") {
        if kind != "dev" && to.starts_with("hyper") {
            problems.push(format!(
                "{}: vt-api depends on {to} directly; HTTP is vt-transport's",
                relative(&manifest("vt-api"))
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "vt-api exposes no hyper or tokio types (ARCHITECTURE.md, #4):\n{}",
        problems.join("\n")
    );
}

#[test]
fn library_crates_deny_missing_docs() {
    let mut problems = Vec::new();
    for &name in CRATES {
        let lib = crate_dir(name).join("src/lib.rs");
        // vt-cli's library target (the `--input` reader) is held to the same rule.
        if !lib.exists() {
            assert!(
                !LIBRARIES.contains(&name),
                "{name} is a library crate without src/lib.rs"
            );
            continue;
        }
        let text = read(&lib);
        if !code_lines(&text)
            .iter()
            .any(|(_, code)| code.trim() == "#![deny(missing_docs)]")
        {
            problems.push(format!("{}: no `#![deny(missing_docs)]`", relative(&lib)));
        }
    }
    assert!(
        problems.is_empty(),
        "every library documents its public items (STYLE.md):\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_package_uses_the_workspace_lints() {
    let mut problems = Vec::new();
    for package in packages() {
        let path = PathBuf::from(package["manifest_path"].as_str().expect("manifest_path"));
        let text = read(&path);
        if !table(&text, "lints")
            .iter()
            .any(|line| line.replace(' ', "") == "workspace=true")
        {
            problems.push(format!(
                "{}: no `[lints] workspace = true`",
                relative(&path)
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "every package takes its lints from [workspace.lints] of the root Cargo.toml:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_released_vt_has_no_testing_clock() {
    let features = &package("vt-cli")["features"];
    let default = features["default"].as_array().cloned().unwrap_or_default();
    assert!(
        features.get("testing-clock").is_some() && !default.iter().any(|f| f == "testing-clock"),
        "{}: `testing-clock` (VT_TESTING_TIME_SCALE) is a feature of vt-cli, off by default",
        relative(&manifest("vt-cli"))
    );
    let main = crate_dir("vt-cli").join("src/main.rs");
    let lines = code_lines(&read(&main));
    let gated = lines.windows(2).any(|pair| {
        pair[0].1.trim() == "#[cfg(feature = \"testing-clock\")]"
            && pair[1].1.trim() == "mod clock;"
    });
    assert!(
        gated,
        "{}: `mod clock;` compiles only with the `testing-clock` feature",
        relative(&main)
    );
}

// Helpers.

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The `.rs` files under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The lines of a table of a Cargo.toml (`[name]`), trimmed, comments and blank lines left out.
fn table<'a>(toml: &'a str, name: &str) -> Vec<&'a str> {
    let header = format!("[{name}]");
    let mut inside = false;
    let mut lines = Vec::new();
    for line in toml.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.starts_with('[') {
            inside = line == header;
        } else if inside && !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

/// Whether `code` calls the macro `name` (`println!` but not `my_println!`).
fn contains_macro(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        !code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// The compiled, non-test code of a Rust file, line by line (1-based numbers): comments
/// (doc comments included) are cut out, `#[cfg(test)]` items left out whole, string literals
/// kept. Textual: braces are counted outside strings and character literals.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut scanner = Scanner::default();
    // Inside a `#[cfg(test)]` item: its brace depth, once its first brace is seen.
    let mut test_item: Option<Option<i64>> = None;
    for (index, line) in text.lines().enumerate() {
        let (code, delta) = scanner.line(line);
        let trimmed = code.trim();
        if test_item.is_none() && trimmed.starts_with("#[cfg(test)]") {
            test_item = Some(None);
        }
        if let Some(depth) = test_item {
            let item = trimmed.trim_start_matches("#[cfg(test)]").trim();
            test_item = match depth {
                None if code.contains('{') => (delta > 0).then_some(Some(delta)),
                // `#[cfg(test)] use ...;` or `mod tests;`
                None if item.ends_with(';') => None,
                None => Some(None),
                Some(depth) => (depth + delta > 0).then_some(Some(depth + delta)),
            };
            continue;
        }
        if !trimmed.is_empty() {
            lines.push((index + 1, code));
        }
    }
    lines
}

/// The signatures of the public items (`pub` without a restriction) and of trait impls of
/// non-test code, each with the number of its first line: the text up to the body's `{`, or
/// the whole item (or field) up to its `;` or `,`.
fn public_signatures(text: &str) -> Vec<(usize, String)> {
    let mut signatures = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (line_number, code) in code_lines(text) {
        let trimmed = code.trim();
        if current.is_none() && (trimmed.starts_with("pub ") || trimmed.starts_with("impl")) {
            current = Some((line_number, String::new()));
        }
        if let Some((first, mut signature)) = current.take() {
            let end = trimmed.find('{');
            let part = end.map_or(trimmed, |at| &trimmed[..at]);
            if !signature.is_empty() {
                signature.push(' ');
            }
            signature.push_str(part);
            if end.is_some() || trimmed.ends_with(';') || trimmed.ends_with(',') {
                signatures.push((first, signature));
            } else {
                current = Some((first, signature));
            }
        }
    }
    signatures
}

/// Reads lines of Rust, carrying string state across lines.
#[derive(Default)]
struct Scanner {
    in_string: bool,
    /// Inside a raw string of this many `#`.
    in_raw_string: Option<usize>,
    in_block_comment: bool,
}

impl Scanner {
    /// The line without its comments, and the change of brace depth it makes.
    fn line(&mut self, line: &str) -> (String, i64) {
        let mut code = String::with_capacity(line.len());
        let mut delta = 0;
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            if let Some(hashes) = self.in_raw_string {
                code.push(c);
                if c == '"'
                    && chars[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes
                {
                    code.extend(&chars[i + 1..i + 1 + hashes]);
                    i += hashes;
                    self.in_raw_string = None;
                }
            } else if self.in_block_comment {
                if c == '*' && next == Some('/') {
                    self.in_block_comment = false;
                    i += 1;
                }
            } else if self.in_string {
                code.push(c);
                if c == '\\' {
                    if let Some(next) = next {
                        code.push(next);
                    }
                    i += 1;
                } else if c == '"' {
                    self.in_string = false;
                }
            } else if c == '/' && next == Some('/') {
                break;
            } else if c == '/' && next == Some('*') {
                self.in_block_comment = true;
                i += 1;
            } else if c == '"' {
                self.in_string = true;
                code.push(c);
            } else if c == 'r'
                && matches!(next, Some('"' | '#'))
                && !chars[..i]
                    .last()
                    .is_some_and(|p| p.is_alphanumeric() || *p == '_')
            {
                // A raw string: r"..." or r#"..."#.
                let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
                if chars.get(i + 1 + hashes) == Some(&'"') {
                    code.extend(&chars[i..i + 2 + hashes]);
                    i += 1 + hashes;
                    self.in_raw_string = Some(hashes);
                } else {
                    code.push(c);
                }
            } else if c == '\'' && next == Some('\\') {
                // An escaped character literal such as '\'' or '\u{7b}'.
                let end = (i + 3..chars.len())
                    .find(|&j| chars[j] == '\'')
                    .unwrap_or(chars.len() - 1);
                code.extend(&chars[i..=end]);
                i = end;
            } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
                // A character literal such as '{'.
                code.extend(&chars[i..i + 3]);
                i += 2;
            } else {
                match c {
                    '{' => delta += 1,
                    '}' => delta -= 1,
                    _ => {}
                }
                code.push(c);
            }
            i += 1;
        }
        (code, delta)
    }
}

#[test]
fn the_scanner_leaves_out_comments_and_test_items() {
    let text = r###"//! println!("doc")
fn a() { let s = "{ // not a comment"; }
/// dbg!(x)
fn b() {} // println!("trailing")
#[cfg(test)]
mod tests {
    fn c() { println!("}"); }
}
#[cfg(test)]
use std::io;
fn d() { let c = '{'; let q = '\''; }
#[cfg(test)]
const E: &str = r##"}"# {"##;
fn f() {}
"###;
    let lines: Vec<usize> = code_lines(text).into_iter().map(|(n, _)| n).collect();
    assert_eq!(lines, [2, 4, 11, 14]);
    assert!(!code_lines(text).iter().any(|(_, c)| c.contains("println")));
}
