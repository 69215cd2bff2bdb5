//! Project automation, run as `cargo xtask <command>` (an alias in `.cargo/config.toml`).
//!
//! - `ci`: what CI checks, in order: formatting, clippy on every target with warnings denied,
//!   rustdoc with warnings denied, then every test (snapshots are never written here) with a
//!   private PostgreSQL server started for them (`postgres.rs`), then `cargo package` of every
//!   crate, each built from its packaged copy.
//! - `postgres`: a private PostgreSQL server for running tests by hand, until Ctrl-C.
//! - `conformance DIR...`: decodes every `*.json` body in each DIR with `vt-model` (as the
//!   answers of the endpoint the folder is named after: `url-report`, `url-scan`,
//!   `domain-report`, `ip-address-report`; `/file/report` otherwise), re-encodes it and
//!   compares the two as JSON values.
//! - `demo`: `vt file report` end to end against `vt-emulator` on loopback (no key, no network).
//! - `clients`: two third-party Python v2 clients, installed from PyPI, driven through every
//!   endpoint of `vt-emulator` (docs/emulator.md, "Tried with third-party clients").
//! - `fuzz [TARGET]... [--seconds N]`: the cargo-fuzz targets of `fuzz/`, each for a bounded
//!   time (nightly; docs/reliability.md).
//! - `bench [model|emulator|api|cli|transfer|gateway]...`: the benchmarks (all by default; see
//!   docs/benchmarks.md).
//! - `soak`: `vt` against a faulty emulator, compared with a fault-free run (docs/reliability.md).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod clients;
mod conformance;
mod demo;
mod emulator;
mod fuzz;
mod postgres;
mod soak;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  demo                  build vt and vt-emulator, look up a few hashes on the emulator
  clients               install two third-party Python v2 clients (pinned, in a venv under
                        the target dir) and drive each through every endpoint of vt-emulator
  ci                    fmt --check, clippy -D warnings, rustdoc -D warnings, all tests,
                        cargo package (verified); the tests get a private PostgreSQL
                        server in VT_TEST_POSTGRES_URL, unless it is already set
  postgres              start a private PostgreSQL server (127.0.0.1, a free port, a
                        temporary folder), print `export VT_TEST_POSTGRES_URL=...`, and
                        stop it on Ctrl-C or when stdin closes
  fuzz [TARGET]... [--seconds N] [--sanitizer S]
                        run each cargo-fuzz target (decode_body, resource_parse,
                        input_lines, emulator_data; all by default) for N seconds
                        (default 60); needs nightly and cargo-fuzz
  conformance DIR...    decode and re-encode every *.json body in DIR, compare as JSON values;
                        folders named url-report, url-scan, domain-report or
                        ip-address-report hold those answers, any other file/report's
  bench [WHICH]...      run the benchmarks: model (decoding), emulator (throughput),
                        api (bulk lookups), cli (vt vs the Python client, hashing),
                        transfer (150 MB up and down, vs curl), gateway (vt-gateway vs
                        straight to the emulator); all of them by default
  soak [--resources N] [--seed N] [--time-scale N]
                        vt over N resources (default 10000) against vt-emulator with the
                        faults of issue #6, compared byte for byte with a fault-free run";

