//! `cargo xtask demo`: a real lookup end to end, with no key and no network.
//!
//! Builds `vt` and `vt-emulator`, starts the emulator on a free loopback port with its bundled
//! data, runs `vt file report` against it (found, not found, a batch; table and jsonl), and
//! stops it with SIGTERM, also when something fails on the way.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::emulator::Emulator;

/// Any non-empty key is accepted by the emulator; it goes to `vt` through the environment,
/// never through argv.
const DEMO_KEY: &str = "demo-key";

/// The lookups shown: a title and the arguments after `vt file report`.
const STEPS: &[(&str, &[&str])] = &[
    (
        "found: the EICAR test file, by MD5",
        &["--format", "table", "44d88612fea8a8f36de82e1278abb02f"],
    ),
    (
        "not found",
        &["--format", "table", "00000000000000000000000000000000"],
    ),
    (
        "a batch (one request of 4 resources), any case, in input order",
        &[
            "--format",
            "table",
            "99017f6eebbac24f351415dd410d522d",
            "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F",
            "00000000000000000000000000000000",
            "e478506a219d0f674ea2d03077e80ca4ca549a37792bc4fa686d3a756d3b9fcc",
        ],
    ),
    (
        "the same batch as JSON Lines (the default when piped), now from the cache",
        &[
            "--format",
            "jsonl",
            "99017f6eebbac24f351415dd410d522d",
            "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F",
            "00000000000000000000000000000000",
            "e478506a219d0f674ea2d03077e80ca4ca549a37792bc4fa686d3a756d3b9fcc",
        ],
    ),
    (
        "CSV, for spreadsheets",
        &[
            "--format",
            "csv",
            "--offline",
            "44d88612fea8a8f36de82e1278abb02f",
            "99017f6eebbac24f351415dd410d522d",
        ],
    ),
];

pub(crate) fn run() -> Result<()> {
    let crate::emulator::Binaries {
        vt,
        emulator: emulator_bin,
        scratch,
    } = crate::emulator::build("xtask-demo", false)?;

    let mut emulator = Emulator::start(&emulator_bin, &[])?;
    eprintln!("xtask: vt-emulator listening on {}", emulator.url);
    let result = steps(&vt, &emulator.url, &scratch);
    emulator.stop();
    result?;
    eprintln!(
        "\nxtask: demo done. Against the real service: export VT_API_KEY=<your key>, then the \
         same `vt file report ...` commands without VT_BASE_URL."
    );
    Ok(())
}

fn steps(vt: &Path, url: &str, scratch: &Path) -> Result<()> {
    for (title, args) in STEPS {
        eprintln!("\n# {title}");
        eprintln!("$ vt file report {}", args.join(" "));
        let status = Command::new(vt)
            .arg("file")
            .arg("report")
            .args(*args)
            .env("VT_BASE_URL", url)
            .env("VT_API_KEY", DEMO_KEY)
            .env("VT_CONFIG_DIR", scratch.join("config"))
            .env("VT_CACHE_DIR", scratch.join("cache"))
            .env_remove("VT_TESTING_TIME_SCALE")
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", vt.display()))?;
        if !status.success() {
            bail!("vt file report {} failed ({status})", args.join(" "));
        }
    }
    Ok(())
}