fn main() {
    if let Err(e) = run() {
        eprintln!("xtask: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "ci" => ci(),
        "demo" => demo::run(),
        "clients" => clients::run(),
        "postgres" => postgres::run(),
        "fuzz" => fuzz::run(&rest),
        "soak" => soak::run(&rest),
        "conformance" => {
            if rest.is_empty() {
                bail!("conformance needs at least one folder\n\n{USAGE}");
            }
            let dirs: Vec<PathBuf> = rest.iter().map(PathBuf::from).collect();
            conformance::run(&dirs)
        }
        "bench" => bench(&rest),
        "help" | "--help" | "-h" | "" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

/// The benchmarks by short name: (name, package, bench target).
const BENCHES: &[(&str, &str, &str)] = &[
    ("model", "vt-model", "decode"),
    ("emulator", "vt-emulator", "throughput"),
    ("api", "vt-api", "batch"),
    ("cli", "vt-cli", "bulk"),
    ("transfer", "vt-api", "transfer"),
    ("gateway", "vt-gateway", "throughput"),
];

fn bench(which: &[String]) -> Result<()> {
    if let Some(unknown) = which
        .iter()
        .find(|w| !BENCHES.iter().any(|(name, ..)| name == w))
    {
        bail!("unknown benchmark {unknown:?}: expected model, emulator, api, cli, transfer or gateway");
    }
    for (name, package, target) in BENCHES {
        if which.is_empty() || which.iter().any(|w| w == name) {
            cargo(&["bench", "--package", package, "--bench", target], &[])?;
        }
    }
    Ok(())
}

fn ci() -> Result<()> {
    // Before the long steps, so that a missing PostgreSQL fails at once.
    let postgres = postgres::ForTests::settle()?;
    cargo(&["fmt", "--all", "--check"], &[])?;
    trait_alone_has_no_http_stack()?;
    // Features are additive, so --all-features checks every line once; the trait-alone build
    // of the client crates is checked on its own.
    cargo(
        &[
            "clippy",
            "--locked",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    cargo(
        &[
            "clippy",
            "--locked",
            "--package",
            "vt-api",
            "--package",
            "vt-transport",
            "--no-default-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    cargo(
        &[
            "doc",
            "--locked",
            "--workspace",
            "--all-features",
            "--no-deps",
        ],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    // The server is stopped as soon as the tests end, passed or failed.
    let (postgres_vars, server) = postgres.start()?;
    let mut test_vars = vec![("INSTA_UPDATE", "no"), ("INSTA_FORCE_PASS", "0")];
    test_vars.extend(
        postgres_vars
            .iter()
            .map(|(name, value)| (*name, value.as_str())),
    );
    let tested = cargo(
        &["test", "--locked", "--workspace", "--all-features"],
        &test_vars,
    );
    drop(server);
    tested?;
    // Every crate builds from its packaged copy (docs/design.md, "What is published"); xtask
    // includes a file of vt-emulator by path and is never packaged. --allow-dirty: a local run
    // checks the working tree as it is (CI's checkout is clean anyway).
    forget_unpacked_workspace_crates()?;
    cargo(
        &[
            "package",
            "--locked",
            "--workspace",
            "--exclude",
            "xtask",
            "--allow-dirty",
        ],
        &[],
    )
}

/// The workspace's crates, by the names they are packaged under.
const WORKSPACE_CRATES: [&str; 8] = [
    "vt-model",
    "vt-transport",
    "vt-api",
    "vt-server",
    "vt-emulator",
    "vt-gateway",
    "vt-cli",
    "vt-tests",
];

/// Removes the copies of the workspace's own crates that an earlier `cargo package` unpacked
/// from its temporary registry. Cargo keys those copies by the registry's path and the crate's
/// version, not its content: a later run from a checkout at the same path, with the same
/// version, would verify against the old sources (seen: vt-api verified against a vt-model of
/// three commits before). Only local registries' folders (named `-HASH`) are touched, and in
/// them only these crates at this version.
fn forget_unpacked_workspace_crates() -> Result<()> {
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".cargo"),
            None => return Ok(()),
        },
    };
    let Ok(registries) = std::fs::read_dir(cargo_home.join("registry").join("src")) else {
        return Ok(());
    };
    let version = workspace_version()?;
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for name in WORKSPACE_CRATES {
            let unpacked = registry.path().join(format!("{name}-{version}"));
            if unpacked.is_dir() {
                std::fs::remove_dir_all(&unpacked)
                    .with_context(|| format!("cannot remove {}", unpacked.display()))?;
            }
        }
    }
    Ok(())
}

/// The version of `[workspace.package]`, which every packaged crate has.
fn workspace_version() -> Result<String> {
    let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml"))
        .context("cannot read the workspace's Cargo.toml")?;
    manifest
        .lines()
        .skip_while(|line| line.trim() != "[workspace.package]")
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('['))
        .find_map(|line| {
            let (name, value) = line.split_once('=')?;
            (name.trim() == "version").then(|| value.trim().trim_matches('"').to_owned())
        })
        .context("no version in [workspace.package]")
}

/// Users who bring their own backend build vt-api without default features: then no hyper,
/// rustls, ring or tokio networking may be in the tree (`cargo tree`, no build needed).
fn trait_alone_has_no_http_stack() -> Result<()> {
    for package in ["vt-api", "vt-transport"] {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .args([
                "tree",
                "--locked",
                "--package",
                package,
                "--no-default-features",
                "--edges",
                "normal",
                "--prefix",
                "none",
            ])
            .current_dir(workspace_root())
            .output()
            .context("could not run cargo tree")?;
        if !output.status.success() {
            bail!(
                "cargo tree failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let tree = String::from_utf8_lossy(&output.stdout);
        let forbidden: Vec<&str> = tree
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| {
                [
                    "hyper",
                    "hyper-util",
                    "hyper-rustls",
                    "rustls",
                    "ring",
                    "aws-lc-rs",
                ]
                .contains(name)
            })
            .collect();
        if !forbidden.is_empty() {
            bail!("{package} --no-default-features pulls in {forbidden:?}");
        }
        eprintln!("xtask: {package} --no-default-features has no HTTP stack");
    }
    Ok(())
}

fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("could not run cargo {}", args[0]))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The target dir the builds of this run use (`CARGO_TARGET_DIR`, relative to the workspace
/// root, or `target`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| workspace_root().join(dir))
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new("."))
}
